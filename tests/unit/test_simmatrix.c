/*
 * test_simmatrix.c — the CPU similarity matrix (rvc_simmatrix) against a naive
 * double-precision reference written here: every similarity function, with and without a
 * center, with and without row normalization, zero vectors, near-duplicate rows where the
 * Euclidean expansion cancels, several x blocks, invalid arguments with their exact
 * messages, allocation failures and interrupts, and no leaks under the counting allocator.
 *
 * Tolerances (float32 output, sgemm accumulation order unknown):
 *   cosine     |got - ref| <= 1e-5
 *   dot        |got - ref| <= 1e-5 * |x - c| * |a - c|
 *   neg L2     |got - ref| <= 1e-5 * |ref| + 2e-6 * sqrt(|x - c|^2 + |a - c|^2)
 *              and, for near-duplicates (exact fallback), |got - ref| <= 1e-5 * |ref|
 *   neg L1     |got - ref| <= 1e-5 * |ref| + 1e-7
 *   neg Linf   |got - ref| <= 1e-6 * |ref| + 1e-7
 *   normalized rows: 2 * |row tolerances| / |ref row| + 1e-6 per element
 * Values beyond the float range (an unnormalized distance or dot product of huge inputs)
 * must fail with RV_E_OUT_OF_RANGE rather than produce an infinity.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tap.h"
#include "testhost.h"

static uint64_t rng = 88172645463325252ULL;

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
		m[i] = offset + frand();
	return m;
}

static const char *sim_names[] = {"cosine", "dot", "neg_l2", "neg_l1", "neg_linf"};

/* Reference similarity and its tolerance, in double, with the center subtracted first. */
static double
ref_sim(rv_sim sim, const float *x, const float *a, const float *c, size_t d, double *tol)
{
	double		dot = 0, xn = 0, an = 0, l2 = 0, l1 = 0, linf = 0;
	size_t		i;

	for (i = 0; i < d; i++)
	{
		double		xv = (double) x[i] - (c ? c[i] : 0.0);
		double		av = (double) a[i] - (c ? c[i] : 0.0);
		double		t = xv - av;

		dot += xv * av;
		xn += xv * xv;
		an += av * av;
		l2 += t * t;
		l1 += fabs(t);
		if (fabs(t) > linf)
			linf = fabs(t);
	}
	switch (sim)
	{
		case RV_SIM_COSINE:
			*tol = 1e-5;
			return (xn == 0 || an == 0) ? 0.0 : dot / sqrt(xn * an);
		case RV_SIM_DOT:
			*tol = 1e-5 * sqrt(xn * an);
			return dot;
		case RV_SIM_NEG_L2:
			*tol = 1e-5 * sqrt(l2) + 2e-6 * sqrt(xn + an);
			return -sqrt(l2);
		case RV_SIM_NEG_L1:
			*tol = 1e-5 * l1 + 1e-7;
			return -l1;
		case RV_SIM_NEG_LINF:
			*tol = 1e-6 * linf + 1e-7;
			return -linf;
	}
	return 0;
}

/*
 * Run rvc_simmatrix and compare with the reference; returns the largest error divided by
 * its tolerance (<= 1 passes), or -1 if the call failed.
 */
