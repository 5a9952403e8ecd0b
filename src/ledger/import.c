/*-------------------------------------------------------------------------
 *
 * import.c
 *		import_history(): adopt the history table of another migration tool.
 *
 * Each supported tool is described by the table it keeps and one query that
 * turns that table into rows of (version, name, applied_at, applied_by,
 * checksum, duration_ms, outcome), one per migration, where outcome is
 * "applied", "baseline" (everything up to this version is applied, as
 * baseline() records it), or a reason it is not imported ("failed",
 * "rolled back", "repeatable", "dirty").  The queries are fixed text; the
 * table is named by quote_qualified_identifier() after being resolved (in
 * the caller's search_path, or in the tool's fixed schema), and they run
 * with the caller's rights, search_path pinned to pg_catalog, pg_temp.
 *
 * Imported migrations become applied rows of feature_x.migrations with
 * imported_from set, no script, the tool's own checksum in source_checksum
 * (it is computed differently from ours, so checksum stays NULL) and the
 * tool's application time where it has one.  A registered but pending
 * migration of the same version is marked applied (its script is kept, not
 * run).  Importing again is idempotent; any other row of the same version
 * is a conflict, and then nothing is imported.
 *
 * Locking: the deploy lock (ledger.c), like every writer of the ledger.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "feature_x.h"
#include "ledger.h"
#include "schema/schema.h"

/* Conflicting versions named in the error, at most. */
#define MAX_NAMED_CONFLICTS 10

typedef struct HistorySource
{
	const char *tool;			/* the source argument */
	const char *schema;			/* fixed schema, or NULL for search_path */
	const char *table;
	const char *columns[12];	/* those the query reads, NULL-terminated */
	const char *query;			/* %1$s is the qualified table name */
} HistorySource;

static const HistorySource sources[] = {
	{
		/* Several attempts of one migration: a successful one wins. */
		"prisma", NULL, "_prisma_migrations",
		{"migration_name", "checksum", "started_at", "finished_at", "rolled_back_at"},
		"SELECT DISTINCT ON (migration_name)"
		"       migration_name::text, migration_name::text,"
		"       finished_at::timestamptz, NULL::text, checksum::text,"
		"       (EXTRACT(epoch FROM finished_at::timestamptz - started_at::timestamptz)"
		"        * 1000)::float8,"
		"       CASE WHEN finished_at IS NOT NULL AND rolled_back_at IS NULL THEN 'applied'"
		"            WHEN rolled_back_at IS NOT NULL THEN 'rolled back'"
		"            ELSE 'failed' END"
		"  FROM %1$s"
		" ORDER BY migration_name,"
		"          (finished_at IS NOT NULL AND rolled_back_at IS NULL) DESC,"
		"          started_at DESC"
	},
	{
		/* knex deletes the rows of migrations it rolls back. */
		"knex", NULL, "knex_migrations",
		{"id", "name", "migration_time"},
		"SELECT DISTINCT ON (name) name::text, name::text,"
		"       migration_time::timestamptz, NULL::text, NULL::text, NULL::float8,"
		"       'applied'"
		"  FROM %1$s ORDER BY name, id"
	},
	{
		/*
		 * Drizzle identifies a migration by the creation time of its folder
		 * (created_at, in ms) and records neither a name nor when it ran.
		 */
		"drizzle", "drizzle", "__drizzle_migrations",
		{"id", "hash", "created_at"},
		"SELECT DISTINCT ON (created_at) created_at::text,"
		"       'drizzle migration ' || created_at,"
		"       NULL::timestamptz, NULL::text, hash::text, NULL::float8, 'applied'"
		"  FROM %1$s ORDER BY created_at, id"
	},
	{
		/*
		 * Per version, the latest successful row decides (an undo or a
		 * repair's DELETE row cancels an application); versionless rows are
		 * repeatable migrations or the schema-creation marker.
		 */
		"flyway", NULL, "flyway_schema_history",
		{"installed_rank", "version", "description", "type", "checksum",
		"installed_by", "installed_on", "execution_time", "success"},
		"(SELECT DISTINCT ON (version) version::text, description::text,"
		"        installed_on::timestamptz, installed_by::text, checksum::text,"
		"        execution_time::float8,"
		"        CASE WHEN NOT success THEN 'failed'"
		"             WHEN type LIKE 'UNDO%%' OR type = 'DELETE' THEN 'rolled back'"
		"             WHEN type = 'BASELINE' THEN 'baseline'"
		"             ELSE 'applied' END"
		"   FROM %1$s WHERE version IS NOT NULL"
		"  ORDER BY version, success DESC, installed_rank DESC)"
		" UNION ALL "
		"(SELECT DISTINCT ON (description) NULL, description::text, NULL, NULL, NULL,"
		"        NULL, 'repeatable'"
		"   FROM %1$s WHERE version IS NULL AND type <> 'SCHEMA'"
		"  ORDER BY description)"
	},
	{
		/* Only the current version: everything up to it is applied. */
		"golang-migrate", NULL, "schema_migrations",
		{"version", "dirty"},
		"SELECT version::text, 'golang-migrate version ' || version,"
		"       NULL::timestamptz, NULL::text, NULL::text, NULL::float8,"
		"       CASE WHEN dirty THEN 'dirty' ELSE 'baseline' END"
		"  FROM %1$s"
	}
};

