-- Workload of test/scripts/soak.sh: one procedure per session kind, each
-- looping until a deadline, committing after every unit of work, catching
-- only the errors its kind documents as expected, and recording its counts
-- in soak_stats when it ends.  A new kind (an audited writer, say) is one
-- more procedure soak_<kind>(deadline timestamptz, session int) here and
-- one entry in SESSION_KINDS in soak.sh.

SET client_min_messages = warning;

CREATE TABLE soak_stats (kind text, session int, iterations int, expected_errors int);

-- The RBAC model the changers churn: a small inheritance DAG, users,
-- permission patterns and scopes.
CREATE TABLE soak_roles (role text PRIMARY KEY, parents text[] NOT NULL);
INSERT INTO soak_roles VALUES
	('R0', '{}'), ('R1', '{R0}'), ('R2', '{}'), ('R3', '{R1,R2}'), ('R4', '{}'), ('R5', '{R3}');
CREATE TABLE soak_users (user_id text PRIMARY KEY);
INSERT INTO soak_users SELECT 'u' || i FROM generate_series(0, 7) i;
CREATE TABLE soak_patterns (pattern text PRIMARY KEY);
INSERT INTO soak_patterns VALUES ('doc:read'), ('doc:write'), ('doc:*'), ('*:read'), ('bill:read'), ('*');
CREATE TABLE soak_scopes (scope text);
INSERT INTO soak_scopes VALUES (NULL), ('org:1'), ('org:1/p:2'), ('org:2');

-- What checkers ask: every user, permission and scope.  User "fixed" holds
-- role Fixed (doc:read at org:1), which no changer touches, so that the
-- final answers are never all alike.
CREATE TABLE soak_grid (id serial PRIMARY KEY, user_id text, permission text, scope text);
INSERT INTO soak_grid (user_id, permission, scope)
	SELECT u.user_id, p, s.scope
	  FROM (SELECT user_id FROM soak_users UNION ALL SELECT 'fixed') u,
		   unnest(ARRAY['doc:read', 'doc:write', 'doc:delete', 'bill:read', 'bill:pay']) p,
		   soak_scopes s
	 ORDER BY 1, 2, 3;
-- Rows for RLS-style checks with actor_has_permission().
CREATE TABLE soak_docs (id int, scope text);
INSERT INTO soak_docs SELECT i, (ARRAY['org:1', 'org:1/p:2', 'org:2', 'org:3'])[1 + i % 4]
  FROM generate_series(1, 200) i;

CREATE FUNCTION soak_pick(a text[]) RETURNS text LANGUAGE sql VOLATILE AS
	$$ SELECT a[1 + floor(random() * cardinality(a))::int] $$;

-- The documented semantics, in plain SQL from the final tables, independent
-- of the C engine: deny overrides allow, scopes cover the paths below them,
-- global assignments cover everything, expired assignments count for nothing.
CREATE FUNCTION soak_reference(u text, p text, s text) RETURNS boolean
LANGUAGE sql STABLE AS $$
	WITH RECURSIVE assigned AS (
		SELECT ur.role FROM feature_x.user_roles ur
		 WHERE ur.user_id = u
		   AND (ur.expires_at IS NULL OR ur.expires_at > statement_timestamp())
		   AND (ur.scope IS NULL OR (s IS NOT NULL AND (s = ur.scope OR s LIKE ur.scope || '/%')))
	), closure(role) AS (
		SELECT role FROM assigned
		UNION
		SELECT i.inherits FROM closure c JOIN feature_x.role_inheritance i ON i.role = c.role
	), matching AS (
		SELECT rp.effect FROM closure c JOIN feature_x.role_permissions rp ON rp.role = c.role
		 WHERE rp.permission = '*'
			OR (split_part(rp.permission, ':', 1) IN ('*', split_part(p, ':', 1))
				AND split_part(rp.permission, ':', 2) IN ('*', split_part(p, ':', 2)))
	)
	SELECT coalesce(bool_or(effect = 'allow'), false) AND NOT coalesce(bool_or(effect = 'deny'), false)
	  FROM matching
$$;

-- Migration versions "<iteration>.<session>"; each creates a table of 10 rows.
CREATE FUNCTION soak_table(version text) RETURNS text LANGUAGE sql IMMUTABLE AS
	$$ SELECT 'soak_m_' || replace(version, '.', '_') $$;

-- Deployers: register + migrate in one transaction (as a deploy job does),
-- and every fourth iteration roll back to their own previous version, which
-- also rolls back whatever other deployers applied above it.  At REPEATABLE
-- READ a deployer that raced another gets 40001 (documented; it retries on
-- its next iteration); at READ COMMITTED nothing is expected to fail.
CREATE PROCEDURE soak_deployer(deadline timestamptz, session int)
LANGUAGE plpgsql AS $$
DECLARE
	i int := 0;
	errors int := 0;
	v text;
	prev text;
	rr boolean := current_setting('transaction_isolation') <> 'read committed';
