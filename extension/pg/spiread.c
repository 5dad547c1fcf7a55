/*
 * spiread.c — reading a user's (key, embedding) query a chunk at a time through an SPI
 * cursor, so that no side of a batched function must fit in memory. The rows' vectors are
 * copied into one contiguous buffer per chunk (the layout the bridge takes); keys are kept
 * as datums of the chunk and turned into text only when a caller asks for one, because a
 * kNN pass keeps the keys of its few candidates, not of every row.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "tcop/pquery.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"

#include "spiread.h"

SPIPlanPtr
rvpg_prepare_query(const char *query, const char *whole, TupleDesc *desc)
{
	SPIPlanPtr	plan = SPI_prepare(query, 0, NULL);
	List	   *sources;
	CachedPlanSource *ps;
	ListCell   *lc;

	if (plan == NULL)
		elog(ERROR, "relvec: could not prepare query: %s", SPI_result_code_string(SPI_result));
	sources = SPI_plan_get_plan_sources(plan);
	if (list_length(sources) != 1 || ((CachedPlanSource *) linitial(sources))->resultDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be a single statement that returns rows", whole)));
	ps = (CachedPlanSource *) linitial(sources);
	foreach(lc, ps->query_list)
	{
		Query	   *q = lfirst_node(Query, lc);

		if (q->commandType != CMD_SELECT || q->hasModifyingCTE || q->rowMarks != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be a read-only query", whole),
					 q->hasModifyingCTE ? errdetail("Its WITH clause changes data.") :
					 q->rowMarks != NIL ? errdetail("It locks rows (FOR UPDATE or FOR SHARE).") :
					 errdetail("Its command is %s, which changes data.",
							   GetCommandTagName(ps->commandTag))));
	}
	if (desc != NULL)
		*desc = ps->resultDesc;
	return plan;
}

SPIPlanPtr
rvpg_prepare_key_embedding(const char *query, const char *whole, Oid emb)
{
	TupleDesc	desc;
	SPIPlanPtr	plan = rvpg_prepare_query(query, whole, &desc);

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
	if (space != NULL)
	{
		r->space_tag = rvpg_space_by_name(space, false, NULL);
		r->tags = &r->space_tag;
	}
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

/* Raise the error rv_check_values left for row i's embedding, naming its key. */
static void
raise_value(rvpg_reader *r, uint64 i)
{
	rvpg_raise_value("It is the embedding of %s key \"%s\".", r->label, rvpg_reader_key(r, i));
}

/*
 * The receiver the cursor's rows go to. SPI_cursor_fetch would copy every row into a
 * tuple table first (3 kB for a 768-d row) and we would copy the vector again; this one
 * takes the two columns straight from the executor's slot, the vector into the chunk
 * buffer, the key into chunk_cxt. Measured on 100,000 x 768 rows: the pass of relvec_knn
 * spent most of its time in those copies.
 */
typedef struct rvpg_receiver
{
	DestReceiver pub;
	rvpg_reader *r;
} rvpg_receiver;

/* Take one (key, embedding) row. */
static bool
receive_row(TupleTableSlot *slot, DestReceiver *self)
{
	rvpg_reader *r = ((rvpg_receiver *) self)->r;
	uint64		i = r->n;
	bool		knull,
				enull;
	Datum		k,
				d;
	Embedding  *e;
	MemoryContext old;

	k = slot_getattr(slot, 1, &knull);
	d = slot_getattr(slot, 2, &enull);
	if (knull || enull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a row of %s has a null key or embedding", r->whole)));
	if (i >= r->cap)
		elog(ERROR, "relvec: cursor returned more rows than asked for");

	old = MemoryContextSwitchTo(r->chunk_cxt);
	r->keys[i] = datumCopy(k, r->key_byval, r->key_len);
	r->n = i + 1;
	e = DatumGetEmbedding(d);	/* detoasts into chunk_cxt when needed */
	MemoryContextSwitchTo(old);

	if (e->space != 0 && r->tags != NULL && e->space != *r->tags)
	{
		if (*r->tags == 0)
			*r->tags = e->space;
		else if (r->space != NULL)
			rvpg_check_space(e->space, *r->tags,
							 psprintf("It is the embedding of %s key \"%s\".", r->label, rvpg_reader_key(r, i)));
		else
			rvpg_raise_mixed(*r->tags, e->space);
	}
	if (r->dims == 0)
		r->dims = e->dim;
	if (e->dim != r->dims)
		raise_dims(r, i, e->dim);
	/* a NaN or infinity stored by an older version would give distances that order nothing */
	if (unlikely(rv_check_values(rvpg_ctx(), e->x, e->dim) != RV_OK))
		raise_value(r, i);
	if (r->buf == NULL)
		r->buf = MemoryContextAllocHuge(r->cxt, sizeof(float) * (Size) r->dims * r->cap);
	memcpy(r->buf + i * r->dims, e->x, sizeof(float) * r->dims);
	return true;
}

/* Learn the key column's type from the first chunk's row descriptor. */
static void
receive_startup(DestReceiver *self, int operation pg_attribute_unused(), TupleDesc typeinfo)
{
	rvpg_reader *r = ((rvpg_receiver *) self)->r;
	bool		varlena;

	if (r->key_type == InvalidOid)
	{
		r->key_type = TupleDescAttr(typeinfo, 0)->atttypid;
		r->key_byval = TupleDescAttr(typeinfo, 0)->attbyval;
		r->key_len = TupleDescAttr(typeinfo, 0)->attlen;
		getTypeOutputInfo(r->key_type, &r->key_out, &varlena);
	}
}

static void
receive_nothing(DestReceiver *self pg_attribute_unused())
{
}

uint64
rvpg_reader_next(rvpg_reader *r, uint64 max)
{
	rvpg_receiver rc;

	MemoryContextReset(r->chunk_cxt);
	r->n = 0;
	if (r->cap < max)
	{
		/* buffers sized for the largest chunk asked for; vectors once dims are known */
		if (r->buf != NULL)
			pfree(r->buf);
		if (r->keys != NULL)
			pfree(r->keys);
		r->buf = NULL;
		r->cap = max;
		r->keys = MemoryContextAllocHuge(r->cxt, sizeof(Datum) * r->cap);
	}
	memset(&rc, 0, sizeof(rc));
	rc.pub.receiveSlot = receive_row;
	rc.pub.rStartup = receive_startup;
	rc.pub.rShutdown = receive_nothing;
	rc.pub.rDestroy = receive_nothing;
	rc.pub.mydest = DestNone;
	rc.r = r;
	PortalRunFetch(r->portal, FETCH_FORWARD, (long) Min(max, (uint64) LONG_MAX),
				   (DestReceiver *) &rc);
	r->rows += r->n;
	return r->n;
}

char *
rvpg_reader_key(rvpg_reader *r, uint64 i)
{
	/* allocated in the current context: the caller keeps it past the chunk */
	return OidOutputFunctionCall(r->key_out, r->keys[i]);
}

void
rvpg_reader_close(rvpg_reader *r)
{
	SPI_cursor_close(r->portal);
	MemoryContextDelete(r->cxt);
}
