/* test_nn_isa.c - the kernel variants (kern.h: sse2, avx2, avx512 on x86-64)
 * compute the same bits, and dropout draws the documented masks.
 *
 * 1. Dropout against the specification written out with core/base/rng.h:
 *    element e keeps iff the 16-bit half (e mod 8) of Philox(key = seed ^
 *    2 * 0x9E3779B97F4A7C15, counter (e / 8, layer, step, salt)) is >=
 *    floor(p 2^16); kept values are in / (1 - p). Checked for whole buffers
 *    of odd lengths, row subsets (bf_dropout_rows_forward) and the fused
 *    residual form, under every variant the CPU supports.
 *    Attention against a double-precision reference at a size the vector
 *    kernel handles and one it leaves to the scalar fallback.
 * 2. A forward + backward of the whole model (dropout on) under every
 *    variant gives bit-identical predictions, loss and gradients, for the
 *    default full-size layers and for an odd-sized config whose widths are
 *    not multiples of 16 (vector tails).
 * A variant the CPU lacks is reported as skipped.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/test_util.h"
#include "core/base/rng.h"
#include "core/nn/kern.h"
#include "core/nn/model.h"
#include "core/nn/ops.h"

static const char *const ISAS[] = {"sse2", "avx2", "avx512"};
enum { NISA = 3 };

static int keeps(uint64_t seed, uint32_t salt, uint64_t step, uint32_t layer, size_t e, float p)
{
    uint64_t key = seed ^ ((uint64_t)BF_RNG_STREAM_DROPOUT * 0x9E3779B97F4A7C15ull);
    uint32_t r[4];
    bf_philox4x32(key, (uint32_t)(e / 8), layer, (uint32_t)step, salt, r);
    uint32_t j = (uint32_t)(e % 8), u = (r[j / 2] >> (16 * (j % 2))) & 0xFFFFu;
    return u >= (uint32_t)((double)p * 65536.0);
}

static void test_dropout_spec(const char *isa)
{
    const float p = 0.3f, scale = 1.0f / (1.0f - p);
    const size_t lens[] = {1, 7, 127, 128, 129, 1000, 8192 + 300, 40000};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        size_t n = lens[li];
        float *in = malloc(n * sizeof(float)), *res = malloc(n * sizeof(float));
        float *out = malloc(n * sizeof(float)), *out2 = malloc(n * sizeof(float));
        uint8_t *mask = malloc(n), *mask2 = malloc(n);
        for (size_t i = 0; i < n; i++) {
            in[i] = (float)bf_rng_normal(3, 9, li, i);
            res[i] = (float)bf_rng_normal(3, 10, li, i);
        }
        bf_dropout_forward(out, mask, in, n, p, 77, 5, 1234567, 2001);
        bf_dropout_add_forward(out2, mask2, in, res, n, p, 77, 5, 1234567, 2001);
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < n; i++) {
            int k = keeps(77, 5, 1234567, 2001, i, p);
            float v = k ? in[i] * scale : 0.0f;
            if (mask[i] != k || out[i] != v || mask2[i] != k || out2[i] != res[i] + v) {
                if (!bad++)
                    first = i;
            }
        }
        T_CHECK(bad == 0,
                "%s: dropout of %zu elements: %zu differ from the specification, "
                "first #%zu",
                isa, n, bad, first);
        free(in);
        free(res);
        free(out);
        free(out2);
        free(mask);
        free(mask2);
    }
    /* rows r of width W taken at element (row0 + r * step) * W */
    const int R = 37, W = 36, T = 15;
    float *in = malloc((size_t)R * W * sizeof(float)), *out = malloc((size_t)R * W * sizeof(float));
    uint8_t *mask = malloc((size_t)R * W);
    for (int i = 0; i < R * W; i++)
        in[i] = (float)bf_rng_normal(3, 11, 0, (uint64_t)i);
    bf_dropout_rows_forward(out, mask, in, R, W, T - 1, T, p, 9, 0, 3, 2004);
    int bad = 0;
    for (int r = 0; r < R; r++)
        for (int j = 0; j < W; j++) {
            size_t e = ((size_t)(T - 1) + (size_t)r * T) * W + j, i = (size_t)r * W + j;
            int k = keeps(9, 0, 3, 2004, e, p);
            bad += mask[i] != k || out[i] != (k ? in[i] * scale : 0.0f);
        }
    T_CHECK(bad == 0, "%s: dropout of %d rows: %d elements differ from the specification", isa, R,
            bad);
    free(in);
    free(out);
    free(mask);
}

/* Attention against a double-precision reference, at a size inside the
 * vector kernels' scratch and one beyond it (the scalar fallback): outputs
 * and the gradient of sum(out * R) within 1e-5 relative to the largest. */
