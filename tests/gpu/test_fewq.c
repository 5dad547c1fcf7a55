/*
 * test_fewq.c — the few-query kernel (shaders/fewq.glsl, bridge/vk/fewq.c) against its CPU
 * twin (bridge/cpu/fewq.c) on every Vulkan device present, with subgroup reductions and in
 * its plain variant (forced with rvk_set_no_subgroups), through both of its callers:
 *
 *  - rv_topk for 1 to 16 queries (key mode 0): each list must hold the twin's rows, except
 *    that rows whose twin keys lie within KEY_TOL of a neighbour's may trade places (the
 *    device sums in another order), and keys within KEY_TOL of the twin's; on small-integer
 *    data every key except cosine is exact, so lists must be identical, ties included;
 *  - the resident top-k (key mode 1) and the exact kNN on top of it: every candidate's exact
 *    distance within its reported bound, every row left out at or above the list's `rest`
 *    bound, and rv_resident_knn equal to the brute-force answer in double (rows and
 *    distances, ties by row) — whether the first list proves it, a longer one, or the last
 *    resort over every distance.
 *
 * Data: uniform values, d a multiple of 4 (vec4 reads) and not (scalar reads), sizes that
 * fill no segment, duplicates (exact ties), zero vectors, rows of huge values (float32
 * overflow: +inf keys in mode 0, -inf in mode 1), rows of tiny values (a cosine the bound
 * does not cover), and corpora split into many blocks (rv_set_split_bytes).
 */
#include "gpu_common.h"

#define KEY_TOL 1e-4

static const char *metric_names[] = {"l2", "ip", "cosine", "l1"};

static double
scaled(double a, double b)
{
	double		s = fabs(b) > 1.0 ? fabs(b) : 1.0;

	if (isinf(a) && isinf(b) && a == b)
		return 0.0;
	return fabs(a - b) / s;
}

/*
 * Lists g (device) against c (twin), nq lists of k: keys within KEY_TOL; rows equal where
 * the twin's neighbouring keys are apart by more than tol (0: everywhere).
 */
static int
same_lists(const int64_t *gr, const float *gk, const int64_t *cr, const float *ck, size_t nq,
		   size_t k, double tol)
{
	size_t		i,
				j;

	for (i = 0; i < nq; i++)
		for (j = 0; j < k; j++)
		{
			size_t		o = i * k + j;
			int			near = 0;

			if (scaled(gk[o], ck[o]) > KEY_TOL)
			{
				printf("#   query %zu slot %zu: key %.9g, twin %.9g\n", i, j, gk[o], ck[o]);
				return 0;
			}
			if (tol > 0)
			{
				if (j > 0 && scaled(ck[o], ck[o - 1]) <= tol)
					near = 1;
				if (j + 1 < k && scaled(ck[o], ck[o + 1]) <= tol)
					near = 1;
			}
			if (!near && gr[o] != cr[o])
			{
				printf("#   query %zu slot %zu: row %lld, twin %lld (keys %.9g / %.9g)\n", i, j,
					   (long long) gr[o], (long long) cr[o], gk[o], ck[o]);
				return 0;
			}
		}
	return 1;
}

