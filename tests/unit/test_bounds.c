/*
 * test_bounds.c — rv_lower_bounds, the sgemm lower bounds that the batched rvflat scans
 * recheck against: every bound is at most the exact distance rv_metric_distance (the
 * operators' value), for ordinary data and for the values where float32 goes wrong
 * (cancellation, magnitudes near overflow, subnormals, zero vectors); bounds are tight
 * enough to rule rows out; the output stride is respected; bad arguments, L1, an
 * interrupt and a failed allocation give their statuses without leaks.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "relvec_bridge.h"
#include "tap.h"
#include "testhost.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

/* Uniform in [-1, 1). */
static float
frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float) ((double) (rng >> 11) / (double) (1ULL << 53) * 2.0 - 1.0);
}

/*
 * Bounds of nq queries to n rows under m; counts pairs whose bound exceeds the exact
 * distance, pairs with no bound (-inf), and the largest gap (exact - bound) relative to
 * scale among bounded pairs.
 */
static rv_status
check(rv_ctx *ctx, rv_metric m, const float *x, size_t n, size_t d, const float *q, size_t nq,
	  long *above, long *unbounded, double *gap, double scale)
{
	double	   *xn2 = malloc(n * sizeof(double));
	double	   *lb = malloc(nq * n * sizeof(double));
	rv_status	st;
	size_t		i,
				j;

	for (i = 0; i < n; i++)
		xn2[i] = rv_norm2(x + i * d, d);
	st = rv_lower_bounds(ctx, m, x, xn2, n, d, q, nq, lb, n);
	*above = 0;
	*unbounded = 0;
	*gap = 0.0;
	if (st == RV_OK)
		for (j = 0; j < nq; j++)
			for (i = 0; i < n; i++)
			{
				double		exact = rv_metric_distance(m, q + j * d, x + i * d, d);
				double		b = lb[j * n + i];

				if (b == -INFINITY)
				{
					(*unbounded)++;
					continue;
				}
				if (isnan(b) || b > exact)
				{
					if (*above < 3)
						printf("#   metric %d query %zu row %zu: bound %.17g > exact %.17g\n",
							   (int) m, j, i, b, exact);
					(*above)++;
				}
				else if ((exact - b) / scale > *gap)
					*gap = (exact - b) / scale;
			}
	free(lb);
	free(xn2);
	return st;
}

static const char *const metric_names[] = {"l2", "ip", "cosine"};
static const rv_metric metrics[] = {RV_METRIC_L2, RV_METRIC_IP, RV_METRIC_COSINE};

/* Random data: every bound below the exact distance, none missing, gaps small. */
static void
test_random(void)
{
	/* 77 dims x 1003 rows x 7 queries: a tail of every kernel's loops (AVX-512's 4 x 4 too) */
	static const size_t dims[] = {3, 64, 77, 768, 1000};
	static const size_t nqs[] = {1, 5, 7, 16};
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		di,
				qi;
	int			mi;
	char		name[160];

	for (di = 0; di < 5; di++)
		for (qi = 0; qi < 4; qi++)
		{
			size_t		d = dims[di],
						nq = nqs[qi],
						n = d >= 768 ? 700 : d == 77 ? 1003 : 1500,
						i;
			float	   *x = malloc(n * d * sizeof(float));
			float	   *q = malloc(nq * d * sizeof(float));

			for (i = 0; i < n * d; i++)
				x[i] = frand();
			for (i = 0; i < nq * d; i++)
				q[i] = frand();
			for (mi = 0; mi < 3; mi++)
			{
				long		above,
							unbounded;
				double		gap;
				/* distances scale with sqrt(d) (l2), d (ip), 1 (cosine) */
				double		scale = mi == 0 ? sqrt((double) d) : mi == 1 ? (double) d : 1.0;
				rv_status	st = check(ctx, metrics[mi], x, n, d, q, nq, &above, &unbounded,
									   &gap, scale);

				snprintf(name, sizeof(name),
						 "%s, d = %zu, %zu queries x %zu rows: every bound <= exact, none "
						 "missing, gap <= 1e-3 of the scale (%.2g)",
						 metric_names[mi], d, nq, n, gap);
				ok(st == RV_OK && above == 0 && unbounded == 0 && gap <= 1e-3, name);
			}
			free(q);
			free(x);
		}
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "random data: no allocation left");
}

