/*
 * catalogdrop.c — dropping catalog objects in the database file: relvec_drop_space,
 * relvec_drop_anchor_set and relvec_drop_translation, PostgreSQL's checks, order and
 * messages, each inside the savepoint of rvsq_begin/rvsq_end (catalog.c), and the refusal
 * to drop a space that a column's tagged values still name.
 */
#include <stdlib.h>
#include <string.h>

#include "relvec_sqlite.h"

/* ---- dropping ---------------------------------------------------------------------------- */

/* Run sql with ?1 bound to id and give the integer of its one row in *out. */
static int
count_of(rvsq_conn *c, const char *sql, sqlite3_int64 id, sqlite3_int64 *out)
{
	sqlite3_stmt *st;
	int			rc;

	*out = 0;
	if ((rc = rvsq_cat_prepare(c, sql, &st)) != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
	{
		*out = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	else
		rc = rvsq_sqlite_fail(c, rc);
	sqlite3_finalize(st);
	return rc;
}

/* Run a statement with ?1 bound to id. */
static int
run_with_id(rvsq_conn *c, const char *sql, sqlite3_int64 id)
{
	sqlite3_stmt *st;
	int			rc;

	if ((rc = rvsq_cat_prepare(c, sql, &st)) != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	return rvsq_cat_run(c, st);
}

/* The truth of an optional boolean argument (default false); NULL is an error. */
static int
cascade_arg(rvsq_conn *c, int argc, sqlite3_value **argv, int i, int *out)
{
	*out = 0;
	if (argc <= i)
		return SQLITE_OK;
	if (sqlite3_value_type(argv[i]) == SQLITE_NULL)
		return rvsq_fail(c, "cascade must not be null");
	*out = sqlite3_value_int(argv[i]) != 0;
	return SQLITE_OK;
}

/*
 * The first column (by table name, then column order) of a table of schema main that holds
 * a value tagged with the space id: *where gets "table.column" (sqlite3_malloc'd), or NULL
 * when none does. A value holds the space when it is a BLOB that rv_blob_check accepts
 * with that tag; text forms name spaces but bind nothing. Every row of every table is
 * read: an SQLite file of relvec is small (a slice taken offline), and a drop is rare.
 * The catalog's own tables are left out (their rows go with the space), and so are
 * virtual tables (relvec_knn_index reads another table, which is scanned itself).
 */
static int
tagged_column(rvsq_conn *c, sqlite3_int64 id, char **where)
{
	sqlite3_stmt *tables = NULL,
			   *cols = NULL,
			   *scan = NULL;
	unsigned char tag[2];
	int			rc;

	*where = NULL;
	if (id < 1 || id > RV_MAX_SPACE_TAG)
		return SQLITE_OK;		/* no tag can carry it */
	tag[0] = (unsigned char) (id & 0xff);
	tag[1] = (unsigned char) ((id >> 8) & 0xff);
	if ((rc = rvsq_cat_prepare(c, "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' "
					  "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT IN ('relvec_spaces', "
					  "'relvec_anchor_sets', 'relvec_anchors', 'relvec_translations') ORDER BY name", &tables))
		!= SQLITE_OK ||
		(rc = rvsq_cat_prepare(c, "SELECT name FROM pragma_table_info(?1, 'main') ORDER BY cid", &cols)) != SQLITE_OK)
		goto done;
	while (*where == NULL && (rc = sqlite3_step(tables)) == SQLITE_ROW)
	{
		const char *table = (const char *) sqlite3_column_text(tables, 0);

		sqlite3_reset(cols);
		sqlite3_bind_text(cols, 1, table, -1, SQLITE_TRANSIENT);
		while (*where == NULL && (rc = sqlite3_step(cols)) == SQLITE_ROW)
		{
			const char *col = (const char *) sqlite3_column_text(cols, 0);
			char	   *sql = sqlite3_mprintf("SELECT \"%w\" FROM main.\"%w\" WHERE typeof(\"%w\") = 'blob' "
											  "AND substr(\"%w\", 3, 2) = ?1", col, table, col, col);

			if (sql == NULL)
			{
				rc = SQLITE_NOMEM;
				goto done;
			}
			rc = rvsq_cat_prepare(c, sql, &scan);
			sqlite3_free(sql);
			if (rc != SQLITE_OK)
				goto done;
			sqlite3_bind_blob(scan, 1, tag, 2, SQLITE_STATIC);
			while ((rc = sqlite3_step(scan)) == SQLITE_ROW)
			{
				size_t		dims;
				const float *payload;

				if (rv_blob_check(c->ctx, sqlite3_column_blob(scan, 0), (size_t) sqlite3_column_bytes(scan, 0),
								  &dims, &payload) == RV_OK)
				{
					*where = sqlite3_mprintf("%s.%s", table, col);
					rc = *where == NULL ? SQLITE_NOMEM : SQLITE_DONE;
					break;
				}
				rv_clear_error(c->ctx);
			}
			if (rc != SQLITE_DONE)
			{
				rc = rc == SQLITE_NOMEM ? rc : rvsq_sqlite_fail(c, rc);
				goto done;
			}
			sqlite3_finalize(scan);
			scan = NULL;
		}
		if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		{
			rc = rvsq_sqlite_fail(c, rc);
			goto done;
		}
	}
	rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rvsq_sqlite_fail(c, rc);
done:
	sqlite3_finalize(tables);
	sqlite3_finalize(cols);
	sqlite3_finalize(scan);
	return rc;
}

/*
 * Drop a space (PostgreSQL's relvec_drop_space, without owners): refused while a frozen
 * set has anchors in it or a table holds values tagged with it; other sets' anchors in it
 * and translations using it go only with cascade. Deletes children first: a file's
 * foreign keys may be off.
 */
static int
drop_space(rvsq_conn *c, const char *name, int cascade)
{
	rvsq_space_row	sp;
	sqlite3_stmt *st;
	sqlite3_int64 nsets,
				ntrans;
	char	   *where = NULL;
	int			rc;

	if ((rc = rvsq_lookup_space(c, name, 0, &sp)) != SQLITE_OK)
		return rc;
	if ((rc = rvsq_cat_prepare(c, "SELECT s.name FROM relvec_anchor_sets s WHERE s.frozen AND EXISTS "
					  "(SELECT 1 FROM relvec_anchors a WHERE a.set_id = s.set_id AND a.space_id = ?1) "
					  "ORDER BY s.name LIMIT 1", &st)) != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, sp.id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = rvsq_fail(c, "cannot drop space \"%s\" because frozen anchor set \"%s\" has anchors in it",
					   name, (const char *) sqlite3_column_text(st, 0));
	else if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	else
		rc = rvsq_sqlite_fail(c, rc);
	sqlite3_finalize(st);
	if (rc == SQLITE_OK && (rc = tagged_column(c, sp.id, &where)) == SQLITE_OK && where != NULL)
	{
		rc = rvsq_fail(c, "cannot drop space \"%s\" because column \"%s\" holds values tagged with it", name, where);
		sqlite3_free(where);
	}
	if (rc != SQLITE_OK ||
		(rc = count_of(c, "SELECT count(DISTINCT set_id) FROM relvec_anchors WHERE space_id = ?1",
					   sp.id, &nsets)) != SQLITE_OK ||
		(rc = count_of(c, "SELECT count(*) FROM relvec_translations WHERE ?1 IN (from_space_id, to_space_id)",
					   sp.id, &ntrans)) != SQLITE_OK)
		return rc;
	if ((nsets > 0 || ntrans > 0) && !cascade)
		return rvsq_fail(c, "cannot drop space \"%s\" because other objects depend on it", name);
	if ((rc = run_with_id(c, "DELETE FROM relvec_anchors WHERE space_id = ?1", sp.id)) != SQLITE_OK ||
		(rc = run_with_id(c, "DELETE FROM relvec_translations WHERE ?1 IN (from_space_id, to_space_id)",
						  sp.id)) != SQLITE_OK)
		return rc;
	return run_with_id(c, "DELETE FROM relvec_spaces WHERE space_id = ?1", sp.id);
}

/*
 * relvec_drop_space / relvec_drop_anchor_set (name [, cascade]): drop runs in a savepoint
 * of its own, so an error leaves the catalog as it was.
 */
static void
drop_named(sqlite3_context *ctx, int argc, sqlite3_value **argv,
		   int (*drop) (rvsq_conn *, const char *, int))
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	int			cascade;
	int			rc = rvsq_catalog_init(c);

	if (rc == SQLITE_OK && (rc = cascade_arg(c, argc, argv, 1, &cascade)) == SQLITE_OK &&
		(rc = rvsq_begin(c)) == SQLITE_OK)
		rc = rvsq_end(c, drop(c, rvsq_text(argv[0]), cascade));
	if (rc != SQLITE_OK)
		rvsq_result_error(ctx, c, rc);
}

/* relvec_drop_space(space [, cascade]). */
void
rvsq_drop_space(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	drop_named(ctx, argc, argv, drop_space);
}

/*
 * Drop an anchor set, frozen or not, with its anchors; the translations fitted on it go
 * only with cascade. The set's row goes before its anchors, which the frozen-set triggers
 * then let go.
 */
static int
drop_anchor_set(rvsq_conn *c, const char *name, int cascade)
{
	rvsq_set_row		set;
	sqlite3_int64 ntrans;
	int			rc;

	if ((rc = rvsq_lookup_set(c, name, 0, &set)) != SQLITE_OK)
		return rc;
	if ((rc = count_of(c, "SELECT count(*) FROM relvec_translations WHERE set_id = ?1", set.id, &ntrans))
		!= SQLITE_OK)
		return rc;
	if (ntrans > 0 && !cascade)
		return rvsq_fail(c, "cannot drop anchor set \"%s\" because other objects depend on it", name);
	if ((rc = run_with_id(c, "DELETE FROM relvec_translations WHERE set_id = ?1", set.id)) != SQLITE_OK ||
		(rc = run_with_id(c, "DELETE FROM relvec_anchor_sets WHERE set_id = ?1", set.id)) != SQLITE_OK)
		return rc;
	return run_with_id(c, "DELETE FROM relvec_anchors WHERE set_id = ?1", set.id);
}

/* relvec_drop_anchor_set(anchor_set [, cascade]). */
void
rvsq_drop_anchor_set(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	drop_named(ctx, argc, argv, drop_anchor_set);
}

/* Drop the translation fitted on a set from one space to another. */
static int
drop_translation(rvsq_conn *c, const char *set_name, const char *from, const char *to)
{
	rvsq_set_row		set;
	rvsq_space_row	f,
				t;
	sqlite3_stmt *st;
	int			rc;

	if ((rc = rvsq_lookup_set(c, set_name, 0, &set)) != SQLITE_OK ||
		(rc = rvsq_lookup_space(c, from, 0, &f)) != SQLITE_OK ||
		(rc = rvsq_lookup_space(c, to, 0, &t)) != SQLITE_OK)
		return rc;
	if ((rc = rvsq_cat_prepare(c, "DELETE FROM relvec_translations WHERE set_id = ?1 AND from_space_id = ?2 "
					  "AND to_space_id = ?3", &st)) != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, set.id);
	sqlite3_bind_int64(st, 2, f.id);
	sqlite3_bind_int64(st, 3, t.id);
	if ((rc = rvsq_cat_run(c, st)) != SQLITE_OK)
		return rc;
	if (sqlite3_changes(c->db) == 0)
		return rvsq_fail(c, "translation from space \"%s\" to space \"%s\" in anchor set \"%s\" does not exist",
						 from, to, set_name);
	return SQLITE_OK;
}

/* relvec_drop_translation(anchor_set, from_space, to_space). */
void
rvsq_drop_translation(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	int			rc = rvsq_catalog_init(c);

	(void) argc;
	if (rc == SQLITE_OK && (rc = rvsq_begin(c)) == SQLITE_OK)
		rc = rvsq_end(c, drop_translation(c, rvsq_text(argv[0]), rvsq_text(argv[1]), rvsq_text(argv[2])));
	if (rc != SQLITE_OK)
		rvsq_result_error(ctx, c, rc);
}
