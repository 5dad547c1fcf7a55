/*
 * test_topk.c — the Vulkan exact top-k (shaders/topk.comp + rv_topk_merge) against its
 * CPU twin on every Vulkan device present.
 *
 * Tolerance: distances within 1e-4 (absolute up to 1, relative above). Row lists must be
 * identical at every position whose CPU distance differs from both neighbours by more
 * than 1e-5 relative (where float rounding on the device could legitimately swap two
 * rows); with small-integer data every distance except cosine is exact on both sides, so
 * there the whole list must be identical, ties (duplicate rows, equal distances) included.
 */
#include "gpu_common.h"

#define TOL 1e-4
#define ORDER_TOL 1e-5

static const char *metric_names[] = {"l2", "ip", "cosine", "l1"};

typedef struct topk_run
{
	int64_t    *rows;
	float	   *dist;
} topk_run;

static rv_status
run(rv_ctx *ctx, const float *q, size_t nq, const float *x, size_t n, size_t d,
	rv_metric m, size_t k, int64_t base, topk_run *r)
{
	rv_topk_args args;

	memset(&args, 0, sizeof(args));
	args.q = q;
	args.nq = nq;
	args.x = x;
	args.n = n;
	args.d = d;
	args.metric = m;
	args.k = k;
	args.row_base = base;
	args.best_rows = r->rows;
	args.best_dist = r->dist;
	return rv_topk(ctx, &args);
}

static void
alloc_run(topk_run *r, size_t nq, size_t k)
{
	r->rows = xmalloc(nq * k * sizeof(int64_t));
	r->dist = xmalloc(nq * k * sizeof(float));
	rv_topk_reset(r->rows, r->dist, nq, k);
}

static void
free_run(topk_run *r)
{
	free(r->rows);
	free(r->dist);
}

static double
scaled(double a, double b)
{
	double		s = fabs(b) > 1.0 ? fabs(b) : 1.0;

	if (isinf(a) && isinf(b) && a == b)
		return 0.0;
	return fabs(a - b) / s;
}

/*
 * Compare g against c (nq lists of k): distances within TOL; rows equal where the CPU's
 * neighbouring distances are apart by more than order_tol (0: everywhere).
 */
static int
same_lists(const topk_run *g, const topk_run *c, size_t nq, size_t k, double order_tol)
{
	size_t		i,
				j;

	for (i = 0; i < nq; i++)
	{
		for (j = 0; j < k; j++)
		{
			size_t		o = i * k + j;
			int			near_tie = 0;

			if (scaled(g->dist[o], c->dist[o]) > TOL)
			{
				printf("#   query %zu slot %zu: distance %.9g, want %.9g\n", i, j,
					   g->dist[o], c->dist[o]);
				return 0;
			}
			if (order_tol > 0)
			{
				if (j > 0 && scaled(c->dist[o], c->dist[o - 1]) <= order_tol)
					near_tie = 1;
				if (j + 1 < k && scaled(c->dist[o], c->dist[o + 1]) <= order_tol)
					near_tie = 1;
			}
			if (!near_tie && g->rows[o] != c->rows[o])
			{
				printf("#   query %zu slot %zu: row %lld, want %lld (distance %.9g / %.9g)\n",
					   i, j, (long long) g->rows[o], (long long) c->rows[o],
					   g->dist[o], c->dist[o]);
				return 0;
			}
		}
	}
	return 1;
}

