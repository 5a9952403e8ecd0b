#!/usr/bin/env bash
# hostile_input.sh: every public function of feature_x, called with bad and
# hostile input, fails with a documented SQLSTATE (checks: answers false),
# crashes nothing and changes nothing.
#
# The cases are data: test/scripts/hostile/cases.tsv (role, expected SQLSTATE
# or result, SQL; its header says more).  Fixture, in a UTF8 database:
# seed_default_roles(), Support inheriting Viewer, alice assigned Viewer at
# org:1, migration 1 applied and 2 pending, a table public.canary with one
# row, a table public.items with a primary key (the audit's exclusion
# checks); login roles (with passwords, so that this works over TCP too) for
# admin (feature_x_admin), deployer (feature_x_deployer) and nobody.
#
# Each case runs in a psql of its own, as its role.  After it:
#   - its SQLSTATE (from VERBOSITY verbose) or its last output line is the
#     expected one, and an error message is short (a huge argument is not
#     echoed back whole), unless the expected SQLSTATE ends in "~" (known
#     exceptions, listed in cases.tsv);
#   - nothing changed: the content of every table in schema feature_x (found
#     in pg_class, so tables added by later versions are covered too),
#     the relations and functions of the database, the roles of the cluster
#     and the canary row are as before the first case (sequences are left
#     out: nextval is not transactional);
#   - nothing crashed: a sentinel session opened before the first case is
#     still connected (a crashing backend makes the postmaster end every
#     session), and pg_postmaster_start_time() is unchanged.
# Then: every function granted to PUBLIC, feature_x_deployer or
# feature_x_admin has at least two cases, at least 60 cases ran, and every
# SQLSTATE expected is listed in README.md's error table.
set -euo pipefail

FX_TEST=hostile
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

HERE=$(dirname "$0")
CASES=${FX_HOSTILE_CASES:-$HERE/hostile/cases.tsv}
README=$HERE/../../README.md
MAX_MESSAGE_BYTES=4000

# --- roles ------------------------------------------------------------------
declare -A ROLE_USER=() ROLE_PASSWORD=()
for r in admin deployer nobody; do
	ROLE_USER[$r]="fx_hostile_${r}_$$"
	ROLE_PASSWORD[$r]=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
done

hostile_cleanup() {
	local rc=$? r
	set +e
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1
	for r in "${!ROLE_USER[@]}"; do
		psql -X -q -d postgres -c "DROP ROLE IF EXISTS ${ROLE_USER[$r]}" >/dev/null 2>&1
	done
	(exit "$rc")
	cleanup
}
trap hostile_cleanup EXIT

"${PSQL[@]}" -d postgres -c "CREATE DATABASE \"$DB\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
"${PSQL[@]}" -d postgres \
	-c "CREATE ROLE ${ROLE_USER[admin]} LOGIN PASSWORD '${ROLE_PASSWORD[admin]}'" \
	-c "CREATE ROLE ${ROLE_USER[deployer]} LOGIN PASSWORD '${ROLE_PASSWORD[deployer]}'" \
	-c "CREATE ROLE ${ROLE_USER[nobody]} LOGIN PASSWORD '${ROLE_PASSWORD[nobody]}'"
# The cases fail on purpose, some with 10 MB statements: log their errors,
# not their statements.
q "ALTER DATABASE \"$DB\" SET log_min_error_statement = panic"
q "SET client_min_messages = warning;
   CREATE EXTENSION feature_x;
   GRANT feature_x_admin TO ${ROLE_USER[admin]};
   GRANT feature_x_deployer TO ${ROLE_USER[deployer]};
   SELECT feature_x.seed_default_roles();
   SELECT feature_x.create_role('Support', 'Helps customers.', ARRAY['Viewer']);
   SELECT feature_x.assign_role('alice', 'Viewer', 'org:1');
   SELECT feature_x.register_migration('1', 'init', 'CREATE TABLE public.app_one (id int);',
		'DROP TABLE public.app_one;');
   SELECT feature_x.register_migration('2', 'two', 'CREATE TABLE public.app_two (id int);',
		'DROP TABLE public.app_two;');
   SELECT count(*) FROM feature_x.migrate('1');
   CREATE TABLE public.canary (id int);
   INSERT INTO public.canary VALUES (1);
   GRANT ALL ON public.canary TO PUBLIC;
   CREATE TABLE public.items (id int PRIMARY KEY, name text)" >/dev/null

