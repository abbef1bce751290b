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
#include "core/nn/kern.h"

/* GLU and GELU run the vector kernels (kern.h) on row blocks / fixed
 * element blocks shared among the threads. */
#define BF_ELEM_BLOCK 4096 /* elements per parallel chunk */
#define BF_RUN        32   /* rows per column-sum run, as bf_colsum_add */

/* db (W) += the runs' partial column sums part (nruns, W), added in run
 * order in double: the arithmetic of bf_colsum_add */
void bf_add_runs(float *db, const float *part, int nruns, int W)
{
#pragma omp parallel for schedule(static)
    for (int c = 0; c < W; c++) {
        double acc = 0.0;
        for (int r = 0; r < nruns; r++)
            acc += part[(size_t)r * W + c];
        db[c] += (float)acc;
    }
}

void bf_glu_forward(float *out, const float *in, int N, int H)
{
    const bf_kern *k = bf_kern_get();
    const int rb = H >= BF_ELEM_BLOCK ? 1 : BF_ELEM_BLOCK / H, nblk = (N + rb - 1) / rb;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int n0 = blk * rb, nr = N - n0 < rb ? N - n0 : rb;
        k->glu_fwd(out + (size_t)n0 * H, in + (size_t)n0 * 2 * H, NULL, NULL, nr, H);
    }
}

void bf_glu_backward(float *din, const float *dout, const float *in, int N, int H)
{
    const bf_kern *k = bf_kern_get();
    const int rb = H >= BF_ELEM_BLOCK ? 1 : BF_ELEM_BLOCK / H, nblk = (N + rb - 1) / rb;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int n0 = blk * rb, nr = N - n0 < rb ? N - n0 : rb;
        k->glu_bwd(din + (size_t)n0 * 2 * H, dout + (size_t)n0 * H, in + (size_t)n0 * 2 * H, NULL,
                   0, NULL, nr, H);
    }
}

void bf_glu_forward_save(float *out, float *p, const float *bias, int N, int H)
{
    const bf_kern *k = bf_kern_get();
    const int rb = H >= BF_ELEM_BLOCK ? 1 : BF_ELEM_BLOCK / H, nblk = (N + rb - 1) / rb;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int n0 = blk * rb, nr = N - n0 < rb ? N - n0 : rb;
        float *pr = p + (size_t)n0 * 2 * H;
        k->glu_fwd(out + (size_t)n0 * H, pr, bias, pr + H, nr, H);
    }
}

void bf_glu_backward_saved(float *din, const float *dout, const float *p, const float *bias, int N,
                           int H, float *db, float *scratch)
{
    const bf_kern *k = bf_kern_get();
    const int nblk = (N + BF_RUN - 1) / BF_RUN;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int n0 = blk * BF_RUN, nr = N - n0 < BF_RUN ? N - n0 : BF_RUN;
        k->glu_bwd(din + (size_t)n0 * 2 * H, dout + (size_t)n0 * H, p + (size_t)n0 * 2 * H, bias, 1,
                   db ? scratch + (size_t)blk * 2 * H : NULL, nr, H);
    }
    if (db)
        bf_add_runs(db, scratch, nblk, 2 * H);
}

void bf_gelu_forward(float *out, const float *in, size_t n)
{
    const bf_kern *k = bf_kern_get();
    size_t nblk = (n + BF_ELEM_BLOCK - 1) / BF_ELEM_BLOCK;
#pragma omp parallel for schedule(static)
    for (size_t blk = 0; blk < nblk; blk++) {
        size_t i = blk * BF_ELEM_BLOCK, len = i + BF_ELEM_BLOCK < n ? BF_ELEM_BLOCK : n - i;
        k->gelu_fwd(out + i, in + i, NULL, 1, len);
    }
}

void bf_gelu_backward(float *din, const float *dout, const float *in, size_t n)
{
    const bf_kern *k = bf_kern_get();
    size_t nblk = (n + BF_ELEM_BLOCK - 1) / BF_ELEM_BLOCK;
#pragma omp parallel for schedule(static)
    for (size_t blk = 0; blk < nblk; blk++) {
        size_t i = blk * BF_ELEM_BLOCK, len = i + BF_ELEM_BLOCK < n ? BF_ELEM_BLOCK : n - i;
        k->gelu_bwd(din + i, dout + i, in + i, NULL, NULL, 1, len);
    }
}

void bf_gelu_bias_forward(float *out, const float *in, const float *bias, int N, int W)
{
    const bf_kern *k = bf_kern_get();
    const int rb = W >= BF_ELEM_BLOCK ? 1 : BF_ELEM_BLOCK / W, nblk = (N + rb - 1) / rb;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int n0 = blk * rb, nr = N - n0 < rb ? N - n0 : rb;
        k->gelu_fwd(out + (size_t)n0 * W, in + (size_t)n0 * W, bias, nr, (size_t)W);
    }
}

