/*
 * pull.c — `relvec pull CONNINFO FILE.db --table NAME ...`: copy tables and the relvec
 * catalog (spaces, anchor sets, anchors, fitted translations) from PostgreSQL into an
 * SQLite file.
 *
 * How: one REPEATABLE READ, READ ONLY transaction on the server gives every table and the
 * catalog from the same snapshot; each is streamed with `COPY (SELECT ...) TO STDOUT
 * (FORMAT binary)` and written with one prepared INSERT inside one SQLite transaction
 * (BEGIN IMMEDIATE ... COMMIT). Any failure — the server going away, a malformed value, a
 * name clash, SIGINT — rolls the SQLite transaction back, so the file is left byte for
 * byte as it was (a file this run created is removed).
 *
 * Types: the SELECT casts every column to one of a few wire forms the tool decodes
 * itself: integers and booleans to int8 (SQLite INTEGER), float4/float8 to float8 (REAL),
 * text-like types as text (TEXT), bytea as is (BLOB), relvec `embedding` and pgvector
 * `vector` in their binary send form (int16 dims, uint16 space tag (pgvector: zero),
 * float4 values, big-endian), converted to the bridge's little-endian BLOB layout and
 * validated; anything else through its text output (TEXT). Catalog ids differ between the
 * server and the file, so the catalog goes through temporary tables and is merged by name,
 * first: a tag in the send form is the server's space id, and every tagged value of a
 * table is written with the file's id of the same space (tag_map), so that it names the
 * same space here (bound columns' values included: they are stored tagged). A tag the
 * server's catalog does not have is an error naming the table and row, never a wrong tag.
 * Catalog vectors are stored untagged by both hosts, and pulled so.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "relvec_cli.h"

/* Wire forms the SELECT produces, and what each becomes in SQLite. */
typedef enum col_kind
{
	K_INT,						/* int8 -> INTEGER */
	K_REAL,						/* float8 -> REAL */
	K_TEXT,						/* text -> TEXT */
	K_BYTEA,					/* bytea -> BLOB */
	K_EMB,						/* embedding/vector send form -> embedding BLOB */
	K_F4ARRAY					/* real[] (one dimension, no nulls) -> float32 LE BLOB */
} col_kind;

static const char *const kind_sqltype[] = {"INTEGER", "REAL", "TEXT", "BLOB", "BLOB", "BLOB"};

/*
 * The server's space ids and this file's for the same names, for the tags of pulled
 * values (built once the catalog is merged). file_id 0: the file's id cannot be a tag.
 */
typedef struct tag_map
{
	size_t		n;
	unsigned   *pg_id;
	unsigned   *file_id;
	char	  **name;
} tag_map;

/*
 * One column of a copy: its name (for messages) and wire form; tags maps the tags of an
 * embedding column's values (NULL: a catalog column, whose values are stored untagged).
 */
typedef struct pull_col
{
	char	   *name;
	col_kind	kind;
	const tag_map *tags;
	unsigned char *buf;			/* conversion buffer for K_EMB / K_F4ARRAY */
	size_t		cap;
} pull_col;

/* A binary COPY OUT stream, read message by message. */
typedef struct copy_reader
{
	PGconn	   *conn;
	char	   *buf;
	size_t		len;
	size_t		pos;
	size_t		cap;
	int			done;			/* the server ended the COPY */
} copy_reader;

typedef struct pull_opts
{
	const char *conninfo;
	const char *file;
	const char **tables;
	int			ntables;
	int			replace;
	int			quiet;
} pull_opts;

static void
usage(FILE *f)
{
	fputs("Usage: relvec pull CONNINFO FILE.db --table NAME [--table NAME ...] [--replace] [--quiet]\n"
		  "\n"
		  "Copy PostgreSQL tables and the whole relvec catalog (spaces, anchor sets, anchors,\n"
		  "fitted translations) into an SQLite file, through binary COPY, in one transaction.\n"
		  "\n"
		  "  CONNINFO        libpq connection string or URI (\"\" takes PGHOST, PGDATABASE, ...)\n"
		  "  FILE.db         SQLite file; created when missing\n"
		  "  --table NAME    a table, view or materialized view, optionally schema-qualified;\n"
		  "                  it becomes the SQLite table of its unqualified name\n"
		  "  --replace       drop same-named tables in the file first, and overwrite catalog\n"
		  "                  entries (spaces, anchor sets) that differ from the server's\n"
		  "  --quiet         no progress output\n"
		  "\n"
		  "Columns: integer types and boolean -> INTEGER, real/double precision -> REAL,\n"
		  "text types -> TEXT, bytea -> BLOB, embedding and pgvector's vector -> embedding BLOB,\n"
		  "anything else -> TEXT (its PostgreSQL text form).\n"
		  "\n"
		  "Exit status: 0 done, 1 usage, 2 bad input (unknown table, name clash, malformed\n"
		  "value, not an SQLite file), 3 cannot connect or server error, 4 interrupted,\n"
		  "5 local failure (disk, memory, locked file). On any failure the file is left as it was.\n",
		  f);
}

/* The running server query, cancelled from the signal handler (PQcancel is signal-safe). */
static PGcancel *volatile signal_cancel = NULL;

static void
cancel_on_signal(void)
{
	char		err[256];

	if (signal_cancel != NULL)
		PQcancel(signal_cancel, err, sizeof(err));
}

/* An error from the server, or "interrupted" when our own cancel caused it. */
static int
server_error(const char *msg)
{
	if (cli_interrupted)
		return cli_error(EXIT_INTERRUPT, "interrupted; nothing was written");
	return cli_error(EXIT_SERVER, "server error: %s", msg);
}

/* libpq's message without its trailing newline. */
static const char *
pg_msg(const char *m)
{
	static char buf[2048];
	size_t		n;

	snprintf(buf, sizeof(buf), "%s", m ? m : "");
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return buf;
}

