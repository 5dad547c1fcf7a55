/*
 * anchors.c — choosing anchor items: uniform random, farthest-point sampling (FPS) and
 * k-means. The same seed must give the same anchors on every machine, so this file uses
 * its own PRNG (splitmix64) and does its distance arithmetic in double in a fixed order;
 * the Makefile compiles it with -ffp-contract=off so no machine fuses multiply-adds
 * differently. (The fast kernels elsewhere round differently per CPU and per GPU.)
 *
 * FPS works on L2-normalized vectors: start at a seeded random item, then repeatedly take
 * the item farthest from every anchor chosen so far (ties: the smaller index).
 * k-means: k-means++ seeding, Lloyd iterations until assignments settle (at most
 * KMEANS_MAX_ITER), then for each centroid the nearest real item not already taken.
 * Costs: random O(n), FPS O(n k d), k-means O(iterations n k d).
 */
#include <math.h>
#include <string.h>

#include "internal.h"

#define KMEANS_MAX_ITER 25

/* splitmix64: a tiny, well-mixed, fully specified PRNG. */
static uint64_t
next_u64(uint64_t *s)
{
	uint64_t	z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform integer in [0, n) without modulo bias. */
static size_t
below(uint64_t *s, size_t n)
{
	uint64_t	limit = UINT64_MAX - UINT64_MAX % (uint64_t) n;
	uint64_t	r;

	do
		r = next_u64(s);
	while (r >= limit);
	return (size_t) (r % (uint64_t) n);
}

/* Uniform double in [0, 1) from the top 53 bits. */
static double
unit(uint64_t *s)
{
	return (double) (next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* Squared distance between a float row and a double row, in a fixed order. */
static double
dist2(const float *a, const double *b, size_t d)
{
	double		s = 0.0;
	size_t		j;

	for (j = 0; j < d; j++)
	{
		double		t = (double) a[j] - b[j];

		s += t * t;
	}
	return s;
}

static void
row_to_double(const float *a, size_t d, double *out)
{
	size_t		j;

	for (j = 0; j < d; j++)
		out[j] = a[j];
}

rv_status
rv_anchor_method_parse(rv_ctx *ctx, const char *name, rv_anchor_method *out)
{
	if (strcmp(name, "random") == 0)
		*out = RV_ANCHORS_RANDOM;
	else if (strcmp(name, "fps") == 0)
		*out = RV_ANCHORS_FPS;
	else if (strcmp(name, "kmeans") == 0)
		*out = RV_ANCHORS_KMEANS;
	else
		return rv_fail(ctx, RV_E_INVALID_PARAM,
					   "unknown anchor method \"%s\": expected random, fps or kmeans", name);
	return RV_OK;
}

/* Partial Fisher-Yates: the first k of a seeded shuffle of 0..n-1. */
static rv_status
choose_random(rv_ctx *ctx, size_t n, size_t k, uint64_t *rng, size_t *out)
{
	size_t	   *idx = rv_alloc(ctx, n * sizeof(size_t));
	size_t		i;

	if (idx == NULL)
		return rv_fail(ctx, RV_E_NOMEM, "out of memory choosing anchors");
	for (i = 0; i < n; i++)
		idx[i] = i;
	for (i = 0; i < k; i++)
	{
		size_t		j = i + below(rng, n - i);
		size_t		t = idx[i];

		idx[i] = idx[j];
		idx[j] = t;
		out[i] = idx[i];
	}
	rv_free(ctx, idx);
	return RV_OK;
}

/* Farthest-point sampling on normalized vectors. */
static rv_status
choose_fps(rv_ctx *ctx, const float *x, size_t n, size_t d, size_t k, uint64_t *rng, size_t *out)
{
	float	   *xn = rv_alloc(ctx, n * d * sizeof(float));
	double	   *mind = rv_alloc(ctx, n * sizeof(double));
	double	   *cur = rv_alloc(ctx, d * sizeof(double));
	unsigned char *taken = rv_alloc(ctx, n);
	rv_status	st = RV_OK;
	size_t		i,
				t,
				pick;

	if (xn == NULL || mind == NULL || cur == NULL || taken == NULL)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory choosing anchors");
		goto done;
	}
	for (i = 0; i < n; i++)
	{
		double		s = 0.0;
		size_t		j;

		for (j = 0; j < d; j++)
			s += (double) x[i * d + j] * x[i * d + j];
		s = sqrt(s);
		for (j = 0; j < d; j++)
			xn[i * d + j] = s > 0.0 ? (float) (x[i * d + j] / s) : 0.0f;
	}
	memset(taken, 0, n);
	pick = below(rng, n);
	for (t = 0; t < k; t++)
	{
		out[t] = pick;
		taken[pick] = 1;
		row_to_double(xn + pick * d, d, cur);
		for (i = 0; i < n; i++)
		{
			double		dd = dist2(xn + i * d, cur, d);

			if (t == 0 || dd < mind[i])
				mind[i] = dd;
		}
		if (rv_interrupted(ctx))
		{
			st = rv_fail(ctx, RV_E_INTERRUPTED, "anchor choice interrupted");
			goto done;
		}
		/* the farthest item not yet taken; ties (and duplicates at distance 0) by index */
		pick = n;
		for (i = 0; i < n; i++)
			if (!taken[i] && (pick == n || mind[i] > mind[pick]))
				pick = i;
	}
done:
	rv_free(ctx, xn);
	rv_free(ctx, mind);
	rv_free(ctx, cur);
	rv_free(ctx, taken);
	return st;
}

/* k-means with k-means++ seeding; the nearest untaken real item per centroid. */
static rv_status
choose_kmeans(rv_ctx *ctx, const float *x, size_t n, size_t d, size_t k, uint64_t *rng,
			  size_t *out)
{
	double	   *cent = rv_alloc(ctx, k * d * sizeof(double));
	double	   *sums = rv_alloc(ctx, k * d * sizeof(double));
	size_t	   *count = rv_alloc(ctx, k * sizeof(size_t));
	size_t	   *assign = rv_alloc(ctx, n * sizeof(size_t));
	double	   *mind = rv_alloc(ctx, n * sizeof(double));
	unsigned char *taken = rv_alloc(ctx, n);
	rv_status	st = RV_OK;
	size_t		i,
				c,
				j,
				iter;

	if (cent == NULL || sums == NULL || count == NULL || assign == NULL || mind == NULL ||
		taken == NULL)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory choosing anchors");
		goto done;
	}

	/* k-means++: each next centre drawn with probability proportional to D(x)^2 */
	row_to_double(x + below(rng, n) * d, d, cent);
	for (i = 0; i < n; i++)
		mind[i] = dist2(x + i * d, cent, d);
	for (c = 1; c < k; c++)
	{
		double		total = 0.0,
					target,
					acc = 0.0;
		size_t		pick = n - 1;

		for (i = 0; i < n; i++)
			total += mind[i];
		target = unit(rng) * total;
		if (total > 0.0)
			for (i = 0; i < n; i++)
			{
				acc += mind[i];
				if (acc > target)
				{
					pick = i;
					break;
				}
			}
		else
			pick = below(rng, n);
		row_to_double(x + pick * d, d, cent + c * d);
		for (i = 0; i < n; i++)
		{
			double		dd = dist2(x + i * d, cent + c * d, d);

			if (dd < mind[i])
				mind[i] = dd;
		}
		if (rv_interrupted(ctx))
		{
			st = rv_fail(ctx, RV_E_INTERRUPTED, "anchor choice interrupted");
			goto done;
		}
	}

	/* Lloyd iterations */
	for (i = 0; i < n; i++)
		assign[i] = k;			/* none yet */
	for (iter = 0; iter < KMEANS_MAX_ITER; iter++)
	{
		size_t		changed = 0;

		for (i = 0; i < n; i++)
		{
			size_t		best = 0;
			double		bd = dist2(x + i * d, cent, d);

			for (c = 1; c < k; c++)
			{
				double		dd = dist2(x + i * d, cent + c * d, d);

				if (dd < bd)
				{
					bd = dd;
					best = c;
				}
			}
			changed += (assign[i] != best);
			assign[i] = best;
		}
		if (rv_interrupted(ctx))
		{
			st = rv_fail(ctx, RV_E_INTERRUPTED, "anchor choice interrupted");
			goto done;
		}
		if (changed == 0)
			break;
		memset(sums, 0, k * d * sizeof(double));
		memset(count, 0, k * sizeof(size_t));
		for (i = 0; i < n; i++)
		{
			count[assign[i]]++;
			for (j = 0; j < d; j++)
				sums[assign[i] * d + j] += x[i * d + j];
		}
		for (c = 0; c < k; c++)
			if (count[c] > 0)	/* an empty cluster keeps its centre */
				for (j = 0; j < d; j++)
					cent[c * d + j] = sums[c * d + j] / (double) count[c];
	}

	/* the real item nearest each centroid, distinct */
	memset(taken, 0, n);
	for (c = 0; c < k; c++)
	{
		size_t		best = n;
		double		bd = 0.0;

		for (i = 0; i < n; i++)
		{
			double		dd;

			if (taken[i])
				continue;
			dd = dist2(x + i * d, cent + c * d, d);
			if (best == n || dd < bd)
			{
				bd = dd;
				best = i;
			}
		}
		taken[best] = 1;
		out[c] = best;
	}
done:
	rv_free(ctx, cent);
	rv_free(ctx, sums);
	rv_free(ctx, count);
	rv_free(ctx, assign);
	rv_free(ctx, mind);
	rv_free(ctx, taken);
	return st;
}

/* Choose k distinct items of n. */
rv_status
rv_choose_anchors(rv_ctx *ctx, const float *x, size_t n, size_t d, size_t k,
				  rv_anchor_method method, uint64_t seed, size_t *out)
{
	uint64_t	rng = seed;

	if (k < 1)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "the number of anchors must be at least 1");
	if (k > n)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "cannot choose %zu anchors from %zu items", k, n);
	if (method != RV_ANCHORS_RANDOM && (x == NULL || d < 1))
		return rv_fail(ctx, RV_E_INVALID_PARAM, "anchor method needs the items' embeddings");
	switch (method)
	{
		case RV_ANCHORS_RANDOM:
			return choose_random(ctx, n, k, &rng, out);
		case RV_ANCHORS_FPS:
			return choose_fps(ctx, x, n, d, k, &rng, out);
		case RV_ANCHORS_KMEANS:
			return choose_kmeans(ctx, x, n, d, k, &rng, out);
	}
	return rv_fail(ctx, RV_E_INTERNAL, "unknown anchor method %d", (int) method);
}
