/*
 * test_embedding.c — the bridge's text and binary forms: parsing, shortest round-trip
 * formatting, value and dimension checks, the blob layout, and their error messages.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testhost.h"

/* Parse text; returns the status and leaves values in out. */
static rv_status
parse(rv_ctx *ctx, const char *text, float *out, size_t *dims)
{
	return rv_parse_text(ctx, text, out, 64, dims);
}

/* Format v and compare with want. */
static void
check_format(const float *v, size_t n, const char *want)
{
	char		buf[1024];

	rv_format_text(v, n, buf);
	is_str(buf, want, want);
}

int
main(void)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	float		v[64];
	size_t		dims;
	rv_status	s;
	unsigned char blob[16];
	const float *payload;
	int			i;
	int			mismatches;

	/* parsing */
	s = parse(ctx, " [ 1 , 2.5,-3e-2 ] ", v, &dims);
	is_int(s, RV_OK, "parse with whitespace");
	is_int(dims, 3, "three values");
	ok(v[0] == 1.0f && v[1] == 2.5f && v[2] == -3e-2f, "values read");
	is_int(rv_text_max_dims("[1,2,3]"), 3, "max dims counts commas");

	s = parse(ctx, "1,2", v, &dims);
	is_int(s, RV_E_SYNTAX, "no bracket is a syntax error");
	is_str(rv_errmsg(ctx), "invalid input syntax for type embedding: \"1,2\"", "syntax message quotes input");
	is_str(rv_errdetail(ctx), "Embedding contents must start with \"[\".", "syntax detail");
	is_int(parse(ctx, "[1,,2]", v, &dims), RV_E_SYNTAX, "empty element");
	is_int(parse(ctx, "[1 2]", v, &dims), RV_E_SYNTAX, "missing comma");
	is_int(parse(ctx, "[1,2", v, &dims), RV_E_SYNTAX, "missing bracket");
	is_int(parse(ctx, "[1]]", v, &dims), RV_E_SYNTAX, "junk after bracket");
	is_str(rv_errdetail(ctx), "Junk after closing right bracket.", "junk detail");
	is_int(parse(ctx, "[]", v, &dims), RV_E_EMPTY, "empty brackets");
	is_str(rv_errmsg(ctx), "embedding must have at least 1 dimension", "empty message");
	is_int(parse(ctx, "[nan]", v, &dims), RV_E_NOT_FINITE, "NaN rejected");
	is_str(rv_errmsg(ctx), "NaN not allowed in embedding", "NaN message");
	is_int(parse(ctx, "[inf]", v, &dims), RV_E_NOT_FINITE, "inf rejected");
	is_int(parse(ctx, "[1e39]", v, &dims), RV_E_OUT_OF_RANGE, "overflow rejected");
	is_str(rv_errmsg(ctx), "\"1e39\" is out of range for type embedding", "overflow message");
	is_int(rv_status_class(RV_E_OUT_OF_RANGE), RV_CLASS_OUT_OF_RANGE, "overflow class");
	is_int(parse(ctx, "[1e-50]", v, &dims), RV_OK, "underflow to zero accepted");
	ok(v[0] == 0.0f, "underflow reads as 0");
	is_int(rv_parse_text(ctx, "[1,2,3]", v, 2, &dims), RV_E_INTERNAL, "too small a buffer is caught");
	{
		/* 16001 values */
		size_t		len = 16001 * 2 + 2;
		char	   *big = malloc(len + 1);
		float	   *out = malloc(sizeof(float) * RV_MAX_DIMS);
		size_t		p = 0;

		big[p++] = '[';
		for (i = 0; i < 16001; i++)
		{
			big[p++] = '1';
			big[p++] = i < 16000 ? ',' : ']';
		}
		big[p] = '\0';
		is_int(rv_parse_text(ctx, big, out, RV_MAX_DIMS, &dims), RV_E_TOO_MANY_DIMS, "16001 values rejected");
		is_str(rv_errmsg(ctx), "embedding cannot have more than 16000 dimensions", "limit message");
		is_int(rv_status_class(RV_E_TOO_MANY_DIMS), RV_CLASS_LIMIT, "limit class");
		big[p - 3] = ']';
		big[p - 2] = '\0';
		is_int(rv_parse_text(ctx, big, out, RV_MAX_DIMS, &dims), RV_OK, "16000 values accepted");
		is_int(dims, 16000, "16000 dims");
		free(big);
		free(out);
	}

	/* formatting: PostgreSQL float4 layout */
	{
		float		a[] = {1.0f, 2.5f, -0.03f, 0.1f};
		float		b[] = {100000.0f, 1000000.0f, 123456.0f, 1234567.0f};
		float		c[] = {0.0001f, 0.00001f, 3.4028235e38f, 1e-45f};
		float		d[] = {0.0f, -0.0f, 56591648.0f, -1.5e20f};

		check_format(a, 4, "[1,2.5,-0.03,0.1]");
		check_format(b, 4, "[100000,1e+06,123456,1.234567e+06]");
		check_format(c, 4, "[0.0001,1e-05,3.4028235e+38,1e-45]");
		check_format(d, 4, "[0,-0,5.6591648e+07,-1.5e+20]");
	}
	/* every float of a pseudo-random sample round-trips */
	{
		uint32_t	x = 12345;
		char		buf[64];

		mismatches = 0;
		for (i = 0; i < 200000; i++)
		{
			float		f;
			float		back;

			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			memcpy(&f, &x, sizeof(f));
			if (!isfinite(f))
				continue;
			rv_format_text(&f, 1, buf);
			buf[strlen(buf) - 1] = '\0';
			back = strtof(buf + 1, NULL);
			if (memcmp(&back, &f, sizeof(f)) != 0)
				mismatches++;
		}
		is_int(mismatches, 0, "200000 random bit patterns round-trip exactly");
		ok(rv_format_text_size(1) >= strlen("[-1.2345678e-38]") + 1, "format size bound holds");
	}
	/* non-finite values (a value stored by an older version) are written, not run off */
	{
		float		nf[] = {NAN, INFINITY, -INFINITY, 1.5f};

		check_format(nf, 4, "[NaN,Infinity,-Infinity,1.5]");
		ok(rv_format_text_size(4) >= strlen("[NaN,Infinity,-Infinity,1.5]") + 1, "size bound holds for them");
	}

	/* checks */
	{
		float		bad[] = {1.0f, NAN};

		is_int(rv_check_values(ctx, bad, 2), RV_E_NOT_FINITE, "check_values finds NaN");
		bad[1] = -INFINITY;
		is_int(rv_check_values(ctx, bad, 2), RV_E_NOT_FINITE, "check_values finds -inf");
		is_str(rv_errmsg(ctx), "infinite value not allowed in embedding", "inf message");
		is_int(rv_check_values(ctx, bad, 0), RV_E_EMPTY, "check_values rejects 0 dims");
		is_int(rv_check_same_dims(ctx, 3, 4), RV_E_DIM_MISMATCH, "dims mismatch");
		is_str(rv_errmsg(ctx), "different embedding dimensions 3 and 4", "dims mismatch message");
		is_int(rv_status_class(RV_E_DIM_MISMATCH), RV_CLASS_DATA, "mismatch is a data error");
		is_int(rv_check_typmod(ctx, 3, 3), RV_OK, "typmod match");
		is_int(rv_check_typmod(ctx, 3, -1), RV_OK, "no typmod");
		is_int(rv_check_typmod(ctx, 2, 3), RV_E_DIM_MISMATCH, "typmod mismatch");
		is_str(rv_errmsg(ctx), "expected 3 dimensions, not 2", "typmod message");
	}

	/* blob layout */
	{
		float		one = 1.0f;
		float		two = -2.0f;

		rv_blob_header(blob, 2, 0);
		memcpy(blob + 4, &one, 4);
		memcpy(blob + 8, &two, 4);
		ok(blob[0] == 2 && blob[1] == 0 && blob[2] == 0 && blob[3] == 0, "header is little-endian dims + 0");
		is_int(rv_blob_check(ctx, blob, 12, &dims, &payload), RV_OK, "well-formed blob");
		ok(dims == 2 && payload[0] == 1.0f && payload[1] == -2.0f, "blob payload read");
		is_int(rv_blob_check(ctx, blob, 11, &dims, &payload), RV_E_BINARY, "short blob");
		is_str(rv_errmsg(ctx), "embedding blob of 11 bytes does not match its 2 dimensions", "short blob message");
		is_int(rv_blob_check(ctx, blob, 3, &dims, &payload), RV_E_BINARY, "blob shorter than header");
		is_int(rv_blob_check(ctx, NULL, 0, &dims, &payload), RV_E_BINARY, "NULL blob");
		rv_blob_header(blob, 2, 0x1234);
		ok(blob[2] == 0x34 && blob[3] == 0x12, "the space tag is little-endian after the dims");
		is_int(rv_blob_check(ctx, blob, 12, &dims, &payload), RV_OK, "a tagged blob is well-formed");
		is_int(rv_blob_space(blob), 0x1234, "and its tag reads back");
		rv_blob_header(blob, 2, 0);
		is_int(rv_blob_space(blob), 0, "untagged: 0");
		rv_blob_header(blob, 0, 0);
		is_int(rv_blob_check(ctx, blob, 4, &dims, &payload), RV_E_EMPTY, "zero-dimension blob");
		rv_blob_header(blob, 16001, 0);
		is_int(rv_blob_check(ctx, blob, 12, &dims, &payload), RV_E_TOO_MANY_DIMS, "16001-dimension blob");
		rv_blob_header(blob, 2, 0);
		two = NAN;
		memcpy(blob + 8, &two, 4);
		is_int(rv_blob_check(ctx, blob, 12, &dims, &payload), RV_E_NOT_FINITE, "NaN inside a blob");
	}

	/* a host's BLOB may start at an odd address: checked without reading floats in place */
	{
		_Alignas(4) unsigned char odd[16];	/* odd + 1 is never 4-byte aligned */
		float		v[2] = {1.5f, -0.25f};
		float		got[2];

		rv_blob_header(odd + 1, 2, 0);
		memcpy(odd + 5, v, sizeof(v));
		is_int(rv_blob_check(ctx, odd + 1, 12, &dims, &payload), RV_OK, "a blob at an odd address");
		memcpy(got, payload, sizeof(got));
		ok(dims == 2 && (const unsigned char *) payload == odd + 5 && got[0] == 1.5f && got[1] == -0.25f,
		   "... its payload pointer and values");
		v[1] = INFINITY;
		memcpy(odd + 5, v, sizeof(v));
		is_int(rv_blob_check(ctx, odd + 1, 12, &dims, &payload), RV_E_NOT_FINITE, "an infinity at an odd address");
		is_str(rv_errmsg(ctx), "infinite value not allowed in embedding", "... with its message");
	}

	/* context: errors, classes, allocation failure */
	is_str(rv_status_name(RV_E_DEVICE_LOST), "RV_E_DEVICE_LOST", "status names");
	is_int(rv_status_class(RV_E_SYNTAX), RV_CLASS_INVALID_TEXT, "syntax class");
	is_int(rv_status_class(RV_E_BINARY), RV_CLASS_INVALID_BINARY, "binary class");
	rv_clear_error(ctx);
	is_str(rv_errmsg(ctx), "", "cleared");
	/* space tags: the text prefix and the pairing rule */
	{
		char		name[RV_MAX_SPACE_NAME + 1];
		char		buf[64];
		unsigned	id;
		int			tagged;
		const char *arr;

		is_int(rv_parse_space_prefix(ctx, " [1,2]", &tagged, name, &id, &arr), RV_OK, "an untagged text form");
		ok(!tagged && arr[0] == ' ', "untagged: the whole text is the array");
		is_int(rv_parse_space_prefix(ctx, "mlp_a#3:[1,2]", &tagged, name, &id, &arr), RV_OK, "name#id:[...]");
		ok(tagged && strcmp(name, "mlp_a") == 0 && id == 3 && strcmp(arr, "[1,2]") == 0, "name, id and array split");
		is_int(rv_parse_space_prefix(ctx, "\"Model \"\"B\"\"\"#65535:[1]", &tagged, name, &id, &arr), RV_OK,
			   "a quoted name with doubled quotes, the largest id");
		ok(strcmp(name, "Model \"B\"") == 0 && id == 65535, "the quoted name decoded");
		is_int(rv_parse_space_prefix(ctx, "#7:[1]", &tagged, name, &id, &arr), RV_OK, "#id: without a name");
		ok(tagged && name[0] == '\0' && id == 7, "an empty name and the id");
		is_int(rv_parse_space_prefix(ctx, "mlp_a#0:[1]", &tagged, name, &id, &arr), RV_E_SYNTAX, "id 0");
		is_int(rv_parse_space_prefix(ctx, "mlp_a#65536:[1]", &tagged, name, &id, &arr), RV_E_SYNTAX, "id 65536");
		is_int(rv_parse_space_prefix(ctx, "mlp_a:[1]", &tagged, name, &id, &arr), RV_E_SYNTAX, "a name without its id");
		is_str(rv_errdetail(ctx), "A space name must be followed by \"#\" and the space's id.", "its detail");
		is_int(rv_parse_space_prefix(ctx, "mlp_a#3[1]", &tagged, name, &id, &arr), RV_E_SYNTAX, "no colon");
		is_int(rv_parse_space_prefix(ctx, "\"open#1:[1]", &tagged, name, &id, &arr), RV_E_SYNTAX, "an unterminated quote");
		is_int(rv_parse_space_prefix(ctx, "Mlp#1:[1]", &tagged, name, &id, &arr), RV_E_SYNTAX,
			   "an unquoted name with capitals (the form written quotes it)");
		is_int(rv_parse_space_prefix(ctx, "1,2", &tagged, name, &id, &arr), RV_E_SYNTAX, "no bracket and no tag");
		is_str(rv_errdetail(ctx), "Embedding contents must start with \"[\".", "the untagged message");
		rv_format_space_prefix("mlp_a", 3, buf);
		is_str(buf, "mlp_a#3:", "a plain name written as is");
		rv_format_space_prefix("Model \"B\"", 12, buf);
		is_str(buf, "\"Model \"\"B\"\"\"#12:", "a name with capitals, space and quotes quoted");
		ok(strlen(buf) < rv_space_prefix_size("Model \"B\""), "within rv_space_prefix_size");
		rv_format_space_prefix(NULL, 9, buf);
		is_str(buf, "#9:", "no name: #id:");
		rv_format_space_prefix("9lives", 1, buf);
		is_int(rv_parse_space_prefix(ctx, buf, &tagged, name, &id, &arr), RV_OK, "a name starting with a digit round-trips");
		ok(strcmp(name, "9lives") == 0 && id == 1, "... as itself");
		is_int(rv_check_same_space(ctx, 3, 3), RV_OK, "the same space");
		is_int(rv_check_same_space(ctx, 3, 0), RV_OK, "tagged with untagged");
		is_int(rv_check_same_space(ctx, 0, 0), RV_OK, "both untagged");
		is_int(rv_check_same_space(ctx, 3, 5), RV_E_SPACE_MISMATCH, "two spaces");
		is_str(rv_errmsg(ctx), "embeddings of different spaces #3 and #5", "its message");
		is_int(rv_status_class(RV_E_SPACE_MISMATCH), RV_CLASS_MISMATCH, "class: mismatch (42804)");
	}

	rv_ctx_destroy(ctx);
	is_int(th.live, 0, "no allocation outlives the context");
	{
		rv_host		host;
		rv_ctx	   *c2;

		test_host_init(&th, &host);
		th.fail_at = 1;
		is_int(rv_ctx_create(&host, &c2), RV_E_NOMEM, "context creation reports a failed allocation");
		ok(c2 == NULL, "and returns no context");
		is_int(th.live, 0, "and leaks nothing");
	}
	return done_testing();
}
