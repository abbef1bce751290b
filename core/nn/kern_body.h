/* kern_body.h - the bodies of the kernels declared in kern.h, included once
 * per instruction set by kern_<isa>.c after a target pragma, with
 * BF_KERN_TABLE naming the table to define. No include guard on purpose.
 *
 * 16-lane vectors (vec16.h) with the tails run through the same vector code
 * on zero-padded copies, so every element is computed by the same lane
 * arithmetic whatever the length or instruction set.
 */
#include <math.h>

#include "core/base/rng.h"
#include "core/nn/kern.h"
#include "core/nn/vec16.h"

#define BF_INV_SQRT2   0.70710678118654752f
#define BF_INV_SQRT2PI 0.39894228040143268f

BF_VINLINE bf_vf load_n(const float *p, int n)
{
    return n >= BF_VW ? bf_vload(p) : bf_vload_part(p, n);
}

BF_VINLINE void store_n(float *p, bf_vf v, int n)
{
    if (n >= BF_VW)
        bf_vstore(p, v);
    else
        bf_vstore_part(p, v, n);
}

BF_VINLINE bf_vf gelu_v(bf_vf x)
{
    bf_vf h = 0.5f * x; /* x/2 (1 + erf) as h erf + h */
    return bf_vfma(h, bf_verf(x * BF_INV_SQRT2), h);
}

/* R rows of W: out = gelu(in + bias) (bias (W) or NULL) */
static void gelu_fwd(float *out, const float *in, const float *bias, int R, size_t W)
{
    for (int n = 0; n < R; n++) {
        const float *x = in + (size_t)n * W;
        float *o = out + (size_t)n * W;
        for (size_t i = 0; i < W; i += BF_VW) {
            int k = W - i < BF_VW ? (int)(W - i) : BF_VW;
            bf_vf v = load_n(x + i, k);
            if (bias)
                v += load_n(bias + i, k);
            store_n(o + i, gelu_v(v), k);
        }
    }
}

/* GELU's derivative cdf(x) + x pdf(x): the exp(-x^2/2) inside erf (bf_verf
 * with a = |x|/sqrt 2) serves as the pdf's too */
BF_VINLINE bf_vf gelu_grad_v(bf_vf x, bf_vf g)
{
    const bf_vi sign = (bf_vi)bf_vset(-0.0f);
    bf_vf xs = x * BF_INV_SQRT2;
    bf_vf a = (bf_vf)((bf_vi)xs & ~sign);
    bf_vf e = bf_vexp(-(a * a));
    bf_vf y = bf_verf_abs(a, e);
    bf_vf erf = (bf_vf)((bf_vi)y | ((bf_vi)xs & sign));
    bf_vf cdf = bf_vfmas(bf_vset(0.5f), erf, 0.5f);
    bf_vf pdf = BF_INV_SQRT2PI * e;
    return g * bf_vfma(x, pdf, cdf);
}

/* lanes j < n of v added to acc[j] */
BF_VINLINE void acc_cols(float *acc, bf_vf v, int n)
{
    store_n(acc, load_n(acc, n) + v, n);
}

/* din = dout * gelu'(in + bias) over R rows of W; colsum (W) or NULL:
 * overwritten with the column sums of din over the R rows, in row order */
static void gelu_bwd(float *din, const float *dout, const float *in, const float *bias,
                     float *colsum, int R, size_t W)
{
    if (colsum)
        memset(colsum, 0, W * sizeof(float));
    for (int n = 0; n < R; n++) {
        const float *x = in + (size_t)n * W, *g = dout + (size_t)n * W;
        float *o = din + (size_t)n * W;
        for (size_t i = 0; i < W; i += BF_VW) {
            int k = W - i < BF_VW ? (int)(W - i) : BF_VW;
            bf_vf v = load_n(x + i, k);
            if (bias)
                v += load_n(bias + i, k);
            bf_vf d = gelu_grad_v(v, load_n(g + i, k));
            store_n(o + i, d, k);
            if (colsum)
                acc_cols(colsum + i, d, k);
        }
    }
}

BF_VINLINE bf_vf sigmoid_v(bf_vf g)
{
    return 1.0f / (1.0f + bf_vexp(-g));
}

/* GLU of R rows of in (R,2H) = [a | g] plus bias (2H, or NULL): out =
 * (a + ba) * sigmoid(g + bg). sig: where to keep the sigmoid for the
 * backward (rows at stride 2H, may be the g half of in itself), or NULL. */
static void glu_fwd(float *out, const float *in, const float *bias, float *sig, int R, int H)
{
    for (int n = 0; n < R; n++) {
        const float *a = in + (size_t)n * 2 * H, *g = a + H;
        float *o = out + (size_t)n * H, *sr = sig ? sig + (size_t)n * 2 * H : NULL;
        for (int c = 0; c < H; c += BF_VW) {
            int r = H - c;
            bf_vf av = load_n(a + c, r), gv = load_n(g + c, r);
            if (bias) {
                av += load_n(bias + c, r);
                gv += load_n(bias + H + c, r);
            }
            bf_vf sv = sigmoid_v(gv);
            store_n(o + c, av * sv, r);
            if (sr)
                store_n(sr + c, sv, r);
        }
    }
}

/* saved: the g half of in holds the sigmoid (glu_fwd's sig); bias as
 * glu_fwd's. colsum (2H) or NULL: overwritten with the column sums of din
 * over the R rows, in row order. */
