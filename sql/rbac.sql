-- Role-based access control: management, checks and errors.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feature_x CASCADE;
CREATE EXTENSION feature_x;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- The default roles, idempotently.
SELECT feature_x.seed_default_roles();
SELECT feature_x.seed_default_roles();
SELECT r.name, r.description, coalesce(string_agg(i.inherits, ', ' ORDER BY i.inherits), '') AS inherits
  FROM feature_x.roles r LEFT JOIN feature_x.role_inheritance i ON i.role = r.name
 GROUP BY r.name, r.description ORDER BY r.name;
SELECT role, permission, effect FROM feature_x.role_permissions ORDER BY role, permission;

-- Inheritance with a diamond: Lead inherits Editor and Reviewer, both inherit Viewer.
SELECT feature_x.create_role('Reviewer', 'Approves changes.', ARRAY['Viewer']);
SELECT feature_x.grant_permission('Reviewer', 'change:approve');
SELECT feature_x.create_role('Lead', NULL, ARRAY['Editor', 'Reviewer']);
SELECT feature_x.deny_permission('Lead', 'billing:read');
SELECT feature_x.assign_role('u1', 'Lead', 'org:1');
SELECT feature_x.assign_role('u2', 'Viewer');
SELECT feature_x.assign_role('u3', 'Admin', 'org:2/project:7');
SELECT feature_x.assign_role('u4', 'Editor', NULL, now() - interval '1 second');
SELECT feature_x.assign_role('u5', 'Editor', NULL, now() + interval '1 day');

SELECT user_id, permission, scope, feature_x.has_permission(user_id, permission, scope) AS allowed
  FROM (VALUES
	('u1', 'doc:read', 'org:1'),				-- via Editor -> Viewer and Reviewer -> Viewer
	('u1', 'doc:update', 'org:1/project:3'),	-- scopes cover everything below them
	('u1', 'change:approve', 'org:1'),
	('u1', 'billing:read', 'org:1'),			-- deny overrides the inherited *:read
	('u1', 'doc:read', 'org:10'),				-- org:1 does not cover org:10
	('u1', 'doc:read', NULL),					-- a scoped role grants nothing globally
	('u1', 'doc:delete', 'org:1'),
	('u2', 'doc:read', NULL),					-- global assignment
	('u2', 'doc:read', 'org:5/x'),				-- covers every scope
	('u2', 'doc:create', NULL),
	('u3', 'anything:at_all', 'org:2/project:7/task:1'),
	('u3', 'anything:at_all', 'org:2'),
	('u4', 'doc:read', NULL),					-- expired assignment
	('u5', 'doc:read', NULL),					-- expires later
	('nobody', 'doc:read', NULL),				-- unknown user
	('u2', 'nosuch:perm', NULL),				-- unknown permission
	('u2', 'malformed', NULL),
	('u2', 'too:many:colons', NULL),
	('u2', '', NULL),
	('', 'doc:read', NULL),
	(NULL, 'doc:read', NULL),
	('u2', NULL, NULL)
  ) AS c(user_id, permission, scope);

-- The actor, for row-level security.
BEGIN;
SELECT feature_x.set_actor('u1');
SELECT feature_x.actor_has_permission('doc:read', 'org:1') AS doc_read,
	   feature_x.actor_has_permission('billing:read', 'org:1') AS billing_read,
	   feature_x.actor_has_permission('doc:read') AS global_doc_read;
COMMIT;
SELECT feature_x.actor_has_permission('doc:read', 'org:1') AS without_actor;

-- require_permission raises 42501 naming user, permission and scope.
SELECT feature_x.require_permission('u1', 'doc:read', 'org:1');
SELECT feature_x.require_permission('u1', 'billing:read', 'org:1');
SELECT feature_x.require_permission('u2', 'doc:delete');
SELECT feature_x.require_permission(NULL, 'doc:read');

