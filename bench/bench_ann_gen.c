/*
 * bench_ann_gen.c — the synthetic data of bench/run-ann-bench.sh: deterministic vectors as
 * PostgreSQL COPY text, and, run without arguments (as `make bench` does), a crude check of
 * what the data looks like to an approximate index.
 *
 *   bench_ann_gen KIND N D MODEL_SEED POINT_SEED [FIRST_ID] [--latent=L] [--clusters=C]
 *       N rows "id<TAB>[v1,v2,...]" on stdout (ids FIRST_ID.., default 1; values "%.6g"), for
 *       COPY t (id, e) FROM STDIN into an embedding or a pgvector vector column.
 *   bench_ann_gen
 *       the check: 20,000 x 256 of each kind, 100 queries, a crude IVF (lists = sqrt(rows)
 *       centroids from 3 rounds of k-means on a sample), recall@10 at a few probe counts
 *       against the exact cosine top-10, and the relative contrast.
 *
 * Why not only random vectors: for isotropic Gaussian points in hundreds of dimensions every
 * distance is nearly the same (the relative contrast, mean distance over nearest distance,
 * tends to 1), so there is no neighbourhood structure for an index to exploit and any
 * approximate index needs to scan most of the data for good recall. Real embeddings are not
 * like that: their spectrum decays (a few directions carry most of the variance, the
 * intrinsic dimension is low) and they cluster. A benchmark on random data alone says
 * nothing about the recall an index reaches on embeddings; it is kept as the hard case.
 *
 * KIND clustered (the model; MODEL_SEED fixes everything here):
 *   - a latent space of L dimensions (default 48) with per-axis scales s_i = 1/sqrt(i+1),
 *     i = 0..L-1: a decaying spectrum (participation ratio about 12 for L = 48);
 *   - C Gaussian clusters (default 1,000): centres mu_k ~ N(0, diag(s^2)), weights w_k
 *     log-normal (exp of N(0, 0.5^2), normalized), so cluster sizes are mildly unequal;
 *   - a fixed D x L matrix M with N(0, 1) entries scaled so that each output coordinate of
 *     the signal has unit variance.
 * A point (POINT_SEED fixes the stream): k drawn with probability w_k, z = mu_k + 0.5 s (.) g
 * (g ~ N(0, I_L): within-cluster spread half the between-cluster one on every axis), and
 * x = M z + 0.1 n, n ~ N(0, I_D) (small isotropic noise: 1% of the energy, in all D
 * dimensions). A corpus, its queries and the rows inserted later share MODEL_SEED and use
 * different POINT_SEEDs: the queries come from the same distribution and are not rows of the
 * table.
 * KIND random: x ~ N(0, I_D), isotropic (the hard case). MODEL_SEED is unused.
 *
 * Deterministic on every machine: splitmix64 and Box-Muller in double precision, no libc
 * rand(); the text depends only on the arguments.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define DEF_LATENT 48
#define DEF_CLUSTERS 1000
#define SPREAD 0.5
#define NOISE 0.1

typedef struct Rng
{
	uint64_t	s;
	int			have;			/* Box-Muller's second value is in spare */
	double		spare;
} Rng;

/* The distribution of one KIND with its model drawn; gen_free releases it. */
typedef struct Gen
{
	int			clustered;
	size_t		d;
	int			latent;
	int			clusters;
	double	   *scale;			/* latent: s_i */
	double	   *centres;		/* clusters x latent */
	double	   *cum;			/* clusters: cumulative weights, last = 1 */
	double	   *map;			/* latent x d, row-major by latent axis */
} Gen;

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
	double		u,
				a;

	if (r->have)
	{
		r->have = 0;
		return r->spare;
	}
	u = sqrt(-2.0 * log(1.0 - unif(r)));	/* 1 - u in (0, 1] */
	a = 2.0 * M_PI * unif(r);
	r->spare = u * sin(a);
	r->have = 1;
	return u * cos(a);
}

static void *
xmalloc(size_t bytes)
{
	void	   *p = malloc(bytes);

	if (p == NULL)
	{
		fprintf(stderr, "bench_ann_gen: out of memory (%zu bytes)\n", bytes);
		exit(1);
	}
	return p;
}

