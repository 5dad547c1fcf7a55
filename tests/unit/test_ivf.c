/*
 * test_ivf.c — the approximate index's core (ivf.c): padded sizes; the index space map
 * keeps norms and inner products (d = 1 .. 16000), is the same for a seed (pinned values,
 * so every machine builds the same map), differs between seeds, mixes coordinates,
 * normalizes for cosine and rejects L1; RaBitQ codes and estimates against exact distances
 * of the original vectors (rv_metric_distance): exact cases (x = c, q = x, a residual that
 * is a sign vector), unbiased on random data with the bound holding for nearly every pair
 * and lb <= est always, and a ranking that finds the true top 10 within the top 100; the
 * two ways a table sums a code (AVX-512 masked adds, the byte table) against each other;
 * k-means (the objective falls, lists are pure on well-separated clusters, no empty list,
 * empty lists split, spherical centroids, determinism); assignment against a brute-force
 * order with ties; rv_ivf_rank equal to rv_ivf_assign; invalid arguments with their
 * messages; allocation failures and interrupts without leaks under the counting allocator.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tap.h"
#include "testhost.h"

static uint64_t rng = 0x2545F4914F6CDD1DULL;

/* xorshift64: uniform in (0, 1) */
static double
urand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return ((double) (rng >> 11) + 0.5) / 9007199254740992.0;
}

/* Standard normal (Box-Muller). */
static double
gauss(void)
{
	double		u1 = urand(),
				u2 = urand();

	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* rows x d floats, scale * N(0, 1) each (caller frees). */
static float *
gauss_matrix(size_t rows, size_t d, double scale)
{
	float	   *m = malloc((rows * d + 1) * sizeof(float));
	size_t		i;

	for (i = 0; i < rows * d; i++)
		m[i] = (float) (scale * gauss());
	return m;
}

static const char *metric_names[] = {"l2", "ip", "cosine", "l1"};

static double
dot(const float *a, const float *b, size_t n)
{
	double		s = 0;
	size_t		i;

	for (i = 0; i < n; i++)
		s += (double) a[i] * b[i];
	return s;
}

/* Sizes of the index space and of codes. */
static void
test_sizes(void)
{
	static const size_t d[] = {1, 64, 65, 768, 16000};
	static const size_t pd[] = {64, 64, 128, 768, 16000};
	static const size_t cb[] = {8, 8, 16, 96, 2000};
	int			i;

	for (i = 0; i < 5; i++)
	{
		char		name[100];

		snprintf(name, sizeof(name), "padded dims of %zu", d[i]);
		is_int(rv_ivf_padded_dims(d[i]), pd[i], name);
		snprintf(name, sizeof(name), "code bytes of %zu", pd[i]);
		is_int(rv_ivf_code_bytes(pd[i]), cb[i], name);
	}
}

/*
 * The map keeps norms and inner products (relative 1e-5 of |a| |b|), writes exactly n x pd
 * floats, and spreads a basis vector over many coordinates.
 */
static void
test_isometry(rv_metric m, size_t d, size_t n)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		pd = rv_ivf_padded_dims(d);
	float	   *x = gauss_matrix(n, d, 1.0);
	float	   *out = malloc((n * pd + 1) * sizeof(float));
	float	   *e = calloc(d, sizeof(float));
	float	   *pe = malloc(pd * sizeof(float));
	double		worst_norm = 0,
				worst_ip = 0,
				maxc = 0;	/* sum of v^4: 1 / it counts the coordinates used */
	size_t		i,
				j;
	rv_status	st;
	char		name[200];

	/* an offset and a scale of 1e-3 on some rows, so not every row looks alike */
	for (i = 0; i < d; i++)
	{
		x[i] += 3.0f;
		if (n > 1)
			x[d + i] *= 1e-3f;
	}
	out[n * pd] = 12345.0f;
	st = rv_ivf_prepare(ctx, m, 42, x, n, d, out);
	snprintf(name, sizeof(name), "prepare %s d=%zu n=%zu", metric_names[m], d, n);
	is_int(st, RV_OK, name);
	ok(out[n * pd] == 12345.0f, "writes no more than n x pd floats");
	for (i = 0; i < n; i++)
	{
		double		a = sqrt(dot(x + i * d, x + i * d, d));
		double		b = sqrt(dot(out + i * pd, out + i * pd, pd));
		double		want = m == RV_METRIC_COSINE ? 1.0 : a;

		if (fabs(b - want) > worst_norm * want)
			worst_norm = fabs(b - want) / want;
		for (j = 0; j < i; j++)
		{
			double		aj = sqrt(dot(x + j * d, x + j * d, d));
			double		ipx = dot(x + i * d, x + j * d, d) / (m == RV_METRIC_COSINE ? a * aj : 1.0);
			double		ipo = dot(out + i * pd, out + j * pd, pd);
			double		rel = fabs(ipo - ipx) / (m == RV_METRIC_COSINE ? 1.0 : a * aj);

			if (rel > worst_ip)
				worst_ip = rel;
		}
	}
	snprintf(name, sizeof(name), "%s d=%zu: norms kept (worst relative error %.2g)",
			 metric_names[m], d, worst_norm);
	ok(worst_norm <= 1e-5, name);
	snprintf(name, sizeof(name), "%s d=%zu: inner products kept (worst %.2g of |a| |b|)",
			 metric_names[m], d, worst_ip);
	ok(worst_ip <= 1e-5, name);

	/* a basis vector: its unit of energy spread over the block (no coordinate near 1) */
	e[d - 1] = 1.0f;
	is_int(rv_ivf_prepare(ctx, m, 42, e, 1, d, pe), RV_OK, "prepare a basis vector");
	for (j = 0; j < pd; j++)
		maxc += (double) pe[j] * pe[j] * pe[j] * pe[j];
	snprintf(name, sizeof(name), "d=%zu: a basis vector is spread over %.0f of %zu coordinates",
			 d, 1.0 / maxc, pd);
	ok(1.0 / maxc >= pd / 6.0, name);

	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "prepare: no leak");
	free(x);
	free(out);
	free(e);
	free(pe);
}

/* Seeds: the same map for a seed (pinned values), another map for another seed. */
static void
test_seeds(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		n = 5,
				d = 300,
				pd = rv_ivf_padded_dims(d);
	float	   *x = gauss_matrix(n, d, 1.0);
	float	   *a = malloc(n * pd * sizeof(float));
	float	   *b = malloc(n * pd * sizeof(float));
	float	   *c = malloc(n * pd * sizeof(float));
	float		v[3] = {1.0f, 2.0f, 3.0f};
	float		pv[64];
	/* rv_ivf_prepare(l2, seed 7, [1,2,3]): a change here changes every stored index */
	static const float pinned[4] = {0.81249994f, -0.28124997f, 0.46875f, 0.31249994f};
	int			i,
				same = 1;

	is_int(rv_ivf_prepare(ctx, RV_METRIC_L2, 99, x, n, d, a), RV_OK, "prepare seed 99");
	is_int(rv_ivf_prepare(ctx, RV_METRIC_L2, 99, x, n, d, b), RV_OK, "prepare seed 99 again");
	is_int(rv_ivf_prepare(ctx, RV_METRIC_L2, 100, x, n, d, c), RV_OK, "prepare seed 100");
	ok(memcmp(a, b, n * pd * sizeof(float)) == 0, "the same seed gives the same bits");
	ok(memcmp(a, c, n * pd * sizeof(float)) != 0, "another seed gives another map");
	/* IP gives the same map as L2 (only cosine normalizes first) */
	is_int(rv_ivf_prepare(ctx, RV_METRIC_IP, 99, x, n, d, c), RV_OK, "prepare ip");
	ok(memcmp(a, c, n * pd * sizeof(float)) == 0, "inner product: the same map as L2");

	is_int(rv_ivf_prepare(ctx, RV_METRIC_L2, 7, v, 1, 3, pv), RV_OK, "prepare [1,2,3]");
	for (i = 0; i < 4; i++)
		same &= fabsf(pv[i] - pinned[i]) <= 1e-6f;
	if (!same)
		printf("#   got %.9g %.9g %.9g %.9g\n", pv[0], pv[1], pv[2], pv[3]);
	ok(same, "seed 7 maps [1,2,3] to the pinned values");
	is_double(sqrt(dot(pv, pv, 64)), sqrt(14.0), 1e-5, "and keeps its norm");

	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "seeds: no leak");
	free(x);
	free(a);
	free(b);
	free(c);
}

