#!/usr/bin/env bash
# rbac_invalidation.sh: every session's permission cache follows RBAC changes
# transactionally: never stale, never early.
#
# Two long-lived sessions, A (the administrator) and B (the application), fed
# through FIFOs and synchronised on marker lines.  B (and A) first check a
# permission several times, so that their caches hold the answer.  Then, for
# each kind of change (unassign_role, deny_permission, revoke_permission,
# drop_role, and the false -> true changes grant_permission, assign_role and
# create_role(inherits)), A makes the change in an open transaction; proves:
#   - A's very next statement sees the new answer (its own change, at once);
#   - B, and a fresh session C, still see the old answer while A is
#     uncommitted (no dirty read through the cache);
#   - once A commits, B's very next statement sees the new answer.
# Also proves:
#   - a change rolled back (ROLLBACK, or ROLLBACK TO SAVEPOINT followed by
#     COMMIT) is never seen by B, and A returns to the old answer;
#   - actor_has_permission() in a row-level security policy, queried by a
#     non-superuser after set_actor(), follows a committed unassign_role and
#     assign_role at B's next count (and not before A commits), with A seeing
#     its own change at once;
#   - an assignment with expires_at = now() + 2 s is honoured, then, without
#     any RBAC change, has_permission() and the RLS policy (warm caches) stop
#     granting once it has expired;
#   - the cache is never stale: B inside an open READ COMMITTED transaction
#     sees a change at its next statement after A commits; and a check whose
#     statement snapshot predates A's commit (B's statement waits for A's
#     advisory lock, so it starts before A commits and finishes after) leaves
#     no stale answer behind, neither for READ COMMITTED nor after a
#     REPEATABLE READ transaction that began before A's commit ended.
set -euo pipefail

FX_TEST=rbac_invalidation
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

READER="fx_rbac_reader_$$"

# ---------------------------------------------------------------------
# Long-lived sessions.  open_session NAME starts psql (for at most 100 s)
# reading the FIFO $WORK/NAME.in, which this shell holds open read-write (so
# opening it never blocks) until end_sessions; the output goes to
# $WORK/NAME.out.  send NAME SQL writes SQL followed by a
# marker line; await NAME waits (bounded) for that marker and sets REPLY_OUT
# to the session's output since the previous marker.
# ---------------------------------------------------------------------
# run NAME SQL: send and await; the output is in REPLY_OUT.  Not to be run
# in a subshell (the session counters must persist).
run() {
	send "$1" "$2"
	await "$1"
}

# expect DESCRIPTION EXPECTED NAME SQL: SQL run in session NAME (or, for
# NAME = fresh, in a new connection) prints exactly EXPECTED.
expect() {
	local description=$1 expected=$2 name=$3 sql=$4 got
	if [ "$name" = fresh ]; then
		got=$(q "$sql" 2>&1) || true
	else
		run "$name" "$sql" || true
		got=$REPLY_OUT
	fi
	if [ "$got" = "$expected" ]; then
		ok "$description"
	else
		not_ok "$description"
		printf "SQL (%s): %s\n" "$name" "$sql" | diag
		printf "expected: %s\n" "$expected" | diag
		printf "got:      %s\n" "$got" | diag
	fi
}

# answer USER [PERMISSION [SCOPE]]: the SQL of a has_permission() check.
answer() {
	local scope=NULL
	[ -n "${3:-}" ] && scope="'$3'"
	echo "SELECT feature_x.has_permission('$1', '${2:-doc:read}', $scope);"
}

# warm USER BOOL [PERMISSION [SCOPE]]: B checks three times and A once, so
# that both caches hold the answer.
warm() {
	local user=$1 want=$2 sql
	sql=$(answer "$user" "${3:-}" "${4:-}")
	expect "$user: B answers $want (three checks, its cache is warm)" "$want
$want
$want" B "$sql $sql $sql"
	expect "$user: A answers $want" "$want" A "$sql"
}

