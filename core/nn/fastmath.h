/* fastmath.h - expf and erff as pure arithmetic (fused multiply-adds where
 * written: fmaf, one rounding), scalar and 4-wide.
 *
 * libm's expf/erff are calls that keep loops scalar, and GCC will not
 * if-convert the range clamps at the -O2 the build uses, so the 4-wide forms
 * use GCC vector extensions (SSE2 on any x86-64, NEON elsewhere) and compute
 * exactly what the scalar forms compute, lane by lane. Accuracy, checked in test_nn_gradcheck against
 * libm over [-30, 30]: bf_expf relative error < 4e-7 (degree-6 polynomial
 * after reduction by ln 2), bf_erff absolute error < 6e-7 (Abramowitz &
 * Stegun 7.1.26, 1.5e-7, plus float rounding), far below the parity tolerances (1e-4).
 */
#ifndef BF_NN_FASTMATH_H
#define BF_NN_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float bf_expf(float x)
{
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    /* n = round(x / ln2) by the 1.5 * 2^23 trick, r = x - n ln2 in two parts */
    float n = fmaf(x, 1.44269504088896341f, 12582912.0f) - 12582912.0f;
    float r = fmaf(n, -0.693145751953125f, x);
    r = fmaf(n, -1.42860682030941723212e-6f, r);
    float p = 1.0f / 720.0f;
    p = fmaf(p, r, 1.0f / 120.0f);
    p = fmaf(p, r, 1.0f / 24.0f);
    p = fmaf(p, r, 1.0f / 6.0f);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float bf_erff(float x)
{
    float a = fabsf(x);
    float t = 1.0f / fmaf(0.3275911f, a, 1.0f);
    float y = 1.061405429f;
    y = fmaf(y, t, -1.453152027f);
    y = fmaf(y, t, 1.421413741f);
    y = fmaf(y, t, -0.284496736f);
    y = fmaf(y, t, 0.254829592f);
    y = fmaf(-(y * t), bf_expf(-(a * a)), 1.0f);
    return copysignf(y, x);
}


typedef float bf_v4sf __attribute__((vector_size(16)));
typedef int32_t bf_v4si __attribute__((vector_size(16)));

static inline bf_v4sf bf_v4_load(const float *p)
{
    bf_v4sf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void bf_v4_store(float *p, bf_v4sf v) { memcpy(p, &v, sizeof v); }

static inline bf_v4sf bf_v4_set(float x) { return (bf_v4sf){x, x, x, x}; }

/* m ? a : b for a lane mask m of all-ones / zeros */
static inline bf_v4sf bf_v4_sel(bf_v4si m, bf_v4sf a, bf_v4sf b)
{
    return (bf_v4sf)((m & (bf_v4si)a) | (~m & (bf_v4si)b));
}

/* a * b + c rounded once, lane by lane */
static inline bf_v4sf bf_v4_fma(bf_v4sf a, bf_v4sf b, float c)
{
    bf_v4sf r;
    for (int i = 0; i < 4; i++)
        r[i] = fmaf(a[i], b[i], c);
    return r;
}

static inline bf_v4sf bf_expf4(bf_v4sf x)
{
    const bf_v4sf lo = bf_v4_set(-87.0f), hi = bf_v4_set(88.0f), magic = bf_v4_set(12582912.0f);
    x = bf_v4_sel(x < lo, lo, x);
    x = bf_v4_sel(x > hi, hi, x);
    bf_v4sf n = bf_v4_fma(x, bf_v4_set(1.44269504088896341f), 12582912.0f) - magic;
    bf_v4sf r, p = bf_v4_set(1.0f / 720.0f);
    for (int i = 0; i < 4; i++) {
        r[i] = fmaf(n[i], -0.693145751953125f, x[i]);
        r[i] = fmaf(n[i], -1.42860682030941723212e-6f, r[i]);
    }
    p = bf_v4_fma(p, r, 1.0f / 120.0f);
    p = bf_v4_fma(p, r, 1.0f / 24.0f);
    p = bf_v4_fma(p, r, 1.0f / 6.0f);
    p = bf_v4_fma(p, r, 0.5f);
    p = bf_v4_fma(p, r, 1.0f);
    p = bf_v4_fma(p, r, 1.0f);
    bf_v4si bits = (__builtin_convertvector(n, bf_v4si) + 127) << 23;
    return p * (bf_v4sf)bits;
}

static inline bf_v4sf bf_erff4(bf_v4sf x)
{
    const bf_v4si sign = (bf_v4si)bf_v4_set(-0.0f);
    bf_v4sf a = (bf_v4sf)((bf_v4si)x & ~sign);
    bf_v4sf t = 1.0f / bf_v4_fma(bf_v4_set(0.3275911f), a, 1.0f);
    bf_v4sf y = bf_v4_set(1.061405429f);
    y = bf_v4_fma(y, t, -1.453152027f);
    y = bf_v4_fma(y, t, 1.421413741f);
    y = bf_v4_fma(y, t, -0.284496736f);
    y = bf_v4_fma(y, t, 0.254829592f);
    y = bf_v4_fma(-(y * t), bf_expf4(-(a * a)), 1.0f);
    return (bf_v4sf)((bf_v4si)y | ((bf_v4si)x & sign));
}

#endif
