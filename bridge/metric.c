/*
 * metric.c — distances, norms, ordering, hashing, element-wise arithmetic and aggregate
 * sums on single embeddings. These are the hot inner loops behind every SQL operator, so
 * they take plain arrays, never fail, and are written as simple loops the compiler
 * vectorizes: float products accumulated in float lanes, with an AVX2+FMA clone chosen at
 * load time on x86-64 (GCC function multiversioning) and a portable default.
 *
 * Accumulation is in float within lanes and the lanes are summed in double, which keeps
 * the error of a 16000-dimension dot product near float epsilon while staying as fast as
 * a pure float loop. Values beyond about 1e19 overflow a float lane; then (and only then)
 * the sum is recomputed in double, so large inputs give finite, correct distances. Norms
 * and cosines are recomputed in double at the other end too, when a squared norm is below
 * RV_NORM2_TINY, so tiny and subnormal vectors have their true norm and direction.
 */
#include <math.h>
#include <string.h>

#include "internal.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RV_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define RV_MULTIVERSION
#endif

/* Lanes of independent partial sums: enough for two 256-bit registers. */
#define RV_LANES 16

/* Sum of (a-b)^2 in double, the fallback when a float lane overflows. */
static double
l2_squared_double(const float *a, const float *b, size_t n)
{
	double		s = 0.0;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		double		d = (double) a[i] - (double) b[i];

		s += d * d;
	}
	return s;
}

/* Sum of (a-b)^2. */
RV_MULTIVERSION
double
rv_l2_squared(const float *restrict a, const float *restrict b, size_t n)
{
	float		acc[RV_LANES] = {0};
	double		s = 0.0;
	size_t		i = 0;
	size_t		l;

	for (; i + RV_LANES <= n; i += RV_LANES)
		for (l = 0; l < RV_LANES; l++)
		{
			float		d = a[i + l] - b[i + l];

			acc[l] += d * d;
		}
	for (; i < n; i++)
	{
		double		d = (double) a[i] - (double) b[i];

		s += d * d;
	}
	for (l = 0; l < RV_LANES; l++)
		s += acc[l];
	return isinf(s) ? l2_squared_double(a, b, n) : s;
}

double
rv_l2_distance(const float *a, const float *b, size_t n)
{
	return sqrt(rv_l2_squared(a, b, n));
}

/* Sum of a*b in double, the fallback when a float lane overflows. */
static double
inner_product_double(const float *a, const float *b, size_t n)
{
	double		s = 0.0;
	size_t		i;

	for (i = 0; i < n; i++)
		s += (double) a[i] * (double) b[i];
	return s;
}

/* Sum of a*b. */
RV_MULTIVERSION
double
rv_inner_product(const float *restrict a, const float *restrict b, size_t n)
{
	float		acc[RV_LANES] = {0};
	double		s = 0.0;
	size_t		i = 0;
	size_t		l;

	for (; i + RV_LANES <= n; i += RV_LANES)
		for (l = 0; l < RV_LANES; l++)
			acc[l] += a[i + l] * b[i + l];
	for (; i < n; i++)
		s += (double) a[i] * (double) b[i];
	for (l = 0; l < RV_LANES; l++)
		s += acc[l];
	return isinf(s) || isnan(s) ? inner_product_double(a, b, n) : s;
}

/*
 * Eight float lanes as one vector (GCC vector extension): the x86-64-v3 clone keeps each
 * in a 256-bit register, the default clone in two 128-bit ones. dot_and_norms needs six
 * such accumulators; written as plain arrays, GCC spilled them to the stack every
 * iteration and the cosine ran 7x slower than the L2 loop.
 */
typedef float rv_v8 __attribute__((vector_size(32)));

/* Eight floats at p, any alignment (a macro: returning a vector would change the ABI). */
#define RV_LOAD8(dst, p) memcpy(&(dst), (p), sizeof(rv_v8))

