/*
 * test_codes8.c — rv_codes8_encode and rv_codes8_bounds, the int8 lower bounds of the
 * batched rvflat scans: every bound is at most the exact distance rv_metric_distance, for
 * ordinary data and for values where quantization or float32 go wrong (one huge value among
 * small ones, magnitudes near overflow, subnormals, zero and tiny vectors); the plain C and
 * VNNI paths give the same bits; a row range that starts inside the rows gives the bounds
 * of a call over all of them; the bounds are tight enough to rule rows out; bad arguments,
 * L1, an interrupt and a failed allocation give their statuses without leaks.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tap.h"
#include "testhost.h"

static uint64_t rng = 0x2545f4914f6cdd1dULL;

/* Uniform in [-1, 1), and standard normal (testhost.c). */
static float
frand(void)
{
	return test_uniform(&rng);
}

static float
grand(void)
{
	return test_normal(&rng);
}

/* A coded copy of n rows: the codes, the per-row values and the squared norms. */
typedef struct coded
{
	int8_t	   *codes;
	rv_code8_row *rows;
	double	   *xn2;
} coded;

static rv_status
code(rv_ctx *ctx, const float *x, size_t n, size_t d, coded *c)
{
	size_t		i;

	c->codes = malloc(rv_codes8_bytes(n, d));
	c->rows = malloc((n ? n : 1) * sizeof(rv_code8_row));
	c->xn2 = malloc((n ? n : 1) * sizeof(double));
	for (i = 0; i < n; i++)
		c->xn2[i] = rv_norm2(x + i * d, d);
	return rv_codes8_encode(ctx, x, n, d, c->codes, c->rows);
}

static void
uncode(coded *c)
{
	free(c->codes);
	free(c->rows);
	free(c->xn2);
}

/*
 * Bounds of nq queries to all n rows under m on the given path (0 the CPU's) into lb
 * (nq x n); counts pairs above the exact distance and unbounded ones, the largest gap
 * relative to scale, and (rule_k > 0) the rows a bound rules out of each query's top
 * rule_k, on average.
 */
static rv_status
check(rv_ctx *ctx, int path, rv_metric m, const float *x, size_t n, size_t d, const float *q,
	  size_t nq, double *lb, long *above, long *unbounded, double *gap, double scale)
{
	coded		c;
	rv_status	st = code(ctx, x, n, d, &c);
	size_t		i,
				j;

	*above = 0;
	*unbounded = 0;
	*gap = 0.0;
	if (st == RV_OK)
	{
		rv_codes8_path = path;
		st = rv_codes8_bounds(ctx, m, c.codes, c.rows, c.xn2, n, d, 0, n, q, nq, lb, n);
		rv_codes8_path = 0;
	}
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
	uncode(&c);
	return st;
}

static const char *const metric_names[] = {"l2", "ip", "cosine"};
static const rv_metric metrics[] = {RV_METRIC_L2, RV_METRIC_IP, RV_METRIC_COSINE};

/* The paths this CPU has: 1 plain C, and 2 VNNI where it has it. */
static int
paths(int *p)
{
	p[0] = 1;
	if (rv_codes8_fast())
	{
		p[1] = 2;
		return 2;
	}
	return 1;
}

/*
 * Random data: every bound below the exact distance, none missing, the gap a small part
 * of the scale, and every path the same bits.
 */
