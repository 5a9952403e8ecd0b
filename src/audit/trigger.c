/*-------------------------------------------------------------------------
 *
 * trigger.c
 *		feature_x.audit_trigger(): the row-change trigger of audited tables.
 *
 * It runs AFTER each statement, once per event, and reads the statement's
 * transition tables: one call logs every row the statement changed, through
 * one AuditWriter (writer.h), so a bulk INSERT ... SELECT is written in
 * multi-row batches.  What is logged:
 *
 *	INSERT	  new_data = the new row
 *	DELETE	  old_data = the old row
 *	UPDATE	  old_data / new_data = the old and new values of the columns that
 *			  changed (binary comparison of the stored values); an UPDATE
 *			  that changes nothing is not logged.  If only excluded columns
 *			  changed, the row is logged with empty old_data / new_data and
 *			  details = {"excluded_changed": [names]}: that a secret changed
 *			  is recorded, never its value.
 *	TRUNCATE  one row, no data
 *
 * row_key is the primary key, else the replica identity index, else the
 * whole row; of the old row for UPDATE and DELETE (a key changed by an
 * UPDATE shows in new_data).  If a key column is excluded (enable_audit()
 * refuses that, but a key can be added later), the whole row is the key.
 * Excluded and dropped columns never reach the log; stored generated columns
 * are logged like any column.
 *
 * Values become jsonb directly (no text round trip through to_jsonb):
 * booleans and numbers as JSON booleans and numbers (float NaN/Infinity and
 * numeric NaN/Infinity as strings), text as strings, json/jsonb embedded,
 * bytea as a "\x..." hex string, date/time types as ISO 8601 strings
 * (timestamptz in UTC, independent of DateStyle and TimeZone), intervals in
 * the postgres style ("1 day 02:00:00", whatever IntervalStyle), arrays as
 * JSON arrays (nested per dimension), composites as objects, domains as their
 * base type, anything else (enums, ranges, uuid, inet, ...) as its text
 * output.  The row objects are built as JsonbValue trees whose keys are
 * already in jsonb's order (worked out once per trigger), so no row pays for
 * sorting its keys.
 *
 * Per-trigger metadata (column names and conversions, key columns,
 * exclusions, the table's qualified name) is built once and kept in a
 * backend-local hash keyed by trigger OID; any relcache invalidation of the
 * table (ALTER TABLE, CREATE/DROP TRIGGER or INDEX, rename) marks it stale.
 * Stale entries are rebuilt at the next call, never inside the callback, so
 * an entry in use is never freed under its user.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/detoast.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/shortest_dec.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"

#include "compat.h"
#include "audit.h"
#include "capture.h"
#include "writer.h"

/* How a value of one type becomes jsonb. */
typedef enum ValueKind
{
	VK_BOOL,
	VK_INT2,
	VK_INT4,
	VK_INT8,
	VK_FLOAT4,
	VK_FLOAT8,
	VK_NUMERIC,
	VK_TEXT,
	VK_JSONB,
	VK_JSON,
	VK_BYTEA,
	VK_DATETIME,
	VK_INTERVAL,
	VK_ARRAY,
	VK_COMPOSITE,
	VK_OTHER
} ValueKind;

typedef struct ValueType
{
	ValueKind	kind;
	Oid			typid;			/* the base type (domains resolved) */
	FmgrInfo	output;			/* VK_OTHER: the output function */
	int16		elmlen;			/* VK_ARRAY: the element type */
	bool		elmbyval;
	char		elmalign;
	struct ValueType *element;
} ValueType;

typedef struct AuditColumn
{
	const char *name;
	int			namelen;
	bool		dropped;
	bool		excluded;
	ValueType	type;
} AuditColumn;

/* Metadata of one audit trigger; entry of audit_tables. */
typedef struct AuditTable
{
	Oid			tgoid;			/* hash key */
	Oid			relid;
	bool		valid;
	MemoryContext cxt;			/* everything below */
	char	   *table_name;		/* schema-qualified, quoted */
	int			natts;
	AuditColumn *columns;
	/* Column indexes (0-based), each list in jsonb's order of object keys. */
	int			nlogged;		/* neither dropped nor excluded */
	int		   *logged;
	int			nkey;			/* 0: the whole row is the key */
	int		   *key;
} AuditTable;

