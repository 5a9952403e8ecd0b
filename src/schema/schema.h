/*-------------------------------------------------------------------------
 *
 * schema.h
 *		Internal interface of the schema fingerprint, recorded states and
 *		drift.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEATURE_X_SCHEMA_H
#define FEATURE_X_SCHEMA_H

/* Reasons a schema state is recorded (schema_states.reason). */
#define SCHEMA_STATE_MIGRATE "migrate"
#define SCHEMA_STATE_ROLLBACK "rollback"
#define SCHEMA_STATE_BASELINE "baseline"
#define SCHEMA_STATE_IMPORT "import"
#define SCHEMA_STATE_MANUAL "manual"

/*
 * fingerprint.c: record the live schema (default scope) as the reference
 * drift() compares with.  The caller holds the deploy lock; SPI may or may
 * not be connected.  Returns the fingerprint, or NULL when the installed SQL
 * objects predate recorded states (library newer than ALTER EXTENSION).
 */
extern char *schema_record_state(const char *reason);

#endif							/* FEATURE_X_SCHEMA_H */
