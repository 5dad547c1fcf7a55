/*
 * translate.c — translation between two latent spaces fitted on parallel anchors (Maiorca
 * et al., NeurIPS 2023, "Latent space translation via semantic alignment").
 *
 * The k anchors embedded by both models give two matrices A_from (k x d_from) and A_to
 * (k x d_to), row i the same item. Each side is standardized per dimension with its own
 * anchors' mean and population standard deviation (+1e-8, so a constant dimension does not
 * divide by zero), and the smaller side is zero-padded to dim = max(d_from, d_to); call the
 * results X and Y (k x dim). Then a map W (dim x dim) with X·W ≈ Y is fitted:
 *
 *   orthogonal  Procrustes: W = U·Vᵀ from the SVD U·S·Vᵀ = Xᵀ·Y (LAPACK dgesdd), the
 *               rotation/reflection that best aligns the anchors; it needs no rank.
 *   linear      least squares min |X·W - Y| (LAPACK dgelsd, minimum norm); the rows of W
 *               for padded input dimensions are zero, so the unknowns per output are d_from.
 *   affine      least squares on [X 1]: d_from + 1 unknowns per output; the last row of
 *               the solution is the bias.
 *
 * Linear and affine fail with RV_E_RANK_DEFICIENT when the anchors have fewer independent
 * rows than unknowns: numerical rank from dgelsd's singular values with numpy lstsq's
 * relative cutoff max(k, unknowns)·eps, eps of float32 because the anchors are float32
 * (their rounding alone gives dependent anchors tiny nonzero singular values).
 *
 *   translate(x) = unpad(pad((x - mean_from) / std_from) · W + bias) · std_to + mean_to
 *
 * Everything is fitted in double and stored in float. LAPACK runs in column-major order
 * through the LAPACKE *_work entry points with workspace from the host allocator (the
 * plain LAPACKE calls would malloc behind the host's back). Translating n rows is one sgemm.
 */
#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

#include "internal.h"

/* Added to each standard deviation, as in the paper's reference code. */
#define STD_EPS 1e-8
/* Rows standardized between two interrupt checks. */
#define TRANSLATE_CHECK_ROWS 1024

static const char *const method_names[] = {"orthogonal", "linear", "affine"};

/* Parse "orthogonal", "linear" or "affine". */
rv_status
rv_translate_method_parse(rv_ctx *ctx, const char *name, rv_translate_method *out)
{
	int			i;

	for (i = 0; i < 3; i++)
		if (strcmp(name, method_names[i]) == 0)
		{
			*out = (rv_translate_method) i;
			return RV_OK;
		}
	return rv_fail(ctx, RV_E_INVALID_PARAM,
				   "unknown translation method \"%s\": expected orthogonal, linear or affine", name);
}

/* The name of a method, as the parser accepts it. */
const char *
rv_translate_method_name(rv_translate_method m)
{
	return (unsigned) m < 3 ? method_names[m] : "unknown";
}

/*
 * Allocate a translation and its arrays in one block (one rv_free releases everything).
 * The arrays are left uninitialized.
 */
static rv_status
translation_alloc(rv_ctx *ctx, rv_translate_method method, size_t d_from, size_t d_to,
				  rv_translation **out)
{
	size_t		dim = d_from > d_to ? d_from : d_to;
	size_t		nfloats = 2 * d_from + 2 * d_to + dim * dim + (method == RV_TRANSLATE_AFFINE ? dim : 0);
	rv_translation *t;
	float	   *p;

	*out = NULL;
	t = rv_alloc(ctx, sizeof(rv_translation) + sizeof(float) * nfloats);
	if (t == NULL)
		return rv_fail(ctx, RV_E_NOMEM, "out of memory for a translation of %zu dimensions", dim);
	p = (float *) (t + 1);
	t->method = method;
	t->d_from = d_from;
	t->d_to = d_to;
	t->dim = dim;
	t->mean_from = p;
	p += d_from;
	t->std_from = p;
	p += d_from;
	t->mean_to = p;
	p += d_to;
	t->std_to = p;
	p += d_to;
	t->matrix = p;
	p += dim * dim;
	t->bias = method == RV_TRANSLATE_AFFINE ? p : NULL;
	*out = t;
	return RV_OK;
}

void
rv_translation_destroy(rv_ctx *ctx, rv_translation *t)
{
	rv_free(ctx, t);
}

