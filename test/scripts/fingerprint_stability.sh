#!/usr/bin/env bash
# fingerprint_stability.sh: the schema fingerprint depends on the schema only.
#
# Two databases built by the same migrations (one of which drops a column
# from the middle of a table, so attribute numbers differ from a fresh
# CREATE TABLE) have the same fingerprint, the same inventory and no drift.
# VACUUM FULL, CLUSTER, REINDEX and ANALYZE change nothing.  A custom-format
# dump restored with pg_restore, the same restored with --no-owner, and a
# plain dump restored with psql all keep the fingerprint, and drift() there
# is empty (the recorded state travels with the dump).  An out-of-band change
# in a restored copy shows up in drift().
set -euo pipefail
FX_TEST=fingerprint_stability
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

TWIN=${DB}_twin
RESTORED_DBS=("${DB}_custom" "${DB}_noowner" "${DB}_plain")
stability_cleanup() {
	local rc=$? db
	set +e
	for db in "${RESTORED_DBS[@]}" "$TWIN" "$DB"; do
		psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 ||
			echo "# could not drop database $db" >&2
	done
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS fx_fp_owner" -c "DROP ROLE IF EXISTS fx_fp_reader" >/dev/null 2>&1
	(exit "$rc")
	cleanup
}
trap stability_cleanup EXIT

qdb() {
	"${PSQL[@]}" -At -d "$1" -c "$2"
}

# The migrations: one object of every kind covered, a dropped column, a
# partitioned table, an unlogged table with options, an owner other than the
# deployer and grants.
migrate_db() {
	"${PSQL[@]}" -d "$1" -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = error;
SELECT feature_x.register_migration('1', 'types', $m$
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TYPE address AS (street text, city text COLLATE "C");
CREATE TYPE span AS RANGE (subtype = int8);
$m$);
SELECT feature_x.register_migration('2', 'tables', $m$
CREATE TABLE users (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	legacy text,
	email text NOT NULL UNIQUE,
	mood mood DEFAULT 'ok',
	home address,
	score posint,
	score2 bigint GENERATED ALWAYS AS (score * 2) STORED
);
CREATE TABLE orders (
	id bigserial PRIMARY KEY,
	user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	total numeric(12, 2) CHECK (total >= 0),
	placed span
);
CREATE INDEX orders_user_idx ON orders (user_id) WHERE total > 0;
CREATE SEQUENCE invoice_no START 1000 INCREMENT 10;
CREATE TABLE events (id bigint NOT NULL, at date NOT NULL, kind text) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE INDEX events_at_idx ON events (at);
ALTER TABLE events ADD PRIMARY KEY (id, at);
CREATE UNLOGGED TABLE scratch (k text PRIMARY KEY, v jsonb) WITH (fillfactor = 70);
$m$);
SELECT feature_x.register_migration('3', 'drop a column in the middle', $m$
ALTER TABLE users DROP COLUMN legacy;
ALTER TABLE users ADD COLUMN nickname varchar(40) COLLATE "C";
$m$);
SELECT feature_x.register_migration('4', 'code', $m$
CREATE VIEW big_orders AS SELECT o.id, u.email FROM orders o JOIN users u ON u.id = o.user_id WHERE o.total > 100;
CREATE MATERIALIZED VIEW order_totals AS SELECT user_id, sum(total) AS total FROM orders GROUP BY user_id;
CREATE FUNCTION order_total(uid bigint) RETURNS numeric LANGUAGE sql STABLE
	AS $f$ SELECT sum(total) FROM orders WHERE user_id = uid $f$;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
	AS $f$ BEGIN RETURN NEW; END $f$;
CREATE PROCEDURE close_user(uid bigint) LANGUAGE plpgsql AS $f$ BEGIN DELETE FROM users WHERE id = uid; END $f$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch();
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY orders_read ON orders FOR SELECT TO fx_fp_reader USING (total < 1000);
ALTER TABLE orders OWNER TO fx_fp_owner;
GRANT SELECT ON orders, users TO fx_fp_reader;
GRANT UPDATE (nickname) ON users TO fx_fp_reader;
REVOKE EXECUTE ON FUNCTION order_total(bigint) FROM PUBLIC;
$m$);
SELECT count(*) FROM feature_x.migrate();
SQL
}

fingerprint() {
	qdb "$1" "SELECT feature_x.schema_fingerprint()"
}

inventory() {
	qdb "$1" "SELECT object_type || ' ' || object_identity || ' ' || hash FROM feature_x.schema_objects()"
}

