/*
 * relvec.c — the PostgreSQL adapter's module entry: _PG_init, the per-backend bridge
 * context with its allocator, logger and interrupt check, and the single mapping from a
 * bridge status class to an SQLSTATE. Vulkan is never touched here; the bridge opens it
 * lazily in a backend on the first heavy operation that needs it, never in the postmaster.
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "catalog/pg_type.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/memutils.h"

#include "relvec_pg.h"
#include "rvflat.h"
#include "rvivf.h"

PG_MODULE_MAGIC;

void		_PG_init(void);
extern void rvshard_init(void);

static MemoryContext bridge_cxt = NULL;
static int	progress_rows = 1000000;
static rv_ctx *bridge_ctx = NULL;

/*
 * The bridge's allocator. Its objects live in a context of their own under
 * TopMemoryContext: the bridge frees everything it allocates before it returns (it
 * never longjmps), and device objects must outlive the query that made them.
 */
static void *
bridge_alloc(void *ud pg_attribute_unused(), size_t size)
{
	return MemoryContextAllocExtended(bridge_cxt, size, MCXT_ALLOC_NO_OOM | MCXT_ALLOC_HUGE);
}

static void
bridge_free(void *ud pg_attribute_unused(), void *ptr)
{
	if (ptr != NULL)
		pfree(ptr);
}

/* Bridge log lines become NOTICE/DEBUG messages. */
static void
bridge_log(void *ud pg_attribute_unused(), rv_log_level level, const char *msg)
{
	int			elevel;

	switch (level)
	{
		case RV_LOG_WARNING:
			elevel = WARNING;
			break;
		case RV_LOG_NOTICE:
			elevel = NOTICE;
			break;
		case RV_LOG_INFO:
			elevel = DEBUG1;
			break;
		default:
			elevel = DEBUG2;
			break;
	}
	ereport(elevel, (errmsg_internal("relvec: %s", msg)));
}

/*
 * Cancel, statement_timeout and termination: the bridge then stops and returns, and
 * rvpg_raise lets CHECK_FOR_INTERRUPTS raise PostgreSQL's own error. Not InterruptPending
 * alone: it is also set for interrupts that are served and forgotten (the messages parallel
 * workers send after a parallel query, a barrier, a memory-context dump), and stopping on
 * those made the next bridge call of the session fail with a spurious "interrupted".
 */
static int
bridge_interrupted(void *ud pg_attribute_unused())
{
	return InterruptPending && (QueryCancelPending || ProcDiePending) ? 1 : 0;
}

rv_ctx *
rvpg_ctx(void)
{
	if (unlikely(bridge_ctx == NULL))
	{
		rv_host		host;
		rv_status	s;

		if (bridge_cxt == NULL)
			bridge_cxt = AllocSetContextCreate(TopMemoryContext, "relvec bridge",
											   ALLOCSET_DEFAULT_SIZES);
		host.alloc = bridge_alloc;
		host.free = bridge_free;
		host.log = bridge_log;
		host.interrupted = bridge_interrupted;
		host.ud = NULL;
		s = rv_ctx_create(&host, &bridge_ctx);
		if (s != RV_OK)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not create the relvec bridge context: %s",
							rv_status_name(s))));
		/* the GUCs were validated when set; an invalid value cannot reach here */
		(void) rv_set_device(bridge_ctx, rvpg_device_spec());
		rvpg_apply_pipeline_cache_dir(bridge_ctx);
	}
	return bridge_ctx;
}

/* The SQLSTATE for each host-neutral class. */
static int
class_sqlstate(rv_class c)
{
	switch (c)
	{
		case RV_CLASS_OK:
		case RV_CLASS_INTERNAL:
			return ERRCODE_INTERNAL_ERROR;
		case RV_CLASS_INVALID_TEXT:
			return ERRCODE_INVALID_TEXT_REPRESENTATION;
		case RV_CLASS_INVALID_BINARY:
			return ERRCODE_INVALID_BINARY_REPRESENTATION;
		case RV_CLASS_DATA:
			return ERRCODE_DATA_EXCEPTION;
		case RV_CLASS_OUT_OF_RANGE:
			return ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
		case RV_CLASS_INVALID_PARAM:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case RV_CLASS_LIMIT:
			return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		case RV_CLASS_NOMEM:
			return ERRCODE_OUT_OF_MEMORY;
		case RV_CLASS_INTERRUPTED:
			return ERRCODE_QUERY_CANCELED;
		case RV_CLASS_UNSUPPORTED:
			return ERRCODE_FEATURE_NOT_SUPPORTED;
		case RV_CLASS_MISMATCH:
			return ERRCODE_DATATYPE_MISMATCH;
		case RV_CLASS_DEVICE:
			return ERRCODE_SYSTEM_ERROR;
	}
	return ERRCODE_INTERNAL_ERROR;
}

