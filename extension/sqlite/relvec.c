/*
 * relvec.c — the SQLite adapter's entry point: sqlite3_relvec_init creates the
 * connection's bridge context (SQLite's allocator, no logger) and registers every SQL
 * function and virtual table module from one table, with flags that say what each really
 * is: SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS only for pure functions of their arguments,
 * SQLITE_DIRECTONLY for functions that read or write the catalog or run a query given as
 * text (they must not fire from a trigger or view of an untrusted database file). A pure
 * function given a tagged value reads one name from relvec_spaces, for a message or the
 * tagged text form (spaces.c): a read-only lookup that keeps it usable everywhere.
 *
 * It also holds the one error path: rvsq_fail records a message, the SQL entry points
 * deliver it. Bridge messages are PostgreSQL's errmsg texts by construction, so a failing
 * call shows the same primary text in both hosts.
 */
#define RVSQ_MAIN
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1

#include "relvec_sqlite.h"

/* ---- bridge host callbacks: SQLite's allocator --------------------------------------- */

static void *
host_alloc(void *ud, size_t size)
{
	(void) ud;
	return sqlite3_malloc64(size);
}

static void
host_free(void *ud, void *ptr)
{
	(void) ud;
	sqlite3_free(ptr);
}

/* ---- errors -------------------------------------------------------------------------- */

int
rvsq_fail(rvsq_conn *c, const char *fmt,...)
{
	va_list		ap;

	/* C's vsnprintf, not SQLite's: it knows %zu, and -Wformat checks every caller */
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return SQLITE_ERROR;
}

/* The SQLite result code for a bridge status. */
static int
status_code(rv_status s)
{
	switch (rv_status_class(s))
	{
		case RV_CLASS_NOMEM:
			return SQLITE_NOMEM;
		case RV_CLASS_LIMIT:
			return SQLITE_TOOBIG;
		case RV_CLASS_INTERRUPTED:
			return SQLITE_INTERRUPT;
		default:
			return SQLITE_ERROR;
	}
}

int
rvsq_bridge_fail(rvsq_conn *c, rv_status s)
{
	const char *msg = rv_errmsg(c->ctx);

	sqlite3_snprintf(sizeof(c->err), c->err, "%s", msg[0] ? msg : rv_status_name(s));
	rv_clear_error(c->ctx);
	return status_code(s);
}

int
rvsq_sqlite_fail(rvsq_conn *c, int rc)
{
	sqlite3_snprintf(sizeof(c->err), c->err, "%s", sqlite3_errmsg(c->db));
	return rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_ERROR : rc;
}

void
rvsq_result_error(sqlite3_context *ctx, rvsq_conn *c, int rc)
{
	if (rc == SQLITE_NOMEM)
	{
		sqlite3_result_error_nomem(ctx);
		return;
	}
	sqlite3_result_error(ctx, c->err[0] ? c->err : sqlite3_errstr(rc), -1);
	if (rc != SQLITE_ERROR)
		sqlite3_result_error_code(ctx, rc);
	c->err[0] = '\0';
}

int
rvsq_vtab_error(sqlite3_vtab *vtab, rvsq_conn *c, int rc)
{
	sqlite3_free(vtab->zErrMsg);
	vtab->zErrMsg = sqlite3_mprintf("%s", c->err[0] ? c->err : sqlite3_errstr(rc));
	c->err[0] = '\0';
	return rc == SQLITE_OK ? SQLITE_ERROR : rc;
}

/* ---- per-connection state ------------------------------------------------------------ */

/* Called once per registration when the connection closes; the last one frees the state. */
static void
conn_release(void *p)
{
	rvsq_conn  *c = p;

	if (--c->refs == 0)
	{
		rvsq_translation_cache_free(c);
		rvsq_knn_cache_free(c);
		rv_ctx_destroy(c->ctx);
		sqlite3_free(c);
	}
}

/* ---- the registration table --------------------------------------------------------- */

#define PURE	(SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS)
#define CATALOG	(SQLITE_UTF8 | SQLITE_DIRECTONLY)

typedef struct func_def
{
	const char *name;
	int			nargs;
	int			flags;
	void		(*xfunc) (sqlite3_context *, int, sqlite3_value **);
	void		(*xstep) (sqlite3_context *, int, sqlite3_value **);
	void		(*xfinal) (sqlite3_context *);
} func_def;

