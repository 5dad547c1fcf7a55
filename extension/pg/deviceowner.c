/*
 * deviceowner.c — one process owns the Vulkan device for the whole server: the "relvec
 * device owner" background worker, and the backends' side of its protocol.
 *
 * Without it every backend that sends rvflat scans to a device opens the device itself,
 * compiles its pipelines and uploads its own copy of every index (rvflatresident.c). With
 * relvec in shared_preload_libraries and relvec.device_owner not 'off', the postmaster
 * starts a background worker that runs relvec-deviced (extension/deviced/deviced.c), a
 * separate program without access to the server's shared memory: it opens the device named
 * by relvec.device_owner once, keeps one resident copy of each index (bounded by
 * relvec.device_owner_mb), and answers candidate requests from every backend over a Unix
 * socket in the data directory (extension/deviced/rvd_protocol.h), batching the requests
 * that arrive together into one pass over the copy.
 *
 * Why a separate program: PostgreSQL treats the death of any process attached to its shared
 * memory, a background worker included, by a signal as a crash and restarts every backend.
 * A device driver that hangs or dies (or a kill -9) must not take the server with it. The
 * worker only supervises: it starts relvec-deviced, and starts it again a second later
 * whenever it exits, counting restarts in shared memory. The program exits when the worker
 * does (PR_SET_PDEATHSIG, and a check of its parent).
 *
 * A backend's scan of an rvflat index goes to the owner when the owner has a device, the
 * session's relvec.device is not 'cpu' ('vulkan:N' always; 'auto' and 'gpu' from
 * RVD_AUTO_MIN_FLOATS floats on, as the bridge keeps smaller work on the CPU) and the
 * server's shared host copy of the index is ready (rvflatshared.c): the owner computes the
 * candidates and their error bounds on the device, and the backend rechecks them exactly
 * from the shared copy, as a scan of a device copy of its own does (rvflatscan.c). The first
 * request for a state of an index uploads the shared copy's rows to the owner. Whatever goes
 * wrong with the owner (not running, gone mid-request, out of device memory, a failed
 * kernel) the scan runs on the CPU from the same copy, with a NOTICE where a running owner
 * failed it: the same rows, order and distances. Waits for the owner's replies check for
 * interrupts: a cancel or statement_timeout ends the wait at once, and the connection, whose
 * state is then unknown, is closed (the next request opens a new one).
 */
#include "postgres.h"

#include <limits.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "rvflat.h"
#include "../deviced/rvd_protocol.h"

/* What the postmaster and every backend see of the owner. */
typedef struct OwnerShared
{
	pg_atomic_uint32 pid;		/* relvec-deviced's, 0 while none runs */
	pg_atomic_uint64 starts;	/* times the worker started it */
} OwnerShared;

static char *owner_device = NULL;	/* relvec.device_owner */
static int	owner_mb = 4096;	/* relvec.device_owner_mb */
static int	owner_wait_us = 200;	/* relvec.device_owner_batch_wait_us */
static bool owner_registered = false;
static OwnerShared *owner_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* This backend's connection to the owner. */
static pgsocket owner_sock = PGINVALID_SOCKET;
static rvd_hello owner_hello;
static bool owner_busy = false;	/* a request was sent and its reply not fully read */

void		relvec_device_owner_main(Datum arg);

static void
owner_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(OwnerShared)));
}

