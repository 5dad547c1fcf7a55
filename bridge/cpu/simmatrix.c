/*
 * cpu/simmatrix.c — the similarity matrix on the CPU (relative projection against anchors),
 * the reference that the Vulkan kernel is tested against.
 *
 * out[i][j] = sim(x_i - c, a_j - c). Cosine, dot and negative Euclidean come from one
 * cblas_sgemm per block of x rows, written straight into the caller's output rows, plus
 * row norms: cosine = x.a / (|x| |a|) (0 when either is zero, clamped to [-1, 1]);
 * -|x - a| = -sqrt(|x|^2 + |a|^2 - 2 x.a). That expansion cancels when x is close to a:
 * its error is about d u (|x|^2 + |a|^2) (u = 2^-24), so a pair whose expanded square is
 * below 1/8 of |x|^2 + |a|^2 is recomputed exactly from the differences (rv_l2_squared);
 * elsewhere the relative error of the distance stays near 4 d u at worst and far less in
 * practice. A result that overflowed float in the sgemm (values beyond about 1e19, or a
 * centered value beyond the float range) is recomputed in double too. L1 and L-infinity
 * use per-pair loops (rv_l1_distance, rvc_linf) over cache-sized tiles of x rows and
 * anchors. Centering cancels out of every distance (x - c - (a - c) = x - a), so it is
 * applied only to cosine and dot, and to the sgemm of the Euclidean case, where it makes
 * the norms smaller and the expansion better conditioned.
 *
 * x is processed in blocks of a few thousand rows so that the centered copy stays bounded
 * (about 8 MiB); the interrupt check is polled between blocks. Memory: one centered copy
 * of the anchors (k x d) and of one x block, only when a center is given, and k + block
 * norms.
 */
#include <cblas.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>

#include "internal.h"

/* Budget of the centered copy of an x block, and bounds on the block's row count. */
#define RVC_SIM_BLOCK_FLOATS ((size_t) 2 << 20)
#define RVC_SIM_MIN_ROWS 64
#define RVC_SIM_MAX_ROWS 4096
/* L1 / L-infinity tiles: x rows x anchors whose data stays in L2 together. */
#define RVC_TILE_BYTES ((size_t) 128 << 10)
/* Below this fraction of |x|^2 + |a|^2 the expanded squared distance is recomputed. */
#define RVC_L2_EXACT_BELOW 0.125

static int	blas_ready = 0;

/* Set OpenBLAS to one thread, once: it runs inside host processes (PostgreSQL backends). */
void
rvc_blas_init(void)
{
	if (!blas_ready)
	{
		openblas_set_num_threads(1);
		blas_ready = 1;
	}
}

/* The threads of the CPU's matrix products from now on (relvec_bridge.h). */
int
rv_cpu_set_threads(int n)
{
	int			prev;

	rvc_blas_init();
	prev = openblas_get_num_threads();
	openblas_set_num_threads(n < 1 ? 1 : n);
	return prev;
}

/* Validate the arguments of a similarity matrix; messages in PostgreSQL style. */
static rv_status
check_args(rv_ctx *ctx, const rv_simmatrix_args *args)
{
	if (args == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM,
					   "similarity matrix arguments must not be NULL");
	if (args->d < 1)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "embedding dimensions must be at least 1");
	if (args->d > RV_MAX_DIMS)
		return rv_fail(ctx, RV_E_TOO_MANY_DIMS,
					   "embeddings cannot have more than %d dimensions", RV_MAX_DIMS);
	if (args->k < 1)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "number of anchors must be at least 1");
	if (args->sim != RV_SIM_COSINE && args->sim != RV_SIM_DOT &&
		args->sim != RV_SIM_NEG_L2 && args->sim != RV_SIM_NEG_L1 &&
		args->sim != RV_SIM_NEG_LINF)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "unknown similarity function %d",
					   (int) args->sim);
	if (args->a == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "anchor vectors must not be NULL");
	if (args->n > 0 && args->x == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "input vectors must not be NULL");
	if (args->n > 0 && args->out == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "output matrix must not be NULL");
	if (args->k > INT_MAX)
		return rv_fail(ctx, RV_E_LIMIT, "%zu anchors exceed the maximum of %d",
					   args->k, INT_MAX);
	if (args->k > SIZE_MAX / sizeof(float) / args->d ||
		args->n > SIZE_MAX / sizeof(float) / args->d ||
		args->n > SIZE_MAX / sizeof(float) / args->k)
		return rv_fail(ctx, RV_E_LIMIT, "similarity matrix is too large");
	return RV_OK;
}

