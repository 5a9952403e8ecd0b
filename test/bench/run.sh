#!/usr/bin/env bash
# Runs every benchmark of feature_x (test/bench/<name>_<workload>.sh) against
# the cluster described by the environment (`make bench` provides a throwaway
# one with pg_virtualenv) and prints one table: per workload, the median time
# with feature_x, the median time of the plain-SQL baseline, their ratio and
# the target ratio.  Each benchmark prints its results as lines
#   RESULT <tab> workload <tab> feature_x ms <tab> baseline ms <tab> ratio <tab> target
# on stdout, and may add "# note: ..." lines, which are shown under the table.
# Fails if any benchmark failed or reported nothing.
set -euo pipefail
cd "$(dirname "$0")"

rows=$(printf 'workload\tfeature_x\tbaseline\tratio\ttarget')
notes=""
failed=0

# The pattern needs an underscore, so it does not match run.sh itself.
for bench in ./*_*.sh; do
	echo "=== ${bench#./}" >&2
	if out=$("$bench") && results=$(grep $'^RESULT\t' <<<"$out"); then
		rows+=$'\n'$(awk -F '\t' -v OFS='\t' '{ print $2, $3 " ms", $4 " ms", $5 "x", $6 }' <<<"$results")
		bench_notes=$(sed -n "s|^# note: |${bench#./}: |p" <<<"$out")
		[ -z "$bench_notes" ] || notes+=$bench_notes$'\n'
	else
		failed=$((failed + 1))
		echo "!!! ${bench#./} failed" >&2
		rows+=$'\n'"${bench#./}"$'\tFAILED\t\t\t'
	fi
done

echo
awk -F '\t' '
	{ for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > width[i]) width[i] = length($i) } }
	END {
		for (r = 1; r <= NR; r++) {
			line = sprintf("%-*s", width[1], cell[r, 1])
			for (i = 2; i <= 5; i++)
				line = line sprintf(" | %*s", width[i], cell[r, i])
			print line
			if (r == 1) {
				rule = dashes(width[1])
				for (i = 2; i <= 5; i++)
					rule = rule "-+-" dashes(width[i])
				print rule
			}
		}
	}
	function dashes(n,   s) { while (length(s) < n) s = s "-"; return s }
' <<<"$rows"
echo
printf '%s' "$notes"
printf 'machine: %s CPUs, %s, %s\n' "$(nproc)" \
	"$(psql -X -At -d postgres -c "SELECT split_part(version(), ' on ', 1)")" "$(date -u '+%Y-%m-%d %H:%M UTC')"

[ "$failed" -eq 0 ]
