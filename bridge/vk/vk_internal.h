/*
 * vk_internal.h — private definitions of the Vulkan backend: the loader's function table
 * (the library is dlopen'ed, never linked, so a CPU-only host never touches it), the
 * per-context state hanging off rv_ctx.vk, the kernel table's shape, the RVK_TRY error
 * macro, and the entry points of the phase files:
 *
 *   device.c    loader, instance, physical-device choice, logical device and queue
 *   memory.c    buffers in host-visible memory (device-local when the device offers it)
 *   pipeline.c  shader modules, descriptor-set and pipeline layouts, specialization
 *               constants, the per-context pipeline cache
 *   pcache.c    that pipeline cache kept on disk between processes
 *   dispatch.c  command recording, submission and the interruptible fence wait
 *   kernels.c   the kernel table (SPIR-V, bindings, push-constant size, workgroup size)
 *               and the checks of a dispatch against it and the device limits
 *   simmatrix.c, topk.c, fewq.c, resident.c   the operations: blocking, uploads,
 *               dispatches, merging
 */
#ifndef RELVEC_VK_INTERNAL_H
#define RELVEC_VK_INTERNAL_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include "internal.h"
#include "../../shaders/push.glsl"

_Static_assert(sizeof(rvk_push_simmatrix) <= 128, "push constants exceed 128 bytes");
_Static_assert(sizeof(rvk_push_rownorm) <= 128, "push constants exceed 128 bytes");
_Static_assert(sizeof(rvk_push_topk) <= 128, "push constants exceed 128 bytes");
_Static_assert(sizeof(rvk_push_fewq) <= 128, "push constants exceed 128 bytes");

/* Descriptor sets per submission: one per dispatch, a submission records up to this many. */
#define RVK_MAX_SETS 64

/* Entry points resolved from the loader (global), the instance, and the device. */
#define RVK_GLOBAL_FNS(X) \
	X(vkCreateInstance) \
	X(vkEnumerateInstanceVersion)

#define RVK_INSTANCE_FNS(X) \
	X(vkDestroyInstance) \
	X(vkEnumeratePhysicalDevices) \
	X(vkGetPhysicalDeviceProperties) \
	X(vkGetPhysicalDeviceProperties2) \
	X(vkGetPhysicalDeviceQueueFamilyProperties) \
	X(vkGetPhysicalDeviceMemoryProperties) \
	X(vkCreateDevice) \
	X(vkGetDeviceProcAddr)

#define RVK_DEVICE_FNS(X) \
	X(vkDestroyDevice) \
	X(vkGetDeviceQueue) \
	X(vkDeviceWaitIdle) \
	X(vkCreateBuffer) \
	X(vkDestroyBuffer) \
	X(vkGetBufferMemoryRequirements) \
	X(vkAllocateMemory) \
	X(vkFreeMemory) \
	X(vkBindBufferMemory) \
	X(vkMapMemory) \
	X(vkUnmapMemory) \
	X(vkInvalidateMappedMemoryRanges) \
	X(vkFlushMappedMemoryRanges) \
	X(vkCreateShaderModule) \
	X(vkDestroyShaderModule) \
	X(vkCreateDescriptorSetLayout) \
	X(vkDestroyDescriptorSetLayout) \
	X(vkCreatePipelineLayout) \
	X(vkDestroyPipelineLayout) \
	X(vkCreatePipelineCache) \
	X(vkDestroyPipelineCache) \
	X(vkGetPipelineCacheData) \
	X(vkCreateComputePipelines) \
	X(vkDestroyPipeline) \
	X(vkCreateDescriptorPool) \
	X(vkDestroyDescriptorPool) \
	X(vkResetDescriptorPool) \
	X(vkAllocateDescriptorSets) \
	X(vkUpdateDescriptorSets) \
	X(vkCreateCommandPool) \
	X(vkDestroyCommandPool) \
	X(vkAllocateCommandBuffers) \
	X(vkFreeCommandBuffers) \
	X(vkResetCommandBuffer) \
	X(vkBeginCommandBuffer) \
	X(vkEndCommandBuffer) \
	X(vkCmdBindPipeline) \
	X(vkCmdBindDescriptorSets) \
	X(vkCmdPushConstants) \
	X(vkCmdDispatch) \
	X(vkCmdPipelineBarrier) \
	X(vkCmdCopyBuffer) \
	X(vkCreateFence) \
	X(vkDestroyFence) \
	X(vkResetFences) \
	X(vkWaitForFences) \
	X(vkQueueSubmit) \
	X(vkCreateQueryPool) \
	X(vkDestroyQueryPool) \
	X(vkCmdResetQueryPool) \
	X(vkCmdWriteTimestamp) \
	X(vkGetQueryPoolResults)

