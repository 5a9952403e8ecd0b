/*-------------------------------------------------------------------------
 *
 * log.c
 *		The writer of feature_x.audit_log: the only code that adds rows to it.
 *
 * A row is formed in C and goes straight into the heap and its indexes
 * (table_tuple_insert / table_multi_insert and ExecInsertIndexTuples), with
 * no SPI and no SQL triggers: the append-only triggers on audit_log guard it
 * against SQL, not against its own writer, and the writing user needs no
 * privilege on the table (audit rows are written whatever the rights of the
 * user whose change they record).
 *
 * Order of events for every row (the contract of audit.h, which the sealer
 * relies on): audit_log is opened with RowExclusiveLock, the top-level
 * transaction gets its xid (the txid column), and only then is the id taken
 * from feature_x.audit_log_id_seq.  Whoever reads the sequence and then waits
 * for every lock holder on audit_log therefore knows that no transaction can
 * still commit a lower id.
 *
 * Context columns left NULL by the caller come from the session: actor is
 * feature_x.current_actor(), db_user the session user (not the current user,
 * which SECURITY DEFINER functions change), application_name the GUC,
 * client_addr the peer address (NULL over a Unix socket).  logged_at defaults
 * to the start of the current statement (statement_timestamp()): rows of one
 * transaction keep the order of its statements, and a single-statement
 * transaction gets the same value as its now().
 *
 * row_hash is SHA-256 over the canonical serialisation described above
 * audit_row_hash(); it depends only on the values, never on DateStyle,
 * TimeZone, extra_float_digits or OIDs, so it verifies after dump/restore.
 *
 * The OIDs and column numbers of audit_log are cached per backend and
 * forgotten on any relcache invalidation of the table or its sequence (and
 * on a full reset), so DROP/CREATE EXTENSION is noticed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/xid8.h"

#include "compat.h"
#include "feature_x.h"
#include "rbac/rbac.h"
#include "audit.h"
#include "writer.h"

/* Columns of audit_log the writer fills, found by name. */
typedef enum LogColumn
{
	COL_ID,
	COL_LOGGED_AT,
	COL_TXID,
	COL_ACTOR,
	COL_DB_USER,
	COL_APPLICATION_NAME,
	COL_CLIENT_ADDR,
	COL_ACTION,
	COL_TABLE_NAME,
	COL_ROW_KEY,
	COL_OLD_DATA,
	COL_NEW_DATA,
	COL_DETAILS,
	COL_ROW_HASH,
	NUM_LOG_COLUMNS
} LogColumn;

static const char *const log_column_names[NUM_LOG_COLUMNS] = {
	"id", "logged_at", "txid", "actor", "db_user", "application_name",
	"client_addr", "action", "table_name", "row_key", "old_data", "new_data",
	"details", "row_hash"
};

/* Where audit_log is; valid until a relcache invalidation says otherwise. */
typedef struct LogTarget
{
	bool		valid;
	Oid			relid;
	Oid			seqid;
	AttrNumber	attnum[NUM_LOG_COLUMNS];
} LogTarget;

static LogTarget log_target;
static bool callbacks_registered = false;

/* Session context that cannot change, or changes rarely, cached. */
static Oid	db_user_oid = InvalidOid;
static char *db_user_name = NULL;
static bool client_addr_known = false;
static bool client_addr_null = true;
static Datum client_addr_value;

/*
 * Rows are handed to the heap in batches of at most this many rows or bytes
 * (a statement changing a million rows must not keep them all in memory).
 */
#define WRITER_BATCH_ROWS 1000
#define WRITER_BATCH_BYTES (4 * 1024 * 1024)

struct AuditWriter
{
	MemoryContext cxt;			/* the writer's own allocations */
	LogTarget	target;			/* as found at audit_writer_begin() */
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	BulkInsertState bistate;	/* made at the first multi-row batch */
	MemoryContext batchcxt;		/* tuples and values of the pending batch */
	TupleTableSlot *slots[WRITER_BATCH_ROWS];
	int			nslots;			/* slots made so far */
	int			npending;		/* slots holding a row not yet inserted */
	Size		pending_bytes;
	Datum	   *values;
	bool	   *isnull;
	pg_cryptohash_ctx *hashctx;
	StringInfoData hashbuf;
	/* Text datums of the previous row, reused while the strings are equal. */
	const char *last_strings[NUM_LOG_COLUMNS];
	Datum		last_datums[NUM_LOG_COLUMNS];
};

