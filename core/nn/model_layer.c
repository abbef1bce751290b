/* model_layer.c - the Transformer layers before the last, window chunk by
 * window chunk (the stem's scheme, model_stem.c, applied to a pre-norm
 * layer).
 *
 * A layer is x1 = x + drop(proj(attn(qkv(LN1(x))))), x2 = x1 +
 * drop(fc2(gelu(fc1(LN2(x1))))): every op is per token except attention,
 * which is per window. A thread takes a super-chunk of windows and runs the
 * whole layer over sub-chunks of about 120 tokens, whose intermediates stay
 * in its L2 cache; only x2, the two dropout masks and the LayerNorm
 * statistics go to memory. The backward recomputes the sub-chunk's forward
 * (same bits) and walks back through it, accumulating every parameter
 * gradient in a per-super-chunk partial (GEMM partials in float, column sums
 * in double) that is added to the gradients in super-chunk order at the end:
 * the same bits at any thread count.
 */
#include <omp.h>
#include <string.h>

#include "core/nn/kern.h"
#include "core/nn/model_impl.h"
#include "core/nn/ops.h"

#define DROP_LAYER 2000u /* model.c's dropout layer ids */

static int sub_windows(const bf_dims *d)
{
    return d->T >= 128 ? 1 : 128 / d->T;
}

static int super_windows(const bf_dims *d)
{
    return 4 * sub_windows(d);
}

typedef struct lay_bufs {
    float *ln1, *qkv, *ao, *x1, *ln2, *f1, *fg, *f2, *gA, *gF, *gl, *att,
        *asc;   /* f1, fg adjacent */
    float *pw;  /* float partials: qkv_w, proj_w, fc1_w, fc2_w */
    double *pb; /* double partials: qkv_b, proj_b, fc1_b, fc2_b, ln1_w, ln1_b, ln2_w, ln2_b */
} lay_bufs;

static size_t rows_of(const bf_dims *d)
{
    return (size_t)sub_windows(d) * d->T;
}

static size_t pw_floats(const bf_dims *d)
{
    const size_t D = d->D, F = d->F;
    return 4 * D * D + 2 * F * D;
}

static size_t pb_doubles(const bf_dims *d)
{
    return 9 * (size_t)d->D + d->F;
}

static size_t sc_floats(const bf_dims *d)
{
    const size_t R = rows_of(d), D = d->D, F = d->F, sw = sub_windows(d);
    size_t n = R * (10 * D + 3 * F) + sw * d->NH * d->T * d->T + sw * d->NH * d->T + pw_floats(d);
    n = (n + 15) & ~(size_t)15;
    return n + 2 * pb_doubles(d) + 16; /* doubles, 64-byte aligned */
}

int bf_layers_fused_ok(const bf_dims *d)
{
    /* the backward keeps d(qkv) (3D a row) in f1 | fg (2F a row) */
    return d->NL > 1 && 2 * d->F >= 3 * d->D;
}

size_t bf_layers_scratch_floats(const bf_dims *d, int Bm)
{
    const int scw = super_windows(d), nsc = (Bm + scw - 1) / scw;
    return (size_t)nsc * sc_floats(d);
}

static lay_bufs sc_bufs(struct bf_model_impl *im, int sc)
{
    const bf_dims *d = &im->d;
    const size_t R = rows_of(d), D = d->D, F = d->F, sw = sub_windows(d);
    lay_bufs b;
    float *p = im->layer_ws + (size_t)sc * sc_floats(d);
    b.ln1 = p, p += R * D;
    b.qkv = p, p += R * 3 * D;
    b.ao = p, p += R * D;
    b.x1 = p, p += R * D;
    b.ln2 = p, p += R * D;
    b.f1 = p, p += R * F;
    b.fg = p, p += R * F;
    b.f2 = p, p += R * D;
    b.gA = p, p += R * D;
    b.gF = p, p += R * F;
    b.gl = p, p += R * D;
    b.att = p, p += sw * d->NH * d->T * d->T;
    b.asc = p, p += sw * d->NH * d->T;
    b.pw = p, p += pw_floats(d);
    uintptr_t u = ((uintptr_t)p + 63) & ~(uintptr_t)63;
    b.pb = (double *)u;
    return b;
}

