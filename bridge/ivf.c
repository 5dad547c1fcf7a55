/*
 * ivf.c — the core of the approximate index: its space, k-means, list assignment, and
 * RaBitQ codes (Gao & Long, SIGMOD 2024) with their estimates and error bounds.
 *
 * Index space. A row of d floats is L2-normalized first for the cosine metric, zero-padded
 * to pd = d rounded up to a multiple of 64, and turned by a seeded orthogonal map: with b
 * the largest power of two <= pd, each of RV_IVF_ROUNDS rounds multiplies every coordinate
 * by a random sign, applies the normalized fast Walsh-Hadamard transform (FWHT, scaled by
 * 1/sqrt(b)) to coordinates [0, b), multiplies by fresh random signs and applies it to
 * [pd - b, pd), then mixes the two halves of the row with a butterfly (so rows whose two
 * blocks barely overlap mix too). Every step is orthogonal, so norms, inner products and L2 distances are
 * kept (up to float rounding), and the map spreads each vector's energy evenly over the
 * coordinates, as the random rotation of RaBitQ requires. Signs come from splitmix64
 * streams keyed by (seed, round, which), so every machine builds the same map. Costs
 * O(pd log pd) per row instead of the O(pd^2) of a dense rotation.
 *
 * k-means: nlists distinct rows by a seeded partial Fisher-Yates shuffle, then Lloyd
 * rounds: each row to its nearest centroid (rv_ivf_assign, so rv_topk on the CPU's sgemm
 * or the Vulkan device), each centroid to the mean of its rows (summed in double, one list
 * at a time after a counting sort, so memory stays O(n + pd)). A list left empty takes a
 * copy of the largest list's centroid, the two nudged apart by a relative 1/1024 with
 * opposite signs on alternating coordinates, and half its rows for the bookkeeping (as
 * FAISS's Clustering). Spherical k-means for cosine: centroids are renormalized.
 *
 * Codes. For a prepared row x in the list of centroid c, o = x - c; the code is the pd
 * sign bits of o (bit i set when o_i >= 0), i.e. the unit vector xbar = signs / sqrt(pd),
 * with onorm = |o|, ipq = <xbar, o / |o|> and oc = <o, c>. For a prepared query q,
 * r = q - c and rhat = r / |r|; RaBitQ's estimator of <o / |o|, rhat> is
 * <xbar, rhat> / ipq, within eps0 * sqrt(1 - ipq^2) / ipq / sqrt(pd - 1) with high
 * probability (eps0 = 3: about 3 standard deviations of the estimator, so it fails for
 * about 0.1% of rows, where RaBitQ's 1.9 fails for about 3%; a scan that skips rows whose
 * bound failed loses fewer of them). <xbar, rhat> = (<xbar, q> - <xbar, c>) / |r|, where
 * <xbar, c> = xc is stored with the code and <xbar, q> = (2 S - sum(q)) / sqrt(pd), S the
 * sum of q over the set bits, read byte by byte from a table of 256 partial sums per byte
 * (rv_ivf_lut): one table per query serves every list, and a list costs two dot products.
 * On CPUs with AVX-512 S is summed directly instead, without a table: each 16 bits of the
 * code are the mask of one masked add of 16 coordinates of q (48 adds at 768 dimensions,
 * where the table takes 96 reads from 96 KB, more than the L1 cache holds), four codes at
 * a time. From <o, r>: |x - q|^2 = |o|^2 + |r|^2 - 2 <o, r>, and
 * <x, q> = <c, q> + <o, r> + <o, c> for the inner product and the cosine of normalized rows.
 */
#include <math.h>
#include <string.h>

#include "internal.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#include <immintrin.h>
#define IVF_HAVE_MASKED 1
#endif

/* Rows mapped, or summed, between two interrupt checks. */
#define IVF_CHECK_ROWS 4096
/* Rows per rv_topk call of an assignment, and the most best-list slots per call. */
#define IVF_BLOCK_ROWS 4096
#define IVF_BLOCK_SLOTS ((size_t) 1 << 20)
/* Relative nudge of a split centroid (FAISS's EPS). */
#define IVF_SPLIT_EPS (1.0 / 1024.0)
/* The bound's width in standard deviations of the estimator (RaBitQ's epsilon0 is 1.9). */
#define IVF_EPS0 3.0
/* Smallest ipq a code keeps (the true value is at least 1 / sqrt(pd) >= 0.0079). */
#define IVF_IPQ_MIN 1e-6
/* Keys of the sign streams, so they differ from every other use of the seed. */
#define IVF_SIGN_KEY 0x7276697666736731ULL
#define IVF_INIT_KEY 0x727669766b6d3031ULL