static HTAB *audit_tables = NULL;

PG_FUNCTION_INFO_V1(fx_audit_trigger);

static void push_value(JsonbParseState **ps, JsonbIteratorToken token,
					   Datum value, bool isnull, const ValueType *type);

/* ----------------------------------------------------------------
 * Metadata
 * ----------------------------------------------------------------
 */

static void
audit_tables_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	AuditTable *entry;

	hash_seq_init(&status, audit_tables);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (relid == InvalidOid || entry->relid == relid)
			entry->valid = false;
	}
}

/* Fill *type for values of typid; allocations in the current context. */
static void
value_type_init(ValueType *type, Oid typid)
{
	Oid			base = getBaseType(typid);
	Oid			element;

	memset(type, 0, sizeof(ValueType));
	type->typid = base;
	switch (base)
	{
		case BOOLOID:
			type->kind = VK_BOOL;
			return;
		case INT2OID:
			type->kind = VK_INT2;
			return;
		case INT4OID:
			type->kind = VK_INT4;
			return;
		case INT8OID:
			type->kind = VK_INT8;
			return;
		case FLOAT4OID:
			type->kind = VK_FLOAT4;
			return;
		case FLOAT8OID:
			type->kind = VK_FLOAT8;
			return;
		case NUMERICOID:
			type->kind = VK_NUMERIC;
			return;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			type->kind = VK_TEXT;
			return;
		case JSONBOID:
			type->kind = VK_JSONB;
			return;
		case JSONOID:
			type->kind = VK_JSON;
			return;
		case BYTEAOID:
			type->kind = VK_BYTEA;
			return;
		case DATEOID:
		case TIMEOID:
		case TIMETZOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			type->kind = VK_DATETIME;
			return;
		case INTERVALOID:
			type->kind = VK_INTERVAL;
			return;
	}

	element = get_element_type(base);
	if (OidIsValid(element))
	{
		type->kind = VK_ARRAY;
		get_typlenbyvalalign(element, &type->elmlen, &type->elmbyval,
							 &type->elmalign);
		type->element = palloc(sizeof(ValueType));
		value_type_init(type->element, element);
		return;
	}
	if (base == RECORDOID || get_typtype(base) == TYPTYPE_COMPOSITE)
	{
		type->kind = VK_COMPOSITE;
		return;
	}

	{
		Oid			outfunc;
		bool		isvarlena;

		type->kind = VK_OTHER;
		getTypeOutputInfo(base, &outfunc, &isvarlena);
		fmgr_info(outfunc, &type->output);
	}
}

/* The excluded column names stored as the trigger's argument. */
static void
trigger_exclusions(Trigger *trigger, Datum **names, int *nnames)
{
	ArrayType  *array;

	*names = NULL;
	*nnames = 0;
	if (trigger->tgnargs == 0)
		return;
	array = DatumGetArrayTypeP(OidInputFunctionCall(F_ARRAY_IN, trigger->tgargs[0],
													TEXTOID, -1));
	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT,
					  names, NULL, nnames);
}

/*
 * Order of two columns' names as jsonb orders object keys (shorter first,
 * then bytewise), so that objects can be built already sorted.
 */
static int
key_order_cmp(const void *a, const void *b, void *arg)
{
	const AuditColumn *columns = (const AuditColumn *) arg;
	const AuditColumn *ca = &columns[*(const int *) a];
	const AuditColumn *cb = &columns[*(const int *) b];

	if (ca->namelen != cb->namelen)
		return ca->namelen < cb->namelen ? -1 : 1;
	return memcmp(ca->name, cb->name, ca->namelen);
}

