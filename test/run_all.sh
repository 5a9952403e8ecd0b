#!/usr/bin/env bash
# Runs every test suite of feature_x against the cluster described by the
# environment (PGHOST, PGPORT, PGUSER, ...; `make test` provides a throwaway
# one with pg_virtualenv).  Prints a summary line and fails if any suite did.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0

run_suite() {
	local name=$1
	shift
	echo "=== $name"
	if "$@"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "!!! $name failed"
	fi
}

regress() {
	make -s installcheck || { cat regression.diffs 2>/dev/null; return 1; }
}

pgtap() {
	local db=fx_pgtap
	psql -X -q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" postgres &&
		pg_prove --failures -d "$db" test/pgtap/*.sql
	local rc=$?
	psql -X -q -c "DROP DATABASE IF EXISTS $db" postgres
	return $rc
}

run_suite "pg_regress" regress
run_suite "pgTAP" pgtap
for script in test/scripts/*.sh; do
	run_suite "$script" "$script"
done

echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
