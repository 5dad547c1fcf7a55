/*
 * vk/fewq.c — the host side of the few-query kernel (shaders/fewq.glsl): its plan (how
 * many queries one pipeline takes, the list length, shared memory, the subgroup or plain
 * variant), the cut of a corpus block into segments, and rv_topk for small batches.
 *
 * Why a kernel of its own: the similarity-matrix tile (64 x 64) wastes 63/64 of its work
 * when one query comes, and topk.comp reads the corpus once per query. fewq reads each
 * corpus row once per batch of up to 16 queries, in coalesced 16-byte pieces, and keeps
 * only a short list per workgroup; the host merges the lists with rv_topk_merge. That
 * makes one query a pass over the corpus at memory speed, the floor of an exact search.
 *
 * Plan. P is the power of two >= k, at least 16 (at most RVK_FEWQ_MAX_P), SLOTS the power
 * of two >= P + RVK_FEWQ_ROUND; NQ (1, 4 or 16: few variants to compile, and queries past
 * the batch cost a uniform branch, not a pass) is the smallest that holds the batch,
 * divided by 4 until the queries fit one binding and NQ x SLOTS pairs fit the device's
 * shared memory.
 * Segments: at most about 1024 workgroups per dispatch, at least 256 rows each, in whole
 * rounds. rv_topk takes this path for 1 to 16 queries when the plan fits (else topk.comp):
 * the corpus chunk is uploaded a block (one binding) at a time, each block is one dispatch
 * per group of NQ queries, and each segment's P best are merged into the best lists with
 * the same total order as the CPU twin (cpu/fewq.c, cpu/topk.c).
 */
#include <string.h>

#include "vk_internal.h"

/* Workgroups one dispatch aims at (several per multiprocessor of a large GPU). */
#define FEWQ_TARGET_GROUPS 1024
/* Fewest rounds per workgroup: the selection's first sorts are paid once per segment. */
#define FEWQ_MIN_ROUNDS 4
#define FEWQ_NONE 0xffffffffu

/* Shared memory of the kernel for nq queries of slots pairs (fewq.glsl's arrays). */
static size_t
fewq_shared(uint32_t nq, uint32_t slots)
{
	return (size_t) nq * slots * 8 + (size_t) nq * 16;
}

/*
 * Plan a few-query search of nq queries (1 ..) for lists of k, over rows of d floats.
 * RV_E_LIMIT when even one query does not fit the device (k too large for its shared
 * memory, a row longer than a binding).
 */
rv_status
rvk_fewq_plan_make(rv_ctx *ctx, size_t nq, size_t k, size_t d, rvk_fewq_plan *out)
{
	const VkPhysicalDeviceLimits *lim = &ctx->vk->props.limits;
	size_t		range = rvk_binding_limit(ctx);
	size_t		row_bytes = d * sizeof(float);
	uint32_t	p = 16,
				slots = 1,
				nqc = 1;
	rv_status	st;

	/* few variants to compile: lists of at least 16, batches of 1, 4 or 16 queries */
	memset(out, 0, sizeof(*out));
	while (p < k)
		p <<= 1;
	while (slots < p + RVK_FEWQ_ROUND)
		slots <<= 1;
	while (nqc < nq && nqc < RVK_FEWQ_MAX_NQ)
		nqc <<= 2;
	while (nqc > 1 && ((size_t) nqc * row_bytes > range ||
					   fewq_shared(nqc, slots) > lim->maxComputeSharedMemorySize))
		nqc >>= 2;
	if (p > RVK_FEWQ_MAX_P || row_bytes > range || p * sizeof(float) > range ||
		fewq_shared(nqc, slots) > lim->maxComputeSharedMemorySize)
	{
		st = rv_fail(ctx, RV_E_LIMIT, "top-k of %zu dimensions and k = %zu does not fit the "
					 "few-query kernel", d, k);
		rv_set_detail(ctx, "%zu bytes per row, binding limit %zu bytes; %zu bytes of shared "
					  "memory, device limit %u", row_bytes, range, fewq_shared(1, slots),
					  lim->maxComputeSharedMemorySize);
		return st;
	}
	out->kernel = ctx->vk->subgroup_size > 0 ? RVK_K_FEWQ : RVK_K_FEWQ_PLAIN;
	out->nq = nqc;
	out->p = p;
	out->slots = slots;
	out->vec4 = (d % 4 == 0) ? 1 : 0;
	out->shared_bytes = fewq_shared(nqc, slots);
	return rvk_check_kernel(ctx, out->kernel);
}

