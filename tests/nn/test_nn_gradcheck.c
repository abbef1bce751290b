/* test_nn_gradcheck.c - finite-difference checks of every layer and of the
 * whole model (both architectures, all three mixers).
 *
 * Each case defines J = sum(out * R) for a fixed random R (or the loss, for
 * losses and the model), runs backward with dout = R and compares each
 * analytic gradient entry with the central difference (J(v+h) - J(v-h)) / 2h.
 * The ops run in float32 while J is summed in double, so the difference
 * carries about eps32 * |J| / h of rounding (~1e-5 here) plus O(h^2)
 * truncation; with h = 1e-2 for layers (inputs O(1)) the tolerance
 * |a - n| <= 1e-3 * scale + 2e-2 * |n|, scale = the largest |gradient| of that
 * tensor, sits an order of magnitude above both while still catching any
 * wrong term (which errs by O(|n|)). Any entry beyond it fails the test.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/test_util.h"
#include "core/base/rng.h"
#include "core/nn/fastmath.h"
#include "core/nn/vec16.h"
#include "core/nn/model.h"
#include "core/nn/ops.h"

static uint64_t g_ctr = 1;
static void fill(float *p, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        p[i] = scale * (float)bf_rng_normal(77, 9, g_ctr, i);
    g_ctr++;
}
static float *mk(size_t n, float scale)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    fill(p, n, scale);
    return p;
}
static float *zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* ---- generic harness ---------------------------------------------------- */

typedef struct gc_case gc_case;
struct gc_case {
    const char *name;
    void (*fwd)(gc_case *);
    void (*bwd)(gc_case *);
    float *out, *R;
    size_t n_out;
    int nvar;
    struct {
        const char *what;
        float *v, *g;
        size_t n;
    } var[8];
    /* op-specific state */
    float *a[12];
    uint8_t *mask;
    int i[8];
    int32_t *sym;
};

static double objective(gc_case *c)
{
    c->fwd(c);
    double s = 0.0;
    for (size_t i = 0; i < c->n_out; i++)
        s += (double)c->out[i] * c->R[i];
    return s;
}

static void check_case(gc_case *c, float h)
{
    for (int k = 0; k < c->nvar; k++)
        memset(c->var[k].g, 0, c->var[k].n * sizeof(float));
    c->fwd(c);
    c->bwd(c);
    for (int k = 0; k < c->nvar; k++) {
        size_t n = c->var[k].n;
        float *v = c->var[k].v, *g = c->var[k].g;
        double scale = 0.0;
        for (size_t i = 0; i < n; i++)
            scale = fmax(scale, fabs(g[i]));
        int fails = 0;
        double worst = 0.0;
        size_t stride = n > 64 ? n / 61 + 1 : 1; /* at most ~64 entries per tensor */
        for (size_t i = 0; i < n; i += stride) {
            float keep = v[i];
            v[i] = keep + h;
            double jp = objective(c);
            v[i] = keep - h;
            double jm = objective(c);
            v[i] = keep;
            double num = (jp - jm) / (2.0 * h), ana = g[i];
            double err = fabs(num - ana), tol = 1e-3 * scale + 2e-2 * fabs(num);
            if (err > tol) {
                if (fails < 3)
                    fprintf(stderr, "FAIL %s d%s[%zu]: analytic %.6g numeric %.6g (|diff| %.3g > %.3g)\n",
                            c->name, c->var[k].what, i, ana, num, err, tol);
                fails++;
            }
            worst = fmax(worst, err / (tol > 0 ? tol : 1));
        }
        if (fails)
            bf_test_failures++;
        printf("  %-22s d%-8s %6zu entries, worst err/tol %.3f%s\n", c->name, c->var[k].what, n,
               worst, fails ? "  FAILED" : "");
    }
}

/* ---- layer cases ---------------------------------------------------------- */
/* i[0..]: dims; a[0..]: buffers; var[]: what is perturbed */

