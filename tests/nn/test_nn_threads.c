/* test_nn_threads.c - the engine's large-batch paths at the seed's full-run
 * layer sizes (cnn-hidden 128 x 3, patch 8/4, d-model 128, 4 heads, 3 layers)
 * with a batch of 72 windows, large enough that every GEMM over the stem's
 * rows (4608) or the tokens (1080) is cut into row tiles and weight-gradient
 * chunks (~1024 rows) with a shorter last one.
 *
 * 1. Bit-identical parameters after a dropout-on AdamW step at 1 thread and
 *    at 2 and 3 (patchtst/mlp) or 2 (patchtst/ivar, baseline/mlp) threads.
 * 3. (1.) again under bf_nn_set_amp(1) (bf16 GEMMs on AMX), where the CPU has AMX.
 * 2. The batch gradient equals the mean of 72 single-window gradients
 *    (dropout off): the single-window passes make every GEMM one call, never
 *    tiled or chunked, so this checks those paths against the simplest
 *    one. Both sides are float32 with different summation orders;
 *    entries must agree within 1e-4 * max|tensor| + 1e-3 |ref|, the parity
 *    test's gradient tolerance (a wrong term errs by O(|ref|)).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/test_util.h"
#include "nn/nn_grads.h"
#include "core/base/rng.h"
#include "core/nn/gemm_bf16.h"
#include "core/nn/model.h"

enum { NB = 72 };

static void full_cfg(bf_model_config *c, bf_arch arch, bf_mixer mix)
{
    bf_model_config_defaults(c);
    c->arch = arch;
    c->channel_mixer = mix;
    c->n_features = 33;
    c->n_symbols = 50;
}

typedef struct batch {
    float *x, *y;
    int32_t *sym;
} batch;

static batch make_batch(const bf_model_config *c)
{
    batch b;
    size_t nx = (size_t)NB * c->n_features * c->seq_len;
    b.x = malloc(nx * sizeof(float));
    b.y = malloc(NB * sizeof(float));
    b.sym = malloc(NB * sizeof(int32_t));
    for (size_t i = 0; i < nx; i++)
        b.x[i] = (float)bf_rng_normal(5, 1, 0, i);
    for (int i = 0; i < NB; i++) {
        b.y[i] = 0.01f * (float)bf_rng_normal(5, 2, 0, (uint64_t)i);
        b.sym[i] = (i * 7) % c->n_symbols;
    }
    return b;
}

static void free_batch(batch *b)
{
    free(b->x);
    free(b->y);
    free(b->sym);
}

/* parameters after a dropout-on step at a thread count (NULL on failure) */
static float *run_steps(const bf_model_config *c, const batch *b, int threads, int64_t *n)
{
    bf_nn_set_threads(threads);
    bf_model m;
    if (bf_model_init(&m, c, NB, 7) != BF_OK)
        return NULL;
    for (int s = 0; s < 1; s++) {
        bf_model_zero_grad(&m);
        if (bf_model_forward(&m, b->x, b->sym, b->y, NB, 1, (uint64_t)s, NULL) != BF_OK ||
            bf_model_backward(&m) != BF_OK) {
            bf_model_free(&m);
            return NULL;
        }
        bf_grad_clip(m.grads, m.n_params, 1.0f);
        bf_model_adamw_step(&m, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, s + 1);
    }
    float *p = malloc((size_t)m.n_params * sizeof(float));
    memcpy(p, m.params, (size_t)m.n_params * sizeof(float));
    *n = m.n_params;
    bf_model_free(&m);
    return p;
}

static void test_threads(bf_arch arch, bf_mixer mix, int max_threads)
{
    bf_model_config c;
    full_cfg(&c, arch, mix);
    c.dropout = 0.2f;
    c.cnn_dropout = 0.2f;
    batch b = make_batch(&c);
    int64_t n = 0;
    float *p1 = run_steps(&c, &b, 1, &n);
    T_CHECK(p1 != NULL, "%s/%s at 1 thread: %s", bf_arch_name(arch), bf_mixer_name(mix),
            bf_last_error());
    for (int t = 2; t <= max_threads && p1; t++) {
        float *pt = run_steps(&c, &b, t, &n);
        T_CHECK(pt != NULL, "%s/%s at %d threads: %s", bf_arch_name(arch), bf_mixer_name(mix), t,
                bf_last_error());
        if (!pt)
            continue;
        int64_t ndiff = 0, first = -1;
        for (int64_t i = 0; i < n; i++)
            if (p1[i] != pt[i]) {
                ndiff++;
                if (first < 0)
                    first = i;
            }
        T_CHECK(ndiff == 0,
                "%s/%s: 1 vs %d threads: %lld of %lld params differ, first #%lld "
                "(%.9g vs %.9g)",
                bf_arch_name(arch), bf_mixer_name(mix), t, (long long)ndiff, (long long)n,
                (long long)first, first >= 0 ? p1[first] : 0.0, first >= 0 ? pt[first] : 0.0);
        free(pt);
    }
    printf("threads %s/%s: %lld params compared at 1..%d threads\n", bf_arch_name(arch),
           bf_mixer_name(mix), (long long)n, max_threads);
    free(p1);
    free_batch(&b);
}

