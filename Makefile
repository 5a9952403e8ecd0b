# feature_x: PGXS build, tests and the two quick-start targets.
#
#   make && make install          build and install into the server found by pg_config
#   make installcheck             pg_regress suite against a running server
#   make prove                    pgTAP suite (pg_prove) against a running server
#   make demo / make test         everything, on a throwaway cluster (pg_virtualenv);
#                                 installs missing Debian packages first
#   make sanitize                 the suites under valgrind with a UBSan build

.DEFAULT_GOAL := all

EXTENSION = feature_x
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" feature_x.control)

MODULE_big = feature_x
OBJS = \
	src/feature_x.o \
	src/owner_access.o \
	src/ledger/version.o \
	src/ledger/script.o \
	src/ledger/ledger.o \
	src/ledger/import.o \
	src/schema/fingerprint.o \
	src/rbac/actor.o \
	src/rbac/check.o \
	src/schema/ddl_guard.o \
	src/audit/log.o \
	src/audit/trigger.o \
	src/audit/manage.o \
	src/audit/chain.o \
	src/audit/durable.o

DATA = $(wildcard sql/feature_x--*.sql)

REGRESS = version_order ledger ledger_errors ledger_privileges actor rbac rbac_privileges ddl_guard import_history fingerprint audit_chain audit
REGRESS_OPTS = --inputdir=. --load-extension=plpgsql --encoding=UTF8

# Warnings are errors in every build of ours; NO_WERROR=1 relaxes that for
# packagers on compilers newer than the code.
PG_CFLAGS += -Wall $(if $(NO_WERROR),,-Werror)
PG_CPPFLAGS += -I$(srcdir)/src

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

.PHONY: demo test prove bench deps sanitize

# The quick-start targets must work before PostgreSQL's dev files exist.
deps:
	test/deps.sh

demo: deps
	$(MAKE) PG_CONFIG=$(PG_CONFIG) all
	$(MAKE) PG_CONFIG=$(PG_CONFIG) install
	pg_virtualenv -t -v $(shell $(PG_CONFIG) --version | sed 's/[^0-9]*\([0-9]*\).*/\1/') test/demo.sh

test: deps
	$(MAKE) PG_CONFIG=$(PG_CONFIG) all
	$(MAKE) PG_CONFIG=$(PG_CONFIG) install
	pg_virtualenv -t -v $(shell $(PG_CONFIG) --version | sed 's/[^0-9]*\([0-9]*\).*/\1/') test/run_all.sh

bench: deps
	$(MAKE) PG_CONFIG=$(PG_CONFIG) all
	$(MAKE) PG_CONFIG=$(PG_CONFIG) install
	pg_virtualenv -t -v $(shell $(PG_CONFIG) --version | sed 's/[^0-9]*\([0-9]*\).*/\1/') test/bench/run.sh

prove:
	pg_prove --failures test/pgtap/*.sql

# UBSan build, every backend under valgrind, on a throwaway cluster (slow).
sanitize:
	test/sanitize.sh

ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
endif
