/*
 * catalogwrite.c — every change to relvec's catalog: creating, filling, freezing, dropping
 * and re-owning spaces, anchor sets and translations (importing the exact copy of them
 * that relvec_publish sends to a shard is catalogimport.c, with the helpers of
 * catalogwrite.h).
 *
 * The privilege model. Spaces, anchor sets and translations have owners: the role that
 * created them. Only a role with the owner's privileges (the owner, a member of the owning
 * role, a superuser) may change, freeze, re-fit or drop one (42501 otherwise); every role
 * that may execute the functions may use them. The catalog tables are readable by PUBLIC
 * (pg_dump by a database owner works) and writable by nobody but their owner, the role
 * that installed relvec: the functions here check the caller's rights first, then switch
 * to that role only for their own fixed statements (rvpg_catalog_enter), with search_path
 * pinned to pg_catalog and pg_temp and in a security-restricted operation, as PostgreSQL
 * runs its referential-integrity queries. A query text the caller passes is always run as
 * the caller, under the caller's own search_path, before the switch.
 *
 * These functions replaced the plpgsql ones of 0.1.0 (a role that could create a function
 * in the extension's schema could hijack those); messages and SQLSTATEs are unchanged.
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


/* Look up relvec's schema, the embedding type and the catalog's owner, without SPI. */
catalog_env
cw_env_get(FunctionCallInfo fcinfo)
{
	catalog_env env;

	env.nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	env.schema = pstrdup(quote_identifier(get_namespace_name(env.nsp)));
	env.emb = rvpg_embedding_type(fcinfo);
	env.owner = rvpg_catalog_owner(env.nsp);
	env.caller_path = pstrdup(GetConfigOption("search_path", false, false));
	env.guc_level = -1;
	return env;
}

/* Set search_path for the rest of the current GUC nest level. */
static void
set_path(const char *path)
{
	(void) set_config_option("search_path", path, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

/*
 * Connect to SPI with search_path pinned to pg_catalog, pg_temp: every statement of ours
 * qualifies relvec's objects, and nothing a caller's path holds can stand in for a
 * built-in function, operator or type. cw_finish undoes both.
 */
void
cw_connect(catalog_env *env)
{
	SPI_connect();
	env->guc_level = NewGUCNestLevel();
	set_path("pg_catalog, pg_temp");
}

void
cw_finish(catalog_env *env)
{
	AtEOXact_GUC(true, env->guc_level);
	SPI_finish();
}

Oid
rvpg_catalog_owner(Oid nsp)
{
	Oid			rel = get_relname_relid("relvec_spaces", nsp);
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(rel))
		elog(ERROR, "relvec: catalog table relvec_spaces not found");
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(rel));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "relvec: cache lookup failed for relation %u", rel);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

bool
rvpg_catalog_has_owners(Oid nsp)
{
	Oid			rel = get_relname_relid("relvec_translations", nsp);

	return OidIsValid(rel) && get_attnum(rel, "owner") != InvalidAttrNumber;
}

void
rvpg_catalog_enter(Oid catalog_owner, rvpg_catalog_scope *scope)
{
	GetUserIdAndSecContext(&scope->userid, &scope->sec_context);
	scope->caller = GetUserId();
	SetUserIdAndSecContext(catalog_owner, scope->sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	scope->guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

void
rvpg_catalog_leave(const rvpg_catalog_scope *scope)
{
	AtEOXact_GUC(true, scope->guc_level);
	SetUserIdAndSecContext(scope->userid, scope->sec_context);
}

void
rvpg_check_owner(Oid owner, const char *kind, const char *name)
{
	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of %s \"%s\"", kind, name)));
}

void
rvpg_check_translation_owner(Oid owner, const char *set_name, const char *from, const char *to)
{
	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of the translation from space \"%s\" to space \"%s\" in anchor set \"%s\"",
						from, to, set_name)));
}

/* Raise 22004 "<what> must not be null" when argument n is null. */
void
cw_require(FunctionCallInfo fcinfo, int n, const char *what)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
}

/* Argument n as a C string (it must not be null). */
char *
cw_arg_text(FunctionCallInfo fcinfo, int n)
{
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* Column c of result row r as int4 / bool / Oid; false/0 when null. */
int32
cw_row_int(uint64 r, int c)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

bool
cw_row_bool(uint64 r, int c)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c, &isnull);

	return isnull ? false : DatumGetBool(d);
}

Oid
cw_row_oid(uint64 r, int c)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c, &isnull);

	return isnull ? InvalidOid : DatumGetObjectId(d);
}

/*
 * Run a statement with parameters; raise if it does not return want. Never read-only: the
 * next statement must see what the previous one wrote (SPI then takes a new snapshot).
 */
void
cw_run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int want)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc != want)
		elog(ERROR, "relvec: catalog statement failed: %s", SPI_result_code_string(rc));
}

/*
 * Run a statement that holds the caller's query text, as the caller and under the caller's
 * own search_path (the query means what it means in the caller's session). The parts of
 * the statement that are ours qualify everything with pg_catalog or relvec's schema.
 */