/* Dot product and both squared norms in one pass, in RV_LANES float lanes. */
RV_MULTIVERSION
static void
dot_and_norms(const float *restrict a, const float *restrict b, size_t n,
			  double *dot, double *na, double *nb)
{
	rv_v8		ab0 = {0},
				ab1 = {0},
				aa0 = {0},
				aa1 = {0},
				bb0 = {0},
				bb1 = {0};
	double		sab = 0.0,
				saa = 0.0,
				sbb = 0.0;
	size_t		i = 0;
	int			l;

	for (; i + RV_LANES <= n; i += RV_LANES)
	{
		rv_v8		a0,
					a1,
					b0,
					b1;

		RV_LOAD8(a0, a + i);
		RV_LOAD8(a1, a + i + 8);
		RV_LOAD8(b0, b + i);
		RV_LOAD8(b1, b + i + 8);
		ab0 += a0 * b0;
		ab1 += a1 * b1;
		aa0 += a0 * a0;
		aa1 += a1 * a1;
		bb0 += b0 * b0;
		bb1 += b1 * b1;
	}
	for (; i < n; i++)
	{
		sab += (double) a[i] * b[i];
		saa += (double) a[i] * a[i];
		sbb += (double) b[i] * b[i];
	}
	for (l = 0; l < 8; l++)
	{
		sab += ab0[l];
		saa += aa0[l];
		sbb += bb0[l];
	}
	for (l = 0; l < 8; l++)
	{
		sab += ab1[l];
		saa += aa1[l];
		sbb += bb1[l];
	}
	if (isinf(saa) || isinf(sbb) || !isfinite(sab) ||
		saa < RV_NORM2_TINY || sbb < RV_NORM2_TINY)
	{
		sab = inner_product_double(a, b, n);
		saa = inner_product_double(a, a, n);
		sbb = inner_product_double(b, b, n);
	}
	*dot = sab;
	*na = saa;
	*nb = sbb;
}

/*
 * 1 - cos(a, b), clamped to [0, 2] against rounding. A zero vector has no direction; we
 * define its cosine similarity with anything as 0, so its cosine distance is 1. This
 * keeps ORDER BY total (no NaN) and treats a zero vector as unrelated to every other.
 */
double
rv_cosine_distance(const float *a, const float *b, size_t n)
{
	double		dot,
				na,
				nb,
				sim;

	dot_and_norms(a, b, n, &dot, &na, &nb);
	if (na == 0.0 || nb == 0.0)
		return 1.0;
	sim = dot / sqrt(na * nb);
	if (sim > 1.0)
		sim = 1.0;
	else if (sim < -1.0)
		sim = -1.0;
	return 1.0 - sim;
}

/* Sum of |a-b|. */
RV_MULTIVERSION
double
rv_l1_distance(const float *restrict a, const float *restrict b, size_t n)
{
	float		acc[RV_LANES] = {0};
	double		s = 0.0;
	size_t		i = 0;
	size_t		l;

	for (; i + RV_LANES <= n; i += RV_LANES)
		for (l = 0; l < RV_LANES; l++)
			acc[l] += fabsf(a[i + l] - b[i + l]);
	for (; i < n; i++)
		s += fabs((double) a[i] - (double) b[i]);
	for (l = 0; l < RV_LANES; l++)
		s += acc[l];
	if (isinf(s))
	{
		for (s = 0.0, i = 0; i < n; i++)
			s += fabs((double) a[i] - (double) b[i]);
	}
	return s;
}

/* Largest |a-b|. */
double
rv_linf_distance(const float *a, const float *b, size_t n)
{
	double		m = 0.0;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		double		d = fabs((double) a[i] - (double) b[i]);

		m = d > m ? d : m;
	}
	return m;
}

/* Euclidean norm (rvc_norm2 is exact at both ends of the float range). */
double
rv_norm(const float *a, size_t n)
{
	return sqrt(rvc_norm2(a, n));
}

