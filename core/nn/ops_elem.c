/* ops_elem.c - elementwise layers (GLU, GELU, residual add, dropout) and the
 * two regression losses.
 *
 * Dropout masks are Philox draws keyed by the model seed with counter
 * (element/8, layer, step mod 2^32, salt), 16 bits per element: the same
 * mask for the same (seed, salt, step, layer, element) whatever the thread
 * count or order. p is applied at 1/65536 resolution.
 */
#include "core/nn/ops.h"

#include <math.h>
#include <string.h>

#include "core/base/rng.h"
#include "core/nn/fastmath.h"

void bf_glu_forward(float *out, const float *in, int N, int H)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *a = in + (size_t)n * 2 * H, *g = a + H;
        float *o = out + (size_t)n * H;
        int c = 0;
        for (; c + 4 <= H; c += 4) {
            bf_v4sf s = 1.0f / (1.0f + bf_expf4(-bf_v4_load(g + c)));
            bf_v4_store(o + c, bf_v4_load(a + c) * s);
        }
        for (; c < H; c++)
            o[c] = a[c] * (1.0f / (1.0f + bf_expf(-g[c])));
    }
}

void bf_glu_backward(float *din, const float *dout, const float *in, int N, int H)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *a = in + (size_t)n * 2 * H, *g = a + H;
        const float *d = dout + (size_t)n * H;
        float *da = din + (size_t)n * 2 * H, *dg = da + H;
        int c = 0;
        for (; c + 4 <= H; c += 4) {
            bf_v4sf s = 1.0f / (1.0f + bf_expf4(-bf_v4_load(g + c)));
            bf_v4sf dv = bf_v4_load(d + c);
            bf_v4_store(da + c, dv * s);
            bf_v4_store(dg + c, dv * bf_v4_load(a + c) * s * (1.0f - s));
        }
        for (; c < H; c++) {
            float s = 1.0f / (1.0f + bf_expf(-g[c]));
            da[c] = d[c] * s;
            dg[c] = d[c] * a[c] * s * (1.0f - s);
        }
    }
}

#define BF_INV_SQRT2 0.70710678118654752f
#define BF_INV_SQRT2PI 0.39894228040143268f
#define BF_ELEM_BLOCK 4096 /* elements per parallel chunk (multiple of 4) */

void bf_gelu_forward(float *out, const float *in, size_t n)
{
    size_t nblk = (n + BF_ELEM_BLOCK - 1) / BF_ELEM_BLOCK;
#pragma omp parallel for schedule(static)
    for (size_t blk = 0; blk < nblk; blk++) {
        size_t i = blk * BF_ELEM_BLOCK, end = i + BF_ELEM_BLOCK < n ? i + BF_ELEM_BLOCK : n;
        for (; i + 4 <= end; i += 4) {
            bf_v4sf x = bf_v4_load(in + i);
            bf_v4_store(out + i, 0.5f * x * (1.0f + bf_erff4(x * BF_INV_SQRT2)));
        }
        for (; i < end; i++) {
            float x = in[i];
            out[i] = 0.5f * x * (1.0f + bf_erff(x * BF_INV_SQRT2));
        }
    }
}

void bf_gelu_backward(float *din, const float *dout, const float *in, size_t n)
{
    size_t nblk = (n + BF_ELEM_BLOCK - 1) / BF_ELEM_BLOCK;
#pragma omp parallel for schedule(static)
    for (size_t blk = 0; blk < nblk; blk++) {
        size_t i = blk * BF_ELEM_BLOCK, end = i + BF_ELEM_BLOCK < n ? i + BF_ELEM_BLOCK : n;
        for (; i + 4 <= end; i += 4) {
            bf_v4sf x = bf_v4_load(in + i);
            bf_v4sf cdf = 0.5f * (1.0f + bf_erff4(x * BF_INV_SQRT2));
            bf_v4sf pdf = BF_INV_SQRT2PI * bf_expf4(-0.5f * x * x);
            bf_v4_store(din + i, bf_v4_load(dout + i) * (cdf + x * pdf));
        }
        for (; i < end; i++) {
            float x = in[i];
            float cdf = 0.5f * (1.0f + bf_erff(x * BF_INV_SQRT2));
            float pdf = BF_INV_SQRT2PI * bf_expf(-0.5f * x * x);
            din[i] = dout[i] * (cdf + x * pdf);
        }
    }
}

