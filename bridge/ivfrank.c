/*
 * ivfrank.c — the lists a query probes: the nprobe nearest centroids of one query, the
 * same lists in the same order as rv_ivf_assign gives, for less memory traffic.
 *
 * A scan ranks every centroid of its index for each query: 1,000 lists of 768 dimensions
 * are 3 MB of floats read per query, more than the scan's own lists. A ranker keeps a
 * half-precision copy of the centroids (IEEE binary16, rounded to nearest) and the exact
 * norm of each centroid. One pass over the copy gives each centroid's distance with a
 * bound on its error; the nprobe smallest upper bounds give a cut, and only the centroids
 * whose lower bound reaches it get their exact distance (rv_metric_distance on the float
 * centroids, as rv_topk computes it). Those are ordered by (distance as a float, list
 * number), as rv_topk orders them, so the answer is rv_ivf_assign's, bit for bit.
 *
 * The bound. With h the rounded centroid, |h_i - c_i| <= 2^-11 |c_i| + 2^-25 (binary16
 * has 11 significant bits; below 2^-14 its steps are 2^-24 apart), so the rounding moves
 * <q, c> by at most 2^-11 |q| |c| + 2^-25 |q|_1. The float sums of the pass and of the
 * exact distance each err by at most (pd + 16) u |q| |c| (u = 2^-24, any order of the
 * adds); the bound counts both, and the rounding of a distance to a float, with room to
 * spare: a wider bound only costs a few more exact distances. A value that is not finite
 * anywhere (it cannot come from an index's centroids) sends the query to rv_ivf_assign.
 *
 * The pass widens the halves with AVX-512 or F16C where the CPU has them. Without a
 * compiler type for binary16 (clang, which builds the fuzzers; machines other than
 * x86-64), rv_ivf_rank is rv_ivf_assign.
 */
#include <math.h>
#include <string.h>

#include "internal.h"

#if defined(__FLT16_MAX__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#define IVFRANK_HALF 1
typedef _Float16 ivf_half;
#else
typedef uint16_t ivf_half;
#endif

/* internal.h: the pass a test asks for (0: the CPU's widest) */
int			rv_ivfrank_path = 0;

/* float lanes of the pass: pd is a multiple of 64 */
#define IVFRANK_LANES 16

struct rv_ivf_ranker
{
	size_t		nlists;
	size_t		pd;
	double	   *norm;			/* nlists: |c| (in double) */
	ivf_half   *half;			/* nlists x pd */
};

/* Bytes a ranker of nlists x pd takes (one allocation). */
static size_t
ranker_bytes(size_t nlists, size_t pd)
{
	size_t		head = (sizeof(rv_ivf_ranker) + 63) / 64 * 64;

	return head + nlists * sizeof(double) + nlists * pd * sizeof(ivf_half) + 64;
}

/* Make a ranker of nlists centroids c (nlists x pd, pd a multiple of 64). */
rv_status
rv_ivf_ranker_create(rv_ctx *ctx, const float *c, size_t nlists, size_t pd,
					 rv_ivf_ranker **out)
{
	rv_ivf_ranker *r;
	size_t		head = (sizeof(rv_ivf_ranker) + 63) / 64 * 64,
				l,
				i;

	if (ctx == NULL || out == NULL)
		return RV_E_INVALID_PARAM;
	*out = NULL;
	rv_clear_error(ctx);
	if (pd == 0 || pd % 64 != 0 || pd > 16000)
		return rv_fail(ctx, RV_E_INVALID_PARAM,
					   "padded dimensions %zu must be a positive multiple of 64 up to 16000", pd);
	if (nlists < 1 || nlists > (size_t) INT32_MAX || c == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "a ranker needs at least one centroid");
	r = rv_alloc(ctx, ranker_bytes(nlists, pd));
	if (r == NULL)
		return rv_fail(ctx, RV_E_NOMEM, "out of memory");
	r->nlists = nlists;
	r->pd = pd;
	r->norm = (double *) ((char *) r + head);
	r->half = (ivf_half *) (r->norm + nlists);
	for (l = 0; l < nlists; l++)
	{
		const float *cl = c + l * pd;
		double		n2 = 0.0;

		for (i = 0; i < pd; i++)
		{
			n2 += (double) cl[i] * cl[i];
#ifdef IVFRANK_HALF
			r->half[l * pd + i] = (ivf_half) cl[i];
#else
			r->half[l * pd + i] = 0;
#endif
		}
		r->norm[l] = sqrt(n2);
	}
	*out = r;
	return RV_OK;
}

/* Free a ranker. Accepts NULL. */
void
rv_ivf_ranker_destroy(rv_ctx *ctx, rv_ivf_ranker *r)
{
	rv_free(ctx, r);
}

