#!/usr/bin/env bash
# sanitize.sh: run feature_x's tests with the server under valgrind and the
# extension built with UndefinedBehaviorSanitizer, and report what they find
# in feature_x's code.
#
#   test/sanitize.sh                 pg_regress, pgTAP and the actor script
#   FX_SANITIZE_SCRIPTS="hostile_input.sh actor_isolation.sh" test/sanitize.sh
#                                    other scripted tests (hostile_input.sh
#                                    takes about 15 minutes under valgrind)
#   FX_SANITIZE_KEEP=1 test/sanitize.sh   keep the work directory
#
# Needs valgrind, gcc with libubsan and PostgreSQL's server development
# files; run from anywhere, as root or as a user that can run initdb.
# Nothing outside a temporary directory is touched:
#   1. the source tree is copied and built there with
#      COPT="-fsanitize=undefined -fno-omit-frame-pointer -O1 -g" and
#      installed (DESTDIR) into a private copy of the PostgreSQL install
#      (PostgreSQL finds its files relative to its binaries);
#   2. a throwaway cluster is started from that copy with the postmaster
#      and every backend under valgrind (memcheck, --trace-children=yes),
#      UBSan logging to files;
#   3. the suites run against it; then every UBSan report and every
#      valgrind error whose stack passes through feature_x's sources is
#      printed, and the exit status is 1 if there is any, or if a suite
#      failed.
# Why valgrind and not AddressSanitizer: Debian's postgres is not
# instrumented, so the ASan runtime would have to be preloaded, and with it
# (gcc's or clang's) postgres deadlocks at startup in bindtextdomain().
# PostgreSQL's own allocator (palloc) carves chunks out of malloc'd blocks
# that valgrind sees whole: it reports uses of uninitialised memory and
# accesses outside malloc'd blocks, not overruns of a palloc'd chunk into its
# neighbour.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
SCRIPTS=${FX_SANITIZE_SCRIPTS:-actor_isolation.sh}
FLAGS="-fsanitize=undefined -fno-omit-frame-pointer -O1 -g"
BINDIR=$("$PG_CONFIG" --bindir)
LIBROOT=$(dirname "$BINDIR")
SHAREDIR=$("$PG_CONFIG" --sharedir)

for tool in valgrind gcc; do
	command -v "$tool" >/dev/null || {
		echo "sanitize.sh needs $tool (apt-get install $tool)" >&2
		exit 1
	}
done

W=$(mktemp -d "${TMPDIR:-/tmp}/fx_sanitize.XXXXXX")
chmod 755 "$W"
ROOT=$W/root
PGDATA_DIR=$W/data
SOCK=$W/sock

as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

finish_up() {
	local rc=$?
	as_pg "$ROOT$BINDIR/pg_ctl" -D "$PGDATA_DIR" -m fast -t 30 stop >/dev/null 2>&1
	if [ -n "${FX_SANITIZE_KEEP:-}" ]; then
		echo "work directory kept: $W"
	else
		rm -rf "$W"
	fi
	exit "$rc"
}
trap finish_up EXIT

step() { echo "=== $*"; }

# --- 1. instrumented build into a private install ---------------------------------
step "copying the PostgreSQL install ($LIBROOT, $SHAREDIR)"
mkdir -p "$ROOT$(dirname "$LIBROOT")" "$ROOT$(dirname "$SHAREDIR")" "$W/build" "$W/reports" "$SOCK"
cp -a "$LIBROOT" "$ROOT$(dirname "$LIBROOT")/"
cp -a "$SHAREDIR" "$ROOT$(dirname "$SHAREDIR")/"
cp -a Makefile feature_x.control src sql expected "$W/build/"

step "building with $FLAGS"
# (clean: the copy may carry objects of an uninstrumented build)
if ! make -s -C "$W/build" PG_CONFIG="$PG_CONFIG" clean >"$W/build.log" 2>&1 ||
	! make -s -C "$W/build" PG_CONFIG="$PG_CONFIG" COPT="$FLAGS" >>"$W/build.log" 2>&1 ||
	! make -s -C "$W/build" PG_CONFIG="$PG_CONFIG" COPT="$FLAGS" install DESTDIR="$ROOT" >>"$W/build.log" 2>&1; then
	cat "$W/build.log"
	exit 1
fi
libs=$(ldd "$ROOT$("$PG_CONFIG" --pkglibdir)/feature_x.so")
if ! grep -q libubsan <<<"$libs"; then
	echo "the installed feature_x.so is not instrumented" >&2
	exit 1
fi

# --- 2. a throwaway cluster with the sanitizer runtimes ------------------------------
port=5432
for p in $(seq 5600 5699); do
	hex=$(printf '%04X' "$p")
	if ! grep -q ":$hex " /proc/net/tcp /proc/net/tcp6 2>/dev/null &&
		[ ! -e "/var/run/postgresql/.s.PGSQL.$p" ] && [ ! -e "/tmp/.s.PGSQL.$p" ]; then
		port=$p
		break
	fi
