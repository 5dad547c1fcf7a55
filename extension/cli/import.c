/*
 * import.c — `relvec import FILE.db --fvecs PATH --space NAME --table NAME`: load an
 * .fvecs file (FAISS / ANN-benchmarks format: per vector a little-endian int32 d, then d
 * little-endian float32 values, no file header) into a table of (key, embedding) rows,
 * registering the space through relvec_create_space when it does not exist yet.
 *
 * The file's length is checked before anything is written (n = size / (4·(d+1)) must be
 * whole), every record's d must match the first, every value must be finite; the rows
 * go in one transaction, so a bad record anywhere leaves the database as it was. The
 * payload of an fvecs record is already the bridge's little-endian layout: a BLOB is its
 * 4-byte header followed by the record's bytes. The vectors are tagged with the space
 * (its id in the file's catalog in the header), so the extension keeps them apart from
 * other spaces' and knows their space (relvec_project(x, anchor_set), ...).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "relvec_cli.h"

static void
usage(FILE *f)
{
	fputs("Usage: relvec import FILE.db --fvecs PATH --space NAME --table NAME [options]\n"
		  "\n"
		  "Load an .fvecs file as (key, embedding) rows into a table of an SQLite file (created\n"
		  "when missing), in one transaction. The space is created with the file's dimensions\n"
		  "when it does not exist; an existing space must have the same dimensions. The vectors\n"
		  "are tagged with the space. An existing table takes the rows in its key and embedding\n"
		  "columns.\n"
		  "\n"
		  "  --fvecs PATH          the vectors\n"
		  "  --space NAME          their latent space (relvec_spaces)\n"
		  "  --description TEXT    description of a space created here\n"
		  "  --table NAME          target table, created as (key TEXT PRIMARY KEY, e BLOB NOT NULL)\n"
		  "  --keys index|PATH     keys: the row number (default), or a CSV file with a header\n"
		  "                        line whose data row i names fvecs row i\n"
		  "  --key-field NAME|N    CSV column holding the key: a header name or a 0-based number\n"
		  "                        (default 0)\n"
		  "  --key-column NAME     key column of the table (default key)\n"
		  "  --column NAME         embedding column of the table (default e)\n"
		  "  --quiet               no progress output\n"
		  "\n"
		  "Exit status: 0 done, 1 usage, 2 bad input (truncated or malformed fvecs, key count\n"
		  "mismatch, duplicate key, dimension mismatch, not an SQLite file), 4 interrupted,\n"
		  "5 local failure. On any failure the file is left as it was.\n", f);
}

/* A growable list of strings. */
typedef struct strlist
{
	char	  **v;
	size_t		n;
	size_t		cap;
} strlist;

static void
strlist_push(strlist *l, char *s)
{
	if (l->n == l->cap)
	{
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = cli_realloc(l->v, l->cap * sizeof(char *));
	}
	l->v[l->n++] = s;
}