/* The pipeline of a plan for metric m and key mode (0: rv_topk, 1: resident top-k). */
rv_status
rvk_fewq_pipeline(rv_ctx *ctx, const rvk_fewq_plan *pl, rv_metric m, int keymode,
				  VkPipeline *out)
{
	uint32_t	spec[7];

	spec[0] = (uint32_t) m;
	spec[1] = pl->nq;
	spec[2] = pl->p;
	spec[3] = pl->slots;
	spec[4] = (uint32_t) keymode;
	spec[5] = pl->vec4;
	spec[6] = ctx->fewq_no_unroll ? 0u : 1u;
	return rvk_pipeline(ctx, pl->kernel, spec, out);
}

/* Bench hook: aim at this many workgroups (0: 1024) and unroll the row loads or not. */
void
rvk_set_fewq_tuning(rv_ctx *ctx, size_t groups, int unroll)
{
	ctx->fewq_groups = groups;
	ctx->fewq_no_unroll = !unroll;
}

/* Cut a block of rows into segments: *seg_rows per workgroup, *nseg workgroups. */
void
rvk_fewq_segments(rv_ctx *ctx, size_t rows, size_t *seg_rows, size_t *nseg)
{
	size_t		target = ctx->fewq_groups > 0 ? ctx->fewq_groups : FEWQ_TARGET_GROUPS;
	size_t		rounds = (rows + RVK_FEWQ_ROUND - 1) / RVK_FEWQ_ROUND;
	size_t		per = (rounds + target - 1) / target;

	if (per < FEWQ_MIN_ROUNDS)
		per = FEWQ_MIN_ROUNDS;
	*seg_rows = per * RVK_FEWQ_ROUND;
	*nseg = (rows + *seg_rows - 1) / *seg_rows;
	if (*nseg == 0)
		*nseg = 1;
}

/*
 * rv_topk through the few-query kernel (key mode 0: the device's float32 distances),
 * for a plan made for these arguments; RV_E_LIMIT when the candidate lists of one block
 * do not fit a binding (the caller then takes topk.comp).
 */
