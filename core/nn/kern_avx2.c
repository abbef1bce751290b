/* kern_avx2.c - the kernels of kern_body.h for AVX2: Haswell and later, Zen.
 * The compiler fuses no a*b+c by itself (the build is ISO C:
 * -ffp-contract=off); the kernels' own fused multiply-adds (bf_vfma) are
 * VFMADD on two halves here and round once, as on every other variant, so
 * this variant computes the same bits as the others. */
#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC target("avx2,fma,bmi2")
#define BF_KERN_TABLE bf_kern_avx2
#define BF_KERN_NAME  "avx2"
#define BF_VFMA_AVX2
#include "core/nn/kern_body.h"
#else
typedef int bf_kern_avx2_unused; /* not x86-64: kern.c uses the generic build */
#endif
