/*
 * spiread.c — reading a user's (key, embedding) query a chunk at a time through an SPI
 * cursor, so that no side of a batched function must fit in memory. The rows' vectors are
 * copied into one contiguous buffer per chunk (the layout the bridge takes); keys stay in
 * the chunk's tuples and are turned into text only when a caller asks for one, because a
 * kNN pass keeps the keys of its few candidates, not of every row.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/plancache.h"

#include "spiread.h"

SPIPlanPtr
rvpg_prepare_key_embedding(const char *query, const char *whole, Oid emb)
{
	SPIPlanPtr	plan = SPI_prepare(query, 0, NULL);
	List	   *sources;
	TupleDesc	desc;

	if (plan == NULL)
		elog(ERROR, "relvec: could not prepare query: %s", SPI_result_code_string(SPI_result));
	sources = SPI_plan_get_plan_sources(plan);
	if (list_length(sources) != 1 || ((CachedPlanSource *) linitial(sources))->resultDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be a single statement that returns rows", whole)));
	desc = ((CachedPlanSource *) linitial(sources))->resultDesc;
	if (desc->natts != 2 || TupleDescAttr(desc, 1)->atttypid != emb)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must return two columns, (key, embedding)", whole),
				 errdetail("It returns %d column%s%s.", desc->natts, desc->natts == 1 ? "" : "s",
						   desc->natts == 2 ? ", the second not of type embedding" : "")));
	return plan;
}

void
rvpg_reader_open(rvpg_reader *r, SPIPlanPtr plan, MemoryContext parent, const char *label,
				 const char *whole, const char *space, const char *dims_from, int dims)
{
	memset(r, 0, sizeof(*r));
	r->label = label;
	r->whole = whole;
	r->space = space;
	r->dims_from = dims_from;
	r->dims = dims;
	r->cxt = AllocSetContextCreate(parent, "relvec reader", ALLOCSET_DEFAULT_SIZES);
	r->chunk_cxt = AllocSetContextCreate(r->cxt, "relvec reader chunk", ALLOCSET_DEFAULT_SIZES);
	r->portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
}

/* Raise the error for row i's embedding of dim dimensions. */
static void
raise_dims(rvpg_reader *r, uint64 i, int dim)
{
	char	   *key = rvpg_reader_key(r, i);

	if (r->space != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("embedding of %s key \"%s\" has %d dimensions, space \"%s\" has %d",
						r->label, key, dim, r->space, r->dims)));
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("embedding of %s key \"%s\" has %d dimensions, %s %d",
					r->label, key, dim, r->dims_from, r->dims)));
}

uint64
rvpg_reader_next(rvpg_reader *r, uint64 max)
{
	uint64		n,
				i;
	TupleDesc	desc;
	MemoryContext old;

	if (r->tuptable != NULL)
	{
		SPI_freetuptable(r->tuptable);
		r->tuptable = NULL;
	}
	MemoryContextReset(r->chunk_cxt);
	SPI_cursor_fetch(r->portal, true, (long) Min(max, (uint64) LONG_MAX));
	r->tuptable = SPI_tuptable;
	n = SPI_processed;
	if (n == 0)
		return 0;
	desc = r->tuptable->tupdesc;

	old = MemoryContextSwitchTo(r->chunk_cxt);
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = r->tuptable->vals[i];
		bool		knull,
					enull;
		Datum		d;
		Embedding  *e;

		(void) SPI_getbinval(tup, desc, 1, &knull);
		d = SPI_getbinval(tup, desc, 2, &enull);
		if (knull || enull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a row of %s has a null key or embedding", r->whole)));
		e = DatumGetEmbedding(d);
		if (r->dims == 0)
			r->dims = e->dim;
		if (e->dim != r->dims)
			raise_dims(r, i, e->dim);
		if (r->buf == NULL || r->cap < n)
		{
			if (r->buf != NULL)
				pfree(r->buf);
			r->cap = n;
			r->buf = MemoryContextAllocHuge(r->cxt, sizeof(float) * (Size) r->dims * r->cap);
		}
		memcpy(r->buf + i * r->dims, e->x, sizeof(float) * r->dims);
		if ((Pointer) e != DatumGetPointer(d))
			pfree(e);
	}
	MemoryContextSwitchTo(old);
	r->rows += n;
	return n;
}

char *
rvpg_reader_key(rvpg_reader *r, uint64 i)
{
	char	   *key = SPI_getvalue(r->tuptable->vals[i], r->tuptable->tupdesc, 1);

	/* SPI_getvalue allocates in the current context; so does the caller's copy */
	return key != NULL ? key : pstrdup("");
}

void
rvpg_reader_close(rvpg_reader *r)
{
	if (r->tuptable != NULL)
		SPI_freetuptable(r->tuptable);
	r->tuptable = NULL;
	SPI_cursor_close(r->portal);
	MemoryContextDelete(r->cxt);
}
