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

/* Per-capability initialisation, called once from _PG_init. */
extern void ledger_init(void);

#endif							/* FEATURE_X_H */
