/*
 * codes8.c — int8 codes of a host copy's rows, and the lower bounds of exact distances
 * they give to a batch of queries (rv_codes8_encode, rv_codes8_bounds).
 *
 * A batched scan of a shared rvflat copy needs, for every row and every query of the
 * batch, a lower bound of the exact distance; it recomputes exactly only the rows a bound
 * cannot rule out. From float32 products (rv_lower_bounds) the bound is tight but the pass
 * reads 4 bytes per value and makes one float multiply-add per pair and value. From int8
 * codes it reads one byte per value, and a CPU with AVX-512 VNNI makes 64 byte products
 * per instruction: the same pass, about four times less work and memory traffic.
 *
 * The codes. A row x gets a scale s = max |x_i| / 127 and codes a_i = round(x_i / s) in
 * [-127, 127], so x = s a + e with |e_i| <= s / 2. Each row keeps s, an upper bound of
 * s |a|, an upper bound of |e| (computed in double, widened past its rounding) and the
 * sum of its codes. A query q is coded the same way at each call: q = t b + f.
 *
 * The bound. <q, x> = t s <b, a> + s <f, a> + <q, e>, and by Cauchy-Schwarz
 *     |<q, x> - t s <b, a>| <= s |a| |f| + |q| |e|.
 * <b, a> is an integer, exact on every path. The distances follow from the upper bound
 * U = t s <b, a> + s |a| |f| + |q| |e| (widened by its double rounding) as
 * rv_lower_bounds forms them from a float32 product, with the same relative (g) and
 * underflow (eta) slack, which cover the exact distance function's own rounding: every
 * bound is at most the value rv_metric_distance gives.
 *
 * The layout. Rows go in blocks of 16, dimensions in groups of 4: for block k and group
 * g, 64 bytes hold the 4 codes of group g of each of the block's 16 rows, row by row
 * (zeros past the last row and the last dimension). One 64-byte load then feeds 16 rows
 * of one query's products (VNNI's vpdpbusd: 4 unsigned by 4 signed bytes into each of 16
 * int32 lanes), with the query's 4 bytes broadcast; 16 queries reuse each load. VNNI wants
 * the query unsigned: b + 128, and <b, a> = <b + 128, a> - 128 sum(a). The plain C path
 * multiplies b itself; both give the same integers, so the bounds are the same bits on
 * every CPU (rv_codes8_path chooses one for tests).
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "internal.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#include <immintrin.h>
#define CODES8_VNNI 1
#endif

/* internal.h: the path a test asks for (0: the CPU's fastest) */
int			rv_codes8_path = 0;

#define C8_ROWS 16				/* rows per block */
#define C8_GROUP 4				/* dimensions per group */
#define C8_BLOCK_GROUP (C8_ROWS * C8_GROUP)		/* bytes of one group of one block */
#define C8_MAX_CODE 127.0

/* Unit roundoff of float32 (the slack rv_lower_bounds uses; cpu/topk.c). */
#define C8_U (1.0 / 16777216.0)
/* Relative widening of a double result past its own rounding (a few ulps, with room). */
#define C8_WIDEN 0x1p-40

static inline size_t
groups_of(size_t d)
{
	return (d + C8_GROUP - 1) / C8_GROUP;
}

static inline size_t
blocks_of(size_t n)
{
	return (n + C8_ROWS - 1) / C8_ROWS;
}

size_t
rv_codes8_bytes(size_t n, size_t d)
{
	size_t		nb = blocks_of(n),
				dg = groups_of(d);

	if (d == 0 || d > RV_MAX_DIMS || nb > SIZE_MAX / C8_BLOCK_GROUP / dg)
		return 0;
	return nb * dg * C8_BLOCK_GROUP;
}

/*
 * Code one vector of d floats: a (d codes), its scale and the bounds of s |a| and |e|,
 * and the sum of its codes. A vector with a value that is not finite gets zero codes and
 * an infinite |e| (it bounds nothing); stored values and queries are finite.
 */
static void
code_one(const float *x, size_t d, int8_t *a, double *scale, double *anorm, double *enorm,
		 int32_t *sum)
{
	double		m = 0.0,
				s,
				e2 = 0.0,
				x2 = 0.0;
	int64_t		a2 = 0,
				as = 0;
	size_t		i;

	for (i = 0; i < d; i++)
	{
		double		v = fabs((double) x[i]);

		if (!(v <= (double) FLT_MAX))
		{
			memset(a, 0, d);
			*scale = 0.0;
			*anorm = 0.0;
			*enorm = INFINITY;
			*sum = 0;
			return;
		}
		m = v > m ? v : m;
	}
	s = m / C8_MAX_CODE;
	for (i = 0; i < d; i++)
	{
		double		v = (double) x[i];
		long		c = s > 0.0 ? lrint(v / s) : 0;
		double		e;

		c = c > 127 ? 127 : (c < -127 ? -127 : c);
		a[i] = (int8_t) c;
		e = v - s * (double) c;
		e2 += e * e;
		x2 += v * v;
		a2 += c * c;
		as += c;
	}
	*scale = s;
	/* s |a|: a2 is exact; the double product and root are widened past their rounding */
	*anorm = s * sqrt((double) a2) * (1.0 + C8_WIDEN);
	/*
	 * |e|: each e_i is computed within 2^-52 |x_i| of x_i - s a_i (one product, one
	 * difference), so the true |e| is within 2^-51 |x| of the computed one
	 */
	*enorm = sqrt(e2) * (1.0 + C8_WIDEN) + 0x1p-50 * sqrt(x2);
	*sum = (int32_t) as;
}

