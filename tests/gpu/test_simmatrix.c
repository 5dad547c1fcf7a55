/*
 * test_simmatrix.c — the Vulkan similarity matrix (shaders/simmatrix.comp, rownorm.comp)
 * against its CPU twin on every Vulkan device present.
 *
 * Tolerance: every element within 1e-4 of the CPU value, absolute for values up to 1 in
 * magnitude and relative above (float accumulation on the device against the CPU's
 * sgemm / double loops). Exact checks: cosine with a zero vector is 0, and a second run
 * gives the same bits.
 */
#include "gpu_common.h"

#define TOL 1e-4

static const char *sim_names[] = {"cosine", "dot", "neg_l2", "neg_l1", "neg_linf"};

/* Run one similarity matrix on ctx; returns the status. */
static rv_status
run(rv_ctx *ctx, const float *x, size_t n, const float *a, size_t k, size_t d, rv_sim sim,
	const float *center, int normalize, float *out)
{
	rv_simmatrix_args args;

	memset(&args, 0, sizeof(args));
	args.x = x;
	args.n = n;
	args.a = a;
	args.k = k;
	args.d = d;
	args.sim = sim;
	args.center = center;
	args.normalize = normalize;
	args.out = out;
	return rv_simmatrix(ctx, &args);
}

/* Compare device against CPU for one configuration; one TAP line. */
static void
compare(rv_ctx *gpu, rv_ctx *cpu, const char *label, size_t n, size_t k, size_t d,
		rv_sim sim, int centered, int normalize, uint64_t seed)
{
	float	   *x = xmalloc(n * d * sizeof(float));
	float	   *a = xmalloc(k * d * sizeof(float));
	float	   *c = xmalloc(d * sizeof(float));
	float	   *og = xmalloc(n * k * sizeof(float));
	float	   *oc = xmalloc(n * k * sizeof(float));
	rv_status	sg,
				sc;
	size_t		where = 0;
	double		e;
	char		name[256];

	fill_uniform(x, n * d, seed);
	fill_uniform(a, k * d, seed + 1);
	fill_uniform(c, d, seed + 2);
	sg = run(gpu, x, n, a, k, d, sim, centered ? c : NULL, normalize, og);
	sc = run(cpu, x, n, a, k, d, sim, centered ? c : NULL, normalize, oc);
	e = (sg == RV_OK && sc == RV_OK) ? max_err(og, oc, n * k, &where) : INFINITY;
	snprintf(name, sizeof(name), "%s: %s n=%zu k=%zu d=%zu center=%d normalize=%d within %g",
			 label, sim_names[sim], n, k, d, centered, normalize, TOL);
	if (!ok(e <= TOL, name))
		printf("#   status %s / %s (%s), max error %g at %zu: got %.9g want %.9g\n",
			   rv_status_name(sg), rv_status_name(sc), rv_errmsg(gpu), e, where,
			   sg == RV_OK ? og[where] : 0.0f, oc[where]);
	free(x);
	free(a);
	free(c);
	free(og);
	free(oc);
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
	int			sim,
				cen,
				nrm;

	snprintf(spec, sizeof(spec), "vulkan:%d", dev->index);
	gpu = ctx_on(&thg, spec);
	cpu = ctx_on(&thc, "cpu");

	/* every sim x centering x normalization on sizes that fill no tile */
	for (sim = RV_SIM_COSINE; sim <= RV_SIM_NEG_LINF; sim++)
		for (cen = 0; cen <= 1; cen++)
			for (nrm = 0; nrm <= 1; nrm++)
				compare(gpu, cpu, spec, 37, 45, 19, (rv_sim) sim, cen, nrm, 100 + sim);
	snprintf(want, sizeof(want), "%s %s (relvec.device = %s)", spec, dev->name, spec);
	is_str(rv_last_backend(gpu), want, "backend names the Vulkan device");

	/* several tiles in both directions, a d that is not a multiple of the slice */
	for (sim = RV_SIM_COSINE; sim <= RV_SIM_NEG_LINF; sim++)
		compare(gpu, cpu, spec, 130, 200, 77, (rv_sim) sim, 1, 0, 200 + sim);
	/* one row, one anchor, one dimension */
	for (sim = RV_SIM_COSINE; sim <= RV_SIM_NEG_LINF; sim++)
		compare(gpu, cpu, spec, 1, 1, 1, (rv_sim) sim, 0, 0, 300 + sim);

	/* zero vectors: cosine 0 exactly, a zero row normalizes to zero */
	{
		size_t		n = 3,
					k = 4,
					d = 5,
					i;
		float		x[15],
					a[20],
					c[5],
					og[12],
					oc[12];
		int			zero_ok = 1;
		size_t		where;

		fill_uniform(x, n * d, 7);
		fill_uniform(a, k * d, 8);
		memset(x, 0, d * sizeof(float));	/* row 0 is zero */
		memset(a + 2 * d, 0, d * sizeof(float));	/* anchor 2 is zero */
		is_int(run(gpu, x, n, a, k, d, RV_SIM_COSINE, NULL, 1, og), RV_OK, "zero vectors: runs");
		for (i = 0; i < k; i++)
			zero_ok &= og[i] == 0.0f;
		for (i = 0; i < n; i++)
			zero_ok &= og[i * k + 2] == 0.0f;
		ok(zero_ok, "zero vectors: cosine is 0 and a zero row stays zero after normalize");
		run(cpu, x, n, a, k, d, RV_SIM_COSINE, NULL, 1, oc);
		ok(max_err(og, oc, n * k, &where) <= TOL, "zero vectors: equal to the CPU");
		/* a row equal to the center becomes zero */
		memcpy(c, x + d, d * sizeof(float));
		run(gpu, x, n, a, k, d, RV_SIM_COSINE, c, 0, og);
		zero_ok = 1;
		for (i = 0; i < k; i++)
			zero_ok &= og[k + i] == 0.0f;
		ok(zero_ok, "zero vectors: a row equal to the center has cosine 0");
	}

	/* the same bits on a second run */
	{
		size_t		n = 65,
					k = 66,
					d = 33;
		float	   *x = xmalloc(n * d * 4),
				   *a = xmalloc(k * d * 4),
				   *o1 = xmalloc(n * k * 4),
				   *o2 = xmalloc(n * k * 4);

		fill_uniform(x, n * d, 11);
		fill_uniform(a, k * d, 12);
		run(gpu, x, n, a, k, d, RV_SIM_COSINE, NULL, 1, o1);
		run(gpu, x, n, a, k, d, RV_SIM_COSINE, NULL, 1, o2);
		ok(memcmp(o1, o2, n * k * 4) == 0, "second run gives the same bits");
		free(x);
		free(a);
		free(o1);
		free(o2);
	}

	/* forced tiny split: rows and anchors cross many bindings */
	rv_set_split_bytes(gpu, 256);	/* d=16: 4 rows or anchors per binding */
	for (sim = RV_SIM_COSINE; sim <= RV_SIM_NEG_LINF; sim++)
		compare(gpu, cpu, "split 256 B", 70, 9, 16, (rv_sim) sim, 1, sim == RV_SIM_COSINE, 400 + sim);
	compare(gpu, cpu, "split 256 B, host normalize", 70, 9, 16, RV_SIM_DOT, 0, 1, 410);
	rv_set_split_bytes(gpu, 4096);	/* anchors in one binding, rows in blocks of 64 */
	compare(gpu, cpu, "split 4096 B, device normalize", 200, 8, 16, RV_SIM_NEG_L2, 1, 1, 420);
	/* the discrete-GPU path everywhere: device-local buffers, copies in and out */
	rv_set_resident_staging(gpu, 1);
	compare(gpu, cpu, "device-local copies, split 4096 B", 200, 8, 16, RV_SIM_NEG_L2, 1, 1, 421);
	rv_set_split_bytes(gpu, 256);
	compare(gpu, cpu, "device-local copies, split 256 B", 70, 9, 16, RV_SIM_COSINE, 1, 0, 422);
	compare(gpu, cpu, "device-local copies, split 256 B, host normalize", 70, 9, 16, RV_SIM_DOT, 0, 1, 423);
	rv_set_split_bytes(gpu, 0);
	compare(gpu, cpu, "device-local copies", 130, 70, 40, RV_SIM_NEG_L1, 1, 0, 424);
	rv_set_resident_staging(gpu, 0);
	rv_set_split_bytes(gpu, 4096);
	/* a split smaller than one row is a limit, not a crash */
	rv_set_split_bytes(gpu, 32);
	{
		float		x[16] = {0},
					a[16] = {0},
					o[1];

		is_int(run(gpu, x, 1, a, 1, 16, RV_SIM_DOT, NULL, 0, o), RV_E_LIMIT,
			   "split below one row: RV_E_LIMIT");
		is_str(rv_errmsg(gpu), "embedding of 16 dimensions does not fit one Vulkan storage "
			   "buffer binding", "split below one row: message");
	}
	rv_set_split_bytes(gpu, 0);

	/* an interrupt during the fence wait: RV_E_INTERRUPTED, nothing leaks */
	{
		size_t		n = 300,
					k = 300,
					d = 64;
		float	   *x = xmalloc(n * d * 4),
				   *a = xmalloc(k * d * 4),
				   *o = xmalloc(n * k * 4);

		fill_uniform(x, n * d, 21);
		fill_uniform(a, k * d, 22);
		thg.interrupt_calls = 0;
		thg.interrupt_after = 0;
		is_int(run(gpu, x, n, a, k, d, RV_SIM_DOT, NULL, 0, o), RV_E_INTERRUPTED,
			   "interrupt: RV_E_INTERRUPTED");
		thg.interrupt_after = -1;
		is_int(run(gpu, x, n, a, k, d, RV_SIM_DOT, NULL, 0, o), RV_OK,
			   "interrupt: the next call runs");
		free(x);
		free(a);
		free(o);
	}
	/* an interrupt while the fence is waited on (the dispatch outlasts one 5 ms slice) */
	{
		size_t		n = 512,
					k = 512,
					d = 256;
		float	   *x = xmalloc(n * d * 4),
				   *a = xmalloc(k * d * 4),
				   *o = xmalloc(n * k * 4);
		rv_status	st;

		fill_uniform(x, n * d, 23);
		fill_uniform(a, k * d, 24);
		thg.interrupt_calls = 0;
		thg.interrupt_after = 1;	/* the check before the submit passes, the next fails */
		st = run(gpu, x, n, a, k, d, RV_SIM_DOT, NULL, 0, o);
		thg.interrupt_after = -1;
		if (strcmp(dev->type, "cpu") == 0)
		{
			is_int(st, RV_E_INTERRUPTED, "interrupt during the fence wait: RV_E_INTERRUPTED");
			is_int(thg.interrupt_calls, 2, "interrupt during the fence wait: polled twice");
		}
		else
			ok(st == RV_E_INTERRUPTED || st == RV_OK,
			   "interrupt during the fence wait: RV_E_INTERRUPTED (or done within one slice)");
		free(x);
		free(a);
		free(o);
	}

	/* device lost: the call runs again on the CPU, with a notice */
	{
		int			notices = thg.notices;

		rvk_test_inject(gpu, VK_ERROR_DEVICE_LOST, 1);
		compare(gpu, cpu, "after injected VK_ERROR_DEVICE_LOST", 20, 30, 10, RV_SIM_COSINE, 0, 0, 500);
		is_str(rv_last_backend(gpu), "cpu (fallback after VK_ERROR_DEVICE_LOST)",
			   "device lost: backend notes the fallback");
		is_int(thg.notices, notices + 1, "device lost: one notice");
		compare(gpu, cpu, "after the fallback the device opens again", 20, 30, 10, RV_SIM_COSINE, 0, 0, 501);
		ok(strncmp(rv_last_backend(gpu), "vulkan:", 7) == 0, "device lost: next call on Vulkan");
	}
	/* another device error is returned, with the VkResult in the detail */
	{
		float		x[4] = {1, 2, 3, 4},
					o[1];

		rvk_test_inject(gpu, VK_ERROR_INITIALIZATION_FAILED, 1);
		is_int(run(gpu, x, 1, x, 1, 4, RV_SIM_DOT, NULL, 0, o), RV_E_DEVICE,
			   "injected VK_ERROR_INITIALIZATION_FAILED: RV_E_DEVICE");
		ok(strncmp(rv_errdetail(gpu), "VK_ERROR_INITIALIZATION_FAILED from vkQueueSubmit", 48) == 0,
		   "device error: detail names the VkResult and the call");
		printf("#   detail: %s\n", rv_errdetail(gpu));
	}

	rv_ctx_destroy(gpu);
	rv_ctx_destroy(cpu);
	is_int(thg.live, 0, "no allocation leaks after rv_ctx_destroy (device context)");
	is_int(thc.live, 0, "no allocation leaks after rv_ctx_destroy (CPU context)");
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
