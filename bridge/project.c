/*
 * project.c — relative projection (Moschella et al., ICLR 2023; Cannistraci et al., ICLR
 * 2024). An item x of a model's latent space becomes its similarities to k anchor items of
 * the same space: r(x)_j = sim(x - c, a_j - c). Relative vectors of the same item from two
 * models over parallel anchors are directly comparable, because cosine similarities do not
 * change when a space is rotated, reflected or rescaled; centering (c = the anchors' mean
 * or a stored mean of the space) adds invariance to translation.
 *
 * With several similarity functions ("product of invariances") each k-long sub-vector is
 * standardized over its own k values, so that sub-vectors on different scales (cosines in
 * [-1, 1], negative distances in [-inf, 0]) weigh the same, then they are concatenated.
 * Standardizing within the item (not over a batch) keeps the projection of one item
 * independent of which other items are projected with it.
 *
 * The heavy part is one similarity-matrix kernel call per similarity and chunk of rows
 * (rv_simmatrix: sgemm on the CPU, a compute shader on a GPU).
 */
#include <math.h>
#include <string.h>

#include "internal.h"

/* Rows projected per kernel call: bounds the temporary n x k buffer. */
#define PROJECT_CHUNK_ROWS 8192

struct rv_projection
{
	size_t		k;
	size_t		d;
	int			nsims;
	rv_sim		sims[RV_MAX_SIMS];
	int			normalize;
	float	   *anchors;		/* k x d, as given */
	float	   *center;			/* d values, or NULL */
};

/* Parse "cosine+euclidean" into a list of distinct similarities. */
rv_status
rv_sim_list_parse(rv_ctx *ctx, const char *spec, rv_sim *sims, int *nsims)
{
	char		part[32];
	const char *p = spec;
	int			n = 0;
	int			i;

	*nsims = 0;
	for (;;)
	{
		const char *plus = strchr(p, '+');
		size_t		len = plus ? (size_t) (plus - p) : strlen(p);
		rv_sim		s;
		rv_status	st;

		if (len == 0 || len >= sizeof(part))
			return rv_fail(ctx, RV_E_INVALID_PARAM,
						   "invalid similarity \"%s\": expected names such as cosine or cosine+euclidean",
						   spec);
		memcpy(part, p, len);
		part[len] = '\0';
		if ((st = rv_sim_parse(ctx, part, &s)) != RV_OK)
			return st;
		for (i = 0; i < n; i++)
			if (sims[i] == s)
				return rv_fail(ctx, RV_E_INVALID_PARAM,
							   "similarity \"%s\" names \"%s\" twice", spec, part);
		if (n == RV_MAX_SIMS)
			return rv_fail(ctx, RV_E_INVALID_PARAM,
						   "similarity \"%s\" names more than %d functions", spec, RV_MAX_SIMS);
		sims[n++] = s;
		if (plus == NULL)
			break;
		p = plus + 1;
	}
	*nsims = n;
	return RV_OK;
}

/* Parse a centering option. */
rv_status
rv_center_parse(rv_ctx *ctx, const char *name, rv_center *out)
{
	if (strcmp(name, "none") == 0)
		*out = RV_CENTER_NONE;
	else if (strcmp(name, "anchors") == 0)
		*out = RV_CENTER_ANCHORS;
	else if (strcmp(name, "space") == 0)
		*out = RV_CENTER_SPACE;
	else
		return rv_fail(ctx, RV_E_INVALID_PARAM,
					   "unknown center \"%s\": expected none, anchors or space", name);
	return RV_OK;
}

