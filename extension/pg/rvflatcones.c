/*
 * rvflatcones.c — the cones of a shared rvflat copy of a cosine index: its rows grouped by
 * direction when the copy is made (rv_cones_build), and the scan that visits the groups
 * nearest first and skips those whose bound rules them out (rvflat_cone_pass).
 *
 * A copy of RVFLAT_CONES_MIN_ROWS rows or more keeps its rows in group order, with each
 * group's centroid, the largest angle between the centroid and a row of the group, and the
 * first row of each group (rvflatshared.c lays them out). A scan bounds each group's
 * cosine distances (the angle to the centroid less the group's largest angle), bounds the
 * rows of the nearest groups one by one from their int8 codes (or computes them exactly),
 * and stops at the first group whose bound passes the largest exact distance of the 64 rows
 * of smallest bound seen so far: on embeddings that form clusters, a top-k reads a few
 * groups out of hundreds. Every row keeps a lower bound of its exact distance (its own, or
 * its group's), and rvflatscan.c recomputes exactly whatever a bound does not rule out, so
 * the answer is a sequential scan's, bit for bit.
 */
#include "postgres.h"

#include <math.h>
#include <unistd.h>

#include "miscadmin.h"

#include "rvflat.h"

/*
 * Cones of a cosine copy (rv_cones_build): from RVFLAT_CONES_MIN_ROWS rows, one group per
 * CONES_ROWS_PER rows (at least 16, at most CONES_MAX), k-means on CONES_SAMPLE_PER sample
 * rows per group for CONES_ITERS rounds. Below RVFLAT_CONES_MIN_ROWS a pass over every row
 * costs less than the groups would save. Assigning every row costs n x groups x dims
 * multiply-adds, paid by the scan that makes the copy: groups are fewer (and larger) where
 * that would pass CONES_WORK. 100,000 x 768 keeps its 1,562 groups (1.2e11), and its whole
 * copy (pages, codes, cones) took 4.2-6.9 s on the 2-core development machine, 2.4 s
 * without cones.
 *
 * 64 rows a group: on 100,000 x 768 clustered rows (1,000 clusters, bench/run-serving-bench.sh)
 * a top-10 bounds about 300 rows with 1,562 groups, and about 10,000 with 781 (groups of
 * 128 join neighbouring clusters, and a group's largest angle grows with it).
 */
#define CONES_ROWS_PER 64
#define CONES_MAX 4096
#define CONES_SAMPLE_PER 12
#define CONES_ITERS 5
#define CONES_WORK 2.0e11

/* The cones of l's rows (cc->k 0 when there are too few rows or directions). */
void
rvflat_make_cones(const RvflatResident *l, int dims, RvflatCones *cc)
{
	Size		kwork = (Size) (CONES_WORK / ((double) l->n * (double) dims));
	Size		kmax = Min(Min(Max(l->n / CONES_ROWS_PER, (Size) 16), (Size) CONES_MAX),
						   Max(kwork, (Size) 16));
	int32	   *cone = palloc(sizeof(int32) * l->n);
	Size	   *fill;
	Size		i;
	int			cpus = (int) sysconf(_SC_NPROCESSORS_ONLN);

	memset(cc, 0, sizeof(RvflatCones));
	cc->cent = palloc(sizeof(float) * kmax * dims);
	cc->cnorm = palloc(sizeof(double) * kmax);
	cc->theta = palloc(sizeof(double) * kmax);
	/* the k-means and the assignment are matrix products: every core, then one again */
	(void) rv_cpu_set_threads(Max(cpus, 1));
	PG_TRY();
	{
		RVPG_CHECK(rv_cones_build(rvpg_ctx(), l->x, l->n, dims, kmax, 1, CONES_ITERS,
								  Min(l->n, kmax * CONES_SAMPLE_PER), cone, cc->cent,
								  cc->cnorm, cc->theta, &cc->k));
	}
	PG_FINALLY();
	{
		(void) rv_cpu_set_threads(1);
	}
	PG_END_TRY();
	if (cc->k == 0)
	{
		pfree(cone);
		return;
	}
	/* rows in group order, the rows without a direction last (group k) */
	cc->cstart = palloc0(sizeof(uint64) * (cc->k + 2));
	for (i = 0; i < l->n; i++)
		cc->cstart[(cone[i] >= 0 ? (Size) cone[i] : cc->k) + 1]++;
	for (i = 0; i < cc->k + 1; i++)
		cc->cstart[i + 1] += cc->cstart[i];
	fill = palloc(sizeof(Size) * (cc->k + 1));
	for (i = 0; i < cc->k + 1; i++)
		fill[i] = cc->cstart[i];
	cc->perm = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(Size) * l->n);
	for (i = 0; i < l->n; i++)
		cc->perm[fill[cone[i] >= 0 ? (Size) cone[i] : cc->k]++] = i;
	pfree(fill);
	pfree(cone);
}

/* Bytes of k cones of dims dimensions in a copy. */
Size
rvflat_cones_bytes(Size k, int dims)
{
	return sizeof(float) * k * dims + sizeof(double) * 2 * k + sizeof(uint64) * (k + 2);
}

/* Group a comes before group b in a cone scan: bound ascending, then group number. */
static inline bool
group_before(const double *lbc, int32 a, int32 b)
{
	return lbc[a] < lbc[b] || (lbc[a] == lbc[b] && a < b);
}