void
rvpg_raise(rv_status s)
{
	rv_ctx	   *ctx = rvpg_ctx();
	char		msg[RV_ERRMSG_LEN];
	char		detail[RV_ERRMSG_LEN];

	/* An interrupted bridge call gives way to PostgreSQL's own cancel or timeout error. */
	if (s == RV_E_INTERRUPTED)
		CHECK_FOR_INTERRUPTS();

	strlcpy(msg, rv_errmsg(ctx), sizeof(msg));
	strlcpy(detail, rv_errdetail(ctx), sizeof(detail));
	rv_clear_error(ctx);
	if (msg[0] == '\0')
		strlcpy(msg, rv_status_name(s), sizeof(msg));

	/*
	 * The bridge cuts quoted input at a UTF-8 character boundary; in a database of another
	 * multi-byte encoding keep only the valid prefix, so that converting the message to the
	 * client's encoding cannot replace this error with an encoding error.
	 */
	msg[pg_encoding_verifymbstr(GetDatabaseEncoding(), msg, strlen(msg))] = '\0';
	detail[pg_encoding_verifymbstr(GetDatabaseEncoding(), detail, strlen(detail))] = '\0';
	ereport(ERROR,
			(errcode(class_sqlstate(rv_status_class(s))),
			 errmsg("%s", msg),
			 detail[0] ? errdetail("%s", detail) : 0));
	pg_unreachable();
}

void
rvpg_raise_value(const char *fmt,...)
{
	char		msg[RV_ERRMSG_LEN];
	char		detail[RV_ERRMSG_LEN];
	va_list		ap;

	strlcpy(msg, rv_errmsg(rvpg_ctx()), sizeof(msg));
	rv_clear_error(rvpg_ctx());
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("%s", msg),
			 errdetail("%s", detail)));
	pg_unreachable();
}

Embedding *
rvpg_new_embedding(int dim)
{
	Embedding  *e;

	/* the dimension errors of rv_check_values, before dim is cut to int16 */
	if (dim < 1 || dim > RV_MAX_DIMS)
		RVPG_CHECK(rv_check_values(rvpg_ctx(), NULL, dim < 1 ? 0 : (size_t) dim));
	e = (Embedding *) palloc0(EMBEDDING_SIZE(dim));
	SET_VARSIZE(e, EMBEDDING_SIZE(dim));
	e->dim = (int16) dim;
	return e;
}

Embedding *
rvpg_checked(Embedding *e)
{
	/* every builder sizes through rvpg_new_embedding: a wrong size is a bug here */
	if (e->dim >= 1 && e->dim <= RV_MAX_DIMS && VARSIZE(e) != EMBEDDING_SIZE(e->dim))
		elog(ERROR, "relvec: embedding of %d dimensions built with %u bytes",
			 e->dim, (unsigned) VARSIZE(e));
	RVPG_CHECK(rv_check_values(rvpg_ctx(), e->x, e->dim < 0 ? 0 : (size_t) e->dim));
	return e;
}

void
rvpg_invalid_embedding(const Embedding *e)
{
	if (e->dim < 1 || e->dim > RV_MAX_DIMS)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("invalid embedding value of %d dimensions", e->dim),
				 errdetail("An embedding has 1 to %d dimensions; this value was probably stored by an earlier version of relvec.",
						   RV_MAX_DIMS),
				 errhint("Find such rows with embedding_dims() and delete or replace them.")));
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("invalid embedding value of %u bytes for %d dimensions",
					(unsigned) VARSIZE(e), e->dim),
			 errdetail("It should have %u bytes.", (unsigned) EMBEDDING_SIZE(e->dim < 0 ? 0 : e->dim))));
}

void
rvpg_check_same_dims(const Embedding *a, const Embedding *b)
{
	/* different models first: their dimensions differing is the lesser news */
	if (unlikely(a->space != b->space) && a->space != 0 && b->space != 0)
		rvpg_raise_mixed(a->space, b->space);
	if (unlikely(a->dim != b->dim))
		RVPG_CHECK(rv_check_same_dims(rvpg_ctx(), a->dim, b->dim));
}

/* Module load: nothing device-related happens here (this may run in the postmaster). */
void
_PG_init(void)
{
	rvpg_define_device_guc();
	rvflat_define_resident_guc();
	rvflat_shared_init();
	rvflat_owner_init();
	rvivf_init();
	rvshard_init();
	DefineCustomIntVariable("relvec.progress_rows",
							"Batched relvec functions report progress every this many rows.",
							"A NOTICE per interval; 0 turns the reports off.",
							&progress_rows, 1000000, 0, INT_MAX, PGC_USERSET, 0,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("relvec");
}

int
rvpg_progress_rows(void)
{
	return progress_rows;
}

/* The OID of type embedding: it lives in the schema of the calling relvec function. */
Oid
rvpg_embedding_type(FunctionCallInfo fcinfo)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);

	return GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, CStringGetDatum("embedding"),
						   ObjectIdGetDatum(nsp));
}