rv_status
rvk_fewq_topk(rv_ctx *ctx, const rv_topk_args *args, const rvk_fewq_plan *pl)
{
	size_t		range = rvk_binding_limit(ctx);
	size_t		nq = args->nq,
				n = args->n,
				d = args->d,
				k = args->k;
	size_t		row_bytes = d * sizeof(float);
	size_t		nb,
				seg_rows,
				nseg_max,
				x0,
				q0;
	size_t		m = pl->p < k ? pl->p : k;
	VkPipeline	pipe = VK_NULL_HANDLE;
	rvk_buffer	bq,
				bx,
				bk,
				br;
	int64_t    *tr = NULL;
	rv_status	st = RV_OK;

	memset(&bq, 0, sizeof(bq));
	memset(&bx, 0, sizeof(bx));
	memset(&bk, 0, sizeof(bk));
	memset(&br, 0, sizeof(br));
	if (nq == 0 || n == 0)
		return RV_OK;

	/* corpus rows per block: one binding, and lists of one block in one binding */
	nb = rvk_min_size(n, range / row_bytes);
	rvk_fewq_segments(ctx, nb, &seg_rows, &nseg_max);
	while (nb > 1 && (size_t) pl->nq * nseg_max * pl->p * sizeof(float) > range)
	{
		nb = (nb + 1) / 2;
		rvk_fewq_segments(ctx, nb, &seg_rows, &nseg_max);
	}
	if ((size_t) pl->nq * nseg_max * pl->p * sizeof(float) > range)
	{
		st = rv_fail(ctx, RV_E_LIMIT, "candidate lists of k = %zu do not fit one Vulkan storage "
					 "buffer binding", k);
		rv_set_detail(ctx, "%zu bytes per list, binding limit %zu bytes",
					  (size_t) pl->nq * pl->p * sizeof(float), range);
		return st;
	}

	RVK_CHECK(rvk_fewq_pipeline(ctx, pl, args->metric, 0, &pipe));
	RVK_CHECK(rvk_buffer_create(ctx, (size_t) pl->nq * row_bytes, &bq));
	RVK_CHECK(rvk_buffer_create(ctx, nb * row_bytes, &bx));
	RVK_CHECK(rvk_buffer_create_readback(ctx, (size_t) pl->nq * nseg_max * pl->p * sizeof(float), &bk));
	RVK_CHECK(rvk_buffer_create_readback(ctx, (size_t) pl->nq * nseg_max * pl->p * sizeof(uint32_t), &br));
	tr = rv_alloc(ctx, m * sizeof(int64_t));
	if (tr == NULL)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory");
		goto cleanup;
	}

	for (x0 = 0; x0 < n; x0 += nb)
	{
		size_t		xn = rvk_min_size(nb, n - x0);
		size_t		nseg;

		rvk_fewq_segments(ctx, xn, &seg_rows, &nseg);
		RVK_CHECK(rvk_buffer_upload(ctx, &bx, args->x + x0 * d, xn * row_bytes));
		for (q0 = 0; q0 < nq; q0 += pl->nq)
		{
			size_t		qn = rvk_min_size(pl->nq, nq - q0);
			rvk_push_fewq pf;
			rvk_buffer *bufs[4];
			VkDeviceSize bytes[4];
			uint32_t	groups[3];
			const float *ck;
			const uint32_t *cr;
			size_t		qi,
						sg,
						c;

			RVK_CHECK(rvk_buffer_upload(ctx, &bq, args->q + q0 * d, qn * row_bytes));
			pf.nq = (uint32_t) qn;
			pf.n = (uint32_t) xn;
			pf.d = (uint32_t) d;
			pf.seg_rows = (uint32_t) seg_rows;
			pf.nseg = (uint32_t) nseg;
			pf.out_base = 0;
			bufs[0] = &bq;
			bufs[1] = &bx;
			bufs[2] = &bk;
			bufs[3] = &br;
			bytes[0] = (VkDeviceSize) pl->nq * row_bytes;
			bytes[1] = xn * row_bytes;
			bytes[2] = qn * nseg * pl->p * sizeof(float);
			bytes[3] = qn * nseg * pl->p * sizeof(uint32_t);
			groups[0] = (uint32_t) nseg;
			groups[1] = 1;
			groups[2] = 1;
			RVK_CHECK(rvk_begin(ctx));
			RVK_CHECK(rvk_record(ctx, pl->kernel, pipe, bufs, bytes, &pf, groups));
			RVK_CHECK(rvk_submit_wait(ctx));
			RVK_CHECK(rvk_buffer_download(ctx, &bk));
			RVK_CHECK(rvk_buffer_download(ctx, &br));

			ck = bk.map;
			cr = br.map;
			for (qi = 0; qi < qn; qi++)
			{
				int64_t    *brow = args->best_rows + (q0 + qi) * k;
				float	   *bdist = args->best_dist + (q0 + qi) * k;

				for (sg = 0; sg < nseg; sg++)
				{
					size_t		off = (qi * nseg + sg) * pl->p;

					/* block-local rows -> row numbers; the padding ends the list */
					for (c = 0; c < m; c++)
						tr[c] = cr[off + c] == FEWQ_NONE ? -1 :
							args->row_base + (int64_t) (x0 + cr[off + c]);
					rv_topk_merge(brow, bdist, k, tr, ck + off, m);
				}
			}
		}
		if (rv_interrupted(ctx))
		{
			st = rv_fail(ctx, RV_E_INTERRUPTED, "canceling statement due to user request");
			goto cleanup;
		}
	}

cleanup:
	rv_free(ctx, tr);
	rvk_buffer_destroy(ctx, &br);
	rvk_buffer_destroy(ctx, &bk);
	rvk_buffer_destroy(ctx, &bx);
	rvk_buffer_destroy(ctx, &bq);
	return st;
}
