/*
 * translate.c — translations between spaces: relvec_fit_translation fits one on the
 * parallel anchors of a frozen set (the bridge's rv_translation_fit) and stores it in
 * relvec_translations; relvec_translate maps an embedding with it; rvpg_get_translation
 * hands the prepared translation to other C functions (relvec_stitch_knn,
 * relvec_compare_spaces).
 *
 * Prepared translations are cached per backend. A stored row is identified by its key and
 * its row version (xmin and ctid): a re-fit writes a new row version, so a stale cache
 * entry is never used, even within the transaction that re-fitted. Entries live in the
 * bridge's long-lived memory; the least recently used one is dropped when the cache is full.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "relvec_pg.h"
#include "relvec_catalog.h"

#define TRANS_CACHE_SIZE 8

typedef struct trans_entry
{
	bool		used;
	int			set_id;
	int			from_id;
	int			to_id;
	char		version[64];	/* xmin and ctid of the stored row */
	rv_translation *t;
	uint64		load_id;		/* unique per load: the token handed out */
	uint64		last_used;
} trans_entry;

static trans_entry tcache[TRANS_CACHE_SIZE];
static uint64 tcache_clock = 0;

/* Column col of the first result row (NULL datum when null). Needs SPI. */
static Datum
col(int c, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, c, isnull);
}

typedef struct set_info
{
	int			set_id;
	bool		frozen;
	int			nkeys;
} set_info;

/* Look an anchor set up by name; 42704 if there is none. Needs SPI. */
static set_info
lookup_set(const char *schema, const char *name)
{
	set_info	s;
	bool		isnull;

	if (!rvpg_catalog_row(psprintf("SELECT set_id, frozen, pg_catalog.cardinality(keys) FROM %s.relvec_anchor_sets "
								   "WHERE name OPERATOR(pg_catalog.=) $1", schema), name))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("anchor set \"%s\" does not exist", name)));
	s.set_id = DatumGetInt32(col(1, &isnull));
	s.frozen = DatumGetBool(col(2, &isnull));
	s.nkeys = DatumGetInt32(col(3, &isnull));
	return s;
}

/* Look a space up by name: its id, and its dimensions in *dims; 42704 if there is none. */
static int
lookup_space(const char *schema, const char *name, int *dims)
{
	bool		isnull;

	if (!rvpg_catalog_row(psprintf("SELECT space_id, dims FROM %s.relvec_spaces WHERE name OPERATOR(pg_catalog.=) $1", schema),
						  name))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("space \"%s\" does not exist", name)));
	*dims = DatumGetInt32(col(2, &isnull));
	return DatumGetInt32(col(1, &isnull));
}

/* The dimensions of a space; 42704 if there is no such space. */
int
rvpg_space_dims(const char *space)
{
	int			dims;

	SPI_connect();
	(void) lookup_space(rvpg_catalog_schema(), space, &dims);
	SPI_finish();
	return dims;
}

/* A new embedding holding n floats (the caller checks it with rvpg_checked). */
static Datum
floats_datum(const float *v, int n)
{
	Embedding  *e = rvpg_new_embedding(n);

	memcpy(e->x, v, sizeof(float) * n);
	return PointerGetDatum(e);
}

/* The stored row is damaged: raise 22000 with what is wrong. */
static void pg_attribute_noreturn()
damaged(const char *set_name, const char *from, const char *to, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("stored translation from space \"%s\" to space \"%s\" in anchor set \"%s\" is damaged",
					from, to, set_name),
			 errdetail("%s", what),
			 errhint("Fit it again with relvec_fit_translation().")));
}

/* An embedding column of the current row, checked to have dims dimensions (or NULL if null). */
static Embedding *
row_embedding(int c, int dims, const char *set_name, const char *from, const char *to)
{
	bool		isnull;
	Datum		d = col(c, &isnull);
	Embedding  *e;

	if (isnull)
		return NULL;
	e = DatumGetEmbedding(d);
	if (e->dim != dims)
		damaged(set_name, from, to,
				psprintf("Column %s has %d dimensions, expected %d.",
						 NameStr(TupleDescAttr(SPI_tuptable->tupdesc, c - 1)->attname), e->dim, dims));
	return e;
}

