/*
 * embedding.c — embeddings as SQLite values. A BLOB in the bridge's layout (uint16 dims
 * LE, uint16 space tag, float32 LE values) is the stored form, exchanged unchanged with
 * PostgreSQL; the text form '[1,2,3]', or 'name#id:[1,2,3]' for a value of a space, is
 * accepted wherever an embedding is (the space resolved in this file's catalog, spaces.c).
 * Functions that return an embedding return the BLOB; embedding_text() gives the text
 * form, tagged values with their space's name. The aggregates embedding_avg/embedding_sum
 * are PostgreSQL's avg/sum(embedding) (SQLite's own avg and sum keep their names). This
 * file also reads users' (key, embedding) queries.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relvec_sqlite.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define RVSQ_BIG_ENDIAN 1
#else
#define RVSQ_BIG_ENDIAN 0
#endif

/* Copy n float32 values between the little-endian layout and host order. */
static void
copy_le(float *dst, const void *src, size_t n)
{
	memcpy(dst, src, n * sizeof(float));
#if RVSQ_BIG_ENDIAN
	{
		uint32_t   *u = (uint32_t *) dst;
		size_t		i;

		for (i = 0; i < n; i++)
			u[i] = __builtin_bswap32(u[i]);
	}
#endif
}

const char *
rvsq_text(sqlite3_value *v)
{
	if (sqlite3_value_type(v) == SQLITE_NULL)
		return NULL;
	return (const char *) sqlite3_value_text(v);
}

int
rvsq_any_null(int argc, sqlite3_value **argv)
{
	int			i;

	for (i = 0; i < argc; i++)
		if (sqlite3_value_type(argv[i]) == SQLITE_NULL)
			return 1;
	return 0;
}

void
rvsq_vec_free(rvsq_vec *v)
{
	sqlite3_free(v->owned);
	v->owned = NULL;
	v->x = NULL;
	v->dims = 0;
}

int
rvsq_value_vec(rvsq_conn *c, sqlite3_value *v, const char *what, rvsq_vec *out)
{
	int			type = sqlite3_value_type(v);

	memset(out, 0, sizeof(*out));
	if (type == SQLITE_BLOB)
	{
		const void *blob = sqlite3_value_blob(v);
		size_t		len = (size_t) sqlite3_value_bytes(v);
		const float *payload;
		size_t		dims;

		RVSQ_TRY(c, rv_blob_check(c->ctx, blob, len, &dims, &payload));
		out->space = rv_blob_space(blob);
		if (RVSQ_BIG_ENDIAN || ((uintptr_t) payload % sizeof(float)) != 0)
		{
			out->owned = sqlite3_malloc64(dims * sizeof(float));
			if (out->owned == NULL)
				return SQLITE_NOMEM;
			copy_le(out->owned, payload, dims);
			out->x = out->owned;
		}
		else
			out->x = payload;
		out->dims = dims;
		return SQLITE_OK;
	}
	if (type == SQLITE_TEXT)
	{
		const char *text = (const char *) sqlite3_value_text(v);
		const char *array;
		char		name[RV_MAX_SPACE_NAME + 1];
		unsigned	id;
		int			tagged;
		size_t		cap;
		size_t		dims;
		rv_status	s;
		int			rc;

		if (text == NULL)
			return SQLITE_NOMEM;
		RVSQ_TRY(c, rv_parse_space_prefix(c->ctx, text, &tagged, name, &id, &array));
		if (tagged && (rc = rvsq_resolve_tag(c, name, id, &out->space)) != SQLITE_OK)
			return rc;
		text = array;
		cap = rv_text_max_dims(text);
		if (cap > RV_MAX_DIMS)
			cap = RV_MAX_DIMS;
		if (cap < 1)
			cap = 1;
		out->owned = sqlite3_malloc64(cap * sizeof(float));
		if (out->owned == NULL)
			return SQLITE_NOMEM;
		s = rv_parse_text(c->ctx, text, out->owned, cap, &dims);
		if (s != RV_OK)
		{
			rvsq_vec_free(out);
			return rvsq_bridge_fail(c, s);
		}
		out->x = out->owned;
		out->dims = dims;
		return SQLITE_OK;
	}
	if (type == SQLITE_NULL)
		return rvsq_fail(c, "%s must not be null", what);
	return rvsq_fail(c, "%s must be a BLOB or text such as '[1,2,3]', not %s",
					 what, type == SQLITE_INTEGER ? "an integer" : "a real number");
}

