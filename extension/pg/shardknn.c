/*
 * shardknn.c — relvec_shard_knn and relvec_shard_stitch_knn: relvec_knn and
 * relvec_stitch_knn over a corpus that is a partitioned table whose leaf partitions are
 * postgres_fdw foreign tables on shard servers with relvec (shard.h).
 *
 * How a search runs. The queries text runs here, read a chunk at a time as relvec_knn
 * reads it (spiread.c: the same checks and messages). Each chunk of queries becomes one
 * query text over an embedding[] literal (untagged values in their exact text form,
 * numbered by their position), which travels to the shards as a parameter, so that the
 * vectors stay out of the remote statement a shard's error quotes. Every shard server gets
 * one statement, relvec_knn (or relvec_stitch_knn) of those queries over all its
 * partitions at once (UNION ALL of the remote tables); the statements are sent to every
 * server first and then waited for, so the shards work at the same time, each returning
 * at most k rows per query: the corpus never leaves its shard. The answers are merged
 * here into the k best per query.
 *
 * The merge and its tie rule. Each shard's rows carry the exact float8 distance of the
 * operator (computed by the same code as on one server), so merging the shards' k best by
 * distance gives exactly the k best of the whole table. Equal distances go to the shard
 * whose first partition comes first (partitions in the order of their OIDs: the order in
 * which they were created), then to the shard's own order (relvec_knn's: the order in
 * which its corpus query returns rows, its partitions in the same order). One server
 * holding the same rows in one table breaks ties by its own scan order instead, so only
 * exactly equal distances can come out in another order.
 *
 * Stitching across shards needs the same anchor set (and translation) everywhere: before
 * searching, the fingerprint of what the search uses (shardcatalog.c) is compared with
 * every shard's, and a shard that lacks the object or holds another version is refused
 * (55000, naming it and the object); relvec_publish makes them equal.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "relvec_catalog.h"
#include "shard.h"
#include "spiread.h"

/* Text of query vectors shipped per chunk, and candidates merged per chunk (bounds). */
#define SHARD_QUERY_BYTES ((Size) 32 << 20)
#define SHARD_CHUNK_HITS ((Size) 4 << 20)

/* One shard server: its partitions' corpus text and its connection. */
typedef struct shard_server
{
	Oid			serverid;
	char	   *name;
	StringInfoData corpus;		/* SELECT key, vec FROM part [UNION ALL ...] */
	PGconn	   *conn;
} shard_server;

/* One candidate of a query, from one shard. */
typedef struct shard_hit
{
	double		dist;
	int			server;			/* position of its server */
	int			rank;			/* its rank on that shard */
	char	   *key;
} shard_hit;

/* A search over the shards. */
typedef struct shard_search
{
	const char *fn;				/* the SQL function, for the DEBUG lines */
	List	   *servers;		/* shard_server *, in the order of their first partitions */
	const char *schema;			/* relvec's quoted schema (the same on every server) */
	const char *sql;			/* the remote statement */
	int			nparams;
	const char *params[9];		/* its parameters; the query and corpus slots are per chunk */
	int			qslot;
	int			cslot;
	int			k;
	const char *tag_space;		/* relvec_shard_knn: tag shipped queries with this space */
	Oid			key_in;			/* the corpus key's type: shard text back into ours */
	Oid			key_ioparam;
	Oid			key_out;
	bool		key_is_text;
} shard_search;

/* The parts of the corpus that the caller names: columns, shards, checks done. */
typedef struct shard_corpus
{
	Oid			rel;
	char	   *key;			/* column names (local) */
	char	   *vec;
	Oid			key_type;
} shard_corpus;

/* Raise 22004 "<name> must not be null" for the first null argument. */
static void
check_nulls(FunctionCallInfo fcinfo, const char *const *names, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", names[i])));
}

/* The number of an existing user column by name (42703 otherwise, system columns too). */
static AttrNumber
column_number(Oid rel, const char *name)
{
	AttrNumber	att = get_attnum(rel, name);

	if (att <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist", name, get_rel_name(rel))));
	return att;
}

/* The single column of a one-column primary key of rel, or InvalidAttrNumber. */
static AttrNumber
primary_key_column(Oid rel)
{
	Relation	r = relation_open(rel, AccessShareLock);
	Oid			pk = RelationGetPrimaryKeyIndex(r);
	AttrNumber	att = InvalidAttrNumber;

	if (OidIsValid(pk))
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pk));

		if (HeapTupleIsValid(tup))
		{
			Form_pg_index idx = (Form_pg_index) GETSTRUCT(tup);

			if (idx->indnkeyatts == 1)
				att = idx->indkey.values[0];
			ReleaseSysCache(tup);
		}
	}
	relation_close(r, AccessShareLock);
	return att;
}

