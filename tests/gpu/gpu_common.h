/*
 * gpu_common.h — helpers shared by the Vulkan parity tests: a seeded generator for test
 * data, the list of Vulkan devices to run on, and comparisons with stated tolerances.
 * Every test forces a device with "vulkan:N" and compares with the CPU twin run in the
 * same process with "cpu".
 */
#ifndef RELVEC_GPU_COMMON_H
#define RELVEC_GPU_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include "internal.h"
#include "tap.h"
#include "testhost.h"

#define MAX_TEST_DEVICES 8

/* xorshift64*: the same data on every run and machine. */
static inline double
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (double) ((*s * 2685821657736338717ull) >> 11) / (double) (1ull << 53);
}

/* n uniform values in [-1, 1). */
static inline void
fill_uniform(float *v, size_t n, uint64_t seed)
{
	size_t		i;
	uint64_t	s = seed * 0x9E3779B97F4A7C15ull + 1;

	for (i = 0; i < n; i++)
		v[i] = (float) (2.0 * rnd(&s) - 1.0);
}

/* n small integers in [-r, r]: sums of them are exact in float, so ties are exact too. */
static inline void
fill_int(float *v, size_t n, int r, uint64_t seed)
{
	size_t		i;
	uint64_t	s = seed * 0x9E3779B97F4A7C15ull + 1;

	for (i = 0; i < n; i++)
		v[i] = (float) ((int) (rnd(&s) * (2 * r + 1)) - r);
}

static inline void *
xmalloc(size_t n)
{
	void	   *p = calloc(1, n == 0 ? 1 : n);

	if (p == NULL)
	{
		printf("Bail out! out of memory\n");
		exit(1);
	}
	return p;
}

/* The Vulkan devices present (count 0 when none or no loader); also prints them. */
static inline size_t
list_test_devices(rv_device_info *info)
{
	test_host	th;
	rv_ctx	   *ctx = test_ctx(&th);
	size_t		n = 0,
				i;

	if (rv_list_devices(ctx, info, MAX_TEST_DEVICES, &n) != RV_OK)
		n = 0;
	if (n > MAX_TEST_DEVICES)
		n = MAX_TEST_DEVICES;
	for (i = 0; i < n; i++)
		printf("# device vulkan:%d: %s (%s, %s)\n", info[i].index, info[i].name,
			   info[i].type, info[i].driver);
	rv_ctx_destroy(ctx);
	return n;
}

/* A context on device spec; bails out when the spec is refused. */
static inline rv_ctx *
ctx_on(test_host *th, const char *spec)
{
	rv_ctx	   *ctx = test_ctx(th);

	if (rv_set_device(ctx, spec) != RV_OK)
	{
		printf("Bail out! cannot set device %s: %s\n", spec, rv_errmsg(ctx));
		exit(1);
	}
	return ctx;
}

/*
 * Largest element-wise error of got against want, measured as |got - want| /
 * max(1, |want|): an absolute tolerance for values up to 1 in magnitude, relative above.
 */
static inline double
max_err(const float *got, const float *want, size_t n, size_t *where)
{
	double		m = 0.0;
	size_t		i;

	*where = 0;
	for (i = 0; i < n; i++)
	{
		double		scale = fabs(want[i]) > 1.0 ? fabs(want[i]) : 1.0;
		double		e = fabs((double) got[i] - want[i]) / scale;

		if (isnan(got[i]) != isnan(want[i]))
			e = INFINITY;
		if (e > m)
		{
			m = e;
			*where = i;
		}
	}
	return m;
}

#endif
