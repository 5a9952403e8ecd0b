/*-------------------------------------------------------------------------
 *
 * ledger.c
 *		The migration ledger: register, migrate, rollback, baseline and
 *		require_version.
 *
 * Rights.  The SQL functions here are SECURITY INVOKER: migration scripts run
 * with the rights of the caller (normally a member of feature_x_deployer that
 * owns the application's schema), never with the extension owner's, so being
 * allowed to deploy does not mean being allowed to run arbitrary DDL.  Only
 * the reads and writes of feature_x.migrations itself are done as the
 * table's owner, between owner_access_enter() and owner_access_exit(), with
 * search_path pinned to pg_catalog (see owner_access.c); that is why nobody
 * needs (or gets) direct write access to the ledger table.
 *
 * Atomicity.  Everything happens in the caller's transaction.  A failing
 * migration raises an error, which aborts that transaction and with it every
 * migration already applied by the same call: the database is unchanged.
 *
 * Concurrency.  Functions that change the ledger first take a transaction-
 * scoped advisory lock (the "deploy lock"), so concurrent deployers queue up;
 * the second one re-reads the ledger after the first has committed and finds
 * nothing left to apply.  A session-level lock would outlive the transaction
 * behind a transaction-pooling PgBouncer, so none is used.  The wait for the
 * deploy lock honours statement_timeout and the session's lock_timeout but
 * not feature_x.lock_timeout, which applies only to the migrations' own SQL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <limits.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/resowner.h"

#include "audit/audit.h"
#include "compat.h"
#include "feature_x.h"
#include "ledger.h"
#include "schema/schema.h"

/*
 * The deploy lock, as pg_advisory_xact_lock(1719140352, 1) would take it:
 * classid 0x66780000 ("fx"), objid 1.  Documented so DBAs can find it in
 * pg_locks.
 */
#define DEPLOY_LOCK_CLASSID 0x66780000
#define DEPLOY_LOCK_OBJID 1

#define STATE_PENDING "pending"
#define STATE_APPLIED "applied"
#define STATE_ROLLED_BACK "rolled_back"

/* GUC feature_x.lock_timeout, in milliseconds; 0 keeps the session's. */
static int	ledger_lock_timeout = 5000;

/* True while a migration script runs, to refuse re-entrant ledger calls. */
static bool ledger_script_running = false;

/* One row of the ledger as the runner needs it. */
typedef struct Migration
{
	char	   *version;
	char	   *name;
	char	   *script;			/* up or down script, as the caller asked */
	char	   *checksum;
	char	   *state;
	bool		baselined;
	StringInfoData sort_key;
} Migration;

PG_FUNCTION_INFO_V1(fx_register_migration);
PG_FUNCTION_INFO_V1(fx_migrate);
PG_FUNCTION_INFO_V1(fx_rollback);
PG_FUNCTION_INFO_V1(fx_baseline);
PG_FUNCTION_INFO_V1(fx_require_version);

void
ledger_init(void)
{
	DefineCustomIntVariable("feature_x.lock_timeout",
							"lock_timeout for the SQL of each migration run by migrate() and rollback().",
							"A migration waiting for a lock on a busy table blocks every later query on that table; a short timeout makes it fail fast instead. 0 keeps the session's lock_timeout.",
							&ledger_lock_timeout,
							5000,
							0, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/* ----------------------------------------------------------------
 * Argument helpers
 * ----------------------------------------------------------------
 */

/* A text argument that must be present, as a C string. */
static char *
required_text_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", argname)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* Refuse strings that are empty or nothing but white space. */
static void
require_nonblank(const char *value, const char *argname)
{
	const char *p;

	for (p = value; *p; p++)
		if (!isspace((unsigned char) *p))
			return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must not be empty", argname)));
}

static char *
required_version_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	char	   *version = required_text_arg(fcinfo, argno, argname);

	ledger_validate_version(version);
	return version;
}

static void
refuse_inside_migration(const char *function)
{
	if (ledger_script_running)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s() cannot be called from inside a migration", function),
				 errdetail("A migration script called a function that changes the migration ledger.")));
}