/* One row of a tool's history, as the query above returns it. */
typedef struct HistoryRow
{
	char	   *version;
	char	   *name;
	Datum		applied_at;
	bool		applied_at_null;
	char	   *applied_by;
	char	   *checksum;
	Datum		duration_ms;
	bool		duration_ms_null;
	char	   *outcome;
} HistoryRow;

typedef struct ReadContext
{
	const HistorySource *source;
	const char *table;
} ReadContext;

PG_FUNCTION_INFO_V1(fx_import_history);

static const HistorySource *
lookup_source(const char *tool)
{
	StringInfoData known;
	int			i;
	int			shown;
	const char *p;

	for (p = tool; *p && isspace((unsigned char) *p); p++)
		;
	if (*p == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source must not be empty")));

	initStringInfo(&known);
	for (i = 0; i < lengthof(sources); i++)
	{
		if (strcmp(sources[i].tool, tool) == 0)
			return &sources[i];
		appendStringInfo(&known, "%s%s", i > 0 ? ", " : "", sources[i].tool);
	}
	/* Name the source by its beginning only: it may be megabytes long. */
	shown = pg_mbcliplen(tool, strlen(tool), NAMEDATALEN - 1);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown migration tool \"%.*s%s\"", shown, tool,
					tool[shown] != '\0' ? "..." : ""),
			 errhint("The source is one of: %s.", known.data)));
	pg_unreachable();
}

/* The history table of source, qualified and quoted. */
static char *
history_table(const HistorySource *source)
{
	Oid			relid = InvalidOid;
	char	   *table;
	const char *const *column;

	if (source->schema == NULL)
		relid = RelnameGetRelid(source->table);
	else
	{
		Oid			nspid = get_namespace_oid(source->schema, true);

		if (OidIsValid(nspid))
			relid = get_relname_relid(source->table, nspid);
	}

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("history table of %s not found", source->tool),
				 source->schema == NULL ?
				 errdetail("No table %s is visible in search_path.",
						   quote_identifier(source->table)) :
				 errdetail("Table %s does not exist.",
						   quote_qualified_identifier(source->schema, source->table)),
				 errhint("Run import_history() in the database %s migrated%s.",
						 source->tool,
						 source->schema == NULL ?
						 ", with the schema of its history table in search_path" : "")));

	table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									   get_rel_name(relid));
	for (column = source->columns; *column != NULL; column++)
		if (get_attnum(relid, *column) == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("table %s is not a history table of %s", table, source->tool),
					 errdetail("It has no column \"%s\".", *column)));
	return table;
}

