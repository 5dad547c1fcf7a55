/*
 * rvivfbuild.c — CREATE INDEX for rvivf, in two passes over the heap.
 *
 * Pass 1 draws a uniform sample of the non-NULL rows (reservoir sampling, seeded, so a
 * build of the same rows gives the same index) and counts them. The number of lists is
 * the lists storage parameter, or about the square root of the rows, and never more than
 * the rows. The sample goes to the index space (rv_ivf_prepare) and k-means trains the
 * centroids there (rv_ivf_train: its assignments go through the bridge's batched top-k, on
 * a GPU when relvec.device chooses one). The sample is bounded by maintenance_work_mem.
 *
 * Pass 2 takes the rows in batches: each batch is mapped to the index space, assigned to
 * its nearest centroids in one batched call, and each row's code is appended to an
 * in-memory page image of its list. A full image becomes the list's newest page. At the
 * end the partial images are written, then the directory, then the metapage. Pages are
 * written through shared buffers without WAL and logged all at once (log_newpage_range).
 * Progress goes to pg_stat_progress_create_index: sampling, training, then the rows loaded.
 */
#include "postgres.h"

#include <math.h>
#include <unistd.h>

#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "common/pg_prng.h"
#include "miscadmin.h"
#include "optimizer/plancat.h"
#include "utils/backend_progress.h"
#include "utils/memutils.h"

#include "rvivf.h"

/* The seed of every rvivf index's map and sample: builds are reproducible. */
#define RVIVF_SEED		UINT64CONST(0x7276697666736565)

/* Rows mapped and assigned per batched call in pass 2. */
#define RVIVF_BATCH		1024

/* Sample rows per list that k-means aims for. */
#define RVIVF_SAMPLE_PER_LIST	64

typedef struct RvivfBuildState
{
	Relation	index;
	RvflatMetric metric;
	int			dims;			/* 0 until the typmod or the first vector fixes it */
	int			pd;
	RvflatMetaData spaces;		/* the space tags seen */
	MemoryContext tmpcxt;		/* reset per heap tuple */

	/* pass 1: a reservoir of raw rows, each in a slot of pd floats */
	Size		cap;			/* target sample rows; fixed when dims is known */
	Size		want;			/* sample rows wanted before the memory bound */
	float	   *sample;
	Size		nsample;
	double		seen;			/* non-NULL rows */
	pg_prng_state prng;

	/* pass 2 */
	int			nlists;
	float	   *centroids;		/* nlists x pd, or one zero centroid */
	float	   *raw;			/* RVIVF_BATCH x dims */
	float	   *prep;			/* RVIVF_BATCH x pd */
	ItemPointerData *tids;
	int32	   *assign;
	int			nbatch;
	char	  **pages;			/* per list: its page image being filled, or NULL */
	BlockNumber *heads;
	uint32	   *counts;
	RvivfItem  *item;
	double		indtuples;
} RvivfBuildState;

/* The dimensions of a value, checked against the build's. */
static void
check_dims(RvivfBuildState *bs, const Embedding *e)
{
	if (bs->dims != 0 && e->dim != bs->dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different embedding dimensions %d and %d", bs->dims, e->dim),
				 errdetail("Index \"%s\" holds embeddings of %d dimensions.",
						   RelationGetRelationName(bs->index), bs->dims)));
}

/* Fix the sample's size once dims is known: what k-means wants, within memory. */
static void
size_sample(RvivfBuildState *bs)
{
	Size		row = sizeof(float) * bs->pd;
	Size		mem = (Size) maintenance_work_mem * 1024 / 2;

	bs->cap = Min(bs->want, Max(mem / row, 1));
	bs->sample = MemoryContextAllocHuge(CurrentMemoryContext, bs->cap * row);
}

/* Pass 1's callback: count the row and keep it in the reservoir, or not. */
static void
sample_callback(Relation index pg_attribute_unused(), ItemPointer tid pg_attribute_unused(),
				Datum *values, bool *isnull, bool tupleIsAlive pg_attribute_unused(),
				void *state)
{
	RvivfBuildState *bs = (RvivfBuildState *) state;
	MemoryContext old;
	Embedding  *e;
	Size		slot;

	if (isnull[0])
		return;
	old = MemoryContextSwitchTo(bs->tmpcxt);
	e = DatumGetEmbedding(values[0]);
	check_dims(bs, e);
	(void) rvflat_meta_note_space(&bs->spaces, e->space);
	MemoryContextSwitchTo(old);
	if (bs->dims == 0)
	{
		bs->dims = e->dim;
		bs->pd = (int) rv_ivf_padded_dims(e->dim);
	}
	if (bs->sample == NULL)
		size_sample(bs);
	bs->seen += 1;
	if (bs->nsample < bs->cap)
		slot = bs->nsample++;
	else
	{
		uint64		j = pg_prng_uint64_range(&bs->prng, 0, (uint64) bs->seen - 1);

		slot = j < bs->cap ? (Size) j : (Size) -1;
	}
	if (slot != (Size) -1)
		memcpy(bs->sample + slot * bs->pd, e->x, sizeof(float) * bs->dims);
	MemoryContextReset(bs->tmpcxt);
}

