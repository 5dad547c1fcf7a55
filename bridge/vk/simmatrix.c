/*
 * vk/simmatrix.c — rv_simmatrix on the open Vulkan device (shaders/simmatrix.comp, then
 * shaders/rownorm.comp for the normalize option).
 *
 * Blocking: every storage-buffer binding must stay within the binding limit (the device's
 * maxStorageBufferRange, or the split set by rv_set_split_bytes), and every dispatch
 * within maxComputeWorkGroupCount. So the anchors are cut into column blocks of kc
 * anchors and x into row blocks of nr rows such that nr x d, kc x d and nr x kc floats
 * each fit one binding; each (row block, column block) pair is one submission whose
 * output block is copied into args->out at its place. Row normalization needs a whole
 * output row: it runs on the device when the anchors are one block, else on the host
 * after the last block.
 *
 * Memory. On a discrete GPU the kernels read and write device-local buffers: each
 * submission starts with copies of its new row block (and anchors and center, once) from
 * the mapped host-visible buffers, and ends with a copy of the output block into cached host
 * memory, so no kernel reads across the bus and the host never reads device memory through
 * the BAR. The bench hook rvk_timing_mark counts the kernels alone. On unified memory
 * (integrated GPUs, lavapipe) the kernels use the mapped buffers directly.
 */
#include <math.h>
#include <string.h>

#include "vk_internal.h"

/* L2-normalize each of n rows of k floats in place (a zero row stays zero). */
static void
host_normalize(float *out, size_t n, size_t k)
{
	size_t		i,
				j;

	for (i = 0; i < n; i++)
	{
		float	   *row = out + i * k;
		double		s = 0.0;

		for (j = 0; j < k; j++)
			s += (double) row[j] * row[j];
		if (s > 0.0)
		{
			double		inv = 1.0 / sqrt(s);

			for (j = 0; j < k; j++)
				row[j] = (float) (row[j] * inv);
		}
	}
}

