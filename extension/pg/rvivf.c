/*
 * rvivf.c — the rvivf access method's handler (what it can do), its costing, its storage
 * parameter and query knobs, and the helpers its phases share: the metapage, stream pages,
 * the list directory and a per-backend cache of the centroids. rvivf.h describes the
 * layout; rvivfscan.c the scan.
 *
 * Costing. A scan reads the centroids, the pages of the lists it probes (probes / lists of
 * the index), estimates one distance per row there, then reranks a few candidates on the
 * heap. All of it happens before the first row is returned, so it is startup cost. The
 * planner compares it with a sequential scan and a top-N sort, which reads every row: the
 * index wins on all but small tables.
 */
#include "postgres.h"

#include <math.h>

#include "access/reloptions.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "commands/progress.h"
#include "commands/vacuum.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "utils/selfuncs.h"
#include "storage/lmgr.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "rvivf.h"

int			rvivf_probes = 0;
int			rvivf_rerank = 0;
int			rvivf_max_probes = 0;

static relopt_kind rvivf_relopt_kind;

/* The storage parameters of an rvivf index. */
typedef struct RvivfOptions
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	int			lists;			/* 0: automatic */
} RvivfOptions;

/* The storage parameter and the GUCs (from _PG_init). */
void
rvivf_init(void)
{
	rvivf_relopt_kind = add_reloption_kind();
	add_int_reloption(rvivf_relopt_kind, "lists",
					  "Number of inverted lists of an rvivf index (0: about the square root of the rows)",
					  0, 0, RVIVF_MAX_LISTS, AccessExclusiveLock);
	DefineCustomIntVariable("relvec.ivf_probes",
							"Lists an rvivf scan probes first.",
							"0 chooses from the index's lists (their square root, at least 8).",
							&rvivf_probes, 0, 0, RVIVF_MAX_LISTS, PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("relvec.ivf_rerank",
							"Candidates an rvivf scan reranks exactly before its first row.",
							"Beyond these, a candidate is reranked when its estimate's lower bound could put it before the next row; 0 chooses 10.",
							&rvivf_rerank, 0, 0, INT_MAX, PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("relvec.ivf_max_probes",
							"Most lists an rvivf scan probes when the executor wants more rows than the first probes hold.",
							"0: every list, so a filtered LIMIT stays full whenever enough rows pass.",
							&rvivf_max_probes, 0, 0, RVIVF_MAX_LISTS, PGC_USERSET, 0,
							NULL, NULL, NULL);
}

/* The lists a scan probes first when relvec.ivf_probes is 0. */
int
rvivf_auto_probes(int nlists)
{
	int			p = (int) ceil(sqrt((double) nlists));

	return Min(nlists, Max(p, 8));
}

/* Read the metapage (under a share lock) into meta; checks it is an rvivf metapage. */
void
rvivf_read_meta(Relation index, RvivfMetaData *meta)
{
	Buffer		buf = ReadBuffer(index, RVIVF_METAPAGE_BLKNO);

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	*meta = *RvivfPageGetMeta(BufferGetPage(buf));
	UnlockReleaseBuffer(buf);
	if (meta->magic != RVIVF_MAGIC || meta->version != RVIVF_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is not an rvivf index of this version",
						RelationGetRelationName(index)),
				 errhint("REINDEX it.")));
}

/* Estimate the cost of an rvivf scan (see the file comment). */
static void
rvivfcostestimate(PlannerInfo *root pg_attribute_unused(), IndexPath *path,
				  double loop_count pg_attribute_unused(), Cost *indexStartupCost,
				  Cost *indexTotalCost, Selectivity *indexSelectivity,
				  double *indexCorrelation, double *indexPages)
{
	IndexOptInfo *index = path->indexinfo;
	double		tuples = Max(index->tuples, 1.0);
	double		nlists;
	double		frac;
	double		rerank = rvivf_rerank > 0 ? rvivf_rerank : RVIVF_DEFAULT_RERANK;
	Relation	rel;
	RvivfMetaData meta;

	*indexSelectivity = 1.0;
	*indexCorrelation = 0.0;
	if (path->indexorderbys == NIL)
	{
		*indexStartupCost = disable_cost;
		*indexTotalCost = disable_cost;
		*indexPages = index->pages;
		return;
	}
	rel = index_open(index->indexoid, NoLock);
	rvivf_read_meta(rel, &meta);
	index_close(rel, NoLock);
	nlists = Max(meta.nlists, 1);
	frac = (rvivf_probes > 0 ? Min(rvivf_probes, nlists) : rvivf_auto_probes(nlists)) / nlists;
	*indexPages = index->pages * frac;
	*indexStartupCost = *indexPages * seq_page_cost +
		tuples * frac * cpu_operator_cost +
		nlists * cpu_operator_cost +
		Min(rerank, tuples) * (random_page_cost + cpu_tuple_cost);
	*indexTotalCost = *indexStartupCost + tuples * frac * cpu_index_tuple_cost;
}

