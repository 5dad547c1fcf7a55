/*
 * rvivfscan.c — an rvivf index scan: ORDER BY col <op> query, approximate in which rows it
 * considers, exact in the distances and the order it returns.
 *
 * The first amgettuple maps the query to the index space, orders the lists by their
 * centroids' distance to it (the index's own metric), and probes the first
 * relvec.ivf_probes of them: for every row of a probed list, the row's code gives an
 * estimate of its distance and a lower bound lb (rv_ivf_estimate). The candidates go into
 * a min-heap C by lb. Reranking a candidate fetches its heap tuple under the scan's
 * snapshot (a row the snapshot cannot see is dropped there), computes the operator's own
 * distance on the indexed value (bit-identical to a sequential scan's), and puts the row
 * into a min-heap H by (distance, heap TID).
 *
 * Before a row is returned, candidates move from C to H while C's smallest lb is at most
 * H's smallest distance, and in any case until relvec.ivf_rerank candidates have been
 * reranked. When that stops, every candidate left in C has a lower bound above the row
 * returned, so it would come later too, as long as the bounds hold; they hold with high
 * probability (RaBitQ), and the reranked floor guards the rest. So the scan reranks about
 * as many rows as the executor asks for, plus those whose estimate is close.
 *
 * Iterative scan: when C and H are empty and the executor still asks (a WHERE clause
 * rejected the rows), the next relvec.ivf_probes lists are probed, up to
 * relvec.ivf_max_probes lists in all (0: every list), so a filtered LIMIT stays full
 * whenever enough rows pass. The order stays exact: a row found later whose distance is
 * below one already returned is skipped (as pgvector's strict order does); such rows
 * belonged to lists the first probes left out, which is the approximation.
 */
#include "postgres.h"

#include <math.h>

#include "access/relscan.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"

#include "rvivf.h"

/*
 * Candidates of C kept apart while the lists are probed: the smallest bounds, sorted once.
 * A scan reranks a few dozen rows of the thousands it estimates, so it orders only those
 * instead of heapifying them all; a scan that goes past them heapifies the rest then.
 */
#define RVIVF_SCAN_SEL 64

/* A reranked row: its exact distance and heap TID. */
typedef struct RvivfHit
{
	double		dist;
	ItemPointerData tid;
} RvivfHit;

typedef struct RvivfScanOpaqueData
{
	MemoryContext cxt;			/* the scan's arrays; reset by rescan */
	MemoryContext tmpcxt;		/* one rerank */
	RvflatMetric metric;
	bool		started;
	Embedding  *query;			/* NULL: a NULL query (nullmode) */
	bool		nullmode;		/* every row, by heap TID, with a NULL distance */
	Size		nullnext;
	RvivfMetaData meta;
	float	   *qp;				/* the query in the index space */
	float	   *zero;			/* the origin's centroid, pd zeros */
	rv_ivf_lut *lut;
	int32	   *order;			/* lists, nearest centroid first */
	int			norder;			/* lists the scan may probe */
	int			nknown;			/* lists of the order computed so far */
	int			probed;
	int			step;			/* lists per probe */
	RvivfCand	sel[RVIVF_SCAN_SEL];	/* C's smallest bounds: a max-heap by lb while
										 * lists are probed, then sorted ascending */
	int			nsel;
	int			selpos;			/* sel[selpos ..) are still in C */
	RvivfCand  *cands;			/* the rest of C (every lb >= sel's), a min-heap by lb
								 * once heaped; for a NULL query every row, by TID */
	Size		ncands;
	Size		ccap;
	bool		heaped;
	RvivfHit   *hits;			/* min-heap by (dist, tid) */
	Size		nhits;
	Size		hcap;
	Size		reranked;
	Size		rerank_floor;
	Size		dropped;
	Size		estimated;
	bool		emitted;
	double		last;
	RvivfFetch	fetch;			/* heap access for the rerank */
} RvivfScanOpaqueData;

typedef RvivfScanOpaqueData *RvivfScanOpaque;

