/*
 * cpu/topk.c — exact top-k search on the CPU, the reference that the Vulkan kernel is
 * tested against, plus two vectorized loops the CPU kernels share (squared norm, L-inf).
 *
 * Each call merges the k nearest rows of one corpus chunk (rows row_base..row_base+n-1)
 * into each query's sorted best list. Per query a bounded max-heap of min(k, n) entries
 * holds the chunk's candidates; an entry is admitted only if it comes before the cutoff,
 * which is the heap's top once the heap is full, or before that the k-th entry of the
 * incoming best list when that list is already full. At the end each heap is sorted and
 * merged with rv_topk_merge (topk.c).
 *
 * Every distance that enters a heap is the scalar reference rv_metric_distance (metric.c)
 * rounded to float, whichever path computed it, so ties break by row number in one total
 * order whatever path, blocking or chunking ran, and the distances equal those of the SQL
 * operators bit for bit. Two paths feed the heaps:
 *  - direct: the corpus is walked in blocks small enough to stay in the L2 cache, and
 *    every query of a query block meets every row: a float-lane loop gives the distance
 *    approximately with an error bound, and only rows the bound cannot rule out get their
 *    exact distance. One query is a streaming pass bounded by memory bandwidth. L1 always
 *    takes this path.
 *  - sgemm (several queries, L2/IP/cosine): one cblas_sgemm per corpus block gives all
 *    inner products at once; from them and the row norms each pair gets an approximate
 *    distance and a rigorous bound on its error (|fl(q.x) - q.x| <= d u |q| |x| for any
 *    summation order, u = 2^-24, plus the float-lane error of the exact loops). A row
 *    whose lower bound already lies behind the cutoff is skipped; the few others get
 *    their exact distance.
 * The fast loops and the sgemm are thus filters and never decide an order themselves.
 */
#include <cblas.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* Float lanes of the loops here: two AVX-512 or four AVX2 registers of accumulators. */
#define RVC_LANES 32

/* Fewest queries for which the sgemm filter beats walking the corpus once per query. */
#define RVC_GEMM_MIN_QUERIES 4
/* Most queries that share one pass over the corpus, and the memory their heaps may use. */
#define RVC_MAX_QUERY_BLOCK 256
#define RVC_HEAP_BUDGET ((size_t) 8 << 20)
/* Corpus block of the direct path: small enough to stay in L2 while queries revisit it. */
#define RVC_DIRECT_BLOCK_BYTES ((size_t) 192 << 10)
/* Corpus block of the sgemm path, in floats (the sgemm packs it itself). */
#define RVC_GEMM_BLOCK_FLOATS ((size_t) 1 << 22)
/*
 * ... and at most this many rows: the norms and the exact rechecks read the block again
 * right after the sgemm, so it should still be in cache (512 x 768 floats: 1.5 MB). With
 * 4,096 rows, 100 queries over 100,000 x 768 ran at 1.11-1.17x a bare sgemm + selection;
 * with 512, at 1.04-1.08x (build/bench/bench_knn, bench_kernels).
 */
#define RVC_GEMM_BLOCK_ROWS ((size_t) 512)

/*
 * Most queries whose lower bounds take few_dots rather than sgemm: OpenBLAS packs every
 * block it multiplies, which for a few queries costs as much as the products.
 */
#define RVC_FEW_DOTS_MAX 32

/* Unit roundoff of float32. */
#define RVC_U (1.0 / 16777216.0)

/*
 * |a|^2 in float lanes summed in double; recomputed in double when a lane overflows
 * (values beyond about 1e19), so the result is finite for every finite input, and when it
 * is below RV_NORM2_TINY, where float squares may have underflowed (subnormal values), so
 * a tiny vector has its true norm and only a zero vector has norm 0.
 */
RVC_CLONES
double
rvc_norm2(const float *restrict a, size_t d)
{
	float		acc[RVC_LANES] = {0};
	double		s = 0.0;
	size_t		i = 0;
	int			l;

	for (; i + RVC_LANES <= d; i += RVC_LANES)
		for (l = 0; l < RVC_LANES; l++)
			acc[l] += a[i + l] * a[i + l];
	for (; i < d; i++)
		s += (double) a[i] * a[i];
	for (l = 0; l < RVC_LANES; l++)
		s += acc[l];
	if (isinf(s) || s < RV_NORM2_TINY)
		for (s = 0.0, i = 0; i < d; i++)
			s += (double) a[i] * a[i];
	return s;
}

