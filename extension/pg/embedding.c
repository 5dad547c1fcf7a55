/*
 * embedding.c — the embedding type's input/output: text form, type modifier, binary
 * send/receive in pgvector's wire layout (int16 dims, int16 space tag, float4 values, all
 * in network byte order; the tag is pgvector's reserved field, 0 for an untagged value),
 * the typmod coercion and the array casts. Parsing and formatting are the bridge's; this
 * file only moves bytes between PostgreSQL and the bridge. Tags and bound columns:
 * spaces.c.
 */
#include "postgres.h"

#include <errno.h>
#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "relvec_pg.h"

/* Check the values of a finished embedding and make it a value of typmod's column. */
static Embedding *
check_embedding(Embedding *e, int32 typmod)
{
	rvpg_checked(e);
	return rvpg_apply_typmod(e, typmod);
}

PG_FUNCTION_INFO_V1(embedding_in);
/* Text form "[1,2,3]", or "name#id:[1,2,3]" for a value of a space, to an embedding. */
Datum
embedding_in(PG_FUNCTION_ARGS)
{
	char	   *text = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	rv_ctx	   *ctx = rvpg_ctx();
	char		name[RV_MAX_SPACE_NAME + 1];
	unsigned	id;
	int			tagged;
	const char *array;
	size_t		cap;
	size_t		dims;
	Embedding  *e;

	RVPG_CHECK(rv_parse_space_prefix(ctx, text, &tagged, name, &id, &array));
	cap = Min(rv_text_max_dims(array), (size_t) RV_MAX_DIMS);
	e = rvpg_new_embedding((int) cap);
	RVPG_CHECK(rv_parse_text(ctx, array, e->x, cap, &dims));
	e->dim = (int16) dims;
	SET_VARSIZE(e, EMBEDDING_SIZE(dims));
	if (tagged)
		e->space = (uint16) rvpg_resolve_tag(name, id);
	PG_RETURN_EMBEDDING_P(rvpg_apply_typmod(e, typmod));
}

/* The text form of e: "[...]", prefixed by "name#id:" when e has a space. */
static char *
text_form(const Embedding *e, bool with_space)
{
	const char *name = NULL;
	size_t		pre = 0;
	char	   *buf;

	if (with_space && e->space != 0)
	{
		name = rvpg_space_name(e->space);
		pre = rv_space_prefix_size(name);
	}
	buf = palloc(pre + rv_format_text_size(e->dim));
	if (pre > 0)
		pre = rv_format_space_prefix(name, e->space, buf);
	rv_format_text(e->x, e->dim, buf + pre);
	return buf;
}

PG_FUNCTION_INFO_V1(embedding_out);
/*
 * An embedding to its text form, each value in its shortest round-trip decimal form, and
 * the space a tagged value belongs to in front (so that COPY and pg_dump keep it). A value
 * that breaks the invariants (stored by an older version) is an error here, so that COPY
 * and pg_dump stop on it instead of writing text that cannot be read back.
 */
Datum
embedding_out(PG_FUNCTION_ARGS)
{
	Embedding  *e = rvpg_checked(PG_GETARG_EMBEDDING_P(0));
	char	   *buf = text_form(e, true);

	PG_FREE_IF_COPY(e, 0);
	PG_RETURN_CSTRING(buf);
}

PG_FUNCTION_INFO_V1(embedding_to_text);
/*
 * The cast to text: the plain array "[1,2,3]" of any value, tagged or not, so that
 * e::text::vector moves it to pgvector. (The tagged form is the output function's.)
 */
Datum
embedding_to_text(PG_FUNCTION_ARGS)
{
	Embedding  *e = rvpg_checked(PG_GETARG_EMBEDDING_P(0));

	PG_RETURN_TEXT_P(cstring_to_text(text_form(e, false)));
}

/* Raise 22023 for a bad modifier list, saying what the type takes. */
static void pg_attribute_noreturn()
bad_typmod(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid type modifier"),
			 errdetail("%s", why),
			 errhint("Type embedding takes the number of dimensions, embedding(768), or a space, "
					 "embedding(model_a).")));
}

/* Dimensions of a modifier: 1..16000. */
static int
typmod_dims(const char *s)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0)
		bad_typmod(psprintf("\"%s\" is neither a number of dimensions nor a space.", s));
	if (v < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type embedding must be at least 1")));
	if (v > RV_MAX_DIMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("dimensions for type embedding cannot exceed %d", RV_MAX_DIMS)));
	return (int) v;
}