static inline bool
hit_less(const RvivfHit *a, const RvivfHit *b)
{
	int			c = rvivf_dist_cmp(a->dist, b->dist);

	if (c != 0)
		return c < 0;
	return ItemPointerCompare((ItemPointer) &a->tid, (ItemPointer) &b->tid) < 0;
}

/* qsort comparator of candidates by heap TID. */
static int
cand_tid_cmp(const void *a, const void *b)
{
	return ItemPointerCompare((ItemPointer) &((const RvivfCand *) a)->tid,
							  (ItemPointer) &((const RvivfCand *) b)->tid);
}

/* Restore the heap property below slot i (reranked rows). */
static void
hit_sift_down(RvivfHit *h, Size n, Size i)
{
	RvivfHit	x = h[i];

	for (;;)
	{
		Size		c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && hit_less(&h[c + 1], &h[c]))
			c++;
		if (!hit_less(&h[c], &x))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

/* Add a reranked row to H. */
static void
hit_push(RvivfScanOpaque so, double dist, ItemPointer tid)
{
	Size		i;

	if (so->nhits == so->hcap)
	{
		so->hcap = Max(so->hcap * 2, 64);
		so->hits = so->hits == NULL ?
			MemoryContextAlloc(so->cxt, sizeof(RvivfHit) * so->hcap) :
			repalloc(so->hits, sizeof(RvivfHit) * so->hcap);
	}
	i = so->nhits++;
	so->hits[i].dist = dist;
	so->hits[i].tid = *tid;
	while (i > 0)
	{
		Size		p = (i - 1) / 2;

		if (!hit_less(&so->hits[i], &so->hits[p]))
			break;
		{
			RvivfHit	t = so->hits[p];

			so->hits[p] = so->hits[i];
			so->hits[i] = t;
		}
		i = p;
	}
}

/* Replace the largest bound of the max-heap sel (n slots) by x. */
static void
sel_replace_top(RvivfCand *sel, int n, RvivfCand x)
{
	int			i = 0;

	for (;;)
	{
		int			c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && sel[c + 1].lb > sel[c].lb)
			c++;
		if (!(sel[c].lb > x.lb))
			break;
		sel[i] = sel[c];
		i = c;
	}
	sel[i] = x;
}

