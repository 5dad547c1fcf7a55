/*
 * cones.c — the cones of a host copy under cosine distance: its rows grouped by direction
 * (spherical k-means), each group with its centroid and the largest angle between the
 * centroid and a row of the group; and for a query, a lower bound of the cosine distance
 * to every row of each group (rv_cones_build, rv_cones_bounds). A scan that visits the
 * groups in the order of their bounds and stops at the first bound past its k-th exact
 * distance reads a few groups instead of every row, and its answer stays exact.
 *
 * The bound. The angle between directions is a distance on the sphere, so for a query q,
 * a row x of group c with centroid w and largest angle T_c,
 *     angle(q, x) >= angle(q, w) - angle(w, x) >= angle(q, w) - T_c,
 * and the cosine distance 1 - cos angle(q, x) >= 1 - cos max(0, angle(q, w) - T_c).
 * angle(q, w) comes from a float32 dot product, within (d + 2) u |q| |w| of the exact one
 * (u = 2^-24, any order of the adds); the bound takes the smallest angle that allows. T_c
 * is computed in double and widened by 1e-6 radians, far past the error of acos near 1 for
 * a double cosine. The exact distance's own rounding comes off at the end (the g of
 * rv_lower_bounds), so every bound is at most what rv_metric_distance gives.
 *
 * A zero or tiny row has no direction (its cosine distance to anything is 1 by
 * definition): it joins no group (cone -1), and a caller computes it exactly. A zero or
 * tiny query bounds nothing (every bound -inf).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "internal.h"

#define CONES_U (1.0 / 16777216.0)
#define CONES_WIDEN 1e-6		/* radians added to every group's largest angle */
#define CONES_ROWS 4096			/* rows normalized and assigned at a time */

/* d rounded up to the k-means' multiple of 64 */
static size_t
pad64(size_t d)
{
	return (d + 63) / 64 * 64;
}

/* Row x (d floats) to its direction in pd floats (zeros after d); false for a tiny row. */
static int
direction(const float *x, size_t d, size_t pd, float *out)
{
	double		n2 = rvc_norm2(x, d);
	double		inv;
	size_t		i;

	memset(out, 0, pd * sizeof(float));
	if (!(n2 >= RV_NORM2_TINY) || !(n2 <= DBL_MAX))
		return 0;
	inv = 1.0 / sqrt(n2);
	for (i = 0; i < d; i++)
		out[i] = (float) ((double) x[i] * inv);
	return 1;
}

rv_status
rv_cones_build(rv_ctx *ctx, const float *x, size_t n, size_t d, size_t ncones, uint64_t seed,
			   int iters, size_t sample, int32_t *cone, float *cent, double *cnorm,
			   double *theta, size_t *used)
{
	size_t		pd = pad64(d);
	float	   *smp = NULL,
			   *cp = NULL,
			   *chunk = NULL;
	int32_t    *lists = NULL;
	rv_status	st = RV_OK;
	size_t		ns = 0,
				stride,
				i,
				c,
				k;

	if (ctx == NULL)
		return RV_E_INVALID_PARAM;
	rv_clear_error(ctx);
	if (x == NULL || cone == NULL || cent == NULL || cnorm == NULL || theta == NULL ||
		used == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "cones: a NULL array");
	if (d == 0 || d > RV_MAX_DIMS || n == 0 || ncones == 0 || ncones > n || sample == 0 ||
		iters < 0 || n > (size_t) INT32_MAX)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "cones: invalid sizes");
	*used = 0;
	if (sample > n)
		sample = n;
	stride = n / sample;
	smp = rv_alloc(ctx, sample * pd * sizeof(float));
	chunk = rv_alloc(ctx, CONES_ROWS * pd * sizeof(float));
	lists = rv_alloc(ctx, CONES_ROWS * sizeof(int32_t));
	if (smp == NULL || chunk == NULL || lists == NULL)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory for cones");
		goto done;
	}
	/* an even sample of the rows that have a direction */
	for (i = 0; i < n && ns < sample; i += stride)
		if (direction(x + i * d, d, pd, smp + ns * pd))
			ns++;
	k = ncones < ns ? ncones : ns;
	for (i = 0; i < n; i++)
		cone[i] = -1;
	if (k == 0)
		goto done;				/* no row has a direction: every row is computed exactly */
	cp = rv_alloc(ctx, k * pd * sizeof(float));
	if (cp == NULL)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory for cones");
		goto done;
	}
	st = rv_ivf_train(ctx, RV_METRIC_COSINE, smp, ns, pd, k, seed, iters, cp);
	if (st != RV_OK)
		goto done;
	for (c = 0; c < k; c++)
	{
		double		s = 0.0;
		size_t		j;

		memcpy(cent + c * d, cp + c * pd, d * sizeof(float));
		for (j = 0; j < d; j++)
			s += (double) cent[c * d + j] * (double) cent[c * d + j];
		cnorm[c] = sqrt(s);
		theta[c] = 0.0;
	}
	/* every row with a direction to its nearest centroid, and the largest angles */
	for (i = 0; i < n; i += CONES_ROWS)
	{
		size_t		m = n - i < CONES_ROWS ? n - i : CONES_ROWS,
					r;

		if (rv_interrupted(ctx))
		{
			st = rv_fail(ctx, RV_E_INTERRUPTED, "cones interrupted");
			goto done;
		}
		for (r = 0; r < m; r++)
			direction(x + (i + r) * d, d, pd, chunk + r * pd);
		st = rv_ivf_assign(ctx, RV_METRIC_COSINE, cp, k, pd, chunk, m, 1, lists);
		if (st != RV_OK)
			goto done;
		for (r = 0; r < m; r++)
		{
			const float *xr = x + (i + r) * d;
			double		n2 = rvc_norm2(xr, d),
						dot = 0.0,
						cs,
						ang;
			int32_t		l = lists[r];
			size_t		j;

			if (!(n2 >= RV_NORM2_TINY) || !(n2 <= DBL_MAX) || l < 0 || (size_t) l >= k ||
				!(cnorm[l] > 0.0))
				continue;
			for (j = 0; j < d; j++)
				dot += (double) xr[j] * (double) cent[(size_t) l * d + j];
			cs = dot / (sqrt(n2) * cnorm[l]);
			ang = acos(cs > 1.0 ? 1.0 : (cs < -1.0 ? -1.0 : cs));
			cone[i + r] = l;
			if (ang > theta[l])
				theta[l] = ang;
		}
	}
	for (c = 0; c < k; c++)
		theta[c] += CONES_WIDEN;
	*used = k;

