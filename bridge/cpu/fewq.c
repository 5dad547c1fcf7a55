/*
 * cpu/fewq.c — the CPU twin of the few-query kernel (shaders/fewq.glsl): for each query the
 * kc rows with the smallest keys, in the core's total order (key, then row number), with
 * the keys computed in float32 by the shader's formulas (each sum in one fixed order, which
 * the shader's subgroup reductions do not follow, so keys agree within the float32 error
 * bound of bridge/resident.c, not bit for bit). The GPU parity tests (tests/gpu/test_fewq.c)
 * compare the kernel with it; rv_topk's CPU path (cpu/topk.c) stays the reference of the
 * exact distances.
 *
 * Key modes as in the shader: 0 the float32 distance (NaN as +inf), 1 the float32 distance
 * where the resident error bound covers it and -inf where it does not (not finite; for
 * cosine a row whose float32 squared norm is outside [2^-99, 2^99]).
 */
#include <math.h>
#include <stdint.h>

#include "internal.h"

/* The shader's key of row x for query q (qn2: |q|^2 in float32, for cosine). */
float
rvc_fewq_key(rv_metric m, int keymode, const float *q, float qn2, const float *x, size_t d)
{
	float		s = 0.0f,
				nx = 0.0f,
				g;
	size_t		i;

	for (i = 0; i < d; i++)
	{
		float		df = x[i] - q[i];

		switch (m)
		{
			case RV_METRIC_L2:
				s += df * df;
				break;
			case RV_METRIC_L1:
				s += fabsf(df);
				break;
			case RV_METRIC_COSINE:
				nx = fmaf(x[i], x[i], nx);
				s += x[i] * q[i];
				break;
			case RV_METRIC_IP:
				s += x[i] * q[i];
				break;
		}
	}
	switch (m)
	{
		case RV_METRIC_L2:
			g = sqrtf(s);
			break;
		case RV_METRIC_IP:
			g = -s;
			break;
		case RV_METRIC_COSINE:
			if (qn2 > 0.0f && nx > 0.0f)
			{
				float		c = s / (sqrtf(nx) * sqrtf(qn2));

				c = c < -1.0f ? -1.0f : (c > 1.0f ? 1.0f : c);
				g = 1.0f - c;
			}
			else
				g = 1.0f;
			break;
		default:
			g = s;
			break;
	}
	if (keymode == 0)
		return isnan(g) ? INFINITY : g;
	if (!isfinite(g))
		return -INFINITY;
	if (m == RV_METRIC_COSINE && !(nx >= 0x1p-99f && nx <= 0x1p99f))
		return -INFINITY;
	return g;
}

/* Keep (key, row) in a max-heap of at most cap entries (the kc best so far). */
static void
heap_offer(int64_t *rows, float *keys, size_t *len, size_t cap, float key, int64_t row)
{
	size_t		i;

	if (*len == cap && !rv_topk_before(key, row, keys[0], rows[0]))
		return;
	if (*len < cap)
	{
		i = (*len)++;
		while (i > 0)
		{
			size_t		p = (i - 1) / 2;

			if (!rv_topk_before(keys[p], rows[p], key, row))
				break;
			keys[i] = keys[p];
			rows[i] = rows[p];
			i = p;
		}
	}
	else
	{
		i = 0;
		for (;;)
		{
			size_t		c = 2 * i + 1;

			if (c >= cap)
				break;
			if (c + 1 < cap && rv_topk_before(keys[c], rows[c], keys[c + 1], rows[c + 1]))
				c++;
			if (!rv_topk_before(key, row, keys[c], rows[c]))
				break;
			keys[i] = keys[c];
			rows[i] = rows[c];
			i = c;
		}
	}
	keys[i] = key;
	rows[i] = row;
}

/*
 * For each of nq queries (q, nq x d) the kc rows of x (n x d) with the smallest keys,
 * sorted; rows and keys are nq x kc, with (-1, +inf) in the slots past n.
 */
rv_status
rvc_fewq(rv_ctx *ctx, rv_metric m, int keymode, const float *q, size_t nq, const float *x,
		 size_t n, size_t d, size_t kc, int64_t *rows, float *keys)
{
	size_t		j,
				i;

	if (kc < 1 || d < 1)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "k and dimensions must be at least 1");
	rv_topk_reset(rows, keys, nq, kc);
	for (j = 0; j < nq; j++)
	{
		const float *qj = q + j * d;
		int64_t    *rj = rows + j * kc;
		float	   *kj = keys + j * kc;
		float		qn2 = 0.0f;
		size_t		len = 0;

		for (i = 0; i < d; i++)
			qn2 = fmaf(qj[i], qj[i], qn2);
		for (i = 0; i < n; i++)
		{
			if ((i & 4095) == 0 && rv_interrupted(ctx))
				return rv_fail(ctx, RV_E_INTERRUPTED, "top-k search interrupted");
			heap_offer(rj, kj, &len, kc, rvc_fewq_key(m, keymode, qj, qn2, x + i * d, d),
					   (int64_t) i);
		}
		rv_topk_sort(rj, kj, len);
	}
	return RV_OK;
}
