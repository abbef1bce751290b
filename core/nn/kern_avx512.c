/* kern_avx512.c - the kernels of kern_body.h for AVX-512 (F, BW, DQ, VL): Skylake-X and later,
 * Zen 4. The compiler fuses no a*b+c by itself (the build is ISO C: -ffp-contract=off); the
 * kernels' own fused multiply-adds (bf_vfma) are VFMADD here and round once, as on every other
 * variant, so this variant computes the same bits as the others. */
#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,bmi2")
#define BF_KERN_TABLE bf_kern_avx512
#define BF_KERN_NAME  "avx512"
#define BF_VFMA_AVX512
#include "core/nn/kern_body.h"
#else
typedef int bf_kern_avx512_unused; /* not x86-64: kern.c uses the generic build */
#endif