/* Write list l's page image as the list's newest page. */
static void
write_list_page(RvivfBuildState *bs, int l)
{
	Buffer		buf = rvivf_new_buffer(bs->index, MAIN_FORKNUM);
	Page		page = BufferGetPage(buf);

	memcpy(page, bs->pages[l], BLCKSZ);
	RvivfPageGetOpaque(page)->next = bs->heads[l];
	bs->heads[l] = BufferGetBlockNumber(buf);
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
}

/* Map, assign and encode the batch; append each code to its list. */
static void
flush_batch(RvivfBuildState *bs)
{
	Size		size = RVIVF_ITEM_SIZE(bs->pd);
	int			i;

	if (bs->nbatch == 0)
		return;
	RVPG_CHECK(rv_ivf_prepare(rvpg_ctx(), (rv_metric) bs->metric, RVIVF_SEED, bs->raw,
							  bs->nbatch, bs->dims, bs->prep));
	if (bs->nlists > 1)
		RVPG_CHECK(rv_ivf_assign(rvpg_ctx(), RV_METRIC_L2, bs->centroids, bs->nlists,
								 bs->pd, bs->prep, bs->nbatch, 1, bs->assign));
	else
		memset(bs->assign, 0, sizeof(int32) * bs->nbatch);
	for (i = 0; i < bs->nbatch; i++)
	{
		int			l = bs->assign[i];

		bs->item->tid = bs->tids[i];
		bs->item->flags = 0;
		rv_ivf_encode(bs->prep + (Size) i * bs->pd, bs->centroids + (Size) l * bs->pd,
					  bs->pd, bs->item->code, &bs->item->f);
		if (bs->pages[l] == NULL)
		{
			bs->pages[l] = palloc(BLCKSZ);
			rvivf_init_page(bs->pages[l], RVIVF_PAGE_LIST);
		}
		if (!rvivf_page_add(bs->pages[l], bs->item, size))
		{
			write_list_page(bs, l);
			rvivf_init_page(bs->pages[l], RVIVF_PAGE_LIST);
			if (!rvivf_page_add(bs->pages[l], bs->item, size))
				elog(ERROR, "rvivf item of %zu bytes does not fit an empty page", size);
		}
		bs->counts[l]++;
	}
	bs->indtuples += bs->nbatch;
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->indtuples);
	bs->nbatch = 0;
}

/* Pass 2's callback: add the row to the batch. */
static void
load_callback(Relation index pg_attribute_unused(), ItemPointer tid, Datum *values,
			  bool *isnull, bool tupleIsAlive pg_attribute_unused(), void *state)
{
	RvivfBuildState *bs = (RvivfBuildState *) state;
	MemoryContext old;
	Embedding  *e;

	if (isnull[0])
		return;
	old = MemoryContextSwitchTo(bs->tmpcxt);
	e = DatumGetEmbedding(values[0]);
	check_dims(bs, e);
	(void) rvflat_meta_note_space(&bs->spaces, e->space);
	if (bs->dims == 0)
	{
		/* rows that pass 1 did not see (none there): the origin's one list takes them */
		bs->dims = e->dim;
		bs->pd = (int) rv_ivf_padded_dims(e->dim);
	}
	MemoryContextSwitchTo(old);
	if (bs->raw == NULL)
	{
		bs->raw = palloc(sizeof(float) * RVIVF_BATCH * bs->dims);
		bs->prep = palloc(sizeof(float) * RVIVF_BATCH * bs->pd);
		bs->item = palloc0(RVIVF_ITEM_SIZE(bs->pd));
		if (bs->centroids == NULL)
			bs->centroids = palloc0(sizeof(float) * bs->pd);
	}
	memcpy(bs->raw + (Size) bs->nbatch * bs->dims, e->x, sizeof(float) * bs->dims);
	bs->tids[bs->nbatch++] = *tid;
	MemoryContextReset(bs->tmpcxt);
	if (bs->nbatch == RVIVF_BATCH)
		flush_batch(bs);
}