static void
run_as_caller(const catalog_env *env, const char *sql, int nargs, Oid *types, Datum *values,
			  int want)
{
	int			level = NewGUCNestLevel();

	set_path(env->caller_path);
	cw_run(sql, nargs, types, values, NULL, want);
	AtEOXact_GUC(true, level);
}

/* rvpg_check_query_shape under the caller's search_path. */
static void
check_shape_as_caller(const catalog_env *env, const char *query, const char *shape)
{
	int			level = NewGUCNestLevel();

	set_path(env->caller_path);
	rvpg_check_query_shape(query, shape, env->emb);
	AtEOXact_GUC(true, level);
}


/* Look a space up by name (22004 when null, 42704 when unknown). Needs SPI. */
space_row
cw_lookup_space(const catalog_env *env, const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	space_row	s;

	cw_run(psprintf("SELECT space_id, dims, owner FROM %s.relvec_spaces WHERE name = $1", env->schema),
		1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("space \"%s\" does not exist", name)));
	s.id = cw_row_int(0, 1);
	s.dims = cw_row_int(0, 2);
	s.owner = cw_row_oid(0, 3);
	return s;
}

/* Look an anchor set up by name (42704 when unknown); with_keys also reads its keys. */
set_row
cw_lookup_set(const catalog_env *env, const char *name, bool with_keys, MemoryContext mcxt)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	set_row		s;

	cw_run(psprintf("SELECT set_id, frozen, owner, keys FROM %s.relvec_anchor_sets WHERE name = $1",
				 env->schema), 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("anchor set \"%s\" does not exist", name)));
	s.id = cw_row_int(0, 1);
	s.frozen = cw_row_bool(0, 2);
	s.owner = cw_row_oid(0, 3);
	s.nkeys = 0;
	s.keys = NULL;
	if (with_keys)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);
		Datum	   *elems;
		bool	   *enulls;
		int			i;
		MemoryContext old = MemoryContextSwitchTo(mcxt);

		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &enulls, &s.nkeys);
		s.keys = palloc(sizeof(char *) * Max(s.nkeys, 1));
		for (i = 0; i < s.nkeys; i++)
			s.keys[i] = enulls[i] ? pstrdup("") : TextDatumGetCString(elems[i]);
		MemoryContextSwitchTo(old);
	}
	return s;
}

/* ---------------------------------------------------------------------------------------
 * Spaces
 * --------------------------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(relvec_create_space);
/* relvec_create_space(name, dims, description): register a space owned by the caller. */
Datum
relvec_create_space(PG_FUNCTION_ARGS)
{
	catalog_env env = cw_env_get(fcinfo);
	char	   *name;
	int32		dims;
	rvpg_catalog_scope scope;
	Oid			types[4] = {TEXTOID, INT4OID, TEXTOID, REGROLEOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	cw_require(fcinfo, 0, "space name");
	cw_require(fcinfo, 1, "dims");
	name = cw_arg_text(fcinfo, 0);
	dims = PG_GETARG_INT32(1);
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("space name must not be empty")));
	if (dims < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions of space \"%s\" must be at least 1", name)));
	if (dims > RV_MAX_DIMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("dimensions of space \"%s\" cannot exceed %d", name, RV_MAX_DIMS)));

	cw_connect(&env);
	rvpg_catalog_enter(env.owner, &scope);
	values[0] = CStringGetTextDatum(name);
	cw_run(psprintf("SELECT 1 FROM %s.relvec_spaces WHERE name = $1", env.schema), 1, types, values,
		NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("space \"%s\" already exists", name)));
	values[1] = Int32GetDatum(dims);
	if (PG_ARGISNULL(2))
		nulls[2] = 'n';
	else
		values[2] = PG_GETARG_DATUM(2);
	values[3] = ObjectIdGetDatum(scope.caller);
	cw_run(psprintf("INSERT INTO %s.relvec_spaces (name, dims, description, owner) VALUES ($1, $2, $3, $4) "
				 "RETURNING space_id", env.schema), 4, types, values, nulls, SPI_OK_INSERT_RETURNING);
	/* a value carries its space's id in 16 bits */
	if (cw_row_int(0, 1) > RV_MAX_SPACE_TAG)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("space \"%s\" would have id %d, beyond the %d ids a value can carry",
						name, cw_row_int(0, 1), RV_MAX_SPACE_TAG),
				 errhint("Space ids are never reused; this database has created %d spaces.",
						 RV_MAX_SPACE_TAG)));
	rvpg_catalog_leave(&scope);
	rvpg_spaces_forget();
	cw_finish(&env);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(relvec_set_space_mean);
/*
 * relvec_set_space_mean(space, query): store the mean of the embeddings the query returns
 * (run as the caller) as the space's mean; only its owner may.
 */
