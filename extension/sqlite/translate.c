/*
 * translate.c — translations between spaces, as in PostgreSQL's extension/pg/translate.c:
 * relvec_fit_translation fits one on the parallel anchors of a frozen set (the bridge's
 * rv_translation_fit) and stores it in relvec_translations; relvec_translate maps an
 * embedding with it (from the space of its tag when no from_space is given; the result is
 * tagged with to_space); rvsq_load_translation hands a prepared copy to relvec_stitch_knn
 * and relvec_compare_spaces.
 *
 * The stored row: from_mean, from_std, to_mean, to_std and bias are embedding BLOBs in the
 * shared layout, matrix is dim x dim float32 little-endian, row-major, without a header,
 * bias is NULL unless the method is affine (the column comments of the catalog).
 *
 * Prepared translations are cached per connection, at most TRANS_CACHE_SIZE of them, the
 * least recently used dropped first. An entry is identified by its row (set, from space,
 * to space) and a fingerprint of the row's stored bytes: SQLite has no row versions, and
 * a fingerprint also sees a row changed by another connection or by hand. A re-fit drops
 * the entry at once. relvec_translate keeps the entry's token as SQLite auxiliary data of
 * its anchor_set argument, so a statement reads the catalog once per call site, as the
 * STABLE function does in PostgreSQL.
 */
#include <string.h>

#include "relvec_sqlite.h"

#define TRANS_CACHE_SIZE 8

typedef struct trans_entry
{
	int			used;
	sqlite3_int64 set_id;
	sqlite3_int64 from_id;
	sqlite3_int64 to_id;
	sqlite3_uint64 fingerprint;	/* of the stored row's bytes */
	rv_translation *t;
	sqlite3_uint64 token;		/* unique per load */
	sqlite3_uint64 last_used;
} trans_entry;

typedef struct rvsq_trans_cache
{
	trans_entry e[TRANS_CACHE_SIZE];
	sqlite3_uint64 clock;
} rvsq_trans_cache;

void
rvsq_translation_cache_free(rvsq_conn *c)
{
	int			i;

	if (c->translations == NULL)
		return;
	for (i = 0; i < TRANS_CACHE_SIZE; i++)
		if (c->translations->e[i].used)
			rv_translation_destroy(c->ctx, c->translations->e[i].t);
	sqlite3_free(c->translations);
	c->translations = NULL;
}

/* Drop the cached translation of a row (a re-fit replaced it). */
static void
cache_forget(rvsq_conn *c, sqlite3_int64 set_id, sqlite3_int64 from_id, sqlite3_int64 to_id)
{
	int			i;

	if (c->translations == NULL)
		return;
	for (i = 0; i < TRANS_CACHE_SIZE; i++)
	{
		trans_entry *e = &c->translations->e[i];

		if (e->used && e->set_id == set_id && e->from_id == from_id && e->to_id == to_id)
		{
			rv_translation_destroy(c->ctx, e->t);
			memset(e, 0, sizeof(*e));
		}
	}
}