/* the layer's four weights packed for the forward (f) and the input
 * gradients (d) under --use-amp (NULL entries: not packed) */
typedef struct lay_pack {
    const uint16_t *qkv_f, *proj_f, *fc1_f, *fc2_f, *qkv_d, *proj_d, *fc1_d, *fc2_d;
} lay_pack;

size_t bf_layers_wpack_u16(const bf_dims *d)
{
    const int D = d->D, F = d->F;
    return 2 * (bf_linear_pack_size(D, 3 * D) + bf_linear_pack_size(D, D) +
                bf_linear_pack_size(D, F) + bf_linear_pack_size(F, D));
}

static lay_pack pack_layer(struct bf_model_impl *im, const bf_layer_view *w, int grads)
{
    const int D = im->d.D, F = im->d.F;
    uint16_t *p = im->wpack;
    lay_pack k;
    memset(&k, 0, sizeof k);
    k.qkv_f = bf_linear_pack(p, w->qkv_w, D, 3 * D, 0), p += bf_linear_pack_size(D, 3 * D);
    k.proj_f = bf_linear_pack(p, w->proj_w, D, D, 0), p += bf_linear_pack_size(D, D);
    k.fc1_f = bf_linear_pack(p, w->fc1_w, D, F, 0), p += bf_linear_pack_size(D, F);
    k.fc2_f = bf_linear_pack(p, w->fc2_w, F, D, 0), p += bf_linear_pack_size(F, D);
    if (grads) {
        k.qkv_d = bf_linear_pack(p, w->qkv_w, D, 3 * D, 1), p += bf_linear_pack_size(D, 3 * D);
        k.proj_d = bf_linear_pack(p, w->proj_w, D, D, 1), p += bf_linear_pack_size(D, D);
        k.fc1_d = bf_linear_pack(p, w->fc1_w, D, F, 1), p += bf_linear_pack_size(D, F);
        k.fc2_d = bf_linear_pack(p, w->fc2_w, F, D, 1);
    }
    return k;
}

/* the layer's forward over windows ws .. we-1 (rows r0 = ws*T ..) into the
 * sub-chunk buffers, up to fg (and x2 into out when out is not NULL) */
static void layer_front(const bf_kern *kn, struct bf_model_impl *im, int l, const lay_pack *k,
                        lay_bufs *b, int ws, int we, float pt, uint64_t seed, uint32_t salt,
                        uint64_t step, float *out)
{
    const bf_dims *d = &im->d;
    const int T = d->T, D = d->D, F = d->F, nw = we - ws, R = nw * T;
    const size_t r0 = (size_t)ws * T;
    const bf_layer_view *w = &im->pv.layer[l];
    bf_layer_acts *a = &im->lay[l];
    const float *x = im->xs[l] + r0 * D;
    kn->ln_fwd(b->ln1, a->ln1_mean + r0, a->ln1_rstd + r0, x, w->ln1_w, w->ln1_b, R, D);
    bf_linear_forward_serial(b->qkv, b->ln1, w->qkv_w, w->qkv_b, R, D, 3 * D, k->qkv_f);
    bf_attention_forward_serial(b->ao, b->att, b->qkv, nw, T, D, d->NH, 1);
    bf_linear_forward_serial(b->f2, b->ao, w->proj_w, w->proj_b, R, D, D, k->proj_f); /* pr */
    if (out) /* the forward draws the mask; the backward's recompute replays it */
        bf_dropout_add_range(b->x1, a->mask_a + r0 * D, b->f2, x, r0 * D, (size_t)R * D, pt, seed,
                             salt, step, DROP_LAYER + 2u * (uint32_t)l);
    else
        bf_dropout_add_replay(b->x1, a->mask_a + r0 * D, b->f2, x, (size_t)R * D, pt);
    kn->ln_fwd(b->ln2, a->ln2_mean + r0, a->ln2_rstd + r0, b->x1, w->ln2_w, w->ln2_b, R, D);
    bf_linear_forward_serial(b->f1, b->ln2, w->fc1_w, NULL, R, D, F, k->fc1_f);
    kn->gelu_fwd(b->fg, b->f1, w->fc1_b, R, (size_t)F);
    if (out) {
        bf_linear_forward_serial(b->f2, b->fg, w->fc2_w, w->fc2_b, R, F, D, k->fc2_f);
        bf_dropout_add_range(out + r0 * D, a->mask_f + r0 * D, b->f2, b->x1, r0 * D, (size_t)R * D,
                             pt, seed, salt, step, DROP_LAYER + 2u * (uint32_t)l + 1u);
    }
}