struct rv_ivf_lut
{
	size_t		pd;
	rv_metric	m;
	double		rn;				/* |r|, r = q - c (the list's part) */
	double		rn2;			/* |r|^2 */
	double		qc;				/* <q, c> */
	double		inv_rn;			/* 1 / |r|, 0 when r = 0 */
	double		xq_base;		/* -sum(q) / sqrt(pd): <xbar, q> = 2 S / sqrt(pd) + xq_base */
	double		inv_sqrt_pd;	/* 1 / sqrt(pd) */
	double		eps_scale;		/* eps0 / sqrt(pd - 1) */
	float	   *qv;				/* pd: the query (the query's part) */
	float	   *table;			/* pd / 8 x 256: sums of q over the bits of a byte; NULL
								 * when S comes from masked adds (masked) */
	int			masked;			/* S by AVX-512 masked adds of qv, without the table */
};

/* The splitmix64 output function: a bijective mix of 64 bits. */
static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* splitmix64: the next value of the stream *s. */
static uint64_t
next_u64(uint64_t *s)
{
	return mix64(*s += 0x9e3779b97f4a7c15ULL);
}

/* Uniform integer in [0, n) without modulo bias. */
static size_t
below(uint64_t *s, size_t n)
{
	uint64_t	limit = UINT64_MAX - UINT64_MAX % (uint64_t) n;
	uint64_t	r;

	do
		r = next_u64(s);
	while (r >= limit);
	return (size_t) (r % (uint64_t) n);
}

/* d rounded up to a multiple of 64. */
size_t
rv_ivf_padded_dims(size_t d)
{
	return (d + 63) / 64 * 64;
}

/* Bytes of a code of pd bits. */
size_t
rv_ivf_code_bytes(size_t pd)
{
	return pd / 8;
}

/* The largest power of two <= pd (pd >= 1). */
static size_t
block_size(size_t pd)
{
	size_t		b = 1;

	while (b * 2 <= pd)
		b *= 2;
	return b;
}

/* Check padded dimensions: a positive multiple of 64 within RV_MAX_DIMS. */
static rv_status
check_pd(rv_ctx *ctx, size_t pd)
{
	if (pd == 0 || pd % 64 != 0 || pd > RV_MAX_DIMS)
		return rv_fail(ctx, RV_E_INVALID_PARAM,
					   "padded dimensions %zu must be a positive multiple of 64 up to %d",
					   pd, RV_MAX_DIMS);
	return RV_OK;
}

/* Check a metric the codes serve: L2, inner product, cosine. */
static rv_status
check_metric(rv_ctx *ctx, rv_metric m)
{
	if (m == RV_METRIC_L1)
		return rv_fail(ctx, RV_E_UNSUPPORTED, "rvivf does not support the L1 distance");
	if (m != RV_METRIC_L2 && m != RV_METRIC_IP && m != RV_METRIC_COSINE)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "unknown distance metric %d", (int) m);
	return RV_OK;
}

/*
 * Normalized FWHT of v[0..b) in place (b a power of two >= 8): the first three stages as
 * one radix-8 pass in registers, the others as vectorizable loops, then the 1/sqrt(b).
 */
static RVC_CLONES void
fwht(float *v, size_t b, float scale)
{
	size_t		h,
				i,
				j;

	for (i = 0; i < b; i += 8)
	{
		float	   *p = v + i;
		float		a0 = p[0] + p[1],
					a1 = p[0] - p[1],
					a2 = p[2] + p[3],
					a3 = p[2] - p[3],
					a4 = p[4] + p[5],
					a5 = p[4] - p[5],
					a6 = p[6] + p[7],
					a7 = p[6] - p[7];
		float		b0 = a0 + a2,
					b1 = a1 + a3,
					b2 = a0 - a2,
					b3 = a1 - a3,
					b4 = a4 + a6,
					b5 = a5 + a7,
					b6 = a4 - a6,
					b7 = a5 - a7;

		p[0] = b0 + b4;
		p[1] = b1 + b5;
		p[2] = b2 + b6;
		p[3] = b3 + b7;
		p[4] = b0 - b4;
		p[5] = b1 - b5;
		p[6] = b2 - b6;
		p[7] = b3 - b7;
	}
	for (h = 8; h < b; h *= 2)
		for (i = 0; i < b; i += 2 * h)
		{
			float	   *lo = v + i;
			float	   *hi = v + i + h;

			for (j = 0; j < h; j++)
			{
				float		s = lo[j];
				float		t = hi[j];

				lo[j] = s + t;
				hi[j] = s - t;
			}
		}
	for (i = 0; i < b; i++)
		v[i] *= scale;
}

/* v[i] *= s[i] for n coordinates (signs of +-1, exact). */
static RVC_CLONES void
apply_signs(float *v, const float *s, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		v[i] *= s[i];
}

/* Fill signs[n] with +-1 from the stream of (seed, round, which). */
static void
make_signs(uint64_t seed, int round, int which, float *signs, size_t n)
{
	uint64_t	s = mix64(seed) ^ mix64(IVF_SIGN_KEY + (uint64_t) (2 * round + which));
	uint64_t	bits = 0;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		if (i % 64 == 0)
			bits = next_u64(&s);
		signs[i] = (bits >> (i % 64)) & 1 ? -1.0f : 1.0f;
	}
}

