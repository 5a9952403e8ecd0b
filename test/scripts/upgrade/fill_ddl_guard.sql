-- fill_ddl_guard.sql: representative data for feature_x.ddl_log and for
-- imported rows of feature_x.migrations, written only by the DDL guard's
-- event triggers (DDL run outside migrations under the default mode, warn)
-- and by import_history(), each checked to have done its job.
-- Run by upgrade.sh (psql -v ON_ERROR_STOP=1) with -v sfx=TAG, the suffix of
-- the schemas it creates, at every version that has the DDL log.
--
-- Leaves: a schema with a table altered, commented, indexed, granted and
-- partly dropped by a deployer acting for an actor (ddl_log rows); a refused
-- CREATE TABLE under feature_x.ddl_guard = error, with a migration applied
-- under it; and a knex history of two migrations (one registered first)
-- imported into the ledger.  Its versions (1.7 to 1.9 plus the suffix) lie
-- above fill_ledger.sql's baseline, so that they register as pending, and
-- below the migrations it leaves pending, which migrate(1.7-...) must not
-- apply.

\set QUIET on
CREATE FUNCTION pg_temp.fill_assert(ok boolean, message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF ok IS NOT TRUE THEN
		RAISE EXCEPTION 'fill_ddl_guard.sql: %', message;
	END IF;
END
$$;

SELECT 'fx_up_oob_' || :'sfx' AS oob, 'fx_up_knex_' || :'sfx' AS knex,
	   '1.8-' || :'sfx' || '-users.js' AS k1, '1.9-' || :'sfx' || '-orders.js' AS k2,
	   '1.7-' || :'sfx' AS v_guarded,
	   clock_timestamp() AS since
\gset
SET client_min_messages = error;

-- Out-of-band DDL under warn: recorded, with who did it.
CREATE SCHEMA :"oob" AUTHORIZATION feature_x_deployer;
BEGIN;
SET LOCAL ROLE feature_x_deployer;
SELECT feature_x.set_actor('fill-' || :'sfx');
CREATE TABLE :"oob".hotfix (id int PRIMARY KEY, note text);
ALTER TABLE :"oob".hotfix ADD COLUMN extra int;
COMMENT ON TABLE :"oob".hotfix IS 'made by hand';
CREATE INDEX hotfix_note_idx ON :"oob".hotfix (note);
GRANT SELECT ON :"oob".hotfix TO feature_x_admin;
DROP INDEX :"oob".hotfix_note_idx;
COMMIT;
SELECT pg_temp.fill_assert(
	(SELECT array_agg(command_tag ORDER BY logged_at) FROM feature_x.ddl_log
	  WHERE logged_at > :'since' AND object_identity = :'oob' || '.hotfix')
		= ARRAY['CREATE TABLE', 'ALTER TABLE', 'COMMENT', 'GRANT'],
	'the table''s commands are recorded in order');
SELECT pg_temp.fill_assert(
	(SELECT bool_and(db_user = session_user AND db_role = 'feature_x_deployer'
					 AND actor = 'fill-' || :'sfx' AND statement IS NOT NULL)
	   FROM feature_x.ddl_log WHERE logged_at > :'since' AND schema_name = :'oob'),
	'the log records session user, role, actor and statement');
SELECT pg_temp.fill_assert(
	EXISTS (SELECT FROM feature_x.ddl_log WHERE logged_at > :'since' AND command_tag = 'DROP INDEX'
			   AND object_identity = :'oob' || '.hotfix_note_idx'),
	'drops are recorded');

-- Temporary objects are not recorded; under error DDL is refused and
-- migrations still run.
SELECT count(*) AS logged FROM feature_x.ddl_log \gset
CREATE TEMP TABLE fill_guard_temp (a int);
DROP TABLE fill_guard_temp;
BEGIN;
SET LOCAL feature_x.ddl_guard = error;
SELECT set_config('fx_fill.oob', :'oob', true);
DO $$
BEGIN
	EXECUTE format('CREATE TABLE %I.refused (id int)', current_setting('fx_fill.oob'));
	RAISE EXCEPTION 'fill_ddl_guard.sql: DDL was not refused under error';
EXCEPTION WHEN insufficient_privilege THEN
	NULL;
END
$$;
SELECT feature_x.register_migration(:'v_guarded', 'under the guard',
	format('ALTER TABLE %I.hotfix ADD COLUMN migrated boolean;', :'oob'),
	format('ALTER TABLE %I.hotfix DROP COLUMN migrated;', :'oob'));
SELECT pg_temp.fill_assert(
	(SELECT array_agg(version) = ARRAY[:'v_guarded'] FROM feature_x.migrate(:'v_guarded')),
	'a migration runs under error');
COMMIT;
SELECT pg_temp.fill_assert(
	(SELECT count(*) FROM feature_x.ddl_log) = :logged,
	'temporary objects and migrations are not recorded, refused DDL leaves nothing');

-- A knex history, imported; one of its versions was registered first.
CREATE SCHEMA :"knex";
CREATE TABLE :"knex".knex_migrations (id serial PRIMARY KEY, name varchar(255), batch integer,
									   migration_time timestamptz);
CREATE TABLE :"knex".knex_migrations_lock ("index" serial PRIMARY KEY, is_locked integer);
INSERT INTO :"knex".knex_migrations (name, batch, migration_time)
	VALUES (:'k1', 1, '2023-01-01 00:00:00+00'), (:'k2', 2, '2023-02-01 00:00:00+00');
SELECT feature_x.register_migration(:'k2', 'orders', 'SELECT 1/0;');
SET search_path = :"knex", public;
SELECT pg_temp.fill_assert(feature_x.import_history('knex') = 2, 'import_history() imports both');
SELECT pg_temp.fill_assert(feature_x.import_history('knex') = 0, 'importing again imports nothing');
RESET search_path;
SELECT pg_temp.fill_assert(
	(SELECT array_agg(state || ' ' || imported_from ORDER BY version) FROM feature_x.migrations
	  WHERE version IN (:'k1', :'k2')) = ARRAY['applied knex', 'applied knex'],
	'imported migrations are applied and say where from');
SELECT pg_temp.fill_assert(
	(SELECT checksum_ok AND NOT has_down_script FROM feature_x.migration_status() WHERE version = :'k1'),
	'migration_status() shows an imported migration');
