/*
 * bench_gpucheck.c — the relvec figures of the GPU check (bench/gpu-check.sh, README "GPU
 * check"), measured in one run on one Vulkan device and on the CPU twin with the same
 * shapes; bench/gpucheck_torch.py measures the same shapes with PyTorch on the same GPU,
 * and bench/gpucheck_table.py prints them side by side with the targets.
 *
 *   setup      loader + instance; device; pipeline creation with an empty pipeline cache
 *              directory (cold) and again from the file that run left (warm); the first
 *              dispatch after each (lavapipe compiles the shader code there)
 *   upload     rv_resident_create of rows x dims floats (the norms are taken on the way)
 *   top-1      resident exact top-k, one query (rv_resident_knn: the few-query kernel,
 *              then the exact recheck on the host), median of --reps queries; the device
 *              time of its submissions (timestamp queries) too
 *   top-100    the same for a batch of --queries queries; and for 16 (one pass of the
 *              kernel), and one query with the kernel's tuning swept (workgroups aimed at,
 *              row loads unrolled or not), device time only
 *   simmatrix  sim-rows x dims against --anchors anchors, cosine (rv_simmatrix: host arrays
 *              in and out), and its kernel time alone
 *   CPU twin   top-1, top-100 and the similarity matrix on the CPU path (one OpenBLAS
 *              thread, as inside a PostgreSQL backend)
 * Results are printed and written as JSON (--json FILE); nothing is asserted here except
 * that the device's top-k rows equal the CPU's (reported as a check).
 *
 *   bench_gpucheck --list            the Vulkan devices and what "auto" picks
 *   bench_gpucheck --probe           prints "probe ok" (the binary and its libraries load)
 *   bench_gpucheck --setup-only [--device SPEC]   the setup figures alone
 *   bench_gpucheck [--device SPEC] [--rows N] [--sim-rows N] [--dims D] [--anchors K]
 *                  [--k K] [--queries Q] [--reps R] [--json FILE] [--no-cpu]
 * Defaults are small (20,000 rows, 5,000 similarity rows), so that `make bench` stays short;
 * the GPU check passes the shapes (1,000,000 and 100,000 rows).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vk/vk_internal.h"
#include "testhost.h"
#include "bench_util.h"

typedef struct opts
{
	const char *device;
	size_t		rows;
	size_t		sim_rows;
	size_t		dims;
	size_t		anchors;
	size_t		k;
	size_t		queries;
	int			reps;
	const char *json;
	int			cpu;
} opts;

/* Every figure; NAN where not measured. */
typedef struct figures
{
	char		device[300];
	char		type[32];
	char		driver[300];
	uint32_t	subgroup;
	double		t_instance,
				t_device,
				t_pipes_cold,
				t_first_cold,
				t_device_warm,
				t_pipes_warm,
				t_first_warm;
	int			npipes;
	long		pcache_bytes;
	int			pcache_loaded;
	double		upload_s,
				upload_gbps;
	double		top1_ms,
				top1_dev_ms,
				top100_ms,
				top100_dev_ms;
	long		knn_retries,
				knn_full;
	int			top_exact;		/* 1: the device's rows equal the CPU's, 0: not, -1: n/a */
	double		sim_ms,
				sim_dev_ms,
				sim_maxdiff;
	double		cpu_top1_ms,
				cpu_top100_ms,
				cpu_sim_ms;
	double		top16_ms,
				top16_dev_ms;
	/* the few-query kernel's tuning, one query: device ms by workgroups and unrolling */
	int			nsweep;
	size_t		sweep_groups[8];
	int			sweep_unroll[8];
	double		sweep_dev_ms[8];
} figures;

