/*
 * relvec_catalog.h — catalog access shared by the adapter's SQL functions.
 */
#ifndef RELVEC_CATALOG_H
#define RELVEC_CATALOG_H

#include "relvec_pg.h"

/* What identifies a projection in SQL. */
typedef struct rvpg_projection_key
{
	const char *anchor_set;
	const char *space;
	const char *similarity;
	const char *center;
	bool		normalize;
} rvpg_projection_key;

/*
 * The prepared projection for key, owned by the backend cache (do not free it). *input_dims
 * gets the space's dimensions and *token a handle for rvpg_cached_projection: a later
 * lookup may evict the entry, so callers that keep it re-fetch it by token.
 */
extern rv_projection *rvpg_get_projection(const rvpg_projection_key *key, int *input_dims,
										  uint64 *token);

/* The projection handed out with token, or NULL once it has left the cache. */
extern rv_projection *rvpg_cached_projection(uint64 token);

#endif
