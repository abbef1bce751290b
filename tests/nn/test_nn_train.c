/* test_nn_train.c - the engine end to end: config validation and JSON, a few
 * training steps for both architectures and all mixers (the loss must fall),
 * bit-reproducibility at a fixed thread count and across 1 vs 2 threads,
 * the flat parameter file, and input checks.
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

static void small_cfg(bf_model_config *c, bf_arch arch, bf_mixer mix)
{
    bf_model_config_defaults(c);
    c->arch = arch;
    c->channel_mixer = mix;
    c->n_features = 5;
    c->seq_len = 16;
    c->n_symbols = 3;
    c->emb_dim = 3;
    c->cnn_hidden = 16;
    c->patch_size = 4;
    c->patch_stride = 2;
    c->d_model = 16;
    c->n_heads = 2;
    c->num_layers = 2;
}

typedef struct batch {
    int B;
    float *x, *y;
    int32_t *sym;
} batch;

/* y is a planted function of x so that a model can fit it */
static batch make_batch(const bf_model_config *c, int B, uint64_t seed)
{
    batch b = {.B = B};
    size_t nx = (size_t)B * c->n_features * c->seq_len;
    b.x = malloc(nx * sizeof(float));
    b.y = malloc((size_t)B * sizeof(float));
    b.sym = malloc((size_t)B * sizeof(int32_t));
    for (size_t i = 0; i < nx; i++)
        b.x[i] = (float)bf_rng_normal(seed, 7, 0, i);
    for (int i = 0; i < B; i++) {
        const float *xi = b.x + (size_t)i * c->n_features * c->seq_len;
        b.y[i] = 0.01f * (xi[c->seq_len - 1] - 0.5f * xi[2 * c->seq_len - 2]);
        b.sym[i] = i % c->n_symbols;
    }
    return b;
}

static void free_batch(batch *b)
{
    free(b->x);
    free(b->y);
    free(b->sym);
}

static bf_status train_steps(bf_model *m, const batch *b, int steps, float *first, float *last)
{
    for (int s = 0; s < steps; s++) {
        float loss;
        bf_model_zero_grad(m);
        BF_TRY(bf_model_forward(m, b->x, b->sym, b->y, b->B, 1, (uint64_t)s, &loss));
        BF_TRY(bf_model_backward(m));
        bf_grad_clip(m->grads, m->n_params, 1.0f);
        bf_model_adamw_step(m, 3e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, s + 1);
        if (s == 0 && first)
            *first = loss;
        if (last)
            *last = loss;
    }
    return BF_OK;
}

