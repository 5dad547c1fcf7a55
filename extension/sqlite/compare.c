/*
 * compare.c — relvec_compare_spaces, table-valued as in PostgreSQL:
 *
 *   SELECT * FROM relvec_compare_spaces(anchor_set, space_a, space_b, items
 *                                       [, k [, via [, center]]])
 *
 * one row (jaccard, mrr, cosine, cka): how well two spaces agree over the same items (the
 * metrics of Table 1 of the relative representations paper; bridge/stitch.c has the
 * definitions). items is SQL returning (key, embedding_a, embedding_b). The route (via)
 * puts both sides in one common space — relative vectors over the set's parallel anchors,
 * queries translated into space_b, or the raw vectors — and the bridge computes every
 * metric in one call, in blocks. Checks, their order and their messages are PostgreSQL's
 * (extension/pg/compare.c); a NULL argument gives no row, as the STRICT function does.
 */
#include <string.h>

#include "relvec_sqlite.h"

enum
{
	C_JACCARD = 0, C_MRR, C_COSINE, C_CKA,
	C_ANCHOR_SET, C_SPACE_A, C_SPACE_B, C_ITEMS, C_K, C_VIA, C_CENTER, C_NCOLS
};
#define C_NARGS (C_NCOLS - C_ANCHOR_SET)

typedef enum compare_via
{
	VIA_RELATIVE,
	VIA_TRANSLATION,
	VIA_ABSOLUTE
} compare_via;

typedef struct compare_cursor
{
	sqlite3_vtab_cursor base;
	int			have;			/* a result row is waiting */
	rv_compare_result res;
	sqlite3_value *args[C_NARGS];
} compare_cursor;

typedef rvsq_vtab compare_vtab;

static const rvsq_source items_source = {"items", "items must return three columns, (key, embedding_a, embedding_b)",
	"items returns a row with a null key or embedding", NULL, NULL, NULL, 0};

/* Rows of items: a (n x da) and b (n x db). */
typedef struct items_rows
{
	size_t		n;
	size_t		cap;
	float	   *a;
	float	   *b;
} items_rows;

static int
items_grow(items_rows *r, size_t da, size_t db)
{
	size_t		cap = r->cap ? r->cap * 2 : 1024;
	float	   *a = sqlite3_realloc64(r->a, sizeof(float) * cap * da);
	float	   *b;

	if (a == NULL)
		return SQLITE_NOMEM;
	r->a = a;
	b = sqlite3_realloc64(r->b, sizeof(float) * cap * db);
	if (b == NULL)
		return SQLITE_NOMEM;
	r->b = b;
	r->cap = cap;
	return SQLITE_OK;
}

/*
 * Read every row of items, checking nulls, types, spaces (embedding_a untagged or of
 * space_a, embedding_b of space_b) and dimensions as PostgreSQL does.
 */
