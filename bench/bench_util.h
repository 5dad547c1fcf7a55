/*
 * bench_util.h — what every benchmark program needs: a seeded uniform generator, a
 * monotonic clock in milliseconds, and the lane-wise float sum that streams memory at full
 * speed (the floor any exact scan is compared with). Header-only, static inline.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

static uint64_t bench_rng = 0x9E3779B97F4A7C15ULL;

/* xorshift64: uniform in [-1, 1), the same sequence in every program. */
static inline float
frand(void)
{
	bench_rng ^= bench_rng << 13;
	bench_rng ^= bench_rng >> 7;
	bench_rng ^= bench_rng << 17;
	return (float) ((double) (bench_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Milliseconds on the monotonic clock. */
static inline double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Sum of all floats, in lanes so that it streams at memory speed. */
static inline double
stream_sum(const float *restrict v, size_t count)
{
	float		acc[32] = {0};
	double		s = 0;
	size_t		i = 0;
	int			l;

	for (; i + 32 <= count; i += 32)
		for (l = 0; l < 32; l++)
			acc[l] += v[i + l];
	for (; i < count; i++)
		s += v[i];
	for (l = 0; l < 32; l++)
		s += acc[l];
	return s;
}

#endif							/* BENCH_UTIL_H */
