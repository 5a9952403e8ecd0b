-- audit_replay.sql: audit_replay_diff(target), for the scripted tests that
-- check an audited table against its log (crash.sh, soak.sh).  Loaded with
-- psql -f into the test's database; never run on its own.
--
-- Counts the rows on which target and the replay of its audit log disagree:
-- per key, the latest INSERT's row updated by the changed columns of every
-- later UPDATE, absent when a DELETE follows.
CREATE FUNCTION audit_replay_diff(target regclass) RETURNS bigint
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
	logged_name text;
	diff bigint;
BEGIN
	SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) INTO logged_name
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.oid = target;
	EXECUTE format($q$
	WITH e AS (
		SELECT id, action, row_key, new_data FROM feature_x.audit_log
		 WHERE table_name = %L AND action IN ('INSERT', 'UPDATE', 'DELETE')
	), keys AS (
		SELECT row_key, max(id) FILTER (WHERE action = 'INSERT') AS since,
		       max(id) FILTER (WHERE action = 'DELETE') AS gone
		  FROM e GROUP BY row_key
	), live AS (
		SELECT row_key, since FROM keys WHERE since > coalesce(gone, 0)
	), cols AS (
		SELECT DISTINCT ON (l.row_key, c.key) l.row_key, c.key, c.value
		  FROM live l JOIN e ON e.row_key = l.row_key AND e.id >= l.since
		 CROSS JOIN jsonb_each(e.new_data) c
		 ORDER BY l.row_key, c.key, e.id DESC
	), replayed AS (
		SELECT jsonb_object_agg(key, value) AS r FROM cols GROUP BY row_key
	)
	SELECT count(*) FROM ((SELECT r FROM replayed EXCEPT ALL SELECT to_jsonb(t) FROM %s t)
		UNION ALL (SELECT to_jsonb(t) FROM %s t EXCEPT ALL SELECT r FROM replayed)) d
	$q$, logged_name, target, target) INTO diff;
	RETURN diff;
END
$fn$;