/*
 * Build a prepared translation from the current SPI row (method, from_mean, from_std,
 * to_mean, to_std, matrix, bias in columns 2..8), checked against the spaces' dimensions.
 */
static rv_translation *
translation_from_row(const char *set_name, const char *from, const char *to, int d_from, int d_to)
{
	rv_translation f;
	rv_translation *t;
	bool		isnull;
	char	   *method = TextDatumGetCString(col(2, &isnull));
	int			dim = Max(d_from, d_to);
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			i;
	Embedding  *bias;

	memset(&f, 0, sizeof(f));
	if (rv_translate_method_parse(rvpg_ctx(), method, &f.method) != RV_OK)
	{
		rv_clear_error(rvpg_ctx());
		damaged(set_name, from, to, psprintf("Unknown method \"%s\".", method));
	}
	f.d_from = d_from;
	f.d_to = d_to;
	f.dim = dim;
	f.mean_from = row_embedding(3, d_from, set_name, from, to)->x;
	f.std_from = row_embedding(4, d_from, set_name, from, to)->x;
	f.mean_to = row_embedding(5, d_to, set_name, from, to)->x;
	f.std_to = row_embedding(6, d_to, set_name, from, to)->x;
	arr = DatumGetArrayTypeP(col(7, &isnull));
	if (ARR_NDIM(arr) != 1 || ARR_ELEMTYPE(arr) != FLOAT4OID)
		damaged(set_name, from, to, "The matrix is not a one-dimensional real[].");
	deconstruct_array(arr, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT, &elems, &nulls, &nelems);
	if (nelems != dim * dim)
		damaged(set_name, from, to, psprintf("The matrix has %d values, expected %d x %d.", nelems, dim, dim));
	f.matrix = palloc(sizeof(float) * nelems);
	for (i = 0; i < nelems; i++)
	{
		if (nulls[i])
			damaged(set_name, from, to, "The matrix contains nulls.");
		f.matrix[i] = DatumGetFloat4(elems[i]);
	}
	bias = row_embedding(8, dim, set_name, from, to);
	f.bias = bias ? bias->x : NULL;
	/* load checks the rest (finite values, positive deviations, a bias exactly for affine) */
	{
		rv_status	s = rv_translation_load(rvpg_ctx(), &f, &t);

		if (s == RV_E_NOMEM)
			rvpg_raise(s);
		if (s != RV_OK)
		{
			char	   *msg = pstrdup(rv_errmsg(rvpg_ctx()));

			rv_clear_error(rvpg_ctx());
			damaged(set_name, from, to, psprintf("%c%s.", pg_toupper((unsigned char) msg[0]), msg + 1));
		}
	}
	return t;
}

/*
 * The translation fitted on anchor_set from from_space to to_space, owned by the backend
 * cache (do not free it); see relvec_catalog.h.
 */
