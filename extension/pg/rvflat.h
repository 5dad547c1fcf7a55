/*
 * rvflat.h — the exact kNN index access method "rvflat": its on-disk layout and what its
 * files share (rvflat.c: handler, costing, validation; rvflatbuild.c; rvflatinsert.c;
 * rvflatscan.c; rvflatvacuum.c).
 *
 * Layout. Block 0 is the metapage (dimensions, the data page that takes inserts, a change
 * counter). Every other block is a data page: standard PostgreSQL page, one line pointer
 * per item, an item being the heap TID followed by the float32 values (no values for a
 * NULL, which is indexed as such), so a page holds the vectors back to back and a scan
 * reads them in place. Items are appended to the last data
 * page; VACUUM removes dead items page by page (PageIndexMultiDelete compacts the page).
 * Every page change is WAL-logged with generic WAL; a build writes its pages unlogged and
 * logs them all at the end with log_newpage_range.
 *
 * Scan. The first amgettuple reads every data page once under a share lock, computes the
 * distance of each vector to the query with the bridge's per-pair function (the same one the
 * SQL operator calls, so values are bit-identical to a sequential scan), keeps all
 * (distance, heap TID) pairs and turns them into a binary min-heap. Each amgettuple then
 * pops the next pair: rows come out in ascending distance, ties by heap TID, and as many as
 * the executor asks for, so a WHERE clause that rejects rows never shortens a LIMIT. Rows
 * whose value is NULL come last (their distance is NULL), by heap TID.
 */
#ifndef RVFLAT_H
#define RVFLAT_H

#include "postgres.h"

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "nodes/execnodes.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"

#include "relvec_pg.h"

#define RVFLAT_MAGIC		0x52564654	/* "RVFT" */
#define RVFLAT_VERSION		1
#define RVFLAT_METAPAGE_BLKNO	0
#define RVFLAT_PAGE_ID		0xFF90	/* page_id in the special space, as other AMs do */

#define RVFLAT_PAGE_META	1
#define RVFLAT_PAGE_DATA	2

/* Largest dimension count: one item must fit a page (2,036 would; a round limit). */
#define RVFLAT_MAX_DIMS		2000

/* Support function 1: the distance function of the opclass's ordering operator. */
#define RVFLAT_DISTANCE_PROC	1

/* Build sub-phase reported in pg_stat_progress_create_index (1 is "initializing"). */
#define RVFLAT_PHASE_LOAD	2

/* The metapage's contents (after the page header). */
typedef struct RvflatMetaData
{
	uint32		magic;
	uint32		version;
	int32		dims;			/* 0 until the first vector (or the typmod) fixes it */
	BlockNumber insert_blkno;	/* data page that takes inserts; InvalidBlockNumber if none */
	uint64		change_count;	/* bumped by every insert and every VACUUM that removes */
	/*
	 * The spaces of the rows' values (0.1.0 indexes have zeros here, which is right: no
	 * value was tagged then): space the first tag seen, space2 another one when several;
	 * never cleared, so a scan's refusal errs on the side of a sequential scan's error.
	 */
	uint16		space;
	uint16		space2;
} RvflatMetaData;

/* Record a value's space tag in the metapage's pair (true when it changed). */
static inline bool
rvflat_meta_note_space(RvflatMetaData *meta, uint16 tag)
{
	if (tag == 0 || tag == meta->space || tag == meta->space2)
		return false;
	if (meta->space == 0)
		meta->space = tag;
	else if (meta->space2 == 0)
		meta->space2 = tag;
	else
		return false;
	return true;
}

/* The special space of every page. */
typedef struct RvflatPageOpaqueData
{
	uint16		type;			/* RVFLAT_PAGE_META or RVFLAT_PAGE_DATA */
	uint16		page_id;		/* RVFLAT_PAGE_ID */
} RvflatPageOpaqueData;

/*
 * One indexed row: the heap TID, flags, the values. A NULL is indexed too, as an item
 * without values (RVFLAT_ITEM_NULL), so a scan can return the NULL rows last, where
 * ORDER BY puts their NULL distances, and never returns fewer rows than a sequential scan.
 */
typedef struct RvflatItem
{
	ItemPointerData tid;
	uint16		flags;
	float		x[FLEXIBLE_ARRAY_MEMBER];
} RvflatItem;

#define RVFLAT_ITEM_NULL		0x0001

#define RVFLAT_ITEM_SIZE(d)		(offsetof(RvflatItem, x) + sizeof(float) * (d))
#define RvflatPageGetMeta(p)	((RvflatMetaData *) PageGetContents(p))
#define RvflatPageGetOpaque(p)	((RvflatPageOpaqueData *) PageGetSpecialPointer(p))

