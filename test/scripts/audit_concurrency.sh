#!/usr/bin/env bash
# audit_concurrency.sh: 8 concurrent writers with random aborts on an audited
# table, with sealers running all along; afterwards the log holds exactly the
# committed changes and verifies, and hand edits are found.
#
# pgbench runs 8 clients for a fixed number of transactions each; every
# transaction inserts a row, updates a random row and deletes another of the
# audited table `items`, notes each affected row in an unaudited table
# `shadow` (in the same transaction) and then commits or, one time in three,
# rolls back.  Meanwhile two sessions call seal_audit_log() and
# verify_audit_log() in a loop (each call waits for the writers in flight,
# never blocking new ones).  Proves that:
#   - every sealer and verifier call succeeded, and every verify was ok while
#     the writers ran;
#   - the log's (action, id) rows for items are exactly shadow's rows: every
#     committed change once, nothing from the aborted transactions;
#   - items' final content is what the log says (rows inserted and not
#     deleted, each updated as often as logged);
#   - verify_audit_log() is ok afterwards and checked every row;
#   - editing, deleting or inserting a row of the log by hand (as a superuser
#     who disables the triggers) makes it not ok, each on its own, and the
#     genuine log verifies again afterwards;
#   - with a writing transaction left open, verify_audit_log() still answers
#     (ok) while seal_audit_log() waits for it; once it commits, its row gets
#     sealed.
set -euo pipefail

FX_TEST=audit_concurrency
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

CLIENTS=8
TRANSACTIONS=150

setup_db
q "CREATE TABLE items (id bigserial PRIMARY KEY, writer int NOT NULL, n int NOT NULL, note text);
   CREATE TABLE shadow (action text NOT NULL, id bigint NOT NULL);
   INSERT INTO items (writer, n, note) SELECT 0, 0, 'seed ' || g FROM generate_series(1, 200) g;
   SELECT feature_x.enable_audit('items');
   CREATE VIEW item_log AS
	 SELECT action, (row_key->>'id')::bigint AS id FROM feature_x.audit_log
	  WHERE table_name = 'public.items' AND action IN ('INSERT', 'UPDATE', 'DELETE');" >/dev/null

cat >"$WORK/writer.sql" <<'EOF'
\set upd random(1, 200 + :client_id * 150)
\set del random(1, 200 + :client_id * 150)
\set abort random(1, 3)
BEGIN;
WITH i AS (INSERT INTO items (writer, n, note) VALUES (:client_id, 0, md5(random()::text)) RETURNING id)
INSERT INTO shadow SELECT 'INSERT', id FROM i;
WITH u AS (UPDATE items SET n = n + 1 WHERE id = :upd RETURNING id)
INSERT INTO shadow SELECT 'UPDATE', id FROM u;
WITH d AS (DELETE FROM items WHERE id = :del RETURNING id)
INSERT INTO shadow SELECT 'DELETE', id FROM d;
\if :abort = 1
ROLLBACK;
\else
COMMIT;
\endif
EOF

# loop NAME SQL: run SQL in a new session again and again until the writers
# are done (at most 90 s); one output line per call in $WORK/NAME.out.
loop() {
	bg "$1" 90 bash -c 'while [ ! -e "$1" ]; do "${@:3}" -c "$2" || echo failed; done' _ \
		"$WORK/writers_done" "$2" "${PSQL[@]}" -At -d "$DB"
}
loop sealer "SELECT feature_x.seal_audit_log() >= 0"
loop verifier "SELECT ok FROM feature_x.verify_audit_log()"

if pgbench -n -c "$CLIENTS" -j 2 -t "$TRANSACTIONS" -f "$WORK/writer.sql" "$DB" >"$WORK/pgbench.out" 2>&1; then
	ok "pgbench: $CLIENTS writers, $TRANSACTIONS transactions each, about a third rolled back"
else
	not_ok "pgbench: $CLIENTS writers, $TRANSACTIONS transactions each, about a third rolled back"
	diag "$WORK/pgbench.out"
fi
touch "$WORK/writers_done"
reap sealer
sealer_rc=$RC
reap verifier
verifier_rc=$RC
seals=$(grep -c '^t$' "$WORK/sealer.out" || true)
verifies=$(grep -c '^t$' "$WORK/verifier.out" || true)
check "the sealer ran alongside ($seals calls), every call succeeded" \
	test "$sealer_rc" = 0 -a "$seals" -gt 0 -a "$(grep -vc '^t$' "$WORK/sealer.out" || true)" = 0
check "the verifier ran alongside ($verifies calls), every verify was ok" \
	test "$verifier_rc" = 0 -a "$verifies" -gt 0 -a "$(grep -vc '^t$' "$WORK/verifier.out" || true)" = 0
{ grep -hv "^t$" "$WORK/sealer.out" "$WORK/verifier.out" || true; } | head -5 | diag

