/*
 * bench_kernels.c — timings of the CPU heavy kernels against the bare work they cannot
 * avoid, measured in the same run on the same data: (a) the cosine similarity matrix
 * against one cblas_sgemm of the same shape; (b) single-query exact top-10 (cosine, L2)
 * against a streaming read (sum) of the same bytes; (c) 100 queries top-10 batched against
 * one sgemm plus a plain per-query selection; (d) a batched scan's lower bounds of 16
 * queries from float32 products against int8 codes. Each figure is the best of a few
 * repetitions (the machine is shared, so the best is the least disturbed). Prints, never asserts.
 * RELVEC_BENCH_N shrinks n (default 100000); RELVEC_BENCH_REPS sets the repetitions.
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

static float *
alloc_floats(size_t count)
{
	float	   *p = malloc(count * sizeof(float));

	if (p == NULL)
	{
		fprintf(stderr, "bench: out of memory for %zu floats\n", count);
		exit(1);
	}
	return p;
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

int
main(void)
{
	size_t		n = 100000;
	size_t		d = 768;
	size_t		k = 256;
	size_t		nq = 100;
	int			reps = 3;
	const char *env;
	float	   *x;
	float	   *anchors;
	float	   *out;
	float	   *q;
	int64_t    *rows;
	float	   *dist;
	test_host	th;
	rv_ctx	   *ctx;
	double		best_rel, best_bare, t0, t1, sink = 0;
	int			r;
	size_t		i;
	rv_status	st;

	env = getenv("RELVEC_BENCH_N");
	if (env != NULL && atol(env) > 0)
		n = (size_t) atol(env);
	env = getenv("RELVEC_BENCH_REPS");
	if (env != NULL && atoi(env) > 0)
		reps = atoi(env);

	x = alloc_floats(n * d);
	anchors = alloc_floats(k * d);
	out = alloc_floats(n * (k > nq ? k : nq));	/* n x k matrix or nq x n scores */
	q = alloc_floats(nq * d);
	rows = malloc(nq * 10 * sizeof(int64_t));
	dist = malloc(nq * 10 * sizeof(float));
	for (i = 0; i < n * d; i++)
		x[i] = frand();
	for (i = 0; i < k * d; i++)
		anchors[i] = frand();
	for (i = 0; i < nq * d; i++)
		q[i] = frand();
	ctx = test_ctx(&th);
	rvc_blas_init();			/* one OpenBLAS thread, for the bare sgemm too */
	printf("bench_kernels: n=%zu d=%zu, best of %d, one OpenBLAS thread\n", n, d, reps);

	/* (a) similarity matrix, cosine, against one bare sgemm of the same shape */
	{
		rv_simmatrix_args args;

		memset(&args, 0, sizeof(args));
		args.x = x;
		args.n = n;
		args.a = anchors;
		args.k = k;
		args.d = d;
		args.sim = RV_SIM_COSINE;
		args.out = out;
		best_rel = best_bare = 1e300;
		for (r = 0; r < reps; r++)
		{
			t0 = now_ms();
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) n, (int) k, (int) d,
						1.0f, x, (int) d, anchors, (int) d, 0.0f, out, (int) k);
			t1 = now_ms();
			if (t1 - t0 < best_bare)
				best_bare = t1 - t0;
			sink += out[n * k - 1];
			t0 = now_ms();
			st = rvc_simmatrix(ctx, &args);
			t1 = now_ms();
			if (st != RV_OK)
			{
				printf("simmatrix failed: %s\n", rv_errmsg(ctx));
				return 1;
			}
			if (t1 - t0 < best_rel)
				best_rel = t1 - t0;
			sink += out[n * k - 1];
		}
		printf("simmatrix cosine %zux%zu k=%zu: relvec %.1f ms, bare sgemm %.1f ms, ratio %.2f (target <= 1.25)\n",
			   n, d, k, best_rel, best_bare, best_rel / best_bare);
	}

	/* (b) one query, exact top-10, against a streaming read of the corpus */
	{
		static const rv_metric metrics[2] = {RV_METRIC_COSINE, RV_METRIC_L2};
		static const char *names[2] = {"cosine", "l2"};
		int			m;

		best_bare = 1e300;
		for (r = 0; r < reps; r++)
		{
			t0 = now_ms();
			sink += stream_sum(x, n * d);
			t1 = now_ms();
			if (t1 - t0 < best_bare)
				best_bare = t1 - t0;
		}
		for (m = 0; m < 2; m++)
		{
			rv_topk_args args;

			memset(&args, 0, sizeof(args));
			args.q = q;
			args.nq = 1;
			args.x = x;
			args.n = n;
			args.d = d;
			args.metric = metrics[m];
			args.k = 10;
			args.best_rows = rows;
			args.best_dist = dist;
			best_rel = 1e300;
			for (r = 0; r < reps; r++)
			{
				rv_topk_reset(rows, dist, 1, 10);
				t0 = now_ms();
				st = rvc_topk(ctx, &args);
				t1 = now_ms();
				if (st != RV_OK)
				{
					printf("topk failed: %s\n", rv_errmsg(ctx));
					return 1;
				}
				if (t1 - t0 < best_rel)
					best_rel = t1 - t0;
			}
			printf("topk-10 single query %s %zux%zu: relvec %.1f ms, streaming read %.1f ms, ratio %.2f (target <= 1.5)\n",
				   names[m], n, d, best_rel, best_bare, best_rel / best_bare);
		}
	}

	/* (c) 100 queries, exact top-10, against one sgemm plus a plain selection */
	{
		static const rv_metric metrics[2] = {RV_METRIC_COSINE, RV_METRIC_L2};
		static const char *names[2] = {"cosine", "l2"};
		int			m;

		best_bare = 1e300;
		for (r = 0; r < reps; r++)
		{
			t0 = now_ms();
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) nq, (int) n, (int) d,
						1.0f, q, (int) d, x, (int) d, 0.0f, out, (int) n);
			for (i = 0; i < nq; i++)
				select_top10(out + i * n, n, rows + i * 10, dist + i * 10);
			t1 = now_ms();
			if (t1 - t0 < best_bare)
				best_bare = t1 - t0;
			sink += dist[0];
		}
		for (m = 0; m < 2; m++)
		{
			rv_topk_args args;

			memset(&args, 0, sizeof(args));
			args.q = q;
			args.nq = nq;
			args.x = x;
			args.n = n;
			args.d = d;
			args.metric = metrics[m];
			args.k = 10;
			args.best_rows = rows;
			args.best_dist = dist;
			best_rel = 1e300;
			for (r = 0; r < reps; r++)
			{
				rv_topk_reset(rows, dist, nq, 10);
				t0 = now_ms();
				st = rvc_topk(ctx, &args);
				t1 = now_ms();
				if (st != RV_OK)
				{
					printf("topk failed: %s\n", rv_errmsg(ctx));
					return 1;
				}
				if (t1 - t0 < best_rel)
					best_rel = t1 - t0;
			}
			printf("topk-10 batch of %zu queries %s %zux%zu: relvec %.1f ms, bare sgemm + selection %.1f ms, ratio %.2f\n",
				   nq, names[m], n, d, best_rel, best_bare, best_rel / best_bare);
		}
	}

	/*
	 * (d) the lower bounds of a batched scan of a shared rvflat copy: 16 queries (and one alone) over every
	 * row, from float32 products (rv_lower_bounds) against int8 codes (rv_codes8_bounds,
	 * plain C and, where the CPU has it, AVX-512 VNNI), per chunk of 1,024 rows as a batch
	 * member computes them; the coding itself is timed once
	 */
	for (size_t bq = 1; bq <= 16; bq += 15)
	{
		size_t		chunk = 1024,
					r0;
		double	   *xn2 = malloc(n * sizeof(double));
		double	   *lb = malloc(bq * chunk * sizeof(double));
		int8_t	   *codes = malloc(rv_codes8_bytes(n, d));
		rv_code8_row *crows = malloc(n * sizeof(rv_code8_row));
		double		best[3] = {1e300, 1e300, 1e300},
					tcode;
		int			path;

		for (i = 0; i < n; i++)
			xn2[i] = rv_norm2(x + i * d, d);
		t0 = now_ms();
		st = rv_codes8_encode(ctx, x, n, d, codes, crows);
		tcode = now_ms() - t0;
		for (r = 0; r < reps && st == RV_OK; r++)
			for (path = 0; path < 3 && st == RV_OK; path++)
			{
				if (path == 2 && !rv_codes8_fast())
					break;
				rv_codes8_path = path;
				t0 = now_ms();
				for (r0 = 0; r0 < n && st == RV_OK; r0 += chunk)
				{
					size_t		nr = n - r0 < chunk ? n - r0 : chunk;

					st = path == 0 ?
						rv_lower_bounds(ctx, RV_METRIC_COSINE, x + r0 * d, xn2 + r0, nr, d, q,
										bq, lb, chunk) :
						rv_codes8_bounds(ctx, RV_METRIC_COSINE, codes, crows, xn2, n, d, r0, nr,
										 q, bq, lb, chunk);
					sink += lb[0];
				}
				t1 = now_ms();
				if (t1 - t0 < best[path])
					best[path] = t1 - t0;
			}
		rv_codes8_path = 0;
		if (st != RV_OK)
			printf("lower bounds failed: %s\n", rv_errmsg(ctx));
		else
		{
			printf("batched lower bounds, %zu queries cosine %zux%zu: float32 %.1f ms, int8 plain C %.1f ms (%.2fx faster)",
				   bq, n, d, best[0], best[1], best[0] / best[1]);
			if (best[2] < 1e300)
				printf(", int8 VNNI %.1f ms (%.2fx faster)", best[2], best[0] / best[2]);
			printf("; coding the rows %.1f ms once\n", tcode);
		}
		free(crows);
		free(codes);
		free(lb);
		free(xn2);
	}

	rv_ctx_destroy(ctx);
	free(x);
	free(anchors);
	free(out);
	free(q);
	free(rows);
	free(dist);
	printf("(checksum %g)\n", sink);
	return 0;
}
