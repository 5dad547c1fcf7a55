/*
 * bench_knn.c — the bridge work behind relvec_knn and relvec_stitch_knn against bare
 * baselines, in the same run on the same data. Prints, never asserts.
 *
 * (a) knn: 100 queries, exact top-10 over n x d random rows (cosine and l2), done as
 *     relvec_knn does it (corpus chunks of about 16 MB through rv_topk with k + 8 slots,
 *     the float8 distance of each row entering a list, a final sort), against one bare
 *     cblas_sgemm of all inner products plus a plain per-query top-10 selection.
 * (b) stitch: the bare bridge computation of relvec_stitch_knn's relative route: queries
 *     and corpus chunks projected onto 300 anchors (rv_project), cosine top-10 (rv_topk)
 *     per chunk. Real Fashion-MNIST data when $RELVEC_SHARED/data/fmnist is there (queries:
 *     encoder B's 10,000 test rows; corpus: encoder A's 60,000 train rows; the 300 anchors
 *     of anchors_seed0.csv), random 64-d data otherwise. bench/run-knn-bench.sh puts the
 *     SQL figure next to it.
 *
 * Environment: RELVEC_BENCH_N (corpus rows of (a), default 100000), RELVEC_BENCH_D (its
 * dims, default 768), RELVEC_BENCH_REPS (repetitions, best kept; default 3),
 * RELVEC_BENCH_PART ("knn", "stitch" or both by default), RELVEC_SHARED (default ../shared).
 * Lines start with "knn" or "stitch" and carry "<name> <ms> ms" pairs for the script.
 */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "testhost.h"
#include "bench_util.h"

#define KNN_SLACK 8
#define CHUNK_BYTES ((size_t) 16 << 20)

static void *
xmalloc(size_t bytes)
{
	void	   *p = malloc(bytes > 0 ? bytes : 1);

	if (p == NULL)
	{
		fprintf(stderr, "bench: out of memory for %zu bytes\n", bytes);
		exit(1);
	}
	return p;
}

static void
check(rv_ctx *ctx, rv_status st, const char *what)
{
	if (st != RV_OK)
	{
		fprintf(stderr, "bench: %s failed: %s\n", what, rv_errmsg(ctx));
		exit(1);
	}
}

/* Indices of the 10 largest values of s[0..n) (plain insertion into a sorted array). */
static void
select_top10(const float *s, size_t n, int64_t *rows, float *vals)
{
	int			len = 0;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		int			p;

		if (len == 10 && s[i] <= vals[9])
			continue;
		p = len < 10 ? len++ : 9;
		while (p > 0 && vals[p - 1] < s[i])
		{
			vals[p] = vals[p - 1];
			rows[p] = rows[p - 1];
			p--;
		}
		vals[p] = s[i];
		rows[p] = (int64_t) i;
	}
}

/*
 * The kNN pass of relvec_knn without the SQL around it: q (nq x d, already mapped) against
 * x (n x din) in chunks, each chunk mapped by proj when it is not NULL. Returns ms.
 */
static double
knn_pass(rv_ctx *ctx, const float *q, size_t nq, const float *x, size_t n, size_t din,
		 size_t d, const rv_projection *proj, rv_metric metric, size_t k)
{
	size_t		kint = k + KNN_SLACK;
	size_t		chunk = CHUNK_BYTES / (sizeof(float) * (din > d ? din : d));
	int64_t    *rows = xmalloc(nq * kint * sizeof(int64_t));
	int64_t    *old = xmalloc(nq * kint * sizeof(int64_t));
	float	   *dist = xmalloc(nq * kint * sizeof(float));
	double	   *exact = xmalloc(nq * kint * sizeof(double));
	float	   *mapped = proj ? xmalloc(chunk * d * sizeof(float)) : NULL;
	double		t0 = now_ms(),
				sink = 0;
	size_t		base,
				i,
				s;

	if (chunk > 65536)
		chunk = 65536;
	rv_topk_reset(rows, dist, nq, kint);
	for (base = 0; base < n; base += chunk)
	{
		size_t		m = n - base < chunk ? n - base : chunk;
		const float *xc = x + base * din;
		rv_topk_args a;

		if (proj != NULL)
		{
			check(ctx, rv_project(ctx, proj, xc, m, mapped), "rv_project (corpus)");
			xc = mapped;
		}
		memcpy(old, rows, nq * kint * sizeof(int64_t));
		memset(&a, 0, sizeof(a));
		a.q = q;
		a.nq = nq;
		a.x = xc;
		a.n = m;
		a.d = d;
		a.metric = metric;
		a.k = kint;
		a.row_base = (int64_t) base;
		a.best_rows = rows;
		a.best_dist = dist;
		check(ctx, rv_topk(ctx, &a), "rv_topk");
		/* the adapter's share: float8 distances of the rows that entered a list */
		for (i = 0; i < nq; i++)
			for (s = 0; s < kint; s++)
			{
				int64_t		r = rows[i * kint + s];

				if (r >= (int64_t) base)
					exact[i * kint + s] = rv_metric_distance(metric, q + i * d,
															 xc + (r - (int64_t) base) * d, d);
			}
	}
	for (i = 0; i < nq; i++)
		sink += exact[i * kint];
	t0 = now_ms() - t0;
	if (sink == 12345.678)
		printf("(checksum)\n");
	free(rows);
	free(old);
	free(dist);
	free(exact);
	free(mapped);
	return t0;
}

