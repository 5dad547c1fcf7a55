/*
 * relvec_sqlite.h — what the files of the SQLite adapter share: the per-connection state
 * (the bridge context and the last error message), the one error path, embeddings read
 * from SQL values (a BLOB in the bridge's layout, or the text form '[1,2,3]', either one
 * possibly tagged with its space) and written back as BLOBs, the space tags' rules and
 * messages, and the reader of users' "(key, embedding)" queries.
 *
 * Every SQL function gets the connection's rvsq_conn as its user data. Code below the SQL
 * entry points records a failure with rvsq_fail / rvsq_bridge_fail (the message goes into
 * conn->err) and returns an SQLite result code; the entry point then hands the message to
 * SQLite with rvsq_result_error (scalar functions) or rvsq_vtab_error (virtual tables).
 */
#ifndef RELVEC_SQLITE_H
#define RELVEC_SQLITE_H

#include <stddef.h>
#include <stdint.h>

#include "sqlite3ext.h"
#include "relvec_bridge.h"

#ifndef RVSQ_MAIN
extern const sqlite3_api_routines *sqlite3_api;
#endif

/* Longest error message kept (user-supplied names are part of some messages). */
#define RVSQ_ERR_LEN 1024

typedef struct rvsq_conn
{
	sqlite3    *db;
	rv_ctx	   *ctx;			/* the bridge context of this connection */
	int			refs;			/* registered functions and modules that point here */
	struct rvsq_trans_cache *translations;	/* prepared translations (translate.c) */
	struct rvsq_knn_cache *knn_cache;	/* copies of indexed columns (knncache.c) */
	char		err[RVSQ_ERR_LEN];
} rvsq_conn;

/* ---- errors (relvec.c) ------------------------------------------------------------ */

/*
 * Record a message (C's printf, so the compiler checks the format and %zu is fine; not
 * SQLite's %q/%Q/%w); returns SQLITE_ERROR.
 */
int			rvsq_fail(rvsq_conn *c, const char *fmt,...) __attribute__((format(printf, 2, 3)));
/* Record the bridge's message for status s; returns the SQLite code of its class. */
int			rvsq_bridge_fail(rvsq_conn *c, rv_status s);
/* Record the message of a failed SQLite call on the connection; returns rc. */
int			rvsq_sqlite_fail(rvsq_conn *c, int rc);
/* Deliver the recorded failure rc as the error of a function call. */
void		rvsq_result_error(sqlite3_context *ctx, rvsq_conn *c, int rc);
/* Deliver the recorded failure as the error of a virtual table call; returns rc. */
int			rvsq_vtab_error(sqlite3_vtab *vtab, rvsq_conn *c, int rc);

/* Evaluate a bridge call; on failure record its message and return from the caller. */
#define RVSQ_TRY(c, expr) \
	do { \
		rv_status	rvsq_s_ = (expr); \
		if (rvsq_s_ != RV_OK) \
			return rvsq_bridge_fail((c), rvsq_s_); \
	} while (0)

/* ---- embeddings (embedding.c) ------------------------------------------------------ */

/*
 * An embedding read from SQL: x points into the value or into owned (aligned copy);
 * space is its space tag (0: untagged).
 */
typedef struct rvsq_vec
{
	const float *x;
	size_t		dims;
	unsigned	space;
	float	   *owned;
} rvsq_vec;

/*
 * Read v as an embedding: a BLOB in the shared layout (its tag in the header) or the
 * text form, whose "name#id:" prefix is resolved against the file's catalog
 * (rvsq_resolve_tag). NULL and other types are errors ("what" names the argument in the
 * message). Free with rvsq_vec_free.
 */
int			rvsq_value_vec(rvsq_conn *c, sqlite3_value *v, const char *what, rvsq_vec *out);
void		rvsq_vec_free(rvsq_vec *v);

/* A new BLOB of dims values tagged space (0: untagged) in the shared layout
 * (sqlite3_malloc'd); NULL on OOM. */
