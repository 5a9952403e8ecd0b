-- Audit log: what the row-change trigger logs, enable_audit/disable_audit,
-- audited_tables, row_history, row_as_of, privileges and every error.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feature_x CASCADE;
DROP TABLE IF EXISTS audit_items, audit_types, audit_nopk, audit_ri, audit_part,
	audit_other, audit_keys CASCADE;
DROP VIEW IF EXISTS audit_view;
DROP TYPE IF EXISTS audit_mood, audit_pair;
DROP DOMAIN IF EXISTS audit_positive;
DROP ROLE IF EXISTS regress_fx_audit_owner;
DROP ROLE IF EXISTS regress_fx_audit_clerk;
DROP ROLE IF EXISTS regress_fx_audit_reader;
CREATE EXTENSION feature_x;
CREATE ROLE regress_fx_audit_owner;
CREATE ROLE regress_fx_audit_clerk;
CREATE ROLE regress_fx_audit_reader IN ROLE feature_x_auditor;
RESET client_min_messages;
\set SHOW_CONTEXT never
-- The fixtures below are DDL outside a migration; the DDL guard is not what
-- this file tests (see the end for enable/disable_audit under the guard).
SET feature_x.ddl_guard = off;

-- The log entries written after a mark, without the columns that differ from
-- run to run (id, logged_at, txid, row_hash).
CREATE FUNCTION audit_since(mark bigint)
RETURNS TABLE (action text, table_name text, actor text, row_key jsonb,
			   old_data jsonb, new_data jsonb, details jsonb)
LANGUAGE sql AS $$
	SELECT action, table_name, actor, row_key, old_data, new_data, details
	  FROM feature_x.audit_log WHERE id > mark ORDER BY id
$$;

-- ---------------------------------------------------------------------
-- What is logged.  Excluded columns never reach the log.
-- ---------------------------------------------------------------------
CREATE TABLE audit_items (
	id bigserial PRIMARY KEY,
	name text NOT NULL,
	qty int,
	price numeric,
	password text,
	updated_at timestamptz
);
SELECT coalesce(max(id), 0) AS mark FROM feature_x.audit_log \gset
SELECT feature_x.enable_audit('audit_items', ARRAY['password']);
SELECT * FROM feature_x.audited_tables;

BEGIN;
SELECT feature_x.set_actor('alice@example.com');
INSERT INTO audit_items (name, qty, price, password, updated_at)
VALUES ('bolt', 10, 0.25, 'secret-1', '2024-05-01 12:00:00+00'),
	   ('nut', 20, 0.10, 'secret-2', '2024-05-01 12:00:00+00');
COMMIT;
-- Only the changed columns; a key column keeps identifying the row.
UPDATE audit_items SET qty = 11, updated_at = '2024-05-02 08:30:00+00' WHERE name = 'bolt';
-- Nothing changes: nothing is logged.
UPDATE audit_items SET qty = qty;
-- Only an excluded column changes: that it changed is logged, not the value.
UPDATE audit_items SET password = 'secret-3' WHERE name = 'nut';
DELETE FROM audit_items WHERE name = 'nut';
TRUNCATE audit_items;
SELECT * FROM audit_since(:mark);
-- The session's context is recorded.
SELECT count(*) AS rows, bool_and(db_user = session_user) AS db_user_is_session_user,
	   bool_and(application_name = current_setting('application_name')) AS application_name_recorded,
	   bool_and(length(row_hash) = 32) AS hashed
  FROM feature_x.audit_log WHERE id > :mark;
-- Nothing secret anywhere in the log.
SELECT count(*) AS leaks FROM feature_x.audit_log l
 WHERE l::text LIKE '%secret-%';