Datum
relvec_set_space_mean(PG_FUNCTION_ARGS)
{
	catalog_env env = cw_env_get(fcinfo);
	MemoryContext outer = CurrentMemoryContext;
	char	   *space;
	char	   *query;
	space_row	sp;
	int64		bad;
	bool		isnull;
	Datum		m;
	Embedding  *mean = NULL;
	rvpg_catalog_scope scope;
	Oid			types[2];
	Datum		values[2];

	cw_require(fcinfo, 0, "space");
	space = cw_arg_text(fcinfo, 0);
	cw_connect(&env);
	sp = cw_lookup_space(&env, space);
	cw_require(fcinfo, 1, "query");
	query = cw_arg_text(fcinfo, 1);
	rvpg_check_owner(sp.owner, "space", space);
	check_shape_as_caller(&env, query, "embedding");

	/* the caller's query, as the caller */
	run_as_caller(&env, psprintf("SELECT pg_catalog.count(*) FILTER (WHERE %s.embedding_dims(q.e) "
								 "OPERATOR(pg_catalog.<>) %d), %s.avg(q.e) FROM (%s\n) q(e)",
								 env.schema, sp.dims, env.schema, query), 0, NULL, NULL, SPI_OK_SELECT);
	bad = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	m = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (bad > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("query returns " INT64_FORMAT " embeddings whose dimensions differ from the %d of space \"%s\"",
						bad, sp.dims, space)));
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("query returns no embeddings to average")));
	{
		Embedding  *e = DatumGetEmbedding(m);
		MemoryContext old;

		rvpg_check_space(e->space, sp.id, "The query returns embeddings of that space.");
		old = MemoryContextSwitchTo(outer);
		mean = palloc(VARSIZE(e));
		memcpy(mean, e, VARSIZE(e));
		mean->space = 0;		/* catalog vectors are stored untagged */
		MemoryContextSwitchTo(old);
	}

	rvpg_catalog_enter(env.owner, &scope);
	types[0] = env.emb;
	types[1] = INT4OID;
	values[0] = PointerGetDatum(mean);
	values[1] = Int32GetDatum(sp.id);
	cw_run(psprintf("UPDATE %s.relvec_spaces SET mean = $1, mean_version = mean_version + 1 WHERE space_id = $2",
				 env.schema), 2, types, values, NULL, SPI_OK_UPDATE);
	rvpg_catalog_leave(&scope);
	cw_finish(&env);
	PG_RETURN_EMBEDDING_P(mean);
}

/*
 * Raise 2BP01 while anything still holds the space's tag: a column or domain bound to it
 * (embedding(space)), or a stored value tagged with it in a column of type embedding of a
 * table or materialized view. The values are found by reading every such column (the
 * drop of a space is rare; a large table makes it slow). Runs as the catalog's owner, who
 * can read every table; values inside arrays or composite types are not looked for.
 */
static void
check_space_unused(const catalog_env *env, const char *space, int tag)
{
	Oid			types[2] = {OIDOID, INT4OID};
	Datum		values[2] = {ObjectIdGetDatum(env->emb), Int32GetDatum(tag)};
	uint64		r;
	SPITupleTable *cols;

	cw_run("SELECT pg_catalog.format('%s.%I', a.attrelid::pg_catalog.regclass, a.attname) FROM pg_catalog.pg_attribute a "
		"WHERE a.atttypid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypmod >= 0 "
		"AND (a.atttypmod >> 14) = $2 "
		"UNION ALL SELECT pg_catalog.format('domain %s', t.oid::pg_catalog.regtype) FROM pg_catalog.pg_type t "
		"WHERE t.typbasetype = $1 AND t.typtypmod >= 0 AND (t.typtypmod >> 14) = $2 ORDER BY 1 LIMIT 1",
		2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop space \"%s\" because %s is bound to it", space,
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("Change the column's type to embedding(n) first.")));
	cw_run("SELECT pg_catalog.format('%s.%I', a.attrelid::pg_catalog.regclass, a.attname), "
		"a.attrelid::pg_catalog.regclass::pg_catalog.text, pg_catalog.quote_ident(a.attname) "
		"FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
		"WHERE a.atttypid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'm') "
		"ORDER BY 1", 1, types, values, NULL, SPI_OK_SELECT);
	cols = SPI_tuptable;
	for (r = 0; r < cols->numvals; r++)
	{
		char	   *label = SPI_getvalue(cols->vals[r], cols->tupdesc, 1);
		char	   *rel = SPI_getvalue(cols->vals[r], cols->tupdesc, 2);
		char	   *col = SPI_getvalue(cols->vals[r], cols->tupdesc, 3);

		CHECK_FOR_INTERRUPTS();
		/* the tag is bytes 2..3 of the binary form, network order */
		cw_run(psprintf("SELECT 1 FROM %s WHERE (pg_catalog.get_byte(%s.embedding_send(%s), 2) << 8 | "
					 "pg_catalog.get_byte(%s.embedding_send(%s), 3)) = %d LIMIT 1",
					 rel, env->schema, col, env->schema, col, tag),
			0, NULL, NULL, NULL, SPI_OK_SELECT);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot drop space \"%s\" because column %s holds values tagged with it",
							space, label),
					 errhint("Untag them with relvec_untag(), or delete them, first.")));
	}
}

PG_FUNCTION_INFO_V1(relvec_drop_space);
/*
 * relvec_drop_space(space, cascade): drop a space. Anchors of unfrozen sets and
 * translations that use it go with it only when cascade is true; a frozen set with anchors
 * in it is never changed, so it must be dropped first.
 */
