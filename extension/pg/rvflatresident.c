/*
 * rvflatresident.c — the per-backend cache of rvflat indexes kept resident in Vulkan
 * device memory, for the index scans that relvec.device sends to a Vulkan device
 * ("vulkan:N" always; "auto" and "gpu" only a real GPU, never lavapipe: the bridge's
 * rv_resident_device decides, as for every other kernel).
 *
 * An entry is one index as of one state: its key is the index's RelFileNode (which a
 * REINDEX, TRUNCATE or a new index changes) and the metapage's change_count (which every
 * insert, and every VACUUM that removes an item, bumps). A scan reads the metapage; when
 * an entry with that key exists, the scan reads no index page at all. Otherwise the whole
 * index is read once, in block order under share locks, into a host copy (the vectors
 * back to back, the heap TID and the item's block and offset for each, the TIDs of the
 * NULL rows), the vectors are uploaded with rv_resident_create, and the entry replaces
 * any older one of the same index. The change_count is read again after the pages: if an
 * insert or a VACUUM ran meanwhile, the copy is not cached (this scan runs on the CPU).
 *
 * Size: the device holds 4 x dims bytes per row, and the host copy the same plus 16 bytes
 * per row; relvec.resident_mb bounds the device bytes of all entries of a backend. Least
 * recently used entries are evicted beyond that, or beyond RVFLAT_RESIDENT_MAX entries;
 * an index larger than the whole budget is never made resident. An entry in use by a scan
 * is pinned (the pin is dropped by a reset callback of the scan's memory context, so an
 * error cannot leak it); evicting a pinned entry only unlists it, and the last unpin frees
 * it. Everything is freed at backend exit.
 *
 * A lost device or exhausted device memory (RV_E_DEVICE_LOST) drops the entry and gives
 * a NOTICE; the scan then runs on the CPU, and a later scan uploads afresh.
 *
 * Scans on the CPU use the same cache for host copies only (dev NULL), when
 * relvec.rvflat_cache_mb allows: such a scan reads the metapage and then one contiguous
 * array, instead of every page through the buffer manager (whose buffer lookups and page
 * walks cost more than the distances on a 100,000 x 768 index). Off by default, because
 * the copy is per backend.
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "rvflat.h"

/* Most indexes cached at once per backend. */
#define RVFLAT_RESIDENT_MAX 8

static void free_entry(RvflatResident *e);

static int	resident_mb = 512;
static int	cache_mb = 0;
static RvflatResident *entries[RVFLAT_RESIDENT_MAX];
static int	nentries = 0;
static uint64 use_clock = 0;
static bool exit_hook = false;