static void
audit_table_build(AuditTable *entry, Trigger *trigger, Relation rel)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	Datum	   *excluded;
	int			nexcluded;
	Oid			keyindex;
	int			i;

	entry->relid = RelationGetRelid(rel);
	entry->table_name =
		quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
								   RelationGetRelationName(rel));
	entry->natts = tupdesc->natts;
	entry->columns = palloc0(tupdesc->natts * sizeof(AuditColumn));
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		AuditColumn *col = &entry->columns[i];

		col->dropped = att->attisdropped;
		if (col->dropped)
			continue;
		col->name = pstrdup(NameStr(att->attname));
		col->namelen = strlen(col->name);
		value_type_init(&col->type, att->atttypid);
	}

	/*
	 * An excluded name that is no column any more was renamed or dropped; we
	 * cannot tell which, and a renamed secret must not start being logged.
	 */
	trigger_exclusions(trigger, &excluded, &nexcluded);
	for (i = 0; i < nexcluded; i++)
	{
		char	   *name = TextDatumGetCString(excluded[i]);
		int			j;

		for (j = 0; j < entry->natts; j++)
		{
			if (!entry->columns[j].dropped &&
				strcmp(entry->columns[j].name, name) == 0)
				break;
		}
		if (j == entry->natts)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" excluded from the audit of table %s does not exist",
							name, entry->table_name),
					 errdetail("The column was renamed or dropped after feature_x.enable_audit() excluded it; changes are refused so that its values cannot reach the audit log."),
					 errhint("Call feature_x.enable_audit() again with the current column names.")));
		entry->columns[j].excluded = true;
	}

	entry->logged = palloc(entry->natts * sizeof(int));
	entry->nlogged = 0;
	for (i = 0; i < entry->natts; i++)
	{
		if (!entry->columns[i].dropped && !entry->columns[i].excluded)
			entry->logged[entry->nlogged++] = i;
	}
	qsort_arg(entry->logged, entry->nlogged, sizeof(int), key_order_cmp,
			  entry->columns);

	entry->nkey = 0;
	keyindex = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(keyindex) &&
		rel->rd_rel->relreplident == REPLICA_IDENTITY_INDEX)
		keyindex = RelationGetReplicaIndex(rel);
	if (OidIsValid(keyindex))
	{
		Relation	index = index_open(keyindex, AccessShareLock);
		int			nkey = index->rd_index->indnkeyatts;
		int		   *key = palloc(nkey * sizeof(int));

		for (i = 0; i < nkey; i++)
		{
			AttrNumber	attnum = index->rd_index->indkey.values[i];

			if (attnum <= 0 || entry->columns[attnum - 1].excluded)
				break;
			key[i] = attnum - 1;
		}
		index_close(index, AccessShareLock);
		if (i == nkey)
		{
			qsort_arg(key, nkey, sizeof(int), key_order_cmp, entry->columns);
			entry->nkey = nkey;
			entry->key = key;
		}
	}
}

static AuditTable *
audit_table_get(Trigger *trigger, Relation rel)
{
	AuditTable *entry;
	bool		found;

	if (audit_tables == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(AuditTable);
		ctl.hcxt = CacheMemoryContext;
		audit_tables = hash_create("feature_x audited tables", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(audit_tables_invalidate, (Datum) 0);
	}

	entry = hash_search(audit_tables, &trigger->tgoid, HASH_ENTER, &found);
	if (found && entry->valid)
		return entry;
	if (!found)
		entry->cxt = NULL;
	entry->valid = false;
	if (entry->cxt != NULL)
		MemoryContextDelete(entry->cxt);
	entry->cxt = AllocSetContextCreate(CacheMemoryContext,
									   "feature_x audit trigger",
									   ALLOCSET_SMALL_SIZES);
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(entry->cxt);

		audit_table_build(entry, trigger, rel);
		MemoryContextSwitchTo(oldcxt);
	}
	entry->valid = true;
	return entry;
}

/* ----------------------------------------------------------------
 * Values to jsonb
 * ----------------------------------------------------------------
 */

static void
set_string(JsonbValue *v, const char *s, int len)
{
	v->type = jbvString;
	v->val.string.val = (char *) s;
	v->val.string.len = len;
}

static void
set_numeric(JsonbValue *v, Numeric n)
{
	v->type = jbvNumeric;
	v->val.numeric = n;
}

/* A float as a JSON number (its shortest exact decimal), or a string. */
static void
set_float(JsonbValue *v, double f, bool single)
{
	char	   *buf;

	if (isnan(f))
		set_string(v, "NaN", 3);
	else if (isinf(f))
		set_string(v, f > 0 ? "Infinity" : "-Infinity", f > 0 ? 8 : 9);
	else
	{
		buf = palloc(32);
		if (single)
			float_to_shortest_decimal_buf((float) f, buf);
		else
			double_to_shortest_decimal_buf(f, buf);
		set_numeric(v, DatumGetNumeric(DirectFunctionCall3(numeric_in,
														   CStringGetDatum(buf),
														   ObjectIdGetDatum(InvalidOid),
														   Int32GetDatum(-1))));
	}
}

