/*
 * knn.c — relvec_knn(queries, corpus, k, metric): exact batched k-nearest-neighbour search
 * in one pass over the corpus for many queries, and that pass itself (rvpg_knn_run), which
 * relvec_stitch_knn (stitch.c) runs with projected or translated rows.
 *
 * The pass. Queries are read into memory a chunk at a time: as many as fit a budget of
 * max(work_mem, 64 MB) for their vectors and best lists. For each query chunk the corpus
 * query runs once through an SPI cursor, and its rows go to the bridge's rv_topk a chunk at
 * a time (about 16 MB of vectors; the matrix product and the selection happen there, on a
 * GPU when relvec.device picks one), numbered by the order in which the corpus query
 * returns them (row_base). rv_topk keeps a sorted best list of row numbers per query; next
 * to each slot the adapter keeps only that candidate's key, turned into text when the row
 * enters the list, and its exact distance, so keys of rows that never become candidates
 * are neither converted nor kept, and a key that drops out of a list is freed at once.
 *
 * Exact distances and the tie rule. rv_topk orders by float32 distances (on the CPU the
 * exact ones rounded, on Vulkan the device's own), while the SQL operators return float8.
 * So the pass keeps KNN_SLACK candidates more than asked, gives each candidate the float8
 * distance of the function behind the operators (rv_metric_distance), and returns the k
 * first of the order (distance, corpus row number): ties go to the row the corpus query
 * returns first. A true neighbour could only be missed if more than KNN_SLACK rows beyond
 * the k-th lay within one float32 rounding of the k-th distance with a smaller float8
 * distance, which distinct real data does not produce (exactly equal distances are ties
 * and keep row order at every stage).
 */
#include "postgres.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "spiread.h"

/* Candidates kept beyond k, so that float32 rounding cannot reorder the k-th place. */
#define KNN_SLACK 8
/* Least memory for a query chunk's vectors and lists, when work_mem is smaller. */
#define KNN_MIN_BUDGET ((Size) 64 << 20)
/* Corpus vectors per bridge call, and bounds on the rows that makes. */
#define KNN_CORPUS_CHUNK_BYTES ((Size) 16 << 20)
#define KNN_CORPUS_CHUNK_MIN 256
#define KNN_CORPUS_CHUNK_MAX 65536

/* One candidate at the end of the pass. */
typedef struct knn_hit
{
	double		dist;
	int64		row;
	char	   *key;
} knn_hit;

/* The state of one query chunk's corpus pass. */
typedef struct knn_pass
{
	rv_metric	metric;
	size_t		kint;			/* slots per query: k + slack */
	int			dims;			/* dims compared (after the maps) */
	uint64		nq;
	const float *qvec;			/* nq x dims */
	int64_t    *best_rows;		/* nq x kint, rv_topk's lists */
	float	   *best_dist;
	int64_t    *old_rows;		/* the lists before the last rv_topk call */
	char	  **slot_key;		/* nq x kint: key of each slot's row */
	double	   *slot_dist;		/* nq x kint: its exact distance */
	char	  **new_key;		/* kint scratch */
	double	   *new_dist;
	MemoryContext key_cxt;
	int		   *tags;			/* the space relvec_knn's rows share (0 while untagged) */
} knn_pass;

void
rvpg_knn_check_k(int k)
{
	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be at least 1")));
	if (k > RV_MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("k %d exceeds the maximum of %d", k, RV_MAX_K)));
}

/*
 * Queries per chunk: what the memory budget holds, or the option when it is smaller (it
 * only ever shrinks chunks: buffers are allocated for a whole chunk, so INT_MAX must not
 * size them).
 */
static uint64
query_chunk_rows(const rvpg_knn_opts *o, int in_dims, int out_dims, size_t kint)
{
	Size		budget = Max((Size) work_mem * 1024, KNN_MIN_BUDGET);
	Size		per;
	uint64		rows;

	per = sizeof(float) * ((Size) in_dims + out_dims) + sizeof(char *) + 64 +
		kint * (2 * sizeof(int64_t) + sizeof(float) + sizeof(char *) + sizeof(double));
	rows = Max(budget / per, 1);
	if (o->query_chunk > 0)
		rows = Min(rows, (uint64) o->query_chunk);
	return rows;
}

/*
 * Corpus rows per bridge call: about KNN_CORPUS_CHUNK_BYTES of vectors, or the option when
 * it is smaller (as above).
 */
