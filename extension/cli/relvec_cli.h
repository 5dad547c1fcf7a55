/*
 * relvec_cli.h — shared declarations of the offline command-line tool `relvec`: exit codes,
 * error reporting, option parsing, the SQLite file (opened with the relvec extension
 * registered), the interrupt flag set by SIGINT/SIGTERM, progress display and result
 * printing. Each command lives in its own file (pull.c, import.c, query.c, stitch.c,
 * compare.c) and exports one cmd_* function.
 */
#ifndef RELVEC_CLI_H
#define RELVEC_CLI_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

#include "relvec_bridge.h"

/* Exit codes that scripts can rely on (documented in --help and in README.md). */
#define EXIT_OK			0	/* success */
#define EXIT_USAGE		1	/* bad command line */
#define EXIT_DATA		2	/* bad input: file, data, names, SQL errors in the database file */
#define EXIT_SERVER		3	/* cannot connect to PostgreSQL, or the server reported an error */
#define EXIT_INTERRUPT	4	/* interrupted by SIGINT or SIGTERM; nothing was written */
#define EXIT_LOCAL		5	/* local failure: out of memory, disk I/O, file locked */

/* Nonzero once SIGINT or SIGTERM arrived. */
extern volatile sig_atomic_t cli_interrupted;

/* The program's bridge context (host: malloc/free, interrupt flag). */
extern rv_ctx *cli_rv;

/* Install the SIGINT/SIGTERM handlers; db (may be NULL) is interrupted by them too. */
void		cli_signals_install(void);
void		cli_signals_set_db(sqlite3 *db);
/* Called from the signal handler too (async-signal-safe work only, e.g. PQcancel). */
extern void (*volatile cli_signal_hook) (void);

/* Print "relvec CMD: message" on stderr (printf-style) and return code. */
int			cli_error(int code, const char *fmt,...) __attribute__((format(printf, 2, 3)));
/* The name of the running command, for messages. */
extern const char *cli_cmd;

/* malloc/realloc that exit with EXIT_LOCAL when memory runs out (the OS frees the rest). */
void	   *cli_malloc(size_t n);
void	   *cli_realloc(void *p, size_t n);
char	   *cli_strdup(const char *s);

/* ---- options ------------------------------------------------------------------------- */

/*
 * If argv[*i] is the option name ("--table") or "name=value", store its value in *val
 * (the next argument, or the text after '='), advance *i past it and return 1. A missing
 * value is a usage error: returns -1 after printing it. Returns 0 when argv[*i] is another
 * option.
 */
int			cli_opt(int argc, char **argv, int *i, const char *name, const char **val);
/* argv[*i] equals the flag; advances *i when it does. */
int			cli_flag(char **argv, int *i, const char *name);
/* Parse a positive int (1..max) option value; -1 (with a usage message) when it is not. */
int			cli_parse_int(const char *opt, const char *s, long max, long *out);
/* argv[i] is "-h" or "--help". */
int			cli_is_help(const char *arg);

/* One option of a command: with a value (value set) or a flag (flag set to 1 when given). */
typedef struct cli_option
{
	const char *name;			/* "--table", "-k" */
	const char **value;
	int		   *flag;
} cli_option;

/* cli_parse_args's "parsed, go on"; any other result is the command's exit code. */
#define CLI_GO_ON (-1)

/*
 * Parse a command's arguments: the options of opts (up to one with a NULL name) in any
 * order, and positional ones, the first stored in *file and all counted in *npos. -h or
 * --help prints usage on stdout; an unknown option is a usage error. Returns CLI_GO_ON,
 * or the exit code the command returns at once (after printing what it has to).
 */
int			cli_parse_args(int argc, char **argv, const cli_option *opts, void (*usage) (FILE *),
						   const char **file, int *npos);

/* ---- the SQLite file ---------------------------------------------------------------- */

/* What cli_db_open did to the file system, so that a failure can undo it. */
typedef struct cli_db
{
	sqlite3    *db;
	char	   *path;
	int			created;		/* the file did not exist before */
	int			in_txn;
} cli_db;

