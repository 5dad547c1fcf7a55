/*
 * rvivfknn.c — relvec_knn_ivf and relvec_stitch_knn_ivf: batched approximate kNN through an
 * rvivf index, the batched twin of relvec_knn (knn.c) and of relvec_stitch_knn's
 * translation route (stitch.c). Approximate in which rows it considers, exact in what it
 * returns, as an rvivf scan (rvivfscan.c).
 *
 * The algorithm, per batch of queries (as many as a memory budget of max(work_mem, 64 MB)
 * holds with their candidates, at most IVFKNN_BATCH_MAX), as GPU IVF libraries do it:
 *  1. the batch's queries go to the index space in one rv_ivf_prepare call and to their
 *     nearest lists in one rv_ivf_assign call by the index's metric (through rv_topk, so on
 *     a GPU when relvec.device picks one);
 *  2. the assignment is inverted into one group of queries per list, and every list with a
 *     group is walked once: its items are copied into a buffer (IVFKNN_CHUNK_BYTES at a
 *     time), then for each query of the group the table of the (query, list) pair is set
 *     once and every buffered item gets its estimate and lower bound (rv_ivf_estimate),
 *     kept as that query's candidate. Queries outside, items inside: the table stays in
 *     the cache while the items stream past;
 *  3. each query then reranks its candidates in lower-bound order on the heap (the
 *     operator's exact distance of the value the index reads, under the active snapshot;
 *     rows it cannot see are dropped), keeping its k best by (distance, ctid), until the
 *     next lower bound exceeds the k-th distance and at least relvec.ivf_rerank candidates
 *     were reranked. The bounds hold with high probability (RaBitQ), the reranked floor
 *     guards the rest; so every returned distance is exact, only the candidate set is
 *     approximate;
 *  4. a query left with fewer than k visible rows probes its next lists (the same number
 *     again, up to relvec.ivf_max_probes, 0: all), the queries of a round together, as in 1-3.
 * The first probes lists of each query are the ones a single-query scan of the same index
 * with the same relvec.ivf_probes probes first.
 */
#include "postgres.h"

#include <math.h>

#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "catalog/pg_class.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "relvec_catalog.h"
#include "rvivf.h"
#include "spiread.h"

/* Most queries of one batch. */
#define IVFKNN_BATCH_MAX 4096
/* Least memory for a batch, when work_mem is smaller. */
#define IVFKNN_MIN_BUDGET ((Size) 64 << 20)
/* Bytes of list items buffered before their estimates are computed. */
#define IVFKNN_CHUNK_BYTES ((Size) 256 << 10)

/* A candidate: a lower bound of its distance, and its heap TID. */

/* A reranked row: exact distance, the ctid of the visible row, its key as text. */
typedef struct KnnHit
{
	double		dist;
	ItemPointerData tid;
	char	   *key;			/* NULL: a NULL key (or the ctid is the key) */
} KnnHit;

/* One query of a batch. */
typedef struct KnnQuery
{
	RvivfCand    *cands;			/* this round's candidates */
	Size		ncands;
	Size		ccap;
	KnnHit	   *hits;			/* max-heap of the k best by (dist, ctid) */
	int			nhits;
	Size		reranked;
} KnnQuery;

/* What a search needs from its caller. */
typedef struct IvfKnnArgs
{
	const char *queries;
	Oid			indexoid;
	int			k;
	const char *key_column;		/* NULL: the ctid */
	int			probes;			/* 0: relvec.ivf_probes */
	const char *query_space;	/* the stitched queries' space (reader checks), or NULL */
	int			corpus_tag;		/* the stitched rows' space tag, or 0 */
	int			in_dims;		/* stitched: the query space's dims; 0: the first query's */
	int			out_dims;		/* stitched: the corpus space's dims (the translation's) */
	rvpg_knn_map map;			/* stitched: the translation; NULL: none */
	void	   *map_arg;
} IvfKnnArgs;

