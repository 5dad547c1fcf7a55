/*
 * context.c — the core's context: host callbacks (allocator, logger, interrupt check),
 * the bounded error buffers, and the mapping of statuses to host-neutral classes. Each
 * host maps rv_class to its own error codes in exactly one place.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The host-neutral class of a status. */
rv_class
rv_status_class(rv_status s)
{
	switch (s)
	{
		case RV_OK:
			return RV_CLASS_OK;
		case RV_E_SYNTAX:
			return RV_CLASS_INVALID_TEXT;
		case RV_E_BINARY:
			return RV_CLASS_INVALID_BINARY;
		case RV_E_NOT_FINITE:
		case RV_E_EMPTY:
		case RV_E_DIM_MISMATCH:
		case RV_E_RANK_DEFICIENT:
			return RV_CLASS_DATA;
		case RV_E_OUT_OF_RANGE:
			return RV_CLASS_OUT_OF_RANGE;
		case RV_E_INVALID_PARAM:
			return RV_CLASS_INVALID_PARAM;
		case RV_E_TOO_MANY_DIMS:
		case RV_E_LIMIT:
			return RV_CLASS_LIMIT;
		case RV_E_NOMEM:
			return RV_CLASS_NOMEM;
		case RV_E_INTERRUPTED:
			return RV_CLASS_INTERRUPTED;
		case RV_E_UNSUPPORTED:
			return RV_CLASS_UNSUPPORTED;
		case RV_E_DEVICE:
		case RV_E_DEVICE_LOST:
			return RV_CLASS_DEVICE;
		case RV_E_SPACE_MISMATCH:
			return RV_CLASS_MISMATCH;
		case RV_E_INTERNAL:
			return RV_CLASS_INTERNAL;
	}
	return RV_CLASS_INTERNAL;
}

/* A short constant name of a status. */
const char *
rv_status_name(rv_status s)
{
	switch (s)
	{
		case RV_OK:
			return "RV_OK";
		case RV_E_SYNTAX:
			return "RV_E_SYNTAX";
		case RV_E_BINARY:
			return "RV_E_BINARY";
		case RV_E_NOT_FINITE:
			return "RV_E_NOT_FINITE";
		case RV_E_OUT_OF_RANGE:
			return "RV_E_OUT_OF_RANGE";
		case RV_E_EMPTY:
			return "RV_E_EMPTY";
		case RV_E_DIM_MISMATCH:
			return "RV_E_DIM_MISMATCH";
		case RV_E_TOO_MANY_DIMS:
			return "RV_E_TOO_MANY_DIMS";
		case RV_E_INVALID_PARAM:
			return "RV_E_INVALID_PARAM";
		case RV_E_LIMIT:
			return "RV_E_LIMIT";
		case RV_E_NOMEM:
			return "RV_E_NOMEM";
		case RV_E_INTERRUPTED:
			return "RV_E_INTERRUPTED";
		case RV_E_UNSUPPORTED:
			return "RV_E_UNSUPPORTED";
		case RV_E_DEVICE:
			return "RV_E_DEVICE";
		case RV_E_DEVICE_LOST:
			return "RV_E_DEVICE_LOST";
		case RV_E_RANK_DEFICIENT:
			return "RV_E_RANK_DEFICIENT";
		case RV_E_SPACE_MISMATCH:
			return "RV_E_SPACE_MISMATCH";
		case RV_E_INTERNAL:
			return "RV_E_INTERNAL";
	}
	return "RV_E_UNKNOWN";
}

void *
rv_stdlib_alloc(void *ud, size_t size)
{
	(void) ud;
	return malloc(size);
}

void
rv_stdlib_free(void *ud, void *ptr)
{
	(void) ud;
	free(ptr);
}

/* Create a context; the context itself is allocated through the host allocator. */
rv_status
rv_ctx_create(const rv_host *host, rv_ctx **out)
{
	rv_ctx	   *ctx;

	*out = NULL;
	if (host == NULL || host->alloc == NULL || host->free == NULL)
		return RV_E_INVALID_PARAM;
	ctx = host->alloc(host->ud, sizeof(rv_ctx));
	if (ctx == NULL)
		return RV_E_NOMEM;
	memset(ctx, 0, sizeof(*ctx));
	ctx->host = *host;
	strcpy(ctx->device_spec, "auto");
	ctx->device_mode = RV_MODE_AUTO;
	strcpy(ctx->last_backend, "none (no heavy operation has run)");
	*out = ctx;
	return RV_OK;
}

