/*
 * stitch.c — relvec_stitch_knn, table-valued as in PostgreSQL: batched kNN across two
 * latent spaces, queries embedded by one model answered from a corpus embedded by another.
 *
 *   SELECT * FROM relvec_stitch_knn(queries, query_space, corpus, corpus_space, anchor_set,
 *                                   k [, via [, similarity [, center]]])
 *
 * rows (query_key, rank, corpus_key, distance), cosine distances in the route's common
 * space. Routes (via), as extension/pg/stitch.c:
 *  - relative: the queries become relative vectors over the query space's anchors of the
 *    frozen set, each corpus chunk over the corpus space's anchors (rv_project), compared
 *    by cosine; relative vectors over parallel anchors are comparable across spaces.
 *  - translation: the queries are mapped into the corpus space by the translation fitted
 *    on the set (relvec_fit_translation) and compared with the raw corpus rows.
 *  - absolute: the raw vectors, the baseline (dimensions must match).
 * The pass is relvec_knn's (rvsq_knn_search in knn.c), with its tie rule (corpus row
 * order) and its double-precision distance recheck, applied to the mapped rows. A tagged
 * query must be of query_space, a tagged corpus row of corpus_space.
 */
#include <string.h>

#include "relvec_sqlite.h"

enum
{
	S_QUERY_KEY = 0, S_RANK, S_CORPUS_KEY, S_DISTANCE,
	S_QUERIES, S_QUERY_SPACE, S_CORPUS, S_CORPUS_SPACE, S_ANCHOR_SET, S_K, S_VIA, S_SIMILARITY,
	S_CENTER, S_NCOLS
};
#define S_NARGS (S_NCOLS - S_QUERIES)

/* The argument names, for null-argument errors. */
static const char *const stitch_arg_names[] = {"queries", "query_space", "corpus", "corpus_space",
"anchor_set", "k", "via", "similarity", "center"};

typedef rvsq_vtab stitch_vtab;

static int
map_project(rvsq_conn *c, void *arg, const float *in, size_t n, float *out)
{
	RVSQ_TRY(c, rv_project(c->ctx, (rv_projection *) arg, in, n, out));
	return SQLITE_OK;
}

static int
map_translate(rvsq_conn *c, void *arg, const float *in, size_t n, float *out)
{
	RVSQ_TRY(c, rv_translate(c->ctx, (rv_translation *) arg, in, n, out));
	return SQLITE_OK;
}

static int
stitch_run(rvsq_conn *c, rvsq_knn_cursor *cur, sqlite3_value **arg)
{
	const char *queries = rvsq_text(arg[0]);
	const char *query_space = rvsq_text(arg[1]);
	const char *corpus = rvsq_text(arg[2]);
	const char *corpus_space = rvsq_text(arg[3]);
	const char *anchor_set = rvsq_text(arg[4]);
	sqlite3_int64 k = sqlite3_value_int64(arg[5]);
	const char *via = arg[6] ? rvsq_text(arg[6]) : "relative";
	const char *similarity = arg[7] ? rvsq_text(arg[7]) : "cosine";
	const char *center_name = arg[8] ? rvsq_text(arg[8]) : "none";
	rv_sim		sims[RV_MAX_SIMS];
	int			nsims;
	rv_center	center;
	rv_projection *pq = NULL,
			   *pc = NULL;
	rv_translation *t = NULL;
	rvsq_map_fn qmap = NULL,
				cmap = NULL;
	void	   *qarg = NULL,
			   *carg = NULL;
	size_t		qin = 0,
				cin = 0,
				d = 0;
	rvsq_source qsrc = {"the queries", "the queries must return two columns, (key, embedding)",
	"a row of the queries has a null key or embedding", "query", query_space, NULL, 0};
	rvsq_source csrc = {"the corpus", "the corpus must return two columns, (key, embedding)",
	"a row of the corpus has a null key or embedding", "corpus", corpus_space, NULL, 0};
	sqlite3_stmt *qs = NULL,
			   *cs = NULL;
	rvsq_rows	qrows;
	float	   *qmapped = NULL;
	sqlite3_int64 qid,
				cid;
	int			qdims,
				cdims;
	int			finished;
	int			rc;

	memset(&qrows, 0, sizeof(qrows));
	if ((rc = rvsq_knn_check_k(c, k)) != SQLITE_OK)
		return rc;
	/* the options serve the relative route only, but are checked on every route */
	RVSQ_TRY(c, rv_sim_list_parse(c->ctx, similarity, sims, &nsims));
	RVSQ_TRY(c, rv_center_parse(c->ctx, center_name, &center));

	if (strcmp(via, "relative") == 0 || strcmp(via, "absolute") == 0)
	{
		/* both routes check the set is frozen and holds both spaces */
		if ((rc = rvsq_load_projection(c, anchor_set, query_space, similarity, center_name, 0, &pq, &qin,
									   NULL)) != SQLITE_OK ||
			(rc = rvsq_load_projection(c, anchor_set, corpus_space, similarity, center_name, 0, &pc, &cin,
									   NULL)) != SQLITE_OK)
			goto done;
		if (strcmp(via, "relative") == 0)
		{
			qmap = cmap = map_project;
			qarg = pq;
			carg = pc;
			d = rv_projection_dims(pq);
			if (rv_projection_dims(pc) != d)
			{
				rc = rvsq_fail(c, "relvec: kNN sides of different dimensions after mapping");
				goto done;
			}
		}
		else
		{
			if (qin != cin)
			{
				rc = rvsq_fail(c, "spaces \"%s\" and \"%s\" have different dimensions %d and %d",
							   query_space, corpus_space, (int) qin, (int) cin);
				goto done;
			}
			d = qin;
		}
	}
	else if (strcmp(via, "translation") == 0)
	{
		if ((rc = rvsq_load_translation(c, anchor_set, query_space, corpus_space, &t)) != SQLITE_OK)
			goto done;
		qmap = map_translate;
		qarg = t;
		qin = t->d_from;
		cin = t->d_to;
		d = t->d_to;
	}
	else
		return rvsq_fail(c, "unknown route \"%s\": expected relative, translation or absolute", via);

	/* every query untagged or of query_space, every corpus row untagged or of corpus_space */
	if ((rc = rvsq_find_space(c, query_space, &qid, &qdims)) != SQLITE_OK ||
		(rc = rvsq_find_space(c, corpus_space, &cid, &cdims)) != SQLITE_OK)
		goto done;
	qrows.d = qin;
	qrows.space = (unsigned) (qid > RV_MAX_SPACE_TAG ? 0 : qid);
	qrows.space_fixed = 1;
	if ((rc = rvsq_prepare_query(c, queries, 2, &qsrc, &qs)) != SQLITE_OK ||
		(rc = rvsq_prepare_query(c, corpus, 2, &csrc, &cs)) != SQLITE_OK ||
		(rc = rvsq_read_rows(c, qs, &qsrc, &qrows, 0, &finished)) != SQLITE_OK)
		goto done;
	if (qrows.n > 0)
	{
		const float *q = qrows.x;

		if (qmap != NULL)
		{
			qmapped = sqlite3_malloc64(sizeof(float) * qrows.n * d);
			if (qmapped == NULL)
			{
				rc = SQLITE_NOMEM;
				goto done;
			}
			if ((rc = qmap(c, qarg, qrows.x, qrows.n, qmapped)) != SQLITE_OK)
				goto done;
			q = qmapped;
		}
		rc = rvsq_knn_search(c, q, qrows.n, d, cs, &csrc, cin, (unsigned) (cid > RV_MAX_SPACE_TAG ? 0 : cid), 1,
							 cmap, carg, (size_t) k, RV_METRIC_COSINE, 0, &cur->res);
	}
	if (rc == SQLITE_OK)
		rvsq_knn_cursor_take_keys(cur, &qrows);
done:
	sqlite3_finalize(qs);
	sqlite3_finalize(cs);
	rvsq_rows_free(&qrows);
	sqlite3_free(qmapped);
	if (pq != NULL)
		rv_projection_destroy(c->ctx, pq);
	if (pc != NULL)
		rv_projection_destroy(c->ctx, pc);
	if (t != NULL)
		rv_translation_destroy(c->ctx, t);
	return rc;
}

