/*-------------------------------------------------------------------------
 *
 * ledger.h
 *		Internal interface of the migration ledger.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEATURE_X_LEDGER_H
#define FEATURE_X_LEDGER_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

/* Longest accepted migration version, in bytes. */
#define LEDGER_MAX_VERSION_LENGTH 255

/* One statement of a migration script, ready for SPI. */
typedef struct ScriptStatement
{
	char	   *sql;			/* text of this statement alone */
	int			location;		/* byte offset of sql within the script */
} ScriptStatement;

/* ledger.c: the deploy lock, held by every writer of the ledger */
extern void acquire_deploy_lock(void);

/* version.c */
extern void ledger_validate_version(const char *version);
extern void ledger_version_sort_key(const char *version, StringInfo key);
extern int	ledger_sort_key_cmp(const StringInfoData *a, const StringInfoData *b);
extern int	ledger_version_cmp(const char *a, const char *b);

/* script.c */
extern char *ledger_normalize_script(const char *script);
extern char *ledger_checksum(const char *normalized_script);
extern char *ledger_script_excerpt(const char *script, int *position);
extern List *ledger_split_script(const char *script, const char *version,
								 const char *direction);

#endif							/* FEATURE_X_LEDGER_H */