rv_status
rv_codes8_encode(rv_ctx *ctx, const float *x, size_t n, size_t d, int8_t *codes,
				 rv_code8_row *rows)
{
	size_t		dg = groups_of(d);
	int8_t	   *a;
	size_t		r;

	if (ctx == NULL)
		return RV_E_INVALID_PARAM;
	rv_clear_error(ctx);
	if ((x == NULL && n > 0) || codes == NULL || rows == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "int8 codes: a NULL array");
	if (rv_codes8_bytes(n, d) == 0)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "int8 codes: invalid sizes");
	a = rv_alloc(ctx, dg * C8_GROUP);
	if (a == NULL)
		return rv_fail(ctx, RV_E_NOMEM, "out of memory for int8 codes");
	memset(codes, 0, rv_codes8_bytes(n, d));
	memset(a, 0, dg * C8_GROUP);
	for (r = 0; r < n; r++)
	{
		int8_t	   *blk = codes + (r / C8_ROWS) * dg * C8_BLOCK_GROUP + (r % C8_ROWS) * C8_GROUP;
		size_t		g;

		if ((r & 4095) == 0 && rv_interrupted(ctx))
		{
			rv_free(ctx, a);
			return rv_fail(ctx, RV_E_INTERRUPTED, "int8 codes interrupted");
		}
		code_one(x + r * d, d, a, &rows[r].scale, &rows[r].anorm, &rows[r].enorm,
				 &rows[r].sum);
		rows[r].pad = 0;
		for (g = 0; g < dg; g++)
			memcpy(blk + g * C8_BLOCK_GROUP, a + g * C8_GROUP, C8_GROUP);
	}
	rv_free(ctx, a);
	return RV_OK;
}

/*
 * <b_j, a_r> for the 16 rows of one block and nq queries, out[j * 16 + i]: plain C (and
 * what the compiler vectorizes of it). qb: nq x (dg * 4) signed codes.
 */
RVC_CLONES
static void
dots_plain(const int8_t *restrict blk, size_t dg, const int8_t *restrict qb, size_t nq,
		   int32_t *restrict out)
{
	size_t		j,
				g;
	int			i;

	for (j = 0; j < nq; j++)
	{
		const int8_t *qj = qb + j * dg * C8_GROUP;
		int32_t		acc[C8_ROWS] = {0};

		for (g = 0; g < dg; g++)
		{
			const int8_t *c = blk + g * C8_BLOCK_GROUP;
			const int8_t *b = qj + g * C8_GROUP;

			for (i = 0; i < C8_ROWS; i++)
				acc[i] += c[i * 4] * b[0] + c[i * 4 + 1] * b[1] + c[i * 4 + 2] * b[2] +
					c[i * 4 + 3] * b[3];
		}
		memcpy(out + j * C8_ROWS, acc, sizeof(acc));
	}
}

#ifdef CODES8_VNNI
/*
 * The same for QN queries at once with VNNI: one accumulator of 16 rows per query, the
 * query's 4 unsigned bytes (b + 128) broadcast; corrected by -128 sum(a) in the caller.
 * qu holds group g of query j at qu[g * ldq + j]: one pointer walks every query.
 */
#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))

VNNI_TARGET __attribute__((always_inline))
static inline void
dots_vnni_n(const int8_t *restrict blk, size_t dg, const uint32_t *restrict qu, size_t ldq,
			const int qn, int32_t *restrict out)
{
	__m512i		acc[16];
	size_t		g;
	int			j;

#pragma GCC unroll 16
	for (j = 0; j < qn; j++)
		acc[j] = _mm512_setzero_si512();
	for (g = 0; g < dg; g++)
	{
		__m512i		v = _mm512_loadu_si512((const void *) (blk + g * C8_BLOCK_GROUP));

#pragma GCC unroll 16
		for (j = 0; j < qn; j++)
			acc[j] = _mm512_dpbusd_epi32(acc[j], _mm512_set1_epi32((int) qu[g * ldq + j]), v);
	}
#pragma GCC unroll 16
	for (j = 0; j < qn; j++)
		_mm512_storeu_si512((void *) (out + j * C8_ROWS), acc[j]);
}

