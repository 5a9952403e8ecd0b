#!/usr/bin/env bash
# concurrent_migrate.sh: concurrent deployers never apply a migration twice.
#
# Proves that when FX_SESSIONS (default 8) sessions start at the same instant
# (all blocked on a table lock held by a controller session, released at
# once), each registering the same migrations in its own transaction (in a
# different order) and then calling feature_x.migrate(), every migration is
# applied exactly once, by exactly one session, in natural version order:
#   - READ COMMITTED (rounds 1-3, new migrations each round): every session
#     commits with no ERROR; the second and later deployers wait for the
#     deploy lock and then apply nothing;
#   - REPEATABLE READ (rounds 4-5): every session either commits or fails
#     with SQLSTATE 40001 (serialization failure) and nothing else; round 4
#     registers new migrations concurrently, round 5 only ones registered
#     beforehand;
#   - no round reports a deadlock.
# The migrations are not idempotent (CREATE TABLE) and each one inserts a
# row into a log table created by migration 1, so a double apply would
# either fail or leave a duplicate row.
set -euo pipefail

FX_TEST=concurrent_migrate
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

SESSIONS=${FX_SESSIONS:-8}
PER_ROUND=${FX_PER_ROUND:-20}
SESSION_SECONDS=30

setup_db
q "CREATE TABLE conc_barrier ()"

# register_sql V...: one register_migration() call per version, one a line.
# Migration 1 creates the log table; every migration creates its own table
# and logs itself.
register_sql() {
	local v up
	for v in "$@"; do
		up="CREATE TABLE conc_t$v (id int); INSERT INTO conc_log (version) VALUES ('$v');"
		if [ "$v" -eq 1 ]; then
			up="CREATE TABLE conc_log (id bigserial PRIMARY KEY, version text NOT NULL, pid int NOT NULL DEFAULT pg_backend_pid(), xid xid8 NOT NULL DEFAULT pg_current_xact_id()); $up"
		fi
		echo "SELECT feature_x.register_migration('$v', 'create conc_t$v', \$fx\$$up\$fx\$);"
	done
}

# session_sql ISOLATION REGISTER_FILE: the script of one deployer.  It waits
# at the barrier, registers every migration of REGISTER_FILE in random order
# and migrates, all in one transaction.
session_sql() {
	local isolation=$1 registrations=$2
	echo '\set VERBOSITY verbose'
	echo "BEGIN ISOLATION LEVEL $isolation;"
	echo "SELECT 'barrier passed ' || count(*) FROM conc_barrier;"
	echo '\o /dev/null'
	shuf "$registrations"
	echo '\o'
	echo "SELECT 'migrated=' || count(*) FROM feature_x.migrate();"
	echo "COMMIT;"
	printf '%s\n' '\echo committed'
}

# The controller takes the barrier lock, signals that it holds it, waits
# (bounded) until every session is queued behind it and releases them all by
# committing.
controller_sql() {
	local round=$1
	cat <<EOF
BEGIN;
LOCK TABLE conc_barrier IN ACCESS EXCLUSIVE MODE;
\\! touch '$WORK/barrier_up.$round'
DO \$\$
DECLARE
	deadline timestamptz := clock_timestamp() + interval '20 s';
BEGIN
	WHILE (SELECT count(*) FROM pg_locks l
			WHERE l.relation = 'conc_barrier'::regclass
			  AND l.database = (SELECT oid FROM pg_database
								 WHERE datname = current_database())
			  AND NOT l.granted) < $SESSIONS
	LOOP
		IF clock_timestamp() > deadline THEN
			RAISE EXCEPTION 'barrier: not all $SESSIONS sessions arrived';
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
END
\$\$;
COMMIT;
EOF
}

