/*
 * catalog.c — reading relvec's catalog (spaces, anchor sets, parallel anchors) from C, and
 * the per-backend cache of prepared projections. A frozen anchor set never changes, so a
 * prepared anchor matrix stays valid for as long as the set and the space keep their ids
 * (a dropped and re-created set gets a new id) and the space mean its version; the cache
 * key holds all of them. Entries live in the bridge's long-lived memory and the least
 * recently used one is dropped when the cache is full.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "relvec_pg.h"
#include "relvec_catalog.h"

#define PROJ_CACHE_SIZE 16

typedef struct proj_entry
{
	bool		used;
	int			set_id;
	int			space_id;
	int			mean_version;
	char		similarity[64];
	char		center[16];
	bool		normalize;
	int			input_dims;
	rv_projection *proj;
	uint64		load_id;		/* unique per load: the token handed out */
	uint64		last_used;
} proj_entry;

static proj_entry cache[PROJ_CACHE_SIZE];
static uint64 cache_clock = 0;

/*
 * The quoted name of relvec's schema, to qualify the catalog tables. Needs SPI.
 * (PostgreSQL 15 does not export get_extension_schema, so ask pg_extension.)
 */
char *
rvpg_catalog_schema(void)
{
	bool		isnull;

	if (SPI_execute("SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_extension e "
					"JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace "
					"WHERE e.extname OPERATOR(pg_catalog.=) 'relvec'",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "relvec: extension schema not found");
	return pstrdup(quote_identifier(TextDatumGetCString(
		SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull))));
}

/* Run a one-row catalog lookup by name; false when there is no such row. Needs SPI. */
bool
rvpg_catalog_row(const char *sql, const char *name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];

	args[0] = CStringGetTextDatum(name);
	if (SPI_execute_with_args(sql, 1, argtypes, args, NULL, true, 2) != SPI_OK_SELECT)
		elog(ERROR, "relvec: catalog lookup failed");
	return SPI_processed == 1;
}

static int
get_int(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

/*
 * The nkeys x dims anchors of (set, space) in the set's order, allocated in mcxt. Raises
 * 55000 when the space has none or not all of them. Needs SPI.
 */
float *
rvpg_load_anchors(const char *schema, const char *anchor_set, int set_id, int nkeys,
				  const char *space, int space_id, int dims, MemoryContext mcxt)
{
	Oid			argtypes[2] = {INT4OID, INT4OID};
	Datum		args[2];
	float	   *anchors;
	uint64		i;

	args[0] = Int32GetDatum(set_id);
	args[1] = Int32GetDatum(space_id);
	if (SPI_execute_with_args(psprintf("SELECT e, key FROM %s.relvec_anchors WHERE set_id OPERATOR(pg_catalog.=) $1 "
									   "AND space_id OPERATOR(pg_catalog.=) $2 "
									   "ORDER BY ord", schema),
							  2, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "relvec: anchor lookup failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("anchor set \"%s\" has no embeddings in space \"%s\"", anchor_set, space),
				 errhint("Store them with relvec_set_anchors() before freezing the set.")));
	if ((int) SPI_processed != nkeys)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("anchor set \"%s\" has %d of %d anchors in space \"%s\"",
						anchor_set, (int) SPI_processed, nkeys, space),
				 errhint("Anchors were added to the frozen set outside relvec_set_anchors().")));

	anchors = MemoryContextAllocHuge(mcxt, sizeof(float) * dims * SPI_processed);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Embedding  *e = DatumGetEmbedding(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
														1, &isnull));

		/*
		 * Freezing checked both, but relvec_spaces.dims can be changed afterwards, and an
		 * older version could store a NaN.
		 */
		if (e->dim != dims)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("anchor \"%s\" of set \"%s\" has %d dimensions, space \"%s\" has %d",
							SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2),
							anchor_set, e->dim, space, dims),
					 errhint("The space's dimensions were changed after the set was frozen; restore them.")));
		if (rv_check_values(rvpg_ctx(), e->x, dims) != RV_OK)
			rvpg_raise_value("It is anchor \"%s\" of set \"%s\" in space \"%s\".",
							 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2),
							 anchor_set, space);
		memcpy(anchors + i * dims, e->x, sizeof(float) * dims);
	}
	return anchors;
}

