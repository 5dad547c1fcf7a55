/*
 * main.c — entry point of the offline command-line tool `relvec`: sets up the bridge
 * context and the signal handlers, then dispatches to one command. Every command takes
 * --help; exit codes are shared by all of them (relvec_cli.h, README.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relvec_cli.h"

/* The bridge's long loops stop when SIGINT or SIGTERM arrived. */
static int
host_interrupted(void *ud)
{
	(void) ud;
	return cli_interrupted ? 1 : 0;
}

static const struct
{
	const char *name;
	int			(*fn) (int argc, char **argv);
	const char *summary;
}			commands[] = {
	{"pull", cmd_pull, "copy tables and the relvec catalog from PostgreSQL into an SQLite file"},
	{"import", cmd_import, "load an .fvecs file into a table of an SQLite file as (key, embedding) rows"},
	{"query", cmd_query, "exact k nearest neighbours of a key or a vector in one table"},
	{"stitch", cmd_stitch, "cross-model kNN: queries from one space, corpus from another (relvec_stitch_knn)"},
	{"compare", cmd_compare, "compare two spaces over the same items (relvec_compare_spaces)"},
};

static void
usage(FILE *f)
{
	size_t		i;

	fputs("Usage: relvec COMMAND [ARGS...]     (relvec COMMAND --help for its options)\n\n"
		  "Offline work with relvec embeddings in SQLite files; the SQL functions are those of\n"
		  "the relvec SQLite extension, which is built into this program.\n\nCommands:\n", f);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fputs("\nExit status: 0 success, 1 usage error, 2 bad input or data, 3 cannot connect to\n"
		  "PostgreSQL or server error, 4 interrupted (nothing written), 5 local failure\n"
		  "(out of memory, disk I/O, locked file).\n", f);
}

int
main(int argc, char **argv)
{
	rv_host		host = {rv_stdlib_alloc, rv_stdlib_free, NULL, host_interrupted, NULL};
	size_t		i;
	int			rc;

	if (argc < 2)
	{
		usage(stderr);
		return EXIT_USAGE;
	}
	if (cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0)
	{
		usage(stdout);
		return EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			break;
	if (i == sizeof(commands) / sizeof(commands[0]))
	{
		fprintf(stderr, "relvec: unknown command \"%s\"\n", argv[1]);
		usage(stderr);
		return EXIT_USAGE;
	}
	cli_cmd = commands[i].name;
	if (rv_ctx_create(&host, &cli_rv) != RV_OK)
	{
		cli_error(EXIT_LOCAL, "out of memory");
		return EXIT_LOCAL;
	}
	/* as the SQLite extension: a pipeline cache only where the environment names one */
	if (getenv("RELVEC_PIPELINE_CACHE_DIR") != NULL &&
		rv_set_pipeline_cache_dir(cli_rv, getenv("RELVEC_PIPELINE_CACHE_DIR")) != RV_OK)
		rv_clear_error(cli_rv);
	cli_signals_install();
	rc = commands[i].fn(argc - 2, argv + 2);
	rv_ctx_destroy(cli_rv);
	return rc;
}