unsigned char *
rvsq_blob_new(const float *x, size_t dims, unsigned space, int *nbytes)
{
	size_t		len = RV_HEADER_BYTES + dims * sizeof(float);
	unsigned char *b = sqlite3_malloc64(len);

	if (b == NULL)
		return NULL;
	rv_blob_header(b, dims, space);
	memcpy(b + RV_HEADER_BYTES, x, dims * sizeof(float));
#if RVSQ_BIG_ENDIAN
	copy_le((float *) (b + RV_HEADER_BYTES), x, dims);
#endif
	*nbytes = (int) len;
	return b;
}

void
rvsq_result_vec(sqlite3_context *ctx, const float *x, size_t dims, unsigned space)
{
	int			n;
	unsigned char *b = rvsq_blob_new(x, dims, space, &n);

	if (b == NULL)
		sqlite3_result_error_nomem(ctx);
	else
		sqlite3_result_blob(ctx, b, n, sqlite3_free);
}

/* embedding(x [, dims]): x as a BLOB (its tag kept); with dims, an error unless it has that many. */
void
rvsq_embedding(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	rvsq_vec	v;
	int			rc;

	if (sqlite3_value_type(argv[0]) == SQLITE_NULL ||
		(argc > 1 && sqlite3_value_type(argv[1]) == SQLITE_NULL))
		return;
	rc = rvsq_value_vec(c, argv[0], "embedding", &v);
	if (rc == SQLITE_OK && argc > 1)
	{
		rv_status	s = rv_check_typmod(c->ctx, v.dims, sqlite3_value_int(argv[1]));

		if (s != RV_OK)
			rc = rvsq_bridge_fail(c, s);
	}
	if (rc != SQLITE_OK)
		rvsq_result_error(ctx, c, rc);
	else
		rvsq_result_vec(ctx, v.x, v.dims, v.space);
	rvsq_vec_free(&v);
}

/*
 * embedding_text(x): the text form, each value in its shortest round-trip decimal; a
 * tagged value is prefixed "name#id:" with its space's name in this file's catalog
 * ("#id:" when the catalog lacks it), which reads back here or in PostgreSQL by name.
 */
void
rvsq_embedding_text(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	rvsq_vec	v;
	char	   *name = NULL;
	char	   *buf;
	size_t		len = 0;
	int			rc;

	(void) argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	rc = rvsq_value_vec(c, argv[0], "embedding", &v);
	if (rc == SQLITE_OK && v.space != 0)
		rc = rvsq_space_name(c, v.space, &name);
	if (rc != SQLITE_OK)
	{
		rvsq_result_error(ctx, c, rc);
		rvsq_vec_free(&v);
		return;
	}
	buf = sqlite3_malloc64((v.space != 0 ? rv_space_prefix_size(name) : 0) + rv_format_text_size(v.dims));
	if (buf == NULL)
		sqlite3_result_error_nomem(ctx);
	else
	{
		if (v.space != 0)
			len = rv_format_space_prefix(name, v.space, buf);
		len += rv_format_text(v.x, v.dims, buf + len);
		sqlite3_result_text(ctx, buf, (int) len, sqlite3_free);
	}
	sqlite3_free(name);
	rvsq_vec_free(&v);
}

/*
 * Aggregates: state is [count, sums...] in double precision (rv_accum), as PostgreSQL's.
 * NULL inputs are skipped; no rows (or only NULLs) give NULL. The rows' tags must go
 * together; the result keeps their common tag.
 */
typedef struct accum_state
{
	size_t		dims;
	double	   *sums;			/* dims + 1 values; sums[0] is the count */
	unsigned	space;
	int			failed;
} accum_state;

