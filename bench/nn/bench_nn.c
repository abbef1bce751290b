/* bench_nn.c - train-step throughput and single-sample inference latency of
 * the CPU engine at the seed's full-run configuration (batch 256, seq 64, 33
 * features, 50 symbols, cnn-hidden 128 x 3, kernels 5,5,3, dilations 1,2,4,
 * patch 8/4, d-model 128, 4 heads, 3 layers, mlp mixer, emb-dim 12).
 *
 *   bench_nn [--threads N] [--steps N] [--batch N] [--infer-iters N] [--amp 0|1] [model flags...]
 *
 * --amp 1: the GEMMs in bf16 on AMX (what --use-amp means on a CPU; exit 2
 * where the CPU has no AMX); inference stays fp32 either way.
 *
 * A train step is zero_grad + forward (train, dropout) + backward + grad clip
 * + AdamW. Inference is a B=1 eval forward on one thread. Prints one
 * "RESULT key=value" line per figure for bench/nn/run.sh.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/log.h"
#include "core/base/rng.h"
#include "core/nn/model.h"

/* process CPU seconds: on a loaded machine (CI, shared hosts) wall time
 * measures the neighbours; CPU time of a 1-thread run measures the work */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int threads = 0, steps = 10, batch = 256, infer_iters = 300, amp = 0;
    bf_model_config cfg;
    bf_model_config_defaults(&cfg);
    cfg.n_features = 33;
    cfg.n_symbols = 50;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "bench_nn: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--threads") || !strcmp(a, "--num-workers"))
            threads = atoi(v);
        else if (!strcmp(a, "--steps"))
            steps = atoi(v);
        else if (!strcmp(a, "--batch") || !strcmp(a, "--batch-size"))
            batch = atoi(v);
        else if (!strcmp(a, "--infer-iters"))
            infer_iters = atoi(v);
        else if (!strcmp(a, "--amp"))
            amp = atoi(v);
        else if (bf_model_config_set(&cfg, a, v) != BF_OK) {
            fprintf(stderr, "bench_nn: %s\n", bf_last_error());
            return 2;
        }
        i++;
    }
    if (bf_model_config_validate(&cfg) != BF_OK) {
        fprintf(stderr, "bench_nn: %s\n", bf_last_error());
        return 2;
    }
    threads = bf_nn_set_threads(threads);
    if (amp && !bf_nn_set_amp(1)) {
        fprintf(stderr, "bench_nn: --amp 1 needs AMX (see the warning above)\n");
        return 2;
    }

    bf_model m;
    if (bf_model_init(&m, &cfg, batch, 1) != BF_OK) {
        fprintf(stderr, "bench_nn: %s\n", bf_last_error());
        return 1;
    }
    size_t nx = (size_t)batch * cfg.n_features * cfg.seq_len;
    float *x = malloc(nx * sizeof(float)), *y = malloc((size_t)batch * sizeof(float));
    int32_t *sym = malloc((size_t)batch * sizeof(int32_t));
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)bf_rng_normal(3, 7, 0, i);
    for (int i = 0; i < batch; i++) {
        y[i] = 0.01f * (float)bf_rng_normal(3, 8, 0, (uint64_t)i);
        sym[i] = i % cfg.n_symbols;
    }
    printf("bench_nn: %lld params, batch %d, %d threads\n", (long long)m.n_params, batch, threads);
    double t_total = 0.0, c_total = 0.0, t_best = 1e30, c_best = 1e30;
    float loss = 0.0f;
    for (int s = 0; s < steps + 2; s++) {
        double t0 = bf_now(), c0 = cpu_now();
        bf_model_zero_grad(&m);
        if (bf_model_forward(&m, x, sym, y, batch, 1, (uint64_t)s, &loss) != BF_OK ||
            bf_model_backward(&m) != BF_OK) {
            fprintf(stderr, "bench_nn: %s\n", bf_last_error());
            return 1;
        }
        bf_grad_clip(m.grads, m.n_params, 1.0f);
        bf_model_adamw_step(&m, 3e-4f, 0.9f, 0.999f, 1e-8f, 0.01f, s + 1);
        double dt = bf_now() - t0, dc = cpu_now() - c0;
        if (s >= 2) { /* two warm-up steps */
            t_total += dt;
            c_total += dc;
            t_best = dt < t_best ? dt : t_best;
            c_best = dc < c_best ? dc : c_best;
        }
    }
    double sps = steps * (double)batch / t_total;
    printf("train: %d steps, %.1f ms/step (fastest %.1f ms, %.1f CPU-ms), loss %.5g\n", steps,
           1e3 * t_total / steps, 1e3 * t_best, 1e3 * c_best, loss);
    printf("RESULT train_samples_per_s=%.1f threads=%d batch=%d\n", sps, threads, batch);
    printf("RESULT train_samples_per_cpu_s=%.1f (samples per CPU-second over all threads)\n",
           steps * (double)batch / c_total);
    bf_model_free(&m);

    /* single-sample inference on one core, fp32 (eval never uses amp) */
    bf_nn_set_amp(0);
    bf_nn_set_threads(1);
    bf_model mi;
    if (bf_model_init(&mi, &cfg, 1, 1) != BF_OK) {
        fprintf(stderr, "bench_nn: %s\n", bf_last_error());
        return 1;
    }
    double *lat = malloc((size_t)infer_iters * sizeof(double));
    for (int i = 0; i < infer_iters + 10; i++) {
        double t0 = bf_now();
        bf_model_forward(&mi, x + (size_t)(i % batch) * cfg.n_features * cfg.seq_len,
                         sym + i % batch, NULL, 1, 0, 0, NULL);
        if (i >= 10)
            lat[i - 10] = bf_now() - t0;
    }
    qsort(lat, (size_t)infer_iters, sizeof(double), cmp_d);
    printf("RESULT infer_latency_ms_median=%.3f p90=%.3f threads=1\n", 1e3 * lat[infer_iters / 2],
           1e3 * lat[infer_iters * 9 / 10]);
    bf_model_free(&mi);
    free(lat);
    free(x);
    free(y);
    free(sym);
    return 0;
}