/* ---- the table-valued function ---------------------------------------------------------- */

static int
stitch_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
			   char **err)
{
	(void) argc;
	(void) argv;
	(void) err;
	return rvsq_tvf_connect(db, aux, "CREATE TABLE x(query_key TEXT, rank INTEGER, corpus_key TEXT, distance REAL, "
							"queries HIDDEN, query_space HIDDEN, corpus HIDDEN, corpus_space HIDDEN, "
							"anchor_set HIDDEN, k HIDDEN, via HIDDEN, similarity HIDDEN, center HIDDEN)",
							sizeof(stitch_vtab), out);
}

static int
stitch_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	(void) vt;
	return rvsq_tvf_best_index(info, S_QUERIES, S_NCOLS);
}

static int
stitch_filter(sqlite3_vtab_cursor *vc, int idxNum, const char *idxStr, int argc, sqlite3_value **argv)
{
	rvsq_knn_cursor *cur = (rvsq_knn_cursor *) vc;
	rvsq_conn  *c = ((stitch_vtab *) vc->pVtab)->c;
	sqlite3_value *arg[S_NARGS];
	int			i;
	int			rc = SQLITE_OK;

	(void) idxStr;
	rvsq_knn_cursor_reset(cur);
	rvsq_tvf_args(idxNum, argc, argv, S_NARGS, arg, cur->args);
	for (i = 0; i < 6 && rc == SQLITE_OK; i++)
		if (arg[i] == NULL)
			rc = rvsq_fail(c, "relvec_stitch_knn needs queries, query_space, corpus, corpus_space, anchor_set and k");
	for (i = 0; i < S_NARGS && rc == SQLITE_OK; i++)
		if (arg[i] != NULL && sqlite3_value_type(arg[i]) == SQLITE_NULL)
			rc = rvsq_fail(c, "%s must not be null", stitch_arg_names[i]);
	if (rc == SQLITE_OK)
		rc = stitch_run(c, cur, arg);
	return rvsq_knn_filter_end(cur, c, rc);
}

sqlite3_module rvsq_stitch_knn_module = {
	.iVersion = 0,
	.xCreate = NULL,			/* eponymous only: SELECT * FROM relvec_stitch_knn(...) */
	.xConnect = stitch_connect,
	.xBestIndex = stitch_best_index,
	.xDisconnect = rvsq_tvf_disconnect,
	.xDestroy = rvsq_tvf_disconnect,
	.xOpen = rvsq_knn_open,
	.xClose = rvsq_knn_close,
	.xFilter = stitch_filter,
	.xNext = rvsq_knn_next,
	.xEof = rvsq_knn_eof,
	.xColumn = rvsq_knn_column,
	.xRowid = rvsq_knn_rowid,
};
