/*
 * tap.h — a tiny TAP producer for the C unit tests, so `prove` counts them. Each test
 * binary calls plan(n) (or done_testing at the end), then ok()/is_int()/is_double()/
 * is_str(). A failed check prints a diagnostic with the file and line.
 */
#ifndef RELVEC_TAP_H
#define RELVEC_TAP_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int	tap_count = 0;
static int	tap_failed = 0;

static inline int
tap_ok(int cond, const char *file, int line, const char *name)
{
	tap_count++;
	printf("%s %d - %s\n", cond ? "ok" : "not ok", tap_count, name);
	if (!cond)
	{
		tap_failed++;
		printf("#   failed at %s line %d\n", file, line);
	}
	fflush(stdout);
	return cond;
}

#define plan(n) printf("1..%d\n", (int) (n))
#define ok(cond, name) tap_ok((cond) ? 1 : 0, __FILE__, __LINE__, (name))
#define is_int(got, want, name) do { \
	long long g_ = (long long) (got), w_ = (long long) (want); \
	if (!tap_ok(g_ == w_, __FILE__, __LINE__, (name))) \
		printf("#   got %lld, want %lld\n", g_, w_); } while (0)
#define is_double(got, want, tol, name) do { \
	double g_ = (double) (got), w_ = (double) (want); \
	if (!tap_ok(fabs(g_ - w_) <= (tol) || (isnan(g_) && isnan(w_)), __FILE__, __LINE__, (name))) \
		printf("#   got %.9g, want %.9g (tolerance %g)\n", g_, w_, (double) (tol)); } while (0)
#define is_str(got, want, name) do { \
	const char *g_ = (got), *w_ = (want); \
	if (!tap_ok(g_ != NULL && strcmp(g_, w_) == 0, __FILE__, __LINE__, (name))) \
		printf("#   got '%s', want '%s'\n", g_ ? g_ : "(null)", w_); } while (0)
#define done_testing() (printf("1..%d\n", tap_count), tap_failed == 0 ? 0 : 1)
#define tap_exit_code() (tap_failed == 0 ? 0 : 1)

#endif
