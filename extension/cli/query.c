/*
 * query.c — `relvec query FILE.db --table T (--key K | --vector '[...]') -k 10`: the exact
 * k nearest neighbours of one row of the table, or of a literal vector, among the table's
 * rows, through the SQLite extension's relvec_knn (the same function, arguments and
 * result columns as in PostgreSQL).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relvec_cli.h"

static void
usage(FILE *f)
{
	fputs("Usage: relvec query FILE.db --table T (--key K | --vector '[...]') [options]\n"
		  "\n"
		  "Exact k nearest neighbours among the rows of T, by relvec_knn.\n"
		  "\n"
		  "  --table T           the corpus table\n"
		  "  --column NAME       its embedding column (default e)\n"
		  "  --key-column NAME   its key column (default: the first other column)\n"
		  "  --key K             query with the embedding of the row whose key is K\n"
		  "  --vector '[...]'    query with this vector; 'name#id:[...]' for one of a space\n"
		  "  --where EXPR        only corpus rows where this SQL condition holds\n"
		  "  -k N                neighbours (default 10)\n"
		  "  --metric NAME       cosine (default), l2, ip or l1\n"
		  "  --csv               CSV instead of an aligned table\n"
		  "\n"
		  "Output columns: rank, corpus_key, distance.\n"
		  "Exit status: 0 done, 1 usage, 2 bad input (unknown table, column or key, malformed\n"
		  "vector, an error from the extension), 4 interrupted, 5 local failure.\n", f);
}

int
cmd_query(int argc, char **argv)
{
	const char *file = NULL,
			   *table = NULL,
			   *col = "e",
			   *keycol = NULL,
			   *key = NULL,
			   *vector = NULL,
			   *where = NULL,
			   *kstr = "10",
			   *metric = "cosine";
	int			csv = 0,
				npos = 0,
				rc;
	long		k;
	cli_db		db;
	char	   *kc = NULL,
			   *qt = NULL,
			   *qk = NULL,
			   *qc = NULL,
			   *queries = NULL,
			   *corpus = NULL,
			   *vtext = NULL;

	{
		const cli_option opts[] = {
			{"--table", &table, NULL},
			{"--column", &col, NULL},
			{"--key-column", &keycol, NULL},
			{"--key", &key, NULL},
			{"--vector", &vector, NULL},
			{"--where", &where, NULL},
			{"-k", &kstr, NULL},
			{"--metric", &metric, NULL},
			{"--csv", NULL, &csv},
			{NULL, NULL, NULL}
		};

		if ((rc = cli_parse_args(argc, argv, opts, usage, &file, &npos)) != CLI_GO_ON)
			return rc;
	}
	if (npos != 1 || table == NULL || (key == NULL) == (vector == NULL))
		return cli_error(EXIT_USAGE, "expected FILE.db, --table and one of --key or --vector (see relvec query --help)");
	if (cli_parse_int("-k", kstr, RV_MAX_K, &k) != 0)
		return EXIT_USAGE;

	if (vector)
	{
		/*
		 * parse and re-format: the SQL text then holds nothing but a valid vector, and its
		 * space's tag ("name#id:", resolved in the file's catalog by the extension)
		 */
		char		name[RV_MAX_SPACE_NAME + 1];
		unsigned	id;
		int			tagged;
		const char *array;
		size_t		cap,
					dims,
					at = 0;
		float	   *vals;

		if (rv_parse_space_prefix(cli_rv, vector, &tagged, name, &id, &array) != RV_OK)
			return cli_error(EXIT_DATA, "%s", rv_errmsg(cli_rv));
		cap = rv_text_max_dims(array);
		vals = cli_malloc(sizeof(float) * (cap ? cap : 1));
		if (rv_parse_text(cli_rv, array, vals, cap, &dims) != RV_OK)
		{
			free(vals);
			return cli_error(EXIT_DATA, "%s", rv_errmsg(cli_rv));
		}
		vtext = cli_malloc((tagged ? rv_space_prefix_size(name) : 0) + rv_format_text_size(dims));
		if (tagged)
			at = rv_format_space_prefix(name, id, vtext);
		rv_format_text(vals, dims, vtext + at);
		free(vals);
	}

	rc = cli_db_open(&db, file, 1, 1);
	if (rc != EXIT_OK)
	{
		free(vtext);
		return rc;
	}
	rc = cli_table_columns(db.db, table, col, keycol, &kc);
	if (rc != EXIT_OK)
		goto out;
	qt = cli_quote_ident(table);
	qk = cli_quote_ident(kc);
	qc = cli_quote_ident(col);
	corpus = cli_sprintf("SELECT %s, %s FROM main.%s%s%s", qk, qc, qt, where ? " WHERE " : "",
						 where ? where : "");
	if (key)
	{
		char	   *lit = cli_quote_literal(key);
		char	   *check = cli_sprintf("SELECT 1 FROM main.%s WHERE %s = %s", qt, qk, lit);
		sqlite3_stmt *st;

		rc = sqlite3_prepare_v2(db.db, check, -1, &st, NULL);
		free(check);
		if (rc != SQLITE_OK)
		{
			free(lit);
			rc = cli_sqlite_error(db.db, rc, NULL);
			goto out;
		}
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_ROW)
		{
			free(lit);
			rc = cli_error(EXIT_DATA, "key \"%s\" is not in table \"%s\"", key, table);
			goto out;
		}
		queries = cli_sprintf("SELECT %s, %s FROM main.%s WHERE %s = %s", qk, qc, qt, qk, lit);
		free(lit);
	}
	else
	{
		char	   *lit = cli_quote_literal(vtext);	/* a space's name may hold quotes */

		queries = cli_sprintf("SELECT 'query', %s", lit);
		free(lit);
	}
	{
		cli_param	p[4] = {{queries, 0}, {corpus, 0}, {NULL, k}, {metric, 0}};

		rc = cli_run_print(db.db, "SELECT rank, corpus_key, distance FROM relvec_knn(?1, ?2, ?3, ?4) ORDER BY rank",
						   p, 4, csv, "relvec_knn");
	}
out:
	cli_db_close(&db);
	free(kc);
	free(qt);
	free(qk);
	free(qc);
	free(queries);
	free(corpus);
	free(vtext);
	return rc;
}
