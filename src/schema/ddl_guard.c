/*-------------------------------------------------------------------------
 *
 * ddl_guard.c
 *		The DDL log and guard: schema changes made outside migrate() and
 *		rollback().
 *
 * Three event triggers of the extension call into this file:
 *
 *	ddl_command_end		every object a command created or altered, as
 *						pg_event_trigger_ddl_commands() reports it (GRANT and
 *						REVOKE resolved from their parse tree);
 *	sql_drop			every object a DROP named, and those its CASCADE
 *						removed;
 *	ddl_command_start	only the CONCURRENTLY forms of CREATE INDEX, DROP
 *						INDEX and DETACH PARTITION, which commit before
 *						ddl_command_end fires, so refusing them must happen
 *						before they start.
 *
 * What feature_x.ddl_guard does:
 *
 *	off		nothing is recorded or checked;
 *	warn	each guarded object is recorded in feature_x.ddl_log and the
 *			command gets one WARNING naming the objects (the default);
 *	error	a command touching a guarded object is refused (42501), so it is
 *			rolled back and nothing is recorded.
 *
 * Not guarded: the statements of a migration (ledger_migration_running()),
 * DDL run by feature_x's own functions (fx_internal_ddl), the scripts of
 * CREATE/ALTER EXTENSION (creating_extension) and those commands themselves
 * for feature_x, pg_upgrade's schema restore (binary-upgrade mode), objects
 * in temporary schemas, and objects in pg_catalog, information_schema,
 * pg_toast and feature_x.
 *
 * The log is written as the owner of feature_x.ddl_log (owner_access.c), in
 * the transaction of the DDL: a command that is rolled back leaves no row.
 * Nothing here takes locks beyond those of the INSERT.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parse_func.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "feature_x.h"
#include "rbac/rbac.h"

#define DDL_LOG_TABLE "ddl_log"

/* At most this many objects are named in one WARNING or error. */
#define MAX_NAMED_OBJECTS 5

typedef enum DdlGuardMode
{
	DDL_GUARD_OFF,
	DDL_GUARD_WARN,
	DDL_GUARD_ERROR
} DdlGuardMode;

static const struct config_enum_entry ddl_guard_options[] = {
	{"off", DDL_GUARD_OFF, false},
	{"warn", DDL_GUARD_WARN, false},
	{"error", DDL_GUARD_ERROR, false},
	{NULL, 0, false}
};

static int	ddl_guard_mode = DDL_GUARD_WARN;

/* One guarded object touched by the command being checked. */
typedef struct GuardedObject
{
	char	   *object_type;
	char	   *object_identity;
	char	   *schema_name;
} GuardedObject;

PG_FUNCTION_INFO_V1(fx_ddl_guard_start);
PG_FUNCTION_INFO_V1(fx_ddl_guard_end);
PG_FUNCTION_INFO_V1(fx_ddl_guard_drop);

