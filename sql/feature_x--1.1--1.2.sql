/* feature_x 1.1 -> 1.2: the audit log (issue 4). */
\echo Use "ALTER EXTENSION feature_x UPDATE TO '1.2'" to load this file. \quit

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

-- ===================================================================
-- Section A2: tamper evidence (seals, verify_audit_log, purge_audit_log),
-- log_event and durable events
-- ===================================================================
