-- Privileges, as unprivileged login roles: nobody writes feature_x's tables
-- directly, forges the actor, raises its own permissions, hijacks a
-- SECURITY DEFINER function or feature_x's own queries through search_path
-- or objects it creates, or reads what it should not.
--
-- The loops over pg_class and pg_proc of schema feature_x cover tables,
-- sequences and functions added by later versions without change here; the
-- documented lists (what PUBLIC may execute, who may read which table) must
-- be extended together with README.md.
--
-- Roles: fx_priv_mallory (LOGIN, nothing granted, owns schema fx_priv_evil),
-- fx_priv_admin (LOGIN, feature_x_admin), fx_priv_deployer (LOGIN,
-- feature_x_deployer, owns schema fx_priv_app); all created and dropped
-- within this test's transaction.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SET client_min_messages = warning;
CREATE EXTENSION feature_x;

SELECT plan(67
	+ 6 * (SELECT count(*)::int FROM pg_class
			WHERE relnamespace = 'feature_x'::regnamespace AND relkind IN ('r', 'p'))
	+ 3 * (SELECT count(*)::int FROM pg_class
			WHERE relnamespace = 'feature_x'::regnamespace AND relkind = 'S')
	+ (SELECT count(*)::int FROM pg_proc
		WHERE pronamespace = 'feature_x'::regnamespace AND prosecdef));

CREATE ROLE fx_priv_mallory LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
CREATE ROLE fx_priv_admin LOGIN IN ROLE feature_x_admin;
CREATE ROLE fx_priv_deployer LOGIN IN ROLE feature_x_deployer;
CREATE SCHEMA fx_priv_evil AUTHORIZATION fx_priv_mallory;
CREATE SCHEMA fx_priv_app AUTHORIZATION fx_priv_deployer;

SELECT feature_x.seed_default_roles();
SELECT feature_x.assign_role('alice', 'Viewer', 'org:1');
SELECT feature_x.assign_role('eve', 'Viewer', NULL, now() - interval '1 day');
SELECT feature_x.register_migration('1', 'one', 'CREATE TABLE fx_priv_app.one (id int);', 'DROP TABLE fx_priv_app.one;');
SELECT feature_x.register_migration('2', 'two', 'CREATE TABLE fx_priv_app.two (id int);', 'DROP TABLE fx_priv_app.two;');
SELECT version FROM feature_x.migrate('1');
ANALYZE feature_x.migrations, feature_x.roles, feature_x.user_roles;

-- The state every attempt below must leave as it is.
CREATE TEMP TABLE fx_priv_before AS
	SELECT (SELECT string_agg(u::text, ',' ORDER BY u.user_id, u.role) FROM feature_x.user_roles u) AS assignments,
		   (SELECT string_agg(p::text, ',' ORDER BY p.role, p.permission) FROM feature_x.role_permissions p) AS grants;
GRANT SELECT ON fx_priv_before TO PUBLIC;

-- ---------------------------------------------------------------------
-- What the catalog grants (generic).
-- ---------------------------------------------------------------------

SELECT is((SELECT count(*)::int
			 FROM pg_class c, aclexplode(c.relacl) a
			WHERE c.relnamespace = 'feature_x'::regnamespace
			  AND a.grantee <> c.relowner AND a.privilege_type <> 'SELECT'),
		  0, 'no role but the owner holds any privilege other than SELECT on a relation of feature_x');
SELECT is((SELECT count(*)::int
			 FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid
			WHERE c.relnamespace = 'feature_x'::regnamespace AND att.attacl IS NOT NULL),
		  0, 'no column-level grants on feature_x''s relations');
SELECT is(ARRAY(SELECT c.relname::text FROM pg_class c
				 WHERE c.relnamespace = 'feature_x'::regnamespace
				   AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
				   AND (has_table_privilege('public', c.oid, 'SELECT')
						OR has_any_column_privilege('public', c.oid, 'SELECT'))
				 ORDER BY 1),
		  ARRAY[]::text[], 'PUBLIC may read no relation of feature_x (README documents none)');