static void
log_target_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == log_target.relid ||
		relid == log_target.seqid)
		log_target.valid = false;
}

static void
db_user_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	db_user_oid = InvalidOid;
}

static void
log_target_lookup(void)
{
	Oid			namespace;
	LogTarget	found;
	int			i;

	if (log_target.valid)
		return;

	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(log_target_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, db_user_invalidate, (Datum) 0);
		callbacks_registered = true;
	}

	namespace = get_namespace_oid(FEATURE_X_SCHEMA, true);
	found.relid = OidIsValid(namespace) ?
		get_relname_relid("audit_log", namespace) : InvalidOid;
	found.seqid = OidIsValid(namespace) ?
		get_relname_relid("audit_log_id_seq", namespace) : InvalidOid;
	if (!OidIsValid(found.relid) || !OidIsValid(found.seqid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("audit log table %s.audit_log does not exist",
						FEATURE_X_SCHEMA),
				 errhint("Update the extension with ALTER EXTENSION feature_x UPDATE.")));

	for (i = 0; i < NUM_LOG_COLUMNS; i++)
	{
		found.attnum[i] = get_attnum(found.relid, log_column_names[i]);
		if (found.attnum[i] == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of %s.audit_log does not exist",
							log_column_names[i], FEATURE_X_SCHEMA),
					 errhint("Reinstall the extension with DROP EXTENSION feature_x and CREATE EXTENSION feature_x.")));
	}

	found.valid = true;
	log_target = found;
}

/* Name of the session user (who logged in, or SET SESSION AUTHORIZATION). */
static const char *
session_user_name(void)
{
	Oid			uid = GetSessionUserId();

	if (uid != db_user_oid)
	{
		char	   *name = GetUserNameFromId(uid, false);

		if (db_user_name != NULL)
			pfree(db_user_name);
		db_user_name = MemoryContextStrdup(TopMemoryContext, name);
		db_user_oid = uid;
	}
	return db_user_name;
}

/* inet_client_addr() of this backend, computed once. */
static bool
session_client_addr(Datum *addr)
{
	if (!client_addr_known)
	{
		LOCAL_FCINFO(fcinfo, 0);
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

		InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
		client_addr_value = inet_client_addr(fcinfo);
		client_addr_null = fcinfo->isnull;
		MemoryContextSwitchTo(oldcxt);
		client_addr_known = true;
	}
	*addr = client_addr_value;
	return !client_addr_null;
}

/* ----------------------------------------------------------------
 * The canonical serialisation hashed into row_hash
 *
 * Format version tag, then for every column of audit_log in column order
 * except row_hash and dropped columns:
 *	 'C' len name								the column name
 *	 'N'										SQL NULL, or one of
 *	 'I' int64 | 'T' int64 | 'X' uint64 | 'B' byte
 *												integers (any width), timestamps
 *												as microseconds since 2000-01-01
 *												UTC, xid8, boolean
 *	 'S' len bytes | 'Y' len bytes | 'J' len bytes | 'A' len text
 *												text, bytea, jsonb in its
 *												binary form, inet as its text
 *												output
 * where len is a 4-byte and every integer an 8-byte big-endian number.
 * Every field is tagged and every variable-length field length-prefixed, so
 * no two different rows serialise alike.
 *
 * jsonb is hashed in its binary form (the bytes after the varlena header,
 * detoasted), which is canonical: every jsonb value is built by the same
 * conversion, with object keys sorted and de-duplicated and numerics in
 * their normalised form, so the jsonb that a dump restores through
 * jsonb_in() has the same bytes as the one written here.  (The binary format
 * is also what pg_upgrade keeps unchanged.)  Hashing the binary form rather
 * than the text output saves printing every logged row.
 * ----------------------------------------------------------------
 */
#define ROW_HASH_FORMAT "feature_x audit_log row v1"