static void lin_f(gc_case *c) { bf_linear_forward(c->out, c->a[0], c->a[1], c->a[2], c->i[0], c->i[1], c->i[2]); }
static void lin_b(gc_case *c) { bf_linear_backward(c->var[0].g, c->var[1].g, c->var[2].g, c->R, c->a[0], c->a[1], c->i[0], c->i[1], c->i[2], 0); }
static void glu_f(gc_case *c) { bf_glu_forward(c->out, c->a[0], c->i[0], c->i[1]); }
static void glu_b(gc_case *c) { bf_glu_backward(c->var[0].g, c->R, c->a[0], c->i[0], c->i[1]); }
static void gelu_f(gc_case *c) { bf_gelu_forward(c->out, c->a[0], (size_t)c->i[0]); }
static void gelu_b(gc_case *c) { bf_gelu_backward(c->var[0].g, c->R, c->a[0], (size_t)c->i[0]); }
static void drop_f(gc_case *c) { bf_dropout_forward(c->out, c->mask, c->a[0], (size_t)c->i[0], 0.3f, 5, 0, 7, 3); }
static void drop_b(gc_case *c) { bf_dropout_backward(c->var[0].g, c->R, c->mask, (size_t)c->i[0], 0.3f); }
static void dw_f(gc_case *c) { bf_dwconv_forward(c->out, c->a[0], c->a[1], c->a[2], c->i[0], c->i[1], c->i[2], c->i[3], c->i[4]); }
static void dw_b(gc_case *c) { bf_dwconv_backward(c->var[0].g, c->var[1].g, c->var[2].g, c->R, c->a[0], c->a[1], c->i[0], c->i[1], c->i[2], c->i[3], c->i[4], 0); }
static void tile_f(gc_case *c) { bf_tile_forward(c->out, c->a[0], c->sym, c->a[1], c->i[0], c->i[1], c->i[2], c->i[3]); }
static void tile_b(gc_case *c) { bf_tile_backward(c->var[0].g, c->R, c->sym, c->i[0], c->i[1], c->i[2], c->i[3]); }
static void col_f(gc_case *c) { bf_im2col_forward(c->out, c->a[0], c->i[0], c->i[1], c->i[2], c->i[3], c->i[4], c->i[5]); }
static void col_b(gc_case *c) { bf_im2col_backward(c->var[0].g, c->R, c->i[0], c->i[1], c->i[2], c->i[3], c->i[4], c->i[5]); }
static void pos_f(gc_case *c)
{
    memcpy(c->out, c->a[0], (size_t)c->i[0] * c->i[1] * c->i[2] * sizeof(float));
    bf_pos_forward(c->out, c->a[1], c->i[0], c->i[1], c->i[2]);
}
static void pos_b(gc_case *c)
{
    memcpy(c->var[0].g, c->R, (size_t)c->i[0] * c->i[1] * c->i[2] * sizeof(float));
    bf_pos_backward(c->var[1].g, c->R, c->i[0], c->i[1], c->i[2]);
}
static void tr_f(gc_case *c) { bf_transpose(c->out, c->a[0], c->i[0], c->i[1], c->i[2], 0); }
static void tr_b(gc_case *c) { bf_transpose(c->var[0].g, c->R, c->i[0], c->i[2], c->i[1], 0); }
static void ln_f(gc_case *c) { bf_layernorm_forward(c->out, c->a[3], c->a[4], c->a[0], c->a[1], c->a[2], c->i[0], c->i[1]); }
static void ln_b(gc_case *c) { bf_layernorm_backward(c->var[0].g, c->var[1].g, c->var[2].g, c->R, c->a[0], c->a[1], c->a[3], c->a[4], c->i[0], c->i[1]); }
static void gn_f(gc_case *c) { bf_groupnorm_forward(c->out, c->a[3], c->a[4], c->a[0], c->a[1], c->a[2], c->i[0], c->i[1], c->i[2], c->i[3]); }
static void gn_b(gc_case *c) { bf_groupnorm_backward(c->var[0].g, c->var[1].g, c->var[2].g, c->R, c->a[0], c->a[1], c->a[3], c->a[4], c->i[0], c->i[1], c->i[2], c->i[3], c->a[5]); }
static void at_f(gc_case *c) { bf_attention_forward(c->out, c->a[1], c->a[0], c->i[0], c->i[1], c->i[2], c->i[3], c->i[4]); }
static void at_b(gc_case *c) { bf_attention_backward(c->var[0].g, c->R, c->a[0], c->a[1], c->i[0], c->i[1], c->i[2], c->i[3], c->i[4], c->a[2]); }
/* losses: out = the loss itself, R = 1 */
static void hub_f(gc_case *c) { c->out[0] = (float)bf_huber_forward(c->a[0], c->a[1], c->i[0], 0.5f); }
static void hub_b(gc_case *c) { bf_huber_backward(c->var[0].g, c->a[0], c->a[1], c->i[0], 0.5f); }
static void mse_f(gc_case *c) { c->out[0] = (float)bf_mse_forward(c->a[0], c->a[1], c->i[0]); }
static void mse_b(gc_case *c) { bf_mse_backward(c->var[0].g, c->a[0], c->a[1], c->i[0]); }

