// adamw_cuda.cu - see adamw_cuda.h. One thread per parameter. The scalar
// factors are computed on the host exactly as bf_adamw_step computes them
// (float, torch.optim.AdamW order), so results match the CPU path to
// rounding of sqrtf/division (checked by tests/gpu).
#include "core/gpu/adamw_cuda.h"

#include <cuda_runtime.h>
#include <math.h>

__global__ void adamw_kernel(float *p, const float *g, float *m, float *v, int64_t n, float b1,
                             float b2, float eps, float step_size, float decay, float bc2_sqrt,
                             const uint8_t *mask)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float gi = g[i];
    float pi = p[i];
    if (mask == nullptr || mask[i])
        pi *= decay;
    float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float denom = sqrtf(vi) / bc2_sqrt + eps;
    p[i] = pi - step_size * (mi / denom);
}

extern "C" int bf_adamw_step_cuda(float *params, const float *grads, float *m, float *v, int64_t n,
                                  float lr, float beta1, float beta2, float eps,
                                  float weight_decay, int64_t t, const uint8_t *decay_mask)
{
    if (n <= 0)
        return 0;
    const float bc1 = 1.0f - powf(beta1, (float)t);
    const float bc2_sqrt = sqrtf(1.0f - powf(beta2, (float)t));
    const float step_size = lr / bc1;
    const float decay = 1.0f - lr * weight_decay;
    const int threads = 256;
    int64_t blocks = (n + threads - 1) / threads;
    adamw_kernel<<<(unsigned)blocks, threads>>>(params, grads, m, v, n, beta1, beta2, eps,
                                                step_size, decay, bc2_sqrt, decay_mask);
    return (int)cudaGetLastError();
}
