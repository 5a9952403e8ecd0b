#!/usr/bin/env bash
# soak.sh: 16 sessions mixing deployers, audited writers, RBAC changers and
# checkers for a bounded time (FX_SOAK_SECONDS, default 45): no deadlock, no unexpected
# error, and the invariants below hold at the end.
#
# The workload is test/scripts/soak/workload.sql: one procedure per session
# kind, looping until a common deadline and committing after every unit of
# work.  SESSION_KINDS says how many sessions of each kind run:
#   deployer       register_migration() + migrate() in one transaction, and
#                  every fourth time rollback() to its own previous version
#                  (which rolls back other deployers' newer migrations too)
#   deployer_rr    the same at REPEATABLE READ: a deployer that raced
#                  another fails with 40001 (documented) and goes on
#   audited_writer insert/upsert/update/delete on the audited table
#                  soak_audited, one per transaction, half after set_actor();
#                  every fifth also a subtransaction rolled back, every
#                  seventh transaction rolled back; session 1 also seals the
#                  audit log every 20 iterations
#   rbac_changer   grant/deny/revoke_permission(), assign/unassign_role(),
#                  create_role() with unchanged parents, one per transaction
#   checker        has_permission() and require_permission() (whose 42501 is
#                  the documented "no"), 20 per transaction
#   actor_checker  set_actor() and an RLS-style scan with
#                  actor_has_permission(), one per transaction
# Expected errors are caught by name inside the procedures and only there;
# any other error, deadlock (40P01) included, ends the session with ERROR
# and fails the test.  Sessions run with lock_timeout = 20s (a lock wait that
# long is a failure) and no statement_timeout (the session timeout, the
# duration plus 60 s, bounds them).
#
# Invariants checked at the end, once every writer has stopped:
#   1. every session ended cleanly, without any ERROR, having done work;
#   2. the ledger is consistent: a migration is applied exactly when its
#      table exists, every applied migration's table has its 10 rows (applied
#      once per application), no table of a migration the ledger does not
#      record as applied exists, every checksum verifies; after a final
#      migrate() nothing is pending and health() is ok;
#   3. no advisory lock (the deploy lock, the sealers' lock) is left behind;
#   4. every checker session, with the caches it built during the run,
#      answers the whole grid of (user, permission, scope) checks, by
#      has_permission() and by actor_has_permission(), exactly as a
#      plain-SQL evaluation of the documented semantics over the final RBAC
#      tables does (no stale cache), and so does a new session;
#   5. the audit log: soak_audited is exactly what its log replays (per
#      key, the latest INSERT updated by every later UPDATE's new values,
#      absent after a DELETE), no entry of rolled-back work (transaction or
#      subtransaction) exists, every entry's actor is the one its
#      transaction set (or none), and after a final seal_audit_log()
#      verify_audit_log() is ok.
# Adding a session kind: a procedure
# soak_<kind>(deadline, session) in workload.sql, an entry in SESSION_KINDS,
# and, if it writes, its name in WRITER_KINDS; its invariants go at the end.
set -euo pipefail

FX_TEST=soak
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

SECONDS_TO_RUN=${FX_SOAK_SECONDS:-45}
SESSION_KINDS=(deployer:3 deployer_rr:1 audited_writer:3 rbac_changer:3 checker:4 actor_checker:2)
WRITER_KINDS=(deployer deployer_rr audited_writer rbac_changer)

setup_db
"${PSQL[@]}" -d "$DB" -f "$(dirname "$0")/soak/workload.sql" -f "$(dirname "$0")/audit_replay.sql"
q "SET client_min_messages = warning;
   SELECT feature_x.create_role(role, NULL, parents) FROM soak_roles ORDER BY role;
   SELECT feature_x.grant_permission('R0', 'doc:read');
   SELECT feature_x.assign_role('u0', 'R0', 'org:1');
   SELECT feature_x.create_role('Fixed');
   SELECT feature_x.grant_permission('Fixed', 'doc:read');
   SELECT feature_x.assign_role('fixed', 'Fixed', 'org:1');
   SELECT feature_x.enable_audit('soak_audited')" >/dev/null

