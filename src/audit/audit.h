/*-------------------------------------------------------------------------
 *
 * audit.h
 *		Declarations shared by the audit log's parts (src/audit/).
 *
 * CONTRACT between the parts (written first, implemented in log.c):
 *
 *	audit_append() is the only way a row gets into feature_x.audit_log.  It
 *	assigns id from feature_x.audit_log_id_seq AFTER opening audit_log with
 *	RowExclusiveLock and after the top transaction has an xid (txid column =
 *	that xid), so that a sealer which reads the sequence and then waits for
 *	every holder of a lock on audit_log knows no lower id can still commit.
 *	It fills NULL context fields from the session (actor: current_actor();
 *	db_user: session user; application_name; client_addr) and computes
 *	row_hash = audit_row_hash() of the final row.
 *
 *	audit_row_hash() is SHA-256 over a canonical, unambiguous serialisation
 *	of every column except row_hash (see log.c for the exact format); it is
 *	independent of DateStyle, TimeZone, extra_float_digits and OIDs, so it
 *	verifies after dump/restore.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FX_AUDIT_H
#define FX_AUDIT_H

#include "access/tupdesc.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#define AUDIT_HASH_LEN 32

/* One audit row to append; NULL pointers mean SQL NULL unless noted. */
typedef struct AuditEntry
{
	const char *action;			/* required: INSERT, UPDATE, ... or event */
	const char *table_name;		/* schema-qualified, or event target */
	Jsonb	   *row_key;
	Jsonb	   *old_data;
	Jsonb	   *new_data;
	Jsonb	   *details;
	/* Context; NULL (or 0) = take it from the current session. */
	const char *actor;
	const char *db_user;
	const char *application_name;
	const char *client_addr;	/* text form of an inet */
	TimestampTz logged_at;
} AuditEntry;

/* log.c */
extern int64 audit_append(const AuditEntry *entry);

/*
 * Hash of one audit_log row given as its columns (tupdesc of audit_log, in
 * table order; the row_hash column itself is ignored).  Used by the writer
 * and by verify_audit_log().
 */
extern void audit_row_hash(TupleDesc tupdesc, Datum *values, bool *isnull,
						   uint8 hash[AUDIT_HASH_LEN]);

/*
 * ---- Tamper evidence and durable events (chain.c, durable.c) ----
 *
 * audit_append_durable() commits the entry in a transaction of its own (a
 * dynamic background worker), so it survives the caller's rollback, error or
 * disconnect; it returns once the entry is committed.  Context fields left
 * NULL are taken from the calling session, as audit_append() does.  Errors
 * 25006 in a read-only transaction or on a standby, 53400 when no background
 * worker slot frees up within feature_x.durable_slot_wait.
 */
extern int64 audit_append_durable(const AuditEntry *entry);

/*
 * Record a failed (rolled back) migration as a durable event; never raises,
 * warns instead.  For the ledger's runner, after its subtransaction rolled
 * back.
 */
extern void audit_record_migration_failure(const char *version, const char *name,
										   const char *direction, int stmtno,
										   const ErrorData *edata);

extern void durable_init(void);

#endif							/* FX_AUDIT_H */