static void glu_bwd(float *din, const float *dout, const float *in, const float *bias, int saved,
                    float *colsum, int R, int H)
{
    if (colsum)
        memset(colsum, 0, (size_t)2 * H * sizeof(float));
    for (int n = 0; n < R; n++) {
        const float *a = in + (size_t)n * 2 * H, *g = a + H;
        const float *d = dout + (size_t)n * H;
        float *da = din + (size_t)n * 2 * H, *dg = da + H;
        for (int c = 0; c < H; c += BF_VW) {
            int r = H - c;
            bf_vf av = load_n(a + c, r), gv = load_n(g + c, r);
            if (bias) {
                av += load_n(bias + c, r);
                if (!saved)
                    gv += load_n(bias + H + c, r);
            }
            bf_vf s = saved ? gv : sigmoid_v(gv);
            bf_vf dv = load_n(d + c, r);
            bf_vf ga = dv * s, gg = dv * av * s * (1.0f - s);
            store_n(da + c, ga, r);
            store_n(dg + c, gg, r);
            if (colsum) {
                acc_cols(colsum + c, ga, r);
                acc_cols(colsum + H + c, gg, r);
            }
        }
    }
}

/* ---- depthwise causal dilated conv ---------------------------------------- */

/* The sums run in the order of the scalar definition (bias, then taps k =
 * 0 .. K-1 that fall inside the window), lane by lane over channels.
 *
 * The column-block bodies below are always inlined twice: once with the
 * block width a constant (full blocks of DW_NV vectors: the loops over
 * vectors unroll and the running sums stay in registers) and once with it
 * variable (a ragged last block). Both compute the same lane arithmetic. */
enum { DW_NV = 8 };

/* wk[k][v]: tap k's weights for vector v of the channel block at c0 */
BF_VINLINE void dw_taps(bf_vf wk[][DW_NV], const float *w, int c0, int nc, int nv, int K)
{
    for (int v = 0; v < nv; v++)
        for (int k = 0; k < K; k++) {
            float t[BF_VW] = {0};
            for (int j = 0; j < BF_VW && v * BF_VW + j < nc; j++)
                t[j] = w[(size_t)(c0 + v * BF_VW + j) * K + k];
            wk[k][v] = bf_vload(t);
        }
}

/* acc[v] += sum over taps k of wk[k][v] * src row q (channels c0 ..), q = r -
 * (K-1-k) d for the forward (dir -1: the causal taps look back) or r +
 * (K-1-k) d for the input gradient (dir +1), taps outside 0 .. L-1 skipped,
 * in tap order */
BF_VINLINE void dw_row_taps(bf_vf acc[DW_NV], bf_vf wk[][DW_NV], const float *src, int r, int dir,
                            int L, int H, int K, int d, int c0, int nc, int nv)
{
    for (int k = 0; k < K; k++) {
        const int q = r + dir * (K - 1 - k) * d;
        if (q < 0 || q >= L)
            continue;
        const float *x = src + (size_t)q * H + c0;
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
            acc[v] = bf_vfma(wk[k][v], load_n(x + v * BF_VW, nc - v * BF_VW), acc[v]);
    }
}

BF_VINLINE void dwconv_fwd_block(float *out, const float *in, const float *w, const float *b,
                                 int L, int H, int K, int d, int c0, int nc, int nv)
{
    bf_vf wk[32][DW_NV], bias[DW_NV];
    dw_taps(wk, w, c0, nc, nv, K);
    for (int v = 0; v < DW_NV; v++)
        bias[v] = b && v < nv ? load_n(b + c0 + v * BF_VW, nc - v * BF_VW) : bf_vset(0.0f);
    for (int t = 0; t < L; t++) {
        bf_vf o[DW_NV];
#pragma GCC unroll 8
        for (int v = 0; v < DW_NV; v++)
            o[v] = bias[v];
        dw_row_taps(o, wk, in, t, -1, L, H, K, d, c0, nc, nv);
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
            store_n(out + (size_t)t * H + c0 + v * BF_VW, o[v], nc - v * BF_VW);
    }
}

static void dwconv_fwd(float *out, const float *in, const float *w, const float *b, int L, int H,
                       int K, int d)
{
    /* 8 vectors of channels at a time: eight independent sums per row (one
     * vector's chain of K dependent adds left the core idle); each output
     * is still bias + w_0 x_0 + ... in tap order */
    for (int c0 = 0; c0 < H; c0 += DW_NV * BF_VW) {
        const int nc = H - c0;
        if (nc >= DW_NV * BF_VW)
            dwconv_fwd_block(out, in, w, b, L, H, K, d, c0, DW_NV * BF_VW, DW_NV);
        else
            dwconv_fwd_block(out, in, w, b, L, H, K, d, c0, nc, (nc + BF_VW - 1) / BF_VW);
    }
}

static void dwconv_bwd_in(float *din, const float *dout, const float *w, int L, int H, int K, int d,
                          int accum)
{
    for (int c0 = 0; c0 < H; c0 += BF_VW) {
        int nc = H - c0 < BF_VW ? H - c0 : BF_VW;
        bf_vf wk[32];
        for (int k = 0; k < K; k++) {
            float t[BF_VW] = {0};
            for (int j = 0; j < nc; j++)
                t[j] = w[(size_t)(c0 + j) * K + k];
            wk[k] = bf_vload(t);
        }
        for (int s = 0; s < L; s++) {
            float *o = din + (size_t)s * H + c0;
            bf_vf acc = bf_vset(0.0f);
            if (accum)
                acc = nc == BF_VW ? bf_vload(o) : bf_vload_part(o, nc);
            for (int k = 0; k < K; k++) {
                int t = s + (K - 1 - k) * d;
                if (t >= L)
                    continue;
                const float *g = dout + (size_t)t * H + c0;
                acc = bf_vfma(wk[k], nc == BF_VW ? bf_vload(g) : bf_vload_part(g, nc), acc);
            }
            if (nc == BF_VW)
                bf_vstore(o, acc);
            else
                bf_vstore_part(o, acc, nc);
        }
    }
}