unsigned char *rvsq_blob_new(const float *x, size_t dims, unsigned space, int *nbytes);
/* Set the function result to the embedding x, tagged space, as a BLOB. */
void		rvsq_result_vec(sqlite3_context *ctx, const float *x, size_t dims, unsigned space);

/* A text argument, or NULL for SQL NULL. */
const char *rvsq_text(sqlite3_value *v);
/* Nonzero when any of the argc arguments is NULL (a STRICT function then returns NULL). */
int			rvsq_any_null(int argc, sqlite3_value **argv);

/*
 * How the messages about a user's (key, embedding) query name it, as PostgreSQL does:
 * whole ("the corpus", "query") in "<whole> must be a single statement that returns rows",
 * shape_msg when it returns the wrong columns, null_msg for a NULL key or embedding, and
 * for wrong dimensions "embedding of [<label> ]key "k" has n dimensions, " followed by
 * space "s" has d" when space is set, else by "<dims_from> d".
 */
typedef struct rvsq_source
{
	const char *whole;
	const char *shape_msg;
	const char *null_msg;
	const char *label;
	const char *space;
	const char *dims_from;
	int			skip_null;		/* skip rows with a NULL key or embedding instead */
} rvsq_source;

/* Prepare a user's query that must return ncols columns. */
int			rvsq_prepare_query(rvsq_conn *c, const char *sql, int ncols, const rvsq_source *src,
							   sqlite3_stmt **out);

/*
 * A key of its own SQL type (relvec_knn_index returns keys as the table holds them):
 * type is SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT or SQLITE_BLOB, 0 for no key; p owns
 * the n bytes of a text (NUL-terminated) or blob.
 */
typedef struct rvsq_key
{
	int			type;
	int			n;
	union
	{
		sqlite3_int64 i;
		double		r;
	}			u;
	char	   *p;
} rvsq_key;

/* Copy value v into *k (a NULL value gives no key); SQLITE_NOMEM on failure. */
int			rvsq_key_from_value(rvsq_key *k, sqlite3_value *v);
/* A text key, copied from s. */
int			rvsq_key_from_text(rvsq_key *k, const char *s);
/* A copy of *src in *dst. */
int			rvsq_key_copy(rvsq_key *dst, const rvsq_key *src);
/* Free what *k owns and make it no key. */
void		rvsq_key_free(rvsq_key *k);
/* Set the function result to *k, of its type. */
void		rvsq_key_result(sqlite3_context *ctx, const rvsq_key *k);

/*
 * A growable n x d float matrix with a key per row (keys are sqlite3_malloc'd text, or
 * with typed_keys, rvsq_keys of the column's own type in tkeys and keys unused), and the
 * rule its rows' space tags follow: with space_fixed, every row is untagged or tagged
 * space, the space src->space names ("embedding belongs to space ..."); without, every
 * tagged row goes with the others and space becomes their common tag, set beforehand to
 * the tag the rows must go with (the queries' for a corpus), 0 for none.
 */
typedef struct rvsq_rows
{
	size_t		n;
	size_t		cap;
	size_t		d;
	float	   *x;				/* n x d */
	char	  **keys;
	rvsq_key   *tkeys;			/* with typed_keys */
	unsigned	space;
	int			space_fixed;
	int			typed_keys;
	int			saw_text;		/* a row's embedding was text (its tag read in the catalog) */
} rvsq_rows;

/*
 * Read up to max rows (0 = all) of a (key, embedding) statement into rows. All rows must
 * have rows->d dimensions (the first row's when rows->d is 0) and follow rows' space rule.
 * *done is set once the statement is exhausted.
 */
int			rvsq_read_rows(rvsq_conn *c, sqlite3_stmt *st, const rvsq_source *src,
						   rvsq_rows *rows, size_t max, int *done);
void		rvsq_rows_clear(rvsq_rows *rows);	/* forget rows, keep buffers */
void		rvsq_rows_free(rvsq_rows *rows);
/* Room for cap rows of rows->d values (never less than rows->n). */
int			rvsq_rows_reserve(rvsq_rows *rows, size_t cap);

