/* feature_x 1.2 -> 1.3: the audit log (issue 4). */
\echo Use "ALTER EXTENSION feature_x UPDATE TO '1.3'" to load this file. \quit

-- ===================================================================
-- Section: the log table (shared contract; change only by agreement)
-- ===================================================================

-- One row per audited change or application event.  Rows are only ever
-- written by feature_x's C code (src/audit/), which assigns id from the
-- sequence and computes row_hash; see src/audit/audit.h.
CREATE SEQUENCE feature_x.audit_log_id_seq AS bigint;

CREATE TABLE feature_x.audit_log (
	id bigint PRIMARY KEY,
	logged_at timestamptz NOT NULL,
	txid xid8 NOT NULL,
	actor text,
	db_user text NOT NULL,
	application_name text,
	client_addr inet,
	action text NOT NULL,
	table_name text,
	row_key jsonb,
	old_data jsonb,
	new_data jsonb,
	details jsonb,
	row_hash bytea NOT NULL
);
ALTER SEQUENCE feature_x.audit_log_id_seq OWNED BY feature_x.audit_log.id;

SELECT pg_catalog.pg_extension_config_dump('feature_x.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('feature_x.audit_log_id_seq', '');

-- ===================================================================
-- Section A1: row-change trigger, enable/disable_audit, audited_tables,
-- row_history, row_as_of
-- ===================================================================

-- Who may read the audit log.  Cluster-wide, so it may exist already.
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles
				   WHERE rolname = 'feature_x_auditor') THEN
		CREATE ROLE feature_x_auditor NOLOGIN;
	END IF;
END
$$;

REVOKE ALL ON feature_x.audit_log FROM PUBLIC;
GRANT SELECT ON feature_x.audit_log TO feature_x_auditor;