static void
test_random(void)
{
	/* tails of every loop: dims not a multiple of 4, rows not of 16, 1 .. 19 queries */
	static const size_t dims[] = {1, 3, 64, 77, 768};
	static const size_t nqs[] = {1, 3, 7, 16, 19};
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	int			p[2],
				np = paths(p);
	size_t		di,
				qi;
	int			mi,
				pi;
	char		name[200];

	printf("# paths: plain C%s\n", np == 2 ? " and AVX-512 VNNI" : " (no VNNI on this CPU)");
	for (di = 0; di < 5; di++)
		for (qi = 0; qi < 5; qi++)
		{
			size_t		d = dims[di],
						nq = nqs[qi],
						n = d >= 768 ? 403 : 1003,
						i;
			float	   *x = malloc(n * d * sizeof(float));
			float	   *q = malloc(nq * d * sizeof(float));
			double	   *lb[2];

			lb[0] = malloc(nq * n * sizeof(double));
			lb[1] = malloc(nq * n * sizeof(double));
			for (i = 0; i < n * d; i++)
				x[i] = frand();
			for (i = 0; i < nq * d; i++)
				q[i] = frand();
			for (mi = 0; mi < 3; mi++)
			{
				int			good = 1;
				double		worst = 0.0;
				/* distances scale with sqrt(d) (l2), d (ip), 1 (cosine) */
				double		scale = mi == 0 ? sqrt((double) d) : mi == 1 ? (double) d : 1.0;

				for (pi = 0; pi < np; pi++)
				{
					long		above,
								unbounded;
					double		gap;
					rv_status	st = check(ctx, p[pi], metrics[mi], x, n, d, q, nq, lb[pi],
										   &above, &unbounded, &gap, scale);

					good = good && st == RV_OK && above == 0 && unbounded == 0;
					worst = gap > worst ? gap : worst;
				}
				snprintf(name, sizeof(name),
						 "%s, d = %zu, %zu queries x %zu rows: every bound <= exact, none "
						 "missing, gap <= 0.1 of the scale (%.3g)", metric_names[mi], d, nq, n,
						 worst);
				ok(good && worst <= 0.1, name);
				if (np == 2)
				{
					snprintf(name, sizeof(name), "%s, d = %zu, %zu queries: VNNI = plain C, "
							 "bit for bit", metric_names[mi], d, nq);
					ok(memcmp(lb[0], lb[1], nq * n * sizeof(double)) == 0, name);
				}
			}
			free(lb[0]);
			free(lb[1]);
			free(q);
			free(x);
		}
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "random data: no allocation left");
}

/*
 * Embedding-like data (normalized Gaussian clusters, 768 dimensions): the bounds rule out
 * nearly every row of a top-10, so a batched scan recomputes few.
 */
static void
test_tight(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		d = 768,
				n = 4000,
				nq = 16,
				nc = 40,
				i,
				j;
	float	   *cent = malloc(nc * d * sizeof(float));
	float	   *x = malloc(n * d * sizeof(float));
	float	   *q = malloc(nq * d * sizeof(float));
	double	   *lb = malloc(nq * n * sizeof(double));
	double	   *ex = malloc(n * sizeof(double));
	coded		c;
	long		kept = 0;
	int			mi;

	for (i = 0; i < nc * d; i++)
		cent[i] = grand();
	for (i = 0; i < n * d; i++)
		x[i] = cent[(i / d) % nc * d + i % d] + 0.5f * grand();
	for (i = 0; i < nq * d; i++)
		q[i] = cent[(i / d) * 7 % nc * d + i % d] + 0.5f * grand();
	ok(code(ctx, x, n, d, &c) == RV_OK, "4,000 clustered rows of 768 dimensions coded");
	for (mi = 0; mi < 3; mi++)
	{
		kept = 0;
		if (rv_codes8_bounds(ctx, metrics[mi], c.codes, c.rows, c.xn2, n, d, 0, n, q, nq, lb,
							 n) != RV_OK)
			kept = -1;
		for (j = 0; j < nq && kept >= 0; j++)
		{
			double		kth;
			size_t		a,
						b;

			for (i = 0; i < n; i++)
				ex[i] = rv_metric_distance(metrics[mi], q + j * d, x + i * d, d);
			/* the 10th smallest exact distance, by selection */
			for (a = 0; a < 10; a++)
				for (b = a + 1; b < n; b++)
					if (ex[b] < ex[a])
					{
						double		t = ex[a];

						ex[a] = ex[b];
						ex[b] = t;
					}
			kth = ex[9];
			for (i = 0; i < n; i++)
				kept += lb[j * n + i] <= kth;
		}
		{
			char		name[160];

			snprintf(name, sizeof(name), "%s: a top-10 keeps %.1f rows of 4,000 to recompute "
					 "(at most 200)", metric_names[mi], (double) kept / (double) nq);
			ok(kept >= 10 * (long) nq && kept <= 200 * (long) nq, name);
		}
	}
	uncode(&c);
	free(ex);
	free(lb);
	free(q);
	free(x);
	free(cent);
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "clustered data: no allocation left");
}

