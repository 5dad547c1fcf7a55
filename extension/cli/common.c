/*
 * common.c — what every command of the relvec tool shares: error messages and exit codes,
 * allocation that cannot return NULL, option parsing, SQL quoting, the interrupt flag, the
 * bridge context, and the SQLite file with the relvec extension registered in it.
 *
 * A command that writes does all of it inside one transaction; cli_db_abandon rolls it
 * back and removes a file this run created, so a failed or interrupted command leaves the
 * file system exactly as it found it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relvec_cli.h"

#ifdef RVCLI_WITH_EXTENSION
/* The SQLite extension, linked statically and registered for every connection. */
extern int	sqlite3_relvec_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);
#endif

volatile sig_atomic_t cli_interrupted = 0;
const char *cli_cmd = "relvec";
rv_ctx	   *cli_rv = NULL;

static sqlite3 *volatile signal_db = NULL;

/* The command opened its file read-only: nothing it does itself writes to it. */
static int	opened_readonly = 0;
void		(*volatile cli_signal_hook) (void) = NULL;

/* SIGINT/SIGTERM: raise the flag (polled by long loops) and stop a running SQLite statement. */
static void
on_signal(int sig)
{
	(void) sig;
	cli_interrupted = 1;
	if (signal_db != NULL)
		sqlite3_interrupt(signal_db);
	if (cli_signal_hook != NULL)
		cli_signal_hook();
}

void
cli_signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: a blocking wait for the server returns EINTR and sees the flag */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void
cli_signals_set_db(sqlite3 *db)
{
	signal_db = db;
}

