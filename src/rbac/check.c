/*-------------------------------------------------------------------------
 *
 * check.c
 *		Permission checks and the per-backend permission cache.
 *
 * A check asks whether an application user holds a permission
 * ("resource:action") at a scope (a path such as "org:1/project:42", or NULL
 * for global).  The answer comes from three caches, all kept in one memory
 * context and always dropped together:
 *
 *	roles		role name -> the grant and deny rules of the role and of every
 *				role it inherits, flattened
 *	users		user id -> the user's assignments (role, scope, expiry)
 *	decisions	(user, permission, scope) -> allowed, and until when that
 *				answer holds (the earliest expiry among the user's
 *				assignments)
 *
 * Never stale.  Statement triggers on the RBAC tables call
 * CacheInvalidateRelcache() for the changed table.  PostgreSQL delivers that
 * invalidation transactionally: to the changing session at its next command,
 * to every other session (and, through WAL, to hot standbys) when the change
 * commits, and nowhere if it rolls back, in which case the changing session
 * processes it again on abort.  Our relcache callback drops the whole cache
 * when it sees one of the RBAC tables.  Expiry needs no invalidation: it is
 * compared with the statement's start time at every check.
 *
 * Bounded.  When the decision or user cache reaches
 * feature_x.rbac_cache_entries entries the cache is dropped and refills, so
 * memory stays below about that many decisions, users and all roles.
 *
 * Every check first processes pending invalidations (a cheap unlocked test
 * when there are none), so a change committed elsewhere is seen at the next
 * check even inside an open transaction.  Misses are read with a fresh
 * snapshot taken after that, never the statement's: an invalidation consumed
 * in the middle of a statement must not be followed by a reload from a
 * snapshot older than the change it announced.  Like catalog lookups, checks
 * therefore see the latest committed RBAC data at every isolation level.
 *
 * Cache misses read the RBAC tables through SPI as their owner (see
 * owner_access.c), so checks work for any caller, in parallel workers and on
 * hot standbys.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "feature_x.h"
#include "rbac.h"

/* Key of every cache: a byte string that need not be NUL-terminated. */
typedef struct CacheKey
{
	const char *data;
	Size		len;
} CacheKey;

/* One grant or deny; "*" in a segment matches anything. */
typedef struct Rule
{
	char	   *resource;
	char	   *action;
	bool		deny;
} Rule;

typedef struct RoleEntry
{
	CacheKey	key;			/* role name */
	int			nrules;
	Rule	   *rules;
} RoleEntry;

typedef struct Assignment
{
	RoleEntry  *role;
	char	   *scope;			/* NULL: global */
	Size		scope_len;
	TimestampTz expires_at;		/* DT_NOEND: never */
} Assignment;

typedef struct UserEntry
{
	CacheKey	key;			/* user id */
	int			nassignments;
	Assignment *assignments;
} UserEntry;

typedef struct Decision
{
	CacheKey	key;			/* user \0 permission \0 ('g' | 's' scope) */
	bool		allowed;
	TimestampTz valid_until;
} Decision;

/* A permission being checked, split at its colon. */
typedef struct Permission
{
	const char *resource;
	Size		resource_len;
	const char *action;
	Size		action_len;
} Permission;

/* The tables whose changes drop the cache. */
static const char *const rbac_tables[] = {
	"roles", "role_inheritance", "role_permissions", "user_roles"
};
#define USER_ROLES_TABLE 3
#define NUM_RBAC_TABLES lengthof(rbac_tables)

static MemoryContext cache_context = NULL;
static HTAB *role_cache = NULL;
static HTAB *user_cache = NULL;
static HTAB *decision_cache = NULL;
static bool cache_valid = false;
static uint64 cache_generation = 0;	/* bumped whenever the cache is rebuilt */
static Oid	rbac_relids[NUM_RBAC_TABLES];

/* Miss queries, prepared once per backend (the plan cache revalidates them). */
static SPIPlanPtr role_rules_plan = NULL;
static SPIPlanPtr user_assignments_plan = NULL;

/* Reused to build decision keys without allocating per check. */
static StringInfoData decision_key;

static int	rbac_cache_entries = 100000;

PG_FUNCTION_INFO_V1(fx_has_permission);
PG_FUNCTION_INFO_V1(fx_actor_has_permission);
PG_FUNCTION_INFO_V1(fx_require_permission);
PG_FUNCTION_INFO_V1(fx_permission_matches);
PG_FUNCTION_INFO_V1(fx_rbac_changed);