# --- what "nothing changed" compares ------------------------------------------
# One md5 per table of schema feature_x over its rows in a fixed order.
table_sums=$(q "SELECT string_agg(format(
		'SELECT %L || '':'' || coalesce(md5(string_agg(t::text, E''\\n'' ORDER BY t::text)), ''-'') FROM %s t',
		c.relname, c.oid::regclass), ' UNION ALL ' ORDER BY c.relname)
	  FROM pg_class c
	 WHERE c.relnamespace = 'feature_x'::regnamespace AND c.relkind IN ('r', 'p')")
SNAPSHOT_SQL="SELECT (SELECT string_agg(s, ' ' ORDER BY s) FROM ($table_sums) sums(s)) AS tables,
	(SELECT md5(string_agg(c.oid::regclass::text || c.relkind::text, ',' ORDER BY c.oid::regclass::text))
	   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
		AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%') AS relations,
	(SELECT md5(string_agg(p.oid::regprocedure::text, ',' ORDER BY p.oid::regprocedure::text))
	   FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')) AS functions,
	(SELECT md5(string_agg(rolname || rolsuper::text, ',' ORDER BY rolname)) FROM pg_roles) AS roles,
	(SELECT string_agg(id::text, ',') FROM public.canary) AS canary"
ntables=$(q "SELECT count(*) FROM pg_class WHERE relnamespace = 'feature_x'::regnamespace AND relkind IN ('r', 'p')")

# The sentinel: a session sleeping through all cases (no time limit of its
# own, so that slow runs, under valgrind say, do not end it).
bg sentinel 7200 env PGAPPNAME="fx_hostile_sentinel_$$" PGOPTIONS="${PGOPTIONS:-} -c statement_timeout=0" \
	"${PSQL[@]}" -d "$DB" -c "SELECT pg_sleep(7200)"
wait_for "the sentinel session to connect" 30 \
	"SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'fx_hostile_sentinel_$$')"
SENTINEL_PID=$(q "SELECT pid FROM pg_stat_activity WHERE application_name = 'fx_hostile_sentinel_$$'")
ALIVE_SQL="SELECT (SELECT count(*) FROM pg_stat_activity WHERE pid = $SENTINEL_PID), pg_postmaster_start_time()"
alive=$(q "$ALIVE_SQL")
check "fixture ready: $ntables extension tables, sentinel session (pid $SENTINEL_PID) connected" \
	[ "${alive%%|*}" = 1 ]
# One query per case checks both; the details only when it differs.
CASE_CHECK_SQL="$ALIVE_SQL, (SELECT md5(s::text) FROM ($SNAPSHOT_SQL) s)"
before=$(q "$SNAPSHOT_SQL")
expected_check=$(q "$CASE_CHECK_SQL")

# --- the cases --------------------------------------------------------------
# write_case SQL FILE: SQL with its placeholders expanded, into FILE.
write_case() {
	local sql=$1 file=$2 prefix
	sql=${sql//\{BAD_UTF8\}/$'\xc3\x28'}
	if [[ $sql == *"{HUGE}"* ]]; then
		prefix=${sql%%\{HUGE\}*}
		printf '%s' "$prefix" >"$file"
		head -c 10485760 /dev/zero | tr '\0' x >>"$file"
		printf '%s\n' "${sql#*\{HUGE\}}" >>"$file"
	else
		printf '%s\n' "$sql" >"$file"
	fi
}

ncases=0
declare -A EXPECTED_STATES=()
while IFS=$'\t' read -r role expected sql; do
	[[ -z $role || $role == \#* ]] && continue
	ncases=$((ncases + 1))
	long_ok=false
	if [[ $expected == *~ ]]; then
		long_ok=true
		expected=${expected%\~}
	fi
	[[ $expected == =* ]] || EXPECTED_STATES[$expected]=1
	write_case "$sql" "$WORK/case.sql"
	label="[$role] ${sql:0:110}"

	rc=0
	if [ "$role" = super ]; then
		PGCLIENTENCODING=UTF8 psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
			-d "$DB" -f "$WORK/case.sql" >"$WORK/case.out" 2>"$WORK/case.err" || rc=$?
	else
		PGUSER=${ROLE_USER[$role]} PGPASSWORD=${ROLE_PASSWORD[$role]} PGCLIENTENCODING=UTF8 \
			psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
			-d "$DB" -f "$WORK/case.sql" >"$WORK/case.out" 2>"$WORK/case.err" || rc=$?
	fi
	state=$(sed -n 's/.*ERROR:  \([0-9A-Z]\{5\}\): .*/\1/p' "$WORK/case.err" | head -n 1)

	problem=""
	if [[ $expected == =* ]]; then
		got=$(tail -n 1 "$WORK/case.out")
		if [ "$rc" -ne 0 ] || [ "$got" != "${expected#=}" ]; then
			problem="expected success with '${expected#=}', got rc $rc, SQLSTATE ${state:-none}, output '${got:0:200}'"
		fi
	elif [ "$state" != "$expected" ]; then
		problem="expected SQLSTATE $expected, got ${state:-none} (rc $rc)"
	elif ! $long_ok && [ "$(wc -c <"$WORK/case.err")" -gt "$MAX_MESSAGE_BYTES" ]; then
		problem="error output has $(wc -c <"$WORK/case.err") bytes (more than $MAX_MESSAGE_BYTES)"
	fi
	if [ "$(q "$CASE_CHECK_SQL" 2>&1)" != "$expected_check" ]; then
		if [ "$(q "$ALIVE_SQL" 2>&1)" != "$alive" ]; then
			problem+="${problem:+; }the server crashed or restarted"
		fi
		after=$(q "$SNAPSHOT_SQL")
		if [ "$after" != "$before" ]; then
			problem+="${problem:+; }the extension's tables, the schema, the roles or the canary changed"
			before=$after # report each change once
			expected_check=$(q "$CASE_CHECK_SQL")
		fi
	fi

	if [ -z "$problem" ]; then
		ok "${expected}: $label"
	else
		not_ok "${expected}: $label"
		echo "# $problem" >&2
		head -c 600 "$WORK/case.err" | diag
	fi
done <"$CASES"

# --- coverage and documentation ------------------------------------------------
check "at least 60 bad calls ($ncases)" [ "$ncases" -ge 60 ]

while read -r fn; do
	n=$(grep -v '^#' "$CASES" | grep -c "feature_x\.$fn(") || true
	check "public function feature_x.$fn() has hostile cases ($n)" [ "$n" -ge 2 ]
done < <(q "SELECT DISTINCT p.proname FROM pg_proc p
			 WHERE p.pronamespace = 'feature_x'::regnamespace
			   AND (has_function_privilege('public', p.oid, 'EXECUTE')
					OR has_function_privilege('feature_x_deployer', p.oid, 'EXECUTE')
					OR has_function_privilege('feature_x_admin', p.oid, 'EXECUTE'))
			 ORDER BY 1")

# The first column of the table under "### Errors".
documented=$(awk '/^### Errors/ { on = 1; next } on && /^#/ { exit } on && /^\| `/ {
	split($0, cols, "|"); print cols[2] }' "$README")
for state in $(printf '%s\n' "${!EXPECTED_STATES[@]}" | sort); do
	check "SQLSTATE $state is in README.md's error table" grep -q "\`$state\`" <<<"$documented"
done

check "the sentinel session survived every case" running sentinel
check "...and is the same backend (pid $SENTINEL_PID)" \
	[ "$(q "SELECT pg_terminate_backend($SENTINEL_PID)")" = t ]
reap sentinel

finish
