/*-------------------------------------------------------------------------
 *
 * chain.c
 *		Tamper evidence for feature_x.audit_log: append-only triggers, sealed
 *		checkpoints over the row hashes, verification and retention.
 *
 * Rows.  Every row carries row_hash, SHA-256 of its other columns (log.c).
 * Writers compute nothing else and take no lock beyond the RowExclusiveLock
 * of any insert, so concurrent writers never wait for one another.
 *
 * Seals.  A seal (a row of feature_x.audit_seals) covers the ids
 * first_id .. last_id and records how many rows it found there and
 *
 *		chain_hash = SHA-256(prev_hash || row_hash of each row, in id order)
 *
 * where prev_hash is the chain_hash of the seal before it.  Seal 1 starts
 * at id 1 from 32 zero bytes; after a purge, the first remaining seal starts
 * from the anchor that purge_audit_log() wrote into its own audit event.
 * Seals are contiguous: each starts right after the previous one ends.
 *
 * Sealing without stopping writers.  The sealer reads the sequence's last
 * value H, then waits (like CREATE INDEX CONCURRENTLY, without taking a lock
 * on the table) for every transaction that holds a lock on audit_log to end.
 * By the writer contract in audit.h a row gets its id only after its
 * transaction holds RowExclusiveLock on audit_log, so once those are gone no
 * id <= H can still commit; a fresh snapshot then sees every row of the
 * segment that will ever exist.  Sealers serialise among themselves on a
 * transaction-level advisory lock (SEALER_LOCK_*), held until their seal
 * commits, and read the latest seal with a fresh snapshot after getting it.
 *
 * Append-only.  Statement triggers on audit_log and audit_seals refuse
 * UPDATE, DELETE and TRUNCATE unless purge_audit_log() is deleting (the flag
 * purge_running, set only around its own DELETEs); a row trigger refuses a
 * plain INSERT into audit_log whose row_hash does not match the row, which
 * lets pg_restore's COPY of genuine rows through.  The C writer does not fire
 * triggers.  All triggers are ENABLE ALWAYS.  A superuser can still disable
 * them; that is what verify_audit_log() is for.
 *
 * Verification first seals if it can do so at once (it never waits for
 * writers or for another sealer), then reads rows and seals with one fresh
 * snapshot, recomputes each
 * row's hash, recomputes each sealed segment, and checks that the seals are
 * contiguous, chained, and start at the genesis or the latest purge anchor.
 * Rows after the last seal (the unsealed tail) are checked row by row only,
 * and must not lie beyond the sequence.  Nothing depends on OIDs or xids of
 * the cluster, so a restored copy verifies like the original.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/cryptohash.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "feature_x.h"
#include "audit.h"

#define LOG_TABLE "audit_log"
#define SEALS_TABLE "audit_seals"

/*
 * The sealer lock, as pg_advisory_xact_lock(1719140352, 4) takes it (the
 * deploy lock of ledger.c is objid 1 of the same class).
 */
#define SEALER_LOCK_CLASSID 0x66780000
#define SEALER_LOCK_OBJID 4

/* What purge_audit_log() writes as its own event; reserved for it. */
#define PURGE_ACTION "feature_x.audit_purged"

/* True only while purge_audit_log() runs its own DELETEs. */
static bool purge_running = false;

/* Where a chain starts: the genesis, or the anchor of the latest purge. */
typedef struct Anchor
{
	bool		valid;			/* false: the purge event was altered */
	int64		event_id;		/* id of the purge event; 0 for the genesis */
	int64		next_seal_id;
	int64		next_first_id;
	uint8		hash[AUDIT_HASH_LEN];
} Anchor;

/* One seal, as stored. */
typedef struct Seal
{
	int64		seal_id;
	int64		first_id;
	int64		last_id;
	int64		row_count;
	bool		hashes_ok;		/* both hashes have AUDIT_HASH_LEN bytes */
	uint8		prev_hash[AUDIT_HASH_LEN];
	uint8		chain_hash[AUDIT_HASH_LEN];
} Seal;

/* Ordered scan of audit_log or audit_seals by primary key, from after_id. */
typedef struct KeyScan
{
	Relation	heap;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	MemoryContext scancxt;		/* where the index AM may allocate */
} KeyScan;

PG_FUNCTION_INFO_V1(fx_audit_guard);
PG_FUNCTION_INFO_V1(fx_seal_audit_log);
PG_FUNCTION_INFO_V1(fx_verify_audit_log);
PG_FUNCTION_INFO_V1(fx_purge_audit_log);

/* ----------------------------------------------------------------
 * Helpers
 * ----------------------------------------------------------------
 */

