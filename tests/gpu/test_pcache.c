/*
 * test_pcache.c — the pipeline cache on disk (bridge/vk/pcache.c) on every Vulkan device
 * present: a file per device and driver is written after pipelines are built and read by
 * the next context; a damaged, truncated, oversized or foreign file is ignored (the work
 * still runs and gives the same bits) and replaced by the next save; no temporary file is
 * left behind; a directory that cannot be written costs nothing but the cache; a path that
 * is too long is refused. Also prints cold and warm pipeline creation times.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gpu_common.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A small similarity matrix on ctx into out (16 x 8, d = 12). */
static rv_status
small_sim(rv_ctx *ctx, float *out)
{
	float		x[16 * 12],
				a[8 * 12];
	rv_simmatrix_args args;

	fill_uniform(x, 16 * 12, 41);
	fill_uniform(a, 8 * 12, 42);
	memset(&args, 0, sizeof(args));
	args.x = x;
	args.n = 16;
	args.a = a;
	args.k = 8;
	args.d = 12;
	args.sim = RV_SIM_COSINE;
	args.out = out;
	return rv_simmatrix(ctx, &args);
}

/* Number of entries of dir other than . and ..; *tmp gets those whose name has ".tmp.". */
static int
count_files(const char *dir, int *tmp)
{
	DIR		   *d = opendir(dir);
	struct dirent *e;
	int			n = 0;

	*tmp = 0;
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
	{
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		n++;
		if (strstr(e->d_name, ".tmp.") != NULL)
			(*tmp)++;
	}
	closedir(d);
	return n;
}

/* Size of a file, -1 if missing. */
static long
file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (long) sb.st_size : -1;
}

/* Overwrite one byte of a file at off with its complement. */
static void
flip_byte(const char *path, long off)
{
	int			fd = open(path, O_RDWR);
	unsigned char c;

	if (fd < 0)
		return;
	if (pread(fd, &c, 1, off) == 1)
	{
		c = (unsigned char) ~c;
		if (pwrite(fd, &c, 1, off) != 1)
			printf("# pwrite failed\n");
	}
	close(fd);
}

/* A context on spec with the cache in dir, device opened, pipelines built; stats out. */
static rv_ctx *
open_cached(test_host *th, const char *spec, int index, const char *dir, double *t_pipes,
			rvk_pcache_stats *after_open)
{
	rv_ctx	   *ctx = ctx_on(th, spec);
	double		t0;

	rv_set_pipeline_cache_dir(ctx, dir);
	if (rvk_use_device(ctx, index) != RV_OK)
	{
		printf("Bail out! cannot open %s: %s\n", spec, rv_errmsg(ctx));
		exit(1);
	}
	rvk_get_pcache_stats(ctx, after_open);
	t0 = now();
	if (rvk_warm_pipelines(ctx) != RV_OK)
	{
		printf("Bail out! pipelines on %s: %s\n", spec, rv_errmsg(ctx));
		exit(1);
	}
	*t_pipes = now() - t0;
	return ctx;
}