/* The lists storage parameter. */
static bytea *
rvivfoptions(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"lists", RELOPT_TYPE_INT, offsetof(RvivfOptions, lists)},
	};

	return (bytea *) build_reloptions(reloptions, validate, rvivf_relopt_kind,
									  sizeof(RvivfOptions), tab, lengthof(tab));
}

/* The lists storage parameter of an index (0: automatic). */
int
rvivf_lists_option(Relation index)
{
	RvivfOptions *opts = (RvivfOptions *) index->rd_options;

	return opts != NULL ? opts->lists : 0;
}

/* The name of a build sub-phase for pg_stat_progress_create_index. */
static char *
rvivfbuildphasename(int64 phasenum)
{
	switch (phasenum)
	{
		case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
			return "initializing";
		case RVIVF_PHASE_SAMPLE:
			return "sampling rows";
		case RVIVF_PHASE_TRAIN:
			return "training centroids";
		case RVIVF_PHASE_LOAD:
			return "loading tuples";
		default:
			return NULL;
	}
}

/* Check an rvivf opclass. */
static bool
rvivfvalidate(Oid opclassoid)
{
	return rvflat_validate_opclass(opclassoid, "rvivf");
}

PG_FUNCTION_INFO_V1(relvec_rvivf_handler);
/* The rvivf access method's handler: what it supports and its entry points. */
Datum
relvec_rvivf_handler(PG_FUNCTION_ARGS pg_attribute_unused())
{
	IndexAmRoutine *am = makeNode(IndexAmRoutine);

	am->amstrategies = 0;
	am->amsupport = 1;
	am->amoptsprocnum = 0;
	am->amcanorder = false;
	am->amcanorderbyop = true;
	am->amcanbackward = false;
	am->amcanunique = false;
	am->amcanmulticol = false;
	am->amoptionalkey = true;
	am->amsearcharray = false;
	am->amsearchnulls = false;
	am->amstorage = false;
	am->amclusterable = false;
	am->ampredlocks = false;
	am->amcanparallel = false;
	am->amcaninclude = false;
	am->amusemaintenanceworkmem = true;
	am->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	am->amkeytype = InvalidOid;

	am->ambuild = rvivfbuild;
	am->ambuildempty = rvivfbuildempty;
	am->aminsert = rvivfinsert;
	am->ambulkdelete = rvivfbulkdelete;
	am->amvacuumcleanup = rvivfvacuumcleanup;
	am->amcanreturn = NULL;
	am->amcostestimate = rvivfcostestimate;
	am->amoptions = rvivfoptions;
	am->amproperty = NULL;
	am->ambuildphasename = rvivfbuildphasename;
	am->amvalidate = rvivfvalidate;
	am->amadjustmembers = NULL;
	am->ambeginscan = rvivfbeginscan;
	am->amrescan = rvivfrescan;
	am->amgettuple = rvivfgettuple;
	am->amgetbitmap = NULL;
	am->amendscan = rvivfendscan;
	am->ammarkpos = NULL;
	am->amrestrpos = NULL;
	am->amestimateparallelscan = NULL;
	am->aminitparallelscan = NULL;
	am->amparallelrescan = NULL;

	PG_RETURN_POINTER(am);
}

