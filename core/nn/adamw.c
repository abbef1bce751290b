/* adamw.c - global-norm gradient clipping and the AdamW update over flat buffers.
 *
 * The update follows torch.optim.AdamW (decoupled decay applied first, bias
 * corrections as step size and denominator) so the PyTorch mirror can match
 * it step for step. The gradient norm is summed over fixed chunks in double
 * and the chunk sums are added in order: the same value at any thread count.
 */
#include <math.h>
#include <string.h>

#include "core/nn/kern.h"
#include "core/nn/model.h"

#define BF_NORM_MAX_CHUNKS 4096

float bf_grad_clip(float *grads, int64_t n, float max_norm)
{
    int64_t chunk = 65536;
    if (n / chunk + 1 > BF_NORM_MAX_CHUNKS)
        chunk = n / BF_NORM_MAX_CHUNKS + 1;
    int64_t nchunks = (n + chunk - 1) / chunk;
    double part[BF_NORM_MAX_CHUNKS];
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nchunks; c++) {
        int64_t i0 = c * chunk, i1 = i0 + chunk < n ? i0 + chunk : n, i = i0;
        /* eight running sums (element i into sum (i - i0) % 8), added in
         * order: eight independent chains instead of one */
        double s8[8] = {0};
        for (; i + 8 <= i1; i += 8)
            for (int j = 0; j < 8; j++)
                s8[j] += (double)grads[i + j] * grads[i + j];
        for (int j = 0; i < i1; i++, j++)
            s8[j] += (double)grads[i] * grads[i];
        double s = 0.0;
        for (int j = 0; j < 8; j++)
            s += s8[j];
        part[c] = s;
    }
    double total = 0.0;
    for (int64_t c = 0; c < nchunks; c++)
        total += part[c];
    float norm = (float)sqrt(total);
    if (max_norm > 0.0f && isfinite(norm)) {
        float coef = max_norm / (norm + 1e-6f);
        if (coef < 1.0f) {
#pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < n; i++)
                grads[i] *= coef;
        }
    }
    return norm;
}

void bf_adamw_step(float *params, const float *grads, float *m, float *v, int64_t n, float lr,
                   float beta1, float beta2, float eps, float weight_decay, int64_t t,
                   const uint8_t *decay_mask)
{
    const float bc1 = 1.0f - powf(beta1, (float)t);
    const float bc2_sqrt = sqrtf(1.0f - powf(beta2, (float)t));
    const float step_size = lr / bc1;
    const float decay = 1.0f - lr * weight_decay;
    /* per element: p *= decay (where decay_mask says so, or everywhere
     * without one); m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g g;
     * p -= step_size m / (sqrt(v) / sqrt(1 - beta2^t) + eps). The vector
     * kernel does exactly these operations (same bits as a scalar loop). */
    const bf_kern *k = bf_kern_get();
    enum { CH = 4096 };
    const int64_t nch = (n + CH - 1) / CH;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nch; c++) {
        const int64_t i0 = c * CH, len = n - i0 < CH ? n - i0 : CH;
        k->adamw(params + i0, grads + i0, m + i0, v + i0, decay_mask ? decay_mask + i0 : NULL,
                 (size_t)len, beta1, beta2, bc2_sqrt, step_size, decay, eps);
    }
}

void bf_model_adamw_step(bf_model *m, float lr, float beta1, float beta2, float eps,
                         float weight_decay, int64_t t)
{
    bf_adamw_step(m->params, m->grads, m->m, m->v, m->n_params, lr, beta1, beta2, eps,
                  weight_decay, t, m->decay_mask);
}
