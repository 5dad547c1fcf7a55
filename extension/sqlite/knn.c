/*
 * knn.c — exact k-nearest-neighbour search, two ways, both through the bridge's rv_topk
 * (GPU when the device setting finds one):
 *
 *   relvec_knn(queries, corpus, k [, metric])  table-valued, as in PostgreSQL: queries and
 *       corpus are SQL returning (key, embedding); rows (query_key, rank, corpus_key,
 *       distance).
 *   CREATE VIRTUAL TABLE t_knn USING relvec_knn_index(table, column [, metric=cosine]
 *       [, key=rowid])  then  SELECT key, distance FROM t_knn WHERE query = ? AND k = 10
 *       for interactive use (SQLite 3.40 does not push LIMIT into a virtual table, so k is
 *       a constraint; without one, k is 10). Rows whose key or embedding is NULL are
 *       skipped; keys come back of their own type. A query is answered from the
 *       connection's copy of the column (knncache.c) while that copy is the table as the
 *       statement reads it, else by reading the table; both give the same rows.
 *
 * One pass over the corpus in chunks keeps KNN_SLACK candidates more than asked per query
 * (rv_topk ranks by float32 distances), gives each candidate its double-precision distance
 * from the scalar metric (the same value the distance functions return) and returns the k
 * nearest by that distance, ties by corpus row order — the rule PostgreSQL's relvec_knn
 * uses, so the two hosts agree. Every query and corpus row must go with the others' space
 * tags (the queries are read first, then the corpus against their common tag). A merge
 * keeps the relative order of the entries it keeps, so one forward walk over the previous
 * list finds the keys of surviving candidates.
 * relvec_stitch_knn (stitch.c) runs the same pass with its rows projected or translated
 * first (rvsq_knn_search's map) and shares the cursor.
 */
#include <stdlib.h>
#include <string.h>

#include "relvec_sqlite.h"

#define KNN_SLACK 8
/* rv_topk_overflowed: the float order of the kept candidates tied beyond float32's range */
#define OVERFLOW_MSG "distances beyond the float32 range: relvec_knn cannot rank them; search with ORDER BY distance LIMIT k"
#define KNN_CORPUS_CHUNK 4096
#define KNN_DEFAULT_K 10

void
rvsq_knn_result_free(rvsq_knn_result *r)
{
	size_t		i;

	if (r->keys != NULL)
		for (i = 0; i < r->nq * r->k; i++)
			rvsq_key_free(&r->keys[i]);
	sqlite3_free(r->keys);
	sqlite3_free(r->dist);
	sqlite3_free(r->count);
	memset(r, 0, sizeof(*r));
}

typedef struct knn_hit
{
	double		dist;
	int64_t		row;
	rvsq_key	key;
} knn_hit;

static int
hit_cmp(const void *a, const void *b)
{
	const knn_hit *x = a;
	const knn_hit *y = b;

	if (x->dist != y->dist)
		return x->dist < y->dist ? -1 : 1;
	return x->row < y->row ? -1 : (x->row > y->row ? 1 : 0);
}

/* Candidates kept per query: k plus the slack, within the bridge's limit. */
static size_t
knn_kint(size_t k)
{
	return k + KNN_SLACK < RV_MAX_K ? k + KNN_SLACK : RV_MAX_K;
}

/* A new result for nq queries of k keys each (no keys yet); SQLITE_NOMEM on failure. */
static int
knn_result_alloc(rvsq_knn_result *out, size_t nq, size_t k)
{
	out->nq = nq;
	out->k = k;
	out->count = sqlite3_malloc64(sizeof(size_t) * (nq + 1));
	out->keys = sqlite3_malloc64(sizeof(rvsq_key) * (nq * k + 1));
	out->dist = sqlite3_malloc64(sizeof(double) * (nq * k + 1));
	if (out->count == NULL || out->keys == NULL || out->dist == NULL)
		return SQLITE_NOMEM;
	memset(out->count, 0, sizeof(size_t) * nq);
	memset(out->keys, 0, sizeof(rvsq_key) * nq * k);
	return SQLITE_OK;
}