/* dst = src - c for rows rows of d values. */
static void
center_rows(float *restrict dst, const float *restrict src, const float *restrict c,
			size_t rows, size_t d)
{
	size_t		i;
	size_t		j;

	for (i = 0; i < rows; i++)
		for (j = 0; j < d; j++)
			dst[i * d + j] = src[i * d + j] - c[j];
}

/*
 * One pair exactly, in double from the raw rows: the slow path for pairs where the sgemm
 * route is not accurate enough (the Euclidean expansion cancelled) or overflowed float
 * (values beyond about 1e19, or a centered value beyond the float range), and for rows
 * whose float values overflowed before normalization.
 */
static double
exact_pair(rv_sim sim, const float *x, const float *a, const float *c, size_t d)
{
	double		dot = 0.0;
	double		xn = 0.0;
	double		an = 0.0;
	double		v;
	size_t		i;

	/* (x - c) - (a - c) = x - a: the center cancels out of the distances */
	switch (sim)
	{
		case RV_SIM_NEG_L2:
			return 0.0 - sqrt(rv_l2_squared(x, a, d));
		case RV_SIM_NEG_L1:
			return 0.0 - rv_l1_distance(x, a, d);
		case RV_SIM_NEG_LINF:
			return 0.0 - rv_linf_distance(x, a, d);
		case RV_SIM_COSINE:
		case RV_SIM_DOT:
			break;
	}
	for (i = 0; i < d; i++)
	{
		double		xv = (double) x[i] - (c != NULL ? (double) c[i] : 0.0);
		double		av = (double) a[i] - (c != NULL ? (double) c[i] : 0.0);

		dot += xv * av;
		xn += xv * xv;
		an += av * av;
	}
	if (sim == RV_SIM_DOT)
		return dot;
	if (xn == 0.0 || an == 0.0)
		return 0.0;
	v = dot / sqrt(xn) / sqrt(an);
	return v > 1.0 ? 1.0 : (v < -1.0 ? -1.0 : v);
}

/*
 * L2-normalize output rows i0..i0+rows-1 in place; a zero row stays zero. A row holding a
 * value beyond the float range (a distance or dot product that overflowed) is recomputed
 * in double and normalized there, since its normalized values are representable.
 */
static void
normalize_rows(const rv_simmatrix_args *args, size_t i0, size_t rows)
{
	size_t		k = args->k;
	size_t		d = args->d;
	size_t		i;
	size_t		j;

	for (i = i0; i < i0 + rows; i++)
	{
		float	   *o = args->out + i * k;
		const float *xi = args->x + i * d;
		double		s = 0.0;

		for (j = 0; j < k; j++)
			s += (double) o[j] * o[j];
		if (!(s <= DBL_MAX))
		{
			for (s = 0.0, j = 0; j < k; j++)
			{
				double		v = exact_pair(args->sim, xi, args->a + j * d, args->center, d);

				s += v * v;
			}
			for (j = 0; j < k; j++)
				o[j] = (float) (exact_pair(args->sim, xi, args->a + j * d, args->center, d) /
								sqrt(s));
		}
		else if (s > 0.0)
		{
			double		inv = 1.0 / sqrt(s);

			for (j = 0; j < k; j++)
				o[j] = (float) (o[j] * inv);
		}
	}
}

/*
 * Fail if an output row of the block holds a value beyond the float range (an embedding
 * must be finite); normalized rows never do.
 */
static rv_status
check_range(rv_ctx *ctx, const rv_simmatrix_args *args, size_t i0, size_t rows)
{
	const float *o = args->out + i0 * args->k;
	size_t		total = rows * args->k;
	size_t		bad = 0;
	size_t		j;

	for (j = 0; j < total; j++)
		bad += !(fabsf(o[j]) <= FLT_MAX);
	if (bad == 0)
		return RV_OK;
	for (j = 0; j < total && fabsf(o[j]) <= FLT_MAX; j++)
		;
	rv_fail(ctx, RV_E_OUT_OF_RANGE, "similarity value out of range: overflow");
	rv_set_detail(ctx, "input row %zu, anchor %zu", i0 + j / args->k, j % args->k);
	return RV_E_OUT_OF_RANGE;
}

/* Number of the row's sgemm results that need the exact path (vectorizes). */
RVC_CLONES
static int
count_exact(rv_sim sim, const float *restrict o, size_t k, double xn2,
			const double *restrict an2)
{
	int			bad = 0;
	size_t		j;

	for (j = 0; j < k; j++)
		bad += !(fabsf(o[j]) <= FLT_MAX);
	if (sim == RV_SIM_NEG_L2)
		for (j = 0; j < k; j++)
		{
			double		scale = xn2 + an2[j];
			double		sq = scale - 2.0 * (double) o[j];

			bad += !(sq >= RVC_L2_EXACT_BELOW * scale) || !(scale <= DBL_MAX);
		}
	return bad;
}

