/*-------------------------------------------------------------------------
 *
 * manage.c
 *		feature_x.enable_audit() and feature_x.disable_audit().
 *
 * The caller must own the table (or be a superuser, or a member of the
 * owning role).  The triggers themselves are created and dropped as the
 * owner of feature_x's tables (owner_access.c): feature_x.audit_trigger() is
 * not executable by PUBLIC, so nobody attaches it to a table by hand, and
 * with fx_internal_ddl set so that feature_x's DDL guard lets the statements
 * through.  Both functions take ShareRowExclusiveLock on the table (what
 * CREATE TRIGGER takes), after checking ownership, so a non-owner cannot
 * block the table by calling them.
 *
 * Each effective call is itself logged (ENABLE_AUDIT / DISABLE_AUDIT, with
 * the exclusions in details); a call that changes nothing logs nothing.
 *
 * Only ordinary tables can be audited.  Partitioned tables and partitions
 * are refused: statement-level triggers on the parent do not see DML that
 * names a partition, and those on a partition do not fire for DML through
 * the parent, so either way changes would go unlogged without a trace.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/sysattr.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"

#include "compat.h"
#include "feature_x.h"
#include "audit.h"
#include "capture.h"

PG_FUNCTION_INFO_V1(fx_enable_audit);
PG_FUNCTION_INFO_V1(fx_disable_audit);

typedef struct AuditTriggerSpec
{
	const char *name;
	int16		event;
	bool		old_table;
	bool		new_table;
} AuditTriggerSpec;

static const AuditTriggerSpec audit_trigger_specs[] = {
	{AUDIT_TRIGGER_INSERT, TRIGGER_TYPE_INSERT, false, true},
	{AUDIT_TRIGGER_UPDATE, TRIGGER_TYPE_UPDATE, true, true},
	{AUDIT_TRIGGER_DELETE, TRIGGER_TYPE_DELETE, true, false},
	{AUDIT_TRIGGER_TRUNCATE, TRIGGER_TYPE_TRUNCATE, false, false},
};

#define NUM_AUDIT_TRIGGERS lengthof(audit_trigger_specs)

static Oid
audit_trigger_function(void)
{
	return LookupFuncName(list_make2(makeString(FEATURE_X_SCHEMA),
									 makeString(AUDIT_TRIGGER_FUNCTION)),
						  0, NULL, false);
}

static char *
qualified_name(Relation rel)
{
	return quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
									  RelationGetRelationName(rel));
}

/*
 * Check that the caller owns the table, then lock it.  The ownership check
 * comes first so that nobody can lock a table that is not theirs.
 */
static Relation
open_owned_table(FunctionCallInfo fcinfo, const char *function)
{
	Oid			relid;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target of %s must not be NULL", function)));
	relid = PG_GETARG_OID(0);
	if (get_rel_relkind(relid) == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (!fx_table_ownercheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s", get_rel_name(relid)),
				 errdetail("Only the owner of a table (or a superuser) can change whether it is audited.")));
	return relation_open(relid, ShareRowExclusiveLock);
}

static void
check_auditable(Relation rel)
{
	char		relkind = rel->rd_rel->relkind;

	if (relkind == RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot audit partitioned table %s", qualified_name(rel)),
				 errdetail("Statement-level triggers of a partitioned table do not see changes made directly to its partitions.")));
	if (rel->rd_rel->relispartition)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot audit %s because it is a partition", qualified_name(rel)),
				 errdetail("Statement-level triggers of a partition do not fire for changes made through its partitioned table.")));
	if (relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot audit %s because it is not a table", qualified_name(rel)),
				 errdetail("Only ordinary tables can be audited.")));
	if (IsSystemRelation(rel))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot audit system catalog %s", qualified_name(rel))));
	if (RelationGetNamespace(rel) == get_namespace_oid(FEATURE_X_SCHEMA, false))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot audit %s because it belongs to the feature_x extension",
						qualified_name(rel)),
				 errdetail("feature_x's own tables are protected by their own functions.")));
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Validate exclude_columns against the table; the distinct names, sorted,
 * in *names (*nnames of them).
 */
