/*
 * shardcatalog.c — one catalog on every shard: the fingerprint of the catalog objects a
 * stitched search uses (relvec_catalog_fingerprint), and relvec_publish, which makes a
 * shard's copy of an anchor set (its spaces, its anchors, a translation fitted on it)
 * identical to this server's, through postgres_fdw's connection to the shard.
 *
 * The fingerprint is the SHA-256, in hex, of a canonical byte stream: the tag "relvec
 * catalog 1"; the set's name, frozen flag and keys in order; then, for every space that
 * has anchors in the set, in byte order of the space names, the space's name, dimensions
 * and stored mean (or its absence), followed by its anchors in the set's order (key and
 * exact float32 bits); then, when a translation is named, its spaces, method, the four
 * statistics, the matrix and the bias, as exact float32 bits. Strings are a 4-byte length
 * and their bytes, integers and floats 4 bytes big-endian, so the fingerprint is the same
 * on every server and CPU. What does not change a search is left out: ids, owners,
 * descriptions, mean versions, fitted_at.
 *
 * Publishing copies values, never re-computes them: the anchors as stored, the translation
 * with the same matrix (a re-fit on the shard could differ in the last bits on another CPU
 * or BLAS kernel). The shard's side is relvec_import_space, relvec_import_anchor_set and
 * relvec_import_translation (catalogwrite.c), run remotely in postgres_fdw's remote
 * transaction, so the copy commits or rolls back with the local transaction.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "relvec_pg.h"
#include "relvec_catalog.h"
#include "shard.h"

/* ---------------------------------------------------------------------------------------
 * Reading the catalog with a pinned search_path
 * --------------------------------------------------------------------------------------- */

/*
 * Connect to SPI with search_path pinned to pg_catalog, pg_temp and extra_float_digits to 3
 * (real[] values are printed exactly); returns the GUC level for catalog_done.
 */
static int
catalog_open(void)
{
	int			level;

	SPI_connect();
	level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("extra_float_digits", "3", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

static void
catalog_done(int level)
{
	AtEOXact_GUC(true, level);
	SPI_finish();
}

/* Run a read-only catalog statement with text parameters. */
static void
read_rows(const char *sql, int nargs, Oid *types, Datum *values)
{
	if (SPI_execute_with_args(sql, nargs, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "relvec: catalog lookup failed");
}

static Datum
cell(uint64 r, int c, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c, isnull);
}

/* An anchor set's row (42704 when there is none). Needs catalog_open. */
typedef struct fp_set
{
	int			id;
	bool		frozen;
	char	   *keys;			/* the text[] in its text form */
	ArrayType  *keyarr;
} fp_set;

static fp_set
get_set(const char *schema, const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	fp_set		s;
	bool		isnull;

	read_rows(psprintf("SELECT set_id, frozen, keys FROM %s.relvec_anchor_sets WHERE name = $1", schema),
			  1, types, values);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("anchor set \"%s\" does not exist", name)));
	s.id = DatumGetInt32(cell(0, 1, &isnull));
	s.frozen = DatumGetBool(cell(0, 2, &isnull));
	s.keyarr = DatumGetArrayTypePCopy(cell(0, 3, &isnull));
	s.keys = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	return s;
}

/* A space's id by name (42704 when there is none). Needs catalog_open. */
static int
get_space(const char *schema, const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		isnull;

	read_rows(psprintf("SELECT space_id FROM %s.relvec_spaces WHERE name = $1", schema), 1, types, values);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("space \"%s\" does not exist", name)));
	return DatumGetInt32(cell(0, 1, &isnull));
}

/* Raise 22023 unless from and to are both given or both null. */
static void
check_translation_args(const char *from, const char *to)
{
	if ((from == NULL) != (to == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_space and to_space must both be given or both be null")));
}

/*
 * The translation row of (set, from, to): 55000 when none is fitted (rvpg_get_translation's
 * message), 22023 for one space twice. Leaves it as SPI_tuptable's only row: method,
 * from_mean, from_std, to_mean, to_std, matrix, bias. Needs catalog_open.
 */
static void
get_translation(const char *schema, const char *set_name, int set_id, const char *from,
				const char *to)
{
	Oid			types[3] = {INT4OID, INT4OID, INT4OID};
	Datum		values[3];
	int			from_id = get_space(schema, from);
	int			to_id = get_space(schema, to);

	if (from_id == to_id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot translate from space \"%s\" to itself", from)));
	values[0] = Int32GetDatum(set_id);
	values[1] = Int32GetDatum(from_id);
	values[2] = Int32GetDatum(to_id);
	read_rows(psprintf("SELECT method, from_mean, from_std, to_mean, to_std, matrix, bias "
					   "FROM %s.relvec_translations WHERE set_id = $1 AND from_space_id = $2 "
					   "AND to_space_id = $3", schema), 3, types, values);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no translation fitted from space \"%s\" to space \"%s\" in anchor set \"%s\"",
						from, to, set_name),
				 errhint("Fit one with relvec_fit_translation().")));
}

