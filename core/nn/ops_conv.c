/* ops_conv.c - depthwise causal dilated Conv1d, symbol-embedding tiling,
 * patch extraction (im2col), learned positions and per-sample transposes.
 *
 * All work on channel-last rows. Weight and bias gradients are summed over
 * (batch, time) per channel block, in order, in double: independent of the
 * thread count. Kernel widths are limited to BF_DW_MAX_K (config checks).
 */
#include "core/nn/ops.h"

#include <assert.h>
#include <string.h>

#include "core/nn/kern.h"

#define BF_DW_MAX_K 32

void bf_dwconv_forward(float *out, const float *in, const float *w, const float *b, int B, int L,
                       int H, int K, int d)
{
    const bf_kern *kn = bf_kern_get();
    assert(K >= 1 && K <= BF_DW_MAX_K);
#pragma omp parallel for schedule(static)
    for (int bb = 0; bb < B; bb++)
        kn->dwconv_fwd(out + (size_t)bb * L * H, in + (size_t)bb * L * H, w, b, L, H, K, d);
}

void bf_dwconv_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, int B, int L, int H, int K, int d, int accum)
{
    const bf_kern *kn = bf_kern_get();
    assert(K >= 1 && K <= BF_DW_MAX_K);
    if (din) {
#pragma omp parallel for schedule(static)
        for (int bb = 0; bb < B; bb++)
            kn->dwconv_bwd_in(din + (size_t)bb * L * H, dout + (size_t)bb * L * H, w, L, H, K, d,
                              accum);
    }
    if (!dw && !db)
        return;
    /* per block of 16 channels: float sums over one window (L rows), added
     * window by window in order into double accumulators */
    enum { CB = 16 };
    int nblk = (H + CB - 1) / CB;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CB, nc = c0 + CB < H ? CB : H - c0;
        double aw[BF_DW_MAX_K * CB], ab[CB];
        memset(aw, 0, sizeof aw);
        memset(ab, 0, sizeof ab);
        kn->dwconv_bwd_w(aw, ab, dout, in, B, L, H, c0, nc, K, d);
        for (int c = 0; c < nc; c++) {
            if (db)
                db[c0 + c] += (float)ab[c];
            if (dw)
                for (int k = 0; k < K; k++)
                    dw[(size_t)(c0 + c) * K + k] += (float)aw[k * CB + c];
        }
    }
}

void bf_dwconv_backward_ws(float *din, float *dw, float *db, const float *dout, const float *in,
                           const float *w, int B, int L, int H, int K, int d, int accum,
                           float *scratch)
{
    const bf_kern *kn = bf_kern_get();
    assert(K >= 1 && K <= BF_DW_MAX_K);
    const size_t W = (size_t)(K + 1) * H; /* one window's partials */
#pragma omp parallel for schedule(static)
    for (int bb = 0; bb < B; bb++)
        kn->dwconv_bwd_win(din + (size_t)bb * L * H, scratch + bb * W, dout + (size_t)bb * L * H,
                           in + (size_t)bb * L * H, w, L, H, K, d, accum);
    bf_dwconv_reduce(dw, db, scratch, B, H, K);
}

void bf_dwconv_reduce(float *dw, float *db, const float *scratch, int B, int H, int K)
{
    const size_t W = (size_t)(K + 1) * H;
    /* the windows' partials added in window order in double */
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < W; j++) {
        double acc = 0.0;
        for (int bb = 0; bb < B; bb++)
            acc += scratch[bb * W + j];
        int k = (int)(j / (size_t)H), c = (int)(j % (size_t)H);
        if (k < K)
            dw[(size_t)c * K + k] += (float)acc;
        else
            db[c] += (float)acc;
    }
}

void bf_tile_forward(float *out, const float *x, const int32_t *sym, const float *emb, int B, int C,
                     int L, int E)
{
    const int W = C + E;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        const float *xb = x + (size_t)b * C * L;
        float *ob = out + (size_t)b * L * W;
        for (int c = 0; c < C; c++)
            for (int t = 0; t < L; t++)
                ob[(size_t)t * W + c] = xb[(size_t)c * L + t];
        if (E > 0) {
            const float *e = emb + (size_t)sym[b] * E;
            for (int t = 0; t < L; t++)
                memcpy(ob + (size_t)t * W + C, e, (size_t)E * sizeof(float));
        }
    }
}

void bf_tile_backward(float *demb, const float *dout, const int32_t *sym, int B, int C, int L,
                      int E)
{
    const int W = C + E;
    /* serial over the batch: two windows may share a symbol, and a fixed
     * order keeps the sum reproducible (B*L*E is small) */
    for (int b = 0; b < B; b++) {
        float *de = demb + (size_t)sym[b] * E;
        for (int e = 0; e < E; e++) {
            double s = 0.0;
            for (int t = 0; t < L; t++)
                s += dout[((size_t)b * L + t) * W + C + e];
            de[e] += (float)s;
        }
    }
}

void bf_im2col_forward(float *cols, const float *in, int B, int L, int H, int P, int S, int T)
{
#pragma omp parallel for schedule(static) collapse(2)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            memcpy(cols + ((size_t)b * T + t) * P * H, in + ((size_t)b * L + (size_t)t * S) * H,
                   (size_t)P * H * sizeof(float));
}

void bf_im2col_backward(float *din, const float *dcols, int B, int L, int H, int P, int S, int T)
{
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        float *db = din + (size_t)b * L * H;
        memset(db, 0, (size_t)L * H * sizeof(float));
        for (int t = 0; t < T; t++) {
            const float *g = dcols + ((size_t)b * T + t) * P * H;
            float *o = db + (size_t)t * S * H;
            for (size_t i = 0; i < (size_t)P * H; i++)
                o[i] += g[i];
        }
    }
}

void bf_pos_forward(float *x, const float *pos, int B, int T, int D)
{
#pragma omp parallel for schedule(static) collapse(2)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *o = x + ((size_t)b * T + t) * D;
            const float *p = pos + (size_t)t * D;
            for (int i = 0; i < D; i++)
                o[i] += p[i];
        }
}

void bf_pos_backward(float *dpos, const float *dx, int B, int T, int D)
{
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        float *o = dpos + (size_t)t * D;
        for (int i = 0; i < D; i++) {
            double s = 0.0;
            for (int b = 0; b < B; b++)
                s += dx[((size_t)b * T + t) * D + i];
            o[i] += (float)s;
        }
    }
}

void bf_transpose(float *out, const float *in, int B, int R, int W, int accum)
{
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        const float *ib = in + (size_t)b * R * W;
        float *ob = out + (size_t)b * R * W;
        for (int r = 0; r < R; r++)
            for (int w = 0; w < W; w++) {
                float v = ib[(size_t)r * W + w];
                if (accum)
                    ob[(size_t)w * R + r] += v;
                else
                    ob[(size_t)w * R + r] = v;
            }
    }
}
