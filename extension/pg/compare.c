/*
 * compare.c — relvec_compare_spaces: how well two spaces agree over the same items, the
 * metrics of Table 1 of the relative representations paper (bridge/stitch.c has the
 * definitions). The items query returns (key, embedding_a, embedding_b); its rows are read
 * through an SPI cursor in chunks, the route puts both sides in one common space (relative
 * vectors, translated queries, or the raw vectors), and the bridge computes everything in
 * one call, in blocks, never holding an n x n matrix.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "relvec_catalog.h"
#include "spiread.h"

/* Item rows fetched per cursor round trip. */
#define COMPARE_FETCH_ROWS 4096

typedef enum compare_via
{
	VIA_RELATIVE,
	VIA_TRANSLATION,
	VIA_ABSOLUTE
} compare_via;

/*
 * Read every row of items into a (n x da) and b (n x db), checking the shape, nulls,
 * spaces (a value tagged with another space than its side's is 42804) and dimensions.
 * Returns n. Needs SPI.
 */
static Size
read_items(const char *items, Oid emb, const char *space_a, int da, const char *space_b, int db,
		   float **a_out, float **b_out)
{
	SPIPlanPtr	plan;
	Portal		portal;
	Size		n = 0,
				cap = 1024;
	float	   *a = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * cap * da);
	float	   *b = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * cap * db);
	int			tag_a = rvpg_space_by_name(space_a, false, NULL);
	int			tag_b = rvpg_space_by_name(space_b, false, NULL);
	TupleDesc	desc;

	plan = rvpg_prepare_query(items, "items", &desc);
	if (desc->natts != 3 || TupleDescAttr(desc, 1)->atttypid != emb ||
		TupleDescAttr(desc, 2)->atttypid != emb)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("items must return three columns, (key, embedding_a, embedding_b)"),
				 errdetail("It returns %d column%s.", desc->natts, desc->natts == 1 ? "" : "s")));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, COMPARE_FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		desc = SPI_tuptable->tupdesc;
		if (n + SPI_processed > cap)
		{
			while (cap < n + SPI_processed)
				cap *= 2;
			a = repalloc_huge(a, sizeof(float) * cap * da);
			b = repalloc_huge(b, sizeof(float) * cap * db);
		}
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			bool		null_a,
						null_b,
						null_k;
			Embedding  *ea,
					   *eb;

			(void) SPI_getbinval(tup, desc, 1, &null_k);
			ea = (Embedding *) DatumGetPointer(SPI_getbinval(tup, desc, 2, &null_a));
			eb = (Embedding *) DatumGetPointer(SPI_getbinval(tup, desc, 3, &null_b));
			if (null_k || null_a || null_b)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("items returns a row with a null key or embedding")));
			ea = DatumGetEmbedding(PointerGetDatum(ea));
			eb = DatumGetEmbedding(PointerGetDatum(eb));
			if ((ea->space != 0 && ea->space != tag_a) || (eb->space != 0 && eb->space != tag_b))
				rvpg_check_space(ea->space != 0 && ea->space != tag_a ? ea->space : eb->space,
								 ea->space != 0 && ea->space != tag_a ? tag_a : tag_b,
								 psprintf("It is embedding_%s of key \"%s\".",
										  ea->space != 0 && ea->space != tag_a ? "a" : "b",
										  SPI_getvalue(tup, desc, 1)));
			if (ea->dim != da || eb->dim != db)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("embedding_%s of key \"%s\" has %d dimensions, space \"%s\" has %d",
								ea->dim != da ? "a" : "b", SPI_getvalue(tup, desc, 1),
								ea->dim != da ? ea->dim : eb->dim,
								ea->dim != da ? space_a : space_b, ea->dim != da ? da : db)));
			/* a NaN stored by an older version would make every measure NaN */
			if (rv_check_values(rvpg_ctx(), ea->x, da) != RV_OK ||
				rv_check_values(rvpg_ctx(), eb->x, db) != RV_OK)
				rvpg_raise_value("It is in the row of key \"%s\".", SPI_getvalue(tup, desc, 1));
			memcpy(a + (n + i) * da, ea->x, sizeof(float) * da);
			memcpy(b + (n + i) * db, eb->x, sizeof(float) * db);
		}
		n += SPI_processed;
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	*a_out = a;
	*b_out = b;
	return n;
}

/* Project n rows of x with p into a new n x rv_projection_dims(p) buffer. */
static float *
project_all(rv_projection *p, const float *x, Size n)
{
	float	   *r = MemoryContextAllocHuge(CurrentMemoryContext,
										   sizeof(float) * Max(n, 1) * rv_projection_dims(p));

	RVPG_CHECK(rv_project(rvpg_ctx(), p, x, n, r));
	return r;
}

