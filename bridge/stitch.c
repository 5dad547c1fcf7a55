/*
 * stitch.c — how well two spaces agree over the same n items (Moschella et al. 2023,
 * Table 1; ../shared/data/README.md has the definitions). Item i is Q_i on the query side
 * and C_i on the corpus side of a route's common space (relative vectors of both models,
 * or translated queries and raw corpus rows); every comparison is cosine similarity.
 *
 *   cosine   mean over i of cos(Q_i, C_i)
 *   mrr      mean over i of 1 / rank of C_i among all C_j ordered by cos(Q_i, C_j); ties
 *            count in C_i's favour: rank = 1 + the number of C_j strictly more similar
 *   jaccard  mean over i of |N(Q_i) ∩ N(C_i)| / |N(Q_i) ∪ N(C_i)|, N(v) the k rows of C
 *            most similar to v (C_i's own row included); a tie at the k-th place goes to
 *            the lower row number
 *   cka      linear CKA of the two absolute spaces A (n x da) and B (n x db), columns
 *            centered: |Aᵀ·B|²_F / (|Aᵀ·A|_F · |Bᵀ·B|_F), in double
 *
 * Both sides are L2-normalized once (a zero row stays zero: its cosines are 0). Queries are
 * taken in blocks: one sgemm gives the block's similarities to every C_j (for rank and
 * N(Q_i)), another the similarities of the block's own C_i to every C_j (for N(C_i)), so
 * memory is O(block · n), never n x n. CKA accumulates the three Gram matrices over row
 * blocks with dgemm.
 */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "internal.h"

/* Similarity-matrix floats held per block (both blocks together: 2x this). */
#define COMPARE_BLOCK_FLOATS (4u << 20)
#define COMPARE_MAX_BLOCK 256
/* Rows per dgemm in the CKA accumulation. */
#define CKA_BLOCK_ROWS 1024

/* True when (sa, a) ranks before (sb, b): higher similarity, then lower row. */
static inline int
better(float sa, size_t a, float sb, size_t b)
{
	return sa > sb || (sa == sb && a < b);
}

/*
 * The k best rows of the n similarities s (k <= n), in no particular order, into idx: a
 * heap whose root is the worst row kept. O(n log k), no allocation.
 */
static void
top_rows(const float *s, size_t n, size_t k, size_t *idx)
{
	size_t		h = 0,
				j;

	for (j = 0; j < n; j++)
	{
		size_t		pos;

		if (h < k)
		{
			/* sift up: parents are better-ranked-worse (the root is the worst) */
			pos = h++;
			while (pos > 0)
			{
				size_t		par = (pos - 1) / 2;

				if (!better(s[idx[par]], idx[par], s[j], j))
					break;
				idx[pos] = idx[par];
				pos = par;
			}
			idx[pos] = j;
		}
		else if (better(s[j], j, s[idx[0]], idx[0]))
		{
			/* replace the worst and sift down */
			pos = 0;
			for (;;)
			{
				size_t		l = 2 * pos + 1,
							w = pos;
				size_t		wr = j;

				if (l < k && better(s[wr], wr, s[idx[l]], idx[l]))
				{
					w = l;
					wr = idx[l];
				}
				if (l + 1 < k && better(s[wr], wr, s[idx[l + 1]], idx[l + 1]))
				{
					w = l + 1;
					wr = idx[l + 1];
				}
				if (w == pos)
					break;
				idx[pos] = idx[w];
				pos = w;
			}
			idx[pos] = j;
		}
	}
}

/* Copy n x d rows of x into out, each L2-normalized (norm in double; zero rows stay zero). */
static void
normalize_rows(const float *x, size_t n, size_t d, float *out)
{
	size_t		i,
				j;

	for (i = 0; i < n; i++)
	{
		const float *xi = x + i * d;
		float	   *oi = out + i * d;
		double		nn = 0;

		for (j = 0; j < d; j++)
			nn += (double) xi[j] * xi[j];
		nn = nn > 0 ? 1.0 / sqrt(nn) : 0;
		for (j = 0; j < d; j++)
			oi[j] = (float) (xi[j] * nn);
	}
}

