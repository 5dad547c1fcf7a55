/*
 * test_topk.c — exact top-k search on the CPU (rvc_topk) and the shared list helpers
 * (rv_topk_reset, rv_topk_sort, rv_topk_merge) against a naive double-precision reference
 * written here: every metric, one query (streaming path) and several queries (sgemm
 * filter), k = 1, k > n, k = RV_MAX_K, zero vectors, exact ties (duplicate rows come back
 * in row order), chunks merged through row_base giving exactly the result of one call,
 * invalid arguments with their exact messages, allocation failures and interrupts, and no
 * leaks under the counting allocator.
 *
 * Checks of a result list against the reference:
 *   - strictly ascending by (distance, row), each row at most once, empty slots (-1, +inf)
 *     exactly after min(k, n) filled ones;
 *   - each distance within tolerance of the row's double distance:
 *       L2      1e-5 * ref + 1e-6
 *       IP      1e-5 * |q| * |x| + 1e-6
 *       cosine  1e-5
 *       L1      1e-5 * ref + 1e-6
 *   - each distance is the scalar reference rv_metric_distance rounded to float, bit for bit;
 *   - no row left out is nearer than the last one taken by more than twice the tolerance.
 * Values near 1e20 overflow float sums (sgemm and float lanes) and must still give the
 * reference; an IP distance beyond the float range is an infinity of its sign. Values near
 * 1e-20 and subnormal ones underflow them: cosine must still give the reference.
 * Paths and chunkings are compared with each other bit for bit, since every path inserts
 * the same per-pair distance.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tap.h"
#include "testhost.h"

static uint64_t rng = 2463534242ULL;
/* scale of the generated values (1 unless a test of huge values sets it) */
static float data_scale = 1.0f;

