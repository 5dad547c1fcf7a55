/*
 * deviced.c — relvec-deviced, the process that owns one Vulkan device for the whole
 * database server and answers the exact-kNN candidate requests of many backends over a
 * Unix socket (the protocol: rvd_protocol.h; started and restarted by the "relvec device
 * owner" background worker, extension/pg/deviceowner.c, in the data directory).
 *
 * One thread, one rv_ctx, one poll() loop over the listening socket and every client.
 * A client has at most one request outstanding; when it is readable its whole request is
 * read (blocking reads, bounded by a socket timeout) and checked field by field before
 * anything trusts it. UPLOAD, DIST and STATS are answered at once; a TOPK is parked.
 *
 * Dynamic batching. After a poll round, every parked TOPK is answered in one go: requests
 * of the same key, metric and kc share one rv_resident_topk call (nq = their number, in
 * chunks of RVD_BATCH_MAX), so concurrent scans of one index cost one pass over its device
 * copy. With --batch-wait-us > 0, while more connections are open than requests are
 * parked, the daemon keeps polling for more requests, up to that long after the first one
 * of the round. rv_resident_topk computes each query's candidates independently of the
 * others in its call (the same segments, the same operations per query and row in the
 * same order, one total order), so a batched answer is the answer the query gets alone;
 * the few-query kernel is compiled per batch size (1, 4, 16 queries), and bit for bit
 * equality across those variants also needs the shader compiler to contract (fuse) the
 * same way in each: lavapipe does (tests/deviced checks it), Vulkan does not promise it.
 *
 * Resident corpora are kept in a table keyed by rvd_key, within a budget of --memory-mb
 * of device memory (rv_resident_bytes): the least recently used go first to make room,
 * an upload of a new state of an index replaces the old one, and an upload larger than
 * the whole budget is refused with RVD_FULL (as is a TOPK or DIST whose key's rows could
 * never fit, so that the client does not send them only to hear it). A device lost in a request drops the corpora
 * it took with it; the daemon keeps serving and a later upload opens the device again.
 *
 * The daemon exits 0 on SIGTERM or SIGINT and when its parent dies (PR_SET_PDEATHSIG, and
 * at least once a second a check that getppid() is still the parent it started with: an
 * orphan goes to init or to a subreaper), removing its socket if it is still its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "relvec_bridge.h"
#include "rvd_protocol.h"

/* Most payload bytes read and thrown away to keep a refused request's connection in step. */
#define RVD_DISCARD_MAX ((uint64_t) 1 << 30)
/* A client silent this long in the middle of a request or a reply is dropped. */
#define RVD_IO_TIMEOUT_S 60
#define RVD_MAX_WAIT_US 10000000L
#define RVD_MAX_MEMORY_MB (1L << 30)	/* relvec.device_owner_mb goes to INT_MAX / 2 */
/* Connections beyond this are closed at once (their backends scan on the CPU). */
#define RVD_MAX_CLIENTS 8192
/* Resident indexes beyond this evict the least recently used, as a full budget does. */
#define RVD_MAX_ENTRIES 4096

typedef struct entry
{
	rvd_key		key;
	rv_resident *r;
	size_t		bytes;			/* rv_resident_bytes */
	uint64_t	used;			/* tick of the last use: least recently used goes first */
} entry;

typedef struct client
{
	int			fd;				/* -1: closed, its slot freed between rounds */
	int			parked;			/* a TOPK waits for its batch */
	rvd_req		req;
	float	   *query;			/* the parked TOPK's dims floats */
} client;

