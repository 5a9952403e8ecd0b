/* feature_x 1.1 -> 1.2: schema fingerprint, drift, DDL guard, importing history (issue 3). */
\echo Use "ALTER EXTENSION feature_x UPDATE TO '1.2'" to load this file. \quit

-- ===================================================================
-- Section B: schema_objects, schema_fingerprint, recorded states, drift,
-- health() with drift
-- ===================================================================

-- ===================================================================
-- Section C: DDL log and guard (event triggers), import_history
-- ===================================================================
