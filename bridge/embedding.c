/*
 * embedding.c — the embedding's text and binary forms, shared by every host.
 *
 * Text form: "[1,2.5,-0.03]", as pgvector's vector, so values move between the two types
 * by a text cast. Parsing tolerates whitespace around every token and rejects NaN,
 * infinities and float32 overflow. Output writes each value in the shortest decimal form
 * that reads back to the same float32, laid out as PostgreSQL prints float4 (fixed
 * notation for decimal exponents -4..5, else d.ddde+XX), so text round-trips exactly.
 *
 * Binary layout: a little-endian uint16 dimension count, a uint16 that is zero, then the
 * little-endian float32 values. PostgreSQL keeps exactly these bytes after the varlena
 * header; SQLite keeps them as a BLOB, so a file and the server exchange embeddings as is.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "relvec's binary layout assumes a little-endian host"
#endif

/* Longest text of one value: "-1.2345678e-38" is 14 characters. */
#define RV_MAX_VALUE_CHARS 15

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Upper bound on the number of values in a text form: commas + 1. */
size_t
rv_text_max_dims(const char *text)
{
	size_t		n = 1;

	for (; *text; text++)
		n += (*text == ',');
	return n;
}

/* Fail with the input quoted (shortened when long) and a detail saying what is wrong. */
static rv_status
syntax_error(rv_ctx *ctx, const char *text, const char *detail)
{
	size_t		len = strlen(text);

	if (len > 40)
		rv_fail(ctx, RV_E_SYNTAX, "invalid input syntax for type embedding: \"%.*s...\"",
				(int) rv_utf8_prefix(text, 40), text);
	else
		rv_fail(ctx, RV_E_SYNTAX, "invalid input syntax for type embedding: \"%s\"", text);
	rv_set_detail(ctx, "%s", detail);
	return RV_E_SYNTAX;
}

/* Parse the text form into out (room for cap values). */
rv_status
rv_parse_text(rv_ctx *ctx, const char *text, float *out, size_t cap, size_t *dims)
{
	const char *p = text;
	size_t		n = 0;

	*dims = 0;
	while (is_space(*p))
		p++;
	if (*p != '[')
		return syntax_error(ctx, text, "Embedding contents must start with \"[\".");
	p++;
	while (is_space(*p))
		p++;
	if (*p == ']')
		return rv_fail(ctx, RV_E_EMPTY, "embedding must have at least 1 dimension");

	for (;;)
	{
		char	   *end;
		float		v;

		while (is_space(*p))
			p++;
		if (*p == '\0' || *p == ',' || *p == ']')
			return syntax_error(ctx, text, "Expected a number.");
		errno = 0;
		v = strtof(p, &end);
		if (end == p)
			return syntax_error(ctx, text, "Expected a number.");
		if (isnan(v))
			return rv_fail(ctx, RV_E_NOT_FINITE, "NaN not allowed in embedding");
		if (isinf(v))
		{
			if (errno == ERANGE)
				return rv_fail(ctx, RV_E_OUT_OF_RANGE,
							   "\"%.*s\" is out of range for type embedding",
							   (int) (end - p > 40 ? 40 : end - p), p);
			return rv_fail(ctx, RV_E_NOT_FINITE, "infinite value not allowed in embedding");
		}
		if (n >= RV_MAX_DIMS)
			return rv_fail(ctx, RV_E_TOO_MANY_DIMS,
						   "embedding cannot have more than %d dimensions", RV_MAX_DIMS);
		if (n >= cap)
			return rv_fail(ctx, RV_E_INTERNAL, "embedding parse buffer of %zu values is too small",
						   cap);
		out[n++] = v;
		p = end;
		while (is_space(*p))
			p++;
		if (*p == ',')
		{
			p++;
			continue;
		}
		if (*p == ']')
		{
			p++;
			break;
		}
		return syntax_error(ctx, text, "Expected \",\" or \"]\" after a number.");
	}
	while (is_space(*p))
		p++;
	if (*p != '\0')
		return syntax_error(ctx, text, "Junk after closing right bracket.");
	*dims = n;
	return RV_OK;
}