-- ---------------------------------------------------------------------
-- Every type family, NULLs, TOASTed values, generated and dropped columns.
-- ---------------------------------------------------------------------
CREATE TYPE audit_mood AS ENUM ('sad', 'happy');
CREATE TYPE audit_pair AS (a int, b text);
CREATE DOMAIN audit_positive AS numeric CHECK (VALUE > 0);
CREATE TABLE audit_types (
	id int PRIMARY KEY,
	gone text,
	i2 smallint, i8 bigint, f4 real, f8 double precision, num numeric,
	pos audit_positive,
	t text, vc varchar(10), ch char(3),
	js json, jb jsonb,
	arr int[], arr2 text[][],
	b bytea,
	d date, tm time, ts timestamp, tstz timestamptz, iv interval,
	mood audit_mood, pair audit_pair, flag boolean, u uuid,
	big text,
	doubled int GENERATED ALWAYS AS (i2 * 2) STORED
);
ALTER TABLE audit_types DROP COLUMN gone;
SELECT feature_x.enable_audit('audit_types');
SELECT coalesce(max(id), 0) AS mark FROM feature_x.audit_log \gset
INSERT INTO audit_types (id, i2, i8, f4, f8, num, pos, t, vc, ch, js, jb, arr, arr2, b,
						 d, tm, ts, tstz, iv, mood, pair, flag, u, big)
VALUES (1, 7, 9007199254740993, 1.5, 0.1, 123.4500, 2,
		E'line\n"quoted"', 'short', 'ab', '{"b": 1, "a": [true, null]}', '{"z": 1, "a": {"n": 1.50}}',
		'{1,NULL,3}', '{{a,b},{c,d}}', '\x00ff10',
		'2024-02-29', '13:45:10.5', '2024-02-29 13:45:10', '2024-02-29 13:45:10+02', '1 day 2 hours',
		'happy', ROW(1, 'x'), true, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
		repeat('toast me ', 5000)),
	   (2, NULL, NULL, 'NaN', '-Infinity', 'NaN', NULL, NULL, NULL, NULL, 'null', 'null',
		'{}', NULL, NULL, NULL, NULL, 'infinity', '-infinity', NULL,
		NULL, NULL, NULL, NULL, NULL);
SELECT row_key, jsonb_pretty(new_data - 'big') AS new_data,
	   length(new_data ->> 'big') AS big_length
  FROM feature_x.audit_log WHERE id > :mark ORDER BY id;
-- The TOASTed column unchanged is not logged; changed, it is logged whole.
SELECT coalesce(max(id), 0) AS mark FROM feature_x.audit_log \gset
UPDATE audit_types SET i2 = 8 WHERE id = 1;
UPDATE audit_types SET big = big || '!' WHERE id = 1;
SELECT row_key, old_data - 'big' AS old_data, new_data - 'big' AS new_data,
	   length(old_data ->> 'big') AS old_big, length(new_data ->> 'big') AS new_big
  FROM feature_x.audit_log WHERE id > :mark ORDER BY id;

-- ---------------------------------------------------------------------
-- The row key: primary key, else replica identity index, else whole row.
-- ---------------------------------------------------------------------
CREATE TABLE audit_nopk (a int, b text, secret text);
CREATE TABLE audit_ri (a int NOT NULL, b text, c int);
CREATE UNIQUE INDEX audit_ri_a ON audit_ri (a);
ALTER TABLE audit_ri REPLICA IDENTITY USING INDEX audit_ri_a;
SELECT feature_x.enable_audit('audit_nopk', '{secret}'), feature_x.enable_audit('audit_ri');
SELECT table_name, exclude_columns, row_key FROM feature_x.audited_tables ORDER BY table_name::text;
SELECT coalesce(max(id), 0) AS mark FROM feature_x.audit_log \gset
INSERT INTO audit_nopk VALUES (1, 'x', 's'), (1, 'x', 's');
UPDATE audit_nopk SET b = 'y';
INSERT INTO audit_ri VALUES (1, 'one', 1);
UPDATE audit_ri SET c = 2;
DELETE FROM audit_ri;
SELECT * FROM audit_since(:mark);

-- INSERT ... ON CONFLICT, MERGE and COPY: one entry per row, grouped by
-- event within the statement.
SELECT coalesce(max(id), 0) AS mark FROM feature_x.audit_log \gset
INSERT INTO audit_ri VALUES (1, 'a', 1), (2, 'b', 2);
INSERT INTO audit_ri VALUES (2, 'B', 2), (3, 'c', 3)
	ON CONFLICT (a) DO UPDATE SET b = excluded.b;
