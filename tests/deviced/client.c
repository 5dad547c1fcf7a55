/*
 * client.c — the test client of relvec-deviced (tests/deviced/run.sh). It speaks the wire
 * protocol of extension/deviced/rvd_protocol.h and compares the daemon's answers, bit for
 * bit, with the bridge run in this process on the same Vulkan device. One subcommand per
 * check: exit 0 when it holds, 1 with "# " lines saying what differs.
 *
 *   devices                     the index of the first Vulkan device (nothing: none)
 *   hello SOCK                  has_device, device_index, pid and device name, one a line
 *   stats SOCK                  the rvd_stats counters, "name value" a line
 *   upload SOCK KEY STATUS      upload KEY's rows; the reply must be STATUS
 *   topk SOCK KEY STATUS        one TOPK (L2, kc 10); the reply must be STATUS
 *   parity SOCK KEY DEV         TOPK (every metric, several queries and kc) and DIST equal
 *                               the bridge on vulkan:DEV here; the exact nearest row (by
 *                               rv_metric_distance over all rows) is among the candidates
 *   batch SOCK KEY DEV NPROC    NPROC processes connect and send a TOPK at once; each
 *                               answer equals the query's lone answer, from the daemon and
 *                               from the bridge here
 *   bad SOCK CASE               a malformed request gets RVD_FAILED or loses its connection
 *   cancel SOCK KEY             a TOPK whose client leaves before the reply (while another
 *                               connection is open, so that it waits for a batch)
 * KEY is rel:change:n:dims (tablespace 1663, database 5); its rows are a function of rel
 * and change, uniform in [-1, 1).
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "relvec_bridge.h"
#include "rvd_protocol.h"

static const char *const status_names[] = {"ok", "missing", "full", "nodevice", "failed"};

static void
fail(const char *msg)
{
	printf("# %s\n", msg);
	exit(1);
}

static void *
xmalloc(size_t n)
{
	void	   *p = calloc(1, n ? n : 1);

	if (p == NULL)
		fail("out of memory");
	return p;
}

/* n values in [-1, 1) from seed (xorshift64*). */
static void
fill(float *v, size_t n, uint64_t seed)
{
	uint64_t	s = seed * 0x9E3779B97F4A7C15ull + 1;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		s ^= s >> 12;
		s ^= s << 25;
		s ^= s >> 27;
		v[i] = (float) (2.0 * ((double) ((s * 2685821657736338717ull) >> 11) / 9007199254740992.0) - 1.0);
	}
}

static rvd_key
parse_key(const char *s)
{
	rvd_key		k;
	unsigned long long change,
				n;

	memset(&k, 0, sizeof(k));
	k.spc = 1663;
	k.db = 5;
	if (sscanf(s, "%u:%llu:%llu:%u", &k.rel, &change, &n, &k.dims) != 4)
		fail("KEY is rel:change:n:dims");
	k.change_count = change;
	k.n = n;
	return k;
}

/* The rows of a key (n x dims); the caller frees them. */
static float *
key_rows(const rvd_key *k)
{
	float	   *x = xmalloc(k->n * k->dims * sizeof(float));

	fill(x, k->n * k->dims, (uint64_t) k->rel * 1000003u + k->change_count);
	return x;
}

/* Connect and read the hello. */
static int
connect_sock(const char *path, rvd_hello *h)
{
	struct sockaddr_un a;
	int			fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *) &a, sizeof(a)) != 0)
		fail("cannot connect");
	if (recv(fd, h, sizeof(*h), MSG_WAITALL) != (ssize_t) sizeof(*h) || h->magic != RVD_MAGIC)
		fail("no hello");
	return fd;
}

/* Send bytes; 0 when all went (a daemon that closed the connection is -1). */
static int
send_bytes(int fd, const void *p, size_t n)
{
	return n == 0 || send(fd, p, n, MSG_NOSIGNAL) == (ssize_t) n ? 0 : -1;
}

/* Send a request header (payload_bytes as given) and then the payload bytes given. */
static int
send_req(int fd, uint32_t op, const rvd_key *k, uint32_t metric, uint32_t kc,
		 uint64_t payload_bytes, const void *p, size_t n)
{
	rvd_req		r;

	memset(&r, 0, sizeof(r));
	r.magic = RVD_MAGIC;
	r.op = op;
	if (k != NULL)
		r.key = *k;
	r.metric = metric;
	r.kc = kc;
	r.payload_bytes = payload_bytes;
	if (send_bytes(fd, &r, sizeof(r)) != 0)
		return -1;
	return send_bytes(fd, p, n);
}

