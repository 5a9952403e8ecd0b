#!/usr/bin/env bash
# migrate_progress.sh: migrate() and rollback() report their progress.
#
# Proves that, with the default client_min_messages, migrate() of three
# migrations emits exactly one NOTICE per migration, in natural version
# order ("2" before "10"): "applied 1/3 <version> (<ms> ms)" .. "applied 3/3",
# whose duration matches the duration_ms it returns; that rollback() of two
# emits "rolled back 1/2 <version> (<ms> ms)" and "rolled back 2/2", newest
# first; that migrate() with nothing to do prints nothing; and that with
# SET client_min_messages = warning neither prints anything at all while both
# still do their work.
set -euo pipefail

FX_TEST=migrate_progress
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

setup_db
q "SELECT feature_x.register_migration('1', 'first', 'CREATE TABLE prog_a (id int)', 'DROP TABLE prog_a');
   SELECT feature_x.register_migration('10', 'third', 'CREATE TABLE prog_c (id int)', 'DROP TABLE prog_c');
   SELECT feature_x.register_migration('2', 'second', 'CREATE TABLE prog_b (id int)', 'DROP TABLE prog_b')" >/dev/null

# session NAME SQL: run SQL in a fresh session; result rows (-At) go to
# $WORK/NAME.rows, messages (NOTICEs, errors) to $WORK/NAME.msgs.  Sets RC.
session() {
	local name=$1 sql=$2
	RC=0
	timeout 20 "${PSQL[@]}" -At -d "$DB" -c "$sql" \
		>"$WORK/$name.rows" 2>"$WORK/$name.msgs" || RC=$?
}

# expect_lines NAME FILE REGEX...: FILE consists of exactly the given lines.
expect_lines() {
	local description=$1 file=$2 i=0 line
	shift 2
	local -a lines=()
	mapfile -t lines <"$file"
	if [ "${#lines[@]}" -eq $# ]; then
		for line in "${lines[@]}"; do
			i=$((i + 1))
			[[ $line =~ ${!i} ]] || break
		done
		if [ "$i" -eq $# ] && { [ $# -eq 0 ] || [[ ${lines[-1]} =~ ${!#} ]]; }; then
			ok "$description"
			return
		fi
	fi
	not_ok "$description"
	echo "# expected $# lines matching:" >&2
	printf '%s\n' "$@" | diag
	echo "# got:" >&2
	diag "$file"
}

ms='\(([0-9]+\.[0-9]) ms\)'

# --- migrate() with default client_min_messages -------------------------
session migrate "SHOW client_min_messages; SELECT version, duration_ms FROM feature_x.migrate()"
check "migrate() succeeded" [ "$RC" -eq 0 ]
check "client_min_messages is at its default (notice)" [ "$(head -n1 "$WORK/migrate.rows")" = notice ]
expect_lines "migrate() printed 'applied 1/3 1', 'applied 2/3 2', 'applied 3/3 10' with durations" \
	"$WORK/migrate.msgs" \
	"^NOTICE:  applied 1/3 1 $ms\$" \
	"^NOTICE:  applied 2/3 2 $ms\$" \
	"^NOTICE:  applied 3/3 10 $ms\$"

# Each NOTICE's duration is the returned duration_ms rounded to 0.1 ms.
mismatch=""
while IFS='|' read -r version duration; do
	notice=$(sed -nE "s/^NOTICE:  applied [0-9]+\/3 $version \(([0-9.]+) ms\)\$/\1/p" "$WORK/migrate.msgs")
	awk -v a="$notice" -v b="$duration" 'BEGIN { d = a - b; exit !(a != "" && d <= 0.05001 && d >= -0.05001) }' ||
		mismatch="$mismatch $version:$notice/$duration"
done < <(tail -n +2 "$WORK/migrate.rows")
check "the NOTICE durations match the duration_ms returned by migrate()" \
	[ "$(tail -n +2 "$WORK/migrate.rows" | wc -l):$mismatch" = "3:" ]
[ -z "$mismatch" ] || echo "# notice/returned:$mismatch" >&2

session migrate_nothing "SELECT count(*) FROM feature_x.migrate()"
check "migrate() with nothing pending returns no row" [ "$RC:$(cat "$WORK/migrate_nothing.rows")" = 0:0 ]
expect_lines "migrate() with nothing pending prints nothing" "$WORK/migrate_nothing.msgs"

# --- rollback() with default client_min_messages ------------------------
session rollback "SELECT version FROM feature_x.rollback('1')"
check "rollback('1') succeeded and rolled back 10 then 2" \
	[ "$RC:$(tr '\n' ' ' <"$WORK/rollback.rows")" = "0:10 2 " ]
expect_lines "rollback() printed 'rolled back 1/2 10', 'rolled back 2/2 2' with durations" \
	"$WORK/rollback.msgs" \
	"^NOTICE:  rolled back 1/2 10 $ms\$" \
	"^NOTICE:  rolled back 2/2 2 $ms\$"

# --- the same with client_min_messages = warning ------------------------
session quiet_migrate "SET client_min_messages = warning; SELECT version FROM feature_x.migrate()"
check "migrate() with client_min_messages = warning re-applied 2 and 10" \
	[ "$RC:$(tr '\n' ' ' <"$WORK/quiet_migrate.rows")" = "0:2 10 " ]
expect_lines "migrate() with client_min_messages = warning printed nothing" "$WORK/quiet_migrate.msgs"

session quiet_rollback "SET client_min_messages = warning; SELECT version FROM feature_x.rollback('1')"
check "rollback() with client_min_messages = warning rolled back 10 and 2" \
	[ "$RC:$(tr '\n' ' ' <"$WORK/quiet_rollback.rows")" = "0:10 2 " ]
expect_lines "rollback() with client_min_messages = warning printed nothing" "$WORK/quiet_rollback.msgs"

got=$(q "SELECT string_agg(version || '=' || state, ' ') FROM feature_x.migration_status()")
check "the ledger agrees: 1 applied, 2 and 10 rolled back" [ "$got" = "1=applied 2=rolled_back 10=rolled_back" ]

finish