MERGE INTO audit_ri USING (VALUES (1, 'x'), (3, NULL), (4, 'd')) AS s(a, b) ON audit_ri.a = s.a
	WHEN MATCHED AND s.b IS NULL THEN DELETE
	WHEN MATCHED THEN UPDATE SET b = s.b
	WHEN NOT MATCHED THEN INSERT VALUES (s.a, s.b);
COPY audit_ri FROM STDIN;
5	e	5
\.
SELECT action, row_key, old_data, new_data FROM audit_since(:mark);

-- ---------------------------------------------------------------------
-- enable_audit is idempotent; calling it again replaces the exclusions.
-- ---------------------------------------------------------------------
SELECT coalesce(max(id), 0) AS mark FROM feature_x.audit_log \gset
SELECT feature_x.enable_audit('audit_items', ARRAY['password']);
SELECT feature_x.enable_audit('audit_items', ARRAY['password', 'password']);
SELECT count(*) AS new_entries FROM feature_x.audit_log WHERE id > :mark;
SELECT feature_x.enable_audit('audit_items', ARRAY['price', 'password']);
SELECT feature_x.enable_audit('audit_items');
SELECT action, table_name, details FROM audit_since(:mark);
SELECT feature_x.enable_audit('audit_items', ARRAY['password']);
SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_items'::regclass ORDER BY 1;
-- A trigger disabled by hand shows as inactive; enabling again repairs it.
ALTER TABLE audit_items DISABLE TRIGGER feature_x_audit_update;
SELECT table_name, active FROM feature_x.audited_tables WHERE table_name = 'audit_items'::regclass;
SELECT feature_x.enable_audit('audit_items', ARRAY['password']);
SELECT table_name, active FROM feature_x.audited_tables WHERE table_name = 'audit_items'::regclass;

-- A renamed excluded column: changes are refused until the exclusions are
-- given again, so that the secret cannot reach the log under its new name.
ALTER TABLE audit_items RENAME COLUMN password TO passphrase;
INSERT INTO audit_items (name, passphrase) VALUES ('washer', 'secret-4');
SELECT feature_x.enable_audit('audit_items', ARRAY['passphrase']);
INSERT INTO audit_items (name, passphrase) VALUES ('washer', 'secret-4');
SELECT count(*) AS leaks FROM feature_x.audit_log l WHERE l::text LIKE '%secret-%';

-- ---------------------------------------------------------------------
-- row_history and row_as_of, across a change of the key itself.
-- ---------------------------------------------------------------------
CREATE TABLE audit_keys (code text PRIMARY KEY, label text, n int);
SELECT feature_x.enable_audit('audit_keys');
INSERT INTO audit_keys VALUES ('A', 'first', 1);
SELECT now() AS t1 \gset
UPDATE audit_keys SET n = 2 WHERE code = 'A';
SELECT now() AS t2 \gset
UPDATE audit_keys SET code = 'B', label = 'renamed' WHERE code = 'A';
SELECT now() AS t3 \gset
INSERT INTO audit_keys VALUES ('A', 'second A', 10);
DELETE FROM audit_keys WHERE code = 'B';
SELECT now() AS t4 \gset
SELECT action, row_key, old_data, new_data
  FROM feature_x.row_history('audit_keys', '{"code": "B"}');
SELECT action, row_key, old_data, new_data
  FROM feature_x.row_history('audit_keys', '{"code": "A"}');
SELECT feature_x.row_as_of('audit_keys', '{"code": "B"}', :'t1') AS b_at_t1,
	   feature_x.row_as_of('audit_keys', '{"code": "B"}', :'t2') AS b_at_t2,
	   feature_x.row_as_of('audit_keys', '{"code": "B"}', :'t3') AS b_at_t3,
	   feature_x.row_as_of('audit_keys', '{"code": "B"}', :'t4') AS b_at_t4;
SELECT feature_x.row_as_of('audit_keys', '{"code": "A"}', :'t1') AS a_at_t1,
	   feature_x.row_as_of('audit_keys', '{"code": "A"}', :'t4') AS a_at_t4;
-- A TRUNCATE ends the row's history.
TRUNCATE audit_keys;
SELECT action FROM feature_x.row_history('audit_keys', '{"code": "A"}');
SELECT feature_x.row_as_of('audit_keys', '{"code": "A"}', now()) AS a_now;
SELECT * FROM feature_x.row_history('audit_keys', '{"code": "nobody"}');

