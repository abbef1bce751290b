/* model_mid.c - the mlp (or no) channel mixer and the patch tokenizer,
 * window chunk by window chunk (the scheme of model_stem.c).
 *
 * Per window: mo = s + fc2(gelu(fc1(s))) (or mo = s without a mixer), its
 * patches (im2col: each token is P consecutive rows of mo, S rows apart),
 * tok = patches . patch_w^T + patch_b + pos, x = drop(tok). A thread takes a
 * super-chunk of windows and runs that over sub-chunks of about 256 stem
 * rows in its L2 cache; only x and the dropout mask go to memory (the
 * op-by-op path writes and reads back u, gelu(u), mo, the 4x larger patch
 * matrix and tok). The backward recomputes u, gelu(u), mo and the patches
 * per sub-chunk and walks back to d(s), with the parameter gradients in
 * per-super-chunk partials added in super-chunk order (the same bits at any
 * thread count).
 */
#include <omp.h>
#include <string.h>

#include "core/nn/kern.h"
#include "core/nn/model_impl.h"
#include "core/nn/ops.h"

#define DROP_TOKENS 1000u /* model.c's dropout layer id */

static int sub_windows(const bf_dims *d)
{
    return d->L >= 256 ? 1 : 256 / d->L;
}

static int super_windows(const bf_dims *d)
{
    return 4 * sub_windows(d);
}

typedef struct mid_bufs {
    float *u, *ug, *mo, *cols, *tok, *gug, *pw; /* pw: patch_w | fc1_w | fc2_w partials */
    double *pb;                                 /* patch_b | fc1_b | fc2_b | pos partials */
} mid_bufs;

static size_t pw_floats(const bf_dims *d)
{
    const size_t H = d->H, D = d->D, PH = (size_t)d->P * d->H;
    return D * PH + 2 * H * H;
}

static size_t pb_doubles(const bf_dims *d)
{
    return (size_t)d->D + 2 * (size_t)d->H + (size_t)d->T * d->D;
}

static size_t sc_floats(const bf_dims *d)
{
    const size_t sw = sub_windows(d), R = sw * d->L, RT = sw * d->T, H = d->H, D = d->D;
    size_t n = 4 * R * H + RT * ((size_t)d->P * H + D) + pw_floats(d);
    n = (n + 15) & ~(size_t)15;
    return n + 2 * pb_doubles(d) + 16;
}

int bf_mid_fused_ok(const bf_dims *d, int mixer)
{
    (void)d;
    return mixer == BF_MIXER_MLP || mixer == BF_MIXER_NONE;
}

size_t bf_mid_scratch_floats(const bf_dims *d, int Bm)
{
    const int scw = super_windows(d), nsc = (Bm + scw - 1) / scw;
    return (size_t)nsc * sc_floats(d);
}

size_t bf_mid_wpack_u16(const bf_dims *d)
{
    const int H = d->H, PH = d->P * d->H, D = d->D;
    return 2 * (2 * bf_linear_pack_size(H, H) + bf_linear_pack_size(PH, D));
}

