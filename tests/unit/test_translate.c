/*
 * test_translate.c — translation between spaces in the bridge: Procrustes recovers a known
 * random rotation (of anchors whose standardization commutes with it: centered, orthogonal
 * columns of equal norm), zero-padding in both directions, linear and affine least squares
 * recover a known affine map, rank-deficient anchor sets, loading stored fields (copy and
 * validation), allocation failures without leaks, interrupts and messages.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testhost.h"

#define K 40

/* Deterministic pseudo-random doubles in [-1, 1). */
static double
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return (*s >> 8) / 8388608.0 - 1.0;
}

/*
 * Fill the column-major-thought rows x cols matrix m (row-major storage) with random values,
 * center its columns if center, and make its columns orthogonal with squared norm scale
 * (modified Gram-Schmidt in double): an independent construction, no LAPACK.
 */
static void
orthogonal_columns(double *m, int rows, int cols, int center, double scale, uint32_t *seed)
{
	int			i,
				j,
				c;

	for (i = 0; i < rows * cols; i++)
		m[i] = rnd(seed);
	for (j = 0; j < cols; j++)
	{
		if (center)
		{
			double		mean = 0;

			for (i = 0; i < rows; i++)
				mean += m[i * cols + j];
			for (i = 0; i < rows; i++)
				m[i * cols + j] -= mean / rows;
		}
		for (c = 0; c < j; c++)
		{
			double		dot = 0;

			for (i = 0; i < rows; i++)
				dot += m[i * cols + j] * m[i * cols + c];
			for (i = 0; i < rows; i++)
				m[i * cols + j] -= dot * m[i * cols + c];
		}
		{
			double		nn = 0;

			for (i = 0; i < rows; i++)
				nn += m[i * cols + j] * m[i * cols + j];
			for (i = 0; i < rows; i++)
				m[i * cols + j] /= sqrt(nn);
		}
	}
	for (i = 0; i < rows * cols; i++)
		m[i] *= sqrt(scale);
}

/* out (n x q, float) = offset + s * (a (n x p) · b (p x q)), only the first q columns of b used. */
static void
matmul(const double *a, const double *b, int n, int p, int q, int ldb, double s, const double *offset,
	   float *out)
{
	int			i,
				j,
				l;

	for (i = 0; i < n; i++)
		for (j = 0; j < q; j++)
		{
			double		v = 0;

			for (l = 0; l < p; l++)
				v += a[i * p + l] * b[l * ldb + j];
			out[i * q + j] = (float) ((offset ? offset[j] : 0) + s * v);
		}
}

/* Largest absolute difference of two float arrays. */
static double
maxdiff(const float *a, const float *b, size_t n)
{
	double		m = 0;
	size_t		i;

	for (i = 0; i < n; i++)
		if (fabs((double) a[i] - b[i]) > m)
			m = fabs((double) a[i] - b[i]);
	return m;
}

