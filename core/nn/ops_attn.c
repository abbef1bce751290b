/* ops_attn.c - multi-head scaled dot-product self-attention (causal or not).
 *
 * One (sample, head) pair is one independent task: it reads its own slices
 * of qkv and writes its own slices of out/dqkv, so the loop over pairs runs
 * in parallel with no reductions shared between threads. Sequences here are
 * short (tokens <= a few hundred), so direct loops beat per-pair GEMM calls.
 * A pair runs on the vector kernel (kern.h: keys and values transposed on
 * the stack, scores 16 keys at a time, sums in the scalar order); pairs too
 * large for its scratch run the scalar loops below. The last-query forms
 * (a few rows per pair) stay scalar.
 */
#include "core/nn/ops.h"

#include <math.h>
#include <string.h>

#include "core/nn/kern.h"

/* One query row: row[0..ns) = softmax(scale q.k_s) over keys k_s (at
 * kstride floats apart), then o (dh) = sum_s row[s] v_s (v_s at k_s + voff);
 * the scalar arithmetic both fallbacks below share. */
static void attn_row(float *o, float *row, const float *q, const float *k0, size_t kstride,
                     size_t voff, int ns, int dh, float scale)
{
    float mx = -INFINITY;
    for (int s = 0; s < ns; s++) {
        const float *k = k0 + (size_t)s * kstride;
        float dot = 0.0f;
        for (int i = 0; i < dh; i++)
            dot += q[i] * k[i];
        dot *= scale;
        row[s] = dot;
        if (dot > mx)
            mx = dot;
    }
    float sum = 0.0f;
    for (int s = 0; s < ns; s++) {
        row[s] = expf(row[s] - mx);
        sum += row[s];
    }
    float inv = 1.0f / sum;
    for (int s = 0; s < ns; s++)
        row[s] *= inv;
    memset(o, 0, (size_t)dh * sizeof(float));
    for (int s = 0; s < ns; s++) {
        const float *v = k0 + (size_t)s * kstride + voff;
        float p = row[s];
        for (int i = 0; i < dh; i++)
            o[i] += p * v[i];
    }
}

/* Scalar fallbacks for one (window, head) whose T*dh exceeds the vector
 * kernels' stack scratch: the same arithmetic, libm's expf. */
static void attn_fwd_pair(float *out, float *a, const float *base, int T, int D, int dh, int h,
                          float scale, int causal)
{
    const int D3 = 3 * D;
    for (int t = 0; t < T; t++) {
        float *row = a + (size_t)t * T;
        int ns = causal ? t + 1 : T;
        attn_row(out + (size_t)t * D + h * dh, row, base + (size_t)t * D3 + h * dh,
                 base + D + h * dh, (size_t)D3, (size_t)D, ns, dh, scale);
        for (int s = ns; s < T; s++)
            row[s] = 0.0f;
    }
}

static void attn_bwd_pair(float *dbase, const float *dout, const float *base, const float *a,
                          float *datt, int T, int D, int dh, int h, float scale, int causal)
{
    const int D3 = 3 * D;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < 3; j++)
            memset(dbase + (size_t)t * D3 + j * D + h * dh, 0, (size_t)dh * sizeof(float));
    for (int t = 0; t < T; t++) {
        const float *row = a + (size_t)t * T;
        const float *g = dout + (size_t)t * D + h * dh;
        int ns = causal ? t + 1 : T;
        float dot_sum = 0.0f;
        for (int s = 0; s < ns; s++) {
            const float *v = base + (size_t)s * D3 + 2 * D + h * dh;
            float *dv = dbase + (size_t)s * D3 + 2 * D + h * dh;
            float da = 0.0f;
            for (int i = 0; i < dh; i++) {
                da += g[i] * v[i];
                dv[i] += row[s] * g[i];
            }
            datt[s] = da;
            dot_sum += row[s] * da;
        }
        const float *q = base + (size_t)t * D3 + h * dh;
        float *dq = dbase + (size_t)t * D3 + h * dh;
        for (int s = 0; s < ns; s++) {
            float dp = row[s] * (datt[s] - dot_sum) * scale;
            const float *k = base + (size_t)s * D3 + D + h * dh;
            float *dk = dbase + (size_t)s * D3 + D + h * dh;
            for (int i = 0; i < dh; i++) {
                dq[i] += dp * k[i];
                dk[i] += dp * q[i];
            }
        }
    }
}

