-- import_history(): each tool's history table built as the tool builds it,
-- finished and unfinished migrations, re-import, conflicts, absent tables,
-- and the ledger functions on imported rows.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
-- error: the DDL guard warns about the tables built below, by design.
SET client_min_messages = error;
CREATE EXTENSION feature_x;
SELECT plan(47);

SELECT has_function('feature_x', 'import_history', ARRAY['text']);
SELECT function_returns('feature_x', 'import_history', ARRAY['text'], 'integer');
SELECT function_privs_are('feature_x', 'import_history', ARRAY['text'], 'public', ARRAY[]::text[],
						  'PUBLIC cannot import');
SELECT function_privs_are('feature_x', 'import_history', ARRAY['text'], 'feature_x_deployer', ARRAY['EXECUTE'],
						  'deployers can import');
SELECT ok(NOT (SELECT prosecdef FROM pg_proc WHERE oid = 'feature_x.import_history(text)'::regprocedure),
		  'import_history() reads the history with the caller''s rights');
SELECT has_column('feature_x', 'migrations', 'imported_from', 'the ledger records the source');
SELECT has_column('feature_x', 'migrations', 'source_checksum', 'and the source''s checksum');

-- Bad sources and absent tables.
SELECT throws_ok('SELECT feature_x.import_history(NULL)', '22004', 'source must not be null', 'NULL source');
SELECT throws_ok('SELECT feature_x.import_history('''')', '22023', 'source must not be empty', 'empty source');
SELECT throws_ok('SELECT feature_x.import_history(''sqitch'')', '22023', 'unknown migration tool "sqitch"',
				 'unknown source');
SELECT throws_ok('SELECT feature_x.import_history(''prisma'')', '42P01', 'history table of prisma not found',
				 'absent _prisma_migrations');
SELECT throws_ok('SELECT feature_x.import_history(''knex'')', '42P01', NULL, 'absent knex_migrations');
SELECT throws_ok('SELECT feature_x.import_history(''drizzle'')', '42P01', NULL, 'absent drizzle.__drizzle_migrations');
SELECT throws_ok('SELECT feature_x.import_history(''flyway'')', '42P01', NULL, 'absent flyway_schema_history');
SELECT throws_ok('SELECT feature_x.import_history(''golang-migrate'')', '42P01', NULL, 'absent schema_migrations');

-- Prisma, as prisma migrate creates its table on PostgreSQL.
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
	(gen_random_uuid(), repeat('a', 64), '2024-01-01 10:00:02+00', '20240101100000_init', NULL, NULL, '2024-01-01 10:00:00+00', 1),
	(gen_random_uuid(), repeat('b', 64), NULL, '20240102100000_failed', 'ERROR: boom', NULL, '2024-01-02 10:00:00+00', 0),
	(gen_random_uuid(), repeat('c', 64), NULL, '20240103100000_retried', 'ERROR: boom', '2024-01-03 10:30:00+00', '2024-01-03 10:00:00+00', 0),
	(gen_random_uuid(), repeat('c', 64), '2024-01-03 11:00:01+00', '20240103100000_retried', NULL, NULL, '2024-01-03 11:00:00+00', 1),
	(gen_random_uuid(), repeat('d', 64), NULL, '20240104100000_rolled_back', NULL, '2024-01-04 10:30:00+00', '2024-01-04 10:00:00+00', 0);
SELECT is(feature_x.import_history('prisma'), 2, 'prisma: the two finished migrations are imported');
SELECT results_eq(
	$$SELECT version, state, applied_at, duration_ms, source_checksum, up_sql IS NULL, baselined
		FROM feature_x.migrations WHERE imported_from = 'prisma' ORDER BY version$$,
	$$VALUES ('20240101100000_init', 'applied', '2024-01-01 10:00:02+00'::timestamptz, 2000::float8, repeat('a', 64), true, false),
			 ('20240103100000_retried', 'applied', '2024-01-03 11:00:01+00'::timestamptz, 1000::float8, repeat('c', 64), true, false)$$,
	'prisma: applied at finished_at, with its checksum and duration, no script');
SELECT is((SELECT count(*)::int FROM feature_x.migrations WHERE version IN ('20240102100000_failed', '20240104100000_rolled_back')),
		  0, 'prisma: failed and rolled-back migrations are not imported');
SELECT is(feature_x.import_history('prisma'), 0, 'prisma: importing again imports nothing');
SELECT is((SELECT count(*)::int FROM feature_x.migrations), 2, 'and adds no row');

-- The ledger's functions on imported rows.
SELECT results_eq(
	$$SELECT version, state, checksum_ok, has_down_script FROM feature_x.migration_status()$$,
	$$VALUES ('20240101100000_init', 'applied', true, false),
			 ('20240103100000_retried', 'applied', true, false)$$,
	'migration_status(): imported migrations are applied, consistent, without down script');
SELECT is(feature_x.health() ->> 'current_version', '20240103100000_retried', 'health(): the current version');
SELECT ok((feature_x.health() ->> 'ok')::boolean, 'health(): ok');
SELECT lives_ok($$SELECT feature_x.require_version('20240103100000_retried')$$, 'require_version() is satisfied');
SELECT is((SELECT count(*)::int FROM feature_x.migrate()), 0, 'migrate() has nothing to run');
SELECT feature_x.register_migration('20240105100000_next', 'next', 'CREATE TABLE imp_next (id int);', 'DROP TABLE imp_next;');
SELECT is((SELECT array_agg(version) FROM feature_x.migrate()), ARRAY['20240105100000_next'],
		  'migrate() applies what comes after the imported history');
SELECT throws_ok($$SELECT * FROM feature_x.rollback('20240101100000_init')$$, '55000',
				 'cannot roll back to "20240101100000_init": some migrations above it have no down script',
				 'rollback() past an imported migration: it has no down script');
SELECT has_table('public', 'imp_next', 'and nothing was rolled back');
SELECT throws_ok($$SELECT feature_x.baseline('1')$$, '55000', NULL, 'baseline() is refused after an import');

-- Conflicts: nothing is imported when any version conflicts.
UPDATE _prisma_migrations SET checksum = repeat('e', 64) WHERE migration_name = '20240101100000_init';
INSERT INTO _prisma_migrations VALUES
	(gen_random_uuid(), repeat('f', 64), '2024-01-06 10:00:01+00', '20240106100000_more', NULL, NULL, '2024-01-06 10:00:00+00', 1),
	(gen_random_uuid(), repeat('9', 64), '2024-01-05 10:00:01+00', '20240105100000_next', NULL, NULL, '2024-01-05 10:00:00+00', 1);
SELECT throws_ok($$SELECT feature_x.import_history('prisma')$$, '55000',
				 'cannot import the prisma history: 2 migrations conflict with the ledger',
				 'prisma: a changed checksum and a version applied by feature_x conflict');
SELECT is((SELECT count(*)::int FROM feature_x.migrations WHERE version = '20240106100000_more'), 0,
		  'nothing is imported from a conflicting history');

-- knex, as its migrator creates the tables.
CREATE TABLE knex_migrations (id serial PRIMARY KEY, name varchar(255), batch integer, migration_time timestamptz);
CREATE TABLE knex_migrations_lock ("index" serial PRIMARY KEY, is_locked integer);
INSERT INTO knex_migrations_lock (is_locked) VALUES (0);
INSERT INTO knex_migrations (name, batch, migration_time) VALUES
	('20230101000000_users.js', 1, '2023-01-01 00:00:00+00'),
	('20230102000000_orders.js', 2, '2023-01-02 00:00:00+00');
-- A pending registration of the same version is marked applied, not run.
SELECT feature_x.register_migration('20230102000000_orders.js', 'orders', 'SELECT 1/0;');
SELECT is(feature_x.import_history('knex'), 2, 'knex: every row is an applied migration');
SELECT results_eq(
	$$SELECT version, name, state, applied_at, up_sql FROM feature_x.migrations
	   WHERE imported_from = 'knex' ORDER BY version$$,
	$$VALUES ('20230101000000_users.js', '20230101000000_users.js', 'applied', '2023-01-01 00:00:00+00'::timestamptz, NULL::text),
			 ('20230102000000_orders.js', 'orders', 'applied', '2023-01-02 00:00:00+00'::timestamptz, 'SELECT 1/0;')$$,
	'knex: applied at migration_time; a pending registration keeps its script and name');
SELECT is(feature_x.import_history('knex'), 0, 'knex: importing again imports nothing');

-- Drizzle, as drizzle-orm's PostgreSQL migrator creates its table.
CREATE SCHEMA IF NOT EXISTS drizzle;
CREATE TABLE IF NOT EXISTS drizzle.__drizzle_migrations (
	id SERIAL PRIMARY KEY,
	hash text NOT NULL,
	created_at bigint
);
INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES
	(encode(sha256('CREATE TABLE a (id int);'), 'hex'), 1700000000000),
	(encode(sha256('CREATE TABLE b (id int);'), 'hex'), 1700000500000);
SELECT is(feature_x.import_history('drizzle'), 2, 'drizzle: every row is an applied migration');
SELECT results_eq(
	$$SELECT version, state, applied_at, source_checksum FROM feature_x.migrations
	   WHERE imported_from = 'drizzle' ORDER BY version$$,
	$$VALUES ('1700000000000', 'applied', NULL::timestamptz, encode(sha256('CREATE TABLE a (id int);'), 'hex')),
			 ('1700000500000', 'applied', NULL::timestamptz, encode(sha256('CREATE TABLE b (id int);'), 'hex'))$$,
	'drizzle: versioned by created_at, with its hash; it records no application time');

-- Flyway, as it creates flyway_schema_history on PostgreSQL.
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
	(1, '5.0', '<< Flyway Baseline >>', 'BASELINE', '<< Flyway Baseline >>', NULL, 'ops', '2022-01-01 00:00:00', 0, true),
	(2, '5.1', 'create users', 'SQL', 'V5.1__create_users.sql', 1357, 'ci', '2022-01-02 00:00:00', 12, true),
	(3, '5.2', 'bad', 'SQL', 'V5.2__bad.sql', 2468, 'ci', '2022-01-03 00:00:00', 1, false),
	(4, '5.3', 'undone', 'SQL', 'V5.3__undone.sql', 3579, 'ci', '2022-01-04 00:00:00', 2, true),
	(5, '5.3', 'undone', 'UNDO_SQL', 'U5.3__undone.sql', 4680, 'ci', '2022-01-05 00:00:00', 2, true),
	(6, NULL, 'views', 'SQL', 'R__views.sql', 5791, 'ci', '2022-01-06 00:00:00', 3, true),
	(7, '5.2', 'bad', 'SQL', 'V5.2__bad.sql', 2468, 'ci', '2022-01-07 00:00:00', 4, false);
SELECT is(feature_x.import_history('flyway'), 2, 'flyway: the baseline and the successful migration');
SELECT results_eq(
	$$SELECT version, name, baselined, applied_at, applied_by, duration_ms, source_checksum
		FROM feature_x.migrations WHERE imported_from = 'flyway' ORDER BY version$$,
	$$VALUES ('5.0', '<< Flyway Baseline >>', true, '2022-01-01 00:00:00'::timestamp::timestamptz, 'ops', 0::float8, NULL::text),
			 ('5.1', 'create users', false, '2022-01-02 00:00:00'::timestamp::timestamptz, 'ci', 12::float8, '1357')$$,
	'flyway: installed_on, installed_by, execution_time, checksum; the baseline is a baseline');
SELECT is((SELECT count(*)::int FROM feature_x.migrations WHERE version IN ('5.2', '5.3')), 0,
		  'flyway: failed and undone versions are not imported');
SELECT is(feature_x.import_history('flyway'), 0, 'flyway: importing again imports nothing');

-- golang-migrate: only the current version, as a baseline; dirty is refused.
CREATE TABLE IF NOT EXISTS schema_migrations (version bigint not null primary key, dirty boolean not null);
INSERT INTO schema_migrations VALUES (30000000000000, true);
SELECT throws_ok($$SELECT feature_x.import_history('golang-migrate')$$, '55000',
				 'the golang-migrate history is dirty at version 30000000000000', 'golang-migrate: dirty is refused');
UPDATE schema_migrations SET dirty = false;
SELECT is(feature_x.import_history('golang-migrate'), 1, 'golang-migrate: the current version is imported');
SELECT results_eq(
	$$SELECT version, state, baselined FROM feature_x.migrations WHERE imported_from = 'golang-migrate'$$,
	$$VALUES ('30000000000000', 'applied', true)$$,
	'golang-migrate: as a baseline');
SELECT feature_x.register_migration('20990101000000', 'below the golang-migrate version', 'SELECT 1/0;');
SELECT is((SELECT state FROM feature_x.migrations WHERE version = '20990101000000'), 'applied',
		  'golang-migrate: versions registered below it are recorded as applied');
DELETE FROM schema_migrations;
SELECT is(feature_x.import_history('golang-migrate'), 0, 'golang-migrate: an empty table has nothing applied');

-- A table of that name that is not the tool's.
CREATE SCHEMA imp_other;
CREATE TABLE imp_other.knex_migrations (id int, title text);
SET LOCAL search_path = imp_other, public;
SELECT throws_ok($$SELECT feature_x.import_history('knex')$$, '42703',
				 'table imp_other.knex_migrations is not a history table of knex', 'a foreign table is refused');
RESET search_path;

-- Not from inside a migration.
SELECT feature_x.register_migration('40000000000000', 'nested', $$SELECT feature_x.import_history('knex');$$);
SELECT throws_ok('SELECT * FROM feature_x.migrate()', '55000', NULL, 'import_history() inside a migration is refused');

SELECT * FROM finish();
ROLLBACK;
