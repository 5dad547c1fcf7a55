/*
 * shardconn.c — the shards of a partitioned table and the connections to them (shard.h).
 *
 * A shard is a leaf partition that is a postgres_fdw foreign table on a server whose
 * `extensions` option names relvec (the declaration that the server has relvec, the same
 * version, in the same schema: postgres_fdw ships relvec's operators to it on that word).
 * Connections are postgres_fdw's own (GetConnection, looked up in its library at run time),
 * so relvec's shard statements run in the remote transaction postgres_fdw opened for the
 * local one: they see what the statement's other foreign scans see, writes made earlier in
 * the transaction included, and postgres_fdw's abort callback cancels a statement still
 * running on a shard when the local statement fails, is cancelled or times out.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_inherits.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/varlena.h"
#include "utils/wait_event.h"

#include "shard.h"

/* postgres_fdw's connection.c (PostgreSQL 15): PGconn *GetConnection(UserMapping *, bool, PgFdwConnState **) */
typedef struct RvFdwConnState
{
	void	   *pendingAreq;	/* postgres_fdw.h's PgFdwConnState (15): a pending async request */
} RvFdwConnState;
typedef PGconn *(*rv_get_connection_fn) (UserMapping *user, bool will_prep_stmt, RvFdwConnState **state);

/* The value of option name in a list of DefElem, or NULL. */
static const char *
option_value(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		if (strcmp(d->defname, name) == 0)
			return defGetString(d);
	}
	return NULL;
}

/* Whether a comma-separated `extensions` option names relvec. */
static bool
declares_relvec(ForeignServer *server)
{
	const char *ext = option_value(server->options, "extensions");
	char	   *copy;
	List	   *names;
	ListCell   *lc;

	if (ext == NULL)
		return false;
	copy = pstrdup(ext);
	if (!SplitIdentifierString(copy, ',', &names))
		return false;
	foreach(lc, names)
		if (strcmp((char *) lfirst(lc), "relvec") == 0)
			return true;
	return false;
}

/* Whether a foreign data wrapper is postgres_fdw's (by its handler, not only its name). */
static bool
is_postgres_fdw(ForeignDataWrapper *fdw)
{
	char	   *handler;

	if (!OidIsValid(fdw->fdwhandler))
		return false;
	handler = get_func_name(fdw->fdwhandler);
	return handler != NULL && strcmp(handler, "postgres_fdw_handler") == 0;
}

static int
part_cmp(const ListCell *a, const ListCell *b)
{
	Oid			x = ((RvShardPart *) lfirst(a))->relid;
	Oid			y = ((RvShardPart *) lfirst(b))->relid;

	return x < y ? -1 : x > y ? 1 : 0;
}

List *
rvshard_parts(Oid rel, bool quiet)
{
	List	   *all;
	List	   *parts = NIL;
	ListCell   *lc;

	if (get_rel_relkind(rel) != RELKIND_PARTITIONED_TABLE)
		return NIL;
	all = find_all_inheritors(rel, AccessShareLock, NULL);
	foreach(lc, all)
	{
		Oid			relid = lfirst_oid(lc);
		char		kind = get_rel_relkind(relid);
		ForeignTable *ft;
		ForeignServer *server;
		RvShardPart *p;
		const char *schema;
		const char *table;

		if (kind == RELKIND_PARTITIONED_TABLE)
			continue;
		if (kind != RELKIND_FOREIGN_TABLE)
		{
			if (quiet)
				return NIL;
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("partition \"%s\" of \"%s\" is not a foreign table",
							get_rel_name(relid), get_rel_name(rel)),
					 errdetail("relvec's sharded search needs every leaf partition to be a postgres_fdw foreign table on a shard server.")));
		}
		ft = GetForeignTable(relid);
		server = GetForeignServer(ft->serverid);
		if (!is_postgres_fdw(GetForeignDataWrapper(server->fdwid)) || !declares_relvec(server))
		{
			if (quiet)
				return NIL;
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("partition \"%s\" of \"%s\" is not on a postgres_fdw server that declares relvec",
							get_rel_name(relid), get_rel_name(rel)),
					 errhint("Use postgres_fdw and ALTER SERVER %s OPTIONS (ADD extensions 'relvec').",
							 quote_identifier(server->servername))));
		}
		schema = option_value(ft->options, "schema_name");
		table = option_value(ft->options, "table_name");
		p = palloc(sizeof(RvShardPart));
		p->relid = relid;
		p->serverid = server->serverid;
		p->server = pstrdup(server->servername);
		p->remote = psprintf("%s.%s",
							 quote_identifier(schema ? schema : get_namespace_name(get_rel_namespace(relid))),
							 quote_identifier(table ? table : get_rel_name(relid)));
		parts = lappend(parts, p);
	}
	list_sort(parts, part_cmp);
	return parts;
}

