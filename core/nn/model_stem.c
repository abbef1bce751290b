/* model_stem.c - the CNN stem's blocks run window-chunk by window-chunk.
 *
 * A block is dwconv -> pointwise conv (GEMM, H -> 2H) -> GLU -> GroupNorm ->
 * dropout + residual, every op local to a window except the GEMM's shared
 * weights. Run op by op over the whole batch, each op streams its 8-16 MB
 * input from memory and its output back; here a thread takes a super-chunk
 * of windows (about 1024 rows) and runs the whole block over sub-chunks of
 * about 64 rows with the bf16 GEMMs, 256 with fp32 (sub_windows), so the
 * intermediates stay in its L2 cache. Only the next
 * stream, the dropout mask and GroupNorm's statistics go to memory: the
 * backward recomputes dwconv, the GEMM and GLU per sub-chunk (the same bits;
 * on a memory-bound CPU recomputing is cheaper than storing 40 MB a block
 * and reading it back), then runs GroupNorm's backward to the depthwise
 * conv's in reverse, the pointwise weight gradient accumulated per
 * super-chunk.
 *
 * Determinism: chunk bounds are a function of the shapes only; every
 * per-window, per-row and per-32-row-run kernel call is the one the
 * op-by-op path makes (same bits); the parameter gradients are reduced in
 * the op-by-op path's orders (per window, per run), except the pointwise
 * weight gradient: one partial per super-chunk (its sub-chunks accumulated
 * in order), the partials added in super-chunk order. So a step gives the
 * same bits at any thread count.
 */
#include <omp.h>
#include <string.h>

#include "core/nn/kern.h"
#include "core/nn/model_impl.h"
#include "core/nn/ops.h"

/* windows of length L in a sub-chunk of about `rows` rows */
static int windows_for(int L, int rows)
{
    return L >= rows ? 1 : rows / L;
}

/* windows per super-chunk: about 1024 rows, whole 256-row sub-chunks */
static int super_windows(int L)
{
    int sw = windows_for(L, 256), k = 1024 / (sw * L);
    return sw * (k > 1 ? k : 1);
}

/* windows per sub-chunk: about 64 rows with the bf16 GEMMs (the sub-chunk's
 * working set then stays in L2: 5 % faster a step than 256 rows on the
 * project VM), about 256 with fp32 sgemm (OpenBLAS runs taller blocks
 * faster: 3 %). The 256-row choice also wherever 64 rows would not be a
 * multiple of 32 or divide the super-chunk. A function of the shape and the
 * GEMM precision only, never of the thread count. */
static int sub_windows(int L)
{
    const int s256 = windows_for(L, 256), s64 = windows_for(L, 64);
    if (!bf_nn_amp())
        return s256;
    return (s64 * L) % 32 == 0 && super_windows(L) % s64 == 0 ? s64 : s256;
}

int bf_stem_fused_ok(const bf_dims *d)
{
    /* GLU's bias-gradient runs of 32 rows must not straddle sub-chunks */
    return (windows_for(d->L, 256) * d->L) % 32 == 0;
}

/* per super-chunk, in floats: a (rows x H), p (rows x 2H), g (rows x H),
 * n / gB (rows x H), gA (rows x 2H), gB2 (rows x H), and the pointwise
 * weight-gradient partial (2H x H) */
static size_t sc_floats(const bf_dims *d)
{
    const size_t rows = (size_t)windows_for(d->L, 256) * d->L, H = (size_t)d->H; /* the larger */
    return rows * 8 * H + 2 * H * H;
}

size_t bf_stem_wpack_u16(const bf_dims *d)
{
    return 2 * bf_linear_pack_size(d->H, 2 * d->H);
}

size_t bf_stem_scratch_floats(const bf_dims *d, int Bm)
{
    const int scw = super_windows(d->L), nsc = (Bm + scw - 1) / scw;
    return (size_t)nsc * sc_floats(d);
}

typedef struct sc_bufs {
    float *a, *p, *g, *n, *gA, *gB2, *part;
} sc_bufs;

