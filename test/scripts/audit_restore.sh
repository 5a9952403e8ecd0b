#!/usr/bin/env bash
# audit_restore.sh: auditing survives pg_dump and pg_restore.
#
# A database with two audited tables (one with an excluded column and a key
# change in its history, one without a key) and an unaudited one is dumped
# in custom format and restored into a new database.  Proves:
#   - the restore writes no audit entries (the audit triggers are created
#     after the data) and the log is restored exactly, and verifies;
#   - audited_tables lists the same tables with the same exclusions, found
#     through the restored triggers (no OIDs stored anywhere);
#   - after the restore, changes are logged as before, the excluded column
#     still never reaches the log, and row_history() / row_as_of() read the
#     restored history together with the new entries;
#   - a table renamed before the dump is logged under its new name.
#
# Uses the cluster of the environment (PGHOST, PGPORT, PGUSER, ...; a
# superuser), e.g. `pg_virtualenv -t -v 15 test/scripts/audit_restore.sh`.
set -euo pipefail

FX_TEST=audit_restore
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

RESTORED="${DB}_restored"
audit_restore_cleanup() {
	local rc=$?
	set +e
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$RESTORED\" WITH (FORCE)" >/dev/null 2>&1 ||
		echo "# could not drop database $RESTORED" >&2
	(exit "$rc")
	cleanup
}
trap audit_restore_cleanup EXIT

qr() {
	"${PSQL[@]}" -At -d "$RESTORED" -c "$1"
}

# The log and the audited tables, as text, in a stable order.
describe() {
	"${PSQL[@]}" -At -d "$1" <<'SQL'
SELECT id, logged_at, txid, actor, db_user, application_name, client_addr, action,
	   table_name, row_key, old_data, new_data, details, encode(row_hash, 'hex')
  FROM feature_x.audit_log ORDER BY id;
SELECT table_name::text, exclude_columns, row_key, active
  FROM feature_x.audited_tables ORDER BY 1;
SQL
}

setup_db
"${PSQL[@]}" -d "$DB" >/dev/null <<'SQL'
CREATE TABLE accounts (id int PRIMARY KEY, email text, pin text, balance numeric);
CREATE TABLE events (kind text, payload jsonb);
CREATE TABLE plain (id int);
SELECT feature_x.enable_audit('accounts', ARRAY['pin']);
SELECT feature_x.enable_audit('events');
INSERT INTO accounts VALUES (1, 'a@example.com', 'pin-a', 10.50), (2, 'b@example.com', 'pin-b', 0);
BEGIN;
SELECT feature_x.set_actor('teller-7');
UPDATE accounts SET balance = balance + 5, pin = 'pin-c' WHERE id = 1;
UPDATE accounts SET id = 3 WHERE id = 2;
COMMIT;
INSERT INTO events VALUES ('login', '{"ok": true}'), ('login', '{"ok": true}');
INSERT INTO plain VALUES (1);
ALTER TABLE events RENAME TO sign_ins;
SQL

describe "$DB" >"$WORK/before.txt"
if pg_dump -Fc -d "$DB" -f "$WORK/dump" 2>"$WORK/dump.err"; then
	ok "pg_dump of a database with audited tables"
else
	not_ok "pg_dump of a database with audited tables"
	diag "$WORK/dump.err"
fi
"${PSQL[@]}" -d postgres -c "CREATE DATABASE \"$RESTORED\""
if pg_restore -d "$RESTORED" "$WORK/dump" 2>"$WORK/restore.err"; then
	ok "pg_restore succeeded"
else
	not_ok "pg_restore succeeded"
	diag "$WORK/restore.err"
fi

describe "$RESTORED" >"$WORK/after.txt"
if diff -u "$WORK/before.txt" "$WORK/after.txt" >"$WORK/diff.txt"; then
	ok "log and audited tables restored exactly, no entry written by the restore ($(wc -l <"$WORK/before.txt") lines)"
else
	not_ok "log and audited tables restored exactly"
	diag "$WORK/diff.txt"
fi
check "the restored log verifies" test "$(qr "SELECT ok FROM feature_x.verify_audit_log()")" = t
check "audited_tables: accounts excluding pin, sign_ins, not plain" \
	test "$(qr "SELECT string_agg(table_name::text || ':' || exclude_columns::text, ' ' ORDER BY 1)
				  FROM feature_x.audited_tables")" = "accounts:{pin} sign_ins:{}"

"${PSQL[@]}" -d "$RESTORED" >/dev/null <<'SQL'
UPDATE accounts SET pin = 'pin-d', balance = 0 WHERE id = 3;
DELETE FROM accounts WHERE id = 1;
INSERT INTO sign_ins VALUES ('logout', NULL);
INSERT INTO plain VALUES (2);
SQL
check "changes after the restore are logged, under the tables' current names" \
	test "$(qr "SELECT string_agg(action || ' ' || table_name, ', ' ORDER BY id)
				  FROM feature_x.audit_log
				 WHERE id > (SELECT max(id) FROM feature_x.audit_log WHERE table_name = 'public.events')")" \
	= "UPDATE public.accounts, DELETE public.accounts, INSERT public.sign_ins"
check "the excluded column never reaches the log, before or after the restore" \
	test "$(qr "SELECT count(*) FROM feature_x.audit_log l
				 WHERE l::text LIKE '%pin-%'")" = 0
check "row_history joins the restored history and the new entries across the key change" \
	test "$(qr "SELECT string_agg(action, ' ' ORDER BY id) FROM feature_x.row_history('accounts', '{\"id\": 3}')")" \
	= "INSERT UPDATE UPDATE"
check "row_as_of reads the row back" \
	test "$(qr "SELECT feature_x.row_as_of('accounts', '{\"id\": 3}', clock_timestamp()) = '{\"id\": 3, \"email\": \"b@example.com\", \"balance\": 0}'")" = t
check "the log still verifies" test "$(qr "SELECT ok FROM feature_x.verify_audit_log()")" = t

finish
