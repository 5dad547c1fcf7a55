/*
 * stitch.c — relvec_stitch_knn: batched kNN across two latent spaces, queries embedded by
 * one model answered from a corpus embedded by another, with nothing materialized first.
 *
 * Routes (via):
 *  - relative: both sides become relative vectors over the parallel anchors of a frozen
 *    set, the queries with the query space's anchors and each corpus chunk with the corpus
 *    space's anchors (one rv_project call per chunk, on a GPU when relvec.device picks
 *    one), compared by cosine. Relative vectors over parallel anchors are comparable
 *    because cosine similarity survives the rotations and rescalings that separate two
 *    independently trained spaces (Moschella et al. 2023).
 *  - translation: the queries are mapped into the corpus space by the translation fitted on
 *    the set (relvec_fit_translation; one rv_translate call per chunk of queries) and
 *    compared by cosine with the raw corpus rows.
 *  - absolute: the raw vectors compared by cosine, the baseline (dimensions must match).
 * The pass itself is rvpg_knn_run (knn.c): one corpus pass per chunk of queries.
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"

#include "spiread.h"
#include "relvec_catalog.h"

/* A relative projection applied to a side's rows; re-fetched if the cache dropped it. */
typedef struct proj_map
{
	rvpg_projection_key key;
	uint64		token;
} proj_map;

static void
map_project(void *arg, const float *in, size_t n, float *out)
{
	proj_map   *m = (proj_map *) arg;
	rv_projection *p = rvpg_cached_projection(m->token);

	/* the corpus query may itself have used enough projections to evict ours */
	if (p == NULL)
	{
		int			dims;

		p = rvpg_get_projection(&m->key, &dims, &m->token);
	}
	RVPG_CHECK(rv_project(rvpg_ctx(), p, in, n, out));
}

/* The translation of a side's rows, from one space into another. */
typedef struct trans_map
{
	const char *anchor_set;
	const char *from;
	const char *to;
} trans_map;

static void
map_translate(void *arg, const float *in, size_t n, float *out)
{
	trans_map  *m = (trans_map *) arg;

	/* cached by the backend; looked up per call because a later lookup may evict it */
	rv_translation *t = rvpg_get_translation(m->anchor_set, m->from, m->to);

	RVPG_CHECK(rv_translate(rvpg_ctx(), t, in, n, out));
}

/* The argument names of relvec_stitch_knn, for null-argument errors. */
static const char *const stitch_arg_names[] = {"queries", "query_space", "corpus",
	"corpus_space", "anchor_set", "k", "via", "similarity", "center", "query_chunk",
"corpus_chunk"};

PG_FUNCTION_INFO_V1(relvec_stitch_knn);
/*
 * relvec_stitch_knn(queries, query_space, corpus, corpus_space, anchor_set, k, via,
 * similarity, center [, query_chunk, corpus_chunk]): (query_key, rank, corpus_key,
 * distance) with cosine distances in the route's common space. The internal
 * relvec_stitch_knn_chunked passes the chunk sizes so that tests cross chunk boundaries.
 */
Datum
relvec_stitch_knn(PG_FUNCTION_ARGS)
{
	rvpg_knn_side qs;
	rvpg_knn_side cs;
	rvpg_knn_opts o;
	proj_map	qmap;
	proj_map	cmap;
	trans_map	tmap;
	rv_sim		sims[RV_MAX_SIMS];
	int			nsims;
	rv_center	center;
	const char *query_space;
	const char *corpus_space;
	const char *anchor_set;
	const char *via;
	int			qdims,
				cdims;
	int			i;

	for (i = 0; i < PG_NARGS(); i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", stitch_arg_names[i])));
	memset(&qs, 0, sizeof(qs));
	memset(&cs, 0, sizeof(cs));
	memset(&o, 0, sizeof(o));
	qs.query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	query_space = text_to_cstring(PG_GETARG_TEXT_PP(1));
	cs.query = text_to_cstring(PG_GETARG_TEXT_PP(2));
	corpus_space = text_to_cstring(PG_GETARG_TEXT_PP(3));
	anchor_set = text_to_cstring(PG_GETARG_TEXT_PP(4));
	o.k = PG_GETARG_INT32(5);
	via = text_to_cstring(PG_GETARG_TEXT_PP(6));
	o.metric = RV_METRIC_COSINE;
	rvpg_knn_check_k(o.k);
	if (PG_NARGS() >= 11)
	{
		o.query_chunk = PG_GETARG_INT32(9);
		o.corpus_chunk = PG_GETARG_INT32(10);
		if (o.query_chunk < 1 || o.corpus_chunk < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("chunk sizes must be at least 1")));
	}
	qs.space = query_space;
	cs.space = corpus_space;
	/* the options serve the relative route only, but are checked on every route */
	RVPG_CHECK(rv_sim_list_parse(rvpg_ctx(), text_to_cstring(PG_GETARG_TEXT_PP(7)), sims, &nsims));
	RVPG_CHECK(rv_center_parse(rvpg_ctx(), text_to_cstring(PG_GETARG_TEXT_PP(8)), &center));

	if (strcmp(via, "relative") == 0 || strcmp(via, "absolute") == 0)
	{
		/* both routes check the set is frozen and holds both spaces */
		qmap.key.anchor_set = anchor_set;
		qmap.key.space = query_space;
		qmap.key.similarity = text_to_cstring(PG_GETARG_TEXT_PP(7));
		qmap.key.center = text_to_cstring(PG_GETARG_TEXT_PP(8));
		qmap.key.normalize = false;
		cmap.key = qmap.key;
		cmap.key.space = corpus_space;
		qs.out_dims = (int) rv_projection_dims(rvpg_get_projection(&qmap.key, &qdims, &qmap.token));
		cs.out_dims = (int) rv_projection_dims(rvpg_get_projection(&cmap.key, &cdims, &cmap.token));
		qs.in_dims = qdims;
		cs.in_dims = cdims;
		if (strcmp(via, "relative") == 0)
		{
			qs.map = map_project;
			qs.map_arg = &qmap;
			cs.map = map_project;
			cs.map_arg = &cmap;
		}
		else
		{
			if (qdims != cdims)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("spaces \"%s\" and \"%s\" have different dimensions %d and %d",
								query_space, corpus_space, qdims, cdims),
						 errhint("Absolute vectors of two spaces compare only at equal dimensions; use via => 'relative' or 'translation'.")));
			qs.out_dims = qdims;
			cs.out_dims = cdims;
		}
	}
	else if (strcmp(via, "translation") == 0)
	{
		rv_translation *t = rvpg_get_translation(anchor_set, query_space, corpus_space);

		tmap.anchor_set = anchor_set;
		tmap.from = query_space;
		tmap.to = corpus_space;
		qs.in_dims = (int) t->d_from;
		qs.out_dims = (int) t->d_to;
		qs.map = map_translate;
		qs.map_arg = &tmap;
		cs.in_dims = (int) t->d_to;
		cs.out_dims = (int) t->d_to;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown route \"%s\": expected relative, translation or absolute", via)));

	InitMaterializedSRF(fcinfo, 0);
	rvpg_knn_run(fcinfo, &qs, &cs, &o);
	return (Datum) 0;
}