/* Values where float32 arithmetic goes wrong: never a bound above the exact distance. */
static void
test_hard(void)
{
	static const char *const cases[] = {
		"near-duplicates (l2 cancellation)", "magnitudes near 1e18", "overflowing 1e30",
		"subnormal values", "zero and tiny vectors", "mixed 1e-20 .. 1e15"
	};
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		d = 96,
				n = 400,
				nq = 6,
				i;
	int			c,
				mi;
	float	   *x = malloc(n * d * sizeof(float));
	float	   *q = malloc(nq * d * sizeof(float));
	char		name[160];

	for (c = 0; c < 6; c++)
	{
		for (i = 0; i < nq * d; i++)
			q[i] = frand();
		for (i = 0; i < n * d; i++)
		{
			float		r = frand();

			switch (c)
			{
				case 0:
					x[i] = q[i % d] + r * 1e-6f;
					break;
				case 1:
					x[i] = r * 1e18f;
					q[i % (nq * d)] = (i < nq * d) ? frand() * 1e18f : q[i % (nq * d)];
					break;
				case 2:
					x[i] = r * 1e30f;
					break;
				case 3:
					x[i] = r * 1e-40f;
					if (i < nq * d)
						q[i] = frand() * 1e-41f;
					break;
				case 4:
					x[i] = (i / d) % 3 == 0 ? 0.0f : (i / d) % 3 == 1 ? r * 1e-25f : r;
					if (i < d)
						q[i] = 0.0f;
					break;
				default:
					x[i] = r * powf(10.0f, (float) ((i * 7) % 36) - 20.0f);
					break;
			}
		}
		for (mi = 0; mi < 3; mi++)
		{
			long		above,
						unbounded;
			double		gap;
			rv_status	st = check(ctx, metrics[mi], x, n, d, q, nq, &above, &unbounded, &gap,
								   1.0);

			snprintf(name, sizeof(name), "%s, %s: no bound above the exact distance",
					 metric_names[mi], cases[c]);
			ok(st == RV_OK && above == 0, name);
		}
	}
	free(q);
	free(x);
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "hard values: no allocation left");
}

/* The output stride, the errors, an interrupt, a failed allocation. */
static void
test_api(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		d = 8,
				n = 10,
				i;
	float		x[80],
				q[16];
	double		xn2[10],
				lb[2 * 13];
	rv_status	st;
	int			gaps_kept = 1;

	for (i = 0; i < 80; i++)
		x[i] = frand();
	for (i = 0; i < 16; i++)
		q[i] = frand();
	for (i = 0; i < n; i++)
		xn2[i] = rv_norm2(x + i * d, d);
	for (i = 0; i < 26; i++)
		lb[i] = 12345.0;
	st = rv_lower_bounds(ctx, RV_METRIC_L2, x, xn2, n, d, q, 2, lb, 13);
	for (i = 10; i < 13; i++)
		gaps_kept = gaps_kept && lb[i] == 12345.0 && lb[13 + i] == 12345.0;
	ok(st == RV_OK && gaps_kept && lb[13] <= rv_metric_distance(RV_METRIC_L2, q + 8, x, d),
	   "ldlb: query j's bounds start at j * ldlb; the slots between are left alone");
	is_int(rv_lower_bounds(ctx, RV_METRIC_L1, x, xn2, n, d, q, 1, lb, n), RV_E_UNSUPPORTED,
		   "L1 has no inner-product form: RV_E_UNSUPPORTED");
	is_int(rv_lower_bounds(ctx, RV_METRIC_L2, NULL, xn2, n, d, q, 1, lb, n), RV_E_INVALID_PARAM,
		   "a NULL array: RV_E_INVALID_PARAM");
	is_int(rv_lower_bounds(ctx, RV_METRIC_L2, x, xn2, n, d, q, 1, lb, n - 1), RV_E_INVALID_PARAM,
		   "ldlb < n: RV_E_INVALID_PARAM");
	is_int(rv_lower_bounds(ctx, RV_METRIC_L2, x, xn2, n, 0, q, 1, lb, n), RV_E_INVALID_PARAM,
		   "d = 0: RV_E_INVALID_PARAM");
	is_int(rv_lower_bounds(ctx, RV_METRIC_IP, x, xn2, 0, d, q, 1, lb, 0), RV_OK,
		   "no rows: RV_OK, nothing written");
	th.interrupt_after = 0;
	is_int(rv_lower_bounds(ctx, RV_METRIC_COSINE, x, xn2, n, d, q, 1, lb, n), RV_E_INTERRUPTED,
		   "the host's interrupt: RV_E_INTERRUPTED");
	th.interrupt_after = -1;
	th.fail_at = th.total + 2;
	is_int(rv_lower_bounds(ctx, RV_METRIC_COSINE, x, xn2, n, d, q, 1, lb, n), RV_E_NOMEM,
		   "a failed allocation: RV_E_NOMEM");
	th.fail_at = 0;
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "API cases: no allocation left");
}

int
main(void)
{
	test_random();
	test_hard();
	test_api();
	return done_testing();
}