/*
 * Check the corpus: a partitioned table (42809), readable by the caller (42501), with a
 * vector column of type embedding and a key column (named, or found: the single embedding
 * column; the one-column primary key, else the first other column).
 */
static shard_corpus
resolve_corpus(Oid rel, Oid emb, Name key_column, Name vector_column)
{
	shard_corpus c;
	AttrNumber	vatt = InvalidAttrNumber;
	AttrNumber	katt = InvalidAttrNumber;
	Relation	r;
	TupleDesc	desc;
	int			i;
	int			found = 0;
	char	   *relname = get_rel_name(rel);

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", rel)));
	if (get_rel_relkind(rel) != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a partitioned table", relname),
				 errhint("The sharded functions search a partitioned table whose partitions are postgres_fdw foreign tables; use relvec_knn for a local table.")));
	/* the shards' answers would bypass the table's policies: refuse rather than leak */
	if (check_enable_rls(rel, InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("row-level security is enabled for \"%s\": its sharded search would not apply the policies", relname),
				 errhint("Query it with ORDER BY ... LIMIT, which applies them.")));
	r = relation_open(rel, AccessShareLock);
	desc = RelationGetDescr(r);
	if (vector_column != NULL)
	{
		vatt = column_number(rel, NameStr(*vector_column));
		if (getBaseType(TupleDescAttr(desc, vatt - 1)->atttypid) != emb)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of relation \"%s\" is not of type embedding",
							NameStr(*vector_column), relname)));
	}
	else
	{
		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(desc, i);

			if (!a->attisdropped && getBaseType(a->atttypid) == emb)
			{
				found++;
				vatt = a->attnum;
			}
		}
		if (found != 1)
			ereport(ERROR,
					(errcode(found == 0 ? ERRCODE_DATATYPE_MISMATCH : ERRCODE_AMBIGUOUS_COLUMN),
					 errmsg(found == 0 ? "relation \"%s\" has no column of type embedding" :
							"relation \"%s\" has more than one column of type embedding", relname),
					 found > 1 ? errhint("Name the one to search with vector_column => ...") : 0));
	}
	if (key_column != NULL)
		katt = column_number(rel, NameStr(*key_column));
	else
	{
		katt = primary_key_column(rel);
		for (i = 0; katt == InvalidAttrNumber && i < desc->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(desc, i);

			if (!a->attisdropped && a->attnum != vatt)
				katt = a->attnum;
		}
		if (katt == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("relation \"%s\" has no key column besides its embedding", relname),
					 errhint("Name one with key_column => ...")));
	}
	c.rel = rel;
	c.key = pstrdup(NameStr(TupleDescAttr(desc, katt - 1)->attname));
	c.vec = pstrdup(NameStr(TupleDescAttr(desc, vatt - 1)->attname));
	c.key_type = TupleDescAttr(desc, katt - 1)->atttypid;
	relation_close(r, AccessShareLock);

	/* the caller reads the parent's two columns, as SELECT key, vec FROM parent would */
	if (pg_class_aclcheck(rel, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
		(pg_attribute_aclcheck(rel, katt, GetUserId(), ACL_SELECT) != ACLCHECK_OK ||
		 pg_attribute_aclcheck(rel, vatt, GetUserId(), ACL_SELECT) != ACLCHECK_OK))
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, relname);
	return c;
}

/* The shard servers of the corpus, each with the corpus text over its partitions. */
static List *
shard_servers(const shard_corpus *c)
{
	List	   *parts = rvshard_parts(c->rel, false);
	List	   *servers = NIL;
	ListCell   *lc;

	foreach(lc, parts)
	{
		RvShardPart *p = (RvShardPart *) lfirst(lc);
		shard_server *s = NULL;
		ListCell   *ls;

		foreach(ls, servers)
			if (((shard_server *) lfirst(ls))->serverid == p->serverid)
				s = (shard_server *) lfirst(ls);
		if (s == NULL)
		{
			s = palloc0(sizeof(shard_server));
			s->serverid = p->serverid;
			s->name = p->server;
			initStringInfo(&s->corpus);
			servers = lappend(servers, s);
		}
		else
			appendStringInfoString(&s->corpus, " UNION ALL ");
		appendStringInfo(&s->corpus, "SELECT %s, %s FROM %s",
						 rvshard_remote_column(p->relid, column_number(p->relid, c->key)),
						 rvshard_remote_column(p->relid, column_number(p->relid, c->vec)),
						 p->remote);
	}
	return servers;
}

