/*
 * device.c — the device setting (relvec.device) and the public dispatchers of the heavy
 * kernels, rv_simmatrix and rv_topk, which choose between the CPU backend (cpu/, the
 * reference) and the Vulkan backend (vk/).
 *
 * Choice per mode:
 *   cpu        always the CPU; the Vulkan loader is never touched.
 *   auto       the CPU for work too small to pay for a dispatch (decided before anything
 *              is opened); otherwise the first discrete, integrated or virtual GPU. The
 *              first look that finds none is remembered, and the loader is released and
 *              never touched again by this context. CPU-type devices (lavapipe) are never
 *              chosen.
 *   gpu        the device auto would choose, for every size; an error when there is none.
 *   vulkan:N   device N of rv_list_devices, any type, for every size (tests force
 *              lavapipe this way).
 * A device that is lost or out of memory (RV_E_DEVICE_LOST) makes the call run again on
 * the CPU with a notice; in auto mode so does work the device cannot take (RV_E_LIMIT,
 * RV_E_UNSUPPORTED). Other device failures are returned with the VkResult name in the
 * detail. rv_last_backend tells which path ran and why.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * Below these many multiply-adds auto mode stays on the CPU: one dispatch costs tens of
 * microseconds plus the copies of every operand, which the CPU needs less time for
 * than that. (A top-k sends the whole corpus chunk for comparatively little arithmetic,
 * so its threshold is higher.)
 */
#define RV_AUTO_MIN_SIM_WORK	(1.0 * (1 << 24))
#define RV_AUTO_MIN_TOPK_WORK	(1.0 * (1 << 26))

/* Largest k the Vulkan top-k kernel takes; larger k runs on the CPU. */
#define RV_VK_MAX_K 1024

rv_status
rv_set_device(rv_ctx *ctx, const char *spec)
{
	rv_device_mode mode;
	int			index = -1;

	if (spec == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "invalid relvec.device \"(null)\"");
	if (strcmp(spec, "auto") == 0)
		mode = RV_MODE_AUTO;
	else if (strcmp(spec, "cpu") == 0)
		mode = RV_MODE_CPU;
	else if (strcmp(spec, "gpu") == 0)
		mode = RV_MODE_GPU;
	else if (strncmp(spec, "vulkan:", 7) == 0 && spec[7] >= '0' && spec[7] <= '9' &&
			 strlen(spec + 7) <= 3 && strspn(spec + 7, "0123456789") == strlen(spec + 7))
	{
		mode = RV_MODE_VULKAN_INDEX;
		index = atoi(spec + 7);
	}
	else
	{
		rv_status	st = rv_fail(ctx, RV_E_INVALID_PARAM, "invalid relvec.device \"%.*s\"",
								 (int) rv_utf8_prefix(spec, 64), spec);

		rv_set_detail(ctx, "valid values are \"auto\", \"cpu\", \"gpu\" and \"vulkan:N\"");
		return st;
	}
	ctx->device_mode = mode;
	ctx->device_index = index;
	snprintf(ctx->device_spec, sizeof(ctx->device_spec), "%s", spec);
	return RV_OK;
}

/* The device spec as last set. */
const char *
rv_device_spec(const rv_ctx *ctx)
{
	return ctx->device_spec;
}

/* Test hook: split storage-buffer bindings at bytes (0: the device limit). */
void
rv_set_split_bytes(rv_ctx *ctx, size_t bytes)
{
	ctx->split_bytes = bytes;
}

/* Set the pipeline cache directory ("" or NULL: none); used from the next device open. */
rv_status
rv_set_pipeline_cache_dir(rv_ctx *ctx, const char *dir)
{
	size_t		len = dir != NULL ? strlen(dir) : 0;

	if (len >= sizeof(ctx->pcache_dir))
		return rv_fail(ctx, RV_E_INVALID_PARAM,
					   "pipeline cache directory of %zu bytes is too long", len);
	memcpy(ctx->pcache_dir, len > 0 ? dir : "", len);
	ctx->pcache_dir[len] = '\0';
	/* "/dir/" and "/dir" name the same files */
	while (len > 1 && ctx->pcache_dir[len - 1] == '/')
		ctx->pcache_dir[--len] = '\0';
	return RV_OK;
}

const char *
rv_pipeline_cache_dir(const rv_ctx *ctx)
{
	return ctx->pcache_dir;
}

/* Enumerate the Vulkan devices (opens the loader; none is not an error). */
rv_status
rv_list_devices(rv_ctx *ctx, rv_device_info *out, size_t cap, size_t *count)
{
	if (count == NULL || (cap > 0 && out == NULL))
		return rv_fail(ctx, RV_E_INVALID_PARAM, "invalid device list buffer");
	return rvk_list_devices(ctx, out, cap, count);
}

/*
 * Decide where work of `work` multiply-adds runs: *dev gets the Vulkan device index, or
 * -1 for the CPU with the reason already noted. `min_work` is auto mode's threshold.
 */