drift() {
	qdb "$1" "SELECT object_type || ' ' || object_identity || ' ' || change FROM feature_x.drift()"
}

# same_schema DESCRIPTION DB: DB's fingerprint and inventory are the source's,
# and its drift() is empty.
same_schema() {
	local description=$1 db=$2 fp d
	fp=$(fingerprint "$db")
	d=$(drift "$db")
	if [ "$fp" = "$SOURCE_FP" ] && [ -z "$d" ]; then
		ok "$description: same fingerprint, drift() empty"
	else
		not_ok "$description: same fingerprint, drift() empty"
		diff <(echo "$SOURCE_INVENTORY") <(inventory "$db") | diag
		echo "drift: $d" | diag
	fi
}

"${PSQL[@]}" -d postgres -c "CREATE ROLE fx_fp_owner" -c "CREATE ROLE fx_fp_reader" >/dev/null
setup_db
"${PSQL[@]}" -d postgres -c "CREATE DATABASE \"$TWIN\""
qdb "$TWIN" "CREATE EXTENSION feature_x"
migrate_db "$DB"
migrate_db "$TWIN"

SOURCE_FP=$(fingerprint "$DB")
SOURCE_INVENTORY=$(inventory "$DB")
check "the migrations leave objects of every kind" test "$(qdb "$DB" "
	SELECT string_agg(DISTINCT object_type, ',' ORDER BY object_type) FROM feature_x.schema_objects()")" = \
	"column,constraint,domain,enum,extension,function,index,materialized view,policy,procedure,schema,sequence,table,trigger,type,view"
check "the migrations' state is recorded" test "$(qdb "$DB" "
	SELECT fingerprint = '$SOURCE_FP' AND reason = 'migrate' AND version = '4'
	  FROM feature_x.schema_states ORDER BY id DESC LIMIT 1")" = t
same_schema "a second database built by the same migrations" "$TWIN"
check "users has a dropped column in the middle (restored copies will not)" test "$(qdb "$DB" "
	SELECT string_agg(attname || ':' || attnum, ',' ORDER BY attnum) FROM pg_attribute
	 WHERE attrelid = 'users'::regclass AND attnum > 0")" = \
	"id:1,........pg.dropped.2........:2,email:3,mood:4,home:5,score:6,score2:7,nickname:8"

# Physical maintenance (outside any transaction block).
for maintenance in "VACUUM FULL" "CLUSTER users USING users_pkey" "REINDEX SCHEMA public" "ANALYZE" \
	"INSERT INTO users (email, score) SELECT 'u' || g || '@example.com', g FROM generate_series(1, 1000) g" \
	"REFRESH MATERIALIZED VIEW order_totals" "SELECT nextval('invoice_no')"; do
	"${PSQL[@]}" -d "$DB" -c "SET client_min_messages = error" -c "$maintenance" >/dev/null
	same_schema "after $maintenance" "$DB"
done

pg_dump -Fc -f "$WORK/db.dump" "$DB"
pg_dump -Fp -f "$WORK/db.sql" "$DB"
for db in "${RESTORED_DBS[@]}"; do
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE \"$db\""
done
# restored LOG COMMAND...: run a restore (under the default DDL guard, which
# warns about each command), its output in $WORK/LOG, shown on failure.
restored() {
	local log=$WORK/$1
	shift
	"$@" >"$log" 2>&1 || {
		tail -n 20 "$log" | diag
		return 1
	}
}
check "pg_restore of the custom dump" \
	restored custom.log pg_restore --exit-on-error -d "${DB}_custom" "$WORK/db.dump"
check "pg_restore --no-owner of the custom dump" \
	restored noowner.log pg_restore --exit-on-error --no-owner -d "${DB}_noowner" "$WORK/db.dump"
check "psql restore of the plain dump" \
	restored plain.log "${PSQL[@]}" -d "${DB}_plain" -f "$WORK/db.sql"
same_schema "custom dump restored" "${DB}_custom"
same_schema "custom dump restored with --no-owner" "${DB}_noowner"
check "--no-owner did change an owner" test "$(qdb "${DB}_noowner" "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'orders'")" != fx_fp_owner
same_schema "plain dump restored" "${DB}_plain"

# Drift in a restored copy is reported against the restored state.
qdb "${DB}_plain" "SET client_min_messages = error; ALTER TABLE users ADD COLUMN phone text; DROP INDEX orders_user_idx" >/dev/null
check "drift() in a restored copy names the out-of-band changes" test "$(drift "${DB}_plain" | tr '\n' ';')" = \
	"column public.users.phone added;index public.orders_user_idx removed;"

finish