/* ----------------------------------------------------------------
 * Cache management
 * ----------------------------------------------------------------
 */

static uint32
cache_key_hash(const void *key, Size keysize)
{
	const CacheKey *k = (const CacheKey *) key;

	return hash_bytes((const unsigned char *) k->data, (int) k->len);
}

static int
cache_key_match(const void *a, const void *b, Size keysize)
{
	const CacheKey *ka = (const CacheKey *) a;
	const CacheKey *kb = (const CacheKey *) b;

	return !(ka->len == kb->len && memcmp(ka->data, kb->data, ka->len) == 0);
}

static HTAB *
cache_create(const char *name, Size entrysize)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(CacheKey);
	ctl.entrysize = entrysize;
	ctl.hash = cache_key_hash;
	ctl.match = cache_key_match;
	ctl.hcxt = cache_context;
	return hash_create(name, 1024, &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

/* Enter key into cache; a new entry gets its own copy of the key bytes. */
static void *
cache_enter(HTAB *cache, const char *data, Size len, bool *found)
{
	CacheKey	key = {data, len};
	CacheKey   *entry = hash_search(cache, &key, HASH_ENTER, found);

	if (!*found)
	{
		char	   *copy = MemoryContextAlloc(cache_context, len + 1);

		memcpy(copy, data, len);
		copy[len] = '\0';
		entry->data = copy;
	}
	return entry;
}

static void
rbac_relcache_callback(Datum arg, Oid relid)
{
	int			i;

	if (!OidIsValid(relid))
	{
		cache_valid = false;
		return;
	}
	for (i = 0; i < NUM_RBAC_TABLES; i++)
		if (rbac_relids[i] == relid)
			cache_valid = false;
}

/*
 * Make the cache usable: (re)build it when an invalidation dropped it or it
 * reached its size bound.  Must only be called at the start of a check, as
 * it frees every entry.
 */
static void
rbac_cache_ensure(void)
{
	Oid			namespace;
	int			i;

	if (cache_valid &&
		hash_get_num_entries(decision_cache) < rbac_cache_entries &&
		hash_get_num_entries(user_cache) < rbac_cache_entries)
		return;

	if (cache_context == NULL)
		cache_context = AllocSetContextCreate(CacheMemoryContext,
											  "feature_x RBAC cache",
											  ALLOCSET_DEFAULT_SIZES);
	else
		MemoryContextReset(cache_context);

	cache_generation++;
	role_cache = cache_create("feature_x RBAC roles", sizeof(RoleEntry));
	user_cache = cache_create("feature_x RBAC users", sizeof(UserEntry));
	decision_cache = cache_create("feature_x RBAC decisions", sizeof(Decision));

	/* An invalidation arriving during the lookups below wins. */
	cache_valid = true;
	namespace = get_namespace_oid(FEATURE_X_SCHEMA, false);
	for (i = 0; i < NUM_RBAC_TABLES; i++)
		rbac_relids[i] = get_relname_relid(rbac_tables[i], namespace);
}

void
rbac_init(void)
{
	DefineCustomIntVariable("feature_x.rbac_cache_entries",
							"Maximum number of permission decisions (and of users) cached per session.",
							"When either cache reaches it, the whole permission cache is dropped and refills.",
							&rbac_cache_entries,
							100000,
							100, INT_MAX / 2,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	CacheRegisterRelcacheCallback(rbac_relcache_callback, (Datum) 0);

	{
		MemoryContext oldcontext = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&decision_key);
		MemoryContextSwitchTo(oldcontext);
	}
}

/* ----------------------------------------------------------------
 * Loading from the RBAC tables
 * ----------------------------------------------------------------
 */

/* Split "resource:action"; false if that is not its shape. */
static bool
split_permission(const char *text, Size len, Permission *permission)
{
	const char *colon = memchr(text, ':', len);

	if (colon == NULL || colon == text || colon == text + len - 1 ||
		memchr(colon + 1, ':', text + len - colon - 1) != NULL)
		return false;
	permission->resource = text;
	permission->resource_len = colon - text;
	permission->action = colon + 1;
	permission->action_len = text + len - colon - 1;
	return true;
}

/*
 * Parse a permission pattern into rule, copying its segments into context.
 * "*" alone stands for "*:*".  False if the pattern has neither shape.
 */
static bool
parse_rule(const char *pattern, bool deny, Rule *rule, MemoryContext context)
{
	Permission	parts;

	rule->deny = deny;
	if (strcmp(pattern, "*") == 0)
	{
		rule->resource = "*";
		rule->action = "*";
		return true;
	}
	if (!split_permission(pattern, strlen(pattern), &parts))
		return false;
	rule->resource = MemoryContextAlloc(context, parts.resource_len + 1);
	memcpy(rule->resource, parts.resource, parts.resource_len);
	rule->resource[parts.resource_len] = '\0';
	rule->action = MemoryContextAlloc(context, parts.action_len + 1);
	memcpy(rule->action, parts.action, parts.action_len);
	rule->action[parts.action_len] = '\0';
	return true;
}

static bool
segment_matches(const char *pattern, const char *value, Size value_len)
{
	return (pattern[0] == '*' && pattern[1] == '\0') ||
		(strncmp(pattern, value, value_len) == 0 && pattern[value_len] == '\0');
}

static bool
rule_matches(const Rule *rule, const Permission *permission)
{
	return segment_matches(rule->resource, permission->resource, permission->resource_len) &&
		segment_matches(rule->action, permission->action, permission->action_len);
}

/* Prepare and keep a miss query; the caller is connected to SPI as owner. */
static SPIPlanPtr
saved_plan(SPIPlanPtr *plan, const char *sql)
{
	Oid			argtypes[1] = {TEXTOID};

	if (*plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare(sql, 1, argtypes);

		if (prepared == NULL || SPI_keepplan(prepared) != 0)
			elog(ERROR, "could not prepare RBAC query: %s",
				 SPI_result_code_string(SPI_result));
		*plan = prepared;
	}
	return *plan;
}

/* Run a miss query with one text argument under snapshot. */
static void
run_miss_query(SPIPlanPtr *plan, const char *sql, const char *arg, Size arg_len,
			   Snapshot snapshot)
{
	Datum		values[1] = {PointerGetDatum(cstring_to_text_with_len(arg, arg_len))};

	if (SPI_execute_snapshot(saved_plan(plan, sql), values, NULL,
							 snapshot, InvalidSnapshot, true, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read RBAC data");
}

/*
 * The flattened rules of a role; the caller is connected to SPI as owner
 * and passes the snapshot of the current miss.
 */
static RoleEntry *
role_lookup(const char *name, Snapshot snapshot)
{
	RoleEntry  *entry;
	bool		found;
	uint64		i;

	entry = hash_search(role_cache, &(CacheKey) {name, strlen(name)}, HASH_FIND, NULL);
	if (entry != NULL)
		return entry;

	run_miss_query(&role_rules_plan,
				   "WITH RECURSIVE closure(role) AS ("
				   "  SELECT $1"
				   "  UNION"
				   "  SELECT i.inherits FROM feature_x.role_inheritance i"
				   "    JOIN closure c ON i.role = c.role)"
				   " SELECT rp.permission, rp.effect = 'deny'"
				   "   FROM feature_x.role_permissions rp"
				   "   JOIN closure c ON rp.role = c.role",
				   name, strlen(name), snapshot);

	entry = cache_enter(role_cache, name, strlen(name), &found);
	entry->nrules = 0;
	entry->rules = MemoryContextAlloc(cache_context, sizeof(Rule) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		char	   *pattern = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		bool		deny = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i],
													  SPI_tuptable->tupdesc, 2, &isnull));

		/* The table's CHECK constraint admits only patterns parse_rule takes. */
		if (parse_rule(pattern, deny, &entry->rules[entry->nrules], cache_context))
			entry->nrules++;
	}
	return entry;
}

