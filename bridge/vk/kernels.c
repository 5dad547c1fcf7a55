/*
 * vk/kernels.c — the kernel table, as data: for every compute shader its embedded SPIR-V
 * (compiled from shaders/NAME.comp at build time, validated by spirv-val), the number of
 * storage-buffer bindings, the push-constant size (from the struct shared with the GLSL
 * in shaders/push.glsl), the workgroup size and the shared memory it declares. Before a
 * dispatch is recorded it is checked against this entry and the device's limits
 * (maxStorageBufferRange, maxComputeWorkGroupCount, workgroup size, shared memory); a
 * dispatch that does not fit returns a status instead of reaching the driver.
 */
#include <stdint.h>

#include "vk_internal.h"

#include "simmatrix.spv.h"
#include "rownorm.spv.h"
#include "topk.spv.h"
#include "fewq.spv.h"
#include "fewq_plain.spv.h"

static const rvk_kernel kernels[RVK_NKERNELS] = {
	[RVK_K_SIMMATRIX] = {
		.name = "simmatrix",
		.spv = rv_spv_simmatrix,
		.spv_bytes = sizeof(rv_spv_simmatrix),
		.nbindings = 4,			/* x, anchors, center, out */
		.push_bytes = sizeof(rvk_push_simmatrix),
		.local_size = {16, 16, 1},
		.shared_bytes = 2 * 16 * 65 * 4,
		.nspec = 2,				/* sim, center */
	},
	[RVK_K_ROWNORM] = {
		.name = "rownorm",
		.spv = rv_spv_rownorm,
		.spv_bytes = sizeof(rv_spv_rownorm),
		.nbindings = 1,			/* out, in place */
		.push_bytes = sizeof(rvk_push_rownorm),
		.local_size = {64, 1, 1},
		.shared_bytes = 64 * 4,
		.nspec = 0,
	},
	[RVK_K_TOPK] = {
		.name = "topk",
		.spv = rv_spv_topk,
		.spv_bytes = sizeof(rv_spv_topk),
		.nbindings = 4,			/* queries, corpus, distances, rows */
		.push_bytes = sizeof(rvk_push_topk),
		.local_size = {256, 1, 1},
		.shared_bytes = 2048 * 8,	/* at the largest SLOTS */
		.nspec = 3,				/* metric, p, slots */
	},
	/* shared memory depends on the variant: rvk_fewq_plan_make checks it per plan */
	[RVK_K_FEWQ] = {
		.name = "fewq",
		.spv = rv_spv_fewq,
		.spv_bytes = sizeof(rv_spv_fewq),
		.nbindings = 4,			/* queries, corpus, keys, rows */
		.push_bytes = sizeof(rvk_push_fewq),
		.local_size = {256, 1, 1},
		.shared_bytes = 1 * 128 * 8 + 16,	/* at the smallest NQ x SLOTS */
		.nspec = 7,				/* metric, nq, p, slots, keymode, vec4, unroll */
	},
	[RVK_K_FEWQ_PLAIN] = {
		.name = "fewq_plain",
		.spv = rv_spv_fewq_plain,
		.spv_bytes = sizeof(rv_spv_fewq_plain),
		.nbindings = 4,
		.push_bytes = sizeof(rvk_push_fewq),
		.local_size = {256, 1, 1},
		.shared_bytes = 1 * 128 * 8 + 16,
		.nspec = 7,
	},
};

/* The table entry of kernel k. */
const rvk_kernel *
rvk_kernel_get(rvk_kernel_id k)
{
	return &kernels[k];
}

/* Bytes one storage-buffer binding may span: the device limit, or the test split. */
size_t
rvk_binding_limit(rv_ctx *ctx)
{
	size_t		lim = ctx->vk->props.limits.maxStorageBufferRange;

	if (ctx->split_bytes > 0 && ctx->split_bytes < lim)
		lim = ctx->split_bytes;
	return lim;
}

/* Can the open device run kernel k at all (workgroup size, shared memory)? */
rv_status
rvk_check_kernel(rv_ctx *ctx, rvk_kernel_id k)
{
	const rvk_kernel *kn = &kernels[k];
	const VkPhysicalDeviceLimits *lim = &ctx->vk->props.limits;
	uint32_t	inv = kn->local_size[0] * kn->local_size[1] * kn->local_size[2];
	int			i;
	rv_status	st;

	for (i = 0; i < 3; i++)
	{
		if (kn->local_size[i] > lim->maxComputeWorkGroupSize[i])
			goto unfit;
	}
	if (inv > lim->maxComputeWorkGroupInvocations ||
		kn->shared_bytes > lim->maxComputeSharedMemorySize ||
		kn->push_bytes > lim->maxPushConstantsSize)
		goto unfit;
	return RV_OK;

unfit:
	st = rv_fail(ctx, RV_E_UNSUPPORTED, "Vulkan device cannot run kernel \"%s\"", kn->name);
	rv_set_detail(ctx, "device \"%s\": workgroup %ux%ux%u, shared memory %u bytes, "
				  "push constants %u bytes exceed its limits", ctx->vk->props.deviceName,
				  kn->local_size[0], kn->local_size[1], kn->local_size[2],
				  kn->shared_bytes, kn->push_bytes);
	return st;
}

/*
 * Check one dispatch of kernel k: groups[3] workgroups, binding_bytes[i] the bytes bound
 * at binding i (kernel's nbindings entries). RV_E_LIMIT with a detail when it does not fit.
 */
rv_status
rvk_check_dispatch(rv_ctx *ctx, rvk_kernel_id k, const uint32_t groups[3],
				   const VkDeviceSize *binding_bytes)
{
	const rvk_kernel *kn = &kernels[k];
	const VkPhysicalDeviceLimits *lim = &ctx->vk->props.limits;
	size_t		range = rvk_binding_limit(ctx);
	uint32_t	i;
	rv_status	st;

	for (i = 0; i < 3; i++)
	{
		if (groups[i] == 0 || groups[i] > lim->maxComputeWorkGroupCount[i])
		{
			st = rv_fail(ctx, RV_E_LIMIT, "dispatch of kernel \"%s\" does not fit the Vulkan device",
						 kn->name);
			rv_set_detail(ctx, "%u workgroups along axis %u, device limit %u",
						  groups[i], i, lim->maxComputeWorkGroupCount[i]);
			return st;
		}
	}
	for (i = 0; i < kn->nbindings; i++)
	{
		if (binding_bytes[i] == 0 || binding_bytes[i] > range)
		{
			st = rv_fail(ctx, RV_E_LIMIT, "dispatch of kernel \"%s\" does not fit the Vulkan device",
						 kn->name);
			rv_set_detail(ctx, "binding %u spans %llu bytes, limit %zu", i,
						  (unsigned long long) binding_bytes[i], range);
			return st;
		}
	}
	return RV_OK;
}