/* xorshift64: uniform in [-1, 1) */
static float
frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float) ((double) (rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *
rand_matrix(size_t rows, size_t d, float offset)
{
	float	   *m = malloc((rows * d + 1) * sizeof(float));
	size_t		i;

	for (i = 0; i < rows * d; i++)
		m[i] = offset + data_scale * frand();
	return m;
}

static const char *metric_names[] = {"l2", "ip", "cosine", "l1"};

/* Reference distance in double and its tolerance. */
static double
ref_dist(rv_metric m, const float *q, const float *x, size_t d, double *tol)
{
	double		dot = 0, qn = 0, xn = 0, l2 = 0, l1 = 0;
	size_t		i;

	for (i = 0; i < d; i++)
	{
		double		t = (double) q[i] - x[i];

		dot += (double) q[i] * x[i];
		qn += (double) q[i] * q[i];
		xn += (double) x[i] * x[i];
		l2 += t * t;
		l1 += fabs(t);
	}
	switch (m)
	{
		case RV_METRIC_L2:
			*tol = 1e-5 * sqrt(l2) + 1e-6;
			return sqrt(l2);
		case RV_METRIC_IP:
			*tol = 1e-5 * sqrt(qn * xn) + 1e-6;
			return -dot;
		case RV_METRIC_COSINE:
			*tol = 1e-5;
			return (qn == 0 || xn == 0) ? 1.0 : 1.0 - dot / sqrt(qn * xn);
		case RV_METRIC_L1:
			*tol = 1e-5 * l1 + 1e-6;
			return l1;
	}
	return 0;
}

/* Run rvc_topk over one chunk into lists the caller prepared; returns the status. */
static rv_status
run_topk(rv_ctx *ctx, const float *q, size_t nq, const float *x, size_t n, size_t d,
		 rv_metric m, size_t k, int64_t row_base, int64_t *rows, float *dist)
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
	args.row_base = row_base;
	args.best_rows = rows;
	args.best_dist = dist;
	return rvc_topk(ctx, &args);
}

/*
 * Check one query's list (k slots) against the reference over the whole corpus x (n rows
 * numbered from 0); prints the first problem found.
 */
static int
verify_list(const float *q, const float *x, size_t n, size_t d, rv_metric m, size_t k,
			const int64_t *rows, const float *dist)
{
	size_t		filled = k < n ? k : n;
	double	   *ref = malloc((n + 1) * sizeof(double));
	double	   *tol = malloc((n + 1) * sizeof(double));
	char	   *taken = calloc(n + 1, 1);
	int			good = 1;
	size_t		i;

	for (i = 0; i < n; i++)
		ref[i] = ref_dist(m, q, x + i * d, d, &tol[i]);
	for (i = 0; i < k && good; i++)
	{
		if (i >= filled)
		{
			if (rows[i] != -1 || !(isinf(dist[i]) && dist[i] > 0))
			{
				printf("#   slot %zu should be empty: row %lld dist %g\n", i,
					   (long long) rows[i], dist[i]);
				good = 0;
			}
			continue;
		}
		if (rows[i] < 0 || (size_t) rows[i] >= n || taken[rows[i]])
		{
			printf("#   slot %zu: bad or repeated row %lld\n", i, (long long) rows[i]);
			good = 0;
			break;
		}
		taken[rows[i]] = 1;
		if (i > 0 && !rv_topk_before(dist[i - 1], rows[i - 1], dist[i], rows[i]))
		{
			printf("#   slots %zu and %zu out of order\n", i - 1, i);
			good = 0;
		}
		if (dist[i] != (float) rv_metric_distance(m, q, x + rows[i] * d, d))
		{
			printf("#   slot %zu row %lld: dist %.9g is not the scalar reference %.9g\n", i,
				   (long long) rows[i], dist[i],
				   (float) rv_metric_distance(m, q, x + rows[i] * d, d));
			good = 0;
		}
		/* a true distance beyond the float range is an infinity of its sign */
		if (!(fabs(dist[i] - ref[rows[i]]) <= tol[rows[i]]) &&
			!(isinf(dist[i]) && fabs(ref[rows[i]]) > FLT_MAX &&
			  (dist[i] > 0) == (ref[rows[i]] > 0)))
		{
			printf("#   slot %zu row %lld: dist %.9g, reference %.9g\n", i,
				   (long long) rows[i], dist[i], ref[rows[i]]);
			good = 0;
		}
	}
	for (i = 0; i < n && good && filled > 0; i++)
	{
		double		last = dist[filled - 1];

		if (!taken[i] && ref[i] < last - 2.0 * tol[i])
		{
			printf("#   row %zu (reference %.9g) left out, last taken %.9g\n", i, ref[i], last);
			good = 0;
		}
	}
	free(ref);
	free(tol);
	free(taken);
	return good;
}

/*
 * One shape: nq queries as one batch, each query alone, and the batch over chunks; all
 * against the reference, and the three results compared bit for bit.
 */
static void
test_search(rv_metric m, size_t nq, size_t n, size_t d, size_t k, float offset)
{
	float	   *q = rand_matrix(nq, d, offset);
	float	   *x = rand_matrix(n, d, offset);
	int64_t    *r1 = malloc(nq * k * sizeof(int64_t));
	float	   *d1 = malloc(nq * k * sizeof(float));
	int64_t    *r2 = malloc(nq * k * sizeof(int64_t));
	float	   *d2 = malloc(nq * k * sizeof(float));
	int64_t    *r3 = malloc(nq * k * sizeof(int64_t));
	float	   *d3 = malloc(nq * k * sizeof(float));
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	rv_status	st = RV_OK;
	int			good = 1;
	size_t		i;
	size_t		cuts[5];
	char		name[300];

	/* the batch */
	rv_topk_reset(r1, d1, nq, k);
	if (run_topk(ctx, q, nq, x, n, d, m, k, 0, r1, d1) != RV_OK)
		st = RV_E_INTERNAL;
	for (i = 0; i < nq && st == RV_OK; i++)
		good &= verify_list(q + i * d, x, n, d, m, k, r1 + i * k, d1 + i * k);
	snprintf(name, sizeof(name), "%s nq=%zu n=%zu d=%zu k=%zu offset=%g: batch matches reference",
			 metric_names[m], nq, n, d, k, offset);
	ok(st == RV_OK && good, name);

	/* each query alone (the streaming path) */
	rv_topk_reset(r2, d2, nq, k);
	for (i = 0; i < nq; i++)
		if (run_topk(ctx, q + i * d, 1, x, n, d, m, k, 0, r2 + i * k, d2 + i * k) != RV_OK)
			st = RV_E_INTERNAL;
	snprintf(name, sizeof(name), "%s nq=%zu n=%zu d=%zu k=%zu: single queries equal the batch bit for bit",
			 metric_names[m], nq, n, d, k);
	ok(st == RV_OK && memcmp(r1, r2, nq * k * sizeof(int64_t)) == 0 &&
	   memcmp(d1, d2, nq * k * sizeof(float)) == 0, name);

	/* chunks of uneven sizes, merged in a scrambled order */
	cuts[0] = 0;
	cuts[1] = n / 3;
	cuts[2] = n / 3 + (n > 1 ? 1 : 0);
	cuts[3] = (3 * n) / 4;
	cuts[4] = n;
	rv_topk_reset(r3, d3, nq, k);
	{
		static const int order[4] = {2, 0, 3, 1};
		int			c;

		for (c = 0; c < 4; c++)
		{
			size_t		lo = cuts[order[c]];
			size_t		hi = cuts[order[c] + 1];

			if (hi < lo)
				hi = lo;
			if (run_topk(ctx, q, nq, x + lo * d, hi - lo, d, m, k, (int64_t) lo, r3, d3) != RV_OK)
				st = RV_E_INTERNAL;
		}
	}
	snprintf(name, sizeof(name), "%s nq=%zu n=%zu d=%zu k=%zu: chunks via row_base equal one call bit for bit",
			 metric_names[m], nq, n, d, k);
	ok(st == RV_OK && memcmp(r1, r3, nq * k * sizeof(int64_t)) == 0 &&
	   memcmp(d1, d3, nq * k * sizeof(float)) == 0, name);

	rv_ctx_destroy(ctx);
	if (th.live != 0)
		ok(0, "no leak");
	free(q);
	free(x);
	free(r1);
	free(d1);
	free(r2);
	free(d2);
	free(r3);
	free(d3);
}

/*
 * Exact ties: the corpus repeats 5 distinct vectors, so each distance occurs n/5 times.
 * The expected list is built from each distinct vector's own distance and sorted by
 * (distance, row): equal distances must come back in row order and the rows taken from a
 * partly taken group must be its smallest. With k = 42 the first chunk (rows 90..199, 22
 * of each group) leaves its k-th entry inside the second group, whose rows below 90 in the
 * second chunk tie with it and must win by row number.
 */
static void
test_ties(rv_metric m, size_t nq, size_t k)
{
	size_t		d = 45, n = 200, distinct = 5;
	float	   *q = rand_matrix(nq, d, 0);
	float	   *base = rand_matrix(distinct, d, 0);
	float	   *x = malloc(n * d * sizeof(float));
	int64_t    *rows = malloc(nq * k * sizeof(int64_t));
	float	   *dist = malloc(nq * k * sizeof(float));
	int64_t    *er = malloc(n * sizeof(int64_t));
	float	   *ed = malloc(n * sizeof(float));
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	int			good = 1;
	size_t		i, j;
	char		name[200];

	for (i = 0; i < n; i++)
		memcpy(x + i * d, base + (i % distinct) * d, d * sizeof(float));
	/* chunked, so ties also cross the incoming best list */
	rv_topk_reset(rows, dist, nq, k);
	good &= run_topk(ctx, q, nq, x + 90 * d, n - 90, d, m, k, 90, rows, dist) == RV_OK;
	good &= run_topk(ctx, q, nq, x, 90, d, m, k, 0, rows, dist) == RV_OK;
	for (i = 0; i < nq && good; i++)
	{
		float		vd[5];
		int64_t		vr[5];

		for (j = 0; j < distinct; j++)
		{
			vr[j] = -1;
			good &= run_topk(ctx, q + i * d, 1, base + j * d, 1, d, m, 1, 0, &vr[j], &vd[j]) == RV_OK;
		}
		for (j = 0; j < n; j++)
		{
			er[j] = (int64_t) j;
			ed[j] = vd[j % distinct];
		}
		rv_topk_sort(er, ed, n);
		if (memcmp(er, rows + i * k, k * sizeof(int64_t)) != 0 ||
			memcmp(ed, dist + i * k, k * sizeof(float)) != 0)
		{
			printf("#   query %zu: first rows %lld %lld %lld, want %lld %lld %lld\n", i,
				   (long long) rows[i * k], (long long) rows[i * k + 1],
				   (long long) rows[i * k + 2], (long long) er[0], (long long) er[1],
				   (long long) er[2]);
			good = 0;
		}
	}
	snprintf(name, sizeof(name), "%s nq=%zu k=%zu: duplicate rows come back in row order",
			 metric_names[m], nq, k);
	ok(good, name);
	rv_ctx_destroy(ctx);
	if (th.live != 0)
		ok(0, "no leak");
	free(q);
	free(base);
	free(x);
	free(rows);
	free(dist);
	free(er);
	free(ed);
}

/* Zero vectors under cosine: distance 1, ties in row order. */
static void
test_zero_cosine(void)
{
	size_t		d = 16, n = 10, k = 4, nq;
	float	   *x = rand_matrix(n, d, 0);
	float		q[16 * 5];
	int64_t		rows[4 * 5];
	float		dist[4 * 5];
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);

	memset(x + 3 * d, 0, d * sizeof(float));
	for (nq = 1; nq <= 5; nq += 4)
	{
		size_t		i;
		int			good = 1;
		char		name[100];

		memset(q, 0, sizeof(q));
		rv_topk_reset(rows, dist, nq, k);
		is_int(run_topk(ctx, q, nq, x, n, d, RV_METRIC_COSINE, k, 0, rows, dist), RV_OK,
			   "cosine with a zero query succeeds");
		for (i = 0; i < nq * k; i++)
			good &= dist[i] == 1.0f && rows[i] == (int64_t) (i % k);
		snprintf(name, sizeof(name), "nq=%zu: zero query has distance 1 to all, rows in order", nq);
		ok(good, name);
	}
	/* a zero corpus row is at distance 1 from any query */
	{
		float		q1[16];
		int64_t		r[10];
		float		dd[10];
		size_t		i;
		int			found = 0;

		for (i = 0; i < d; i++)
			q1[i] = frand();
		rv_topk_reset(r, dd, 1, 10);
		run_topk(ctx, q1, 1, x, n, d, RV_METRIC_COSINE, 10, 0, r, dd);
		for (i = 0; i < 10; i++)
			if (r[i] == 3)
				found = dd[i] == 1.0f;
		ok(found, "zero corpus row has cosine distance 1");
	}
	rv_ctx_destroy(ctx);
	ok(th.live == 0, "zero vectors: no leak");
	free(x);
}