Datum
relvec_drop_space(PG_FUNCTION_ARGS)
{
	catalog_env env = cw_env_get(fcinfo);
	char	   *space;
	bool		cascade;
	space_row	sp;
	rvpg_catalog_scope scope;
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	int			nsets,
				ntrans;

	cw_require(fcinfo, 0, "space");
	cw_require(fcinfo, 1, "cascade");
	space = cw_arg_text(fcinfo, 0);
	cascade = PG_GETARG_BOOL(1);
	cw_connect(&env);
	sp = cw_lookup_space(&env, space);
	rvpg_check_owner(sp.owner, "space", space);
	rvpg_catalog_enter(env.owner, &scope);
	values[0] = Int32GetDatum(sp.id);
	cw_run(psprintf("SELECT s.name FROM %s.relvec_anchor_sets s WHERE s.frozen AND EXISTS "
				 "(SELECT 1 FROM %s.relvec_anchors a WHERE a.set_id = s.set_id AND a.space_id = $1) "
				 "ORDER BY s.name LIMIT 1", env.schema, env.schema),
		1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop space \"%s\" because frozen anchor set \"%s\" has anchors in it",
						space, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("A frozen set never changes: drop the anchor set first.")));
	check_space_unused(&env, space, sp.id);
	cw_run(psprintf("SELECT (SELECT count(DISTINCT set_id) FROM %s.relvec_anchors WHERE space_id = $1)::int4, "
				 "(SELECT count(*) FROM %s.relvec_translations WHERE $1 IN (from_space_id, to_space_id))::int4",
				 env.schema, env.schema), 1, types, values, NULL, SPI_OK_SELECT);
	nsets = cw_row_int(0, 1);
	ntrans = cw_row_int(0, 2);
	if ((nsets > 0 || ntrans > 0) && !cascade)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop space \"%s\" because other objects depend on it", space),
				 errdetail("%d anchor set%s %s anchors in it; %d translation%s %s it.",
						   nsets, nsets == 1 ? "" : "s", nsets == 1 ? "has" : "have",
						   ntrans, ntrans == 1 ? "" : "s", ntrans == 1 ? "uses" : "use"),
				 errhint("Use cascade => true to drop them too.")));
	cw_run(psprintf("DELETE FROM %s.relvec_spaces WHERE space_id = $1", env.schema), 1, types, values,
		NULL, SPI_OK_DELETE);
	rvpg_catalog_leave(&scope);
	rvpg_spaces_forget();
	cw_finish(&env);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(relvec_rename_space);
/*
 * relvec_rename_space(space, new_name): rename a space; its values keep their tags (a tag
 * is the space's id) and bound columns stay bound. Owner only.
 */
Datum
relvec_rename_space(PG_FUNCTION_ARGS)
{
	catalog_env env = cw_env_get(fcinfo);
	char	   *space;
	char	   *new_name;
	space_row	sp;
	rvpg_catalog_scope scope;
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];

	cw_require(fcinfo, 0, "space");
	cw_require(fcinfo, 1, "new name");
	space = cw_arg_text(fcinfo, 0);
	new_name = cw_arg_text(fcinfo, 1);
	if (new_name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("space name must not be empty")));
	cw_connect(&env);
	sp = cw_lookup_space(&env, space);
	rvpg_check_owner(sp.owner, "space", space);
	rvpg_catalog_enter(env.owner, &scope);
	values[0] = Int32GetDatum(sp.id);
	values[1] = CStringGetTextDatum(new_name);
	cw_run(psprintf("SELECT 1 FROM %s.relvec_spaces WHERE name = $2 AND space_id <> $1", env.schema),
		2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("space \"%s\" already exists", new_name)));
	cw_run(psprintf("UPDATE %s.relvec_spaces SET name = $2 WHERE space_id = $1", env.schema),
		2, types, values, NULL, SPI_OK_UPDATE);
	rvpg_catalog_leave(&scope);
	rvpg_spaces_forget();
	cw_finish(&env);
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------------------------
 * Anchor sets
 * --------------------------------------------------------------------------------------- */

/* Collation order of the database (ORDER BY on text), for the messages that name a key. */
static int
cmp_collated(const void *a, const void *b)
{
	const char *x = *(const char *const *) a;
	const char *y = *(const char *const *) b;

	return varstr_cmp(x, strlen(x), y, strlen(y), DEFAULT_COLLATION_OID);
}

