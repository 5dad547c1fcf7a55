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
#define DatumGetEmbedding(d)		((Embedding *) PG_DETOAST_DATUM(d))
#define PG_GETARG_EMBEDDING_P(n)	DatumGetEmbedding(PG_GETARG_DATUM(n))
#define PG_RETURN_EMBEDDING_P(e)	PG_RETURN_POINTER(e)

/* A new zeroed embedding of dim dimensions, palloc'd in the current memory context. */
extern Embedding *rvpg_new_embedding(int dim);

/* The backend's bridge context, created on first use in a long-lived memory context. */
extern rv_ctx *rvpg_ctx(void);

/* Raise the bridge's last error for status s as an ereport(ERROR); never returns. */
extern void rvpg_raise(rv_status s) pg_attribute_noreturn();

/* Evaluate a bridge call and raise its error if it failed. */
#define RVPG_CHECK(expr) \
	do { \
		rv_status	rvpg_s_ = (expr); \
		if (unlikely(rvpg_s_ != RV_OK)) \
			rvpg_raise(rvpg_s_); \
	} while (0)

/* Raise the error for two embeddings of different dimensions. */
extern void rvpg_check_same_dims(const Embedding *a, const Embedding *b);

#endif							/* RELVEC_PG_H */
