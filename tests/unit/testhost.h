/*
 * testhost.h — the host used by the C tests: a counting allocator that finds leaks and
 * can be told to fail the Nth allocation, and an interrupt check that can be armed.
 */
#ifndef RELVEC_TESTHOST_H
#define RELVEC_TESTHOST_H

#include "relvec_bridge.h"

typedef struct test_host
{
	long		live;			/* allocations not yet freed */
	long		total;			/* allocations made */
	long		fail_at;		/* fail the allocation with this number (1-based); 0 = never */
	long		interrupt_after;	/* interrupted() returns 1 after this many calls; <0 never */
	long		interrupt_calls;
	int			notices;		/* log calls at RV_LOG_NOTICE or above */
	char		last_log[512];
} test_host;

/* Fill an rv_host whose callbacks use th; reset th's counters. */
void		test_host_init(test_host *th, rv_host *host);

/* Create a context over th; exits the test binary if that fails. */
rv_ctx	   *test_ctx(test_host *th);

/* Seeded draws for test data: uniform in [-1, 1) (xorshift64), and standard normal. */
float		test_uniform(uint64_t *state);
float		test_normal(uint64_t *state);

#endif