static sc_bufs sc_scratch(struct bf_model_impl *im, int sc)
{
    const size_t rows = (size_t)windows_for(im->d.L, 256) * im->d.L, H = (size_t)im->d.H;
    sc_bufs b;
    b.a = im->stem_ws + (size_t)sc * sc_floats(&im->d);
    b.p = b.a + rows * H;
    b.g = b.p + rows * 2 * H;
    b.n = b.g + rows * H;
    b.gA = b.n + rows * H;
    b.gB2 = b.gA + rows * 2 * H;
    b.part = b.gB2 + rows * H;
    return b;
}

/* a = dwconv(s), p = a . pw^T, g = GLU(p + pw_b) (sigmoid kept in p's gate
 * half) for windows ws .. we-1, into the sub-chunk buffers */
static void block_front(const bf_kern *kn, const bf_blk_view *w, const uint16_t *wp, const float *s,
                        sc_bufs *b, int ws, int we, int L, int H, int K, int dil)
{
    const int nr = (we - ws) * L;
    for (int x = ws; x < we; x++)
        kn->dwconv_fwd(b->a + (size_t)(x - ws) * L * H, s + (size_t)x * L * H, w->dw_w, w->dw_b, L,
                       H, K, dil);
    bf_linear_forward_serial(b->p, b->a, w->pw_w, NULL, nr, H, 2 * H, wp);
    kn->glu_fwd(b->g, b->p, w->pw_b, b->p + H, nr, H);
}

void bf_stem_block_forward(struct bf_model_impl *im, int i, int B, float pc, uint64_t seed,
                           uint32_t salt, uint64_t step, int K, int dil)
{
    const bf_dims *d = &im->d;
    const bf_kern *kn = bf_kern_get();
    const int L = d->L, H = d->H, G = d->G, sw = sub_windows(L), scw = super_windows(L);
    const int nsc = (B + scw - 1) / scw;
    bf_blk_acts *a = &im->blk[i];
    const bf_blk_view *w = &im->pv.blk[i];
    const float *s = im->s[i];
    float *sn = im->s[i + 1];
    const uint16_t *wf = bf_linear_pack(im->wpack, w->pw_w, H, 2 * H, 0);
#pragma omp parallel for schedule(static)
    for (int sc = 0; sc < nsc; sc++) {
        sc_bufs b = sc_scratch(im, sc);
        const int w1 = (sc + 1) * scw < B ? (sc + 1) * scw : B;
        for (int ws = sc * scw; ws < w1; ws += sw) {
            const int we = ws + sw < w1 ? ws + sw : w1, nr = (we - ws) * L;
            const size_t r0 = (size_t)ws * L;
            if (we < B) /* the next sub-chunk's input, while this one computes */
                bf_prefetch_l2(s + (size_t)we * L * H,
                               (size_t)((we + sw < B ? we + sw : B) - we) * L * H * sizeof(float));
            block_front(kn, w, wf, s, &b, ws, we, L, H, K, dil);
            for (int x = ws; x < we; x++)
                kn->gn_fwd(b.n + (size_t)(x - ws) * L * H, a->gn_mean + (size_t)x * G,
                           a->gn_rstd + (size_t)x * G, b.g + (size_t)(x - ws) * L * H, w->gn_w,
                           w->gn_b, L, H, G);
            bf_dropout_add_range(sn + r0 * H, a->mask + r0 * H, b.n, s + r0 * H, r0 * H,
                                 (size_t)nr * H, pc, seed, salt, step, 1u + (uint32_t)i);
        }
    }
}

