-- The migration ledger: every error, and that a failing call changes nothing.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feature_x CASCADE;
DROP TABLE IF EXISTS t1, t2, t_half CASCADE;
CREATE EXTENSION feature_x;
SELECT feature_x.register_migration('1', 'one', 'CREATE TABLE t1 (id int);', 'DROP TABLE t1;') IS NOT NULL AS registered;
SELECT feature_x.register_migration('2', 'two', 'CREATE TABLE t2 (id int);') IS NOT NULL AS registered;
SELECT version FROM feature_x.migrate();
\set SHOW_CONTEXT never

-- Bad versions and arguments.
SELECT feature_x.register_migration(NULL, 'x', 'SELECT 1');
SELECT feature_x.register_migration('', 'x', 'SELECT 1');
SELECT feature_x.register_migration('   ', 'x', 'SELECT 1');
SELECT feature_x.register_migration(' 3', 'x', 'SELECT 1');
SELECT feature_x.register_migration(E'3\n', 'x', 'SELECT 1');
SELECT feature_x.register_migration(repeat('9', 256), 'x', 'SELECT 1');
SELECT feature_x.register_migration('3', NULL, 'SELECT 1');
SELECT feature_x.register_migration('3', ' ', 'SELECT 1');
SELECT feature_x.register_migration('3', 'x', NULL);
SELECT feature_x.register_migration('3', 'x', E' \n\t');
SELECT feature_x.register_migration('3', 'x', 'SELECT 1', '');

-- Scripts are parsed when registered.
\set SHOW_CONTEXT errors
SELECT feature_x.register_migration('3', 'x', E'CREATE TABLE t3 (id int);\nCREAT INDEX ON t3 (id);');
SELECT feature_x.register_migration('3', 'x', 'SELECT 1', 'DROP TABLE t3 t3;');
-- Statements that cannot run in a transaction are named, with what to do instead.
SELECT feature_x.register_migration('3', 'x', E'CREATE TABLE t3 (id int);\nCREATE INDEX CONCURRENTLY t3_id_idx ON t3 (id);');
SELECT feature_x.register_migration('3', 'x', 'SELECT 1', 'DROP INDEX CONCURRENTLY t3_id_idx;');
SELECT feature_x.register_migration('3', 'x', 'REINDEX TABLE CONCURRENTLY t1;');
SELECT feature_x.register_migration('3', 'x', 'VACUUM t1;');
SELECT feature_x.register_migration('3', 'x', 'BEGIN; CREATE TABLE t3 (); COMMIT;');
SELECT feature_x.register_migration('3', 'x', 'COPY t1 FROM STDIN;');
SELECT feature_x.register_migration('3', 'x', 'CREATE DATABASE fx_nope;');
SELECT feature_x.register_migration('3', 'x', 'ALTER SYSTEM SET work_mem = ''1MB'';');
\set SHOW_CONTEXT never

-- Applied migrations are immutable.
SELECT feature_x.register_migration('1', 'one', 'CREATE TABLE t1 (id bigint);');

-- Unknown targets.
SELECT * FROM feature_x.migrate('99');
SELECT * FROM feature_x.rollback('99');
SELECT * FROM feature_x.rollback(NULL);
SELECT * FROM feature_x.migrate('');

-- Rolling back past a migration without a down script changes nothing.
SELECT * FROM feature_x.rollback('1');
SELECT version, state FROM feature_x.migration_status();

-- baseline() only starts a ledger.
SELECT feature_x.baseline('5');
SELECT feature_x.baseline(NULL);
SELECT feature_x.baseline('5', NULL);

-- require_version().
SELECT feature_x.require_version(NULL);
SELECT feature_x.require_version('3');

-- A migration that fails halfway: the error names the version, keeps the
-- SQLSTATE and points into the script; nothing is applied.
\set SHOW_CONTEXT errors
SELECT feature_x.register_migration('3', 'ok', 'CREATE TABLE t_half (id int);') IS NOT NULL AS registered;
SELECT feature_x.register_migration('4', 'half',
	E'ALTER TABLE t_half ADD COLUMN a int;\nALTER TABLE t_half ADD COLUMN a int;') IS NOT NULL AS registered;
SELECT * FROM feature_x.migrate();
SELECT feature_x.register_migration('4', 'half',
	E'ALTER TABLE t_half ADD COLUMN a int;\nSELECT 1/0;') IS NOT NULL AS registered;
SELECT * FROM feature_x.migrate();
SELECT feature_x.register_migration('4', 'half',
	E'ALTER TABLE t_half ADD COLUMN a int;\nSELECT nope FROM t_half;') IS NOT NULL AS registered;
