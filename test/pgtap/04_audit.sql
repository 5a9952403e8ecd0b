-- Audit log details: the row-change trigger per type family, keys,
-- exclusions, TRUNCATE, management, errors, privileges, row_history and
-- row_as_of, actor and session context.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SET client_min_messages = warning;
CREATE EXTENSION feature_x;
SELECT plan(66);

-- Entries written after the mark (the log may hold rows already when this
-- file runs on an upgraded database).
CREATE TEMP TABLE mark AS SELECT coalesce(max(id), 0) AS id FROM feature_x.audit_log;
CREATE FUNCTION pg_temp.entries() RETURNS SETOF feature_x.audit_log
LANGUAGE sql AS $$
	SELECT l.* FROM feature_x.audit_log l WHERE l.id > (SELECT id FROM mark) ORDER BY l.id
$$;
CREATE FUNCTION pg_temp.last_entry() RETURNS feature_x.audit_log
LANGUAGE sql AS $$
	SELECT l.* FROM feature_x.audit_log l ORDER BY l.id DESC LIMIT 1
$$;
CREATE FUNCTION pg_temp.remark() RETURNS void
LANGUAGE sql AS $$
	UPDATE mark SET id = (SELECT coalesce(max(id), 0) FROM feature_x.audit_log)
$$;

SELECT has_function('feature_x', 'enable_audit', ARRAY['regclass', 'text[]'], 'enable_audit exists');
SELECT has_function('feature_x', 'disable_audit', ARRAY['regclass'], 'disable_audit exists');
SELECT has_function('feature_x', 'row_history', ARRAY['regclass', 'jsonb'], 'row_history exists');
SELECT has_function('feature_x', 'row_as_of', ARRAY['regclass', 'jsonb', 'timestamp with time zone'], 'row_as_of exists');
SELECT has_view('feature_x', 'audited_tables', 'audited_tables exists');

-- ---------------------------------------------------------------------
-- Every type family.
-- ---------------------------------------------------------------------
CREATE TYPE pg_temp.mood AS ENUM ('sad', 'happy');
CREATE TABLE fx_types (
	id int PRIMARY KEY,
	n numeric, i4 int, i8 bigint, f8 double precision,
	t text, jb jsonb, arr text[], b bytea,
	tstz timestamptz, d date, flag boolean, nothing text,
	pair int4range, big text,
	gen int GENERATED ALWAYS AS (i4 + 1) STORED,
	dropped int
);
ALTER TABLE fx_types DROP COLUMN dropped;
SELECT feature_x.enable_audit('fx_types');
SELECT pg_temp.remark();
INSERT INTO fx_types (id, n, i4, i8, f8, t, jb, arr, b, tstz, d, flag, nothing, pair, big)
VALUES (1, 12.340, -5, 9223372036854775807, 2.5e-10, 'tab	"quote" é', '{"x": [1, {"y": null}]}',
		'{a,NULL,"c d"}', '\xdeadbeef', '2024-01-02 03:04:05.678+01', '2024-12-31', false,
		NULL, '[1,5)', repeat('x', 100000));
CREATE TEMP TABLE ins AS SELECT new_data AS d, row_key FROM pg_temp.entries();
SELECT is((SELECT count(*)::int FROM ins), 1, 'one entry for one inserted row');
SELECT is((SELECT d -> 'n' FROM ins), '12.340'::jsonb, 'numeric keeps its scale');
SELECT is((SELECT d -> 'i4' FROM ins), '-5'::jsonb, 'integer as a JSON number');
SELECT is((SELECT d -> 'i8' FROM ins), '9223372036854775807'::jsonb, 'bigint exactly');
SELECT is((SELECT (d ->> 'f8')::float8 FROM ins), 2.5e-10::float8, 'double precision round-trips');
SELECT is((SELECT d ->> 't' FROM ins), E'tab\t"quote" é', 'text with escapes');
SELECT is((SELECT d -> 'jb' FROM ins), '{"x": [1, {"y": null}]}'::jsonb, 'jsonb embedded');
SELECT is((SELECT d -> 'arr' FROM ins), '["a", null, "c d"]'::jsonb, 'array as a JSON array');
SELECT is((SELECT d ->> 'b' FROM ins), '\xdeadbeef', 'bytea as a hex string');
SELECT is((SELECT d ->> 'tstz' FROM ins), '2024-01-02T02:04:05.678+00:00', 'timestamptz in UTC ISO 8601');
SELECT is((SELECT (d ->> 'tstz')::timestamptz FROM ins), '2024-01-02 03:04:05.678+01'::timestamptz,
		  'the timestamp string reads back as the same instant');