int
rvsq_knn_search(rvsq_conn *c, const float *q, size_t nq, size_t d, sqlite3_stmt *corpus,
				const rvsq_source *src, size_t in_dims, unsigned space, int space_fixed,
				rvsq_map_fn map, void *map_arg, size_t k, rv_metric metric, int typed_keys,
				rvsq_knn_result *out)
{
	size_t		kint = knn_kint(k);
	size_t		slots = nq * kint;
	int64_t    *best_rows = sqlite3_malloc64(sizeof(int64_t) * (slots + 1));
	float	   *best_dist = sqlite3_malloc64(sizeof(float) * (slots + 1));
	int64_t    *old_rows = sqlite3_malloc64(sizeof(int64_t) * (slots + 1));
	rvsq_key   *slot_key = sqlite3_malloc64(sizeof(rvsq_key) * (slots + 1));
	double	   *slot_dist = sqlite3_malloc64(sizeof(double) * (slots + 1));
	knn_hit    *hits = sqlite3_malloc64(sizeof(knn_hit) * (kint + 1));
	float	   *mapped = map ? sqlite3_malloc64(sizeof(float) * d * KNN_CORPUS_CHUNK) : NULL;
	const float *x;
	rvsq_rows	rows;
	int64_t		base = 0;
	int			finished = 0;
	size_t		qi,
				s;
	int			rc = SQLITE_OK;

	memset(&rows, 0, sizeof(rows));
	memset(out, 0, sizeof(*out));
	if (best_rows == NULL || best_dist == NULL || old_rows == NULL || slot_key == NULL ||
		slot_dist == NULL || hits == NULL || (map != NULL && mapped == NULL))
	{
		rc = SQLITE_NOMEM;
		goto done;
	}
	memset(slot_key, 0, sizeof(rvsq_key) * slots);
	rv_topk_reset(best_rows, best_dist, nq, kint);
	rows.d = in_dims;
	rows.space = space;
	rows.space_fixed = space_fixed;
	rows.typed_keys = typed_keys;
	while (!finished)
	{
		rv_topk_args a;
		rv_status	st;

		rvsq_rows_clear(&rows);
		if ((rc = rvsq_read_rows(c, corpus, src, &rows, KNN_CORPUS_CHUNK, &finished)) != SQLITE_OK)
			goto done;
		if (rows.n == 0)
			break;
		x = rows.x;
		if (map != NULL)
		{
			if ((rc = map(c, map_arg, rows.x, rows.n, mapped)) != SQLITE_OK)
				goto done;
			x = mapped;
		}
		memcpy(old_rows, best_rows, sizeof(int64_t) * slots);
		memset(&a, 0, sizeof(a));
		a.q = q;
		a.nq = nq;
		a.x = x;
		a.n = rows.n;
		a.d = d;
		a.metric = metric;
		a.k = kint;
		a.row_base = base;
		a.best_rows = best_rows;
		a.best_dist = best_dist;
		if ((st = rv_topk(c->ctx, &a)) != RV_OK)
		{
			rc = rvsq_bridge_fail(c, st);
			goto done;
		}
		for (qi = 0; qi < nq; qi++)
		{
			const int64_t *r = best_rows + qi * kint;
			const int64_t *old = old_rows + qi * kint;
			rvsq_key   *keys = slot_key + qi * kint;
			double	   *dist = slot_dist + qi * kint;
			size_t		j = 0;

			for (s = 0; s < kint && r[s] >= 0; s++)
			{
				if (r[s] >= base)
				{
					size_t		i = (size_t) (r[s] - base);
					int			krc = typed_keys ? rvsq_key_copy(&hits[s].key, &rows.tkeys[i])
						: rvsq_key_from_text(&hits[s].key, rows.keys[i]);

					if (krc != SQLITE_OK)
					{
						/* the keys gathered so far belong to no slot any more */
						while (s-- > 0)
							rvsq_key_free(&hits[s].key);
						rc = SQLITE_NOMEM;
						goto done;
					}
					hits[s].dist = rv_metric_distance(metric, q + qi * d, x + i * d, d);
					continue;
				}
				while (j < kint && old[j] >= 0 && old[j] != r[s])
				{
					rvsq_key_free(&keys[j]);
					j++;
				}
				/* move the key: the slot no longer owns it */
				hits[s].key = keys[j];
				hits[s].dist = dist[j];
				memset(&keys[j], 0, sizeof(rvsq_key));
				j++;
			}
			for (; j < kint; j++)
				rvsq_key_free(&keys[j]);
			for (j = 0; j < s; j++)
			{
				keys[j] = hits[j].key;
				dist[j] = hits[j].dist;
			}
		}
		base += (int64_t) rows.n;
	}

	if ((rc = knn_result_alloc(out, nq, k)) != SQLITE_OK)
		goto done;
	for (qi = 0; qi < nq; qi++)
	{
		const int64_t *r = best_rows + qi * kint;
		size_t		m;

		for (m = 0; m < kint && r[m] >= 0; m++)
		{
			hits[m].dist = slot_dist[qi * kint + m];
			hits[m].row = r[m];
			/* the slot keeps ownership until the key is moved below */
			hits[m].key = slot_key[qi * kint + m];
		}
		{
			double		last_kept = m > 0 ? hits[m - 1].dist : 0;

			qsort(hits, m, sizeof(knn_hit), hit_cmp);
			if (m > 0 && rv_topk_overflowed(hits[(m < k ? m : k) - 1].dist, last_kept, m, kint, k))
			{
				rc = rvsq_fail(c, "%s", OVERFLOW_MSG);
				goto done;
			}
		}
		out->count[qi] = m < k ? m : k;
		for (s = 0; s < out->count[qi]; s++)
		{
			/* move the key: find its slot by row, which no longer owns it */
			size_t		j;

			for (j = 0; r[j] != hits[s].row; j++)
				;
			memset(&slot_key[qi * kint + j], 0, sizeof(rvsq_key));
			out->keys[qi * k + s] = hits[s].key;
			out->dist[qi * k + s] = hits[s].dist;
		}
	}
done:
	if (slot_key != NULL)
		for (s = 0; s < slots; s++)
			rvsq_key_free(&slot_key[s]);
	sqlite3_free(best_rows);
	sqlite3_free(best_dist);
	sqlite3_free(old_rows);
	sqlite3_free(slot_key);
	sqlite3_free(slot_dist);
	sqlite3_free(hits);
	sqlite3_free(mapped);
	rvsq_rows_free(&rows);
	if (rc != SQLITE_OK)
		rvsq_knn_result_free(out);
	return rc;
}