-- Introspection.
SELECT * FROM feature_x.user_permissions('u1', 'org:1/project:3');
SELECT * FROM feature_x.explain_permission('u1', 'billing:read', 'org:1');
SELECT step, regexp_replace(detail, 'until [^:]*:[^:]*:[^:]*:', 'until <time>:') AS detail
  FROM feature_x.explain_permission('u4', 'doc:read');
SELECT * FROM feature_x.explain_permission('u1', 'doc:delete', 'org:1');

-- Changes are seen at once, and idempotent where it makes sense.
SELECT feature_x.revoke_permission('Lead', 'billing:read');
SELECT feature_x.revoke_permission('Lead', 'billing:read');
SELECT feature_x.has_permission('u1', 'billing:read', 'org:1') AS after_revoking_deny;
SELECT feature_x.deny_permission('Viewer', 'doc:read');
SELECT feature_x.has_permission('u2', 'doc:read') AS after_deny;
SELECT feature_x.grant_permission('Viewer', 'doc:read');
SELECT feature_x.grant_permission('Viewer', 'doc:read');
SELECT effect FROM feature_x.role_permissions WHERE role = 'Viewer' AND permission = 'doc:read';
SELECT feature_x.unassign_role('u2', 'Viewer');
SELECT feature_x.unassign_role('u2', 'Viewer');
SELECT feature_x.has_permission('u2', 'anything:read') AS after_unassign;
SELECT feature_x.assign_role('u5', 'Editor', NULL, NULL);
SELECT count(*) AS u5_assignments, bool_and(expires_at IS NULL) AS no_expiry
  FROM feature_x.user_roles WHERE user_id = 'u5';
-- create_role's inherits is the complete set of parents.
SELECT feature_x.create_role('Lead', NULL, ARRAY['Reviewer']);
SELECT feature_x.has_permission('u1', 'doc:update', 'org:1') AS lead_without_editor;
SELECT feature_x.drop_role('Reviewer');
SELECT feature_x.has_permission('u1', 'change:approve', 'org:1') AS after_drop;
SELECT count(*) AS lead_parents FROM feature_x.role_inheritance WHERE role = 'Lead';

-- Errors.
SELECT feature_x.create_role(NULL);
SELECT feature_x.create_role('');
SELECT feature_x.create_role(' padded');
SELECT feature_x.create_role(repeat('r', 64));
SELECT feature_x.create_role('Lead', NULL, ARRAY['Nope']);
SELECT feature_x.create_role('Lead', NULL, ARRAY['Lead']);
SELECT feature_x.create_role('Lead', NULL, NULL);
SELECT feature_x.create_role('Viewer', NULL, ARRAY['Manager']);
SELECT count(*) AS viewer_parents FROM feature_x.role_inheritance WHERE role = 'Viewer';
SELECT feature_x.drop_role('Nope');
SELECT feature_x.grant_permission('Nope', 'doc:read');
SELECT feature_x.grant_permission('Viewer', 'doc');
SELECT feature_x.grant_permission('Viewer', 'doc:read:all');
SELECT feature_x.grant_permission('Viewer', 'doc:re ad');
SELECT feature_x.grant_permission('Viewer', 'doc:*x');
SELECT feature_x.deny_permission('Viewer', NULL);
SELECT feature_x.revoke_permission('Nope', 'doc:read');
SELECT feature_x.assign_role(NULL, 'Viewer');
SELECT feature_x.assign_role('u9', 'Nope');
SELECT feature_x.assign_role('u9', 'Viewer', 'org:1//x');
SELECT feature_x.assign_role('u9', 'Viewer', ' org:1');
SELECT feature_x.assign_role('u9', 'Viewer', '');
SELECT feature_x.unassign_role('u9', 'Nope');
-- Injection attempts are just odd names.
SELECT feature_x.create_role('x''); DROP TABLE feature_x.roles; --');
SELECT count(*) > 0 AS roles_table_intact FROM feature_x.roles;
-- An application user cannot change its own assignments.
BEGIN;
SELECT feature_x.set_actor('u1');
SELECT feature_x.assign_role('u1', 'Admin');
ROLLBACK;

DROP EXTENSION feature_x;