SELECT is((SELECT d ->> 'd' FROM ins), '2024-12-31', 'date');
SELECT is((SELECT d -> 'flag' FROM ins), 'false'::jsonb, 'boolean');
SELECT is((SELECT d -> 'nothing' FROM ins), 'null'::jsonb, 'NULL as JSON null');
SELECT is((SELECT d ->> 'pair' FROM ins), '[1,5)', 'other types as their text output');
SELECT is((SELECT length(d ->> 'big') FROM ins), 100000, 'TOASTed value logged whole');
SELECT is((SELECT d -> 'gen' FROM ins), '-4'::jsonb, 'generated column logged');
SELECT is((SELECT array_agg(k ORDER BY k) FROM ins, jsonb_object_keys(d) k),
		  ARRAY['arr', 'b', 'big', 'd', 'f8', 'flag', 'gen', 'i4', 'i8', 'id', 'jb', 'n', 'nothing', 'pair', 't', 'tstz'],
		  'every live column logged, the dropped one not');
SELECT is((SELECT row_key FROM ins), '{"id": 1}'::jsonb, 'row_key is the primary key');
SELECT is((SELECT jsonb_populate_record(NULL::fx_types, d) FROM ins),
		  (SELECT r FROM fx_types r), 'the logged row populates the table''s row type exactly');

-- UPDATE: only changed columns; unchanged TOAST not fetched into the diff.
SELECT pg_temp.remark();
UPDATE fx_types SET i4 = 6, nothing = 'now set';
SELECT is((SELECT old_data FROM pg_temp.entries()), '{"i4": -5, "gen": -4, "nothing": null}'::jsonb,
		  'UPDATE old_data holds only the changed columns');
SELECT is((SELECT new_data FROM pg_temp.entries()), '{"i4": 6, "gen": 7, "nothing": "now set"}'::jsonb,
		  'UPDATE new_data holds their new values');
SELECT pg_temp.remark();
UPDATE fx_types SET t = t, big = big;
SELECT is((SELECT count(*)::int FROM pg_temp.entries()), 0, 'an UPDATE that changes nothing logs nothing');
DELETE FROM fx_types;
SELECT is((SELECT old_data ->> 'nothing' FROM pg_temp.entries()), 'now set', 'DELETE stores the old row');
SELECT is((SELECT new_data FROM pg_temp.entries()), NULL, 'DELETE has no new_data');
TRUNCATE fx_types;
SELECT results_eq('SELECT action, table_name, row_key FROM pg_temp.entries()',
				  $$VALUES ('DELETE', 'public.fx_types', '{"id": 1}'::jsonb),
						   ('TRUNCATE', 'public.fx_types', NULL)$$,
				  'DELETE then TRUNCATE logged');

-- Many rows in one statement: one entry each, in one transaction.
SELECT pg_temp.remark();
INSERT INTO fx_types (id, i4) SELECT g, g FROM generate_series(1, 2500) g;
SELECT is((SELECT count(*)::int FROM pg_temp.entries()), 2500, 'one entry per row of a bulk INSERT');
SELECT is((SELECT count(DISTINCT txid)::int FROM pg_temp.entries()), 1, 'all in one transaction');
SELECT is((SELECT min(txid)::text FROM pg_temp.entries()), pg_current_xact_id()::text, 'txid is the writing transaction');
SELECT ok((SELECT bool_and((row_key ->> 'id')::int = (new_data ->> 'id')::int) FROM pg_temp.entries()),
		  'every entry keyed by its own row');

