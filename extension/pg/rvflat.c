/*
 * rvflat.c — the rvflat access method's handler (what it can do), its costing, its
 * opclass validation and the helpers its phases share. rvflat.h describes the layout and
 * the scan.
 *
 * Costing. rvflat has ordering operators only, so the planner considers it solely for
 * ORDER BY col <op> const; any other use is priced out. A scan reads every index page in
 * order and computes one distance per vector before it returns its first row, so the whole
 * cost is startup cost: the pages at seq_page_cost plus, per vector, the distance (the
 * operator's cost) and the heap selection. A sequential scan pays the same pages (the heap
 * holds the same vectors inline) plus a tuple cost and a top-N sort per row, so rvflat wins
 * for ORDER BY ... LIMIT.
 */
#include "postgres.h"

#include "access/amvalidate.h"
#include "access/htup_details.h"
#include "access/reloptions.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "commands/vacuum.h"
#include "commands/progress.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "utils/catcache.h"
#include "utils/lsyscache.h"
#include "utils/selfuncs.h"
#include "utils/syscache.h"

#include "rvflat.h"

/* Estimate the cost of an rvflat scan (see the file comment). */
static void
rvflatcostestimate(PlannerInfo *root pg_attribute_unused(), IndexPath *path,
				   double loop_count pg_attribute_unused(), Cost *indexStartupCost,
				   Cost *indexTotalCost, Selectivity *indexSelectivity,
				   double *indexCorrelation, double *indexPages)
{
	IndexOptInfo *index = path->indexinfo;
	double		tuples = Max(index->tuples, 1.0);

	*indexSelectivity = 1.0;
	*indexCorrelation = 0.0;
	*indexPages = index->pages;
	if (path->indexorderbys == NIL)
	{
		/* nothing to order by: the index cannot help */
		*indexStartupCost = disable_cost;
		*indexTotalCost = disable_cost;
		return;
	}
	*indexStartupCost = index->pages * seq_page_cost + tuples * 2.0 * cpu_operator_cost;
	*indexTotalCost = *indexStartupCost + tuples * cpu_index_tuple_cost;
}

/* rvflat has no storage parameters. */
static bytea *
rvflatoptions(Datum reloptions, bool validate)
{
	if (validate && DatumGetPointer(reloptions) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("access method \"rvflat\" has no storage parameters")));
	return NULL;
}

/* The name of a build sub-phase for pg_stat_progress_create_index. */
static char *
rvflatbuildphasename(int64 phasenum)
{
	switch (phasenum)
	{
		case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
			return "initializing";
		case RVFLAT_PHASE_LOAD:
			return "loading tuples";
		default:
			return NULL;
	}
}

/*
 * Check an opclass of access method am (rvflat, rvivf): ordering operators of strategy 1
 * and support function 1 only.
 */
bool
rvflat_validate_opclass(Oid opclassoid, const char *am)
{
	bool		result = true;
	HeapTuple	classtup;
	Form_pg_opclass classform;
	Oid			opfamilyoid;
	CatCList   *proclist;
	CatCList   *oprlist;
	int			i;

	classtup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for operator class %u", opclassoid);
	classform = (Form_pg_opclass) GETSTRUCT(classtup);
	opfamilyoid = classform->opcfamily;

	proclist = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(opfamilyoid));
	for (i = 0; i < proclist->n_members; i++)
	{
		Form_pg_amproc procform = (Form_pg_amproc) GETSTRUCT(&proclist->members[i]->tuple);

		if (procform->amprocnum != RVFLAT_DISTANCE_PROC ||
			!check_amproc_signature(procform->amproc, FLOAT8OID, true, 2, 2,
									procform->amproclefttype, procform->amprocrighttype))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("%s operator family %u has an invalid support function %d",
							am, opfamilyoid, procform->amprocnum)));
			result = false;
		}
	}
	oprlist = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(opfamilyoid));
	for (i = 0; i < oprlist->n_members; i++)
	{
		Form_pg_amop oprform = (Form_pg_amop) GETSTRUCT(&oprlist->members[i]->tuple);

		if (oprform->amopstrategy != 1 || oprform->amoppurpose != AMOP_ORDER)
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("%s operator family %u has operator %u that is not an ordering operator of strategy 1",
							am, opfamilyoid, oprform->amopopr)));
			result = false;
		}
	}
	ReleaseCatCacheList(oprlist);
	ReleaseCatCacheList(proclist);
	ReleaseSysCache(classtup);
	return result;
}

