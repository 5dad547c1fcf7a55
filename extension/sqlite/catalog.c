/*
 * catalog.c — relvec's catalog inside the database file: latent spaces, anchor sets and
 * their parallel anchors (and fitted translations), as ordinary tables created lazily and
 * idempotently by relvec_catalog_init(), which every catalog function calls first. The
 * schema is the one the relvec CLI writes when it pulls from PostgreSQL; keys of an anchor
 * set are a JSON array of strings where PostgreSQL has text[].
 *
 * The functions are PostgreSQL's plpgsql ones (sql/relvec.sql) rewritten in C, with the
 * same checks in the same order and the same messages. Each runs inside a savepoint, so a
 * failing call leaves nothing behind, as a failing statement does in PostgreSQL.
 * Triggers keep frozen sets unchanged; SQLite's RAISE takes only a constant message, so a
 * direct UPDATE or DELETE of a frozen set's rows reports "anchor set is frozen" without
 * the name (the functions check first and name the set).
 *
 * A database file is input, though: it may come from elsewhere, without those triggers
 * or the tables' constraints. So the readers (lookups, the anchor loader) check every row
 * they use — dimensions, the keys' JSON, the count, numbering and keys of the anchors, each
 * BLOB — and fail with a message rather than trust a count to size a buffer; and functions
 * that only read never write (rvsq_catalog_read), so a read-only file stays readable.
 * Dropping is in catalogdrop.c; what projection and translation read, in catalogload.c.
 */
#include <stdlib.h>
#include <string.h>

#include "relvec_sqlite.h"

static const char *const catalog_sql =
	"CREATE TABLE IF NOT EXISTS relvec_spaces (space_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE CHECK (name <> ''), dims INTEGER NOT NULL CHECK (dims BETWEEN 1 AND 16000), description TEXT, mean BLOB, mean_version INTEGER NOT NULL DEFAULT 0);\n"
	"CREATE TABLE IF NOT EXISTS relvec_anchor_sets (set_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE CHECK (name <> ''), keys TEXT NOT NULL /* JSON array of strings */, frozen INTEGER NOT NULL DEFAULT 0);\n"
	"CREATE TABLE IF NOT EXISTS relvec_anchors (set_id INTEGER NOT NULL REFERENCES relvec_anchor_sets ON DELETE CASCADE, space_id INTEGER NOT NULL REFERENCES relvec_spaces ON DELETE CASCADE, ord INTEGER NOT NULL, key TEXT NOT NULL, e BLOB NOT NULL, PRIMARY KEY (set_id, space_id, ord), UNIQUE (set_id, space_id, key));\n"
	"CREATE TABLE IF NOT EXISTS relvec_translations (set_id INTEGER NOT NULL REFERENCES relvec_anchor_sets ON DELETE CASCADE, from_space_id INTEGER NOT NULL REFERENCES relvec_spaces ON DELETE CASCADE, to_space_id INTEGER NOT NULL REFERENCES relvec_spaces ON DELETE CASCADE, method TEXT NOT NULL CHECK (method IN ('orthogonal','linear','affine')), from_mean BLOB NOT NULL, from_std BLOB NOT NULL, to_mean BLOB NOT NULL, to_std BLOB NOT NULL, matrix BLOB NOT NULL /* dim*dim float32 LE, row-major, no header */, bias BLOB, fitted_at TEXT NOT NULL DEFAULT (datetime('now')), PRIMARY KEY (set_id, from_space_id, to_space_id));\n"
	/* a frozen set keeps its name and keys and stays frozen */
	"CREATE TRIGGER IF NOT EXISTS relvec_anchor_sets_frozen BEFORE UPDATE ON relvec_anchor_sets "
	"WHEN OLD.frozen AND (NEW.frozen IS NOT OLD.frozen OR NEW.keys IS NOT OLD.keys OR NEW.name IS NOT OLD.name) "
	"BEGIN SELECT RAISE(ABORT, 'anchor set is frozen'); END;\n"
	/* inserts are refused once a space of a frozen set is complete (a pull fills it after the set row) */
	"CREATE TRIGGER IF NOT EXISTS relvec_anchors_frozen_insert BEFORE INSERT ON relvec_anchors "
	"WHEN EXISTS (SELECT 1 FROM relvec_anchor_sets s WHERE s.set_id = NEW.set_id AND s.frozen "
	"AND (SELECT count(*) FROM relvec_anchors a WHERE a.set_id = NEW.set_id AND a.space_id = NEW.space_id) >= json_array_length(s.keys)) "
	"BEGIN SELECT RAISE(ABORT, 'anchor set is frozen'); END;\n"
	"CREATE TRIGGER IF NOT EXISTS relvec_anchors_frozen_update BEFORE UPDATE ON relvec_anchors "
	"WHEN EXISTS (SELECT 1 FROM relvec_anchor_sets s WHERE s.frozen AND s.set_id = OLD.set_id) "
	"BEGIN SELECT RAISE(ABORT, 'anchor set is frozen'); END;\n"
	"CREATE TRIGGER IF NOT EXISTS relvec_anchors_frozen_delete BEFORE DELETE ON relvec_anchors "
	"WHEN EXISTS (SELECT 1 FROM relvec_anchor_sets s WHERE s.frozen AND s.set_id = OLD.set_id) "
	"BEGIN SELECT RAISE(ABORT, 'anchor set is frozen'); END;\n";

/* ---- small statement helpers ---------------------------------------------------------- */

static const rvsq_source query_one = {"query", "query must return one embedding column",
	"query returns a row with a null key or embedding", NULL, NULL, NULL, 0};
static const rvsq_source query_two = {"query", "query must return two columns, (key, embedding)",
	"query returns a row with a null key or embedding", NULL, NULL, NULL, 0};

int
rvsq_cat_prepare(rvsq_conn *c, const char *sql, sqlite3_stmt **st)
{
	int			rc = sqlite3_prepare_v2(c->db, sql, -1, st, NULL);

	if (rc != SQLITE_OK)
		return rvsq_sqlite_fail(c, rc);
	return SQLITE_OK;
}

/* Step a statement that returns no rows (or ignore them) and finalize it. */
int
rvsq_cat_run(rvsq_conn *c, sqlite3_stmt *st)
{
	int			rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE)
		rc = rvsq_sqlite_fail(c, rc);
	else
		rc = SQLITE_OK;
	sqlite3_finalize(st);
	return rc;
}

