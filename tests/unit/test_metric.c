/*
 * test_metric.c — single-vector distances, norms, ordering, hashing, arithmetic and the
 * aggregate sums, against a double-precision reference written here.
 */
#include <math.h>
#include <stdlib.h>

#include "tap.h"
#include "testhost.h"

/* Deterministic pseudo-random floats in [-1, 1). */
static float
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return (float) ((*s >> 8) / 8388608.0 - 1.0);
}

int
main(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	float		a[] = {1, 2, 3};
	float		b[] = {4, 6, 8};
	float		z[] = {0, 0, 0};
	float		out[3];
	uint32_t	seed = 7;
	size_t		n;

	is_double(rv_l2_distance(a, b, 3), sqrt(50.0), 1e-12, "l2");
	is_double(rv_l2_squared(a, b, 3), 50.0, 1e-12, "l2 squared");
	is_double(rv_inner_product(a, b, 3), 40.0, 1e-12, "inner product");
	is_double(rv_cosine_distance(a, b, 3), 1.0 - 40.0 / sqrt(14.0 * 116.0), 1e-7, "cosine");
	is_double(rv_cosine_distance(a, z, 3), 1.0, 0, "cosine with a zero vector is 1");
	is_double(rv_cosine_distance(a, a, 3), 0.0, 1e-7, "cosine with itself is 0");
	is_double(rv_l1_distance(a, b, 3), 12.0, 1e-12, "l1");
	is_double(rv_linf_distance(a, b, 3), 5.0, 0, "linf");
	is_double(rv_norm(b, 3), sqrt(116.0), 1e-12, "norm");
	is_double(rv_metric_distance(RV_METRIC_IP, a, b, 3), -40.0, 1e-12, "metric ip is negative");

	/* long random vectors (every lane width and tail) against double references */
	for (n = 1; n <= 1000; n = n * 3 + 1)
	{
		float	   *x = malloc(n * sizeof(float));
		float	   *y = malloc(n * sizeof(float));
		double		l2 = 0,
					ip = 0,
					l1 = 0,
					nx = 0,
					ny = 0;
		size_t		i;
		char		name[64];

		for (i = 0; i < n; i++)
		{
			x[i] = rnd(&seed);
			y[i] = rnd(&seed);
			l2 += ((double) x[i] - y[i]) * ((double) x[i] - y[i]);
			ip += (double) x[i] * y[i];
			l1 += fabs((double) x[i] - y[i]);
			nx += (double) x[i] * x[i];
			ny += (double) y[i] * y[i];
		}
		snprintf(name, sizeof(name), "n=%zu: l2, ip, l1, cosine within 1e-5 relative", n);
		ok(fabs(rv_l2_squared(x, y, n) - l2) <= 1e-5 * (l2 + 1e-30) &&
		   fabs(rv_inner_product(x, y, n) - ip) <= 1e-5 * sqrt(nx * ny) &&
		   fabs(rv_l1_distance(x, y, n) - l1) <= 1e-5 * l1 &&
		   fabs(rv_cosine_distance(x, y, n) - (1 - ip / sqrt(nx * ny))) <= 1e-5, name);
		free(x);
		free(y);
	}

	/* overflow of float lanes falls back to double */
	{
		float	   *x = malloc(32 * sizeof(float));
		float	   *y = malloc(32 * sizeof(float));
		size_t		i;

		for (i = 0; i < 32; i++)
		{
			x[i] = 1e20f;
			y[i] = -1e20f;
		}
		is_double(rv_l2_distance(x, y, 32) / (2e20 * sqrt(32.0)), 1.0, 1e-6, "large L2 finite and right");
		is_double(rv_inner_product(x, y, 32) / (-1e40 * 32), 1.0, 1e-6, "large inner product right");
		is_double(rv_cosine_distance(x, y, 32), 2.0, 1e-9, "large cosine right");
		is_double(rv_l1_distance(x, y, 32) / (2e20 * 32), 1.0, 1e-6, "large L1 right");
		x[0] = 3e38f;
		y[0] = -3e38f;
		is_double(rv_linf_distance(x, y, 32), 6e38, 1e32, "linf beyond float range");
		free(x);
		free(y);
	}

	/*
	 * Tiny and subnormal values: squares underflow float32 (1e-40 is subnormal, its square
	 * 0), so norms and cosines are summed in double. pgvector's vector_norm gives 4e-40 for
	 * sixteen 1e-40 values.
	 */
	{
		float		t[16];
		float		u[16];
		float		w[16];
		float		nt[16];
		double		ref = 0;
		size_t		i;

		for (i = 0; i < 16; i++)
		{
			t[i] = 1e-40f;
			u[i] = i % 2 ? 1e-40f : -1e-40f;
			w[i] = 1e-20f * (float) (i + 1);
			ref += (double) t[i] * t[i];
		}
		is_double(rv_norm(t, 16) / sqrt(ref), 1.0, 1e-12, "norm of sixteen 1e-40 values");
		ok(rv_norm(t, 16) > 3.9e-40 && rv_norm(t, 16) < 4.1e-40, "norm of sixteen 1e-40 values is 4e-40");
		rv_l2_normalize(t, 16, nt);
		ok(fabsf(nt[0] - 0.25f) < 1e-7f && fabsf(nt[15] - 0.25f) < 1e-7f, "normalize subnormal values");
		{
			/* long enough for the float lanes of every loop */
			float		t64[64];
			float		n64[64];

			for (i = 0; i < 64; i++)
				t64[i] = 1e-40f;
			ok(rv_norm(t64, 64) > 7.9e-40 && rv_norm(t64, 64) < 8.1e-40, "norm of 64 values of 1e-40 is 8e-40");
			rv_l2_normalize(t64, 64, n64);
			ok(fabsf(n64[0] - 0.125f) < 1e-7f && fabsf(n64[63] - 0.125f) < 1e-7f, "normalize 64 subnormal values");
			is_double(rv_cosine_distance(t64, t64, 64), 0.0, 1e-12, "cosine of 64 subnormal values with themselves");
		}
		is_double(rv_cosine_distance(t, t, 16), 0.0, 1e-12, "cosine of a subnormal vector with itself is 0");
		is_double(rv_cosine_distance(t, u, 16), 1.0, 1e-12, "subnormal orthogonal vectors: cosine distance 1");
		is_double(rv_cosine_distance(w, w, 16), 0.0, 1e-12, "cosine of 1e-20 values with themselves is 0");
		is_double(rv_cosine_distance(t, b, 3), 1.0 - 18.0 / (sqrt(3.0) * sqrt(116.0)), 1e-7,
				  "cosine of a subnormal vector and a normal one");
		is_double(rv_norm(z, 3), 0.0, 0, "a zero vector still has norm 0");
	}

	/* ordering and hashing */
	{
		float		p[] = {1, 2};
		float		q[] = {1, 3};
		float		pz[] = {0.0f};
		float		nz[] = {-0.0f};

		is_int(rv_compare(p, 2, q, 2), -1, "compare element-wise");
		is_int(rv_compare(q, 2, p, 2), 1, "compare reversed");
		is_int(rv_compare(p, 1, p, 2), -1, "prefix first");
		is_int(rv_compare(p, 2, p, 2), 0, "equal");
		is_int(rv_compare(pz, 1, nz, 1), 0, "-0 equals 0");
		ok(rv_hash(pz, 1) == rv_hash(nz, 1), "-0 hashes as 0");
		ok(rv_hash(p, 2) != rv_hash(q, 2), "hash differs");
	}

	/* arithmetic */
	is_int(rv_add(ctx, a, b, 3, out), RV_OK, "add");
	ok(out[0] == 5 && out[1] == 8 && out[2] == 11, "add values");
	is_int(rv_sub(ctx, a, b, 3, out), RV_OK, "sub");
	ok(out[0] == -3 && out[1] == -4 && out[2] == -5, "sub values");
	is_int(rv_mul(ctx, a, b, 3, out), RV_OK, "mul");
	ok(out[0] == 4 && out[1] == 12 && out[2] == 24, "mul values");
	{
		float		big[] = {3e38f};

		is_int(rv_add(ctx, big, big, 1, out), RV_E_OUT_OF_RANGE, "add overflow");
		is_str(rv_errmsg(ctx), "value out of range: overflow", "overflow message");
		is_int(rv_mul(ctx, big, big, 1, out), RV_E_OUT_OF_RANGE, "mul overflow");
	}
	{
		float		tiny[] = {1e-37f, 0.0f, 1e-20f};
		float		tiny2[] = {1e-37f, 1e-37f, 1e-20f};

		is_int(rv_mul(ctx, tiny, tiny2, 1, out), RV_E_OUT_OF_RANGE, "mul underflow to zero fails");
		is_str(rv_errmsg(ctx), "value out of range: underflow", "underflow message");
		is_int(rv_mul(ctx, tiny + 1, tiny2 + 1, 1, out), RV_OK, "zero times tiny is a plain zero");
		ok(out[0] == 0.0f, "zero product");
		is_int(rv_mul(ctx, tiny + 2, tiny2 + 2, 1, out), RV_OK, "a subnormal product is kept");
		ok(out[0] > 0.0f && out[0] < 1.2e-38f, "subnormal product value");
	}
	{
		float		v[] = {3, 4};

		rv_l2_normalize(v, 2, out);
		ok(fabsf(out[0] - 0.6f) < 1e-7f && fabsf(out[1] - 0.8f) < 1e-7f, "normalize");
		rv_l2_normalize(z, 3, out);
		ok(out[0] == 0 && out[1] == 0 && out[2] == 0, "normalize zero");
	}

	/* aggregates */
	{
		double		st[3] = {0, 0, 0};
		double		st2[3] = {0, 0, 0};
		float		r[2];
		float		p[] = {1, 2};
		float		q[] = {3, 5};

		rv_accum(st, p, 2);
		rv_accum(st2, q, 2);
		rv_combine(st, st2, 2);
		is_double(st[0], 2, 0, "count combined");
		is_int(rv_accum_final(ctx, st, 2, 1, r), RV_OK, "avg");
		ok(r[0] == 2 && r[1] == 3.5f, "avg values");
		is_int(rv_accum_final(ctx, st, 2, 0, r), RV_OK, "sum");
		ok(r[0] == 4 && r[1] == 7, "sum values");
		st[1] = 1e39;
		is_int(rv_accum_final(ctx, st, 2, 0, r), RV_E_OUT_OF_RANGE, "sum beyond float4 fails");
	}

	/* aggregate states handed in from outside */
	{
		const int	full = RV_ACCUM_ROWS | RV_ACCUM_SUMS;
		double		good[] = {2, 1, 2};
		double		st[4];
		double	   *big = calloc(RV_MAX_DIMS + 2, sizeof(double));

		is_int(rv_accum_check(ctx, good, 3, full), RV_OK, "a state of 2 rows over 2 dims");
		is_int(rv_accum_check(ctx, good, 1, full), RV_E_INVALID_PARAM, "a state without sums");
		is_str(rv_errmsg(ctx), "invalid aggregate state for avg(embedding) or sum(embedding)", "state message");
		is_str(rv_errdetail(ctx), "The state has 1 element, expected a row count and 1 to 16000 sums.", "state detail");
		is_int(rv_accum_check(ctx, NULL, 0, 0), RV_E_INVALID_PARAM, "no state");
		big[0] = 1;
		is_int(rv_accum_check(ctx, big, RV_MAX_DIMS + 1, full), RV_OK, "16000 sums");
		is_int(rv_accum_check(ctx, big, RV_MAX_DIMS + 2, full), RV_E_INVALID_PARAM, "16001 sums");
		free(big);
		st[1] = 1;
		st[2] = 2;
		st[0] = -1;
		is_int(rv_accum_check(ctx, st, 3, 0), RV_E_INVALID_PARAM, "a negative count");
		is_str(rv_errdetail(ctx), "Its row count -1 is not a nonnegative whole number.", "negative count detail");
		st[0] = 0.5;
		is_int(rv_accum_check(ctx, st, 3, 0), RV_E_INVALID_PARAM, "a fractional count");
		st[0] = NAN;
		is_int(rv_accum_check(ctx, st, 3, 0), RV_E_INVALID_PARAM, "a NaN count");
		is_str(rv_errdetail(ctx), "Its row count is NaN.", "NaN count detail");
		st[0] = INFINITY;
		is_int(rv_accum_check(ctx, st, 3, 0), RV_E_INVALID_PARAM, "an infinite count");
		st[0] = 0;
		is_int(rv_accum_check(ctx, st, 3, 0), RV_OK, "a zero count before the first row");
		is_int(rv_accum_check(ctx, st, 3, full), RV_E_INVALID_PARAM, "a zero count where rows are needed");
		is_str(rv_errdetail(ctx), "Its row count 0 is not a positive whole number.", "zero count detail");
		st[0] = 1;
		st[2] = NAN;
		is_int(rv_accum_check(ctx, st, 3, 0), RV_OK, "sums are not read without RV_ACCUM_SUMS");
		is_int(rv_accum_check(ctx, st, 3, full), RV_E_INVALID_PARAM, "a NaN sum");
		is_str(rv_errdetail(ctx), "Its sum 2 is NaN.", "NaN sum detail");
		st[2] = -INFINITY;
		is_int(rv_accum_check(ctx, st, 3, full), RV_E_INVALID_PARAM, "an infinite sum");
		is_int(rv_status_class(RV_E_INVALID_PARAM), RV_CLASS_INVALID_PARAM, "a bad state is an invalid parameter");
	}

	/* names */
	{
		rv_sim		sm;
		rv_metric	mt;

		is_int(rv_sim_parse(ctx, "euclidean", &sm), RV_OK, "sim euclidean");
		is_int(sm, RV_SIM_NEG_L2, "euclidean is negative L2");
		is_int(rv_sim_parse(ctx, "cos", &sm), RV_E_INVALID_PARAM, "unknown sim");
		is_str(rv_errmsg(ctx), "unknown similarity \"cos\": expected cosine, dot, euclidean, l1 or linf", "sim message");
		is_int(rv_metric_parse(ctx, "l1", &mt), RV_OK, "metric l1");
		is_int(mt, RV_METRIC_L1, "l1 parsed");
		is_int(rv_metric_parse(ctx, "hamming", &mt), RV_E_INVALID_PARAM, "unknown metric");
		is_str(rv_errmsg(ctx), "unknown metric \"hamming\": expected l2, ip, cosine or l1", "metric message");
		is_int(rv_status_class(RV_E_INVALID_PARAM), RV_CLASS_INVALID_PARAM, "param class");
	}
	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "no leaks");
	return done_testing();
}