SELECT * FROM feature_x.migrate();
SELECT to_regclass('t_half') IS NULL AS t_half_absent;
SELECT version, state FROM feature_x.migration_status();

-- A migration cannot drive the ledger itself.
SELECT feature_x.register_migration('4', 'reentrant', 'SELECT * FROM feature_x.migrate();') IS NOT NULL AS registered;
SELECT * FROM feature_x.migrate();
\set SHOW_CONTEXT never

-- A script edited in the ledger behind feature_x's back is detected and not run.
UPDATE feature_x.migrations SET up_sql = 'DROP TABLE t1;' WHERE version = '4';
SELECT version, state, checksum_ok FROM feature_x.migration_status();
SELECT * FROM feature_x.migrate();
SELECT to_regclass('t1') IS NOT NULL AS t1_still_there;

-- Table-driven: each bad call fails with its SQLSTATE and leaves the ledger
-- and the schema exactly as they were.
SELECT feature_x.register_migration('4', 'four', 'CREATE TABLE t4 ();') IS NOT NULL AS registered;
CREATE FUNCTION pg_temp.ledger_fingerprint() RETURNS text LANGUAGE sql AS $$
	SELECT md5(string_agg(m::text, ',' ORDER BY m.version)) ||
		   (SELECT md5(string_agg(c.relname, ',' ORDER BY c.relname))
			  FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace)
	  FROM feature_x.migrations m
$$;
CREATE FUNCTION pg_temp.sqlstate_of(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	state text;
BEGIN
	EXECUTE call;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
	RETURN state;
END
$$;
CREATE TEMP TABLE bad_calls (call text, expected text);
INSERT INTO bad_calls VALUES
	('SELECT feature_x.register_migration(NULL, ''n'', ''SELECT 1'')', '22004'),
	('SELECT feature_x.register_migration('''', ''n'', ''SELECT 1'')', '22023'),
	('SELECT feature_x.register_migration(''5'', NULL, ''SELECT 1'')', '22004'),
	('SELECT feature_x.register_migration(''5'', '''', ''SELECT 1'')', '22023'),
	('SELECT feature_x.register_migration(''5'', ''n'', NULL)', '22004'),
	('SELECT feature_x.register_migration(''5'', ''n'', '''')', '22023'),
	('SELECT feature_x.register_migration(''5'', ''n'', ''SELEC 1'')', '42601'),
	('SELECT feature_x.register_migration(''5'', ''n'', ''SELECT 1'', ''DROP'')', '42601'),
	('SELECT feature_x.register_migration(''5'', ''n'', ''CREATE INDEX CONCURRENTLY i ON t1 (id)'')', '25001'),
	('SELECT feature_x.register_migration(''5'', ''n'', ''COMMIT'')', '2D000'),
	('SELECT feature_x.register_migration(''5'', ''n'', ''COPY t1 TO STDOUT'')', '0A000'),
	('SELECT feature_x.register_migration(''1'', ''one'', ''SELECT 2'')', '55000'),
	('SELECT feature_x.register_migration(''5''''; DROP TABLE t1; --'', ''n'', ''SELECT 1'')', 'no error'),
	('SELECT * FROM feature_x.migrate(''nope'')', '42704'),
	('SELECT * FROM feature_x.migrate(E''\t'')', '22023'),
	('SELECT * FROM feature_x.rollback(NULL)', '22004'),
	('SELECT * FROM feature_x.rollback(''nope'')', '42704'),
	('SELECT * FROM feature_x.rollback(''1'')', '55000'),
	('SELECT feature_x.baseline(''9'')', '55000'),
	('SELECT feature_x.baseline('''')', '22023'),
	('SELECT feature_x.require_version(''99'')', '55000'),
	('SELECT feature_x.require_version(''4'')', '55000'),
	('SELECT feature_x.require_version('' '')', '22023');
-- The injection attempt above is just an odd version string: registered, nothing dropped.
SELECT call, expected, pg_temp.sqlstate_of(call) AS actual
  FROM bad_calls WHERE expected = 'no error';
DELETE FROM feature_x.migrations WHERE version = '5''; DROP TABLE t1; --';
DELETE FROM bad_calls WHERE expected = 'no error';
CREATE TEMP TABLE before AS SELECT pg_temp.ledger_fingerprint() AS fp;
SELECT call, expected, actual
  FROM (SELECT call, expected, pg_temp.sqlstate_of(call) AS actual FROM bad_calls) r
 WHERE actual IS DISTINCT FROM expected;
SELECT count(*) AS bad_calls_checked FROM bad_calls;
SELECT fp = pg_temp.ledger_fingerprint() AS nothing_changed FROM before;
DROP EXTENSION feature_x;
DROP TABLE t1, t2;