/* The list helpers on hand-made lists. */
static void
test_helpers(void)
{
	int64_t		br[6];
	float		bd[6];
	int64_t		cr[4] = {7, 2, 9, -1};
	float		cd[4] = {0.5f, 1.0f, 1.0f, 0.0f};
	size_t		got;
	int64_t		sr[50];
	float		sd[50];
	size_t		i;
	int			sorted = 1;

	rv_topk_reset(br, bd, 2, 3);
	ok(br[0] == -1 && br[5] == -1 && isinf(bd[0]) && bd[5] > 0, "reset fills -1 and +inf");

	got = rv_topk_merge(br, bd, 3, cr, cd, 4);
	is_int(got, 3, "merge into an empty list stops at the -1 terminator");
	ok(br[0] == 7 && br[1] == 2 && br[2] == 9, "merge into an empty list keeps candidates in order");

	{
		int64_t		c2r[3] = {4, 1, 3};
		float		c2d[3] = {0.5f, 1.0f, 1.0f};

		/* (0.5,4) beats (0.5,7); (1.0,1) beats (1.0,2); the list keeps 3 */
		got = rv_topk_merge(br, bd, 3, c2r, c2d, 3);
		is_int(got, 3, "merge into a full list keeps k entries");
		ok(br[0] == 4 && br[1] == 7 && br[2] == 1 && bd[2] == 1.0f,
		   "merge breaks distance ties by row");
	}
	{
		int64_t		c3r[2] = {0, 1};
		float		c3d[2] = {5.0f, 6.0f};
		int64_t		keep[3];

		memcpy(keep, br, sizeof(keep));
		rv_topk_merge(br, bd, 3, c3r, c3d, 2);
		ok(memcmp(keep, br, sizeof(keep)) == 0, "worse candidates leave a full list unchanged");
	}
	{
		int64_t		one_r = -1;
		float		one_d = INFINITY;
		int64_t		c4r[3] = {10, 11, 12};
		float		c4d[3] = {2.0f, 2.0f, 3.0f};

		rv_topk_merge(&one_r, &one_d, 1, c4r, c4d, 3);
		ok(one_r == 10 && one_d == 2.0f, "merge with k = 1");
		rv_topk_merge(&one_r, &one_d, 1, c4r + 1, c4d + 1, 0);
		ok(one_r == 10, "merge of no candidates changes nothing");
	}

	for (i = 0; i < 50; i++)
	{
		sr[i] = (int64_t) (49 - i);
		sd[i] = (float) ((i * 7) % 5);
	}
	rv_topk_sort(sr, sd, 50);
	for (i = 1; i < 50; i++)
		sorted &= rv_topk_before(sd[i - 1], sr[i - 1], sd[i], sr[i]);
	ok(sorted, "sort orders by distance, then row");
}