/* Cosine normalizes, a zero row stays zero; errors and their messages. */
static void
test_prepare_edges(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	float		x[2 * 5] = {3, 0, 4, 0, 0, 0, 0, 0, 0, 0};
	float		out[2 * 64];
	float		big[1];
	size_t		j;
	int			zero = 1;

	is_int(rv_ivf_prepare(ctx, RV_METRIC_COSINE, 1, x, 2, 5, out), RV_OK, "prepare cosine");
	is_double(sqrt(dot(out, out, 64)), 1.0, 1e-6, "cosine: a row is unit");
	for (j = 0; j < 64; j++)
		zero &= out[64 + j] == 0.0f;
	ok(zero, "cosine: a zero row stays zero");
	is_int(rv_ivf_prepare(ctx, RV_METRIC_L2, 1, x + 5, 1, 5, out), RV_OK, "prepare a zero row");
	for (j = 0, zero = 1; j < 64; j++)
		zero &= out[j] == 0.0f;
	ok(zero, "l2: a zero row stays zero");

	is_int(rv_ivf_prepare(ctx, RV_METRIC_L1, 1, x, 2, 5, out), RV_E_UNSUPPORTED, "L1 is unsupported");
	is_str(rv_errmsg(ctx), "rvivf does not support the L1 distance", "L1 message");
	is_int(rv_ivf_prepare(ctx, (rv_metric) 9, 1, x, 2, 5, out), RV_E_INVALID_PARAM, "unknown metric");
	is_str(rv_errmsg(ctx), "unknown distance metric 9", "unknown metric message");
	is_int(rv_ivf_prepare(ctx, RV_METRIC_L2, 1, x, 2, 0, out), RV_E_INVALID_PARAM, "zero dimensions");
	is_str(rv_errmsg(ctx), "embedding dimensions must be at least 1", "zero dimensions message");
	is_int(rv_ivf_prepare(ctx, RV_METRIC_L2, 1, big, 1, RV_MAX_DIMS + 1, out), RV_E_TOO_MANY_DIMS,
		   "too many dimensions");
	is_str(rv_errmsg(ctx), "embeddings cannot have more than 16000 dimensions", "too many message");
	is_int(rv_ivf_prepare(ctx, RV_METRIC_L2, 1, NULL, 0, 5, NULL), RV_OK, "no rows: nothing to do");
	is_int(rv_ivf_prepare(ctx, RV_METRIC_L2, 1, NULL, 1, 5, out), RV_E_INVALID_PARAM, "NULL rows");
	is_int(rv_ivf_prepare(NULL, RV_METRIC_L2, 1, x, 1, 5, out), RV_E_INVALID_PARAM, "NULL context");

	th.fail_at = th.total + 1;
	is_int(rv_ivf_prepare(ctx, RV_METRIC_L2, 1, x, 2, 5, out), RV_E_NOMEM, "a failed allocation");
	is_str(rv_errmsg(ctx), "out of memory", "out of memory message");
	th.fail_at = 0;
	th.interrupt_after = 0;
	is_int(rv_ivf_prepare(ctx, RV_METRIC_L2, 1, x, 2, 5, out), RV_E_INTERRUPTED, "polls the interrupt check");
	is_str(rv_errmsg(ctx), "index space map interrupted", "interrupt message");
	th.interrupt_after = -1;
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "prepare edges: no leak");
}

/* Exact distance in the index space (the reference for constructed vectors). */
static double
space_dist(rv_metric m, const float *q, const float *x, size_t pd)
{
	if (m == RV_METRIC_COSINE)
		return 1.0 - dot(q, x, pd);
	return rv_metric_distance(m, q, x, pd);
}

/*
 * Cases the estimate gets exactly: x = c (no residual), q = x (the code's own direction),
 * and a residual that is a scaled sign vector (ipq = 1, so the code is the residual).
 */
static void
test_exact_cases(rv_metric m, size_t d)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		pd = rv_ivf_padded_dims(d),
				j;
	float	   *raw = gauss_matrix(3, d, 1.0);
	float	   *p = malloc(3 * pd * sizeof(float));
	float	   *s = malloc(pd * sizeof(float));
	uint8_t    *code = malloc(pd / 8);
	rv_ivf_factors f;
	rv_ivf_lut *lut;
	float		est,
				lb;
	double		want;
	int			ones = 1;
	char		name[200];

	/* rows 0 and 1 near each other, row 2 elsewhere */
	for (j = 0; j < d; j++)
		raw[d + j] = raw[j] + 0.3f * raw[d + j];
	is_int(rv_ivf_prepare(ctx, m, 3, raw, 3, d, p), RV_OK, "prepare");
	is_int(rv_ivf_lut_create(ctx, pd, &lut), RV_OK, "lut create");

	/* x = c: the row is its centroid */
	rv_ivf_encode(p, p, pd, code, &f);
	for (j = 0; j < pd / 8; j++)
		ones &= code[j] == 0xff;
	ok(ones && f.onorm == 0.0f && f.ipq == 1.0f && f.oc == 0.0f,
	   "x = c: every bit set, onorm 0, ipq 1, oc 0");
	rv_ivf_lut_set(lut, m, p + 2 * pd, p);
	rv_ivf_estimate(lut, code, &f, &est, &lb);
	want = rv_metric_distance(m, raw + 2 * d, raw, d);
	snprintf(name, sizeof(name), "%s d=%zu: x = c, the estimate is the exact distance", metric_names[m], d);
	is_double(est, want, 1e-4 * (1 + fabs(want)), name);
	ok(lb <= est && lb >= est - 1e-4 * (1 + fabs(want)), "x = c: the bound is the estimate");

	/* q = x, c another row: the estimate of <o, r> is |o|^2 exactly */
	rv_ivf_encode(p + pd, p, pd, code, &f);
	ok(f.ipq > 0.5f && f.ipq < 1.0f, "a Gaussian residual: ipq near sqrt(2 / pi)");
	is_double(f.onorm, sqrt(rv_l2_squared(p + pd, p, pd)), 1e-5 * f.onorm, "onorm is |x - c|");
	rv_ivf_lut_set(lut, m, p + pd, p);
	rv_ivf_estimate(lut, code, &f, &est, &lb);
	want = rv_metric_distance(m, raw + d, raw + d, d);
	/* for L2 the estimate of |x - q|^2 = 0 is a difference of sums of |o|^2: compare squares */
	snprintf(name, sizeof(name), "%s d=%zu: q = x, the estimate is the exact distance", metric_names[m], d);
	if (m == RV_METRIC_L2)
		is_double((double) est * est, 0.0, 1e-5 * f.onorm * f.onorm, name);
	else
		is_double(est, want, 1e-4 * (1 + fabs(want)), name);
	ok(lb <= est, "q = x: lb <= est");

	/* x - c = 0.1 * signs: the code is the residual, the estimate exact for any query */
	for (j = 0; j < pd; j++)
		s[j] = p[j] + (urand() < 0.5 ? -0.1f : 0.1f);
	rv_ivf_encode(s, p, pd, code, &f);
	is_double(f.ipq, 1.0, 1e-6, "a sign residual: ipq 1");
	rv_ivf_lut_set(lut, m, p + 2 * pd, p);
	rv_ivf_estimate(lut, code, &f, &est, &lb);
	want = space_dist(m, p + 2 * pd, s, pd);
	snprintf(name, sizeof(name), "%s d=%zu: a sign residual, the estimate is exact", metric_names[m], d);
	is_double(est, want, 1e-4 * (1 + fabs(want)), name);
	is_double(lb, est, 1e-4 * (1 + fabs(want)), "and the bound is tight");

	rv_ivf_lut_destroy(ctx, lut);
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "exact cases: no leak");
	free(raw);
	free(p);
	free(s);
	free(code);
}

