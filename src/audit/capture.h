/*-------------------------------------------------------------------------
 *
 * capture.h
 *		The row-change trigger (trigger.c) and its management (manage.c).
 *
 * enable_audit() puts four AFTER ... FOR EACH STATEMENT triggers on a table,
 * one per event (transition tables allow one event per trigger), all calling
 * feature_x.audit_trigger() with one argument: the excluded column names as
 * a text[] literal, sorted.  The triggers are the only record of which tables
 * are audited: they are dumped with their tables, follow renames, and need no
 * OIDs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FX_AUDIT_CAPTURE_H
#define FX_AUDIT_CAPTURE_H

#define AUDIT_TRIGGER_FUNCTION "audit_trigger"

#define AUDIT_TRIGGER_INSERT "feature_x_audit_insert"
#define AUDIT_TRIGGER_UPDATE "feature_x_audit_update"
#define AUDIT_TRIGGER_DELETE "feature_x_audit_delete"
#define AUDIT_TRIGGER_TRUNCATE "feature_x_audit_truncate"

/* Transition table names given to the triggers. */
#define AUDIT_NEW_TABLE "feature_x_audit_new"
#define AUDIT_OLD_TABLE "feature_x_audit_old"

#endif							/* FX_AUDIT_CAPTURE_H */