PG_FUNCTION_INFO_V1(relvec_compare_spaces);
/*
 * relvec_compare_spaces(anchor_set, space_a, space_b, items, k, via, center): one row of
 * (jaccard, mrr, cosine, cka); space_a is the query side, space_b the corpus side.
 */
Datum
relvec_compare_spaces(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *set_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *space_a = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *space_b = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *items = text_to_cstring(PG_GETARG_TEXT_PP(3));
	int32		k = PG_GETARG_INT32(4);
	char	   *via_name = text_to_cstring(PG_GETARG_TEXT_PP(5));
	char	   *center_name = text_to_cstring(PG_GETARG_TEXT_PP(6));
	Oid			emb = rvpg_embedding_type(fcinfo);
	compare_via via;
	rv_center	center;
	rvpg_projection_key key_a,
				key_b;
	uint64		token_a = 0,
				token_b = 0;
	int			da,
				db,
				d = 0;
	rv_projection *pa,
			   *pb;
	rv_translation *t = NULL;
	float	   *a,
			   *b,
			   *q,
			   *c;
	Size		n;
	rv_compare_result res;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	if (strcmp(via_name, "relative") == 0)
		via = VIA_RELATIVE;
	else if (strcmp(via_name, "translation") == 0)
		via = VIA_TRANSLATION;
	else if (strcmp(via_name, "absolute") == 0)
		via = VIA_ABSOLUTE;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown route \"%s\": expected relative, translation or absolute", via_name)));
	RVPG_CHECK(rv_center_parse(rvpg_ctx(), center_name, &center));
	if (via != VIA_RELATIVE && center != RV_CENTER_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("center \"%s\" applies only to via => 'relative'", center_name)));
	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be at least 1")));

	InitMaterializedSRF(fcinfo, 0);

	/* resolve the catalog first: its errors come before the items are read */
	switch (via)
	{
		case VIA_RELATIVE:
			key_a.anchor_set = key_b.anchor_set = set_name;
			key_a.similarity = key_b.similarity = "cosine";
			key_a.center = key_b.center = center_name;
			key_a.normalize = key_b.normalize = false;
			key_a.space = space_a;
			key_b.space = space_b;
			(void) rvpg_get_projection(&key_a, &da, &token_a);
			(void) rvpg_get_projection(&key_b, &db, &token_b);
			break;
		case VIA_TRANSLATION:
			t = rvpg_get_translation(set_name, space_a, space_b);
			da = (int) t->d_from;
			db = (int) t->d_to;
			d = db;
			break;
		case VIA_ABSOLUTE:
			da = rvpg_space_dims(space_a);
			db = rvpg_space_dims(space_b);
			if (da != db)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("spaces \"%s\" and \"%s\" have different dimensions %d and %d",
								space_a, space_b, da, db),
						 errhint("Compare them via => 'relative' or 'translation'.")));
			d = da;
			break;
	}

	SPI_connect();
	n = read_items(items, emb, space_a, da, space_b, db, &a, &b);

	switch (via)
	{
		case VIA_RELATIVE:
			/* the items query may have used the cache meanwhile: look up again if evicted */
			pa = rvpg_cached_projection(token_a);
			if (pa == NULL)
				pa = rvpg_get_projection(&key_a, &da, &token_a);
			q = project_all(pa, a, n);
			pb = rvpg_cached_projection(token_b);
			if (pb == NULL)
				pb = rvpg_get_projection(&key_b, &db, &token_b);
			c = project_all(pb, b, n);
			d = (int) rv_projection_dims(pa);
			if (rv_projection_dims(pb) != (size_t) d)
				elog(ERROR, "relvec: projections of one set of different widths");
			break;
		case VIA_TRANSLATION:
			/* fetched again: the items query may have evicted it from the cache */
			t = rvpg_get_translation(set_name, space_a, space_b);
			q = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * Max(n, 1) * db);
			RVPG_CHECK(rv_translate(rvpg_ctx(), t, a, n, q));
			c = b;
			break;
		default:
			q = a;
			c = b;
			break;
	}
	RVPG_CHECK(rv_compare_spaces(rvpg_ctx(), q, c, n, d, (size_t) k, a, da, b, db, &res));
	SPI_finish();

	values[0] = Float8GetDatum(res.jaccard);
	values[1] = Float8GetDatum(res.mrr);
	values[2] = Float8GetDatum(res.cosine);
	values[3] = Float8GetDatum(res.cka);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