/* Byte order, for lookups. */
static int
cmp_bytes(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/*
 * Create the anchor set name with keys (validated), owned by the caller. Raises the
 * errors of relvec_create_anchor_set. Needs SPI.
 */
void
cw_create_anchor_set(const catalog_env *env, const char *name, ArrayType *arr)
{
	Datum	   *elems;
	bool	   *enulls;
	int			n;
	int			i;
	char	  **sorted;
	rvpg_catalog_scope scope;
	Oid			types[3] = {TEXTOID, TEXTARRAYOID, REGROLEOID};
	Datum		values[3];

	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("anchor set name must not be empty")));
	if (ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("anchor set \"%s\" needs at least one key", name)));
	if (ARR_NDIM(arr) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("anchor keys must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &enulls, &n);
	sorted = palloc(sizeof(char *) * n);
	for (i = 0; i < n; i++)
	{
		if (enulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("anchor keys must not contain nulls")));
		sorted[i] = TextDatumGetCString(elems[i]);
	}
	qsort(sorted, n, sizeof(char *), cmp_collated);
	for (i = 1; i < n; i++)
		if (strcmp(sorted[i], sorted[i - 1]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("anchor key \"%s\" appears more than once", sorted[i])));

	rvpg_catalog_enter(env->owner, &scope);
	values[0] = CStringGetTextDatum(name);
	cw_run(psprintf("SELECT 1 FROM %s.relvec_anchor_sets WHERE name = $1", env->schema), 1, types,
		values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("anchor set \"%s\" already exists", name)));
	/* stored as a plain one-based array whatever the bounds given */
	values[1] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = ObjectIdGetDatum(scope.caller);
	cw_run(psprintf("INSERT INTO %s.relvec_anchor_sets (name, keys, owner) VALUES ($1, $2, $3)",
				 env->schema), 3, types, values, NULL, SPI_OK_INSERT);
	rvpg_catalog_leave(&scope);
}

PG_FUNCTION_INFO_V1(relvec_create_anchor_set);
/* relvec_create_anchor_set(name, keys): an anchor set of the keys, in order, owned by the caller. */
Datum
relvec_create_anchor_set(PG_FUNCTION_ARGS)
{
	catalog_env env = cw_env_get(fcinfo);

	cw_require(fcinfo, 0, "anchor set name");
	cw_require(fcinfo, 1, "keys");
	cw_connect(&env);
	cw_create_anchor_set(&env, cw_arg_text(fcinfo, 0), PG_GETARG_ARRAYTYPE_P(1));
	cw_finish(&env);
	PG_RETURN_VOID();
}

/* One row of an anchor query. */
typedef struct anchor_row
{
	char	   *key;
	Embedding  *e;
} anchor_row;

static int
cmp_row_bytes(const void *a, const void *b)
{
	return strcmp(((const anchor_row *) a)->key, ((const anchor_row *) b)->key);
}

/* The smallest (in collation order) of n keys, or NULL when n is 0. */
static const char *
least_key(char **keys, int n)
{
	const char *best = NULL;
	int			i;

	for (i = 0; i < n; i++)
		if (best == NULL || varstr_cmp(keys[i], strlen(keys[i]), best, strlen(best),
									   DEFAULT_COLLATION_OID) < 0)
			best = keys[i];
	return best;
}

/*
 * Store the anchors of set (owned by the caller, not frozen) in space from the caller's
 * query of (key, embedding) rows: every key of the set exactly once, of the space's
 * dimensions. Returns the number stored. Needs SPI.
 */
