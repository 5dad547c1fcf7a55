/*
 * tvf.c — what the table-valued functions (relvec_project_query, relvec_knn,
 * relvec_compare_spaces, relvec_stitch_knn) share: their table object, creating and
 * dropping it, and the mapping of constraints on hidden columns to arguments (xBestIndex)
 * and back (xFilter). Each module keeps its own schema, argument checks and messages.
 */
#include <string.h>

#include "relvec_sqlite.h"

/*
 * Declare schema and make a zeroed table object of size bytes (a struct that starts with
 * an rvsq_vtab) for connection c; *out is sqlite3_malloc'd, freed by rvsq_tvf_disconnect.
 */
int
rvsq_tvf_connect(sqlite3 *db, rvsq_conn *c, const char *schema, size_t size, sqlite3_vtab **out)
{
	rvsq_vtab  *t;
	int			rc;

	rc = sqlite3_declare_vtab(db, schema);
	if (rc != SQLITE_OK)
		return rc;
	t = sqlite3_malloc64(size);
	if (t == NULL)
		return SQLITE_NOMEM;
	memset(t, 0, size);
	t->c = c;
	/* each runs queries given as text or reads the catalog */
	sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
	*out = &t->base;
	return SQLITE_OK;
}

/* Free a table object made by rvsq_tvf_connect that owns nothing else. */
int
rvsq_tvf_disconnect(sqlite3_vtab *vt)
{
	sqlite3_free(vt);
	return SQLITE_OK;
}

/*
 * Hidden columns are the arguments: each usable equality constraint on one becomes an
 * argv entry, and idxNum has a bit per argument present. Missing required arguments are
 * reported by xFilter, with a message, rather than as "no query solution".
 */
int
rvsq_tvf_best_index(sqlite3_index_info *info, int first_hidden, int ncols)
{
	int			i;
	int			bits = 0;
	int			n = 0;
	int			slot[32];

	for (i = 0; i < ncols - first_hidden && i < 32; i++)
		slot[i] = -1;
	for (i = 0; i < info->nConstraint; i++)
	{
		const struct sqlite3_index_constraint *k = &info->aConstraint[i];
		int			col = k->iColumn - first_hidden;

		if (col < 0 || col >= ncols - first_hidden || k->op != SQLITE_INDEX_CONSTRAINT_EQ)
			continue;
		if (!k->usable)
			return SQLITE_CONSTRAINT;
		slot[col] = i;
	}
	for (i = 0; i < ncols - first_hidden; i++)
		if (slot[i] >= 0)
		{
			info->aConstraintUsage[slot[i]].argvIndex = ++n;
			info->aConstraintUsage[slot[i]].omit = 1;
			bits |= 1 << i;
		}
	info->idxNum = bits;
	info->estimatedCost = 1000.0;
	info->estimatedRows = 1000;
	return SQLITE_OK;
}

/*
 * The arguments xFilter got for idxNum (rvsq_tvf_best_index's bits) in column order:
 * arg[i] is the argument of hidden column i or NULL when absent, keep[i] a copy of it that
 * the cursor owns (it returns the hidden columns as given).
 */
void
rvsq_tvf_args(int idxNum, int argc, sqlite3_value **argv, int nargs, sqlite3_value **arg,
			  sqlite3_value **keep)
{
	int			i,
				j = 0;

	for (i = 0; i < nargs; i++)
	{
		arg[i] = NULL;
		if ((idxNum & (1 << i)) && j < argc)
		{
			arg[i] = argv[j++];
			keep[i] = sqlite3_value_dup(arg[i]);
		}
	}
}
