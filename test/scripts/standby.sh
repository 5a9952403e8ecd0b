#!/usr/bin/env bash
# standby.sh: feature_x works on a streaming hot standby, read-only, and the
# standby's permission caches follow the changes it replays.
#
# Starts its own primary and hot standby (PostgreSQL 15 binaries, initdb +
# pg_basebackup -R, Unix sockets in a private temporary directory, free ports
# in 5400-5499, run as the postgres OS user when started as root; both are
# stopped and removed on exit, also on failure).  The environment's cluster
# is not used.  On the primary: CREATE EXTENSION feature_x, two migrations
# registered and the first migrated, seed_default_roles(), role assignments,
# a table with a row-level security policy on actor_has_permission().  Once
# the standby has replayed all of it (pg_last_wal_replay_lsn() >= the
# primary's pg_current_wal_lsn(), bounded wait), proves on the standby:
#   - it is in recovery; has_permission() (global and scoped),
#     actor_has_permission() after set_actor(), the RLS policy (as a
#     non-superuser), require_permission() (passes, or raises 42501) and
#     user_permissions() answer as on the primary;
#   - migration_status(), health() (in_recovery true, pending 1, drift
#     true: the setup's tables were created outside a migration) and
#     require_version() (passes, or raises 55000) work;
#   - schema_fingerprint(), schema_objects() and drift() answer exactly as
#     on the primary, and after an out-of-band CREATE TABLE on the primary
#     is replayed, drift() on the standby reports it, again as the primary
#     does, and health() there still works;
#   - writes fail with SQLSTATE 25006 (read_only_sql_transaction):
#     register_migration(), migrate(), assign_role(), grant_permission(),
#     log_event() (plain and durable), seal_audit_log(), purge_audit_log();
#     set_actor() is not a write and succeeds;
#   - the audit log (events, seals) reads as on the primary and
#     verify_audit_log() is ok there without sealing, also while the
#     primary has an unsealed tail;
#   - in ONE long-lived standby session whose cache holds the old answers,
#     unassign_role(), deny_permission() and grant_permission() committed on
#     the primary change the answers of has_permission(),
#     actor_has_permission() and the RLS count at the session's first
#     statement after the standby replayed them (cache invalidated by replay),
#     and not before the primary commits.
set -euo pipefail

FX_TEST=standby
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

PGBIN=${FX_PGBIN:-/usr/lib/postgresql/15/bin}
SBDB=fx_standby
READER=fx_standby_reader

# --- the two clusters (helpers in common.bash) ---------------------------
cluster_dir fx_standby_clusters

PRIMARY_PORT=$(free_port)
STANDBY_PORT=$(free_port "$PRIMARY_PORT")

stop_clusters() {
	local node
	for node in standby primary; do
		if [ -f "$CL/$node/postmaster.pid" ]; then
			as_pg "$PGBIN/pg_ctl" -D "$CL/$node" -m immediate -t 20 stop >/dev/null 2>&1 || true
		fi
	done
}

standby_cleanup() {
	local rc=$? name
	set +e # (exit "$rc") below must not end this handler early
	for name in "${!SESSION_FD[@]}"; do
		eval "exec ${SESSION_FD[$name]}>&-"
	done
	SESSION_FD=()
	if [ "$rc" -ne 0 ] || [ "$failures" -gt 0 ]; then
		for name in primary standby; do
			if [ -f "$CL/$name.log" ]; then
				echo "# last lines of the $name's log:" >&2
				tail -n 20 "$CL/$name.log" | diag
			fi
		done
	fi
	stop_clusters
	rm -rf "$CL"
	(exit "$rc")
	cleanup
}
trap standby_cleanup EXIT

# psql_on NODE ARGS...: psql on the primary or the standby, database $SBDB.
psql_on() {
	local node=$1 port
	shift
	port=$PRIMARY_PORT
	[ "$node" = standby ] && port=$STANDBY_PORT
	"${PSQL[@]}" -h "$CL" -p "$port" -U postgres -d "$SBDB" "$@"
}

qp() { psql_on primary -At -c "$1"; }
qs() { psql_on standby -At -c "$1"; }

# --- long-lived sessions (as in rbac_invalidation.sh) ------------------------
# open_node_session NAME NODE: psql (for at most 100 s) reading the FIFO
# $WORK/NAME.in, held open read-write by this shell; output in $WORK/NAME.out.
# run NAME SQL sends SQL and a marker line, waits (bounded) for the marker and
# sets REPLY_OUT to the output in between.
open_node_session() {
	local name=$1 node=$2 port=$PRIMARY_PORT
	[ "$node" = standby ] && port=$STANDBY_PORT
	open_session "$name" -h "$CL" -p "$port" -U postgres -d "$SBDB"
}