/*
 * Random Gaussian rows and queries, random centroids (each row in the list of its
 * nearest): against rv_metric_distance of the original vectors, the mean signed error is
 * within a tenth of the error's standard deviation (pairs share rows and queries, so their
 * errors are not independent enough for a test in standard errors; leaving out a term such
 * as oc or sum(rhat) moves the mean by many standard deviations), the slope of estimate on
 * exact distance is near 1 (the estimate is not shrunk, as without the division by ipq),
 * and lb <= est for every pair. The bound holds for 99.8-100% of pairs: eps0 = 3 is about
 * 3 standard deviations of the estimator; and it is not looser than that: its mean width
 * est - lb stays within 1 to 5 standard deviations of the estimate's error.
 */
static void
test_statistics(rv_metric m, size_t d)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		n = 1000,
				nq = 10,
				nl = 8,
				pd = rv_ivf_padded_dims(d),
				nb = rv_ivf_code_bytes(pd),
				i,
				j,
				l;
	float	   *x = gauss_matrix(n, d, 1.0);
	float	   *q = gauss_matrix(nq, d, 1.0);
	float	   *c = gauss_matrix(nl, d, 0.5);
	float	   *px = malloc(n * pd * sizeof(float));
	float	   *pq = malloc(nq * pd * sizeof(float));
	float	   *pc = malloc(nl * pd * sizeof(float));
	int32_t    *lst = malloc(n * sizeof(int32_t));
	uint8_t    *codes = malloc(n * nb);
	rv_ivf_factors *f = malloc(n * sizeof(rv_ivf_factors));
	rv_ivf_lut *lut;
	double		se = 0,
				se2 = 0,
				sx = 0,
				sx2 = 0,
				sxy = 0,
				sy = 0,
				mean,
				sd,
				slope,
				width = 0,
				cnt = 0;
	long		held = 0,
				ordered = 0;
	char		name[200];

	ok(rv_ivf_prepare(ctx, m, 11, x, n, d, px) == RV_OK &&
	   rv_ivf_prepare(ctx, m, 11, q, nq, d, pq) == RV_OK &&
	   rv_ivf_prepare(ctx, m, 11, c, nl, d, pc) == RV_OK, "prepare rows, queries, centroids");
	is_int(rv_ivf_assign(ctx, RV_METRIC_L2, pc, nl, pd, px, n, 1, lst), RV_OK, "assign rows");
	for (i = 0; i < n; i++)
		rv_ivf_encode(px + i * pd, pc + lst[i] * pd, pd, codes + i * nb, &f[i]);
	is_int(rv_ivf_lut_create(ctx, pd, &lut), RV_OK, "lut create");
	for (j = 0; j < nq; j++)
		for (l = 0; l < nl; l++)
		{
			rv_ivf_lut_set(lut, m, pq + j * pd, pc + l * pd);
			for (i = 0; i < n; i++)
			{
				float		est,
							lb;
				double		ex;

				if ((size_t) lst[i] != l)
					continue;
				rv_ivf_estimate(lut, codes + i * nb, &f[i], &est, &lb);
				ex = rv_metric_distance(m, q + j * d, x + i * d, d);
				se += est - ex;
				se2 += (est - ex) * (est - ex);
				sx += ex;
				sx2 += ex * ex;
				sy += est;
				sxy += ex * est;
				cnt++;
				held += lb <= ex + 1e-6 * (1 + fabs(ex));
				ordered += lb <= est;
				width += (double) est - lb;
			}
		}
	mean = se / cnt;
	sd = sqrt(se2 / cnt - mean * mean);
	slope = (sxy / cnt - sx / cnt * sy / cnt) / (sx2 / cnt - sx / cnt * sx / cnt);
	snprintf(name, sizeof(name), "%s d=%zu: mean error %.3g within a tenth of its sd %.3g",
			 metric_names[m], d, mean, sd);
	ok(fabs(mean) <= 0.1 * sd, name);
	snprintf(name, sizeof(name), "%s d=%zu: slope of estimate on exact %.3f near 1",
			 metric_names[m], d, slope);
	ok(slope > 0.9 && slope < 1.1, name);
	snprintf(name, sizeof(name), "%s d=%zu: lb <= exact for %.2f%% of pairs (>= 99.5%%)",
			 metric_names[m], d, 100.0 * held / cnt);
	ok(held >= 0.995 * cnt, name);
	snprintf(name, sizeof(name), "%s d=%zu: the bound's mean width %.3g is 1 to 5 sd of the error (%.3g)",
			 metric_names[m], d, width / cnt, sd);
	ok(width / cnt >= sd && width / cnt <= 5 * sd, name);
	is_int(ordered, (long) cnt, "lb <= est for every pair");
	is_int(cnt, n * nq, "every pair seen");

	rv_ivf_lut_destroy(ctx, lut);
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "statistics: no leak");
	free(x);
	free(q);
	free(c);
	free(px);
	free(pq);
	free(pc);
	free(lst);
	free(codes);
	free(f);
}

/* Indexes of the k smallest of v[n] (ties: smaller index) into out; slow and simple. */
static void
smallest(const double *v, size_t n, size_t k, size_t *out)
{
	char	   *taken = calloc(n, 1);
	size_t		t,
				i;

	for (t = 0; t < k; t++)
	{
		size_t		best = n;

		for (i = 0; i < n; i++)
			if (!taken[i] && (best == n || v[i] < v[best]))
				best = i;
		taken[best] = 1;
		out[t] = best;
	}
	free(taken);
}

/*
 * Ranking: 1000 rows in 2 clusters of 50 topics of 10 rows (cluster centers N(0, 1), topics
 * 0.5 N(0, 1) around them, rows 0.3 N(0, 1) around their topic), 2 lists trained on them,
 * queries drawn like rows. A list holds 500 rows, so a choice that ignored the codes would
 * keep about 2 of the true top 10 in its top 100; the estimate keeps all 10. (The inner
 * product at d = 128 is the tightest: its top 10 mix topics, and with rows at 0.35 one
 * query's 10th row ranked 103rd by estimate.)
 */
