-- describe.sql: a normalised, sorted description of the feature_x extension
-- in the current database, free of OIDs, one fact per line.  upgrade.sh
-- diffs it between an upgraded database and a fresh install.
--
-- Described: the extension (version, schema, owner, relocatable, config
-- tables with their dump conditions); every object that is a member of the
-- extension or lives in schema feature_x (member or not, so that a leftover
-- or a forgotten ALTER EXTENSION ... ADD shows up); for functions every
-- property and the full pg_get_functiondef text; for relations kind, owner,
-- options, columns (position, type with typmod, NOT NULL, default, identity,
-- generated, collation, privileges), constraints, indexes, triggers,
-- policies, rules, extended statistics and sequence parameters; types;
-- comments on all of these; privileges (ACLs, with the implicit default ACL
-- made explicit and the items sorted), pg_init_privs, default privileges in
-- the schema, the shared dependencies on roles, and the attributes of every
-- role such a dependency names.
--
-- Names only: regclass, regprocedure and pg_identify_object() output, with
-- search_path reduced to pg_catalog so that every other name is
-- schema-qualified.  Left out, like OIDs, is the pg_attver=N entry that this
-- server build stamps into every column's attoptions: N differs between any
-- two CREATE TABLEs, even of the same definition, so it describes when a
-- column was created, not what it is.
SET search_path = pg_catalog, pg_temp;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';
SET extra_float_digits = 1;