/* A user's assignments, loading them on a miss. */
static UserEntry *
user_lookup(const char *user_id, Size len)
{
	UserEntry  *entry;
	OwnerAccess access;
	Snapshot	snapshot;
	Assignment *assignments;
	int			count;
	bool		found;
	int			i;

	entry = hash_search(user_cache, &(CacheKey) {user_id, len}, HASH_FIND, NULL);
	if (entry != NULL)
		return entry;

	SPI_connect();
	owner_access_enter(&access, "user_roles");

	/*
	 * For a table without a syscache this is a new snapshot every time,
	 * usable in parallel workers too.  Registered, because an invalidation
	 * processed during the queries replaces the catalog snapshot.
	 */
	snapshot = RegisterSnapshot(GetCatalogSnapshot(rbac_relids[USER_ROLES_TABLE]));
	run_miss_query(&user_assignments_plan,
				   "SELECT role, scope, expires_at"
				   "  FROM feature_x.user_roles WHERE user_id = $1",
				   user_id, len, snapshot);

	count = (int) SPI_processed;
	assignments = MemoryContextAlloc(cache_context, sizeof(Assignment) * Max(count, 1));
	{
		SPITupleTable *tuptable = SPI_tuptable;

		for (i = 0; i < count; i++)
		{
			HeapTuple	tuple = tuptable->vals[i];
			bool		isnull;
			Datum		expires;
			char	   *scope = SPI_getvalue(tuple, tuptable->tupdesc, 2);

			expires = SPI_getbinval(tuple, tuptable->tupdesc, 3, &isnull);
			assignments[i].expires_at = isnull ? DT_NOEND : DatumGetTimestampTz(expires);
			assignments[i].scope = scope ? MemoryContextStrdup(cache_context, scope) : NULL;
			assignments[i].scope_len = scope ? strlen(scope) : 0;
			/* role_lookup runs queries of its own, replacing SPI_tuptable. */
			assignments[i].role = role_lookup(SPI_getvalue(tuple, tuptable->tupdesc, 1),
											  snapshot);
		}
	}

	UnregisterSnapshot(snapshot);
	owner_access_exit(&access);
	SPI_finish();

	entry = cache_enter(user_cache, user_id, len, &found);
	entry->nassignments = count;
	entry->assignments = assignments;
	return entry;
}