typedef struct daemon_state
{
	rv_ctx	   *ctx;
	rvd_hello	hello;
	size_t		budget;
	size_t		used_bytes;		/* rv_resident_bytes of every entry */
	long		wait_us;
	int			lfd;
	size_t		ncl;			/* slots in use; indexes stay put within a round */
	size_t		nopen;			/* connections open */
	size_t		nparked;
	double		first_parked;	/* when the round's first TOPK came (us) */
	size_t		nent;
	uint64_t	tick;
	rvd_stats	stats;			/* the counters; the rest is filled per STATS */
	client		cl[RVD_MAX_CLIENTS];
	entry		ent[RVD_MAX_ENTRIES];
	struct pollfd pfd[RVD_MAX_CLIENTS + 1];	/* the listener, then clients (slots in pcl) */
	size_t		pcl[RVD_MAX_CLIENTS + 1];
} daemon_state;

static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_lose;	/* test builds: SIGUSR1 came */
static pid_t g_parent;

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		g_lose = 1;
	else
		g_stop = 1;
}

#ifdef RVD_TEST_HOOKS
/* bridge/internal.h's test hook, for test builds only (tests/deviced: a lost device) */
void		rvk_test_inject(rv_ctx *ctx, int vkresult, int after);
#endif

/* The bridge's notices and warnings go to stderr with the daemon's prefix. */
static void
host_log(void *ud, rv_log_level level, const char *msg)
{
	(void) ud;
	if (level >= RV_LOG_NOTICE)
		fprintf(stderr, "relvec-deviced: %s%s\n", level == RV_LOG_WARNING ? "warning: " : "", msg);
}

/* Long kernels and fence waits stop when the daemon is told to exit. */
static int
host_interrupted(void *ud)
{
	(void) ud;
	return g_stop ? 1 : 0;
}

/* One line on stderr, prefixed with the program's name. */
static void __attribute__((format(printf, 1, 2)))
logmsg(const char *fmt,...)
{
	va_list		ap;
	char		buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "relvec-deviced: %s\n", buf);
}

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

/* Read exactly len bytes: 1 done, 0 end of file before the first byte, -1 otherwise. */
static int
read_full(int fd, void *buf, size_t len)
{
	size_t		got = 0;

	while (got < len)
	{
		ssize_t		r = recv(fd, (char *) buf + got, len - got, 0);

		if (r > 0)
			got += (size_t) r;
		else if (r == 0)
			return got == 0 ? 0 : -1;
		else if (errno != EINTR || g_stop)
			return -1;
	}
	return 1;
}

/* Write all of buf (no SIGPIPE: a client that left is an error like another); 0 when done. */
static int
send_all(int fd, const void *buf, size_t len)
{
	size_t		done = 0;

	while (done < len)
	{
		ssize_t		w = send(fd, (const char *) buf + done, len - done, MSG_NOSIGNAL);

		if (w > 0)
			done += (size_t) w;
		else if (w < 0 && (errno != EINTR || g_stop))
			return -1;
	}
	return 0;
}

/* Close a client's connection; a parked request of it is forgotten. */
static void
drop_client(daemon_state *d, client *c)
{
	if (c->fd < 0)
		return;
	close(c->fd);
	c->fd = -1;
	d->nopen--;
	d->nparked -= c->parked ? 1 : 0;
	c->parked = 0;
	free(c->query);
	c->query = NULL;
}

/*
 * Send one reply: the header and up to two payload parts (NULL, 0 for none). A client
 * that cannot take it is dropped. Counts failures and answered TOPK and DIST requests.
 */
static void
reply(daemon_state *d, client *c, rvd_status status, const void *p1, size_t n1,
	  const void *p2, size_t n2)
{
	rvd_resp	resp;

	d->stats.failures += status == RVD_FAILED;
	d->stats.requests += c->req.op == RVD_OP_TOPK || c->req.op == RVD_OP_DIST;
	memset(&resp, 0, sizeof(resp));
	resp.magic = RVD_MAGIC;
	resp.status = status;
	resp.payload_bytes = n1 + n2;
	if (send_all(c->fd, &resp, sizeof(resp)) != 0 || send_all(c->fd, p1, n1) != 0 ||
		send_all(c->fd, p2, n2) != 0)
		drop_client(d, c);
}