/* Check the dimension counts of a translation. */
static rv_status
check_dims(rv_ctx *ctx, size_t d_from, size_t d_to)
{
	if (d_from == 0 || d_to == 0)
		return rv_fail(ctx, RV_E_EMPTY, "a translation needs at least one dimension on each side");
	if (d_from > RV_MAX_DIMS || d_to > RV_MAX_DIMS)
		return rv_fail(ctx, RV_E_TOO_MANY_DIMS, "a translation cannot have more than %d dimensions",
					   RV_MAX_DIMS);
	return RV_OK;
}

/*
 * Per-dimension mean and population standard deviation (+STD_EPS) of the k x d anchors a,
 * in double; writes them as floats into mean and std and the standardized anchors into
 * the column-major k x ld matrix z (columns 0..d-1; the caller zeroes the padding).
 */
static void
standardize_anchors(const float *a, size_t k, size_t d, float *mean, float *std, double *z)
{
	size_t		i,
				j;

	for (j = 0; j < d; j++)
	{
		double		s = 0,
					ss = 0,
					m,
					sd;

		for (i = 0; i < k; i++)
			s += a[i * d + j];
		m = s / (double) k;
		for (i = 0; i < k; i++)
		{
			double		u = a[i * d + j] - m;

			ss += u * u;
		}
		sd = sqrt(ss / (double) k) + STD_EPS;
		mean[j] = (float) m;
		std[j] = (float) sd;
		/* standardize with the stored float statistics, as translate will */
		for (i = 0; i < k; i++)
			z[j * k + i] = ((double) a[i * d + j] - (double) mean[j]) / (double) std[j];
	}
}

/* True when all n values are finite. */
static int
all_finite(const float *v, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return 0;
	return 1;
}

/* Orthogonal Procrustes: W = U·Vᵀ from the SVD of Xᵀ·Y (both k x dim, column-major). */
static rv_status
fit_orthogonal(rv_ctx *ctx, const double *x, const double *y, size_t k, size_t dim, float *matrix)
{
	size_t		dd = dim * dim;
	double	   *m = NULL,
			   *u = NULL,
			   *vt = NULL,
			   *s = NULL,
			   *w = NULL,
			   *work = NULL;
	lapack_int *iwork = NULL;
	double		wq;
	lapack_int	n = (lapack_int) dim,
				info;
	rv_status	st = RV_OK;
	size_t		i,
				j;

	m = rv_alloc(ctx, sizeof(double) * dd);
	u = rv_alloc(ctx, sizeof(double) * dd);
	vt = rv_alloc(ctx, sizeof(double) * dd);
	s = rv_alloc(ctx, sizeof(double) * dim);
	iwork = rv_alloc(ctx, sizeof(lapack_int) * 8 * dim);
	if (!m || !u || !vt || !s || !iwork)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory fitting a translation of %zu dimensions", dim);
		goto done;
	}
	/* M = Xᵀ·Y, column-major dim x dim */
	cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, n, n, (int) k, 1.0, x, (int) k, y,
				(int) k, 0.0, m, n);
	if (rv_interrupted(ctx))
	{
		st = rv_fail(ctx, RV_E_INTERRUPTED, "translation fit interrupted");
		goto done;
	}
	info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'A', n, n, m, n, s, u, n, vt, n, &wq, -1, iwork);
	if (info != 0)
	{
		st = rv_fail(ctx, RV_E_INTERNAL, "dgesdd workspace query failed (info %d)", (int) info);
		goto done;
	}
	work = rv_alloc(ctx, sizeof(double) * ((size_t) wq + 1));
	if (work == NULL)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory fitting a translation of %zu dimensions", dim);
		goto done;
	}
	info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'A', n, n, m, n, s, u, n, vt, n, work,
							   (lapack_int) wq, iwork);
	if (info != 0)
	{
		st = rv_fail(ctx, info > 0 ? RV_E_RANK_DEFICIENT : RV_E_INTERNAL,
					 "the singular value decomposition of the anchors did not converge (info %d)",
					 (int) info);
		goto done;
	}
	/* W = U·Vᵀ (column-major); reuse m */
	w = m;
	cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, u, n, vt, n, 0.0, w, n);
	for (i = 0; i < dim; i++)
		for (j = 0; j < dim; j++)
			matrix[i * dim + j] = (float) w[j * dim + i];
