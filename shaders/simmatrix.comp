/*
 * simmatrix.comp — similarity matrix out[i][j] = sim(x_i - c, a_j - c) over one block of
 * rows and anchors, the GPU twin of rvc_simmatrix.
 *
 * Tiling: a workgroup of 16 x 16 threads owns a 64 x 64 tile of the output (64 rows of x
 * by 64 anchors); each thread owns a 4 x 4 sub-tile, strided by 16 so that neighbouring
 * threads read neighbouring shared-memory words. The d dimensions are walked in slices
 * of 16: the workgroup stages a 64 x 16 slice of x and of the anchors in shared memory
 * (centered on load), and every thread accumulates its 16 pairs from there. Values past
 * the end of the matrix are staged as 0, which adds nothing to any of the sums, so
 * sizes that do not fill a tile need no special case in the inner loop.
 *
 * The similarity function and centering are specialization constants, so each pipeline
 * variant has a branch-free inner loop. Sums are accumulated directly over differences
 * (not through |x|^2 + |a|^2 - 2 x.a), which keeps negative L2 accurate for nearby
 * vectors. Cosine with a zero vector (after centering) is 0 and is clamped to [-1, 1],
 * as on the CPU.
 */
#version 450
#extension GL_GOOGLE_include_directive : require
#define RV_PUSH_SIMMATRIX
#include "push.glsl"

layout(local_size_x = 16, local_size_y = 16, local_size_z = 1) in;

layout(constant_id = 0) const uint SIM = 0;		/* rv_sim */
layout(constant_id = 1) const uint CENTER = 0;	/* 1: subtract c */

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer C { float c[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };

const uint SIM_COSINE = 0u;
const uint SIM_DOT = 1u;
const uint SIM_NEG_L2 = 2u;
const uint SIM_NEG_L1 = 3u;
const uint SIM_NEG_LINF = 4u;

const uint TILE = uint(RV_SIM_TILE);
const uint SLICE = 16u;

shared float xs[SLICE][TILE + 1u];
shared float as_[SLICE][TILE + 1u];

void
main()
{
	uint		tx = gl_LocalInvocationID.x;	/* anchor direction */
	uint		ty = gl_LocalInvocationID.y;	/* row direction */
	uint		tid = ty * 16u + tx;
	uint		row0 = gl_WorkGroupID.y * TILE;
	uint		col0 = gl_WorkGroupID.x * TILE;
	float		acc[4][4];
	float		nx[4];
	float		na[4];

	for (uint i = 0u; i < 4u; i++)
	{
		nx[i] = 0.0;
		na[i] = 0.0;
		for (uint j = 0u; j < 4u; j++)
			acc[i][j] = 0.0;
	}

	for (uint d0 = 0u; d0 < pc.d; d0 += SLICE)
	{
		/* stage 64 x 16 of x and of the anchors: 1024 values each, 4 per thread */
		for (uint e = tid; e < TILE * SLICE; e += 256u)
		{
			uint		r = e / SLICE;
			uint		dd = e % SLICE;
			uint		gd = d0 + dd;
			float		cv = 0.0;
			float		xv = 0.0;
			float		av = 0.0;

			if (gd < pc.d)
			{
				if (CENTER != 0u)
					cv = c[gd];
				if (row0 + r < pc.n)
					xv = x[(row0 + r) * pc.d + gd] - cv;
				if (col0 + r < pc.k)
					av = a[(col0 + r) * pc.d + gd] - cv;
			}
			xs[dd][r] = xv;
			as_[dd][r] = av;
		}
		/* staging writes -> reads of the slice below */
		barrier();

		for (uint dd = 0u; dd < SLICE; dd++)
		{
			float		xr[4];
			float		ar[4];

			for (uint i = 0u; i < 4u; i++)
			{
				xr[i] = xs[dd][ty + 16u * i];
				ar[i] = as_[dd][tx + 16u * i];
			}
			if (SIM == SIM_COSINE)
			{
				for (uint i = 0u; i < 4u; i++)
				{
					nx[i] = fma(xr[i], xr[i], nx[i]);
					na[i] = fma(ar[i], ar[i], na[i]);
				}
			}
			for (uint i = 0u; i < 4u; i++)
			{
				for (uint j = 0u; j < 4u; j++)
				{
					if (SIM == SIM_COSINE || SIM == SIM_DOT)
						acc[i][j] = fma(xr[i], ar[j], acc[i][j]);
					else
					{
						float		df = xr[i] - ar[j];

						if (SIM == SIM_NEG_L2)
							acc[i][j] = fma(df, df, acc[i][j]);
						else if (SIM == SIM_NEG_L1)
							acc[i][j] += abs(df);
						else
							acc[i][j] = max(acc[i][j], abs(df));
					}
				}
			}
		}
		/* reads of this slice -> staging of the next one */
		barrier();
	}

	for (uint i = 0u; i < 4u; i++)
	{
		uint		r = row0 + ty + 16u * i;

		if (r >= pc.n)
			continue;
		for (uint j = 0u; j < 4u; j++)
		{
			uint		cc = col0 + tx + 16u * j;
			float		v;

			if (cc >= pc.k)
				continue;
			if (SIM == SIM_COSINE)
				v = (nx[i] > 0.0 && na[j] > 0.0) ?
					clamp(acc[i][j] / (sqrt(nx[i]) * sqrt(na[j])), -1.0, 1.0) : 0.0;
			else if (SIM == SIM_DOT)
				v = acc[i][j];
			else if (SIM == SIM_NEG_L2)
				v = -sqrt(acc[i][j]);
			else
				v = -acc[i][j];
			o[r * pc.out_stride + cc] = v;
		}
	}
}
