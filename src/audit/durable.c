/*-------------------------------------------------------------------------
 *
 * durable.c
 *		log_event() and durable audit events: entries committed by a
 *		dynamic background worker, independently of the caller's transaction.
 *
 * A durable event must survive the caller's ROLLBACK, error or disconnect,
 * so it cannot be written in the caller's transaction.  audit_append_durable()
 * starts a dynamic background worker (RegisterDynamicBackgroundWorker, so no
 * shared_preload_libraries entry is needed) and hands it the entry through a
 * dynamic shared memory segment:
 *
 *		header	  database and role to connect as, length of the request
 *		request   the serialised AuditEntry, its context (actor, session user,
 *				  application_name, client_addr, time) already filled in by
 *				  the caller, since the worker's own session has none of it
 *		queue	  shm_mq from the worker back to the caller
 *
 * The worker connects to the caller's database as the owner of audit_log,
 * redirects its error reports into the queue (pq_redirect_to_shm_mq, as
 * parallel workers do), appends the entry with audit_append() in a
 * transaction of its own, commits, and sends back the id ('I' message).
 * The caller waits for that reply on its latch, interruptibly and for at most
 * feature_x.durable_timeout; an error in the worker arrives as an 'E' message
 * and is raised in the caller with the worker's SQLSTATE.  Once
 * audit_append_durable() has returned, the event is committed: whatever the
 * caller does next cannot take it back.
 *
 * No free worker slot: registration is retried every 10 ms for up to
 * feature_x.durable_slot_wait, then the call fails with 53400.
 *
 * The worker touches nothing but audit_log and its sequence, so it can only
 * wait for the caller if the caller holds a lock on audit_log that blocks
 * writers (an explicit LOCK, TRUNCATE attempt, ...), or fail to find the
 * table if the caller created it; both are refused up front (55P03, 55000).
 * Locks held by other sessions are bounded by feature_x.durable_timeout.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "libpq/pqformat.h"
#include "libpq/pqmq.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "feature_x.h"
#include "rbac/rbac.h"
#include "audit.h"

/* Identifies our segments, and the parts of one. */
#define DURABLE_MAGIC 0x66784445
#define KEY_HEADER 0
#define KEY_REQUEST 1
#define KEY_QUEUE 2
#define QUEUE_SIZE 16384

/* Limits of log_event()'s arguments. */
#define MAX_ACTION_CHARS 128
#define MAX_TARGET_CHARS 1024
#define MAX_DETAILS_BYTES (1024 * 1024)

typedef struct DurableHeader
{
	Oid			database;
	Oid			role;
	Size		request_len;
} DurableHeader;

/* GUCs, in milliseconds. */
static int	durable_slot_wait = 1000;
static int	durable_timeout = 10000;

PG_FUNCTION_INFO_V1(fx_log_event);
PGDLLEXPORT void fx_durable_worker_main(Datum main_arg);