/* The state of one search. */
typedef struct IvfKnn
{
	Relation	heap;
	Relation	index;
	RvflatMetric metric;
	RvivfMetaData meta;
	int			k;
	int			step;			/* lists per probe round */
	int			norder;			/* lists a query may probe in all */
	Size		floor;			/* least candidates reranked per query */
	AttrNumber	katt;			/* key column; InvalidAttrNumber: the ctid */
	Oid			kout;			/* its output function */
	int			tag;			/* the queries' space (0 while none is known) */
	rv_ivf_lut *lut;
	float	   *zero;			/* the origin's centroid */
	RvivfFetch	fetch;
	MemoryContext tmpcxt;		/* one rerank */
	/* one batch */
	int			nq;
	const float *qvec;			/* nq x dims: the queries as compared */
	const float *qp;			/* nq x pd: in the index space */
	KnnQuery   *qs;
	/* totals for DEBUG1 */
	uint64		estimated;
	uint64		reranked;
	uint64		walks;
	uint64		batches;
} IvfKnn;

/* A list walk: items buffered, then estimated for every query of the list's group. */
typedef struct ListWalk
{
	IvfKnn	   *s;
	const float *centroid;
	const int32 *members;		/* batch positions of the group's queries */
	int			nmembers;
	char	   *buf;
	Size		isz;
	Size		n;
	Size		cap;
	const uint8 **codes;		/* cap: each buffered item's code, and its factors */
	const rv_ivf_factors **fs;
	float	   *lb;				/* cap: their bounds for one query */
} ListWalk;

/* The order of the result: exact distance, then ctid. */
static inline bool
hit_less(double da, ItemPointer ta, double db, ItemPointer tb)
{
	int			c = rvivf_dist_cmp(da, db);

	if (c != 0)
		return c < 0;
	return ItemPointerCompare(ta, tb) < 0;
}

static int
hit_qsort_cmp(const void *a, const void *b)
{
	const KnnHit *x = a;
	const KnnHit *y = b;
	int			c = rvivf_dist_cmp(x->dist, y->dist);

	if (c != 0)
		return c;
	return ItemPointerCompare((ItemPointer) &x->tid, (ItemPointer) &y->tid);
}

