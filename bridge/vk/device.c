/*
 * vk/device.c — the first phase of the Vulkan backend: load libvulkan.so.1 lazily with
 * dlopen (relvec.so does not link it, so a backend that never needs a GPU never maps the
 * loader), create the instance, describe and choose physical devices, and open one
 * logical device with a compute queue plus the objects every dispatch reuses (command
 * pool and buffer, fence, descriptor pool, pipeline cache). Also owns the mapping of a
 * failing VkResult to a status and the teardown that rv_ctx_destroy reaches through
 * ctx->vk_shutdown. Objects are destroyed in the reverse order of their creation.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "vk_internal.h"

/* Test counters (see rvk_get_counters); only tests read them. */
static rvk_counters counters;

/* Copy the process-wide test counters. */
void
rvk_get_counters(rvk_counters *out)
{
	*out = counters;
}

/* The constant name of a VkResult, for error details. */
const char *
rvk_result_name(VkResult r)
{
	switch (r)
	{
#define RVK_CASE(x) case x: return #x;
			RVK_CASE(VK_SUCCESS)
			RVK_CASE(VK_NOT_READY)
			RVK_CASE(VK_TIMEOUT)
			RVK_CASE(VK_INCOMPLETE)
			RVK_CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
			RVK_CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
			RVK_CASE(VK_ERROR_INITIALIZATION_FAILED)
			RVK_CASE(VK_ERROR_DEVICE_LOST)
			RVK_CASE(VK_ERROR_MEMORY_MAP_FAILED)
			RVK_CASE(VK_ERROR_LAYER_NOT_PRESENT)
			RVK_CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
			RVK_CASE(VK_ERROR_FEATURE_NOT_PRESENT)
			RVK_CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
			RVK_CASE(VK_ERROR_TOO_MANY_OBJECTS)
			RVK_CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
			RVK_CASE(VK_ERROR_FRAGMENTED_POOL)
			RVK_CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
			RVK_CASE(VK_ERROR_INVALID_SHADER_NV)
			RVK_CASE(VK_ERROR_FRAGMENTATION)
			RVK_CASE(VK_ERROR_UNKNOWN)
#undef RVK_CASE
		default:
			return "VK_ERROR_(unknown)";
	}
}

/*
 * Record a failed Vulkan call: device lost and device out-of-memory become
 * RV_E_DEVICE_LOST (the dispatcher retries on the CPU), host out-of-memory RV_E_NOMEM,
 * everything else RV_E_DEVICE. The detail starts with the VkResult name.
 */
rv_status
rvk_fail_vk(rv_ctx *ctx, VkResult r, const char *call)
{
	char		fname[64];
	const char *p = strstr(call, "fn.vk");
	size_t		i = 0;
	rv_status	st;

	p = (p != NULL) ? p + 3 : call;
	while (p[i] != '\0' && p[i] != '(' && i < sizeof(fname) - 1)
	{
		fname[i] = p[i];
		i++;
	}
	fname[i] = '\0';

	if (r == VK_ERROR_DEVICE_LOST)
		st = rv_fail(ctx, RV_E_DEVICE_LOST, "Vulkan device was lost");
	else if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY)
		st = rv_fail(ctx, RV_E_DEVICE_LOST, "out of Vulkan device memory");
	else if (r == VK_ERROR_OUT_OF_HOST_MEMORY)
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory in the Vulkan driver");
	else
		st = rv_fail(ctx, RV_E_DEVICE, "Vulkan call failed");
	rv_set_detail(ctx, "%s from %s on device \"%s\"", rvk_result_name(r), fname,
				  (ctx->vk != NULL && ctx->vk->device != VK_NULL_HANDLE) ?
				  ctx->vk->props.deviceName : "(none)");
	return st;
}

