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

/* The datum: varlena header, then the bridge's layout (uint16 dims, uint16 space tag, floats). */
typedef struct Embedding
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	int16		dim;			/* number of dimensions */
	uint16		space;			/* the space's id in relvec_spaces; 0: untagged */
	float		x[FLEXIBLE_ARRAY_MEMBER];
} Embedding;

/*
 * A type modifier embedding(n) is n; embedding(space) holds the space's dimensions in the
 * low 14 bits and its tag above them (at most 65535 << 14 | 16000, a positive int32).
 */
#define RVPG_TYPMOD_DIMS(t)		((t) < 0 ? -1 : (int) ((t) & 0x3fff))
#define RVPG_TYPMOD_SPACE(t)	((t) < 0 ? 0 : (int) (((uint32) (t)) >> 14))
#define RVPG_TYPMOD(dims, space) ((int32) ((uint32) (dims) | ((uint32) (space) << 14)))

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

/*
 * Raise the error for two embeddings that do not go together: of different spaces (42804,
 * both named) or dimensions (22000). The tag of a result of both is rvpg_pair_space.
 */
extern void rvpg_check_same_dims(const Embedding *a, const Embedding *b);
#define rvpg_pair_space(a, b)	((a)->space != 0 ? (a)->space : (b)->space)

/* Spaces in the type (spaces.c). */
/* The name of the space with that tag, NULL when none (or outside a transaction). */
extern const char *rvpg_space_name(int tag);
/* "\"name\"" or "#id" for messages, palloc'd. */
extern char *rvpg_space_label(int tag);
/* The tag of a space by name (0 when missing_ok and none; else 42704); *dims its dims. */
extern int	rvpg_space_by_name(const char *name, bool missing_ok, int *dims);
/* The tag a text form "name#id:" stands for in this database. */
extern int	rvpg_resolve_tag(const char *name, unsigned id);
/* 42804 "embeddings of different spaces ..." for tags a and b. */
extern void rvpg_raise_mixed(int a, int b) pg_attribute_noreturn();
/* 42804 unless tag is 0 or want (or want is 0); what goes in the detail (may be NULL). */
extern void rvpg_check_space(int tag, int want, const char *what);
/* e as a value of a column with that typmod: tagged, or 42804/22000 (a copy when changed). */
extern Embedding *rvpg_apply_typmod(Embedding *e, int32 typmod);
/* Forget the names remembered in this transaction (after the catalog changed). */
extern void rvpg_spaces_forget(void);

#endif							/* RELVEC_PG_H */