WITH
ext AS (
	SELECT e.* FROM pg_extension e WHERE e.extname = 'feature_x'
),
fxns AS (
	SELECT n.oid FROM pg_namespace n WHERE n.nspname = 'feature_x'
),
member AS (
	SELECT d.classid, d.objid, d.objsubid
	  FROM pg_depend d JOIN ext ON d.refobjid = ext.oid
	 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
),
-- Every top-level object described: the members, the schema and whatever
-- lives in it.  Indexes are described with their table.
obj AS (
	SELECT classid, objid, objsubid FROM member
	UNION
	SELECT 'pg_namespace'::regclass, fxns.oid, 0 FROM fxns
	UNION
	SELECT 'pg_class'::regclass, c.oid, 0 FROM pg_class c JOIN fxns ON c.relnamespace = fxns.oid
	 WHERE c.relkind NOT IN ('i', 'I')
	UNION
	SELECT 'pg_proc'::regclass, p.oid, 0 FROM pg_proc p JOIN fxns ON p.pronamespace = fxns.oid
	UNION
	SELECT 'pg_type'::regclass, t.oid, 0 FROM pg_type t JOIN fxns ON t.typnamespace = fxns.oid
	UNION
	SELECT 'pg_operator'::regclass, o.oid, 0 FROM pg_operator o JOIN fxns ON o.oprnamespace = fxns.oid
	UNION
	SELECT 'pg_collation'::regclass, o.oid, 0 FROM pg_collation o JOIN fxns ON o.collnamespace = fxns.oid
	UNION
	SELECT 'pg_conversion'::regclass, o.oid, 0 FROM pg_conversion o JOIN fxns ON o.connamespace = fxns.oid
	UNION
	SELECT 'pg_opclass'::regclass, o.oid, 0 FROM pg_opclass o JOIN fxns ON o.opcnamespace = fxns.oid
	UNION
	SELECT 'pg_opfamily'::regclass, o.oid, 0 FROM pg_opfamily o JOIN fxns ON o.opfnamespace = fxns.oid
	UNION
	SELECT 'pg_ts_config'::regclass, o.oid, 0 FROM pg_ts_config o JOIN fxns ON o.cfgnamespace = fxns.oid
	UNION
	SELECT 'pg_ts_dict'::regclass, o.oid, 0 FROM pg_ts_dict o JOIN fxns ON o.dictnamespace = fxns.oid
),
rel AS (
	SELECT c.* FROM pg_class c JOIN obj ON obj.classid = 'pg_class'::regclass AND obj.objid = c.oid
),
fn AS (
	SELECT p.* FROM pg_proc p JOIN obj ON obj.classid = 'pg_proc'::regclass AND obj.objid = p.oid
),
typ AS (
	SELECT t.* FROM pg_type t JOIN obj ON obj.classid = 'pg_type'::regclass AND obj.objid = t.oid
),
-- The objects above plus their parts (constraints, indexes, triggers,
-- policies, rules, statistics): what comments, initial privileges and
-- role dependencies are looked up for.
owned AS (
	SELECT classid, objid FROM obj
	UNION
	SELECT 'pg_constraint'::regclass, con.oid FROM pg_constraint con
	 WHERE con.conrelid IN (SELECT oid FROM rel) OR con.contypid IN (SELECT oid FROM typ)
	UNION
	SELECT 'pg_class'::regclass, i.indexrelid FROM pg_index i WHERE i.indrelid IN (SELECT oid FROM rel)
	UNION
	SELECT 'pg_trigger'::regclass, t.oid FROM pg_trigger t WHERE t.tgrelid IN (SELECT oid FROM rel)
	UNION
	SELECT 'pg_policy'::regclass, p.oid FROM pg_policy p WHERE p.polrelid IN (SELECT oid FROM rel)
	UNION
	SELECT 'pg_rewrite'::regclass, r.oid FROM pg_rewrite r WHERE r.ev_class IN (SELECT oid FROM rel)
	UNION
	SELECT 'pg_statistic_ext'::regclass, s.oid FROM pg_statistic_ext s WHERE s.stxrelid IN (SELECT oid FROM rel)
),
lines(line) AS (
	-- The extension itself.
	SELECT format('extension feature_x: version=%s relocatable=%s schema=%s owner=%s',
				  ext.extversion, ext.extrelocatable, ext.extnamespace::regnamespace,
				  pg_get_userbyid(ext.extowner))
	  FROM ext
	UNION ALL
	SELECT format('extension feature_x config table %s: condition=%L', u.cfg::regclass, u.cond)
	  FROM ext, unnest(ext.extconfig, ext.extcondition) AS u(cfg, cond)

	-- Every object, and whether it is a member of the extension.
	UNION ALL
	SELECT format('object %s %s: member=%s', i.type, i.identity, m.objid IS NOT NULL)
	  FROM obj o
	  CROSS JOIN LATERAL pg_identify_object(o.classid, o.objid, o.objsubid) i
	  LEFT JOIN member m ON m.classid = o.classid AND m.objid = o.objid AND m.objsubid = o.objsubid

	-- Schema.
	UNION ALL
	SELECT format('schema %s: owner=%s acl=%s', quote_ident(n.nspname), pg_get_userbyid(n.nspowner),
				  (SELECT string_agg(a::text, ' ' ORDER BY a::text)
					 FROM unnest(coalesce(n.nspacl, acldefault('n', n.nspowner))) a))
	  FROM pg_namespace n JOIN fxns ON fxns.oid = n.oid
	UNION ALL
	SELECT format('default privileges in schema %s for %s on %s: %s', d.defaclnamespace::regnamespace,
				  pg_get_userbyid(d.defaclrole), d.defaclobjtype,
				  (SELECT string_agg(a::text, ' ' ORDER BY a::text) FROM unnest(d.defaclacl) a))
	  FROM pg_default_acl d JOIN fxns ON fxns.oid = d.defaclnamespace

	-- Functions: properties ...
	UNION ALL
	SELECT format('function %s %s: %s', p.oid::regprocedure, a.k, coalesce(a.v, '<null>'))
	  FROM fn p
	  CROSS JOIN LATERAL (VALUES
		('kind', p.prokind::text),
		('language', (SELECT l.lanname::text FROM pg_language l WHERE l.oid = p.prolang)),
		('owner', pg_get_userbyid(p.proowner)::text),
		('arguments', pg_get_function_arguments(p.oid)),
		('result', pg_get_function_result(p.oid)),
		('returns_set', p.proretset::text),
		('security_definer', p.prosecdef::text),
		('volatility', p.provolatile::text),
		('parallel', p.proparallel::text),
		('strict', p.proisstrict::text),
		('leakproof', p.proleakproof::text),
		('cost', p.procost::text),
		('rows', p.prorows::text),
		('support', p.prosupport::regproc::text),
		('config', p.proconfig::text),
		('symbol', CASE WHEN p.probin IS NOT NULL THEN p.probin || ' ' || p.prosrc END),
		('acl', (SELECT string_agg(x::text, ' ' ORDER BY x::text)
				   FROM unnest(coalesce(p.proacl, acldefault('f', p.proowner))) x))
	  ) AS a(k, v)
	-- ... and the full definition, line by line.
	UNION ALL
	SELECT format('function %s definition %s: %s', p.oid::regprocedure, lpad(d.n::text, 4, '0'), d.line)
	  FROM fn p
	  CROSS JOIN LATERAL regexp_split_to_table(pg_get_functiondef(p.oid), E'\n')
		   WITH ORDINALITY AS d(line, n)
	 WHERE p.prokind <> 'a'
	UNION ALL
	SELECT format('function %s aggregate: %s', p.oid::regprocedure, row(a.*)::text)
	  FROM fn p JOIN pg_aggregate a ON a.aggfnoid = p.oid

	-- Relations.
	UNION ALL
	SELECT format('relation %s %s: %s', c.oid::regclass, a.k, coalesce(a.v, '<null>'))
	  FROM rel c
	  CROSS JOIN LATERAL (VALUES
		('kind', c.relkind::text),
		('owner', pg_get_userbyid(c.relowner)::text),
		('persistence', c.relpersistence::text),
		('access_method', (SELECT am.amname::text FROM pg_am am WHERE am.oid = c.relam)),
		('options', c.reloptions::text),
		('replica_identity', c.relreplident::text),
		('row_security', c.relrowsecurity::text),
		('force_row_security', c.relforcerowsecurity::text),
		('partition_key', pg_get_partkeydef(c.oid)),
		('partition_bound', pg_get_expr(c.relpartbound, c.oid)),
		('inherits', (SELECT string_agg(h.inhparent::regclass::text, ', ' ORDER BY h.inhseqno)
						FROM pg_inherits h WHERE h.inhrelid = c.oid)),
		('view', CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END),
		('of_type', CASE WHEN c.reloftype <> 0 THEN c.reloftype::regtype::text END),
		('acl', CASE WHEN c.relkind <> 'c' THEN
				(SELECT string_agg(x::text, ' ' ORDER BY x::text)
				   FROM unnest(coalesce(c.relacl,
										acldefault(CASE c.relkind WHEN 'S' THEN 's'::"char" ELSE 'r'::"char" END,
												   c.relowner))) x) END)
	  ) AS a(k, v)
	UNION ALL
	SELECT format('relation %s column %s %s: type=%s not_null=%s default=%s identity=%s generated=%s collation=%s storage=%s compression=%s statistics=%s options=%s acl=%s',
				  c.oid::regclass,
				  lpad((row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum))::text, 3, '0'),
				  quote_ident(a.attname), format_type(a.atttypid, a.atttypmod), a.attnotnull,
				  coalesce(pg_get_expr(ad.adbin, ad.adrelid), '<none>'),
				  nullif(a.attidentity, ''), nullif(a.attgenerated, ''),
				  CASE WHEN a.attcollation <> t.typcollation THEN a.attcollation::regcollation::text ELSE '<type default>' END,
				  a.attstorage, nullif(a.attcompression, ''), a.attstattarget,
				  (SELECT array_agg(o ORDER BY o) FROM unnest(a.attoptions) o
					WHERE o NOT LIKE 'pg\_attver=%'),
				  (SELECT string_agg(x::text, ' ' ORDER BY x::text) FROM unnest(a.attacl) x))
	  FROM rel c
	  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	  JOIN pg_type t ON t.oid = a.atttypid
	  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
	UNION ALL
	SELECT format('relation %s constraint %s: %s%s', c.oid::regclass, quote_ident(con.conname),
				  pg_get_constraintdef(con.oid),
				  CASE WHEN NOT con.conislocal THEN ' (inherited)' ELSE '' END)
	  FROM rel c JOIN pg_constraint con ON con.conrelid = c.oid
	UNION ALL
	SELECT format('relation %s index: %s%s%s%s', c.oid::regclass, pg_get_indexdef(i.indexrelid),
				  CASE WHEN i.indisclustered THEN ' CLUSTERED' ELSE '' END,
				  CASE WHEN i.indisreplident THEN ' REPLICA IDENTITY' ELSE '' END,
				  CASE WHEN NOT i.indisvalid THEN ' INVALID' ELSE '' END)
	  FROM rel c JOIN pg_index i ON i.indrelid = c.oid
	UNION ALL
	SELECT format('relation %s trigger: %s (enabled=%s)', c.oid::regclass, pg_get_triggerdef(t.oid), t.tgenabled)
	  FROM rel c JOIN pg_trigger t ON t.tgrelid = c.oid
	 WHERE NOT t.tgisinternal
	UNION ALL
	SELECT format('relation %s policy %s: command=%s permissive=%s roles=%s using=%s check=%s',
				  c.oid::regclass, quote_ident(p.polname), p.polcmd, p.polpermissive,
				  (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END, ', '
									 ORDER BY 1)
					 FROM unnest(p.polroles) r),
				  pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
	  FROM rel c JOIN pg_policy p ON p.polrelid = c.oid
	UNION ALL
	SELECT format('relation %s rule: %s (enabled=%s)', c.oid::regclass, pg_get_ruledef(r.oid), r.ev_enabled)
	  FROM rel c JOIN pg_rewrite r ON r.ev_class = c.oid
	 WHERE r.rulename <> '_RETURN'
	UNION ALL
	SELECT format('relation %s statistics: %s', c.oid::regclass, pg_get_statisticsobjdef(s.oid))
	  FROM rel c JOIN pg_statistic_ext s ON s.stxrelid = c.oid
	UNION ALL
	SELECT format('sequence %s: type=%s start=%s increment=%s min=%s max=%s cache=%s cycle=%s owned_by=%s',
				  c.oid::regclass, s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin,
				  s.seqmax, s.seqcache, s.seqcycle,
				  (SELECT string_agg(pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid) || ' (' || d.deptype::text || ')', ', ')
					 FROM pg_depend d
					WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
					  AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
	  FROM rel c JOIN pg_sequence s ON s.seqrelid = c.oid

	-- Types (row types of tables are described by their table).
	UNION ALL
	SELECT format('type %s: type=%s category=%s owner=%s not_null=%s base=%s default=%s acl=%s%s',
				  t.oid::regtype, t.typtype, t.typcategory, pg_get_userbyid(t.typowner), t.typnotnull,
				  CASE WHEN t.typbasetype <> 0 THEN format_type(t.typbasetype, t.typtypmod) END,
				  t.typdefault,
				  (SELECT string_agg(x::text, ' ' ORDER BY x::text)
					 FROM unnest(coalesce(t.typacl, acldefault('T', t.typowner))) x),
				  CASE WHEN t.typtype = 'e' THEN
					   ' labels=' || (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
										FROM pg_enum e WHERE e.enumtypid = t.oid)
					   WHEN t.typtype = 'r' THEN
					   ' subtype=' || (SELECT r.rngsubtype::regtype::text FROM pg_range r WHERE r.rngtypid = t.oid)
					   ELSE '' END)
	  FROM typ t
	 WHERE t.typrelid = 0 OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'
	UNION ALL
	SELECT format('type %s constraint %s: %s', t.oid::regtype, quote_ident(con.conname), pg_get_constraintdef(con.oid))
	  FROM typ t JOIN pg_constraint con ON con.contypid = t.oid

	-- Comments on everything described, including columns and parts.
	UNION ALL
	SELECT format('comment on %s %s: %s', i.type, i.identity, d.description)
	  FROM pg_description d
	  JOIN owned o ON o.classid = d.classoid AND o.objid = d.objoid
	  CROSS JOIN LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) i

	-- Privileges recorded at CREATE / ALTER EXTENSION time (pg_dump's base line).
	UNION ALL
	SELECT format('initial privileges (%s) of %s %s: %s', p.privtype, i.type, i.identity,
				  (SELECT string_agg(x::text, ' ' ORDER BY x::text) FROM unnest(p.initprivs) x))
	  FROM pg_init_privs p
	  JOIN owned o ON o.classid = p.classoid AND o.objid = p.objoid
	  CROSS JOIN LATERAL pg_identify_object(p.classoid, p.objoid, p.objsubid) i

	-- Dependencies on roles (owners, grantees, policy roles) ...
	UNION ALL
	SELECT format('role dependency of %s %s: %s on %s', i.type, i.identity, s.deptype,
				  pg_get_userbyid(s.refobjid))
	  FROM pg_shdepend s
	  JOIN owned o ON o.classid = s.classid AND o.objid = s.objid
	  CROSS JOIN LATERAL pg_identify_object(s.classid, s.objid, s.objsubid) i
	 WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
	   AND s.refclassid = 'pg_authid'::regclass
	-- ... and those roles.
	UNION ALL
	SELECT DISTINCT format('role %s: superuser=%s inherit=%s createrole=%s createdb=%s login=%s replication=%s bypassrls=%s connection_limit=%s',
						   quote_ident(r.rolname), r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb,
						   r.rolcanlogin, r.rolreplication, r.rolbypassrls, r.rolconnlimit)
	  FROM pg_shdepend s
	  JOIN owned o ON o.classid = s.classid AND o.objid = s.objid
	  JOIN pg_roles r ON r.oid = s.refobjid
	 WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
	   AND s.refclassid = 'pg_authid'::regclass
)
SELECT l.line FROM (SELECT replace(line, E'\n', '\n') AS line FROM lines) l
 ORDER BY l.line COLLATE "C";