static double
check_case(rv_sim sim, const float *x, size_t n, const float *a, size_t k, size_t d,
		   const float *c, int normalize, int *no_leak)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	float	   *out = malloc((n * k + 1) * sizeof(float));
	double	   *ref = malloc((k + 1) * sizeof(double));
	double	   *tol = malloc((k + 1) * sizeof(double));
	rv_simmatrix_args args;
	double		worst = 0;
	size_t		i, j;
	rv_status	st;

	memset(&args, 0, sizeof(args));
	args.x = x;
	args.n = n;
	args.a = a;
	args.k = k;
	args.d = d;
	args.sim = sim;
	args.center = c;
	args.normalize = normalize;
	args.out = out;
	st = rvc_simmatrix(ctx, &args);
	rv_ctx_destroy(ctx);
	*no_leak = th.live == 0;
	if (st != RV_OK)
		worst = -1;
	for (i = 0; st == RV_OK && i < n; i++)
	{
		double		rn = 0, tn = 0;

		for (j = 0; j < k; j++)
		{
			ref[j] = ref_sim(sim, x + i * d, a + j * d, c, d, &tol[j]);
			rn += ref[j] * ref[j];
			tn += tol[j] * tol[j];
		}
		for (j = 0; j < k; j++)
		{
			double		want = ref[j];
			double		t = tol[j];
			double		e;

			if (normalize)
			{
				want = rn > 0 ? ref[j] / sqrt(rn) : 0.0;
				t = rn > 0 ? 2.0 * sqrt(tn) / sqrt(rn) + 1e-6 : 1e-6;
			}
			if (isnan(out[i * k + j]))
				e = INFINITY;
			else
				e = fabs(out[i * k + j] - want) / t;
			if (e > worst)
			{
				worst = e;
				if (e > 1)
					printf("#   %s row %zu col %zu: got %.9g want %.9g tol %.3g\n",
						   sim_names[sim], i, j, out[i * k + j], want, t);
			}
		}
	}
	free(out);
	free(ref);
	free(tol);
	return worst;
}

/*
 * Values far beyond 1e19 overflow float sums in the sgemm and in the float lanes, and with
 * a center of the opposite sign the centered values overflow float themselves; finite
 * inputs must still give the reference's values wherever these fit in a float, and an
 * RV_E_OUT_OF_RANGE error where they do not.
 */
static void
test_huge_values(void)
{
	size_t		n = 30, k = 9, d = 40, i;
	float	   *x = rand_matrix(n, d, 0);
	float	   *a = rand_matrix(k, d, 0);
	float	   *c = malloc(d * sizeof(float));
	int			sim, cen;

	for (i = 0; i < n * d; i++)
		x[i] *= 1e20f;
	for (i = 0; i < k * d; i++)
		a[i] *= 1e20f;
	for (i = 0; i < d; i++)
		c[i] = 1e19f * frand();
	for (sim = RV_SIM_COSINE; sim <= RV_SIM_NEG_LINF; sim++)
		for (cen = 0; cen <= 1; cen++)
		{
			char		name[200];
			int			no_leak;
			double		w;

			/* a dot product near 1e41 is representable only once normalized */
			w = check_case((rv_sim) sim, x, n, a, k, d, cen ? c : NULL, sim == RV_SIM_DOT,
						   &no_leak);
			snprintf(name, sizeof(name), "%s values near 1e20 center=%d: finite and within tolerance",
					 sim_names[sim], cen);
			if (!ok(w >= 0 && w <= 1.0, name))
				printf("#   worst error / tolerance %g\n", w);
			if (!no_leak)
				ok(0, "no leak");
		}

	/* unnormalized, that dot product is out of the float range: an error, not inf */
	{
		float	   *out = malloc(n * k * sizeof(float));
		rv_simmatrix_args args;
		test_host	th;
		rv_ctx	   *ctx = test_ctx(&th);

		memset(&args, 0, sizeof(args));
		args.x = x;
		args.n = n;
		args.a = a;
		args.k = k;
		args.d = d;
		args.sim = RV_SIM_DOT;
		args.out = out;
		is_int(rvc_simmatrix(ctx, &args), RV_E_OUT_OF_RANGE, "dot beyond the float range fails");
		is_str(rv_errmsg(ctx), "similarity value out of range: overflow", "overflow message");
		is_str(rv_errdetail(ctx), "input row 0, anchor 0", "overflow detail");
		rv_ctx_destroy(ctx);
		ok(th.live == 0, "overflow: no leak");
		free(out);
	}

	/* x near +3e38, center near -1e38: x - c overflows float */
	for (i = 0; i < n * d; i++)
		x[i] = 2e38f + 1e38f * frand();
	for (i = 0; i < k * d; i++)
		a[i] = 1e38f * frand();
	for (i = 0; i < d; i++)
		c[i] = -1e38f + 1e37f * frand();
	for (sim = RV_SIM_COSINE; sim <= RV_SIM_NEG_LINF; sim++)
	{
		char		name[200];
		int			no_leak;
		double		w;

		/* normalized: distances near 1e39 are beyond float, their row's direction is not */
		w = check_case((rv_sim) sim, x, n, a, k, d, c, 1, &no_leak);
		snprintf(name, sizeof(name), "%s centered values beyond the float range: within tolerance",
				 sim_names[sim]);
		if (!ok(w >= 0 && w <= 1.0, name))
			printf("#   worst error / tolerance %g\n", w);
		if (!no_leak)
			ok(0, "no leak");
	}
	free(x);
	free(a);
	free(c);
}

