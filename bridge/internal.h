/*
 * internal.h — private definitions shared by the files of the core: the layout of rv_ctx
 * and the entry points of the CPU (rvc_*) and Vulkan (rvk_*) backends. Hosts never
 * include this file; they see only include/relvec_bridge.h.
 */
#ifndef RELVEC_INTERNAL_H
#define RELVEC_INTERNAL_H

#include "relvec_bridge.h"

/* Device modes parsed from the device spec. */
typedef enum rv_device_mode
{
	RV_MODE_AUTO = 0,
	RV_MODE_CPU,
	RV_MODE_GPU,
	RV_MODE_VULKAN_INDEX
} rv_device_mode;

typedef struct rvk_state rvk_state;
typedef struct rvk_resident_mem rvk_resident_mem;

/*
 * A resident corpus (resident.c): the host side. Its device memory (mem, owned by
 * vk/resident.c) is NULL once released; the handle stays in its context's list until
 * rv_resident_destroy or rv_ctx_destroy.
 */
struct rv_resident
{
	rv_resident *next;			/* the context's list of resident corpora */
	size_t		n;
	size_t		d;
	int			dev;			/* Vulkan device index it was uploaded to */
	size_t		bytes;			/* device bytes of the rows */
	float	   *norms;			/* n L2 norms (for the error bounds) */
	double		norm_max;		/* the largest norm (the inner product's bound) */
	double		norm_min_cos;	/* the smallest norm whose square is within [2^-100, 2^100] */
	rvk_resident_mem *mem;		/* NULL: released */
};

struct rv_ctx
{
	rv_host		host;
	char		errmsg[RV_ERRMSG_LEN];
	char		errdetail[RV_ERRMSG_LEN];
	char		device_spec[32];
	rv_device_mode device_mode;
	int			device_index;	/* for RV_MODE_VULKAN_INDEX */
	int			no_gpu_found;	/* auto mode looked once and found no GPU */
	char		last_backend[RV_ERRMSG_LEN];
	size_t		split_bytes;	/* 0 = the device's maxStorageBufferRange */
	rvk_state  *vk;				/* NULL until Vulkan is opened */
	/* set by the Vulkan backend when it opens; releases its objects */
	void		(*vk_shutdown) (rv_ctx *ctx);
	rv_resident *residents;		/* resident corpora of this context (resident.c) */
	int			resident_staging;	/* test hook: always upload through a staging copy */
	char		pcache_dir[RV_PATH_MAX];	/* pipeline cache directory, "" = none */
	int			vk_timing;		/* bench hook: time submissions with timestamp queries */
	int			no_subgroups;	/* test hook: kernels take their subgroup-free variants */
	size_t		stage_bytes;	/* test hook: staging chunk of resident uploads, 0 = 64 MB */
	size_t		fewq_groups;	/* bench hook: workgroups the few-query kernel aims at */
	int			fewq_no_unroll; /* bench hook: one row load per lane at a time */
	/* what rv_resident_knn did (tests, benches): queries that needed more candidates */
	long		knn_retries;	/* a second, longer candidate list */
	long		knn_full;		/* every distance of the corpus */
};