/* Three-way comparison: element-wise up to the shorter length, then the shorter first. */
int
rv_compare(const float *a, size_t na, const float *b, size_t nb)
{
	size_t		n = na < nb ? na : nb;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		if (a[i] < b[i])
			return -1;
		if (a[i] > b[i])
			return 1;
	}
	if (na < nb)
		return -1;
	if (na > nb)
		return 1;
	return 0;
}

/* FNV-1a over the bit patterns, with -0 folded onto +0 so equal values hash equally. */
uint32_t
rv_hash(const float *a, size_t n)
{
	uint32_t	h = 2166136261u;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		float		f = a[i] == 0.0f ? 0.0f : a[i];
		uint32_t	bits;
		int			byte;

		memcpy(&bits, &f, sizeof(bits));
		for (byte = 0; byte < 4; byte++)
		{
			h ^= (bits >> (8 * byte)) & 0xffu;
			h *= 16777619u;
		}
	}
	return h ^ (uint32_t) n;
}

/* Fail if any value of out overflowed to infinity. */
static rv_status
check_overflow(rv_ctx *ctx, const float *out, size_t n)
{
	size_t		i;
	int			bad = 0;

	for (i = 0; i < n; i++)
		bad |= isinf(out[i]);
	if (bad)
		return rv_fail(ctx, RV_E_OUT_OF_RANGE, "value out of range: overflow");
	return RV_OK;
}

rv_status
rv_add(rv_ctx *ctx, const float *a, const float *b, size_t n, float *out)
{
	size_t		i;

	for (i = 0; i < n; i++)
		out[i] = a[i] + b[i];
	return check_overflow(ctx, out, n);
}

rv_status
rv_sub(rv_ctx *ctx, const float *a, const float *b, size_t n, float *out)
{
	size_t		i;

	for (i = 0; i < n; i++)
		out[i] = a[i] - b[i];
	return check_overflow(ctx, out, n);
}

/* A product of two nonzero values that rounds to zero is an error, as in pgvector. */
rv_status
rv_mul(rv_ctx *ctx, const float *a, const float *b, size_t n, float *out)
{
	size_t		i;
	int			bad = 0;

	for (i = 0; i < n; i++)
		out[i] = a[i] * b[i];
	for (i = 0; i < n; i++)
		bad |= out[i] == 0.0f && a[i] != 0.0f && b[i] != 0.0f;
	if (bad)
		return rv_fail(ctx, RV_E_OUT_OF_RANGE, "value out of range: underflow");
	return check_overflow(ctx, out, n);
}

/* out = a / |a|, computed in double; a zero vector stays zero. */
void
rv_l2_normalize(const float *a, size_t n, float *out)
{
	double		norm = rv_norm(a, n);
	size_t		i;

	if (norm == 0.0)
	{
		memmove(out, a, n * sizeof(float));
		return;
	}
	for (i = 0; i < n; i++)
		out[i] = (float) (a[i] / norm);
}

/* Check a state received from outside (see relvec_bridge.h). */
rv_status
rv_accum_check(rv_ctx *ctx, const double *state, size_t len, int flags)
{
	const char *msg = "invalid aggregate state for avg(embedding) or sum(embedding)";
	double		count;
	size_t		i;

	if (state == NULL || len < 2 || len - 1 > RV_MAX_DIMS)
	{
		rv_fail(ctx, RV_E_INVALID_PARAM, "%s", msg);
		rv_set_detail(ctx, "The state has %zu element%s, expected a row count and 1 to %d sums.",
					  state == NULL ? (size_t) 0 : len, len == 1 ? "" : "s", RV_MAX_DIMS);
		return RV_E_INVALID_PARAM;
	}
	count = state[0];
	if (!isfinite(count) || count < 0.0 || count != floor(count) ||
		((flags & RV_ACCUM_ROWS) && count == 0.0))
	{
		rv_fail(ctx, RV_E_INVALID_PARAM, "%s", msg);
		if (isfinite(count))
			rv_set_detail(ctx, "Its row count %g is not a %s whole number.", count,
						  (flags & RV_ACCUM_ROWS) ? "positive" : "nonnegative");
		else
			rv_set_detail(ctx, "Its row count is %s.", isnan(count) ? "NaN" : "infinite");
		return RV_E_INVALID_PARAM;
	}
	if (flags & RV_ACCUM_SUMS)
		for (i = 1; i < len; i++)
			if (!isfinite(state[i]))
			{
				rv_fail(ctx, RV_E_INVALID_PARAM, "%s", msg);
				rv_set_detail(ctx, "Its sum %zu is %s.", i, isnan(state[i]) ? "NaN" : "infinite");
				return RV_E_INVALID_PARAM;
			}
	return RV_OK;
}