static void
read_history_context(void *arg)
{
	ReadContext *context = arg;

	errcontext("reading the %s history table %s", context->source->tool,
			   context->table);
}

/*
 * Run the source's query as the caller, search_path pinned.  Returns the
 * rows (in SPI memory); the caller is connected to SPI.
 */
static HistoryRow *
read_history(const HistorySource *source, const char *table, int *count)
{
	ErrorContextCallback callback;
	ReadContext context = {source, table};
	HistoryRow *rows;
	int			nestlevel;
	uint64		i;

	callback.callback = read_history_context;
	callback.arg = &context;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_execute(psprintf(source->query, table), true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the %s history", source->tool);
	AtEOXact_GUC(false, nestlevel);

	*count = (int) SPI_processed;
	rows = palloc0(sizeof(HistoryRow) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;

		rows[i].version = SPI_getvalue(tuple, tupdesc, 1);
		rows[i].name = SPI_getvalue(tuple, tupdesc, 2);
		rows[i].applied_at = SPI_getbinval(tuple, tupdesc, 3, &rows[i].applied_at_null);
		rows[i].applied_by = SPI_getvalue(tuple, tupdesc, 4);
		rows[i].checksum = SPI_getvalue(tuple, tupdesc, 5);
		rows[i].duration_ms = SPI_getbinval(tuple, tupdesc, 6, &rows[i].duration_ms_null);
		rows[i].outcome = SPI_getvalue(tuple, tupdesc, 7);
	}

	error_context_stack = callback.previous;
	return rows;
}

/* Refuse what cannot be imported at all, before anything is written. */
static void
check_history(const HistorySource *source, HistoryRow *rows, int count)
{
	int			i;

	for (i = 0; i < count; i++)
	{
		if (strcmp(rows[i].outcome, "dirty") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the %s history is dirty at version %s", source->tool,
							rows[i].version),
					 errdetail("A migration failed part-way; the schema may be half-changed."),
					 errhint("Repair the schema, mark the version clean with \"migrate force\", and import again.")));
		if (strcmp(rows[i].outcome, "applied") != 0 &&
			strcmp(rows[i].outcome, "baseline") != 0)
			continue;
		if (rows[i].version == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("the %s history has an applied migration without a version",
							source->tool),
					 errhint("Give the row its migration's name in the history table, or delete it.")));
		ledger_validate_version(rows[i].version);
	}
}

typedef enum ImportAction
{
	IMPORT_INSERT,				/* not in the ledger */
	IMPORT_MARK_APPLIED,		/* registered and pending */
	IMPORT_SKIP,				/* imported already, identically */
	IMPORT_CONFLICT
} ImportAction;

/*
 * What to do with one applied row, given the ledger row of its version
 * (ledger_tuple NULL when there is none).  *why describes a conflict.  The
 * version identifies a migration; names are labels (register_migration()
 * may have renamed an imported one), so only the checksum is compared.
 */
static ImportAction
decide(const HistorySource *source, HistoryRow *row, HeapTuple ledger_tuple,
	   TupleDesc tupdesc, const char **why)
{
	char	   *state;
	char	   *imported_from;
	char	   *source_checksum;

	if (ledger_tuple == NULL)
		return IMPORT_INSERT;

	state = SPI_getvalue(ledger_tuple, tupdesc, 1);
	imported_from = SPI_getvalue(ledger_tuple, tupdesc, 2);
	source_checksum = SPI_getvalue(ledger_tuple, tupdesc, 3);

	if (strcmp(state, "pending") == 0)
		return IMPORT_MARK_APPLIED;
	if (strcmp(state, "rolled_back") == 0)
	{
		*why = "rolled back in the ledger";
		return IMPORT_CONFLICT;
	}
	if (imported_from == NULL)
	{
		*why = "applied in the ledger by feature_x";
		return IMPORT_CONFLICT;
	}
	if (strcmp(imported_from, source->tool) != 0)
	{
		*why = psprintf("imported from %s", imported_from);
		return IMPORT_CONFLICT;
	}
	if ((source_checksum == NULL) != (row->checksum == NULL) ||
		(source_checksum != NULL && strcmp(source_checksum, row->checksum) != 0))
	{
		*why = psprintf("imported before with checksum %s, now %s",
						source_checksum ? source_checksum : "none",
						row->checksum ? row->checksum : "none");
		return IMPORT_CONFLICT;
	}
	return IMPORT_SKIP;
}