/* ---- space tags (spaces.c) ---------------------------------------------------------- */

/*
 * The tag of a tagged text form "name#id:" in this file's catalog: the id of the space
 * named name when there is one (the text may come from another database, whose ids
 * differ); else id when name is empty or no space has that id (data read before its
 * catalog); else "space "name" does not exist". Reads relvec_spaces, never writes it.
 */
int			rvsq_resolve_tag(rvsq_conn *c, const char *name, unsigned id, unsigned *tag);
/* The name of the space whose id is tag (sqlite3_malloc'd), NULL when there is none. */
int			rvsq_space_name(rvsq_conn *c, unsigned tag, char **name);
/* How messages name the space of tag: "name" in double quotes, or #id without one. */
void		rvsq_space_label(rvsq_conn *c, unsigned tag, char *buf, size_t len);
/* The tag of a space whose id is space_id ("space "x" has id N, beyond ..." when it does not fit). */
int			rvsq_space_tag(rvsq_conn *c, const char *name, sqlite3_int64 space_id, unsigned *tag);
/* Two tags that meet must go together: "embeddings of different spaces A and B". */
int			rvsq_same_space(rvsq_conn *c, unsigned a, unsigned b);
/*
 * A value given as being of the space want_name (id want) must be untagged or tagged
 * with it: "embedding belongs to space A, not "want_name"".
 */
int			rvsq_check_space(rvsq_conn *c, unsigned tag, sqlite3_int64 want, const char *want_name);
/*
 * The space x (tagged tag) is in, for the function call (its signature, for messages):
 * with *name NULL the tag names it (*name then points at *own, sqlite3_malloc'd, which
 * the caller frees; untagged x or an unknown id is an error); else x must be untagged or
 * of the space *name.
 */
int			rvsq_space_of_call(rvsq_conn *c, unsigned tag, const char *call, const char **name,
							   char **own);
/* The tag of the result of two tags that go together: the nonzero one. */
#define RVSQ_COMMON_SPACE(a, b) ((a) != 0 ? (a) : (b))

/* ---- catalog (catalog.c, catalogdrop.c, catalogload.c) ----------------------------------------------------------- */

/* Create the catalog tables and triggers if they do not exist (functions that write). */
int			rvsq_catalog_init(rvsq_conn *c);
/*
 * Make the catalog readable (functions that only read it): never writes to a file whose
 * catalog tables exist, even without their guard triggers, nor to a read-only file.
 */
int			rvsq_catalog_read(rvsq_conn *c);

/* Start / end a savepoint so that a failing catalog function leaves nothing behind. */
int			rvsq_begin(rvsq_conn *c);
int			rvsq_end(rvsq_conn *c, int rc);

/* Statement helpers the catalog files share: prepare (error on failure); step to done and finalize. */
int			rvsq_cat_prepare(rvsq_conn *c, const char *sql, sqlite3_stmt **st);
int			rvsq_cat_run(rvsq_conn *c, sqlite3_stmt *st);

/* A space's and an anchor set's catalog rows, as the lookups below return them. */
typedef struct rvsq_space_row
{
	sqlite3_int64 id;
	int			dims;
	int			mean_version;
	rvsq_vec	mean;			/* dims == 0 when none is stored */
} rvsq_space_row;

typedef struct rvsq_set_row
{
	sqlite3_int64 id;
	int			frozen;
	size_t		nkeys;
	char	  **keys;			/* in set order; free with rvsq_free_keys */
} rvsq_set_row;

/* Look a space up by name (want_mean: also read its mean). */
int			rvsq_lookup_space(rvsq_conn *c, const char *name, int want_mean, rvsq_space_row *out);
/* Look an anchor set up by name (want_keys: also read its keys). */
int			rvsq_lookup_set(rvsq_conn *c, const char *name, int want_keys, rvsq_set_row *out);
void		rvsq_free_keys(char **keys, size_t n);