/* Read a reply: its status, or -1 when the connection ended. *payload gets its bytes. */
static int
read_resp(int fd, void **payload, size_t *len)
{
	rvd_resp	r;
	char	   *p;

	if (recv(fd, &r, sizeof(r), MSG_WAITALL) != (ssize_t) sizeof(r))
		return -1;
	if (r.magic != RVD_MAGIC || r.payload_bytes > ((uint64_t) 1 << 32))
		fail("bad reply header");
	p = xmalloc(r.payload_bytes + 1);
	if (r.payload_bytes > 0 &&
		recv(fd, p, r.payload_bytes, MSG_WAITALL) != (ssize_t) r.payload_bytes)
		return -1;
	if (r.status == RVD_FAILED)
		printf("# failed: %s\n", p);
	if (payload != NULL)
		*payload = p;
	else
		free(p);
	if (len != NULL)
		*len = r.payload_bytes;
	return r.status;
}

/* One request on connection fd; its status. */
static int
ask(int fd, uint32_t op, const rvd_key *k, uint32_t metric, uint32_t kc, const void *p,
	size_t n, void **payload, size_t *len)
{
	if (payload != NULL)
		*payload = NULL;
	if (len != NULL)
		*len = 0;
	if (send_req(fd, op, k, metric, kc, n, p, n) != 0)
		return -1;
	return read_resp(fd, payload, len);
}

static int
status_of(const char *name)
{
	int			i;

	for (i = 0; i < 5; i++)
		if (strcmp(name, status_names[i]) == 0)
			return i;
	fail("unknown status name");
	return -1;
}

static int
expect(int got, const char *want)
{
	if (got == status_of(want))
		return 0;
	printf("# status %s, want %s\n", got < 0 ? "(connection closed)" : status_names[got], want);
	return 1;
}

/* A bridge context on vulkan:dev with a resident copy of the key's rows. */
static rv_ctx *
local_copy(int dev, const rvd_key *k, const float *x, rv_resident **r)
{
	rv_host		host = {rv_stdlib_alloc, rv_stdlib_free, NULL, NULL, NULL};
	rv_ctx	   *ctx;
	char		spec[32];

	snprintf(spec, sizeof(spec), "vulkan:%d", dev);
	if (rv_ctx_create(&host, &ctx) != RV_OK || rv_set_device(ctx, spec) != RV_OK ||
		rv_resident_create(ctx, x, k->n, k->dims, r) != RV_OK)
		fail("cannot make the local resident copy");
	return ctx;
}

/* The TOPK reply payload the bridge here gives for query q (nq = 1). */
static void *
local_topk(rv_ctx *ctx, rv_resident *r, int m, const float *q, size_t kc, size_t *len)
{
	char	   *p;

	*len = sizeof(double) + kc * (sizeof(int64_t) + 2 * sizeof(float));
	p = xmalloc(*len);
	if (rv_resident_topk(ctx, r, (rv_metric) m, q, 1, kc, (int64_t *) (p + sizeof(double)),
						 (float *) (p + sizeof(double) + kc * sizeof(int64_t)),
						 (float *) (p + sizeof(double) + kc * 12), (double *) p) != RV_OK)
		fail(rv_errmsg(ctx));
	return p;
}

/* Query i of a test: near a row, random, zero, a row itself, a scaled negated row. */
static void
make_query(const rvd_key *k, const float *x, int i, float *q)
{
	size_t		j,
				d = k->dims;
	const float *row = x + ((size_t) i * 997 % k->n) * d;

	fill(q, d, 77 + (uint64_t) i);
	for (j = 0; j < d; j++)
	{
		switch (i % 5)
		{
			case 0:
				q[j] = row[j] + 0.01f * q[j];
				break;
			case 2:
				q[j] = 0.0f;
				break;
			case 3:
				q[j] = row[j];
				break;
			case 4:
				q[j] = -2.0f * row[j];
				break;
		}
	}
}