/* Run both backends on the same data; one TAP line. */
static void
compare(rv_ctx *gpu, rv_ctx *cpu, const char *label, const float *q, size_t nq,
		const float *x, size_t n, size_t d, rv_metric m, size_t k, double order_tol)
{
	topk_run	g,
				c;
	rv_status	sg,
				sc;
	char		name[256];

	alloc_run(&g, nq, k);
	alloc_run(&c, nq, k);
	sg = run(gpu, q, nq, x, n, d, m, k, 0, &g);
	sc = run(cpu, q, nq, x, n, d, m, k, 0, &c);
	snprintf(name, sizeof(name), "%s: %s nq=%zu n=%zu d=%zu k=%zu same rows and distances",
			 label, metric_names[m], nq, n, d, k);
	if (!ok(sg == RV_OK && sc == RV_OK && same_lists(&g, &c, nq, k, order_tol), name))
		printf("#   status %s / %s: %s %s\n", rv_status_name(sg), rv_status_name(sc),
			   rv_errmsg(gpu), rv_errdetail(gpu));
	free_run(&g);
	free_run(&c);
}

static void
test_device(const rv_device_info *dev)
{
	test_host	thg,
				thc;
	rv_ctx	   *gpu,
			   *cpu;
	char		spec[32],
				want[320];
	int			m;
	size_t		nq = 3,
				n = 3000,
				d = 24;
	float	   *q = xmalloc(64 * 64 * sizeof(float));
	float	   *x = xmalloc(3000 * 64 * sizeof(float));
	static const size_t ks[] = {1, 10, 100, 1024};
	size_t		ki;

	snprintf(spec, sizeof(spec), "vulkan:%d", dev->index);
	gpu = ctx_on(&thg, spec);
	cpu = ctx_on(&thc, "cpu");

	/* random data: every metric, k = 1 .. the largest k the device takes */
	fill_uniform(q, nq * d, 1);
	fill_uniform(x, n * d, 2);
	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m++)
		for (ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++)
			compare(gpu, cpu, spec, q, nq, x, n, d, (rv_metric) m, ks[ki], ORDER_TOL);
	snprintf(want, sizeof(want), "%s %s (relvec.device = %s)", spec, dev->name, spec);
	is_str(rv_last_backend(gpu), want, "backend names the Vulkan device");

	/* ties: small integers, every row four times; exact distances, so identical lists */
	{
		size_t		base = 500,
					i;

		fill_int(x, base * 8, 2, 3);
		for (i = 1; i < 4; i++)
			memcpy(x + i * base * 8, x, base * 8 * sizeof(float));
		fill_int(q, 4 * 8, 2, 4);
		for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m++)
		{
			if (m == RV_METRIC_COSINE)
				continue;
			compare(gpu, cpu, "ties (duplicates x4, integers)", q, 4, x, 4 * base, 8,
					(rv_metric) m, 37, 0);
			compare(gpu, cpu, "ties (duplicates x4, integers)", q, 4, x, 4 * base, 8,
					(rv_metric) m, 1024, 0);
		}
		/* cosine ties: duplicate rows have bit-identical distances on both sides */
		compare(gpu, cpu, "ties (duplicates x4, cosine)", q, 4, x, 4 * base, 8,
				RV_METRIC_COSINE, 64, ORDER_TOL);
	}

	/* n < k, and sizes that fill no workgroup */
	fill_uniform(x, 5 * 7, 5);
	fill_uniform(q, 2 * 7, 6);
	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m++)
		compare(gpu, cpu, "n < k", q, 2, x, 5, 7, (rv_metric) m, 10, ORDER_TOL);
	{
		topk_run	g;
		int			tail_ok = 1;
		size_t		j;

		alloc_run(&g, 1, 10);
		run(gpu, q, 1, x, 5, 7, RV_METRIC_L2, 10, 0, &g);
		for (j = 5; j < 10; j++)
			tail_ok &= g.rows[j] == -1 && isinf(g.dist[j]);
		ok(tail_ok, "n < k: the slots past n stay empty (-1, +inf)");
		free_run(&g);
	}

	/* zero vectors: cosine distance 1, ordered by row number */
	{
		topk_run	g;
		int			zok = 1;
		size_t		j;

		memset(q, 0, 7 * sizeof(float));
		fill_uniform(x, 50 * 7, 7);
		memset(x + 3 * 7, 0, 7 * sizeof(float));
		alloc_run(&g, 1, 50);
		is_int(run(gpu, q, 1, x, 50, 7, RV_METRIC_COSINE, 50, 0, &g), RV_OK,
			   "zero query: runs");
		for (j = 0; j < 50; j++)
			zok &= g.rows[j] == (int64_t) j && g.dist[j] == 1.0f;
		ok(zok, "zero query: every cosine distance is 1, rows in order");
		free_run(&g);
		fill_uniform(q, 7, 8);
		compare(gpu, cpu, "zero corpus row", q, 1, x, 50, 7, RV_METRIC_COSINE, 50, ORDER_TOL);
	}

	/* chunks: two calls with row_base merge like the CPU */
	{
		topk_run	g,
					c;
		rv_status	s1,
					s2;

		fill_uniform(x, 2000 * 16, 9);
		fill_uniform(q, 5 * 16, 10);
		alloc_run(&g, 5, 20);
		alloc_run(&c, 5, 20);
		s1 = run(gpu, q, 5, x + 1000 * 16, 1000, 16, RV_METRIC_L2, 20, 1000, &g);
		s2 = run(gpu, q, 5, x, 1000, 16, RV_METRIC_L2, 20, 0, &g);
		run(cpu, q, 5, x, 1000, 16, RV_METRIC_L2, 20, 0, &c);
		run(cpu, q, 5, x + 1000 * 16, 1000, 16, RV_METRIC_L2, 20, 1000, &c);
		ok(s1 == RV_OK && s2 == RV_OK && same_lists(&g, &c, 5, 20, ORDER_TOL),
		   "two chunks (row_base 1000 then 0) merge like the CPU");
		free_run(&g);
		free_run(&c);
	}

	/* the same bits on a second run */
	{
		topk_run	a,
					b;

		alloc_run(&a, 5, 100);
		alloc_run(&b, 5, 100);
		run(gpu, q, 5, x, 2000, 16, RV_METRIC_COSINE, 100, 0, &a);
		run(gpu, q, 5, x, 2000, 16, RV_METRIC_COSINE, 100, 0, &b);
		ok(memcmp(a.rows, b.rows, 500 * 8) == 0 && memcmp(a.dist, b.dist, 500 * 4) == 0,
		   "second run gives the same bits");
		free_run(&a);
		free_run(&b);
	}

	/* forced tiny splits: corpus, queries and candidate lists cross many bindings */
	fill_uniform(x, 2000 * 16, 11);
	fill_uniform(q, 40 * 16, 12);
	rv_set_split_bytes(gpu, 1024);	/* 16 rows of d=16 per binding */
	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m++)
		compare(gpu, cpu, "split 1024 B", q, 40, x, 2000, 16, (rv_metric) m, 10, ORDER_TOL);
	compare(gpu, cpu, "split 1024 B", q, 4, x, 2000, 16, RV_METRIC_L2, 200, ORDER_TOL);
	rv_set_split_bytes(gpu, 4096);	/* exactly one k=1024 candidate list per binding */
	compare(gpu, cpu, "split 4096 B", q, 3, x, 2000, 16, RV_METRIC_L1, 1024, ORDER_TOL);
	rv_set_split_bytes(gpu, 2048);
	{
		topk_run	g;

		alloc_run(&g, 1, 1024);
		is_int(run(gpu, q, 1, x, 100, 16, RV_METRIC_L2, 1024, 0, &g), RV_E_LIMIT,
			   "split below one candidate list: RV_E_LIMIT");
		free_run(&g);
	}
	rv_set_split_bytes(gpu, 0);

	/* k above the device kernel's limit runs on the CPU */
	{
		topk_run	g,
					c;

		alloc_run(&g, 1, 2000);
		alloc_run(&c, 1, 2000);
		run(gpu, q, 1, x, 2000, 16, RV_METRIC_L2, 2000, 0, &g);
		run(cpu, q, 1, x, 2000, 16, RV_METRIC_L2, 2000, 0, &c);
		ok(memcmp(g.rows, c.rows, 2000 * 8) == 0, "k = 2000: same rows as the CPU");
		is_str(rv_last_backend(gpu), "cpu (k = 2000 exceeds the Vulkan top-k limit 1024)",
			   "k = 2000: backend notes the CPU");
		free_run(&g);
		free_run(&c);
	}

	/* interrupt: RV_E_INTERRUPTED, the caller's lists untouched */
	{
		topk_run	g;
		int			untouched = 1;
		size_t		j;

		alloc_run(&g, 5, 10);
		thg.interrupt_calls = 0;
		thg.interrupt_after = 0;
		is_int(run(gpu, q, 5, x, 2000, 16, RV_METRIC_L2, 10, 0, &g), RV_E_INTERRUPTED,
			   "interrupt: RV_E_INTERRUPTED");
		for (j = 0; j < 50; j++)
			untouched &= g.rows[j] == -1;
		ok(untouched, "interrupt: best lists left as they were");
		thg.interrupt_after = -1;
		is_int(run(gpu, q, 5, x, 2000, 16, RV_METRIC_L2, 10, 0, &g), RV_OK,
			   "interrupt: the next call runs");
		free_run(&g);
	}

	/* device lost: the call runs again on the CPU with the lists it started from */
	{
		int			notices = thg.notices;

		rvk_test_inject(gpu, VK_ERROR_DEVICE_LOST, 1);
		compare(gpu, cpu, "after injected VK_ERROR_DEVICE_LOST", q, 5, x, 2000, 16,
				RV_METRIC_IP, 10, ORDER_TOL);
		is_str(rv_last_backend(gpu), "cpu (fallback after VK_ERROR_DEVICE_LOST)",
			   "device lost: backend notes the fallback");
		is_int(thg.notices, notices + 1, "device lost: one notice");
	}
	/* out of device memory is treated the same way; it hits a later block here */
	rv_set_split_bytes(gpu, 1024);
	{
		topk_run	g,
					c;

		alloc_run(&g, 5, 10);
		alloc_run(&c, 5, 10);
		/* the fallback released the device: reopen it before arming the hook */
		run(gpu, q, 5, x, 100, 16, RV_METRIC_L2, 10, 0, &g);
		rv_topk_reset(g.rows, g.dist, 5, 10);
		rvk_test_inject(gpu, VK_ERROR_OUT_OF_DEVICE_MEMORY, 3);
		run(gpu, q, 5, x, 2000, 16, RV_METRIC_L2, 10, 0, &g);
		run(cpu, q, 5, x, 2000, 16, RV_METRIC_L2, 10, 0, &c);
		ok(same_lists(&g, &c, 5, 10, ORDER_TOL),
		   "VK_ERROR_OUT_OF_DEVICE_MEMORY on the third block: CPU result, no duplicate rows");
		is_str(rv_last_backend(gpu), "cpu (fallback after VK_ERROR_OUT_OF_DEVICE_MEMORY)",
			   "out of device memory: backend notes the fallback");
		free_run(&g);
		free_run(&c);
	}
	rv_set_split_bytes(gpu, 0);

	rv_ctx_destroy(gpu);
	rv_ctx_destroy(cpu);
	is_int(thg.live, 0, "no allocation leaks after rv_ctx_destroy (device context)");
	is_int(thc.live, 0, "no allocation leaks after rv_ctx_destroy (CPU context)");
	free(q);
	free(x);
}

int
main(void)
{
	rv_device_info devs[MAX_TEST_DEVICES];
	size_t		n = list_test_devices(devs),
				i;

	if (n == 0)
	{
		printf("1..0 # SKIP no Vulkan device\n");
		return 0;
	}
	for (i = 0; i < n; i++)
		test_device(&devs[i]);
	return done_testing();
}
