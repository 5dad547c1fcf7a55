/*
 * project.c — relvec_project (one embedding) and relvec_project_query (a query's rows in
 * batches). Both resolve the anchor set and space through the catalog cache; the math is
 * the bridge's rv_project, which makes one similarity-matrix kernel call per chunk.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "relvec_catalog.h"
#include "spiread.h"

/* Rows fetched from the query and projected per bridge call. */
#define PROJECT_QUERY_CHUNK 4096

/* Per call site: the arguments last resolved and the cache token of their projection. */
typedef struct project_memo
{
	char	   *anchor_set;
	char	   *space;
	char	   *similarity;
	char	   *center;
	bool		normalize;
	int			input_dims;
	uint64		token;
} project_memo;

static bool
memo_matches(const project_memo *m, const rvpg_projection_key *k)
{
	return m != NULL && m->normalize == k->normalize && strcmp(m->anchor_set, k->anchor_set) == 0 &&
		strcmp(m->space, k->space) == 0 && strcmp(m->similarity, k->similarity) == 0 &&
		strcmp(m->center, k->center) == 0;
}

/* The projection for this call's arguments, resolved once per query and call site. */
static rv_projection *
projection_for_call(FunctionCallInfo fcinfo, const rvpg_projection_key *key, int *input_dims)
{
	project_memo *m = (project_memo *) fcinfo->flinfo->fn_extra;
	rv_projection *p = NULL;

	if (memo_matches(m, key))
		p = rvpg_cached_projection(m->token);
	if (p == NULL)
	{
		MemoryContext old;
		uint64		token;

		p = rvpg_get_projection(key, input_dims, &token);
		old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		if (m == NULL)
			m = palloc0(sizeof(project_memo));
		else
		{
			pfree(m->anchor_set);
			pfree(m->space);
			pfree(m->similarity);
			pfree(m->center);
		}
		m->anchor_set = pstrdup(key->anchor_set);
		m->space = pstrdup(key->space);
		m->similarity = pstrdup(key->similarity);
		m->center = pstrdup(key->center);
		m->normalize = key->normalize;
		m->input_dims = *input_dims;
		m->token = token;
		fcinfo->flinfo->fn_extra = m;
		MemoryContextSwitchTo(old);
	}
	*input_dims = m->input_dims;
	return p;
}

static void
check_input_dims(int got, int want, const char *space)
{
	if (got != want)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("embedding has %d dimensions, space \"%s\" has %d", got, space, want)));
}

/*
 * The space x is in: its tag, when the caller named none (0 <= nargs-1 < 3) — an untagged
 * x is then 22023 naming the call — or the one named, which its tag must not contradict.
 */
char *
rvpg_space_of_argument(const Embedding *x, const char *named, const char *call)
{
	const char *name;

	if (named != NULL)
	{
		if (x->space != 0)
			rvpg_check_space(x->space, rvpg_space_by_name(named, false, NULL), NULL);
		return pstrdup(named);
	}
	if (x->space == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s needs x tagged with its space", call),
				 errhint("Tag it with relvec_tag(), or name its space in the call.")));
	name = rvpg_space_name(x->space);
	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("space #%d does not exist", x->space),
				 errdetail("The embedding is tagged with a space that was dropped.")));
	return pstrdup(name);
}

PG_FUNCTION_INFO_V1(relvec_project);
/*
 * relvec_project(x, anchor_set, space, similarity, center, normalize): x's relative
 * vector; relvec_project(x, anchor_set) takes the space from x's tag. The relative vector
 * is untagged: over parallel anchors it is comparable with other models' (the point).
 */
Datum
relvec_project(PG_FUNCTION_ARGS)
{
	Embedding  *x = PG_GETARG_EMBEDDING_P(0);
	rvpg_projection_key key;
	rv_projection *p;
	int			input_dims;
	Embedding  *r;

	key.anchor_set = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (PG_NARGS() == 2)
	{
		key.space = rvpg_space_of_argument(x, NULL, "relvec_project(x, anchor_set)");
		key.similarity = "cosine";
		key.center = "none";
		key.normalize = false;
	}
	else
	{
		key.space = rvpg_space_of_argument(x, text_to_cstring(PG_GETARG_TEXT_PP(2)), NULL);
		key.similarity = text_to_cstring(PG_GETARG_TEXT_PP(3));
		key.center = text_to_cstring(PG_GETARG_TEXT_PP(4));
		key.normalize = PG_GETARG_BOOL(5);
	}
	p = projection_for_call(fcinfo, &key, &input_dims);
	check_input_dims(x->dim, input_dims, key.space);
	r = rvpg_new_embedding((int) rv_projection_dims(p));
	RVPG_CHECK(rv_project(rvpg_ctx(), p, x->x, 1, r->x));
	PG_RETURN_EMBEDDING_P(r);
}

