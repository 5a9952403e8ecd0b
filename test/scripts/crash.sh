#!/usr/bin/env bash
# crash.sh: a backend killed with SIGKILL in the middle of feature_x's work
# leaves, after crash recovery, nothing half done.
#
# Starts its own cluster (PostgreSQL 15 binaries, initdb, Unix socket in a
# private temporary directory, a free port in 5400-5499, run as the postgres
# OS user when started as root; stopped and removed on exit, also on
# failure), as standby.sh does; the environment's cluster is not used.
#
# Each crash case is one function crash_case_NAME, run by run_case NAME in
# the order of CRASH_CASES.  A case starts a victim session
# (start_victim SQL: application_name fx_crash_victim), waits until it
# sleeps where the case wants it (await_victim: pg_stat_activity shows it in
# pg_sleep), and calls kill_victim, which snapshots every table of schema
# feature_x as other sessions see it, sends SIGKILL to the victim's backend,
# waits for crash recovery to finish (bounded) and checks that the server
# log shows it happened.  The case then states what must hold; every case
# also gets, from run_case: the tables of schema feature_x are exactly as
# snapshotted (kill_victim), migration_status() is consistent (every
# checksum_ok, applied exactly where the migration's objects exist, see
# ledger_consistent), no advisory lock is left, and a clean migrate()
# afterwards completes.
#
# Every case also gets, from run_case, the audit log's checks (see
# audit_consistent): each audited table agrees exactly with what its log
# replays, verify_audit_log() is ok without sealing, then new audited
# writes work, are logged, seal and verify.
#
# Cases:
#   migrate_one      migrate() killed inside the single pending migration:
#                    it stays pending, none of its objects exist.
#   migrate_second   migrate() killed inside the second of two pending
#                    migrations, after the first was applied and recorded in
#                    the same call: both stay pending, neither's objects exist.
#   rollback         rollback() killed inside a down script: the migrations
#                    stay applied, their objects still exist.
#   register         a deployer's transaction killed after
#                    register_migration() and assign_role(): neither the
#                    migration nor the assignment exists.
#   audit_scan       INSERT ... SELECT of 200,000 rows into an audited table
#                    killed while producing its rows (before the audit
#                    trigger): none of them, and no entry, exists.
#   audit_bulk       the same statement killed after the audit trigger
#                    appended its 200,000 entries (a later AFTER trigger
#                    sleeps; the log's id sequence shows them drawn): no
#                    row and no entry of the killed transaction exists.
#   audit_precommit  a transaction killed after its UPDATE, DELETE and
#                    INSERT ... SELECT on the audited table completed (their
#                    entries written), before COMMIT: none of it remains.
#   durable_after    a transaction killed after log_event(durable => true)
#                    returned: the event is there exactly once (it committed
#                    on its own), the transaction's audited insert is not.
#   durable_waiting  the caller of log_event(durable => true) killed while it
#                    waits for its worker, which another session's lock on
#                    audit_log holds up: crash recovery ends the worker too,
#                    so the event is not there, nor anything of the caller.
#   durable_worker   the durable event's worker itself killed while it waits
#                    for that lock: the postmaster reinitialises, the caller
#                    loses its connection, no event row exists.
set -euo pipefail

FX_TEST=crash
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

PGBIN=${FX_PGBIN:-/usr/lib/postgresql/15/bin}
CDB=fx_crash
CRASH_CASES=(migrate_one migrate_second rollback register audit_scan audit_bulk audit_precommit
	durable_after durable_waiting durable_worker)

# --- the cluster (helpers in common.bash) ---------------------------------
cluster_dir fx_crash_cluster

PORT=$(free_port)

crash_cleanup() {
	local rc=$? name
	set +e
	for name in "${!BG_PID[@]}"; do
		kill "${BG_PID[$name]}" 2>/dev/null
	done
	if [ "$rc" -ne 0 ] || [ "$failures" -gt 0 ]; then
		echo "# last lines of the server log:" >&2
		tail -n 30 "$CL/server.log" 2>/dev/null | diag
	fi
	if [ -f "$CL/data/postmaster.pid" ]; then
		as_pg "$PGBIN/pg_ctl" -D "$CL/data" -m immediate -t 20 stop >/dev/null 2>&1
	fi
	rm -rf "$CL"
	(exit "$rc")
	cleanup
}
trap crash_cleanup EXIT