# run_round ROUND ISOLATION MAXV: start SESSIONS deployers together and wait
# for all of them.  Sets SESSION_RC[s] and leaves their output in
# $WORK/rROUND_sS.out.
declare -a SESSION_RC
run_round() {
	local round=$1 isolation=$2 maxv=$3 s i

	controller_sql "$round" >"$WORK/ctl$round.sql"
	# shellcheck disable=SC2046
	register_sql $(seq "$maxv") >"$WORK/register$round.sql"
	for ((s = 1; s <= SESSIONS; s++)); do
		session_sql "$isolation" "$WORK/register$round.sql" >"$WORK/r${round}_s$s.sql"
	done

	bg "ctl$round" "$SESSION_SECONDS" "${PSQL[@]}" -d "$DB" -f "$WORK/ctl$round.sql"
	for ((i = 0; i < 200; i++)); do
		[ -e "$WORK/barrier_up.$round" ] && break
		sleep 0.05
	done
	for ((s = 1; s <= SESSIONS; s++)); do
		bg "r${round}_s$s" "$SESSION_SECONDS" \
			"${PSQL[@]}" -At -d "$DB" -f "$WORK/r${round}_s$s.sql"
	done

	reap "ctl$round"
	if [ "$RC" -eq 0 ]; then
		ok "round $round: the barrier released all $SESSIONS sessions at once"
	else
		not_ok "round $round: the barrier released all $SESSIONS sessions at once"
		diag "$WORK/ctl$round.out"
	fi
	for ((s = 1; s <= SESSIONS; s++)); do
		reap "r${round}_s$s"
		SESSION_RC[s]=$RC
	done
}

# Sum of the rows migrate() returned in the sessions that committed.
migrated_total() {
	local round=$1 s n total=0
	for ((s = 1; s <= SESSIONS; s++)); do
		grep -qx committed "$WORK/r${round}_s$s.out" || continue
		n=$(sed -n 's/^migrated=//p' "$WORK/r${round}_s$s.out")
		total=$((total + ${n:-0}))
	done
	echo "$total"
}

