/* feature_x 1.0 -> 1.1: role-based access control and the actor context */

\echo Use "ALTER EXTENSION feature_x UPDATE TO '1.1'" to load this file. \quit

-- Members may change RBAC data.  Cluster-wide, so it may exist already.
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles
				   WHERE rolname = 'feature_x_admin') THEN
		CREATE ROLE feature_x_admin NOLOGIN;
	END IF;
END
$$;

-- ---------------------------------------------------------------------
-- Actor context: the application user of the current transaction.
-- ---------------------------------------------------------------------

CREATE FUNCTION @extschema@.set_actor(actor text)
RETURNS void
AS 'MODULE_PATHNAME', 'fx_set_actor'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.set_actor(text) IS
	'Sets the application user for the current transaction only (like SET LOCAL).';

CREATE FUNCTION @extschema@.current_actor()
RETURNS text
AS 'MODULE_PATHNAME', 'fx_current_actor'
LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.current_actor() IS
	'The application user set by set_actor() in this transaction, or NULL.';

-- ---------------------------------------------------------------------
-- RBAC data.  Names are case-sensitive text; the CHECK constraints repeat
-- the validation of the management functions so that hand-written rows
-- cannot smuggle in what the functions refuse.
-- ---------------------------------------------------------------------

CREATE TABLE @extschema@.roles (
	name text PRIMARY KEY
		CHECK (name ~ '^[^[:space:][:cntrl:]]([^[:cntrl:]]{0,61}[^[:space:][:cntrl:]])?$'),
	description text,
	created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE @extschema@.roles IS 'RBAC roles of feature_x.';

CREATE TABLE @extschema@.role_inheritance (
	role text NOT NULL REFERENCES @extschema@.roles ON DELETE CASCADE,
	inherits text NOT NULL REFERENCES @extschema@.roles ON DELETE CASCADE,
	PRIMARY KEY (role, inherits),
	CHECK (role <> inherits)
);
CREATE INDEX role_inheritance_inherits_idx ON @extschema@.role_inheritance (inherits);
COMMENT ON TABLE @extschema@.role_inheritance IS
	'role inherits every permission of inherits; cycles are refused.';

CREATE TABLE @extschema@.permissions (
	permission text PRIMARY KEY
		CHECK (permission ~ '^(\*|([A-Za-z0-9_.-]+|\*):([A-Za-z0-9_.-]+|\*))$'),
	description text
);
COMMENT ON TABLE @extschema@.permissions IS
	'Permission patterns in use: resource:action, * per segment, or * alone.';

CREATE TABLE @extschema@.role_permissions (
	role text NOT NULL REFERENCES @extschema@.roles ON DELETE CASCADE,
	permission text NOT NULL REFERENCES @extschema@.permissions,
	effect text NOT NULL CHECK (effect IN ('allow', 'deny')),
	PRIMARY KEY (role, permission)
);
CREATE INDEX role_permissions_permission_idx ON @extschema@.role_permissions (permission);

CREATE TABLE @extschema@.user_roles (
	user_id text NOT NULL CHECK (user_id <> '' AND length(user_id) <= 1024),
	role text NOT NULL REFERENCES @extschema@.roles ON DELETE CASCADE,
	scope text CHECK (scope ~ '^[^/[:space:][:cntrl:]]+(/[^/[:space:][:cntrl:]]+)*$'),
	expires_at timestamptz,
	granted_by text NOT NULL DEFAULT session_user,
	granted_at timestamptz NOT NULL DEFAULT now()
);
-- One assignment per user, role and scope; NULL (global) is one scope.
CREATE UNIQUE INDEX user_roles_user_role_scope_key
	ON @extschema@.user_roles (user_id, role, coalesce(scope, ''));
CREATE INDEX user_roles_role_idx ON @extschema@.user_roles (role);

SELECT pg_catalog.pg_extension_config_dump('@extschema@.roles', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.role_inheritance', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.permissions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.role_permissions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.user_roles', '');

REVOKE ALL ON @extschema@.roles, @extschema@.role_inheritance, @extschema@.permissions,
	@extschema@.role_permissions, @extschema@.user_roles FROM PUBLIC;
GRANT SELECT ON @extschema@.roles, @extschema@.role_inheritance, @extschema@.permissions,
	@extschema@.role_permissions, @extschema@.user_roles TO feature_x_admin;

-- Every change to RBAC data invalidates the permission caches of all
-- sessions when it commits (and of the changing session at once).
CREATE FUNCTION @extschema@.rbac_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'fx_rbac_changed'
LANGUAGE C;

CREATE TRIGGER rbac_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON @extschema@.roles FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.rbac_changed();
CREATE TRIGGER rbac_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON @extschema@.role_inheritance FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.rbac_changed();
CREATE TRIGGER rbac_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON @extschema@.role_permissions FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.rbac_changed();
CREATE TRIGGER rbac_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON @extschema@.user_roles FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.rbac_changed();
-- Also when rows arrive by logical replication (session_replication_role = replica).
ALTER TABLE @extschema@.roles ENABLE ALWAYS TRIGGER rbac_changed;
ALTER TABLE @extschema@.role_inheritance ENABLE ALWAYS TRIGGER rbac_changed;
ALTER TABLE @extschema@.role_permissions ENABLE ALWAYS TRIGGER rbac_changed;
ALTER TABLE @extschema@.user_roles ENABLE ALWAYS TRIGGER rbac_changed;

-- ---------------------------------------------------------------------
-- Management.  SECURITY DEFINER, callable by feature_x_admin only.
-- ---------------------------------------------------------------------

CREATE FUNCTION @extschema@.rbac_require_role(role_name text)
RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	IF role_name IS NULL THEN
		RAISE EXCEPTION 'role must not be null' USING ERRCODE = '22004';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.roles r WHERE r.name = role_name) THEN
		RAISE EXCEPTION 'role "%" does not exist', role_name
			USING ERRCODE = '42704',
				  HINT = 'Create it with feature_x.create_role(), or list roles in feature_x.roles.';
	END IF;