static void
put_int(StringInfo buf, char tag, uint64 value)
{
	uint64		be = pg_hton64(value);

	appendStringInfoChar(buf, tag);
	appendBinaryStringInfo(buf, (const char *) &be, sizeof(be));
}

static void
put_bytes(StringInfo buf, char tag, const char *data, Size len)
{
	uint32		be = pg_hton32((uint32) len);

	appendStringInfoChar(buf, tag);
	appendBinaryStringInfo(buf, (const char *) &be, sizeof(be));
	appendBinaryStringInfo(buf, data, len);
}

static void
put_value(StringInfo buf, Oid type, Datum value)
{
	switch (type)
	{
		case INT2OID:
			put_int(buf, 'I', (uint64) (int64) DatumGetInt16(value));
			break;
		case INT4OID:
			put_int(buf, 'I', (uint64) (int64) DatumGetInt32(value));
			break;
		case INT8OID:
			put_int(buf, 'I', (uint64) DatumGetInt64(value));
			break;
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			put_int(buf, 'T', (uint64) DatumGetTimestampTz(value));
			break;
		case XID8OID:
			put_int(buf, 'X', U64FromFullTransactionId(DatumGetFullTransactionId(value)));
			break;
		case BOOLOID:
			appendStringInfoChar(buf, 'B');
			appendStringInfoChar(buf, DatumGetBool(value) ? 1 : 0);
			break;
		case TEXTOID:
		case VARCHAROID:
			{
				text	   *t = DatumGetTextPP(value);

				put_bytes(buf, 'S', VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				break;
			}
		case BYTEAOID:
			{
				bytea	   *b = DatumGetByteaPP(value);

				put_bytes(buf, 'Y', VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
				break;
			}
		case JSONBOID:
			{
				Jsonb	   *j = DatumGetJsonbP(value);

				put_bytes(buf, 'J', (const char *) &j->root, VARSIZE(j) - VARHDRSZ);
				break;
			}
		case INETOID:
		case CIDROID:
			{
				char	   *s = DatumGetCString(DirectFunctionCall1(inet_out, value));

				put_bytes(buf, 'A', s, strlen(s));
				pfree(s);
				break;
			}
		default:
			elog(ERROR, "audit_log column of type %u has no canonical form", type);
	}
}

/*
 * audit_row_hash() with the hash context and buffer supplied, so that a
 * writer appending many rows creates them once.
 */
static void
row_hash(pg_cryptohash_ctx *ctx, StringInfo buf, TupleDesc tupdesc,
		 Datum *values, bool *isnull, uint8 hash[AUDIT_HASH_LEN])
{
	int			i;

	resetStringInfo(buf);
	put_bytes(buf, 'V', ROW_HASH_FORMAT, strlen(ROW_HASH_FORMAT));
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (att->attisdropped || strcmp(NameStr(att->attname), "row_hash") == 0)
			continue;
		put_bytes(buf, 'C', NameStr(att->attname), strlen(NameStr(att->attname)));
		if (isnull[i])
			appendStringInfoChar(buf, 'N');
		else
			put_value(buf, att->atttypid, values[i]);
	}

	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) buf->data, buf->len) < 0 ||
		fx_cryptohash_final(ctx, hash, AUDIT_HASH_LEN) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256 hash of an audit row: %s",
						fx_cryptohash_error(ctx))));
}

void
audit_row_hash(TupleDesc tupdesc, Datum *values, bool *isnull,
			   uint8 hash[AUDIT_HASH_LEN])
{
	StringInfoData buf;
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	/* An error leaves ctx to the resource owner, which frees it. */
	initStringInfo(&buf);
	row_hash(ctx, &buf, tupdesc, values, isnull, hash);
	pg_cryptohash_free(ctx);
	pfree(buf.data);
}

/* ----------------------------------------------------------------
 * Writing
 * ----------------------------------------------------------------
 */

