/*
 * rvflatvacuum.c — VACUUM for rvflat: ambulkdelete asks the callback about every item's
 * heap TID, page by page, and removes the dead ones with PageIndexMultiDelete (the page is
 * compacted, one generic WAL record per changed page); the metapage's change counter is
 * bumped afterwards when anything was removed. CREATE INDEX CONCURRENTLY's validation goes
 * through the same function with a callback that collects every TID. Space freed in a page
 * before the last one is not reused by inserts (they append); REINDEX packs the index again.
 */
#include "postgres.h"

#include "commands/vacuum.h"
#include "miscadmin.h"

#include "rvflat.h"

/* Bump the metapage's change counter (WAL-logged). */
void
rvflat_bump_change_count(Relation index)
{
	Buffer		metabuf = ReadBuffer(index, RVFLAT_METAPAGE_BLKNO);
	GenericXLogState *state;
	Page		page;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, metabuf, 0);
	RvflatPageGetMeta(page)->change_count++;
	GenericXLogFinish(state);
	UnlockReleaseBuffer(metabuf);
}

/* Remove the items whose heap TIDs the callback reports as deletable. */
IndexBulkDeleteResult *
rvflatbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				 IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber blk;
	OffsetNumber *dead = palloc(sizeof(OffsetNumber) * MaxOffsetNumber);
	double		removed = 0;

	if (stats == NULL)
		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
	stats->num_index_tuples = 0;

	/* data pages are only appended and never freed, so nblocks covers all of them */
	for (blk = RVFLAT_METAPAGE_BLKNO + 1; blk < nblocks; blk++)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber off;
		OffsetNumber maxoff;
		int			ndead = 0;

		vacuum_delay_point();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL, info->strategy);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		maxoff = PageGetMaxOffsetNumber(page);
		for (off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		iid = PageGetItemId(page, off);
			RvflatItem *item;

			if (!ItemIdIsNormal(iid))
				continue;
			item = (RvflatItem *) PageGetItem(page, iid);
			if (callback(&item->tid, callback_state))
				dead[ndead++] = off;
			else
				stats->num_index_tuples += 1;
		}
		if (ndead > 0)
		{
			GenericXLogState *state = GenericXLogStart(index);

			page = GenericXLogRegisterBuffer(state, buf, 0);
			PageIndexMultiDelete(page, dead, ndead);
			GenericXLogFinish(state);
			removed += ndead;
		}
		UnlockReleaseBuffer(buf);
	}
	pfree(dead);

	/* after the data pages are unlocked: inserts lock the metapage first */
	if (removed > 0)
		rvflat_bump_change_count(index);
	stats->tuples_removed += removed;
	stats->num_pages = nblocks;
	stats->estimated_count = false;
	return stats;
}

/* After VACUUM (or ANALYZE): page and tuple counts; counts the items if bulkdelete did not run. */
IndexBulkDeleteResult *
rvflatvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	Relation	index = info->index;
	BlockNumber nblocks;
	BlockNumber blk;

	if (info->analyze_only)
		return stats;
	if (stats != NULL)
		return stats;

	stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
	nblocks = RelationGetNumberOfBlocks(index);
	for (blk = RVFLAT_METAPAGE_BLKNO + 1; blk < nblocks; blk++)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber off;
		OffsetNumber maxoff;

		vacuum_delay_point();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL, info->strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		maxoff = PageGetMaxOffsetNumber(page);
		for (off = FirstOffsetNumber; off <= maxoff; off++)
			if (ItemIdIsNormal(PageGetItemId(page, off)))
				stats->num_index_tuples += 1;
		UnlockReleaseBuffer(buf);
	}
	stats->num_pages = nblocks;
	stats->estimated_count = false;
	return stats;
}
