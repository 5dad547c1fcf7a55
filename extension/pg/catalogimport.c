/*
 * catalogimport.c — the shard's side of relvec_publish (shardcatalog.c): relvec internal
 * functions that make a space, an anchor set with its anchors, or a translation identical
 * to the exact values they are given, with the owner checks and the pinned search_path of
 * every catalog writer (catalogwrite.c, whose helpers catalogwrite.h shares).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#include "relvec_pg.h"
#include "relvec_catalog.h"
#include "catalogwrite.h"

/* ---------------------------------------------------------------------------------------
 * Importing a published catalog (relvec internal: relvec_publish calls these on a shard)
 *
 * Each makes one object identical to what it is given, values copied exactly: "created"
 * when it was missing, "unchanged" when it already was identical, "replaced" when it
 * differed and replace is true (which needs the object's owner's privileges, as any
 * change does); a difference without replace is 42710.
 * --------------------------------------------------------------------------------------- */

/* Whether a stored embedding (or null) holds exactly the values of e (or null). */
static bool
same_embedding(Datum stored, bool isnull, const Embedding *e)
{
	Embedding  *s;

	if (isnull || e == NULL)
		return isnull && e == NULL;
	s = DatumGetEmbedding(stored);
	return s->dim == e->dim && memcmp(s->x, e->x, sizeof(float) * e->dim) == 0;
}

/* Whether column c of a result row holds exactly the values of e (both may be null). */
static bool
same_embedding_cell(HeapTuple row, TupleDesc desc, int c, const Embedding *e)
{
	bool		isnull;
	Datum		d = SPI_getbinval(row, desc, c, &isnull);

	return same_embedding(d, isnull, e);
}

/* An embedding argument (or NULL), as the catalog stores it: untagged, a copy. */
static Embedding *
arg_untagged(FunctionCallInfo fcinfo, int n)
{
	Embedding  *e;
	Embedding  *c;

	if (PG_ARGISNULL(n))
		return NULL;
	e = PG_GETARG_EMBEDDING_P(n);
	c = palloc(VARSIZE(e));
	memcpy(c, e, VARSIZE(e));
	c->space = 0;
	return c;
}

/* Raise 42710 for an object that exists with other contents. */
static void pg_attribute_noreturn()
exists_differently(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DUPLICATE_OBJECT),
			 errmsg("%s already exists with other contents", what),
			 errhint("Publish with replace => true to replace it.")));
}

PG_FUNCTION_INFO_V1(relvec_import_space);
/*
 * relvec_import_space(name, dims, description, mean, replace): relvec internal; make the
 * space exist with these dimensions and this mean (a space of other dimensions is never
 * replaced: values and anchors depend on them).
 */
