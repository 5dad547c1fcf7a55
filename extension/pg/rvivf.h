/*
 * rvivf.h — the approximate kNN index access method "rvivf": its on-disk layout and what
 * its files share (rvivf.c: handler, costing, options, GUCs, the centroid cache;
 * rvivfbuild.c; rvivfinsert.c; rvivfscan.c; rvivfvacuum.c). The math is in the bridge
 * (bridge/ivf.c): the index space, k-means, RaBitQ codes and their estimates.
 *
 * What it is. Inverted lists over k-means centroids, trained at build time on a sample of
 * the rows. Each row is kept in the list of its nearest centroid as its heap TID and the
 * 1-bit RaBitQ code of its residual from the centroid (pd bits and three floats, about
 * 1/25 of the float vector at 768 dimensions). The float vectors are not copied into the
 * index: a scan reranks its candidates with the operator's exact distance on the heap's
 * own values, so every distance it returns is exact and only the candidate set is
 * approximate.
 *
 * Layout. Block 0 is the metapage. Then "stream" pages that hold an array of bytes back to
 * back (RVIVF_STREAM_BYTES per page): the centroids (nlists x pd floats, in the index
 * space) and the list directory (one RvivfListData per list: the list's first page and
 * its row count). Then list pages: standard PostgreSQL pages, one line pointer per row's
 * item, chained through the special space's next pointer. A list's chain starts at its
 * newest page, which takes its inserts; a full page gets a new page in front of it.
 * VACUUM removes dead items page by page. Every change is WAL-logged with generic WAL; a
 * build writes its pages unlogged and logs them all at the end (log_newpage_range).
 * NULL values are not indexed (as in pgvector): an rvivf scan never returns such rows.
 */
#ifndef RVIVF_H
#define RVIVF_H

#include "postgres.h"

#include <math.h>

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "nodes/execnodes.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"

#include "relvec_pg.h"
#include "rvflat.h"

#define RVIVF_MAGIC			0x52564956	/* "RVIV" */
#define RVIVF_VERSION		1
#define RVIVF_METAPAGE_BLKNO	0
#define RVIVF_PAGE_ID		0xFF91

#define RVIVF_PAGE_META		1
#define RVIVF_PAGE_STREAM	2
#define RVIVF_PAGE_LIST		3

/* Support function 1: the distance function of the opclass's ordering operator. */
#define RVIVF_DISTANCE_PROC	1

/* Build sub-phases in pg_stat_progress_create_index (1 is "initializing"). */
#define RVIVF_PHASE_SAMPLE	2
#define RVIVF_PHASE_TRAIN	3
#define RVIVF_PHASE_LOAD	4

/* Most lists an index may have (the lists storage parameter; rv_ivf_assign's nprobe cap). */
#define RVIVF_MAX_LISTS		16384

/*
 * Candidates a scan reranks at least when relvec.ivf_rerank is 0: beyond them the lower
 * bounds decide (on 100,000 x 768 clustered rows, floors of 10, 20 and 40 gave the same
 * recall@10 at 2, 4 and 8 probes, and 10 the most queries per second).
 */
#define RVIVF_DEFAULT_RERANK	10

/* k-means rounds of a build. */
#define RVIVF_TRAIN_ITERS	10

/* The metapage's contents (after the page header). */
typedef struct RvivfMetaData
{
	uint32		magic;
	uint32		version;
	int32		dims;			/* 0 until the typmod or the first vector fixes it */
	int32		pd;				/* rv_ivf_padded_dims(dims), 0 with dims */
	int32		nlists;			/* >= 1 */
	int32		metric;			/* RvflatMetric: checked against the opclass */
	uint64		seed;			/* the index space's map, and the build's identity */
	BlockNumber centroids;		/* first stream page of the centroids; InvalidBlockNumber:
								 * one list around the origin (built over no rows) */
	BlockNumber directory;		/* first stream page of the list directory */
	uint64		rows;			/* items added since the build, and built */
	uint16		space;			/* as in RvflatMetaData */
	uint16		space2;
} RvivfMetaData;

/* The special space of every page. */
typedef struct RvivfPageOpaqueData
{
	BlockNumber next;			/* list pages: the next (older) page of the list */
	uint16		type;
	uint16		page_id;
} RvivfPageOpaqueData;

/* Bytes of a stream page: a multiple of 64, so directory entries never straddle pages. */
#define RVIVF_STREAM_BYTES \
	(((BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(RvivfPageOpaqueData))) / 64) * 64)

/* One list's directory entry. */
typedef struct RvivfListData
{
	BlockNumber head;			/* newest page; InvalidBlockNumber while empty */
	uint32		count;			/* items added (VACUUM subtracts the removed) */
} RvivfListData;

#define RVIVF_DIR_PER_PAGE	(RVIVF_STREAM_BYTES / sizeof(RvivfListData))

/* One indexed row: heap TID, flags, the factors and bits of its code. */
typedef struct RvivfItem
{
	ItemPointerData tid;
	uint16		flags;
	rv_ivf_factors f;
	uint8		code[FLEXIBLE_ARRAY_MEMBER];
} RvivfItem;

