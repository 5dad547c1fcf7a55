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

/*
 * The translation fitted on anchor_set from from_space to to_space (translate.c), owned by
 * the backend cache: do not free it, and do not keep it past the next rvpg_get_translation
 * call, which may evict it. Re-fitting is seen at once (entries are keyed by the stored
 * row's version). Raises 42704 for an unknown set or space, 55000 "no translation fitted
 * from space "a" to space "b" in anchor set "s"" when none is stored, and 22000 when the
 * stored row is damaged. Uses SPI (connects itself).
 */
extern rv_translation *rvpg_get_translation(const char *anchor_set, const char *from_space,
											const char *to_space);

/* The quoted name of relvec's schema, to qualify catalog tables (catalog.c). Needs SPI. */
extern char *rvpg_catalog_schema(void);

/* Run sql (one $1 text parameter: name); true when it returns exactly one row. Needs SPI. */
extern bool rvpg_catalog_row(const char *sql, const char *name);

/*
 * The nkeys x dims anchors of (set, space) in the set's order, allocated in mcxt; 55000 when
 * the space has none or not all of them (catalog.c). Needs SPI.
 */
extern float *rvpg_load_anchors(const char *schema, const char *anchor_set, int set_id, int nkeys,
								const char *space, int space_id, int dims, MemoryContext mcxt);

/* The dimensions of a space (translate.c); 42704 if there is no such space. Uses SPI. */
extern int	rvpg_space_dims(const char *space);

#endif