/* Values where quantization or float32 goes wrong: never a bound above the exact distance. */
static void
test_hard(void)
{
	static const char *const cases[] = {
		"near-duplicates (l2 cancellation)", "magnitudes near 1e18", "overflowing 1e30",
		"subnormal values", "zero and tiny vectors", "mixed 1e-20 .. 1e15",
		"one huge value among small ones", "values near FLT_MAX"
	};
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		d = 97,
				n = 400,
				nq = 6,
				i;
	int			c,
				mi,
				pi,
				p[2],
				np = paths(p);
	float	   *x = malloc(n * d * sizeof(float));
	float	   *q = malloc(nq * d * sizeof(float));
	double	   *lb = malloc(nq * n * sizeof(double));
	char		name[160];

	for (c = 0; c < 8; c++)
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
					if (i < nq * d)
						q[i] = frand() * 1e18f;
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
				case 5:
					x[i] = r * powf(10.0f, (float) ((i * 7) % 36) - 20.0f);
					break;
				case 6:
					x[i] = i % d == (i / d) % d ? r * 1e6f : r * 1e-3f;
					if (i < nq * d)
						q[i] = i % d == 5 ? 1e6f : frand() * 1e-3f;
					break;
				default:
					x[i] = r * 3.0e38f;
					if (i < nq * d)
						q[i] = frand() * 3.0e38f;
					break;
			}
		}
		for (mi = 0; mi < 3; mi++)
		{
			int			good = 1;

			for (pi = 0; pi < np; pi++)
			{
				long		above,
							unbounded;
				double		gap;
				rv_status	st = check(ctx, p[pi], metrics[mi], x, n, d, q, nq, lb, &above,
									   &unbounded, &gap, 1.0);

				good = good && st == RV_OK && above == 0;
			}
			snprintf(name, sizeof(name), "%s, %s: no bound above the exact distance",
					 metric_names[mi], cases[c]);
			ok(good, name);
		}
	}
	free(lb);
	free(q);
	free(x);
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "hard values: no allocation left");
}

