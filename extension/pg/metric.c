/*
 * metric.c — SQL-callable distances, operators, comparison and hashing, element-wise
 * arithmetic, vector functions and the sum/avg aggregates of the embedding type. Each is a
 * thin wrapper over a bridge function. C names carry an embedding_ prefix where pgvector
 * exports the same symbol (l2_distance, ...): PostgreSQL 15 loads modules with global
 * symbols, and the two libraries must not bind to each other's functions.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/float.h"
#include "common/hashfn.h"

#include "relvec_pg.h"

/* Fetch two embeddings of equal dimensions (raises the dimension error otherwise). */
#define GET_PAIR(a, b) \
	Embedding  *a = PG_GETARG_EMBEDDING_P(0); \
	Embedding  *b = PG_GETARG_EMBEDDING_P(1); \
	rvpg_check_same_dims(a, b)

PG_FUNCTION_INFO_V1(embedding_l2_distance);
/* Euclidean distance; operator <->. */
Datum
embedding_l2_distance(PG_FUNCTION_ARGS)
{
	GET_PAIR(a, b);
	PG_RETURN_FLOAT8(rv_l2_distance(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(embedding_l2_squared_distance);
/* Squared Euclidean distance (same order as <->, no square root). */
Datum
embedding_l2_squared_distance(PG_FUNCTION_ARGS)
{
	GET_PAIR(a, b);
	PG_RETURN_FLOAT8(rv_l2_squared(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(embedding_inner_product);
/* Inner product. */
Datum
embedding_inner_product(PG_FUNCTION_ARGS)
{
	GET_PAIR(a, b);
	PG_RETURN_FLOAT8(rv_inner_product(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(embedding_negative_inner_product);
/* Negative inner product; operator <#> (smaller is more similar). */
Datum
embedding_negative_inner_product(PG_FUNCTION_ARGS)
{
	GET_PAIR(a, b);
	PG_RETURN_FLOAT8(-rv_inner_product(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(embedding_cosine_distance);
/* 1 - cosine similarity; 1 when either side is a zero vector; operator <=>. */
Datum
embedding_cosine_distance(PG_FUNCTION_ARGS)
{
	GET_PAIR(a, b);
	PG_RETURN_FLOAT8(rv_cosine_distance(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(embedding_l1_distance);
/* Manhattan distance; operator <+>. */
Datum
embedding_l1_distance(PG_FUNCTION_ARGS)
{
	GET_PAIR(a, b);
	PG_RETURN_FLOAT8(rv_l1_distance(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(embedding_dims);
/* Number of dimensions; also of a stored value outside 1..16000, to find and repair it. */
Datum
embedding_dims(PG_FUNCTION_ARGS)
{
	Embedding  *a = DatumGetEmbeddingAnyDims(PG_GETARG_DATUM(0));

	PG_RETURN_INT32(a->dim);
}

PG_FUNCTION_INFO_V1(embedding_norm);
/* Euclidean norm. */
Datum
embedding_norm(PG_FUNCTION_ARGS)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);

	PG_RETURN_FLOAT8(rv_norm(a->x, a->dim));
}

PG_FUNCTION_INFO_V1(embedding_l2_normalize);
/* a / |a|; a zero vector is returned unchanged. */
Datum
embedding_l2_normalize(PG_FUNCTION_ARGS)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	Embedding  *r = rvpg_new_embedding(a->dim);

	rv_l2_normalize(a->x, a->dim, r->x);
	r->space = a->space;		/* a direction of the same space */
	PG_RETURN_EMBEDDING_P(r);
}

PG_FUNCTION_INFO_V1(embedding_subvector);
/*
 * Elements start .. start+count-1 (1-based), clipped to the embedding as pgvector does.
 * The result is untagged: a part of a vector is no longer a point of its space.
 */
Datum
embedding_subvector(PG_FUNCTION_ARGS)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	int32		start = PG_GETARG_INT32(1);
	int32		count = PG_GETARG_INT32(2);
	int64		end = (int64) start + count;	/* exclusive */
	Embedding  *r;

	if (count < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("embedding must have at least 1 dimension")));
	if (start < 1)
		start = 1;
	if (end > (int64) a->dim + 1)
		end = (int64) a->dim + 1;
	if (end <= start)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("embedding must have at least 1 dimension")));
	r = rvpg_new_embedding((int) (end - start));
	memcpy(r->x, a->x + (start - 1), sizeof(float) * r->dim);
	PG_RETURN_EMBEDDING_P(r);
}

/* Element-wise arithmetic through a bridge function of the rv_add shape. */
typedef rv_status (*elementwise_fn) (rv_ctx *, const float *, const float *, size_t, float *);

static Datum
elementwise(FunctionCallInfo fcinfo, elementwise_fn fn)
{
	GET_PAIR(a, b);
	{
		Embedding  *r = rvpg_new_embedding(a->dim);

		RVPG_CHECK(fn(rvpg_ctx(), a->x, b->x, a->dim, r->x));
		r->space = rvpg_pair_space(a, b);
		PG_RETURN_EMBEDDING_P(r);
	}
}

PG_FUNCTION_INFO_V1(embedding_add);
/* Operator +. */
Datum
embedding_add(PG_FUNCTION_ARGS)
{
	return elementwise(fcinfo, rv_add);
}

PG_FUNCTION_INFO_V1(embedding_sub);
/* Operator -. */
Datum
embedding_sub(PG_FUNCTION_ARGS)
{
	return elementwise(fcinfo, rv_sub);
}

PG_FUNCTION_INFO_V1(embedding_mul);
/* Operator * (element-wise product). */
Datum
embedding_mul(PG_FUNCTION_ARGS)
{
	return elementwise(fcinfo, rv_mul);
}

PG_FUNCTION_INFO_V1(embedding_concat);
/* Operator ||: two embeddings of one space (or untagged) make an untagged one. */
Datum
embedding_concat(PG_FUNCTION_ARGS)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	Embedding  *b = PG_GETARG_EMBEDDING_P(1);
	int			dim = a->dim + b->dim;
	Embedding  *r;

	if (a->space != b->space && a->space != 0 && b->space != 0)
		rvpg_raise_mixed(a->space, b->space);

	if (dim > RV_MAX_DIMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("embedding cannot have more than %d dimensions", RV_MAX_DIMS)));
	r = rvpg_new_embedding(dim);
	memcpy(r->x, a->x, sizeof(float) * a->dim);
	memcpy(r->x + a->dim, b->x, sizeof(float) * b->dim);
	PG_RETURN_EMBEDDING_P(r);
}

/* Three-way comparison of the two arguments, freeing detoasted copies. */
static int
compare_args(FunctionCallInfo fcinfo)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	Embedding  *b = PG_GETARG_EMBEDDING_P(1);
	int			c = rv_compare(a->x, a->dim, b->x, b->dim);

	/* the same numbers in two spaces are two values; untagged ones sort first */
	if (c == 0 && a->space != b->space)
		c = a->space < b->space ? -1 : 1;
	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return c;
}

PG_FUNCTION_INFO_V1(embedding_cmp);
/* btree support: element-wise order, then fewer dimensions first, then the space's id. */
Datum
embedding_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(compare_args(fcinfo));
}

PG_FUNCTION_INFO_V1(embedding_lt);
Datum
embedding_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_args(fcinfo) < 0);
}

PG_FUNCTION_INFO_V1(embedding_le);
Datum
embedding_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_args(fcinfo) <= 0);
}

PG_FUNCTION_INFO_V1(embedding_eq);
Datum
embedding_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_args(fcinfo) == 0);
}

PG_FUNCTION_INFO_V1(embedding_ne);
Datum
embedding_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_args(fcinfo) != 0);
}