/* rv_topk on the device against the twin in key mode 0; one TAP line. */
static void
topk_case(rv_ctx *gpu, rv_ctx *cpu, const char *label, const float *q, size_t nq,
		  const float *x, size_t n, size_t d, rv_metric m, size_t k, double tol)
{
	int64_t    *gr = xmalloc(nq * k * sizeof(int64_t)),
			   *cr = xmalloc(nq * k * sizeof(int64_t));
	float	   *gk = xmalloc(nq * k * sizeof(float)),
			   *ck = xmalloc(nq * k * sizeof(float));
	rv_topk_args a;
	rv_status	sg,
				sc;
	char		name[300];

	rv_topk_reset(gr, gk, nq, k);
	memset(&a, 0, sizeof(a));
	a.q = q;
	a.nq = nq;
	a.x = x;
	a.n = n;
	a.d = d;
	a.metric = m;
	a.k = k;
	a.best_rows = gr;
	a.best_dist = gk;
	sg = rv_topk(gpu, &a);
	sc = rvc_fewq(cpu, m, 0, q, nq, x, n, d, k, cr, ck);
	snprintf(name, sizeof(name), "%s: rv_topk %s nq=%zu n=%zu d=%zu k=%zu equals the twin",
			 label, metric_names[m], nq, n, d, k);
	if (!ok(sg == RV_OK && sc == RV_OK && same_lists(gr, gk, cr, ck, nq, k, tol), name))
		printf("#   %s: %s %s\n", rv_status_name(sg), rv_errmsg(gpu), rv_errdetail(gpu));
	free(gr);
	free(cr);
	free(gk);
	free(ck);
}

/* An exact neighbour, for the brute-force reference. */
typedef struct ref_hit
{
	double		dist;
	int64_t		row;
} ref_hit;

static int
hit_cmp(const void *a, const void *b)
{
	const ref_hit *x = a;
	const ref_hit *y = b;

	if (x->dist != y->dist)
		return x->dist < y->dist ? -1 : 1;
	return x->row < y->row ? -1 : (x->row > y->row ? 1 : 0);
}

/*
 * The resident top-k of nq queries against the twin (key mode 1), its bounds, and
 * rv_resident_knn against brute force; TAP lines for each.
 */