-- ---------------------------------------------------------------------
-- Privileges.
-- ---------------------------------------------------------------------
ALTER TABLE audit_items OWNER TO regress_fx_audit_owner;
GRANT INSERT, UPDATE, DELETE, SELECT ON audit_items TO regress_fx_audit_clerk;
GRANT USAGE ON SEQUENCE audit_items_id_seq TO regress_fx_audit_clerk;
CREATE TABLE audit_other (id int);
ALTER TABLE audit_other OWNER TO regress_fx_audit_clerk;
-- A user who may change the table, and has no right on the log, is logged.
SET ROLE regress_fx_audit_clerk;
SELECT coalesce(max(id), 0) AS mark FROM feature_x.audit_log;
INSERT INTO audit_items (name) VALUES ('clerk''s item');
SELECT feature_x.enable_audit('audit_items');
SELECT feature_x.disable_audit('audit_items');
SELECT * FROM feature_x.row_history('audit_items', '{"id": 1}');
SELECT count(*) FROM feature_x.audited_tables;
INSERT INTO feature_x.audit_log (id, logged_at, txid, db_user, action, row_hash)
VALUES (0, now(), '1', 'x', 'INSERT', '\x00');
-- Nobody attaches the audit trigger to a table by hand.
CREATE TRIGGER fake AFTER INSERT ON audit_other FOR EACH STATEMENT
	EXECUTE FUNCTION feature_x.audit_trigger();
DROP TABLE audit_other;
RESET ROLE;
SELECT db_user = 'regress_fx_audit_clerk' AS clerk_is_not_the_session_user,
	   db_user = session_user AS db_user_is_session_user, action, new_data ->> 'name' AS name
  FROM feature_x.audit_log WHERE table_name = 'public.audit_items' ORDER BY id DESC LIMIT 1;
-- The auditor reads the log, the list of audited tables and histories.
SET ROLE regress_fx_audit_reader;
SELECT count(*) > 0 AS reads_log FROM feature_x.audit_log;
SELECT count(*) AS audited FROM feature_x.audited_tables;
SELECT count(*) AS history FROM feature_x.row_history('audit_items', '{"id": 1}');
SELECT feature_x.enable_audit('audit_items');
RESET ROLE;
-- The owner manages auditing of the table.
SET ROLE regress_fx_audit_owner;
SELECT feature_x.enable_audit('audit_items', ARRAY['passphrase', 'price']);
RESET ROLE;
SELECT exclude_columns FROM feature_x.audited_tables WHERE table_name = 'audit_items'::regclass;
-- Nothing of the audit log is usable by PUBLIC (the clerk holds no grant);
-- table owners call enable_audit/disable_audit, checked inside.
SELECT p.oid::regprocedure AS function,
	   has_function_privilege('regress_fx_audit_clerk', p.oid, 'EXECUTE') AS public,
	   has_function_privilege('feature_x_auditor', p.oid, 'EXECUTE') AS auditor
  FROM pg_proc p
 WHERE p.pronamespace = 'feature_x'::regnamespace
   AND p.proname IN ('audit_trigger', 'row_history', 'row_as_of', 'enable_audit', 'disable_audit')
 ORDER BY p.oid::regprocedure::text;
