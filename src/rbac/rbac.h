/*-------------------------------------------------------------------------
 *
 * rbac.h
 *		Internal interface of role-based access control.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEATURE_X_RBAC_H
#define FEATURE_X_RBAC_H

/*
 * Longest user id, in characters, as the CHECK constraint on
 * feature_x.user_roles.user_id has it; actors are user ids too.
 */
#define RBAC_MAX_USER_ID_LENGTH 1024

/* actor.c */
extern void actor_init(void);
extern const char *current_actor(void);
extern bool user_id_too_long(const char *user_id, int len);

/* check.c */
extern void rbac_init(void);

#endif							/* FEATURE_X_RBAC_H */
