/* kern_sse2.c - the kernels of kern_body.h for SSE2: every x86-64 (the baseline the build targets).
 * SSE2 has no FMA instruction: the kernels' fused multiply-adds (bf_vfma) call fmaf lane by lane
 * (the C library's FMA path where the CPU has one, correctly rounded software where not). They
 * round once, as on every other variant, so this variant computes the same bits as the others,
 * slower. */
#if defined(__x86_64__)
#define BF_KERN_TABLE bf_kern_sse2
#define BF_KERN_NAME  "sse2"
#include "core/nn/kern_body.h"
#else
typedef int bf_kern_sse2_unused; /* not x86-64: kern.c uses the generic build */
#endif
