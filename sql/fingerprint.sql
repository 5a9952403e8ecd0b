-- Schema fingerprint, inventory, recorded states and drift: documented
-- behaviour and every error.
-- error: the DDL guard's warnings about the DDL below are not this test's subject.
SET client_min_messages = error;
DROP EXTENSION IF EXISTS feature_x CASCADE;
DROP SCHEMA IF EXISTS fp_shop CASCADE;
DROP SCHEMA IF EXISTS "Fp Odd" CASCADE;
CREATE EXTENSION feature_x;
\set SHOW_CONTEXT never

-- A small schema with one object of most kinds.
CREATE SCHEMA fp_shop;
CREATE TYPE fp_shop.status AS ENUM ('new', 'paid', 'shipped');
CREATE DOMAIN fp_shop.price AS numeric(10, 2) CHECK (VALUE >= 0);
CREATE TYPE fp_shop.address AS (street text, city text);
CREATE TYPE fp_shop.window AS RANGE (subtype = timestamptz);
CREATE TABLE fp_shop.customers (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	email text NOT NULL UNIQUE,
	home fp_shop.address
);
CREATE TABLE fp_shop.orders (
	id bigserial PRIMARY KEY,
	customer_id bigint NOT NULL REFERENCES fp_shop.customers,
	status fp_shop.status NOT NULL DEFAULT 'new',
	total fp_shop.price,
	total_cents bigint GENERATED ALWAYS AS ((total * 100)::bigint) STORED
);
CREATE INDEX orders_customer_idx ON fp_shop.orders (customer_id);
CREATE VIEW fp_shop.open_orders AS SELECT id, customer_id FROM fp_shop.orders WHERE status <> 'shipped';
CREATE MATERIALIZED VIEW fp_shop.order_counts AS SELECT customer_id, count(*) FROM fp_shop.orders GROUP BY 1;
CREATE FUNCTION fp_shop.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON fp_shop.orders FOR EACH ROW EXECUTE FUNCTION fp_shop.touch();
CREATE PROCEDURE fp_shop.ship(order_id bigint) LANGUAGE sql
	AS $$ UPDATE fp_shop.orders SET status = 'shipped' WHERE id = order_id $$;
ALTER TABLE fp_shop.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY orders_mine ON fp_shop.orders USING (customer_id > 0);
-- Identities are quoted where needed.
CREATE SCHEMA "Fp Odd";
CREATE TABLE "Fp Odd"."Mixed Case" ("Col" int);

-- The inventory: one row per object, readable identities, in (type,
-- identity) order.  Identity sequences, constraint indexes and a range
-- type's constructor functions are covered by their owners.
SELECT object_type, object_identity, length(hash) AS hash_length
  FROM feature_x.schema_objects(ARRAY['fp_shop', 'Fp Odd']::name[]);

-- The fingerprint is the SHA-256 of the sorted "type TAB identity TAB hash"
-- lines, so it can be recomputed from the inventory.
SELECT feature_x.schema_fingerprint('{fp_shop}') =
	   encode(sha256(convert_to(string_agg(object_type || E'\t' || object_identity || E'\t' || hash || E'\n', ''
											ORDER BY object_type COLLATE "C", object_identity COLLATE "C"), 'UTF8')), 'hex')
	   AS recomputable
  FROM feature_x.schema_objects('{fp_shop}');
-- The default scope is every schema but the system ones and feature_x; an
-- explicit list covers exactly the schemas named (duplicates are harmless).
SELECT (SELECT count(*) FROM feature_x.schema_objects() WHERE object_identity LIKE 'fp\_shop.%') =
	   (SELECT count(*) FROM feature_x.schema_objects('{fp_shop}') WHERE object_type <> 'schema')
	   AS default_scope_includes_fp_shop;
SELECT count(*) AS feature_x_objects FROM feature_x.schema_objects() WHERE object_identity LIKE 'feature\_x.%';
SELECT feature_x.schema_fingerprint('{fp_shop,fp_shop}') = feature_x.schema_fingerprint('{fp_shop}') AS duplicates_harmless;
SELECT count(*) AS empty_list_objects, feature_x.schema_fingerprint('{}') = encode(sha256(''), 'hex') AS empty_fingerprint
  FROM feature_x.schema_objects('{}');
-- Data and maintenance do not change it.
CREATE TEMP TABLE fp_before AS SELECT feature_x.schema_fingerprint('{fp_shop}') AS fp;
INSERT INTO fp_shop.customers (email) SELECT 'c' || g || '@example.com' FROM generate_series(1, 50) g;
INSERT INTO fp_shop.orders (customer_id, total) SELECT id, id FROM fp_shop.customers;
REFRESH MATERIALIZED VIEW fp_shop.order_counts;
ANALYZE fp_shop.orders;
SELECT nextval('fp_shop.orders_id_seq') > 0 AS sequence_used;
SELECT fp = feature_x.schema_fingerprint('{fp_shop}') AS unchanged_by_data FROM fp_before;
-- Temporary objects are never part of it.
CREATE TEMP TABLE fp_scratch (id int);
SELECT fp = feature_x.schema_fingerprint('{fp_shop}') AS unchanged_by_temp_table FROM fp_before;

