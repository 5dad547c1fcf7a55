/*
 * serving_data.c — the data of bench/run-serving-bench.sh and its in-memory floor.
 *
 *   serving_data gen KIND N D MODEL_SEED POINT_SEED OUT.f32
 *       N x D float32 vectors, row-major, into OUT.f32. KIND random: uniform in [-1, 1).
 *       KIND clustered: 1,000 Gaussian clusters in a 32-dimensional latent space (centres
 *       N(0, I), spread 0.25), mapped to D dimensions by one fixed Gaussian matrix (variance
 *       1/32 per entry, so each output coordinate has about unit variance), plus N(0, 0.3^2)
 *       noise per coordinate. MODEL_SEED fixes the centres and the map, POINT_SEED the
 *       points: a corpus and its queries share the model and differ in the points. Every
 *       value is rounded to 4 decimals, the digits that `text` prints, so the server and
 *       the floor see the same numbers (up to the last bit of the float conversion).
 *   serving_data text IN.f32 N D
 *       COPY text of (id, vector), id from 1, the vector as '[v1,v2,...]' (relvec's and
 *       pgvector's input syntax).
 *   serving_data floor CORPUS.f32 N QUERIES.f32 NQ D K REPS
 *       The floor of a single-thread exact cosine top-K in memory: the corpus normalized
 *       once (not timed), then per query one pass of float32 dot products (vectorized lanes:
 *       on the development machine this beats OpenBLAS's single-thread sgemv and runs at the
 *       speed of a streaming read) and a bounded selection. Prints the median time over REPS
 *       queries (queries 1..REPS), then for each of them "qid: id id ..." (ids from 1).
 *
 * Deterministic on every machine: splitmix64 and Box-Muller, no libc random().
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LATENT 32
#define CLUSTERS 1000
#define SPREAD 0.25
#define NOISE 0.3

typedef struct Rng
{
	uint64_t	s;
} Rng;

/* splitmix64: the next 64 random bits. */
static uint64_t
next64(Rng *r)
{
	uint64_t	z = (r->s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double
unif(Rng *r)
{
	return (double) (next64(r) >> 11) / 9007199254740992.0;
}

/* Standard normal (Box-Muller: two values per pair of uniforms, the second kept). */
static double
gauss(Rng *r)
{
	static int	have;
	static double spare;
	double		u,
				a;

	if (have)
	{
		have = 0;
		return spare;
	}
	u = sqrt(-2.0 * log(1.0 - unif(r)));	/* 1 - u in (0, 1] */
	a = 2.0 * M_PI * unif(r);
	spare = u * sin(a);
	have = 1;
	return u * cos(a);
}

/* The value as the text form prints it: 4 decimals. */
static float
round4(double v)
{
	return (float) (nearbyint(v * 1e4) / 1e4);
}

/* Append "[-]I.FFFF" of x (a value of round4) to p; returns the new end. */
static char *
put4(char *p, float x)
{
	long		k = lrint((double) x * 1e4);
	char		tmp[24];
	int			t = 0;

	if (k < 0)
	{
		*p++ = '-';
		k = -k;
	}
	for (int i = 0; i < 4; i++, k /= 10)
		tmp[t++] = (char) ('0' + k % 10);
	tmp[t++] = '.';
	do
	{
		tmp[t++] = (char) ('0' + k % 10);
		k /= 10;
	} while (k > 0);
	while (t > 0)
		*p++ = tmp[--t];
	return p;
}

static void
die(const char *what)
{
	fprintf(stderr, "serving_data: %s%s%s\n", what, errno ? ": " : "", errno ? strerror(errno) : "");
	exit(1);
}

/* Read n x d floats from path; the caller frees the array. */
static float *
load(const char *path, size_t n, size_t d)
{
	FILE	   *f = fopen(path, "rb");
	float	   *x = malloc(n * d * sizeof(float));

	if (f == NULL || x == NULL)
		die(path);
	if (fread(x, sizeof(float), n * d, f) != n * d)
		die("short read");
	fclose(f);
	return x;
}

static int
gen(const char *kind, size_t n, size_t d, uint64_t model_seed, uint64_t point_seed, const char *out)
{
	FILE	   *f = fopen(out, "wb");
	float	   *row = malloc(d * sizeof(float));
	double	   *centres = NULL,
			   *map = NULL;
	int			clustered = strcmp(kind, "clustered") == 0;
	Rng			model = {model_seed},
				pts = {point_seed};

	if (f == NULL || row == NULL)
		die(out);
	if (!clustered && strcmp(kind, "random") != 0)
	{
		errno = 0;
		die("KIND is random or clustered");
	}
	if (clustered)
	{
		centres = malloc(sizeof(double) * CLUSTERS * LATENT);
		map = malloc(sizeof(double) * LATENT * d);
		if (centres == NULL || map == NULL)
			die("out of memory");
		for (size_t i = 0; i < (size_t) CLUSTERS * LATENT; i++)
			centres[i] = gauss(&model);
		for (size_t i = 0; i < LATENT * d; i++)
			map[i] = gauss(&model) / sqrt((double) LATENT);
	}
	for (size_t i = 0; i < n; i++)
	{
		if (clustered)
		{
			double		z[LATENT];
			const double *c = centres + (next64(&pts) % CLUSTERS) * LATENT;

			for (int l = 0; l < LATENT; l++)
				z[l] = c[l] + SPREAD * gauss(&pts);
			for (size_t j = 0; j < d; j++)
			{
				double		v = NOISE * gauss(&pts);

				for (int l = 0; l < LATENT; l++)
					v += z[l] * map[l * d + j];
				row[j] = round4(v);
			}
		}
		else
			for (size_t j = 0; j < d; j++)
				row[j] = round4(unif(&pts) * 2.0 - 1.0);
		if (fwrite(row, sizeof(float), d, f) != d)
			die(out);
	}
	if (fclose(f) != 0)
		die(out);
	free(row);
	free(centres);
	free(map);
	return 0;
}

static int
text(const char *in, size_t n, size_t d)
{
	float	   *x = load(in, n, d);
	char	   *line = malloc(32 + d * 24);

	if (line == NULL)
		die("out of memory");
	for (size_t i = 0; i < n; i++)
	{
		char	   *p = line + sprintf(line, "%zu\t[", i + 1);

		for (size_t j = 0; j < d; j++)
		{
			if (j)
				*p++ = ',';
			p = put4(p, x[i * d + j]);
		}
		*p++ = ']';
		*p++ = '\n';
		if (fwrite(line, 1, p - line, stdout) != (size_t) (p - line))
			die("write");
	}
	free(x);
	free(line);
	return fflush(stdout) == 0 ? 0 : 1;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/* Dot product in 32 lanes, so that -O3 -march=native vectorizes it and it streams at memory speed. */
static float
dot(const float *restrict a, const float *restrict b, size_t d)
{
	float		acc[32] = {0};
	float		s = 0;
	size_t		j = 0;

	for (; j + 32 <= d; j += 32)
		for (int l = 0; l < 32; l++)
			acc[l] += a[j + l] * b[j + l];
	for (; j < d; j++)
		s += a[j] * b[j];
	for (int l = 0; l < 32; l++)
		s += acc[l];
	return s;
}

/* Exact cosine top-k of q over the normalized corpus xn (n x d): ids (0-based) into best. */
static void
topk(const float *xn, size_t n, size_t d, const float *q, float *sims, int k, size_t *best)
{
	double		qn = 0;
	float		bsim[64];
	int			m = 0;

	for (size_t j = 0; j < d; j++)
		qn += (double) q[j] * q[j];
	qn = qn > 0 ? 1.0 / sqrt(qn) : 0;
	for (size_t i = 0; i < n; i++)
		sims[i] = dot(xn + i * d, q, d) * (float) qn;
	/* a sorted list of the k largest similarities (smallest distances), ties by id */
	for (size_t i = 0; i < n; i++)
	{
		float		s = sims[i];
		int			p;

		if (m == k && s <= bsim[k - 1])
			continue;
		p = m < k ? m++ : k - 1;
		while (p > 0 && bsim[p - 1] < s)
		{
			bsim[p] = bsim[p - 1];
			best[p] = best[p - 1];
			p--;
		}
		bsim[p] = s;
		best[p] = i;
	}
}

static int
floor_bench(const char *cpath, size_t n, const char *qpath, size_t nq, size_t d, int k, int reps)
{
	float	   *x = load(cpath, n, d);
	float	   *qs = load(qpath, nq, d);
	float	   *sims = malloc(n * sizeof(float));
	double	   *times = malloc(reps * sizeof(double));
	size_t	   *ids = malloc((size_t) reps * k * sizeof(size_t));

	if (sims == NULL || times == NULL || ids == NULL || k > 64 || (size_t) reps > nq)
		die("bad arguments or out of memory");
	for (size_t i = 0; i < n; i++)
	{
		double		s = 0;

		for (size_t j = 0; j < d; j++)
			s += (double) x[i * d + j] * x[i * d + j];
		s = s > 0 ? 1.0 / sqrt(s) : 0;
		for (size_t j = 0; j < d; j++)
			x[i * d + j] *= (float) s;
	}
	topk(x, n, d, qs, sims, k, ids);	/* warm-up: pages, caches */
	for (int r = 0; r < reps; r++)
	{
		double		t0 = now_ms();

		topk(x, n, d, qs + (size_t) r * d, sims, k, ids + (size_t) r * k);
		times[r] = now_ms() - t0;
	}
	qsort(times, reps, sizeof(double), cmp_double);
	printf("%.3f\n", times[reps / 2]);
	for (int r = 0; r < reps; r++)
	{
		printf("%d:", r + 1);
		for (int i = 0; i < k; i++)
			printf(" %zu", ids[(size_t) r * k + i] + 1);
		printf("\n");
	}
	free(x);
	free(qs);
	free(sims);
	free(times);
	free(ids);
	return 0;
}

int
main(int argc, char **argv)
{
	errno = 0;
	if (argc == 8 && strcmp(argv[1], "gen") == 0)
		return gen(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10),
				   strtoull(argv[5], NULL, 10), strtoull(argv[6], NULL, 10), argv[7]);
	if (argc == 5 && strcmp(argv[1], "text") == 0)
		return text(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
	if (argc == 9 && strcmp(argv[1], "floor") == 0)
		return floor_bench(argv[2], strtoull(argv[3], NULL, 10), argv[4], strtoull(argv[5], NULL, 10),
						   strtoull(argv[6], NULL, 10), atoi(argv[7]), atoi(argv[8]));
	fprintf(stderr, "usage: serving_data gen KIND N D MODEL_SEED POINT_SEED OUT.f32\n"
			"       serving_data text IN.f32 N D\n"
			"       serving_data floor CORPUS.f32 N QUERIES.f32 NQ D K REPS\n");
	return 2;
}