/* Restore the max-heap property of hits below slot i (the worst of the k at the top). */
static void
hit_sift_down(KnnHit *h, int n, int i)
{
	KnnHit		x = h[i];

	for (;;)
	{
		int			c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && hit_less(h[c].dist, &h[c].tid, h[c + 1].dist, &h[c + 1].tid))
			c++;
		if (!hit_less(x.dist, &x.tid, h[c].dist, &h[c].tid))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

/* Add a hit to a max-heap of fewer than k hits. */
static void
hit_push(KnnHit *h, int *n, const KnnHit *x)
{
	int			i = (*n)++;

	while (i > 0)
	{
		int			p = (i - 1) / 2;

		if (!hit_less(h[p].dist, &h[p].tid, x->dist, (ItemPointer) &x->tid))
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = *x;
}

/* Destroy the estimate table when the search's memory goes (also on error). */
static void
release_lut(void *arg)
{
	IvfKnn	   *s = (IvfKnn *) arg;

	if (s->lut != NULL)
		rv_ivf_lut_destroy(rvpg_ctx(), s->lut);
	s->lut = NULL;
}

/* Estimate the buffered items for every query of the list's group. */
static void
flush_items(ListWalk *w)
{
	IvfKnn	   *s = w->s;
	int			m;

	if (w->n == 0)
		return;
	for (m = 0; m < w->nmembers; m++)
	{
		int			qi = w->members[m];
		KnnQuery   *q = &s->qs[qi];
		Size		i;

		if (q->ncands + w->n > q->ccap)
		{
			Size		cap = Max(q->ccap * 2, q->ncands + w->n);

			cap = Max(cap, 256);
			q->cands = q->cands == NULL ?
				palloc_extended(sizeof(RvivfCand) * cap, MCXT_ALLOC_HUGE) :
				repalloc_huge(q->cands, sizeof(RvivfCand) * cap);
			q->ccap = cap;
		}
		rv_ivf_lut_set(s->lut, (rv_metric) s->metric, s->qp + (Size) qi * s->meta.pd,
					   w->centroid);
		rv_ivf_estimate_many(s->lut, w->codes, w->fs, w->n, NULL, w->lb);
		for (i = 0; i < w->n; i++)
		{
			const RvivfItem *item = (const RvivfItem *) (w->buf + i * w->isz);
			RvivfCand  *c = &q->cands[q->ncands++];

			/* a NaN bound knows nothing: rerank it early (as the scan) */
			c->lb = unlikely(isnan(w->lb[i])) ? -INFINITY : w->lb[i];
			c->tid = item->tid;
		}
	}
	s->estimated += (uint64) w->n * w->nmembers;
	w->n = 0;
}

/*
 * rvivf_walk_list's callback: buffer a page's items. A list longer than the buffer has its
 * estimates computed here, under the share lock of the page being read (CPU work only).
 */
static void
collect_items(const RvivfItem *const *items, int n, void *arg)
{
	ListWalk   *w = (ListWalk *) arg;
	int			i;

	for (i = 0; i < n; i++)
	{
		const RvivfItem *copy = (const RvivfItem *) (w->buf + w->n * w->isz);

		memcpy(w->buf + w->n * w->isz, items[i], w->isz);
		w->codes[w->n] = copy->code;
		w->fs[w->n] = &copy->f;
		if (++w->n == w->cap)
			flush_items(w);
	}
}

/* The key of the row in the fetch slot as text, in cxt; NULL for a NULL key or no key column. */
static char *
row_key(IvfKnn *s, MemoryContext cxt)
{
	bool		isnull;
	Datum		d;
	char	   *out;

	if (s->katt == InvalidAttrNumber)
		return NULL;
	d = slot_getattr(s->fetch.slot, s->katt, &isnull);
	if (isnull)
		return NULL;
	out = OidOutputFunctionCall(s->kout, d);
	return MemoryContextStrdup(cxt, out);
}

/*
 * Rerank query qi's candidates in lower-bound order while one could enter its k best (see
 * the file comment); its hits and their keys go into keycxt.
 */
static void
rerank_query(IvfKnn *s, int qi, MemoryContext keycxt)
{
	KnnQuery   *q = &s->qs[qi];
	const float *qv = s->qvec + (Size) qi * s->meta.dims;
	Snapshot	snap = GetActiveSnapshot();

	if (q->hits == NULL)
		q->hits = MemoryContextAlloc(keycxt, sizeof(KnnHit) * s->k);
	rvivf_cand_heapify(q->cands, q->ncands);
	while (q->ncands > 0 &&
		   (q->nhits < s->k || q->reranked < s->floor ||
			!(q->cands[0].lb > q->hits[0].dist)))
	{
		RvivfCand		c = q->cands[0];
		MemoryContext old;
		Embedding  *e;

		if (--q->ncands > 0)
		{
			q->cands[0] = q->cands[q->ncands];
			rvivf_cand_sift_down(q->cands, q->ncands, 0);
		}
		q->reranked++;
		s->reranked++;
		old = MemoryContextSwitchTo(s->tmpcxt);
		e = rvivf_fetch_value(&s->fetch, &c.tid, snap);
		if (e != NULL)
		{
			KnnHit		h;

			if (e->dim != s->meta.dims)
				RVPG_CHECK(rv_check_same_dims(rvpg_ctx(), s->meta.dims, e->dim));
			if (s->tag != 0 && e->space != 0 && e->space != s->tag)
				rvpg_raise_mixed(s->tag, e->space);
			h.dist = rvflat_distance(s->metric, qv, e->x, e->dim);
			h.tid = s->fetch.slot->tts_tid;
			if (q->nhits < s->k)
			{
				h.key = row_key(s, keycxt);
				hit_push(q->hits, &q->nhits, &h);
			}
			else if (hit_less(h.dist, &h.tid, q->hits[0].dist, &q->hits[0].tid))
			{
				if (q->hits[0].key != NULL)
					pfree(q->hits[0].key);
				h.key = row_key(s, keycxt);
				q->hits[0] = h;
				hit_sift_down(q->hits, q->nhits, 0);
			}
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(s->tmpcxt);
	}
	/* the rest could not enter the k best */
	if (q->cands != NULL)
		pfree(q->cands);
	q->cands = NULL;
	q->ncands = q->ccap = 0;
}

/*
 * One probe round of the queries listed in active (batch positions): lists [from, to) of
 * each query's order, every list with queries walked once, then each query reranked.
 */
static void
probe_round(IvfKnn *s, const int32 *active, int nactive, int from, int to,
			MemoryContext keycxt, MemoryContext roundcxt)
{
	MemoryContext old = MemoryContextSwitchTo(roundcxt);
	int			pd = s->meta.pd;
	int			nlists = s->meta.nlists;
	int			per = to - from;
	const float *centroids = rvivf_centroids(s->index, &s->meta);
	int32	   *lists = palloc(sizeof(int32) * (Size) nactive * to);
	int32	   *start = palloc0(sizeof(int32) * ((Size) nlists + 1));
	int32	   *members = palloc(sizeof(int32) * (Size) nactive * per);
	int32	   *fill;
	ListWalk	w;
	int			a,
				j,
				l;

	if (centroids == NULL || nlists == 1)
	{
		for (a = 0; a < nactive; a++)
			lists[a] = 0;
	}
	else
	{
		float	   *xp = palloc(sizeof(float) * (Size) nactive * pd);

		for (a = 0; a < nactive; a++)
			memcpy(xp + (Size) a * pd, s->qp + (Size) active[a] * pd, sizeof(float) * pd);
		RVPG_CHECK(rv_ivf_assign(rvpg_ctx(), (rv_metric) s->metric, centroids, nlists, pd,
								 xp, nactive, to, lists));
		pfree(xp);
	}
	/* invert: the queries of each list, by a counting sort */
	for (a = 0; a < nactive; a++)
		for (j = from; j < to; j++)
			start[lists[(Size) a * to + j] + 1]++;
	for (l = 0; l < nlists; l++)
		start[l + 1] += start[l];
	fill = palloc(sizeof(int32) * nlists);
	memcpy(fill, start, sizeof(int32) * nlists);
	for (a = 0; a < nactive; a++)
		for (j = from; j < to; j++)
			members[fill[lists[(Size) a * to + j]]++] = active[a];

	memset(&w, 0, sizeof(w));
	w.s = s;
	w.isz = RVIVF_ITEM_SIZE(pd);
	w.cap = Max(IVFKNN_CHUNK_BYTES / w.isz, 64);
	w.buf = palloc(w.isz * w.cap);
	w.codes = palloc(sizeof(const uint8 *) * w.cap);
	w.fs = palloc(sizeof(const rv_ivf_factors *) * w.cap);
	w.lb = palloc(sizeof(float) * w.cap);
	MemoryContextSwitchTo(old);

	/* candidates live in roundcxt until their query's rerank frees them */
	old = MemoryContextSwitchTo(roundcxt);
	for (l = 0; l < nlists; l++)
	{
		if (start[l + 1] == start[l])
			continue;
		w.centroid = centroids != NULL ? centroids + (Size) l * pd : s->zero;
		w.members = members + start[l];
		w.nmembers = start[l + 1] - start[l];
		w.n = 0;
		rvivf_walk_list(s->index, &s->meta, l, collect_items, &w);
		flush_items(&w);
		s->walks++;
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextSwitchTo(old);

	for (a = 0; a < nactive; a++)
	{
		rerank_query(s, active[a], keycxt);
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextReset(roundcxt);
}

/* Put query qi's hits, in order, into the result. */
static void
emit_query(IvfKnn *s, int qi, const char *qkey, ReturnSetInfo *rsinfo)
{
	KnnQuery   *q = &s->qs[qi];
	int			r;

	if (q->nhits == 0)
		return;
	qsort(q->hits, q->nhits, sizeof(KnnHit), hit_qsort_cmp);
	for (r = 0; r < q->nhits; r++)
	{
		KnnHit	   *h = &q->hits[r];
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		char	   *key = h->key;

		if (s->katt == InvalidAttrNumber)
			key = psprintf("(%u,%u)", ItemPointerGetBlockNumberNoCheck(&h->tid),
						   ItemPointerGetOffsetNumberNoCheck(&h->tid));
		values[0] = CStringGetTextDatum(qkey);
		values[1] = Int32GetDatum(r + 1);
		if (key != NULL)
			values[2] = CStringGetTextDatum(key);
		else
			nulls[2] = true;
		values[3] = Float8GetDatum(h->dist);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/* Search one batch of nq queries (qraw: nq x in_dims as read) and emit their rows. */
static void
search_batch(IvfKnn *s, const IvfKnnArgs *args, const float *qraw, char **qkeys, int nq,
			 ReturnSetInfo *rsinfo, MemoryContext batchcxt)
{
	MemoryContext old = MemoryContextSwitchTo(batchcxt);
	MemoryContext roundcxt = AllocSetContextCreate(batchcxt, "relvec ivf kNN round",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext emitcxt = AllocSetContextCreate(batchcxt, "relvec ivf kNN emit",
												  ALLOCSET_SMALL_SIZES);
	int32	   *active = palloc(sizeof(int32) * nq);
	int			nactive = nq;
	int			probed = 0;
	float	   *qp;
	int			i;

	if (args->map != NULL)
	{
		float	   *qv = palloc_extended(sizeof(float) * (Size) nq * s->meta.dims, MCXT_ALLOC_HUGE);

		args->map(args->map_arg, qraw, nq, qv);
		s->qvec = qv;
	}
	else
		s->qvec = qraw;
	qp = palloc_extended(sizeof(float) * (Size) nq * s->meta.pd, MCXT_ALLOC_HUGE);
	RVPG_CHECK(rv_ivf_prepare(rvpg_ctx(), (rv_metric) s->metric, s->meta.seed, s->qvec, nq,
							  s->meta.dims, qp));
	s->qp = qp;
	s->nq = nq;
	s->qs = palloc0(sizeof(KnnQuery) * nq);
	for (i = 0; i < nq; i++)
		active[i] = i;
	MemoryContextSwitchTo(old);

	while (nactive > 0 && probed < s->norder)
	{
		int			to = Min(s->norder, probed + s->step);
		int			n = 0;

		probe_round(s, active, nactive, probed, to, batchcxt, roundcxt);
		probed = to;
		/* a query with fewer than k visible rows probes on */
		for (i = 0; i < nactive; i++)
			if (s->qs[active[i]].nhits < s->k)
				active[n++] = active[i];
		nactive = n;
	}

	old = MemoryContextSwitchTo(emitcxt);
	for (i = 0; i < nq; i++)
	{
		emit_query(s, i, qkeys[i], rsinfo);
		MemoryContextReset(emitcxt);
	}
	MemoryContextSwitchTo(old);
}

/* Queries per batch: what the budget holds with their expected candidates. */
static int
batch_rows(const IvfKnn *s, int in_dims)
{
	Size		budget = Max((Size) work_mem * 1024, IVFKNN_MIN_BUDGET);
	double		cands = (double) s->step * ((double) s->meta.rows / Max(s->meta.nlists, 1) + 1);
	double		per;

	per = sizeof(float) * ((double) in_dims + s->meta.dims + s->meta.pd) +
		cands * sizeof(RvivfCand) + (double) s->k * (sizeof(KnnHit) + 32) +
		sizeof(KnnQuery) + sizeof(int32) * 2.0 * s->step + 64;
	return (int) Max(Min((double) budget / per, (double) IVFKNN_BATCH_MAX), 1.0);
}

/*
 * Check that the caller may read what a search reads: SELECT on the table, or on the key
 * column and every column the index reads (its columns, expressions and predicate).
 */
static void
check_select(Relation heap, Relation index, AttrNumber katt)
{
	Oid			relid = RelationGetRelid(heap);
	Oid			user = GetUserId();
	Bitmapset  *cols = NULL;
	int			i;

	if (pg_class_aclcheck(relid, user, ACL_SELECT) == ACLCHECK_OK)
		return;
	for (i = 0; i < index->rd_index->indnatts; i++)
		if (index->rd_index->indkey.values[i] > 0)
			cols = bms_add_member(cols, index->rd_index->indkey.values[i] -
								  FirstLowInvalidHeapAttributeNumber);
	pull_varattnos((Node *) RelationGetIndexExpressions(index), 1, &cols);
	pull_varattnos((Node *) RelationGetIndexPredicate(index), 1, &cols);
	if (katt != InvalidAttrNumber)
		cols = bms_add_member(cols, katt - FirstLowInvalidHeapAttributeNumber);
	i = -1;
	while ((i = bms_next_member(cols, i)) >= 0)
	{
		AttrNumber	att = i + FirstLowInvalidHeapAttributeNumber;

		if (att <= 0 || pg_attribute_aclcheck(relid, att, user, ACL_SELECT) != ACLCHECK_OK)
			aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, RelationGetRelationName(heap));
	}
}

/*
 * Open the index and its table: an rvivf index (42809), a table without row-level
 * security (42501) that the caller may read (42501), a key column that is a user column
 * of it (42703).
 */
static void
open_index(IvfKnn *s, const IvfKnnArgs *args)
{
	Oid			heapoid;
	char	   *name = get_rel_name(args->indexoid);

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", args->indexoid)));
	if (get_rel_relkind(args->indexoid) != RELKIND_INDEX)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an rvivf index", name),
				 errhint("Name an index built with USING rvivf; relvec_knn searches a table exactly.")));
	heapoid = IndexGetRelation(args->indexoid, false);
	/* the table first, as every other path locks them */
	s->heap = table_open(heapoid, AccessShareLock);
	s->index = index_open(args->indexoid, AccessShareLock);
	if (s->index->rd_indam->ambuild != rvivfbuild)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an rvivf index", name),
				 errhint("Name an index built with USING rvivf; relvec_knn searches a table exactly.")));
	if (!s->index->rd_index->indisvalid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index \"%s\" is not valid", name),
				 errhint("REINDEX it, or drop it and create it again.")));
	/* the search reads the heap directly: it would not apply the table's policies */
	if (check_enable_rls(heapoid, InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("row-level security is enabled for \"%s\": relvec_knn_ivf would not apply the policies",
						RelationGetRelationName(s->heap)),
				 errhint("Query it with ORDER BY ... LIMIT, which applies them.")));
	s->katt = InvalidAttrNumber;
	if (args->key_column != NULL)
	{
		AttrNumber	att = get_attnum(heapoid, args->key_column);
		bool		varlena;

		if (att <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							args->key_column, RelationGetRelationName(s->heap)),
					 att < 0 ? errdetail("System columns cannot be keys; a NULL key_column returns the ctid.") : 0));
		s->katt = att;
		getTypeOutputInfo(TupleDescAttr(RelationGetDescr(s->heap), att - 1)->atttypid,
						  &s->kout, &varlena);
	}
	check_select(s->heap, s->index, s->katt);
	s->metric = rvivf_index_metric(s->index);
	rvivf_read_meta(s->index, &s->meta);
}