rv_translation *
rvpg_get_translation(const char *anchor_set, const char *from_space, const char *to_space)
{
	char	   *schema;
	set_info	set;
	int			from_id,
				to_id,
				d_from,
				d_to;
	Oid			argtypes[3] = {INT4OID, INT4OID, INT4OID};
	Datum		args[3];
	bool		isnull;
	char	   *version;
	trans_entry *e = NULL;
	trans_entry *victim = &tcache[0];
	int			i;

	SPI_connect();
	schema = rvpg_catalog_schema();
	set = lookup_set(schema, anchor_set);
	from_id = lookup_space(schema, from_space, &d_from);
	to_id = lookup_space(schema, to_space, &d_to);
	/* no row can exist (fitting refuses it): say what is wrong rather than "not fitted" */
	if (from_id == to_id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot translate from space \"%s\" to itself", from_space)));
	args[0] = Int32GetDatum(set.set_id);
	args[1] = Int32GetDatum(from_id);
	args[2] = Int32GetDatum(to_id);
	if (SPI_execute_with_args(psprintf("SELECT xmin::pg_catalog.text OPERATOR(pg_catalog.||) ctid::pg_catalog.text, "
									   "method, from_mean, from_std, to_mean, to_std, matrix, bias "
									   "FROM %s.relvec_translations WHERE set_id OPERATOR(pg_catalog.=) $1 "
									   "AND from_space_id OPERATOR(pg_catalog.=) $2 "
									   "AND to_space_id OPERATOR(pg_catalog.=) $3", schema),
							  3, argtypes, args, NULL, true, 2) != SPI_OK_SELECT)
		elog(ERROR, "relvec: translation lookup failed");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no translation fitted from space \"%s\" to space \"%s\" in anchor set \"%s\"",
						from_space, to_space, anchor_set),
				 errhint("Fit one with relvec_fit_translation().")));
	version = TextDatumGetCString(col(1, &isnull));

	for (i = 0; i < TRANS_CACHE_SIZE; i++)
	{
		trans_entry *c = &tcache[i];

		if (c->used && c->set_id == set.set_id && c->from_id == from_id && c->to_id == to_id &&
			strcmp(c->version, version) == 0)
		{
			e = c;
			break;
		}
		if (!c->used || (victim->used && c->last_used < victim->last_used))
			victim = c;
	}
	if (e == NULL)
	{
		rv_translation *t = translation_from_row(anchor_set, from_space, to_space, d_from, d_to);

		if (victim->used)
			rv_translation_destroy(rvpg_ctx(), victim->t);
		e = victim;
		e->used = true;
		e->set_id = set.set_id;
		e->from_id = from_id;
		e->to_id = to_id;
		strlcpy(e->version, version, sizeof(e->version));
		e->t = t;
		e->load_id = ++tcache_clock;
	}
	e->last_used = ++tcache_clock;
	SPI_finish();
	return e->t;
}