static void
test_device(const rv_device_info *dev)
{
	test_host	th;
	char		spec[32];
	char		dir[] = "/tmp/relvec-pcache-test-XXXXXX";
	char		path[RV_PATH_MAX + 128];
	char		sub[sizeof(dir) + 64];
	rvk_pcache_stats st0,
				st1;
	double		t_cold,
				t_warm;
	float		ref[16 * 8],
				got[16 * 8];
	rv_ctx	   *ctx;
	long		size;
	int			ntmp;

	snprintf(spec, sizeof(spec), "vulkan:%d", dev->index);
	printf("# pipeline cache on %s (%s)\n", spec, dev->name);
	if (mkdtemp(dir) == NULL)
	{
		printf("Bail out! mkdtemp failed\n");
		exit(1);
	}

	/* no directory: nothing is read or written */
	ctx = open_cached(&th, spec, dev->index, "", &t_cold, &st0);
	rvk_get_pcache_stats(ctx, &st1);
	ok(st0.loaded == 0 && st0.rejected == 0 && st1.saves == 0, "no directory: no cache file is read or written");
	is_str(rv_pipeline_cache_dir(ctx), "", "no directory: the setting reads \"\"");
	is_int(small_sim(ctx, ref), RV_OK, "no directory: the kernels run");
	rv_ctx_destroy(ctx);

	/* cold: the directory is made, one file written after the pipelines */
	snprintf(sub, sizeof(sub), "%s/cache/", dir);
	ctx = open_cached(&th, spec, dev->index, sub, &t_cold, &st0);
	rvk_get_pcache_stats(ctx, &st1);
	rvk_pcache_path(ctx, path, sizeof(path));
	ok(strstr(path, "/cache/relvec-pcache-") != NULL && strstr(path, "//") == NULL,
	   "cold: the file is in the directory (a trailing slash is dropped)");
	ok(st0.loaded == 0 && st0.rejected == 0, "cold: no file to read");
	is_int(st1.saves, 1, "cold: one save after building every pipeline");
	size = file_size(path);
	ok(size > 56 && size == 56 + st1.save_bytes, "cold: the file holds the header and the driver's data");
	snprintf(sub, sizeof(sub), "%s/cache", dir);
	is_int(count_files(sub, &ntmp), 1, "cold: one file in the directory");
	is_int(ntmp, 0, "cold: no temporary file left");
	rv_ctx_destroy(ctx);

	/* warm: the next context reads it, and writes nothing when nothing changed */
	ctx = open_cached(&th, spec, dev->index, sub, &t_warm, &st0);
	rvk_get_pcache_stats(ctx, &st1);
	ok(st0.loaded == 1 && st0.rejected == 0 && st0.load_bytes == size - 56,
	   "warm: the file is read and handed to the driver");
	is_int(small_sim(ctx, got), RV_OK, "warm: the kernels run");
	ok(memcmp(ref, got, sizeof(ref)) == 0, "warm: the same bits as without a cache");
	printf("# %s: pipeline creation cold %.1f ms, warm %.1f ms (%ld bytes of cache data)\n",
		   spec, t_cold * 1e3, t_warm * 1e3, size - 56);
	rv_ctx_destroy(ctx);

	/* damaged data: ignored, the work runs, and the next save replaces the file */
	flip_byte(path, size - 1);
	ctx = open_cached(&th, spec, dev->index, sub, &t_warm, &st0);
	rvk_get_pcache_stats(ctx, &st1);
	ok(st0.loaded == 0 && st0.rejected == 1, "damaged data (checksum): the file is ignored");
	is_int(small_sim(ctx, got), RV_OK, "damaged data: the kernels run");
	ok(memcmp(ref, got, sizeof(ref)) == 0, "damaged data: the same bits");
	is_int(st1.saves, 1, "damaged data: the cache is written afresh");
	rv_ctx_destroy(ctx);
	ctx = open_cached(&th, spec, dev->index, sub, &t_warm, &st0);
	ok(st0.loaded == 1, "after the rewrite: the file is read again");
	rv_ctx_destroy(ctx);

	/* a header of another device or driver: ignored */
	flip_byte(path, 20);		/* driverVersion */
	ctx = open_cached(&th, spec, dev->index, sub, &t_warm, &st0);
	ok(st0.loaded == 0 && st0.rejected == 1, "another driver version in the header: ignored");
	rv_ctx_destroy(ctx);

	/* truncated: ignored */
	if (truncate(path, size - 3) != 0)
		printf("# truncate failed\n");
	ctx = open_cached(&th, spec, dev->index, sub, &t_warm, &st0);
	ok(st0.loaded == 0 && st0.rejected == 1, "a truncated file: ignored");
	rv_ctx_destroy(ctx);

	/* larger than RV_PIPELINE_CACHE_MAX_BYTES (sparse): ignored without reading it */
	if (truncate(path, (off_t) RV_PIPELINE_CACHE_MAX_BYTES + 1024) != 0)
		printf("# truncate failed\n");
	ctx = open_cached(&th, spec, dev->index, sub, &t_warm, &st0);
	rvk_get_pcache_stats(ctx, &st1);
	ok(st0.loaded == 0 && st0.rejected == 1, "an oversized file: ignored");
	ok(file_size(path) > 56 && file_size(path) < (long) RV_PIPELINE_CACHE_MAX_BYTES,
	   "an oversized file: replaced by a file of a cache's size");
	rv_ctx_destroy(ctx);

	/* a directory that cannot be made or written: the kernels run, nothing is raised */
	snprintf(sub, sizeof(sub), "%s/no/such/parent", dir);
	ctx = open_cached(&th, spec, dev->index, sub, &t_warm, &st0);
	rvk_get_pcache_stats(ctx, &st1);
	is_int(small_sim(ctx, got), RV_OK, "a directory that cannot be made: the kernels run");
	ok(st1.saves == 0 && strstr(th.last_log, "not saved") != NULL,
	   "a directory that cannot be made: no save, a debug log line");
	rv_ctx_destroy(ctx);

	/* two contexts saving into one directory: one valid file, no temporary file */
	snprintf(sub, sizeof(sub), "%s/shared", dir);
	{
		test_host	th2;
		rv_ctx	   *c2;

		ctx = open_cached(&th, spec, dev->index, sub, &t_warm, &st0);
		c2 = open_cached(&th2, spec, dev->index, sub, &t_warm, &st0);
		rv_ctx_destroy(c2);
		rv_ctx_destroy(ctx);
		ctx = open_cached(&th, spec, dev->index, sub, &t_warm, &st0);
		ok(st0.loaded == 1, "two writers: the file left is valid");
		ok(count_files(sub, &ntmp) == 1 && ntmp == 0, "two writers: one file, no temporary file");
		rv_ctx_destroy(ctx);
	}

	/* the setting itself */
	ctx = ctx_on(&th, spec);
	{
		char		longp[RV_PATH_MAX + 10];

		memset(longp, 'a', sizeof(longp) - 1);
		longp[sizeof(longp) - 1] = '\0';
		is_int(rv_set_pipeline_cache_dir(ctx, longp), RV_E_INVALID_PARAM,
			   "a path of RV_PATH_MAX bytes or more: RV_E_INVALID_PARAM");
		is_int(rv_set_pipeline_cache_dir(ctx, NULL), RV_OK, "NULL: no cache");
		is_str(rv_pipeline_cache_dir(ctx), "", "NULL reads as \"\"");
	}
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "no allocation leaks");

	/* clean up the scratch directory */
	{
		char		cmd[sizeof(dir) + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
}

int
main(void)
{
	rv_device_info devs[MAX_TEST_DEVICES];
	size_t		n = list_test_devices(devs),
				i;

	if (n == 0)
	{
		printf("# no Vulkan device\n");
		ok(1, "no Vulkan device: nothing to cache");
		return done_testing();
	}
	for (i = 0; i < n; i++)
		test_device(&devs[i]);
	return done_testing();
}
