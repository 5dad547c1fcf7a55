/*
 * rvivfinsert.c — INSERT (and the new row version of an UPDATE) into an rvivf index.
 *
 * The row goes to the list of its nearest centroid, as a build puts it: its code is added
 * to the list's newest page, or to a new page put in front of the list when that one is
 * full. The list's directory entry is locked exclusively for the whole insert (it names
 * the newest page and counts the rows), so inserts into one list are serialized and
 * inserts into lists on other directory pages run side by side. Lock order: metapage (only
 * to fix the dimensions on the first row, or to note a new space tag), then directory
 * page, then list pages. Every changed page goes in one generic WAL record. Centroids
 * never move: inserts never make an index wrong, only, once the data drifts far from
 * what the build saw, slower for the same recall (README: when to REINDEX).
 */
#include "postgres.h"

#include "storage/lmgr.h"
#include "utils/memutils.h"

#include "rvivf.h"

/* Update the metapage: fix dims on the first row; note a new space tag. */
static void
update_meta(Relation index, const Embedding *e)
{
	Buffer		metabuf = ReadBuffer(index, RVIVF_METAPAGE_BLKNO);
	GenericXLogState *state;
	RvivfMetaData *meta;
	Page		page;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = RvivfPageGetMeta(BufferGetPage(metabuf));
	if (meta->dims != 0 && meta->dims != e->dim)
	{
		int			dims = meta->dims;

		UnlockReleaseBuffer(metabuf);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different embedding dimensions %d and %d", dims, e->dim),
				 errdetail("Index \"%s\" holds embeddings of %d dimensions.",
						   RelationGetRelationName(index), dims)));
	}
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, metabuf, 0);
	meta = RvivfPageGetMeta(page);
	if (meta->dims == 0)
	{
		meta->dims = e->dim;
		meta->pd = (int) rv_ivf_padded_dims(e->dim);
	}
	{
		RvflatMetaData pair = {.space = meta->space,.space2 = meta->space2};

		(void) rvflat_meta_note_space(&pair, e->space);
		meta->space = pair.space;
		meta->space2 = pair.space2;
	}
	GenericXLogFinish(state);
	UnlockReleaseBuffer(metabuf);
}

/* Insert one heap tuple's vector (NULLs are not indexed). */
bool
rvivfinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
			Relation heap pg_attribute_unused(),
			IndexUniqueCheck checkUnique pg_attribute_unused(),
			bool indexUnchanged pg_attribute_unused(),
			IndexInfo *indexInfo pg_attribute_unused())
{
	MemoryContext cxt;
	MemoryContext old;
	Embedding  *e;
	RvivfMetaData meta;
	RvflatMetaData pair;
	const float *centroids;
	float	   *xp;
	float	   *zero = NULL;
	RvivfItem  *item;
	Size		size;
	int			l;
	Buffer		dirbuf;
	Buffer		buf = InvalidBuffer;
	Buffer		newbuf = InvalidBuffer;
	GenericXLogState *state;
	Page		dpage;
	RvivfListData *entry;

	if (isnull[0])
		return false;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "rvivf insert", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	e = DatumGetEmbedding(values[0]);

	rvivf_read_meta(index, &meta);
	pair.space = meta.space;
	pair.space2 = meta.space2;
	if (meta.dims != e->dim || rvflat_meta_note_space(&pair, e->space))
	{
		update_meta(index, e);
		rvivf_read_meta(index, &meta);
	}

	xp = rvivf_prepare(&meta, e->x);
	l = rvivf_nearest_list(index, &meta, xp);
	centroids = rvivf_centroids(index, &meta);
	if (centroids == NULL)
		centroids = zero = palloc0(sizeof(float) * meta.pd);
	size = RVIVF_ITEM_SIZE(meta.pd);
	item = palloc0(size);
	item->tid = *heap_tid;
	rv_ivf_encode(xp, centroids + (Size) l * meta.pd, meta.pd, item->code, &item->f);

	dirbuf = ReadBuffer(index, rvivf_dir_block(&meta, l));
	LockBuffer(dirbuf, BUFFER_LOCK_EXCLUSIVE);
	entry = rvivf_dir_entry(BufferGetPage(dirbuf), l);
	if (entry->head != InvalidBlockNumber)
	{
		buf = ReadBuffer(index, entry->head);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		if (PageGetFreeSpace(BufferGetPage(buf)) < MAXALIGN(size))
		{
			UnlockReleaseBuffer(buf);
			buf = InvalidBuffer;
		}
	}
	if (!BufferIsValid(buf))
		newbuf = rvivf_new_buffer(index, MAIN_FORKNUM);

	state = GenericXLogStart(index);
	dpage = GenericXLogRegisterBuffer(state, dirbuf, 0);
	entry = rvivf_dir_entry(dpage, l);
	if (BufferIsValid(buf))
	{
		Page		page = GenericXLogRegisterBuffer(state, buf, 0);

		if (!rvivf_page_add(page, item, size))
			elog(ERROR, "rvivf item of %zu bytes does not fit its page", size);
	}
	else
	{
		Page		page = GenericXLogRegisterBuffer(state, newbuf, GENERIC_XLOG_FULL_IMAGE);

		rvivf_init_page(page, RVIVF_PAGE_LIST);
		RvivfPageGetOpaque(page)->next = entry->head;
		if (!rvivf_page_add(page, item, size))
			elog(ERROR, "rvivf item of %zu bytes does not fit an empty page", size);
		entry->head = BufferGetBlockNumber(newbuf);
	}
	entry->count++;
	GenericXLogFinish(state);

	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
	if (BufferIsValid(newbuf))
		UnlockReleaseBuffer(newbuf);
	UnlockReleaseBuffer(dirbuf);
	if (zero != NULL)
		pfree(zero);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return false;
}
