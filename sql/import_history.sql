-- import_history(): adopting the history of prisma, knex, drizzle, flyway
-- and golang-migrate; what is imported, what is reported, every error.
SET client_min_messages = notice;
DROP EXTENSION IF EXISTS feature_x CASCADE;
DROP TABLE IF EXISTS _prisma_migrations, knex_migrations, knex_migrations_lock,
	flyway_schema_history, schema_migrations CASCADE;
DROP SCHEMA IF EXISTS drizzle CASCADE;
DROP ROLE IF EXISTS regress_fx_import_nobody;
DROP ROLE IF EXISTS regress_fx_import_dep;
CREATE ROLE regress_fx_import_nobody;
CREATE ROLE regress_fx_import_dep IN ROLE feature_x_deployer;
CREATE EXTENSION feature_x;
\set SHOW_CONTEXT never
-- The history tables are built here outside migrations, as the tools do.
SET feature_x.ddl_guard = off;

-- Bad source names and absent tables.
SELECT feature_x.import_history(NULL);
SELECT feature_x.import_history('  ');
SELECT feature_x.import_history('liquibase');
SELECT feature_x.import_history('Prisma');
SELECT feature_x.import_history('prisma');
SELECT feature_x.import_history('drizzle');

-- Only deployers may import.
SET ROLE regress_fx_import_nobody;
SELECT feature_x.import_history('prisma');
RESET ROLE;

-- Prisma (the table prisma migrate creates): an applied migration, a failed
-- one, and one whose failed attempt was resolved as rolled back and which
-- was then applied.
CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);
INSERT INTO _prisma_migrations VALUES
	('0b7f4a4e-0000-4000-8000-000000000001', repeat('a', 64), '2024-01-01 10:00:01.5+00',
	 '20240101100000_init', NULL, NULL, '2024-01-01 10:00:00+00', 1),
	('0b7f4a4e-0000-4000-8000-000000000002', repeat('b', 64), NULL,
	 '20240102100000_orders', 'ERROR: relation "users" does not exist', NULL, '2024-01-02 10:00:00+00', 0),
	('0b7f4a4e-0000-4000-8000-000000000003', repeat('c', 64), NULL,
	 '20240103100000_index', 'ERROR: deadlock detected', '2024-01-03 11:00:00+00', '2024-01-03 10:00:00+00', 0),
	('0b7f4a4e-0000-4000-8000-000000000004', repeat('c', 64), '2024-01-03 12:00:02+00',
	 '20240103100000_index', NULL, NULL, '2024-01-03 12:00:00+00', 1),
	('0b7f4a4e-0000-4000-8000-000000000005', repeat('d', 64), NULL,
	 '20240104100000_dropped', NULL, '2024-01-04 11:00:00+00', '2024-01-04 10:00:00+00', 0);
-- The history table is read with the caller's rights.
SET ROLE regress_fx_import_dep;
SELECT feature_x.import_history('prisma');
RESET ROLE;
GRANT SELECT ON _prisma_migrations TO regress_fx_import_dep;
SET ROLE regress_fx_import_dep;
SELECT feature_x.import_history('prisma');
RESET ROLE;
SELECT version, name, state, baselined, applied_at, applied_by, duration_ms,
	   imported_from, source_checksum, up_sql IS NULL AS no_script
  FROM feature_x.migrations ORDER BY feature_x.version_sort_key(version);
SELECT version, state, checksum_ok, has_down_script FROM feature_x.migration_status();
SELECT feature_x.health() -> 'ok' AS ok, feature_x.health() -> 'current_version' AS current_version;
-- Importing again changes nothing.
SELECT feature_x.import_history('prisma');
-- An imported migration cannot be rolled back: it has no down script ...
SELECT feature_x.register_migration('20240105100000_next', 'next', 'SELECT 1;', 'SELECT 1;') IS NOT NULL AS registered;
SET client_min_messages = warning;  -- progress NOTICEs show timings
SELECT version FROM feature_x.migrate();
SET client_min_messages = notice;
SET client_min_messages = warning;  -- progress NOTICEs show timings
SELECT version FROM feature_x.rollback('20240101100000_init');
SET client_min_messages = notice;
-- ... until it is registered with one; it stays applied.
SELECT feature_x.register_migration('20240103100000_index', 'index', 'SELECT 1;', 'SELECT 1;') IS NOT NULL AS registered;
SELECT s.version, s.state, m.imported_from, s.checksum_ok, s.has_down_script
  FROM feature_x.migration_status() s JOIN feature_x.migrations m USING (version)
 WHERE version = '20240103100000_index';