void bf_stem_block_backward(struct bf_model_impl *im, int i, int B, float pc, int K, int dil)
{
    const bf_dims *d = &im->d;
    const bf_kern *kn = bf_kern_get();
    const int L = d->L, H = d->H, G = d->G, sw = sub_windows(L), scw = super_windows(L);
    const int nsc = (B + scw - 1) / scw, N = B * L;
    bf_blk_acts *a = &im->blk[i];
    const bf_blk_view *w = &im->pv.blk[i];
    const bf_blk_view *gw = &im->gv.blk[i];
    const float scale = pc > 0.0f ? 1.0f / (1.0f - pc) : 1.0f;
    const uint8_t *mask = pc > 0.0f ? a->mask : NULL;
    float *gnw = im->gNorm, *gnb = im->gNorm + (size_t)B * H; /* per-window gain/bias grads */
    const size_t W = (size_t)(K + 1) * H;                     /* one window's dwconv partials */
    float *gS = im->gS;
    const float *s = im->s[i];
    const uint16_t *wf = bf_linear_pack(im->wpack, w->pw_w, H, 2 * H, 0);
    const uint16_t *wd =
        bf_linear_pack(im->wpack + bf_linear_pack_size(H, 2 * H), w->pw_w, H, 2 * H, 1);
#pragma omp parallel for schedule(static)
    for (int sc = 0; sc < nsc; sc++) {
        sc_bufs b = sc_scratch(im, sc);
        const int w0 = sc * scw, w1 = (sc + 1) * scw < B ? (sc + 1) * scw : B;
        for (int ws = w0; ws < w1; ws += sw) {
            const int we = ws + sw < w1 ? ws + sw : w1, nr = (we - ws) * L;
            const size_t r0 = (size_t)ws * L;
            if (we < B) { /* the next sub-chunk's inputs, while this one computes */
                const size_t n1 = (size_t)((we + sw < B ? we + sw : B) - we) * L * H;
                bf_prefetch_l2(s + (size_t)we * L * H, n1 * sizeof(float));
                bf_prefetch_l2(gS + (size_t)we * L * H, n1 * sizeof(float));
                if (mask)
                    bf_prefetch_l2(mask + (size_t)we * L * H, n1);
            }
            /* the forward's a, p and g again (same bits), instead of
             * reading them back from memory */
            block_front(kn, w, wf, s, &b, ws, we, L, H, K, dil);
            float *gB = b.n;
            for (int x = ws; x < we; x++) {
                const size_t o = (size_t)x * L * H, lo = (size_t)(x - ws) * L * H;
                kn->gn_bwd(gB + lo, gnw + (size_t)x * H, gnb + (size_t)x * H, gS + o,
                           mask ? mask + o : NULL, scale, b.g + lo, w->gn_w,
                           a->gn_mean + (size_t)x * G, a->gn_rstd + (size_t)x * G, L, H, G);
            }
            for (int rr = 0; rr < nr; rr += 32) {
                const int n = nr - rr < 32 ? nr - rr : 32;
                const size_t gr = r0 + (size_t)rr; /* global row: run index gr / 32 */
                kn->glu_bwd(b.gA + (size_t)rr * 2 * H, gB + (size_t)rr * H,
                            b.p + (size_t)rr * 2 * H, w->pw_b, 1, im->gCol + gr / 32 * 2 * H, n, H);
            }
            bf_linear_input_grad_serial(b.gB2, b.gA, w->pw_w, nr, H, 2 * H, wd, 0);
            bf_linear_weight_grad_serial(b.part, b.gA, b.a, nr, H, 2 * H, ws > w0);
            for (int x = ws; x < we; x++) {
                const size_t o = (size_t)x * L * H;
                kn->dwconv_bwd_win(gS + o, im->gDw + (size_t)x * W,
                                   b.gB2 + (size_t)(x - ws) * L * H, s + o, w->dw_w, L, H, K, dil,
                                   1);
            }
        }
    }
    bf_colsum_add(gw->gn_w, gnw, B, H);
    bf_colsum_add(gw->gn_b, gnb, B, H);
    bf_add_runs(gw->pw_b, im->gCol, (N + 31) / 32, 2 * H);
    bf_dwconv_reduce(gw->dw_w, gw->dw_b, im->gDw, B, H, K);
    const size_t nw = (size_t)2 * H * H, stride = sc_floats(d);
    const float *p0 = sc_scratch(im, 0).part;
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < nw; j++) {
        float acc = p0[j];
        for (int sc = 1; sc < nsc; sc++)
            acc += p0[(size_t)sc * stride + j];
        gw->pw_w[j] += acc;
    }
}