/* ---------------------------------------------------------------------------------------
 * The fingerprint
 * --------------------------------------------------------------------------------------- */

static void
fp_bytes(pg_cryptohash_ctx *h, const void *p, size_t n)
{
	if (pg_cryptohash_update(h, (const uint8 *) p, n) < 0)
		elog(ERROR, "relvec: could not hash the catalog: %s", pg_cryptohash_error(h));
}

static void
fp_u32(pg_cryptohash_ctx *h, uint32 v)
{
	uint8		b[4] = {(uint8) (v >> 24), (uint8) (v >> 16), (uint8) (v >> 8), (uint8) v};

	fp_bytes(h, b, 4);
}

static void
fp_str(pg_cryptohash_ctx *h, const char *s)
{
	size_t		n = strlen(s);

	fp_u32(h, (uint32) n);
	fp_bytes(h, s, n);
}

static void
fp_floats(pg_cryptohash_ctx *h, const float *v, int n)
{
	int			i;

	fp_u32(h, (uint32) n);
	for (i = 0; i < n; i++)
	{
		uint32		bits;

		memcpy(&bits, &v[i], 4);
		fp_u32(h, bits);
	}
}

/* An embedding cell (or its absence, as a -1 length). */
static void
fp_embedding_cell(pg_cryptohash_ctx *h, uint64 r, int c)
{
	bool		isnull;
	Datum		d = cell(r, c, &isnull);

	if (isnull)
	{
		fp_u32(h, 0xFFFFFFFF);
		return;
	}
	{
		Embedding  *e = DatumGetEmbedding(d);

		fp_floats(h, e->x, e->dim);
	}
}

char *
rvpg_catalog_fingerprint(const char *anchor_set, const char *from_space, const char *to_space)
{
	int			level;
	char	   *schema;
	fp_set		set;
	pg_cryptohash_ctx *h;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex;
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	Datum	   *keys;
	bool	   *knulls;
	int			nkeys;
	int			i;
	uint64		r;
	char	   *space = NULL;

	check_translation_args(from_space, to_space);
	level = catalog_open();
	schema = rvpg_catalog_schema();
	set = get_set(schema, anchor_set);
	h = pg_cryptohash_create(PG_SHA256);
	if (h == NULL || pg_cryptohash_init(h) < 0)
		elog(ERROR, "relvec: could not start a SHA-256 hash");
	fp_str(h, "relvec catalog 1");
	fp_str(h, anchor_set);
	fp_u32(h, set.frozen ? 1 : 0);
	deconstruct_array(set.keyarr, TEXTOID, -1, false, TYPALIGN_INT, &keys, &knulls, &nkeys);
	fp_u32(h, (uint32) nkeys);
	for (i = 0; i < nkeys; i++)
		fp_str(h, knulls[i] ? "" : TextDatumGetCString(keys[i]));

	values[0] = Int32GetDatum(set.id);
	read_rows(psprintf("SELECT sp.name, sp.dims, sp.mean, a.key, a.e FROM %s.relvec_anchors a "
					   "JOIN %s.relvec_spaces sp ON sp.space_id = a.space_id WHERE a.set_id = $1 "
					   "ORDER BY sp.name COLLATE \"C\", a.ord", schema, schema),
			  1, types, values);
	for (r = 0; r < SPI_processed; r++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		if (space == NULL || strcmp(space, name) != 0)
		{
			fp_str(h, "space");
			fp_str(h, name);
			fp_u32(h, (uint32) DatumGetInt32(cell(r, 2, &isnull)));
			fp_embedding_cell(h, r, 3);
			space = name;
		}
		fp_str(h, TextDatumGetCString(cell(r, 4, &isnull)));
		fp_embedding_cell(h, r, 5);
	}
	if (from_space != NULL)
	{
		bool		isnull;
		ArrayType  *m;
		Datum	   *elems;
		bool	   *enulls;
		int			n;

		get_translation(schema, anchor_set, set.id, from_space, to_space);
		fp_str(h, "translation");
		fp_str(h, from_space);
		fp_str(h, to_space);
		fp_str(h, TextDatumGetCString(cell(0, 1, &isnull)));
		for (i = 2; i <= 5; i++)
			fp_embedding_cell(h, 0, i);
		m = DatumGetArrayTypeP(cell(0, 6, &isnull));
		deconstruct_array(m, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT, &elems, &enulls, &n);
		fp_u32(h, (uint32) n);
		for (i = 0; i < n; i++)
		{
			float4		f = enulls[i] ? 0 : DatumGetFloat4(elems[i]);
			uint32		bits;

			memcpy(&bits, &f, 4);
			fp_u32(h, bits);
		}
		fp_embedding_cell(h, 0, 7);
	}
	if (pg_cryptohash_final(h, digest, sizeof(digest)) < 0)
		elog(ERROR, "relvec: could not finish a SHA-256 hash: %s", pg_cryptohash_error(h));
	pg_cryptohash_free(h);
	catalog_done(level);

	hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);
	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
	return hex;
}