/* Restore the min-heap h (n groups, by group_before) below position i. */
static void
group_sift(int32 *h, Size n, Size i, const double *lbc)
{
	int32		x = h[i];

	for (;;)
	{
		Size		c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && group_before(lbc, h[c + 1], h[c]))
			c++;
		if (!group_before(lbc, h[c], x))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

/*
 * Rows a cone scan bounds before it sets its cut: a top-10's, with room. A scan that
 * goes past them reaches the groups skipped, whose rows it then recomputes exactly.
 */
#define CONE_KC 16

/*
 * The cut of a cone scan: the largest exact distance among the CONE_KC rows of smallest
 * bound seen so far, so at least CONE_KC rows lie at or below it: a group whose bound
 * passes it holds none of the first CONE_KC rows of the answer.
 */
static double
cone_cut(const RvflatResident *r, RvflatMetric metric, const float *q,
		 const RvflatConeResult *res)
{
	RvflatLow	top[CONE_KC];
	double		rest,
				cut = -INFINITY;
	Size		nt = rvflat_smallest(res->lb, res->nrows, CONE_KC, top, &rest),
				i;

	for (i = 0; i < nt; i++)
	{
		double		dd = rvflat_distance(metric, q, r->x + res->rows[top[i].idx] * r->dims,
										 r->dims);

		cut = dd > cut ? dd : cut;
	}
	return isnan(cut) ? INFINITY : cut;
}

/*
 * A scan of a copy with cones (cosine): every group's bound (rv_cones_bounds), then the
 * groups nearest first (a heap: most are never ordered), each row of a group bounded from
 * its int8 codes (or its exact distance), until the next group's bound passes the cut
 * (cone_cut). res gets the rows bounded and their bounds, every group's bound, the groups
 * visited, and the smallest bound of a group not visited: with it, every row of the copy
 * has a lower bound of its exact distance (rvflat_cone_fill), as rvflat_host_pass gives.
 */
void
rvflat_cone_pass(const RvflatResident *r, RvflatMetric metric, const float *q, bool codes,
				 RvflatConeResult *res)
{
	Size		k = r->ncones,
				ng = k + 1,
				d = (Size) r->dims,
				nh = ng,
				cap = 1024,
				g;
	int32	   *heap = palloc(sizeof(int32) * ng);
	double	   *tmp = NULL;
	Size		ntmp = 0;
	double		cut = INFINITY;
	bool		have_cut = false;

	res->lbc = palloc(sizeof(double) * ng);
	res->done = palloc0(sizeof(bool) * ng);
	res->rows = palloc(sizeof(Size) * cap);
	res->lb = palloc(sizeof(double) * cap);
	res->nrows = 0;
	res->rest = INFINITY;
	RVPG_CHECK(rv_cones_bounds(rvpg_ctx(), r->cent, r->cnorm, r->theta, k, d, q, res->lbc));
	res->lbc[k] = -INFINITY;	/* the rows without a direction: always computed */
	for (g = 0; g < ng; g++)
		heap[g] = (int32) g;
	for (g = ng / 2; g-- > 0;)
		group_sift(heap, nh, g, res->lbc);
	while (nh > 0)
	{
		Size		lo,
					hi,
					m,
					i;

		g = (Size) heap[0];
		if (res->lbc[g] > cut)
		{
			res->rest = res->lbc[g];	/* the smallest bound of a group not visited */
			break;
		}
		heap[0] = heap[--nh];
		group_sift(heap, nh, 0, res->lbc);
		lo = r->cstart[g];
		hi = r->cstart[g + 1];
		res->done[g] = true;
		if (lo == hi)
			continue;
		CHECK_FOR_INTERRUPTS();
		m = hi - lo;
		if (res->nrows + m > cap)
		{
			cap = Max(cap * 2, res->nrows + m);
			res->rows = repalloc_huge(res->rows, sizeof(Size) * cap);
			res->lb = repalloc_huge(res->lb, sizeof(double) * cap);
		}
		if (codes && g < k)
		{
			Size		r0 = lo & ~((Size) 15);

			if (hi - r0 > ntmp)
			{
				if (tmp != NULL)
					pfree(tmp);
				ntmp = Max(hi - r0, (Size) 256);
				tmp = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * ntmp);
			}
			RVPG_CHECK(rv_codes8_bounds(rvpg_ctx(), (rv_metric) metric, r->codes, r->code_rows,
										r->xn2, r->n, r->dims, r0, hi - r0, q, 1, tmp,
										hi - r0));
			memcpy(res->lb + res->nrows, tmp + (lo - r0), sizeof(double) * m);
		}
		else
			for (i = 0; i < m; i++)
				res->lb[res->nrows + i] = rvflat_distance(metric, q, r->x + (lo + i) * d,
														  r->dims);
		for (i = 0; i < m; i++)
			res->rows[res->nrows + i] = lo + i;
		res->nrows += m;
		if (!have_cut && res->nrows >= CONE_KC)
		{
			cut = cone_cut(r, metric, q, res);
			have_cut = true;
		}
	}
	if (tmp != NULL)
		pfree(tmp);
	pfree(heap);
}

void
rvflat_cone_fill(const RvflatResident *r, const RvflatConeResult *res, double *out)
{
	Size		g,
				i;

	for (g = 0; g < r->ncones + 1; g++)
		if (!res->done[g])
			for (i = r->cstart[g]; i < r->cstart[g + 1]; i++)
				out[i] = res->lbc[g];
	for (i = 0; i < res->nrows; i++)
		out[res->rows[i]] = res->lb[i];
}