/*
 * Turn the sgemm inner products of one x block (out rows, k each) into the similarity.
 * Per anchor: ainv = 1/|a| (0 for a zero anchor) for cosine, an2 = |a|^2 for Euclidean;
 * per row xn2 = |x|^2 of the sgemm operand. A row whose results all take the fast route
 * goes through branch-free loops that vectorize; otherwise each pair that needs it is
 * recomputed by exact_pair from the raw rows xraw, araw and the center c.
 */
RVC_CLONES
static void
finish_gemm_block(rv_sim sim, float *restrict out, size_t rows, size_t k, size_t d,
				  const float *xraw, const float *araw, const float *c,
				  const double *xn2, const double *restrict ainv,
				  const double *restrict an2)
{
	size_t		i;
	size_t		j;

	for (i = 0; i < rows; i++)
	{
		float	   *restrict o = out + i * k;
		const float *xi = xraw + i * d;
		int			nexact = count_exact(sim, o, k, xn2 != NULL ? xn2[i] : 0.0, an2);

		if (sim == RV_SIM_COSINE)
		{
			double		xinv = xn2[i] > 0.0 ? 1.0 / sqrt(xn2[i]) : 0.0;

			for (j = 0; j < k; j++)
			{
				double		v;

				if (nexact > 0 && !(fabsf(o[j]) <= FLT_MAX))
				{
					o[j] = (float) exact_pair(sim, xi, araw + j * d, c, d);
					continue;
				}
				v = o[j] * xinv * ainv[j];
				v = v > 1.0 ? 1.0 : v;
				o[j] = (float) (v < -1.0 ? -1.0 : v);
			}
		}
		else if (sim == RV_SIM_DOT)
		{
			for (j = 0; nexact > 0 && j < k; j++)
				if (!(fabsf(o[j]) <= FLT_MAX))
					o[j] = (float) exact_pair(sim, xi, araw + j * d, c, d);
		}
		else if (nexact == 0)
		{
			for (j = 0; j < k; j++)
			{
				double		sq = xn2[i] + an2[j] - 2.0 * (double) o[j];

				/* 0 - v, not -v: an exact match gives +0, never -0 */
				o[j] = (float) (0.0 - sqrt(sq > 0.0 ? sq : 0.0));
			}
		}
		else
		{
			for (j = 0; j < k; j++)
			{
				double		scale = xn2[i] + an2[j];
				double		sq = scale - 2.0 * (double) o[j];

				/*
				 * A non-finite sgemm sum is recomputed whatever sq says: kernels disagree
				 * on what overflow gives (NaN from AVX-512 kernels, +-inf from Haswell's),
				 * and -inf would pass the test below with sq = +inf.
				 */
				if (!(fabsf(o[j]) <= FLT_MAX) || !(sq >= RVC_L2_EXACT_BELOW * scale) ||
					!(scale <= DBL_MAX))
					o[j] = (float) exact_pair(sim, xi, araw + j * d, c, d);
				else
					o[j] = (float) (0.0 - sqrt(sq));
			}
		}
	}
}

