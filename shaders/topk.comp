/*
 * topk.comp — exact top-p candidates of one query over one segment of corpus rows, the
 * GPU half of rvk_topk (the host merges the per-segment lists into each query's best
 * list with the same total order).
 *
 * Algorithm: workgroup (segment s, query q) keeps a buffer of SLOTS (distance, row)
 * pairs in shared memory. Slots [0, P) hold the best P found so far, sorted; each round
 * the 256 threads fill slots [P, SLOTS) with the distances of the next SLOTS - P rows of
 * the segment (+inf / row 0xffffffff past its end), and a bitonic sort of all SLOTS slots
 * puts the new best P back in front. After the last round slots [0, P) are written out.
 * P is the power of two >= k (<= 1024) and SLOTS a power of two from 2P up to 2048
 * (16 KiB of shared memory), both specialization constants: the host picks SLOTS just
 * large enough for a segment, so short segments do not pay for a 2048-slot sort. Pairs are ordered by distance, then by row number: the total order of the
 * CPU twin, so ties between equal distances break the same way everywhere.
 *
 * Distances (the metric is a specialization constant): L2 = sqrt(sum (q - x)^2),
 * IP = -(q . x), cosine = 1 - clamp(q.x / (|q| |x|), -1, 1) (1 when either is zero),
 * L1 = sum |q - x|. Each thread computes a whole row in one fixed order, so duplicate
 * rows get bit-identical distances.
 */
#version 450
#extension GL_GOOGLE_include_directive : require
#define RV_PUSH_TOPK
#include "push.glsl"

layout(local_size_x = 256, local_size_y = 1, local_size_z = 1) in;

layout(constant_id = 0) const uint METRIC = 0;	/* rv_metric */
layout(constant_id = 1) const uint P = 16;		/* power of two >= k, <= 1024 */
layout(constant_id = 2) const uint SLOTS = 2048;	/* power of two, 2P .. 2048 */

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) writeonly buffer OD { float od[]; };
layout(std430, binding = 3) writeonly buffer OI { uint oi[]; };

const uint METRIC_L2 = 0u;
const uint METRIC_IP = 1u;
const uint METRIC_COSINE = 2u;
const uint METRIC_L1 = 3u;

const uint NONE = 0xffffffffu;

shared float key[SLOTS];
shared uint idx[SLOTS];

/* true when slot i orders before slot j */
bool
before(uint i, uint j)
{
	return key[i] < key[j] || (key[i] == key[j] && idx[i] < idx[j]);
}

float
distance_to(uint qoff, uint row)
{
	uint		xoff = row * pc.d;
	float		s = 0.0;
	float		nq = 0.0;
	float		nx = 0.0;

	for (uint e = 0u; e < pc.d; e++)
	{
		float		qv = q[qoff + e];
		float		xv = x[xoff + e];

		if (METRIC == METRIC_L2)
		{
			float		df = qv - xv;

			s = fma(df, df, s);
		}
		else if (METRIC == METRIC_L1)
			s += abs(qv - xv);
		else
		{
			s = fma(qv, xv, s);
			if (METRIC == METRIC_COSINE)
			{
				nq = fma(qv, qv, nq);
				nx = fma(xv, xv, nx);
			}
		}
	}
	if (METRIC == METRIC_L2)
		return sqrt(s);
	if (METRIC == METRIC_IP)
		return -s;
	if (METRIC == METRIC_COSINE)
		return (nq > 0.0 && nx > 0.0) ? 1.0 - clamp(s / (sqrt(nq) * sqrt(nx)), -1.0, 1.0) : 1.0;
	return s;
}

void
main()
{
	uint		t = gl_LocalInvocationID.x;
	uint		seg = gl_WorkGroupID.x;
	uint		qi = gl_WorkGroupID.y;
	uint		qoff = qi * pc.d;
	uint		r0 = seg * pc.seg_rows;
	uint		r1 = min(pc.n, r0 + pc.seg_rows);
	uint		fresh = SLOTS - P;

	for (uint s = t; s < P; s += 256u)
	{
		key[s] = 1.0 / 0.0;
		idx[s] = NONE;
	}

	for (uint base = r0; base < r1; base += fresh)
	{
		for (uint s = P + t; s < SLOTS; s += 256u)
		{
			uint		row = base + (s - P);

			if (row < r1)
			{
				key[s] = distance_to(qoff, row);
				idx[s] = row;
			}
			else
			{
				key[s] = 1.0 / 0.0;
				idx[s] = NONE;
			}
		}
		/* distance writes -> the sort's reads */
		barrier();

		for (uint size = 2u; size <= SLOTS; size <<= 1)
		{
			for (uint stride = size >> 1; stride > 0u; stride >>= 1)
			{
				for (uint h = t; h < SLOTS / 2u; h += 256u)
				{
					uint		lo = 2u * h - (h & (stride - 1u));
					uint		hi = lo + stride;
					bool		up = (lo & size) == 0u;

					if (up ? before(hi, lo) : before(lo, hi))
					{
						float		kt = key[lo];
						uint		it = idx[lo];

						key[lo] = key[hi];
						idx[lo] = idx[hi];
						key[hi] = kt;
						idx[hi] = it;
					}
				}
				/* this stage's swaps -> the next stage's compares */
				barrier();
			}
		}
	}

	for (uint s = t; s < P; s += 256u)
	{
		uint		o = (qi * pc.nseg + seg) * P + s;

		od[o] = key[s];
		oi[o] = idx[s];
	}
}
