/*
 * spiread.h — reading the (key, embedding) rows of a user's query through an SPI cursor,
 * a chunk at a time, and the batched kNN pass built on it (knn.c) that relvec_knn and
 * relvec_stitch_knn share.
 */
#ifndef RELVEC_SPIREAD_H
#define RELVEC_SPIREAD_H

#include "relvec_pg.h"

#include "executor/spi.h"

/* Rows fetched from a cursor per SPI call when nothing else asks for a size. */
#define RVPG_FETCH_ROWS 4096

/* One open (key, embedding) cursor. */
typedef struct rvpg_reader
{
	const char *label;			/* "query" or "corpus", as in "query key" */
	const char *whole;			/* "the queries" or "the corpus" */
	const char *space;			/* the space the rows belong to (messages), or NULL */
	int			space_tag;		/* its tag, when space is named */
	int		   *tags;			/* NULL: tags unchecked; else the tag rows must have (0: the
								 * first tagged row's, which then binds the others) */
	const char *dims_from;		/* what fixed dims when space is NULL, e.g. "the queries" */
	int			dims;			/* expected dimensions; 0 = fixed by the first row */
	Portal		portal;
	MemoryContext cxt;			/* the reader's buffers */
	MemoryContext chunk_cxt;	/* the last chunk's keys and detoasted values */
	float	   *buf;			/* the last chunk's vectors, rows x dims */
	Datum	   *keys;			/* the last chunk's keys (copied into chunk_cxt) */
	uint64		cap;			/* rows buf and keys can hold */
	uint64		n;				/* rows in the last chunk */
	uint64		rows;			/* rows read so far */
	Oid			key_type;		/* the key column's type, set by the first fetch */
	bool		key_byval;
	int16		key_len;
	Oid			key_out;		/* its output function */
} rvpg_reader;

/*
 * Prepare a user's query text, the one way every relvec function takes one: PostgreSQL's own
 * errors for a syntax error or an unknown table; 42804 "<whole> must be a single statement
 * that returns rows" for an empty string, several statements or a utility command; 22023
 * "<whole> must be a read-only query" for INSERT/UPDATE/DELETE ... RETURNING, a WITH clause
 * that changes data or SELECT FOR UPDATE (relvec reads it through a read-only cursor, a
 * corpus once per chunk of queries). *desc, if not NULL, gets its columns. Needs SPI.
 */
extern SPIPlanPtr rvpg_prepare_query(const char *query, const char *whole, TupleDesc *desc);

/*
 * Prepare query as rvpg_prepare_query does and raise 42804 unless it returns (key of any
 * type, embedding); whole names the argument in the message ("the corpus must return two
 * columns, (key, embedding)"). Needs SPI.
 */
extern SPIPlanPtr rvpg_prepare_key_embedding(const char *query, const char *whole, Oid emb);

/*
 * Open a cursor on plan. The reader's memory lives in parent. label, whole, space and
 * dims_from go into error messages; dims is the expected dimension count, 0 to take the
 * first row's. With a space, a row tagged with another space is 42804; without one, set
 * r->tags to an int shared with other readers whose rows must go together (relvec_knn's
 * queries and corpus). Needs SPI.
 */
extern void rvpg_reader_open(rvpg_reader *r, SPIPlanPtr plan, MemoryContext parent,
							 const char *label, const char *whole, const char *space,
							 const char *dims_from, int dims);

/*
 * Fetch up to max rows into r->buf (rows x r->dims floats); raises 22004 for a null key or
 * embedding and 22000 for an embedding of other dimensions. Returns the number of rows, 0
 * at the end.
 */
extern uint64 rvpg_reader_next(rvpg_reader *r, uint64 max);

/* The key of row i of the last chunk as text, palloc'd in the current memory context. */
extern char *rvpg_reader_key(rvpg_reader *r, uint64 i);

extern void rvpg_reader_close(rvpg_reader *r);

/* ------------------------------------------------------------------------------------
 * The batched kNN pass (knn.c)
 * ------------------------------------------------------------------------------------ */

/*
 * Map n rows of in (n x in_dims) to n rows of out (n x out_dims): a relative projection or a
 * translation done by one bridge call. Raises on failure.
 */
typedef void (*rvpg_knn_map) (void *arg, const float *in, size_t n, float *out);

/* One side of a kNN pass: a (key, embedding) query and what is done to its rows. */
typedef struct rvpg_knn_side
{
	const char *query;			/* SQL returning (key, embedding) */
	const char *space;			/* for messages, or NULL */
	int			in_dims;		/* expected input dims, 0 = the first query row's (queries) or
								 * the queries' (corpus) */
	int			out_dims;		/* dims after map (in_dims when map is NULL) */
	rvpg_knn_map map;			/* NULL: rows are compared as they are */
	void	   *map_arg;
} rvpg_knn_side;

/* Limits and chunk sizes of a pass. */
typedef struct rvpg_knn_opts
{
	int			k;
	rv_metric	metric;
	int			query_chunk;	/* queries held per corpus pass; 0 = from the memory budget */
	int			corpus_chunk;	/* corpus rows per bridge call; 0 = about 16 MB of vectors */
} rvpg_knn_opts;

/* Raise 22023 / 54000 unless 1 <= k <= RV_MAX_K. */
extern void rvpg_knn_check_k(int k);

/*
 * Run the pass and put (query_key, rank, corpus_key, distance) rows into the function's
 * materialized result (InitMaterializedSRF must have run). Connects to SPI itself.
 */
extern void rvpg_knn_run(FunctionCallInfo fcinfo, const rvpg_knn_side *queries,
						 const rvpg_knn_side *corpus, const rvpg_knn_opts *opts);

#endif							/* RELVEC_SPIREAD_H */
