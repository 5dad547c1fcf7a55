/*
 * rvflatscan.c — an rvflat index scan: ORDER BY col <op> query, exact.
 *
 * The first amgettuple reads every data page once, in block order, under a share lock, and
 * computes the distance from the query to each vector in place on the page with the same
 * bridge function the SQL operator calls. All (distance, heap TID) pairs are kept, and one
 * O(n) heapify turns them into a binary min-heap ordered by distance, then heap TID (the
 * tie rule). Each amgettuple pops the next pair in O(log n), so the executor gets rows in
 * the exact order of a sequential scan sorted by (distance, ctid) and can ask for as many as
 * it needs: a WHERE clause that rejects rows makes it ask for more, never shortens the
 * result. Rows whose value is NULL follow, by heap TID, with a NULL distance: exactly where
 * ORDER BY puts them. A NULL query makes every distance NULL: all rows come back by heap
 * TID with a NULL distance, as a sequential scan returns them (pgvector returns none).
 *
 * Only TIDs are kept after a page is unlocked. VACUUM may remove an item we read, but only
 * for a heap tuple that is dead to every snapshot, and a heap slot reused afterwards holds
 * a tuple our MVCC snapshot cannot see.
 *
 * On a Vulkan device (relvec.device = vulkan:N, or auto with a real GPU), the index is kept
 * resident in device memory (rvflatresident.c, keyed by relfilenode and change_count, so
 * the first scan after any insert or VACUUM rebuilds it). The device computes float32
 * distances g_i with bounds b_i such that the exact distance e_i (the operator's own
 * per-pair function, in double) lies in [g_i - b_i, g_i + b_i] (bridge/resident.c derives
 * the bound; non-finite or untrustworthy values get b_i = inf). The scan keeps two heaps:
 * L, the rows not yet recomputed, by lower bound lo_i = g_i - b_i; and C, the recomputed
 * rows, by (e_i, heap TID) exactly as on the CPU. Before each row is returned, rows are
 * moved from L to C (e_i recomputed from the host copy of the vectors) while L's smallest
 * lo is <= the exact distance at the top of C (or C is empty, or its top is NaN). When that
 * stops, every row j still in L has e_j >= lo_j > e_top, so no unrecomputed row can come
 * before C's top, including on a tie of distances (lo_j <= e_top keeps it moving, and C
 * orders ties by TID). So rows, order and distances are exactly those of the CPU path, and
 * only the rows whose device distance is within the bound of the next returned distance
 * are ever recomputed: about as many as the executor asks for, plus the few whose distance
 * is within the bound (near-ties). Rows are still handed out one by one, so filtered
 * queries get full LIMITs.
 *
 * L starts small: one pass of the few-query kernel (rv_resident_topk) gives the
 * RVFLAT_RESIDENT_CANDIDATES rows with the smallest device distances, each with its bound,
 * and a bound `rest` below which no other row's exact distance lies. L holds those rows and
 * one entry standing for all the others, with lower bound rest. Only when that entry
 * reaches the top of L (the executor wants more rows than the list proves, or near-ties
 * crowd the list) does the scan fetch every row's device distance and bound
 * (rv_resident_distances) and put the rows left out into L: the argument above holds at
 * every step, since the entry's bound is a lower bound of every row it stands for.
 *
 * On the CPU with relvec.rvflat_cache_mb set, the same cache keeps a host copy only; the
 * scan then computes every exact distance from it, without reading the pages; a batch of
 * scans over the server's shared copy (rvflatshared.c) gives each scan lower bounds of
 * every row's distance instead. Both are lower bounds (an exact distance bounds itself), so
 * L then starts as on a device, with the rows of the RVFLAT_RESIDENT_CANDIDATES smallest
 * and one entry for the others, whose own values are kept for the expansion, and C holds
 * only the rows recomputed: a scan's memory is a few kilobytes beyond the distances' array,
 * and no array of every row is heapified.
 */
#include "postgres.h"

#include "access/relscan.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "rvflat.h"