#define RVIVF_ITEM_SIZE(pd)		(offsetof(RvivfItem, code) + (pd) / 8)
#define RvivfPageGetMeta(p)		((RvivfMetaData *) PageGetContents(p))
#define RvivfPageGetOpaque(p)	((RvivfPageOpaqueData *) PageGetSpecialPointer(p))
#define RvivfPageGetStream(p)	((char *) PageGetContents(p))

/* The query knobs (GUCs). */
extern int	rvivf_probes;
extern int	rvivf_rerank;
extern int	rvivf_max_probes;

/* rvivf.c */
extern void rvivf_init(void);
extern RvflatMetric rvivf_index_metric(Relation index);
extern void rvivf_init_page(Page page, uint16 type);
extern void rvivf_read_meta(Relation index, RvivfMetaData *meta);
extern int	rvivf_lists_option(Relation index);
extern int	rvivf_auto_probes(int nlists);
/* The index's centroids (nlists x pd), cached per backend; NULL for the origin's list. */
extern const float *rvivf_centroids(Relation index, const RvivfMetaData *meta);
/* The nprobe nearest lists to index-space vector xp by metric m (rv_ivf_assign's order). */
extern void rvivf_rank_lists(Relation index, const RvivfMetaData *meta, RvflatMetric m,
							 const float *xp, int nprobe, int32 *lists);
/* Stream pages: read or write len bytes at byte offset off of the stream at blkno. */
extern void rvivf_stream_read(Relation index, BlockNumber start, Size off, void *out,
							  Size len);
extern BlockNumber rvivf_stream_write(Relation index, const void *data, Size len);
/* The directory page and the entry's offset in it of list l. */
extern BlockNumber rvivf_dir_block(const RvivfMetaData *meta, int l);
extern RvivfListData *rvivf_dir_entry(Page page, int l);
extern bool rvivf_page_add(Page page, const RvivfItem *item, Size size);
extern Buffer rvivf_new_buffer(Relation index, ForkNumber fork);
/* A value's index-space vector (pd floats, palloc'd) and its nearest list. */
extern float *rvivf_prepare(const RvivfMetaData *meta, const float *x);
extern int	rvivf_nearest_list(Relation index, const RvivfMetaData *meta, const float *xp);

/*
 * Call fn once per page of list l with the page's items (n >= 1 of them, in line pointer
 * order), each page share-locked while fn runs.
 */
extern void rvivf_walk_list(Relation index, const RvivfMetaData *meta, int l,
							void (*fn) (const RvivfItem *const *items, int n, void *arg),
							void *arg);

/* Reading indexed values from the heap, for an exact rerank. */
typedef struct RvivfFetch
{
	bool		started;
	struct IndexFetchTableData *fetch;
	struct TupleTableSlot *slot;
	struct EState *estate;
	struct IndexInfo *ii;
} RvivfFetch;

/* Start (its objects live in the current memory context) and end heap reads. */
extern void rvivf_fetch_begin(RvivfFetch *f, Relation heap, Relation index);
extern void rvivf_fetch_end(RvivfFetch *f);
/*
 * The indexed value (column or expression) of the heap row at tid visible to snapshot,
 * detoasted in the current memory context; NULL when the snapshot cannot see the row or
 * the value is NULL. The caller resets the current context between rows.
 */
extern Embedding *rvivf_fetch_value(RvivfFetch *f, ItemPointer tid, Snapshot snapshot);

/*
 * A candidate of a scan: a lower bound of its distance (a NaN bound is stored as -inf, so
 * it is reranked early and the heap compares plain floats) and its heap TID.
 */
typedef struct RvivfCand
{
	float		lb;
	ItemPointerData tid;
} RvivfCand;

/* Restore the min-heap (by lb) property of candidates below slot i; heapify n of them. */
extern void rvivf_cand_sift_down(RvivfCand *h, Size n, Size i);
extern void rvivf_cand_heapify(RvivfCand *h, Size n);

/* Float order with NaN last, as ORDER BY sorts float8. */
static inline int
rvivf_dist_cmp(double a, double b)
{
	if (isnan(a))
		return isnan(b) ? 0 : 1;
	if (isnan(b))
		return -1;
	return a < b ? -1 : (a > b ? 1 : 0);
}

/* rvivfbuild.c */
extern IndexBuildResult *rvivfbuild(Relation heap, Relation index, IndexInfo *indexInfo);
extern void rvivfbuildempty(Relation index);

/* rvivfinsert.c */
extern bool rvivfinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
						Relation heap, IndexUniqueCheck checkUnique, bool indexUnchanged,
						IndexInfo *indexInfo);

/* rvivfscan.c */
extern IndexScanDesc rvivfbeginscan(Relation index, int nkeys, int norderbys);
extern void rvivfrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys,
						int norderbys);
extern bool rvivfgettuple(IndexScanDesc scan, ScanDirection dir);
extern void rvivfendscan(IndexScanDesc scan);

/* rvivfvacuum.c */
extern IndexBulkDeleteResult *rvivfbulkdelete(IndexVacuumInfo *info,
											  IndexBulkDeleteResult *stats,
											  IndexBulkDeleteCallback callback,
											  void *callback_state);
extern IndexBulkDeleteResult *rvivfvacuumcleanup(IndexVacuumInfo *info,
												 IndexBulkDeleteResult *stats);

#endif							/* RVIVF_H */