int
rvsq_knn_search_rows(rvsq_conn *c, const float *q, size_t d, const rvsq_rows *rows, size_t k,
					 rv_metric metric, rvsq_knn_result *out)
{
	size_t		kint = knn_kint(k);
	int64_t    *best_rows = sqlite3_malloc64(sizeof(int64_t) * (kint + 1));
	float	   *best_dist = sqlite3_malloc64(sizeof(float) * (kint + 1));
	knn_hit    *hits = sqlite3_malloc64(sizeof(knn_hit) * (kint + 1));
	size_t		m = 0,
				s;
	int			rc = SQLITE_OK;

	memset(out, 0, sizeof(*out));
	if (best_rows == NULL || best_dist == NULL || hits == NULL)
	{
		rc = SQLITE_NOMEM;
		goto done;
	}
	rv_topk_reset(best_rows, best_dist, 1, kint);
	/*
	 * In the chunks a read of the table has, numbered as it numbers them: the same
	 * candidates, and the same choice of device for each call as a read would make.
	 */
	for (s = 0; s < rows->n; s += KNN_CORPUS_CHUNK)
	{
		rv_topk_args a;
		rv_status	st;

		memset(&a, 0, sizeof(a));
		a.q = q;
		a.nq = 1;
		a.x = rows->x + s * d;
		a.n = rows->n - s < KNN_CORPUS_CHUNK ? rows->n - s : KNN_CORPUS_CHUNK;
		a.d = d;
		a.metric = metric;
		a.k = kint;
		a.row_base = (int64_t) s;
		a.best_rows = best_rows;
		a.best_dist = best_dist;
		if ((st = rv_topk(c->ctx, &a)) != RV_OK)
		{
			rc = rvsq_bridge_fail(c, st);
			goto done;
		}
	}
	for (m = 0; m < kint && best_rows[m] >= 0; m++)
	{
		hits[m].row = best_rows[m];
		hits[m].dist = rv_metric_distance(metric, q, rows->x + (size_t) best_rows[m] * d, d);
	}
	{
		double		last_kept = m > 0 ? hits[m - 1].dist : 0;

		qsort(hits, m, sizeof(knn_hit), hit_cmp);
		if (m > 0 && rv_topk_overflowed(hits[(m < k ? m : k) - 1].dist, last_kept, m, kint, k))
		{
			rc = rvsq_fail(c, "%s", OVERFLOW_MSG);
			goto done;
		}
	}
	if ((rc = knn_result_alloc(out, 1, k)) != SQLITE_OK)
		goto done;
	out->count[0] = m < k ? m : k;
	for (s = 0; s < out->count[0]; s++)
	{
		if ((rc = rvsq_key_copy(&out->keys[s], &rows->tkeys[hits[s].row])) != SQLITE_OK)
			goto done;
		out->dist[s] = hits[s].dist;
	}
done:
	sqlite3_free(best_rows);
	sqlite3_free(best_dist);
	sqlite3_free(hits);
	if (rc != SQLITE_OK)
		rvsq_knn_result_free(out);
	return rc;
}