/* Choose the lists and train their centroids on the sample. */
static void
train(RvivfBuildState *bs, int lists_option)
{
	Size		i;
	float	   *row;
	double		n = bs->seen;
	int			nlists;

	nlists = lists_option > 0 ? lists_option : (int) Max(1.0, rint(sqrt(n)));
	nlists = (int) Min((double) nlists, n);
	nlists = (int) Min((Size) nlists, bs->nsample);
	bs->nlists = Max(nlists, 1);
	if (bs->nsample == 0)
		return;					/* no rows: the origin's one list */
	if (bs->nsample < (Size) bs->nlists * 16 && bs->nsample < (Size) n)
		ereport(NOTICE,
				(errmsg("rvivf trains %d lists on a sample of %zu rows", bs->nlists,
						bs->nsample),
				 errhint("Raise maintenance_work_mem for better centroids, or use fewer lists.")));

	/* the sample to the index space, row by row in place */
	row = palloc(sizeof(float) * bs->dims);
	for (i = 0; i < bs->nsample; i++)
	{
		float	   *slot = bs->sample + i * bs->pd;

		memcpy(row, slot, sizeof(float) * bs->dims);
		RVPG_CHECK(rv_ivf_prepare(rvpg_ctx(), (rv_metric) bs->metric, RVIVF_SEED, row, 1,
								  bs->dims, slot));
	}
	pfree(row);
	bs->centroids = MemoryContextAllocHuge(CurrentMemoryContext,
										   sizeof(float) * bs->nlists * bs->pd);
	RVPG_CHECK(rv_ivf_train(rvpg_ctx(), (rv_metric) bs->metric, bs->sample, bs->nsample,
							bs->pd, bs->nlists, RVIVF_SEED, RVIVF_TRAIN_ITERS,
							bs->centroids));
}

/* The build itself (rvivfbuild runs it with its threads). */
static IndexBuildResult *
build(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result;
	RvivfBuildState bs;
	Buffer		metabuf;
	RvivfMetaData *meta;
	RvivfListData *dir;
	BlockNumber centroid_blk = InvalidBlockNumber;
	BlockNumber dir_blk;
	BlockNumber pages;
	double		est_rows;
	double		allvisfrac;
	int			lists_option = rvivf_lists_option(index);
	double		reltuples;
	int			l;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));

	memset(&bs, 0, sizeof(bs));
	bs.index = index;
	/* the metric first, so a wrong opclass fails before the heap is read */
	bs.metric = rvivf_index_metric(index);
	bs.dims = rvflat_typmod_dims(index);
	if (bs.dims > 0)
		bs.pd = (int) rv_ivf_padded_dims(bs.dims);
	bs.tmpcxt = AllocSetContextCreate(CurrentMemoryContext, "rvivf build tuple",
									  ALLOCSET_DEFAULT_SIZES);
	pg_prng_seed(&bs.prng, RVIVF_SEED);
	estimate_rel_size(heap, NULL, &pages, &est_rows, &allvisfrac);
	bs.want = (Size) RVIVF_SAMPLE_PER_LIST *
		(lists_option > 0 ? lists_option : (int) Max(1.0, rint(sqrt(Max(est_rows, 1.0)))));
	bs.want = Max(bs.want, 10000);

	/* the metapage first, so block 0 is the metapage; filled in at the end */
	metabuf = rvivf_new_buffer(index, MAIN_FORKNUM);
	Assert(BufferGetBlockNumber(metabuf) == RVIVF_METAPAGE_BLKNO);
	rvivf_init_page(BufferGetPage(metabuf), RVIVF_PAGE_META);
	MarkBufferDirty(metabuf);
	UnlockReleaseBuffer(metabuf);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, RVIVF_PHASE_SAMPLE);
	/* from block 0 (no synchronized scan): the sample, so the index, depends on the rows only */
	(void) table_index_build_scan(heap, index, indexInfo, false, true, sample_callback,
								  &bs, NULL);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, RVIVF_PHASE_TRAIN);
	train(&bs, lists_option);
	if (bs.sample != NULL)
		pfree(bs.sample);
	bs.sample = NULL;
	if (bs.nsample > 0)
		centroid_blk = rvivf_stream_write(index, bs.centroids,
										  sizeof(float) * bs.nlists * bs.pd);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, RVIVF_PHASE_LOAD);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, (int64) bs.seen);
	bs.tids = palloc(sizeof(ItemPointerData) * RVIVF_BATCH);
	bs.assign = palloc(sizeof(int32) * RVIVF_BATCH);
	bs.pages = palloc0(sizeof(char *) * bs.nlists);
	bs.heads = palloc(sizeof(BlockNumber) * bs.nlists);
	bs.counts = palloc0(sizeof(uint32) * bs.nlists);
	for (l = 0; l < bs.nlists; l++)
		bs.heads[l] = InvalidBlockNumber;
	reltuples = table_index_build_scan(heap, index, indexInfo, true, true, load_callback,
									   &bs, NULL);
	flush_batch(&bs);
	for (l = 0; l < bs.nlists; l++)
		if (bs.pages[l] != NULL)
			write_list_page(&bs, l);

	dir = palloc0(sizeof(RvivfListData) * bs.nlists);
	for (l = 0; l < bs.nlists; l++)
	{
		dir[l].head = bs.heads[l];
		dir[l].count = bs.counts[l];
	}
	dir_blk = rvivf_stream_write(index, dir, sizeof(RvivfListData) * bs.nlists);

	metabuf = ReadBuffer(index, RVIVF_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = RvivfPageGetMeta(BufferGetPage(metabuf));
	meta->magic = RVIVF_MAGIC;
	meta->version = RVIVF_VERSION;
	meta->dims = bs.dims;
	meta->pd = bs.pd;
	meta->nlists = bs.nlists;
	meta->metric = bs.metric;
	meta->seed = RVIVF_SEED;
	meta->centroids = centroid_blk;
	meta->directory = dir_blk;
	meta->rows = (uint64) bs.indtuples;
	meta->space = bs.spaces.space;
	meta->space2 = bs.spaces.space2;
	((PageHeader) BufferGetPage(metabuf))->pd_lower =
		((char *) meta + sizeof(RvivfMetaData)) - (char *) BufferGetPage(metabuf);
	MarkBufferDirty(metabuf);
	UnlockReleaseBuffer(metabuf);

	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0, RelationGetNumberOfBlocks(index), true);

	MemoryContextDelete(bs.tmpcxt);
	result = (IndexBuildResult *) palloc(sizeof(IndexBuildResult));
	result->heap_tuples = reltuples;
	result->index_tuples = bs.indtuples;
	return result;
}

