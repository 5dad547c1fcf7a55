/*
 * relvec_bridge.h — the only public header of relvec's host-free core.
 *
 * The core knows nothing of PostgreSQL or SQLite. A host creates one rv_ctx with its
 * allocator, logger and interrupt check, calls rv_* functions, and maps the returned
 * rv_status (through rv_status_class) to its own error codes in one place. Every
 * fallible function returns rv_status (RV_OK == 0) and writes results through
 * out-parameters; the message for the last failure is read with rv_errmsg/rv_errdetail.
 *
 * Pure arithmetic that cannot fail (distances, norms) takes plain arrays and no context,
 * so that hosts can call it on their hot paths without overhead.
 */
#ifndef RELVEC_BRIDGE_H
#define RELVEC_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest number of dimensions an embedding may have (as pgvector's vector). */
#define RV_MAX_DIMS 16000
/* Largest k of a top-k search. */
#define RV_MAX_K 16384
/* Size of the binary header that precedes the float32 payload. */
#define RV_HEADER_BYTES 4
/* Bounded error buffers. */
#define RV_ERRMSG_LEN 256

/* ------------------------------------------------------------------------------------
 * Status codes and their host-neutral classes
 * ------------------------------------------------------------------------------------ */
typedef enum rv_status
{
	RV_OK = 0,
	RV_E_SYNTAX,			/* malformed text form */
	RV_E_BINARY,			/* malformed binary form (truncated, wrong length) */
	RV_E_NOT_FINITE,		/* NaN or infinity where a finite value is required */
	RV_E_OUT_OF_RANGE,		/* a value overflows float32 */
	RV_E_EMPTY,				/* an embedding with no dimensions */
	RV_E_DIM_MISMATCH,		/* two operands of different dimensions */
	RV_E_TOO_MANY_DIMS,		/* more than RV_MAX_DIMS dimensions */
	RV_E_INVALID_PARAM,		/* a bad argument: unknown metric, k <= 0, ... */
	RV_E_LIMIT,				/* another size limit (k, buffer, dispatch) */
	RV_E_NOMEM,				/* the host allocator returned NULL */
	RV_E_INTERRUPTED,		/* the host's interrupt check asked us to stop */
	RV_E_UNSUPPORTED,		/* the operation or device feature is not available */
	RV_E_DEVICE,			/* a Vulkan call failed (detail names the VkResult) */
	RV_E_DEVICE_LOST,		/* device lost or out of device memory: the host may retry on CPU */
	RV_E_RANK_DEFICIENT,	/* a fit has too few independent rows (anchors) for its unknowns */
	RV_E_SPACE_MISMATCH,	/* two operands tagged with different spaces */
	RV_E_INTERNAL			/* cannot happen */
} rv_status;

typedef enum rv_class
{
	RV_CLASS_OK = 0,
	RV_CLASS_INVALID_TEXT,		/* PostgreSQL 22P02 */
	RV_CLASS_INVALID_BINARY,	/* 22P03 */
	RV_CLASS_DATA,				/* 22000 family */
	RV_CLASS_OUT_OF_RANGE,		/* 22003 */
	RV_CLASS_INVALID_PARAM,		/* 22023 */
	RV_CLASS_LIMIT,				/* 54000 */
	RV_CLASS_NOMEM,				/* 53200 */
	RV_CLASS_INTERRUPTED,		/* 57014 */
	RV_CLASS_UNSUPPORTED,		/* 0A000 */
	RV_CLASS_DEVICE,			/* 58000 */
	RV_CLASS_MISMATCH,			/* 42804: operands that do not go together (spaces) */
	RV_CLASS_INTERNAL			/* XX000 */
} rv_class;

/* The host-neutral class of a status. */
rv_class	rv_status_class(rv_status s);

/* A short constant name of a status ("RV_E_SYNTAX"); never NULL. */
const char *rv_status_name(rv_status s);

/* ------------------------------------------------------------------------------------
 * Context: host callbacks, error buffers, device choice
 * ------------------------------------------------------------------------------------ */

/* Log levels handed to the host logger. */
typedef enum rv_log_level
{
	RV_LOG_DEBUG = 0,
	RV_LOG_INFO,
	RV_LOG_NOTICE,
	RV_LOG_WARNING
} rv_log_level;

/*
 * Callbacks from the host. All of them must return (never longjmp). alloc returns NULL
 * on failure; free accepts NULL. interrupted returns nonzero when the current work should
 * stop. Any callback except alloc/free may be NULL.
 */
typedef struct rv_host
{
	void	   *(*alloc) (void *ud, size_t size);
	void		(*free) (void *ud, void *ptr);
	void		(*log) (void *ud, rv_log_level level, const char *msg);
	int			(*interrupted) (void *ud);
	void	   *ud;
} rv_host;

typedef struct rv_ctx rv_ctx;

/* Create a context; *out is owned by the caller and freed with rv_ctx_destroy. */
rv_status	rv_ctx_create(const rv_host *host, rv_ctx **out);

/*
 * The C library's malloc and free as rv_host callbacks (ud unused), for hosts that need no
 * allocator of their own: the relvec tool, relvec-deviced, test programs.
 */
void	   *rv_stdlib_alloc(void *ud, size_t size);
void		rv_stdlib_free(void *ud, void *ptr);

/* Release a context and every device object it holds. Accepts NULL. */
void		rv_ctx_destroy(rv_ctx *ctx);

/* The primary message of the last failure ("" when none), PostgreSQL errmsg style. */
const char *rv_errmsg(const rv_ctx *ctx);

/* Detail of the last failure (VkResult name, device), or "" when none. */
const char *rv_errdetail(const rv_ctx *ctx);

/* Clear the error buffers. */
void		rv_clear_error(rv_ctx *ctx);

