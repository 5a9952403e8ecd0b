-- Detailed behaviour of the migration ledger: timestamps, actors, stored
-- text, the deploy lock, failing down scripts, GUCs and baselines.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SET client_min_messages = warning;
CREATE EXTENSION feature_x;
SELECT plan(36);

-- Registration stores the normalised script and returns its checksum.
SELECT is(feature_x.register_migration('1', 'one', E'\xEF\xBB\xBFCREATE TABLE p1 (id int);\r\n', 'DROP TABLE p1;'),
		  feature_x.migration_checksum(E'CREATE TABLE p1 (id int);\n'),
		  'returned checksum is that of the normalised script');
SELECT is((SELECT up_sql FROM feature_x.migrations WHERE version = '1'),
		  E'CREATE TABLE p1 (id int);\n', 'stored script has no BOM and LF line ends');
SELECT is((SELECT checksum FROM feature_x.migration_status() WHERE version = '1'),
		  feature_x.migration_checksum(E'CREATE TABLE p1 (id int);\n'), 'status shows the checksum');

-- Idempotent registration keeps registered_at; new text for a pending one renews it.
UPDATE feature_x.migrations SET registered_at = '2000-01-01' WHERE version = '1';
SELECT feature_x.register_migration('1', 'one', E'CREATE TABLE p1 (id int);\n', 'DROP TABLE p1;');
SELECT is((SELECT registered_at FROM feature_x.migrations WHERE version = '1'),
		  '2000-01-01'::timestamptz, 'same checksum: nothing changes');
SELECT feature_x.register_migration('1', 'one', 'CREATE TABLE p1 (id bigint);', 'DROP TABLE p1;');
SELECT ok((SELECT registered_at > '2000-01-01' FROM feature_x.migrations WHERE version = '1'),
		  'new text for a pending migration renews registered_at');
SELECT is((SELECT state FROM feature_x.migrations WHERE version = '1'), 'pending', 'still pending');

SELECT feature_x.register_migration('2', 'two', 'CREATE TABLE p2 (id int);', 'DROP TABLE p2;');
SELECT feature_x.register_migration('3', 'three', 'CREATE TABLE p3 (id int);');

-- migrate() returns what it applied, and the ledger records who and how long.
SELECT results_eq('SELECT version, name FROM feature_x.migrate(''2'')',
				  $$VALUES ('1', 'one'), ('2', 'two')$$, 'migrate(target) applies up to the target');
SELECT ok(EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
					 AND classid = 1719140352 AND objid = 1 AND objsubid = 2 AND mode = 'ExclusiveLock'),
		  'the deploy lock is held until the end of the transaction');
SELECT is((SELECT count(*)::int FROM feature_x.migrations
			WHERE state = 'applied' AND applied_by = session_user
			  AND applied_at IS NOT NULL AND duration_ms >= 0), 2,
		  'applied rows record applied_at, applied_by and duration_ms');
SELECT col_type_is('public', 'p1', 'id', 'bigint', 'the re-registered text is what ran');
SELECT is((SELECT state FROM feature_x.migrations WHERE version = '3'), 'pending', 'above the target stays pending');

-- A target that is already applied still applies pending migrations below it.
SELECT feature_x.register_migration('1.5', 'one_and_a_half', 'CREATE TABLE p15 (id int);', 'DROP TABLE p15;');
SELECT results_eq('SELECT version FROM feature_x.migrate(''2'')', $$VALUES ('1.5')$$,
				  'out-of-order migration below an applied target is applied');
SELECT results_eq('SELECT version FROM feature_x.migrate()', $$VALUES ('3')$$, 'then the rest');

-- require_version(): by natural order, and never past a pending migration.
SELECT lives_ok('SELECT feature_x.require_version(''2.9'')', 'an unregistered version below the current one is satisfied');
SELECT throws_ok('SELECT feature_x.require_version(''3.1'')', '55000', NULL, 'a higher version is not');

