#!/usr/bin/env bash
# upgrade.sh: every released version of feature_x upgrades to exactly a fresh
# install of the latest one, keeps its data, and works in between.
#
# The versions come from the server (pg_available_extension_versions), so a
# new release is covered as soon as its scripts are installed; the latest is
# the control file's default_version.  For every other version V it proves:
#   - the installed scripts are those of sql/ (no stale `make install`);
#   - CREATE EXTENSION feature_x VERSION 'V' works, and an update path leads
#     from V to the latest;
#   - V's SQL objects work with the newest shared library, as between
#     `make install` and ALTER EXTENSION ... UPDATE: every C function of V
#     resolves in it, and every table of V is filled with representative data
#     through V's own public functions (upgrade/fill_ledger.sql: baseline,
#     register, migrate, rollback, a deployer's out-of-order migration, status,
#     health, require_version; upgrade/fill_rbac.sql where V has RBAC: roles,
#     inheritance, grants, denies, scoped and expiring assignments by an
#     actor; upgrade/fill_ddl_guard.sql where V has the DDL log: DDL outside
#     migrations under warn and error, a knex history imported;
#     upgrade/fill_schema.sql where V has drift(): recorded states, drift of
#     an out-of-band table; upgrade/fill_audit_chain.sql where V has
#     log_event(): events plain and durable, seals, a purge;
#     upgrade/fill_audit.sql where V has enable_audit(): audited tables, with
#     and without a key, an excluded column, inserts, updates by an actor, a
#     key change, deletes, a disabled table), with each call's effect checked;
#     every table must end up with rows, so a table added later fails here
#     until the fill covers it;
#   - ALTER EXTENSION feature_x UPDATE, in a backend that has used V's
#     objects, reaches the latest version, and the new objects work in that
#     same backend (upgrade/update.sql);
#   - every row of every table of the database (the extension's and those the
#     migrations created), as far as the columns that existed at V go, is
#     unchanged by the update;
#   - the upgraded catalog equals a fresh install's: upgrade/describe.sql
#     describes every member of the extension and everything in its schema
#     (function definitions and properties, columns, defaults, constraints,
#     indexes, triggers, policies, sequences, types, comments, ACLs,
#     pg_init_privs, config tables and dump conditions, role dependencies)
#     without OIDs; any difference is printed and fails the test;
#   - the whole pgTAP suite (test/pgtap/*.sql) passes on the upgraded
#     database.  The files create the extension themselves; here each runs
#     from a copy whose "CREATE EXTENSION feature_x;" line is replaced by
#     upgrade/pgtap_reset.sql, which empties the configuration tables inside
#     the file's transaction (rolled back at its end), so the suite sees the
#     upgraded objects in the state a fresh install leaves, and the data is
#     checked to be intact afterwards;
#   - the latest version's functions then work on the upgraded data (both
#     fills again, with new names).
#
# Uses the cluster of the environment (PGHOST, PGPORT, PGUSER, ...; a
# superuser), e.g. `pg_virtualenv -t -v 15 test/scripts/upgrade.sh`.
set -euo pipefail

FX_TEST=upgrade
# shellcheck source-path=SCRIPTDIR source=common.bash
. "$(dirname "$0")/common.bash"

HERE=$(cd "$(dirname "$0")" && pwd)
UP=$HERE/upgrade
ROOT=$(cd "$HERE/../.." && pwd)

# Databases of this run besides $DB (the fresh install), dropped on exit.
UPGRADE_DBS=()
upgrade_cleanup() {
	local rc=$? db
	set +e
	for db in "${UPGRADE_DBS[@]}"; do
		psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 ||
			echo "# could not drop database $db" >&2
	done
	(exit "$rc")
	cleanup
}
trap upgrade_cleanup EXIT

# psql_in DB LOG ARGS...: run psql in DB, all output to LOG; on failure show
# the end of LOG as diagnostics.
psql_in() {
	local db=$1 log=$2
	shift 2
	if "${PSQL[@]}" -d "$db" "$@" >"$log" 2>&1; then
		return 0
	fi
	tail -n 40 "$log" | diag
	return 1
}

qdb() {
	"${PSQL[@]}" -At -d "$1" -c "$2"
}