static Oid
audit_relid(const char *table)
{
	Oid			relid = get_relname_relid(table,
										  get_namespace_oid(FEATURE_X_SCHEMA, false));

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table %s.%s of the feature_x extension does not exist",
						FEATURE_X_SCHEMA, table),
				 errhint("Update the extension with ALTER EXTENSION feature_x UPDATE.")));
	return relid;
}

/* Attribute number of a column that must exist. */
static AttrNumber
column_attnum(TupleDesc tupdesc, const char *name)
{
	int			i;

	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i);

		if (!attr->attisdropped && strcmp(NameStr(attr->attname), name) == 0)
			return attr->attnum;
	}
	elog(ERROR, "column \"%s\" of the audit tables does not exist", name);
	return InvalidAttrNumber;	/* keep compiler quiet */
}

static void
keyscan_begin(KeyScan *ks, Oid relid, Snapshot snapshot, int64 after_id)
{
	ScanKeyData key;
	Oid			indexid;

	ks->heap = table_open(relid, AccessShareLock);
	indexid = RelationGetPrimaryKeyIndex(ks->heap);
	if (!OidIsValid(indexid))
		elog(ERROR, "audit table %s has no primary key",
			 RelationGetRelationName(ks->heap));
	ks->index = index_open(indexid, AccessShareLock);
	ScanKeyInit(&key, 1, BTGreaterStrategyNumber, F_INT8GT,
				Int64GetDatum(after_id));
	ks->scan = index_beginscan(ks->heap, ks->index, snapshot, 1, 0);
	index_rescan(ks->scan, &key, 1, NULL, 0);
	ks->slot = table_slot_create(ks->heap, NULL);
	ks->scancxt = CurrentMemoryContext;
}

/*
 * Next row in key order, deformed into ks->slot; false at the end.  The
 * index AM allocates lazily during the scan (btree's killed-items array, for
 * one), so it runs in the scan's own context: callers reset a per-row
 * context between rows.
 */
static bool
keyscan_next(KeyScan *ks, ScanDirection direction)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(ks->scancxt);
	bool		found = index_getnext_slot(ks->scan, direction, ks->slot);

	MemoryContextSwitchTo(oldcxt);
	if (found)
		slot_getallattrs(ks->slot);
	return found;
}

static void
keyscan_end(KeyScan *ks)
{
	ExecDropSingleTupleTableSlot(ks->slot);
	index_endscan(ks->scan);
	index_close(ks->index, AccessShareLock);
	table_close(ks->heap, AccessShareLock);
}

static int64
slot_int8(TupleTableSlot *slot, AttrNumber attnum)
{
	if (slot->tts_isnull[attnum - 1])
		return -1;
	return DatumGetInt64(slot->tts_values[attnum - 1]);
}

/* Copy a bytea column into hash; false if NULL or not AUDIT_HASH_LEN long. */
static bool
slot_hash(TupleTableSlot *slot, AttrNumber attnum, uint8 hash[AUDIT_HASH_LEN])
{
	bytea	   *value;

	if (slot->tts_isnull[attnum - 1])
		return false;
	value = DatumGetByteaPP(slot->tts_values[attnum - 1]);
	if (VARSIZE_ANY_EXHDR(value) != AUDIT_HASH_LEN)
		return false;
	memcpy(hash, VARDATA_ANY(value), AUDIT_HASH_LEN);
	return true;
}

static Seal
seal_from_slot(TupleTableSlot *slot)
{
	TupleDesc	tupdesc = slot->tts_tupleDescriptor;
	Seal		seal;

	seal.seal_id = slot_int8(slot, column_attnum(tupdesc, "seal_id"));
	seal.first_id = slot_int8(slot, column_attnum(tupdesc, "first_id"));
	seal.last_id = slot_int8(slot, column_attnum(tupdesc, "last_id"));
	seal.row_count = slot_int8(slot, column_attnum(tupdesc, "row_count"));
	seal.hashes_ok =
		slot_hash(slot, column_attnum(tupdesc, "prev_hash"), seal.prev_hash) &&
		slot_hash(slot, column_attnum(tupdesc, "chain_hash"), seal.chain_hash);
	return seal;
}

static pg_cryptohash_ctx *
chain_begin(const uint8 prev_hash[AUDIT_HASH_LEN])
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, prev_hash, AUDIT_HASH_LEN) < 0)
		elog(ERROR, "could not compute the audit chain: %s",
			 fx_cryptohash_error(ctx));
	return ctx;
}

