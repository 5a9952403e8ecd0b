-- The RBAC model of test/bench/rbac_check.sh, built deterministically
-- (arithmetic on generate_series, no random()), and the baselines it is
-- compared with.  Loaded as a superuser into an empty database with
-- CREATE EXTENSION feature_x already done; the RBAC tables are filled with
-- bulk INSERTs (their statement triggers keep the caches coherent).
--
--   roles             role_1 .. role_100 in 3 inheritance levels:
--                     level 0 role_1..role_20 (no parents), level 1
--                     role_21..role_50 (1-2 parents in level 0), level 2
--                     role_51..role_100 (1-2 parents in level 1)
--   permissions       1,000 concrete ones (100 resources x 10 actions, doc:read
--                     among them) plus the patterns *, doc:*, *:read, *:delete
--   role_permissions  50 allows per role (5,000), plus wildcards (doc:* on
--                     role_3, role_13, ...; *:read on role_7, role_22, ...;
--                     * on role_97) and denies (doc:read on role_11, role_36,
--                     role_61, role_86; doc:* on role_42)
--   user_roles        u0 .. u9999 with 1 + u % 3 roles (~20,000 assignments):
--                     1st global when u % 4 = 0, else at org:(u % 50);
--                     2nd at org:(u % 50)/project:(u % 1000);
--                     3rd at org:((u + 1) % 50) (never covers the user's own
--                     project scope); the 1st expires in 30 days when
--                     u % 10 = 3 and expired yesterday when u % 10 = 7, the
--                     2nd expires in an hour when u % 20 = 9
--   rls_reader        inherits role_56, which gets doc:read from *:read two
--                     levels up; rls_denier denies doc:*
--   actor_1           the RLS actor (see rbac_check.sh): rls_reader at org:1,
--                     org:2/project:52 and org:3 (expiring in 30 days),
--                     rls_denier at org:3/project:3, rls_reader at org:4
--                     (expired): 20,000 + 1,000 + 19,000 = 40,000 of the
--                     1,000,000 docs are visible
--   spot_*            a few users and roles with answers known by hand,
--                     checked by rbac_check.sh
--   docs              1,000,000 rows, scope org:(id % 50)/project:(id % 1000)
SET client_min_messages = warning;

INSERT INTO feature_x.roles (name, description)
SELECT 'role_' || r, 'bench role, level ' || CASE WHEN r <= 20 THEN 0 WHEN r <= 50 THEN 1 ELSE 2 END
  FROM generate_series(1, 100) r;
INSERT INTO feature_x.roles (name)
VALUES ('rls_reader'), ('rls_denier'), ('spot_star'), ('spot_anyread'), ('spot_mid'), ('spot_child');

INSERT INTO feature_x.role_inheritance (role, inherits)
SELECT DISTINCT 'role_' || r, 'role_' || p
  FROM generate_series(21, 100) r,
	   LATERAL (VALUES
		   (CASE WHEN r <= 50 THEN 1 + r % 20 ELSE 21 + r % 30 END),
		   (CASE WHEN r <= 50 THEN 1 + (r * 7) % 20 ELSE 21 + (r * 11) % 30 END)) AS parents(p);
INSERT INTO feature_x.role_inheritance (role, inherits)
VALUES ('rls_reader', 'role_56'), ('spot_mid', 'spot_anyread'), ('spot_child', 'spot_mid');

INSERT INTO feature_x.permissions (permission)
SELECT CASE WHEN i = 0 THEN 'doc' ELSE 'res' || i END || ':' ||
	   (ARRAY['read', 'create', 'update', 'delete', 'list', 'share', 'export', 'approve',
			  'archive', 'comment'])[j + 1]
  FROM generate_series(0, 99) i, generate_series(0, 9) j;
INSERT INTO feature_x.permissions (permission)
VALUES ('*'), ('doc:*'), ('*:read'), ('*:delete');

-- Permission number p is resource p / 10, action p % 10; doc:read is 0.
INSERT INTO feature_x.role_permissions (role, permission, effect)
SELECT 'role_' || r,
	   CASE WHEN p / 10 = 0 THEN 'doc' ELSE 'res' || (p / 10) END || ':' ||
	   (ARRAY['read', 'create', 'update', 'delete', 'list', 'share', 'export', 'approve',
			  'archive', 'comment'])[p % 10 + 1],
	   'allow'
  FROM generate_series(1, 100) r, generate_series(0, 49) k,
	   LATERAL (SELECT (r * 37 + k * 19) % 1000 AS p) AS perm;
INSERT INTO feature_x.role_permissions (role, permission, effect)
SELECT 'role_' || r, w.permission, w.effect
  FROM generate_series(1, 100) r,
	   LATERAL (VALUES
		   ('doc:*', 'allow', r % 10 = 3),
		   ('*:read', 'allow', r % 15 = 7),
		   ('*', 'allow', r = 97),
		   ('*:delete', 'allow', r % 20 = 5),
		   ('doc:read', 'deny', r % 25 = 11),
		   ('doc:*', 'deny', r = 42)) AS w(permission, effect, applies)
 WHERE w.applies
ON CONFLICT (role, permission) DO UPDATE SET effect = EXCLUDED.effect;
INSERT INTO feature_x.role_permissions (role, permission, effect)
VALUES ('rls_denier', 'doc:*', 'deny'), ('spot_star', '*', 'allow'),
	('spot_anyread', '*:read', 'allow');