static int
exec(rvsq_conn *c, const char *sql)
{
	int			rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? SQLITE_OK : rvsq_sqlite_fail(c, rc);
}

/* How many of the catalog's four tables and four triggers schema main has. */
static int
catalog_objects(rvsq_conn *c, int *tables, int *triggers)
{
	sqlite3_stmt *st;
	int			rc;

	*tables = *triggers = 0;
	rc = rvsq_cat_prepare(c, "SELECT count(*) FILTER (WHERE type <> 'trigger'), count(*) FILTER (WHERE type = 'trigger') "
				 "FROM main.sqlite_master WHERE name IN ('relvec_spaces', "
				 "'relvec_anchor_sets', 'relvec_anchors', 'relvec_translations', 'relvec_anchor_sets_frozen', "
				 "'relvec_anchors_frozen_insert', 'relvec_anchors_frozen_update', 'relvec_anchors_frozen_delete')",
				 &st);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
	{
		*tables = sqlite3_column_int(st, 0);
		*triggers = sqlite3_column_int(st, 1);
		rc = SQLITE_OK;
	}
	else
		rc = rvsq_sqlite_fail(c, rc);
	sqlite3_finalize(st);
	return rc;
}

int
rvsq_catalog_init(rvsq_conn *c)
{
	int			tables,
				triggers;
	int			rc = catalog_objects(c, &tables, &triggers);

	if (rc != SQLITE_OK || (tables == 4 && triggers == 4))
		return rc;
	return exec(c, catalog_sql);
}

int
rvsq_catalog_read(rvsq_conn *c)
{
	int			tables,
				triggers;
	int			rc = catalog_objects(c, &tables, &triggers);

	/*
	 * Readers check every row they use, so the guard triggers are not needed to read, and
	 * a file opened read-only must never be written: with the tables present, read as is.
	 * A file without them gets the catalog (as in a writer) when it can be written, and
	 * otherwise lookups report the object as missing (lookup_row).
	 */
	if (rc != SQLITE_OK || tables == 4 || sqlite3_db_readonly(c->db, "main") == 1)
		return rc;
	return exec(c, catalog_sql);
}

int
rvsq_begin(rvsq_conn *c)
{
	return exec(c, "SAVEPOINT relvec_call");
}

int
rvsq_end(rvsq_conn *c, int rc)
{
	if (rc == SQLITE_OK)
		return exec(c, "RELEASE relvec_call");
	/* keep the failure's message; the rollback's own errors cannot be more useful */
	sqlite3_exec(c->db, "ROLLBACK TO relvec_call; RELEASE relvec_call", NULL, NULL, NULL);
	return rc;
}

/* An error unless v is not NULL: "<what> must not be null". */
static int
require(rvsq_conn *c, sqlite3_value *v, const char *what)
{
	if (sqlite3_value_type(v) == SQLITE_NULL)
		return rvsq_fail(c, "%s must not be null", what);
	return SQLITE_OK;
}

/*
 * Run sql, a lookup by name (?1), of a catalog object of kind what ("space", "anchor
 * set"): *st is left on its row, to read and finalize; an error when name is NULL or no
 * row matches ("<what> "x" does not exist").
 */
