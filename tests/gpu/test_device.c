/*
 * test_device.c — the device setting and the dispatcher's choices: spec parsing, device
 * listing, "auto" on a machine without a GPU (the CPU, and Vulkan opened at most once),
 * "cpu" never touching the loader, "gpu" without a GPU, bad indices, and no leaks.
 * Runs with or without a Vulkan device; the checks that need one adapt.
 */
#include "gpu_common.h"

/* Run a similarity matrix of n x k x d on ctx; returns the status. */
static rv_status
sim(rv_ctx *ctx, size_t n, size_t k, size_t d)
{
	float	   *x = xmalloc(n * d * 4),
			   *a = xmalloc(k * d * 4),
			   *o = xmalloc(n * k * 4);
	rv_simmatrix_args args;
	rv_status	st;

	fill_uniform(x, n * d, 1);
	fill_uniform(a, k * d, 2);
	memset(&args, 0, sizeof(args));
	args.x = x;
	args.n = n;
	args.a = a;
	args.k = k;
	args.d = d;
	args.sim = RV_SIM_COSINE;
	args.out = o;
	st = rv_simmatrix(ctx, &args);
	free(x);
	free(a);
	free(o);
	return st;
}

/* Run a top-10 of nq queries over n rows of d on ctx. */
static rv_status
topk(rv_ctx *ctx, size_t nq, size_t n, size_t d)
{
	float	   *q = xmalloc(nq * d * 4),
			   *x = xmalloc(n * d * 4),
			   *bd = xmalloc(nq * 10 * 4);
	int64_t    *br = xmalloc(nq * 10 * 8);
	rv_topk_args args;
	rv_status	st;

	fill_uniform(q, nq * d, 3);
	fill_uniform(x, n * d, 4);
	rv_topk_reset(br, bd, nq, 10);
	memset(&args, 0, sizeof(args));
	args.q = q;
	args.nq = nq;
	args.x = x;
	args.n = n;
	args.d = d;
	args.metric = RV_METRIC_L2;
	args.k = 10;
	args.best_rows = br;
	args.best_dist = bd;
	st = rv_topk(ctx, &args);
	free(q);
	free(x);
	free(bd);
	free(br);
	return st;
}

