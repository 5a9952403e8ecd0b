-- fill_audit.sql: audited changes in feature_x.audit_log, written only
-- through the public functions (enable_audit, disable_audit, the row-change
-- trigger, row_history, row_as_of, audited_tables), each checked.  Run by
-- upgrade.sh (psql -v ON_ERROR_STOP=1) with -v sfx=TAG, the suffix of the
-- tables it creates, wherever enable_audit() exists.
--
-- Leaves: an audited table with an excluded column and rows inserted,
-- updated (by an actor, one of them changing its key) and deleted; a table
-- without a primary key whose auditing was enabled and then disabled; the
-- log entries of all of it.

\set QUIET on
CREATE FUNCTION pg_temp.fill_assert(ok boolean, message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF ok IS NOT TRUE THEN
		RAISE EXCEPTION 'fill_audit.sql: %', message;
	END IF;
END
$$;

SELECT 'fill_audit_items_' || :'sfx' AS items, 'fill_audit_notes_' || :'sfx' AS notes,
	   'public.fill_audit_items_' || :'sfx' AS items_logged
\gset
SELECT coalesce(max(id), 0) AS mark FROM feature_x.audit_log \gset

CREATE TABLE :"items" (
	id int PRIMARY KEY,
	name text NOT NULL,
	qty int,
	price numeric,
	tags text[],
	token text,
	changed_at timestamptz
);
CREATE TABLE :"notes" (body text, stars int);

SELECT feature_x.enable_audit(:'items', ARRAY['token']);
SELECT feature_x.enable_audit(:'items', ARRAY['token']);
SELECT feature_x.enable_audit(:'notes');
SELECT pg_temp.fill_assert(
	(SELECT array_agg(exclude_columns::text ORDER BY table_name::text)
	   FROM feature_x.audited_tables
	  WHERE table_name IN (:'items'::regclass, :'notes'::regclass)) = ARRAY['{token}', '{}'],
	'audited_tables lists both tables with their exclusions');

INSERT INTO :"items" VALUES
	(1, 'bolt', 10, 0.25, '{metal}', 'tok-1', '2024-01-01 10:00+00'),
	(2, 'nut', 20, 0.10, '{metal,small}', 'tok-2', '2024-01-01 10:00+00'),
	(3, 'washer', 30, 0.05, NULL, 'tok-3', '2024-01-01 10:00+00');
BEGIN;
SELECT feature_x.set_actor('fill-auditor-' || :'sfx');
UPDATE :"items" SET qty = qty + 1, changed_at = '2024-01-02 10:00+00' WHERE id = 1;
UPDATE :"items" SET id = 4, name = 'big washer' WHERE id = 3;
COMMIT;
UPDATE :"items" SET token = 'tok-2b' WHERE id = 2;
DELETE FROM :"items" WHERE id = 2;
INSERT INTO :"notes" VALUES ('first', 5), ('first', 5);
SELECT feature_x.disable_audit(:'notes');
INSERT INTO :"notes" VALUES ('not logged', 1);

SELECT pg_temp.fill_assert(
	(SELECT array_agg(action ORDER BY id) FROM feature_x.audit_log
	  WHERE id > :mark AND table_name = :'items_logged')
	= ARRAY['ENABLE_AUDIT', 'INSERT', 'INSERT', 'INSERT', 'UPDATE', 'UPDATE', 'UPDATE', 'DELETE'],
	'one entry per change, and one for enabling');
SELECT pg_temp.fill_assert(
	NOT EXISTS (SELECT FROM feature_x.audit_log
				 WHERE id > :mark AND (coalesce(old_data, '{}') ? 'token' OR coalesce(new_data, '{}') ? 'token')),
	'the excluded column is never logged');
SELECT pg_temp.fill_assert(
	(SELECT count(*) FROM feature_x.audit_log
	  WHERE id > :mark AND actor = 'fill-auditor-' || :'sfx') = 2,
	'the actor is recorded');
SELECT pg_temp.fill_assert(
	(SELECT details FROM feature_x.audit_log
	  WHERE id > :mark AND table_name = :'items_logged' AND action = 'UPDATE'
	  ORDER BY id DESC LIMIT 1) = '{"excluded_changed": ["token"]}',
	'a change of the excluded column alone is recorded without its value');
SELECT pg_temp.fill_assert(
	(SELECT count(*) FROM feature_x.row_history(:'items', '{"id": 4}')) = 2,
	'row_history follows the key change');
SELECT pg_temp.fill_assert(
	feature_x.row_as_of(:'items', '{"id": 4}', clock_timestamp())
	= '{"id": 4, "qty": 30, "name": "big washer", "tags": null, "price": 0.05, "changed_at": "2024-01-01T10:00:00+00:00"}',
	'row_as_of reconstructs the current row');
SELECT pg_temp.fill_assert(
	feature_x.row_as_of(:'items', '{"id": 2}', clock_timestamp()) IS NULL,
	'row_as_of of a deleted row is NULL');
SELECT pg_temp.fill_assert(
	(SELECT count(*) FROM feature_x.audit_log
	  WHERE id > :mark AND table_name = 'public.' || :'notes') = 4,
	'the table without a key: enable, two inserts, disable');
SELECT pg_temp.fill_assert(
	NOT EXISTS (SELECT FROM feature_x.audited_tables WHERE table_name = :'notes'::regclass),
	'a disabled table is no longer listed');