/* One invalid-argument case: the status and the exact message. */
static void
expect_error(const rv_topk_args *args, rv_status want, const char *msg)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	char		name[300];

	snprintf(name, sizeof(name), "error status for: %s", msg);
	is_int(rvc_topk(ctx, args), want, name);
	snprintf(name, sizeof(name), "error message: %s", msg);
	is_str(rv_errmsg(ctx), msg, name);
	rv_ctx_destroy(ctx);
	if (th.live != 0)
		ok(0, "no leak on error");
}

static void
test_invalid(void)
{
	float		x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	int64_t		rows[4] = {-1, -1, -1, -1};
	float		dist[4] = {INFINITY, INFINITY, INFINITY, INFINITY};
	rv_topk_args args, base;
	test_host	th;
	rv_ctx	   *ctx;

	memset(&base, 0, sizeof(base));
	base.q = x;
	base.nq = 1;
	base.x = x;
	base.n = 2;
	base.d = 4;
	base.metric = RV_METRIC_L2;
	base.k = 4;
	base.best_rows = rows;
	base.best_dist = dist;

	expect_error(NULL, RV_E_INVALID_PARAM, "top-k arguments must not be NULL");
	args = base;
	args.d = 0;
	expect_error(&args, RV_E_INVALID_PARAM, "embedding dimensions must be at least 1");
	args = base;
	args.d = RV_MAX_DIMS + 1;
	expect_error(&args, RV_E_TOO_MANY_DIMS, "embeddings cannot have more than 16000 dimensions");
	args = base;
	args.k = 0;
	expect_error(&args, RV_E_INVALID_PARAM, "k must be at least 1");
	args = base;
	args.k = RV_MAX_K + 1;
	expect_error(&args, RV_E_LIMIT, "k 16385 exceeds the maximum of 16384");
	args = base;
	args.metric = (rv_metric) 9;
	expect_error(&args, RV_E_INVALID_PARAM, "unknown distance metric 9");
	args = base;
	args.q = NULL;
	expect_error(&args, RV_E_INVALID_PARAM, "query vectors must not be NULL");
	args = base;
	args.x = NULL;
	expect_error(&args, RV_E_INVALID_PARAM, "corpus vectors must not be NULL");
	args = base;
	args.best_dist = NULL;
	expect_error(&args, RV_E_INVALID_PARAM, "best lists must not be NULL");
	args = base;
	args.row_base = -1;
	expect_error(&args, RV_E_INVALID_PARAM, "row base -1 must not be negative");
	args = base;
	args.row_base = INT64_MAX - 1;
	expect_error(&args, RV_E_LIMIT, "row numbers from 9223372036854775806 for 2 rows overflow");

	/* nothing to do: n = 0 or nq = 0 */
	ctx = test_ctx(&th);
	args = base;
	args.n = 0;
	args.x = NULL;
	is_int(rvc_topk(ctx, &args), RV_OK, "n = 0 is fine");
	ok(rows[0] == -1 && isinf(dist[0]), "n = 0 leaves the list empty");
	args = base;
	args.nq = 0;
	args.q = NULL;
	args.best_rows = NULL;
	args.best_dist = NULL;
	is_int(rvc_topk(ctx, &args), RV_OK, "nq = 0 is fine");
	rv_ctx_destroy(ctx);
	ok(th.live == 0, "invalid arguments: no leak");
}

