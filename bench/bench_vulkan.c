/*
 * bench_vulkan.c — timings of the Vulkan backend next to its CPU twin, in one run.
 * For each Vulkan device: instance + device creation, pipeline creation (every variant
 * the kernels use), the first dispatch; then a similarity matrix of n x 768 rows against
 * 256 anchors (cosine) and a single-query top-10 (L2) over n x 768 rows, each on the
 * device and on the CPU, with the ratio and the largest difference. Finally which path
 * "auto" takes on this machine. n is 100000, or RELVEC_BENCH_N. Prints, never asserts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vk/vk_internal.h"
#include "testhost.h"

#define D 768
#define K_ANCHORS 256
#define TOPK 10

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void
fill(float *v, size_t n, unsigned seed)
{
	size_t		i;
	uint64_t	s = seed * 0x9E3779B97F4A7C15ull + 1;

	for (i = 0; i < n; i++)
	{
		s ^= s >> 12;
		s ^= s << 25;
		s ^= s >> 27;
		v[i] = (float) ((double) ((s * 2685821657736338717ull) >> 11) / (double) (1ull << 53) * 2.0 - 1.0);
	}
}

static rv_status
sim(rv_ctx *ctx, const float *x, size_t n, const float *a, size_t k, float *out)
{
	rv_simmatrix_args args;

	memset(&args, 0, sizeof(args));
	args.x = x;
	args.n = n;
	args.a = a;
	args.k = k;
	args.d = D;
	args.sim = RV_SIM_COSINE;
	args.out = out;
	return rv_simmatrix(ctx, &args);
}

static rv_status
top(rv_ctx *ctx, const float *q, const float *x, size_t n, int64_t *rows, float *dist)
{
	rv_topk_args args;

	rv_topk_reset(rows, dist, 1, TOPK);
	memset(&args, 0, sizeof(args));
	args.q = q;
	args.nq = 1;
	args.x = x;
	args.n = n;
	args.d = D;
	args.metric = RV_METRIC_L2;
	args.k = TOPK;
	args.best_rows = rows;
	args.best_dist = dist;
	return rv_topk(ctx, &args);
}

static void
report(const char *what, rv_status st, rv_ctx *ctx, double t)
{
	if (st != RV_OK)
		printf("  %-34s failed: %s (%s; %s)\n", what, rv_status_name(st), rv_errmsg(ctx),
			   rv_errdetail(ctx));
	else
		printf("  %-34s %10.3f ms   [%s]\n", what, t * 1e3, rv_last_backend(ctx));
}

int
main(void)
{
	size_t		n = 100000;
	const char *env = getenv("RELVEC_BENCH_N");
	rv_device_info devs[8];
	size_t		ndev = 0,
				i,
				j;
	test_host	thc,
				tha;
	rv_ctx	   *cpu,
			   *aut;
	float	   *x,
			   *a,
			   *q,
			   *oc,
			   *og,
				dc[TOPK],
				dg[TOPK];
	int64_t		rc[TOPK],
				rg[TOPK];
	double		t0,
				t_sim_cpu,
				t_top_cpu;
	rv_status	st;

	if (env != NULL && atol(env) > 0)
		n = (size_t) atol(env);
	printf("relvec Vulkan benchmark: n = %zu, d = %d, %d anchors, top-%d\n", n, D, K_ANCHORS,
		   TOPK);
	x = malloc(n * D * sizeof(float));
	a = malloc((size_t) K_ANCHORS * D * sizeof(float));
	q = malloc(D * sizeof(float));
	oc = malloc(n * K_ANCHORS * sizeof(float));
	og = malloc(n * K_ANCHORS * sizeof(float));
	if (!x || !a || !q || !oc || !og)
	{
		printf("out of memory\n");
		return 0;
	}
	fill(x, n * D, 1);
	fill(a, (size_t) K_ANCHORS * D, 2);
	fill(q, D, 3);

	/* the CPU twin */
	cpu = test_ctx(&thc);
	rv_set_device(cpu, "cpu");
	printf("CPU twin:\n");
	t0 = now();
	st = sim(cpu, x, n, a, K_ANCHORS, oc);
	t_sim_cpu = now() - t0;
	report("simmatrix cosine", st, cpu, t_sim_cpu);
	t0 = now();
	st = top(cpu, q, x, n, rc, dc);
	t_top_cpu = now() - t0;
	report("top-10 L2, one query", st, cpu, t_top_cpu);

	{
		test_host	thl;
		rv_ctx	   *l = test_ctx(&thl);

		t0 = now();
		rv_list_devices(l, devs, 8, &ndev);
		printf("loader + instance + enumeration: %.3f ms, %zu Vulkan device(s)\n",
			   (now() - t0) * 1e3, ndev);
		rv_ctx_destroy(l);
	}
	if (ndev > 8)
		ndev = 8;

	for (i = 0; i < ndev; i++)
	{
		test_host	thg;
		rv_ctx	   *gpu = test_ctx(&thg);
		char		spec[32];
		double		t,
					maxerr = 0;
		float		tiny[64 * 64];
		int			same = 1;

		snprintf(spec, sizeof(spec), "vulkan:%zu", i);
		rv_set_device(gpu, spec);
		printf("%s: %s (%s, %s, %.0f MiB device-local)%s\n", spec, devs[i].name, devs[i].type,
			   devs[i].driver, devs[i].memory_bytes / 1048576.0,
			   devs[i].auto_pick ? " [auto picks it]" : "");
		t0 = now();
		st = rvk_use_device(gpu, (int) i);
		report("instance + device creation", st, gpu, now() - t0);
		if (st != RV_OK)
		{
			rv_ctx_destroy(gpu);
			continue;
		}
		t0 = now();
		st = rvk_warm_pipelines(gpu);
		{
			char		what[64];

			snprintf(what, sizeof(what), "pipeline creation (%d variants)",
					 gpu->vk != NULL ? gpu->vk->npipes : 0);
			report(what, st, gpu, now() - t0);
		}
		t0 = now();
		st = sim(gpu, x, 64, a, 64, tiny);
		report("first dispatch (64 x 64 simmatrix)", st, gpu, now() - t0);

		t0 = now();
		st = sim(gpu, x, n, a, K_ANCHORS, og);
		t = now() - t0;
		report("simmatrix cosine", st, gpu, t);
		if (st == RV_OK)
		{
			for (j = 0; j < n * K_ANCHORS; j++)
				if (fabs(og[j] - oc[j]) > maxerr)
					maxerr = fabs(og[j] - oc[j]);
			printf("  %-34s %10.2fx the CPU time, max |diff| %.2e, %.2f GFLOP/s device, "
				   "%.2f GFLOP/s CPU\n", "", t / t_sim_cpu, maxerr,
				   2.0 * n * K_ANCHORS * D / t * 1e-9, 2.0 * n * K_ANCHORS * D / t_sim_cpu * 1e-9);
		}
		t0 = now();
		st = top(gpu, q, x, n, rg, dg);
		t = now() - t0;
		report("top-10 L2, one query", st, gpu, t);
		if (st == RV_OK)
		{
			for (j = 0; j < TOPK; j++)
				same &= rg[j] == rc[j];
			printf("  %-34s %10.2fx the CPU time, rows %s the CPU's\n", "", t / t_top_cpu,
				   same ? "equal to" : "DIFFER from");
		}
		rv_ctx_destroy(gpu);
		printf("  leaks after rv_ctx_destroy: %ld\n", thg.live);
	}

	/* what auto does here */
	aut = test_ctx(&tha);
	st = top(aut, q, x, n, rg, dg);
	printf("auto, top-10 over %zu rows: %s\n", n, st == RV_OK ? rv_last_backend(aut) : rv_errmsg(aut));
	st = sim(aut, x, n / 10 > 0 ? n / 10 : 1, a, K_ANCHORS, og);
	printf("auto, simmatrix of %zu rows: %s\n", n / 10 > 0 ? n / 10 : 1,
		   st == RV_OK ? rv_last_backend(aut) : rv_errmsg(aut));
	st = sim(aut, x, 4, a, 4, og);
	printf("auto, simmatrix of 4 x 4: %s\n", st == RV_OK ? rv_last_backend(aut) : rv_errmsg(aut));
	rv_ctx_destroy(aut);
	rv_ctx_destroy(cpu);
	free(x);
	free(a);
	free(q);
	free(oc);
	free(og);
	return 0;
}