static void
report_not_imported(const HistorySource *source, HistoryRow *rows, int count)
{
	StringInfoData list;
	int			skipped = 0;
	int			i;

	initStringInfo(&list);
	for (i = 0; i < count; i++)
	{
		if (strcmp(rows[i].outcome, "applied") == 0 ||
			strcmp(rows[i].outcome, "baseline") == 0)
			continue;
		appendStringInfo(&list, "%s\"%s\" (%s)", skipped > 0 ? ", " : "",
						 rows[i].version ? rows[i].version : rows[i].name,
						 rows[i].outcome);
		skipped++;
	}
	if (skipped > 0)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg_plural("%d migration of the %s history was not imported",
							   "%d migrations of the %s history were not imported",
							   skipped, skipped, source->tool),
				 errdetail("Not applied according to the history: %s.", list.data),
				 errhint("Only finished, successful migrations are imported. Resolve the others with %s, or register them with feature_x.register_migration() and apply them with feature_x.migrate().",
						 source->tool)));
}

/* feature_x.import_history(source text) RETURNS integer */
Datum
fx_import_history(PG_FUNCTION_ARGS)
{
	const HistorySource *source;
	char	   *table;
	HistoryRow *rows;
	ImportAction *actions;
	int			count;
	int			imported = 0;
	int			skipped = 0;
	int			i;
	StringInfoData conflicts;
	int			nconflicts = 0;
	OwnerAccess access;
	SPIPlanPtr	lookup;
	SPIPlanPtr	insert;
	SPIPlanPtr	mark;
	Oid			argtypes[8] = {TEXTOID, TEXTOID, BOOLOID, TIMESTAMPTZOID,
	TEXTOID, FLOAT8OID, TEXTOID, TEXTOID};
	Datum		values[8];
	char		nulls[8];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be null")));
	source = lookup_source(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (ledger_migration_running())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("import_history() cannot be called from inside a migration"),
				 errdetail("A migration script called a function that changes the migration ledger.")));
	table = history_table(source);

	acquire_deploy_lock();
	SPI_connect();

	rows = read_history(source, table, &count);
	check_history(source, rows, count);

	owner_access_enter(&access, "migrations");
	lookup = SPI_prepare("SELECT state, imported_from, source_checksum"
						 "  FROM feature_x.migrations WHERE version = $1 FOR UPDATE",
						 1, argtypes);
	insert = SPI_prepare("INSERT INTO feature_x.migrations"
						 "  (version, name, state, baselined, applied_at, applied_by,"
						 "   duration_ms, imported_from, source_checksum)"
						 " VALUES ($1, $2, 'applied', $3, $4, $5, $6, $7, $8)"
						 " ON CONFLICT (version) DO NOTHING",
						 8, argtypes);
	mark = SPI_prepare("UPDATE feature_x.migrations"
					   "   SET state = 'applied', baselined = baselined OR $3,"
					   "       applied_at = $4, applied_by = $5, duration_ms = $6,"
					   "       imported_from = $7, source_checksum = $8"
					   " WHERE version = $1 AND state = 'pending'",
					   8, argtypes);
	if (lookup == NULL || insert == NULL || mark == NULL)
		elog(ERROR, "could not prepare ledger queries: %s",
			 SPI_result_code_string(SPI_result));

	/* All or nothing: decide every row before writing any. */
	actions = palloc(sizeof(ImportAction) * Max(count, 1));
	initStringInfo(&conflicts);
	for (i = 0; i < count; i++)
	{
		const char *why = NULL;

		actions[i] = IMPORT_SKIP;
		if (strcmp(rows[i].outcome, "applied") != 0 &&
			strcmp(rows[i].outcome, "baseline") != 0)
			continue;
		values[0] = CStringGetTextDatum(rows[i].version);
		if (SPI_execute_plan(lookup, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the migration ledger");
		actions[i] = decide(source, &rows[i],
							SPI_processed > 0 ? SPI_tuptable->vals[0] : NULL,
							SPI_tuptable->tupdesc, &why);
		if (actions[i] == IMPORT_CONFLICT)
		{
			if (nconflicts < MAX_NAMED_CONFLICTS)
				appendStringInfo(&conflicts, "%s\"%s\" (%s)",
								 nconflicts > 0 ? ", " : "", rows[i].version, why);
			nconflicts++;
		}
	}
	if (nconflicts > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg_plural("cannot import the %s history: %d migration conflicts with the ledger",
							   "cannot import the %s history: %d migrations conflict with the ledger",
							   nconflicts, source->tool, nconflicts),
				 errdetail("Conflicting versions: %s%s.", conflicts.data,
						   nconflicts > MAX_NAMED_CONFLICTS ? ", ..." : ""),
				 errhint("Nothing was imported. A version may be imported only into a ledger where it is absent, pending, or imported identically before.")));

	for (i = 0; i < count; i++)
	{
		HistoryRow *row = &rows[i];

		if (actions[i] == IMPORT_SKIP)
		{
			skipped += (strcmp(row->outcome, "applied") == 0 ||
						strcmp(row->outcome, "baseline") == 0);
			continue;
		}

		memset(nulls, ' ', sizeof(nulls));
		values[0] = CStringGetTextDatum(row->version);
		values[1] = CStringGetTextDatum(row->name ? row->name : row->version);
		values[2] = BoolGetDatum(strcmp(row->outcome, "baseline") == 0);
		values[3] = row->applied_at;
		nulls[3] = row->applied_at_null ? 'n' : ' ';
		values[4] = row->applied_by ? CStringGetTextDatum(row->applied_by) : (Datum) 0;
		nulls[4] = row->applied_by ? ' ' : 'n';
		values[5] = row->duration_ms;
		nulls[5] = row->duration_ms_null ? 'n' : ' ';
		values[6] = CStringGetTextDatum(source->tool);
		values[7] = row->checksum ? CStringGetTextDatum(row->checksum) : (Datum) 0;
		nulls[7] = row->checksum ? ' ' : 'n';

		if (actions[i] == IMPORT_INSERT)
		{
			if (SPI_execute_plan(insert, values, nulls, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "could not import migration \"%s\"", row->version);
		}
		else if (SPI_execute_plan(mark, values, nulls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not import migration \"%s\"", row->version);

		/* As in register_migration(): a concurrent deployer got there first. */
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not import migration \"%s\" due to a concurrent deploy",
							row->version),
					 errdetail("Another transaction changed the same version after this transaction's snapshot was taken."),
					 errhint("Retry the transaction.")));
		imported++;
	}
	owner_access_exit(&access);

	report_not_imported(source, rows, count);
	ereport(NOTICE,
			(errmsg_plural("imported %d migration from the %s history (%d imported before)",
						   "imported %d migrations from the %s history (%d imported before)",
						   imported, imported, source->tool, skipped)));

	if (imported > 0)
		(void) schema_record_state(SCHEMA_STATE_IMPORT);
	SPI_finish();
	PG_RETURN_INT32(imported);
}
