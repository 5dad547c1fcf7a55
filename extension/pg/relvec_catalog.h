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
 * row's version). Raises 42704 for an unknown set or space, 22023 when both spaces are the
 * same (a space is never translated into itself), 55000 "no translation fitted from space
 * "a" to space "b" in anchor set "s"" when none is stored, and 22000 when the stored row is
 * damaged. Uses SPI (connects itself).
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

/*
 * The name of the space an embedding argument is in (project.c): when named is NULL, its
 * tag's (an untagged x is 22023 naming call); else named, which x's tag must not
 * contradict (42804). palloc'd.
 */
extern char *rvpg_space_of_argument(const Embedding *x, const char *named, const char *call);

/*
 * The SHA-256 (hex, palloc'd) of the canonical form of an anchor set, its spaces and
 * anchors, and of the translation from_space -> to_space when both are given
 * (shardcatalog.c). 42704 for an unknown set or space, 55000 when no translation is
 * fitted, 22023 when only one space is given. Uses SPI (connects itself).
 */
extern char *rvpg_catalog_fingerprint(const char *anchor_set, const char *from_space,
									  const char *to_space);

/* The dimensions of a space (translate.c); 42704 if there is no such space. Uses SPI. */
extern int	rvpg_space_dims(const char *space);

/*
 * Changing the catalog (catalogwrite.c). The tables are writable only by their owner; a
 * function checks the caller's rights, then runs its own fixed statements as that owner
 * between rvpg_catalog_enter and rvpg_catalog_leave: search_path is pg_catalog, pg_temp
 * there, in a security-restricted operation. An error in between restores both.
 */
typedef struct rvpg_catalog_scope
{
	Oid			caller;			/* the role that called, the owner of what it creates */
	Oid			userid;			/* saved user id and security context */
	int			sec_context;
	int			guc_level;
} rvpg_catalog_scope;

extern void rvpg_catalog_enter(Oid catalog_owner, rvpg_catalog_scope *scope);
extern void rvpg_catalog_leave(const rvpg_catalog_scope *scope);

/* False in a database still at 0.1.0, whose catalog has no owners (the update adds them). */
extern bool rvpg_catalog_has_owners(Oid nsp);

/* The owner of relvec's catalog tables (the role that installed relvec). */
extern Oid	rvpg_catalog_owner(Oid nsp);

/* Raise 42501 "must be owner of <kind> "<name>"" unless the caller has owner's privileges. */
extern void rvpg_check_owner(Oid owner, const char *kind, const char *name);

/* The same for a translation, named by its set and spaces. */
extern void rvpg_check_translation_owner(Oid owner, const char *set_name, const char *from,
										 const char *to);

/*
 * Raise 42804 unless query is one statement returning rows of the shape "embedding" (one
 * embedding column) or "key_embedding" (key, embedding) (anchors.c). Needs SPI.
 */
extern void rvpg_check_query_shape(const char *query, const char *shape, Oid emb);

#endif