/* Every similarity x center x normalize over one shape. */
static void
test_shape(size_t n, size_t k, size_t d, float offset)
{
	float	   *x = rand_matrix(n, d, offset);
	float	   *a = rand_matrix(k, d, offset);
	float	   *c = rand_matrix(1, d, offset);
	int			sim, cen, norm;

	for (sim = RV_SIM_COSINE; sim <= RV_SIM_NEG_LINF; sim++)
		for (cen = 0; cen <= 1; cen++)
			for (norm = 0; norm <= 1; norm++)
			{
				char		name[200];
				int			no_leak;
				double		w = check_case((rv_sim) sim, x, n, a, k, d, cen ? c : NULL,
										   norm, &no_leak);

				snprintf(name, sizeof(name),
						 "%s n=%zu k=%zu d=%zu offset=%g center=%d normalize=%d within tolerance",
						 sim_names[sim], n, k, d, offset, cen, norm);
				if (!ok(w >= 0 && w <= 1.0, name))
					printf("#   worst error / tolerance %g\n", w);
				if (!no_leak)
					ok(0, "no leak");
			}
	free(x);
	free(a);
	free(c);
}

/* Zero vectors: cosine 0, normalized zero rows stay zero, no NaN anywhere. */
static void
test_zero_vectors(void)
{
	size_t		d = 40, n = 4, k = 3;
	float	   *x = rand_matrix(n, d, 0);
	float	   *a = rand_matrix(k, d, 0);
	float	   *c = rand_matrix(1, d, 0);
	float		out[12];
	rv_simmatrix_args args;
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	int			nan_seen = 0;
	int			i;

	memset(x, 0, d * sizeof(float));	/* x_0 = 0 */
	memset(a + d, 0, d * sizeof(float));	/* a_1 = 0 */
	memset(&args, 0, sizeof(args));
	args.x = x;
	args.n = n;
	args.a = a;
	args.k = k;
	args.d = d;
	args.sim = RV_SIM_COSINE;
	args.out = out;
	args.normalize = 1;
	is_int(rvc_simmatrix(ctx, &args), RV_OK, "cosine with zero vectors succeeds");
	ok(out[0] == 0 && out[1] == 0 && out[2] == 0, "zero x row gives a zero row after normalize");
	ok(out[3 + 1] == 0 && out[6 + 1] == 0 && out[9 + 1] == 0, "zero anchor gives a zero column");
	for (i = 0; i < 12; i++)
		nan_seen |= isnan(out[i]);
	ok(!nan_seen, "no NaN with zero vectors");

	/* x_2 equal to the center: zero after centering */
	memcpy(x + 2 * d, c, d * sizeof(float));
	args.center = c;
	args.normalize = 0;
	is_int(rvc_simmatrix(ctx, &args), RV_OK, "centered cosine succeeds");
	ok(out[6] == 0 && out[7] == 0 && out[8] == 0, "x equal to the center gives cosine 0");

	args.sim = RV_SIM_NEG_L2;
	args.normalize = 1;
	args.center = NULL;
	memcpy(a, x + 3 * d, d * sizeof(float));
	is_int(rvc_simmatrix(ctx, &args), RV_OK, "neg_l2 with identical rows succeeds");
	ok(out[9] == 0 && !signbit(out[9]), "identical rows have neg_l2 exactly +0");
	rv_ctx_destroy(ctx);
	ok(th.live == 0, "zero vectors: no leak");
	free(x);
	free(a);
	free(c);
}