PG_FUNCTION_INFO_V1(embedding_typmod_in);
/*
 * embedding(n), 1 <= n <= 16000; embedding(space): bound to a space, its dimensions;
 * embedding(n, 'name#id'): the form typmod_out writes for a bound column, which pg_dump
 * replays before the catalog's rows exist (the id then stands until they do).
 */
Datum
embedding_typmod_in(PG_FUNCTION_ARGS)
{
	ArrayType  *ta = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	int			n;
	int			dims;
	int			tag;
	int			space_dims;

	deconstruct_array(ta, CSTRINGOID, -2, false, TYPALIGN_CHAR, &elems, NULL, &n);
	if (n < 1 || n > 2)
		bad_typmod("It takes one modifier, or the dimensions and a space.");
	if (n == 1)
	{
		const char *m = DatumGetCString(elems[0]);

		if (m[0] >= '0' && m[0] <= '9')
			PG_RETURN_INT32(typmod_dims(m));
		if (m[0] == '-')
			(void) typmod_dims(m);
		tag = rvpg_space_by_name(m, false, &space_dims);
		if (tag > RV_MAX_SPACE_TAG)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("space \"%s\" has id %d, beyond the %d a value can carry", m, tag,
							RV_MAX_SPACE_TAG)));
		PG_RETURN_INT32(RVPG_TYPMOD(space_dims, tag));
	}
	dims = typmod_dims(DatumGetCString(elems[0]));
	{
		rv_ctx	   *ctx = rvpg_ctx();
		const char *m = DatumGetCString(elems[1]);
		char		name[RV_MAX_SPACE_NAME + 1];
		unsigned	id;
		int			tagged;
		const char *rest;
		char	   *with_colon = psprintf("%s:", m);

		if (strspn(m, "0123456789") == strlen(m))
			bad_typmod("The second modifier is a space: embedding(768, model_a).");
		if (strchr(m, '#') != NULL &&
			(rv_parse_space_prefix(ctx, with_colon, &tagged, name, &id, &rest) != RV_OK ||
			 !tagged || *rest != '\0'))
		{
			rv_clear_error(ctx);
			bad_typmod(psprintf("\"%s\" is not a space.", m));
		}
		if (strchr(m, '#') == NULL)
		{
			/* embedding(64, model_a): a name, checked against the dimensions */
			tag = rvpg_space_by_name(m, false, &space_dims);
			if (space_dims != dims)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("space \"%s\" has %d dimensions, not %d", m, space_dims, dims)));
		}
		else
			tag = rvpg_resolve_tag(name, id);
	}
	PG_RETURN_INT32(RVPG_TYPMOD(dims, tag));
}

PG_FUNCTION_INFO_V1(embedding_typmod_out);
/* "(768)", or "(64,'model_a#3')" for a column bound to a space (see typmod_in). */
Datum
embedding_typmod_out(PG_FUNCTION_ARGS)
{
	int32		typmod = PG_GETARG_INT32(0);
	int			tag = RVPG_TYPMOD_SPACE(typmod);
	const char *name;
	char	   *prefix;
	size_t		len;

	if (typmod < 0)
		PG_RETURN_CSTRING(pstrdup(""));
	if (tag == 0)
		PG_RETURN_CSTRING(psprintf("(%d)", RVPG_TYPMOD_DIMS(typmod)));
	name = rvpg_space_name(tag);
	prefix = palloc(rv_space_prefix_size(name));
	len = rv_format_space_prefix(name, tag, prefix);
	prefix[len - 1] = '\0';	/* the ':' that ends a value's prefix */
	PG_RETURN_CSTRING(psprintf("(%d,%s)", RVPG_TYPMOD_DIMS(typmod),
							   quote_literal_cstr(prefix)));
}

PG_FUNCTION_INFO_V1(embedding_recv);
/*
 * Binary input: int16 dims, uint16 space tag (0: none; pgvector's reserved field), dims
 * float4, network byte order. The buffer holds exactly one value, so short and long
 * messages are both errors. The tag is the space's id in this database (binary COPY moves
 * ids, not names: between databases whose spaces have other ids use the text form).
 */
