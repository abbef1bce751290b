/* ops_norm.c - LayerNorm over the feature dim and GroupNorm over channel-last
 * windows; eps 1e-5 and biased variance as in PyTorch.
 *
 * Statistics are accumulated in double. Gain and bias gradients are summed in
 * a fixed order (per column block for LayerNorm, per sample then over the
 * batch for GroupNorm) so they do not depend on the thread count.
 */
#include "core/nn/ops.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#define BF_NORM_EPS 1e-5
#define BF_GN_MAX_GROUPS 64

void bf_layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w,
                          const float *b, int N, int D)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * D;
        double s = 0.0, ss = 0.0;
        for (int i = 0; i < D; i++)
            s += x[i];
        double mu = s / D;
        for (int i = 0; i < D; i++) {
            double dx = x[i] - mu;
            ss += dx * dx;
        }
        float m = (float)mu, r = (float)(1.0 / sqrt(ss / D + BF_NORM_EPS));
        float *o = out + (size_t)n * D;
        for (int i = 0; i < D; i++)
            o[i] = (x[i] - m) * r * w[i] + b[i];
        mean[n] = m;
        rstd[n] = r;
    }
}

void bf_layernorm_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                           const float *w, const float *mean, const float *rstd, int N, int D)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * D, *g = dout + (size_t)n * D;
        float m = mean[n], r = rstd[n];
        double s1 = 0.0, s2 = 0.0;
        for (int i = 0; i < D; i++) {
            float dn = g[i] * w[i];
            s1 += dn;
            s2 += dn * (x[i] - m) * r;
        }
        float m1 = (float)(s1 / D), m2 = (float)(s2 / D);
        float *o = din + (size_t)n * D;
        for (int i = 0; i < D; i++) {
            float xh = (x[i] - m) * r;
            o[i] = (g[i] * w[i] - m1 - xh * m2) * r;
        }
    }
    enum { CB = 32 };
    int nblk = (D + CB - 1) / CB;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CB, c1 = c0 + CB < D ? c0 + CB : D;
        double aw[CB] = {0}, ab[CB] = {0};
        for (int n = 0; n < N; n++) {
            const float *x = in + (size_t)n * D, *g = dout + (size_t)n * D;
            float m = mean[n], r = rstd[n];
            for (int i = c0; i < c1; i++) {
                aw[i - c0] += (double)g[i] * ((x[i] - m) * r);
                ab[i - c0] += g[i];
            }
        }
        for (int i = c0; i < c1; i++) {
            dw[i] += (float)aw[i - c0];
            db[i] += (float)ab[i - c0];
        }
    }
}

void bf_groupnorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w,
                          const float *b, int B, int L, int H, int G)
{
    assert(G >= 1 && G <= BF_GN_MAX_GROUPS && H % G == 0);
    const int cg = H / G;
    const double cnt = (double)L * cg;
#pragma omp parallel for schedule(static)
    for (int bb = 0; bb < B; bb++) {
        const float *xb = in + (size_t)bb * L * H;
        double s[BF_GN_MAX_GROUPS] = {0}, ss[BF_GN_MAX_GROUPS] = {0};
        for (int t = 0; t < L; t++)
            for (int g = 0; g < G; g++) {
                const float *x = xb + (size_t)t * H + g * cg;
                float ps = 0.0f;
#pragma omp simd reduction(+ : ps)
                for (int c = 0; c < cg; c++)
                    ps += x[c];
                s[g] += ps;
            }
        float m[BF_GN_MAX_GROUPS], r[BF_GN_MAX_GROUPS];
        for (int g = 0; g < G; g++)
            m[g] = (float)(s[g] / cnt);
        for (int t = 0; t < L; t++)
            for (int g = 0; g < G; g++) {
                const float *x = xb + (size_t)t * H + g * cg;
                float mg = m[g], ps = 0.0f;
#pragma omp simd reduction(+ : ps)
                for (int c = 0; c < cg; c++)
                    ps += (x[c] - mg) * (x[c] - mg);
                ss[g] += ps;
            }
        for (int g = 0; g < G; g++) {
            r[g] = (float)(1.0 / sqrt(ss[g] / cnt + BF_NORM_EPS));
            mean[(size_t)bb * G + g] = m[g];
            rstd[(size_t)bb * G + g] = r[g];
        }
        float *ob = out + (size_t)bb * L * H;
        for (int t = 0; t < L; t++)
            for (int g = 0; g < G; g++) {
                const float *x = xb + (size_t)t * H + g * cg;
                const float *wg = w + g * cg, *bg = b + g * cg;
                float *o = ob + (size_t)t * H + g * cg;
                float mg = m[g], rg = r[g];
#pragma omp simd
                for (int c = 0; c < cg; c++)
                    o[c] = (x[c] - mg) * rg * wg[c] + bg[c];
            }
    }
}