/* Add the stored row_hash of the row in slot to the chain. */
static void
chain_add(pg_cryptohash_ctx *ctx, TupleTableSlot *slot, AttrNumber hash_attnum)
{
	bytea	   *value;

	if (slot->tts_isnull[hash_attnum - 1])
		return;
	value = DatumGetByteaPP(slot->tts_values[hash_attnum - 1]);
	if (pg_cryptohash_update(ctx, (uint8 *) VARDATA_ANY(value),
							 VARSIZE_ANY_EXHDR(value)) < 0)
		elog(ERROR, "could not compute the audit chain: %s",
			 fx_cryptohash_error(ctx));
}

static void
chain_end(pg_cryptohash_ctx *ctx, uint8 hash[AUDIT_HASH_LEN])
{
	if (fx_cryptohash_final(ctx, hash, AUDIT_HASH_LEN) < 0)
		elog(ERROR, "could not compute the audit chain: %s",
			 fx_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

static bytea *
hash_bytea(const uint8 hash[AUDIT_HASH_LEN])
{
	bytea	   *result = palloc(VARHDRSZ + AUDIT_HASH_LEN);

	SET_VARSIZE(result, VARHDRSZ + AUDIT_HASH_LEN);
	memcpy(VARDATA(result), hash, AUDIT_HASH_LEN);
	return result;
}

static char *
hash_hex(const uint8 hash[AUDIT_HASH_LEN])
{
	char	   *hex = palloc(AUDIT_HASH_LEN * 2 + 1);

	hex[hex_encode((const char *) hash, AUDIT_HASH_LEN, hex)] = '\0';
	return hex;
}

/*
 * Take the sealer lock; with nowait, return false instead of waiting when
 * another transaction holds it.
 */
static bool
sealer_lock(bool nowait)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, SEALER_LOCK_CLASSID,
						 SEALER_LOCK_OBJID, 2);
	return LockAcquire(&tag, ExclusiveLock, false, nowait) != LOCKACQUIRE_NOT_AVAIL;
}

/*
 * Highest id the sequence has handed out (0 if none).  Read directly, not
 * through an MVCC snapshot; the caller is inside owner_access_enter() and
 * connected to SPI.
 */