/* The distances an rvflat opclass can order by. */
typedef enum RvflatMetric
{
	RVFLAT_L2 = 0,				/* <->, l2_distance */
	RVFLAT_IP,					/* <#>, negative inner product */
	RVFLAT_COSINE,				/* <=>, cosine_distance */
	RVFLAT_L1					/* <+>, l1_distance */
} RvflatMetric;

/* The SQL-callable distances of metric.c; an opclass names one as support function 1. */
extern PGDLLEXPORT Datum embedding_l2_distance(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum embedding_negative_inner_product(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum embedding_cosine_distance(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum embedding_l1_distance(PG_FUNCTION_ARGS);

/* rvflat.c */
extern bool rvflat_validate_opclass(Oid opclassoid, const char *am);
extern RvflatMetric rvflat_index_metric(Relation index);
extern double rvflat_distance(RvflatMetric m, const float *a, const float *b, int dims);
extern int	rvflat_tid_cmp(const void *a, const void *b);
extern void rvflat_init_page(Page page, uint16 type);
extern void rvflat_init_meta(Page page, int dims);
extern void rvflat_check_dims(Relation index, int index_dims, int value_dims);
/*
 * 42804 before any data page is read when the query is tagged with a space and the index
 * holds values tagged with another (the metapage's space pair).
 */
extern void rvflat_check_query_space(Relation index, const Embedding *query);
extern int	rvflat_typmod_dims(Relation index);
extern void rvflat_check_item(Relation index, ItemId iid, const RvflatItem *item, int dims);
extern Embedding *rvflat_value(Datum d);

/* rvflatbuild.c */
extern IndexBuildResult *rvflatbuild(Relation heap, Relation index, IndexInfo *indexInfo);
extern void rvflatbuildempty(Relation index);

/* rvflatinsert.c */
extern bool rvflatinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
						 Relation heap, IndexUniqueCheck checkUnique, bool indexUnchanged,
						 IndexInfo *indexInfo);
extern bool rvflat_page_add(Page page, const RvflatItem *item, Size size);

/* rvflatscan.c */
extern IndexScanDesc rvflatbeginscan(Relation index, int nkeys, int norderbys);
extern void rvflatrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys,
						 int norderbys);
extern bool rvflatgettuple(IndexScanDesc scan, ScanDirection dir);
extern void rvflatendscan(IndexScanDesc scan);

/*
 * rvflatresident.c: one index as of one change_count, resident on a Vulkan device, with
 * its host copy. Row i has vector x[i * dims ..], heap TID tids[i], and its item lives at
 * (block, offset) where[i] of the index.
 */
typedef struct RvflatResident
{
	MemoryContext cxt;			/* owns the entry and its arrays */
	RelFileNode node;
	uint64		change_count;
	int			dims;
	Size		n;				/* rows with a vector */
	float	   *x;				/* n x dims */
	double	   *xn2;			/* n squared norms (rv_norm2) */
	const int8_t *codes;		/* a shared copy's int8 codes of x (rv_codes8_encode), or NULL */
	const rv_code8_row *code_rows;	/* ... and their rows' scales and bounds */
	/*
	 * A shared copy of a cosine index's cones (rv_cones_build), or ncones 0: rows are in
	 * group order, group g is rows cstart[g] .. cstart[g + 1] - 1, and group ncones holds
	 * the rows with no direction (zero or tiny)
	 */
	Size		ncones;
	const float *cent;			/* ncones x dims */
	const double *cnorm;		/* ncones */
	const double *theta;		/* ncones */
	const uint64 *cstart;		/* ncones + 2 */
	ItemPointerData *tids;		/* n heap TIDs */
	ItemPointerData *where;		/* n index item positions */
	ItemPointerData *nulls;		/* heap TIDs of the NULL rows, sorted */
	Size		nnulls;
	Size		bytes;			/* device bytes */
	rv_resident *dev;			/* the device copy */
	uint64		last_used;
	int			pins;			/* scans using it */
	bool		listed;			/* in the cache (else freed at the last unpin) */
	bool		shared;			/* a view of the server's shared copy (rvflatshared.c) */
	bool		remote;			/* ... whose device pass the device owner makes (deviceowner.c) */
	int			slot;			/* ... in this entry of the shared table */
} RvflatResident;

extern void rvflat_define_resident_guc(void);
extern RvflatResident *rvflat_resident_get(Relation index, int dims, MemoryContext pin_cxt);
extern void rvflat_resident_lost(RvflatResident *e);
extern void rvflat_read_meta(Relation index, int *dims, uint64 *change_count);
extern RvflatResident *rvflat_read_index(Relation index, int dims);
extern void rvflat_resident_free(RvflatResident *e);

/* rvflatshared.c: the server's shared host copies (relvec in shared_preload_libraries). */
extern void rvflat_shared_init(void);
extern bool rvflat_shared_enabled(void);
/*
 * A view of the shared copy of index as of change_count, pinned for the life of pin_cxt,
 * or NULL when the scan should read its pages (not preloaded, off, being copied by another
 * scan, too large, no vector rows, changed while copied).
 */
extern RvflatResident *rvflat_shared_get(Relation index, int dims, uint64 change_count,
										 MemoryContext pin_cxt);
/* A row not yet recomputed: a lower bound of its distance, its row in the resident copy. */
typedef struct RvflatLow
{
	double		lo;
	Size		idx;			/* RVFLAT_REST: every row left out of the candidate list */
} RvflatLow;

/*
 * The kc smallest of the n values v (a NaN counts as -inf: recomputed first) into top, a
 * max-heap of (value, index) by value then index; *rest gets the smallest of the others
 * (+inf when none). Returns how many top holds, min(kc, n). One pass, no allocation.
 */
extern Size rvflat_smallest(const double *v, Size n, Size kc, RvflatLow *top, double *rest);

/*
 * One pass over host copy r for query q, into out (n doubles): lower bounds of the exact
 * distances (rv_lower_bounds: a batch of several queries over a shared copy, one pass for
 * all), or the exact distances themselves (alone, a small batch, L1), which bound
 * themselves; the caller recomputes exactly the rows a value cannot rule out. For a shared
 * copy, through a batch with other backends' concurrent scans of the same copy when
 * relvec.batch_size allows.
 */
extern void rvflat_host_pass(RvflatResident *r, RvflatMetric metric, const float *q,
							 double *out);
/* rvflatcones.c: the cones of a shared copy of a cosine index (see there). */
#define RVFLAT_CONES_MIN_ROWS 10000

/* What a copy's build made of its rows' directions: the groups, the rows in group order. */
typedef struct RvflatCones
{
	size_t		k;				/* groups (0: none) */
	float	   *cent;			/* k x dims */
	double	   *cnorm;			/* k */
	double	   *theta;			/* k */
	uint64	   *cstart;			/* k + 2: group g is rows cstart[g] .. cstart[g + 1] - 1 */
	Size	   *perm;			/* row of the copy -> row of the pages' order */
} RvflatCones;

extern void rvflat_make_cones(const RvflatResident *l, int dims, RvflatCones *cc);
extern Size rvflat_cones_bytes(Size k, int dims);
/* What a cone scan found (rvflat_cone_pass). */
typedef struct RvflatConeResult
{
	Size		nrows;			/* rows bounded one by one */
	Size	   *rows;			/* ... their rows in the copy */
	double	   *lb;				/* ... and their bounds */
	double		rest;			/* the smallest bound of a group not visited; +inf if none */
	double	   *lbc;			/* every group's bound (ncones + 1) */
	bool	   *done;			/* the groups visited */
} RvflatConeResult;

/*
 * One scan's pass over a copy with cones (r->ncones > 0, cosine), bounding rows from int8
 * codes when codes; res is allocated in the current memory context. rvflat_cone_fill
 * gives every row of the copy its bound from it (out: n doubles).
 */
extern void rvflat_cone_pass(const RvflatResident *r, RvflatMetric metric, const float *q,
							 bool codes, RvflatConeResult *res);
extern void rvflat_cone_fill(const RvflatResident *r, const RvflatConeResult *res,
							 double *out);
/* rvflatshared.c: a cone scan of r if relvec.cone_scan and the copy allow (else false). */
extern bool rvflat_shared_cone(const RvflatResident *r, RvflatMetric metric, const float *q,
							   RvflatConeResult *res);

/* deviceowner.c: the server's device owner (relvec in shared_preload_libraries). */
extern void rvflat_owner_init(void);
extern bool rvflat_owner_wanted(Size rows, int dims);
extern bool rvflat_owner_says_cpu(void);
extern bool rvflat_owner_topk(RvflatResident *res, RvflatMetric metric, const float *q,
							  Size kc, int64_t *rows, float *dist, float *err, double *rest);
extern bool rvflat_owner_distances(RvflatResident *res, RvflatMetric metric, const float *q,
								   float *dist, float *err);

/* rvflatvacuum.c */
extern IndexBulkDeleteResult *rvflatbulkdelete(IndexVacuumInfo *info,
											   IndexBulkDeleteResult *stats,
											   IndexBulkDeleteCallback callback,
											   void *callback_state);
extern IndexBulkDeleteResult *rvflatvacuumcleanup(IndexVacuumInfo *info,
												  IndexBulkDeleteResult *stats);
extern void rvflat_bump_change_count(Relation index);

#endif							/* RVFLAT_H */
