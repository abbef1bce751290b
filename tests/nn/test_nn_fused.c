/* test_nn_fused.c - the chunked stages (model_stem.c, model_mid.c,
 * model_layer.c) against the op-by-op path (BARFORGE_NN_UNFUSED=1) over a
 * sweep of shapes: both architectures, all three mixers, window lengths
 * whose chunks end mid-run or hold odd numbers of windows, one to three
 * layers, with and without the embedding, batches of 1, 5 and 37, dropout
 * on (the masks are drawn by element index, so both paths drop the same
 * elements).
 *
 * For each: the loss, every prediction and every gradient of one forward +
 * backward agree within float32 reassociation (the two paths sum the
 * parameter gradients in different orders): |diff| <= 1e-4 max|tensor| +
 * 1e-3 |ref|, the tolerance of test_nn_threads' batch-vs-single check. A
 * wrong index or a missed term errs by O(|ref|). Then one AdamW step must
 * leave bit-identical parameters at 1 and 2 threads on the chunked path.
 */
#define _POSIX_C_SOURCE 200809L
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

typedef struct shape {
    bf_arch arch;
    bf_mixer mix;
    int L, P, S, H, blocks, D, heads, layers, E, B;
} shape;

static const shape SHAPES[] = {
    {BF_ARCH_PATCHTST, BF_MIXER_MLP, 16, 4, 2, 16, 3, 16, 2, 2, 3, 37},
    {BF_ARCH_PATCHTST, BF_MIXER_MLP, 64, 8, 4, 32, 2, 32, 4, 3, 4, 5},
    {BF_ARCH_PATCHTST, BF_MIXER_NONE, 24, 6, 3, 24, 2, 24, 3, 2, 0, 37},
    {BF_ARCH_PATCHTST, BF_MIXER_IVAR, 32, 8, 8, 16, 2, 16, 2, 3, 2, 5},
    {BF_ARCH_PATCHTST, BF_MIXER_MLP, 20, 5, 5, 16, 1, 32, 2, 1, 2, 37}, /* L=20: stem op by op */
    {BF_ARCH_PATCHTST, BF_MIXER_MLP, 48, 16, 4, 16, 2, 16, 1, 2, 2, 1},
    {BF_ARCH_BASELINE, BF_MIXER_MLP, 16, 0, 0, 16, 2, 16, 2, 2, 3, 37},
    {BF_ARCH_BASELINE, BF_MIXER_NONE, 32, 0, 0, 8, 1, 16, 4, 3, 0, 5},
};

static void make_cfg(bf_model_config *c, const shape *s)
{
    bf_model_config_defaults(c);
    c->arch = s->arch;
    c->channel_mixer = s->mix;
    c->n_features = 5;
    c->n_symbols = 7;
    c->seq_len = s->L;
    if (s->arch == BF_ARCH_PATCHTST) {
        c->patch_size = s->P;
        c->patch_stride = s->S;
    }
    c->cnn_hidden = s->H;
    c->cnn_blocks = s->blocks;
    c->n_cnn_kernels = c->n_cnn_dilations = s->blocks;
    for (int i = 0; i < s->blocks; i++) {
        c->cnn_kernels[i] = i == 2 ? 3 : 5;
        c->cnn_dilations[i] = 1 << i;
    }
    c->d_model = s->D;
    c->n_heads = s->heads;
    c->num_layers = s->layers;
    c->emb_dim = s->E;
    c->dropout = 0.2f;
    c->cnn_dropout = 0.2f;
}

typedef struct result {
    float loss, *pred, *grads, *params;
    int64_t n;
} result;

static int run(const bf_model_config *c, int B, int unfused, int threads, int step, result *r)
{
    if (unfused)
        setenv("BARFORGE_NN_UNFUSED", "1", 1);
    else
        unsetenv("BARFORGE_NN_UNFUSED");
    bf_nn_set_threads(threads);
    bf_model m;
    if (bf_model_init(&m, c, B, 3) != BF_OK)
        return 0;
    size_t nx = (size_t)B * c->n_features * c->seq_len;
    float *x = malloc(nx * sizeof(float)), *y = malloc((size_t)B * sizeof(float));
    int32_t *sym = malloc((size_t)B * sizeof(int32_t));
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)bf_rng_normal(9, 1, 0, i);
    for (int i = 0; i < B; i++) {
        y[i] = 0.01f * (float)bf_rng_normal(9, 2, 0, (uint64_t)i);
        sym[i] = (i * 3) % c->n_symbols;
    }
    bf_model_zero_grad(&m);
    int ok = bf_model_forward(&m, x, sym, y, B, 1, 4, &r->loss) == BF_OK &&
             bf_model_backward(&m) == BF_OK;
    if (ok && step)
        bf_model_adamw_step(&m, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1);
    r->n = m.n_params;
    r->pred = malloc((size_t)B * sizeof(float));
    r->grads = malloc((size_t)m.n_params * sizeof(float));
    r->params = malloc((size_t)m.n_params * sizeof(float));
    memcpy(r->pred, m.pred, (size_t)B * sizeof(float));
    memcpy(r->grads, m.grads, (size_t)m.n_params * sizeof(float));
    memcpy(r->params, m.params, (size_t)m.n_params * sizeof(float));
    /* which tensors: names and offsets for the report */
    bf_model_free(&m);
    free(x);
    free(y);
    free(sym);
    unsetenv("BARFORGE_NN_UNFUSED");
    return ok;
}