/* k checks, as PostgreSQL's relvec_knn words them. */
int
rvsq_knn_check_k(rvsq_conn *c, sqlite3_int64 k)
{
	if (k < 1)
		return rvsq_fail(c, "k must be at least 1");
	if (k > RV_MAX_K)
		return rvsq_fail(c, "k %lld exceeds the maximum of %d", (long long) k, RV_MAX_K);
	return SQLITE_OK;
}

/* ---- cursors shared by both tables: a finished result, walked row by row ---------------- */

void
rvsq_knn_cursor_reset(rvsq_knn_cursor *cur)
{
	size_t		i;

	if (cur->qkeys != NULL)
		for (i = 0; i < cur->res.nq; i++)
			sqlite3_free(cur->qkeys[i]);
	sqlite3_free(cur->qkeys);
	cur->qkeys = NULL;
	rvsq_knn_result_free(&cur->res);
	for (i = 0; i < RVSQ_KNN_MAX_ARGS; i++)
	{
		sqlite3_value_free(cur->args[i]);
		cur->args[i] = NULL;
	}
	cur->qi = 0;
	cur->r = 0;
	cur->rowid = 0;
}

/* Move to the first existing (query, rank) at or after the current position. */
void
rvsq_knn_cursor_settle(rvsq_knn_cursor *cur)
{
	while (cur->qi < cur->res.nq && cur->r >= cur->res.count[cur->qi])
	{
		cur->qi++;
		cur->r = 0;
	}
}

/* Give the cursor the keys of the queries in q (relvec_knn, relvec_stitch_knn). */
void
rvsq_knn_cursor_take_keys(rvsq_knn_cursor *cur, rvsq_rows *q)
{
	cur->qkeys = q->keys;
	q->keys = NULL;
	q->n = 0;
}

/* End xFilter with the outcome rc of its run: the error, or the cursor on the first row. */
int
rvsq_knn_filter_end(rvsq_knn_cursor *cur, rvsq_conn *c, int rc)
{
	if (rc != SQLITE_OK)
	{
		rvsq_knn_cursor_reset(cur);
		return rvsq_vtab_error(cur->base.pVtab, c, rc);
	}
	rvsq_knn_cursor_settle(cur);
	return SQLITE_OK;
}

int
rvsq_knn_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	rvsq_knn_cursor *cur = sqlite3_malloc(sizeof(rvsq_knn_cursor));

	(void) vt;
	if (cur == NULL)
		return SQLITE_NOMEM;
	memset(cur, 0, sizeof(*cur));
	*out = &cur->base;
	return SQLITE_OK;
}

int
rvsq_knn_close(sqlite3_vtab_cursor *vc)
{
	rvsq_knn_cursor_reset((rvsq_knn_cursor *) vc);
	sqlite3_free(vc);
	return SQLITE_OK;
}

int
rvsq_knn_next(sqlite3_vtab_cursor *vc)
{
	rvsq_knn_cursor *cur = (rvsq_knn_cursor *) vc;

	cur->r++;
	cur->rowid++;
	rvsq_knn_cursor_settle(cur);
	return SQLITE_OK;
}

