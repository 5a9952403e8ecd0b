/*-------------------------------------------------------------------------
 *
 * fingerprint.c
 *		Schema fingerprint, per-object inventory, recorded schema states and
 *		drift.
 *
 * The inventory is one row per user-visible schema object: its type, a
 * readable identity ("column public.users.email") and the SHA-256 of a
 * canonical description of the object.  Descriptions are built by one query
 * over pg_catalog, run with search_path pinned to pg_catalog so that every
 * name the pg_get_*def() functions print outside pg_catalog is
 * schema-qualified.  They never contain OIDs, attribute numbers (columns are
 * numbered among the live ones, so a dropped column leaves no trace), owners,
 * tablespaces or anything else VACUUM FULL, CLUSTER, REINDEX, ANALYZE or a
 * dump and restore changes.  The
 * fingerprint is the SHA-256 of the lines "type TAB identity TAB hash LF" in
 * bytewise order of (type, identity), so it does not depend on catalog order
 * and can be recomputed in SQL from schema_objects().
 *
 * Recorded states.  schema_record_state() stores the fingerprint of the live
 * schema in feature_x.schema_states (one row per recording, kept as history)
 * and its inventory in feature_x.schema_state_objects (only the latest
 * state's; rewritten only when the fingerprint changed).  drift() compares
 * the live inventory with that stored one.  The ledger records a state at the
 * end of every migrate() or rollback() that ran something and of every
 * baseline(); recording after a call that changed nothing would silently
 * accept out-of-band changes as the new reference.
 *
 * Locking.  Writers of the recorded state hold the deploy lock (see
 * ledger.c), so states are numbered max(id) + 1 without a sequence (whose
 * value a dump of the extension's tables would not carry).  The catalog is
 * read in the caller's transaction with a fresh snapshot: after migrate() the
 * fingerprint includes the migrations' own, uncommitted DDL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "compat.h"
#include "feature_x.h"
#include "ledger/ledger.h"
#include "schema/schema.h"

#define SHA256_HEX_LENGTH (PG_SHA256_DIGEST_LENGTH * 2)

#define STATES_TABLE "schema_states"

/* One object of an inventory. */
typedef struct SchemaObject
{
	char	   *type;
	char	   *identity;
	char		hash[SHA256_HEX_LENGTH + 1];
} SchemaObject;

typedef struct Inventory
{
	SchemaObject *objects;
	int			count;
} Inventory;

PG_FUNCTION_INFO_V1(fx_schema_objects);
PG_FUNCTION_INFO_V1(fx_schema_fingerprint);
PG_FUNCTION_INFO_V1(fx_schema_drift);
PG_FUNCTION_INFO_V1(fx_record_schema_state);

/* ----------------------------------------------------------------
 * Hashing
 * ----------------------------------------------------------------
 */

static pg_cryptohash_ctx *
sha256_begin(void)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (pg_cryptohash_init(ctx) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256 hash: %s",
						fx_cryptohash_error(ctx))));
	return ctx;
}

static void
sha256_add(pg_cryptohash_ctx *ctx, const char *data, size_t len)
{
	if (pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256 hash: %s",
						fx_cryptohash_error(ctx))));
}

/* Finish ctx into hex (SHA256_HEX_LENGTH + 1 bytes) and free it. */
static void
sha256_end(pg_cryptohash_ctx *ctx, char *hex)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	int			i;

	if (fx_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256 hash: %s",
						fx_cryptohash_error(ctx))));
	pg_cryptohash_free(ctx);
	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + i * 2, 3, "%02x", digest[i]);
}

static int
object_cmp(const void *a, const void *b)
{
	const SchemaObject *x = a;
	const SchemaObject *y = b;
	int			cmp = strcmp(x->type, y->type);

	return cmp != 0 ? cmp : strcmp(x->identity, y->identity);
}

/* Fingerprint of an inventory sorted by object_cmp. */
static char *
inventory_fingerprint(const Inventory *inventory)
{
	pg_cryptohash_ctx *ctx = sha256_begin();
	char	   *hex = palloc(SHA256_HEX_LENGTH + 1);
	int			i;

	for (i = 0; i < inventory->count; i++)
	{
		SchemaObject *object = &inventory->objects[i];

		sha256_add(ctx, object->type, strlen(object->type));
		sha256_add(ctx, "\t", 1);
		sha256_add(ctx, object->identity, strlen(object->identity));
		sha256_add(ctx, "\t", 1);
		sha256_add(ctx, object->hash, SHA256_HEX_LENGTH);
		sha256_add(ctx, "\n", 1);
	}
	sha256_end(ctx, hex);
	return hex;
}