static void
check_exclusions(Relation rel, ArrayType *array, char ***names, int *nnames)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	Bitmapset  *key;
	int			i;
	int			n = 0;

	*names = NULL;
	*nnames = 0;
	if (array == NULL)
		return;
	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &nelems);
	if (nelems == 0)
		return;

	/* The row key: the primary key, else the replica identity index. */
	key = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	if (bms_is_empty(key) && rel->rd_rel->relreplident == REPLICA_IDENTITY_INDEX)
		key = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY);

	*names = palloc(nelems * sizeof(char *));
	for (i = 0; i < nelems; i++)
	{
		char	   *name;
		AttrNumber	attnum;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("exclude_columns must not contain NULL")));
		name = TextDatumGetCString(elems[i]);
		attnum = get_attnum(RelationGetRelid(rel), name);
		if (attnum <= 0)
		{
			/*
			 * Name the column by its beginning only, as long as an identifier
			 * can be: the argument may be megabytes long.
			 */
			int			shown = pg_mbcliplen(name, strlen(name), NAMEDATALEN - 1);

			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%.*s%s\" of table %s does not exist",
							shown, name, name[shown] != '\0' ? "..." : "",
							qualified_name(rel))));
		}
		if (bms_is_member(attnum - FirstLowInvalidHeapAttributeNumber, key))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot exclude column \"%s\" of table %s from the audit",
							name, qualified_name(rel)),
					 errdetail("The column is part of the primary key or replica identity index, which identifies rows in the audit log.")));
		(*names)[n++] = name;
	}

	qsort(*names, n, sizeof(char *), name_cmp);
	*nnames = 0;
	for (i = 0; i < n; i++)
	{
		if (*nnames == 0 || strcmp((*names)[*nnames - 1], (*names)[i]) != 0)
			(*names)[(*nnames)++] = (*names)[i];
	}
}

/* The trigger argument for these exclusions: a text[] literal. */
static char *
exclusions_argument(char **names, int nnames)
{
	Datum	   *elems = palloc((nnames + 1) * sizeof(Datum));
	int			i;

	for (i = 0; i < nnames; i++)
		elems[i] = CStringGetTextDatum(names[i]);
	return OidOutputFunctionCall(F_ARRAY_OUT,
								 PointerGetDatum(construct_array(elems, nnames, TEXTOID,
																 -1, false, TYPALIGN_INT)));
}

/* OIDs of the audit triggers on rel; their number. */
static int
audit_triggers_of(Relation rel, Oid funcoid, Oid *tgoids, bool *same_args,
				  const char *argument)
{
	TriggerDesc *trigdesc = rel->trigdesc;
	int			n = 0;
	int			i;

	*same_args = true;
	if (trigdesc == NULL)
		return 0;
	for (i = 0; i < trigdesc->numtriggers; i++)
	{
		Trigger    *trigger = &trigdesc->triggers[i];

		if (trigger->tgfoid != funcoid)
			continue;
		if (n < NUM_AUDIT_TRIGGERS)
			tgoids[n] = trigger->tgoid;
		n++;
		if (argument == NULL || trigger->tgnargs != 1 ||
			strcmp(trigger->tgargs[0], argument) != 0 ||
			trigger->tgenabled != TRIGGER_FIRES_ON_ORIGIN)
			*same_args = false;
	}
	return n;
}

static void
create_audit_trigger(Relation rel, Oid funcoid, const AuditTriggerSpec *spec,
					 const char *argument)
{
	CreateTrigStmt *stmt = makeNode(CreateTrigStmt);

	stmt->trigname = (char *) spec->name;
	stmt->relation = makeRangeVar(get_namespace_name(RelationGetNamespace(rel)),
								  RelationGetRelationName(rel), -1);
	stmt->funcname = list_make2(makeString(FEATURE_X_SCHEMA),
								makeString(AUDIT_TRIGGER_FUNCTION));
	stmt->args = list_make1(makeString(pstrdup(argument)));
	stmt->row = false;
	stmt->timing = TRIGGER_TYPE_AFTER;
	stmt->events = spec->event;
	if (spec->old_table)
	{
		TriggerTransition *tt = makeNode(TriggerTransition);

		tt->name = AUDIT_OLD_TABLE;
		tt->isNew = false;
		tt->isTable = true;
		stmt->transitionRels = lappend(stmt->transitionRels, tt);
	}
	if (spec->new_table)
	{
		TriggerTransition *tt = makeNode(TriggerTransition);

		tt->name = AUDIT_NEW_TABLE;
		tt->isNew = true;
		tt->isTable = true;
		stmt->transitionRels = lappend(stmt->transitionRels, tt);
	}
	(void) CreateTrigger(stmt, NULL, RelationGetRelid(rel), InvalidOid,
						 InvalidOid, InvalidOid, funcoid, InvalidOid, NULL,
						 false, false);
}

/*
 * Drop the audit triggers tgoids[0..ndrop-1] and, if argument is not NULL,
 * create the four triggers with it: as the extension owner, as feature_x's
 * own DDL.
 */