/* Open a connection to every server (postgres_fdw's: 08001 naming one that is down). */
static void
connect_servers(List *servers)
{
	ListCell   *lc;

	foreach(lc, servers)
	{
		shard_server *s = (shard_server *) lfirst(lc);

		s->conn = rvshard_connect(s->serverid, InvalidOid);
	}
}

/* Order of merged candidates: distance, then server position, then the shard's rank. */
static int
hit_cmp(const void *a, const void *b)
{
	const shard_hit *x = a;
	const shard_hit *y = b;

	if (x->dist != y->dist)
		return x->dist < y->dist ? -1 : 1;
	if (x->server != y->server)
		return x->server < y->server ? -1 : 1;
	return x->rank < y->rank ? -1 : (x->rank > y->rank ? 1 : 0);
}

/* A corpus key as the shard printed it, printed as this session prints its type. */
static Datum
local_key(const shard_search *s, const char *key)
{
	int			nest;
	Datum		v;

	if (s->key_is_text)
		return CStringGetTextDatum(key);
	/* read as the shard printed it (ISO dates, exact floats), printed as this session prints */
	nest = rvshard_transmission_modes();
	v = OidInputFunctionCall(s->key_in, (char *) key, s->key_ioparam, -1);
	rvshard_reset_modes(nest);
	return CStringGetTextDatum(OidOutputFunctionCall(s->key_out, v));
}

/*
 * Search the shards for nq queries whose vectors are the elements of the embedding[]
 * literal vecs, and put the k best of each into the result.
 */
