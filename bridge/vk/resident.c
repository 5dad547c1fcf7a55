/*
 * vk/resident.c — the device side of resident corpora: the rows cut into blocks that each
 * fit one storage-buffer binding (the binding limit, and the simmatrix grid's rows), each
 * block in a buffer of its own that lives until the corpus is released; the distance call,
 * which runs shaders/simmatrix.comp (the similarity-matrix kernel, with the queries as its
 * "anchors") over each block and turns similarities into distances on the host; and the
 * top-k call, which runs the few-query kernel (fewq.c) over every block.
 *
 * Memory. On devices whose memory is the host's (integrated GPUs, CPU-type devices such
 * as lavapipe) a block is a mapped buffer from memory.c, filled by a copy. On the others
 * (discrete GPUs) a block is device-local memory the host cannot map, filled through two
 * host-visible staging buffers of 64 MB in turn (vkCmdCopyBuffer; filling one overlaps the
 * other's copy), so the rows sit in video memory rather than being read over the bus at
 * every query. Either way the rows' norms are taken as they are copied: one pass over the
 * host's rows. The test hook rv_set_resident_staging forces the staging path everywhere.
 */
#include <math.h>
#include <string.h>

#include "vk_internal.h"

struct rvk_resident_mem
{
	size_t		block_rows;		/* rows per block (the last may hold fewer) */
	size_t		nblocks;
	rvk_buffer *blocks;
};

/* Rows per block: one binding, one allocation, a grid of RV_SIM_TILE-row workgroups along y. */
static size_t
block_rows(rv_ctx *ctx, size_t n, size_t d)
{
	size_t		nr = rvk_binding_limit(ctx) / (d * sizeof(float));

	/* one allocation per block: within the device's largest allocation too */
	nr = rvk_min_size(nr, (size_t) ctx->vk->max_alloc / (d * sizeof(float)));
	nr = rvk_min_size(nr, (size_t) ctx->vk->props.limits.maxComputeWorkGroupCount[1] * RV_SIM_TILE);
	return rvk_min_size(nr, n);
}

/* A buffer in a memory type with all the flags of want; mapped when map is nonzero. */
static rv_status
make_buffer(rv_ctx *ctx, VkDeviceSize size, VkBufferUsageFlags usage,
			VkMemoryPropertyFlags want, int map, rvk_buffer *out)
{
	return rvk_buffer_make(ctx, size, usage, &want, 1, map, out);
}

/* Rows per chunk of a staged upload, and the staging buffers' size: two of them. */
#define RVK_STAGE_BYTES ((size_t) 64 << 20)

/* Test hook: the staging chunk of resident uploads (0: RVK_STAGE_BYTES). */
void
rvk_set_stage_bytes(rv_ctx *ctx, size_t bytes)
{
	ctx->stage_bytes = bytes;
}

/*
 * Copy rows [i0, i1) of x to dst and note their norms in r->norms: one pass over the rows
 * (the norm reads a row, the copy reads it again from the cache).
 */
static void
copy_rows(rv_resident *r, const float *x, size_t i0, size_t i1, float *dst)
{
	size_t		d = r->d;
	size_t		i;

	for (i = i0; i < i1; i++)
	{
		const float *row = x + i * d;

		r->norms[i] = (float) sqrt(rvc_norm2(row, d));
		memcpy(dst + (i - i0) * d, row, d * sizeof(float));
	}
}

/* The staging state of an upload: two buffers, command buffers and fences, in turn. */
typedef struct rvk_stager
{
	rvk_buffer	buf[2];
	VkCommandBuffer cmd[2];
	VkFence		fence[2];
	int			busy[2];		/* submitted and not yet waited for */
} rvk_stager;

/*
 * Wait for every submission of the stager. quiet: after an error, without the interrupt
 * check and without touching the error message of the failure being reported.
 */
static rv_status
stager_drain(rv_ctx *ctx, rvk_stager *sg, int quiet)
{
	rv_status	st = RV_OK;
	int			i;

	for (i = 0; i < 2; i++)
	{
		if (!sg->busy[i])
			continue;
		if (!quiet && st == RV_OK)
			st = rvk_wait_fence(ctx, sg->fence[i]);
		else
			(void) ctx->vk->fn.vkWaitForFences(ctx->vk->device, 1, &sg->fence[i], VK_TRUE,
											   UINT64_MAX);
		sg->busy[i] = 0;
	}
	return st;
}