/* A jsonb value, in place of one value being built. */
static void
push_jsonb(JsonbParseState **ps, JsonbIteratorToken token, Jsonb *jb)
{
	JsonbValue	v;

	v.type = jbvBinary;
	v.val.binary.data = &jb->root;
	v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
	pushJsonbValue(ps, token, &v);
}

static void
push_array_dim(JsonbParseState **ps, int dim, int ndim, const int *dims,
			   Datum *elems, bool *nulls, int *next, const ValueType *element)
{
	int			i;

	pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < dims[dim]; i++)
	{
		if (dim + 1 == ndim)
		{
			push_value(ps, WJB_ELEM, elems[*next], nulls[*next], element);
			(*next)++;
		}
		else
			push_array_dim(ps, dim + 1, ndim, dims, elems, nulls, next, element);
	}
	pushJsonbValue(ps, WJB_END_ARRAY, NULL);
}

static void
push_array(JsonbParseState **ps, Datum value, const ValueType *type)
{
	ArrayType  *array = DatumGetArrayTypeP(value);
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			next = 0;

	if (ARR_NDIM(array) == 0)
	{
		pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
		pushJsonbValue(ps, WJB_END_ARRAY, NULL);
		return;
	}
	deconstruct_array(array, ARR_ELEMTYPE(array), type->elmlen,
					  type->elmbyval, type->elmalign, &elems, &nulls, &nelems);
	push_array_dim(ps, 0, ARR_NDIM(array), ARR_DIMS(array), elems, nulls,
				   &next, type->element);
}

static void
push_composite(JsonbParseState **ps, Datum value)
{
	HeapTupleHeader header = DatumGetHeapTupleHeader(value);
	TupleDesc	tupdesc;
	HeapTupleData tuple;
	Datum	   *values;
	bool	   *nulls;
	int			i;

	tupdesc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(header),
									 HeapTupleHeaderGetTypMod(header));
	tuple.t_len = HeapTupleHeaderGetDatumLength(header);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = header;
	values = palloc(tupdesc->natts * sizeof(Datum));
	nulls = palloc(tupdesc->natts * sizeof(bool));
	heap_deform_tuple(&tuple, tupdesc, values, nulls);

	pushJsonbValue(ps, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		JsonbValue	key;
		ValueType	type;

		if (att->attisdropped)
			continue;
		set_string(&key, NameStr(att->attname), strlen(NameStr(att->attname)));
		pushJsonbValue(ps, WJB_KEY, &key);
		value_type_init(&type, att->atttypid);
		push_value(ps, WJB_VALUE, values[i], nulls[i], &type);
	}
	pushJsonbValue(ps, WJB_END_OBJECT, NULL);
	ReleaseTupleDesc(tupdesc);
}

/*
 * Fill *v with a value of a type without structure; false (and *v untouched)
 * for jsonb, json, arrays and composites.
 */
