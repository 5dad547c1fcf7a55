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

/* "SELECT key, col FROM main.table [WHERE where]"; checks the columns. */
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
	*out = cli_sprintf("SELECT %s, %s FROM main.%s%s%s", qk, qc, qt, where ? " WHERE " : "", where ? where : "");
	free(kc);
	free(qt);
	free(qk);
	free(qc);
	return EXIT_OK;
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
				i = 0,
				npos = 0,
				rc;
	long		k;
	cli_db		db;
	char	   *queries = NULL,
			   *corpus = NULL;

	while (i < argc)
	{
		const char *v;
		int			m = 0;

		if (cli_is_help(argv[i]))
		{
			usage(stdout);
			return EXIT_OK;
		}
#define OPT(name, var) if (m == 0 && (m = cli_opt(argc, argv, &i, name, &v)) > 0) var = v
		OPT("--queries-table", qtable);
		OPT("--query-space", qspace);
		OPT("--corpus-table", ctable);
		OPT("--corpus-space", cspace);
		OPT("--anchor-set", set);
		OPT("--queries-column", qcol);
		OPT("--queries-key", qkey);
		OPT("--queries-where", qwhere);
		OPT("--corpus-column", ccol);
		OPT("--corpus-key", ckey);
		OPT("--corpus-where", cwhere);
		OPT("-k", kstr);
		OPT("--via", via);
		OPT("--similarity", sim);
		OPT("--center", center);
#undef OPT
		if (m < 0)
			return EXIT_USAGE;
		if (m > 0)
			continue;
		if (cli_flag(argv, &i, "--csv"))
			csv = 1;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return cli_error(EXIT_USAGE, "unknown option \"%s\" (see relvec stitch --help)", argv[i]);
		else
		{
			if (npos++ == 0)
				file = argv[i];
			i++;
		}
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
	if (rc == EXIT_OK)
	{
		cli_param	p[9] = {{queries, 0}, {qspace, 0}, {corpus, 0}, {cspace, 0}, {set, 0}, {NULL, k},
		{via, 0}, {sim, 0}, {center, 0}};

		rc = cli_run_print(db.db, "SELECT query_key, rank, corpus_key, distance "
						   "FROM relvec_stitch_knn(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
						   p, 9, csv, "relvec_stitch_knn");
	}
	cli_db_close(&db);
	free(queries);
	free(corpus);
	return rc;
}