int
rvsq_knn_eof(sqlite3_vtab_cursor *vc)
{
	rvsq_knn_cursor *cur = (rvsq_knn_cursor *) vc;

	return cur->qi >= cur->res.nq;
}

int
rvsq_knn_rowid(sqlite3_vtab_cursor *vc, sqlite3_int64 *rowid)
{
	*rowid = ((rvsq_knn_cursor *) vc)->rowid;
	return SQLITE_OK;
}

/* ---- relvec_knn(queries, corpus, k [, metric]) -------------------------------------------- */

enum
{
	K_QUERY_KEY = 0, K_RANK, K_CORPUS_KEY, K_DISTANCE, K_QUERIES, K_CORPUS, K_K, K_METRIC, K_NCOLS
};

typedef struct knn_vtab
{
	rvsq_vtab	v;
	/* relvec_knn_index only */
	char	   *table;
	char	   *column;
	char	   *key;
	rv_metric	metric;
} knn_vtab;

static int
knn_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
			char **err)
{
	(void) argc;
	(void) argv;
	(void) err;
	return rvsq_tvf_connect(db, aux, "CREATE TABLE x(query_key TEXT, rank INTEGER, corpus_key TEXT, distance REAL, "
							"queries HIDDEN, corpus HIDDEN, k HIDDEN, metric HIDDEN)", sizeof(knn_vtab), out);
}

static int
knn_disconnect(sqlite3_vtab *vt)
{
	knn_vtab   *t = (knn_vtab *) vt;

	sqlite3_free(t->table);
	sqlite3_free(t->column);
	sqlite3_free(t->key);
	sqlite3_free(t);
	return SQLITE_OK;
}

static int
knn_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	(void) vt;
	return rvsq_tvf_best_index(info, K_QUERIES, K_NCOLS);
}

static const char *const knn_arg_names[] = {"queries", "corpus", "k", "metric"};

static const rvsq_source queries_source = {"the queries", "the queries must return two columns, (key, embedding)",
	"a row of the queries has a null key or embedding", "query", NULL, "the first query has", 0};
static const rvsq_source corpus_source = {"the corpus", "the corpus must return two columns, (key, embedding)",
	"a row of the corpus has a null key or embedding", "corpus", NULL, "the queries have", 0};

static int
knn_run(knn_vtab *t, rvsq_knn_cursor *cur, int idxNum, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = t->v.c;
	sqlite3_value *arg[4];
	rv_metric	metric;
	sqlite3_int64 k;
	sqlite3_stmt *qs = NULL;
	sqlite3_stmt *cs = NULL;
	rvsq_rows	qrows;
	int			finished;
	int			i;
	int			rc;

	memset(&qrows, 0, sizeof(qrows));
	rvsq_tvf_args(idxNum, argc, argv, 4, arg, cur->args);
	for (i = 0; i < 3; i++)
		if (arg[i] == NULL)
			return rvsq_fail(c, "relvec_knn needs queries, corpus and k");
	for (i = 0; i < 4; i++)
		if (arg[i] != NULL && sqlite3_value_type(arg[i]) == SQLITE_NULL)
			return rvsq_fail(c, "%s must not be null", knn_arg_names[i]);
	k = sqlite3_value_int64(arg[2]);
	if ((rc = rvsq_knn_check_k(c, k)) != SQLITE_OK)
		return rc;
	RVSQ_TRY(c, rv_metric_parse(c->ctx, arg[3] ? (const char *) sqlite3_value_text(arg[3]) : "cosine",
								&metric));
	if ((rc = rvsq_prepare_query(c, (const char *) sqlite3_value_text(arg[0]), 2, &queries_source, &qs))
		!= SQLITE_OK ||
		(rc = rvsq_prepare_query(c, (const char *) sqlite3_value_text(arg[1]), 2, &corpus_source, &cs))
		!= SQLITE_OK ||
		(rc = rvsq_read_rows(c, qs, &queries_source, &qrows, 0, &finished)) != SQLITE_OK)
		goto done;
	/* the corpus rows go with the queries' common space */
	if (qrows.n > 0)
		rc = rvsq_knn_search(c, qrows.x, qrows.n, qrows.d, cs, &corpus_source, qrows.d, qrows.space, 0, NULL,
							 NULL, (size_t) k, metric, 0, &cur->res);
	if (rc == SQLITE_OK)
		rvsq_knn_cursor_take_keys(cur, &qrows);
done:
	sqlite3_finalize(qs);
	sqlite3_finalize(cs);
	rvsq_rows_free(&qrows);
	return rc;
}