/* Record a failure: sets the message (printf-style) and returns s. */
rv_status	rv_fail(rv_ctx *ctx, rv_status s, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* Set the detail string of the current failure (printf-style). */
void		rv_set_detail(rv_ctx *ctx, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

/*
 * Length of the longest prefix of s of at most max bytes that does not end inside a UTF-8
 * character (bytes that are not UTF-8 are taken one at a time). Messages quote user input
 * shortened with "%.*s" and this length, so a cut never leaves half a character.
 */
size_t		rv_utf8_prefix(const char *s, size_t max);

/* Allocation through the host; NULL on failure (callers return RV_E_NOMEM). */
void	   *rv_alloc(rv_ctx *ctx, size_t size);
void		rv_free(rv_ctx *ctx, void *ptr);

/* Nonzero when the host wants the current work to stop. */
int			rv_interrupted(rv_ctx *ctx);

/* Log through the host, if it gave a logger. */
void		rv_log(rv_ctx *ctx, rv_log_level level, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------------------------
 * Embeddings: binary layout, text form (embedding.c)
 *
 * Binary layout shared by both hosts: a little-endian uint16 dimension count, a uint16
 * space tag, then dims little-endian float32 values. PostgreSQL stores exactly this after
 * the varlena header; SQLite stores it as a BLOB. The tag is the id of the space the
 * value belongs to in the host's catalog (relvec_spaces.space_id), 0 for an untagged
 * value: an untagged value is byte for byte what relvec 0.1.0 and pgvector's wire form
 * have. Operands tagged with two different spaces are an error (rv_check_same_space);
 * a tagged operand goes with an untagged one.
 *
 * The text form of an untagged value is "[1,2,3]"; a tagged one is prefixed with its
 * space, "name#id:[1,2,3]": the name as an SQL identifier (double-quoted when it is not
 * lower-case letters, digits and underscores), the id so that a value read back before
 * its space exists (a restore of data before the catalog) keeps its tag. "#id:" alone is
 * a tag whose name the host could not tell.
 * ------------------------------------------------------------------------------------ */

/* Largest space tag (the uint16 of the layout). */
#define RV_MAX_SPACE_TAG 65535

/* Upper bound on the dimensions of a text form, to size the buffer for rv_parse_text. */
size_t		rv_text_max_dims(const char *text);

/*
 * Parse "[1, 2.5, -3e-2]" into out (room for cap floats); *dims gets the count.
 * Whitespace is allowed around brackets, numbers and commas. Rejects NaN, infinities,
 * float32 overflow, empty brackets and more than RV_MAX_DIMS values.
 */
rv_status	rv_parse_text(rv_ctx *ctx, const char *text, float *out, size_t cap,
						  size_t *dims);

/* Room needed by rv_format_text for dims values, terminating NUL included. */
size_t		rv_format_text_size(size_t dims);

/*
 * Write the text form of v into buf (at least rv_format_text_size(dims) bytes): each value
 * in the shortest decimal form that reads back to the same float32. Returns the length.
 * Non-finite values (never in a valid embedding) are written NaN, Infinity, -Infinity.
 */
size_t		rv_format_text(const float *v, size_t dims, char *buf);

/* Check values are finite and dims within 1..RV_MAX_DIMS. */
rv_status	rv_check_values(rv_ctx *ctx, const float *v, size_t dims);

/* Check two dimension counts are equal: "different embedding dimensions 3 and 4". */
rv_status	rv_check_same_dims(rv_ctx *ctx, size_t a, size_t b);

/* Check a dims count against a declared type modifier (typmod < 0 means none). */
rv_status	rv_check_typmod(rv_ctx *ctx, size_t dims, int typmod);

/*
 * Validate a binary blob of len bytes in the shared layout; on success *dims gets its
 * dimension count and *payload points at the float32 values inside blob (any space tag).
 */
rv_status	rv_blob_check(rv_ctx *ctx, const void *blob, size_t len, size_t *dims,
						  const float **payload);

/* The space tag of a blob that rv_blob_check accepted (0: untagged). */
unsigned	rv_blob_space(const void *blob);

/* Write the header for dims and space tag into hdr (RV_HEADER_BYTES bytes). */
void		rv_blob_header(void *hdr, size_t dims, unsigned space);

/*
 * Check that two space tags go together: equal, or either is 0. Otherwise
 * RV_E_SPACE_MISMATCH, "embeddings of different spaces #a and #b" (hosts that know the
 * names say them instead).
 */
rv_status	rv_check_same_space(rv_ctx *ctx, unsigned a, unsigned b);

/* Longest space name the tagged text form carries (bytes, without the NUL). */
#define RV_MAX_SPACE_NAME 1024

/*
 * Split a text form into its space tag and its array. An untagged "[...]" gives *tagged
 * 0; "name#id:[...]" gives *tagged 1, the decoded name in name (room for
 * RV_MAX_SPACE_NAME + 1 bytes; "" for "#id:") and *id. *array points at the array part,
 * to hand to rv_parse_text. Errors are RV_E_SYNTAX with the input quoted.
 */
rv_status	rv_parse_space_prefix(rv_ctx *ctx, const char *text, int *tagged, char *name,
								  unsigned *id, const char **array);

/* Room rv_format_space_prefix needs for name (NUL included). */
size_t		rv_space_prefix_size(const char *name);

/* Write "name#id:" (name quoted as needed; "#id:" for NULL or "") into buf; returns its length. */
size_t		rv_format_space_prefix(const char *name, unsigned id, char *buf);

/* ------------------------------------------------------------------------------------
 * Metrics on single vectors (metric.c): pure, vectorized, no context
 * ------------------------------------------------------------------------------------ */
double		rv_l2_squared(const float *a, const float *b, size_t n);
double		rv_l2_distance(const float *a, const float *b, size_t n);
double		rv_inner_product(const float *a, const float *b, size_t n);
/*
 * 1 - cos(a, b); defined as 1 when either vector is zero (cosine similarity 0). Vectors of
 * tiny or subnormal values are computed in double, so only an exact zero vector gives 1.
 */
double		rv_cosine_distance(const float *a, const float *b, size_t n);
double		rv_l1_distance(const float *a, const float *b, size_t n);
double		rv_linf_distance(const float *a, const float *b, size_t n);
/* |a|; exact for tiny and subnormal values too (their squares are summed in double). */
double		rv_norm(const float *a, size_t n);
/* Three-way comparison for btree: element-wise, then by dimensions. */
int			rv_compare(const float *a, size_t na, const float *b, size_t nb);
/* Hash of the values, equal for values that rv_compare calls equal (-0 == +0). */
uint32_t	rv_hash(const float *a, size_t n);

/*
 * out = a + b, a - b, a * b element-wise; RV_E_OUT_OF_RANGE "value out of range: overflow"
 * when a value overflows to infinity, and for rv_mul "value out of range: underflow" when
 * the product of two nonzero values rounds to zero (as pgvector). A nonzero subnormal
 * result is kept. Sums and differences of floats cannot underflow to zero.
 */
rv_status	rv_add(rv_ctx *ctx, const float *a, const float *b, size_t n, float *out);
rv_status	rv_sub(rv_ctx *ctx, const float *a, const float *b, size_t n, float *out);
rv_status	rv_mul(rv_ctx *ctx, const float *a, const float *b, size_t n, float *out);

/* out = a / |a|; a zero vector stays zero. The norm is exact for subnormal values too. */
void		rv_l2_normalize(const float *a, size_t n, float *out);

/* ------------------------------------------------------------------------------------
 * Aggregates (metric.c): a double-precision running sum
 * state layout: state[0] = count, state[1..dims] = sums.
 * ------------------------------------------------------------------------------------ */

/* What rv_accum_check requires beyond the layout (flags, or-ed). */
#define RV_ACCUM_ROWS	1		/* a count of at least one row (else zero is allowed) */
#define RV_ACCUM_SUMS	2		/* finite sums */

/*
 * Check a state of len doubles that a host received from outside (SQL can hand-make one):
 * 1..RV_MAX_DIMS sums after the count, a count that is a finite whole number >= 0 (> 0
 * with RV_ACCUM_ROWS), finite sums with RV_ACCUM_SUMS. RV_E_INVALID_PARAM "invalid
 * aggregate state for avg(embedding) or sum(embedding)", the detail saying what is wrong.
 */
rv_status	rv_accum_check(rv_ctx *ctx, const double *state, size_t len, int flags);
void		rv_accum(double *state, const float *v, size_t dims);
void		rv_combine(double *state, const double *other, size_t dims);
/*
 * Write sum (avg = 0) or mean (avg = 1) into out; RV_E_OUT_OF_RANGE if a value overflows.
 * The state must pass rv_accum_check(RV_ACCUM_ROWS | RV_ACCUM_SUMS).
 */
rv_status	rv_accum_final(rv_ctx *ctx, const double *state, size_t dims, int avg, float *out);

/* ------------------------------------------------------------------------------------
 * Heavy kernels: similarity matrix and exact top-k (project.c, topk.c; CPU in cpu/,
 * Vulkan in vk/). The CPU backend is the reference for every Vulkan kernel.
 * ------------------------------------------------------------------------------------ */

/* Similarity functions of the similarity matrix (larger = more similar). */
typedef enum rv_sim
{
	RV_SIM_COSINE = 0,
	RV_SIM_DOT,
	RV_SIM_NEG_L2,
	RV_SIM_NEG_L1,
	RV_SIM_NEG_LINF
} rv_sim;

/* Distance metrics of top-k search (smaller = nearer). */
typedef enum rv_metric
{
	RV_METRIC_L2 = 0,		/* Euclidean distance */
	RV_METRIC_IP,			/* negative inner product */
	RV_METRIC_COSINE,		/* 1 - cosine similarity (1 for a zero vector) */
	RV_METRIC_L1			/* Manhattan distance */
} rv_metric;

/* Parse "cosine", "dot", "euclidean"/"l2", "l1", "linf"; RV_E_INVALID_PARAM otherwise. */
rv_status	rv_sim_parse(rv_ctx *ctx, const char *name, rv_sim *out);
/* Parse "l2", "ip", "cosine", "l1"; RV_E_INVALID_PARAM otherwise. */
rv_status	rv_metric_parse(rv_ctx *ctx, const char *name, rv_metric *out);

/* Distance between two vectors under a metric (the scalar reference). */
double		rv_metric_distance(rv_metric m, const float *a, const float *b, size_t n);

/* Arguments of rv_simmatrix. All matrices are row-major float32. */
typedef struct rv_simmatrix_args
{
	const float *x;				/* n x d rows */
	size_t		n;
	const float *a;				/* k x d anchors */
	size_t		k;
	size_t		d;
	rv_sim		sim;
	const float *center;		/* d values subtracted from x and anchors first, or NULL */
	int			normalize;		/* nonzero: L2-normalize each output row */
	float	   *out;			/* n x k result, caller-allocated */
} rv_simmatrix_args;

/*
 * out[i][j] = sim(x_i - c, a_j - c). Cosine with a zero vector is 0. Runs on the backend
 * chosen by the context's device setting.
 */
rv_status	rv_simmatrix(rv_ctx *ctx, const rv_simmatrix_args *args);

/* Arguments of rv_topk. */
typedef struct rv_topk_args
{
	const float *q;				/* nq x d queries */
	size_t		nq;
	const float *x;				/* n x d corpus rows of this chunk */
	size_t		n;
	size_t		d;
	rv_metric	metric;
	size_t		k;
	int64_t		row_base;		/* row number of x[0]; rows are row_base .. row_base+n-1 */
	int64_t    *best_rows;		/* nq x k, in/out: sorted ascending, -1 = empty slot */
	float	   *best_dist;		/* nq x k, in/out: +inf in empty slots */
} rv_topk_args;

/* Fill best_rows with -1 and best_dist with +inf (nq x k). */
void		rv_topk_reset(int64_t *best_rows, float *best_dist, size_t nq, size_t k);

/*
 * Merge the k nearest rows of this chunk into each query's best list. One total order
 * everywhere: distance ascending, then row number ascending. Call once per chunk of a
 * corpus that does not fit in memory.
 */
rv_status	rv_topk(rv_ctx *ctx, const rv_topk_args *args);

/*
 * For hosts that keep kint > k candidates per query and rank them by their exact double
 * distances: whether that ranking can be trusted. Not when the list is full (m == kint)
 * and the k-th exact distance and the last kept candidate's (in the list's float order)
 * both round to the same infinite float: distances beyond float32's range all tie in the
 * list's order, and rows left out of it may come before the k-th. Stored values are finite,
 * so only such an overflow makes a float distance infinite. Returns 1 when untrustworthy.
 */
int			rv_topk_overflowed(double kth, double last_kept, size_t m, size_t kint, size_t k);

/* |a|^2 of d floats, finite for every finite input (the norm rv_lower_bounds needs). */
double		rv_norm2(const float *a, size_t d);

/*
 * Lower bounds of the exact distances rv_metric_distance from nq queries (q, nq x d) to n
 * rows (x, n x d; xn2 their rv_norm2): lb[j * ldlb + r] <= rv_metric_distance(m, q_j, x_r)
 * for every pair, -inf where nothing is known (a float32 overflow, a cosine with a zero or
 * tiny vector). From float32 inner products per block of rows (a register-blocked loop for
 * up to 32 queries, where sgemm's packing costs as much as the products; cblas_sgemm
 * beyond), with the rigorous bound of rv_topk's sgemm
 * path: a caller that recomputes exactly every row whose bound does not rule it out gets
 * the exact answer, bit for bit, from a compute-bound pass that serves nq queries at once.
 * L2, inner product and cosine; L1 is RV_E_UNSUPPORTED. On the CPU.
 */
rv_status	rv_lower_bounds(rv_ctx *ctx, rv_metric m, const float *x, const double *xn2,
							size_t n, size_t d, const float *q, size_t nq, double *lb,
							size_t ldlb);

/*
 * Int8 codes of n rows of d floats for batched lower bounds (codes8.c): per row a scale
 * s (x ~ s a, a in [-127, 127]), upper bounds of s |a| and of |x - s a|, and the sum of
 * the codes; the codes themselves, rv_codes8_bytes(n, d) bytes, in blocks of 16 rows.
 */
typedef struct rv_code8_row
{
	double		scale;
	double		anorm;
	double		enorm;
	int32_t		sum;
	int32_t		pad;
} rv_code8_row;

/* Bytes of the codes of n rows of d dimensions; 0 for d outside 1..RV_MAX_DIMS. */
size_t		rv_codes8_bytes(size_t n, size_t d);

/* Code n rows (x, n x d) into codes (rv_codes8_bytes) and rows (n). */
rv_status	rv_codes8_encode(rv_ctx *ctx, const float *x, size_t n, size_t d, int8_t *codes,
							 rv_code8_row *rows);

/*
 * Lower bounds of the exact distances rv_metric_distance from nq queries (q, nq x d) to
 * rows r0 .. r0 + nr - 1 of n coded rows (xn2 their rv_norm2, indexed from row 0), into
 * lb[j * ldlb + r - r0]; r0 a multiple of 16. The contract of rv_lower_bounds (-inf where
 * nothing is known; L1 is RV_E_UNSUPPORTED), from exact integer products of the codes:
 * the same bits on every CPU, four times fewer bytes read than the floats.
 */
rv_status	rv_codes8_bounds(rv_ctx *ctx, rv_metric m, const int8_t *codes,
							 const rv_code8_row *rows, const double *xn2, size_t n, size_t d,
							 size_t r0, size_t nr, const float *q, size_t nq, double *lb,
							 size_t ldlb);

/* 1 when this CPU computes the codes' products with AVX-512 VNNI (else plain C). */
int			rv_codes8_fast(void);

/*
 * Cones of n rows of d floats under cosine distance (cones.c): spherical k-means of up to
 * ncones groups, trained on an even sample of up to sample rows with a direction (iters
 * rounds, seed), then every row to its nearest centroid: cone (n) the group of each row,
 * -1 for a zero or tiny row; cent (ncones x d) the centroids, cnorm their norms, theta
 * the largest angle between each centroid and a row of its group (radians, widened past
 * its rounding). *used: the groups made (fewer when fewer sample rows have a direction).
 */
rv_status	rv_cones_build(rv_ctx *ctx, const float *x, size_t n, size_t d, size_t ncones,
						   uint64_t seed, int iters, size_t sample, int32_t *cone, float *cent,
						   double *cnorm, double *theta, size_t *used);

/*
 * For query q (d floats): lb[c] <= rv_metric_distance(RV_METRIC_COSINE, q, x) for every
 * row x of group c (1 - cos of the angle to the centroid less the group's largest angle,
 * with the float32 dot's error and the exact distance's rounding); -inf for every group
 * when q is zero or tiny.
 */
rv_status	rv_cones_bounds(rv_ctx *ctx, const float *cent, const double *cnorm,
							const double *theta, size_t k, size_t d, const float *q, double *lb);

/* ------------------------------------------------------------------------------------
 * Devices (device.c; Vulkan in vk/)
 *
 * Device modes: "auto" (a discrete, integrated or virtual GPU if one exists, else the CPU;
 * never a CPU-type Vulkan device such as lavapipe; small work stays on the CPU), "cpu",
 * "gpu" (the first GPU that auto would pick; an error if none), "vulkan:N" (Vulkan device
 * N of rv_list_devices, any type, used for every size of work). Vulkan is opened lazily by
 * the first kernel call that needs it and kept until rv_ctx_destroy; in "cpu" mode, and in
 * "auto" mode once no GPU was found, the loader is never touched again.
 * ------------------------------------------------------------------------------------ */

/* Validate and set the device mode (does not open Vulkan). */
rv_status	rv_set_device(rv_ctx *ctx, const char *spec);

/* The device mode string as last set ("auto" by default). */
const char *rv_device_spec(const rv_ctx *ctx);

typedef struct rv_device_info
{
	int			index;			/* N of "vulkan:N" */
	char		name[256];
	char		type[32];		/* "discrete", "integrated", "virtual", "cpu", "other" */
	char		driver[256];	/* driver name and info */
	uint64_t	memory_bytes;	/* largest device-local heap */
	int			auto_pick;		/* nonzero if "auto" would choose it */
} rv_device_info;

/*
 * Enumerate Vulkan devices (opens the loader; no devices, or no loader, gives *count = 0
 * and RV_OK). Writes at most cap entries to out; *count gets the total.
 */
rv_status	rv_list_devices(rv_ctx *ctx, rv_device_info *out, size_t cap, size_t *count);

/* Which backend ran the last heavy operation and why, e.g. "cpu (auto: no GPU found)". */
const char *rv_last_backend(const rv_ctx *ctx);

/*
 * Test hook: split storage-buffer bindings at this many bytes instead of the device's
 * maxStorageBufferRange (0 restores the device limit).
 */
void		rv_set_split_bytes(rv_ctx *ctx, size_t bytes);

/* Longest pipeline cache directory path, terminating NUL included. */
#define RV_PATH_MAX 1024

/*
 * Keep compiled Vulkan pipelines on disk in directory dir (copied; NULL or "" keeps none,
 * the default), so that a new process does not compile the shaders again. One file per
 * device and driver: its name and header carry the vendor and device IDs, the driver
 * version and the pipeline-cache UUID, and a file that does not match the open device, is
 * damaged (a checksum covers it) or is larger than RV_PIPELINE_CACHE_MAX_BYTES is ignored.
 * The file is read when a device opens and rewritten (a temporary file renamed over it, so
 * readers never see half a file) after new pipelines were built; the directory is created
 * (mode 0700) if missing, its parent must exist. Failures to read or write the cache are
 * never errors: they are logged at RV_LOG_DEBUG and the shaders are compiled as without a
 * cache. RV_E_INVALID_PARAM for a path of RV_PATH_MAX bytes or more.
 */
rv_status	rv_set_pipeline_cache_dir(rv_ctx *ctx, const char *dir);

/* The pipeline cache directory as last set ("" when none). */
const char *rv_pipeline_cache_dir(const rv_ctx *ctx);

/* Largest pipeline cache file relvec reads or writes. */
#define RV_PIPELINE_CACHE_MAX_BYTES ((size_t) 64 << 20)

/* ------------------------------------------------------------------------------------
 * Relative projection (project.c): r(x)_j = sim(x - c, a_j - c) over k anchors, for one
 * or several similarity functions; with several, each k-long sub-vector is standardized
 * (its own mean and standard deviation over the k values; a constant one becomes zeros)
 * and the sub-vectors are concatenated. Optionally the whole vector is L2-normalized.
 * ------------------------------------------------------------------------------------ */

#define RV_MAX_SIMS 5

typedef enum rv_center
{
	RV_CENTER_NONE = 0,			/* no centering */
	RV_CENTER_ANCHORS,			/* subtract the mean of the anchors */
	RV_CENTER_SPACE				/* subtract a stored mean of the whole space */
} rv_center;

/* Parse "cosine", "euclidean+cosine", ... into sims (at most RV_MAX_SIMS, no repeats). */
rv_status	rv_sim_list_parse(rv_ctx *ctx, const char *spec, rv_sim *sims, int *nsims);
/* Parse "none", "anchors" or "space". */
rv_status	rv_center_parse(rv_ctx *ctx, const char *name, rv_center *out);

typedef struct rv_projection rv_projection;

/*
 * Prepare a projection over k anchors of d dimensions (copied). space_mean is required
 * for RV_CENTER_SPACE and ignored otherwise. Free with rv_projection_destroy.
 */
rv_status	rv_projection_create(rv_ctx *ctx, const float *anchors, size_t k, size_t d,
								 const rv_sim *sims, int nsims, rv_center center,
								 const float *space_mean, int normalize, rv_projection **out);
void		rv_projection_destroy(rv_ctx *ctx, rv_projection *p);
/* Dimensions of a projected vector: k times the number of similarities. */
size_t		rv_projection_dims(const rv_projection *p);
/* Dimensions of the input space. */
size_t		rv_projection_input_dims(const rv_projection *p);

/* Project n rows of x (n x d) into out (n x rv_projection_dims); one batched kernel call. */
rv_status	rv_project(rv_ctx *ctx, const rv_projection *p, const float *x, size_t n, float *out);

/* ------------------------------------------------------------------------------------
 * Anchor choice (anchors.c). Deterministic for a seed on every machine: the PRNG is
 * splitmix64, and callers pass items in a fixed order (the PostgreSQL adapter sorts by key).
 * ------------------------------------------------------------------------------------ */
typedef enum rv_anchor_method
{
	RV_ANCHORS_RANDOM = 0,		/* uniform without replacement */
	RV_ANCHORS_FPS,				/* farthest-point sampling on L2-normalized vectors */
	RV_ANCHORS_KMEANS			/* k-means (k-means++ start), the real item nearest each centroid */
} rv_anchor_method;

rv_status	rv_anchor_method_parse(rv_ctx *ctx, const char *name, rv_anchor_method *out);

/*
 * Choose k of n items (x is n x d; unused for RV_ANCHORS_RANDOM and may be NULL then).
 * Writes k distinct item indexes into out, in the order chosen.
 */
rv_status	rv_choose_anchors(rv_ctx *ctx, const float *x, size_t n, size_t d, size_t k,
							  rv_anchor_method method, uint64_t seed, size_t *out);

/* ------------------------------------------------------------------------------------
 * Translation between two spaces (translate.c; Maiorca et al. 2023). Each space is
 * standardized with the per-dimension mean and standard deviation (+1e-8) of its own
 * anchors, the smaller side is zero-padded to dim = max(d_from, d_to), and a map is fitted
 * on the k parallel anchors: orthogonal by Procrustes (R = U Vt from the SVD of
 * Xᵀ Y, LAPACKE), linear and affine by least squares (k >= dim, k >= dim + 1).
 * translate(x) = unpad(std_from(x) · matrix + bias) · std_to + mean_to.
 * ------------------------------------------------------------------------------------ */
typedef enum rv_translate_method
{
	RV_TRANSLATE_ORTHOGONAL = 0,
	RV_TRANSLATE_LINEAR,
	RV_TRANSLATE_AFFINE
} rv_translate_method;

/* Parse "orthogonal", "linear" or "affine". */
rv_status	rv_translate_method_parse(rv_ctx *ctx, const char *name, rv_translate_method *out);
/* The name of a method, as the parser accepts it. */
const char *rv_translate_method_name(rv_translate_method m);

/*
 * A fitted translation. Every array is owned by the translation (rv_translation_destroy
 * frees them); hosts store the fields as they are and rebuild with rv_translation_load.
 */
typedef struct rv_translation
{
	rv_translate_method method;
	size_t		d_from;
	size_t		d_to;
	size_t		dim;			/* max(d_from, d_to) */
	float	   *mean_from;		/* d_from */
	float	   *std_from;		/* d_from */
	float	   *mean_to;		/* d_to */
	float	   *std_to;			/* d_to */
	float	   *matrix;			/* dim x dim, row-major */
	float	   *bias;			/* dim for affine, NULL otherwise */
} rv_translation;

/*
 * Fit a translation on k parallel anchors: a_from is k x d_from, a_to is k x d_to, row i
 * the same item in both. Fails with RV_E_RANK_DEFICIENT when linear or affine has fewer
 * independent anchors than unknowns. Free with rv_translation_destroy.
 */
rv_status	rv_translation_fit(rv_ctx *ctx, const float *a_from, const float *a_to, size_t k,
							   size_t d_from, size_t d_to, rv_translate_method method,
							   rv_translation **out);

/*
 * Rebuild a stored translation from its fields (copied and checked: sizes, finite values,
 * positive standard deviations, bias present exactly for affine).
 */
rv_status	rv_translation_load(rv_ctx *ctx, const rv_translation *fields, rv_translation **out);

void		rv_translation_destroy(rv_ctx *ctx, rv_translation *t);

/* Translate n rows of x (n x d_from) into out (n x d_to); one matrix product. */
rv_status	rv_translate(rv_ctx *ctx, const rv_translation *t, const float *x, size_t n,
						 float *out);

/* ------------------------------------------------------------------------------------
 * Comparing two spaces over the same items (stitch.c), as in Table 1 of Moschella et
 * al. 2023; ../shared/data/README.md has the exact definitions.
 * ------------------------------------------------------------------------------------ */
typedef struct rv_compare_result
{
	double		jaccard;		/* mean Jaccard of the k-neighbourhoods in C of Q_i and C_i */
	double		mrr;			/* mean 1/rank of C_i among all C_j by cosine to Q_i */
	double		cosine;			/* mean cos(Q_i, C_i) */
	double		cka;			/* linear CKA of the two absolute spaces */
} rv_compare_result;

/*
 * q and c are n x d: item i in the query side and in the corpus side of a route's common
 * space (relative vectors, or translated queries and raw corpus rows); all comparisons are
 * cosine. abs_a (n x da) and abs_b (n x db) are the absolute vectors, used for cka only.
 * Works in blocks of queries, so n x n is never held in memory.
 */
rv_status	rv_compare_spaces(rv_ctx *ctx, const float *q, const float *c, size_t n, size_t d,
							  size_t k, const float *abs_a, size_t da, const float *abs_b,
							  size_t db, rv_compare_result *out);

/* ------------------------------------------------------------------------------------
 * Resident corpora (resident.c; Vulkan in vk/resident.c): an n x d float32 corpus
 * uploaded once to a Vulkan device and kept there, for hosts that search the same rows
 * many times (the PostgreSQL rvflat index). Device-local memory, filled through a staging
 * copy, when the device has memory the host cannot map; each block of rows stays within
 * one storage-buffer binding (maxStorageBufferRange, or the rv_set_split_bytes split).
 * A handle belongs to its context: rv_resident_destroy or rv_ctx_destroy frees it. When
 * the device is closed under it (device lost, another device chosen), its device memory
 * is released at once and the handle stays valid but "released": every call on it then
 * returns RV_E_DEVICE_LOST, and the host rebuilds it or runs on the CPU.
 * ------------------------------------------------------------------------------------ */
typedef struct rv_resident rv_resident;

/*
 * Which Vulkan device a resident corpus of n x d would live on under the context's device
 * setting, by the same rule as the other kernels ("vulkan:N" always; "auto" and "gpu" only
 * a GPU, never a CPU-type device): *dev gets its index, or -1 for the CPU (reason noted
 * for rv_last_backend). Opens the loader only where the setting needs it.
 */
rv_status	rv_resident_device(rv_ctx *ctx, size_t n, size_t d, int *dev);

/*
 * Upload n rows of d floats (x, row-major; n >= 1) to the device rv_resident_device
 * chooses; RV_E_UNSUPPORTED when that is the CPU. RV_E_DEVICE_LOST (device lost or out of
 * device memory): the device was released and the host may run on the CPU. *out is freed
 * by rv_resident_destroy.
 */
rv_status	rv_resident_create(rv_ctx *ctx, const float *x, size_t n, size_t d,
							   rv_resident **out);

/* Free a resident corpus and its device memory. Accepts NULL. */
void		rv_resident_destroy(rv_ctx *ctx, rv_resident *r);

/* Rows, dimensions, device bytes, and the device index of a resident corpus. */
size_t		rv_resident_rows(const rv_resident *r);
size_t		rv_resident_dims(const rv_resident *r);
size_t		rv_resident_bytes(const rv_resident *r);
int			rv_resident_device_index(const rv_resident *r);

/* Nonzero while the corpus still has its device memory (not released). */
int			rv_resident_alive(const rv_resident *r);

/*
 * Distances from nq queries (q, nq x d) to all n resident rows, on the device: out gets
 * nq x n float32 distances (row-major by query) under metric m, with the definitions of
 * rv_metric_distance. err, if not NULL, gets nq x n error bounds: the exact distance
 * rv_metric_distance returns for that pair lies within out +/- err (err is +inf where the
 * device value cannot be trusted: not finite, or a cosine of a vector whose squared norm
 * is near the float32 range's ends). Fence waits poll the interrupt check.
 */
rv_status	rv_resident_distances(rv_ctx *ctx, rv_resident *r, rv_metric m, const float *q,
								  size_t nq, float *out, float *err);

/* Longest candidate list of rv_resident_topk. */
#define RV_RESIDENT_MAX_CANDIDATES 1024

/*
 * Candidates for an exact search of a resident corpus, from one pass over its rows per
 * batch of up to 16 queries (the few-query kernel, shaders/fewq.glsl): for each of nq
 * queries the kc rows (1 <= kc <= RV_RESIDENT_MAX_CANDIDATES) with the smallest float32
 * device distances, in the order (device distance, row), with what an exact recheck needs:
 *   rows  nq x kc row numbers (0 .. n-1), -1 in the slots past the corpus's rows;
 *   dist  nq x kc device distances; -inf for a row whose device distance the error bound
 *         does not cover (not finite, a cosine of a vector with a squared norm near the
 *         float32 range's ends): such rows come first and must be recomputed; +inf in
 *         empty slots;
 *   err   nq x kc (or NULL): the exact distance rv_metric_distance gives lies within
 *         dist +/- err (+inf where dist is -inf), as for rv_resident_distances;
 *   rest  nq (or NULL): every row NOT in query j's list has an exact distance >= rest[j]
 *         (+inf when the list holds every row, -inf when nothing is known).
 * So the k nearest rows by exact distance are among the candidates whenever the k-th
 * smallest exact distance of the candidates is below rest[j]. RV_E_LIMIT when the lists do
 * not fit the device (the caller then uses rv_resident_distances).
 */
rv_status	rv_resident_topk(rv_ctx *ctx, rv_resident *r, rv_metric m, const float *q,
							 size_t nq, size_t kc, int64_t *rows, float *dist, float *err,
							 double *rest);

/*
 * The exact k nearest rows of a resident corpus for each of nq queries: rows (nq x k) and
 * their distances rv_metric_distance (nq x k doubles), in the order (distance, row), with
 * (-1, +inf) past the corpus's rows. x is the host copy of the n x d rows the corpus was
 * made from, for the exact recheck. Candidates come from rv_resident_topk (k plus a margin,
 * then a longer list for a query whose candidates cannot prove its k-th place, and as a
 * last resort every device distance with its bound), so the answer always equals the CPU's.
 */
rv_status	rv_resident_knn(rv_ctx *ctx, rv_resident *r, const float *x, rv_metric m,
							const float *q, size_t nq, size_t k, int64_t *rows, double *dist);

/*
 * The bound behind err: how far a float32 device distance dist of metric m over d
 * dimensions may lie from rv_metric_distance, given the two vectors' L2 norms (pure).
 */
double		rv_resident_error_bound(rv_metric m, size_t d, double xnorm, double qnorm,
									double dist);

/*
 * Test hook: nonzero makes every device take the path of a discrete GPU: resident uploads
 * through staging copies, rv_simmatrix in device-local buffers with copies in and out.
 */
void		rv_set_resident_staging(rv_ctx *ctx, int force);

/* ------------------------------------------------------------------------------------
 * Approximate search (ivf.c): inverted lists over k-means centroids, and RaBitQ codes
 * (Gao & Long, SIGMOD 2024) of each row's residual from its centroid.
 *
 * Every vector an index holds or is asked about first goes to the index space with
 * rv_ivf_prepare: L2-normalized for the cosine metric, zero-padded to pd =
 * rv_ivf_padded_dims(d) (a multiple of 64), then turned by a seeded random orthogonal
 * map (random signs and normalized Walsh-Hadamard transforms over two overlapping
 * power-of-two blocks, RV_IVF_ROUNDS times). The map keeps distances and inner products,
 * so centroids trained there and codes of residuals serve the original metric. A code is
 * pd bits, the signs of the rotated residual x - c, with three floats (rv_ivf_factors).
 * With a query's table for the list (rv_ivf_lut) it gives an unbiased estimate of the
 * metric's distance and a lower bound that holds with high probability (RaBitQ's bound
 * with epsilon0 = 3, wider than the paper's 1.9): they choose candidates, and the host reranks them exactly.
 * ------------------------------------------------------------------------------------ */

/* Rounds of the index space's map (two transforms each). */
#define RV_IVF_ROUNDS 2

/* Dimensions of the index space for d dimensions: d rounded up to a multiple of 64. */
size_t		rv_ivf_padded_dims(size_t d);

/* Bytes of one code's bits: pd / 8 (bit i is bit i % 8 of byte i / 8). */
size_t		rv_ivf_code_bytes(size_t pd);

/*
 * Map n rows of d floats (x, row-major) into the index space of seed: out gets n x pd
 * floats. For RV_METRIC_COSINE each row is L2-normalized first (a zero row stays zero).
 * RV_E_UNSUPPORTED for RV_METRIC_L1 (the codes bound no L1 distance).
 */
rv_status	rv_ivf_prepare(rv_ctx *ctx, rv_metric m, uint64_t seed, const float *x, size_t n,
						   size_t d, float *out);

/*
 * Threads the CPU's matrix products (OpenBLAS) use from now on, process-wide: 1 unless a
 * caller raises it for a long call of its own (an index build) and sets it back after.
 * Returns the number before.
 */
int			rv_cpu_set_threads(int n);

/*
 * k-means: nlists centroids (out, nlists x pd) of n prepared rows (x, n x pd), 1 <=
 * nlists <= n, from nlists distinct rows chosen by seed, then iters rounds of Lloyd's
 * assignment (rv_ivf_assign with RV_METRIC_L2, so on the device the context chooses) and
 * update. A list left empty takes half of the largest list (its centroid, nudged), as
 * FAISS does, so every list is used. For RV_METRIC_COSINE centroids are L2-normalized
 * after each update (spherical k-means). Polls the interrupt check.
 */
rv_status	rv_ivf_train(rv_ctx *ctx, rv_metric m, const float *x, size_t n, size_t pd,
						 size_t nlists, uint64_t seed, int iters, float *out);

/*
 * The nprobe nearest of nlists centroids (c, nlists x pd) to each of n prepared rows (x,
 * n x pd) by metric m (lists: n x nprobe list numbers, nearest first, ties by the smaller
 * number; 1 <= nprobe <= nlists). Through rv_topk. A build assigns rows with
 * RV_METRIC_L2 (the list whose centroid is nearest, the smallest residual); a query
 * probes with the index's own metric.
 */
rv_status	rv_ivf_assign(rv_ctx *ctx, rv_metric m, const float *c, size_t nlists, size_t pd,
						  const float *x, size_t n, size_t nprobe, int32_t *lists);

/*
 * A ranker of an index's centroids: a half-precision copy and their norms (ivfrank.c), for
 * rv_ivf_rank. It copies what it needs of c; c itself must stay for rv_ivf_rank.
 */
typedef struct rv_ivf_ranker rv_ivf_ranker;

rv_status	rv_ivf_ranker_create(rv_ctx *ctx, const float *c, size_t nlists, size_t pd,
								 rv_ivf_ranker **out);
void		rv_ivf_ranker_destroy(rv_ctx *ctx, rv_ivf_ranker *r);

/*
 * rv_ivf_assign for one prepared query q (pd): the nprobe nearest of the ranker's nlists
 * centroids c by metric m, the same lists in the same order, reading half the bytes (a
 * pass over the ranker's copy with an error bound, then exact distances near the cut).
 */
rv_status	rv_ivf_rank(rv_ctx *ctx, rv_metric m, const float *c, const rv_ivf_ranker *r,
						const float *q, size_t nprobe, int32_t *lists);

/* What a code keeps beside its bits. */
typedef struct rv_ivf_factors
{
	float		onorm;			/* |o|, o = x - c (prepared row minus its centroid) */
	float		ipq;			/* <sign bits / sqrt(pd), o / |o|> in (0, 1]; 1 when o = 0 */
	float		oc;				/* <o, c> */
	float		xc;				/* <sign bits / sqrt(pd), c>: one query table serves all lists */
} rv_ivf_factors;

/* Code of prepared row x (pd) against its centroid c (pd): code gets the sign bits. */
void		rv_ivf_encode(const float *x, const float *c, size_t pd, uint8_t *code,
						  rv_ivf_factors *f);

/* A query's table: rv_ivf_lut_query, then rv_ivf_lut_list per list, fill it; rv_ivf_estimate reads it. */
typedef struct rv_ivf_lut rv_ivf_lut;

rv_status	rv_ivf_lut_create(rv_ctx *ctx, size_t pd, rv_ivf_lut **out);
void		rv_ivf_lut_destroy(rv_ctx *ctx, rv_ivf_lut *lut);

/*
 * The table of prepared query q (pd) for metric m: the part every list shares, the sums of
 * q over each byte's bits (pd / 8 x 256 floats; once per query).
 */
void		rv_ivf_lut_query(rv_ivf_lut *lut, rv_metric m, const float *q);
/* The list's part, for the list whose centroid is c (pd): O(pd), after rv_ivf_lut_query. */
void		rv_ivf_lut_list(rv_ivf_lut *lut, const float *c);
/* Both: the table for prepared query q (pd) and the list whose centroid is c (pd). */
void		rv_ivf_lut_set(rv_ivf_lut *lut, rv_metric m, const float *q, const float *c);

/*
 * Estimate of the metric's distance (as rv_metric_distance defines it) between the query
 * of lut and the row of a code of the table's list: *est, and *lb <= *est, a lower bound
 * that holds with high probability (not always: the host must not rely on it for order).
 */
void		rv_ivf_estimate(const rv_ivf_lut *lut, const uint8_t *code,
							const rv_ivf_factors *f, float *est, float *lb);
/*
 * The same for n codes of the table's list at once (codes[i] with factors f[i]): est[i]
 * and lb[i], each the bits rv_ivf_estimate gives for the row alone; est may be NULL.
 * Faster per row: the sums and the arithmetic run over the batch.
 */
void		rv_ivf_estimate_many(const rv_ivf_lut *lut, const uint8_t *const *codes,
								 const rv_ivf_factors *const *f, size_t n, float *est,
								 float *lb);

#ifdef __cplusplus
}
#endif

#endif							/* RELVEC_BRIDGE_H */
