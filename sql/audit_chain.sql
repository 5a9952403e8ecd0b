-- Audit log: log_event, durable events, append-only, seals, verify and purge.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feature_x CASCADE;
DROP ROLE IF EXISTS fx_chain_app;
DROP ROLE IF EXISTS fx_chain_auditor;
CREATE EXTENSION feature_x;
CREATE ROLE fx_chain_app;
CREATE ROLE fx_chain_auditor IN ROLE feature_x_auditor;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- SQLSTATE of a statement, or ok.
CREATE FUNCTION pg_temp.sqlstate_of(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;

-- log_event() writes in the caller's transaction: a rollback takes it back.
SELECT feature_x.log_event('login', 'user:1', '{"ok": true}');
BEGIN;
SELECT feature_x.log_event('rolled_back');
ROLLBACK;
SELECT feature_x.log_event('no_details', NULL, NULL);
BEGIN;
SELECT feature_x.set_actor('alice');
SELECT feature_x.log_event('with_actor', 'doc:7');
COMMIT;
SELECT id, action, table_name, details, actor, db_user = session_user AS session_user,
	   length(row_hash) AS hash_bytes
  FROM feature_x.audit_log ORDER BY id;

-- Bad input: each fails with its SQLSTATE and writes nothing (the one
-- success is the longest action allowed, 128 multibyte characters).
SELECT feature_x.log_event(NULL);
SELECT feature_x.log_event('  ');
SELECT feature_x.log_event(repeat('x', 129));
SELECT feature_x.log_event(E'two\nlines');
SELECT feature_x.log_event('DELETE');
SELECT feature_x.log_event('feature_x.audit_purged');
SELECT feature_x.log_event('x', repeat('t', 1025));
SELECT feature_x.log_event('x', NULL, '[1, 2]');
SELECT feature_x.log_event('x', NULL, '{}', NULL);
SELECT s AS statement, pg_temp.sqlstate_of(s) AS sqlstate
  FROM unnest(ARRAY[
	'SELECT feature_x.log_event(NULL)',
	'SELECT feature_x.log_event('''')',
	'SELECT feature_x.log_event(repeat(''x'', 129))',
	'SELECT feature_x.log_event(repeat(''é'', 128))',
	'SELECT feature_x.log_event(''insert'')',
	'SELECT feature_x.log_event(''Feature_X.migration_failed'')',
	'SELECT feature_x.log_event(''x'', NULL, ''"scalar"'')',
	'SELECT feature_x.log_event(''x'', NULL, jsonb_build_object(''big'', repeat(''y'', 1100000)))',
	'SELECT feature_x.log_event(''x'', NULL, ''{}'', NULL)',
	'SELECT feature_x.purge_audit_log(NULL)',
	'SELECT feature_x.purge_audit_log(''infinity'')']) AS s;
SELECT count(*) AS rows_after_bad_input, max(length(action)) AS longest
  FROM feature_x.audit_log;

-- Read-only transactions: no writing, no sealing; verifying works.
BEGIN READ ONLY;
SELECT feature_x.log_event('x');
ROLLBACK;
BEGIN READ ONLY;
SELECT feature_x.log_event('x', durable => true);
ROLLBACK;
BEGIN READ ONLY;
SELECT feature_x.seal_audit_log();
ROLLBACK;
BEGIN READ ONLY;
SELECT * FROM feature_x.verify_audit_log();
SELECT count(*) AS seals_made_read_only FROM feature_x.audit_seals;
ROLLBACK;

-- Durable events survive the caller's ROLLBACK and error; plain ones do not.
BEGIN;
SELECT feature_x.log_event('durable_rolled_back', 'user:2', '{"reason": "bad password"}', true);
SELECT feature_x.log_event('plain_rolled_back');
ROLLBACK;
BEGIN;
SELECT feature_x.log_event('durable_before_error', NULL, '{}', durable => true);
SELECT 1 / 0;
ROLLBACK;
BEGIN;
SELECT feature_x.set_actor('bob');
SELECT feature_x.log_event('durable_with_actor', NULL, '{}', true);
ROLLBACK;
-- The worker would wait for a caller that locks the log against writers.
BEGIN;
LOCK feature_x.audit_log IN SHARE MODE;
SELECT feature_x.log_event('durable_locked', NULL, '{}', true);
ROLLBACK;
SELECT id, action, table_name, details, actor, db_user = session_user AS session_user
  FROM feature_x.audit_log WHERE action LIKE '%rolled_back' OR action LIKE 'durable%'
 ORDER BY id;

-- A failing migration rolls back, and is recorded durably.
SELECT feature_x.register_migration('20240101_bad', 'bad',
	'CREATE TABLE chain_never (id int); SELECT 1 / 0;') IS NOT NULL AS registered;
SELECT * FROM feature_x.migrate();
SELECT to_regclass('chain_never') IS NULL AS rolled_back,
	   (SELECT state FROM feature_x.migration_status() WHERE version = '20240101_bad') AS state;
SELECT action, table_name, details
  FROM feature_x.audit_log WHERE action = 'feature_x.migration_failed';

-- Append-only, for the owner (a superuser) too.
UPDATE feature_x.audit_log SET actor = 'mallory';
DELETE FROM feature_x.audit_log WHERE id = 1;
TRUNCATE feature_x.audit_log;
INSERT INTO feature_x.audit_log
SELECT id + 1000, logged_at, txid, actor, db_user, application_name, client_addr,
	   action, table_name, row_key, old_data, new_data, details, row_hash
  FROM feature_x.audit_log WHERE id = 1;
SET session_replication_role = replica;
UPDATE feature_x.audit_log SET actor = 'mallory';
RESET session_replication_role;

-- Sealing: everything so far, then nothing new.
SELECT feature_x.seal_audit_log() AS sealed;
SELECT feature_x.seal_audit_log() AS sealed_again;
SELECT feature_x.log_event('after_seal_1'), feature_x.log_event('after_seal_2');
SELECT seal_id, first_id, last_id, row_count, prev_hash = '\x'::bytea || decode(repeat('00', 32), 'hex') AS genesis,
	   length(chain_hash) AS hash_bytes
  FROM feature_x.audit_seals ORDER BY seal_id;
UPDATE feature_x.audit_seals SET row_count = 0;
DELETE FROM feature_x.audit_seals;
TRUNCATE feature_x.audit_seals;

-- verify_audit_log() seals the tail first, then checks everything.
SELECT * FROM feature_x.verify_audit_log();
SELECT seal_id, first_id, last_id, row_count FROM feature_x.audit_seals ORDER BY seal_id;

-- A superuser who disables the triggers: every change is found.
BEGIN;
ALTER TABLE feature_x.audit_log DISABLE TRIGGER USER;
UPDATE feature_x.audit_log SET details = '{"ok": false}' WHERE action = 'login';
SELECT * FROM feature_x.verify_audit_log();
ROLLBACK;
BEGIN;
ALTER TABLE feature_x.audit_log DISABLE TRIGGER USER;
UPDATE feature_x.audit_log a SET row_hash = b.row_hash
  FROM feature_x.audit_log b WHERE a.action = 'with_actor' AND b.action = 'login';
SELECT * FROM feature_x.verify_audit_log();
ROLLBACK;
BEGIN;
ALTER TABLE feature_x.audit_log DISABLE TRIGGER USER;
DELETE FROM feature_x.audit_log WHERE action = 'after_seal_1';
SELECT * FROM feature_x.verify_audit_log();
ROLLBACK;
BEGIN;
ALTER TABLE feature_x.audit_seals DISABLE TRIGGER USER;
DELETE FROM feature_x.audit_seals WHERE seal_id = 1;
SELECT * FROM feature_x.verify_audit_log();
ROLLBACK;
BEGIN;
ALTER TABLE feature_x.audit_seals DISABLE TRIGGER USER;
UPDATE feature_x.audit_seals SET row_count = row_count - 1 WHERE seal_id = 2;
SELECT * FROM feature_x.verify_audit_log();
ROLLBACK;

-- A genuine row, made in a transaction that rolled back, passes the INSERT
-- check (its row_hash matches) but lies in a sealed gap: the seal finds it.
BEGIN;
SELECT feature_x.log_event('ghost') AS ghost_id \gset
SELECT a::text AS ghost_row FROM feature_x.audit_log a WHERE id = :ghost_id \gset
ROLLBACK;
SELECT feature_x.seal_audit_log() AS sealed_past_the_gap;
BEGIN;
INSERT INTO feature_x.audit_log SELECT (:'ghost_row'::feature_x.audit_log).*;
SELECT ok, checked, first_bad_id, reason FROM feature_x.verify_audit_log();
ROLLBACK;
SELECT * FROM feature_x.verify_audit_log();

-- Purge: whole sealed segments older than the cutoff go; the purge is itself
-- audited and anchors the chain, so the rest still verifies.
SELECT feature_x.purge_audit_log(now() - interval '1 day') AS purged_nothing;
SELECT feature_x.purge_audit_log(clock_timestamp() + interval '1 hour') AS purged;
SELECT action, details->>'rows_deleted' AS rows_deleted, details->>'seals_deleted' AS seals_deleted,
	   details->>'next_seal_id' AS next_seal_id, length(details->>'anchor_hash') AS anchor_hex
  FROM feature_x.audit_log ORDER BY id;
SELECT count(*) AS seals_left FROM feature_x.audit_seals;
SELECT * FROM feature_x.verify_audit_log();
SELECT feature_x.log_event('after_purge') > 0 AS logged;
SELECT * FROM feature_x.verify_audit_log();
SELECT seal_id, row_count FROM feature_x.audit_seals ORDER BY seal_id;
-- A forged anchor (the purge event rewritten) is found.
BEGIN;
ALTER TABLE feature_x.audit_log DISABLE TRIGGER USER;
UPDATE feature_x.audit_log SET details = details || '{"next_seal_id": 1}'
 WHERE action = 'feature_x.audit_purged';
SELECT ok, reason FROM feature_x.verify_audit_log();
ROLLBACK;
BEGIN;
ALTER TABLE feature_x.audit_log DISABLE TRIGGER USER;
UPDATE feature_x.audit_log SET details = details || '{"anchor_hash": "not a hash"}'
 WHERE action = 'feature_x.audit_purged';
SELECT ok, reason FROM feature_x.verify_audit_log();
ROLLBACK;
SELECT feature_x.purge_audit_log(clock_timestamp() + interval '1 hour') AS purged_again;
SELECT * FROM feature_x.verify_audit_log();

-- Privileges.
SELECT p.proname, has_function_privilege('fx_chain_app', p.oid, 'EXECUTE') AS app,
	   has_function_privilege('fx_chain_auditor', p.oid, 'EXECUTE') AS auditor
  FROM pg_proc p
 WHERE p.pronamespace = 'feature_x'::regnamespace
   AND p.proname IN ('log_event', 'seal_audit_log', 'verify_audit_log', 'purge_audit_log', 'audit_guard')
 ORDER BY 1;
SELECT t, has_table_privilege('fx_chain_auditor', t, 'SELECT') AS auditor_select,
	   has_table_privilege('fx_chain_auditor', t, 'INSERT, UPDATE, DELETE, TRUNCATE') AS auditor_write,
	   has_table_privilege('fx_chain_app', t, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE') AS app_any
  FROM unnest(ARRAY['feature_x.audit_log', 'feature_x.audit_seals']) AS t;
SET ROLE fx_chain_app;
SELECT feature_x.log_event('app_event') > 0 AS app_logged;
SELECT * FROM feature_x.verify_audit_log();
SELECT feature_x.purge_audit_log(now());
RESET ROLE;
SELECT db_user = session_user AS records_session_user FROM feature_x.audit_log WHERE action = 'app_event';
SET ROLE fx_chain_auditor;
SELECT ok FROM feature_x.verify_audit_log();
SELECT feature_x.seal_audit_log() >= 0 AS auditor_sealed;
SELECT feature_x.purge_audit_log(now());
RESET ROLE;

DROP EXTENSION feature_x;
DROP ROLE fx_chain_app;
DROP ROLE fx_chain_auditor;
