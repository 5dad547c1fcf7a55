/*
 * knncache.c — the per-connection copies of the columns relvec_knn_index searches: each
 * copy is one contiguous n x d float32 array of a table's embedding column with the key
 * of every row (of the key column's own type), in the table's scan order, so a query
 * runs rv_topk over memory instead of stepping through every row of the table and
 * decoding its BLOB. A copy belongs to (schema, table, column, key column), not to a
 * metric or a virtual table: every relvec_knn_index over the same column shares it.
 *
 * A copy is used only while it is provably the table as this statement reads it:
 *  - the table is an ordinary table (not a view or a virtual table: their data version
 *    says nothing), found where SQLite finds the unqualified name (temp, main, then the
 *    attached schemas in order; a temp table of the same name hides the copy's table);
 *  - this connection has no write transaction open on that schema (sqlite3_txn_state):
 *    its own uncommitted changes, a ROLLBACK TO or a DROP TABLE inside a transaction
 *    move no data version, so inside one the table is read instead;
 *  - the schema's data version (sqlite3_file_control SQLITE_FCNTL_DATA_VERSION) equals
 *    the one read when the copy was built. The pager moves it on every commit, this
 *    connection's own and another connection's or process's (which it notices when a read
 *    transaction starts), so it is read while a read transaction on the schema is open:
 *    a "PRAGMA schema.data_version" statement stepped once, opening it, and held until
 *    the query is answered, so that the version and the rows are of one snapshot.
 * sqlite3_total_changes is not used: it misses a ROLLBACK TO and schema changes, and the
 * write-transaction rule above covers what it would add.
 *
 * Memory: the copies of one connection hold at most relvec_knn_cache_mb megabytes
 * (default 1024; 0 turns them off), counted as the floats, the key slots and the bytes
 * of text and blob keys. The least recently used copies are evicted to make room; a
 * column that does not fit alone (or that SQLite's allocator refuses in one piece, about
 * 2 GB) is read from the table at every query. A column whose values a copy cannot keep
 * exactly as a read would give them (an embedding stored as text, whose tag name is
 * looked up in the catalog; a damaged BLOB; mixed dimensions or spaces, which are errors
 * a read reports with the query's words) is read from the table too, until its data
 * changes. Copies are freed when the connection closes.
 */
#include <stdio.h>
#include <string.h>

#include "relvec_sqlite.h"

#define CACHE_DEFAULT_MB 1024
#define CACHE_MAX_MB 1048576
/* Rows read between two checks of the memory limit. */
#define CACHE_CHUNK 4096

typedef struct cache_entry
{
	struct cache_entry *next;
	char	   *schema;			/* as pragma_table_list names it */
	char	   *table;			/* as the schema spells it */
	char	   *column;
	char	   *key;			/* the key column, or "rowid" */
	unsigned int version;		/* the schema's data version when it was read */
	int			usable;			/* 0: read the table while the version stays */
	rvsq_rows	rows;
	size_t		bytes;
	sqlite3_uint64 last_use;
} cache_entry;

typedef struct rvsq_knn_cache
{
	cache_entry *entries;
	sqlite3_int64 limit_mb;
	size_t		used;			/* bytes of every entry */
	sqlite3_uint64 clock;
	sqlite3_uint64 hits,
				builds,
				evictions,
				too_large,
				bypasses;
} rvsq_knn_cache;

/* The connection's cache, made on first use; NULL on out of memory. */
static rvsq_knn_cache *
cache_of(rvsq_conn *c)
{
	if (c->knn_cache == NULL)
	{
		c->knn_cache = sqlite3_malloc(sizeof(rvsq_knn_cache));
		if (c->knn_cache == NULL)
			return NULL;
		memset(c->knn_cache, 0, sizeof(rvsq_knn_cache));
		c->knn_cache->limit_mb = CACHE_DEFAULT_MB;
	}
	return c->knn_cache;
}

static size_t
limit_bytes(const rvsq_knn_cache *cache)
{
	return (size_t) cache->limit_mb << 20;
}

/* Drop an entry's rows (it stays in the list, unusable, with no bytes). */
static void
entry_clear(rvsq_knn_cache *cache, cache_entry *e)
{
	rvsq_rows_free(&e->rows);
	cache->used -= e->bytes;
	e->bytes = 0;
	e->usable = 0;
}

/* Unlink and free an entry. */
static void
entry_remove(rvsq_knn_cache *cache, cache_entry *e)
{
	cache_entry **p;

	for (p = &cache->entries; *p != NULL; p = &(*p)->next)
		if (*p == e)
		{
			*p = e->next;
			break;
		}
	entry_clear(cache, e);
	sqlite3_free(e->schema);
	sqlite3_free(e->table);
	sqlite3_free(e->column);
	sqlite3_free(e->key);
	sqlite3_free(e);
}