static void test_attention_sizes(void)
{
    const int sizes[2][3] = {{15, 4, 128}, {70, 1, 128}}; /* T, NH, D: dh 32 and 128 */
    for (int si = 0; si < 2; si++) {
        const int T = sizes[si][0], NH = sizes[si][1], D = sizes[si][2], B = 2, dh = D / NH;
        const size_t nq = (size_t)B * T * 3 * D, no = (size_t)B * T * D;
        float *qkv = malloc(nq * sizeof(float)), *dqkv = malloc(nq * sizeof(float));
        float *out = malloc(no * sizeof(float)), *R = malloc(no * sizeof(float));
        float *att = malloc((size_t)B * NH * T * T * sizeof(float));
        float *scr = malloc((size_t)B * NH * T * sizeof(float));
        double *p = malloc((size_t)T * sizeof(double)), *dp = malloc((size_t)T * sizeof(double));
        for (size_t i = 0; i < nq; i++)
            qkv[i] = (float)bf_rng_normal(6, 1, (uint64_t)si, i);
        for (size_t i = 0; i < no; i++)
            R[i] = (float)bf_rng_normal(6, 2, (uint64_t)si, i);
        bf_attention_forward(out, att, qkv, B, T, D, NH, 1);
        bf_attention_backward(dqkv, R, qkv, att, B, T, D, NH, 1, scr);
        double worst_o = 0, worst_g = 0, max_o = 0, max_g = 0;
        const double sc = 1.0 / sqrt((double)dh);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                const float *base = qkv + (size_t)b * T * 3 * D;
                double *gq = calloc((size_t)T * dh, sizeof(double));
                double *gk = calloc((size_t)T * dh, sizeof(double));
                double *gv = calloc((size_t)T * dh, sizeof(double));
                for (int t = 0; t < T; t++) {
                    const float *q = base + (size_t)t * 3 * D + h * dh;
                    double mx = -1e300, sum = 0;
                    for (int s = 0; s <= t; s++) {
                        const float *k = base + (size_t)s * 3 * D + D + h * dh;
                        double d = 0;
                        for (int i = 0; i < dh; i++)
                            d += (double)q[i] * k[i];
                        p[s] = d * sc;
                        mx = fmax(mx, p[s]);
                    }
                    for (int s = 0; s <= t; s++)
                        sum += (p[s] = exp(p[s] - mx));
                    const float *r = R + ((size_t)b * T + t) * D + h * dh;
                    double dsum = 0;
                    for (int s = 0; s <= t; s++) {
                        p[s] /= sum;
                        const float *v = base + (size_t)s * 3 * D + 2 * D + h * dh;
                        dp[s] = 0;
                        for (int i = 0; i < dh; i++) {
                            dp[s] += (double)r[i] * v[i];
                            gv[(size_t)s * dh + i] += p[s] * r[i];
                        }
                        dsum += p[s] * dp[s];
                    }
                    for (int i = 0; i < dh; i++) {
                        double o = 0;
                        for (int s = 0; s <= t; s++)
                            o += p[s] * base[(size_t)s * 3 * D + 2 * D + h * dh + i];
                        double c = out[((size_t)b * T + t) * D + h * dh + i];
                        worst_o = fmax(worst_o, fabs(c - o));
                        max_o = fmax(max_o, fabs(o));
                    }
                    for (int s = 0; s <= t; s++) {
                        double ds = p[s] * (dp[s] - dsum) * sc;
                        const float *k = base + (size_t)s * 3 * D + D + h * dh;
                        for (int i = 0; i < dh; i++) {
                            gq[(size_t)t * dh + i] += ds * k[i];
                            gk[(size_t)s * dh + i] += ds * q[i];
                        }
                    }
                }
                for (int t = 0; t < T; t++)
                    for (int j = 0; j < 3; j++)
                        for (int i = 0; i < dh; i++) {
                            double ref = (j == 0 ? gq : j == 1 ? gk : gv)[(size_t)t * dh + i];
                            double c = dqkv[((size_t)b * T + t) * 3 * D + j * D + h * dh + i];
                            worst_g = fmax(worst_g, fabs(c - ref));
                            max_g = fmax(max_g, fabs(ref));
                        }
                free(gq);
                free(gk);
                free(gv);
            }
        T_CHECK(worst_o <= 1e-5 * max_o && worst_g <= 1e-5 * max_g,
                "attention T %d dh %d: |out - ref| %.3g (max %.3g), |grad - ref| %.3g (max %.3g)",
                T, dh, worst_o, max_o, worst_g, max_g);
        printf("attention T %d dh %d (%s): worst |out - ref| / max %.3g, grads %.3g\n", T, dh,
               (size_t)((T + 15) / 16 * 16) * dh > BF_KERN_ATT_MAX ? "scalar fallback" : "kernel",
               worst_o / max_o, worst_g / max_g);
        free(qkv);
        free(dqkv);
        free(out);
        free(R);
        free(att);
        free(scr);
        free(p);
        free(dp);
    }
}

