/*
 * fewq.glsl — top-k for a few queries (1 to 16) in one pass over the corpus: the body of
 * fewq.comp (subgroup reductions) and fewq_plain.comp (no subgroup operations, for devices
 * without subgroup arithmetic; the host picks it at run time). The CPU twin is
 * bridge/cpu/fewq.c; the host side is bridge/vk/fewq.c.
 *
 * Work: workgroup s owns segment s of the corpus block (seg_rows rows) and keeps, for each
 * of the NQ queries, the P best (key, row) pairs of the segment in the total order of the
 * core (key, then row number). The rows are walked in rounds of ROUND. In a round of the
 * subgroup variant each subgroup takes whole rows: its lanes read consecutive 16-byte
 * pieces of the row (coalesced), each lane keeps a partial sum per query, and subgroupAdd
 * makes the row's sums; so the corpus is read once for all queries, from memory, in full
 * cache lines. In the plain variant one invocation computes one row alone.
 *
 * Selection: per query a buffer of SLOTS pairs in shared memory; slots [0, P) hold the best
 * P so far (sorted), and the P-th of them is the threshold. A row enters the buffer (an
 * atomic slot counter) only when it comes before the threshold, which after the first
 * rounds almost no row does. When a buffer may not hold another round, a bitonic sort of
 * each buffer brings the best P to the front again and updates the thresholds. SLOTS is a
 * power of two >= P + ROUND, so a round always fits.
 *
 * Keys. KEYMODE 0 (rv_topk): the float32 distance (a NaN counts as +inf). KEYMODE 1
 * (resident top-k, whose host side bounds every other row): the float32 distance where the
 * error analysis of bridge/resident.c covers it, and -inf where it does not (a distance
 * that is not finite; a cosine whose row's float32 squared norm lies outside
 * [2^-99, 2^99]), so such rows come first and the host recomputes them exactly.
 *
 * Distances (the metric is a specialization constant): L2 = sqrt(sum (x - q)^2),
 * IP = -(q . x), cosine = 1 - clamp(q.x / (sqrt(|x|^2) sqrt(|q|^2)), -1, 1) (1 when either
 * is zero), L1 = sum |x - q|, summed in float32 over the terms in any order (the error
 * bound of bridge/resident.c holds for every order).
 */
#extension GL_GOOGLE_include_directive : require
#define RV_PUSH_FEWQ
#include "push.glsl"

#ifdef RV_FEWQ_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

layout(local_size_x = 256, local_size_y = 1, local_size_z = 1) in;

