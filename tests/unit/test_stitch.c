/*
 * test_stitch.c — comparing two spaces in the bridge: hand-checked jaccard, mrr and cosine
 * on three items (with a tie at the k-th place and ties in rank), identical spaces, linear
 * CKA (a rotated, rescaled, shifted copy gives 1; two 1-d spaces give their squared
 * correlation), a brute-force double-precision reference on 600 random items (several
 * query blocks), errors with their messages, allocation failures without leaks, interrupts.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testhost.h"

#define RN 600
#define RD 5
#define RK 7

static double
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return (*s >> 8) / 8388608.0 - 1.0;
}

static double
cosd(const float *a, const float *b, int d)
{
	double		ab = 0,
				aa = 0,
				bb = 0;
	int			j;

	for (j = 0; j < d; j++)
	{
		ab += (double) a[j] * b[j];
		aa += (double) a[j] * a[j];
		bb += (double) b[j] * b[j];
	}
	return aa == 0 || bb == 0 ? 0 : ab / sqrt(aa * bb);
}

/* Brute force in double: the k rows of c nearest v (cosine, ties to the lower row) as flags. */
static void
nearest(const float *v, const float *c, int n, int d, int k, char *flag)
{
	double		s[RN];
	int			i,
				j;

	for (j = 0; j < n; j++)
	{
		s[j] = cosd(v, c + j * d, d);
		flag[j] = 0;
	}
	for (i = 0; i < k; i++)
	{
		int			best = -1;

		for (j = 0; j < n; j++)
			if (!flag[j] && (best < 0 || s[j] > s[best]))
				best = j;
		flag[best] = 1;
	}
}

