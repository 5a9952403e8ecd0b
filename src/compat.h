/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Shims that let feature_x build against PostgreSQL 14 to 18.
 *
 * Every PG_VERSION_NUM test in the code base lives here, so that the
 * rest of the sources are written against one (the newest) API.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEATURE_X_COMPAT_H
#define FEATURE_X_COMPAT_H

#include "postgres.h"

#include "common/cryptohash.h"
#include "funcapi.h"
#include "utils/guc.h"

#if PG_VERSION_NUM < 140000
#error "feature_x requires PostgreSQL 14 or later"
#endif

/* PG 15 added the output length to pg_cryptohash_final and error strings. */
#if PG_VERSION_NUM < 150000
#define fx_cryptohash_final(ctx, dest, len) pg_cryptohash_final((ctx), (dest))
#define fx_cryptohash_error(ctx) "cryptographic hash failure"
#else
#define fx_cryptohash_final(ctx, dest, len) pg_cryptohash_final((ctx), (dest), (len))
#define fx_cryptohash_error(ctx) pg_cryptohash_error(ctx)
#endif

/* PG 15 renamed EmitWarningsOnPlaceholders. */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/* PG 15 added InitMaterializedSRF; before that every SRF spelled it out. */
#if PG_VERSION_NUM < 150000
#include "miscadmin.h"
#include "utils/tuplestore.h"

static inline void
InitMaterializedSRF(FunctionCallInfo fcinfo, bits32 flags)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext oldcontext;
	TupleDesc	tupdesc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));

	oldcontext = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
	MemoryContextSwitchTo(oldcontext);
}
#endif

/* PG 16 added onlySummarizing to ExecInsertIndexTuples. */
#if PG_VERSION_NUM < 160000
#define fx_exec_insert_index_tuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL)
#else
#define fx_exec_insert_index_tuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL, false)
#endif

/* PG 16 replaced the per-catalog owner checks by object_ownercheck. */
#if PG_VERSION_NUM < 160000
#define fx_table_ownercheck(relid, roleid) pg_class_ownercheck((relid), (roleid))
#else
#define fx_table_ownercheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#endif

/* PG 17 replaced backend ids by proc numbers in virtual transaction ids. */
#if PG_VERSION_NUM >= 170000
#include "storage/procarray.h"
#define fx_vxid_proc(vxid) ProcNumberGetProc((vxid).procNumber)
#else
#include "storage/sinvaladt.h"
#define fx_vxid_proc(vxid) BackendIdGetProc((vxid).backendId)
#endif

/* PG 15 gave intervals their own broken-down form, struct pg_itm. */
#include "utils/datetime.h"
#include "utils/timestamp.h"
static inline void
fx_encode_interval(Interval *span, int style, char *buf)
{
#if PG_VERSION_NUM < 150000
	struct pg_tm tm;
	fsec_t		fsec;

	interval2tm(*span, &tm, &fsec);
	EncodeInterval(&tm, fsec, style, buf);
#else
	struct pg_itm itm;

	interval2itm(*span, &itm);
	EncodeInterval(&itm, style, buf);
#endif
}

#endif							/* FEATURE_X_COMPAT_H */
