-- The DDL log and guard: the three modes of feature_x.ddl_guard, what the
-- log records (who, tag, identity, statement), what is never guarded
-- (migrations, temporary objects, feature_x's own objects), and privileges.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
-- warning: the guard warns about the DDL below, by design.
SET client_min_messages = error;
CREATE EXTENSION feature_x;
SELECT plan(48);

-- Catalog.
SELECT has_table('feature_x', 'ddl_log', 'the DDL log exists');
SELECT columns_are('feature_x', 'ddl_log', ARRAY[
	'id', 'logged_at', 'db_user', 'db_role', 'actor', 'command_tag', 'object_type',
	'object_identity', 'schema_name', 'statement']);
SELECT ok((SELECT 'feature_x.ddl_log'::regclass = ANY (extconfig)
			 FROM pg_extension WHERE extname = 'feature_x'),
		  'the DDL log is dumped by pg_dump (pg_extension_config_dump)');
SELECT is((SELECT array_agg(t.evtevent::text || ':' || p.proname ORDER BY t.evtevent)
			 FROM pg_event_trigger t JOIN pg_proc p ON p.oid = t.evtfoid
			 JOIN pg_depend d ON d.classid = 'pg_event_trigger'::regclass AND d.objid = t.oid
				  AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
			 JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'feature_x'
			WHERE t.evtenabled = 'O'),
		  ARRAY['ddl_command_end:ddl_guard_end', 'ddl_command_start:ddl_guard_start',
				'sql_drop:ddl_guard_drop'],
		  'three enabled event triggers, members of the extension');
SELECT table_privs_are('feature_x', 'ddl_log', 'public', ARRAY[]::text[], 'PUBLIC cannot touch the log');
SELECT table_privs_are('feature_x', 'ddl_log', 'feature_x_deployer', ARRAY['SELECT'], 'deployers read the log');
SELECT table_privs_are('feature_x', 'ddl_log', 'feature_x_admin', ARRAY['SELECT'], 'admins read the log');
SELECT function_privs_are('feature_x', 'ddl_guard_end', ARRAY[]::text[], 'public', ARRAY[]::text[],
						  'the event trigger functions are not PUBLIC');
SELECT is(current_setting('feature_x.ddl_guard'), 'warn', 'the default mode is warn');
SELECT is((SELECT context FROM pg_settings WHERE name = 'feature_x.ddl_guard'), 'superuser',
		  'the mode is a superuser setting');
SELECT is((SELECT enumvals FROM pg_settings WHERE name = 'feature_x.ddl_guard'),
		  ARRAY['off', 'warn', 'error'], 'three modes');

-- warn: each object a command touches is recorded, with the statement.
CREATE TABLE gt_items (id int PRIMARY KEY, label text);
SELECT results_eq(
	$$SELECT command_tag, object_type, object_identity, schema_name, statement
		FROM feature_x.ddl_log ORDER BY logged_at$$,
	$$VALUES ('CREATE TABLE', 'table', 'public.gt_items', 'public',
			  'CREATE TABLE gt_items (id int PRIMARY KEY, label text);'),
			 ('CREATE TABLE', 'index', 'public.gt_items_pkey', 'public',
			  'CREATE TABLE gt_items (id int PRIMARY KEY, label text);')$$,
	'CREATE TABLE: the table and its index, tag, schema and statement');
SELECT is((SELECT count(*)::int FROM feature_x.ddl_log
			WHERE db_user = session_user AND db_role = current_user AND actor IS NULL
			  AND logged_at <= clock_timestamp()),
		  2, 'who: session user and current role; no actor');

ALTER TABLE gt_items ADD COLUMN note text;
COMMENT ON COLUMN gt_items.note IS 'free text';
CREATE INDEX gt_items_label_idx ON gt_items (label);
CREATE FUNCTION gt_double(i int) RETURNS int LANGUAGE sql AS 'SELECT i * 2';
GRANT EXECUTE ON FUNCTION gt_double(int) TO feature_x_deployer;
REVOKE SELECT ON gt_items FROM feature_x_admin;
CREATE VIEW gt_view AS SELECT id FROM gt_items;
DROP INDEX gt_items_label_idx;
DROP TABLE gt_items CASCADE;
SELECT results_eq(
	$$SELECT command_tag, object_type, object_identity FROM feature_x.ddl_log
	   ORDER BY logged_at OFFSET 2$$,
	$$VALUES ('ALTER TABLE', 'table', 'public.gt_items'),
			 ('COMMENT', 'table column', 'public.gt_items.note'),
			 ('CREATE INDEX', 'index', 'public.gt_items_label_idx'),
			 ('CREATE FUNCTION', 'function', 'public.gt_double(integer)'),
			 ('GRANT', 'function', 'public.gt_double(integer)'),
			 ('REVOKE', 'table', 'public.gt_items'),
			 ('CREATE VIEW', 'view', 'public.gt_view'),
			 ('DROP INDEX', 'index', 'public.gt_items_label_idx'),
			 ('DROP TABLE', 'table', 'public.gt_items'),
			 ('DROP TABLE', 'view', 'public.gt_view'),
			 ('DROP TABLE', 'rule', '"_RETURN" on public.gt_view')$$,
	'ALTER, COMMENT, CREATE INDEX/FUNCTION/VIEW, GRANT, REVOKE, DROP and what CASCADE dropped');
SELECT is((SELECT statement FROM feature_x.ddl_log WHERE command_tag = 'DROP TABLE' LIMIT 1),
		  'DROP TABLE gt_items CASCADE;', 'the statement of a drop');

-- Who: a deployer acting for an application user.
CREATE SCHEMA gt_app AUTHORIZATION feature_x_deployer;
SAVEPOINT as_deployer;
SET LOCAL ROLE feature_x_deployer;
SELECT feature_x.set_actor('release-bot');
CREATE TABLE gt_app.settings (key text);
RELEASE SAVEPOINT as_deployer;
RESET ROLE;
SELECT results_eq(
	$$SELECT db_user = session_user, db_role, actor, command_tag, object_identity
		FROM feature_x.ddl_log WHERE schema_name = 'gt_app'$$,
	$$VALUES (true, 'feature_x_deployer'::text, 'release-bot'::text, 'CREATE TABLE'::text, 'gt_app.settings'::text)$$,
	'who: session user, current role and actor');
SELECT is((SELECT object_identity FROM feature_x.ddl_log WHERE command_tag = 'CREATE SCHEMA'),
		  'gt_app', 'schemas are guarded too');

CREATE MATERIALIZED VIEW gt_counts AS SELECT count(*) AS n FROM gt_app.settings;
SELECT count(*) AS logged FROM feature_x.ddl_log \gset

-- A command rolled back leaves no row.
SAVEPOINT undone;
CREATE TABLE gt_undone (id int);
ROLLBACK TO SAVEPOINT undone;
SELECT is((SELECT count(*)::int FROM feature_x.ddl_log), :logged, 'rolled-back DDL leaves no row');

-- Temporary objects are never guarded.
CREATE TEMP TABLE gt_temp (a int);
ALTER TABLE gt_temp ADD COLUMN b int;
CREATE INDEX ON gt_temp (a);
DROP TABLE gt_temp;
CREATE FUNCTION pg_temp.gt_one() RETURNS int LANGUAGE sql AS 'SELECT 1';
SELECT is((SELECT count(*)::int FROM feature_x.ddl_log), :logged, 'temporary objects are not recorded');

-- Neither are feature_x's own objects.
COMMENT ON TABLE feature_x.ddl_log IS 'reviewed';
SELECT is((SELECT count(*)::int FROM feature_x.ddl_log), :logged, 'feature_x''s objects are not recorded');

-- Nor the statements of migrations.
SELECT feature_x.register_migration('1', 'gt_mig', 'CREATE TABLE gt_mig (id int); CREATE INDEX ON gt_mig (id);',
									'DROP TABLE gt_mig;');
SELECT is((SELECT count(*)::int FROM feature_x.migrate()), 1, 'a migration under warn');
SELECT is((SELECT count(*)::int FROM feature_x.ddl_log), :logged, 'migrations are not recorded');

-- off: nothing recorded or checked.
SET LOCAL feature_x.ddl_guard = off;
CREATE TABLE gt_off (id int);
DROP TABLE gt_off;
SELECT is((SELECT count(*)::int FROM feature_x.ddl_log), :logged, 'off: nothing recorded');

-- error: refused with 42501, nothing changed, nothing recorded.
SET LOCAL feature_x.ddl_guard = error;
SELECT throws_ok('CREATE TABLE gt_refused (id int)', '42501',
				 'CREATE TABLE outside a migration is not allowed: table public.gt_refused',
				 'error: CREATE TABLE refused');
SELECT hasnt_table('public', 'gt_refused', 'the refused table does not exist');
SELECT throws_ok('ALTER TABLE gt_mig ADD COLUMN x int', '42501', NULL, 'error: ALTER TABLE refused');
SELECT hasnt_column('public', 'gt_mig', 'x', 'the refused column does not exist');
SELECT throws_ok('DROP TABLE gt_mig', '42501',
				 'DROP TABLE outside a migration is not allowed: table public.gt_mig',
				 'error: DROP TABLE refused (sql_drop)');
SELECT has_table('public', 'gt_mig', 'the table is still there');
SELECT throws_ok('COMMENT ON TABLE gt_mig IS ''x''', '42501', NULL, 'error: COMMENT refused');
SELECT throws_ok('GRANT SELECT ON gt_mig TO feature_x_admin', '42501', NULL, 'error: GRANT refused');
SELECT throws_ok('CREATE SCHEMA gt_other', '42501', NULL, 'error: CREATE SCHEMA refused');
SELECT throws_ok('CREATE INDEX CONCURRENTLY gt_cic ON gt_mig (id)', '42501',
				 'CREATE INDEX outside a migration is not allowed: table public.gt_mig',
				 'error: CREATE INDEX CONCURRENTLY refused before it starts');
SELECT throws_ok('DROP INDEX CONCURRENTLY gt_mig_id_idx', '42501', NULL,
				 'error: DROP INDEX CONCURRENTLY refused before it starts');
SELECT lives_ok('REFRESH MATERIALIZED VIEW gt_counts', 'error: REFRESH MATERIALIZED VIEW changes data, not the schema');
SELECT is((SELECT count(*)::int FROM feature_x.ddl_log), :logged, 'error: nothing recorded');

-- ... migrations and rollbacks still run under error.
SELECT feature_x.register_migration('2', 'gt_mig2',
	'CREATE TABLE gt_mig2 (id int); COMMENT ON TABLE gt_mig2 IS ''two''; GRANT SELECT ON gt_mig2 TO feature_x_admin; DROP INDEX gt_mig_id_idx;',
	'DROP TABLE gt_mig2; CREATE INDEX gt_mig_id_idx ON gt_mig (id);');
SELECT lives_ok('SELECT * FROM feature_x.migrate()', 'error: migrate() runs');
SELECT has_table('public', 'gt_mig2', 'the migration ran');
SELECT lives_ok('SELECT * FROM feature_x.rollback(''1'')', 'error: rollback() runs');
SELECT hasnt_table('public', 'gt_mig2', 'the rollback ran');
-- ... temporary objects are not guarded ...
SELECT lives_ok('CREATE TEMP TABLE gt_temp2 (a int); DROP TABLE gt_temp2',
				'error: temporary tables may be created and dropped');
-- ... nor feature_x's own objects.
SELECT lives_ok('COMMENT ON TABLE feature_x.ddl_log IS NULL', 'error: DDL on feature_x''s objects');
SELECT is((SELECT count(*)::int FROM feature_x.ddl_log), :logged, 'and none of it was recorded');

-- A refused command in a savepoint leaves the transaction usable.
SAVEPOINT refused;
SELECT throws_ok('CREATE VIEW gt_v AS SELECT 1', '42501', NULL, 'error: CREATE VIEW refused');
ROLLBACK TO SAVEPOINT refused;

-- Only superusers change the mode.
SAVEPOINT not_superuser;
SET LOCAL ROLE feature_x_deployer;
SELECT throws_ok('SET feature_x.ddl_guard = off', '42501', NULL, 'a deployer cannot turn the guard off');
SELECT throws_ok('SET LOCAL feature_x.ddl_guard = warn', '42501', NULL, 'nor change it for a transaction');
ROLLBACK TO SAVEPOINT not_superuser;
SELECT throws_ok('SET feature_x.ddl_guard = strict', '22023', NULL, 'unknown modes are refused');

-- Back to warn: recording resumes.
SET LOCAL feature_x.ddl_guard = warn;
ALTER TABLE gt_mig ADD COLUMN y int;
SELECT is((SELECT count(*)::int FROM feature_x.ddl_log), :logged + 1, 'warn again: recorded');

SELECT * FROM finish();
ROLLBACK;
