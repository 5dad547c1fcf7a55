/*
 * bench_project.c — the bare bridge cost of relative projection: rv_project over n x d rows
 * and k anchors (cosine, no centering), the baseline that bench/run-sql-bench.sh compares
 * relvec_project_query against. Prints, never asserts. RELVEC_BENCH_N, _D, _K override the
 * shape (default 100000 x 768, 256 anchors).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "testhost.h"
#include "bench_util.h"

static size_t
env_size(const char *name, size_t dflt)
{
	const char *v = getenv(name);

	return v ? (size_t) strtoull(v, NULL, 10) : dflt;
}

int
main(void)
{
	size_t		n = env_size("RELVEC_BENCH_N", 100000);
	size_t		d = env_size("RELVEC_BENCH_D", 768);
	size_t		k = env_size("RELVEC_BENCH_K", 256);
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	float	   *x = malloc(n * d * sizeof(float));
	float	   *a = malloc(k * d * sizeof(float));
	float	   *out = malloc(n * k * sizeof(float));
	uint32_t	s = 1;
	rv_sim		sim = RV_SIM_COSINE;
	rv_projection *p;
	double		best = 1e30;
	size_t		i;
	int			rep;

	if (x == NULL || a == NULL || out == NULL)
		return 1;
	for (i = 0; i < n * d; i++)
	{
		s ^= s << 13;
		s ^= s >> 17;
		s ^= s << 5;
		x[i] = (float) (s >> 8) / 16777216.0f - 0.5f;
	}
	for (i = 0; i < k * d; i++)
		a[i] = x[(i * 7919) % (n * d)];
	if (rv_set_device(ctx, "cpu") != RV_OK ||
		rv_projection_create(ctx, a, k, d, &sim, 1, RV_CENTER_NONE, NULL, 0, &p) != RV_OK)
		return 1;
	for (rep = 0; rep < 3; rep++)
	{
		double		t0 = now_ms();

		if (rv_project(ctx, p, x, n, out) != RV_OK)
		{
			printf("rv_project failed: %s\n", rv_errmsg(ctx));
			return 1;
		}
		if (now_ms() - t0 < best)
			best = now_ms() - t0;
	}
	printf("project: bare rv_project %zu x %zu, %zu anchors, cosine: %.1f ms (%.0f rows/s)\n",
		   n, d, k, best, n / (best / 1e3));
	rv_projection_destroy(ctx, p);
	rv_ctx_destroy(ctx);
	free(x);
	free(a);
	free(out);
	return 0;
}
