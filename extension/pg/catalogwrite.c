/*
 * catalogwrite.c — every change to relvec's catalog: creating, filling, freezing, dropping
 * and re-owning spaces, anchor sets and translations, and importing the exact copy of them
 * that relvec_publish (shardcatalog.c) sends to a shard.
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

/* What a catalog function needs to know about where relvec lives. */
typedef struct catalog_env
{
	Oid			nsp;			/* relvec's schema */
	char	   *schema;			/* its quoted name, to qualify tables and functions */
	Oid			emb;			/* type embedding */
	Oid			owner;			/* owner of the catalog tables */
	char	   *caller_path;	/* the caller's search_path, for the caller's queries */
	int			guc_level;		/* where catalog_connect pinned search_path */
} catalog_env;

/* Look up relvec's schema, the embedding type and the catalog's owner, without SPI. */
static catalog_env
catalog_env_get(FunctionCallInfo fcinfo)
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
 * built-in function, operator or type. catalog_finish undoes both.
 */
static void
catalog_connect(catalog_env *env)
{
	SPI_connect();
	env->guc_level = NewGUCNestLevel();
	set_path("pg_catalog, pg_temp");
}

static void
catalog_finish(catalog_env *env)
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
static void
require(FunctionCallInfo fcinfo, int n, const char *what)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
}

/* Argument n as a C string (it must not be null). */
static char *
arg_text(FunctionCallInfo fcinfo, int n)
{
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* Column c of result row r as int4 / bool / Oid; false/0 when null. */
static int32
row_int(uint64 r, int c)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

static bool
row_bool(uint64 r, int c)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c, &isnull);

	return isnull ? false : DatumGetBool(d);
}

static Oid
row_oid(uint64 r, int c)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c, &isnull);

	return isnull ? InvalidOid : DatumGetObjectId(d);
}

/*
 * Run a statement with parameters; raise if it does not return want. Never read-only: the
 * next statement must see what the previous one wrote (SPI then takes a new snapshot).
 */
static void
run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int want)
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
	run(sql, nargs, types, values, NULL, want);
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

/* A space's row: id, dims and owner. */
typedef struct space_row
{
	int			id;
	int			dims;
	Oid			owner;
} space_row;

/* Look a space up by name (22004 when null, 42704 when unknown). Needs SPI. */
static space_row
lookup_space(const catalog_env *env, const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	space_row	s;

	run(psprintf("SELECT space_id, dims, owner FROM %s.relvec_spaces WHERE name = $1", env->schema),
		1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("space \"%s\" does not exist", name)));
	s.id = row_int(0, 1);
	s.dims = row_int(0, 2);
	s.owner = row_oid(0, 3);
	return s;
}

/* An anchor set's row: id, frozen, owner and its keys in order. */
typedef struct set_row
{
	int			id;
	bool		frozen;
	Oid			owner;
	int			nkeys;
	char	  **keys;			/* allocated in the caller's context */
} set_row;