/*
 * Open path with the relvec extension registered. must_exist: refuse a missing file.
 * A file that exists and does not start with the SQLite header is refused before SQLite
 * touches it. Returns an exit code (0 on success) after printing the error.
 */
int			cli_db_open(cli_db *d, const char *path, int must_exist, int readonly);
/* BEGIN IMMEDIATE; returns an exit code. */
int			cli_db_begin(cli_db *d);
/* COMMIT; returns an exit code. */
int			cli_db_commit(cli_db *d);
/*
 * Close after a failure: roll back, close, and remove the file (and its journal) if this
 * run created it, so that a failed command leaves the file system as it was.
 */
void		cli_db_abandon(cli_db *d);
/* Close after success. */
void		cli_db_close(cli_db *d);

/* Map an SQLite result code (after a failure on db) to an exit code and print the error. */
int			cli_sqlite_error(sqlite3 *db, int rc, const char *what);
/* Execute SQL with no result rows; returns an exit code. */
int			cli_exec(sqlite3 *db, const char *sql);
/* Does table name exist in schema main of db? */
int			cli_table_exists(sqlite3 *db, const char *name);
/* Make sure the relvec catalog exists (relvec_catalog_init()); returns an exit code. */
int			cli_catalog_ensure(sqlite3 *db);

/* SQL identifier quoting: "a""b". Result is malloc'ed (cli_malloc). */
char	   *cli_quote_ident(const char *name);
/* SQL string literal quoting: 'it''s'. Result is malloc'ed. */
char	   *cli_quote_literal(const char *s);
/* printf into a malloc'ed string. */
char	   *cli_sprintf(const char *fmt,...) __attribute__((format(printf, 1, 2)));

/* ---- progress ------------------------------------------------------------------------ */

typedef struct cli_progress
{
	const char *label;
	int64_t		total;			/* -1 when unknown */
	int64_t		done;
	int			tty;			/* draw a bar on stderr */
	int			quiet;
	double		started;
	double		last_draw;
	int			last_pct;
} cli_progress;

/* Start a progress display for total units (-1: unknown). quiet: show nothing. */
void		cli_progress_start(cli_progress *p, const char *label, int64_t total, int quiet);
/* Advance by n units; draws at most a few times a second. */
void		cli_progress_add(cli_progress *p, int64_t n);
/* Final line ("label: N rows in 1.2 s"). */
void		cli_progress_end(cli_progress *p, const char *unit);

/* ---- result printing ----------------------------------------------------------------- */

/*
 * Run stmt to completion and print its rows on stdout: an aligned table with a header,
 * or CSV (RFC 4180) with a header line when csv is set. Embedding BLOBs print in their
 * text form. Returns an exit code; *nrows gets the number of rows printed.
 */
int			cli_print_rows(sqlite3 *db, sqlite3_stmt *stmt, int csv, int64_t *nrows);

/* A bound parameter of cli_run_print: text (when text != NULL) or integer. */
typedef struct cli_param
{
	const char *text;
	long		ival;
} cli_param;

/*
 * Prepare sql on db, bind params (?1..?n), run it and print the rows (cli_print_rows).
 * what describes the work for error messages. Returns an exit code.
 */
int			cli_run_print(sqlite3 *db, const char *sql, const cli_param *params, int nparams,
						  int csv, const char *what);

/*
 * Check that table exists with an embedding column col, and pick its key column: keycol
 * when given (it must exist), else the first column other than col. *key_out is
 * malloc'ed. Returns an exit code.
 */
int			cli_table_columns(sqlite3 *db, const char *table, const char *col, const char *keycol,
							  char **key_out);

/* ---- commands ------------------------------------------------------------------------ */
int			cmd_pull(int argc, char **argv);
int			cmd_import(int argc, char **argv);
int			cmd_query(int argc, char **argv);
int			cmd_stitch(int argc, char **argv);
int			cmd_compare(int argc, char **argv);

#endif							/* RELVEC_CLI_H */