Datum
relvec_import_space(PG_FUNCTION_ARGS)
{
	catalog_env env = cw_env_get(fcinfo);
	char	   *name;
	int32		dims;
	Embedding  *mean;
	bool		replace;
	rvpg_catalog_scope scope;
	Oid			types[5] = {TEXTOID, INT4OID, TEXTOID, REGROLEOID, env.emb};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	const char *result;

	cw_require(fcinfo, 0, "space name");
	cw_require(fcinfo, 1, "dims");
	cw_require(fcinfo, 4, "replace");
	name = cw_arg_text(fcinfo, 0);
	dims = PG_GETARG_INT32(1);
	mean = arg_untagged(fcinfo, 3);
	replace = PG_GETARG_BOOL(4);
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("space name must not be empty")));
	if (dims < 1 || dims > RV_MAX_DIMS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions of space \"%s\" must be between 1 and %d", name, RV_MAX_DIMS)));
	if (mean != NULL && mean->dim != dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the mean of space \"%s\" has %d dimensions, the space has %d", name, mean->dim, dims)));

	cw_connect(&env);
	values[0] = CStringGetTextDatum(name);
	cw_run(psprintf("SELECT space_id, dims, owner, mean FROM %s.relvec_spaces WHERE name = $1", env.schema),
		1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
	{
		rvpg_catalog_enter(env.owner, &scope);
		values[1] = Int32GetDatum(dims);
		if (PG_ARGISNULL(2))
			nulls[2] = 'n';
		else
			values[2] = PG_GETARG_DATUM(2);
		values[3] = ObjectIdGetDatum(scope.caller);
		if (mean == NULL)
			nulls[4] = 'n';
		else
			values[4] = PointerGetDatum(mean);
		cw_run(psprintf("INSERT INTO %s.relvec_spaces (name, dims, description, owner, mean) "
					 "VALUES ($1, $2, $3, $4, $5) RETURNING space_id", env.schema),
			5, types, values, nulls, SPI_OK_INSERT_RETURNING);
		if (cw_row_int(0, 1) > RV_MAX_SPACE_TAG)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("space \"%s\" would have id %d, beyond the %d ids a value can carry",
							name, cw_row_int(0, 1), RV_MAX_SPACE_TAG)));
		rvpg_catalog_leave(&scope);
		rvpg_spaces_forget();
		result = "created";
	}
	else
	{
		int			id = cw_row_int(0, 1);
		bool		isnull;
		Datum		stored = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);

		if (cw_row_int(0, 2) != dims)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("space \"%s\" already exists with %d dimensions, not %d", name, cw_row_int(0, 2), dims),
					 errhint("A space's dimensions are never replaced: rename or drop that space first.")));
		if (same_embedding(stored, isnull, mean))
			result = "unchanged";
		else
		{
			Oid			t2[2] = {INT4OID, env.emb};
			Datum		v2[2];
			char		n2[2] = {' ', ' '};

			if (!replace)
				exists_differently(psprintf("space \"%s\"", name));
			rvpg_check_owner(cw_row_oid(0, 3), "space", name);
			rvpg_catalog_enter(env.owner, &scope);
			v2[0] = Int32GetDatum(id);
			if (mean == NULL)
				n2[1] = 'n';
			else
				v2[1] = PointerGetDatum(mean);
			cw_run(psprintf("UPDATE %s.relvec_spaces SET mean = $2, mean_version = mean_version + 1 "
						 "WHERE space_id = $1", env.schema), 2, t2, v2, n2, SPI_OK_UPDATE);
			rvpg_catalog_leave(&scope);
			result = "replaced";
		}
	}
	cw_finish(&env);
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

PG_FUNCTION_INFO_V1(relvec_import_anchor_set);
/*
 * relvec_import_anchor_set(name, keys, spaces, anchors, replace): relvec internal; make the
 * frozen set exist with these keys and, in each of the spaces (which must exist), these
 * anchors: anchors holds one embedding per key (in the keys' order) for the first space,
 * then for the second, and so on. Replacing drops the set with its translations first.
 */
