/*-------------------------------------------------------------------------
 *
 * script.c
 *		Migration scripts: normalisation, checksums and statement splitting.
 *
 * A script is normalised before anything else looks at it: a leading UTF-8
 * byte order mark is dropped and CRLF / CR line ends become LF, so that the
 * same file checked out on Windows or Unix has one checksum.  The checksum is
 * the lower-case hex SHA-256 of the normalised text, computed with
 * PostgreSQL's own cryptohash implementation.
 *
 * Scripts are split with the server's raw parser.  That reports syntax errors
 * when a migration is registered rather than in the middle of a deploy, and
 * lets the runner refuse, with a useful message, statements that cannot run
 * inside the caller's transaction (CREATE INDEX CONCURRENTLY, VACUUM, ...).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/defrem.h"
#include "common/sha2.h"
#include "mb/pg_wchar.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/builtins.h"

#include "compat.h"
#include "ledger.h"

#define SHA256_HEX_LENGTH (PG_SHA256_DIGEST_LENGTH * 2)

PG_FUNCTION_INFO_V1(fx_migration_checksum);

/* What the error context callback needs to place an error in a script. */
typedef struct ScriptErrorContext
{
	const char *script;
	const char *version;
	const char *direction;		/* "up" or "down" */
} ScriptErrorContext;

/* Why a statement cannot run inside migrate(), or NULL if it can. */
typedef struct RefusedStatement
{
	const char *what;			/* statement as a user would name it */
	int			sqlstate;
	const char *hint;
} RefusedStatement;

static const char *const outside_migrate_hint =
"Run the statement outside migrate(), after the deploy has committed.";

/*
 * Drop a UTF-8 BOM and turn CRLF and lone CR into LF.  Returns a palloc'd
 * copy, also when nothing changed.
 */
char *
ledger_normalize_script(const char *script)
{
	StringInfoData buf;
	const char *p = script;
	const char *cr;

	if ((unsigned char) p[0] == 0xEF && (unsigned char) p[1] == 0xBB &&
		(unsigned char) p[2] == 0xBF)
		p += 3;

	initStringInfo(&buf);
	while ((cr = strchr(p, '\r')) != NULL)
	{
		appendBinaryStringInfo(&buf, p, cr - p);
		appendStringInfoChar(&buf, '\n');
		p = (cr[1] == '\n') ? cr + 2 : cr + 1;
	}
	appendStringInfoString(&buf, p);

	return buf.data;
}

/* Lower-case hex SHA-256 of an already normalised script. */
char *
ledger_checksum(const char *normalized_script)
{
	pg_cryptohash_ctx *ctx;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = palloc(SHA256_HEX_LENGTH + 1);
	int			i;

	ctx = pg_cryptohash_create(PG_SHA256);
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) normalized_script,
							 strlen(normalized_script)) < 0 ||
		fx_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
	{
		const char *reason = fx_cryptohash_error(ctx);

		pg_cryptohash_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256 checksum: %s", reason)));
	}
	pg_cryptohash_free(ctx);

	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + i * 2, 3, "%02x", digest[i]);

	return hex;
}

/*
 * feature_x.migration_checksum(script text) RETURNS text
 *
 * The checksum register_migration() stores, so that a deploy tool or CI job
 * can compare its migration files with the ledger.
 */
Datum
fx_migration_checksum(PG_FUNCTION_ARGS)
{
	char	   *script = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_TEXT_P(cstring_to_text(ledger_checksum(ledger_normalize_script(script))));
}

/*
 * The part of script an error shows, and the error's position in it.
 * Scripts can be megabytes long: beyond 2 * SCRIPT_EXCERPT_CHARS an error
 * shows SCRIPT_EXCERPT_CHARS characters around *position (1-based, in
 * characters, as error positions are), marked "..." where cut, rather than
 * sending the whole script to the client and into the server log.
 */
#define SCRIPT_EXCERPT_CHARS 1000

char *
ledger_script_excerpt(const char *script, int *position)
{
	int			len = strlen(script);
	int			first_char;
	int			start;
	int			end;

	if (len <= 2 * SCRIPT_EXCERPT_CHARS)
		return pstrdup(script);

	first_char = Max(*position - 1 - SCRIPT_EXCERPT_CHARS / 2, 0);
	start = pg_mbcharcliplen(script, len, first_char);
	end = start + pg_mbcharcliplen(script + start, len - start, SCRIPT_EXCERPT_CHARS);
	*position -= first_char;
	if (start > 0)
		*position += 3;
	return psprintf("%s%.*s%s", start > 0 ? "..." : "", end - start,
					script + start, end < len ? "..." : "");
}

/*
 * Report parser errors against the migration script rather than against the
 * statement that called register_migration() or migrate().
 */
static void
script_error_callback(void *arg)
{
	ScriptErrorContext *ctx = (ScriptErrorContext *) arg;
	int			position = geterrposition();

	if (position > 0)
	{
		char	   *excerpt = ledger_script_excerpt(ctx->script, &position);

		errposition(0);
		internalerrposition(position);
		internalerrquery(excerpt);
	}
	errcontext("%s script of migration \"%s\"", ctx->direction, ctx->version);
}

static bool
reindex_is_concurrent(ReindexStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->params)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, "concurrently") == 0 && defGetBoolean(opt))
			return true;
	}
	return false;
}

static bool
alter_table_detaches_concurrently(AlterTableStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if (cmd->subtype == AT_DetachPartition &&
			((PartitionCmd *) cmd->def)->concurrent)
			return true;
	}
	return false;
}