-- Down scripts: a failing one rolls back the whole rollback().
SELECT feature_x.register_migration('4', 'four', 'CREATE TABLE p4 (id int);', 'DROP TABLE no_such_table;');
SELECT results_eq('SELECT version FROM feature_x.migrate()', $$VALUES ('4')$$, 'four applied');
SELECT feature_x.register_migration('3', 'three', 'CREATE TABLE p3 (id int);', 'DROP TABLE p3;');
SELECT throws_ok('SELECT * FROM feature_x.rollback(''2'')', '42P01',
				 'migration "4" failed: table "no_such_table" does not exist',
				 'a failing down script names the migration and keeps the SQLSTATE');
SELECT is((SELECT count(*)::int FROM feature_x.migrations WHERE state = 'applied'), 5,
		  'nothing was rolled back');
SELECT has_table('public', 'p3', 'p3 still exists');
SELECT feature_x.register_migration('4', 'four', 'CREATE TABLE p4 (id int);', 'DROP TABLE p4;');
SELECT results_eq('SELECT version FROM feature_x.rollback(''2'')', $$VALUES ('4'), ('3')$$,
				  'a corrected down script can be registered for an applied migration');
SELECT is((SELECT count(*)::int FROM feature_x.migrations
			WHERE state = 'rolled_back' AND rolled_back_by = session_user AND rolled_back_at IS NOT NULL), 2,
		  'rolled-back rows record who and when');
SELECT hasnt_table('public', 'p4', 'down script ran');
SELECT results_eq('SELECT version FROM feature_x.rollback(''2'')', 'SELECT NULL::text WHERE false',
				  'rolling back to the current version does nothing');
SELECT results_eq('SELECT version FROM feature_x.migrate()', $$VALUES ('3'), ('4')$$,
				  'rolled-back migrations are applied again');

-- The lock_timeout GUC.
SELECT is(current_setting('feature_x.lock_timeout'), '5s', 'feature_x.lock_timeout defaults to 5s');
SELECT throws_ok('SET feature_x.lock_timeout = -1', '22023', NULL, 'negative lock_timeout is refused');
SELECT throws_ok('SET feature_x.lock_timout = 1', '42602', NULL, 'misspelt feature_x settings are refused');

-- Status flags a script edited behind feature_x's back; health stays cheap and accurate.
UPDATE feature_x.migrations SET up_sql = up_sql || ' ' WHERE version = '2';
SELECT is((SELECT checksum_ok FROM feature_x.migration_status() WHERE version = '2'), false,
		  'edited script is flagged');
SELECT is((SELECT count(*)::int FROM feature_x.migration_status() WHERE checksum_ok), 4, 'others are fine');
SELECT is(feature_x.health() ->> 'current_version', '4', 'health reports the current version');
SELECT is((feature_x.health() ->> 'pending')::int, 0, 'and no pending migration');
SELECT is(feature_x.health() ->> 'extension_version',
		  (SELECT default_version FROM pg_available_extensions WHERE name = 'feature_x'),
		  'and the extension version');

-- Baseline: default name, no script, and a version without a down script cannot be rolled back.
DELETE FROM feature_x.migrations;
SELECT feature_x.baseline('7');
SELECT results_eq('SELECT name, state, baselined, up_sql IS NULL FROM feature_x.migrations',
				  $$VALUES ('baseline', 'applied', true, true)$$, 'baseline row');
SELECT feature_x.register_migration('8', 'eight', 'CREATE TABLE p8 ();', 'DROP TABLE p8;');
SELECT results_eq('SELECT version FROM feature_x.migrate()', $$VALUES ('8')$$, 'migrations after the baseline run');
SELECT feature_x.register_migration('9', 'nine', 'CREATE TABLE p9 ();');
SELECT results_eq('SELECT version FROM feature_x.migrate()', $$VALUES ('9')$$, 'a migration without a down script');
SELECT throws_ok('SELECT * FROM feature_x.rollback(''7'')', '55000', NULL,
				 'blocks rolling back to the baseline');

SELECT * FROM finish();
ROLLBACK;
