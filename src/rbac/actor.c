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
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "rbac.h"

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

/*
 * Whether a user id of len bytes has more than RBAC_MAX_USER_ID_LENGTH
 * characters.  Counting characters is linear, so the byte length settles it
 * first wherever it can.
 */
bool
user_id_too_long(const char *user_id, int len)
{
	if (len <= RBAC_MAX_USER_ID_LENGTH)
		return false;
	if (len > RBAC_MAX_USER_ID_LENGTH * pg_database_encoding_max_length())
		return true;
	return pg_mbstrlen_with_len(user_id, len) > RBAC_MAX_USER_ID_LENGTH;
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
		if (user_id_too_long(VARDATA_ANY(arg), len))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("actor is too long"),
					 errdetail("An actor is a user id, at most %d characters; this one has %d.",
							   RBAC_MAX_USER_ID_LENGTH,
							   pg_mbstrlen_with_len(VARDATA_ANY(arg), len))));
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