static int
cmd_parity(const char *sock, const rvd_key *k, int dev)
{
	static const size_t kcs[] = {1, 100, RV_RESIDENT_MAX_CANDIDATES};
	rvd_hello	h;
	int			fd = connect_sock(sock, &h);
	float	   *x = key_rows(k);
	float	   *q = xmalloc(k->dims * sizeof(float));
	float	   *want = xmalloc(2 * k->n * sizeof(float));
	rv_resident *r;
	rv_ctx	   *ctx = local_copy(dev, k, x, &r);
	int			m,
				i,
				bad = 0,
				ntopk = 0;
	size_t		ki;

	for (m = RV_METRIC_L2; m <= RV_METRIC_L1; m++)
	{
		for (i = 0; i < 5; i++)
		{
			size_t		best = 0,
						row;
			double		bd = INFINITY;
			void	   *got;
			size_t		len;

			make_query(k, x, i, q);
			for (row = 0; row < k->n; row++)
			{
				double		dd = rv_metric_distance((rv_metric) m, q, x + row * k->dims, k->dims);

				if (dd < bd)
				{
					bd = dd;
					best = row;
				}
			}
			/* kc 10, and one of the others: every metric meets every kc */
			for (ki = 0; ki < 2; ki++)
			{
				size_t		kc = ki == 0 ? 10 : kcs[(m + i) % 3],
							wl,
							c;
				char	   *w = local_topk(ctx, r, m, q, kc, &wl);
				int			st = ask(fd, RVD_OP_TOPK, k, (uint32_t) m, (uint32_t) kc, q,
									 k->dims * sizeof(float), &got, &len);
				const int64_t *rows = (const int64_t *) ((char *) got + sizeof(double));

				ntopk++;
				if (st != RVD_OK || len != wl || memcmp(got, w, wl) != 0)
				{
					printf("# metric %d query %d kc %zu: status %d, %zu bytes, differs from "
						   "the bridge here\n", m, i, kc, st, len);
					bad++;
					continue;
				}
				for (c = 0; c < kc && rows[c] != (int64_t) best; c++)
					;
				if (c == kc)
				{
					printf("# metric %d query %d kc %zu: the nearest row %zu is not a "
						   "candidate\n", m, i, kc, best);
					bad++;
				}
				free(w);
				free(got);
			}
			if (rv_resident_distances(ctx, r, (rv_metric) m, q, 1, want, want + k->n) != RV_OK)
				fail(rv_errmsg(ctx));
			if (ask(fd, RVD_OP_DIST, k, (uint32_t) m, 0, q, k->dims * sizeof(float), &got,
					&len) != RVD_OK || len != 2 * k->n * sizeof(float) ||
				memcmp(got, want, len) != 0)
			{
				printf("# metric %d query %d: DIST differs from the bridge here\n", m, i);
				bad++;
			}
			free(got);
		}
	}
	printf("# %d TOPK and %d DIST answers compared, %d differ\n", ntopk, 4 * 5, bad);
	rv_ctx_destroy(ctx);
	return bad > 0;
}

/*
 * NPROC children connect first (no Vulkan in this process before the fork), say so on a
 * pipe, and send their TOPK when the parent closes the go pipe (child i after i x 10 ms,
 * so that only the daemon's batch wait puts them in one batch); each writes the reply
 * payload it got to its own pipe. Then the lone answers, one request at a time, from the
 * daemon and from the bridge here.
 */