/*
 * (v_i, v_{i+h}) <- ((v_i + v_{i+h}) / sqrt 2, (v_i - v_{i+h}) / sqrt 2) for i < h = pd / 2:
 * orthogonal, and it mixes the two halves of the row even where the two transforms' blocks
 * barely overlap (pd just under a power of two times two, e.g. 4,000 or 16,000).
 */
static RVC_CLONES void
butterfly(float *v, size_t pd)
{
	size_t		h = pd / 2,
				i;
	const float k = (float) M_SQRT1_2;

	for (i = 0; i < h; i++)
	{
		float		a = v[i],
					c = v[i + h];

		v[i] = (a + c) * k;
		v[i + h] = (a - c) * k;
	}
}

/* Map one padded row v (pd) in place: the rounds of signs and transforms. */
static void
map_row(float *v, size_t pd, size_t b, float scale, const float *signs)
{
	int			r;

	for (r = 0; r < RV_IVF_ROUNDS; r++)
	{
		apply_signs(v, signs + (size_t) (2 * r) * pd, pd);
		fwht(v, b, scale);
		apply_signs(v, signs + (size_t) (2 * r + 1) * pd, pd);
		fwht(v + (pd - b), b, scale);
		butterfly(v, pd);
	}
}

/* Map n rows of d floats into the index space of seed (out: n x pd). */
rv_status
rv_ivf_prepare(rv_ctx *ctx, rv_metric m, uint64_t seed, const float *x, size_t n, size_t d,
			   float *out)
{
	rv_status	st;
	size_t		pd,
				b,
				i;
	float	   *signs;
	float		scale;
	int			r;

	if (ctx == NULL)
		return RV_E_INVALID_PARAM;
	rv_clear_error(ctx);
	if ((st = check_metric(ctx, m)) != RV_OK)
		return st;
	if (d < 1)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "embedding dimensions must be at least 1");
	if (d > RV_MAX_DIMS)
		return rv_fail(ctx, RV_E_TOO_MANY_DIMS,
					   "embeddings cannot have more than %d dimensions", RV_MAX_DIMS);
	if (n == 0)
		return RV_OK;
	if (x == NULL || out == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "index space map: a NULL array");

	pd = rv_ivf_padded_dims(d);
	b = block_size(pd);
	scale = (float) (1.0 / sqrt((double) b));
	signs = rv_alloc(ctx, (size_t) (2 * RV_IVF_ROUNDS) * pd * sizeof(float));
	if (signs == NULL)
		return rv_fail(ctx, RV_E_NOMEM, "out of memory");
	for (r = 0; r < RV_IVF_ROUNDS; r++)
	{
		make_signs(seed, r, 0, signs + (size_t) (2 * r) * pd, pd);
		make_signs(seed, r, 1, signs + (size_t) (2 * r + 1) * pd, pd);
	}

	for (i = 0; i < n; i++)
	{
		float	   *v = out + i * pd;

		if (i % IVF_CHECK_ROWS == 0 && rv_interrupted(ctx))
		{
			rv_free(ctx, signs);
			return rv_fail(ctx, RV_E_INTERRUPTED, "index space map interrupted");
		}
		if (m == RV_METRIC_COSINE)
			rv_l2_normalize(x + i * d, d, v);
		else
			memmove(v, x + i * d, d * sizeof(float));
		memset(v + d, 0, (pd - d) * sizeof(float));
		map_row(v, pd, b, scale, signs);
	}
	rv_free(ctx, signs);
	return RV_OK;
}

/* Check the padded dimensions and the number of lists of an assignment. */
static rv_status
check_lists(rv_ctx *ctx, size_t nlists, size_t pd)
{
	rv_status	st;

	if ((st = check_pd(ctx, pd)) != RV_OK)
		return st;
	if (nlists < 1 || nlists > (size_t) INT32_MAX)
		return rv_fail(ctx, RV_E_INVALID_PARAM,
					   "number of lists %zu must be between 1 and %d", nlists, INT32_MAX);
	return RV_OK;
}