/* One candidate row. */
typedef struct RvflatCand
{
	double		dist;
	ItemPointerData tid;
} RvflatCand;

/* Rows the first pass of a resident scan lists (the few-query kernel's k). */
#define RVFLAT_RESIDENT_CANDIDATES 64
#define RVFLAT_REST ((Size) -1)

StaticAssertDecl((int) RVFLAT_L2 == (int) RV_METRIC_L2 && (int) RVFLAT_IP == (int) RV_METRIC_IP &&
				 (int) RVFLAT_COSINE == (int) RV_METRIC_COSINE &&
				 (int) RVFLAT_L1 == (int) RV_METRIC_L1, "rvflat metrics follow rv_metric");

typedef struct RvflatScanOpaqueData
{
	MemoryContext cxt;			/* candidates and the query; reset by rescan */
	RvflatMetric metric;
	bool		started;		/* candidates computed for this (re)scan */
	Embedding  *query;			/* NULL: the ORDER BY argument was NULL */
	RvflatCand *cands;			/* binary min-heap of the rows not yet returned */
	Size		ncands;
	ItemPointerData *nulls;		/* rows with a NULL distance, sorted by TID */
	Size		nnulls;
	Size		nulls_next;		/* the next one to return */
	RvflatResident *res;		/* the resident copy this scan uses (pinned), or NULL */
	RvflatLow  *low;			/* min-heap by lower bound of the rows not recomputed */
	Size		nlow;
	Size		ncap;			/* room in cands */
	Size		nrecomputed;	/* rows whose exact distance was computed (DEBUG1) */
	int64_t    *listed;			/* the candidate list's rows (-1 ends it) */
	Size		nlisted;
	bool		expanded;		/* every row's device distance was fetched (DEBUG1) */
	double	   *lb;				/* a host copy's lower bounds of every row (a batch's pass) */
	RvflatConeResult *cone;		/* a cone scan's rows (lb made from it when it expands) */
} RvflatScanOpaqueData;

typedef RvflatScanOpaqueData *RvflatScanOpaque;

/* The total order of the scan: distance, then heap TID. */
static inline bool
cand_less(const RvflatCand *a, const RvflatCand *b)
{
	int			c = float8_cmp_internal(a->dist, b->dist);	/* NaN last, as in SQL */

	if (c != 0)
		return c < 0;
	return ItemPointerCompare((ItemPointer) &a->tid, (ItemPointer) &b->tid) < 0;
}

