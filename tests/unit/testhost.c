/*
 * testhost.c — counting allocator, armable interrupt check and capturing logger for the
 * C tests (see testhost.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testhost.h"

typedef struct block_header
{
	size_t		size;
	size_t		pad;			/* keeps the payload 16-byte aligned */
} block_header;

static void *
th_alloc(void *ud, size_t size)
{
	test_host  *th = ud;
	block_header *b;

	th->total++;
	if (th->fail_at > 0 && th->total == th->fail_at)
		return NULL;
	b = malloc(sizeof(block_header) + size);
	if (b == NULL)
		return NULL;
	b->size = size;
	th->live++;
	return b + 1;
}

static void
th_free(void *ud, void *ptr)
{
	test_host  *th = ud;

	if (ptr == NULL)
		return;
	th->live--;
	free(((block_header *) ptr) - 1);
}

static void
th_log(void *ud, rv_log_level level, const char *msg)
{
	test_host  *th = ud;

	if (level >= RV_LOG_NOTICE)
		th->notices++;
	snprintf(th->last_log, sizeof(th->last_log), "%s", msg);
}

static int
th_interrupted(void *ud)
{
	test_host  *th = ud;

	if (th->interrupt_after < 0)
		return 0;
	return th->interrupt_calls++ >= th->interrupt_after;
}

void
test_host_init(test_host *th, rv_host *host)
{
	memset(th, 0, sizeof(*th));
	th->interrupt_after = -1;
	host->alloc = th_alloc;
	host->free = th_free;
	host->log = th_log;
	host->interrupted = th_interrupted;
	host->ud = th;
}

rv_ctx *
test_ctx(test_host *th)
{
	rv_host		host;
	rv_ctx	   *ctx;

	test_host_init(th, &host);
	if (rv_ctx_create(&host, &ctx) != RV_OK)
	{
		printf("Bail out! cannot create context\n");
		exit(1);
	}
	return ctx;
}

float
test_uniform(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return (float) ((double) (*state >> 11) / (double) (1ULL << 53) * 2.0 - 1.0);
}

/* Box-Muller over two uniform draws. */
float
test_normal(uint64_t *state)
{
	double		u = (test_uniform(state) + 1.0) / 2.0 + 1e-12,
				v = (test_uniform(state) + 1.0) / 2.0;

	return (float) (sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}
