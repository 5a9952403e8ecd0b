#!/usr/bin/env bash
# `make demo`: the migration ledger end to end, as a DBA would see it in psql,
# on the cluster described by the environment (pg_virtualenv provides one).
set -euo pipefail

db=fx_demo
PGOPTIONS="-c client_min_messages=warning" psql -X -q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" postgres
trap 'psql -X -q -c "DROP DATABASE IF EXISTS $db" postgres' EXIT

psql -X -q -a -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
-- One command installs the ledger.
CREATE EXTENSION feature_x;

-- Deploy 1: the deploy job registers every migration file (idempotent) and
-- applies what is pending, in one transaction.
BEGIN;
SELECT feature_x.register_migration('20240101120000_init', 'init',
	'CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL UNIQUE);',
	'DROP TABLE users;') AS checksum;
SELECT feature_x.register_migration('20240102090000_orders', 'orders',
	E'CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users);\nCREATE INDEX orders_user_id_idx ON orders (user_id);',
	'DROP TABLE orders;') AS checksum;
SELECT * FROM feature_x.migrate();
COMMIT;

-- What is applied, by whom, and whether anyone edited a script since.
SELECT version, name, state, checksum_ok, applied_by FROM feature_x.migration_status();
SELECT feature_x.health();

-- An application refuses to start against an old schema.
SELECT feature_x.require_version('20240102090000_orders');
\set ON_ERROR_STOP 0
SELECT feature_x.require_version('20240301000000_future');

-- Deploy 2 fails halfway: the error names the migration, and nothing changed.
BEGIN;
SELECT feature_x.register_migration('20240103000000_add_name', 'add_name',
	E'ALTER TABLE users ADD COLUMN name text;\nUPDATE users SET name = nickname;');
SELECT * FROM feature_x.migrate();
ROLLBACK;
SELECT version, state FROM feature_x.migration_status();
\d users

-- Applied migrations are immutable.
SELECT feature_x.register_migration('20240101120000_init', 'init', 'CREATE TABLE users (id int);');

-- Statements that cannot run in a transaction are refused when registered.
SELECT feature_x.register_migration('20240103000000_idx', 'idx',
	'CREATE INDEX CONCURRENTLY users_email_idx ON users (email);');
\set ON_ERROR_STOP 1

-- The fixed migration deploys; then the DBA rolls back one step.
BEGIN;
SELECT feature_x.register_migration('20240103000000_add_name', 'add_name',
	'ALTER TABLE users ADD COLUMN name text;', 'ALTER TABLE users DROP COLUMN name;') AS checksum;
SELECT * FROM feature_x.migrate();
COMMIT;
SELECT * FROM feature_x.rollback('20240102090000_orders');
SELECT version, state FROM feature_x.migration_status();
SELECT feature_x.health();
SQL
echo
echo "demo finished: the ledger registered, applied, refused, rolled back and reported as shown above"