static void
test_ranking(rv_metric m, size_t d)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		n = 1000,
				nq = 20,
				nl = 2,
				pd = rv_ivf_padded_dims(d),
				nb = rv_ivf_code_bytes(pd),
				i,
				j,
				t;
	float	   *cl = gauss_matrix(2, d, 1.0);
	float	   *topic = gauss_matrix(100, d, 0.5);
	float	   *x = gauss_matrix(n, d, 0.3);
	float	   *q = gauss_matrix(nq, d, 0.3);
	float	   *px = malloc(n * pd * sizeof(float));
	float	   *pq = malloc(nq * pd * sizeof(float));
	float	   *pc = malloc(nl * pd * sizeof(float));
	int32_t    *lst = malloc(n * sizeof(int32_t));
	uint8_t    *codes = malloc(n * nb);
	rv_ivf_factors *f = malloc(n * sizeof(rv_ivf_factors));
	double	   *ex = malloc(n * sizeof(double));
	double	   *es = malloc(n * sizeof(double));
	size_t		top[10],
				cand[100];
	rv_ivf_lut *lut[2];
	long		found = 0,
				in_top10 = 0;
	size_t		worst = 0,
				rank;
	char		name[200];

	for (t = 0; t < 100; t++)
		for (j = 0; j < d; j++)
			topic[t * d + j] += cl[(t / 50) * d + j];
	for (i = 0; i < n; i++)
		for (j = 0; j < d; j++)
			x[i * d + j] += topic[(i / 10) * d + j];
	for (i = 0; i < nq; i++)
		for (j = 0; j < d; j++)
			q[i * d + j] += topic[(i * 37 % 100) * d + j];

	ok(rv_ivf_prepare(ctx, m, 5, x, n, d, px) == RV_OK &&
	   rv_ivf_prepare(ctx, m, 5, q, nq, d, pq) == RV_OK, "ranking: prepare");
	is_int(rv_ivf_train(ctx, m, px, n, pd, nl, 5, 10, pc), RV_OK, "ranking: train 2 lists");
	is_int(rv_ivf_assign(ctx, RV_METRIC_L2, pc, nl, pd, px, n, 1, lst), RV_OK, "ranking: assign");
	for (i = 0; i < n; i++)
		rv_ivf_encode(px + i * pd, pc + lst[i] * pd, pd, codes + i * nb, &f[i]);
	ok(rv_ivf_lut_create(ctx, pd, &lut[0]) == RV_OK && rv_ivf_lut_create(ctx, pd, &lut[1]) == RV_OK,
	   "ranking: two tables");
	for (j = 0; j < nq; j++)
	{
		rv_ivf_lut_set(lut[0], m, pq + j * pd, pc);
		rv_ivf_lut_set(lut[1], m, pq + j * pd, pc + pd);
		for (i = 0; i < n; i++)
		{
			float		est,
						lb;

			rv_ivf_estimate(lut[lst[i]], codes + i * nb, &f[i], &est, &lb);
			es[i] = est;
			ex[i] = rv_metric_distance(m, q + j * d, x + i * d, d);
		}
		smallest(ex, n, 10, top);
		smallest(es, n, 100, cand);
		for (t = 0; t < 10; t++)
		{
			size_t		u;

			for (u = 0; u < 100; u++)
				if (cand[u] == top[t])
				{
					found++;
					in_top10 += u < 10;
					break;
				}
			for (u = 0, rank = 0; u < n; u++)
				rank += es[u] < es[top[t]];
			if (rank > worst)
				worst = rank;
		}
	}
	snprintf(name, sizeof(name), "%s d=%zu: the true top 10 are within the top 100 by estimate "
			 "(%ld of %zu, %ld in the top 10, worst rank %zu)", metric_names[m], d, found, 10 * nq, in_top10, worst);
	ok(found == (long) (10 * nq), name);
	rv_ivf_lut_destroy(ctx, lut[0]);
	rv_ivf_lut_destroy(ctx, lut[1]);
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "ranking: no leak");
	free(cl);
	free(topic);
	free(x);
	free(q);
	free(px);
	free(pq);
	free(pc);
	free(lst);
	free(codes);
	free(f);
	free(ex);
	free(es);
}

/*
 * The two ways a table sums a code: the default table (masked adds on a CPU with AVX-512,
 * else the byte table) and the byte table give the same estimates and bounds within float
 * rounding, for random codes (every byte value, each bit set and clear) and the all-ones
 * and all-zeros codes.
 */
static void
test_sum_ways(rv_metric m, size_t d)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		pd = rv_ivf_padded_dims(d),
				nb = pd / 8,
				n = 300,
				i,
				j;
	float	   *q = gauss_matrix(1, pd, 1.0 / sqrt((double) pd)),
			   *c = gauss_matrix(1, pd, 0.3 / sqrt((double) pd));
	uint8_t    *codes = malloc(n * nb);
	rv_ivf_lut *lut[2];
	double		worst = 0.0,
				qabs = 0.0;
	char		name[160];
	int			good = 1,
				w;

	for (i = 0; i < pd; i++)
		qabs += fabs(q[i]);
	for (i = 0; i < n * nb; i++)
		codes[i] = (uint8_t) (urand() * 256.0);
	memset(codes, 0xff, nb);
	memset(codes + nb, 0, nb);
	ok(rv_ivf_lut_create(ctx, pd, &lut[0]) == RV_OK &&
	   rv_ivf_lut_create_table(ctx, pd, &lut[1]) == RV_OK, "tables for both ways");
	ok(!rv_ivf_lut_is_masked(lut[1]), "rv_ivf_lut_create_table sums with the byte table");
	printf("# %s d=%zu: the default table sums with %s\n", metric_names[m], d,
		   rv_ivf_lut_is_masked(lut[0]) ? "AVX-512 masked adds" : "the byte table");
	for (w = 0; w < 2; w++)
		rv_ivf_lut_set(lut[w], m, q, c);
	for (i = 0; i < n; i++)
	{
		const uint8_t *code = codes + i * nb;
		rv_ivf_factors f;
		float		est[2],
					lb[2];

		f.onorm = (float) (0.5 + urand());
		f.ipq = (float) (0.6 + 0.3 * urand());
		f.oc = (float) (0.1 * gauss());
		f.xc = (float) (0.1 * gauss());
		for (w = 0; w < 2; w++)
			rv_ivf_estimate(lut[w], code, &f, &est[w], &lb[w]);
		{
			/*
			 * Each way's float sum S of up to pd terms is within pd * 2^-24 * sum |q| of
			 * the exact sum, which moves the estimate by at most that times
			 * 2 |o| / sqrt(pd) / ipq (|r| cancels)
			 */
			double		tol_s = (double) pd * 0x1p-24 * qabs;
			double		tol = 2.0 * f.onorm * tol_s / sqrt((double) pd) / f.ipq + 1e-6;
			double		diff = fabs((double) est[0] - est[1]);

			if (m == RV_METRIC_L2)
				tol *= 4.0;		/* through a square root of a nonnegative difference */
			if (diff > worst)
				worst = diff;
			if (!(diff <= tol) || !(fabs((double) lb[0] - lb[1]) <= tol) ||
				!(lb[0] <= est[0]) || !(lb[1] <= est[1]))
			{
				if (good)
					printf("#   code %zu: est %.9g / %.9g, lb %.9g / %.9g, tol %g\n",
						   i, est[0], est[1], lb[0], lb[1], tol);
				good = 0;
			}
		}
	}
	snprintf(name, sizeof(name), "%s d=%zu: both ways give the same estimates and bounds "
			 "within float rounding (largest difference %.3g)", metric_names[m], d, worst);
	ok(good, name);
	{
		/*
		 * rv_ivf_estimate_many over every code, and over odd slices of them, gives each
		 * row the bits rv_ivf_estimate gives it alone (a row does not depend on the rows
		 * beside it), for both ways
		 */
		const uint8_t **cp = malloc(n * sizeof(*cp));
		const rv_ivf_factors **fp = malloc(n * sizeof(*fp));
		rv_ivf_factors *fs = malloc(n * sizeof(*fs));
		float	   *me = malloc(n * sizeof(float)),
				   *ml = malloc(n * sizeof(float)),
				   *ml2 = malloc(n * sizeof(float));
		int			same = 1;

		for (i = 0; i < n; i++)
		{
			fs[i].onorm = (float) (0.5 + urand());
			fs[i].ipq = (float) (0.6 + 0.3 * urand());
			fs[i].oc = (float) (0.1 * gauss());
			fs[i].xc = (float) (0.1 * gauss());
			cp[i] = codes + i * nb;
			fp[i] = &fs[i];
		}
		for (w = 0; w < 2; w++)
		{
			size_t		from;

			rv_ivf_estimate_many(lut[w], cp, fp, n, me, ml);
			/* slices of 1, 3, 5, 7 ... rows, est NULL */
			for (from = 0, j = 1; from < n; from += j, j += 2)
				rv_ivf_estimate_many(lut[w], cp + from, fp + from, from + j <= n ? j : n - from,
									 NULL, ml2 + from);
			for (i = 0; i < n; i++)
			{
				float		e1,
							l1;

				rv_ivf_estimate(lut[w], cp[i], fp[i], &e1, &l1);
				if (memcmp(&e1, &me[i], sizeof(float)) != 0 ||
					memcmp(&l1, &ml[i], sizeof(float)) != 0 ||
					memcmp(&l1, &ml2[i], sizeof(float)) != 0)
				{
					if (same)
						printf("#   way %d row %zu: alone %.9g %.9g, batch %.9g %.9g, slice lb %.9g\n",
							   w, i, e1, l1, me[i], ml[i], ml2[i]);
					same = 0;
				}
			}
		}
		snprintf(name, sizeof(name), "%s d=%zu: a batch gives every row the bits it gets alone",
				 metric_names[m], d);
		ok(same, name);
		free(ml2);
		free(ml);
		free(me);
		free(fs);
		free(fp);
		free(cp);
	}
	for (w = 0; w < 2; w++)
		rv_ivf_lut_destroy(ctx, lut[w]);
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "sum ways: no leak");
	free(codes);
	free(c);
	free(q);
}