/* rv_simmatrix on the open device; args were checked by the dispatcher. */
rv_status
rvk_simmatrix(rv_ctx *ctx, const rv_simmatrix_args *args)
{
	rvk_state  *s = ctx->vk;
	const VkPhysicalDeviceLimits *lim = &s->props.limits;
	size_t		range = rvk_binding_limit(ctx);
	size_t		n = args->n,
				k = args->k,
				d = args->d;
	size_t		row_bytes = d * sizeof(float);
	size_t		kc,
				nr,
				r0,
				c0;
	int			gpu_norm;
	uint32_t	spec[2];
	VkPipeline	p_sim = VK_NULL_HANDLE,
				p_norm = VK_NULL_HANDLE;
	rvk_buffer	bx,
				ba,
				bc,
				bo,
				dx,
				da,
				dc,
				dout;
	rvk_buffer *ux = &bx,
			   *ua = &ba,
			   *uc = &bc,
			   *uo = &bo;
	int			dev_mem = !rvk_unified_memory(ctx);
	int			a_on_device = 0;
	rv_status	st = RV_OK;

	memset(&bx, 0, sizeof(bx));
	memset(&ba, 0, sizeof(ba));
	memset(&bc, 0, sizeof(bc));
	memset(&bo, 0, sizeof(bo));
	memset(&dx, 0, sizeof(dx));
	memset(&da, 0, sizeof(da));
	memset(&dc, 0, sizeof(dc));
	memset(&dout, 0, sizeof(dout));
	if (n == 0 || k == 0)
		return RV_OK;
	if (row_bytes > range)
	{
		st = rv_fail(ctx, RV_E_LIMIT, "embedding of %zu dimensions does not fit one Vulkan "
					 "storage buffer binding", d);
		rv_set_detail(ctx, "%zu bytes per row, binding limit %zu bytes", row_bytes, range);
		return st;
	}
	/* column block: anchors in one binding, an output row in one binding, grid x */
	kc = rvk_min_size(k, range / row_bytes);
	kc = rvk_min_size(kc, range / sizeof(float));
	kc = rvk_min_size(kc, (size_t) lim->maxComputeWorkGroupCount[0] * RV_SIM_TILE);
	/* row block: rows in one binding, the output block in one binding, grid y */
	nr = rvk_min_size(n, range / row_bytes);
	nr = rvk_min_size(nr, range / (kc * sizeof(float)));
	nr = rvk_min_size(nr, (size_t) lim->maxComputeWorkGroupCount[1] * RV_SIM_TILE);
	gpu_norm = args->normalize && kc == k;

	spec[0] = (uint32_t) args->sim;
	spec[1] = args->center != NULL ? 1u : 0u;
	RVK_CHECK(rvk_pipeline(ctx, RVK_K_SIMMATRIX, spec, &p_sim));
	if (gpu_norm)
		RVK_CHECK(rvk_pipeline(ctx, RVK_K_ROWNORM, NULL, &p_norm));

	RVK_CHECK(rvk_buffer_create(ctx, nr * row_bytes, &bx));
	RVK_CHECK(rvk_buffer_create(ctx, kc * row_bytes, &ba));
	RVK_CHECK(rvk_buffer_create(ctx, row_bytes, &bc));
	RVK_CHECK(rvk_buffer_create_readback(ctx, nr * kc * sizeof(float), &bo));
	if (dev_mem)
	{
		/* a discrete GPU: the kernels read and write device memory; copies cross the bus */
		RVK_CHECK(rvk_buffer_create_device(ctx, nr * row_bytes, &dx));
		RVK_CHECK(rvk_buffer_create_device(ctx, kc * row_bytes, &da));
		RVK_CHECK(rvk_buffer_create_device(ctx, row_bytes, &dc));
		RVK_CHECK(rvk_buffer_create_device(ctx, nr * kc * sizeof(float), &dout));
		ux = &dx;
		ua = &da;
		uc = &dc;
		uo = &dout;
	}
	if (args->center != NULL)
		RVK_CHECK(rvk_buffer_upload(ctx, &bc, args->center, row_bytes));
	if (kc == k)
		RVK_CHECK(rvk_buffer_upload(ctx, &ba, args->a, k * row_bytes));

	for (r0 = 0; r0 < n; r0 += nr)
	{
		size_t		rn = rvk_min_size(nr, n - r0);

		RVK_CHECK(rvk_buffer_upload(ctx, &bx, args->x + r0 * d, rn * row_bytes));
		for (c0 = 0; c0 < k; c0 += kc)
		{
			size_t		cn = rvk_min_size(kc, k - c0);
			rvk_push_simmatrix ps;
			rvk_buffer *bufs[4];
			VkDeviceSize bytes[4];
			uint32_t	groups[3];
			size_t		i;
			const float *src;

			if (kc != k)
				RVK_CHECK(rvk_buffer_upload(ctx, &ba, args->a + c0 * d, cn * row_bytes));
			ps.n = (uint32_t) rn;
			ps.k = (uint32_t) cn;
			ps.d = (uint32_t) d;
			ps.out_stride = (uint32_t) cn;
			bufs[0] = ux;
			bufs[1] = ua;
			bufs[2] = uc;
			bufs[3] = uo;
			bytes[0] = rn * row_bytes;
			bytes[1] = cn * row_bytes;
			bytes[2] = row_bytes;
			bytes[3] = rn * cn * sizeof(float);
			groups[0] = (uint32_t) ((cn + RV_SIM_TILE - 1) / RV_SIM_TILE);
			groups[1] = (uint32_t) ((rn + RV_SIM_TILE - 1) / RV_SIM_TILE);
			groups[2] = 1;

			RVK_CHECK(rvk_begin(ctx));
			if (dev_mem)
			{
				if (c0 == 0)
					rvk_copy(ctx, &bx, &dx, rn * row_bytes);
				if (kc != k || !a_on_device)
				{
					rvk_copy(ctx, &ba, &da, cn * row_bytes);
					rvk_copy(ctx, &bc, &dc, row_bytes);
					a_on_device = 1;
				}
				/* the copies -> the kernels' reads */
				rvk_barrier_copy_to_compute(ctx);
			}
			RVK_CHECK(rvk_record(ctx, RVK_K_SIMMATRIX, p_sim, bufs, bytes, &ps, groups));
			if (gpu_norm)
			{
				rvk_push_rownorm pn;
				rvk_buffer *nbufs[1];
				VkDeviceSize nbytes[1];
				uint32_t	ngroups[3];

				pn.n = (uint32_t) rn;
				pn.k = (uint32_t) cn;
				pn.stride = (uint32_t) cn;
				pn.groups_x = (uint32_t) rvk_min_size(rn, lim->maxComputeWorkGroupCount[0]);
				nbufs[0] = uo;
				nbytes[0] = bytes[3];
				ngroups[0] = pn.groups_x;
				ngroups[1] = (uint32_t) ((rn + pn.groups_x - 1) / pn.groups_x);
				ngroups[2] = 1;
				/* simmatrix writes of the block -> rownorm's reads and writes */
				rvk_barrier(ctx);
				RVK_CHECK(rvk_record(ctx, RVK_K_ROWNORM, p_norm, nbufs, nbytes, &pn, ngroups));
			}
			rvk_timing_mark(ctx);
			if (dev_mem)
			{
				/* the kernels' writes -> the copy of the results to host memory */
				rvk_barrier_compute_to_copy(ctx);
				rvk_copy(ctx, &dout, &bo, rn * cn * sizeof(float));
			}
			RVK_CHECK(rvk_submit_wait(ctx));
			RVK_CHECK(rvk_buffer_download(ctx, &bo));

			src = bo.map;
			if (cn == k)
				memcpy(args->out + r0 * k, src, rn * k * sizeof(float));
			else
				for (i = 0; i < rn; i++)
					memcpy(args->out + (r0 + i) * k + c0, src + i * cn, cn * sizeof(float));
		}
	}
	if (args->normalize && !gpu_norm)
		host_normalize(args->out, n, k);

cleanup:
	rvk_buffer_destroy(ctx, &dout);
	rvk_buffer_destroy(ctx, &dc);
	rvk_buffer_destroy(ctx, &da);
	rvk_buffer_destroy(ctx, &dx);
	rvk_buffer_destroy(ctx, &bo);
	rvk_buffer_destroy(ctx, &bc);
	rvk_buffer_destroy(ctx, &ba);
	rvk_buffer_destroy(ctx, &bx);
	return st;
}