/* Draw the model of KIND ("clustered" or "random") for d dimensions; 0 on an unknown kind. */
static int
gen_init(Gen *g, const char *kind, size_t d, int latent, int clusters, uint64_t model_seed)
{
	Rng			m = {model_seed, 0, 0};
	double		var = 0,
				w = 0;

	memset(g, 0, sizeof(*g));
	g->d = d;
	if (strcmp(kind, "random") == 0)
		return 1;
	if (strcmp(kind, "clustered") != 0)
		return 0;
	g->clustered = 1;
	g->latent = latent;
	g->clusters = clusters;
	g->scale = xmalloc(sizeof(double) * latent);
	g->centres = xmalloc(sizeof(double) * clusters * latent);
	g->cum = xmalloc(sizeof(double) * clusters);
	g->map = xmalloc(sizeof(double) * latent * d);
	for (int i = 0; i < latent; i++)
	{
		g->scale[i] = 1.0 / sqrt(i + 1.0);
		var += g->scale[i] * g->scale[i] * (1.0 + SPREAD * SPREAD);
	}
	for (int k = 0; k < clusters; k++)
	{
		for (int i = 0; i < latent; i++)
			g->centres[(size_t) k * latent + i] = g->scale[i] * gauss(&m);
		w += exp(0.5 * gauss(&m));
		g->cum[k] = w;
	}
	for (int k = 0; k < clusters; k++)
		g->cum[k] /= w;
	g->cum[clusters - 1] = 1.0;
	/* var = E|z|^2: entries N(0, 1/var) give each output coordinate unit variance */
	for (size_t i = 0; i < (size_t) latent * d; i++)
		g->map[i] = gauss(&m) / sqrt(var);
	return 1;
}

static void
gen_free(Gen *g)
{
	free(g->scale);
	free(g->centres);
	free(g->cum);
	free(g->map);
}