int
cli_error(int code, const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "relvec %s: ", cli_cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

void *
cli_malloc(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (p == NULL)
	{
		cli_error(EXIT_LOCAL, "out of memory (%zu bytes)", n);
		exit(EXIT_LOCAL);
	}
	return p;
}

void *
cli_realloc(void *p, size_t n)
{
	void	   *q = realloc(p, n ? n : 1);

	if (q == NULL)
	{
		cli_error(EXIT_LOCAL, "out of memory (%zu bytes)", n);
		exit(EXIT_LOCAL);
	}
	return q;
}

char *
cli_strdup(const char *s)
{
	size_t		n = strlen(s) + 1;

	return memcpy(cli_malloc(n), s, n);
}

char *
cli_sprintf(const char *fmt,...)
{
	va_list		ap;
	int			n;
	char	   *s;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	s = cli_malloc((size_t) n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t) n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* Double every quote character q in s and surround the result with q. */
static char *
quote_with(const char *s, char q)
{
	size_t		n = 2;
	const char *c;
	char	   *out,
			   *o;

	for (c = s; *c; c++)
		n += (*c == q) ? 2 : 1;
	out = o = cli_malloc(n + 1);
	*o++ = q;
	for (c = s; *c; c++)
	{
		if (*c == q)
			*o++ = q;
		*o++ = *c;
	}
	*o++ = q;
	*o = '\0';
	return out;
}

char *
cli_quote_ident(const char *name)
{
	return quote_with(name, '"');
}

char *
cli_quote_literal(const char *s)
{
	return quote_with(s, '\'');
}

/* ---- options ------------------------------------------------------------------------- */

int
cli_is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int
cli_opt(int argc, char **argv, int *i, const char *name, const char **val)
{
	const char *a = argv[*i];
	size_t		n = strlen(name);

	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=')
	{
		*val = a + n + 1;
		(*i)++;
		return 1;
	}
	if (a[n] != '\0')
		return 0;
	if (*i + 1 >= argc)
	{
		cli_error(EXIT_USAGE, "option %s needs a value", name);
		return -1;
	}
	*val = argv[*i + 1];
	*i += 2;
	return 1;
}

int
cli_flag(char **argv, int *i, const char *name)
{
	if (strcmp(argv[*i], name) != 0)
		return 0;
	(*i)++;
	return 1;
}

int
cli_parse_args(int argc, char **argv, const cli_option *opts, void (*usage) (FILE *), const char **file,
			   int *npos)
{
	int			i = 0;

	*npos = 0;
	while (i < argc)
	{
		const cli_option *o;
		int			m = 0;

		if (cli_is_help(argv[i]))
		{
			usage(stdout);
			return EXIT_OK;
		}
		for (o = opts; o->name != NULL && m == 0; o++)
		{
			if (o->flag == NULL)
				m = cli_opt(argc, argv, &i, o->name, o->value);
			else if ((m = cli_flag(argv, &i, o->name)) > 0)
				*o->flag = 1;
		}
		if (m < 0)
			return EXIT_USAGE;
		if (m > 0)
			continue;
		if (argv[i][0] == '-' && argv[i][1] != '\0')
			return cli_error(EXIT_USAGE, "unknown option \"%s\" (see relvec %s --help)", argv[i], cli_cmd);
		if ((*npos)++ == 0)
			*file = argv[i];
		i++;
	}
	return CLI_GO_ON;
}

int
cli_parse_int(const char *opt, const char *s, long max, long *out)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > max)
	{
		cli_error(EXIT_USAGE, "%s must be an integer between 1 and %ld, not \"%s\"", opt, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

/* ---- the SQLite file ---------------------------------------------------------------- */

int
cli_sqlite_error(sqlite3 *db, int rc, const char *what)
{
	int			code;
	const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

	switch (rc & 0xff)
	{
		case SQLITE_INTERRUPT:
			code = EXIT_INTERRUPT;
			break;
		case SQLITE_READONLY:
			/*
			 * A command that only reads opens its file read-only: an attempt to write
			 * comes from its input (SQL it was given, or the file's own contents).
			 */
			code = opened_readonly ? EXIT_DATA : EXIT_LOCAL;
			break;
		case SQLITE_NOMEM:
		case SQLITE_IOERR:
		case SQLITE_FULL:
		case SQLITE_BUSY:
		case SQLITE_LOCKED:
		case SQLITE_CANTOPEN:
		case SQLITE_PERM:
			code = EXIT_LOCAL;
			break;
		default:
			code = EXIT_DATA;
			break;
	}
	if (cli_interrupted)
		code = EXIT_INTERRUPT;
	if (code == EXIT_INTERRUPT)
		return cli_error(code, "interrupted%s%s", what ? " while " : "", what ? what : "");
	if (what)
		return cli_error(code, "%s: %s", what, msg);
	return cli_error(code, "%s", msg);
}

int
cli_exec(sqlite3 *db, const char *sql)
{
	int			rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return cli_sqlite_error(db, rc, NULL);
	return EXIT_OK;
}

int
cli_table_exists(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st;
	int			found = 0;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM main.sqlite_master WHERE type IN ('table', 'view') "
						   "AND name = ?1 COLLATE NOCASE", -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

int
cli_catalog_ensure(sqlite3 *db)
{
	static const char *const tables[] = {
		"relvec_spaces", "relvec_anchor_sets", "relvec_anchors", "relvec_translations"
	};
	size_t		i;
	int			rc;

	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (!cli_table_exists(db, tables[i]))
			break;
	if (i == sizeof(tables) / sizeof(tables[0]))
		return EXIT_OK;
	rc = sqlite3_exec(db, "SELECT relvec_catalog_init()", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return cli_sqlite_error(db, rc, "cannot create the relvec catalog");
	return EXIT_OK;
}

/* Does the file start with SQLite's 16-byte header? 1 yes, 0 no, -1 unreadable. */
static int
has_sqlite_header(const char *path)
{
	static const char magic[16] = "SQLite format 3";	/* with its NUL: 16 bytes */
	char		buf[16];
	int			fd = open(path, O_RDONLY);
	ssize_t		n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return -1;
	return n == (ssize_t) sizeof(buf) && memcmp(buf, magic, sizeof(buf)) == 0;
}

int
cli_db_open(cli_db *d, const char *path, int must_exist, int readonly)
{
	struct stat stb;
	int			rc;
	int			flags;

	memset(d, 0, sizeof(*d));
	d->path = cli_strdup(path);
	if (stat(path, &stb) == 0)
	{
		int			h;

		if (!S_ISREG(stb.st_mode))
			return cli_error(EXIT_DATA, "\"%s\" is not a regular file", path);
		h = stb.st_size == 0 ? 1 : has_sqlite_header(path);
		if (h < 0)
			return cli_error(EXIT_LOCAL, "cannot read \"%s\": %s", path, strerror(errno));
		if (h == 0)
			return cli_error(EXIT_DATA, "\"%s\" is not an SQLite database", path);
	}
	else if (errno != ENOENT)
		return cli_error(EXIT_LOCAL, "cannot open \"%s\": %s", path, strerror(errno));
	else if (must_exist)
		return cli_error(EXIT_DATA, "database file \"%s\" does not exist", path);
	else
		d->created = 1;

#ifdef RVCLI_WITH_EXTENSION
	sqlite3_auto_extension((void (*) (void)) sqlite3_relvec_init);
#endif
	flags = readonly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	opened_readonly = readonly;
	rc = sqlite3_open_v2(path, &d->db, flags, NULL);
	if (rc != SQLITE_OK)
	{
		rc = cli_sqlite_error(d->db, rc, path);
		cli_db_abandon(d);
		return rc;
	}
	sqlite3_extended_result_codes(d->db, 1);
	sqlite3_busy_timeout(d->db, 5000);
	cli_signals_set_db(d->db);
	/* read the schema now: a damaged file fails here, before anything is written */
	rc = sqlite3_exec(d->db, "SELECT count(*) FROM main.sqlite_master", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
	{
		rc = cli_sqlite_error(d->db, rc, path);
		cli_db_abandon(d);
		return rc;
	}
	return EXIT_OK;
}

int
cli_db_begin(cli_db *d)
{
	int			rc = cli_exec(d->db, "BEGIN IMMEDIATE");

	if (rc == EXIT_OK)
		d->in_txn = 1;
	return rc;
}

int
cli_db_commit(cli_db *d)
{
	int			rc;

	if (cli_interrupted)
		return cli_error(EXIT_INTERRUPT, "interrupted; nothing was written");
	rc = cli_exec(d->db, "COMMIT");
	if (rc == EXIT_OK)
		d->in_txn = 0;
	return rc;
}

void
cli_db_abandon(cli_db *d)
{
	if (d->db != NULL)
	{
		cli_signals_set_db(NULL);
		if (d->in_txn && !sqlite3_get_autocommit(d->db))
			sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close_v2(d->db);
		d->db = NULL;
	}
	d->in_txn = 0;
	if (d->created && d->path != NULL)
	{
		static const char *const sfx[] = {"", "-journal", "-wal", "-shm"};
		size_t		i;

		for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++)
		{
			char	   *p = cli_sprintf("%s%s", d->path, sfx[i]);

			unlink(p);
			free(p);
		}
	}
	free(d->path);
	d->path = NULL;
}

void
cli_db_close(cli_db *d)
{
	if (d->db != NULL)
	{
		cli_signals_set_db(NULL);
		sqlite3_close_v2(d->db);
		d->db = NULL;
	}
	free(d->path);
	d->path = NULL;
}

int
cli_run_print(sqlite3 *db, const char *sql, const cli_param *params, int nparams, int csv,
			  const char *what)
{
	sqlite3_stmt *st;
	int			rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	int64_t		n;

	if (rc != SQLITE_OK)
		return cli_sqlite_error(db, rc, what);
	for (int i = 0; i < nparams; i++)
	{
		if (params[i].text)
			sqlite3_bind_text(st, i + 1, params[i].text, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_int64(st, i + 1, params[i].ival);
	}
	rc = cli_print_rows(db, st, csv, &n);
	sqlite3_finalize(st);
	return rc;
}

int
cli_table_columns(sqlite3 *db, const char *table, const char *col, const char *keycol,
				  char **key_out)
{
	sqlite3_stmt *st;
	int			rc,
				has_col = 0,
				has_key = 0;
	char	   *first = NULL;

	*key_out = NULL;
	if (!cli_table_exists(db, table))
		return cli_error(EXIT_DATA, "table \"%s\" does not exist", table);
	rc = sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info(?1, 'main') ORDER BY cid", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return cli_sqlite_error(db, rc, NULL);
	sqlite3_bind_text(st, 1, table, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW)
	{
		const char *name = (const char *) sqlite3_column_text(st, 0);

		if (sqlite3_stricmp(name, col) == 0)
			has_col = 1;
		else if (first == NULL)
			first = cli_strdup(name);
		if (keycol && sqlite3_stricmp(name, keycol) == 0)
			has_key = 1;
	}
	sqlite3_finalize(st);
	if (!has_col)
	{
		free(first);
		return cli_error(EXIT_DATA, "table \"%s\" has no column \"%s\" (--column names the embedding column)",
						 table, col);
	}
	if (keycol && !has_key)
	{
		free(first);
		return cli_error(EXIT_DATA, "table \"%s\" has no column \"%s\"", table, keycol);
	}
	if (!keycol && first == NULL)
		return cli_error(EXIT_DATA, "table \"%s\" has no key column besides \"%s\"", table, col);
	if (keycol)
	{
		free(first);
		*key_out = cli_strdup(keycol);
	}
	else
		*key_out = first;
	return EXIT_OK;
}