done:
	rv_free(ctx, m);
	rv_free(ctx, u);
	rv_free(ctx, vt);
	rv_free(ctx, s);
	rv_free(ctx, iwork);
	rv_free(ctx, work);
	return st;
}

/*
 * Least squares for linear (affine = 0) or affine (affine = 1): x holds the first d_from
 * columns of the standardized from-anchors (column-major, k rows), y the k x dim targets.
 * Writes the dim x dim matrix (zero rows for padded inputs) and, for affine, the bias.
 */
static rv_status
fit_lstsq(rv_ctx *ctx, const double *x, const double *y, size_t k, size_t d_from, size_t dim,
		  int affine, float *matrix, float *bias)
{
	size_t		nu = d_from + (affine ? 1 : 0);	/* unknowns per output dimension */
	const char *what = affine ? "an affine" : "a linear";
	double	   *a = NULL,
			   *b = NULL,
			   *s = NULL,
			   *work = NULL;
	lapack_int *iwork = NULL;
	double		wq;
	lapack_int	iwq = 0,
				rank = 0,
				info;
	rv_status	st = RV_OK;
	size_t		i,
				j;

	if (k < nu)
		return rv_fail(ctx, RV_E_RANK_DEFICIENT,
					   "anchor set has %zu anchors for %zu unknowns: too few for %s translation",
					   k, nu, what);
	a = rv_alloc(ctx, sizeof(double) * k * nu);
	b = rv_alloc(ctx, sizeof(double) * k * dim);
	s = rv_alloc(ctx, sizeof(double) * nu);
	if (!a || !b || !s)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory fitting a translation of %zu dimensions", dim);
		goto done;
	}
	memcpy(a, x, sizeof(double) * k * d_from);
	if (affine)
		for (i = 0; i < k; i++)
			a[d_from * k + i] = 1.0;
	memcpy(b, y, sizeof(double) * k * dim);

	info = LAPACKE_dgelsd_work(LAPACK_COL_MAJOR, (lapack_int) k, (lapack_int) nu, (lapack_int) dim,
							   a, (lapack_int) k, b, (lapack_int) k, s, -1.0, &rank, &wq, -1, &iwq);
	if (info != 0)
	{
		st = rv_fail(ctx, RV_E_INTERNAL, "dgelsd workspace query failed (info %d)", (int) info);
		goto done;
	}
	work = rv_alloc(ctx, sizeof(double) * ((size_t) wq + 1));
	iwork = rv_alloc(ctx, sizeof(lapack_int) * ((size_t) iwq + 1));
	if (!work || !iwork)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory fitting a translation of %zu dimensions", dim);
		goto done;
	}
	if (rv_interrupted(ctx))
	{
		st = rv_fail(ctx, RV_E_INTERRUPTED, "translation fit interrupted");
		goto done;
	}
	info = LAPACKE_dgelsd_work(LAPACK_COL_MAJOR, (lapack_int) k, (lapack_int) nu, (lapack_int) dim,
							   a, (lapack_int) k, b, (lapack_int) k, s,
							   (double) (k > nu ? k : nu) * FLT_EPSILON, &rank, work,
							   (lapack_int) wq, iwork);
	if (info != 0)
	{
		st = rv_fail(ctx, info > 0 ? RV_E_RANK_DEFICIENT : RV_E_INTERNAL,
					 "the least-squares fit of the anchors did not converge (info %d)", (int) info);
		goto done;
	}
	if ((size_t) rank < nu)
	{
		st = rv_fail(ctx, RV_E_RANK_DEFICIENT,
					 "anchors have rank %d for %zu unknowns: too few independent anchors for %s translation",
					 (int) rank, nu, what);
		goto done;
	}
	/* the solution is the first nu rows of b (column-major, ldb = k) */
	memset(matrix, 0, sizeof(float) * dim * dim);
	for (i = 0; i < d_from; i++)
		for (j = 0; j < dim; j++)
			matrix[i * dim + j] = (float) b[j * k + i];
	if (affine)
		for (j = 0; j < dim; j++)
			bias[j] = (float) b[j * k + d_from];
done:
	rv_free(ctx, a);
	rv_free(ctx, b);
	rv_free(ctx, s);
	rv_free(ctx, work);
	rv_free(ctx, iwork);
	return st;
}