/* Release a context and its device objects. */
void
rv_ctx_destroy(rv_ctx *ctx)
{
	if (ctx == NULL)
		return;
	/* resident corpora first: their device memory goes before the device */
	rv_resident_free_all(ctx);
	if (ctx->vk_shutdown != NULL)
		ctx->vk_shutdown(ctx);
	ctx->host.free(ctx->host.ud, ctx);
}

const char *
rv_errmsg(const rv_ctx *ctx)
{
	return ctx->errmsg;
}

const char *
rv_errdetail(const rv_ctx *ctx)
{
	return ctx->errdetail;
}

void
rv_clear_error(rv_ctx *ctx)
{
	ctx->errmsg[0] = '\0';
	ctx->errdetail[0] = '\0';
}

size_t
rv_utf8_prefix(const char *s, size_t max)
{
	const unsigned char *u = (const unsigned char *) s;
	size_t		i = 0;

	while (i < max && u[i] != '\0')
	{
		size_t		len = u[i] < 0x80 ? 1 : u[i] >= 0xF0 && u[i] < 0xF8 ? 4 :
			u[i] >= 0xE0 ? 3 : u[i] >= 0xC0 ? 2 : 1;
		size_t		j;

		if (len > 1)
		{
			/*
			 * A sequence cut off by the end of the string or by max is left out; a lead
			 * byte followed by a byte that does not continue it is not UTF-8 (LATIN1 text,
			 * say) and counts as one byte.
			 */
			for (j = 1; j < len && i + j < max && (u[i + j] & 0xC0) == 0x80; j++)
				;
			if (j < len && (i + j >= max || u[i + j] == '\0'))
				break;
			if (j < len)
				len = 1;
		}
		if (i + len > max)
			break;
		i += len;
	}
	return i;
}

/* Format into buf; a message cut at the buffer's end loses its last partial character. */
static void format_clipped(char *buf, size_t size, const char *fmt, va_list ap)
			__attribute__((format(printf, 3, 0)));

static void
format_clipped(char *buf, size_t size, const char *fmt, va_list ap)
{
	int			n = vsnprintf(buf, size, fmt, ap);

	if (n >= (int) size)
		buf[rv_utf8_prefix(buf, size - 1)] = '\0';
}

/* Record a failure message and return the status, so callers write `return rv_fail(...)`. */
rv_status
rv_fail(rv_ctx *ctx, rv_status s, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	format_clipped(ctx->errmsg, sizeof(ctx->errmsg), fmt, ap);
	va_end(ap);
	ctx->errdetail[0] = '\0';
	return s;
}

void
rv_set_detail(rv_ctx *ctx, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	format_clipped(ctx->errdetail, sizeof(ctx->errdetail), fmt, ap);
	va_end(ap);
}

void *
rv_alloc(rv_ctx *ctx, size_t size)
{
	return ctx->host.alloc(ctx->host.ud, size == 0 ? 1 : size);
}

void
rv_free(rv_ctx *ctx, void *ptr)
{
	if (ptr != NULL)
		ctx->host.free(ctx->host.ud, ptr);
}

int
rv_interrupted(rv_ctx *ctx)
{
	return ctx->host.interrupted != NULL && ctx->host.interrupted(ctx->host.ud);
}

void
rv_log(rv_ctx *ctx, rv_log_level level, const char *fmt,...)
{
	char		buf[512];
	va_list		ap;

	if (ctx->host.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ctx->host.log(ctx->host.ud, level, buf);
}

void
rv_note_backend(rv_ctx *ctx, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(ctx->last_backend, sizeof(ctx->last_backend), fmt, ap);
	va_end(ap);
}

const char *
rv_last_backend(const rv_ctx *ctx)
{
	return ctx->last_backend;
}
