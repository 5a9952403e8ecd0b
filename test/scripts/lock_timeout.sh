#!/usr/bin/env bash
# lock_timeout.sh: feature_x.lock_timeout bounds the migrations' own lock
# waits, not the wait for the deploy lock.
#
# Proves that:
#   1. a migration that needs a table another session holds in ACCESS
#      EXCLUSIVE mode fails after feature_x.lock_timeout (300ms), well within
#      2 s, with SQLSTATE 55P03 and a message naming the migration
#      ('migration "1" failed: canceling statement due to lock timeout'),
#      and stays pending; once the table is free, migrate() applies it, its
#      SQL seeing lock_timeout = 300ms, and the session's lock_timeout is
#      restored afterwards;
#   2. a migrate() queued behind another deployer (who holds the deploy lock
#      in an open transaction) is NOT cancelled by feature_x.lock_timeout
#      (100ms): after more than 1 s it is still waiting on the advisory lock
#      (pg_locks, pg_stat_activity wait_event_type = 'Lock'), and once the
#      other deployer commits it finishes successfully and applies what that
#      deployer registered;
#   3. statement_timeout (500ms) does cancel a migrate() waiting for the
#      deploy lock (SQLSTATE 57014), and so does the session's own
#      lock_timeout (SQLSTATE 55P03); nothing is applied by either.
set -euo pipefail

FX_TEST=lock_timeout
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

DEPLOY_LOCK="locktype = 'advisory' AND classid = 1719140352 AND objid = 1 AND objsubid = 2
	AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"

setup_db
q "CREATE TABLE t (id int);
   CREATE TABLE lt_signal (name text PRIMARY KEY);
   SELECT feature_x.register_migration('1', 'alter t',
	 'ALTER TABLE t ADD COLUMN c int;
	  CREATE TABLE lt_seen AS SELECT current_setting(''lock_timeout'') AS lock_timeout')" >/dev/null

# hold NAME LOCK_SQL: start a session (application_name fx_NAME) that runs
# LOCK_SQL in a transaction and keeps it open until `release NAME` (at most
# 20 s).
hold() {
	local name=$1 lock_sql=$2
	cat >"$WORK/$name.sql" <<EOF
BEGIN;
$lock_sql
DO \$\$
BEGIN
	FOR i IN 1..2000 LOOP
		EXIT WHEN EXISTS (SELECT 1 FROM lt_signal WHERE name = '$name');
		PERFORM pg_sleep(0.01);
	END LOOP;
END
\$\$;
COMMIT;
\\echo released
EOF
	bg "$name" 30 env PGAPPNAME="fx_$name" "${PSQL[@]}" -d "$DB" -f "$WORK/$name.sql"
}

release() {
	local name=$1
	q "INSERT INTO lt_signal VALUES ('$name')"
	reap "$name"
	if [ "$RC" -ne 0 ] || ! grep -qx released "$WORK/$name.out"; then
		echo "# lock holder $name exited $RC:" >&2
		diag "$WORK/$name.out"
		return 1
	fi
}

# deployer NAME SQL...: run each SQL (one -c each) in one session with
# verbose errors (SQLSTATE shown), in the foreground.  Sets RC and ELAPSED_MS;
# output in $WORK/NAME.out.
deployer() {
	local name=$1 start arg
	shift
	local -a commands=()
	for arg in "$@"; do
		commands+=(-c "$arg")
	done
	start=$(now_ms)
	RC=0
	timeout 20 "${PSQL[@]}" -v VERBOSITY=verbose -At -d "$DB" "${commands[@]}" \
		>"$WORK/$name.out" 2>&1 || RC=$?
	ELAPSED_MS=$(($(now_ms) - start))
}

state_of() {
	q "SELECT state FROM feature_x.migration_status() WHERE version = '$1'"
}

# expect_failure NAME SQLSTATE MESSAGE MIN_MS MAX_MS DESCRIPTION
expect_failure() {
	local name=$1 sqlstate=$2 message=$3 min_ms=$4 max_ms=$5 description=$6
	if [ "$RC" -ne 0 ] && grep -qF "ERROR:  $sqlstate: $message" "$WORK/$name.out"; then
		ok "$description: SQLSTATE $sqlstate, \"$message...\""
	else
		not_ok "$description: SQLSTATE $sqlstate, \"$message...\""
		echo "# exit status $RC, output:" >&2
		diag "$WORK/$name.out"
	fi
	if [ "$ELAPSED_MS" -ge "$min_ms" ] && [ "$ELAPSED_MS" -le "$max_ms" ]; then
		ok "$description: after ${min_ms}..${max_ms} ms"
	else
		not_ok "$description: after ${min_ms}..${max_ms} ms"
	fi
	echo "# $name: failed after $ELAPSED_MS ms"
}

# --- 1. a busy table: feature_x.lock_timeout fails the migration fast ----
hold holder1 "LOCK TABLE t IN ACCESS EXCLUSIVE MODE;"
wait_for "holder1 to lock t" 10 \
	"SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = 't'::regclass
	   AND mode = 'AccessExclusiveLock' AND granted)"

