/*
 * vk/topk.c — rv_topk on the open Vulkan device: batches of up to 16 queries through the
 * few-query kernel (fewq.c) when it fits, larger ones through shaders/topk.comp.
 *
 * The device computes, for each query and each segment of corpus rows, that segment's
 * best P candidates (P = the power of two >= k) sorted by the total order (distance, then
 * row number); the host merges each segment's list into the query's best list with the
 * same order, so the result equals the CPU twin's wherever distances are distinct beyond
 * rounding, and ties (duplicate rows) break by row number on both.
 *
 * Blocking: corpus blocks of nb rows and query blocks of nqb queries are chosen so that
 * every binding (queries, corpus, candidate distances, candidate rows) stays within the
 * binding limit and the grid (segments x queries) within maxComputeWorkGroupCount. The
 * segment length is picked once for the largest corpus block, aiming at a few hundred
 * workgroups per dispatch.
 */
#include <math.h>
#include <string.h>

#include "vk_internal.h"

#define TOPK_SLOTS 2048			/* shared-memory pairs per workgroup in topk.comp */
#define TOPK_MAX_P 1024			/* largest P: every round must take in new rows */
#define TOPK_TARGET_GROUPS 256
#define TOPK_NONE 0xffffffffu

/* rv_topk on the open device; args were checked by the dispatcher. */
rv_status
rvk_topk(rv_ctx *ctx, const rv_topk_args *args)
{
	rvk_state  *s = ctx->vk;
	const VkPhysicalDeviceLimits *lim = &s->props.limits;
	size_t		range = rvk_binding_limit(ctx);
	size_t		nq = args->nq,
				n = args->n,
				d = args->d,
				k = args->k;
	size_t		row_bytes = d * sizeof(float);
	size_t		p = 1,
				slots,
				fresh,
				nb,
				nqb,
				seg_rows,
				nseg_max,
				per_q,
				cand_cap,
				x0,
				q0;
	uint32_t	spec[3];
	VkPipeline	pipe = VK_NULL_HANDLE;
	rvk_buffer	bq,
				bx,
				bd,
				bi;
	int64_t    *tr = NULL;		/* one segment's candidate rows */
	rv_status	st = RV_OK;

	memset(&bq, 0, sizeof(bq));
	memset(&bx, 0, sizeof(bx));
	memset(&bd, 0, sizeof(bd));
	memset(&bi, 0, sizeof(bi));
	if (nq == 0 || n == 0)
		return RV_OK;

	/* a small batch: one pass over the corpus for all its queries (fewq.c) */
	if (nq <= RVK_FEWQ_MAX_NQ)
	{
		rvk_fewq_plan pl;

		st = rvk_fewq_plan_make(ctx, nq, k, d, &pl);
		if (st == RV_OK)
			st = rvk_fewq_topk(ctx, args, &pl);
		if (st != RV_E_LIMIT && st != RV_E_UNSUPPORTED)
			return st;
		/* it does not fit the few-query kernel: one workgroup per query and segment */
		rv_clear_error(ctx);
		st = RV_OK;
	}
	while (p < k)
		p <<= 1;
	if (p > TOPK_MAX_P)
		return rv_fail(ctx, RV_E_LIMIT, "k = %zu exceeds the Vulkan top-k limit %d", k,
					   TOPK_MAX_P);
	fresh = TOPK_SLOTS - p;
	if (row_bytes > range || p * sizeof(float) > range)
	{
		st = rv_fail(ctx, RV_E_LIMIT, "top-k of %zu dimensions and k = %zu does not fit one "
					 "Vulkan storage buffer binding", d, k);
		rv_set_detail(ctx, "%zu bytes per row, %zu bytes per candidate list, binding limit "
					  "%zu bytes", row_bytes, p * sizeof(float), range);
		return st;
	}

	/* the plan, made once for the largest corpus block */
	nb = rvk_min_size(n, range / row_bytes);
	nqb = rvk_min_size(nq, range / row_bytes);
	nqb = rvk_min_size(nqb, lim->maxComputeWorkGroupCount[1]);
	cand_cap = range / (p * sizeof(float));	/* (query, segment) lists per binding */
	nseg_max = (nb + fresh - 1) / fresh;
	nseg_max = rvk_min_size(nseg_max, TOPK_TARGET_GROUPS / nqb > 0 ? TOPK_TARGET_GROUPS / nqb : 1);
	nseg_max = rvk_min_size(nseg_max, cand_cap);
	nseg_max = rvk_min_size(nseg_max, lim->maxComputeWorkGroupCount[0]);
	if (nseg_max == 0)
		nseg_max = 1;
	seg_rows = (nb + nseg_max - 1) / nseg_max;
	nseg_max = (nb + seg_rows - 1) / seg_rows;
	nqb = rvk_min_size(nqb, cand_cap / nseg_max);
	per_q = nseg_max * p;
	/* the smallest sort buffer that takes a whole segment in one round, if it can */
	slots = 2 * p;
	while (slots < TOPK_SLOTS && slots < p + seg_rows)
		slots <<= 1;

	spec[0] = (uint32_t) args->metric;
	spec[1] = (uint32_t) p;
	spec[2] = (uint32_t) slots;
	RVK_CHECK(rvk_pipeline(ctx, RVK_K_TOPK, spec, &pipe));
	RVK_CHECK(rvk_buffer_create(ctx, nqb * row_bytes, &bq));
	RVK_CHECK(rvk_buffer_create(ctx, nb * row_bytes, &bx));
	RVK_CHECK(rvk_buffer_create_readback(ctx, nqb * per_q * sizeof(float), &bd));
	RVK_CHECK(rvk_buffer_create_readback(ctx, nqb * per_q * sizeof(uint32_t), &bi));
	tr = rv_alloc(ctx, k * sizeof(int64_t));
	if (tr == NULL)
	{
		st = rv_fail(ctx, RV_E_NOMEM, "out of memory");
		goto cleanup;
	}
	if (nqb == nq)
		RVK_CHECK(rvk_buffer_upload(ctx, &bq, args->q, nq * row_bytes));

	for (x0 = 0; x0 < n; x0 += nb)
	{
		size_t		xn = rvk_min_size(nb, n - x0);
		size_t		nseg = (xn + seg_rows - 1) / seg_rows;

		RVK_CHECK(rvk_buffer_upload(ctx, &bx, args->x + x0 * d, xn * row_bytes));
		for (q0 = 0; q0 < nq; q0 += nqb)
		{
			size_t		qn = rvk_min_size(nqb, nq - q0);
			rvk_push_topk pt;
			rvk_buffer *bufs[4];
			VkDeviceSize bytes[4];
			uint32_t	groups[3];
			const float *cd;
			const uint32_t *ci;
			size_t		qi,
						sg;

			if (nqb != nq)
				RVK_CHECK(rvk_buffer_upload(ctx, &bq, args->q + q0 * d, qn * row_bytes));
			pt.nq = (uint32_t) qn;
			pt.n = (uint32_t) xn;
			pt.d = (uint32_t) d;
			pt.seg_rows = (uint32_t) seg_rows;
			pt.nseg = (uint32_t) nseg;
			bufs[0] = &bq;
			bufs[1] = &bx;
			bufs[2] = &bd;
			bufs[3] = &bi;
			bytes[0] = qn * row_bytes;
			bytes[1] = xn * row_bytes;
			bytes[2] = qn * nseg * p * sizeof(float);
			bytes[3] = qn * nseg * p * sizeof(uint32_t);
			groups[0] = (uint32_t) nseg;
			groups[1] = (uint32_t) qn;
			groups[2] = 1;

			RVK_CHECK(rvk_begin(ctx));
			RVK_CHECK(rvk_record(ctx, RVK_K_TOPK, pipe, bufs, bytes, &pt, groups));
			RVK_CHECK(rvk_submit_wait(ctx));
			RVK_CHECK(rvk_buffer_download(ctx, &bd));
			RVK_CHECK(rvk_buffer_download(ctx, &bi));

			cd = bd.map;
			ci = bi.map;
			for (qi = 0; qi < qn; qi++)
			{
				int64_t    *br = args->best_rows + (q0 + qi) * k;
				float	   *bdist = args->best_dist + (q0 + qi) * k;

				for (sg = 0; sg < nseg; sg++)
				{
					size_t		off = (qi * nseg + sg) * p;

					size_t		m = rvk_min_size(p, k);
					size_t		c;

					/* block-local rows -> row numbers; the padding ends the list */
					for (c = 0; c < m; c++)
						tr[c] = ci[off + c] == TOPK_NONE ? -1 :
							args->row_base + (int64_t) (x0 + ci[off + c]);
					rv_topk_merge(br, bdist, k, tr, cd + off, m);
				}
			}
			if (rv_interrupted(ctx))
			{
				st = rv_fail(ctx, RV_E_INTERRUPTED, "canceling statement due to user request");
				goto cleanup;
			}
		}
	}

cleanup:
	rv_free(ctx, tr);
	rvk_buffer_destroy(ctx, &bi);
	rvk_buffer_destroy(ctx, &bd);
	rvk_buffer_destroy(ctx, &bx);
	rvk_buffer_destroy(ctx, &bq);
	return st;
}