/* Check an rvflat opclass. */
static bool
rvflatvalidate(Oid opclassoid)
{
	return rvflat_validate_opclass(opclassoid, "rvflat");
}

PG_FUNCTION_INFO_V1(relvec_rvflat_handler);
/* The rvflat access method's handler: what it supports and its entry points. */
Datum
relvec_rvflat_handler(PG_FUNCTION_ARGS pg_attribute_unused())
{
	IndexAmRoutine *am = makeNode(IndexAmRoutine);

	am->amstrategies = 0;
	am->amsupport = 1;
	am->amoptsprocnum = 0;
	am->amcanorder = false;
	am->amcanorderbyop = true;
	am->amcanbackward = false;
	am->amcanunique = false;
	am->amcanmulticol = false;
	am->amoptionalkey = true;
	am->amsearcharray = false;
	am->amsearchnulls = false;
	am->amstorage = false;
	am->amclusterable = false;
	am->ampredlocks = false;
	am->amcanparallel = false;
	am->amcaninclude = false;
	am->amusemaintenanceworkmem = false;
	am->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	am->amkeytype = InvalidOid;

	am->ambuild = rvflatbuild;
	am->ambuildempty = rvflatbuildempty;
	am->aminsert = rvflatinsert;
	am->ambulkdelete = rvflatbulkdelete;
	am->amvacuumcleanup = rvflatvacuumcleanup;
	am->amcanreturn = NULL;
	am->amcostestimate = rvflatcostestimate;
	am->amoptions = rvflatoptions;
	am->amproperty = NULL;
	am->ambuildphasename = rvflatbuildphasename;
	am->amvalidate = rvflatvalidate;
	am->amadjustmembers = NULL;
	am->ambeginscan = rvflatbeginscan;
	am->amrescan = rvflatrescan;
	am->amgettuple = rvflatgettuple;
	am->amgetbitmap = NULL;
	am->amendscan = rvflatendscan;
	am->ammarkpos = NULL;
	am->amrestrpos = NULL;
	am->amestimateparallelscan = NULL;
	am->aminitparallelscan = NULL;
	am->amparallelrescan = NULL;

	PG_RETURN_POINTER(am);
}

/*
 * The metric of an index: its opclass's support function 1 is one of the SQL distance
 * functions, recognized by its C entry point.
 */
RvflatMetric
rvflat_index_metric(Relation index)
{
	FmgrInfo   *proc = index_getprocinfo(index, 1, RVFLAT_DISTANCE_PROC);

	if (proc->fn_addr == embedding_l2_distance)
		return RVFLAT_L2;
	if (proc->fn_addr == embedding_negative_inner_product)
		return RVFLAT_IP;
	if (proc->fn_addr == embedding_cosine_distance)
		return RVFLAT_COSINE;
	if (proc->fn_addr == embedding_l1_distance)
		return RVFLAT_L1;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("index \"%s\" has a distance function that rvflat does not know",
					RelationGetRelationName(index)),
			 errhint("Use one of the opclasses embedding_l2_ops, embedding_ip_ops, embedding_cosine_ops, embedding_l1_ops.")));
	pg_unreachable();
}

/* The distance the SQL operator of metric m computes, from the same bridge function. */
double
rvflat_distance(RvflatMetric m, const float *a, const float *b, int dims)
{
	switch (m)
	{
		case RVFLAT_L2:
			return rv_l2_distance(a, b, dims);
		case RVFLAT_IP:
			return -rv_inner_product(a, b, dims);
		case RVFLAT_COSINE:
			return rv_cosine_distance(a, b, dims);
		case RVFLAT_L1:
			return rv_l1_distance(a, b, dims);
	}
	return 0.0;
}