# qc SQL: run SQL in $CDB on the private cluster, unaligned tuples only.
qc() {
	"${PSQL[@]}" -h "$CL" -p "$PORT" -U postgres -d "$CDB" -At -c "$1"
}

as_pg "$PGBIN/initdb" -D "$CL/data" -U postgres --auth=trust -E UTF8 --no-sync \
	>"$CL/initdb.log" 2>&1 || {
	not_ok "initdb"
	diag "$CL/initdb.log"
	exit 1
}
as_pg tee -a "$CL/data/postgresql.conf" >/dev/null <<EOF
listen_addresses = ''
unix_socket_directories = '$CL'
port = $PORT
restart_after_crash = on
fsync = off
max_connections = 20
shared_buffers = 16MB
EOF
if as_pg "$PGBIN/pg_ctl" -D "$CL/data" -l "$CL/server.log" -w -t 30 start >/dev/null; then
	ok "private cluster started (port $PORT, socket in $CL)"
else
	not_ok "private cluster started (port $PORT, socket in $CL)"
	exit 1
fi
"${PSQL[@]}" -h "$CL" -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE $CDB"
STARTED=$(qc "SELECT pg_postmaster_start_time()")

# Migrations sleep only in the victim's session (fx_crash.sleep = on), so
# that the same, unchanged scripts run quickly when migrate() is repeated.
SLEEP="SELECT pg_catalog.pg_sleep(CASE WHEN current_setting(''fx_crash.sleep'', true) = ''on'' THEN 60 ELSE 0 END);"
qc "SET client_min_messages = warning;
	CREATE EXTENSION feature_x;
	SELECT feature_x.seed_default_roles();
	SELECT feature_x.assign_role('alice', 'Viewer', 'org:1');
	SELECT feature_x.register_migration('1', 'base', 'CREATE TABLE crash_1 (id int PRIMARY KEY);',
		'DROP TABLE crash_1;');
	SELECT count(*) FROM feature_x.migrate()" >/dev/null
ok "extension created, RBAC seeded, migration 1 applied"

# The audited table of the audit cases, with committed history: inserts,
# updates and deletes.  Its AFTER INSERT trigger zz_crash_sleep fires after
# feature_x's (triggers fire in name order) and sleeps only where
# fx_crash.trigger_sleep = on.  audit_replay_diff() (audit_replay.sql, shared
# with soak.sh) counts the rows on which the table and the replay of its log
# disagree.
qc "SET client_min_messages = error;
	CREATE TABLE crash_audited (id int PRIMARY KEY, v text, n int);
	SELECT feature_x.enable_audit('crash_audited');
	CREATE FUNCTION crash_sleep() RETURNS trigger LANGUAGE plpgsql AS \$\$
	BEGIN
		PERFORM pg_sleep(CASE WHEN current_setting('fx_crash.trigger_sleep', true) = 'on' THEN 60 ELSE 0 END);
		RETURN NULL;
	END \$\$;
	CREATE TRIGGER zz_crash_sleep AFTER INSERT ON crash_audited
		FOR EACH STATEMENT EXECUTE FUNCTION crash_sleep();
	INSERT INTO crash_audited SELECT g, 'v' || g, g FROM generate_series(1, 2000) g;
	UPDATE crash_audited SET v = 'u' || id WHERE id % 3 = 0;
	UPDATE crash_audited SET n = -n WHERE id % 6 = 0;
	DELETE FROM crash_audited WHERE id % 10 = 0;
	SELECT feature_x.seal_audit_log()" >/dev/null
"${PSQL[@]}" -h "$CL" -p "$PORT" -U postgres -d "$CDB" -f "$(dirname "$0")/audit_replay.sql"
ok "audited table crash_audited with committed history (inserts, updates, deletes), log sealed"

# --- crash machinery --------------------------------------------------------
# The content of every table of schema feature_x, one md5 per table.
TABLE_SUMS=$(qc "SELECT string_agg(format(
		'SELECT %L || '':'' || coalesce(md5(string_agg(t::text, E''\\n'' ORDER BY t::text)), ''-'') FROM %s t',
		c.relname, c.oid::regclass), ' UNION ALL ' ORDER BY c.relname)
	  FROM pg_class c
	 WHERE c.relnamespace = 'feature_x'::regnamespace AND c.relkind IN ('r', 'p')")
snapshot() {
	qc "SELECT string_agg(s, ' ' ORDER BY s) FROM ($TABLE_SUMS) sums(s)"
}