/* Tables: invalid sizes, a failed allocation, and estimates from factors that are not finite. */
static void
test_lut_edges(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	rv_ivf_lut *lut = (rv_ivf_lut *) &th;
	float		c[64] = {0},
				q[64] = {0};
	uint8_t		code[8];
	rv_ivf_factors f;
	float		est,
				lb;
	int			m,
				good = 1;

	is_int(rv_ivf_lut_create(ctx, 100, &lut), RV_E_INVALID_PARAM, "a table of 100 dimensions");
	is_str(rv_errmsg(ctx), "padded dimensions 100 must be a positive multiple of 64 up to 16000",
		   "padded dimensions message");
	ok(lut == NULL, "a failed create returns NULL");
	th.fail_at = th.total + 1;
	is_int(rv_ivf_lut_create(ctx, 64, &lut), RV_E_NOMEM, "a table under a failed allocation");
	th.fail_at = 0;
	ok(lut == NULL, "and returns NULL");
	rv_ivf_lut_destroy(ctx, NULL);

	is_int(rv_ivf_lut_create(ctx, 64, &lut), RV_OK, "a table of 64 dimensions");
	q[0] = 1.0f;
	memset(code, 0x5a, sizeof(code));
	for (m = RV_METRIC_L2; m <= RV_METRIC_COSINE; m++)
	{
		static const float bad[][3] = {{NAN, 0.5f, 0}, {1, NAN, 0}, {1, 0.5f, NAN}, {INFINITY, 0.5f, 0},
		{1, 0.0f, 0}, {-INFINITY, 0.5f, 1}, {INFINITY, 0.5f, -INFINITY}};
		size_t		k;

		rv_ivf_lut_set(lut, (rv_metric) m, q, c);
		for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		{
			f.onorm = bad[k][0];
			f.ipq = bad[k][1];
			f.oc = bad[k][2];
			rv_ivf_estimate(lut, code, &f, &est, &lb);
			if (isnan(est) || isnan(lb) || !(lb <= est))
			{
				printf("#   %s factors %g %g %g: est %g lb %g\n", metric_names[m], bad[k][0],
					   bad[k][1], bad[k][2], est, lb);
				good = 0;
			}
		}
	}
	ok(good, "factors that are not finite: no NaN, lb <= est");
	rv_ivf_lut_destroy(ctx, lut);
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "tables: no leak");
}

/* Sum over rows of the squared distance to the nearest centroid (double). */
static double
objective(const float *x, size_t n, const float *c, size_t nl, size_t pd)
{
	double		s = 0;
	size_t		i,
				l;

	for (i = 0; i < n; i++)
	{
		double		best = INFINITY;

		for (l = 0; l < nl; l++)
		{
			double		t = rv_l2_squared(x + i * pd, c + l * pd, pd);

			if (t < best)
				best = t;
		}
		s += best;
	}
	return s;
}

/*
 * k-means on 8 well-separated Gaussian clusters (n = 2000, d = 32): the objective falls
 * with iterations; with 32 lists every list holds rows of one cluster only and every
 * cluster has a list; determinism; iters = 0 gives distinct rows.
 */