void
ddl_guard_init(void)
{
	DefineCustomEnumVariable("feature_x.ddl_guard",
							 "What happens to DDL run outside feature_x.migrate() and feature_x.rollback().",
							 "off: nothing; warn: recorded in feature_x.ddl_log with a WARNING; error: refused.",
							 &ddl_guard_mode,
							 DDL_GUARD_WARN,
							 ddl_guard_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
}

/*
 * True when nothing the current command does is guarded.  pg_upgrade
 * recreates the schema in binary-upgrade mode and then brings over the old
 * log's files, so recording (or refusing) there would be wrong twice.
 * Without the extension (DROP EXTENSION feature_x is under way) there is no
 * log to write.
 */
static bool
command_exempt(void)
{
	return ddl_guard_mode == DDL_GUARD_OFF ||
		ledger_migration_running() ||
		fx_internal_ddl ||
		creating_extension ||
		IsBinaryUpgrade ||
		!OidIsValid(get_extension_oid("feature_x", true));
}

static bool
schema_exempt(const char *schema)
{
	return strcmp(schema, "pg_catalog") == 0 ||
		strcmp(schema, "information_schema") == 0 ||
		strcmp(schema, FEATURE_X_SCHEMA) == 0 ||
		strcmp(schema, "pg_temp") == 0 ||
		strncmp(schema, "pg_toast", 8) == 0 ||
		strncmp(schema, "pg_temp_", 8) == 0;
}

static bool
namespace_exempt(Oid nspid)
{
	return isAnyTempNamespace(nspid) ||
		IsCatalogNamespace(nspid) || IsToastNamespace(nspid) ||
		nspid == get_namespace_oid("information_schema", true) ||
		nspid == get_namespace_oid(FEATURE_X_SCHEMA, true);
}

/*
 * Whether an object as reported by the event trigger functions is guarded.
 * Objects outside schemas are guarded too (schemas themselves, extensions,
 * publications, ...), except the exempt schemas and feature_x's extension
 * (ALTER EXTENSION feature_x UPDATE ends with a ddl_command_end of its own,
 * after its script).
 */
static bool
object_guarded(const char *object_type, const char *identity,
			   const char *schema, bool temporary)
{
	if (temporary)
		return false;
	if (schema != NULL)
		return !schema_exempt(schema);
	if (identity != NULL && strcmp(object_type, "schema") == 0)
		return !schema_exempt(identity);
	if (identity != NULL && strcmp(object_type, "extension") == 0)
		return strcmp(identity, "feature_x") != 0;
	return true;
}

/*
 * The relations, schemas or routines a GRANT or REVOKE names, those in
 * guarded schemas appended to *objects.  Returns false for the object kinds
 * not looked up here (types, domains, foreign servers, ...), which the caller
 * then takes from pg_event_trigger_ddl_commands() as guarded, the statement
 * text recording what they were.
 */
static bool
grant_targets(GrantStmt *stmt, List **objects)
{
	ListCell   *lc;
	GuardedObject *object;

	if (stmt->targtype == ACL_TARGET_ALL_IN_SCHEMA ||
		(stmt->targtype == ACL_TARGET_OBJECT && stmt->objtype == OBJECT_SCHEMA))
	{
		foreach(lc, stmt->objects)
		{
			char	   *schema = strVal(lfirst(lc));

			if (schema_exempt(schema))
				continue;
			object = palloc0(sizeof(GuardedObject));
			object->object_type = "schema";
			object->object_identity = pstrdup(quote_identifier(schema));
			*objects = lappend(*objects, object);
		}
		return true;
	}

	if (stmt->targtype != ACL_TARGET_OBJECT ||
		!(stmt->objtype == OBJECT_TABLE || stmt->objtype == OBJECT_SEQUENCE ||
		  stmt->objtype == OBJECT_FUNCTION || stmt->objtype == OBJECT_PROCEDURE ||
		  stmt->objtype == OBJECT_ROUTINE))
		return false;

	foreach(lc, stmt->objects)
	{
		ObjectAddress address;
		Oid			nspid;

		if (stmt->objtype == OBJECT_TABLE || stmt->objtype == OBJECT_SEQUENCE)
		{
			ObjectAddressSet(address, RelationRelationId,
							 RangeVarGetRelid(lfirst_node(RangeVar, lc), NoLock, false));
			nspid = get_rel_namespace(address.objectId);
		}
		else
		{
			ObjectAddressSet(address, ProcedureRelationId,
							 LookupFuncWithArgs(stmt->objtype,
												lfirst_node(ObjectWithArgs, lc),
												false));
			nspid = get_func_namespace(address.objectId);
		}
		if (namespace_exempt(nspid))
			continue;
		object = palloc0(sizeof(GuardedObject));
		object->object_type = getObjectTypeDescription(&address, false);
		object->object_identity = getObjectIdentity(&address, false);
		object->schema_name = get_namespace_name(nspid);
		*objects = lappend(*objects, object);
	}
	return true;
}

/*
 * Append object unless the list has it already (CREATE TABLE with a serial
 * column reports its sequence twice: created, then owned by the column).
 */
static List *
add_object(List *objects, GuardedObject *object)
{
	ListCell   *lc;

	foreach(lc, objects)
	{
		GuardedObject *other = lfirst(lc);

		if (strcmp(other->object_type, object->object_type) == 0 &&
			other->object_identity != NULL && object->object_identity != NULL &&
			strcmp(other->object_identity, object->object_identity) == 0)
			return objects;
	}
	return lappend(objects, object);
}

/* "table public.t, index public.t_pkey and 3 more" */
static char *
describe_objects(List *objects)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, objects)
	{
		GuardedObject *object = lfirst(lc);
		int			i = foreach_current_index(lc);

		if (i == MAX_NAMED_OBJECTS)
		{
			appendStringInfo(&buf, " and %d more", list_length(objects) - i);
			break;
		}
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, object->object_type);
		if (object->object_identity != NULL)
			appendStringInfo(&buf, " %s", object->object_identity);
	}
	return buf.data;
}