#define RVK_DECLARE_FN(name) PFN_##name name;

typedef struct rvk_fns
{
	PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
	RVK_GLOBAL_FNS(RVK_DECLARE_FN)
	RVK_INSTANCE_FNS(RVK_DECLARE_FN)
	RVK_DEVICE_FNS(RVK_DECLARE_FN)
} rvk_fns;

/* Kernels of the table in kernels.c. */
typedef enum rvk_kernel_id
{
	RVK_K_SIMMATRIX = 0,
	RVK_K_ROWNORM,
	RVK_K_TOPK,
	RVK_K_FEWQ,					/* fewq.comp: subgroup reductions */
	RVK_K_FEWQ_PLAIN,			/* fewq_plain.comp: the same without subgroups */
	RVK_NKERNELS
} rvk_kernel_id;

#define RVK_MAX_BINDINGS 4
#define RVK_MAX_SPEC 7

/* One entry of the kernel table: everything needed to build and check its pipeline. */
typedef struct rvk_kernel
{
	const char *name;
	const uint32_t *spv;
	size_t		spv_bytes;
	uint32_t	nbindings;		/* storage buffers at bindings 0..nbindings-1 */
	uint32_t	push_bytes;
	uint32_t	local_size[3];
	uint32_t	shared_bytes;	/* shared memory the shader declares */
	uint32_t	nspec;			/* uint32 specialization constants, ids 0..nspec-1 */
} rvk_kernel;

/* A device-visible buffer with its memory, mapped for the host while it lives. */
typedef struct rvk_buffer
{
	VkBuffer	buf;
	VkDeviceMemory mem;
	VkDeviceSize size;
	void	   *map;
	int			coherent;
} rvk_buffer;

/* A built pipeline variant: kernel plus specialization values. */
typedef struct rvk_pipe
{
	rvk_kernel_id kernel;
	uint32_t	spec[RVK_MAX_SPEC];
	VkPipeline	pipeline;
} rvk_pipe;

#define RVK_MAX_PIPES 256

struct rvk_state
{
	void	   *lib;			/* dlopen handle of libvulkan.so.1 */
	rvk_fns		fn;
	VkInstance	instance;

	/* the open device (device == VK_NULL_HANDLE until rvk_open_device) */
	int			dev_index;
	VkPhysicalDevice phys;
	VkPhysicalDeviceProperties props;
	VkPhysicalDeviceMemoryProperties memprops;
	uint32_t	qfam;
	VkDevice	device;
	VkQueue		queue;
	VkCommandPool cmdpool;
	VkCommandBuffer cmd;
	VkFence		fence;
	VkDescriptorPool dpool;
	VkPipelineCache pcache;
	uint64_t	pcache_sum;		/* checksum of the cache data last read or written */
	int			pcache_defer;	/* building many pipelines: save once at the end */
	rvk_pcache_stats pcache_stats;
	VkQueryPool	qpool;			/* timestamps of a submission, when timing: begin, end, mark */
	int			ts_marked;		/* the submission marked the end of its kernels */
	uint64_t	ts_mask;		/* valid bits of the queue's timestamps */
	double		device_ns;		/* device time of the timed submissions */
	uint32_t	subgroup_size;	/* 0 when compute shaders lack subgroup arithmetic */
	VkDeviceSize max_alloc;		/* maxMemoryAllocationSize (at least 1 GiB) */
	VkDescriptorSetLayout dsl[RVK_NKERNELS];
	VkPipelineLayout layout[RVK_NKERNELS];
	rvk_pipe	pipes[RVK_MAX_PIPES];
	int			npipes;

	/* test hook: the next `inject_after`-th submit returns inject instead */
	VkResult	inject;
	int			inject_after;
};

/*
 * RVK_TRY(expr): evaluate a VkResult expression; on failure record the status (with the
 * VkResult name and the call in the detail) in the variable `st` and jump to the
 * function's `cleanup` label. Functions using it have `rv_ctx *ctx` and `rv_status st`.
 */
