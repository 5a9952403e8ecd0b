-- fill_ledger.sql: representative data for feature_x.migrations, written only
-- through the ledger's public functions, each checked to have done its job.
-- Run by upgrade.sh (psql -v ON_ERROR_STOP=1) with
--   -v base=N    the ledger versions used are N+0.5 ... N+10
--   -v sfx=TAG   suffix of the tables the migrations create in schema public
-- once at the old version, against the newest shared library (this is what
-- proves that the old SQL definitions keep working between `make install`
-- and ALTER EXTENSION ... UPDATE), and once more after the update.
--
-- With base 0 on an empty ledger it leaves:
--   0.9  baselined by baseline() (no script)
--   0.5  registered below the baseline: recorded as applied and baselined
--   1    applied, with a down script; creates and fills a table
--   1.5  applied by feature_x_deployer (SET ROLE), registered out of order
--   2    applied, no down script; registered with a BOM and CRLF line ends
--   3    rolled back (applied, then rollback('2'))
--   10   pending
-- baseline() refuses a ledger that has applied migrations (by design), so a
-- second run leaves out 0.9 and 0.5.

\set QUIET on
CREATE FUNCTION pg_temp.fill_assert(ok boolean, message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF ok IS NOT TRUE THEN
		RAISE EXCEPTION 'fill_ledger.sql: %', message;
	END IF;
END
$$;

SELECT (:base + 0.5)::text AS v_below, (:base + 0.9)::text AS v_baseline,
	   (:base + 1)::text AS v1, (:base + 1.5)::text AS v_deployer,
	   (:base + 2)::text AS v2, (:base + 3)::text AS v3, (:base + 10)::text AS v_pending,
	   'fx_up_items_' || :'sfx' AS items, 'fx_up_tags_' || :'sfx' AS tags,
	   NOT EXISTS (SELECT FROM feature_x.migrations WHERE state = 'applied') AS can_baseline
\gset

\if :can_baseline
SELECT feature_x.baseline(:'v_baseline', 'adopted schema');
SELECT feature_x.register_migration(:'v_below', 'older than the baseline', 'SELECT 1/0;');
SELECT pg_temp.fill_assert(
	(SELECT state = 'applied' AND baselined FROM feature_x.migration_status() WHERE version = :'v_below'),
	'a migration below the baseline is recorded as applied');
\endif

SELECT feature_x.register_migration(:'v1', 'create ' || :'items',
	format($sql$CREATE TABLE public.%1$I (id int PRIMARY KEY, label text NOT NULL);
INSERT INTO public.%1$I VALUES (1, 'one'), (2, 'two'), (3, E'multi\nline');$sql$, :'items'),
	format('DROP TABLE public.%I;', :'items'));
SELECT feature_x.register_migration(:'v2', 'add a column to ' || :'items',
	E'\xEF\xBB\xBF' || format(E'ALTER TABLE public.%1$I ADD COLUMN note text;\r\nUPDATE public.%1$I SET note = ''n'' || id;\r\n', :'items'));
SELECT pg_temp.fill_assert(
	(SELECT up_sql FROM feature_x.migrations WHERE version = :'v2')
		= format(E'ALTER TABLE public.%1$I ADD COLUMN note text;\nUPDATE public.%1$I SET note = ''n'' || id;\n', :'items'),
	'register_migration() stores the script without BOM and with LF line ends');
SELECT pg_temp.fill_assert(
	feature_x.register_migration(:'v3', 'create ' || :'tags',
		format('CREATE TABLE public.%1$I (tag text); INSERT INTO public.%1$I VALUES (''a''), (''b'');', :'tags'),
		format('DROP TABLE public.%I;', :'tags'))
	= feature_x.migration_checksum(
		format('CREATE TABLE public.%1$I (tag text); INSERT INTO public.%1$I VALUES (''a''), (''b'');', :'tags')),
	'register_migration() returns the checksum of the script');
SELECT feature_x.register_migration(:'v_pending', 'left pending',
	format('CREATE INDEX ON public.%I (label);', :'items'));

-- migrate(target): v1, v2 and v3 (on a second run also what the first left
-- pending or rolled back below v3).
SELECT pg_temp.fill_assert(
	(SELECT array_agg(m.version) @> ARRAY[:'v1', :'v2', :'v3'] FROM feature_x.migrate(:'v3') m),
	'migrate(target) applies the pending migrations up to the target');
SELECT pg_temp.fill_assert(
	(SELECT count(*) = 3 FROM public.:"items" WHERE note = 'n' || id),
	'the migrations ran');

-- rollback(target) runs the down script of v3 only.
SELECT pg_temp.fill_assert(
	(SELECT array_agg(r.version) = ARRAY[:'v3'] FROM feature_x.rollback(:'v2') r),
	'rollback(target) rolls back the migrations above the target');
SELECT pg_temp.fill_assert(to_regclass('public.' || :'tags') IS NULL, 'the down script ran');

-- A deployer (not a superuser) registers and applies a migration below the
-- current version; its script must run with the deployer's rights.
SET ROLE feature_x_deployer;
SELECT feature_x.register_migration(:'v_deployer', 'applied by a deployer',
	'SELECT current_user;', 'SELECT current_user;');
SELECT pg_temp.fill_assert(
	(SELECT array_agg(m.version) = ARRAY[:'v_deployer'] FROM feature_x.migrate(:'v_deployer') m),
	'a deployer can apply an out-of-order migration');
SELECT pg_temp.fill_assert(
	(SELECT count(*) > 0 FROM feature_x.migration_status()), 'a deployer can read the status');
RESET ROLE;

-- Read-only functions.
SELECT pg_temp.fill_assert(
	(SELECT state FROM feature_x.migration_status() WHERE version = :'v3') = 'rolled_back'
	AND (SELECT state FROM feature_x.migration_status() WHERE version = :'v_pending') = 'pending'
	AND (SELECT state = 'applied' AND NOT has_down_script AND checksum_ok
		   FROM feature_x.migration_status() WHERE version = :'v2')
	AND (SELECT bool_and(checksum_ok) FROM feature_x.migration_status()),
	'migration_status() reports every state');
SELECT pg_temp.fill_assert(
	(SELECT array_agg(version) FROM feature_x.migration_status())
		= (SELECT array_agg(version ORDER BY feature_x.version_sort_key(version)) FROM feature_x.migrations),
	'migration_status() is in version order');
SELECT pg_temp.fill_assert(
	feature_x.version_sort_key('2') < feature_x.version_sort_key('10')
	AND feature_x.version_sort_key('1.2') < feature_x.version_sort_key('1.10'),
	'version_sort_key() orders naturally');
SELECT pg_temp.fill_assert(
	feature_x.migration_checksum('abc') = encode(sha256('abc'), 'hex')
	AND feature_x.migration_checksum(E'\xEF\xBB\xBFa\r\nb') = encode(sha256(E'a\nb'), 'hex'),
	'migration_checksum() is the SHA-256 of the normalised script');
SELECT pg_temp.fill_assert(
	(feature_x.health() ->> 'ok')::boolean = false
	AND (feature_x.health() ->> 'pending')::int
		= (SELECT count(*) FROM feature_x.migrations WHERE state <> 'applied')
	AND (feature_x.health() ->> 'applied')::int
		= (SELECT count(*) FROM feature_x.migrations WHERE state = 'applied')
	AND feature_x.health() ->> 'extension_version'
		= (SELECT extversion FROM pg_extension WHERE extname = 'feature_x'),
	'health() reports the ledger and the installed extension version');
SELECT feature_x.require_version(:'v2');
SELECT set_config('fx_fill.v_pending', :'v_pending', false);
DO $$
BEGIN
	PERFORM feature_x.require_version(current_setting('fx_fill.v_pending'));
	RAISE EXCEPTION 'fill_ledger.sql: require_version() accepted a pending migration';
EXCEPTION WHEN object_not_in_prerequisite_state THEN
	NULL;
END
$$;
