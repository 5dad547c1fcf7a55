/*
 * push.glsl — the push-constant blocks of every kernel, declared once for both sides: the
 * shaders include this file through glslang (which defines VULKAN), and the C backend
 * includes it from bridge/vk/vk_internal.h (where VULKAN is not defined). Only 32-bit
 * scalars appear in the blocks, so the std430 push-constant layout equals the C layout;
 * vk_internal.h checks each C size against the 128 bytes every device guarantees.
 *
 * A shader selects its one block with RV_PUSH_SIMMATRIX, RV_PUSH_ROWNORM, RV_PUSH_TOPK or
 * RV_PUSH_FEWQ before including this file (GLSL allows one push-constant block per stage).
 */
#ifndef RV_PUSH_GLSL
#define RV_PUSH_GLSL

#ifdef VULKAN
#define RV_U32 uint
#define RV_PUSH_BEGIN(name) layout(push_constant) uniform name {
#define RV_PUSH_END(name) } pc;
#else
#include <stdint.h>
#define RV_U32 uint32_t
#define RV_PUSH_BEGIN(name) typedef struct name {
#define RV_PUSH_END(name) } name;
#endif

/* Edge of the square output tile one simmatrix workgroup computes (the grid's unit). */
#define RV_SIM_TILE 64

/* Similarity matrix over one block: out[i * out_stride + j] for i < n, j < k. */
#if !defined(VULKAN) || defined(RV_PUSH_SIMMATRIX)
RV_PUSH_BEGIN(rvk_push_simmatrix)
	RV_U32		n;				/* rows of x in this block */
	RV_U32		k;				/* anchors in this block */
	RV_U32		d;				/* dimensions */
	RV_U32		out_stride;		/* floats between two output rows */
RV_PUSH_END(rvk_push_simmatrix)
#endif

/* In-place L2 normalization of the first k values of each of n rows. */
#if !defined(VULKAN) || defined(RV_PUSH_ROWNORM)
RV_PUSH_BEGIN(rvk_push_rownorm)
	RV_U32		n;				/* rows */
	RV_U32		k;				/* values per row */
	RV_U32		stride;			/* floats between two rows */
	RV_U32		groups_x;		/* workgroups along x (the row grid is 2-D) */
RV_PUSH_END(rvk_push_rownorm)
#endif

/* Per-segment top-p candidates of nq queries over n corpus rows. */
#if !defined(VULKAN) || defined(RV_PUSH_TOPK)
RV_PUSH_BEGIN(rvk_push_topk)
	RV_U32		nq;				/* queries in this block */
	RV_U32		n;				/* corpus rows in this block */
	RV_U32		d;				/* dimensions */
	RV_U32		seg_rows;		/* corpus rows per workgroup */
	RV_U32		nseg;			/* segments (workgroups along x) */
RV_PUSH_END(rvk_push_topk)
#endif

/* Per-segment top-P of up to NQ queries over one corpus block (fewq.glsl). */
#if !defined(VULKAN) || defined(RV_PUSH_FEWQ)
RV_PUSH_BEGIN(rvk_push_fewq)
	RV_U32		nq;				/* queries in this dispatch (<= NQ) */
	RV_U32		n;				/* corpus rows in this block */
	RV_U32		d;				/* dimensions */
	RV_U32		seg_rows;		/* corpus rows per workgroup */
	RV_U32		nseg;			/* segments (workgroups along x) */
	RV_U32		out_base;		/* first list entry of this block in the outputs */
RV_PUSH_END(rvk_push_fewq)
#endif

#endif							/* RV_PUSH_GLSL */
