/* fastmath.h - expf and erff as pure arithmetic (fused multiply-adds where
 * written: fmaf, one rounding): the scalar reference for the kernels' vector
 * forms (vec16.h's bf_vexp/bf_verf compute exactly these, lane by lane; libm's
 * expf/erff are calls that keep loops scalar). Accuracy, checked in test_nn_gradcheck against
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

#endif