static rv_status
choose_device(rv_ctx *ctx, double work, double min_work, int *dev)
{
	rv_status	st;
	int			idx = -1;

	*dev = -1;
	switch (ctx->device_mode)
	{
		case RV_MODE_CPU:
			rv_note_backend(ctx, "cpu (relvec.device = cpu)");
			return RV_OK;
		case RV_MODE_VULKAN_INDEX:
			*dev = ctx->device_index;
			return RV_OK;
		case RV_MODE_AUTO:
			if (work < min_work)
			{
				rv_note_backend(ctx, "cpu (relvec.device = auto: work too small for a dispatch)");
				return RV_OK;
			}
			if (ctx->no_gpu_found)
			{
				rv_note_backend(ctx, "cpu (relvec.device = auto: no GPU found)");
				return RV_OK;
			}
			if ((st = rvk_auto_pick(ctx, &idx)) != RV_OK)
				return st;
			if (idx < 0)
			{
				/* remember, and let go of the loader for good */
				ctx->no_gpu_found = 1;
				rvk_shutdown(ctx);
				rv_note_backend(ctx, "cpu (relvec.device = auto: no GPU found)");
				return RV_OK;
			}
			*dev = idx;
			return RV_OK;
		case RV_MODE_GPU:
			if ((st = rvk_auto_pick(ctx, &idx)) != RV_OK)
				return st;
			if (idx < 0)
			{
				st = rv_fail(ctx, RV_E_UNSUPPORTED, "no GPU device found");
				rv_set_detail(ctx, "relvec.device = gpu; CPU-type Vulkan devices are only used "
							  "when chosen with vulkan:N");
				return st;
			}
			*dev = idx;
			return RV_OK;
	}
	return rv_fail(ctx, RV_E_INTERNAL, "unknown device mode %d", (int) ctx->device_mode);
}

/*
 * In auto mode a job the device cannot take (a limit, a missing feature) runs on the CPU
 * instead of failing: nobody asked for the device. Returns nonzero when st is such a case,
 * after noting it.
 */
static int
auto_declines(rv_ctx *ctx, rv_status st)
{
	if (ctx->device_mode != RV_MODE_AUTO || (st != RV_E_LIMIT && st != RV_E_UNSUPPORTED))
		return 0;
	rv_note_backend(ctx, "cpu (relvec.device = auto: %s)", ctx->errmsg);
	rv_clear_error(ctx);
	return 1;
}

/* choose_device for the other files of the core (resident.c). */
rv_status
rv_choose_device(rv_ctx *ctx, double work, double min_work, int *dev)
{
	return choose_device(ctx, work, min_work, dev);
}

/* Note the Vulkan device that ran the last operation. */
static void
note_vulkan(rv_ctx *ctx, int dev)
{
	rv_note_backend(ctx, "vulkan:%d %s (relvec.device = %s)", dev, rvk_device_name(ctx),
					ctx->device_spec);
}

/*
 * After RV_E_DEVICE_LOST: note the CPU fallback with the VkResult name the detail starts
 * with, and release the device (which releases every resident corpus; the next call
 * opens it afresh). The error stays for the caller.
 */
void
rv_note_device_lost(rv_ctx *ctx)
{
	char		result[64];
	size_t		len = strcspn(ctx->errdetail, " ");

	if (len >= sizeof(result))
		len = sizeof(result) - 1;
	memcpy(result, ctx->errdetail, len);
	result[len] = '\0';
	rv_note_backend(ctx, "cpu (fallback after %s)", len > 0 ? result : "device loss");
	rvk_shutdown(ctx);
}

/* After RV_E_DEVICE_LOST in a kernel the CPU then runs: tell the host, note, release. */
static void
note_fallback(rv_ctx *ctx)
{
	rv_log(ctx, RV_LOG_NOTICE, "%s, running on the CPU instead (%s)", ctx->errmsg,
		   ctx->errdetail);
	rv_note_device_lost(ctx);
	rv_clear_error(ctx);
}

/*
 * Argument checks made before either backend runs, with the CPU backend's messages
 * (cpu/simmatrix.c, cpu/topk.c), so that an error does not depend on the device.
 */
static rv_status
check_dims(rv_ctx *ctx, size_t d)
{
	if (d < 1)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "embedding dimensions must be at least 1");
	if (d > RV_MAX_DIMS)
		return rv_fail(ctx, RV_E_TOO_MANY_DIMS,
					   "embeddings cannot have more than %d dimensions", RV_MAX_DIMS);
	return RV_OK;
}

