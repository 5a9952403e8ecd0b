-- fill_audit_chain.sql: representative data for feature_x.audit_log and
-- feature_x.audit_seals, written only through the public functions
-- (log_event, seal_audit_log, purge_audit_log), each checked.  Run by
-- upgrade.sh (psql -v ON_ERROR_STOP=1) with -v sfx=TAG, a suffix of the
-- events it logs, wherever log_event() exists.
--
-- Leaves: a first sealed segment that is purged (so the chain starts from a
-- purge anchor), application events plain and durable, a sealed segment
-- after the purge, and an unsealed tail; verify_audit_log() ok throughout.
-- Every call runs in its own transaction (a durable event's worker must see
-- committed data).

\set QUIET on
CREATE FUNCTION pg_temp.fill_assert(ok boolean, message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF ok IS NOT TRUE THEN
		RAISE EXCEPTION 'fill_audit_chain.sql: %', message;
	END IF;
END
$$;

SELECT 'fill_' || :'sfx' AS ev \gset
SELECT feature_x.log_event(:'ev' || '_old_' || g, 'user:' || g) FROM generate_series(1, 3) g;
SELECT pg_temp.fill_assert(feature_x.seal_audit_log() >= 3, 'seal_audit_log() sealed the old events');
SELECT clock_timestamp() AS cutoff \gset
SELECT feature_x.log_event(:'ev' || '_login', 'user:1', '{"ok": true}') AS plain_id \gset
BEGIN;
SELECT feature_x.log_event(:'ev' || '_login_failed', 'user:2', '{"ok": false}', true) AS durable_id \gset
ROLLBACK;
SELECT pg_temp.fill_assert(
	(SELECT count(*) FROM feature_x.audit_log WHERE id IN (:plain_id, :durable_id)) = 2,
	'the plain event and the durable event (whose transaction rolled back) are logged');
SELECT pg_temp.fill_assert(feature_x.purge_audit_log(:'cutoff') >= 3,
	'purge_audit_log() removed the old sealed segment');
SELECT pg_temp.fill_assert(NOT EXISTS (SELECT FROM feature_x.audit_log WHERE action LIKE :'ev' || '\_old\_%'),
	'no purged event is left');
SELECT pg_temp.fill_assert(feature_x.seal_audit_log() >= 1, 'seal_audit_log() sealed the purge event');
SELECT feature_x.log_event(:'ev' || '_tail', 'user:3');
SELECT pg_temp.fill_assert((SELECT ok FROM feature_x.verify_audit_log()), 'verify_audit_log() is ok');
SELECT pg_temp.fill_assert(EXISTS (SELECT FROM feature_x.audit_seals), 'seals are left');
