/*
 * fuzz_embedding.c — libFuzzer harness for the bridge's decoders of an embedding, the ones
 * both hosts feed untrusted bytes to: rv_parse_space_prefix and rv_parse_text (PostgreSQL's
 * embedding_in, the SQLite extension's text arguments, the CLI's --vector: the space tag
 * "name#id:" first, then the array) and rv_blob_check (SQLite BLOBs, the CLI's printing and
 * its COPY and fvecs readers). Each input is tried as text and as a BLOB, the BLOB both at
 * an aligned and at an odd address (SQLite hands out BLOBs at any address). Besides the
 * sanitizers' own checks, it stops on a broken promise:
 *  - a parsed text must format to text that parses back to the same float32 bits;
 *  - a parsed space tag must have an id from 1 to 65535 and format (rv_format_space_prefix,
 *    within rv_space_prefix_size) to a prefix that parses back to the same name and id;
 *  - an accepted BLOB must have exactly the length its header says, finite values, its tag
 *    in bytes 2..3, and the same format-and-parse round trip;
 *  - a failure must leave a message, and no allocation of the bridge may be left over.
 *
 *   build/fuzz/fuzz_embedding CORPUS_DIR tests/fuzz/corpus/embedding   (make fuzz)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relvec_bridge.h"
#include "testhost.h"

static test_host th;
static rv_ctx *ctx;

/* A broken promise: say which and stop, so libFuzzer keeps the input. */
static void
broken(const char *what)
{
	fprintf(stderr, "fuzz_embedding: %s\n", what);
	abort();
}

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	ctx = test_ctx(&th);
	return 0;
}

/* Format v and parse it back: the same dims and the same bits. */
static void
round_trip(const float *v, size_t dims)
{
	char	   *buf = malloc(rv_format_text_size(dims));
	float	   *back = malloc(sizeof(float) * dims);
	size_t		len,
				n;

	if (buf == NULL || back == NULL)
		broken("out of memory");
	len = rv_format_text(v, dims, buf);
	if (len + 1 > rv_format_text_size(dims) || strlen(buf) != len)
		broken("rv_format_text wrote more than rv_format_text_size or a wrong length");
	if (rv_parse_text(ctx, buf, back, dims, &n) != RV_OK)
		broken("formatted text does not parse");
	if (n != dims || memcmp(back, v, sizeof(float) * dims) != 0)
		broken("text round trip changed the values");
	free(buf);
	free(back);
}

/* A parsed space tag formats to a prefix that parses back to the same name and id. */
static void
prefix_round_trip(const char *name, unsigned id)
{
	char		back[RV_MAX_SPACE_NAME + 1];
	size_t		size = rv_space_prefix_size(name),
				len;
	char	   *buf = malloc(size + 3);
	const char *array;
	unsigned	id2;
	int			tagged;

	if (buf == NULL)
		broken("out of memory");
	if (id < 1 || id > RV_MAX_SPACE_TAG || strlen(name) > RV_MAX_SPACE_NAME)
		broken("rv_parse_space_prefix accepted an id outside 1..65535 or a name too long");
	len = rv_format_space_prefix(name, id, buf);
	if (len + 1 > size || strlen(buf) != len)
		broken("rv_format_space_prefix wrote more than rv_space_prefix_size or a wrong length");
	strcpy(buf + len, "[1]");
	if (rv_parse_space_prefix(ctx, buf, &tagged, back, &id2, &array) != RV_OK || !tagged)
		broken("a formatted space prefix does not parse");
	if (id2 != id || strcmp(back, name) != 0 || strcmp(array, "[1]") != 0)
		broken("a space prefix round trip changed the name, the id or the array");
	free(buf);
}

/* The input as the text form, tagged "name#id:[...]" or not. */
static void
try_text(const uint8_t *data, size_t size)
{
	char	   *text = malloc(size + 1);
	char		name[RV_MAX_SPACE_NAME + 1];
	const char *array;
	unsigned	id;
	int			tagged;
	size_t		cap,
				dims = 0;
	float	   *v;
	rv_status	s;

	if (text == NULL)
		broken("out of memory");
	memcpy(text, data, size);
	text[size] = '\0';
	/* the space tag first, as the hosts read it; the array part goes on */
	s = rv_parse_space_prefix(ctx, text, &tagged, name, &id, &array);
	if (s != RV_OK)
	{
		if (rv_errmsg(ctx)[0] == '\0')
			broken("rv_parse_space_prefix failed without a message");
		rv_clear_error(ctx);
		free(text);
		return;
	}
	if (tagged)
		prefix_round_trip(name, id);
	else if (array != text)
		broken("an untagged text's array is not the whole text");
	memmove(text, array, strlen(array) + 1);
	/* the hosts' sizing: the comma count, at most RV_MAX_DIMS, at least 1 */
	cap = rv_text_max_dims(text);
	if (cap > RV_MAX_DIMS)
		cap = RV_MAX_DIMS;
	if (cap < 1)
		cap = 1;
	v = malloc(sizeof(float) * cap);
	if (v == NULL)
		broken("out of memory");
	s = rv_parse_text(ctx, text, v, cap, &dims);
	if (s == RV_OK)
	{
		if (dims < 1 || dims > cap)
			broken("rv_parse_text accepted a dims count outside 1..cap");
		if (rv_check_values(ctx, v, dims) != RV_OK)
			broken("rv_parse_text accepted a value rv_check_values refuses");
		round_trip(v, dims);
	}
	else if (rv_errmsg(ctx)[0] == '\0')
		broken("rv_parse_text failed without a message");
	rv_clear_error(ctx);
	free(v);
	free(text);
}

/* The input as a BLOB in the shared layout, starting at offset off of a fresh buffer. */
static void
try_blob(const uint8_t *data, size_t size, size_t off)
{
	uint8_t    *buf = malloc(size + off + 1);
	const float *payload;
	size_t		dims;
	rv_status	s;

	if (buf == NULL)
		broken("out of memory");
	memcpy(buf + off, data, size);
	s = rv_blob_check(ctx, buf + off, size, &dims, &payload);
	if (s == RV_OK)
	{
		float	   *v = malloc(sizeof(float) * dims);

		if (size < RV_HEADER_BYTES || dims != ((size_t) data[0] | ((size_t) data[1] << 8)) ||
			size != RV_HEADER_BYTES + sizeof(float) * dims ||
			(const uint8_t *) payload != buf + off + RV_HEADER_BYTES)
			broken("rv_blob_check accepted a BLOB whose length does not match its header");
		if (rv_blob_space(buf + off) != ((unsigned) data[2] | ((unsigned) data[3] << 8)))
			broken("rv_blob_space is not the header's second uint16");
		if (v == NULL)
			broken("out of memory");
		/* the payload need not be aligned: copy it, as the hosts do */
		memcpy(v, payload, sizeof(float) * dims);
		if (rv_check_values(ctx, v, dims) != RV_OK)
			broken("rv_blob_check accepted a value rv_check_values refuses");
		round_trip(v, dims);
		free(v);
	}
	else if (rv_errmsg(ctx)[0] == '\0')
		broken("rv_blob_check failed without a message");
	rv_clear_error(ctx);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	long		live = th.live;

	try_text(data, size);
	try_blob(data, size, 0);
	try_blob(data, size, 1);
	if (th.live != live)
		broken("an allocation of the bridge was not freed");
	return 0;
}
