/* vec16.h - 16-float vectors (GCC vector extensions) for the kernels in
 * kern_body.h, which is compiled once per instruction set.
 *
 * The width is fixed at 16 whatever the target: AVX-512 runs a vector as one
 * register, AVX2 as two, SSE2 as four. Every operation is lane-wise or a
 * reduction in a fixed tree order, and the build contracts no a*b+c into an
 * FMA (ISO C mode: -ffp-contract=off), so all instruction sets compute the
 * same bits. bf_vexp/bf_verf are fastmath.h's formulas lane by lane: they
 * return exactly bf_expf/bf_erff of each lane.
 */
#ifndef BF_NN_VEC16_H
#define BF_NN_VEC16_H

#include <stdint.h>
#include <string.h>

#define BF_VW 16

/* Every function that takes or returns a vector is forced inline, so no
 * vector crosses a call boundary and the 64-byte vector ABI that GCC warns
 * about without AVX-512 never applies (also when sanitizers or partial
 * inlining would otherwise leave an out-of-line copy). */
#pragma GCC diagnostic ignored "-Wpsabi"
#define BF_VINLINE static inline __attribute__((always_inline))

typedef float bf_vf __attribute__((vector_size(64)));
typedef int32_t bf_vi __attribute__((vector_size(64)));
typedef uint32_t bf_vu __attribute__((vector_size(64)));

BF_VINLINE bf_vf bf_vload(const float *p)
{
    bf_vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

BF_VINLINE void bf_vstore(float *p, bf_vf v)
{
    memcpy(p, &v, sizeof v);
}

/* the first n < 16 lanes from p, zeros after */
BF_VINLINE bf_vf bf_vload_part(const float *p, int n)
{
    float t[BF_VW] = {0};
    memcpy(t, p, (size_t)n * sizeof(float));
    return bf_vload(t);
}

BF_VINLINE void bf_vstore_part(float *p, bf_vf v, int n)
{
    float t[BF_VW];
    bf_vstore(t, v);
    memcpy(p, t, (size_t)n * sizeof(float));
}

BF_VINLINE bf_vf bf_vset(float x)
{
    return (bf_vf){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x};
}

/* m ? a : b for a lane mask m of all-ones / zeros */
BF_VINLINE bf_vf bf_vsel(bf_vi m, bf_vf a, bf_vf b)
{
    return (bf_vf)((m & (bf_vi)a) | (~m & (bf_vi)b));
}

/* sum of the 16 lanes as a fixed tree: halves added until one is left */
BF_VINLINE float bf_vsum(bf_vf v)
{
    float t[BF_VW];
    bf_vstore(t, v);
    for (int w = BF_VW / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; i++)
            t[i] += t[i + w];
    return t[0];
}

BF_VINLINE bf_vf bf_vexp(bf_vf x)
{
    const bf_vf lo = bf_vset(-87.0f), hi = bf_vset(88.0f), magic = bf_vset(12582912.0f);
    x = bf_vsel(x < lo, lo, x);
    x = bf_vsel(x > hi, hi, x);
    bf_vf n = (x * 1.44269504088896341f + magic) - magic;
    bf_vf r = x - n * 0.693145751953125f;
    r = r - n * 1.42860682030941723212e-6f;
    bf_vf p = bf_vset(1.0f / 720.0f);
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    bf_vi bits = (__builtin_convertvector(n, bf_vi) + 127) << 23;
    return p * (bf_vf)bits;
}

BF_VINLINE bf_vf bf_verf(bf_vf x)
{
    const bf_vi sign = (bf_vi)bf_vset(-0.0f);
    bf_vf a = (bf_vf)((bf_vi)x & ~sign);
    bf_vf t = 1.0f / (1.0f + 0.3275911f * a);
    bf_vf y = bf_vset(1.061405429f);
    y = y * t - 1.453152027f;
    y = y * t + 1.421413741f;
    y = y * t - 0.284496736f;
    y = y * t + 0.254829592f;
    y = 1.0f - y * t * bf_vexp(-a * a);
    return (bf_vf)((bf_vi)y | ((bf_vi)x & sign));
}

#endif