# describe DB OUT: the normalised catalog description of feature_x in DB.
describe() {
	psql_in "$1" "$2.log" -At -f "$UP/describe.sql" -o "$2"
}

# snapshot_queries DB OUT: one SELECT per table of DB (every schema but the
# system ones) returning "table|row as JSON" for its current columns; kept
# and rerun later, so that later snapshots look at the same columns.
snapshot_queries() {
	qdb "$1" "
		SELECT format('SELECT %L AS t, to_json(r)::text FROM (SELECT %s FROM %s) AS r',
					  c.oid::regclass::text,
					  coalesce(string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum), ''),
					  c.oid::regclass::text)
		  FROM pg_class c
		  JOIN pg_namespace n ON n.oid = c.relnamespace
		  LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		 WHERE c.relkind IN ('r', 'p')
		   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
		   AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
		 GROUP BY c.oid
		 ORDER BY c.oid::regclass::text COLLATE \"C\"" >"$2"
}

# snapshot DB QUERIES OUT: run the queries, rows sorted bytewise.
snapshot() {
	local db=$1 queries=$2 out=$3 query
	: >"$out.unsorted"
	while IFS= read -r query; do
		"${PSQL[@]}" -At -F '|' -d "$db" -c "$query" >>"$out.unsorted" 2>"$out.err" || {
			diag "$out.err"
			return 1
		}
	done <"$queries"
	LC_ALL=C sort "$out.unsorted" >"$out"
}

# same_data DESCRIPTION BEFORE AFTER: ok when both snapshots are identical.
same_data() {
	if diff -u "$2" "$3" >"$3.diff"; then
		ok "$1 ($(wc -l <"$2") rows in $(cut -d'|' -f1 "$2" | sort -u | wc -l) tables)"
	else
		not_ok "$1"
		head -n 60 "$3.diff" | diag
	fi
}

