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
#include <stdlib.h>
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


/*
 * The norms rv_resident_topk bounds the rows it leaves out with: the largest (inner
 * product), and the smallest of those whose square lies within [2^-100, 2^100] (cosine:
 * the device keeps the others in every list).
 */
static void
note_norms(rv_resident *r)
{
	size_t		i;

	r->norm_max = 0.0;
	r->norm_min_cos = INFINITY;
	for (i = 0; i < r->n; i++)
	{
		double		v = r->norms[i];

		if (!(v <= r->norm_max))
			r->norm_max = v;	/* NaN or inf: the bound becomes +inf */
		if (v * v >= 0x1p-100 && v * v <= 0x1p100 && v < r->norm_min_cos)
			r->norm_min_cos = v;
	}
}

/* Upload x (n x d) and return the handle in *out. */
rv_status
rv_resident_create(rv_ctx *ctx, const float *x, size_t n, size_t d, rv_resident **out)
{
	rv_resident *r;
	rv_status	st;
	int			dev;

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
	/* the upload notes every row's norm as it copies the row */
	st = rvk_use_device(ctx, dev);
	if (st == RV_OK)
		st = rvk_resident_upload(ctx, r, x);
	if (st != RV_OK)
		goto fail;
	note_norms(r);
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

/* Common checks of a call on a resident corpus; opens its device. */
static rv_status
check_call(rv_ctx *ctx, rv_resident *r, rv_metric m, const float *q, size_t nq)
{
	rv_status	st;

	if (r == NULL || q == NULL)
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
	return rvk_use_device(ctx, r->dev);
}

/* Is a cosine bound finite for a vector of this norm (bridge/resident.c's range)? */
static int
cos_trusted(double norm)
{
	return norm * norm >= 0x1p-100 && norm * norm <= 0x1p100;
}

/* Candidates for an exact search, with their bounds (see relvec_bridge.h). */
rv_status
rv_resident_topk(rv_ctx *ctx, rv_resident *r, rv_metric m, const float *q, size_t nq,
				 size_t kc, int64_t *rows, float *dist, float *err, double *rest)
{
	rv_status	st;
	size_t		j,
				i;

	if (rows == NULL || dist == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "resident top-k arguments must not be NULL");
	if (kc < 1)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "k must be at least 1");
	if (kc > RV_RESIDENT_MAX_CANDIDATES)
		return rv_fail(ctx, RV_E_LIMIT, "k %zu exceeds the resident top-k limit %d", kc,
					   RV_RESIDENT_MAX_CANDIDATES);
	if ((st = check_call(ctx, r, m, q, nq)) != RV_OK)
		return st;
	st = rvk_resident_topk(ctx, r, m, q, nq, kc, rows, dist);
	if (st == RV_E_DEVICE_LOST)
	{
		rv_note_device_lost(ctx);
		return st;
	}
	if (st != RV_OK)
		return st;
	rv_note_backend(ctx, "vulkan:%d %s (relvec.device = %s)", r->dev, rvk_device_name(ctx),
					ctx->device_spec);

	for (j = 0; j < nq; j++)
	{
		double		qn = sqrt(rvc_norm2(q + j * r->d, r->d));
		const int64_t *rj = rows + j * kc;
		const float *dj = dist + j * kc;
		size_t		filled = 0;

		for (i = 0; i < kc; i++)
		{
			double		b = 0.0;

			if (rj[i] < 0)
				break;
			filled++;
			if (err == NULL)
				continue;
			if (isinf(dj[i]) && dj[i] < 0)
				b = INFINITY;
			else
				b = rv_resident_error_bound(m, r->d, r->norms[rj[i]], qn, dj[i]);
			err[j * kc + i] = (float) b;
			/* rounded up, so that it stays a bound */
			if ((double) err[j * kc + i] < b)
				err[j * kc + i] = nextafterf(err[j * kc + i], INFINITY);
		}
		for (i = filled; err != NULL && i < kc; i++)
			err[j * kc + i] = 0.0f;
		if (rest == NULL)
			continue;

		/*
		 * Every row left out has a key >= G, the last key of the list; such a key is a
		 * device distance the bound covers, so the row's exact distance is at least
		 * G - (its bound), and the bound at G with the worst norm bounds them all: it grows
		 * with the distance for l2 and l1 (slower than the distance: rel < 1), with the row's
		 * norm for ip, and shrinks with it for cosine, whose rows left out have norms of at
		 * least norm_min_cos (the device keeps the others in the list).
		 */
		if (filled < kc)
			rest[j] = INFINITY;
		else
		{
			double		g = dj[kc - 1];
			double		b;

			if (isinf(g) && g < 0)
				b = INFINITY;
			else if (m == RV_METRIC_L2 || m == RV_METRIC_L1)
				b = rv_resident_error_bound(m, r->d, 1.0, 1.0, g);
			else if (m == RV_METRIC_IP)
				b = rv_resident_error_bound(m, r->d, r->norm_max, qn, g);
			else if (!cos_trusted(qn) || isinf(r->norm_min_cos))
				b = INFINITY;
			else
				b = rv_resident_error_bound(m, r->d, r->norm_min_cos, qn, g);
			rest[j] = isinf(b) ? -INFINITY : g - b;
		}
	}
	return RV_OK;
}

