/*
 * test_cones.c — rv_cones_build and rv_cones_bounds, the groups of a cosine copy that a
 * scan may skip: every group's bound is at most the exact cosine distance to each of its
 * rows (clustered, random, near-duplicate and opposite data, any dimension count), zero
 * rows join no group, a zero query bounds nothing, clustered data lets a top-10 skip most
 * groups, and bad arguments, an interrupt and a failed allocation give their statuses
 * without leaks.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relvec_bridge.h"
#include "tap.h"
#include "testhost.h"

static uint64_t rng = 0x51afd7ed558ccd35ULL;

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

/*
 * Build ncones cones of x and bound nq queries: pairs whose bound is above the exact
 * distance (*above), rows of a group (*grouped), and (kth > 0) the groups a top-10 of each
 * query can skip, on average.
 */
static rv_status
check(rv_ctx *ctx, const float *x, size_t n, size_t d, size_t ncones, const float *q,
	  size_t nq, long *above, long *grouped, double *skipped)
{
	int32_t    *cone = malloc(n * sizeof(int32_t));
	float	   *cent = malloc(ncones * d * sizeof(float));
	double	   *cnorm = malloc(ncones * sizeof(double));
	double	   *theta = malloc(ncones * sizeof(double));
	double	   *lb = malloc(ncones * sizeof(double));
	double	   *ex = malloc(n * sizeof(double));
	size_t		used = 0,
				i,
				j,
				c;
	rv_status	st = rv_cones_build(ctx, x, n, d, ncones, 7, 8, n, cone, cent, cnorm, theta,
									&used);

	*above = 0;
	*grouped = 0;
	*skipped = 0.0;
	for (i = 0; st == RV_OK && i < n; i++)
		*grouped += cone[i] >= 0 && (size_t) cone[i] < used;
	for (j = 0; st == RV_OK && j < nq; j++)
	{
		double		kth;
		size_t		a,
					b;

		st = rv_cones_bounds(ctx, cent, cnorm, theta, used, d, q + j * d, lb);
		for (i = 0; st == RV_OK && i < n; i++)
		{
			ex[i] = rv_metric_distance(RV_METRIC_COSINE, q + j * d, x + i * d, d);
			if (cone[i] >= 0 && (isnan(lb[cone[i]]) || lb[cone[i]] > ex[i]))
			{
				if (*above < 3)
					printf("#   query %zu row %zu: bound %.17g > exact %.17g\n", j, i,
						   lb[cone[i]], ex[i]);
				(*above)++;
			}
		}
		for (a = 0; a < 10 && a < n; a++)
			for (b = a + 1; b < n; b++)
				if (ex[b] < ex[a])
				{
					double		t = ex[a];

					ex[a] = ex[b];
					ex[b] = t;
				}
		kth = ex[n < 10 ? n - 1 : 9];
		for (c = 0; c < used; c++)
			*skipped += lb[c] > kth;
	}
	if (used > 0 && nq > 0)
		*skipped /= (double) (nq * used);
	free(ex);
	free(lb);
	free(theta);
	free(cnorm);
	free(cent);
	free(cone);
	return st;
}

/* Clustered embeddings: valid bounds, and most groups skipped by a top-10. */
static void
test_clustered(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		d = 256,
				n = 6000,
				nq = 12,
				nc = 60,
				i;
	float	   *cen = malloc(nc * d * sizeof(float));
	float	   *x = malloc(n * d * sizeof(float));
	float	   *q = malloc(nq * d * sizeof(float));
	long		above,
				grouped;
	double		skipped;
	rv_status	st;
	char		name[160];

	for (i = 0; i < nc * d; i++)
		cen[i] = grand();
	for (i = 0; i < n * d; i++)
		x[i] = cen[(i / d) % nc * d + i % d] + 0.3f * grand();
	for (i = 0; i < nq * d; i++)
		q[i] = cen[(i / d) * 5 % nc * d + i % d] + 0.3f * grand();
	st = check(ctx, x, n, d, 60, q, nq, &above, &grouped, &skipped);
	ok(st == RV_OK && above == 0 && grouped == (long) n,
	   "clustered, 6,000 x 256, 60 groups: every row grouped, every bound <= exact");
	snprintf(name, sizeof(name), "... a top-10 skips %.1f%% of the groups (at least 80%%)",
			 100.0 * skipped);
	ok(skipped >= 0.8, name);
	free(q);
	free(x);
	free(cen);
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "clustered: no allocation left");
}

