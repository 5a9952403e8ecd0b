/*-------------------------------------------------------------------------
 *
 * owner_access.c
 *		Run a piece of C code as the owner of feature_x's tables.
 *
 * feature_x's SQL functions that touch its own tables are SECURITY INVOKER
 * where they must also run user SQL with the caller's rights (migrations).
 * The table accesses themselves are bracketed by owner_access_enter() and
 * owner_access_exit(): the current user becomes the owner of the table named
 * (which is the extension owner), under SECURITY_RESTRICTED_OPERATION, and
 * search_path is pinned to pg_catalog, pg_temp so that nothing the caller
 * created can shadow an operator or function used by feature_x's queries.
 *
 * An error between enter and exit needs no cleanup: (sub)transaction abort
 * restores both the user id and the GUC nesting level.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "feature_x.h"

/* Owner of feature_x.<table>, which must exist. */
static Oid
table_owner(const char *table)
{
	Oid			namespace = get_namespace_oid(FEATURE_X_SCHEMA, false);
	Oid			relid = get_relname_relid(table, namespace);
	HeapTuple	tuple;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table %s.%s of the feature_x extension does not exist",
						FEATURE_X_SCHEMA, table),
				 errhint("Reinstall the extension with DROP EXTENSION feature_x and CREATE EXTENSION feature_x.")));

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);

	return owner;
}

void
owner_access_enter(OwnerAccess *access, const char *table)
{
	GetUserIdAndSecContext(&access->saved_userid, &access->saved_sec_context);
	SetUserIdAndSecContext(table_owner(table),
						   access->saved_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	access->saved_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

void
owner_access_exit(OwnerAccess *access)
{
	AtEOXact_GUC(false, access->saved_nestlevel);
	SetUserIdAndSecContext(access->saved_userid, access->saved_sec_context);
}
