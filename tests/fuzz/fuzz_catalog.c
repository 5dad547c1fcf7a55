/*
 * fuzz_catalog.c — libFuzzer harness for the SQLite extension's readers of a database
 * file: the catalog (spaces, anchor sets, anchors, translations) and the embedding BLOBs
 * in it. Each input describes one catalog, written with plain SQL into tables without
 * constraints or triggers in an in-memory database, as a crafted or damaged file might
 * hold it; then every SQL function that reads it runs (projection, stitching by every
 * route, translation, comparison, fitting, freezing, re-storing anchors, dropping a space)
 * and a query embedding from the input, tagged or not, goes through the scalar functions
 * and the space tags' (relvec_tag, relvec_space_of, inference), its bytes also serving as
 * the SQL text of a user's query. Errors are expected; the sanitizers catch the rest, and
 * once the connection is closed SQLite's allocator must be back where it was (the
 * extension and the bridge allocate only through it).
 *
 * Input layout (every field reads as zero or empty once the input runs out):
 *   u8 flags            bit 0: set not frozen; bit 1: no translation row; bit 2: query as
 *                       text; bit 3: set keys as a BLOB
 *   space a, space b:   u8 dims kind (0 integer, 1 integer + 2^32, 2 text, 3 NULL), i16 dims,
 *                       value mean
 *   value keys          (the set's keys as text, or a BLOB with flag bit 3)
 *   per space a, b:     u8 row count (at most 24), per row: u8 ord kind (0 integer, 1 text,
 *                       2 NULL), u8 ord, value key, value e
 *   u8 method           0 orthogonal, 1 linear, 2 affine, else "rigid" (unknown)
 *   6 values            from_mean, from_std, to_mean, to_std, matrix, bias
 *   value query
 * A value is u16 length (little-endian; 0xffff: NULL) and that many bytes.
 *
 * tests/fuzz/make_seeds.py writes the seed corpus in this layout.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

extern int	sqlite3_relvec_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ROWS 24

typedef struct input
{
	const uint8_t *p;
	size_t		n;
} input;

/* A value of the input: bytes (NULL for SQL NULL) and their length. */
typedef struct value
{
	const uint8_t *b;
	size_t		len;
} value;

static unsigned
take_u8(input *in)
{
	unsigned	v = 0;

	if (in->n > 0)
	{
		v = in->p[0];
		in->p++;
		in->n--;
	}
	return v;
}

static unsigned
take_u16(input *in)
{
	unsigned	lo = take_u8(in);

	return lo | (take_u8(in) << 8);
}

static value
take_value(input *in)
{
	value		v;
	unsigned	len = take_u16(in);

	if (len == 0xffff)
	{
		v.b = NULL;
		v.len = 0;
		return v;
	}
	if (len > in->n)
		len = (unsigned) in->n;
	v.b = in->p;
	v.len = len;
	in->p += len;
	in->n -= len;
	return v;
}

/* Bind v as a BLOB (or NULL) to parameter i. */
static void
bind_blob(sqlite3_stmt *st, int i, value v)
{
	if (v.b == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_blob(st, i, v.len ? (const void *) v.b : "", (int) v.len, SQLITE_TRANSIENT);
}

/* Bind v as text (or NULL) to parameter i. */
static void
bind_text(sqlite3_stmt *st, int i, value v)
{
	if (v.b == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v.len ? (const char *) v.b : "", (int) v.len, SQLITE_TRANSIENT);
}

/* Run sql with the parameters bound by the caller to completion; errors are expected. */
static void
drain(sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	while (sqlite3_step(st) == SQLITE_ROW)
	{
		/* read every column as SQLite would hand it on */
		int			i;

		for (i = 0; i < sqlite3_column_count(st); i++)
			(void) sqlite3_column_bytes(st, i);
	}
	sqlite3_finalize(st);
}

static sqlite3_stmt *
prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
	{
		fprintf(stderr, "fuzz_catalog: cannot prepare %s: %s\n", sql, sqlite3_errmsg(db));
		abort();
	}
	return st;
}

static void
exec(sqlite3 *db, const char *sql)
{
	char	   *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
	{
		fprintf(stderr, "fuzz_catalog: %s: %s\n", sql, err);
		abort();
	}
}