void
rvsq_embedding_avg_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	accum_state *st = sqlite3_aggregate_context(ctx, sizeof(accum_state));
	rvsq_vec	v;
	int			rc;

	(void) argc;
	if (st == NULL)
	{
		sqlite3_result_error_nomem(ctx);
		return;
	}
	if (st->failed || sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	rc = rvsq_value_vec(c, argv[0], "embedding", &v);
	if (rc == SQLITE_OK && (rc = rvsq_same_space(c, st->space, v.space)) == SQLITE_OK)
		st->space = RVSQ_COMMON_SPACE(st->space, v.space);
	if (rc == SQLITE_OK && st->sums == NULL)
	{
		st->sums = sqlite3_malloc64(sizeof(double) * (v.dims + 1));
		if (st->sums == NULL)
			rc = SQLITE_NOMEM;
		else
		{
			memset(st->sums, 0, sizeof(double) * (v.dims + 1));
			st->dims = v.dims;
		}
	}
	if (rc == SQLITE_OK && v.dims != st->dims)
		rc = rvsq_bridge_fail(c, rv_check_same_dims(c->ctx, st->dims, v.dims));
	if (rc == SQLITE_OK)
		rv_accum(st->sums, v.x, v.dims);
	else
	{
		st->failed = 1;
		rvsq_result_error(ctx, c, rc);
	}
	rvsq_vec_free(&v);
}

static void
accum_final(sqlite3_context *ctx, int avg)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	accum_state *st = sqlite3_aggregate_context(ctx, 0);
	float	   *out;
	rv_status	s;

	if (st == NULL || st->sums == NULL || st->failed || st->sums[0] == 0.0)
	{
		if (st != NULL)
			sqlite3_free(st->sums);
		return;
	}
	out = sqlite3_malloc64(sizeof(float) * st->dims);
	if (out == NULL)
		sqlite3_result_error_nomem(ctx);
	else if ((s = rv_accum_final(c->ctx, st->sums, st->dims, avg, out)) != RV_OK)
		rvsq_result_error(ctx, c, rvsq_bridge_fail(c, s));
	else
		rvsq_result_vec(ctx, out, st->dims, st->space);
	sqlite3_free(out);
	sqlite3_free(st->sums);
	st->sums = NULL;
}

void
rvsq_embedding_avg_final(sqlite3_context *ctx)
{
	accum_final(ctx, 1);
}

void
rvsq_embedding_sum_final(sqlite3_context *ctx)
{
	accum_final(ctx, 0);
}

/* ---- users' queries ------------------------------------------------------------------ */

int
rvsq_prepare_query(rvsq_conn *c, const char *sql, int ncols, const rvsq_source *src,
				   sqlite3_stmt **out)
{
	const char *tail = NULL;
	int			rc;

	*out = NULL;
	rc = sqlite3_prepare_v2(c->db, sql, -1, out, &tail);
	if (rc != SQLITE_OK)
		return rvsq_sqlite_fail(c, rc);
	while (tail != NULL && (*tail == ' ' || *tail == '\t' || *tail == '\n' || *tail == '\r' || *tail == ';'))
		tail++;
	if (*out == NULL || (tail != NULL && *tail != '\0') || sqlite3_column_count(*out) == 0)
	{
		sqlite3_finalize(*out);
		*out = NULL;
		return rvsq_fail(c, "%s must be a single statement that returns rows", src->whole);
	}
	if (sqlite3_column_count(*out) != ncols)
	{
		rc = rvsq_fail(c, "%s", src->shape_msg);
		sqlite3_finalize(*out);
		*out = NULL;
		return rc;
	}
	/*
	 * A query is read, never run for its effects: an INSERT/UPDATE/DELETE ... RETURNING is
	 * bad input, whether or not the file is writable (PostgreSQL's message and SQLSTATE
	 * 22023: rvpg_prepare_query).
	 */
	if (!sqlite3_stmt_readonly(*out))
	{
		sqlite3_finalize(*out);
		*out = NULL;
		return rvsq_fail(c, "%s must be a read-only query", src->whole);
	}
	return SQLITE_OK;
}