AuditWriter *
audit_writer_begin(void)
{
	AuditWriter *writer;
	TupleDesc	tupdesc;

	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot write to the audit log in a read-only transaction")));

	log_target_lookup();

	writer = palloc0(sizeof(AuditWriter));
	writer->cxt = CurrentMemoryContext;
	writer->target = log_target;
	writer->rel = table_open(writer->target.relid, RowExclusiveLock);
	(void) GetTopFullTransactionId();

	writer->estate = CreateExecutorState();
	writer->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(writer->rri, writer->rel, 1, NULL, 0);
	ExecOpenIndices(writer->rri, false);
	writer->batchcxt = AllocSetContextCreate(CurrentMemoryContext,
											 "feature_x audit batch",
											 ALLOCSET_DEFAULT_SIZES);
	tupdesc = RelationGetDescr(writer->rel);
	writer->values = palloc(tupdesc->natts * sizeof(Datum));
	writer->isnull = palloc(tupdesc->natts * sizeof(bool));
	writer->hashctx = pg_cryptohash_create(PG_SHA256);
	initStringInfo(&writer->hashbuf);
	return writer;
}

static void
writer_flush(AuditWriter *writer)
{
	MemoryContext oldcxt;
	CommandId	cid;
	int			i;

	if (writer->npending == 0)
		return;

	if (writer->npending > 1 && writer->bistate == NULL)
	{
		oldcxt = MemoryContextSwitchTo(writer->cxt);
		writer->bistate = GetBulkInsertState();
		MemoryContextSwitchTo(oldcxt);
	}

	/* What the inserts allocate goes with the batch. */
	oldcxt = MemoryContextSwitchTo(writer->batchcxt);
	cid = GetCurrentCommandId(true);
	if (writer->npending == 1)
		table_tuple_insert(writer->rel, writer->slots[0], cid, 0, NULL);
	else
		table_multi_insert(writer->rel, writer->slots, writer->npending, cid,
						   0, writer->bistate);

	for (i = 0; i < writer->npending; i++)
	{
		if (writer->rri->ri_NumIndices > 0)
			list_free(fx_exec_insert_index_tuples(writer->rri, writer->slots[i],
												  writer->estate));
		ExecClearTuple(writer->slots[i]);
	}
	MemoryContextSwitchTo(oldcxt);
	ResetPerTupleExprContext(writer->estate);
	MemoryContextReset(writer->batchcxt);
	writer->npending = 0;
	writer->pending_bytes = 0;
}

/*
 * The text columns repeat from row to row (action, table, user, ...): the
 * datum made for the previous row is reused when the string is the same.
 * Those datums live in the writer's context, not in the batch's.
 */
static inline void
set_text(AuditWriter *writer, LogColumn col, const char *s)
{
	int			i = writer->target.attnum[col] - 1;

	if (s == NULL)
		return;
	if (writer->last_strings[col] == NULL ||
		strcmp(writer->last_strings[col], s) != 0)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(writer->cxt);

		if (writer->last_strings[col] != NULL)
		{
			pfree((char *) writer->last_strings[col]);
			pfree(DatumGetPointer(writer->last_datums[col]));
		}
		writer->last_strings[col] = pstrdup(s);
		writer->last_datums[col] = CStringGetTextDatum(s);
		MemoryContextSwitchTo(oldcxt);
	}
	writer->values[i] = writer->last_datums[col];
	writer->isnull[i] = false;
}

static inline void
set_datum(AuditWriter *writer, LogColumn col, Datum value)
{
	int			i = writer->target.attnum[col] - 1;

	writer->values[i] = value;
	writer->isnull[i] = false;
}

static inline void
set_jsonb(AuditWriter *writer, LogColumn col, Jsonb *value)
{
	if (value != NULL)
		set_datum(writer, col, JsonbPGetDatum(value));
}