-- Who may read which table, as README.md documents it.
SELECT set_eq(
	$$SELECT pg_get_userbyid(a.grantee)::text || ':' || c.relname
		FROM pg_class c, aclexplode(c.relacl) a
	   WHERE c.relnamespace = 'feature_x'::regnamespace
		 AND a.grantee <> c.relowner AND a.privilege_type = 'SELECT'$$,
	ARRAY['feature_x_deployer:migrations',
		  'feature_x_admin:roles', 'feature_x_admin:role_inheritance', 'feature_x_admin:permissions',
		  'feature_x_admin:role_permissions', 'feature_x_admin:user_roles',
		  'feature_x_deployer:schema_states', 'feature_x_deployer:schema_state_objects',
		  'feature_x_deployer:ddl_log', 'feature_x_admin:ddl_log',
		  'feature_x_auditor:audit_log', 'feature_x_auditor:audit_seals',
		  'feature_x_auditor:audited_tables'],
	'only the documented roles may read the documented tables');
-- What PUBLIC may execute, as README.md documents it.
SELECT set_eq(
	$$SELECT p.proname::text FROM pg_proc p
	   WHERE p.pronamespace = 'feature_x'::regnamespace
		 AND has_function_privilege('public', p.oid, 'EXECUTE')$$,
	ARRAY['migration_status', 'health', 'require_version', 'migration_checksum', 'version_sort_key',
		  'has_permission', 'actor_has_permission', 'require_permission', 'set_actor',
		  'current_actor', 'permission_matches',
		  'schema_objects', 'schema_fingerprint', 'drift',
		  'enable_audit', 'disable_audit', 'log_event'],
	'PUBLIC may execute exactly the documented functions');
SELECT is((SELECT count(*)::int FROM pg_proc p
			WHERE p.pronamespace = 'feature_x'::regnamespace
			  AND NOT (SELECT rolsuper FROM pg_roles WHERE oid = p.proowner)),
		  0, 'every function of feature_x belongs to a superuser (the extension owner)');
SELECT ok(NOT has_schema_privilege('public', 'feature_x', 'CREATE'), 'PUBLIC may not create in schema feature_x');
SELECT ok(NOT EXISTS (SELECT 1 FROM pg_namespace n, aclexplode(n.nspacl) a
					   WHERE n.nspname = 'feature_x' AND a.privilege_type = 'CREATE'
						 AND a.grantee <> n.nspowner),
		  'nobody but the owner may create in schema feature_x');

-- Every SECURITY DEFINER function pins search_path.
SELECT ok('search_path=pg_catalog, pg_temp' = ANY (coalesce(p.proconfig, '{}')),
		  format('SECURITY DEFINER %s pins search_path = pg_catalog, pg_temp', p.oid::regprocedure))
  FROM pg_proc p
 WHERE p.pronamespace = 'feature_x'::regnamespace AND p.prosecdef
 ORDER BY p.oid::regprocedure::text;

-- ---------------------------------------------------------------------
-- Mallory, an ordinary login role, writes and reads nothing directly.
-- ---------------------------------------------------------------------
SET SESSION AUTHORIZATION fx_priv_mallory;

SELECT throws_ok(format('INSERT INTO %s DEFAULT VALUES', c.oid::regclass), '42501', NULL,
				 format('mallory cannot INSERT into %s', c.oid::regclass))
  FROM pg_class c WHERE c.relnamespace = 'feature_x'::regnamespace AND c.relkind IN ('r', 'p')
 ORDER BY c.relname;
SELECT throws_ok(format('UPDATE %s SET %I = %I', c.oid::regclass, a.attname, a.attname), '42501', NULL,
				 format('mallory cannot UPDATE %s', c.oid::regclass))
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = 1
 WHERE c.relnamespace = 'feature_x'::regnamespace AND c.relkind IN ('r', 'p')
 ORDER BY c.relname;
SELECT throws_ok(format('DELETE FROM %s', c.oid::regclass), '42501', NULL,
				 format('mallory cannot DELETE from %s', c.oid::regclass))
  FROM pg_class c WHERE c.relnamespace = 'feature_x'::regnamespace AND c.relkind IN ('r', 'p')
 ORDER BY c.relname;
SELECT throws_ok(format('TRUNCATE %s', c.oid::regclass), '42501', NULL,
				 format('mallory cannot TRUNCATE %s', c.oid::regclass))
  FROM pg_class c WHERE c.relnamespace = 'feature_x'::regnamespace AND c.relkind IN ('r', 'p')
 ORDER BY c.relname;
