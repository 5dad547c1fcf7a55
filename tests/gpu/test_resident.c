/*
 * test_resident.c — resident corpora (bridge/resident.c, bridge/vk/resident.c) on every
 * Vulkan device present, against the CPU per-pair functions (rv_metric_distance).
 *
 * Tolerance: every device distance must lie within the error bound the call reports for
 * it (the exact distance in out +/- err), and that bound must be small: at most 1e-4
 * relative to max(1, |distance|) for the data here. The bound is what the rvflat index
 * scan relies on for its exact order, so it is checked for every pair, on uniform data,
 * small-integer data (exact ties), zero vectors, near-duplicate rows and large values
 * (for ip the scale is max(1, |x| |q|), since its error grows with the norms; a zero
 * vector's cosine may get an infinite bound, which makes the scan compute it exactly).
 * Splits are forced small (rv_set_split_bytes) so corpora cross many blocks, uploads are
 * forced through the staging copy, and faults are injected into the submissions.
 */
#include "gpu_common.h"

#define BOUND_TOL 1e-4

static const char *metric_names[] = {"l2", "ip", "cosine", "l1"};

/*
 * Compare the device distances of nq queries over x (n x d) with rv_metric_distance:
 * returns 1 when every exact distance lies within out +/- err and every err is below
 * BOUND_TOL (scaled); prints the first offender otherwise.
 */
static int
within_bounds(const float *out, const float *err, const float *q, size_t nq,
			  const float *x, size_t n, size_t d, rv_metric m, double tol)
{
	size_t		i,
				j;

	for (j = 0; j < nq; j++)
		for (i = 0; i < n; i++)
		{
			double		e = rv_metric_distance(m, q + j * d, x + i * d, d);
			double		g = out[j * n + i];
			double		b = err[j * n + i];
			double		xn = sqrt(rv_inner_product(x + i * d, x + i * d, d));
			double		qn = sqrt(rv_inner_product(q + j * d, q + j * d, d));
			double		scale = fabs(e) > 1.0 ? fabs(e) : 1.0;

			/* an inner product's error scales with |x| |q|, not with its value */
			if (m == RV_METRIC_IP && xn * qn > scale)
				scale = xn * qn;
			/* a zero vector's cosine is always refined exactly: an infinite bound is right */
			if (m == RV_METRIC_COSINE && (xn == 0.0 || qn == 0.0) && isinf(b))
				continue;
			if (!(fabs(g - e) <= b) || (tol > 0 && b / scale > tol))
			{
				printf("# %s q%zu row %zu: device %.9g exact %.9g bound %.3g\n",
					   metric_names[m], j, i, g, e, b);
				return 0;
			}
		}
	return 1;
}

/* Create, compute for every metric, check, destroy; a test line per metric. */
static void
check_all_metrics(rv_ctx *gpu, const char *what, const float *q, size_t nq, const float *x,
				  size_t n, size_t d, double tol)
{
	rv_resident *r = NULL;
	float	   *out = xmalloc(nq * n * sizeof(float));
	float	   *err = xmalloc(nq * n * sizeof(float));
	rv_status	st;
	int			m;
	char		name[200];

	st = rv_resident_create(gpu, x, n, d, &r);
	snprintf(name, sizeof(name), "%s: create", what);
	is_int(st, RV_OK, name);
	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m++)
	{
		st = r != NULL ? rv_resident_distances(gpu, r, (rv_metric) m, q, nq, out, err)
			: RV_E_INTERNAL;
		snprintf(name, sizeof(name), "%s: %s distances within their bounds", what,
				 metric_names[m]);
		ok(st == RV_OK && within_bounds(out, err, q, nq, x, n, d, (rv_metric) m, tol), name);
	}
	rv_resident_destroy(gpu, r);
	free(out);
	free(err);
}