VNNI_TARGET
static void
dots_vnni(const int8_t *restrict blk, size_t dg, const uint32_t *restrict qu, size_t nq,
		  int32_t *restrict out)
{
	size_t		j = 0;

	for (; j + 16 <= nq; j += 16)
		dots_vnni_n(blk, dg, qu + j, nq, 16, out + j * C8_ROWS);
	if (j + 8 <= nq)
	{
		dots_vnni_n(blk, dg, qu + j, nq, 8, out + j * C8_ROWS);
		j += 8;
	}
	if (j + 4 <= nq)
	{
		dots_vnni_n(blk, dg, qu + j, nq, 4, out + j * C8_ROWS);
		j += 4;
	}
	if (j + 2 <= nq)
	{
		dots_vnni_n(blk, dg, qu + j, nq, 2, out + j * C8_ROWS);
		j += 2;
	}
	if (j < nq)
		dots_vnni_n(blk, dg, qu + j, nq, 1, out + j * C8_ROWS);
}
#endif

int
rv_codes8_fast(void)
{
#ifdef CODES8_VNNI
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		__builtin_cpu_supports("avx512vnni");
#else
	return 0;
#endif
}

/* What a query needs: its codes (signed, and unsigned dwords for VNNI) and norms. */
typedef struct c8_query
{
	double		t;				/* scale */
	double		fnorm;			/* >= |q - t b| */
	double		qn2;			/* |q|^2 (rvc_norm2) */
	double		qnorm;			/* >= |q| */
	double		qinv;			/* 1 / |q| for cosine, 0 when tiny */
} c8_query;

/*
 * What the bounds need of a block's rows, whatever the query (one division or root per
 * row, not per pair): for cosine each of scale, s |a| and |e| over |x|, and 1 / |x| (0 for
 * a zero or tiny row); for the inner product g |x|.
 */
typedef struct c8_rowaux
{
	double		ps[C8_ROWS];
	double		pa[C8_ROWS];
	double		pe[C8_ROWS];
	double		px[C8_ROWS];
} c8_rowaux;

static void
block_aux(rv_metric metric, const rv_code8_row *rows, const double *xn2, size_t nr, double g,
		  c8_rowaux *aux)
{
	size_t		i;

	for (i = 0; i < nr; i++)
	{
		double		xinv = metric == RV_METRIC_COSINE && xn2[i] >= RV_NORM2_TINY ?
			1.0 / sqrt(xn2[i]) : 0.0;

		if (metric == RV_METRIC_COSINE)
		{
			aux->ps[i] = rows[i].scale * xinv;
			aux->pa[i] = rows[i].anorm * xinv;
			aux->pe[i] = rows[i].enorm * xinv;
			aux->px[i] = xinv;
		}
		else
		{
			aux->ps[i] = rows[i].scale;
			aux->pa[i] = rows[i].anorm;
			aux->pe[i] = rows[i].enorm;
			aux->px[i] = metric == RV_METRIC_IP ? g * sqrt(xn2[i]) : xn2[i];
		}
	}
}

/*
 * Lower bounds of one query's distances to nr rows of one block from their integer
 * products (dots, already <b, a>), as in the head of this file. For cosine everything is
 * over |x| already (aux), and the bound 1 - (U + eta) / (|q| |x|) - g; the widening of U
 * (2^-48 of its terms) covers the rounding of the double products in any order.
 */
RVC_CLONES
static void
block_bounds(rv_metric metric, const c8_query *q, const int32_t *restrict dots,
			 const c8_rowaux *restrict aux, const double *restrict xn2, size_t nr,
			 double g, double eta, double *restrict lb)
{
	size_t		i;

	for (i = 0; i < nr; i++)
	{
		double		a = q->t * aux->ps[i] * (double) dots[i];
		double		e = aux->pa[i] * q->fnorm + aux->pe[i] * q->qnorm;
		double		u = a + e + 0x1p-48 * (fabs(a) + e);
		double		v;

		if (metric == RV_METRIC_COSINE)
			v = q->qinv == 0.0 || aux->px[i] == 0.0 ? -INFINITY :
				1.0 - (u + eta * aux->px[i]) * q->qinv - g;
		else if (metric == RV_METRIC_IP)
			v = -u - q->qnorm * aux->px[i] - eta;
		else
		{
			v = (q->qn2 + xn2[i]) * (1.0 - g) - 2.0 * u - eta;
			v = v > 0.0 ? sqrt(v) : (v == -INFINITY ? -INFINITY : 0.0);
		}
		/* a row or query that is not finite bounds nothing (its |e| or |q| is infinite) */
		lb[i] = e <= DBL_MAX ? v : -INFINITY;
	}
}

