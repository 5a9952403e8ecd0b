-- The DDL log and guard: what each mode of feature_x.ddl_guard does, what is
-- recorded, and what is let through (migrations, temporary objects,
-- feature_x itself).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feature_x CASCADE;
DROP TABLE IF EXISTS g_items, g_mig, g_mig2, g_later, g_off CASCADE;
DROP MATERIALIZED VIEW IF EXISTS g_mv;
DROP SCHEMA IF EXISTS g_app CASCADE;
DROP ROLE IF EXISTS regress_fx_guard_dep;
DROP ROLE IF EXISTS regress_fx_guard_nobody;
CREATE ROLE regress_fx_guard_dep;
CREATE ROLE regress_fx_guard_nobody;
CREATE EXTENSION feature_x;
GRANT feature_x_deployer TO regress_fx_guard_dep;
\set SHOW_CONTEXT never

-- The default is warn.
SHOW feature_x.ddl_guard;
SELECT count(*) AS rows_after_install FROM feature_x.ddl_log;

-- warn: every command gets a WARNING and its objects a row each.
CREATE TABLE g_items (id int PRIMARY KEY, label text);
ALTER TABLE g_items ADD COLUMN note text;
CREATE INDEX g_items_label_idx ON g_items (label);
COMMENT ON TABLE g_items IS 'items';
GRANT SELECT ON g_items TO regress_fx_guard_nobody;
CREATE VIEW g_items_v AS SELECT id, label FROM g_items;
DROP TABLE g_items CASCADE;
CREATE SCHEMA g_app AUTHORIZATION regress_fx_guard_dep;
-- Who: the session user, the current role and the actor.
BEGIN;
SET LOCAL ROLE regress_fx_guard_dep;
SELECT feature_x.set_actor('release-bot');
CREATE TABLE g_app.settings (key text PRIMARY KEY);
COMMIT;
SELECT command_tag, object_type, object_identity, schema_name, statement
  FROM feature_x.ddl_log ORDER BY logged_at;
SELECT db_user = session_user AS session_user_recorded, db_role, actor,
	   logged_at <= clock_timestamp() AS logged_at_set
  FROM feature_x.ddl_log WHERE object_identity = 'g_app.settings';
SELECT count(*) FROM feature_x.ddl_log WHERE actor IS NOT NULL;

-- Not recorded: temporary objects, a command rolled back, migrations.
SELECT count(*) AS rows_before FROM feature_x.ddl_log \gset
CREATE TEMP TABLE g_temp (a int);
CREATE INDEX ON g_temp (a);
DROP TABLE g_temp;
CREATE FUNCTION pg_temp.g_one() RETURNS int LANGUAGE sql AS 'SELECT 1';
BEGIN;
CREATE TABLE g_gone (id int);
ROLLBACK;
SELECT feature_x.register_migration('1', 'g_mig', 'CREATE TABLE g_mig (id int); CREATE INDEX ON g_mig (id);', 'DROP TABLE g_mig;') IS NOT NULL AS registered;
SELECT version FROM feature_x.migrate();
SELECT count(*) = :rows_before AS nothing_recorded FROM feature_x.ddl_log;

-- off: nothing recorded, nothing checked.
SET feature_x.ddl_guard = off;
CREATE TABLE g_off (id int);
DROP TABLE g_off;
SELECT count(*) = :rows_before AS nothing_recorded FROM feature_x.ddl_log;

-- error: refused, and the refused command changes nothing.
SET feature_x.ddl_guard = error;
CREATE TABLE g_later (id int);
ALTER TABLE g_mig ADD COLUMN refused int;
CREATE INDEX CONCURRENTLY g_mig_cic ON g_mig (id);
GRANT SELECT ON g_mig TO regress_fx_guard_nobody;
DROP TABLE g_mig;
SELECT to_regclass('g_later') IS NULL AS not_created,
	   to_regclass('g_mig_cic') IS NULL AS no_index,
	   to_regclass('g_mig') IS NOT NULL AS not_dropped,
	   NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'g_mig'::regclass AND attname = 'refused') AS not_altered;
-- ... but migrations run, and so do rollbacks.
SELECT feature_x.register_migration('2', 'g_mig2', 'CREATE TABLE g_mig2 (id int); COMMENT ON TABLE g_mig2 IS $$two$$;', 'DROP TABLE g_mig2;') IS NOT NULL AS registered;
SELECT version FROM feature_x.migrate();
SELECT version FROM feature_x.rollback('1');
SELECT to_regclass('g_mig2') IS NULL AS rolled_back;
-- ... and neither are temporary objects nor REFRESH MATERIALIZED VIEW.
SELECT feature_x.register_migration('1.5', 'g_mv', 'CREATE MATERIALIZED VIEW g_mv AS SELECT 1 AS x;', 'DROP MATERIALIZED VIEW g_mv;') IS NOT NULL AS registered;
SELECT version FROM feature_x.migrate('1.5');
REFRESH MATERIALIZED VIEW g_mv;
CREATE TEMP TABLE g_temp (a int);
ALTER TABLE g_temp ADD COLUMN b int;
DROP TABLE g_temp;
-- ... nor is DDL on feature_x's own objects (a DBA's grant).
GRANT SELECT ON feature_x.ddl_log TO regress_fx_guard_nobody;
REVOKE SELECT ON feature_x.ddl_log FROM regress_fx_guard_nobody;
SELECT count(*) = :rows_before AS nothing_recorded FROM feature_x.ddl_log;

-- Only a superuser may change the guard.
SET ROLE regress_fx_guard_dep;
SET feature_x.ddl_guard = off;
SET feature_x.ddl_guard = warn;
RESET ROLE;
SET feature_x.ddl_guard = loud;

-- Deployers read the log; nobody else does, and nobody writes it.
SET ROLE regress_fx_guard_dep;
SELECT count(*) > 0 AS deployer_reads FROM feature_x.ddl_log;
DELETE FROM feature_x.ddl_log;
SET ROLE regress_fx_guard_nobody;
SELECT count(*) FROM feature_x.ddl_log;
RESET ROLE;

-- The extension's own scripts are not guarded, even under error: neither
-- an install nor an update from a released version.
SET feature_x.ddl_guard = error;
DROP EXTENSION feature_x;
CREATE EXTENSION feature_x;
SELECT count(*) AS rows_after_install FROM feature_x.ddl_log;
DROP EXTENSION feature_x;
CREATE EXTENSION feature_x VERSION '1.1';
ALTER EXTENSION feature_x UPDATE;
SELECT e.extversion = a.default_version AS updated, (SELECT count(*) FROM feature_x.ddl_log) AS rows_after_update
  FROM pg_extension e JOIN pg_available_extensions a ON a.name = e.extname
 WHERE e.extname = 'feature_x';
RESET feature_x.ddl_guard;

DROP EXTENSION feature_x;
DROP TABLE g_mig;
DROP MATERIALIZED VIEW g_mv;
DROP SCHEMA g_app CASCADE;
DROP ROLE regress_fx_guard_dep;
DROP ROLE regress_fx_guard_nobody;