static void
replace_audit_triggers(Relation rel, Oid funcoid, const Oid *tgoids, int ndrop,
					   const char *argument)
{
	bool		saved_internal_ddl = fx_internal_ddl;
	OwnerAccess access;

	owner_access_enter(&access, "audit_log");
	PG_TRY();
	{
		int			i;

		fx_internal_ddl = true;
		for (i = 0; i < ndrop; i++)
		{
			ObjectAddress trigger;

			ObjectAddressSet(trigger, TriggerRelationId, tgoids[i]);
			performDeletion(&trigger, DROP_RESTRICT, 0);
		}
		CommandCounterIncrement();
		if (argument != NULL)
		{
			for (i = 0; i < NUM_AUDIT_TRIGGERS; i++)
				create_audit_trigger(rel, funcoid, &audit_trigger_specs[i], argument);
			CommandCounterIncrement();
		}
	}
	PG_FINALLY();
	{
		fx_internal_ddl = saved_internal_ddl;
	}
	PG_END_TRY();
	owner_access_exit(&access);
}

/* Log an ENABLE_AUDIT / DISABLE_AUDIT event; nnames < 0: no exclusions to show. */
static void
log_management(const char *action, Relation rel, char **names, int nnames)
{
	AuditEntry	entry;
	JsonbParseState *ps = NULL;
	JsonbValue	v;
	int			i;

	memset(&entry, 0, sizeof(entry));
	entry.action = action;
	entry.table_name = qualified_name(rel);
	if (nnames >= 0)
	{
		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		v.type = jbvString;
		v.val.string.val = "exclude_columns";
		v.val.string.len = strlen("exclude_columns");
		pushJsonbValue(&ps, WJB_KEY, &v);
		pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
		for (i = 0; i < nnames; i++)
		{
			v.val.string.val = names[i];
			v.val.string.len = strlen(names[i]);
			pushJsonbValue(&ps, WJB_ELEM, &v);
		}
		pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
		entry.details = JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
	}
	(void) audit_append(&entry);
}

/*
 * feature_x.enable_audit(target regclass, exclude_columns text[] DEFAULT '{}')
 * RETURNS void
 *
 * Idempotent: calling it again with other exclusions replaces them; with the
 * same ones it changes nothing.  NULL exclude_columns means none.
 */
Datum
fx_enable_audit(PG_FUNCTION_ARGS)
{
	Relation	rel = open_owned_table(fcinfo, "feature_x.enable_audit()");
	ArrayType  *array = PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1);
	Oid			funcoid = audit_trigger_function();
	Oid			tgoids[NUM_AUDIT_TRIGGERS];
	char	  **names;
	int			nnames;
	char	   *argument;
	bool		same_args;
	int			ntriggers;

	check_auditable(rel);
	check_exclusions(rel, array, &names, &nnames);
	argument = exclusions_argument(names, nnames);

	ntriggers = audit_triggers_of(rel, funcoid, tgoids, &same_args, argument);
	if (ntriggers > (int) NUM_AUDIT_TRIGGERS)
		elog(ERROR, "table %s has %d audit triggers", qualified_name(rel), ntriggers);
	if (ntriggers == NUM_AUDIT_TRIGGERS && same_args)
	{
		relation_close(rel, NoLock);
		PG_RETURN_VOID();
	}

	replace_audit_triggers(rel, funcoid, tgoids, ntriggers, argument);
	log_management("ENABLE_AUDIT", rel, names, nnames);
	relation_close(rel, NoLock);
	PG_RETURN_VOID();
}

/*
 * feature_x.disable_audit(target regclass) RETURNS void
 *
 * A table that is not audited gets a NOTICE, not an error.
 */
Datum
fx_disable_audit(PG_FUNCTION_ARGS)
{
	Relation	rel = open_owned_table(fcinfo, "feature_x.disable_audit()");
	Oid			funcoid = audit_trigger_function();
	Oid			tgoids[NUM_AUDIT_TRIGGERS];
	bool		same_args;
	int			ntriggers;

	ntriggers = audit_triggers_of(rel, funcoid, tgoids, &same_args, NULL);
	if (ntriggers > (int) NUM_AUDIT_TRIGGERS)
		elog(ERROR, "table %s has %d audit triggers", qualified_name(rel), ntriggers);
	if (ntriggers == 0)
	{
		ereport(NOTICE,
				(errmsg("table %s is not audited, skipping", qualified_name(rel))));
		relation_close(rel, NoLock);
		PG_RETURN_VOID();
	}

	replace_audit_triggers(rel, funcoid, tgoids, ntriggers, NULL);
	log_management("DISABLE_AUDIT", rel, NULL, -1);
	relation_close(rel, NoLock);
	PG_RETURN_VOID();
}
