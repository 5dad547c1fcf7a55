/*
 * metric.c — distances, vector functions, element-wise arithmetic, ordering and hashing of
 * embeddings: the same names and results as in PostgreSQL (where they also back the
 * operators <->, <#>, <=>, <+>, +, -, *, ||, which SQLite cannot define). Each is a thin
 * wrapper over a bridge function; like PostgreSQL's STRICT functions, a NULL argument
 * gives NULL.
 *
 * Space tags: two embeddings that meet in a distance, arithmetic or a concatenation must
 * go together (the same space, or either untagged), checked before their dimensions; an
 * element-wise result keeps the common tag, l2_normalize keeps its argument's, and a
 * concatenation or a subvector is untagged (it is no longer a value of the space).
 * Ordering and hashing never fail on tags: embedding_cmp orders by values, then
 * dimensions, then tag, and embedding_hash mixes a nonzero tag in. The order of the
 * checks and the results' tags are extension/pg/metric.c's.
 */
#include <string.h>

#include "relvec_sqlite.h"

/* How get_pair checks the two embeddings. */
enum
{
	PAIR_ANY = 0,				/* nothing (ordering) */
	PAIR_SPACE = 1,				/* tags go together (concatenation) */
	PAIR_SAME = 3				/* tags go together, then equal dimensions */
};

/* Read two embeddings and check them as how says (PAIR_*). */
static int
get_pair(rvsq_conn *c, sqlite3_value **argv, int how, rvsq_vec *a, rvsq_vec *b)
{
	int			rc;

	memset(b, 0, sizeof(*b));
	rc = rvsq_value_vec(c, argv[0], "embedding", a);
	if (rc != SQLITE_OK)
		return rc;
	rc = rvsq_value_vec(c, argv[1], "embedding", b);
	if (rc == SQLITE_OK && (how & PAIR_SPACE))
		rc = rvsq_same_space(c, a->space, b->space);
	if (rc == SQLITE_OK && how == PAIR_SAME && a->dims != b->dims)
		rc = rvsq_bridge_fail(c, rv_check_same_dims(c->ctx, a->dims, b->dims));
	if (rc != SQLITE_OK)
	{
		rvsq_vec_free(a);
		rvsq_vec_free(b);
	}
	return rc;
}

/*
 * Read the two embedding arguments of ctx's call (checked as how says, PAIR_*), or
 * deliver their error; 0 when the result is set (NULL for a NULL argument).
 */
static int
get_two(sqlite3_context *ctx, sqlite3_value **argv, int how, rvsq_vec *a, rvsq_vec *b)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	int			rc;

	if (rvsq_any_null(2, argv))
		return 0;
	rc = get_pair(c, argv, how, a, b);
	if (rc != SQLITE_OK)
	{
		rvsq_result_error(ctx, c, rc);
		return 0;
	}
	return 1;
}

typedef double (*distance_fn) (const float *, const float *, size_t);

/* A distance of two embeddings of equal dimensions; negate flips the sign. */
static void
distance(sqlite3_context *ctx, sqlite3_value **argv, distance_fn fn, int negate)
{
	rvsq_vec	a,
				b;

	if (!get_two(ctx, argv, PAIR_SAME, &a, &b))
		return;
	{
		double		d = fn(a.x, b.x, a.dims);

		sqlite3_result_double(ctx, negate ? -d : d);
	}
	rvsq_vec_free(&a);
	rvsq_vec_free(&b);
}

/* Define SQL function name as distance() with fn (negate: with the sign flipped). */
#define DISTANCE_FUNCTION(name, fn, negate) \
	void \
	name(sqlite3_context *ctx, int argc, sqlite3_value **argv) \
	{ \
		(void) argc; \
		distance(ctx, argv, fn, negate); \
	}

/* l2_distance(a, b): Euclidean distance. */
DISTANCE_FUNCTION(rvsq_l2_distance, rv_l2_distance, 0)

/* embedding_l2_squared_distance(a, b). */
DISTANCE_FUNCTION(rvsq_l2_squared_distance, rv_l2_squared, 0)

