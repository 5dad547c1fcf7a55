/*
 * rvflatbuild.c — CREATE INDEX for rvflat: the metapage, then one pass over the heap that
 * appends each non-NULL vector to the current data page, starting a new page when one is
 * full. Pages are written through shared buffers without WAL and logged all at once at the
 * end (log_newpage_range), so crash recovery and streaming replicas get the whole index.
 * Progress goes to pg_stat_progress_create_index: the heap blocks scanned (reported by the
 * table scan) and the tuples loaded.
 */
#include "postgres.h"

#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/backend_progress.h"

#include "rvflat.h"

typedef struct RvflatBuildState
{
	Relation	index;
	int			dims;			/* 0 until the typmod or the first vector fixes it */
	Buffer		buf;			/* current data page, exclusively locked; or InvalidBuffer */
	RvflatItem *item;			/* scratch item of RVFLAT_MAX_DIMS values */
	double		indtuples;
	MemoryContext tmpcxt;		/* reset per heap tuple */
	RvflatMetaData spaces;		/* the space tags seen (space, space2) */
} RvflatBuildState;

/* A new page at the end of the index, exclusively locked. */
static Buffer
new_page(Relation index, ForkNumber fork, uint16 type)
{
	Buffer		buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, NULL);

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	rvflat_init_page(BufferGetPage(buf), type);
	return buf;
}

/* Finish the current data page. */
static void
flush_page(RvflatBuildState *bs)
{
	if (BufferIsValid(bs->buf))
	{
		MarkBufferDirty(bs->buf);
		UnlockReleaseBuffer(bs->buf);
		bs->buf = InvalidBuffer;
	}
}

/* The heap scan's callback: append one vector. */
static void
build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive pg_attribute_unused(), void *state)
{
	RvflatBuildState *bs = (RvflatBuildState *) state;
	MemoryContext old;
	Embedding  *e;
	Size		size;

	old = MemoryContextSwitchTo(bs->tmpcxt);
	bs->item->tid = *tid;
	if (isnull[0])
	{
		bs->item->flags = RVFLAT_ITEM_NULL;
		size = RVFLAT_ITEM_SIZE(0);
	}
	else
	{
		e = rvflat_value(values[0]);
		rvflat_check_dims(index, bs->dims, e->dim);
		bs->dims = e->dim;
		(void) rvflat_meta_note_space(&bs->spaces, e->space);
		bs->item->flags = 0;
		size = RVFLAT_ITEM_SIZE(e->dim);
		memcpy(bs->item->x, e->x, sizeof(float) * e->dim);
	}

	if (!BufferIsValid(bs->buf) || !rvflat_page_add(BufferGetPage(bs->buf), bs->item, size))
	{
		flush_page(bs);
		bs->buf = new_page(index, MAIN_FORKNUM, RVFLAT_PAGE_DATA);
		if (!rvflat_page_add(BufferGetPage(bs->buf), bs->item, size))
			elog(ERROR, "rvflat item of %zu bytes does not fit an empty page", size);
	}
	bs->indtuples += 1;
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->indtuples);
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tmpcxt);
}

/* CREATE INDEX ... USING rvflat. */
IndexBuildResult *
rvflatbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result;
	RvflatBuildState bs;
	Buffer		metabuf;
	double		reltuples;
	BlockNumber last_data;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));

	/* the metric is checked now, so a wrong opclass fails before the heap is read */
	(void) rvflat_index_metric(index);

	memset(&bs, 0, sizeof(bs));
	bs.index = index;
	bs.dims = rvflat_typmod_dims(index);
	if (bs.dims > 0)
		rvflat_check_dims(index, 0, bs.dims);
	bs.buf = InvalidBuffer;
	bs.item = palloc0(RVFLAT_ITEM_SIZE(RVFLAT_MAX_DIMS));
	bs.tmpcxt = AllocSetContextCreate(CurrentMemoryContext, "rvflat build tuple",
									  ALLOCSET_DEFAULT_SIZES);

	metabuf = new_page(index, MAIN_FORKNUM, RVFLAT_PAGE_META);
	Assert(BufferGetBlockNumber(metabuf) == RVFLAT_METAPAGE_BLKNO);
	rvflat_init_meta(BufferGetPage(metabuf), 0);
	MarkBufferDirty(metabuf);
	UnlockReleaseBuffer(metabuf);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, RVFLAT_PHASE_LOAD);
	if (heap->rd_rel->reltuples > 0)
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
									 (int64) heap->rd_rel->reltuples);
	reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
									   build_callback, &bs, NULL);
	last_data = BufferIsValid(bs.buf) ? BufferGetBlockNumber(bs.buf) : InvalidBlockNumber;
	flush_page(&bs);

	metabuf = ReadBuffer(index, RVFLAT_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	RvflatPageGetMeta(BufferGetPage(metabuf))->dims = bs.dims;
	RvflatPageGetMeta(BufferGetPage(metabuf))->insert_blkno = last_data;
	RvflatPageGetMeta(BufferGetPage(metabuf))->space = bs.spaces.space;
	RvflatPageGetMeta(BufferGetPage(metabuf))->space2 = bs.spaces.space2;
	MarkBufferDirty(metabuf);
	UnlockReleaseBuffer(metabuf);

	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0, RelationGetNumberOfBlocks(index), true);

	MemoryContextDelete(bs.tmpcxt);
	pfree(bs.item);

	result = (IndexBuildResult *) palloc(sizeof(IndexBuildResult));
	result->heap_tuples = reltuples;
	result->index_tuples = bs.indtuples;
	return result;
}

/*
 * The init fork of an unlogged rvflat index: an empty metapage, WAL-logged as a full page
 * image (generic WAL writes nothing for an unlogged relation, and a crash before the next
 * checkpoint would leave the init fork zeroed).
 */
void
rvflatbuildempty(Relation index)
{
	int			dims = rvflat_typmod_dims(index);
	Buffer		metabuf = new_page(index, INIT_FORKNUM, RVFLAT_PAGE_META);

	START_CRIT_SECTION();
	rvflat_init_meta(BufferGetPage(metabuf), dims);
	MarkBufferDirty(metabuf);
	log_newpage_buffer(metabuf, true);
	END_CRIT_SECTION();
	UnlockReleaseBuffer(metabuf);
}