static bool
scalar_value(JsonbValue *v, Datum value, const ValueType *type)
{
	switch (type->kind)
	{
		case VK_BOOL:
			v->type = jbvBool;
			v->val.boolean = DatumGetBool(value);
			break;
		case VK_INT2:
			set_numeric(v, int64_to_numeric(DatumGetInt16(value)));
			break;
		case VK_INT4:
			set_numeric(v, int64_to_numeric(DatumGetInt32(value)));
			break;
		case VK_INT8:
			set_numeric(v, int64_to_numeric(DatumGetInt64(value)));
			break;
		case VK_FLOAT4:
			set_float(v, DatumGetFloat4(value), true);
			break;
		case VK_FLOAT8:
			set_float(v, DatumGetFloat8(value), false);
			break;
		case VK_NUMERIC:
			{
				Numeric		n = DatumGetNumeric(value);

				if (numeric_is_nan(n) || numeric_is_inf(n))
				{
					char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, value));

					set_string(v, s, strlen(s));
				}
				else
					set_numeric(v, n);
				break;
			}
		case VK_TEXT:
			{
				text	   *t = DatumGetTextPP(value);

				set_string(v, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				break;
			}
		case VK_JSONB:
		case VK_JSON:
		case VK_ARRAY:
		case VK_COMPOSITE:
			return false;
		case VK_BYTEA:
			{
				bytea	   *b = DatumGetByteaPP(value);
				int			len = VARSIZE_ANY_EXHDR(b);
				char	   *hex = palloc(2 + 2 * len);

				hex[0] = '\\';
				hex[1] = 'x';
				hex_encode(VARDATA_ANY(b), len, hex + 2);
				set_string(v, hex, 2 + 2 * len);
				break;
			}
		case VK_DATETIME:
			{
				char	   *buf = palloc(MAXDATELEN + 1);
				const int	utc = 0;

				JsonEncodeDateTime(buf, value, type->typid, &utc);
				set_string(v, buf, strlen(buf));
				break;
			}
		case VK_INTERVAL:
			{
				char	   *buf = palloc(MAXDATELEN + 1);

				fx_encode_interval(DatumGetIntervalP(value), INTSTYLE_POSTGRES, buf);
				set_string(v, buf, strlen(buf));
				break;
			}
		case VK_OTHER:
			{
				char	   *s = OutputFunctionCall((FmgrInfo *) &type->output, value);

				set_string(v, s, strlen(s));
				break;
			}
	}
	return true;
}

static void
push_value(JsonbParseState **ps, JsonbIteratorToken token, Datum value,
		   bool isnull, const ValueType *type)
{
	JsonbValue	v;

	if (isnull)
		v.type = jbvNull;
	else if (!scalar_value(&v, value, type))
	{
		switch (type->kind)
		{
			case VK_JSONB:
				push_jsonb(ps, token, DatumGetJsonbP(value));
				return;
			case VK_JSON:
				push_jsonb(ps, token,
						   DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
															  CStringGetDatum(TextDatumGetCString(value)))));
				return;
			case VK_ARRAY:
				push_array(ps, value, type);
				return;
			case VK_COMPOSITE:
				push_composite(ps, value);
				return;
			default:
				elog(ERROR, "unexpected value kind %d", (int) type->kind);
		}
	}
	pushJsonbValue(ps, token, &v);
}

/*
 * One column's value as a JsonbValue: scalars directly, anything with
 * structure through a parse state (one array element, taken out again).
 */
static void
column_value(JsonbValue *out, const AuditColumn *col, Datum value, bool isnull)
{
	JsonbParseState *ps = NULL;
	JsonbValue *array;

	if (isnull)
	{
		out->type = jbvNull;
		return;
	}
	if (scalar_value(out, value, &col->type))
		return;
	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	push_value(&ps, WJB_ELEM, value, false, &col->type);
	array = pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	*out = array->val.array.elems[0];
}

/* Start an object of at most n pairs. */
static void
object_begin(JsonbValue *object, int n)
{
	object->type = jbvObject;
	object->val.object.nPairs = 0;
	object->val.object.pairs = palloc(Max(n, 1) * sizeof(JsonbPair));
}

/* Add a column; columns must come in key order (AuditTable's lists). */
static void
object_add(JsonbValue *object, const AuditColumn *col, Datum value, bool isnull)
{
	JsonbPair  *pair = &object->val.object.pairs[object->val.object.nPairs];

	set_string(&pair->key, col->name, col->namelen);
	column_value(&pair->value, col, value, isnull);
	pair->order = object->val.object.nPairs++;
}

/* The columns cols[0..n-1] of the row in slot, as an object. */
static Jsonb *
columns_object(const AuditTable *table, const int *cols, int n,
			   TupleTableSlot *slot)
{
	JsonbValue	object;
	int			i;

	object_begin(&object, n);
	for (i = 0; i < n; i++)
		object_add(&object, &table->columns[cols[i]],
				   slot->tts_values[cols[i]], slot->tts_isnull[cols[i]]);
	return JsonbValueToJsonb(&object);
}

/* Every logged column of the row in slot. */
static Jsonb *
row_object(const AuditTable *table, TupleTableSlot *slot)
{
	return columns_object(table, table->logged, table->nlogged, slot);
}

/* The key of the row in slot; whole is row_object() of it if known. */
static Jsonb *
key_object(const AuditTable *table, TupleTableSlot *slot, Jsonb *whole)
{
	if (table->nkey == 0)
		return whole != NULL ? whole : row_object(table, slot);
	return columns_object(table, table->key, table->nkey, slot);
}