PG_FUNCTION_INFO_V1(relvec_fit_translation);
/* relvec_fit_translation(anchor_set, from_space, to_space, method): fit, store, return the fit quality. */
Datum
relvec_fit_translation(PG_FUNCTION_ARGS)
{
	char	   *set_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *from = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *to = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *method_name = text_to_cstring(PG_GETARG_TEXT_PP(3));
	rv_translate_method method;
	char	   *schema;
	set_info	set;
	int			from_id,
				to_id,
				d_from,
				d_to,
				dim,
				k,
				i;
	float	   *a_from,
			   *a_to,
			   *translated;
	rv_translation *t;
	rv_status	s;
	double		quality = 0;
	Datum		values[11];
	char		nulls[11];
	Oid			emb = rvpg_embedding_type(fcinfo);
	Oid			argtypes[11] = {INT4OID, INT4OID, INT4OID, TEXTOID, emb, emb, emb, emb, FLOAT4ARRAYOID, emb,
	REGROLEOID};
	rvpg_catalog_scope scope;
	bool		owners;
	Datum	   *mat;

	RVPG_CHECK(rv_translate_method_parse(rvpg_ctx(), method_name, &method));

	SPI_connect();
	schema = rvpg_catalog_schema();
	set = lookup_set(schema, set_name);
	if (!set.frozen)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("anchor set \"%s\" is not frozen", set_name),
				 errhint("Freeze it with relvec_freeze_anchor_set() before fitting a translation.")));
	from_id = lookup_space(schema, from, &d_from);
	to_id = lookup_space(schema, to, &d_to);
	if (from_id == to_id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot fit a translation from space \"%s\" to itself", from)));
	/*
	 * Re-fitting another role's translation needs its owner's privileges. (A database
	 * still at 0.1.0, before ALTER EXTENSION relvec UPDATE, has no owners: nothing to
	 * check, and it stores the row as 0.1.0 did, as the caller.)
	 */
	owners = rvpg_catalog_has_owners(get_func_namespace(fcinfo->flinfo->fn_oid));
	if (owners)
	{
		Oid			t3[3] = {INT4OID, INT4OID, INT4OID};
		Datum		v3[3] = {Int32GetDatum(set.set_id), Int32GetDatum(from_id), Int32GetDatum(to_id)};
		bool		isnull;

		if (SPI_execute_with_args(psprintf("SELECT owner FROM %s.relvec_translations "
										   "WHERE set_id OPERATOR(pg_catalog.=) $1 "
										   "AND from_space_id OPERATOR(pg_catalog.=) $2 "
										   "AND to_space_id OPERATOR(pg_catalog.=) $3", schema),
								  3, t3, v3, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "relvec: translation lookup failed");
		if (SPI_processed == 1)
			rvpg_check_translation_owner(DatumGetObjectId(col(1, &isnull)), set_name, from, to);
	}
	k = set.nkeys;
	a_from = rvpg_load_anchors(schema, set_name, set.set_id, set.nkeys, from, from_id, d_from,
							   CurrentMemoryContext);
	a_to = rvpg_load_anchors(schema, set_name, set.set_id, set.nkeys, to, to_id, d_to,
							 CurrentMemoryContext);

	RVPG_CHECK(rv_translation_fit(rvpg_ctx(), a_from, a_to, k, d_from, d_to, method, &t));
	/* copy everything out of bridge memory before anything can raise */
	dim = (int) t->dim;
	translated = palloc_extended(sizeof(float) * (Size) k * d_to, MCXT_ALLOC_HUGE);
	s = rv_translate(rvpg_ctx(), t, a_from, k, translated);
	values[4] = floats_datum(t->mean_from, d_from);
	values[5] = floats_datum(t->std_from, d_from);
	values[6] = floats_datum(t->mean_to, d_to);
	values[7] = floats_datum(t->std_to, d_to);
	/* 8 bytes a value: beyond 11,585 dimensions that is more than a plain palloc takes */
	mat = palloc_extended(sizeof(Datum) * (Size) dim * dim, MCXT_ALLOC_HUGE);
	for (i = 0; i < dim * dim; i++)
		mat[i] = Float4GetDatum(t->matrix[i]);
	values[8] = PointerGetDatum(construct_array(mat, dim * dim, FLOAT4OID, sizeof(float4), true,
												TYPALIGN_INT));
	values[9] = t->bias ? floats_datum(t->bias, dim) : (Datum) 0;
	rv_translation_destroy(rvpg_ctx(), t);
	if (s != RV_OK)
		rvpg_raise(s);
	/* the stored embeddings are checked as any embedding a function builds */
	for (i = 4; i <= 7; i++)
		rvpg_checked((Embedding *) DatumGetPointer(values[i]));
	if (method == RV_TRANSLATE_AFFINE)
		rvpg_checked((Embedding *) DatumGetPointer(values[9]));
	for (i = 0; i < k; i++)
		quality += 1.0 - rv_cosine_distance(translated + (Size) i * d_to, a_to + (Size) i * d_to, d_to);
	quality /= k;

	values[0] = Int32GetDatum(set.set_id);
	values[1] = Int32GetDatum(from_id);
	values[2] = Int32GetDatum(to_id);
	values[3] = CStringGetTextDatum(rv_translate_method_name(method));
	memset(nulls, ' ', sizeof(nulls));
	if (method != RV_TRANSLATE_AFFINE)
		nulls[9] = 'n';
	/*
	 * Stored as the catalog's owner; the caller owns a new row. The owner test is repeated
	 * in the statement itself, so a row another role stored meanwhile is not overwritten.
	 */
	if (!owners)
	{
		if (SPI_execute_with_args(psprintf("INSERT INTO %s.relvec_translations AS t (set_id, from_space_id, "
										   "to_space_id, method, from_mean, from_std, to_mean, to_std, matrix, "
										   "bias, fitted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
										   "pg_catalog.now()) ON CONFLICT (set_id, from_space_id, to_space_id) "
										   "DO UPDATE SET method = EXCLUDED.method, from_mean = EXCLUDED.from_mean, "
										   "from_std = EXCLUDED.from_std, to_mean = EXCLUDED.to_mean, "
										   "to_std = EXCLUDED.to_std, matrix = EXCLUDED.matrix, "
										   "bias = EXCLUDED.bias, fitted_at = EXCLUDED.fitted_at", schema),
								  10, argtypes, values, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "relvec: could not store the translation");
		SPI_finish();
		PG_RETURN_FLOAT8(quality);
	}
	rvpg_catalog_enter(rvpg_catalog_owner(get_func_namespace(fcinfo->flinfo->fn_oid)), &scope);
	values[10] = ObjectIdGetDatum(scope.caller);
	if (SPI_execute_with_args(psprintf("INSERT INTO %s.relvec_translations AS t (set_id, from_space_id, to_space_id, "
									   "method, from_mean, from_std, to_mean, to_std, matrix, bias, fitted_at, owner) "
									   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, pg_catalog.now(), $11) "
									   "ON CONFLICT (set_id, from_space_id, to_space_id) DO UPDATE SET "
									   "method = EXCLUDED.method, from_mean = EXCLUDED.from_mean, "
									   "from_std = EXCLUDED.from_std, to_mean = EXCLUDED.to_mean, "
									   "to_std = EXCLUDED.to_std, matrix = EXCLUDED.matrix, "
									   "bias = EXCLUDED.bias, fitted_at = EXCLUDED.fitted_at "
									   "WHERE pg_catalog.pg_has_role($11, t.owner, 'USAGE')", schema),
							  11, argtypes, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "relvec: could not store the translation");
	if (SPI_processed != 1)		/* another role's row, stored since the check above */
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of the translation from space \"%s\" to space \"%s\" in anchor set \"%s\"",
						from, to, set_name)));
	rvpg_catalog_leave(&scope);
	SPI_finish();
	PG_RETURN_FLOAT8(quality);
}