static int
knn_filter(sqlite3_vtab_cursor *vc, int idxNum, const char *idxStr, int argc, sqlite3_value **argv)
{
	rvsq_knn_cursor *cur = (rvsq_knn_cursor *) vc;
	knn_vtab   *t = (knn_vtab *) vc->pVtab;

	(void) idxStr;
	rvsq_knn_cursor_reset(cur);
	return rvsq_knn_filter_end(cur, t->v.c, knn_run(t, cur, idxNum, argc, argv));
}

int
rvsq_knn_column(sqlite3_vtab_cursor *vc, sqlite3_context *ctx, int col)
{
	rvsq_knn_cursor *cur = (rvsq_knn_cursor *) vc;
	size_t		at = cur->qi * cur->res.k + cur->r;

	switch (col)
	{
		case K_QUERY_KEY:
			sqlite3_result_text(ctx, cur->qkeys[cur->qi], -1, SQLITE_TRANSIENT);
			break;
		case K_RANK:
			sqlite3_result_int(ctx, (int) cur->r + 1);
			break;
		case K_CORPUS_KEY:
			rvsq_key_result(ctx, &cur->res.keys[at]);
			break;
		case K_DISTANCE:
			sqlite3_result_double(ctx, cur->res.dist[at]);
			break;
		default:
			if (cur->args[col - K_QUERIES] != NULL)
				sqlite3_result_value(ctx, cur->args[col - K_QUERIES]);
			break;
	}
	return SQLITE_OK;
}

sqlite3_module rvsq_knn_module = {
	.iVersion = 0,
	.xCreate = NULL,			/* eponymous only: SELECT * FROM relvec_knn(...) */
	.xConnect = knn_connect,
	.xBestIndex = knn_best_index,
	.xDisconnect = knn_disconnect,
	.xDestroy = knn_disconnect,
	.xOpen = rvsq_knn_open,
	.xClose = rvsq_knn_close,
	.xFilter = knn_filter,
	.xNext = rvsq_knn_next,
	.xEof = rvsq_knn_eof,
	.xColumn = rvsq_knn_column,
	.xRowid = rvsq_knn_rowid,
};

/* ---- relvec_knn_index(table, column [, metric=...] [, key=...]) --------------------------- */

enum
{
	X_KEY = 0, X_DISTANCE, X_RANK, X_QUERY, X_K, X_NCOLS
};

/* A copy of an argument of CREATE VIRTUAL TABLE without surrounding quotes. */
static char *
unquote(const char *s)
{
	size_t		n = strlen(s);

	while (n > 0 && (*s == ' ' || *s == '\t'))
	{
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n >= 2 && (s[0] == '\'' || s[0] == '"' || s[0] == '`' || s[0] == '[') &&
		(s[n - 1] == s[0] || (s[0] == '[' && s[n - 1] == ']')))
	{
		s++;
		n -= 2;
	}
	return sqlite3_mprintf("%.*s", (int) n, s);
}

/* Prepare "SELECT key, column FROM table" for the index's table. */
static int
index_corpus_stmt(knn_vtab *t, sqlite3 *db, sqlite3_stmt **out)
{
	char	   *sql;
	int			rc;

	if (strcmp(t->key, "rowid") == 0)
		sql = sqlite3_mprintf("SELECT rowid, \"%w\" FROM \"%w\"", t->column, t->table);
	else
		sql = sqlite3_mprintf("SELECT \"%w\", \"%w\" FROM \"%w\"", t->key, t->column, t->table);
	if (sql == NULL)
		return SQLITE_NOMEM;
	rc = sqlite3_prepare_v2(db, sql, -1, out, NULL);
	sqlite3_free(sql);
	return rc;
}