/* 42804 when the queries' space is known and the index holds rows of another one. */
static void
check_rows_space(const IvfKnn *s)
{
	if (s->tag == 0)
		return;
	if (s->meta.space != 0 && s->meta.space != s->tag)
		rvpg_raise_mixed(s->meta.space, s->tag);
	if (s->meta.space2 != 0 && s->meta.space2 != s->tag)
		rvpg_raise_mixed(s->meta.space2, s->tag);
}

/* The search shared by both functions: read the queries a batch at a time and answer them. */
static void
ivf_knn_run(FunctionCallInfo fcinfo, const IvfKnnArgs *args)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			emb = rvpg_embedding_type(fcinfo);
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "relvec ivf kNN",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MemoryContextCallback *cb = palloc0(sizeof(MemoryContextCallback));
	IvfKnn	   *s = palloc0(sizeof(IvfKnn));
	SPIPlanPtr	qplan;
	rvpg_reader qr;
	int			probes;
	int			cap = 0;

	rvpg_knn_check_k(args->k);
	if (args->probes < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("probes must be at least 0"),
				 errhint("0 probes as many lists as relvec.ivf_probes says.")));
	open_index(s, args);
	s->k = args->k;
	probes = args->probes > 0 ? args->probes : rvivf_probes;
	if (s->meta.dims > 0)
	{
		s->step = probes > 0 ? Min(probes, s->meta.nlists) : rvivf_auto_probes(s->meta.nlists);
		s->norder = rvivf_max_probes > 0 ? Min(rvivf_max_probes, s->meta.nlists) : s->meta.nlists;
		s->norder = Max(s->norder, s->step);
		s->floor = rvivf_rerank > 0 ? rvivf_rerank : 40;
		s->zero = palloc0(sizeof(float) * s->meta.pd);
		RVPG_CHECK(rv_ivf_lut_create(rvpg_ctx(), s->meta.pd, &s->lut));
		cb->func = release_lut;
		cb->arg = s;
		MemoryContextRegisterResetCallback(cxt, cb);
		rvivf_fetch_begin(&s->fetch, s->heap, s->index);
		/* the translated queries must have the index's dimensions */
		if (args->map != NULL && args->out_dims != s->meta.dims)
			RVPG_CHECK(rv_check_same_dims(rvpg_ctx(), s->meta.dims, args->out_dims));
	}
	s->tmpcxt = AllocSetContextCreate(cxt, "relvec ivf kNN rerank", ALLOCSET_DEFAULT_SIZES);
	/* stitched queries are in the corpus space; others in the first tagged query's */
	s->tag = args->corpus_tag;
	check_rows_space(s);
	MemoryContextSwitchTo(old);

	SPI_connect();
	qplan = rvpg_prepare_key_embedding(args->queries, "the queries", emb);
	rvpg_reader_open(&qr, qplan, cxt, "query", "the queries", args->query_space,
					 "the first query has", args->in_dims);
	if (args->query_space == NULL)
		qr.tags = &s->tag;
	for (;;)
	{
		MemoryContext batchcxt = AllocSetContextCreate(cxt, "relvec ivf kNN batch",
													   ALLOCSET_DEFAULT_SIZES);
		float	   *qraw = NULL;
		char	  **qkeys = NULL;
		int			nq = 0;
		uint64		got;

		for (;;)
		{
			uint64		want = cap > 0 ? (uint64) Min(cap - nq, RVPG_FETCH_ROWS) : 1;
			uint64		i;

			if (cap > 0 && nq == cap)
				break;
			got = rvpg_reader_next(&qr, want);
			if (got == 0)
				break;
			if (s->meta.dims > 0 && args->map == NULL && qr.dims != s->meta.dims)
				RVPG_CHECK(rv_check_same_dims(rvpg_ctx(), s->meta.dims, qr.dims));
			check_rows_space(s);
			if (cap == 0)
				cap = batch_rows(s, qr.dims);
			if (qraw == NULL)
			{
				qraw = MemoryContextAllocHuge(batchcxt, sizeof(float) * (Size) qr.dims * cap);
				qkeys = MemoryContextAllocHuge(batchcxt, sizeof(char *) * cap);
			}
			memcpy(qraw + (Size) nq * qr.dims, qr.buf, sizeof(float) * (Size) qr.dims * got);
			old = MemoryContextSwitchTo(batchcxt);
			for (i = 0; i < got; i++)
				qkeys[nq + i] = rvpg_reader_key(&qr, i);
			MemoryContextSwitchTo(old);
			nq += (int) got;
		}
		if (nq == 0)
		{
			MemoryContextDelete(batchcxt);
			break;
		}
		/* an index over no rows answers nothing; the queries are still read and checked */
		if (s->meta.dims > 0)
		{
			search_batch(s, args, qraw, qkeys, nq, rsinfo, batchcxt);
			s->batches++;
		}
		MemoryContextDelete(batchcxt);
		CHECK_FOR_INTERRUPTS();
	}
	rvpg_reader_close(&qr);
	SPI_finish();
	elog(DEBUG1, "relvec_knn_ivf: %llu batches, %d lists probed first, %llu list walks, %llu estimates, %llu reranked",
		 (unsigned long long) s->batches, s->step, (unsigned long long) s->walks,
		 (unsigned long long) s->estimated,
		 (unsigned long long) s->reranked);
	rvivf_fetch_end(&s->fetch);
	index_close(s->index, NoLock);
	table_close(s->heap, NoLock);
	MemoryContextDelete(cxt);
}