# run NAME SQL: send and await; the output is in REPLY_OUT.
run() {
	send "$1" "$2"
	await "$1"
}

# expect DESCRIPTION EXPECTED WHERE SQL: WHERE is a session name, or
# primary/standby for a new connection.
expect() {
	local description=$1 expected=$2 where=$3 sql=$4 got
	case $where in
	primary | standby) got=$(psql_on "$where" -At -c "$sql" 2>&1) || true ;;
	*)
		run "$where" "$sql" || true
		got=$REPLY_OUT
		;;
	esac
	if [ "$got" = "$expected" ]; then
		ok "$description"
	else
		not_ok "$description"
		printf "SQL (%s): %s\n" "$where" "$sql" | diag
		printf "expected: %s\n" "$expected" | diag
		printf "got:      %s\n" "$got" | diag
	fi
}

# expect_sqlstate DESCRIPTION SQLSTATE SQL: SQL ends on the standby with that
# SQLSTATE (00000: success).
expect_sqlstate() {
	local description=$1 want=$2 sql=$3 got
	got=$(psql_on standby -At -v ON_ERROR_STOP=0 -c "$sql" -c '\echo sqlstate=:SQLSTATE' 2>&1 |
		sed -n 's/^sqlstate=//p') || true
	if [ "$got" = "$want" ]; then
		ok "$description"
	else
		not_ok "$description"
		printf "SQL: %s\n" "$sql" | diag
		echo "# expected SQLSTATE $want, got ${got:-none}" >&2
	fi
}

# wait_replay DESCRIPTION: until the standby has replayed everything the
# primary has written so far (bounded).
wait_replay() {
	local lsn i
	lsn=$(qp "SELECT pg_current_wal_lsn()")
	for ((i = 0; i < 400; i++)); do
		[ "$(qs "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ] && {
			ok "the standby replayed $1 (up to $lsn)"
			return 0
		}
		sleep 0.05
	done
	not_ok "the standby replayed $1 (up to $lsn) within 20 s"
	return 1
}

# set_actor() returns void, which -At would print as an empty line.
set_actor() {
	printf "SELECT feature_x.set_actor('%s') \\\\g /dev/null\\n" "$1"
}

count_as() {
	echo "SET ROLE $READER; BEGIN;"
	set_actor "$1"
	echo "SELECT count(*) FROM docs; COMMIT; RESET ROLE;"
}

# --- start both ------------------------------------------------------------
as_pg "$PGBIN/initdb" -D "$CL/primary" -U postgres --auth=trust -E UTF8 --no-sync \
	>"$CL/initdb.log" 2>&1 || {
	not_ok "initdb of the primary"
	diag "$CL/initdb.log"
	exit 1
}
as_pg tee -a "$CL/primary/postgresql.conf" >/dev/null <<EOF
listen_addresses = ''
unix_socket_directories = '$CL'
port = $PRIMARY_PORT
wal_level = replica
max_wal_senders = 4
hot_standby = on
fsync = off
max_connections = 30
shared_buffers = 16MB
EOF
if as_pg "$PGBIN/pg_ctl" -D "$CL/primary" -l "$CL/primary.log" -w -t 30 start >/dev/null; then
	ok "primary started (port $PRIMARY_PORT, socket in $CL)"
else
	not_ok "primary started (port $PRIMARY_PORT, socket in $CL)"
	exit 1
fi

if as_pg "$PGBIN/pg_basebackup" -h "$CL" -p "$PRIMARY_PORT" -U postgres -D "$CL/standby" \
	-R -X stream -c fast --no-sync >"$CL/basebackup.log" 2>&1; then
	echo "port = $STANDBY_PORT" | as_pg tee -a "$CL/standby/postgresql.conf" >/dev/null
	if as_pg "$PGBIN/pg_ctl" -D "$CL/standby" -l "$CL/standby.log" -w -t 30 start >/dev/null; then
		ok "hot standby started from pg_basebackup -R (port $STANDBY_PORT)"
	else
		not_ok "hot standby started from pg_basebackup -R (port $STANDBY_PORT)"
		exit 1
	fi
else
	not_ok "pg_basebackup of the primary"
	diag "$CL/basebackup.log"
	exit 1
fi
got=$("${PSQL[@]}" -h "$CL" -p "$PRIMARY_PORT" -U postgres -d postgres -At \
	-c "SELECT state FROM pg_stat_replication" 2>&1) || true