/* qsort comparator of candidates by lower bound. */
static int
cand_lb_cmp(const void *a, const void *b)
{
	float		x = ((const RvivfCand *) a)->lb,
				y = ((const RvivfCand *) b)->lb;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* The smallest bound left in C (C not empty). */
static inline float
cand_min(RvivfScanOpaque so)
{
	if (so->selpos < so->nsel)
		return so->sel[so->selpos].lb;
	if (!so->heaped)
	{
		rvivf_cand_heapify(so->cands, so->ncands);
		so->heaped = true;
	}
	return so->cands[0].lb;
}

/* Remove and return a candidate of C with the smallest bound (C not empty). */
static RvivfCand
cand_pop(RvivfScanOpaque so)
{
	RvivfCand	c;

	(void) cand_min(so);
	if (so->selpos < so->nsel)
		return so->sel[so->selpos++];
	c = so->cands[0];
	so->ncands--;
	if (so->ncands > 0)
	{
		so->cands[0] = so->cands[so->ncands];
		rvivf_cand_sift_down(so->cands, so->ncands, 0);
	}
	return c;
}

/* Candidates left in C. */
static inline Size
cand_left(RvivfScanOpaque so)
{
	return (Size) (so->nsel - so->selpos) + so->ncands;
}

/* rvivf_walk_list's callback: the estimates of a page's rows into C. */
static void
add_candidates(const RvivfItem *const *items, int n, void *arg)
{
	RvivfScanOpaque so = (RvivfScanOpaque) arg;
	const uint8 *codes[MaxOffsetNumber];
	const rv_ivf_factors *fs[MaxOffsetNumber];
	float		lb[MaxOffsetNumber];
	RvivfCand  *c;
	int			i;

	if (so->ncands + n > so->ccap)
	{
		so->ccap = Max(so->ccap * 2, Max(so->ncands + n, 1024));
		so->cands = so->cands == NULL ?
			MemoryContextAllocHuge(so->cxt, sizeof(RvivfCand) * so->ccap) :
			repalloc_huge(so->cands, sizeof(RvivfCand) * so->ccap);
	}
	so->estimated += n;
	if (!so->nullmode)
	{
		for (i = 0; i < n; i++)
		{
			codes[i] = items[i]->code;
			fs[i] = &items[i]->f;
		}
		rv_ivf_estimate_many(so->lut, codes, fs, n, NULL, lb);
	}
	if (so->nullmode)
	{
		c = &so->cands[so->ncands];
		for (i = 0; i < n; i++)
		{
			c[i].lb = 0;
			c[i].tid = items[i]->tid;
		}
		so->ncands += n;
		return;
	}
	for (i = 0; i < n; i++)
	{
		RvivfCand	x;

		/* a NaN bound knows nothing: rerank it early */
		x.lb = unlikely(isnan(lb[i])) ? -INFINITY : lb[i];
		x.tid = items[i]->tid;
		if (so->nsel < RVIVF_SCAN_SEL)
		{
			/* sel fills as a max-heap: sift up */
			int			j = so->nsel++;

			while (j > 0 && so->sel[(j - 1) / 2].lb < x.lb)
			{
				so->sel[j] = so->sel[(j - 1) / 2];
				j = (j - 1) / 2;
			}
			so->sel[j] = x;
		}
		else if (x.lb < so->sel[0].lb)
		{
			/* x enters sel; its largest goes to the rest */
			so->cands[so->ncands++] = so->sel[0];
			sel_replace_top(so->sel, so->nsel, x);
		}
		else
			so->cands[so->ncands++] = x;
	}
}

/* Probe the next lists of the order: every row's estimate into C. */
static void
probe_more(IndexScanDesc scan)
{
	RvivfScanOpaque so = (RvivfScanOpaque) scan->opaque;
	Relation	index = scan->indexRelation;
	const float *centroids = rvivf_centroids(index, &so->meta);
	int			end = Min(so->norder, so->probed + so->step);

	/*
	 * The order of the nearest lists only, computed again longer when the scan goes past
	 * it (the same total order, so the known part stays as it was): ordering every list
	 * for every query would cost more than probing a few.
	 */
	if (end > so->nknown)
	{
		so->nknown = Min(so->norder, Max(end, 4 * so->nknown));
		if (centroids != NULL && so->meta.nlists > 1)
			rvivf_rank_lists(index, &so->meta, so->metric, so->qp, so->nknown, so->order);
	}
	/* C is empty whenever the scan probes (gettuple probes only then) */
	Assert(cand_left(so) == 0);
	so->nsel = so->selpos = 0;
	for (; so->probed < end; so->probed++)
	{
		int			l = so->order[so->probed];

		if (!so->nullmode)
			rv_ivf_lut_list(so->lut,
							centroids != NULL ? centroids + (Size) l * so->meta.pd : so->zero);
		rvivf_walk_list(index, &so->meta, l, add_candidates, so);
	}
	if (so->nullmode)
		qsort(so->cands, so->ncands, sizeof(RvivfCand), cand_tid_cmp);
	else
	{
		/* C was empty before this probe: sel holds its smallest bounds, the rest after */
		qsort(so->sel, so->nsel, sizeof(RvivfCand), cand_lb_cmp);
		so->selpos = 0;
		so->heaped = false;
	}
}

/* Rerank C's top: its exact distance into H (or nothing, for a row we cannot see). */
static void
rerank_one(IndexScanDesc scan)
{
	RvivfScanOpaque so = (RvivfScanOpaque) scan->opaque;
	RvivfCand	c = cand_pop(so);
	MemoryContext old;
	Embedding  *e;

	so->reranked++;
	old = MemoryContextSwitchTo(so->tmpcxt);
	if (!so->fetch.started)
	{
		MemoryContext fcxt = MemoryContextSwitchTo(so->cxt);

		rvivf_fetch_begin(&so->fetch, scan->heapRelation, scan->indexRelation);
		MemoryContextSwitchTo(fcxt);
	}
	e = rvivf_fetch_value(&so->fetch, &c.tid, scan->xs_snapshot);
	if (e != NULL)
	{
		double		d;

		if (e->dim != so->query->dim)
			rvpg_check_same_dims(e, so->query);
		d = rvflat_distance(so->metric, so->query->x, e->x, e->dim);
		MemoryContextSwitchTo(old);
		hit_push(so, d, &c.tid);
	}
	else
		MemoryContextSwitchTo(old);
	MemoryContextReset(so->tmpcxt);
}

/* Reset callback of the scan's context: free the query table. */
static void
free_lut(void *arg)
{
	RvivfScanOpaque so = (RvivfScanOpaque) arg;

	if (so->lut != NULL)
		rv_ivf_lut_destroy(rvpg_ctx(), so->lut);
	so->lut = NULL;
}

/* Set up the first probe: the query in the index space, and the lists in order. */
static void
start_scan(IndexScanDesc scan)
{
	RvivfScanOpaque so = (RvivfScanOpaque) scan->opaque;
	Relation	index = scan->indexRelation;
	int			probes;
	MemoryContext old = MemoryContextSwitchTo(so->cxt);

	so->query = DatumGetEmbedding(scan->orderByData->sk_argument);
	rvivf_read_meta(index, &so->meta);
	if (so->meta.dims == 0)
	{
		/* no row was ever indexed */
		so->norder = 0;
		MemoryContextSwitchTo(old);
		return;
	}
	if (so->query->dim != so->meta.dims)
		RVPG_CHECK(rv_check_same_dims(rvpg_ctx(), so->meta.dims, so->query->dim));
	if (so->query->space != 0)
	{
		if (so->meta.space != 0 && so->meta.space != so->query->space)
			rvpg_raise_mixed(so->meta.space, so->query->space);
		if (so->meta.space2 != 0 && so->meta.space2 != so->query->space)
			rvpg_raise_mixed(so->meta.space2, so->query->space);
	}

	so->qp = rvivf_prepare(&so->meta, so->query->x);
	so->zero = palloc0(sizeof(float) * so->meta.pd);
	RVPG_CHECK(rv_ivf_lut_create(rvpg_ctx(), so->meta.pd, &so->lut));
	{
		/* the table lives in the bridge's context: free it with the scan's, on error too */
		MemoryContextCallback *cb = palloc(sizeof(MemoryContextCallback));

		cb->func = free_lut;
		cb->arg = so;
		MemoryContextRegisterResetCallback(so->cxt, cb);
	}
	rv_ivf_lut_query(so->lut, (rv_metric) so->metric, so->qp);
	probes = rvivf_probes > 0 ? Min(rvivf_probes, so->meta.nlists) :
		rvivf_auto_probes(so->meta.nlists);
	so->norder = rvivf_max_probes > 0 ? Min(rvivf_max_probes, so->meta.nlists) :
		so->meta.nlists;
	so->norder = Max(so->norder, probes);
	so->step = probes;
	so->order = palloc0(sizeof(int32) * so->norder);
	so->nknown = 0;				/* probe_more orders the lists it needs */
	so->rerank_floor = rvivf_rerank > 0 ? rvivf_rerank : RVIVF_DEFAULT_RERANK;
	MemoryContextSwitchTo(old);
}

/* Set up a scan for a NULL query: every indexed row, by heap TID. */
static void
start_null_scan(IndexScanDesc scan)
{
	RvivfScanOpaque so = (RvivfScanOpaque) scan->opaque;
	MemoryContext old = MemoryContextSwitchTo(so->cxt);
	int			l;

	so->nullmode = true;
	rvivf_read_meta(scan->indexRelation, &so->meta);
	so->norder = so->step = so->meta.nlists;
	so->order = palloc(sizeof(int32) * so->norder);
	for (l = 0; l < so->norder; l++)
		so->order[l] = l;
	so->nknown = so->norder;
	MemoryContextSwitchTo(old);
	if (so->meta.dims != 0)
		probe_more(scan);
}

/* Start a scan. */
IndexScanDesc
rvivfbeginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	RvivfScanOpaque so = (RvivfScanOpaque) palloc0(sizeof(RvivfScanOpaqueData));

	so->cxt = AllocSetContextCreate(CurrentMemoryContext, "rvivf scan",
									ALLOCSET_DEFAULT_SIZES);
	so->tmpcxt = AllocSetContextCreate(CurrentMemoryContext, "rvivf rerank",
									   ALLOCSET_DEFAULT_SIZES);
	so->metric = rvivf_index_metric(index);
	scan->opaque = so;
	scan->xs_orderbyvals = palloc0(sizeof(Datum) * Max(norderbys, 1));
	scan->xs_orderbynulls = palloc(sizeof(bool) * Max(norderbys, 1));
	return scan;
}