/*
 * Near-duplicates far from the origin: |x|^2 + |a|^2 - 2 x.a cancels almost completely, so
 * only the exact fallback meets a tolerance relative to the distance itself.
 */
static void
test_near_duplicates(void)
{
	size_t		d = 96, n = 50, k = 20;
	float	   *x = rand_matrix(n, d, 100.0f);
	float	   *a = malloc(k * d * sizeof(float));
	float	   *out = malloc(n * k * sizeof(float));
	rv_simmatrix_args args;
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	double		worst = 0;
	size_t		i, j, t;

	for (j = 0; j < k; j++)
		for (t = 0; t < d; t++)
			a[j * d + t] = x[j * d + t] + 1e-3f * frand();
	memcpy(a + 5 * d, x + 7 * d, d * sizeof(float));	/* an exact duplicate */
	memset(&args, 0, sizeof(args));
	args.x = x;
	args.n = n;
	args.a = a;
	args.k = k;
	args.d = d;
	args.sim = RV_SIM_NEG_L2;
	args.out = out;
	is_int(rvc_simmatrix(ctx, &args), RV_OK, "neg_l2 near-duplicates succeeds");
	for (i = 0; i < n; i++)
		for (j = 0; j < k; j++)
		{
			double		tol;
			double		want = ref_sim(RV_SIM_NEG_L2, x + i * d, a + j * d, NULL, d, &tol);
			double		e;

			/* strict relative tolerance where the fallback must have run */
			if (-want < 0.25 * sqrt(2.0 * d * 100.0 * 100.0))
				tol = 1e-5 * fabs(want) + 1e-30;
			e = fabs(out[i * k + j] - want) / tol;
			if (e > worst)
				worst = e;
		}
	if (!ok(worst <= 1.0, "neg_l2 near-duplicates: relative error <= 1e-5 of the distance"))
		printf("#   worst error / tolerance %g\n", worst);
	ok(out[7 * k + 5] == 0.0f, "exact duplicate far from the origin has distance 0");
	rv_ctx_destroy(ctx);
	ok(th.live == 0, "near-duplicates: no leak");
	free(x);
	free(a);
	free(out);
}

/* One invalid-argument case: the status and the exact message. */
static void
expect_error(rv_simmatrix_args *args, rv_status want, const char *msg)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	char		name[300];

	snprintf(name, sizeof(name), "error status for: %s", msg);
	is_int(rvc_simmatrix(ctx, args), want, name);
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
	float		out[4];
	rv_simmatrix_args args, base;
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);

	memset(&base, 0, sizeof(base));
	base.x = x;
	base.n = 2;
	base.a = x;
	base.k = 2;
	base.d = 4;
	base.sim = RV_SIM_COSINE;
	base.out = out;

	is_int(rvc_simmatrix(ctx, NULL), RV_E_INVALID_PARAM, "NULL arguments rejected");
	is_str(rv_errmsg(ctx), "similarity matrix arguments must not be NULL", "NULL arguments message");
	rv_ctx_destroy(ctx);

	args = base;
	args.d = 0;
	expect_error(&args, RV_E_INVALID_PARAM, "embedding dimensions must be at least 1");
	args = base;
	args.d = RV_MAX_DIMS + 1;
	expect_error(&args, RV_E_TOO_MANY_DIMS, "embeddings cannot have more than 16000 dimensions");
	args = base;
	args.k = 0;
	expect_error(&args, RV_E_INVALID_PARAM, "number of anchors must be at least 1");
	args = base;
	args.sim = (rv_sim) 7;
	expect_error(&args, RV_E_INVALID_PARAM, "unknown similarity function 7");
	args = base;
	args.a = NULL;
	expect_error(&args, RV_E_INVALID_PARAM, "anchor vectors must not be NULL");
	args = base;
	args.x = NULL;
	expect_error(&args, RV_E_INVALID_PARAM, "input vectors must not be NULL");
	args = base;
	args.out = NULL;
	expect_error(&args, RV_E_INVALID_PARAM, "output matrix must not be NULL");

	/* n = 0 does nothing, even without x or out */
	ctx = test_ctx(&th);
	args = base;
	args.n = 0;
	args.x = NULL;
	args.out = NULL;
	is_int(rvc_simmatrix(ctx, &args), RV_OK, "n = 0 is fine and does nothing");
	rv_ctx_destroy(ctx);
	ok(th.live == 0, "invalid arguments: no leak");
}