/* Reply RVD_FAILED with a message: a literal here, or rv_errmsg (bounded, see below). */
static void
reply_failed(daemon_state *d, client *c, const char *msg)
{
	reply(d, c, RVD_FAILED, msg, strlen(msg) + 1, NULL, 0);
}

_Static_assert(RV_ERRMSG_LEN <= RVD_MESSAGE_MAX, "a bridge message fits a reply");

/*
 * Answer a request whose payload is still unread with status (and msg, for RVD_FAILED),
 * then skip the payload; one too large to skip costs the connection.
 */
static void
refuse(daemon_state *d, client *c, rvd_status status, const char *msg)
{
	uint64_t	len = c->req.payload_bytes;
	char		buf[65536];

	if (status == RVD_FAILED)
	{
		logmsg("refused a request: %s", msg);
		reply_failed(d, c, msg);
	}
	else
		reply(d, c, status, NULL, 0, NULL, 0);
	if (len > RVD_DISCARD_MAX)
		drop_client(d, c);
	for (; c->fd >= 0 && len > 0; len -= len < sizeof(buf) ? len : sizeof(buf))
		if (read_full(c->fd, buf, len < sizeof(buf) ? (size_t) len : sizeof(buf)) != 1)
			drop_client(d, c);
}

/* The resident entry of key, marked used; NULL when there is none. */
static entry *
entry_find(daemon_state *d, const rvd_key *key)
{
	size_t		i;

	for (i = 0; i < d->nent; i++)
	{
		/* no padding in rvd_key (rvd_protocol.h): equal bytes are equal fields */
		if (memcmp(&d->ent[i].key, key, sizeof(rvd_key)) == 0)
		{
			d->ent[i].used = ++d->tick;
			return &d->ent[i];
		}
	}
	return NULL;
}

/* Destroy entry i; why, when not NULL, goes to the log. */
static void
entry_drop(daemon_state *d, size_t i, const char *why)
{
	entry	   *e = &d->ent[i];

	if (why != NULL)
		logmsg("%s index %u/%u/%u (change %llu, %zu bytes)", why, e->key.spc, e->key.db,
			   e->key.rel, (unsigned long long) e->key.change_count, e->bytes);
	rv_resident_destroy(d->ctx, e->r);
	d->used_bytes -= e->bytes;
	d->ent[i] = d->ent[--d->nent];
}

/* Evict least recently used entries until need more bytes (and one entry) fit. */
static void
evict_for(daemon_state *d, size_t need)
{
	while (d->nent > 0 && (d->used_bytes + need > d->budget || d->nent == RVD_MAX_ENTRIES))
	{
		size_t		i,
					lru = 0;

		for (i = 1; i < d->nent; i++)
			if (d->ent[i].used < d->ent[lru].used)
				lru = i;
		entry_drop(d, lru, "evicted");
		d->stats.evictions++;
	}
}

/*
 * A failed bridge call in a request: logged; after a device loss, every corpus that lost
 * its device memory is dropped (a later upload opens the device again).
 */
static void
bridge_failed(daemon_state *d, rv_status st, const char *what)
{
	size_t		i = 0;

	logmsg("%s failed: %s%s%s", what, rv_errmsg(d->ctx), *rv_errdetail(d->ctx) ? ": " : "",
		   rv_errdetail(d->ctx));
	while (st == RV_E_DEVICE_LOST && i < d->nent)
	{
		if (!rv_resident_alive(d->ent[i].r))
			entry_drop(d, i, "device lost: dropped");
		else
			i++;
	}
}