/* Add one embedding to a running sum (state[0] counts rows). */
void
rv_accum(double *state, const float *v, size_t dims)
{
	size_t		i;

	state[0] += 1.0;
	for (i = 0; i < dims; i++)
		state[i + 1] += v[i];
}

/* Add another partial state (parallel aggregation). */
void
rv_combine(double *state, const double *other, size_t dims)
{
	size_t		i;

	for (i = 0; i <= dims; i++)
		state[i] += other[i];
}

/* Final sum or mean; fails if a value does not fit float32. */
rv_status
rv_accum_final(rv_ctx *ctx, const double *state, size_t dims, int avg, float *out)
{
	size_t		i;

	for (i = 0; i < dims; i++)
	{
		double		v = avg ? state[i + 1] / state[0] : state[i + 1];

		out[i] = (float) v;
	}
	return check_overflow(ctx, out, dims);
}

/* A name and the enum value it stands for. */
typedef struct name_value
{
	const char *name;
	int			value;
} name_value;

/* Look name up in a table; nonzero when found. */
static int
find_name(const name_value *table, size_t n, const char *name, int *value)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if (strcmp(name, table[i].name) == 0)
		{
			*value = table[i].value;
			return 1;
		}
	return 0;
}

/* Parse a similarity function name. */
rv_status
rv_sim_parse(rv_ctx *ctx, const char *name, rv_sim *out)
{
	static const name_value names[] = {
		{"cosine", RV_SIM_COSINE},
		{"dot", RV_SIM_DOT},
		{"euclidean", RV_SIM_NEG_L2},
		{"l2", RV_SIM_NEG_L2},
		{"l1", RV_SIM_NEG_L1},
		{"linf", RV_SIM_NEG_LINF},
	};
	int			v;

	if (!find_name(names, sizeof(names) / sizeof(names[0]), name, &v))
		return rv_fail(ctx, RV_E_INVALID_PARAM,
					   "unknown similarity \"%s\": expected cosine, dot, euclidean, l1 or linf",
					   name);
	*out = (rv_sim) v;
	return RV_OK;
}

/* Parse a distance metric name. */
rv_status
rv_metric_parse(rv_ctx *ctx, const char *name, rv_metric *out)
{
	static const name_value names[] = {
		{"l2", RV_METRIC_L2},
		{"ip", RV_METRIC_IP},
		{"cosine", RV_METRIC_COSINE},
		{"l1", RV_METRIC_L1},
	};
	int			v;

	if (!find_name(names, sizeof(names) / sizeof(names[0]), name, &v))
		return rv_fail(ctx, RV_E_INVALID_PARAM,
					   "unknown metric \"%s\": expected l2, ip, cosine or l1", name);
	*out = (rv_metric) v;
	return RV_OK;
}

/* Distance between two vectors under a metric. */
double
rv_metric_distance(rv_metric m, const float *a, const float *b, size_t n)
{
	switch (m)
	{
		case RV_METRIC_L2:
			return rv_l2_distance(a, b, n);
		case RV_METRIC_IP:
			return -rv_inner_product(a, b, n);
		case RV_METRIC_COSINE:
			return rv_cosine_distance(a, b, n);
		case RV_METRIC_L1:
			return rv_l1_distance(a, b, n);
	}
	return 0.0;
}
