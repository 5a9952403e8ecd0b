-- fill_rbac.sql: representative data for the RBAC tables (roles,
-- role_inheritance, permissions, role_permissions, user_roles), written only
-- through the management functions, and checks of the decisions it implies.
-- Run by upgrade.sh (psql -v ON_ERROR_STOP=1) with -v sfx=TAG, the suffix of
-- every role and user it creates, at every old version that has RBAC and
-- once more after the update.
--
-- Covers: the default roles (seed_default_roles), a role inheriting from two
-- parents, a role redefined with a new description and parent set, allow and
-- deny rules with wildcards, a revoked rule, a dropped role, and assignments
-- global, scoped, expiring, expired and removed, granted by an actor.

\set QUIET on
CREATE FUNCTION pg_temp.fill_assert(ok boolean, message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF ok IS NOT TRUE THEN
		RAISE EXCEPTION 'fill_rbac.sql: %', message;
	END IF;
END
$$;

SELECT 'Auditor ' || :'sfx' AS auditor, 'Release-manager-' || :'sfx' AS releaser,
	   'Temp-' || :'sfx' AS temp_role, 'ops-admin-' || :'sfx' AS admin,
	   'alice-' || :'sfx' AS alice, 'bob-' || :'sfx' AS bob, 'carol-' || :'sfx' AS carol,
	   'dave-' || :'sfx' AS dave, 'erin-' || :'sfx' AS erin
\gset

SELECT feature_x.seed_default_roles();
SELECT feature_x.create_role(:'auditor', 'Reads audit data; never secrets.', ARRAY['Viewer']);
SELECT feature_x.grant_permission(:'auditor', 'audit:read');
SELECT feature_x.deny_permission(:'auditor', 'secret:*');
SELECT feature_x.create_role(:'releaser', NULL, ARRAY['Editor', :'auditor']);
SELECT feature_x.grant_permission(:'releaser', 'release:deploy');
SELECT feature_x.grant_permission(:'releaser', 'release.v2:rollback');
SELECT feature_x.grant_permission(:'releaser', 'scratch:write');
SELECT feature_x.revoke_permission(:'releaser', 'scratch:write');
-- Redefinition: a description is added, the parents stay.
SELECT feature_x.create_role(:'releaser', 'Deploys releases.', ARRAY['Editor', :'auditor']);
SELECT feature_x.create_role(:'temp_role', 'Dropped again.', ARRAY[:'releaser']);
SELECT feature_x.grant_permission(:'temp_role', 'temp:use');

BEGIN;
SELECT feature_x.set_actor(:'admin');
SELECT feature_x.assign_role(:'alice', 'Editor', 'org:1/project:42', now() + interval '30 days');
SELECT feature_x.assign_role(:'bob', 'Viewer');
SELECT feature_x.assign_role(:'carol', 'Manager', 'org:2', now() - interval '1 day');
SELECT feature_x.assign_role(:'dave', :'releaser', 'org:1');
SELECT feature_x.assign_role(:'dave', :'temp_role');
SELECT feature_x.assign_role(:'erin', 'Admin', 'org:3');
SELECT feature_x.assign_role(:'erin', 'Viewer');
SELECT feature_x.unassign_role(:'erin', 'Admin', 'org:3');
COMMIT;
SELECT feature_x.drop_role(:'temp_role');

SELECT pg_temp.fill_assert(
	(SELECT granted_by FROM feature_x.user_roles WHERE user_id = :'alice') = :'admin',
	'assignments record the actor as granted_by');
SELECT pg_temp.fill_assert(
	NOT EXISTS (SELECT FROM feature_x.roles WHERE name = :'temp_role')
	AND NOT EXISTS (SELECT FROM feature_x.user_roles WHERE role = :'temp_role'),
	'drop_role() removes the role and its assignments');
SELECT pg_temp.fill_assert(
	(SELECT array_agg(inherits ORDER BY inherits) FROM feature_x.role_inheritance WHERE role = :'releaser')
		= ARRAY[:'auditor', 'Editor']
	AND (SELECT description FROM feature_x.roles WHERE name = :'releaser') = 'Deploys releases.',
	'create_role() records inheritance and updates the description');

-- Decisions, through the C check engine.
SELECT pg_temp.fill_assert(feature_x.has_permission(:'alice', 'doc:update', 'org:1/project:42/doc:7'),
	'a scoped assignment covers the scopes below it');
SELECT pg_temp.fill_assert(NOT feature_x.has_permission(:'alice', 'doc:update'),
	'a scoped assignment does not grant globally');
SELECT pg_temp.fill_assert(NOT feature_x.has_permission(:'alice', 'doc:delete', 'org:1/project:42'),
	'Editor cannot delete');
SELECT pg_temp.fill_assert(feature_x.has_permission(:'bob', 'anything:read', 'org:9'),
	'a global assignment covers every scope');
SELECT pg_temp.fill_assert(NOT feature_x.has_permission(:'carol', 'doc:read', 'org:2'),
	'an expired assignment grants nothing');
SELECT pg_temp.fill_assert(feature_x.has_permission(:'dave', 'release:deploy', 'org:1/app'),
	'a direct grant');
SELECT pg_temp.fill_assert(feature_x.has_permission(:'dave', 'doc:update', 'org:1')
	AND feature_x.has_permission(:'dave', 'audit:read', 'org:1'),
	'grants inherited from both parents');
SELECT pg_temp.fill_assert(NOT feature_x.has_permission(:'dave', 'secret:read', 'org:1'),
	'an inherited deny overrides an inherited allow');
SELECT pg_temp.fill_assert(NOT feature_x.has_permission(:'dave', 'scratch:write', 'org:1')
	AND NOT feature_x.has_permission(:'dave', 'temp:use'),
	'revoked grants and dropped roles grant nothing');
SELECT pg_temp.fill_assert(NOT feature_x.has_permission(:'erin', 'doc:delete', 'org:3')
	AND feature_x.has_permission(:'erin', 'doc:read', 'org:3'),
	'unassign_role() removes one assignment only');
SELECT pg_temp.fill_assert(
	(SELECT count(*) > 0 FROM feature_x.user_permissions(:'dave', 'org:1') WHERE effect = 'deny')
	AND (SELECT count(*) > 0 FROM feature_x.explain_permission(:'dave', 'secret:read', 'org:1')
		  WHERE detail LIKE 'decision: denied%'),
	'user_permissions() and explain_permission() agree');