static int
index_init(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
		   char **err, int create)
{
	rvsq_conn  *c = aux;
	knn_vtab   *t;
	int			rc;
	int			i;

	if (argc < 5)
	{
		*err = sqlite3_mprintf("relvec_knn_index takes a table and a column: "
							   "USING relvec_knn_index(table, column [, metric=cosine] [, key=rowid])");
		return SQLITE_ERROR;
	}
	t = sqlite3_malloc(sizeof(knn_vtab));
	if (t == NULL)
		return SQLITE_NOMEM;
	memset(t, 0, sizeof(*t));
	t->v.c = c;
	t->metric = RV_METRIC_COSINE;
	t->table = unquote(argv[3]);
	t->column = unquote(argv[4]);
	t->key = sqlite3_mprintf("rowid");
	rc = (t->table && t->column && t->key) ? SQLITE_OK : SQLITE_NOMEM;
	for (i = 5; rc == SQLITE_OK && i < argc; i++)
	{
		const char *eq = strchr(argv[i], '=');
		char	   *name;
		char	   *value;

		if (eq == NULL)
		{
			*err = sqlite3_mprintf("relvec_knn_index option \"%s\" is not name=value", argv[i]);
			rc = SQLITE_ERROR;
			break;
		}
		name = sqlite3_mprintf("%.*s", (int) (eq - argv[i]), argv[i]);
		value = unquote(eq + 1);
		if (name == NULL || value == NULL)
			rc = SQLITE_NOMEM;
		else
		{
			char	   *n = unquote(name);

			if (n != NULL && strcmp(n, "metric") == 0)
			{
				rv_status	s = rv_metric_parse(c->ctx, value, &t->metric);

				if (s != RV_OK)
				{
					rvsq_bridge_fail(c, s);
					*err = sqlite3_mprintf("%s", c->err);
					c->err[0] = '\0';
					rc = SQLITE_ERROR;
				}
			}
			else if (n != NULL && strcmp(n, "key") == 0)
			{
				sqlite3_free(t->key);
				t->key = value;
				value = NULL;
			}
			else
			{
				*err = sqlite3_mprintf("unknown relvec_knn_index option \"%s\": expected metric or key",
									   n ? n : "");
				rc = SQLITE_ERROR;
			}
			sqlite3_free(n);
		}
		sqlite3_free(name);
		sqlite3_free(value);
	}
	if (rc == SQLITE_OK && create)
	{
		sqlite3_stmt *st = NULL;

		rc = index_corpus_stmt(t, db, &st);
		if (rc != SQLITE_OK)
			*err = sqlite3_mprintf("relvec_knn_index: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_declare_vtab(db, "CREATE TABLE x(key, distance REAL, rank INTEGER, query HIDDEN, k HIDDEN)");
	if (rc != SQLITE_OK)
	{
		knn_disconnect(&t->v.base);
		return rc;
	}
	/*
	 * It runs the corpus query stored in the file: never from a view or a trigger, which an
	 * untrusted file could hold (as the table-valued functions, tvf.c).
	 */
	sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
	*out = &t->v.base;
	return SQLITE_OK;
}

static int
index_create(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **err)
{
	return index_init(db, aux, argc, argv, out, err, 1);
}

static int
index_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **err)
{
	return index_init(db, aux, argc, argv, out, err, 0);
}

/* query = ? and k = ? become arguments; ORDER BY distance or rank (ascending) is free. */
static int
index_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	int			rc = rvsq_tvf_best_index(info, X_QUERY, X_NCOLS);

	(void) vt;
	if (rc != SQLITE_OK)
		return rc;
	if (!(info->idxNum & 1))
		info->estimatedCost = 1e12;	/* without a query this plan only reports the error */
	if (info->nOrderBy == 1 && !info->aOrderBy[0].desc &&
		(info->aOrderBy[0].iColumn == X_DISTANCE || info->aOrderBy[0].iColumn == X_RANK))
		info->orderByConsumed = 1;
	return SQLITE_OK;
}

static const rvsq_source index_source = {"the corpus", "the corpus must return two columns, (key, embedding)",
	"a row of the corpus has a null key or embedding", "corpus", NULL, "the query has", 1};

