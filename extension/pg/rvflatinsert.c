/*
 * rvflatinsert.c — INSERT (and the new row version of an UPDATE) into an rvflat index.
 *
 * The metapage is locked exclusively for the whole insert: it names the page that takes
 * inserts, it fixes the dimensions on the first vector, and its change counter is bumped
 * by every insert (a resident copy of the index elsewhere is stale once it moves). Lock
 * order is always metapage, then data page. The vector goes to the last data page, or to
 * a new page when that one is full; all changed pages go in one generic WAL record.
 */
#include "postgres.h"

#include "storage/lmgr.h"
#include "utils/memutils.h"

#include "rvflat.h"

/* Append an item to a page; false if it does not fit. */
bool
rvflat_page_add(Page page, const RvflatItem *item, Size size)
{
	if (PageGetFreeSpace(page) < MAXALIGN(size))
		return false;
	if (PageAddItem(page, (Item) item, size, InvalidOffsetNumber, false, false) ==
		InvalidOffsetNumber)
		elog(ERROR, "failed to add an item to an rvflat page");
	return true;
}

/* Insert one heap tuple's vector, or a NULL marker. */
bool
rvflatinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
			 Relation heap pg_attribute_unused(),
			 IndexUniqueCheck checkUnique pg_attribute_unused(),
			 bool indexUnchanged pg_attribute_unused(),
			 IndexInfo *indexInfo pg_attribute_unused())
{
	MemoryContext cxt;
	MemoryContext old;
	Embedding  *e = NULL;
	RvflatItem *item;
	Size		size;
	Buffer		metabuf;
	Buffer		buf = InvalidBuffer;
	GenericXLogState *state;
	Page		metapage;
	RvflatMetaData *meta;
	Page		page;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "rvflat insert", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	if (isnull[0])
	{
		size = RVFLAT_ITEM_SIZE(0);
		item = palloc0(size);
		item->flags = RVFLAT_ITEM_NULL;
	}
	else
	{
		e = rvflat_value(values[0]);
		rvflat_check_dims(index, 0, e->dim);
		size = RVFLAT_ITEM_SIZE(e->dim);
		item = palloc0(size);
		memcpy(item->x, e->x, sizeof(float) * e->dim);
	}
	item->tid = *heap_tid;

	metabuf = ReadBuffer(index, RVFLAT_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = RvflatPageGetMeta(BufferGetPage(metabuf));
	if (e != NULL && meta->dims != 0 && meta->dims != e->dim)
	{
		int			dims = meta->dims;

		UnlockReleaseBuffer(metabuf);
		rvflat_check_dims(index, dims, e->dim);
	}

	/* the last data page, if the item fits there */
	if (meta->insert_blkno != InvalidBlockNumber)
	{
		buf = ReadBuffer(index, meta->insert_blkno);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		if (PageGetFreeSpace(BufferGetPage(buf)) < MAXALIGN(size))
		{
			UnlockReleaseBuffer(buf);
			buf = InvalidBuffer;
		}
	}

	state = GenericXLogStart(index);
	metapage = GenericXLogRegisterBuffer(state, metabuf, 0);
	meta = RvflatPageGetMeta(metapage);
	if (BufferIsValid(buf))
		page = GenericXLogRegisterBuffer(state, buf, 0);
	else
	{
		/* only inserters extend, and they hold the metapage; the lock is for readers */
		LockRelationForExtension(index, ExclusiveLock);
		buf = ReadBuffer(index, P_NEW);
		UnlockRelationForExtension(index, ExclusiveLock);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE);
		rvflat_init_page(page, RVFLAT_PAGE_DATA);
		meta->insert_blkno = BufferGetBlockNumber(buf);
	}
	if (!rvflat_page_add(page, item, size))
		elog(ERROR, "rvflat item of %zu bytes does not fit its page", size);
	if (e != NULL)
	{
		meta->dims = e->dim;
		(void) rvflat_meta_note_space(meta, e->space);
	}
	meta->change_count++;
	GenericXLogFinish(state);

	UnlockReleaseBuffer(buf);
	UnlockReleaseBuffer(metabuf);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return false;
}
