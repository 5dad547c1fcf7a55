/*
 * shard.h — relvec on PostgreSQL's own sharding: a partitioned table whose leaf partitions
 * are postgres_fdw foreign tables on shard servers that have relvec too. The planner glue
 * (shardscan.c) and the shard-aware batched functions (shardknn.c) share what is here
 * (shardconn.c): the shards of a table, and a connection to each through postgres_fdw's own
 * connection cache, so that a shard query runs in the same remote transaction, snapshot and
 * user mapping as every other postgres_fdw scan of the statement, and postgres_fdw's
 * transaction callbacks cancel it when the local statement fails or is cancelled.
 */
#ifndef RELVEC_SHARD_H
#define RELVEC_SHARD_H

#include "postgres.h"

#include "libpq-fe.h"
#include "nodes/pg_list.h"

/* One leaf partition: a postgres_fdw foreign table on a shard server. */
typedef struct RvShardPart
{
	Oid			relid;			/* the foreign table */
	Oid			serverid;
	char	   *server;			/* the foreign server's name */
	char	   *remote;			/* the remote table, schema-qualified and quoted */
} RvShardPart;

/*
 * The leaf partitions of a partitioned table, in OID order, the order they were created in
 * (a List of RvShardPart *). NIL when rel is not partitioned or has no leaves; when a leaf is not a
 * postgres_fdw foreign table, NIL if quiet, else 0A000 naming it.
 */
extern List *rvshard_parts(Oid rel, bool quiet);

/* The quoted remote name of a column of a foreign table (its column_name option or its own). */
extern char *rvshard_remote_column(Oid relid, AttrNumber attnum);

/* The quoted schema of relvec: where its type and operators are on every server. */
extern const char *rvshard_relvec_schema(void);

/*
 * postgres_fdw's connection to a server for a role (InvalidOid: the current user; a view's
 * owner when the table is read through a view) (08001 naming it when down);
 * 0A000 when another foreign scan of the statement is using it (an asynchronous request
 * still pending, or a command in progress).
 */
extern PGconn *rvshard_connect(Oid serverid, Oid userid);

/*
 * Send one statement with text parameters without waiting (so that every shard works at
 * once), then wait for its result: rvshard_wait returns a PGRES_TUPLES_OK result (the
 * caller PQclear()s it) or raises the shard's error with its SQLSTATE, naming the server.
 * The wait can be cancelled (the statement_timeout and cancel of the local statement); the
 * abort then cancels the remote statement.
 */
extern void rvshard_send(PGconn *conn, const char *server, const char *sql,
						 int nparams, const char *const *values);
extern PGresult *rvshard_wait(PGconn *conn, const char *server, const char *sql);

/*
 * Values travel as text between the coordinator and the shards, printed and read in one
 * fixed form whatever the session's settings (postgres_fdw's transmission modes: DateStyle
 * ISO, IntervalStyle postgres, extra_float_digits 3, search_path pg_catalog). Call the
 * output and input functions of shipped values between these two; evaluate expressions
 * before (they must see the session's own settings).
 */
extern int	rvshard_transmission_modes(void);
extern void rvshard_reset_modes(int nestlevel);

#endif