/* Build every pipeline variant up front (benchmarks time pipeline creation alone). */
rv_status
rvk_warm_pipelines(rv_ctx *ctx)
{
	uint32_t	spec[3];
	uint32_t	i,
				p;
	VkPipeline	pipe;
	rv_status	st = RV_OK;

	ctx->vk->pcache_defer = 1;
	for (i = 0; i <= RV_SIM_NEG_LINF; i++)
	{
		spec[0] = i;
		spec[1] = 0;
		RVK_CHECK(rvk_pipeline(ctx, RVK_K_SIMMATRIX, spec, &pipe));
		spec[1] = 1;
		RVK_CHECK(rvk_pipeline(ctx, RVK_K_SIMMATRIX, spec, &pipe));
	}
	RVK_CHECK(rvk_pipeline(ctx, RVK_K_ROWNORM, NULL, &pipe));
	for (i = 0; i <= RV_METRIC_L1; i++)
	{
		for (p = 16; p <= 16; p <<= 1)
		{
			spec[0] = i;
			spec[1] = p;
			spec[2] = TOPK_SLOTS;
			RVK_CHECK(rvk_pipeline(ctx, RVK_K_TOPK, spec, &pipe));
		}
	}
	/* the few-query variants of a top-10 over 768 dimensions: rv_topk, resident, batched */
	for (i = 0; i <= RV_METRIC_L1; i++)
	{
		static const size_t shapes[3][3] = {{1, 10, 0}, {1, 26, 1}, {16, 26, 1}};
		int			sh;

		for (sh = 0; sh < 3; sh++)
		{
			rvk_fewq_plan pl;

			RVK_CHECK(rvk_fewq_plan_make(ctx, shapes[sh][0], shapes[sh][1], 768, &pl));
			RVK_CHECK(rvk_fewq_pipeline(ctx, &pl, (rv_metric) i, (int) shapes[sh][2], &pipe));
		}
	}
cleanup:
	ctx->vk->pcache_defer = 0;
	rvk_pcache_save(ctx);
	return st;
}