static mid_bufs sc_bufs(struct bf_model_impl *im, int sc)
{
    const bf_dims *d = &im->d;
    const size_t sw = sub_windows(d), R = sw * d->L, RT = sw * d->T, H = d->H;
    mid_bufs b;
    float *p = im->mid_ws + (size_t)sc * sc_floats(d);
    b.u = p, p += R * H;
    b.ug = p, p += R * H;
    b.mo = p, p += R * H;
    b.gug = p, p += R * H;
    b.cols = p, p += RT * (size_t)d->P * H;
    b.tok = p, p += RT * (size_t)d->D;
    b.pw = p, p += pw_floats(d);
    b.pb = (double *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
    return b;
}

typedef struct mid_pack {
    const uint16_t *fc1_f, *fc2_f, *patch_f, *fc1_d, *fc2_d, *patch_d;
} mid_pack;

static mid_pack pack_mid(struct bf_model_impl *im, int mlp, int grads)
{
    const bf_param_view *w = &im->pv;
    const int H = im->d.H, PH = im->d.P * im->d.H, D = im->d.D;
    uint16_t *p = im->wpack;
    const size_t sh = bf_linear_pack_size(H, H), sp = bf_linear_pack_size(PH, D);
    mid_pack k;
    memset(&k, 0, sizeof k);
    k.patch_f = bf_linear_pack(p, w->patch_w, PH, D, 0), p += sp;
    if (grads)
        k.patch_d = bf_linear_pack(p, w->patch_w, PH, D, 1), p += sp;
    if (mlp) {
        k.fc1_f = bf_linear_pack(p, w->mx_fc1_w, H, H, 0), p += sh;
        k.fc2_f = bf_linear_pack(p, w->mx_fc2_w, H, H, 0), p += sh;
        if (grads) {
            k.fc1_d = bf_linear_pack(p, w->mx_fc1_w, H, H, 1), p += sh;
            k.fc2_d = bf_linear_pack(p, w->mx_fc2_w, H, H, 1);
        }
    }
    return k;
}

/* mixer and patches for windows ws .. we-1: b->cols (and b->u, b->ug) */
static void mid_front(const bf_kern *kn, struct bf_model_impl *im, int mlp, const mid_pack *k,
                      mid_bufs *b, int ws, int we)
{
    const bf_dims *d = &im->d;
    const bf_param_view *w = &im->pv;
    const int L = d->L, H = d->H, T = d->T, P = d->P, S = d->S, R = (we - ws) * L;
    const float *s = im->s[d->NB] + (size_t)ws * L * H, *mo = s;
    if (mlp) {
        bf_linear_forward_serial(b->u, s, w->mx_fc1_w, NULL, R, H, H, k->fc1_f);
        kn->gelu_fwd(b->ug, b->u, w->mx_fc1_b, R, (size_t)H);
        for (int r = 0; r < R; r++) { /* mo = (s + b2) + ug . fc2^T, as the op-by-op path */
            const float *x = s + (size_t)r * H;
            float *o = b->mo + (size_t)r * H;
            for (int j = 0; j < H; j++)
                o[j] = x[j] + w->mx_fc2_b[j];
        }
        bf_linear_forward_acc_serial(b->mo, b->ug, w->mx_fc2_w, R, H, H, k->fc2_f);
        mo = b->mo;
    }
    for (int x = 0; x < we - ws; x++)
        for (int t = 0; t < T; t++)
            memcpy(b->cols + ((size_t)x * T + t) * P * H, mo + ((size_t)x * L + (size_t)t * S) * H,
                   (size_t)P * H * sizeof(float));
}

void bf_mid_forward(struct bf_model_impl *im, int mlp, int B, float pt, uint64_t seed,
                    uint32_t salt, uint64_t step)
{
    const bf_dims *d = &im->d;
    const bf_kern *kn = bf_kern_get();
    const int T = d->T, D = d->D, PH = d->P * d->H;
    const int sw = sub_windows(d), scw = super_windows(d), nsc = (B + scw - 1) / scw;
    const mid_pack k = pack_mid(im, mlp, 0);
    const bf_param_view *w = &im->pv;
#pragma omp parallel for schedule(static)
    for (int sc = 0; sc < nsc; sc++) {
        mid_bufs b = sc_bufs(im, sc);
        const int w1 = (sc + 1) * scw < B ? (sc + 1) * scw : B;
        for (int ws = sc * scw; ws < w1; ws += sw) {
            const int we = ws + sw < w1 ? ws + sw : w1, RT = (we - ws) * T;
            const size_t t0 = (size_t)ws * T;
            mid_front(kn, im, mlp, &k, &b, ws, we);
            bf_linear_forward_serial(b.tok, b.cols, w->patch_w, w->patch_b, RT, PH, D, k.patch_f);
            for (int r = 0; r < RT; r++) {
                float *o = b.tok + (size_t)r * D;
                const float *p = w->pos + (size_t)(r % T) * D;
                for (int j = 0; j < D; j++)
                    o[j] += p[j];
            }
            bf_dropout_add_range(im->xs[0] + t0 * D, im->tok_mask + t0 * D, b.tok, NULL, t0 * D,
                                 (size_t)RT * D, pt, seed, salt, step, DROP_TOKENS);
        }
    }
}

void bf_mid_backward(struct bf_model_impl *im, int mlp, int B, float pt)
{
    const bf_dims *d = &im->d;
    const bf_kern *kn = bf_kern_get();
    const int L = d->L, H = d->H, T = d->T, D = d->D, P = d->P, S = d->S, PH = P * H;
    const int sw = sub_windows(d), scw = super_windows(d), nsc = (B + scw - 1) / scw;
    const bf_param_view *w = &im->pv, *g = &im->gv;
    const size_t op = 0, o1 = (size_t)D * PH, o2 = o1 + (size_t)H * H;
    const size_t bp = 0, b1 = D, b2 = b1 + H, bpos = b2 + H;
    const mid_pack k = pack_mid(im, mlp, 1);
#pragma omp parallel for schedule(static)
    for (int sc = 0; sc < nsc; sc++) {
        mid_bufs b = sc_bufs(im, sc);
        memset(b.pb, 0, pb_doubles(d) * sizeof(double));
        const int w0 = sc * scw, w1 = (sc + 1) * scw < B ? (sc + 1) * scw : B;
        for (int ws = w0; ws < w1; ws += sw) {
            const int we = ws + sw < w1 ? ws + sw : w1, nw = we - ws, R = nw * L, RT = nw * T;
            const size_t t0 = (size_t)ws * T, r0 = (size_t)ws * L, nt = (size_t)RT * D;
            const int acc = ws > w0;
            mid_front(kn, im, mlp, &k, &b, ws, we);
            float *gA = b.tok; /* d(tok) */
            bf_dropout_backward_range(gA, im->gX + t0 * D, im->tok_mask + t0 * D, nt, pt);
            for (int r = 0; r < RT; r++) { /* positions: window by window, in order */
                double *pp = b.pb + bpos + (size_t)(r % T) * D;
                const float *x = gA + (size_t)r * D;
                for (int j = 0; j < D; j++)
                    pp[j] += x[j];
            }
            bf_colsum_acc(b.pb + bp, gA, RT, D);
            bf_linear_weight_grad_serial(b.pw + op, gA, b.cols, RT, PH, D, acc);
            bf_linear_input_grad_serial(b.cols, gA, w->patch_w, RT, PH, D, k.patch_d, 0);
            /* patches back onto the rows: d(mo) */
            float *gS = im->gS + r0 * H, *gmo = mlp ? b.mo : gS;
            memset(gmo, 0, (size_t)R * H * sizeof(float));
            for (int x = 0; x < nw; x++)
                for (int t = 0; t < T; t++) {
                    const float *c = b.cols + ((size_t)x * T + t) * PH;
                    float *o = gmo + ((size_t)x * L + (size_t)t * S) * H;
                    for (int i = 0; i < PH; i++)
                        o[i] += c[i];
                }
            if (!mlp)
                continue;
            const float *s = im->s[d->NB] + r0 * H;
            bf_colsum_acc(b.pb + b2, gmo, R, H);
            bf_linear_weight_grad_serial(b.pw + o2, gmo, b.ug, R, H, H, acc);
            bf_linear_input_grad_serial(b.gug, gmo, w->mx_fc2_w, R, H, H, k.fc2_d, 0);
            kn->gelu_bwd(b.ug, b.gug, b.u, w->mx_fc1_b, NULL, R, (size_t)H); /* ug := d(u) */
            bf_colsum_acc(b.pb + b1, b.ug, R, H);
            bf_linear_weight_grad_serial(b.pw + o1, b.ug, s, R, H, H, acc);
            memcpy(gS, gmo, (size_t)R * H * sizeof(float));
            bf_linear_input_grad_serial(gS, b.ug, w->mx_fc1_w, R, H, H, k.fc1_d, 1);
        }
    }
    /* partials in super-chunk order */
    const size_t nwt = mlp ? pw_floats(d) : o1, stride = sc_floats(d);
    const float *p0 = sc_bufs(im, 0).pw;
    float *dst[3] = {g->patch_w, g->mx_fc1_w, g->mx_fc2_w};
    const size_t off[4] = {op, o1, o2, pw_floats(d)};
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < nwt; j++) {
        float s = p0[j];
        for (int sc = 1; sc < nsc; sc++)
            s += p0[(size_t)sc * stride + j];
        int t = j < off[1] ? 0 : j < off[2] ? 1 : 2;
        dst[t][j - off[t]] += s;
    }
    float *bdst[4] = {g->patch_b, g->mx_fc1_b, g->mx_fc2_b, g->pos};
    const size_t boff[5] = {bp, b1, b2, bpos, pb_doubles(d)};
    for (int t = 0; t < 4; t++) {
        if (!mlp && (t == 1 || t == 2))
            continue;
        for (size_t j = boff[t]; j < boff[t + 1]; j++) {
            double s = 0.0;
            for (int sc = 0; sc < nsc; sc++)
                s += sc_bufs(im, sc).pb[j];
            bdst[t][j - boff[t]] += (float)s;
        }
    }
}
