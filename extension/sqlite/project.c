/*
 * project.c — relvec_project (one embedding) and the table-valued relvec_project_query (a
 * query's rows in batches), over a frozen anchor set of the catalog. The math is the
 * bridge's rv_project: one similarity-matrix kernel call per chunk of rows.
 *
 * relvec_project keeps the prepared projection as SQLite auxiliary data of its
 * anchor_set argument, so a statement that projects many rows with the same arguments
 * loads the anchors once; the next statement loads them again and sees catalog changes.
 *
 * Space tags: relvec_project(x, anchor_set) projects x in the space of its tag; with a
 * space named, and in relvec_project_query, a tagged x must be of that space. Relative
 * vectors are untagged: over parallel anchors they are comparable across spaces.
 */
#include <string.h>

#include "relvec_sqlite.h"

/* Rows fetched from the query and projected per bridge call. */
#define PROJECT_QUERY_CHUNK 4096

/* The projection kept for one call site, with the arguments it was made for. */
typedef struct project_memo
{
	rvsq_conn  *c;
	char	   *args;			/* anchor_set \x1f space \x1f similarity \x1f center \x1f normalize */
	rv_projection *proj;
	size_t		input_dims;
} project_memo;

static void
memo_free(void *p)
{
	project_memo *m = p;

	if (m->proj != NULL)
		rv_projection_destroy(m->c->ctx, m->proj);
	sqlite3_free(m->args);
	sqlite3_free(m);
}

/*
 * Project x (of m's space, named space) with m's projection into the call's result: x must
 * have its dimensions. The result is untagged: relative vectors over parallel anchors are
 * comparable across spaces. Returns an SQLite code.
 */
static int
project_one(sqlite3_context *ctx, rvsq_conn *c, const project_memo *m, const rvsq_vec *x, const char *space)
{
	float	   *out;
	rv_status	s;

	if (x->dims != m->input_dims)
		return rvsq_fail(c, "embedding has %d dimensions, space \"%s\" has %d", (int) x->dims, space,
						 (int) m->input_dims);
	out = sqlite3_malloc64(sizeof(float) * rv_projection_dims(m->proj));
	if (out == NULL)
		return SQLITE_NOMEM;
	s = rv_project(c->ctx, m->proj, x->x, 1, out);
	if (s == RV_OK)
		rvsq_result_vec(ctx, out, rv_projection_dims(m->proj), 0);
	sqlite3_free(out);
	return s == RV_OK ? SQLITE_OK : rvsq_bridge_fail(c, s);
}

/*
 * relvec_project(x, anchor_set [, space [, similarity [, center [, normalize]]]]): without
 * space, x's own (its tag); with it, x must be untagged or of that space.
 */
void
rvsq_project(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	const char *set = rvsq_text(argv[1]);
	const char *space = argc > 2 ? rvsq_text(argv[2]) : NULL;
	const char *sim = argc > 3 ? rvsq_text(argv[3]) : "cosine";
	const char *center = argc > 4 ? rvsq_text(argv[4]) : "none";
	int			normalize = argc > 5 ? sqlite3_value_int(argv[5]) != 0 : 0;
	project_memo *m;
	project_memo once;
	char	   *own = NULL;		/* the space named by x's tag */
	char	   *args = NULL;
	rvsq_vec	x;
	int			rc;

	memset(&x, 0, sizeof(x));
	memset(&once, 0, sizeof(once));
	/* STRICT in PostgreSQL: any NULL argument gives NULL */
	if (rvsq_any_null(argc, argv))
		return;
	/* x first, as PostgreSQL reads its arguments before the function runs */
	if ((rc = rvsq_value_vec(c, argv[0], "embedding", &x)) != SQLITE_OK)
		goto done;
	if ((rc = rvsq_space_of_call(c, x.space, "relvec_project(x, anchor_set)", &space,
								 &own)) != SQLITE_OK)
		goto done;
	args = sqlite3_mprintf("%s\x1f%s\x1f%s\x1f%s\x1f%d", set, space, sim, center, normalize);
	if (args == NULL)
	{
		rc = SQLITE_NOMEM;
		goto done;
	}
	m = sqlite3_get_auxdata(ctx, 1);
	if (m == NULL || strcmp(m->args, args) != 0)
	{
		/* x's tag may name another space on the next row: keep the last one's projection */
		once.c = c;
		if ((rc = rvsq_load_projection(c, set, space, sim, center, normalize, &once.proj, &once.input_dims,
									   NULL)) != SQLITE_OK)
			goto done;
		m = sqlite3_malloc(sizeof(project_memo));
		if (m != NULL)
		{
			*m = once;
			m->args = args;
			args = NULL;
			once.proj = NULL;
			/* SQLite may free m at once (argument not constant): then use once's copy */
			sqlite3_set_auxdata(ctx, 1, m, memo_free);
			if (sqlite3_get_auxdata(ctx, 1) != m)
				m = NULL;
		}
		if (m == NULL)
		{
			/* not kept (out of memory, or freed at once): load a projection for this call only */
			if (once.proj == NULL &&
				(rc = rvsq_load_projection(c, set, space, sim, center, normalize, &once.proj, &once.input_dims,
										   NULL)) != SQLITE_OK)
				goto done;
			m = &once;
		}
	}
	rc = project_one(ctx, c, m, &x, space);
done:
	if (rc != SQLITE_OK)
		rvsq_result_error(ctx, c, rc);
	if (once.proj != NULL)
		rv_projection_destroy(c->ctx, once.proj);
	sqlite3_free(args);
	sqlite3_free(own);
	rvsq_vec_free(&x);
}