/* Run a query expected to return tuples or a command status; *out gets the result. */
static int
pg_run(PGconn *conn, const char *sql, int nparams, const char *const *params, PGresult **out)
{
	PGresult   *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
	{
		int			code = server_error(pg_msg(PQresultErrorMessage(res)));

		PQclear(res);
		return code;
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return EXIT_OK;
}

/* ---- binary COPY stream ------------------------------------------------------------- */

/* Append the next CopyData message to the buffer; 1 at the end of the COPY, <0 error code. */
static int
cr_fill(copy_reader *r)
{
	for (;;)
	{
		char	   *msg = NULL;
		int			n;

		if (cli_interrupted)
		{
			cli_error(EXIT_INTERRUPT, "interrupted; nothing was written");
			return -EXIT_INTERRUPT;
		}
		n = PQgetCopyData(r->conn, &msg, 1);
		if (n > 0)
		{
			if (r->pos > 0)
			{
				memmove(r->buf, r->buf + r->pos, r->len - r->pos);
				r->len -= r->pos;
				r->pos = 0;
			}
			if (r->len + (size_t) n > r->cap)
			{
				r->cap = (r->len + (size_t) n) * 2;
				r->buf = cli_realloc(r->buf, r->cap);
			}
			memcpy(r->buf + r->len, msg, (size_t) n);
			r->len += (size_t) n;
			PQfreemem(msg);
			return 0;
		}
		if (n == -1)
		{
			r->done = 1;
			return 1;
		}
		if (n == -2)
			return -server_error(pg_msg(PQerrorMessage(r->conn)));
		/* nothing buffered yet: wait for the socket, a quarter second at a time */
		{
			struct pollfd pfd = {.fd = PQsocket(r->conn),.events = POLLIN};
			int			pr = poll(&pfd, 1, 250);

			if (pr < 0 && errno != EINTR)
			{
				cli_error(EXIT_SERVER, "waiting for the server: %s", strerror(errno));
				return -EXIT_SERVER;
			}
			if (pr > 0 && !PQconsumeInput(r->conn))
				return -server_error(pg_msg(PQerrorMessage(r->conn)));
		}
	}
}

/* Make n unread bytes available; 0 ok, 1 the stream ended first, <0 error code. */
static int
cr_need(copy_reader *r, size_t n)
{
	while (r->len - r->pos < n)
	{
		int			rc;

		if (r->done)
			return 1;
		rc = cr_fill(r);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static uint16_t
be16(const unsigned char *p)
{
	return (uint16_t) ((p[0] << 8) | p[1]);
}

static uint32_t
be32(const unsigned char *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

static uint64_t
be64(const unsigned char *p)
{
	return ((uint64_t) be32(p) << 32) | be32(p + 4);
}

/* Store a big-endian float4 as a little-endian float32. */
static void
f4_be_to_le(const unsigned char *src, unsigned char *dst)
{
	dst[0] = src[3];
	dst[1] = src[2];
	dst[2] = src[1];
	dst[3] = src[0];
}

/* Make room for n bytes in a column's conversion buffer. */
static unsigned char *
col_buf(pull_col *c, size_t n)
{
	if (n > c->cap)
	{
		c->cap = n;
		c->buf = cli_realloc(c->buf, n);
	}
	return c->buf;
}

/* bind_field's result for a tag the server's catalog lacks (the caller names the row). */
#define UNKNOWN_TAG (-1)

/*
 * This file's tag for the server's space id pg (0 stays 0): *out, or UNKNOWN_TAG when the
 * server's catalog has no such space, or an exit code when the file's id cannot be a tag.
 */
static int
map_tag(const tag_map *m, unsigned pg, unsigned *out)
{
	size_t		j;

	*out = 0;
	if (pg == 0)
		return EXIT_OK;
	for (j = 0; j < m->n; j++)
		if (m->pg_id[j] == pg)
		{
			if (m->file_id[j] == 0)
				return cli_error(EXIT_DATA, "space \"%s\" has an id in the file beyond the %d a value can carry",
								 m->name[j], RV_MAX_SPACE_TAG);
			*out = m->file_id[j];
			return EXIT_OK;
		}
	return UNKNOWN_TAG;
}

/*
 * Convert one non-null field and bind it as parameter i + 1. what names the table for
 * messages; row is 1-based. Returns an exit code, or UNKNOWN_TAG with the server's tag in
 * *bad_tag for the caller to report.
 */
static int
bind_field(sqlite3_stmt *st, int i, pull_col *c, const unsigned char *p, size_t len,
		   const char *what, int64_t row, unsigned *bad_tag)
{
	switch (c->kind)
	{
		case K_INT:
			if (len != 8)
				break;
			sqlite3_bind_int64(st, i + 1, (sqlite3_int64) be64(p));
			return EXIT_OK;
		case K_REAL:
			{
				uint64_t	u = be64(p);
				double		d;

				if (len != 8)
					break;
				memcpy(&d, &u, sizeof(d));
				sqlite3_bind_double(st, i + 1, d);
				return EXIT_OK;
			}
		case K_TEXT:
			sqlite3_bind_text(st, i + 1, (const char *) p, (int) len, SQLITE_STATIC);
			return EXIT_OK;
		case K_BYTEA:
			sqlite3_bind_blob(st, i + 1, p, (int) len, SQLITE_STATIC);
			return EXIT_OK;
		case K_EMB:
			{
				size_t		dims,
							j;
				int			sdims;
				unsigned	tag = 0;
				unsigned char *b;
				const float *vals;

				if (len < 4)
					return cli_error(EXIT_DATA, "%s row %lld, column \"%s\": embedding of %zu bytes is shorter than its header",
									 what, (long long) row, c->name, len);
				sdims = (int16_t) be16(p);
				if (sdims < 1 || len != 4 + 4 * (size_t) sdims)
					return cli_error(EXIT_DATA, "%s row %lld, column \"%s\": embedding of %zu bytes does not match its %d dimensions",
									 what, (long long) row, c->name, len, sdims);
				/* the server's space id becomes the file's id of that space */
				if (c->tags != NULL)
				{
					int			rc = map_tag(c->tags, be16(p + 2), &tag);

					if (rc == UNKNOWN_TAG)
						*bad_tag = be16(p + 2);
					if (rc != EXIT_OK)
						return rc;
				}
				dims = (size_t) sdims;
				b = col_buf(c, len);
				rv_blob_header(b, dims, tag);
				for (j = 0; j < dims; j++)
					f4_be_to_le(p + 4 + 4 * j, b + 4 + 4 * j);
				if (rv_blob_check(cli_rv, b, len, &dims, &vals) != RV_OK)
					return cli_error(EXIT_DATA, "%s row %lld, column \"%s\": %s", what, (long long) row,
									 c->name, rv_errmsg(cli_rv));
				sqlite3_bind_blob(st, i + 1, b, (int) len, SQLITE_STATIC);
				return EXIT_OK;
			}
		case K_F4ARRAY:
			{
				/* ndim, has-nulls flag, element type, then per dimension size and lower bound */
				uint32_t	ndim,
							n,
							j;
				unsigned char *b;

				if (len < 12)
					break;
				ndim = be32(p);
				if (ndim == 0)
				{
					sqlite3_bind_blob(st, i + 1, "", 0, SQLITE_STATIC);
					return EXIT_OK;
				}
				if (ndim != 1 || len < 20 || be32(p + 4) != 0 || be32(p + 8) != 700)
					return cli_error(EXIT_DATA, "%s row %lld, column \"%s\": expected a one-dimensional real[] without nulls",
									 what, (long long) row, c->name);
				n = be32(p + 12);
				if ((size_t) n > (len - 20) / 8 || len != 20 + 8 * (size_t) n)
					break;
				b = col_buf(c, 4 * (size_t) n);
				for (j = 0; j < n; j++)
				{
					const unsigned char *e = p + 20 + 8 * (size_t) j;
					uint32_t	bits = be32(e + 4);
					float		f;

					if (be32(e) != 4)
						break;
					memcpy(&f, &bits, sizeof(f));
					if (f - f != 0)		/* NaN or infinity */
						return cli_error(EXIT_DATA, "%s row %lld, column \"%s\": value %u is not finite",
										 what, (long long) row, c->name, j + 1);
					f4_be_to_le(e + 4, b + 4 * (size_t) j);
				}
				if (j != n)
					break;
				sqlite3_bind_blob(st, i + 1, b, (int) (4 * (size_t) n), SQLITE_STATIC);
				return EXIT_OK;
			}
	}
	return cli_error(EXIT_DATA, "%s row %lld, column \"%s\": malformed value of %zu bytes in the COPY stream",
					 what, (long long) row, c->name, len);
}

/* After the stream ended: the COPY's own result says whether the server finished it. */
static int
copy_finish(PGconn *conn)
{
	PGresult   *res;
	int			code = EXIT_OK;

	while ((res = PQgetResult(conn)) != NULL)
	{
		if (PQresultStatus(res) != PGRES_COMMAND_OK && code == EXIT_OK)
			code = server_error(pg_msg(PQresultErrorMessage(res)));
		PQclear(res);
	}
	return code;
}

/*
 * How a row is named in a message: " (key "k")" with the first text or integer column's
 * value, cut at 64 bytes; "" when the row has none. Returns buf.
 */
static const char *
row_key(const pull_col *cols, int ncols, const unsigned char *base, const size_t *offs,
		const int32_t *lens, char *buf, size_t buflen)
{
	int			i;

	buf[0] = '\0';
	for (i = 0; i < ncols; i++)
	{
		if (lens[i] < 0 || (cols[i].kind != K_TEXT && cols[i].kind != K_INT))
			continue;
		if (cols[i].kind == K_INT && lens[i] == 8)
			snprintf(buf, buflen, " (key %lld)", (long long) be64(base + offs[i]));
		else if (cols[i].kind == K_TEXT)
			snprintf(buf, buflen, " (key \"%.*s\")", lens[i] > 64 ? 64 : (int) lens[i],
					 (const char *) base + offs[i]);
		break;
	}
	return buf;
}

/*
 * Stream `COPY (select_sql) TO STDOUT (FORMAT binary)` into the prepared INSERT ins, whose
 * parameters are the ncols columns. what names the source in messages. *rows gets the
 * number of rows written. Returns an exit code.
 */
static int
copy_into(PGconn *conn, sqlite3 *db, const char *select_sql, pull_col *cols, int ncols,
		  sqlite3_stmt *ins, const char *what, cli_progress *prog, int64_t *rows)
{
	static const unsigned char sig[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};
	copy_reader r;
	char	   *sql = cli_sprintf("COPY (%s) TO STDOUT (FORMAT binary)", select_sql);
	PGresult   *res;
	int			rc,
				code = EXIT_OK;
	int64_t		row = 0;
	const unsigned char *p;

	memset(&r, 0, sizeof(r));
	r.conn = conn;
	*rows = 0;
	res = PQexec(conn, sql);
	free(sql);
	if (PQresultStatus(res) != PGRES_COPY_OUT)
	{
		code = server_error(pg_msg(PQresultErrorMessage(res)));
		PQclear(res);
		return code;
	}
	PQclear(res);

#define NEED(n) \
	do { \
		rc = cr_need(&r, (n)); \
		if (rc < 0) { code = -rc; goto done; } \
		if (rc > 0) { goto truncated; } \
		p = (const unsigned char *) r.buf + r.pos; \
	} while (0)

	/* header: signature, flags, header extension */
	NEED(19);
	if (memcmp(p, sig, sizeof(sig)) != 0)
	{
		code = cli_error(EXIT_SERVER, "%s: the server did not send a binary COPY header", what);
		goto done;
	}
	{
		uint32_t	ext = be32(p + 15);

		r.pos += 19;
		NEED(ext);
		r.pos += ext;
	}
	for (;;)
	{
		int16_t		nf;
		int			i;

		NEED(2);
		nf = (int16_t) be16(p);
		r.pos += 2;
		if (nf == -1)
			break;
		if (nf != ncols)
		{
			code = cli_error(EXIT_SERVER, "%s: a COPY row has %d fields, expected %d", what, nf, ncols);
			goto done;
		}
		row++;
		sqlite3_reset(ins);
		sqlite3_clear_bindings(ins);
		/* the fields of a row stay in the buffer until the row is stepped */
		{
			size_t		start = r.pos;
			size_t		offs[256];
			int32_t		lens[256];

			if (ncols > 256)
			{
				code = cli_error(EXIT_DATA, "%s has %d columns; at most 256 are supported", what, ncols);
				goto done;
			}
			for (i = 0; i < ncols; i++)
			{
				int32_t		flen;

				NEED(4);
				flen = (int32_t) be32(p);
				r.pos += 4;
				lens[i] = flen;
				offs[i] = r.pos - start;
				if (flen > 0)
				{
					NEED((size_t) flen);
					r.pos += (size_t) flen;
				}
			}
			/* cr_need may have moved the buffer: resolve offsets only now */
			for (i = 0; i < ncols; i++)
			{
				unsigned	bad_tag = 0;

				if (lens[i] < 0)
					continue;
				code = bind_field(ins, i, &cols[i], (const unsigned char *) r.buf + start + offs[i],
								  (size_t) lens[i], what, row, &bad_tag);
				if (code == UNKNOWN_TAG)
				{
					char		key[96];

					code = cli_error(EXIT_DATA, "%s row %lld%s, column \"%s\": embedding of space #%u, which the "
									 "server's catalog does not have", what, (long long) row,
									 row_key(cols, ncols, (const unsigned char *) r.buf + start, offs, lens, key,
											 sizeof(key)), cols[i].name, bad_tag);
				}
				if (code != EXIT_OK)
					goto done;
			}
		}
		rc = sqlite3_step(ins);
		if (rc != SQLITE_DONE)
		{
			char	   *w = cli_sprintf("writing %s row %lld", what, (long long) row);

			code = cli_sqlite_error(db, rc, w);
			free(w);
			goto done;
		}
		if (prog)
			cli_progress_add(prog, 1);
		if (cli_interrupted)
		{
			code = EXIT_INTERRUPT;
			cli_error(code, "interrupted; nothing was written");
			goto done;
		}
	}
	/* the trailer: the stream must end here */
	rc = cr_need(&r, 1);
	if (rc < 0)
	{
		code = -rc;
		goto done;
	}
	if (rc == 0)
	{
		code = cli_error(EXIT_SERVER, "%s: data after the COPY trailer", what);
		goto done;
	}
	code = copy_finish(conn);
	*rows = row;
	sqlite3_reset(ins);
	free(r.buf);
	return code;

truncated:
	code = copy_finish(conn);
	if (code == EXIT_OK)
		code = cli_error(EXIT_SERVER, "%s: the COPY stream ended in the middle of row %lld", what,
						 (long long) row + 1);
	sqlite3_reset(ins);
	free(r.buf);
	return code;

done:
#undef NEED
	sqlite3_reset(ins);
	free(r.buf);
	if (!r.done)
	{
		/* stop the server's COPY; the connection is closed right after */
		PGcancel   *cancel = PQgetCancel(conn);
		char		err[256];

		if (cancel)
		{
			PQcancel(cancel, err, sizeof(err));
			PQfreeCancel(cancel);
		}
	}
	return code;
}

/* An INSERT with n parameters into table (already quoted). */
static int
prepare_insert(sqlite3 *db, const char *qtable, int n, sqlite3_stmt **st)
{
	size_t		len = strlen(qtable) + 64 + 3 * (size_t) n;
	char	   *sql = cli_malloc(len);
	int			i,
				rc;
	char	   *o = sql;

	o += sprintf(o, "INSERT INTO %s VALUES (", qtable);
	for (i = 0; i < n; i++)
		o += sprintf(o, i ? ",?" : "?");
	strcpy(o, ")");
	rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
	free(sql);
	if (rc != SQLITE_OK)
		return cli_sqlite_error(db, rc, NULL);
	return EXIT_OK;
}

static void
free_cols(pull_col *cols, int n)
{
	for (int i = 0; i < n; i++)
	{
		free(cols[i].name);
		free(cols[i].buf);
	}
	free(cols);
}

/* Type oids of relvec's embedding and pgvector's vector on the server (0 when absent). */
typedef struct pg_types
{
	char		emb_oid[16];
	char		vec_oid[16];
	char	   *relvec_schema;	/* quoted; NULL when relvec is not installed */
} pg_types;

static int
look_up_types(PGconn *conn, pg_types *t)
{
	PGresult   *res;
	int			rc;

	memset(t, 0, sizeof(*t));
	rc = pg_run(conn,
				"SELECT (SELECT t.oid FROM pg_type t JOIN pg_extension e ON t.typnamespace = e.extnamespace "
				"        WHERE e.extname = 'relvec' AND t.typname = 'embedding'),"
				"       (SELECT t.oid FROM pg_type t JOIN pg_extension e ON t.typnamespace = e.extnamespace "
				"        WHERE e.extname = 'vector' AND t.typname = 'vector'),"
				"       (SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n "
				"        ON n.oid = e.extnamespace WHERE e.extname = 'relvec')",
				0, NULL, &res);
	if (rc != EXIT_OK)
		return rc;
	snprintf(t->emb_oid, sizeof(t->emb_oid), "%s", PQgetisnull(res, 0, 0) ? "0" : PQgetvalue(res, 0, 0));
	snprintf(t->vec_oid, sizeof(t->vec_oid), "%s", PQgetisnull(res, 0, 1) ? "0" : PQgetvalue(res, 0, 1));
	if (!PQgetisnull(res, 0, 2))
		t->relvec_schema = cli_strdup(PQgetvalue(res, 0, 2));
	PQclear(res);
	return EXIT_OK;
}

/* Catalog table names that a pulled table must not take. */
static int
reserved_name(const char *name)
{
	return strncasecmp(name, "relvec_", 7) == 0 || strncasecmp(name, "sqlite_", 7) == 0;
}

/* Copy one table, its embeddings' tags mapped by tags; *local_name gets its SQLite name (malloc'ed). */
static int
pull_table(PGconn *conn, sqlite3 *db, const pull_opts *o, const pg_types *types, const tag_map *tags,
		   const char *name, char **local_name, char *const *earlier, int nearlier)
{
	PGresult   *res = NULL;
	const char *params[3];
	char	   *qualified = NULL,
			   *relname = NULL,
			   *qlocal = NULL,
			   *select_sql = NULL,
			   *create_sql = NULL,
			   *label = NULL,
			   *oid = NULL;
	pull_col   *cols = NULL;
	int			ncols = 0,
				rc,
				i;
	size_t		sel_len = 64,
				cre_len = 64;
	sqlite3_stmt *ins = NULL;
	int64_t		total = -1,
				rows = 0;
	cli_progress prog;

	*local_name = NULL;
	params[0] = name;
	rc = pg_run(conn, "SELECT c.oid, c.relname, c.oid::regclass::text, c.relkind FROM pg_class c "
				"WHERE c.oid = to_regclass($1)", 1, params, &res);
	if (rc != EXIT_OK)
		return rc;
	if (PQntuples(res) == 0)
	{
		PQclear(res);
		return cli_error(EXIT_DATA, "table \"%s\" does not exist on the server", name);
	}
	if (strchr("rvmpf", PQgetvalue(res, 0, 3)[0]) == NULL)
	{
		PQclear(res);
		return cli_error(EXIT_DATA, "\"%s\" is not a table, view or materialized view", name);
	}
	oid = cli_strdup(PQgetvalue(res, 0, 0));
	relname = cli_strdup(PQgetvalue(res, 0, 1));
	qualified = cli_strdup(PQgetvalue(res, 0, 2));
	PQclear(res);
	res = NULL;
	*local_name = cli_strdup(relname);

	for (i = 0; i < nearlier; i++)
		if (strcasecmp(relname, earlier[i]) == 0)
		{
			rc = cli_error(EXIT_USAGE, "tables \"%s\" and \"%s\" would both become table \"%s\"",
						   o->tables[i], name, relname);
			goto out;
		}
	if (reserved_name(relname))
	{
		rc = cli_error(EXIT_DATA, "table name \"%s\" is reserved for the relvec catalog and SQLite", relname);
		goto out;
	}
	{
		char	   *q = cli_quote_ident(relname);

		qlocal = cli_sprintf("main.%s", q);
		free(q);
	}
	if (cli_table_exists(db, relname))
	{
		if (!o->replace)
		{
			rc = cli_error(EXIT_DATA, "table \"%s\" already exists in \"%s\" (--replace overwrites it)",
						   relname, o->file);
			goto out;
		}
		{
			char	   *q = cli_quote_ident(relname);
			char	   *lit = cli_quote_literal(relname);
			char	   *qlit = cli_quote_literal(q);
			char	   *drop = cli_sprintf("SELECT 'DROP ' || upper(type) || ' main.' || %s FROM main.sqlite_master "
										   "WHERE type IN ('table', 'view') AND name = %s COLLATE NOCASE", qlit, lit);
			sqlite3_stmt *st;

			/* the statement text comes from the file's own schema: a table or a view */
			rc = sqlite3_prepare_v2(db, drop, -1, &st, NULL);
			free(drop);
			free(lit);
			free(qlit);
			drop = NULL;
			if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
				drop = cli_sprintf("%s", (const char *) sqlite3_column_text(st, 0));
			sqlite3_finalize(st);
			rc = drop ? cli_exec(db, drop) : cli_error(EXIT_LOCAL, "cannot drop table \"%s\"", relname);
			free(drop);
			free(q);
			if (rc != EXIT_OK)
				goto out;
		}
	}

	params[0] = oid;
	params[1] = types->emb_oid;
	params[2] = types->vec_oid;
	rc = pg_run(conn,
				"SELECT a.attname, quote_ident(a.attname), "
				"  CASE WHEN a.atttypid IN ($2::oid, $3::oid) THEN 'emb' "
				"       WHEN t.typname IN ('int2', 'int4', 'int8', 'oid') THEN 'int' "
				"       WHEN t.typname = 'bool' THEN 'bool' "
				"       WHEN t.typname IN ('float4', 'float8') THEN 'real' "
				"       WHEN t.typname = 'bytea' THEN 'bytea' "
				"       ELSE 'text' END "
				"FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
				"WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
				3, params, &res);
	if (rc != EXIT_OK)
		goto out;
	ncols = PQntuples(res);
	if (ncols == 0)
	{
		rc = cli_error(EXIT_DATA, "table \"%s\" has no columns", name);
		goto out;
	}
	cols = cli_malloc(sizeof(pull_col) * (size_t) ncols);
	memset(cols, 0, sizeof(pull_col) * (size_t) ncols);
	for (i = 0; i < ncols; i++)
	{
		sel_len += 2 * strlen(PQgetvalue(res, i, 1)) + 32;
		cre_len += 2 * strlen(PQgetvalue(res, i, 0)) + 32;
	}
	select_sql = cli_malloc(sel_len + strlen(qualified));
	create_sql = cli_malloc(cre_len + strlen(qlocal));
	strcpy(select_sql, "SELECT ");
	sprintf(create_sql, "CREATE TABLE %s (", qlocal);
	for (i = 0; i < ncols; i++)
	{
		const char *kind = PQgetvalue(res, i, 2);
		const char *qcol = PQgetvalue(res, i, 1);
		char	   *ql = cli_quote_ident(PQgetvalue(res, i, 0));

		cols[i].name = cli_strdup(PQgetvalue(res, i, 0));
		if (strcmp(kind, "emb") == 0)
		{
			cols[i].kind = K_EMB;
			cols[i].tags = tags;
			sprintf(select_sql + strlen(select_sql), "%s%s", i ? ", " : "", qcol);
		}
		else if (strcmp(kind, "int") == 0 || strcmp(kind, "bool") == 0)
		{
			cols[i].kind = K_INT;
			sprintf(select_sql + strlen(select_sql), "%s%s%s::int8", i ? ", " : "", qcol,
					kind[0] == 'b' ? "::int4" : "");
		}
		else if (strcmp(kind, "real") == 0)
		{
			cols[i].kind = K_REAL;
			sprintf(select_sql + strlen(select_sql), "%s%s::float8", i ? ", " : "", qcol);
		}
		else if (strcmp(kind, "bytea") == 0)
		{
			cols[i].kind = K_BYTEA;
			sprintf(select_sql + strlen(select_sql), "%s%s", i ? ", " : "", qcol);
		}
		else
		{
			cols[i].kind = K_TEXT;
			sprintf(select_sql + strlen(select_sql), "%s%s::text", i ? ", " : "", qcol);
		}
		sprintf(create_sql + strlen(create_sql), "%s%s %s", i ? ", " : "", ql, kind_sqltype[cols[i].kind]);
		free(ql);
	}
	sprintf(select_sql + strlen(select_sql), " FROM %s", qualified);
	strcat(create_sql, ")");
	PQclear(res);
	res = NULL;

	rc = cli_exec(db, create_sql);
	if (rc != EXIT_OK)
		goto out;
	rc = prepare_insert(db, qlocal, ncols, &ins);
	if (rc != EXIT_OK)
		goto out;

	/* the row count for the progress bar comes from the same snapshot as the COPY */
	if (!o->quiet)
	{
		char	   *cnt = cli_sprintf("SELECT count(*) FROM %s", qualified);

		rc = pg_run(conn, cnt, 0, NULL, &res);
		free(cnt);
		if (rc != EXIT_OK)
			goto out;
		total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		res = NULL;
	}
	label = cli_sprintf("pull %s", qualified);
	cli_progress_start(&prog, label, total, o->quiet);
	{
		char	   *what = cli_sprintf("table \"%s\"", qualified);

		rc = copy_into(conn, db, select_sql, cols, ncols, ins, what, &prog, &rows);
		free(what);
	}
	if (rc == EXIT_OK)
		cli_progress_end(&prog, "rows");

out:
	if (res)
		PQclear(res);
	sqlite3_finalize(ins);
	if (cols)
		free_cols(cols, ncols);
	free(select_sql);
	free(create_sql);
	free(qualified);
	free(relname);
	free(qlocal);
	free(label);
	free(oid);
	return rc;
}

/* ---- the catalog -------------------------------------------------------------------- */

static void
tag_map_free(tag_map *m)
{
	size_t		j;

	for (j = 0; j < m->n; j++)
		free(m->name[j]);
	free(m->pg_id);
	free(m->file_id);
	free(m->name);
	memset(m, 0, sizeof(*m));
}

/* Read the ids of the merged catalog's spaces, the server's and the file's (temp.pull_space_map). */
static int
load_tag_map(sqlite3 *db, tag_map *m)
{
	sqlite3_stmt *st;
	size_t		cap = 0;
	int			rc = sqlite3_prepare_v2(db, "SELECT m.pg_id, m.id, p.name FROM temp.pull_space_map m "
										"JOIN temp.pull_spaces p ON p.space_id = m.pg_id ORDER BY m.pg_id",
										-1, &st, NULL);

	memset(m, 0, sizeof(*m));
	if (rc != SQLITE_OK)
		return cli_sqlite_error(db, rc, "reading the spaces' ids");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
	{
		sqlite3_int64 pg = sqlite3_column_int64(st, 0);
		sqlite3_int64 id = sqlite3_column_int64(st, 1);

		if (m->n == cap)
		{
			cap = cap ? 2 * cap : 16;
			m->pg_id = cli_realloc(m->pg_id, cap * sizeof(unsigned));
			m->file_id = cli_realloc(m->file_id, cap * sizeof(unsigned));
			m->name = cli_realloc(m->name, cap * sizeof(char *));
		}
		/* the server refuses ids past 65535; one would match no value's tag */
		m->pg_id[m->n] = pg >= 1 && pg <= RV_MAX_SPACE_TAG ? (unsigned) pg : 0;
		m->file_id[m->n] = id >= 1 && id <= RV_MAX_SPACE_TAG ? (unsigned) id : 0;
		m->name[m->n] = cli_strdup((const char *) sqlite3_column_text(st, 2));
		m->n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return cli_sqlite_error(db, rc, "reading the spaces' ids");
	return EXIT_OK;
}

/* Copy one catalog table from the server into a temporary table of the file's connection. */
static int
copy_catalog(PGconn *conn, sqlite3 *db, const char *select_sql, const char *temp_table,
			 const col_kind *kinds, int ncols, int64_t *rows)
{
	pull_col   *cols = cli_malloc(sizeof(pull_col) * (size_t) ncols);
	sqlite3_stmt *ins = NULL;
	int			rc,
				i;
	char	   *what = cli_sprintf("catalog table \"%s\"", temp_table + strlen("temp.pull_"));

	memset(cols, 0, sizeof(pull_col) * (size_t) ncols);
	for (i = 0; i < ncols; i++)
	{
		cols[i].kind = kinds[i];
		cols[i].name = cli_sprintf("%d", i + 1);
	}
	rc = prepare_insert(db, temp_table, ncols, &ins);
	if (rc == EXIT_OK)
		rc = copy_into(conn, db, select_sql, cols, ncols, ins, what, NULL, rows);
	sqlite3_finalize(ins);
	free_cols(cols, ncols);
	free(what);
	return rc;
}

/* Run a query whose first row, if any, describes a conflict; *found is set when it does. */
static int
first_conflict(sqlite3 *db, const char *sql, char *msg, size_t msglen, int *found,
			   const char *fmt_kind)
{
	sqlite3_stmt *st;
	int			rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	*found = 0;
	if (rc != SQLITE_OK)
		return cli_sqlite_error(db, rc, "comparing the catalog");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
	{
		*found = 1;
		if (strcmp(fmt_kind, "space") == 0)
			snprintf(msg, msglen, "space \"%s\" has %s dimensions in the file and %lld on the server",
					 sqlite3_column_text(st, 0),
					 sqlite3_column_type(st, 1) == SQLITE_NULL ? "NULL" : (const char *) sqlite3_column_text(st, 1),
					 (long long) sqlite3_column_int64(st, 2));
		else
			snprintf(msg, msglen, "anchor set \"%s\" differs between the file and the server (keys or anchors)",
					 sqlite3_column_text(st, 0));
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return cli_sqlite_error(db, rc, "comparing the catalog");
	return EXIT_OK;
}

/* Remove anchors and translations whose set or space row is gone (--replace). */
static int
drop_orphans(sqlite3 *db)
{
	return cli_exec(db,
					"DELETE FROM main.relvec_anchors WHERE set_id NOT IN (SELECT set_id FROM main.relvec_anchor_sets) "
					"  OR space_id NOT IN (SELECT space_id FROM main.relvec_spaces);"
					"DELETE FROM main.relvec_translations WHERE set_id NOT IN (SELECT set_id FROM main.relvec_anchor_sets) "
					"  OR from_space_id NOT IN (SELECT space_id FROM main.relvec_spaces) "
					"  OR to_space_id NOT IN (SELECT space_id FROM main.relvec_spaces);");
}

/*
 * The first conflict that sql finds (first_conflict; kind is its fmt_kind) is an error,
 * or with replace the local rows are dropped by drop_sql, with what they leave orphaned.
 */
static int
settle_conflicts(sqlite3 *db, const char *sql, const char *kind, int replace, const char *drop_sql)
{
	char		msg[512];
	int			found;
	int			rc = first_conflict(db, sql, msg, sizeof(msg), &found, kind);

	if (rc != EXIT_OK || !found)
		return rc;
	if (!replace)
		return cli_error(EXIT_DATA, "%s (--replace overwrites it)", msg);
	rc = cli_exec(db, drop_sql);
	if (rc == EXIT_OK)
		rc = drop_orphans(db);
	return rc;
}

/*
 * Merge the server's catalog into the file's: spaces and anchor sets by name (a differing
 * definition is an error unless --replace), anchors that the file lacks, frozen flags,
 * translations (the server's win). Counts go to *nspaces etc.
 */
static int
pull_catalog(PGconn *conn, sqlite3 *db, const pull_opts *o, const pg_types *t)
{
	static const col_kind k_spaces[] = {K_INT, K_TEXT, K_INT, K_TEXT, K_EMB, K_INT};
	static const col_kind k_sets[] = {K_INT, K_TEXT, K_TEXT, K_INT};
	static const col_kind k_anchors[] = {K_INT, K_INT, K_INT, K_TEXT, K_EMB};
	static const col_kind k_trans[] = {K_INT, K_INT, K_INT, K_TEXT, K_EMB, K_EMB, K_EMB, K_EMB,
	K_F4ARRAY, K_EMB, K_TEXT};
	const char *s = t->relvec_schema;
	char	   *sql;
	int			rc,
				have_trans;
	int64_t		nsp = 0,
				nset = 0,
				nanc = 0,
				ntr = 0;
	PGresult   *res;
	const char *params[1];
	char	   *regname;

	rc = cli_catalog_ensure(db);
	if (rc != EXIT_OK)
		return rc;
	rc = cli_exec(db,
				  "CREATE TEMP TABLE pull_spaces (space_id INTEGER PRIMARY KEY, name TEXT, dims INTEGER, "
				  "  description TEXT, mean BLOB, mean_version INTEGER);"
				  "CREATE TEMP TABLE pull_sets (set_id INTEGER PRIMARY KEY, name TEXT, keys TEXT, frozen INTEGER);"
				  "CREATE TEMP TABLE pull_anchors (set_id INTEGER, space_id INTEGER, ord INTEGER, key TEXT, e BLOB);"
				  "CREATE TEMP TABLE pull_translations (set_id INTEGER, from_space_id INTEGER, to_space_id INTEGER,"
				  "  method TEXT, from_mean BLOB, from_std BLOB, to_mean BLOB, to_std BLOB, matrix BLOB, bias BLOB,"
				  "  fitted_at TEXT);");
	if (rc != EXIT_OK)
		return rc;

	sql = cli_sprintf("SELECT space_id::int8, name, dims::int8, description, mean, mean_version::int8 "
					  "FROM %s.relvec_spaces", s);
	rc = copy_catalog(conn, db, sql, "temp.pull_spaces", k_spaces, 6, &nsp);
	free(sql);
	if (rc != EXIT_OK)
		return rc;
	sql = cli_sprintf("SELECT set_id::int8, name, array_to_json(keys)::text, frozen::int4::int8 "
					  "FROM %s.relvec_anchor_sets", s);
	rc = copy_catalog(conn, db, sql, "temp.pull_sets", k_sets, 4, &nset);
	free(sql);
	if (rc != EXIT_OK)
		return rc;
	sql = cli_sprintf("SELECT set_id::int8, space_id::int8, ord::int8, key, e FROM %s.relvec_anchors", s);
	rc = copy_catalog(conn, db, sql, "temp.pull_anchors", k_anchors, 5, &nanc);
	free(sql);
	if (rc != EXIT_OK)
		return rc;

	/* translations exist once the translation feature is installed on the server */
	regname = cli_sprintf("%s.relvec_translations", s);
	params[0] = regname;
	rc = pg_run(conn, "SELECT to_regclass($1) IS NOT NULL", 1, params, &res);
	free(regname);
	if (rc != EXIT_OK)
		return rc;
	have_trans = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (have_trans)
	{
		sql = cli_sprintf("SELECT set_id::int8, from_space_id::int8, to_space_id::int8, method, from_mean, "
						  "from_std, to_mean, to_std, matrix::real[], bias, "
						  "to_char(fitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') "
						  "FROM %s.relvec_translations", s);
		rc = copy_catalog(conn, db, sql, "temp.pull_translations", k_trans, 11, &ntr);
		free(sql);
		if (rc != EXIT_OK)
			return rc;
	}

	/*
	 * spaces: same name, other dimensions. A replaced space takes the anchor sets that have
	 * anchors in it along. The frozen guard triggers refuse to delete a frozen set's
	 * anchors, so set rows go first and their anchors follow as orphans.
	 */
	rc = settle_conflicts(db, "SELECT p.name, s.dims, p.dims FROM temp.pull_spaces p "
						  "JOIN main.relvec_spaces s ON s.name = p.name WHERE s.dims IS NOT p.dims ORDER BY p.name",
						  "space", o->replace,
						  "CREATE TEMP TABLE pull_drop_spaces AS SELECT s.space_id FROM main.relvec_spaces s "
						  "  JOIN temp.pull_spaces p ON s.name = p.name WHERE s.dims IS NOT p.dims;"
						  "DELETE FROM main.relvec_anchor_sets WHERE set_id IN (SELECT set_id FROM main.relvec_anchors "
						  "  WHERE space_id IN (SELECT space_id FROM temp.pull_drop_spaces));"
						  "DELETE FROM main.relvec_translations WHERE from_space_id IN (SELECT space_id FROM temp.pull_drop_spaces)"
						  "  OR to_space_id IN (SELECT space_id FROM temp.pull_drop_spaces);"
						  "DELETE FROM main.relvec_spaces WHERE space_id IN (SELECT space_id FROM temp.pull_drop_spaces);");
	if (rc != EXIT_OK)
		return rc;
	rc = cli_exec(db,
				  "UPDATE main.relvec_spaces AS s SET description = p.description, mean = p.mean, "
				  "  mean_version = p.mean_version FROM temp.pull_spaces p WHERE s.name = p.name;"
				  "INSERT INTO main.relvec_spaces (name, dims, description, mean, mean_version) "
				  "  SELECT name, dims, description, mean, mean_version FROM temp.pull_spaces p "
				  "  WHERE NOT EXISTS (SELECT 1 FROM main.relvec_spaces s WHERE s.name = p.name) ORDER BY space_id;"
				  "CREATE TEMP TABLE pull_space_map AS SELECT p.space_id AS pg_id, s.space_id AS id "
				  "  FROM temp.pull_spaces p JOIN main.relvec_spaces s ON s.name = p.name;");
	if (rc != EXIT_OK)
		return rc;

	/* anchor sets: same name, other keys or other anchors */
	rc = settle_conflicts(db,
						  "SELECT p.name FROM temp.pull_sets p JOIN main.relvec_anchor_sets s ON s.name = p.name "
						  "WHERE json(s.keys) IS NOT json(p.keys) OR EXISTS (SELECT 1 FROM temp.pull_anchors a "
						  "  JOIN temp.pull_space_map m ON m.pg_id = a.space_id JOIN main.relvec_anchors l "
						  "  ON l.set_id = s.set_id AND l.space_id = m.id AND l.ord = a.ord "
						  "  WHERE a.set_id = p.set_id AND (l.key IS NOT a.key OR l.e IS NOT a.e)) ORDER BY p.name",
						  "set", o->replace,
						  "DELETE FROM main.relvec_anchor_sets WHERE set_id IN (SELECT s.set_id "
						  "  FROM main.relvec_anchor_sets s JOIN temp.pull_sets p ON s.name = p.name "
						  "  WHERE json(s.keys) IS NOT json(p.keys) OR EXISTS (SELECT 1 FROM temp.pull_anchors a "
						  "    JOIN temp.pull_space_map m ON m.pg_id = a.space_id JOIN main.relvec_anchors l "
						  "    ON l.set_id = s.set_id AND l.space_id = m.id AND l.ord = a.ord "
						  "    WHERE a.set_id = p.set_id AND (l.key IS NOT a.key OR l.e IS NOT a.e)));");
	if (rc != EXIT_OK)
		return rc;
	rc = cli_exec(db,
				  "INSERT INTO main.relvec_anchor_sets (name, keys, frozen) SELECT name, keys, 0 "
				  "  FROM temp.pull_sets p WHERE NOT EXISTS (SELECT 1 FROM main.relvec_anchor_sets s "
				  "  WHERE s.name = p.name) ORDER BY set_id;"
				  "CREATE TEMP TABLE pull_set_map AS SELECT p.set_id AS pg_id, s.set_id AS id "
				  "  FROM temp.pull_sets p JOIN main.relvec_anchor_sets s ON s.name = p.name;"
				  "INSERT INTO main.relvec_anchors (set_id, space_id, ord, key, e) "
				  "  SELECT ms.id, mp.id, a.ord, a.key, a.e FROM temp.pull_anchors a "
				  "  JOIN temp.pull_set_map ms ON ms.pg_id = a.set_id JOIN temp.pull_space_map mp ON mp.pg_id = a.space_id "
				  "  WHERE NOT EXISTS (SELECT 1 FROM main.relvec_anchors l WHERE l.set_id = ms.id "
				  "    AND l.space_id = mp.id AND l.ord = a.ord) ORDER BY a.set_id, a.space_id, a.ord;"
				  "UPDATE main.relvec_anchor_sets SET frozen = 1 WHERE frozen = 0 "
				  "  AND name IN (SELECT name FROM temp.pull_sets WHERE frozen <> 0);"
				  "INSERT OR REPLACE INTO main.relvec_translations (set_id, from_space_id, to_space_id, method, "
				  "  from_mean, from_std, to_mean, to_std, matrix, bias, fitted_at) "
				  "  SELECT ms.id, mf.id, mt.id, t.method, t.from_mean, t.from_std, t.to_mean, t.to_std, t.matrix, "
				  "  t.bias, t.fitted_at FROM temp.pull_translations t JOIN temp.pull_set_map ms ON ms.pg_id = t.set_id "
				  "  JOIN temp.pull_space_map mf ON mf.pg_id = t.from_space_id "
				  "  JOIN temp.pull_space_map mt ON mt.pg_id = t.to_space_id;");
	if (rc != EXIT_OK)
		return rc;
	if (!o->quiet)
		fprintf(stderr, "pull catalog: %lld spaces, %lld anchor sets, %lld anchors, %lld translations%s\n",
				(long long) nsp, (long long) nset, (long long) nanc, (long long) ntr,
				have_trans ? "" : " (the server has no relvec_translations)");
	return EXIT_OK;
}

static void
release_cancel(void)
{
	PGcancel   *c = signal_cancel;

	cli_signal_hook = NULL;
	signal_cancel = NULL;
	if (c != NULL)
		PQfreeCancel(c);
}

int
cmd_pull(int argc, char **argv)
{
	pull_opts	o;
	int			i = 0,
				rc,
				npos = 0;
	PGconn	   *conn = NULL;
	cli_db		d;
	pg_types	types;
	tag_map		tags;
	char	  **local = NULL;

	memset(&o, 0, sizeof(o));
	memset(&d, 0, sizeof(d));
	memset(&types, 0, sizeof(types));
	memset(&tags, 0, sizeof(tags));
	o.tables = cli_malloc(sizeof(char *) * (size_t) (argc + 1));
	while (i < argc)
	{
		const char *v;
		int			m;

		if (cli_is_help(argv[i]))
		{
			usage(stdout);
			return EXIT_OK;
		}
		if ((m = cli_opt(argc, argv, &i, "--table", &v)) != 0)
		{
			if (m < 0)
				return EXIT_USAGE;
			o.tables[o.ntables++] = v;
		}
		else if (cli_flag(argv, &i, "--replace"))
			o.replace = 1;
		else if (cli_flag(argv, &i, "--quiet"))
			o.quiet = 1;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
		{
			cli_error(EXIT_USAGE, "unknown option \"%s\" (see relvec pull --help)", argv[i]);
			return EXIT_USAGE;
		}
		else
		{
			if (npos == 0)
				o.conninfo = argv[i];
			else if (npos == 1)
				o.file = argv[i];
			npos++;
			i++;
		}
	}
	if (npos != 2 || o.ntables == 0)
	{
		cli_error(EXIT_USAGE, "expected CONNINFO, FILE.db and at least one --table (see relvec pull --help)");
		return EXIT_USAGE;
	}

	/* the server first: an unreachable server leaves no file behind */
	conn = PQconnectdb(o.conninfo);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		rc = cli_error(EXIT_SERVER, "cannot connect to the server: %s", pg_msg(PQerrorMessage(conn)));
		PQfinish(conn);
		return rc;
	}
	if (PQsetClientEncoding(conn, "UTF8") != 0)
	{
		rc = cli_error(EXIT_SERVER, "cannot set the client encoding to UTF8: %s", pg_msg(PQerrorMessage(conn)));
		PQfinish(conn);
		return rc;
	}
	signal_cancel = PQgetCancel(conn);
	cli_signal_hook = cancel_on_signal;
	rc = pg_run(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL, NULL);
	if (rc == EXIT_OK)
		rc = pg_run(conn, "SET LOCAL DateStyle = ISO", 0, NULL, NULL);
	if (rc == EXIT_OK)
		rc = pg_run(conn, "SET LOCAL IntervalStyle = iso_8601", 0, NULL, NULL);
	if (rc == EXIT_OK)
		rc = look_up_types(conn, &types);
	if (rc != EXIT_OK)
		goto fail;

	rc = cli_db_open(&d, o.file, 0, 0);
	if (rc != EXIT_OK)
		goto fail;
	rc = cli_db_begin(&d);
	if (rc != EXIT_OK)
		goto fail;

	/* the catalog first: the tables' tags are mapped to the file's ids of their spaces */
	if (types.relvec_schema != NULL)
	{
		rc = pull_catalog(conn, d.db, &o, &types);
		if (rc == EXIT_OK)
			rc = load_tag_map(d.db, &tags);
		if (rc != EXIT_OK)
			goto fail;
	}
	else if (!o.quiet)
		fprintf(stderr, "pull: relvec is not installed in that database; no catalog copied\n");
	local = cli_malloc(sizeof(char *) * (size_t) o.ntables);
	memset(local, 0, sizeof(char *) * (size_t) o.ntables);
	for (i = 0; i < o.ntables; i++)
	{
		rc = pull_table(conn, d.db, &o, &types, &tags, o.tables[i], &local[i], local, i);
		if (rc != EXIT_OK)
			goto fail;
	}

	rc = cli_db_commit(&d);
	if (rc != EXIT_OK)
		goto fail;
	pg_run(conn, "COMMIT", 0, NULL, NULL);
	release_cancel();
	PQfinish(conn);
	cli_db_close(&d);
	for (i = 0; i < o.ntables; i++)
		free(local[i]);
	free(local);
	free(o.tables);
	free(types.relvec_schema);
	tag_map_free(&tags);
	return EXIT_OK;

fail:
	if (d.path != NULL)
		cli_db_abandon(&d);
	release_cancel();
	PQfinish(conn);
	if (local)
		for (i = 0; i < o.ntables; i++)
			free(local[i]);
	free(local);
	free(o.tables);
	free(types.relvec_schema);
	tag_map_free(&tags);
	return rc;
}