/* FNV-1a over n bytes, continuing from h. */
static sqlite3_uint64
fnv(sqlite3_uint64 h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		h ^= b[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* Columns of the stored row, in the order of the lookup query. */
enum
{
	T_METHOD = 0, T_FROM_MEAN, T_FROM_STD, T_TO_MEAN, T_TO_STD, T_MATRIX, T_BIAS, T_NCOLS
};

static const char *const col_names[] = {"method", "from_mean", "from_std", "to_mean", "to_std",
"matrix", "bias"};

/* The fingerprint of the current row: every column's type, length and bytes. */
static sqlite3_uint64
row_fingerprint(sqlite3_stmt *st)
{
	sqlite3_uint64 h = 14695981039346656037ULL;
	int			i;

	for (i = 0; i < T_NCOLS; i++)
	{
		int			type = sqlite3_column_type(st, i);
		const void *p = type == SQLITE_TEXT ? (const void *) sqlite3_column_text(st, i) :
			sqlite3_column_blob(st, i);
		int			n = sqlite3_column_bytes(st, i);

		h = fnv(h, &type, sizeof(type));
		h = fnv(h, &n, sizeof(n));
		if (p != NULL)
			h = fnv(h, p, (size_t) n);
	}
	return h;
}

/* The stored row is damaged: PostgreSQL's primary text (its detail names what is wrong). */
static int
damaged(rvsq_conn *c, const char *set_name, const char *from, const char *to)
{
	return rvsq_fail(c, "stored translation from space \"%s\" to space \"%s\" in anchor set \"%s\" is damaged",
					 from, to, set_name);
}

/*
 * An embedding column of the current row with dims dimensions, copied into *out (NULL
 * when the column is null and nullable); damaged otherwise.
 */
static int
row_floats(rvsq_conn *c, sqlite3_stmt *st, int col, size_t dims, int nullable, float **out,
		   const char *set_name, const char *from, const char *to)
{
	rvsq_vec	v;
	int			rc;

	*out = NULL;
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return nullable ? SQLITE_OK : damaged(c, set_name, from, to);
	if (sqlite3_column_type(st, col) != SQLITE_BLOB)
		return damaged(c, set_name, from, to);
	rc = rvsq_value_vec(c, sqlite3_column_value(st, col), col_names[col], &v);
	if (rc == SQLITE_NOMEM)
		return rc;
	if (rc != SQLITE_OK || v.dims != dims)
	{
		c->err[0] = '\0';
		rvsq_vec_free(&v);
		return damaged(c, set_name, from, to);
	}
	*out = sqlite3_malloc64(sizeof(float) * dims);
	if (*out == NULL)
		rc = SQLITE_NOMEM;
	else
		memcpy(*out, v.x, sizeof(float) * dims);
	rvsq_vec_free(&v);
	return rc;
}

/* A prepared translation from the current row, checked against the spaces' dimensions. */
static int
translation_from_row(rvsq_conn *c, sqlite3_stmt *st, const char *set_name, const char *from,
					 const char *to, int d_from, int d_to, rv_translation **out)
{
	rv_translation f;
	const char *method = (const char *) sqlite3_column_text(st, T_METHOD);
	size_t		dim = (size_t) (d_from > d_to ? d_from : d_to);
	const void *mat;
	int			rc = SQLITE_OK;
	rv_status	s;

	memset(&f, 0, sizeof(f));
	if (method == NULL || rv_translate_method_parse(c->ctx, method, &f.method) != RV_OK)
	{
		rv_clear_error(c->ctx);
		return damaged(c, set_name, from, to);
	}
	f.d_from = (size_t) d_from;
	f.d_to = (size_t) d_to;
	f.dim = dim;
	if ((rc = row_floats(c, st, T_FROM_MEAN, f.d_from, 0, &f.mean_from, set_name, from, to)) != SQLITE_OK ||
		(rc = row_floats(c, st, T_FROM_STD, f.d_from, 0, &f.std_from, set_name, from, to)) != SQLITE_OK ||
		(rc = row_floats(c, st, T_TO_MEAN, f.d_to, 0, &f.mean_to, set_name, from, to)) != SQLITE_OK ||
		(rc = row_floats(c, st, T_TO_STD, f.d_to, 0, &f.std_to, set_name, from, to)) != SQLITE_OK ||
		(rc = row_floats(c, st, T_BIAS, dim, 1, &f.bias, set_name, from, to)) != SQLITE_OK)
		goto done;
	mat = sqlite3_column_blob(st, T_MATRIX);
	if (sqlite3_column_type(st, T_MATRIX) != SQLITE_BLOB ||
		(size_t) sqlite3_column_bytes(st, T_MATRIX) != sizeof(float) * dim * dim)
	{
		rc = damaged(c, set_name, from, to);
		goto done;
	}
	f.matrix = sqlite3_malloc64(sizeof(float) * dim * dim);
	if (f.matrix == NULL)
	{
		rc = SQLITE_NOMEM;
		goto done;
	}
	/* float32 little-endian, as the embedding payload: the host's order (see embedding.c) */
	memcpy(f.matrix, mat, sizeof(float) * dim * dim);
	/* load checks the rest (finite values, positive deviations, a bias exactly for affine) */
	s = rv_translation_load(c->ctx, &f, out);
	if (s == RV_E_NOMEM)
		rc = rvsq_bridge_fail(c, s);
	else if (s != RV_OK)
	{
		rv_clear_error(c->ctx);
		rc = damaged(c, set_name, from, to);
	}
done:
	sqlite3_free(f.mean_from);
	sqlite3_free(f.std_from);
	sqlite3_free(f.mean_to);
	sqlite3_free(f.std_to);
	sqlite3_free(f.bias);
	sqlite3_free(f.matrix);
	return rc;
}

/* The ids of a translation's set and spaces and the spaces' dimensions. */
typedef struct trans_ids
{
	sqlite3_int64 set_id;
	sqlite3_int64 from_id;
	sqlite3_int64 to_id;
	int			frozen;
	size_t		nkeys;
	int			d_from;
	int			d_to;
} trans_ids;

static int
lookup_ids(rvsq_conn *c, const char *set_name, const char *from, const char *to, trans_ids *ids)
{
	int			rc;

	if ((rc = rvsq_catalog_read(c)) != SQLITE_OK ||
		(rc = rvsq_find_set(c, set_name, &ids->set_id, &ids->frozen, &ids->nkeys)) != SQLITE_OK ||
		(rc = rvsq_find_space(c, from, &ids->from_id, &ids->d_from)) != SQLITE_OK ||
		(rc = rvsq_find_space(c, to, &ids->to_id, &ids->d_to)) != SQLITE_OK)
		return rc;
	/* no row can exist (fitting refuses it): say what is wrong rather than "not fitted" */
	if (ids->from_id == ids->to_id)
		return rvsq_fail(c, "cannot translate from space \"%s\" to itself", from);
	return SQLITE_OK;
}

/* Step the statement reading the stored row of ids; "no translation fitted" without one. */
static int
read_row(rvsq_conn *c, const trans_ids *ids, const char *set_name, const char *from, const char *to,
		 sqlite3_stmt **out)
{
	sqlite3_stmt *st;
	int			rc;

	*out = NULL;
	rc = sqlite3_prepare_v2(c->db, "SELECT method, from_mean, from_std, to_mean, to_std, matrix, bias "
							"FROM relvec_translations WHERE set_id = ?1 AND from_space_id = ?2 AND to_space_id = ?3",
							-1, &st, NULL);
	if (rc != SQLITE_OK)
		return rvsq_sqlite_fail(c, rc);
	sqlite3_bind_int64(st, 1, ids->set_id);
	sqlite3_bind_int64(st, 2, ids->from_id);
	sqlite3_bind_int64(st, 3, ids->to_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
	{
		*out = st;
		return SQLITE_OK;
	}
	if (rc == SQLITE_DONE)
		rc = rvsq_fail(c, "no translation fitted from space \"%s\" to space \"%s\" in anchor set \"%s\"",
					   from, to, set_name);
	else
		rc = rvsq_sqlite_fail(c, rc);
	sqlite3_finalize(st);
	return rc;
}

int
rvsq_load_translation(rvsq_conn *c, const char *anchor_set, const char *from_space,
					  const char *to_space, rv_translation **out)
{
	trans_ids	ids;
	sqlite3_stmt *st = NULL;
	int			rc;

	*out = NULL;
	if ((rc = lookup_ids(c, anchor_set, from_space, to_space, &ids)) != SQLITE_OK ||
		(rc = read_row(c, &ids, anchor_set, from_space, to_space, &st)) != SQLITE_OK)
		return rc;
	rc = translation_from_row(c, st, anchor_set, from_space, to_space, ids.d_from, ids.d_to, out);
	sqlite3_finalize(st);
	return rc;
}

/*
 * The cached translation for (anchor_set, from, to), loading it when the stored row is
 * new or changed; owned by the cache. *token identifies the entry; *to_id gets to's id.
 */
static int
cached_translation(rvsq_conn *c, const char *anchor_set, const char *from, const char *to,
				   rv_translation **out, sqlite3_uint64 *token, sqlite3_int64 *to_id)
{
	rvsq_trans_cache *cache;
	trans_ids	ids;
	sqlite3_stmt *st = NULL;
	sqlite3_uint64 fp;
	trans_entry *e = NULL;
	trans_entry *victim;
	int			rc;
	int			i;

	if (c->translations == NULL)
	{
		c->translations = sqlite3_malloc(sizeof(rvsq_trans_cache));
		if (c->translations == NULL)
			return SQLITE_NOMEM;
		memset(c->translations, 0, sizeof(rvsq_trans_cache));
	}
	cache = c->translations;
	if ((rc = lookup_ids(c, anchor_set, from, to, &ids)) != SQLITE_OK ||
		(rc = read_row(c, &ids, anchor_set, from, to, &st)) != SQLITE_OK)
		return rc;
	fp = row_fingerprint(st);
	victim = &cache->e[0];
	for (i = 0; i < TRANS_CACHE_SIZE; i++)
	{
		trans_entry *x = &cache->e[i];

		if (x->used && x->set_id == ids.set_id && x->from_id == ids.from_id && x->to_id == ids.to_id)
		{
			if (x->fingerprint == fp)
			{
				e = x;
				break;
			}
			/* the row changed: this entry is stale */
			rv_translation_destroy(c->ctx, x->t);
			memset(x, 0, sizeof(*x));
		}
		if (!x->used || (victim->used && x->last_used < victim->last_used))
			victim = x;
	}
	if (e == NULL)
	{
		rv_translation *t;

		rc = translation_from_row(c, st, anchor_set, from, to, ids.d_from, ids.d_to, &t);
		if (rc != SQLITE_OK)
		{
			sqlite3_finalize(st);
			return rc;
		}
		if (victim->used)
			rv_translation_destroy(c->ctx, victim->t);
		e = victim;
		e->used = 1;
		e->set_id = ids.set_id;
		e->from_id = ids.from_id;
		e->to_id = ids.to_id;
		e->fingerprint = fp;
		e->t = t;
		e->token = ++cache->clock;
	}
	sqlite3_finalize(st);
	e->last_used = ++cache->clock;
	*out = e->t;
	*token = e->token;
	*to_id = ids.to_id;
	return SQLITE_OK;
}

/* The cached translation handed out with token, or NULL once it has left the cache. */
static rv_translation *
translation_by_token(rvsq_conn *c, sqlite3_uint64 token)
{
	int			i;

	if (c->translations == NULL)
		return NULL;
	for (i = 0; i < TRANS_CACHE_SIZE; i++)
	{
		trans_entry *e = &c->translations->e[i];

		if (e->used && e->token == token)
		{
			e->last_used = ++c->translations->clock;
			return e->t;
		}
	}
	return NULL;
}

/* A BLOB in the shared embedding layout bound to parameter i (SQLITE_NOMEM on failure). */
static int
bind_vec(sqlite3_stmt *st, int i, const float *x, size_t dims)
{
	int			n;
	unsigned char *b = rvsq_blob_new(x, dims, 0, &n);

	if (b == NULL)
		return SQLITE_NOMEM;
	return sqlite3_bind_blob(st, i, b, n, sqlite3_free);
}

/* Fit, store and return the quality in *quality; the checks and messages of PostgreSQL. */
static int
fit_translation(rvsq_conn *c, const char *set_name, const char *from, const char *to,
				const char *method_name, double *quality)
{
	rv_translate_method method;
	trans_ids	ids;
	float	   *a_from = NULL,
			   *a_to = NULL,
			   *translated = NULL;
	rv_translation *t = NULL;
	sqlite3_stmt *st = NULL;
	size_t		k,
				i;
	int			rc;
	rv_status	s;

	RVSQ_TRY(c, rv_translate_method_parse(c->ctx, method_name, &method));
	if ((rc = rvsq_catalog_init(c)) != SQLITE_OK ||
		(rc = rvsq_find_set(c, set_name, &ids.set_id, &ids.frozen, &ids.nkeys)) != SQLITE_OK)
		return rc;
	if (!ids.frozen)
		return rvsq_fail(c, "anchor set \"%s\" is not frozen", set_name);
	if ((rc = rvsq_find_space(c, from, &ids.from_id, &ids.d_from)) != SQLITE_OK ||
		(rc = rvsq_find_space(c, to, &ids.to_id, &ids.d_to)) != SQLITE_OK)
		return rc;
	if (ids.from_id == ids.to_id)
		return rvsq_fail(c, "cannot fit a translation from space \"%s\" to itself", from);
	k = ids.nkeys;
	if ((rc = rvsq_load_anchors(c, set_name, ids.set_id, k, from, ids.from_id, ids.d_from, &a_from))
		!= SQLITE_OK ||
		(rc = rvsq_load_anchors(c, set_name, ids.set_id, k, to, ids.to_id, ids.d_to, &a_to)) != SQLITE_OK)
		goto done;
	if ((s = rv_translation_fit(c->ctx, a_from, a_to, k, (size_t) ids.d_from, (size_t) ids.d_to, method,
								&t)) != RV_OK)
	{
		rc = rvsq_bridge_fail(c, s);
		goto done;
	}
	translated = sqlite3_malloc64(sizeof(float) * k * (size_t) ids.d_to);
	if (translated == NULL)
	{
		rc = SQLITE_NOMEM;
		goto done;
	}
	if ((s = rv_translate(c->ctx, t, a_from, k, translated)) != RV_OK)
	{
		rc = rvsq_bridge_fail(c, s);
		goto done;
	}
	*quality = 0;
	for (i = 0; i < k; i++)
		*quality += 1.0 - rv_cosine_distance(translated + i * ids.d_to, a_to + i * ids.d_to,
											 (size_t) ids.d_to);
	*quality /= (double) k;

	rc = sqlite3_prepare_v2(c->db,
							"INSERT INTO relvec_translations (set_id, from_space_id, to_space_id, method, from_mean, "
							"from_std, to_mean, to_std, matrix, bias, fitted_at) "
							"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, datetime('now')) "
							"ON CONFLICT (set_id, from_space_id, to_space_id) DO UPDATE SET "
							"method = excluded.method, from_mean = excluded.from_mean, from_std = excluded.from_std, "
							"to_mean = excluded.to_mean, to_std = excluded.to_std, matrix = excluded.matrix, "
							"bias = excluded.bias, fitted_at = excluded.fitted_at", -1, &st, NULL);
	if (rc != SQLITE_OK)
	{
		rc = rvsq_sqlite_fail(c, rc);
		goto done;
	}
	sqlite3_bind_int64(st, 1, ids.set_id);
	sqlite3_bind_int64(st, 2, ids.from_id);
	sqlite3_bind_int64(st, 3, ids.to_id);
	sqlite3_bind_text(st, 4, rv_translate_method_name(method), -1, SQLITE_STATIC);
	if ((rc = bind_vec(st, 5, t->mean_from, t->d_from)) != SQLITE_OK ||
		(rc = bind_vec(st, 6, t->std_from, t->d_from)) != SQLITE_OK ||
		(rc = bind_vec(st, 7, t->mean_to, t->d_to)) != SQLITE_OK ||
		(rc = bind_vec(st, 8, t->std_to, t->d_to)) != SQLITE_OK ||
		(rc = sqlite3_bind_blob64(st, 9, t->matrix, sizeof(float) * t->dim * t->dim, SQLITE_TRANSIENT))
		!= SQLITE_OK ||
		(t->bias != NULL && (rc = bind_vec(st, 10, t->bias, t->dim)) != SQLITE_OK))
	{
		rc = rc == SQLITE_NOMEM ? rc : rvsq_sqlite_fail(c, rc);
		goto done;
	}
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? SQLITE_OK : rvsq_sqlite_fail(c, rc);
	if (rc == SQLITE_OK)
		cache_forget(c, ids.set_id, ids.from_id, ids.to_id);
done:
	sqlite3_finalize(st);
	if (t != NULL)
		rv_translation_destroy(c->ctx, t);
	sqlite3_free(a_from);
	sqlite3_free(a_to);
	sqlite3_free(translated);
	return rc;
}

/* relvec_fit_translation(anchor_set, from_space, to_space [, method]): fit, store, return the quality. */
void
rvsq_fit_translation(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	double		quality = 0;
	int			rc;

	/* STRICT in PostgreSQL: any NULL argument gives NULL */
	if (rvsq_any_null(argc, argv))
		return;
	rc = rvsq_catalog_init(c);
	if (rc == SQLITE_OK && (rc = rvsq_begin(c)) == SQLITE_OK)
		rc = rvsq_end(c, fit_translation(c, rvsq_text(argv[0]), rvsq_text(argv[1]), rvsq_text(argv[2]),
										 argc > 3 ? rvsq_text(argv[3]) : "orthogonal", &quality));
	if (rc != SQLITE_OK)
		rvsq_result_error(ctx, c, rc);
	else
		sqlite3_result_double(ctx, quality);
}

/* What relvec_translate keeps per call site: the arguments, the cache token, to's id. */
typedef struct translate_memo
{
	char	   *args;			/* anchor_set \x1f from \x1f to */
	sqlite3_uint64 token;
	sqlite3_int64 to_id;
} translate_memo;

static void
translate_memo_free(void *p)
{
	translate_memo *m = p;

	sqlite3_free(m->args);
	sqlite3_free(m);
}

/*
 * relvec_translate(x, anchor_set, [from_space,] to_space): x mapped into to_space, tagged
 * with it. Without from_space, x's own space (its tag); with it, x must be untagged or of
 * that space.
 */
void
rvsq_translate(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	const char *set_name = rvsq_text(argv[1]);
	const char *from = argc > 3 ? rvsq_text(argv[2]) : NULL;
	const char *to = rvsq_text(argv[argc - 1]);
	char	   *own = NULL;		/* the space named by x's tag */
	translate_memo *m;
	translate_memo found;
	rv_translation *t = NULL;
	char	   *args = NULL;
	unsigned	to_tag = 0;
	rvsq_vec	x;
	float	   *out = NULL;
	rv_status	s;
	int			rc;

	memset(&x, 0, sizeof(x));
	memset(&found, 0, sizeof(found));
	/* STRICT in PostgreSQL: any NULL argument gives NULL */
	if (rvsq_any_null(argc, argv))
		return;
	/* x first, as PostgreSQL reads its arguments before the function runs */
	if ((rc = rvsq_value_vec(c, argv[0], "embedding", &x)) != SQLITE_OK)
		goto done;
	if ((rc = rvsq_space_of_call(c, x.space, "relvec_translate(x, anchor_set, to_space)",
								 &from, &own)) != SQLITE_OK)
		goto done;
	args = sqlite3_mprintf("%s\x1f%s\x1f%s", set_name, from, to);
	if (args == NULL)
	{
		rc = SQLITE_NOMEM;
		goto done;
	}
	m = sqlite3_get_auxdata(ctx, 1);
	if (m != NULL && strcmp(m->args, args) == 0 && (t = translation_by_token(c, m->token)) != NULL)
		found = *m;
	else
	{
		if ((rc = cached_translation(c, set_name, from, to, &t, &found.token, &found.to_id))
			!= SQLITE_OK)
			goto done;
		m = sqlite3_malloc(sizeof(translate_memo));
		if (m != NULL)
		{
			*m = found;
			m->args = args;
			args = NULL;
			/* SQLite may free m at once (argument not constant); t stays valid this call */
			sqlite3_set_auxdata(ctx, 1, m, translate_memo_free);
		}
	}
	found.args = NULL;
	if ((rc = rvsq_space_tag(c, to, found.to_id, &to_tag)) != SQLITE_OK)
		goto done;
	if (x.dims != t->d_from)
	{
		rc = rvsq_fail(c, "embedding has %d dimensions, space \"%s\" has %d", (int) x.dims, from, (int) t->d_from);
		goto done;
	}
	out = sqlite3_malloc64(sizeof(float) * t->d_to);
	if (out == NULL)
		rc = SQLITE_NOMEM;
	else if ((s = rv_translate(c->ctx, t, x.x, 1, out)) != RV_OK)
		rc = rvsq_bridge_fail(c, s);
	else
		rvsq_result_vec(ctx, out, t->d_to, to_tag);
done:
	if (rc != SQLITE_OK)
		rvsq_result_error(ctx, c, rc);
	sqlite3_free(out);
	sqlite3_free(args);
	sqlite3_free(own);
	rvsq_vec_free(&x);
}