/* ---- keys of their own type ------------------------------------------------------- */

int
rvsq_key_from_value(rvsq_key *k, sqlite3_value *v)
{
	memset(k, 0, sizeof(*k));
	switch (sqlite3_value_type(v))
	{
		case SQLITE_INTEGER:
			k->u.i = sqlite3_value_int64(v);
			break;
		case SQLITE_FLOAT:
			k->u.r = sqlite3_value_double(v);
			break;
		case SQLITE_TEXT:
		case SQLITE_BLOB:
			{
				const void *b = sqlite3_value_type(v) == SQLITE_TEXT ? (const void *) sqlite3_value_text(v)
					: sqlite3_value_blob(v);
				int			n = sqlite3_value_bytes(v);

				if (b == NULL && n > 0)
					return SQLITE_NOMEM;
				/* one byte more: a text key ends with its NUL */
				k->p = sqlite3_malloc64((sqlite3_uint64) n + 1);
				if (k->p == NULL)
					return SQLITE_NOMEM;
				if (n > 0)
					memcpy(k->p, b, (size_t) n);
				k->p[n] = '\0';
				k->n = n;
				break;
			}
		default:
			return SQLITE_OK;
	}
	k->type = sqlite3_value_type(v);
	return SQLITE_OK;
}

int
rvsq_key_from_text(rvsq_key *k, const char *s)
{
	memset(k, 0, sizeof(*k));
	k->p = sqlite3_mprintf("%s", s ? s : "");
	if (k->p == NULL)
		return SQLITE_NOMEM;
	k->n = (int) strlen(k->p);
	k->type = SQLITE_TEXT;
	return SQLITE_OK;
}

int
rvsq_key_copy(rvsq_key *dst, const rvsq_key *src)
{
	*dst = *src;
	if (src->p == NULL)
		return SQLITE_OK;
	dst->p = sqlite3_malloc64((sqlite3_uint64) src->n + 1);
	if (dst->p == NULL)
	{
		memset(dst, 0, sizeof(*dst));
		return SQLITE_NOMEM;
	}
	memcpy(dst->p, src->p, (size_t) src->n + 1);
	return SQLITE_OK;
}

void
rvsq_key_free(rvsq_key *k)
{
	sqlite3_free(k->p);
	memset(k, 0, sizeof(*k));
}

void
rvsq_key_result(sqlite3_context *ctx, const rvsq_key *k)
{
	switch (k->type)
	{
		case SQLITE_INTEGER:
			sqlite3_result_int64(ctx, k->u.i);
			break;
		case SQLITE_FLOAT:
			sqlite3_result_double(ctx, k->u.r);
			break;
		case SQLITE_TEXT:
			sqlite3_result_text(ctx, k->p, k->n, SQLITE_TRANSIENT);
			break;
		case SQLITE_BLOB:
			sqlite3_result_blob(ctx, k->p, k->n, SQLITE_TRANSIENT);
			break;
		default:
			sqlite3_result_null(ctx);
			break;
	}
}

/* ---- (key, embedding) rows --------------------------------------------------------- */

void
rvsq_rows_clear(rvsq_rows *rows)
{
	size_t		i;

	for (i = 0; i < rows->n; i++)
	{
		if (rows->typed_keys)
			rvsq_key_free(&rows->tkeys[i]);
		else
			sqlite3_free(rows->keys[i]);
	}
	rows->n = 0;
}

void
rvsq_rows_free(rvsq_rows *rows)
{
	rvsq_rows_clear(rows);
	sqlite3_free(rows->x);
	sqlite3_free(rows->keys);
	sqlite3_free(rows->tkeys);
	memset(rows, 0, sizeof(*rows));
}

