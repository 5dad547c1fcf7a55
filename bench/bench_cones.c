/*
 * bench_cones.c — how much of a copy a cone scan (the shared rvflat copies of a cosine
 * index, extension/pg/rvflatcones.c) bounds, on real embeddings: the rows of an fvecs file
 * but its last 100 are the corpus, grouped as the shared copy groups them (one group per 64
 * rows, at most 4,096 and 2e11 multiply-adds of assignment; a sample of 12 rows per group;
 * 5 rounds), the last 100 the queries. For each query, the rows of every group whose bound
 * does not pass the query's 16th exact cosine distance (the least a scan with the cut of
 * rvflatcones.c must bound; its own cut is never below it), on average, and the time of
 * the grouping. Prints, never asserts.
 *
 *   bench_cones FILE.fvecs...   (default: the four sets of ../shared/data)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relvec_bridge.h"
#include "testhost.h"
#include "bench_util.h"

#define QUERIES 100
#define CUT_ROW 16

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/* All rows of an fvecs file (n x *d floats); NULL if it cannot be read. */
static float *
read_all(const char *path, int *d, size_t *n)
{
	FILE	   *f = fopen(path, "rb");
	float	   *x;
	long		size;
	size_t		i;

	if (f == NULL || fread(d, 4, 1, f) != 1 || *d <= 0 || fseek(f, 0, SEEK_END) != 0 ||
		(size = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0)
	{
		if (f != NULL)
			fclose(f);
		return NULL;
	}
	*n = (size_t) size / (4 * ((size_t) *d + 1));
	x = malloc(*n * (size_t) *d * sizeof(float));
	for (i = 0; x != NULL && i < *n; i++)
	{
		int			dd;

		if (fread(&dd, 4, 1, f) != 1 || dd != *d ||
			fread(x + i * (size_t) *d, 4, (size_t) *d, f) != (size_t) *d)
		{
			free(x);
			x = NULL;
		}
	}
	fclose(f);
	return x;
}

static void
one(const char *path)
{
	int			d;
	size_t		total,
				n,
				k,
				kw,
				used = 0,
				i,
				j;
	float	   *all = read_all(path, &d, &total);
	int32_t    *cone;
	float	   *cent;
	double	   *cnorm,
			   *theta,
			   *lb,
			   *ex,
				rows = 0,
				t0,
				tb,
				spread = 0;
	test_host	th;
	rv_ctx	   *ctx;

	if (all == NULL || total <= QUERIES + 1000)
	{
		printf("%s: not readable (or too few rows): skipped\n", path);
		free(all);
		return;
	}
	n = total - QUERIES;
	k = n / 64 < 16 ? 16 : n / 64;
	k = k > 4096 ? 4096 : k;
	kw = (size_t) (2e11 / ((double) n * d));
	k = k > (kw < 16 ? 16 : kw) ? (kw < 16 ? 16 : kw) : k;
	cone = malloc(n * sizeof(int32_t));
	cent = malloc(k * d * sizeof(float));
	cnorm = malloc(k * sizeof(double));
	theta = malloc(k * sizeof(double));
	lb = malloc(k * sizeof(double));
	ex = malloc(n * sizeof(double));
	ctx = test_ctx(&th);
	t0 = now_ms();
	if (rv_cones_build(ctx, all, n, (size_t) d, k, 1, 5, k * 12 < n ? k * 12 : n, cone, cent,
					   cnorm, theta, &used) != RV_OK)
	{
		printf("%s: grouping failed: %s\n", path, rv_errmsg(ctx));
		goto done;
	}
	tb = now_ms() - t0;
	for (i = 0; i < used; i++)
		spread += theta[i];
	for (j = 0; j < QUERIES; j++)
	{
		const float *q = all + (n + j) * (size_t) d;
		double		cut;

		rv_cones_bounds(ctx, cent, cnorm, theta, used, (size_t) d, q, lb);
		for (i = 0; i < n; i++)
			ex[i] = rv_metric_distance(RV_METRIC_COSINE, q, all + i * (size_t) d, (size_t) d);
		qsort(ex, n, sizeof(double), cmp_double);
		cut = ex[CUT_ROW - 1];
		for (i = 0; i < n; i++)
			rows += cone[i] < 0 || lb[cone[i]] <= cut;
	}
	rows /= QUERIES;
	printf("%s: %zu x %d, %zu groups (made in %.0f ms, mean largest angle %.1f deg): a top-16 bounds %.0f rows (%.1f%%), skips %.1f%%\n",
		   path, n, d, used, tb, used ? spread / (double) used * 57.29578 : 0.0, rows,
		   100.0 * rows / (double) n, 100.0 - 100.0 * rows / (double) n);
done:
	rv_ctx_destroy(ctx);
	free(ex);
	free(lb);
	free(theta);
	free(cnorm);
	free(cent);
	free(cone);
	free(all);
}

int
main(int argc, char **argv)
{
	static const char *const sets[] = {
		"../shared/data/fmnist/fmnist_mlp_a.fvecs", "../shared/data/fmnist/fmnist_mlp_b.fvecs",
		"../shared/data/words/w2v_cbow300.fvecs", "../shared/data/words/ft_sg100.fvecs"
	};
	int			i;

	if (argc > 1)
		for (i = 1; i < argc; i++)
			one(argv[i]);
	else
		for (i = 0; i < 4; i++)
			one(sets[i]);
	return 0;
}
