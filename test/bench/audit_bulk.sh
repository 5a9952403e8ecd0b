#!/usr/bin/env bash
# Benchmark "audit bulk": a 1,000,000-row INSERT ... SELECT into an audited
# table against the same statement on the table unaudited, and the size of
# the audit log per 100,000 single-column UPDATEs.
#
#   1. INSERT INTO items (name, qty, price, tags, meta, updated_at) SELECT ...
#      FROM generate_series(1, 1000000), items(id bigserial primary key, name
#      text, qty int, price numeric, tags text[], meta jsonb, updated_at
#      timestamptz), audited (feature_x.enable_audit) vs unaudited; each run
#      into a freshly truncated table after a CHECKPOINT, the sides
#      alternating, median of BENCH_REPS (default 2) runs each, timed
#      server-side; target <= 2.00x.
#   note: the audit log's growth (heap, TOAST and indexes, measured with
#      pg_total_relation_size after the statement) for 100,000 single-column
#      UPDATEs (qty = qty + 1) of that table, target <= 25 MiB.
# Checked: the log holds exactly one INSERT entry per inserted row and one
# UPDATE entry per updated row.  About a minute and a half on 2 cores.
#
# Uses the cluster described by the environment (PGHOST, PGPORT, PGUSER, ...,
# a superuser), creates database fx_bench_audit_bulk and drops it at the end.
#   RESULT <tab> workload <tab> feature_x ms <tab> baseline ms <tab> ratio <tab> target
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

readonly reps=${BENCH_REPS:-2}
readonly rows=1000000
readonly db=fx_bench_audit_bulk

cleanup() {
	drop_databases "$db"
}

progress "setting up $db"
drop_databases "$db"
psql_admin -c "CREATE DATABASE $db" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION feature_x;
CREATE TABLE items_base (
	id bigserial PRIMARY KEY,
	name text,
	qty int,
	price numeric,
	tags text[],
	meta jsonb,
	updated_at timestamptz
);
CREATE TABLE items_fx (LIKE items_base INCLUDING ALL);
SELECT feature_x.enable_audit('items_fx');
-- Times one statement on the server; the clock does not see the client.
CREATE FUNCTION bench_time(statement text) RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
	started timestamptz := clock_timestamp();
BEGIN
	EXECUTE statement;
	RETURN extract(epoch FROM clock_timestamp() - started) * 1000;
END
$$;
SQL

insert_into() {
	printf "INSERT INTO %s (name, qty, price, tags, meta, updated_at)
		SELECT 'item ' || g, g %% 100, (g %% 1000) / 10.0, ARRAY['t' || (g %% 10), 'stock'],
			   jsonb_build_object('k', g %% 7, 'colour', 'red'), now()
		  FROM generate_series(1, %d) g" "$1" "$rows"
}

# bulk_insert_ms TABLE: truncate, checkpoint, time the bulk insert (ms).
bulk_insert_ms() {
	query "TRUNCATE $1" >/dev/null
	query "CHECKPOINT" >/dev/null
	query "SELECT round(bench_time(\$q\$$(insert_into "$1")\$q\$)::numeric, 1)"
}

fx_times=()
base_times=()
for ((rep = 1; rep <= reps; rep++)); do
	progress "bulk insert, round $rep"
	if ((rep % 2)); then
		base_times+=("$(bulk_insert_ms items_base)")
		fx_times+=("$(bulk_insert_ms items_fx)")
	else
		fx_times+=("$(bulk_insert_ms items_fx)")
		base_times+=("$(bulk_insert_ms items_base)")
	fi
done
inserted=$(query "SELECT count(*) FROM feature_x.audit_log WHERE table_name = 'public.items_fx' AND action = 'INSERT'")
[ "$inserted" -eq $((reps * rows)) ] || fail "audit log holds $inserted INSERT entries, expected $((reps * rows))"
fx=$(printf '%s\n' "${fx_times[@]}" | median)
base=$(printf '%s\n' "${base_times[@]}" | median)
result "bulk INSERT ... SELECT of 1,000,000 rows: audited vs unaudited" "$fx" "$base" "$(ratio "$fx" "$base")" '<= 2.00x'

progress "log size per 100,000 single-column UPDATEs"
query "TRUNCATE items_fx" >/dev/null
query "INSERT INTO items_fx SELECT * FROM items_base WHERE id % $((rows / 100000)) = 0" >/dev/null
# A compact log first: growth into free space left by earlier rounds would
# understate the size of new entries.
query "VACUUM FULL feature_x.audit_log" >/dev/null
before=$(query "SELECT pg_total_relation_size('feature_x.audit_log')")
query "UPDATE items_fx SET qty = qty + 1" >/dev/null
after=$(query "SELECT pg_total_relation_size('feature_x.audit_log')")
updated=$(query "SELECT count(*) FROM feature_x.audit_log WHERE table_name = 'public.items_fx' AND action = 'UPDATE'")
[ "$updated" -eq 100000 ] || fail "audit log holds $updated UPDATE entries, expected 100000"
note "audit log growth per 100,000 single-column UPDATEs (heap, TOAST and indexes): $(awk -v b=$((after - before)) 'BEGIN { printf "%.1f", b / 1048576 }') MiB (target <= 25 MiB); average entry $(query "SELECT round(avg(pg_column_size(l.*))) FROM feature_x.audit_log l WHERE action = 'UPDATE'") bytes"