static void
refuse(const char *tag, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s outside a migration is not allowed: %s", tag, what),
			 errdetail("feature_x.ddl_guard is \"error\": schema changes are made by feature_x.migrate() and feature_x.rollback() only."),
			 errhint("Register the change with feature_x.register_migration() and apply it with feature_x.migrate(). "
					 "For maintenance that cannot run in a migration, such as CREATE INDEX CONCURRENTLY, "
					 "a superuser may first run SET feature_x.ddl_guard = warn.")));
}

/*
 * Record the guarded objects of one command, or refuse the command,
 * according to the mode.  The caller is connected to SPI.
 */
static void
guard_command(const char *tag, List *objects)
{
	const char *what;
	OwnerAccess access;
	SPIPlanPtr	plan;
	Oid			argtypes[8] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID};
	Datum		values[8];
	char		nulls[8];
	const char *actor = current_actor();
	ListCell   *lc;

	if (objects == NIL)
		return;
	what = describe_objects(objects);
	if (ddl_guard_mode == DDL_GUARD_ERROR)
		refuse(tag, what);

	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(GetUserNameFromId(GetSessionUserId(), false));
	values[1] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	values[2] = actor ? CStringGetTextDatum(actor) : (Datum) 0;
	nulls[2] = actor ? ' ' : 'n';
	values[3] = CStringGetTextDatum(tag);
	values[7] = debug_query_string ? CStringGetTextDatum(debug_query_string) : (Datum) 0;
	nulls[7] = debug_query_string ? ' ' : 'n';

	owner_access_enter(&access, DDL_LOG_TABLE);
	plan = SPI_prepare("INSERT INTO feature_x.ddl_log"
					   "  (db_user, db_role, actor, command_tag, object_type,"
					   "   object_identity, schema_name, statement)"
					   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
					   8, argtypes);
	if (plan == NULL)
		elog(ERROR, "could not prepare DDL log insert: %s",
			 SPI_result_code_string(SPI_result));
	foreach(lc, objects)
	{
		GuardedObject *object = lfirst(lc);

		values[4] = CStringGetTextDatum(object->object_type);
		values[5] = object->object_identity ?
			CStringGetTextDatum(object->object_identity) : (Datum) 0;
		nulls[5] = object->object_identity ? ' ' : 'n';
		values[6] = object->schema_name ?
			CStringGetTextDatum(object->schema_name) : (Datum) 0;
		nulls[6] = object->schema_name ? ' ' : 'n';
		if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not record DDL in feature_x.ddl_log");
	}
	owner_access_exit(&access);

	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg("%s outside a migration: %s", tag, what),
			 errdetail("It was recorded in feature_x.ddl_log."),
			 errhint("Make schema changes with feature_x.register_migration() and feature_x.migrate(), so that every database gets them.")));
}

static EventTriggerData *
event_trigger_data(FunctionCallInfo fcinfo)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s() must be called as an event trigger",
						get_func_name(fcinfo->flinfo->fn_oid))));
	return (EventTriggerData *) fcinfo->context;
}

/*
 * feature_x.ddl_guard_end(): event trigger on ddl_command_end
 *
 * REFRESH MATERIALIZED VIEW and REINDEX (an event trigger command from
 * PostgreSQL 17 on) reach event triggers but change data, not the schema.
 */