static void
resident_case(rv_ctx *gpu, rv_ctx *cpu, const char *label, const float *q, size_t nq,
			  const float *x, size_t n, size_t d, rv_metric m, size_t k, double tol)
{
	rv_resident *r = NULL;
	size_t		kc = k + 16 < 32 ? 32 : k + 16;
	int64_t    *gr = xmalloc(nq * kc * sizeof(int64_t)),
			   *cr = xmalloc(nq * kc * sizeof(int64_t)),
			   *kr = xmalloc(nq * k * sizeof(int64_t));
	float	   *gk = xmalloc(nq * kc * sizeof(float)),
			   *ck = xmalloc(nq * kc * sizeof(float)),
			   *ge = xmalloc(nq * kc * sizeof(float));
	double	   *rest = xmalloc(nq * sizeof(double)),
			   *kd = xmalloc(nq * k * sizeof(double));
	ref_hit    *all = xmalloc(n * sizeof(ref_hit));
	char	   *in = xmalloc(n);
	rv_status	st;
	int			bounds_ok = 1,
				rest_ok = 1,
				knn_ok = 1;
	size_t		j,
				i;
	char		name[300];

	st = rv_resident_create(gpu, x, n, d, &r);
	if (st == RV_OK)
		st = rv_resident_topk(gpu, r, m, q, nq, kc, gr, gk, ge, rest);
	rvc_fewq(cpu, m, 1, q, nq, x, n, d, kc, cr, ck);
	snprintf(name, sizeof(name), "%s: resident top-%zu %s nq=%zu n=%zu d=%zu equals the twin",
			 label, kc, metric_names[m], nq, n, d);
	if (!ok(st == RV_OK && same_lists(gr, gk, cr, ck, nq, kc, tol), name))
		printf("#   %s: %s %s\n", rv_status_name(st), rv_errmsg(gpu), rv_errdetail(gpu));

	for (j = 0; j < nq && st == RV_OK; j++)
	{
		const float *qj = q + j * d;

		memset(in, 0, n);
		for (i = 0; i < kc; i++)
		{
			int64_t		row = gr[j * kc + i];
			double		e;

			if (row < 0)
				continue;
			in[row] = 1;
			e = rv_metric_distance(m, qj, x + row * d, d);
			if (!(isinf(gk[j * kc + i]) && isinf(ge[j * kc + i])) &&
				!(fabs(e - gk[j * kc + i]) <= ge[j * kc + i]))
			{
				if (bounds_ok)
					printf("#   query %zu row %lld: exact %.9g, device %.9g +/- %.3g\n", j,
						   (long long) row, e, gk[j * kc + i], ge[j * kc + i]);
				bounds_ok = 0;
			}
		}
		for (i = 0; i < n; i++)
		{
			double		e;

			all[i].row = (int64_t) i;
			all[i].dist = e = rv_metric_distance(m, qj, x + i * d, d);
			if (!in[i] && !(e >= rest[j]))
			{
				if (rest_ok)
					printf("#   query %zu row %zu left out: exact %.9g below rest %.9g\n", j, i,
						   e, rest[j]);
				rest_ok = 0;
			}
		}
	}
	snprintf(name, sizeof(name), "%s: resident top-%zu %s: exact distances within the bounds",
			 label, kc, metric_names[m]);
	ok(st == RV_OK && bounds_ok, name);
	snprintf(name, sizeof(name), "%s: resident top-%zu %s: rows left out at or above rest",
			 label, kc, metric_names[m]);
	ok(st == RV_OK && rest_ok, name);

	if (st == RV_OK)
		st = rv_resident_knn(gpu, r, x, m, q, nq, k, kr, kd);
	for (j = 0; j < nq && st == RV_OK; j++)
	{
		const float *qj = q + j * d;

		for (i = 0; i < n; i++)
		{
			all[i].row = (int64_t) i;
			all[i].dist = rv_metric_distance(m, qj, x + i * d, d);
		}
		qsort(all, n, sizeof(ref_hit), hit_cmp);
		for (i = 0; i < k; i++)
		{
			int64_t		wr = i < n ? all[i].row : -1;
			double		wd = i < n ? all[i].dist : INFINITY;

			if (kr[j * k + i] != wr || !(kd[j * k + i] == wd))
			{
				if (knn_ok)
					printf("#   query %zu rank %zu: row %lld at %.17g, want %lld at %.17g\n", j, i,
						   (long long) kr[j * k + i], kd[j * k + i], (long long) wr, wd);
				knn_ok = 0;
			}
		}
	}
	snprintf(name, sizeof(name), "%s: rv_resident_knn %s k=%zu equals brute force in double",
			 label, metric_names[m], k);
	if (!ok(st == RV_OK && knn_ok, name))
		printf("#   %s: %s %s\n", rv_status_name(st), rv_errmsg(gpu), rv_errdetail(gpu));
	rv_resident_destroy(gpu, r);
	free(gr);
	free(cr);
	free(kr);
	free(gk);
	free(ck);
	free(ge);
	free(rest);
	free(kd);
	free(all);
	free(in);
}

/*
 * Every case on one device, in the variant the context runs; step 1 runs every metric,
 * step 2 every other one (l2 and cosine: the plain variant, whose code differs only in how
 * a row's sums are made, not in the metric's formulas).
 */
