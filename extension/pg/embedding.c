/*
 * embedding.c — the embedding type's input/output: text form, type modifier, binary
 * send/receive in pgvector's wire layout (int16 dims, int16 reserved, float4 values, all in
 * network byte order), the typmod coercion and the array casts. Parsing and formatting are
 * the bridge's; this file only moves bytes between PostgreSQL and the bridge.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "relvec_pg.h"

/* Check the values and the declared dimensions of a finished embedding. */
static void
check_embedding(Embedding *e, int32 typmod)
{
	rvpg_checked(e);
	RVPG_CHECK(rv_check_typmod(rvpg_ctx(), e->dim, typmod));
}

PG_FUNCTION_INFO_V1(embedding_in);
/* Text form "[1,2,3]" to an embedding. */
Datum
embedding_in(PG_FUNCTION_ARGS)
{
	char	   *text = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	rv_ctx	   *ctx = rvpg_ctx();
	size_t		cap = Min(rv_text_max_dims(text), (size_t) RV_MAX_DIMS);
	size_t		dims;
	Embedding  *e = rvpg_new_embedding((int) cap);

	RVPG_CHECK(rv_parse_text(ctx, text, e->x, cap, &dims));
	RVPG_CHECK(rv_check_typmod(ctx, dims, typmod));
	e->dim = (int16) dims;
	SET_VARSIZE(e, EMBEDDING_SIZE(dims));
	PG_RETURN_EMBEDDING_P(e);
}

PG_FUNCTION_INFO_V1(embedding_out);
/*
 * An embedding to its text form, each value in its shortest round-trip decimal form. A
 * value that breaks the invariants (stored by an older version) is an error here, so that
 * COPY and pg_dump stop on it instead of writing text that cannot be read back.
 */
Datum
embedding_out(PG_FUNCTION_ARGS)
{
	Embedding  *e = rvpg_checked(PG_GETARG_EMBEDDING_P(0));
	char	   *buf = palloc(rv_format_text_size(e->dim));

	rv_format_text(e->x, e->dim, buf);
	PG_FREE_IF_COPY(e, 0);
	PG_RETURN_CSTRING(buf);
}

PG_FUNCTION_INFO_V1(embedding_typmod_in);
/* embedding(n): 1 <= n <= 16000. */
Datum
embedding_typmod_in(PG_FUNCTION_ARGS)
{
	ArrayType  *ta = PG_GETARG_ARRAYTYPE_P(0);
	int32	   *mods;
	int			n;

	mods = ArrayGetIntegerTypmods(ta, &n);
	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier"),
				 errdetail("Type embedding takes one modifier, the number of dimensions.")));
	if (mods[0] < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type embedding must be at least 1")));
	if (mods[0] > RV_MAX_DIMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("dimensions for type embedding cannot exceed %d", RV_MAX_DIMS)));
	PG_RETURN_INT32(mods[0]);
}

PG_FUNCTION_INFO_V1(embedding_typmod_out);
Datum
embedding_typmod_out(PG_FUNCTION_ARGS)
{
	int32		typmod = PG_GETARG_INT32(0);

	PG_RETURN_CSTRING(typmod < 0 ? pstrdup("") : psprintf("(%d)", typmod));
}

PG_FUNCTION_INFO_V1(embedding_recv);
/*
 * Binary input: int16 dims, int16 reserved (0), dims float4, network byte order. The
 * buffer holds exactly one value, so short and long messages are both errors.
 */
Datum
embedding_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			remaining = buf->len - buf->cursor;
	int			dim;
	int			reserved;
	Embedding  *e;
	int			i;

	if (remaining < 4)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("embedding binary message of %d bytes is shorter than its 4-byte header",
						remaining)));
	dim = (int16) pq_getmsgint(buf, 2);
	reserved = (int16) pq_getmsgint(buf, 2);
	if (reserved != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("embedding binary message has a nonzero reserved field")));
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
	for (i = 0; i < dim; i++)
		e->x[i] = pq_getmsgfloat4(buf);
	check_embedding(e, typmod);
	PG_RETURN_EMBEDDING_P(e);
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
	pq_sendint16(&buf, 0);
	for (i = 0; i < e->dim; i++)
		pq_sendfloat4(&buf, e->x[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(embedding);
/* Typmod coercion: embedding to embedding(n). */
Datum
embedding(PG_FUNCTION_ARGS)
{
	Embedding  *e = PG_GETARG_EMBEDDING_P(0);
	int32		typmod = PG_GETARG_INT32(1);

	RVPG_CHECK(rv_check_typmod(rvpg_ctx(), e->dim, typmod));
	PG_RETURN_EMBEDDING_P(e);
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
	check_embedding(e, typmod);
	PG_RETURN_EMBEDDING_P(e);
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