SELECT c.relname,
	   has_table_privilege('regress_fx_audit_clerk', c.oid, 'SELECT') AS public_reads,
	   has_table_privilege('regress_fx_audit_clerk', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') AS public_writes,
	   has_table_privilege('feature_x_auditor', c.oid, 'SELECT') AS auditor_reads,
	   has_table_privilege('feature_x_auditor', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') AS auditor_writes
  FROM pg_class c
 WHERE c.oid IN ('feature_x.audit_log'::regclass, 'feature_x.audited_tables'::regclass)
 ORDER BY 1;
SELECT has_sequence_privilege('regress_fx_audit_clerk', 'feature_x.audit_log_id_seq',
							  'USAGE, SELECT, UPDATE') AS public_uses_sequence;

-- ---------------------------------------------------------------------
-- Errors, each with its SQLSTATE; a failing call changes nothing.
-- ---------------------------------------------------------------------
CREATE VIEW audit_view AS SELECT 1 AS x;
CREATE TABLE audit_part (id int, PRIMARY KEY (id)) PARTITION BY RANGE (id);
CREATE TABLE audit_part_1 PARTITION OF audit_part FOR VALUES FROM (1) TO (100);
SELECT feature_x.enable_audit(NULL);
SELECT feature_x.enable_audit('audit_view');
SELECT feature_x.enable_audit('audit_part');
SELECT feature_x.enable_audit('audit_part_1');
SELECT feature_x.enable_audit('pg_class');
SELECT feature_x.enable_audit('feature_x.migrations');
SELECT feature_x.enable_audit('audit_items', ARRAY['nope']);
SELECT feature_x.enable_audit('audit_items', ARRAY['ctid']);
SELECT feature_x.enable_audit('audit_items', ARRAY['id']);
SELECT feature_x.enable_audit('audit_ri', ARRAY['a']);
SELECT feature_x.enable_audit('audit_items', ARRAY[NULL]);
SELECT feature_x.disable_audit(NULL);
SELECT feature_x.disable_audit('audit_view');
SELECT feature_x.audit_trigger();
SELECT feature_x.row_history(NULL, '{}');
SELECT feature_x.row_as_of('audit_items', '{"id": 1}', NULL);

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
SELECT coalesce(max(id), 0) AS mark FROM feature_x.audit_log \gset
SELECT call, expected, pg_temp.sqlstate_of(call) AS actual
  FROM (VALUES
	('SELECT feature_x.enable_audit(NULL)', '22004'),
	('SELECT feature_x.enable_audit(''audit_view'')', '42809'),
	('SELECT feature_x.enable_audit(''audit_part'')', '0A000'),
	('SELECT feature_x.enable_audit(''audit_part_1'')', '0A000'),
	('SELECT feature_x.enable_audit(''pg_class'')', '42809'),
	('SELECT feature_x.enable_audit(''feature_x.migrations'')', '42809'),
	('SELECT feature_x.enable_audit(''audit_items'', ARRAY[''nope''])', '42703'),
	('SELECT feature_x.enable_audit(''audit_items'', ARRAY[''id''])', '22023'),
	('SELECT feature_x.enable_audit(''audit_items'', ARRAY[NULL])', '22004'),
	('SELECT feature_x.row_history(NULL, ''{}'')', '22004'),
	('SELECT feature_x.audit_trigger()', '39P01')
  ) AS t(call, expected);
SET ROLE regress_fx_audit_clerk;
SELECT pg_temp.sqlstate_of('SELECT feature_x.enable_audit(''audit_items'')') AS non_owner,
	   pg_temp.sqlstate_of('SELECT feature_x.row_history(''audit_items'', ''{}'')') AS no_execute;
RESET ROLE;
SELECT count(*) AS entries_from_failed_calls FROM feature_x.audit_log WHERE id > :mark;
SELECT table_name, exclude_columns FROM feature_x.audited_tables ORDER BY table_name::text;

-- ---------------------------------------------------------------------
-- disable_audit: the triggers go, the log stays.
-- ---------------------------------------------------------------------
SELECT coalesce(max(id), 0) AS mark FROM feature_x.audit_log \gset
SELECT feature_x.disable_audit('audit_nopk');
SELECT feature_x.disable_audit('audit_nopk');
INSERT INTO audit_nopk VALUES (2, 'unlogged', 's');
SELECT action, table_name, details FROM audit_since(:mark);
SELECT count(*) AS nopk_entries FROM feature_x.audit_log WHERE table_name = 'public.audit_nopk';
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid = 'audit_nopk'::regclass;

-- enable_audit/disable_audit create and drop their triggers as feature_x's
-- own DDL, which the DDL guard lets through even in mode error, unrecorded.
SET feature_x.ddl_guard = error;
SELECT count(*) AS ddl_log_before FROM feature_x.ddl_log \gset
SELECT feature_x.enable_audit('audit_nopk');
SELECT feature_x.disable_audit('audit_nopk');
SELECT count(*) - :ddl_log_before AS ddl_log_rows_added FROM feature_x.ddl_log;
RESET feature_x.ddl_guard;