# start_victim SQL: run SQL in the background, in a session of its own with
# fx_crash.sleep = on.
start_victim() {
	printf '%s\n' "$1" >"$WORK/victim.sql"
	bg victim 90 env PGAPPNAME=fx_crash_victim PGOPTIONS="${PGOPTIONS:-} -c fx_crash.sleep=on" \
		"${PSQL[@]}" -h "$CL" -p "$PORT" -U postgres -d "$CDB" -f "$WORK/victim.sql"
}

# await_backend DESCRIPTION SQL [JOB]: until SQL returns a backend's pid
# (bounded, and only while the background job JOB, default victim, runs);
# sets VICTIM_PID.
await_backend() {
	local i job=${3:-victim}
	VICTIM_PID=""
	for ((i = 0; i < 400; i++)); do
		VICTIM_PID=$(qc "$2")
		if [ -n "$VICTIM_PID" ]; then
			ok "victim backend $VICTIM_PID is in the middle of $1"
			return 0
		fi
		running "$job" || break
		sleep 0.05
	done
	not_ok "victim reached the middle of $1"
	diag "$WORK/$job.out"
	return 1
}

# await_victim DESCRIPTION: until the victim sleeps in pg_sleep (bounded);
# sets VICTIM_PID.
await_victim() {
	await_backend "$1" "SELECT pid FROM pg_stat_activity
						 WHERE application_name = 'fx_crash_victim' AND wait_event = 'PgSleep'"
}

FAULTS=0
# kill_victim: snapshot, SIGKILL the victim's backend, wait for crash
# recovery (bounded) and check that it happened.
kill_victim() {
	local before_kills before_recoveries i
	BEFORE=$(snapshot)
	before_kills=$(grep -c "was terminated by signal 9" "$CL/server.log" || true)
	before_recoveries=$(grep -c "database system was not properly shut down; automatic recovery in progress" \
		"$CL/server.log" || true)
	kill -KILL "$VICTIM_PID"
	FAULTS=$((FAULTS + 1))
	reap victim
	check "the victim's client saw its connection end (psql exit status $RC)" [ "$RC" -ne 0 ]
	for ((i = 0; i < 600; i++)); do
		qc "SELECT 1" >/dev/null 2>&1 && break
		sleep 0.1
	done
	check "the server accepts connections again after crash recovery" [ "$(qc "SELECT 1" 2>&1)" = 1 ]
	check "the server log shows the backend killed and crash recovery" \
		[ "$(grep -c "was terminated by signal 9" "$CL/server.log")|$(grep -c \
			"database system was not properly shut down; automatic recovery in progress" \
			"$CL/server.log")" = "$((before_kills + 1))|$((before_recoveries + 1))" ]
}

# ledger_consistent: every migration's state agrees with the existence of
# the table its up script creates (crash_<version>), checksums verify.
ledger_consistent() {
	local bad
	bad=$(qc "SELECT string_agg(format('%s is %s but table crash_%s %s', s.version, s.state, s.version,
					CASE WHEN to_regclass('crash_' || s.version) IS NULL THEN 'does not exist' ELSE 'exists' END), '; ')
				FROM feature_x.migration_status() s
			   WHERE (s.state = 'applied') <> (to_regclass('crash_' || s.version) IS NOT NULL)
				  OR NOT s.checksum_ok")
	if [ -z "$bad" ]; then
		ok "ledger consistent: applied exactly where the migration's table exists, every checksum verifies"
	else
		not_ok "ledger consistent: $bad"
	fi
}

