/*
 * print.c — result sets on stdout, as an aligned table for people or as CSV (RFC 4180,
 * header line first) for programs. Numbers print in the shortest form that reads back to
 * the same double; BLOBs that hold an embedding print in its text form "[1,2,3]" (a tagged
 * one as "name#id:[1,2,3]", its space named in the file's catalog by the extension's
 * embedding_text, so that it reads back here or in PostgreSQL by name), other BLOBs as
 * X'hex'. A table is buffered to align its columns; CSV streams.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relvec_cli.h"

/*
 * The text form of a tagged embedding BLOB through the extension's embedding_text on db
 * (*named is its statement, prepared on first use); malloc'ed, NULL when that fails.
 */
static char *
tagged_text(sqlite3 *db, sqlite3_stmt **named, const void *b, size_t len)
{
	char	   *s = NULL;

	if (*named == NULL && sqlite3_prepare_v2(db, "SELECT embedding_text(?1)", -1, named, NULL) != SQLITE_OK)
	{
		sqlite3_finalize(*named);
		*named = NULL;
		return NULL;
	}
	sqlite3_bind_blob(*named, 1, b, (int) len, SQLITE_STATIC);
	if (sqlite3_step(*named) == SQLITE_ROW && sqlite3_column_type(*named, 0) == SQLITE_TEXT)
		s = cli_strdup((const char *) sqlite3_column_text(*named, 0));
	sqlite3_reset(*named);
	sqlite3_clear_bindings(*named);
	return s;
}

/* The text of column i of the current row; malloc'ed. named: see tagged_text. */
static char *
cell_text(sqlite3 *db, sqlite3_stmt *st, int i, sqlite3_stmt **named)
{
	switch (sqlite3_column_type(st, i))
	{
		case SQLITE_NULL:
			return cli_strdup("");
		case SQLITE_INTEGER:
			return cli_sprintf("%lld", (long long) sqlite3_column_int64(st, i));
		case SQLITE_FLOAT:
			{
				double		v = sqlite3_column_double(st, i);
				int			prec;
				char		buf[64];

				for (prec = 15; prec <= 17; prec++)
				{
					snprintf(buf, sizeof(buf), "%.*g", prec, v);
					if (strtod(buf, NULL) == v)
						break;
				}
				return cli_strdup(buf);
			}
		case SQLITE_BLOB:
			{
				const void *b = sqlite3_column_blob(st, i);
				size_t		len = (size_t) sqlite3_column_bytes(st, i);
				size_t		dims;
				const float *vals;
				char	   *s;
				size_t		j;

				if (rv_blob_check(cli_rv, b, len, &dims, &vals) == RV_OK)
				{
					unsigned	tag = rv_blob_space(b);
					float	   *copy;
					size_t		at = 0;

					if (tag != 0 && (s = tagged_text(db, named, b, len)) != NULL)
						return s;
					/* the payload inside an SQLite blob need not be 4-byte aligned */
					copy = cli_malloc(dims * sizeof(float));
					memcpy(copy, vals, dims * sizeof(float));
					s = cli_malloc((tag != 0 ? rv_space_prefix_size(NULL) : 0) + rv_format_text_size(dims));
					if (tag != 0)
						at = rv_format_space_prefix(NULL, tag, s);
					rv_format_text(copy, dims, s + at);
					free(copy);
					return s;
				}
				rv_clear_error(cli_rv);
				s = cli_malloc(3 + 2 * len + 1);
				strcpy(s, "X'");
				for (j = 0; j < len; j++)
					sprintf(s + 2 + 2 * j, "%02X", ((const unsigned char *) b)[j]);
				strcpy(s + 2 + 2 * len, "'");
				return s;
			}
		default:
			return cli_strdup((const char *) sqlite3_column_text(st, i));
	}
}

/* Write one CSV field, quoted when it holds a comma, quote or line break. */
static void
csv_field(const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL)
	{
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (; *s; s++)
	{
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

int
cli_print_rows(sqlite3 *db, sqlite3_stmt *st, int csv, int64_t *nrows)
{
	int			ncol = sqlite3_column_count(st);
	char	  **cells = NULL;
	char	   *isnum = NULL;
	size_t		ncells = 0,
				cap = 0;
	size_t	   *width = cli_malloc(sizeof(size_t) * (size_t) (ncol ? ncol : 1));
	sqlite3_stmt *named = NULL;
	int			rc,
				i;
	int64_t		n = 0;

	for (i = 0; i < ncol; i++)
	{
		width[i] = strlen(sqlite3_column_name(st, i));
		if (csv)
		{
			if (i)
				putchar(',');
			csv_field(sqlite3_column_name(st, i));
		}
	}
	if (csv)
		putchar('\n');

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
	{
		for (i = 0; i < ncol; i++)
		{
			char	   *t = cell_text(db, st, i, &named);

			if (csv)
			{
				if (i)
					putchar(',');
				csv_field(t);
				free(t);
				continue;
			}
			if (ncells == cap)
			{
				cap = cap ? 2 * cap : 256;
				cells = cli_realloc(cells, cap * sizeof(char *));
				isnum = cli_realloc(isnum, cap);
			}
			isnum[ncells] = sqlite3_column_type(st, i) == SQLITE_INTEGER ||
				sqlite3_column_type(st, i) == SQLITE_FLOAT;
			if (strlen(t) > width[i])
				width[i] = strlen(t);
			cells[ncells++] = t;
		}
		if (csv)
			putchar('\n');
		n++;
	}
	if (rc != SQLITE_DONE)
	{
		/* the message first: finalizing may touch the connection's error state */
		rc = cli_sqlite_error(db, rc, NULL);
		sqlite3_finalize(named);
		for (size_t c = 0; c < ncells; c++)
			free(cells[c]);
		free(cells);
		free(isnum);
		free(width);
		return rc;
	}
	sqlite3_finalize(named);
	if (!csv)
	{
		for (i = 0; i < ncol; i++)
			printf("%s%-*s", i ? "  " : "", i == ncol - 1 ? 0 : (int) width[i], sqlite3_column_name(st, i));
		putchar('\n');
		for (i = 0; i < ncol; i++)
		{
			printf("%s", i ? "  " : "");
			for (size_t w = 0; w < width[i]; w++)
				putchar('-');
		}
		putchar('\n');
		for (size_t c = 0; c < ncells; c++)
		{
			int			col = (int) (c % (size_t) ncol);
			int			numeric = isnum[c];

			/* numbers align right, text left */
			printf("%s%*s%s", col ? "  " : "", numeric ? (int) width[col] : 0, numeric ? cells[c] : "",
				   numeric ? "" : cells[c]);
			if (!numeric && col != ncol - 1)
				printf("%*s", (int) (width[col] - strlen(cells[c])), "");
			if (col == ncol - 1)
				putchar('\n');
			free(cells[c]);
		}
		printf("(%lld row%s)\n", (long long) n, n == 1 ? "" : "s");
	}
	free(cells);
	free(isnum);
	free(width);
	fflush(stdout);
	*nrows = n;
	return EXIT_OK;
}