/*
 * Whether two stored values of a column are identical.  An unchanged TOASTed
 * value keeps its TOAST pointer through an UPDATE; comparing the pointers
 * avoids fetching both copies.
 */
static bool
same_value(Datum a, bool anull, Datum b, bool bnull, Form_pg_attribute att)
{
	if (anull || bnull)
		return anull == bnull;
	if (att->attlen == -1 &&
		VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(a)) &&
		VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(b)))
	{
		struct varatt_external pa;
		struct varatt_external pb;

		VARATT_EXTERNAL_GET_POINTER(pa, DatumGetPointer(a));
		VARATT_EXTERNAL_GET_POINTER(pb, DatumGetPointer(b));
		if (pa.va_valueid == pb.va_valueid &&
			pa.va_toastrelid == pb.va_toastrelid)
			return true;
	}
	return datum_image_eq(a, b, att->attbyval, att->attlen);
}

/* ----------------------------------------------------------------
 * The trigger
 * ----------------------------------------------------------------
 */

/* Start reading a transition table from its beginning, with our own pointer. */
static void
transition_rewind(Tuplestorestate *store)
{
	int			pointer = tuplestore_alloc_read_pointer(store, EXEC_FLAG_REWIND);

	tuplestore_select_read_pointer(store, pointer);
	tuplestore_rescan(store);
}

static void
log_inserts_or_deletes(AuditTable *table, TupleDesc tupdesc,
					   Tuplestorestate *store, bool insert)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext,
												 "feature_x audit row",
												 ALLOCSET_DEFAULT_SIZES);
	AuditWriter *writer = NULL;
	AuditEntry	entry;

	memset(&entry, 0, sizeof(entry));
	entry.action = insert ? "INSERT" : "DELETE";
	entry.table_name = table->table_name;

	transition_rewind(store);
	while (tuplestore_gettupleslot(store, true, false, slot))
	{
		MemoryContext oldcxt;
		Jsonb	   *row;

		if (writer == NULL)
			writer = audit_writer_begin();
		oldcxt = MemoryContextSwitchTo(rowcxt);
		slot_getallattrs(slot);
		row = row_object(table, slot);
		entry.row_key = key_object(table, slot, row);
		if (insert)
			entry.new_data = row;
		else
			entry.old_data = row;
		(void) audit_writer_append(writer, &entry);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(rowcxt);
	}
	if (writer != NULL)
		audit_writer_end(writer);
	MemoryContextDelete(rowcxt);
	ExecDropSingleTupleTableSlot(slot);
}

