/*
 * stitch.c — `relvec stitch FILE.db --queries-table T1 --query-space A --corpus-table T2
 * --corpus-space B --anchor-set S`: cross-model kNN, queries embedded by one model
 * answered from a corpus embedded by another, through the SQLite extension's
 * relvec_stitch_knn (relative representations over parallel anchors, or a fitted
 * translation).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relvec_cli.h"

static void
usage(FILE *f)
{
	fputs("Usage: relvec stitch FILE.db --queries-table T1 --query-space A --corpus-table T2\n"
		  "                      --corpus-space B --anchor-set S [options]\n"
		  "\n"
		  "Cross-space k nearest neighbours by relvec_stitch_knn: each query row of T1 (space A)\n"
		  "against the corpus rows of T2 (space B), through the frozen anchor set S.\n"
		  "\n"
		  "  --queries-column NAME   embedding column of T1 (default e)\n"
		  "  --queries-key NAME      key column of T1 (default: its first other column)\n"
		  "  --queries-where EXPR    only query rows where this SQL condition holds\n"
		  "  --corpus-column NAME    embedding column of T2 (default e)\n"
		  "  --corpus-key NAME       key column of T2 (default: its first other column)\n"
		  "  --corpus-where EXPR     only corpus rows where this SQL condition holds\n"
		  "  -k N                    neighbours per query (default 10)\n"
		  "  --via relative|translation   route (default relative)\n"
		  "  --similarity NAME       similarity of the relative projection (default cosine)\n"
		  "  --center none|anchors|space  centering of the relative projection (default none)\n"
		  "  --csv                   CSV instead of an aligned table\n"
		  "\n"
		  "Output columns: query_key, rank, corpus_key, distance.\n"
		  "Exit status: 0 done, 1 usage, 2 bad input (unknown table, column, set or space, an\n"
		  "error from the extension), 4 interrupted, 5 local failure.\n", f);
}

/* "SELECT key AS rv_key, col AS rv_e FROM main.table [WHERE where]"; checks the columns. */
static int
side_sql(sqlite3 *db, const char *table, const char *col, const char *key, const char *where,
		 char **out)
{
	char	   *kc,
			   *qt,
			   *qk,
			   *qc;
	int			rc = cli_table_columns(db, table, col, key, &kc);

	*out = NULL;
	if (rc != EXIT_OK)
		return rc;
	qt = cli_quote_ident(table);
	qk = cli_quote_ident(kc);
	qc = cli_quote_ident(col);
	*out = cli_sprintf("SELECT %s AS rv_key, %s AS rv_e FROM main.%s%s%s", qk, qc, qt, where ? " WHERE " : "",
					   where ? where : "");
	free(kc);
	free(qt);
	free(qk);
	free(qc);
	return EXIT_OK;
}

/* Does the extension provide table-valued function name? */
static int
has_module(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st;
	int			found = 0;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_module_list WHERE name = ?1", -1, &st, NULL) == SQLITE_OK)
	{
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		found = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	return found;
}

/* "SELECT rv_key, relvec_project(rv_e, set, space, sim, center) FROM (side)"; malloc'ed. */
static char *
relative_sql(const char *side, const char *set, const char *space, const char *sim, const char *center)
{
	char	   *ls = cli_quote_literal(set),
			   *lp = cli_quote_literal(space),
			   *lm = cli_quote_literal(sim),
			   *lc = cli_quote_literal(center);
	char	   *out = cli_sprintf("SELECT rv_key, relvec_project(rv_e, %s, %s, %s, %s) FROM (%s)",
								  ls, lp, lm, lc, side);

	free(ls);
	free(lp);
	free(lm);
	free(lc);
	return out;
}

int
cmd_stitch(int argc, char **argv)
{
	const char *file = NULL,
			   *qtable = NULL,
			   *qspace = NULL,
			   *ctable = NULL,
			   *cspace = NULL,
			   *set = NULL,
			   *qcol = "e",
			   *qkey = NULL,
			   *qwhere = NULL,
			   *ccol = "e",
			   *ckey = NULL,
			   *cwhere = NULL,
			   *kstr = "10",
			   *via = "relative",
			   *sim = "cosine",
			   *center = "none";
	int			csv = 0,
				npos = 0,
				rc;
	long		k;
	cli_db		db;
	char	   *queries = NULL,
			   *corpus = NULL;

	{
		const cli_option opts[] = {
			{"--queries-table", &qtable, NULL},
			{"--query-space", &qspace, NULL},
			{"--corpus-table", &ctable, NULL},
			{"--corpus-space", &cspace, NULL},
			{"--anchor-set", &set, NULL},
			{"--queries-column", &qcol, NULL},
			{"--queries-key", &qkey, NULL},
			{"--queries-where", &qwhere, NULL},
			{"--corpus-column", &ccol, NULL},
			{"--corpus-key", &ckey, NULL},
			{"--corpus-where", &cwhere, NULL},
			{"-k", &kstr, NULL},
			{"--via", &via, NULL},
			{"--similarity", &sim, NULL},
			{"--center", &center, NULL},
			{"--csv", NULL, &csv},
			{NULL, NULL, NULL}
		};

		if ((rc = cli_parse_args(argc, argv, opts, usage, &file, &npos)) != CLI_GO_ON)
			return rc;
	}
	if (npos != 1 || !qtable || !qspace || !ctable || !cspace || !set)
		return cli_error(EXIT_USAGE, "expected FILE.db, --queries-table, --query-space, --corpus-table, "
						 "--corpus-space and --anchor-set (see relvec stitch --help)");
	if (cli_parse_int("-k", kstr, RV_MAX_K, &k) != 0)
		return EXIT_USAGE;

	rc = cli_db_open(&db, file, 1, 1);
	if (rc != EXIT_OK)
		return rc;
	rc = side_sql(db.db, qtable, qcol, qkey, qwhere, &queries);
	if (rc == EXIT_OK)
		rc = side_sql(db.db, ctable, ccol, ckey, cwhere, &corpus);
	if (rc == EXIT_OK && has_module(db.db, "relvec_stitch_knn"))
	{
		cli_param	p[9] = {{queries, 0}, {qspace, 0}, {corpus, 0}, {cspace, 0}, {set, 0}, {NULL, k},
		{via, 0}, {sim, 0}, {center, 0}};

		rc = cli_run_print(db.db, "SELECT query_key, rank, corpus_key, distance "
						   "FROM relvec_stitch_knn(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
						   p, 9, csv, "relvec_stitch_knn");
	}
	else if (rc == EXIT_OK && strcmp(via, "relative") == 0)
	{
		/*
		 * An extension without relvec_stitch_knn: the relative route is, by definition,
		 * both sides projected on the set and compared by cosine, so compose it from
		 * relvec_project and relvec_knn.
		 */
		char	   *pq = relative_sql(queries, set, qspace, sim, center);
		char	   *pc = relative_sql(corpus, set, cspace, sim, center);
		cli_param	p[3] = {{pq, 0}, {pc, 0}, {NULL, k}};

		rc = cli_run_print(db.db, "SELECT query_key, rank, corpus_key, distance "
						   "FROM relvec_knn(?1, ?2, ?3, 'cosine')", p, 3, csv, "relvec_knn");
		free(pq);
		free(pc);
	}
	else if (rc == EXIT_OK)
		rc = cli_error(EXIT_DATA, "--via %s needs relvec_stitch_knn, which this build's SQLite extension lacks", via);
	cli_db_close(&db);
	free(queries);
	free(corpus);
	return rc;
}