/* Look a space up by name: its id and dimensions ("space "x" does not exist"). */
int			rvsq_find_space(rvsq_conn *c, const char *name, sqlite3_int64 *id, int *dims);
/* Look an anchor set up by name ("anchor set "x" does not exist"). */
int			rvsq_find_set(rvsq_conn *c, const char *name, sqlite3_int64 *id, int *frozen,
						  size_t *nkeys);

/*
 * The nkeys x dims anchors of a set in a space, in the set's order (sqlite3_malloc'd, the
 * caller frees); PostgreSQL's messages when the space is missing from the set or incomplete,
 * and an error for any row that is not the set's next key with a valid embedding of dims.
 */
int			rvsq_load_anchors(rvsq_conn *c, const char *set_name, sqlite3_int64 set_id, size_t nkeys,
							  const char *space, sqlite3_int64 space_id, int dims, float **out);

/*
 * A prepared projection for (anchor_set, space, options); caller destroys it. *space_id
 * (when not NULL) gets the space's id.
 */
int			rvsq_load_projection(rvsq_conn *c, const char *anchor_set, const char *space,
								 const char *similarity, const char *center, int normalize,
								 rv_projection **out, size_t *input_dims, sqlite3_int64 *space_id);

/* ---- translations (translate.c) ---------------------------------------------------- */

/*
 * The translation fitted on anchor_set from from_space to to_space, loaded from
 * relvec_translations and checked; a new copy the caller destroys (rv_translation_destroy).
 */
int			rvsq_load_translation(rvsq_conn *c, const char *anchor_set, const char *from_space,
								  const char *to_space, rv_translation **out);
/* Drop the connection's prepared translations (when it closes). */
void		rvsq_translation_cache_free(rvsq_conn *c);

/* ---- the kNN pass (knn.c), shared with stitch.c ------------------------------------ */

/*
 * The k nearest of each query: keys and distances in order, count[i] of them. Keys are
 * text for relvec_knn and relvec_stitch_knn (PostgreSQL's text keys), of the column's
 * type for relvec_knn_index.
 */
typedef struct rvsq_knn_result
{
	size_t		nq;
	size_t		k;
	size_t	   *count;
	rvsq_key   *keys;			/* nq x k */
	double	   *dist;			/* nq x k */
} rvsq_knn_result;

/* Maps n rows of in to out (a projection, a translation); returns an SQLite code. */
typedef int (*rvsq_map_fn) (rvsq_conn *c, void *arg, const float *in, size_t n, float *out);

/*
 * The k nearest corpus rows of nq queries (q is nq x d): corpus rows are read with
 * in_dims dimensions and, when map is set, mapped to d before the comparison (distances
 * are computed between q and the mapped rows); their tags follow space and space_fixed as
 * in rvsq_rows. Ties go to the earlier corpus row. typed_keys keeps the corpus keys of
 * their own type (else text). The statement is stepped to its end, not finalized; *out is
 * owned by the caller.
 */
int			rvsq_knn_search(rvsq_conn *c, const float *q, size_t nq, size_t d, sqlite3_stmt *corpus,
							const rvsq_source *src, size_t in_dims, unsigned space, int space_fixed,
							rvsq_map_fn map, void *map_arg, size_t k, rv_metric metric,
							int typed_keys, rvsq_knn_result *out);
/*
 * The same search for one query q (d values) over rows already in memory (a cached copy
 * of a column, rows 0..n-1 in the table's order): the same candidates, distances and tie
 * rule; keys are copies of rows->tkeys.
 */
int			rvsq_knn_search_rows(rvsq_conn *c, const float *q, size_t d, const rvsq_rows *rows,
								 size_t k, rv_metric metric, rvsq_knn_result *out);
void		rvsq_knn_result_free(rvsq_knn_result *r);
/* k checks in PostgreSQL's words. */
int			rvsq_knn_check_k(rvsq_conn *c, sqlite3_int64 k);

/* Most hidden-column arguments of a kNN table-valued function. */
#define RVSQ_KNN_MAX_ARGS 9