/* ----------------------------------------------------------------
 * The catalog query
 * ----------------------------------------------------------------
 */

/*
 * SQL rendering the privileges in acl granted to roles other than owner, as
 * "grantee:PRIVILEGE" (with * when grantable), sorted.  Owners are left out
 * of the fingerprint (pg_restore --no-owner, or another deploy role, changes
 * them), and with them the owner's own rights and the grantor; what other
 * roles may do is part of the schema's contract.  With a default_kind (an SQL
 * expression of type "char"), a NULL acl stands for acldefault(default_kind,
 * owner).
 */
static char *
acl_sql(const char *acl, const char *default_kind, const char *owner)
{
	return psprintf("coalesce((SELECT string_agg(g, ',' ORDER BY g COLLATE \"C\")"
					"  FROM (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC'"
					"               ELSE quote_ident(pg_get_userbyid(a.grantee)) END"
					"               || ':' || a.privilege_type"
					"               || CASE WHEN a.is_grantable THEN '*' ELSE '' END AS g"
					"          FROM aclexplode(%s) a WHERE a.grantee <> %s) s), '')",
					default_kind ?
					psprintf("coalesce(%s, acldefault(%s, %s))",
							 acl, default_kind, owner) : acl,
					owner);
}

/*
 * The query returning (object_type, object_identity, description) for every
 * object in the namespaces $1 (oid[]; NULL for the default scope).  $2 is
 * true for the default scope, where every extension but feature_x is listed;
 * otherwise only the extensions installed in one of the namespaces are.
 *
 * Members of an extension (and their columns, indexes, ...) are covered by
 * the extension's row.  Indexes that implement a constraint are covered by
 * the constraint.  Triggers calling a function of schema feature_x belong to
 * feature_x's audit and are left out.
 */
