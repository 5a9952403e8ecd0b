#!/usr/bin/env bash
# Benchmark "audit DML": single-row transactions on an audited table against
# the same table unaudited, and against a reference PL/pgSQL audit trigger.
#
# Three copies of items(id bigserial primary key, name text, qty int, price
# numeric, tags text[], meta jsonb, updated_at timestamptz), 100,000 rows
# each: items_fx audited by feature_x.enable_audit(), items_base not
# audited, items_ref audited by a row-level PL/pgSQL trigger written here in
# the style of supa_audit (primary key columns looked up per row, to_jsonb of
# OLD and NEW, a record id derived from the key, one row per change in a
# table with supa_audit's indexes: brin on ts, table_oid, record_id,
# old_record_id).
#
# Workloads (pgbench custom scripts, 4 clients, BENCH_SECONDS per run,
# default 3, after an untimed warm-up and a checkpoint; the sides alternate
# run by run, BENCH_REPS rounds, default 3, medians reported as milliseconds
# per 1,000 transactions, i.e. 1e6 / tps):
#   1-2. single-row INSERT, synchronous_commit = on / off: fx vs base,
#        targets <= 1.11x (>= 0.90 of unaudited throughput) and <= 1.33x
#        (>= 0.75);
#   3-4. single-row UPDATE of one column (qty = qty + 1 by random id), on /
#        off: same targets;
#   5-6. INSERT and UPDATE with synchronous_commit = off: fx vs the PL/pgSQL
#        reference, target <= 0.33x (>= 3x its throughput);
#   notes: UPDATE, synchronous_commit = off, at 1 and 8 clients (fx/base
#        throughput), two rounds each.
# Checked: the audit log holds exactly one entry per transaction pgbench
# reports for items_fx, the reference log one per items_ref transaction, and
# verify_audit_log() is ok at the end.  Times are only reported.  About two
# minutes on 2 cores.
#
# Uses the cluster described by the environment (PGHOST, PGPORT, PGUSER, ...,
# a superuser), creates database fx_bench_audit and drops it at the end.
#   RESULT <tab> workload <tab> feature_x ms <tab> baseline ms <tab> ratio <tab> target
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

readonly seconds=${BENCH_SECONDS:-3}
readonly reps=${BENCH_REPS:-3}
readonly db=fx_bench_audit

cleanup() {
	drop_databases "$db"
}

# run SCRIPT CLIENTS SYNC: one pgbench run; appends "tps transactions" to
# $workdir/SCRIPT.CLIENTS.SYNC.
run() {
	local script=$1 clients=$2 sync=$3 out tps txns
	out=$(PGOPTIONS="-c synchronous_commit=$sync" pgbench -n -c "$clients" \
		-j "$((clients < 2 ? clients : 2))" -T "$seconds" -f "$workdir/$script.sql" "$db" 2>&1) ||
		fail "pgbench $script failed: $out"
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out")
	txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
	if [ -z "$tps" ] || [ -z "$txns" ]; then
		fail "no tps from pgbench $script: $out"
	fi
	echo "$tps $txns" >>"$workdir/$script.$clients.$sync"
}

# ms_per_1000 SCRIPT CLIENTS SYNC: median over the runs, as ms / 1,000 tx.
ms_per_1000() {
	awk '{ printf "%.4f\n", 1e6 / $1 }' "$workdir/$1.$2.$3" | median
}