# change_case LABEL USER OLD NEW CHANGE_SQL [PERMISSION [SCOPE]]
change_case() {
	local label=$1 user=$2 old=$3 new=$4 change=$5 perm=${6:-} scope=${7:-} sql
	sql=$(answer "$user" "$perm" "$scope")
	warm "$user" "$old" "$perm" "$scope"
	expect "$label: A runs it in an open transaction" "" A "BEGIN; $change"
	expect "$label: A's next statement sees its own change ($new)" "$new" A "$sql"
	expect "$label: B still sees $old while A is uncommitted" "$old" B "$sql"
	expect "$label: a fresh session still sees $old while A is uncommitted" "$old" fresh "$sql"
	expect "$label: A commits" "" A "COMMIT;"
	expect "$label: B's very next statement after A's commit sees $new" "$new" B "$sql"
	expect "$label: B keeps answering $new" "$new" B "$sql"
	expect "$label: a fresh session sees $new" "$new" fresh "$sql"
}

rbac_cleanup() {
	local rc=$?
	set +e # (exit "$rc") below must not end this handler early
	close_sessions
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" \
		-c "DROP ROLE IF EXISTS \"$READER\"" >/dev/null 2>&1 ||
		echo "# could not drop database $DB or role $READER" >&2
	(exit "$rc")
	cleanup
}
trap rbac_cleanup EXIT

# ---------------------------------------------------------------------
setup_db
q "SELECT feature_x.seed_default_roles();
   SELECT feature_x.create_role('Reader');
   SELECT feature_x.grant_permission('Reader', 'doc:read');
   SELECT feature_x.create_role('Temp');
   SELECT feature_x.grant_permission('Temp', 'doc:read');
   SELECT feature_x.create_role('Empty');
   SELECT feature_x.create_role('Child');
   SELECT feature_x.assign_role('u_unassign', 'Viewer');
   SELECT feature_x.assign_role('u_scoped', 'Viewer', 'org:1');
   SELECT feature_x.assign_role('u_deny', 'Editor');
   SELECT feature_x.assign_role('u_revoke', 'Reader');
   SELECT feature_x.assign_role('u_drop', 'Temp');
   SELECT feature_x.assign_role('u_grant', 'Empty');
   SELECT feature_x.assign_role('u_inherit', 'Child');
   SELECT feature_x.assign_role('u_rollback', 'Viewer');
   SELECT feature_x.assign_role('u_savepoint', 'Viewer');
   SELECT feature_x.assign_role('u_rc', 'Viewer');
   SELECT feature_x.assign_role('u_race', 'Viewer');
   SELECT feature_x.assign_role('u_race_other', 'Viewer');
   SELECT feature_x.assign_role('u_rr', 'Viewer');
   SELECT feature_x.assign_role('u_rr_other', 'Viewer');
   SELECT feature_x.assign_role('alice', 'Viewer', 'org:1');
   SELECT feature_x.assign_role('alice', 'Viewer', 'org:2');
   CREATE TABLE inv_other (id int);
   CREATE TABLE docs (id int PRIMARY KEY, scope text);
   INSERT INTO docs VALUES (1, 'org:1'), (2, 'org:1'), (3, 'org:1'),
	   (4, 'org:1/project:42'), (5, 'org:1/project:42'),
	   (6, 'org:2'), (7, 'org:2'), (8, 'org:2'), (9, 'org:2'),
	   (10, 'org:3'), (11, NULL);
   ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
   CREATE POLICY docs_read ON docs FOR SELECT
	   USING (feature_x.actor_has_permission('doc:read', scope));
   CREATE ROLE \"$READER\" NOLOGIN NOSUPERUSER NOBYPASSRLS;
   GRANT SELECT ON docs TO \"$READER\"" >/dev/null

open_session A -d "$DB"
open_session B -d "$DB"
run B "SELECT pg_backend_pid();"
b_pid=$REPLY_OUT
run A "SELECT pg_backend_pid();"
a_pid=$REPLY_OUT
check "sessions A and B are connected (pids $a_pid, $b_pid)" [ "${a_pid:+a}${b_pid:+b}" = ab ]

# --- each kind of change, committed ------------------------------------
change_case "unassign_role" u_unassign t f \
	"SELECT feature_x.unassign_role('u_unassign', 'Viewer');"
change_case "unassign_role at a scope (checked below it)" u_scoped t f \
	"SELECT feature_x.unassign_role('u_scoped', 'Viewer', 'org:1');" doc:read org:1/project:42
change_case "deny_permission on an inherited grant" u_deny t f \
	"SELECT feature_x.deny_permission('Editor', 'doc:read');"