/* The cursor of the kNN tables: a finished result walked row by row. */
typedef struct rvsq_knn_cursor
{
	sqlite3_vtab_cursor base;
	rvsq_knn_result res;
	char	  **qkeys;			/* key of each query (relvec_knn, relvec_stitch_knn) */
	size_t		qi;				/* current query */
	size_t		r;				/* current rank - 1 */
	sqlite3_int64 rowid;
	sqlite3_value *args[RVSQ_KNN_MAX_ARGS];	/* hidden-column arguments, returned as given */
} rvsq_knn_cursor;

/* Cursor methods shared by relvec_knn and relvec_stitch_knn (columns query_key, rank,
 * corpus_key, distance, then the hidden arguments). */
int			rvsq_knn_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out);
int			rvsq_knn_close(sqlite3_vtab_cursor *vc);
int			rvsq_knn_next(sqlite3_vtab_cursor *vc);
int			rvsq_knn_eof(sqlite3_vtab_cursor *vc);
int			rvsq_knn_rowid(sqlite3_vtab_cursor *vc, sqlite3_int64 *rowid);
int			rvsq_knn_column(sqlite3_vtab_cursor *vc, sqlite3_context *ctx, int col);
void		rvsq_knn_cursor_reset(rvsq_knn_cursor *cur);
void		rvsq_knn_cursor_settle(rvsq_knn_cursor *cur);
/* Move the query keys of q into the cursor (q keeps its buffers, and no rows). */
void		rvsq_knn_cursor_take_keys(rvsq_knn_cursor *cur, rvsq_rows *q);
/* End xFilter with its run's outcome rc: the error (cursor reset), or the first row. */
int			rvsq_knn_filter_end(rvsq_knn_cursor *cur, rvsq_conn *c, int rc);

/* ---- the per-connection copies of indexed columns (knncache.c) ---------------------- */

/*
 * What rvsq_knn_cache_get hands relvec_knn_index: rows, a copy of the column valid for
 * this statement (NULL: read the table instead), and hold, which keeps the table's read
 * transaction (and so the copy's snapshot) until rvsq_knn_cache_release.
 */
typedef struct rvsq_knn_copy
{
	const rvsq_rows *rows;
	sqlite3_stmt *hold;
} rvsq_knn_copy;

/*
 * The cached copy of column (key column key, or rowid) of table for this statement,
 * built when missing or out of date; out->rows is NULL when the table must be read
 * instead (not an ordinary table, a write transaction open on its schema, over the memory
 * limit, a value the copy cannot keep). Errors only for out of memory.
 */
int			rvsq_knn_cache_get(rvsq_conn *c, const char *table, const char *column, const char *key,
							   rvsq_knn_copy *out);
void		rvsq_knn_cache_release(rvsq_knn_copy *copy);
/* Free every copy (when the connection closes). */
void		rvsq_knn_cache_free(rvsq_conn *c);
void		rvsq_knn_cache_mb(sqlite3_context *, int, sqlite3_value **);
void		rvsq_knn_cache_stats(sqlite3_context *, int, sqlite3_value **);

/* ---- SQL entry points, registered by relvec.c -------------------------------------- */
void		rvsq_embedding(sqlite3_context *, int, sqlite3_value **);
void		rvsq_embedding_text(sqlite3_context *, int, sqlite3_value **);
void		rvsq_embedding_avg_step(sqlite3_context *, int, sqlite3_value **);
void		rvsq_embedding_avg_final(sqlite3_context *);
void		rvsq_embedding_sum_final(sqlite3_context *);

