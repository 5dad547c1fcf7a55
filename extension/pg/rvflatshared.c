/*
 * rvflatshared.c — one host copy of each rvflat index for every backend of the server, in
 * dynamic shared memory, when relvec is in shared_preload_libraries.
 *
 * Without it every backend scans the index pages through the buffer manager, or keeps a
 * private host copy (relvec.rvflat_cache_mb, rvflatresident.c) that costs its size in every
 * backend that sets it. Preloaded, the postmaster reserves a small control block (a lock
 * and a fixed table of entries) and the first backend that needs it creates a DSA area,
 * pinned for the life of the server, bounded by relvec.shared_cache_mb. An entry is one
 * index as of one state, keyed exactly as the per-backend cache is: the index's
 * RelFileNode (a REINDEX, TRUNCATE or new index changes it; it holds the database) and the
 * metapage's change_count (every insert, and every VACUUM that removes an item, bumps it).
 *
 * A scan reads the metapage. A ready entry with that key is pinned (a counter in the entry)
 * for the scan and its contiguous arrays are read in place: the scan computes every exact
 * distance from them (same function, same bits, same order as reading the pages). Without
 * one, the scan that finds it missing claims a slot, reads the pages into local memory,
 * checks change_count again (an insert or VACUUM meanwhile makes the copy stale: it is not
 * kept), copies it into one DSA allocation and publishes it; every other scan of that
 * index meanwhile reads the pages: nothing ever waits for a copy. A stale entry is dropped
 * at once, or, while scans pin it, when the last one unpins. When the area is full, least
 * recently used unpinned entries are evicted; an index that does not fit even then is
 * scanned from its pages.
 *
 * With the floats, a copy holds int8 codes of its rows (rv_codes8_encode; not for L1,
 * whose distance has no inner-product form), in the same allocation. A scan of the copy,
 * alone or in a batch, then bounds every distance from them (rv_codes8_bounds: exact
 * integer products, a quarter of the bytes) and recomputes exactly what a bound cannot
 * rule out, when relvec.int8_bounds says so (auto: where the CPU has AVX-512 VNNI).
 *
 * Pins are dropped by a reset callback of the scan's memory context (an error cannot leak
 * one) and, for a backend that exits holding some, by a before_shmem_exit hook. A builder
 * that fails releases its claimed slot in a PG_CATCH.
 *
 * Dynamic batching. A scan of a copy needs the exact distance from its query to every
 * row: alone, one pass over the copy per query, bound by memory bandwidth. When scans of
 * the same copy already keep every core busy (or relvec.batch_min_active of them run), a
 * scan opens a batch on the entry and waits up to relvec.batch_wait_us (or until every scan
 * holding the copy has joined) for others to join (up to relvec.batch_size queries); the
 * batch then closes and every member works on it: rows are cut into chunks, each member claims
 * chunks (an atomic counter) and computes every member's distances for its chunk while
 * the rows are in its cache. One pass over memory serves the whole batch, and the work is
 * shared by every core that has a member. Of each chunk a batch keeps, per member, only
 * the 64 smallest values (each the float at or below the distance of the same function on
 * the same floats) and a bound of the others: about 0.8 MB for 16 queries over 100,000
 * rows, where every value would take 6.4 MB. Each member then gives its scan every row's
 * lower bound from them (a kept row its own, any other its chunk's bound), from which the
 * scan recomputes exactly the rows it returns and those a bound cannot rule out.
 * A batch of BATCH_GEMM_MIN queries or more computes instead a lower bound of every exact
 * distance, from the int8 codes or from float32 inner products per block of rows
 * (rv_lower_bounds), and each scan recomputes
 * with the operator's function only the rows a bound does not rule out (rvflatscan.c's
 * lower-bound heap, as for a device copy): the same answer from a compute-bound pass.
 * A member that fails while it holds an unfinished chunk (an error, a cancel, a
 * terminate) marks the batch failed and every other member computes its own distances
 * alone: never a wait without bound, never a wrong answer. Waits check interrupts.
 */
#include "postgres.h"

#include <math.h>
#include <unistd.h>

#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/dsa.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
#include "funcapi.h"

#include "rvflat.h"

/* Indexes the shared cache holds at most. */
#define SHARED_ENTRIES 64

typedef enum SharedState
{
	SLOT_FREE = 0,
	SLOT_BUILDING,				/* a backend is reading the pages */
	SLOT_READY,
	SLOT_DEAD					/* stale, freed when the last pin goes */
} SharedState;

typedef struct SharedEntry
{
	SharedState state;
	RelFileNode node;
	uint64		change_count;
	int			dims;
	uint64		n;				/* rows with a vector */
	uint64		nnulls;
	Size		bytes;			/* of the allocation */
	dsa_pointer data;			/* xn2 (n), x (n x dims), tids (n), nulls (nnulls), and from
								 * codes_off the int8 codes and their rows */
	Size		codes_off;		/* 0: no codes (an L1 index) */
	Size		cones_off;		/* 0: no cones (not cosine, or few rows) */
	uint64		ncones;
	pg_atomic_uint64 cone_scans;	/* scans of this state through its cones */
	pg_atomic_uint64 cone_rows;		/* ... and the rows they bounded */
	int			pins;
	uint64		last_used;
	uint64		hits;
	Oid			indexrelid;		/* for the relvec_cache view */
	int			active;			/* scans computing distances over it now */
	dsa_pointer batch;			/* the batch open for joining, if any */
	uint64		batches;		/* batches of two queries or more run on it */
	uint64		batched;		/* queries those batches answered */
} SharedEntry;