/* ----------------------------------------------------------------
 * Deciding
 * ----------------------------------------------------------------
 */

/* Does an assignment at assigned_scope (NULL: global) cover scope? */
static bool
scope_covers(const Assignment *assignment, const char *scope, Size scope_len)
{
	if (assignment->scope == NULL)
		return true;
	if (scope == NULL || scope_len < assignment->scope_len ||
		memcmp(scope, assignment->scope, assignment->scope_len) != 0)
		return false;
	return scope_len == assignment->scope_len || scope[assignment->scope_len] == '/';
}

/*
 * Deny overrides allow; expired assignments count for nothing.  *valid_until
 * becomes the time at which an assignment that counted expires.
 */
static bool
decide(UserEntry *user, const Permission *permission,
	   const char *scope, Size scope_len, TimestampTz now,
	   TimestampTz *valid_until)
{
	bool		allowed = false;
	int			i;

	*valid_until = DT_NOEND;
	for (i = 0; i < user->nassignments; i++)
	{
		Assignment *assignment = &user->assignments[i];
		int			r;

		if (assignment->expires_at <= now)
			continue;
		if (assignment->expires_at < *valid_until)
			*valid_until = assignment->expires_at;
		if (!scope_covers(assignment, scope, scope_len))
			continue;
		for (r = 0; r < assignment->role->nrules; r++)
		{
			const Rule *rule = &assignment->role->rules[r];

			if (rule_matches(rule, permission))
			{
				if (rule->deny)
					return false;
				allowed = true;
			}
		}
	}
	return allowed;
}

/*
 * Whether a checked scope has the shape the CHECK constraint on
 * user_roles.scope requires of assigned ones: non-empty segments separated
 * by "/", without white space or control characters.  Malformed scopes are
 * never covered: "org:1/" or "org:1//x" would otherwise pass for paths
 * below org:1.
 */
static bool
scope_is_valid(const char *scope, Size len)
{
	Size		i;

	if (len == 0 || scope[0] == '/' || scope[len - 1] == '/')
		return false;
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) scope[i];

		if (c <= ' ' || c == 0x7f || (c == '/' && scope[i + 1] == '/'))
			return false;
	}
	return true;
}

/*
 * The check behind every SQL entry point.  scope may be NULL (global).
 * Never raises an error for unknown or malformed input: that is just false.
 */