/* The nprobe nearest centroids of each row, in blocks of rows through rv_topk. */
rv_status
rv_ivf_assign(rv_ctx *ctx, rv_metric m, const float *c, size_t nlists, size_t pd,
			  const float *x, size_t n, size_t nprobe, int32_t *lists)
{
	rv_status	st = RV_OK;
	size_t		block,
				i0;
	int64_t    *rows;
	float	   *dist;

	if (ctx == NULL)
		return RV_E_INVALID_PARAM;
	rv_clear_error(ctx);
	if ((st = check_metric(ctx, m)) != RV_OK || (st = check_lists(ctx, nlists, pd)) != RV_OK)
		return st;
	if (nprobe < 1 || nprobe > nlists)
		return rv_fail(ctx, RV_E_INVALID_PARAM,
					   "nprobe %zu must be between 1 and the number of lists %zu", nprobe, nlists);
	if (nprobe > RV_MAX_K)
		return rv_fail(ctx, RV_E_LIMIT, "nprobe %zu exceeds the maximum of %d", nprobe,
					   RV_MAX_K);
	if (n == 0)
		return RV_OK;
	if (c == NULL || x == NULL || lists == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "list assignment: a NULL array");

	block = IVF_BLOCK_SLOTS / nprobe;
	if (block > IVF_BLOCK_ROWS)
		block = IVF_BLOCK_ROWS;
	if (block > n)
		block = n;
	rows = rv_alloc(ctx, block * nprobe * sizeof(int64_t));
	dist = rv_alloc(ctx, block * nprobe * sizeof(float));
	if (rows == NULL || dist == NULL)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory");
		goto done;
	}

	for (i0 = 0; i0 < n; i0 += block)
	{
		size_t		nb = n - i0 < block ? n - i0 : block;
		rv_topk_args args;
		size_t		j;

		if (rv_interrupted(ctx))
		{
			st = rv_fail(ctx, RV_E_INTERRUPTED, "list assignment interrupted");
			goto done;
		}
		memset(&args, 0, sizeof(args));
		args.q = x + i0 * pd;
		args.nq = nb;
		args.x = c;
		args.n = nlists;
		args.d = pd;
		args.metric = m;
		args.k = nprobe;
		args.row_base = 0;
		args.best_rows = rows;
		args.best_dist = dist;
		rv_topk_reset(rows, dist, nb, nprobe);
		if ((st = rv_topk(ctx, &args)) != RV_OK)
			goto done;
		for (j = 0; j < nb * nprobe; j++)
		{
			/* only a distance that is NaN leaves a slot empty */
			if (rows[j] < 0)
			{
				st = rv_fail(ctx, RV_E_NOT_FINITE,
							 "list assignment found no finite distance for row %zu",
							 i0 + j / nprobe);
				goto done;
			}
			lists[i0 * nprobe + j] = (int32_t) rows[j];
		}
	}
done:
	rv_free(ctx, rows);
	rv_free(ctx, dist);
	return st;
}

/*
 * Centroids of one Lloyd update: each list's mean from the rows order[start[l] ..
 * start[l + 1]) (a counting sort of assign), summed in double in sum (pd).
 */
static rv_status
update_centroids(rv_ctx *ctx, const float *x, size_t n, size_t pd, size_t nlists,
				 const int32_t *assign, size_t *order, size_t *start, double *sum, float *c)
{
	size_t		l,
				i,
				j,
				done = 0;

	memset(start, 0, (nlists + 1) * sizeof(size_t));
	for (i = 0; i < n; i++)
		start[assign[i] + 1]++;
	for (l = 0; l < nlists; l++)
		start[l + 1] += start[l];
	for (i = 0; i < n; i++)
		order[start[assign[i]]++] = i;
	/* start[l] now ends list l: shift back so start[l] begins it */
	for (l = nlists; l > 0; l--)
		start[l] = start[l - 1];
	start[0] = 0;

	for (l = 0; l < nlists; l++)
	{
		size_t		cnt = start[l + 1] - start[l];

		if (cnt == 0)
			continue;
		memset(sum, 0, pd * sizeof(double));
		for (i = start[l]; i < start[l + 1]; i++)
		{
			const float *row = x + order[i] * pd;

			if (++done % IVF_CHECK_ROWS == 0 && rv_interrupted(ctx))
				return rv_fail(ctx, RV_E_INTERRUPTED, "k-means interrupted");
			for (j = 0; j < pd; j++)
				sum[j] += row[j];
		}
		for (j = 0; j < pd; j++)
			c[l * pd + j] = (float) (sum[j] / (double) cnt);
	}
	return RV_OK;
}

/*
 * Give each empty list (count 0) a copy of the largest list's centroid, the two nudged
 * apart, and half its count (ties: the smaller list number).
 */
static void
split_empty(float *c, size_t pd, size_t nlists, size_t *count)
{
	size_t		l,
				j;

	for (l = 0; l < nlists; l++)
	{
		size_t		big = 0;
		float	   *cl = c + l * pd;
		float	   *cb;

		if (count[l] != 0)
			continue;
		for (j = 1; j < nlists; j++)
			if (count[j] > count[big])
				big = j;
		cb = c + big * pd;
		for (j = 0; j < pd; j++)
		{
			float		v = cb[j];

			if (j % 2 == 0)
			{
				cl[j] = (float) (v * (1.0 + IVF_SPLIT_EPS));
				cb[j] = (float) (v * (1.0 - IVF_SPLIT_EPS));
			}
			else
			{
				cl[j] = (float) (v * (1.0 - IVF_SPLIT_EPS));
				cb[j] = (float) (v * (1.0 + IVF_SPLIT_EPS));
			}
		}
		count[l] = count[big] / 2;
		count[big] -= count[l];
	}
}