/* UPLOAD of a checked header; its payload is still unread. */
static void
do_upload(daemon_state *d, client *c)
{
	const rvd_key *key = &c->req.key;
	float	   *rows = NULL;
	rv_resident *r = NULL;
	rv_status	st;
	size_t		i = 0;

	if (c->req.payload_bytes > d->budget)
		refuse(d, c, RVD_FULL, NULL);
	else if (entry_find(d, key) != NULL)
		refuse(d, c, RVD_OK, NULL);	/* another backend uploaded it first */
	else if ((rows = malloc(c->req.payload_bytes)) == NULL)
		refuse(d, c, RVD_FAILED, "out of memory");
	else if (read_full(c->fd, rows, c->req.payload_bytes) != 1)
		drop_client(d, c);
	if (rows == NULL || c->fd < 0)
	{
		free(rows);
		return;
	}
	/* a new state of the index replaces the old; then room for this one */
	while (i < d->nent)
	{
		const rvd_key *o = &d->ent[i].key;

		if (o->spc == key->spc && o->db == key->db && o->rel == key->rel)
			entry_drop(d, i, "replaced");
		else
			i++;
	}
	evict_for(d, c->req.payload_bytes);
	st = rv_resident_create(d->ctx, rows, key->n, key->dims, &r);
	free(rows);
	if (st != RV_OK)
	{
		bridge_failed(d, st, "upload");
		reply_failed(d, c, rv_errmsg(d->ctx));
		return;
	}
	/* the device's size of it, alignment included, is what the budget counts */
	evict_for(d, rv_resident_bytes(r));
	if (rv_resident_bytes(r) > d->budget)
	{
		rv_resident_destroy(d->ctx, r);
		reply(d, c, RVD_FULL, NULL, 0, NULL, 0);
		return;
	}
	d->ent[d->nent].key = *key;
	d->ent[d->nent].r = r;
	d->ent[d->nent].bytes = rv_resident_bytes(r);
	d->ent[d->nent++].used = ++d->tick;
	d->used_bytes += rv_resident_bytes(r);
	d->stats.uploads++;
	logmsg("uploaded index %u/%u/%u (change %llu, %llu x %u, %zu bytes); %zu resident, "
		   "%zu of %zu bytes", key->spc, key->db, key->rel,
		   (unsigned long long) key->change_count, (unsigned long long) key->n, key->dims,
		   rv_resident_bytes(r), d->nent, d->used_bytes, d->budget);
	reply(d, c, RVD_OK, NULL, 0, NULL, 0);
}

/* DIST of one query q against a resident corpus. */
/*
 * The answer for a key that is not resident: RVD_FULL when its rows could never fit the
 * budget (the client then scans on the CPU without sending them), else RVD_MISSING.
 */
static int
missing_status(const daemon_state *d, const rvd_key *key)
{
	double		bytes = (double) key->n * (double) key->dims * sizeof(float);

	return bytes > (double) d->budget ? RVD_FULL : RVD_MISSING;
}

static void
do_dist(daemon_state *d, client *c, const float *q)
{
	entry	   *e = entry_find(d, &c->req.key);
	size_t		n = e != NULL ? rv_resident_rows(e->r) : 0;
	float	   *out = e != NULL ? malloc(2 * n * sizeof(float)) : NULL;
	rv_status	st;

	if (e == NULL)
		reply(d, c, missing_status(d, &c->req.key), NULL, 0, NULL, 0);
	else if (out == NULL)
		reply_failed(d, c, "out of memory");
	else if ((st = rv_resident_distances(d->ctx, e->r, (rv_metric) c->req.metric, q, 1, out,
										 out + n)) == RV_OK)
		reply(d, c, RVD_OK, out, n * sizeof(float), out + n, n * sizeof(float));
	else
	{
		bridge_failed(d, st, "distances");
		reply_failed(d, c, rv_errmsg(d->ctx));
	}
	free(out);
}

/* STATS: the counters, and what is resident and open now. */
static void
do_stats(daemon_state *d, client *c)
{
	rvd_stats	s = d->stats;

	s.pid = d->hello.pid;
	s.device_index = d->hello.device_index;
	memcpy(s.device, d->hello.device, sizeof(s.device));
	s.budget_bytes = d->budget;
	s.resident = d->nent;
	s.resident_bytes = d->used_bytes;
	s.connections = d->nopen;
	reply(d, c, RVD_OK, &s, sizeof(s), NULL, 0);
}