/* Linear CKA of a (n x da) and b (n x db); RV_E_INVALID_PARAM when a side is constant. */
static rv_status
linear_cka(rv_ctx *ctx, const float *a, size_t da, const float *b, size_t db, size_t n, double *out)
{
	double	   *ma = rv_alloc(ctx, sizeof(double) * da),
			   *mb = rv_alloc(ctx, sizeof(double) * db),
			   *gaa = rv_alloc(ctx, sizeof(double) * da * da),
			   *gbb = rv_alloc(ctx, sizeof(double) * db * db),
			   *gab = rv_alloc(ctx, sizeof(double) * da * db),
			   *xa = rv_alloc(ctx, sizeof(double) * CKA_BLOCK_ROWS * da),
			   *xb = rv_alloc(ctx, sizeof(double) * CKA_BLOCK_ROWS * db);
	rv_status	st = RV_OK;
	double		faa = 0,
				fbb = 0,
				fab = 0;
	size_t		i,
				j,
				r0;

	if (!ma || !mb || !gaa || !gbb || !gab || !xa || !xb)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory computing the CKA of %zu items", n);
		goto done;
	}
	memset(ma, 0, sizeof(double) * da);
	memset(mb, 0, sizeof(double) * db);
	for (i = 0; i < n; i++)
	{
		for (j = 0; j < da; j++)
			ma[j] += a[i * da + j];
		for (j = 0; j < db; j++)
			mb[j] += b[i * db + j];
	}
	for (j = 0; j < da; j++)
		ma[j] /= (double) n;
	for (j = 0; j < db; j++)
		mb[j] /= (double) n;
	for (r0 = 0; r0 < n; r0 += CKA_BLOCK_ROWS)
	{
		size_t		rows = n - r0 < CKA_BLOCK_ROWS ? n - r0 : CKA_BLOCK_ROWS;
		double		beta = r0 == 0 ? 0.0 : 1.0;

		if (rv_interrupted(ctx))
		{
			st = rv_fail(ctx, RV_E_INTERRUPTED, "space comparison interrupted");
			goto done;
		}
		for (i = 0; i < rows; i++)
		{
			for (j = 0; j < da; j++)
				xa[i * da + j] = a[(r0 + i) * da + j] - ma[j];
			for (j = 0; j < db; j++)
				xb[i * db + j] = b[(r0 + i) * db + j] - mb[j];
		}
		cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int) da, (int) da, (int) rows, 1.0,
					xa, (int) da, xa, (int) da, beta, gaa, (int) da);
		cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int) db, (int) db, (int) rows, 1.0,
					xb, (int) db, xb, (int) db, beta, gbb, (int) db);
		cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int) da, (int) db, (int) rows, 1.0,
					xa, (int) da, xb, (int) db, beta, gab, (int) db);
	}
	for (i = 0; i < da * da; i++)
		faa += gaa[i] * gaa[i];
	for (i = 0; i < db * db; i++)
		fbb += gbb[i] * gbb[i];
	for (i = 0; i < da * db; i++)
		fab += gab[i] * gab[i];
	if (faa == 0 || fbb == 0)
		st = rv_fail(ctx, RV_E_INVALID_PARAM,
					 "linear CKA is undefined: the items are all the same in space %s", faa == 0 ? "a" : "b");
	else
		*out = fab / (sqrt(faa) * sqrt(fbb));
done:
	rv_free(ctx, ma);
	rv_free(ctx, mb);
	rv_free(ctx, gaa);
	rv_free(ctx, gbb);
	rv_free(ctx, gab);
	rv_free(ctx, xa);
	rv_free(ctx, xb);
	return st;
}