/* Random, tiny dimensions, near-duplicates, opposite queries, zero rows and queries. */
static void
test_hard(void)
{
	static const size_t dims[] = {1, 3, 77, 768};
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		di,
				i;
	long		above,
				grouped;
	double		skipped;
	char		name[160];

	for (di = 0; di < 4; di++)
	{
		size_t		d = dims[di],
					n = 500,
					nq = 6;
		float	   *x = malloc(n * d * sizeof(float));
		float	   *q = malloc(nq * d * sizeof(float));
		int			cs;

		for (cs = 0; cs < 3; cs++)
		{
			for (i = 0; i < n * d; i++)
				x[i] = cs == 1 ? 1.0f + 1e-6f * frand() : frand();
			for (i = 0; i < nq * d; i++)
				q[i] = cs == 1 ? (i / d % 2 ? -1.0f : 1.0f) : (cs == 2 ? 1e-30f * frand() : frand());
			if (cs == 2)
			{
				/* every fifth row zero, every seventh tiny; a query zero */
				for (i = 0; i < n; i += 5)
					memset(x + i * d, 0, d * sizeof(float));
				for (i = 3; i < n; i += 7)
					for (size_t t = 0; t < d; t++)
						x[i * d + t] = 1e-35f;
				memset(q, 0, d * sizeof(float));
			}
			snprintf(name, sizeof(name), "d = %zu, %s: every bound <= exact", d,
					 cs == 0 ? "random" : cs == 1 ? "near-duplicates, parallel and opposite queries" :
					 "zero and tiny rows, tiny and zero queries");
			ok(check(ctx, x, n, d, 16, q, nq, &above, &grouped, &skipped) == RV_OK && above == 0,
			   name);
			if (cs == 2)
			{
				long		none = 0;

				for (i = 0; i < n; i++)
					none += i % 5 == 0 || i % 7 == 3;
				is_int(grouped, (long) n - none, "... zero and tiny rows join no group, the others do");
			}
		}
		free(q);
		free(x);
	}
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "hard cases: no allocation left");
}

/* Arguments, the interrupt, a failed allocation; a zero query bounds nothing. */
static void
test_api(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		d = 8,
				n = 64,
				used = 99,
				i;
	float		x[512],
				q[8] = {0},
				cent[8 * 8];
	int32_t		cone[64];
	double		cnorm[8],
				theta[8],
				lb[8];
	int			all_inf = 1;

	for (i = 0; i < n * d; i++)
		x[i] = frand();
	is_int(rv_cones_build(ctx, x, n, d, 8, 1, 4, 64, NULL, cent, cnorm, theta, &used),
		   RV_E_INVALID_PARAM, "a NULL array: RV_E_INVALID_PARAM");
	is_int(rv_cones_build(ctx, x, n, d, 65, 1, 4, 64, cone, cent, cnorm, theta, &used),
		   RV_E_INVALID_PARAM, "more groups than rows: RV_E_INVALID_PARAM");
	is_int(rv_cones_build(ctx, x, n, 0, 8, 1, 4, 64, cone, cent, cnorm, theta, &used),
		   RV_E_INVALID_PARAM, "d = 0: RV_E_INVALID_PARAM");
	is_int(rv_cones_bounds(ctx, cent, cnorm, theta, 8, 0, q, lb), RV_E_INVALID_PARAM,
		   "bounds, d = 0: RV_E_INVALID_PARAM");
	is_int(rv_cones_bounds(ctx, NULL, cnorm, theta, 8, d, q, lb), RV_E_INVALID_PARAM,
		   "bounds, a NULL array: RV_E_INVALID_PARAM");
	ok(rv_cones_build(ctx, x, n, d, 8, 1, 4, 16, cone, cent, cnorm, theta, &used) == RV_OK &&
	   used == 8, "64 rows, 8 groups from a sample of 16");
	ok(rv_cones_bounds(ctx, cent, cnorm, theta, used, d, q, lb) == RV_OK, "a zero query");
	for (i = 0; i < used; i++)
		all_inf = all_inf && lb[i] == -INFINITY;
	ok(all_inf, "... bounds nothing (-inf for every group)");
	memset(x, 0, sizeof(x));
	ok(rv_cones_build(ctx, x, n, d, 8, 1, 4, 64, cone, cent, cnorm, theta, &used) == RV_OK &&
	   used == 0 && cone[0] == -1 && cone[63] == -1, "only zero rows: no group, every row -1");
	for (i = 0; i < n * d; i++)
		x[i] = frand();
	th.interrupt_after = 0;
	is_int(rv_cones_build(ctx, x, n, d, 8, 1, 4, 64, cone, cent, cnorm, theta, &used),
		   RV_E_INTERRUPTED, "the host's interrupt: RV_E_INTERRUPTED");
	th.interrupt_after = -1;
	th.fail_at = th.total + 1;
	is_int(rv_cones_build(ctx, x, n, d, 8, 1, 4, 64, cone, cent, cnorm, theta, &used),
		   RV_E_NOMEM, "a failed allocation: RV_E_NOMEM");
	th.fail_at = 0;
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "API cases: no allocation left");
}

int
main(void)
{
	test_clustered();
	test_hard();
	test_api();
	return done_testing();
}