static void free_result(result *r)
{
    free(r->pred);
    free(r->grads);
    free(r->params);
}

/* Tolerances: fp32, float reassociation (header comment). bf16 GEMMs: the
 * two paths also pick fp32 or bf16 per GEMM by its shape, and a chunk's
 * rows make a different shape than the whole batch's (gemm_bf16 runs only
 * from 65536 multiply-adds up), so the same product may be rounded to 8
 * mantissa bits on one side and not on the other: 2^-9 relative per
 * operand, compounded through the backward, measured up to 3.5 % of a
 * tensor's largest entry on these shapes. An indexing error still errs by
 * O(max|tensor|). */
typedef struct tols {
    float loss_rel, pred_abs, pred_rel;
    double grad_scale, grad_rel;
} tols;

static const tols TOL_FP32 = {1e-5f, 1e-5f, 1e-4f, 1e-4, 1e-3};
static const tols TOL_BF16 = {2e-2f, 1e-3f, 2e-2f, 0.1, 0.0};

static void compare(const bf_model_config *c, const shape *s, int idx, const tols *tl)
{
    result f, u;
    memset(&f, 0, sizeof f);
    memset(&u, 0, sizeof u);
    int okf = run(c, s->B, 0, 2, 0, &f), oku = run(c, s->B, 1, 2, 0, &u);
    T_CHECK(okf && oku, "shape %d: a pass failed: %s", idx, bf_last_error());
    if (!okf || !oku)
        return;
    T_CHECK(fabsf(f.loss - u.loss) <= tl->loss_rel * fabsf(u.loss) + 1e-9f,
            "shape %d: loss chunked %.9g vs op by op %.9g", idx, f.loss, u.loss);
    int bad = 0;
    for (int i = 0; i < s->B; i++)
        if (fabsf(f.pred[i] - u.pred[i]) > tl->pred_abs + tl->pred_rel * fabsf(u.pred[i]) &&
            bad++ < 3)
            fprintf(stderr, "shape %d prediction %d: %.9g vs %.9g\n", idx, i, f.pred[i], u.pred[i]);
    T_CHECK(bad == 0, "shape %d: %d of %d predictions differ", idx, bad, s->B);
    /* gradients tensor by tensor (the model's table gives the slices) */
    bf_model m;
    bf_nn_set_threads(1);
    if (bf_model_init(&m, c, 1, 3) != BF_OK) {
        T_CHECK(0, "shape %d: %s", idx, bf_last_error());
        return;
    }
    double worst = 0;
    char label[32];
    snprintf(label, sizeof label, "shape %d", idx);
    int bad_tensors = bf_test_grad_mismatch_tol(&m, f.grads, u.grads, 1.0, label, &worst,
                                                tl->grad_scale, tl->grad_rel);
    bf_model_free(&m);
    T_CHECK(bad_tensors == 0,
            "shape %d: %d gradient tensors differ between the chunked and the "
            "op-by-op path",
            idx, bad_tensors);
    /* chunked: 1 vs 2 threads, after an AdamW step, bit for bit */
    result a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    if (run(c, s->B, 0, 1, 1, &a) && run(c, s->B, 0, 2, 1, &b)) {
        int64_t nd = 0;
        for (int64_t i = 0; i < a.n; i++)
            nd += memcmp(&a.params[i], &b.params[i], sizeof(float)) != 0;
        T_CHECK(nd == 0, "shape %d: %lld of %lld parameters differ between 1 and 2 threads", idx,
                (long long)nd, (long long)a.n);
    } else {
        T_CHECK(0, "shape %d: thread runs failed: %s", idx, bf_last_error());
    }
    printf("shape %d (%s/%s L=%d B=%d): loss %.6g (op by op %.6g), worst grad |diff| / "
           "max|tensor| %.3g\n",
           idx, bf_arch_name(s->arch), bf_mixer_name(s->mix), s->L, s->B, f.loss, u.loss, worst);
    free_result(&a);
    free_result(&b);
    free_result(&f);
    free_result(&u);
}

int main(void)
{
    /* fp32, then (where AMX runs) with the bf16 GEMMs, whose stem
     * sub-chunks are shorter (model_stem.c) */
    const int amp_modes = bf_gemm_bf16_available(NULL) ? 2 : 1;
    for (int amp = 0; amp < amp_modes; amp++) {
        bf_nn_set_amp(amp);
        printf("%s GEMMs:\n", amp ? "bf16 (AMX)" : "fp32");
        for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++) {
            bf_model_config c;
            make_cfg(&c, &SHAPES[i]);
            if (bf_model_config_validate(&c) != BF_OK) {
                T_CHECK(0, "shape %zu is not a valid config: %s", i, bf_last_error());
                continue;
            }
            compare(&c, &SHAPES[i], (int)i, amp ? &TOL_BF16 : &TOL_FP32);
        }
    }
    if (amp_modes == 1)
        printf("bf16 GEMMs: no AMX on this machine, that half not run\n");
    bf_nn_set_amp(0);
    return bf_test_done("test_nn_fused");
}