typedef struct SharedCache
{
	LWLock	   *lock;
	int			tranche;		/* the DSA area's LWLock tranche */
	dsa_handle	area;			/* DSM_HANDLE_INVALID until the first use */
	uint64		clock;
	uint64		hits;
	uint64		misses;
	uint64		builds;
	uint64		evictions;
	uint64		too_big;
	uint64		batches;
	uint64		batched;
	uint64		gemm_batches;	/* ... that computed lower bounds (rv_lower_bounds) */
	int			largest_batch;
	pg_atomic_uint64 cone_scans;	/* scans through a copy's cones (cone_pass) */
	pg_atomic_uint64 cone_rows;		/* ... and the rows they bounded */
	SharedEntry entries[SHARED_ENTRIES];
} SharedCache;

static SharedCache *shared = NULL;
static dsa_area *area = NULL;
static int	shared_cache_mb = 1024;
static int	batch_size = 16;
static int	batch_wait_us = 20000;
static int	batch_min_active = -1;

/* relvec.int8_bounds: whether scans of a shared copy bound distances from its int8 codes */
typedef enum Int8Bounds
{
	INT8_AUTO,					/* where the CPU has AVX-512 VNNI */
	INT8_ON,					/* always (plain C elsewhere: the same answers, slower) */
	INT8_OFF					/* float32 products (rv_lower_bounds) */
} Int8Bounds;

static const struct config_enum_entry int8_bounds_options[] = {
	{"auto", INT8_AUTO, false},
	{"on", INT8_ON, false},
	{"off", INT8_OFF, false},
	{NULL, 0, false}
};
static int	int8_bounds = INT8_AUTO;
static bool cone_scan = true;
static bool preloaded = false;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* The pins this backend holds: the slot and the data pinned (a pinned slot keeps its data). */
typedef struct LocalPin
{
	int			slot;
	dsa_pointer data;
	bool		held;
} LocalPin;

#define LOCAL_PINS 32
static LocalPin local_pins[LOCAL_PINS];
static bool exit_hook = false;

static void
shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(SharedCache)));
	RequestNamedLWLockTranche("relvec shared cache", 1);
}