/* ----------------------------------------------------------------
 * Ledger access
 * ----------------------------------------------------------------
 */

#define LEDGER_TABLE "migrations"

/* Queue behind any other deployer until our transaction ends. */
void
acquire_deploy_lock(void)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, DEPLOY_LOCK_CLASSID,
						 DEPLOY_LOCK_OBJID, 2);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

static char *
session_user_name(void)
{
	return GetUserNameFromId(GetSessionUserId(), false);
}

/*
 * For the DDL guard (feature_x.h): true while migrate() or rollback() runs
 * the statements of a script.
 */
bool
ledger_migration_running(void)
{
	return ledger_script_running;
}

/* Run a read or write of the ledger, as its owner (owner_access_enter()). */
static void
ledger_exec(const char *sql, int nargs, Oid *argtypes, Datum *values,
			const char *nulls, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls,
										   false, 0);

	if (rc != expected)
		elog(ERROR, "migration ledger query failed: %s",
			 SPI_result_code_string(rc));
}

static char *
text_column(HeapTuple tuple, TupleDesc tupdesc, int attnum)
{
	return SPI_getvalue(tuple, tupdesc, attnum);
}

static bool
bool_column(HeapTuple tuple, TupleDesc tupdesc, int attnum)
{
	bool		isnull;
	Datum		value = SPI_getbinval(tuple, tupdesc, attnum, &isnull);

	return !isnull && DatumGetBool(value);
}

/*
 * Load ledger rows with the columns version, name, script, checksum, state,
 * baselined (in that order) into an array, with their sort keys.  Caller is
 * inside owner_access_enter().
 */
static Migration *
ledger_load(const char *sql, int nargs, Oid *argtypes, Datum *values,
			int *count)
{
	Migration  *rows;
	uint64		i;

	ledger_exec(sql, nargs, argtypes, values, NULL, SPI_OK_SELECT);

	*count = (int) SPI_processed;
	rows = palloc0(sizeof(Migration) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;

		rows[i].version = text_column(tuple, tupdesc, 1);
		rows[i].name = text_column(tuple, tupdesc, 2);
		rows[i].script = text_column(tuple, tupdesc, 3);
		rows[i].checksum = text_column(tuple, tupdesc, 4);
		rows[i].state = text_column(tuple, tupdesc, 5);
		rows[i].baselined = bool_column(tuple, tupdesc, 6);
		initStringInfo(&rows[i].sort_key);
		ledger_version_sort_key(rows[i].version, &rows[i].sort_key);
	}
	return rows;
}

static int
migration_cmp(const void *a, const void *b)
{
	return ledger_sort_key_cmp(&((const Migration *) a)->sort_key,
							   &((const Migration *) b)->sort_key);
}

static int
migration_cmp_desc(const void *a, const void *b)
{
	return -migration_cmp(a, b);
}

/* Error unless version is in the ledger; caller is in owner_access_enter(). */
static void
require_registered(const char *version)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(version)};

	ledger_exec("SELECT 1 FROM feature_x.migrations WHERE version = $1",
				1, argtypes, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("migration \"%s\" is not registered", version),
				 errhint("Register it with feature_x.register_migration(), or pick a version listed by feature_x.migration_status().")));
}

/*
 * A REPEATABLE READ or SERIALIZABLE caller whose snapshot predates another
 * deployer's commit cannot see a version that deployer registered, and its
 * INSERT ... ON CONFLICT DO NOTHING then either fails with a serialization
 * error (raised by PostgreSQL) or inserts nothing.  Either way the caller
 * must retry, and it is told so with the SQLSTATE retry loops look for.
 */
static void
require_inserted(const char *version)
{
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not register migration \"%s\" due to a concurrent deploy", version),
				 errdetail("Another transaction registered the same version after this transaction's snapshot was taken."),
				 errhint("Retry the transaction.")));
}

