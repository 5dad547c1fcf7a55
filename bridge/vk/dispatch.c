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

/* Poll until the fence signals; wait without bound once interrupted. */
static rv_status
wait_fence(rv_ctx *ctx)
{
	rvk_state  *s = ctx->vk;
	int			interrupted = 0;
	rv_status	st = RV_OK;

	for (;;)
	{
		VkResult	r = s->fn.vkWaitForFences(s->device, 1, &s->fence, VK_TRUE,
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
 * Finish recording, submit, and wait for the fence. The last barrier makes the shaders'
 * writes visible to host reads of the mapped buffers.
 */
rv_status
rvk_submit_wait(rv_ctx *ctx)
{
	rvk_state  *s = ctx->vk;
	VkMemoryBarrier mb;
	VkSubmitInfo si;
	rv_status	st = RV_OK;

	/* shader writes -> host reads of the mapped output buffers */
	memset(&mb, 0, sizeof(mb));
	mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
	mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
	mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
	s->fn.vkCmdPipelineBarrier(s->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
							   VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
	RVK_TRY(s->fn.vkEndCommandBuffer(s->cmd));

	if (rv_interrupted(ctx))
		return rv_fail(ctx, RV_E_INTERRUPTED, "canceling statement due to user request");

	RVK_TRY(s->fn.vkResetFences(s->device, 1, &s->fence));
	memset(&si, 0, sizeof(si));
	si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
	si.commandBufferCount = 1;
	si.pCommandBuffers = &s->cmd;
	if (s->inject != VK_SUCCESS && --s->inject_after <= 0)
	{
		VkResult	r = s->inject;

		/* test hook: pretend the submission failed, without submitting */
		s->inject = VK_SUCCESS;
		st = rvk_fail_vk(ctx, r, "fn.vkQueueSubmit(injected by rvk_test_inject)");
		goto cleanup;
	}
	RVK_TRY(s->fn.vkQueueSubmit(s->queue, 1, &si, s->fence));
	st = wait_fence(ctx);
cleanup:
	return st;
}
