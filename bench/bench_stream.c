/*
 * bench_stream.c — the time to stream a given number of bytes from memory (a lane-wise sum
 * of floats, best of a few repetitions): the floor for any exact scan over that many bytes.
 * bench/run-index-bench.sh passes an rvflat index's size in RELVEC_BENCH_BYTES (default:
 * 100,000 x 768 float32) and compares the index scan's SQL latency with it. Prints, never
 * asserts. RELVEC_BENCH_REPS sets the repetitions.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_util.h"

int
main(void)
{
	const char *eb = getenv("RELVEC_BENCH_BYTES");
	const char *er = getenv("RELVEC_BENCH_REPS");
	size_t		bytes = eb ? (size_t) strtoull(eb, NULL, 10) : (size_t) 100000 * 768 * 4;
	int			reps = er ? atoi(er) : 5;
	size_t		count = bytes / sizeof(float);
	float	   *v = malloc(count * sizeof(float));
	double		best = 1e300;
	double		sink = 0;
	size_t		i;
	int			r;

	if (v == NULL || count == 0)
	{
		fprintf(stderr, "bench_stream: cannot allocate %zu bytes\n", bytes);
		return 1;
	}
	for (i = 0; i < count; i++)
		v[i] = (float) (i % 1000) * 1e-3f;
	for (r = 0; r < (reps < 1 ? 1 : reps); r++)
	{
		double		t0 = now_ms();

		sink += stream_sum(v, count);
		if (now_ms() - t0 < best)
			best = now_ms() - t0;
	}
	printf("streaming read of %.1f MB: %.2f ms (best of %d; checksum %.0f)\n",
		   bytes / 1048576.0, best, reps, sink);
	free(v);
	return 0;
}