/* Fit a translation on k parallel anchors (see the top of the file). */
rv_status
rv_translation_fit(rv_ctx *ctx, const float *a_from, const float *a_to, size_t k,
				   size_t d_from, size_t d_to, rv_translate_method method, rv_translation **out)
{
	rv_translation *t = NULL;
	double	   *x = NULL,
			   *y = NULL;
	size_t		dim;
	rv_status	st;

	*out = NULL;
	if ((unsigned) method > RV_TRANSLATE_AFFINE)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "unknown translation method %d", (int) method);
	if ((st = check_dims(ctx, d_from, d_to)) != RV_OK)
		return st;
	if (k < 2)
		return rv_fail(ctx, RV_E_RANK_DEFICIENT,
					   "anchor set has %zu anchor%s: a translation needs at least 2", k, k == 1 ? "" : "s");
	if (k > (size_t) INT32_MAX / (d_from > d_to ? d_from : d_to))
		return rv_fail(ctx, RV_E_LIMIT, "too many anchors for a translation: %zu", k);
	if (!all_finite(a_from, k * d_from) || !all_finite(a_to, k * d_to))
		return rv_fail(ctx, RV_E_NOT_FINITE, "anchors must be finite");
	rvc_blas_init();

	if ((st = translation_alloc(ctx, method, d_from, d_to, &t)) != RV_OK)
		return st;
	dim = t->dim;
	x = rv_alloc(ctx, sizeof(double) * k * dim);
	y = rv_alloc(ctx, sizeof(double) * k * dim);
	if (!x || !y)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory fitting a translation of %zu dimensions", dim);
		goto done;
	}
	/* column-major k x dim, zero columns for the padding */
	memset(x, 0, sizeof(double) * k * dim);
	memset(y, 0, sizeof(double) * k * dim);
	standardize_anchors(a_from, k, d_from, t->mean_from, t->std_from, x);
	standardize_anchors(a_to, k, d_to, t->mean_to, t->std_to, y);
	if (rv_interrupted(ctx))
	{
		st = rv_fail(ctx, RV_E_INTERRUPTED, "translation fit interrupted");
		goto done;
	}
	if (method == RV_TRANSLATE_ORTHOGONAL)
		st = fit_orthogonal(ctx, x, y, k, dim, t->matrix);
	else
		st = fit_lstsq(ctx, x, y, k, d_from, dim, method == RV_TRANSLATE_AFFINE, t->matrix, t->bias);
	if (st == RV_OK &&
		(!all_finite(t->matrix, dim * dim) || (t->bias && !all_finite(t->bias, dim))))
		st = rv_fail(ctx, RV_E_RANK_DEFICIENT,
					 "the fitted translation overflows: the anchors are too close to dependent");
done:
	rv_free(ctx, x);
	rv_free(ctx, y);
	if (st != RV_OK)
		rv_translation_destroy(ctx, t);
	else
		*out = t;
	return st;
}