Datum
relvec_import_anchor_set(PG_FUNCTION_ARGS)
{
	catalog_env env = cw_env_get(fcinfo);
	MemoryContext outer = CurrentMemoryContext;
	char	   *set_name;
	ArrayType  *keyarr;
	Datum	   *keys;
	bool	   *knulls;
	int			nkeys;
	Datum	   *snames;
	bool	   *snulls;
	int			nspaces;
	Datum	   *anchors;
	bool	   *anulls;
	int			nanchors;
	bool		replace;
	space_row  *sps;
	Embedding **es;
	int			i,
				j;
	const char *result = "created";
	rvpg_catalog_scope scope;
	Oid			types[5] = {INT4OID, INT4OID, INT4OID, TEXTOID, env.emb};
	Datum		values[5];
	SPIPlanPtr	plan;
	set_row		set;

	cw_require(fcinfo, 0, "anchor set name");
	cw_require(fcinfo, 1, "keys");
	cw_require(fcinfo, 2, "spaces");
	cw_require(fcinfo, 3, "anchors");
	cw_require(fcinfo, 4, "replace");
	set_name = cw_arg_text(fcinfo, 0);
	keyarr = PG_GETARG_ARRAYTYPE_P(1);
	replace = PG_GETARG_BOOL(4);
	deconstruct_array(keyarr, TEXTOID, -1, false, TYPALIGN_INT, &keys, &knulls, &nkeys);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), TEXTOID, -1, false, TYPALIGN_INT, &snames, &snulls, &nspaces);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), env.emb, -1, false, TYPALIGN_INT, &anchors, &anulls, &nanchors);
	for (i = 0; i < nkeys; i++)
		if (knulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("anchor keys must not contain nulls")));
	for (i = 0; i < nspaces; i++)
		if (snulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("spaces must not contain nulls")));
	if (nspaces < 1 || nkeys < 1 || (int64) nanchors != (int64) nspaces * nkeys)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("anchors must hold one embedding per key and space: %d for %d keys in %d spaces",
						nanchors, nkeys, nspaces)));

	cw_connect(&env);
	sps = palloc(sizeof(space_row) * nspaces);
	es = palloc(sizeof(Embedding *) * nanchors);
	for (i = 0; i < nspaces; i++)
	{
		char	   *sname = TextDatumGetCString(snames[i]);

		sps[i] = cw_lookup_space(&env, sname);
		for (j = 0; j < i; j++)
			if (sps[j].id == sps[i].id)
				ereport(ERROR,
						(errcode(ERRCODE_UNIQUE_VIOLATION),
						 errmsg("space \"%s\" appears more than once", sname)));
		for (j = 0; j < nkeys; j++)
		{
			int			a = i * nkeys + j;
			char	   *key = TextDatumGetCString(keys[j]);
			Embedding  *e;
			int			d;

			if (anulls[a])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("anchors must not contain nulls")));
			e = (Embedding *) PG_DETOAST_DATUM_COPY(anchors[a]);
			(void) DatumGetEmbedding(PointerGetDatum(e));
			/* a value of another space is an error, as relvec_set_anchors makes it */
			rvpg_check_space(e->space, sps[i].id, psprintf("anchor \"%s\" of space \"%s\"", key, sname));
			e->space = 0;
			if (e->dim != sps[i].dims)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("anchor \"%s\" has %d dimensions, space \"%s\" has %d", key, e->dim,
								sname, sps[i].dims)));
			for (d = 0; d < e->dim && e->x[d] == 0; d++)
				;
			if (d == e->dim)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("anchor \"%s\" of set \"%s\" is a zero vector in space \"%s\"",
								key, set_name, sname)));
			es[a] = e;
		}
	}

	/* an existing set: identical, or replaced */
	{
		Oid			t2[2] = {TEXTARRAYOID, TEXTOID};
		Datum		v2[2] = {PointerGetDatum(keyarr), CStringGetTextDatum(set_name)};

		cw_run(psprintf("SELECT set_id, frozen, owner, keys = $1 FROM %s.relvec_anchor_sets WHERE name = $2",
					 env.schema), 2, t2, v2, NULL, SPI_OK_SELECT);
	}
	if (SPI_processed == 1)
	{
		int			id = cw_row_int(0, 1);
		bool		same = cw_row_bool(0, 2) && cw_row_bool(0, 4);
		Oid			owner = cw_row_oid(0, 3);

		if (same)
		{
			uint64		r;
			SPITupleTable *rows;

			values[0] = Int32GetDatum(id);
			cw_run(psprintf("SELECT sp.name, a.ord, a.e FROM %s.relvec_anchors a JOIN %s.relvec_spaces sp "
						 "ON sp.space_id = a.space_id WHERE a.set_id = $1", env.schema, env.schema),
				1, types, values, NULL, SPI_OK_SELECT);
			rows = SPI_tuptable;
			same = SPI_processed == (uint64) nanchors;
			for (r = 0; same && r < rows->numvals; r++)
			{
				char	   *sname = SPI_getvalue(rows->vals[r], rows->tupdesc, 1);
				int			ord = cw_row_int(r, 2);

				for (i = 0; i < nspaces && strcmp(sname, TextDatumGetCString(snames[i])) != 0; i++)
					;
				same = i < nspaces && ord >= 1 && ord <= nkeys &&
					same_embedding_cell(rows->vals[r], rows->tupdesc, 3, es[i * nkeys + ord - 1]);
			}
		}
		if (same)
		{
			cw_finish(&env);
			PG_RETURN_TEXT_P(cstring_to_text("unchanged"));
		}
		if (!replace)
			exists_differently(psprintf("anchor set \"%s\"", set_name));
		rvpg_check_owner(owner, "anchor set", set_name);
		rvpg_catalog_enter(env.owner, &scope);
		values[0] = Int32GetDatum(id);
		cw_run(psprintf("DELETE FROM %s.relvec_anchor_sets WHERE set_id = $1", env.schema), 1, types,
			values, NULL, SPI_OK_DELETE);
		rvpg_catalog_leave(&scope);
		result = "replaced";
	}

	cw_create_anchor_set(&env, set_name, keyarr);
	set = cw_lookup_set(&env, set_name, false, outer);
	rvpg_catalog_enter(env.owner, &scope);
	plan = SPI_prepare(psprintf("INSERT INTO %s.relvec_anchors (set_id, space_id, ord, key, e) "
								"VALUES ($1, $2, $3, $4, $5)", env.schema), 5, types);
	if (plan == NULL)
		elog(ERROR, "relvec: could not prepare the anchor insert: %s", SPI_result_code_string(SPI_result));
	values[0] = Int32GetDatum(set.id);
	for (i = 0; i < nspaces; i++)
		for (j = 0; j < nkeys; j++)
		{
			CHECK_FOR_INTERRUPTS();
			values[1] = Int32GetDatum(sps[i].id);
			values[2] = Int32GetDatum(j + 1);
			values[3] = keys[j];
			values[4] = PointerGetDatum(es[i * nkeys + j]);
			if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "relvec: could not store an anchor");
		}
	cw_run(psprintf("UPDATE %s.relvec_anchor_sets SET frozen = true WHERE set_id = $1", env.schema),
		1, types, values, NULL, SPI_OK_UPDATE);
	rvpg_catalog_leave(&scope);
	cw_finish(&env);
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