/* n uniform values in [-1, 1) from seed (xorshift64*, as the tests). */
static void
fill(float *v, size_t n, uint64_t seed)
{
	uint64_t	s = seed * 0x9E3779B97F4A7C15ull + 1;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		s ^= s >> 12;
		s ^= s << 25;
		s ^= s >> 27;
		v[i] = (float) ((double) ((s * 2685821657736338717ull) >> 11) / (double) (1ull << 53) * 2.0 - 1.0);
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	if (n <= 0)
		return NAN;
	qsort(v, (size_t) n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void
fail_line(const char *what, rv_ctx *ctx, rv_status st)
{
	printf("  %-40s FAILED: %s: %s (%s)\n", what, rv_status_name(st), rv_errmsg(ctx),
		   rv_errdetail(ctx));
}

/* A context on spec (exits on a bad spec). */
static rv_ctx *
new_ctx(test_host *th, const char *spec)
{
	rv_ctx	   *ctx = test_ctx(th);

	if (rv_set_device(ctx, spec) != RV_OK)
	{
		printf("bad device %s: %s\n", spec, rv_errmsg(ctx));
		exit(2);
	}
	return ctx;
}

/* --list: the devices and the automatic choice. */
static int
list_devices(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	rv_device_info info[16];
	size_t		n = 0,
				i;
	int			pick = -1;

	if (rv_list_devices(ctx, info, 16, &n) != RV_OK)
		n = 0;
	printf("Vulkan devices: %zu\n", n);
	for (i = 0; i < n && i < 16; i++)
	{
		printf("  vulkan:%d  %s  (%s; %s; %.0f MiB device-local)%s\n", info[i].index,
			   info[i].name, info[i].type, info[i].driver, info[i].memory_bytes / 1048576.0,
			   info[i].auto_pick ? "  <- auto" : "");
		if (info[i].auto_pick)
			pick = (int) i;
	}
	if (pick >= 0)
		printf("auto picks: vulkan:%d %s\n", pick, info[pick].name);
	else
		printf("auto picks: cpu (no GPU-type Vulkan device)\n");
	rv_ctx_destroy(ctx);
	return 0;
}

/* A top-k on the CPU twin (rv_topk, exact float distances): wall seconds. */
static double
cpu_topk(rv_ctx *cpu, const float *q, size_t nq, const float *x, size_t n, size_t d, size_t k,
		 int64_t *rows, float *dist)
{
	rv_topk_args a;
	double		t0;
	rv_status	st;

	rv_topk_reset(rows, dist, nq, k);
	memset(&a, 0, sizeof(a));
	a.q = q;
	a.nq = nq;
	a.x = x;
	a.n = n;
	a.d = d;
	a.metric = RV_METRIC_COSINE;
	a.k = k;
	a.best_rows = rows;
	a.best_dist = dist;
	t0 = now_ms();
	st = rv_topk(cpu, &a);
	if (st != RV_OK)
	{
		fail_line("CPU top-k", cpu, st);
		return NAN;
	}
	return (now_ms() - t0) * 1e-3;
}

/* The similarity matrix (cosine) of x (n x d) against a (k x d): wall seconds. */
static double
simmatrix(rv_ctx *ctx, const float *x, size_t n, const float *a, size_t k, size_t d, float *out)
{
	rv_simmatrix_args s;
	double		t0;
	rv_status	st;

	memset(&s, 0, sizeof(s));
	s.x = x;
	s.n = n;
	s.a = a;
	s.k = k;
	s.d = d;
	s.sim = RV_SIM_COSINE;
	s.out = out;
	t0 = now_ms();
	st = rv_simmatrix(ctx, &s);
	if (st != RV_OK)
	{
		fail_line("similarity matrix", ctx, st);
		return NAN;
	}
	return (now_ms() - t0) * 1e-3;
}

/*
 * Setup figures on device index dev: cold (an empty cache directory) and warm (the file the
 * cold run left). The driver's own disk caches are the script's business (it turns them off).
 */
static void
setup_figures(const char *spec, int dev, size_t d, figures *f)
{
	char		dir[] = "/tmp/relvec-gpucheck-pcache-XXXXXX";
	int			pass;

	if (mkdtemp(dir) == NULL)
	{
		printf("  mkdtemp failed: no setup figures\n");
		return;
	}
	for (pass = 0; pass < 2; pass++)
	{
		test_host	th;
		rv_ctx	   *ctx = new_ctx(&th, spec);
		float	   *x = malloc(4096 * d * sizeof(float));
		float		q[16384];
		int64_t		rows[10];
		float		dist[10];
		rvk_pcache_stats ps;
		double		t0,
					t_dev,
					t_pipes,
					t_first;
		rv_status	st;

		rv_set_pipeline_cache_dir(ctx, dir);
		t0 = now_ms();
		st = rvk_use_device(ctx, dev);
		t_dev = (now_ms() - t0) * 1e-3;
		if (st != RV_OK)
		{
			fail_line("device creation", ctx, st);
			rv_ctx_destroy(ctx);
			free(x);
			break;
		}
		rvk_get_pcache_stats(ctx, &ps);
		t0 = now_ms();
		st = rvk_warm_pipelines(ctx);
		t_pipes = (now_ms() - t0) * 1e-3;
		if (st != RV_OK)
			fail_line("pipeline creation", ctx, st);
		fill(x, 4096 * d, 77);
		fill(q, d, 78);
		t_first = cpu_topk(ctx, q, 1, x, 4096, d, 10, rows, dist);
		if (pass == 0)
		{
			rvk_pcache_stats after;

			rvk_get_pcache_stats(ctx, &after);
			f->t_device = t_dev;
			f->t_pipes_cold = t_pipes;
			f->t_first_cold = t_first;
			f->npipes = ctx->vk != NULL ? ctx->vk->npipes : 0;
			f->pcache_bytes = after.save_bytes;
			snprintf(f->device, sizeof(f->device), "%s", rvk_device_name(ctx));
			f->subgroup = rvk_subgroup_size(ctx);
		}
		else
		{
			f->t_device_warm = t_dev;
			f->t_pipes_warm = t_pipes;
			f->t_first_warm = t_first;
			f->pcache_loaded = ps.loaded;
		}
		rv_ctx_destroy(ctx);
		free(x);
	}
	{
		char		cmd[sizeof(dir) + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("  could not remove %s\n", dir);
	}
}

static void
json_num(FILE *fp, const char *name, double v, int last)
{
	if (isnan(v) || isinf(v))
		fprintf(fp, "  \"%s\": null%s\n", name, last ? "" : ",");
	else
		fprintf(fp, "  \"%s\": %.9g%s\n", name, v, last ? "" : ",");
}

/* JSON-escape a string into buf. */
static const char *
jstr(const char *s, char *buf, size_t size)
{
	size_t		j = 0;

	for (; *s && j + 2 < size; s++)
	{
		if (*s == '"' || *s == '\\')
			buf[j++] = '\\';
		buf[j++] = (*s >= 0x20) ? *s : ' ';
	}
	buf[j] = '\0';
	return buf;
}

static void
write_json(const char *path, const opts *o, const figures *f)
{
	FILE	   *fp = fopen(path, "w");
	char		b1[700],
				b2[700];
	int			i;

	if (fp == NULL)
	{
		printf("cannot write %s\n", path);
		return;
	}
	fprintf(fp, "{\n  \"device\": \"%s\",\n  \"type\": \"%s\",\n  \"driver\": \"%s\",\n",
			jstr(f->device, b1, sizeof(b1)), f->type, jstr(f->driver, b2, sizeof(b2)));
	fprintf(fp, "  \"rows\": %zu,\n  \"sim_rows\": %zu,\n  \"dims\": %zu,\n  \"anchors\": %zu,\n"
			"  \"k\": %zu,\n  \"queries\": %zu,\n  \"reps\": %d,\n  \"subgroup_size\": %u,\n"
			"  \"pipelines\": %d,\n  \"pcache_bytes\": %ld,\n  \"pcache_loaded\": %d,\n"
			"  \"knn_retries\": %ld,\n  \"knn_full\": %ld,\n  \"top_exact\": %d,\n",
			o->rows, o->sim_rows, o->dims, o->anchors, o->k, o->queries, o->reps, f->subgroup,
			f->npipes, f->pcache_bytes, f->pcache_loaded, f->knn_retries, f->knn_full,
			f->top_exact);
	json_num(fp, "instance_ms", f->t_instance * 1e3, 0);
	json_num(fp, "device_ms", f->t_device * 1e3, 0);
	json_num(fp, "pipelines_cold_ms", f->t_pipes_cold * 1e3, 0);
	json_num(fp, "first_dispatch_cold_ms", f->t_first_cold * 1e3, 0);
	json_num(fp, "device_warm_ms", f->t_device_warm * 1e3, 0);
	json_num(fp, "pipelines_warm_ms", f->t_pipes_warm * 1e3, 0);
	json_num(fp, "first_dispatch_warm_ms", f->t_first_warm * 1e3, 0);
	json_num(fp, "upload_s", f->upload_s, 0);
	json_num(fp, "upload_gbps", f->upload_gbps, 0);
	json_num(fp, "top1_ms", f->top1_ms, 0);
	json_num(fp, "top1_device_ms", f->top1_dev_ms, 0);
	json_num(fp, "top100_ms", f->top100_ms, 0);
	json_num(fp, "top100_device_ms", f->top100_dev_ms, 0);
	json_num(fp, "sim_ms", f->sim_ms, 0);
	json_num(fp, "sim_device_ms", f->sim_dev_ms, 0);
	json_num(fp, "sim_maxdiff", f->sim_maxdiff, 0);
	json_num(fp, "cpu_top1_ms", f->cpu_top1_ms, 0);
	json_num(fp, "cpu_top100_ms", f->cpu_top100_ms, 0);
	json_num(fp, "top16_ms", f->top16_ms, 0);
	json_num(fp, "top16_device_ms", f->top16_dev_ms, 0);
	fprintf(fp, "  \"sweep\": [");
	for (i = 0; i < f->nsweep; i++)
		fprintf(fp, "%s{\"groups\": %zu, \"unroll\": %d, \"device_ms\": %.6g}", i ? ", " : "",
				f->sweep_groups[i], f->sweep_unroll[i], f->sweep_dev_ms[i]);
	fprintf(fp, "],\n");
	json_num(fp, "cpu_sim_ms", f->cpu_sim_ms, 1);
	fprintf(fp, "}\n");
	fclose(fp);
	printf("figures written to %s\n", path);
}

/* Parse the options; exits on a bad one. */
static void
parse(int argc, char **argv, opts *o)
{
	int			i;

	o->device = "auto";
	o->rows = 20000;
	o->sim_rows = 5000;
	o->dims = 768;
	o->anchors = 256;
	o->k = 10;
	o->queries = 100;
	o->reps = 20;
	o->json = NULL;
	o->cpu = 1;
	for (i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--no-cpu") == 0)
		{
			o->cpu = 0;
			continue;
		}
		if (v == NULL)
		{
			printf("option %s needs a value\n", a);
			exit(2);
		}
		i++;
		if (strcmp(a, "--device") == 0)
			o->device = v;
		else if (strcmp(a, "--rows") == 0)
			o->rows = (size_t) atol(v);
		else if (strcmp(a, "--sim-rows") == 0)
			o->sim_rows = (size_t) atol(v);
		else if (strcmp(a, "--dims") == 0)
			o->dims = (size_t) atol(v);
		else if (strcmp(a, "--anchors") == 0)
			o->anchors = (size_t) atol(v);
		else if (strcmp(a, "--k") == 0)
			o->k = (size_t) atol(v);
		else if (strcmp(a, "--queries") == 0)
			o->queries = (size_t) atol(v);
		else if (strcmp(a, "--reps") == 0)
			o->reps = atoi(v);
		else if (strcmp(a, "--json") == 0)
			o->json = v;
		else
		{
			printf("unknown option %s\n", a);
			exit(2);
		}
	}
	if (o->rows < 1 || o->sim_rows < 1 || o->dims < 1 || o->dims > RV_MAX_DIMS || o->k < 1 ||
		o->queries < 1 || o->reps < 1 || o->anchors < 1)
	{
		printf("sizes must be positive\n");
		exit(2);
	}
}

int
main(int argc, char **argv)
{
	opts		o;
	figures		f;
	test_host	thg,
				thc;
	rv_ctx	   *gpu = NULL,
			   *cpu;
	int			dev = -1;
	char		spec[32];
	float	   *x,
			   *q,
			   *a,
			   *sg = NULL,
			   *sc = NULL;
	int64_t    *crow;
	float	   *cdist;
	int64_t    *grow,
			   *brow;
	double	   *gdist,
			   *bdist;
	double	   *tw,
			   *td;
	size_t		d,
				i;
	rv_status	st;

	if (argc == 2 && strcmp(argv[1], "--list") == 0)
		return list_devices();
	if (argc == 2 && strcmp(argv[1], "--probe") == 0)
	{
		printf("probe ok\n");
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "--setup-only") == 0)
	{
		/* the setup figures alone, on the device --device names (for the driver's own cache) */
		argv[1] = "--no-cpu";
		parse(argc, argv, &o);
		memset(&f, 0, sizeof(f));
		if (strncmp(o.device, "vulkan:", 7) != 0)
		{
			test_host	th;
			rv_ctx	   *ctx = new_ctx(&th, o.device);

			(void) rvk_auto_pick(ctx, &dev);
			rv_ctx_destroy(ctx);
		}
		else
			dev = atoi(o.device + 7);
		if (dev < 0)
		{
			printf("no Vulkan device for %s\n", o.device);
			return 1;
		}
		snprintf(spec, sizeof(spec), "vulkan:%d", dev);
		setup_figures(spec, dev, o.dims, &f);
		printf("setup on %s: device %.2f ms, pipelines %.2f ms, first dispatch %.2f ms; "
			   "again: device %.2f ms, pipelines %.2f ms, first dispatch %.2f ms\n", spec,
			   f.t_device * 1e3, f.t_pipes_cold * 1e3, f.t_first_cold * 1e3,
			   f.t_device_warm * 1e3, f.t_pipes_warm * 1e3, f.t_first_warm * 1e3);
		return 0;
	}
	parse(argc, argv, &o);
	d = o.dims;
	memset(&f, 0, sizeof(f));
	f.t_instance = f.t_device = f.t_pipes_cold = f.t_first_cold = NAN;
	f.t_device_warm = f.t_pipes_warm = f.t_first_warm = NAN;
	f.upload_s = f.upload_gbps = f.top1_ms = f.top1_dev_ms = f.top100_ms = f.top100_dev_ms = NAN;
	f.sim_ms = f.sim_dev_ms = f.sim_maxdiff = NAN;
	f.cpu_top1_ms = f.cpu_top100_ms = f.cpu_sim_ms = NAN;
	f.top16_ms = f.top16_dev_ms = NAN;
	f.top_exact = -1;
	snprintf(f.device, sizeof(f.device), "cpu");
	snprintf(f.type, sizeof(f.type), "none");

	printf("relvec GPU check figures: %zu x %zu corpus, %zu queries, top-%zu, similarity matrix "
		   "%zu x %zu x %zu, device %s\n", o.rows, d, o.queries, o.k, o.sim_rows, d, o.anchors,
		   o.device);

	/* which device */
	{
		test_host	th;
		rv_ctx	   *ctx = new_ctx(&th, o.device);
		rv_device_info info[16];
		size_t		n = 0;
		double		t0 = now_ms();

		rv_list_devices(ctx, info, 16, &n);
		f.t_instance = (now_ms() - t0) * 1e-3;
		if (strncmp(o.device, "vulkan:", 7) == 0)
			dev = atoi(o.device + 7);
		else if (strcmp(o.device, "cpu") != 0)
			(void) rvk_auto_pick(ctx, &dev);
		if (dev >= 0 && (size_t) dev < n && dev < 16)
		{
			snprintf(f.type, sizeof(f.type), "%s", info[dev].type);
			snprintf(f.driver, sizeof(f.driver), "%s", info[dev].driver);
		}
		else
			dev = -1;
		rv_ctx_destroy(ctx);
	}
	if (dev >= 0)
	{
		snprintf(spec, sizeof(spec), "vulkan:%d", dev);
		printf("setup on %s:\n", spec);
		setup_figures(spec, dev, d, &f);
		printf("  %-40s %10.2f ms\n", "loader + instance + enumeration", f.t_instance * 1e3);
		printf("  %-40s %10.2f ms\n", "device", f.t_device * 1e3);
		printf("  %-40s %10.2f ms (%d variants)\n", "pipelines, empty cache directory", f.t_pipes_cold * 1e3, f.npipes);
		printf("  %-40s %10.2f ms\n", "first dispatch after them", f.t_first_cold * 1e3);
		printf("  %-40s %10.2f ms (%ld bytes of cache data)\n", "device, cache file read", f.t_device_warm * 1e3, f.pcache_bytes);
		printf("  %-40s %10.2f ms (file %s)\n", "pipelines, warm cache file", f.t_pipes_warm * 1e3,
			   f.pcache_loaded ? "used" : "NOT used");
		printf("  %-40s %10.2f ms\n", "first dispatch after them", f.t_first_warm * 1e3);
	}
	else
		printf("no Vulkan device for %s: the CPU twin only\n", o.device);

	x = malloc(o.rows * d * sizeof(float));
	q = malloc(o.queries * d * sizeof(float));
	a = malloc(o.anchors * d * sizeof(float));
	crow = malloc(o.queries * o.k * sizeof(int64_t));
	cdist = malloc(o.queries * o.k * sizeof(float));
	grow = malloc(o.queries * o.k * sizeof(int64_t));
	gdist = malloc(o.queries * o.k * sizeof(double));
	brow = malloc(o.queries * o.k * sizeof(int64_t));
	bdist = malloc(o.queries * o.k * sizeof(double));
	tw = malloc((size_t) o.reps * sizeof(double));
	td = malloc((size_t) o.reps * sizeof(double));
	if (!x || !q || !a || !crow || !cdist || !grow || !gdist || !brow || !bdist || !tw || !td)
	{
		printf("out of memory\n");
		return 1;
	}
	fill(x, o.rows * d, 1);
	fill(q, o.queries * d, 2);
	fill(a, o.anchors * d, 3);
	cpu = new_ctx(&thc, "cpu");

	if (dev >= 0)
	{
		rv_resident *r = NULL;
		int			rep;

		gpu = new_ctx(&thg, spec);
		rvk_set_timing(gpu, 1);
		printf("%s %s (%s, subgroup size %u):\n", spec, f.device, f.driver, f.subgroup);

		/* upload: twice, the faster counts (the first also maps fresh host pages) */
		for (rep = 0; rep < 2; rep++)
		{
			double		t0 = now_ms(),
						t;

			if (r != NULL)
				rv_resident_destroy(gpu, r);
			r = NULL;
			st = rv_resident_create(gpu, x, o.rows, d, &r);
			t = (now_ms() - t0) * 1e-3;
			if (st != RV_OK)
			{
				fail_line("upload", gpu, st);
				break;
			}
			if (isnan(f.upload_s) || t < f.upload_s)
				f.upload_s = t;
		}
		if (r != NULL)
		{
			f.upload_gbps = o.rows * d * sizeof(float) / f.upload_s * 1e-9;
			printf("  %-40s %10.2f ms  %.2f GB/s\n", "upload (resident create)", f.upload_s * 1e3,
				   f.upload_gbps);
		}

		/* resident exact top-k, one query at a time */
		if (r != NULL)
		{
			int			n = 0;

			rvk_take_device_seconds(gpu);
			for (rep = -3; rep < o.reps; rep++)
			{
				size_t		qi = (size_t) (rep + 3) % o.queries;
				double		t0 = now_ms();

				st = rv_resident_knn(gpu, r, x, RV_METRIC_COSINE, q + qi * d, 1, o.k, grow, gdist);
				if (st != RV_OK)
				{
					fail_line("resident top-k, one query", gpu, st);
					break;
				}
				if (rep >= 0)
				{
					tw[n] = now_ms() - t0;
					td[n] = rvk_take_device_seconds(gpu) * 1e3;
					n++;
				}
				else
					rvk_take_device_seconds(gpu);
			}
			if (n == o.reps)
			{
				f.top1_ms = median(tw, n);
				f.top1_dev_ms = median(td, n);
				printf("  %-40s %10.3f ms  (device %.3f ms), median of %d\n",
					   "resident exact top-k, one query", f.top1_ms, f.top1_dev_ms, n);
			}
		}
		/* a batch of queries */
		if (r != NULL && !isnan(f.top1_ms))
		{
			int			n = 0;
			int			reps = o.reps < 5 ? o.reps : 5;

			for (rep = -1; rep < reps; rep++)
			{
				double		t0 = now_ms();

				st = rv_resident_knn(gpu, r, x, RV_METRIC_COSINE, q, o.queries, o.k, grow, gdist);
				if (st != RV_OK)
				{
					fail_line("resident top-k, batch", gpu, st);
					break;
				}
				if (rep >= 0)
				{
					tw[n] = now_ms() - t0;
					td[n] = rvk_take_device_seconds(gpu) * 1e3;
					n++;
				}
				else
					rvk_take_device_seconds(gpu);
			}
			/* the batch's answer, for the check against the CPU at the end */
			memcpy(brow, grow, o.queries * o.k * sizeof(int64_t));
			memcpy(bdist, gdist, o.queries * o.k * sizeof(double));
			if (n == reps)
			{
				f.top100_ms = median(tw, n);
				f.top100_dev_ms = median(td, n);
				printf("  %-40s %10.3f ms  (device %.3f ms), median of %d\n",
					   "resident exact top-k, batch", f.top100_ms, f.top100_dev_ms, n);
			}
			/* one pass of a full batch of the kernel (16 queries) */
			{
				int			n16 = 0;

				for (rep = -1; rep < reps && o.queries >= 16; rep++)
				{
					double		t0 = now_ms();

					st = rv_resident_knn(gpu, r, x, RV_METRIC_COSINE, q, 16, o.k, grow, gdist);
					if (st != RV_OK)
					{
						fail_line("resident top-k, 16 queries", gpu, st);
						break;
					}
					if (rep >= 0)
					{
						tw[n16] = now_ms() - t0;
						td[n16] = rvk_take_device_seconds(gpu) * 1e3;
						n16++;
					}
					else
						rvk_take_device_seconds(gpu);
				}
				if (n16 == reps)
				{
					f.top16_ms = median(tw, n16);
					f.top16_dev_ms = median(td, n16);
					printf("  %-40s %10.3f ms  (device %.3f ms), median of %d\n",
						   "resident exact top-k, 16 queries", f.top16_ms, f.top16_dev_ms, n16);
				}
			}
			/* the kernel's tuning: workgroups aimed at, loads unrolled or not (one query) */
			{
				static const size_t groups[3] = {256, 1024, 4096};
				int			gi,
							un;

				printf("  few-query kernel, one query, device ms by workgroups aimed at:\n");
				for (gi = 0; gi < 3; gi++)
					for (un = 1; un >= 0; un--)
					{
						int			ns = 0;
						int			sr = o.reps < 10 ? o.reps : 10;

						rvk_set_fewq_tuning(gpu, groups[gi], un);
						for (rep = -2; rep < sr; rep++)
						{
							st = rv_resident_knn(gpu, r, x, RV_METRIC_COSINE,
												 q + (size_t) (rep + 2) % o.queries * d, 1, o.k,
												 grow, gdist);
							if (st != RV_OK)
								break;
							if (rep >= 0)
								td[ns++] = rvk_take_device_seconds(gpu) * 1e3;
							else
								rvk_take_device_seconds(gpu);
						}
						if (ns == sr && f.nsweep < 8)
						{
							f.sweep_groups[f.nsweep] = groups[gi];
							f.sweep_unroll[f.nsweep] = un;
							f.sweep_dev_ms[f.nsweep] = median(td, ns);
							printf("    %5zu groups, %s  %10.3f ms\n", groups[gi],
								   un ? "unrolled x4" : "no unroll  ", f.sweep_dev_ms[f.nsweep]);
							f.nsweep++;
						}
					}
				rvk_set_fewq_tuning(gpu, 0, 1);
			}
			f.knn_retries = gpu->knn_retries;
			f.knn_full = gpu->knn_full;
			printf("  %-40s %ld longer lists, %ld full passes\n", "recheck fallbacks (all calls)",
				   f.knn_retries, f.knn_full);
		}
		rv_resident_destroy(gpu, r);

		/* similarity matrix: host arrays in and out, and the kernel alone */
		sg = malloc(o.sim_rows * o.anchors * sizeof(float));
		if (sg != NULL && o.sim_rows <= o.rows)
		{
			int			n = 0,
						reps = 3;

			simmatrix(gpu, x, o.sim_rows < 1024 ? o.sim_rows : 1024, a, o.anchors, d, sg);
			rvk_take_device_seconds(gpu);
			for (rep = 0; rep < reps; rep++)
			{
				double		t = simmatrix(gpu, x, o.sim_rows, a, o.anchors, d, sg);

				if (isnan(t))
					break;
				tw[n] = t * 1e3;
				td[n] = rvk_take_device_seconds(gpu) * 1e3;
				n++;
			}
			if (n == reps)
			{
				f.sim_ms = median(tw, n);
				f.sim_dev_ms = median(td, n);
				printf("  %-40s %10.3f ms  (device %.3f ms: %.1f GFLOP/s)\n", "similarity matrix, cosine",
					   f.sim_ms, f.sim_dev_ms, 2.0 * o.sim_rows * o.anchors * d / (f.sim_dev_ms * 1e-3) * 1e-9);
			}
		}
	}

	/* the CPU twin, same shapes */
	if (o.cpu)
	{
		double		t;
		int			rep,
					n = 0;

		printf("CPU twin (one OpenBLAS thread):\n");
		for (rep = 0; rep < 3; rep++)
		{
			t = cpu_topk(cpu, q + (size_t) rep * d, 1, x, o.rows, d, o.k, crow, cdist);
			if (isnan(t))
				break;
			tw[n++] = t * 1e3;
		}
		if (n == 3)
		{
			f.cpu_top1_ms = median(tw, n);
			printf("  %-40s %10.3f ms, median of 3\n", "exact top-k, one query", f.cpu_top1_ms);
		}
		t = cpu_topk(cpu, q, o.queries, x, o.rows, d, o.k, crow, cdist);
		f.cpu_top100_ms = t * 1e3;
		printf("  %-40s %10.3f ms\n", "exact top-k, batch", f.cpu_top100_ms);
		sc = malloc(o.sim_rows * o.anchors * sizeof(float));
		if (sc != NULL && o.sim_rows <= o.rows)
		{
			t = simmatrix(cpu, x, o.sim_rows, a, o.anchors, d, sc);
			f.cpu_sim_ms = t * 1e3;
			printf("  %-40s %10.3f ms\n", "similarity matrix, cosine", f.cpu_sim_ms);
		}
	}

	/* checks: the device's batch answer against the CPU's, the matrices against each other */
	if (gpu != NULL && o.cpu && !isnan(f.top100_ms) && !isnan(f.cpu_top100_ms))
	{
		/* the batch's answer is in brow/bdist, the CPU's in crow/cdist */
		int			same = 1;
		size_t		swaps = 0;

		/* the CPU orders by the distance rounded to float: rows may trade places on a tie */
		for (i = 0; i < o.queries * o.k; i++)
		{
			same &= (float) bdist[i] == cdist[i];
			swaps += brow[i] != crow[i];
		}
		f.top_exact = same;
		printf("check: the device's exact top-%zu of %zu queries %s the CPU's (%zu rows in other "
			   "places on ties of the float distance)\n", o.k, o.queries,
			   same ? "equals" : "DIFFERS from", swaps);
	}
	if (sg != NULL && sc != NULL && !isnan(f.sim_ms) && !isnan(f.cpu_sim_ms))
	{
		double		m = 0;

		for (i = 0; i < o.sim_rows * o.anchors; i++)
			if (fabs(sg[i] - sc[i]) > m)
				m = fabs(sg[i] - sc[i]);
		f.sim_maxdiff = m;
		printf("check: similarity matrix max |device - CPU| = %.2e\n", m);
	}

	if (o.json != NULL)
		write_json(o.json, &o, &f);
	if (gpu != NULL)
		rv_ctx_destroy(gpu);
	rv_ctx_destroy(cpu);
	free(x);
	free(q);
	free(a);
	free(sg);
	free(sc);
	free(crow);
	free(cdist);
	free(grow);
	free(gdist);
	free(brow);
	free(bdist);
	free(tw);
	free(td);
	return 0;
}