static void
test_device(const rv_device_info *dev)
{
	test_host	thg;
	char		spec[32];
	rv_ctx	   *gpu;
	size_t		n = 1500,
				d = 24;
	float	   *x = xmalloc(n * d * sizeof(float));
	float	   *q = xmalloc(8 * d * sizeof(float));
	float	   *out = xmalloc(8 * n * sizeof(float));
	float	   *out2 = xmalloc(8 * n * sizeof(float));
	float	   *err = xmalloc(8 * n * sizeof(float));
	rv_resident *r = NULL;
	rv_resident *r2 = NULL;
	size_t		i;

	snprintf(spec, sizeof(spec), "vulkan:%d", dev->index);
	printf("# resident corpora on %s (%s)\n", spec, dev->name);
	gpu = ctx_on(&thg, spec);

	/* uniform data, one query and several, odd sizes that do not fill a tile */
	fill_uniform(x, n * d, 1);
	fill_uniform(q, 8 * d, 2);
	check_all_metrics(gpu, "uniform 1500 x 24, 1 query", q, 1, x, n, d, BOUND_TOL);
	check_all_metrics(gpu, "uniform 1500 x 24, 8 queries", q, 8, x, n, d, BOUND_TOL);
	check_all_metrics(gpu, "uniform 37 x 3, 5 queries", q, 5, x, 37, 3, BOUND_TOL);

	/* small integers: exact ties; a zero row and a zero query (cosine distance 1) */
	fill_int(x, n * d, 3, 3);
	fill_int(q, 8 * d, 3, 4);
	memset(x + 7 * d, 0, d * sizeof(float));
	memcpy(x + 8 * d, x + 9 * d, d * sizeof(float));
	memset(q + 2 * d, 0, d * sizeof(float));
	check_all_metrics(gpu, "integers with ties and zero vectors", q, 3, x, n, d, BOUND_TOL);

	/* near-duplicates of the query: l2 and cosine distances near 0 */
	fill_uniform(q, d, 5);
	for (i = 0; i < 200; i++)
	{
		size_t		j;

		for (j = 0; j < d; j++)
			x[i * d + j] = q[j] + (float) ((i % 7) * 1e-6 * (j % 3));
	}
	check_all_metrics(gpu, "near-duplicate rows", q, 1, x, 200, d, BOUND_TOL);

	/* large values: float32 sums near overflow get an infinite bound, never a wrong one */
	fill_uniform(x, n * d, 6);
	fill_uniform(q, 8 * d, 7);
	for (i = 0; i < 100 * d; i++)
		x[i] *= 3e18f;
	q[0] = 2e19f;
	check_all_metrics(gpu, "large values", q, 2, x, 300, d, 0);

	/* reuse: one upload, many calls, the same bits each time */
	fill_uniform(x, n * d, 8);
	fill_uniform(q, 8 * d, 9);
	is_int(rv_resident_create(gpu, x, n, d, &r), RV_OK, "reuse: create");
	is_int((int) rv_resident_rows(r), (int) n, "reuse: rows");
	is_int((int) rv_resident_dims(r), (int) d, "reuse: dims");
	is_int((int) rv_resident_bytes(r), (int) (n * d * sizeof(float)), "reuse: device bytes");
	is_int(rv_resident_device_index(r), dev->index, "reuse: device index");
	ok(strncmp(rv_last_backend(gpu), spec, strlen(spec)) == 0, "reuse: backend names the device");
	rv_resident_distances(gpu, r, RV_METRIC_L2, q, 2, out, NULL);
	for (i = 0; i < 3; i++)
		rv_resident_distances(gpu, r, RV_METRIC_COSINE, q + d, 1, out2, err);
	rv_resident_distances(gpu, r, RV_METRIC_L2, q, 2, out2, NULL);
	ok(memcmp(out, out2, 2 * n * sizeof(float)) == 0,
	   "reuse: the same bits after other calls on the same corpus");
	/* a second corpus beside the first */
	is_int(rv_resident_create(gpu, x + 100 * d, 50, d, &r2), RV_OK, "two corpora: create");
	rv_resident_distances(gpu, r2, RV_METRIC_L2, q, 1, out2, NULL);
	ok(memcmp(out + 100, out2, 50 * sizeof(float)) == 0,
	   "two corpora: the second gives the first's distances for its rows");
	rv_resident_destroy(gpu, r2);
	r2 = NULL;

	/* bad arguments */
	is_int(rv_resident_distances(gpu, r, (rv_metric) 9, q, 1, out, NULL), RV_E_INVALID_PARAM,
		   "unknown metric: RV_E_INVALID_PARAM");
	is_int(rv_resident_distances(gpu, r, RV_METRIC_L2, q, 0, out, NULL), RV_E_INVALID_PARAM,
		   "no query: RV_E_INVALID_PARAM");
	is_int(rv_resident_create(gpu, x, 0, d, &r2), RV_E_INVALID_PARAM, "no rows: RV_E_INVALID_PARAM");
	is_int(rv_resident_create(gpu, x, 10, RV_MAX_DIMS + 1, &r2), RV_E_TOO_MANY_DIMS,
		   "too many dimensions: RV_E_TOO_MANY_DIMS");

	/* interrupt: RV_E_INTERRUPTED, the corpus stays usable */
	thg.interrupt_calls = 0;
	thg.interrupt_after = 0;
	is_int(rv_resident_distances(gpu, r, RV_METRIC_L2, q, 1, out2, NULL), RV_E_INTERRUPTED,
		   "interrupt: RV_E_INTERRUPTED");
	thg.interrupt_after = -1;
	is_int(rv_resident_distances(gpu, r, RV_METRIC_L2, q, 1, out2, NULL), RV_OK,
		   "interrupt: the next call runs");
	ok(memcmp(out, out2, n * sizeof(float)) == 0, "interrupt: same distances afterwards");

	/* device lost during a call: RV_E_DEVICE_LOST, the corpus released, a new one works */
	rvk_test_inject(gpu, VK_ERROR_DEVICE_LOST, 1);
	is_int(rv_resident_distances(gpu, r, RV_METRIC_L2, q, 1, out2, NULL), RV_E_DEVICE_LOST,
		   "device lost: RV_E_DEVICE_LOST");
	is_str(rv_last_backend(gpu), "cpu (fallback after VK_ERROR_DEVICE_LOST)",
		   "device lost: backend notes the fallback");
	ok(!rv_resident_alive(r), "device lost: the corpus was released");
	is_int(rv_resident_distances(gpu, r, RV_METRIC_L2, q, 1, out2, NULL), RV_E_DEVICE_LOST,
		   "released corpus: RV_E_DEVICE_LOST again");
	rv_resident_destroy(gpu, r);
	is_int(rv_resident_create(gpu, x, n, d, &r), RV_OK, "after the loss: a new upload works");
	is_int(rv_resident_distances(gpu, r, RV_METRIC_L2, q, 2, out2, NULL), RV_OK,
		   "after the loss: distances");
	ok(memcmp(out, out2, 2 * n * sizeof(float)) == 0, "after the loss: the same bits");
	rv_resident_destroy(gpu, r);
	r = NULL;

	/* forced small splits: many blocks, a staging upload, faults during the upload */
	rv_set_split_bytes(gpu, 1024);	/* 10 rows of d = 24 per block */
	fill_uniform(x, n * d, 10);
	fill_uniform(q, 8 * d, 11);
	check_all_metrics(gpu, "split 1024 B, 8 queries", q, 8, x, 333, d, BOUND_TOL);
	rv_set_resident_staging(gpu, 1);
	check_all_metrics(gpu, "split 1024 B, staging upload", q, 3, x, 333, d, BOUND_TOL);
	/* the staging path submits once per block: the third copy fails */
	rvk_test_inject(gpu, VK_ERROR_OUT_OF_DEVICE_MEMORY, 3);
	is_int(rv_resident_create(gpu, x, 333, d, &r), RV_E_DEVICE_LOST,
		   "out of device memory during a staged upload: RV_E_DEVICE_LOST");
	ok(r == NULL, "failed upload: no handle");
	is_str(rv_last_backend(gpu), "cpu (fallback after VK_ERROR_OUT_OF_DEVICE_MEMORY)",
		   "failed upload: backend notes the fallback");
	/* chunks smaller than a block: two staging buffers in turn fill one block */
	rv_set_split_bytes(gpu, 0);
	rvk_set_stage_bytes(gpu, 1000);	/* 10 rows of d = 24 per chunk */
	check_all_metrics(gpu, "staging in chunks of 10 rows, one block", q, 3, x, 333, d, BOUND_TOL);
	{
		rv_resident *r3 = NULL;
		int			norms_ok = 1;

		is_int(rv_resident_create(gpu, x, 333, d, &r3), RV_OK, "chunked staging: create");
		for (i = 0; r3 != NULL && i < 333; i++)
			norms_ok &= fabs(r3->norms[i] - sqrt(rv_inner_product(x + i * d, x + i * d, d))) <=
				1e-6 * r3->norms[i];
		ok(r3 != NULL && norms_ok, "chunked staging: every row's norm noted on the way");
		rv_resident_destroy(gpu, r3);
		/* the 4th of 34 chunk copies fails: the error, no handle, the device released */
		rvk_test_inject(gpu, VK_ERROR_OUT_OF_DEVICE_MEMORY, 4);
		is_int(rv_resident_create(gpu, x, 333, d, &r3), RV_E_DEVICE_LOST,
			   "chunked staging, a copy fails: RV_E_DEVICE_LOST");
		ok(r3 == NULL, "chunked staging, a copy fails: no handle");
	}
	rvk_set_stage_bytes(gpu, 0);
	rv_set_split_bytes(gpu, 1024);
	rv_set_resident_staging(gpu, 0);
	rv_set_split_bytes(gpu, 64);	/* below one row of 96 bytes */
	is_int(rv_resident_create(gpu, x, 333, d, &r), RV_E_LIMIT, "split below one row: RV_E_LIMIT");
	rv_set_split_bytes(gpu, 0);

	/* a device switch releases the corpora of the old device */
	is_int(rv_resident_create(gpu, x, n, d, &r), RV_OK, "switch: create");
	rv_set_device(gpu, "cpu");
	{
		int			dv = 0;

		is_int(rv_resident_device(gpu, n, d, &dv), RV_OK, "cpu mode: device choice runs");
		is_int(dv, -1, "cpu mode: no device for a resident corpus");
		is_int(rv_resident_create(gpu, x, n, d, &r2), RV_E_UNSUPPORTED,
			   "cpu mode: create is RV_E_UNSUPPORTED");
	}
	rv_set_device(gpu, spec);

	/* rv_ctx_destroy frees a corpus that is still there, with no leak */
	rv_ctx_destroy(gpu);
	is_int(thg.live, 0, "no allocation leaks after rv_ctx_destroy with a live corpus");

	/* out of host memory at every allocation of a create: a status, never a leak */
	{
		long		k;
		int			all_ok = 1;

		for (k = 1; k <= 40; k++)
		{
			rv_status	st;

			gpu = ctx_on(&thg, spec);
			thg.fail_at = thg.total + k;
			st = rv_resident_create(gpu, x, 100, d, &r);
			thg.fail_at = 0;
			if (st == RV_OK)
				rv_resident_destroy(gpu, r);
			else if (st != RV_E_NOMEM && st != RV_E_DEVICE && st != RV_E_DEVICE_LOST &&
					 st != RV_E_UNSUPPORTED && st != RV_E_INVALID_PARAM)
				all_ok = 0;
			rv_ctx_destroy(gpu);
			if (thg.live != 0)
				all_ok = 0;
		}
		ok(all_ok, "failing each of the first 40 allocations: a status and no leak");
	}

	free(x);
	free(q);
	free(out);
	free(out2);
	free(err);
}

int
main(void)
{
	rv_device_info devs[MAX_TEST_DEVICES];
	size_t		n = list_test_devices(devs),
				i;

	/* the bound itself: pure, checked without a device */
	ok(isinf(rv_resident_error_bound(RV_METRIC_L2, 8, 1, 1, INFINITY)),
	   "bound: a non-finite device distance gets an infinite bound");
	ok(isinf(rv_resident_error_bound(RV_METRIC_COSINE, 8, 1e-40, 1, 1.0)),
	   "bound: cosine of a vector with a tiny norm gets an infinite bound");
	ok(rv_resident_error_bound(RV_METRIC_IP, 768, 1, 1, 0.5) < 1e-3,
	   "bound: inner product of unit vectors in 768 dimensions below 1e-3");
	if (n == 0)
	{
		printf("# no Vulkan device\n");
		return done_testing();
	}
	for (i = 0; i < n; i++)
		test_device(&devs[i]);
	return done_testing();
}