rv_status
rv_codes8_bounds(rv_ctx *ctx, rv_metric metric, const int8_t *codes, const rv_code8_row *rows,
				 const double *xn2, size_t n, size_t d, size_t r0, size_t nr, const float *q,
				 size_t nq, double *lb, size_t ldlb)
{
	size_t		dg = groups_of(d);
	size_t		pd = dg * C8_GROUP;
	double		g = metric == RV_METRIC_L2 ?
		(4.0 * (double) d + 256.0) * C8_U : (2.0 * (double) d + 128.0) * C8_U;
	double		eta = RV_UNDERFLOW_SLACK(d);
	int			path = rv_codes8_path;
	c8_query   *qs = NULL;
	int8_t	   *qb = NULL;
	uint32_t   *qu = NULL;
	int32_t    *dots = NULL;
	c8_rowaux	aux;
	rv_status	st = RV_OK;
	size_t		j,
				k;

	if (ctx == NULL)
		return RV_E_INVALID_PARAM;
	rv_clear_error(ctx);
	if (codes == NULL || rows == NULL || xn2 == NULL || q == NULL || lb == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "int8 bounds: a NULL array");
	if (rv_codes8_bytes(n, d) == 0 || r0 % C8_ROWS != 0 || r0 > n || nr > n - r0 ||
		ldlb < nr || nq > INT_MAX)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "int8 bounds: invalid sizes");
	if (metric != RV_METRIC_L2 && metric != RV_METRIC_IP && metric != RV_METRIC_COSINE)
		return rv_fail(ctx, RV_E_UNSUPPORTED, "int8 bounds: no inner-product form for this metric");
	if (nr == 0 || nq == 0)
		return RV_OK;
	if (path == 0)
		path = rv_codes8_fast() ? 2 : 1;
#ifndef CODES8_VNNI
	path = 1;
#endif

	qs = rv_alloc(ctx, nq * sizeof(c8_query));
	qb = rv_alloc(ctx, nq * pd);
	qu = rv_alloc(ctx, nq * dg * sizeof(uint32_t));
	dots = rv_alloc(ctx, nq * C8_ROWS * sizeof(int32_t));
	if (qs == NULL || qb == NULL || qu == NULL || dots == NULL)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory for int8 bounds");
		goto done;
	}
	memset(qb, 0, nq * pd);
	for (j = 0; j < nq; j++)
	{
		const float *qj = q + j * d;
		int8_t	   *bj = qb + j * pd;
		double		anorm;
		int32_t		sum;

		code_one(qj, d, bj, &qs[j].t, &anorm, &qs[j].fnorm, &sum);
		qs[j].qn2 = rvc_norm2(qj, d);
		qs[j].qnorm = sqrt(qs[j].qn2) * (1.0 + C8_WIDEN);
		qs[j].qinv = qs[j].qn2 >= RV_NORM2_TINY ? 1.0 / sqrt(qs[j].qn2) : 0.0;
		if (!(qs[j].fnorm <= DBL_MAX))
			qs[j].qnorm = INFINITY;	/* every bound of this query is -inf */
		for (k = 0; k < dg; k++)
		{
			uint32_t	w = 0;
			int			b;

			for (b = 0; b < C8_GROUP; b++)
				w |= (uint32_t) (uint8_t) (bj[k * C8_GROUP + b] + 128) << (8 * b);
			qu[k * nq + j] = w;
		}
	}

	for (k = r0 / C8_ROWS; k * C8_ROWS < r0 + nr; k++)
	{
		size_t		first = k * C8_ROWS;
		size_t		cnt = r0 + nr - first < C8_ROWS ? r0 + nr - first : C8_ROWS;
		const int8_t *blk = codes + k * dg * C8_BLOCK_GROUP;

		if ((k & 63) == 0 && rv_interrupted(ctx))
		{
			st = rv_fail(ctx, RV_E_INTERRUPTED, "int8 bounds interrupted");
			goto done;
		}
#ifdef CODES8_VNNI
		if (path == 2)
		{
			dots_vnni(blk, dg, qu, nq, dots);
			for (j = 0; j < nq; j++)
			{
				size_t		i;

				for (i = 0; i < cnt; i++)
					dots[j * C8_ROWS + i] -= 128 * rows[first + i].sum;
			}
		}
		else
#endif
			dots_plain(blk, dg, qb, nq, dots);
		block_aux(metric, rows + first, xn2 + first, cnt, g, &aux);
		for (j = 0; j < nq; j++)
			block_bounds(metric, &qs[j], dots + j * C8_ROWS, &aux, xn2 + first, cnt, g, eta,
						 lb + j * ldlb + (first - r0));
	}

done:
	rv_free(ctx, dots);
	rv_free(ctx, qu);
	rv_free(ctx, qb);
	rv_free(ctx, qs);
	return st;
}