# compare A B CLIENTS SYNC ROUNDS: alternate runs of scripts A and B.
compare() {
	local a=$1 b=$2 clients=$3 sync=$4 rounds=$5 round
	for ((round = 1; round <= rounds; round++)); do
		if ((round % 2)); then
			run "$a" "$clients" "$sync"
			run "$b" "$clients" "$sync"
		else
			run "$b" "$clients" "$sync"
			run "$a" "$clients" "$sync"
		fi
	done
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
INSERT INTO items_base (name, qty, price, tags, meta, updated_at)
SELECT 'item ' || g, g % 100, (g % 1000) / 10.0, ARRAY['t' || (g % 10), 'stock'],
	   jsonb_build_object('k', g % 7, 'colour', 'red'), now()
  FROM generate_series(1, 100000) g;
CREATE TABLE items_fx (LIKE items_base INCLUDING ALL);
CREATE TABLE items_ref (LIKE items_base INCLUDING ALL);
INSERT INTO items_fx SELECT * FROM items_base;
INSERT INTO items_ref SELECT * FROM items_base;
SELECT setval(pg_get_serial_sequence(t, 'id'), 100000)
  FROM unnest(ARRAY['items_fx', 'items_ref']) t;
SELECT feature_x.enable_audit('items_fx');

-- The reference: a PL/pgSQL row trigger in the style of supa_audit.
CREATE SCHEMA ref_audit;
CREATE TABLE ref_audit.record_version (
	id bigserial PRIMARY KEY,
	record_id uuid,
	old_record_id uuid,
	op text NOT NULL,
	ts timestamptz NOT NULL DEFAULT now(),
	table_oid oid NOT NULL,
	table_schema name NOT NULL,
	table_name name NOT NULL,
	record jsonb,
	old_record jsonb
);
CREATE INDEX ON ref_audit.record_version USING brin (ts);
CREATE INDEX ON ref_audit.record_version (table_oid);
CREATE INDEX ON ref_audit.record_version (record_id) WHERE record_id IS NOT NULL;
CREATE INDEX ON ref_audit.record_version (old_record_id) WHERE old_record_id IS NOT NULL;
CREATE FUNCTION ref_audit.primary_key_columns(entity_oid oid) RETURNS text[]
LANGUAGE sql STABLE AS $$
	SELECT coalesce(array_agg(pa.attname::text ORDER BY pa.attnum), ARRAY[]::text[])
	  FROM pg_index pi
	  JOIN pg_attribute pa ON pi.indrelid = pa.attrelid AND pa.attnum = ANY (pi.indkey)
	 WHERE pi.indrelid = $1 AND pi.indisprimary
$$;
CREATE FUNCTION ref_audit.to_record_id(entity_oid oid, pkey_cols text[], rec jsonb) RETURNS uuid
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN rec IS NULL THEN NULL
				WHEN pkey_cols = ARRAY[]::text[] THEN gen_random_uuid()
				ELSE md5(jsonb_build_array(to_jsonb(entity_oid),
						 (SELECT jsonb_agg(rec ->> k) FROM unnest(pkey_cols) k))::text)::uuid
		   END
$$;
CREATE FUNCTION ref_audit.insert_update_delete_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	pkey_cols text[] = ref_audit.primary_key_columns(TG_RELID);
	record_jsonb jsonb = to_jsonb(new);
	record_id uuid = ref_audit.to_record_id(TG_RELID, pkey_cols, record_jsonb);
	old_record_jsonb jsonb = to_jsonb(old);
	old_record_id uuid = ref_audit.to_record_id(TG_RELID, pkey_cols, old_record_jsonb);
BEGIN
	INSERT INTO ref_audit.record_version (record_id, old_record_id, op, table_oid,
										 table_schema, table_name, record, old_record)
	SELECT record_id, old_record_id, TG_OP, TG_RELID, TG_TABLE_SCHEMA, TG_TABLE_NAME,
		   record_jsonb, old_record_jsonb;
	RETURN coalesce(new, old);
END
$$;
CREATE TRIGGER audit_i_u_d AFTER INSERT OR UPDATE OR DELETE ON items_ref
	FOR EACH ROW EXECUTE FUNCTION ref_audit.insert_update_delete_trigger();
VACUUM ANALYZE;
SQL

for t in base fx ref; do
	cat >"$workdir/insert_$t.sql" <<SQL
\set n random(1, 1000000)
INSERT INTO items_$t (name, qty, price, tags, meta, updated_at)
VALUES ('new item ' || :n, :n % 100, 12.50, '{new,stock}', '{"k": 1, "colour": "blue"}', now());
SQL
	cat >"$workdir/update_$t.sql" <<SQL
\set id random(1, 100000)
UPDATE items_$t SET qty = qty + 1 WHERE id = :id;
SQL
done
# Untimed warm-up (caches, the log's first pages), then a checkpoint, so
# that the setup's writes do not land on the first timed runs.
for script in insert_fx insert_base update_fx update_base; do
	PGOPTIONS="-c synchronous_commit=off" pgbench -n -c 4 -j 2 -T 1 -f "$workdir/$script.sql" "$db" >/dev/null 2>&1 ||
		fail "warm-up of $script failed"
done
query "CHECKPOINT" >/dev/null
before_fx=$(query "SELECT count(*) FROM feature_x.audit_log WHERE table_name = 'public.items_fx'")

for workload in insert update; do
	for sync in on off; do
		progress "$workload, synchronous_commit=$sync"
		compare "${workload}_fx" "${workload}_base" 4 "$sync" "$reps"
		fx=$(ms_per_1000 "${workload}_fx" 4 "$sync")
		base=$(ms_per_1000 "${workload}_base" 4 "$sync")
		if [ "$sync" = on ]; then target='<= 1.11x'; else target='<= 1.33x'; fi
		result "single-row ${workload^^}, 4 clients, synchronous_commit=$sync: audited vs unaudited (ms/1000 tx)" \
			"$fx" "$base" "$(ratio "$fx" "$base")" "$target"
	done
done

for workload in insert update; do
	progress "$workload vs the PL/pgSQL reference"
	for ((round = 1; round <= reps; round++)); do
		run "${workload}_ref" 4 off
	done
	fx=$(ms_per_1000 "${workload}_fx" 4 off)
	ref=$(ms_per_1000 "${workload}_ref" 4 off)
	result "single-row ${workload^^}, 4 clients, synchronous_commit=off: audited vs PL/pgSQL supa_audit-style trigger (ms/1000 tx)" \
		"$fx" "$ref" "$(ratio "$fx" "$ref")" '<= 0.33x'
done

for clients in 1 8; do
	progress "update at $clients clients"
	compare update_fx update_base "$clients" off 2
	fx=$(ms_per_1000 update_fx "$clients" off)
	base=$(ms_per_1000 update_base "$clients" off)
	note "single-row UPDATE, synchronous_commit=off, $clients client(s): audited/unaudited throughput $(ratio "$base" "$fx") ($fx vs $base ms/1000 tx)"
done

# Exactly one log entry per audited transaction, and the log verifies.
logged=$(query "SELECT count(*) FROM feature_x.audit_log WHERE table_name = 'public.items_fx'")
fx_txns=$(cat "$workdir"/{insert,update}_fx.*.* | awk '{ s += $2 } END { print s }')
[ "$logged" -eq $((before_fx + fx_txns)) ] ||
	fail "audit log holds $((logged - before_fx)) entries for items_fx, pgbench ran $fx_txns transactions"
ref_logged=$(query "SELECT count(*) FROM ref_audit.record_version")
ref_txns=$(cat "$workdir"/{insert,update}_ref.*.* | awk '{ s += $2 } END { print s }')
[ "$ref_logged" -eq "$ref_txns" ] ||
	fail "reference log holds $ref_logged entries, pgbench ran $ref_txns transactions"
[ "$(query "SELECT ok FROM feature_x.verify_audit_log()")" = t ] || fail "verify_audit_log() is not ok"
note "checked: $fx_txns audited transactions left exactly $fx_txns log entries; verify_audit_log() ok"