SELECT throws_ok(format('SELECT * FROM %s', c.oid::regclass), '42501', NULL,
				 format('mallory cannot read %s', c.oid::regclass))
  FROM pg_class c WHERE c.relnamespace = 'feature_x'::regnamespace AND c.relkind IN ('r', 'p')
 ORDER BY c.relname;
SELECT throws_ok(format('SELECT 1 FROM %s FOR UPDATE', c.oid::regclass), '42501', NULL,
				 format('mallory cannot lock rows of %s', c.oid::regclass))
  FROM pg_class c WHERE c.relnamespace = 'feature_x'::regnamespace AND c.relkind IN ('r', 'p')
 ORDER BY c.relname;
SELECT throws_ok(format('SELECT nextval(%L)', c.oid::regclass), '42501', NULL,
				 format('mallory cannot advance %s', c.oid::regclass))
  FROM pg_class c WHERE c.relnamespace = 'feature_x'::regnamespace AND c.relkind = 'S'
 ORDER BY c.relname;
SELECT throws_ok(format('SELECT setval(%L, 1)', c.oid::regclass), '42501', NULL,
				 format('mallory cannot set %s', c.oid::regclass))
  FROM pg_class c WHERE c.relnamespace = 'feature_x'::regnamespace AND c.relkind = 'S'
 ORDER BY c.relname;
SELECT throws_ok(format('SELECT last_value FROM %s', c.oid::regclass), '42501', NULL,
				 format('mallory cannot read %s', c.oid::regclass))
  FROM pg_class c WHERE c.relnamespace = 'feature_x'::regnamespace AND c.relkind = 'S'
 ORDER BY c.relname;

SELECT is((SELECT count(*)::int FROM pg_stats WHERE schemaname = 'feature_x'), 0,
		  'mallory sees no column statistics of feature_x''s tables in pg_stats');
SELECT throws_ok($$SELECT * FROM feature_x.user_permissions('alice', 'org:1')$$, '42501', NULL,
				 'mallory cannot list a user''s permissions');
SELECT throws_ok($$SELECT * FROM feature_x.explain_permission('alice', 'doc:read', 'org:1')$$, '42501', NULL,
				 'mallory cannot explain a user''s permissions');
SELECT is((SELECT count(*)::int FROM pg_proc p, unnest(p.proargnames) n
			WHERE p.oid = 'feature_x.migration_status()'::regprocedure AND n IN ('up_sql', 'down_sql')),
		  0, 'migration_status(), which PUBLIC may call, does not show migration scripts');
SELECT is((SELECT count(*)::int FROM feature_x.migration_status()), 2, 'mallory may read the migration status');

-- She cannot forge the actor...
SELECT throws_ok($$SET feature_x.actor = 'alice'$$, '42501', NULL, 'SET feature_x.actor is refused');
SELECT throws_ok($$SET LOCAL feature_x.actor = 'alice'$$, '42501', NULL, 'SET LOCAL feature_x.actor is refused');
SELECT throws_ok($$SELECT set_config('feature_x.actor', 'alice', true)$$, '42501', NULL,
				 'set_config(''feature_x.actor'') is refused');
SELECT throws_ok($$ALTER ROLE fx_priv_mallory SET feature_x.actor = 'alice'$$, '42501', NULL,
				 'ALTER ROLE ... SET feature_x.actor is refused');
SELECT throws_ok(format('ALTER DATABASE %I SET feature_x.actor = %L', current_database(), 'alice'), '42501', NULL,
				 'ALTER DATABASE ... SET feature_x.actor is refused');
-- ...and set_actor() lasts until the end of its (sub)transaction only.
SAVEPOINT actor;
SELECT feature_x.set_actor('alice');
SELECT ok(feature_x.actor_has_permission('doc:read', 'org:1'), 'with set_actor(''alice''), mallory acts for alice');
ROLLBACK TO SAVEPOINT actor;
SELECT is(feature_x.current_actor(), NULL, 'the actor is gone with the subtransaction that set it');
SELECT ok(NOT feature_x.actor_has_permission('doc:read', 'org:1'), 'and so are its permissions');