/*
 * Evict least recently used copies other than keep until need more bytes fit under the
 * limit; nonzero when they do.
 */
static int
make_room(rvsq_knn_cache *cache, const cache_entry *keep, size_t need)
{
	size_t		limit = limit_bytes(cache);

	while (cache->used + need > limit)
	{
		cache_entry *e,
				   *lru = NULL;

		for (e = cache->entries; e != NULL; e = e->next)
			if (e != keep && e->bytes > 0 && (lru == NULL || e->last_use < lru->last_use))
				lru = e;
		if (lru == NULL)
			return 0;
		entry_clear(cache, lru);
		cache->evictions++;
	}
	return 1;
}

/* Bytes an entry of cap rows of d values holds, before the bytes of its text keys. */
static size_t
rows_bytes(size_t cap, size_t d)
{
	return cap * (d * sizeof(float) + sizeof(rvsq_key));
}

/*
 * Where SQLite finds the unqualified table name: *schema and *name (sqlite3_malloc'd, as
 * the schema spells them) and whether it is an ordinary table. Both NULL when no table
 * or view has the name or this SQLite lacks pragma_table_list (before 3.37).
 */
static int
resolve_table(rvsq_conn *c, const char *table, char **schema, char **name, int *ordinary)
{
	sqlite3_stmt *st = NULL;
	int			rc;

	*schema = *name = NULL;
	*ordinary = 0;
	if (sqlite3_prepare_v2(c->db, "SELECT schema, name, type FROM pragma_table_list(?1)", -1, &st, NULL)
		!= SQLITE_OK)
	{
		sqlite3_finalize(st);
		return SQLITE_OK;
	}
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	/* rows come in schema order (main, temp, attached); SQLite looks in temp first */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
	{
		const char *s = (const char *) sqlite3_column_text(st, 0);
		int			temp = s != NULL && strcmp(s, "temp") == 0;

		if (*schema != NULL && !temp)
			continue;
		sqlite3_free(*schema);
		sqlite3_free(*name);
		*schema = sqlite3_mprintf("%s", s ? s : "");
		*name = sqlite3_mprintf("%s", sqlite3_column_text(st, 1) ? (const char *) sqlite3_column_text(st, 1) : "");
		*ordinary = sqlite3_column_text(st, 2) != NULL && strcmp((const char *) sqlite3_column_text(st, 2), "table") == 0;
		if (*schema == NULL || *name == NULL)
		{
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
	{
		sqlite3_free(*schema);
		sqlite3_free(*name);
		*schema = *name = NULL;
		*ordinary = 0;
		return rc == SQLITE_NOMEM ? SQLITE_NOMEM : SQLITE_OK;
	}
	return SQLITE_OK;
}

/*
 * Open a read transaction on schema and read its data version within it: *hold keeps it
 * open (finalize it when done). Nonzero when the version was read.
 */
static int
read_version(rvsq_conn *c, const char *schema, sqlite3_stmt **hold, unsigned int *version)
{
	char	   *sql = sqlite3_mprintf("PRAGMA \"%w\".data_version", schema);
	int			ok;

	*hold = NULL;
	if (sql == NULL)
		return 0;
	ok = sqlite3_prepare_v2(c->db, sql, -1, hold, NULL) == SQLITE_OK && sqlite3_step(*hold) == SQLITE_ROW &&
		sqlite3_file_control(c->db, schema, SQLITE_FCNTL_DATA_VERSION, version) == SQLITE_OK;
	sqlite3_free(sql);
	if (!ok)
	{
		sqlite3_finalize(*hold);
		*hold = NULL;
	}
	return ok;
}

static const rvsq_source copy_source = {"the corpus", "the corpus must return two columns, (key, embedding)",
	"a row of the corpus has a null key or embedding", "corpus", NULL, "the first row has", 1};

/*
 * Read the table into e->rows: every row with a key and an embedding, in scan order,
 * within the memory limit. e->usable tells whether the copy is complete; a copy that
 * cannot be made leaves no rows and no error (the query reads the table, which reports
 * what is wrong in its own words). Errors only for out of memory outside the copy.
 */
static int
build(rvsq_conn *c, rvsq_knn_cache *cache, cache_entry *e)
{
	sqlite3_stmt *st = NULL;
	char	   *sql;
	size_t		key_bytes = 0;
	size_t		counted = 0;
	int			done = 0;
	int			rc = SQLITE_OK;

	memset(&e->rows, 0, sizeof(e->rows));
	e->rows.typed_keys = 1;
	e->usable = 0;
	if (strcmp(e->key, "rowid") == 0)
		sql = sqlite3_mprintf("SELECT rowid, \"%w\" FROM \"%w\".\"%w\"", e->column, e->schema, e->table);
	else
		sql = sqlite3_mprintf("SELECT \"%w\", \"%w\" FROM \"%w\".\"%w\"", e->key, e->column, e->schema, e->table);
	if (sql == NULL)
		return SQLITE_NOMEM;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto fail;
	/* one row first: its dimensions size the rest */
	if (rvsq_read_rows(c, st, &copy_source, &e->rows, 1, &done) != SQLITE_OK)
		goto fail;
	while (!done)
	{
		size_t		want;

		if (e->rows.n == e->rows.cap)
		{
			size_t		cap = e->rows.cap + e->rows.cap / 2;

			if (cap < e->rows.n + CACHE_CHUNK)
				cap = e->rows.n + CACHE_CHUNK;
			if (!make_room(cache, e, rows_bytes(cap, e->rows.d) + key_bytes))
			{
				/* every other copy is gone: as many rows as the rest of the limit holds */
				size_t		limit = limit_bytes(cache);
				size_t		avail = limit > cache->used + key_bytes ? limit - cache->used - key_bytes : 0;

				cap = avail / rows_bytes(1, e->rows.d);
				if (cap <= e->rows.n)
				{
					cache->too_large++;
					goto fail;
				}
			}
			if (rvsq_rows_reserve(&e->rows, cap) != SQLITE_OK)
				goto fail;
		}
		want = e->rows.n + CACHE_CHUNK < e->rows.cap ? e->rows.n + CACHE_CHUNK : e->rows.cap;
		if (rvsq_read_rows(c, st, &copy_source, &e->rows, want, &done) != SQLITE_OK || e->rows.saw_text)
			goto fail;
		for (; counted < e->rows.n; counted++)
			if (e->rows.tkeys[counted].p != NULL)
				key_bytes += (size_t) e->rows.tkeys[counted].n + 1;
	}
	if (e->rows.saw_text)
		goto fail;
	for (; counted < e->rows.n; counted++)
		if (e->rows.tkeys[counted].p != NULL)
			key_bytes += (size_t) e->rows.tkeys[counted].n + 1;
	/* no room kept for rows that will never come */
	if (e->rows.n > 0 && rvsq_rows_reserve(&e->rows, e->rows.n) != SQLITE_OK)
		goto fail;
	e->bytes = rows_bytes(e->rows.cap, e->rows.d) + key_bytes;
	if (!make_room(cache, e, e->bytes))
	{
		e->bytes = 0;
		cache->too_large++;
		goto fail;
	}
	cache->used += e->bytes;
	e->usable = 1;
	cache->builds++;
	goto out;
fail:
	/* a read error here is the query's to report, when it reads the table itself */
	c->err[0] = '\0';
	rvsq_rows_free(&e->rows);
	e->bytes = 0;
	e->usable = 0;
out:
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return rc;
}

int
rvsq_knn_cache_get(rvsq_conn *c, const char *table, const char *column, const char *key,
				   rvsq_knn_copy *out)
{
	rvsq_knn_cache *cache = cache_of(c);
	cache_entry *e;
	char	   *schema = NULL;
	char	   *name = NULL;
	int			ordinary;
	unsigned int version;
	int			rc;

	memset(out, 0, sizeof(*out));
	if (cache == NULL)
		return SQLITE_NOMEM;
	if (cache->limit_mb == 0)
		goto bypass;
	if ((rc = resolve_table(c, table, &schema, &name, &ordinary)) != SQLITE_OK)
		return rc;
	if (schema == NULL || !ordinary)
		goto bypass;
	if (sqlite3_txn_state(c->db, schema) == SQLITE_TXN_WRITE)
		goto bypass;
	if (!read_version(c, schema, &out->hold, &version))
		goto bypass;
	for (e = cache->entries; e != NULL; e = e->next)
		if (strcmp(e->schema, schema) == 0 && strcmp(e->table, name) == 0 &&
			sqlite3_stricmp(e->column, column) == 0 && sqlite3_stricmp(e->key, key) == 0)
			break;
	if (e != NULL && e->version == version)
	{
		if (!e->usable)
			goto bypass;
		e->last_use = ++cache->clock;
		cache->hits++;
		out->rows = &e->rows;
		sqlite3_free(schema);
		sqlite3_free(name);
		return SQLITE_OK;
	}
	if (e != NULL)
		entry_clear(cache, e);	/* out of date: free it before its successor is read */
	else
	{
		e = sqlite3_malloc(sizeof(cache_entry));
		if (e == NULL)
			goto nomem;
		memset(e, 0, sizeof(*e));
		e->schema = schema;
		e->table = name;
		schema = name = NULL;
		e->column = sqlite3_mprintf("%s", column);
		e->key = sqlite3_mprintf("%s", key);
		e->next = cache->entries;
		cache->entries = e;
		if (e->column == NULL || e->key == NULL)
		{
			entry_remove(cache, e);
			goto nomem;
		}
	}
	e->version = version;
	e->last_use = ++cache->clock;
	if ((rc = build(c, cache, e)) != SQLITE_OK)
	{
		sqlite3_free(schema);
		sqlite3_free(name);
		rvsq_knn_cache_release(out);
		return rc;
	}
	if (!e->usable)
		goto bypass;
	out->rows = &e->rows;
	sqlite3_free(schema);
	sqlite3_free(name);
	return SQLITE_OK;
bypass:
	cache->bypasses++;
	sqlite3_free(schema);
	sqlite3_free(name);
	return SQLITE_OK;
nomem:
	sqlite3_free(schema);
	sqlite3_free(name);
	rvsq_knn_cache_release(out);
	return SQLITE_NOMEM;
}

void
rvsq_knn_cache_release(rvsq_knn_copy *copy)
{
	sqlite3_finalize(copy->hold);
	copy->hold = NULL;
	copy->rows = NULL;
}

void
rvsq_knn_cache_free(rvsq_conn *c)
{
	if (c->knn_cache == NULL)
		return;
	while (c->knn_cache->entries != NULL)
		entry_remove(c->knn_cache, c->knn_cache->entries);
	sqlite3_free(c->knn_cache);
	c->knn_cache = NULL;
}

/* relvec_knn_cache_mb([mb]): the connection's memory limit for copies, set when mb is given. */
void
rvsq_knn_cache_mb(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	rvsq_knn_cache *cache = cache_of(c);

	if (cache == NULL)
	{
		sqlite3_result_error_nomem(ctx);
		return;
	}
	if (argc == 1)
	{
		sqlite3_int64 mb;
		cache_entry *e;

		if (sqlite3_value_type(argv[0]) != SQLITE_INTEGER)
		{
			const char *text = (const char *) sqlite3_value_text(argv[0]);

			rvsq_fail(c, "invalid value for relvec_knn_cache_mb: \"%s\": an integer number of megabytes is expected",
					  text ? text : "NULL");
			rvsq_result_error(ctx, c, SQLITE_ERROR);
			return;
		}
		mb = sqlite3_value_int64(argv[0]);
		if (mb < 0 || mb > CACHE_MAX_MB)
		{
			rvsq_fail(c, "%lld is outside the valid range for relvec_knn_cache_mb (0 .. %d)", (long long) mb,
					  CACHE_MAX_MB);
			rvsq_result_error(ctx, c, SQLITE_ERROR);
			return;
		}
		cache->limit_mb = mb;
		if (mb == 0)
			while (cache->entries != NULL)
				entry_remove(cache, cache->entries);
		else
			make_room(cache, NULL, 0);
		/* entries evicted to nothing keep only their names: drop them */
		for (e = cache->entries; e != NULL;)
		{
			cache_entry *next = e->next;

			if (e->bytes == 0)
				entry_remove(cache, e);
			e = next;
		}
	}
	sqlite3_result_int64(ctx, cache->limit_mb);
}

/* relvec_knn_cache_stats(): the limit, what the copies hold, and totals, as JSON. */
void
rvsq_knn_cache_stats(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	rvsq_knn_cache *cache = cache_of(c);
	cache_entry *e;
	int			copies = 0;
	char	   *json;

	(void) argc;
	(void) argv;
	if (cache == NULL)
	{
		sqlite3_result_error_nomem(ctx);
		return;
	}
	for (e = cache->entries; e != NULL; e = e->next)
		if (e->usable)
			copies++;
	json = sqlite3_mprintf("{\"limit_mb\":%lld,\"used_bytes\":%llu,\"copies\":%d,\"hits\":%llu,\"builds\":%llu,"
						   "\"evictions\":%llu,\"too_large\":%llu,\"bypasses\":%llu}",
						   (long long) cache->limit_mb, (unsigned long long) cache->used, copies,
						   (unsigned long long) cache->hits, (unsigned long long) cache->builds,
						   (unsigned long long) cache->evictions, (unsigned long long) cache->too_large,
						   (unsigned long long) cache->bypasses);
	if (json == NULL)
	{
		sqlite3_result_error_nomem(ctx);
		return;
	}
	sqlite3_result_text(ctx, json, -1, sqlite3_free);
}