#ifdef IVFRANK_HALF
/* <q, h> for every centroid, 16 float lanes over the half copy (AVX-512). */
__attribute__((target("arch=x86-64-v4")))
static void
half_dots_512(const float *restrict q, const ivf_half *restrict h, size_t nlists, size_t pd,
			  double *restrict dot)
{
	size_t		l;

	for (l = 0; l < nlists; l++)
	{
		const ivf_half *hl = h + l * pd;
		__m512		a0 = _mm512_setzero_ps(),
					a1 = _mm512_setzero_ps();
		size_t		i;

		for (i = 0; i < pd; i += 32)
		{
			__m512		h0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) (hl + i))),
						h1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) (hl + i + 16)));

			a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), h0, a0);
			a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), h1, a1);
		}
		dot[l] = (double) _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
	}
}

/* The same with 8 float lanes (AVX2, FMA, F16C). */
__attribute__((target("arch=x86-64-v3")))
static void
half_dots_256(const float *restrict q, const ivf_half *restrict h, size_t nlists, size_t pd,
			  double *restrict dot)
{
	size_t		l;

	for (l = 0; l < nlists; l++)
	{
		const ivf_half *hl = h + l * pd;
		__m256		a0 = _mm256_setzero_ps(),
					a1 = _mm256_setzero_ps();
		float		t[8];
		double		s = 0.0;
		size_t		i;
		int			k;

		for (i = 0; i < pd; i += 16)
		{
			__m256		h0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (hl + i))),
						h1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (hl + i + 8)));

			a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), h0, a0);
			a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), h1, a1);
		}
		_mm256_storeu_ps(t, _mm256_add_ps(a0, a1));
		for (k = 0; k < 8; k++)
			s += t[k];
		dot[l] = s;
	}
}

/* The same without vector conversions: each half widened one by one. */
static void
half_dots_plain(const float *restrict q, const ivf_half *restrict h, size_t nlists, size_t pd,
				double *restrict dot)
{
	size_t		l;

	for (l = 0; l < nlists; l++)
	{
		const ivf_half *hl = h + l * pd;
		float		acc[IVFRANK_LANES] = {0};
		double		s = 0.0;
		size_t		i;
		int			k;

		for (i = 0; i < pd; i += IVFRANK_LANES)
			for (k = 0; k < IVFRANK_LANES; k++)
				acc[k] += q[i + k] * (float) hl[i + k];
		for (k = 0; k < IVFRANK_LANES; k++)
			s += acc[k];
		dot[l] = s;
	}
}

/* <q, h> for every centroid, by the widest vectors the CPU has (or rv_ivfrank_path's). */
static void
half_dots(const float *q, const ivf_half *h, size_t nlists, size_t pd, double *dot)
{
	int			path = rv_ivfrank_path;

	if (path == 0)
		path = __builtin_cpu_supports("x86-64-v4") ? 3 :
			(__builtin_cpu_supports("x86-64-v3") ? 2 : 1);
	if (path == 3)
		half_dots_512(q, h, nlists, pd, dot);
	else if (path == 2)
		half_dots_256(q, h, nlists, pd, dot);
	else
		half_dots_plain(q, h, nlists, pd, dot);
}