static bool
rbac_check(const char *user_id, Size user_len,
		   const char *permission_text, Size permission_len,
		   const char *scope, Size scope_len, TimestampTz *valid_until)
{
	TimestampTz now = GetCurrentStatementStartTimestamp();
	Permission	permission;
	Decision   *decision;
	UserEntry  *user;
	bool		found;

	*valid_until = DT_NOEND;

	/*
	 * No such user can hold anything; refusing here also keeps absurd keys
	 * (a 10 MB "user id") out of the cache.
	 */
	if (user_len == 0 || user_id_too_long(user_id, (int) user_len) ||
		!split_permission(permission_text, permission_len, &permission) ||
		(scope != NULL && !scope_is_valid(scope, scope_len)))
		return false;

	AcceptInvalidationMessages();
	rbac_cache_ensure();

	resetStringInfo(&decision_key);
	appendBinaryStringInfo(&decision_key, user_id, user_len);
	appendStringInfoChar(&decision_key, '\0');
	appendBinaryStringInfo(&decision_key, permission_text, permission_len);
	appendStringInfoChar(&decision_key, '\0');
	if (scope == NULL)
		appendStringInfoChar(&decision_key, 'g');
	else
	{
		appendStringInfoChar(&decision_key, 's');
		appendBinaryStringInfo(&decision_key, scope, scope_len);
	}

	decision = hash_search(decision_cache,
						   &(CacheKey) {decision_key.data, decision_key.len},
						   HASH_FIND, NULL);
	if (decision != NULL && now < decision->valid_until)
	{
		*valid_until = decision->valid_until;
		return decision->allowed;
	}

	/* Missing or expired: decide from the user's assignments. */
	user = user_lookup(user_id, user_len);
	if (decision == NULL)
	{
		decision = cache_enter(decision_cache, decision_key.data, decision_key.len, &found);
		Assert(!found);
	}
	decision->allowed = decide(user, &permission, scope, scope_len, now,
							   &decision->valid_until);
	*valid_until = decision->valid_until;
	return decision->allowed;
}

/*
 * Per-call-site memo of actor_has_permission(): in a row-level security
 * policy the actor and the permission are the same for every row of a
 * statement and only the scope varies, so the answers are kept per scope in
 * fn_extra.  A rebuilt cache (invalidation, size bound), another actor or
 * another permission empties it.
 */
#define SCOPE_MEMO_INITIAL_SLOTS 64	/* powers of two */
#define SCOPE_MEMO_MAX_SLOTS 8192

typedef struct ScopeMemoSlot
{
	char	   *scope;			/* NULL: free slot */
	Size		scope_len;
	uint32		hash;
	bool		allowed;
	TimestampTz valid_until;
} ScopeMemoSlot;

typedef struct ScopeMemo
{
	TimestampTz statement_start;	/* statement the memo last served */
	uint64		generation;
	char	   *actor;
	char	   *permission;
	Size		permission_len;
	int			used;
	bool		global_known;	/* answer for a NULL scope */
	bool		global_allowed;
	TimestampTz global_valid_until;
	int			nslots;			/* grows while statements see more scopes */
	ScopeMemoSlot *slots;
} ScopeMemo;

static void
scope_memo_reset(ScopeMemo *memo, MemoryContext context, const char *actor,
				 const char *permission, Size permission_len)
{
	int			i;

	for (i = 0; i < memo->nslots; i++)
		if (memo->slots[i].scope != NULL)
		{
			pfree(memo->slots[i].scope);
			memo->slots[i].scope = NULL;
		}
	if (memo->actor != NULL)
		pfree(memo->actor);
	if (memo->permission != NULL)
		pfree(memo->permission);
	memo->actor = MemoryContextStrdup(context, actor);
	memo->permission = MemoryContextAlloc(context, permission_len + 1);
	memcpy(memo->permission, permission, permission_len);
	memo->permission_len = permission_len;
	memo->generation = cache_generation;
	memo->used = 0;
	memo->global_known = false;
}

/* Open addressing with linear probing: the slot of scope, or a free one. */
static ScopeMemoSlot *
scope_memo_probe(ScopeMemoSlot *slots, int nslots, const char *scope,
				 Size scope_len, uint32 hash)
{
	ScopeMemoSlot *slot = &slots[hash & (nslots - 1)];

	while (slot->scope != NULL &&
		   !(slot->hash == hash && slot->scope_len == scope_len &&
			 memcmp(slot->scope, scope, scope_len) == 0))
		slot = (slot == &slots[nslots - 1]) ? slots : slot + 1;
	return slot;
}