static void
strlist_free(strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/*
 * Read one CSV record (RFC 4180: quoted fields may hold commas, doubled quotes and line
 * breaks) into fields. Returns 1 for a record, 0 at end of file, -1 for an unterminated
 * quote.
 */
static int
csv_record(FILE *f, strlist *fields)
{
	int			c,
				quoted = 0,
				any = 0;
	size_t		len = 0,
				cap = 64;
	char	   *buf = cli_malloc(cap);

	strlist_free(fields);
	for (;;)
	{
		c = fgetc(f);
		if (c == EOF)
		{
			if (quoted)
			{
				free(buf);
				return -1;
			}
			if (!any && len == 0)
			{
				free(buf);
				return 0;
			}
			break;
		}
		any = 1;
		if (quoted)
		{
			if (c == '"')
			{
				int			next = fgetc(f);

				if (next == '"')
					;			/* an escaped quote: keep one */
				else
				{
					quoted = 0;
					if (next != EOF)
						ungetc(next, f);
					continue;
				}
			}
		}
		else if (c == '"')
		{
			quoted = 1;
			continue;
		}
		else if (c == ',' || c == '\n')
		{
			buf[len] = '\0';
			strlist_push(fields, buf);
			if (c == '\n')
				return 1;
			len = 0;
			cap = 64;
			buf = cli_malloc(cap);
			continue;
		}
		else if (c == '\r')
			continue;
		if (len + 2 > cap)
		{
			cap *= 2;
			buf = cli_realloc(buf, cap);
		}
		buf[len++] = (char) c;
	}
	buf[len] = '\0';
	strlist_push(fields, buf);
	return 1;
}

/* Read the key column of a CSV file (header line first) into keys. Returns an exit code. */
static int
read_keys(const char *path, const char *field, strlist *keys)
{
	FILE	   *f = fopen(path, "r");
	strlist		rec = {0};
	long		col = -1;
	int			r;
	size_t		line = 1;

	if (f == NULL)
		return cli_error(EXIT_DATA, "cannot open key file \"%s\": %s", path, strerror(errno));
	r = csv_record(f, &rec);
	if (r <= 0)
	{
		fclose(f);
		strlist_free(&rec);
		return cli_error(EXIT_DATA, "key file \"%s\" has no header line", path);
	}
	if (field == NULL)
		col = 0;
	else
	{
		for (size_t i = 0; i < rec.n; i++)
			if (strcmp(rec.v[i], field) == 0)
				col = (long) i;
		if (col < 0)
		{
			char	   *end;
			long		v = strtol(field, &end, 10);

			if (*field != '\0' && *end == '\0' && v >= 0 && (size_t) v < rec.n)
				col = v;
		}
		if (col < 0)
		{
			fclose(f);
			strlist_free(&rec);
			return cli_error(EXIT_DATA, "key file \"%s\" has no column \"%s\"", path, field);
		}
	}
	while ((r = csv_record(f, &rec)) == 1)
	{
		line++;
		if ((size_t) col >= rec.n)
		{
			fclose(f);
			strlist_free(&rec);
			return cli_error(EXIT_DATA, "key file \"%s\" line %zu has no column %ld", path, line, col);
		}
		strlist_push(keys, cli_strdup(rec.v[col]));
	}
	fclose(f);
	strlist_free(&rec);
	if (r < 0)
		return cli_error(EXIT_DATA, "key file \"%s\" ends inside a quoted field", path);
	return EXIT_OK;
}

int
cmd_import(int argc, char **argv)
{
	const char *file = NULL,
			   *fvecs = NULL,
			   *space = NULL,
			   *table = NULL,
			   *keys_opt = "index",
			   *key_field = NULL,
			   *key_col = "key",
			   *emb_col = "e",
			   *description = NULL;
	int			quiet = 0,
				rc,
				npos = 0;
	FILE	   *fv = NULL;
	struct stat stb;
	int32_t		d = 0;
	unsigned	tag = 0;
	size_t		rowbytes,
				n,
				row;
	strlist		keys = {0};
	cli_db		db;
	sqlite3_stmt *st = NULL;
	unsigned char *rec = NULL;
	char	   *sql = NULL,
			   *qt = NULL,
			   *qk = NULL,
			   *qe = NULL;
	cli_progress prog;

	memset(&db, 0, sizeof(db));
	{
		const cli_option opts[] = {
			{"--fvecs", &fvecs, NULL},
			{"--space", &space, NULL},
			{"--table", &table, NULL},
			{"--keys", &keys_opt, NULL},
			{"--key-field", &key_field, NULL},
			{"--key-column", &key_col, NULL},
			{"--column", &emb_col, NULL},
			{"--description", &description, NULL},
			{"--quiet", NULL, &quiet},
			{NULL, NULL, NULL}
		};

		if ((rc = cli_parse_args(argc, argv, opts, usage, &file, &npos)) != CLI_GO_ON)
			return rc;
	}
	if (npos != 1 || fvecs == NULL || space == NULL || table == NULL)
		return cli_error(EXIT_USAGE, "expected FILE.db, --fvecs, --space and --table (see relvec import --help)");

	/* the whole fvecs file is checked for shape before the database is touched */
	fv = fopen(fvecs, "rb");
	if (fv == NULL)
		return cli_error(EXIT_DATA, "cannot open \"%s\": %s", fvecs, strerror(errno));
	if (fstat(fileno(fv), &stb) != 0 || !S_ISREG(stb.st_mode))
	{
		fclose(fv);
		return cli_error(EXIT_DATA, "\"%s\" is not a regular file", fvecs);
	}
	if (stb.st_size < 4 || fread(&d, 4, 1, fv) != 1)
	{
		fclose(fv);
		return cli_error(EXIT_DATA, "\"%s\" is not an fvecs file: it is shorter than one record", fvecs);
	}
	/* int32 little-endian on disk; the bridge layout assumes a little-endian host too */
	if (d < 1 || d > RV_MAX_DIMS)
	{
		fclose(fv);
		return cli_error(EXIT_DATA, "\"%s\" is not an fvecs file: its first record claims %d dimensions "
						 "(1 to %d allowed)", fvecs, (int) d, RV_MAX_DIMS);
	}
	rowbytes = 4 * ((size_t) d + 1);
	if ((size_t) stb.st_size % rowbytes != 0)
	{
		fclose(fv);
		return cli_error(EXIT_DATA, "\"%s\" is truncated: %lld bytes is not a whole number of %d-dimensional "
						 "records (%zu bytes each)", fvecs, (long long) stb.st_size, (int) d, rowbytes);
	}
	n = (size_t) stb.st_size / rowbytes;
	rewind(fv);

	if (strcmp(keys_opt, "index") != 0)
	{
		rc = read_keys(keys_opt, key_field, &keys);
		if (rc != EXIT_OK)
			goto out;
		if (keys.n != n)
		{
			rc = cli_error(EXIT_DATA, "key file \"%s\" has %zu keys, \"%s\" has %zu vectors", keys_opt,
						   keys.n, fvecs, n);
			goto out;
		}
	}
	else if (key_field != NULL)
	{
		rc = cli_error(EXIT_USAGE, "--key-field needs --keys PATH.csv");
		goto out;
	}

	rc = cli_db_open(&db, file, 0, 0);
	if (rc == EXIT_OK)
		rc = cli_db_begin(&db);
	if (rc == EXIT_OK)
		rc = cli_catalog_ensure(db.db);
	if (rc != EXIT_OK)
		goto out;

	/* the space: an existing one must match, a missing one is created */
	if (sqlite3_prepare_v2(db.db, "SELECT dims FROM main.relvec_spaces WHERE name = ?1", -1, &st, NULL) != SQLITE_OK)
	{
		rc = cli_sqlite_error(db.db, sqlite3_errcode(db.db), NULL);
		goto out;
	}
	sqlite3_bind_text(st, 1, space, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
	{
		/* the file's value, all 64 bits of it: 2^32 + 64 is not 64 */
		sqlite3_int64 sd = sqlite3_column_int64(st, 0);

		if (sqlite3_column_type(st, 0) != SQLITE_INTEGER)
		{
			rc = cli_error(EXIT_DATA, "dimensions of space \"%s\" are not an integer", space);
			goto out;
		}
		if (sd != d)
		{
			rc = cli_error(EXIT_DATA, "space \"%s\" has %lld dimensions, \"%s\" has %d", space, (long long) sd,
						   fvecs, (int) d);
			goto out;
		}
		rc = EXIT_OK;
	}
	else if (rc != SQLITE_DONE)
	{
		rc = cli_sqlite_error(db.db, rc, NULL);
		goto out;
	}
	else
	{
		sqlite3_finalize(st);
		st = NULL;
		if ((rc = sqlite3_prepare_v2(db.db, "SELECT relvec_create_space(?1, ?2, ?3)", -1, &st, NULL)) != SQLITE_OK)
		{
			rc = cli_sqlite_error(db.db, rc, "cannot create the space");
			goto out;
		}
		sqlite3_bind_text(st, 1, space, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 2, d);
		if (description)
			sqlite3_bind_text(st, 3, description, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		{
			rc = cli_sqlite_error(db.db, rc, "cannot create the space");
			goto out;
		}
		rc = EXIT_OK;
	}
	sqlite3_finalize(st);
	st = NULL;

	/* the vectors carry the space's id (a uint16: the extension refuses to create more) */
	if (sqlite3_prepare_v2(db.db, "SELECT space_id FROM main.relvec_spaces WHERE name = ?1", -1, &st, NULL) != SQLITE_OK)
	{
		rc = cli_sqlite_error(db.db, sqlite3_errcode(db.db), NULL);
		goto out;
	}
	sqlite3_bind_text(st, 1, space, -1, SQLITE_TRANSIENT);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
	{
		rc = cli_sqlite_error(db.db, rc, "reading the space's id");
		goto out;
	}
	if (sqlite3_column_int64(st, 0) < 1 || sqlite3_column_int64(st, 0) > RV_MAX_SPACE_TAG)
	{
		rc = cli_error(EXIT_DATA, "space \"%s\" has id %lld, beyond the %d a value can carry", space,
					   (long long) sqlite3_column_int64(st, 0), RV_MAX_SPACE_TAG);
		goto out;
	}
	tag = (unsigned) sqlite3_column_int64(st, 0);
	rc = EXIT_OK;
	sqlite3_finalize(st);
	st = NULL;

	qt = cli_quote_ident(table);
	qk = cli_quote_ident(key_col);
	qe = cli_quote_ident(emb_col);
	if (!cli_table_exists(db.db, table))
	{
		sql = cli_sprintf("CREATE TABLE main.%s (%s TEXT PRIMARY KEY, %s BLOB NOT NULL)", qt, qk, qe);
		rc = cli_exec(db.db, sql);
		free(sql);
		if (rc != EXIT_OK)
			goto out;
	}
	sql = cli_sprintf("INSERT INTO main.%s (%s, %s) VALUES (?1, ?2)", qt, qk, qe);
	rc = sqlite3_prepare_v2(db.db, sql, -1, &st, NULL);
	free(sql);
	if (rc != SQLITE_OK)
	{
		rc = cli_sqlite_error(db.db, rc, NULL);
		goto out;
	}

	rec = cli_malloc(rowbytes);
	cli_progress_start(&prog, "import", (int64_t) n, quiet);
	for (row = 0; row < n; row++)
	{
		int32_t		rd;
		size_t		dims;
		const float *vals;
		char		idx[32];

		if (fread(rec, 1, rowbytes, fv) != rowbytes)
		{
			rc = cli_error(EXIT_DATA, "\"%s\": cannot read record %zu: %s", fvecs, row,
						   ferror(fv) ? strerror(errno) : "the file shrank");
			goto out;
		}
		memcpy(&rd, rec, 4);
		if (rd != d)
		{
			rc = cli_error(EXIT_DATA, "\"%s\": record %zu has %d dimensions, the first has %d", fvecs, row,
						   (int) rd, (int) d);
			goto out;
		}
		/* the record's 4-byte dimension count becomes the blob header, with the space's tag */
		rv_blob_header(rec, (size_t) d, tag);
		if (rv_blob_check(cli_rv, rec, rowbytes, &dims, &vals) != RV_OK)
		{
			rc = cli_error(EXIT_DATA, "\"%s\": record %zu: %s", fvecs, row, rv_errmsg(cli_rv));
			goto out;
		}
		sqlite3_reset(st);
		if (keys.n)
			sqlite3_bind_text(st, 1, keys.v[row], -1, SQLITE_STATIC);
		else
		{
			snprintf(idx, sizeof(idx), "%zu", row);
			sqlite3_bind_text(st, 1, idx, -1, SQLITE_TRANSIENT);
		}
		sqlite3_bind_blob(st, 2, rec, (int) rowbytes, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc != SQLITE_DONE)
		{
			char	   *what = cli_sprintf("record %zu", row);

			rc = cli_sqlite_error(db.db, rc, what);
			free(what);
			goto out;
		}
		rc = EXIT_OK;
		cli_progress_add(&prog, 1);
		if (cli_interrupted)
		{
			rc = cli_error(EXIT_INTERRUPT, "interrupted; nothing was written");
			goto out;
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	rc = cli_db_commit(&db);
	if (rc == EXIT_OK)
		cli_progress_end(&prog, "rows");

out:
	sqlite3_finalize(st);
	if (rc != EXIT_OK && db.path != NULL)
		cli_db_abandon(&db);
	else if (db.path != NULL)
		cli_db_close(&db);
	if (fv)
		fclose(fv);
	strlist_free(&keys);
	free(rec);
	free(qt);
	free(qk);
	free(qe);
	return rc;
}