/* relvec.resident_mb (called from _PG_init). */
void
rvflat_define_resident_guc(void)
{
	DefineCustomIntVariable("relvec.resident_mb",
							"Device memory, in megabytes, that rvflat indexes kept resident on a "
							"Vulkan device may use in one backend.",
							"Least recently used indexes are evicted beyond it; an index larger "
							"than it is scanned on the CPU. 0 turns residency off.",
							&resident_mb, 512, 0, INT_MAX / 2, PGC_USERSET, GUC_UNIT_MB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("relvec.rvflat_cache_mb",
							"Backend memory, in megabytes, for host copies of rvflat indexes "
							"scanned on the CPU.",
							"A cached index is scanned from one contiguous copy instead of "
							"through shared buffers. 0 (the default) turns the cache off.",
							&cache_mb, 0, 0, INT_MAX / 2, PGC_USERSET, GUC_UNIT_MB,
							NULL, NULL, NULL);
}

void
rvflat_resident_free(RvflatResident *e)
{
	free_entry(e);
}

/* Free an entry that no list holds and no scan pins. */
static void
free_entry(RvflatResident *e)
{
	if (e->dev != NULL)
		rv_resident_destroy(rvpg_ctx(), e->dev);
	MemoryContextDelete(e->cxt);
}

/* Take entry i out of the list; free it unless a scan holds it. */
static void
evict(int i)
{
	RvflatResident *e = entries[i];

	entries[i] = entries[--nentries];
	entries[nentries] = NULL;
	e->listed = false;
	if (e->pins == 0)
		free_entry(e);
}

/* Backend exit: release every entry's device memory. */
static void
free_all(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	while (nentries > 0)
		evict(nentries - 1);
}

/* Device bytes of the listed entries. */
static Size
listed_bytes(void)
{
	Size		s = 0;
	int			i;

	for (i = 0; i < nentries; i++)
		s += entries[i]->bytes;
	return s;
}

/* Evict least recently used entries until `bytes` more fit the budget and a slot is free. */
static void
make_room(Size bytes, Size budget)
{
	while (nentries > 0 && (nentries >= RVFLAT_RESIDENT_MAX || listed_bytes() + bytes > budget))
	{
		int			lru = 0;
		int			i;

		for (i = 1; i < nentries; i++)
			if (entries[i]->last_used < entries[lru]->last_used)
				lru = i;
		evict(lru);
	}
}

/* Drop a pin (a reset callback of the pinning scan's memory context). */
static void
unpin(void *arg)
{
	RvflatResident *e = (RvflatResident *) arg;

	if (--e->pins == 0 && !e->listed)
		free_entry(e);
}

/* Pin e for as long as memory context cxt lives. */
static void
pin(RvflatResident *e, MemoryContext cxt)
{
	MemoryContextCallback *cb = MemoryContextAlloc(cxt, sizeof(MemoryContextCallback));

	cb->func = unpin;
	cb->arg = e;
	e->pins++;
	MemoryContextRegisterResetCallback(cxt, cb);
	e->last_used = ++use_clock;
}

/* The metapage's dims and change_count. */
void
rvflat_read_meta(Relation index, int *dims, uint64 *change_count)
{
	Buffer		buf = ReadBuffer(index, RVFLAT_METAPAGE_BLKNO);
	RvflatMetaData *meta;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	meta = RvflatPageGetMeta(BufferGetPage(buf));
	*dims = meta->dims;
	*change_count = meta->change_count;
	UnlockReleaseBuffer(buf);
}

/*
 * Read every data page of index into a new, unlisted entry. Its context lives under the
 * caller's until the entry is listed, so an error while reading (a cancel, an invalid
 * item) frees it.
 */
RvflatResident *
rvflat_read_index(Relation index, int dims)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "rvflat resident",
											  ALLOCSET_DEFAULT_SIZES);
	RvflatResident *e = MemoryContextAllocZero(cxt, sizeof(RvflatResident));
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber blk;
	Size		cap,
				nullcap = 0;
	BufferAccessStrategy strategy = NULL;

	e->cxt = cxt;
	e->node = index->rd_node;
	e->dims = dims;
	cap = Max((Size) 64, (Size) nblocks * ((BLCKSZ - SizeOfPageHeaderData) /
										   (MAXALIGN(RVFLAT_ITEM_SIZE(dims)) + sizeof(ItemIdData))));
	e->x = MemoryContextAllocHuge(cxt, cap * dims * sizeof(float));
	e->tids = MemoryContextAllocHuge(cxt, cap * sizeof(ItemPointerData));
	e->where = MemoryContextAllocHuge(cxt, cap * sizeof(ItemPointerData));
	if (nblocks > (BlockNumber) NBuffers)
		strategy = GetAccessStrategy(BAS_BULKREAD);

	for (blk = RVFLAT_METAPAGE_BLKNO + 1; blk < nblocks; blk++)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber off,
					maxoff;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL, strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		maxoff = PageGetMaxOffsetNumber(page);
		if (e->n + maxoff > cap)
		{
			cap = Max(cap * 2, e->n + maxoff);
			e->x = repalloc_huge(e->x, cap * dims * sizeof(float));
			e->tids = repalloc_huge(e->tids, cap * sizeof(ItemPointerData));
			e->where = repalloc_huge(e->where, cap * sizeof(ItemPointerData));
		}
		for (off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		iid = PageGetItemId(page, off);
			RvflatItem *item;

			if (!ItemIdIsNormal(iid))
				continue;
			item = (RvflatItem *) PageGetItem(page, iid);
			rvflat_check_item(index, iid, item, dims);
			if (item->flags & RVFLAT_ITEM_NULL)
			{
				if (e->nnulls >= nullcap)
				{
					nullcap = Max(nullcap * 2, (Size) 64);
					e->nulls = e->nulls == NULL
						? MemoryContextAllocHuge(cxt, nullcap * sizeof(ItemPointerData))
						: repalloc_huge(e->nulls, nullcap * sizeof(ItemPointerData));
				}
				e->nulls[e->nnulls++] = item->tid;
				continue;
			}
			memcpy(e->x + e->n * dims, item->x, dims * sizeof(float));
			e->tids[e->n] = item->tid;
			ItemPointerSet(&e->where[e->n], blk, off);
			e->n++;
		}
		UnlockReleaseBuffer(buf);
	}
	if (strategy != NULL)
		FreeAccessStrategy(strategy);
	/* each row's squared norm: the CPU's lower bounds need it (rv_lower_bounds) */
	e->xn2 = MemoryContextAllocHuge(cxt, Max(e->n, (Size) 1) * sizeof(double));
	for (cap = 0; cap < e->n; cap++)
		e->xn2[cap] = rv_norm2(e->x + cap * dims, dims);
	return e;
}

