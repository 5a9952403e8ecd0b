#!/usr/bin/env bash
# dump_restore.sh: a database using feature_x survives pg_dump and restore.
#
# A database with a filled migration ledger (applied, pending, rolled back,
# baselined), RBAC data (inheritance, grants, denies, scoped and expiring
# assignments) and a table under a row-level security policy that calls
# actor_has_permission() is dumped in custom format (restored with
# pg_restore) and in plain format (restored with psql).  Each restored copy
# must hold exactly the same rows in every extension table, report every
# stored script as matching its checksum, give the same health() and the same
# permission answers, enforce the policy, and still invalidate permission
# caches when RBAC data changes.  The audit log, with row changes of an
# audited table, application and durable events, seals and a purge behind it
# (so its chain starts from a purge anchor) and an unsealed tail, must
# restore with its seals and sequence, verify_audit_log() must be ok on each
# copy, and the chain must go on there (new events, sealed, verify again).
#
# The DDL log is among those tables (the source has out-of-band DDL).  The
# restore is itself DDL outside a migration, so the copies are restored with
# PGOPTIONS='-c feature_x.ddl_guard=off', as the README tells DBAs.  Under
# the default guard (warn) a restore also succeeds, keeps every dumped row
# of the log and adds the restore's own DDL; under error it is refused.
set -euo pipefail
FX_TEST=dump_restore
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

RESTORED_DBS=("${DB}_custom" "${DB}_plain" "${DB}_warn" "${DB}_error")
dump_restore_cleanup() {
	local rc=$? db
	set +e
	# $DB too, before the role its grant depends on; cleanup then finds it gone.
	for db in "${RESTORED_DBS[@]}" "$DB"; do
		psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 ||
			echo "# could not drop database $db" >&2
	done
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS fx_dump_reader" >/dev/null 2>&1
	(exit "$rc")
	cleanup
}
trap dump_restore_cleanup EXIT

# One line per row of every extension table, in a stable order, plus the
# answers and health that must survive.
snapshot() {
	"${PSQL[@]}" -At -d "$1" <<'SQL'
SELECT 'table ' || c.relname || ': ' ||
	   coalesce((xpath('/row/c/text()',
					   query_to_xml(format('SELECT md5(coalesce(string_agg(t::text, %L ORDER BY t::text), %L)) AS c FROM %s t',
										   E'\n', '', c.oid::regclass), false, false, '')))[1]::text, '')
  FROM pg_extension e, unnest(e.extconfig) AS x(oid) JOIN pg_class c ON c.oid = x.oid
 WHERE e.extname = 'feature_x' AND c.relkind = 'r'
 ORDER BY c.relname;
SELECT 'sequence ' || c.relname || ': ' ||
	   (xpath('/row/v/text()', query_to_xml(format('SELECT last_value AS v FROM %s', c.oid::regclass),
											 false, false, '')))[1]::text
  FROM pg_extension e, unnest(e.extconfig) AS x(oid) JOIN pg_class c ON c.oid = x.oid
 WHERE e.extname = 'feature_x' AND c.relkind = 'S'
 ORDER BY c.relname;
SELECT 'status ' || version || ' ' || state || ' ' || checksum_ok FROM feature_x.migration_status();
SELECT 'health ' || (feature_x.health() - 'in_recovery')::text;
SELECT 'check ' || u || ' ' || p || ' ' || coalesce(s, '-') || ' ' || feature_x.has_permission(u, p, s)
  FROM (VALUES ('alice', 'doc:read', 'org:1'), ('alice', 'billing:read', 'org:1'),
			   ('alice', 'doc:read', 'org:2'), ('bob', 'doc:delete', NULL),
			   ('carol', 'doc:update', 'org:1/project:7'), ('dave', 'doc:read', NULL)) AS c(u, p, s)
 ORDER BY 1;
SQL
}