static void
search_chunk(shard_search *s, FunctionCallInfo fcinfo, char **qkeys, uint64 nq, const char *vecs)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			nsrv = list_length(s->servers);
	Size		per = (Size) nsrv * s->k;
	shard_hit  *hits = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(shard_hit) * per * nq);
	int		   *counts = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int) * nq);
	char	   *qtext;
	ListCell   *lc;
	int			pos;
	uint64		qi;

	memset(counts, 0, sizeof(int) * nq);
	if (s->tag_space != NULL)
		qtext = psprintf("SELECT q.i, %s.relvec_tag(q.e, %s) FROM pg_catalog.unnest(%s::%s.embedding[]) "
						 "WITH ORDINALITY AS q(e, i)", s->schema, quote_literal_cstr(s->tag_space),
						 quote_literal_cstr(vecs), s->schema);
	else
		qtext = psprintf("SELECT q.i, q.e FROM pg_catalog.unnest(%s::%s.embedding[]) WITH ORDINALITY AS q(e, i)",
						 quote_literal_cstr(vecs), s->schema);
	s->params[s->qslot] = qtext;
	foreach(lc, s->servers)
	{
		shard_server *srv = (shard_server *) lfirst(lc);

		s->params[s->cslot] = srv->corpus.data;
		rvshard_send(srv->conn, srv->name, s->sql, s->nparams, s->params);
	}
	pos = 0;
	foreach(lc, s->servers)
	{
		shard_server *srv = (shard_server *) lfirst(lc);
		PGresult   *res = rvshard_wait(srv->conn, srv->name, s->sql);
		int			n = PQntuples(res);
		int			r;
		bool		bad = PQnfields(res) != 4;

		for (r = 0; r < n && !bad; r++)
		{
			long		q = strtol(PQgetvalue(res, r, 0), NULL, 10);
			shard_hit  *h;

			if (q < 1 || (uint64) q > nq || counts[q - 1] >= s->k * (pos + 1))
			{
				bad = true;
				break;
			}
			h = &hits[(q - 1) * per + counts[q - 1]++];
			h->server = pos;
			h->rank = atoi(PQgetvalue(res, r, 1));
			h->key = pstrdup(PQgetvalue(res, r, 2));
			h->dist = strtod(PQgetvalue(res, r, 3), NULL);
		}
		PQclear(res);
		if (bad)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("shard \"%s\" returned an unexpected answer to %s", srv->name, s->fn)));
		ereport(DEBUG1,
				(errmsg_internal("%s: shard \"%s\" returned %d rows for " UINT64_FORMAT " queries",
								 s->fn, srv->name, n, nq)));
		pos++;
	}
	for (qi = 0; qi < nq; qi++)
	{
		shard_hit  *h = hits + qi * per;
		int			r;

		qsort(h, counts[qi], sizeof(shard_hit), hit_cmp);
		for (r = 0; r < counts[qi] && r < s->k; r++)
		{
			Datum		values[4];
			bool		nulls[4] = {false, false, false, false};

			values[0] = CStringGetTextDatum(qkeys[qi]);
			values[1] = Int32GetDatum(r + 1);
			values[2] = local_key(s, h[r].key);
			values[3] = Float8GetDatum(h[r].dist);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
}

/*
 * Read the queries (in space, of dims dimensions, when space is named) a chunk at a time
 * and search the shards for each chunk.
 */
static void
run_search(shard_search *s, FunctionCallInfo fcinfo, const char *queries, const char *space, int dims)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "relvec shard search",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext chunk = AllocSetContextCreate(cxt, "relvec shard chunk", ALLOCSET_DEFAULT_SIZES);
	Oid			emb = rvpg_embedding_type(fcinfo);
	SPIPlanPtr	plan;
	rvpg_reader qr;
	int			common_space = 0;
	uint64		max_rows = Max(SHARD_CHUNK_HITS / ((Size) list_length(s->servers) * s->k), 1);
	uint64		fetch = Min(max_rows, (uint64) RVPG_FETCH_ROWS);
	char	  **qkeys = NULL;
	uint64		nq = 0;
	StringInfoData vecs;
	char	   *buf = NULL;

	SPI_connect();
	plan = rvpg_prepare_key_embedding(queries, "the queries", emb);
	rvpg_reader_open(&qr, plan, cxt, "query", "the queries", space, "the first query has", dims);
	if (space == NULL)
		qr.tags = &common_space;
	for (;;)
	{
		uint64		got = rvpg_reader_next(&qr, Min(fetch, max_rows - nq));
		uint64		i;
		MemoryContext old = MemoryContextSwitchTo(chunk);

		if (got > 0 && nq == 0)
		{
			qkeys = palloc(sizeof(char *) * max_rows);
			initStringInfo(&vecs);
			appendStringInfoChar(&vecs, '{');
			buf = palloc(rv_format_text_size(qr.dims));
		}
		for (i = 0; i < got; i++)
		{
			qkeys[nq + i] = rvpg_reader_key(&qr, i);
			rv_format_text(qr.buf + i * qr.dims, qr.dims, buf);
			appendStringInfoString(&vecs, nq + i > 0 ? ",\"" : "\"");
			appendStringInfoString(&vecs, buf);
			appendStringInfoChar(&vecs, '"');
		}
		nq += got;
		if (nq > 0 && (got == 0 || nq >= max_rows || (Size) vecs.len >= SHARD_QUERY_BYTES))
		{
			appendStringInfoChar(&vecs, '}');
			if (space == NULL && common_space != 0)
				s->tag_space = rvpg_space_name(common_space);
			search_chunk(s, fcinfo, qkeys, nq, vecs.data);
			nq = 0;
			MemoryContextSwitchTo(old);
			MemoryContextReset(chunk);
		}
		else
			MemoryContextSwitchTo(old);
		CHECK_FOR_INTERRUPTS();
		if (got == 0)
			break;
	}
	rvpg_reader_close(&qr);
	SPI_finish();
	MemoryContextDelete(cxt);
}

/* The common part of both functions: servers, connections, key conversion. */
static void
search_init(shard_search *s, const char *fn, const shard_corpus *c, int k)
{
	memset(s, 0, sizeof(*s));
	s->fn = fn;
	s->k = k;
	s->schema = rvshard_relvec_schema();
	s->servers = shard_servers(c);
	s->key_is_text = c->key_type == TEXTOID;
	getTypeInputInfo(c->key_type, &s->key_in, &s->key_ioparam);
	{
		bool		varlena;

		getTypeOutputInfo(c->key_type, &s->key_out, &varlena);
	}
}

static const char *const knn_arg_names[] = {"queries", "corpus", "k", "metric"};

PG_FUNCTION_INFO_V1(relvec_shard_knn);
/*
 * relvec_shard_knn(queries, corpus, k, metric, key_column, vector_column): relvec_knn of the
 * queries over a sharded table, run on every shard and merged.
 */