/* Check n stored values are finite; what names them in the message. */
static rv_status
check_finite(rv_ctx *ctx, const float *v, size_t n, const char *what)
{
	size_t		i;

	if (v == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "translation has no %s", what);
	for (i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return rv_fail(ctx, RV_E_NOT_FINITE, "translation %s has a value that is not finite", what);
	return RV_OK;
}

/* Rebuild a stored translation from its fields (copied and checked). */
rv_status
rv_translation_load(rv_ctx *ctx, const rv_translation *f, rv_translation **out)
{
	rv_translation *t;
	size_t		dim;
	rv_status	st;
	size_t		i;

	*out = NULL;
	if ((unsigned) f->method > RV_TRANSLATE_AFFINE)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "unknown translation method %d", (int) f->method);
	if ((st = check_dims(ctx, f->d_from, f->d_to)) != RV_OK)
		return st;
	dim = f->d_from > f->d_to ? f->d_from : f->d_to;
	if (f->dim != dim)
		return rv_fail(ctx, RV_E_DIM_MISMATCH,
					   "translation of %zu to %zu dimensions must have a %zu x %zu matrix, not %zu x %zu",
					   f->d_from, f->d_to, dim, dim, f->dim, f->dim);
	if ((f->bias != NULL) != (f->method == RV_TRANSLATE_AFFINE))
		return rv_fail(ctx, RV_E_INVALID_PARAM, "%s translation %s a bias",
					   rv_translate_method_name(f->method),
					   f->method == RV_TRANSLATE_AFFINE ? "needs" : "cannot have");
	if ((st = check_finite(ctx, f->mean_from, f->d_from, "source mean")) != RV_OK ||
		(st = check_finite(ctx, f->std_from, f->d_from, "source standard deviation")) != RV_OK ||
		(st = check_finite(ctx, f->mean_to, f->d_to, "target mean")) != RV_OK ||
		(st = check_finite(ctx, f->std_to, f->d_to, "target standard deviation")) != RV_OK ||
		(st = check_finite(ctx, f->matrix, dim * dim, "matrix")) != RV_OK ||
		(f->bias && (st = check_finite(ctx, f->bias, dim, "bias")) != RV_OK))
		return st;
	for (i = 0; i < f->d_from; i++)
		if (!(f->std_from[i] > 0))
			return rv_fail(ctx, RV_E_INVALID_PARAM,
						   "translation source standard deviation %zu is not positive", i + 1);
	for (i = 0; i < f->d_to; i++)
		if (!(f->std_to[i] > 0))
			return rv_fail(ctx, RV_E_INVALID_PARAM,
						   "translation target standard deviation %zu is not positive", i + 1);
	if ((st = translation_alloc(ctx, f->method, f->d_from, f->d_to, &t)) != RV_OK)
		return st;
	memcpy(t->mean_from, f->mean_from, sizeof(float) * f->d_from);
	memcpy(t->std_from, f->std_from, sizeof(float) * f->d_from);
	memcpy(t->mean_to, f->mean_to, sizeof(float) * f->d_to);
	memcpy(t->std_to, f->std_to, sizeof(float) * f->d_to);
	memcpy(t->matrix, f->matrix, sizeof(float) * dim * dim);
	if (t->bias)
		memcpy(t->bias, f->bias, sizeof(float) * dim);
	*out = t;
	return RV_OK;
}

/* Translate n rows of x (n x d_from) into out (n x d_to): one sgemm for all rows. */
rv_status
rv_translate(rv_ctx *ctx, const rv_translation *t, const float *x, size_t n, float *out)
{
	size_t		dim = t->dim;
	float	   *z,
			   *r;
	size_t		i,
				j;
	rv_status	st = RV_OK;

	if (n == 0)
		return RV_OK;
	if (n > (size_t) INT32_MAX / dim)
		return rv_fail(ctx, RV_E_LIMIT, "too many rows to translate at once: %zu", n);
	rvc_blas_init();
	z = rv_alloc(ctx, sizeof(float) * n * dim);
	/* the product goes straight into out when nothing is cut off */
	r = t->d_to == dim ? out : rv_alloc(ctx, sizeof(float) * n * dim);
	if (z == NULL || r == NULL)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory translating %zu rows", n);
		goto done;
	}
	for (i = 0; i < n; i++)
	{
		const float *xi = x + i * t->d_from;
		float	   *zi = z + i * dim;

		if (i % TRANSLATE_CHECK_ROWS == 0 && rv_interrupted(ctx))
		{
			st = rv_fail(ctx, RV_E_INTERRUPTED, "translation interrupted");
			goto done;
		}
		for (j = 0; j < t->d_from; j++)
			zi[j] = (xi[j] - t->mean_from[j]) / t->std_from[j];
		for (; j < dim; j++)
			zi[j] = 0;
		if (t->bias)
			memcpy(r + i * dim, t->bias, sizeof(float) * dim);
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) n, (int) dim, (int) dim, 1.0f,
				z, (int) dim, t->matrix, (int) dim, t->bias ? 1.0f : 0.0f, r, (int) dim);
	for (i = 0; i < n; i++)
	{
		const float *ri = r + i * dim;
		float	   *oi = out + i * t->d_to;

		for (j = 0; j < t->d_to; j++)
		{
			float		v = ri[j] * t->std_to[j] + t->mean_to[j];

			if (!isfinite(v))
			{
				st = rv_fail(ctx, RV_E_OUT_OF_RANGE, "value out of range: overflow");
				goto done;
			}
			oi[j] = v;
		}
	}
done:
	rv_free(ctx, z);
	if (r != out)
		rv_free(ctx, r);
	return st;
}