void
durable_init(void)
{
	DefineCustomIntVariable("feature_x.durable_slot_wait",
							"How long a durable audit event waits for a free background worker slot.",
							"Registration is retried every 10 ms; when no slot frees up in this time, the call fails with SQLSTATE 53400.",
							&durable_slot_wait,
							1000,
							0, 600000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("feature_x.durable_timeout",
							"How long a durable audit event waits for its background worker to commit it.",
							NULL,
							&durable_timeout,
							10000,
							1, 3600000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/* ----------------------------------------------------------------
 * Serialising an entry: each field as a 4-byte length (-1 for NULL) and
 * its bytes (strings with their terminating zero, jsonb as the whole
 * varlena), then logged_at.
 * ----------------------------------------------------------------
 */

static void
put_field(StringInfo buf, const void *data, int32 len)
{
	appendBinaryStringInfo(buf, (const char *) &len, sizeof(len));
	if (len > 0)
		appendBinaryStringInfo(buf, data, len);
}

static void
put_string(StringInfo buf, const char *s)
{
	put_field(buf, s, s == NULL ? -1 : (int32) strlen(s) + 1);
}

static void
put_jsonb(StringInfo buf, Jsonb *j)
{
	put_field(buf, j, j == NULL ? -1 : (int32) VARSIZE(j));
}

/* Next field of a request; a copy, aligned, or NULL. */
static void *
get_field(const char **cursor, const char *end)
{
	int32		len;
	void	   *copy;

	if (end - *cursor < (ptrdiff_t) sizeof(len))
		elog(ERROR, "durable audit event request is truncated");
	memcpy(&len, *cursor, sizeof(len));
	*cursor += sizeof(len);
	if (len < 0)
		return NULL;
	if (end - *cursor < len)
		elog(ERROR, "durable audit event request is truncated");
	copy = palloc(len);
	memcpy(copy, *cursor, len);
	*cursor += len;
	return copy;
}

static void
serialise_entry(StringInfo buf, const AuditEntry *entry)
{
	put_string(buf, entry->action);
	put_string(buf, entry->table_name);
	put_jsonb(buf, entry->row_key);
	put_jsonb(buf, entry->old_data);
	put_jsonb(buf, entry->new_data);
	put_jsonb(buf, entry->details);
	put_string(buf, entry->actor);
	put_string(buf, entry->db_user);
	put_string(buf, entry->application_name);
	put_string(buf, entry->client_addr);
	appendBinaryStringInfo(buf, (const char *) &entry->logged_at,
						   sizeof(entry->logged_at));
}

static void
deserialise_entry(const char *data, Size len, AuditEntry *entry)
{
	const char *cursor = data;
	const char *end = data + len;

	entry->action = get_field(&cursor, end);
	entry->table_name = get_field(&cursor, end);
	entry->row_key = get_field(&cursor, end);
	entry->old_data = get_field(&cursor, end);
	entry->new_data = get_field(&cursor, end);
	entry->details = get_field(&cursor, end);
	entry->actor = get_field(&cursor, end);
	entry->db_user = get_field(&cursor, end);
	entry->application_name = get_field(&cursor, end);
	entry->client_addr = get_field(&cursor, end);
	if (end - cursor != sizeof(entry->logged_at))
		elog(ERROR, "durable audit event request is malformed");
	memcpy(&entry->logged_at, cursor, sizeof(entry->logged_at));
}

/* ----------------------------------------------------------------
 * The caller's side
 * ----------------------------------------------------------------
 */

/* The peer address of this session as text, or NULL (Unix socket, worker). */
static char *
session_client_addr(void)
{
	LOCAL_FCINFO(fcinfo, 0);
	Datum		addr;

	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	addr = inet_client_addr(fcinfo);
	if (fcinfo->isnull)
		return NULL;
	return DatumGetCString(DirectFunctionCall1(inet_out, addr));
}

/* OID of feature_x.audit_log, or InvalidOid if the database has none. */
static Oid
log_relid(void)
{
	Oid			namespace = get_namespace_oid(FEATURE_X_SCHEMA, true);

	return OidIsValid(namespace) ? get_relname_relid("audit_log", namespace) : InvalidOid;
}

/* True if audit_log was created (or rewritten) by this transaction. */
static bool
log_is_new_here(Relation rel)
{
	return rel->rd_createSubid != InvalidSubTransactionId ||
		rel->rd_firstRelfilenodeSubid != InvalidSubTransactionId;
}

/*
 * Check that the worker will be able to write audit_log, and return its
 * owner, the role the worker connects as.  The worker runs in a transaction
 * of its own: it cannot see an audit_log this transaction created, and would
 * wait for ever for a lock this transaction holds against writers.
 */
static Oid
log_owner_for_worker(void)
{
	Oid			relid = log_relid();
	Relation	rel;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table %s.audit_log of the feature_x extension does not exist",
						FEATURE_X_SCHEMA),
				 errhint("Update the extension with ALTER EXTENSION feature_x UPDATE.")));
	rel = table_open(relid, AccessShareLock);
	if (log_is_new_here(rel))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot record a durable audit event in the transaction that created the audit log"),
				 errdetail("The background worker that commits durable events cannot see the audit log before this transaction commits.")));
	if (CheckRelationLockedByMe(rel, ShareLock, true))
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("cannot record a durable audit event while this transaction locks the audit log against writers"),
				 errdetail("The background worker that commits durable events would wait for this transaction.")));
	owner = rel->rd_rel->relowner;
	table_close(rel, AccessShareLock);
	return owner;
}