static void
log_updates(AuditTable *table, TupleDesc tupdesc, Tuplestorestate *oldstore,
			Tuplestorestate *newstore)
{
	TupleTableSlot *oldslot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);
	TupleTableSlot *newslot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext,
												 "feature_x audit row",
												 ALLOCSET_DEFAULT_SIZES);
	AuditWriter *writer = NULL;
	AuditEntry	entry;

	memset(&entry, 0, sizeof(entry));
	entry.action = "UPDATE";
	entry.table_name = table->table_name;

	/* Both tables hold the rows in the same order: old and new are pairs. */
	transition_rewind(oldstore);
	transition_rewind(newstore);
	while (tuplestore_gettupleslot(oldstore, true, false, oldslot))
	{
		MemoryContext oldcxt;
		JsonbValue	old_object;
		JsonbValue	new_object;
		JsonbParseState *excps = NULL;
		bool		changed = false;
		int			n;
		int			i;

		if (!tuplestore_gettupleslot(newstore, true, false, newslot))
			elog(ERROR, "transition tables of an UPDATE differ in length");

		oldcxt = MemoryContextSwitchTo(rowcxt);
		slot_getallattrs(oldslot);
		slot_getallattrs(newslot);

		object_begin(&old_object, table->nlogged);
		object_begin(&new_object, table->nlogged);
		for (n = 0; n < table->nlogged; n++)
		{
			i = table->logged[n];
			if (same_value(oldslot->tts_values[i], oldslot->tts_isnull[i],
						   newslot->tts_values[i], newslot->tts_isnull[i],
						   TupleDescAttr(tupdesc, i)))
				continue;
			changed = true;
			object_add(&old_object, &table->columns[i],
					   oldslot->tts_values[i], oldslot->tts_isnull[i]);
			object_add(&new_object, &table->columns[i],
					   newslot->tts_values[i], newslot->tts_isnull[i]);
		}
		for (i = 0; i < table->natts; i++)
		{
			const AuditColumn *col = &table->columns[i];
			JsonbValue	name;

			if (!col->excluded ||
				same_value(oldslot->tts_values[i], oldslot->tts_isnull[i],
						   newslot->tts_values[i], newslot->tts_isnull[i],
						   TupleDescAttr(tupdesc, i)))
				continue;
			changed = true;
			if (excps == NULL)
			{
				JsonbValue	key;

				pushJsonbValue(&excps, WJB_BEGIN_OBJECT, NULL);
				set_string(&key, "excluded_changed", strlen("excluded_changed"));
				pushJsonbValue(&excps, WJB_KEY, &key);
				pushJsonbValue(&excps, WJB_BEGIN_ARRAY, NULL);
			}
			set_string(&name, col->name, col->namelen);
			pushJsonbValue(&excps, WJB_ELEM, &name);
		}

		if (changed)
		{
			entry.old_data = JsonbValueToJsonb(&old_object);
			entry.new_data = JsonbValueToJsonb(&new_object);
			entry.details = NULL;
			if (excps != NULL)
			{
				pushJsonbValue(&excps, WJB_END_ARRAY, NULL);
				entry.details = JsonbValueToJsonb(pushJsonbValue(&excps, WJB_END_OBJECT, NULL));
			}
			entry.row_key = key_object(table, oldslot, NULL);
			if (writer == NULL)
			{
				/* The writer outlives the row's memory. */
				MemoryContextSwitchTo(oldcxt);
				writer = audit_writer_begin();
				MemoryContextSwitchTo(rowcxt);
			}
			(void) audit_writer_append(writer, &entry);
		}
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(rowcxt);
	}
	if (writer != NULL)
		audit_writer_end(writer);
	MemoryContextDelete(rowcxt);
	ExecDropSingleTupleTableSlot(oldslot);
	ExecDropSingleTupleTableSlot(newslot);
}

/*
 * feature_x.audit_trigger() RETURNS trigger
 *
 * Only for the triggers enable_audit() creates: AFTER, FOR EACH STATEMENT,
 * one event each, with transition tables for INSERT, UPDATE and DELETE.
 */
Datum
fx_audit_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TriggerEvent event;
	AuditTable *table;
	TupleDesc	tupdesc;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("feature_x.audit_trigger() must be called as a trigger")));
	event = trigdata->tg_event;
	if (!TRIGGER_FIRED_AFTER(event) || !TRIGGER_FIRED_FOR_STATEMENT(event) ||
		(TRIGGER_FIRED_BY_INSERT(event) && trigdata->tg_newtable == NULL) ||
		(TRIGGER_FIRED_BY_DELETE(event) && trigdata->tg_oldtable == NULL) ||
		(TRIGGER_FIRED_BY_UPDATE(event) &&
		 (trigdata->tg_oldtable == NULL || trigdata->tg_newtable == NULL)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("feature_x.audit_trigger() must be fired by the triggers of feature_x.enable_audit()"),
				 errhint("Use feature_x.enable_audit() to audit a table.")));

	table = audit_table_get(trigdata->tg_trigger, trigdata->tg_relation);
	tupdesc = RelationGetDescr(trigdata->tg_relation);

	if (TRIGGER_FIRED_BY_INSERT(event))
		log_inserts_or_deletes(table, tupdesc, trigdata->tg_newtable, true);
	else if (TRIGGER_FIRED_BY_DELETE(event))
		log_inserts_or_deletes(table, tupdesc, trigdata->tg_oldtable, false);
	else if (TRIGGER_FIRED_BY_UPDATE(event))
		log_updates(table, tupdesc, trigdata->tg_oldtable, trigdata->tg_newtable);
	else
	{
		AuditEntry	entry;

		memset(&entry, 0, sizeof(entry));
		entry.action = "TRUNCATE";
		entry.table_name = table->table_name;
		(void) audit_append(&entry);
	}

	return PointerGetDatum(NULL);
}