/* inner_product(a, b). */
DISTANCE_FUNCTION(rvsq_inner_product, rv_inner_product, 0)

/* embedding_negative_inner_product(a, b): PostgreSQL's <#>. */
DISTANCE_FUNCTION(rvsq_negative_inner_product, rv_inner_product, 1)

/* cosine_distance(a, b): 1 - cos; 1 when either is a zero vector. */
DISTANCE_FUNCTION(rvsq_cosine_distance, rv_cosine_distance, 0)

/* l1_distance(a, b): Manhattan distance. */
DISTANCE_FUNCTION(rvsq_l1_distance, rv_l1_distance, 0)

/* Read the one embedding argument, or deliver its error; 0 when the result is set. */
static int
get_one(sqlite3_context *ctx, sqlite3_value **argv, rvsq_vec *v)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	int			rc;

	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return 0;
	rc = rvsq_value_vec(c, argv[0], "embedding", v);
	if (rc != SQLITE_OK)
	{
		rvsq_result_error(ctx, c, rc);
		return 0;
	}
	return 1;
}

/* embedding_dims(e). */
void
rvsq_embedding_dims(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_vec	v;

	(void) argc;
	if (!get_one(ctx, argv, &v))
		return;
	sqlite3_result_int(ctx, (int) v.dims);
	rvsq_vec_free(&v);
}

/* embedding_norm(e): Euclidean norm. */
void
rvsq_embedding_norm(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_vec	v;

	(void) argc;
	if (!get_one(ctx, argv, &v))
		return;
	sqlite3_result_double(ctx, rv_norm(v.x, v.dims));
	rvsq_vec_free(&v);
}

/* l2_normalize(e): e / |e|, in e's space; a zero vector stays zero. */
void
rvsq_l2_normalize(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_vec	v;
	float	   *out;

	(void) argc;
	if (!get_one(ctx, argv, &v))
		return;
	out = sqlite3_malloc64(sizeof(float) * v.dims);
	if (out == NULL)
		sqlite3_result_error_nomem(ctx);
	else
	{
		rv_l2_normalize(v.x, v.dims, out);
		rvsq_result_vec(ctx, out, v.dims, v.space);
	}
	sqlite3_free(out);
	rvsq_vec_free(&v);
}

/* subvector(e, start, count): 1-based, clipped to the embedding as in PostgreSQL; untagged. */
void
rvsq_subvector(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	rvsq_vec	v;
	sqlite3_int64 start,
				count,
				end;

	if (rvsq_any_null(argc, argv) || !get_one(ctx, argv, &v))
		return;
	start = sqlite3_value_int64(argv[1]);
	count = sqlite3_value_int64(argv[2]);
	/* PostgreSQL takes integer arguments; keep the same range */
	if (start < INT32_MIN || start > INT32_MAX || count < INT32_MIN || count > INT32_MAX)
	{
		rvsq_fail(c, "integer out of range");
		rvsq_result_error(ctx, c, SQLITE_ERROR);
		rvsq_vec_free(&v);
		return;
	}
	end = start + count;
	if (start < 1)
		start = 1;
	if (end > (sqlite3_int64) v.dims + 1)
		end = (sqlite3_int64) v.dims + 1;
	if (count < 1 || end <= start)
	{
		rvsq_result_error(ctx, c, rvsq_bridge_fail(c, rv_check_values(c->ctx, v.x, 0)));
		rvsq_vec_free(&v);
		return;
	}
	rvsq_result_vec(ctx, v.x + (start - 1), (size_t) (end - start), 0);
	rvsq_vec_free(&v);
}

typedef rv_status (*elementwise_fn) (rv_ctx *, const float *, const float *, size_t, float *);