/* The k-th smallest (1-based) of n doubles (v is reordered). */
static double
kth_smallest(double *v, size_t n, size_t k)
{
	size_t		lo = 0,
				hi = n - 1,
				want = k - 1;

	while (lo < hi)
	{
		double		pivot = v[lo + (hi - lo) / 2];
		size_t		i = lo,
					j = hi;

		while (i <= j)
		{
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j)
			{
				double		t = v[i];

				v[i] = v[j];
				v[j] = t;
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (want <= j)
			hi = j;
		else if (want >= i)
			lo = i;
		else
			break;
	}
	return v[want];
}
#endif

/* The nprobe nearest lists of prepared query q by metric m (relvec_bridge.h). */
rv_status
rv_ivf_rank(rv_ctx *ctx, rv_metric m, const float *c, const rv_ivf_ranker *r,
			const float *q, size_t nprobe, int32_t *lists)
{
#ifdef IVFRANK_HALF
	size_t		nlists,
				pd,
				l,
				nc = 0,
				i;
	double	   *dot = NULL,
			   *lb = NULL,
			   *ub = NULL;
	int64_t    *crow = NULL;
	float	   *cdist = NULL;
	double		qn2 = 0.0,
				q1 = 0.0,
				qn,
				gam,
				cut;
	rv_status	st = RV_OK;
	int			fallback = 0;

	if (ctx == NULL)
		return RV_E_INVALID_PARAM;
	if (r == NULL || c == NULL || q == NULL || lists == NULL ||
		(m != RV_METRIC_L2 && m != RV_METRIC_IP && m != RV_METRIC_COSINE) ||
		nprobe < 1 || nprobe > r->nlists || nprobe > RV_MAX_K)
		return rv_ivf_assign(ctx, m, c, r != NULL ? r->nlists : 0, r != NULL ? r->pd : 0,
							 q, 1, nprobe, lists);
	rv_clear_error(ctx);
	nlists = r->nlists;
	pd = r->pd;
	for (i = 0; i < pd; i++)
	{
		qn2 += (double) q[i] * q[i];
		q1 += fabs((double) q[i]);
	}
	qn = sqrt(qn2);
	if (!isfinite(qn2) || !isfinite(q1))
		return rv_ivf_assign(ctx, m, c, nlists, pd, q, 1, nprobe, lists);
	/* the float sums of the pass and of the exact distance, any order */
	gam = 2.0 * ((double) pd + 16.0) * 0x1p-24;

	dot = rv_alloc(ctx, nlists * sizeof(double));
	lb = rv_alloc(ctx, nlists * sizeof(double));
	ub = rv_alloc(ctx, nlists * sizeof(double));
	crow = rv_alloc(ctx, nlists * sizeof(int64_t));
	cdist = rv_alloc(ctx, nlists * sizeof(float));
	if (dot == NULL || lb == NULL || ub == NULL || crow == NULL || cdist == NULL)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory");
		goto done;
	}
	half_dots(q, r->half, nlists, pd, dot);
	for (l = 0; l < nlists; l++)
	{
		double		cn = r->norm[l],
					qc = qn * cn,
					err = qc * (0x1p-11 + gam * (1.0 + 0x1p-11)) +
					q1 * 0x1p-25 * (1.0 + gam) + 1e-300,
					d,
					e;

		switch (m)
		{
			case RV_METRIC_IP:
				d = -dot[l];
				lb[l] = d - err - 0x1p-22 * fabs(d);
				ub[l] = d + err + 0x1p-22 * fabs(d);
				break;
			case RV_METRIC_COSINE:
				if (qn2 < 1e-30 || cn < 1e-15)
				{
					/* a zero vector (or one whose norm may be): always exact */
					lb[l] = -INFINITY;
					ub[l] = INFINITY;
					break;
				}
				d = 1.0 - dot[l] / qc;
				e = err / qc + 4.0 * gam + 0x1p-22;
				lb[l] = d - e;
				ub[l] = d + e;
				break;
			default:
				{
					/* L2: |q|^2 + |c|^2 - 2 <q, c>, its error counted on the squares */
					double		s = qn + cn,
								d2 = qn2 + cn * cn - 2.0 * dot[l],
								e2 = 2.0 * err + 4.0 * gam * s * s + 1e-300;

					lb[l] = sqrt(d2 - e2 > 0.0 ? d2 - e2 : 0.0) * (1.0 - 0x1p-22);
					ub[l] = sqrt(d2 + e2 > 0.0 ? d2 + e2 : 0.0) * (1.0 + 0x1p-22);
					break;
				}
		}
		/* past the half copy's range (65504) a sum is infinite: not a bound */
		if (!isfinite(dot[l]) || isnan(lb[l]) || isnan(ub[l]))
			fallback = 1;
	}
	if (fallback)
		goto done;
	/* the cut: nprobe lists are at most this far; the others at least their lb */
	memcpy(dot, ub, nlists * sizeof(double));
	cut = kth_smallest(dot, nlists, nprobe);
	for (l = 0; l < nlists; l++)
		if (lb[l] <= cut)
		{
			cdist[nc] = (float) rv_metric_distance(m, q, c + l * pd, pd);
			crow[nc] = (int64_t) l;
			if (isnan(cdist[nc]))
				fallback = 1;
			nc++;
		}
	if (fallback || nc < nprobe)
		goto done;
	/* rv_topk's order: distance, then list number */
	rv_topk_sort(crow, cdist, nc);
	for (i = 0; i < nprobe; i++)
		lists[i] = (int32_t) crow[i];

done:
	rv_free(ctx, cdist);
	rv_free(ctx, crow);
	rv_free(ctx, ub);
	rv_free(ctx, lb);
	rv_free(ctx, dot);
	if (st == RV_OK && (fallback || nc < nprobe))
		return rv_ivf_assign(ctx, m, c, nlists, pd, q, 1, nprobe, lists);
	return st;
#else
	if (r == NULL)
		return rv_ivf_assign(ctx, m, c, 0, 0, q, 1, nprobe, lists);
	return rv_ivf_assign(ctx, m, c, r->nlists, r->pd, q, 1, nprobe, lists);
#endif
}