static void test_batch_vs_single(bf_arch arch, bf_mixer mix)
{
    bf_model_config c;
    full_cfg(&c, arch, mix);
    c.dropout = 0.0f;
    c.cnn_dropout = 0.0f;
    c.loss = BF_LOSS_MSE;
    batch b = make_batch(&c);
    bf_nn_set_threads(2);
    bf_model m, s;
    if (bf_model_init(&m, &c, NB, 11) != BF_OK || bf_model_init(&s, &c, 1, 11) != BF_OK) {
        T_CHECK(0, "model init: %s", bf_last_error());
        return;
    }
    bf_model_zero_grad(&m);
    bf_model_zero_grad(&s);
    T_CHECK(bf_model_forward(&m, b.x, b.sym, b.y, NB, 1, 0, NULL) == BF_OK, "%s", bf_last_error());
    T_CHECK(bf_model_backward(&m) == BF_OK, "%s", bf_last_error());
    /* single windows: backward accumulates, so s.grads ends as the sum */
    size_t win = (size_t)c.n_features * c.seq_len;
    int bad_pred = 0;
    for (int i = 0; i < NB; i++) {
        T_CHECK(bf_model_forward(&s, b.x + i * win, b.sym + i, b.y + i, 1, 1, 0, NULL) == BF_OK,
                "%s", bf_last_error());
        T_CHECK(bf_model_backward(&s) == BF_OK, "%s", bf_last_error());
        float d = fabsf(s.pred[0] - m.pred[i]);
        if (d > 1e-5f + 1e-4f * fabsf(s.pred[0])) {
            if (bad_pred++ < 3)
                fprintf(stderr, "prediction %d: batch %.9g vs single %.9g\n", i, m.pred[i],
                        s.pred[0]);
        }
    }
    T_CHECK(bad_pred == 0, "%s/%s: %d of %d batch predictions differ from single-window ones",
            bf_arch_name(arch), bf_mixer_name(mix), bad_pred, NB);
    double worst = 0.0;
    char label[64];
    snprintf(label, sizeof label, "%s/%s", bf_arch_name(arch), bf_mixer_name(mix));
    int bad_tensors = bf_test_grad_mismatch(&m, m.grads, s.grads, NB, label, &worst);
    T_CHECK(bad_tensors == 0,
            "%s/%s: %d gradient tensors of batch %d differ from the mean of "
            "single-window gradients",
            bf_arch_name(arch), bf_mixer_name(mix), bad_tensors, NB);
    printf("batch vs single %s/%s: worst |diff| / max|tensor| %.3g\n", bf_arch_name(arch),
           bf_mixer_name(mix), worst);
    bf_model_free(&m);
    bf_model_free(&s);
    free_batch(&b);
}

int main(void)
{
    test_threads(BF_ARCH_PATCHTST, BF_MIXER_MLP, 3);
    test_threads(BF_ARCH_PATCHTST, BF_MIXER_IVAR, 2);
    test_threads(BF_ARCH_BASELINE, BF_MIXER_MLP, 2);
    test_batch_vs_single(BF_ARCH_PATCHTST, BF_MIXER_MLP);
    test_batch_vs_single(BF_ARCH_PATCHTST, BF_MIXER_IVAR);
    test_batch_vs_single(BF_ARCH_BASELINE, BF_MIXER_NONE);
    /* 3. the same bit-identity with the bf16 GEMMs of --use-amp, where AMX exists */
    const char *why = NULL;
    if (bf_gemm_bf16_available(&why)) {
        bf_nn_set_amp(1);
        test_threads(BF_ARCH_PATCHTST, BF_MIXER_MLP, 2);
        test_threads(BF_ARCH_PATCHTST, BF_MIXER_NONE, 2);
        bf_nn_set_amp(0);
    } else {
        printf("amp part skipped: %s\n", why);
    }
    return bf_test_done("test_nn_threads");
}