INSERT INTO feature_x.user_roles (user_id, role, scope, expires_at)
SELECT 'u' || u,
	   'role_' || (1 + (u * 7 + k * 31) % 100),
	   CASE k
		   WHEN 0 THEN CASE WHEN u % 4 = 0 THEN NULL ELSE 'org:' || (u % 50) END
		   WHEN 1 THEN 'org:' || (u % 50) || '/project:' || (u % 1000)
		   ELSE 'org:' || ((u + 1) % 50)
	   END,
	   CASE
		   WHEN k = 0 AND u % 10 = 3 THEN now() + interval '30 days'
		   WHEN k = 0 AND u % 10 = 7 THEN now() - interval '1 day'
		   WHEN k = 1 AND u % 20 = 9 THEN now() + interval '1 hour'
	   END
  FROM generate_series(0, 9999) u, generate_series(0, 2) k
 WHERE k <= u % 3;
INSERT INTO feature_x.user_roles (user_id, role, scope, expires_at) VALUES
	('actor_1', 'rls_reader', 'org:1', NULL),
	('actor_1', 'rls_reader', 'org:2/project:52', NULL),
	('actor_1', 'rls_reader', 'org:3', now() + interval '30 days'),
	('actor_1', 'rls_denier', 'org:3/project:3', NULL),
	('actor_1', 'rls_reader', 'org:4', now() - interval '1 day'),
	('spot_global', 'rls_reader', NULL, NULL),
	('spot_expired', 'rls_reader', NULL, now() - interval '1 second'),
	('spot_future', 'rls_reader', NULL, now() + interval '30 days'),
	('spot_scoped', 'rls_reader', 'org:1', NULL),
	('spot_deny', 'rls_reader', NULL, NULL),
	('spot_deny', 'rls_denier', 'org:9', NULL),
	('spot_star', 'spot_star', NULL, NULL),
	('spot_anyread', 'spot_anyread', NULL, NULL),
	('spot_inherit', 'spot_child', 'org:2', NULL);

-- The documents of the row-level security workload.
CREATE TABLE docs (
	id integer PRIMARY KEY,
	scope text NOT NULL,
	body text NOT NULL
);
INSERT INTO docs
SELECT id, 'org:' || (id % 50) || '/project:' || (id % 1000), 'document number ' || id
  FROM generate_series(1, 1000000) id;
CREATE POLICY docs_read ON docs FOR SELECT
	USING (feature_x.actor_has_permission('doc:read', scope));
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
VACUUM (FREEZE, ANALYZE) docs;
ANALYZE feature_x.roles, feature_x.role_inheritance, feature_x.permissions,
	feature_x.role_permissions, feature_x.user_roles;

-- ---------------------------------------------------------------------
-- The PL/pgSQL baseline: what an application writes without feature_x.
-- Same semantics as feature_x.has_permission(): assignments that have not
-- expired at the statement's start and whose scope covers the checked one
-- (NULL: global, covers everything; a NULL check scope is covered by global
-- assignments only), the roles they give and every role those inherit
-- (recursive CTE), grants and denies matched with * per segment or * alone,
-- deny overriding allow; false for NULL, empty or malformed input.
-- ---------------------------------------------------------------------
CREATE FUNCTION authorize(user_id text, permission text, scope text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	resource text;
	action text;
	decision boolean;
BEGIN
	IF user_id IS NULL OR user_id = '' OR permission IS NULL
	   OR permission !~ '^[^:]+:[^:]+$' THEN
		RETURN false;
	END IF;
	resource := split_part(permission, ':', 1);
	action := split_part(permission, ':', 2);

	WITH RECURSIVE assigned AS (
		SELECT ur.role
		  FROM feature_x.user_roles ur
		 WHERE ur.user_id = authorize.user_id
		   AND (ur.expires_at IS NULL OR ur.expires_at > statement_timestamp())
		   AND (ur.scope IS NULL
				OR (authorize.scope IS NOT NULL
					AND (authorize.scope = ur.scope
						 OR starts_with(authorize.scope, ur.scope || '/'))))
	), closure(role) AS (
		SELECT a.role FROM assigned a
		UNION
		SELECT i.inherits
		  FROM closure c JOIN feature_x.role_inheritance i ON i.role = c.role
	)
	-- The patterns that cover resource:action, looked up through the
	-- primary key (role, permission).
	SELECT coalesce(bool_or(rp.effect = 'allow') AND NOT bool_or(rp.effect = 'deny'), false)
	  INTO decision
	  FROM closure c JOIN feature_x.role_permissions rp ON rp.role = c.role
	 WHERE rp.permission IN (resource || ':' || action, resource || ':*',
							 '*:' || action, '*:*', '*');
	RETURN decision;
END
$$;
GRANT EXECUTE ON FUNCTION authorize(text, text, text) TO PUBLIC;

-- ---------------------------------------------------------------------
-- Server-side timing: runs query q (which returns one bigint) once and
-- returns one line "TIME <tab> label <tab> milliseconds <tab> answer".
-- ---------------------------------------------------------------------
CREATE FUNCTION fxb_time(label text, q text)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
	t0 timestamptz;
	t1 timestamptz;
	n bigint;
BEGIN
	t0 := clock_timestamp();
	EXECUTE q INTO n;
	t1 := clock_timestamp();
	RETURN format(E'TIME\t%s\t%s\t%s', label,
				  round(extract(epoch FROM t1 - t0) * 1000, 3), n);
END
$$;
GRANT EXECUTE ON FUNCTION fxb_time(text, text) TO PUBLIC;

-- Bytes of the permission cache of this backend (the context and the hash
-- tables below it): allocated (total_bytes) and in use (used_bytes).
CREATE FUNCTION fxb_cache_bytes(OUT total bigint, OUT used bigint)
LANGUAGE sql
AS $$
	SELECT coalesce(sum(total_bytes), 0)::bigint, coalesce(sum(used_bytes), 0)::bigint
	  FROM pg_backend_memory_contexts
	 WHERE name = 'feature_x RBAC cache' OR parent = 'feature_x RBAC cache'
$$;