static void
test_train_clusters(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		n = 2000,
				d = 32,
				pd = 64,
				k = 8,
				nl = 32,
				i,
				j,
				l;
	float	   *centers = gauss_matrix(k, d, 10.0);
	float	   *x = gauss_matrix(n, d, 1.0);
	float	   *px = malloc(n * pd * sizeof(float));
	float	   *c0 = malloc(nl * pd * sizeof(float));
	float	   *c1 = malloc(nl * pd * sizeof(float));
	float	   *c10 = malloc(nl * pd * sizeof(float));
	float	   *c10b = malloc(nl * pd * sizeof(float));
	int32_t    *lst = malloc(n * sizeof(int32_t));
	int		   *owner = malloc(nl * sizeof(int));
	int			covered[8] = {0},
				pure = 1,
				all = 1,
				rows_of_c0 = 1,
				distinct = 1;
	double		o0,
				o1,
				o10;
	char		name[200];

	for (i = 0; i < n; i++)
		for (j = 0; j < d; j++)
			x[i * d + j] += centers[(i % k) * d + j];
	is_int(rv_ivf_prepare(ctx, RV_METRIC_L2, 1, x, n, d, px), RV_OK, "clusters: prepare");

	/* 8 lists: Lloyd's objective never rises */
	is_int(rv_ivf_train(ctx, RV_METRIC_L2, px, n, pd, k, 3, 0, c0), RV_OK, "8 lists, 0 iterations");
	is_int(rv_ivf_train(ctx, RV_METRIC_L2, px, n, pd, k, 3, 1, c1), RV_OK, "8 lists, 1 iteration");
	is_int(rv_ivf_train(ctx, RV_METRIC_L2, px, n, pd, k, 3, 10, c10), RV_OK, "8 lists, 10 iterations");
	o0 = objective(px, n, c0, k, pd);
	o1 = objective(px, n, c1, k, pd);
	o10 = objective(px, n, c10, k, pd);
	snprintf(name, sizeof(name), "the objective falls: %.4g, %.4g, %.4g", o0, o1, o10);
	ok(o1 < o0 && o10 <= o1 * (1 + 1e-6), name);

	/* iters = 0: nlists distinct rows of x */
	is_int(rv_ivf_train(ctx, RV_METRIC_L2, px, n, pd, nl, 3, 0, c0), RV_OK, "32 lists, 0 iterations");
	for (l = 0; l < nl; l++)
	{
		int			found = 0;

		for (i = 0; i < n && !found; i++)
			found = memcmp(c0 + l * pd, px + i * pd, pd * sizeof(float)) == 0;
		rows_of_c0 &= found;
		for (j = 0; j < l; j++)
			distinct &= memcmp(c0 + l * pd, c0 + j * pd, pd * sizeof(float)) != 0;
	}
	ok(rows_of_c0 && distinct, "without iterations the centroids are distinct rows");

	/* 32 lists: pure, and every cluster covered */
	is_int(rv_ivf_train(ctx, RV_METRIC_L2, px, n, pd, nl, 9, 10, c10), RV_OK, "32 lists, 10 iterations");
	is_int(rv_ivf_assign(ctx, RV_METRIC_L2, c10, nl, pd, px, n, 1, lst), RV_OK, "assign");
	for (l = 0; l < nl; l++)
		owner[l] = -1;
	for (i = 0; i < n; i++)
	{
		if (owner[lst[i]] < 0)
			owner[lst[i]] = (int) (i % k);
		pure &= owner[lst[i]] == (int) (i % k);
	}
	for (l = 0; l < nl; l++)
	{
		all &= owner[l] >= 0;
		if (owner[l] >= 0)
			covered[owner[l]] = 1;
	}
	for (i = 0; i < k; i++)
		all &= covered[i];
	ok(pure, "every list holds rows of one cluster");
	ok(all, "every list is used and every cluster has a list");

	is_int(rv_ivf_train(ctx, RV_METRIC_L2, px, n, pd, nl, 9, 10, c10b), RV_OK, "again, the same seed");
	ok(memcmp(c10, c10b, nl * pd * sizeof(float)) == 0, "the same seed gives the same bits");
	is_int(rv_ivf_train(ctx, RV_METRIC_L2, px, n, pd, nl, 10, 10, c10b), RV_OK, "another seed");
	ok(memcmp(c10, c10b, nl * pd * sizeof(float)) != 0, "another seed gives other centroids");

	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "clusters: no leak");
	free(centers);
	free(x);
	free(px);
	free(c0);
	free(c1);
	free(c10);
	free(c10b);
	free(lst);
	free(owner);
}

/*
 * nlists = n: no empty list. Duplicate rows leave lists empty (a tie goes to the smaller
 * list): they are split, so the centroids end finite and pairwise different. Spherical
 * centroids are unit.
 */
static void
test_train_lists(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		n = 60,
				d = 20,
				pd = 64,
				i,
				j;
	float	   *x = gauss_matrix(n, d, 1.0);
	float	   *px = malloc(n * pd * sizeof(float));
	float	   *c = malloc(n * pd * sizeof(float));
	int32_t    *lst = malloc(n * sizeof(int32_t));
	int		   *used = calloc(n, sizeof(int));
	int			all = 1,
				finite = 1,
				distinct = 1,
				unit = 1;

	is_int(rv_ivf_prepare(ctx, RV_METRIC_L2, 2, x, n, d, px), RV_OK, "lists: prepare");
	is_int(rv_ivf_train(ctx, RV_METRIC_L2, px, n, pd, n, 4, 5, c), RV_OK, "nlists = n");
	is_int(rv_ivf_assign(ctx, RV_METRIC_L2, c, n, pd, px, n, 1, lst), RV_OK, "assign");
	for (i = 0; i < n; i++)
		used[lst[i]]++;
	for (i = 0; i < n; i++)
		all &= used[i] == 1;
	ok(all, "nlists = n: every list holds one row");

	/* 6 distinct rows, 10 copies each, 15 lists: some initial centroids coincide */
	for (i = 6; i < n; i++)
		memcpy(px + i * pd, px + (i % 6) * pd, pd * sizeof(float));
	is_int(rv_ivf_train(ctx, RV_METRIC_L2, px, n, pd, 15, 4, 3, c), RV_OK, "duplicate rows, 15 lists");
	for (i = 0; i < 15; i++)
	{
		for (j = 0; j < pd; j++)
			finite &= isfinite(c[i * pd + j]);
		for (j = 0; j < i; j++)
			distinct &= memcmp(c + i * pd, c + j * pd, pd * sizeof(float)) != 0;
	}
	ok(finite, "split lists: finite centroids");
	ok(distinct, "split lists: no two centroids alike");

	is_int(rv_ivf_prepare(ctx, RV_METRIC_COSINE, 2, x, n, d, px), RV_OK, "cosine: prepare");
	is_int(rv_ivf_train(ctx, RV_METRIC_COSINE, px, n, pd, 5, 4, 4, c), RV_OK, "cosine: train 5");
	for (i = 0; i < 5; i++)
		unit &= fabs(sqrt(dot(c + i * pd, c + i * pd, pd)) - 1.0) <= 1e-5;
	ok(unit, "cosine: centroids are unit");
	/* the L2 centroids of the same rows are means of unit vectors: shorter than 1 */
	is_int(rv_ivf_train(ctx, RV_METRIC_L2, px, n, pd, 5, 4, 4, c), RV_OK, "the same rows under l2");
	ok(sqrt(dot(c, c, pd)) < 0.99, "l2: centroids of unit rows are not renormalized");

	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "lists: no leak");
	free(x);
	free(px);
	free(c);
	free(lst);
	free(used);
}