/* Free the stager's objects (nothing of it may still run). */
static void
stager_free(rv_ctx *ctx, rvk_stager *sg)
{
	rvk_state  *s = ctx->vk;
	int			i;

	for (i = 0; i < 2; i++)
	{
		if (sg->fence[i] != VK_NULL_HANDLE)
			s->fn.vkDestroyFence(s->device, sg->fence[i], NULL);
		if (sg->cmd[i] != VK_NULL_HANDLE)
			s->fn.vkFreeCommandBuffers(s->device, s->cmdpool, 1, &sg->cmd[i]);
		rvk_buffer_destroy(ctx, &sg->buf[i]);
	}
	memset(sg, 0, sizeof(*sg));
}

/* Two staging buffers of bytes each, their command buffers and fences. */
static rv_status
stager_make(rv_ctx *ctx, rvk_stager *sg, size_t bytes)
{
	rvk_state  *s = ctx->vk;
	VkCommandBufferAllocateInfo cbi;
	VkFenceCreateInfo fci;
	rv_status	st = RV_OK;
	int			i;

	memset(sg, 0, sizeof(*sg));
	memset(&cbi, 0, sizeof(cbi));
	cbi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
	cbi.commandPool = s->cmdpool;
	cbi.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
	cbi.commandBufferCount = 1;
	memset(&fci, 0, sizeof(fci));
	fci.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
	for (i = 0; i < 2; i++)
	{
		RVK_CHECK(make_buffer(ctx, bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT,
							  VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT, 1, &sg->buf[i]));
		RVK_TRY(s->fn.vkAllocateCommandBuffers(s->device, &cbi, &sg->cmd[i]));
		RVK_TRY(s->fn.vkCreateFence(s->device, &fci, NULL, &sg->fence[i]));
	}
cleanup:
	return st;
}

/*
 * Fill staging buffer i with rows [i0, i1) of x and submit its copy to dst at byte offset
 * dst_off, after waiting for the buffer's previous copy. Returns without waiting for this
 * one, so the next chunk is filled while this one crosses the bus.
 */