/* An exact candidate: its distance and row. */
typedef struct knn_cand
{
	double		dist;
	int64_t		row;
} knn_cand;

static int
cand_cmp(const void *a, const void *b)
{
	const knn_cand *x = a;
	const knn_cand *y = b;

	if (x->dist != y->dist)
		return x->dist < y->dist ? -1 : 1;
	return x->row < y->row ? -1 : (x->row > y->row ? 1 : 0);
}

/* Write the k first of n sorted candidates to rows/dist ((-1, +inf) past n). */
static void
emit_knn(const knn_cand *c, size_t n, size_t k, int64_t *rows, double *dist)
{
	size_t		i;

	for (i = 0; i < k; i++)
	{
		rows[i] = i < n ? c[i].row : -1;
		dist[i] = i < n ? c[i].dist : INFINITY;
	}
}

/*
 * Recheck one query's candidate list exactly; nonzero (and the answer written) when the
 * list proves the k nearest rows: all rows are in it, or the k-th exact distance is below
 * the bound of the rows left out.
 */
static int
recheck_list(const rv_resident *r, const float *x, rv_metric m, const float *q, size_t k,
			 const int64_t *crow, size_t kc, double rest, knn_cand *scratch, int64_t *rows,
			 double *dist)
{
	size_t		n = 0,
				i;

	for (i = 0; i < kc && crow[i] >= 0; i++)
	{
		scratch[n].row = crow[i];
		scratch[n].dist = rv_metric_distance(m, q, x + (size_t) crow[i] * r->d, r->d);
		n++;
	}
	qsort(scratch, n, sizeof(knn_cand), cand_cmp);
	/* strictly below: a row left out at the same distance could win the tie by row */
	if (rest != INFINITY && (n < k || !(scratch[k - 1].dist < rest)))
		return 0;
	emit_knn(scratch, n, k, rows, dist);
	return 1;
}

/*
 * The last resort for one query: every device distance and its bound; the rows whose lower
 * bound is at most the k-th smallest upper bound are recomputed exactly (no other row can
 * be among the k nearest).
 */
static rv_status
knn_full(rv_ctx *ctx, rv_resident *r, const float *x, rv_metric m, const float *q, size_t k,
		 int64_t *rows, double *dist)
{
	float	   *g = rv_alloc(ctx, r->n * sizeof(float));
	float	   *e = rv_alloc(ctx, r->n * sizeof(float));
	double	   *hi = NULL;
	knn_cand   *c = NULL;
	size_t		kk = k < r->n ? k : r->n;
	size_t		i,
				nc = 0;
	double		cut;
	rv_status	st;

	if (g == NULL || e == NULL)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory");
		goto done;
	}
	if ((st = rv_resident_distances(ctx, r, m, q, 1, g, e)) != RV_OK)
		goto done;
	hi = rv_alloc(ctx, r->n * sizeof(double));
	if (hi == NULL)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < r->n; i++)
		hi[i] = isnan((double) g[i] + e[i]) ? INFINITY : (double) g[i] + e[i];
	/* the kk-th smallest upper bound: a max-heap of the kk smallest */
	{
		size_t		len = 0;

		for (i = 0; i < r->n; i++)
		{
			double		v = hi[i];
			size_t		p;

			if (len == kk && !(v < hi[0]))
				continue;
			if (len < kk)
			{
				p = len++;
				while (p > 0 && hi[(p - 1) / 2] < v)
				{
					hi[p] = hi[(p - 1) / 2];
					p = (p - 1) / 2;
				}
			}
			else
			{
				p = 0;
				for (;;)
				{
					size_t		ch = 2 * p + 1;

					if (ch >= kk)
						break;
					if (ch + 1 < kk && hi[ch + 1] > hi[ch])
						ch++;
					if (!(hi[ch] > v))
						break;
					hi[p] = hi[ch];
					p = ch;
				}
			}
			hi[p] = v;
		}
		/* hi[0..kk) now holds the kk smallest, the largest first; the rest is scratch */
		cut = hi[0];
	}
	for (i = 0; i < r->n; i++)
	{
		double		lo = (double) g[i] - e[i];

		if (isnan(lo) || lo <= cut)
			nc++;
	}
	c = rv_alloc(ctx, (nc > 0 ? nc : 1) * sizeof(knn_cand));
	if (c == NULL)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory");
		goto done;
	}
	nc = 0;
	for (i = 0; i < r->n; i++)
	{
		double		lo = (double) g[i] - e[i];

		if (isnan(lo) || lo <= cut)
		{
			c[nc].row = (int64_t) i;
			c[nc].dist = rv_metric_distance(m, q, x + i * r->d, r->d);
			nc++;
		}
	}
	qsort(c, nc, sizeof(knn_cand), cand_cmp);
	emit_knn(c, nc, k, rows, dist);