void bf_gelu_bias_backward(float *din, const float *dout, const float *in, const float *bias, int N,
                           int W, float *db, float *scratch)
{
    const bf_kern *k = bf_kern_get();
    const int nblk = (N + BF_RUN - 1) / BF_RUN;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int n0 = blk * BF_RUN, nr = N - n0 < BF_RUN ? N - n0 : BF_RUN;
        size_t o = (size_t)n0 * W;
        k->gelu_bwd(din + o, dout + o, in + o, bias, db ? scratch + (size_t)blk * W : NULL, nr,
                    (size_t)W);
    }
    if (db)
        bf_add_runs(db, scratch, nblk, W);
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

/* the stream is folded into the key as bf_rng_* do, so dropout never shares
 * draws with initialization or shuffling */
static uint64_t dropout_key(uint64_t seed)
{
    return seed ^ ((uint64_t)BF_RNG_STREAM_DROPOUT * 0x9E3779B97F4A7C15ull);
}

void bf_dropout_add_range(float *out, uint8_t *mask, const float *in, const float *res, size_t e0,
                          size_t n, float p, uint64_t seed, uint32_t salt, uint64_t step,
                          uint32_t layer)
{
    if (p <= 0.0f) {
        if (res)
            for (size_t i = 0; i < n; i++)
                out[i] = res[i] + in[i];
        else if (out != in)
            memcpy(out, in, n * sizeof(float));
        return;
    }
    bf_kern_get()->dropout(out, mask, in, res, e0, n, dropout_key(seed),
                           (uint32_t)((double)p * 65536.0), 1.0f / (1.0f - p), layer,
                           (uint32_t)step, salt);
}

void bf_dropout_add_replay(float *out, const uint8_t *mask, const float *in, const float *res,
                           size_t n, float p)
{
    if (p <= 0.0f) {
        for (size_t i = 0; i < n; i++)
            out[i] = res[i] + in[i];
        return;
    }
    const float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++)
        out[i] = res[i] + (mask[i] ? in[i] * scale : 0.0f);
}

void bf_dropout_add_forward(float *out, uint8_t *mask, const float *in, const float *res, size_t n,
                            float p, uint64_t seed, uint32_t salt, uint64_t step, uint32_t layer)
{
    if (p <= 0.0f) {
        if (res)
            bf_add_forward(out, res, in, n);
        else if (out != in)
            memcpy(out, in, n * sizeof(float));
        return;
    }
    const bf_kern *k = bf_kern_get();
    const float scale = 1.0f / (1.0f - p);
    const uint64_t key = dropout_key(seed);
    /* 16 bits per element: keep iff u16 >= p 2^16 */
    const uint32_t thresh = (uint32_t)((double)p * 65536.0);
    enum { CHUNK = 8192 }; /* a multiple of 128: chunks start on a 16-group block */
    size_t nchunk = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < nchunk; c++) {
        size_t e0 = c * CHUNK, len = e0 + CHUNK < n ? CHUNK : n - e0;
        k->dropout(out + e0, mask + e0, in + e0, res ? res + e0 : NULL, e0, len, key, thresh, scale,
                   layer, (uint32_t)step, salt);
    }
}

void bf_dropout_forward(float *out, uint8_t *mask, const float *in, size_t n, float p,
                        uint64_t seed, uint32_t salt, uint64_t step, uint32_t layer)
{
    bf_dropout_add_forward(out, mask, in, NULL, n, p, seed, salt, step, layer);
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
    const bf_kern *k = bf_kern_get();
    const float scale = 1.0f / (1.0f - p);
    const uint64_t key = dropout_key(seed);
    const uint32_t thresh = (uint32_t)((double)p * 65536.0);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        size_t o = (size_t)r * W, e0 = ((size_t)row0 + (size_t)r * row_step) * W;
        k->dropout(out + o, mask + o, in + o, NULL, e0, (size_t)W, key, thresh, scale, layer,
                   (uint32_t)step, salt);
    }
}

void bf_dropout_backward_range(float *din, const float *dout, const uint8_t *mask, size_t n,
                               float p)
{
    if (p <= 0.0f) {
        if (din != dout)
            memcpy(din, dout, n * sizeof(float));
        return;
    }
    bf_kern_get()->dropout_bwd(din, dout, mask, n, 1.0f / (1.0f - p));
}

void bf_dropout_backward(float *din, const float *dout, const uint8_t *mask, size_t n, float p)
{
    if (p <= 0.0f) {
        if (din != dout)
            memcpy(din, dout, n * sizeof(float));
        return;
    }
    const bf_kern *k = bf_kern_get();
    const float scale = 1.0f / (1.0f - p);
    size_t nblk = (n + BF_ELEM_BLOCK - 1) / BF_ELEM_BLOCK;
#pragma omp parallel for schedule(static)
    for (size_t blk = 0; blk < nblk; blk++) {
        size_t i = blk * BF_ELEM_BLOCK, len = i + BF_ELEM_BLOCK < n ? BF_ELEM_BLOCK : n - i;
        k->dropout_bwd(din + i, dout + i, mask + i, len, scale);
    }
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
