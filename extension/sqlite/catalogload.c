/*
 * catalogload.c — what projection and translation read from the catalog in the database
 * file: a space's id and dims, a set's id, freeze and size, and a frozen set's anchors in
 * a space, each row checked before it is used (a file may come from elsewhere).
 */
#include <stdlib.h>
#include <string.h>

#include "relvec_sqlite.h"

/* ---- projection ------------------------------------------------------------------------- */

int
rvsq_find_space(rvsq_conn *c, const char *name, sqlite3_int64 *id, int *dims)
{
	rvsq_space_row	sp;
	int			rc = rvsq_lookup_space(c, name, 0, &sp);

	if (rc == SQLITE_OK)
	{
		*id = sp.id;
		*dims = sp.dims;
	}
	return rc;
}

int
rvsq_find_set(rvsq_conn *c, const char *name, sqlite3_int64 *id, int *frozen, size_t *nkeys)
{
	rvsq_set_row		set;
	int			rc = rvsq_lookup_set(c, name, 0, &set);

	if (rc == SQLITE_OK)
	{
		*id = set.id;
		*frozen = set.frozen;
		*nkeys = set.nkeys;
	}
	return rc;
}

int
rvsq_load_anchors(rvsq_conn *c, const char *set_name, sqlite3_int64 set_id, size_t nkeys,
				  const char *space, sqlite3_int64 space_id, int dims, float **out)
{
	sqlite3_stmt *st = NULL;
	float	   *anchors = NULL;
	sqlite3_int64 n;
	size_t		i = 0;
	int			rc;

	*out = NULL;
	/* count first, as PostgreSQL does: the buffer is sized by nkeys only once it is right */
	if ((rc = rvsq_cat_prepare(c, "SELECT count(*) FROM relvec_anchors WHERE set_id = ?1 AND space_id = ?2",
					  &st)) != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, set_id);
	sqlite3_bind_int64(st, 2, space_id);
	rc = sqlite3_step(st);
	n = sqlite3_column_int64(st, 0);
	rc = rc == SQLITE_ROW ? SQLITE_OK : rvsq_sqlite_fail(c, rc);
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_OK)
		return rc;
	if (n == 0)
		return rvsq_fail(c, "anchor set \"%s\" has no embeddings in space \"%s\"", set_name, space);
	if ((size_t) n != nkeys)
		return rvsq_fail(c, "anchor set \"%s\" has %lld of %zu anchors in space \"%s\"", set_name,
						 (long long) n, nkeys, space);

	/*
	 * Each row must be the set's next key in order (ord 1..n, the key at ord - 1 in the
	 * set's keys): a file is input, and anchors out of step with the other spaces' would
	 * give wrong answers without an error.
	 */
	if ((rc = rvsq_cat_prepare(c, "SELECT a.ord, a.key, a.e, j.value FROM relvec_anchors a "
					  "JOIN relvec_anchor_sets s ON s.set_id = a.set_id "
					  "LEFT JOIN json_each(s.keys) j ON j.key = a.ord - 1 "
					  "WHERE a.set_id = ?1 AND a.space_id = ?2 ORDER BY a.ord", &st)) != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, set_id);
	sqlite3_bind_int64(st, 2, space_id);
	anchors = sqlite3_malloc64(sizeof(float) * (size_t) dims * nkeys);
	if (anchors == NULL)
	{
		sqlite3_finalize(st);
		return SQLITE_NOMEM;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
	{
		const char *key = (const char *) sqlite3_column_text(st, 1);
		const char *want = (const char *) sqlite3_column_text(st, 3);
		rvsq_vec	v;

		if (i == nkeys)
			break;				/* counted above: another writer cannot be in between */
		if (sqlite3_column_type(st, 0) != SQLITE_INTEGER || sqlite3_column_int64(st, 0) != (sqlite3_int64) i + 1)
		{
			rc = rvsq_fail(c, "anchor set \"%s\" is damaged: its anchors in space \"%s\" are not numbered 1 to %zu",
						   set_name, space, nkeys);
			goto done;
		}
		if (key == NULL || want == NULL || sqlite3_column_type(st, 3) != SQLITE_TEXT || strcmp(key, want) != 0)
		{
			rc = rvsq_fail(c, "anchor set \"%s\" is damaged: anchor %zu in space \"%s\" is \"%s\", not key \"%s\"",
						   set_name, i + 1, space, key ? key : "", want ? want : "");
			goto done;
		}
		/* anchors are stored untagged; one tagged with another space is not of this one */
		if ((rc = rvsq_value_vec(c, sqlite3_column_value(st, 2), "anchor", &v)) != SQLITE_OK ||
			(rc = rvsq_check_space(c, v.space, space_id, space)) != SQLITE_OK)
		{
			char		why[RVSQ_ERR_LEN];

			rvsq_vec_free(&v);
			if (rc == SQLITE_NOMEM)
				goto done;
			memcpy(why, c->err, sizeof(why));
			rc = rvsq_fail(c, "anchor set \"%s\" is damaged: anchor \"%s\" in space \"%s\": %s", set_name, key,
						   space, why);
			goto done;
		}
		if (v.dims != (size_t) dims)
		{
			rvsq_vec_free(&v);
			/* PostgreSQL's text for what its constraints make impossible there */
			rc = rvsq_fail(c, "relvec: anchor of the wrong dimensions in a frozen set");
			goto done;
		}
		memcpy(anchors + i * dims, v.x, sizeof(float) * dims);
		rvsq_vec_free(&v);
		i++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		rc = rvsq_sqlite_fail(c, rc);
	else if (i != nkeys)
		rc = rvsq_fail(c, "anchor set \"%s\" has %zu of %zu anchors in space \"%s\"", set_name, i, nkeys, space);
	else
		rc = SQLITE_OK;
done:
	sqlite3_finalize(st);
	if (rc == SQLITE_OK)
		*out = anchors;
	else
		sqlite3_free(anchors);
	return rc;
}

int
rvsq_load_projection(rvsq_conn *c, const char *anchor_set, const char *space,
					 const char *similarity, const char *center_name, int normalize,
					 rv_projection **out, size_t *input_dims, sqlite3_int64 *space_id)
{
	rv_sim		sims[RV_MAX_SIMS];
	int			nsims;
	rv_center	center;
	rvsq_set_row		set;
	rvsq_space_row	sp;
	float	   *anchors = NULL;
	int			rc;

	*out = NULL;
	memset(&sp, 0, sizeof(sp));
	RVSQ_TRY(c, rv_sim_list_parse(c->ctx, similarity, sims, &nsims));
	RVSQ_TRY(c, rv_center_parse(c->ctx, center_name, &center));
	if ((rc = rvsq_catalog_read(c)) != SQLITE_OK ||
		(rc = rvsq_lookup_set(c, anchor_set, 0, &set)) != SQLITE_OK ||
		(rc = rvsq_lookup_space(c, space, 1, &sp)) != SQLITE_OK)
		goto done;
	if (!set.frozen)
	{
		rc = rvsq_fail(c, "anchor set \"%s\" is not frozen", anchor_set);
		goto done;
	}
	if (center == RV_CENTER_SPACE && sp.mean.x == NULL)
	{
		rc = rvsq_fail(c, "space \"%s\" has no stored mean", space);
		goto done;
	}
	if (sp.mean.x != NULL && sp.mean.dims != (size_t) sp.dims)
	{
		rc = rvsq_fail(c, "the stored mean of space \"%s\" has the wrong dimensions", space);
		goto done;
	}
	if ((rc = rvsq_load_anchors(c, anchor_set, set.id, set.nkeys, space, sp.id, sp.dims, &anchors))
		== SQLITE_OK)
	{
		rv_status	s = rv_projection_create(c->ctx, anchors, set.nkeys, (size_t) sp.dims, sims, nsims,
											 center, sp.mean.x, normalize, out);

		if (s != RV_OK)
			rc = rvsq_bridge_fail(c, s);
		else
		{
			*input_dims = (size_t) sp.dims;
			if (space_id != NULL)
				*space_id = sp.id;
		}
	}
done:
	sqlite3_free(anchors);
	rvsq_vec_free(&sp.mean);
	return rc;
}