/* Double the table when it is 3/4 full; false once it may not grow. */
static bool
scope_memo_make_room(ScopeMemo *memo, MemoryContext context)
{
	ScopeMemoSlot *old_slots = memo->slots;
	int			old_nslots = memo->nslots;
	int			i;

	if (memo->used < memo->nslots * 3 / 4)
		return true;
	if (memo->nslots >= SCOPE_MEMO_MAX_SLOTS)
		return false;

	memo->nslots *= 2;
	memo->slots = MemoryContextAllocZero(context, sizeof(ScopeMemoSlot) * memo->nslots);
	for (i = 0; i < old_nslots; i++)
		if (old_slots[i].scope != NULL)
			*scope_memo_probe(memo->slots, memo->nslots, old_slots[i].scope,
							  old_slots[i].scope_len, old_slots[i].hash) = old_slots[i];
	pfree(old_slots);
	return true;
}

static bool
actor_check_memoized(FmgrInfo *flinfo, const char *actor,
					 const char *permission, Size permission_len,
					 const char *scope, Size scope_len)
{
	ScopeMemo  *memo = (ScopeMemo *) flinfo->fn_extra;
	TimestampTz now = GetCurrentStatementStartTimestamp();
	ScopeMemoSlot *slot;
	uint32		hash;
	bool		allowed;
	TimestampTz valid_until;

	/*
	 * Take in changes committed elsewhere once per statement, at its first
	 * row (fn_extra can outlive a statement: PL/pgSQL keeps expression state
	 * for the whole transaction).  Size bounds are enforced where
	 * rbac_check() adds entries.
	 */
	if (memo == NULL)
	{
		flinfo->fn_extra = memo = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(ScopeMemo));
		memo->nslots = SCOPE_MEMO_INITIAL_SLOTS;
		memo->slots = MemoryContextAllocZero(flinfo->fn_mcxt,
											 sizeof(ScopeMemoSlot) * memo->nslots);
	}
	if (memo->statement_start != now)
	{
		AcceptInvalidationMessages();
		memo->statement_start = now;
	}
	if (!cache_valid)
		rbac_cache_ensure();
	if (memo->generation != cache_generation ||
		memo->permission_len != permission_len ||
		memcmp(memo->permission, permission, permission_len) != 0 ||
		strcmp(memo->actor, actor) != 0)
		scope_memo_reset(memo, flinfo->fn_mcxt, actor, permission, permission_len);

	if (scope == NULL)
	{
		if (!memo->global_known || now >= memo->global_valid_until)
		{
			memo->global_allowed = rbac_check(actor, strlen(actor), permission,
											  permission_len, NULL, 0,
											  &memo->global_valid_until);
			memo->global_known = true;
		}
		return memo->global_allowed;
	}

	hash = hash_bytes((const unsigned char *) scope, (int) scope_len);
	slot = scope_memo_probe(memo->slots, memo->nslots, scope, scope_len, hash);
	if (slot->scope != NULL && now < slot->valid_until)
		return slot->allowed;

	allowed = rbac_check(actor, strlen(actor), permission, permission_len,
						 scope, scope_len, &valid_until);
	if (slot->scope != NULL)
	{
		/* An answer that expired: refresh it in place. */
		slot->allowed = allowed;
		slot->valid_until = valid_until;
	}
	else if (memo->generation == cache_generation &&
			 scope_memo_make_room(memo, flinfo->fn_mcxt))
	{
		slot = scope_memo_probe(memo->slots, memo->nslots, scope, scope_len, hash);
		slot->scope = MemoryContextAlloc(flinfo->fn_mcxt, scope_len);
		memcpy(slot->scope, scope, scope_len);
		slot->scope_len = scope_len;
		slot->hash = hash;
		slot->allowed = allowed;
		slot->valid_until = valid_until;
		memo->used++;
	}
	return allowed;
}

/* scope argument n, or NULL/0 for a global check. */
static const char *
scope_arg(FunctionCallInfo fcinfo, int n, Size *len)
{
	text	   *scope;

	if (PG_NARGS() <= n || PG_ARGISNULL(n))
	{
		*len = 0;
		return NULL;
	}
	scope = PG_GETARG_TEXT_PP(n);
	*len = VARSIZE_ANY_EXHDR(scope);
	return VARDATA_ANY(scope);
}

/*
 * A copy of an argument for an error message: the first
 * DISPLAY_MAX_CHARACTERS characters, "..." marking a cut, so that a huge
 * argument does not end up whole in the client's message and the server log.
 */
