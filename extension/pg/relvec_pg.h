/*
 * relvec_pg.h — what the files of the PostgreSQL adapter share: the in-memory layout of
 * the embedding datum (the bridge's binary layout after a varlena header, identical to
 * pgvector's vector), the per-backend bridge context and the one function that turns a
 * bridge status into an ereport.
 */
#ifndef RELVEC_PG_H
#define RELVEC_PG_H

#include "postgres.h"
#include "fmgr.h"

#include "compat.h"
#include "relvec_bridge.h"

/* The datum: varlena header, then the bridge's layout (uint16 dims, uint16 zero, floats). */
typedef struct Embedding
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	int16		dim;			/* number of dimensions */
	int16		unused;			/* always zero */
	float		x[FLEXIBLE_ARRAY_MEMBER];
} Embedding;

#define EMBEDDING_SIZE(d)			(offsetof(Embedding, x) + sizeof(float) * (d))

/* Raise 22000 for a datum whose header breaks the type's invariants; never returns. */
extern void rvpg_invalid_embedding(const Embedding *e) pg_attribute_noreturn();

/*
 * Detoast an embedding datum and check its header: 1..RV_MAX_DIMS dimensions and a size
 * that matches them. Every embedding argument and every embedding read from a table goes
 * through here, so a value that an older version stored with 0 or 16001 dimensions (or a
 * damaged one) is a 22000 error where it is read, never a read past its end or a
 * division by zero. Its values are checked where a value leaves or is built
 * (rvpg_checked): a NaN read from disk gives NaN distances, never a crash.
 */
static inline Embedding *
DatumGetEmbedding(Datum d)
{
	Embedding  *e = (Embedding *) PG_DETOAST_DATUM(d);

	if (unlikely(e->dim < 1 || e->dim > RV_MAX_DIMS || VARSIZE(e) != EMBEDDING_SIZE(e->dim)))
		rvpg_invalid_embedding(e);
	return e;
}

/*
 * The same for the two readers that must still work on such a value, so that it can be
 * found and repaired (embedding_dims, the cast to real[]): only the size is checked.
 */
static inline Embedding *
DatumGetEmbeddingAnyDims(Datum d)
{
	Embedding  *e = (Embedding *) PG_DETOAST_DATUM(d);

	if (unlikely(e->dim < 0 || VARSIZE(e) != EMBEDDING_SIZE(e->dim)))
		rvpg_invalid_embedding(e);
	return e;
}

/*
 * The type's invariants on a value a function built to return or store: 1..RV_MAX_DIMS
 * dimensions, a size that matches, finite values. Raises 22000 (no dimensions, NaN,
 * infinity) or 54000 (too many dimensions); returns e. Every function that returns an
 * embedding does so through here (PG_RETURN_EMBEDDING_P, or directly for rows of a set).
 */
extern Embedding *rvpg_checked(Embedding *e);

#define PG_GETARG_EMBEDDING_P(n)	DatumGetEmbedding(PG_GETARG_DATUM(n))
#define PG_RETURN_EMBEDDING_P(e)	PG_RETURN_POINTER(rvpg_checked(e))

/*
 * A new zeroed embedding of dim dimensions, palloc'd in the current memory context; raises
 * the dimension errors of rvpg_checked when dim is outside 1..RV_MAX_DIMS.
 */
extern Embedding *rvpg_new_embedding(int dim);

/* The backend's bridge context, created on first use in a long-lived memory context. */
extern rv_ctx *rvpg_ctx(void);

/* Raise the bridge's last error for status s as an ereport(ERROR); never returns. */
extern void rvpg_raise(rv_status s) pg_attribute_noreturn();

/*
 * Raise 22000 with the message a failed value check (rv_check_values) left in the bridge
 * context and a detail saying where the value is (printf-style); never returns.
 */
extern void rvpg_raise_value(const char *fmt,...) pg_attribute_printf(1, 2) pg_attribute_noreturn();

/* Evaluate a bridge call and raise its error if it failed. */
#define RVPG_CHECK(expr) \
	do { \
		rv_status	rvpg_s_ = (expr); \
		if (unlikely(rvpg_s_ != RV_OK)) \
			rvpg_raise(rvpg_s_); \
	} while (0)

/* GUC relvec.progress_rows: a NOTICE every this many rows in batched functions (0 = off). */
extern int	rvpg_progress_rows(void);

/* The relvec.device and relvec.pipeline_cache_dir GUCs (device.c). */
extern void rvpg_define_device_guc(void);
extern const char *rvpg_device_spec(void);
extern void rvpg_apply_pipeline_cache_dir(rv_ctx *ctx);

/* The OID of type embedding, found in the schema of the calling relvec function. */
extern Oid	rvpg_embedding_type(FunctionCallInfo fcinfo);

/* Raise the error for two embeddings of different dimensions. */
extern void rvpg_check_same_dims(const Embedding *a, const Embedding *b);

#endif							/* RELVEC_PG_H */
