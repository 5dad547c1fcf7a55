/*
 * vk/dispatch.c — recording, submission and waiting. One command buffer per context is
 * recorded for each block of work (rvk_begin, one or more rvk_record, rvk_submit_wait);
 * descriptor sets come from a pool that is reset at every rvk_begin, because the previous
 * submission has always finished by then. The fence wait is bounded: it waits in slices
 * and polls the host's interrupt check between them. After an interrupt it still waits
 * for the submission to finish (the buffers it uses are freed next), then returns
 * RV_E_INTERRUPTED; work is submitted in blocks, so that wait is short.
 */
#include <string.h>

#include "vk_internal.h"

/* How long one slice of the fence wait lasts before the interrupt check is polled. */
#define RVK_WAIT_SLICE_NS 5000000ull	/* 5 ms */

/*
 * Timing (a bench hook): a pool of two timestamp queries, written at the start and the end
 * of every submission, when the queue has timestamps. Without them timing stays off.
 */
rv_status
rvk_timing_open(rv_ctx *ctx)
{
	rvk_state  *s = ctx->vk;
	VkQueueFamilyProperties fam[16];
	uint32_t	nfam = 16;
	uint32_t	bits;
	VkQueryPoolCreateInfo qi;
	rv_status	st = RV_OK;

	if (s->qpool != VK_NULL_HANDLE)
		return RV_OK;
	s->fn.vkGetPhysicalDeviceQueueFamilyProperties(s->phys, &nfam, fam);
	bits = s->qfam < nfam ? fam[s->qfam].timestampValidBits : 0;
	if (bits == 0)
		return RV_OK;
	s->ts_mask = bits >= 64 ? ~0ull : ((1ull << bits) - 1);
	memset(&qi, 0, sizeof(qi));
	qi.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO;
	qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
	qi.queryCount = 3;
	RVK_TRY(s->fn.vkCreateQueryPool(s->device, &qi, NULL, &s->qpool));
	s->device_ns = 0;
cleanup:
	return st;
}

/* Bench hook: time submissions from now (or from the next device open). */
void
rvk_set_timing(rv_ctx *ctx, int on)
{
	ctx->vk_timing = on;
	if (on && ctx->vk != NULL && ctx->vk->device != VK_NULL_HANDLE &&
		rvk_timing_open(ctx) != RV_OK)
		rv_clear_error(ctx);
}

/* Device seconds of the timed submissions since the last call; -1 without timestamps. */
double
rvk_take_device_seconds(rv_ctx *ctx)
{
	double		t;

	if (ctx->vk == NULL || ctx->vk->qpool == VK_NULL_HANDLE)
		return -1.0;
	t = ctx->vk->device_ns * 1e-9;
	ctx->vk->device_ns = 0;
	return t;
}

/* Start recording a new submission. */
rv_status
rvk_begin(rv_ctx *ctx)
{
	rvk_state  *s = ctx->vk;
	VkCommandBufferBeginInfo bi;
	rv_status	st = RV_OK;

	RVK_TRY(s->fn.vkResetDescriptorPool(s->device, s->dpool, 0));
	RVK_TRY(s->fn.vkResetCommandBuffer(s->cmd, 0));
	memset(&bi, 0, sizeof(bi));
	bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
	bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
	RVK_TRY(s->fn.vkBeginCommandBuffer(s->cmd, &bi));
	s->ts_marked = 0;
	if (s->qpool != VK_NULL_HANDLE)
	{
		s->fn.vkCmdResetQueryPool(s->cmd, s->qpool, 0, 3);
		s->fn.vkCmdWriteTimestamp(s->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, s->qpool, 0);
	}
cleanup:
	return st;
}

/*
 * Record one dispatch of kernel k with pipeline pipe: bufs[i] bound at binding i over
 * its first bytes[i] bytes, push the kernel's push constants, groups[3] workgroups.
 * The dispatch is checked against the kernel table and the device limits first.
 */
