-- RBAC details: model rules, cache coherence inside one transaction,
-- rollback, bound, and the GUCs.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SET client_min_messages = warning;
CREATE EXTENSION feature_x;
SELECT plan(29);

SELECT feature_x.seed_default_roles();
SELECT is((SELECT count(*)::int FROM feature_x.roles), 4, 'seeding creates four roles');
SELECT feature_x.seed_default_roles();
SELECT is((SELECT count(*)::int FROM feature_x.role_permissions), 6, 'seeding twice changes nothing');
SELECT ok(feature_x.permission_matches('*', 'doc:read'), '* matches everything');
SELECT ok(feature_x.permission_matches('doc:*', 'doc:read'), 'resource wildcard');
SELECT ok(feature_x.permission_matches('*:read', 'doc:read'), 'action wildcard');
SELECT ok(NOT feature_x.permission_matches('doc:read', 'doc:write'), 'exact mismatch');
SELECT ok(NOT feature_x.permission_matches('doc:*', 'docs:read'), 'no prefix matching');
SELECT ok(NOT feature_x.permission_matches('*', 'not-a-permission'), 'malformed permissions match nothing');

-- Scope hierarchy is by path segment, not string prefix.
SELECT feature_x.assign_role('s', 'Viewer', 'org:1/project:4');
SELECT ok(feature_x.has_permission('s', 'doc:read', 'org:1/project:4/task:9'), 'below the scope');
SELECT ok(NOT feature_x.has_permission('s', 'doc:read', 'org:1/project:42'), 'project:42 is not under project:4');
SELECT ok(NOT feature_x.has_permission('s', 'doc:read', 'org:1'), 'above the scope');

-- Several assignments: a deny in any applicable one wins.
SELECT feature_x.create_role('NoSecrets');
SELECT feature_x.deny_permission('NoSecrets', 'secret:*');
SELECT feature_x.assign_role('d', 'Admin');
SELECT ok(feature_x.has_permission('d', 'secret:read', 'org:1'), 'admin reads secrets');
SELECT feature_x.assign_role('d', 'NoSecrets', 'org:1');
SELECT ok(NOT feature_x.has_permission('d', 'secret:read', 'org:1'), 'a scoped deny overrides a global allow');
SELECT ok(feature_x.has_permission('d', 'secret:read', 'org:2'), 'but only within its scope');
SELECT is((SELECT count(*)::int FROM feature_x.user_roles WHERE user_id = 'd'), 2, 'one row per assignment');
SELECT feature_x.assign_role('d', 'NoSecrets', 'org:1', now() + interval '1 hour');
SELECT is((SELECT count(*)::int FROM feature_x.user_roles WHERE user_id = 'd'), 2,
		  'assigning again updates the expiry instead of adding a row');

-- Inside one transaction, every change is seen at once (the cache is never stale).
SELECT ok(feature_x.has_permission('s', 'doc:read', 'org:1/project:4'), 'warm cache: allowed');
SELECT feature_x.deny_permission('Viewer', 'doc:read');
SELECT ok(NOT feature_x.has_permission('s', 'doc:read', 'org:1/project:4'), 'a new deny is seen at once');
SAVEPOINT before_revoke;
SELECT feature_x.revoke_permission('Viewer', 'doc:read');
SELECT ok(feature_x.has_permission('s', 'doc:read', 'org:1/project:4'), 'revoking the deny is seen at once');
ROLLBACK TO SAVEPOINT before_revoke;
SELECT ok(NOT feature_x.has_permission('s', 'doc:read', 'org:1/project:4'), 'and its rollback too');
SELECT feature_x.revoke_permission('Viewer', 'doc:read');
SELECT feature_x.create_role('Viewer', 'Reads everything.', ARRAY['NoSecrets']);
SELECT ok(NOT feature_x.has_permission('s', 'secret:read', 'org:1/project:4'), 'new inheritance is seen at once');
UPDATE feature_x.user_roles SET expires_at = now() - interval '1 second' WHERE user_id = 's';
SELECT ok(NOT feature_x.has_permission('s', 'doc:read', 'org:1/project:4'), 'even a direct table edit is seen');

-- The cache bound: answers stay right when it is dropped and refilled.
SET LOCAL feature_x.rbac_cache_entries = 100;
SELECT feature_x.assign_role('b' || g, 'Viewer', 'org:' || (g % 3)) FROM generate_series(1, 500) g;
SELECT is((SELECT count(*)::int FROM generate_series(1, 500) g
			WHERE feature_x.has_permission('b' || g, 'doc:read', 'org:1')), 167,
		  'correct answers through repeated cache drops');
SELECT is((SELECT count(*)::int FROM generate_series(1, 500) g
			WHERE feature_x.has_permission('b' || g, 'doc:read', 'org:1')), 167, 'and again');
SELECT throws_ok('SET feature_x.rbac_cache_entries = 10', '22023', NULL, 'the bound has a floor');

-- The actor in a policy-like expression, with per-statement memoisation.
SELECT feature_x.set_actor('b3');
SELECT is((SELECT count(*)::int FROM generate_series(1, 3000) g
			WHERE feature_x.actor_has_permission('doc:read', 'org:' || (g % 3))), 1000,
		  'actor_has_permission per row');
SELECT feature_x.set_actor('an-admin');
SELECT feature_x.unassign_role('b3', 'Viewer', 'org:0');
SELECT feature_x.assign_role('b3', 'Viewer', 'org:2');
SELECT feature_x.set_actor('b3');
SELECT is((SELECT count(*)::int FROM generate_series(1, 3000) g
			WHERE feature_x.actor_has_permission('doc:read', 'org:' || (g % 3))), 1000,
		  'memo follows changes between statements');
SELECT feature_x.set_actor('b4');
SELECT is((SELECT count(*)::int FROM generate_series(1, 3000) g
			WHERE feature_x.actor_has_permission('doc:read', 'org:' || (g % 3))), 1000,
		  'memo follows a new actor');
SELECT is((SELECT count(*)::int FROM generate_series(1, 3000) g
			WHERE feature_x.actor_has_permission('doc:read', 'org:' || (g % 3) || '/x:' || g)), 1000,
		  'more distinct scopes than the memo holds');

SELECT * FROM finish();
ROLLBACK;
