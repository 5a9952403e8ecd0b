#!/usr/bin/env bash
# durable_events.sh: log_event(..., durable => true) commits independently of
# the caller, through a dynamic background worker.
#
# Proves that a durable event (and not a plain one from the same transaction)
# is in the log after the caller's
#   1. ROLLBACK, 2. error, 3. client being killed (kill -9 of psql) in the
#   middle of its transaction, 4. backend being terminated
#   (pg_terminate_backend) in the middle of its transaction;
# that 5. a migration failing in migrate() leaves a feature_x.migration_failed
# event with version, SQLSTATE and message although the migration rolled
# back; and what happens when the worker cannot do its job:
#   6. every background worker slot busy (workers of earlier durable events
#      waiting for a lock on audit_log): a call fails with 53400 after
#      feature_x.durable_slot_wait and writes nothing; the others complete
#      once the lock is gone;
#   7. the worker waits longer than feature_x.durable_timeout: 57014 for the
#      caller, and the worker still commits the event afterwards;
#   8. the worker fails (a duplicate id after the sequence was set back): the
#      caller gets the worker's SQLSTATE (23505) and message.
# The log verifies at the end.
set -euo pipefail

FX_TEST=durable_events
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

setup_db

# count ACTION: rows of the log with that action.
count() {
	q "SELECT count(*) FROM feature_x.audit_log WHERE action = '$1'"
}

# sqlstate SQL...: run SQL (psql -c each) in $DB, print the SQLSTATE of the
# last statement (00000 on success).
sqlstate() {
	local args=() s
	for s in "$@"; do
		args+=(-c "$s")
	done
	"${PSQL[@]}" -At -v ON_ERROR_STOP=0 -d "$DB" "${args[@]}" -c '\echo sqlstate=:SQLSTATE' 2>&1 |
		sed -n 's/^sqlstate=//p'
}

# 1. ROLLBACK
q "BEGIN;
   SELECT feature_x.log_event('durable_rollback', 'user:1', '{\"why\": \"bad password\"}', true);
   SELECT feature_x.log_event('plain_rollback');
   ROLLBACK;" >/dev/null
check "a durable event survives ROLLBACK (the plain one does not)" \
	test "$(count durable_rollback)/$(count plain_rollback)" = 1/0

# 2. error
got=$(sqlstate "BEGIN" "SELECT feature_x.log_event('durable_error', NULL, '{}', true)" \
	"SELECT feature_x.log_event('plain_error')" "SELECT 1 / 0")
check "a durable event survives an error in its transaction (SQLSTATE $got)" \
	test "$got/$(count durable_error)/$(count plain_error)" = 22012/1/0

# 3. and 4. a transaction that never ends: its client is killed, or its
# backend terminated, while it sleeps.
victim() {
	local name=$1
	cat >"$WORK/$name.sql" <<EOF
BEGIN;
SELECT feature_x.log_event('durable_$name', NULL, '{}', true);
SELECT feature_x.log_event('plain_$name');
SELECT pg_sleep(60);
COMMIT;
EOF
	PGAPPNAME="fx_$name" "${PSQL[@]}" -d "$DB" -f "$WORK/$name.sql" >"$WORK/$name.out" 2>&1 &
	VICTIM_PID=$!
	# Not a job of this shell any more: no "Killed" report when it is killed.
	disown "$VICTIM_PID"
	wait_for "$name is inside its transaction, after both events" 20 \
		"SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'fx_$name'
		   AND query LIKE '%pg_sleep%' AND state = 'active')"
}

victim killed_client
check "killed_client: the durable event is visible while the transaction is still open" \
	test "$(count durable_killed_client)/$(count plain_killed_client)" = 1/0
kill -9 "$VICTIM_PID"
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'fx_killed_client'" >/dev/null
wait_for "the killed client's backend has gone" 20 \
	"SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'fx_killed_client')"
check "killed_client: after the client was killed, the durable event is there and the plain one is not" \
	test "$(count durable_killed_client)/$(count plain_killed_client)" = 1/0

victim terminated
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'fx_terminated'" >/dev/null
wait_for "the terminated backend has gone" 20 \
	"SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'fx_terminated')"
check "terminated: after pg_terminate_backend, the durable event is there and the plain one is not" \
	test "$(count durable_terminated)/$(count plain_terminated)" = 1/0

# 5. a failing migration
q "SELECT feature_x.register_migration('20240101000000_ok', 'ok', 'CREATE TABLE durable_ok (id int)');
   SELECT feature_x.register_migration('20240102000000_bad', 'bad',
	   'CREATE TABLE durable_bad (id int); ALTER TABLE durable_missing ADD COLUMN x int;')" >/dev/null
got=$(sqlstate "SET client_min_messages = warning" "SELECT * FROM feature_x.migrate()")
check "migrate() fails with the migration's SQLSTATE (got $got)" test "$got" = 42P01
check "the failed migrate() rolled back everything (no table, nothing applied)" \
	test "$(q "SELECT to_regclass('durable_ok') IS NULL AND to_regclass('durable_bad') IS NULL
		AND NOT EXISTS (SELECT 1 FROM feature_x.migrations WHERE state = 'applied')")" = t
