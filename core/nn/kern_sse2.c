/* kern_sse2.c - the kernels of kern_body.h for SSE2: every x86-64 (the baseline the build targets).
 * No a*b+c is fused into an FMA (the build is ISO C: -ffp-contract=off), so
 * this variant computes the same bits as the others. */
#if defined(__x86_64__)
#define BF_KERN_TABLE bf_kern_sse2
#define BF_KERN_NAME  "sse2"
#include "core/nn/kern_body.h"
#else
typedef int bf_kern_sse2_unused; /* not x86-64: kern.c uses the generic build */
#endif