/* qsort comparator of heap TIDs (the rows with a NULL distance come out in TID order). */
int
rvflat_tid_cmp(const void *a, const void *b)
{
	return ItemPointerCompare((ItemPointer) a, (ItemPointer) b);
}

/* Initialize an empty page of the given type. */
void
rvflat_init_page(Page page, uint16 type)
{
	RvflatPageOpaqueData *opaque;

	PageInit(page, BLCKSZ, sizeof(RvflatPageOpaqueData));
	opaque = RvflatPageGetOpaque(page);
	opaque->type = type;
	opaque->page_id = RVFLAT_PAGE_ID;
}

/* Initialize the metapage; pd_lower covers the contents so generic WAL keeps them. */
void
rvflat_init_meta(Page page, int dims)
{
	RvflatMetaData *meta;

	rvflat_init_page(page, RVFLAT_PAGE_META);
	meta = RvflatPageGetMeta(page);
	meta->magic = RVFLAT_MAGIC;
	meta->version = RVFLAT_VERSION;
	meta->dims = dims;
	meta->insert_blkno = InvalidBlockNumber;
	meta->change_count = 0;
	meta->space = 0;
	meta->space2 = 0;
	((PageHeader) page)->pd_lower = ((char *) meta + sizeof(RvflatMetaData)) - (char *) page;
}

/*
 * Check a vector of value_dims against an index of index_dims (0: not fixed yet) and
 * against rvflat's page limit.
 */
void
rvflat_check_dims(Relation index, int index_dims, int value_dims)
{
	if (value_dims > RVFLAT_MAX_DIMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("rvflat indexes embeddings of at most %d dimensions, not %d",
						RVFLAT_MAX_DIMS, value_dims)));
	if (index_dims != 0 && value_dims != index_dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different embedding dimensions %d and %d", index_dims, value_dims),
				 errdetail("Index \"%s\" holds embeddings of %d dimensions.",
						   RelationGetRelationName(index), index_dims)));
}

/*
 * Check an item read from a data page of an index of dims dimensions: a NULL marker, or
 * exactly dims (>= 1) values. Inserts check every vector, but an index that an older
 * version built may hold a 0-dimension vector next to others; a scan must report it, not
 * read dims values past its end.
 */
void
rvflat_check_item(Relation index, ItemId iid, const RvflatItem *item, int dims)
{
	Size		len = ItemIdGetLength(iid);

	if (len < RVFLAT_ITEM_SIZE(0) ||
		(!(item->flags & RVFLAT_ITEM_NULL) && (dims < 1 || len != RVFLAT_ITEM_SIZE(dims))))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("index \"%s\" holds an embedding of %d dimensions, expected %d",
						RelationGetRelationName(index),
						len < RVFLAT_ITEM_SIZE(0) ? -1 :
						(int) ((len - RVFLAT_ITEM_SIZE(0)) / sizeof(float)), dims),
				 errdetail("An rvflat index holds embeddings of one dimension count, at least 1."),
				 errhint("It was probably built by an earlier version of relvec: delete or replace the invalid values (see embedding_dims()) and REINDEX it.")));
}

/* The dimensions declared by the indexed column's type modifier, or 0. */
int
rvflat_typmod_dims(Relation index)
{
	int32		typmod = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;

	return typmod > 0 ? RVPG_TYPMOD_DIMS(typmod) : 0;
}

/* An indexed value, detoasted. */
Embedding *
rvflat_value(Datum d)
{
	return DatumGetEmbedding(d);
}

void
rvflat_check_query_space(Relation index, const Embedding *query)
{
	Buffer		buf;
	RvflatMetaData *meta;
	int			other = 0;

	if (query == NULL || query->space == 0)
		return;
	buf = ReadBuffer(index, RVFLAT_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	meta = RvflatPageGetMeta(BufferGetPage(buf));
	if (meta->space != 0 && meta->space != query->space)
		other = meta->space;
	else if (meta->space2 != 0 && meta->space2 != query->space)
		other = meta->space2;
	UnlockReleaseBuffer(buf);
	if (other != 0)
		rvpg_raise_mixed(other, query->space);
}
