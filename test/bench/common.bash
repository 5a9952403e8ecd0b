# shellcheck shell=bash
# common.bash: shared helpers of the benchmarks test/bench/<name>_<workload>.sh.
# Sourced, never run (run.sh runs only *_*.sh, which this name does not match).
#
# The sourcing script sets `set -euo pipefail` first.  It gets:
#   bench             its own name (e.g. migrate_1000), the prefix of messages
#   workdir           a scratch directory, removed at exit
#   fail MSG          prints "bench: MSG" on stderr and exits 1
#   progress MSG      prints "bench: MSG" on stderr
#   note MSG          prints "# note: MSG" on stdout (run.sh shows it)
#   result WORKLOAD FX_MS BASE_MS RATIO TARGET   prints the RESULT line
#   ratio A B [DIGITS]   A / B with DIGITS decimals (default 2)
#   median            the median of the numbers on stdin, one decimal; fails
#                     when there are none
#   timed OUT CMD...  runs CMD with its stdout in file OUT and prints the
#                     milliseconds it took (CLOCK_MONOTONIC), or fails if it did
#   psql_admin ARG... psql in database postgres, notices off, stop on error
#   query SQL         SQL in database $db (set by the script), unaligned
#                     tuples only; query_in DB SQL does the same in DB
#   drop_databases DB...   DROP DATABASE IF EXISTS ... WITH (FORCE), each
# If the script defines cleanup(), the EXIT trap runs it (its failures
# ignored) before removing $workdir, also when the script fails.

bench=$(basename "$0" .sh)
workdir=$(mktemp -d)

on_exit() {
	if declare -F cleanup >/dev/null; then
		cleanup || true
	fi
	rm -rf "$workdir"
}
trap on_exit EXIT

fail() {
	echo "$bench: $*" >&2
	exit 1
}

progress() {
	echo "$bench: $*" >&2
}

note() {
	printf '# note: %s\n' "$*"
}

result() {
	printf 'RESULT\t%s\t%s\t%s\t%s\t%s\n' "$@"
}

ratio() {
	awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { printf "%." d "f", a / b }'
}

median() {
	sort -g | awk '{ v[NR] = $1 }
		END { if (NR == 0) exit 1; printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

timed() {
	local out=$1
	shift
	perl -MTime::HiRes=clock_gettime,CLOCK_MONOTONIC -e '
		my $start = clock_gettime(CLOCK_MONOTONIC);
		system(@ARGV) == 0 or exit 1;
		open(my $ms, ">&=", 3) or die "fd 3: $!\n";
		printf $ms "%.1f\n", (clock_gettime(CLOCK_MONOTONIC) - $start) * 1000;
	' "$@" 3>&1 >"$out"
}

psql_admin() {
	psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" "$@"
}

query_in() {
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}

query() {
	query_in "${db:?db is not set}" "$1"
}

# Drops each database that exists, also with sessions still connected (a
# sealer or pgbench client left behind); tries them all, fails if one failed.
drop_databases() {
	local name status=0
	for name; do
		psql_admin -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" || status=1
	done
	return "$status"
}
