-- Catalog of feature_x: objects, signatures, privileges and the safety of
-- every SECURITY DEFINER function.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SET client_min_messages = warning;
CREATE EXTENSION feature_x;
RESET client_min_messages;
SELECT plan(51);

SELECT has_schema('feature_x');
SELECT has_table('feature_x', 'migrations', 'ledger table exists');
SELECT columns_are('feature_x', 'migrations', ARRAY[
	'version', 'name', 'checksum', 'up_sql', 'down_sql', 'state', 'baselined',
	'registered_at', 'applied_at', 'applied_by', 'duration_ms',
	'rolled_back_at', 'rolled_back_by', 'imported_from', 'source_checksum']);
SELECT col_is_pk('feature_x', 'migrations', 'version', 'version is the primary key');
SELECT col_type_is('feature_x', 'migrations', 'registered_at', 'timestamp with time zone', 'registered_at is timestamptz');
SELECT col_type_is('feature_x', 'migrations', 'duration_ms', 'double precision', 'duration_ms is double precision');
SELECT col_not_null('feature_x', 'migrations', 'state', 'state is not null');
SELECT col_default_is('feature_x', 'migrations', 'state', 'pending'::text, 'state defaults to pending');

SELECT ok((SELECT 'feature_x.migrations'::regclass = ANY (extconfig)
			 FROM pg_extension WHERE extname = 'feature_x'),
		  'ledger is dumped by pg_dump (pg_extension_config_dump)');

SELECT has_function('feature_x', 'register_migration', ARRAY['text', 'text', 'text', 'text']);
SELECT has_function('feature_x', 'migrate', ARRAY['text']);
SELECT has_function('feature_x', 'rollback', ARRAY['text']);
SELECT has_function('feature_x', 'baseline', ARRAY['text', 'text']);
SELECT has_function('feature_x', 'migration_status', ARRAY[]::text[]);
SELECT has_function('feature_x', 'health', ARRAY[]::text[]);
SELECT has_function('feature_x', 'require_version', ARRAY['text']);
SELECT has_function('feature_x', 'migration_checksum', ARRAY['text']);
SELECT has_function('feature_x', 'version_sort_key', ARRAY['text']);
SELECT function_returns('feature_x', 'register_migration', ARRAY['text', 'text', 'text', 'text'], 'text');
SELECT function_returns('feature_x', 'health', ARRAY[]::text[], 'jsonb');
SELECT volatility_is('feature_x', 'version_sort_key', ARRAY['text'], 'immutable');
SELECT volatility_is('feature_x', 'migrate', ARRAY['text'], 'volatile');

-- Migration SQL must run with the caller's rights.
SELECT ok(NOT (SELECT prosecdef FROM pg_proc WHERE oid = 'feature_x.migrate(text)'::regprocedure),
		  'migrate() is SECURITY INVOKER');
SELECT ok(NOT (SELECT prosecdef FROM pg_proc WHERE oid = 'feature_x.rollback(text)'::regprocedure),
		  'rollback() is SECURITY INVOKER');

-- Every SECURITY DEFINER function pins search_path.
SELECT is((SELECT count(*)::int FROM pg_proc p
			WHERE p.pronamespace = 'feature_x'::regnamespace AND p.prosecdef
			  AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)),
		  0, 'every SECURITY DEFINER function pins search_path to pg_catalog, pg_temp');

-- Privileges: nothing is writable by PUBLIC.
SELECT table_privs_are('feature_x', 'migrations', 'public', ARRAY[]::text[],
					   'PUBLIC has no privilege on the ledger');
SELECT table_privs_are('feature_x', 'migrations', 'feature_x_deployer', ARRAY['SELECT'],
					   'deployers may only read the ledger');
SELECT function_privs_are('feature_x', 'migrate', ARRAY['text'], 'public', ARRAY[]::text[]);
SELECT function_privs_are('feature_x', 'register_migration', ARRAY['text', 'text', 'text', 'text'],
						  'public', ARRAY[]::text[]);
SELECT function_privs_are('feature_x', 'health', ARRAY[]::text[], 'public', ARRAY['EXECUTE']);
SELECT function_privs_are('feature_x', 'migrate', ARRAY['text'], 'feature_x_deployer', ARRAY['EXECUTE']);
SELECT has_role('feature_x_deployer');
SELECT schema_privs_are('feature_x', 'public', ARRAY['USAGE'], 'PUBLIC may use, not create in, the schema');

-- RBAC (1.1).
SELECT tables_are('feature_x', ARRAY['migrations', 'roles', 'role_inheritance', 'permissions',
									  'role_permissions', 'user_roles',
									  'schema_states', 'schema_state_objects', 'ddl_log',
									  'audit_log', 'audit_seals'],
				  'exactly the documented tables');
SELECT is((SELECT array_agg(c::regclass::text ORDER BY c::regclass::text)
			 FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'feature_x'),
		  ARRAY['feature_x.audit_log', 'feature_x.audit_log_id_seq', 'feature_x.audit_seals',
				'feature_x.ddl_log', 'feature_x.migrations', 'feature_x.permissions', 'feature_x.role_inheritance',
				'feature_x.role_permissions', 'feature_x.roles', 'feature_x.schema_state_objects',
				'feature_x.schema_states', 'feature_x.user_roles'],
		  'every table is dumped by pg_dump');
SELECT has_role('feature_x_admin');
SELECT table_privs_are('feature_x', t, 'public', ARRAY[]::text[], 'PUBLIC has no privilege on ' || t)
  FROM unnest(ARRAY['roles', 'role_inheritance', 'permissions', 'role_permissions', 'user_roles']) t;
SELECT table_privs_are('feature_x', t, 'feature_x_admin', ARRAY['SELECT'], 'RBAC admins only read ' || t)
  FROM unnest(ARRAY['roles', 'user_roles']) t;
SELECT function_privs_are('feature_x', 'has_permission', ARRAY['text', 'text', 'text'], 'public', ARRAY['EXECUTE']);
SELECT function_privs_are('feature_x', 'assign_role', ARRAY['text', 'text', 'text', 'timestamp with time zone'],
						  'public', ARRAY[]::text[]);
SELECT function_privs_are('feature_x', 'assign_role', ARRAY['text', 'text', 'text', 'timestamp with time zone'],
						  'feature_x_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('feature_x', 'rbac_set_permission', ARRAY['text', 'text', 'text'],
						  'feature_x_admin', ARRAY[]::text[]);
SELECT volatility_is('feature_x', 'has_permission', ARRAY['text', 'text', 'text'], 'stable');
SELECT ok((SELECT proparallel = 's' FROM pg_proc WHERE oid = 'feature_x.has_permission(text,text,text)'::regprocedure),
		  'has_permission is PARALLEL SAFE');
SELECT triggers_are('feature_x', 'user_roles', ARRAY['rbac_changed'], 'user_roles changes invalidate caches');
SELECT triggers_are('feature_x', 'role_permissions', ARRAY['rbac_changed'], 'role_permissions changes invalidate caches');

SELECT * FROM finish();
ROLLBACK;