#define VAR(c, k, name, buf, cnt)        \
    do {                                 \
        (c).var[k].what = (name);        \
        (c).var[k].v = (buf);            \
        (c).var[k].n = (cnt);            \
        (c).var[k].g = zeros(cnt);       \
        if ((c).nvar < (k) + 1)          \
            (c).nvar = (k) + 1;          \
    } while (0)

static void run_case(gc_case *c, size_t n_out, float h)
{
    c->n_out = n_out;
    c->out = zeros(n_out);
    c->R = mk(n_out, 1.0f);
    check_case(c, h);
    free(c->out);
    free(c->R);
    for (int k = 0; k < c->nvar; k++)
        free(c->var[k].g);
    for (int k = 0; k < 12; k++)
        free(c->a[k]);
    free(c->mask);
    free(c->sym);
}

static void layer_checks(void)
{
    const float h = 1e-2f;
    { gc_case c = {.name = "linear", .fwd = lin_f, .bwd = lin_b, .i = {6, 5, 4}};
      c.a[0] = mk(30, 1); c.a[1] = mk(20, 0.5f); c.a[2] = mk(4, 0.5f);
      VAR(c, 0, "in", c.a[0], 30); VAR(c, 1, "w", c.a[1], 20); VAR(c, 2, "b", c.a[2], 4);
      run_case(&c, 24, h); }
    { gc_case c = {.name = "glu", .fwd = glu_f, .bwd = glu_b, .i = {5, 3}};
      c.a[0] = mk(30, 1); VAR(c, 0, "in", c.a[0], 30); run_case(&c, 15, h); }
    { gc_case c = {.name = "gelu", .fwd = gelu_f, .bwd = gelu_b, .i = {40}};
      c.a[0] = mk(40, 1.5f); VAR(c, 0, "in", c.a[0], 40); run_case(&c, 40, h); }
    { gc_case c = {.name = "dropout", .fwd = drop_f, .bwd = drop_b, .i = {50}};
      c.a[0] = mk(50, 1); c.mask = calloc(50, 1); VAR(c, 0, "in", c.a[0], 50); run_case(&c, 50, h); }
    { int B = 2, L = 9, H = 3, K = 3, d = 2;
      gc_case c = {.name = "dwconv(k3,d2)", .fwd = dw_f, .bwd = dw_b, .i = {B, L, H, K, d}};
      c.a[0] = mk(B * L * H, 1); c.a[1] = mk(H * K, 0.5f); c.a[2] = mk(H, 0.5f);
      VAR(c, 0, "in", c.a[0], B * L * H); VAR(c, 1, "w", c.a[1], H * K); VAR(c, 2, "b", c.a[2], H);
      run_case(&c, B * L * H, h); }
    { int B = 3, C = 2, L = 4, E = 3;
      gc_case c = {.name = "tile+embedding", .fwd = tile_f, .bwd = tile_b, .i = {B, C, L, E}};
      c.a[0] = mk(B * C * L, 1); c.a[1] = mk(4 * E, 1);
      c.sym = malloc(B * sizeof(int32_t)); c.sym[0] = 2; c.sym[1] = 0; c.sym[2] = 2;
      VAR(c, 0, "emb", c.a[1], 4 * E); run_case(&c, B * L * (C + E), h); }
    { int B = 2, L = 10, H = 3, P = 4, S = 2, T = (L - P) / S + 1;
      gc_case c = {.name = "im2col(p4,s2)", .fwd = col_f, .bwd = col_b, .i = {B, L, H, P, S, T}};
      c.a[0] = mk(B * L * H, 1); VAR(c, 0, "in", c.a[0], B * L * H); run_case(&c, B * T * P * H, h); }
    { int B = 3, T = 4, D = 5;
      gc_case c = {.name = "positions", .fwd = pos_f, .bwd = pos_b, .i = {B, T, D}};
      c.a[0] = mk(B * T * D, 1); c.a[1] = mk(T * D, 1);
      VAR(c, 0, "x", c.a[0], B * T * D); VAR(c, 1, "pos", c.a[1], T * D); run_case(&c, B * T * D, h); }
    { int B = 2, R = 3, W = 5;
      gc_case c = {.name = "transpose", .fwd = tr_f, .bwd = tr_b, .i = {B, R, W}};
      c.a[0] = mk(B * R * W, 1); VAR(c, 0, "in", c.a[0], B * R * W); run_case(&c, B * R * W, h); }
    { int N = 4, D = 7;
      gc_case c = {.name = "layernorm", .fwd = ln_f, .bwd = ln_b, .i = {N, D}};
      c.a[0] = mk(N * D, 1); c.a[1] = mk(D, 1); c.a[2] = mk(D, 1); c.a[3] = zeros(N); c.a[4] = zeros(N);
      VAR(c, 0, "in", c.a[0], N * D); VAR(c, 1, "w", c.a[1], D); VAR(c, 2, "b", c.a[2], D);
      run_case(&c, N * D, h); }
    { int B = 2, L = 5, H = 6, G = 3;
      gc_case c = {.name = "groupnorm(G3)", .fwd = gn_f, .bwd = gn_b, .i = {B, L, H, G}};
      c.a[0] = mk(B * L * H, 1); c.a[1] = mk(H, 1); c.a[2] = mk(H, 1);
      c.a[3] = zeros(B * G); c.a[4] = zeros(B * G); c.a[5] = zeros(2 * B * H);
      VAR(c, 0, "in", c.a[0], B * L * H); VAR(c, 1, "w", c.a[1], H); VAR(c, 2, "b", c.a[2], H);
      run_case(&c, B * L * H, h); }
    for (int causal = 0; causal <= 1; causal++) {
        int B = 2, T = 5, D = 6, NH = 2;
        gc_case c = {.name = causal ? "attention(causal)" : "attention(full)", .fwd = at_f,
                     .bwd = at_b, .i = {B, T, D, NH, causal}};
        c.a[0] = mk(B * T * 3 * D, 1); c.a[1] = zeros(B * NH * T * T); c.a[2] = zeros(B * NH * T);
        VAR(c, 0, "qkv", c.a[0], B * T * 3 * D); run_case(&c, B * T * D, h);
    }
    { int B = 8;
      gc_case c = {.name = "huber(delta 0.5)", .fwd = hub_f, .bwd = hub_b, .i = {B}};
      c.a[0] = mk(B, 1); c.a[1] = mk(B, 1);
      VAR(c, 0, "pred", c.a[0], B);
      c.n_out = 1; c.out = zeros(1); c.R = zeros(1); c.R[0] = 1;
      check_case(&c, 1e-3f);
      free(c.out); free(c.R); free(c.var[0].g); free(c.a[0]); free(c.a[1]); }
    { int B = 8;
      gc_case c = {.name = "mse", .fwd = mse_f, .bwd = mse_b, .i = {B}};
      c.a[0] = mk(B, 1); c.a[1] = mk(B, 1);
      VAR(c, 0, "pred", c.a[0], B);
      c.n_out = 1; c.out = zeros(1); c.R = zeros(1); c.R[0] = 1;
      check_case(&c, 1e-3f);
      free(c.out); free(c.R); free(c.var[0].g); free(c.a[0]); free(c.a[1]); }
}