static int
store_anchors(const catalog_env *env, const char *set_name, const set_row *set,
			  const char *space_name, const space_row *sp, const char *query)
{
	MemoryContext outer = CurrentMemoryContext;
	anchor_row *rows;
	char	  **bad;
	int			nbad;
	int			n;
	int			i;
	char	  **setsorted;
	rvpg_catalog_scope scope;
	SPIPlanPtr	plan;
	Oid			types[5] = {INT4OID, INT4OID, INT4OID, TEXTOID, env->emb};
	Datum		values[5];

	check_shape_as_caller(env, query, "key_embedding");

	/* the caller's query, as the caller */
	run_as_caller(env, psprintf("SELECT q.k::pg_catalog.text, q.e FROM (%s\n) q(k, e)", query), 0, NULL, NULL,
		SPI_OK_SELECT);
	if (SPI_processed > (uint64) INT_MAX / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("query returns too many rows")));
	n = (int) SPI_processed;
	rows = MemoryContextAlloc(outer, sizeof(anchor_row) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		bool		knull,
					enull;
		Datum		k = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &knull);
		Datum		e = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &enull);
		MemoryContext old;

		if (knull || enull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("query returns a row with a null key or embedding")));
		old = MemoryContextSwitchTo(outer);
		rows[i].key = TextDatumGetCString(k);
		rows[i].e = (Embedding *) PG_DETOAST_DATUM_COPY(e);
		MemoryContextSwitchTo(old);
		if (rows[i].e->space != 0 && rows[i].e->space != sp->id)
			rvpg_check_space(rows[i].e->space, sp->id,
							 psprintf("It is the embedding of anchor \"%s\".", rows[i].key));
		rows[i].e->space = 0;	/* catalog vectors are stored untagged */
	}
	SPI_freetuptable(SPI_tuptable);

	/* duplicates: the least duplicated key in collation order */
	qsort(rows, n, sizeof(anchor_row), cmp_row_bytes);
	bad = palloc(sizeof(char *) * Max(n, 1));
	for (nbad = 0, i = 1; i < n; i++)
		if (strcmp(rows[i].key, rows[i - 1].key) == 0)
			bad[nbad++] = rows[i].key;
	if (nbad > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("query returns anchor key \"%s\" more than once", least_key(bad, nbad))));

	/* keys that are not anchors of the set */
	setsorted = palloc(sizeof(char *) * Max(set->nkeys, 1));
	memcpy(setsorted, set->keys, sizeof(char *) * set->nkeys);
	qsort(setsorted, set->nkeys, sizeof(char *), cmp_bytes);
	for (nbad = 0, i = 0; i < n; i++)
		if (bsearch(&rows[i].key, setsorted, set->nkeys, sizeof(char *), cmp_bytes) == NULL)
			bad[nbad++] = rows[i].key;
	if (nbad > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("key \"%s\" is not an anchor of set \"%s\"", least_key(bad, nbad), set_name)));

	/* anchors of the set the query does not return, in the set's order */
	for (i = 0; i < set->nkeys; i++)
	{
		anchor_row	probe;

		probe.key = set->keys[i];
		if (bsearch(&probe, rows, n, sizeof(anchor_row), cmp_row_bytes) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("query does not return anchor \"%s\" of set \"%s\"", set->keys[i], set_name)));
	}

	/* dimensions */
	for (nbad = 0, i = 0; i < n; i++)
		if (rows[i].e->dim != sp->dims)
			bad[nbad++] = rows[i].key;
	if (nbad > 0)
	{
		const char *k = least_key(bad, nbad);
		anchor_row	probe;
		anchor_row *r;

		probe.key = (char *) k;
		r = bsearch(&probe, rows, n, sizeof(anchor_row), cmp_row_bytes);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("anchor \"%s\" has %d dimensions, space \"%s\" has %d", k, r->e->dim,
						space_name, sp->dims)));
	}

	/* replace the set's anchors in the space, in the set's order */
	rvpg_catalog_enter(env->owner, &scope);
	values[0] = Int32GetDatum(set->id);
	values[1] = Int32GetDatum(sp->id);
	cw_run(psprintf("DELETE FROM %s.relvec_anchors WHERE set_id = $1 AND space_id = $2", env->schema),
		2, types, values, NULL, SPI_OK_DELETE);
	plan = SPI_prepare(psprintf("INSERT INTO %s.relvec_anchors (set_id, space_id, ord, key, e) "
								"VALUES ($1, $2, $3, $4, $5)", env->schema), 5, types);
	if (plan == NULL)
		elog(ERROR, "relvec: could not prepare the anchor insert: %s",
			 SPI_result_code_string(SPI_result));
	for (i = 0; i < set->nkeys; i++)
	{
		anchor_row	probe;
		anchor_row *r;

		CHECK_FOR_INTERRUPTS();
		probe.key = set->keys[i];
		r = bsearch(&probe, rows, n, sizeof(anchor_row), cmp_row_bytes);
		values[2] = Int32GetDatum(i + 1);
		values[3] = CStringGetTextDatum(r->key);
		values[4] = PointerGetDatum(r->e);
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "relvec: could not store an anchor");
	}
	rvpg_catalog_leave(&scope);
	return set->nkeys;
}

PG_FUNCTION_INFO_V1(relvec_set_anchors);
/* relvec_set_anchors(anchor_set, space, query): store a set's anchors in a space; returns how many. */
Datum
relvec_set_anchors(PG_FUNCTION_ARGS)
{
	catalog_env env = cw_env_get(fcinfo);
	char	   *set_name;
	char	   *space;
	char	   *query;
	set_row		set;
	space_row	sp;
	int			n;

	cw_require(fcinfo, 0, "anchor set");
	set_name = cw_arg_text(fcinfo, 0);
	cw_connect(&env);
	set = cw_lookup_set(&env, set_name, true, CurrentMemoryContext);
	cw_require(fcinfo, 1, "space");
	space = cw_arg_text(fcinfo, 1);
	sp = cw_lookup_space(&env, space);
	cw_require(fcinfo, 2, "query");
	query = cw_arg_text(fcinfo, 2);
	rvpg_check_owner(set.owner, "anchor set", set_name);
	if (set.frozen)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("anchor set \"%s\" is frozen", set_name)));
	n = store_anchors(&env, set_name, &set, space, &sp, query);
	cw_finish(&env);
	PG_RETURN_INT32(n);
}

PG_FUNCTION_INFO_V1(relvec_choose_anchors);
/*
 * relvec_choose_anchors(anchor_set, space, query, k, method, seed): create an anchor set
 * of k keys chosen among the query's rows (relvec_pick_anchors) and store their embeddings
 * in space; returns the keys in order.
 */
