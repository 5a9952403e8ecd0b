#!/usr/bin/env bash
# actor_isolation.sh: an ordinary login role cannot forge the actor of
# another transaction or session, and set_actor() affects only its own
# transaction.
#
# Two sessions A and B of the same ordinary login role (password set, so
# that this works over TCP as under pg_virtualenv).  Proves:
#   - while A's transaction has set_actor('alice'), B (same role) has no
#     actor and answers actor_has_permission() false;
#   - after A commits, and after a rolled-back set_actor(), A's next
#     transaction has no actor (a pooled connection carries nothing over);
#   - the actor cannot be forged at connection time (PGOPTIONS
#     -c feature_x.actor=...): the placeholder is discarded with a warning
#     when the library loads, so current_actor() is NULL;
#   - nor by SET before the library is loaded: same.
set -euo pipefail

FX_TEST=actor_isolation
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

APP="fx_actor_app_$$"
APP_PASSWORD=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

actor_cleanup() {
	local rc=$?
	set +e
	close_sessions
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS $APP" >/dev/null 2>&1
	(exit "$rc")
	cleanup
}
trap actor_cleanup EXIT

setup_db
"${PSQL[@]}" -d postgres -c "CREATE ROLE $APP LOGIN PASSWORD '$APP_PASSWORD'"
q "SELECT feature_x.seed_default_roles();
   SELECT feature_x.assign_role('alice', 'Viewer', 'org:1')" >/dev/null

as_app() {
	PGUSER=$APP PGPASSWORD=$APP_PASSWORD "$@"
}

# expect DESCRIPTION EXPECTED SESSION SQL
expect() {
	local description=$1 expected=$2 session=$3 sql=$4
	send "$session" "$sql"
	await "$session" || true
	if [ "$REPLY_OUT" = "$expected" ]; then
		ok "$description"
	else
		not_ok "$description"
		printf 'expected: %s\ngot:      %s\n' "$expected" "$REPLY_OUT" | diag
	fi
}

PGUSER=$APP PGPASSWORD=$APP_PASSWORD open_session A -d "$DB"
PGUSER=$APP PGPASSWORD=$APP_PASSWORD open_session B -d "$DB"

expect "A: set_actor('alice') in an open transaction; A acts for alice" "alice|t" A \
	"BEGIN; SELECT feature_x.set_actor('alice') \\g /dev/null
	 SELECT feature_x.current_actor(), feature_x.actor_has_permission('doc:read', 'org:1');"
expect "B (same role, meanwhile): no actor, no permission" "|f" B \
	"SELECT feature_x.current_actor(), feature_x.actor_has_permission('doc:read', 'org:1');"
expect "B: the setting itself is empty in B" "" B "SHOW feature_x.actor;"
send B "SET feature_x.actor = 'mallory';"
await B || true
check "B: SET feature_x.actor fails with permission denied" \
	grep -q 'ERROR:  permission denied to set parameter "feature_x.actor"' <<<"$REPLY_OUT"
expect "A: still alice, unaffected by B" "alice" A "SELECT feature_x.current_actor();"
expect "A: after COMMIT, the next transaction has no actor" "|f" A \
	"COMMIT; SELECT feature_x.current_actor(), feature_x.actor_has_permission('doc:read', 'org:1');"
expect "A: after a rolled-back set_actor(), no actor" "" A \
	"BEGIN; SELECT feature_x.set_actor('alice') \\g /dev/null
	 ROLLBACK; SELECT feature_x.current_actor();"
close_sessions
for s in A B; do
	reap "$s"
	check "session $s ended normally" [ "$RC" -eq 0 ]
done

got=$(as_app env PGOPTIONS="${PGOPTIONS:-} -c feature_x.actor=alice" \
	psql -X -q -At -d "$DB" -c "SELECT coalesce(feature_x.current_actor(), 'none')" 2>"$WORK/opt.err") || true
check "PGOPTIONS -c feature_x.actor=alice does not set an actor (got $got)" [ "$got" = none ]
check "...and the server warns that the setting was refused" \
	grep -q 'permission denied to set parameter "feature_x.actor"' "$WORK/opt.err"

got=$(as_app psql -X -q -At -d "$DB" -c "SET feature_x.actor = 'alice'" \
	-c "SELECT coalesce(feature_x.current_actor(), 'none')" 2>"$WORK/set.err") || true
check "SET feature_x.actor before the library is loaded does not set an actor (got $got)" [ "$got" = none ]

finish