static int
lookup_row(rvsq_conn *c, const char *sql, const char *what, const char *name, sqlite3_stmt **st)
{
	int			rc;

	*st = NULL;
	if (name == NULL)
		return rvsq_fail(c, "%s must not be null", what);
	rc = rvsq_cat_prepare(c, sql, st);
	if (rc != SQLITE_OK)
	{
		int			tables,
					triggers;

		/* a read-only file without a catalog (rvsq_catalog_read) has no such object */
		if (catalog_objects(c, &tables, &triggers) == SQLITE_OK && tables == 0)
			return rvsq_fail(c, "%s \"%s\" does not exist", what, name);
		return rc;
	}
	sqlite3_bind_text(*st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(*st);
	if (rc == SQLITE_ROW)
		return SQLITE_OK;
	if (rc == SQLITE_DONE)
		rc = rvsq_fail(c, "%s \"%s\" does not exist", what, name);
	else
		rc = rvsq_sqlite_fail(c, rc);
	sqlite3_finalize(*st);
	*st = NULL;
	return rc;
}

/* Look a space up by name (want_mean: also read its mean). */
int
rvsq_lookup_space(rvsq_conn *c, const char *name, int want_mean, rvsq_space_row *out)
{
	sqlite3_stmt *st;
	int			rc;

	memset(out, 0, sizeof(*out));
	rc = lookup_row(c, "SELECT space_id, dims, mean_version, mean FROM relvec_spaces WHERE name = ?1", "space",
					name, &st);
	if (rc == SQLITE_OK)
	{
		sqlite3_int64 dims = sqlite3_column_int64(st, 1);

		out->id = sqlite3_column_int64(st, 0);
		out->mean_version = sqlite3_column_int(st, 2);
		/* a file is input: its dims sizes every buffer of the space, so check it as created */
		if (sqlite3_column_type(st, 1) != SQLITE_INTEGER)
			rc = rvsq_fail(c, "dimensions of space \"%s\" are not an integer", name);
		else if (dims < 1)
			rc = rvsq_fail(c, "dimensions of space \"%s\" must be at least 1", name);
		else if (dims > RV_MAX_DIMS)
			rc = rvsq_fail(c, "dimensions of space \"%s\" cannot exceed %d", name, RV_MAX_DIMS);
		else
			out->dims = (int) dims;
		if (rc == SQLITE_OK && want_mean && sqlite3_column_type(st, 3) != SQLITE_NULL &&
			(rc = rvsq_value_vec(c, sqlite3_column_value(st, 3), "space mean", &out->mean)) != SQLITE_OK &&
			rc != SQLITE_NOMEM)
		{
			char		why[RVSQ_ERR_LEN];

			memcpy(why, c->err, sizeof(why));
			rc = rvsq_fail(c, "the stored mean of space \"%s\" is damaged: %s", name, why);
		}
		/* the value dies with the statement: keep a copy */
		if (rc == SQLITE_OK && out->mean.x != NULL && out->mean.owned == NULL)
		{
			out->mean.owned = sqlite3_malloc64(sizeof(float) * out->mean.dims);
			if (out->mean.owned == NULL)
				rc = SQLITE_NOMEM;
			else
			{
				memcpy(out->mean.owned, out->mean.x, sizeof(float) * out->mean.dims);
				out->mean.x = out->mean.owned;
			}
		}
		sqlite3_finalize(st);
	}
	return rc;
}

void
rvsq_free_keys(char **keys, size_t n)
{
	size_t		i;

	if (keys == NULL)
		return;
	for (i = 0; i < n; i++)
		sqlite3_free(keys[i]);
	sqlite3_free(keys);
}

/*
 * Look an anchor set up by name; with want_keys, read its keys in order. The stored keys
 * must be what relvec_create_anchor_set writes, a JSON array of at least one string:
 * their number sizes the anchor buffers of every reader.
 */
int
rvsq_lookup_set(rvsq_conn *c, const char *name, int want_keys, rvsq_set_row *out)
{
	sqlite3_stmt *st;
	sqlite3_int64 nkeys = 0;
	size_t		cap;
	int			rc;

	memset(out, 0, sizeof(*out));
	/* json_each runs only on valid JSON: CASE evaluates its branches lazily */
	rc = lookup_row(c, "SELECT set_id, frozen, CASE WHEN json_valid(keys) AND json_type(keys) = 'array' "
					"THEN (SELECT count(*) FILTER (WHERE type <> 'text') FROM json_each(keys)) END, "
					"CASE WHEN json_valid(keys) AND json_type(keys) = 'array' THEN json_array_length(keys) END "
					"FROM relvec_anchor_sets WHERE name = ?1",
					"anchor set", name, &st);
	if (rc == SQLITE_OK)
	{
		out->id = sqlite3_column_int64(st, 0);
		out->frozen = sqlite3_column_int64(st, 1) != 0;
		nkeys = sqlite3_column_int64(st, 3);
		if (sqlite3_column_type(st, 2) == SQLITE_NULL || sqlite3_column_int64(st, 2) != 0)
			rc = rvsq_fail(c, "keys of anchor set \"%s\" are not a JSON array of strings", name);
		else if (nkeys < 1)
			rc = rvsq_fail(c, "anchor set \"%s\" needs at least one key", name);
		sqlite3_finalize(st);
	}
	if (rc != SQLITE_OK)
		return rc;
	out->nkeys = (size_t) nkeys;
	if (!want_keys)
		return SQLITE_OK;

	cap = out->nkeys;
	out->keys = sqlite3_malloc64(sizeof(char *) * (cap + 1));
	out->nkeys = 0;				/* the keys read so far, for free_keys */
	if (out->keys == NULL)
		return SQLITE_NOMEM;
	rc = rvsq_cat_prepare(c, "SELECT CAST(j.value AS TEXT) FROM relvec_anchor_sets s, json_each(s.keys) j "
				 "WHERE s.set_id = ?1 ORDER BY j.key", &st);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, out->id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
	{
		const char *k = (const char *) sqlite3_column_text(st, 0);

		/* more keys than counted: only a second row with this set_id could give them */
		if (out->nkeys == cap)
			break;
		out->keys[out->nkeys] = sqlite3_mprintf("%s", k ? k : "");
		if (out->keys[out->nkeys] == NULL)
		{
			sqlite3_finalize(st);
			return SQLITE_NOMEM;
		}
		out->nkeys++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		rc = rvsq_sqlite_fail(c, rc);
	else if (rc == SQLITE_ROW || out->nkeys != cap)
		rc = rvsq_fail(c, "keys of anchor set \"%s\" are not a JSON array of strings", name);
	else
		rc = SQLITE_OK;
	sqlite3_finalize(st);
	return rc;
}

/* ---- relvec_catalog_init() ------------------------------------------------------------- */

/* relvec_catalog_init(): create the catalog tables and triggers if missing. */
void
rvsq_catalog_init_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	int			rc;

	(void) argc;
	(void) argv;
	rc = rvsq_catalog_init(c);
	if (rc != SQLITE_OK)
		rvsq_result_error(ctx, c, rc);
}

/* ---- spaces ---------------------------------------------------------------------------- */

static int
create_space(rvsq_conn *c, sqlite3_value **argv, int argc)
{
	const char *name = rvsq_text(argv[0]);
	sqlite3_int64 dims;
	sqlite3_stmt *st;
	int			rc;

	if ((rc = require(c, argv[0], "space name")) != SQLITE_OK ||
		(rc = require(c, argv[1], "dims")) != SQLITE_OK)
		return rc;
	dims = sqlite3_value_int64(argv[1]);
	if (name[0] == '\0')
		return rvsq_fail(c, "space name must not be empty");
	if (dims < 1)
		return rvsq_fail(c, "dimensions of space \"%s\" must be at least 1", name);
	if (dims > RV_MAX_DIMS)
		return rvsq_fail(c, "dimensions of space \"%s\" cannot exceed %d", name, RV_MAX_DIMS);
	rc = rvsq_cat_prepare(c, "SELECT 1 FROM relvec_spaces WHERE name = ?1", &st);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return rvsq_fail(c, "space \"%s\" already exists", name);
	rc = rvsq_cat_prepare(c, "INSERT INTO relvec_spaces (name, dims, description) VALUES (?1, ?2, ?3)", &st);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, dims);
	if (argc > 2)
		sqlite3_bind_value(st, 3, argv[2]);
	if ((rc = rvsq_cat_run(c, st)) != SQLITE_OK)
		return rc;
	/* a value carries its space's id in 16 bits (the savepoint takes the row back) */
	if (sqlite3_last_insert_rowid(c->db) > RV_MAX_SPACE_TAG)
		return rvsq_fail(c, "space \"%s\" would have id %lld, beyond the %d ids a value can carry", name,
						 (long long) sqlite3_last_insert_rowid(c->db), RV_MAX_SPACE_TAG);
	return SQLITE_OK;
}

/* relvec_create_space(name, dims [, description]). */
void
rvsq_create_space(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	int			rc = rvsq_catalog_init(c);

	if (rc == SQLITE_OK && (rc = rvsq_begin(c)) == SQLITE_OK)
		rc = rvsq_end(c, create_space(c, argv, argc));
	if (rc != SQLITE_OK)
		rvsq_result_error(ctx, c, rc);
}