/* Milliseconds left until deadline (at least 0). */
static long
ms_until(TimestampTz deadline)
{
	TimestampTz now = GetCurrentTimestamp();

	return now >= deadline ? 0 : (long) ((deadline - now + 999) / 1000);
}

/* Sleep on our latch for at most ms, staying interruptible. */
static void
wait_a_little(long ms)
{
	int			rc = WaitLatch(MyLatch,
							   WL_LATCH_SET | WL_TIMEOUT | WL_POSTMASTER_DEATH,
							   ms, PG_WAIT_EXTENSION);

	if (rc & WL_POSTMASTER_DEATH)
		ereport(FATAL,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("terminating connection due to unexpected postmaster exit")));
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/* Register the worker, waiting for a free slot up to durable_slot_wait. */
static BackgroundWorkerHandle *
start_worker(dsm_segment *seg)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   durable_slot_wait);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "feature_x");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "fx_durable_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN,
			 "feature_x durable audit event for PID %d", MyProcPid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "feature_x durable audit event");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	while (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		long		left = ms_until(deadline);

		if (left == 0)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("could not start a background worker for a durable audit event"),
					 errdetail("No background worker slot became free within feature_x.durable_slot_wait (%d ms); max_worker_processes is %d.",
							   durable_slot_wait, max_worker_processes),
					 errhint("Raise max_worker_processes, or retry.")));
		wait_a_little(Min(left, 10));
	}
	return handle;
}

/* Wait for the worker's reply: the id, or its error raised here. */
static int64
await_reply(shm_mq_handle *mqh)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   durable_timeout);

	for (;;)
	{
		Size		nbytes;
		void	   *data;
		shm_mq_result res = shm_mq_receive(mqh, &nbytes, &data, true);
		long		left;

		if (res == SHM_MQ_SUCCESS)
		{
			StringInfoData msg;
			char		msgtype;

			initStringInfo(&msg);
			appendBinaryStringInfo(&msg, data, nbytes);
			msgtype = pq_getmsgbyte(&msg);
			if (msgtype == 'I')
			{
				int64		id = pq_getmsgint64(&msg);

				pq_getmsgend(&msg);
				return id;
			}
			if (msgtype == 'E')
			{
				ErrorData	edata;
				const char *where = "background worker of a durable audit event";

				pq_parse_errornotice(&msg, &edata);
				edata.elevel = ERROR;
				edata.context = edata.context ?
					psprintf("%s\n%s", edata.context, where) : pstrdup(where);
				ThrowErrorData(&edata);
			}
			/* Notices and other protocol messages are of no interest. */
			pfree(msg.data);
			continue;
		}
		if (res == SHM_MQ_DETACHED)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("the background worker of a durable audit event exited without reporting"),
					 errdetail("The event may or may not have been recorded."),
					 errhint("The server log may say why the worker failed.")));

		left = ms_until(deadline);
		if (left == 0)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("timed out waiting for the background worker of a durable audit event"),
					 errdetail("It did not commit the event within feature_x.durable_timeout (%d ms); it may still do so.",
							   durable_timeout)));
		wait_a_little(left);
	}
}