static char *
inventory_query(void)
{
	static char *query = NULL;
	StringInfoData sql;

	if (query != NULL)
		return query;

	initStringInfo(&sql);
	appendStringInfoString(&sql,
						   "WITH ns AS ("
						   "  SELECT n.oid, n.nspname, n.nspowner, n.nspacl FROM pg_namespace n"
						   "   WHERE CASE WHEN $1 IS NULL"
						   "         THEN n.nspname NOT IN ('pg_catalog', 'information_schema', '" FEATURE_X_SCHEMA "')"
						   "              AND n.nspname NOT LIKE 'pg\\_toast%'"
						   "              AND n.nspname NOT LIKE 'pg\\_temp\\_%'"
						   "         ELSE n.oid = ANY ($1) END"
						   "),"
						   "member AS ("
						   "  SELECT d.classid, d.objid FROM pg_depend d"
						   "   WHERE d.deptype = 'e' AND d.refclassid = 'pg_extension'::regclass"
						   "),"
						   "rel AS ("
						   "  SELECT c.oid, c.relkind, c.relowner, c.relacl, c.relpersistence,"
						   "         c.reloptions, c.relrowsecurity, c.relforcerowsecurity,"
						   "         c.relreplident, c.reloftype, c.relpartbound,"
						   "         quote_ident(ns.nspname) AS nsp,"
						   "         quote_ident(ns.nspname) || '.' || quote_ident(c.relname) AS ident"
						   "    FROM pg_class c JOIN ns ON ns.oid = c.relnamespace"
						   "   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
						   "     AND c.oid NOT IN (SELECT m.objid FROM member m"
						   "                        WHERE m.classid = 'pg_class'::regclass)"
						   ")");

	/* Schemas. */
	appendStringInfo(&sql,
					 " SELECT 'schema', quote_ident(ns.nspname), 'acl=' || %s"
					 "   FROM ns"
					 "  WHERE ns.oid NOT IN (SELECT m.objid FROM member m"
					 "                        WHERE m.classid = 'pg_namespace'::regclass)",
					 acl_sql("ns.nspacl", "'n'", "ns.nspowner"));

	/* Tables, views, materialized views, sequences, foreign tables. */
	appendStringInfo(&sql,
					 " UNION ALL"
					 " SELECT CASE r.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table'"
					 "        WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'"
					 "        WHEN 'S' THEN 'sequence' ELSE 'foreign table' END,"
					 "        r.ident,"
					 "        concat_ws(E'\\n',"
					 "          'kind=' || r.relkind::text,"
					 "          'persistence=' || r.relpersistence::text,"
					 "          'options=' || (SELECT string_agg(o, ',' ORDER BY o COLLATE \"C\")"
					 "                           FROM unnest(r.reloptions) o),"
					 "          'partition_key=' || pg_get_partkeydef(r.oid),"
					 "          'partition_bound=' || pg_get_expr(r.relpartbound, r.oid),"
					 "          'inherits=' || (SELECT string_agg(h.inhparent::regclass::text, ', '"
					 "                                            ORDER BY h.inhseqno)"
					 "                            FROM pg_inherits h WHERE h.inhrelid = r.oid),"
					 "          'of_type=' || CASE WHEN r.reloftype <> 0 THEN format_type(r.reloftype, NULL) END,"
					 "          CASE WHEN r.relkind IN ('r', 'p', 'f') THEN"
					 "            'row_security=' || r.relrowsecurity"
					 "            || ' force=' || r.relforcerowsecurity"
					 "            || ' replica_identity=' || r.relreplident::text END,"
					 "          'definition=' || CASE WHEN r.relkind IN ('v', 'm') THEN pg_get_viewdef(r.oid) END,"
					 "          (SELECT format('server=%%s options=%%s', quote_ident(s.srvname), f.ftoptions)"
					 "             FROM pg_foreign_table f JOIN pg_foreign_server s ON s.oid = f.ftserver"
					 "            WHERE f.ftrelid = r.oid),"
					 "          (SELECT format('type=%%s start=%%s increment=%%s min=%%s max=%%s cache=%%s cycle=%%s',"
					 "                         format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,"
					 "                         s.seqmin, s.seqmax, s.seqcache, s.seqcycle)"
					 "             FROM pg_sequence s WHERE s.seqrelid = r.oid),"
					 "          (SELECT 'owned_by=' || d.refobjid::regclass::text || '.'"
					 "                  || quote_ident(a.attname)"
					 "             FROM pg_depend d"
					 "             JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid"
					 "            WHERE r.relkind = 'S' AND d.classid = 'pg_class'::regclass"
					 "              AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass"
					 "              AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')),"
					 "          'acl=' || %s)"
					 "   FROM rel r",
					 acl_sql("r.relacl",
							 "(CASE r.relkind WHEN 'S' THEN 's' ELSE 'r' END)::\"char\"",
							 "r.relowner"));

	/* Columns of tables, numbered among the live ones. */
	appendStringInfo(&sql,
					 " UNION ALL"
					 " SELECT 'column', r.ident || '.' || quote_ident(a.attname),"
					 "        concat_ws(E'\\n',"
					 "          'position=' || row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),"
					 "          'type=' || format_type(a.atttypid, a.atttypmod),"
					 "          'not_null=' || a.attnotnull,"
					 "          CASE WHEN a.attgenerated::text <> '' THEN 'generated=' ELSE 'default=' END"
					 "            || pg_get_expr(ad.adbin, ad.adrelid),"
					 "          'identity=' || nullif(a.attidentity::text, ''),"
					 "          'collation=' || CASE WHEN a.attcollation <> t.typcollation"
					 "                               THEN a.attcollation::regcollation::text END,"
					 "          'acl=' || %s)"
					 "   FROM rel r"
					 "   JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped"
					 "   JOIN pg_type t ON t.oid = a.atttypid"
					 "   LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum"
					 "  WHERE r.relkind IN ('r', 'p', 'f')",
					 acl_sql("a.attacl", NULL, "r.relowner"));

	/*
	 * Constraints of tables (NOT NULL, a pg_constraint row from PostgreSQL
	 * 18 on, is part of the column).  The tablespace of an index behind a
	 * constraint is physical.
	 */
	appendStringInfoString(&sql,
						   " UNION ALL"
						   " SELECT 'constraint', r.ident || '.' || quote_ident(con.conname),"
						   "        regexp_replace(pg_get_constraintdef(con.oid),"
						   "                       ' USING INDEX TABLESPACE (\"[^\"]*\"|\\S+)', '')"
						   "   FROM rel r JOIN pg_constraint con ON con.conrelid = r.oid"
						   "  WHERE con.contype <> 'n'");

	/*
	 * Indexes not behind a constraint.  pg_get_indexdef() prints no
	 * tablespace; indisclustered (set by CLUSTER) is left out.
	 */
	appendStringInfoString(&sql,
						   " UNION ALL"
						   " SELECT 'index', r.nsp || '.' || quote_ident(ic.relname),"
						   "        pg_get_indexdef(i.indexrelid)"
						   "        || CASE WHEN i.indisreplident THEN ' REPLICA IDENTITY' ELSE '' END"
						   "   FROM rel r"
						   "   JOIN pg_index i ON i.indrelid = r.oid"
						   "   JOIN pg_class ic ON ic.oid = i.indexrelid"
						   "  WHERE NOT EXISTS (SELECT FROM pg_constraint con"
						   "                     WHERE con.conindid = i.indexrelid"
						   "                       AND con.conrelid = i.indrelid"
						   "                       AND con.contype IN ('p', 'u', 'x'))");

	/* Triggers, except internal ones and feature_x's own. */
	appendStringInfoString(&sql,
						   " UNION ALL"
						   " SELECT 'trigger', r.ident || '.' || quote_ident(tg.tgname),"
						   "        pg_get_triggerdef(tg.oid) || E'\\nenabled=' || tg.tgenabled::text"
						   "   FROM rel r"
						   "   JOIN pg_trigger tg ON tg.tgrelid = r.oid"
						   "   JOIN pg_proc tf ON tf.oid = tg.tgfoid"
						   "   JOIN pg_namespace tfn ON tfn.oid = tf.pronamespace"
						   "  WHERE NOT tg.tgisinternal AND tfn.nspname <> '" FEATURE_X_SCHEMA "'");

	/* Row-level security policies. */
	appendStringInfoString(&sql,
						   " UNION ALL"
						   " SELECT 'policy', r.ident || '.' || quote_ident(p.polname),"
						   "        concat_ws(E'\\n',"
						   "          'command=' || p.polcmd::text,"
						   "          'permissive=' || p.polpermissive,"
						   "          'roles=' || (SELECT string_agg(g, ',' ORDER BY g COLLATE \"C\")"
						   "                         FROM (SELECT CASE WHEN pr = 0 THEN 'PUBLIC'"
						   "                                      ELSE quote_ident(pg_get_userbyid(pr)) END AS g"
						   "                                 FROM unnest(p.polroles) pr) s),"
						   "          'using=' || pg_get_expr(p.polqual, p.polrelid),"
						   "          'check=' || pg_get_expr(p.polwithcheck, p.polrelid))"
						   "   FROM rel r JOIN pg_policy p ON p.polrelid = r.oid");

	/*
	 * Functions, procedures and aggregates, identified by their input
	 * argument types; not those a type made for itself (range
	 * constructors).  pg_get_functiondef() carries the signature with names
	 * and defaults, result, language, volatility, strictness, security,
	 * parallel safety, cost, configuration and body.
	 */
	appendStringInfo(&sql,
					 " UNION ALL"
					 " SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate'"
					 "        ELSE 'function' END,"
					 "        quote_ident(ns.nspname) || '.' || quote_ident(p.proname) || '('"
					 "        || coalesce((SELECT string_agg(format_type(u.t, NULL), ', ' ORDER BY u.n)"
					 "                       FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, n)), '')"
					 "        || ')',"
					 "        CASE WHEN p.prokind = 'a' THEN"
					 "          (SELECT format('arguments=%%s result=%%s kind=%%s transfn=%%s finalfn=%%s"
					 " combinefn=%%s transtype=%%s initval=%%s sortop=%%s',"
					 "                         pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),"
					 "                         ag.aggkind, ag.aggtransfn, ag.aggfinalfn, ag.aggcombinefn,"
					 "                         format_type(ag.aggtranstype, NULL), ag.agginitval,"
					 "                         ag.aggsortop::regoperator)"
					 "             FROM pg_aggregate ag WHERE ag.aggfnoid = p.oid)"
					 "        ELSE pg_get_functiondef(p.oid) END"
					 "        || E'\\nacl=' || %s"
					 "   FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace"
					 "  WHERE p.oid NOT IN (SELECT m.objid FROM member m"
					 "                       WHERE m.classid = 'pg_proc'::regclass)"
					 "    AND NOT EXISTS (SELECT FROM pg_depend d"
					 "                     WHERE d.classid = 'pg_proc'::regclass"
					 "                       AND d.objid = p.oid AND d.deptype = 'i')",
					 acl_sql("p.proacl", "'f'", "p.proowner"));

	/*
	 * Composite types, domains, enums, ranges and base types; not array
	 * types, multiranges or the row types of tables and views.
	 */
	appendStringInfo(&sql,
					 " UNION ALL"
					 " SELECT CASE t.typtype WHEN 'd' THEN 'domain' WHEN 'e' THEN 'enum' ELSE 'type' END,"
					 "        quote_ident(ns.nspname) || '.' || quote_ident(t.typname),"
					 "        concat_ws(E'\\n',"
					 "          'kind=' || t.typtype::text,"
					 "          CASE t.typtype"
					 "          WHEN 'c' THEN 'attributes=' ||"
					 "            (SELECT string_agg(quote_ident(a.attname) || ' '"
					 "                               || format_type(a.atttypid, a.atttypmod)"
					 "                               || CASE WHEN a.attcollation <> at.typcollation"
					 "                                       THEN ' COLLATE ' || a.attcollation::regcollation::text"
					 "                                       ELSE '' END,"
					 "                               ', ' ORDER BY a.attnum)"
					 "               FROM pg_attribute a JOIN pg_type at ON at.oid = a.atttypid"
					 "              WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)"
					 "          WHEN 'e' THEN 'labels=' ||"
					 "            (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)"
					 "               FROM pg_enum e WHERE e.enumtypid = t.oid)"
					 "          WHEN 'r' THEN"
					 "            (SELECT format('subtype=%%s collation=%%s opclass=%%s canonical=%%s subdiff=%%s',"
					 "                           format_type(rg.rngsubtype, NULL),"
					 "                           CASE WHEN rg.rngcollation <> 0 THEN rg.rngcollation::regcollation::text END,"
					 "                           (SELECT quote_ident(on2.nspname) || '.' || quote_ident(oc.opcname)"
					 "                              FROM pg_opclass oc JOIN pg_namespace on2 ON on2.oid = oc.opcnamespace"
					 "                             WHERE oc.oid = rg.rngsubopc),"
					 "                           rg.rngcanonical, rg.rngsubdiff)"
					 "               FROM pg_range rg WHERE rg.rngtypid = t.oid)"
					 "          WHEN 'd' THEN"
					 "            format('base=%%s not_null=%%s default=%%s collation=%%s constraints=%%s',"
					 "                   format_type(t.typbasetype, t.typtypmod), t.typnotnull, t.typdefault,"
					 "                   CASE WHEN t.typcollation <> bt.typcollation"
					 "                        THEN t.typcollation::regcollation::text END,"
					 "                   (SELECT string_agg(quote_ident(con.conname) || ' '"
					 "                                      || pg_get_constraintdef(con.oid),"
					 "                                      ', ' ORDER BY con.conname COLLATE \"C\")"
					 "                      FROM pg_constraint con"
					 "                     WHERE con.contypid = t.oid AND con.contype <> 'n'))"
					 "          ELSE format('input=%%s output=%%s receive=%%s send=%%s length=%%s"
					 " byval=%%s align=%%s storage=%%s category=%%s',"
					 "                      t.typinput, t.typoutput, t.typreceive, t.typsend, t.typlen,"
					 "                      t.typbyval, t.typalign, t.typstorage, t.typcategory)"
					 "          END,"
					 "          'acl=' || %s)"
					 "   FROM pg_type t JOIN ns ON ns.oid = t.typnamespace"
					 "   LEFT JOIN pg_type bt ON bt.oid = t.typbasetype"
					 "  WHERE t.typtype IN ('b', 'c', 'd', 'e', 'r')"
					 "    AND (t.typtype <> 'c'"
					 "         OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')"
					 "    AND NOT EXISTS (SELECT FROM pg_type el WHERE el.typarray = t.oid)"
					 "    AND t.oid NOT IN (SELECT m.objid FROM member m"
					 "                       WHERE m.classid = 'pg_type'::regclass)",
					 acl_sql("t.typacl", "'T'", "t.typowner"));

	/* Extensions, by name and version; never feature_x itself. */
	appendStringInfoString(&sql,
						   " UNION ALL"
						   " SELECT 'extension', quote_ident(e.extname),"
						   "        format('version=%s schema=%s', e.extversion, quote_ident(en.nspname))"
						   "   FROM pg_extension e JOIN pg_namespace en ON en.oid = e.extnamespace"
						   "  WHERE e.extname <> 'feature_x'"
						   "    AND ($2 OR e.extnamespace = ANY ($1))");

	query = MemoryContextStrdup(TopMemoryContext, sql.data);
	pfree(sql.data);
	return query;
}