typedef struct run_out {
    float *pred, *grads, loss;
    int64_t n;
} run_out;

static int run_model(const bf_model_config *c, int B, run_out *o)
{
    bf_model m;
    if (bf_model_init(&m, c, B, 3) != BF_OK)
        return -1;
    size_t nx = (size_t)B * c->n_features * c->seq_len;
    float *x = malloc(nx * sizeof(float)), *y = malloc((size_t)B * sizeof(float));
    int32_t *sym = malloc((size_t)B * sizeof(int32_t));
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)bf_rng_normal(4, 1, 0, i);
    for (int i = 0; i < B; i++) {
        y[i] = 0.01f * (float)bf_rng_normal(4, 2, 0, (uint64_t)i);
        sym[i] = i % c->n_symbols;
    }
    bf_model_zero_grad(&m);
    int rc = bf_model_forward(&m, x, sym, y, B, 1, 5, &o->loss) == BF_OK &&
                     bf_model_backward(&m) == BF_OK
                 ? 0
                 : -1;
    o->n = m.n_params;
    o->pred = malloc((size_t)B * sizeof(float));
    o->grads = malloc((size_t)m.n_params * sizeof(float));
    memcpy(o->pred, m.pred, (size_t)B * sizeof(float));
    memcpy(o->grads, m.grads, (size_t)m.n_params * sizeof(float));
    bf_model_free(&m);
    free(x);
    free(y);
    free(sym);
    return rc;
}

static void test_model(const char *what, const bf_model_config *c, int B)
{
    run_out ref = {0};
    const char *ref_isa = NULL;
    for (int k = 0; k < NISA; k++) {
        if (bf_kern_select(ISAS[k]) != 0)
            continue;
        run_out o = {0};
        T_CHECK(run_model(c, B, &o) == 0, "%s under %s: %s", what, ISAS[k], bf_last_error());
        if (!ref_isa) {
            ref = o;
            ref_isa = ISAS[k];
            continue;
        }
        int64_t nbad = 0, first = -1;
        for (int64_t i = 0; i < o.n; i++)
            if (memcmp(&o.grads[i], &ref.grads[i], sizeof(float)) != 0) {
                if (first < 0)
                    first = i;
                nbad++;
            }
        int pbad = memcmp(o.pred, ref.pred, (size_t)B * sizeof(float)) != 0;
        T_CHECK(nbad == 0 && !pbad && o.loss == ref.loss,
                "%s: %s vs %s: %lld of %lld gradients differ (first #%lld: %.9g vs %.9g), "
                "predictions %s, loss %.9g vs %.9g",
                what, ISAS[k], ref_isa, (long long)nbad, (long long)o.n, (long long)first,
                first >= 0 ? o.grads[first] : 0.0, first >= 0 ? ref.grads[first] : 0.0,
                pbad ? "differ" : "equal", o.loss, ref.loss);
        if (nbad == 0 && !pbad && o.loss == ref.loss)
            printf("model %s: %s and %s identical (%lld gradients)\n", what, ISAS[k], ref_isa,
                   (long long)o.n);
        free(o.pred);
        free(o.grads);
    }
    free(ref.pred);
    free(ref.grads);
}

int main(void)
{
    bf_nn_set_threads(2);
    for (int k = 0; k < NISA; k++) {
        if (bf_kern_select(ISAS[k]) != 0) {
            printf("%s: not supported by this CPU, skipped\n", ISAS[k]);
            continue;
        }
        test_dropout_spec(ISAS[k]);
        printf("%s: dropout masks match the specification\n", ISAS[k]);
        test_attention_sizes();
    }
    bf_model_config c;
    bf_model_config_defaults(&c);
    c.n_features = 33;
    c.n_symbols = 50;
    c.dropout = 0.2f;
    c.cnn_dropout = 0.2f;
    test_model("default layers", &c, 20);
    c.seq_len = 45;
    c.cnn_hidden = 40;
    c.cnn_kernels[0] = 7;
    c.cnn_dilations[0] = 3;
    c.patch_size = 5;
    c.patch_stride = 3;
    c.d_model = 36;
    c.n_heads = 3;
    c.emb_dim = 5;
    c.n_features = 7;
    test_model("odd widths (H 40, D 36, patch 5/3)", &c, 9);
    c.channel_mixer = BF_MIXER_IVAR;
    c.arch = BF_ARCH_BASELINE;
    test_model("odd widths, baseline/ivar", &c, 9);
    bf_kern_select(NULL);
    return bf_test_done("test_nn_isa");
}
