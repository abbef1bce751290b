/* adamw_cuda.h - AdamW over the flat parameter buffer on the GPU: the same
 * update as bf_adamw_step (core/nn/model.h), which is its reference. All
 * pointers are device pointers of n floats (decay_mask: n bytes or NULL).
 * Callable from C. */
#ifndef BF_ADAMW_CUDA_H
#define BF_ADAMW_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Returns 0 on success, else the cudaError_t of the launch. */
int bf_adamw_step_cuda(float *params, const float *grads, float *m, float *v, int64_t n, float lr,
                       float beta1, float beta2, float eps, float weight_decay, int64_t t,
                       const uint8_t *decay_mask);

#ifdef __cplusplus
}
#endif
#endif