PG_FUNCTION_INFO_V1(embedding_ge);
Datum
embedding_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_args(fcinfo) >= 0);
}

PG_FUNCTION_INFO_V1(embedding_gt);
Datum
embedding_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_args(fcinfo) > 0);
}

PG_FUNCTION_INFO_V1(embedding_hash);
/*
 * hash support: equal embeddings (also -0 and +0) hash equally; an untagged value hashes
 * as in 0.1.0 (hash indexes stay valid), a tagged one mixes its space in.
 */
Datum
embedding_hash(PG_FUNCTION_ARGS)
{
	Embedding  *a = PG_GETARG_EMBEDDING_P(0);
	uint32		h = rv_hash(a->x, a->dim);

	if (a->space != 0)
		h = hash_combine(h, (uint32) a->space * 0x9e3779b1U);
	PG_RETURN_INT32((int32) h);
}

/*
 * Aggregates. The transition state is a float8[]: [space, count, sum_1 .. sum_d], so
 * partial states from parallel workers combine by addition and the sum keeps double
 * precision; space is the tag of the values summed so far (0 while all are untagged), and
 * the result carries it. Values of two spaces are an error, as in a distance.
 *
 * The support functions are callable by anyone, with hand-made states too, so each checks
 * the state it is given: a one-dimensional float8[] without NULLs and a whole space tag
 * (here), a whole row count and 1..16000 sums (rv_accum_check on the rest; finite sums and
 * at least one row where the result depends on them), all 22023. Inside an aggregate the
 * transition and combine functions update their first state in place, as PostgreSQL's
 * own float8_accum does; called directly they work on a copy, so a constant is never
 * changed under its plan.
 */