/* The metric of an index; L1 is refused (the codes bound no L1 distance). */
RvflatMetric
rvivf_index_metric(Relation index)
{
	RvflatMetric m = rvflat_index_metric(index);

	if (m == RVFLAT_L1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("rvivf does not support the L1 distance <+>"),
				 errdetail("Its codes bound Euclidean, inner product and cosine distances only."),
				 errhint("Use an rvflat index for ORDER BY col <+> query.")));
	return m;
}

/* Initialize an empty page of the given type. */
void
rvivf_init_page(Page page, uint16 type)
{
	RvivfPageOpaqueData *opaque;

	PageInit(page, BLCKSZ, sizeof(RvivfPageOpaqueData));
	opaque = RvivfPageGetOpaque(page);
	opaque->next = InvalidBlockNumber;
	opaque->type = type;
	opaque->page_id = RVIVF_PAGE_ID;
}

/* A new page at the end of the index, exclusively locked (the caller initializes it). */
Buffer
rvivf_new_buffer(Relation index, ForkNumber fork)
{
	Buffer		buf;

	LockRelationForExtension(index, ExclusiveLock);
	buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, NULL);
	UnlockRelationForExtension(index, ExclusiveLock);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	return buf;
}

/* Append an item to a list page; false if it does not fit. */
bool
rvivf_page_add(Page page, const RvivfItem *item, Size size)
{
	if (PageGetFreeSpace(page) < MAXALIGN(size))
		return false;
	if (PageAddItem(page, (Item) item, size, InvalidOffsetNumber, false, false) ==
		InvalidOffsetNumber)
		elog(ERROR, "failed to add an item to an rvivf page");
	return true;
}

/*
 * Write len bytes as new stream pages at the end of the index (a build, before WAL is
 * written for the whole index); returns the first page's block.
 */
BlockNumber
rvivf_stream_write(Relation index, const void *data, Size len)
{
	BlockNumber first = InvalidBlockNumber;
	Size		done = 0;

	do
	{
		Buffer		buf = rvivf_new_buffer(index, MAIN_FORKNUM);
		Page		page = BufferGetPage(buf);
		Size		n = Min(len - done, (Size) RVIVF_STREAM_BYTES);

		rvivf_init_page(page, RVIVF_PAGE_STREAM);
		if (n > 0)
			memcpy(RvivfPageGetStream(page), (const char *) data + done, n);
		/* pd_lower covers the whole stream area, so a full-page image keeps it */
		((PageHeader) page)->pd_lower = (RvivfPageGetStream(page) + RVIVF_STREAM_BYTES) -
			(char *) page;
		if (first == InvalidBlockNumber)
			first = BufferGetBlockNumber(buf);
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
		done += n;
	} while (done < len);
	return first;
}

/* Read len bytes at byte offset off of the stream that starts at block start. */
void
rvivf_stream_read(Relation index, BlockNumber start, Size off, void *out, Size len)
{
	char	   *dst = out;

	while (len > 0)
	{
		BlockNumber blk = start + off / RVIVF_STREAM_BYTES;
		Size		in = off % RVIVF_STREAM_BYTES;
		Size		n = Min(len, (Size) RVIVF_STREAM_BYTES - in);
		Buffer		buf = ReadBuffer(index, blk);
		Page		page;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (RvivfPageGetOpaque(page)->type != RVIVF_PAGE_STREAM)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\" has no stream page at block %u",
							RelationGetRelationName(index), blk)));
		memcpy(dst, RvivfPageGetStream(page) + in, n);
		UnlockReleaseBuffer(buf);
		dst += n;
		off += n;
		len -= n;
	}
}

/* The directory page of list l. */
BlockNumber
rvivf_dir_block(const RvivfMetaData *meta, int l)
{
	return meta->directory + l / RVIVF_DIR_PER_PAGE;
}

/* List l's entry on its directory page. */
RvivfListData *
rvivf_dir_entry(Page page, int l)
{
	return (RvivfListData *) RvivfPageGetStream(page) + l % RVIVF_DIR_PER_PAGE;
}

/*
 * The per-backend centroid cache: centroids never change after a build, and a new build
 * (REINDEX, TRUNCATE, VACUUM FULL) gets a new relfilenode, so (relfilenode, seed) names
 * them. A few indexes' worth, least recently used out.
 */
#define RVIVF_CACHED	4

