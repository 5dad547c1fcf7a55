/*
 * test_context.c — the context's error buffers: messages quoting user input are cut at a
 * character boundary (rv_utf8_prefix), also when the bounded buffer itself is full, so a
 * host never shows half a UTF-8 character (PostgreSQL would replace the real error with an
 * encoding error under a client encoding such as LATIN1).
 */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testhost.h"

/* 1 when s is well-formed UTF-8 (no cut or stray sequence). */
static int
valid_utf8(const char *s)
{
	const unsigned char *u = (const unsigned char *) s;

	while (*u)
	{
		int			len = *u < 0x80 ? 1 : (*u & 0xE0) == 0xC0 ? 2 : (*u & 0xF0) == 0xE0 ? 3 :
			(*u & 0xF8) == 0xF0 ? 4 : 0;
		int			j;

		if (len == 0)
			return 0;
		for (j = 1; j < len; j++)
			if ((u[j] & 0xC0) != 0x80)
				return 0;
		u += len;
	}
	return 1;
}

int
main(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	char		text[400];
	size_t		off;
	int			bad = 0;
	float		v[4];
	size_t		dims;

	is_int(rv_utf8_prefix("abcdef", 4), 4, "ASCII: cut at max");
	is_int(rv_utf8_prefix("ab", 40), 2, "shorter than max: the whole string");
	is_int(rv_utf8_prefix("a\xc3\xa9z", 2), 1, "two-byte character straddling max: left out");
	is_int(rv_utf8_prefix("a\xc3\xa9z", 3), 3, "two-byte character ending at max: kept");
	is_int(rv_utf8_prefix("\xe2\x82\xac\xe2\x82\xac", 5), 3, "three-byte character straddling max");
	is_int(rv_utf8_prefix("\xf0\x9f\x98\x80x", 3), 0, "four-byte character straddling max");
	is_int(rv_utf8_prefix("\xf0\x9f\x98\x80x", 4), 4, "four-byte character ending at max");
	is_int(rv_utf8_prefix("a\xe9z", 3), 3, "a byte that is not UTF-8 (LATIN1 e-acute) counts as one");
	is_int(rv_utf8_prefix("\xc3", 1), 0, "a lead byte cut off by the end of the string is left out");
	is_int(rv_utf8_prefix("a\xe2\x82", 10), 1, "a sequence cut off by the end of the string is left out");

	/* every cut position of a long multi-byte input gives valid UTF-8 in the message */
	for (off = 0; off < 4; off++)
	{
		size_t		i;
		size_t		n = 0;

		text[n++] = '[';
		for (i = 0; i < off; i++)
			text[n++] = 'x';
		while (n < 120)
		{
			memcpy(text + n, "\xe2\x82\xac", 3);	/* the euro sign */
			n += 3;
		}
		text[n] = '\0';
		if (rv_parse_text(ctx, text, v, 4, &dims) != RV_E_SYNTAX || !valid_utf8(rv_errmsg(ctx)))
			bad++;
	}
	is_int(bad, 0, "syntax error quoting 40 bytes of multi-byte input: valid UTF-8 at every offset");

	/* a message longer than the buffer is cut at a character boundary too */
	memset(text, 0, sizeof(text));
	for (off = 0; off < 3; off++)
	{
		size_t		n = 0;

		memset(text, 0, sizeof(text));
		while (n < off)
			text[n++] = 'y';
		while (n + 3 < sizeof(text) - 1)
		{
			memcpy(text + n, "\xe2\x82\xac", 3);
			n += 3;
		}
		rv_fail(ctx, RV_E_INVALID_PARAM, "space \"%s\" does not exist", text);
		if (!valid_utf8(rv_errmsg(ctx)) || strlen(rv_errmsg(ctx)) < RV_ERRMSG_LEN - 4)
			bad++;
		rv_set_detail(ctx, "%s", text);
		if (!valid_utf8(rv_errdetail(ctx)))
			bad++;
	}
	is_int(bad, 0, "a message longer than the buffer ends on a whole character");

	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "no leak");
	return done_testing();
}