/* The next point of the stream p into x[0..d). */
static void
gen_point(const Gen *g, Rng *p, float *x)
{
	double		z[512];
	double		u;
	int			lo = 0,
				hi;
	const double *c;

	if (!g->clustered)
	{
		for (size_t j = 0; j < g->d; j++)
			x[j] = (float) gauss(p);
		return;
	}
	/* the cluster: the first k with cum[k] > u */
	u = unif(p);
	hi = g->clusters - 1;
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (g->cum[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	c = g->centres + (size_t) lo * g->latent;
	for (int i = 0; i < g->latent; i++)
		z[i] = c[i] + SPREAD * g->scale[i] * gauss(p);
	for (size_t j = 0; j < g->d; j++)
		x[j] = (float) (NOISE * gauss(p));
	for (int i = 0; i < g->latent; i++)
	{
		const double *row = g->map + (size_t) i * g->d;

		for (size_t j = 0; j < g->d; j++)
			x[j] += (float) (z[i] * row[j]);
	}
}

/* ---- the check ---------------------------------------------------------------------- */

/* Scale each of the n rows of x (d wide) to unit length (zero rows stay zero). */
static void
normalize(float *x, size_t n, size_t d)
{
	for (size_t i = 0; i < n; i++)
	{
		double		s = 0;

		for (size_t j = 0; j < d; j++)
			s += (double) x[i * d + j] * x[i * d + j];
		s = s > 0 ? 1.0 / sqrt(s) : 0;
		for (size_t j = 0; j < d; j++)
			x[i * d + j] = (float) (x[i * d + j] * s);
	}
}

static float
dot(const float *a, const float *b, size_t d)
{
	float		s = 0;

	for (size_t j = 0; j < d; j++)
		s += a[j] * b[j];
	return s;
}

/* Insert (score, id) into the best-k list (scores descending, ties to the smaller id). */
static void
topk_push(float *score, int *id, int k, float s, int i)
{
	int			p = k - 1;

	if (s < score[p] || (s == score[p] && i > id[p]))
		return;
	while (p > 0 && (s > score[p - 1] || (s == score[p - 1] && i < id[p - 1])))
	{
		score[p] = score[p - 1];
		id[p] = id[p - 1];
		p--;
	}
	score[p] = s;
	id[p] = i;
}

/* The index of the centroid nearest (cosine) to x among nl. */
static int
nearest(const float *cent, int nl, const float *x, size_t d)
{
	int			best = 0;
	float		bs = -2;

	for (int l = 0; l < nl; l++)
	{
		float		s = dot(cent + (size_t) l * d, x, d);

		if (s > bs)
		{
			bs = s;
			best = l;
		}
	}
	return best;
}

/*
 * The check of one kind: n corpus rows, nq queries, a crude IVF (spherical k-means, 3 rounds
 * on a sample), recall@10 at probes 1, 2, 4, 8, 16 lists, and the relative contrast (mean
 * cosine distance to the corpus over the distance to the nearest row), both means over the
 * queries.
 */
static void
check(const char *kind, size_t n, size_t d, int nq)
{
	enum
	{
		K = 10, NPROBES = 5
	};
	static const int probes[NPROBES] = {1, 2, 4, 8, 16};
	Gen			g;
	Rng			pts = {7, 0, 0},
				qs = {8, 0, 0};
	float	   *x = xmalloc(sizeof(float) * n * d),
			   *q = xmalloc(sizeof(float) * (size_t) nq * d);
	int			nl = (int) sqrt((double) n);
	float	   *cent = xmalloc(sizeof(float) * nl * d);
	double	   *acc = xmalloc(sizeof(double) * nl * d);
	int		   *cnt = xmalloc(sizeof(int) * nl),
			   *assign = xmalloc(sizeof(int) * n);
	size_t		sample = n < 10000 ? n : 10000;
	double		recall[NPROBES] = {0},
				contrast = 0,
				t0 = now_ms();

	gen_init(&g, kind, d, DEF_LATENT, DEF_CLUSTERS, 42);
	for (size_t i = 0; i < n; i++)
		gen_point(&g, &pts, x + i * d);
	for (int i = 0; i < nq; i++)
		gen_point(&g, &qs, q + (size_t) i * d);
	normalize(x, n, d);
	normalize(q, nq, d);
	/* spherical k-means from nl rows spread over the corpus, on the first `sample` rows */
	for (int l = 0; l < nl; l++)
		memcpy(cent + (size_t) l * d, x + (size_t) l * (n / nl) * d, sizeof(float) * d);
	for (int round = 0; round < 3; round++)
	{
		memset(acc, 0, sizeof(double) * nl * d);
		memset(cnt, 0, sizeof(int) * nl);
		for (size_t i = 0; i < sample; i++)
		{
			int			l = nearest(cent, nl, x + i * d, d);

			cnt[l]++;
			for (size_t j = 0; j < d; j++)
				acc[(size_t) l * d + j] += x[i * d + j];
		}
		for (int l = 0; l < nl; l++)
			if (cnt[l] > 0)
				for (size_t j = 0; j < d; j++)
					cent[(size_t) l * d + j] = (float) acc[(size_t) l * d + j];
		normalize(cent, nl, d);
	}
	for (size_t i = 0; i < n; i++)
		assign[i] = nearest(cent, nl, x + i * d, d);
	for (int qi = 0; qi < nq; qi++)
	{
		const float *qv = q + (size_t) qi * d;
		float		es[K],
					ps[NPROBES][K],
					lsc[16];
		int			eid[K],
					pid[NPROBES][K],
					lid[16];
		double		mean = 0;

		for (int j = 0; j < K; j++)
		{
			es[j] = -3;
			eid[j] = -1;
			for (int p = 0; p < NPROBES; p++)
			{
				ps[p][j] = -3;
				pid[p][j] = -1;
			}
		}
		/* the 16 nearest lists, nearest first */
		for (int j = 0; j < 16; j++)
		{
			lsc[j] = -3;
			lid[j] = -1;
		}
		for (int l = 0; l < nl; l++)
			topk_push(lsc, lid, 16, dot(cent + (size_t) l * d, qv, d), l);
		for (size_t i = 0; i < n; i++)
		{
			float		s = dot(x + i * d, qv, d);
			int			rank = 16;

			mean += 1.0 - s;
			topk_push(es, eid, K, s, (int) i);
			for (int j = 0; j < 16; j++)
				if (lid[j] == assign[i])
				{
					rank = j;
					break;
				}
			for (int p = 0; p < NPROBES; p++)
				if (rank < probes[p])
					topk_push(ps[p], pid[p], K, s, (int) i);
		}
		for (int p = 0; p < NPROBES; p++)
		{
			int			hit = 0;

			for (int a = 0; a < K; a++)
				for (int b = 0; b < K; b++)
					hit += pid[p][a] == eid[b];
			recall[p] += (double) hit / K;
		}
		contrast += (mean / n) / (1.0 - es[0] > 1e-12 ? 1.0 - es[0] : 1e-12);
	}
	printf("%-9s %zu x %zu, %d queries, crude IVF %d lists: recall@%d at probes", kind, n, d, nq, nl, K);
	for (int p = 0; p < NPROBES; p++)
		printf(" %d: %.3f%s", probes[p], recall[p] / nq, p < NPROBES - 1 ? "," : ";");
	printf(" relative contrast %.2f (%.1f s)\n", contrast / nq, (now_ms() - t0) / 1000);
	gen_free(&g);
	free(x);
	free(q);
	free(cent);
	free(acc);
	free(cnt);
	free(assign);
}

/* ---- the generator ------------------------------------------------------------------ */

/* Write n rows of COPY text: "id\t[v1,...]" with ids first.., one stdio buffer per row. */
static void
emit(const Gen *g, uint64_t point_seed, long n, long first)
{
	Rng			p = {point_seed, 0, 0};
	float	   *x = xmalloc(sizeof(float) * g->d);
	char	   *line = xmalloc(g->d * 16 + 32);

	for (long i = 0; i < n; i++)
	{
		char	   *s = line;

		gen_point(g, &p, x);
		s += sprintf(s, "%ld\t[", first + i);
		for (size_t j = 0; j < g->d; j++)
			s += sprintf(s, j ? ",%.6g" : "%.6g", (double) x[j]);
		*s++ = ']';
		*s++ = '\n';
		if (fwrite(line, 1, (size_t) (s - line), stdout) != (size_t) (s - line))
		{
			perror("bench_ann_gen: stdout");
			exit(1);
		}
	}
	free(x);
	free(line);
}

/* A whole decimal argument in [lo, hi], or exit with usage. */
static long
arg_long(const char *s, const char *what, long lo, long hi)
{
	char	   *end;
	long		v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi)
	{
		fprintf(stderr, "bench_ann_gen: %s \"%s\" is not a whole number in [%ld, %ld]\n", what, s, lo, hi);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	Gen			g;
	int			latent = DEF_LATENT,
				clusters = DEF_CLUSTERS;
	char	   *pos[6];
	int			npos = 0;

	if (argc == 1)
	{
		printf("bench_ann_gen: what the synthetic data looks like to an approximate index "
			   "(cosine; spherical k-means, 3 rounds on 10,000 rows)\n");
		check("clustered", 20000, 256, 100);
		check("random", 20000, 256, 100);
		return 0;
	}
	for (int i = 1; i < argc; i++)
	{
		if (strncmp(argv[i], "--latent=", 9) == 0)
			latent = (int) arg_long(argv[i] + 9, "--latent", 1, 512);
		else if (strncmp(argv[i], "--clusters=", 11) == 0)
			clusters = (int) arg_long(argv[i] + 11, "--clusters", 1, 10000000);
		else if (npos < 6)
			pos[npos++] = argv[i];
		else
			npos = 7;
	}
	if (npos < 5 || npos > 6)
	{
		fprintf(stderr, "usage: bench_ann_gen clustered|random N D MODEL_SEED POINT_SEED [FIRST_ID] "
				"[--latent=L] [--clusters=C]\n       bench_ann_gen   (the check)\n");
		return 2;
	}
	if (!gen_init(&g, pos[0], (size_t) arg_long(pos[2], "D", 1, 16000), latent, clusters,
				  (uint64_t) arg_long(pos[3], "MODEL_SEED", 0, INT64_MAX)))
	{
		fprintf(stderr, "bench_ann_gen: KIND is clustered or random, not \"%s\"\n", pos[0]);
		return 2;
	}
	emit(&g, (uint64_t) arg_long(pos[4], "POINT_SEED", 0, INT64_MAX),
		 arg_long(pos[1], "N", 0, INT32_MAX), npos == 6 ? arg_long(pos[5], "FIRST_ID", 0, INT32_MAX) : 1);
	gen_free(&g);
	if (fflush(stdout) != 0)
	{
		perror("bench_ann_gen: stdout");
		return 1;
	}
	return 0;
}
