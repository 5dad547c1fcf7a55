/*
 * anchors.c — SQL helpers behind the anchor-set functions of sql/relvec.sql: checking the
 * columns a user's query returns, and choosing anchors among its rows through the bridge
 * (rv_choose_anchors). Rows are sorted by key (C collation) before the choice, so the same
 * seed picks the same anchors whatever order the query returns them in, on every machine.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "relvec_pg.h"
#include "relvec_catalog.h"
#include "spiread.h"

/* The columns of a query, without running it (rvpg_prepare_query's checks). */
static TupleDesc
describe_query(const char *query)
{
	TupleDesc	desc;

	(void) rvpg_prepare_query(query, "query", &desc);
	return desc;
}

/* Raise 42804 unless desc has the shape: "embedding" or "key_embedding". */
static void
check_shape(TupleDesc desc, const char *shape, Oid emb)
{

	if (strcmp(shape, "embedding") == 0)
	{
		if (desc->natts != 1 || TupleDescAttr(desc, 0)->atttypid != emb)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("query must return one embedding column"),
					 errdetail("It returns %d column%s.", desc->natts, desc->natts == 1 ? "" : "s")));
	}
	else if (strcmp(shape, "key_embedding") == 0)
	{
		if (desc->natts != 2 || TupleDescAttr(desc, 1)->atttypid != emb)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("query must return two columns, (key, embedding)"),
					 errdetail("It returns %d column%s%s.", desc->natts, desc->natts == 1 ? "" : "s",
							   desc->natts == 2 ? ", the second not of type embedding" : "")));
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown query shape \"%s\": expected embedding or key_embedding", shape)));
}

void
rvpg_check_query_shape(const char *query, const char *shape, Oid emb)
{
	check_shape(describe_query(query), shape, emb);
}

PG_FUNCTION_INFO_V1(relvec_check_query);
/* relvec_check_query(query, shape): raise 42804 unless the query has that shape. */
Datum
relvec_check_query(PG_FUNCTION_ARGS)
{
	char	   *query;
	char	   *shape;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", PG_ARGISNULL(0) ? "query" : "shape")));
	query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	shape = text_to_cstring(PG_GETARG_TEXT_PP(1));
	SPI_connect();
	check_shape(describe_query(query), shape, rvpg_embedding_type(fcinfo));
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(relvec_pick_anchors);
/*
 * relvec_pick_anchors(query, k, method, seed): (anchor_no, key) of k items chosen among the
 * query's (key, embedding) rows. Loads every row's embedding (n x d floats) into memory.
 */
Datum
relvec_pick_anchors(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		k = PG_GETARG_INT32(1);
	char	   *method_name = text_to_cstring(PG_GETARG_TEXT_PP(2));
	int32		seed = PG_GETARG_INT32(3);
	rv_ctx	   *ctx = rvpg_ctx();
	rv_anchor_method method;
	uint64		n,
				i;
	int			d = 0;
	float	   *x = NULL;
	char	  **keys;
	size_t	   *picked;
	MemoryContext outer = CurrentMemoryContext;

	RVPG_CHECK(rv_anchor_method_parse(ctx, method_name, &method));
	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the number of anchors must be at least 1")));
	InitMaterializedSRF(fcinfo, 0);

	SPI_connect();
	check_shape(describe_query(query), "key_embedding", rvpg_embedding_type(fcinfo));
	/*
	 * Keys as ::text gives them (relvec_choose_anchors matches them so); the newline ends a
	 * trailing -- comment of the query before the closing parenthesis.
	 */
	if (SPI_execute(psprintf("SELECT q.k::pg_catalog.text COLLATE pg_catalog.\"C\", q.e FROM (%s\n) q(k, e) "
							 "ORDER BY 1", query),
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "relvec: could not run the anchor query");
	n = SPI_processed;
	keys = MemoryContextAllocHuge(outer, sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		dv = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
		Embedding  *e;
		char	   *kv = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		if (kv == NULL || isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("query returns a row with a null key or embedding")));
		if (i > 0 && strcmp(kv, keys[i - 1]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("query returns key \"%s\" more than once", kv)));
		keys[i] = MemoryContextStrdup(outer, kv);
		e = DatumGetEmbedding(dv);
		if (i == 0)
		{
			d = e->dim;
			if (method != RV_ANCHORS_RANDOM)
				x = MemoryContextAllocHuge(outer, sizeof(float) * (Size) d * n);
		}
		else if (e->dim != d)
			RVPG_CHECK(rv_check_same_dims(ctx, d, e->dim));
		/* a NaN stored by an older version would steer fps and k-means anywhere */
		if (x != NULL)
		{
			RVPG_CHECK(rv_check_values(ctx, e->x, d));
			memcpy(x + i * d, e->x, sizeof(float) * d);
		}
	}
	SPI_finish();

	/* k may be anything up to INT_MAX: the bridge refuses more than n before writing */
	picked = palloc(sizeof(size_t) * Max(Min((uint64) k, n), 1));
	RVPG_CHECK(rv_choose_anchors(ctx, x, n, d, k, method, (uint64) (uint32) seed, picked));
	for (i = 0; i < (uint64) k; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int32GetDatum((int32) i + 1);
		values[1] = CStringGetTextDatum(keys[picked[i]]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
