/*
 * rvd_protocol.h — the wire protocol between PostgreSQL backends and relvec-deviced, the
 * process that owns the Vulkan device for the whole server (extension/deviced/deviced.c;
 * started and restarted by the "relvec device owner" background worker,
 * extension/pg/deviceowner.c).
 *
 * Transport: a Unix stream socket, RVD_SOCKET_NAME, relative to the data directory (every
 * server process and the daemon run with it as their working directory). Both ends are
 * processes of the same binary build on the same machine: integers and floats travel in
 * host byte order, structs as laid out here (every field naturally aligned, no padding
 * holes: the static assertions at the end check the sizes).
 *
 * A connection: the daemon first sends one rvd_hello. Then the client sends requests, one
 * at a time, each an rvd_req header followed by req.payload_bytes bytes, and reads one
 * reply, an rvd_resp header followed by resp.payload_bytes bytes, before the next request.
 * A client that closes its end mid-request (a cancel) loses nothing: the daemon drops the
 * connection and any reply for it.
 *
 * Requests (key: an index as of one state, see rvd_key):
 *   RVD_OP_TOPK    payload: dims floats (one query). Reply RVD_OK with payload: double
 *                  rest, then kc int64 rows, kc float dist, kc float err, exactly as
 *                  rv_resident_topk gives them for that query; RVD_MISSING when the key is
 *                  not resident (send RVD_OP_UPLOAD, then ask again); RVD_FULL when its
 *                  n x dims floats exceed the memory budget (it never will be: no upload).
 *   RVD_OP_DIST    payload: dims floats (one query). Reply RVD_OK with payload: n float
 *                  dist then n float err, as rv_resident_distances; or RVD_MISSING, RVD_FULL.
 *   RVD_OP_UPLOAD  payload: n x dims floats, the rows in the order the client numbers
 *                  them. Reply RVD_OK (resident now; any other key of the same index is
 *                  dropped), RVD_FULL (larger than the daemon's memory budget: the client
 *                  scans on the CPU).
 *   RVD_OP_STATS   no payload. Reply RVD_OK with payload: one rvd_stats.
 * Any request may also get RVD_NODEVICE (the daemon has no device) or RVD_FAILED (payload:
 * a NUL-terminated message, at most RVD_MESSAGE_MAX bytes): the client scans on the CPU.
 *
 * TOPK requests of the same key, metric and kc that are waiting when the daemon turns to
 * its sockets are answered by one rv_resident_topk call: concurrent scans of one index from
 * many backends share a pass over the device copy (dynamic batching). A batched answer may
 * differ from a lone one in the last bits of a device distance (the kernel is built per
 * batch size, and a compiler may fuse multiply-adds differently in each build), never
 * beyond its error bound: the client's exact recheck gives the same rows either way.
 */
#ifndef RVD_PROTOCOL_H
#define RVD_PROTOCOL_H

#include <stdint.h>

#define RVD_SOCKET_NAME "relvec_device.sock"
#define RVD_MAGIC 0x72766431u	/* "rvd1" */
#define RVD_MESSAGE_MAX 1024
/* Most queries one rv_resident_topk call of the daemon answers. */
#define RVD_BATCH_MAX 64
/*
 * Under relvec.device = 'auto' or 'gpu', a backend sends an index's scans to the device
 * owner only from this many floats (rows x dims) on, as the bridge keeps smaller work on
 * the CPU (bridge/resident.c, RV_AUTO_MIN_RESIDENT_WORK).
 */
#define RVD_AUTO_MIN_FLOATS (1.0 * (1 << 20))

typedef enum rvd_op
{
	RVD_OP_TOPK = 1,
	RVD_OP_DIST = 2,
	RVD_OP_UPLOAD = 3,
	RVD_OP_STATS = 4
} rvd_op;

typedef enum rvd_status
{
	RVD_OK = 0,
	RVD_MISSING = 1,
	RVD_FULL = 2,
	RVD_NODEVICE = 3,
	RVD_FAILED = 4
} rvd_status;

/* An index as of one state: its relfilenode, its change_count, its shape. */
typedef struct rvd_key
{
	uint32_t	spc;
	uint32_t	db;
	uint32_t	rel;
	uint32_t	dims;
	uint64_t	change_count;
	uint64_t	n;				/* rows with a vector */
} rvd_key;

typedef struct rvd_hello
{
	uint32_t	magic;
	int32_t		pid;			/* the daemon's */
	int32_t		has_device;		/* 0: every request gets RVD_NODEVICE */
	int32_t		device_index;	/* N of vulkan:N, -1 when none */
	char		device[256];	/* the device's name, "" when none */
} rvd_hello;

typedef struct rvd_req
{
	uint32_t	magic;
	uint32_t	op;				/* rvd_op */
	rvd_key		key;
	uint32_t	metric;			/* rv_metric */
	uint32_t	kc;				/* TOPK: 1 .. RV_RESIDENT_MAX_CANDIDATES */
	uint64_t	payload_bytes;
} rvd_req;

typedef struct rvd_resp
{
	uint32_t	magic;
	int32_t		status;			/* rvd_status */
	uint64_t	payload_bytes;
} rvd_resp;

typedef struct rvd_stats
{
	int32_t		pid;
	int32_t		device_index;
	char		device[256];
	uint64_t	budget_bytes;
	uint64_t	resident;		/* indexes resident now */
	uint64_t	resident_bytes;
	uint64_t	connections;	/* open now */
	uint64_t	requests;		/* TOPK and DIST requests answered */
	uint64_t	batches;		/* rv_resident_topk calls for two queries or more */
	uint64_t	batched;		/* queries those calls answered */
	uint64_t	largest_batch;
	uint64_t	uploads;
	uint64_t	evictions;
	uint64_t	failures;		/* requests answered RVD_FAILED */
} rvd_stats;

_Static_assert(sizeof(rvd_key) == 32, "rvd_key has no padding");
_Static_assert(sizeof(rvd_hello) == 272, "rvd_hello has no padding");
_Static_assert(sizeof(rvd_req) == 56, "rvd_req has no padding");
_Static_assert(sizeof(rvd_resp) == 16, "rvd_resp has no padding");
_Static_assert(sizeof(rvd_stats) == 352, "rvd_stats has no padding");

#endif							/* RVD_PROTOCOL_H */
