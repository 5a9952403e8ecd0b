-- The migration ledger: who may do what, and with whose rights migrations run.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feature_x CASCADE;
DROP SCHEMA IF EXISTS app, locked, evil CASCADE;
DROP ROLE IF EXISTS regress_fx_nobody;
DROP ROLE IF EXISTS regress_fx_deployer;
CREATE EXTENSION feature_x;
CREATE ROLE regress_fx_nobody;
CREATE ROLE regress_fx_deployer IN ROLE feature_x_deployer;
CREATE SCHEMA app AUTHORIZATION regress_fx_deployer;
CREATE SCHEMA locked;
CREATE SCHEMA evil AUTHORIZATION regress_fx_deployer;
\set SHOW_CONTEXT never

-- Anybody can read status and health, and check the version.
SET ROLE regress_fx_nobody;
SELECT count(*) FROM feature_x.migration_status();
SELECT feature_x.health() - 'extension_version' AS health;
SELECT feature_x.require_version('1');
-- Nobody else can drive or write the ledger, or read migration scripts.
SELECT feature_x.register_migration('1', 'x', 'SELECT 1');
SELECT * FROM feature_x.migrate();
SELECT * FROM feature_x.rollback('1');
SELECT feature_x.baseline('1');
SELECT up_sql FROM feature_x.migrations;
INSERT INTO feature_x.migrations (version, name, up_sql, checksum)
	VALUES ('1', 'x', 'SELECT 1', repeat('0', 64));
RESET ROLE;

-- A deployer registers and migrates; migrations run with the deployer's own rights.
SET ROLE regress_fx_deployer;
SELECT feature_x.register_migration('1', 'app_tables',
	'CREATE TABLE app.accounts (id int PRIMARY KEY, owner name DEFAULT current_user);',
	'DROP TABLE app.accounts;') IS NOT NULL AS registered;
SELECT version FROM feature_x.migrate();
SELECT relname, pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = 'app.accounts'::regclass;
-- applied_by is the session user, not the role the session switched to.
SELECT version, state, applied_by = session_user AS by_session_user FROM feature_x.migration_status();
-- It may read the ledger but not write it directly...
SELECT count(*) FROM feature_x.migrations;
UPDATE feature_x.migrations SET state = 'pending';
DELETE FROM feature_x.migrations;
-- ...not even from inside a migration.
SELECT feature_x.register_migration('2', 'sneaky', 'UPDATE feature_x.migrations SET checksum = NULL;') IS NOT NULL AS registered;
SELECT * FROM feature_x.migrate();
-- Being a deployer does not grant DDL the role could not run itself.
SELECT feature_x.register_migration('2', 'sneaky', 'CREATE TABLE locked.t (id int);') IS NOT NULL AS registered;
SELECT * FROM feature_x.migrate();
SELECT version, state FROM feature_x.migration_status();

-- A deployer's search_path cannot hijack the ledger's own queries: an
-- operator shadowing text = text is never called by feature_x.
CREATE FUNCTION evil.texteq(text, text) RETURNS boolean LANGUAGE plpgsql AS
	$$ BEGIN RAISE EXCEPTION 'hijacked'; END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.texteq);
SET search_path = evil, pg_catalog, public;
SELECT feature_x.register_migration('2', 'fixed', 'CREATE TABLE app.t2 (id int);') IS NOT NULL AS registered;
SELECT version FROM feature_x.migrate();
SELECT count(*) FROM feature_x.migration_status();
SELECT feature_x.health() - 'extension_version' AS health;
SELECT feature_x.require_version('2');
RESET search_path;
RESET ROLE;
SELECT count(*) AS created_in_locked FROM pg_class WHERE relnamespace = 'locked'::regnamespace;

DROP EXTENSION feature_x;
DROP SCHEMA app, locked, evil CASCADE;
DROP ROLE regress_fx_nobody;
DROP ROLE regress_fx_deployer;
