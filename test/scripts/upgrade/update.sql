-- update.sql: ALTER EXTENSION feature_x UPDATE in a backend that has been
-- using the old version's SQL objects (so the newest library is loaded and
-- its caches are warm), then the new version's objects in that same backend.
\set QUIET on
CREATE FUNCTION pg_temp.update_assert(ok boolean, message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF ok IS NOT TRUE THEN
		RAISE EXCEPTION 'update.sql: %', message;
	END IF;
END
$$;

SELECT to_regprocedure('feature_x.health()') IS NOT NULL AS has_health,
	   to_regprocedure('feature_x.has_permission(text,text,text)') IS NOT NULL AS had_rbac,
	   (SELECT default_version FROM pg_available_extensions WHERE name = 'feature_x') AS latest
\gset
\if :has_health
SELECT count(*) AS before_status FROM feature_x.migration_status() \gset
SELECT feature_x.health() ->> 'extension_version' AS before_version \gset
\endif
\if :had_rbac
SELECT feature_x.has_permission('fx-update-probe', 'doc:read') AS probe_before \gset
\endif

ALTER EXTENSION feature_x UPDATE;

SELECT pg_temp.update_assert(
	(SELECT extversion FROM pg_extension WHERE extname = 'feature_x') = :'latest',
	format('extversion is %s after the update, not %s',
		   (SELECT extversion FROM pg_extension WHERE extname = 'feature_x'), :'latest'));
SELECT to_regprocedure('feature_x.health()') IS NOT NULL AS has_health \gset
\if :has_health
SELECT pg_temp.update_assert(feature_x.health() ->> 'extension_version' = :'latest',
	'health() in the updating backend reports the new version');
\endif

-- Same backend, new objects.
\ir entry_points.sql
SELECT to_regprocedure('feature_x.has_permission(text,text,text)') IS NOT NULL AS has_rbac \gset
\if :has_rbac
SELECT pg_temp.update_assert(NOT feature_x.has_permission('fx-update-probe', 'doc:read'),
	'has_permission() works in the backend that ran the update');
SELECT pg_temp.update_assert(feature_x.current_actor() IS NULL, 'current_actor() works');
\endif