rv_status
rvk_record(rv_ctx *ctx, rvk_kernel_id k, VkPipeline pipe, rvk_buffer *const *bufs,
		   const VkDeviceSize *bytes, const void *push, const uint32_t groups[3])
{
	rvk_state  *s = ctx->vk;
	const rvk_kernel *kn = rvk_kernel_get(k);
	VkDescriptorSetAllocateInfo ai;
	VkDescriptorSet set;
	VkDescriptorBufferInfo dbi[RVK_MAX_BINDINGS];
	VkWriteDescriptorSet w[RVK_MAX_BINDINGS];
	uint32_t	i;
	rv_status	st = RV_OK;

	if ((st = rvk_check_dispatch(ctx, k, groups, bytes)) != RV_OK)
		return st;
	for (i = 0; i < kn->nbindings; i++)
	{
		if (bytes[i] > bufs[i]->size)
			return rv_fail(ctx, RV_E_INTERNAL, "binding %u of kernel \"%s\" exceeds its buffer",
						   i, kn->name);
	}

	memset(&ai, 0, sizeof(ai));
	ai.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
	ai.descriptorPool = s->dpool;
	ai.descriptorSetCount = 1;
	ai.pSetLayouts = &s->dsl[k];
	RVK_TRY(s->fn.vkAllocateDescriptorSets(s->device, &ai, &set));

	memset(w, 0, sizeof(w));
	for (i = 0; i < kn->nbindings; i++)
	{
		dbi[i].buffer = bufs[i]->buf;
		dbi[i].offset = 0;
		dbi[i].range = bytes[i];
		w[i].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
		w[i].dstSet = set;
		w[i].dstBinding = i;
		w[i].descriptorCount = 1;
		w[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
		w[i].pBufferInfo = &dbi[i];
	}
	s->fn.vkUpdateDescriptorSets(s->device, kn->nbindings, w, 0, NULL);

	s->fn.vkCmdBindPipeline(s->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
	s->fn.vkCmdBindDescriptorSets(s->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, s->layout[k], 0, 1,
								  &set, 0, NULL);
	s->fn.vkCmdPushConstants(s->cmd, s->layout[k], VK_SHADER_STAGE_COMPUTE_BIT, 0,
							 kn->push_bytes, push);
	s->fn.vkCmdDispatch(s->cmd, groups[0], groups[1], groups[2]);
cleanup:
	return st;
}

/* Copies into buffers -> the next dispatches' reads of them. */
void
rvk_barrier_copy_to_compute(rv_ctx *ctx)
{
	rvk_state  *s = ctx->vk;
	VkMemoryBarrier mb;

	memset(&mb, 0, sizeof(mb));
	mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
	mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
	mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT;
	s->fn.vkCmdPipelineBarrier(s->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
							   VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
}

/* Dispatches' writes -> a copy that reads them (results to host memory). */
void
rvk_barrier_compute_to_copy(rv_ctx *ctx)
{
	rvk_state  *s = ctx->vk;
	VkMemoryBarrier mb;

	memset(&mb, 0, sizeof(mb));
	mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
	mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
	mb.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
	s->fn.vkCmdPipelineBarrier(s->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
							   VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
}

/*
 * Timing: the kernels of this submission end here (the copies after them are not counted
 * in the device time the bench reads).
 */
void
rvk_timing_mark(rv_ctx *ctx)
{
	rvk_state  *s = ctx->vk;

	if (s->qpool == VK_NULL_HANDLE)
		return;
	s->fn.vkCmdWriteTimestamp(s->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, s->qpool, 2);
	s->ts_marked = 1;
}

/* Order two dispatches of one submission: shader writes -> the next shader's reads. */
void
rvk_barrier(rv_ctx *ctx)
{
	rvk_state  *s = ctx->vk;
	VkMemoryBarrier mb;

	memset(&mb, 0, sizeof(mb));
	mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
	mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
	mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
	s->fn.vkCmdPipelineBarrier(s->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
							   VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
}

/*
 * Poll until fence signals; wait without bound once interrupted (the work must end before
 * its buffers go), then return RV_E_INTERRUPTED.
 */
rv_status
rvk_wait_fence(rv_ctx *ctx, VkFence fence)
{
	rvk_state  *s = ctx->vk;
	int			interrupted = 0;
	rv_status	st = RV_OK;

	for (;;)
	{
		VkResult	r = s->fn.vkWaitForFences(s->device, 1, &fence, VK_TRUE,
											  interrupted ? UINT64_MAX : RVK_WAIT_SLICE_NS);

		if (r == VK_SUCCESS)
			break;
		if (r != VK_TIMEOUT)
			RVK_TRY(r);
		if (!interrupted && rv_interrupted(ctx))
			interrupted = 1;
	}
	if (interrupted)
		st = rv_fail(ctx, RV_E_INTERRUPTED, "canceling statement due to user request");
cleanup:
	return st;
}

/*
 * Submit a recorded command buffer that signals fence (reset here); returns at once. The
 * test hook rvk_test_inject makes a chosen submission fail instead.
 */
rv_status
rvk_submit(rv_ctx *ctx, VkCommandBuffer cmd, VkFence fence)
{
	rvk_state  *s = ctx->vk;
	VkSubmitInfo si;
	rv_status	st = RV_OK;

	RVK_TRY(s->fn.vkResetFences(s->device, 1, &fence));
	memset(&si, 0, sizeof(si));
	si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
	si.commandBufferCount = 1;
	si.pCommandBuffers = &cmd;
	if (s->inject != VK_SUCCESS && --s->inject_after <= 0)
	{
		VkResult	r = s->inject;

		/* test hook: pretend the submission failed, without submitting */
		s->inject = VK_SUCCESS;
		st = rvk_fail_vk(ctx, r, "fn.vkQueueSubmit(injected by rvk_test_inject)");
		goto cleanup;
	}
	RVK_TRY(s->fn.vkQueueSubmit(s->queue, 1, &si, fence));
cleanup:
	return st;
}

/*
 * Finish recording, submit, and wait for the fence. The last barrier makes the shaders'
 * writes visible to host reads of the mapped buffers.
 */
rv_status
rvk_submit_wait(rv_ctx *ctx)
{
	rvk_state  *s = ctx->vk;
	VkMemoryBarrier mb;
	rv_status	st = RV_OK;

	/* shader and copy writes -> host reads of the mapped output buffers */
	memset(&mb, 0, sizeof(mb));
	mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
	mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
	mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
	s->fn.vkCmdPipelineBarrier(s->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
							   VK_PIPELINE_STAGE_TRANSFER_BIT,
							   VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
	if (s->qpool != VK_NULL_HANDLE)
		s->fn.vkCmdWriteTimestamp(s->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, s->qpool, 1);
	RVK_TRY(s->fn.vkEndCommandBuffer(s->cmd));

	if (rv_interrupted(ctx))
		return rv_fail(ctx, RV_E_INTERRUPTED, "canceling statement due to user request");

	RVK_CHECK(rvk_submit(ctx, s->cmd, s->fence));
	st = rvk_wait_fence(ctx, s->fence);
	if (st == RV_OK && s->qpool != VK_NULL_HANDLE)
	{
		uint64_t	ts[3];
		uint32_t	nts = s->ts_marked ? 3 : 2;

		if (s->fn.vkGetQueryPoolResults(s->device, s->qpool, 0, nts, sizeof(ts), ts,
										sizeof(uint64_t),
										VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) == VK_SUCCESS)
			s->device_ns += (double) ((ts[nts - 1] - ts[0]) & s->ts_mask) *
				s->props.limits.timestampPeriod;
	}
cleanup:
	return st;
}
