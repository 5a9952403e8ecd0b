-- entry_points.sql: the extension's SQL objects of the installed version work
-- with the shared library now installed.  Run by upgrade.sh at every old
-- version (before the update, against the newest library) and after it.
--  1. Every C function of the extension resolves: its symbol and its
--     PG_FUNCTION_INFO_V1 record exist in the library its probin names
--     (checked by declaring a temporary function with the same AS clause).
--  2. Every function that can be called without arguments and does not
--     change anything (not VOLATILE, not a trigger function) runs.
DO $fx_entry_points$
DECLARE
	f record;
	missing text[] := '{}';
	n int := 0;
BEGIN
	FOR f IN
		SELECT p.oid::regprocedure AS sig, p.probin, p.prosrc
		  FROM pg_depend d
		  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'feature_x'
		  JOIN pg_proc p ON p.oid = d.objid
		  JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'c'
		 WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
		   AND d.deptype = 'e'
		 ORDER BY 1
	LOOP
		BEGIN
			EXECUTE format('CREATE FUNCTION pg_temp.fx_entry_point_check() RETURNS void AS %L, %L LANGUAGE c',
						   f.probin, f.prosrc);
			EXECUTE 'DROP FUNCTION pg_temp.fx_entry_point_check()';
			n := n + 1;
		EXCEPTION WHEN OTHERS THEN
			missing := missing || format('%s (%s): %s', f.sig, f.prosrc, SQLERRM);
		END;
	END LOOP;
	IF cardinality(missing) > 0 THEN
		RAISE EXCEPTION 'C functions of feature_x % not found in the installed library: %',
			(SELECT extversion FROM pg_extension WHERE extname = 'feature_x'),
			array_to_string(missing, '; ');
	END IF;
	RAISE NOTICE 'entry points: % C functions resolve', n;

	n := 0;
	FOR f IN
		SELECT p.oid::regprocedure AS sig, p.oid
		  FROM pg_depend d
		  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'feature_x'
		  JOIN pg_proc p ON p.oid = d.objid
		 WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
		   AND d.deptype = 'e' AND p.prokind = 'f' AND p.provolatile <> 'v'
		   AND p.pronargs = p.pronargdefaults
		   AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
		 ORDER BY 1
	LOOP
		EXECUTE format('SELECT count(*) FROM %s.%I() AS r',
					   (SELECT quote_ident(n.nspname) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = f.oid),
					   (SELECT p.proname FROM pg_proc p WHERE p.oid = f.oid));
		n := n + 1;
	END LOOP;
	RAISE NOTICE 'entry points: % argument-free read-only functions run', n;
END
$fx_entry_points$;