Datum
relvec_choose_anchors(PG_FUNCTION_ARGS)
{
	catalog_env env = cw_env_get(fcinfo);
	MemoryContext outer = CurrentMemoryContext;
	char	   *set_name;
	char	   *space;
	char	   *query;
	space_row	sp;
	set_row		set;
	Oid			types[4] = {TEXTOID, INT4OID, TEXTOID, INT4OID};
	Datum		values[4];
	bool		isnull;
	ArrayType  *chosen;

	cw_require(fcinfo, 0, "anchor set name");
	cw_require(fcinfo, 2, "query");
	cw_require(fcinfo, 3, "k");
	cw_require(fcinfo, 4, "method");
	cw_require(fcinfo, 5, "seed");
	set_name = cw_arg_text(fcinfo, 0);
	query = cw_arg_text(fcinfo, 2);
	cw_connect(&env);
	cw_require(fcinfo, 1, "space");
	space = cw_arg_text(fcinfo, 1);
	sp = cw_lookup_space(&env, space);
	check_shape_as_caller(&env, query, "key_embedding");

	/* the choice runs the caller's query, as the caller */
	values[0] = CStringGetTextDatum(query);
	values[1] = PG_GETARG_DATUM(3);
	values[2] = PG_GETARG_DATUM(4);
	values[3] = PG_GETARG_DATUM(5);
	run_as_caller(&env, psprintf("SELECT pg_catalog.array_agg(p.key ORDER BY p.anchor_no) "
								 "FROM %s.relvec_pick_anchors($1, $2, $3, $4) p", env.schema),
				  4, types, values, SPI_OK_SELECT);
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		MemoryContext old = MemoryContextSwitchTo(outer);

		if (isnull)
			elog(ERROR, "relvec: no anchors chosen");
		chosen = DatumGetArrayTypePCopy(d);
		MemoryContextSwitchTo(old);
	}

	cw_create_anchor_set(&env, set_name, chosen);
	set = cw_lookup_set(&env, set_name, true, outer);
	(void) store_anchors(&env, set_name, &set, space, &sp,
						 psprintf("SELECT q.k::pg_catalog.text, q.e FROM (%s\n) q(k, e) WHERE q.k::pg_catalog.text "
										  "OPERATOR(pg_catalog.=) ANY (%s::pg_catalog.text[])",
								  query, quote_literal_cstr(DatumGetCString(
									  OidFunctionCall1(F_ARRAY_OUT, PointerGetDatum(chosen))))));
	cw_finish(&env);
	PG_RETURN_ARRAYTYPE_P(chosen);
}

PG_FUNCTION_INFO_V1(relvec_freeze_anchor_set);
/*
 * relvec_freeze_anchor_set(anchor_set): check the set is complete, of the right dimensions
 * and without zero vectors in every space it has anchors in, and freeze it.
 */
Datum
relvec_freeze_anchor_set(PG_FUNCTION_ARGS)
{
	catalog_env env = cw_env_get(fcinfo);
	char	   *set_name;
	set_row		set;
	rvpg_catalog_scope scope;
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	uint64		r;

	cw_require(fcinfo, 0, "anchor set");
	set_name = cw_arg_text(fcinfo, 0);
	cw_connect(&env);
	set = cw_lookup_set(&env, set_name, true, CurrentMemoryContext);
	rvpg_check_owner(set.owner, "anchor set", set_name);
	if (set.frozen)
	{
		cw_finish(&env);
		PG_RETURN_VOID();
	}
	rvpg_catalog_enter(env.owner, &scope);
	values[0] = Int32GetDatum(set.id);
	cw_run(psprintf("SELECT sp.name, count(*)::int4, (count(*) FILTER (WHERE %s.embedding_dims(a.e) <> sp.dims))::int4, "
				 "min(a.key) FILTER (WHERE %s.embedding_norm(a.e) = 0) "
				 "FROM %s.relvec_anchors a JOIN %s.relvec_spaces sp USING (space_id) "
				 "WHERE a.set_id = $1 GROUP BY sp.name, sp.dims ORDER BY sp.name",
				 env.schema, env.schema, env.schema, env.schema),
		1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("anchor set \"%s\" has no embeddings in any space", set_name),
				 errhint("Store them with relvec_set_anchors().")));
	for (r = 0; r < SPI_processed; r++)
	{
		char	   *sname = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
		char	   *zero = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 4);

		if (cw_row_int(r, 2) != set.nkeys)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("anchor set \"%s\" has %d of %d anchors in space \"%s\"",
							set_name, cw_row_int(r, 2), set.nkeys, sname)));
		if (cw_row_int(r, 3) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("anchor set \"%s\" has anchors of the wrong dimensions in space \"%s\"",
							set_name, sname)));
		if (zero != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("anchor \"%s\" of set \"%s\" is a zero vector in space \"%s\"",
							zero, set_name, sname)));
	}
	cw_run(psprintf("UPDATE %s.relvec_anchor_sets SET frozen = true WHERE set_id = $1", env.schema),
		1, types, values, NULL, SPI_OK_UPDATE);
	rvpg_catalog_leave(&scope);
	cw_finish(&env);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(relvec_drop_anchor_set);
/*
 * relvec_drop_anchor_set(anchor_set, cascade): drop a set, frozen or not, with its anchors;
 * the translations fitted on it go too only when cascade is true.
 */