/* Element-wise arithmetic of two embeddings of equal dimensions, in their common space. */
static void
elementwise(sqlite3_context *ctx, sqlite3_value **argv, elementwise_fn fn)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	rvsq_vec	a,
				b;
	float	   *out;
	rv_status	s;

	if (!get_two(ctx, argv, PAIR_SAME, &a, &b))
		return;
	out = sqlite3_malloc64(sizeof(float) * a.dims);
	if (out == NULL)
		sqlite3_result_error_nomem(ctx);
	else if ((s = fn(c->ctx, a.x, b.x, a.dims, out)) != RV_OK)
		rvsq_result_error(ctx, c, rvsq_bridge_fail(c, s));
	else
		rvsq_result_vec(ctx, out, a.dims, RVSQ_COMMON_SPACE(a.space, b.space));
	sqlite3_free(out);
	rvsq_vec_free(&a);
	rvsq_vec_free(&b);
}

/* Define SQL function name as elementwise() with fn. */
#define ELEMENTWISE_FUNCTION(name, fn) \
	void \
	name(sqlite3_context *ctx, int argc, sqlite3_value **argv) \
	{ \
		(void) argc; \
		elementwise(ctx, argv, fn); \
	}

/* embedding_add(a, b): PostgreSQL's +. */
ELEMENTWISE_FUNCTION(rvsq_embedding_add, rv_add)

/* embedding_sub(a, b): PostgreSQL's -. */
ELEMENTWISE_FUNCTION(rvsq_embedding_sub, rv_sub)

/* embedding_mul(a, b): PostgreSQL's * (element-wise). */
ELEMENTWISE_FUNCTION(rvsq_embedding_mul, rv_mul)

/* embedding_concat(a, b): PostgreSQL's ||; untagged, since it is in neither space. */
void
rvsq_embedding_concat(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	rvsq_vec	a,
				b;
	float	   *out;

	(void) argc;
	if (!get_two(ctx, argv, PAIR_SPACE, &a, &b))
		return;
	if (a.dims + b.dims > RV_MAX_DIMS)
	{
		rvsq_fail(c, "embedding cannot have more than %d dimensions", RV_MAX_DIMS);
		rvsq_result_error(ctx, c, SQLITE_TOOBIG);
	}
	else if ((out = sqlite3_malloc64(sizeof(float) * (a.dims + b.dims))) == NULL)
		sqlite3_result_error_nomem(ctx);
	else
	{
		memcpy(out, a.x, sizeof(float) * a.dims);
		memcpy(out + a.dims, b.x, sizeof(float) * b.dims);
		rvsq_result_vec(ctx, out, a.dims + b.dims, 0);
		sqlite3_free(out);
	}
	rvsq_vec_free(&a);
	rvsq_vec_free(&b);
}

/* embedding_cmp(a, b): -1, 0, 1 in PostgreSQL's btree order (values, dimensions, then tag). */
void
rvsq_embedding_cmp(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_vec	a,
				b;
	int			r;

	(void) argc;
	if (!get_two(ctx, argv, PAIR_ANY, &a, &b))
		return;
	r = rv_compare(a.x, a.dims, b.x, b.dims);
	if (r == 0 && a.space != b.space)
		r = a.space < b.space ? -1 : 1;
	sqlite3_result_int(ctx, r);
	rvsq_vec_free(&a);
	rvsq_vec_free(&b);
}

/*
 * embedding_hash(e): PostgreSQL's hash, equal for -0 and +0. An untagged value hashes as
 * before tags; a tagged one mixes its tag in as extension/pg/metric.c does (PostgreSQL's
 * hash_combine of the values' hash and the tag times 0x9e3779b1), so both hosts agree
 * where the spaces' ids do.
 */
void
rvsq_embedding_hash(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_vec	v;
	uint32_t	h;

	(void) argc;
	if (!get_one(ctx, argv, &v))
		return;
	h = rv_hash(v.x, v.dims);
	if (v.space != 0)
	{
		uint32_t	t = (uint32_t) v.space * 0x9e3779b1u;

		h ^= t + 0x9e3779b9u + (h << 6) + (h >> 2);
	}
	sqlite3_result_int(ctx, (int32_t) h);
	rvsq_vec_free(&v);
}