Datum
embedding_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			remaining = buf->len - buf->cursor;
	int			dim;
	int			space;
	Embedding  *e;
	int			i;

	if (remaining < 4)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("embedding binary message of %d bytes is shorter than its 4-byte header",
						remaining)));
	dim = (int16) pq_getmsgint(buf, 2);
	space = (uint16) pq_getmsgint(buf, 2);
	if (dim < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("embedding must have at least 1 dimension")));
	if (dim > RV_MAX_DIMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("embedding cannot have more than %d dimensions", RV_MAX_DIMS)));
	remaining = buf->len - buf->cursor;
	if (remaining != dim * (int) sizeof(float))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("embedding binary message has %d bytes of values for %d dimensions",
						remaining, dim),
				 errdetail("Expected %d bytes.", dim * (int) sizeof(float))));

	e = rvpg_new_embedding(dim);
	e->space = (uint16) space;
	for (i = 0; i < dim; i++)
		e->x[i] = pq_getmsgfloat4(buf);
	PG_RETURN_EMBEDDING_P(check_embedding(e, typmod));
}

PG_FUNCTION_INFO_V1(embedding_send);
/* Binary output in the same layout as embedding_recv reads (checked as embedding_out). */
Datum
embedding_send(PG_FUNCTION_ARGS)
{
	Embedding  *e = rvpg_checked(PG_GETARG_EMBEDDING_P(0));
	StringInfoData buf;
	int			i;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, e->dim);
	pq_sendint16(&buf, e->space);
	for (i = 0; i < e->dim; i++)
		pq_sendfloat4(&buf, e->x[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(embedding);
/*
 * Typmod coercion: embedding to embedding(n) or embedding(space), as in an INSERT into a
 * column bound to a space: an untagged value is tagged, another space's is an error.
 */
Datum
embedding(PG_FUNCTION_ARGS)
{
	Embedding  *e = PG_GETARG_EMBEDDING_P(0);
	int32		typmod = PG_GETARG_INT32(1);

	PG_RETURN_EMBEDDING_P(rvpg_apply_typmod(e, typmod));
}

/* One array element as float4; doubles and numerics that do not fit float4 are errors. */
static float
element_to_float(Datum d, Oid elemtype)
{
	double		v;

	switch (elemtype)
	{
		case FLOAT4OID:
			return DatumGetFloat4(d);
		case INT4OID:
			return (float) DatumGetInt32(d);
		case FLOAT8OID:
			v = DatumGetFloat8(d);
			break;
		case NUMERICOID:
			v = DatumGetFloat8(DirectFunctionCall1(numeric_float8, d));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("unsupported array type %s", format_type_be(elemtype))));
	}
	if (isfinite(v) && fabs(v) > FLT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("\"%g\" is out of range for type embedding", v)));
	return (float) v;
}

PG_FUNCTION_INFO_V1(array_to_embedding);
/* real[], double precision[], integer[] or numeric[] to an embedding. */
Datum
array_to_embedding(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	int32		typmod = PG_GETARG_INT32(1);
	Oid			elemtype = ARR_ELEMTYPE(a);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	Embedding  *e;

	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array must be one-dimensional")));
	if (ARR_NDIM(a) == 1 && ARR_DIMS(a)[0] > RV_MAX_DIMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("embedding cannot have more than %d dimensions", RV_MAX_DIMS)));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(a, elemtype, typlen, typbyval, typalign, &elems, &nulls, &n);
	if (n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("embedding must have at least 1 dimension")));
	for (i = 0; i < n; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("array must not contain nulls")));

	e = rvpg_new_embedding(n);
	for (i = 0; i < n; i++)
		e->x[i] = element_to_float(elems[i], elemtype);
	PG_RETURN_EMBEDDING_P(check_embedding(e, typmod));
}

PG_FUNCTION_INFO_V1(embedding_to_float4);
/*
 * An embedding to real[]. It accepts a stored value of any dimensions, so that one an
 * older version stored with none or too many can still be read and repaired.
 */
Datum
embedding_to_float4(PG_FUNCTION_ARGS)
{
	Embedding  *e = DatumGetEmbeddingAnyDims(PG_GETARG_DATUM(0));
	Datum	   *d = palloc(sizeof(Datum) * e->dim);
	int			i;

	for (i = 0; i < e->dim; i++)
		d[i] = Float4GetDatum(e->x[i]);
	PG_RETURN_POINTER(construct_array(d, e->dim, FLOAT4OID, sizeof(float4), true,
									  TYPALIGN_INT));
}