static void dwconv_bwd_w(double *aw, double *ab, const float *dout, const float *in, int B, int L,
                         int H, int c0, int nc, int K, int d)
{
    for (int bb = 0; bb < B; bb++) {
        bf_vf pw[32], pb = bf_vset(0.0f);
        for (int k = 0; k < K; k++)
            pw[k] = bf_vset(0.0f);
        const float *gw = dout + (size_t)bb * L * H + c0, *xw = in + (size_t)bb * L * H + c0;
        for (int t = 0; t < L; t++) {
            bf_vf g =
                nc == BF_VW ? bf_vload(gw + (size_t)t * H) : bf_vload_part(gw + (size_t)t * H, nc);
            pb += g;
            for (int k = 0; k < K; k++) {
                int s = t - (K - 1 - k) * d;
                if (s < 0)
                    continue;
                const float *x = xw + (size_t)s * H;
                pw[k] = bf_vfma(g, nc == BF_VW ? bf_vload(x) : bf_vload_part(x, nc), pw[k]);
            }
        }
        float t[BF_VW];
        bf_vstore(t, pb);
        for (int j = 0; j < nc; j++)
            ab[j] += t[j];
        for (int k = 0; k < K; k++) {
            bf_vstore(t, pw[k]);
            for (int j = 0; j < nc; j++)
                aw[k * BF_VW + j] += t[j];
        }
    }
}

/* Per channel block of up to DW_NV vectors: the weight and bias partials
 * tap by tap, each a sum over t in increasing order (as dwconv_bwd_w's, so
 * the weight gradients come out the same), then din row by row over the
 * window's contiguous rows. Inlined twice, as dwconv_fwd_block. */
BF_VINLINE void dwconv_bwd_win_block(float *din, float *part, const float *dout, const float *in,
                                     const float *w, int L, int H, int K, int d, int accum, int c0,
                                     int nc, int nv)
{
    bf_vf wk[32][DW_NV];
    dw_taps(wk, w, c0, nc, nv, K);
    {
        bf_vf pb[DW_NV];
#pragma GCC unroll 8
        for (int v = 0; v < DW_NV; v++)
            pb[v] = bf_vset(0.0f);
        for (int t = 0; t < L; t++) {
            const float *g = dout + (size_t)t * H + c0;
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++)
                pb[v] += load_n(g + v * BF_VW, nc - v * BF_VW);
        }
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
            store_n(part + (size_t)K * H + c0 + v * BF_VW, pb[v], nc - v * BF_VW);
    }
    for (int k = 0; k < K; k++) {
        const int lag = (K - 1 - k) * d;
        bf_vf pw[DW_NV];
#pragma GCC unroll 8
        for (int v = 0; v < DW_NV; v++)
            pw[v] = bf_vset(0.0f);
        for (int t = lag; t < L; t++) {
            const float *g = dout + (size_t)t * H + c0, *x = in + (size_t)(t - lag) * H + c0;
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++)
                pw[v] = bf_vfma(load_n(g + v * BF_VW, nc - v * BF_VW),
                                load_n(x + v * BF_VW, nc - v * BF_VW), pw[v]);
        }
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
            store_n(part + (size_t)k * H + c0 + v * BF_VW, pw[v], nc - v * BF_VW);
    }
    for (int s = 0; s < L; s++) {
        float *o = din + (size_t)s * H + c0;
        bf_vf acc[DW_NV];
#pragma GCC unroll 8
        for (int v = 0; v < DW_NV; v++)
            acc[v] = accum && v < nv ? load_n(o + v * BF_VW, nc - v * BF_VW) : bf_vset(0.0f);
        dw_row_taps(acc, wk, dout, s, 1, L, H, K, d, c0, nc, nv);
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
            store_n(o + v * BF_VW, acc[v], nc - v * BF_VW);
    }
}

static void dwconv_bwd_win(float *din, float *part, const float *dout, const float *in,
                           const float *w, int L, int H, int K, int d, int accum)
{
    for (int c0 = 0; c0 < H; c0 += DW_NV * BF_VW) {
        const int nc = H - c0;
        if (nc >= DW_NV * BF_VW)
            dwconv_bwd_win_block(din, part, dout, in, w, L, H, K, d, accum, c0, DW_NV * BF_VW,
                                 DW_NV);
        else
            dwconv_bwd_win_block(din, part, dout, in, w, L, H, K, d, accum, c0, nc,
                                 (nc + BF_VW - 1) / BF_VW);
    }
}

/* ---- dropout ---------------------------------------------------------------- */

/* Philox4x32-10: one counter is core/base/rng.c's bf_philox4x32; 16 at once below */
typedef uint64_t bf_vdu __attribute__((vector_size(128)));

BF_VINLINE bf_vu mulhi_v(bf_vu a, uint32_t b)
{
    bf_vdu w = __builtin_convertvector(a, bf_vdu) * (uint64_t)b;
    return __builtin_convertvector(w >> 32, bf_vu);
}

/* r[w][i] = word w of Philox at counter (c0[i], c1, c2, c3) */
/* the high and low 32 bits of a * b, lane by lane. AVX-512: two 32 x 32 ->
 * 64-bit multiplies (even and odd lanes) and blends; the generic form
 * widens to 64-bit lanes, which GCC compiles to 3-uop VPMULLQ there (the
 * same bits either way: integer arithmetic) */
BF_VINLINE void mulhilo_v(bf_vu a, uint32_t b, bf_vu *hi, bf_vu *lo)
{
#if defined(BF_VFMA_AVX512)
    const __m512i av = (__m512i)a, bv = _mm512_set1_epi32((int)b);
    const __m512i ev = _mm512_mul_epu32(av, bv);
    const __m512i od = _mm512_mul_epu32(_mm512_srli_epi64(av, 32), bv);
    *hi = (bf_vu)_mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(ev, 32), od);
    *lo = (bf_vu)_mm512_mask_blend_epi32(0xAAAA, ev, _mm512_slli_epi64(od, 32));
