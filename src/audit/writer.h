/*-------------------------------------------------------------------------
 *
 * writer.h
 *		Batched writing of audit rows (log.c), for the row-change trigger.
 *
 * audit_append() (audit.h) writes one row and is what everything else uses.
 * A statement that changes many rows would pay its setup (executor state,
 * index opening) once per row; the trigger instead opens one AuditWriter per
 * statement, appends every row through it and closes it.  The rows get the
 * same ids, context and hashes as through audit_append(); they reach the
 * heap in multi-row batches.  Everything is allocated in the memory context
 * current at audit_writer_begin(), which must outlive the writer.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FX_AUDIT_WRITER_H
#define FX_AUDIT_WRITER_H

#include "audit.h"

typedef struct AuditWriter AuditWriter;

extern AuditWriter *audit_writer_begin(void);
extern int64 audit_writer_append(AuditWriter *writer, const AuditEntry *entry);
extern void audit_writer_end(AuditWriter *writer);

#endif							/* FX_AUDIT_WRITER_H */
