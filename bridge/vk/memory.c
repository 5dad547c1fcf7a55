/*
 * vk/memory.c — storage buffers for the kernels. A kernel's buffer lives in host-visible
 * memory and stays mapped, so uploads and downloads are plain copies: device-local
 * host-visible memory first (unified memory, resizable BAR), then host-visible coherent
 * memory, then any host-visible memory (flushed and invalidated by hand). When the
 * preferred type is exhausted the next one is tried before giving up. rvk_buffer_make is
 * the general form (any usage and memory preferences, mapped or not) that the resident
 * corpora (resident.c) use for device-local memory and staging.
 */
#include <string.h>

#include "vk_internal.h"

/* Candidate property sets, best first. */
static const VkMemoryPropertyFlags mem_prefs[] = {
	VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
	VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
	VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
	VK_MEMORY_PROPERTY_HOST_CACHED_BIT,
	VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
	VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT
};

/*
 * A buffer of size bytes with the given usage, in the first memory type that has all the
 * flags of one of the nprefs property sets (tried best first; a type whose heap is out of
 * memory passes the turn to the next); mapped when map is nonzero. Destroyed by
 * rvk_buffer_destroy, also after a failure.
 */
rv_status
rvk_buffer_make(rv_ctx *ctx, VkDeviceSize size, VkBufferUsageFlags usage,
				const VkMemoryPropertyFlags *prefs, size_t nprefs, int map, rvk_buffer *out)
{
	rvk_state  *s = ctx->vk;
	VkBufferCreateInfo bi;
	VkMemoryRequirements req;
	VkResult	r = VK_ERROR_OUT_OF_DEVICE_MEMORY;
	rv_status	st = RV_OK;
	size_t		p;

	memset(out, 0, sizeof(*out));
	out->size = size;
	memset(&bi, 0, sizeof(bi));
	bi.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
	bi.size = size;
	bi.usage = usage;
	bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
	RVK_TRY(s->fn.vkCreateBuffer(s->device, &bi, NULL, &out->buf));
	s->fn.vkGetBufferMemoryRequirements(s->device, out->buf, &req);

	for (p = 0; p < nprefs && out->mem == VK_NULL_HANDLE; p++)
	{
		uint32_t	t;

		for (t = 0; t < s->memprops.memoryTypeCount; t++)
		{
			VkMemoryPropertyFlags f = s->memprops.memoryTypes[t].propertyFlags;
			VkMemoryAllocateInfo ai;

			if (!(req.memoryTypeBits & (1u << t)) || (f & prefs[p]) != prefs[p])
				continue;
			memset(&ai, 0, sizeof(ai));
			ai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
			ai.allocationSize = req.size;
			ai.memoryTypeIndex = t;
			r = s->fn.vkAllocateMemory(s->device, &ai, NULL, &out->mem);
			if (r == VK_SUCCESS)
			{
				out->coherent = (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0;
				break;
			}
			out->mem = VK_NULL_HANDLE;
			/* out of this heap: try the next type; anything else is a real failure */
			if (r != VK_ERROR_OUT_OF_DEVICE_MEMORY)
				RVK_TRY(r);
		}
	}
	if (out->mem == VK_NULL_HANDLE)
		RVK_TRY(r);				/* out of device memory (or no such type): a lost device */
	RVK_TRY(s->fn.vkBindBufferMemory(s->device, out->buf, out->mem, 0));
	if (map)
		RVK_TRY(s->fn.vkMapMemory(s->device, out->mem, 0, VK_WHOLE_SIZE, 0, &out->map));

cleanup:
	if (st != RV_OK)
		rvk_buffer_destroy(ctx, out);
	return st;
}

/* Create a mapped storage buffer of size bytes; *out is destroyed by rvk_buffer_destroy. */
rv_status
rvk_buffer_create(rv_ctx *ctx, VkDeviceSize size, rvk_buffer *out)
{
	return rvk_buffer_make(ctx, size, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
						   VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
						   mem_prefs, sizeof(mem_prefs) / sizeof(mem_prefs[0]), 1, out);
}

/*
 * Candidate property sets of buffers the host reads back, best first: cached host memory,
 * where the host's reads hit its own caches (reading device-local memory through the BAR is
 * uncached and slow on a discrete GPU), then whatever rvk_buffer_create takes.
 */
static const VkMemoryPropertyFlags readback_prefs[] = {
	VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
	VK_MEMORY_PROPERTY_HOST_CACHED_BIT,
	VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_CACHED_BIT,
	VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
	VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
	VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
	VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT
};

/* A mapped storage buffer the device writes and the host reads (results). */
rv_status
rvk_buffer_create_readback(rv_ctx *ctx, VkDeviceSize size, rvk_buffer *out)
{
	return rvk_buffer_make(ctx, size, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
						   VK_BUFFER_USAGE_TRANSFER_DST_BIT, readback_prefs,
						   sizeof(readback_prefs) / sizeof(readback_prefs[0]), 1, out);
}

/* Unmap and free a buffer; accepts a zeroed or half-made one. */
void
rvk_buffer_destroy(rv_ctx *ctx, rvk_buffer *b)
{
	rvk_state  *s = ctx->vk;

	if (s == NULL || s->device == VK_NULL_HANDLE)
		return;
	if (b->map != NULL)
		s->fn.vkUnmapMemory(s->device, b->mem);
	if (b->buf != VK_NULL_HANDLE)
		s->fn.vkDestroyBuffer(s->device, b->buf, NULL);
	if (b->mem != VK_NULL_HANDLE)
		s->fn.vkFreeMemory(s->device, b->mem, NULL);
	memset(b, 0, sizeof(*b));
}

/* Copy bytes from src to the start of b and make them visible to the device. */
rv_status
rvk_buffer_upload(rv_ctx *ctx, rvk_buffer *b, const void *src, size_t bytes)
{
	rvk_state  *s = ctx->vk;
	VkMappedMemoryRange range;
	rv_status	st = RV_OK;

	if (bytes > b->size)
		return rv_fail(ctx, RV_E_INTERNAL, "upload of %zu bytes into a buffer of %zu bytes",
					   bytes, (size_t) b->size);
	memcpy(b->map, src, bytes);
	if (!b->coherent)
	{
		memset(&range, 0, sizeof(range));
		range.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE;
		range.memory = b->mem;
		range.size = VK_WHOLE_SIZE;
		RVK_TRY(s->fn.vkFlushMappedMemoryRanges(s->device, 1, &range));
	}
cleanup:
	return st;
}

/* Make the device's writes to b visible to the host through b->map. */
rv_status
rvk_buffer_download(rv_ctx *ctx, rvk_buffer *b)
{
	rvk_state  *s = ctx->vk;
	VkMappedMemoryRange range;
	rv_status	st = RV_OK;

	if (!b->coherent)
	{
		memset(&range, 0, sizeof(range));
		range.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE;
		range.memory = b->mem;
		range.size = VK_WHOLE_SIZE;
		RVK_TRY(s->fn.vkInvalidateMappedMemoryRanges(s->device, 1, &range));
	}
cleanup:
	return st;
}

/* Make the host's writes through b->map visible to the device (non-coherent memory). */
rv_status
rvk_buffer_flush(rv_ctx *ctx, rvk_buffer *b)
{
	rvk_state  *s = ctx->vk;
	VkMappedMemoryRange range;
	rv_status	st = RV_OK;

	if (!b->coherent)
	{
		memset(&range, 0, sizeof(range));
		range.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE;
		range.memory = b->mem;
		range.size = VK_WHOLE_SIZE;
		RVK_TRY(s->fn.vkFlushMappedMemoryRanges(s->device, 1, &range));
	}
cleanup:
	return st;
}

/*
 * Does the open device share the host's memory (integrated GPUs, CPU-type devices such as
 * lavapipe)? Then mapped buffers are its own memory and nothing needs a copy; on the others
 * (discrete GPUs) data the kernels read many times, and results, live in device-local
 * memory and cross the bus by vkCmdCopyBuffer.
 */
int
rvk_unified_memory(rv_ctx *ctx)
{
	VkPhysicalDeviceType t = ctx->vk->props.deviceType;

	/* the test hook rv_set_resident_staging takes the discrete path everywhere */
	if (ctx->resident_staging)
		return 0;
	return t == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU || t == VK_PHYSICAL_DEVICE_TYPE_CPU;
}

/* A device-local storage buffer that copies go into and out of (not mapped). */
rv_status
rvk_buffer_create_device(rv_ctx *ctx, VkDeviceSize size, rvk_buffer *out)
{
	const VkMemoryPropertyFlags dl = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;

	return rvk_buffer_make(ctx, size, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
						   VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
						   &dl, 1, 0, out);
}

/* Record a copy of bytes from src to dst (offsets 0) into the current submission. */
void
rvk_copy(rv_ctx *ctx, rvk_buffer *src, rvk_buffer *dst, size_t bytes)
{
	rvk_state  *s = ctx->vk;
	VkBufferCopy region;

	memset(&region, 0, sizeof(region));
	region.size = bytes;
	s->fn.vkCmdCopyBuffer(s->cmd, src->buf, dst->buf, 1, &region);
}