/* k-means of n prepared rows into nlists centroids (out, nlists x pd). */
rv_status
rv_ivf_train(rv_ctx *ctx, rv_metric m, const float *x, size_t n, size_t pd, size_t nlists,
			 uint64_t seed, int iters, float *out)
{
	rv_status	st;
	size_t	   *order = NULL;
	size_t	   *start = NULL;
	size_t	   *count = NULL;
	double	   *sum = NULL;
	int32_t    *assign = NULL;
	uint64_t	rng = seed ^ IVF_INIT_KEY;
	size_t		i,
				l;
	int			it;

	if (ctx == NULL)
		return RV_E_INVALID_PARAM;
	rv_clear_error(ctx);
	if ((st = check_metric(ctx, m)) != RV_OK || (st = check_pd(ctx, pd)) != RV_OK)
		return st;
	if (nlists < 1 || nlists > n)
		return rv_fail(ctx, RV_E_INVALID_PARAM,
					   "number of lists %zu must be between 1 and the number of rows %zu",
					   nlists, n);
	if (nlists > (size_t) INT32_MAX)
		return rv_fail(ctx, RV_E_INVALID_PARAM,
					   "number of lists %zu must be between 1 and %d", nlists, INT32_MAX);
	if (iters < 0)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "k-means iterations %d must not be negative",
					   iters);
	if (x == NULL || out == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "k-means: a NULL array");

	order = rv_alloc(ctx, n * sizeof(size_t));
	if (order == NULL)
		return rv_fail(ctx, RV_E_NOMEM, "out of memory");

	/* the first nlists of a seeded shuffle of the rows */
	for (i = 0; i < n; i++)
		order[i] = i;
	for (l = 0; l < nlists; l++)
	{
		size_t		j = l + below(&rng, n - l);
		size_t		t = order[l];

		order[l] = order[j];
		order[j] = t;
		memcpy(out + l * pd, x + order[l] * pd, pd * sizeof(float));
	}
	if (iters == 0)
		goto done;

	start = rv_alloc(ctx, (nlists + 1) * sizeof(size_t));
	count = rv_alloc(ctx, nlists * sizeof(size_t));
	sum = rv_alloc(ctx, pd * sizeof(double));
	assign = rv_alloc(ctx, n * sizeof(int32_t));
	if (start == NULL || count == NULL || sum == NULL || assign == NULL)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory");
		goto done;
	}

	for (it = 0; it < iters; it++)
	{
		if (rv_interrupted(ctx))
		{
			st = rv_fail(ctx, RV_E_INTERRUPTED, "k-means interrupted");
			goto done;
		}
		if ((st = rv_ivf_assign(ctx, RV_METRIC_L2, out, nlists, pd, x, n, 1, assign)) != RV_OK)
			goto done;
		if ((st = update_centroids(ctx, x, n, pd, nlists, assign, order, start, sum,
								   out)) != RV_OK)
			goto done;
		for (l = 0; l < nlists; l++)
			count[l] = start[l + 1] - start[l];
		split_empty(out, pd, nlists, count);
		if (m == RV_METRIC_COSINE)
			for (l = 0; l < nlists; l++)
				rv_l2_normalize(out + l * pd, pd, out + l * pd);
	}
done:
	rv_free(ctx, order);
	rv_free(ctx, start);
	rv_free(ctx, count);
	rv_free(ctx, sum);
	rv_free(ctx, assign);
	return st;
}

/*
 * The sums of a code's factors, o = x - c in double: |o|^2, |o|_1, <o, c>, the sum of c
 * where o >= 0, and the sum of c, each over 8 double lanes (a loop that vectorizes; a
 * build encodes every row).
 */
RVC_CLONES
static void
encode_sums(const float *restrict x, const float *restrict c, size_t pd, double *sums)
{
	double		n2[8] = {0},
				l1[8] = {0},
				oc[8] = {0},
				cs[8] = {0},
				csum[8] = {0};
	size_t		i;
	int			t;

	for (i = 0; i < pd; i += 8)
		for (t = 0; t < 8; t++)
		{
			double		ci = c[i + t],
						o = (double) x[i + t] - ci;

			n2[t] += o * o;
			l1[t] += fabs(o);
			oc[t] += o * ci;
			csum[t] += ci;
			cs[t] += o >= 0.0 ? ci : 0.0;
		}
	for (t = 0; t < 5; t++)
		sums[t] = 0.0;
	for (t = 0; t < 8; t++)
	{
		sums[0] += n2[t];
		sums[1] += l1[t];
		sums[2] += oc[t];
		sums[3] += cs[t];
		sums[4] += csum[t];
	}
}