#else
    *hi = mulhi_v(a, b);
    *lo = a * b;
#endif
}

BF_VINLINE void philox16(uint64_t key, bf_vu c0, uint32_t c1s, uint32_t c2s, uint32_t c3s,
                         bf_vu r[4])
{
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    bf_vu c1 = (bf_vu){0} + c1s, c2 = (bf_vu){0} + c2s, c3 = (bf_vu){0} + c3s;
    for (int k = 0; k < 10; k++) {
        bf_vu h0, h1, l0, l1;
        mulhilo_v(c0, 0xD2511F53u, &h0, &l0);
        mulhilo_v(c2, 0xCD9E8D57u, &h1, &l1);
        bf_vu y0 = h1 ^ c1 ^ k0, y2 = h0 ^ c3 ^ k1;
        c1 = l1;
        c3 = l0;
        c0 = y0;
        c2 = y2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    r[0] = c0;
    r[1] = c1;
    r[2] = c2;
    r[3] = c3;
}

/* The 16-counter Philox needs 32x32->64-bit multiplies across lanes, which
 * only AVX-512 does well (vpmuludq on 8 lanes, vpmullq); compiled for AVX2
 * or SSE2 it ran slower than one counter at a time, so those use the scalar
 * draw. Both give the same bits. */
#if defined(__AVX512F__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define BF_PHILOX16 1
#else
#define BF_PHILOX16 0
#endif

typedef uint16_t bf_vhu __attribute__((vector_size(32)));
typedef uint64_t bf_vdu8 __attribute__((vector_size(64)));
typedef int32_t bf_vperm __attribute__((vector_size(64)));
typedef int64_t bf_vperm8 __attribute__((vector_size(64)));

/* words[4i + w] = r[w][i]: interleave r0/r1 and r2/r3 lane by lane, then the
 * two 64-bit pair streams */
BF_VINLINE void transpose4x16(uint32_t *words, const bf_vu r[4])
{
    const bf_vperm lo = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
    const bf_vperm hi = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    const bf_vperm8 qlo = {0, 8, 1, 9, 2, 10, 3, 11}, qhi = {4, 12, 5, 13, 6, 14, 7, 15};
    bf_vdu8 a0 = (bf_vdu8)__builtin_shuffle(r[0], r[1], lo);
    bf_vdu8 a1 = (bf_vdu8)__builtin_shuffle(r[0], r[1], hi);
    bf_vdu8 b0 = (bf_vdu8)__builtin_shuffle(r[2], r[3], lo);
    bf_vdu8 b1 = (bf_vdu8)__builtin_shuffle(r[2], r[3], hi);
    bf_vdu8 o[4] = {__builtin_shuffle(a0, b0, qlo), __builtin_shuffle(a0, b0, qhi),
                    __builtin_shuffle(a1, b1, qlo), __builtin_shuffle(a1, b1, qhi)};
    memcpy(words, o, sizeof o);
}
typedef int8_t bf_vqi __attribute__((vector_size(16)));

/* Elements e .. g1-1 of Philox group g (scalar) */
static inline void dropout_group(float *out, uint8_t *mask, const float *in, const float *res,
                                 size_t e0, size_t e, size_t g1, uint64_t key, uint32_t thresh,
                                 float scale, uint32_t layer, uint32_t step, uint32_t salt)
{
    size_t g = e / 8;
    uint32_t r[4];
    bf_philox4x32(key, (uint32_t)g, layer, step, salt, r);
    for (; e < g1; e++) {
        size_t j = e - g * 8, i = e - e0;
        uint32_t u = (r[j >> 1] >> ((j & 1) * 16)) & 0xFFFFu;
        uint8_t keep = u >= thresh;
        float v = keep ? in[i] * scale : 0.0f;
        mask[i] = keep;
        out[i] = res ? res[i] + v : v;
    }
}

static void dropout(float *out, uint8_t *mask, const float *in, const float *res, size_t e0,
                    size_t n, uint64_t key, uint32_t thresh, float scale, uint32_t layer,
                    uint32_t step, uint32_t salt)
{
    const bf_vu lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const bf_vf zero = bf_vset(0.0f);
    size_t e = e0, end = e0 + n;
    while (e < end) {
        if (e % 128 != 0 || end - e < 128 || !BF_PHILOX16) {
            size_t g1 = (e / 8 + 1) * 8 < end ? (e / 8 + 1) * 8 : end;
            dropout_group(out, mask, in, res, e0, e, g1, key, thresh, scale, layer, step, salt);
            e = g1;
            continue;
        }
        /* 16 groups (128 elements) at once. Group i's words 0..3 hold
         * elements 8i .. 8i+7 as 16-bit halves, low half first: laid out
         * group by group, the words are the elements' draws in order. */
        bf_vu r[4];
        philox16(key, lane + (uint32_t)(e / 8), layer, step, salt, r);
        uint32_t words[4 * BF_VW];
        transpose4x16(words, r);
        for (int q = 0; q < 8; q++) {
            bf_vhu h;
            memcpy(&h, (const uint16_t *)words + 16 * q, sizeof h);
            bf_vi keep = (bf_vi)(__builtin_convertvector(h, bf_vu) >= thresh);
            size_t i = e - e0 + 16 * (size_t)q;
            bf_vf v = bf_vsel(keep, bf_vload(in + i) * scale, zero);
            if (res)
                v = bf_vload(res + i) + v;
            bf_vstore(out + i, v);
            bf_vqi m = __builtin_convertvector(keep & 1, bf_vqi);
            memcpy(mask + i, &m, sizeof m);
        }
        e += 128;
    }
}

static void dropout_bwd(float *din, const float *dout, const uint8_t *mask, size_t n, float scale)
{
    const bf_vf zero = bf_vset(0.0f);
    size_t i = 0;
    for (; i + BF_VW <= n; i += BF_VW) {
        bf_vqi m;
        memcpy(&m, mask + i, sizeof m);
        bf_vi keep = __builtin_convertvector(m, bf_vi) != 0;
        bf_vstore(din + i, bf_vsel(keep, bf_vload(dout + i) * scale, zero));
    }
    for (; i < n; i++)
        din[i] = mask[i] ? dout[i] * scale : 0.0f;
}

/* ---- column sums ------------------------------------------------------------ */

static void colsum(double *acc, const float *src, int N, int W, int c0, int nc)
{
    enum { RB = 32 };
    const bf_vf zero = bf_vset(0.0f);
    for (int n0 = 0; n0 < N; n0 += RB) {
        int n1 = n0 + RB < N ? n0 + RB : N;
        bf_vf p[4] = {zero, zero, zero, zero};
        for (int n = n0; n < n1; n++) {
            const float *row = src + (size_t)n * W + c0;
            for (int v = 0; v * BF_VW < nc; v++) {
                int r = nc - v * BF_VW;
                p[v] += r >= BF_VW ? bf_vload(row + v * BF_VW) : bf_vload_part(row + v * BF_VW, r);
            }
        }
        for (int v = 0; v * BF_VW < nc; v++) {
            float t[BF_VW];
            bf_vstore(t, p[v]);
            int r = nc - v * BF_VW < BF_VW ? nc - v * BF_VW : BF_VW;
            for (int j = 0; j < r; j++)
                acc[v * BF_VW + j] += t[j];
        }
    }
}

/* ---- normalization ------------------------------------------------------------ */

/* lanes j < n of v added to acc[group of channel c0 + j] in channel order */
BF_VINLINE void add_groups(double *acc, bf_vf v, int c0, int n, int cg)
{
    float t[BF_VW];
    bf_vstore(t, v);
    for (int j = 0; j < n; j++)
        acc[(c0 + j) / cg] += t[j];
}

/* a vector of per-group values for channels c0 .. c0+15 */
BF_VINLINE bf_vf group_vec(const float *val, int c0, int n, int cg)
{
    float t[BF_VW] = {0};
    for (int j = 0; j < n; j++)
        t[j] = val[(c0 + j) / cg];
    return bf_vload(t);
}

/* GroupNorm walks the window row by row (rows are contiguous) over chunks
 * of up to GN_NV vectors of channels. Statistics: per-channel float sums
 * over the window's L steps in step order (lanes are channels), then channel
 * by channel into the group's double. */
enum { GN_NV = 8 }; /* measured better than 4 despite some spilling in gn_bwd */

static void gn_fwd(float *out, float *mean, float *rstd, const float *in, const float *w,
                   const float *b, int L, int H, int G)
{
    const int cg = H / G;
    const double cnt = (double)L * cg;
    double s[64] = {0}, ss[64] = {0};
    const bf_vf z = bf_vset(0.0f);
    for (int c0 = 0; c0 < H; c0 += GN_NV * BF_VW) {
        const int nc = H - c0 < GN_NV * BF_VW ? H - c0 : GN_NV * BF_VW;
        const int nv = (nc + BF_VW - 1) / BF_VW;
        bf_vf acc[GN_NV];
        for (int v = 0; v < nv; v++)
            acc[v] = z;
        for (int t = 0; t < L; t++) {
            const float *x = in + (size_t)t * H + c0;
            for (int v = 0; v < nv; v++)
                acc[v] += load_n(x + v * BF_VW, nc - v * BF_VW);
        }
        for (int v = 0; v < nv; v++)
            add_groups(s, acc[v], c0 + v * BF_VW, nc - v * BF_VW < BF_VW ? nc - v * BF_VW : BF_VW,
                       cg);
    }
    for (int g = 0; g < G; g++)
        mean[g] = (float)(s[g] / cnt);
    for (int c0 = 0; c0 < H; c0 += GN_NV * BF_VW) {
        const int nc = H - c0 < GN_NV * BF_VW ? H - c0 : GN_NV * BF_VW;
        const int nv = (nc + BF_VW - 1) / BF_VW;
        bf_vf acc[GN_NV], m[GN_NV];
        for (int v = 0; v < nv; v++) {
            acc[v] = z;
            int n = nc - v * BF_VW;
            m[v] = group_vec(mean, c0 + v * BF_VW, n < BF_VW ? n : BF_VW, cg);
        }
        for (int t = 0; t < L; t++) {
            const float *x = in + (size_t)t * H + c0;
            for (int v = 0; v < nv; v++) {
                bf_vf dx = load_n(x + v * BF_VW, nc - v * BF_VW) - m[v];
                acc[v] = bf_vfma(dx, dx, acc[v]);
            }
        }
        for (int v = 0; v < nv; v++)
            add_groups(ss, acc[v], c0 + v * BF_VW, nc - v * BF_VW < BF_VW ? nc - v * BF_VW : BF_VW,
                       cg);
    }
    for (int g = 0; g < G; g++)
        rstd[g] = (float)(1.0 / sqrt(ss[g] / cnt + 1e-5));
    for (int c0 = 0; c0 < H; c0 += GN_NV * BF_VW) {
        const int nc = H - c0 < GN_NV * BF_VW ? H - c0 : GN_NV * BF_VW;
        const int nv = (nc + BF_VW - 1) / BF_VW;
        bf_vf m[GN_NV], r[GN_NV], wv[GN_NV], bv[GN_NV];
        for (int v = 0; v < nv; v++) {
            int n = nc - v * BF_VW, nn = n < BF_VW ? n : BF_VW, c = c0 + v * BF_VW;
            m[v] = group_vec(mean, c, nn, cg);
            r[v] = group_vec(rstd, c, nn, cg);
            wv[v] = load_n(w + c, n);
            bv[v] = load_n(b + c, n);
        }
        for (int t = 0; t < L; t++) {
            const float *x = in + (size_t)t * H + c0;
            float *o = out + (size_t)t * H + c0;
            for (int v = 0; v < nv; v++)
                store_n(o + v * BF_VW,
                        bf_vfma((load_n(x + v * BF_VW, nc - v * BF_VW) - m[v]) * r[v], wv[v],
                                bv[v]),
                        nc - v * BF_VW);
        }
    }
}

/* lanes of a dropout mask: all-ones where mask[j] != 0 (j < n) */
BF_VINLINE bf_vi mask_lanes(const uint8_t *mask, int n)
{
    bf_vqi m;
    if (n >= BF_VW) {
        memcpy(&m, mask, sizeof m);
    } else {
        uint8_t t[BF_VW] = {0};
        memcpy(t, mask, (size_t)n);
        memcpy(&m, t, sizeof m);
    }
    return __builtin_convertvector(m, bf_vi) != 0;
}

/* dout through a dropout mask: mask ? dout * scale : 0 (mask NULL: dout) */
BF_VINLINE bf_vf masked_load(const float *p, const uint8_t *mask, float scale, int n)
{
    bf_vf v = load_n(p, n);
    if (!mask)
        return v;
    return bf_vsel(mask_lanes(mask, n), v * scale, bf_vset(0.0f));
}

static void gn_bwd(float *din, float *sw, float *sb, const float *dout, const uint8_t *mask,
                   float scale, const float *in, const float *w, const float *mean,
                   const float *rstd, int L, int H, int G)
{
    const int cg = H / G;
    const double cnt = (double)L * cg;
    double s1[64] = {0}, s2[64] = {0};
    float m1[64], m2[64];
    const bf_vf z = bf_vset(0.0f);
    for (int c0 = 0; c0 < H; c0 += GN_NV * BF_VW) {
        const int nc = H - c0 < GN_NV * BF_VW ? H - c0 : GN_NV * BF_VW;
        const int nv = (nc + BF_VW - 1) / BF_VW;
        bf_vf m[GN_NV], r[GN_NV], wv[GN_NV], p1[GN_NV], p2[GN_NV], aw[GN_NV], ab[GN_NV];
        for (int v = 0; v < nv; v++) {
            int n = nc - v * BF_VW, nn = n < BF_VW ? n : BF_VW, c = c0 + v * BF_VW;
            m[v] = group_vec(mean, c, nn, cg);
            r[v] = group_vec(rstd, c, nn, cg);
            wv[v] = load_n(w + c, n);
            p1[v] = p2[v] = aw[v] = ab[v] = z;
        }
        for (int t = 0; t < L; t++) {
            size_t o = (size_t)t * H + c0;
            for (int v = 0; v < nv; v++) {
                int n = nc - v * BF_VW;
                size_t ov = o + (size_t)v * BF_VW;
                bf_vf x = load_n(in + ov, n),
                      g = masked_load(dout + ov, mask ? mask + ov : NULL, scale, n);
                bf_vf xh = (x - m[v]) * r[v], dn = g * wv[v];
                p1[v] += dn;
                p2[v] = bf_vfma(dn, xh, p2[v]);
                aw[v] = bf_vfma(g, xh, aw[v]);
                ab[v] += g;
            }
        }
        for (int v = 0; v < nv; v++) {
            int n = nc - v * BF_VW, nn = n < BF_VW ? n : BF_VW, c = c0 + v * BF_VW;
            add_groups(s1, p1[v], c, nn, cg);
            add_groups(s2, p2[v], c, nn, cg);
            store_n(sw + c, aw[v], n);
            store_n(sb + c, ab[v], n);
        }
    }
    for (int g = 0; g < G; g++) {
        m1[g] = (float)(s1[g] / cnt);
        m2[g] = (float)(s2[g] / cnt);
    }
    for (int c0 = 0; c0 < H; c0 += GN_NV * BF_VW) {
        const int nc = H - c0 < GN_NV * BF_VW ? H - c0 : GN_NV * BF_VW;
        const int nv = (nc + BF_VW - 1) / BF_VW;
        bf_vf m[GN_NV], r[GN_NV], wv[GN_NV], a1[GN_NV], a2[GN_NV];
        for (int v = 0; v < nv; v++) {
            int n = nc - v * BF_VW, nn = n < BF_VW ? n : BF_VW, c = c0 + v * BF_VW;
            m[v] = group_vec(mean, c, nn, cg);
            r[v] = group_vec(rstd, c, nn, cg);
            a1[v] = group_vec(m1, c, nn, cg);
            a2[v] = group_vec(m2, c, nn, cg);
            wv[v] = load_n(w + c, n);
        }
        for (int t = 0; t < L; t++) {
            size_t o = (size_t)t * H + c0;
            for (int v = 0; v < nv; v++) {
                int n = nc - v * BF_VW;
                size_t ov = o + (size_t)v * BF_VW;
                bf_vf x = load_n(in + ov, n),
                      g = masked_load(dout + ov, mask ? mask + ov : NULL, scale, n);
                bf_vf xh = (x - m[v]) * r[v];
                store_n(din + ov, bf_vfma(-xh, a2[v], bf_vfma(g, wv[v], -a1[v])) * r[v], n);
            }
        }
    }
}

/* Row sums: 16 float lanes over the row, the lanes added in order in double
 * (the tail lanes of the last vector are zero). */
BF_VINLINE double row_sum(const float *x, int D)
{
    bf_vf acc = bf_vset(0.0f);
    for (int i = 0; i < D; i += BF_VW)
        acc += load_n(x + i, D - i);
    float t[BF_VW];
    bf_vstore(t, acc);
    double s = 0.0;
    for (int j = 0; j < BF_VW; j++)
        s += t[j];
    return s;
}

BF_VINLINE double row_sumsq(const float *x, int D, float m)
{
    bf_vf acc = bf_vset(0.0f), mv = bf_vset(m);
    for (int i = 0; i < D; i += BF_VW) {
        bf_vf v = load_n(x + i, D - i) - mv;
        if (D - i < BF_VW) {
            float t[BF_VW];
            bf_vstore(t, v);
            memset(t + (D - i), 0, (size_t)(BF_VW - (D - i)) * sizeof(float));
            v = bf_vload(t);
        }
        acc = bf_vfma(v, v, acc);
    }
    float t[BF_VW];
    bf_vstore(t, acc);
    double s = 0.0;
    for (int j = 0; j < BF_VW; j++)
        s += t[j];
    return s;
}

static void ln_fwd(float *out, float *mean, float *rstd, const float *in, const float *w,
                   const float *b, int R, int D)
{
    for (int n = 0; n < R; n++) {
        const float *x = in + (size_t)n * D;
        float m = (float)(row_sum(x, D) / D);
        float r = (float)(1.0 / sqrt(row_sumsq(x, D, m) / D + 1e-5));
        bf_vf mv = bf_vset(m), rv = bf_vset(r);
        float *o = out + (size_t)n * D;
        for (int i = 0; i < D; i += BF_VW)
            store_n(o + i,
                    bf_vfma((load_n(x + i, D - i) - mv) * rv, load_n(w + i, D - i),
                            load_n(b + i, D - i)),
                    D - i);
        mean[n] = m;
        rstd[n] = r;
    }
}

static void ln_bwd_in(float *din, const float *dout, const float *in, const float *w,
                      const float *mean, const float *rstd, int R, int D)
{
    for (int n = 0; n < R; n++) {
        const float *x = in + (size_t)n * D, *g = dout + (size_t)n * D;
        bf_vf mv = bf_vset(mean[n]), rv = bf_vset(rstd[n]), z = bf_vset(0.0f);
        bf_vf a1 = z, a2 = z;
        for (int i = 0; i < D; i += BF_VW) {
            int k = D - i;
            /* zero-padded lanes contribute g = 0 */
            bf_vf dn = load_n(g + i, k) * load_n(w + i, k);
            a1 += dn;
            a2 = bf_vfma(dn, (load_n(x + i, k) - mv) * rv, a2);
        }
        float t1[BF_VW], t2[BF_VW];
        bf_vstore(t1, a1);
        bf_vstore(t2, a2);
        double s1 = 0.0, s2 = 0.0;
        for (int j = 0; j < BF_VW; j++) {
            s1 += t1[j];
            s2 += t2[j];
        }
        bf_vf m1 = bf_vset((float)(s1 / D)), m2 = bf_vset((float)(s2 / D));
        float *o = din + (size_t)n * D;
        for (int i = 0; i < D; i += BF_VW) {
            int k = D - i;
            bf_vf xh = (load_n(x + i, k) - mv) * rv;
            store_n(o + i, bf_vfma(-xh, m2, bf_vfma(load_n(g + i, k), load_n(w + i, k), -m1)) * rv,
                    k);
        }
    }
}

static void ln_bwd_w(double *aw, double *ab, const float *dout, const float *in, const float *mean,
                     const float *rstd, int N, int D, int c0, int nc)
{
    enum { RB = 32 };
    const bf_vf zero = bf_vset(0.0f);
    for (int n0 = 0; n0 < N; n0 += RB) {
        int n1 = n0 + RB < N ? n0 + RB : N;
        bf_vf pw[4] = {zero, zero, zero, zero}, pb[4] = {zero, zero, zero, zero};
        for (int n = n0; n < n1; n++) {
            const float *x = in + (size_t)n * D + c0, *g = dout + (size_t)n * D + c0;
            bf_vf mv = bf_vset(mean[n]), rv = bf_vset(rstd[n]);
            for (int v = 0; v * BF_VW < nc; v++) {
                int k = nc - v * BF_VW;
                bf_vf gv = load_n(g + v * BF_VW, k);
                pw[v] = bf_vfma(gv, (load_n(x + v * BF_VW, k) - mv) * rv, pw[v]);
                pb[v] += gv;
            }
        }
        for (int v = 0; v * BF_VW < nc; v++) {
            float tw[BF_VW], tb[BF_VW];
            bf_vstore(tw, pw[v]);
            bf_vstore(tb, pb[v]);
            int k = nc - v * BF_VW < BF_VW ? nc - v * BF_VW : BF_VW;
            for (int j = 0; j < k; j++) {
                aw[v * BF_VW + j] += tw[j];
                ab[v * BF_VW + j] += tb[j];
            }
        }
    }
}

/* ---- attention -------------------------------------------------------------- */

/* xt[i * Tp + s] = x[s * ld + i], lanes past T zero */
static void transpose_rows(float *xt, const float *x, int ld, int T, int dh, int Tp)
{
    for (int i = 0; i < dh; i++) {
        float *o = xt + (size_t)i * Tp;
        for (int s = 0; s < T; s++)
            o[s] = x[(size_t)s * ld + i];
        for (int s = T; s < Tp; s++)
            o[s] = 0.0f;
    }
}

/* row[s] = sum over i (in order) of a[i] * xt[i][s], for s < ns (16 at a time) */
BF_VINLINE void dots(float *row, const float *a, const float *xt, int dh, int Tp, int ns)
{
    for (int s0 = 0; s0 < ns; s0 += BF_VW) {
        bf_vf acc = bf_vset(0.0f);
        for (int i = 0; i < dh; i++)
            acc = bf_vfma(bf_vset(a[i]), bf_vload(xt + (size_t)i * Tp + s0), acc);
        store_n(row + s0, acc, ns - s0);
    }
}

static int attn_fwd(float *out, int ldo, float *att, const float *q, const float *k, const float *v,
                    int ld, int T, int dh, float scale, int causal)
{
    const int Tp = (T + BF_VW - 1) / BF_VW * BF_VW;
    if ((size_t)Tp * dh > BF_KERN_ATT_MAX)
        return -1;
    float kt[BF_KERN_ATT_MAX];
    transpose_rows(kt, k, ld, T, dh, Tp);
    for (int t = 0; t < T; t++) {
        const float *qt = q + (size_t)t * ld;
        float *row = att + (size_t)t * T;
        int ns = causal ? t + 1 : T;
        dots(row, qt, kt, dh, Tp, ns);
        float mx = -INFINITY;
        for (int s = 0; s < ns; s++) {
            row[s] *= scale;
            if (row[s] > mx)
                mx = row[s];
        }
        bf_vf mv = bf_vset(mx);
        for (int s0 = 0; s0 < ns; s0 += BF_VW)
            store_n(row + s0, bf_vexp(load_n(row + s0, ns - s0) - mv), ns - s0);
        float sum = 0.0f;
        for (int s = 0; s < ns; s++)
            sum += row[s];
        float inv = 1.0f / sum;
        for (int s = 0; s < ns; s++)
            row[s] *= inv;
        for (int s = ns; s < T; s++)
            row[s] = 0.0f;
        float *o = out + (size_t)t * ldo;
        for (int i0 = 0; i0 < dh; i0 += BF_VW) {
            int n = dh - i0;
            bf_vf acc = bf_vset(0.0f);
            for (int s = 0; s < ns; s++)
                acc = bf_vfma(bf_vset(row[s]), load_n(v + (size_t)s * ld + i0, n), acc);
            store_n(o + i0, acc, n);
        }
    }
    return 0;
}

/* y[0 .. dh) += a * x[0 .. dh) */
BF_VINLINE void axpy(float *y, float a, const float *x, int dh)
{
    for (int i0 = 0; i0 < dh; i0 += BF_VW) {
        int n = dh - i0;
        store_n(y + i0, bf_vfma(bf_vset(a), load_n(x + i0, n), load_n(y + i0, n)), n);
    }
}

static int attn_bwd(float *dq, float *dk, float *dv, const float *dout, int ldo, const float *q,
                    const float *k, const float *v, int ld, const float *att, int T, int dh,
                    float scale, int causal)
{
    const int Tp = (T + BF_VW - 1) / BF_VW * BF_VW;
    if ((size_t)Tp * dh > BF_KERN_ATT_MAX || T > BF_KERN_ATT_MAX)
        return -1;
    float vt[BF_KERN_ATT_MAX], da[BF_KERN_ATT_MAX];
    transpose_rows(vt, v, ld, T, dh, Tp);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < dh; i++) {
            dq[(size_t)t * ld + i] = 0.0f;
            dk[(size_t)t * ld + i] = 0.0f;
            dv[(size_t)t * ld + i] = 0.0f;
        }
    for (int t = 0; t < T; t++) {
        const float *row = att + (size_t)t * T, *g = dout + (size_t)t * ldo;
        int ns = causal ? t + 1 : T;
        dots(da, g, vt, dh, Tp, ns);
        float dot_sum = 0.0f;
        for (int s = 0; s < ns; s++) {
            axpy(dv + (size_t)s * ld, row[s], g, dh);
            dot_sum += row[s] * da[s];
        }
        const float *qt = q + (size_t)t * ld;
        float *dqt = dq + (size_t)t * ld;
        for (int s = 0; s < ns; s++) {
            float dp = row[s] * (da[s] - dot_sum) * scale;
            axpy(dqt, dp, k + (size_t)s * ld, dh);
            axpy(dk + (size_t)s * ld, dp, qt, dh);
        }
    }
    return 0;
}