static void test_config(void)
{
    bf_model_config c;
    bf_model_config_defaults(&c);
    T_CHECK(bf_model_config_validate(&c) == BF_OK, "defaults invalid: %s", bf_last_error());
    T_EQ_I(bf_model_config_n_params(&c) > 100000, 1);

    c.d_model = 130;
    T_EQ_I(bf_model_config_validate(&c), BF_EINVAL);
    T_CONTAINS(bf_last_error(), "--d-model 130");
    T_CONTAINS(bf_last_error(), "--n-heads 4");
    bf_model_config_defaults(&c);
    c.patch_size = 80;
    T_EQ_I(bf_model_config_validate(&c), BF_EINVAL);
    T_CONTAINS(bf_last_error(), "--patch-size 80");
    T_CONTAINS(bf_last_error(), "--seq-len 64");
    c.arch = BF_ARCH_BASELINE; /* baseline does not patch: fine */
    T_CHECK(bf_model_config_validate(&c) == BF_OK, "%s", bf_last_error());
    bf_model_config_defaults(&c);
    T_CHECK(bf_model_config_set(&c, "--cnn-kernels", "5,3") == BF_OK, "%s", bf_last_error());
    T_EQ_I(bf_model_config_validate(&c), BF_EINVAL);
    T_CONTAINS(bf_last_error(), "--cnn-kernels");
    T_CONTAINS(bf_last_error(), "--cnn-blocks");
    bf_model_config_defaults(&c);
    T_CHECK(bf_model_config_set(&c, "cnn_blocks", "4") == BF_OK, "%s", bf_last_error());
    T_CHECK(bf_model_config_set(&c, "cnn-kernels", "5,5,3,3") == BF_OK, "%s", bf_last_error());
    T_EQ_I(bf_model_config_validate(&c), BF_EINVAL);
    T_CONTAINS(bf_last_error(), "--cnn-dilations");
    T_EQ_I(bf_model_config_set(&c, "--d-modle", "3"), BF_EINVAL);
    T_CONTAINS(bf_last_error(), "d-modle");
    T_EQ_I(bf_model_config_set(&c, "--channel-mixer", "conv"), BF_EINVAL);
    T_CONTAINS(bf_last_error(), "conv");
    T_EQ_I(bf_model_config_set(&c, "--n-heads", "4x"), BF_EINVAL);

    /* JSON round trip with every field changed from the defaults */
    bf_model_config a, b;
    bf_model_config_defaults(&a);
    const char *kv[][2] = {{"arch", "baseline"}, {"n_features", "7"}, {"seq_len", "32"},
                           {"n_symbols", "9"}, {"emb_dim", "0"}, {"cnn_hidden", "24"},
                           {"cnn_blocks", "2"}, {"cnn_kernels", "7,3"}, {"cnn_dilations", "1,8"},
                           {"cnn_dropout", "0.25"}, {"patch_size", "4"}, {"patch_stride", "3"},
                           {"d_model", "48"}, {"n_heads", "6"}, {"num_layers", "1"},
                           {"dropout", "0.05"}, {"channel_mixer", "ivar"}, {"loss", "mse"},
                           {"huber_delta", "0.5"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        T_CHECK(bf_model_config_set(&a, kv[i][0], kv[i][1]) == BF_OK, "%s", bf_last_error());
    char ja[1024], jb[1024];
    T_CHECK(bf_model_config_to_json(&a, ja, sizeof ja) == BF_OK, "%s", bf_last_error());
    bf_model_config_defaults(&b);
    T_CHECK(bf_model_config_from_json(ja, &b) == BF_OK, "%s (json %s)", bf_last_error(), ja);
    T_CHECK(bf_model_config_to_json(&b, jb, sizeof jb) == BF_OK, "%s", bf_last_error());
    T_EQ_S(jb, ja);
    T_CHECK(memcmp(&a, &b, sizeof a) == 0, "config differs after JSON round trip: %s", jb);
    T_CONTAINS(ja, "\"cnn_kernels\":[7,3]");
    T_CONTAINS(ja, "\"channel_mixer\":\"ivar\"");
    T_EQ_I(bf_model_config_from_json("{\"d_model\": 64, \"bogus\": 1}", &b), BF_EINVAL);
    T_CONTAINS(bf_last_error(), "bogus");
    T_EQ_I(bf_model_config_from_json("{\"d_model\": 64", &b), BF_EINVAL);
    T_CHECK(bf_model_config_from_json(" { \"d_model\" : 64 , \"cnn_kernels\" : [ 3 , 3 ] } ", &b) ==
                BF_OK, "%s", bf_last_error());
    T_EQ_I(b.d_model, 64);
    T_EQ_I(b.n_cnn_kernels, 2);
    char small[16];
    T_EQ_I(bf_model_config_to_json(&a, small, sizeof small), BF_EINVAL);
}

static void test_train_all(void)
{
    for (int arch = 0; arch < 2; arch++)
        for (int mix = 0; mix < 3; mix++) {
            bf_model_config c;
            small_cfg(&c, (bf_arch)arch, (bf_mixer)mix);
            c.loss = BF_LOSS_MSE;
            c.dropout = 0.0f;
            c.cnn_dropout = 0.0f;
            bf_model m;
            if (bf_model_init(&m, &c, 16, 3) != BF_OK) {
                T_CHECK(0, "init %s/%s: %s", bf_arch_name(c.arch), bf_mixer_name(c.channel_mixer),
                        bf_last_error());
                continue;
            }
            batch b = make_batch(&c, 16, 5);
            float first = 0, last = 0;
            bf_status st = train_steps(&m, &b, 40, &first, &last);
            T_CHECK(st == BF_OK, "%s", bf_last_error());
            T_CHECK(last < 0.5f * first, "%s/%s: loss %.4g -> %.4g did not halve in 40 steps",
                    bf_arch_name(c.arch), bf_mixer_name(c.channel_mixer), first, last);
            printf("  %s/%s: %lld params, loss %.4g -> %.4g after 40 steps\n",
                   bf_arch_name(c.arch), bf_mixer_name(c.channel_mixer), (long long)m.n_params,
                   first, last);
            free_batch(&b);
            bf_model_free(&m);
        }
}

/* params after 3 dropout-on steps at a given thread count */
static float *run_params(const bf_model_config *c, int threads, uint64_t seed, int64_t *n)
{
    bf_nn_set_threads(threads);
    bf_model m;
    if (bf_model_init(&m, c, 64, seed) != BF_OK)
        return NULL;
    batch b = make_batch(c, 64, 9);
    train_steps(&m, &b, 3, NULL, NULL);
    free_batch(&b);
    float *p = malloc((size_t)m.n_params * sizeof(float));
    memcpy(p, m.params, (size_t)m.n_params * sizeof(float));
    *n = m.n_params;
    bf_model_free(&m);
    return p;
}

static void test_reproducible(void)
{
    bf_model_config c;
    small_cfg(&c, BF_ARCH_PATCHTST, BF_MIXER_IVAR);
    c.cnn_hidden = 32; /* big enough that GEMMs are split across threads */
    c.dropout = 0.2f;
    c.cnn_dropout = 0.2f;
    int64_t n = 0;
    float *a = run_params(&c, 2, 42, &n), *b = run_params(&c, 2, 42, &n);
    float *d = run_params(&c, 2, 43, &n), *one = run_params(&c, 1, 42, &n);
    T_CHECK(a && b && d && one, "model init failed: %s", bf_last_error());
    if (a && b && d && one) {
        T_CHECK(memcmp(a, b, (size_t)n * sizeof(float)) == 0,
                "two runs with seed 42 at 2 threads differ");
        T_CHECK(memcmp(a, d, (size_t)n * sizeof(float)) != 0, "seeds 42 and 43 gave the same run");
        int64_t ndiff = 0;
        for (int64_t i = 0; i < n; i++)
            ndiff += a[i] != one[i];
        T_CHECK(ndiff == 0, "1 thread vs 2 threads: %lld of %lld params differ", (long long)ndiff,
                (long long)n);
    }
    free(a);
    free(b);
    free(d);
    free(one);
    bf_nn_set_threads(2);
}

static void test_param_file_and_inputs(void)
{
    bf_model_config c;
    small_cfg(&c, BF_ARCH_BASELINE, BF_MIXER_MLP);
    bf_model m, m2;
    T_CHECK(bf_model_init(&m, &c, 4, 1) == BF_OK, "%s", bf_last_error());
    T_CHECK(bf_model_init(&m2, &c, 4, 2) == BF_OK, "%s", bf_last_error());
    bf_model_print_summary(&m);
    const char *path = "test_nn_params.bfp";
    T_CHECK(bf_model_save_params(&m, path) == BF_OK, "%s", bf_last_error());
    bf_model_config rc;
    T_CHECK(bf_param_file_read_config(path, &rc) == BF_OK, "%s", bf_last_error());
    T_CHECK(memcmp(&rc, &c, sizeof c) == 0, "config read back from the file differs");
    T_CHECK(bf_model_load_params(&m2, path) == BF_OK, "%s", bf_last_error());
    T_CHECK(memcmp(m.params, m2.params, (size_t)m.n_params * sizeof(float)) == 0,
            "params differ after save/load");
    batch b = make_batch(&c, 4, 3);
    T_CHECK(bf_model_forward(&m, b.x, b.sym, NULL, 4, 0, 0, NULL) == BF_OK, "%s", bf_last_error());
    float p1[4];
    memcpy(p1, m.pred, sizeof p1);
    T_CHECK(bf_model_forward(&m2, b.x, b.sym, NULL, 4, 0, 0, NULL) == BF_OK, "%s", bf_last_error());
    T_CHECK(memcmp(p1, m2.pred, sizeof p1) == 0, "predictions differ after load");
    /* a model of another shape refuses the file */
    bf_model m3;
    bf_model_config c3 = c;
    c3.d_model = 32;
    T_CHECK(bf_model_init(&m3, &c3, 2, 1) == BF_OK, "%s", bf_last_error());
    T_EQ_I(bf_model_load_params(&m3, path), BF_EINVAL);
    T_CONTAINS(bf_last_error(), path);
    bf_model_free(&m3);
    /* a damaged file is reported, not loaded */
    FILE *f = fopen(path, "r+b");
    fputc('X', f);
    fclose(f);
    T_EQ_I(bf_model_load_params(&m2, path), BF_ECORRUPT);
    T_EQ_I(bf_model_load_params(&m2, "no/such/file.bfp"), BF_ENOTFOUND);
    remove(path);
    /* input checks */
    T_EQ_I(bf_model_forward(&m, b.x, b.sym, b.y, 5, 1, 0, NULL), BF_EINVAL);
    T_CONTAINS(bf_last_error(), "1..4");
    b.sym[1] = 3;
    T_EQ_I(bf_model_forward(&m, b.x, b.sym, b.y, 4, 1, 0, NULL), BF_EINVAL);
    T_CONTAINS(bf_last_error(), "symbol id 3");
    b.sym[1] = 0;
    T_EQ_I(bf_model_forward(&m, b.x, b.sym, NULL, 4, 1, 0, NULL), BF_OK);
    T_EQ_I(bf_model_backward(&m), BF_EINVAL);
    b.x[0] = NAN;
    T_EQ_I(bf_model_forward(&m, b.x, b.sym, b.y, 4, 1, 0, NULL), BF_ENAN);
    /* tensor table: contiguous, covering the buffer */
    int64_t off = 0;
    for (int i = 0; i < bf_model_n_tensors(&m); i++) {
        const bf_tensor_info *t = bf_model_tensor(&m, i);
        T_EQ_I(t->offset, off);
        off += t->numel;
    }
    T_EQ_I(off, m.n_params);
    T_CHECK(bf_model_param(&m, "head.weight") != NULL, "head.weight missing");
    T_CHECK(bf_model_param(&m, "emb.weight") == m.params, "emb.weight is not first");
    free_batch(&b);
    bf_model_free(&m);
    bf_model_free(&m2);
}

static void test_grad_clip_adamw(void)
{
    float g[4] = {3, 4, 0, 0};
    float norm = bf_grad_clip(g, 4, 1.0f);
    T_NEAR(norm, 5.0, 1e-6);
    T_NEAR(g[0], 3.0 / (5.0 + 1e-6), 1e-6);
    T_NEAR(g[1], 4.0 / (5.0 + 1e-6), 1e-6);
    float h[2] = {0.3f, 0.4f};
    T_NEAR(bf_grad_clip(h, 2, 1.0f), 0.5, 1e-6);
    T_CHECK(h[0] == 0.3f && h[1] == 0.4f, "grads under the limit were changed: %g %g", h[0], h[1]);
    /* one AdamW step by hand: m = 0.1 g, v = 0.001 g^2, mhat = g, vhat = g^2 */
    float p[2] = {1.0f, 1.0f}, gr[2] = {0.5f, -2.0f}, m[2] = {0}, v[2] = {0};
    uint8_t mask[2] = {1, 0};
    bf_adamw_step(p, gr, m, v, 2, 0.1f, 0.9f, 0.999f, 1e-8f, 0.5f, 1, mask);
    T_NEAR(p[0], 1.0 * (1 - 0.1 * 0.5) - 0.1 * (0.5 / (0.5 + 1e-8)), 1e-6);
    T_NEAR(p[1], 1.0 + 0.1 * (2.0 / (2.0 + 1e-8)), 1e-6);
}

/* The vector AdamW (every instruction set) against the update written as a
 * scalar loop, bit for bit: 10007 parameters (a ragged tail), a decay mask,
 * 3 steps. */
static void test_adamw_exact(void)
{
    enum { n = 10007 };
    static float p[n], g[n], m[n], v[n], rp[n], rm[n], rv[n];
    static uint8_t mask[n];
    static const char *const isas[] = {"sse2", "avx2", "avx512", "generic"};
    const float lr = 3e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.01f;
    int tried = 0;
    for (int q = 0; q < 4; q++) {
        if (bf_kern_select(isas[q]) != 0)
            continue;
        tried++;
        for (int i = 0; i < n; i++) {
            p[i] = rp[i] = (float)((i * 37 % 101) - 50) * 0.013f;
            m[i] = rm[i] = 0.0f;
            v[i] = rv[i] = 0.0f;
            mask[i] = i % 3 != 0;
        }
        int bad = 0;
        for (int t = 1; t <= 3; t++) {
            for (int i = 0; i < n; i++)
                g[i] = (float)((i * 53 + t * 17) % 97 - 48) * 0.0021f;
            bf_adamw_step(p, g, m, v, n, lr, b1, b2, eps, wd, t, mask);
            const float bc1 = 1.0f - powf(b1, (float)t), bc2 = sqrtf(1.0f - powf(b2, (float)t));
            for (int i = 0; i < n; i++) {
                float pp = rp[i];
                if (mask[i])
                    pp *= 1.0f - lr * wd;
                float mi = b1 * rm[i] + (1.0f - b1) * g[i];
                float vi = b2 * rv[i] + (1.0f - b2) * g[i] * g[i];
                rm[i] = mi;
                rv[i] = vi;
                rp[i] = pp - lr / bc1 * (mi / (sqrtf(vi) / bc2 + eps));
            }
            for (int i = 0; i < n; i++)
                bad += p[i] != rp[i] || m[i] != rm[i] || v[i] != rv[i];
        }
        T_CHECK(bad == 0, "AdamW under %s: %d values differ from the scalar update", isas[q], bad);
    }
    bf_kern_select(NULL);
    T_CHECK(tried > 0, "no kernel variant could be selected");
}

/* dropout masks are the documented function of (seed, salt, step, layer, i) */
static void test_dropout_masks(void)
{
    enum { n = 1001 };
    static float in[n], out[n];
    static uint8_t mask[n];
    for (int i = 0; i < n; i++)
        in[i] = 1.0f;
    const float p = 0.3f;
    bf_dropout_forward(out, mask, in, n, p, 99, 5, 12345, 7);
    uint64_t key = 99 ^ ((uint64_t)BF_RNG_STREAM_DROPOUT * 0x9E3779B97F4A7C15ull);
    int bad = 0, kept = 0;
    for (int i = 0; i < n; i++) {
        uint32_t r[4];
        bf_philox4x32(key, (uint32_t)(i / 8), 7, 12345, 5, r);
        int j = i % 8;
        uint32_t u = (r[j >> 1] >> ((j & 1) * 16)) & 0xFFFFu;
        int keep = u >= (uint32_t)((double)p * 65536.0);
        bad += keep != mask[i] || out[i] != (keep ? 1.0f / (1.0f - p) : 0.0f);
        kept += keep;
    }
    T_CHECK(bad == 0, "%d of %d dropout elements differ from the documented Philox mask", bad, n);
    T_CHECK(kept > 0.6 * n && kept < 0.8 * n, "kept %d of %d at p = 0.3", kept, n);
}

int main(void)
{
    test_dropout_masks();
    bf_nn_set_threads(2);
    test_config();
    test_grad_clip_adamw();
    test_adamw_exact();
    printf("training steps, all architectures and mixers:\n");
    test_train_all();
    test_reproducible();
    test_param_file_and_inputs();
    return bf_test_done("test_nn_train");
}