#define RVK_TRY(expr) \
	do { \
		VkResult	rvk_r_ = (expr); \
		if (rvk_r_ != VK_SUCCESS) \
		{ \
			st = rvk_fail_vk(ctx, rvk_r_, #expr); \
			goto cleanup; \
		} \
	} while (0)

/* RVK_CHECK(call): an rv_status-returning call inside a function that uses RVK_TRY. */
#define RVK_CHECK(call) \
	do { \
		st = (call); \
		if (st != RV_OK) \
			goto cleanup; \
	} while (0)

/* device.c */
const char *rvk_result_name(VkResult r);
rv_status	rvk_fail_vk(rv_ctx *ctx, VkResult r, const char *call);
rv_status	rvk_open_instance(rv_ctx *ctx);
rv_status	rvk_open_device(rv_ctx *ctx, int index);
void		rvk_close_device(rv_ctx *ctx);

/* The smaller of two sizes (splitting work at device limits). */
static inline size_t
rvk_min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* pcache.c */
void		rvk_pcache_load(rv_ctx *ctx, void **data, size_t *n);
void		rvk_pcache_save(rv_ctx *ctx);

/* memory.c */
rv_status	rvk_buffer_make(rv_ctx *ctx, VkDeviceSize size, VkBufferUsageFlags usage,
							const VkMemoryPropertyFlags *prefs, size_t nprefs, int map,
							rvk_buffer *out);
rv_status	rvk_buffer_create(rv_ctx *ctx, VkDeviceSize size, rvk_buffer *out);
rv_status	rvk_buffer_create_readback(rv_ctx *ctx, VkDeviceSize size, rvk_buffer *out);
rv_status	rvk_buffer_create_device(rv_ctx *ctx, VkDeviceSize size, rvk_buffer *out);
void		rvk_copy(rv_ctx *ctx, rvk_buffer *src, rvk_buffer *dst, size_t bytes);
int			rvk_unified_memory(rv_ctx *ctx);
void		rvk_buffer_destroy(rv_ctx *ctx, rvk_buffer *b);
rv_status	rvk_buffer_upload(rv_ctx *ctx, rvk_buffer *b, const void *src, size_t bytes);
rv_status	rvk_buffer_download(rv_ctx *ctx, rvk_buffer *b);
rv_status	rvk_buffer_flush(rv_ctx *ctx, rvk_buffer *b);

/* pipeline.c */
rv_status	rvk_pipeline(rv_ctx *ctx, rvk_kernel_id k, const uint32_t *spec, VkPipeline *out);
void		rvk_pipelines_destroy(rv_ctx *ctx);

/* dispatch.c */
rv_status	rvk_timing_open(rv_ctx *ctx);
rv_status	rvk_begin(rv_ctx *ctx);
rv_status	rvk_record(rv_ctx *ctx, rvk_kernel_id k, VkPipeline pipe,
					   rvk_buffer *const *bufs, const VkDeviceSize *bytes, const void *push,
					   const uint32_t groups[3]);
void		rvk_barrier(rv_ctx *ctx);
void		rvk_barrier_copy_to_compute(rv_ctx *ctx);
void		rvk_barrier_compute_to_copy(rv_ctx *ctx);
void		rvk_timing_mark(rv_ctx *ctx);
rv_status	rvk_submit(rv_ctx *ctx, VkCommandBuffer cmd, VkFence fence);
rv_status	rvk_wait_fence(rv_ctx *ctx, VkFence fence);
rv_status	rvk_submit_wait(rv_ctx *ctx);

/* fewq.c: top-k of a few queries per pass over the corpus (shaders/fewq.glsl) */
#define RVK_FEWQ_MAX_NQ 16		/* queries one dispatch takes */
#define RVK_FEWQ_MAX_P 1024		/* largest list a workgroup keeps per query */
#define RVK_FEWQ_ROUND 64		/* rows per round in the shader (ROUND) */

/* How one few-query search is cut up (rvk_fewq_plan). */
typedef struct rvk_fewq_plan
{
	rvk_kernel_id kernel;		/* RVK_K_FEWQ, or RVK_K_FEWQ_PLAIN without subgroups */
	uint32_t	nq;				/* queries compiled into the pipeline (NQ) */
	uint32_t	p;				/* pairs kept per query and segment */
	uint32_t	slots;
	uint32_t	vec4;
	size_t		shared_bytes;
} rvk_fewq_plan;

rv_status	rvk_fewq_plan_make(rv_ctx *ctx, size_t nq, size_t k, size_t d, rvk_fewq_plan *out);
rv_status	rvk_fewq_pipeline(rv_ctx *ctx, const rvk_fewq_plan *pl, rv_metric m, int keymode,
							  VkPipeline *out);
void		rvk_fewq_segments(rv_ctx *ctx, size_t rows, size_t *seg_rows, size_t *nseg);
rv_status	rvk_fewq_topk(rv_ctx *ctx, const rv_topk_args *args, const rvk_fewq_plan *pl);

/* kernels.c */
const rvk_kernel *rvk_kernel_get(rvk_kernel_id k);
rv_status	rvk_check_kernel(rv_ctx *ctx, rvk_kernel_id k);
rv_status	rvk_check_dispatch(rv_ctx *ctx, rvk_kernel_id k, const uint32_t groups[3],
							   const VkDeviceSize *binding_bytes);
size_t		rvk_binding_limit(rv_ctx *ctx);

#endif							/* RELVEC_VK_INTERNAL_H */
