/* feature_x 1.0: foundation and the migration ledger */

\echo Use "CREATE EXTENSION feature_x" to load this file. \quit

-- The role allowed to drive the ledger.  Roles are cluster-wide, so it may
-- exist already (another database, or a previous install); it is left in
-- place by DROP EXTENSION.
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles
				   WHERE rolname = 'feature_x_deployer') THEN
		CREATE ROLE feature_x_deployer NOLOGIN;
	END IF;
END
$$;

REVOKE ALL ON SCHEMA @extschema@ FROM PUBLIC;
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;

CREATE TABLE @extschema@.migrations (
	version text PRIMARY KEY,
	name text NOT NULL,
	checksum text CHECK (checksum ~ '^[0-9a-f]{64}$'),
	up_sql text,
	down_sql text,
	state text NOT NULL DEFAULT 'pending'
		CHECK (state IN ('pending', 'applied', 'rolled_back')),
	baselined boolean NOT NULL DEFAULT false,
	registered_at timestamptz NOT NULL DEFAULT now(),
	applied_at timestamptz,
	applied_by text,
	duration_ms double precision,
	rolled_back_at timestamptz,
	rolled_back_by text,
	CONSTRAINT migrations_script_check
		CHECK (baselined OR (up_sql IS NOT NULL AND checksum IS NOT NULL))
);
COMMENT ON TABLE @extschema@.migrations IS
	'Migration ledger of feature_x: one row per registered migration. Written only through feature_x functions.';
-- register_migration() looks up the baseline on every new version.
CREATE INDEX migrations_baselined_idx ON @extschema@.migrations (version) WHERE baselined;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.migrations', '');

REVOKE ALL ON @extschema@.migrations FROM PUBLIC;
GRANT SELECT ON @extschema@.migrations TO feature_x_deployer;

CREATE FUNCTION @extschema@.version_sort_key(version text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'fx_version_sort_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.version_sort_key(text) IS
	'Key that orders migration versions naturally (2 < 10, 1.2 < 1.10).';

CREATE FUNCTION @extschema@.migration_checksum(script text)
RETURNS text
AS 'MODULE_PATHNAME', 'fx_migration_checksum'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.migration_checksum(text) IS
	'SHA-256 (hex) of a migration script after dropping a UTF-8 BOM and normalising line ends to LF.';

CREATE FUNCTION @extschema@.register_migration(version text, name text, up_sql text,
											   down_sql text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'fx_register_migration'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.register_migration(text, text, text, text) IS
	'Registers a migration (idempotent); returns its checksum. Applied migrations are immutable.';

CREATE FUNCTION @extschema@.migrate(target text DEFAULT NULL)
RETURNS TABLE(version text, name text, duration_ms double precision)
AS 'MODULE_PATHNAME', 'fx_migrate'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.migrate(text) IS
	'Applies pending migrations up to target (default: all) atomically, in version order, with the caller''s rights.';

CREATE FUNCTION @extschema@.rollback(target text)
RETURNS TABLE(version text, name text, duration_ms double precision)
AS 'MODULE_PATHNAME', 'fx_rollback'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.rollback(text) IS
	'Runs the down scripts of every applied migration above target, newest first, atomically.';

CREATE FUNCTION @extschema@.baseline(version text, name text DEFAULT 'baseline')
RETURNS void
AS 'MODULE_PATHNAME', 'fx_baseline'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.baseline(text, text) IS
	'Records an existing database as being at version without running anything.';

CREATE FUNCTION @extschema@.require_version(version text)
RETURNS void
AS 'MODULE_PATHNAME', 'fx_require_version'
LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.require_version(text) IS
	'Raises an error unless the database schema is at version or later.';

CREATE FUNCTION @extschema@.migration_status()
RETURNS TABLE(version text, name text, state text, checksum text,
			  checksum_ok boolean, baselined boolean,
			  registered_at timestamptz, applied_at timestamptz,
			  applied_by text, duration_ms double precision,
			  rolled_back_at timestamptz, rolled_back_by text,
			  has_down_script boolean)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT m.version, m.name, m.state, m.checksum,
		   CASE WHEN m.up_sql IS NULL THEN m.checksum IS NULL
				ELSE m.checksum IS NOT DISTINCT FROM @extschema@.migration_checksum(m.up_sql)
		   END,
		   m.baselined, m.registered_at, m.applied_at, m.applied_by,
		   m.duration_ms, m.rolled_back_at, m.rolled_back_by,
		   m.down_sql IS NOT NULL
	  FROM @extschema@.migrations m
	 ORDER BY @extschema@.version_sort_key(m.version)
$$;
COMMENT ON FUNCTION @extschema@.migration_status() IS
	'Every migration in version order; checksum_ok is false where the stored script no longer matches its checksum.';

CREATE FUNCTION @extschema@.health()
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
			'in_recovery', pg_is_in_recovery())
	  FROM @extschema@.migrations m
$$;
COMMENT ON FUNCTION @extschema@.health() IS
	'Health summary for monitoring: ok is true when no registered migration is pending.';

-- Functions that change the ledger belong to deployers; the rest is public.
REVOKE ALL ON FUNCTION @extschema@.register_migration(text, text, text, text),
	@extschema@.migrate(text), @extschema@.rollback(text),
	@extschema@.baseline(text, text)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.register_migration(text, text, text, text),
	@extschema@.migrate(text), @extschema@.rollback(text),
	@extschema@.baseline(text, text)
	TO feature_x_deployer;
