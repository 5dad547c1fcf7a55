/*
 * test_project.c — relative projection and anchor choice in the bridge: the formula
 * against a double-precision reference, composite similarities, normalization, option
 * parsing, the dimension limit, allocation failures without leaks, and deterministic,
 * distinct anchor choices.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testhost.h"

#define N 7
#define K 5
#define D 6

/* Deterministic pseudo-random floats in [-1, 1). */
static float
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return (float) ((*s >> 8) / 8388608.0 - 1.0);
}

/* cos(x - c, a - c) in double. */
static double
ref_cos(const float *x, const float *a, const double *c)
{
	double		xa = 0,
				xx = 0,
				aa = 0;
	int			j;

	for (j = 0; j < D; j++)
	{
		double		u = x[j] - (c ? c[j] : 0),
					v = a[j] - (c ? c[j] : 0);

		xa += u * v;
		xx += u * u;
		aa += v * v;
	}
	return xx == 0 || aa == 0 ? 0 : xa / sqrt(xx * aa);
}

int
main(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	float		x[N * D],
				a[K * D],
				out[N * 2 * K];
	double		mean[D];
	uint32_t	seed = 11;
	rv_sim		sims[RV_MAX_SIMS];
	int			nsims;
	rv_center	center;
	rv_projection *p;
	double		err;
	int			i,
				j;
	size_t		picked[5],
				again[5];

	for (i = 0; i < N * D; i++)
		x[i] = rnd(&seed);
	for (i = 0; i < K * D; i++)
		a[i] = rnd(&seed);
	rv_set_device(ctx, "cpu");

	/* parsing */
	is_int(rv_sim_list_parse(ctx, "cosine+euclidean", sims, &nsims), RV_OK, "parse a composite");
	ok(nsims == 2 && sims[0] == RV_SIM_COSINE && sims[1] == RV_SIM_NEG_L2, "composite parsed in order");
	is_int(rv_sim_list_parse(ctx, "cosine+", sims, &nsims), RV_E_INVALID_PARAM, "empty part");
	is_int(rv_sim_list_parse(ctx, "l1+l1", sims, &nsims), RV_E_INVALID_PARAM, "repeated part");
	is_str(rv_errmsg(ctx), "similarity \"l1+l1\" names \"l1\" twice", "repeat message");
	is_int(rv_center_parse(ctx, "anchors", &center), RV_OK, "center anchors");
	is_int(rv_center_parse(ctx, "mid", &center), RV_E_INVALID_PARAM, "unknown center");
	is_str(rv_errmsg(ctx), "unknown center \"mid\": expected none, anchors or space", "center message");

	/* cosine, centered on the anchors' mean, against the reference */
	for (j = 0; j < D; j++)
	{
		mean[j] = 0;
		for (i = 0; i < K; i++)
			mean[j] += a[i * D + j] / (double) K;
	}
	sims[0] = RV_SIM_COSINE;
	is_int(rv_projection_create(ctx, a, K, D, sims, 1, RV_CENTER_ANCHORS, NULL, 0, &p), RV_OK, "create");
	is_int(rv_projection_dims(p), K, "k output dimensions");
	is_int(rv_project(ctx, p, x, N, out), RV_OK, "project");
	err = 0;
	for (i = 0; i < N; i++)
		for (j = 0; j < K; j++)
			err = fmax(err, fabs(out[i * K + j] - ref_cos(x + i * D, a + j * D, mean)));
	ok(err < 1e-5, "centered cosine matches the reference to 1e-5");
	rv_projection_destroy(ctx, p);

	/* composite: each sub-vector standardized; normalize gives unit rows */
	sims[1] = RV_SIM_NEG_L1;
	is_int(rv_projection_create(ctx, a, K, D, sims, 2, RV_CENTER_NONE, NULL, 1, &p), RV_OK, "create composite");
	is_int(rv_project(ctx, p, x, N, out), RV_OK, "project composite");
	{
		double		sum = 0,
					norm = 0;

		for (j = K; j < 2 * K; j++)
			sum += out[j];
		for (j = 0; j < 2 * K; j++)
			norm += (double) out[j] * out[j];
		ok(fabs(sum) < 1e-5, "a standardized sub-vector has mean 0");
		ok(fabs(norm - 1) < 1e-5, "normalized rows have norm 1");
	}
	rv_projection_destroy(ctx, p);

	/* limits and failures */
	is_int(rv_projection_create(ctx, a, 9000, D, sims, 2, RV_CENTER_NONE, NULL, 0, &p), RV_E_LIMIT,
		   "k * similarities beyond 16000 dimensions");
	is_int(rv_projection_create(ctx, a, K, D, sims, 1, RV_CENTER_SPACE, NULL, 0, &p), RV_E_INVALID_PARAM,
		   "center space without a mean");
	for (i = 1; i <= 3; i++)
	{
		long		live = th.live;

		th.fail_at = th.total + i;
		is_int(rv_projection_create(ctx, a, K, D, sims, 1, RV_CENTER_ANCHORS, NULL, 0, &p), RV_E_NOMEM,
			   "a failed allocation in create is RV_E_NOMEM");
		is_int(th.live, live, "and leaks nothing");
	}
	th.fail_at = 0;
	rv_projection_create(ctx, a, K, D, sims, 2, RV_CENTER_NONE, NULL, 0, &p);
	th.interrupt_after = 0;
	is_int(rv_project(ctx, p, x, N, out), RV_E_INTERRUPTED, "projection polls the interrupt check");
	th.interrupt_after = -1;
	rv_projection_destroy(ctx, p);

	/* anchor choice */
	is_int(rv_choose_anchors(ctx, NULL, 10, 0, 5, RV_ANCHORS_RANDOM, 42, picked), RV_OK, "random needs no vectors");
	rv_choose_anchors(ctx, NULL, 10, 0, 5, RV_ANCHORS_RANDOM, 42, again);
	ok(memcmp(picked, again, sizeof(picked)) == 0, "random: the same seed, the same picks");
	{
		rv_anchor_method m[2] = {RV_ANCHORS_FPS, RV_ANCHORS_KMEANS};
		int			t;

		for (t = 0; t < 2; t++)
		{
			int			distinct = 1;

			is_int(rv_choose_anchors(ctx, x, N, D, 5, m[t], 3, picked), RV_OK, "fps / kmeans run");
			rv_choose_anchors(ctx, x, N, D, 5, m[t], 3, again);
			ok(memcmp(picked, again, sizeof(picked)) == 0, "deterministic for a seed");
			for (i = 0; i < 5; i++)
				for (j = 0; j < i; j++)
					distinct &= picked[i] != picked[j] && picked[i] < N;
			ok(distinct, "distinct items in range");
		}
	}
	is_int(rv_choose_anchors(ctx, x, N, D, N + 1, RV_ANCHORS_FPS, 0, picked), RV_E_INVALID_PARAM, "more anchors than items");
	is_str(rv_errmsg(ctx), "cannot choose 8 anchors from 7 items", "message");
	{
		rv_anchor_method m;

		is_int(rv_anchor_method_parse(ctx, "median", &m), RV_E_INVALID_PARAM, "unknown method");
	}
	th.fail_at = th.total + 1;
	is_int(rv_choose_anchors(ctx, x, N, D, 3, RV_ANCHORS_KMEANS, 0, picked), RV_E_NOMEM, "kmeans reports a failed allocation");
	th.fail_at = 0;

	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "no leaks");
	return done_testing();
}
