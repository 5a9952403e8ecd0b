-- RBAC: only feature_x_admin members change RBAC data; anybody may check.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feature_x CASCADE;
DROP ROLE IF EXISTS regress_fx_app;
DROP ROLE IF EXISTS regress_fx_rbac_admin;
CREATE EXTENSION feature_x;
CREATE ROLE regress_fx_app;
CREATE ROLE regress_fx_rbac_admin IN ROLE feature_x_admin;
RESET client_min_messages;
\set SHOW_CONTEXT never

SELECT feature_x.seed_default_roles();
SELECT feature_x.assign_role('alice', 'Viewer');

-- An application role can check permissions...
SET ROLE regress_fx_app;
SELECT feature_x.has_permission('alice', 'doc:read') AS alice_reads;
SELECT feature_x.require_permission('alice', 'doc:read');
BEGIN;
SELECT feature_x.set_actor('alice');
SELECT feature_x.actor_has_permission('doc:read') AS actor_reads;
COMMIT;
-- ...but not change, or even read, RBAC data.
SELECT feature_x.assign_role('mallory', 'Admin');
SELECT feature_x.create_role('Hacker');
SELECT feature_x.grant_permission('Viewer', '*');
SELECT feature_x.seed_default_roles();
SELECT * FROM feature_x.user_permissions('alice');
INSERT INTO feature_x.user_roles (user_id, role) VALUES ('mallory', 'Admin');
UPDATE feature_x.role_permissions SET effect = 'allow';
SELECT count(*) FROM feature_x.user_roles;
SELECT feature_x.rbac_set_permission('Viewer', '*', 'allow');
RESET ROLE;
SELECT feature_x.has_permission('mallory', 'anything:at_all') AS mallory_has_nothing;

-- A member of feature_x_admin manages RBAC through the functions only.
SET ROLE regress_fx_rbac_admin;
SELECT feature_x.create_role('Support', 'Helps customers.', ARRAY['Viewer']);
SELECT feature_x.assign_role('bob', 'Support', 'org:1');
SELECT granted_by = session_user AS granted_by_session_user FROM feature_x.user_roles WHERE user_id = 'bob';
SELECT * FROM feature_x.user_permissions('bob', 'org:1');
DELETE FROM feature_x.user_roles;
-- Acting for an application user, it records that user as the grantor...
BEGIN;
SELECT feature_x.set_actor('carol');
SELECT feature_x.assign_role('dave', 'Viewer');
SELECT granted_by FROM feature_x.user_roles WHERE user_id = 'dave';
-- ...and that user cannot grant itself anything.
SELECT feature_x.assign_role('carol', 'Admin');
ROLLBACK;
RESET ROLE;

DROP EXTENSION feature_x;
DROP ROLE regress_fx_app;
DROP ROLE regress_fx_rbac_admin;