END
$$;

CREATE FUNCTION @extschema@.create_role(name text, description text DEFAULT NULL,
										inherits text[] DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	parent text;
	cycle text[];
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'role name must not be null' USING ERRCODE = '22004';
	END IF;
	IF name !~ '^[^[:space:][:cntrl:]]([^[:cntrl:]]{0,61}[^[:space:][:cntrl:]])?$' THEN
		RAISE EXCEPTION 'invalid role name "%"', left(name, 100)
			USING ERRCODE = '22023',
				  DETAIL = 'A role name has 1 to 63 characters, no control characters, and does not begin or end with white space.';
	END IF;
	IF inherits IS NULL OR array_position(inherits, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'inherits must not be null or contain nulls' USING ERRCODE = '22004';
	END IF;
	FOREACH parent IN ARRAY inherits LOOP
		IF parent = name THEN
			RAISE EXCEPTION 'role "%" cannot inherit itself', name USING ERRCODE = '0LP01';
		END IF;
		PERFORM @extschema@.rbac_require_role(parent);
	END LOOP;

	INSERT INTO @extschema@.roles AS r (name, description)
		VALUES (create_role.name, create_role.description)
		ON CONFLICT ON CONSTRAINT roles_pkey DO UPDATE
			SET description = coalesce(EXCLUDED.description, r.description)
			WHERE r.description IS DISTINCT FROM coalesce(EXCLUDED.description, r.description);

	-- inherits is the complete set of parents: idempotent, and a way to change it.
	DELETE FROM @extschema@.role_inheritance i
	 WHERE i.role = create_role.name AND i.inherits <> ALL (create_role.inherits);
	INSERT INTO @extschema@.role_inheritance (role, inherits)
		SELECT create_role.name, p FROM unnest(create_role.inherits) AS p
		ON CONFLICT DO NOTHING;

	-- Refuse a cycle: is name reachable from its own parents?
	WITH RECURSIVE up(role, path) AS (
		SELECT i.inherits, ARRAY[create_role.name, i.inherits]
		  FROM @extschema@.role_inheritance i WHERE i.role = create_role.name
		UNION ALL
		SELECT i.inherits, up.path || i.inherits
		  FROM up JOIN @extschema@.role_inheritance i ON i.role = up.role
		 WHERE up.role <> create_role.name
	)
	SELECT up.path INTO cycle FROM up WHERE up.role = create_role.name LIMIT 1;
	IF cycle IS NOT NULL THEN
		RAISE EXCEPTION 'role inheritance would form a cycle: %', array_to_string(cycle, ' -> ')
			USING ERRCODE = '0LP01',
				  HINT = 'A role cannot inherit, directly or indirectly, from a role that inherits it.';
	END IF;
END
$$;

CREATE FUNCTION @extschema@.drop_role(name text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	PERFORM @extschema@.rbac_require_role(name);
	-- Inheritance edges, grants and assignments go with it (ON DELETE CASCADE).
	DELETE FROM @extschema@.roles r WHERE r.name = drop_role.name;
END
$$;

CREATE FUNCTION @extschema@.rbac_set_permission(role text, permission text, effect text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	PERFORM @extschema@.rbac_require_role(role);
	IF permission IS NULL THEN
		RAISE EXCEPTION 'permission must not be null' USING ERRCODE = '22004';
	END IF;
	IF permission !~ '^(\*|([A-Za-z0-9_.-]+|\*):([A-Za-z0-9_.-]+|\*))$' THEN
		RAISE EXCEPTION 'invalid permission "%"', left(permission, 100)
			USING ERRCODE = '22023',
				  DETAIL = 'A permission is resource:action, each made of letters, digits, "_", "-" and ".", or "*" for any; "*" alone means every permission.';
	END IF;
	INSERT INTO @extschema@.permissions (permission) VALUES (rbac_set_permission.permission)
		ON CONFLICT DO NOTHING;
	INSERT INTO @extschema@.role_permissions AS rp (role, permission, effect)
		VALUES (rbac_set_permission.role, rbac_set_permission.permission, rbac_set_permission.effect)
		ON CONFLICT ON CONSTRAINT role_permissions_pkey DO UPDATE SET effect = EXCLUDED.effect
			WHERE rp.effect <> EXCLUDED.effect;
END
$$;

CREATE FUNCTION @extschema@.grant_permission(role text, permission text)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT @extschema@.rbac_set_permission(role, permission, 'allow') $$;

CREATE FUNCTION @extschema@.deny_permission(role text, permission text)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT @extschema@.rbac_set_permission(role, permission, 'deny') $$;

CREATE FUNCTION @extschema@.revoke_permission(role text, permission text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	PERFORM @extschema@.rbac_require_role(role);
	DELETE FROM @extschema@.role_permissions rp
	 WHERE rp.role = revoke_permission.role AND rp.permission = revoke_permission.permission;
END
$$;

CREATE FUNCTION @extschema@.rbac_check_assignment(user_id text, role text, scope text)
RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	IF user_id IS NULL OR user_id = '' THEN
		RAISE EXCEPTION 'user_id must not be null or empty' USING ERRCODE = '22004';
	END IF;
	IF length(user_id) > 1024 THEN
		RAISE EXCEPTION 'user_id is too long' USING ERRCODE = '22023',
			DETAIL = 'A user id is at most 1024 characters.';
	END IF;
	PERFORM @extschema@.rbac_require_role(role);
	IF scope IS NOT NULL AND scope !~ '^[^/[:space:][:cntrl:]]+(/[^/[:space:][:cntrl:]]+)*$' THEN
		RAISE EXCEPTION 'invalid scope "%"', left(scope, 100)
			USING ERRCODE = '22023',
				  DETAIL = 'A scope is a path of non-empty segments separated by "/", such as org:1/project:42, without white space.';
	END IF;
	IF user_id = @extschema@.current_actor() THEN
		RAISE EXCEPTION 'user "%" cannot change its own role assignments', user_id
			USING ERRCODE = '42501',
				  HINT = 'Another administrator has to make this change.';
	END IF;
END
$$;

CREATE FUNCTION @extschema@.assign_role(user_id text, role text, scope text DEFAULT NULL,
										expires_at timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	PERFORM @extschema@.rbac_check_assignment(user_id, role, scope);
	INSERT INTO @extschema@.user_roles AS ur (user_id, role, scope, expires_at, granted_by)
		VALUES (assign_role.user_id, assign_role.role, assign_role.scope, assign_role.expires_at,
				coalesce(@extschema@.current_actor(), session_user))
		ON CONFLICT (user_id, role, coalesce(scope, '')) DO UPDATE
			SET expires_at = EXCLUDED.expires_at, granted_by = EXCLUDED.granted_by,
				granted_at = EXCLUDED.granted_at
			WHERE ur.expires_at IS DISTINCT FROM EXCLUDED.expires_at;
END
$$;

CREATE FUNCTION @extschema@.unassign_role(user_id text, role text, scope text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	PERFORM @extschema@.rbac_check_assignment(user_id, role, scope);
	DELETE FROM @extschema@.user_roles ur
	 WHERE ur.user_id = unassign_role.user_id AND ur.role = unassign_role.role
	   AND ur.scope IS NOT DISTINCT FROM unassign_role.scope;
END
$$;

CREATE FUNCTION @extschema@.seed_default_roles()
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	PERFORM @extschema@.create_role('Viewer', 'Reads everything.');
	PERFORM @extschema@.grant_permission('Viewer', '*:read');
	PERFORM @extschema@.create_role('Editor', 'Viewer, plus creating and updating.', ARRAY['Viewer']);
	PERFORM @extschema@.grant_permission('Editor', '*:create');
	PERFORM @extschema@.grant_permission('Editor', '*:update');
	PERFORM @extschema@.create_role('Manager', 'Editor, plus deleting and managing members.', ARRAY['Editor']);
	PERFORM @extschema@.grant_permission('Manager', '*:delete');
	PERFORM @extschema@.grant_permission('Manager', 'member:manage');
	PERFORM @extschema@.create_role('Admin', 'Every permission.');
	PERFORM @extschema@.grant_permission('Admin', '*');
END
$$;

-- ---------------------------------------------------------------------
-- Checks (C, cached per backend, never stale).
-- ---------------------------------------------------------------------

CREATE FUNCTION @extschema@.has_permission(user_id text, permission text, scope text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'fx_has_permission'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.has_permission(text, text, text) IS
	'True when user_id holds permission at scope; false for unknown users, permissions or bad input.';

CREATE FUNCTION @extschema@.actor_has_permission(permission text, scope text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'fx_actor_has_permission'
LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.actor_has_permission(text, text) IS
	'has_permission() for the current actor (set_actor()); for row-level security policies.';

CREATE FUNCTION @extschema@.require_permission(user_id text, permission text, scope text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'fx_require_permission'
LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.require_permission(text, text, text) IS
	'Raises SQLSTATE 42501 unless user_id holds permission at scope.';

CREATE FUNCTION @extschema@.user_permissions(user_id text, scope text DEFAULT NULL)
RETURNS TABLE(permission text, effect text, via_role text, scope text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	WITH RECURSIVE assigned AS (
		SELECT ur.role, ur.scope
		  FROM @extschema@.user_roles ur
		 WHERE ur.user_id = user_permissions.user_id
		   AND (ur.expires_at IS NULL OR ur.expires_at > statement_timestamp())
		   AND (ur.scope IS NULL
				OR (user_permissions.scope IS NOT NULL
					AND (user_permissions.scope = ur.scope
						 OR starts_with(user_permissions.scope, ur.scope || '/'))))
	), closure(role, via, scope) AS (
		SELECT a.role, a.role, a.scope FROM assigned a
		UNION
		SELECT i.inherits, c.via, c.scope
		  FROM closure c JOIN @extschema@.role_inheritance i ON i.role = c.role
	)
	SELECT DISTINCT rp.permission, rp.effect, c.via, c.scope
	  FROM closure c JOIN @extschema@.role_permissions rp ON rp.role = c.role
	 ORDER BY 1, 2, 3, 4
$$;
COMMENT ON FUNCTION @extschema@.user_permissions(text, text) IS
	'Permission patterns in force for user_id at scope, with the assigned role they come through.';

CREATE FUNCTION @extschema@.permission_matches(pattern text, permission text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'fx_permission_matches'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.permission_matches(text, text) IS
	'True when the permission pattern (resource:action, * per segment, or *) covers permission.';

CREATE FUNCTION @extschema@.explain_permission(user_id text, permission text, scope text DEFAULT NULL)
RETURNS TABLE(step int, detail text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	n int := 0;
	a record;
	g record;
	allowed boolean := false;
	denied boolean := false;
	decision boolean;
BEGIN
	n := n + 1; step := n;
	detail := format('checking %s for user %s at %s', permission, user_id,
					 coalesce('scope ' || scope, 'global scope'));
	RETURN NEXT;
	FOR a IN
		SELECT ur.role, ur.scope, ur.expires_at,
			   ur.expires_at IS NOT NULL AND ur.expires_at <= statement_timestamp() AS expired,
			   ur.scope IS NULL OR (explain_permission.scope IS NOT NULL
									AND (explain_permission.scope = ur.scope
										 OR starts_with(explain_permission.scope, ur.scope || '/'))) AS covers
		  FROM @extschema@.user_roles ur
		 WHERE ur.user_id = explain_permission.user_id
		 ORDER BY ur.role, ur.scope NULLS FIRST
	LOOP
		n := n + 1; step := n;
		detail := format('assignment: role %s at %s%s: %s', a.role,
						 coalesce('scope ' || a.scope, 'global scope'),
						 coalesce(' until ' || a.expires_at, ''),
						 CASE WHEN a.expired THEN 'expired, ignored'
							  WHEN NOT a.covers THEN 'scope does not cover the check, ignored'
							  ELSE 'applies' END);
		RETURN NEXT;
		CONTINUE WHEN a.expired OR NOT a.covers;
		FOR g IN
			WITH RECURSIVE closure(role, path) AS (
				SELECT a.role, a.role
				UNION
				SELECT i.inherits, c.path || ' -> ' || i.inherits
				  FROM closure c JOIN @extschema@.role_inheritance i ON i.role = c.role
			)
			SELECT c.path, rp.permission AS pattern, rp.effect
			  FROM closure c JOIN @extschema@.role_permissions rp ON rp.role = c.role
			 WHERE @extschema@.permission_matches(rp.permission, explain_permission.permission)
			 ORDER BY rp.effect DESC, c.path, rp.permission
		LOOP
			n := n + 1; step := n;
			detail := format('  %s %s %s', g.path, CASE g.effect WHEN 'allow' THEN 'allows' ELSE 'denies' END, g.pattern);
			RETURN NEXT;
			allowed := allowed OR g.effect = 'allow';
			denied := denied OR g.effect = 'deny';
		END LOOP;
	END LOOP;
	decision := @extschema@.has_permission(user_id, permission, scope);
	n := n + 1; step := n;
	detail := CASE
		WHEN decision THEN 'decision: allowed'
		WHEN denied THEN 'decision: denied (a deny overrides every allow)'
		WHEN allowed THEN 'decision: denied'
		ELSE 'decision: denied (no grant matches)' END;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION @extschema@.explain_permission(text, text, text) IS
	'The assignments, inheritance paths and grants that decide a permission check, then the decision.';

REVOKE ALL ON FUNCTION @extschema@.rbac_require_role(text),
	@extschema@.create_role(text, text, text[]), @extschema@.drop_role(text),
	@extschema@.rbac_set_permission(text, text, text),
	@extschema@.grant_permission(text, text), @extschema@.deny_permission(text, text),
	@extschema@.revoke_permission(text, text),
	@extschema@.rbac_check_assignment(text, text, text),
	@extschema@.assign_role(text, text, text, timestamptz),
	@extschema@.unassign_role(text, text, text),
	@extschema@.seed_default_roles(),
	@extschema@.user_permissions(text, text), @extschema@.explain_permission(text, text, text),
	@extschema@.rbac_changed()
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.create_role(text, text, text[]), @extschema@.drop_role(text),
	@extschema@.grant_permission(text, text), @extschema@.deny_permission(text, text),
	@extschema@.revoke_permission(text, text),
	@extschema@.assign_role(text, text, text, timestamptz),
	@extschema@.unassign_role(text, text, text),
	@extschema@.seed_default_roles(),
	@extschema@.user_permissions(text, text), @extschema@.explain_permission(text, text, text)
	TO feature_x_admin;