check "the standby streams from the primary (pg_stat_replication: $got)" [ "$got" = streaming ]

# --- set up on the primary ----------------------------------------------
"${PSQL[@]}" -h "$CL" -p "$PRIMARY_PORT" -U postgres -d postgres -c "CREATE DATABASE $SBDB"
qp "CREATE EXTENSION feature_x;
	SELECT feature_x.register_migration('20240101120000_init', 'init',
		'CREATE TABLE app_users (id bigint PRIMARY KEY, email text);', 'DROP TABLE app_users;');
	SELECT feature_x.register_migration('20240102090000_orders', 'orders',
		'CREATE TABLE orders (id bigint PRIMARY KEY);', 'DROP TABLE orders;');
	SET client_min_messages = warning;
	SELECT count(*) FROM feature_x.migrate('20240101120000_init');
	SELECT feature_x.seed_default_roles();
	SELECT feature_x.create_role('Reader');
	SELECT feature_x.grant_permission('Reader', 'doc:read');
	SELECT feature_x.create_role('Empty');
	SELECT feature_x.assign_role('alice', 'Viewer', 'org:1');
	SELECT feature_x.assign_role('alice', 'Viewer', 'org:2');
	SELECT feature_x.assign_role('bob', 'Editor');
	SELECT feature_x.assign_role('carol', 'Manager', 'org:1');
	SELECT feature_x.assign_role('dave', 'Reader');
	SELECT feature_x.assign_role('erin', 'Empty');
	CREATE TABLE docs (id int PRIMARY KEY, scope text);
	INSERT INTO docs VALUES (1, 'org:1'), (2, 'org:1/project:42'), (3, 'org:2'),
		(4, 'org:2'), (5, 'org:3');
	ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
	CREATE POLICY docs_read ON docs FOR SELECT
		USING (feature_x.actor_has_permission('doc:read', scope));
	CREATE ROLE $READER NOLOGIN;
	GRANT SELECT ON docs TO $READER" >/dev/null
qp "SELECT feature_x.log_event('login', 'user:' || g) FROM generate_series(1, 3) g;
	SELECT feature_x.log_event('login_failed', 'user:4', '{\"ok\": false}', true);
	SELECT feature_x.seal_audit_log();
	SELECT feature_x.log_event('tail', 'user:5');" >/dev/null
ok "primary: extension created, migration applied, roles seeded and assigned, events logged and sealed"
wait_replay "the setup" || exit 1

# --- reads on the standby ----------------------------------------------------
open_node_session S standby
expect "standby: pg_is_in_recovery()" t S "SELECT pg_is_in_recovery();"
expect "standby: has_permission() answers (alice org:1 read t, org:3 read f, global f; bob global update t, delete f; carol org:1/p delete t)" \
	"t|f|f|t|f|t" S \
	"SELECT feature_x.has_permission('alice', 'doc:read', 'org:1'),
			feature_x.has_permission('alice', 'doc:read', 'org:3'),
			feature_x.has_permission('alice', 'doc:read'),
			feature_x.has_permission('bob', 'doc:update'),
			feature_x.has_permission('bob', 'doc:delete'),
			feature_x.has_permission('carol', 'doc:delete', 'org:1/project:7');"
expect "standby: the same checks again, from the session's cache" "t|f|f|t|f|t" S \
	"SELECT feature_x.has_permission('alice', 'doc:read', 'org:1'),
			feature_x.has_permission('alice', 'doc:read', 'org:3'),
			feature_x.has_permission('alice', 'doc:read'),
			feature_x.has_permission('bob', 'doc:update'),
			feature_x.has_permission('bob', 'doc:delete'),
			feature_x.has_permission('carol', 'doc:delete', 'org:1/project:7');"
expect "standby: set_actor() works and actor_has_permission() answers" "alice|t|f" S \
	"BEGIN;
$(set_actor alice)
	 SELECT feature_x.current_actor(), feature_x.actor_has_permission('doc:read', 'org:2'),
			feature_x.actor_has_permission('doc:delete', 'org:2'); COMMIT;"
expect "standby: the actor does not outlive its transaction" "" S \
	"SELECT feature_x.current_actor();"
expect "standby: the RLS policy lets alice (non-superuser reader) see 4 of 5 rows" 4 S \
	"$(count_as alice)"
expect "standby: require_permission() passes for an allowed check" ok S \
	"SELECT 'ok' FROM feature_x.require_permission('bob', 'doc:update');"