/* Restore the heap property below position i. */
static void
sift_down(RvflatCand *h, Size n, Size i)
{
	RvflatCand	x = h[i];

	for (;;)
	{
		Size		c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && cand_less(&h[c + 1], &h[c]))
			c++;
		if (!cand_less(&h[c], &x))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

/* Restore the heap property above position i. */
static void
sift_up(RvflatCand *h, Size i)
{
	RvflatCand	x = h[i];

	while (i > 0)
	{
		Size		p = (i - 1) / 2;

		if (!cand_less(&x, &h[p]))
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = x;
}

/* Order of the lower-bound heap: bound, then row. */
static inline bool
low_less(const RvflatLow *a, const RvflatLow *b)
{
	return a->lo < b->lo || (a->lo == b->lo && a->idx < b->idx);
}

/*
 * Restore a heap's property below position i: the lower-bound min-heap, or (max) the
 * bounded max-heap of list_smallest.
 */
static void
low_sift(RvflatLow *h, Size n, Size i, bool max)
{
	RvflatLow	x = h[i];

	for (;;)
	{
		Size		c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && (max ? low_less(&h[c], &h[c + 1]) : low_less(&h[c + 1], &h[c])))
			c++;
		if (!(max ? low_less(&x, &h[c]) : low_less(&h[c], &x)))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

static inline void
low_sift_down(RvflatLow *h, Size n, Size i)
{
	low_sift(h, n, i, false);
}

/* The kc smallest of n values, and the smallest of the others (rvflat.h). */
Size
rvflat_smallest(const double *v, Size n, Size kc, RvflatLow *top, double *rest)
{
	double		r = get_float8_infinity();
	Size		m = 0;
	Size		i;

	for (i = 0; i < n; i++)
	{
		RvflatLow	x;

		x.lo = isnan(v[i]) ? -get_float8_infinity() : v[i];
		x.idx = i;
		if (m < kc)
		{
			Size		j = m++;

			/* sift up in the max-heap */
			while (j > 0 && low_less(&top[(j - 1) / 2], &x))
			{
				top[j] = top[(j - 1) / 2];
				j = (j - 1) / 2;
			}
			top[j] = x;
		}
		else if (low_less(&x, &top[0]))
		{
			r = Min(r, top[0].lo);
			top[0] = x;
			low_sift(top, m, 0, true);
		}
		else
			r = Min(r, x.lo);
	}
	*rest = r;
	return m;
}

/*
 * From lower bounds lb of n rows of the scan's copy (every row, or with rows a cone scan's:
 * lb[i] is row rows[i]'s, and others bounds every row not among them): L lists the rows
 * with the RVFLAT_RESIDENT_CANDIDATES smallest bounds, and one entry stands for all the
 * others with the smallest of their bounds, as the device path's first pass does;
 * resident_expand puts those rows in L (from lb, or rvflat_cone_fill) if that entry reaches
 * the top. One pass, a max-heap of the listed rows: no array of every row to sort or
 * heapify.
 */
static void
list_smallest(RvflatScanOpaque so, const double *lb, Size n, const Size *rows, double others)
{
	Size		kc = Min((Size) RVFLAT_RESIDENT_CANDIDATES, n);
	RvflatLow  *top = MemoryContextAlloc(so->cxt, (kc + 1) * sizeof(RvflatLow));
	double		rest;
	Size		m = rvflat_smallest(lb, n, kc, top, &rest);
	Size		i;

	so->listed = MemoryContextAlloc(so->cxt, Max(m, (Size) 1) * sizeof(int64_t));
	for (i = 0; i < m; i++)
	{
		if (rows != NULL)
			top[i].idx = rows[top[i].idx];
		so->listed[i] = (int64_t) top[i].idx;
	}
	so->nlisted = m;
	so->low = top;
	so->nlow = m;
	if (m < so->res->n)
	{
		so->low[so->nlow].lo = others < rest ? others : rest;
		so->low[so->nlow].idx = RVFLAT_REST;
		so->nlow++;
	}
	for (i = so->nlow / 2; i-- > 0;)
		low_sift_down(so->low, so->nlow, i);
}

/*
 * The resident path: device distances with their bounds for every row, then the heap of
 * lower bounds. False when the scan must run on the CPU (no device chosen, residency off
 * or over budget, a lost device).
 */
static bool
resident_candidates(IndexScanDesc scan, int dims)
{
	RvflatScanOpaque so = (RvflatScanOpaque) scan->opaque;
	rv_ctx	   *ctx = rvpg_ctx();
	RvflatResident *res;
	float	   *dist;
	float	   *err;
	double		rest = 0;
	Size		kc;
	rv_status	st;
	Size		i;

	res = rvflat_resident_get(scan->indexRelation, dims, so->cxt);
	if (res == NULL)
		return false;
	if (res->remote)
	{
		/* the server's device owner makes the device pass over the shared copy */
		kc = Min((Size) RVFLAT_RESIDENT_CANDIDATES, res->n);
		so->listed = MemoryContextAlloc(so->cxt, kc * sizeof(int64_t));
		dist = MemoryContextAlloc(so->cxt, kc * sizeof(float));
		err = MemoryContextAlloc(so->cxt, kc * sizeof(float));
		if (!rvflat_owner_topk(res, so->metric, so->query->x, kc, so->listed, dist, err, &rest))
		{
			/* no owner for this scan (after a NOTICE if it failed): the CPU, same copy */
			res->remote = false;
			pfree(so->listed);
			pfree(dist);
			pfree(err);
			so->listed = NULL;
		}
	}
	if (res->dev == NULL && !res->remote)
	{
		/*
		 * A host copy: one pass gives every row's exact distance, or, in a batch of several
		 * queries over a shared copy, a lower bound of it (rv_lower_bounds). Either is a
		 * lower bound (an exact distance bounds itself): the lower-bound heap starts with
		 * the rows of the smallest and one entry for the rest (list_smallest), and the
		 * refinement below recomputes exactly only the rows a bound cannot rule out (with
		 * exact distances, the rows returned and their ties). No array of every row is
		 * sorted or heapified, and the exact heap grows with the rows recomputed.
		 */
		double	   *d;
		RvflatConeResult *cone = MemoryContextAllocZero(so->cxt, sizeof(RvflatConeResult));
		MemoryContext old = MemoryContextSwitchTo(so->cxt);
		bool		coned = rvflat_shared_cone(res, so->metric, so->query->x, cone);

		MemoryContextSwitchTo(old);
		so->nulls = res->nulls; /* the pin keeps them until the scan ends */
		so->nnulls = res->nnulls;
		so->nulls_next = 0;
		so->res = res;
		if (coned)
		{
			/* the groups visited: their rows' bounds, and one entry for the others */
			so->cone = cone;
			so->lb = NULL;
			list_smallest(so, cone->lb, cone->nrows, cone->rows, cone->rest);
		}
		else
		{
			pfree(cone);
			d = MemoryContextAllocHuge(so->cxt, res->n * sizeof(double));
			rvflat_host_pass(res, so->metric, so->query->x, d);
			so->lb = d;
			list_smallest(so, d, res->n, NULL, get_float8_infinity());
		}
		so->expanded = false;
		so->ncap = 0;
		so->cands = NULL;
		so->ncands = 0;
		so->nrecomputed = 0;
		return true;
	}
	if (!res->remote)
	{
		kc = Min((Size) RVFLAT_RESIDENT_CANDIDATES, res->n);
		so->listed = MemoryContextAlloc(so->cxt, kc * sizeof(int64_t));
		dist = MemoryContextAlloc(so->cxt, kc * sizeof(float));
		err = MemoryContextAlloc(so->cxt, kc * sizeof(float));
		st = rv_resident_topk(ctx, res->dev, (rv_metric) so->metric, so->query->x, 1, kc,
							  so->listed, dist, err, &rest);
		if (st == RV_E_DEVICE_LOST)
		{
			/* the pin keeps the host copy until this scan ends; we no longer need it */
			rvflat_resident_lost(res);
			return false;
		}
		if (st == RV_E_LIMIT || st == RV_E_UNSUPPORTED)
		{
			/* no list fits this device: one entry for every row, fetched right away */
			rv_clear_error(ctx);
			kc = 0;
			rest = -get_float8_infinity();
		}
		else if (st != RV_OK)
			rvpg_raise(st);
	}

	so->res = res;
	so->low = MemoryContextAllocHuge(so->cxt, (kc + 1) * sizeof(RvflatLow));
	so->nlow = 0;
	for (i = 0; i < kc && so->listed[i] >= 0; i++)
	{
		double		lo = (double) dist[i] - (double) err[i];

		so->low[so->nlow].lo = isnan(lo) ? -get_float8_infinity() : lo;
		so->low[so->nlow].idx = (Size) so->listed[i];
		so->nlow++;
	}
	so->nlisted = so->nlow;
	if (!(rest == get_float8_infinity()))
	{
		so->low[so->nlow].lo = isnan(rest) ? -get_float8_infinity() : rest;
		so->low[so->nlow].idx = RVFLAT_REST;
		so->nlow++;
	}
	pfree(dist);
	pfree(err);
	if (so->nlow > 1)
		for (i = so->nlow / 2; i-- > 0;)
			low_sift_down(so->low, so->nlow, i);
	so->expanded = false;
	so->ncap = 0;
	so->cands = NULL;			/* grows as rows are recomputed */
	so->ncands = 0;
	so->nulls = res->nulls;
	so->nnulls = res->nnulls;
	so->nulls_next = 0;
	so->nrecomputed = 0;
	return true;
}

/*
 * The entry for the rows left out of the candidate list reached the top of L: put every
 * one of those rows into L by its own lower bound, from all the device distances (or, if
 * the device was lost meanwhile, from the exact distances, which are lower bounds too).
 */
static void
resident_expand(RvflatScanOpaque so)
{
	RvflatResident *res = so->res;
	rv_ctx	   *ctx = rvpg_ctx();
	bool	   *in_list = MemoryContextAllocHuge(so->cxt, res->n * sizeof(bool));
	float	   *dist = NULL;
	float	   *err = NULL;
	RvflatLow  *low;
	rv_status	st;
	bool		lost = true;
	Size		i;

	memset(in_list, 0, res->n * sizeof(bool));
	so->expanded = true;
	if (so->lb == NULL && so->cone != NULL)
	{
		/* a cone scan's: every row its own bound, or its group's */
		so->lb = MemoryContextAllocHuge(so->cxt, res->n * sizeof(double));
		rvflat_cone_fill(res, so->cone, so->lb);
	}
	for (i = 0; i < so->nlisted; i++)
		in_list[so->listed[i]] = true;
	if (so->lb == NULL)			/* else the host pass's values, kept, bound every row */
	{
		dist = MemoryContextAllocHuge(so->cxt, res->n * sizeof(float));
		err = MemoryContextAllocHuge(so->cxt, res->n * sizeof(float));
		if (res->remote)
			lost = !rvflat_owner_distances(res, so->metric, so->query->x, dist, err);
		else if (res->dev != NULL && rv_resident_alive(res->dev))
		{
			st = rv_resident_distances(ctx, res->dev, (rv_metric) so->metric, so->query->x, 1,
									   dist, err);
			if (st == RV_E_DEVICE_LOST)
				rvflat_resident_lost(res);	/* a NOTICE; the pin keeps the host copy */
			else if (st != RV_OK)
				rvpg_raise(st);
			else
				lost = false;
		}
	}
	if (lost && dist != NULL)
	{
		/* no device distances: every row left out comes first and is recomputed */
		for (i = 0; i < res->n; i++)
		{
			dist[i] = (float) -get_float8_infinity();
			err[i] = 0;
		}
	}

	low = MemoryContextAllocHuge(so->cxt, (so->nlow + res->n) * sizeof(RvflatLow));
	memcpy(low, so->low, so->nlow * sizeof(RvflatLow));
	for (i = 0; i < res->n; i++)
	{
		double		lo;

		if (in_list[i])
			continue;
		lo = so->lb != NULL ? so->lb[i] : (double) dist[i] - (double) err[i];
		low[so->nlow].lo = isnan(lo) ? -get_float8_infinity() : lo;
		low[so->nlow].idx = i;
		so->nlow++;
	}
	pfree(so->low);
	so->low = low;
	for (i = so->nlow / 2; i-- > 0;)
		low_sift_down(so->low, so->nlow, i);
	pfree(in_list);
	if (dist != NULL)
	{
		pfree(dist);
		pfree(err);
	}
}

/* Append to a growing array of elements of elsize bytes in cxt. */
static void *
grow(MemoryContext cxt, void *arr, Size *cap, Size need, Size elsize)
{
	if (need <= *cap)
		return arr;
	*cap = Max(Max(*cap * 2, need), (Size) 64);
	if (arr == NULL)
		return MemoryContextAllocHuge(cxt, *cap * elsize);
	return repalloc_huge(arr, *cap * elsize);
}

/*
 * Move rows from the lower-bound heap to the exact heap until no row left there can come
 * before the exact heap's top (the argument at the top of this file).
 */
static void
resident_refine(RvflatScanOpaque so)
{
	RvflatResident *res = so->res;
	const float *q = so->query->x;

	while (so->nlow > 0 &&
		   (so->ncands == 0 || isnan(so->cands[0].dist) || so->low[0].lo <= so->cands[0].dist))
	{
		Size		idx = so->low[0].idx;
		RvflatCand *c;

		so->nlow--;
		if (so->nlow > 0)
		{
			so->low[0] = so->low[so->nlow];
			low_sift_down(so->low, so->nlow, 0);
		}
		if (idx == RVFLAT_REST)
		{
			resident_expand(so);
			continue;
		}
		if ((++so->nrecomputed & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		so->cands = grow(so->cxt, so->cands, &so->ncap, so->ncands + 1, sizeof(RvflatCand));
		c = &so->cands[so->ncands];
		c->dist = rvflat_distance(so->metric, q, res->x + idx * res->dims, res->dims);
		c->tid = res->tids[idx];
		sift_up(so->cands, so->ncands++);
	}
}

/*
 * Read every data page and compute every distance; build the min-heap of the rows with a
 * distance and the sorted list of those without (NULL value, or NULL query).
 */
static void
compute_candidates(IndexScanDesc scan)
{
	RvflatScanOpaque so = (RvflatScanOpaque) scan->opaque;
	Relation	index = scan->indexRelation;
	Buffer		metabuf;
	int			dims;
	BlockNumber nblocks;
	BlockNumber blk;
	Size		cap = 0;
	Size		nullcap = 0;
	BufferAccessStrategy strategy = NULL;
	const float *q = so->query != NULL ? so->query->x : NULL;
	Size		i;

	metabuf = ReadBuffer(index, RVFLAT_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	dims = RvflatPageGetMeta(BufferGetPage(metabuf))->dims;
	UnlockReleaseBuffer(metabuf);
	nblocks = RelationGetNumberOfBlocks(index);

	so->ncands = 0;
	so->nnulls = 0;
	so->nulls_next = 0;
	if (q != NULL && dims != 0 && so->query->dim != dims)
		RVPG_CHECK(rv_check_same_dims(rvpg_ctx(), dims, so->query->dim));
	if (q != NULL && dims != 0 && resident_candidates(scan, dims))
		return;

	/* a first guess at the row count; grown when wrong */
	if (q != NULL && dims != 0)
		so->cands = grow(so->cxt, NULL, &cap,
						 nblocks * ((BLCKSZ - SizeOfPageHeaderData) /
									(MAXALIGN(RVFLAT_ITEM_SIZE(dims)) + sizeof(ItemIdData))),
						 sizeof(RvflatCand));

	/*
	 * Every query reads the whole index, so it should stay in shared buffers: a ring buffer
	 * (as a seq scan of a big table uses) would make each query copy every page in from the
	 * kernel again. Only an index that cannot fit at all is read through a ring, so that it
	 * does not evict everything else.
	 */
	if (nblocks > (BlockNumber) NBuffers)
		strategy = GetAccessStrategy(BAS_BULKREAD);

	for (blk = RVFLAT_METAPAGE_BLKNO + 1; blk < nblocks; blk++)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber off;
		OffsetNumber maxoff;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL, strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		maxoff = PageGetMaxOffsetNumber(page);
		if (q != NULL)
			so->cands = grow(so->cxt, so->cands, &cap, so->ncands + maxoff, sizeof(RvflatCand));
		for (off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		iid = PageGetItemId(page, off);
			RvflatItem *item;

			if (!ItemIdIsNormal(iid))
				continue;
			item = (RvflatItem *) PageGetItem(page, iid);
			rvflat_check_item(index, iid, item, dims);
			if (q != NULL && !(item->flags & RVFLAT_ITEM_NULL))
			{
				RvflatCand *c = &so->cands[so->ncands++];

				c->dist = rvflat_distance(so->metric, q, item->x, dims);
				c->tid = item->tid;
			}
			else
			{
				so->nulls = grow(so->cxt, so->nulls, &nullcap, so->nnulls + 1,
								 sizeof(ItemPointerData));
				so->nulls[so->nnulls++] = item->tid;
			}
		}
		UnlockReleaseBuffer(buf);
	}
	if (strategy != NULL)
		FreeAccessStrategy(strategy);

	if (so->ncands > 1)
		for (i = so->ncands / 2; i-- > 0;)
			sift_down(so->cands, so->ncands, i);
	if (so->nnulls > 1)
		qsort(so->nulls, so->nnulls, sizeof(ItemPointerData), rvflat_tid_cmp);
}

/* Start a scan. */
IndexScanDesc
rvflatbeginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	RvflatScanOpaque so = (RvflatScanOpaque) palloc0(sizeof(RvflatScanOpaqueData));

	so->cxt = AllocSetContextCreate(CurrentMemoryContext, "rvflat scan",
									ALLOCSET_DEFAULT_SIZES);
	so->metric = rvflat_index_metric(index);
	scan->opaque = so;
	/* the AM owns the arrays that carry ORDER BY values to the executor */
	scan->xs_orderbyvals = palloc0(sizeof(Datum) * Max(norderbys, 1));
	scan->xs_orderbynulls = palloc(sizeof(bool) * Max(norderbys, 1));
	return scan;
}

/* (Re)start a scan with a new ORDER BY argument. */
void
rvflatrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys)
{
	RvflatScanOpaque so = (RvflatScanOpaque) scan->opaque;

	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, nkeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, norderbys * sizeof(ScanKeyData));
	MemoryContextReset(so->cxt);
	so->started = false;
	so->query = NULL;
	so->cands = NULL;
	so->ncands = 0;
	so->nulls = NULL;
	so->nnulls = 0;
	so->nulls_next = 0;
	so->res = NULL;				/* the reset above dropped its pin */
	so->low = NULL;
	so->nlow = 0;
	so->ncap = 0;
	so->listed = NULL;
	so->nlisted = 0;
	so->expanded = false;
	so->lb = NULL;
	so->cone = NULL;
}

/* The next row in (distance, heap TID) order. */
bool
rvflatgettuple(IndexScanDesc scan, ScanDirection dir pg_attribute_unused())
{
	RvflatScanOpaque so = (RvflatScanOpaque) scan->opaque;
	RvflatCand	next;

	if (!so->started)
	{
		MemoryContext old;

		if (scan->numberOfOrderBys != 1 || scan->orderByData == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("an rvflat index can only be scanned for ORDER BY column <operator> value")));
		so->started = true;
		pgstat_count_index_scan(scan->indexRelation);
		if (!(scan->orderByData->sk_flags & SK_ISNULL))
		{
			old = MemoryContextSwitchTo(so->cxt);
			so->query = DatumGetEmbedding(scan->orderByData->sk_argument);
			rvflat_check_query_space(scan->indexRelation, so->query);
			MemoryContextSwitchTo(old);
		}
		compute_candidates(scan);
	}
	scan->xs_recheck = false;
	scan->xs_recheckorderby = false;
	if (so->res != NULL)
		resident_refine(so);
	if (so->ncands == 0)
	{
		if (so->nulls_next >= so->nnulls)
			return false;
		scan->xs_heaptid = so->nulls[so->nulls_next++];
		scan->xs_orderbyvals[0] = (Datum) 0;
		scan->xs_orderbynulls[0] = true;
		return true;
	}

	next = so->cands[0];
	so->ncands--;
	if (so->ncands > 0)
	{
		so->cands[0] = so->cands[so->ncands];
		sift_down(so->cands, so->ncands, 0);
	}
	scan->xs_heaptid = next.tid;
	scan->xs_orderbyvals[0] = Float8GetDatum(next.dist);
	scan->xs_orderbynulls[0] = false;
	return true;
}

/* End a scan. */
void
rvflatendscan(IndexScanDesc scan)
{
	RvflatScanOpaque so = (RvflatScanOpaque) scan->opaque;

	if (so->res != NULL)
		elog(DEBUG1, "rvflat resident scan: %zu of %zu rows recomputed exactly, %s",
			 so->nrecomputed, so->res->n,
			 so->expanded ? "every device distance fetched" : "from the candidate list alone");
	MemoryContextDelete(so->cxt);
	pfree(so);
	scan->opaque = NULL;
}