run_case() {
	local name=$1 after locks
	echo "# crash case: $name ($(date +%T))"
	"crash_case_$name"
	after=$(snapshot)
	check "$name: every table of schema feature_x is as before the crash" [ "$after" = "$BEFORE" ]
	ledger_consistent
	locks=$(qc "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
	check "$name: no advisory lock is held after recovery ($locks)" [ "$locks" = 0 ]
	if qc "SET client_min_messages = warning; SELECT count(*) FROM feature_x.migrate()" >"$WORK/remigrate.out" 2>&1; then
		ok "$name: migrate() afterwards completes"
	else
		not_ok "$name: migrate() afterwards completes"
		diag "$WORK/remigrate.out"
	fi
	ledger_consistent
	audit_consistent "$name"
}

# audit_consistent NAME: crash_audited agrees with its log, the log verifies
# without sealing (read-only), and afterwards audited writes work, are
# logged, seal and verify.
audit_consistent() {
	local name=$1 before after
	check "$name: crash_audited agrees exactly with what its log replays" [ "$(qc "SELECT audit_replay_diff('crash_audited')")" = 0 ]
	check "$name: verify_audit_log() is ok (read-only, without sealing)" \
		[ "$(qc "BEGIN READ ONLY; SELECT ok || coalesce(' ' || reason, '') FROM feature_x.verify_audit_log(); COMMIT")" = true ]
	before=$(qc "SELECT count(*) FROM feature_x.audit_log")
	after=$(qc "SET client_min_messages = error;
		INSERT INTO crash_audited SELECT coalesce(max(id), 0) + 1, '$name', 0 FROM crash_audited;
		UPDATE crash_audited SET n = n + 1 WHERE id = (SELECT max(id) FROM crash_audited);
		DELETE FROM crash_audited WHERE id = (SELECT min(id) FROM crash_audited);
		SELECT count(*) FROM feature_x.audit_log")
	check "$name: new audited writes afterwards are logged (3 entries)" [ "$((after - before))" = 3 ]
	check "$name: and the table still agrees with its log" [ "$(qc "SELECT audit_replay_diff('crash_audited')")" = 0 ]
	check "$name: seal_audit_log() seals them, verify_audit_log() is ok" \
		[ "$(qc "SELECT feature_x.seal_audit_log() > 0; SELECT ok || coalesce(' ' || reason, '') FROM feature_x.verify_audit_log()" | tr '\n' ' ')" = "t true " ]
}

# not_in_log XID: no audit entry of transaction XID (the victim's) exists.
not_in_log() {
	[ -n "$1" ] && [ "$(qc "SELECT count(*) FROM feature_x.audit_log WHERE xid(txid) = '$1'::xid")" = 0 ]
}

# victim_xid: the victim's transaction id, before it is killed.
victim_xid() {
	qc "SELECT backend_xid FROM pg_stat_activity WHERE pid = $VICTIM_PID"
}

# --- the cases --------------------------------------------------------------
crash_case_migrate_one() {
	qc "SELECT feature_x.register_migration('2', 'slow',
		'CREATE TABLE crash_2 (id int); INSERT INTO crash_2 SELECT generate_series(1, 10000);
		 CREATE INDEX ON crash_2 (id); $SLEEP', 'DROP TABLE crash_2;')" >/dev/null
	start_victim "SELECT * FROM feature_x.migrate();"
	await_victim "migrate() running migration 2" || return 0
	kill_victim
	check "migrate_one: migration 2 is still pending" [ "$(qc "SELECT state FROM feature_x.migrations WHERE version = '2'")" = pending ]
	check "migrate_one: none of its objects exist" [ "$(qc "SELECT count(*) FROM pg_class WHERE relname LIKE 'crash_2%'")" = 0 ]
}

crash_case_migrate_second() {
	qc "SELECT feature_x.register_migration('3', 'quick', 'CREATE TABLE crash_3 (id int);', 'DROP TABLE crash_3;');
		SELECT feature_x.register_migration('4', 'slow', 'CREATE TABLE crash_4 (id int); $SLEEP',
			'DROP TABLE crash_4;')" >/dev/null
	start_victim "SELECT * FROM feature_x.migrate();"
	await_victim "migrate() running migration 4, migration 3 applied by the same call" || return 0
	kill_victim
	check "migrate_second: migrations 3 and 4 are both still pending" \
		[ "$(qc "SELECT string_agg(state, ',' ORDER BY version) FROM feature_x.migrations WHERE version IN ('3', '4')")" = "pending,pending" ]
	check "migrate_second: neither's table exists" \
		[ "$(qc "SELECT count(*) FROM pg_class WHERE relname IN ('crash_3', 'crash_4')")" = 0 ]
}

crash_case_rollback() {
	qc "SELECT feature_x.register_migration('5', 'slow down', 'CREATE TABLE crash_5 (id int);',
		'DROP TABLE crash_5; $SLEEP')" >/dev/null
	qc "SET client_min_messages = warning; SELECT count(*) FROM feature_x.migrate()" >/dev/null
	start_victim "SELECT * FROM feature_x.rollback('1');"
	await_victim "rollback() running the down script of migration 5" || return 0
	kill_victim
	check "rollback: every migration above 1 is still applied" \
		[ "$(qc "SELECT count(*) FROM feature_x.migrations WHERE state <> 'applied'")" = 0 ]
	check "rollback: the table the down script dropped still exists" \
		[ "$(qc "SELECT to_regclass('crash_5') IS NOT NULL")" = t ]
}

crash_case_register() {
	start_victim "BEGIN;
SELECT feature_x.register_migration('6', 'never', 'CREATE TABLE crash_6 (id int);');
SELECT feature_x.assign_role('bob', 'Editor');
SELECT pg_sleep(60);
COMMIT;"
	await_victim "a transaction that registered a migration and assigned a role" || return 0
	kill_victim
	check "register: migration 6 is not registered" \
		[ "$(qc "SELECT count(*) FROM feature_x.migrations WHERE version = '6'")" = 0 ]
	check "register: bob has no assignment, and no permission" \
		[ "$(qc "SELECT count(*) FROM feature_x.user_roles WHERE user_id = 'bob'")|$(qc "SELECT feature_x.has_permission('bob', 'doc:update')")" = "0|f" ]
}

crash_case_audit_scan() {
	local rows
	rows=$(qc "SELECT count(*) FROM crash_audited")
	start_victim "INSERT INTO crash_audited
	SELECT g, 'victim', g FROM generate_series(100001, 300000) g
	 WHERE g <> 200000 OR pg_sleep(60) IS NOT NULL;"
	await_victim "INSERT ... SELECT of 200,000 audited rows, producing its rows" || return 0
	kill_victim
	check "audit_scan: crash_audited has its $rows rows, none of the victim's" \
		[ "$(qc "SELECT count(*) || '|' || count(*) FILTER (WHERE v = 'victim') FROM crash_audited")" = "$rows|0" ]
}

crash_case_audit_bulk() {
	local rows seq xid
	rows=$(qc "SELECT count(*) FROM crash_audited")
	seq=$(qc "SELECT last_value FROM feature_x.audit_log_id_seq")
	start_victim "SET fx_crash.trigger_sleep = on;
INSERT INTO crash_audited SELECT g, 'victim', g FROM generate_series(100001, 300000) g;"
	await_victim "INSERT ... SELECT of 200,000 audited rows, after the audit trigger" || return 0
	xid=$(victim_xid)
	check "audit_bulk: the victim had drawn ids for its 200,000 entries before it was killed" \
		[ "$(qc "SELECT last_value - $seq >= 200000 FROM feature_x.audit_log_id_seq")" = t ]
	kill_victim
	check "audit_bulk: crash_audited has its $rows rows, none of the victim's" \
		[ "$(qc "SELECT count(*) || '|' || count(*) FILTER (WHERE v = 'victim') FROM crash_audited")" = "$rows|0" ]
	check "audit_bulk: the log holds no entry of the killed transaction ($xid)" not_in_log "$xid"
}

crash_case_audit_precommit() {
	local rows seq xid
	rows=$(qc "SELECT count(*) FROM crash_audited")
	seq=$(qc "SELECT last_value FROM feature_x.audit_log_id_seq")
	start_victim "BEGIN;
UPDATE crash_audited SET v = 'victim' WHERE id % 2 = 0;
DELETE FROM crash_audited WHERE id % 7 = 0;
INSERT INTO crash_audited SELECT g, 'victim', g FROM generate_series(100001, 200000) g;
SELECT pg_sleep(60);
COMMIT;"
	await_victim "a transaction whose UPDATE, DELETE and INSERT ... SELECT on crash_audited completed" || return 0
	xid=$(victim_xid)
	check "audit_precommit: the victim had drawn ids for its entries" \
		[ "$(qc "SELECT last_value - $seq >= 100000 FROM feature_x.audit_log_id_seq")" = t ]
	kill_victim
	check "audit_precommit: crash_audited has its $rows rows, none changed by the victim" \
		[ "$(qc "SELECT count(*) || '|' || count(*) FILTER (WHERE v = 'victim') FROM crash_audited")" = "$rows|0" ]
	check "audit_precommit: the log holds no entry of the killed transaction ($xid)" not_in_log "$xid"
}

crash_case_durable_after() {
	local xid
	start_victim "BEGIN;
INSERT INTO crash_audited VALUES (-1, 'victim', 0);
SELECT feature_x.log_event('crash_durable', 'durable_after', '{\"case\": 1}', durable => true);
SELECT pg_sleep(60);
COMMIT;"
	await_victim "a transaction that logged a durable event and inserted an audited row" || return 0
	xid=$(victim_xid)
	kill_victim
	check "durable_after: the durable event is there exactly once" \
		[ "$(qc "SELECT count(*) FROM feature_x.audit_log WHERE action = 'crash_durable' AND table_name = 'durable_after'")" = 1 ]
	check "durable_after: the event was committed by another transaction than the victim's" \
		[ "$(qc "SELECT count(*) FROM feature_x.audit_log WHERE action = 'crash_durable' AND xid(txid) <> '$xid'::xid")" = 1 ]
	check "durable_after: the victim's audited insert and its entry are not there" \
		[ "$(qc "SELECT count(*) FROM crash_audited WHERE id = -1")|$(not_in_log "$xid" && echo none)" = "0|none" ]
}

# start_locker: another session holds SHARE on audit_log (which blocks the
# durable worker's insert) until crash recovery ends it.
start_locker() {
	printf '%s\n' "SET statement_timeout = 0; BEGIN; LOCK TABLE feature_x.audit_log IN SHARE MODE; SELECT pg_sleep(80);" >"$WORK/locker.sql"
	bg locker 90 env PGAPPNAME=fx_crash_locker \
		"${PSQL[@]}" -h "$CL" -p "$PORT" -U postgres -d "$CDB" -f "$WORK/locker.sql"
	await_backend "holding SHARE on audit_log (locker)" \
		"SELECT pid FROM pg_stat_activity WHERE application_name = 'fx_crash_locker' AND wait_event = 'PgSleep'" locker
}

# start_durable_victim CASE: a transaction assigns a role (not an audited
# write, which would wait for the locker itself) and logs a durable event,
# whose worker waits for the locker.
start_durable_victim() {
	start_victim "SET feature_x.durable_timeout = '80s';
BEGIN;
SELECT feature_x.assign_role('dora', 'Viewer');
SELECT feature_x.log_event('crash_durable', '$1', '{}', durable => true);
COMMIT;"
}

WORKER_WAITING="SELECT pid FROM pg_stat_activity
				 WHERE backend_type = 'feature_x durable audit event' AND wait_event_type = 'Lock'"

crash_case_durable_waiting() {
	start_locker || return 0
	start_durable_victim durable_waiting
	await_backend "a durable event's worker waiting for the lock" "$WORKER_WAITING" || return 0
	await_backend "log_event(durable => true) waiting for its worker" \
		"SELECT pid FROM pg_stat_activity WHERE application_name = 'fx_crash_victim' AND wait_event_type = 'Extension'" ||
		return 0
	kill_victim
	reap locker
	check "durable_waiting: the locker's session was ended by crash recovery too" [ "$RC" -ne 0 ]
	check "durable_waiting: the event is not there (its worker was ended before committing), nor the caller's role assignment" \
		[ "$(qc "SELECT count(*) FROM feature_x.audit_log WHERE table_name = 'durable_waiting'")|$(qc "SELECT count(*) FROM feature_x.user_roles WHERE user_id = 'dora'")" = "0|0" ]
}

crash_case_durable_worker() {
	start_locker || return 0
	start_durable_victim durable_worker
	await_backend "a durable event's worker waiting for the lock (the worker is the victim)" "$WORKER_WAITING" ||
		return 0
	kill_victim
	reap locker
	check "durable_worker: the caller's connection ended with the crash of the worker" \
		grep -q "crash of another server process\|server closed the connection unexpectedly" "$WORK/victim.out"
	check "durable_worker: no event row exists, nor the caller's role assignment" \
		[ "$(qc "SELECT count(*) FROM feature_x.audit_log WHERE table_name = 'durable_worker'")|$(qc "SELECT count(*) FROM feature_x.user_roles WHERE user_id = 'dora'")" = "0|0" ]
}

for name in "${CRASH_CASES[@]}"; do
	run_case "$name"
done

check "$FAULTS backends killed, one per case (${#CRASH_CASES[@]})" [ "$FAULTS" -eq "${#CRASH_CASES[@]}" ]
check "crash recovery reinitialised the server without restarting the postmaster" \
	[ "$(qc "SELECT pg_postmaster_start_time()")" = "$STARTED" ]
check "RBAC data survived every crash (alice reads at org:1)" \
	[ "$(qc "SELECT feature_x.has_permission('alice', 'doc:read', 'org:1/x')")" = t ]

finish