Datum
relvec_shard_knn(PG_FUNCTION_ARGS)
{
	shard_search s;
	shard_corpus c;
	rv_metric	metric;
	int			k;
	char	   *metric_name;

	check_nulls(fcinfo, knn_arg_names, 4);
	k = PG_GETARG_INT32(2);
	rvpg_knn_check_k(k);
	metric_name = text_to_cstring(PG_GETARG_TEXT_PP(3));
	RVPG_CHECK(rv_metric_parse(rvpg_ctx(), metric_name, &metric));
	c = resolve_corpus(PG_GETARG_OID(1), rvpg_embedding_type(fcinfo),
					   PG_ARGISNULL(4) ? NULL : PG_GETARG_NAME(4),
					   PG_ARGISNULL(5) ? NULL : PG_GETARG_NAME(5));
	InitMaterializedSRF(fcinfo, 0);
	search_init(&s, "relvec_shard_knn", &c, k);
	if (s.servers == NIL)
		return (Datum) 0;
	s.sql = psprintf("SELECT query_key, rank, corpus_key, distance FROM %s.relvec_knn($1, $2, $3::pg_catalog.int4, $4)",
					 s.schema);
	s.nparams = 4;
	s.qslot = 0;
	s.cslot = 1;
	s.params[2] = psprintf("%d", k);
	s.params[3] = metric_name;
	connect_servers(s.servers);
	run_search(&s, fcinfo, text_to_cstring(PG_GETARG_TEXT_PP(0)), NULL, 0);
	return (Datum) 0;
}

/*
 * Refuse (55000) a shard whose copy of the anchor set, or of the translation from_space ->
 * to_space when from_space is given, is missing or differs from ours.
 */
static void
check_shard_catalogs(const shard_search *s, const char *set, const char *from, const char *to)
{
	char	   *set_fp = rvpg_catalog_fingerprint(set, NULL, NULL);
	char	   *trans_fp = from ? rvpg_catalog_fingerprint(set, from, to) : NULL;
	char	   *sql;
	const char *params[3] = {set, from ? from : "", to ? to : ""};
	ListCell   *lc;

	sql = psprintf("SELECT (SELECT %s.relvec_catalog_fingerprint(s.name) FROM %s.relvec_anchor_sets s WHERE s.name = $1), "
				   "(SELECT %s.relvec_catalog_fingerprint(s.name, f.name, g.name) FROM %s.relvec_translations t "
				   "JOIN %s.relvec_anchor_sets s ON s.set_id = t.set_id "
				   "JOIN %s.relvec_spaces f ON f.space_id = t.from_space_id "
				   "JOIN %s.relvec_spaces g ON g.space_id = t.to_space_id "
				   "WHERE s.name = $1 AND f.name = $2 AND g.name = $3)",
				   s->schema, s->schema, s->schema, s->schema, s->schema, s->schema, s->schema);
	foreach(lc, s->servers)
	{
		shard_server *srv = (shard_server *) lfirst(lc);

		rvshard_send(srv->conn, srv->name, sql, 3, params);
	}
	foreach(lc, s->servers)
	{
		shard_server *srv = (shard_server *) lfirst(lc);
		PGresult   *res = rvshard_wait(srv->conn, srv->name, sql);
		char	   *got_set = NULL;
		char	   *got_trans = NULL;

		if (PQntuples(res) == 1 && PQnfields(res) == 2)
		{
			if (!PQgetisnull(res, 0, 0))
				got_set = pstrdup(PQgetvalue(res, 0, 0));
			if (!PQgetisnull(res, 0, 1))
				got_trans = pstrdup(PQgetvalue(res, 0, 1));
		}
		PQclear(res);
		if (got_set == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("anchor set \"%s\" does not exist on shard \"%s\"", set, srv->name),
					 errhint("Copy it there with relvec_publish('%s', '%s').", srv->name, set)));
		if (strcmp(got_set, set_fp) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("anchor set \"%s\" on shard \"%s\" differs from this server's", set, srv->name),
					 errdetail("Catalog fingerprints %s here, %s there.", set_fp, got_set),
					 errhint("Copy this server's with relvec_publish('%s', '%s', replace => true).",
							 srv->name, set)));
		if (from == NULL)
			continue;
		if (got_trans == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the translation from space \"%s\" to space \"%s\" in anchor set \"%s\" does not exist on shard \"%s\"",
							from, to, set, srv->name),
					 errhint("Copy it there with relvec_publish('%s', '%s', '%s', '%s').",
							 srv->name, set, from, to)));
		if (strcmp(got_trans, trans_fp) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the translation from space \"%s\" to space \"%s\" in anchor set \"%s\" on shard \"%s\" differs from this server's",
							from, to, set, srv->name),
					 errdetail("Catalog fingerprints %s here, %s there.", trans_fp, got_trans),
					 errhint("Copy this server's with relvec_publish('%s', '%s', '%s', '%s', replace => true).",
							 srv->name, set, from, to)));
	}
}