/* ---- optimizer --------------------------------------------------------------- */

static void adamw(float *p, const float *g, float *m, float *v, const uint8_t *decay_mask,
                  size_t n, float beta1, float beta2, float bc2_sqrt, float step_size, float decay,
                  float eps)
{
    for (size_t i = 0; i < n; i += BF_VW) {
        const int k = n - i < BF_VW ? (int)(n - i) : BF_VW;
        bf_vf gv = load_n(g + i, k), pv = load_n(p + i, k);
        bf_vf pd = pv * decay;
        pv = decay_mask ? bf_vsel(mask_lanes(decay_mask + i, k), pd, pv) : pd;
        bf_vf mi = beta1 * load_n(m + i, k) + (1.0f - beta1) * gv;
        bf_vf vi = beta2 * load_n(v + i, k) + (1.0f - beta2) * gv * gv;
        store_n(m + i, mi, k);
        store_n(v + i, vi, k);
        bf_vf denom = bf_vsqrt(vi) / bc2_sqrt + eps;
        store_n(p + i, pv - step_size * (mi / denom), k);
    }
}

const bf_kern BF_KERN_TABLE = {
    .name = BF_KERN_NAME,
    .gelu_fwd = gelu_fwd,
    .gelu_bwd = gelu_bwd,
    .glu_fwd = glu_fwd,
    .glu_bwd = glu_bwd,
    .dwconv_fwd = dwconv_fwd,
    .dwconv_bwd_in = dwconv_bwd_in,
    .dwconv_bwd_w = dwconv_bwd_w,
    .dwconv_bwd_win = dwconv_bwd_win,
    .dropout = dropout,
    .dropout_bwd = dropout_bwd,
    .colsum = colsum,
    .gn_fwd = gn_fwd,
    .gn_bwd = gn_bwd,
    .ln_fwd = ln_fwd,
    .ln_bwd_in = ln_bwd_in,
    .ln_bwd_w = ln_bwd_w,
    .attn_fwd = attn_fwd,
    .attn_bwd = attn_bwd,
    .adamw = adamw,
};