expect_sqlstate "standby: require_permission() raises 42501 for a denied check" 42501 \
	"SELECT feature_x.require_permission('bob', 'doc:delete')"
expect "standby: user_permissions() lists alice's grants" "*:read|allow|Viewer|org:1
*:read|allow|Viewer|org:2" standby \
	"SELECT * FROM feature_x.user_permissions('alice', 'org:1') UNION ALL
	 SELECT * FROM feature_x.user_permissions('alice', 'org:2/x') ORDER BY 4"
expect "standby: migration_status() shows one applied and one pending migration" \
	"20240101120000_init|applied|t
20240102090000_orders|pending|t" standby \
	"SELECT version, state, checksum_ok FROM feature_x.migration_status()"
expect "standby: health() works and reports in_recovery and drift" \
	"true|false|20240101120000_init|1|1|true" standby \
	"SELECT h->>'in_recovery', h->>'ok', h->>'current_version', h->>'applied', h->>'pending', h->>'drift'
	   FROM feature_x.health() h"
expect "standby: health() answers as on the primary but for in_recovery" \
	"$(qp "SELECT (h - 'in_recovery')::text FROM feature_x.health() h")" standby \
	"SELECT (h - 'in_recovery')::text FROM feature_x.health() h"
expect "standby: schema_fingerprint() (default scope, and of schema public) is the primary's" \
	"$(qp "SELECT feature_x.schema_fingerprint(); SELECT feature_x.schema_fingerprint(ARRAY['public'])")" standby \
	"SELECT feature_x.schema_fingerprint(); SELECT feature_x.schema_fingerprint(ARRAY['public'])"
expect "standby: schema_objects() lists the primary's inventory" \
	"$(qp "SELECT md5(string_agg(object_type || ' ' || object_identity || ' ' || hash, E'\n')) FROM feature_x.schema_objects()")" standby \
	"SELECT md5(string_agg(object_type || ' ' || object_identity || ' ' || hash, E'\n')) FROM feature_x.schema_objects()"
DRIFT_SQL="SELECT object_type || ' ' || object_identity || ' ' || change FROM feature_x.drift()"
drift_primary=$(qp "$DRIFT_SQL")
check "primary: drift() reports the setup's out-of-band objects (docs among them)" \
	grep -qx "table public.docs added" <<<"$drift_primary"
expect "standby: drift() answers exactly as on the primary" "$drift_primary" standby "$DRIFT_SQL"
expect "standby: require_version() passes for the applied version" ok standby \
	"SELECT 'ok' FROM feature_x.require_version('20240101120000_init')"
expect_sqlstate "standby: require_version() raises 55000 for the pending version" 55000 \
	"SELECT feature_x.require_version('20240102090000_orders')"

# --- writes on the standby ---------------------------------------------------
expect_sqlstate "standby: register_migration() fails with 25006" 25006 \
	"SELECT feature_x.register_migration('20240103000000_x', 'x', 'CREATE TABLE x (id int);')"
expect_sqlstate "standby: migrate() (one migration pending) fails with 25006" 25006 \
	"SELECT * FROM feature_x.migrate()"
expect_sqlstate "standby: assign_role() fails with 25006" 25006 \
	"SELECT feature_x.assign_role('zoe', 'Viewer')"
expect_sqlstate "standby: grant_permission() fails with 25006" 25006 \
	"SELECT feature_x.grant_permission('Empty', 'doc:read')"
expect_sqlstate "standby: log_event() fails with 25006" 25006 \
	"SELECT feature_x.log_event('x')"
expect_sqlstate "standby: log_event(durable => true) fails with 25006" 25006 \
	"SELECT feature_x.log_event('x', durable => true)"
expect_sqlstate "standby: seal_audit_log() fails with 25006" 25006 \
	"SELECT feature_x.seal_audit_log()"
expect_sqlstate "standby: purge_audit_log() fails with 25006" 25006 \
	"SELECT feature_x.purge_audit_log(now())"
expect "standby: the audit log and its seal read as on the primary" \
	"$(qp "SELECT string_agg(action || ':' || table_name, ',' ORDER BY id) FROM feature_x.audit_log;
		   SELECT seal_id || ' ' || row_count FROM feature_x.audit_seals")" standby \
	"SELECT string_agg(action || ':' || table_name, ',' ORDER BY id) FROM feature_x.audit_log;
	 SELECT seal_id || ' ' || row_count FROM feature_x.audit_seals"
expect "standby: verify_audit_log() is ok, checks every row (the unsealed tail too) and seals nothing" \
	"true 5