static const char *const stitch_arg_names[] = {"queries", "query_space", "corpus", "corpus_space",
"anchor_set", "k", "via", "similarity", "center"};

PG_FUNCTION_INFO_V1(relvec_shard_stitch_knn);
/*
 * relvec_shard_stitch_knn(queries, query_space, corpus, corpus_space, anchor_set, k, via,
 * similarity, center, key_column, vector_column): relvec_stitch_knn over a sharded table,
 * after checking every shard has this server's anchor set (and translation).
 */
Datum
relvec_shard_stitch_knn(PG_FUNCTION_ARGS)
{
	shard_search s;
	shard_corpus c;
	rv_sim		sims[RV_MAX_SIMS];
	int			nsims;
	rv_center	center;
	char	   *query_space;
	char	   *corpus_space;
	char	   *set;
	char	   *via;
	char	   *similarity;
	char	   *center_name;
	int			k;
	int			qdims;
	bool		translation = false;

	check_nulls(fcinfo, stitch_arg_names, 9);
	query_space = text_to_cstring(PG_GETARG_TEXT_PP(1));
	corpus_space = text_to_cstring(PG_GETARG_TEXT_PP(3));
	set = text_to_cstring(PG_GETARG_TEXT_PP(4));
	k = PG_GETARG_INT32(5);
	via = text_to_cstring(PG_GETARG_TEXT_PP(6));
	similarity = text_to_cstring(PG_GETARG_TEXT_PP(7));
	center_name = text_to_cstring(PG_GETARG_TEXT_PP(8));
	rvpg_knn_check_k(k);
	RVPG_CHECK(rv_sim_list_parse(rvpg_ctx(), similarity, sims, &nsims));
	RVPG_CHECK(rv_center_parse(rvpg_ctx(), center_name, &center));

	/* this server's catalog gives relvec_stitch_knn's errors, and the queries' dimensions */
	if (strcmp(via, "relative") == 0 || strcmp(via, "absolute") == 0)
	{
		rvpg_projection_key key;
		uint64		token;
		int			cdims;

		key.anchor_set = set;
		key.space = query_space;
		key.similarity = similarity;
		key.center = center_name;
		key.normalize = false;
		(void) rvpg_get_projection(&key, &qdims, &token);
		key.space = corpus_space;
		(void) rvpg_get_projection(&key, &cdims, &token);
		if (strcmp(via, "absolute") == 0 && qdims != cdims)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("spaces \"%s\" and \"%s\" have different dimensions %d and %d",
							query_space, corpus_space, qdims, cdims),
					 errhint("Absolute vectors of two spaces compare only at equal dimensions; use via => 'relative' or 'translation'.")));
	}
	else if (strcmp(via, "translation") == 0)
	{
		qdims = (int) rvpg_get_translation(set, query_space, corpus_space)->d_from;
		translation = true;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown route \"%s\": expected relative, translation or absolute", via)));

	c = resolve_corpus(PG_GETARG_OID(2), rvpg_embedding_type(fcinfo),
					   PG_ARGISNULL(9) ? NULL : PG_GETARG_NAME(9),
					   PG_ARGISNULL(10) ? NULL : PG_GETARG_NAME(10));
	InitMaterializedSRF(fcinfo, 0);
	search_init(&s, "relvec_shard_stitch_knn", &c, k);
	if (s.servers == NIL)
		return (Datum) 0;
	connect_servers(s.servers);
	check_shard_catalogs(&s, set, translation ? query_space : NULL, translation ? corpus_space : NULL);
	s.sql = psprintf("SELECT query_key, rank, corpus_key, distance FROM %s.relvec_stitch_knn($1, $2, $3, $4, $5, "
					 "$6::pg_catalog.int4, $7, $8, $9)", s.schema);
	s.nparams = 9;
	s.qslot = 0;
	s.cslot = 2;
	s.params[1] = query_space;
	s.params[3] = corpus_space;
	s.params[4] = set;
	s.params[5] = psprintf("%d", k);
	s.params[6] = via;
	s.params[7] = similarity;
	s.params[8] = center_name;
	run_search(&s, fcinfo, text_to_cstring(PG_GETARG_TEXT_PP(0)), query_space, qdims);
	return (Datum) 0;
}