/* Prepare a projection; the anchors (and the mean, if any) are copied. */
rv_status
rv_projection_create(rv_ctx *ctx, const float *anchors, size_t k, size_t d,
					 const rv_sim *sims, int nsims, rv_center center,
					 const float *space_mean, int normalize, rv_projection **out)
{
	rv_projection *p;
	size_t		i,
				j;

	*out = NULL;
	if (anchors == NULL || k < 1 || d < 1 || d > RV_MAX_DIMS || nsims < 1 || nsims > RV_MAX_SIMS)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "invalid projection: %zu anchors of %zu dimensions",
					   k, d);
	if (k * (size_t) nsims > RV_MAX_DIMS)
		return rv_fail(ctx, RV_E_LIMIT,
					   "a projection on %zu anchors with %d similarities would have %zu dimensions, more than %d",
					   k, nsims, k * (size_t) nsims, RV_MAX_DIMS);
	if (center == RV_CENTER_SPACE && space_mean == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "center \"space\" needs a stored space mean");

	p = rv_alloc(ctx, sizeof(rv_projection));
	if (p == NULL)
		return rv_fail(ctx, RV_E_NOMEM, "out of memory preparing a projection");
	memset(p, 0, sizeof(*p));
	p->k = k;
	p->d = d;
	p->nsims = nsims;
	memcpy(p->sims, sims, sizeof(rv_sim) * nsims);
	p->normalize = normalize;
	p->anchors = rv_alloc(ctx, k * d * sizeof(float));
	if (center != RV_CENTER_NONE)
		p->center = rv_alloc(ctx, d * sizeof(float));
	if (p->anchors == NULL || (center != RV_CENTER_NONE && p->center == NULL))
	{
		rv_projection_destroy(ctx, p);
		return rv_fail(ctx, RV_E_NOMEM, "out of memory preparing a projection");
	}
	memcpy(p->anchors, anchors, k * d * sizeof(float));
	if (center == RV_CENTER_SPACE)
		memcpy(p->center, space_mean, d * sizeof(float));
	else if (center == RV_CENTER_ANCHORS)
	{
		/* the mean in double, so that 16000 anchors do not lose precision */
		for (j = 0; j < d; j++)
		{
			double		s = 0.0;

			for (i = 0; i < k; i++)
				s += anchors[i * d + j];
			p->center[j] = (float) (s / (double) k);
		}
	}
	*out = p;
	return RV_OK;
}

void
rv_projection_destroy(rv_ctx *ctx, rv_projection *p)
{
	if (p == NULL)
		return;
	rv_free(ctx, p->anchors);
	rv_free(ctx, p->center);
	rv_free(ctx, p);
}

size_t
rv_projection_dims(const rv_projection *p)
{
	return p->k * (size_t) p->nsims;
}

size_t
rv_projection_input_dims(const rv_projection *p)
{
	return p->d;
}

/* Standardize v[0..k) in place over its own values; a constant vector becomes zeros. */
static void
standardize(float *v, size_t k)
{
	double		mean = 0.0,
				var = 0.0,
				sd;
	size_t		j;

	for (j = 0; j < k; j++)
		mean += v[j];
	mean /= (double) k;
	for (j = 0; j < k; j++)
		var += ((double) v[j] - mean) * ((double) v[j] - mean);
	sd = sqrt(var / (double) k);
	for (j = 0; j < k; j++)
		v[j] = sd > 0.0 ? (float) (((double) v[j] - mean) / sd) : 0.0f;
}

/* Project n rows; out is n x (k * nsims). */
rv_status
rv_project(rv_ctx *ctx, const rv_projection *p, const float *x, size_t n, float *out)
{
	size_t		width = rv_projection_dims(p);
	float	   *tmp = NULL;
	size_t		r0;
	rv_status	st = RV_OK;

	if (n == 0)
		return RV_OK;
	if (x == NULL || out == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "invalid projection input");
	if (p->nsims > 1)
	{
		tmp = rv_alloc(ctx, (n < PROJECT_CHUNK_ROWS ? n : PROJECT_CHUNK_ROWS) * p->k * sizeof(float));
		if (tmp == NULL)
			return rv_fail(ctx, RV_E_NOMEM, "out of memory projecting %zu rows", n);
	}

	for (r0 = 0; r0 < n && st == RV_OK; r0 += PROJECT_CHUNK_ROWS)
	{
		size_t		rows = n - r0 < PROJECT_CHUNK_ROWS ? n - r0 : PROJECT_CHUNK_ROWS;
		int			s;
		size_t		i;

		for (s = 0; s < p->nsims && st == RV_OK; s++)
		{
			rv_simmatrix_args a;

			a.x = x + r0 * p->d;
			a.n = rows;
			a.a = p->anchors;
			a.k = p->k;
			a.d = p->d;
			a.sim = p->sims[s];
			a.center = p->center;
			a.normalize = 0;
			/* one similarity writes its rows in place; several go through tmp */
			a.out = p->nsims == 1 ? out + r0 * width : tmp;
			st = rv_simmatrix(ctx, &a);
			if (st == RV_OK && p->nsims > 1)
				for (i = 0; i < rows; i++)
				{
					float	   *dst = out + (r0 + i) * width + (size_t) s * p->k;

					memcpy(dst, tmp + i * p->k, p->k * sizeof(float));
					standardize(dst, p->k);
				}
		}
		if (st == RV_OK && p->normalize)
			for (i = 0; i < rows; i++)
				rv_l2_normalize(out + (r0 + i) * width, width, out + (r0 + i) * width);
		if (st == RV_OK && rv_interrupted(ctx))
			st = rv_fail(ctx, RV_E_INTERRUPTED, "projection interrupted");
	}
	rv_free(ctx, tmp);
	return st;
}
