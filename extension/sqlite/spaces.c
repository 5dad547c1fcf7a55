/*
 * spaces.c — space tags in SQLite: an embedding may carry the space it belongs to, the id of
 * that space in this file's catalog (relvec_spaces.space_id) in the uint16 of its header
 * (bridge/embedding.c; 0 is untagged). This file holds what the other files share about
 * them: resolving the tagged text form "name#id:[...]" against the catalog, naming a tag
 * in messages, the two pairing rules with PostgreSQL's messages, and the SQL functions
 * relvec_tag, relvec_untag and relvec_space_of (PostgreSQL's are extension/pg/spaces.c).
 *
 * Names are looked up in relvec_spaces only when a value is tagged, and only read: the
 * pure functions (distances, arithmetic, embedding_text) stay usable on a read-only file
 * and in views and triggers, and an untagged value never touches the catalog. A file
 * without a catalog has no names: every tag is written and read as "#id".
 */
#include <stdio.h>
#include <string.h>

#include "relvec_sqlite.h"

/*
 * Prepare sql on relvec_spaces. *st is NULL (and SQLITE_OK returned) when the file has
 * no catalog table: nothing is known by name there.
 */
static int
prepare_spaces(rvsq_conn *c, const char *sql, sqlite3_stmt **st)
{
	int			rc = sqlite3_prepare_v2(c->db, sql, -1, st, NULL);
	sqlite3_stmt *probe;
	int			visible = 1;

	if (rc == SQLITE_OK)
		return SQLITE_OK;
	*st = NULL;
	/* tell "no catalog" (a value read before its catalog exists) from a real failure */
	if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM pragma_table_list WHERE name = 'relvec_spaces'", -1,
						   &probe, NULL) == SQLITE_OK)
	{
		visible = sqlite3_step(probe) == SQLITE_ROW;
		sqlite3_finalize(probe);
	}
	if (!visible)
		return SQLITE_OK;
	rc = sqlite3_prepare_v2(c->db, sql, -1, st, NULL);
	return rc == SQLITE_OK ? SQLITE_OK : rvsq_sqlite_fail(c, rc);
}

int
rvsq_resolve_tag(rvsq_conn *c, const char *name, unsigned id, unsigned *tag)
{
	sqlite3_stmt *st;
	sqlite3_int64 by_name = 0;
	int			id_taken = 0;
	int			rc;

	*tag = id;
	if ((rc = prepare_spaces(c, "SELECT space_id, name = ?1 FROM relvec_spaces WHERE name = ?1 OR space_id = ?2",
							 &st)) != SQLITE_OK || st == NULL)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64) id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
	{
		if (sqlite3_column_int(st, 1))
			by_name = sqlite3_column_int64(st, 0);
		else
			id_taken = 1;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return rvsq_sqlite_fail(c, rc);
	if (name[0] != '\0' && by_name != 0)
		return rvsq_space_tag(c, name, by_name, tag);
	/* "#id:" names no space; a name the catalog lacks keeps the id unless another has it */
	if (name[0] != '\0' && id_taken)
		return rvsq_fail(c, "space \"%s\" does not exist", name);
	return SQLITE_OK;
}

int
rvsq_space_name(rvsq_conn *c, unsigned tag, char **name)
{
	sqlite3_stmt *st;
	int			rc;

	*name = NULL;
	if ((rc = prepare_spaces(c, "SELECT name FROM relvec_spaces WHERE space_id = ?1", &st)) != SQLITE_OK ||
		st == NULL)
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64) tag);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT)
	{
		*name = sqlite3_mprintf("%s", (const char *) sqlite3_column_text(st, 0));
		rc = *name == NULL ? SQLITE_NOMEM : SQLITE_OK;
	}
	else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		rc = SQLITE_OK;
	else
		rc = rvsq_sqlite_fail(c, rc);
	sqlite3_finalize(st);
	return rc;
}

void
rvsq_space_label(rvsq_conn *c, unsigned tag, char *buf, size_t len)
{
	char	   *name = NULL;
	char		saved[RVSQ_ERR_LEN];

	/* a failed lookup only costs the name: keep whatever message is being built */
	memcpy(saved, c->err, sizeof(saved));
	if (rvsq_space_name(c, tag, &name) != SQLITE_OK)
		name = NULL;
	memcpy(c->err, saved, sizeof(saved));
	if (name != NULL)
		snprintf(buf, len, "\"%s\"", name);
	else
		snprintf(buf, len, "#%u", tag);
	sqlite3_free(name);
}

int
rvsq_space_tag(rvsq_conn *c, const char *name, sqlite3_int64 space_id, unsigned *tag)
{
	/* relvec_create_space refuses such ids; a file from elsewhere may still hold one */
	if (space_id < 1 || space_id > RV_MAX_SPACE_TAG)
		return rvsq_fail(c, "space \"%s\" has id %lld, beyond the %d a value can carry", name,
						 (long long) space_id, RV_MAX_SPACE_TAG);
	*tag = (unsigned) space_id;
	return SQLITE_OK;
}