done:
	rv_free(ctx, c);
	rv_free(ctx, hi);
	rv_free(ctx, e);
	rv_free(ctx, g);
	return st;
}

/* Exact k nearest rows (see relvec_bridge.h). */
rv_status
rv_resident_knn(rv_ctx *ctx, rv_resident *r, const float *x, rv_metric m, const float *q,
				size_t nq, size_t k, int64_t *rows, double *dist)
{
	size_t		kc[2];
	size_t		pass,
				j,
				nleft = nq;
	size_t		maxkc;
	int64_t    *crow = NULL;
	float	   *cdist = NULL;
	double	   *rest = NULL;
	float	   *qleft = NULL;
	size_t	   *left = NULL;
	knn_cand   *scratch = NULL;
	rv_status	st = RV_OK;

	if (x == NULL || rows == NULL || dist == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "resident kNN arguments must not be NULL");
	if (k < 1)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "k must be at least 1");
	if (k > RV_MAX_K)
		return rv_fail(ctx, RV_E_LIMIT, "k %zu exceeds the maximum of %d", k, RV_MAX_K);
	if ((st = check_call(ctx, r, m, q, nq)) != RV_OK)
		return st;

	/* k and a margin for near ties, then a list eight times as long */
	kc[0] = 2 * k > k + 16 ? 2 * k : k + 16;
	kc[1] = 8 * kc[0];
	for (pass = 0; pass < 2; pass++)
		if (kc[pass] > RV_RESIDENT_MAX_CANDIDATES)
			kc[pass] = RV_RESIDENT_MAX_CANDIDATES;
	maxkc = kc[1];
	left = rv_alloc(ctx, nq * sizeof(size_t));
	qleft = rv_alloc(ctx, nq * r->d * sizeof(float));
	rest = rv_alloc(ctx, nq * sizeof(double));
	crow = rv_alloc(ctx, nq * maxkc * sizeof(int64_t));
	cdist = rv_alloc(ctx, nq * maxkc * sizeof(float));
	scratch = rv_alloc(ctx, maxkc * sizeof(knn_cand));
	if (left == NULL || qleft == NULL || rest == NULL || crow == NULL || cdist == NULL ||
		scratch == NULL)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory");
		goto done;
	}
	for (j = 0; j < nq; j++)
		left[j] = j;

	for (pass = 0; pass < 2 && nleft > 0 && k <= RV_RESIDENT_MAX_CANDIDATES; pass++)
	{
		size_t		i,
					still = 0;

		if (pass == 1 && kc[1] == kc[0])
			break;
		for (i = 0; i < nleft; i++)
			memcpy(qleft + i * r->d, q + left[i] * r->d, r->d * sizeof(float));
		st = rv_resident_topk(ctx, r, m, qleft, nleft, kc[pass], crow, cdist, NULL, rest);
		if (st == RV_E_LIMIT || st == RV_E_UNSUPPORTED)
		{
			/* lists too long for this device (or no kernel for them): the last resort below */
			rv_clear_error(ctx);
			st = RV_OK;
			break;
		}
		if (st != RV_OK)
			goto done;
		for (i = 0; i < nleft; i++)
		{
			j = left[i];
			if (!recheck_list(r, x, m, q + j * r->d, k, crow + i * kc[pass], kc[pass], rest[i],
							  scratch, rows + j * k, dist + j * k))
				left[still++] = j;
		}
		nleft = still;
		if (pass == 0)
			ctx->knn_retries += (long) nleft;
		if (rv_interrupted(ctx))
		{
			st = rv_fail(ctx, RV_E_INTERRUPTED, "canceling statement due to user request");
			goto done;
		}
	}
	ctx->knn_full += (long) nleft;
	for (j = 0; j < nleft && st == RV_OK; j++)
		st = knn_full(ctx, r, x, m, q + left[j] * r->d, k, rows + left[j] * k,
					  dist + left[j] * k);
	if (st == RV_OK)
		rv_note_backend(ctx, "vulkan:%d %s (relvec.device = %s)", r->dev, rvk_device_name(ctx),
						ctx->device_spec);

done:
	rv_free(ctx, scratch);
	rv_free(ctx, cdist);
	rv_free(ctx, crow);
	rv_free(ctx, rest);
	rv_free(ctx, qleft);
	rv_free(ctx, left);
	return st;
}