int
main(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	uint32_t	seed = 7;
	double		z[K * 6],
				q[6 * 6],
				w[5 * 5],
				xd[K * 5],
				mx[6],
				my[6];
	float		af[K * 6],
				at[K * 6],
				got[K * 6],
				want[K * 6];
	rv_translation *t,
			   *t2;
	rv_translate_method m;
	int			i,
				j;

	for (i = 0; i < 6; i++)
	{
		mx[i] = 3 * rnd(&seed);
		my[i] = 5 * rnd(&seed);
	}

	/* methods */
	is_int(rv_translate_method_parse(ctx, "linear", &m), RV_OK, "parse linear");
	is_int(m, RV_TRANSLATE_LINEAR, "linear parsed");
	is_int(rv_translate_method_parse(ctx, "rigid", &m), RV_E_INVALID_PARAM, "unknown method");
	is_str(rv_errmsg(ctx), "unknown translation method \"rigid\": expected orthogonal, linear or affine",
		   "unknown method message");
	is_str(rv_translate_method_name(RV_TRANSLATE_AFFINE), "affine", "method name");

	/*
	 * Procrustes: anchors Z (K x 6, centered, orthogonal columns of squared norm K, so every
	 * dimension has standard deviation 1), from = mx + Z, to = my + 2.5 * Z·Q with a random
	 * orthogonal Q. Standardizing both sides leaves Z and Z·Q, so the fit must find Q and
	 * translate any x to my + 2.5 (x - mx)·Q.
	 */
	orthogonal_columns(z, K, 6, 1, K, &seed);
	orthogonal_columns(q, 6, 6, 0, 1, &seed);
	matmul(z, (double[]) {1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0,
		   0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1}, K, 6, 6, 6, 1, mx, af);
	matmul(z, q, K, 6, 6, 6, 2.5, my, at);
	is_int(rv_translation_fit(ctx, af, at, K, 6, 6, RV_TRANSLATE_ORTHOGONAL, &t), RV_OK, "fit orthogonal");
	{
		double		err = 0;

		for (i = 0; i < 36; i++)
			err = fmax(err, fabs(t->matrix[i] - q[i]));
		ok(err < 1e-5, "Procrustes recovers the random rotation");
		ok(t->bias == NULL && t->dim == 6, "no bias, dim 6");
		is_double(t->std_from[0], 1, 1e-5, "anchor std of a dimension is the population std");
		is_double(t->mean_to[2], my[2], 1e-5, "anchor mean stored");
	}
	{
		/* fresh points, not anchors */
		double		dz[5 * 6];

		for (i = 0; i < 30; i++)
			dz[i] = 2 * rnd(&seed);
		matmul(dz, (double[]) {1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0,
			   0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1}, 5, 6, 6, 6, 1, mx, af);
		matmul(dz, q, 5, 6, 6, 6, 2.5, my, want);
		is_int(rv_translate(ctx, t, af, 5, got), RV_OK, "translate 5 rows");
		ok(maxdiff(got, want, 30) < 1e-4, "translate(x) = my + 2.5 (x - mx) Q on fresh points");
		is_int(rv_translate(ctx, t, af, 0, got), RV_OK, "translating no rows is fine");
	}
	/* load: the fields of a fitted translation rebuild it exactly */
	is_int(rv_translation_load(ctx, t, &t2), RV_OK, "load the fields");
	{
		float		again[30];

		rv_translate(ctx, t2, af, 5, again);
		ok(memcmp(again, got, sizeof(again)) == 0, "a loaded translation translates bit for bit the same");
		ok(t2->matrix != t->matrix && t2->mean_from != t->mean_from, "load copies the arrays");
	}
	rv_translation_destroy(ctx, t2);

	/* load validation */
	{
		rv_translation f = *t;
		float		badstd[6],
					bias[6] = {0};

		f.dim = 5;
		is_int(rv_translation_load(ctx, &f, &t2), RV_E_DIM_MISMATCH, "wrong dim");
		is_str(rv_errmsg(ctx), "translation of 6 to 6 dimensions must have a 6 x 6 matrix, not 5 x 5",
			   "wrong dim message");
		f = *t;
		f.bias = bias;
		is_int(rv_translation_load(ctx, &f, &t2), RV_E_INVALID_PARAM, "orthogonal with a bias");
		is_str(rv_errmsg(ctx), "orthogonal translation cannot have a bias", "bias message");
		f = *t;
		f.method = RV_TRANSLATE_AFFINE;
		is_int(rv_translation_load(ctx, &f, &t2), RV_E_INVALID_PARAM, "affine without a bias");
		is_str(rv_errmsg(ctx), "affine translation needs a bias", "no bias message");
		f = *t;
		memcpy(badstd, t->std_to, sizeof(badstd));
		badstd[3] = 0;
		f.std_to = badstd;
		is_int(rv_translation_load(ctx, &f, &t2), RV_E_INVALID_PARAM, "zero std");
		is_str(rv_errmsg(ctx), "translation target standard deviation 4 is not positive", "zero std message");
		badstd[3] = NAN;
		is_int(rv_translation_load(ctx, &f, &t2), RV_E_NOT_FINITE, "NaN std");
		f = *t;
		f.matrix = NULL;
		is_int(rv_translation_load(ctx, &f, &t2), RV_E_INVALID_PARAM, "missing matrix");
		f = *t;
		f.d_to = 0;
		is_int(rv_translation_load(ctx, &f, &t2), RV_E_EMPTY, "zero dimensions");
		f = *t;
		f.method = (rv_translate_method) 9;
		is_int(rv_translation_load(ctx, &f, &t2), RV_E_INVALID_PARAM, "bad method");
		ok(t2 == NULL, "failed loads return NULL");
	}

	/* allocation failures and interrupts, without leaks */
	for (i = 1, j = 0; i <= 12; i++)
	{
		long		live = th.live;
		rv_status	s;

		th.fail_at = th.total + i;
		s = rv_translation_fit(ctx, af, at, K, 6, 6, (rv_translate_method) (i % 3), &t2);
		th.fail_at = 0;
		if (s == RV_OK)
			rv_translation_destroy(ctx, t2);
		ok(s == RV_E_NOMEM || s == RV_OK, "fit under a failed allocation: RV_E_NOMEM or success");
		is_int(th.live, live, "and leaks nothing");
		j += s == RV_E_NOMEM;
	}
	ok(j >= 9, "most of those allocations were made and failed");
	th.fail_at = th.total + 1;
	is_int(rv_translation_load(ctx, t, &t2), RV_E_NOMEM, "load reports a failed allocation");
	th.fail_at = th.total + 1;
	is_int(rv_translate(ctx, t, af, 5, got), RV_E_NOMEM, "translate reports a failed allocation");
	th.fail_at = 0;
	th.interrupt_after = 0;
	is_int(rv_translation_fit(ctx, af, at, K, 6, 6, RV_TRANSLATE_ORTHOGONAL, &t2), RV_E_INTERRUPTED,
		   "fit polls the interrupt check");
	is_int(rv_translate(ctx, t, af, 5, got), RV_E_INTERRUPTED, "translate polls the interrupt check");
	th.interrupt_after = -1;
	rv_translation_destroy(ctx, t);

	/*
	 * Zero-padding, 4 -> 6: from = the first 4 columns of Z, to = Z·Q. The padded Procrustes
	 * problem has rank 4; its solution maps x to x·Q[0:4] whatever the null part.
	 */
	for (i = 0; i < K; i++)
		for (j = 0; j < 4; j++)
			af[i * 4 + j] = (float) z[i * 6 + j];
	matmul(z, q, K, 6, 6, 6, 1, NULL, at);
	is_int(rv_translation_fit(ctx, af, at, K, 4, 6, RV_TRANSLATE_ORTHOGONAL, &t), RV_OK, "fit 4 -> 6");
	ok(t->dim == 6 && t->d_from == 4 && t->d_to == 6, "dims 4, 6, padded to 6");
	rv_translate(ctx, t, af, K, got);
	{
		double		z4[K * 4];

		for (i = 0; i < K * 4; i++)
			z4[i] = af[i];
		matmul(z4, q, K, 4, 6, 6, 1, NULL, want);
	}
	ok(maxdiff(got, want, K * 6) < 1e-4, "4 -> 6 translates x to x Q[0:4]");
	rv_translation_destroy(ctx, t);
	/* 6 -> 4: the padded side is the target; Z·Q comes back to Z's first 4 columns */
	is_int(rv_translation_fit(ctx, at, af, K, 6, 4, RV_TRANSLATE_ORTHOGONAL, &t), RV_OK, "fit 6 -> 4");
	rv_translate(ctx, t, at, K, got);
	ok(maxdiff(got, af, K * 4) < 1e-4, "6 -> 4 recovers the unpadded anchors");
	rv_translation_destroy(ctx, t);

	/*
	 * Linear and affine: to = from·W + c for a random W (5 x 5, cut to the target's
	 * columns), any from. Centering makes the standardized relation exactly linear, so both
	 * methods recover the map, on fresh points too; 5 -> 3 and 3 -> 5 exercise the padding.
	 */
	for (i = 0; i < K * 5; i++)
		xd[i] = 4 * rnd(&seed) + (i % 5);
	for (i = 0; i < 25; i++)
		w[i] = rnd(&seed);
	{
		int			dims[3][2] = {{5, 5}, {5, 3}, {3, 5}};
		int			c,
					meth;

		for (c = 0; c < 3; c++)
			for (meth = RV_TRANSLATE_LINEAR; meth <= RV_TRANSLATE_AFFINE; meth++)
			{
				int			df = dims[c][0],
							dt = dims[c][1];
				double		xs[K * 5];
				char		name[128];

				for (i = 0; i < K; i++)
					for (j = 0; j < df; j++)
						xs[i * df + j] = xd[i * 5 + j];
				for (i = 0; i < K * df; i++)
					af[i] = (float) xs[i];
				matmul(xs, w, K, df, dt, 5, 1, my, at);
				snprintf(name, sizeof(name), "%s %d -> %d: fit", rv_translate_method_name(meth), df, dt);
				is_int(rv_translation_fit(ctx, af, at, K, df, dt, meth, &t), RV_OK, name);
				rv_translate(ctx, t, af, K, got);
				snprintf(name, sizeof(name), "%s %d -> %d: recovers x W + c", rv_translate_method_name(meth), df, dt);
				ok(maxdiff(got, at, K * dt) < 1e-3, name);
				ok((t->bias != NULL) == (meth == RV_TRANSLATE_AFFINE), "bias exactly for affine");
				rv_translation_destroy(ctx, t);
			}
	}

	/* rank-deficient anchor sets */
	is_int(rv_translation_fit(ctx, af, at, 4, 5, 5, RV_TRANSLATE_LINEAR, &t), RV_E_RANK_DEFICIENT,
		   "linear with 4 anchors for 5 unknowns");
	is_str(rv_errmsg(ctx), "anchor set has 4 anchors for 5 unknowns: too few for a linear translation",
		   "rank-deficient message");
	is_int(rv_translation_fit(ctx, af, at, 5, 5, 5, RV_TRANSLATE_AFFINE, &t), RV_E_RANK_DEFICIENT,
		   "affine needs one anchor more");
	is_str(rv_errmsg(ctx), "anchor set has 5 anchors for 6 unknowns: too few for an affine translation",
		   "affine message");
	ok(t == NULL, "a failed fit returns NULL");
	is_int(rv_translation_fit(ctx, af, at, 4, 5, 5, RV_TRANSLATE_ORTHOGONAL, &t), RV_OK,
		   "orthogonal needs no rank");
	rv_translation_destroy(ctx, t);
	{
		/* 40 anchors that span only 2 dimensions after centering: from = base (K x 2) · B (2 x 5) */
		double		base[K * 2],
					b[2 * 5];

		for (i = 0; i < K * 2; i++)
			base[i] = rnd(&seed);
		for (i = 0; i < 10; i++)
			b[i] = rnd(&seed);
		matmul(base, b, K, 2, 5, 5, 1, mx, af);
		is_int(rv_translation_fit(ctx, af, at, K, 5, 5, RV_TRANSLATE_LINEAR, &t), RV_E_RANK_DEFICIENT,
			   "dependent anchors are rank deficient");
		is_str(rv_errmsg(ctx), "anchors have rank 2 for 5 unknowns: too few independent anchors for a linear translation",
			   "dependent anchors message");
	}
	is_int(rv_translation_fit(ctx, af, at, 1, 5, 5, RV_TRANSLATE_ORTHOGONAL, &t), RV_E_RANK_DEFICIENT,
		   "one anchor");
	is_str(rv_errmsg(ctx), "anchor set has 1 anchor: a translation needs at least 2", "one anchor message");
	af[3] = NAN;
	is_int(rv_translation_fit(ctx, af, at, K, 5, 5, RV_TRANSLATE_ORTHOGONAL, &t), RV_E_NOT_FINITE, "NaN anchor");
	is_int(rv_translation_fit(ctx, af, at, K, 0, 5, RV_TRANSLATE_ORTHOGONAL, &t), RV_E_EMPTY, "zero dims");

	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "no leaks");
	return done_testing();
}