int64
audit_append_durable(const AuditEntry *entry)
{
	AuditEntry	full = *entry;
	StringInfoData request;
	shm_toc_estimator estimator;
	Size		size;
	dsm_segment *seg;
	shm_toc    *toc;
	DurableHeader *header;
	char	   *request_copy;
	shm_mq	   *mq;
	shm_mq_handle *mqh;
	BackgroundWorkerHandle *handle;
	Oid			role;
	int64		id;

	if (RecoveryInProgress() || XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot record a durable audit event in a read-only transaction")));
	if (entry->action == NULL)
		elog(ERROR, "audit entry without an action");

	/* The worker's session is not the caller's: pass the context along. */
	if (full.actor == NULL)
		full.actor = current_actor();
	if (full.db_user == NULL)
		full.db_user = GetUserNameFromId(GetSessionUserId(), false);
	if (full.application_name == NULL &&
		application_name != NULL && application_name[0] != '\0')
		full.application_name = application_name;
	if (full.client_addr == NULL)
		full.client_addr = session_client_addr();
	if (full.logged_at == 0)
		full.logged_at = GetCurrentStatementStartTimestamp();

	role = log_owner_for_worker();
	initStringInfo(&request);
	serialise_entry(&request, &full);

	shm_toc_initialize_estimator(&estimator);
	shm_toc_estimate_chunk(&estimator, sizeof(DurableHeader));
	shm_toc_estimate_chunk(&estimator, request.len);
	shm_toc_estimate_chunk(&estimator, QUEUE_SIZE);
	shm_toc_estimate_keys(&estimator, 3);
	size = shm_toc_estimate(&estimator);

	seg = dsm_create(size, 0);
	toc = shm_toc_create(DURABLE_MAGIC, dsm_segment_address(seg), size);
	header = shm_toc_allocate(toc, sizeof(DurableHeader));
	header->database = MyDatabaseId;
	header->role = role;
	header->request_len = request.len;
	shm_toc_insert(toc, KEY_HEADER, header);
	request_copy = shm_toc_allocate(toc, request.len);
	memcpy(request_copy, request.data, request.len);
	shm_toc_insert(toc, KEY_REQUEST, request_copy);
	mq = shm_mq_create(shm_toc_allocate(toc, QUEUE_SIZE), QUEUE_SIZE);
	shm_toc_insert(toc, KEY_QUEUE, mq);
	shm_mq_set_receiver(mq, MyProc);
	mqh = shm_mq_attach(mq, seg, NULL);

	handle = start_worker(seg);
	shm_mq_set_handle(mqh, handle);
	id = await_reply(mqh);

	dsm_detach(seg);
	pfree(handle);
	pfree(request.data);
	return id;
}

/*
 * Record a migration that failed (and was rolled back) as a durable event.
 * Called by the ledger with the error already caught and its subtransaction
 * rolled back.  A failure to record must not hide the migration's own error,
 * so it is reported as a WARNING; this runs in a subtransaction of its own so
 * that such a failure is cleaned up.  Nothing is recorded while the database
 * has no audit log (an extension not yet updated to 1.3), or one that only
 * this transaction can see (created in it, as by a test that installs the
 * extension and migrates in one transaction).
 */
void
audit_record_migration_failure(const char *version, const char *name,
							   const char *direction, int stmtno,
							   const ErrorData *edata)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Oid			relid = log_relid();
	Relation	rel;
	bool		new_here;

	/* No audit log yet, or none that anyone else can see: nothing to do. */
	if (!OidIsValid(relid))
		return;
	rel = table_open(relid, AccessShareLock);
	new_here = log_is_new_here(rel);
	table_close(rel, AccessShareLock);
	if (new_here)
		return;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(context);
	PG_TRY();
	{
		AuditEntry	entry;
		StringInfoData details;

		initStringInfo(&details);
		appendStringInfoString(&details, "{\"version\": ");
		escape_json(&details, version);
		appendStringInfoString(&details, ", \"name\": ");
		escape_json(&details, name);
		appendStringInfoString(&details, ", \"direction\": ");
		escape_json(&details, direction);
		appendStringInfo(&details, ", \"statement\": %d, \"sqlstate\": \"%s\", \"message\": ",
						 stmtno, unpack_sql_state(edata->sqlerrcode));
		escape_json(&details, edata->message ? edata->message : "");
		appendStringInfoChar(&details, '}');

		memset(&entry, 0, sizeof(entry));
		entry.action = "feature_x.migration_failed";
		entry.table_name = version;
		entry.details = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
														   CStringGetDatum(details.data)));
		(void) audit_append_durable(&entry);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *failure;

		MemoryContextSwitchTo(context);
		failure = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
		ereport(WARNING,
				(errcode(failure->sqlerrcode),
				 errmsg("could not record the failed migration \"%s\" in the audit log: %s",
						version, failure->message)));
	}
	PG_END_TRY();
	MemoryContextSwitchTo(context);
	CurrentResourceOwner = owner;
}

/* ----------------------------------------------------------------
 * The worker
 * ----------------------------------------------------------------
 */