static int
index_run(knn_vtab *t, rvsq_knn_cursor *cur, int idxNum, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = t->v.c;
	sqlite3_value *query = NULL;
	sqlite3_int64 k = KNN_DEFAULT_K;
	sqlite3_stmt *cs = NULL;
	rvsq_knn_copy copy;
	rvsq_vec	q;
	int			rc;

	if ((idxNum & 1) && argc > 0)
		query = argv[0];
	if ((idxNum & 2) && argc > ((idxNum & 1) ? 1 : 0))
	{
		sqlite3_value *kv = argv[(idxNum & 1) ? 1 : 0];

		if (sqlite3_value_type(kv) == SQLITE_NULL)
			return rvsq_fail(c, "k must not be null");
		k = sqlite3_value_int64(kv);
		cur->args[1] = sqlite3_value_dup(kv);
	}
	if (query == NULL)
		return rvsq_fail(c, "relvec_knn_index needs a query: WHERE query = ? [AND k = ?]");
	cur->args[0] = sqlite3_value_dup(query);
	if ((rc = rvsq_knn_check_k(c, k)) != SQLITE_OK)
		return rc;
	if ((rc = rvsq_value_vec(c, query, "query", &q)) != SQLITE_OK)
		return rc;
	if ((rc = rvsq_knn_cache_get(c, t->table, t->column, t->key, &copy)) != SQLITE_OK)
	{
		rvsq_vec_free(&q);
		return rc;
	}
	/*
	 * The copy holds valid rows of one dimension and one space (or none): a query that
	 * goes with them is answered from it; any other reads the table, which reports the
	 * mismatch with the row that shows it, in the words of an uncached query.
	 */
	if (copy.rows != NULL && copy.rows->n > 0 && copy.rows->d == q.dims &&
		(copy.rows->space == 0 || q.space == 0 || copy.rows->space == q.space))
		rc = rvsq_knn_search_rows(c, q.x, q.dims, copy.rows, (size_t) k, t->metric, &cur->res);
	else if ((rc = index_corpus_stmt(t, c->db, &cs)) != SQLITE_OK)
		rc = rvsq_sqlite_fail(c, rc);
	else
		rc = rvsq_knn_search(c, q.x, 1, q.dims, cs, &index_source, q.dims, q.space, 0, NULL, NULL, (size_t) k,
							 t->metric, 1, &cur->res);
	rvsq_knn_cache_release(&copy);
	sqlite3_finalize(cs);
	rvsq_vec_free(&q);
	return rc;
}

static int
index_filter(sqlite3_vtab_cursor *vc, int idxNum, const char *idxStr, int argc, sqlite3_value **argv)
{
	rvsq_knn_cursor *cur = (rvsq_knn_cursor *) vc;
	knn_vtab   *t = (knn_vtab *) vc->pVtab;

	(void) idxStr;
	rvsq_knn_cursor_reset(cur);
	return rvsq_knn_filter_end(cur, t->v.c, index_run(t, cur, idxNum, argc, argv));
}

static int
index_column(sqlite3_vtab_cursor *vc, sqlite3_context *ctx, int col)
{
	rvsq_knn_cursor *cur = (rvsq_knn_cursor *) vc;
	size_t		at = cur->r;

	switch (col)
	{
		case X_KEY:
			rvsq_key_result(ctx, &cur->res.keys[at]);
			break;
		case X_DISTANCE:
			sqlite3_result_double(ctx, cur->res.dist[at]);
			break;
		case X_RANK:
			sqlite3_result_int(ctx, (int) cur->r + 1);
			break;
		default:
			if (cur->args[col - X_QUERY] != NULL)
				sqlite3_result_value(ctx, cur->args[col - X_QUERY]);
			break;
	}
	return SQLITE_OK;
}

static int
index_destroy(sqlite3_vtab *vt)
{
	return knn_disconnect(vt);
}

sqlite3_module rvsq_knn_index_module = {
	.iVersion = 0,
	.xCreate = index_create,
	.xConnect = index_connect,
	.xBestIndex = index_best_index,
	.xDisconnect = knn_disconnect,
	.xDestroy = index_destroy,
	.xOpen = rvsq_knn_open,
	.xClose = rvsq_knn_close,
	.xFilter = index_filter,
	.xNext = rvsq_knn_next,
	.xEof = rvsq_knn_eof,
	.xColumn = index_column,
	.xRowid = rvsq_knn_rowid,
};