/* Argument n as a C string, or NULL when it is null. */
static char *
opt_text(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

PG_FUNCTION_INFO_V1(relvec_catalog_fingerprint);
/*
 * relvec_catalog_fingerprint(anchor_set, from_space, to_space): the SHA-256 of the set's
 * canonical form (its spaces and anchors), and of the translation when both spaces are given.
 */
Datum
relvec_catalog_fingerprint(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("anchor set must not be null")));
	PG_RETURN_TEXT_P(cstring_to_text(rvpg_catalog_fingerprint(opt_text(fcinfo, 0), opt_text(fcinfo, 1),
															  opt_text(fcinfo, 2))));
}

/* ---------------------------------------------------------------------------------------
 * Publishing to a shard
 * --------------------------------------------------------------------------------------- */

/* The text form of an embedding cell, untagged ("[1,2,3]"), or NULL. */
static char *
embedding_text(uint64 r, int c)
{
	bool		isnull;
	Datum		d = cell(r, c, &isnull);
	Embedding  *e;
	char	   *buf;

	if (isnull)
		return NULL;
	e = DatumGetEmbedding(d);
	buf = palloc(rv_format_text_size(e->dim));
	rv_format_text(e->x, e->dim, buf);
	return buf;
}

/* Append an element to an array literal being built ("{" already written). */
static void
array_elem(StringInfo s, const char *quoted_elem)
{
	if (s->len > 1)
		appendStringInfoChar(s, ',');
	appendStringInfoString(s, quoted_elem);
}

/* A text value as a double-quoted array element. */
static char *
array_quote(const char *v)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoChar(&s, '"');
	for (; *v; v++)
	{
		if (*v == '"' || *v == '\\')
			appendStringInfoChar(&s, '\\');
		appendStringInfoChar(&s, *v);
	}
	appendStringInfoChar(&s, '"');
	return s.data;
}

/* A foreign server of postgres_fdw the caller may use (42704, 0A000, 42501 otherwise). */
static ForeignServer *
publish_server(const char *name)
{
	ForeignServer *server = GetForeignServerByName(name, false);
	ForeignDataWrapper *fdw = GetForeignDataWrapper(server->fdwid);
	char	   *handler = OidIsValid(fdw->fdwhandler) ? get_func_name(fdw->fdwhandler) : NULL;
	AclResult	acl;

	if (handler == NULL || strcmp(handler, "postgres_fdw_handler") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("server \"%s\" is not a postgres_fdw server", name)));
	acl = pg_foreign_server_aclcheck(server->serverid, GetUserId(), ACL_USAGE);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_FOREIGN_SERVER, name);
	return server;
}