/*
 * Highest version recorded by baseline(), or NULL.  Caller is inside
 * owner_access_enter().
 */
static char *
baseline_version(void)
{
	Migration  *rows;
	int			count;
	int			i;
	Migration  *highest = NULL;

	rows = ledger_load("SELECT version, name, NULL, checksum, state, baselined"
					   "  FROM feature_x.migrations WHERE baselined",
					   0, NULL, NULL, &count);
	for (i = 0; i < count; i++)
		if (highest == NULL || migration_cmp(&rows[i], highest) > 0)
			highest = &rows[i];
	return highest ? highest->version : NULL;
}

/* ----------------------------------------------------------------
 * Running scripts
 * ----------------------------------------------------------------
 */

/*
 * Rethrow an error raised by statement number stmtno of a migration script,
 * naming the migration and placing the error position in the whole script.
 * The SQLSTATE, detail and hint are the original ones.  The script's
 * subtransaction is rolled back first, so that the failure can be recorded
 * in the audit log (a durable event, which outlives the caller's transaction)
 * from a clean state.
 */
static void
rethrow_script_error(MemoryContext context, ResourceOwner owner,
					 Migration *migration, const char *direction,
					 ScriptStatement *statement, int stmtno)
{
	ErrorData  *edata;
	char	   *where;

	MemoryContextSwitchTo(context);
	edata = CopyErrorData();
	FlushErrorState();

	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(context);
	CurrentResourceOwner = owner;
	audit_record_migration_failure(migration->version, migration->name,
								   direction, stmtno, edata);

	edata->message = psprintf("migration \"%s\" failed: %s",
							  migration->version, edata->message);
	if (edata->internalpos > 0)
	{
		edata->internalpos += pg_mbstrlen_with_len(migration->script,
												   statement->location);
		edata->internalquery = ledger_script_excerpt(migration->script,
													 &edata->internalpos);
	}
	where = psprintf("statement %d of the %s script of migration \"%s\" (%s)",
					 stmtno, direction, migration->version, migration->name);
	edata->context = edata->context ?
		psprintf("%s\n%s", edata->context, where) : where;

	ReThrowError(edata);
}

/*
 * Run the statements of one migration script as the caller, with
 * feature_x.lock_timeout in force.  Settings the script changes (SET
 * search_path, SET ROLE, ...) last until the end of the script, so one
 * migration cannot leak them into the next or into the caller's session.
 * The script runs in a subtransaction, which a failure rolls back before the
 * error is rethrown (see rethrow_script_error()).
 * Returns the elapsed time in milliseconds.
 */
static double
run_script(Migration *migration, const char *direction)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	List	   *statements;
	ListCell   *lc;
	int			nestlevel;
	instr_time	start;
	instr_time	duration;

	statements = ledger_split_script(migration->script, migration->version,
									 direction);

	INSTR_TIME_SET_CURRENT(start);
	nestlevel = NewGUCNestLevel();
	if (ledger_lock_timeout > 0)
	{
		char		value[32];

		snprintf(value, sizeof(value), "%d", ledger_lock_timeout);
		(void) set_config_option("lock_timeout", value,
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}

	ledger_script_running = true;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(context);
	foreach(lc, statements)
	{
		ScriptStatement *statement = lfirst(lc);

		PG_TRY();
		{
			int			rc = SPI_execute(statement->sql, false, 0);

			if (rc < 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("statement cannot run inside a migration: %s",
								SPI_result_code_string(rc))));
		}
		PG_CATCH();
		{
			ledger_script_running = false;
			rethrow_script_error(context, owner, migration, direction,
								 statement, foreach_current_index(lc) + 1);
		}
		PG_END_TRY();
	}
	ReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(context);
	CurrentResourceOwner = owner;
	ledger_script_running = false;

	AtEOXact_GUC(false, nestlevel);

	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	return INSTR_TIME_GET_MILLISEC(duration);
}