/*
 * max |a_i - b_i|, vectorized (metric.c's rv_linf_distance is a scalar double loop). Float
 * subtraction rounds correctly and rounding is monotone, so this is rv_linf_distance
 * rounded to float; a difference that overflows float is recomputed in double.
 */
RVC_CLONES
double
rvc_linf(const float *restrict a, const float *restrict b, size_t d)
{
	float		acc[RVC_LANES] = {0};
	float		m = 0.0f;
	size_t		i = 0;
	int			l;

	for (; i + RVC_LANES <= d; i += RVC_LANES)
		for (l = 0; l < RVC_LANES; l++)
		{
			float		t = fabsf(a[i + l] - b[i + l]);

			acc[l] = t > acc[l] ? t : acc[l];
		}
	for (; i < d; i++)
	{
		float		t = fabsf(a[i] - b[i]);

		m = t > m ? t : m;
	}
	for (l = 0; l < RVC_LANES; l++)
		m = acc[l] > m ? acc[l] : m;
	if (isinf(m))
		return rv_linf_distance(a, b, d);
	return m;
}

/* Per-query state while one query block walks the chunk. */
typedef struct rvc_query
{
	const float *q;
	double		qn2;			/* |q|^2 by rvc_norm2, for the sgemm filter */
	double		qnorm;
	int64_t    *rows;			/* max-heap of cap entries by rv_topk_before */
	float	   *dist;
	size_t		len;
	float		cut_dist;		/* an entry is admitted only before (cut_dist, cut_row) */
	int64_t		cut_row;
} rvc_query;

/*
 * The exact distance of query st to row x: the scalar reference of metric.c rounded to
 * float, the one value any path inserts for the pair (and what SQL's operators give).
 */
static inline float
exact_dist(rv_metric metric, const rvc_query *st, const float *x, size_t d)
{
	return (float) rv_metric_distance(metric, st->q, x, d);
}

/* Offer (dist, row) to a query's heap of capacity cap; keeps the cutoff current. */
static inline void
offer(rvc_query *st, size_t cap, float dist, int64_t row)
{
	size_t		i;

	if (!rv_topk_before(dist, row, st->cut_dist, st->cut_row))
		return;
	if (st->len < cap)
	{
		/* sift up */
		i = st->len++;
		while (i > 0)
		{
			size_t		p = (i - 1) / 2;

			if (!rv_topk_before(st->dist[p], st->rows[p], dist, row))
				break;
			st->dist[i] = st->dist[p];
			st->rows[i] = st->rows[p];
			i = p;
		}
	}
	else
	{
		/* replace the top and sift down */
		i = 0;
		for (;;)
		{
			size_t		c = 2 * i + 1;

			if (c >= cap)
				break;
			if (c + 1 < cap &&
				rv_topk_before(st->dist[c], st->rows[c], st->dist[c + 1], st->rows[c + 1]))
				c++;
			if (!rv_topk_before(dist, row, st->dist[c], st->rows[c]))
				break;
			st->dist[i] = st->dist[c];
			st->rows[i] = st->rows[c];
			i = c;
		}
	}
	st->dist[i] = dist;
	st->rows[i] = row;
	if (st->len == cap)
	{
		st->cut_dist = st->dist[0];
		st->cut_row = st->rows[0];
	}
}

/*
 * True when a row whose distance is at least lb (lb2 for the squared L2 distance) can be
 * skipped: its float distance cannot come before the cutoff. ">=" suffices when the row
 * number already loses the tie, since rounding to float is monotone and the cutoff is a
 * float; a strict win needs a margin of a few float ulps above the cutoff.
 */
static inline int
skip_lb(const rvc_query *st, double lb, int64_t row)
{
	double		c = st->cut_dist;

	return lb > c + 4.0 * RVC_U * fabs(c) || (lb >= c && row > st->cut_row);
}

static inline int
skip_lb2(const rvc_query *st, double lb2, int64_t row)
{
	double		c = st->cut_dist;
	double		cs = c * (1.0 + 4.0 * RVC_U);

	return lb2 > cs * cs || (lb2 >= c * c && row > st->cut_row);
}

