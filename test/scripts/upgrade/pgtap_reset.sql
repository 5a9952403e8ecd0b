-- pgtap_reset.sql: included by upgrade.sh in place of the line
-- "CREATE EXTENSION feature_x;" of each pgTAP file when the suite runs on an
-- upgraded database, where the extension exists already.  The files expect
-- what CREATE EXTENSION leaves: empty configuration tables (rows that the
-- extension itself ships are those outside the pg_extension_config_dump()
-- condition, and are kept).  This empties them inside the file's own
-- transaction, which the file rolls back, so the upgraded data survives
-- (upgrade.sh checks that it does).
DO $fx_reset$
DECLARE
	everything text;
	partial record;
BEGIN
	SELECT string_agg(u.cfg::regclass::text, ', ')
	  INTO everything
	  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(cfg, cond)
	 WHERE e.extname = 'feature_x' AND coalesce(u.cond, '') = ''
	   AND (SELECT c.relkind FROM pg_class c WHERE c.oid = u.cfg) IN ('r', 'p');
	-- The audit log and its seals are append-only, for their owner too; a
	-- superuser may lift that, and does here, inside the rolled-back
	-- transaction.
	FOR partial IN
		SELECT DISTINCT t.tgrelid::regclass AS tab
		  FROM pg_catalog.pg_trigger t
		 WHERE t.tgfoid = to_regprocedure('feature_x.audit_guard()')
	LOOP
		EXECUTE format('ALTER TABLE %s DISABLE TRIGGER USER', partial.tab);
	END LOOP;
	IF everything IS NOT NULL THEN
		EXECUTE 'TRUNCATE ' || everything;
	END IF;
	FOR partial IN
		SELECT u.cfg::regclass AS tab, u.cond
		  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(cfg, cond)
		 WHERE e.extname = 'feature_x' AND coalesce(u.cond, '') <> ''
		   AND (SELECT c.relkind FROM pg_class c WHERE c.oid = u.cfg) IN ('r', 'p')
	LOOP
		EXECUTE format('DELETE FROM %s %s', partial.tab, partial.cond);
	END LOOP;
END
$fx_reset$;