static int
cmd_batch(const char *sock, const rvd_key *k, int dev, int nproc)
{
	int			ready[2],
				go[2],
				(*res)[2] = xmalloc((size_t) nproc * sizeof(*res));
	size_t		kc = 16,
				plen = sizeof(double) + kc * 16;
	float	   *x = key_rows(k),
			   *q = xmalloc(k->dims * sizeof(float));
	char	   *got = xmalloc((size_t) nproc * plen);
	rvd_hello	h;
	rv_resident *r;
	rv_ctx	   *ctx;
	int			i,
				fd,
				bad = 0;
	char		c;

	if (pipe(ready) != 0 || pipe(go) != 0)
		fail("pipe");
	for (i = 0; i < nproc; i++)
	{
		if (pipe(res[i]) != 0)
			fail("pipe");
		if (fork() == 0)
		{
			void	   *p = NULL;
			size_t		len = 0;

			close(go[1]);
			fd = connect_sock(sock, &h);
			make_query(k, x, i, q);
			if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 0)
				_exit(1);
			/* 10 ms apart: within the daemon's batch wait, not in one poll round */
			usleep((useconds_t) i * 10000);
			if (ask(fd, RVD_OP_TOPK, k, RV_METRIC_L2, (uint32_t) kc, q,
					k->dims * sizeof(float), &p, &len) != RVD_OK || len != plen ||
				write(res[i][1], p, len) != (ssize_t) len)
				_exit(1);
			_exit(0);
		}
		close(res[i][1]);
	}
	for (i = 0; i < nproc; i++)
		if (read(ready[0], &c, 1) != 1)
			fail("a child did not connect");
	close(go[1]);				/* all at once */
	for (i = 0; i < nproc; i++)
	{
		int			ws;

		if (read(res[i][0], got + (size_t) i * plen, plen) != (ssize_t) plen)
			printf("# child %d got no answer\n", i), bad++;
		wait(&ws);
	}
	fd = connect_sock(sock, &h);
	ctx = local_copy(dev, k, x, &r);
	for (i = 0; i < nproc; i++)
	{
		void	   *lone;
		size_t		len,
					wl;
		char	   *w;

		make_query(k, x, i, q);
		w = local_topk(ctx, r, RV_METRIC_L2, q, kc, &wl);
		if (ask(fd, RVD_OP_TOPK, k, RV_METRIC_L2, (uint32_t) kc, q, k->dims * sizeof(float),
				&lone, &len) != RVD_OK || len != plen || memcmp(lone, got + i * plen, plen) != 0)
			printf("# query %d: the batched answer differs from the daemon's lone one\n", i), bad++;
		if (memcmp(w, got + i * plen, plen) != 0)
			printf("# query %d: the batched answer differs from the bridge here\n", i), bad++;
	}
	rv_ctx_destroy(ctx);
	return bad > 0;
}

/* A malformed request: RVD_FAILED, or the connection closed. */
static int
cmd_bad(const char *sock, const char *what)
{
	rvd_hello	h;
	int			fd = connect_sock(sock, &h);
	rvd_key		k = parse_key("1:1:5000:64");
	float		q[64] = {0};
	int			st = -2;

	if (strcmp(what, "magic") == 0)
	{
		rvd_req		r;

		memset(&r, 0, sizeof(r));
		r.magic = 0x12345678u;
		r.op = RVD_OP_STATS;
		st = send_bytes(fd, &r, sizeof(r)) == 0 ? read_resp(fd, NULL, NULL) : -1;
	}
	else if (strcmp(what, "size") == 0)		/* 100 bytes for 64 floats */
		st = ask(fd, RVD_OP_TOPK, &k, RV_METRIC_L2, 10, q, 100, NULL, NULL);
	else if (strcmp(what, "kc0") == 0)
		st = ask(fd, RVD_OP_TOPK, &k, RV_METRIC_L2, 0, q, sizeof(q), NULL, NULL);
	else if (strcmp(what, "kcbig") == 0)
		st = ask(fd, RVD_OP_TOPK, &k, RV_METRIC_L2, RV_RESIDENT_MAX_CANDIDATES + 1, q,
				 sizeof(q), NULL, NULL);
	else if (strcmp(what, "metric") == 0)
		st = ask(fd, RVD_OP_DIST, &k, 4, 10, q, sizeof(q), NULL, NULL);
	else if (strcmp(what, "dims0") == 0)
	{
		k.dims = 0;
		st = ask(fd, RVD_OP_TOPK, &k, RV_METRIC_L2, 10, NULL, 0, NULL, NULL);
	}
	else if (strcmp(what, "op") == 0)
		st = ask(fd, 99, &k, RV_METRIC_L2, 10, q, sizeof(q), NULL, NULL);
	else if (strcmp(what, "overflow") == 0)		/* n x dims x 4 wraps to 0 */
	{
		k.n = (uint64_t) 1 << 62;
		k.dims = 1024;
		st = ask(fd, RVD_OP_UPLOAD, &k, 0, 0, NULL, 0, NULL, NULL);
	}
	else if (strcmp(what, "upload-size") == 0)	/* 10 x 4 floats are 160 bytes */
	{
		k.n = 10;
		k.dims = 4;
		st = ask(fd, RVD_OP_UPLOAD, &k, 0, 0, q, 100, NULL, NULL);
	}
	else if (strcmp(what, "huge") == 0)		/* a payload too large to skip */
		st = send_req(fd, RVD_OP_TOPK, &k, 0, 10, (uint64_t) 1 << 50, q, sizeof(q)) == 0 ?
			read_resp(fd, NULL, NULL) : -1;
	else if (strcmp(what, "short") == 0)	/* half a header, then leave */
		return send_bytes(fd, &k, 20) != 0;
	else if (strcmp(what, "mid-upload") == 0)	/* half a payload, then leave */
	{
		float	   *x = key_rows(&k);

		return send_req(fd, RVD_OP_UPLOAD, &k, 0, 0, k.n * k.dims * 4, x, k.n * k.dims * 2) != 0;
	}
	else
		fail("unknown case");
	if (st == RVD_FAILED || st == -1)
		return 0;
	printf("# status %d, want failed or a closed connection\n", st);
	return 1;
}