/* Fail each allocation in turn: RV_E_NOMEM, lists untouched, no leak, until success. */
static void
test_nomem(rv_metric m, size_t nq)
{
	size_t		n = 500, d = 24, k = 10;
	float	   *q = rand_matrix(nq, d, 0);
	float	   *x = rand_matrix(n, d, 0);
	int64_t    *rows = malloc(nq * k * sizeof(int64_t));
	float	   *dist = malloc(nq * k * sizeof(float));
	long		fail;
	int			all_nomem = 1, all_clean = 1, untouched = 1, succeeded = 0;
	char		name[200];

	for (fail = 1; fail <= 20 && !succeeded; fail++)
	{
		test_host	th;
		rv_ctx	   *ctx = test_ctx(&th);
		rv_status	st;
		size_t		i;

		rv_topk_reset(rows, dist, nq, k);
		th.fail_at = th.total + fail;
		st = run_topk(ctx, q, nq, x, n, d, m, k, 0, rows, dist);
		if (st == RV_OK)
			succeeded = 1;
		else
		{
			if (st != RV_E_NOMEM || strncmp(rv_errmsg(ctx), "out of memory", 13) != 0)
				all_nomem = 0;
			for (i = 0; i < nq * k; i++)
				untouched &= rows[i] == -1;
		}
		rv_ctx_destroy(ctx);
		if (th.live != 0)
			all_clean = 0;
	}
	snprintf(name, sizeof(name), "%s nq=%zu: each failed allocation gives RV_E_NOMEM, lists untouched",
			 metric_names[m], nq);
	ok(all_nomem && untouched && succeeded, name);
	snprintf(name, sizeof(name), "%s nq=%zu: no leak after a failed allocation", metric_names[m], nq);
	ok(all_clean, name);
	free(q);
	free(x);
	free(rows);
	free(dist);
}

