#!/usr/bin/env bash
# Benchmark "DDL guard": what recording out-of-band DDL costs.  1,000
# `ALTER TABLE ... ADD COLUMN` statements, sent in one transaction that is
# rolled back, to a database with feature_x under the default guard (warn:
# one ddl_log row and one WARNING per statement) and to one without
# feature_x.  Both databases are created once; every run rolls back, so each
# starts from the same schema.  The side that goes first alternates; after one
# untimed warm-up round the median of BENCH_REPS (default 8) is reported.
# After each run the catalogs it left dead tuples in are vacuumed, untimed.
# Times are taken around the whole psql process on CLOCK_MONOTONIC; each run
# is checked for correctness; times are only reported, never asserted.
#
# Uses the cluster described by the environment (PGHOST, PGPORT, PGUSER, ...)
# and prints one line to stdout, progress to stderr:
#   RESULT <tab> workload <tab> feature_x ms <tab> baseline ms <tab> ratio <tab> target
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

readonly statements=1000
readonly reps=${BENCH_REPS:-8}
readonly fx_db=fx_bench_guard_fx
readonly base_db=fx_bench_guard_base

cleanup() {
	drop_databases "$fx_db" "$base_db"
}

# The WARNINGs go to the client as they would in a console.  The last query
# counts the columns added and, with feature_x, what the guard recorded,
# before everything is rolled back.
statements_file() {
	echo "BEGIN;"
	for ((i = 1; i <= statements; i++)); do
		echo "ALTER TABLE bench_wide ADD COLUMN c$i int;"
	done
	echo "SELECT (SELECT count(*) FROM pg_attribute WHERE attrelid = 'bench_wide'::regclass AND attnum > 0)$1;"
	echo "ROLLBACK;"
}
statements_file " || ' ' || (SELECT count(*) FROM feature_x.ddl_log)" >"$workdir/$fx_db.sql"
statements_file "" >"$workdir/$base_db.sql"

drop_databases "$fx_db" "$base_db"
psql_admin -c "CREATE DATABASE $fx_db" -c "CREATE DATABASE $base_db"
psql -X -q -v ON_ERROR_STOP=1 -d "$fx_db" -c "CREATE EXTENSION feature_x" \
	-c "SET feature_x.ddl_guard = off" -c "CREATE TABLE bench_wide (id int)"
psql -X -q -v ON_ERROR_STOP=1 -d "$base_db" -c "CREATE TABLE bench_wide (id int)"
# (Any C function of feature_x loads the library, which defines the setting.)
[ "$(psql -X -At -d "$fx_db" -c "SELECT feature_x.version_sort_key('1') IS NOT NULL" \
	-c "SHOW feature_x.ddl_guard" | tail -n 1)" = warn ] ||
	fail "the guard is not at its default (warn) in $fx_db"

run() {
	local db=$1 expected=$2 ms
	ms=$(timed "$workdir/$db.out" psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -f "$workdir/$db.sql" 2>/dev/null) ||
		fail "$db: the statements failed"
	[ "$(tail -n 1 "$workdir/$db.out")" = "$expected" ] ||
		fail "$db: expected '$expected' (columns and log rows), got '$(tail -n 1 "$workdir/$db.out")'"
	# The rolled-back columns (and log rows) are dead tuples that would slow
	# every later run down; clear them, untimed.
	psql -X -q -d "$db" -c "VACUUM pg_catalog.pg_attribute, pg_catalog.pg_class, pg_catalog.pg_depend" \
		-c "VACUUM bench_wide" >/dev/null
	[ "$db" != "$fx_db" ] || psql -X -q -d "$db" -c "VACUUM feature_x.ddl_log" >/dev/null
	echo "$ms"
}

progress "warm-up"
run "$fx_db" "$((statements + 1)) $statements" >/dev/null
run "$base_db" "$((statements + 1))" >/dev/null

fx_times=()
base_times=()
for ((rep = 1; rep <= reps; rep++)); do
	if ((rep % 2)); then
		fx_times+=("$(run "$fx_db" "$((statements + 1)) $statements")")
		base_times+=("$(run "$base_db" "$((statements + 1))")")
	else
		base_times+=("$(run "$base_db" "$((statements + 1))")")
		fx_times+=("$(run "$fx_db" "$((statements + 1)) $statements")")
	fi
	progress "repetition $rep/$reps: feature_x ${fx_times[-1]} ms, baseline ${base_times[-1]} ms"
done

fx_ms=$(printf '%s\n' "${fx_times[@]}" | median)
base_ms=$(printf '%s\n' "${base_times[@]}" | median)
result "1,000 ALTER TABLE outside migrations, guard warn (logged) vs no feature_x" \
	"$fx_ms" "$base_ms" "$(ratio "$fx_ms" "$base_ms")" "report"
