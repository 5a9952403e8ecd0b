#!/usr/bin/env bash
# Benchmark "migrate 1,000": wall time to register and apply 1,000 small
# migrations with feature_x (one psql session, one transaction: 1,000
# register_migration() calls, then migrate()) against running the very same
# statements directly in one transaction (psql -1 -f).  Each migration creates
# a small table with a primary key and one more index.
#
# Every timed run gets a database of its own, created just before it and
# followed by a CHECKPOINT, so both sides start from the same state (the first
# large DDL run after CREATE DATABASE was seen to be up to 1.5 s slower than a
# later one).  The databases are dropped only at the end, so that no DROP
# DATABASE (thousands of unlinks) overlaps a timed run.  The side that goes
# first alternates; with the even default of BENCH_REPS=8 each side goes first
# equally often.  After one untimed warm-up round, the median of each side is
# reported.
# Times are taken around the whole psql process (connection included) on
# CLOCK_MONOTONIC.  Every run is checked for correctness; times are only
# reported, never asserted.
#
# Uses the cluster described by the environment (PGHOST, PGPORT, PGUSER, ...)
# and prints one line to stdout, progress to stderr:
#   RESULT <tab> workload <tab> feature_x ms <tab> baseline ms <tab> ratio <tab> target
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

readonly migrations=1000
readonly reps=${BENCH_REPS:-8}
readonly db_prefix=fx_bench_migrate

cleanup() {
	local rep
	for ((rep = 0; rep <= reps; rep++)); do
		drop_databases "${db_prefix}_fx_$rep" "${db_prefix}_base_$rep"
	done
}

# The same statements for both sides, one migration per line.
for ((i = 1; i <= migrations; i++)); do
	printf 'CREATE TABLE bench_t%d (id bigint PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now()); CREATE INDEX bench_t%d_name_idx ON bench_t%d (name);\n' "$i" "$i" "$i"
done >"$workdir/statements.sql"

{
	echo "SET client_min_messages = warning;"
	cat "$workdir/statements.sql"
} >"$workdir/baseline.sql"

{
	echo "SET client_min_messages = warning;"
	i=0
	while IFS= read -r statement; do
		i=$((i + 1))
		printf "SELECT feature_x.register_migration('%d', 'create bench_t%d', \$m\$%s\$m\$);\n" "$i" "$i" "$statement"
	done <"$workdir/statements.sql"
	echo "SELECT count(*) FROM feature_x.migrate();"
} >"$workdir/feature_x.sql"

bench_tables() {
	query_in "$1" "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname LIKE 'bench\_t%'"
}

# Each side creates its database for repetition $1, runs, checks what it did
# and prints its time in milliseconds.
run_feature_x() {
	local db=${db_prefix}_fx_$1 ms
	psql_admin -c "CREATE DATABASE $db"
	query_in "$db" "CREATE EXTENSION feature_x"
	psql_admin -c "CHECKPOINT"
	ms=$(timed "$workdir/feature_x.out" psql -X -q -At -v ON_ERROR_STOP=1 -1 -d "$db" -f "$workdir/feature_x.sql") ||
		fail "feature_x side failed"
	[ "$(tail -n 1 "$workdir/feature_x.out")" = "$migrations" ] ||
		fail "migrate() applied $(tail -n 1 "$workdir/feature_x.out") migrations, expected $migrations"
	[ "$(query_in "$db" "SELECT count(*) FILTER (WHERE state = 'applied') || '/' || count(*) FROM feature_x.migrations")" = "$migrations/$migrations" ] ||
		fail "the ledger does not hold exactly $migrations applied migrations"
	[ "$(query_in "$db" "SELECT feature_x.health()->>'ok'")" = "true" ] ||
		fail "health() is not ok after migrate()"
	[ "$(bench_tables "$db")" = "$migrations" ] ||
		fail "feature_x side did not create $migrations tables"
	echo "$ms"
}

run_baseline() {
	local db=${db_prefix}_base_$1 ms
	psql_admin -c "CREATE DATABASE $db"
	# Connect once before timing, as the feature_x side does for CREATE EXTENSION.
	query_in "$db" "SELECT 1" >/dev/null
	psql_admin -c "CHECKPOINT"
	ms=$(timed "$workdir/baseline.out" psql -X -q -v ON_ERROR_STOP=1 -1 -d "$db" -f "$workdir/baseline.sql") ||
		fail "baseline side failed"
	[ "$(bench_tables "$db")" = "$migrations" ] ||
		fail "baseline side did not create $migrations tables"
	echo "$ms"
}

progress "warm-up"
run_feature_x 0 >/dev/null
run_baseline 0 >/dev/null

fx_times=()
base_times=()
for ((rep = 1; rep <= reps; rep++)); do
	if ((rep % 2)); then
		fx_times+=("$(run_feature_x "$rep")")
		base_times+=("$(run_baseline "$rep")")
	else
		base_times+=("$(run_baseline "$rep")")
		fx_times+=("$(run_feature_x "$rep")")
	fi
	progress "repetition $rep/$reps: feature_x ${fx_times[-1]} ms, baseline ${base_times[-1]} ms"
done

fx_ms=$(printf '%s\n' "${fx_times[@]}" | median)
base_ms=$(printf '%s\n' "${base_times[@]}" | median)
result "register + migrate 1,000 small migrations" "$fx_ms" "$base_ms" "$(ratio "$fx_ms" "$base_ms")" "<= 1.50x"
