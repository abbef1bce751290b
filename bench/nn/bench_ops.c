/* bench_ops.c - time of each engine op at the seed's full-run shapes (batch
 * 256: N = 256 x 64 stem rows of H = 128, NT = 256 x 15 tokens of D = 128),
 * one call, the fastest of REPS (default 20), on the thread count given.
 *
 *   bench_nn_ops [--threads N] [--reps N] [--isa avx512|avx2|sse2]
 *
 * --isa runs the kernels of one instruction set (kern.h) to compare them.
 * Not run by ctest; figures in docs/perf.md.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/rng.h"
#include "core/nn/kern.h"
#include "core/nn/model.h"
#include "core/nn/ops.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static float *buf(size_t n, uint64_t tag)
{
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    for (size_t i = 0; i < n; i++)
        p[i] = 0.5f * (float)bf_rng_normal(9, 1, tag, i);
    return p;
}

#define BENCH(name, expr)                                                                          \
    do {                                                                                           \
        double best = 1e30;                                                                        \
        for (int r_ = 0; r_ < reps; r_++) {                                                        \
            double t0_ = now();                                                                    \
            expr;                                                                                  \
            double dt_ = now() - t0_;                                                              \
            best = dt_ < best ? dt_ : best;                                                        \
        }                                                                                          \
        printf("%-34s %8.3f ms\n", name, 1e3 * best);                                              \
    } while (0)

int main(int argc, char **argv)
{
    int threads = 1, reps = 20;
    const char *isa = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--isa"))
            isa = argv[i + 1];
        else {
            fprintf(stderr, "bench_nn_ops: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (isa && bf_kern_select(isa) != 0) {
        fprintf(stderr, "bench_nn_ops: this CPU has no %s\n", isa);
        return 2;
    }
    threads = bf_nn_set_threads(threads);
    const int B = 256, L = 64, H = 128, T = 15, D = 128, F = 512, NH = 4;
    const size_t N = (size_t)B * L, NT = (size_t)B * T;
    printf("bench_nn_ops: kernels %s, %d threads, fastest of %d\n", bf_kern_get()->name, threads,
           reps);
    float *a = buf(N * 2 * H, 1), *b = buf(N * 2 * H, 2), *c = buf(N * 2 * H, 3);
    float *w = buf((size_t)2 * H * H, 4), *bias = buf(2 * H, 5), *scr = buf(N * 2 * H, 6);
    float *mean = buf(N, 7), *rstd = buf(N, 8), *dw = buf((size_t)2 * H * H, 9);
    float *db = buf(2 * H, 10);
    uint8_t *mask = malloc(N * 2 * H);
    for (size_t i = 0; i < N; i++)
        rstd[i] = 1.0f + 0.1f * rstd[i];
    for (size_t i = 0; i < N * 2 * H; i++)
        scr[i] = scr[i] * scr[i]; /* AdamW's second moments are >= 0 */
    BENCH("dropout+residual fwd (N x H)",
          bf_dropout_add_forward(b, mask, a, c, N * H, 0.1f, 1, 0, 3, 1));
    BENCH("dropout bwd (N x H)", bf_dropout_backward(c, b, mask, N * H, 0.1f));
    BENCH("glu fwd, keeps sigmoid (N x 2H)", bf_glu_forward_save(b, a, bias, N, H));
    BENCH("glu bwd, bias grad (N x 2H)", bf_glu_backward_saved(c, b, a, bias, N, H, db, scr));
    BENCH("gelu fwd (N x H)", bf_gelu_bias_forward(b, a, bias, N, H));
    BENCH("gelu bwd, bias grad (N x H)", bf_gelu_bias_backward(c, b, a, bias, N, H, db, scr));
    BENCH("dwconv fwd k5 d2", bf_dwconv_forward(b, a, w, bias, B, L, H, 5, 2));
    BENCH("dwconv bwd k5 d2", bf_dwconv_backward_ws(c, dw, db, b, a, w, B, L, H, 5, 2, 1, scr));
    BENCH("groupnorm fwd (G 8)", bf_groupnorm_forward(b, mean, rstd, a, w, bias, B, L, H, 8));
    BENCH("groupnorm+dropout bwd", bf_groupnorm_dropout_backward(c, dw, db, b, mask, 0.1f, a, w,
                                                                 mean, rstd, B, L, H, 8, scr));
    BENCH("layernorm fwd (NT x D)", bf_layernorm_forward(b, mean, rstd, a, w, bias, NT, D));
    BENCH("layernorm bwd (NT x D)", bf_layernorm_backward(c, dw, db, b, a, w, mean, rstd, NT, D));
    BENCH("column sums (N x 2H)", bf_colsum_add(db, a, N, 2 * H));
    BENCH("attention fwd (causal, T 15)", bf_attention_forward(b, c, a, B, T, D, NH, 1));
    BENCH("attention bwd (causal, T 15)",
          bf_attention_backward(c, b, a, c + NT * 3 * D, B, T, D, NH, 1, scr));
    BENCH("linear fwd N x H -> 2H", bf_linear_forward(b, a, w, NULL, N, H, 2 * H));
    BENCH("linear bwd N x H -> 2H", bf_linear_backward_ws(b, dw, db, a, c, w, N, H, 2 * H, 0, scr));
    BENCH("linear fwd NT x D -> F", bf_linear_forward(b, a, w, bias, NT, D, F / 2));
    BENCH("adamw (870k params)", /* last: it overwrites a, c, scr */
          bf_adamw_step(a, b, c, scr, 869721, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 3, NULL));
    free(a);
    free(b);
    free(c);
    free(w);
    free(bias);
    free(scr);
    free(mean);
    free(rstd);
    free(dw);
    free(db);
    free(mask);
    return 0;
}
