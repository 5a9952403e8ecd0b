#!/usr/bin/env bash
# Benchmark "audit seal": what tamper evidence costs.
#
#   seal 100k rows     seal_audit_log() over 100,000 new rows, against the
#                      same chain (SHA-256 over the row hashes in id order)
#                      computed in plain SQL: sha256(string_agg(row_hash, ''
#                      ORDER BY id)) over the same id range;
#   verify 100k rows   verify_audit_log() (every row re-hashed, every seal
#                      recomputed) per 100,000 rows, against the same plain
#                      SQL chain over the whole log;
#   writers + sealer   8 pgbench clients, each transaction one
#                      feature_x.log_event(), while another session calls
#                      seal_audit_log() (and commits) every 100 ms, against the same run
#                      with no sealer (time per 10,000 transactions; the
#                      sealer must not make writers wait on each other).
# The log is filled with log_event() (100,000 rows per round, BENCH_REPS
# rounds, default 3); medians are reported.  Every seal and verify is checked
# (rows sealed, ok); times are only reported, never asserted.
#
# Uses the cluster described by the environment (PGHOST, PGPORT, PGUSER, ...)
# and prints RESULT lines to stdout, progress to stderr:
#   RESULT <tab> workload <tab> feature_x ms <tab> baseline ms <tab> ratio <tab> target
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

readonly reps=${BENCH_REPS:-3}
readonly rows=100000
readonly db=fx_bench_audit_seal
readonly seconds=${BENCH_SECONDS:-8}

# The sealer is one session looping in a DO block (committing after each
# seal), so that connection set-up does not count; it ends when its backend
# is terminated.
stop_sealer() {
	[ -n "${sealer_pid:-}" ] || return 0
	psql_admin -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
							   WHERE application_name = 'fx_bench_sealer'" >/dev/null || true
	wait "$sealer_pid" 2>/dev/null || true
	sealer_pid=
}

cleanup() {
	stop_sealer
	drop_databases "$db"
}

# ms SQL: sets MS to the milliseconds SQL takes in the server and RESULT to
# its result.
ms() {
	local out
	out=$(printf '%s\n' "SELECT clock_timestamp() AS t0 \\gset" "$1;" \
		"SELECT round(1000 * extract(epoch FROM clock_timestamp() - :'t0'), 1);" |
		psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -f -)
	RESULT=$(head -n -1 <<<"$out")
	MS=$(tail -n 1 <<<"$out")
}

drop_databases "$db"
psql_admin -c "CREATE DATABASE $db"
query "CREATE EXTENSION feature_x"

seal=()
seal_base=()
verify=()
verify_base=()
for ((rep = 1; rep <= reps; rep++)); do
	progress "round $rep of $reps: logging $rows events"
	first=$(query "SELECT coalesce(max(last_id), 0) + 1 FROM feature_x.audit_seals")
	query "SELECT count(feature_x.log_event('bench', 'user:' || g, jsonb_build_object('n', g)))
			 FROM generate_series(1, $rows) g" >/dev/null
	query "CHECKPOINT"
	ms "SELECT feature_x.seal_audit_log()"
	t=$MS
	[ "$RESULT" = "$rows" ] || fail "seal_audit_log() sealed $RESULT rows, not $rows"
	seal+=("$t")
	ms "SELECT length(sha256(string_agg(row_hash, '' ORDER BY id))) FROM feature_x.audit_log
			 WHERE id >= $first"
	t=$MS
	[ "$RESULT" = 32 ] || fail "the plain SQL chain gave $RESULT"
	seal_base+=("$t")

	total=$(query "SELECT count(*) FROM feature_x.audit_log")
	ms "SELECT ok::text || ' ' || checked FROM feature_x.verify_audit_log()"
	t=$MS
	[ "$RESULT" = "true $total" ] || fail "verify_audit_log() gave $RESULT, expected true $total"
	verify+=("$(awk -v t="$t" -v n="$total" -v r="$rows" 'BEGIN { printf "%.1f", t * r / n }')")
	ms "SELECT length(sha256(string_agg(row_hash, '' ORDER BY id))) FROM feature_x.audit_log"
	t=$MS
	verify_base+=("$(awk -v t="$t" -v n="$total" -v r="$rows" 'BEGIN { printf "%.1f", t * r / n }')")
done

# Writers with and without a sealer; time per 10,000 transactions.
echo "SELECT feature_x.log_event('bench_writer', 'user:' || :client_id);" >"$workdir/writer.sql"
writers() {
	local out tps
	out=$(pgbench -n -c 8 -j 2 -T "$seconds" -f "$workdir/writer.sql" "$db" 2>&1) ||
		fail "pgbench failed: $out"
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out")
	awk -v tps="$tps" 'BEGIN { printf "%.1f", 10000 * 1000 / tps }'
}
start_sealer() {
	PGAPPNAME=fx_bench_sealer psql -X -q -d "$db" -c "DO \$\$
		BEGIN
			LOOP
				PERFORM feature_x.seal_audit_log();
				COMMIT;
				PERFORM pg_sleep(0.1);
			END LOOP;
		END \$\$" >/dev/null 2>&1 &
	sealer_pid=$!
}
with_sealer=()
without_sealer=()
# The side that goes first alternates between rounds.
for ((rep = 1; rep <= reps; rep++)); do
	progress "round $rep of $reps: 8 writers for ${seconds}s with and without a sealer"
	if ((rep % 2)); then
		without_sealer+=("$(writers)")
	fi
	start_sealer
	with_sealer+=("$(writers)")
	stop_sealer
	if ((rep % 2 == 0)); then
		without_sealer+=("$(writers)")
	fi
done
[ "$(query "SELECT ok FROM feature_x.verify_audit_log()")" = t ] || fail "the log does not verify after the writers"
sealed=$(query "SELECT count(*) FROM feature_x.audit_seals")

a=$(printf '%s\n' "${seal[@]}" | median)
b=$(printf '%s\n' "${seal_base[@]}" | median)
result "seal_audit_log() over 100k new rows vs the same chain in plain SQL" "$a" "$b" "$(ratio "$a" "$b")" "(reference)"
a=$(printf '%s\n' "${verify[@]}" | median)
b=$(printf '%s\n' "${verify_base[@]}" | median)
result "verify_audit_log() per 100k rows (rows re-hashed, seals recomputed) vs the plain SQL chain" \
	"$a" "$b" "$(ratio "$a" "$b")" "(reference)"
a=$(printf '%s\n' "${with_sealer[@]}" | median)
b=$(printf '%s\n' "${without_sealer[@]}" | median)
result "8 writers (log_event) per 10k transactions, sealer every 100 ms vs no sealer" \
	"$a" "$b" "$(ratio "$a" "$b")" "<= 1.10x"
note "$sealed seals made; the log verified afterwards"