/* Invalid state: 22023 with what is wrong. */
static void pg_attribute_noreturn()
bad_state(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid aggregate state for avg(embedding) or sum(embedding)"),
			 errdetail("%s", why)));
}

/*
 * The count-and-sums part of a state after checking its array shape, its space tag (into
 * *space) and rv_accum_check(flags).
 */
static float8 *
state_values(ArrayType *state, int flags, int *dims, int *space)
{
	float8	   *v;

	if (ARR_ELEMTYPE(state) != FLOAT8OID)
		bad_state("The state is not a double precision array.");
	if (ARR_NDIM(state) != 1)
		bad_state(ARR_NDIM(state) == 0 ? "The state is an empty array." :
				  psprintf("The state is a %d-dimensional array.", ARR_NDIM(state)));
	if (ARR_HASNULL(state) && array_contains_nulls(state))
		bad_state("The state contains nulls.");
	if (ARR_DIMS(state)[0] < 2)
		bad_state("The state has no row count.");
	v = (float8 *) ARR_DATA_PTR(state);
	if (!(v[0] >= 0 && v[0] <= RV_MAX_SPACE_TAG) || v[0] != floor(v[0]))
		bad_state("The state's space is not a whole number from 0 to 65535.");
	RVPG_CHECK(rv_accum_check(rvpg_ctx(), v + 1, (size_t) ARR_DIMS(state)[0] - 1, flags));
	*dims = ARR_DIMS(state)[0] - 2;
	*space = (int) v[0];
	return v + 1;
}

/* A new state for values of dims dimensions and a space, in the current memory context. */
static ArrayType *
new_state(int dims, int space)
{
	Datum	   *zeros = palloc(sizeof(Datum) * (dims + 2));
	int			i;

	zeros[0] = Float8GetDatum((float8) space);
	for (i = 1; i <= dims + 1; i++)
		zeros[i] = Float8GetDatum(0.0);
	return construct_array(zeros, dims + 2, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
						   TYPALIGN_DOUBLE);
}

/* The space of a state that absorbs values of space other: mixing two is 42804. */
static void
merge_space(ArrayType *state, int space, int other)
{
	if (other == 0 || other == space)
		return;
	if (space != 0)
		rvpg_raise_mixed(space, other);
	((float8 *) ARR_DATA_PTR(state))[0] = (float8) other;
}