static const func_def funcs[] = {
	/* embeddings: conversion (embedding.c) */
	{"embedding", 1, PURE, rvsq_embedding, NULL, NULL},
	{"embedding", 2, PURE, rvsq_embedding, NULL, NULL},
	{"embedding_text", 1, PURE, rvsq_embedding_text, NULL, NULL},
	{"embedding_avg", 1, PURE, NULL, rvsq_embedding_avg_step, rvsq_embedding_avg_final},
	{"embedding_sum", 1, PURE, NULL, rvsq_embedding_avg_step, rvsq_embedding_sum_final},
	/* distances and vector functions (metric.c) */
	{"l2_distance", 2, PURE, rvsq_l2_distance, NULL, NULL},
	{"embedding_l2_squared_distance", 2, PURE, rvsq_l2_squared_distance, NULL, NULL},
	{"inner_product", 2, PURE, rvsq_inner_product, NULL, NULL},
	{"embedding_negative_inner_product", 2, PURE, rvsq_negative_inner_product, NULL, NULL},
	{"cosine_distance", 2, PURE, rvsq_cosine_distance, NULL, NULL},
	{"l1_distance", 2, PURE, rvsq_l1_distance, NULL, NULL},
	{"embedding_dims", 1, PURE, rvsq_embedding_dims, NULL, NULL},
	{"embedding_norm", 1, PURE, rvsq_embedding_norm, NULL, NULL},
	{"l2_normalize", 1, PURE, rvsq_l2_normalize, NULL, NULL},
	{"subvector", 3, PURE, rvsq_subvector, NULL, NULL},
	{"embedding_add", 2, PURE, rvsq_embedding_add, NULL, NULL},
	{"embedding_sub", 2, PURE, rvsq_embedding_sub, NULL, NULL},
	{"embedding_mul", 2, PURE, rvsq_embedding_mul, NULL, NULL},
	{"embedding_concat", 2, PURE, rvsq_embedding_concat, NULL, NULL},
	{"embedding_cmp", 2, PURE, rvsq_embedding_cmp, NULL, NULL},
	{"embedding_hash", 1, PURE, rvsq_embedding_hash, NULL, NULL},
	/*
	 * space tags (spaces.c): relvec_tag looks a space up by name, as the catalog functions do;
	 * relvec_space_of only names a tag, as embedding_text and the mismatch messages do
	 * (a read of relvec_spaces, harmless from a view or trigger)
	 */
	{"relvec_tag", 2, CATALOG, rvsq_tag, NULL, NULL},
	{"relvec_untag", 1, PURE, rvsq_untag, NULL, NULL},
	{"relvec_space_of", 1, PURE, rvsq_space_of, NULL, NULL},
	/* catalog: spaces, anchor sets, parallel anchors (catalog.c) */
	{"relvec_catalog_init", 0, CATALOG, rvsq_catalog_init_fn, NULL, NULL},
	{"relvec_create_space", 2, CATALOG, rvsq_create_space, NULL, NULL},
	{"relvec_create_space", 3, CATALOG, rvsq_create_space, NULL, NULL},
	{"relvec_set_space_mean", 2, CATALOG, rvsq_set_space_mean, NULL, NULL},
	{"relvec_rename_space", 2, CATALOG, rvsq_rename_space, NULL, NULL},
	{"relvec_create_anchor_set", 2, CATALOG, rvsq_create_anchor_set, NULL, NULL},
	{"relvec_set_anchors", 3, CATALOG, rvsq_set_anchors, NULL, NULL},
	{"relvec_choose_anchors", 4, CATALOG, rvsq_choose_anchors, NULL, NULL},
	{"relvec_choose_anchors", 5, CATALOG, rvsq_choose_anchors, NULL, NULL},
	{"relvec_choose_anchors", 6, CATALOG, rvsq_choose_anchors, NULL, NULL},
	{"relvec_freeze_anchor_set", 1, CATALOG, rvsq_freeze_anchor_set, NULL, NULL},
	{"relvec_drop_space", 1, CATALOG, rvsq_drop_space, NULL, NULL},
	{"relvec_drop_space", 2, CATALOG, rvsq_drop_space, NULL, NULL},
	{"relvec_drop_anchor_set", 1, CATALOG, rvsq_drop_anchor_set, NULL, NULL},
	{"relvec_drop_anchor_set", 2, CATALOG, rvsq_drop_anchor_set, NULL, NULL},
	{"relvec_drop_translation", 3, CATALOG, rvsq_drop_translation, NULL, NULL},
	/* projection (project.c): reads the catalog, so not innocuous */
	{"relvec_project", 2, CATALOG, rvsq_project, NULL, NULL},
	{"relvec_project", 3, CATALOG, rvsq_project, NULL, NULL},
	{"relvec_project", 4, CATALOG, rvsq_project, NULL, NULL},
	{"relvec_project", 5, CATALOG, rvsq_project, NULL, NULL},
	{"relvec_project", 6, CATALOG, rvsq_project, NULL, NULL},
	/* translations between spaces (translate.c): read or write the catalog */
	{"relvec_fit_translation", 3, CATALOG, rvsq_fit_translation, NULL, NULL},
	{"relvec_fit_translation", 4, CATALOG, rvsq_fit_translation, NULL, NULL},
	{"relvec_translate", 3, CATALOG, rvsq_translate, NULL, NULL},
	{"relvec_translate", 4, CATALOG, rvsq_translate, NULL, NULL},
	/* devices (device.c) */
	{"relvec_device", 0, SQLITE_UTF8, rvsq_device, NULL, NULL},
	{"relvec_device", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, rvsq_device, NULL, NULL},
	{"relvec_backend", 0, SQLITE_UTF8, rvsq_backend, NULL, NULL},
	/* the copies of columns relvec_knn_index searches (knncache.c): a setting, as the device */
	{"relvec_knn_cache_mb", 0, SQLITE_UTF8, rvsq_knn_cache_mb, NULL, NULL},
	{"relvec_knn_cache_mb", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, rvsq_knn_cache_mb, NULL, NULL},
	{"relvec_knn_cache_stats", 0, SQLITE_UTF8, rvsq_knn_cache_stats, NULL, NULL},
};