static void
owner_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	owner_shared = ShmemInitStruct("relvec device owner", sizeof(OwnerShared), &found);
	if (!found)
	{
		pg_atomic_init_u32(&owner_shared->pid, 0);
		pg_atomic_init_u64(&owner_shared->starts, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

static bool
check_owner_device(char **newval, void **extra, GucSource source)
{
	const char *v = *newval;

	(void) extra;
	(void) source;
	if (strcmp(v, "off") == 0 || strcmp(v, "auto") == 0 || strcmp(v, "gpu") == 0)
		return true;
	if (strncmp(v, "vulkan:", 7) == 0 && v[7] >= '0' && v[7] <= '9' &&
		strspn(v + 7, "0123456789") == strlen(v + 7) && strlen(v + 7) <= 4)
		return true;
	GUC_check_errdetail("relvec.device_owner must be off, auto, gpu or vulkan:N.");
	return false;
}

/* GUCs, and the worker's registration when relvec is being preloaded (called from _PG_init). */
void
rvflat_owner_init(void)
{
	BackgroundWorker worker;
	/*
	 * Server-start settings. A PGC_POSTMASTER setting can only be defined at preload; in a
	 * backend that loads relvec later they are defined as reloadable instead, with no
	 * effect, so that ALTER SYSTEM can check and write them before the restart that
	 * preloads relvec (the prefix is reserved: an unknown relvec.* name is an error).
	 */
	GucContext	ctx = process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP;

	DefineCustomStringVariable("relvec.device_owner",
							   "The Vulkan device the relvec device owner opens for every backend's "
							   "rvflat scans (relvec in shared_preload_libraries): off, auto, gpu "
							   "or vulkan:N.",
							   "auto and gpu pick a GPU, never a CPU-type device such as lavapipe; "
							   "off starts no owner (each backend then opens a device itself when "
							   "relvec.device sends it one).",
							   &owner_device, "auto", ctx, 0,
							   check_owner_device, NULL, NULL);
	DefineCustomIntVariable("relvec.device_owner_mb",
							"Device memory, in megabytes, the relvec device owner keeps rvflat "
							"indexes resident in.",
							"Least recently used indexes are dropped beyond it; an index larger "
							"than it is scanned on the CPU.",
							&owner_mb, 4096, 1, INT_MAX / 2, ctx, GUC_UNIT_MB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("relvec.device_owner_batch_wait_us",
							"Microseconds the relvec device owner waits for more requests of the "
							"same index to answer them in one pass.",
							"It waits only while other connections are open; 0: it answers what "
							"has arrived.",
							&owner_wait_us, 200, 0, 100000, ctx, 0,
							NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = owner_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = owner_shmem_startup;
	if (strcmp(owner_device, "off") == 0)
		return;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	worker.bgw_start_time = BgWorkerStart_PostmasterStart;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "relvec");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "relvec_device_owner_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "relvec device owner");
	snprintf(worker.bgw_type, BGW_MAXLEN, "relvec device owner");
	RegisterBackgroundWorker(&worker);
	owner_registered = true;
}

/* ---------------------------------------------------------------------------------------
 * The worker: start relvec-deviced, start it again when it exits, stop it on shutdown
 * --------------------------------------------------------------------------------------- */

static volatile sig_atomic_t child_exited = false;

static void
owner_sigchld(SIGNAL_ARGS)
{
	int			save_errno = errno;

	(void) postgres_signal_arg;
	child_exited = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static pid_t
start_daemon(const char *path)
{
	char		mb[32];
	char		wait[32];
	char	   *argv[] = {(char *) path, "--socket", RVD_SOCKET_NAME, "--device", owner_device,
		"--memory-mb", mb, "--batch-wait-us", wait, NULL};
	pid_t		pid;

	snprintf(mb, sizeof(mb), "%d", owner_mb);
	snprintf(wait, sizeof(wait), "%d", owner_wait_us);
	fflush(NULL);
	pid = fork();
	if (pid == 0)
	{
		sigset_t	none;
		int			s;

		/* a clean program: default dispositions, nothing blocked (exec keeps ignores) */
		for (s = 1; s < NSIG; s++)
			if (s != SIGKILL && s != SIGSTOP)
				signal(s, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(path, argv);
		fprintf(stderr, "relvec device owner: cannot run \"%s\": %s\n", path, strerror(errno));
		_exit(127);
	}
	if (pid < 0)
		ereport(LOG, (errmsg("relvec device owner: could not fork: %m")));
	return pid;
}

void
relvec_device_owner_main(Datum arg)
{
	char		dir[MAXPGPATH];
	char		path[MAXPGPATH + 32];
	pid_t		child = -1;
	TimestampTz started = 0;
	long		delay_ms = 0;

	(void) arg;
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SIG_IGN);
	pqsignal(SIGCHLD, owner_sigchld);
	BackgroundWorkerUnblockSignals();
	get_pkglib_path(my_exec_path, dir);
	snprintf(path, sizeof(path), "%s/relvec-deviced", dir);

	for (;;)
	{
		int			status;

		if (ShutdownRequestPending)
			break;
		if (child > 0 && waitpid(child, &status, WNOHANG) == child)
		{
			pg_atomic_write_u32(&owner_shared->pid, 0);
			if (WIFSIGNALED(status))
				ereport(LOG, (errmsg("relvec device owner: relvec-deviced (PID %d) was killed by signal %d; starting it again",
									 (int) child, WTERMSIG(status))));
			else
				ereport(LOG, (errmsg("relvec device owner: relvec-deviced (PID %d) exited with status %d; starting it again",
									 (int) child, WEXITSTATUS(status))));
			/* a second later; one that died within a second of its start, five */
			delay_ms = TimestampDifferenceExceeds(started, GetCurrentTimestamp(), 1000) ? 1000 : 5000;
			child = -1;
		}
		if (child < 0 && delay_ms <= 0)
		{
			child = start_daemon(path);
			started = GetCurrentTimestamp();
			if (child > 0)
			{
				pg_atomic_write_u32(&owner_shared->pid, (uint32) child);
				pg_atomic_fetch_add_u64(&owner_shared->starts, 1);
			}
			else
				delay_ms = 10000;
		}
		child_exited = false;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 child < 0 ? Max(delay_ms, 1) : 1000, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (child < 0)
			delay_ms -= delay_ms > 1000 ? 1000 : delay_ms;
		CHECK_FOR_INTERRUPTS();
	}
	if (child > 0)
	{
		int			i;

		kill(child, SIGTERM);
		for (i = 0; i < 100 && waitpid(child, NULL, WNOHANG) == 0; i++)
			pg_usleep(50000);
		if (i == 100)
		{
			kill(child, SIGKILL);
			(void) waitpid(child, NULL, 0);
		}
	}
	pg_atomic_write_u32(&owner_shared->pid, 0);
	proc_exit(0);
}

/* ---------------------------------------------------------------------------------------
 * The backends' side
 * --------------------------------------------------------------------------------------- */

static void
owner_disconnect(void)
{
	if (owner_sock != PGINVALID_SOCKET)
		closesocket(owner_sock);
	owner_sock = PGINVALID_SOCKET;
	owner_busy = false;
}

/*
 * Move len bytes to (write) or from the owner, waiting on the socket and the latch; false
 * when the connection failed or closed. An interrupt raises its error here, with
 * owner_busy still set: the next request closes the connection first.
 */
static bool
owner_io(char *buf, Size len, bool write)
{
	while (len > 0)
	{
		ssize_t		r;

		CHECK_FOR_INTERRUPTS();
		r = write ? send(owner_sock, buf, len, MSG_NOSIGNAL) : recv(owner_sock, buf, len, 0);
		if (r > 0)
		{
			buf += r;
			len -= (Size) r;
			continue;
		}
		if (r == 0)
			return false;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return false;
		(void) WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH |
								 (write ? WL_SOCKET_WRITEABLE : WL_SOCKET_READABLE),
								 owner_sock, -1, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	return true;
}

/* Connected to a running owner (true), or none to talk to (false). */
static bool
owner_connect(void)
{
	struct sockaddr_un addr;

	if (owner_busy)
		owner_disconnect();		/* a request was cut short: its reply is still coming */
	if (owner_sock != PGINVALID_SOCKET)
		return true;
	if (owner_shared == NULL || pg_atomic_read_u32(&owner_shared->pid) == 0)
		return false;
	owner_sock = socket(AF_UNIX, SOCK_STREAM, 0);
	if (owner_sock == PGINVALID_SOCKET)
		return false;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strlcpy(addr.sun_path, RVD_SOCKET_NAME, sizeof(addr.sun_path));
	if (connect(owner_sock, (struct sockaddr *) &addr, sizeof(addr)) != 0 ||
		!pg_set_noblock(owner_sock))
	{
		owner_disconnect();
		return false;
	}
	owner_busy = true;
	if (!owner_io((char *) &owner_hello, sizeof(owner_hello), false) ||
		owner_hello.magic != RVD_MAGIC)
	{
		owner_disconnect();
		return false;
	}
	owner_busy = false;
	return true;
}

/*
 * Should this scan of index (about rows x dims floats) go to the owner? Only when relvec
 * is preloaded with an owner that has a device, and the session lets it.
 */
bool
rvflat_owner_wanted(Size rows, int dims)
{
	const char *spec;

	if (!owner_registered || owner_shared == NULL || !rvflat_shared_enabled())
		return false;
	spec = GetConfigOption("relvec.device", true, false);
	if (spec == NULL || strcmp(spec, "cpu") == 0)
		return false;
	if (strncmp(spec, "vulkan:", 7) != 0 && (double) rows * dims < RVD_AUTO_MIN_FLOATS)
		return false;
	return owner_connect() && owner_hello.has_device;
}

/*
 * True when a scan under relvec.device = 'auto' should run on the CPU without this backend
 * looking for a device itself: the owner runs and found none (auto picks the same GPUs in
 * either process). Opening the Vulkan loader only to learn that costs every backend its
 * drivers' memory (lavapipe loads LLVM: about 25 MB of private memory per backend).
 */
bool
rvflat_owner_says_cpu(void)
{
	const char *spec;

	if (!owner_registered || owner_shared == NULL || strcmp(owner_device, "auto") != 0)
		return false;
	spec = GetConfigOption("relvec.device", true, false);
	if (spec == NULL || strcmp(spec, "auto") != 0)
		return false;
	return owner_connect() && !owner_hello.has_device;
}

/*
 * One request and its reply: the reply's payload goes to out (exactly out_len bytes for
 * RVD_OK; a message for RVD_FAILED). Returns the status, or -1 when the connection failed
 * (closed; the caller runs on the CPU).
 */
static int
owner_request(rvd_req *req, const void *payload, void *out, Size out_len, char *message)
{
	rvd_resp	resp;

	message[0] = '\0';
	if (!owner_connect())
		return -1;
	req->magic = RVD_MAGIC;
	owner_busy = true;
	if (!owner_io((char *) req, sizeof(*req), true) ||
		(req->payload_bytes > 0 && !owner_io((char *) payload, req->payload_bytes, true)) ||
		!owner_io((char *) &resp, sizeof(resp), false) || resp.magic != RVD_MAGIC)
	{
		owner_disconnect();
		return -1;
	}
	if (resp.status == RVD_OK && resp.payload_bytes != out_len)
	{
		owner_disconnect();
		return -1;
	}
	if (resp.status == RVD_FAILED && resp.payload_bytes > 0)
	{
		Size		len = Min(resp.payload_bytes, (uint64) RVD_MESSAGE_MAX);

		if (!owner_io(message, len, false) || resp.payload_bytes != len)
		{
			owner_disconnect();
			return -1;
		}
		message[len - 1] = '\0';
	}
	else if (resp.payload_bytes > 0 && (resp.status != RVD_OK ||
										!owner_io((char *) out, out_len, false)))
	{
		owner_disconnect();
		return -1;
	}
	owner_busy = false;
	return resp.status;
}

static void
fill_key(rvd_key *key, const RvflatResident *res)
{
	key->spc = res->node.spcNode;
	key->db = res->node.dbNode;
	key->rel = res->node.relNode;
	key->dims = (uint32) res->dims;
	key->change_count = res->change_count;
	key->n = res->n;
}

/* A NOTICE for a scan the owner failed: it goes on on the CPU. */
static void
owner_notice(int status, const char *message)
{
	if (status < 0)
		ereport(NOTICE,
				(errmsg("the relvec device owner did not answer, running the rvflat scan on the CPU instead"),
				 errdetail("The connection to relvec-deviced closed; it is started again.")));
	else if (status == RVD_FAILED)
		ereport(NOTICE,
				(errmsg("the relvec device owner failed, running the rvflat scan on the CPU instead"),
				 errdetail("%s", message)));
}

/*
 * Ask the owner for what op needs about query q over the rows of res (uploading them once
 * if the owner lacks them). True with out filled; false, after a NOTICE where the owner
 * failed, when the scan must run on the CPU.
 */
static bool
owner_ask(rvd_op op, RvflatResident *res, RvflatMetric metric, const float *q, Size kc,
		  void *out, Size out_len)
{
	rvd_req		req;
	char		message[RVD_MESSAGE_MAX];
	int			st;
	int			attempt;

	for (attempt = 0; attempt < 2; attempt++)
	{
		memset(&req, 0, sizeof(req));
		req.op = op;
		fill_key(&req.key, res);
		req.metric = (uint32) metric;
		req.kc = (uint32) kc;
		req.payload_bytes = sizeof(float) * (uint64) res->dims;
		st = owner_request(&req, q, out, out_len, message);
		if (st != RVD_MISSING)
			break;
		memset(&req, 0, sizeof(req));
		req.op = RVD_OP_UPLOAD;
		fill_key(&req.key, res);
		req.payload_bytes = sizeof(float) * (uint64) res->dims * res->n;
		st = owner_request(&req, res->x, NULL, 0, message);
		if (st != RVD_OK)
			break;
	}
	if (st == RVD_OK)
		return true;
	owner_notice(st, message);
	return false;
}

/*
 * The owner's candidates for query q (rv_resident_topk's rows, dist, err and rest for kc
 * candidates), or false when the scan must run on the CPU.
 */
bool
rvflat_owner_topk(RvflatResident *res, RvflatMetric metric, const float *q, Size kc,
				  int64_t *rows, float *dist, float *err, double *rest)
{
	Size		len = sizeof(double) + kc * (sizeof(int64_t) + 2 * sizeof(float));
	char	   *buf = palloc(len);
	bool		ok = owner_ask(RVD_OP_TOPK, res, metric, q, kc, buf, len);

	if (ok)
	{
		memcpy(rest, buf, sizeof(double));
		memcpy(rows, buf + sizeof(double), kc * sizeof(int64_t));
		memcpy(dist, buf + sizeof(double) + kc * sizeof(int64_t), kc * sizeof(float));
		memcpy(err, buf + sizeof(double) + kc * (sizeof(int64_t) + sizeof(float)),
			   kc * sizeof(float));
	}
	pfree(buf);
	return ok;
}

/* Every row's device distance and bound for query q, or false (the CPU then). */
bool
rvflat_owner_distances(RvflatResident *res, RvflatMetric metric, const float *q, float *dist,
					   float *err)
{
	Size		len = 2 * sizeof(float) * res->n;
	char	   *buf = MemoryContextAllocHuge(CurrentMemoryContext, len);
	bool		ok = owner_ask(RVD_OP_DIST, res, metric, q, 0, buf, len);

	if (ok)
	{
		memcpy(dist, buf, sizeof(float) * res->n);
		memcpy(err, buf + sizeof(float) * res->n, sizeof(float) * res->n);
	}
	pfree(buf);
	return ok;
}

/* relvec_device_owner(): the owner's state, one row. */
PG_FUNCTION_INFO_V1(relvec_device_owner);
Datum
relvec_device_owner(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[15];
	bool		nulls[15];
	rvd_stats	s;
	rvd_req		req;
	char		message[RVD_MESSAGE_MAX];
	bool		have = false;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	memset(nulls, true, sizeof(nulls));
	values[0] = BoolGetDatum(owner_registered);
	nulls[0] = false;
	if (owner_shared != NULL)
	{
		values[14] = Int64GetDatum((int64) pg_atomic_read_u64(&owner_shared->starts));
		nulls[14] = false;
	}
	if (owner_registered)
	{
		memset(&req, 0, sizeof(req));
		req.op = RVD_OP_STATS;
		have = owner_request(&req, NULL, &s, sizeof(s), message) == RVD_OK;
	}
	if (have)
	{
		uint64		counters[] = {s.budget_bytes, s.resident, s.resident_bytes, s.connections,
			s.requests, s.batches, s.batched, s.largest_batch, s.uploads, s.evictions, s.failures};

		s.device[sizeof(s.device) - 1] = '\0';
		values[1] = Int32GetDatum(s.pid);
		values[2] = s.device_index >= 0 ? CStringGetTextDatum(s.device) : (Datum) 0;
		nulls[1] = false;
		nulls[2] = s.device_index < 0;
		/* connections: not counting this one */
		counters[3] = counters[3] > 0 ? counters[3] - 1 : 0;
		for (i = 0; i < 11; i++)
		{
			values[3 + i] = Int64GetDatum((int64) Min(counters[i], (uint64) PG_INT64_MAX));
			nulls[3 + i] = false;
		}
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