/* Code of prepared row x against centroid c: the sign bits of o = x - c and its factors. */
void
rv_ivf_encode(const float *x, const float *c, size_t pd, uint8_t *code, rv_ivf_factors *f)
{
	double		sums[5],
				n2,
				l1,
				oc,
				cs,
				csum,
				onorm,
				ipq;
	size_t		nb = pd / 8,
				j;
	int			t;

	encode_sums(x, c, pd, sums);
	n2 = sums[0];
	l1 = sums[1];
	oc = sums[2];
	cs = sums[3];
	csum = sums[4];
	for (j = 0; j < nb; j++)
	{
		unsigned	byte = 0;

		for (t = 0; t < 8; t++)
		{
			size_t		i = 8 * j + (size_t) t;

			byte |= (unsigned) ((double) x[i] - (double) c[i] >= 0.0) << t;
		}
		code[j] = (uint8_t) byte;
	}
	if (n2 == 0.0)
	{
		memset(code, 0xff, nb);
		f->onorm = 0.0f;
		f->ipq = 1.0f;
		f->oc = 0.0f;
		f->xc = (float) (csum / sqrt((double) pd));
		return;
	}
	f->xc = (float) ((2.0 * cs - csum) / sqrt((double) pd));
	onorm = sqrt(n2);
	ipq = l1 / (onorm * sqrt((double) pd));
	/* NaN (a row that is not finite) falls to the minimum too */
	if (!(ipq >= IVF_IPQ_MIN))
		ipq = IVF_IPQ_MIN;
	if (ipq > 1.0)
		ipq = 1.0;
	f->onorm = (float) onorm;
	f->ipq = (float) ipq;
	f->oc = (float) oc;
}

#ifdef IVF_HAVE_MASKED
/*
 * S of a code: the sum of q (pd floats, pd a multiple of 64) over the code's set bits. The
 * code read as little-endian 16-bit words puts bit i of the row at bit i % 16 of word
 * i / 16: each word is the lane mask of one masked add of 16 coordinates. Two sums, over
 * the even and the odd words, then their lanes added.
 */