/* Arguments of rv_simmatrix. */
static rv_status
check_simmatrix(rv_ctx *ctx, const rv_simmatrix_args *args)
{
	rv_status	st;

	if (args == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "similarity matrix arguments must not be NULL");
	if ((st = check_dims(ctx, args->d)) != RV_OK)
		return st;
	if (args->k < 1)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "number of anchors must be at least 1");
	if ((int) args->sim < RV_SIM_COSINE || (int) args->sim > RV_SIM_NEG_LINF)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "unknown similarity function %d",
					   (int) args->sim);
	if (args->a == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "anchor vectors must not be NULL");
	if (args->n > 0 && args->x == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "input vectors must not be NULL");
	if (args->n > 0 && args->out == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "output matrix must not be NULL");
	return RV_OK;
}

/* Arguments of rv_topk. */
static rv_status
check_topk(rv_ctx *ctx, const rv_topk_args *args)
{
	rv_status	st;

	if (args == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "top-k arguments must not be NULL");
	if ((st = check_dims(ctx, args->d)) != RV_OK)
		return st;
	if (args->k < 1)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "k must be at least 1");
	if (args->k > RV_MAX_K)
		return rv_fail(ctx, RV_E_LIMIT, "k %zu exceeds the maximum of %d", args->k, RV_MAX_K);
	if ((int) args->metric < RV_METRIC_L2 || (int) args->metric > RV_METRIC_L1)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "unknown distance metric %d",
					   (int) args->metric);
	if (args->nq > 0 && args->q == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "query vectors must not be NULL");
	if (args->n > 0 && args->x == NULL)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "corpus vectors must not be NULL");
	if (args->nq > 0 && (args->best_rows == NULL || args->best_dist == NULL))
		return rv_fail(ctx, RV_E_INVALID_PARAM, "best lists must not be NULL");
	if (args->row_base < 0)
		return rv_fail(ctx, RV_E_INVALID_PARAM, "row base %lld must not be negative",
					   (long long) args->row_base);
	return RV_OK;
}

/* The similarity matrix on the backend the device setting chooses. */
rv_status
rv_simmatrix(rv_ctx *ctx, const rv_simmatrix_args *args)
{
	rv_status	st;
	int			dev;

	if ((st = check_simmatrix(ctx, args)) != RV_OK)
		return st;

	if ((st = choose_device(ctx, (double) args->n * args->k * args->d,
							RV_AUTO_MIN_SIM_WORK, &dev)) != RV_OK)
		return st;
	if (dev < 0)
		return rvc_simmatrix(ctx, args);

	st = rvk_use_device(ctx, dev);
	if (st == RV_OK)
		st = rvk_simmatrix(ctx, args);
	if (st == RV_OK)
	{
		note_vulkan(ctx, dev);
		return RV_OK;
	}
	if (auto_declines(ctx, st))
		return rvc_simmatrix(ctx, args);
	if (st != RV_E_DEVICE_LOST)
		return st;
	note_fallback(ctx);
	return rvc_simmatrix(ctx, args);
}

/* One chunk of top-k on the backend the device setting chooses. */
rv_status
rv_topk(rv_ctx *ctx, const rv_topk_args *args)
{
	rv_status	st;
	int			dev;
	size_t		slots;
	int64_t    *save_rows = NULL;
	float	   *save_dist = NULL;

	if ((st = check_topk(ctx, args)) != RV_OK)
		return st;

	if ((st = choose_device(ctx, (double) args->nq * args->n * args->d,
							RV_AUTO_MIN_TOPK_WORK, &dev)) != RV_OK)
		return st;
	if (dev < 0)
		return rvc_topk(ctx, args);
	if (args->k > RV_VK_MAX_K)
	{
		rv_note_backend(ctx, "cpu (k = %zu exceeds the Vulkan top-k limit %d)", args->k,
						RV_VK_MAX_K);
		return rvc_topk(ctx, args);
	}

	/* the device merges block by block: keep the lists to retry from on the CPU */
	slots = args->nq * args->k;
	save_rows = rv_alloc(ctx, slots * sizeof(int64_t));
	save_dist = rv_alloc(ctx, slots * sizeof(float));
	if (save_rows == NULL || save_dist == NULL)
	{
		rv_free(ctx, save_rows);
		rv_free(ctx, save_dist);
		return rv_fail(ctx, RV_E_NOMEM, "out of memory");
	}
	memcpy(save_rows, args->best_rows, slots * sizeof(int64_t));
	memcpy(save_dist, args->best_dist, slots * sizeof(float));

	st = rvk_use_device(ctx, dev);
	if (st == RV_OK)
		st = rvk_topk(ctx, args);
	if (st == RV_OK)
		note_vulkan(ctx, dev);
	else
	{
		/* leave the caller's lists as they were */
		memcpy(args->best_rows, save_rows, slots * sizeof(int64_t));
		memcpy(args->best_dist, save_dist, slots * sizeof(float));
		if (auto_declines(ctx, st))
			st = rvc_topk(ctx, args);
		else if (st == RV_E_DEVICE_LOST)
		{
			note_fallback(ctx);
			st = rvc_topk(ctx, args);
		}
	}
	rv_free(ctx, save_dist);
	rv_free(ctx, save_rows);
	return st;
}
