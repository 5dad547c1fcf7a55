/*
 * resident.c — resident corpora: the public face of a corpus kept in Vulkan device memory
 * between calls (the device side is vk/resident.c). A handle records its rows' L2 norms on
 * the host, which the error bounds of rv_resident_distances need, and sits in its
 * context's list so that closing the device (device lost, another device chosen,
 * rv_ctx_destroy) releases its device memory before the device goes.
 *
 * Error bounds. The device computes each distance in float32 over d terms (simmatrix.comp:
 * one thread sums its pair's terms in order, with fma or a rounded multiply-add), and
 * rv_metric_distance computes it in float lanes summed in double (metric.c). With
 * u = 2^-24 and gamma_k = k u / (1 - k u), recursive summation of d terms that each carry
 * a relative error of at most 3u is off by at most gamma_(d+3) times the sum of the terms'
 * magnitudes, on either side:
 *   l2      the terms (x - q)^2 are positive: relative gamma_(d+3) on the sum, halved by
 *           the square root, plus the square root's own few ulps (Vulkan allows 3);
 *   l1      likewise without the root;
 *   ip      the magnitudes sum to sum |x_j q_j| <= |x| |q| (Cauchy-Schwarz): absolute
 *           gamma_d |x| |q|;
 *   cosine  the dot product is off by gamma_d |x| |q| and each squared norm by gamma_d
 *           relative, so the similarity is off by at most 2 gamma_d plus a few ulps of
 *           the square roots and the division (Vulkan allows 2.5 ulp), absolute.
 * The device may flush subnormal results to zero, which adds at most 2^-126 per term.
 * The two sides' errors add; rv_resident_error_bound takes twice their sum (4 (d + 16) u
 * relative where the analysis gives under 2 (d + 8) u), and adds d 2^-120 (square-rooted
 * for l2) for flushed subnormals. A value the analysis does not cover gets +inf: a
 * non-finite device distance (an overflow in float32 that the CPU redoes in double), and
 * a cosine where a squared norm lies outside [2^-100, 2^100], where it could underflow or
 * overflow in float32.
 */
#include <math.h>
#include <string.h>

#include "internal.h"

/* auto mode keeps corpora smaller than this many floats on the CPU */
#define RV_AUTO_MIN_RESIDENT_WORK (1.0 * (1 << 20))

/* Where a resident corpus of n x d would live. */
rv_status
rv_resident_device(rv_ctx *ctx, size_t n, size_t d, int *dev)
{
	return rv_choose_device(ctx, (double) n * (double) d, RV_AUTO_MIN_RESIDENT_WORK, dev);
}

/* Test hook: always upload through a staging copy. */
void
rv_set_resident_staging(rv_ctx *ctx, int force)
{
	ctx->resident_staging = force;
}


/* Upload x (n x d) and return the handle in *out. */
rv_status
rv_resident_create(rv_ctx *ctx, const float *x, size_t n, size_t d, rv_resident **out)
{
	rv_resident *r;
	rv_status	st;
	int			dev;
	size_t		i;

	if (out == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "resident corpus output must not be NULL");
	*out = NULL;
	if (d < 1)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "embedding dimensions must be at least 1");
	if (d > RV_MAX_DIMS)
		return rv_fail(ctx, RV_E_TOO_MANY_DIMS,
					   "embeddings cannot have more than %d dimensions", RV_MAX_DIMS);
	if (n < 1)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "a resident corpus needs at least one row");
	if (x == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "corpus vectors must not be NULL");
	if (n > SIZE_MAX / sizeof(float) / d)
		return rv_fail(ctx, RV_E_LIMIT, "resident corpus of %zu rows is too large", n);

	if ((st = rv_resident_device(ctx, n, d, &dev)) != RV_OK)
		return st;
	if (dev < 0)
	{
		st = rv_fail(ctx, RV_E_UNSUPPORTED, "no Vulkan device is selected for a resident corpus");
		rv_set_detail(ctx, "%s", rv_last_backend(ctx));
		return st;
	}

	r = rv_alloc(ctx, sizeof(*r));
	if (r == NULL)
		return rv_fail(ctx, RV_E_NOMEM, "out of memory");
	memset(r, 0, sizeof(*r));
	r->n = n;
	r->d = d;
	r->dev = dev;
	r->norms = rv_alloc(ctx, n * sizeof(float));
	if (r->norms == NULL)
	{
		rv_free(ctx, r);
		return rv_fail(ctx, RV_E_NOMEM, "out of memory");
	}
	for (i = 0; i < n; i++)
	{
		if ((i & 4095) == 0 && rv_interrupted(ctx))
		{
			st = rv_fail(ctx, RV_E_INTERRUPTED, "canceling statement due to user request");
			goto fail;
		}
		r->norms[i] = (float) sqrt(rvc_norm2(x + i * d, d));
	}

	st = rvk_use_device(ctx, dev);
	if (st == RV_OK)
		st = rvk_resident_upload(ctx, r, x);
	if (st != RV_OK)
		goto fail;
	r->next = ctx->residents;
	ctx->residents = r;
	rv_note_backend(ctx, "vulkan:%d %s (relvec.device = %s)", dev, rvk_device_name(ctx),
					ctx->device_spec);
	*out = r;
	return RV_OK;