static int
set_space_mean(rvsq_conn *c, sqlite3_value **argv, float **mean_out, size_t *dims_out)
{
	rvsq_space_row	sp;
	sqlite3_stmt *st = NULL;
	double	   *sums = NULL;
	size_t		state_dims = 0;
	unsigned	tag = 0;
	sqlite3_int64 bad = 0;
	float	   *mean = NULL;
	int			rc;
	const char *space = rvsq_text(argv[0]);

	if ((rc = rvsq_lookup_space(c, space, 0, &sp)) != SQLITE_OK ||
		(rc = require(c, argv[1], "query")) != SQLITE_OK ||
		(rc = rvsq_prepare_query(c, rvsq_text(argv[1]), 1, &query_one, &st)) != SQLITE_OK)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
	{
		rvsq_vec	v;
		int			t = sqlite3_column_type(st, 0);

		if (t == SQLITE_NULL)
			continue;
		if (t != SQLITE_BLOB && t != SQLITE_TEXT)
		{
			rc = rvsq_fail(c, "query must return one embedding column");
			goto done;
		}
		if ((rc = rvsq_value_vec(c, sqlite3_column_value(st, 0), "embedding", &v)) != SQLITE_OK)
			goto done;
		/* the rows are averaged as avg() does: their tags must go together */
		if ((rc = rvsq_same_space(c, tag, v.space)) != SQLITE_OK)
		{
			rvsq_vec_free(&v);
			goto done;
		}
		tag = RVSQ_COMMON_SPACE(tag, v.space);
		if (sums == NULL)
		{
			state_dims = v.dims;
			sums = sqlite3_malloc64(sizeof(double) * (state_dims + 1));
			if (sums == NULL)
			{
				rvsq_vec_free(&v);
				rc = SQLITE_NOMEM;
				goto done;
			}
			memset(sums, 0, sizeof(double) * (state_dims + 1));
		}
		if (v.dims != state_dims)
		{
			rc = rvsq_bridge_fail(c, rv_check_same_dims(c->ctx, state_dims, v.dims));
			rvsq_vec_free(&v);
			goto done;
		}
		if (v.dims != (size_t) sp.dims)
			bad++;
		rv_accum(sums, v.x, v.dims);
		rvsq_vec_free(&v);
	}
	if (rc != SQLITE_DONE)
	{
		rc = rvsq_sqlite_fail(c, rc);
		goto done;
	}
	if (bad > 0)
	{
		rc = rvsq_fail(c, "query returns %lld embeddings whose dimensions differ from the %d of space \"%s\"",
					   (long long) bad, sp.dims, space);
		goto done;
	}
	if (sums == NULL || sums[0] == 0.0)
	{
		rc = rvsq_fail(c, "query returns no embeddings to average");
		goto done;
	}
	/* ... and be of the space; the mean is stored untagged, as every catalog vector */
	if ((rc = rvsq_check_space(c, tag, sp.id, space)) != SQLITE_OK)
		goto done;
	mean = sqlite3_malloc64(sizeof(float) * state_dims);
	if (mean == NULL)
	{
		rc = SQLITE_NOMEM;
		goto done;
	}
	{
		rv_status	s = rv_accum_final(c->ctx, sums, state_dims, 1, mean);

		if (s != RV_OK)
		{
			rc = rvsq_bridge_fail(c, s);
			goto done;
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = rvsq_cat_prepare(c, "UPDATE relvec_spaces SET mean = ?1, mean_version = mean_version + 1 WHERE space_id = ?2",
					  &st)) == SQLITE_OK)
	{
		int			n;
		unsigned char *blob = rvsq_blob_new(mean, state_dims, 0, &n);

		if (blob == NULL)
			rc = SQLITE_NOMEM;
		else
		{
			sqlite3_bind_blob(st, 1, blob, n, sqlite3_free);
			sqlite3_bind_int64(st, 2, sp.id);
			rc = rvsq_cat_run(c, st);
		}
		st = NULL;
	}
done:
	sqlite3_finalize(st);
	sqlite3_free(sums);
	if (rc == SQLITE_OK)
	{
		*mean_out = mean;
		*dims_out = state_dims;
	}
	else
		sqlite3_free(mean);
	return rc;
}

/* relvec_set_space_mean(space, query): store and return the mean of the query's embeddings. */
void
rvsq_set_space_mean(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	float	   *mean = NULL;
	size_t		dims = 0;
	int			rc = rvsq_catalog_init(c);

	(void) argc;
	if (rc == SQLITE_OK && (rc = rvsq_begin(c)) == SQLITE_OK)
		rc = rvsq_end(c, set_space_mean(c, argv, &mean, &dims));
	if (rc != SQLITE_OK)
		rvsq_result_error(ctx, c, rc);
	else
		rvsq_result_vec(ctx, mean, dims, 0);
	sqlite3_free(mean);
}

/*
 * Rename a space (PostgreSQL's relvec_rename_space, without owners): its values keep their
 * tags, which are its id.
 */