int
main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	rvd_hello	h;
	rvd_key		k;
	int			fd;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IONBF, 0);
	if (strcmp(cmd, "devices") == 0)
	{
		rv_host		host = {rv_stdlib_alloc, rv_stdlib_free, NULL, NULL, NULL};
		rv_ctx	   *ctx;
		rv_device_info info;
		size_t		n = 0;

		if (rv_ctx_create(&host, &ctx) == RV_OK && rv_list_devices(ctx, &info, 1, &n) == RV_OK &&
			n > 0)
			printf("%d\n", info.index);
		rv_ctx_destroy(ctx);
		return 0;
	}
	if (argc < 3)
		fail("usage: deviced_client COMMAND SOCK ...");
	if (strcmp(cmd, "bad") == 0 && argc == 4)
		return cmd_bad(argv[2], argv[3]);
	fd = connect_sock(argv[2], &h);
	if (strcmp(cmd, "hello") == 0)
	{
		printf("has_device %d\ndevice_index %d\npid %d\ndevice %s\n", h.has_device,
			   h.device_index, h.pid, h.device);
		return 0;
	}
	if (strcmp(cmd, "stats") == 0)
	{
		rvd_stats  *s;
		size_t		len;

		if (ask(fd, RVD_OP_STATS, NULL, 0, 0, NULL, 0, (void **) &s, &len) != RVD_OK ||
			len != sizeof(*s))
			fail("no stats");
		printf("pid %d\ndevice_index %d\nbudget_bytes %llu\nresident %llu\nresident_bytes %llu\n"
			   "connections %llu\nrequests %llu\nbatches %llu\nbatched %llu\nlargest_batch %llu\n"
			   "uploads %llu\nevictions %llu\nfailures %llu\n", s->pid, s->device_index,
			   (unsigned long long) s->budget_bytes, (unsigned long long) s->resident,
			   (unsigned long long) s->resident_bytes, (unsigned long long) s->connections,
			   (unsigned long long) s->requests, (unsigned long long) s->batches,
			   (unsigned long long) s->batched, (unsigned long long) s->largest_batch,
			   (unsigned long long) s->uploads, (unsigned long long) s->evictions,
			   (unsigned long long) s->failures);
		return 0;
	}
	if (argc < 4)
		fail("missing KEY");
	k = parse_key(argv[3]);
	if (strcmp(cmd, "upload") == 0 && argc == 5)
	{
		float	   *x = key_rows(&k);

		return expect(ask(fd, RVD_OP_UPLOAD, &k, 0, 0, x, k.n * k.dims * sizeof(float), NULL,
						  NULL), argv[4]);
	}
	if (strcmp(cmd, "topk") == 0 && argc == 5)
	{
		float	   *q = xmalloc(k.dims * sizeof(float));

		return expect(ask(fd, RVD_OP_TOPK, &k, RV_METRIC_L2, 10, q, k.dims * sizeof(float),
						  NULL, NULL), argv[4]);
	}
	if (strcmp(cmd, "cancel") == 0)
	{
		float	   *q = xmalloc(k.dims * sizeof(float));
		int			fd2 = connect_sock(argv[2], &h);

		if (send_req(fd2, RVD_OP_TOPK, &k, RV_METRIC_L2, 10, k.dims * sizeof(float), q,
					 k.dims * sizeof(float)) != 0)
			fail("cannot send");
		close(fd2);
		usleep(50000);
		close(fd);
		return 0;
	}
	close(fd);
	if (strcmp(cmd, "parity") == 0 && argc == 5)
		return cmd_parity(argv[2], &k, atoi(argv[4]));
	if (strcmp(cmd, "batch") == 0 && argc == 6)
		return cmd_batch(argv[2], &k, atoi(argv[4]), atoi(argv[5]));
	fail("unknown command or arguments");
	return 1;
}