/* Free what a scan holds outside its memory contexts (the table goes with so->cxt). */
static void
release(RvivfScanOpaque so)
{
	rvivf_fetch_end(&so->fetch);
}

/* (Re)start a scan with a new ORDER BY argument. */
void
rvivfrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys)
{
	RvivfScanOpaque so = (RvivfScanOpaque) scan->opaque;
	MemoryContext cxt = so->cxt;
	MemoryContext tmpcxt = so->tmpcxt;
	RvflatMetric metric = so->metric;

	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, nkeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, norderbys * sizeof(ScanKeyData));
	release(so);
	MemoryContextReset(cxt);
	MemoryContextReset(tmpcxt);
	memset(so, 0, sizeof(RvivfScanOpaqueData));
	so->cxt = cxt;
	so->tmpcxt = tmpcxt;
	so->metric = metric;
}

/* The next row in (distance, heap TID) order among the candidates. */
bool
rvivfgettuple(IndexScanDesc scan, ScanDirection dir pg_attribute_unused())
{
	RvivfScanOpaque so = (RvivfScanOpaque) scan->opaque;

	if (!so->started)
	{
		if (scan->numberOfOrderBys != 1 || scan->orderByData == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("an rvivf index can only be scanned for ORDER BY column <operator> value")));
		so->started = true;
		pgstat_count_index_scan(scan->indexRelation);
		if (scan->orderByData->sk_flags & SK_ISNULL)
			start_null_scan(scan);
		else
			start_scan(scan);
	}
	if (so->nullmode)
	{
		/* ORDER BY col <op> NULL: every distance is NULL; the rows by heap TID */
		if (so->nullnext >= so->ncands)
			return false;
		scan->xs_heaptid = so->cands[so->nullnext++].tid;
		scan->xs_orderbyvals[0] = (Datum) 0;
		scan->xs_orderbynulls[0] = true;
		return true;
	}
	if (so->query == NULL)
		return false;
	scan->xs_recheck = false;
	scan->xs_recheckorderby = false;

	for (;;)
	{
		RvivfHit	next;

		while (cand_left(so) > 0 &&
			   (so->nhits == 0 || so->reranked < so->rerank_floor ||
				!(cand_min(so) > so->hits[0].dist)))
			rerank_one(scan);
		if (so->nhits > 0)
		{
			next = so->hits[0];
			so->nhits--;
			if (so->nhits > 0)
			{
				so->hits[0] = so->hits[so->nhits];
				hit_sift_down(so->hits, so->nhits, 0);
			}
			if (so->emitted && rvivf_dist_cmp(next.dist, so->last) < 0)
			{
				so->dropped++;
				continue;
			}
			so->emitted = true;
			so->last = next.dist;
			scan->xs_heaptid = next.tid;
			scan->xs_orderbyvals[0] = Float8GetDatum(next.dist);
			scan->xs_orderbynulls[0] = false;
			return true;
		}
		if (so->probed >= so->norder)
			return false;
		probe_more(scan);
	}
}

/* End a scan. */
void
rvivfendscan(IndexScanDesc scan)
{
	RvivfScanOpaque so = (RvivfScanOpaque) scan->opaque;

	elog(DEBUG1, "rvivf scan: %d of %d lists probed, %zu candidates, %zu reranked, %zu skipped out of order",
		 so->probed, so->meta.nlists, so->estimated, so->reranked, so->dropped);
	release(so);
	MemoryContextDelete(so->cxt);
	MemoryContextDelete(so->tmpcxt);
	pfree(so);
	scan->opaque = NULL;
}