-- A rolled back savepoint takes its entries with it.
SELECT pg_temp.remark();
SAVEPOINT s;
UPDATE fx_types SET i4 = 0;
ROLLBACK TO SAVEPOINT s;
SELECT is((SELECT count(*)::int FROM pg_temp.entries()), 0, 'entries of a rolled back savepoint are gone');

-- ---------------------------------------------------------------------
-- Keys and exclusions.
-- ---------------------------------------------------------------------
CREATE TABLE fx_nopk (a int, b text);
CREATE TABLE fx_ri (a int NOT NULL, b text, pw text);
CREATE UNIQUE INDEX fx_ri_a ON fx_ri (a);
ALTER TABLE fx_ri REPLICA IDENTITY USING INDEX fx_ri_a;
SELECT feature_x.enable_audit('fx_nopk');
SELECT feature_x.enable_audit('fx_ri', ARRAY['pw']);
SELECT pg_temp.remark();
INSERT INTO fx_nopk VALUES (1, 'x');
UPDATE fx_nopk SET b = 'y';
SELECT is((SELECT row_key FROM pg_temp.last_entry()), '{"a": 1, "b": "x"}'::jsonb,
		  'without a key the whole (old) row is the row_key');
INSERT INTO fx_ri VALUES (7, 'seven', 'hunter2');
SELECT is((SELECT row_key FROM pg_temp.last_entry()), '{"a": 7}'::jsonb, 'replica identity index is the row_key');
SELECT is((SELECT new_data FROM pg_temp.last_entry()), '{"a": 7, "b": "seven"}'::jsonb, 'excluded column not logged');
UPDATE fx_ri SET pw = 'hunter3';
SELECT is((SELECT details FROM pg_temp.last_entry()), '{"excluded_changed": ["pw"]}'::jsonb,
		  'a change of an excluded column is recorded without its value');
DELETE FROM fx_ri;
SELECT ok((SELECT NOT old_data ? 'pw' FROM pg_temp.last_entry()), 'excluded column absent from DELETE');
SELECT is((SELECT count(*)::int FROM pg_temp.entries() e WHERE e::text LIKE '%hunter%'),
		  0, 'no excluded value anywhere in the log');

-- The objects are built already in jsonb's key order: they equal their
-- own text round trip (unsorted keys would not).
SELECT ok((SELECT bool_and(row_key IS NOT DISTINCT FROM row_key::text::jsonb
						   AND old_data IS NOT DISTINCT FROM old_data::text::jsonb
						   AND new_data IS NOT DISTINCT FROM new_data::text::jsonb)
			 FROM feature_x.audit_log l
			WHERE l.id > (SELECT min(id) FROM feature_x.audit_log WHERE table_name = 'public.fx_types')),
		  'logged objects are valid jsonb with sorted keys');

-- ---------------------------------------------------------------------
-- Management.
-- ---------------------------------------------------------------------
SELECT pg_temp.remark();
SELECT feature_x.enable_audit('fx_ri', ARRAY['pw']);
SELECT is((SELECT count(*)::int FROM pg_temp.entries()), 0, 're-enabling with the same exclusions changes nothing');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'fx_ri'::regclass), 4, 'four audit triggers');
SELECT feature_x.enable_audit('fx_ri', '{}');
SELECT is((SELECT exclude_columns FROM feature_x.audited_tables WHERE table_name = 'fx_ri'::regclass),
		  '{}'::text[], 're-enabling replaces the exclusions');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'fx_ri'::regclass), 4, 'still four audit triggers');
SELECT is((SELECT action FROM pg_temp.last_entry()), 'ENABLE_AUDIT', 'the change of exclusions is logged');
SELECT feature_x.disable_audit('fx_nopk');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'fx_nopk'::regclass), 0, 'disable_audit drops the triggers');
SELECT pg_temp.remark();
INSERT INTO fx_nopk VALUES (2, 'z');
SELECT is((SELECT count(*)::int FROM pg_temp.entries()), 0, 'a disabled table is not logged');
SELECT ok(NOT EXISTS (SELECT FROM feature_x.audited_tables WHERE table_name = 'fx_nopk'::regclass),
		  'a disabled table is not listed');