typedef struct RvivfCentroidCache
{
	RelFileNode node;
	uint64		seed;
	int			nlists;
	int			pd;
	float	   *c;				/* in TopMemoryContext; NULL: unused slot */
	rv_ivf_ranker *r;			/* their ranker (the bridge's memory); NULL: one list */
	uint64		used;
} RvivfCentroidCache;

static RvivfCentroidCache centroid_cache[RVIVF_CACHED];
static uint64 centroid_clock = 0;

/* The cache slot of the index's centroids; NULL for an index of the origin's list. */
static RvivfCentroidCache *
centroid_slot(Relation index, const RvivfMetaData *meta)
{
	RvivfCentroidCache *slot;
	Size		bytes = (Size) meta->nlists * meta->pd * sizeof(float);
	float	   *c;
	rv_ivf_ranker *r = NULL;
	int			i;

	if (meta->centroids == InvalidBlockNumber)
		return NULL;
	for (i = 0; i < RVIVF_CACHED; i++)
	{
		RvivfCentroidCache *e = &centroid_cache[i];

		if (e->c != NULL && RelFileNodeEquals(e->node, index->rd_node) &&
			e->seed == meta->seed && e->nlists == meta->nlists && e->pd == meta->pd)
		{
			e->used = ++centroid_clock;
			return e;
		}
	}
	/* read first into the current context (an error frees it), then keep a copy */
	c = palloc_extended(bytes, MCXT_ALLOC_HUGE);
	rvivf_stream_read(index, meta->centroids, 0, c, bytes);
	if (meta->nlists > 1)
		RVPG_CHECK(rv_ivf_ranker_create(rvpg_ctx(), c, meta->nlists, meta->pd, &r));
	slot = &centroid_cache[0];
	for (i = 1; i < RVIVF_CACHED; i++)
		if (slot->c != NULL &&
			(centroid_cache[i].c == NULL || centroid_cache[i].used < slot->used))
			slot = &centroid_cache[i];
	if (slot->c != NULL)
		pfree(slot->c);
	if (slot->r != NULL)
		rv_ivf_ranker_destroy(rvpg_ctx(), slot->r);
	slot->c = NULL;
	slot->r = r;
	slot->c = MemoryContextAllocHuge(TopMemoryContext, bytes);
	memcpy(slot->c, c, bytes);
	pfree(c);
	slot->node = index->rd_node;
	slot->seed = meta->seed;
	slot->nlists = meta->nlists;
	slot->pd = meta->pd;
	slot->used = ++centroid_clock;
	return slot;
}

/* The index's centroids (nlists x pd floats); NULL for an index of the origin's list. */
const float *
rvivf_centroids(Relation index, const RvivfMetaData *meta)
{
	RvivfCentroidCache *slot = centroid_slot(index, meta);

	return slot != NULL ? slot->c : NULL;
}

/*
 * The nprobe lists nearest to index-space vector xp by metric m, nearest first (as
 * rv_ivf_assign orders them): through the cached ranker. An index of one list: list 0.
 */
void
rvivf_rank_lists(Relation index, const RvivfMetaData *meta, RvflatMetric m, const float *xp,
				 int nprobe, int32 *lists)
{
	RvivfCentroidCache *slot = centroid_slot(index, meta);

	if (slot == NULL || meta->nlists == 1)
	{
		lists[0] = 0;
		return;
	}
	RVPG_CHECK(rv_ivf_rank(rvpg_ctx(), (rv_metric) m, slot->c, slot->r, xp, nprobe, lists));
}

/* A value's vector in the index space (pd floats, palloc'd in the current context). */
float *
rvivf_prepare(const RvivfMetaData *meta, const float *x)
{
	float	   *out = palloc(sizeof(float) * meta->pd);

	RVPG_CHECK(rv_ivf_prepare(rvpg_ctx(), (rv_metric) meta->metric, meta->seed, x, 1,
							  meta->dims, out));
	return out;
}

/* The list whose centroid is nearest to index-space vector xp. */
int
rvivf_nearest_list(Relation index, const RvivfMetaData *meta, const float *xp)
{
	int32		l = 0;

	rvivf_rank_lists(index, meta, RVFLAT_L2, xp, 1, &l);
	return l;
}

