/*
 * internal.h — private definitions shared by the files of the core: the layout of rv_ctx
 * and the entry points of the CPU (rvc_*) and Vulkan (rvk_*) backends. Hosts never
 * include this file; they see only include/relvec_bridge.h.
 */
#ifndef RELVEC_INTERNAL_H
#define RELVEC_INTERNAL_H

#include "relvec_bridge.h"

/* Device modes parsed from the device spec. */
typedef enum rv_device_mode
{
	RV_MODE_AUTO = 0,
	RV_MODE_CPU,
	RV_MODE_GPU,
	RV_MODE_VULKAN_INDEX
} rv_device_mode;

typedef struct rvk_state rvk_state;

struct rv_ctx
{
	rv_host		host;
	char		errmsg[RV_ERRMSG_LEN];
	char		errdetail[RV_ERRMSG_LEN];
	char		device_spec[32];
	rv_device_mode device_mode;
	int			device_index;	/* for RV_MODE_VULKAN_INDEX */
	int			no_gpu_found;	/* auto mode looked once and found no GPU */
	char		last_backend[RV_ERRMSG_LEN];
	size_t		split_bytes;	/* 0 = the device's maxStorageBufferRange */
	rvk_state  *vk;				/* NULL until Vulkan is opened */
	/* set by the Vulkan backend when it opens; releases its objects */
	void		(*vk_shutdown) (rv_ctx *ctx);
};

/* Record which backend ran the last heavy operation and why. */
void		rv_note_backend(rv_ctx *ctx, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

/* CPU backend (cpu/): the reference for every kernel. */
rv_status	rvc_simmatrix(rv_ctx *ctx, const rv_simmatrix_args *args);
rv_status	rvc_topk(rv_ctx *ctx, const rv_topk_args *args);

/* Vulkan backend (vk/). */
rv_status	rvk_simmatrix(rv_ctx *ctx, const rv_simmatrix_args *args);
rv_status	rvk_topk(rv_ctx *ctx, const rv_topk_args *args);
rv_status	rvk_list_devices(rv_ctx *ctx, rv_device_info *out, size_t cap, size_t *count);

#endif							/* RELVEC_INTERNAL_H */
