# shellcheck shell=bash disable=SC2034
# common.bash: shared helpers of the scripted multi-session tests in
# test/scripts/*.sh.  Sourced, never run (run_all.sh runs only *.sh).
#
# The sourcing script sets FX_TEST (a short name) and `set -euo pipefail`.
# It gets:
#   DB, WORK          a database name and a scratch directory unique to this run
#   PSQL              the psql command line every session uses
#   setup_db          creates $DB with CREATE EXTENSION feature_x
#   q SQL             runs SQL in $DB, unaligned tuples only (-At)
#   ok/not_ok/check   TAP output; finish prints the plan and sets the exit code
#   bg NAME SECS ...  starts a command in the background under `timeout`
#   wait_for DESC SECS SQL   polls until SQL returns t (bounded)
#   cluster_dir, as_pg, port_taken, free_port   for scripts that run
#                     clusters of their own (crash.sh, standby.sh)
# The EXIT trap stops the background jobs started here and drops $DB, also when
# the script fails or is interrupted.

: "${FX_TEST:?FX_TEST must be set before sourcing common.bash}"

DB="fx_${FX_TEST}_$$"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fx_${FX_TEST}.XXXXXX")

# Bound every connection attempt and every statement, so that a hang cannot
# stall CI; tests that exercise statement_timeout set their own, lower value.
export PGCONNECT_TIMEOUT=10
export PGOPTIONS="${PGOPTIONS:-} -c statement_timeout=30s"

PSQL=(psql -X -v ON_ERROR_STOP=1 -q)

tests=0
failures=0
declare -A BG_PID=()

ok() {
	tests=$((tests + 1))
	echo "ok $tests - $1"
}

not_ok() {
	tests=$((tests + 1))
	failures=$((failures + 1))
	echo "not ok $tests - $1"
}

# check DESCRIPTION COMMAND...: ok when COMMAND succeeds.
check() {
	local description=$1
	shift
	if "$@"; then
		ok "$description"
	else
		not_ok "$description"
	fi
}