/* The catalog's tables as a file from elsewhere might have them: no constraints, no triggers. */
static const char *const schema =
	"CREATE TABLE relvec_spaces (space_id INTEGER PRIMARY KEY, name TEXT, dims, description TEXT, mean, "
	"  mean_version INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE relvec_anchor_sets (set_id INTEGER PRIMARY KEY, name TEXT, keys, frozen INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE relvec_anchors (set_id INTEGER, space_id INTEGER, ord, key, e);"
	"CREATE TABLE relvec_translations (set_id INTEGER, from_space_id INTEGER, to_space_id INTEGER, method,"
	"  from_mean, from_std, to_mean, to_std, matrix, bias, fitted_at TEXT NOT NULL DEFAULT (datetime('now')),"
	"  PRIMARY KEY (set_id, from_space_id, to_space_id));";

/* What reads the catalog, every route; ?1 is the query embedding. */
static const char *const readers[] = {
	"SELECT relvec_project(?1, 's', 'a')",
	"SELECT relvec_project(?1, 's', 'a', 'cosine', 'space')",
	"SELECT relvec_project(?1, 's', 'b', 'euclidean+cosine', 'anchors', 1)",
	"SELECT relvec_translate(?1, 's', 'a', 'b')",
	"SELECT * FROM relvec_project_query('SELECT key, e FROM relvec_anchors WHERE space_id = 1', 's', 'a')",
	"SELECT * FROM relvec_stitch_knn('SELECT key, e FROM relvec_anchors WHERE space_id = 1', 'a', "
	"  'SELECT key, e FROM relvec_anchors WHERE space_id = 2', 'b', 's', 3)",
	"SELECT * FROM relvec_stitch_knn('SELECT key, e FROM relvec_anchors WHERE space_id = 1', 'a', "
	"  'SELECT key, e FROM relvec_anchors WHERE space_id = 2', 'b', 's', 3, 'translation')",
	"SELECT * FROM relvec_stitch_knn('SELECT key, e FROM relvec_anchors WHERE space_id = 1', 'a', "
	"  'SELECT key, e FROM relvec_anchors WHERE space_id = 2', 'b', 's', 2, 'absolute')",
	"SELECT * FROM relvec_compare_spaces('s', 'a', 'b', 'SELECT x.key, x.e, y.e FROM relvec_anchors x "
	"  JOIN relvec_anchors y ON y.key = x.key AND y.space_id = 2 WHERE x.space_id = 1', 2)",
	"SELECT * FROM relvec_compare_spaces('s', 'a', 'b', 'SELECT x.key, x.e, y.e FROM relvec_anchors x "
	"  JOIN relvec_anchors y ON y.key = x.key AND y.space_id = 2 WHERE x.space_id = 1', 2, 'translation')",
	"SELECT * FROM relvec_knn('SELECT key, e FROM relvec_anchors WHERE space_id = 1', "
	"  'SELECT key, e FROM relvec_anchors', 2)",
	"SELECT embedding_text(?1), embedding_dims(?1), embedding_norm(?1), l2_distance(?1, ?1), "
	"  embedding_text(embedding_concat(?1, ?1)), embedding_text(subvector(?1, 2, 3))",
	"SELECT embedding_text(embedding_avg(e)), embedding_text(embedding_sum(e)) FROM relvec_anchors",
	/* space tags: the query's resolved in this catalog, named, checked against the anchors' */
	"SELECT relvec_space_of(?1), embedding_hash(?1), embedding_text(relvec_untag(?1)), embedding_cmp(?1, ?1)",
	"SELECT embedding_text(relvec_tag(?1, 'a')), embedding_text(relvec_tag(?1, 'b'))",
	"SELECT relvec_project(?1, 's')",
	"SELECT relvec_translate(?1, 's', 'b')",
	"SELECT l2_distance(?1, e), embedding_text(embedding_add(?1, e)) FROM relvec_anchors",
	/* the query as the SQL text of a user's query: prepared, refused when it would write */
	"SELECT * FROM relvec_knn(CAST(?1 AS TEXT), 'SELECT key, e FROM relvec_anchors', 1)",
	/* writers last: they read the same rows first */
	"SELECT relvec_fit_translation('s', 'a', 'b', 'affine')",
	"SELECT relvec_translate(?1, 's', 'a', 'b')",
	"SELECT relvec_freeze_anchor_set('s')",
	"SELECT relvec_set_space_mean('b', 'SELECT e FROM relvec_anchors WHERE space_id = 2')",
	"SELECT relvec_set_anchors('s', 'a', 'SELECT key, e FROM relvec_anchors WHERE space_id = 2')",
	"SELECT relvec_choose_anchors('t', 'a', 'SELECT key, e FROM relvec_anchors WHERE space_id = 1', 2, 'fps', 1)",
	/* reads every table for values tagged with the space, then drops it */
	"SELECT relvec_drop_space('b', 1)",
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	/* as the CLI does: every connection gets the statically linked extension */
	sqlite3_auto_extension((void (*) (void)) sqlite3_relvec_init);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	input		in = {data, size};
	sqlite3_int64 mem_before = sqlite3_memory_used();
	sqlite3	   *db;
	sqlite3_stmt *st;
	unsigned	flags = take_u8(&in);
	unsigned	method;
	value		query;
	int			sp;
	size_t		i;

	if (sqlite3_open(":memory:", &db) != SQLITE_OK)
		abort();
	exec(db, schema);

	/* the spaces a and b */
	for (sp = 1; sp <= 2; sp++)
	{
		unsigned	kind = take_u8(&in) % 4;
		int16_t		dims = (int16_t) take_u16(&in);

		st = prep(db, "INSERT INTO relvec_spaces (space_id, name, dims, mean) VALUES (?1, ?2, ?3, ?4)");
		sqlite3_bind_int(st, 1, sp);
		sqlite3_bind_text(st, 2, sp == 1 ? "a" : "b", -1, SQLITE_STATIC);
		if (kind == 0)
			sqlite3_bind_int(st, 3, dims);
		else if (kind == 1)
			sqlite3_bind_int64(st, 3, ((sqlite3_int64) 1 << 32) + dims);
		else if (kind == 2)
			sqlite3_bind_text(st, 3, "two", -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 3);
		bind_blob(st, 4, take_value(&in));
		drain(st);
	}

	/* the anchor set s */
	st = prep(db, "INSERT INTO relvec_anchor_sets (set_id, name, keys, frozen) VALUES (1, 's', ?1, ?2)");
	if (flags & 8)
		bind_blob(st, 1, take_value(&in));
	else
		bind_text(st, 1, take_value(&in));
	sqlite3_bind_int(st, 2, (flags & 1) ? 0 : 1);
	drain(st);

	/* its anchors in both spaces */
	for (sp = 1; sp <= 2; sp++)
	{
		unsigned	rows = take_u8(&in) % (MAX_ROWS + 1);

		for (i = 0; i < rows; i++)
		{
			unsigned	ord_kind = take_u8(&in) % 3;
			unsigned	ord = take_u8(&in);

			st = prep(db, "INSERT INTO relvec_anchors (set_id, space_id, ord, key, e) VALUES (1, ?1, ?2, ?3, ?4)");
			sqlite3_bind_int(st, 1, sp);
			if (ord_kind == 0)
				sqlite3_bind_int(st, 2, (int) ord);
			else if (ord_kind == 1)
				sqlite3_bind_text(st, 2, "1", -1, SQLITE_STATIC);
			else
				sqlite3_bind_null(st, 2);
			bind_text(st, 3, take_value(&in));
			bind_blob(st, 4, take_value(&in));
			drain(st);
		}
	}

	/* a translation from a to b */
	method = take_u8(&in);
	st = prep(db, "INSERT INTO relvec_translations (set_id, from_space_id, to_space_id, method, from_mean, "
			  "from_std, to_mean, to_std, matrix, bias) VALUES (1, 1, 2, ?1, ?2, ?3, ?4, ?5, ?6, ?7)");
	if (method < 3)
		sqlite3_bind_text(st, 1, method == 0 ? "orthogonal" : method == 1 ? "linear" : "affine", -1,
						  SQLITE_STATIC);
	else
		sqlite3_bind_text(st, 1, "rigid", -1, SQLITE_STATIC);
	for (i = 0; i < 6; i++)
		bind_blob(st, (int) i + 2, take_value(&in));
	if (flags & 2)
		sqlite3_finalize(st);
	else
		drain(st);

	query = take_value(&in);
	for (i = 0; i < sizeof(readers) / sizeof(readers[0]); i++)
	{
		st = prep(db, readers[i]);
		if (sqlite3_bind_parameter_count(st) > 0)
		{
			if (flags & 4)
				bind_text(st, 1, query);
			else
				bind_blob(st, 1, query);
		}
		drain(st);
	}
	sqlite3_close(db);
	if (sqlite3_memory_used() != mem_before)
	{
		fprintf(stderr, "fuzz_catalog: %lld bytes of SQLite memory left after the connection closed\n",
				(long long) (sqlite3_memory_used() - mem_before));
		abort();
	}
	return 0;
}