static int
read_items(rvsq_conn *c, const char *sql, const char *space_a, size_t da, const char *space_b,
		   size_t db, items_rows *r)
{
	sqlite3_stmt *st = NULL;
	sqlite3_int64 id_a,
				id_b;
	int			dims;
	int			rc;

	if ((rc = rvsq_find_space(c, space_a, &id_a, &dims)) != SQLITE_OK ||
		(rc = rvsq_find_space(c, space_b, &id_b, &dims)) != SQLITE_OK ||
		(rc = rvsq_prepare_query(c, sql, 3, &items_source, &st)) != SQLITE_OK)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
	{
		rvsq_vec	va,
					vb;
		int			ta = sqlite3_column_type(st, 1);
		int			tb = sqlite3_column_type(st, 2);

		if (sqlite3_column_type(st, 0) == SQLITE_NULL || ta == SQLITE_NULL || tb == SQLITE_NULL)
		{
			rc = rvsq_fail(c, "%s", items_source.null_msg);
			break;
		}
		/* SQLite's columns have no declared type: a value that cannot be an embedding */
		if ((ta != SQLITE_BLOB && ta != SQLITE_TEXT) || (tb != SQLITE_BLOB && tb != SQLITE_TEXT))
		{
			rc = rvsq_fail(c, "%s", items_source.shape_msg);
			break;
		}
		if ((rc = rvsq_value_vec(c, sqlite3_column_value(st, 1), "embedding_a", &va)) != SQLITE_OK)
			break;
		if ((rc = rvsq_value_vec(c, sqlite3_column_value(st, 2), "embedding_b", &vb)) != SQLITE_OK)
		{
			rvsq_vec_free(&va);
			break;
		}
		rc = rvsq_check_space(c, va.space, id_a, space_a);
		if (rc == SQLITE_OK)
			rc = rvsq_check_space(c, vb.space, id_b, space_b);
		if (rc == SQLITE_OK && (va.dims != da || vb.dims != db))
			rc = rvsq_fail(c, "embedding_%s of key \"%s\" has %d dimensions, space \"%s\" has %d",
						   va.dims != da ? "a" : "b", (const char *) sqlite3_column_text(st, 0),
						   (int) (va.dims != da ? va.dims : vb.dims), va.dims != da ? space_a : space_b,
						   (int) (va.dims != da ? da : db));
		if (rc == SQLITE_OK && r->n == r->cap)
			rc = items_grow(r, da, db);
		if (rc == SQLITE_OK)
		{
			memcpy(r->a + r->n * da, va.x, sizeof(float) * da);
			memcpy(r->b + r->n * db, vb.x, sizeof(float) * db);
			r->n++;
		}
		rvsq_vec_free(&va);
		rvsq_vec_free(&vb);
		if (rc != SQLITE_OK)
			break;
	}
	if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	else if (rc == SQLITE_ROW || (rc != SQLITE_OK && c->err[0] == '\0' && rc != SQLITE_NOMEM))
		rc = rvsq_sqlite_fail(c, rc);
	sqlite3_finalize(st);
	return rc;
}

/* Project n rows of x with p into a new buffer (*out, sqlite3_malloc'd). */
static int
project_all(rvsq_conn *c, rv_projection *p, const float *x, size_t n, float **out)
{
	size_t		w = rv_projection_dims(p);

	*out = sqlite3_malloc64(sizeof(float) * (n > 0 ? n : 1) * w);
	if (*out == NULL)
		return SQLITE_NOMEM;
	RVSQ_TRY(c, rv_project(c->ctx, p, x, n, *out));
	return SQLITE_OK;
}