/* Validate the arguments of a top-k call; messages in PostgreSQL style. */
static rv_status
check_args(rv_ctx *ctx, const rv_topk_args *args)
{
	if (args == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "top-k arguments must not be NULL");
	if (args->d < 1)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "embedding dimensions must be at least 1");
	if (args->d > RV_MAX_DIMS)
		return rv_fail(ctx, RV_E_TOO_MANY_DIMS,
					   "embeddings cannot have more than %d dimensions", RV_MAX_DIMS);
	if (args->k < 1)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "k must be at least 1");
	if (args->k > RV_MAX_K)
		return rv_fail(ctx, RV_E_LIMIT, "k %zu exceeds the maximum of %d",
					   args->k, RV_MAX_K);
	if (args->metric != RV_METRIC_L2 && args->metric != RV_METRIC_IP &&
		args->metric != RV_METRIC_COSINE && args->metric != RV_METRIC_L1)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "unknown distance metric %d",
					   (int) args->metric);
	if (args->nq > 0 && args->q == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "query vectors must not be NULL");
	if (args->n > 0 && args->x == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "corpus vectors must not be NULL");
	if (args->nq > 0 && (args->best_rows == NULL || args->best_dist == NULL))
		return rv_fail(ctx, RV_E_INVALID_PARAM, "best lists must not be NULL");
	if (args->row_base < 0)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "row base %lld must not be negative",
					   (long long) args->row_base);
	if (args->n > (size_t) (INT64_MAX - args->row_base))
		return rv_fail(ctx, RV_E_LIMIT, "row numbers from %lld for %zu rows overflow",
					   (long long) args->row_base, args->n);
	if (args->nq > SIZE_MAX / args->k || args->nq > SIZE_MAX / args->d ||
		args->n > SIZE_MAX / sizeof(float) / args->d)
		return rv_fail(ctx, RV_E_LIMIT, "top-k arrays are too large");
	return RV_OK;
}

/* Start the states of queries q0..q0+nb-1: empty heaps, cutoffs from the best lists. */
static void
start_block(const rv_topk_args *args, rvc_query *st, size_t q0, size_t nb,
			int64_t *heap_rows, float *heap_dist, size_t cap)
{
	size_t		i;

	for (i = 0; i < nb; i++)
	{
		size_t		qi = q0 + i;
		const int64_t *br = args->best_rows + qi * args->k;
		const float *bd = args->best_dist + qi * args->k;

		st[i].q = args->q + qi * args->d;
		st[i].qn2 = rvc_norm2(st[i].q, args->d);
		st[i].qnorm = sqrt(st[i].qn2);
		st[i].rows = heap_rows + i * cap;
		st[i].dist = heap_dist + i * cap;
		st[i].len = 0;
		if (br[args->k - 1] >= 0)
		{
			st[i].cut_dist = bd[args->k - 1];
			st[i].cut_row = br[args->k - 1];
		}
		else
		{
			st[i].cut_dist = INFINITY;
			st[i].cut_row = INT64_MAX;
		}
	}
}

/* Sort each heap of a query block and merge it into its best list. */
static void
finish_block(const rv_topk_args *args, rvc_query *st, size_t q0, size_t nb)
{
	size_t		i;

	for (i = 0; i < nb; i++)
	{
		size_t		qi = q0 + i;

		rv_topk_sort(st[i].rows, st[i].dist, st[i].len);
		rv_topk_merge(args->best_rows + qi * args->k, args->best_dist + qi * args->k,
					  args->k, st[i].rows, st[i].dist, st[i].len);
	}
}

/*
 * Fast float-lane loops of the direct path. They only filter: their value plus an error
 * bound decides whether a row can be skipped, and a row that cannot gets its distance from
 * metric.c. A lane that overflows float gives inf or NaN, which the caller never skips.
 */
RVC_CLONES
static double
approx_l2sq(const float *restrict a, const float *restrict b, size_t d)
{
	float		acc[RVC_LANES] = {0};
	double		s = 0.0;
	size_t		i = 0;
	int			l;

	for (; i + RVC_LANES <= d; i += RVC_LANES)
		for (l = 0; l < RVC_LANES; l++)
		{
			float		t = a[i + l] - b[i + l];

			acc[l] += t * t;
		}
	for (; i < d; i++)
	{
		double		t = (double) a[i] - b[i];

		s += t * t;
	}
	for (l = 0; l < RVC_LANES; l++)
		s += acc[l];
	return s;
}

RVC_CLONES
static double
approx_l1(const float *restrict a, const float *restrict b, size_t d)
{
	float		acc[RVC_LANES] = {0};
	double		s = 0.0;
	size_t		i = 0;
	int			l;

	for (; i + RVC_LANES <= d; i += RVC_LANES)
		for (l = 0; l < RVC_LANES; l++)
			acc[l] += fabsf(a[i + l] - b[i + l]);
	for (; i < d; i++)
		s += fabs((double) a[i] - b[i]);
	for (l = 0; l < RVC_LANES; l++)
		s += acc[l];
	return s;
}