Datum
relvec_drop_anchor_set(PG_FUNCTION_ARGS)
{
	catalog_env env = cw_env_get(fcinfo);
	char	   *set_name;
	set_row		set;
	rvpg_catalog_scope scope;
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	int			ntrans;

	cw_require(fcinfo, 0, "anchor set");
	cw_require(fcinfo, 1, "cascade");
	set_name = cw_arg_text(fcinfo, 0);
	cw_connect(&env);
	set = cw_lookup_set(&env, set_name, false, CurrentMemoryContext);
	rvpg_check_owner(set.owner, "anchor set", set_name);
	rvpg_catalog_enter(env.owner, &scope);
	values[0] = Int32GetDatum(set.id);
	cw_run(psprintf("SELECT count(*)::int4 FROM %s.relvec_translations WHERE set_id = $1", env.schema),
		1, types, values, NULL, SPI_OK_SELECT);
	ntrans = cw_row_int(0, 1);
	if (ntrans > 0 && !PG_GETARG_BOOL(1))
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop anchor set \"%s\" because other objects depend on it", set_name),
				 errdetail("%d translation%s %s fitted on it.", ntrans, ntrans == 1 ? "" : "s",
						   ntrans == 1 ? "is" : "are"),
				 errhint("Use cascade => true to drop them too.")));
	cw_run(psprintf("DELETE FROM %s.relvec_anchor_sets WHERE set_id = $1", env.schema), 1, types,
		values, NULL, SPI_OK_DELETE);
	rvpg_catalog_leave(&scope);
	cw_finish(&env);
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------------------------
 * Translations and owners
 * --------------------------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(relvec_drop_translation);
/* relvec_drop_translation(anchor_set, from_space, to_space): drop a fitted translation. */
Datum
relvec_drop_translation(PG_FUNCTION_ARGS)
{
	catalog_env env = cw_env_get(fcinfo);
	char	   *set_name;
	char	   *from;
	char	   *to;
	set_row		set;
	space_row	f,
				t;
	rvpg_catalog_scope scope;
	Oid			types[3] = {INT4OID, INT4OID, INT4OID};
	Datum		values[3];

	cw_require(fcinfo, 0, "anchor set");
	cw_require(fcinfo, 1, "from_space");
	cw_require(fcinfo, 2, "to_space");
	set_name = cw_arg_text(fcinfo, 0);
	from = cw_arg_text(fcinfo, 1);
	to = cw_arg_text(fcinfo, 2);
	cw_connect(&env);
	set = cw_lookup_set(&env, set_name, false, CurrentMemoryContext);
	f = cw_lookup_space(&env, from);
	t = cw_lookup_space(&env, to);
	values[0] = Int32GetDatum(set.id);
	values[1] = Int32GetDatum(f.id);
	values[2] = Int32GetDatum(t.id);
	cw_run(psprintf("SELECT owner FROM %s.relvec_translations WHERE set_id = $1 AND from_space_id = $2 "
				 "AND to_space_id = $3", env.schema), 3, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("translation from space \"%s\" to space \"%s\" in anchor set \"%s\" does not exist",
						from, to, set_name)));
	rvpg_check_translation_owner(cw_row_oid(0, 1), set_name, from, to);
	rvpg_catalog_enter(env.owner, &scope);
	cw_run(psprintf("DELETE FROM %s.relvec_translations WHERE set_id = $1 AND from_space_id = $2 "
				 "AND to_space_id = $3", env.schema), 3, types, values, NULL, SPI_OK_DELETE);
	rvpg_catalog_leave(&scope);
	cw_finish(&env);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(relvec_reassign_owned);
/*
 * relvec_reassign_owned(old_role, new_role): give every space, anchor set and translation
 * old_role owns to new_role, as REASSIGN OWNED does for PostgreSQL's objects (run it before
 * DROP ROLE). The caller needs the privileges of both roles. Returns how many changed.
 */
Datum
relvec_reassign_owned(PG_FUNCTION_ARGS)
{
	catalog_env env = cw_env_get(fcinfo);
	Oid			old_role;
	Oid			new_role;
	rvpg_catalog_scope scope;
	Oid			types[2] = {REGROLEOID, REGROLEOID};
	Datum		values[2];
	int64		n = 0;
	const char *tables[3] = {"relvec_spaces", "relvec_anchor_sets", "relvec_translations"};
	int			i;

	cw_require(fcinfo, 0, "old_role");
	cw_require(fcinfo, 1, "new_role");
	old_role = PG_GETARG_OID(0);
	new_role = PG_GETARG_OID(1);
	if (!has_privs_of_role(GetUserId(), old_role) || !has_privs_of_role(GetUserId(), new_role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to reassign objects"),
				 errdetail("Only roles with privileges of both roles may reassign their relvec objects.")));
	cw_connect(&env);
	rvpg_catalog_enter(env.owner, &scope);
	values[0] = ObjectIdGetDatum(old_role);
	values[1] = ObjectIdGetDatum(new_role);
	for (i = 0; i < 3; i++)
	{
		cw_run(psprintf("UPDATE %s.%s SET owner = $2 WHERE owner = $1", env.schema, tables[i]),
			2, types, values, NULL, SPI_OK_UPDATE);
		n += (int64) SPI_processed;
	}
	rvpg_catalog_leave(&scope);
	cw_finish(&env);
	PG_RETURN_INT64(n);
}
