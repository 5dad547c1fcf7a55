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
 * costs less than the groups would save.
 */
#define CONES_ROWS_PER 128
#define CONES_MAX 1024
#define CONES_SAMPLE_PER 16
#define CONES_ITERS 5

/* The cones of l's rows (cc->k 0 when there are too few rows or directions). */
void
rvflat_make_cones(const RvflatResident *l, int dims, RvflatCones *cc)
{
	Size		kmax = Min(Max(l->n / CONES_ROWS_PER, (Size) 16), (Size) CONES_MAX);
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

/* Group order of a cone scan: bound ascending, then group number. */
static int
cone_cmp(const void *a, const void *b, void *arg)
{
	const double *lbc = (const double *) arg;
	int32		ga = *(const int32 *) a,
				gb = *(const int32 *) b;

	if (lbc[ga] != lbc[gb])
		return lbc[ga] < lbc[gb] ? -1 : 1;
	return ga < gb ? -1 : (ga > gb ? 1 : 0);
}

/* Rows a cone scan bounds before it sets its cut (the scan's candidate list). */
#define CONE_KC 64

/*
 * The cut of a cone scan: the largest exact distance among the CONE_KC rows of smallest
 * bound of the groups done so far (order[0 .. ndone - 1]), so at least CONE_KC rows lie
 * at or below it, and every row past it is one the scan's first CONE_KC can do without.
 */
static double
cone_cut(const RvflatResident *r, RvflatMetric metric, const float *q, const double *out,
		 const int32 *order, Size ndone, Size nrows)
{
	double	   *v = palloc(sizeof(double) * nrows);
	Size	   *at = palloc(sizeof(Size) * nrows);
	RvflatLow	top[CONE_KC];
	double		rest,
				cut = -INFINITY;
	Size		m = 0,
				i,
				nt;

	for (i = 0; i < ndone; i++)
	{
		Size		row;

		for (row = r->cstart[order[i]]; row < r->cstart[order[i] + 1]; row++)
		{
			v[m] = out[row];
			at[m++] = row;
		}
	}
	nt = rvflat_smallest(v, m, CONE_KC, top, &rest);
	for (i = 0; i < nt; i++)
	{
		double		dd = rvflat_distance(metric, q, r->x + at[top[i].idx] * r->dims, r->dims);

		cut = dd > cut ? dd : cut;
	}
	pfree(at);
	pfree(v);
	return isnan(cut) ? INFINITY : cut;
}

/*
 * A scan of a copy with cones (cosine): every group's bound (rv_cones_bounds), then the
 * groups nearest first, each row of a group bounded from its int8 codes (or its exact
 * distance), until the next group's bound passes the cut (cone_cut); every row of a group
 * not visited gets its group's bound. Every value in out is a lower bound of the row's
 * exact distance, as rvflat_host_pass promises: the scan recomputes exactly what a value
 * cannot rule out, and only a scan that goes far past its first rows reaches a skipped
 * group.
 */
Size
rvflat_cone_pass(const RvflatResident *r, RvflatMetric metric, const float *q, double *out,
				 bool codes)
{
	Size		k = r->ncones,
				ng = k + 1,
				d = (Size) r->dims,
				maxg = 0,
				nrows = 0,
				g,
				gi;
	double	   *lbc = palloc(sizeof(double) * ng);
	int32	   *order = palloc(sizeof(int32) * ng);
	bool	   *done = palloc0(sizeof(bool) * ng);
	double	   *tmp = NULL;
	double		cut = INFINITY;
	bool		have_cut = false;

	RVPG_CHECK(rv_cones_bounds(rvpg_ctx(), r->cent, r->cnorm, r->theta, k, d, q, lbc));
	lbc[k] = -INFINITY;			/* the rows without a direction: always computed */
	for (g = 0; g < ng; g++)
	{
		order[g] = (int32) g;
		maxg = Max(maxg, (Size) (r->cstart[g + 1] - r->cstart[g]));
	}
	qsort_arg(order, ng, sizeof(int32), cone_cmp, lbc);
	if (codes)
		tmp = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * (maxg + 16));
	for (gi = 0; gi < ng; gi++)
	{
		Size		lo,
					hi,
					i;

		g = (Size) order[gi];
		if (lbc[g] > cut)
			break;
		lo = r->cstart[g];
		hi = r->cstart[g + 1];
		done[g] = true;
		if (lo == hi)
			continue;
		CHECK_FOR_INTERRUPTS();
		if (codes && g < k)
		{
			Size		r0 = lo & ~((Size) 15);

			RVPG_CHECK(rv_codes8_bounds(rvpg_ctx(), (rv_metric) metric, r->codes, r->code_rows,
										r->xn2, r->n, r->dims, r0, hi - r0, q, 1, tmp,
										hi - r0));
			memcpy(out + lo, tmp + (lo - r0), sizeof(double) * (hi - lo));
		}
		else
			for (i = lo; i < hi; i++)
				out[i] = rvflat_distance(metric, q, r->x + i * d, r->dims);
		nrows += hi - lo;
		if (!have_cut && nrows >= CONE_KC)
		{
			cut = cone_cut(r, metric, q, out, order, gi + 1, nrows);
			have_cut = true;
		}
	}
	for (g = 0; g < ng; g++)
		if (!done[g])
		{
			Size		i;

			for (i = r->cstart[g]; i < r->cstart[g + 1]; i++)
				out[i] = lbc[g];
		}
	if (tmp != NULL)
		pfree(tmp);
	pfree(done);
	pfree(order);
	pfree(lbc);
	return nrows;
}