/* A range of rows from a multiple of 16, into a strided output: the whole call's bounds. */
static void
test_range(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		d = 50,
				n = 75,
				nq = 3,
				ld = 40,
				i,
				j;
	float	   *x = malloc(n * d * sizeof(float));
	float		q[150];
	double		all[3 * 75],
				part[3 * 40];
	coded		c;
	int			same = 1,
				gaps_kept = 1;

	for (i = 0; i < n * d; i++)
		x[i] = frand();
	for (i = 0; i < nq * d; i++)
		q[i] = frand();
	code(ctx, x, n, d, &c);
	for (i = 0; i < nq * ld; i++)
		part[i] = 12345.0;
	ok(rv_codes8_bounds(ctx, RV_METRIC_COSINE, c.codes, c.rows, c.xn2, n, d, 0, n, q, nq, all,
						n) == RV_OK &&
	   rv_codes8_bounds(ctx, RV_METRIC_COSINE, c.codes, c.rows, c.xn2, n, d, 48, 27, q, nq,
						part, ld) == RV_OK, "rows 48 .. 74 with ldlb 40");
	for (j = 0; j < nq; j++)
	{
		for (i = 0; i < 27; i++)
			same = same && part[j * ld + i] == all[j * n + 48 + i];
		for (i = 27; i < ld; i++)
			gaps_kept = gaps_kept && part[j * ld + i] == 12345.0;
	}
	ok(same, "a range's bounds equal the whole call's, bit for bit");
	ok(gaps_kept, "the slots past a range's rows are left alone");

	is_int(rv_codes8_bounds(ctx, RV_METRIC_L1, c.codes, c.rows, c.xn2, n, d, 0, n, q, 1, all, n),
		   RV_E_UNSUPPORTED, "L1 has no inner-product form: RV_E_UNSUPPORTED");
	is_int(rv_codes8_bounds(ctx, RV_METRIC_L2, NULL, c.rows, c.xn2, n, d, 0, n, q, 1, all, n),
		   RV_E_INVALID_PARAM, "a NULL array: RV_E_INVALID_PARAM");
	is_int(rv_codes8_bounds(ctx, RV_METRIC_L2, c.codes, c.rows, c.xn2, n, d, 8, 4, q, 1, all, n),
		   RV_E_INVALID_PARAM, "a range not starting at a multiple of 16: RV_E_INVALID_PARAM");
	is_int(rv_codes8_bounds(ctx, RV_METRIC_L2, c.codes, c.rows, c.xn2, n, d, 64, 12, q, 1, all,
							n), RV_E_INVALID_PARAM, "a range past the rows: RV_E_INVALID_PARAM");
	is_int(rv_codes8_bounds(ctx, RV_METRIC_L2, c.codes, c.rows, c.xn2, n, d, 0, n, q, 1, all,
							n - 1), RV_E_INVALID_PARAM, "ldlb < nr: RV_E_INVALID_PARAM");
	is_int(rv_codes8_bounds(ctx, RV_METRIC_L2, c.codes, c.rows, c.xn2, n, 0, 0, n, q, 1, all, n),
		   RV_E_INVALID_PARAM, "d = 0: RV_E_INVALID_PARAM");
	is_int(rv_codes8_bounds(ctx, RV_METRIC_IP, c.codes, c.rows, c.xn2, n, d, 0, 0, q, 1, all, n),
		   RV_OK, "no rows: RV_OK");
	is_int(rv_codes8_encode(ctx, x, n, 0, c.codes, c.rows), RV_E_INVALID_PARAM,
		   "coding d = 0: RV_E_INVALID_PARAM");
	is_int(rv_codes8_encode(ctx, x, n, RV_MAX_DIMS + 1, c.codes, c.rows), RV_E_INVALID_PARAM,
		   "coding more than RV_MAX_DIMS dimensions: RV_E_INVALID_PARAM");
	is_int(rv_codes8_encode(ctx, NULL, n, d, c.codes, c.rows), RV_E_INVALID_PARAM,
		   "coding a NULL array: RV_E_INVALID_PARAM");
	ok(rv_codes8_bytes(75, 50) == 5 * 13 * 64 && rv_codes8_bytes(1, 0) == 0,
	   "rv_codes8_bytes: 5 blocks of 13 groups of 64 bytes; 0 for no dimensions");
	th.interrupt_after = 0;
	is_int(rv_codes8_bounds(ctx, RV_METRIC_COSINE, c.codes, c.rows, c.xn2, n, d, 0, n, q, 1,
							all, n), RV_E_INTERRUPTED, "the host's interrupt: RV_E_INTERRUPTED");
	is_int(rv_codes8_encode(ctx, x, n, d, c.codes, c.rows), RV_E_INTERRUPTED,
		   "coding: the host's interrupt: RV_E_INTERRUPTED");
	th.interrupt_after = -1;
	th.fail_at = th.total + 2;
	is_int(rv_codes8_bounds(ctx, RV_METRIC_COSINE, c.codes, c.rows, c.xn2, n, d, 0, n, q, 1,
							all, n), RV_E_NOMEM, "a failed allocation: RV_E_NOMEM");
	th.fail_at = th.total + 1;
	is_int(rv_codes8_encode(ctx, x, n, d, c.codes, c.rows), RV_E_NOMEM,
		   "coding: a failed allocation: RV_E_NOMEM");
	th.fail_at = 0;
	uncode(&c);
	free(x);
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "API cases: no allocation left");
}

int
main(void)
{
	test_random();
	test_tight();
	test_hard();
	test_range();
	return done_testing();
}
