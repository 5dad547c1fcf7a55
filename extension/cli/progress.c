/*
 * progress.c — progress display on stderr. On a terminal a bar is redrawn in place a few
 * times a second; otherwise (a pipe, a log file, TERM=dumb) a plain line is printed every
 * tenth of the total, or every five seconds when the total is unknown, so that logs stay
 * short and readable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relvec_cli.h"

#define BAR_WIDTH 30

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static int
stderr_is_terminal(void)
{
	const char *term = getenv("TERM");

	return isatty(STDERR_FILENO) && !(term != NULL && strcmp(term, "dumb") == 0);
}

void
cli_progress_start(cli_progress *p, const char *label, int64_t total, int quiet)
{
	memset(p, 0, sizeof(*p));
	p->label = label;
	p->total = total;
	p->quiet = quiet;
	p->tty = !quiet && stderr_is_terminal();
	p->started = p->last_draw = now_s();
	p->last_pct = 0;
}

/* Redraw the bar: "label [#########.........]  31%  4032/13000". */
static void
draw_bar(cli_progress *p)
{
	char		bar[BAR_WIDTH + 1];
	int			filled = 0;
	int			i;

	if (p->total > 0)
		filled = (int) ((double) p->done * BAR_WIDTH / (double) p->total);
	if (filled > BAR_WIDTH)
		filled = BAR_WIDTH;
	for (i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < filled ? '#' : '.';
	bar[BAR_WIDTH] = '\0';
	if (p->total > 0)
		fprintf(stderr, "\r%s [%s] %3d%%  %lld/%lld", p->label, bar,
				(int) (100.0 * (double) p->done / (double) p->total),
				(long long) p->done, (long long) p->total);
	else
		fprintf(stderr, "\r%s  %lld", p->label, (long long) p->done);
	fflush(stderr);
}

void
cli_progress_add(cli_progress *p, int64_t n)
{
	double		t;

	p->done += n;
	if (p->quiet)
		return;
	t = now_s();
	if (p->tty)
	{
		if (t - p->last_draw >= 0.1)
		{
			draw_bar(p);
			p->last_draw = t;
		}
		return;
	}
	if (p->total > 0)
	{
		int			pct = (int) (100.0 * (double) p->done / (double) p->total);

		if (pct / 10 > p->last_pct / 10 && pct < 100)
		{
			fprintf(stderr, "%s: %lld/%lld (%d%%)\n", p->label, (long long) p->done,
					(long long) p->total, pct);
			p->last_pct = pct;
		}
	}
	else if (t - p->last_draw >= 5.0)
	{
		fprintf(stderr, "%s: %lld\n", p->label, (long long) p->done);
		p->last_draw = t;
	}
}

void
cli_progress_end(cli_progress *p, const char *unit)
{
	if (p->quiet)
		return;
	if (p->tty)
		fprintf(stderr, "\r\033[K");
	fprintf(stderr, "%s: %lld %s in %.2f s\n", p->label, (long long) p->done, unit,
			now_s() - p->started);
}