/* Look an anchor set up by name (42704 when unknown); with_keys also reads its keys. */
static set_row
lookup_set(const catalog_env *env, const char *name, bool with_keys, MemoryContext mcxt)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	set_row		s;

	run(psprintf("SELECT set_id, frozen, owner, keys FROM %s.relvec_anchor_sets WHERE name = $1",
				 env->schema), 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("anchor set \"%s\" does not exist", name)));
	s.id = row_int(0, 1);
	s.frozen = row_bool(0, 2);
	s.owner = row_oid(0, 3);
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
	catalog_env env = catalog_env_get(fcinfo);
	char	   *name;
	int32		dims;
	rvpg_catalog_scope scope;
	Oid			types[4] = {TEXTOID, INT4OID, TEXTOID, REGROLEOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	require(fcinfo, 0, "space name");
	require(fcinfo, 1, "dims");
	name = arg_text(fcinfo, 0);
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

	catalog_connect(&env);
	rvpg_catalog_enter(env.owner, &scope);
	values[0] = CStringGetTextDatum(name);
	run(psprintf("SELECT 1 FROM %s.relvec_spaces WHERE name = $1", env.schema), 1, types, values,
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
	run(psprintf("INSERT INTO %s.relvec_spaces (name, dims, description, owner) VALUES ($1, $2, $3, $4) "
				 "RETURNING space_id", env.schema), 4, types, values, nulls, SPI_OK_INSERT_RETURNING);
	/* a value carries its space's id in 16 bits */
	if (row_int(0, 1) > RV_MAX_SPACE_TAG)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("space \"%s\" would have id %d, beyond the %d ids a value can carry",
						name, row_int(0, 1), RV_MAX_SPACE_TAG),
				 errhint("Space ids are never reused; this database has created %d spaces.",
						 RV_MAX_SPACE_TAG)));
	rvpg_catalog_leave(&scope);
	rvpg_spaces_forget();
	catalog_finish(&env);
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
	catalog_env env = catalog_env_get(fcinfo);
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

	require(fcinfo, 0, "space");
	space = arg_text(fcinfo, 0);
	catalog_connect(&env);
	sp = lookup_space(&env, space);
	require(fcinfo, 1, "query");
	query = arg_text(fcinfo, 1);
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
	run(psprintf("UPDATE %s.relvec_spaces SET mean = $1, mean_version = mean_version + 1 WHERE space_id = $2",
				 env.schema), 2, types, values, NULL, SPI_OK_UPDATE);
	rvpg_catalog_leave(&scope);
	catalog_finish(&env);
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

	run("SELECT pg_catalog.format('%s.%I', a.attrelid::pg_catalog.regclass, a.attname) FROM pg_catalog.pg_attribute a "
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
	run("SELECT pg_catalog.format('%s.%I', a.attrelid::pg_catalog.regclass, a.attname), "
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
		run(psprintf("SELECT 1 FROM %s WHERE (pg_catalog.get_byte(%s.embedding_send(%s), 2) << 8 | "
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
	catalog_env env = catalog_env_get(fcinfo);
	char	   *space;
	bool		cascade;
	space_row	sp;
	rvpg_catalog_scope scope;
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	int			nsets,
				ntrans;

	require(fcinfo, 0, "space");
	require(fcinfo, 1, "cascade");
	space = arg_text(fcinfo, 0);
	cascade = PG_GETARG_BOOL(1);
	catalog_connect(&env);
	sp = lookup_space(&env, space);
	rvpg_check_owner(sp.owner, "space", space);
	rvpg_catalog_enter(env.owner, &scope);
	values[0] = Int32GetDatum(sp.id);
	run(psprintf("SELECT s.name FROM %s.relvec_anchor_sets s WHERE s.frozen AND EXISTS "
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
	run(psprintf("SELECT (SELECT count(DISTINCT set_id) FROM %s.relvec_anchors WHERE space_id = $1)::int4, "
				 "(SELECT count(*) FROM %s.relvec_translations WHERE $1 IN (from_space_id, to_space_id))::int4",
				 env.schema, env.schema), 1, types, values, NULL, SPI_OK_SELECT);
	nsets = row_int(0, 1);
	ntrans = row_int(0, 2);
	if ((nsets > 0 || ntrans > 0) && !cascade)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop space \"%s\" because other objects depend on it", space),
				 errdetail("%d anchor set%s %s anchors in it; %d translation%s %s it.",
						   nsets, nsets == 1 ? "" : "s", nsets == 1 ? "has" : "have",
						   ntrans, ntrans == 1 ? "" : "s", ntrans == 1 ? "uses" : "use"),
				 errhint("Use cascade => true to drop them too.")));
	run(psprintf("DELETE FROM %s.relvec_spaces WHERE space_id = $1", env.schema), 1, types, values,
		NULL, SPI_OK_DELETE);
	rvpg_catalog_leave(&scope);
	rvpg_spaces_forget();
	catalog_finish(&env);
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
	catalog_env env = catalog_env_get(fcinfo);
	char	   *space;
	char	   *new_name;
	space_row	sp;
	rvpg_catalog_scope scope;
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];

	require(fcinfo, 0, "space");
	require(fcinfo, 1, "new name");
	space = arg_text(fcinfo, 0);
	new_name = arg_text(fcinfo, 1);
	if (new_name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("space name must not be empty")));
	catalog_connect(&env);
	sp = lookup_space(&env, space);
	rvpg_check_owner(sp.owner, "space", space);
	rvpg_catalog_enter(env.owner, &scope);
	values[0] = Int32GetDatum(sp.id);
	values[1] = CStringGetTextDatum(new_name);
	run(psprintf("SELECT 1 FROM %s.relvec_spaces WHERE name = $2 AND space_id <> $1", env.schema),
		2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("space \"%s\" already exists", new_name)));
	run(psprintf("UPDATE %s.relvec_spaces SET name = $2 WHERE space_id = $1", env.schema),
		2, types, values, NULL, SPI_OK_UPDATE);
	rvpg_catalog_leave(&scope);
	rvpg_spaces_forget();
	catalog_finish(&env);
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
static void
create_anchor_set(const catalog_env *env, const char *name, ArrayType *arr)
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
	run(psprintf("SELECT 1 FROM %s.relvec_anchor_sets WHERE name = $1", env->schema), 1, types,
		values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("anchor set \"%s\" already exists", name)));
	/* stored as a plain one-based array whatever the bounds given */
	values[1] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = ObjectIdGetDatum(scope.caller);
	run(psprintf("INSERT INTO %s.relvec_anchor_sets (name, keys, owner) VALUES ($1, $2, $3)",
				 env->schema), 3, types, values, NULL, SPI_OK_INSERT);
	rvpg_catalog_leave(&scope);
}