deadline=$(q "SELECT now() + interval '$SECONDS_TO_RUN seconds'")
nwriters=0
nsessions=0
declare -A SESSION_KIND=()
for entry in "${SESSION_KINDS[@]}"; do
	kind=${entry%%:*}
	count=${entry#*:}
	for ((n = 1; n <= count; n++)); do
		nsessions=$((nsessions + 1))
		name="${kind}_$n"
		SESSION_KIND[$name]=$kind
		for w in "${WRITER_KINDS[@]}"; do
			[ "$w" = "$kind" ] && nwriters=$((nwriters + 1))
		done
		{
			echo "SET client_min_messages = warning;"
			echo "SET statement_timeout = 0;"
			echo "SET lock_timeout = '20s';"
			procedure=$kind
			if [ "$kind" = deployer_rr ]; then
				echo "SET default_transaction_isolation = 'repeatable read';"
				procedure=deployer
			fi
			echo "CALL soak_$procedure('$deadline', $nsessions);"
			case $kind in
			checker | actor_checker)
				# Once every writer has stopped, this session's answers.
				echo "SET default_transaction_isolation = 'read committed';"
				echo "DO \$\$ BEGIN
					FOR i IN 1..1200 LOOP
						EXIT WHEN (SELECT count(*) FROM soak_stats
									WHERE kind IN ($(printf "'%s'," "${WRITER_KINDS[@]}" | sed 's/,$//'))) >= @NWRITERS@;
						PERFORM pg_sleep(0.05);
					END LOOP; END \$\$;"
				echo "SELECT 'grid:' || soak_grid_answers();"
				;;
			esac
		} >"$WORK/$name.sql"
	done
