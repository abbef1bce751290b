/* test_gpu_adamw.c - the CUDA AdamW step against the CPU reference
 * (bf_adamw_step) over a flat buffer with a decay mask, 5 steps. Skips
 * (exit 77, reported by ctest as skipped) with the reason when no GPU. */
#include "core/gpu/adamw_cuda.h"
#include "core/gpu/gpu_info.h"
#include "core/nn/model.h"

#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    bf_gpu_info gi;
    bf_gpu_query(&gi);
    if (gi.device_count == 0) {
        printf("SKIPPED: %s\n", gi.device0);
        return 77;
    }
    const int64_t n = 1000003;
    float *p = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    float *m = calloc(n, sizeof(float)), *v = calloc(n, sizeof(float));
    float *pg = malloc(n * sizeof(float));
    uint8_t *mask = malloc(n);
    for (int64_t i = 0; i < n; i++) {
        p[i] = sinf((float)i * 0.001f);
        g[i] = cosf((float)i * 0.37f) * 0.01f;
        mask[i] = (uint8_t)(i % 3 != 0);
    }
    float *dp, *dg, *dm, *dv;
    uint8_t *dmask;
    cudaMalloc((void **)&dp, n * sizeof(float));
    cudaMalloc((void **)&dg, n * sizeof(float));
    cudaMalloc((void **)&dm, n * sizeof(float));
    cudaMalloc((void **)&dv, n * sizeof(float));
    cudaMalloc((void **)&dmask, n);
    cudaMemcpy(dp, p, n * sizeof(float), cudaMemcpyHostToDevice);
    cudaMemcpy(dg, g, n * sizeof(float), cudaMemcpyHostToDevice);
    cudaMemset(dm, 0, n * sizeof(float));
    cudaMemset(dv, 0, n * sizeof(float));
    cudaMemcpy(dmask, mask, n, cudaMemcpyHostToDevice);
    for (int t = 1; t <= 5; t++) {
        bf_adamw_step(p, g, m, v, n, 3e-4f, 0.9f, 0.999f, 1e-8f, 0.01f, t, mask);
        int e = bf_adamw_step_cuda(dp, dg, dm, dv, n, 3e-4f, 0.9f, 0.999f, 1e-8f, 0.01f, t, dmask);
        if (e) {
            fprintf(stderr, "FAIL: kernel launch: %s\n", cudaGetErrorString((cudaError_t)e));
            return 1;
        }
    }
    cudaMemcpy(pg, dp, n * sizeof(float), cudaMemcpyDeviceToHost);
    double maxd = 0;
    int64_t worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)pg[i] - p[i]);
        if (d > maxd) {
            maxd = d;
            worst = i;
        }
    }
    /* one or two ulps of |p| <= 1 after 5 steps */
    const double tol = 1e-6;
    printf("max |gpu - cpu| = %.3g at %lld (tolerance %.1g) on %s\n", maxd, (long long)worst, tol,
           gi.device0);
    cudaFree(dp); cudaFree(dg); cudaFree(dm); cudaFree(dv); cudaFree(dmask);
    free(p); free(g); free(m); free(v); free(pg); free(mask);
    if (maxd > tol) {
        fprintf(stderr, "FAIL: GPU AdamW differs from the CPU reference by %.3g > %.1g\n", maxd, tol);
        return 1;
    }
    return 0;
}