counts=$(q "SELECT (SELECT count(*) FROM shadow) || ' changes committed, ' ||
				   (SELECT count(*) FROM item_log) || ' logged'")
got=$(q "SELECT count(*) FROM (
		   (SELECT action, id FROM item_log EXCEPT ALL SELECT action, id FROM shadow)
		   UNION ALL
		   (SELECT action, id FROM shadow EXCEPT ALL SELECT action, id FROM item_log)) x")
check "the log holds exactly the committed changes ($counts; $got differ)" test "$got" = 0
# The table as the log says it is: the seed rows (not logged) and every
# logged insert, less the logged deletes, each with n = its logged updates.
got=$(q "WITH log AS (
		   SELECT id, action FROM item_log UNION ALL SELECT g, 'SEED' FROM generate_series(1, 200) g),
		 expected AS (
		   SELECT id, count(*) FILTER (WHERE action = 'UPDATE') AS n FROM log GROUP BY id
			HAVING count(*) FILTER (WHERE action = 'DELETE') = 0)
	   SELECT count(*) FROM ((SELECT id, n FROM items EXCEPT SELECT id, n FROM expected)
							 UNION ALL (SELECT id, n FROM expected EXCEPT SELECT id, n FROM items)) x")
check "items is exactly what the log describes: rows alive and their number of updates ($got differ)" \
	test "$got" = 0

total=$(q "SELECT count(*) FROM feature_x.audit_log")
got=$(q "SELECT ok::text || ' ' || checked FROM feature_x.verify_audit_log()")
check "verify_audit_log() is ok after the run and checked all $total rows (got $got)" test "$got" = "true $total"

# Tampering, each in a transaction of its own that is rolled back.
tamper() {
	local description=$1 sql=$2 got
	got=$(q "BEGIN;
		ALTER TABLE feature_x.audit_log DISABLE TRIGGER USER;
		$sql;
		SELECT ok::text || ' ' || coalesce(first_bad_id::text, '-') || ' ' || coalesce(reason, '')
		  FROM feature_x.verify_audit_log();
		ROLLBACK;" | tail -1)
	check "$description makes verify not ok ($got)" grep -q '^false ' <<<"$got"
}
mid=$(q "SELECT id FROM feature_x.audit_log WHERE action = 'UPDATE' ORDER BY id OFFSET 100 LIMIT 1")
tamper "editing row $mid" \
	"UPDATE feature_x.audit_log SET new_data = new_data || '{\"n\": 999}' WHERE id = $mid"
tamper "editing row $mid and its row_hash" \
	"UPDATE feature_x.audit_log SET row_hash = sha256(row_hash) WHERE id = $mid"
tamper "deleting row $mid" "DELETE FROM feature_x.audit_log WHERE id = $mid"
tamper "inserting a row with a made-up row_hash" \
	"INSERT INTO feature_x.audit_log
	 SELECT max(id) + 1, now(), '1', NULL, 'mallory', NULL, NULL, 'UPDATE', 'public.items',
			'{\"id\": 1}', NULL, NULL, NULL, sha256('x') FROM feature_x.audit_log"
gap=$(q "SELECT min(g) FROM generate_series(1, (SELECT max(id) FROM feature_x.audit_log)) g
		 WHERE NOT EXISTS (SELECT 1 FROM feature_x.audit_log WHERE id = g)")
tamper "inserting a copy of row $mid into the rolled-back id $gap" \
	"INSERT INTO feature_x.audit_log
	 SELECT $gap, logged_at, txid, actor, db_user, application_name, client_addr, action, table_name,
			row_key, old_data, new_data, details, row_hash FROM feature_x.audit_log WHERE id = $mid"
got=$(q "SELECT ok FROM feature_x.verify_audit_log()")
check "the untouched log verifies again (got $got)" test "$got" = t

# A writer whose transaction stays open: sealing waits for it, verification
# does not (it checks the row-hashed tail instead of sealing it).
cat >"$WORK/open_writer.sql" <<'EOF'
BEGIN;
SELECT feature_x.log_event('open_writer');
DO $$
BEGIN
	FOR i IN 1..2000 LOOP
		EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'fx_release_writer');
		PERFORM pg_sleep(0.01);
	END LOOP;
END
$$;
COMMIT;
EOF
bg open_writer 60 env PGAPPNAME=fx_open_writer "${PSQL[@]}" -d "$DB" -o /dev/null -f "$WORK/open_writer.sql"
wait_for "the open writer has logged its event" 20 \
	"SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'fx_open_writer'
	   AND query LIKE '%pg_sleep%')"
got=$(q "SET statement_timeout = '20s'; SELECT ok FROM feature_x.verify_audit_log()")
check "verify_audit_log() does not wait for an open writing transaction (got $got)" test "$got" = t
got=$("${PSQL[@]}" -At -v ON_ERROR_STOP=0 -d "$DB" -c "SET statement_timeout = '500ms'" \
	-c "SELECT feature_x.seal_audit_log()" -c '\echo sqlstate=:SQLSTATE' 2>&1 | sed -n 's/^sqlstate=//p')
check "seal_audit_log() waits for it (cancelled by statement_timeout: $got)" test "$got" = 57014
psql -X -q -d "$DB" -c "SET application_name = fx_release_writer; SELECT pg_sleep(0.3)" >/dev/null
reap open_writer
got=$(q "SELECT feature_x.seal_audit_log() > 0;
		 SELECT (SELECT max(last_id) FROM feature_x.audit_seals)
				>= (SELECT id FROM feature_x.audit_log WHERE action = 'open_writer');
		 SELECT ok FROM feature_x.verify_audit_log();" | tr -d '\n')
check "once it committed, its row is sealed and the log verifies (got $got)" test "$got" = ttt

finish