static void
run_cases(rv_ctx *gpu, rv_ctx *cpu, const char *variant, int step)
{
	size_t		n = 3000,
				d = 24;
	float	   *x = xmalloc(n * 64 * sizeof(float));
	float	   *q = xmalloc(20 * 200 * sizeof(float));
	char		label[128];
	int			m;
	size_t		i;

	/* uniform, vec4 rows: batches of 1, 3, 5 and 16, k from 1 to 256 */
	fill_uniform(x, n * d, 1);
	fill_uniform(q, 16 * d, 2);
	snprintf(label, sizeof(label), "%s uniform", variant);
	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m += step)
	{
		topk_case(gpu, cpu, label, q, 1, x, n, d, (rv_metric) m, 10, 1e-5);
		topk_case(gpu, cpu, label, q, 16, x, n, d, (rv_metric) m, 1, 1e-5);
	}
	topk_case(gpu, cpu, label, q, 5, x, n, d, RV_METRIC_COSINE, 16, 1e-5);
	topk_case(gpu, cpu, label, q, 3, x, n, d, RV_METRIC_L2, 256, 1e-5);

	/* wide rows (d = 200, 50 vec4): the unrolled loads and their remainder */
	fill_uniform(x, 500 * 200, 20);
	fill_uniform(q, 16 * 200, 21);
	snprintf(label, sizeof(label), "%s d=200", variant);
	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m += step)
	{
		topk_case(gpu, cpu, label, q, 1, x, 500, 200, (rv_metric) m, 10, 1e-5);
		topk_case(gpu, cpu, label, q, 16, x, 500, 200, (rv_metric) m, 10, 1e-5);
	}
	resident_case(gpu, cpu, label, q, 3, x, 500, 200, RV_METRIC_COSINE, 10, 1e-5);
	/* the bench's tuning hook: loads not unrolled, few and many workgroups */
	rvk_set_fewq_tuning(gpu, 1, 0);
	snprintf(label, sizeof(label), "%s d=200 no unroll, 1 group", variant);
	topk_case(gpu, cpu, label, q, 4, x, 500, 200, RV_METRIC_L2, 10, 1e-5);
	rvk_set_fewq_tuning(gpu, 4096, 1);
	snprintf(label, sizeof(label), "%s d=200 4096 groups", variant);
	topk_case(gpu, cpu, label, q, 4, x, 500, 200, RV_METRIC_IP, 10, 1e-5);
	rvk_set_fewq_tuning(gpu, 0, 1);

	/* scalar rows (d = 7), sizes that fill no segment and no round */
	fill_uniform(x, 777 * 7, 3);
	fill_uniform(q, 16 * 7, 4);
	snprintf(label, sizeof(label), "%s d=7", variant);
	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m += step)
	{
		topk_case(gpu, cpu, label, q, 7, x, 777, 7, (rv_metric) m, 10, 1e-5);
		topk_case(gpu, cpu, label, q, 13, x, 45, 7, (rv_metric) m, 10, 1e-5);
	}

	/* ties: small integers, every row four times: exact keys, identical lists */
	fill_int(x, 500 * 8, 2, 5);
	for (i = 1; i < 4; i++)
		memcpy(x + i * 500 * 8, x, 500 * 8 * sizeof(float));
	fill_int(q, 16 * 8, 2, 6);
	snprintf(label, sizeof(label), "%s ties", variant);
	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m += step)
		topk_case(gpu, cpu, label, q, 9, x, 2000, 8, (rv_metric) m, 16,
				  m == RV_METRIC_COSINE ? 1e-5 : 0);

	/* n < k: the slots past n stay empty on both sides */
	snprintf(label, sizeof(label), "%s n<k", variant);
	topk_case(gpu, cpu, label, q, 3, x, 5, 8, RV_METRIC_L1, 10, 0);

	/* zero query and zero rows: cosine 1, ordered by row */
	fill_uniform(x, 300 * 8, 7);
	memset(x + 3 * 8, 0, 8 * sizeof(float));
	memset(x + 200 * 8, 0, 8 * sizeof(float));
	fill_uniform(q, 4 * 8, 8);
	memset(q + 8, 0, 8 * sizeof(float));
	snprintf(label, sizeof(label), "%s zero vectors", variant);
	topk_case(gpu, cpu, label, q, 4, x, 300, 8, RV_METRIC_COSINE, 16, 1e-5);

	/* huge values: float32 overflow gives +inf keys (mode 0) on both sides, by row */
	fill_uniform(x, 600 * 8, 9);
	for (i = 0; i < 8 * 590; i++)
		x[i] *= 1e30f;
	snprintf(label, sizeof(label), "%s overflow", variant);
	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m += step)
		topk_case(gpu, cpu, label, q, 2, x, 600, 8, (rv_metric) m, 32, 1e-5);

	/* NaN: products of +-3e38 overflow to +-inf, and their sum is NaN (a +inf key in mode 0) */
	fill_uniform(x, 300 * 8, 22);
	for (i = 0; i < 20 * 8; i++)
		x[i] = (i % 2) ? -3e38f : 3e38f;
	for (i = 0; i < 2 * 8; i++)
		q[i] = 3e38f;
	snprintf(label, sizeof(label), "%s NaN", variant);
	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m += step)
		topk_case(gpu, cpu, label, q, 2, x, 300, 8, (rv_metric) m, 32, 1e-5);
	resident_case(gpu, cpu, label, q, 2, x, 300, 8, RV_METRIC_IP, 10, 1e-5);
	resident_case(gpu, cpu, label, q, 2, x, 300, 8, RV_METRIC_COSINE, 10, 1e-5);

	/* forced small splits: the corpus crosses many blocks */
	fill_uniform(x, 2000 * 16, 10);
	fill_uniform(q, 16 * 16, 11);
	rv_set_split_bytes(gpu, 1024);
	snprintf(label, sizeof(label), "%s split 1024 B", variant);
	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m += step)
		topk_case(gpu, cpu, label, q, 4, x, 2000, 16, (rv_metric) m, 10, 1e-5);
	rv_set_split_bytes(gpu, 0);

	/* the resident top-k and the exact kNN on top of it */
	fill_uniform(x, 1500 * 24, 12);
	fill_uniform(q, 20 * 24, 13);
	snprintf(label, sizeof(label), "%s resident uniform", variant);
	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m += step)
		resident_case(gpu, cpu, label, q, 3, x, 1500, 24, (rv_metric) m, 10, 1e-5);
	resident_case(gpu, cpu, label, q, 20, x, 1500, 24, RV_METRIC_COSINE, 25, 1e-5);
	resident_case(gpu, cpu, label, q, 1, x, 40, 24, RV_METRIC_L2, 10, 1e-5);

	/* duplicates and zero vectors: the first list cannot prove the k-th place */
	fill_int(x, 300 * 8, 2, 14);
	for (i = 1; i < 4; i++)
		memcpy(x + i * 300 * 8, x, 300 * 8 * sizeof(float));
	memset(x + 17 * 8, 0, 8 * sizeof(float));
	fill_int(q, 4 * 8, 2, 15);
	snprintf(label, sizeof(label), "%s resident ties", variant);
	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m += step)
		resident_case(gpu, cpu, label, q, 4, x, 1200, 8, (rv_metric) m, 10,
					  m == RV_METRIC_COSINE ? 1e-5 : 0);
	{
		long		full = gpu->knn_full;

		/* 1,200 copies of one row: every list is one tie, only every distance decides */
		for (i = 1; i < 1200; i++)
			memcpy(x + i * 8, x, 8 * sizeof(float));
		resident_case(gpu, cpu, label, q, 2, x, 1200, 8, RV_METRIC_L2, 10, 0);
		ok(gpu->knn_full > full, "one row 1,200 times: the last resort over every distance ran");
	}

	/* huge and tiny rows: keys of -inf come first and are recomputed exactly */
	fill_uniform(x, 800 * 8, 16);
	for (i = 0; i < 8 * 30; i++)
		x[i] *= 1e30f;
	for (i = 8 * 30; i < 8 * 60; i++)
		x[i] *= 1e-25f;
	fill_uniform(q, 2 * 8, 17);
	snprintf(label, sizeof(label), "%s resident huge and tiny rows", variant);
	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m += step)
		resident_case(gpu, cpu, label, q, 2, x, 800, 8, (rv_metric) m, 10, 1e-5);

	/* split into blocks of 10 rows: many dispatches in one submission */
	fill_uniform(x, 1500 * 24, 18);
	fill_uniform(q, 20 * 24, 19);
	rv_set_split_bytes(gpu, 1024);
	snprintf(label, sizeof(label), "%s resident split 1024 B", variant);
	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m += step)
		resident_case(gpu, cpu, label, q, 5, x, 333, 24, (rv_metric) m, 10, 1e-5);
	rv_set_split_bytes(gpu, 0);

	free(x);
	free(q);
}

