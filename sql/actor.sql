-- The actor: application user of the current transaction only.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS feature_x CASCADE;
DROP ROLE IF EXISTS regress_fx_app;
CREATE EXTENSION feature_x;
CREATE ROLE regress_fx_app;
RESET client_min_messages;

SELECT feature_x.current_actor() IS NULL AS no_actor;
BEGIN;
SELECT feature_x.set_actor('user-42');
SELECT feature_x.current_actor();
SAVEPOINT s;
SELECT feature_x.set_actor('user-43');
SELECT feature_x.current_actor();
ROLLBACK TO SAVEPOINT s;
SELECT feature_x.current_actor();
SELECT feature_x.set_actor(NULL);
SELECT feature_x.current_actor() IS NULL AS cleared;
SELECT feature_x.set_actor('user-44');
COMMIT;
-- Gone after the transaction: a pooled connection never leaks it.
SELECT feature_x.current_actor() IS NULL AS no_actor_after_commit;
BEGIN;
SELECT feature_x.set_actor('user-45');
ROLLBACK;
SELECT feature_x.current_actor() IS NULL AS no_actor_after_rollback;
-- Outside a transaction block it lasts for the statement only.
SELECT feature_x.set_actor('user-46'), feature_x.current_actor();
SELECT feature_x.current_actor() IS NULL AS no_actor_afterwards;

-- Bad input.
SELECT feature_x.set_actor('');
SELECT feature_x.set_actor(repeat('x', 1025));
-- The bound is 1024 characters, as for user ids, not bytes.
SELECT length(feature_x.set_actor(repeat('é', 1024))::text || feature_x.current_actor()) AS actor_characters;
SELECT feature_x.set_actor(repeat('é', 1025));

-- Ordinary roles cannot set it session-wide behind set_actor()'s back.
SET ROLE regress_fx_app;
SET feature_x.actor = 'forged';
BEGIN;
SELECT feature_x.set_actor('allowed-through-set-actor');
SELECT feature_x.current_actor();
COMMIT;
RESET ROLE;

DROP EXTENSION feature_x;
DROP ROLE regress_fx_app;