static int
rename_space(rvsq_conn *c, sqlite3_value **argv)
{
	const char *space = rvsq_text(argv[0]);
	const char *new_name = rvsq_text(argv[1]);
	rvsq_space_row	sp;
	sqlite3_stmt *st;
	int			rc;

	if ((rc = require(c, argv[0], "space")) != SQLITE_OK ||
		(rc = require(c, argv[1], "new name")) != SQLITE_OK)
		return rc;
	if (new_name[0] == '\0')
		return rvsq_fail(c, "space name must not be empty");
	if ((rc = rvsq_lookup_space(c, space, 0, &sp)) != SQLITE_OK)
		return rc;
	if ((rc = rvsq_cat_prepare(c, "SELECT 1 FROM relvec_spaces WHERE name = ?2 AND space_id <> ?1", &st)) != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, sp.id);
	sqlite3_bind_text(st, 2, new_name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return rvsq_fail(c, "space \"%s\" already exists", new_name);
	if (rc != SQLITE_DONE)
		return rvsq_sqlite_fail(c, rc);
	if ((rc = rvsq_cat_prepare(c, "UPDATE relvec_spaces SET name = ?2 WHERE space_id = ?1", &st)) != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, sp.id);
	sqlite3_bind_text(st, 2, new_name, -1, SQLITE_STATIC);
	return rvsq_cat_run(c, st);
}

/* relvec_rename_space(space, new_name). */
void
rvsq_rename_space(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	int			rc = rvsq_catalog_init(c);

	(void) argc;
	if (rc == SQLITE_OK && (rc = rvsq_begin(c)) == SQLITE_OK)
		rc = rvsq_end(c, rename_space(c, argv));
	if (rc != SQLITE_OK)
		rvsq_result_error(ctx, c, rc);
}

/* ---- anchor sets ----------------------------------------------------------------------- */

/* One text-valued query with a single text parameter; *out is NULL when it gives no row. */
static int
query_text(rvsq_conn *c, const char *sql, const char *param, char **out)
{
	sqlite3_stmt *st;
	int			rc;

	*out = NULL;
	if ((rc = rvsq_cat_prepare(c, sql, &st)) != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
	{
		const char *t = (const char *) sqlite3_column_text(st, 0);

		*out = sqlite3_mprintf("%s", t ? t : "");
		rc = *out ? SQLITE_OK : SQLITE_NOMEM;
	}
	else
		rc = rc == SQLITE_DONE ? SQLITE_OK : rvsq_sqlite_fail(c, rc);
	sqlite3_finalize(st);
	return rc;
}

/* Check and store a new anchor set; keys is a JSON array of strings (numbers are taken as text). */
static int
create_anchor_set(rvsq_conn *c, const char *name, const char *keys)
{
	char	   *t = NULL;
	char	   *norm = NULL;
	sqlite3_stmt *st;
	int			rc;

	if (name == NULL)
		return rvsq_fail(c, "anchor set name must not be null");
	if (keys == NULL)
		return rvsq_fail(c, "keys must not be null");
	if (name[0] == '\0')
		return rvsq_fail(c, "anchor set name must not be empty");
	if ((rc = query_text(c, "SELECT CASE WHEN json_valid(?1) THEN json_type(?1) END", keys, &t)) != SQLITE_OK)
		return rc;
	if (t == NULL || strcmp(t, "array") != 0)
	{
		sqlite3_free(t);
		return rvsq_fail(c, "anchor keys must be a JSON array of strings");
	}
	sqlite3_free(t);
	if ((rc = query_text(c, "SELECT json_array_length(?1)", keys, &t)) != SQLITE_OK)
		return rc;
	rc = t != NULL && strcmp(t, "0") == 0;
	sqlite3_free(t);
	if (rc)
		return rvsq_fail(c, "anchor set \"%s\" needs at least one key", name);
	if ((rc = query_text(c, "SELECT type FROM json_each(?1) WHERE type IN ('array', 'object', 'null') "
						 "ORDER BY type = 'null' LIMIT 1", keys, &t)) != SQLITE_OK)
		return rc;
	if (t != NULL)
	{
		rc = strcmp(t, "null") == 0 ? rvsq_fail(c, "anchor keys must not contain nulls")
			: strcmp(t, "array") == 0 ? rvsq_fail(c, "anchor keys must be a one-dimensional array")
			: rvsq_fail(c, "anchor keys must be a JSON array of strings");
		sqlite3_free(t);
		return rc;
	}
	if ((rc = query_text(c, "SELECT CAST(value AS TEXT) k FROM json_each(?1) GROUP BY k HAVING count(*) > 1 "
						 "ORDER BY k LIMIT 1", keys, &t)) != SQLITE_OK)
		return rc;
	if (t != NULL)
	{
		rc = rvsq_fail(c, "anchor key \"%s\" appears more than once", t);
		sqlite3_free(t);
		return rc;
	}
	if ((rc = query_text(c, "SELECT 1 FROM relvec_anchor_sets WHERE name = ?1", name, &t)) != SQLITE_OK)
		return rc;
	if (t != NULL)
	{
		sqlite3_free(t);
		return rvsq_fail(c, "anchor set \"%s\" already exists", name);
	}
	if ((rc = query_text(c, "SELECT json_group_array(k) FROM (SELECT CAST(value AS TEXT) k FROM json_each(?1) ORDER BY key)",
						 keys, &norm)) != SQLITE_OK)
		return rc;
	if ((rc = rvsq_cat_prepare(c, "INSERT INTO relvec_anchor_sets (name, keys) VALUES (?1, ?2)", &st)) == SQLITE_OK)
	{
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, norm, -1, SQLITE_STATIC);
		rc = rvsq_cat_run(c, st);
	}
	sqlite3_free(norm);
	return rc;
}

/* relvec_create_anchor_set(name, keys): keys is a JSON array, '["a","b"]'. */
void
rvsq_create_anchor_set(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	int			rc = rvsq_catalog_init(c);

	(void) argc;
	if (rc == SQLITE_OK && (rc = rvsq_begin(c)) == SQLITE_OK)
		rc = rvsq_end(c, create_anchor_set(c, rvsq_text(argv[0]), rvsq_text(argv[1])));
	if (rc != SQLITE_OK)
		rvsq_result_error(ctx, c, rc);
}

/* Rows of an anchor query: key, embedding (any dimensions, any tag). */
typedef struct anchor_rows
{
	size_t		n;
	size_t		cap;
	char	  **keys;
	rvsq_vec   *vecs;
	int			saw_null;
	size_t		before_null;	/* rows read before the first null one */
} anchor_rows;

static void
anchor_rows_free(anchor_rows *r)
{
	size_t		i;

	for (i = 0; i < r->n; i++)
	{
		sqlite3_free(r->keys[i]);
		rvsq_vec_free(&r->vecs[i]);
	}
	sqlite3_free(r->keys);
	sqlite3_free(r->vecs);
	memset(r, 0, sizeof(*r));
}

/* Read every row of a (key, embedding) query; embeddings are copied. */
static int
read_anchor_rows(rvsq_conn *c, sqlite3_stmt *st, anchor_rows *r)
{
	int			rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
	{
		int			t = sqlite3_column_type(st, 1);
		rvsq_vec	v;

		if (sqlite3_column_type(st, 0) == SQLITE_NULL || t == SQLITE_NULL)
		{
			if (!r->saw_null)
				r->before_null = r->n;
			r->saw_null = 1;
			continue;
		}
		if (t != SQLITE_BLOB && t != SQLITE_TEXT)
			return rvsq_fail(c, "query must return two columns, (key, embedding)");
		if ((rc = rvsq_value_vec(c, sqlite3_column_value(st, 1), "embedding", &v)) != SQLITE_OK)
			return rc;
		if (v.owned == NULL)
		{
			v.owned = sqlite3_malloc64(sizeof(float) * v.dims);
			if (v.owned == NULL)
				return SQLITE_NOMEM;
			memcpy(v.owned, v.x, sizeof(float) * v.dims);
			v.x = v.owned;
		}
		if (r->n == r->cap)
		{
			size_t		cap = r->cap ? r->cap * 2 : 64;
			char	  **k = sqlite3_realloc64(r->keys, sizeof(char *) * cap);
			rvsq_vec   *vv;

			if (k == NULL)
			{
				rvsq_vec_free(&v);
				return SQLITE_NOMEM;
			}
			r->keys = k;
			vv = sqlite3_realloc64(r->vecs, sizeof(rvsq_vec) * cap);
			if (vv == NULL)
			{
				rvsq_vec_free(&v);
				return SQLITE_NOMEM;
			}
			r->vecs = vv;
			r->cap = cap;
		}
		r->keys[r->n] = sqlite3_mprintf("%s", (const char *) sqlite3_column_text(st, 0));
		r->vecs[r->n] = v;
		if (r->keys[r->n] == NULL)
		{
			rvsq_vec_free(&v);
			return SQLITE_NOMEM;
		}
		r->n++;
	}
	return rc == SQLITE_DONE ? SQLITE_OK : rvsq_sqlite_fail(c, rc);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Index of key in the sorted array, or -1. */
static long
find_sorted(char **sorted, size_t n, const char *key)
{
	char	  **hit = bsearch(&key, sorted, n, sizeof(char *), cmp_str);

	return hit ? (long) (hit - sorted) : -1;
}

/*
 * The checks and the store of relvec_set_anchors, on rows already read: every row
 * untagged or of the space, every key of the set exactly once, nothing else, the space's
 * dimensions. Replaces the set's anchors in the space; *stored gets their number.
 */
static int
store_anchors(rvsq_conn *c, const char *set_name, const rvsq_set_row *set, const char *space_name,
			  const rvsq_space_row *sp, anchor_rows *rows, int *stored)
{
	char	  **rkeys = NULL;		/* row keys, sorted */
	char	  **skeys = NULL;		/* set keys, sorted */
	size_t	   *row_of_key = NULL;	/* set order -> row index */
	sqlite3_stmt *st = NULL;
	const char *bad = NULL;
	size_t		i;
	int			rc = SQLITE_OK;

	/*
	 * Row by row as PostgreSQL reads them: a row tagged with another space, or a null one.
	 * Anchors are stored untagged, as every catalog vector.
	 */
	for (i = 0; i < (rows->saw_null ? rows->before_null : rows->n); i++)
		if ((rc = rvsq_check_space(c, rows->vecs[i].space, sp->id, space_name)) != SQLITE_OK)
			return rc;
	if (rows->saw_null)
		return rvsq_fail(c, "query returns a row with a null key or embedding");
	rkeys = sqlite3_malloc64(sizeof(char *) * (rows->n + 1));
	skeys = sqlite3_malloc64(sizeof(char *) * (set->nkeys + 1));
	row_of_key = sqlite3_malloc64(sizeof(size_t) * (set->nkeys + 1));
	if (rkeys == NULL || skeys == NULL || row_of_key == NULL)
	{
		rc = SQLITE_NOMEM;
		goto done;
	}
	/* a query without rows has no key array: memcpy and qsort want one even for 0 items */
	if (rows->n > 0)
	{
		memcpy(rkeys, rows->keys, sizeof(char *) * rows->n);
		qsort(rkeys, rows->n, sizeof(char *), cmp_str);
	}
	memcpy(skeys, set->keys, sizeof(char *) * set->nkeys);
	qsort(skeys, set->nkeys, sizeof(char *), cmp_str);
	for (i = 1; i < rows->n; i++)
		if (strcmp(rkeys[i], rkeys[i - 1]) == 0)
		{
			rc = rvsq_fail(c, "query returns anchor key \"%s\" more than once", rkeys[i]);
			goto done;
		}
	for (i = 0; i < rows->n; i++)
		if (find_sorted(skeys, set->nkeys, rkeys[i]) < 0)
		{
			rc = rvsq_fail(c, "key \"%s\" is not an anchor of set \"%s\"", rkeys[i], set_name);
			goto done;
		}
	for (i = 0; i < set->nkeys; i++)
	{
		long		j = find_sorted(rkeys, rows->n, set->keys[i]);
		size_t		r;

		if (j < 0)
		{
			rc = rvsq_fail(c, "query does not return anchor \"%s\" of set \"%s\"", set->keys[i], set_name);
			goto done;
		}
		/* rkeys holds the same pointers as rows->keys: find the row */
		for (r = 0; rows->keys[r] != rkeys[j]; r++)
			;
		row_of_key[i] = r;
	}
	for (i = 0; i < rows->n && bad == NULL; i++)
	{
		size_t		r;

		for (r = 0; rows->keys[r] != rkeys[i]; r++)
			;
		if (rows->vecs[r].dims != (size_t) sp->dims)
		{
			rc = rvsq_fail(c, "anchor \"%s\" has %d dimensions, space \"%s\" has %d", rkeys[i],
						   (int) rows->vecs[r].dims, space_name, sp->dims);
			goto done;
		}
	}

	if ((rc = rvsq_cat_prepare(c, "DELETE FROM relvec_anchors WHERE set_id = ?1 AND space_id = ?2", &st)) != SQLITE_OK)
		goto done;
	sqlite3_bind_int64(st, 1, set->id);
	sqlite3_bind_int64(st, 2, sp->id);
	rc = rvsq_cat_run(c, st);
	st = NULL;
	if (rc != SQLITE_OK ||
		(rc = rvsq_cat_prepare(c, "INSERT INTO relvec_anchors (set_id, space_id, ord, key, e) VALUES (?1, ?2, ?3, ?4, ?5)",
					  &st)) != SQLITE_OK)
		goto done;
	for (i = 0; i < set->nkeys; i++)
	{
		const rvsq_vec *v = &rows->vecs[row_of_key[i]];
		int			n;
		unsigned char *blob = rvsq_blob_new(v->x, v->dims, 0, &n);

		if (blob == NULL)
		{
			rc = SQLITE_NOMEM;
			goto done;
		}
		sqlite3_bind_int64(st, 1, set->id);
		sqlite3_bind_int64(st, 2, sp->id);
		sqlite3_bind_int64(st, 3, (sqlite3_int64) i + 1);
		sqlite3_bind_text(st, 4, set->keys[i], -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 5, blob, n, sqlite3_free);
		rc = sqlite3_step(st);
		if (rc != SQLITE_DONE)
		{
			rc = rvsq_sqlite_fail(c, rc);
			goto done;
		}
		rc = SQLITE_OK;
		sqlite3_reset(st);
	}
	*stored = (int) set->nkeys;
done:
	sqlite3_finalize(st);
	sqlite3_free(rkeys);
	sqlite3_free(skeys);
	sqlite3_free(row_of_key);
	return rc;
}

static int
set_anchors(rvsq_conn *c, sqlite3_value **argv, int *stored)
{
	const char *set_name = rvsq_text(argv[0]);
	const char *space_name = rvsq_text(argv[1]);
	rvsq_set_row		set;
	rvsq_space_row	sp;
	sqlite3_stmt *st = NULL;
	anchor_rows rows;
	int			rc;

	memset(&rows, 0, sizeof(rows));
	if ((rc = rvsq_lookup_set(c, set_name, 1, &set)) != SQLITE_OK)
		goto done;
	if ((rc = rvsq_lookup_space(c, space_name, 0, &sp)) != SQLITE_OK ||
		(rc = require(c, argv[2], "query")) != SQLITE_OK)
		goto done;
	if (set.frozen)
	{
		rc = rvsq_fail(c, "anchor set \"%s\" is frozen", set_name);
		goto done;
	}
	if ((rc = rvsq_prepare_query(c, rvsq_text(argv[2]), 2, &query_two, &st)) != SQLITE_OK ||
		(rc = read_anchor_rows(c, st, &rows)) != SQLITE_OK)
		goto done;
	sqlite3_finalize(st);
	st = NULL;
	rc = store_anchors(c, set_name, &set, space_name, &sp, &rows, stored);
done:
	sqlite3_finalize(st);
	anchor_rows_free(&rows);
	rvsq_free_keys(set.keys, set.nkeys);
	return rc;
}

/* relvec_set_anchors(anchor_set, space, query): the set's anchors in a space; their number. */
void
rvsq_set_anchors(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	int			stored = 0;
	int			rc = rvsq_catalog_init(c);

	(void) argc;
	if (rc == SQLITE_OK && (rc = rvsq_begin(c)) == SQLITE_OK)
		rc = rvsq_end(c, set_anchors(c, argv, &stored));
	if (rc != SQLITE_OK)
		rvsq_result_error(ctx, c, rc);
	else
		sqlite3_result_int(ctx, stored);
}

/* Append s as a JSON string literal. */
static void
append_json_string(sqlite3_str *out, const char *s)
{
	sqlite3_str_appendchar(out, 1, '"');
	for (; *s; s++)
	{
		unsigned char ch = (unsigned char) *s;

		if (ch == '"' || ch == '\\')
			sqlite3_str_appendf(out, "\\%c", ch);
		else if (ch < 0x20)
			sqlite3_str_appendf(out, "\\u%04x", ch);
		else
			sqlite3_str_appendchar(out, 1, (char) ch);
	}
	sqlite3_str_appendchar(out, 1, '"');
}

/* A row index with its key, to sort rows by key. */
typedef struct keyed_row
{
	const char *key;
	size_t		row;
} keyed_row;

static int
cmp_keyed_row(const void *a, const void *b)
{
	return strcmp(((const keyed_row *) a)->key, ((const keyed_row *) b)->key);
}

static int
choose_anchors(rvsq_conn *c, int argc, sqlite3_value **argv, char **chosen_json)
{
	const char *set_name = rvsq_text(argv[0]);
	const char *space_name = rvsq_text(argv[1]);
	const char *method_name = argc > 4 ? rvsq_text(argv[4]) : "random";
	sqlite3_int64 k;
	sqlite3_int64 seed = argc > 5 ? sqlite3_value_int64(argv[5]) : 0;
	rv_anchor_method method;
	rvsq_space_row	sp;
	rvsq_set_row		set;
	sqlite3_stmt *st = NULL;
	anchor_rows rows;
	anchor_rows picked_rows;
	keyed_row  *order = NULL;
	size_t	   *picked = NULL;
	float	   *x = NULL;
	size_t		d = 0;
	size_t		i;
	sqlite3_str *json = NULL;
	int			stored;
	int			rc;

	memset(&rows, 0, sizeof(rows));
	memset(&picked_rows, 0, sizeof(picked_rows));
	memset(&set, 0, sizeof(set));
	if (set_name == NULL)
		return rvsq_fail(c, "anchor set name must not be null");
	if ((rc = require(c, argv[2], "query")) != SQLITE_OK ||
		(rc = require(c, argv[3], "k")) != SQLITE_OK)
		return rc;
	if (method_name == NULL)
		return rvsq_fail(c, "method must not be null");
	if (argc > 5 && (rc = require(c, argv[5], "seed")) != SQLITE_OK)
		return rc;
	k = sqlite3_value_int64(argv[3]);
	if ((rc = rvsq_lookup_space(c, space_name, 0, &sp)) != SQLITE_OK ||
		(rc = rvsq_prepare_query(c, rvsq_text(argv[2]), 2, &query_two, &st)) != SQLITE_OK)
		return rc;
	{
		rv_status	s = rv_anchor_method_parse(c->ctx, method_name, &method);

		if (s != RV_OK)
		{
			rc = rvsq_bridge_fail(c, s);
			goto done;
		}
	}
	if (k < 1)
	{
		rc = rvsq_fail(c, "the number of anchors must be at least 1");
		goto done;
	}
	if ((rc = read_anchor_rows(c, st, &rows)) != SQLITE_OK)
		goto done;
	if (rows.saw_null)
	{
		rc = rvsq_fail(c, "query returns a row with a null key or embedding");
		goto done;
	}
	/* the same seed picks the same items whatever order the query returns them in */
	order = sqlite3_malloc64(sizeof(keyed_row) * (rows.n + 1));
	/* k > n is the bridge's error, raised before it writes anything */
	picked = sqlite3_malloc64(sizeof(size_t) * (size_t) (k > (sqlite3_int64) rows.n ? 1 : k));
	if (order == NULL || picked == NULL)
	{
		rc = SQLITE_NOMEM;
		goto done;
	}
	for (i = 0; i < rows.n; i++)
	{
		order[i].key = rows.keys[i];
		order[i].row = i;
	}
	qsort(order, rows.n, sizeof(keyed_row), cmp_keyed_row);
	for (i = 0; i < rows.n; i++)
	{
		const rvsq_vec *v = &rows.vecs[order[i].row];

		if (i > 0 && strcmp(order[i].key, order[i - 1].key) == 0)
		{
			rc = rvsq_fail(c, "query returns key \"%s\" more than once", order[i].key);
			goto done;
		}
		if (i == 0)
		{
			d = v->dims;
			if (method != RV_ANCHORS_RANDOM &&
				(x = sqlite3_malloc64(sizeof(float) * d * rows.n)) == NULL)
			{
				rc = SQLITE_NOMEM;
				goto done;
			}
		}
		else if (v->dims != d)
		{
			rc = rvsq_bridge_fail(c, rv_check_same_dims(c->ctx, d, v->dims));
			goto done;
		}
		if (x != NULL)
			memcpy(x + i * d, v->x, sizeof(float) * d);
	}
	{
		rv_status	s = rv_choose_anchors(c->ctx, x, rows.n, d, (size_t) k, method,
										  (uint64_t) (uint32_t) seed, picked);

		if (s != RV_OK)
		{
			rc = rvsq_bridge_fail(c, s);
			goto done;
		}
	}
	json = sqlite3_str_new(c->db);
	sqlite3_str_appendchar(json, 1, '[');
	for (i = 0; i < (size_t) k; i++)
	{
		if (i > 0)
			sqlite3_str_appendchar(json, 1, ',');
		append_json_string(json, rows.keys[order[picked[i]].row]);
	}
	sqlite3_str_appendchar(json, 1, ']');
	*chosen_json = sqlite3_str_finish(json);
	json = NULL;
	if (*chosen_json == NULL)
	{
		rc = SQLITE_NOMEM;
		goto done;
	}
	if ((rc = create_anchor_set(c, set_name, *chosen_json)) != SQLITE_OK ||
		(rc = rvsq_lookup_set(c, set_name, 1, &set)) != SQLITE_OK)
		goto done;
	/* the chosen rows, borrowed from rows */
	picked_rows.n = (size_t) k;
	picked_rows.keys = sqlite3_malloc64(sizeof(char *) * (size_t) k);
	picked_rows.vecs = sqlite3_malloc64(sizeof(rvsq_vec) * (size_t) k);
	if (picked_rows.keys == NULL || picked_rows.vecs == NULL)
		rc = SQLITE_NOMEM;
	else
	{
		for (i = 0; i < (size_t) k; i++)
		{
			picked_rows.keys[i] = rows.keys[order[picked[i]].row];
			picked_rows.vecs[i] = rows.vecs[order[picked[i]].row];
		}
		rc = store_anchors(c, set_name, &set, space_name, &sp, &picked_rows, &stored);
	}
	sqlite3_free(picked_rows.keys);
	sqlite3_free(picked_rows.vecs);
done:
	if (json != NULL)
		sqlite3_free(sqlite3_str_finish(json));
	sqlite3_finalize(st);
	anchor_rows_free(&rows);
	rvsq_free_keys(set.keys, set.nkeys);
	sqlite3_free(order);
	sqlite3_free(picked);
	sqlite3_free(x);
	return rc;
}

/*
 * relvec_choose_anchors(anchor_set, space, query, k [, method [, seed]]): create a set of k
 * items chosen among the query's rows and store their anchors; the keys as a JSON array.
 */
void
rvsq_choose_anchors(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	char	   *chosen = NULL;
	int			rc = rvsq_catalog_init(c);

	if (rc == SQLITE_OK && (rc = rvsq_begin(c)) == SQLITE_OK)
		rc = rvsq_end(c, choose_anchors(c, argc, argv, &chosen));
	if (rc != SQLITE_OK)
		rvsq_result_error(ctx, c, rc);
	else
	{
		sqlite3_result_text(ctx, chosen, -1, sqlite3_free);
		sqlite3_result_subtype(ctx, 'J');	/* JSON, as json() returns */
		chosen = NULL;
	}
	sqlite3_free(chosen);
}

static int
freeze_anchor_set(rvsq_conn *c, const char *set_name)
{
	rvsq_set_row		set;
	sqlite3_stmt *st;
	int			rc;

	if ((rc = rvsq_lookup_set(c, set_name, 0, &set)) != SQLITE_OK)
		return rc;
	if (set.frozen)
		return SQLITE_OK;
	rc = rvsq_cat_prepare(c, "SELECT sp.name, sp.dims, count(*), sum(embedding_dims(a.e) <> sp.dims), "
				 "min(CASE WHEN embedding_norm(a.e) = 0 THEN a.key END) "
				 "FROM relvec_anchors a JOIN relvec_spaces sp USING (space_id) WHERE a.set_id = ?1 "
				 "GROUP BY sp.name, sp.dims ORDER BY sp.name", &st);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, set.id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rc = rvsq_fail(c, "anchor set \"%s\" has no embeddings in any space", set_name);
	while (rc == SQLITE_ROW)
	{
		const char *space = (const char *) sqlite3_column_text(st, 0);
		sqlite3_int64 n = sqlite3_column_int64(st, 2);

		if (n != (sqlite3_int64) set.nkeys)
			rc = rvsq_fail(c, "anchor set \"%s\" has %lld of %zu anchors in space \"%s\"", set_name,
						   (long long) n, set.nkeys, space);
		else if (sqlite3_column_int64(st, 3) > 0)
			rc = rvsq_fail(c, "anchor set \"%s\" has anchors of the wrong dimensions in space \"%s\"",
						   set_name, space);
		else if (sqlite3_column_type(st, 4) != SQLITE_NULL)
			rc = rvsq_fail(c, "anchor \"%s\" of set \"%s\" is a zero vector in space \"%s\"",
						   (const char *) sqlite3_column_text(st, 4), set_name, space);
		else
			rc = sqlite3_step(st);
	}
	if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	else if (rc != SQLITE_ERROR && rc != SQLITE_OK)
		rc = rvsq_sqlite_fail(c, rc);
	else if (rc == SQLITE_ERROR && c->err[0] == '\0')
		rc = rvsq_sqlite_fail(c, rc);
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return rc;
	if ((rc = rvsq_cat_prepare(c, "UPDATE relvec_anchor_sets SET frozen = 1 WHERE set_id = ?1", &st)) != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, set.id);
	return rvsq_cat_run(c, st);
}

/* relvec_freeze_anchor_set(anchor_set): check the set is complete everywhere and freeze it. */
void
rvsq_freeze_anchor_set(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	int			rc = rvsq_catalog_init(c);

	(void) argc;
	if (rc == SQLITE_OK && (rc = rvsq_begin(c)) == SQLITE_OK)
		rc = rvsq_end(c, freeze_anchor_set(c, rvsq_text(argv[0])));
	if (rc != SQLITE_OK)
		rvsq_result_error(ctx, c, rc);
}