/* a . b and |b|^2 in one pass over b. */
RVC_CLONES
static void
approx_dot_norm2(const float *restrict a, const float *restrict b, size_t d, double *dot,
				 double *bnorm2)
{
	float		acc[RVC_LANES] = {0};
	float		accn[RVC_LANES] = {0};
	double		s = 0.0;
	double		sn = 0.0;
	size_t		i = 0;
	int			l;

	for (; i + RVC_LANES <= d; i += RVC_LANES)
		for (l = 0; l < RVC_LANES; l++)
		{
			acc[l] += a[i + l] * b[i + l];
			accn[l] += b[i + l] * b[i + l];
		}
	for (; i < d; i++)
	{
		s += (double) a[i] * b[i];
		sn += (double) b[i] * b[i];
	}
	for (l = 0; l < RVC_LANES; l++)
	{
		s += acc[l];
		sn += accn[l];
	}
	*dot = s;
	*bnorm2 = sn;
}

/*
 * True when the direct path may skip row x for query q. The bounds cover the float-lane
 * error of the loops above and of metric.c's (m terms per lane cost at most m u relative
 * to the sum of the terms' magnitudes): g relative to the distance (L2 squared, L1, all
 * terms nonnegative) or to |q| |x| (IP), and twice that for cosine, whose norms add theirs;
 * eta is the absolute slack for products that underflow (L1 has none: a difference that
 * is subnormal is exact). A tiny vector's cosine is never skipped: metric.c redoes it in
 * double.
 */
static inline int
direct_skip(rv_metric metric, const rvc_query *q, const float *x, size_t d, double g,
			double eta, int64_t row)
{
	double		v;
	double		xn2;

	switch (metric)
	{
		case RV_METRIC_L2:
			v = approx_l2sq(q->q, x, d);
			return v <= DBL_MAX && skip_lb2(q, v * (1.0 - g) - eta, row);
		case RV_METRIC_L1:
			v = approx_l1(q->q, x, d);
			return v <= DBL_MAX && skip_lb(q, v * (1.0 - g), row);
		case RV_METRIC_IP:
			approx_dot_norm2(q->q, x, d, &v, &xn2);
			return fabs(v) <= DBL_MAX && xn2 <= DBL_MAX &&
				skip_lb(q, -v - g * q->qnorm * sqrt(xn2) - eta, row);
		case RV_METRIC_COSINE:
			approx_dot_norm2(q->q, x, d, &v, &xn2);
			if (!(fabs(v) <= DBL_MAX && xn2 <= DBL_MAX) || xn2 < RV_NORM2_TINY ||
				q->qn2 < RV_NORM2_TINY)
				return 0;
			return skip_lb(q, 1.0 - (v + eta) / (q->qnorm * sqrt(xn2)) - 2.0 * g, row);
	}
	return 0;
}

/*
 * Direct path: every query of the block against every row, corpus blocks kept in cache;
 * the fast loops filter, metric.c gives the distance of each row that may enter.
 */
static rv_status
walk_direct(rv_ctx *ctx, const rv_topk_args *args, rvc_query *st, size_t nb, size_t cap)
{
	size_t		d = args->d;
	size_t		block = RVC_DIRECT_BLOCK_BYTES / (d * sizeof(float));
	double		g = ((double) d / 4.0 + 64.0) * RVC_U;
	double		eta = RV_UNDERFLOW_SLACK(d);
	size_t		r0;

	if (block < 16)
		block = 16;
	for (r0 = 0; r0 < args->n; r0 += block)
	{
		size_t		r1 = r0 + block < args->n ? r0 + block : args->n;
		size_t		i;

		if (rv_interrupted(ctx))
			return rv_fail(ctx, RV_E_INTERRUPTED, "top-k search interrupted");
		for (i = 0; i < nb; i++)
		{
			size_t		r;

			for (r = r0; r < r1; r++)
			{
				const float *x = args->x + r * d;
				int64_t		row = args->row_base + (int64_t) r;

				if (!direct_skip(args->metric, &st[i], x, d, g, eta, row))
					offer(&st[i], cap, exact_dist(args->metric, &st[i], x, d), row);
			}
		}
	}
	return RV_OK;
}

/*
 * Lower bounds of one query's distances to a corpus block from its sgemm inner products
 * s: the approximate distance minus the error bound, relative (g) and absolute (eta, the
 * underflow slack). A branch-free loop that vectorizes; for L2 the bound is on the squared
 * distance. xaux per row: |x|^2 (L2), g |x| (IP), 1/|x| or 0 (cosine).
 */