void
fx_durable_worker_main(Datum main_arg)
{
	dsm_segment *seg;
	shm_toc    *toc;
	DurableHeader *header;
	char	   *request;
	shm_mq	   *mq;
	shm_mq_handle *mqh;
	AuditEntry	entry;
	int64		id;
	StringInfoData reply;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	CurrentResourceOwner = ResourceOwnerCreate(NULL, "feature_x durable audit event");
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not map the shared memory of a durable audit event"),
				 errdetail("The backend that asked for the event has gone.")));
	toc = shm_toc_attach(DURABLE_MAGIC, dsm_segment_address(seg));
	if (toc == NULL)
		elog(ERROR, "bad magic number in the shared memory of a durable audit event");
	header = shm_toc_lookup(toc, KEY_HEADER, false);
	request = shm_toc_lookup(toc, KEY_REQUEST, false);
	mq = shm_toc_lookup(toc, KEY_QUEUE, false);
	shm_mq_set_sender(mq, MyProc);
	mqh = shm_mq_attach(mq, seg, NULL);

	/* From here on, errors reach the caller. */
	pq_redirect_to_shm_mq(seg, mqh);

	BackgroundWorkerInitializeConnectionByOid(header->database, header->role, 0);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	pgstat_report_activity(STATE_RUNNING, "feature_x durable audit event");
	deserialise_entry(request, header->request_len, &entry);
	PushActiveSnapshot(GetTransactionSnapshot());
	id = audit_append(&entry);
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	pq_beginmessage(&reply, 'I');
	pq_sendint64(&reply, id);
	pq_endmessage(&reply);
}

/* ----------------------------------------------------------------
 * feature_x.log_event(action text, target text DEFAULT NULL,
 *					   details jsonb DEFAULT '{}',
 *					   durable boolean DEFAULT false) RETURNS bigint
 * ----------------------------------------------------------------
 */

/* Actions feature_x writes itself, which an application must not forge. */
static bool
reserved_action(const char *action)
{
	static const char *const own_actions[] = {
		"INSERT", "UPDATE", "DELETE", "TRUNCATE", "ENABLE_AUDIT", "DISABLE_AUDIT"
	};
	int			i;

	for (i = 0; i < lengthof(own_actions); i++)
		if (pg_strcasecmp(action, own_actions[i]) == 0)
			return true;
	return pg_strncasecmp(action, "feature_x.", strlen("feature_x.")) == 0;
}

static void
validate_action(const char *action)
{
	const char *p;
	bool		blank = true;

	for (p = action; *p; p++)
	{
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("action must not contain control characters")));
		if (!isspace((unsigned char) *p))
			blank = false;
	}
	if (blank)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("action must not be empty or blank")));
	if (pg_mbstrlen(action) > MAX_ACTION_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("action is too long"),
				 errdetail("An action has at most %d characters.", MAX_ACTION_CHARS)));
	if (reserved_action(action))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("action \"%s\" is reserved for entries written by feature_x", action),
				 errdetail("INSERT, UPDATE, DELETE, TRUNCATE, ENABLE_AUDIT, DISABLE_AUDIT and actions beginning with \"feature_x.\" are written only by feature_x itself."),
				 errhint("Choose another name for the application's event.")));
}

Datum
fx_log_event(PG_FUNCTION_ARGS)
{
	AuditEntry	entry;
	char	   *action;
	char	   *target = NULL;
	Jsonb	   *details;
	bool		durable;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("action must not be null")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("durable must not be null")));
	action = text_to_cstring(PG_GETARG_TEXT_PP(0));
	validate_action(action);

	if (!PG_ARGISNULL(1))
	{
		target = text_to_cstring(PG_GETARG_TEXT_PP(1));
		if (pg_mbstrlen(target) > MAX_TARGET_CHARS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("target is too long"),
					 errdetail("A target has at most %d characters.", MAX_TARGET_CHARS)));
	}

	if (PG_ARGISNULL(2))
		details = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	else
	{
		details = PG_GETARG_JSONB_P(2);
		if (!JB_ROOT_IS_OBJECT(details))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("details must be a JSON object")));
		if (VARSIZE(details) > MAX_DETAILS_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("details are too large"),
					 errdetail("The details of an event take at most %d bytes as jsonb.",
							   MAX_DETAILS_BYTES)));
	}
	durable = PG_GETARG_BOOL(3);

	if (RecoveryInProgress() || XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot execute log_event() in a read-only transaction")));

	memset(&entry, 0, sizeof(entry));
	entry.action = action;
	entry.table_name = target;
	entry.details = details;
	PG_RETURN_INT64(durable ? audit_append_durable(&entry) : audit_append(&entry));
}