char *
rvshard_remote_column(Oid relid, AttrNumber attnum)
{
	const char *name = option_value(GetForeignColumnOptions(relid, attnum), "column_name");

	return pstrdup(quote_identifier(name ? name : get_attname(relid, attnum, false)));
}

const char *
rvshard_relvec_schema(void)
{
	Oid			ext = get_extension_oid("relvec", false);
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			nsp = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(ext));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(nsp))
		elog(ERROR, "relvec's extension row is missing");
	return quote_identifier(get_namespace_name(nsp));
}

PGconn *
rvshard_connect(Oid serverid, Oid userid)
{
	static rv_get_connection_fn get_connection = NULL;
	RvFdwConnState *state = NULL;
	PGconn	   *conn;

	if (get_connection == NULL)
		get_connection = (rv_get_connection_fn)
			load_external_function("$libdir/postgres_fdw", "GetConnection", true, NULL);
	conn = get_connection(GetUserMapping(OidIsValid(userid) ? userid : GetUserId(), serverid), false, &state);
	if ((state != NULL && state->pendingAreq != NULL) || PQtransactionStatus(conn) == PQTRANS_ACTIVE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the connection to server \"%s\" is in use by another foreign scan of this statement",
						GetForeignServer(serverid)->servername),
				 errhint("Read the sharded table in a statement of its own, or SET relvec.shard_pushdown = off.")));
	return conn;
}

/* Raise a shard's error (res may be NULL: the connection's own message). */
static void
shard_error(PGconn *conn, PGresult *res, const char *server, const char *sql)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	int			code = ERRCODE_CONNECTION_FAILURE;
	char	   *msg;

	if (state != NULL && strlen(state) == 5)
		code = MAKE_SQLSTATE(state[0], state[1], state[2], state[3], state[4]);
	/* copies: the strings live in res, which goes before the report */
	msg = pstrdup(primary ? primary : pchomp(PQerrorMessage(conn)));
	detail = detail ? pstrdup(detail) : NULL;
	hint = hint ? pstrdup(hint) : NULL;
	if (res)
		PQclear(res);
	ereport(ERROR,
			(errcode(code),
			 errmsg("shard \"%s\": %s", server, msg),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0,
			 errcontext("remote SQL command on \"%s\": %s", server, sql)));
}

void
rvshard_send(PGconn *conn, const char *server, const char *sql,
			 int nparams, const char *const *values)
{
	if (!PQsendQueryParams(conn, sql, nparams, NULL, values, NULL, NULL, 0))
		shard_error(conn, NULL, server, sql);
}

/* Wait until conn has a complete answer (interruptible); false when the connection broke. */
static bool
wait_ready(PGconn *conn)
{
	while (PQisBusy(conn))
	{
		int			rc = WaitLatchOrSocket(MyLatch,
										   WL_LATCH_SET | WL_SOCKET_READABLE | WL_EXIT_ON_PM_DEATH,
										   PQsocket(conn), -1L, PG_WAIT_EXTENSION);

		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		if ((rc & WL_SOCKET_READABLE) && !PQconsumeInput(conn))
			return false;
	}
	return true;
}

PGresult *
rvshard_wait(PGconn *conn, const char *server, const char *sql)
{
	PGresult   *volatile last = NULL;
	bool		broken = false;

	/* a cancel or timeout while waiting must not leak the result already read (malloc'd) */
	PG_TRY();
	{
		for (;;)
		{
			PGresult   *res;

			if (!wait_ready(conn))
			{
				broken = true;
				break;
			}
			res = PQgetResult(conn);
			if (res == NULL)
				break;
			if (last)
				PQclear(last);
			last = res;
		}
	}
	PG_CATCH();
	{
		if (last)
			PQclear(last);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (broken)
	{
		if (last)
			PQclear(last);
		shard_error(conn, NULL, server, sql);
	}
	if (last == NULL || PQresultStatus(last) != PGRES_TUPLES_OK)
		shard_error(conn, last, server, sql);
	return last;
}

int
rvshard_transmission_modes(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("datestyle", "ISO", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("intervalstyle", "postgres", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("extra_float_digits", "3", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("search_path", "pg_catalog", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

void
rvshard_reset_modes(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}