int64
audit_writer_append(AuditWriter *writer, const AuditEntry *entry)
{
	TupleDesc	tupdesc = RelationGetDescr(writer->rel);
	MemoryContext oldcxt;
	uint8		hash[AUDIT_HASH_LEN];
	bytea	   *hash_datum;
	HeapTuple	tuple;
	TupleTableSlot *slot;
	int64		id;
	Datum		addr;

	if (entry->action == NULL)
		elog(ERROR, "audit entry without an action");

	oldcxt = MemoryContextSwitchTo(writer->batchcxt);
	memset(writer->isnull, true, tupdesc->natts * sizeof(bool));

	/* The lock and the xid are in place since audit_writer_begin(). */
	id = nextval_internal(writer->target.seqid, false);
	set_datum(writer, COL_ID, Int64GetDatum(id));
	set_datum(writer, COL_LOGGED_AT,
			  TimestampTzGetDatum(entry->logged_at != 0 ? entry->logged_at :
								  GetCurrentStatementStartTimestamp()));
	set_datum(writer, COL_TXID,
			  FullTransactionIdGetDatum(GetTopFullTransactionId()));
	set_text(writer, COL_ACTOR,
			 entry->actor != NULL ? entry->actor : current_actor());
	set_text(writer, COL_DB_USER,
			 entry->db_user != NULL ? entry->db_user : session_user_name());
	if (entry->application_name != NULL)
		set_text(writer, COL_APPLICATION_NAME, entry->application_name);
	else if (application_name != NULL && application_name[0] != '\0')
		set_text(writer, COL_APPLICATION_NAME, application_name);
	if (entry->client_addr != NULL)
		set_datum(writer, COL_CLIENT_ADDR,
				  DirectFunctionCall1(inet_in, CStringGetDatum(entry->client_addr)));
	else if (session_client_addr(&addr))
		set_datum(writer, COL_CLIENT_ADDR, addr);
	set_text(writer, COL_ACTION, entry->action);
	set_text(writer, COL_TABLE_NAME, entry->table_name);
	set_jsonb(writer, COL_ROW_KEY, entry->row_key);
	set_jsonb(writer, COL_OLD_DATA, entry->old_data);
	set_jsonb(writer, COL_NEW_DATA, entry->new_data);
	set_jsonb(writer, COL_DETAILS, entry->details);

	row_hash(writer->hashctx, &writer->hashbuf, tupdesc, writer->values,
			 writer->isnull, hash);
	hash_datum = palloc(VARHDRSZ + AUDIT_HASH_LEN);
	SET_VARSIZE(hash_datum, VARHDRSZ + AUDIT_HASH_LEN);
	memcpy(VARDATA(hash_datum), hash, AUDIT_HASH_LEN);
	set_datum(writer, COL_ROW_HASH, PointerGetDatum(hash_datum));

	tuple = heap_form_tuple(tupdesc, writer->values, writer->isnull);
	MemoryContextSwitchTo(oldcxt);

	if (writer->npending == writer->nslots)
	{
		/* Slots live as long as the writer, not in the caller's context. */
		oldcxt = MemoryContextSwitchTo(writer->cxt);
		writer->slots[writer->nslots++] =
			MakeSingleTupleTableSlot(tupdesc, &TTSOpsHeapTuple);
		MemoryContextSwitchTo(oldcxt);
	}
	slot = writer->slots[writer->npending++];
	ExecStoreHeapTuple(tuple, slot, true);
	writer->pending_bytes += tuple->t_len;

	if (writer->npending == WRITER_BATCH_ROWS ||
		writer->pending_bytes >= WRITER_BATCH_BYTES)
		writer_flush(writer);

	return id;
}

void
audit_writer_end(AuditWriter *writer)
{
	int			i;

	writer_flush(writer);
	if (writer->bistate != NULL)
		FreeBulkInsertState(writer->bistate);
	for (i = 0; i < writer->nslots; i++)
		ExecDropSingleTupleTableSlot(writer->slots[i]);
	pg_cryptohash_free(writer->hashctx);
	pfree(writer->hashbuf.data);
	for (i = 0; i < NUM_LOG_COLUMNS; i++)
	{
		if (writer->last_strings[i] != NULL)
		{
			pfree((char *) writer->last_strings[i]);
			pfree(DatumGetPointer(writer->last_datums[i]));
		}
	}
	ExecCloseIndices(writer->rri);
	FreeExecutorState(writer->estate);
	MemoryContextDelete(writer->batchcxt);
	/* The lock is kept until the end of the transaction. */
	table_close(writer->rel, NoLock);
	pfree(writer->values);
	pfree(writer->isnull);
	pfree(writer);
}

int64
audit_append(const AuditEntry *entry)
{
	AuditWriter *writer = audit_writer_begin();
	int64		id = audit_writer_append(writer, entry);

	audit_writer_end(writer);
	return id;
}
