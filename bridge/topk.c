/*
 * topk.c — the host-neutral parts of exact top-k search that every backend shares: the
 * empty best list, the one total order (distance ascending, then row number ascending;
 * see rv_topk_before in internal.h), sorting a candidate list by it, and merging sorted
 * candidates into a sorted best list. A search over a corpus that does not fit in memory
 * calls rv_topk once per chunk; each call selects the chunk's best rows and merges them
 * with rv_topk_merge, so the result of many chunks equals the result of one call over the
 * whole corpus, entry for entry. Backends (cpu/topk.c, vk/) only produce candidates.
 * Also the entry points of the CPU's lower bounds (rv_lower_bounds) and norm (rv_norm2).
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>

#include "internal.h"

/* Fill best_rows with -1 and best_dist with +inf (nq x k). */
void
rv_topk_reset(int64_t *best_rows, float *best_dist, size_t nq, size_t k)
{
	size_t		i;
	size_t		total = nq * k;

	for (i = 0; i < total; i++)
	{
		best_rows[i] = -1;
		best_dist[i] = INFINITY;
	}
}

/* Restore the max-heap property below slot i of a heap of n entries. */
static void
sift_down(int64_t *rows, float *dist, size_t i, size_t n)
{
	float		d = dist[i];
	int64_t		r = rows[i];

	for (;;)
	{
		size_t		c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && rv_topk_before(dist[c], rows[c], dist[c + 1], rows[c + 1]))
			c++;
		if (!rv_topk_before(d, r, dist[c], rows[c]))
			break;
		dist[i] = dist[c];
		rows[i] = rows[c];
		i = c;
	}
	dist[i] = d;
	rows[i] = r;
}

/* Sort n candidates in place by the total order (heap sort: no allocation, O(n log n)). */
void
rv_topk_sort(int64_t *rows, float *dist, size_t n)
{
	size_t		i;

	if (n < 2)
		return;
	for (i = n / 2; i-- > 0;)
		sift_down(rows, dist, i, n);
	for (i = n - 1; i > 0; i--)
	{
		float		td = dist[0];
		int64_t		tr = rows[0];

		dist[0] = dist[i];
		rows[0] = rows[i];
		dist[i] = td;
		rows[i] = tr;
		sift_down(rows, dist, 0, i);
	}
}

/*
 * Merge sorted candidates into a sorted best list of k slots, keeping the k first entries
 * of the union. A forward walk finds how many entries each list contributes; a backward
 * merge then writes them in place (the write position never passes an unread best entry).
 * Equal entries (the same row merged twice) keep the best list's copy first.
 */
size_t
rv_topk_merge(int64_t *best_rows, float *best_dist, size_t k,
			  const int64_t *cand_rows, const float *cand_dist, size_t ncand)
{
	size_t		nbest = 0;
	size_t		nc = 0;
	size_t		total;
	size_t		i = 0;
	size_t		j = 0;
	size_t		t;
	size_t		p;

	while (nbest < k && best_rows[nbest] >= 0)
		nbest++;
	while (nc < ncand && cand_rows[nc] >= 0)
		nc++;
	total = nbest + nc < k ? nbest + nc : k;

	for (t = 0; t < total; t++)
	{
		if (j < nc && (i >= nbest ||
					   rv_topk_before(cand_dist[j], cand_rows[j], best_dist[i], best_rows[i])))
			j++;
		else
			i++;
	}

	p = total;
	while (j > 0)
	{
		p--;
		if (i > 0 && rv_topk_before(cand_dist[j - 1], cand_rows[j - 1],
									best_dist[i - 1], best_rows[i - 1]))
		{
			i--;
			best_dist[p] = best_dist[i];
			best_rows[p] = best_rows[i];
		}
		else
		{
			j--;
			best_dist[p] = cand_dist[j];
			best_rows[p] = cand_rows[j];
		}
	}
	return total;
}

/* |a|^2 of d floats (cpu/topk.c's vectorized loop). */
double
rv_norm2(const float *a, size_t d)
{
	return rvc_norm2(a, d);
}

/* Validate, then the CPU's lower bounds (cpu/topk.c). */
rv_status
rv_lower_bounds(rv_ctx *ctx, rv_metric m, const float *x, const double *xn2, size_t n,
				size_t d, const float *q, size_t nq, double *lb, size_t ldlb)
{
	if (ctx == NULL)
		return RV_E_INVALID_PARAM;
	rv_clear_error(ctx);
	if (x == NULL || xn2 == NULL || q == NULL || lb == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "lower bounds: a NULL array");
	if (d == 0 || d > INT_MAX || n > INT_MAX || nq > INT_MAX || ldlb < n)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "lower bounds: invalid sizes");
	if (m != RV_METRIC_L2 && m != RV_METRIC_IP && m != RV_METRIC_COSINE)
		return rv_fail(ctx, RV_E_UNSUPPORTED, "lower bounds: no inner-product form for this metric");
	if (n == 0 || nq == 0)
		return RV_OK;
	return rvc_lower_bounds(ctx, m, x, xn2, n, d, q, nq, lb, ldlb);
}

int
rv_topk_overflowed(double kth, double last_kept, size_t m, size_t kint, size_t k)
{
	float		fk = (float) kth;
	float		fl = (float) last_kept;

	return m == kint && m > k && isinf(fk) && fk == fl;
}