/* ---- whole model ---------------------------------------------------------- */

static void model_check(bf_arch arch, bf_mixer mixer)
{
    bf_model_config cfg;
    bf_model_config_defaults(&cfg);
    cfg.arch = arch;
    cfg.channel_mixer = mixer;
    cfg.n_features = 3;
    cfg.seq_len = 12;
    cfg.n_symbols = 4;
    cfg.emb_dim = 2;
    cfg.cnn_hidden = 8;
    cfg.cnn_blocks = 2;
    cfg.cnn_kernels[0] = 3; cfg.cnn_kernels[1] = 2;
    cfg.cnn_dilations[0] = 1; cfg.cnn_dilations[1] = 2;
    cfg.n_cnn_kernels = cfg.n_cnn_dilations = 2;
    cfg.patch_size = 4;
    cfg.patch_stride = 2;
    cfg.d_model = 8;
    cfg.n_heads = 2;
    cfg.num_layers = 2;
    cfg.dropout = 0.1f;      /* masks are fixed for a fixed step: still differentiable */
    cfg.cnn_dropout = 0.1f;
    cfg.loss = BF_LOSS_MSE;  /* smooth, so central differences are valid everywhere */
    bf_model m;
    bf_status st = bf_model_init(&m, &cfg, 3, 11);
    T_CHECK(st == BF_OK, "init failed: %s", bf_last_error());
    if (st != BF_OK)
        return;
    const int B = 3;
    float *x = mk((size_t)B * cfg.n_features * cfg.seq_len, 1.0f), *y = mk(B, 1.0f);
    int32_t sym[3] = {1, 3, 1};
    float loss;
    bf_model_zero_grad(&m);
    T_CHECK(bf_model_forward(&m, x, sym, y, B, 1, 5, &loss) == BF_OK, "%s", bf_last_error());
    T_CHECK(bf_model_backward(&m) == BF_OK, "%s", bf_last_error());
    char name[64];
    snprintf(name, sizeof name, "model %s/%s", bf_arch_name(arch), bf_mixer_name(mixer));
    const float h = 3e-3f;
    int fails = 0;
    double worst = 0.0;
    for (int t = 0; t < m.n_tensors; t++) {
        const bf_tensor_info *ti = bf_model_tensor(&m, t);
        float *p = m.params + ti->offset, *g = m.grads + ti->offset;
        double scale = 0.0;
        for (int64_t i = 0; i < ti->numel; i++)
            scale = fmax(scale, fabs(g[i]));
        int64_t stride = ti->numel > 6 ? ti->numel / 5 + 1 : 1;
        for (int64_t i = 0; i < ti->numel; i += stride) {
            float keep = p[i];
            float lp, lm;
            p[i] = keep + h;
            bf_model_forward(&m, x, sym, y, B, 1, 5, &lp);
            p[i] = keep - h;
            bf_model_forward(&m, x, sym, y, B, 1, 5, &lm);
            p[i] = keep;
            double num = ((double)lp - lm) / (2.0 * h), ana = g[i];
            /* the loss is float32: |loss| eps32 / h ~ 1e-4 of rounding */
            double tol = 2e-4 + 1e-3 * scale + 3e-2 * fabs(num);
            double err = fabs(num - ana);
            worst = fmax(worst, err / tol);
            if (err > tol) {
                if (fails < 5)
                    fprintf(stderr, "FAIL %s d%s[%lld]: analytic %.6g numeric %.6g (|diff| %.3g > %.3g)\n",
                            name, ti->name, (long long)i, ana, num, err, tol);
                fails++;
            }
        }
    }
    if (fails)
        bf_test_failures++;
    printf("  %-26s %lld params in %d tensors, worst err/tol %.3f%s\n", name,
           (long long)m.n_params, m.n_tensors, worst, fails ? "  FAILED" : "");
    free(x);
    free(y);
    bf_model_free(&m);
}