done
if [ "$(id -u)" = 0 ]; then
	chown -R postgres "$W/reports" "$SOCK"
	mkdir "$PGDATA_DIR" && chown postgres "$PGDATA_DIR"
fi
step "starting a cluster on port $port under valgrind"
as_pg "$ROOT$BINDIR/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 --no-sync \
	>"$W/initdb.log" 2>&1 || {
	cat "$W/initdb.log"
	exit 1
}
as_pg tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null <<EOF
listen_addresses = ''
unix_socket_directories = '$SOCK'
port = $port
fsync = off
max_connections = 40
EOF
mkdir -p "$W/valgrind"
[ "$(id -u)" = 0 ] && chown postgres "$W/valgrind" "$W"
as_pg env UBSAN_OPTIONS="print_stacktrace=1:log_path=$W/reports/ubsan" \
	valgrind --quiet --tool=memcheck --trace-children=yes --error-limit=no \
	--num-callers=30 --fullpath-after= --log-file="$W/valgrind/%p.log" \
	"$ROOT$BINDIR/postgres" -D "$PGDATA_DIR" >"$W/server.log" 2>&1 &
for ((i = 0; i < 600; i++)); do
	"$BINDIR/pg_isready" -q -h "$SOCK" -p "$port" && break
	sleep 0.2
done
"$BINDIR/pg_isready" -q -h "$SOCK" -p "$port" || {
	cat "$W/server.log"
	exit 1
}

export PGHOST=$SOCK PGPORT=$port PGUSER=postgres PGDATABASE=postgres
unset PGPASSWORD PGSERVICE PGSYSCONFDIR

# --- 3. the suites ----------------------------------------------------------------
failed=0
step "pg_regress"
if ! make -s -C "$W/build" PG_CONFIG="$PG_CONFIG" installcheck; then
	cat "$W/build/regression.diffs" 2>/dev/null
	failed=$((failed + 1))
fi
if [ -f "$ROOT$SHAREDIR/extension/pgtap.control" ] && command -v pg_prove >/dev/null; then
	step "pgTAP"
	psql -X -q -c "CREATE DATABASE fx_sanitize_pgtap" &&
		pg_prove --failures -d fx_sanitize_pgtap test/pgtap/*.sql || failed=$((failed + 1))
else
	echo "pgTAP is not installed: skipped"
fi
for script in $SCRIPTS; do
	step "test/scripts/$script"
	bash "test/scripts/$script" >"$W/$script.out" 2>&1 || {
		grep -v '^ok' "$W/$script.out"
		failed=$((failed + 1))
	}
	grep -c '^ok' "$W/$script.out" | sed 's/^/tests passed: /'
done

# --- 4. what the sanitizers said ------------------------------------------------------
step "sanitizer reports"
as_pg "$ROOT$BINDIR/pg_ctl" -D "$PGDATA_DIR" -m fast -t 30 stop >/dev/null 2>&1
findings=0
for report in "$W"/reports/*; do
	[ -e "$report" ] || continue
	findings=$((findings + 1))
	echo "--- $report"
	cat "$report"
done
if grep "runtime error:" "$W/server.log"; then
	findings=$((findings + 1))
fi
# Valgrind errors (blocks between "==pid== " lines): ours when the innermost
# frame outside valgrind's own wrappers is in our sources, and also every
# invalid access (read, write or free of memory not allocated, or already
# freed) with our sources anywhere on its stack: PostgreSQL code touching
# freed memory below ours means ours handed it a context it reset too early.
# Other errors of PostgreSQL's own code reached from ours (such as a fortified
# memmove in the regex cache that valgrind takes for an overlapping memcpy)
# are listed for review without failing.
classify() {
	cat "$W"/valgrind/*.log 2>/dev/null | awk -v src="$W/build/src/" -v want="$1" '
		function flush() {
			mine = top ~ src || block ~ /Invalid (read|write|free)/
			if (block != "" && ((want == "ours") == mine) && block ~ src)
				printf "%s\n", block
			block = ""; top = ""
		}
		/^==[0-9]+== $/ { flush(); next }
		{
			block = block $0 "\n"
			if (top == "" && $0 ~ /(at|by) 0x/ && $0 !~ /vgpreload/)
				top = $0
		}
		END { flush() }'
}
ours=$(classify ours)
through=$(classify through)
nvalgrind=$(cat "$W"/valgrind/*.log 2>/dev/null | grep -c "^==[0-9]*== [A-Z]" || true)
echo "valgrind: $(find "$W/valgrind" -name '*.log' | wc -l) processes traced, $nvalgrind error lines in all"
if [ -n "$through" ]; then
	echo "valgrind errors in PostgreSQL's code below feature_x's (not counted):"
	printf '%s\n' "$through" | grep -v '(in /' | sort | uniq -c
fi
if [ -n "$ours" ]; then
	findings=$((findings + 1))
	printf '%s\n' "$ours"
fi
echo "suites failed: $failed; sanitizer reports: $findings"
[ "$failed" -eq 0 ] && [ "$findings" -eq 0 ]
