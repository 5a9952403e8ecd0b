/* feature_x 1.1 -> 1.2: schema fingerprint, drift, DDL guard, importing history (issue 3). */
\echo Use "ALTER EXTENSION feature_x UPDATE TO '1.2'" to load this file. \quit

-- ===================================================================
-- Section B: schema_objects, schema_fingerprint, recorded states, drift,
-- health() with drift
-- ===================================================================

-- The live schema: catalog reads only, so anyone may call these; they show
-- nothing that pg_catalog does not.  VOLATILE because DDL earlier in the
-- same transaction (a migration's) changes the answer.
CREATE FUNCTION @extschema@.schema_objects(schemas name[] DEFAULT NULL)
RETURNS TABLE(object_type text, object_identity text, hash text)
AS 'MODULE_PATHNAME', 'fx_schema_objects'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.schema_objects(name[]) IS
	'Per-object inventory of the user schema: type, readable identity, SHA-256 of the object''s canonical description.';

CREATE FUNCTION @extschema@.schema_fingerprint(schemas name[] DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'fx_schema_fingerprint'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.schema_fingerprint(name[]) IS
	'SHA-256 over the sorted schema_objects() rows: equal for equal schemas, free of OIDs and physical details.';

-- States recorded after migrate(), rollback(), baseline(), import_history()
-- and record_schema_state(), newest last; written only by feature_x's C code.
CREATE TABLE @extschema@.schema_states (
	id bigint PRIMARY KEY,
	fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
	object_count integer NOT NULL CHECK (object_count >= 0),
	reason text NOT NULL
		CHECK (reason IN ('migrate', 'rollback', 'baseline', 'import', 'manual')),
	version text,
	recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	recorded_by text NOT NULL
);
COMMENT ON TABLE @extschema@.schema_states IS
	'Schema fingerprints recorded by the ledger; the newest (highest id) is the reference of drift().';

-- The inventory of the newest state only (drift() compares with it).
CREATE TABLE @extschema@.schema_state_objects (
	object_type text NOT NULL,
	object_identity text NOT NULL,
	hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
	PRIMARY KEY (object_type, object_identity)
);
COMMENT ON TABLE @extschema@.schema_state_objects IS
	'schema_objects() as recorded with the newest row of schema_states.';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.schema_states', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.schema_state_objects', '');

REVOKE ALL ON @extschema@.schema_states, @extschema@.schema_state_objects FROM PUBLIC;
GRANT SELECT ON @extschema@.schema_states, @extschema@.schema_state_objects
	TO feature_x_deployer;

-- Reads the recorded inventory as its owner (inside the C code), so any
-- role may call it; it reveals identities only, no definitions.
CREATE FUNCTION @extschema@.drift()
RETURNS TABLE(object_type text, object_identity text, change text)
AS 'MODULE_PATHNAME', 'fx_schema_drift'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.drift() IS
	'Objects added, removed or changed since the newest recorded schema state; empty when nothing drifted.';

CREATE FUNCTION @extschema@.record_schema_state()
RETURNS text
AS 'MODULE_PATHNAME', 'fx_record_schema_state'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.record_schema_state() IS
	'Records the live schema as the reference of drift() (reason manual); returns its fingerprint.';

REVOKE ALL ON FUNCTION @extschema@.record_schema_state() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.record_schema_state() TO feature_x_deployer;

-- health() gains drift: whether the live schema's fingerprint differs from
-- the newest recorded one (NULL while no state was recorded).  Same return
-- type, so CREATE OR REPLACE keeps its privileges.
CREATE OR REPLACE FUNCTION @extschema@.health()
RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT jsonb_build_object(
			'ok', count(*) FILTER (WHERE m.state <> 'applied') = 0,
			'current_version',
				(SELECT a.version FROM @extschema@.migrations a
				  WHERE a.state = 'applied'
				  ORDER BY @extschema@.version_sort_key(a.version) DESC LIMIT 1),
			'applied', count(*) FILTER (WHERE m.state = 'applied'),
			'pending', count(*) FILTER (WHERE m.state <> 'applied'),
			'extension_version',
				(SELECT e.extversion FROM pg_catalog.pg_extension e
				  WHERE e.extname = 'feature_x'),
			'in_recovery', pg_is_in_recovery(),
			'drift',
				(SELECT s.fingerprint FROM @extschema@.schema_states s
				  ORDER BY s.id DESC LIMIT 1) <> @extschema@.schema_fingerprint())
	  FROM @extschema@.migrations m
$$;
COMMENT ON FUNCTION @extschema@.health() IS
	'Health summary for monitoring: ok is true when no registered migration is pending; drift is true when the schema differs from the newest recorded state.';

-- ===================================================================
-- Section C: DDL log and guard (event triggers), import_history
-- ===================================================================

-- ---------------------------------------------------------------------
-- The DDL log: schema changes made outside migrate() and rollback(),
-- written by the event triggers below under feature_x.ddl_guard = warn.
-- ---------------------------------------------------------------------

-- The key is random rather than a sequence number: a dump restored with
-- the guard on records the restore's own DDL before the dumped rows arrive,
-- and the two must not collide.  Rows are ordered by logged_at.
CREATE TABLE @extschema@.ddl_log (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	logged_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	db_user text NOT NULL,
	db_role text NOT NULL,
	actor text,
	command_tag text NOT NULL,
	object_type text NOT NULL,
	object_identity text,
	schema_name text,
	statement text
);
COMMENT ON TABLE @extschema@.ddl_log IS
	'DDL run outside feature_x.migrate()/rollback(): one row per object, recorded under feature_x.ddl_guard = warn. Written only by feature_x.';
COMMENT ON COLUMN @extschema@.ddl_log.db_user IS 'Session user that ran the command.';
COMMENT ON COLUMN @extschema@.ddl_log.db_role IS 'Current user (role) when the command ran.';
COMMENT ON COLUMN @extschema@.ddl_log.actor IS 'feature_x.current_actor() of the transaction, if set.';
COMMENT ON COLUMN @extschema@.ddl_log.statement IS 'Text of the top-level statement that ran the command.';
CREATE INDEX ddl_log_logged_at_idx ON @extschema@.ddl_log (logged_at);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ddl_log', '');

REVOKE ALL ON @extschema@.ddl_log FROM PUBLIC;
GRANT SELECT ON @extschema@.ddl_log TO feature_x_deployer, feature_x_admin;

CREATE FUNCTION @extschema@.ddl_guard_start()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'fx_ddl_guard_start'
LANGUAGE C;
CREATE FUNCTION @extschema@.ddl_guard_end()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'fx_ddl_guard_end'
LANGUAGE C;
CREATE FUNCTION @extschema@.ddl_guard_drop()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'fx_ddl_guard_drop'
LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@.ddl_guard_start(), @extschema@.ddl_guard_end(),
	@extschema@.ddl_guard_drop() FROM PUBLIC;

-- Refuses, under feature_x.ddl_guard = error, the CONCURRENTLY commands
-- that commit before ddl_command_end.
CREATE EVENT TRIGGER feature_x_ddl_guard_start ON ddl_command_start
	EXECUTE FUNCTION @extschema@.ddl_guard_start();
CREATE EVENT TRIGGER feature_x_ddl_guard_end ON ddl_command_end
	EXECUTE FUNCTION @extschema@.ddl_guard_end();
CREATE EVENT TRIGGER feature_x_ddl_guard_drop ON sql_drop
	EXECUTE FUNCTION @extschema@.ddl_guard_drop();

-- ---------------------------------------------------------------------
-- Adopting the history of another migration tool.
-- ---------------------------------------------------------------------

ALTER TABLE @extschema@.migrations
	ADD COLUMN imported_from text
		CHECK (imported_from IN ('prisma', 'knex', 'drizzle', 'flyway', 'golang-migrate')),
	ADD COLUMN source_checksum text;
COMMENT ON COLUMN @extschema@.migrations.imported_from IS
	'Tool whose history import_history() recorded this migration from; it has no script unless registered since.';
COMMENT ON COLUMN @extschema@.migrations.source_checksum IS
	'Checksum the importing tool recorded (its own algorithm), if any.';
-- Imported migrations have no script.
ALTER TABLE @extschema@.migrations DROP CONSTRAINT migrations_script_check;
ALTER TABLE @extschema@.migrations ADD CONSTRAINT migrations_script_check
	CHECK (baselined OR imported_from IS NOT NULL OR (up_sql IS NOT NULL AND checksum IS NOT NULL));

CREATE FUNCTION @extschema@.import_history(source text)
RETURNS integer
AS 'MODULE_PATHNAME', 'fx_import_history'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.import_history(text) IS
	'Records the finished, successful migrations of another tool''s history table (prisma, knex, drizzle, flyway, golang-migrate) as applied; returns how many were new.';
REVOKE ALL ON FUNCTION @extschema@.import_history(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.import_history(text) TO feature_x_deployer;
