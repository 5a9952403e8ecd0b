/*-------------------------------------------------------------------------
 *
 * feature_x.c
 *		Module entry point of feature_x.
 *
 * The library is loaded on first use of any of its functions; it needs no
 * shared_preload_libraries entry.  _PG_init only asks each capability to
 * register its GUCs and then reserves the "feature_x." prefix, so that a
 * misspelt setting is reported instead of silently becoming a placeholder.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "compat.h"
#include "feature_x.h"
#include "rbac/rbac.h"
#include "audit/audit.h"

PG_MODULE_MAGIC;

bool		fx_internal_ddl = false;

void		_PG_init(void);

void
_PG_init(void)
{
	ledger_init();
	actor_init();
	rbac_init();
	ddl_guard_init();
	durable_init();

	MarkGUCPrefixReserved("feature_x");
}