/*
 * CREATE INDEX ... USING rvivf. The matrix products of k-means and of the rows'
 * assignment (OpenBLAS) use 1 + max_parallel_maintenance_workers threads, at most one per
 * CPU, as a parallel build would; backends otherwise keep them at one, and so does this
 * one after the build, on error too.
 */
IndexBuildResult *
rvivfbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *volatile result = NULL;
	long		cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int			threads = 1 + max_parallel_maintenance_workers;

	if (cpus >= 1 && threads > cpus)
		threads = (int) cpus;
	(void) rv_cpu_set_threads(threads);
	PG_TRY();
	{
		result = build(heap, index, indexInfo);
	}
	PG_FINALLY();
	{
		(void) rv_cpu_set_threads(1);
	}
	PG_END_TRY();
	return result;
}

/*
 * The init fork of an unlogged rvivf index: a metapage of the origin's one list and its
 * directory page, WAL-logged as full page images (generic WAL writes nothing for an
 * unlogged relation, and a crash before the next checkpoint would leave them zeroed).
 */
void
rvivfbuildempty(Relation index)
{
	int			dims = rvflat_typmod_dims(index);
	RvflatMetric metric = rvivf_index_metric(index);
	Buffer		metabuf = rvivf_new_buffer(index, INIT_FORKNUM);
	Buffer		dirbuf = rvivf_new_buffer(index, INIT_FORKNUM);
	Page		page = BufferGetPage(metabuf);
	Page		dpage = BufferGetPage(dirbuf);
	RvivfMetaData *meta;

	START_CRIT_SECTION();
	rvivf_init_page(page, RVIVF_PAGE_META);
	meta = RvivfPageGetMeta(page);
	memset(meta, 0, sizeof(RvivfMetaData));
	meta->magic = RVIVF_MAGIC;
	meta->version = RVIVF_VERSION;
	meta->dims = Max(dims, 0);
	meta->pd = dims > 0 ? (int) rv_ivf_padded_dims(dims) : 0;
	meta->nlists = 1;
	meta->metric = metric;
	meta->seed = RVIVF_SEED;
	meta->centroids = InvalidBlockNumber;
	meta->directory = BufferGetBlockNumber(dirbuf);
	((PageHeader) page)->pd_lower = ((char *) meta + sizeof(RvivfMetaData)) - (char *) page;
	rvivf_init_page(dpage, RVIVF_PAGE_STREAM);
	rvivf_dir_entry(dpage, 0)->head = InvalidBlockNumber;
	rvivf_dir_entry(dpage, 0)->count = 0;
	((PageHeader) dpage)->pd_lower = (RvivfPageGetStream(dpage) + RVIVF_STREAM_BYTES) -
		(char *) dpage;
	MarkBufferDirty(metabuf);
	MarkBufferDirty(dirbuf);
	log_newpage_buffer(metabuf, true);
	log_newpage_buffer(dirbuf, true);
	END_CRIT_SECTION();
	UnlockReleaseBuffer(dirbuf);
	UnlockReleaseBuffer(metabuf);
}
