/* vec16.h - 16-float vectors (GCC vector extensions) for the kernels in
 * kern_body.h, which is compiled once per instruction set.
 *
 * The width is fixed at 16 whatever the target: AVX-512 runs a vector as one
 * register, AVX2 as two, SSE2 as four. Every operation is lane-wise or a
 * reduction in a fixed tree order. The compiler contracts no a*b+c into an
 * FMA by itself (ISO C mode: -ffp-contract=off); the kernels fuse where they
 * say so, with bf_vfma, which rounds once on every instruction set. So all
 * instruction sets compute the same bits. bf_vexp/bf_verf are fastmath.h's
 * formulas lane by lane: they return exactly bf_expf/bf_erff of each lane.
 */
#ifndef BF_NN_VEC16_H
#define BF_NN_VEC16_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(BF_VFMA_AVX512) || defined(BF_VFMA_AVX2)
#include <immintrin.h>
#endif

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

/* a * b + c with one rounding, lane by lane (IEEE fusedMultiplyAdd): the
 * same bits on every instruction set. kern_avx512.c and kern_avx2.c define
 * BF_VFMA_AVX512 / BF_VFMA_AVX2 under their target pragmas and get the FMA
 * instructions; elsewhere each lane calls fmaf, which the C library runs on
 * the FMA unit where the CPU has one and in correctly rounded software where
 * not (slow, but only CPUs without AVX2 take that path on x86-64). */
#if defined(BF_VFMA_AVX512)
BF_VINLINE bf_vf bf_vfma(bf_vf a, bf_vf b, bf_vf c)
{
    return (bf_vf)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
}
#elif defined(BF_VFMA_AVX2)
BF_VINLINE bf_vf bf_vfma(bf_vf a, bf_vf b, bf_vf c)
{
    __m256 x[2], y[2], z[2];
    memcpy(x, &a, sizeof x);
    memcpy(y, &b, sizeof y);
    memcpy(z, &c, sizeof z);
    x[0] = _mm256_fmadd_ps(x[0], y[0], z[0]);
    x[1] = _mm256_fmadd_ps(x[1], y[1], z[1]);
    memcpy(&a, x, sizeof a);
    return a;
}
#else
BF_VINLINE bf_vf bf_vfma(bf_vf a, bf_vf b, bf_vf c)
{
    bf_vf r;
    for (int i = 0; i < BF_VW; i++)
        r[i] = fmaf(a[i], b[i], c[i]);
    return r;
}
#endif

/* IEEE square root lane by lane (correctly rounded, as sqrtf) */
#if defined(BF_VFMA_AVX512)
BF_VINLINE bf_vf bf_vsqrt(bf_vf a)
{
    return (bf_vf)_mm512_sqrt_ps((__m512)a);
}
#elif defined(BF_VFMA_AVX2)
BF_VINLINE bf_vf bf_vsqrt(bf_vf a)
{
    __m256 x[2];
    memcpy(x, &a, sizeof x);
    x[0] = _mm256_sqrt_ps(x[0]);
    x[1] = _mm256_sqrt_ps(x[1]);
    memcpy(&a, x, sizeof a);
    return a;
}
#else
BF_VINLINE bf_vf bf_vsqrt(bf_vf a)
{
    bf_vf r;
    for (int i = 0; i < BF_VW; i++)
        r[i] = sqrtf(a[i]);
    return r;
}
#endif

/* x clamped to [lo, hi] lane by lane: x < lo ? lo : (x > hi ? hi : x), NaN
 * stays NaN. AVX-512/AVX2: MAXPS/MINPS with x second (returned when either
 * operand is NaN), one instruction each instead of compare-and-select. */
#if defined(BF_VFMA_AVX512)
BF_VINLINE bf_vf bf_vclamp(bf_vf x, float lo, float hi)
{
    __m512 v = _mm512_max_ps(_mm512_set1_ps(lo), (__m512)x);
    return (bf_vf)_mm512_min_ps(_mm512_set1_ps(hi), v);
}
#elif defined(BF_VFMA_AVX2)
BF_VINLINE bf_vf bf_vclamp(bf_vf x, float lo, float hi)
{
    __m256 h[2];
    memcpy(h, &x, sizeof h);
    for (int i = 0; i < 2; i++)
        h[i] = _mm256_min_ps(_mm256_set1_ps(hi), _mm256_max_ps(_mm256_set1_ps(lo), h[i]));
    memcpy(&x, h, sizeof x);
    return x;
}
#else
BF_VINLINE bf_vf bf_vclamp(bf_vf x, float lo, float hi)
{
    const bf_vf l = bf_vset(lo), h = bf_vset(hi);
    x = bf_vsel(x < l, l, x);
    return bf_vsel(x > h, h, x);
}
#endif

/* a * b + c for a scalar c (broadcast) */
BF_VINLINE bf_vf bf_vfmas(bf_vf a, bf_vf b, float c)
{
    return bf_vfma(a, b, bf_vset(c));
}

BF_VINLINE bf_vf bf_vexp(bf_vf x)
{
    const bf_vf magic = bf_vset(12582912.0f);
    x = bf_vclamp(x, -87.0f, 88.0f);
    bf_vf n = bf_vfma(x, bf_vset(1.44269504088896341f), magic) - magic;
    bf_vf r = bf_vfma(n, bf_vset(-0.693145751953125f), x);
    r = bf_vfma(n, bf_vset(-1.42860682030941723212e-6f), r);
    bf_vf p = bf_vset(1.0f / 720.0f);
    p = bf_vfmas(p, r, 1.0f / 120.0f);
    p = bf_vfmas(p, r, 1.0f / 24.0f);
    p = bf_vfmas(p, r, 1.0f / 6.0f);
    p = bf_vfmas(p, r, 0.5f);
    p = bf_vfmas(p, r, 1.0f);
    p = bf_vfmas(p, r, 1.0f);
    bf_vi bits = (__builtin_convertvector(n, bf_vi) + 127) << 23;
    return p * (bf_vf)bits;
}

/* erf(x) for a = |x| and e = exp(-a * a) (GELU's backward reuses e), the
 * sign of x not yet applied: 1 - t P(t) e, t = 1 / (1 + p a) */
BF_VINLINE bf_vf bf_verf_abs(bf_vf a, bf_vf e)
{
    bf_vf t = 1.0f / bf_vfmas(bf_vset(0.3275911f), a, 1.0f);
    bf_vf y = bf_vset(1.061405429f);
    y = bf_vfmas(y, t, -1.453152027f);
    y = bf_vfmas(y, t, 1.421413741f);
    y = bf_vfmas(y, t, -0.284496736f);
    y = bf_vfmas(y, t, 0.254829592f);
    return bf_vfmas(-(y * t), e, 1.0f);
}

BF_VINLINE bf_vf bf_verf(bf_vf x)
{
    const bf_vi sign = (bf_vi)bf_vset(-0.0f);
    bf_vf a = (bf_vf)((bf_vi)x & ~sign);
    bf_vf y = bf_verf_abs(a, bf_vexp(-(a * a)));
    return (bf_vf)((bf_vi)y | ((bf_vi)x & sign));
}

#endif