void bf_groupnorm_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                           const float *w, const float *mean, const float *rstd, int B, int L,
                           int H, int G, float *scratch)
{
    assert(G >= 1 && G <= BF_GN_MAX_GROUPS && H % G == 0);
    const int cg = H / G;
    const double cnt = (double)L * cg;
    float *pw = scratch, *pb = scratch + (size_t)B * H; /* per-sample gain/bias grads */
#pragma omp parallel for schedule(static)
    for (int bb = 0; bb < B; bb++) {
        const float *xb = in + (size_t)bb * L * H, *gb = dout + (size_t)bb * L * H;
        const float *m = mean + (size_t)bb * G, *r = rstd + (size_t)bb * G;
        float *sw = pw + (size_t)bb * H, *sb = pb + (size_t)bb * H;
        memset(sw, 0, (size_t)H * sizeof(float));
        memset(sb, 0, (size_t)H * sizeof(float));
        double s1[BF_GN_MAX_GROUPS] = {0}, s2[BF_GN_MAX_GROUPS] = {0};
        for (int t = 0; t < L; t++)
            for (int g = 0; g < G; g++) {
                const float *x = xb + (size_t)t * H + g * cg, *gv = gb + (size_t)t * H + g * cg;
                const float *wg = w + g * cg;
                float *swg = sw + g * cg, *sbg = sb + g * cg;
                float mg = m[g], rg = r[g], p1 = 0.0f, p2 = 0.0f;
#pragma omp simd reduction(+ : p1, p2)
                for (int c = 0; c < cg; c++) {
                    float xh = (x[c] - mg) * rg;
                    float dn = gv[c] * wg[c];
                    p1 += dn;
                    p2 += dn * xh;
                    swg[c] += gv[c] * xh;
                    sbg[c] += gv[c];
                }
                s1[g] += p1;
                s2[g] += p2;
            }
        float m1[BF_GN_MAX_GROUPS], m2[BF_GN_MAX_GROUPS];
        for (int g = 0; g < G; g++) {
            m1[g] = (float)(s1[g] / cnt);
            m2[g] = (float)(s2[g] / cnt);
        }
        float *ob = din + (size_t)bb * L * H;
        for (int t = 0; t < L; t++)
            for (int g = 0; g < G; g++) {
                const float *x = xb + (size_t)t * H + g * cg, *gv = gb + (size_t)t * H + g * cg;
                const float *wg = w + g * cg;
                float *o = ob + (size_t)t * H + g * cg;
                float mg = m[g], rg = r[g], a1 = m1[g], a2 = m2[g];
#pragma omp simd
                for (int c = 0; c < cg; c++) {
                    float xh = (x[c] - mg) * rg;
                    o[c] = (gv[c] * wg[c] - a1 - xh * a2) * rg;
                }
            }
    }
    bf_colsum_add(dw, pw, B, H);
    bf_colsum_add(db, pb, B, H);
}