static uint64
corpus_chunk_rows(const rvpg_knn_opts *o, int in_dims, int out_dims)
{
	Size		rows;

	rows = KNN_CORPUS_CHUNK_BYTES / (sizeof(float) * Max(in_dims, out_dims));
	rows = Min(Max(rows, KNN_CORPUS_CHUNK_MIN), KNN_CORPUS_CHUNK_MAX);
	if (o->corpus_chunk > 0)
		rows = Min(rows, (Size) o->corpus_chunk);
	return rows;
}

/*
 * After rv_topk merged a chunk of n rows from row base: give query qi's slots their keys
 * and exact distances. Rows already listed keep theirs: a merge keeps the relative order
 * of the entries it keeps, so one forward walk over the old list finds them; the entries
 * it dropped (the old list's tail) lose their keys.
 */
static void
reconcile(knn_pass *p, uint64 qi, int64 base, const float *x, rvpg_reader *cr)
{
	size_t		kint = p->kint;
	const int64_t *rows = p->best_rows + qi * kint;
	const int64_t *old = p->old_rows + qi * kint;
	char	  **keys = p->slot_key + qi * kint;
	double	   *dist = p->slot_dist + qi * kint;
	const float *q = p->qvec + qi * p->dims;
	size_t		s,
				j = 0;

	for (s = 0; s < kint && rows[s] >= 0; s++)
	{
		int64		r = rows[s];

		if (r >= base)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(p->key_cxt);

			p->new_key[s] = rvpg_reader_key(cr, (uint64) (r - base));
			MemoryContextSwitchTo(oldcxt);
			p->new_dist[s] = rv_metric_distance(p->metric, q, x + (r - base) * p->dims, p->dims);
			continue;
		}
		while (j < kint && old[j] >= 0 && old[j] != r)
		{
			pfree(keys[j]);
			j++;
		}
		if (j >= kint || old[j] != r)
			elog(ERROR, "relvec: a kNN candidate is missing from the previous list");
		p->new_key[s] = keys[j];
		p->new_dist[s] = dist[j];
		j++;
	}
	for (; j < kint && old[j] >= 0; j++)
		pfree(keys[j]);
	memcpy(keys, p->new_key, sizeof(char *) * s);
	memcpy(dist, p->new_dist, sizeof(double) * s);
}

/* Order of the returned neighbours: exact distance, then corpus row number. */
static int
hit_cmp(const void *a, const void *b)
{
	const knn_hit *x = a;
	const knn_hit *y = b;

	if (x->dist != y->dist)
		return x->dist < y->dist ? -1 : 1;
	return x->row < y->row ? -1 : (x->row > y->row ? 1 : 0);
}

/* Put the k nearest of each query of the pass into the result. */
static void
emit(knn_pass *p, char **qkeys, int k, ReturnSetInfo *rsinfo, MemoryContext tmp)
{
	knn_hit    *hits = palloc(sizeof(knn_hit) * p->kint);
	uint64		qi;

	for (qi = 0; qi < p->nq; qi++)
	{
		const int64_t *rows = p->best_rows + qi * p->kint;
		size_t		m,
					r;
		MemoryContext old;

		double		last_kept;

		for (m = 0; m < p->kint && rows[m] >= 0; m++)
		{
			hits[m].dist = p->slot_dist[qi * p->kint + m];
			hits[m].row = rows[m];
			hits[m].key = p->slot_key[qi * p->kint + m];
		}
		last_kept = m > 0 ? hits[m - 1].dist : 0;
		qsort(hits, m, sizeof(knn_hit), hit_cmp);
		if (m > 0 && rv_topk_overflowed(hits[Min(m, (size_t) k) - 1].dist, last_kept, m, p->kint, (size_t) k))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("distances of query \"%s\" are beyond the float32 range: relvec_knn cannot rank them",
							qkeys[qi]),
					 errhint("Search with ORDER BY embedding <op> query LIMIT k, whose distances are float8.")));
		old = MemoryContextSwitchTo(tmp);
		for (r = 0; r < m && r < (size_t) k; r++)
		{
			Datum		values[4];
			bool		nulls[4] = {false, false, false, false};

			values[0] = CStringGetTextDatum(qkeys[qi]);
			values[1] = Int32GetDatum((int32) r + 1);
			values[2] = CStringGetTextDatum(hits[r].key);
			values[3] = Float8GetDatum(hits[r].dist);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(tmp);
	}
	pfree(hits);
}