void bf_add_forward(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void bf_add_inplace(float *dst, const float *src, size_t n)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

/* Philox4x32-10 exactly as core/base/rng.c, inlined so the compiler can keep
 * it in registers (the dropout masks are ~10M draws per step). */
static inline void philox_inline(uint64_t key, uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                 uint32_t out[4])
{
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t y0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, y2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = y0;
        c2 = y2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* Elements e0 .. e0+n-1 of a layer's mask into out/mask/in[0 .. n): 16 bits
 * per element, 8 elements per Philox call (group e / 8), keep iff
 * u16 >= thresh. Serial: callers split the work. */
static void dropout_range(float *out, uint8_t *mask, const float *in, size_t e0, size_t n,
                          uint64_t key, uint32_t thresh, float scale, uint32_t salt, uint64_t step,
                          uint32_t layer)
{
    size_t e = e0, end = e0 + n;
    while (e < end) {
        size_t g = e / 8, g1 = (g + 1) * 8 < end ? (g + 1) * 8 : end;
        uint32_t r[4];
        philox_inline(key, (uint32_t)g, layer, (uint32_t)step, salt, r);
        for (; e < g1; e++) {
            size_t j = e - g * 8, i = e - e0;
            uint32_t u = (r[j >> 1] >> ((j & 1) * 16)) & 0xFFFFu;
            uint8_t keep = u >= thresh;
            mask[i] = keep;
            out[i] = keep ? in[i] * scale : 0.0f;
        }
    }
}

/* the stream is folded into the key as bf_rng_* do, so dropout never shares
 * draws with initialization or shuffling */
static uint64_t dropout_key(uint64_t seed)
{
    return seed ^ ((uint64_t)BF_RNG_STREAM_DROPOUT * 0x9E3779B97F4A7C15ull);
}

void bf_dropout_forward(float *out, uint8_t *mask, const float *in, size_t n, float p,
                        uint64_t seed, uint32_t salt, uint64_t step, uint32_t layer)
{
    if (p <= 0.0f) {
        if (out != in)
            memcpy(out, in, n * sizeof(float));
        return;
    }
    const float scale = 1.0f / (1.0f - p);
    const uint64_t key = dropout_key(seed);
    const uint32_t thresh = (uint32_t)((double)p * 65536.0);
    enum { CHUNK = 4096 }; /* a multiple of 8: chunks start on a Philox group */
    size_t nchunk = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < nchunk; c++) {
        size_t e0 = c * CHUNK, len = e0 + CHUNK < n ? CHUNK : n - e0;
        dropout_range(out + e0, mask + e0, in + e0, e0, len, key, thresh, scale, salt, step,
                      layer);
    }
}

void bf_dropout_rows_forward(float *out, uint8_t *mask, const float *in, int R, int W, int row0,
                             int row_step, float p, uint64_t seed, uint32_t salt, uint64_t step,
                             uint32_t layer)
{
    if (p <= 0.0f) {
        if (out != in)
            memcpy(out, in, (size_t)R * W * sizeof(float));
        return;
    }
    const float scale = 1.0f / (1.0f - p);
    const uint64_t key = dropout_key(seed);
    const uint32_t thresh = (uint32_t)((double)p * 65536.0);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        size_t o = (size_t)r * W, e0 = ((size_t)row0 + (size_t)r * row_step) * W;
        dropout_range(out + o, mask + o, in + o, e0, (size_t)W, key, thresh, scale, salt, step,
                      layer);
    }
}

void bf_dropout_backward(float *din, const float *dout, const uint8_t *mask, size_t n, float p)
{
    if (p <= 0.0f) {
        if (din != dout)
            memcpy(din, dout, n * sizeof(float));
        return;
    }
    const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++)
        din[i] = mask[i] ? dout[i] * scale : 0.0f;
}

double bf_huber_forward(const float *pred, const float *y, int B, float delta)
{
    double s = 0.0;
    for (int i = 0; i < B; i++) {
        double d = (double)pred[i] - y[i], a = fabs(d);
        s += a < delta ? 0.5 * d * d : delta * (a - 0.5 * delta);
    }
    return s / B;
}

void bf_huber_backward(float *dpred, const float *pred, const float *y, int B, float delta)
{
    for (int i = 0; i < B; i++) {
        float d = pred[i] - y[i];
        float g = fabsf(d) < delta ? d : (d > 0 ? delta : -delta);
        dpred[i] = g / (float)B;
    }
}

double bf_mse_forward(const float *pred, const float *y, int B)
{
    double s = 0.0;
    for (int i = 0; i < B; i++) {
        double d = (double)pred[i] - y[i];
        s += d * d;
    }
    return s / B;
}

void bf_mse_backward(float *dpred, const float *pred, const float *y, int B)
{
    for (int i = 0; i < B; i++)
        dpred[i] = 2.0f * (pred[i] - y[i]) / (float)B;
}