/* ---- relvec_project_query: an eponymous table-valued function ----------------------------- */

enum
{
	PQ_KEY = 0, PQ_RELATIVE, PQ_QUERY, PQ_ANCHOR_SET, PQ_SPACE, PQ_SIMILARITY, PQ_CENTER,
	PQ_NORMALIZE, PQ_NCOLS
};

typedef rvsq_vtab pq_vtab;

typedef struct pq_cursor
{
	sqlite3_vtab_cursor base;
	sqlite3_stmt *st;
	rv_projection *proj;
	size_t		width;
	rvsq_rows	rows;
	float	   *out;			/* chunk x width */
	size_t		pos;			/* row of rows being returned */
	int			done;			/* the query is exhausted */
	sqlite3_int64 rowid;
	sqlite3_value *args[PQ_NCOLS];	/* copies of the hidden-column arguments */
	char	   *space;
} pq_cursor;

static int
pq_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
		   char **err)
{
	(void) argc;
	(void) argv;
	(void) err;
	return rvsq_tvf_connect(db, aux, "CREATE TABLE x(key TEXT, relative BLOB, query HIDDEN, anchor_set HIDDEN, "
							"space HIDDEN, similarity HIDDEN, center HIDDEN, normalize HIDDEN)",
							sizeof(pq_vtab), out);
}

static int
pq_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	(void) vt;
	return rvsq_tvf_best_index(info, PQ_QUERY, PQ_NCOLS);
}

static int
pq_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	pq_cursor  *cur = sqlite3_malloc(sizeof(pq_cursor));

	(void) vt;
	if (cur == NULL)
		return SQLITE_NOMEM;
	memset(cur, 0, sizeof(*cur));
	*out = &cur->base;
	return SQLITE_OK;
}

static void
pq_reset(pq_cursor *cur, rvsq_conn *c)
{
	int			i;

	sqlite3_finalize(cur->st);
	cur->st = NULL;
	if (cur->proj)
		rv_projection_destroy(c->ctx, cur->proj);
	cur->proj = NULL;
	rvsq_rows_free(&cur->rows);
	sqlite3_free(cur->out);
	cur->out = NULL;
	for (i = 0; i < PQ_NCOLS; i++)
	{
		sqlite3_value_free(cur->args[i]);
		cur->args[i] = NULL;
	}
	cur->pos = 0;
	cur->done = 1;
	cur->rowid = 0;
}

static int
pq_close(sqlite3_vtab_cursor *vc)
{
	pq_cursor  *cur = (pq_cursor *) vc;

	pq_reset(cur, ((pq_vtab *) vc->pVtab)->c);
	sqlite3_free(cur);
	return SQLITE_OK;
}

static const rvsq_source pq_source = {"query", "query must return two columns, (key, embedding)",
	"query returns a row with a null key or embedding", NULL, NULL, NULL, 0};

/* Read and project the next chunk; sets cur->done when nothing is left. */
static int
pq_fill(pq_cursor *cur, rvsq_conn *c)
{
	rvsq_source src = pq_source;
	int			finished = 0;
	int			rc;

	rvsq_rows_clear(&cur->rows);
	cur->pos = 0;
	if (cur->st == NULL)
	{
		cur->done = 1;
		return SQLITE_OK;
	}
	src.space = cur->space;
	rc = rvsq_read_rows(c, cur->st, &src, &cur->rows, PROJECT_QUERY_CHUNK, &finished);
	if (rc != SQLITE_OK)
		return rc;
	if (finished)
	{
		sqlite3_finalize(cur->st);
		cur->st = NULL;
	}
	if (cur->rows.n == 0)
	{
		cur->done = 1;
		return SQLITE_OK;
	}
	if (cur->out == NULL)
	{
		cur->out = sqlite3_malloc64(sizeof(float) * cur->width * PROJECT_QUERY_CHUNK);
		if (cur->out == NULL)
			return SQLITE_NOMEM;
	}
	RVSQ_TRY(c, rv_project(c->ctx, cur->proj, cur->rows.x, cur->rows.n, cur->out));
	return SQLITE_OK;
}