/* The stored script must still hash to the stored checksum. */
static void
verify_checksum(Migration *migration)
{
	char	   *actual = ledger_checksum(migration->script);

	if (migration->checksum == NULL || strcmp(actual, migration->checksum) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("migration \"%s\" was changed in the ledger after it was registered",
						migration->version),
				 errdetail("Its recorded checksum is %s but its stored script hashes to %s.",
						   migration->checksum ? migration->checksum : "missing",
						   actual),
				 errhint("Register the intended script again with feature_x.register_migration().")));
}

static void
put_result_row(ReturnSetInfo *rsinfo, Migration *migration, double duration_ms)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = CStringGetTextDatum(migration->version);
	values[1] = CStringGetTextDatum(migration->name);
	values[2] = Float8GetDatum(duration_ms);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* How migrate() and rollback() differ when running migrations. */
typedef struct Direction
{
	const char *script;			/* "up" or "down" */
	const char *verb;			/* in progress NOTICEs */
	bool		verify_checksum;	/* only up scripts have one */
	/* Records one migration: $1 version, $2 duration in ms, $3 session user. */
	const char *record_sql;
} Direction;

static const Direction direction_up = {
	"up", "applied", true,
	"UPDATE feature_x.migrations"
	"   SET state = 'applied', applied_at = pg_catalog.clock_timestamp(),"
	"       applied_by = $3, duration_ms = $2"
	" WHERE version = $1"
};

static const Direction direction_down = {
	"down", "rolled back", false,
	"UPDATE feature_x.migrations"
	"   SET state = 'rolled_back', rolled_back_at = pg_catalog.clock_timestamp(),"
	"       rolled_back_by = $3"
	" WHERE version = $1"
};

/*
 * Run the scripts of rows[0 .. count - 1] in order, recording each in the
 * ledger, returning it as a result row and reporting it as a NOTICE.  The
 * caller is connected to SPI and holds the deploy lock.
 */