/* Raise 22004 "<name> must not be null" for a null argument among the first n. */
static void
check_not_null(FunctionCallInfo fcinfo, const char *const *names, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (PG_ARGISNULL(i) && names[i] != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", names[i])));
}

/* The argument names of relvec_knn_ivf; key_column may be null. */
static const char *const knn_ivf_arg_names[] = {"queries", "index", "k", NULL, "probes"};

PG_FUNCTION_INFO_V1(relvec_knn_ivf);
/* relvec_knn_ivf(queries, index, k, key_column, probes): relvec_knn through an rvivf index. */
Datum
relvec_knn_ivf(PG_FUNCTION_ARGS)
{
	IvfKnnArgs	a;

	check_not_null(fcinfo, knn_ivf_arg_names, lengthof(knn_ivf_arg_names));
	memset(&a, 0, sizeof(a));
	a.queries = text_to_cstring(PG_GETARG_TEXT_PP(0));
	a.indexoid = PG_GETARG_OID(1);
	a.k = PG_GETARG_INT32(2);
	a.key_column = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	a.probes = PG_GETARG_INT32(4);
	InitMaterializedSRF(fcinfo, 0);
	ivf_knn_run(fcinfo, &a);
	return (Datum) 0;
}

/* The translation of the queries into the corpus space (stitch.c's translation route). */
typedef struct TransMap
{
	const char *anchor_set;
	const char *from;
	const char *to;
} TransMap;

static void
map_translate(void *arg, const float *in, size_t n, float *out)
{
	TransMap   *m = (TransMap *) arg;

	/* cached by the backend; looked up per call because a later lookup may evict it */
	rv_translation *t = rvpg_get_translation(m->anchor_set, m->from, m->to);

	RVPG_CHECK(rv_translate(rvpg_ctx(), t, in, n, out));
}

/* The argument names of relvec_stitch_knn_ivf; key_column may be null. */
static const char *const stitch_ivf_arg_names[] = {"queries", "query_space", "index",
	"corpus_space", "anchor_set", "k", NULL, "probes"};

PG_FUNCTION_INFO_V1(relvec_stitch_knn_ivf);
/*
 * relvec_stitch_knn_ivf(queries, query_space, index, corpus_space, anchor_set, k,
 * key_column, probes): the queries translated into the corpus space (relvec_stitch_knn's
 * translation route), then searched as relvec_knn_ivf does.
 */
Datum
relvec_stitch_knn_ivf(PG_FUNCTION_ARGS)
{
	IvfKnnArgs	a;
	TransMap	m;
	rv_translation *t;

	check_not_null(fcinfo, stitch_ivf_arg_names, lengthof(stitch_ivf_arg_names));
	memset(&a, 0, sizeof(a));
	a.queries = text_to_cstring(PG_GETARG_TEXT_PP(0));
	a.query_space = text_to_cstring(PG_GETARG_TEXT_PP(1));
	a.indexoid = PG_GETARG_OID(2);
	m.from = a.query_space;
	m.to = text_to_cstring(PG_GETARG_TEXT_PP(3));
	m.anchor_set = text_to_cstring(PG_GETARG_TEXT_PP(4));
	a.k = PG_GETARG_INT32(5);
	a.key_column = PG_ARGISNULL(6) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(6));
	a.probes = PG_GETARG_INT32(7);
	rvpg_knn_check_k(a.k);

	/* unknown set or spaces, no translation fitted: relvec_stitch_knn's errors */
	t = rvpg_get_translation(m.anchor_set, m.from, m.to);
	a.in_dims = (int) t->d_from;
	a.corpus_tag = rvpg_space_by_name(m.to, false, NULL);
	a.map = map_translate;
	a.map_arg = &m;
	a.out_dims = (int) t->d_to;
	InitMaterializedSRF(fcinfo, 0);
	ivf_knn_run(fcinfo, &a);
	return (Datum) 0;
}