-- She cannot raise her own permissions.
SELECT throws_ok($$SELECT feature_x.assign_role('mallory', 'Admin')$$, '42501', NULL, 'assign_role() is refused');
SELECT throws_ok($$SELECT feature_x.create_role('Mallory')$$, '42501', NULL, 'create_role() is refused');
SELECT throws_ok($$SELECT feature_x.grant_permission('Viewer', '*')$$, '42501', NULL, 'grant_permission() is refused');
SELECT throws_ok($$SELECT feature_x.revoke_permission('Viewer', '*:read')$$, '42501', NULL, 'revoke_permission() is refused');
SELECT throws_ok($$SELECT feature_x.seed_default_roles()$$, '42501', NULL, 'seed_default_roles() is refused');
SELECT throws_ok($$SELECT feature_x.rbac_set_permission('Viewer', '*', 'allow')$$, '42501', NULL,
				 'the internal rbac_set_permission() is refused');
SELECT throws_ok($$SELECT feature_x.register_migration('9', 'evil', 'SELECT 1')$$, '42501', NULL,
				 'register_migration() is refused');
SELECT throws_ok($$GRANT feature_x_admin TO fx_priv_mallory$$, '42501', NULL, 'she cannot grant herself feature_x_admin');
SELECT throws_ok($$SET ROLE feature_x_admin$$, '42501', NULL, 'she cannot SET ROLE feature_x_admin');
SELECT throws_ok($$ALTER EXTENSION feature_x UPDATE$$, '42501', NULL, 'she cannot update the extension');
SELECT throws_ok($$DROP EXTENSION feature_x$$, '42501', NULL, 'she cannot drop the extension');
SELECT throws_ok($$ALTER FUNCTION feature_x.current_actor() SECURITY DEFINER$$, '42501', NULL,
				 'she cannot alter feature_x''s functions');
SELECT throws_ok($$CREATE FUNCTION feature_x.has_permission(int) RETURNS boolean LANGUAGE sql AS 'SELECT true'$$,
				 '42501', NULL, 'she cannot add an overload to schema feature_x');
SELECT throws_ok($$CREATE TABLE feature_x.user_roles_2 (id int)$$, '42501', NULL,
				 'she cannot create tables in schema feature_x');
SELECT ok(NOT feature_x.has_permission('mallory', 'anything:at_all'), 'she holds no permission');

-- ---------------------------------------------------------------------
-- Hijacking: objects in a schema she owns, and temporary ones, shadowing
-- what feature_x's functions use.  Every shadow records its caller, so a
-- single call through a SECURITY DEFINER function (run as the superuser
-- owner) or through feature_x's C queries shows up in fx_priv_evil.calls.
-- ---------------------------------------------------------------------
CREATE TABLE fx_priv_evil.calls (who name, what text);
GRANT USAGE ON SCHEMA fx_priv_evil TO PUBLIC;
GRANT INSERT ON fx_priv_evil.calls TO PUBLIC;
CREATE FUNCTION fx_priv_evil.texteq(text, text) RETURNS boolean LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO fx_priv_evil.calls VALUES (current_user, 'text ='); RETURN true; END$$;
CREATE OPERATOR fx_priv_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = fx_priv_evil.texteq);
CREATE FUNCTION fx_priv_evil.textne(text, text) RETURNS boolean LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO fx_priv_evil.calls VALUES (current_user, 'text <>'); RETURN false; END$$;
CREATE OPERATOR fx_priv_evil.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = fx_priv_evil.textne);
CREATE FUNCTION fx_priv_evil.starts_with(text, text) RETURNS boolean LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO fx_priv_evil.calls VALUES (current_user, 'starts_with'); RETURN true; END$$;
CREATE FUNCTION fx_priv_evil.statement_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO fx_priv_evil.calls VALUES (current_user, 'statement_timestamp'); RETURN '-infinity'; END$$;
CREATE FUNCTION fx_priv_evil.array_position(text[], text) RETURNS int LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO fx_priv_evil.calls VALUES (current_user, 'array_position'); RETURN NULL; END$$;
CREATE FUNCTION fx_priv_evil.left(text, int) RETURNS text LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO fx_priv_evil.calls VALUES (current_user, 'left'); RETURN $1; END$$;
CREATE FUNCTION fx_priv_evil.pg_is_in_recovery() RETURNS boolean LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO fx_priv_evil.calls VALUES (current_user, 'pg_is_in_recovery'); RETURN true; END$$;
CREATE FUNCTION fx_priv_evil.version_sort_key(text) RETURNS bytea LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO fx_priv_evil.calls VALUES (current_user, 'version_sort_key'); RETURN ''; END$$;
CREATE FUNCTION fx_priv_evil.migration_checksum(text) RETURNS text LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO fx_priv_evil.calls VALUES (current_user, 'migration_checksum'); RETURN ''; END$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA fx_priv_evil TO PUBLIC;
-- Tables named like feature_x's, in her schema and as temporary tables.
CREATE TABLE fx_priv_evil.user_roles (user_id text, role text, scope text, expires_at timestamptz);
INSERT INTO fx_priv_evil.user_roles VALUES ('mallory', 'Admin', NULL, NULL);
CREATE TABLE fx_priv_evil.migrations AS SELECT 'x'::text AS version, 'pending'::text AS state;
CREATE TEMP TABLE user_roles (user_id text, role text, scope text, expires_at timestamptz);
INSERT INTO user_roles VALUES ('mallory', 'Admin', NULL, NULL);
CREATE TEMP TABLE role_permissions (role text, permission text, effect text);
INSERT INTO role_permissions VALUES ('Viewer', '*', 'allow');
CREATE TEMP TABLE migrations (version text, state text);
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA fx_priv_evil TO PUBLIC;

