/*
 * rvivfvacuum.c — VACUUM for rvivf: ambulkdelete walks each list's chain from its
 * directory entry, asks the callback about every item's heap TID and removes the dead
 * ones with PageIndexMultiDelete (one generic WAL record per changed page), then takes
 * them off the list's count. CREATE INDEX CONCURRENTLY's validation goes through the same
 * function with a callback that collects every TID. Freed space in a list's older pages
 * is not reused by inserts (they go to the newest page); REINDEX packs the index again,
 * and retrains its centroids.
 */
#include "postgres.h"

#include "commands/vacuum.h"
#include "miscadmin.h"

#include "rvivf.h"

/* Take removed items off list l's count (WAL-logged). */
static void
uncount(Relation index, const RvivfMetaData *meta, int l, uint32 removed)
{
	Buffer		buf = ReadBuffer(index, rvivf_dir_block(meta, l));
	GenericXLogState *state;
	RvivfListData *entry;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	entry = rvivf_dir_entry(GenericXLogRegisterBuffer(state, buf, 0), l);
	entry->count = entry->count > removed ? entry->count - removed : 0;
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
}

/* The head page of list l. */
static BlockNumber
list_first_page(Relation index, const RvivfMetaData *meta, int l)
{
	Buffer		buf = ReadBuffer(index, rvivf_dir_block(meta, l));
	BlockNumber head;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	head = rvivf_dir_entry(BufferGetPage(buf), l)->head;
	UnlockReleaseBuffer(buf);
	return head;
}

/*
 * Walk every list: count the items, and remove those the callback reports as deletable
 * (callback NULL: count only).
 */
static void
walk_lists(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
		   IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	RvivfMetaData meta;
	OffsetNumber *dead = palloc(sizeof(OffsetNumber) * MaxOffsetNumber);
	int			l;

	rvivf_read_meta(index, &meta);
	for (l = 0; l < meta.nlists; l++)
	{
		BlockNumber blk = list_first_page(index, &meta, l);
		uint32		removed = 0;

		while (blk != InvalidBlockNumber)
		{
			Buffer		buf;
			Page		page;
			OffsetNumber off;
			OffsetNumber maxoff;
			int			ndead = 0;

			vacuum_delay_point();
			buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL, info->strategy);
			LockBuffer(buf, callback != NULL ? BUFFER_LOCK_EXCLUSIVE : BUFFER_LOCK_SHARE);
			page = BufferGetPage(buf);
			maxoff = PageGetMaxOffsetNumber(page);
			for (off = FirstOffsetNumber; off <= maxoff; off++)
			{
				ItemId		iid = PageGetItemId(page, off);
				RvivfItem  *item;

				if (!ItemIdIsNormal(iid))
					continue;
				item = (RvivfItem *) PageGetItem(page, iid);
				if (callback != NULL && callback(&item->tid, callback_state))
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
			blk = RvivfPageGetOpaque(page)->next;
			UnlockReleaseBuffer(buf);
		}
		if (removed > 0)
		{
			uncount(index, &meta, l, removed);
			stats->tuples_removed += removed;
		}
	}
	pfree(dead);
	stats->num_pages = RelationGetNumberOfBlocks(index);
	stats->estimated_count = false;
}

/* Remove the items whose heap TIDs the callback reports as deletable. */
IndexBulkDeleteResult *
rvivfbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				IndexBulkDeleteCallback callback, void *callback_state)
{
	if (stats == NULL)
		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
	stats->num_index_tuples = 0;
	walk_lists(info, stats, callback, callback_state);
	return stats;
}

/* After VACUUM (or ANALYZE): page and tuple counts; counts the items if bulkdelete did not run. */
IndexBulkDeleteResult *
rvivfvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (info->analyze_only || stats != NULL)
		return stats;
	stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
	walk_lists(info, stats, NULL, NULL);
	return stats;
}