-- The row-change trigger.  Attached only by enable_audit() (as the owner of
-- feature_x's tables), hence not executable by PUBLIC; triggers fire
-- whatever the privileges of the user changing the table.
CREATE FUNCTION feature_x.audit_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'fx_audit_trigger'
LANGUAGE C;
COMMENT ON FUNCTION feature_x.audit_trigger() IS
	'Row-change trigger of audited tables; attached by feature_x.enable_audit().';
REVOKE ALL ON FUNCTION feature_x.audit_trigger() FROM PUBLIC;

-- Not STRICT: a NULL target is an error, NULL exclude_columns means none.
CREATE FUNCTION feature_x.enable_audit(target regclass, exclude_columns text[] DEFAULT '{}')
RETURNS void
AS 'MODULE_PATHNAME', 'fx_enable_audit'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION feature_x.enable_audit(regclass, text[]) IS
	'Starts auditing a table the caller owns (idempotent; calling again replaces the excluded columns).';

CREATE FUNCTION feature_x.disable_audit(target regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'fx_disable_audit'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION feature_x.disable_audit(regclass) IS
	'Stops auditing a table the caller owns; the log keeps its rows.';

-- The audit triggers are the only record of what is audited: they are
-- dumped with their tables and follow renames.  Their argument is the
-- excluded column names as a text[] literal (tgargs ends with a NUL).
CREATE VIEW feature_x.audited_tables AS
SELECT t.tgrelid::pg_catalog.regclass AS table_name,
	   CASE WHEN t.tgnargs = 1
			THEN pg_catalog.convert_from(
					pg_catalog.substring(t.tgargs, 1, pg_catalog.length(t.tgargs) - 1),
					pg_catalog.current_setting('server_encoding'))::text[]
			ELSE '{}'::text[]
	   END AS exclude_columns,
	   CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_index i
						  WHERE i.indrelid = t.tgrelid AND i.indisprimary)
			THEN 'primary key'
			WHEN c.relreplident = 'i'
				 AND EXISTS (SELECT FROM pg_catalog.pg_index i
							  WHERE i.indrelid = t.tgrelid AND i.indisreplident)
			THEN 'replica identity index'
			ELSE 'whole row'
	   END AS row_key,
	   (SELECT pg_catalog.count(*) FROM pg_catalog.pg_trigger a
		 WHERE a.tgrelid = t.tgrelid AND a.tgfoid = t.tgfoid
		   AND a.tgenabled <> 'D') = 4 AS active
  FROM pg_catalog.pg_trigger t
  JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
 WHERE t.tgfoid = 'feature_x.audit_trigger()'::pg_catalog.regprocedure
   AND t.tgname = 'feature_x_audit_insert';
COMMENT ON VIEW feature_x.audited_tables IS
	'Audited tables, their excluded columns, what identifies their rows in the log, and whether all four audit triggers are enabled.';
REVOKE ALL ON feature_x.audited_tables FROM PUBLIC;
GRANT SELECT ON feature_x.audited_tables TO feature_x_auditor;

-- The history of one row, oldest first.  Walks the table's log from the
-- newest entry back: an UPDATE whose new key (row_key overlaid with the key
-- columns in new_data) is the key followed continues the history under its
-- old key; it starts at the row's INSERT (or the oldest entry) and ends at
-- its DELETE or at the TRUNCATE that removed it.  row_key is the key the row
-- has now, or had last if it is gone.
CREATE FUNCTION feature_x.row_history(target regclass, row_key jsonb)
RETURNS SETOF feature_x.audit_log
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	wanted jsonb := $2;
	qualified text;
	entry record;
	new_key jsonb;
	ids bigint[] := '{}';
	truncated bigint;
	started boolean := false;
BEGIN
	IF $1 IS NULL OR $2 IS NULL THEN
		RAISE EXCEPTION 'target and row_key of feature_x.row_history() must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
	  INTO qualified
	  FROM pg_catalog.pg_class c
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.oid = $1;

	FOR entry IN
		SELECT l.id, l.action, l.row_key AS key, l.new_data
		  FROM feature_x.audit_log l
		 WHERE l.table_name = qualified
		   AND l.action IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')
		 ORDER BY l.id DESC
	LOOP
		IF entry.action = 'TRUNCATE' THEN
			EXIT WHEN started;
			truncated := entry.id;
			CONTINUE;
		END IF;
		IF entry.action = 'UPDATE' THEN
			new_key := entry.key || coalesce(
				(SELECT pg_catalog.jsonb_object_agg(j.key, j.value)
				   FROM pg_catalog.jsonb_each(entry.new_data) j
				  WHERE entry.key ? j.key), '{}');
			CONTINUE WHEN new_key IS DISTINCT FROM wanted;
		ELSE
			CONTINUE WHEN entry.key IS DISTINCT FROM wanted;
			-- An earlier row with this key, deleted before ours appeared.
			EXIT WHEN entry.action = 'DELETE' AND started;
		END IF;
		IF NOT started AND truncated IS NOT NULL AND entry.action <> 'DELETE' THEN
			ids := ids || truncated;
		END IF;
		started := true;
		ids := ids || entry.id;
		EXIT WHEN entry.action = 'INSERT';
		wanted := entry.key;
	END LOOP;

	RETURN QUERY
		SELECT l.* FROM feature_x.audit_log l WHERE l.id = ANY (ids) ORDER BY l.id;
END
$$;
COMMENT ON FUNCTION feature_x.row_history(regclass, jsonb) IS
	'Audit log entries of one row (by its current or last key), oldest first, following key changes.';

-- The row as it was at a time, replayed from row_history(): NULL if it did
-- not exist then.  Columns never logged (excluded, or unchanged before the
-- first logged INSERT) are absent.
CREATE FUNCTION feature_x.row_as_of(target regclass, row_key jsonb, at timestamptz)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	state jsonb;
	entry record;
BEGIN
	IF $3 IS NULL THEN
		RAISE EXCEPTION 'at of feature_x.row_as_of() must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	FOR entry IN
		SELECT h.action, h.row_key AS key, h.new_data
		  FROM feature_x.row_history($1, $2) h
		 WHERE h.logged_at <= $3
		 ORDER BY h.id
	LOOP
		IF entry.action = 'INSERT' THEN
			state := entry.new_data;
		ELSIF entry.action = 'UPDATE' THEN
			state := coalesce(state, entry.key) || entry.new_data;
		ELSE
			state := NULL;
		END IF;
	END LOOP;
	RETURN state;
END
$$;
COMMENT ON FUNCTION feature_x.row_as_of(regclass, jsonb, timestamptz) IS
	'The row (by its current or last key) as it was at a time, reconstructed from the audit log; NULL if it did not exist then.';

REVOKE ALL ON FUNCTION feature_x.row_history(regclass, jsonb),
	feature_x.row_as_of(regclass, jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION feature_x.row_history(regclass, jsonb),
	feature_x.row_as_of(regclass, jsonb, timestamptz) TO feature_x_auditor;


-- ===================================================================
-- Section A2: tamper evidence (seals, verify_audit_log, purge_audit_log),
-- log_event and durable events
-- ===================================================================

-- Sealed checkpoints over the row hashes (src/audit/chain.c).  Seal n covers
-- ids first_id .. last_id: row_count rows, chain_hash = SHA-256(prev_hash ||
-- each row_hash in id order), prev_hash = chain_hash of seal n - 1 (or of the
-- anchor a purge recorded; 32 zero bytes before seal 1).
CREATE TABLE feature_x.audit_seals (
	seal_id bigint PRIMARY KEY,
	first_id bigint NOT NULL,
	last_id bigint NOT NULL,
	row_count bigint NOT NULL,
	sealed_at timestamptz NOT NULL,
	prev_hash bytea NOT NULL,
	chain_hash bytea NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('feature_x.audit_seals', '');
REVOKE ALL ON feature_x.audit_seals FROM PUBLIC;
GRANT SELECT ON feature_x.audit_seals TO feature_x_auditor;

-- Append-only: refuses UPDATE, DELETE and TRUNCATE of the log and its seals
-- (except purge_audit_log()'s own deletes) and plain INSERTs into the log
-- whose row_hash does not match the row.  ENABLE ALWAYS: also under
-- session_replication_role = replica.
CREATE FUNCTION feature_x.audit_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'fx_audit_guard'
LANGUAGE C;
COMMENT ON FUNCTION feature_x.audit_guard() IS
	'Keeps feature_x.audit_log and feature_x.audit_seals append-only.';
REVOKE ALL ON FUNCTION feature_x.audit_guard() FROM PUBLIC;

CREATE TRIGGER audit_log_insert_check
	BEFORE INSERT ON feature_x.audit_log
	FOR EACH ROW EXECUTE FUNCTION feature_x.audit_guard();
CREATE TRIGGER audit_log_append_only
	BEFORE UPDATE OR DELETE OR TRUNCATE ON feature_x.audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION feature_x.audit_guard();
CREATE TRIGGER audit_seals_append_only
	BEFORE UPDATE OR DELETE OR TRUNCATE ON feature_x.audit_seals
	FOR EACH STATEMENT EXECUTE FUNCTION feature_x.audit_guard();
ALTER TABLE feature_x.audit_log ENABLE ALWAYS TRIGGER audit_log_insert_check;
ALTER TABLE feature_x.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
ALTER TABLE feature_x.audit_seals ENABLE ALWAYS TRIGGER audit_seals_append_only;

CREATE FUNCTION feature_x.seal_audit_log()
RETURNS bigint
AS 'MODULE_PATHNAME', 'fx_seal_audit_log'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION feature_x.seal_audit_log() IS
	'Seals the audit log up to the newest row; returns the number of rows sealed.';

CREATE FUNCTION feature_x.verify_audit_log()
RETURNS TABLE(ok boolean, checked bigint, first_bad_id bigint, reason text)
AS 'MODULE_PATHNAME', 'fx_verify_audit_log'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION feature_x.verify_audit_log() IS
	'Checks every row hash, every seal and the chain of seals (sealing first where the database is writable).';

CREATE FUNCTION feature_x.purge_audit_log(older_than timestamptz)
RETURNS bigint
AS 'MODULE_PATHNAME', 'fx_purge_audit_log'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION feature_x.purge_audit_log(timestamptz) IS
	'Deletes the sealed segments whose rows are all older than older_than; audited; returns the rows deleted.';

-- Not STRICT: NULL arguments get their own errors (details NULL means {}).
CREATE FUNCTION feature_x.log_event(action text, target text DEFAULT NULL,
									details jsonb DEFAULT '{}',
									durable boolean DEFAULT false)
RETURNS bigint
AS 'MODULE_PATHNAME', 'fx_log_event'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION feature_x.log_event(text, text, jsonb, boolean) IS
	'Adds an application event to the audit log; durable => true commits it independently of the caller''s transaction.';

-- log_event() stays executable by PUBLIC: every row records the real session
-- user, and reserved actions cannot be forged.  Sealing and verifying are for
-- auditors; purging history only for superusers (or whom they grant it to).
REVOKE ALL ON FUNCTION feature_x.seal_audit_log() FROM PUBLIC;
REVOKE ALL ON FUNCTION feature_x.verify_audit_log() FROM PUBLIC;
REVOKE ALL ON FUNCTION feature_x.purge_audit_log(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION feature_x.seal_audit_log(), feature_x.verify_audit_log()
	TO feature_x_auditor;