/* Load the anchors of (set, space) and prepare a projection with parsed options; needs SPI. */
static rv_projection *
load_projection(const rvpg_projection_key *key, const char *schema, int set_id,
				int space_id, int dims, Embedding *mean, int nkeys,
				const rv_sim *sims, int nsims, rv_center center)
{
	float	   *anchors;
	rv_projection *proj;

	if (center == RV_CENTER_SPACE && mean == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("space \"%s\" has no stored mean", key->space),
				 errhint("Store one with relvec_set_space_mean().")));
	/* the table's CHECK keeps them equal; the projection reads dims values of it */
	if (center == RV_CENTER_SPACE && mean->dim != dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the stored mean of space \"%s\" has %d dimensions, the space has %d",
						key->space, mean->dim, dims),
				 errhint("Store it again with relvec_set_space_mean().")));
	anchors = rvpg_load_anchors(schema, key->anchor_set, set_id, nkeys, key->space, space_id, dims,
								CurrentMemoryContext);
	RVPG_CHECK(rv_projection_create(rvpg_ctx(), anchors, nkeys, dims, sims, nsims, center,
									mean ? mean->x : NULL, key->normalize, &proj));
	pfree(anchors);
	return proj;
}

/*
 * The prepared projection for key: looks the set and space up by name, checks the set is
 * frozen, and returns a cached projection or loads one. Raises every user error.
 */
rv_projection *
rvpg_get_projection(const rvpg_projection_key *key, int *input_dims, uint64 *token)
{
	int			set_id,
				space_id,
				dims,
				mean_version,
				nkeys;
	bool		frozen,
				isnull;
	Embedding  *mean = NULL;
	proj_entry *e = NULL;
	proj_entry *victim = &cache[0];
	int			i;
	rv_projection *proj;
	rv_sim		sims[RV_MAX_SIMS];
	int			nsims;
	rv_center	center;
	char	   *schema;

	/*
	 * Parse the options first: bad ones are errors before any catalog work, and a valid
	 * spec always fits the cache key's buffers.
	 */
	RVPG_CHECK(rv_sim_list_parse(rvpg_ctx(), key->similarity, sims, &nsims));
	RVPG_CHECK(rv_center_parse(rvpg_ctx(), key->center, &center));
	Assert(strlen(key->similarity) < sizeof(victim->similarity) &&
		   strlen(key->center) < sizeof(victim->center));

	SPI_connect();
	schema = rvpg_catalog_schema();
	if (!rvpg_catalog_row(psprintf("SELECT set_id, frozen, pg_catalog.cardinality(keys) FROM %s.relvec_anchor_sets "
								   "WHERE name OPERATOR(pg_catalog.=) $1",
							 schema), key->anchor_set))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("anchor set \"%s\" does not exist", key->anchor_set)));
	set_id = get_int(1);
	frozen = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	nkeys = get_int(3);
	if (!rvpg_catalog_row(psprintf("SELECT space_id, dims, mean_version, mean FROM %s.relvec_spaces "
								   "WHERE name OPERATOR(pg_catalog.=) $1",
							 schema), key->space))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("space \"%s\" does not exist", key->space)));
	space_id = get_int(1);
	dims = get_int(2);
	mean_version = get_int(3);
	if (!frozen)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("anchor set \"%s\" is not frozen", key->anchor_set),
				 errhint("Freeze it with relvec_freeze_anchor_set() before projecting.")));

	for (i = 0; i < PROJ_CACHE_SIZE; i++)
	{
		proj_entry *c = &cache[i];

		if (c->used && c->set_id == set_id && c->space_id == space_id &&
			c->mean_version == mean_version && c->normalize == key->normalize &&
			strcmp(c->similarity, key->similarity) == 0 && strcmp(c->center, key->center) == 0)
		{
			e = c;
			break;
		}
		if (!c->used || (victim->used && c->last_used < victim->last_used))
			victim = c;
	}
	if (e == NULL)
	{
		Datum		md = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);

		if (!isnull)
			mean = DatumGetEmbedding(md);
		proj = load_projection(key, schema, set_id, space_id, dims,
							   mean, nkeys, sims, nsims, center);
		if (victim->used)
			rv_projection_destroy(rvpg_ctx(), victim->proj);
		e = victim;
		e->used = true;
		e->set_id = set_id;
		e->space_id = space_id;
		e->mean_version = mean_version;
		strlcpy(e->similarity, key->similarity, sizeof(e->similarity));
		strlcpy(e->center, key->center, sizeof(e->center));
		e->normalize = key->normalize;
		e->input_dims = dims;
		e->proj = proj;
		e->load_id = ++cache_clock;
	}
	e->last_used = ++cache_clock;
	SPI_finish();
	*input_dims = e->input_dims;
	*token = e->load_id;
	return e->proj;
}

/* The projection handed out with token, or NULL once it has left the cache. */
rv_projection *
rvpg_cached_projection(uint64 token)
{
	int			i;

	for (i = 0; i < PROJ_CACHE_SIZE; i++)
		if (cache[i].used && cache[i].load_id == token)
		{
			cache[i].last_used = ++cache_clock;
			return cache[i].proj;
		}
	return NULL;
}