int
rvsq_rows_reserve(rvsq_rows *rows, size_t cap)
{
	float	   *x;

	if (cap < rows->n)
		cap = rows->n;
	x = sqlite3_realloc64(rows->x, sizeof(float) * (cap > 0 ? cap : 1) * (rows->d > 0 ? rows->d : 1));
	if (x == NULL)
		return SQLITE_NOMEM;
	rows->x = x;
	if (rows->typed_keys)
	{
		rvsq_key   *keys = sqlite3_realloc64(rows->tkeys, sizeof(rvsq_key) * (cap > 0 ? cap : 1));

		if (keys == NULL)
			return SQLITE_NOMEM;
		rows->tkeys = keys;
	}
	else
	{
		char	  **keys = sqlite3_realloc64(rows->keys, sizeof(char *) * (cap > 0 ? cap : 1));

		if (keys == NULL)
			return SQLITE_NOMEM;
		rows->keys = keys;
	}
	rows->cap = cap;
	return SQLITE_OK;
}

/* Make room for one more row of d values. */
static int
rows_grow(rvsq_rows *rows)
{
	return rvsq_rows_reserve(rows, rows->cap ? rows->cap * 2 : 256);
}

int
rvsq_read_rows(rvsq_conn *c, sqlite3_stmt *st, const rvsq_source *src, rvsq_rows *rows,
			   size_t max, int *done)
{
	int			rc;

	*done = 0;
	while (max == 0 || rows->n < max)
	{
		rvsq_vec	v;
		const char *key;
		int			t;

		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
		{
			*done = 1;
			return SQLITE_OK;
		}
		if (rc != SQLITE_ROW)
			return rvsq_sqlite_fail(c, rc);
		t = sqlite3_column_type(st, 1);
		if (sqlite3_column_type(st, 0) == SQLITE_NULL || t == SQLITE_NULL)
		{
			if (src->skip_null)
				continue;
			return rvsq_fail(c, "%s", src->null_msg);
		}
		if (t != SQLITE_BLOB && t != SQLITE_TEXT)
			return rvsq_fail(c, "%s", src->shape_msg);
		if (t == SQLITE_TEXT)
			rows->saw_text = 1;
		rc = rvsq_value_vec(c, sqlite3_column_value(st, 1), "embedding", &v);
		if (rc != SQLITE_OK)
			return rc;
		if (rows->space_fixed)
			rc = rvsq_check_space(c, v.space, rows->space, src->space ? src->space : "");
		else if ((rc = rvsq_same_space(c, rows->space, v.space)) == SQLITE_OK)
			rows->space = RVSQ_COMMON_SPACE(rows->space, v.space);
		if (rc != SQLITE_OK)
		{
			rvsq_vec_free(&v);
			return rc;
		}
		if (rows->d == 0)
			rows->d = v.dims;
		if (v.dims != rows->d)
		{
			/* the key as text only here: text would change how a typed key reads */
			key = (const char *) sqlite3_column_text(st, 0);
			rc = rvsq_fail(c, "embedding of %s%skey \"%s\" has %d dimensions, %s%s%s%s %d",
						   src->label ? src->label : "", src->label ? " " : "", key, (int) v.dims,
						   src->space ? "space \"" : src->dims_from, src->space ? src->space : "",
						   src->space ? "\"" : "", src->space ? " has" : "", (int) rows->d);
			rvsq_vec_free(&v);
			return rc;
		}
		if (rows->n == rows->cap && (rc = rows_grow(rows)) != SQLITE_OK)
		{
			rvsq_vec_free(&v);
			return rc;
		}
		memcpy(rows->x + rows->n * rows->d, v.x, sizeof(float) * v.dims);
		rvsq_vec_free(&v);
		if (rows->typed_keys)
		{
			if (rvsq_key_from_value(&rows->tkeys[rows->n], sqlite3_column_value(st, 0)) != SQLITE_OK)
				return SQLITE_NOMEM;
		}
		else
		{
			key = (const char *) sqlite3_column_text(st, 0);
			rows->keys[rows->n] = sqlite3_mprintf("%s", key ? key : "");
			if (rows->keys[rows->n] == NULL)
				return SQLITE_NOMEM;
		}
		rows->n++;
	}
	return SQLITE_OK;
}