/* Per call site: the arguments last resolved and their translation's cache token. */
typedef struct translate_memo
{
	char	   *anchor_set;
	char	   *from;
	char	   *to;
	uint64		token;
} translate_memo;

/* The cached translation handed out with token, or NULL once it has left the cache. */
static rv_translation *
cached_translation(uint64 token)
{
	int			i;

	for (i = 0; i < TRANS_CACHE_SIZE; i++)
		if (tcache[i].used && tcache[i].load_id == token)
		{
			tcache[i].last_used = ++tcache_clock;
			return tcache[i].t;
		}
	return NULL;
}

/* The token of the cache entry holding t. */
static uint64
token_of(const rv_translation *t)
{
	int			i;

	for (i = 0; i < TRANS_CACHE_SIZE; i++)
		if (tcache[i].used && tcache[i].t == t)
			return tcache[i].load_id;
	return 0;
}

PG_FUNCTION_INFO_V1(relvec_translate);
/*
 * relvec_translate(x, anchor_set, from_space, to_space): x mapped into to_space;
 * relvec_translate(x, anchor_set, to_space) takes from_space from x's tag. The result is
 * tagged with to_space.
 */
Datum
relvec_translate(PG_FUNCTION_ARGS)
{
	Embedding  *x = PG_GETARG_EMBEDDING_P(0);
	char	   *set_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bool		inferred = PG_NARGS() == 3;
	char	   *from = rvpg_space_of_argument(x, inferred ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2)),
											  "relvec_translate(x, anchor_set, to_space)");
	char	   *to = text_to_cstring(PG_GETARG_TEXT_PP(inferred ? 2 : 3));
	translate_memo *m = (translate_memo *) fcinfo->flinfo->fn_extra;
	rv_translation *t = NULL;
	Embedding  *r;

	/* the catalog is read once per query and call site (the function is STABLE) */
	if (m != NULL && strcmp(m->anchor_set, set_name) == 0 && strcmp(m->from, from) == 0 &&
		strcmp(m->to, to) == 0)
		t = cached_translation(m->token);
	if (t == NULL)
	{
		MemoryContext old;

		t = rvpg_get_translation(set_name, from, to);
		old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		if (m == NULL)
			m = palloc0(sizeof(translate_memo));
		else
		{
			pfree(m->anchor_set);
			pfree(m->from);
			pfree(m->to);
		}
		m->anchor_set = pstrdup(set_name);
		m->from = pstrdup(from);
		m->to = pstrdup(to);
		m->token = token_of(t);
		fcinfo->flinfo->fn_extra = m;
		MemoryContextSwitchTo(old);
	}
	if (x->dim != (int) t->d_from)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("embedding has %d dimensions, space \"%s\" has %d", x->dim, from, (int) t->d_from)));
	r = rvpg_new_embedding((int) t->d_to);
	RVPG_CHECK(rv_translate(rvpg_ctx(), t, x->x, 1, r->x));
	r->space = (uint16) rvpg_space_by_name(to, false, NULL);
	PG_RETURN_EMBEDDING_P(r);
}