static int64
sequence_last_value(void)
{
	bool		isnull;
	Datum		value;

	if (SPI_execute("SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END"
					"  FROM feature_x.audit_log_id_seq", true, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read feature_x.audit_log_id_seq");
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(value);
}

/*
 * The anchor the oldest seal must start from: the one recorded by the latest
 * purge_audit_log() event visible to snapshot, else the genesis.  Caller as
 * for sequence_last_value().
 */
static Anchor
latest_anchor(Snapshot snapshot)
{
	Anchor		anchor;
	SPIPlanPtr	plan;
	HeapTuple	tuple;
	TupleDesc	tupdesc;
	bool		isnull[4];
	Datum		values[4];
	int			i;

	memset(&anchor, 0, sizeof(anchor));
	anchor.valid = true;
	anchor.next_seal_id = 1;
	anchor.next_first_id = 1;

	plan = SPI_prepare("SELECT id,"
					   "       CASE WHEN details->>'next_seal_id' ~ '^[0-9]{1,18}$'"
					   "            THEN (details->>'next_seal_id')::bigint END,"
					   "       CASE WHEN details->>'next_first_id' ~ '^[0-9]{1,18}$'"
					   "            THEN (details->>'next_first_id')::bigint END,"
					   "       CASE WHEN details->>'anchor_hash' ~ '^[0-9a-f]{64}$'"
					   "            THEN pg_catalog.decode(details->>'anchor_hash', 'hex') END"
					   "  FROM feature_x.audit_log"
					   " WHERE action = '" PURGE_ACTION "'"
					   " ORDER BY id DESC LIMIT 1", 0, NULL);
	if (plan == NULL ||
		SPI_execute_snapshot(plan, NULL, NULL, snapshot, InvalidSnapshot,
							 true, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the latest audit log purge");
	if (SPI_processed == 0)
		return anchor;

	tuple = SPI_tuptable->vals[0];
	tupdesc = SPI_tuptable->tupdesc;
	for (i = 0; i < 4; i++)
		values[i] = SPI_getbinval(tuple, tupdesc, i + 1, &isnull[i]);
	anchor.event_id = DatumGetInt64(values[0]);
	if (isnull[1] || isnull[2] || isnull[3])
	{
		anchor.valid = false;
		return anchor;
	}
	anchor.next_seal_id = DatumGetInt64(values[1]);
	anchor.next_first_id = DatumGetInt64(values[2]);
	memcpy(anchor.hash, VARDATA_ANY(DatumGetByteaPP(values[3])), AUDIT_HASH_LEN);
	return anchor;
}

/*
 * Wait until every transaction that holds a lock on audit_log conflicting
 * with ShareLock (that is, every writer) has ended, without taking a lock
 * that would block new writers.  This is WaitForLockers() except that
 * autovacuum, which holds ShareUpdateExclusiveLock but never writes audit
 * rows, is not waited for.  If a backend slot has been reused since
 * GetLockConflicts(), the old virtual xid has ended and the wait returns at
 * once, whatever now runs in the slot.  With nowait, return false instead of
 * waiting if there is any such transaction.
 */
static bool
wait_for_writers(Oid log_relid, bool nowait)
{
	LOCKTAG		tag;
	VirtualTransactionId *holders;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, log_relid);
	holders = GetLockConflicts(&tag, ShareLock, NULL);
	for (; VirtualTransactionIdIsValid(*holders); holders++)
	{
		PGPROC	   *proc = fx_vxid_proc(*holders);

		if (proc != NULL && (proc->statusFlags & PROC_IS_AUTOVACUUM))
			continue;
		if (nowait)
			return false;
		(void) VirtualXactLock(*holders, true);
	}
	return true;
}

/* The newest seal visible to snapshot; false if there is none. */
static bool
newest_seal(Oid seals_relid, Snapshot snapshot, Seal *seal)
{
	KeyScan		ks;
	bool		found;

	keyscan_begin(&ks, seals_relid, snapshot, PG_INT64_MIN);
	found = keyscan_next(&ks, BackwardScanDirection);
	if (found)
		*seal = seal_from_slot(ks.slot);
	keyscan_end(&ks);
	return found;
}

/*
 * Seal everything up to the sequence's current value.  Returns the number of
 * rows sealed; with nowait, -1 (and nothing sealed) if that would mean
 * waiting for writers.  The caller holds the sealer lock, is connected to SPI
 * and is inside owner_access_enter(); the new seal is visible to its next
 * command.
 */
static int64
seal_now(bool nowait)
{
	Oid			log_relid = audit_relid(LOG_TABLE);
	Oid			seals_relid = audit_relid(SEALS_TABLE);
	Snapshot	snapshot;
	Seal		prev;
	int64		last_id;
	int64		after_id;
	int64		seal_id;
	int64		count = 0;
	uint8		prev_hash[AUDIT_HASH_LEN];
	uint8		chain_hash[AUDIT_HASH_LEN];
	pg_cryptohash_ctx *ctx;
	KeyScan		ks;
	AttrNumber	id_att;
	AttrNumber	hash_att;
	MemoryContext rowcxt;
	MemoryContext oldcxt;
	Oid			argtypes[6] = {INT8OID, INT8OID, INT8OID, INT8OID, BYTEAOID, BYTEAOID};
	Datum		args[6];

	last_id = sequence_last_value();

	/* Where the previous seal (or the purge anchor) left off. */
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	if (newest_seal(seals_relid, snapshot, &prev))
	{
		if (!prev.hashes_ok || prev.seal_id < 1 || prev.last_id < 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the newest audit seal %lld is damaged", (long long) prev.seal_id),
					 errhint("Run feature_x.verify_audit_log() to find out what was changed.")));
		seal_id = prev.seal_id + 1;
		after_id = prev.last_id;
		memcpy(prev_hash, prev.chain_hash, AUDIT_HASH_LEN);
	}
	else
	{
		Anchor		anchor = latest_anchor(snapshot);

		if (!anchor.valid)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the anchor recorded by audit log purge event %lld is damaged",
							(long long) anchor.event_id),
					 errhint("Run feature_x.verify_audit_log() to find out what was changed.")));
		seal_id = anchor.next_seal_id;
		after_id = anchor.next_first_id - 1;
		memcpy(prev_hash, anchor.hash, AUDIT_HASH_LEN);
	}
	UnregisterSnapshot(snapshot);

	if (last_id <= after_id)
		return 0;

	/* After this, no id <= last_id can commit any more. */
	if (!wait_for_writers(log_relid, nowait))
		return -1;

	snapshot = RegisterSnapshot(GetLatestSnapshot());
	ctx = chain_begin(prev_hash);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "feature_x seal row",
								   ALLOCSET_DEFAULT_SIZES);
	keyscan_begin(&ks, log_relid, snapshot, after_id);
	id_att = column_attnum(ks.slot->tts_tupleDescriptor, "id");
	hash_att = column_attnum(ks.slot->tts_tupleDescriptor, "row_hash");
	oldcxt = MemoryContextSwitchTo(rowcxt);
	while (keyscan_next(&ks, ForwardScanDirection))
	{
		if (slot_int8(ks.slot, id_att) > last_id)
			break;
		chain_add(ctx, ks.slot, hash_att);
		count++;
		MemoryContextReset(rowcxt);
	}
	MemoryContextSwitchTo(oldcxt);
	keyscan_end(&ks);
	MemoryContextDelete(rowcxt);
	chain_end(ctx, chain_hash);
	UnregisterSnapshot(snapshot);

	args[0] = Int64GetDatum(seal_id);
	args[1] = Int64GetDatum(after_id + 1);
	args[2] = Int64GetDatum(last_id);
	args[3] = Int64GetDatum(count);
	args[4] = PointerGetDatum(hash_bytea(prev_hash));
	args[5] = PointerGetDatum(hash_bytea(chain_hash));
	if (SPI_execute_with_args("INSERT INTO feature_x.audit_seals"
							  " (seal_id, first_id, last_id, row_count, sealed_at,"
							  "  prev_hash, chain_hash)"
							  " VALUES ($1, $2, $3, $4, pg_catalog.clock_timestamp(), $5, $6)",
							  6, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert the audit seal");
	CommandCounterIncrement();
	return count;
}

/* ----------------------------------------------------------------
 * Append-only triggers
 * ----------------------------------------------------------------
 */

/*
 * feature_x.audit_guard(): BEFORE INSERT row trigger on audit_log (checks
 * row_hash) and BEFORE UPDATE/DELETE/TRUNCATE statement trigger on
 * audit_log and audit_seals (refuses, except for purge_audit_log()'s own
 * DELETEs).
 */
Datum
fx_audit_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("feature_x.audit_guard() must be called as a trigger")));
	rel = trigdata->tg_relation;

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		TupleDesc	tupdesc = RelationGetDescr(rel);
		HeapTuple	tuple = trigdata->tg_trigtuple;
		Datum	   *values;
		bool	   *isnull;
		uint8		hash[AUDIT_HASH_LEN];
		AttrNumber	hash_att = column_attnum(tupdesc, "row_hash");
		bytea	   *stored;

		if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
			elog(ERROR, "feature_x.audit_guard() checks inserted rows one by one");

		values = palloc(tupdesc->natts * sizeof(Datum));
		isnull = palloc(tupdesc->natts * sizeof(bool));
		heap_deform_tuple(tuple, tupdesc, values, isnull);
		audit_row_hash(tupdesc, values, isnull, hash);
		stored = isnull[hash_att - 1] ? NULL : DatumGetByteaPP(values[hash_att - 1]);
		if (stored == NULL || VARSIZE_ANY_EXHDR(stored) != AUDIT_HASH_LEN ||
			memcmp(VARDATA_ANY(stored), hash, AUDIT_HASH_LEN) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("cannot insert into %s.%s directly", FEATURE_X_SCHEMA, LOG_TABLE),
					 errdetail("The row's row_hash does not match its contents; only rows written by feature_x, or restored from a dump, can be inserted."),
					 errhint("Use feature_x.log_event() to add an entry.")));
		return PointerGetDatum(tuple);
	}

	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) && purge_running)
		return PointerGetDatum(NULL);

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s.%s is append-only", FEATURE_X_SCHEMA,
					RelationGetRelationName(rel)),
			 errdetail("Rows of the audit log and its seals cannot be updated, deleted or truncated, not even by their owner."),
			 errhint("Use feature_x.purge_audit_log() to remove old entries.")));
	return PointerGetDatum(NULL);	/* keep compiler quiet */
}