/* Call fn once per page of list l with the page's items, the page share-locked. */
void
rvivf_walk_list(Relation index, const RvivfMetaData *meta, int l,
				void (*fn) (const RvivfItem *const *items, int n, void *arg), void *arg)
{
	const RvivfItem *items[MaxOffsetNumber];
	Buffer		dirbuf = ReadBuffer(index, rvivf_dir_block(meta, l));
	BlockNumber blk;

	LockBuffer(dirbuf, BUFFER_LOCK_SHARE);
	blk = rvivf_dir_entry(BufferGetPage(dirbuf), l)->head;
	UnlockReleaseBuffer(dirbuf);
	while (blk != InvalidBlockNumber)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber off;
		OffsetNumber maxoff;
		int			n;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBuffer(index, blk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (RvivfPageGetOpaque(page)->type != RVIVF_PAGE_LIST)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\" has no list page at block %u",
							RelationGetRelationName(index), blk)));
		/*
		 * Ask for the whole page at once: the items are read in line pointer order, from
		 * the page's end backwards, and a page is rarely in the CPU's caches yet
		 */
		for (off = 0; off < BLCKSZ / 64; off++)
			__builtin_prefetch((const char *) page + (Size) off * 64);
		maxoff = PageGetMaxOffsetNumber(page);
		n = 0;
		for (off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		iid = PageGetItemId(page, off);

			if (!ItemIdIsNormal(iid))
				continue;
			if (ItemIdGetLength(iid) != RVIVF_ITEM_SIZE(meta->pd))
				ereport(ERROR,
						(errcode(ERRCODE_INDEX_CORRUPTED),
						 errmsg("index \"%s\" has an item of %u bytes, expected %zu",
								RelationGetRelationName(index), ItemIdGetLength(iid),
								RVIVF_ITEM_SIZE(meta->pd))));
			items[n++] = (const RvivfItem *) PageGetItem(page, iid);
		}
		if (n > 0)
			fn(items, n, arg);
		blk = RvivfPageGetOpaque(page)->next;
		UnlockReleaseBuffer(buf);
	}
}

/* Start heap reads (the objects live in the current memory context). */
void
rvivf_fetch_begin(RvivfFetch *f, Relation heap, Relation index)
{
	f->fetch = table_index_fetch_begin(heap);
	f->slot = table_slot_create(heap, NULL);
	f->ii = BuildIndexInfo(index);
	f->estate = CreateExecutorState();
	f->started = true;
}

/* End heap reads. */
void
rvivf_fetch_end(RvivfFetch *f)
{
	if (!f->started)
		return;
	ExecDropSingleTupleTableSlot(f->slot);
	table_index_fetch_end(f->fetch);
	FreeExecutorState(f->estate);
	memset(f, 0, sizeof(RvivfFetch));
}

/* The indexed value of the heap row at tid visible to snapshot, or NULL (rvivf.h). */
Embedding *
rvivf_fetch_value(RvivfFetch *f, ItemPointer tid, Snapshot snapshot)
{
	ItemPointerData t = *tid;
	bool		call_again = false;
	bool		all_dead = false;
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];

	ExecClearTuple(f->slot);
	ResetPerTupleExprContext(f->estate);
	if (!table_index_fetch_tuple(f->fetch, &t, snapshot, f->slot, &call_again, &all_dead))
		return NULL;
	GetPerTupleExprContext(f->estate)->ecxt_scantuple = f->slot;
	FormIndexDatum(f->ii, f->slot, f->estate, values, isnull);
	if (isnull[0])
		return NULL;
	return DatumGetEmbedding(values[0]);
}

/* Restore the min-heap (by lb) property of candidates below slot i. */
void
rvivf_cand_sift_down(RvivfCand *h, Size n, Size i)
{
	RvivfCand	x = h[i];

	for (;;)
	{
		Size		c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && h[c + 1].lb < h[c].lb)
			c++;
		if (!(h[c].lb < x.lb))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

/* Make n candidates a min-heap by lb. */
void
rvivf_cand_heapify(RvivfCand *h, Size n)
{
	Size		i;

	for (i = n / 2; i-- > 0;)
		rvivf_cand_sift_down(h, n, i);
}