int
main(void)
{
	rv_device_info devs[MAX_TEST_DEVICES];
	size_t		ndev = list_test_devices(devs),
				i;
	int			have_gpu = 0;
	test_host	th;
	rv_ctx	   *ctx;
	rvk_counters c0,
				c1,
				c2;
	static const char *bad[] = {"foo", "", "vulkan:", "vulkan:x", "vulkan:-1", "vulkan:1a",
	"VULKAN:0", "Auto", "gpu ", "vulkan:12345"};
	static const char *good[] = {"auto", "cpu", "gpu", "vulkan:0", "vulkan:7"};

	for (i = 0; i < ndev; i++)
		have_gpu |= devs[i].auto_pick;

	/* spec parsing */
	ctx = test_ctx(&th);
	is_str(rv_device_spec(ctx), "auto", "default device spec is auto");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		char		want[128],
					name[128];

		snprintf(want, sizeof(want), "invalid relvec.device \"%s\"", bad[i]);
		snprintf(name, sizeof(name), "bad spec \"%s\": RV_E_INVALID_PARAM", bad[i]);
		is_int(rv_set_device(ctx, bad[i]), RV_E_INVALID_PARAM, name);
		snprintf(name, sizeof(name), "bad spec \"%s\": message", bad[i]);
		is_str(rv_errmsg(ctx), want, name);
	}
	is_str(rv_device_spec(ctx), "auto", "a refused spec leaves the setting alone");
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
	{
		char		name[128];

		snprintf(name, sizeof(name), "spec \"%s\" accepted and read back", good[i]);
		ok(rv_set_device(ctx, good[i]) == RV_OK && strcmp(rv_device_spec(ctx), good[i]) == 0,
		   name);
	}
	rv_ctx_destroy(ctx);

	/* listing */
	for (i = 0; i < ndev; i++)
	{
		char		name[320];

		snprintf(name, sizeof(name), "vulkan:%zu (%s) listed with a type", i, devs[i].name);
		ok(devs[i].index == (int) i && devs[i].type[0] != '\0', name);
		if (strcmp(devs[i].type, "cpu") == 0)
		{
			snprintf(name, sizeof(name), "vulkan:%zu is CPU-type: auto never picks it", i);
			ok(!devs[i].auto_pick, name);
		}
	}

	/* cpu mode never touches the loader, whatever the size */
	ctx = ctx_on(&th, "cpu");
	rvk_get_counters(&c0);
	is_int(sim(ctx, 300, 300, 300), RV_OK, "cpu: large similarity matrix runs");
	is_int(topk(ctx, 100, 20000, 64), RV_OK, "cpu: large top-k runs");
	rvk_get_counters(&c1);
	is_int(c1.loader_opens - c0.loader_opens, 0, "cpu: the Vulkan loader was never opened");
	is_str(rv_last_backend(ctx), "cpu (relvec.device = cpu)", "cpu: backend noted");
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "cpu: no leaks");

	/* auto: small work stays on the CPU without looking for a device */
	ctx = ctx_on(&th, "auto");
	rvk_get_counters(&c0);
	is_int(sim(ctx, 10, 10, 10), RV_OK, "auto: small similarity matrix runs");
	is_str(rv_last_backend(ctx), "cpu (relvec.device = auto: work too small for a dispatch)",
		   "auto: small work noted");
	is_int(topk(ctx, 1, 100, 8), RV_OK, "auto: small top-k runs");
	rvk_get_counters(&c1);
	is_int(c1.loader_opens - c0.loader_opens, 0, "auto: small work never opens the loader");

	/* auto: large work looks once; without a GPU it stays on the CPU for good */
	is_int(sim(ctx, 300, 300, 300), RV_OK, "auto: large similarity matrix runs");
	is_int(sim(ctx, 300, 300, 300), RV_OK, "auto: and again");
	is_int(topk(ctx, 100, 20000, 64), RV_OK, "auto: large top-k runs");
	rvk_get_counters(&c2);
	if (!have_gpu)
	{
		is_str(rv_last_backend(ctx), "cpu (relvec.device = auto: no GPU found)",
			   "auto without a GPU: the CPU, reason noted");
		ok(c2.loader_opens - c1.loader_opens <= 1, "auto without a GPU: the loader opened at most once");
		is_int(c2.devices_created - c1.devices_created, 0,
			   "auto without a GPU: no Vulkan device created (lavapipe is never chosen)");
		ok(ctx->vk == NULL, "auto without a GPU: no Vulkan state kept");
	}
	else
	{
		ok(strncmp(rv_last_backend(ctx), "vulkan:", 7) == 0, "auto with a GPU: runs on Vulkan");
		is_int(c2.devices_created - c1.devices_created, 1, "auto with a GPU: one device opened");
	}
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "auto: no leaks");

	/* gpu without a GPU is an error; a bad index too */
	ctx = ctx_on(&th, "gpu");
	if (!have_gpu)
	{
		is_int(sim(ctx, 4, 4, 4), RV_E_UNSUPPORTED, "gpu without a GPU: RV_E_UNSUPPORTED");
		is_str(rv_errmsg(ctx), "no GPU device found", "gpu without a GPU: message");
	}
	else
	{
		is_int(sim(ctx, 4, 4, 4), RV_OK, "gpu: runs on the GPU");
		ok(strncmp(rv_last_backend(ctx), "vulkan:", 7) == 0, "gpu: backend noted");
	}
	is_int(rv_set_device(ctx, "vulkan:99"), RV_OK, "vulkan:99 is a valid spec");
	is_int(sim(ctx, 4, 4, 4), RV_E_INVALID_PARAM, "vulkan:99: RV_E_INVALID_PARAM when used");
	is_str(rv_errmsg(ctx), "Vulkan device 99 does not exist", "vulkan:99: message");
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "gpu / bad index: no leaks");

	/* vulkan:N runs every size on the device, small included */
	for (i = 0; i < ndev; i++)
	{
		char		spec[32],
					name[128];

		snprintf(spec, sizeof(spec), "vulkan:%zu", i);
		ctx = ctx_on(&th, spec);
		rvk_get_counters(&c0);
		snprintf(name, sizeof(name), "%s: a tiny similarity matrix runs on the device", spec);
		ok(sim(ctx, 2, 2, 2) == RV_OK && strncmp(rv_last_backend(ctx), spec, strlen(spec)) == 0,
		   name);
		snprintf(name, sizeof(name), "%s: a tiny top-k runs on the device", spec);
		ok(topk(ctx, 1, 3, 2) == RV_OK && strncmp(rv_last_backend(ctx), spec, strlen(spec)) == 0,
		   name);
		rvk_get_counters(&c1);
		snprintf(name, sizeof(name), "%s: one device opened and kept", spec);
		is_int(c1.devices_created - c0.devices_created, 1, name);
		rv_ctx_destroy(ctx);
		snprintf(name, sizeof(name), "%s: no leaks after rv_ctx_destroy", spec);
		is_int(th.live, 0, name);
	}
	return done_testing();
}