static int
compare_run(rvsq_conn *c, sqlite3_value **arg, rv_compare_result *res, int *have)
{
	const char *set_name = rvsq_text(arg[0]);
	const char *space_a = rvsq_text(arg[1]);
	const char *space_b = rvsq_text(arg[2]);
	const char *items = rvsq_text(arg[3]);
	sqlite3_int64 k = arg[4] ? sqlite3_value_int64(arg[4]) : 10;
	const char *via_name = arg[5] ? rvsq_text(arg[5]) : "relative";
	const char *center_name = arg[6] ? rvsq_text(arg[6]) : "none";
	compare_via via;
	rv_center	center;
	rv_projection *pa = NULL,
			   *pb = NULL;
	rv_translation *t = NULL;
	items_rows	r;
	float	   *q = NULL,
			   *cv = NULL;
	const float *qp,
			   *cp;
	size_t		da = 0,
				db = 0,
				d = 0;
	sqlite3_int64 id;
	int			dims_a,
				dims_b;
	int			rc = SQLITE_OK;
	rv_status	s;

	memset(&r, 0, sizeof(r));
	if (strcmp(via_name, "relative") == 0)
		via = VIA_RELATIVE;
	else if (strcmp(via_name, "translation") == 0)
		via = VIA_TRANSLATION;
	else if (strcmp(via_name, "absolute") == 0)
		via = VIA_ABSOLUTE;
	else
		return rvsq_fail(c, "unknown route \"%s\": expected relative, translation or absolute", via_name);
	RVSQ_TRY(c, rv_center_parse(c->ctx, center_name, &center));
	if (via != VIA_RELATIVE && center != RV_CENTER_NONE)
		return rvsq_fail(c, "center \"%s\" applies only to via => 'relative'", center_name);
	if (k < 1)
		return rvsq_fail(c, "k must be at least 1");

	/* resolve the catalog first: its errors come before the items are read */
	switch (via)
	{
		case VIA_RELATIVE:
			if ((rc = rvsq_load_projection(c, set_name, space_a, "cosine", center_name, 0, &pa, &da, NULL))
				!= SQLITE_OK ||
				(rc = rvsq_load_projection(c, set_name, space_b, "cosine", center_name, 0, &pb, &db, NULL))
				!= SQLITE_OK)
				goto done;
			d = rv_projection_dims(pa);
			if (rv_projection_dims(pb) != d)
			{
				rc = rvsq_fail(c, "relvec: projections of one set of different widths");
				goto done;
			}
			break;
		case VIA_TRANSLATION:
			if ((rc = rvsq_load_translation(c, set_name, space_a, space_b, &t)) != SQLITE_OK)
				goto done;
			da = t->d_from;
			db = t->d_to;
			d = db;
			break;
		case VIA_ABSOLUTE:
			if ((rc = rvsq_catalog_read(c)) != SQLITE_OK ||
				(rc = rvsq_find_space(c, space_a, &id, &dims_a)) != SQLITE_OK ||
				(rc = rvsq_find_space(c, space_b, &id, &dims_b)) != SQLITE_OK)
				goto done;
			if (dims_a != dims_b)
			{
				rc = rvsq_fail(c, "spaces \"%s\" and \"%s\" have different dimensions %d and %d", space_a,
							   space_b, dims_a, dims_b);
				goto done;
			}
			da = db = d = (size_t) dims_a;
			break;
	}

	if ((rc = read_items(c, items, space_a, da, space_b, db, &r)) != SQLITE_OK)
		goto done;
	switch (via)
	{
		case VIA_RELATIVE:
			if ((rc = project_all(c, pa, r.a, r.n, &q)) != SQLITE_OK ||
				(rc = project_all(c, pb, r.b, r.n, &cv)) != SQLITE_OK)
				goto done;
			qp = q;
			cp = cv;
			break;
		case VIA_TRANSLATION:
			q = sqlite3_malloc64(sizeof(float) * (r.n > 0 ? r.n : 1) * db);
			if (q == NULL)
			{
				rc = SQLITE_NOMEM;
				goto done;
			}
			if ((s = rv_translate(c->ctx, t, r.a, r.n, q)) != RV_OK)
			{
				rc = rvsq_bridge_fail(c, s);
				goto done;
			}
			qp = q;
			cp = r.b;
			break;
		default:
			qp = r.a;
			cp = r.b;
			break;
	}
	if ((s = rv_compare_spaces(c->ctx, qp, cp, r.n, d, (size_t) k, r.a, da, r.b, db, res)) != RV_OK)
	{
		rc = rvsq_bridge_fail(c, s);
		goto done;
	}
	*have = 1;
done:
	if (pa != NULL)
		rv_projection_destroy(c->ctx, pa);
	if (pb != NULL)
		rv_projection_destroy(c->ctx, pb);
	if (t != NULL)
		rv_translation_destroy(c->ctx, t);
	sqlite3_free(r.a);
	sqlite3_free(r.b);
	sqlite3_free(q);
	sqlite3_free(cv);
	return rc;
}

/* ---- the table-valued function ---------------------------------------------------------- */

static int
compare_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
				char **err)
{
	(void) argc;
	(void) argv;
	(void) err;
	return rvsq_tvf_connect(db, aux, "CREATE TABLE x(jaccard REAL, mrr REAL, cosine REAL, cka REAL, "
							"anchor_set HIDDEN, space_a HIDDEN, space_b HIDDEN, items HIDDEN, k HIDDEN, "
							"via HIDDEN, center HIDDEN)", sizeof(compare_vtab), out);
}

static int
compare_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	(void) vt;
	return rvsq_tvf_best_index(info, C_ANCHOR_SET, C_NCOLS);
}