PG_FUNCTION_INFO_V1(embedding_accum);
/* Transition: add one embedding to the running sum. */
Datum
embedding_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	bool		in_agg = AggCheckCallContext(fcinfo, &aggcxt);
	ArrayType  *state;
	Embedding  *e;
	int			dims;
	int			space;
	float8	   *v;

	/* NULL inputs are skipped, as by the built-in sum and avg. */
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		(void) state_values(PG_GETARG_ARRAYTYPE_P(0), 0, &dims, &space);
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	/* a NaN stored by an older version is named here, not later as a bad sum */
	e = rvpg_checked(PG_GETARG_EMBEDDING_P(1));
	if (PG_ARGISNULL(0))
	{
		MemoryContext old = MemoryContextSwitchTo(in_agg ? aggcxt : CurrentMemoryContext);

		state = new_state(e->dim, e->space);
		MemoryContextSwitchTo(old);
	}
	else
		state = in_agg ? PG_GETARG_ARRAYTYPE_P(0) : PG_GETARG_ARRAYTYPE_P_COPY(0);
	/* the running sums are read only by the final function, which checks them */
	v = state_values(state, 0, &dims, &space);
	merge_space(state, space, e->space);
	if (dims != e->dim)
		RVPG_CHECK(rv_check_same_dims(rvpg_ctx(), dims, e->dim));
	rv_accum(v, e->x, dims);
	PG_RETURN_ARRAYTYPE_P(state);
}

PG_FUNCTION_INFO_V1(embedding_combine);
/* Combine two partial states from parallel workers. */
Datum
embedding_combine(PG_FUNCTION_ARGS)
{
	const int	full = RV_ACCUM_ROWS | RV_ACCUM_SUMS;
	MemoryContext aggcxt;
	bool		in_agg = AggCheckCallContext(fcinfo, &aggcxt);
	ArrayType  *s1;
	ArrayType  *s2;
	int			d1;
	int			d2;
	int			sp1;
	int			sp2;
	float8	   *v1;
	const float8 *v2;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		(void) state_values(PG_GETARG_ARRAYTYPE_P(0), full, &d1, &sp1);
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	s2 = PG_GETARG_ARRAYTYPE_P(1);
	v2 = state_values(s2, full, &d2, &sp2);
	if (PG_ARGISNULL(0))
	{
		MemoryContext old = MemoryContextSwitchTo(in_agg ? aggcxt : CurrentMemoryContext);

		s1 = DatumGetArrayTypePCopy(PG_GETARG_DATUM(1));
		MemoryContextSwitchTo(old);
		PG_RETURN_ARRAYTYPE_P(s1);
	}
	s1 = in_agg ? PG_GETARG_ARRAYTYPE_P(0) : PG_GETARG_ARRAYTYPE_P_COPY(0);
	v1 = state_values(s1, full, &d1, &sp1);
	merge_space(s1, sp1, sp2);
	if (d1 != d2)
		RVPG_CHECK(rv_check_same_dims(rvpg_ctx(), d1, d2));
	rv_combine(v1, v2, d1);
	PG_RETURN_ARRAYTYPE_P(s1);
}

/* Final function shared by sum and avg (STRICT: a NULL state, no rows, never gets here). */
static Datum
accum_final(FunctionCallInfo fcinfo, int avg)
{
	int			dims;
	int			space;
	float8	   *v = state_values(PG_GETARG_ARRAYTYPE_P(0), RV_ACCUM_ROWS | RV_ACCUM_SUMS, &dims, &space);
	Embedding  *r = rvpg_new_embedding(dims);

	RVPG_CHECK(rv_accum_final(rvpg_ctx(), v, dims, avg, r->x));
	r->space = (uint16) space;
	PG_RETURN_EMBEDDING_P(r);
}

PG_FUNCTION_INFO_V1(embedding_avg);
/* Final: the element-wise mean. */
Datum
embedding_avg(PG_FUNCTION_ARGS)
{
	return accum_final(fcinfo, 1);
}

PG_FUNCTION_INFO_V1(embedding_sum);
/* Final: the element-wise sum. */
Datum
embedding_sum(PG_FUNCTION_ARGS)
{
	return accum_final(fcinfo, 0);
}