/* Read rows [from, from + count) of an fvecs file of d-dim rows; NULL if unavailable. */
static float *
read_fvecs(const char *path, size_t d, size_t from, size_t count)
{
	FILE	   *f = fopen(path, "rb");
	float	   *out;
	size_t		i;
	int32_t		dd;

	if (f == NULL)
		return NULL;
	out = xmalloc(count * d * sizeof(float));
	if (fseek(f, (long) (from * (d + 1) * 4), SEEK_SET) != 0)
	{
		fclose(f);
		free(out);
		return NULL;
	}
	for (i = 0; i < count; i++)
		if (fread(&dd, 4, 1, f) != 1 || dd != (int32_t) d || fread(out + i * d, 4, d, f) != d)
		{
			fclose(f);
			free(out);
			return NULL;
		}
	fclose(f);
	return out;
}

/* The item indexes of anchors_seed0.csv (anchor_no,index,label), in order; 0 if missing. */
static size_t
read_anchor_rows(const char *path, size_t *rows, size_t cap)
{
	FILE	   *f = fopen(path, "r");
	char		line[256];
	size_t		n = 0;

	if (f == NULL)
		return 0;
	if (fgets(line, sizeof(line), f) == NULL)
	{
		fclose(f);
		return 0;
	}
	while (n < cap && fgets(line, sizeof(line), f) != NULL)
	{
		long		no,
					idx;

		if (sscanf(line, "%ld,%ld", &no, &idx) == 2)
			rows[n++] = (size_t) idx;
	}
	fclose(f);
	return n;
}

static void
bench_knn(rv_ctx *ctx, size_t n, size_t d, int reps)
{
	size_t		nq = 100;
	float	   *x = xmalloc(n * d * sizeof(float));
	float	   *q = xmalloc(nq * d * sizeof(float));
	float	   *scores = xmalloc(nq * n * sizeof(float));
	int64_t		rows[100 * 10];
	float		vals[100 * 10];
	double		best_bare = 1e300,
				t0;
	static const rv_metric metrics[2] = {RV_METRIC_COSINE, RV_METRIC_L2};
	static const char *names[2] = {"cosine", "l2"};
	size_t		i;
	int			r,
				m;

	for (i = 0; i < n * d; i++)
		x[i] = frand();
	for (i = 0; i < nq * d; i++)
		q[i] = frand();
	for (r = 0; r < reps; r++)
	{
		t0 = now_ms();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) nq, (int) n, (int) d,
					1.0f, q, (int) d, x, (int) d, 0.0f, scores, (int) n);
		for (i = 0; i < nq; i++)
			select_top10(scores + i * n, n, rows + i * 10, vals + i * 10);
		t0 = now_ms() - t0;
		if (t0 < best_bare)
			best_bare = t0;
	}
	for (m = 0; m < 2; m++)
	{
		double		best = 1e300;

		for (r = 0; r < reps; r++)
		{
			t0 = knn_pass(ctx, q, nq, x, n, d, d, NULL, metrics[m], 10);
			if (t0 < best)
				best = t0;
		}
		printf("knn %s %zu queries top-10 over %zu x %zu: bridge %.1f ms bare %.1f ms ratio %.2f (target <= 1.2)\n",
			   names[m], nq, n, d, best, best_bare, best / best_bare);
	}
	free(x);
	free(q);
	free(scores);
}