done
# The number of writers is known only now.
sed -i "s/@NWRITERS@/$nwriters/" "$WORK"/*.sql

for name in "${!SESSION_KIND[@]}"; do
	bg "$name" $((SECONDS_TO_RUN + 60)) \
		"${PSQL[@]}" -At -v VERBOSITY=verbose -d "$DB" -f "$WORK/$name.sql"
done
ok "$nsessions sessions started ($(
	IFS=,
	echo "${SESSION_KINDS[*]}"
)), running until $deadline"

# 1. every session ended cleanly and did work.
for name in $(printf '%s\n' "${!SESSION_KIND[@]}" | sort); do
	reap "$name"
	if [ "$RC" -eq 0 ] && ! grep -q 'ERROR' "$WORK/$name.out"; then
		ok "session $name ended cleanly, without any ERROR"
	else
		not_ok "session $name ended cleanly, without any ERROR (exit status $RC)"
		head -c 2000 "$WORK/$name.out" | diag
	fi
done
while IFS='|' read -r kind sessions iterations expected_errors min_iterations; do
	check "$kind: $sessions sessions, $iterations units of work, $expected_errors expected errors; each session did some work" \
		[ "$min_iterations" -gt 0 ]
done < <(q "SELECT kind, count(*), sum(iterations), sum(expected_errors), min(iterations)
			  FROM soak_stats GROUP BY kind ORDER BY kind")
check "every session recorded its counts" [ "$(q "SELECT count(*) FROM soak_stats")" = "$nsessions" ]

# 2. the ledger.
bad=$(q "SELECT string_agg(format('%s %s, table %s', s.version, s.state,
			CASE WHEN to_regclass(soak_table(s.version)) IS NULL THEN 'missing' ELSE 'present' END), '; ')
		   FROM feature_x.migration_status() s
		  WHERE (s.state = 'applied') <> (to_regclass(soak_table(s.version)) IS NOT NULL)
			 OR NOT s.checksum_ok")
check "ledger: applied exactly where the migration's table exists, every checksum verifies${bad:+ ($bad)}" [ -z "$bad" ]
stray=$(q "SELECT count(*) FROM pg_class c
			WHERE c.relname LIKE 'soak\_m\_%' AND c.relkind = 'r'
			  AND NOT EXISTS (SELECT 1 FROM feature_x.migrations m
							   WHERE soak_table(m.version) = c.relname AND m.state = 'applied')")
check "ledger: no migration table exists without its migration applied ($stray)" [ "$stray" = 0 ]
counts=$(q "SELECT count(*) FILTER (WHERE state = 'applied'), count(*) FILTER (WHERE state = 'rolled_back'),
				   count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE rolled_back_at IS NOT NULL)
			  FROM feature_x.migrations")
IFS='|' read -r applied rolled_back pending ever_rolled_back <<<"$counts"
check "ledger: $applied applied, $rolled_back rolled back, $pending pending; $ever_rolled_back were rolled back at least once" \
	[ "$ever_rolled_back" -gt 0 ]
q "SET client_min_messages = warning; SELECT count(*) FROM feature_x.migrate()" >/dev/null
wrong_rows=$(q "DO \$\$ DECLARE m record; n bigint; bad int := 0; BEGIN
		FOR m IN SELECT version FROM feature_x.migrations LOOP
			EXECUTE format('SELECT count(*) FROM %I', soak_table(m.version)) INTO n;
			IF n <> 10 THEN bad := bad + 1; END IF;
		END LOOP;
		PERFORM set_config('soak.bad', bad::text, false); END \$\$;
	SELECT current_setting('soak.bad')")
check "ledger: after a final migrate(), every migration's table has exactly its 10 rows (wrong: $wrong_rows)" \
	[ "$wrong_rows" = 0 ]
check "ledger: after a final migrate(), health() is ok with nothing pending" \
	[ "$(q "SELECT (h->>'ok') || '/' || (h->>'pending') FROM feature_x.health() h")" = "true/0" ]

# 3. the deploy lock.
check "no advisory lock is left behind" \
	[ "$(q "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" = 0 ]

# 4. RBAC answers after quiescing.
reference=$(q "SELECT soak_reference_answers()")
ngrid=$(q "SELECT count(*) FROM soak_grid")
allowed=$(tr -cd t <<<"${reference%%|*}" | wc -c)
check "reference: $ngrid checks over the final RBAC data, $allowed allowed (user fixed: some, not all)" \
	[ "$allowed" -gt 0 -a "$allowed" -lt "$ngrid" ]
for name in $(printf '%s\n' "${!SESSION_KIND[@]}" | sort); do
	case ${SESSION_KIND[$name]} in
	checker | actor_checker) ;;
	*) continue ;;
	esac
	got=$(sed -n 's/^grid://p' "$WORK/$name.out")
	check "session $name, with its own caches, answers all $ngrid checks twice (has_permission, actor_has_permission) as the reference" \
		[ "$got" = "$reference" ]
done
check "a new session answers as the reference" [ "$(q "SELECT soak_grid_answers()")" = "$reference" ]

# 5. the audit log.
IFS='|' read -r rows entries actors rolled_back <<<"$(q "SELECT (SELECT count(*) FROM soak_audited),
		count(*), count(actor), (SELECT sum(expected_errors) FROM soak_stats WHERE kind = 'audited_writer')
	  FROM feature_x.audit_log WHERE table_name = 'public.soak_audited'")"
check "audit: $entries entries for soak_audited ($actors with an actor), $rows rows, $rolled_back rollbacks" \
	[ "$entries" -gt 0 -a "$actors" -gt 0 -a "$rolled_back" -gt 0 ]
check "audit: soak_audited is exactly what its log replays" [ "$(q "SELECT audit_replay_diff('soak_audited')")" = 0 ]
check "audit: no entry of rolled-back work, and no such row" \
	[ "$(q "SELECT count(*) FROM feature_x.audit_log
			 WHERE table_name = 'public.soak_audited'
			   AND (new_data->>'v' LIKE 'rb:%' OR old_data->>'v' LIKE 'rb:%')")|$(q "SELECT count(*) FROM soak_audited WHERE v LIKE 'rb:%'")" = "0|0" ]
# Values are s<session>:<n>:<a|n> ("a": written with actor w<session>).  A
# plain match and split_part, not regexp_match: capture groups make the
# regex engine ~100x slower, too slow for the hundreds of thousands of
# entries a quiet machine writes.
wrong_actor=$(q "SELECT count(*) FROM (
		SELECT actor, new_data->>'v' AS v
		  FROM feature_x.audit_log
		 WHERE table_name = 'public.soak_audited' AND action IN ('INSERT', 'UPDATE')) e
	 WHERE v IS NULL OR v !~ '^s[0-9]+:[0-9]+:[an]\$'
		OR actor IS DISTINCT FROM CASE split_part(v, ':', 3) WHEN 'a' THEN 'w' || substr(split_part(v, ':', 1), 2) END")
check "audit: every INSERT/UPDATE entry has the actor its transaction set, or none ($wrong_actor wrong)" \
	[ "$wrong_actor" = 0 ]
check "audit: after a final seal_audit_log(), verify_audit_log() is ok" \
	[ "$(q "SELECT feature_x.seal_audit_log() >= 0; SELECT ok || coalesce(' ' || reason, '') FROM feature_x.verify_audit_log()" | tr '\n' ' ')" = "t true " ]

finish