/* Invalid arguments of train and assign, with their messages. */
static void
test_invalid(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	float	   *x = gauss_matrix(10, 64, 1.0);
	float		c[10 * 64];
	int32_t		lst[10 * 11];

	is_int(rv_ivf_train(ctx, RV_METRIC_L2, x, 10, 64, 11, 1, 2, c), RV_E_INVALID_PARAM, "nlists > n");
	is_str(rv_errmsg(ctx), "number of lists 11 must be between 1 and the number of rows 10",
		   "nlists > n message");
	is_int(rv_ivf_train(ctx, RV_METRIC_L2, x, 10, 64, 0, 1, 2, c), RV_E_INVALID_PARAM, "nlists = 0");
	is_int(rv_ivf_train(ctx, RV_METRIC_L2, x, 10, 100, 2, 1, 2, c), RV_E_INVALID_PARAM, "pd = 100");
	is_str(rv_errmsg(ctx), "padded dimensions 100 must be a positive multiple of 64 up to 16000",
		   "pd message");
	is_int(rv_ivf_train(ctx, RV_METRIC_L2, x, 10, 64, 2, 1, -1, c), RV_E_INVALID_PARAM, "iters < 0");
	is_str(rv_errmsg(ctx), "k-means iterations -1 must not be negative", "iters message");
	is_int(rv_ivf_train(ctx, RV_METRIC_L1, x, 10, 64, 2, 1, 2, c), RV_E_UNSUPPORTED, "train L1");
	is_str(rv_errmsg(ctx), "rvivf does not support the L1 distance", "train L1 message");
	is_int(rv_ivf_train(ctx, RV_METRIC_L2, NULL, 10, 64, 2, 1, 2, c), RV_E_INVALID_PARAM, "train NULL");

	is_int(rv_ivf_assign(ctx, RV_METRIC_L2, x, 10, 64, x, 10, 11, lst), RV_E_INVALID_PARAM, "nprobe > nlists");
	is_str(rv_errmsg(ctx), "nprobe 11 must be between 1 and the number of lists 10", "nprobe message");
	is_int(rv_ivf_assign(ctx, RV_METRIC_L2, x, 10, 64, x, 10, 0, lst), RV_E_INVALID_PARAM, "nprobe = 0");
	is_int(rv_ivf_assign(ctx, RV_METRIC_L2, x, 0, 64, x, 10, 1, lst), RV_E_INVALID_PARAM, "no lists");
	is_int(rv_ivf_assign(ctx, RV_METRIC_L2, x, 10, 32, x, 10, 1, lst), RV_E_INVALID_PARAM, "assign pd = 32");
	is_int(rv_ivf_assign(ctx, RV_METRIC_L1, x, 10, 64, x, 10, 1, lst), RV_E_UNSUPPORTED, "assign L1");
	is_int(rv_ivf_assign(ctx, RV_METRIC_L2, x, 10, 64, NULL, 0, 1, NULL), RV_OK, "assign no rows");
	{
		float	   *many = calloc((size_t) (RV_MAX_K + 1) * 64, sizeof(float));

		is_int(rv_ivf_assign(ctx, RV_METRIC_L2, many, RV_MAX_K + 1, 64, x, 1, RV_MAX_K + 1, lst),
			   RV_E_LIMIT, "nprobe beyond the top-k limit");
		is_str(rv_errmsg(ctx), "nprobe 16385 exceeds the maximum of 16384", "nprobe limit message");
		free(many);
	}
	is_int(rv_ivf_assign(ctx, RV_METRIC_L2, x, 10, 64, NULL, 3, 1, lst), RV_E_INVALID_PARAM, "assign NULL");
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "invalid: no leak");
	free(x);
}

/*
 * rv_ivf_rank against rv_ivf_assign: the same lists in the same order for every query, on
 * clustered centroids (near ties between lists), exact copies (ties: the smaller list
 * first), a zero centroid and a zero query (cosine's special case), queries equal to a
 * centroid, tiny and huge scales (the half copy's subnormals, its range and past it), every nprobe
 * from 1 to the number of lists; then its errors, and no leak.
 */
static void
test_rank(rv_metric m, size_t nl, size_t pd, double scale)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		nq = 60,
				i,
				j,
				np;
	float	   *c = gauss_matrix(nl, pd, scale / sqrt((double) pd)),
			   *q = gauss_matrix(nq, pd, scale / sqrt((double) pd));
	int32_t    *a = malloc(nl * sizeof(int32_t)),
			   *b = malloc(nl * sizeof(int32_t));
	rv_ivf_ranker *r = NULL;
	int			good = 1;
	char		name[200];

	/* clusters: every fourth centroid near the one before it, copies, a zero centroid */
	for (i = 1; i < nl; i += 4)
		for (j = 0; j < pd; j++)
			c[i * pd + j] = c[(i - 1) * pd + j] * (float) (1.0 + 1e-4 * gauss());
	if (nl > 6)
	{
		memcpy(c + 5 * pd, c + 2 * pd, pd * sizeof(float));
		memset(c + 6 * pd, 0, pd * sizeof(float));
	}
	/* queries: near centroids, equal to one, zero */
	for (i = 0; i < nq; i += 3)
		for (j = 0; j < pd; j++)
			q[i * pd + j] = c[(i % nl) * pd + j] + (float) (1e-3 * scale * gauss() / sqrt((double) pd));
	memcpy(q + pd, c + 2 * pd, pd * sizeof(float));
	memset(q + 4 * pd, 0, pd * sizeof(float));

	is_int(rv_ivf_ranker_create(ctx, c, nl, pd, &r), RV_OK, "ranker create");
	for (i = 0; i < nq && good; i++)
		for (np = 1; np <= nl && good; np += (np < 8 ? 1 : nl / 5 + 1))
		{
			rv_status	s1 = rv_ivf_assign(ctx, m, c, nl, pd, q + i * pd, 1, np, a),
						s2 = rv_ivf_rank(ctx, m, c, r, q + i * pd, np, b);

			if (s1 != s2 || (s1 == RV_OK && memcmp(a, b, np * sizeof(int32_t)) != 0))
			{
				printf("#   query %zu nprobe %zu: status %d / %d, first lists %d %d / %d %d\n",
					   i, np, s1, s2, a[0], np > 1 ? a[1] : -1, b[0], np > 1 ? b[1] : -1);
				good = 0;
			}
		}
	snprintf(name, sizeof(name), "rank %s lists=%zu pd=%zu scale=%g pass=%d: rv_ivf_assign's lists "
			 "in its order", metric_names[m], nl, pd, scale, rv_ivfrank_path);
	ok(good, name);
	rv_ivf_ranker_destroy(ctx, r);
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "rank: no leak");
	free(b);
	free(a);
	free(q);
	free(c);
}

/* The ranker's errors: its arguments, an allocation failure, and rank's own checks. */
static void
test_rank_errors(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	float	   *c = gauss_matrix(4, 64, 1.0);
	rv_ivf_ranker *r = (rv_ivf_ranker *) &th;
	int32_t		l[4];

	is_int(rv_ivf_ranker_create(ctx, c, 4, 100, &r), RV_E_INVALID_PARAM, "ranker of 100 dimensions");
	ok(r == NULL, "a failed ranker create returns NULL");
	is_int(rv_ivf_ranker_create(ctx, c, 0, 64, &r), RV_E_INVALID_PARAM, "ranker of no lists");
	th.fail_at = th.total + 1;
	is_int(rv_ivf_ranker_create(ctx, c, 4, 64, &r), RV_E_NOMEM, "ranker under a failed allocation");
	th.fail_at = 0;
	is_int(rv_ivf_ranker_create(ctx, c, 4, 64, &r), RV_OK, "a ranker of 4 lists");
	is_int(rv_ivf_rank(ctx, RV_METRIC_L2, c, r, c, 5, l), RV_E_INVALID_PARAM,
		   "rank: nprobe above the lists is rv_ivf_assign's error");
	is_int(rv_ivf_rank(ctx, RV_METRIC_L1, c, r, c, 2, l), RV_E_UNSUPPORTED,
		   "rank: L1 is rv_ivf_assign's error");
	th.fail_at = th.total + 1;
	is_int(rv_ivf_rank(ctx, RV_METRIC_L2, c, r, c, 2, l), RV_E_NOMEM, "rank under a failed allocation");
	th.fail_at = 0;
	rv_ivf_ranker_destroy(ctx, r);
	rv_ivf_ranker_destroy(ctx, NULL);
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "rank errors: no leak");
	free(c);
}

/*
 * Assignment against brute force: (float) rv_metric_distance to each centroid, ordered by
 * (distance, list). Centroid 20 is a copy of 3 and some rows are copies of it: ties go to
 * the smaller list. 5000 rows cross a block of 4096.
 */