static void
bench_stitch(rv_ctx *ctx, const char *shared, int reps)
{
	size_t		d = 64,
				nanch = 300,
				nq = 10000,
				nc = 60000;
	char		pa[1024],
				pb[1024],
				pan[1024];
	size_t		anchor_rows[300];
	float	   *xa,
			   *qb,
			   *aa,
			   *ab,
			   *qrel;
	rv_projection *proj_a,
			   *proj_b;
	rv_sim		sim = RV_SIM_COSINE;
	const char *source = "fmnist (B test queries, A train corpus)";
	double		best = 1e300,
				best_proj = 1e300;
	size_t		i;
	int			r;

	snprintf(pa, sizeof(pa), "%s/data/fmnist/fmnist_mlp_a.fvecs", shared);
	snprintf(pb, sizeof(pb), "%s/data/fmnist/fmnist_mlp_b.fvecs", shared);
	snprintf(pan, sizeof(pan), "%s/data/fmnist/anchors_seed0.csv", shared);
	xa = read_fvecs(pa, d, 0, nc);
	qb = read_fvecs(pb, d, nc, nq);
	aa = xmalloc(nanch * d * sizeof(float));
	ab = xmalloc(nanch * d * sizeof(float));
	if (xa != NULL && qb != NULL && read_anchor_rows(pan, anchor_rows, nanch) == nanch)
	{
		for (i = 0; i < nanch; i++)
		{
			float	   *ra = read_fvecs(pa, d, anchor_rows[i], 1);
			float	   *rb = read_fvecs(pb, d, anchor_rows[i], 1);

			if (ra == NULL || rb == NULL)
			{
				fprintf(stderr, "bench: cannot read anchor rows\n");
				exit(1);
			}
			memcpy(aa + i * d, ra, d * sizeof(float));
			memcpy(ab + i * d, rb, d * sizeof(float));
			free(ra);
			free(rb);
		}
	}
	else
	{
		source = "random data";
		free(xa);
		free(qb);
		xa = xmalloc(nc * d * sizeof(float));
		qb = xmalloc(nq * d * sizeof(float));
		for (i = 0; i < nc * d; i++)
			xa[i] = frand();
		for (i = 0; i < nq * d; i++)
			qb[i] = frand();
		for (i = 0; i < nanch * d; i++)
		{
			aa[i] = frand();
			ab[i] = frand();
		}
	}
	check(ctx, rv_projection_create(ctx, aa, nanch, d, &sim, 1, RV_CENTER_NONE, NULL, 0, &proj_a),
		  "rv_projection_create");
	check(ctx, rv_projection_create(ctx, ab, nanch, d, &sim, 1, RV_CENTER_NONE, NULL, 0, &proj_b),
		  "rv_projection_create");
	qrel = xmalloc(nq * nanch * sizeof(float));
	for (r = 0; r < reps; r++)
	{
		double		t0 = now_ms(),
					tp;

		check(ctx, rv_project(ctx, proj_b, qb, nq, qrel), "rv_project (queries)");
		tp = now_ms() - t0;
		t0 = tp + knn_pass(ctx, qrel, nq, xa, nc, d, nanch, proj_a, RV_METRIC_COSINE, 10);
		if (t0 < best)
			best = t0;
		if (tp < best_proj)
			best_proj = tp;
	}
	printf("stitch relative %zu queries x %zu corpus, %zu-d, %zu anchors, top-10, %s: bridge %.1f ms (query projection %.1f ms)\n",
		   nq, nc, d, nanch, source, best, best_proj);
	rv_projection_destroy(ctx, proj_a);
	rv_projection_destroy(ctx, proj_b);
	free(xa);
	free(qb);
	free(aa);
	free(ab);
	free(qrel);
}

int
main(void)
{
	size_t		n = 100000;
	size_t		d = 768;
	int			reps = 3;
	const char *part = getenv("RELVEC_BENCH_PART");
	const char *shared = getenv("RELVEC_SHARED");
	const char *env;
	test_host	th;
	rv_ctx	   *ctx;

	env = getenv("RELVEC_BENCH_N");
	if (env != NULL && atol(env) > 0)
		n = (size_t) atol(env);
	env = getenv("RELVEC_BENCH_D");
	if (env != NULL && atol(env) > 0 && atol(env) <= RV_MAX_DIMS)
		d = (size_t) atol(env);
	env = getenv("RELVEC_BENCH_REPS");
	if (env != NULL && atoi(env) > 0)
		reps = atoi(env);
	if (shared == NULL)
		shared = "../shared";

	ctx = test_ctx(&th);
	check(ctx, rv_set_device(ctx, "cpu"), "rv_set_device");
	rvc_blas_init();			/* one OpenBLAS thread, for the bare sgemm too */
	if (part == NULL || strcmp(part, "knn") == 0)
		bench_knn(ctx, n, d, reps);
	if (part == NULL || strcmp(part, "stitch") == 0)
		bench_stitch(ctx, shared, reps);
	rv_ctx_destroy(ctx);
	return 0;
}