/* Compare two spaces over the same n items (see the top of the file). */
rv_status
rv_compare_spaces(rv_ctx *ctx, const float *q, const float *c, size_t n, size_t d, size_t k,
				  const float *abs_a, size_t da, const float *abs_b, size_t db, rv_compare_result *out)
{
	float	   *qn = NULL,
			   *cn = NULL,
			   *s1 = NULL,
			   *s2 = NULL;
	size_t	   *top1 = NULL,
			   *top2 = NULL,
			   *stamp = NULL;
	size_t		block,
				b0,
				i,
				j;
	double		sum_cos = 0,
				sum_rr = 0,
				sum_jac = 0;
	rv_status	st = RV_OK;

	memset(out, 0, sizeof(*out));
	if (n < 2)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "comparing spaces needs at least 2 items, not %zu", n);
	if (k < 1)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "k must be at least 1");
	if (k > n)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "k %zu exceeds the %zu items", k, n);
	if (d == 0 || da == 0 || db == 0)
		return rv_fail(ctx, RV_E_EMPTY, "cannot compare spaces of zero dimensions");
	if (d > RV_MAX_DIMS || da > RV_MAX_DIMS || db > RV_MAX_DIMS)
		return rv_fail(ctx, RV_E_TOO_MANY_DIMS, "cannot compare spaces of more than %d dimensions",
					   RV_MAX_DIMS);
	if (n > (size_t) INT32_MAX / RV_MAX_DIMS)
		return rv_fail(ctx, RV_E_LIMIT, "too many items to compare: %zu", n);
	rvc_blas_init();

	block = COMPARE_BLOCK_FLOATS / n;
	block = block < 1 ? 1 : block > COMPARE_MAX_BLOCK ? COMPARE_MAX_BLOCK : block;
	block = block > n ? n : block;
	qn = rv_alloc(ctx, sizeof(float) * n * d);
	cn = rv_alloc(ctx, sizeof(float) * n * d);
	s1 = rv_alloc(ctx, sizeof(float) * block * n);
	s2 = rv_alloc(ctx, sizeof(float) * block * n);
	top1 = rv_alloc(ctx, sizeof(size_t) * k);
	top2 = rv_alloc(ctx, sizeof(size_t) * k);
	stamp = rv_alloc(ctx, sizeof(size_t) * n);
	if (!qn || !cn || !s1 || !s2 || !top1 || !top2 || !stamp)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory comparing spaces over %zu items", n);
		goto done;
	}
	normalize_rows(q, n, d, qn);
	normalize_rows(c, n, d, cn);
	memset(stamp, 0, sizeof(size_t) * n);

	for (b0 = 0; b0 < n; b0 += block)
	{
		size_t		rows = n - b0 < block ? n - b0 : block;

		if (rv_interrupted(ctx))
		{
			st = rv_fail(ctx, RV_E_INTERRUPTED, "space comparison interrupted");
			goto done;
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) rows, (int) n, (int) d, 1.0f,
					qn + b0 * d, (int) d, cn, (int) d, 0.0f, s1, (int) n);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) rows, (int) n, (int) d, 1.0f,
					cn + b0 * d, (int) d, cn, (int) d, 0.0f, s2, (int) n);
		for (i = 0; i < rows; i++)
		{
			size_t		gi = b0 + i;
			const float *r1 = s1 + i * n;
			const float *r2 = s2 + i * n;
			float		self = r1[gi];
			size_t		above = 0,
						inter = 0;
			double		dot = 0;

			for (j = 0; j < d; j++)
				dot += (double) qn[gi * d + j] * cn[gi * d + j];
			sum_cos += dot;
			for (j = 0; j < n; j++)
				above += r1[j] > self;
			sum_rr += 1.0 / (double) (above + 1);
			top_rows(r1, n, k, top1);
			top_rows(r2, n, k, top2);
			for (j = 0; j < k; j++)
				stamp[top1[j]] = gi + 1;
			for (j = 0; j < k; j++)
				inter += stamp[top2[j]] == gi + 1;
			sum_jac += (double) inter / (double) (2 * k - inter);
		}
	}
	rv_free(ctx, s1);
	rv_free(ctx, s2);
	s1 = s2 = NULL;
	if ((st = linear_cka(ctx, abs_a, da, abs_b, db, n, &out->cka)) != RV_OK)
		goto done;
	out->cosine = sum_cos / (double) n;
	out->mrr = sum_rr / (double) n;
	out->jaccard = sum_jac / (double) n;
done:
	rv_free(ctx, qn);
	rv_free(ctx, cn);
	rv_free(ctx, s1);
	rv_free(ctx, s2);
	rv_free(ctx, top1);
	rv_free(ctx, top2);
	rv_free(ctx, stamp);
	if (st != RV_OK)
		memset(out, 0, sizeof(*out));
	return st;
}