/* ----------------------------------------------------------------
 * SQL-callable functions
 * ----------------------------------------------------------------
 */

static void
refuse_read_only(const char *function)
{
	if (RecoveryInProgress() || XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot execute %s in a read-only transaction", function)));
}

/* feature_x.seal_audit_log() RETURNS bigint: rows sealed */
Datum
fx_seal_audit_log(PG_FUNCTION_ARGS)
{
	OwnerAccess access;
	int64		count;

	refuse_read_only("seal_audit_log()");
	SPI_connect();
	owner_access_enter(&access, LOG_TABLE);
	(void) sealer_lock(false);
	count = seal_now(false);
	owner_access_exit(&access);
	SPI_finish();
	PG_RETURN_INT64(count);
}

/* The lowest-id problem verification has found so far. */
typedef struct Finding
{
	MemoryContext cxt;			/* where reason lives */
	int64		bad_id;			/* 0: none yet */
	char	   *reason;
} Finding;

static void
report(Finding *finding, int64 id, const char *reason)
{
	if (finding->bad_id == 0 || id < finding->bad_id)
	{
		finding->bad_id = id;
		finding->reason = MemoryContextStrdup(finding->cxt, reason);
	}
}

/* Compare a finished segment with its seal. */
static void
check_segment(Finding *finding, const Seal *seal, pg_cryptohash_ctx *ctx,
			  int64 count)
{
	uint8		chain_hash[AUDIT_HASH_LEN];

	chain_end(ctx, chain_hash);
	if (count != seal->row_count || !seal->hashes_ok ||
		memcmp(chain_hash, seal->chain_hash, AUDIT_HASH_LEN) != 0)
		report(finding, seal->first_id,
			   psprintf("sealed segment %lld (ids %lld to %lld) does not match its seal: "
						"%lld rows found, %lld sealed%s; rows were deleted, inserted or rewritten",
						(long long) seal->seal_id, (long long) seal->first_id,
						(long long) seal->last_id, (long long) count,
						(long long) seal->row_count,
						count == seal->row_count ? ", chain hash differs" : ""));
}

/* A seal must continue the one before it (or the anchor). */
static void
check_continuity(Finding *finding, const Seal *seal, int64 seal_id,
				 int64 first_id, const uint8 prev_hash[AUDIT_HASH_LEN],
				 const char *after)
{
	if (seal->seal_id != seal_id || seal->first_id != first_id ||
		seal->last_id < seal->first_id || !seal->hashes_ok ||
		memcmp(seal->prev_hash, prev_hash, AUDIT_HASH_LEN) != 0)
		report(finding, Max(seal->first_id, 1),
			   psprintf("seal %lld (ids %lld to %lld) does not continue %s: "
						"expected seal %lld from id %lld with its chain hash; seals were deleted, inserted or changed",
						(long long) seal->seal_id, (long long) seal->first_id,
						(long long) seal->last_id, after,
						(long long) seal_id, (long long) first_id));
}

/* The seals, read in order alongside the rows by verification. */
typedef struct SealWalk
{
	KeyScan		scan;
	bool		have;			/* seal is the current seal */
	bool		passed_one;		/* a seal has been closed already */
	Seal		seal;
	pg_cryptohash_ctx *ctx;		/* chain of the current segment so far */
	int64		count;			/* rows of the current segment so far */
} SealWalk;

/* Make the next seal (if any) current; it must continue prev. */
static void
walk_to_next_seal(Finding *finding, SealWalk *walk)
{
	Seal		prev = walk->seal;

	walk->have = keyscan_next(&walk->scan, ForwardScanDirection);
	if (!walk->have)
		return;
	walk->seal = seal_from_slot(walk->scan.slot);
	check_continuity(finding, &walk->seal, prev.seal_id + 1, prev.last_id + 1,
					 prev.chain_hash,
					 psprintf("seal %lld", (long long) prev.seal_id));
	walk->ctx = chain_begin(walk->seal.prev_hash);
	walk->count = 0;
}

/* Check the current segment against its seal and move on to the next. */
static void
walk_close_segment(Finding *finding, SealWalk *walk)
{
	check_segment(finding, &walk->seal, walk->ctx, walk->count);
	walk->passed_one = true;
	walk_to_next_seal(finding, walk);
}

/*
 * feature_x.verify_audit_log()
 *		RETURNS TABLE(ok boolean, checked bigint, first_bad_id bigint, reason text)
 */
Datum
fx_verify_audit_log(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	OwnerAccess access;
	Snapshot	snapshot;
	int64		seq_last;
	Anchor		anchor;
	Finding		finding = {CurrentMemoryContext, 0, NULL};
	KeyScan		rows;
	SealWalk	walk = {0};
	int64		checked = 0;
	AttrNumber	id_att;
	AttrNumber	hash_att;
	MemoryContext rowcxt;
	MemoryContext oldcxt;
	Datum		result[4];
	bool		nulls[4] = {false, false, false, false};
	char	   *anchor_name;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	owner_access_enter(&access, LOG_TABLE);

	/*
	 * Seal first when that takes no waiting, so that the tail is as short as
	 * possible; verification never waits for writers (an idle transaction
	 * that wrote an audit row would hold it up) nor for another sealer.
	 */
	if (!RecoveryInProgress() && !XactReadOnly && sealer_lock(true))
		(void) seal_now(true);

	snapshot = RegisterSnapshot(GetLatestSnapshot());
	/* After the snapshot: every row it sees has an id up to this. */
	seq_last = sequence_last_value();
	anchor = latest_anchor(snapshot);
	if (anchor.event_id > 0)
		anchor_name = psprintf("the anchor of purge event %lld", (long long) anchor.event_id);
	else
		anchor_name = "the start of the log";

	if (!anchor.valid)
		report(&finding, anchor.event_id,
			   psprintf("the anchor recorded by purge event %lld was altered",
						(long long) anchor.event_id));
	keyscan_begin(&walk.scan, audit_relid(SEALS_TABLE), snapshot, PG_INT64_MIN);
	walk.have = keyscan_next(&walk.scan, ForwardScanDirection);
	if (walk.have)
	{
		walk.seal = seal_from_slot(walk.scan.slot);
		if (anchor.valid)
			check_continuity(&finding, &walk.seal, anchor.next_seal_id,
							 anchor.next_first_id, anchor.hash, anchor_name);
		walk.ctx = chain_begin(walk.seal.prev_hash);
	}

	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "feature_x verify row",
								   ALLOCSET_DEFAULT_SIZES);
	keyscan_begin(&rows, audit_relid(LOG_TABLE), snapshot, PG_INT64_MIN);
	id_att = column_attnum(rows.slot->tts_tupleDescriptor, "id");
	hash_att = column_attnum(rows.slot->tts_tupleDescriptor, "row_hash");
	oldcxt = MemoryContextSwitchTo(rowcxt);
	while (keyscan_next(&rows, ForwardScanDirection))
	{
		TupleTableSlot *slot = rows.slot;
		int64		id = slot_int8(slot, id_att);
		uint8		hash[AUDIT_HASH_LEN];
		uint8		stored[AUDIT_HASH_LEN];

		checked++;
		audit_row_hash(slot->tts_tupleDescriptor, slot->tts_values,
					   slot->tts_isnull, hash);
		if (!slot_hash(slot, hash_att, stored) ||
			memcmp(hash, stored, AUDIT_HASH_LEN) != 0)
			report(&finding, id,
				   psprintf("row %lld does not match its row_hash; it was modified", (long long) id));

		/* Close the segments that end before this row. */
		if (walk.have && id > walk.seal.last_id)
		{
			MemoryContextSwitchTo(oldcxt);
			while (walk.have && id > walk.seal.last_id)
				walk_close_segment(&finding, &walk);
			MemoryContextSwitchTo(rowcxt);
		}

		if (walk.have && id >= walk.seal.first_id)
		{
			chain_add(walk.ctx, slot, hash_att);
			walk.count++;
		}
		else if (walk.have || (!walk.passed_one && id < anchor.next_first_id))
			report(&finding, id,
				   psprintf("row %lld lies outside the sealed segments; it was inserted out of band, or its seal was deleted",
							(long long) id));
		else if (id > seq_last)
			report(&finding, id,
				   psprintf("row %lld lies beyond the id sequence; it was inserted out of band",
							(long long) id));
		MemoryContextReset(rowcxt);
	}
	MemoryContextSwitchTo(oldcxt);
	keyscan_end(&rows);
	MemoryContextDelete(rowcxt);

	/* Seals left over have no rows after them: each must still add up. */
	while (walk.have)
		walk_close_segment(&finding, &walk);
	keyscan_end(&walk.scan);
	UnregisterSnapshot(snapshot);

	owner_access_exit(&access);
	SPI_finish();

	result[0] = BoolGetDatum(finding.bad_id == 0);
	result[1] = Int64GetDatum(checked);
	if (finding.bad_id == 0)
	{
		nulls[2] = true;
		nulls[3] = true;
	}
	else
	{
		result[2] = Int64GetDatum(finding.bad_id);
		result[3] = CStringGetTextDatum(finding.reason);
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, result, nulls);
	return (Datum) 0;
}

