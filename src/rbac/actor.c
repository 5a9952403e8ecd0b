/*-------------------------------------------------------------------------
 *
 * actor.c
 *		The actor: the application user on whose behalf a transaction runs.
 *
 * Applications behind a connection pool share database roles, so the user a
 * request acts for is set per transaction with feature_x.set_actor().  It is
 * kept in the GUC feature_x.actor, set with GUC_ACTION_LOCAL: it disappears
 * at commit or rollback (and with a rolled-back savepoint), so a pooled
 * connection never carries one request's user into the next.  The GUC is
 * PGC_SUSET, so ordinary roles cannot SET it session-wide and sidestep that;
 * set_actor() passes the superuser context itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "rbac.h"

/* Longest accepted actor, as for user ids in feature_x.user_roles. */
#define MAX_ACTOR_LENGTH 1024

static char *actor_setting = NULL;

PG_FUNCTION_INFO_V1(fx_set_actor);
PG_FUNCTION_INFO_V1(fx_current_actor);

void
actor_init(void)
{
	DefineCustomStringVariable("feature_x.actor",
							   "Application user of the current transaction; set it with feature_x.set_actor().",
							   NULL,
							   &actor_setting,
							   "",
							   PGC_SUSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE,
							   NULL, NULL, NULL);
}

/* The current actor, or NULL when none is set. */
const char *
current_actor(void)
{
	return (actor_setting != NULL && actor_setting[0] != '\0') ? actor_setting : NULL;
}

/* feature_x.set_actor(actor text) RETURNS void; NULL clears it. */
Datum
fx_set_actor(PG_FUNCTION_ARGS)
{
	const char *actor = "";

	if (!PG_ARGISNULL(0))
	{
		text	   *arg = PG_GETARG_TEXT_PP(0);
		int			len = VARSIZE_ANY_EXHDR(arg);

		if (len == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("actor must not be empty"),
					 errhint("Pass NULL to clear the actor of this transaction.")));
		if (len > MAX_ACTOR_LENGTH)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("actor is too long"),
					 errdetail("An actor is at most %d bytes; this one has %d.",
							   MAX_ACTOR_LENGTH, len)));
		actor = text_to_cstring(arg);
	}

	(void) set_config_option("feature_x.actor", actor,
							 PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	PG_RETURN_VOID();
}

/* feature_x.current_actor() RETURNS text */
Datum
fx_current_actor(PG_FUNCTION_ARGS)
{
	const char *actor = current_actor();

	if (actor == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(actor));
}