void bf_layer_forward_fused(struct bf_model_impl *im, int l, int B, float pt, uint64_t seed,
                            uint32_t salt, uint64_t step)
{
    const bf_dims *d = &im->d;
    const bf_kern *kn = bf_kern_get();
    const int sw = sub_windows(d), scw = super_windows(d), nsc = (B + scw - 1) / scw;
    const lay_pack k = pack_layer(im, &im->pv.layer[l], 0);
#pragma omp parallel for schedule(static)
    for (int sc = 0; sc < nsc; sc++) {
        lay_bufs b = sc_bufs(im, sc);
        const int w1 = (sc + 1) * scw < B ? (sc + 1) * scw : B;
        for (int ws = sc * scw; ws < w1; ws += sw)
            layer_front(kn, im, l, &k, &b, ws, ws + sw < w1 ? ws + sw : w1, pt, seed, salt, step,
                        im->xs[l + 1]);
    }
}

/* column sums of src (R, W) added to acc (W doubles), 64 columns at a time */
static void ln_w_sums(const bf_kern *kn, double *aw, double *ab, const float *dout, const float *in,
                      const float *mean, const float *rstd, int R, int D)
{
    for (int c0 = 0; c0 < D; c0 += 64)
        kn->ln_bwd_w(aw + c0, ab + c0, dout, in, mean, rstd, R, D, c0, D - c0 < 64 ? D - c0 : 64);
}