size_t
rv_format_text_size(size_t dims)
{
	return dims * (RV_MAX_VALUE_CHARS + 1) + 3;
}

/*
 * Does the %e form of f with prec digits read back as f? Leaves the form in tmp. A
 * decimal exactly halfway to a neighbouring float also reads back (ties go to even),
 * but PostgreSQL's float4 output never picks one, so neither do we: the midpoints are
 * exact in double, and a decimal of at most 9 digits parses to one only if it equals it.
 */
static int
roundtrips(float f, int prec, char *tmp, size_t tmpsize)
{
	double		d;

	snprintf(tmp, tmpsize, "%.*e", prec - 1, (double) f);
	if (strtof(tmp, NULL) != f)
		return 0;
	d = strtod(tmp, NULL);
	return d != ((double) f + (double) nextafterf(f, -INFINITY)) / 2 &&
		d != ((double) f + (double) nextafterf(f, INFINITY)) / 2;
}

/*
 * Write the shortest round-trip text of one finite float into buf; returns its length.
 * Digits come from the smallest precision whose correctly rounded %e form reads back.
 */
static size_t
format_value(float f, char *buf)
{
	char		tmp[32];
	char		digits[16];
	int			ndig = 0;
	int			exp10;
	int			prec;
	const char *p;
	char	   *o = buf;
	int			i;

	if (f == 0.0f)
		return (size_t) sprintf(buf, signbit(f) ? "-0" : "0");
	/*
	 * Never in a valid embedding, but a value stored by an older version may hold one and
	 * its text must not run off the digit loop below (it looks for an 'e').
	 */
	if (isnan(f))
		return (size_t) sprintf(buf, "NaN");
	if (isinf(f))
		return (size_t) sprintf(buf, f < 0 ? "-Infinity" : "Infinity");

	/* Most model values need 7-9 digits; short ones are found by walking down from 6. */
	if (roundtrips(f, 6, tmp, sizeof(tmp)))
	{
		char		best[32];

		memcpy(best, tmp, sizeof(best));
		for (prec = 5; prec >= 1 && roundtrips(f, prec, tmp, sizeof(tmp)); prec--)
			memcpy(best, tmp, sizeof(best));
		memcpy(tmp, best, sizeof(tmp));
	}
	else
	{
		for (prec = 7; prec < 9 && !roundtrips(f, prec, tmp, sizeof(tmp)); prec++)
			;
		if (prec == 9)
			roundtrips(f, 9, tmp, sizeof(tmp));
	}

	/* tmp is [-]d[.ddd]e(+|-)xx */
	p = tmp;
	if (*p == '-')
		*o++ = *p++;
	for (; *p != 'e'; p++)
		if (*p != '.')
			digits[ndig++] = *p;
	exp10 = atoi(p + 1);
	while (ndig > 1 && digits[ndig - 1] == '0')
		ndig--;

	if (exp10 >= -4 && exp10 < 6)
	{
		if (exp10 < 0)
		{
			*o++ = '0';
			*o++ = '.';
			for (i = -1; i > exp10; i--)
				*o++ = '0';
			for (i = 0; i < ndig; i++)
				*o++ = digits[i];
		}
		else
		{
			for (i = 0; i <= exp10 || i < ndig; i++)
			{
				if (i == exp10 + 1)
					*o++ = '.';
				*o++ = i < ndig ? digits[i] : '0';
			}
		}
	}
	else
	{
		*o++ = digits[0];
		if (ndig > 1)
		{
			*o++ = '.';
			for (i = 1; i < ndig; i++)
				*o++ = digits[i];
		}
		o += sprintf(o, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
	}
	*o = '\0';
	return (size_t) (o - buf);
}

/* Write "[v1,v2,...]" into buf; returns the length. */
size_t
rv_format_text(const float *v, size_t dims, char *buf)
{
	char	   *o = buf;
	size_t		i;

	*o++ = '[';
	for (i = 0; i < dims; i++)
	{
		if (i > 0)
			*o++ = ',';
		o += format_value(v[i], o);
	}
	*o++ = ']';
	*o = '\0';
	return (size_t) (o - buf);
}

/* Values finite, dims within 1..RV_MAX_DIMS. */
rv_status
rv_check_values(rv_ctx *ctx, const float *v, size_t dims)
{
	size_t		i;
	int			bad = 0;

	if (dims < 1)
		return rv_fail(ctx, RV_E_EMPTY, "embedding must have at least 1 dimension");
	if (dims > RV_MAX_DIMS)
		return rv_fail(ctx, RV_E_TOO_MANY_DIMS,
					   "embedding cannot have more than %d dimensions", RV_MAX_DIMS);
	/* a branch-free pass that vectorizes (NaN compares false); the loop below names it */
	for (i = 0; i < dims; i++)
		bad |= !(fabsf(v[i]) <= FLT_MAX);
	if (!bad)
		return RV_OK;
	for (i = 0; i < dims; i++)
	{
		if (isnan(v[i]))
			return rv_fail(ctx, RV_E_NOT_FINITE, "NaN not allowed in embedding");
		if (isinf(v[i]))
			return rv_fail(ctx, RV_E_NOT_FINITE, "infinite value not allowed in embedding");
	}
	return RV_OK;
}

rv_status
rv_check_same_dims(rv_ctx *ctx, size_t a, size_t b)
{
	if (a != b)
		return rv_fail(ctx, RV_E_DIM_MISMATCH, "different embedding dimensions %zu and %zu", a, b);
	return RV_OK;
}

rv_status
rv_check_typmod(rv_ctx *ctx, size_t dims, int typmod)
{
	if (typmod >= 0 && dims != (size_t) typmod)
		return rv_fail(ctx, RV_E_DIM_MISMATCH, "expected %d dimensions, not %zu", typmod, dims);
	return RV_OK;
}

/* Validate a blob in the shared layout and point at its payload. */
rv_status
rv_blob_check(rv_ctx *ctx, const void *blob, size_t len, size_t *dims, const float **payload)
{
	const unsigned char *b = blob;
	size_t		n,
				i;

	*dims = 0;
	*payload = NULL;
	if (blob == NULL || len < RV_HEADER_BYTES)
		return rv_fail(ctx, RV_E_BINARY, "embedding blob of %zu bytes is shorter than its header",
					   blob == NULL ? (size_t) 0 : len);
	n = (size_t) b[0] | ((size_t) b[1] << 8);
	if (n < 1)
		return rv_fail(ctx, RV_E_EMPTY, "embedding must have at least 1 dimension");
	if (n > RV_MAX_DIMS)
		return rv_fail(ctx, RV_E_TOO_MANY_DIMS,
					   "embedding cannot have more than %d dimensions", RV_MAX_DIMS);
	if (len != RV_HEADER_BYTES + n * sizeof(float))
		return rv_fail(ctx, RV_E_BINARY,
					   "embedding blob of %zu bytes does not match its %zu dimensions", len, n);
	/*
	 * A host's BLOB may sit at any address (SQLite hands out pointers into its pages), so
	 * the values are checked one memcpy at a time, never read as floats in place. A first
	 * pass without branches (an exponent of all ones is NaN or infinity) vectorizes: it
	 * runs on every row a corpus scan reads; only a bad value takes the second, which
	 * names the first of them.
	 */
	{
		uint32_t	bad = 0;

		for (i = 0; i < n; i++)
		{
			uint32_t	u;

			memcpy(&u, b + RV_HEADER_BYTES + i * sizeof(float), sizeof(u));
			bad |= (uint32_t) ((u & 0x7f800000u) == 0x7f800000u);
		}
		for (i = 0; bad && i < n; i++)
		{
			float		f;

			memcpy(&f, b + RV_HEADER_BYTES + i * sizeof(float), sizeof(float));
			if (isnan(f))
				return rv_fail(ctx, RV_E_NOT_FINITE, "NaN not allowed in embedding");
			if (isinf(f))
				return rv_fail(ctx, RV_E_NOT_FINITE, "infinite value not allowed in embedding");
		}
	}
	*payload = (const float *) (b + RV_HEADER_BYTES);
	*dims = n;
	return RV_OK;
}

/* The space tag of a checked blob. */
unsigned
rv_blob_space(const void *blob)
{
	const unsigned char *b = blob;

	return (unsigned) b[2] | ((unsigned) b[3] << 8);
}

/* Write the layout's header for dims and a space tag. */
void
rv_blob_header(void *hdr, size_t dims, unsigned space)
{
	unsigned char *b = hdr;

	b[0] = (unsigned char) (dims & 0xff);
	b[1] = (unsigned char) ((dims >> 8) & 0xff);
	b[2] = (unsigned char) (space & 0xff);
	b[3] = (unsigned char) ((space >> 8) & 0xff);
}

rv_status
rv_check_same_space(rv_ctx *ctx, unsigned a, unsigned b)
{
	if (a != b && a != 0 && b != 0)
		return rv_fail(ctx, RV_E_SPACE_MISMATCH, "embeddings of different spaces #%u and #%u", a, b);
	return RV_OK;
}

/* 1 when a name needs no quotes: lower-case letters, digits, underscores, no leading digit. */
static int
plain_name(const char *name)
{
	const char *p;

	if (name[0] == '\0' || (name[0] >= '0' && name[0] <= '9'))
		return 0;
	for (p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return 0;
	return 1;
}

size_t
rv_space_prefix_size(const char *name)
{
	/* quotes, each quote doubled, '#', up to 5 digits, ':' and the NUL */
	size_t		n = 2 + 1 + 5 + 1 + 1;

	for (; name != NULL && *name; name++)
		n += (*name == '"') ? 2 : 1;
	return n;
}

size_t
rv_format_space_prefix(const char *name, unsigned id, char *buf)
{
	char	   *o = buf;

	if (name != NULL && name[0] != '\0')
	{
		if (plain_name(name))
		{
			size_t		len = strlen(name);

			memcpy(o, name, len);
			o += len;
		}
		else
		{
			*o++ = '"';
			for (; *name; name++)
			{
				if (*name == '"')
					*o++ = '"';
				*o++ = *name;
			}
			*o++ = '"';
		}
	}
	o += sprintf(o, "#%u:", id & 0xffff);
	return (size_t) (o - buf);
}

rv_status
rv_parse_space_prefix(rv_ctx *ctx, const char *text, int *tagged, char *name, unsigned *id,
					  const char **array)
{
	const char *p = text;
	size_t		n = 0;
	unsigned long v = 0;
	int			digits = 0;

	*tagged = 0;
	name[0] = '\0';
	*id = 0;
	*array = text;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v')
		p++;
	if (*p == '[' || *p == '\0')
		return RV_OK;			/* untagged: rv_parse_text reports what else is wrong */
	if (*p == '"')
	{
		for (p++;; p++)
		{
			if (*p == '\0')
				return syntax_error(ctx, text, "Unterminated quoted space name.");
			if (*p == '"' && p[1] != '"')
				break;
			if (*p == '"')
				p++;
			if (n >= RV_MAX_SPACE_NAME)
				return syntax_error(ctx, text, "Space name too long.");
			name[n++] = *p;
		}
		p++;
		if (n == 0)
			return syntax_error(ctx, text, "Empty quoted space name.");
	}
	else
		while (*p != '#' && *p != '\0' && *p != '[' && *p != ':')
		{
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
				return syntax_error(ctx, text, "Embedding contents must start with \"[\".");
			if (n >= RV_MAX_SPACE_NAME)
				return syntax_error(ctx, text, "Space name too long.");
			name[n++] = *p++;
		}
	name[n] = '\0';
	if (*p != '#')
		return syntax_error(ctx, text, n == 0 ? "Embedding contents must start with \"[\"."
							: "A space name must be followed by \"#\" and the space's id.");
	for (p++; *p >= '0' && *p <= '9'; p++)
	{
		v = v * 10 + (unsigned long) (*p - '0');
		if (v > RV_MAX_SPACE_TAG)
			return syntax_error(ctx, text, "Space id out of range.");
		digits++;
	}
	if (digits == 0 || v == 0)
		return syntax_error(ctx, text, "A space id is a number from 1 to 65535.");
	if (*p != ':')
		return syntax_error(ctx, text, "A space tag ends with \":\" before the \"[\".");
	*tagged = 1;
	*id = (unsigned) v;
	*array = p + 1;
	return RV_OK;
}
