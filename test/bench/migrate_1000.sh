#!/usr/bin/env bash
# Benchmark "migrate 1,000": wall time to register and apply 1,000 small
# migrations with feature_x (one psql session, one transaction: 1,000
# register_migration() calls, then migrate()) against running the very same
# statements directly in one transaction (psql -1 -f).  Each migration creates
# a small table and an index on it.
#
# Every repetition uses fresh databases, the two sides alternate which one
# goes first, and the median of BENCH_REPS repetitions (default 7) after one
# untimed warm-up is reported.  Times are taken around the whole psql process
# (connection included) with a monotonic clock.  Correctness is checked after
# every run; timings are only reported, never asserted.
#
# Uses the cluster described by the environment (PGHOST, PGPORT, PGUSER, ...)
# and prints one line to stdout:
#   RESULT <tab> workload <tab> feature_x ms <tab> baseline ms <tab> ratio <tab> target
# Progress goes to stderr.
set -euo pipefail

readonly migrations=1000
readonly reps=${BENCH_REPS:-7}
readonly fx_db=fx_bench_migrate_fx
readonly base_db=fx_bench_migrate_base

workdir=$(mktemp -d)

psql_admin() {
	psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" "$@"
}

cleanup() {
	psql_admin -c "DROP DATABASE IF EXISTS $fx_db" -c "DROP DATABASE IF EXISTS $base_db" >/dev/null || true
	rm -rf "$workdir"
}
trap cleanup EXIT

# Runs a command with its stdout in file $1; prints the milliseconds it took,
# measured on CLOCK_MONOTONIC, or fails if the command did.
timed() {
	local out=$1
	shift
	perl -MTime::HiRes=clock_gettime,CLOCK_MONOTONIC -e '
		my $start = clock_gettime(CLOCK_MONOTONIC);
		system(@ARGV) == 0 or exit 1;
		open(my $ms, ">&=", 3) or die "fd 3: $!\n";
		printf $ms "%.1f\n", (clock_gettime(CLOCK_MONOTONIC) - $start) * 1000;
	' "$@" 3>&1 >"$out"
}

median() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 }
		END { printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
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

fresh_database() {
	psql_admin -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"
}

query() {
	psql -X -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}

bench_tables() {
	query "$1" "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname LIKE 'bench\_t%'"
}

fail() {
	echo "migrate_1000: $*" >&2
	exit 1
}

# Prepares a fresh database, runs one side, checks what it did; prints its ms.
run_feature_x() {
	local ms
	fresh_database "$fx_db"
	query "$fx_db" "CREATE EXTENSION feature_x" >/dev/null
	psql_admin -c "CHECKPOINT"
	ms=$(timed "$workdir/feature_x.out" psql -X -q -At -v ON_ERROR_STOP=1 -1 -d "$fx_db" -f "$workdir/feature_x.sql") ||
		fail "feature_x side failed"
	[ "$(tail -n 1 "$workdir/feature_x.out")" = "$migrations" ] ||
		fail "migrate() applied $(tail -n 1 "$workdir/feature_x.out") migrations, expected $migrations"
	[ "$(query "$fx_db" "SELECT count(*) FILTER (WHERE state = 'applied') || '/' || count(*) FROM feature_x.migrations")" = "$migrations/$migrations" ] ||
		fail "the ledger does not hold $migrations applied migrations"
	[ "$(query "$fx_db" "SELECT feature_x.health()->>'ok'")" = "true" ] ||
		fail "health() is not ok after migrate()"
	[ "$(bench_tables "$fx_db")" = "$migrations" ] ||
		fail "feature_x side did not create $migrations tables"
	echo "$ms"
}

run_baseline() {
	local ms
	fresh_database "$base_db"
	psql_admin -c "CHECKPOINT"
	ms=$(timed "$workdir/baseline.out" psql -X -q -v ON_ERROR_STOP=1 -1 -d "$base_db" -f "$workdir/baseline.sql") ||
		fail "baseline side failed"
	[ "$(bench_tables "$base_db")" = "$migrations" ] ||
		fail "baseline side did not create $migrations tables"
	echo "$ms"
}

echo "migrate_1000: warm-up" >&2
run_feature_x >/dev/null
run_baseline >/dev/null

fx_times=()
base_times=()
for ((rep = 1; rep <= reps; rep++)); do
	if ((rep % 2)); then
		fx_times+=("$(run_feature_x)")
		base_times+=("$(run_baseline)")
	else
		base_times+=("$(run_baseline)")
		fx_times+=("$(run_feature_x)")
	fi
	echo "migrate_1000: repetition $rep/$reps: feature_x ${fx_times[-1]} ms, baseline ${base_times[-1]} ms" >&2
done

fx_ms=$(median "${fx_times[@]}")
base_ms=$(median "${base_times[@]}")
printf 'RESULT\t%s\t%s\t%s\t%s\t%s\n' \
	"register + migrate 1,000 small migrations" "$fx_ms" "$base_ms" \
	"$(awk -v a="$fx_ms" -v b="$base_ms" 'BEGIN { printf "%.2f", a / b }')" "<= 1.50x"