setup_db
q "SET client_min_messages = warning;
   SELECT feature_x.register_migration('1', 'docs', 'CREATE TABLE docs (id int PRIMARY KEY, scope text NOT NULL, body text)', 'DROP TABLE docs');
   SELECT feature_x.register_migration('2', 'rls',
	   'ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
		CREATE POLICY docs_read ON docs FOR SELECT USING (feature_x.actor_has_permission(''doc:read'', scope));',
	   'DROP POLICY docs_read ON docs; ALTER TABLE docs DISABLE ROW LEVEL SECURITY');
   SELECT feature_x.register_migration('3', 'index', E'CREATE INDEX docs_scope_idx ON docs (scope);\r\n', 'DROP INDEX docs_scope_idx');
   SELECT count(*) FROM feature_x.migrate();
   SELECT count(*) FROM feature_x.rollback('2');
   SELECT feature_x.register_migration('4', 'pending', 'ALTER TABLE docs ADD COLUMN title text');
   INSERT INTO docs SELECT g, 'org:' || (g % 3) || '/project:' || g, 'body ' || g FROM generate_series(1, 30) g;
   SELECT feature_x.seed_default_roles();
   SELECT feature_x.create_role('NoBilling', 'Never sees billing.');
   SELECT feature_x.deny_permission('NoBilling', 'billing:*');
   SELECT feature_x.create_role('Lead', NULL, ARRAY['Editor', 'NoBilling']);
   SELECT feature_x.assign_role('alice', 'Lead', 'org:1');
   SELECT feature_x.assign_role('bob', 'Manager');
   SELECT feature_x.assign_role('carol', 'Editor', 'org:1', now() + interval '1 day');
   SELECT feature_x.assign_role('dave', 'Viewer', NULL, now() - interval '1 day');" >/dev/null
q "CREATE ROLE fx_dump_reader; GRANT SELECT ON docs TO fx_dump_reader" >/dev/null
# The audit log: a first sealed segment that is purged, then row changes and
# events, sealed, then an unsealed tail.
q "SET client_min_messages = warning;
   SELECT feature_x.log_event('purged_' || g) FROM generate_series(1, 5) g;
   SELECT feature_x.seal_audit_log();" >/dev/null
cutoff=$(q "SELECT clock_timestamp()")
q "SET client_min_messages = warning;
   SELECT feature_x.enable_audit('docs');
   UPDATE docs SET body = body || ' (edited)' WHERE id <= 5;
   DELETE FROM docs WHERE id = 30;
   SELECT feature_x.log_event('login', 'user:1', '{\"ok\": true}');
   SELECT feature_x.log_event('login_failed', 'user:2', '{\"ok\": false}', true);
   SELECT feature_x.seal_audit_log();
   SELECT feature_x.purge_audit_log('$cutoff');
   SELECT feature_x.log_event('tail', 'user:3');" >/dev/null
audit_state() {
	"${PSQL[@]}" -At -d "$1" -c "SELECT ok::text || ' ' || checked || ' ' || coalesce(reason, '')
								   FROM feature_x.verify_audit_log()"
}
got=$(audit_state "$DB")
check "the source's audit log verifies after its purge (got: $got)" \
	test "$got" = "true $(q "SELECT count(*) FROM feature_x.audit_log") "
check "the purge left an anchor and a later seal in the source" \
	test "$(q "SELECT count(*) = 1 FROM feature_x.audit_log WHERE action = 'feature_x.audit_purged'
			   AND (details->>'rows_deleted')::int = 5 AND (SELECT min(seal_id) FROM feature_x.audit_seals) > 1")" = t

before=$(snapshot "$DB")
check "the source database has rows in every extension table" \
	bash -c "! grep -q 'table [a-z_]*: d41d8cd98f00b204e9800998ecf8427e$' <<<\"\$1\"" _ "$before"

pg_dump -Fc -f "$WORK/db.dump" "$DB"
pg_dump -Fp -f "$WORK/db.sql" "$DB"
ok "pg_dump wrote custom and plain dumps"

for db in "${RESTORED_DBS[@]}"; do
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE \"$db\""
done
GUARD_OFF="${PGOPTIONS:-} -c feature_x.ddl_guard=off"
if PGOPTIONS=$GUARD_OFF pg_restore --exit-on-error -d "${DB}_custom" "$WORK/db.dump" \
	>"$WORK/restore_custom.out" 2>&1; then
	ok "pg_restore of the custom-format dump succeeded"
else
	not_ok "pg_restore of the custom-format dump succeeded"
	diag "$WORK/restore_custom.out"