typedef struct module_def
{
	const char *name;
	sqlite3_module *module;
} module_def;

static const module_def modules[] = {
	{"relvec_project_query", &rvsq_project_query_module},
	{"relvec_knn", &rvsq_knn_module},
	{"relvec_knn_index", &rvsq_knn_index_module},
	{"relvec_compare_spaces", &rvsq_compare_spaces_module},
	{"relvec_stitch_knn", &rvsq_stitch_knn_module},
};

#ifdef _WIN32
__declspec(dllexport)
#endif
int
sqlite3_relvec_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi)
{
	rvsq_conn  *c;
	rv_host		host;
	rv_status	s;
	size_t		i;
	int			rc = SQLITE_OK;

	SQLITE_EXTENSION_INIT2(pApi);
	c = sqlite3_malloc(sizeof(rvsq_conn));
	if (c == NULL)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	c->db = db;
	memset(&host, 0, sizeof(host));
	host.alloc = host_alloc;
	host.free = host_free;
	s = rv_ctx_create(&host, &c->ctx);
	if (s != RV_OK)
	{
		sqlite3_free(c);
		*pzErrMsg = sqlite3_mprintf("could not create the relvec bridge context: %s",
									rv_status_name(s));
		return SQLITE_ERROR;
	}
	/*
	 * No pipeline cache on disk unless RELVEC_PIPELINE_CACHE_DIR names a directory: an
	 * SQLite file has no data directory of its own to keep it in.
	 */
	if (getenv("RELVEC_PIPELINE_CACHE_DIR") != NULL &&
		rv_set_pipeline_cache_dir(c->ctx, getenv("RELVEC_PIPELINE_CACHE_DIR")) != RV_OK)
		rv_clear_error(c->ctx);
	/* one reference held by this function until every registration has taken its own */
	c->refs = 1;
	for (i = 0; rc == SQLITE_OK && i < sizeof(funcs) / sizeof(funcs[0]); i++)
	{
		c->refs++;
		rc = sqlite3_create_function_v2(db, funcs[i].name, funcs[i].nargs, funcs[i].flags, c,
										funcs[i].xfunc, funcs[i].xstep, funcs[i].xfinal,
										conn_release);
		/* on failure SQLite has already called the destructor */
	}
	for (i = 0; rc == SQLITE_OK && i < sizeof(modules) / sizeof(modules[0]); i++)
	{
		c->refs++;
		rc = sqlite3_create_module_v2(db, modules[i].name, modules[i].module, c, conn_release);
	}
	if (rc != SQLITE_OK)
		*pzErrMsg = sqlite3_mprintf("relvec: could not register its functions: %s",
									sqlite3_errmsg(db));
	conn_release(c);
	return rc;
}