void		rvsq_l2_distance(sqlite3_context *, int, sqlite3_value **);
void		rvsq_l2_squared_distance(sqlite3_context *, int, sqlite3_value **);
void		rvsq_inner_product(sqlite3_context *, int, sqlite3_value **);
void		rvsq_negative_inner_product(sqlite3_context *, int, sqlite3_value **);
void		rvsq_cosine_distance(sqlite3_context *, int, sqlite3_value **);
void		rvsq_l1_distance(sqlite3_context *, int, sqlite3_value **);
void		rvsq_embedding_dims(sqlite3_context *, int, sqlite3_value **);
void		rvsq_embedding_norm(sqlite3_context *, int, sqlite3_value **);
void		rvsq_l2_normalize(sqlite3_context *, int, sqlite3_value **);
void		rvsq_subvector(sqlite3_context *, int, sqlite3_value **);
void		rvsq_embedding_add(sqlite3_context *, int, sqlite3_value **);
void		rvsq_embedding_sub(sqlite3_context *, int, sqlite3_value **);
void		rvsq_embedding_mul(sqlite3_context *, int, sqlite3_value **);
void		rvsq_embedding_concat(sqlite3_context *, int, sqlite3_value **);
void		rvsq_embedding_cmp(sqlite3_context *, int, sqlite3_value **);
void		rvsq_embedding_hash(sqlite3_context *, int, sqlite3_value **);

void		rvsq_tag(sqlite3_context *, int, sqlite3_value **);
void		rvsq_untag(sqlite3_context *, int, sqlite3_value **);
void		rvsq_space_of(sqlite3_context *, int, sqlite3_value **);

void		rvsq_catalog_init_fn(sqlite3_context *, int, sqlite3_value **);
void		rvsq_create_space(sqlite3_context *, int, sqlite3_value **);
void		rvsq_set_space_mean(sqlite3_context *, int, sqlite3_value **);
void		rvsq_rename_space(sqlite3_context *, int, sqlite3_value **);
void		rvsq_create_anchor_set(sqlite3_context *, int, sqlite3_value **);
void		rvsq_set_anchors(sqlite3_context *, int, sqlite3_value **);
void		rvsq_choose_anchors(sqlite3_context *, int, sqlite3_value **);
void		rvsq_freeze_anchor_set(sqlite3_context *, int, sqlite3_value **);
void		rvsq_drop_space(sqlite3_context *, int, sqlite3_value **);
void		rvsq_drop_anchor_set(sqlite3_context *, int, sqlite3_value **);
void		rvsq_drop_translation(sqlite3_context *, int, sqlite3_value **);

void		rvsq_project(sqlite3_context *, int, sqlite3_value **);

void		rvsq_fit_translation(sqlite3_context *, int, sqlite3_value **);
void		rvsq_translate(sqlite3_context *, int, sqlite3_value **);

void		rvsq_device(sqlite3_context *, int, sqlite3_value **);
void		rvsq_backend(sqlite3_context *, int, sqlite3_value **);

/* ---- table-valued functions (tvf.c) ----------------------------------------------- */

/* The table object of a table-valued function; a module's own struct starts with it. */
typedef struct rvsq_vtab
{
	sqlite3_vtab base;
	rvsq_conn  *c;
} rvsq_vtab;

/* xConnect's work: declare schema, make a zeroed size-byte table object for c. */
int			rvsq_tvf_connect(sqlite3 *db, rvsq_conn *c, const char *schema, size_t size,
							 sqlite3_vtab **out);
int			rvsq_tvf_disconnect(sqlite3_vtab *vt);

/*
 * xBestIndex of a table-valued function whose hidden columns first_hidden .. ncols-1 are
 * its arguments: idxNum gets a bit per argument given, argv holds them in column order.
 */
int			rvsq_tvf_best_index(sqlite3_index_info *info, int first_hidden, int ncols);
/* xFilter's arguments in column order (NULL when absent), with copies the cursor keeps. */
void		rvsq_tvf_args(int idxNum, int argc, sqlite3_value **argv, int nargs, sqlite3_value **arg,
						  sqlite3_value **keep);

/* Virtual table modules; pAux of each is the rvsq_conn. */
extern sqlite3_module rvsq_project_query_module;
extern sqlite3_module rvsq_knn_module;
extern sqlite3_module rvsq_knn_index_module;
extern sqlite3_module rvsq_compare_spaces_module;
extern sqlite3_module rvsq_stitch_knn_module;

#endif							/* RELVEC_SQLITE_H */