RVC_CLONES
static void
lower_bounds(rv_metric metric, const rvc_query *q, const float *restrict s,
			 const double *restrict xaux, size_t nr, double g, double eta,
			 double *restrict lb)
{
	size_t		r;

	if (metric == RV_METRIC_L2)
	{
		for (r = 0; r < nr; r++)
			lb[r] = (q->qn2 + xaux[r]) * (1.0 - g) - 2.0 * (double) s[r] - eta;
	}
	else if (metric == RV_METRIC_IP)
	{
		for (r = 0; r < nr; r++)
			lb[r] = -(double) s[r] - q->qnorm * xaux[r] - eta;
	}
	else
	{
		/*
		 * A zero or tiny vector on either side: no bound (metric.c computes its cosine in
		 * double, where float32 sums may have underflowed).
		 */
		double		qinv = q->qn2 >= RV_NORM2_TINY ? 1.0 / q->qnorm : 0.0;

		for (r = 0; r < nr; r++)
			lb[r] = qinv == 0.0 || xaux[r] == 0.0 ? -INFINITY :
				1.0 - ((double) s[r] + eta) * qinv * xaux[r] - g;
	}
	/* an sgemm sum that overflowed float bounds nothing: -inf is never skipped */
	for (r = 0; r < nr; r++)
		lb[r] = fabsf(s[r]) <= FLT_MAX ? lb[r] : -INFINITY;
}

/* What lower_bounds needs of a row with squared norm xn2 (see there). */
static inline double
row_aux(rv_metric metric, double g, double xn2)
{
	if (metric == RV_METRIC_L2)
		return xn2;
	if (metric == RV_METRIC_IP)
		return g * sqrt(xn2);
	return xn2 >= RV_NORM2_TINY ? 1.0 / sqrt(xn2) : 0.0;
}

/*
 * sgemm path: inner products of the query block against a corpus block in one call, a
 * lower bound per pair, exact distances only for rows whose bound does not rule them out.
 * sims (nb x block floats), xaux and lb (block doubles each) are scratch.
 */
static rv_status
walk_gemm(rv_ctx *ctx, const rv_topk_args *args, rvc_query *st, const float *qblock,
		  size_t nb, size_t cap, size_t block, float *sims, double *xaux, double *lb)
{
	size_t		d = args->d;
	rv_metric	metric = args->metric;
	/*
	 * Bound on |sgemm dot - exact dot| / (|q| |x|), both errors and the norms' together;
	 * for L2 the same relative to |q|^2 + |x|^2 (2 |q| |x| <= |q|^2 + |x|^2).
	 */
	double		g = metric == RV_METRIC_L2 ?
		(4.0 * (double) d + 256.0) * RVC_U : (2.0 * (double) d + 128.0) * RVC_U;
	double		eta = RV_UNDERFLOW_SLACK(d);
	size_t		r0;

	for (r0 = 0; r0 < args->n; r0 += block)
	{
		size_t		nr = args->n - r0 < block ? args->n - r0 : block;
		const float *xb = args->x + r0 * d;
		size_t		i;
		size_t		r;

		if (rv_interrupted(ctx))
			return rv_fail(ctx, RV_E_INTERRUPTED, "top-k search interrupted");
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) nb, (int) nr, (int) d,
					1.0f, qblock, (int) d, xb, (int) d, 0.0f, sims, (int) nr);
		for (r = 0; r < nr; r++)
			xaux[r] = row_aux(metric, g, rvc_norm2(xb + r * d, d));

		for (i = 0; i < nb; i++)
		{
			rvc_query  *q = &st[i];

			lower_bounds(metric, q, sims + i * nr, xaux, nr, g, eta, lb);
			for (r = 0; r < nr; r++)
			{
				int64_t		row = args->row_base + (int64_t) (r0 + r);
				int			skip;

				if (metric == RV_METRIC_L2)
					skip = skip_lb2(q, lb[r], row);
				else
					skip = skip_lb(q, lb[r], row);
				if (!skip)
					offer(q, cap, exact_dist(metric, q, xb + r * d, d), row);
			}
		}
	}
	return RV_OK;
}

/* Eight float lanes as one vector (see metric.c); loads through memcpy: any alignment. */
typedef float rvc_v8 __attribute__((vector_size(32)));
#define RVC_LOAD8(dst, p) memcpy(&(dst), (p), sizeof(rvc_v8))

/* The sum of a vector's lanes (an order of float additions like any other). */
#define HSUM8(v) ((((v)[0] + (v)[4]) + ((v)[1] + (v)[5])) + (((v)[2] + (v)[6]) + ((v)[3] + (v)[7])))