/* The interrupt check stops the walk between blocks. */
static void
test_interrupt(rv_metric m, size_t nq, long after)
{
	size_t		n = 20000, d = 64, k = 5;
	float	   *q = rand_matrix(nq, d, 0);
	float	   *x = rand_matrix(n, d, 0);
	int64_t    *rows = malloc(nq * k * sizeof(int64_t));
	float	   *dist = malloc(nq * k * sizeof(float));
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	char		name[200];

	rv_topk_reset(rows, dist, nq, k);
	th.interrupt_after = after;
	snprintf(name, sizeof(name), "%s nq=%zu interrupted after %ld polls", metric_names[m], nq, after);
	is_int(run_topk(ctx, q, nq, x, n, d, m, k, 0, rows, dist), RV_E_INTERRUPTED, name);
	is_str(rv_errmsg(ctx), "top-k search interrupted", "interrupt message");
	rv_ctx_destroy(ctx);
	ok(th.live == 0, "interrupted: no leak");
	free(q);
	free(x);
	free(rows);
	free(dist);
}

int
main(void)
{
	int			m;

	test_helpers();
	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m++)
	{
		test_search((rv_metric) m, 1, 500, 37, 10, 0.0f);
		test_search((rv_metric) m, 7, 500, 37, 10, 0.0f);
		test_search((rv_metric) m, 6, 3000, 128, 100, 0.0f);
		test_search((rv_metric) m, 5, 1000, 1, 3, 0.0f);
		test_search((rv_metric) m, 9, 800, 33, 1, 0.0f);	/* k = 1 */
		test_search((rv_metric) m, 4, 20, 8, 50, 0.0f);		/* k > n */
		test_search((rv_metric) m, 1, 20, 8, 50, 0.0f);
		/* far from the origin: the sgemm expansion cancels; the filter must still be right */
		test_search((rv_metric) m, 8, 2000, 50, 20, 30.0f);
		test_search((rv_metric) m, 300, 600, 16, 5, 0.0f);	/* two query blocks */
		test_ties((rv_metric) m, 1, 33);
		test_ties((rv_metric) m, 6, 33);
		test_ties((rv_metric) m, 1, 42);
		test_ties((rv_metric) m, 6, 42);
	}
	data_scale = 1e20f;
	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m++)
	{
		test_search((rv_metric) m, 1, 300, 40, 10, 0.0f);
		test_search((rv_metric) m, 6, 300, 40, 10, 0.0f);
	}
	/*
	 * Tiny and subnormal values: float32 squares and products underflow there. Cosine is
	 * scale-free and metric.c computes it in double, so it must match the reference; the
	 * filters must not skip a row on sums that underflowed (every path equal bit for bit).
	 */
	data_scale = 1e-20f;
	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m++)
	{
		test_search((rv_metric) m, 1, 300, 40, 10, 0.0f);
		test_search((rv_metric) m, 6, 300, 40, 10, 0.0f);
	}
	data_scale = 1e-41f;
	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m++)
	{
		test_search((rv_metric) m, 1, 300, 40, 10, 0.0f);
		test_search((rv_metric) m, 6, 300, 40, 10, 0.0f);
	}
	data_scale = 1.0f;
	test_search(RV_METRIC_L2, 1, 20000, 4, RV_MAX_K, 0.0f);
	test_search(RV_METRIC_COSINE, 5, 20000, 4, RV_MAX_K, 0.0f);
	test_zero_cosine();
	test_invalid();
	test_nomem(RV_METRIC_L2, 1);
	test_nomem(RV_METRIC_COSINE, 8);
	test_interrupt(RV_METRIC_L2, 1, 0);
	test_interrupt(RV_METRIC_IP, 8, 0);
	test_interrupt(RV_METRIC_L1, 8, 3);
	return done_testing();
}