void bf_layer_backward_fused(struct bf_model_impl *im, int l, int B, float pt, uint64_t seed,
                             uint32_t salt, uint64_t step)
{
    const bf_dims *d = &im->d;
    const bf_kern *kn = bf_kern_get();
    const int T = d->T, D = d->D, F = d->F;
    const int sw = sub_windows(d), scw = super_windows(d), nsc = (B + scw - 1) / scw;
    const bf_layer_view *w = &im->pv.layer[l];
    const bf_layer_view *gw = &im->gv.layer[l];
    bf_layer_acts *a = &im->lay[l];
    const size_t oq = 0, op = 3 * (size_t)D * D, o1 = op + (size_t)D * D, o2 = o1 + (size_t)F * D;
    const size_t bq = 0, bp = 3 * (size_t)D, b1 = bp + D, b2 = b1 + F, l1w = b2 + D, l1b = l1w + D,
                 l2w = l1b + D, l2b = l2w + D;
    const lay_pack k = pack_layer(im, w, 1);
#pragma omp parallel for schedule(static)
    for (int sc = 0; sc < nsc; sc++) {
        lay_bufs b = sc_bufs(im, sc);
        memset(b.pb, 0, pb_doubles(d) * sizeof(double));
        const int w0 = sc * scw, w1 = (sc + 1) * scw < B ? (sc + 1) * scw : B;
        for (int ws = w0; ws < w1; ws += sw) {
            const int we = ws + sw < w1 ? ws + sw : w1, nw = we - ws, R = nw * T;
            const size_t r0 = (size_t)ws * T, n = (size_t)R * D;
            const int acc = ws > w0;
            float *gX = im->gX + r0 * D;
            const float *x = im->xs[l] + r0 * D;
            layer_front(kn, im, l, &k, &b, ws, we, pt, seed, salt, step, NULL);
            /* MLP half */
            bf_dropout_backward_range(b.gA, gX, a->mask_f + r0 * D, n, pt);
            bf_linear_input_grad_serial(b.gF, b.gA, w->fc2_w, R, F, D, k.fc2_d, 0);
            bf_linear_weight_grad_serial(b.pw + o2, b.gA, b.fg, R, F, D, acc);
            bf_colsum_acc(b.pb + b2, b.gA, R, D);
            kn->gelu_bwd(b.fg, b.gF, b.f1, w->fc1_b, NULL, R, (size_t)F); /* fg := d f1 */
            bf_colsum_acc(b.pb + b1, b.fg, R, F);
            bf_linear_input_grad_serial(b.gl, b.fg, w->fc1_w, R, D, F, k.fc1_d, 0);
            bf_linear_weight_grad_serial(b.pw + o1, b.fg, b.ln2, R, D, F, acc);
            ln_w_sums(kn, b.pb + l2w, b.pb + l2b, b.gl, b.x1, a->ln2_mean + r0, a->ln2_rstd + r0, R,
                      D);
            float *dx1 = b.ln2; /* LN2's output is no longer needed */
            kn->ln_bwd_in(dx1, b.gl, b.x1, w->ln2_w, a->ln2_mean + r0, a->ln2_rstd + r0, R, D);
            for (size_t i = 0; i < n; i++)
                dx1[i] += gX[i];
            /* attention half */
            bf_dropout_backward_range(b.gA, dx1, a->mask_a + r0 * D, n, pt);
            bf_linear_input_grad_serial(b.gl, b.gA, w->proj_w, R, D, D, k.proj_d, 0);
            bf_linear_weight_grad_serial(b.pw + op, b.gA, b.ao, R, D, D, acc);
            bf_colsum_acc(b.pb + bp, b.gA, R, D);
            float *gqkv = b.f1; /* f1 | fg (2F >= 3D a row), both consumed by now */
            bf_attention_backward_serial(gqkv, b.gl, b.qkv, b.att, nw, T, D, d->NH, 1, b.asc);
            bf_linear_input_grad_serial(b.gA, gqkv, w->qkv_w, R, D, 3 * D, k.qkv_d, 0);
            bf_linear_weight_grad_serial(b.pw + oq, gqkv, b.ln1, R, D, 3 * D, acc);
            bf_colsum_acc(b.pb + bq, gqkv, R, 3 * D);
            ln_w_sums(kn, b.pb + l1w, b.pb + l1b, b.gA, x, a->ln1_mean + r0, a->ln1_rstd + r0, R,
                      D);
            kn->ln_bwd_in(b.gl, b.gA, x, w->ln1_w, a->ln1_mean + r0, a->ln1_rstd + r0, R, D);
            for (size_t i = 0; i < n; i++)
                gX[i] = dx1[i] + b.gl[i];
        }
    }
    /* the super-chunks' partials, in order */
    const size_t nwt = pw_floats(d);
    const float *p0 = sc_bufs(im, 0).pw;
    const size_t stride = sc_floats(d);
    float *dst[4] = {gw->qkv_w, gw->proj_w, gw->fc1_w, gw->fc2_w};
    const size_t off[5] = {oq, op, o1, o2, nwt};
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < nwt; j++) {
        float s = p0[j];
        for (int sc = 1; sc < nsc; sc++)
            s += p0[(size_t)sc * stride + j];
        int t = j < off[1] ? 0 : j < off[2] ? 1 : j < off[3] ? 2 : 3;
        dst[t][j - off[t]] += s;
    }
    const size_t nb = pb_doubles(d);
    float *bdst[8] = {gw->qkv_b, gw->proj_b, gw->fc1_b, gw->fc2_b,
                      gw->ln1_w, gw->ln1_b,  gw->ln2_w, gw->ln2_b};
    const size_t boff[9] = {bq, bp, b1, b2, l1w, l1b, l2w, l2b, nb};
    for (int t = 0; t < 8; t++)
        for (size_t j = boff[t]; j < boff[t + 1]; j++) {
            double s = 0.0;
            for (int sc = 0; sc < nsc; sc++)
                s += sc_bufs(im, sc).pb[j];
            bdst[t][j - boff[t]] += (float)s;
        }
    memset(gw->qkv_b + D, 0, (size_t)D * sizeof(float)); /* the key bias: see model.c */
}