static void
test_device(const rv_device_info *dev)
{
	test_host	thg,
				thc;
	rv_ctx	   *gpu,
			   *cpu;
	char		spec[32],
				variant[64];
	rv_resident *r = NULL;
	float	   *x = xmalloc(500 * 16 * sizeof(float)),
			   *q = xmalloc(2 * 16 * sizeof(float)),
				dist[2 * 40],
				err[2 * 40];
	int64_t		rows[2 * 40];
	double		rest[2];

	snprintf(spec, sizeof(spec), "vulkan:%d", dev->index);
	gpu = ctx_on(&thg, spec);
	cpu = ctx_on(&thc, "cpu");
	if (rvk_use_device(gpu, dev->index) != RV_OK)
	{
		printf("Bail out! cannot open %s\n", spec);
		exit(1);
	}
	printf("# few-query kernel on %s (%s): subgroup size %u\n", spec, dev->name,
		   rvk_subgroup_size(gpu));
	if (rvk_subgroup_size(gpu) > 0)
	{
		snprintf(variant, sizeof(variant), "%s subgroups", spec);
		run_cases(gpu, cpu, variant, 1);
	}
	else
		printf("# %s has no subgroup arithmetic in compute shaders: the plain variant only\n", spec);
	rvk_set_no_subgroups(gpu, 1);
	ok(rvk_subgroup_size(gpu) == 0, "the test hook selects the plain variant");
	snprintf(variant, sizeof(variant), "%s plain", spec);
	run_cases(gpu, cpu, variant, 2);
	rvk_set_no_subgroups(gpu, 0);

	/* arguments, limits, and failures of the resident top-k */
	fill_uniform(x, 500 * 16, 20);
	fill_uniform(q, 2 * 16, 21);
	is_int(rv_resident_create(gpu, x, 500, 16, &r), RV_OK, "create");
	is_int(rv_resident_topk(gpu, r, RV_METRIC_L2, q, 2, 0, rows, dist, err, rest),
		   RV_E_INVALID_PARAM, "k = 0: RV_E_INVALID_PARAM");
	is_int(rv_resident_topk(gpu, r, RV_METRIC_L2, q, 2, RV_RESIDENT_MAX_CANDIDATES + 1, rows,
							dist, err, rest), RV_E_LIMIT, "k above the limit: RV_E_LIMIT");
	is_int(rv_resident_topk(gpu, r, (rv_metric) 7, q, 2, 40, rows, dist, err, rest),
		   RV_E_INVALID_PARAM, "unknown metric: RV_E_INVALID_PARAM");
	is_int(rv_resident_topk(gpu, r, RV_METRIC_L2, q, 2, 40, rows, dist, NULL, NULL), RV_OK,
		   "err and rest may be NULL");
	thg.interrupt_calls = 0;
	thg.interrupt_after = 0;
	is_int(rv_resident_topk(gpu, r, RV_METRIC_L2, q, 2, 40, rows, dist, err, rest),
		   RV_E_INTERRUPTED, "interrupt: RV_E_INTERRUPTED");
	thg.interrupt_after = -1;
	rvk_test_inject(gpu, VK_ERROR_DEVICE_LOST, 1);
	is_int(rv_resident_topk(gpu, r, RV_METRIC_L2, q, 2, 40, rows, dist, err, rest),
		   RV_E_DEVICE_LOST, "device lost: RV_E_DEVICE_LOST");
	ok(!rv_resident_alive(r), "device lost: the corpus was released");
	{
		int64_t		kr[20];
		double		kd[20];

		is_int(rv_resident_knn(gpu, r, x, RV_METRIC_L2, q, 2, 10, kr, kd), RV_E_DEVICE_LOST,
			   "released corpus: rv_resident_knn gives RV_E_DEVICE_LOST");
	}
	rv_resident_destroy(gpu, r);

	rv_ctx_destroy(gpu);
	rv_ctx_destroy(cpu);
	is_int(thg.live, 0, "no allocation leaks (device context)");
	is_int(thc.live, 0, "no allocation leaks (CPU context)");
	free(x);
	free(q);
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
