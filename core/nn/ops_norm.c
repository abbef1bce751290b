/* ops_norm.c - LayerNorm over the feature dim and GroupNorm over channel-last
 * windows; eps 1e-5 and biased variance as in PyTorch. The arithmetic is in
 * the vector kernels (kern_body.h); this file splits the work.
 *
 * Statistics: float lanes over a row (LayerNorm) or per channel over a window
 * (GroupNorm), combined in double. Gain and bias gradients are summed in a
 * fixed order (per column block over runs of rows for LayerNorm, per sample
 * then over the batch for GroupNorm) so they do not depend on the thread
 * count.
 */
#include "core/nn/ops.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "core/nn/kern.h"

#define BF_GN_MAX_GROUPS 64

void bf_layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w,
                          const float *b, int N, int D)
{
    const bf_kern *k = bf_kern_get();
    const int rb = 16, nblk = (N + rb - 1) / rb;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int n0 = blk * rb, nr = N - n0 < rb ? N - n0 : rb;
        k->ln_fwd(out + (size_t)n0 * D, mean + n0, rstd + n0, in + (size_t)n0 * D, w, b, nr, D);
    }
}

void bf_layernorm_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                           const float *w, const float *mean, const float *rstd, int N, int D)
{
    const bf_kern *k = bf_kern_get();
    const int rb = 16, nblk = (N + rb - 1) / rb;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int n0 = blk * rb, nr = N - n0 < rb ? N - n0 : rb;
        k->ln_bwd_in(din + (size_t)n0 * D, dout + (size_t)n0 * D, in + (size_t)n0 * D, w, mean + n0,
                     rstd + n0, nr, D);
    }
    enum { CB = 64 };
    int ncb = (D + CB - 1) / CB;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < ncb; blk++) {
        int c0 = blk * CB, nc = c0 + CB < D ? CB : D - c0;
        double aw[CB] = {0}, ab[CB] = {0};
        k->ln_bwd_w(aw, ab, dout, in, mean, rstd, N, D, c0, nc);
        for (int i = 0; i < nc; i++) {
            dw[c0 + i] += (float)aw[i];
            db[c0 + i] += (float)ab[i];
        }
    }
}

void bf_groupnorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w,
                          const float *b, int B, int L, int H, int G)
{
    assert(G >= 1 && G <= BF_GN_MAX_GROUPS && H % G == 0);
    const bf_kern *k = bf_kern_get();
#pragma omp parallel for schedule(static)
    for (int bb = 0; bb < B; bb++)
        k->gn_fwd(out + (size_t)bb * L * H, mean + (size_t)bb * G, rstd + (size_t)bb * G,
                  in + (size_t)bb * L * H, w, b, L, H, G);
}

void bf_groupnorm_dropout_backward(float *din, float *dw, float *db, const float *dout,
                                   const uint8_t *mask, float p, const float *in, const float *w,
                                   const float *mean, const float *rstd, int B, int L, int H, int G,
                                   float *scratch)
{
    assert(G >= 1 && G <= BF_GN_MAX_GROUPS && H % G == 0);
    const bf_kern *k = bf_kern_get();
    const float scale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    if (p <= 0.0f)
        mask = NULL;
    float *pw = scratch, *pb = scratch + (size_t)B * H; /* per-sample gain/bias grads */
#pragma omp parallel for schedule(static)
    for (int bb = 0; bb < B; bb++) {
        size_t o = (size_t)bb * L * H;
        k->gn_bwd(din + o, pw + (size_t)bb * H, pb + (size_t)bb * H, dout + o,
                  mask ? mask + o : NULL, scale, in + o, w, mean + (size_t)bb * G,
                  rstd + (size_t)bb * G, L, H, G);
    }
    bf_colsum_add(dw, pw, B, H);
    bf_colsum_add(db, pb, B, H);
}

void bf_groupnorm_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                           const float *w, const float *mean, const float *rstd, int B, int L,
                           int H, int G, float *scratch)
{
    bf_groupnorm_dropout_backward(din, dw, db, dout, NULL, 0.0f, in, w, mean, rstd, B, L, H, G,
                                  scratch);
}