static int
pq_filter(sqlite3_vtab_cursor *vc, int idxNum, const char *idxStr, int argc, sqlite3_value **argv)
{
	pq_cursor  *cur = (pq_cursor *) vc;
	rvsq_conn  *c = ((pq_vtab *) vc->pVtab)->c;
	const char *arg[PQ_NCOLS - PQ_QUERY];
	int			normalize = 0;
	size_t		input_dims;
	sqlite3_int64 space_id = 0;
	int			i,
				j = 0;
	int			rc;

	(void) idxStr;
	pq_reset(cur, c);
	for (i = 0; i < PQ_NCOLS - PQ_QUERY; i++)
	{
		arg[i] = NULL;
		if (idxNum & (1 << i))
		{
			if (j >= argc)
				break;
			if (sqlite3_value_type(argv[j]) == SQLITE_NULL)
				return SQLITE_OK;	/* STRICT: no rows */
			if (i == PQ_NORMALIZE - PQ_QUERY)
				normalize = sqlite3_value_int(argv[j]) != 0;
			else
				arg[i] = (const char *) sqlite3_value_text(argv[j]);
			cur->args[i] = sqlite3_value_dup(argv[j]);
			if (i != PQ_NORMALIZE - PQ_QUERY)
				arg[i] = (const char *) sqlite3_value_text(cur->args[i]);
			j++;
		}
	}
	if (arg[0] == NULL || arg[1] == NULL || arg[2] == NULL)
	{
		rvsq_fail(c, "relvec_project_query needs query, anchor_set and space");
		return rvsq_vtab_error(vc->pVtab, c, SQLITE_ERROR);
	}
	if (arg[3] == NULL)
		arg[3] = "cosine";
	if (arg[4] == NULL)
		arg[4] = "none";
	cur->space = (char *) arg[2];
	rc = rvsq_load_projection(c, arg[1], arg[2], arg[3], arg[4], normalize, &cur->proj, &input_dims,
							  &space_id);
	if (rc == SQLITE_OK)
		rc = rvsq_prepare_query(c, arg[0], 2, &pq_source, &cur->st);
	if (rc != SQLITE_OK)
		return rvsq_vtab_error(vc->pVtab, c, rc);
	cur->width = rv_projection_dims(cur->proj);
	cur->rows.d = input_dims;
	/* every row untagged or of the space named */
	cur->rows.space = (unsigned) (space_id > RV_MAX_SPACE_TAG ? 0 : space_id);
	cur->rows.space_fixed = 1;
	cur->done = 0;
	rc = pq_fill(cur, c);
	if (rc != SQLITE_OK)
		return rvsq_vtab_error(vc->pVtab, c, rc);
	return SQLITE_OK;
}

static int
pq_next(sqlite3_vtab_cursor *vc)
{
	pq_cursor  *cur = (pq_cursor *) vc;
	rvsq_conn  *c = ((pq_vtab *) vc->pVtab)->c;
	int			rc;

	cur->rowid++;
	if (++cur->pos < cur->rows.n)
		return SQLITE_OK;
	rc = pq_fill(cur, c);
	if (rc != SQLITE_OK)
		return rvsq_vtab_error(vc->pVtab, c, rc);
	return SQLITE_OK;
}

static int
pq_eof(sqlite3_vtab_cursor *vc)
{
	return ((pq_cursor *) vc)->done;
}

static int
pq_column(sqlite3_vtab_cursor *vc, sqlite3_context *ctx, int col)
{
	pq_cursor  *cur = (pq_cursor *) vc;

	if (col == PQ_KEY)
		sqlite3_result_text(ctx, cur->rows.keys[cur->pos], -1, SQLITE_TRANSIENT);
	else if (col == PQ_RELATIVE)
		rvsq_result_vec(ctx, cur->out + cur->pos * cur->width, cur->width, 0);
	else if (cur->args[col - PQ_QUERY] != NULL)
		sqlite3_result_value(ctx, cur->args[col - PQ_QUERY]);
	return SQLITE_OK;
}

static int
pq_rowid(sqlite3_vtab_cursor *vc, sqlite3_int64 *rowid)
{
	*rowid = ((pq_cursor *) vc)->rowid;
	return SQLITE_OK;
}

sqlite3_module rvsq_project_query_module = {
	.iVersion = 0,
	.xCreate = NULL,			/* eponymous only: SELECT * FROM relvec_project_query(...) */
	.xConnect = pq_connect,
	.xBestIndex = pq_best_index,
	.xDisconnect = rvsq_tvf_disconnect,
	.xDestroy = rvsq_tvf_disconnect,
	.xOpen = pq_open,
	.xClose = pq_close,
	.xFilter = pq_filter,
	.xNext = pq_next,
	.xEof = pq_eof,
	.xColumn = pq_column,
	.xRowid = pq_rowid,
};