change_case "revoke_permission" u_revoke t f \
	"SELECT feature_x.revoke_permission('Reader', 'doc:read');"
change_case "drop_role" u_drop t f \
	"SELECT feature_x.drop_role('Temp');"
change_case "grant_permission (false -> true)" u_grant f t \
	"SELECT feature_x.grant_permission('Empty', 'doc:read');"
change_case "assign_role (false -> true)" u_new f t \
	"SELECT feature_x.assign_role('u_new', 'Viewer');"
change_case "create_role with inherits (false -> true)" u_inherit f t \
	"SELECT feature_x.create_role('Child', NULL, ARRAY['Viewer']);"

# --- rolled-back changes -------------------------------------------------
sql=$(answer u_rollback)
warm u_rollback t
expect "rollback: A unassigns in an open transaction" "" A \
	"BEGIN; SELECT feature_x.unassign_role('u_rollback', 'Viewer');"
expect "rollback: A sees f inside its transaction" f A "$sql"
expect "rollback: B sees t meanwhile" t B "$sql"
expect "rollback: A rolls back" "" A "ROLLBACK;"
expect "rollback: A's next statement sees t again" t A "$sql"
expect "rollback: B still sees t" t B "$sql"
expect "rollback: a fresh session sees t" t fresh "$sql"

sql=$(answer u_savepoint)
warm u_savepoint t
expect "savepoint: A unassigns after a savepoint" "" A \
	"BEGIN; SAVEPOINT s; SELECT feature_x.unassign_role('u_savepoint', 'Viewer');"
expect "savepoint: A sees f" f A "$sql"
expect "savepoint: A rolls back to the savepoint and sees t again" t A "ROLLBACK TO SAVEPOINT s; $sql"
expect "savepoint: A commits" "" A "COMMIT;"
expect "savepoint: A sees t after commit" t A "$sql"
expect "savepoint: B sees t after A's commit" t B "$sql"

# --- actor_has_permission() in a row-level security policy ---------------
# set_actor() returns void, which -At would print as an empty line.
set_actor() {
	printf "SELECT feature_x.set_actor('%s') \\g /dev/null\n" "$1"
}
count_as() {
	echo "SET ROLE \"$READER\"; BEGIN;"
	set_actor "$1"
	echo "SELECT count(*) FROM docs; COMMIT; RESET ROLE;"
}
expect "RLS: without an actor the reader sees no row" 0 B \
	"SET ROLE \"$READER\"; SELECT count(*) FROM docs; RESET ROLE;"
expect "RLS: alice (Viewer at org:1 and org:2) sees 9 rows, twice" "9
9" B "$(count_as alice) $(count_as alice)"
expect "RLS: A unassigns alice at org:2 in an open transaction" "" A \
	"BEGIN; SELECT feature_x.unassign_role('alice', 'Viewer', 'org:2');"
expect "RLS: A sees 5 rows for alice at once" 5 A \
	"SAVEPOINT r; SET LOCAL ROLE \"$READER\";
$(set_actor alice)
	 SELECT count(*) FROM docs; ROLLBACK TO SAVEPOINT r;"
expect "RLS: B still counts 9 while A is uncommitted" 9 B "$(count_as alice)"
expect "RLS: A commits" "" A "COMMIT;"
expect "RLS: B's next count is 5" 5 B "$(count_as alice)"
expect "RLS: A assigns alice at org:3 in an open transaction" "" A \
	"BEGIN; SELECT feature_x.assign_role('alice', 'Viewer', 'org:3');"
expect "RLS: B still counts 5 while A is uncommitted" 5 B "$(count_as alice)"
expect "RLS: A commits" "" A "COMMIT;"
expect "RLS: B's next count is 6" 6 B "$(count_as alice)"
expect "RLS: the counted rows are exactly alice's scopes" "1,2,3,4,5,10" B \
	"SET ROLE \"$READER\"; BEGIN;
$(set_actor alice)
	 SELECT string_agg(id::text, ',' ORDER BY id) FROM docs; COMMIT; RESET ROLE;"

# --- expiry without any RBAC change --------------------------------------
expect "expiry: A assigns u_exp (global) and bob (org:1) until now() + 2 s" "" A \
	"SELECT feature_x.assign_role('u_exp', 'Viewer', NULL, now() + interval '2 seconds');
	 SELECT feature_x.assign_role('bob', 'Viewer', 'org:1', now() + interval '2 seconds');"
