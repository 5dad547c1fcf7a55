/*
 * rownorm.comp — in-place L2 normalization of each output row of the similarity matrix
 * (the "normalize" option of rv_simmatrix); a zero row stays zero, as on the CPU.
 * One workgroup of 64 threads per row: strided partial sums, then a tree reduction in
 * shared memory. The grid is 2-D so that more rows than maxComputeWorkGroupCount[0]
 * fit in one dispatch.
 */
#version 450
#extension GL_GOOGLE_include_directive : require
#define RV_PUSH_ROWNORM
#include "push.glsl"

layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;

layout(std430, binding = 0) buffer O { float o[]; };

shared float part[64];

void
main()
{
	uint		row = gl_WorkGroupID.y * pc.groups_x + gl_WorkGroupID.x;
	uint		t = gl_LocalInvocationID.x;
	float		s = 0.0;

	/* uniform per workgroup: every thread of a workgroup takes the same branch */
	if (row >= pc.n)
		return;
	for (uint j = t; j < pc.k; j += 64u)
	{
		float		v = o[row * pc.stride + j];

		s = fma(v, v, s);
	}
	part[t] = s;
	/* partial sums -> tree reduction */
	barrier();
	for (uint w = 32u; w > 0u; w >>= 1)
	{
		if (t < w)
			part[t] += part[t + w];
		/* this level's sums -> the next level's reads */
		barrier();
	}
	if (part[0] > 0.0)
	{
		float		inv = 1.0 / sqrt(part[0]);

		for (uint j = t; j < pc.k; j += 64u)
			o[row * pc.stride + j] *= inv;
	}
}