SET client_min_messages = warning;  -- progress NOTICEs show timings
SELECT version FROM feature_x.rollback('20240101100000_init');
SET client_min_messages = notice;
-- baseline() is refused once migrations are imported.
SELECT feature_x.baseline('1');
-- A changed history conflicts, and nothing is imported.
UPDATE _prisma_migrations SET checksum = repeat('e', 64) WHERE migration_name = '20240101100000_init';
INSERT INTO _prisma_migrations VALUES
	('0b7f4a4e-0000-4000-8000-000000000006', repeat('f', 64), '2024-01-06 10:00:01+00',
	 '20240106100000_more', NULL, NULL, '2024-01-06 10:00:00+00', 1);
SELECT feature_x.import_history('prisma');
SELECT count(*) AS not_imported FROM feature_x.migrations WHERE version = '20240106100000_more';

-- A fresh ledger for each of the other tools.
DROP EXTENSION feature_x;
CREATE EXTENSION feature_x;
SET feature_x.ddl_guard = off;

-- knex (tables as knex's migrator creates them); rolled-back migrations are
-- deleted by knex, so every row counts.
CREATE TABLE knex_migrations (id serial PRIMARY KEY, name varchar(255), batch integer, migration_time timestamptz);
CREATE TABLE knex_migrations_lock ("index" serial PRIMARY KEY, is_locked integer);
INSERT INTO knex_migrations (name, batch, migration_time) VALUES
	('20230101000000_create_users.js', 1, '2023-01-01 00:00:00+00'),
	('20230201000000_add_email.js', 1, '2023-01-01 00:00:00+00'),
	('20230301000000_orders.ts', 2, '2023-03-01 08:30:00+00');
-- A pending registration of a version knex applied is marked applied, its
-- script kept and not run.
SELECT feature_x.register_migration('20230301000000_orders.ts', 'orders', 'SELECT 1/0;') IS NOT NULL AS registered;
SELECT feature_x.import_history('knex');
SELECT version, name, state, applied_at, imported_from, source_checksum, up_sql
  FROM feature_x.migrations ORDER BY feature_x.version_sort_key(version);
SET client_min_messages = warning;  -- progress NOTICEs show timings
SELECT count(*) AS nothing_pending FROM feature_x.migrate();
SET client_min_messages = notice;

-- Drizzle (drizzle-orm's migrator for PostgreSQL).
DROP EXTENSION feature_x;
CREATE EXTENSION feature_x;
SET feature_x.ddl_guard = off;
CREATE SCHEMA IF NOT EXISTS drizzle;
CREATE TABLE IF NOT EXISTS drizzle.__drizzle_migrations (
	id SERIAL PRIMARY KEY,
	hash text NOT NULL,
	created_at bigint
);
INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES
	(repeat('1', 64), 1700000000000), (repeat('2', 64), 1700000100000);
SELECT feature_x.import_history('drizzle');
SELECT version, name, state, applied_at, source_checksum
  FROM feature_x.migrations ORDER BY feature_x.version_sort_key(version);

-- Flyway (flyway_schema_history as Flyway creates it for PostgreSQL): a
-- baseline, applied, failed and undone versions, a repeatable migration.
DROP EXTENSION feature_x;
CREATE EXTENSION feature_x;
SET feature_x.ddl_guard = off;
CREATE TABLE flyway_schema_history (
	installed_rank INT NOT NULL,
	version VARCHAR(50),
	description VARCHAR(200) NOT NULL,
	type VARCHAR(20) NOT NULL,
	script VARCHAR(1000) NOT NULL,
	checksum INTEGER,
	installed_by VARCHAR(100) NOT NULL,
	installed_on TIMESTAMP NOT NULL DEFAULT now(),
	execution_time INTEGER NOT NULL,
	success BOOLEAN NOT NULL
);
ALTER TABLE flyway_schema_history ADD CONSTRAINT flyway_schema_history_pk PRIMARY KEY (installed_rank);
CREATE INDEX flyway_schema_history_s_idx ON flyway_schema_history (success);
INSERT INTO flyway_schema_history VALUES
	(1, '1', '<< Flyway Baseline >>', 'BASELINE', '<< Flyway Baseline >>', NULL, 'ops', '2022-05-01 09:00:00', 0, true),
	(2, '1.1', 'create users', 'SQL', 'V1.1__create_users.sql', 1234567, 'ci', '2022-05-02 09:00:00', 42, true),
	(3, '1.2', 'add index', 'SQL', 'V1.2__add_index.sql', -76543, 'ci', '2022-05-03 09:00:00', 7, true),
	(4, '1.2', 'add index', 'UNDO_SQL', 'U1.2__add_index.sql', 111, 'ci', '2022-05-04 09:00:00', 3, true),
	(5, '1.3', 'broken', 'SQL', 'V1.3__broken.sql', 222, 'ci', '2022-05-05 09:00:00', 1, false),
	(6, NULL, 'views', 'SQL', 'R__views.sql', 333, 'ci', '2022-05-05 09:00:01', 2, true),
	(7, '1.10', 'natural order', 'SQL', 'V1.10__natural_order.sql', 444, 'ci', '2022-05-06 09:00:00', 5, true);
SELECT feature_x.import_history('flyway');
SELECT version, name, state, baselined, applied_at, applied_by, duration_ms, source_checksum
  FROM feature_x.migrations ORDER BY feature_x.version_sort_key(version);
-- The Flyway baseline works like baseline(): older versions register as applied.
SELECT feature_x.register_migration('0.9', 'before the baseline', 'SELECT 1/0;') IS NOT NULL AS registered;
SELECT state, baselined FROM feature_x.migrations WHERE version = '0.9';

-- golang-migrate keeps only the current version: everything up to it is
-- applied, as baseline() records it.  A dirty version is refused.
DROP EXTENSION feature_x;
CREATE EXTENSION feature_x;
SET feature_x.ddl_guard = off;
CREATE TABLE IF NOT EXISTS schema_migrations (version bigint not null primary key, dirty boolean not null);
INSERT INTO schema_migrations VALUES (20240105120000, true);
SELECT feature_x.import_history('golang-migrate');
SELECT count(*) AS nothing_imported FROM feature_x.migrations;
UPDATE schema_migrations SET dirty = false;
SELECT feature_x.import_history('golang-migrate');
SELECT version, name, state, baselined, applied_at FROM feature_x.migrations;
SELECT feature_x.register_migration('20240101000000', 'older', 'SELECT 1/0;') IS NOT NULL AS registered;
SELECT version, state, baselined FROM feature_x.migrations ORDER BY feature_x.version_sort_key(version);
-- Migrations applied in the ledger by feature_x conflict with a history.
SELECT feature_x.register_migration('20240106000000', 'newer', 'SELECT 1;') IS NOT NULL AS registered;
SET client_min_messages = warning;  -- progress NOTICEs show timings
SELECT version FROM feature_x.migrate();
SET client_min_messages = notice;
UPDATE schema_migrations SET version = 20240106000000;
SELECT feature_x.import_history('golang-migrate');
-- A history table without the tool's columns.
DROP TABLE schema_migrations;
CREATE TABLE schema_migrations (version text);
SELECT feature_x.import_history('golang-migrate');

REVOKE SELECT ON _prisma_migrations FROM regress_fx_import_dep;
DROP EXTENSION feature_x;
DROP TABLE _prisma_migrations, knex_migrations, knex_migrations_lock,
	flyway_schema_history, schema_migrations;
DROP SCHEMA drizzle CASCADE;
DROP ROLE regress_fx_import_nobody;
DROP ROLE regress_fx_import_dep;