fi
if PGOPTIONS=$GUARD_OFF "${PSQL[@]}" -d "${DB}_plain" -f "$WORK/db.sql" >"$WORK/restore_plain.out" 2>&1; then
	ok "psql restore of the plain-format dump succeeded"
else
	not_ok "psql restore of the plain-format dump succeeded"
	diag "$WORK/restore_plain.out"
fi

for target in "${DB}_custom" "${DB}_plain"; do
	kind=${target##*_}
	after=$(snapshot "$target")
	if [ "$before" = "$after" ]; then
		ok "$kind: every extension table, status, health and check answer is as before"
	else
		not_ok "$kind: every extension table, status, health and check answer is as before"
		diff <(echo "$before") <(echo "$after") | diag
	fi

	rls=$("${PSQL[@]}" -At -d "$target" -c "SET ROLE fx_dump_reader; BEGIN;
		SELECT feature_x.set_actor('alice');
		SELECT count(*) FROM docs; COMMIT;" | tail -1)
	check "$kind: the RLS policy admits alice's 10 rows (got $rls)" test "$rls" = 10

	changed=$("${PSQL[@]}" -At -d "$target" -c "SET client_min_messages = warning;
		SELECT feature_x.has_permission('alice', 'doc:read', 'org:1');
		SELECT feature_x.unassign_role('alice', 'Lead', 'org:1');
		SELECT feature_x.has_permission('alice', 'doc:read', 'org:1');" | tr -d '\n')
	check "$kind: RBAC changes still invalidate cached answers (got $changed)" test "$changed" = tf

	got=$(audit_state "$target")
	check "$kind: the restored audit log verifies, seals and purge anchor included (got: $got)" \
		test "$got" = "$(audit_state "$DB")"
	got=$("${PSQL[@]}" -At -d "$target" -c "SET client_min_messages = warning;
		SELECT feature_x.log_event('after_restore') > (SELECT max(id) FROM feature_x.audit_log WHERE action = 'tail');
		SELECT feature_x.seal_audit_log() > 0;
		SELECT ok FROM feature_x.verify_audit_log();" | tr -d '\n')
	check "$kind: the restored log goes on: new ids, sealed on top of the restored seals, verify ok (got $got)" \
		test "$got" = ttt

	applied=$("${PSQL[@]}" -At -d "$target" -c "SET client_min_messages = warning;
		SELECT string_agg(version, ',' ORDER BY version) FROM feature_x.migrate();")
	check "$kind: the ledger goes on: migrate() applies the rolled-back and pending migrations (got $applied)" \
		test "$applied" = "3,4"
done

# Restores under the guard.
logged=$("${PSQL[@]}" -At -d "$DB" -c "SELECT count(*) FROM feature_x.ddl_log")
if pg_restore --exit-on-error -d "${DB}_warn" "$WORK/db.dump" >"$WORK/restore_warn.out" 2>&1; then
	ok "guard warn: pg_restore succeeds"
else
	not_ok "guard warn: pg_restore succeeds"
	diag "$WORK/restore_warn.out"
fi
kept=$("${PSQL[@]}" -At -d "${DB}_warn" -c "SELECT count(*) FROM feature_x.ddl_log
	WHERE id IN ($("${PSQL[@]}" -At -d "$DB" -c "SELECT string_agg(quote_literal(id::text), ',') FROM feature_x.ddl_log"))")
check "guard warn: every dumped row of the DDL log is restored (got $kept of $logged)" test "$kept" = "$logged"
restored=$("${PSQL[@]}" -At -d "${DB}_warn" -c "SELECT count(*) FROM feature_x.ddl_log
	WHERE command_tag = 'CREATE TABLE' AND object_identity = 'public.docs'")
check "guard warn: the restore's own DDL is recorded (got $restored CREATE TABLE public.docs)" test "$restored" = 1
if PGOPTIONS="${PGOPTIONS:-} -c feature_x.ddl_guard=error" \
	pg_restore --exit-on-error -d "${DB}_error" "$WORK/db.dump" >"$WORK/restore_error.out" 2>&1; then
	not_ok "guard error: pg_restore is refused"
else
	check "guard error: pg_restore is refused (42501 on the first user table)" \
		grep -q 'outside a migration is not allowed' "$WORK/restore_error.out"
fi

finish