done:
	rv_free(ctx, cp);
	rv_free(ctx, lists);
	rv_free(ctx, chunk);
	rv_free(ctx, smp);
	return st;
}

/* q . w in float32, sixteen lanes (any order keeps the bound of the head of the file). */
RVC_CLONES
static void
cone_dots(const float *restrict q, const float *restrict cent, size_t k, size_t d,
		  double *restrict out)
{
	size_t		c;

	for (c = 0; c < k; c++)
	{
		const float *w = cent + c * d;
		float		acc[16] = {0};
		float		s = 0.0f;
		size_t		i = 0;
		int			l;

		for (; i + 16 <= d; i += 16)
			for (l = 0; l < 16; l++)
				acc[l] += q[i + l] * w[i + l];
		for (; i < d; i++)
			s += q[i] * w[i];
		for (l = 0; l < 16; l++)
			s += acc[l];
		out[c] = (double) s;
	}
}

rv_status
rv_cones_bounds(rv_ctx *ctx, const float *cent, const double *cnorm, const double *theta,
				size_t k, size_t d, const float *q, double *lb)
{
	double		g = (2.0 * (double) d + 128.0) * CONES_U;
	double		qn2,
				qn;
	size_t		c;

	if (ctx == NULL)
		return RV_E_INVALID_PARAM;
	rv_clear_error(ctx);
	if (cent == NULL || cnorm == NULL || theta == NULL || q == NULL || lb == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "cone bounds: a NULL array");
	if (d == 0 || d > RV_MAX_DIMS)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "cone bounds: invalid sizes");
	if (k == 0)
		return RV_OK;
	qn2 = rvc_norm2(q, d);
	if (!(qn2 >= RV_NORM2_TINY) || !(qn2 <= DBL_MAX))
	{
		for (c = 0; c < k; c++)
			lb[c] = -INFINITY;
		return RV_OK;
	}
	qn = sqrt(qn2);
	cone_dots(q, cent, k, d, lb);
	for (c = 0; c < k; c++)
	{
		double		den = qn * cnorm[c];
		double		hi,
					ang;

		if (!(den > 0.0) || !(fabs(lb[c]) <= DBL_MAX) || !(theta[c] >= 0.0))
		{
			lb[c] = -INFINITY;
			continue;
		}
		/* the largest cosine the float sum allows, so the smallest angle */
		hi = (lb[c] + ((double) d + 2.0) * CONES_U * 1.01 * den) / den + 1e-12;
		ang = hi >= 1.0 ? 0.0 : acos(hi < -1.0 ? -1.0 : hi) - 1e-9;
		ang -= theta[c];
		lb[c] = ang <= 0.0 ? -g : 1.0 - cos(ang) - 1e-12 - g;
	}
	return RV_OK;
}
