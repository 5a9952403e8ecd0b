/*-------------------------------------------------------------------------
 *
 * rbac.h
 *		Internal interface of role-based access control.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEATURE_X_RBAC_H
#define FEATURE_X_RBAC_H

/* actor.c */
extern void actor_init(void);
extern const char *current_actor(void);

/* check.c */
extern void rbac_init(void);

#endif							/* FEATURE_X_RBAC_H */