/*
 * Number of leading seals (from the oldest) whose rows are all older than
 * cutoff, with the last of them in *last.  Caller as for seal_now().
 */
static int
purgeable_seals(Oid seals_relid, Snapshot snapshot, TimestampTz cutoff,
				Seal *last, Seal *oldest_kept)
{
	KeyScan		ks;
	SPIPlanPtr	newer;
	Oid			argtypes[3] = {INT8OID, INT8OID, TIMESTAMPTZOID};
	int			count = 0;

	newer = SPI_prepare("SELECT 1 FROM feature_x.audit_log"
						" WHERE id BETWEEN $1 AND $2 AND logged_at >= $3 LIMIT 1",
						3, argtypes);
	if (newer == NULL)
		elog(ERROR, "could not prepare the audit purge query");

	oldest_kept->seal_id = 0;
	keyscan_begin(&ks, seals_relid, snapshot, PG_INT64_MIN);
	while (keyscan_next(&ks, ForwardScanDirection))
	{
		Seal		seal = seal_from_slot(ks.slot);
		Datum		args[3];

		args[0] = Int64GetDatum(seal.first_id);
		args[1] = Int64GetDatum(seal.last_id);
		args[2] = TimestampTzGetDatum(cutoff);
		if (SPI_execute_snapshot(newer, args, NULL, snapshot, InvalidSnapshot,
								 true, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not run the audit purge query");
		if (SPI_processed > 0)
		{
			*oldest_kept = seal;
			break;
		}
		*last = seal;
		count++;
	}
	keyscan_end(&ks);
	return count;
}

/* Run one of purge's DELETEs (one bigint parameter); rows deleted. */
static int64
purge_delete(const char *sql, int64 upto, Snapshot snapshot)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(upto)};
	SPIPlanPtr	plan = SPI_prepare(sql, 1, argtypes);

	if (plan == NULL ||
		SPI_execute_snapshot(plan, args, NULL, snapshot, InvalidSnapshot,
							 false, true, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not run the audit purge: %s", sql);
	return (int64) SPI_processed;
}

/* feature_x.purge_audit_log(older_than timestamptz) RETURNS bigint */
Datum
fx_purge_audit_log(PG_FUNCTION_ARGS)
{
	TimestampTz cutoff;
	OwnerAccess access;
	Snapshot	snapshot;
	Seal		last = {0};
	Seal		oldest_kept = {0};
	int			nseals;
	int64		deleted = 0;
	int64		next_seal_id;
	int64		next_first_id;
	uint8		anchor_hash[AUDIT_HASH_LEN];
	StringInfoData details;
	AuditEntry	entry;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("older_than must not be null")));
	cutoff = PG_GETARG_TIMESTAMPTZ(0);
	if (TIMESTAMP_NOT_FINITE(cutoff))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must be a finite timestamp")));
	refuse_read_only("purge_audit_log()");

	SPI_connect();
	owner_access_enter(&access, LOG_TABLE);
	(void) sealer_lock(false);
	(void) seal_now(false);

	snapshot = RegisterSnapshot(GetLatestSnapshot());
	nseals = purgeable_seals(audit_relid(SEALS_TABLE), snapshot, cutoff,
							 &last, &oldest_kept);
	if (nseals > 0)
	{
		purge_running = true;
		PG_TRY();
		{
			deleted = purge_delete("DELETE FROM feature_x.audit_log WHERE id <= $1",
								   last.last_id, snapshot);
			(void) purge_delete("DELETE FROM feature_x.audit_seals WHERE seal_id <= $1",
								last.seal_id, snapshot);
		}
		PG_FINALLY();
		{
			purge_running = false;
		}
		PG_END_TRY();

		next_seal_id = last.seal_id + 1;
		next_first_id = last.last_id + 1;
		memcpy(anchor_hash, last.chain_hash, AUDIT_HASH_LEN);
	}
	else if (oldest_kept.seal_id > 0)
	{
		next_seal_id = oldest_kept.seal_id;
		next_first_id = oldest_kept.first_id;
		memcpy(anchor_hash, oldest_kept.prev_hash, AUDIT_HASH_LEN);
	}
	else
	{
		Anchor		anchor = latest_anchor(snapshot);

		next_seal_id = anchor.next_seal_id;
		next_first_id = anchor.next_first_id;
		memcpy(anchor_hash, anchor.hash, AUDIT_HASH_LEN);
	}
	UnregisterSnapshot(snapshot);

	/* The purge is itself audited, and its event anchors the chain. */
	initStringInfo(&details);
	appendStringInfoString(&details, "{\"older_than\": ");
	escape_json(&details, DatumGetCString(DirectFunctionCall1(timestamptz_out,
															  TimestampTzGetDatum(cutoff))));
	appendStringInfo(&details,
					 ", \"rows_deleted\": " INT64_FORMAT
					 ", \"seals_deleted\": %d"
					 ", \"next_seal_id\": " INT64_FORMAT
					 ", \"next_first_id\": " INT64_FORMAT
					 ", \"anchor_hash\": \"%s\"}",
					 deleted, nseals, next_seal_id, next_first_id,
					 hash_hex(anchor_hash));
	memset(&entry, 0, sizeof(entry));
	entry.action = PURGE_ACTION;
	entry.table_name = FEATURE_X_SCHEMA "." LOG_TABLE;
	entry.details = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													   CStringGetDatum(details.data)));
	(void) audit_append(&entry);

	owner_access_exit(&access);
	SPI_finish();
	PG_RETURN_INT64(deleted);
}