/*
 * The oid[] of the namespaces named in schemas, or NULL for the default
 * scope.  Every name must exist: a misspelt schema would otherwise yield the
 * fingerprint of nothing.
 */
static Datum
scope_namespaces(ArrayType *schemas)
{
	Datum	   *names;
	bool	   *nulls;
	int			count;
	Datum	   *oids;
	int			i;

	deconstruct_array(schemas, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
					  &names, &nulls, &count);
	oids = palloc(sizeof(Datum) * Max(count, 1));
	for (i = 0; i < count; i++)
	{
		Oid			nsp;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("schemas must not contain null elements"),
					 errhint("Pass NULL instead of the array to cover every user schema.")));
		nsp = get_namespace_oid(NameStr(*DatumGetName(names[i])), true);
		if (!OidIsValid(nsp))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_SCHEMA),
					 errmsg("schema \"%s\" does not exist",
							NameStr(*DatumGetName(names[i])))));
		oids[i] = ObjectIdGetDatum(nsp);
	}
	return PointerGetDatum(construct_array(oids, count, OIDOID, sizeof(Oid),
										   true, TYPALIGN_INT));
}

/*
 * The inventory of the live schema, sorted, allocated in the caller's memory
 * context.  schemas is the SQL argument, or NULL for the default scope.
 * Connects to SPI itself (nesting is fine).  Not read-only: SPI then takes a
 * new snapshot, so DDL run earlier in the transaction (by migrate()) is seen.
 */