__attribute__((target("arch=x86-64-v4")))
static inline double
masked_sum(const float *restrict q, const uint8_t *restrict code, size_t pd)
{
	__m512		a0 = _mm512_setzero_ps(),
				a1 = _mm512_setzero_ps();
	size_t		w;

	for (w = 0; w < pd / 16; w += 2)
	{
		uint16_t	m0,
					m1;

		memcpy(&m0, code + 2 * w, sizeof(m0));
		memcpy(&m1, code + 2 * w + 2, sizeof(m1));
		a0 = _mm512_mask_add_ps(a0, m0, a0, _mm512_loadu_ps(q + 16 * w));
		a1 = _mm512_mask_add_ps(a1, m1, a1, _mm512_loadu_ps(q + 16 * w + 16));
	}
	return (double) _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

/*
 * masked_sum of four codes at once, each summed exactly as masked_sum sums it (the same
 * bits): their eight independent sums keep both adders busy where one code's two wait on
 * each other.
 */
__attribute__((target("arch=x86-64-v4")))
static inline void
masked_sum4(const float *restrict q, const uint8_t *const *codes, size_t pd, double *sum)
{
	__m512		a[4][2];
	size_t		w;
	int			k;

	for (k = 0; k < 4; k++)
		a[k][0] = a[k][1] = _mm512_setzero_ps();
	for (w = 0; w < pd / 16; w += 2)
	{
		__m512		x0 = _mm512_loadu_ps(q + 16 * w),
					x1 = _mm512_loadu_ps(q + 16 * w + 16);

		for (k = 0; k < 4; k++)
		{
			uint16_t	m0,
						m1;

			memcpy(&m0, codes[k] + 2 * w, sizeof(m0));
			memcpy(&m1, codes[k] + 2 * w + 2, sizeof(m1));
			a[k][0] = _mm512_mask_add_ps(a[k][0], m0, a[k][0], x0);
			a[k][1] = _mm512_mask_add_ps(a[k][1], m1, a[k][1], x1);
		}
	}
	for (k = 0; k < 4; k++)
		sum[k] = (double) _mm512_reduce_add_ps(_mm512_add_ps(a[k][0], a[k][1]));
}
#endif

/* Whether tables sum with masked adds: on CPUs with AVX-512 (x86-64-v4). */
static int
ivf_masked_available(void)
{
#ifdef IVF_HAVE_MASKED
	return __builtin_cpu_supports("x86-64-v4");
#else
	return 0;
#endif
}

/* A query table for pd dimensions, summing with masked adds or the byte table. */
static rv_status
lut_create(rv_ctx *ctx, size_t pd, int masked, rv_ivf_lut **out)
{
	rv_status	st;
	rv_ivf_lut *lut;
	size_t		head = (sizeof(rv_ivf_lut) + 63) / 64 * 64;

	if (ctx == NULL || out == NULL)
		return RV_E_INVALID_PARAM;
	*out = NULL;
	rv_clear_error(ctx);
	if ((st = check_pd(ctx, pd)) != RV_OK)
		return st;
	lut = rv_alloc(ctx, head + (pd + (masked ? 0 : pd / 8 * 256)) * sizeof(float));
	if (lut == NULL)
		return rv_fail(ctx, RV_E_NOMEM, "out of memory");
	memset(lut, 0, sizeof(*lut));
	lut->pd = pd;
	lut->m = RV_METRIC_L2;
	lut->inv_sqrt_pd = 1.0 / sqrt((double) pd);
	lut->eps_scale = IVF_EPS0 / sqrt((double) (pd - 1));
	lut->qv = (float *) ((char *) lut + head);
	memset(lut->qv, 0, pd * sizeof(float));
	lut->masked = masked;
	if (!masked)
	{
		lut->table = lut->qv + pd;
		memset(lut->table, 0, pd / 8 * 256 * sizeof(float));
	}
	*out = lut;
	return RV_OK;
}

/* Allocate a query table for pd dimensions; free with rv_ivf_lut_destroy. */
rv_status
rv_ivf_lut_create(rv_ctx *ctx, size_t pd, rv_ivf_lut **out)
{
	return lut_create(ctx, pd, ivf_masked_available(), out);
}

/* A table that sums with the byte table on every CPU (internal.h). */
rv_status
rv_ivf_lut_create_table(rv_ctx *ctx, size_t pd, rv_ivf_lut **out)
{
	return lut_create(ctx, pd, 0, out);
}

/* Whether the table sums with masked adds. */
int
rv_ivf_lut_is_masked(const rv_ivf_lut *lut)
{
	return lut->masked;
}

/* Free a query table. Accepts NULL. */
void
rv_ivf_lut_destroy(rv_ctx *ctx, rv_ivf_lut *lut)
{
	rv_free(ctx, lut);
}

/* The query's part of the table: the sums of q over the bits of each byte (per query). */
void
rv_ivf_lut_query(rv_ivf_lut *lut, rv_metric m, const float *q)
{
	size_t		pd = lut->pd,
				i,
				j;
	double		qs = 0.0;

	lut->m = m;
	memcpy(lut->qv, q, pd * sizeof(float));
	for (i = 0; i < pd; i++)
		qs += q[i];
	lut->xq_base = -qs * lut->inv_sqrt_pd;
	if (lut->masked)
		return;
	/* each byte's 256 sums, each from a smaller one: v's lowest bit added to v & (v - 1) */
	for (j = 0; j < pd / 8; j++)
	{
		const float *h = q + 8 * j;
		float	   *t = lut->table + 256 * j;
		unsigned	v;

		t[0] = 0.0f;
		for (v = 1; v < 256; v++)
			t[v] = t[v & (v - 1)] + h[__builtin_ctz(v)];
	}
}

/* The list's part: |q - c| and <q, c> for the list of centroid c (O(pd), per list). */
void
rv_ivf_lut_list(rv_ivf_lut *lut, const float *c)
{
	size_t		pd = lut->pd,
				i;
	const float *q = lut->qv;
	double		rn2 = 0.0,
				qc = 0.0;

	for (i = 0; i < pd; i++)
	{
		double		r = (double) q[i] - (double) c[i];

		rn2 += r * r;
		qc += (double) q[i] * c[i];
	}
	lut->rn2 = rn2;
	lut->rn = sqrt(rn2);
	lut->qc = qc;
	lut->inv_rn = rn2 > 0.0 ? 1.0 / lut->rn : 0.0;
}

/* Both parts: the table of prepared query q for the list of centroid c. */
void
rv_ivf_lut_set(rv_ivf_lut *lut, rv_metric m, const float *q, const float *c)
{
	rv_ivf_lut_query(lut, m, q);
	rv_ivf_lut_list(lut, c);
}

/* Rows whose sums an estimate batch holds (on the stack) between its two passes. */
#define IVF_BATCH 64

#ifdef IVF_HAVE_MASKED
/* S of n codes by masked adds (sum[i] for codes[i]). */
__attribute__((target("arch=x86-64-v4")))
static void
sums_masked(const rv_ivf_lut *lut, const uint8_t *const *codes, size_t n, double *sum)
{
	size_t		i = 0;

	for (; i + 4 <= n; i += 4)
	{
		size_t		k;

		/* the codes of the next four: list pages are not in the caches yet */
		for (k = i + 4; k < i + 8 && k < n; k++)
		{
			size_t		off;

			for (off = 0; off < lut->pd / 8; off += 64)
				_mm_prefetch((const char *) codes[k] + off, _MM_HINT_T0);
			_mm_prefetch((const char *) codes[k] + lut->pd / 8 - 1, _MM_HINT_T0);
		}
		masked_sum4(lut->qv, codes + i, lut->pd, sum + i);
	}
	for (; i < n; i++)
		sum[i] = masked_sum(lut->qv, codes[i], lut->pd);
}
#endif

/* S of n codes from the byte table. */
static void
sums_table(const rv_ivf_lut *lut, const uint8_t *const *codes, size_t n, double *sum)
{
	size_t		nb = lut->pd / 8,
				i,
				j;

	for (i = 0; i < n; i++)
	{
		const uint8_t *code = codes[i];
		const float *t = lut->table;
		float		s0 = 0.0f,
					s1 = 0.0f,
					s2 = 0.0f,
					s3 = 0.0f;

		/* nb is a multiple of 8: four independent sums hide the latency of the adds */
		for (j = 0; j < nb; j += 4, t += 1024)
		{
			s0 += t[code[j]];
			s1 += t[256 + code[j + 1]];
			s2 += t[512 + code[j + 2]];
			s3 += t[768 + code[j + 3]];
		}
		sum[i] = (double) (s0 + s1) + (double) (s2 + s3);
	}
}

/*
 * From the sums S and the factors (gathered into arrays) to the estimates and bounds of n
 * rows, for metric m (a constant where it is inlined, so each metric's loop is plain
 * arithmetic the compiler vectorizes). Each row's arithmetic is the same whatever the
 * batch (ivf.c is built with -ffp-contract=off, so a vector lane and a scalar tail round
 * alike): a row's estimate does not depend on the rows beside it.
 */
RVC_CLONES
static void
finish_rows(const rv_ivf_lut *lut, rv_metric m, size_t n, const double *restrict sum,
			const double *restrict onorm_, const double *restrict ipq_,
			const double *restrict oc_, const double *restrict xc_, double *restrict est,
			double *restrict lb)
{
	double		inv_sqrt_pd2 = 2.0 * lut->inv_sqrt_pd,
				xq_base = lut->xq_base,
				inv_rn = lut->inv_rn,
				rn = lut->rn,
				rn2 = lut->rn2,
				qc = lut->qc,
				eps_scale = lut->eps_scale;
	/* the metric as doubles: a compare of ints would keep the loop from vectorizing */
	double		l2 = m == RV_METRIC_L2 ? 1.0 : 0.0,
				base = m == RV_METRIC_IP ? 0.0 : 1.0;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		double		ipq = ipq_[i],
					onorm = onorm_[i],
					xr,
					onr,
					ip_or,
					err,
					one_m,
					e,
					b;

		/* <xbar, rhat> = (<xbar, q> - <xbar, c>) / |r|: S is the query's, xc the row's */
		xr = (inv_sqrt_pd2 * sum[i] + xq_base - xc_[i]) * inv_rn;
		onr = onorm * rn;
		ip_or = onr * (xr / ipq);
		one_m = 1.0 - ipq * ipq;
		err = onr * eps_scale * sqrt(one_m > 0.0 ? one_m : 0.0) / ipq;
		{
			/* both forms, then the metric's: a loop without branches vectorizes */
			double		d2 = onorm * onorm + rn2 - 2.0 * ip_or;
			double		d2lb = d2 - 2.0 * err;
			double		xq = qc + ip_or + oc_[i];
			double		e2 = sqrt(d2 < 0.0 ? 0.0 : d2),
						b2 = sqrt(d2lb < 0.0 ? 0.0 : d2lb);

			/*
			 * L2: the square roots; IP: the negated inner product (base 0); cosine of
			 * normalized rows: 1 minus it. A NaN stays NaN here and is handled below.
			 */
			e = l2 > 0.5 ? e2 : base - xq;
			b = l2 > 0.5 ? b2 : base - (xq + err);
		}
		/* rows or factors that are not finite: an unknown estimate ranks last, bounds nothing */
		e = isnan(e) ? INFINITY : e;
		b = isnan(b) ? -INFINITY : (b <= e ? b : e);
		est[i] = e;
		lb[i] = b;
	}
}