/* Why a header (magic checked) cannot be served, or NULL when it can. */
static const char *
check_request(const rvd_req *q)
{
	if (q->op == RVD_OP_STATS)
		return q->payload_bytes == 0 ? NULL : "a stats request has no payload";
	if (q->op != RVD_OP_TOPK && q->op != RVD_OP_DIST && q->op != RVD_OP_UPLOAD)
		return "unknown request";
	if (q->key.dims < 1 || q->key.dims > RV_MAX_DIMS)
		return "embedding dimensions out of range";
	if (q->op == RVD_OP_UPLOAD)
	{
		/* n x dims floats must not overflow 64 bits; the budget bounds them further */
		if (q->key.n < 1 || q->key.n > UINT64_MAX / sizeof(float) / q->key.dims)
			return "upload row count out of range";
		if (q->payload_bytes != q->key.n * q->key.dims * sizeof(float))
			return "upload payload does not match its key's rows and dimensions";
		return NULL;
	}
	if (q->payload_bytes != (uint64_t) q->key.dims * sizeof(float))
		return "query payload does not match its dimensions";
	if (q->metric > RV_METRIC_L1)
		return "unknown distance metric";
	if (q->op == RVD_OP_TOPK && (q->kc < 1 || q->kc > RV_RESIDENT_MAX_CANDIDATES))
		return "candidate count out of range";
	return NULL;
}

/*
 * Read one request of a readable client and answer it, or park it when it is a TOPK.
 * End of file or a header that is not ours drops the connection.
 */
static void
handle_request(daemon_state *d, client *c)
{
	rvd_req    *q = &c->req;
	const char *why;
	float	   *query = NULL;

	if (read_full(c->fd, q, sizeof(*q)) != 1)
		drop_client(d, c);
	else if (q->magic != RVD_MAGIC)
	{
		logmsg("dropped a connection: a request without the protocol's magic number");
		drop_client(d, c);
	}
	else if ((why = check_request(q)) != NULL)
		refuse(d, c, RVD_FAILED, why);
	else if (q->op == RVD_OP_STATS)
		do_stats(d, c);
	else if (!d->hello.has_device)
		refuse(d, c, RVD_NODEVICE, NULL);
	else if (q->op == RVD_OP_UPLOAD)
		do_upload(d, c);
	else if ((query = malloc(q->payload_bytes)) == NULL)
		refuse(d, c, RVD_FAILED, "out of memory");
	else if (read_full(c->fd, query, q->payload_bytes) != 1)
		drop_client(d, c);
	else if (q->op == RVD_OP_DIST)
		do_dist(d, c, query);
	else
	{
		c->query = query;
		c->parked = 1;
		if (d->nparked++ == 0)
			d->first_parked = now_us();
		return;
	}
	free(query);
}