-- Each call runs with her schema first in search_path (only for the call,
-- so that pgTAP's own comparisons do not meet her operators).
CREATE FUNCTION fx_priv_evil.hijack(sql text) RETURNS text LANGUAGE plpgsql
SET search_path = fx_priv_evil, pg_temp, pg_catalog, public AS $$
DECLARE
	result text;
BEGIN
	EXECUTE sql INTO result;
	RETURN result;
EXCEPTION WHEN OTHERS THEN
	RETURN 'ERROR ' || SQLSTATE;
END
$$;
GRANT EXECUTE ON FUNCTION fx_priv_evil.hijack(text) TO PUBLIC;

-- The harness works: unqualified names do reach her objects.
SELECT is(fx_priv_evil.hijack($$SELECT ('a' = 'b')::text$$), 'true', 'harness: her text = operator wins in her search_path');
SELECT is(fx_priv_evil.hijack($$SELECT string_agg(role, ',') FROM user_roles$$), 'Admin', 'harness: her temporary user_roles wins');
SELECT is(fx_priv_evil.hijack($$SELECT (statement_timestamp() = '-infinity')::text$$), 'true',
		  'harness: her statement_timestamp() wins');
DELETE FROM fx_priv_evil.calls;

SELECT is(fx_priv_evil.hijack($$SELECT feature_x.has_permission('mallory', 'doc:read')::text$$), 'false',
		  'hijack: has_permission() ignores her tables and operators');
SELECT is(fx_priv_evil.hijack($$SELECT feature_x.has_permission('eve', 'doc:read')::text$$), 'false',
		  'hijack: has_permission() ignores her statement_timestamp() (expired stays expired)');
SELECT is(fx_priv_evil.hijack($$SELECT feature_x.has_permission('alice', 'doc:read', 'org:1')::text$$), 'true',
		  'hijack: has_permission() still answers true where it should');
SELECT is(fx_priv_evil.hijack($$SELECT feature_x.require_permission('mallory', 'doc:read')::text$$), 'ERROR 42501',
		  'hijack: require_permission() still refuses');
SELECT is(fx_priv_evil.hijack($$SELECT string_agg(version || state, ',') FROM feature_x.migration_status()$$),
		  '1applied,2pending', 'hijack: migration_status() (SECURITY DEFINER) reads the real ledger');
SELECT is(fx_priv_evil.hijack($$SELECT (h->>'pending') || (h->>'in_recovery') FROM feature_x.health() h$$),
		  '1false', 'hijack: health() (SECURITY DEFINER) uses pg_catalog''s functions');
SELECT is(fx_priv_evil.hijack($$SELECT feature_x.require_version('2')::text$$), 'ERROR 55000',
		  'hijack: require_version() reads the real ledger');
SELECT is(fx_priv_evil.hijack($$SELECT feature_x.permission_matches('doc:read', 'doc:write')::text$$), 'false',
		  'hijack: permission_matches() is unaffected');
SELECT is(fx_priv_evil.hijack($$SELECT feature_x.set_actor('alice')::text || feature_x.actor_has_permission('doc:read', 'org:2')::text$$),
		  'false', 'hijack: actor_has_permission() is unaffected');

RESET SESSION AUTHORIZATION;

-- The admin and the deployer, with her objects first in their search_path,
-- call every management and ledger function.
SET SESSION AUTHORIZATION fx_priv_admin;
SELECT is(fx_priv_evil.hijack($$SELECT 'done' FROM feature_x.create_role('Support', 'x', ARRAY['Viewer'])$$), 'done',
		  'hijack: create_role() as admin');
SELECT is(fx_priv_evil.hijack($$SELECT 'done' FROM feature_x.grant_permission('Support', 'ticket:close')$$), 'done',
		  'hijack: grant_permission() as admin');
SELECT is(fx_priv_evil.hijack($$SELECT 'done' FROM feature_x.assign_role('bob', 'Support', 'org:1', now() + interval '1 day')$$), 'done',
		  'hijack: assign_role() as admin');
SELECT is(fx_priv_evil.hijack($$SELECT 'done' FROM feature_x.unassign_role('bob', 'Support', 'org:1')$$), 'done',
		  'hijack: unassign_role() as admin');
SELECT is(fx_priv_evil.hijack($$SELECT 'done' FROM feature_x.revoke_permission('Support', 'ticket:close')$$), 'done',
		  'hijack: revoke_permission() as admin');
SELECT is(fx_priv_evil.hijack($$SELECT count(*)::text FROM feature_x.user_permissions('alice', 'org:1/x')$$), '1',
		  'hijack: user_permissions() as admin');
SELECT is(fx_priv_evil.hijack($$SELECT string_agg(detail, ' ' ORDER BY step) FROM feature_x.explain_permission('eve', 'doc:read')$$),
		  'checking doc:read for user eve at global scope assignment: role Viewer at global scope until '
		  || (SELECT expires_at FROM feature_x.user_roles WHERE user_id = 'eve')
		  || ': expired, ignored decision: denied (no grant matches)',
		  'hijack: explain_permission() as admin');
SELECT is(fx_priv_evil.hijack($$SELECT 'done' FROM feature_x.drop_role('Support')$$), 'done', 'hijack: drop_role() as admin');
SELECT is(fx_priv_evil.hijack($$SELECT 'done' FROM feature_x.seed_default_roles()$$), 'done', 'hijack: seed_default_roles() as admin');
SELECT throws_ok($$GRANT feature_x_deployer TO fx_priv_admin$$, '42501', NULL,
				 'the admin cannot grant itself feature_x_deployer');
RESET SESSION AUTHORIZATION;

SET SESSION AUTHORIZATION fx_priv_deployer;
SELECT is(fx_priv_evil.hijack($$SELECT feature_x.register_migration('3', 'three', 'CREATE TABLE fx_priv_app.three (id int);', 'DROP TABLE fx_priv_app.three;')$$),
		  feature_x.migration_checksum('CREATE TABLE fx_priv_app.three (id int);'),
		  'hijack: register_migration() as deployer');
SELECT is(fx_priv_evil.hijack($$SELECT string_agg(version, ',') FROM feature_x.migrate()$$), '2,3',
		  'hijack: migrate() as deployer applies the real pending migrations');
SELECT is(fx_priv_evil.hijack($$SELECT string_agg(version, ',') FROM feature_x.rollback('2')$$), '3',
		  'hijack: rollback() as deployer');
RESET SESSION AUTHORIZATION;

SELECT is((SELECT count(*)::int FROM fx_priv_evil.calls), 0,
		  'not one of her shadowing functions or operators was ever called');
SELECT is((SELECT string_agg(version || state, ',' ORDER BY version) FROM feature_x.migrations),
		  '1applied,2applied,3rolled_back', 'the ledger is exactly what the deployer''s calls made it');
SELECT is((SELECT string_agg(u::text, ',' ORDER BY u.user_id, u.role) FROM feature_x.user_roles u),
		  (SELECT assignments FROM fx_priv_before), 'role assignments are as before');
SELECT is((SELECT string_agg(p::text, ',' ORDER BY p.role, p.permission) FROM feature_x.role_permissions p),
		  (SELECT grants FROM fx_priv_before), 'grants are as before');
SELECT ok(NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = 'fx_priv_mallory'),
		  'mallory is still an ordinary role');
SELECT ok(NOT pg_has_role('fx_priv_mallory', 'feature_x_admin', 'MEMBER')
		  AND NOT pg_has_role('fx_priv_mallory', 'feature_x_deployer', 'MEMBER'),
		  'mallory is a member of neither feature_x role');

SELECT * FROM finish();
ROLLBACK;