/* Report a lost device and go on without it. */
static void
notice_fallback(rv_ctx *ctx)
{
	ereport(NOTICE,
			(errmsg("%s, running the rvflat scan on the CPU instead", rv_errmsg(ctx)),
			 errdetail("%s", rv_errdetail(ctx))));
	rv_clear_error(ctx);
}

/*
 * The resident copy of index (dims dimensions, as the caller read from the metapage),
 * pinned for the life of memory context pin_cxt, or NULL when the scan should read the
 * index pages: no Vulkan device chosen and no host cache, residency off or over budget,
 * no vector rows, an index that changed while it was read, a lost device (after a
 * NOTICE). An entry without a device copy (dev NULL) is a host copy for a CPU scan.
 */
RvflatResident *
rvflat_resident_get(Relation index, int dims, MemoryContext pin_cxt)
{
	rv_ctx	   *ctx = rvpg_ctx();
	Size		budget = (Size) resident_mb * 1024 * 1024;
	RvflatResident *e;
	uint64		count,
				count_after;
	int			meta_dims;
	int			dev;
	int			i;
	rv_status	st;
	BlockNumber nblocks;

	if (dims <= 0)
		return NULL;
	rvflat_read_meta(index, &meta_dims, &count);
	if (meta_dims != dims)
		return NULL;
	nblocks = RelationGetNumberOfBlocks(index);
	/* the server's device owner, when there is one: its device, the shared host copy */
	if (rvflat_owner_wanted((Size) nblocks * (BLCKSZ / sizeof(float)) / dims, dims))
	{
		e = rvflat_shared_get(index, dims, count, pin_cxt);
		if (e != NULL)
			e->remote = true;
		return e;
	}
	/*
	 * the device choice sees the index's size: auto mode keeps a small one on the CPU; and
	 * where the server's device owner found no GPU, auto needs no look of its own
	 */
	if (budget > 0 && !rvflat_owner_says_cpu())
		RVPG_CHECK(rv_resident_device(ctx, (size_t) nblocks * (BLCKSZ / sizeof(float)) / dims,
									  dims, &dev));
	else
		dev = -1;
	if (dev < 0)
	{
		/* the CPU: the server's shared copy when relvec is preloaded (rvflatshared.c) */
		if (rvflat_shared_enabled())
			return rvflat_shared_get(index, dims, count, pin_cxt);
		/* else a host copy of this backend's, under its own budget */
		budget = (Size) cache_mb * 1024 * 1024;
		if (budget == 0)
			return NULL;
	}

	for (i = 0; i < nentries; i++)
	{
		e = entries[i];
		if (!RelFileNodeEquals(e->node, index->rd_node))
			continue;
		if (e->change_count == count && e->dims == dims &&
			(dev < 0 ? e->dev == NULL :
			 e->dev != NULL && rv_resident_alive(e->dev) && rv_resident_device_index(e->dev) == dev))
		{
			pin(e, pin_cxt);
			return e;
		}
		/* an older state of this index (or a released device copy): replace it */
		evict(i);
		break;
	}

	if (!exit_hook)
	{
		on_proc_exit(free_all, (Datum) 0);
		exit_hook = true;
	}
	e = rvflat_read_index(index, dims);
	rvflat_read_meta(index, &meta_dims, &count_after);
	e->change_count = count;
	e->bytes = e->n * dims * sizeof(float);
	if (count_after != count || e->n == 0 || e->bytes > budget)
	{
		free_entry(e);
		return NULL;
	}
	if (e->nnulls > 1)
		qsort(e->nulls, e->nnulls, sizeof(ItemPointerData), rvflat_tid_cmp);

	make_room(e->bytes, budget);
	st = dev < 0 ? RV_OK : rv_resident_create(ctx, e->x, e->n, dims, &e->dev);
	if (st != RV_OK)
	{
		e->dev = NULL;
		free_entry(e);
		if (st == RV_E_DEVICE_LOST)
		{
			notice_fallback(ctx);
			return NULL;
		}
		rvpg_raise(st);
	}
	e->listed = true;
	MemoryContextSetParent(e->cxt, TopMemoryContext);
	entries[nentries++] = e;
	pin(e, pin_cxt);
	return e;
}

/* Drop a listed entry whose device copy was lost (its pins still hold the host copy). */
void
rvflat_resident_lost(RvflatResident *e)
{
	int			i;

	notice_fallback(rvpg_ctx());
	for (i = 0; i < nentries; i++)
		if (entries[i] == e)
		{
			evict(i);
			break;
		}
}