/* Answer nq parked TOPKs (slots m) of one key, metric and kc with one rv_resident_topk. */
static void
answer_chunk(daemon_state *d, const size_t *m, size_t nq)
{
	const rvd_req *r0 = &d->cl[m[0]].req;
	entry	   *e = entry_find(d, &r0->key);
	size_t		dims = r0->key.dims,
				kc = r0->kc,
				j;
	/* one reply's payload: rest, then kc rows, kc dist, kc err */
	size_t		slice = sizeof(double) + kc * (sizeof(int64_t) + 2 * sizeof(float));
	char	   *mem = e != NULL ? malloc(nq * (slice + dims * sizeof(float)) + slice) : NULL;
	/* one block, the 8-byte arrays first: rows, rest, dist, err, queries, a reply */
	int64_t    *rows = (int64_t *) mem;
	double	   *rest = (double *) (rows + nq * kc);
	float	   *dist = (float *) (rest + nq);
	float	   *err = dist + nq * kc;
	float	   *q = err + nq * kc;
	char	   *buf = (char *) (q + nq * dims);
	rv_status	st = RV_E_NOMEM;

	if (mem != NULL)
	{
		for (j = 0; j < nq; j++)
			memcpy(q + j * dims, d->cl[m[j]].query, dims * sizeof(float));
		st = rv_resident_topk(d->ctx, e->r, (rv_metric) r0->metric, q, nq, kc, rows, dist,
							  err, rest);
		if (st != RV_OK)
			bridge_failed(d, st, "top-k");
		else if (nq >= 2)
		{
			d->stats.batches++;
			d->stats.batched += nq;
		}
		if (st == RV_OK && nq > d->stats.largest_batch)
			d->stats.largest_batch = nq;
	}
	for (j = 0; j < nq; j++)
	{
		client	   *c = &d->cl[m[j]];

		if (e == NULL)
			reply(d, c, missing_status(d, &c->req.key), NULL, 0, NULL, 0);
		else if (st != RV_OK)
			reply_failed(d, c, mem == NULL ? "out of memory" : rv_errmsg(d->ctx));
		else
		{
			memcpy(buf, &rest[j], sizeof(double));
			memcpy(buf + sizeof(double), rows + j * kc, kc * sizeof(int64_t));
			memcpy(buf + sizeof(double) + kc * sizeof(int64_t), dist + j * kc,
				   kc * sizeof(float));
			memcpy(buf + sizeof(double) + kc * (sizeof(int64_t) + sizeof(float)),
				   err + j * kc, kc * sizeof(float));
			reply(d, c, RVD_OK, buf, slice, NULL, 0);
		}
		if (c->fd >= 0)
		{
			c->parked = 0;
			d->nparked--;
			free(c->query);
			c->query = NULL;
		}
	}
	free(mem);
}

/* Answer every parked TOPK: one rv_resident_topk per (key, metric, kc), in chunks. */
static void
answer_parked(daemon_state *d)
{
	size_t		m[RVD_BATCH_MAX];
	size_t		i,
				j,
				nq;

	for (i = 0; i < d->ncl && d->nparked > 0; i++)
	{
		const rvd_req *a = &d->cl[i].req;

		while (d->cl[i].fd >= 0 && d->cl[i].parked)
		{
			/* slot i and the later ones parked with the same key, metric and kc */
			for (nq = 0, j = i; j < d->ncl && nq < RVD_BATCH_MAX; j++)
			{
				const rvd_req *b = &d->cl[j].req;

				if (d->cl[j].fd >= 0 && d->cl[j].parked && a->metric == b->metric &&
					a->kc == b->kc && memcmp(&a->key, &b->key, sizeof(rvd_key)) == 0)
					m[nq++] = j;
			}
			answer_chunk(d, m, nq);
		}
	}
}