/* Estimates and lower bounds of n codes of the table's list (relvec_bridge.h). */
void
rv_ivf_estimate_many(const rv_ivf_lut *lut, const uint8_t *const *codes,
					 const rv_ivf_factors *const *f, size_t n, float *est, float *lb)
{
	double		sum[IVF_BATCH],
				onorm[IVF_BATCH],
				ipq[IVF_BATCH],
				oc[IVF_BATCH],
				xc[IVF_BATCH],
				e[IVF_BATCH],
				b[IVF_BATCH];
	size_t		i0;

	for (i0 = 0; i0 < n; i0 += IVF_BATCH)
	{
		size_t		nb = n - i0 < IVF_BATCH ? n - i0 : IVF_BATCH,
					i;

#ifdef IVF_HAVE_MASKED
		if (lut->masked)
			sums_masked(lut, codes + i0, nb, sum);
		else
#endif
			sums_table(lut, codes + i0, nb, sum);
		for (i = 0; i < nb; i++)
		{
			const rv_ivf_factors *fi = f[i0 + i];

			onorm[i] = fi->onorm;
			ipq[i] = fi->ipq;
			oc[i] = fi->oc;
			xc[i] = fi->xc;
		}
		if (lut->m == RV_METRIC_L2 || lut->m == RV_METRIC_IP || lut->m == RV_METRIC_COSINE)
			finish_rows(lut, lut->m, nb, sum, onorm, ipq, oc, xc, e, b);
		else
		{
			/* no estimate for another metric: nothing known */
			for (i = 0; i < nb; i++)
			{
				e[i] = INFINITY;
				b[i] = -INFINITY;
			}
		}
		for (i = 0; i < nb; i++)
			lb[i0 + i] = (float) b[i];
		if (est != NULL)
			for (i = 0; i < nb; i++)
				est[i0 + i] = (float) e[i];
	}
}

/* Estimate and lower bound of the metric's distance from the table's query to a code's row. */
void
rv_ivf_estimate(const rv_ivf_lut *lut, const uint8_t *code, const rv_ivf_factors *f,
				float *est, float *lb)
{
	rv_ivf_estimate_many(lut, &code, &f, 1, est, lb);
}