# Print a file (or stdin) as TAP diagnostics.
diag() {
	if [ $# -gt 0 ]; then
		sed 's/^/# /' "$@" >&2
	else
		sed 's/^/# /' >&2
	fi
}

q() {
	"${PSQL[@]}" -At -d "$DB" -c "$1"
}

setup_db() {
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE \"$DB\""
	q "CREATE EXTENSION feature_x"
}

# bg NAME SECONDS COMMAND...: run COMMAND in the background, killed after
# SECONDS; stdout and stderr go to $WORK/NAME.out.  `reap NAME` waits for it
# and sets RC to its exit status.
bg() {
	local name=$1 seconds=$2
	shift 2
	timeout --kill-after=5 "$seconds" "$@" >"$WORK/$name.out" 2>&1 &
	BG_PID[$name]=$!
}

reap() {
	local name=$1
	RC=0
	wait "${BG_PID[$name]}" || RC=$?
	unset "BG_PID[$name]"
}

running() {
	kill -0 "${BG_PID[$1]}" 2>/dev/null
}

# wait_for DESCRIPTION SECONDS SQL: poll every 50 ms until SQL returns t.
wait_for() {
	local description=$1 seconds=$2 sql=$3 i
	for ((i = 0; i < seconds * 20; i++)); do
		[ "$(q "$sql")" = t ] && return 0
		sleep 0.05
	done
	echo "# timed out after ${seconds}s waiting for: $description" >&2
	return 1
}

# Milliseconds since the epoch.
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

finish() {
	echo "1..$tests"
	if [ "$failures" -gt 0 ]; then
		echo "# $FX_TEST: $failures of $tests failed" >&2
		exit 1
	fi
}

cleanup() {
	local rc=$? name
	trap - EXIT
	for name in "${!BG_PID[@]}"; do
		kill "${BG_PID[$name]}" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 ||
		echo "# could not drop database $DB" >&2
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Long-lived psql sessions fed through a FIFO, for tests that interleave
# sessions.  Each session's output goes to $WORK/NAME.out.
declare -A SESSION_FD=() SESSION_SENT=() SESSION_SEEN=()

# open_session NAME PSQL_CONNECTION_ARGS...: psql (for at most 100 s) reading
# the FIFO $WORK/NAME.in, which this shell holds open read-write.
open_session() {
	local name=$1 fd other
	shift
	mkfifo "$WORK/$name.in"
	: >"$WORK/$name.out"
	(
		# Not the other sessions' FIFOs: each psql must see EOF when this
		# shell closes its own.
		for other in "${SESSION_FD[@]}"; do
			eval "exec $other>&-"
		done
		exec timeout --kill-after=5 100 stdbuf -oL -eL \
			psql -X -q -At -v ON_ERROR_STOP=0 "$@" -f "$WORK/$name.in" \
			>>"$WORK/$name.out" 2>&1
	) &
	BG_PID[$name]=$!
	exec {fd}<>"$WORK/$name.in"
	SESSION_FD[$name]=$fd
	SESSION_SENT[$name]=0
	SESSION_SEEN[$name]=0
}

# close_sessions: end every session's input, so each psql exits.
close_sessions() {
	local name
	for name in "${!SESSION_FD[@]}"; do
		eval "exec ${SESSION_FD[$name]}>&-"
	done
	SESSION_FD=()
}

# end_sessions: close_sessions, then check that each session ended cleanly,
# without any ERROR.
end_sessions() {
	local name names=("${!SESSION_FD[@]}")
	close_sessions
	for name in "${names[@]}"; do
		reap "$name"
		if [ "$RC" -eq 0 ] && ! grep -q 'ERROR' "$WORK/$name.out"; then
			ok "session $name ended cleanly, without any ERROR"
		else
			not_ok "session $name ended cleanly, without any ERROR"
			diag "$WORK/$name.out"
		fi
	done
}

# send NAME SQL: send SQL followed by a numbered marker.
send() {
	local name=$1 sql=$2 n
	n=$((SESSION_SENT[$name] + 1))
	SESSION_SENT[$name]=$n
	printf '%s\n\\echo @@mark %s@@\n' "$sql" "$n" >&"${SESSION_FD[$name]}"
}

await() {
	local name=$1 n=${SESSION_SENT[$1]} i
	REPLY_OUT=""
	for ((i = 0; i < 2000; i++)); do
		if grep -qxF "@@mark $n@@" "$WORK/$name.out"; then
			REPLY_OUT=$(awk -v prev="@@mark ${SESSION_SEEN[$name]}@@" -v cur="@@mark $n@@" \
				-v first="$([ "${SESSION_SEEN[$name]}" = 0 ] && echo 1 || echo 0)" '
				BEGIN { on = first }
				$0 == cur { exit }
				on { print }
				$0 == prev { on = 1 }' "$WORK/$name.out")
			SESSION_SEEN[$name]=$n
			return 0
		fi
		running "$name" || break
		sleep 0.01
	done
	echo "# session $name gave no answer within 20 s; its output:" >&2
	diag "$WORK/$name.out"
	return 1
}

# --- Private clusters (crash.sh, standby.sh) -------------------------------
# cluster_dir PREFIX: a scratch directory for the script's own clusters, in
# CL, owned by the postgres OS user when running as root.
cluster_dir() {
	CL=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	if [ "$(id -u)" = 0 ]; then
		chown postgres:postgres "$CL"
	fi
}

# as_pg COMMAND...: run a server binary in CL, as the postgres OS user when
# root.
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		(cd "$CL" && runuser -u postgres -- "$@")
	else
		(cd "$CL" && "$@")
	fi
}

# A port is taken if something listens on it over TCP or has its socket in
# one of the usual directories.
port_taken() {
	local hex
	hex=$(printf '%04X' "$1")
	grep -q ":$hex " /proc/net/tcp /proc/net/tcp6 2>/dev/null ||
		[ -e "/var/run/postgresql/.s.PGSQL.$1" ] || [ -e "/tmp/.s.PGSQL.$1" ]
}

# free_port [EXCLUDE]: a free port in 5400-5499, other than EXCLUDE.
free_port() {
	local i p start=$((RANDOM % 100))
	for ((i = 0; i < 100; i++)); do
		p=$((5400 + (start + i) % 100))
		if [ "$p" != "${1:-}" ] && ! port_taken "$p"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}