static void
run_migrations(ReturnSetInfo *rsinfo, Migration *rows, int count,
			   const Direction *direction)
{
	OwnerAccess access;
	SPIPlanPtr	record;
	Oid			argtypes[3] = {TEXTOID, FLOAT8OID, TEXTOID};
	Datum		values[3];
	int			i;

	owner_access_enter(&access, LEDGER_TABLE);
	record = SPI_prepare(direction->record_sql, 3, argtypes);
	if (record == NULL)
		elog(ERROR, "could not prepare ledger update: %s",
			 SPI_result_code_string(SPI_result));
	owner_access_exit(&access);

	values[2] = CStringGetTextDatum(session_user_name());
	for (i = 0; i < count; i++)
	{
		double		duration_ms;

		if (direction->verify_checksum)
			verify_checksum(&rows[i]);
		duration_ms = run_script(&rows[i], direction->script);

		values[0] = CStringGetTextDatum(rows[i].version);
		values[1] = Float8GetDatum(duration_ms);
		owner_access_enter(&access, LEDGER_TABLE);
		if (SPI_execute_plan(record, values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not record migration \"%s\" as %s",
				 rows[i].version, direction->verb);
		owner_access_exit(&access);

		put_result_row(rsinfo, &rows[i], duration_ms);
		ereport(NOTICE,
				(errmsg("%s %d/%d %s (%.1f ms)",
						direction->verb, i + 1, count, rows[i].version, duration_ms)));
	}
}

/* ----------------------------------------------------------------
 * SQL-callable functions
 * ----------------------------------------------------------------
 */

/*
 * feature_x.register_migration(version text, name text, up_sql text,
 *								 down_sql text DEFAULT NULL) RETURNS text
 */
Datum
fx_register_migration(PG_FUNCTION_ARGS)
{
	char	   *version = required_version_arg(fcinfo, 0, "version");
	char	   *name = required_text_arg(fcinfo, 1, "name");
	char	   *up_sql = required_text_arg(fcinfo, 2, "up_sql");
	char	   *down_sql = PG_ARGISNULL(3) ? NULL :
		text_to_cstring(PG_GETARG_TEXT_PP(3));
	char	   *checksum;
	char	   *baseline;
	OwnerAccess access;
	Oid			argtypes[6] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[6];
	char		nulls[6];

	memset(nulls, ' ', sizeof(nulls));
	require_nonblank(name, "name");
	require_nonblank(up_sql, "up_sql");
	if (down_sql != NULL)
		require_nonblank(down_sql, "down_sql");
	refuse_inside_migration("register_migration");

	up_sql = ledger_normalize_script(up_sql);
	(void) ledger_split_script(up_sql, version, "up");
	if (down_sql != NULL)
	{
		down_sql = ledger_normalize_script(down_sql);
		(void) ledger_split_script(down_sql, version, "down");
	}
	checksum = ledger_checksum(up_sql);

	acquire_deploy_lock();
	SPI_connect();
	owner_access_enter(&access, LEDGER_TABLE);

	values[0] = CStringGetTextDatum(version);
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(up_sql);
	values[3] = down_sql ? CStringGetTextDatum(down_sql) : (Datum) 0;
	nulls[3] = down_sql ? ' ' : 'n';
	values[4] = CStringGetTextDatum(checksum);
	values[5] = CStringGetTextDatum(session_user_name());

	ledger_exec("SELECT state, checksum FROM feature_x.migrations"
				" WHERE version = $1 FOR UPDATE",
				1, argtypes, values, nulls, SPI_OK_SELECT);

	if (SPI_processed > 0)
	{
		char	   *state = text_column(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		char	   *old_checksum = text_column(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

		if (old_checksum != NULL && strcmp(old_checksum, checksum) == 0)
		{
			/* Same script: only what the checksum does not cover may change. */
			ledger_exec("UPDATE feature_x.migrations SET name = $2, down_sql = $4"
						" WHERE version = $1"
						"   AND (name IS DISTINCT FROM $2 OR down_sql IS DISTINCT FROM $4)",
						4, argtypes, values, nulls, SPI_OK_UPDATE);
		}
		else if (strcmp(state, STATE_APPLIED) == 0 && old_checksum != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("migration \"%s\" is already applied and cannot be changed", version),
					 errdetail("It was applied with checksum %s; the script now registered has checksum %s.",
							   old_checksum, checksum),
					 errhint("Applied migrations are immutable: add a new migration that makes the change.")));
		else
		{
			/*
			 * A pending or rolled-back migration takes the new text; so does
			 * one recorded by baseline() without a script.
			 */
			ledger_exec("UPDATE feature_x.migrations"
						"   SET name = $2, up_sql = $3, down_sql = $4, checksum = $5,"
						"       registered_at = pg_catalog.now()"
						" WHERE version = $1",
						5, argtypes, values, nulls, SPI_OK_UPDATE);
		}
	}
	else if ((baseline = baseline_version()) != NULL &&
			 ledger_version_cmp(version, baseline) <= 0)
	{
		/* The database already contains everything up to its baseline. */
		ledger_exec("INSERT INTO feature_x.migrations"
					"  (version, name, up_sql, down_sql, checksum, state, baselined,"
					"   applied_at, applied_by)"
					" VALUES ($1, $2, $3, $4, $5, 'applied', true,"
					"         pg_catalog.clock_timestamp(), $6)"
					" ON CONFLICT (version) DO NOTHING",
					6, argtypes, values, nulls, SPI_OK_INSERT);
		require_inserted(version);
	}
	else
	{
		ledger_exec("INSERT INTO feature_x.migrations"
					"  (version, name, up_sql, down_sql, checksum)"
					" VALUES ($1, $2, $3, $4, $5)"
					" ON CONFLICT (version) DO NOTHING",
					5, argtypes, values, nulls, SPI_OK_INSERT);
		require_inserted(version);
	}

	owner_access_exit(&access);
	SPI_finish();

	PG_RETURN_TEXT_P(cstring_to_text(checksum));
}

/*
 * feature_x.migrate(target text DEFAULT NULL)
 *		RETURNS TABLE(version text, name text, duration_ms double precision)
 */
Datum
fx_migrate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *target = PG_ARGISNULL(0) ? NULL :
		required_version_arg(fcinfo, 0, "target");
	OwnerAccess access;
	Migration  *rows;
	int			count;

	refuse_inside_migration("migrate");
	InitMaterializedSRF(fcinfo, 0);

	acquire_deploy_lock();
	SPI_connect();
	owner_access_enter(&access, LEDGER_TABLE);
	if (target != NULL)
		require_registered(target);

	/*
	 * Rolled-back migrations count as pending again.  FOR UPDATE makes a
	 * REPEATABLE READ caller that raced another deployer fail with a
	 * serialization error before any script runs.
	 */
	rows = ledger_load("SELECT version, name, up_sql, checksum, state, baselined"
					   "  FROM feature_x.migrations WHERE state <> 'applied'"
					   "   FOR UPDATE",
					   0, NULL, NULL, &count);
	owner_access_exit(&access);

	qsort(rows, count, sizeof(Migration), migration_cmp);
	if (target != NULL)
	{
		StringInfoData target_key;

		initStringInfo(&target_key);
		ledger_version_sort_key(target, &target_key);
		while (count > 0 &&
			   ledger_sort_key_cmp(&rows[count - 1].sort_key, &target_key) > 0)
			count--;
	}
	run_migrations(rsinfo, rows, count, &direction_up);
	if (count > 0)
		(void) schema_record_state(SCHEMA_STATE_MIGRATE);

	SPI_finish();
	return (Datum) 0;
}

/*
 * feature_x.rollback(target text)
 *		RETURNS TABLE(version text, name text, duration_ms double precision)
 */
Datum
fx_rollback(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *target = required_version_arg(fcinfo, 0, "target");
	OwnerAccess access;
	Migration  *rows;
	int			count;
	int			i;
	StringInfoData target_key;
	StringInfoData missing;

	refuse_inside_migration("rollback");
	InitMaterializedSRF(fcinfo, 0);

	acquire_deploy_lock();
	SPI_connect();
	owner_access_enter(&access, LEDGER_TABLE);
	require_registered(target);
	rows = ledger_load("SELECT version, name, down_sql, checksum, state, baselined"
					   "  FROM feature_x.migrations WHERE state = 'applied'"
					   "   FOR UPDATE",
					   0, NULL, NULL, &count);
	owner_access_exit(&access);

	/* Newest first; keep only what lies above the target. */
	qsort(rows, count, sizeof(Migration), migration_cmp_desc);
	initStringInfo(&target_key);
	ledger_version_sort_key(target, &target_key);
	while (count > 0 &&
		   ledger_sort_key_cmp(&rows[count - 1].sort_key, &target_key) <= 0)
		count--;

	/* All or nothing: refuse before running anything. */
	initStringInfo(&missing);
	for (i = 0; i < count; i++)
		if (rows[i].script == NULL)
			appendStringInfo(&missing, "%s\"%s\"", missing.len ? ", " : "",
							 rows[i].version);
	if (missing.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot roll back to \"%s\": some migrations above it have no down script", target),
				 errdetail("Migrations without a down script: %s.", missing.data),
				 errhint("Register them again with a down_sql argument, or add a new migration that reverts the change.")));

	run_migrations(rsinfo, rows, count, &direction_down);
	if (count > 0)
		(void) schema_record_state(SCHEMA_STATE_ROLLBACK);

	SPI_finish();
	return (Datum) 0;
}