static void attn_fwd_one(float *out, float *att, const float *qkv, int b, int h, int T, int D,
                         int NH, int causal)
{
    const int dh = D / NH, D3 = 3 * D;
    const float scale = 1.0f / sqrtf((float)dh);
    const float *base = qkv + (size_t)b * T * D3;
    float *a = att + ((size_t)b * NH + h) * T * T;
    float *o = out + (size_t)b * T * D + h * dh;
    if (bf_kern_get()->attn_fwd(o, D, a, base + h * dh, base + D + h * dh, base + 2 * D + h * dh,
                                D3, T, dh, scale, causal) != 0)
        attn_fwd_pair(out + (size_t)b * T * D, a, base, T, D, dh, h, scale, causal);
}

static void attn_bwd_one(float *dqkv, const float *dout, const float *qkv, const float *att, int b,
                         int h, int T, int D, int NH, int causal, float *scratch)
{
    const int dh = D / NH, D3 = 3 * D;
    const float scale = 1.0f / sqrtf((float)dh);
    const float *base = qkv + (size_t)b * T * D3;
    float *dbase = dqkv + (size_t)b * T * D3;
    const float *a = att + ((size_t)b * NH + h) * T * T;
    const float *g = dout + (size_t)b * T * D + h * dh;
    const int o = h * dh;
    if (bf_kern_get()->attn_bwd(dbase + o, dbase + D + o, dbase + 2 * D + o, g, D, base + o,
                                base + D + o, base + 2 * D + o, D3, a, T, dh, scale, causal) != 0)
        attn_bwd_pair(dbase, dout + (size_t)b * T * D, base, a, scratch + ((size_t)b * NH + h) * T,
                      T, D, dh, h, scale, causal);
}

void bf_attention_forward(float *out, float *att, const float *qkv, int B, int T, int D, int NH,
                          int causal)
{
#pragma omp parallel for schedule(static) collapse(2)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            attn_fwd_one(out, att, qkv, b, h, T, D, NH, causal);
}

void bf_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                           int B, int T, int D, int NH, int causal, float *scratch)
{
#pragma omp parallel for schedule(static) collapse(2)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            attn_bwd_one(dqkv, dout, qkv, att, b, h, T, D, NH, causal, scratch);
}

void bf_attention_forward_serial(float *out, float *att, const float *qkv, int B, int T, int D,
                                 int NH, int causal)
{
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            attn_fwd_one(out, att, qkv, b, h, T, D, NH, causal);
}

void bf_attention_backward_serial(float *dqkv, const float *dout, const float *qkv,
                                  const float *att, int B, int T, int D, int NH, int causal,
                                  float *scratch)
{
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            attn_bwd_one(dqkv, dout, qkv, att, b, h, T, D, NH, causal, scratch);
}

void bf_attention_last_forward(float *out, float *att, const float *q, const float *kv, int B,
                               int T, int D, int NH)
{
    const int dh = D / NH, D2 = 2 * D;
    const float scale = 1.0f / sqrtf((float)dh);
#pragma omp parallel for schedule(static) collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            const float *base = kv + (size_t)b * T * D2;
            attn_row(out + (size_t)b * D + h * dh, att + ((size_t)b * NH + h) * T,
                     q + (size_t)b * D + h * dh, base + h * dh, (size_t)D2, (size_t)D, T, dh,
                     scale);
        }
    }
}

void bf_attention_last_backward(float *dq, float *dkv, const float *dout, const float *q,
                                const float *kv, const float *att, int B, int T, int D, int NH,
                                float *scratch)
{
    const int dh = D / NH, D2 = 2 * D;
    const float scale = 1.0f / sqrtf((float)dh);
#pragma omp parallel for schedule(static) collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            const float *base = kv + (size_t)b * T * D2;
            float *dbase = dkv + (size_t)b * T * D2;
            const float *row = att + ((size_t)b * NH + h) * T;
            const float *g = dout + (size_t)b * D + h * dh;
            const float *qh = q + (size_t)b * D + h * dh;
            float *dqh = dq + (size_t)b * D + h * dh;
            float *datt = scratch + ((size_t)b * NH + h) * T;
            float dot_sum = 0.0f;
            for (int s = 0; s < T; s++) {
                const float *v = base + (size_t)s * D2 + D + h * dh;
                float *dv = dbase + (size_t)s * D2 + D + h * dh;
                float da = 0.0f;
                for (int i = 0; i < dh; i++) {
                    da += g[i] * v[i];
                    dv[i] = row[s] * g[i];
                }
                datt[s] = da;
                dot_sum += row[s] * da;
            }
            memset(dqh, 0, (size_t)dh * sizeof(float));
            for (int s = 0; s < T; s++) {
                float dp = row[s] * (datt[s] - dot_sum) * scale;
                const float *k = base + (size_t)s * D2 + h * dh;
                float *dk = dbase + (size_t)s * D2 + h * dh;
                for (int i = 0; i < dh; i++) {
                    dqh[i] += dp * k[i];
                    dk[i] = dp * qh[i];
                }
            }
        }
    }
}