/* One dot product in eight float lanes, the tail of d added last. */
static inline float
dot8(const float *restrict a, const float *restrict b, size_t d)
{
	rvc_v8		acc = {0};
	float		t = 0.0f;
	size_t		i = 0;

	for (; i + 8 <= d; i += 8)
	{
		rvc_v8		va,
					vb;

		RVC_LOAD8(va, a + i);
		RVC_LOAD8(vb, b + i);
		acc += va * vb;
	}
	for (; i < d; i++)
		t += a[i] * b[i];
	return HSUM8(acc) + t;
}

/*
 * out[j * ldo + r] = q_j . x_r in float32 for nq queries and nr rows: the sgemm of the
 * lower bounds without its packing, which costs as much as the products when the queries
 * are few (a batch of up to 16). Two rows by four queries per step: each row piece is
 * loaded once for four queries, each query piece once for two rows. Any summation order
 * keeps the bound |fl(q.x) - q.x| <= d u |q| |x| the lower bounds rely on.
 */
RVC_CLONES
static void
few_dots(const float *restrict q, size_t nq, const float *restrict x, size_t nr, size_t d,
		 float *restrict out, size_t ldo)
{
	size_t		j,
				r,
				i,
				g0,
				g1;

	/* rows in groups that stay in the L2 cache while every query block passes over them */
	for (g0 = 0; g0 < nr; g0 = g1)
	{
	g1 = g0 + 32 < nr ? g0 + 32 : nr;
	for (j = 0; j + 4 <= nq; j += 4)
	{
		const float *q0 = q + j * d,
				   *q1 = q0 + d,
				   *q2 = q1 + d,
				   *q3 = q2 + d;

		for (r = g0; r + 2 <= g1; r += 2)
		{
			const float *x0 = x + r * d,
					   *x1 = x0 + d;
			rvc_v8		a00 = {0}, a01 = {0}, a10 = {0}, a11 = {0},
						a20 = {0}, a21 = {0}, a30 = {0}, a31 = {0};
			float		t[8] = {0};

			for (i = 0; i + 8 <= d; i += 8)
			{
				rvc_v8		v0,
							v1,
							w;

				RVC_LOAD8(v0, x0 + i);
				RVC_LOAD8(v1, x1 + i);
				RVC_LOAD8(w, q0 + i);
				a00 += w * v0;
				a01 += w * v1;
				RVC_LOAD8(w, q1 + i);
				a10 += w * v0;
				a11 += w * v1;
				RVC_LOAD8(w, q2 + i);
				a20 += w * v0;
				a21 += w * v1;
				RVC_LOAD8(w, q3 + i);
				a30 += w * v0;
				a31 += w * v1;
			}
			for (; i < d; i++)
			{
				t[0] += q0[i] * x0[i];
				t[1] += q0[i] * x1[i];
				t[2] += q1[i] * x0[i];
				t[3] += q1[i] * x1[i];
				t[4] += q2[i] * x0[i];
				t[5] += q2[i] * x1[i];
				t[6] += q3[i] * x0[i];
				t[7] += q3[i] * x1[i];
			}
			out[j * ldo + r] = HSUM8(a00) + t[0];
			out[j * ldo + r + 1] = HSUM8(a01) + t[1];
			out[(j + 1) * ldo + r] = HSUM8(a10) + t[2];
			out[(j + 1) * ldo + r + 1] = HSUM8(a11) + t[3];
			out[(j + 2) * ldo + r] = HSUM8(a20) + t[4];
			out[(j + 2) * ldo + r + 1] = HSUM8(a21) + t[5];
			out[(j + 3) * ldo + r] = HSUM8(a30) + t[6];
			out[(j + 3) * ldo + r + 1] = HSUM8(a31) + t[7];
		}
		for (; r < g1; r++)
		{
			out[j * ldo + r] = dot8(q0, x + r * d, d);
			out[(j + 1) * ldo + r] = dot8(q1, x + r * d, d);
			out[(j + 2) * ldo + r] = dot8(q2, x + r * d, d);
			out[(j + 3) * ldo + r] = dot8(q3, x + r * d, d);
		}
	}
	for (; j < nq; j++)
		for (r = g0; r < g1; r++)
			out[j * ldo + r] = dot8(q + j * d, x + r * d, d);
	}
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define RVC_HAVE_WIDE_DOTS 1
/*
 * few_dots with four rows by four queries per step, for CPUs with AVX-512 (x86-64-v4): its
 * 16 accumulators and 5 operands fit the 32 vector registers, and each step loads 8 pieces
 * for 16 products where few_dots loads 6 for 8 (its effect on batched scans:
 * bench/run-serving-bench.sh; on AVX2's 16 registers it spills and is slower, so few_dots
 * stays there). Every pair is
 * summed exactly as few_dots and dot8 sum it (8 lanes, HSUM8, the tail after), so the
 * values are the same bits.
 */
__attribute__((target("arch=x86-64-v4")))
static void
few_dots_wide(const float *restrict q, size_t nq, const float *restrict x, size_t nr,
			  size_t d, float *restrict out, size_t ldo)
{
	size_t		j,
				r,
				i,
				g0,
				g1;
	int			a,
				b;

	for (g0 = 0; g0 < nr; g0 = g1)
	{
		g1 = g0 + 32 < nr ? g0 + 32 : nr;
		for (j = 0; j + 4 <= nq; j += 4)
		{
			const float *qj[4] = {q + j * d, q + (j + 1) * d, q + (j + 2) * d, q + (j + 3) * d};

			for (r = g0; r + 4 <= g1; r += 4)
			{
				const float *xr[4] = {x + r * d, x + (r + 1) * d, x + (r + 2) * d, x + (r + 3) * d};
				rvc_v8		acc[4][4];
				float		t[4][4];

				memset(acc, 0, sizeof(acc));
				memset(t, 0, sizeof(t));
				for (i = 0; i + 8 <= d; i += 8)
				{
					rvc_v8		v[4],
								w;

					for (b = 0; b < 4; b++)
						RVC_LOAD8(v[b], xr[b] + i);
					for (a = 0; a < 4; a++)
					{
						RVC_LOAD8(w, qj[a] + i);
						for (b = 0; b < 4; b++)
							acc[a][b] += w * v[b];
					}
				}
				for (; i < d; i++)
					for (a = 0; a < 4; a++)
						for (b = 0; b < 4; b++)
							t[a][b] += qj[a][i] * xr[b][i];
				for (a = 0; a < 4; a++)
					for (b = 0; b < 4; b++)
						out[(j + a) * ldo + r + b] = HSUM8(acc[a][b]) + t[a][b];
			}
			for (; r < g1; r++)
				for (a = 0; a < 4; a++)
					out[(j + a) * ldo + r] = dot8(qj[a], x + r * d, d);
		}
		for (; j < nq; j++)
			for (r = g0; r < g1; r++)
				out[j * ldo + r] = dot8(q + j * d, x + r * d, d);
	}
}
#endif

/*
 * Lower bounds of the exact distances from nq queries to n rows, from the sgemm filter's
 * inner products and bounds (walk_gemm), written to lb[j * ldlb + r]; L2's become bounds
 * of the distance itself (sqrt is monotone). Validated by rv_lower_bounds (topk.c).
 */
rv_status
rvc_lower_bounds(rv_ctx *ctx, rv_metric metric, const float *x, const double *xn2, size_t n,
				 size_t d, const float *q, size_t nq, double *lb, size_t ldlb)
{
	double		g = metric == RV_METRIC_L2 ?
		(4.0 * (double) d + 256.0) * RVC_U : (2.0 * (double) d + 128.0) * RVC_U;
	double		eta = RV_UNDERFLOW_SLACK(d);
	size_t		block = n < RVC_GEMM_BLOCK_ROWS ? n : RVC_GEMM_BLOCK_ROWS;
	rvc_query  *qs = rv_alloc(ctx, nq * sizeof(rvc_query));
	float	   *sims = rv_alloc(ctx, nq * block * sizeof(float));
#ifdef RVC_HAVE_WIDE_DOTS
	int			wide = __builtin_cpu_supports("x86-64-v4");
#endif
	double	   *xaux = rv_alloc(ctx, block * sizeof(double));
	rv_status	st = RV_OK;
	size_t		r0;
	size_t		j;

	if (qs == NULL || sims == NULL || xaux == NULL)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory for lower bounds");
		goto done;
	}
	rvc_blas_init();
	for (j = 0; j < nq; j++)
	{
		memset(&qs[j], 0, sizeof(rvc_query));
		qs[j].q = q + j * d;
		qs[j].qn2 = rvc_norm2(qs[j].q, d);
		qs[j].qnorm = sqrt(qs[j].qn2);
	}
	for (r0 = 0; r0 < n; r0 += block)
	{
		size_t		nr = n - r0 < block ? n - r0 : block;
		size_t		r;

		if (rv_interrupted(ctx))
		{
			st = rv_fail(ctx, RV_E_INTERRUPTED, "lower bounds interrupted");
			goto done;
		}
		if (nq <= RVC_FEW_DOTS_MAX)
		{
#ifdef RVC_HAVE_WIDE_DOTS
			if (nq >= 4 && wide)
				few_dots_wide(q, nq, x + r0 * d, nr, d, sims, nr);
			else
#endif
				few_dots(q, nq, x + r0 * d, nr, d, sims, nr);
		}
		else
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) nq, (int) nr, (int) d,
						1.0f, q, (int) d, x + r0 * d, (int) d, 0.0f, sims, (int) nr);
		for (r = 0; r < nr; r++)
			xaux[r] = row_aux(metric, g, xn2[r0 + r]);
		for (j = 0; j < nq; j++)
		{
			double	   *out = lb + j * ldlb + r0;

			lower_bounds(metric, &qs[j], sims + j * nr, xaux, nr, g, eta, out);
			if (metric == RV_METRIC_L2)
				for (r = 0; r < nr; r++)
					out[r] = out[r] > 0.0 ? sqrt(out[r]) :
						out[r] == -INFINITY ? -INFINITY : 0.0;
		}
	}