/* Allocate the state and load the loader's global entry points. */
static rv_status
open_loader(rv_ctx *ctx)
{
	rvk_state  *s;
	void	   *sym;

	if (ctx->vk != NULL)
		return RV_OK;
	s = rv_alloc(ctx, sizeof(rvk_state));
	if (s == NULL)
		return rv_fail(ctx, RV_E_NOMEM, "out of memory");
	memset(s, 0, sizeof(*s));
	s->dev_index = -1;
	s->inject = VK_SUCCESS;
	ctx->vk = s;
	ctx->vk_shutdown = rvk_shutdown;

	counters.loader_opens++;
	s->lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
	if (s->lib == NULL)
	{
		rv_fail(ctx, RV_E_UNSUPPORTED, "Vulkan loader not found");
		rv_set_detail(ctx, "dlopen(\"libvulkan.so.1\") failed");
		return RV_E_UNSUPPORTED;
	}
	sym = dlsym(s->lib, "vkGetInstanceProcAddr");
	if (sym == NULL)
		return rv_fail(ctx, RV_E_UNSUPPORTED, "Vulkan loader has no vkGetInstanceProcAddr");
	s->fn.vkGetInstanceProcAddr = (PFN_vkGetInstanceProcAddr) sym;
#define RVK_LOAD_GLOBAL(name) \
	s->fn.name = (PFN_##name) s->fn.vkGetInstanceProcAddr(VK_NULL_HANDLE, #name);
	RVK_GLOBAL_FNS(RVK_LOAD_GLOBAL)
#undef RVK_LOAD_GLOBAL
	if (s->fn.vkCreateInstance == NULL || s->fn.vkEnumerateInstanceVersion == NULL)
		return rv_fail(ctx, RV_E_UNSUPPORTED, "Vulkan loader is older than version 1.1");
	return RV_OK;
}

/* Load the loader and create the instance (Vulkan 1.2), once per context. */
rv_status
rvk_open_instance(rv_ctx *ctx)
{
	rvk_state  *s;
	VkApplicationInfo app;
	VkInstanceCreateInfo ci;
	uint32_t	version = 0;
	rv_status	st = RV_OK;

	if (ctx->vk != NULL && ctx->vk->instance != VK_NULL_HANDLE)
		return RV_OK;
	if ((st = open_loader(ctx)) != RV_OK)
		return st;
	s = ctx->vk;
	if (s->lib == NULL || s->fn.vkCreateInstance == NULL)
		return rv_fail(ctx, RV_E_UNSUPPORTED, "Vulkan loader not usable");

	RVK_TRY(s->fn.vkEnumerateInstanceVersion(&version));
	if (version < VK_API_VERSION_1_2)
	{
		st = rv_fail(ctx, RV_E_UNSUPPORTED, "Vulkan loader is older than version 1.2");
		goto cleanup;
	}
	memset(&app, 0, sizeof(app));
	app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
	app.pApplicationName = "relvec";
	app.pEngineName = "relvec";
	app.apiVersion = VK_API_VERSION_1_2;
	memset(&ci, 0, sizeof(ci));
	ci.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
	ci.pApplicationInfo = &app;
	RVK_TRY(s->fn.vkCreateInstance(&ci, NULL, &s->instance));

#define RVK_LOAD_INSTANCE(name) \
	s->fn.name = (PFN_##name) s->fn.vkGetInstanceProcAddr(s->instance, #name); \
	if (s->fn.name == NULL) \
	{ \
		st = rv_fail(ctx, RV_E_UNSUPPORTED, "Vulkan loader lacks %s", #name); \
		goto cleanup; \
	}
	RVK_INSTANCE_FNS(RVK_LOAD_INSTANCE)
#undef RVK_LOAD_INSTANCE

cleanup:
	if (st != RV_OK && s->instance != VK_NULL_HANDLE)
	{
		PFN_vkDestroyInstance destroy = (PFN_vkDestroyInstance)
			s->fn.vkGetInstanceProcAddr(s->instance, "vkDestroyInstance");

		if (destroy != NULL)
			destroy(s->instance, NULL);
		s->instance = VK_NULL_HANDLE;
	}
	return st;
}

/* Physical devices of the instance; *n gets the count (at most cap are written). */
static rv_status
enum_devices(rv_ctx *ctx, VkPhysicalDevice *out, uint32_t cap, uint32_t *n)
{
	rvk_state  *s = ctx->vk;
	uint32_t	count = 0;
	rv_status	st = RV_OK;

	*n = 0;
	RVK_TRY(s->fn.vkEnumeratePhysicalDevices(s->instance, &count, NULL));
	if (count > cap)
		count = cap;
	if (count > 0)
	{
		VkResult	r = s->fn.vkEnumeratePhysicalDevices(s->instance, &count, out);

		if (r != VK_SUCCESS && r != VK_INCOMPLETE)
			RVK_TRY(r);
	}
	*n = count;
cleanup:
	return st;
}

#define RVK_MAX_PHYS 16

/* Index of the first queue family with compute, or -1. */
static int
compute_family(rvk_state *s, VkPhysicalDevice pd)
{
	VkQueueFamilyProperties fam[16];
	uint32_t	n = 16;
	uint32_t	i;

	s->fn.vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, fam);
	for (i = 0; i < n; i++)
		if (fam[i].queueFlags & VK_QUEUE_COMPUTE_BIT)
			return (int) i;
	return -1;
}

/* Fill one rv_device_info; auto_pick is set later by the caller. */
static void
describe(rvk_state *s, VkPhysicalDevice pd, int index, rv_device_info *info)
{
	VkPhysicalDeviceProperties p;
	VkPhysicalDeviceMemoryProperties mp;
	uint32_t	i;

	memset(info, 0, sizeof(*info));
	info->index = index;
	s->fn.vkGetPhysicalDeviceProperties(pd, &p);
	snprintf(info->name, sizeof(info->name), "%s", p.deviceName);
	switch (p.deviceType)
	{
		case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
			strcpy(info->type, "discrete");
			break;
		case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
			strcpy(info->type, "integrated");
			break;
		case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
			strcpy(info->type, "virtual");
			break;
		case VK_PHYSICAL_DEVICE_TYPE_CPU:
			strcpy(info->type, "cpu");
			break;
		default:
			strcpy(info->type, "other");
			break;
	}
	if (p.apiVersion >= VK_API_VERSION_1_2)
	{
		VkPhysicalDeviceDriverProperties dp;
		VkPhysicalDeviceProperties2 p2;

		memset(&dp, 0, sizeof(dp));
		dp.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
		memset(&p2, 0, sizeof(p2));
		p2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
		p2.pNext = &dp;
		s->fn.vkGetPhysicalDeviceProperties2(pd, &p2);
		snprintf(info->driver, sizeof(info->driver), "%s %s", dp.driverName, dp.driverInfo);
	}
	s->fn.vkGetPhysicalDeviceMemoryProperties(pd, &mp);
	for (i = 0; i < mp.memoryHeapCount; i++)
		if ((mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
			mp.memoryHeaps[i].size > info->memory_bytes)
			info->memory_bytes = mp.memoryHeaps[i].size;
}

/* Rank of a device for auto mode: 3 discrete, 2 integrated, 1 virtual, 0 never. */
static int
auto_rank(rvk_state *s, VkPhysicalDevice pd)
{
	VkPhysicalDeviceProperties p;

	s->fn.vkGetPhysicalDeviceProperties(pd, &p);
	if (p.apiVersion < VK_API_VERSION_1_2 || compute_family(s, pd) < 0)
		return 0;
	switch (p.deviceType)
	{
		case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
			return 3;
		case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
			return 2;
		case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
			return 1;
		default:
			return 0;			/* CPU-type devices (lavapipe) are never chosen */
	}
}

/* Index of the best device for auto mode among n, or -1. */
static int
best_auto(rvk_state *s, VkPhysicalDevice *pds, uint32_t n)
{
	int			best = -1;
	int			best_rank = 0;
	uint32_t	i;

	for (i = 0; i < n; i++)
	{
		int			r = auto_rank(s, pds[i]);

		if (r > best_rank)
		{
			best_rank = r;
			best = (int) i;
		}
	}
	return best;
}

/* Describe every Vulkan device; no loader or driver gives *count = 0 and RV_OK. */
rv_status
rvk_list_devices(rv_ctx *ctx, rv_device_info *out, size_t cap, size_t *count)
{
	VkPhysicalDevice pds[RVK_MAX_PHYS];
	uint32_t	n = 0;
	uint32_t	i;
	int			pick;
	rv_status	st;

	*count = 0;
	if (rvk_open_instance(ctx) != RV_OK)
	{
		/* no loader, or no driver: no devices, not an error */
		rv_clear_error(ctx);
		return RV_OK;
	}
	if ((st = enum_devices(ctx, pds, RVK_MAX_PHYS, &n)) != RV_OK)
		return st;
	pick = best_auto(ctx->vk, pds, n);
	for (i = 0; i < n && i < cap; i++)
	{
		describe(ctx->vk, pds[i], (int) i, &out[i]);
		out[i].auto_pick = ((int) i == pick);
	}
	*count = n;
	return RV_OK;
}

/* The device auto mode would choose, or -1 (see internal.h). */
rv_status
rvk_auto_pick(rv_ctx *ctx, int *index)
{
	VkPhysicalDevice pds[RVK_MAX_PHYS];
	uint32_t	n = 0;
	rv_status	st;

	*index = -1;
	if (rvk_open_instance(ctx) != RV_OK)
	{
		rv_clear_error(ctx);
		return RV_OK;
	}
	if ((st = enum_devices(ctx, pds, RVK_MAX_PHYS, &n)) != RV_OK)
		return st;
	*index = best_auto(ctx->vk, pds, n);
	return RV_OK;
}

/* Name of the open device, "" when none. */
const char *
rvk_device_name(const rv_ctx *ctx)
{
	if (ctx->vk == NULL || ctx->vk->device == VK_NULL_HANDLE)
		return "";
	return ctx->vk->props.deviceName;
}

/*
 * Can compute shaders on the open device use subgroup arithmetic (subgroupAdd)? Sets
 * subgroup_size, or 0 when not (or when the test hook asks for the variants without); and
 * notes the largest allocation the device takes.
 */
static void
query_subgroups(rv_ctx *ctx)
{
	rvk_state  *s = ctx->vk;
	VkPhysicalDeviceSubgroupProperties sp;
	VkPhysicalDeviceProperties2 p2;
	VkSubgroupFeatureFlags need = VK_SUBGROUP_FEATURE_BASIC_BIT |
		VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;

	VkPhysicalDeviceMaintenance3Properties m3;

	s->subgroup_size = 0;
	memset(&m3, 0, sizeof(m3));
	m3.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES;
	memset(&sp, 0, sizeof(sp));
	sp.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES;
	sp.pNext = &m3;
	memset(&p2, 0, sizeof(p2));
	p2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
	p2.pNext = &sp;
	s->fn.vkGetPhysicalDeviceProperties2(s->phys, &p2);
	/* the largest single allocation (Vulkan 1.1 guarantees at least 1 GiB) */
	s->max_alloc = m3.maxMemoryAllocationSize >= ((VkDeviceSize) 1 << 30) ?
		m3.maxMemoryAllocationSize : ((VkDeviceSize) 1 << 30);
	if ((sp.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
		(sp.supportedOperations & need) == need &&
		sp.subgroupSize >= 1 && sp.subgroupSize <= 128 && !ctx->no_subgroups)
		s->subgroup_size = sp.subgroupSize;
}

/* Subgroup size the kernels use, 0 without subgroups (or no device open). */
uint32_t
rvk_subgroup_size(rv_ctx *ctx)
{
	return ctx->vk != NULL ? ctx->vk->subgroup_size : 0;
}

/* Test hook: the subgroup-free kernel variants from the next device open on. */
void
rvk_set_no_subgroups(rv_ctx *ctx, int on)
{
	ctx->no_subgroups = on;
	if (ctx->vk != NULL && on)
		ctx->vk->subgroup_size = 0;
	else if (ctx->vk != NULL && ctx->vk->device != VK_NULL_HANDLE)
		query_subgroups(ctx);
}

/* Open logical device `index` with one compute queue and the per-device objects. */
rv_status
rvk_open_device(rv_ctx *ctx, int index)
{
	VkPhysicalDevice pds[RVK_MAX_PHYS];
	uint32_t	n = 0;
	rvk_state  *s;
	int			fam;
	float		prio = 1.0f;
	VkDeviceQueueCreateInfo qci;
	VkDeviceCreateInfo dci;
	VkCommandPoolCreateInfo cpi;
	VkCommandBufferAllocateInfo cbi;
	VkFenceCreateInfo fci;
	VkDescriptorPoolSize psz;
	VkDescriptorPoolCreateInfo dpi;
	VkPipelineCacheCreateInfo pci;
	void	   *pdata = NULL;
	size_t		plen = 0;
	VkResult	r;
	rv_status	st = RV_OK;

	if ((st = rvk_open_instance(ctx)) != RV_OK)
	{
		char		why[RV_ERRMSG_LEN];

		if (st != RV_E_UNSUPPORTED && st != RV_E_DEVICE)
			return st;
		/* no loader or no driver: there is no device N, as for rv_list_devices */
		snprintf(why, sizeof(why), "%s", ctx->errmsg);
		st = rv_fail(ctx, RV_E_INVALID_PARAM, "Vulkan device %d does not exist", index);
		rv_set_detail(ctx, "0 Vulkan devices found (%s)", why);
		return st;
	}
	s = ctx->vk;
	if (s->device != VK_NULL_HANDLE)
	{
		if (s->dev_index == index)
			return RV_OK;
		rvk_close_device(ctx);
	}
	if ((st = enum_devices(ctx, pds, RVK_MAX_PHYS, &n)) != RV_OK)
		return st;
	if (index < 0 || (uint32_t) index >= n)
	{
		st = rv_fail(ctx, RV_E_INVALID_PARAM, "Vulkan device %d does not exist", index);
		rv_set_detail(ctx, "%u Vulkan devices found", n);
		return st;
	}
	s->phys = pds[index];
	s->fn.vkGetPhysicalDeviceProperties(s->phys, &s->props);
	s->fn.vkGetPhysicalDeviceMemoryProperties(s->phys, &s->memprops);
	if (s->props.apiVersion < VK_API_VERSION_1_2)
	{
		st = rv_fail(ctx, RV_E_UNSUPPORTED, "Vulkan device %d does not support Vulkan 1.2",
					 index);
		rv_set_detail(ctx, "device \"%s\"", s->props.deviceName);
		return st;
	}
	fam = compute_family(s, s->phys);
	if (fam < 0)
	{
		st = rv_fail(ctx, RV_E_UNSUPPORTED, "Vulkan device %d has no compute queue", index);
		rv_set_detail(ctx, "device \"%s\"", s->props.deviceName);
		return st;
	}
	s->qfam = (uint32_t) fam;

	memset(&qci, 0, sizeof(qci));
	qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
	qci.queueFamilyIndex = s->qfam;
	qci.queueCount = 1;
	qci.pQueuePriorities = &prio;
	memset(&dci, 0, sizeof(dci));
	dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
	dci.queueCreateInfoCount = 1;
	dci.pQueueCreateInfos = &qci;
	RVK_TRY(s->fn.vkCreateDevice(s->phys, &dci, NULL, &s->device));
	s->dev_index = index;
	counters.devices_created++;

#define RVK_LOAD_DEVICE(name) \
	s->fn.name = (PFN_##name) s->fn.vkGetDeviceProcAddr(s->device, #name); \
	if (s->fn.name == NULL) \
	{ \
		st = rv_fail(ctx, RV_E_UNSUPPORTED, "Vulkan driver lacks %s", #name); \
		goto cleanup; \
	}
	RVK_DEVICE_FNS(RVK_LOAD_DEVICE)
#undef RVK_LOAD_DEVICE

	s->fn.vkGetDeviceQueue(s->device, s->qfam, 0, &s->queue);

	memset(&cpi, 0, sizeof(cpi));
	cpi.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
	cpi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
	cpi.queueFamilyIndex = s->qfam;
	RVK_TRY(s->fn.vkCreateCommandPool(s->device, &cpi, NULL, &s->cmdpool));

	memset(&cbi, 0, sizeof(cbi));
	cbi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
	cbi.commandPool = s->cmdpool;
	cbi.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
	cbi.commandBufferCount = 1;
	RVK_TRY(s->fn.vkAllocateCommandBuffers(s->device, &cbi, &s->cmd));

	memset(&fci, 0, sizeof(fci));
	fci.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
	RVK_TRY(s->fn.vkCreateFence(s->device, &fci, NULL, &s->fence));

	/* one submission at a time records at most RVK_MAX_SETS dispatches */
	memset(&psz, 0, sizeof(psz));
	psz.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
	psz.descriptorCount = RVK_MAX_SETS * RVK_MAX_BINDINGS;
	memset(&dpi, 0, sizeof(dpi));
	dpi.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
	dpi.maxSets = RVK_MAX_SETS;
	dpi.poolSizeCount = 1;
	dpi.pPoolSizes = &psz;
	RVK_TRY(s->fn.vkCreateDescriptorPool(s->device, &dpi, NULL, &s->dpool));

	/* the pipeline cache, from disk when a file of this device and driver is there */
	rvk_pcache_load(ctx, &pdata, &plen);
	memset(&pci, 0, sizeof(pci));
	pci.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO;
	pci.initialDataSize = plen;
	pci.pInitialData = pdata;
	r = s->fn.vkCreatePipelineCache(s->device, &pci, NULL, &s->pcache);
	if (r != VK_SUCCESS && pdata != NULL)
	{
		/* a driver that refuses the data it wrote: start empty, as without a file */
		rv_log(ctx, RV_LOG_DEBUG, "pipeline cache data refused by the driver: %s",
			   rvk_result_name(r));
		s->pcache_stats.loaded = 0;
		s->pcache_stats.rejected = 1;
		s->pcache_sum = 0;
		pci.initialDataSize = 0;
		pci.pInitialData = NULL;
		r = s->fn.vkCreatePipelineCache(s->device, &pci, NULL, &s->pcache);
	}
	rv_free(ctx, pdata);
	pdata = NULL;
	RVK_TRY(r);

	query_subgroups(ctx);
	if (ctx->vk_timing)
		RVK_CHECK(rvk_timing_open(ctx));

cleanup:
	rv_free(ctx, pdata);
	if (st != RV_OK)
		rvk_close_device(ctx);
	return st;
}

/* Destroy the logical device and everything made from it, newest first. */
void
rvk_close_device(rv_ctx *ctx)
{
	rvk_state  *s = ctx->vk;

	if (s == NULL || s->device == VK_NULL_HANDLE)
		return;
	/* nothing may still run when objects go; an error here leaves nothing to do */
	if (s->fn.vkDeviceWaitIdle != NULL)
		(void) s->fn.vkDeviceWaitIdle(s->device);
	rvk_resident_release_all(ctx);
	rvk_pipelines_destroy(ctx);
	if (s->qpool != VK_NULL_HANDLE)
		s->fn.vkDestroyQueryPool(s->device, s->qpool, NULL);
	if (s->pcache != VK_NULL_HANDLE)
		s->fn.vkDestroyPipelineCache(s->device, s->pcache, NULL);
	if (s->dpool != VK_NULL_HANDLE)
		s->fn.vkDestroyDescriptorPool(s->device, s->dpool, NULL);
	if (s->fence != VK_NULL_HANDLE)
		s->fn.vkDestroyFence(s->device, s->fence, NULL);
	/* the command buffer goes with its pool */
	if (s->cmdpool != VK_NULL_HANDLE)
		s->fn.vkDestroyCommandPool(s->device, s->cmdpool, NULL);
	s->fn.vkDestroyDevice(s->device, NULL);
	s->qpool = VK_NULL_HANDLE;
	s->pcache = VK_NULL_HANDLE;
	s->pcache_sum = 0;
	memset(&s->pcache_stats, 0, sizeof(s->pcache_stats));
	s->subgroup_size = 0;
	s->ts_mask = 0;
	s->dpool = VK_NULL_HANDLE;
	s->fence = VK_NULL_HANDLE;
	s->cmd = VK_NULL_HANDLE;
	s->cmdpool = VK_NULL_HANDLE;
	s->queue = VK_NULL_HANDLE;
	s->device = VK_NULL_HANDLE;
	s->dev_index = -1;
}

/* Make device index the one the kernels run on (opened on first use, then kept). */
rv_status
rvk_use_device(rv_ctx *ctx, int index)
{
	return rvk_open_device(ctx, index);
}

/* Release the device, the instance and the loader; the context forgets Vulkan. */
void
rvk_shutdown(rv_ctx *ctx)
{
	rvk_state  *s = ctx->vk;

	if (s == NULL)
		return;
	rvk_close_device(ctx);
	if (s->instance != VK_NULL_HANDLE)
		s->fn.vkDestroyInstance(s->instance, NULL);
	if (s->lib != NULL)
		dlclose(s->lib);
	rv_free(ctx, s);
	ctx->vk = NULL;
	ctx->vk_shutdown = NULL;
}

/* Test hook: the after-th next submit fails with vkresult (needs an open state). */
void
rvk_test_inject(rv_ctx *ctx, int vkresult, int after)
{
	if (ctx->vk == NULL)
		return;
	ctx->vk->inject = (VkResult) vkresult;
	ctx->vk->inject_after = after;
}