BEGIN
	WHILE clock_timestamp() < deadline LOOP
		i := i + 1;
		v := format('%s.%s', i, session);
		BEGIN
			PERFORM feature_x.register_migration(v, 'soak ' || v,
				format('CREATE TABLE %I (id int); INSERT INTO %I SELECT generate_series(1, 10);',
					   soak_table(v), soak_table(v)),
				format('DROP TABLE %I;', soak_table(v)));
			PERFORM count(*) FROM feature_x.migrate();
			prev := v;
		EXCEPTION WHEN serialization_failure THEN
			IF NOT rr THEN
				RAISE;
			END IF;
			errors := errors + 1;
		END;
		COMMIT;
		IF i % 4 = 0 AND prev IS NOT NULL THEN
			BEGIN
				PERFORM count(*) FROM feature_x.rollback(prev);
			EXCEPTION WHEN serialization_failure THEN
				IF NOT rr THEN
					RAISE;
				END IF;
				errors := errors + 1;
			END;
			COMMIT;
		END IF;
	END LOOP;
	INSERT INTO soak_stats VALUES (CASE WHEN rr THEN 'deployer_rr' ELSE 'deployer' END, session, i, errors);
	COMMIT;
END
$$;

-- RBAC changers: one random change per transaction.  Nothing is expected to
-- fail: the upserts of the management functions do not conflict, and
-- create_role() keeps each role's parents (a DAG), so no cycle is refused.
CREATE PROCEDURE soak_rbac_changer(deadline timestamptz, session int)
LANGUAGE plpgsql AS $$
DECLARE
	i int := 0;
	r text;
	u text;
	p text;
	s text;
	roles text[] := ARRAY(SELECT role FROM soak_roles ORDER BY 1);
	users text[] := ARRAY(SELECT user_id FROM soak_users ORDER BY 1);
	patterns text[] := ARRAY(SELECT pattern FROM soak_patterns ORDER BY 1);
	scopes text[] := ARRAY(SELECT scope FROM soak_scopes ORDER BY 1);
BEGIN
	WHILE clock_timestamp() < deadline LOOP
		i := i + 1;
		r := soak_pick(roles);
		u := soak_pick(users);
		p := soak_pick(patterns);
		s := soak_pick(scopes);
		CASE floor(random() * 10)::int
			WHEN 0, 1 THEN PERFORM feature_x.grant_permission(r, p);
			-- Narrow denies only: a deny of "*" would leave little allowed.
			WHEN 2 THEN PERFORM feature_x.deny_permission(r, soak_pick(ARRAY['doc:write', 'bill:read']));
			WHEN 3, 4 THEN PERFORM feature_x.revoke_permission(r, p);
			WHEN 5, 6 THEN PERFORM feature_x.assign_role(u, r, s);
			WHEN 7, 8 THEN PERFORM feature_x.unassign_role(u, r, s);
			ELSE PERFORM feature_x.create_role(r, 'changed by ' || session || ' at ' || i,
											   (SELECT parents FROM soak_roles WHERE role = r));
		END CASE;
		COMMIT;
	END LOOP;
	INSERT INTO soak_stats VALUES ('rbac_changer', session, i, 0);
	COMMIT;
END
$$;

-- Checkers: has_permission() and require_permission() (whose 42501 is the
-- documented "no"), a transaction of 20 checks at a time.
CREATE PROCEDURE soak_checker(deadline timestamptz, session int)
LANGUAGE plpgsql AS $$
DECLARE
	i int := 0;
	denied int := 0;
	pick int;
	g record;
	n int := (SELECT count(*) FROM soak_grid);
BEGIN
	WHILE clock_timestamp() < deadline LOOP
		FOR k IN 1..20 LOOP
			i := i + 1;
			pick := 1 + floor(random() * n)::int;
			SELECT * INTO g FROM soak_grid WHERE id = pick;
			PERFORM feature_x.has_permission(g.user_id, g.permission, g.scope);
			BEGIN
				PERFORM feature_x.require_permission(g.user_id, g.permission, g.scope);
			EXCEPTION WHEN insufficient_privilege THEN
				denied := denied + 1;
			END;
		END LOOP;
		COMMIT;
	END LOOP;
	INSERT INTO soak_stats VALUES ('checker', session, i, denied);
	COMMIT;
END
$$;

-- Actor checkers: set_actor() and an RLS-style scan of soak_docs with
-- actor_has_permission(), one transaction per scan.
CREATE PROCEDURE soak_actor_checker(deadline timestamptz, session int)
LANGUAGE plpgsql AS $$
DECLARE
	i int := 0;
	users text[] := ARRAY(SELECT user_id FROM soak_users ORDER BY 1);
BEGIN
	WHILE clock_timestamp() < deadline LOOP
		i := i + 1;
		PERFORM feature_x.set_actor(soak_pick(users));
		PERFORM count(*) FROM soak_docs
		  WHERE feature_x.actor_has_permission(soak_pick(ARRAY['doc:read', 'doc:write', 'bill:read']), scope);
		COMMIT;
	END LOOP;
	INSERT INTO soak_stats VALUES ('actor_checker', session, i, 0);
	COMMIT;