got=$(q "SELECT table_name || ' ' || (details->>'version') || ' ' || (details->>'sqlstate') || ' '
			|| (details->>'message') || ' ' || (db_user = session_user)
		   FROM feature_x.audit_log WHERE action = 'feature_x.migration_failed'")
check "the failure is a durable event: version, SQLSTATE, message, session user (got: $got)" \
	test "$got" = '20240102000000_bad 20240102000000_bad 42P01 relation "durable_missing" does not exist true'

# 6. no free worker slot.  A session holds audit_log in SHARE mode, so each durable
# event's worker waits for the lock and keeps its slot; with more callers
# than max_worker_processes, some must find no slot.
slots=$(q "SHOW max_worker_processes")
cat >"$WORK/locker.sql" <<'EOF'
BEGIN;
LOCK feature_x.audit_log IN SHARE MODE;
DO $$
BEGIN
	FOR i IN 1..2000 LOOP
		EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'fx_release');
		PERFORM pg_sleep(0.01);
	END LOOP;
END
$$;
COMMIT;
EOF
bg locker 60 env PGAPPNAME=fx_locker "${PSQL[@]}" -d "$DB" -o /dev/null -f "$WORK/locker.sql"
wait_for "the locker holds audit_log" 20 \
	"SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	   WHERE a.application_name = 'fx_locker' AND l.mode = 'ShareLock' AND l.granted
		 AND l.relation = 'feature_x.audit_log'::regclass)"
callers=$((slots + 1))
for ((i = 1; i <= callers; i++)); do
	bg "caller$i" 60 env PGOPTIONS="$PGOPTIONS -c feature_x.durable_slot_wait=500 -c feature_x.durable_timeout=40s" \
		"${PSQL[@]}" -At -v ON_ERROR_STOP=0 -d "$DB" \
		-c "SELECT feature_x.log_event('slot_$i', NULL, '{}', true)" -c '\echo sqlstate=:SQLSTATE'
done
# Each caller ends up with a worker waiting for the lock, or fails once
# feature_x.durable_slot_wait has passed; wait (bounded) until all have.
for ((i = 0; i < 400; i++)); do
	workers=$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'feature_x durable audit event'")
	failed=$(cat "$WORK"/caller*.out | grep -c '^sqlstate=53400' || true)
	[ $((workers + failed)) -ge "$callers" ] && break
	sleep 0.05
done
ok "with audit_log locked: $workers workers wait for the lock, $failed callers failed ($callers callers, max_worker_processes $slots)"
psql -X -q -d "$DB" -c "SET application_name = fx_release; SELECT pg_sleep(0.5)" >/dev/null
reap locker
succeeded=0
failed=0
for ((c = 1; c <= callers; c++)); do
	reap "caller$c"
	case $(sed -n 's/^sqlstate=//p' "$WORK/caller$c.out") in
	00000) succeeded=$((succeeded + 1)) ;;
	53400) failed=$((failed + 1)) ;;
	*) diag "$WORK/caller$c.out" ;;
	esac
done
check "without a free slot, callers fail with 53400 ($failed did); the rest succeed once the lock is released ($succeeded did)" \
	test "$failed" -ge 1 -a $((failed + succeeded)) -eq "$callers"
check "exactly the successful callers' events are in the log" \
	test "$(q "SELECT count(*) FROM feature_x.audit_log WHERE action LIKE 'slot\\_%'")" = "$succeeded"
grep -h -A2 'ERROR' "$WORK"/caller*.out | head -3 | diag

# 7. the worker is slower than feature_x.durable_timeout.
bg locker2 60 env PGAPPNAME=fx_locker2 "${PSQL[@]}" -d "$DB" -o /dev/null \
	-c "BEGIN" -c "LOCK feature_x.audit_log IN SHARE MODE" -c "SELECT pg_sleep(2)" -c "COMMIT"
wait_for "the second locker holds audit_log" 20 \
	"SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'fx_locker2' AND query LIKE '%pg_sleep%')"
got=$(sqlstate "SET feature_x.durable_timeout = 300" "SELECT feature_x.log_event('late', NULL, '{}', true)")
check "a worker slower than feature_x.durable_timeout: the caller gets 57014 (got $got)" test "$got" = 57014
reap locker2
check "... and the worker still commits the event once the lock is free" \
	wait_for "the late event" 20 "SELECT count(*) = 1 FROM feature_x.audit_log WHERE action = 'late'"

# 8. the worker fails: its error reaches the caller.
q "SELECT setval('feature_x.audit_log_id_seq', (SELECT min(id) FROM feature_x.audit_log), false)" >/dev/null
got=$("${PSQL[@]}" -At -v ON_ERROR_STOP=0 -v VERBOSITY=default -d "$DB" \
	-c "SELECT feature_x.log_event('dup', NULL, '{}', true)" -c '\echo sqlstate=:SQLSTATE' 2>&1 | tr '\n' ' ')
q "SELECT setval('feature_x.audit_log_id_seq', (SELECT max(id) FROM feature_x.audit_log))" >/dev/null
check "a failing worker: the caller gets its SQLSTATE and message (got: $got)" \
	grep -q 'duplicate key value violates unique constraint.*sqlstate=23505' <<<"$got"
check "... and nothing was written" test "$(count dup)" = 0

got=$(q "SELECT ok FROM feature_x.verify_audit_log()")
check "the log verifies at the end (got $got)" test "$got" = t

finish