PG_FUNCTION_INFO_V1(relvec_create_anchor_set);
/* relvec_create_anchor_set(name, keys): an anchor set of the keys, in order, owned by the caller. */
Datum
relvec_create_anchor_set(PG_FUNCTION_ARGS)
{
	catalog_env env = catalog_env_get(fcinfo);

	require(fcinfo, 0, "anchor set name");
	require(fcinfo, 1, "keys");
	catalog_connect(&env);
	create_anchor_set(&env, arg_text(fcinfo, 0), PG_GETARG_ARRAYTYPE_P(1));
	catalog_finish(&env);
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
	run(psprintf("DELETE FROM %s.relvec_anchors WHERE set_id = $1 AND space_id = $2", env->schema),
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
	catalog_env env = catalog_env_get(fcinfo);
	char	   *set_name;
	char	   *space;
	char	   *query;
	set_row		set;
	space_row	sp;
	int			n;

	require(fcinfo, 0, "anchor set");
	set_name = arg_text(fcinfo, 0);
	catalog_connect(&env);
	set = lookup_set(&env, set_name, true, CurrentMemoryContext);
	require(fcinfo, 1, "space");
	space = arg_text(fcinfo, 1);
	sp = lookup_space(&env, space);
	require(fcinfo, 2, "query");
	query = arg_text(fcinfo, 2);
	rvpg_check_owner(set.owner, "anchor set", set_name);
	if (set.frozen)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("anchor set \"%s\" is frozen", set_name)));
	n = store_anchors(&env, set_name, &set, space, &sp, query);
	catalog_finish(&env);
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
	catalog_env env = catalog_env_get(fcinfo);
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

	require(fcinfo, 0, "anchor set name");
	require(fcinfo, 2, "query");
	require(fcinfo, 3, "k");
	require(fcinfo, 4, "method");
	require(fcinfo, 5, "seed");
	set_name = arg_text(fcinfo, 0);
	query = arg_text(fcinfo, 2);
	catalog_connect(&env);
	require(fcinfo, 1, "space");
	space = arg_text(fcinfo, 1);
	sp = lookup_space(&env, space);
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

	create_anchor_set(&env, set_name, chosen);
	set = lookup_set(&env, set_name, true, outer);
	(void) store_anchors(&env, set_name, &set, space, &sp,
						 psprintf("SELECT q.k::pg_catalog.text, q.e FROM (%s\n) q(k, e) WHERE q.k::pg_catalog.text "
										  "OPERATOR(pg_catalog.=) ANY (%s::pg_catalog.text[])",
								  query, quote_literal_cstr(DatumGetCString(
									  OidFunctionCall1(F_ARRAY_OUT, PointerGetDatum(chosen))))));
	catalog_finish(&env);
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
	catalog_env env = catalog_env_get(fcinfo);
	char	   *set_name;
	set_row		set;
	rvpg_catalog_scope scope;
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	uint64		r;

	require(fcinfo, 0, "anchor set");
	set_name = arg_text(fcinfo, 0);
	catalog_connect(&env);
	set = lookup_set(&env, set_name, true, CurrentMemoryContext);
	rvpg_check_owner(set.owner, "anchor set", set_name);
	if (set.frozen)
	{
		catalog_finish(&env);
		PG_RETURN_VOID();
	}
	rvpg_catalog_enter(env.owner, &scope);
	values[0] = Int32GetDatum(set.id);
	run(psprintf("SELECT sp.name, count(*)::int4, (count(*) FILTER (WHERE %s.embedding_dims(a.e) <> sp.dims))::int4, "
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

		if (row_int(r, 2) != set.nkeys)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("anchor set \"%s\" has %d of %d anchors in space \"%s\"",
							set_name, row_int(r, 2), set.nkeys, sname)));
		if (row_int(r, 3) > 0)
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
	run(psprintf("UPDATE %s.relvec_anchor_sets SET frozen = true WHERE set_id = $1", env.schema),
		1, types, values, NULL, SPI_OK_UPDATE);
	rvpg_catalog_leave(&scope);
	catalog_finish(&env);
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
	catalog_env env = catalog_env_get(fcinfo);
	char	   *set_name;
	set_row		set;
	rvpg_catalog_scope scope;
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	int			ntrans;

	require(fcinfo, 0, "anchor set");
	require(fcinfo, 1, "cascade");
	set_name = arg_text(fcinfo, 0);
	catalog_connect(&env);
	set = lookup_set(&env, set_name, false, CurrentMemoryContext);
	rvpg_check_owner(set.owner, "anchor set", set_name);
	rvpg_catalog_enter(env.owner, &scope);
	values[0] = Int32GetDatum(set.id);
	run(psprintf("SELECT count(*)::int4 FROM %s.relvec_translations WHERE set_id = $1", env.schema),
		1, types, values, NULL, SPI_OK_SELECT);
	ntrans = row_int(0, 1);
	if (ntrans > 0 && !PG_GETARG_BOOL(1))
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop anchor set \"%s\" because other objects depend on it", set_name),
				 errdetail("%d translation%s %s fitted on it.", ntrans, ntrans == 1 ? "" : "s",
						   ntrans == 1 ? "is" : "are"),
				 errhint("Use cascade => true to drop them too.")));
	run(psprintf("DELETE FROM %s.relvec_anchor_sets WHERE set_id = $1", env.schema), 1, types,
		values, NULL, SPI_OK_DELETE);
	rvpg_catalog_leave(&scope);
	catalog_finish(&env);
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
	catalog_env env = catalog_env_get(fcinfo);
	char	   *set_name;
	char	   *from;
	char	   *to;
	set_row		set;
	space_row	f,
				t;
	rvpg_catalog_scope scope;
	Oid			types[3] = {INT4OID, INT4OID, INT4OID};
	Datum		values[3];

	require(fcinfo, 0, "anchor set");
	require(fcinfo, 1, "from_space");
	require(fcinfo, 2, "to_space");
	set_name = arg_text(fcinfo, 0);
	from = arg_text(fcinfo, 1);
	to = arg_text(fcinfo, 2);
	catalog_connect(&env);
	set = lookup_set(&env, set_name, false, CurrentMemoryContext);
	f = lookup_space(&env, from);
	t = lookup_space(&env, to);
	values[0] = Int32GetDatum(set.id);
	values[1] = Int32GetDatum(f.id);
	values[2] = Int32GetDatum(t.id);
	run(psprintf("SELECT owner FROM %s.relvec_translations WHERE set_id = $1 AND from_space_id = $2 "
				 "AND to_space_id = $3", env.schema), 3, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("translation from space \"%s\" to space \"%s\" in anchor set \"%s\" does not exist",
						from, to, set_name)));
	rvpg_check_translation_owner(row_oid(0, 1), set_name, from, to);
	rvpg_catalog_enter(env.owner, &scope);
	run(psprintf("DELETE FROM %s.relvec_translations WHERE set_id = $1 AND from_space_id = $2 "
				 "AND to_space_id = $3", env.schema), 3, types, values, NULL, SPI_OK_DELETE);
	rvpg_catalog_leave(&scope);
	catalog_finish(&env);
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
	catalog_env env = catalog_env_get(fcinfo);
	Oid			old_role;
	Oid			new_role;
	rvpg_catalog_scope scope;
	Oid			types[2] = {REGROLEOID, REGROLEOID};
	Datum		values[2];
	int64		n = 0;
	const char *tables[3] = {"relvec_spaces", "relvec_anchor_sets", "relvec_translations"};
	int			i;

	require(fcinfo, 0, "old_role");
	require(fcinfo, 1, "new_role");
	old_role = PG_GETARG_OID(0);
	new_role = PG_GETARG_OID(1);
	if (!has_privs_of_role(GetUserId(), old_role) || !has_privs_of_role(GetUserId(), new_role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to reassign objects"),
				 errdetail("Only roles with privileges of both roles may reassign their relvec objects.")));
	catalog_connect(&env);
	rvpg_catalog_enter(env.owner, &scope);
	values[0] = ObjectIdGetDatum(old_role);
	values[1] = ObjectIdGetDatum(new_role);
	for (i = 0; i < 3; i++)
	{
		run(psprintf("UPDATE %s.%s SET owner = $2 WHERE owner = $1", env.schema, tables[i]),
			2, types, values, NULL, SPI_OK_UPDATE);
		n += (int64) SPI_processed;
	}
	rvpg_catalog_leave(&scope);
	catalog_finish(&env);
	PG_RETURN_INT64(n);
}

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
	catalog_env env = catalog_env_get(fcinfo);
	char	   *name;
	int32		dims;
	Embedding  *mean;
	bool		replace;
	rvpg_catalog_scope scope;
	Oid			types[5] = {TEXTOID, INT4OID, TEXTOID, REGROLEOID, env.emb};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	const char *result;

	require(fcinfo, 0, "space name");
	require(fcinfo, 1, "dims");
	require(fcinfo, 4, "replace");
	name = arg_text(fcinfo, 0);
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

	catalog_connect(&env);
	values[0] = CStringGetTextDatum(name);
	run(psprintf("SELECT space_id, dims, owner, mean FROM %s.relvec_spaces WHERE name = $1", env.schema),
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
		run(psprintf("INSERT INTO %s.relvec_spaces (name, dims, description, owner, mean) "
					 "VALUES ($1, $2, $3, $4, $5) RETURNING space_id", env.schema),
			5, types, values, nulls, SPI_OK_INSERT_RETURNING);
		if (row_int(0, 1) > RV_MAX_SPACE_TAG)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("space \"%s\" would have id %d, beyond the %d ids a value can carry",
							name, row_int(0, 1), RV_MAX_SPACE_TAG)));
		rvpg_catalog_leave(&scope);
		rvpg_spaces_forget();
		result = "created";
	}
	else
	{
		int			id = row_int(0, 1);
		bool		isnull;
		Datum		stored = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);

		if (row_int(0, 2) != dims)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("space \"%s\" already exists with %d dimensions, not %d", name, row_int(0, 2), dims),
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
			rvpg_check_owner(row_oid(0, 3), "space", name);
			rvpg_catalog_enter(env.owner, &scope);
			v2[0] = Int32GetDatum(id);
			if (mean == NULL)
				n2[1] = 'n';
			else
				v2[1] = PointerGetDatum(mean);
			run(psprintf("UPDATE %s.relvec_spaces SET mean = $2, mean_version = mean_version + 1 "
						 "WHERE space_id = $1", env.schema), 2, t2, v2, n2, SPI_OK_UPDATE);
			rvpg_catalog_leave(&scope);
			result = "replaced";
		}
	}
	catalog_finish(&env);
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
	catalog_env env = catalog_env_get(fcinfo);
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

	require(fcinfo, 0, "anchor set name");
	require(fcinfo, 1, "keys");
	require(fcinfo, 2, "spaces");
	require(fcinfo, 3, "anchors");
	require(fcinfo, 4, "replace");
	set_name = arg_text(fcinfo, 0);
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

	catalog_connect(&env);
	sps = palloc(sizeof(space_row) * nspaces);
	es = palloc(sizeof(Embedding *) * nanchors);
	for (i = 0; i < nspaces; i++)
	{
		char	   *sname = TextDatumGetCString(snames[i]);

		sps[i] = lookup_space(&env, sname);
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

		run(psprintf("SELECT set_id, frozen, owner, keys = $1 FROM %s.relvec_anchor_sets WHERE name = $2",
					 env.schema), 2, t2, v2, NULL, SPI_OK_SELECT);
	}
	if (SPI_processed == 1)
	{
		int			id = row_int(0, 1);
		bool		same = row_bool(0, 2) && row_bool(0, 4);
		Oid			owner = row_oid(0, 3);

		if (same)
		{
			uint64		r;
			SPITupleTable *rows;

			values[0] = Int32GetDatum(id);
			run(psprintf("SELECT sp.name, a.ord, a.e FROM %s.relvec_anchors a JOIN %s.relvec_spaces sp "
						 "ON sp.space_id = a.space_id WHERE a.set_id = $1", env.schema, env.schema),
				1, types, values, NULL, SPI_OK_SELECT);
			rows = SPI_tuptable;
			same = SPI_processed == (uint64) nanchors;
			for (r = 0; same && r < rows->numvals; r++)
			{
				char	   *sname = SPI_getvalue(rows->vals[r], rows->tupdesc, 1);
				int			ord = row_int(r, 2);

				for (i = 0; i < nspaces && strcmp(sname, TextDatumGetCString(snames[i])) != 0; i++)
					;
				same = i < nspaces && ord >= 1 && ord <= nkeys &&
					same_embedding_cell(rows->vals[r], rows->tupdesc, 3, es[i * nkeys + ord - 1]);
			}
		}
		if (same)
		{
			catalog_finish(&env);
			PG_RETURN_TEXT_P(cstring_to_text("unchanged"));
		}
		if (!replace)
			exists_differently(psprintf("anchor set \"%s\"", set_name));
		rvpg_check_owner(owner, "anchor set", set_name);
		rvpg_catalog_enter(env.owner, &scope);
		values[0] = Int32GetDatum(id);
		run(psprintf("DELETE FROM %s.relvec_anchor_sets WHERE set_id = $1", env.schema), 1, types,
			values, NULL, SPI_OK_DELETE);
		rvpg_catalog_leave(&scope);
		result = "replaced";
	}

	create_anchor_set(&env, set_name, keyarr);
	set = lookup_set(&env, set_name, false, outer);
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
	run(psprintf("UPDATE %s.relvec_anchor_sets SET frozen = true WHERE set_id = $1", env.schema),
		1, types, values, NULL, SPI_OK_UPDATE);
	rvpg_catalog_leave(&scope);
	catalog_finish(&env);
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
	catalog_env env = catalog_env_get(fcinfo);
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
			require(fcinfo, i, names[i]);
	set_name = arg_text(fcinfo, 0);
	from = arg_text(fcinfo, 1);
	to = arg_text(fcinfo, 2);
	RVPG_CHECK(rv_translate_method_parse(rvpg_ctx(), arg_text(fcinfo, 3), &method));
	for (i = 0; i < 4; i++)
		stats[i] = arg_untagged(fcinfo, 4 + i);
	matrix = PG_GETARG_ARRAYTYPE_P(8);
	bias = arg_untagged(fcinfo, 9);
	replace = PG_GETARG_BOOL(10);

	catalog_connect(&env);
	set = lookup_set(&env, set_name, false, CurrentMemoryContext);
	if (!set.frozen)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("anchor set \"%s\" is not frozen", set_name)));
	f = lookup_space(&env, from);
	t = lookup_space(&env, to);
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
	run(psprintf("SELECT owner, method, from_mean, from_std, to_mean, to_std, matrix, bias "
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
			rvpg_check_translation_owner(row_oid(0, 1), set_name, from, to);
			rvpg_catalog_enter(env.owner, &scope);
			run(psprintf("UPDATE %s.relvec_translations SET method = $4, from_mean = $5, from_std = $6, "
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
		run(psprintf("INSERT INTO %s.relvec_translations (set_id, from_space_id, to_space_id, method, "
					 "from_mean, from_std, to_mean, to_std, matrix, bias, owner) "
					 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)", env.schema),
			11, types, values, nulls, SPI_OK_INSERT);
		rvpg_catalog_leave(&scope);
		result = "created";
	}
	catalog_finish(&env);
	PG_RETURN_TEXT_P(cstring_to_text(result));
}