#define DISPLAY_MAX_CHARACTERS 100

static char *
display_value(const char *data, Size len)
{
	int			cut = pg_mbcharcliplen(data, (int) len, DISPLAY_MAX_CHARACTERS);

	if (cut == (int) len)
		return pnstrdup(data, len);
	return psprintf("%s...", pnstrdup(data, cut));
}

/* ----------------------------------------------------------------
 * SQL-callable functions
 * ----------------------------------------------------------------
 */

/* feature_x.has_permission(user_id text, permission text, scope text) */
Datum
fx_has_permission(PG_FUNCTION_ARGS)
{
	text	   *user_id;
	text	   *permission;
	const char *scope;
	Size		scope_len;
	TimestampTz valid_until;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	user_id = PG_GETARG_TEXT_PP(0);
	permission = PG_GETARG_TEXT_PP(1);
	scope = scope_arg(fcinfo, 2, &scope_len);
	PG_RETURN_BOOL(rbac_check(VARDATA_ANY(user_id), VARSIZE_ANY_EXHDR(user_id),
							  VARDATA_ANY(permission), VARSIZE_ANY_EXHDR(permission),
							  scope, scope_len, &valid_until));
}

/* feature_x.actor_has_permission(permission text, scope text) */
Datum
fx_actor_has_permission(PG_FUNCTION_ARGS)
{
	const char *actor = current_actor();
	text	   *permission;
	const char *scope;
	Size		scope_len;

	if (actor == NULL || PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	permission = PG_GETARG_TEXT_PP(0);
	scope = scope_arg(fcinfo, 1, &scope_len);
	PG_RETURN_BOOL(actor_check_memoized(fcinfo->flinfo, actor,
										VARDATA_ANY(permission), VARSIZE_ANY_EXHDR(permission),
										scope, scope_len));
}

/* feature_x.require_permission(user_id text, permission text, scope text) */
Datum
fx_require_permission(PG_FUNCTION_ARGS)
{
	text	   *user_arg;
	text	   *permission_arg;
	const char *scope;
	Size		scope_len;
	TimestampTz valid_until;
	char	   *user_id;
	char	   *permission;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("user_id and permission must not be null")));

	user_arg = PG_GETARG_TEXT_PP(0);
	permission_arg = PG_GETARG_TEXT_PP(1);
	scope = scope_arg(fcinfo, 2, &scope_len);
	if (user_id_too_long(VARDATA_ANY(user_arg), VARSIZE_ANY_EXHDR(user_arg)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("user_id is too long"),
				 errdetail("A user id is at most %d characters.", RBAC_MAX_USER_ID_LENGTH)));
	if (rbac_check(VARDATA_ANY(user_arg), VARSIZE_ANY_EXHDR(user_arg),
				   VARDATA_ANY(permission_arg), VARSIZE_ANY_EXHDR(permission_arg),
				   scope, scope_len, &valid_until))
		PG_RETURN_VOID();

	user_id = text_to_cstring(user_arg);
	permission = display_value(VARDATA_ANY(permission_arg), VARSIZE_ANY_EXHDR(permission_arg));
	if (scope == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("user \"%s\" does not have permission \"%s\"", user_id, permission),
				 errdetail("No role assigned to the user grants it globally, or one denies it."),
				 errhint("feature_x.explain_permission() shows how the decision was reached.")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("user \"%s\" does not have permission \"%s\" at scope \"%s\"",
					user_id, permission, display_value(scope, scope_len)),
			 errdetail("No role assigned to the user at this scope or above grants it, or one denies it."),
			 errhint("feature_x.explain_permission() shows how the decision was reached.")));
	PG_RETURN_VOID();			/* not reached */
}

/* feature_x.permission_matches(pattern text, permission text) */
Datum
fx_permission_matches(PG_FUNCTION_ARGS)
{
	char	   *pattern = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *checked = PG_GETARG_TEXT_PP(1);
	Permission	permission;
	Rule		rule;

	PG_RETURN_BOOL(split_permission(VARDATA_ANY(checked), VARSIZE_ANY_EXHDR(checked),
									&permission) &&
				   parse_rule(pattern, false, &rule, CurrentMemoryContext) &&
				   rule_matches(&rule, &permission));
}

/* Statement trigger on the RBAC tables: drop every session's cache. */
Datum
fx_rbac_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("rbac_changed() must be called as a trigger")));

	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