/*
 * feature_x.baseline(version text, name text DEFAULT 'baseline') RETURNS void
 *
 * Records that the database already contains everything up to version:
 * registered migrations up to it are marked applied without running, and
 * so are ones registered later at or below it.
 */
Datum
fx_baseline(PG_FUNCTION_ARGS)
{
	char	   *version = required_version_arg(fcinfo, 0, "version");
	char	   *name = required_text_arg(fcinfo, 1, "name");
	OwnerAccess access;
	Migration  *rows;
	int			count;
	int			i;
	StringInfoData version_key;
	bool		registered = false;
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];

	require_nonblank(name, "name");
	refuse_inside_migration("baseline");

	acquire_deploy_lock();
	SPI_connect();
	owner_access_enter(&access, LEDGER_TABLE);

	ledger_exec("SELECT count(*) FROM feature_x.migrations WHERE state <> 'pending'",
				0, NULL, NULL, NULL, SPI_OK_SELECT);
	if (strcmp(text_column(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "0") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot baseline a database whose ledger already has applied migrations"),
				 errdetail("%s migrations are applied or rolled back.",
						   text_column(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("baseline() only records the starting point of a database adopted into feature_x; use migrate() or rollback() from here.")));

	rows = ledger_load("SELECT version, name, NULL, checksum, state, baselined"
					   "  FROM feature_x.migrations FOR UPDATE",
					   0, NULL, NULL, &count);

	initStringInfo(&version_key);
	ledger_version_sort_key(version, &version_key);
	values[1] = CStringGetTextDatum(session_user_name());
	values[2] = CStringGetTextDatum(name);
	for (i = 0; i < count; i++)
	{
		int			cmp = ledger_sort_key_cmp(&rows[i].sort_key, &version_key);

		if (cmp > 0)
			continue;
		registered |= (cmp == 0);
		values[0] = CStringGetTextDatum(rows[i].version);
		ledger_exec("UPDATE feature_x.migrations"
					"   SET state = 'applied', baselined = true,"
					"       applied_at = pg_catalog.clock_timestamp(), applied_by = $2"
					" WHERE version = $1",
					2, argtypes, values, NULL, SPI_OK_UPDATE);
	}

	if (!registered)
	{
		values[0] = CStringGetTextDatum(version);
		ledger_exec("INSERT INTO feature_x.migrations"
					"  (version, name, state, baselined, applied_at, applied_by)"
					" VALUES ($1, $3, 'applied', true, pg_catalog.clock_timestamp(), $2)",
					3, argtypes, values, NULL, SPI_OK_INSERT);
	}

	owner_access_exit(&access);
	(void) schema_record_state(SCHEMA_STATE_BASELINE);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * feature_x.require_version(version text) RETURNS void
 *
 * Succeeds when the database's current version (highest applied) is at or
 * above version and version itself, if registered, is applied.
 */
Datum
fx_require_version(PG_FUNCTION_ARGS)
{
	char	   *version = required_version_arg(fcinfo, 0, "version");
	OwnerAccess access;
	Migration  *rows;
	Migration  *current = NULL;
	Migration  *required = NULL;
	int			count;
	int			i;

	SPI_connect();
	owner_access_enter(&access, LEDGER_TABLE);
	rows = ledger_load("SELECT version, name, NULL, checksum, state, baselined"
					   "  FROM feature_x.migrations",
					   0, NULL, NULL, &count);
	owner_access_exit(&access);

	for (i = 0; i < count; i++)
	{
		if (strcmp(rows[i].version, version) == 0)
			required = &rows[i];
		if (strcmp(rows[i].state, STATE_APPLIED) == 0 &&
			(current == NULL || migration_cmp(&rows[i], current) > 0))
			current = &rows[i];
	}

	if (required != NULL && strcmp(required->state, STATE_APPLIED) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("required migration \"%s\" is not applied", version),
				 errdetail("Its state is \"%s\".", required->state),
				 errhint("Apply pending migrations with feature_x.migrate().")));
	if (current == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("database schema is older than required version \"%s\"", version),
				 errdetail("No migration has been applied."),
				 errhint("Apply pending migrations with feature_x.migrate().")));
	if (ledger_version_cmp(current->version, version) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("database schema is older than required version \"%s\"", version),
				 errdetail("The current version is \"%s\".", current->version),
				 errhint("Apply pending migrations with feature_x.migrate().")));

	SPI_finish();
	PG_RETURN_VOID();
}