-- Errors.
CREATE VIEW fx_view AS SELECT 1 AS x;
CREATE TABLE fx_part (id int) PARTITION BY LIST (id);
SELECT throws_ok($$SELECT feature_x.enable_audit('fx_view')$$, '42809', NULL, 'a view cannot be audited');
SELECT throws_ok($$SELECT feature_x.enable_audit('fx_part')$$, '0A000', NULL, 'a partitioned table is refused');
SELECT throws_ok($$SELECT feature_x.enable_audit('fx_ri', ARRAY['nope'])$$, '42703', NULL, 'unknown excluded column');
SELECT throws_ok($$SELECT feature_x.enable_audit('fx_ri', ARRAY['a'])$$, '22023', NULL, 'key column cannot be excluded');
SELECT throws_ok($$SELECT feature_x.enable_audit('feature_x.audit_log')$$, '42809', NULL, 'feature_x''s own tables are refused');
SELECT throws_ok($$SELECT feature_x.enable_audit(NULL)$$, '22004', NULL, 'NULL target');
CREATE ROLE fx_pgtap_stranger;
GRANT ALL ON fx_ri TO fx_pgtap_stranger;
SET LOCAL ROLE fx_pgtap_stranger;
SELECT throws_ok($$SELECT feature_x.enable_audit('fx_ri')$$, '42501', NULL, 'only the owner enables auditing');
SELECT throws_ok($$SELECT feature_x.disable_audit('fx_ri')$$, '42501', NULL, 'only the owner disables auditing');
SELECT throws_ok($$SELECT count(*) FROM feature_x.audit_log$$, '42501', NULL, 'PUBLIC cannot read the log');
-- ...but its changes to the audited table are logged all the same.
INSERT INTO fx_ri VALUES (8, 'by stranger', NULL);
RESET ROLE;
SELECT is((SELECT new_data ->> 'b' FROM pg_temp.last_entry()), 'by stranger',
		  'changes by a user without rights on the log are logged');

-- ---------------------------------------------------------------------
-- Actor and session context.
-- ---------------------------------------------------------------------
SELECT feature_x.set_actor('carol');
UPDATE fx_ri SET b = 'by carol' WHERE a = 8;
SELECT is((SELECT actor FROM pg_temp.last_entry()), 'carol', 'the actor set by set_actor is recorded');
SELECT is((SELECT db_user FROM pg_temp.last_entry()), session_user::text, 'db_user is the session user');
SELECT feature_x.set_actor(NULL);

-- ---------------------------------------------------------------------
-- row_history / row_as_of (logged_at is the statement's start time, after
-- now(), the start of this file's transaction).
-- ---------------------------------------------------------------------
SELECT pg_temp.remark();
CREATE TABLE fx_hist (k text PRIMARY KEY, v int);
SELECT feature_x.enable_audit('fx_hist');
INSERT INTO fx_hist VALUES ('a', 1);
UPDATE fx_hist SET v = 2;
UPDATE fx_hist SET k = 'b';
SELECT results_eq($$SELECT action, row_key FROM feature_x.row_history('fx_hist', '{"k": "b"}')$$,
				  $$VALUES ('INSERT', '{"k": "a"}'::jsonb), ('UPDATE', '{"k": "a"}'::jsonb),
						   ('UPDATE', '{"k": "a"}'::jsonb)$$,
				  'row_history follows the key change back to the INSERT');
SELECT is(feature_x.row_as_of('fx_hist', '{"k": "b"}', clock_timestamp()), '{"k": "b", "v": 2}'::jsonb,
		  'row_as_of now is the current row');
SELECT is(feature_x.row_as_of('fx_hist', '{"k": "b"}', now()), NULL,
		  'row_as_of at the start of the transaction, before the INSERT, is NULL');

SELECT * FROM finish();
ROLLBACK;