/* the vectorizable expf/erff against libm (accuracy claimed in fastmath.h) */
static void fastmath_check(void)
{
    double we = 0.0, wf = 0.0;
    for (int i = -300000; i <= 300000; i++) {
        float x = i * 1e-4f;
        double e = exp((double)x), re = fabs(bf_expf(x) - e) / e;
        double f = fabs(bf_erff(x) - erf((double)x));
        we = fmax(we, re);
        wf = fmax(wf, f);
    }
    /* the 16-lane forms the kernels run (vec16.h) are the same formulas */
    int v16_bad = 0;
    for (int i = -300000; i <= 300000; i += 16) {
        float xs[BF_VW], ev[BF_VW], fv[BF_VW];
        for (int k = 0; k < BF_VW; k++)
            xs[k] = (i + k) * 1e-4f;
        bf_vstore(ev, bf_vexp(bf_vload(xs)));
        bf_vstore(fv, bf_verf(bf_vload(xs)));
        for (int k = 0; k < BF_VW; k++)
            if (ev[k] != bf_expf(xs[k]) || fv[k] != bf_erff(xs[k]))
                v16_bad++;
    }
    T_CHECK(v16_bad == 0, "%d lanes of bf_vexp/bf_verf differ from bf_expf/bf_erff", v16_bad);
    printf("fastmath: bf_expf max rel err %.3g, bf_erff max abs err %.3g over [-30, 30]\n", we, wf);
    T_CHECK(we < 4e-7, "bf_expf relative error %.3g exceeds 4e-7", we);
    T_CHECK(wf < 6e-7, "bf_erff absolute error %.3g exceeds 6e-7", wf);
}

int main(void)
{
    bf_nn_set_threads(2);
    fastmath_check();
    printf("layer gradient checks (h = 1e-2, float32 ops, double objective):\n");
    layer_checks();
    printf("model gradient checks (MSE loss, dropout on with fixed masks):\n");
    for (int a = 0; a < 2; a++)
        for (int x = 0; x < 3; x++)
            model_check((bf_arch)a, (bf_mixer)x);
    return bf_test_done("test_nn_gradcheck");
}