/* Run one statement on a shard and return its single value (NULL when null). */
static char *
remote_value(PGconn *conn, const char *server, const char *sql, int n, const char *const *params)
{
	PGresult   *res;
	char	   *v = NULL;

	rvshard_send(conn, server, sql, n, params);
	res = rvshard_wait(conn, server, sql);
	if (PQntuples(res) == 1 && PQnfields(res) >= 1 && !PQgetisnull(res, 0, 0))
		v = pstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

PG_FUNCTION_INFO_V1(relvec_publish);
/*
 * relvec_publish(server, anchor_set, from_space, to_space, replace): copy a frozen anchor
 * set (its spaces and anchors) and optionally the translation fitted on it from from_space
 * to to_space onto a shard, then check the shard's fingerprint equals ours; returns it.
 */
Datum
relvec_publish(PG_FUNCTION_ARGS)
{
	const char *server_name;
	char	   *set_name;
	char	   *from;
	char	   *to;
	bool		replace;
	ForeignServer *server;
	PGconn	   *conn;
	const char *rschema;
	char	   *local_fp;
	char	   *remote_fp;
	char	   *schema;
	int			level;
	fp_set		set;
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	uint64		r;
	List	   *space_sql = NIL;	/* per space: its five parameters, as char *[5] */
	StringInfoData spaces;
	StringInfoData anchors;
	char	   *tparams[11];
	const char *aparams[5];
	ListCell   *lc;
	char	   *last = NULL;
	char	   *sql;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("server must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("anchor set must not be null")));
	if (PG_ARGISNULL(4))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("replace must not be null")));
	server_name = NameStr(*PG_GETARG_NAME(0));
	set_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	from = opt_text(fcinfo, 2);
	to = opt_text(fcinfo, 3);
	replace = PG_GETARG_BOOL(4);
	check_translation_args(from, to);
	server = publish_server(server_name);

	/* what to send, read from our catalog (and its fingerprint) */
	local_fp = rvpg_catalog_fingerprint(set_name, from, to);
	level = catalog_open();
	schema = rvpg_catalog_schema();
	set = get_set(schema, set_name);
	if (!set.frozen)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("anchor set \"%s\" is not frozen", set_name),
				 errhint("Freeze it with relvec_freeze_anchor_set() before publishing it.")));
	values[0] = Int32GetDatum(set.id);
	read_rows(psprintf("SELECT sp.name, sp.dims::text, sp.description, sp.mean, a.e FROM %s.relvec_anchors a "
					   "JOIN %s.relvec_spaces sp ON sp.space_id = a.space_id WHERE a.set_id = $1 "
					   "ORDER BY sp.name COLLATE \"C\", a.ord", schema, schema),
			  1, types, values);
	initStringInfo(&spaces);
	initStringInfo(&anchors);
	appendStringInfoChar(&spaces, '{');
	appendStringInfoChar(&anchors, '{');
	for (r = 0; r < SPI_processed; r++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);

		CHECK_FOR_INTERRUPTS();
		if (last == NULL || strcmp(last, name) != 0)
		{
			char	  **p = palloc(sizeof(char *) * 5);

			p[0] = name;
			p[1] = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);
			p[2] = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3);
			p[3] = embedding_text(r, 4);
			p[4] = replace ? "true" : "false";
			space_sql = lappend(space_sql, p);
			array_elem(&spaces, array_quote(name));
			last = name;
		}
		array_elem(&anchors, array_quote(embedding_text(r, 5)));
	}
	appendStringInfoChar(&spaces, '}');
	appendStringInfoChar(&anchors, '}');
	if (space_sql == NIL)
		elog(ERROR, "relvec: frozen anchor set \"%s\" has no anchors", set_name);
	if (from != NULL)
	{
		int			i;

		get_translation(schema, set_name, set.id, from, to);
		tparams[0] = set_name;
		tparams[1] = from;
		tparams[2] = to;
		tparams[3] = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		for (i = 2; i <= 5; i++)
			tparams[2 + i] = embedding_text(0, i);
		/* real[] printed with extra_float_digits = 3: every value exactly */
		tparams[8] = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6);
		tparams[9] = embedding_text(0, 7);
		tparams[10] = replace ? "true" : "false";
	}

	/*
	 * The shard's side, in postgres_fdw's remote transaction (still connected to SPI: what
	 * was read lives in its memory).
	 */
	rschema = rvshard_relvec_schema();
	conn = rvshard_connect(server->serverid, InvalidOid);
	sql = psprintf("SELECT %s.relvec_import_space($1, $2::pg_catalog.int4, $3, $4::%s.embedding, $5::pg_catalog.bool)",
				   rschema, rschema);
	foreach(lc, space_sql)
		(void) remote_value(conn, server_name, sql, 5, (const char *const *) lfirst(lc));
	aparams[0] = set_name;
	aparams[1] = set.keys;
	aparams[2] = spaces.data;
	aparams[3] = anchors.data;
	aparams[4] = replace ? "true" : "false";
	(void) remote_value(conn, server_name,
						psprintf("SELECT %s.relvec_import_anchor_set($1, $2::pg_catalog.text[], $3::pg_catalog.text[], "
								 "$4::%s.embedding[], $5::pg_catalog.bool)", rschema, rschema),
						5, aparams);
	if (from != NULL)
		(void) remote_value(conn, server_name,
							psprintf("SELECT %s.relvec_import_translation($1, $2, $3, $4, $5::%s.embedding, "
									 "$6::%s.embedding, $7::%s.embedding, $8::%s.embedding, $9::pg_catalog.float4[], "
									 "$10::%s.embedding, $11::pg_catalog.bool)",
									 rschema, rschema, rschema, rschema, rschema, rschema),
							11, (const char *const *) tparams);
	{
		const char *fparams[3] = {set_name, from, to};

		remote_fp = remote_value(conn, server_name,
								 psprintf("SELECT %s.relvec_catalog_fingerprint($1, $2, $3)", rschema),
								 3, fparams);
	}
	if (remote_fp == NULL || strcmp(remote_fp, local_fp) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("anchor set \"%s\" on shard \"%s\" still differs from this server's after publishing",
						set_name, server_name),
				 errdetail("Fingerprints %s here, %s there.", local_fp, remote_fp ? remote_fp : "none")));
	catalog_done(level);
	PG_RETURN_TEXT_P(cstring_to_text(local_fp));
}