deployer busy_table "SET feature_x.lock_timeout = '300ms'" "SELECT * FROM feature_x.migrate()"
expect_failure busy_table 55P03 'migration "1" failed: canceling statement due to lock timeout' \
	250 2000 "migrate() of a migration altering a locked table fails"
check "the table lock was still held when migrate() gave up" running holder1
check "migration 1 is still pending after the lock timeout" [ "$(state_of 1)" = pending ]
check "migration 1 left no trace (t has no column c)" \
	[ "$(q "SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'c'")" = 0 ]

check "holder1 released the table and committed" release holder1
deployer free_table "SET lock_timeout = '7s'" "SET feature_x.lock_timeout = '300ms'" \
	"SELECT 'migrated=' || string_agg(version, ',') FROM feature_x.migrate()" \
	"SELECT 'after=' || current_setting('lock_timeout')"
check "once the table is free, migrate() applies migration 1" \
	[ "$RC:$(grep -E '^migrated=|ERROR' "$WORK/free_table.out")" = "0:migrated=1" ]
check "the migration's SQL ran with lock_timeout = feature_x.lock_timeout (300ms)" \
	[ "$(q "SELECT lock_timeout FROM lt_seen")" = 300ms ]
check "the session's own lock_timeout (7s) is back after migrate()" \
	[ "$(sed -n 's/^after=//p' "$WORK/free_table.out")" = 7s ]

# --- 2. a busy deploy lock: feature_x.lock_timeout does not apply -------
hold holder2 "SELECT feature_x.register_migration('2', 'create t2', 'CREATE TABLE t2 (id int)');"
wait_for "holder2 to hold the deploy lock" 10 \
	"SELECT EXISTS (SELECT 1 FROM pg_locks WHERE $DEPLOY_LOCK AND granted)"

bg waiter 20 env PGAPPNAME=fx_waiter "${PSQL[@]}" -v VERBOSITY=verbose -At -d "$DB" \
	-c "SET feature_x.lock_timeout = '100ms'" \
	-c "SELECT 'migrated=' || string_agg(version, ',') FROM feature_x.migrate()"
WAITING="SELECT EXISTS (SELECT 1 FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
			 WHERE a.application_name = 'fx_waiter' AND a.wait_event_type = 'Lock'
			   AND a.wait_event = 'advisory' AND NOT l.granted AND l.$DEPLOY_LOCK)"
if wait_for "the waiter to queue for the deploy lock" 10 "$WAITING"; then
	ok "a second migrate() queues for the deploy lock (pg_locks, wait_event_type = 'Lock')"
else
	not_ok "a second migrate() queues for the deploy lock (pg_locks, wait_event_type = 'Lock')"
fi
sleep 1.2
if running waiter && [ "$(q "$WAITING")" = t ]; then
	ok "after 1.2 s it is still waiting: feature_x.lock_timeout = 100ms does not cancel the deploy-lock wait"
else
	not_ok "after 1.2 s it is still waiting: feature_x.lock_timeout = 100ms does not cancel the deploy-lock wait"
	diag "$WORK/waiter.out"
fi

check "holder2 committed its registration and released the deploy lock" release holder2
reap waiter
if [ "$RC:$(grep -E '^migrated=|ERROR' "$WORK/waiter.out")" = "0:migrated=2" ]; then
	ok "the waiting migrate() then succeeds and applies the migration holder2 registered"
else
	not_ok "the waiting migrate() then succeeds and applies the migration holder2 registered"
	echo "# exit status $RC, output:" >&2
	diag "$WORK/waiter.out"
fi
check "migration 2 is applied" [ "$(state_of 2)" = applied ]

# --- 3. statement_timeout and lock_timeout do bound the deploy-lock wait --
q "SELECT feature_x.register_migration('3', 'create t3', 'CREATE TABLE t3 (id int)')" >/dev/null
hold holder3 "SELECT pg_advisory_xact_lock(1719140352, 1);"
wait_for "holder3 to hold the deploy lock" 10 \
	"SELECT EXISTS (SELECT 1 FROM pg_locks WHERE $DEPLOY_LOCK AND granted)"

deployer stmt_timeout "SET statement_timeout = '500ms'" "SELECT * FROM feature_x.migrate()"
expect_failure stmt_timeout 57014 'canceling statement due to statement timeout' \
	450 3000 "statement_timeout = 500ms cancels migrate() waiting for the deploy lock"

deployer session_lock_timeout "SET lock_timeout = '300ms'" "SELECT * FROM feature_x.migrate()"
expect_failure session_lock_timeout 55P03 'canceling statement due to lock timeout' \
	250 3000 "the session's lock_timeout = 300ms cancels migrate() waiting for the deploy lock"

check "migration 3 is still pending" [ "$(state_of 3)" = pending ]
check "holder3 released the deploy lock" release holder3
deployer after "SELECT 'migrated=' || string_agg(version, ',') FROM feature_x.migrate()"
check "then migrate() applies migration 3" \
	[ "$RC:$(grep -E '^migrated=|ERROR' "$WORK/after.out")" = "0:migrated=3" ]

finish