layout(constant_id = 0) const uint METRIC = 0;	/* rv_metric */
layout(constant_id = 1) const uint NQ = 1;		/* queries compiled in: 1, 4, 16 */
layout(constant_id = 2) const uint P = 16;		/* best pairs kept per query: power of two */
layout(constant_id = 3) const uint SLOTS = 128;	/* power of two >= P + ROUND */
layout(constant_id = 4) const uint KEYMODE = 0;	/* 0: rv_topk, 1: resident top-k */
layout(constant_id = 5) const uint VEC4 = 0;	/* 1: d % 4 == 0, rows read as vec4 */
layout(constant_id = 6) const uint UNROLL = 1;	/* 1: four row loads per lane in flight */

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 0) readonly buffer Q4 { vec4 q4[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 2) writeonly buffer OK { float okey[]; };
layout(std430, binding = 3) writeonly buffer OR { uint orow[]; };

const uint METRIC_L2 = 0u;
const uint METRIC_IP = 1u;
const uint METRIC_COSINE = 2u;
const uint METRIC_L1 = 3u;

const uint ROUND = 64u;
const uint NONE = 0xffffffffu;
const float INF = 1.0 / 0.0;
const float NX_LO = 1.5777218104420236e-30;	/* 2^-99, exact in float32 */
const float NX_HI = 6.338253001141147e29;	/* 2^99 */

shared float skey[NQ * SLOTS];
shared uint sidx[NQ * SLOTS];
shared uint scnt[NQ];
shared float tkey[NQ];			/* threshold: the P-th best so far, or +inf */
shared uint trow[NQ];
shared float sqn[NQ];			/* |q|^2 in float32, for cosine */

/* true when (ka, ra) comes before (kb, rb) */
bool
before(float ka, uint ra, float kb, uint rb)
{
	return ka < kb || (ka == kb && ra < rb);
}

/* One term of a row's sum for query j at dimension (or vec4) i. */
float
term(uint metric, float xv, float qv)
{
	if (metric == METRIC_L2)
	{
		float		df = xv - qv;

		return df * df;
	}
	if (metric == METRIC_L1)
		return abs(xv - qv);
	return xv * qv;
}

float
term4(uint metric, vec4 xv, vec4 qv)
{
	if (metric == METRIC_L2)
	{
		vec4		df = xv - qv;

		return dot(df, df);
	}
	if (metric == METRIC_L1)
	{
		vec4		df = abs(xv - qv);

		return (df.x + df.y) + (df.z + df.w);
	}
	return dot(xv, qv);
}

/* The key of a row for query j from its sums (s: the metric's sum, nx: |x|^2). */
float
key_of(float s, float nx, float nqj)
{
	float		g;

	if (METRIC == METRIC_L2)
		g = sqrt(s);
	else if (METRIC == METRIC_IP)
		g = -s;
	else if (METRIC == METRIC_COSINE)
	{
		float		c = s / (sqrt(nx) * sqrt(nqj));

		/* clamp of a NaN is undefined: keep the NaN, which the key turns into +-inf */
		g = (nqj > 0.0 && nx > 0.0) ? (isnan(c) ? c : 1.0 - clamp(c, -1.0, 1.0)) : 1.0;
	}
	else
		g = s;
	if (KEYMODE == 0u)
		return isnan(g) ? INF : g;
	if (isnan(g) || isinf(g))
		return -INF;
	if (METRIC == METRIC_COSINE && !(nx >= NX_LO && nx <= NX_HI))
		return -INF;
	return g;
}

/* Offer (key, row) to query j's buffer. */
void
offer(uint j, float key, uint row)
{
	if (before(key, row, tkey[j], trow[j]))
	{
		uint		pos = atomicAdd(scnt[j], 1u);

		skey[j * SLOTS + pos] = key;
		sidx[j * SLOTS + pos] = row;
	}
}

/*
 * Sort every query's buffer, keep its best P, update the thresholds. Called by every
 * invocation in uniform control flow (it holds barriers).
 */
void
compact()
{
	uint		t = gl_LocalInvocationID.x;

	/* the slots nobody filled sort last */
	for (uint e = t; e < NQ * SLOTS; e += 256u)
	{
		if (e % SLOTS >= scnt[e / SLOTS])
		{
			skey[e] = INF;
			sidx[e] = NONE;
		}
	}
	/* padding writes -> the sort's reads */
	barrier();
	for (uint size = 2u; size <= SLOTS; size <<= 1)
	{
		for (uint stride = size >> 1; stride > 0u; stride >>= 1)
		{
			for (uint h = t; h < NQ * (SLOTS / 2u); h += 256u)
			{
				uint		j = h / (SLOTS / 2u);
				uint		hh = h % (SLOTS / 2u);
				uint		lo = 2u * hh - (hh & (stride - 1u));
				uint		hi = lo + stride;
				bool		up = (lo & size) == 0u;
				uint		a = j * SLOTS + lo;
				uint		b = j * SLOTS + hi;
				bool		swap = up ? before(skey[b], sidx[b], skey[a], sidx[a])
					: before(skey[a], sidx[a], skey[b], sidx[b]);

				if (swap)
				{
					float		kt = skey[a];
					uint		it = sidx[a];

					skey[a] = skey[b];
					sidx[a] = sidx[b];
					skey[b] = kt;
					sidx[b] = it;
				}
			}
			/* this stage's swaps -> the next stage's compares */
			barrier();
		}
	}
	for (uint j = t; j < NQ; j += 256u)
	{
		uint		c = min(scnt[j], P);

		scnt[j] = c;
		if (c == P)
		{
			tkey[j] = skey[j * SLOTS + P - 1u];
			trow[j] = sidx[j * SLOTS + P - 1u];
		}
	}
	/* counters and thresholds -> the next round's offers */
	barrier();
}

void
main()
{
	uint		t = gl_LocalInvocationID.x;
	uint		seg = gl_WorkGroupID.x;
	uint		r0 = seg * pc.seg_rows;
	uint		r1 = min(pc.n, r0 + pc.seg_rows);
	uint		d4 = pc.d / 4u;

	for (uint j = t; j < NQ; j += 256u)
	{
		scnt[j] = 0u;
		tkey[j] = INF;
		trow[j] = NONE;
	}

	/* |q|^2 of every query, for cosine */
	if (METRIC == METRIC_COSINE)
	{
#ifdef RV_FEWQ_SUBGROUP
		for (uint j = gl_SubgroupID; j < NQ; j += gl_NumSubgroups)
		{
			float		s = 0.0;

			for (uint i = gl_SubgroupInvocationID; i < pc.d; i += gl_SubgroupSize)
				s = fma(q[j * pc.d + i], q[j * pc.d + i], s);
			s = subgroupAdd(s);
			if (subgroupElect())
				sqn[j] = s;
		}
#else
		for (uint j = t; j < NQ; j += 256u)
		{
			float		s = 0.0;

			for (uint i = 0u; i < pc.d; i++)
				s = fma(q[j * pc.d + i], q[j * pc.d + i], s);
			sqn[j] = s;
		}
#endif
	}
	/* counters, thresholds and norms -> the first round */
	barrier();

	for (uint base = r0; base < r1; base += ROUND)
	{
#ifdef RV_FEWQ_SUBGROUP
		uint		lane = gl_SubgroupInvocationID;
		uint		width = gl_SubgroupSize;

		for (uint rr = gl_SubgroupID; rr < ROUND; rr += gl_NumSubgroups)
		{
			uint		row = base + rr;
			float		acc[NQ];
			float		nx = 0.0;

			/* the same for the whole subgroup: it leaves together */
			if (row >= r1)
				break;
			for (uint j = 0u; j < NQ; j++)
				acc[j] = 0.0;
			if (VEC4 != 0u)
			{
				uint		rb = row * d4;
				uint		i = lane;

				/* four independent 16-byte loads per lane in flight before they are used */
				for (; UNROLL != 0u && i + 3u * width < d4; i += 4u * width)
				{
					vec4		xa = x4[rb + i];
					vec4		xb = x4[rb + i + width];
					vec4		xc = x4[rb + i + 2u * width];
					vec4		xd = x4[rb + i + 3u * width];

					if (METRIC == METRIC_COSINE)
						nx += (dot(xa, xa) + dot(xb, xb)) + (dot(xc, xc) + dot(xd, xd));
					for (uint j = 0u; j < NQ; j++)
					{
						uint		qb = j * d4 + i;

						if (j < pc.nq)
							acc[j] += (term4(METRIC, xa, q4[qb]) + term4(METRIC, xb, q4[qb + width])) +
								(term4(METRIC, xc, q4[qb + 2u * width]) + term4(METRIC, xd, q4[qb + 3u * width]));
					}
				}
				for (; i < d4; i += width)
				{
					vec4		xv = x4[rb + i];

					if (METRIC == METRIC_COSINE)
						nx += dot(xv, xv);
					for (uint j = 0u; j < NQ; j++)
						if (j < pc.nq)
							acc[j] += term4(METRIC, xv, q4[j * d4 + i]);
				}
			}
			else
			{
				for (uint i = lane; i < pc.d; i += width)
				{
					float		xv = x[row * pc.d + i];

					if (METRIC == METRIC_COSINE)
						nx = fma(xv, xv, nx);
					for (uint j = 0u; j < NQ; j++)
						if (j < pc.nq)
							acc[j] += term(METRIC, xv, q[j * pc.d + i]);
				}
			}
			if (METRIC == METRIC_COSINE)
				nx = subgroupAdd(nx);
			for (uint j = 0u; j < NQ; j++)
			{
				float		s = subgroupAdd(acc[j]);

				/* lane j % width offers for query j */
				if (j < pc.nq && j % width == lane)
					offer(j, key_of(s, nx, METRIC == METRIC_COSINE ? sqn[j] : 0.0), row);
			}
		}
#else
		if (t < ROUND && base + t < r1)
		{
			uint		row = base + t;
			float		acc[NQ];
			float		nx = 0.0;

			for (uint j = 0u; j < NQ; j++)
				acc[j] = 0.0;
			for (uint i = 0u; i < pc.d; i++)
			{
				float		xv = x[row * pc.d + i];

				if (METRIC == METRIC_COSINE)
					nx = fma(xv, xv, nx);
				for (uint j = 0u; j < NQ; j++)
					if (j < pc.nq)
						acc[j] += term(METRIC, xv, q[j * pc.d + i]);
			}
			for (uint j = 0u; j < NQ; j++)
				if (j < pc.nq)
					offer(j, key_of(acc[j], nx, METRIC == METRIC_COSINE ? sqn[j] : 0.0), row);
		}
#endif
		/* this round's offers -> the check below and the sort */
		barrier();
		{
			bool		full = false;

			for (uint j = 0u; j < NQ; j++)
				full = full || scnt[j] > SLOTS - ROUND;
			/* every invocation has read the counters -> the next round's offers change them */
			barrier();
			/* every invocation read the same counters: a uniform branch */
			if (full)
				compact();
		}
	}
	compact();

	for (uint e = t; e < NQ * P; e += 256u)
	{
		uint		j = e / P;
		uint		s = e % P;

		if (j < pc.nq)
		{
			uint		o = pc.out_base + (j * pc.nseg + seg) * P + s;

			okey[o] = skey[j * SLOTS + s];
			orow[o] = sidx[j * SLOTS + s];
		}
	}
}