done:
	rv_free(ctx, xaux);
	rv_free(ctx, sims);
	rv_free(ctx, qs);
	return st;
}

/*
 * Merge the k nearest rows of one corpus chunk into each query's best list (CPU). On
 * invalid arguments or RV_E_NOMEM (all memory is taken before any work) the lists are
 * untouched; on RV_E_INTERRUPTED the queries of finished query blocks already hold the
 * chunk. Memory: heaps of up to 8 MiB, plus for the sgemm path one block of inner products.
 */
rv_status
rvc_topk(rv_ctx *ctx, const rv_topk_args *args)
{
	rv_status	st;
	size_t		cap;
	size_t		qblock;
	size_t		gblock = 0;
	int			use_gemm;
	rvc_query  *qs = NULL;
	int64_t    *heap_rows = NULL;
	float	   *heap_dist = NULL;
	float	   *sims = NULL;
	double	   *xaux = NULL;
	double	   *lb = NULL;
	size_t		q0;

	st = check_args(ctx, args);
	if (st != RV_OK)
		return st;
	if (args->nq == 0 || args->n == 0)
		return RV_OK;

	cap = args->k < args->n ? args->k : args->n;
	qblock = RVC_HEAP_BUDGET / (cap * (sizeof(int64_t) + sizeof(float)));
	if (qblock > RVC_MAX_QUERY_BLOCK)
		qblock = RVC_MAX_QUERY_BLOCK;
	if (qblock > args->nq)
		qblock = args->nq;
	if (qblock < 1)
		qblock = 1;
	use_gemm = args->nq >= RVC_GEMM_MIN_QUERIES && args->metric != RV_METRIC_L1;

	qs = rv_alloc(ctx, qblock * sizeof(rvc_query));
	heap_rows = rv_alloc(ctx, qblock * cap * sizeof(int64_t));
	heap_dist = rv_alloc(ctx, qblock * cap * sizeof(float));
	if (qs == NULL || heap_rows == NULL || heap_dist == NULL)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory for top-k heaps");
		goto done;
	}
	if (use_gemm)
	{
		gblock = RVC_GEMM_BLOCK_FLOATS / args->d;
		if (gblock > RVC_GEMM_BLOCK_ROWS)
			gblock = RVC_GEMM_BLOCK_ROWS;
		if (gblock < 64)
			gblock = 64;
		if (gblock > args->n)
			gblock = args->n;
		sims = rv_alloc(ctx, qblock * gblock * sizeof(float));
		xaux = rv_alloc(ctx, gblock * sizeof(double));
		lb = rv_alloc(ctx, gblock * sizeof(double));
		if (sims == NULL || xaux == NULL || lb == NULL)
		{
			st = rv_fail(ctx, RV_E_NOMEM, "out of memory for top-k scratch");
			goto done;
		}
		rvc_blas_init();
	}

	for (q0 = 0; q0 < args->nq; q0 += qblock)
	{
		size_t		nb = args->nq - q0 < qblock ? args->nq - q0 : qblock;

		start_block(args, qs, q0, nb, heap_rows, heap_dist, cap);
		if (use_gemm)
			st = walk_gemm(ctx, args, qs, args->q + q0 * args->d, nb, cap, gblock,
						   sims, xaux, lb);
		else
			st = walk_direct(ctx, args, qs, nb, cap);
		if (st != RV_OK)
			goto done;
		finish_block(args, qs, q0, nb);
	}
	st = RV_OK;

done:
	rv_free(ctx, lb);
	rv_free(ctx, xaux);
	rv_free(ctx, sims);
	rv_free(ctx, heap_dist);
	rv_free(ctx, heap_rows);
	rv_free(ctx, qs);
	return st;
}
