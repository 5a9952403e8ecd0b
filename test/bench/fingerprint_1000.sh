#!/usr/bin/env bash
# Benchmark "fingerprint 1,000 tables": time of feature_x.schema_fingerprint()
# over a schema of 1,000 tables with 10 columns and 2 indexes each (a primary
# key and one secondary index), against `SELECT count(*) FROM pg_attribute` in
# the same database (about 32,000 rows: the tables' 10 user and 6 system
# columns, the index columns and the catalogs' own), the cheapest full pass
# over the largest catalog the fingerprint reads.  The inventory holds 13,002
# objects (schema, tables, columns, primary keys, indexes, plpgsql).
#
# One psql session runs both statements alternately, after one untimed
# warm-up of each (catalog caches loaded), BENCH_REPS times (default 9), with
# \timing (client round trip included, same for both); the medians are
# reported.  The inventory is checked to hold the expected objects; times
# are only reported, never asserted.
#
# Uses the cluster described by the environment (PGHOST, PGPORT, PGUSER, ...)
# and prints one line to stdout, progress to stderr:
#   RESULT <tab> workload <tab> feature_x ms <tab> baseline ms <tab> ratio <tab> target
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

readonly tables=1000
readonly reps=${BENCH_REPS:-9}
readonly db=fx_bench_fingerprint

cleanup() {
	drop_databases "$db"
}

drop_databases "$db"
psql_admin -c "CREATE DATABASE $db"
query "CREATE EXTENSION feature_x"
progress "creating $tables tables"
for ((i = 1; i <= tables; i++)); do
	printf 'CREATE TABLE bench_t%d (id bigint PRIMARY KEY, name text NOT NULL, email text, qty integer DEFAULT 0, price numeric(12, 2), created_at timestamptz NOT NULL DEFAULT now(), active boolean, note varchar(200), ref_id bigint, payload jsonb);\n' "$i"
	printf 'CREATE INDEX bench_t%d_name_idx ON bench_t%d (name);\n' "$i" "$i"
done >"$workdir/schema.sql"
{
	echo "SET client_min_messages = warning;"
	echo "SET feature_x.ddl_guard = off;"
	cat "$workdir/schema.sql"
} | psql -X -q -v ON_ERROR_STOP=1 -1 -d "$db" >/dev/null
query "VACUUM ANALYZE" >/dev/null

# 1 schema, 1,000 tables, 10,000 columns, 1,000 primary keys, 1,000 indexes
# (plus the plpgsql extension).
expected=$((1 + tables * (1 + 10 + 1 + 1) + 1))
objects=$(query "SELECT count(*) FROM feature_x.schema_objects()")
[ "$objects" = "$expected" ] || fail "inventory holds $objects objects, expected $expected"
attributes=$(query "SELECT count(*) FROM pg_attribute")

{
	printf '%s\n' '\timing on'
	echo 'SELECT feature_x.schema_fingerprint() IS NOT NULL;'
	echo 'SELECT count(*) FROM pg_attribute;'
	for ((rep = 1; rep <= reps; rep++)); do
		printf '%s\n' '\echo @fx'
		echo 'SELECT feature_x.schema_fingerprint() IS NOT NULL;'
		printf '%s\n' '\echo @base'
		echo 'SELECT count(*) FROM pg_attribute;'
	done
} >"$workdir/timed.sql"
progress "timing $reps repetitions"
psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -f "$workdir/timed.sql" >"$workdir/timed.out"

mapfile -t fx_times < <(awk '/^@fx$/ { on = 1; next } /^@base$/ { on = 0; next }
	on && /^Time: / { print $2 }' "$workdir/timed.out")
mapfile -t base_times < <(awk '/^@base$/ { on = 1; next } /^@fx$/ { on = 0; next }
	on && /^Time: / { print $2 }' "$workdir/timed.out")
if [ ${#fx_times[@]} -ne "$reps" ] || [ ${#base_times[@]} -ne "$reps" ]; then
	fail "expected $reps timings per side, got ${#fx_times[@]} and ${#base_times[@]}"
fi

fx_ms=$(printf '%s\n' "${fx_times[@]}" | median)
base_ms=$(printf '%s\n' "${base_times[@]}" | median)
note "$objects inventory objects; pg_attribute has $attributes rows"
result "schema_fingerprint(), 1,000 tables x 10 columns + 2 indexes, vs SELECT count(*) FROM pg_attribute" \
	"$fx_ms" "$base_ms" "$(ratio "$fx_ms" "$base_ms" 1)" "(report)"