/* Accept every waiting connection and greet it. */
static void
accept_clients(daemon_state *d)
{
	struct timeval tv = {RVD_IO_TIMEOUT_S, 0};
	int			fd;

	while ((fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
	{
		if (d->ncl == RVD_MAX_CLIENTS ||
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
			send_all(fd, &d->hello, sizeof(d->hello)) != 0)
		{
			close(fd);
			continue;
		}
		memset(&d->cl[d->ncl], 0, sizeof(client));
		d->cl[d->ncl++].fd = fd;
		d->nopen++;
	}
	/* out of descriptors: the listener stays readable, so do not spin on it */
	if (errno == EMFILE || errno == ENFILE)
		usleep(10000);
}

/*
 * Poll the listener and every client without a parked request for up to timeout_us, then
 * read what is ready and accept new connections. -1 when poll fails.
 */
static int
poll_round(daemon_state *d, double timeout_us)
{
	struct timespec ts;
	size_t		np = 1,
				i;
	int			rc;

	d->pfd[0].fd = d->lfd;
	d->pfd[0].events = POLLIN;
	for (i = 0; i < d->ncl; i++)
	{
		if (d->cl[i].fd < 0 || d->cl[i].parked)
			continue;
		d->pfd[np].fd = d->cl[i].fd;
		d->pfd[np].events = POLLIN;
		d->pcl[np++] = i;
	}
	timeout_us = timeout_us > 0 ? timeout_us : 0;
	ts.tv_sec = (time_t) (timeout_us / 1e6);
	ts.tv_nsec = (long) ((timeout_us - (double) ts.tv_sec * 1e6) * 1e3);
	if ((rc = ppoll(d->pfd, np, &ts, NULL)) < 0)
	{
		if (errno == EINTR)
			return 0;
		logmsg("poll failed: %s", strerror(errno));
		return -1;
	}
	for (i = 1; i < np && rc > 0; i++)
		if (d->pfd[i].revents != 0)
			handle_request(d, &d->cl[d->pcl[i]]);
	if (d->pfd[0].revents & POLLIN)
		accept_clients(d);
	return 0;
}

/* The serving loop: 0 at SIGTERM/SIGINT or the parent's death, 1 when poll fails. */
static int
serve(daemon_state *d)
{
	while (!g_stop)
	{
		size_t		i,
					k;

		if (getppid() != g_parent)
		{
			logmsg("parent process exited, shutting down");
			return 0;
		}
#ifdef RVD_TEST_HOOKS
		/* the next submission fails as VK_ERROR_DEVICE_LOST (-4) does */
		if (g_lose)
			rvk_test_inject(d->ctx, -4, 1);
		g_lose = 0;
#endif
		/* free the slots of closed connections: nothing is parked between rounds */
		for (i = 0, k = 0; i < d->ncl; i++)
			if (d->cl[i].fd >= 0)
				d->cl[k++] = d->cl[i];
		d->ncl = k;
		if (poll_round(d, 1e6) != 0)
			return 1;
		/* more connections than requests: wait a while for theirs to share the pass */
		while (d->nparked > 0 && d->wait_us > 0 && !g_stop)
		{
			double		left = d->first_parked + (double) d->wait_us - now_us();

			if (left <= 0 || d->nopen <= d->nparked)
				break;
			if (poll_round(d, left) != 0)
				return 1;
		}
		answer_parked(d);
	}
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "Usage: relvec-deviced --socket PATH --device SPEC --memory-mb N "
			"[--batch-wait-us N]\n  SPEC: auto, gpu, vulkan:N or cpu\n");
	exit(2);
}

/* A whole number in lo..hi, or exit 2. */
static long
parse_long(const char *opt, const char *s, long lo, long hi)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
	{
		fprintf(stderr, "relvec-deviced: invalid value \"%s\" for %s (%ld .. %ld)\n", s, opt,
				lo, hi);
		exit(2);
	}
	return v;
}

/*
 * Decide the device (hello's has_device, device_index, device) and pin it: every upload
 * goes there, whatever its size ("auto" alone keeps small corpora off a GPU).
 */
static void
choose_device(daemon_state *d, const char *spec)
{
	rv_device_info info[16];
	size_t		count = 0;
	int			dev = -1;
	char		pin[32];

	d->hello.device_index = -1;
	/* large enough that "auto" takes a GPU when there is one */
	if (rv_resident_device(d->ctx, (size_t) 1 << 20, 1024, &dev) != RV_OK)
		logmsg("no device for --device %s: %s %s", spec, rv_errmsg(d->ctx),
			   rv_errdetail(d->ctx));
	else if (dev >= 0 && dev < 16 && rv_list_devices(d->ctx, info, 16, &count) == RV_OK &&
			 (size_t) dev < count)
	{
		snprintf(d->hello.device, sizeof(d->hello.device), "%s", info[dev].name);
		snprintf(pin, sizeof(pin), "vulkan:%d", dev);
		d->hello.has_device = rv_set_device(d->ctx, pin) == RV_OK;
		d->hello.device_index = d->hello.has_device ? dev : -1;
	}
}