# tables_filled DB: every table of the extension has at least one row.
tables_filled() {
	local empty
	empty=$(qdb "$1" "
		SELECT string_agg(c.oid::regclass::text, ', ' ORDER BY c.oid::regclass::text)
		  FROM pg_depend d
		  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'feature_x'
		  JOIN pg_class c ON c.oid = d.objid AND c.relkind IN ('r', 'p')
		 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass
		   AND d.deptype = 'e'
		   AND NOT (xpath('/row/n/text()',
						  query_to_xml(format('SELECT EXISTS (SELECT FROM %s) AS n', c.oid::regclass),
									   false, true, '')))[1]::text::boolean") || return 1
	if [ -n "$empty" ]; then
		echo "# tables without representative data: $empty (extend test/scripts/upgrade/fill_*.sql)" >&2
		return 1
	fi
}

has_function() {
	[ "$(qdb "$1" "SELECT to_regprocedure('$2') IS NOT NULL")" = t ]
}

# fill DB LOGPREFIX BASE SUFFIX: both fills, each where its functions exist.
fill() {
	local db=$1 log=$2 base=$3 sfx=$4 what=()
	if has_function "$db" 'feature_x.register_migration(text,text,text,text)'; then
		psql_in "$db" "$log.ledger.log" -v base="$base" -v sfx="$sfx" -o /dev/null \
			-f "$UP/fill_ledger.sql" ||
			return 1
		what+=(ledger)
	fi
	if has_function "$db" 'feature_x.create_role(text,text,text[])' &&
		has_function "$db" 'feature_x.seed_default_roles()'; then
		psql_in "$db" "$log.rbac.log" -v sfx="$sfx" -o /dev/null -f "$UP/fill_rbac.sql" || return 1
		what+=(RBAC)
	fi
	if [ "$(qdb "$db" "SELECT to_regclass('feature_x.ddl_log') IS NOT NULL")" = t ] &&
		has_function "$db" 'feature_x.import_history(text)'; then
		psql_in "$db" "$log.ddl_guard.log" -v sfx="$sfx" -o /dev/null -f "$UP/fill_ddl_guard.sql" ||
			return 1
		what+=("DDL log, imported history")
	fi
	if has_function "$db" 'feature_x.drift()'; then
		psql_in "$db" "$log.schema.log" -v sfx="$sfx" -o /dev/null -f "$UP/fill_schema.sql" || return 1
		what+=("schema states")
	fi
	if has_function "$db" 'feature_x.log_event(text,text,jsonb,boolean)'; then
		psql_in "$db" "$log.audit_chain.log" -v sfx="$sfx" -o /dev/null \
			-f "$UP/fill_audit_chain.sql" || return 1
		what+=("audit events and seals")
	fi
	if has_function "$db" 'feature_x.enable_audit(regclass,text[])'; then
		psql_in "$db" "$log.audit.log" -v sfx="$sfx" -o /dev/null -f "$UP/fill_audit.sql" ||
			return 1
		what+=("audited changes")
	fi
	FILLED="${what[*]:-nothing}"
}

# pgtap DB: the pgTAP suite on DB, whose extension exists already.
pgtap() {
	local db=$1 dir=$WORK/pgtap.$1 file copy
	mkdir -p "$dir"
	for file in "$ROOT"/test/pgtap/*.sql; do
		copy=$dir/$(basename "$file")
		FX_INCLUDE="\\i '$UP/pgtap_reset.sql'" awk '
			{
				line = tolower($0)
				if (line ~ /^[ \t]*create[ \t]+extension[ \t]+(if[ \t]+not[ \t]+exists[ \t]+)?feature_x([ \t][^;]*)?;[ \t]*$/)
					print ENVIRON["FX_INCLUDE"]
				else
					print
			}' "$file" >"$copy"
	done
	if pg_prove --failures -d "$db" "$dir"/*.sql >"$dir/prove.log" 2>&1; then
		diag <"$dir/prove.log"
		return 0
	fi
	diag <"$dir/prove.log"
	return 1
}

# --- what is installed ----------------------------------------------------

LATEST=$(qdb postgres "SELECT default_version FROM pg_available_extensions WHERE name = 'feature_x'")
if [ -z "$LATEST" ]; then
	not_ok "feature_x is installed in the server (run make install)"
	finish
fi
mapfile -t VERSIONS < <(qdb postgres "SELECT version FROM pg_available_extension_versions
									  WHERE name = 'feature_x'" | sort -V)
OLD=()
for v in "${VERSIONS[@]}"; do
	[ "$v" = "$LATEST" ] || OLD+=("$v")
done
echo "# latest version $LATEST; upgrading from: ${OLD[*]:-(none)}"

# The versions in sql/ must be those installed, with the same scripts.
repo_versions=$(
	for f in "$ROOT"/sql/feature_x--*.sql; do
		f=$(basename "$f" .sql)
		f=${f#feature_x--}
		echo "${f%%--*}"
		[ "${f#*--}" = "$f" ] || echo "${f#*--}"
	done | sort -Vu | tr '\n' ' '
)
if [ "$repo_versions" = "$(printf '%s ' "${VERSIONS[@]}")" ]; then
	sharedir=$(qdb postgres "SELECT setting FROM pg_config WHERE name = 'SHAREDIR'")
	stale=()
	if [ -d "$sharedir/extension" ]; then
		for f in "$ROOT"/sql/feature_x--*.sql "$ROOT/feature_x.control"; do
			cmp -s "$f" "$sharedir/extension/$(basename "$f")" || stale+=("$(basename "$f")")
		done
	else
		echo "# $sharedir/extension is not readable here; install scripts not compared" >&2
	fi
	if [ ${#stale[@]} -eq 0 ]; then
		ok "installed versions (${VERSIONS[*]}) and scripts are those of sql/"
	else
		not_ok "installed scripts are those of sql/ (differ: ${stale[*]}; run make install)"
	fi
else
	not_ok "installed versions (${VERSIONS[*]}) are those of sql/ ($repo_versions); run make install"
fi

# --- the reference: a fresh install of the latest version -------------------

setup_db
check "fresh install is at $LATEST" \
	test "$(qdb "$DB" "SELECT extversion FROM pg_extension WHERE extname = 'feature_x'")" = "$LATEST"
check "fresh install: catalog described" describe "$DB" "$WORK/fresh.desc"

if [ ${#OLD[@]} -eq 0 ]; then
	ok "no released version older than $LATEST # SKIP nothing to upgrade from"
fi

for V in "${OLD[@]}"; do
	tag=${V//[^A-Za-z0-9]/_}
	vdb="${DB}_from_$tag"
	w=$WORK/$tag
	mkdir -p "$w"
	UPGRADE_DBS+=("$vdb")
	echo "# --- $V -> $LATEST (database $vdb)"

	if ! "${PSQL[@]}" -d postgres -c "CREATE DATABASE \"$vdb\"" ||
		! psql_in "$vdb" "$w/create.log" -c "CREATE EXTENSION feature_x VERSION '$V'"; then
		not_ok "$V: CREATE EXTENSION feature_x VERSION '$V'"
		continue
	fi
	check "$V: CREATE EXTENSION feature_x VERSION '$V' installs $V" \
		test "$(qdb "$vdb" "SELECT extversion FROM pg_extension WHERE extname = 'feature_x'")" = "$V"
	path=$(qdb "$vdb" "SELECT path FROM pg_extension_update_paths('feature_x')
						WHERE source = '$V' AND target = '$LATEST'")
	check "$V: an update path leads to $LATEST (${path:-none})" test -n "$path"

	# V's SQL objects against the newest library.
	check "$V: every C function of $V resolves in the installed library; read-only functions run" \
		psql_in "$vdb" "$w/entry_points.log" -f "$UP/entry_points.sql"
	FILLED=
	if fill "$vdb" "$w/fill_old" 0 old; then
		ok "$V: filled through $V's public functions ($FILLED), each checked, on the new library"
	else
		not_ok "$V: filled through $V's public functions on the new library"
	fi
	check "$V: every table of the extension has representative data" tables_filled "$vdb"

	if snapshot_queries "$vdb" "$w/snapshot.sql" && snapshot "$vdb" "$w/snapshot.sql" "$w/data.before"; then
		ok "$V: data snapshot before the update ($(wc -l <"$w/data.before") rows)"
	else
		not_ok "$V: data snapshot before the update"
		continue
	fi

	# The update, in a backend that has used V's objects.
	if psql_in "$vdb" "$w/update.log" -f "$UP/update.sql"; then
		ok "$V: ALTER EXTENSION feature_x UPDATE reaches $LATEST; the same backend uses the new objects"
	else
		not_ok "$V: ALTER EXTENSION feature_x UPDATE reaches $LATEST"
		continue
	fi

	if snapshot "$vdb" "$w/snapshot.sql" "$w/data.after"; then
		same_data "$V -> $LATEST: every row of every table is intact" "$w/data.before" "$w/data.after"
	else
		not_ok "$V -> $LATEST: every row of every table is intact (the columns of $V are readable)"
	fi

	if describe "$vdb" "$w/upgraded.desc"; then
		if diff -u --label "fresh install of $LATEST" --label "upgraded from $V" \
			"$WORK/fresh.desc" "$w/upgraded.desc" >"$w/catalog.diff"; then
			ok "$V -> $LATEST: catalog equals a fresh install ($(wc -l <"$w/upgraded.desc") facts)"
		else
			not_ok "$V -> $LATEST: catalog equals a fresh install"
			diag "$w/catalog.diff"
		fi
	else
		not_ok "$V -> $LATEST: catalog described"
	fi

	check "$V -> $LATEST: pgTAP suite passes on the upgraded database" pgtap "$vdb"
	if snapshot "$vdb" "$w/snapshot.sql" "$w/data.after_pgtap"; then
		same_data "$V -> $LATEST: data intact after the pgTAP suite" "$w/data.before" "$w/data.after_pgtap"
	else
		not_ok "$V -> $LATEST: data intact after the pgTAP suite"
	fi

	check "$V -> $LATEST: read-only functions run in a new backend" \
		psql_in "$vdb" "$w/entry_points_new.log" -f "$UP/entry_points.sql"
	FILLED=
	if fill "$vdb" "$w/fill_new" 100 new; then
		ok "$V -> $LATEST: $LATEST's functions work on the upgraded data ($FILLED)"
	else
		not_ok "$V -> $LATEST: $LATEST's functions work on the upgraded data"
	fi
	check "$V -> $LATEST: every table of the extension has representative data" tables_filled "$vdb"
done

finish