fail:
	/* not in the list yet: release it here, before a lost device goes */
	rvk_resident_release(ctx, r);
	if (st == RV_E_DEVICE_LOST)
		rv_note_device_lost(ctx);
	rv_free(ctx, r->norms);
	rv_free(ctx, r);
	return st;
}

/* Release r's device memory (if any) and free the handle; r is out of the list. */
static void
free_one(rv_ctx *ctx, rv_resident *r)
{
	rvk_resident_release(ctx, r);
	rv_free(ctx, r->norms);
	rv_free(ctx, r);
}

/* Free a resident corpus. */
void
rv_resident_destroy(rv_ctx *ctx, rv_resident *r)
{
	rv_resident **p;

	if (r == NULL)
		return;
	for (p = &ctx->residents; *p != NULL; p = &(*p)->next)
	{
		if (*p == r)
		{
			*p = r->next;
			break;
		}
	}
	free_one(ctx, r);
}

/* Free every resident corpus of the context. */
void
rv_resident_free_all(rv_ctx *ctx)
{
	while (ctx->residents != NULL)
	{
		rv_resident *r = ctx->residents;

		ctx->residents = r->next;
		free_one(ctx, r);
	}
}

size_t
rv_resident_rows(const rv_resident *r)
{
	return r->n;
}

size_t
rv_resident_dims(const rv_resident *r)
{
	return r->d;
}

size_t
rv_resident_bytes(const rv_resident *r)
{
	return r->bytes;
}

int
rv_resident_device_index(const rv_resident *r)
{
	return r->dev;
}

int
rv_resident_alive(const rv_resident *r)
{
	return r != NULL && r->mem != NULL;
}

/* How far a float32 device distance may lie from rv_metric_distance (see the top). */
double
rv_resident_error_bound(rv_metric m, size_t d, double xnorm, double qnorm, double dist)
{
	const double u = 0x1p-24;
	double		rel = 4.0 * ((double) d + 16.0) * u;
	double		tiny = (double) d * 0x1p-120;

	if (!isfinite(dist) || !isfinite(xnorm) || !isfinite(qnorm) || rel >= 0.25)
		return INFINITY;
	switch (m)
	{
		case RV_METRIC_L2:
			return rel * fabs(dist) + sqrt(tiny);
		case RV_METRIC_L1:
			return rel * fabs(dist) + tiny;
		case RV_METRIC_IP:
			return rel * xnorm * qnorm + tiny;
		case RV_METRIC_COSINE:
			{
				double		x2 = xnorm * xnorm,
							q2 = qnorm * qnorm;

				if (x2 < 0x1p-100 || q2 < 0x1p-100 || x2 > 0x1p100 || q2 > 0x1p100)
					return INFINITY;
				return 2.0 * rel + 64.0 * u + tiny / (xnorm * qnorm);
			}
	}
	return INFINITY;
}

/* Distances from nq queries to every resident row, with their error bounds. */
rv_status
rv_resident_distances(rv_ctx *ctx, rv_resident *r, rv_metric m, const float *q, size_t nq,
					  float *out, float *err)
{
	rv_status	st;
	size_t		i,
				j;

	if (r == NULL || q == NULL || out == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "resident distance arguments must not be NULL");
	if ((int) m < RV_METRIC_L2 || (int) m > RV_METRIC_L1)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "unknown distance metric %d", (int) m);
	if (nq < 1)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "number of queries must be at least 1");
	if (r->mem == NULL)
	{
		st = rv_fail(ctx, RV_E_DEVICE_LOST, "resident corpus was released from its Vulkan device");
		rv_set_detail(ctx, "vulkan:%d was closed since the corpus was uploaded", r->dev);
		return st;
	}
	/* alive means its device is the open one: this only checks */
	if ((st = rvk_use_device(ctx, r->dev)) != RV_OK)
		return st;
	st = rvk_resident_distances(ctx, r, m, q, nq, out);
	if (st == RV_E_DEVICE_LOST)
	{
		rv_note_device_lost(ctx);
		return st;
	}
	if (st != RV_OK)
		return st;
	rv_note_backend(ctx, "vulkan:%d %s (relvec.device = %s)", r->dev, rvk_device_name(ctx),
					ctx->device_spec);
	if (err == NULL)
		return RV_OK;
	for (j = 0; j < nq; j++)
	{
		double		qn = sqrt(rvc_norm2(q + j * r->d, r->d));

		for (i = 0; i < r->n; i++)
		{
			double		b = rv_resident_error_bound(m, r->d, r->norms[i], qn,
													 out[j * r->n + i]);
			float		f = (float) b;

			/* rounded up, so that it stays a bound */
			if ((double) f < b)
				f = nextafterf(f, INFINITY);
			err[j * r->n + i] = f;
		}
	}
	return RV_OK;
}