/* Fail each allocation in turn: RV_E_NOMEM and no leak, until the call succeeds. */
static void
test_nomem(rv_sim sim, int centered)
{
	size_t		n = 300, k = 5, d = 33;
	float	   *x = rand_matrix(n, d, 0);
	float	   *a = rand_matrix(k, d, 0);
	float	   *c = rand_matrix(1, d, 0);
	float	   *out = malloc(n * k * sizeof(float));
	rv_simmatrix_args args;
	long		fail;
	int			all_nomem = 1, all_clean = 1, succeeded = 0;
	char		name[200];

	memset(&args, 0, sizeof(args));
	args.x = x;
	args.n = n;
	args.a = a;
	args.k = k;
	args.d = d;
	args.sim = sim;
	args.center = centered ? c : NULL;
	args.out = out;
	for (fail = 1; fail <= 20 && !succeeded; fail++)
	{
		test_host	th;
		rv_ctx	   *ctx = test_ctx(&th);
		rv_status	st;

		th.fail_at = th.total + fail;
		st = rvc_simmatrix(ctx, &args);
		if (st == RV_OK)
			succeeded = 1;
		else if (st != RV_E_NOMEM || strncmp(rv_errmsg(ctx), "out of memory", 13) != 0)
			all_nomem = 0;
		rv_ctx_destroy(ctx);
		if (th.live != 0)
			all_clean = 0;
	}
	snprintf(name, sizeof(name), "%s center=%d: each failed allocation gives RV_E_NOMEM",
			 sim_names[sim], centered);
	ok(all_nomem && succeeded, name);
	snprintf(name, sizeof(name), "%s center=%d: no leak after a failed allocation",
			 sim_names[sim], centered);
	ok(all_clean, name);
	free(x);
	free(a);
	free(c);
	free(out);
}

/* The interrupt check stops the work between blocks. */
static void
test_interrupt(rv_sim sim, long after)
{
	size_t		n = 5000, k = 3, d = 1000;
	float	   *x = rand_matrix(n, d, 0);
	float	   *a = rand_matrix(k, d, 0);
	float	   *out = malloc(n * k * sizeof(float));
	rv_simmatrix_args args;
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	char		name[200];

	memset(&args, 0, sizeof(args));
	args.x = x;
	args.n = n;
	args.a = a;
	args.k = k;
	args.d = d;
	args.sim = sim;
	args.center = a;
	args.out = out;
	th.interrupt_after = after;
	snprintf(name, sizeof(name), "%s interrupted after %ld polls", sim_names[sim], after);
	is_int(rvc_simmatrix(ctx, &args), RV_E_INTERRUPTED, name);
	is_str(rv_errmsg(ctx), "similarity matrix interrupted", "interrupt message");
	rv_ctx_destroy(ctx);
	ok(th.live == 0, "interrupted: no leak");
	free(x);
	free(a);
	free(out);
}

int
main(void)
{
	test_shape(37, 13, 50, 0.0f);
	test_shape(5, 3, 1, 0.0f);
	test_shape(4, 1, 64, 0.5f);
	test_shape(3000, 7, 1000, 0.0f);	/* two x blocks */
	test_shape(200, 300, 20, 1.0f);		/* several anchor tiles for L1/Linf */
	test_huge_values();
	test_zero_vectors();
	test_near_duplicates();
	test_invalid();
	test_nomem(RV_SIM_COSINE, 1);
	test_nomem(RV_SIM_NEG_L2, 0);
	test_nomem(RV_SIM_NEG_L1, 1);
	test_interrupt(RV_SIM_COSINE, 0);
	test_interrupt(RV_SIM_NEG_L2, 1);
	test_interrupt(RV_SIM_NEG_LINF, 0);
	return done_testing();
}