# Assertions shared by every round: no double apply, nothing missing, order.
check_ledger() {
	local round=$1 maxv=$2 new=$3 total got

	total=$(migrated_total "$round")
	if [ "$total" -eq "$new" ]; then
		ok "round $round: migrate() returned $new rows across all sessions (each new migration applied by exactly one session)"
	else
		not_ok "round $round: migrate() returned $new rows across all sessions (each new migration applied by exactly one session)"
		echo "# got $total" >&2
		grep -H '^migrated=' "$WORK"/r"${round}"_s*.out | diag
	fi

	got=$(q "SELECT count(*) || ' rows, ' || count(DISTINCT version) || ' versions, '
			 || count(DISTINCT version) FILTER (WHERE version::int BETWEEN 1 AND $maxv)
			 || ' in range' FROM conc_log")
	if [ "$got" = "$maxv rows, $maxv versions, $maxv in range" ]; then
		ok "round $round: conc_log has exactly one row for each of the $maxv migrations"
	else
		not_ok "round $round: conc_log has exactly one row for each of the $maxv migrations"
		echo "# got: $got" >&2
		q "SELECT version, count(*) FROM conc_log GROUP BY 1 HAVING count(*) > 1" | diag
	fi

	got=$(q "SELECT count(*) || ' registered, '
				 || count(*) FILTER (WHERE state = 'applied' AND applied_at IS NOT NULL
									 AND checksum_ok AND NOT baselined) || ' applied'
			   FROM feature_x.migration_status()")
	if [ "$got" = "$maxv registered, $maxv applied" ]; then
		ok "round $round: migration_status() shows all $maxv migrations applied with valid checksums"
	else
		not_ok "round $round: migration_status() shows all $maxv migrations applied with valid checksums"
		echo "# got: $got" >&2
	fi

	got=$(q "SELECT count(*) FROM pg_tables
			  WHERE schemaname = 'public' AND tablename ~ '^conc_t[0-9]+\$'")
	check "round $round: all $maxv tables conc_t1..conc_t$maxv exist" [ "$got" = "$maxv" ]

	got=$(q "SELECT array_agg(version ORDER BY id) = array_agg(version ORDER BY version::int)
			   FROM conc_log")
	check "round $round: migrations were applied in natural version order" [ "$got" = t ]

	if grep -qi deadlock "$WORK"/r"${round}"_s*.out; then
		not_ok "round $round: no deadlock reported"
		grep -Hi deadlock "$WORK"/r"${round}"_s*.out | diag
	else
		ok "round $round: no deadlock reported"
	fi
}

maxv=0

# Rounds 1-3, READ COMMITTED: everyone commits, one session applies.
for round in 1 2 3; do
	maxv=$((maxv + PER_ROUND))
	run_round "$round" "READ COMMITTED" "$maxv"

	bad=""
	for ((s = 1; s <= SESSIONS; s++)); do
		if [ "${SESSION_RC[s]}" -ne 0 ] || grep -q 'ERROR' "$WORK/r${round}_s$s.out" ||
			! grep -qx committed "$WORK/r${round}_s$s.out"; then
			bad="$bad $s"
		fi
	done
	if [ -z "$bad" ]; then
		ok "round $round (READ COMMITTED): all $SESSIONS sessions exited 0 and committed, no ERROR"
	else
		not_ok "round $round (READ COMMITTED): all $SESSIONS sessions exited 0 and committed, no ERROR"
		for s in $bad; do
			echo "# session $s exited ${SESSION_RC[s]}:" >&2
			diag "$WORK/r${round}_s$s.out"
		done
	fi
	appliers=$(grep -l '^migrated=[1-9]' "$WORK"/r"${round}"_s*.out | wc -l)
	check "round $round (READ COMMITTED): exactly one session applied migrations, the others found nothing to do" \
		[ "$appliers" -eq 1 ]
	check_ledger "$round" "$maxv" "$PER_ROUND"
done

# Rounds 4-5, REPEATABLE READ: a session may lose the race, but only with a
# serialization failure.
rr_round() {
	local round=$1 maxv=$2 new=$3 what=$4 s committed=0 failed=0 bad=""
	run_round "$round" "REPEATABLE READ" "$maxv"
	for ((s = 1; s <= SESSIONS; s++)); do
		local out="$WORK/r${round}_s$s.out"
		if [ "${SESSION_RC[s]}" -eq 0 ] && grep -qx committed "$out" && ! grep -q ERROR "$out"; then
			committed=$((committed + 1))
		elif [ "${SESSION_RC[s]}" -ne 0 ] && grep -q 'ERROR:  40001:' "$out" &&
			! grep 'ERROR' "$out" | grep -vq 'ERROR:  40001:'; then
			failed=$((failed + 1))
		else
			bad="$bad $s"
		fi
	done
	echo "# round $round: $committed sessions committed, $failed failed with SQLSTATE 40001"
	if [ -z "$bad" ]; then
		ok "round $round (REPEATABLE READ, $what): each session committed or failed only with SQLSTATE 40001"
	else
		not_ok "round $round (REPEATABLE READ, $what): each session committed or failed only with SQLSTATE 40001"
		for s in $bad; do
			echo "# session $s exited ${SESSION_RC[s]}:" >&2
			grep -E 'ERROR|DETAIL|CONTEXT' "$WORK/r${round}_s$s.out" | diag
		done
	fi
	check "round $round (REPEATABLE READ): at least one session committed" [ "$committed" -ge 1 ]
	check_ledger "$round" "$maxv" "$new"
}

maxv=$((maxv + PER_ROUND))
rr_round 4 "$maxv" "$PER_ROUND" "new migrations registered concurrently"

# Round 5: the new migrations are registered (and committed) before the race.
# shellcheck disable=SC2046
register_sql $(seq $((maxv + 1)) $((maxv + PER_ROUND))) >"$WORK/preregister.sql"
"${PSQL[@]}" -d "$DB" -o /dev/null -f "$WORK/preregister.sql"
maxv=$((maxv + PER_ROUND))
rr_round 5 "$maxv" "$PER_ROUND" "migrations registered beforehand"

# Backends flush their statistics when they exit; all sessions have.
deadlocks=$(q "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
check "pg_stat_database reports no deadlock in the test database" [ "$deadlocks" = 0 ]

finish