/* Run the corpus once for the queries of a pass and emit their neighbours. */
static void
corpus_pass(knn_pass *p, SPIPlanPtr cplan, const rvpg_knn_side *cs, int cin_dims,
			const rvpg_knn_opts *o, MemoryContext cxt)
{
	rvpg_reader cr;
	uint64		cchunk = corpus_chunk_rows(o, cin_dims, p->dims);
	float	   *xbuf = NULL;
	int64		crow = 0;
	uint64		n;
	size_t		slots = (size_t) p->nq * p->kint;

	if (cs->map != NULL)
		xbuf = MemoryContextAllocHuge(cxt, sizeof(float) * (Size) p->dims * cchunk);
	rvpg_reader_open(&cr, cplan, cxt, "corpus", "the corpus", cs->space, "the queries have",
					 cin_dims);
	if (cs->space == NULL)
		cr.tags = p->tags;
	while ((n = rvpg_reader_next(&cr, cchunk)) > 0)
	{
		rv_topk_args a;
		const float *x = cr.buf;
		uint64		qi;

		if (cs->map != NULL)
		{
			cs->map(cs->map_arg, cr.buf, n, xbuf);
			x = xbuf;
		}
		memcpy(p->old_rows, p->best_rows, sizeof(int64_t) * slots);
		a.q = p->qvec;
		a.nq = p->nq;
		a.x = x;
		a.n = n;
		a.d = p->dims;
		a.metric = p->metric;
		a.k = p->kint;
		a.row_base = crow;
		a.best_rows = p->best_rows;
		a.best_dist = p->best_dist;
		RVPG_CHECK(rv_topk(rvpg_ctx(), &a));
		for (qi = 0; qi < p->nq; qi++)
			reconcile(p, qi, crow, x, &cr);
		crow += (int64) n;
		CHECK_FOR_INTERRUPTS();
	}
	rvpg_reader_close(&cr);
}

void
rvpg_knn_run(FunctionCallInfo fcinfo, const rvpg_knn_side *qs, const rvpg_knn_side *cs,
			 const rvpg_knn_opts *o)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext pass_cxt;
	Oid			emb = rvpg_embedding_type(fcinfo);
	SPIPlanPtr	qplan,
				cplan;
	rvpg_reader qr;
	size_t		kint;
	int			common_space = 0;	/* relvec_knn: the space all rows are in */

	rvpg_knn_check_k(o->k);
	kint = Min((size_t) o->k + KNN_SLACK, (size_t) RV_MAX_K);
	pass_cxt = AllocSetContextCreate(CurrentMemoryContext, "relvec kNN pass",
									 ALLOCSET_DEFAULT_SIZES);

	SPI_connect();
	qplan = rvpg_prepare_key_embedding(qs->query, "the queries", emb);
	cplan = rvpg_prepare_key_embedding(cs->query, "the corpus", emb);
	rvpg_reader_open(&qr, qplan, pass_cxt, "query", "the queries", qs->space,
					 "the first query has", qs->in_dims);
	if (qs->space == NULL)
		qr.tags = &common_space;
	for (;;)
	{
		MemoryContext chunk_cxt = AllocSetContextCreate(pass_cxt, "relvec kNN query chunk",
														ALLOCSET_DEFAULT_SIZES);
		MemoryContext old;
		uint64		qcap = 0,
					nq = 0,
					got;
		float	   *qraw = NULL;
		char	  **qkeys = NULL;
		knn_pass	p;
		int			cin_dims;

		/* read a chunk of queries (the first row alone when it fixes the dimensions) */
		for (;;)
		{
			uint64		want = 1;
			uint64		i;

			if (qr.dims > 0)
			{
				if (qcap == 0)
				{
					qcap = query_chunk_rows(o, qr.dims, qs->map ? qs->out_dims : qr.dims, kint);
					qraw = MemoryContextAllocHuge(chunk_cxt, sizeof(float) * (Size) qr.dims * qcap);
					qkeys = MemoryContextAllocHuge(chunk_cxt, sizeof(char *) * qcap);
				}
				if (nq == qcap)
					break;
				want = Min(qcap - nq, (uint64) RVPG_FETCH_ROWS);
			}
			got = rvpg_reader_next(&qr, want);
			if (got == 0)
				break;
			if (qcap == 0)
			{
				qcap = query_chunk_rows(o, qr.dims, qs->map ? qs->out_dims : qr.dims, kint);
				qraw = MemoryContextAllocHuge(chunk_cxt, sizeof(float) * (Size) qr.dims * qcap);
				qkeys = MemoryContextAllocHuge(chunk_cxt, sizeof(char *) * qcap);
			}
			memcpy(qraw + nq * qr.dims, qr.buf, sizeof(float) * (Size) qr.dims * got);
			old = MemoryContextSwitchTo(chunk_cxt);
			for (i = 0; i < got; i++)
				qkeys[nq + i] = rvpg_reader_key(&qr, i);
			MemoryContextSwitchTo(old);
			nq += got;
		}
		if (nq == 0)
		{
			MemoryContextDelete(chunk_cxt);
			break;
		}

		memset(&p, 0, sizeof(p));
		p.metric = o->metric;
		p.tags = &common_space;
		p.kint = kint;
		p.nq = nq;
		if (qs->map != NULL)
		{
			float	   *qvec = MemoryContextAllocHuge(chunk_cxt, sizeof(float) * (Size) qs->out_dims * nq);

			qs->map(qs->map_arg, qraw, nq, qvec);
			p.qvec = qvec;
			p.dims = qs->out_dims;
		}
		else
		{
			p.qvec = qraw;
			p.dims = qr.dims;
		}
		cin_dims = cs->in_dims > 0 ? cs->in_dims : qr.dims;
		if ((cs->map != NULL ? cs->out_dims : cin_dims) != p.dims)
			elog(ERROR, "relvec: kNN sides of different dimensions after mapping");

		p.best_rows = MemoryContextAllocHuge(chunk_cxt, sizeof(int64_t) * nq * kint);
		p.best_dist = MemoryContextAllocHuge(chunk_cxt, sizeof(float) * nq * kint);
		p.old_rows = MemoryContextAllocHuge(chunk_cxt, sizeof(int64_t) * nq * kint);
		p.slot_key = MemoryContextAllocHuge(chunk_cxt, sizeof(char *) * nq * kint);
		p.slot_dist = MemoryContextAllocHuge(chunk_cxt, sizeof(double) * nq * kint);
		p.new_key = MemoryContextAlloc(chunk_cxt, sizeof(char *) * kint);
		p.new_dist = MemoryContextAlloc(chunk_cxt, sizeof(double) * kint);
		p.key_cxt = AllocSetContextCreate(chunk_cxt, "relvec kNN keys", ALLOCSET_DEFAULT_SIZES);
		rv_topk_reset(p.best_rows, p.best_dist, nq, kint);

		corpus_pass(&p, cplan, cs, cin_dims, o, chunk_cxt);

		old = MemoryContextSwitchTo(chunk_cxt);
		emit(&p, qkeys, o->k, rsinfo,
			 AllocSetContextCreate(chunk_cxt, "relvec kNN emit", ALLOCSET_SMALL_SIZES));
		MemoryContextSwitchTo(old);
		MemoryContextDelete(chunk_cxt);
		CHECK_FOR_INTERRUPTS();
	}
	rvpg_reader_close(&qr);
	SPI_finish();
	MemoryContextDelete(pass_cxt);
}