1" standby \
	"SELECT ok::text || ' ' || checked || coalesce(' ' || reason, '') FROM feature_x.verify_audit_log();
	 SELECT count(*) FROM feature_x.audit_seals"
expect_sqlstate "standby: set_actor() is not a write (succeeds, SQLSTATE 00000)" 00000 \
	"BEGIN; SELECT feature_x.set_actor('alice'); COMMIT"
expect "standby: nothing was written (ledger unchanged on the primary)" "2|1" primary \
	"SELECT count(*), count(*) FILTER (WHERE state = 'applied') FROM feature_x.migrations"

# --- changes on the primary, replayed into the same standby session --------
# S's cache holds the old answers (checked several times above and here).
open_node_session primary_tx primary
expect "standby session S: old answers (alice org:2 read, bob update, dave read, erin read)" \
	"t|t|t|f" S \
	"SELECT feature_x.has_permission('alice', 'doc:read', 'org:2'),
			feature_x.has_permission('bob', 'doc:update'),
			feature_x.has_permission('dave', 'doc:read'),
			feature_x.has_permission('erin', 'doc:read');"
expect "primary: a transaction unassigns alice at org:2, denies doc:update to Editor, revokes Reader's doc:read and grants Empty doc:read" \
	"" primary_tx \
	"BEGIN;
	 SELECT feature_x.unassign_role('alice', 'Viewer', 'org:2');
	 SELECT feature_x.deny_permission('Editor', 'doc:update');
	 SELECT feature_x.revoke_permission('Reader', 'doc:read');
	 SELECT feature_x.grant_permission('Empty', 'doc:read');"
expect "standby session S: still the old answers while the primary's transaction is open" \
	"t|t|t|f" S \
	"SELECT feature_x.has_permission('alice', 'doc:read', 'org:2'),
			feature_x.has_permission('bob', 'doc:update'),
			feature_x.has_permission('dave', 'doc:read'),
			feature_x.has_permission('erin', 'doc:read');"
expect "primary: the transaction commits" "" primary_tx "COMMIT;"
wait_replay "the RBAC changes"
expect "standby session S: the first statement after replay sees the new answers" \
	"f|f|f|t" S \
	"SELECT feature_x.has_permission('alice', 'doc:read', 'org:2'),
			feature_x.has_permission('bob', 'doc:update'),
			feature_x.has_permission('dave', 'doc:read'),
			feature_x.has_permission('erin', 'doc:read');"
expect "standby session S: actor_has_permission() for alice at org:2 is now f" f S \
	"BEGIN;
$(set_actor alice)
	 SELECT feature_x.actor_has_permission('doc:read', 'org:2'); COMMIT;"
expect "standby session S: the RLS count for alice is now 2" 2 S "$(count_as alice)"
expect "standby: a new session agrees" "f|f|f|t" standby \
	"SELECT feature_x.has_permission('alice', 'doc:read', 'org:2'),
			feature_x.has_permission('bob', 'doc:update'),
			feature_x.has_permission('dave', 'doc:read'),
			feature_x.has_permission('erin', 'doc:read')"

# A second round in the same session: drop a role on the primary.
expect "standby session S: carol may delete at org:1 (cached)" "t
t" S \
	"SELECT feature_x.has_permission('carol', 'doc:delete', 'org:1');
	 SELECT feature_x.has_permission('carol', 'doc:delete', 'org:1');"
expect "primary: drop_role('Manager')" "" primary "SELECT feature_x.drop_role('Manager')"
wait_replay "drop_role"
expect "standby session S: carol may no longer delete" f S \
	"SELECT feature_x.has_permission('carol', 'doc:delete', 'org:1');"

# Out-of-band DDL on the primary, replayed: the standby's drift() and
# fingerprint follow it.
qp "SET client_min_messages = error; CREATE TABLE late_oob (id int)" >/dev/null
wait_replay "an out-of-band CREATE TABLE"
drift_primary=$(qp "$DRIFT_SQL")
check "primary: drift() reports the new table" grep -qx "table public.late_oob added" <<<"$drift_primary"
expect "standby: drift() reports it too, exactly as the primary" "$drift_primary" standby "$DRIFT_SQL"
expect "standby: schema_fingerprint() follows, still the primary's" \
	"$(qp "SELECT feature_x.schema_fingerprint()")" standby "SELECT feature_x.schema_fingerprint()"
expect "standby: health() still works there (in recovery, drift true)" "true|true" standby \
	"SELECT h->>'in_recovery', h->>'drift' FROM feature_x.health() h"

end_sessions

finish
