/*
 * compare.c — `relvec compare FILE.db --anchor-set S --space-a A --space-b B --items-sql
 * '...'`: how alike two latent spaces are over the same items (mean Jaccard of the
 * k-neighbourhoods, MRR, mean cosine of the pairs, linear CKA), through the SQLite
 * extension's relvec_compare_spaces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relvec_cli.h"

static void
usage(FILE *f)
{
	fputs("Usage: relvec compare FILE.db --anchor-set S --space-a A --space-b B --items-sql SQL [options]\n"
		  "\n"
		  "Compare two spaces over the same items by relvec_compare_spaces. SQL returns\n"
		  "(key, embedding_a, embedding_b): each item embedded in both spaces.\n"
		  "\n"
		  "  -k N                          neighbourhood size for jaccard (default 10)\n"
		  "  --via relative|translation    route (default relative)\n"
		  "  --center none|anchors|space   centering of the relative projection (default none)\n"
		  "  --csv                         CSV instead of an aligned table\n"
		  "\n"
		  "Output columns: jaccard, mrr, cosine, cka.\n"
		  "Exit status: 0 done, 1 usage, 2 bad input (unknown set or space, bad SQL, an error\n"
		  "from the extension), 4 interrupted, 5 local failure.\n", f);
}

int
cmd_compare(int argc, char **argv)
{
	const char *file = NULL,
			   *set = NULL,
			   *space_a = NULL,
			   *space_b = NULL,
			   *items = NULL,
			   *kstr = "10",
			   *via = "relative",
			   *center = "none";
	int			csv = 0,
				npos = 0,
				rc;
	long		k;
	cli_db		db;

	{
		const cli_option opts[] = {
			{"--anchor-set", &set, NULL},
			{"--space-a", &space_a, NULL},
			{"--space-b", &space_b, NULL},
			{"--items-sql", &items, NULL},
			{"-k", &kstr, NULL},
			{"--via", &via, NULL},
			{"--center", &center, NULL},
			{"--csv", NULL, &csv},
			{NULL, NULL, NULL}
		};

		if ((rc = cli_parse_args(argc, argv, opts, usage, &file, &npos)) != CLI_GO_ON)
			return rc;
	}
	if (npos != 1 || !set || !space_a || !space_b || !items)
		return cli_error(EXIT_USAGE, "expected FILE.db, --anchor-set, --space-a, --space-b and --items-sql "
						 "(see relvec compare --help)");
	if (cli_parse_int("-k", kstr, RV_MAX_K, &k) != 0)
		return EXIT_USAGE;

	rc = cli_db_open(&db, file, 1, 1);
	if (rc != EXIT_OK)
		return rc;
	{
		cli_param	p[7] = {{set, 0}, {space_a, 0}, {space_b, 0}, {items, 0}, {NULL, k}, {via, 0}, {center, 0}};

		rc = cli_run_print(db.db, "SELECT jaccard, mrr, cosine, cka "
						   "FROM relvec_compare_spaces(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
						   p, 7, csv, "relvec_compare_spaces");
	}
	cli_db_close(&db);
	return rc;
}