/*
 * Statements PostgreSQL refuses inside a transaction block or a function,
 * which is where every migration runs.  Catching them here gives the user a
 * message naming the statement and what to do instead of the server's
 * "cannot be executed from a function".
 */
static bool
statement_refused(Node *stmt, RefusedStatement *refusal)
{
	refusal->sqlstate = ERRCODE_ACTIVE_SQL_TRANSACTION;
	refusal->hint = outside_migrate_hint;

	switch (nodeTag(stmt))
	{
		case T_TransactionStmt:
			refusal->what = "transaction control";
			refusal->sqlstate = ERRCODE_INVALID_TRANSACTION_TERMINATION;
			refusal->hint = "Remove BEGIN, COMMIT, ROLLBACK and SAVEPOINT: migrate() already applies all pending migrations atomically in the caller's transaction.";
			return true;
		case T_IndexStmt:
			if (!((IndexStmt *) stmt)->concurrent)
				return false;
			refusal->what = "CREATE INDEX CONCURRENTLY";
			refusal->hint = "Use CREATE INDEX in the migration, or build the index with CREATE INDEX CONCURRENTLY before the deploy and write the migration as CREATE INDEX IF NOT EXISTS.";
			return true;
		case T_DropStmt:
			if (!((DropStmt *) stmt)->concurrent)
				return false;
			refusal->what = "DROP INDEX CONCURRENTLY";
			refusal->hint = "Use DROP INDEX in the migration, or drop the index concurrently after the deploy and write the migration as DROP INDEX IF EXISTS.";
			return true;
		case T_ReindexStmt:
			{
				ReindexStmt *reindex = (ReindexStmt *) stmt;

				if (reindex_is_concurrent(reindex))
					refusal->what = "REINDEX CONCURRENTLY";
				else if (reindex->kind == REINDEX_OBJECT_SYSTEM ||
						 reindex->kind == REINDEX_OBJECT_DATABASE)
					refusal->what = "REINDEX DATABASE/SYSTEM";
				else
					return false;
				return true;
			}
		case T_AlterTableStmt:
			if (!alter_table_detaches_concurrently((AlterTableStmt *) stmt))
				return false;
			refusal->what = "ALTER TABLE ... DETACH PARTITION CONCURRENTLY";
			return true;
		case T_VacuumStmt:
			if (!((VacuumStmt *) stmt)->is_vacuumcmd)
				return false;
			refusal->what = "VACUUM";
			return true;
		case T_ClusterStmt:
			if (((ClusterStmt *) stmt)->relation != NULL)
				return false;
			refusal->what = "CLUSTER without a table name";
			return true;
		case T_CreatedbStmt:
			refusal->what = "CREATE DATABASE";
			return true;
		case T_DropdbStmt:
			refusal->what = "DROP DATABASE";
			return true;
		case T_CreateTableSpaceStmt:
			refusal->what = "CREATE TABLESPACE";
			return true;
		case T_DropTableSpaceStmt:
			refusal->what = "DROP TABLESPACE";
			return true;
		case T_AlterSystemStmt:
			refusal->what = "ALTER SYSTEM";
			return true;
		case T_DiscardStmt:
			if (((DiscardStmt *) stmt)->target != DISCARD_ALL)
				return false;
			refusal->what = "DISCARD ALL";
			return true;
		case T_CopyStmt:
			if (((CopyStmt *) stmt)->filename != NULL)
				return false;
			refusal->what = "COPY FROM STDIN / TO STDOUT";
			refusal->sqlstate = ERRCODE_FEATURE_NOT_SUPPORTED;
			refusal->hint = "Load data with INSERT statements, or with COPY from a file on the server.";
			return true;
		default:
			return false;
	}
}

/*
 * Parse a normalised script into its statements, refusing syntax errors and
 * statements that cannot run inside migrate().  direction ("up" or "down")
 * and version only label errors.
 */
List *
ledger_split_script(const char *script, const char *version,
					const char *direction)
{
	ScriptErrorContext ctx = {script, version, direction};
	ErrorContextCallback errcallback;
	List	   *raw;
	List	   *statements = NIL;
	ListCell   *lc;
	size_t		script_len = strlen(script);

	errcallback.callback = script_error_callback;
	errcallback.arg = &ctx;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	raw = raw_parser(script, RAW_PARSE_DEFAULT);

	foreach(lc, raw)
	{
		RawStmt    *rawstmt = lfirst_node(RawStmt, lc);
		ScriptStatement *statement = palloc(sizeof(ScriptStatement));
		int			location = Max(rawstmt->stmt_location, 0);
		int			end = rawstmt->stmt_len > 0 ?
			location + rawstmt->stmt_len : (int) script_len;
		RefusedStatement refusal;

		/* Start at the statement, not at the white space before it. */
		while (location < end && isspace((unsigned char) script[location]))
			location++;

		if (statement_refused(rawstmt->stmt, &refusal))
			ereport(ERROR,
					(errcode(refusal.sqlstate),
					 errmsg("%s cannot run inside a migration", refusal.what),
					 errdetail("Statement %d of the %s script of migration \"%s\" cannot run inside a transaction block, and every migration runs inside the caller's transaction.",
							   foreach_current_index(lc) + 1, direction, version),
					 errhint("%s", refusal.hint),
					 errposition(pg_mbstrlen_with_len(script, location) + 1)));

		statement->sql = pnstrdup(script + location, end - location);
		statement->location = location;
		statements = lappend(statements, statement);
	}

	error_context_stack = errcallback.previous;

	return statements;
}