sql=$(answer u_exp)
expect "expiry: B answers t for u_exp before expiry (three checks)" "t|t
t|t
t|t" B "$(for i in 1 2 3; do
	echo "SELECT feature_x.has_permission('u_exp', 'doc:read'),
	             clock_timestamp() < (SELECT expires_at FROM feature_x.user_roles
	                                   WHERE user_id = 'u_exp');"
done)"
expect "expiry: B counts 5 rows for bob before expiry, twice" "5
5" B "$(count_as bob) $(count_as bob)"
if wait_for "the assignments of u_exp and bob to expire" 10 \
	"SELECT bool_and(expires_at < clock_timestamp()) FROM feature_x.user_roles
	  WHERE user_id IN ('u_exp', 'bob')"; then
	ok "expiry: the assignments expired (bounded wait)"
else
	not_ok "expiry: the assignments expired (bounded wait)"
fi
expect "expiry: B's next check answers f" f B "$sql"
expect "expiry: B's next count for bob is 0" 0 B "$(count_as bob)"
expect "expiry: the expired assignments are still there (no RBAC change)" 2 fresh \
	"SELECT count(*) FROM feature_x.user_roles WHERE user_id IN ('u_exp', 'bob')"

# --- never stale: checks whose snapshot or transaction spans A's commit --
sql=$(answer u_rc)
warm u_rc t
expect "open transaction: B begins (READ COMMITTED) and sees t" t B "BEGIN; $sql"
expect "open transaction: A unassigns u_rc and commits" "" A \
	"SELECT feature_x.unassign_role('u_rc', 'Viewer');"
expect "open transaction: B's next statement (same READ COMMITTED transaction) sees f" f B "$sql"
expect "open transaction: B's plain SQL agrees: no assignment left" 0 B \
	"SELECT count(*) FROM feature_x.user_roles WHERE user_id = 'u_rc'; COMMIT;"
expect "open transaction: B sees f after its transaction" f B "$sql"

warm u_race t
expect "snapshot race: A takes an advisory lock and unassigns u_race" "" A \
	"BEGIN; SELECT pg_advisory_xact_lock(4242); SELECT feature_x.unassign_role('u_race', 'Viewer');"
# B's statement takes its snapshot, then waits for A's lock; when A commits,
# it checks another user (a cache miss, which reads the RBAC tables and so
# processes A's invalidation) and then u_race.
send B "SELECT pg_advisory_xact_lock(4242) IS NULL AS waited,
	feature_x.has_permission('u_race_other', 'doc:read') AS other,
	feature_x.has_permission('u_race', 'doc:read') AS race;"
if wait_for "B to wait for A's advisory lock" 10 \
	"SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $b_pid AND locktype = 'advisory'
	                   AND NOT granted)"; then
	ok "snapshot race: B's statement waits for A's lock"
else
	not_ok "snapshot race: B's statement waits for A's lock"
fi
expect "snapshot race: A commits" "" A "COMMIT;"
await B || true
got=$REPLY_OUT
check "snapshot race: B's statement completes (answers for its own snapshot: $got)" \
	[ -n "$got" ]
expect "snapshot race: B's next statement sees f" f B "$(answer u_race)"
expect "snapshot race: B still sees f a statement later" f B "$(answer u_race)"

warm u_rr t
expect "repeatable read: B begins and takes its snapshot" t B \
	"BEGIN ISOLATION LEVEL REPEATABLE READ; $(answer u_rr)"
expect "repeatable read: A unassigns u_rr and commits" "" A \
	"SELECT feature_x.unassign_role('u_rr', 'Viewer');"
# Checks read RBAC data like catalog lookups: the latest committed state, at
# every isolation level, so a revocation is never hidden by an old snapshot.
expect "repeatable read: B, on its old snapshot, reads a table and checks another user; u_rr is already revoked" "0
t
f" B "SELECT count(*) FROM inv_other; $(answer u_rr_other) $(answer u_rr)"
expect "repeatable read: B commits" "" B "COMMIT;"
expect "repeatable read: B's next transaction sees f" f B "$(answer u_rr)"

end_sessions

finish