/* Whether a stored real[] holds exactly the values of arr. */
static bool
same_floats(ArrayType *stored, ArrayType *arr)
{
	Datum	   *a,
			   *b;
	bool	   *an,
			   *bn;
	int			na,
				nb,
				i;

	deconstruct_array(stored, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT, &a, &an, &na);
	deconstruct_array(arr, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT, &b, &bn, &nb);
	if (na != nb)
		return false;
	for (i = 0; i < na; i++)
	{
		float4		x = DatumGetFloat4(a[i]);
		float4		y = DatumGetFloat4(b[i]);

		if (an[i] || bn[i] || memcmp(&x, &y, sizeof(float4)) != 0)
			return false;
	}
	return true;
}

PG_FUNCTION_INFO_V1(relvec_import_translation);
/*
 * relvec_import_translation(anchor_set, from_space, to_space, method, from_mean, from_std,
 * to_mean, to_std, matrix, bias, replace): relvec internal; make the translation of a
 * frozen set exist with exactly these values (stored as given, never re-fitted).
 */
Datum
relvec_import_translation(PG_FUNCTION_ARGS)
{
	catalog_env env = cw_env_get(fcinfo);
	const char *names[11] = {"anchor set", "from_space", "to_space", "method", "from_mean", "from_std",
	"to_mean", "to_std", "matrix", "bias", "replace"};
	char	   *set_name;
	char	   *from;
	char	   *to;
	rv_translate_method method;
	Embedding  *stats[4];
	Embedding  *bias;
	ArrayType  *matrix;
	bool		replace;
	set_row		set;
	space_row	f,
				t;
	int			dim;
	int			i;
	const char *result;
	rvpg_catalog_scope scope;
	Oid			types[11] = {INT4OID, INT4OID, INT4OID, TEXTOID, env.emb, env.emb, env.emb, env.emb,
	FLOAT4ARRAYOID, env.emb, REGROLEOID};
	Datum		values[11];
	char		nulls[11];

	for (i = 0; i < 11; i++)
		if (i != 9)
			cw_require(fcinfo, i, names[i]);
	set_name = cw_arg_text(fcinfo, 0);
	from = cw_arg_text(fcinfo, 1);
	to = cw_arg_text(fcinfo, 2);
	RVPG_CHECK(rv_translate_method_parse(rvpg_ctx(), cw_arg_text(fcinfo, 3), &method));
	for (i = 0; i < 4; i++)
		stats[i] = arg_untagged(fcinfo, 4 + i);
	matrix = PG_GETARG_ARRAYTYPE_P(8);
	bias = arg_untagged(fcinfo, 9);
	replace = PG_GETARG_BOOL(10);

	cw_connect(&env);
	set = cw_lookup_set(&env, set_name, false, CurrentMemoryContext);
	if (!set.frozen)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("anchor set \"%s\" is not frozen", set_name)));
	f = cw_lookup_space(&env, from);
	t = cw_lookup_space(&env, to);
	if (f.id == t.id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot fit a translation from space \"%s\" to itself", from)));
	dim = Max(f.dims, t.dims);
	for (i = 0; i < 4; i++)
		if (stats[i]->dim != (i < 2 ? f.dims : t.dims))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s has %d dimensions, space \"%s\" has %d", names[4 + i], stats[i]->dim,
							i < 2 ? from : to, i < 2 ? f.dims : t.dims)));
	if (ARR_NDIM(matrix) != 1 || ARR_HASNULL(matrix) ||
		ArrayGetNItems(ARR_NDIM(matrix), ARR_DIMS(matrix)) != dim * dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("matrix must be a one-dimensional real[] of %d x %d values without nulls", dim, dim)));
	if ((method == RV_TRANSLATE_AFFINE) != (bias != NULL) || (bias != NULL && bias->dim != dim))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("an affine translation needs a bias of %d dimensions, and only an affine one has a bias", dim)));
	/* the values a stitched search will use: finite, deviations positive (as a fit makes them) */
	{
		rv_translation fields;
		rv_translation *loaded = NULL;

		memset(&fields, 0, sizeof(fields));
		fields.method = method;
		fields.d_from = f.dims;
		fields.d_to = t.dims;
		fields.dim = dim;
		fields.mean_from = stats[0]->x;
		fields.std_from = stats[1]->x;
		fields.mean_to = stats[2]->x;
		fields.std_to = stats[3]->x;
		fields.matrix = (float *) ARR_DATA_PTR(matrix);
		fields.bias = bias ? bias->x : NULL;
		RVPG_CHECK(rv_translation_load(rvpg_ctx(), &fields, &loaded));
		rv_translation_destroy(rvpg_ctx(), loaded);
	}

	values[0] = Int32GetDatum(set.id);
	values[1] = Int32GetDatum(f.id);
	values[2] = Int32GetDatum(t.id);
	values[3] = CStringGetTextDatum(rv_translate_method_name(method));
	for (i = 0; i < 4; i++)
		values[4 + i] = PointerGetDatum(stats[i]);
	values[8] = PointerGetDatum(matrix);
	values[9] = bias ? PointerGetDatum(bias) : (Datum) 0;
	memset(nulls, ' ', sizeof(nulls));
	if (bias == NULL)
		nulls[9] = 'n';
	cw_run(psprintf("SELECT owner, method, from_mean, from_std, to_mean, to_std, matrix, bias "
				 "FROM %s.relvec_translations WHERE set_id = $1 AND from_space_id = $2 AND to_space_id = $3",
				 env.schema), 3, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		bool		same;
		bool		isnull;
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		same = strcmp(SPI_getvalue(row, desc, 2), rv_translate_method_name(method)) == 0;
		for (i = 0; same && i < 4; i++)
			same = same_embedding_cell(row, desc, 3 + i, stats[i]);
		same = same && same_floats(DatumGetArrayTypeP(SPI_getbinval(row, desc, 7, &isnull)), matrix);
		same = same && same_embedding_cell(row, desc, 8, bias);
		if (same)
			result = "unchanged";
		else
		{
			if (!replace)
				exists_differently(psprintf("translation from space \"%s\" to space \"%s\" in anchor set \"%s\"",
											from, to, set_name));
			rvpg_check_translation_owner(cw_row_oid(0, 1), set_name, from, to);
			rvpg_catalog_enter(env.owner, &scope);
			cw_run(psprintf("UPDATE %s.relvec_translations SET method = $4, from_mean = $5, from_std = $6, "
						 "to_mean = $7, to_std = $8, matrix = $9, bias = $10, fitted_at = pg_catalog.now() "
						 "WHERE set_id = $1 AND from_space_id = $2 AND to_space_id = $3", env.schema),
				10, types, values, nulls, SPI_OK_UPDATE);
			rvpg_catalog_leave(&scope);
			result = "replaced";
		}
	}
	else
	{
		/*
		 * A fit stores only what the set's own anchors give; an import stores any values,
		 * which every stitched search through the set then uses: only the set's owner may.
		 */
		rvpg_check_owner(set.owner, "anchor set", set_name);
		rvpg_catalog_enter(env.owner, &scope);
		values[10] = ObjectIdGetDatum(scope.caller);
		cw_run(psprintf("INSERT INTO %s.relvec_translations (set_id, from_space_id, to_space_id, method, "
					 "from_mean, from_std, to_mean, to_std, matrix, bias, owner) "
					 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)", env.schema),
			11, types, values, nulls, SPI_OK_INSERT);
		rvpg_catalog_leave(&scope);
		result = "created";
	}
	cw_finish(&env);
	PG_RETURN_TEXT_P(cstring_to_text(result));
}