/* Cosine, dot, negative Euclidean: one sgemm per x block plus norms. */
static rv_status
sim_gemm(rv_ctx *ctx, const rv_simmatrix_args *args)
{
	size_t		n = args->n;
	size_t		k = args->k;
	size_t		d = args->d;
	int			centered = args->center != NULL;
	int			need_norms = args->sim != RV_SIM_DOT;
	size_t		block;
	float	   *ac = NULL;		/* centered anchors */
	float	   *xc = NULL;		/* centered x block */
	double	   *ainv = NULL;	/* 1/|a_j|, 0 for a zero anchor */
	double	   *an2 = NULL;		/* |a_j|^2 */
	double	   *xn2 = NULL;
	const float *ab;
	size_t		i0;
	size_t		j;
	rv_status	st = RV_OK;

	block = RVC_SIM_BLOCK_FLOATS / d;
	if (block < RVC_SIM_MIN_ROWS)
		block = RVC_SIM_MIN_ROWS;
	if (block > RVC_SIM_MAX_ROWS)
		block = RVC_SIM_MAX_ROWS;
	if (block > n)
		block = n;

	if (centered)
	{
		ac = rv_alloc(ctx, k * d * sizeof(float));
		xc = rv_alloc(ctx, block * d * sizeof(float));
		if (ac == NULL || xc == NULL)
		{
			st = rv_fail(ctx, RV_E_NOMEM, "out of memory for centered vectors");
			goto done;
		}
		center_rows(ac, args->a, args->center, k, d);
	}
	if (need_norms)
	{
		ainv = rv_alloc(ctx, k * sizeof(double));
		an2 = rv_alloc(ctx, k * sizeof(double));
		xn2 = rv_alloc(ctx, block * sizeof(double));
		if (ainv == NULL || an2 == NULL || xn2 == NULL)
		{
			st = rv_fail(ctx, RV_E_NOMEM, "out of memory for norms");
			goto done;
		}
	}
	ab = centered ? ac : args->a;
	if (need_norms)
		for (j = 0; j < k; j++)
		{
			double		nn = rvc_norm2(ab + j * d, d);

			an2[j] = nn;
			ainv[j] = nn > 0.0 ? 1.0 / sqrt(nn) : 0.0;
		}
	rvc_blas_init();

	for (i0 = 0; i0 < n; i0 += block)
	{
		size_t		rows = n - i0 < block ? n - i0 : block;
		const float *xraw = args->x + i0 * d;
		const float *xb = xraw;
		float	   *o = args->out + i0 * k;
		size_t		i;

		if (rv_interrupted(ctx))
		{
			st = rv_fail(ctx, RV_E_INTERRUPTED, "similarity matrix interrupted");
			goto done;
		}
		if (centered)
		{
			center_rows(xc, xraw, args->center, rows, d);
			xb = xc;
		}
		if (need_norms)
			for (i = 0; i < rows; i++)
				xn2[i] = rvc_norm2(xb + i * d, d);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) rows, (int) k, (int) d,
					1.0f, xb, (int) d, ab, (int) d, 0.0f, o, (int) k);
		finish_gemm_block(args->sim, o, rows, k, d, xraw, args->a, args->center, xn2,
						  ainv, an2);
		if (args->normalize)
			normalize_rows(args, i0, rows);
		st = check_range(ctx, args, i0, rows);
		if (st != RV_OK)
			goto done;
	}

done:
	rv_free(ctx, xn2);
	rv_free(ctx, an2);
	rv_free(ctx, ainv);
	rv_free(ctx, xc);
	rv_free(ctx, ac);
	return st;
}

/* Negative L1 / L-infinity: per-pair loops over tiles of x rows and anchors. */
static rv_status
sim_direct(rv_ctx *ctx, const rv_simmatrix_args *args)
{
	size_t		n = args->n;
	size_t		k = args->k;
	size_t		d = args->d;
	size_t		tile = RVC_TILE_BYTES / (d * sizeof(float));
	int			linf = args->sim == RV_SIM_NEG_LINF;
	size_t		i0;
	rv_status	st;

	if (tile < 4)
		tile = 4;
	for (i0 = 0; i0 < n; i0 += tile)
	{
		size_t		i1 = i0 + tile < n ? i0 + tile : n;
		size_t		j0;

		if (rv_interrupted(ctx))
			return rv_fail(ctx, RV_E_INTERRUPTED, "similarity matrix interrupted");
		for (j0 = 0; j0 < k; j0 += tile)
		{
			size_t		j1 = j0 + tile < k ? j0 + tile : k;
			size_t		i;

			for (i = i0; i < i1; i++)
			{
				const float *xi = args->x + i * d;
				float	   *o = args->out + i * k;
				size_t		j;

				if (linf)
					for (j = j0; j < j1; j++)
						o[j] = (float) (0.0 - rvc_linf(xi, args->a + j * d, d));
				else
					for (j = j0; j < j1; j++)
						o[j] = (float) (0.0 - rv_l1_distance(xi, args->a + j * d, d));
			}
		}
		if (args->normalize)
			normalize_rows(args, i0, i1 - i0);
		st = check_range(ctx, args, i0, i1 - i0);
		if (st != RV_OK)
			return st;
	}
	return RV_OK;
}

/* out[i][j] = sim(x_i - c, a_j - c), optionally with L2-normalized rows (CPU). */
rv_status
rvc_simmatrix(rv_ctx *ctx, const rv_simmatrix_args *args)
{
	rv_status	st;

	st = check_args(ctx, args);
	if (st != RV_OK)
		return st;
	if (args->n == 0)
		return RV_OK;
	if (args->sim == RV_SIM_NEG_L1 || args->sim == RV_SIM_NEG_LINF)
		return sim_direct(ctx, args);
	return sim_gemm(ctx, args);
}