Datum
fx_ddl_guard_end(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata = event_trigger_data(fcinfo);
	const char *tag = GetCommandTagName(trigdata->tag);
	List	   *objects = NIL;
	uint64		i;

	if (command_exempt() ||
		trigdata->tag == CMDTAG_REFRESH_MATERIALIZED_VIEW ||
		trigdata->tag == CMDTAG_REINDEX)
		PG_RETURN_NULL();

	SPI_connect();
	if (!IsA(trigdata->parsetree, GrantStmt) ||
		!grant_targets((GrantStmt *) trigdata->parsetree, &objects))
	{
		if (SPI_execute("SELECT object_type, object_identity, schema_name, in_extension"
						"  FROM pg_catalog.pg_event_trigger_ddl_commands()",
						true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the commands of the DDL event");
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[i];
			TupleDesc	tupdesc = SPI_tuptable->tupdesc;
			GuardedObject *object = palloc0(sizeof(GuardedObject));
			char	   *in_extension = SPI_getvalue(tuple, tupdesc, 4);

			/* GRANT reports its object kind in upper case ("TABLES"). */
			object->object_type = SPI_getvalue(tuple, tupdesc, 1);
			if (object->object_type == NULL)
				object->object_type = pstrdup(tag);
			object->object_type = asc_tolower(object->object_type,
											  strlen(object->object_type));
			object->object_identity = SPI_getvalue(tuple, tupdesc, 2);
			object->schema_name = SPI_getvalue(tuple, tupdesc, 3);
			if (in_extension != NULL && strcmp(in_extension, "t") == 0)
				continue;
			if (object_guarded(object->object_type, object->object_identity,
							   object->schema_name, false))
				objects = add_object(objects, object);
		}
	}
	guard_command(tag, objects);
	SPI_finish();
	PG_RETURN_NULL();
}

/*
 * feature_x.ddl_guard_drop(): event trigger on sql_drop
 *
 * Records what the command named and, under CASCADE, what went with it;
 * not what is dropped implicitly with its owner (indexes and defaults of a
 * table, members of an extension).
 */
Datum
fx_ddl_guard_drop(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata = event_trigger_data(fcinfo);
	DropStmt   *drop = (DropStmt *) trigdata->parsetree;
	bool		cascade;
	List	   *objects = NIL;
	uint64		i;

	if (command_exempt())
		PG_RETURN_NULL();

	cascade = IsA(drop, DropStmt) && drop->behavior == DROP_CASCADE &&
		drop->removeType != OBJECT_EXTENSION;

	SPI_connect();
	if (SPI_execute("SELECT object_type, object_identity, schema_name, is_temporary,"
					"       original"
					"  FROM pg_catalog.pg_event_trigger_dropped_objects()"
					" WHERE original OR normal",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the objects of the drop event");
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;
		GuardedObject *object = palloc0(sizeof(GuardedObject));

		if (!cascade && strcmp(SPI_getvalue(tuple, tupdesc, 5), "t") != 0)
			continue;
		object->object_type = SPI_getvalue(tuple, tupdesc, 1);
		object->object_identity = SPI_getvalue(tuple, tupdesc, 2);
		object->schema_name = SPI_getvalue(tuple, tupdesc, 3);
		if (object_guarded(object->object_type, object->object_identity,
						   object->schema_name,
						   strcmp(SPI_getvalue(tuple, tupdesc, 4), "t") == 0))
			objects = lappend(objects, object);
	}
	guard_command(GetCommandTagName(trigdata->tag), objects);
	SPI_finish();
	PG_RETURN_NULL();
}

/*
 * The identity of the relation rv names, when it exists in a guarded schema;
 * otherwise NULL.
 */
static char *
relation_guarded(RangeVar *rv)
{
	ObjectAddress address;

	ObjectAddressSet(address, RelationRelationId,
					 RangeVarGetRelid(rv, NoLock, true));
	if (!OidIsValid(address.objectId) ||
		namespace_exempt(get_rel_namespace(address.objectId)))
		return NULL;
	return psprintf("%s %s", getObjectTypeDescription(&address, false),
					getObjectIdentity(&address, false));
}

/*
 * feature_x.ddl_guard_start(): event trigger on ddl_command_start
 *
 * Only under "error", and only for the commands that commit on their own
 * before ddl_command_end could refuse them.  Names that do not resolve are
 * left to the command, which reports them.
 */
Datum
fx_ddl_guard_start(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata = event_trigger_data(fcinfo);
	Node	   *parsetree = trigdata->parsetree;
	char	   *guarded = NULL;
	ListCell   *lc;

	if (ddl_guard_mode != DDL_GUARD_ERROR || command_exempt())
		PG_RETURN_NULL();

	if (IsA(parsetree, IndexStmt) && ((IndexStmt *) parsetree)->concurrent)
		guarded = relation_guarded(((IndexStmt *) parsetree)->relation);
	else if (IsA(parsetree, DropStmt) && ((DropStmt *) parsetree)->concurrent)
	{
		foreach(lc, ((DropStmt *) parsetree)->objects)
			if (guarded == NULL)
				guarded = relation_guarded(makeRangeVarFromNameList(lfirst(lc)));
	}
	else if (IsA(parsetree, AlterTableStmt))
	{
		foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
		{
			AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

			if (cmd->subtype == AT_DetachPartition &&
				((PartitionCmd *) cmd->def)->concurrent)
				guarded = relation_guarded(((AlterTableStmt *) parsetree)->relation);
		}
	}

	if (guarded != NULL)
		refuse(GetCommandTagName(trigdata->tag), guarded);
	PG_RETURN_NULL();
}