/* The argument names of relvec_knn, for null-argument errors. */
static const char *const knn_arg_names[] = {"queries", "corpus", "k", "metric",
	"query_chunk", "corpus_chunk"};

PG_FUNCTION_INFO_V1(relvec_knn);
/*
 * relvec_knn(queries, corpus, k, metric [, query_chunk, corpus_chunk]): the k nearest
 * corpus rows of every query, as (query_key, rank, corpus_key, distance). The internal
 * relvec_knn_chunked passes the two chunk sizes so that tests cross chunk boundaries.
 */
Datum
relvec_knn(PG_FUNCTION_ARGS)
{
	rvpg_knn_side qs;
	rvpg_knn_side cs;
	rvpg_knn_opts o;
	int			i;

	for (i = 0; i < PG_NARGS(); i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", knn_arg_names[i])));
	memset(&qs, 0, sizeof(qs));
	memset(&cs, 0, sizeof(cs));
	memset(&o, 0, sizeof(o));
	qs.query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	cs.query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	o.k = PG_GETARG_INT32(2);
	rvpg_knn_check_k(o.k);
	RVPG_CHECK(rv_metric_parse(rvpg_ctx(), text_to_cstring(PG_GETARG_TEXT_PP(3)), &o.metric));
	if (PG_NARGS() >= 6)
	{
		o.query_chunk = PG_GETARG_INT32(4);
		o.corpus_chunk = PG_GETARG_INT32(5);
		if (o.query_chunk < 1 || o.corpus_chunk < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("chunk sizes must be at least 1")));
	}
	InitMaterializedSRF(fcinfo, 0);
	rvpg_knn_run(fcinfo, &qs, &cs, &o);
	return (Datum) 0;
}
