/*
 * catalogwrite.h — what the catalog writers share (catalogwrite.c, catalogimport.c): where
 * relvec lives, the rows of spaces and anchor sets, and the SPI helpers their fixed
 * statements run through. Internal to those files.
 */
#ifndef RELVEC_CATALOGWRITE_H
#define RELVEC_CATALOGWRITE_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/array.h"

/* What a catalog function needs to know about where relvec lives. */
typedef struct catalog_env
{
	Oid			nsp;			/* relvec's schema */
	char	   *schema;			/* its quoted name, to qualify tables and functions */
	Oid			emb;			/* type embedding */
	Oid			owner;			/* owner of the catalog tables */
	char	   *caller_path;	/* the caller's search_path, for the caller's queries */
	int			guc_level;		/* where cw_connect pinned search_path */
} catalog_env;

/* A space's row: id, dims and owner. */
typedef struct space_row
{
	int			id;
	int			dims;
	Oid			owner;
} space_row;

/* An anchor set's row: id, frozen, owner and its keys in order. */
typedef struct set_row
{
	int			id;
	bool		frozen;
	Oid			owner;
	int			nkeys;
	char	  **keys;			/* allocated in the caller's context */
} set_row;

/* relvec's schema, the embedding type and the catalog's owner, without SPI. */
extern catalog_env cw_env_get(FunctionCallInfo fcinfo);
/* Connect to SPI with search_path pinned to pg_catalog, pg_temp; cw_finish undoes both. */
extern void cw_connect(catalog_env *env);
extern void cw_finish(catalog_env *env);
/* 22004 "<what> must not be null" when argument n is null; argument n as a C string. */
extern void cw_require(FunctionCallInfo fcinfo, int n, const char *what);
extern char *cw_arg_text(FunctionCallInfo fcinfo, int n);
/* Column c of row r of SPI's last result. */
extern int32 cw_row_int(uint64 r, int c);
extern bool cw_row_bool(uint64 r, int c);
extern Oid	cw_row_oid(uint64 r, int c);
/* Run a fixed statement through SPI; an error unless it returns want. */
extern void cw_run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int want);
/* A space or an anchor set by name (42704 when unknown). Need SPI. */
extern space_row cw_lookup_space(const catalog_env *env, const char *name);
extern set_row cw_lookup_set(const catalog_env *env, const char *name, bool with_keys, MemoryContext mcxt);
/* Create the anchor set name with keys, owned by the caller (relvec_create_anchor_set's errors). */
extern void cw_create_anchor_set(const catalog_env *env, const char *name, ArrayType *arr);

#endif