int
rvsq_same_space(rvsq_conn *c, unsigned a, unsigned b)
{
	char		la[RVSQ_ERR_LEN / 2],
				lb[RVSQ_ERR_LEN / 2];

	if (a == b || a == 0 || b == 0)
		return SQLITE_OK;
	rvsq_space_label(c, a, la, sizeof(la));
	rvsq_space_label(c, b, lb, sizeof(lb));
	return rvsq_fail(c, "embeddings of different spaces %s and %s", la, lb);
}

int
rvsq_check_space(rvsq_conn *c, unsigned tag, sqlite3_int64 want, const char *want_name)
{
	char		label[RVSQ_ERR_LEN / 2];

	if (tag == 0 || (sqlite3_int64) tag == want)
		return SQLITE_OK;
	rvsq_space_label(c, tag, label, sizeof(label));
	return rvsq_fail(c, "embedding belongs to space %s, not \"%s\"", label, want_name);
}

/* ---- SQL functions ---------------------------------------------------------------------- */

/* relvec_tag(e, space): e tagged with space (unchanged when it already is). */
void
rvsq_tag(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	const char *space = rvsq_text(argv[1]);
	sqlite3_int64 id;
	int			dims;
	unsigned	tag = 0;
	rvsq_vec	v;
	int			rc;

	(void) argc;
	memset(&v, 0, sizeof(v));
	/* STRICT in PostgreSQL: any NULL argument gives NULL */
	if (rvsq_any_null(2, argv))
		return;
	if ((rc = rvsq_catalog_read(c)) == SQLITE_OK &&
		(rc = rvsq_find_space(c, space, &id, &dims)) == SQLITE_OK &&
		(rc = rvsq_value_vec(c, argv[0], "embedding", &v)) == SQLITE_OK)
	{
		if (v.space != 0 && (sqlite3_int64) v.space != id)
		{
			char		label[RVSQ_ERR_LEN / 2];

			rvsq_space_label(c, v.space, label, sizeof(label));
			rc = rvsq_fail(c, "embedding already belongs to space %s, not \"%s\"", label, space);
		}
		else if (v.dims != (size_t) dims)
			rc = rvsq_fail(c, "embedding has %d dimensions, space \"%s\" has %d", (int) v.dims, space, dims);
		else
			rc = rvsq_space_tag(c, space, id, &tag);
	}
	if (rc != SQLITE_OK)
		rvsq_result_error(ctx, c, rc);
	else
		rvsq_result_vec(ctx, v.x, v.dims, tag);
	rvsq_vec_free(&v);
}

/* relvec_untag(e): e without its space tag. */
void
rvsq_untag(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	rvsq_vec	v;
	int			rc;

	(void) argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	if ((rc = rvsq_value_vec(c, argv[0], "embedding", &v)) != SQLITE_OK)
	{
		rvsq_result_error(ctx, c, rc);
		return;
	}
	rvsq_result_vec(ctx, v.x, v.dims, 0);
	rvsq_vec_free(&v);
}

/* relvec_space_of(e): the name of e's space; NULL when untagged, "#id" when the catalog lacks it. */
void
rvsq_space_of(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);
	rvsq_vec	v;
	char	   *name = NULL;
	int			rc;

	(void) argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	if ((rc = rvsq_value_vec(c, argv[0], "embedding", &v)) == SQLITE_OK && v.space != 0 &&
		(rc = rvsq_space_name(c, v.space, &name)) == SQLITE_OK && name == NULL)
	{
		name = sqlite3_mprintf("#%u", v.space);
		if (name == NULL)
			rc = SQLITE_NOMEM;
	}
	if (rc != SQLITE_OK)
		rvsq_result_error(ctx, c, rc);
	else if (name != NULL)
	{
		sqlite3_result_text(ctx, name, -1, sqlite3_free);
		name = NULL;
	}
	sqlite3_free(name);
	rvsq_vec_free(&v);
}

int
rvsq_space_of_call(rvsq_conn *c, unsigned tag, const char *call, const char **name, char **own)
{
	int			rc;

	*own = NULL;
	if (*name == NULL)
	{
		if (tag == 0)
			return rvsq_fail(c, "%s needs x tagged with its space", call);
		if ((rc = rvsq_space_name(c, tag, own)) != SQLITE_OK)
			return rc;
		if (*own == NULL)
			return rvsq_fail(c, "space #%u does not exist", tag);
		*name = *own;
	}
	else if (tag != 0)
	{
		/* a named space that contradicts the tag: before any catalog work, as PostgreSQL */
		sqlite3_int64 id;
		int			dims;

		if ((rc = rvsq_find_space(c, *name, &id, &dims)) != SQLITE_OK)
			return rc;
		return rvsq_check_space(c, tag, id, *name);
	}
	return SQLITE_OK;
}
