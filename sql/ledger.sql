-- The migration ledger: documented behaviour.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feature_x CASCADE;
DROP TABLE IF EXISTS users, orders, out_of_order, guc_seen CASCADE;
CREATE EXTENSION feature_x;
-- migrate() and rollback() report progress as NOTICEs with timings; the
-- timings vary, so this test runs quietly.  test/scripts/migrate_progress.sh
-- checks the notices.

-- Registering returns the checksum; registering again is a no-op.
SELECT feature_x.register_migration('1', 'create_users',
	'CREATE TABLE users (id int PRIMARY KEY);', 'DROP TABLE users;');
SELECT feature_x.register_migration('1', 'create_users',
	'CREATE TABLE users (id int PRIMARY KEY);', 'DROP TABLE users;');
SELECT feature_x.register_migration('10', 'add_email',
	'ALTER TABLE users ADD COLUMN email text;', 'ALTER TABLE users DROP COLUMN email;') IS NOT NULL AS registered;
SELECT feature_x.register_migration('2', 'create_orders',
	E'CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users);\nCREATE INDEX orders_user_id_idx ON orders (user_id);',
	'DROP TABLE orders;') IS NOT NULL AS registered;

-- A pending migration may be registered again with new text.
SELECT feature_x.register_migration('2', 'create_orders',
	E'CREATE TABLE orders (id bigint PRIMARY KEY, user_id int REFERENCES users);\nCREATE INDEX orders_user_id_idx ON orders (user_id);',
	'DROP TABLE orders;') IS NOT NULL AS registered;

SELECT version, name, state, checksum_ok, has_down_script FROM feature_x.migration_status();
SELECT feature_x.health() - 'extension_version' AS health;

-- Apply up to a target, in natural order (2 before 10).
SELECT version, name FROM feature_x.migrate('2');
SELECT version, state, applied_by = session_user AS by_session_user,
	   duration_ms >= 0 AS timed
  FROM feature_x.migration_status();
SELECT version, name FROM feature_x.migrate();
SELECT version, name FROM feature_x.migrate();
SELECT feature_x.health() - 'extension_version' AS health;
\d orders

-- Applications can refuse to start against an old schema.
SELECT feature_x.require_version('10');
SELECT feature_x.require_version('2');
SELECT feature_x.require_version('11');

-- Applied migrations are immutable...
SELECT feature_x.register_migration('1', 'create_users', 'CREATE TABLE users (id bigint PRIMARY KEY);');
-- ...but what the checksum does not cover (name, down script) may change.
SELECT feature_x.register_migration('1', 'create_users_table',
	'CREATE TABLE users (id int PRIMARY KEY);', 'DROP TABLE users CASCADE;') IS NOT NULL AS registered;
SELECT version, name, state FROM feature_x.migration_status() WHERE version = '1';

-- Rollback runs down scripts newest first; rolled-back migrations are pending again.
SELECT version, name FROM feature_x.rollback('1');
SELECT version, state FROM feature_x.migration_status();
SELECT feature_x.health() - 'extension_version' AS health;
SELECT to_regclass('orders') IS NULL AS orders_dropped;
SELECT feature_x.require_version('2');
SELECT version, name FROM feature_x.migrate();

-- A migration registered below the current version is applied by the next migrate().
SELECT feature_x.register_migration('3', 'out_of_order', 'CREATE TABLE out_of_order ();', 'DROP TABLE out_of_order;') IS NOT NULL AS registered;
SELECT version, name FROM feature_x.migrate();

-- Everything happens in the caller's transaction.
BEGIN;
SELECT feature_x.register_migration('11', 'in_tx', 'ALTER TABLE users ADD COLUMN in_tx int;') IS NOT NULL AS registered;
SELECT version FROM feature_x.migrate();
ROLLBACK;
SELECT count(*) AS registered_11 FROM feature_x.migration_status() WHERE version = '11';
SELECT count(*) AS column_in_tx FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'in_tx';

-- Settings changed by a migration last until its end; feature_x.lock_timeout
-- is in force while it runs.
SET lock_timeout = '1min';
SELECT feature_x.register_migration('12', 'settings',
	E'SET search_path = pg_catalog;\nSET work_mem = ''77MB'';\nCREATE TABLE public.guc_seen AS SELECT current_setting(''lock_timeout'') AS lock_timeout, current_setting(''work_mem'') AS work_mem;') IS NOT NULL AS registered;
SELECT version FROM feature_x.migrate();
SELECT * FROM guc_seen;
SHOW search_path;
SHOW work_mem;
SHOW lock_timeout;
-- 0 keeps the session's lock_timeout.
SET feature_x.lock_timeout = 0;
SELECT feature_x.register_migration('13', 'settings_again',
	'INSERT INTO guc_seen SELECT current_setting(''lock_timeout''), current_setting(''work_mem'');') IS NOT NULL AS registered;
SELECT version FROM feature_x.migrate();
SELECT * FROM guc_seen;
RESET feature_x.lock_timeout;
RESET lock_timeout;

-- Adopting an existing database: baseline records a version without running it.
DROP EXTENSION feature_x;
DROP TABLE users, orders, out_of_order, guc_seen CASCADE;
CREATE EXTENSION feature_x;
SELECT feature_x.register_migration('20240101120000_init', 'init', 'CREATE TABLE users (id int);') IS NOT NULL AS registered;
SELECT feature_x.baseline('20240301000000_current');
SELECT version, name, state, baselined, checksum_ok FROM feature_x.migration_status();
-- Migrations registered later at or below the baseline are already in the database.
SELECT feature_x.register_migration('20240201000000_more', 'more', 'CREATE TABLE more ();') IS NOT NULL AS registered;
SELECT feature_x.register_migration('20240301000000_current', 'current', 'CREATE TABLE current_t ();') IS NOT NULL AS registered;
SELECT feature_x.register_migration('20240401000000_next', 'next', 'CREATE TABLE next_t ();', 'DROP TABLE next_t;') IS NOT NULL AS registered;
SELECT version, name FROM feature_x.migrate();
SELECT version, state, baselined, checksum_ok FROM feature_x.migration_status();
SELECT to_regclass('users') IS NULL AS init_not_run, to_regclass('more') IS NULL AS more_not_run,
	   to_regclass('next_t') IS NOT NULL AS next_run;
SELECT version FROM feature_x.rollback('20240301000000_current');
DROP EXTENSION feature_x;