static Inventory *
inventory_collect(ArrayType *schemas)
{
	MemoryContext callercxt = CurrentMemoryContext;
	Inventory  *inventory = palloc0(sizeof(Inventory));
	Oid			argtypes[2] = {OIDARRAYOID, BOOLOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	int			nestlevel;
	uint64		i;

	if (schemas != NULL)
	{
		values[0] = scope_namespaces(schemas);
		values[1] = BoolGetDatum(false);
	}
	else
	{
		values[0] = (Datum) 0;
		nulls[0] = 'n';
		values[1] = BoolGetDatum(true);
	}

	SPI_connect();

	/* Qualify every name outside pg_catalog in what pg_get_*def() print. */
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	if (SPI_execute_with_args(inventory_query(), 2, argtypes, values, nulls,
							  false, 0) != SPI_OK_SELECT)
		elog(ERROR, "schema inventory query failed");

	AtEOXact_GUC(false, nestlevel);

	inventory->count = (int) SPI_processed;
	inventory->objects = MemoryContextAllocZero(callercxt,
												sizeof(SchemaObject) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;
		SchemaObject *object = &inventory->objects[i];
		bool		isnull;
		Datum		description;
		pg_cryptohash_ctx *ctx;

		object->type = MemoryContextStrdup(callercxt,
										   SPI_getvalue(tuple, tupdesc, 1));
		object->identity = MemoryContextStrdup(callercxt,
											   SPI_getvalue(tuple, tupdesc, 2));
		description = SPI_getbinval(tuple, tupdesc, 3, &isnull);
		ctx = sha256_begin();
		if (!isnull)
		{
			text	   *t = DatumGetTextPP(description);

			sha256_add(ctx, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		}
		sha256_end(ctx, object->hash);
	}

	SPI_finish();

	qsort(inventory->objects, inventory->count, sizeof(SchemaObject), object_cmp);
	return inventory;
}

static ArrayType *
schemas_arg(FunctionCallInfo fcinfo)
{
	return PG_ARGISNULL(0) ? NULL : PG_GETARG_ARRAYTYPE_P(0);
}

/* ----------------------------------------------------------------
 * Recorded states
 * ----------------------------------------------------------------
 */

/* Whether the installed SQL objects have the recorded-state tables. */
static bool
states_installed(void)
{
	Oid			namespace = get_namespace_oid(FEATURE_X_SCHEMA, true);

	return OidIsValid(namespace) &&
		OidIsValid(get_relname_relid(STATES_TABLE, namespace));
}

/* Fingerprint of the latest recorded state, or NULL; caller is in owner access. */
static char *
latest_fingerprint(void)
{
	if (SPI_execute("SELECT fingerprint FROM feature_x.schema_states"
					" ORDER BY id DESC LIMIT 1", false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read feature_x.schema_states");
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * A REPEATABLE READ or SERIALIZABLE caller whose snapshot predates another
 * deployer's recording would number its state like that one's, and, when
 * its snapshot shows no stored inventory, insert one beside the other's:
 * a unique violation rather than the serialization failure its retry loop
 * looks for.  (With an inventory in its snapshot, PostgreSQL itself raises
 * 40001 when the caller deletes rows the other deployer deleted.)  Writers
 * hold the deploy lock, so the latest committed state cannot change after
 * this check.  Caller is in owner access.
 */
static void
require_latest_state(void)
{
	const char *sql = "SELECT pg_catalog.count(*) FROM feature_x.schema_states";
	SPIPlanPtr	plan;
	int64		seen;
	int64		latest;
	bool		isnull;

	if (!IsolationUsesXactSnapshot())
		return;
	plan = SPI_prepare(sql, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "could not prepare a count of feature_x.schema_states");
	if (SPI_execute_plan(plan, NULL, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not count feature_x.schema_states");
	seen = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (SPI_execute_snapshot(plan, NULL, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 true, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not count feature_x.schema_states");
	latest = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freeplan(plan);
	if (seen != latest)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not record the schema state due to a concurrent deploy"),
				 errdetail("Another transaction recorded a schema state after this transaction's snapshot was taken."),
				 errhint("Retry the transaction.")));
}

char *
schema_record_state(const char *reason)
{
	MemoryContext callercxt = CurrentMemoryContext;
	Inventory  *inventory;
	char	   *fingerprint;
	char	   *previous;
	OwnerAccess access;
	Oid			argtypes[4] = {TEXTOID, INT4OID, TEXTOID, TEXTOID};
	Datum		values[4];

	/*
	 * Between installing a newer library and ALTER EXTENSION ... UPDATE, the
	 * ledger's functions still work; there is just nowhere to record states.
	 */
	if (!states_installed())
		return NULL;

	inventory = inventory_collect(NULL);
	fingerprint = inventory_fingerprint(inventory);

	SPI_connect();
	owner_access_enter(&access, STATES_TABLE);

	require_latest_state();
	previous = latest_fingerprint();
	if (previous == NULL || strcmp(previous, fingerprint) != 0)
	{
		Datum	   *types = palloc(sizeof(Datum) * Max(inventory->count, 1));
		Datum	   *identities = palloc(sizeof(Datum) * Max(inventory->count, 1));
		Datum	   *hashes = palloc(sizeof(Datum) * Max(inventory->count, 1));
		Oid			arraytypes[3] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
		Datum		arrays[3];
		int			i;

		for (i = 0; i < inventory->count; i++)
		{
			types[i] = CStringGetTextDatum(inventory->objects[i].type);
			identities[i] = CStringGetTextDatum(inventory->objects[i].identity);
			hashes[i] = CStringGetTextDatum(inventory->objects[i].hash);
		}
		arrays[0] = PointerGetDatum(construct_array(types, inventory->count, TEXTOID,
													-1, false, TYPALIGN_INT));
		arrays[1] = PointerGetDatum(construct_array(identities, inventory->count, TEXTOID,
													-1, false, TYPALIGN_INT));
		arrays[2] = PointerGetDatum(construct_array(hashes, inventory->count, TEXTOID,
													-1, false, TYPALIGN_INT));

		if (SPI_execute("DELETE FROM feature_x.schema_state_objects", false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not clear feature_x.schema_state_objects");
		if (SPI_execute_with_args("INSERT INTO feature_x.schema_state_objects"
								  "  (object_type, object_identity, hash)"
								  " SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
								  "                         pg_catalog.unnest($3))",
								  3, arraytypes, arrays, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not store the schema inventory");
	}

	values[0] = CStringGetTextDatum(fingerprint);
	values[1] = Int32GetDatum(inventory->count);
	values[2] = CStringGetTextDatum(reason);
	values[3] = CStringGetTextDatum(GetUserNameFromId(GetSessionUserId(), false));
	if (SPI_execute_with_args("INSERT INTO feature_x.schema_states"
							  "  (id, fingerprint, object_count, reason, version, recorded_by)"
							  " SELECT coalesce(max(s.id), 0) + 1, $1, $2, $3,"
							  "        (SELECT m.version FROM feature_x.migrations m"
							  "          WHERE m.state = 'applied'"
							  "          ORDER BY feature_x.version_sort_key(m.version) DESC LIMIT 1),"
							  "        $4"
							  "   FROM feature_x.schema_states s",
							  4, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the schema state");

	owner_access_exit(&access);
	SPI_finish();

	return MemoryContextStrdup(callercxt, fingerprint);
}

/*
 * The inventory of the latest recorded state, sorted; errors if none was
 * recorded or if it does not hash to its recorded fingerprint.
 */
static Inventory *
recorded_inventory(void)
{
	MemoryContext callercxt = CurrentMemoryContext;
	Inventory  *inventory = palloc0(sizeof(Inventory));
	OwnerAccess access;
	char	   *fingerprint;
	char	   *actual;
	uint64		i;

	if (!states_installed())
		elog(ERROR, "feature_x.schema_states does not exist");

	SPI_connect();
	owner_access_enter(&access, STATES_TABLE);

	fingerprint = latest_fingerprint();
	if (fingerprint == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no schema state has been recorded"),
				 errdetail("States are recorded by migrate() and rollback() when they run migrations, and by baseline()."),
				 errhint("Run feature_x.migrate() or feature_x.baseline(), or accept the current schema with feature_x.record_schema_state().")));
	fingerprint = MemoryContextStrdup(callercxt, fingerprint);

	if (SPI_execute("SELECT object_type, object_identity, hash"
					"  FROM feature_x.schema_state_objects", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read feature_x.schema_state_objects");
	inventory->count = (int) SPI_processed;
	inventory->objects = MemoryContextAllocZero(callercxt,
												sizeof(SchemaObject) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;
		SchemaObject *object = &inventory->objects[i];

		object->type = MemoryContextStrdup(callercxt, SPI_getvalue(tuple, tupdesc, 1));
		object->identity = MemoryContextStrdup(callercxt, SPI_getvalue(tuple, tupdesc, 2));
		strlcpy(object->hash, SPI_getvalue(tuple, tupdesc, 3), sizeof(object->hash));
	}

	owner_access_exit(&access);
	SPI_finish();

	qsort(inventory->objects, inventory->count, sizeof(SchemaObject), object_cmp);
	actual = inventory_fingerprint(inventory);
	if (strcmp(actual, fingerprint) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("recorded schema inventory does not match its fingerprint"),
				 errdetail("The latest recorded state has fingerprint %s but its stored inventory hashes to %s.",
						   fingerprint, actual),
				 errhint("Record the current schema again with feature_x.record_schema_state() once it is known to be right.")));
	return inventory;
}

/* ----------------------------------------------------------------
 * SQL-callable functions
 * ----------------------------------------------------------------
 */

/*
 * feature_x.schema_objects(schemas name[] DEFAULT NULL)
 *		RETURNS TABLE(object_type text, object_identity text, hash text)
 */
Datum
fx_schema_objects(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Inventory  *inventory;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	inventory = inventory_collect(schemas_arg(fcinfo));
	for (i = 0; i < inventory->count; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(inventory->objects[i].type);
		values[1] = CStringGetTextDatum(inventory->objects[i].identity);
		values[2] = CStringGetTextDatum(inventory->objects[i].hash);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* feature_x.schema_fingerprint(schemas name[] DEFAULT NULL) RETURNS text */
Datum
fx_schema_fingerprint(PG_FUNCTION_ARGS)
{
	Inventory  *inventory = inventory_collect(schemas_arg(fcinfo));

	PG_RETURN_TEXT_P(cstring_to_text(inventory_fingerprint(inventory)));
}

static void
put_drift_row(ReturnSetInfo *rsinfo, const SchemaObject *object, const char *change)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = CStringGetTextDatum(object->type);
	values[1] = CStringGetTextDatum(object->identity);
	values[2] = CStringGetTextDatum(change);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * feature_x.drift()
 *		RETURNS TABLE(object_type text, object_identity text, change text)
 *
 * A merge of the two sorted inventories: one row per object added, removed
 * or changed since the latest recorded state, in (type, identity) order.
 */
Datum
fx_schema_drift(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Inventory  *recorded;
	Inventory  *live;
	int			r = 0;
	int			l = 0;

	InitMaterializedSRF(fcinfo, 0);
	recorded = recorded_inventory();
	live = inventory_collect(NULL);

	while (r < recorded->count || l < live->count)
	{
		int			cmp;

		if (r == recorded->count)
			cmp = 1;
		else if (l == live->count)
			cmp = -1;
		else
			cmp = object_cmp(&recorded->objects[r], &live->objects[l]);

		if (cmp < 0)
			put_drift_row(rsinfo, &recorded->objects[r++], "removed");
		else if (cmp > 0)
			put_drift_row(rsinfo, &live->objects[l++], "added");
		else
		{
			if (strcmp(recorded->objects[r].hash, live->objects[l].hash) != 0)
				put_drift_row(rsinfo, &live->objects[l], "changed");
			r++;
			l++;
		}
	}
	return (Datum) 0;
}

/*
 * feature_x.record_schema_state() RETURNS text
 *
 * Accepts the live schema as the reference for drift(): for a database that
 * has had no migration since it got this version of feature_x, or after an
 * out-of-band change that is to be kept.
 */
Datum
fx_record_schema_state(PG_FUNCTION_ARGS)
{
	char	   *fingerprint;

	acquire_deploy_lock();
	fingerprint = schema_record_state(SCHEMA_STATE_MANUAL);
	if (fingerprint == NULL)
		elog(ERROR, "feature_x.schema_states does not exist");
	PG_RETURN_TEXT_P(cstring_to_text(fingerprint));
}