static void
compare_reset(compare_cursor *cur)
{
	int			i;

	for (i = 0; i < C_NARGS; i++)
	{
		sqlite3_value_free(cur->args[i]);
		cur->args[i] = NULL;
	}
	cur->have = 0;
}

static int
compare_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	compare_cursor *cur = sqlite3_malloc(sizeof(compare_cursor));

	(void) vt;
	if (cur == NULL)
		return SQLITE_NOMEM;
	memset(cur, 0, sizeof(*cur));
	*out = &cur->base;
	return SQLITE_OK;
}

static int
compare_close(sqlite3_vtab_cursor *vc)
{
	compare_reset((compare_cursor *) vc);
	sqlite3_free(vc);
	return SQLITE_OK;
}

static int
compare_filter(sqlite3_vtab_cursor *vc, int idxNum, const char *idxStr, int argc, sqlite3_value **argv)
{
	compare_cursor *cur = (compare_cursor *) vc;
	rvsq_conn  *c = ((compare_vtab *) vc->pVtab)->c;
	sqlite3_value *arg[C_NARGS];
	int			i;
	int			rc;

	(void) idxStr;
	compare_reset(cur);
	rvsq_tvf_args(idxNum, argc, argv, C_NARGS, arg, cur->args);
	for (i = 0; i < 4; i++)
		if (arg[i] == NULL)
		{
			rvsq_fail(c, "relvec_compare_spaces needs anchor_set, space_a, space_b and items");
			return rvsq_vtab_error(vc->pVtab, c, SQLITE_ERROR);
		}
	/* STRICT in PostgreSQL: a NULL argument gives no row */
	for (i = 0; i < C_NARGS; i++)
		if (arg[i] != NULL && sqlite3_value_type(arg[i]) == SQLITE_NULL)
			return SQLITE_OK;
	rc = compare_run(c, arg, &cur->res, &cur->have);
	if (rc != SQLITE_OK)
	{
		compare_reset(cur);
		return rvsq_vtab_error(vc->pVtab, c, rc);
	}
	return SQLITE_OK;
}

static int
compare_next(sqlite3_vtab_cursor *vc)
{
	((compare_cursor *) vc)->have = 0;
	return SQLITE_OK;
}

static int
compare_eof(sqlite3_vtab_cursor *vc)
{
	return !((compare_cursor *) vc)->have;
}

static int
compare_column(sqlite3_vtab_cursor *vc, sqlite3_context *ctx, int col)
{
	compare_cursor *cur = (compare_cursor *) vc;

	switch (col)
	{
		case C_JACCARD:
			sqlite3_result_double(ctx, cur->res.jaccard);
			break;
		case C_MRR:
			sqlite3_result_double(ctx, cur->res.mrr);
			break;
		case C_COSINE:
			sqlite3_result_double(ctx, cur->res.cosine);
			break;
		case C_CKA:
			sqlite3_result_double(ctx, cur->res.cka);
			break;
		default:
			if (cur->args[col - C_ANCHOR_SET] != NULL)
				sqlite3_result_value(ctx, cur->args[col - C_ANCHOR_SET]);
			break;
	}
	return SQLITE_OK;
}

static int
compare_rowid(sqlite3_vtab_cursor *vc, sqlite3_int64 *rowid)
{
	(void) vc;
	*rowid = 1;
	return SQLITE_OK;
}

sqlite3_module rvsq_compare_spaces_module = {
	.iVersion = 0,
	.xCreate = NULL,			/* eponymous only: SELECT * FROM relvec_compare_spaces(...) */
	.xConnect = compare_connect,
	.xBestIndex = compare_best_index,
	.xDisconnect = rvsq_tvf_disconnect,
	.xDestroy = rvsq_tvf_disconnect,
	.xOpen = compare_open,
	.xClose = compare_close,
	.xFilter = compare_filter,
	.xNext = compare_next,
	.xEof = compare_eof,
	.xColumn = compare_column,
	.xRowid = compare_rowid,
};