static void
shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("relvec shared cache", sizeof(SharedCache), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(SharedCache));
		shared->lock = &(GetNamedLWLockTranche("relvec shared cache"))->lock;
		shared->tranche = LWLockNewTrancheId();
		shared->area = DSM_HANDLE_INVALID;
		pg_atomic_init_u64(&shared->cone_scans, 0);
		pg_atomic_init_u64(&shared->cone_rows, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
rvflat_shared_init(void)
{
	DefineCustomIntVariable("relvec.shared_cache_mb",
							"Shared memory, in megabytes, for the host copies of rvflat indexes that "
							"every backend's scans read (relvec in shared_preload_libraries).",
							"Least recently used copies are evicted beyond it; an index larger than it "
							"is scanned from its pages. 0 turns the shared cache off.",
							&shared_cache_mb, 1024, 0, INT_MAX / 2, PGC_SIGHUP, GUC_UNIT_MB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("relvec.batch_size",
							"Queries one pass over a shared rvflat copy answers at most "
							"(dynamic batching of concurrent scans).",
							"1 turns batching off: every scan makes its own pass.",
							&batch_size, 16, 1, 256, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("relvec.batch_wait_us",
							"Microseconds a scan that opens a batch waits for other scans of the "
							"same shared copy to join it.",
							"It waits only while scans of that copy keep every core busy, and no "
							"longer than until every scan holding the copy has joined.",
							&batch_wait_us, 20000, 0, 1000000, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("relvec.batch_min_active",
							"Scans of a shared rvflat copy that must be computing before a new scan "
							"opens a batch for others to join; -1: the number of CPUs.",
							"Below the number of CPUs a scan may wait (relvec.batch_wait_us) while a "
							"core is idle; 0 opens a batch whenever another scan holds the copy.",
							&batch_min_active, -1, -1, 1024, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("relvec.cone_scan",
							 "Whether scans of a shared copy of a cosine rvflat index visit its "
							 "groups of rows (cones) nearest first and skip those a bound rules out.",
							 "Off: every row is bounded in one pass. The answers are the same.",
							 &cone_scan, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("relvec.int8_bounds",
							 "Whether scans of a shared rvflat copy bound their distances from its "
							 "int8 codes: auto (where the CPU has AVX-512 VNNI), on or off.",
							 "The codes read a quarter of the bytes of the floats; every row a bound "
							 "does not rule out is recomputed exactly, so the answers are the same.",
							 &int8_bounds, INT8_AUTO, int8_bounds_options, PGC_USERSET, 0, NULL,
							 NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
	preloaded = true;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
}

bool
rvflat_shared_enabled(void)
{
	return preloaded && shared != NULL && shared_cache_mb > 0;
}

/* Attach the DSA area (creating it the first time); false if it cannot be. Needs the lock. */
static bool
attach_area(void)
{
	MemoryContext old;

	if (area != NULL)
		return true;
	old = MemoryContextSwitchTo(TopMemoryContext);
	if (shared->area == DSM_HANDLE_INVALID)
	{
		LWLockRegisterTranche(shared->tranche, "relvec shared cache area");
		area = dsa_create(shared->tranche);
		dsa_pin(area);
		shared->area = dsa_get_handle(area);
	}
	else
	{
		LWLockRegisterTranche(shared->tranche, "relvec shared cache area");
		area = dsa_attach(shared->area);
	}
	dsa_pin_mapping(area);
	MemoryContextSwitchTo(old);
	return true;
}

/* Free an entry's data and its slot. Needs the lock. */
static void
free_slot(SharedEntry *e)
{
	if (DsaPointerIsValid(e->data))
		dsa_free(area, e->data);
	memset(e, 0, sizeof(SharedEntry));
	e->data = InvalidDsaPointer;
	e->batch = InvalidDsaPointer;
	e->state = SLOT_FREE;
}

/* Drop a slot's entry: now, or at its last unpin. Needs the lock. */
static void
retire(SharedEntry *e)
{
	if (e->pins > 0)
		e->state = SLOT_DEAD;
	else
		free_slot(e);
}

/* Release one pin. */
static void
unpin_slot(int slot, dsa_pointer data)
{
	SharedEntry *e = &shared->entries[slot];

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	/* the slot still holds what was pinned: a pinned entry is never freed or reused */
	if (e->data == data && e->pins > 0)
	{
		e->pins--;
		if (e->pins == 0 && e->state == SLOT_DEAD)
			free_slot(e);
	}
	LWLockRelease(shared->lock);
}

/* A scan's memory context reset: drop its pin. */
static void
unpin_callback(void *arg)
{
	LocalPin   *p = (LocalPin *) arg;

	if (!p->held)
		return;
	p->held = false;
	unpin_slot(p->slot, p->data);
}

static void batch_exit(void);

/* Backend exit: leave a batch, drop every pin still held. */
static void
unpin_all(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	int			i;

	if (shared == NULL)
		return;
	batch_exit();
	for (i = 0; i < LOCAL_PINS; i++)
		if (local_pins[i].held)
		{
			local_pins[i].held = false;
			unpin_slot(local_pins[i].slot, local_pins[i].data);
		}
}

/* A free local pin record, or NULL when this backend holds too many. */
static LocalPin *
local_pin(void)
{
	int			i;

	if (!exit_hook)
	{
		before_shmem_exit(unpin_all, (Datum) 0);
		exit_hook = true;
	}
	for (i = 0; i < LOCAL_PINS; i++)
		if (!local_pins[i].held)
			return &local_pins[i];
	return NULL;
}

/* A view of a ready, pinned entry for the scan: arrays in place, owned by pin_cxt. */
static RvflatResident *
view_of(SharedEntry *e, int slot, LocalPin *p, MemoryContext pin_cxt)
{
	RvflatResident *r = MemoryContextAllocZero(pin_cxt, sizeof(RvflatResident));
	MemoryContextCallback *cb = MemoryContextAlloc(pin_cxt, sizeof(MemoryContextCallback));
	char	   *base = dsa_get_address(area, e->data);

	p->slot = slot;
	p->data = e->data;
	p->held = true;
	cb->func = unpin_callback;
	cb->arg = p;
	MemoryContextRegisterResetCallback(pin_cxt, cb);

	r->cxt = NULL;				/* not the backend cache's: nothing to free */
	r->node = e->node;
	r->change_count = e->change_count;
	r->dims = e->dims;
	r->n = e->n;
	r->xn2 = (double *) base;
	r->x = (float *) (base + sizeof(double) * e->n);
	r->tids = (ItemPointerData *) ((char *) r->x + sizeof(float) * e->dims * e->n);
	r->nulls = r->tids + e->n;
	r->nnulls = e->nnulls;
	if (e->codes_off > 0)
	{
		r->codes = (const int8_t *) (base + e->codes_off);
		r->code_rows = (const rv_code8_row *) (base + e->codes_off +
											   rv_codes8_bytes(e->n, e->dims));
	}
	if (e->cones_off > 0)
	{
		char	   *c = base + e->cones_off;

		r->ncones = e->ncones;
		r->cent = (const float *) c;
		r->cnorm = (const double *) (c + sizeof(float) * e->ncones * e->dims);
		r->theta = r->cnorm + e->ncones;
		r->cstart = (const uint64 *) (r->theta + e->ncones);
	}
	r->where = NULL;
	r->bytes = e->bytes;
	r->dev = NULL;
	r->shared = true;
	r->slot = slot;
	return r;
}

/* Evict least recently used unpinned ready entries until bytes more fit. Needs the lock. */
static void
make_room(Size bytes)
{
	Size		limit = (Size) shared_cache_mb * 1024 * 1024;

	for (;;)
	{
		Size		used = 0;
		int			lru = -1;
		int			i;

		for (i = 0; i < SHARED_ENTRIES; i++)
		{
			SharedEntry *e = &shared->entries[i];

			if (e->state == SLOT_READY || e->state == SLOT_DEAD)
				used += e->bytes;
			if (e->state == SLOT_READY && e->pins == 0 &&
				(lru < 0 || e->last_used < shared->entries[lru].last_used))
				lru = i;
		}
		if (used + bytes <= limit || lru < 0)
			return;
		free_slot(&shared->entries[lru]);
		shared->evictions++;
	}
}

/*
 * Read the index's pages into *local and copy them into one allocation of the area (*data,
 * invalid when the copy went stale meanwhile, has no vector rows or does not fit), with
 * the rows' int8 codes from *codes_off (0 for an L1 index, whose distance has no
 * inner-product form) and, for a cosine index of RVFLAT_CONES_MIN_ROWS rows or more, its cones
 * from *cones_off (*ncones groups; the rows in group order).
 */
static void
build_copy(Relation index, int dims, uint64 change_count, RvflatResident **local, Size *bytes,
		   dsa_pointer *data, uint64 *count_after, Size *codes_off, Size *cones_off,
		   uint64 *ncones)
{
	RvflatResident *l = rvflat_read_index(index, dims);
	RvflatMetric metric = rvflat_index_metric(index);
	int			meta_dims;
	Size		nbytes = sizeof(double) * l->n;
	Size		xbytes = sizeof(float) * (Size) dims * l->n;
	Size		cbytes = metric != RVFLAT_L1 && l->n > 0 ? rv_codes8_bytes(l->n, dims) : 0;
	Size		limit = (Size) shared_cache_mb * 1024 * 1024;
	RvflatCones cc;

	rvflat_read_meta(index, &meta_dims, count_after);
	memset(&cc, 0, sizeof(cc));
	*local = l;
	*bytes = nbytes + xbytes + sizeof(ItemPointerData) * (l->n + l->nnulls);
	*codes_off = 0;
	*cones_off = 0;
	*ncones = 0;
	if (cbytes > 0)
	{
		*codes_off = TYPEALIGN(64, *bytes);
		*bytes = *codes_off + cbytes + sizeof(rv_code8_row) * l->n;
	}
	*data = InvalidDsaPointer;
	if (*count_after != change_count || l->n == 0 || *bytes > limit)
		return;
	if (metric == RVFLAT_COSINE && l->n >= RVFLAT_CONES_MIN_ROWS)
	{
		rvflat_make_cones(l, dims, &cc);
		if (cc.k > 0 && TYPEALIGN(64, *bytes) + rvflat_cones_bytes(cc.k, dims) <= limit)
		{
			*cones_off = TYPEALIGN(64, *bytes);
			*ncones = cc.k;
			*bytes = *cones_off + rvflat_cones_bytes(cc.k, dims);
		}
		else
			cc.k = 0;
	}
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	make_room(*bytes);
	LWLockRelease(shared->lock);
	*data = dsa_allocate_extended(area, *bytes, DSA_ALLOC_HUGE | DSA_ALLOC_NO_OOM);
	if (DsaPointerIsValid(*data))
	{
		char	   *base = dsa_get_address(area, *data);
		double	   *xn2 = (double *) base;
		float	   *x = (float *) (base + nbytes);
		ItemPointerData *tids = (ItemPointerData *) (base + nbytes + xbytes);

		if (cc.k > 0)
		{
			char	   *c = base + *cones_off;
			Size		i;

			/* the rows in group order */
			for (i = 0; i < l->n; i++)
			{
				Size		from = cc.perm[i];

				xn2[i] = l->xn2[from];
				memcpy(x + i * dims, l->x + from * dims, sizeof(float) * dims);
				tids[i] = l->tids[from];
			}
			memcpy(c, cc.cent, sizeof(float) * cc.k * dims);
			c += sizeof(float) * cc.k * dims;
			memcpy(c, cc.cnorm, sizeof(double) * cc.k);
			c += sizeof(double) * cc.k;
			memcpy(c, cc.theta, sizeof(double) * cc.k);
			c += sizeof(double) * cc.k;
			memcpy(c, cc.cstart, sizeof(uint64) * (cc.k + 2));
		}
		else
		{
			memcpy(xn2, l->xn2, nbytes);
			memcpy(x, l->x, xbytes);
			memcpy(tids, l->tids, sizeof(ItemPointerData) * l->n);
		}
		if (l->nnulls > 0)
			memcpy(tids + l->n, l->nulls, sizeof(ItemPointerData) * l->nnulls);
		if (*codes_off > 0)
		{
			char	   *codes = base + *codes_off;

			/* a cancel while coding: the allocation is not published yet, free it here */
			PG_TRY();
			{
				RVPG_CHECK(rv_codes8_encode(rvpg_ctx(), x, l->n, dims, (int8_t *) codes,
											(rv_code8_row *) (codes + cbytes)));
			}
			PG_CATCH();
			{
				dsa_free(area, *data);
				*data = InvalidDsaPointer;
				PG_RE_THROW();
			}
			PG_END_TRY();
		}
	}
}

RvflatResident *
rvflat_shared_get(Relation index, int dims, uint64 change_count, MemoryContext pin_cxt)
{
	SharedEntry *e;
	volatile int slot = -1;
	int			free_i = -1;
	int			i;
	LocalPin   *p;
	RvflatResident *local = NULL;
	Size		bytes = 0;
	dsa_pointer data = InvalidDsaPointer;
	uint64		count_after = 0;
	Size		codes_off = 0;
	Size		cones_off = 0;
	uint64		ncones = 0;

	if (!rvflat_shared_enabled() || dims <= 0)
		return NULL;
	p = local_pin();
	if (p == NULL)
		return NULL;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	attach_area();
	for (i = 0; i < SHARED_ENTRIES; i++)
	{
		e = &shared->entries[i];
		if (e->state == SLOT_FREE)
		{
			if (free_i < 0)
				free_i = i;
			continue;
		}
		if (e->state == SLOT_DEAD)
			continue;
		if (!RelFileNodeEquals(e->node, index->rd_node))
		{
			/* this index's copy from before a REINDEX or TRUNCATE: no scan will use it */
			if (e->state == SLOT_READY && e->indexrelid == RelationGetRelid(index) &&
				e->node.dbNode == index->rd_node.dbNode)
			{
				retire(e);
				if (e->state == SLOT_FREE && free_i < 0)
					free_i = i;
			}
			continue;
		}
		if (e->change_count == change_count && e->dims == dims)
		{
			if (e->state == SLOT_BUILDING)
			{
				/* another scan is copying this state: read the pages meanwhile */
				shared->misses++;
				LWLockRelease(shared->lock);
				return NULL;
			}
			e->pins++;
			e->hits++;
			e->last_used = ++shared->clock;
			shared->hits++;
			{
				RvflatResident *r = view_of(e, i, p, pin_cxt);

				LWLockRelease(shared->lock);
				return r;
			}
		}
		/* an older state of this index (a building one is its builder's to release) */
		if (e->state == SLOT_READY)
		{
			retire(e);
			if (e->state == SLOT_FREE && free_i < 0)
				free_i = i;
		}
	}
	shared->misses++;
	if (free_i < 0)
	{
		/* every slot taken: the least recently used unpinned ready entry goes */
		for (i = 0; i < SHARED_ENTRIES; i++)
		{
			e = &shared->entries[i];
			if (e->state == SLOT_READY && e->pins == 0 &&
				(free_i < 0 || e->last_used < shared->entries[free_i].last_used))
				free_i = i;
		}
		if (free_i < 0)
		{
			LWLockRelease(shared->lock);
			return NULL;
		}
		free_slot(&shared->entries[free_i]);
		shared->evictions++;
	}
	slot = free_i;
	e = &shared->entries[slot];
	e->state = SLOT_BUILDING;
	e->node = index->rd_node;
	e->change_count = change_count;
	e->dims = dims;
	e->indexrelid = RelationGetRelid(index);
	e->data = InvalidDsaPointer;
	LWLockRelease(shared->lock);

	/* read the pages into local memory, then one allocation in the area */
	{
		volatile int vslot = slot;

		PG_TRY();
		{
			build_copy(index, dims, change_count, &local, &bytes, &data, &count_after,
					   &codes_off, &cones_off, &ncones);
		}
		PG_CATCH();
		{
			LWLockAcquire(shared->lock, LW_EXCLUSIVE);
			free_slot(&shared->entries[vslot]);
			LWLockRelease(shared->lock);
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	e = &shared->entries[slot];

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (!DsaPointerIsValid(data))
	{
		if (count_after == change_count && local->n > 0)
			shared->too_big++;
		free_slot(e);
		LWLockRelease(shared->lock);
		rvflat_resident_free(local);
		return NULL;
	}
	e->data = data;
	e->codes_off = codes_off;
	e->cones_off = cones_off;
	e->ncones = ncones;
	pg_atomic_init_u64(&e->cone_scans, 0);
	pg_atomic_init_u64(&e->cone_rows, 0);
	e->n = local->n;
	e->nnulls = local->nnulls;
	e->bytes = bytes;
	e->state = SLOT_READY;
	e->pins = 1;
	e->last_used = ++shared->clock;
	shared->builds++;
	{
		RvflatResident *r = view_of(e, slot, p, pin_cxt);

		LWLockRelease(shared->lock);
		rvflat_resident_free(local);
		return r;
	}
}

/*
 * Dynamic batching (see the head of this file). A batch lives in one allocation of the
 * area; its members are counted in refs and the last to leave frees it.
 */
typedef enum BatchState
{
	BATCH_COLLECTING,			/* open: scans may join */
	BATCH_RUNNING,				/* closed: members compute chunks */
	BATCH_FAILED				/* every member computes alone */
} BatchState;

/* Rows per chunk: every member's query against rows still in the cache. */
#define BATCH_CHUNK 1024
/*
 * Fewest queries for which a batch computes lower bounds (rv_lower_bounds: float32 inner
 * products, a few exact rechecks) rather than every exact distance: from two queries on,
 * the bounded pass reads each row once for every four queries where the exact one
 * recomputes each pair in full (bench/run-serving-bench.sh measures the whole path).
 */
#define BATCH_GEMM_MIN 2

typedef struct BatchBlock
{
	BatchState	state;
	int			refs;			/* members that have not left */
	int			nq;				/* queries joined */
	int			cap;
	int			dims;
	RvflatMetric metric;
	bool		bounds;			/* lower bounds (rv_lower_bounds), else exact distances;
								 * the leader decides when it closes the batch */
	Size		n;
	uint32		nchunks;
	pg_atomic_uint32 next_chunk;
	pg_atomic_uint32 done_chunks;
	dsa_pointer dist;			/* what each member keeps of each chunk (batch_keep_bytes),
								 * allocated when the batch closes */
	ConditionVariable cv;
	float		q[FLEXIBLE_ARRAY_MEMBER];	/* cap x dims */
} BatchBlock;

/* The batch this backend is a member of (for the exit hook), and whether it owes a chunk. */
static dsa_pointer my_batch = InvalidDsaPointer;
static int	my_slot = -1;
static bool my_leader = false;
static bool my_working = false;
static int	ncpu = 0;			/* online cores, read once */

/*
 * Whether bounds over r come from its int8 codes (relvec.int8_bounds). A batch's chunks
 * and a scan alone start at a multiple of 16 rows, as rv_codes8_bounds needs.
 */
static bool
use_codes(const RvflatResident *r, RvflatMetric metric)
{
	if (r->codes == NULL || metric == RVFLAT_L1 || int8_bounds == INT8_OFF)
		return false;
	return int8_bounds == INT8_ON || rv_codes8_fast();
}

/*
 * Rows base+lo..base+hi-1 of r for nq queries (q, nq x dims): their exact distances or
 * (bounds) their lower bounds (from the int8 codes when use_codes says so), into
 * out[j * ldout + row - base].
 */
static void
pass_rows(const RvflatResident *r, RvflatMetric metric, bool bounds, const float *q, int nq,
		  Size lo, Size hi, double *out, Size ldout, Size base)
{
	Size		i;
	int			j;

	if (bounds && use_codes(r, metric))
	{
		RVPG_CHECK(rv_codes8_bounds(rvpg_ctx(), (rv_metric) metric, r->codes, r->code_rows,
									r->xn2, r->n, r->dims, base + lo, hi - lo, q, nq, out + lo,
									ldout));
		return;
	}
	if (bounds)
	{
		RVPG_CHECK(rv_lower_bounds(rvpg_ctx(), (rv_metric) metric,
								   r->x + (base + lo) * r->dims, r->xn2 + base + lo, hi - lo,
								   r->dims, q, nq, out + lo, ldout));
		return;
	}
	for (i = lo; i < hi; i++)
	{
		const float *row = r->x + (base + i) * r->dims;

		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		for (j = 0; j < nq; j++)
			out[(Size) j * ldout + i] = rvflat_distance(metric, q + (Size) j * r->dims, row,
														r->dims);
	}
}

/*
 * The float at or below x (NaN stays NaN): a lower bound, or an exact distance, kept in
 * half the bytes and still a lower bound (the scan recomputes what a bound cannot rule
 * out, rvflatscan.c).
 */
static inline float
float_at_or_below(double x)
{
	float		f = (float) x;

	return (double) f > x ? nextafterf(f, -INFINITY) : f;
}

/*
 * What a batch keeps of a chunk for one member: its BATCH_TOP smallest values (as floats
 * at or below them; a NaN as -inf, so the scan recomputes it first) with their rows in
 * the chunk, and a bound of the others. The scan needs no more: the rows it returns come
 * from the smallest values of the whole copy, and every smallest of the copy is among
 * the smallest of its chunk; the other rows keep their chunk's bound, which the scan
 * recomputes past only when it goes that far (rvflatscan.c).
 */
#define BATCH_TOP 64

typedef struct BatchCand
{
	float		lb;
	uint32		row;			/* within the chunk */
} BatchCand;

/*
 * Bytes of a batch's kept values: per chunk and member, BATCH_TOP candidates (all of them
 * filled, but for a last chunk of fewer rows, which keeps its every row) and the rest.
 */
static inline Size
batch_keep_bytes(Size nchunks, int nq)
{
	return nchunks * (Size) nq * (BATCH_TOP * sizeof(BatchCand) + sizeof(float));
}

/* The kept values of (chunk c, member j) in the region at d. */
static inline BatchCand *
keep_cands(char *d, Size c, int j, int nq)
{
	return (BatchCand *) d + (c * (Size) nq + j) * BATCH_TOP;
}

static inline float *
keep_rest(char *d, Size nchunks, Size c, int j, int nq)
{
	return (float *) (d + nchunks * (Size) nq * BATCH_TOP * sizeof(BatchCand)) +
		c * (Size) nq + j;
}

/*
 * Keep the BATCH_TOP smallest of the m values v in top (any order) and the others'
 * minimum (rvflat_smallest), rounded down to floats.
 */
static void
keep_smallest(const double *v, Size m, BatchCand *top, float *rest)
{
	RvflatLow	h[BATCH_TOP];
	double		r;
	Size		n = rvflat_smallest(v, m, BATCH_TOP, h, &r),
				i;

	for (i = 0; i < n; i++)
	{
		top[i].lb = float_at_or_below(h[i].lo);
		top[i].row = (uint32) h[i].idx;
	}
	*rest = float_at_or_below(r);
}

/* The batch's state, read under the lock. */
static BatchState
batch_state(BatchBlock *b)
{
	BatchState	st;

	LWLockAcquire(shared->lock, LW_SHARED);
	st = b->state;
	LWLockRelease(shared->lock);
	return st;
}

/*
 * Leave the batch: mark it failed first if fail (the others then compute alone), and free
 * it if this was its last member. Never throws.
 */
static void
batch_leave(bool fail)
{
	BatchBlock *b;
	SharedEntry *e;

	if (!DsaPointerIsValid(my_batch))
		return;
	ConditionVariableCancelSleep();
	b = dsa_get_address(area, my_batch);
	e = &shared->entries[my_slot];
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (fail && b->state != BATCH_FAILED)
	{
		b->state = BATCH_FAILED;
		ConditionVariableBroadcast(&b->cv);
	}
	if (e->batch == my_batch && b->state != BATCH_COLLECTING)
		e->batch = InvalidDsaPointer;
	if (e->active > 0)
		e->active--;
	if (--b->refs == 0)
	{
		if (DsaPointerIsValid(b->dist))
			dsa_free(area, b->dist);
		dsa_free(area, my_batch);
	}
	LWLockRelease(shared->lock);
	my_batch = InvalidDsaPointer;
	my_slot = -1;
	my_leader = false;
	my_working = false;
}

/* Backend exit inside a batch (a FATAL skips PG_CATCH): leave it, failed if need be. */
static void
batch_exit(void)
{
	BatchBlock *b;

	if (!DsaPointerIsValid(my_batch) || area == NULL)
		return;
	b = dsa_get_address(area, my_batch);
	batch_leave(my_working || (my_leader && batch_state(b) == BATCH_COLLECTING));
}

/* A scan that computed alone is done. */
static void
solo_done(int slot)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (shared->entries[slot].active > 0)
		shared->entries[slot].active--;
	LWLockRelease(shared->lock);
}

/* Compute chunks of r until none is left; then wait for the others' (or a failure). */
static void
batch_work(BatchBlock *b, const RvflatResident *r)
{
	char	   *d = dsa_get_address(area, b->dist);
	double	   *tmp = palloc(sizeof(double) * (Size) b->nq * BATCH_CHUNK);

	for (;;)
	{
		uint32		c;
		Size		lo,
					hi;
		int			j;

		my_working = true;
		c = pg_atomic_fetch_add_u32(&b->next_chunk, 1);
		if (c >= b->nchunks)
		{
			my_working = false;
			break;
		}
		CHECK_FOR_INTERRUPTS();
		lo = (Size) c * BATCH_CHUNK;
		hi = Min(lo + BATCH_CHUNK, b->n);
		/* the chunk's values in double, then what each member keeps of them */
		pass_rows(r, b->metric, b->bounds, b->q, b->nq, 0, hi - lo, tmp, BATCH_CHUNK, lo);
		for (j = 0; j < b->nq; j++)
			keep_smallest(tmp + (Size) j * BATCH_CHUNK, hi - lo, keep_cands(d, c, j, b->nq),
						  keep_rest(d, b->nchunks, c, j, b->nq));
		my_working = false;
		if (pg_atomic_add_fetch_u32(&b->done_chunks, 1) == b->nchunks)
			ConditionVariableBroadcast(&b->cv);
	}
	ConditionVariablePrepareToSleep(&b->cv);
	while (pg_atomic_read_u32(&b->done_chunks) < b->nchunks && batch_state(b) != BATCH_FAILED)
		ConditionVariableSleep(&b->cv, PG_WAIT_EXTENSION);
	ConditionVariableCancelSleep();
	pg_read_barrier();
	pfree(tmp);
}

/*
 * A member's part once it has joined (or opened) batch b as its query me: the leader's
 * wait and close, every member's chunks, and its distances copied out. False when the
 * batch failed or stayed a batch of one.
 */
static bool
batch_member(BatchBlock *b, dsa_pointer bp, SharedEntry *e, int me, const RvflatResident *r,
			 double *out)
{
	bool		ok = false;

	if (my_leader)
	{
		TimestampTz end = GetCurrentTimestamp() + batch_wait_us;
		int			nq;

		/*
		 * Wait for members: until the batch is full, or every scan holding the copy is in
		 * it (no other is about to finish and come back), or the time is up. Short sleeps:
		 * a latch timeout counts in milliseconds.
		 */
		for (;;)
		{
			int			pins;

			CHECK_FOR_INTERRUPTS();
			LWLockAcquire(shared->lock, LW_SHARED);
			nq = b->nq;
			pins = e->pins;
			LWLockRelease(shared->lock);
			if (nq >= b->cap || nq >= pins || GetCurrentTimestamp() >= end)
				break;
			pg_usleep(Min(100, batch_wait_us));
		}
		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		if (e->batch == bp)
			e->batch = InvalidDsaPointer;
		if (b->nq > 1)
			b->dist = dsa_allocate_extended(area,
											batch_keep_bytes((b->n + BATCH_CHUNK - 1) / BATCH_CHUNK,
															 b->nq),
											DSA_ALLOC_HUGE | DSA_ALLOC_NO_OOM);
		if (b->nq > 1 && DsaPointerIsValid(b->dist))
		{
			b->bounds = b->nq >= BATCH_GEMM_MIN && b->metric != RVFLAT_L1 && r->xn2 != NULL;
			if (b->bounds)
				shared->gemm_batches++;
			b->nchunks = (uint32) ((b->n + BATCH_CHUNK - 1) / BATCH_CHUNK);
			b->state = BATCH_RUNNING;
			shared->batches++;
			shared->batched += b->nq;
			shared->largest_batch = Max(shared->largest_batch, b->nq);
			e->batches++;
			e->batched += b->nq;
		}
		else
			b->state = BATCH_FAILED;	/* alone after all, or no room for the distances */
		ConditionVariableBroadcast(&b->cv);
		LWLockRelease(shared->lock);
	}
	else
	{
		ConditionVariablePrepareToSleep(&b->cv);
		while (batch_state(b) == BATCH_COLLECTING)
			ConditionVariableSleep(&b->cv, PG_WAIT_EXTENSION);
		ConditionVariableCancelSleep();
	}
	if (batch_state(b) == BATCH_RUNNING)
	{
		batch_work(b, r);
		if (batch_state(b) == BATCH_RUNNING)
		{
			char	   *d = dsa_get_address(area, b->dist);
			Size		c;

			/* every row its chunk's bound of the rest, then the kept rows their own */
			for (c = 0; c < b->nchunks; c++)
			{
				Size		lo = c * BATCH_CHUNK,
							hi = Min(lo + BATCH_CHUNK, b->n),
							i;
				const BatchCand *kc = keep_cands(d, c, me, b->nq);
				Size		nk = Min(hi - lo, (Size) BATCH_TOP);
				double		rest = *keep_rest(d, b->nchunks, c, me, b->nq);

				for (i = lo; i < hi; i++)
					out[i] = rest;
				for (i = 0; i < nk; i++)
					out[lo + kc[i].row] = kc[i].lb;
			}
			ok = true;
		}
	}
	return ok;
}

/*
 * Answer q through a batch of the shared copy r: true with out filled, false when this
 * scan must compute alone (no batch formed, or it failed).
 */
static bool
batch_through(RvflatResident *r, RvflatMetric metric, const float *q, double *out)
{
	SharedEntry *e = &shared->entries[r->slot];
	BatchBlock *volatile b = NULL;
	dsa_pointer bp;
	volatile int me = 0;
	bool		ok;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	bp = e->batch;
	if (DsaPointerIsValid(bp))
	{
		b = dsa_get_address(area, bp);
		if (b->state == BATCH_COLLECTING && b->nq < b->cap && b->metric == metric &&
			b->dims == r->dims && b->n == r->n)
		{
			me = b->nq++;
			memcpy(b->q + (Size) me * r->dims, q, sizeof(float) * r->dims);
			b->refs++;
		}
		else
			bp = InvalidDsaPointer;
	}
	if (ncpu == 0)
		ncpu = Max(1, (int) sysconf(_SC_NPROCESSORS_ONLN));
	if (!DsaPointerIsValid(bp) && e->active >= (batch_min_active >= 0 ? batch_min_active : ncpu))
	{
		/*
		 * Scans of this copy keep every core busy: open a batch for those that follow (with
		 * a core to spare, a scan runs alone at once: waiting would leave it idle).
		 */
		Size		bytes = offsetof(BatchBlock, q) + sizeof(float) * (Size) batch_size * r->dims;

		bp = dsa_allocate_extended(area, bytes, DSA_ALLOC_HUGE | DSA_ALLOC_NO_OOM);
		if (DsaPointerIsValid(bp))
		{
			b = dsa_get_address(area, bp);
			memset(b, 0, offsetof(BatchBlock, q));
			b->state = BATCH_COLLECTING;
			b->refs = 1;
			b->nq = 1;
			b->cap = batch_size;
			b->dims = r->dims;
			b->metric = metric;
			b->bounds = false;
			b->n = r->n;
			b->dist = InvalidDsaPointer;
			pg_atomic_init_u32(&b->next_chunk, 0);
			pg_atomic_init_u32(&b->done_chunks, 0);
			ConditionVariableInit(&b->cv);
			memcpy(b->q, q, sizeof(float) * r->dims);
			e->batch = bp;
			my_leader = true;
		}
	}
	e->active++;
	if (!DsaPointerIsValid(bp))
	{
		/* alone: no batch to join, none worth opening */
		LWLockRelease(shared->lock);
		PG_TRY();
		{
			pass_rows(r, metric, use_codes(r, metric), q, 1, 0, r->n, out, r->n, 0);
		}
		PG_CATCH();
		{
			solo_done(r->slot);
			PG_RE_THROW();
		}
		PG_END_TRY();
		solo_done(r->slot);
		return true;
	}
	my_batch = bp;
	my_slot = r->slot;
	LWLockRelease(shared->lock);

	PG_TRY();
	{
		ok = batch_member(b, bp, e, me, r, out);
	}
	PG_CATCH();
	{
		batch_exit();
		PG_RE_THROW();
	}
	PG_END_TRY();
	batch_leave(false);
	return ok;
}

/*
 * Scans a copy's cones get before they are judged: once that many have bounded half the
 * rows or more on average (data without clusters, or queries far from every group), the
 * copy's scans make full passes again, which batch (a new state of the index is judged
 * anew).
 */
#define CONE_PROBATION 64

bool
rvflat_shared_cone(const RvflatResident *r, RvflatMetric metric, const float *q,
				   RvflatConeResult *res)
{
	SharedEntry *e;
	uint64		scans,
				rows;

	if (r->ncones == 0 || metric != RVFLAT_COSINE || !cone_scan || shared == NULL)
		return false;
	e = &shared->entries[r->slot];	/* pinned: the slot holds this copy */
	scans = pg_atomic_read_u64(&e->cone_scans);
	rows = pg_atomic_read_u64(&e->cone_rows);
	if (scans >= CONE_PROBATION && rows >= scans * (r->n / 2))
		return false;
	rvflat_cone_pass(r, metric, q, use_codes(r, metric), res);
	pg_atomic_fetch_add_u64(&e->cone_scans, 1);
	pg_atomic_fetch_add_u64(&e->cone_rows, res->nrows);
	pg_atomic_fetch_add_u64(&shared->cone_scans, 1);
	pg_atomic_fetch_add_u64(&shared->cone_rows, res->nrows);
	return true;
}

void
rvflat_host_pass(RvflatResident *r, RvflatMetric metric, const float *q, double *out)
{
	if (r->shared && batch_size > 1 && area != NULL && batch_through(r, metric, q, out))
		return;
	pass_rows(r, metric, use_codes(r, metric), q, 1, 0, r->n, out, r->n, 0);
}

PG_FUNCTION_INFO_V1(relvec_cache);
/*
 * relvec_cache(): the shared copies of rvflat indexes (index, database, state, dims, rows,
 * bytes, pins, hits, batches, batched); no rows when relvec is not preloaded.
 */
Datum
relvec_cache(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SharedEntry copy[SHARED_ENTRIES];
	int			n = 0;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (!preloaded || shared == NULL)
		PG_RETURN_VOID();
	LWLockAcquire(shared->lock, LW_SHARED);
	for (i = 0; i < SHARED_ENTRIES; i++)
		if (shared->entries[i].state != SLOT_FREE)
			copy[n++] = shared->entries[i];
	LWLockRelease(shared->lock);
	for (i = 0; i < n; i++)
	{
		Datum		values[10];
		bool		nulls[10] = {false};
		SharedEntry *e = &copy[i];

		values[0] = ObjectIdGetDatum(e->indexrelid);
		values[1] = ObjectIdGetDatum(e->node.dbNode);
		values[2] = CStringGetTextDatum(e->state == SLOT_READY ? "ready" :
										e->state == SLOT_BUILDING ? "building" : "stale");
		values[3] = Int32GetDatum(e->dims);
		values[4] = Int64GetDatum((int64) e->n);
		values[5] = Int64GetDatum((int64) e->bytes);
		values[6] = Int32GetDatum(e->pins);
		values[7] = Int64GetDatum((int64) e->hits);
		values[8] = Int64GetDatum((int64) e->batches);
		values[9] = Int64GetDatum((int64) e->batched);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(relvec_cache_stats);
/*
 * relvec_cache_stats(): one row: whether the shared cache is on, its limit and bytes in
 * use, and its totals since the server started (hits, misses, copies built, evictions,
 * indexes too large to copy, batches of two queries or more, the queries they answered,
 * the largest batch, the batches that computed lower bounds, the scans through cones and
 * the rows they bounded).
 */
Datum
relvec_cache_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[14];
	bool		nulls[14] = {false};
	uint64		used = 0;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	values[0] = BoolGetDatum(rvflat_shared_enabled());
	values[1] = Int64GetDatum((int64) shared_cache_mb * 1024 * 1024);
	if (preloaded && shared != NULL)
	{
		LWLockAcquire(shared->lock, LW_SHARED);
		for (i = 0; i < SHARED_ENTRIES; i++)
			if (shared->entries[i].state == SLOT_READY || shared->entries[i].state == SLOT_DEAD)
				used += shared->entries[i].bytes;
		values[2] = Int64GetDatum((int64) used);
		values[3] = Int64GetDatum((int64) shared->hits);
		values[4] = Int64GetDatum((int64) shared->misses);
		values[5] = Int64GetDatum((int64) shared->builds);
		values[6] = Int64GetDatum((int64) shared->evictions);
		values[7] = Int64GetDatum((int64) shared->too_big);
		values[8] = Int64GetDatum((int64) shared->batches);
		values[9] = Int64GetDatum((int64) shared->batched);
		values[10] = Int32GetDatum(shared->largest_batch);
		values[11] = Int64GetDatum((int64) shared->gemm_batches);
		LWLockRelease(shared->lock);
		values[12] = Int64GetDatum((int64) pg_atomic_read_u64(&shared->cone_scans));
		values[13] = Int64GetDatum((int64) pg_atomic_read_u64(&shared->cone_rows));
	}
	else
		for (i = 2; i < 14; i++)
			nulls[i] = true;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	PG_RETURN_VOID();
}