/* Bind and listen on path (a socket left there goes); the path's identity in *mine. */
static int
listen_on(daemon_state *d, const char *path, struct stat *mine)
{
	struct sockaddr_un addr;
	struct stat sb;

	if (lstat(path, &sb) == 0 && !S_ISSOCK(sb.st_mode))
	{
		logmsg("\"%s\" exists and is not a socket", path);
		return -1;
	}
	unlink(path);
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	d->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->lfd < 0 || bind(d->lfd, (struct sockaddr *) &addr, sizeof(addr)) != 0 ||
		listen(d->lfd, 128) != 0 || stat(path, mine) != 0)
	{
		logmsg("cannot listen on \"%s\": %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"device", required_argument, NULL, 'd'},
		{"memory-mb", required_argument, NULL, 'm'},
		{"batch-wait-us", required_argument, NULL, 'w'},
		{NULL, 0, NULL, 0}
	};
	static daemon_state d;		/* large: the tables of clients and entries */
	const char *path = NULL,
			   *spec = NULL;
	long		mb = -1;
	rv_host		host = {rv_stdlib_alloc, rv_stdlib_free, host_log, host_interrupted, NULL};
	struct sigaction sa;
	struct rlimit rl;
	struct stat sb,
				mine;
	int			opt,
				rc = 1;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
	{
		if (opt == 's')
			path = optarg;
		else if (opt == 'd')
			spec = optarg;
		else if (opt == 'm')
			mb = parse_long("--memory-mb", optarg, 1, RVD_MAX_MEMORY_MB);
		else if (opt == 'w')
			d.wait_us = parse_long("--batch-wait-us", optarg, 0, RVD_MAX_WAIT_US);
		else
			usage();
	}
	if (optind != argc || path == NULL || spec == NULL || mb < 0)
		usage();
	if (strlen(path) >= sizeof(((struct sockaddr_un *) 0)->sun_path))
	{
		fprintf(stderr, "relvec-deviced: socket path \"%s\" is too long\n", path);
		return 2;
	}
	d.budget = (size_t) mb << 20;
	/* a descriptor per backend: up to the hard limit, as many as the table holds */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < RVD_MAX_CLIENTS + 64)
	{
		rl.rlim_cur = rl.rlim_max < RVD_MAX_CLIENTS + 64 ? rl.rlim_max : RVD_MAX_CLIENTS + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	/* the parent's death is a SIGTERM; a parent gone already is seen by the first check */
	g_parent = getppid();
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: a blocked read or poll returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
#ifdef RVD_TEST_HOOKS
	sigaction(SIGUSR1, &sa, NULL);
#endif
	signal(SIGPIPE, SIG_IGN);

	if (rv_ctx_create(&host, &d.ctx) != RV_OK || rv_set_device(d.ctx, spec) != RV_OK)
	{
		fprintf(stderr, "relvec-deviced: %s\n", d.ctx ? rv_errmsg(d.ctx) : "out of memory");
		return 2;
	}
	d.hello.magic = RVD_MAGIC;
	d.hello.pid = (int32_t) getpid();
	choose_device(&d, spec);
	if (listen_on(&d, path, &mine) == 0)
	{
		if (d.hello.has_device)
			logmsg("serving on \"%s\": vulkan:%d %s (--device %s), budget %ld MB, batch wait "
				   "%ld us", path, d.hello.device_index, d.hello.device, spec, mb, d.wait_us);
		else
			logmsg("serving on \"%s\" without a device (--device %s): every request gets "
				   "RVD_NODEVICE", path, spec);
		rc = serve(&d);
		/* the socket is removed only while it is still ours, not a successor's */
		if (stat(path, &sb) == 0 && sb.st_dev == mine.st_dev && sb.st_ino == mine.st_ino)
			unlink(path);
		logmsg("exiting");
	}
	/* the resident corpora go with the context; the rest with the process */
	rv_ctx_destroy(d.ctx);
	return rc;
}