static void
test_assign(rv_metric m, size_t nprobe)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		n = 5000,
				nl = 37,
				pd = 64,
				i,
				t;
	float	   *x = gauss_matrix(n, pd, 1.0);
	float	   *c = gauss_matrix(nl, pd, 1.0);
	int32_t    *lst = malloc(n * nprobe * sizeof(int32_t));
	int64_t		rows[37];
	float		dist[37];
	int			good = 1,
				ties = 1;
	char		name[200];

	memcpy(c + 20 * pd, c + 3 * pd, pd * sizeof(float));
	for (i = 0; i < n; i += 250)
		memcpy(x + i * pd, c + 3 * pd, pd * sizeof(float));
	snprintf(name, sizeof(name), "assign %s nprobe=%zu", metric_names[m], nprobe);
	is_int(rv_ivf_assign(ctx, m, c, nl, pd, x, n, nprobe, lst), RV_OK, name);
	for (i = 0; i < n && good; i++)
	{
		for (t = 0; t < nl; t++)
		{
			rows[t] = (int64_t) t;
			dist[t] = (float) rv_metric_distance(m, x + i * pd, c + t * pd, pd);
		}
		/* insertion sort by (distance, list) */
		for (t = 1; t < nl; t++)
		{
			size_t		u = t;

			while (u > 0 && (dist[u] < dist[u - 1] ||
							 (dist[u] == dist[u - 1] && rows[u] < rows[u - 1])))
			{
				float		td = dist[u];
				int64_t		tr = rows[u];

				dist[u] = dist[u - 1];
				rows[u] = rows[u - 1];
				dist[u - 1] = td;
				rows[u - 1] = tr;
				u--;
			}
		}
		for (t = 0; t < nprobe; t++)
			if (lst[i * nprobe + t] != rows[t])
			{
				printf("#   row %zu slot %zu: list %d, brute force %lld\n", i, t,
					   lst[i * nprobe + t], (long long) rows[t]);
				good = 0;
				break;
			}
		if (i % 250 == 0)
			ties &= nprobe == 1 ? lst[i * nprobe] == 3
				: lst[i * nprobe] == 3 && lst[i * nprobe + 1] == 20;
	}
	snprintf(name, sizeof(name), "%s nprobe=%zu: nearest first, as brute force", metric_names[m], nprobe);
	ok(good, name);
	ok(ties, "a tie goes to the smaller list number");
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "assign: no leak");
	free(x);
	free(c);
	free(lst);
}

/* Allocation failures and interrupts of train and assign: a status, never a leak. */
static void
test_failures(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		n = 5000,
				pd = 64,
				nl = 16;
	float	   *x = gauss_matrix(n, pd, 1.0);
	float	   *c = malloc(nl * pd * sizeof(float));
	int32_t    *lst = malloc(n * 4 * sizeof(int32_t));
	long		i;
	int			statuses = 1,
				clean = 1,
				failed = 0,
				succeeded = 0;

	for (i = 1; i <= 200 && !succeeded; i++)
	{
		long		live = th.live;
		rv_status	s;

		th.fail_at = th.total + i;
		s = rv_ivf_train(ctx, RV_METRIC_COSINE, x, n, pd, nl, 1, 3, c);
		th.fail_at = 0;
		statuses &= s == RV_OK || (s == RV_E_NOMEM && strncmp(rv_errmsg(ctx), "out of memory", 13) == 0);
		clean &= th.live == live;
		failed += s == RV_E_NOMEM;
		succeeded = s == RV_OK;
	}
	ok(statuses && succeeded, "train: each failed allocation gives RV_E_NOMEM, out of memory");
	ok(clean, "train: no leak after a failed allocation");
	ok(failed >= 5, "train: several allocations were made and failed");

	for (i = 1, succeeded = 0, failed = 0; i <= 100 && !succeeded; i++)
	{
		long		live = th.live;
		rv_status	s;

		th.fail_at = th.total + i;
		s = rv_ivf_assign(ctx, RV_METRIC_IP, x, nl, pd, x, n, 4, lst);
		th.fail_at = 0;
		statuses &= s == RV_OK || s == RV_E_NOMEM;
		clean &= th.live == live;
		failed += s == RV_E_NOMEM;
		succeeded = s == RV_OK;
	}
	ok(statuses && succeeded && failed >= 2, "assign: failed allocations give RV_E_NOMEM");
	ok(clean, "assign: no leak after a failed allocation");

	for (i = 0, statuses = 1; i < 8; i++)
	{
		long		live = th.live;
		rv_status	s;

		th.interrupt_after = i;
		th.interrupt_calls = 0;
		s = rv_ivf_train(ctx, RV_METRIC_L2, x, n, pd, nl, 1, 3, c);
		th.interrupt_after = -1;
		statuses &= s == RV_E_INTERRUPTED;
		clean &= th.live == live;
	}
	ok(statuses, "train: an interrupt at each of its first 8 checks gives RV_E_INTERRUPTED");
	ok(clean, "train: no leak after an interrupt");
	th.interrupt_after = 1;
	th.interrupt_calls = 0;
	is_int(rv_ivf_assign(ctx, RV_METRIC_L2, x, nl, pd, x, n, 1, lst), RV_E_INTERRUPTED,
		   "assign: interrupted between blocks");
	th.interrupt_after = -1;
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "failures: no leak");
	free(x);
	free(c);
	free(lst);
}

int
main(void)
{
	static const size_t dims[] = {1, 3, 100, 768, 1000};
	int			i,
				m;

	test_sizes();
	for (i = 0; i < 5; i++)
	{
		test_isometry(RV_METRIC_L2, dims[i], 12);
		test_isometry(RV_METRIC_COSINE, dims[i], 12);
	}
	test_isometry(RV_METRIC_L2, 16000, 3);
	test_seeds();
	test_prepare_edges();
	for (m = RV_METRIC_L2; m <= RV_METRIC_COSINE; m++)
	{
		test_exact_cases((rv_metric) m, 100);
		test_exact_cases((rv_metric) m, 768);
		test_statistics((rv_metric) m, 128);
		test_statistics((rv_metric) m, 768);
		test_ranking((rv_metric) m, 128);
		test_ranking((rv_metric) m, 768);
	}
	for (m = RV_METRIC_L2; m <= RV_METRIC_COSINE; m++)
	{
		test_sum_ways((rv_metric) m, 64);
		test_sum_ways((rv_metric) m, 768);
		test_sum_ways((rv_metric) m, 16000);
	}
	test_lut_edges();
	test_train_clusters();
	test_train_lists();
	test_invalid();
	for (m = RV_METRIC_L2; m <= RV_METRIC_COSINE; m++)
	{
		test_assign((rv_metric) m, 1);
		test_assign((rv_metric) m, 5);
	}
	test_assign(RV_METRIC_L2, 37);
	for (m = RV_METRIC_L2; m <= RV_METRIC_COSINE; m++)
	{
		int			path;

		/* each pass over the half copy this CPU has, on one size; then the default */
		for (path = 1; path <= 3; path++)
		{
			if ((path == 2 && !__builtin_cpu_supports("x86-64-v3")) ||
				(path == 3 && !__builtin_cpu_supports("x86-64-v4")))
			{
				printf("# rank: pass %d is not on this CPU\n", path);
				continue;
			}
			rv_ivfrank_path = path;
			test_rank((rv_metric) m, 316, 768, 1.0);
		}
		rv_ivfrank_path = 0;
		test_rank((rv_metric) m, 37, 64, 1.0);
		test_rank((rv_metric) m, 316, 768, 1.0);
		test_rank((rv_metric) m, 50, 128, 1e-6);
		test_rank((rv_metric) m, 50, 128, 3e4);
		test_rank((rv_metric) m, 50, 128, 1e7);	/* past the half range: rv_ivf_assign */
	}
	test_rank_errors();
	test_failures();
	return done_testing();
}