/* Record which backend ran the last heavy operation and why. */
void		rv_note_backend(rv_ctx *ctx, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

/*
 * After RV_E_DEVICE_LOST (device.c): note the CPU fallback in rv_last_backend and release
 * the device and every resident corpus; the error stays for the caller.
 */
void		rv_note_device_lost(rv_ctx *ctx);

/* CPU backend (cpu/): the reference for every kernel. */
rv_status	rvc_simmatrix(rv_ctx *ctx, const rv_simmatrix_args *args);
rv_status	rvc_topk(rv_ctx *ctx, const rv_topk_args *args);
rv_status	rvc_lower_bounds(rv_ctx *ctx, rv_metric metric, const float *x, const double *xn2,
							 size_t n, size_t d, const float *q, size_t nq, double *lb,
							 size_t ldlb);

/*
 * The CPU twin of the few-query kernel (cpu/fewq.c): the key of one pair by the shader's
 * float32 formulas (qn2 = |q|^2 in float32), and for each of nq queries the kc rows of x
 * with the smallest keys, sorted by (key, row); rows/keys nq x kc, (-1, +inf) past n.
 * keymode 0: the float32 distance (NaN as +inf); 1: -inf where the resident error bound
 * does not cover it.
 */
float		rvc_fewq_key(rv_metric m, int keymode, const float *q, float qn2, const float *x,
						 size_t d);
rv_status	rvc_fewq(rv_ctx *ctx, rv_metric m, int keymode, const float *q, size_t nq,
					 const float *x, size_t n, size_t d, size_t kc, int64_t *rows, float *keys);

/* Vulkan backend (vk/). */
rv_status	rvk_simmatrix(rv_ctx *ctx, const rv_simmatrix_args *args);
rv_status	rvk_topk(rv_ctx *ctx, const rv_topk_args *args);
rv_status	rvk_list_devices(rv_ctx *ctx, rv_device_info *out, size_t cap, size_t *count);

/* --- Vulkan backend (vulkan) --- */

/*
 * Where work of `work` multiply-adds runs under the device setting (device.c): *dev gets
 * the Vulkan device index, or -1 for the CPU with the reason noted; min_work is auto
 * mode's threshold.
 */
rv_status	rv_choose_device(rv_ctx *ctx, double work, double min_work, int *dev);

/* Resident corpora on the open device (vk/resident.c). */
rv_status	rvk_resident_upload(rv_ctx *ctx, rv_resident *r, const float *x);
void		rvk_resident_release(rv_ctx *ctx, rv_resident *r);
/* Release the device memory of every resident corpus (before the device closes). */
void		rvk_resident_release_all(rv_ctx *ctx);
rv_status	rvk_resident_distances(rv_ctx *ctx, rv_resident *r, rv_metric m, const float *q,
								   size_t nq, float *out);
/* The kc smallest few-query keys (key mode 1) per query, merged over every block. */
rv_status	rvk_resident_topk(rv_ctx *ctx, rv_resident *r, rv_metric m, const float *q,
							  size_t nq, size_t kc, int64_t *rows, float *keys);
/* Free every resident handle of the context (rv_ctx_destroy). */
void		rv_resident_free_all(rv_ctx *ctx);

/* Open Vulkan device `index` of rv_list_devices (or keep it open) for the rvk_* kernels. */
rv_status	rvk_use_device(rv_ctx *ctx, int index);

/*
 * The index of the device "auto" and "gpu" would choose (the first discrete, then
 * integrated, then virtual GPU), or -1 when there is none or no loader; RV_OK either way.
 */
rv_status	rvk_auto_pick(rv_ctx *ctx, int *index);

/* Name of the open Vulkan device, "" when none is open. */
const char *rvk_device_name(const rv_ctx *ctx);

/* Release every Vulkan object and the loader; installed as ctx->vk_shutdown. */
void		rvk_shutdown(rv_ctx *ctx);

/* Build every pipeline variant the kernels use (benchmarks time this separately). */
rv_status	rvk_warm_pipelines(rv_ctx *ctx);

/* Test hook: the after-th next queue submit fails with the VkResult vkresult instead. */
void		rvk_test_inject(rv_ctx *ctx, int vkresult, int after);

/* What the pipeline cache on disk did since the device opened (vk/pcache.c). */
typedef struct rvk_pcache_stats
{
	int			loaded;			/* 1: a file was read and handed to the driver */
	int			rejected;		/* 1: a file was there but did not match or was damaged */
	long		load_bytes;		/* cache data bytes read */
	int			saves;			/* files written */
	long		save_bytes;		/* cache data bytes of the last file written */
} rvk_pcache_stats;
void		rvk_get_pcache_stats(rv_ctx *ctx, rvk_pcache_stats *out);
/* The file the open device's cache goes to (buf of RV_PATH_MAX + 128 bytes); "" if none. */
void		rvk_pcache_path(rv_ctx *ctx, char *buf, size_t size);

/* Bench hook: time submissions on the device (timestamp queries) from the next device open. */
void		rvk_set_timing(rv_ctx *ctx, int on);
/* Device seconds of the timed submissions since the last call (then reset); < 0 if none. */
double		rvk_take_device_seconds(rv_ctx *ctx);
/* Test hook: resident uploads stage chunks of this many bytes (0: the default, 64 MB). */
void		rvk_set_stage_bytes(rv_ctx *ctx, size_t bytes);
/* Bench hook: the few-query kernel aims at groups workgroups (0: 1024), unrolled or not. */
void		rvk_set_fewq_tuning(rv_ctx *ctx, size_t groups, int unroll);
/* Test hook: nonzero makes kernels with a subgroup variant take the variant without. */
void		rvk_set_no_subgroups(rv_ctx *ctx, int on);
/* Subgroup size the kernels use on the open device, 0 when they run without subgroups. */
uint32_t	rvk_subgroup_size(rv_ctx *ctx);

/* Process-wide counters for tests: how often the loader and a device were opened. */
typedef struct rvk_counters
{
	long		loader_opens;
	long		devices_created;
} rvk_counters;
void		rvk_get_counters(rvk_counters *out);

/* --- ivf.c --- */

/*
 * A query table whose estimates sum with the byte table on every CPU, where
 * rv_ivf_lut_create sums with AVX-512 masked adds when the CPU has them: tests and
 * benchmarks compare the two ways. rv_ivf_lut_is_masked tells which way a table sums.
 */
rv_status	rv_ivf_lut_create_table(rv_ctx *ctx, size_t pd, rv_ivf_lut **out);
int			rv_ivf_lut_is_masked(const rv_ivf_lut *lut);

/*
 * ivfrank.c: the pass rv_ivf_rank takes over the half copy, for tests of each: 0 the
 * widest the CPU has (the default), 1 plain C, 2 AVX2 with F16C, 3 AVX-512. A test sets
 * only a pass its CPU has.
 */
extern int	rv_ivfrank_path;

/*
 * codes8.c: the products rv_codes8_bounds uses, for tests of each: 0 the fastest the CPU
 * has (the default), 1 plain C, 2 AVX-512 VNNI (only where rv_codes8_fast says so).
 */
extern int	rv_codes8_path;

/* --- CPU kernel helpers (cpu-kernels) --- */

/*
 * Multiversioned hot loops: AVX-512 / AVX2+FMA / baseline, picked once at load (ifunc).
 * Not with clang, which builds only the fuzzers here: clang 14 (Debian 12) names the
 * resolver of an external target_clones function "f.ifunc", so calls from other files
 * do not link.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define RVC_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define RVC_CLONES
#endif

/* Set OpenBLAS to one thread, once: the core runs inside host processes (cpu/simmatrix.c). */
void		rvc_blas_init(void);

/*
 * Vectorized loops of the CPU backend (cpu/topk.c), float lanes summed in double and
 * recomputed in double when a lane overflows: |a|^2, and max |a_i - b_i| (rounded to
 * float it equals rv_linf_distance, which is a scalar double loop). Exact distances
 * otherwise come from metric.c.
 */
double		rvc_norm2(const float *a, size_t d);

/*
 * A sum of float32 squares (or products) below this may have lost digits to underflow: a
 * square under FLT_MIN (about 1.2e-38) is subnormal or zero in float32. Such sums, zero
 * included, are recomputed in double, where no product of two floats underflows. Above it
 * the absolute underflow error (at most 2^-150 per term) is below 1e-11 relative for
 * 16000 terms. The Vulkan error bounds (resident.c) use the same limit.
 */
#define RV_NORM2_TINY 0x1p-100

/*
 * Absolute slack of the CPU top-k filters for d terms (cpu/topk.c): the error of products
 * that underflow, or that a kernel flushes to zero (under 2^-126 each), which the relative
 * bounds do not cover.
 */
#define RV_UNDERFLOW_SLACK(d) (4.0 * (double) (d) * 0x1p-120)
double		rvc_linf(const float *a, const float *b, size_t d);

/* True when entry (da, ra) comes before (db, rb): distance ascending, then row ascending. */
static inline int
rv_topk_before(float da, int64_t ra, float db, int64_t rb)
{
	return da < db || (da == db && ra < rb);
}

/* Sort n candidates in place by rv_topk_before (heap sort; no allocation) (topk.c). */
void		rv_topk_sort(int64_t *rows, float *dist, size_t n);

/*
 * Merge ncand candidates, sorted by rv_topk_before (a row < 0 ends the list), into a best
 * list of k slots sorted the same way with empty slots (-1, +inf) at its end; the best list
 * keeps the k first entries of the union. No allocation, O(k + ncand). Returns the number
 * of filled slots afterwards. The Vulkan backend merges its per-chunk results with this.
 */
size_t		rv_topk_merge(int64_t *best_rows, float *best_dist, size_t k,
						  const int64_t *cand_rows, const float *cand_dist, size_t ncand);

#endif							/* RELVEC_INTERNAL_H */