-- Errors.
SELECT feature_x.schema_fingerprint(ARRAY['fp_shop', NULL]::name[]);
SELECT * FROM feature_x.schema_objects('{fp_shop,fp_nope}');
-- No state recorded yet.
SELECT * FROM feature_x.drift();
SELECT feature_x.health() -> 'drift' AS drift_before_any_state;

-- migrate() records a state after running something.
SELECT feature_x.register_migration('0', 'nothing', 'SELECT 1;', 'SELECT 1;') IS NOT NULL AS registered;
SELECT feature_x.register_migration('1', 'notes', 'CREATE TABLE fp_shop.notes (id int PRIMARY KEY, body text);',
									'DROP TABLE fp_shop.notes;') IS NOT NULL AS registered;
SELECT version FROM feature_x.migrate();
SELECT id, reason, version, fingerprint = feature_x.schema_fingerprint() AS is_live, recorded_by = session_user AS by_me
  FROM feature_x.schema_states ORDER BY id;
SELECT count(*) = (SELECT count(*) FROM feature_x.schema_objects()) AS inventory_stored
  FROM feature_x.schema_state_objects;
SELECT * FROM feature_x.drift();
SELECT feature_x.health() -> 'drift' AS drift;
-- A migrate() that runs nothing records nothing.
SELECT count(*) AS applied FROM feature_x.migrate();
SELECT count(*) AS states FROM feature_x.schema_states;

-- Out-of-band changes: one row per object, added / removed / changed.
ALTER TABLE fp_shop.notes ADD COLUMN author text;
ALTER TABLE fp_shop.customers ALTER COLUMN email DROP NOT NULL;
DROP INDEX fp_shop.orders_customer_idx;
CREATE INDEX notes_body_idx ON fp_shop.notes (body);
ALTER TYPE fp_shop.status ADD VALUE 'cancelled';
CREATE OR REPLACE FUNCTION fp_shop.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$;
SELECT * FROM feature_x.drift();
SELECT feature_x.health() -> 'drift' AS drift, feature_x.health() -> 'ok' AS ok;

-- rollback() records the state it leaves, with the version then current.
-- That state is the new reference, out-of-band changes included: a deploy
-- job checks drift() before migrating.
SELECT version FROM feature_x.rollback('0');
SELECT id, reason, version FROM feature_x.schema_states ORDER BY id;
SELECT * FROM feature_x.drift();
-- record_schema_state() accepts the live schema as the reference.
SELECT feature_x.record_schema_state() = feature_x.schema_fingerprint() AS recorded;
SELECT id, reason, version FROM feature_x.schema_states ORDER BY id;
SELECT count(*) AS drifted FROM feature_x.drift();

-- A hand-edited inventory is detected (the detail names both fingerprints).
UPDATE feature_x.schema_state_objects SET hash = repeat('0', 64)
 WHERE (object_type, object_identity) = ('table', 'fp_shop.orders');
\set VERBOSITY terse
SELECT * FROM feature_x.drift();
\set VERBOSITY default

-- SQLSTATEs.
CREATE FUNCTION pg_temp.sqlstate_of(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	state text;
BEGIN
	EXECUTE call;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
	RETURN state;
END
$$;
SELECT call, pg_temp.sqlstate_of(call) AS sqlstate
  FROM (VALUES ('SELECT feature_x.schema_fingerprint(ARRAY[NULL]::name[])'),
			   ('SELECT feature_x.schema_objects(''{nope}'')'),
			   ('SELECT feature_x.drift()')) AS c(call);
TRUNCATE feature_x.schema_states, feature_x.schema_state_objects;
SELECT pg_temp.sqlstate_of('SELECT feature_x.drift()') AS no_state;

-- Privileges: anyone may look, only deployers may record.
SET ROLE feature_x_deployer;
SELECT feature_x.record_schema_state() IS NOT NULL AS deployer_records;
SELECT count(*) AS deployer_sees_states FROM feature_x.schema_states;
RESET ROLE;
CREATE ROLE fp_nobody;
SET ROLE fp_nobody;
SELECT count(*) > 0 AS anyone_lists_objects FROM feature_x.schema_objects('{fp_shop}');
SELECT count(*) AS anyone_sees_drift FROM feature_x.drift();
SELECT (feature_x.health() ->> 'drift')::boolean AS anyone_sees_health_drift;
SELECT feature_x.record_schema_state();
SELECT count(*) FROM feature_x.schema_states;
RESET ROLE;
DROP ROLE fp_nobody;

DROP EXTENSION feature_x;
DROP SCHEMA fp_shop, "Fp Odd" CASCADE;
