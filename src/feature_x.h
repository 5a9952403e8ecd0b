/*-------------------------------------------------------------------------
 *
 * feature_x.h
 *		Declarations shared between feature_x's capabilities.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEATURE_X_H
#define FEATURE_X_H

/* Schema every object of the extension lives in (fixed by the control file). */
#define FEATURE_X_SCHEMA "feature_x"

/* Caller state saved while running as the owner of feature_x's tables. */
typedef struct OwnerAccess
{
	Oid			saved_userid;
	int			saved_sec_context;
	int			saved_nestlevel;
} OwnerAccess;

/* owner_access.c */
extern void owner_access_enter(OwnerAccess *access, const char *table);
extern void owner_access_exit(OwnerAccess *access);

/*
 * True while one of feature_x's own functions runs DDL on a user table (for
 * example enable_audit creating its triggers); the DDL guard lets such
 * commands through, as it does the statements of a migration.
 */
extern bool fx_internal_ddl;

/* ledger.c: whether migrate() or rollback() is running a script */
extern bool ledger_migration_running(void);

/* Per-capability initialisation, called once from _PG_init. */
extern void ledger_init(void);
extern void ddl_guard_init(void);

#endif							/* FEATURE_X_H */