int
main(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	rv_compare_result r;
	uint32_t	seed = 5;
	int			i,
				j;

	/*
	 * Three items by hand. C = (1,0), (0,1), (1,1); Q = (1,0), (1,0), (0,1).
	 * cos(Q_i, C_i) = 1, 0, 0.7071; ranks of C_i = 1, 3 (C_1, C_3 beat it), 2 (C_2 beats it).
	 * k = 1: N(Q) = {1}, {1}, {2}; N(C) = {1}, {2}, {3}: jaccard 1, 0, 0.
	 * k = 2: N(Q) = {1,3}, {1,3}, {2,3}; N(C) = {1,3}, {2,3}, {3 and a tie of 1 and 2 -> 1}:
	 * jaccard 1, 1/3, 1/3.
	 */
	{
		float		c[] = {1, 0, 0, 1, 1, 1};
		float		q[] = {1, 0, 1, 0, 0, 1};

		is_int(rv_compare_spaces(ctx, q, c, 3, 2, 1, q, 2, c, 2, &r), RV_OK, "three items, k = 1");
		is_double(r.cosine, (1 + 0 + sqrt(0.5)) / 3, 1e-6, "mean cosine by hand");
		is_double(r.mrr, (1 + 1.0 / 3 + 1.0 / 2) / 3, 1e-9, "mrr by hand");
		is_double(r.jaccard, 1.0 / 3, 1e-9, "jaccard@1 by hand");
		is_int(rv_compare_spaces(ctx, q, c, 3, 2, 2, q, 2, c, 2, &r), RV_OK, "k = 2");
		is_double(r.jaccard, (1 + 1.0 / 3 + 1.0 / 3) / 3, 1e-9, "jaccard@2 by hand, the tie to the lower row");
		is_int(rv_compare_spaces(ctx, q, c, 3, 2, 3, q, 2, c, 2, &r), RV_OK, "k = n");
		is_double(r.jaccard, 1, 1e-12, "k = n: every neighbourhood is everything");
	}
	/* ties in rank count in the true item's favour: rank 1 for both */
	{
		float		c[] = {2, 0, 1, 0};
		float		q[] = {1, 0, 1, 0};
		float		a[] = {1, 2};

		rv_compare_spaces(ctx, q, c, 2, 2, 1, a, 1, a, 1, &r);
		is_double(r.mrr, 1, 1e-12, "equal similarities: rank 1 + those strictly better");
	}
	/* a zero vector has cosine 0 with everything */
	{
		float		c[] = {1, 0, 0, 1};
		float		q[] = {0, 0, 0, 1};
		float		a[] = {1, 2};

		rv_compare_spaces(ctx, q, c, 2, 2, 1, a, 1, a, 1, &r);
		is_double(r.cosine, 0.5, 1e-9, "zero query: cosine 0");
		is_double(r.mrr, 1, 1e-9, "zero query: C_1 ties with C_2 at 0, rank 1");
	}
	/* 1-d spaces: linear CKA is the squared correlation, here 0.8^2 */
	{
		float		x[] = {1, 2, 3, 4};
		float		y[] = {1, 3, 2, 4};

		is_int(rv_compare_spaces(ctx, x, y, 4, 1, 1, x, 1, y, 1, &r), RV_OK, "1-d spaces");
		is_double(r.cka, 0.64, 1e-9, "cka = squared correlation");
	}

	/* identical spaces, then a rotated, rescaled and shifted copy */
	{
		float		a[RN * RD],
					b[RN * RD];
		double		th0 = 0.7;

		for (i = 0; i < RN * RD; i++)
			a[i] = (float) rnd(&seed);
		is_int(rv_compare_spaces(ctx, a, a, RN, RD, RK, a, RD, a, RD, &r), RV_OK, "identical spaces");
		is_double(r.jaccard, 1, 1e-12, "identical: jaccard 1");
		is_double(r.mrr, 1, 1e-12, "identical: mrr 1");
		is_double(r.cosine, 1, 1e-6, "identical: cosine 1");
		is_double(r.cka, 1, 1e-9, "identical: cka 1");
		for (i = 0; i < RN; i++)
		{
			float	   *ai = a + i * RD,
					   *bi = b + i * RD;

			bi[0] = (float) (3 * (cos(th0) * ai[0] - sin(th0) * ai[1]) + 10);
			bi[1] = (float) (3 * (sin(th0) * ai[0] + cos(th0) * ai[1]) - 4);
			for (j = 2; j < RD; j++)
				bi[j] = 3 * ai[RD + 1 - j] + 1;	/* a permutation of the rest */
		}
		is_int(rv_compare_spaces(ctx, a, a, RN, RD, RK, a, RD, b, RD, &r), RV_OK, "rotated copy");
		is_double(r.cka, 1, 1e-6, "rotated, rescaled, shifted copy: cka 1");
		/* a brute-force reference on random pairs: several blocks of 256 queries */
		for (i = 0; i < RN * RD; i++)
			b[i] = (float) (0.6 * a[i] + 0.8 * rnd(&seed));
		is_int(rv_compare_spaces(ctx, a, b, RN, RD, RK, a, RD, b, RD, &r), RV_OK, "600 random pairs");
		{
			double		cs = 0,
						rr = 0,
						jac = 0;
			char		f1[RN],
						f2[RN];

			for (i = 0; i < RN; i++)
			{
				double		self = cosd(a + i * RD, b + i * RD, RD);
				int			above = 0,
							inter = 0;

				cs += self;
				for (j = 0; j < RN; j++)
					above += cosd(a + i * RD, b + j * RD, RD) > self;
				rr += 1.0 / (above + 1);
				nearest(a + i * RD, b, RN, RD, RK, f1);
				nearest(b + i * RD, b, RN, RD, RK, f2);
				for (j = 0; j < RN; j++)
					inter += f1[j] && f2[j];
				jac += (double) inter / (2 * RK - inter);
			}
			is_double(r.cosine, cs / RN, 1e-6, "cosine as brute force");
			is_double(r.mrr, rr / RN, 1e-4, "mrr as brute force");
			is_double(r.jaccard, jac / RN, 1e-4, "jaccard as brute force");
			ok(r.cka > 0.2 && r.cka < 0.9, "cka of a noisy copy is between");
		}

		/* errors */
		is_int(rv_compare_spaces(ctx, a, b, 1, RD, 1, a, RD, b, RD, &r), RV_E_INVALID_PARAM, "one item");
		is_str(rv_errmsg(ctx), "comparing spaces needs at least 2 items, not 1", "one item message");
		is_int(rv_compare_spaces(ctx, a, b, 5, RD, 6, a, RD, b, RD, &r), RV_E_INVALID_PARAM, "k > n");
		is_str(rv_errmsg(ctx), "k 6 exceeds the 5 items", "k > n message");
		is_int(rv_compare_spaces(ctx, a, b, 5, RD, 0, a, RD, b, RD, &r), RV_E_INVALID_PARAM, "k = 0");
		is_str(rv_errmsg(ctx), "k must be at least 1", "k = 0 message");
		{
			float		same[10] = {1, 2, 1, 2, 1, 2, 1, 2, 1, 2};

			is_int(rv_compare_spaces(ctx, a, b, 5, 2, 1, same, 2, b, 2, &r), RV_E_INVALID_PARAM, "constant space");
			is_str(rv_errmsg(ctx), "linear CKA is undefined: the items are all the same in space a",
				   "constant space message");
		}

		/* allocation failures and interrupts */
		for (i = 1; i <= 14; i++)
		{
			long		live = th.live;
			rv_status	s;

			th.fail_at = th.total + i;
			s = rv_compare_spaces(ctx, a, b, RN, RD, RK, a, RD, b, RD, &r);
			th.fail_at = 0;
			is_int(s, RV_E_NOMEM, "a failed allocation is RV_E_NOMEM");
			is_int(th.live, live, "and leaks nothing");
		}
		th.interrupt_calls = 0;
		th.interrupt_after = 1;
		is_int(rv_compare_spaces(ctx, a, b, RN, RD, RK, a, RD, b, RD, &r), RV_E_INTERRUPTED,
			   "the block loop polls the interrupt check");
		th.interrupt_calls = 0;
		th.interrupt_after = 3;
		is_int(rv_compare_spaces(ctx, a, b, RN, RD, RK, a, RD, b, RD, &r), RV_E_INTERRUPTED,
			   "so does the CKA loop");
		th.interrupt_after = -1;
	}

	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "no leaks");
	return done_testing();
}