/* Raise unless the prepared query returns (key of any type, embedding). */
static void
check_key_embedding_desc(TupleDesc desc, Oid emb)
{

	if (desc->natts != 2 || TupleDescAttr(desc, 1)->atttypid != emb)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("query must return two columns, (key, embedding)"),
				 errdetail("It returns %d column%s.", desc->natts, desc->natts == 1 ? "" : "s")));
}

PG_FUNCTION_INFO_V1(relvec_project_query);
/*
 * relvec_project_query(query, anchor_set, space, ...): (key, relative) for each
 * (key, embedding) row of query, fetched and projected PROJECT_QUERY_CHUNK rows at a time
 * into a tuplestore (which spills to disk beyond work_mem). A NOTICE reports progress
 * every relvec.progress_rows rows.
 */
Datum
relvec_project_query(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	rvpg_projection_key key;
	rv_projection *p;
	int			input_dims;
	uint64		token;
	size_t		width;
	SPIPlanPtr	plan;
	TupleDesc	desc;
	Portal		portal;
	float	   *xbuf;
	float	   *obuf;
	char	  **keys;
	uint64		total = 0;
	MemoryContext chunk_cxt;
	int			progress_rows = rvpg_progress_rows();
	int			space_tag;

	key.anchor_set = text_to_cstring(PG_GETARG_TEXT_PP(1));
	key.space = text_to_cstring(PG_GETARG_TEXT_PP(2));
	key.similarity = text_to_cstring(PG_GETARG_TEXT_PP(3));
	key.center = text_to_cstring(PG_GETARG_TEXT_PP(4));
	key.normalize = PG_GETARG_BOOL(5);

	InitMaterializedSRF(fcinfo, 0);
	p = rvpg_get_projection(&key, &input_dims, &token);
	space_tag = rvpg_space_by_name(key.space, false, NULL);
	width = rv_projection_dims(p);

	xbuf = palloc(sizeof(float) * (Size) input_dims * PROJECT_QUERY_CHUNK);
	obuf = palloc(sizeof(float) * width * PROJECT_QUERY_CHUNK);
	keys = palloc(sizeof(char *) * PROJECT_QUERY_CHUNK);
	chunk_cxt = AllocSetContextCreate(CurrentMemoryContext, "relvec_project_query chunk",
									  ALLOCSET_DEFAULT_SIZES);

	SPI_connect();
	plan = rvpg_prepare_query(query, "query", &desc);
	check_key_embedding_desc(desc, rvpg_embedding_type(fcinfo));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		uint64		n,
					i;
		MemoryContext old;

		SPI_cursor_fetch(portal, true, PROJECT_QUERY_CHUNK);
		n = SPI_processed;
		if (n == 0)
			break;
		old = MemoryContextSwitchTo(chunk_cxt);
		for (i = 0; i < n; i++)
		{
			bool		isnull;
			Datum		d;
			Embedding  *e;

			keys[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
			if (keys[i] == NULL || isnull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("query returns a row with a null key or embedding")));
			e = DatumGetEmbedding(d);
			if (e->space != 0 && e->space != space_tag)
				rvpg_check_space(e->space, space_tag, psprintf("It is the embedding of key \"%s\".", keys[i]));
			if (e->dim != input_dims)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("embedding of key \"%s\" has %d dimensions, space \"%s\" has %d",
								keys[i], e->dim, key.space, input_dims)));
			memcpy(xbuf + i * input_dims, e->x, sizeof(float) * input_dims);
		}
		/* the cache cannot evict our entry: nothing else looks projections up meanwhile */
		RVPG_CHECK(rv_project(rvpg_ctx(), p, xbuf, n, obuf));
		MemoryContextSwitchTo(old);
		for (i = 0; i < n; i++)
		{
			Datum		values[2];
			bool		nulls[2] = {false, false};
			Embedding  *r = rvpg_new_embedding((int) width);

			memcpy(r->x, obuf + i * width, sizeof(float) * width);
			values[0] = CStringGetTextDatum(keys[i]);
			values[1] = PointerGetDatum(rvpg_checked(r));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			pfree(r);
			pfree(DatumGetPointer(values[0]));
		}
		MemoryContextReset(chunk_cxt);
		SPI_freetuptable(SPI_tuptable);
		if (progress_rows > 0 && (total + n) / progress_rows > total / progress_rows)
			ereport(NOTICE,
					(errmsg("relvec_project_query: %llu rows projected",
							(unsigned long long) (total + n))));
		total += n;
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	SPI_finish();
	return (Datum) 0;
}
