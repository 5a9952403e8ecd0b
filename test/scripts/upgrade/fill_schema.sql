-- fill_schema.sql: representative data for feature_x.schema_states and
-- feature_x.schema_state_objects, written only through the public functions,
-- each checked to have done its job.  Run by upgrade.sh (psql -v
-- ON_ERROR_STOP=1) with
--   -v sfx=TAG   suffix of the table created out of band in schema public
-- where the installed version has drift() (after fill_ledger.sql, whose
-- migrate(), rollback() and baseline() record states too).
--
-- It leaves a recorded state (reason manual) that includes the table
-- fx_up_drift_TAG, and the inventory of that state.

\set QUIET on
CREATE FUNCTION pg_temp.fill_assert(ok boolean, message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF ok IS NOT TRUE THEN
		RAISE EXCEPTION 'fill_schema.sql: %', message;
	END IF;
END
$$;

SELECT 'fx_up_drift_' || :'sfx' AS drift_table \gset
SET client_min_messages = error;

SELECT pg_temp.fill_assert(feature_x.record_schema_state() = feature_x.schema_fingerprint(),
	'record_schema_state() returns the fingerprint of the live schema');
SELECT pg_temp.fill_assert(
	(SELECT reason = 'manual' AND recorded_by = session_user
	   FROM feature_x.schema_states ORDER BY id DESC LIMIT 1),
	'record_schema_state() records a manual state');
SELECT pg_temp.fill_assert(
	(SELECT count(*) FROM feature_x.schema_state_objects)
		= (SELECT count(*) FROM feature_x.schema_objects()),
	'the inventory of the state is stored');
SELECT pg_temp.fill_assert(NOT EXISTS (SELECT FROM feature_x.drift()), 'no drift right after recording');
SELECT pg_temp.fill_assert((feature_x.health() ->> 'drift')::boolean = false, 'health() reports no drift');

-- An out-of-band table: drift() names it and its column.
CREATE TABLE public.:"drift_table" (id int);
SELECT pg_temp.fill_assert(
	ARRAY(SELECT object_type || ' ' || object_identity || ' ' || change FROM feature_x.drift())
		= ARRAY['column public.' || :'drift_table' || '.id added', 'table public.' || :'drift_table' || ' added'],
	'drift() reports the out-of-band table and its column');
SELECT pg_temp.fill_assert((feature_x.health() ->> 'drift')::boolean, 'health() reports drift');

-- Accepting it makes it part of the reference.
SELECT feature_x.record_schema_state();
SELECT pg_temp.fill_assert(NOT EXISTS (SELECT FROM feature_x.drift()), 'no drift once accepted');
SELECT pg_temp.fill_assert(
	EXISTS (SELECT FROM feature_x.schema_state_objects
			 WHERE object_type = 'table' AND object_identity = 'public.' || :'drift_table'),
	'the accepted table is in the stored inventory');