static rv_status
stage_chunk(rv_ctx *ctx, rvk_stager *sg, int i, rv_resident *r, const float *x, size_t i0,
			size_t i1, rvk_buffer *dst, size_t dst_off)
{
	rvk_state  *s = ctx->vk;
	VkCommandBufferBeginInfo bi;
	VkBufferCopy region;
	VkMemoryBarrier mb;
	rv_status	st = RV_OK;

	if (sg->busy[i])
	{
		sg->busy[i] = 0;
		RVK_CHECK(rvk_wait_fence(ctx, sg->fence[i]));
	}
	copy_rows(r, x, i0, i1, sg->buf[i].map);
	RVK_CHECK(rvk_buffer_flush(ctx, &sg->buf[i]));

	RVK_TRY(s->fn.vkResetCommandBuffer(sg->cmd[i], 0));
	memset(&bi, 0, sizeof(bi));
	bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
	bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
	RVK_TRY(s->fn.vkBeginCommandBuffer(sg->cmd[i], &bi));
	memset(&region, 0, sizeof(region));
	region.dstOffset = dst_off;
	region.size = (i1 - i0) * r->d * sizeof(float);
	s->fn.vkCmdCopyBuffer(sg->cmd[i], sg->buf[i].buf, dst->buf, 1, &region);
	/* the copy's writes -> every later dispatch's reads of the block */
	memset(&mb, 0, sizeof(mb));
	mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
	mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
	mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT;
	s->fn.vkCmdPipelineBarrier(sg->cmd[i], VK_PIPELINE_STAGE_TRANSFER_BIT,
							   VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
	RVK_TRY(s->fn.vkEndCommandBuffer(sg->cmd[i]));
	RVK_CHECK(rvk_submit(ctx, sg->cmd[i], sg->fence[i]));
	sg->busy[i] = 1;
cleanup:
	return st;
}

/*
 * Upload r's n x d rows from x into blocks on the open device, noting every row's norm in
 * r->norms on the way; r->mem set on success. The rows go in chunks of RVK_STAGE_BYTES:
 * into the mapped block itself on unified memory, else into two staging buffers in turn,
 * so that filling one overlaps the other's copy to the device.
 */
rv_status
rvk_resident_upload(rv_ctx *ctx, rv_resident *r, const float *x)
{
	rvk_resident_mem *mem;
	size_t		row_bytes = r->d * sizeof(float);
	size_t		chunk_rows;
	size_t		b;
	int			staged,
				turn = 0;
	rvk_stager	sg;
	rv_status	st = RV_OK;

	memset(&sg, 0, sizeof(sg));
	if (row_bytes > rvk_binding_limit(ctx))
	{
		st = rv_fail(ctx, RV_E_LIMIT, "embedding of %zu dimensions does not fit one Vulkan "
					 "storage buffer binding", r->d);
		rv_set_detail(ctx, "%zu bytes per row, binding limit %zu bytes", row_bytes,
					  rvk_binding_limit(ctx));
		return st;
	}
	if ((st = rvk_check_kernel(ctx, RVK_K_SIMMATRIX)) != RV_OK)
		return st;
	mem = rv_alloc(ctx, sizeof(*mem));
	if (mem == NULL)
		return rv_fail(ctx, RV_E_NOMEM, "out of memory");
	memset(mem, 0, sizeof(*mem));
	mem->block_rows = block_rows(ctx, r->n, r->d);
	mem->nblocks = (r->n + mem->block_rows - 1) / mem->block_rows;
	mem->blocks = rv_alloc(ctx, mem->nblocks * sizeof(rvk_buffer));
	if (mem->blocks == NULL)
	{
		rv_free(ctx, mem);
		return rv_fail(ctx, RV_E_NOMEM, "out of memory");
	}
	memset(mem->blocks, 0, mem->nblocks * sizeof(rvk_buffer));
	/* from here on rvk_resident_release frees whatever was made */
	r->mem = mem;
	r->bytes = 0;

	chunk_rows = (ctx->stage_bytes > 0 ? ctx->stage_bytes : RVK_STAGE_BYTES) / row_bytes;
	chunk_rows = chunk_rows < 1 ? 1 : chunk_rows;
	chunk_rows = rvk_min_size(chunk_rows, mem->block_rows);
	staged = !rvk_unified_memory(ctx);
	if (staged)
		RVK_CHECK(stager_make(ctx, &sg, chunk_rows * row_bytes));
	for (b = 0; b < mem->nblocks; b++)
	{
		size_t		r0 = b * mem->block_rows;
		size_t		rn = rvk_min_size(mem->block_rows, r->n - r0);
		size_t		c0;

		if (staged)
			RVK_CHECK(make_buffer(ctx, rn * row_bytes,
								  VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
								  VK_BUFFER_USAGE_TRANSFER_DST_BIT,
								  VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0, &mem->blocks[b]));
		else
			RVK_CHECK(rvk_buffer_create(ctx, rn * row_bytes, &mem->blocks[b]));
		for (c0 = 0; c0 < rn; c0 += chunk_rows)
		{
			size_t		cn = rvk_min_size(chunk_rows, rn - c0);

			if (rv_interrupted(ctx))
			{
				st = rv_fail(ctx, RV_E_INTERRUPTED, "canceling statement due to user request");
				goto cleanup;
			}
			if (staged)
			{
				RVK_CHECK(stage_chunk(ctx, &sg, turn, r, x, r0 + c0, r0 + c0 + cn,
									  &mem->blocks[b], c0 * row_bytes));
				turn ^= 1;
			}
			else
				copy_rows(r, x, r0 + c0, r0 + c0 + cn, (float *) mem->blocks[b].map + c0 * r->d);
		}
		if (!staged)
			RVK_CHECK(rvk_buffer_flush(ctx, &mem->blocks[b]));
		r->bytes += rn * row_bytes;
	}
	st = stager_drain(ctx, &sg, 0);

cleanup:
	if (staged)
	{
		/* nothing may still copy from the staging buffers (or into a block) when they go */
		(void) stager_drain(ctx, &sg, 1);
		stager_free(ctx, &sg);
	}
	if (st != RV_OK)
		rvk_resident_release(ctx, r);
	return st;
}

/* Free r's device memory; r->mem becomes NULL. Accepts a released corpus. */
void
rvk_resident_release(rv_ctx *ctx, rv_resident *r)
{
	rvk_resident_mem *mem = r->mem;
	size_t		b;

	if (mem == NULL)
		return;
	/* with the device already gone there is nothing left to destroy on it */
	for (b = 0; b < mem->nblocks; b++)
		rvk_buffer_destroy(ctx, &mem->blocks[b]);
	rv_free(ctx, mem->blocks);
	rv_free(ctx, mem);
	r->mem = NULL;
}

/* Release every resident corpus of the context (the device is about to close). */
void
rvk_resident_release_all(rv_ctx *ctx)
{
	rv_resident *r;

	for (r = ctx->residents; r != NULL; r = r->next)
		rvk_resident_release(ctx, r);
}

/* The similarity simmatrix.comp computes for metric m. */
static rv_sim
metric_sim(rv_metric m)
{
	switch (m)
	{
		case RV_METRIC_L2:
			return RV_SIM_NEG_L2;
		case RV_METRIC_IP:
			return RV_SIM_DOT;
		case RV_METRIC_COSINE:
			return RV_SIM_COSINE;
		case RV_METRIC_L1:
			return RV_SIM_NEG_L1;
	}
	return RV_SIM_DOT;
}

/* Distances from nq queries to every row of r: out is nq x n; arguments checked. */
rv_status
rvk_resident_distances(rv_ctx *ctx, rv_resident *r, rv_metric m, const float *q, size_t nq,
					   float *out)
{
	rvk_state  *s = ctx->vk;
	const VkPhysicalDeviceLimits *lim = &s->props.limits;
	rvk_resident_mem *mem = r->mem;
	size_t		range = rvk_binding_limit(ctx);
	size_t		d = r->d,
				n = r->n;
	size_t		row_bytes = d * sizeof(float);
	size_t		nr = mem->block_rows;
	size_t		kc,
				q0,
				b;
	uint32_t	spec[2];
	VkPipeline	pipe = VK_NULL_HANDLE;
	rvk_buffer	bq,
				bc,
				bo;
	rv_status	st = RV_OK;

	memset(&bq, 0, sizeof(bq));
	memset(&bc, 0, sizeof(bc));
	memset(&bo, 0, sizeof(bo));
	/* queries per dispatch: one binding, an output block in one binding, grid x */
	kc = rvk_min_size(nq, range / row_bytes);
	kc = rvk_min_size(kc, range / (nr * sizeof(float)));
	kc = rvk_min_size(kc, (size_t) lim->maxComputeWorkGroupCount[0] * RV_SIM_TILE);
	if (kc == 0)
		return rv_fail(ctx, RV_E_INTERNAL, "resident block of %zu rows leaves no room for a query",
					   nr);

	spec[0] = (uint32_t) metric_sim(m);
	spec[1] = 0;				/* no centering */
	RVK_CHECK(rvk_pipeline(ctx, RVK_K_SIMMATRIX, spec, &pipe));
	RVK_CHECK(rvk_buffer_create(ctx, kc * row_bytes, &bq));
	RVK_CHECK(rvk_buffer_create(ctx, row_bytes, &bc));
	RVK_CHECK(rvk_buffer_create_readback(ctx, nr * kc * sizeof(float), &bo));

	for (q0 = 0; q0 < nq; q0 += kc)
	{
		size_t		cn = rvk_min_size(kc, nq - q0);

		RVK_CHECK(rvk_buffer_upload(ctx, &bq, q + q0 * d, cn * row_bytes));
		for (b = 0; b < mem->nblocks; b++)
		{
			size_t		r0 = b * nr;
			size_t		rn = rvk_min_size(nr, n - r0);
			rvk_push_simmatrix ps;
			rvk_buffer *bufs[4];
			VkDeviceSize bytes[4];
			uint32_t	groups[3];
			const float *src;
			size_t		i,
						j;

			ps.n = (uint32_t) rn;
			ps.k = (uint32_t) cn;
			ps.d = (uint32_t) d;
			ps.out_stride = (uint32_t) cn;
			bufs[0] = &mem->blocks[b];
			bufs[1] = &bq;
			bufs[2] = &bc;
			bufs[3] = &bo;
			bytes[0] = rn * row_bytes;
			bytes[1] = cn * row_bytes;
			bytes[2] = row_bytes;
			bytes[3] = rn * cn * sizeof(float);
			groups[0] = (uint32_t) ((cn + RV_SIM_TILE - 1) / RV_SIM_TILE);
			groups[1] = (uint32_t) ((rn + RV_SIM_TILE - 1) / RV_SIM_TILE);
			groups[2] = 1;
			RVK_CHECK(rvk_begin(ctx));
			RVK_CHECK(rvk_record(ctx, RVK_K_SIMMATRIX, pipe, bufs, bytes, &ps, groups));
			RVK_CHECK(rvk_submit_wait(ctx));
			RVK_CHECK(rvk_buffer_download(ctx, &bo));

			/* similarity -> distance: l2, ip and l1 negate, cosine is 1 - similarity */
			src = bo.map;
			for (i = 0; i < rn; i++)
				for (j = 0; j < cn; j++)
				{
					float		v = src[i * cn + j];

					out[(q0 + j) * n + r0 + i] = (m == RV_METRIC_COSINE) ? 1.0f - v : -v;
				}
		}
	}

cleanup:
	rvk_buffer_destroy(ctx, &bo);
	rvk_buffer_destroy(ctx, &bc);
	rvk_buffer_destroy(ctx, &bq);
	return st;
}

/*
 * The kc best (key, row) pairs per query over every block of r, through the few-query
 * kernel in key mode 1 (fewq.glsl): rows and keys are nq x kc, sorted by (key, row), with
 * (-1, +inf) past the corpus's rows. Each group of up to 16 queries reads the corpus once;
 * the dispatches of many blocks share one submission (their lists go to disjoint parts of
 * one pair of output buffers), so a split corpus costs no more waits than a whole one.
 * RV_E_LIMIT when the lists of one block for one query do not fit a binding.
 */
rv_status
rvk_resident_topk(rv_ctx *ctx, rv_resident *r, rv_metric m, const float *q, size_t nq,
				  size_t kc, int64_t *rows, float *keys)
{
	rvk_resident_mem *mem = r->mem;
	size_t		range = rvk_binding_limit(ctx);
	size_t		d = r->d,
				n = r->n;
	size_t		row_bytes = d * sizeof(float);
	size_t		seg_rows,
				nseg_max,
				per_block,
				bps,
				q0,
				b0;
	size_t		mlist;
	rvk_fewq_plan pl;
	VkPipeline	pipe = VK_NULL_HANDLE;
	rvk_buffer	bq,
				bk,
				br;
	int64_t    *tr = NULL;
	rv_status	st = RV_OK;

	memset(&bq, 0, sizeof(bq));
	memset(&bk, 0, sizeof(bk));
	memset(&br, 0, sizeof(br));
	rv_topk_reset(rows, keys, nq, kc);
	if ((st = rvk_fewq_plan_make(ctx, nq, kc, d, &pl)) != RV_OK)
		return st;
	rvk_fewq_segments(ctx, mem->block_rows, &seg_rows, &nseg_max);
	while (pl.nq > 1 && (size_t) pl.nq * nseg_max * pl.p * sizeof(float) > range)
		pl.nq >>= 2;
	per_block = (size_t) pl.nq * nseg_max * pl.p;
	if (per_block * sizeof(float) > range)
	{
		st = rv_fail(ctx, RV_E_LIMIT, "candidate lists of k = %zu do not fit one Vulkan storage "
					 "buffer binding", kc);
		rv_set_detail(ctx, "%zu bytes per block, binding limit %zu bytes",
					  per_block * sizeof(float), range);
		return st;
	}
	bps = rvk_min_size(RVK_MAX_SETS, range / (per_block * sizeof(float)));
	bps = rvk_min_size(bps, mem->nblocks);
	mlist = rvk_min_size(pl.p, kc);

	RVK_CHECK(rvk_fewq_pipeline(ctx, &pl, m, 1, &pipe));
	RVK_CHECK(rvk_buffer_create(ctx, (size_t) pl.nq * row_bytes, &bq));
	RVK_CHECK(rvk_buffer_create_readback(ctx, bps * per_block * sizeof(float), &bk));
	RVK_CHECK(rvk_buffer_create_readback(ctx, bps * per_block * sizeof(uint32_t), &br));
	tr = rv_alloc(ctx, mlist * sizeof(int64_t));
	if (tr == NULL)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory");
		goto cleanup;
	}

	for (q0 = 0; q0 < nq; q0 += pl.nq)
	{
		size_t		qn = rvk_min_size(pl.nq, nq - q0);

		RVK_CHECK(rvk_buffer_upload(ctx, &bq, q + q0 * d, qn * row_bytes));
		for (b0 = 0; b0 < mem->nblocks; b0 += bps)
		{
			size_t		b1 = rvk_min_size(b0 + bps, mem->nblocks);
			size_t		b;
			const float *ck;
			const uint32_t *cr;

			RVK_CHECK(rvk_begin(ctx));
			for (b = b0; b < b1; b++)
			{
				size_t		rn = rvk_min_size(mem->block_rows, n - b * mem->block_rows);
				size_t		nseg;
				rvk_push_fewq pf;
				rvk_buffer *bufs[4];
				VkDeviceSize bytes[4];
				uint32_t	groups[3];

				rvk_fewq_segments(ctx, rn, &seg_rows, &nseg);
				pf.nq = (uint32_t) qn;
				pf.n = (uint32_t) rn;
				pf.d = (uint32_t) d;
				pf.seg_rows = (uint32_t) seg_rows;
				pf.nseg = (uint32_t) nseg;
				pf.out_base = (uint32_t) ((b - b0) * per_block);
				bufs[0] = &bq;
				bufs[1] = &mem->blocks[b];
				bufs[2] = &bk;
				bufs[3] = &br;
				bytes[0] = (VkDeviceSize) pl.nq * row_bytes;
				bytes[1] = rn * row_bytes;
				bytes[2] = (b1 - b0) * per_block * sizeof(float);
				bytes[3] = (b1 - b0) * per_block * sizeof(uint32_t);
				groups[0] = (uint32_t) nseg;
				groups[1] = 1;
				groups[2] = 1;
				RVK_CHECK(rvk_record(ctx, pl.kernel, pipe, bufs, bytes, &pf, groups));
			}
			RVK_CHECK(rvk_submit_wait(ctx));
			RVK_CHECK(rvk_buffer_download(ctx, &bk));
			RVK_CHECK(rvk_buffer_download(ctx, &br));

			ck = bk.map;
			cr = br.map;
			for (b = b0; b < b1; b++)
			{
				size_t		r0 = b * mem->block_rows;
				size_t		rn = rvk_min_size(mem->block_rows, n - r0);
				size_t		nseg,
							qi,
							sg,
							c;

				rvk_fewq_segments(ctx, rn, &seg_rows, &nseg);
				for (qi = 0; qi < qn; qi++)
				{
					for (sg = 0; sg < nseg; sg++)
					{
						size_t		off = (b - b0) * per_block + (qi * nseg + sg) * pl.p;

						/* block rows -> corpus rows; the padding ends the list */
						for (c = 0; c < mlist; c++)
							tr[c] = cr[off + c] == 0xffffffffu ? -1 :
								(int64_t) (r0 + cr[off + c]);
						rv_topk_merge(rows + (q0 + qi) * kc, keys + (q0 + qi) * kc, kc, tr,
									  ck + off, mlist);
					}
				}
			}
		}
	}

cleanup:
	rv_free(ctx, tr);
	rvk_buffer_destroy(ctx, &br);
	rvk_buffer_destroy(ctx, &bk);
	rvk_buffer_destroy(ctx, &bq);
	return st;
}