END
$$;

-- The audited table the audited writers share: keys 1..100 are shared (one
-- row per statement, so writers never deadlock), keys 1000000 * session + 1..10
-- and above belong to one session.  Every value written says who wrote it,
-- and whether the transaction set an actor: 's<session>:<iteration>:a|n';
-- work that is rolled back writes values starting with 'rb:'.
CREATE TABLE soak_audited (id int PRIMARY KEY, v text NOT NULL, n int NOT NULL DEFAULT 0);

-- Audited writers: one insert (or upsert), update or delete per transaction,
-- half of them after set_actor(); every fifth also changes its own rows in a
-- subtransaction that is rolled back (it raises XS001, caught), every
-- seventh transaction is rolled back whole, and session 1 seals the log
-- every 20 iterations while the others write.  Nothing else is expected to
-- fail.  expected_errors counts the rollbacks (both kinds).
CREATE PROCEDURE soak_audited_writer(deadline timestamptz, session int)
LANGUAGE plpgsql AS $$
DECLARE
	i int := 0;
	rolled_back int := 0;
	k int;
	actor boolean;
	val text;
	own int := 1000000 * session;
BEGIN
	INSERT INTO soak_audited SELECT own + g, format('s%s:0:n', session) FROM generate_series(1, 10) g;
	COMMIT;
	WHILE clock_timestamp() < deadline LOOP
		i := i + 1;
		k := 1 + floor(random() * 100)::int;
		actor := random() < 0.5;
		IF actor THEN
			PERFORM feature_x.set_actor('w' || session);
		END IF;
		val := format('s%s:%s:%s', session, i, CASE WHEN actor THEN 'a' ELSE 'n' END);
		IF i % 7 = 0 THEN
			val := 'rb:' || val;
		END IF;
		CASE floor(random() * 6)::int
			WHEN 0 THEN INSERT INTO soak_audited VALUES (k, val) ON CONFLICT (id) DO NOTHING;
			WHEN 1 THEN INSERT INTO soak_audited VALUES (k, val)
						ON CONFLICT (id) DO UPDATE SET v = excluded.v, n = soak_audited.n + 1;
			WHEN 2, 3 THEN UPDATE soak_audited SET v = val, n = n + 1 WHERE id = k;
			WHEN 4 THEN DELETE FROM soak_audited WHERE id = k;
			ELSE UPDATE soak_audited SET v = val, n = n + 1 WHERE id BETWEEN own + 1 AND own + 10;
		END CASE;
		IF i % 5 = 0 THEN
			BEGIN
				UPDATE soak_audited SET v = 'rb:' || val WHERE id BETWEEN own + 1 AND own + 5;
				INSERT INTO soak_audited VALUES (own + 100 + i, 'rb:' || val);
				DELETE FROM soak_audited WHERE id = own + 10;
				RAISE EXCEPTION 'soak: roll back this subtransaction' USING ERRCODE = 'XS001';
			EXCEPTION WHEN SQLSTATE 'XS001' THEN
				rolled_back := rolled_back + 1;
			END;
		END IF;
		IF i % 7 = 0 THEN
			ROLLBACK;
			rolled_back := rolled_back + 1;
		ELSE
			COMMIT;
		END IF;
		IF session = 1 AND i % 20 = 0 THEN
			PERFORM feature_x.seal_audit_log();
			COMMIT;
		END IF;
	END LOOP;
	INSERT INTO soak_stats VALUES ('audited_writer', session, i, rolled_back);
	COMMIT;
END
$$;

-- Answers over the whole grid, in the calling session (so with its caches):
-- has_permission() for each row, then actor_has_permission() with each
-- row's user as actor.
CREATE FUNCTION soak_grid_answers() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	g record;
	answers text := '';
BEGIN
	FOR g IN SELECT * FROM soak_grid ORDER BY id LOOP
		answers := answers || CASE WHEN feature_x.has_permission(g.user_id, g.permission, g.scope)
								   THEN 't' ELSE 'f' END;
	END LOOP;
	answers := answers || '|';
	FOR g IN SELECT * FROM soak_grid ORDER BY id LOOP
		PERFORM feature_x.set_actor(g.user_id);
		answers := answers || CASE WHEN feature_x.actor_has_permission(g.permission, g.scope)
								   THEN 't' ELSE 'f' END;
	END LOOP;
	PERFORM feature_x.set_actor(NULL);
	RETURN answers;
END
$$;

CREATE FUNCTION soak_reference_answers() RETURNS text LANGUAGE sql STABLE AS $$
	SELECT string_agg(CASE WHEN soak_reference(user_id, permission, scope) THEN 't' ELSE 'f' END, '' ORDER BY id)
		   || '|' ||
		   string_agg(CASE WHEN soak_reference(user_id, permission, scope) THEN 't' ELSE 'f' END, '' ORDER BY id)
	  FROM soak_grid
$$;
