/* gemm_bf16.h - the engine's mixed-precision GEMM: fp32 operands rounded to
 * bfloat16 (round to nearest even), products accumulated in fp32, fp32
 * result. It runs on Intel AMX (AMX-TILE + AMX-BF16: Sapphire Rapids and
 * later) and is what `--use-amp` means on a CPU: the parameters, the
 * activations between layers, the optimizer and every non-GEMM op stay fp32;
 * only the GEMMs' inputs are rounded, as CUDA autocast rounds them to half
 * precision on a GPU.
 *
 * Off by default. bf_nn_set_amp(1) turns it on for the whole process where
 * the CPU and the kernel allow AMX; elsewhere it stays off and says why.
 * Results are bit-identical at any thread count (each call is serial; the
 * callers split work by shape only) but differ from the fp32 path by the
 * bf16 rounding (docs/model.md gives the measured differences).
 */
#ifndef BF_NN_GEMM_BF16_H
#define BF_NN_GEMM_BF16_H

#include <stddef.h>
#include <stdint.h>

/* 1 if this CPU and kernel can run the AMX GEMM (asks the kernel for the
 * AMX tile state once, on the first call, which must not race another;
 * later calls return the cached answer). why, if not NULL, receives a static
 * string saying what is missing. */
int bf_gemm_bf16_available(const char **why);

/* Serial row-major C (M,N) = beta C + op(A) op(B), beta 0 or 1, alpha 1:
 * op(A) (m,k) is A[m*lda + k], or A[k*lda + m] when ta; op(B) (k,n) is
 * B[k*ldb + n], or B[n*ldb + k] when tb. Same meaning as cblas_sgemm with
 * CblasRowMajor. Must only be called when bf_gemm_bf16_available(). Uses
 * per-thread packing buffers that grow once and are kept (no allocation in a
 * steady-state step), indexed by omp_get_thread_num(): call it from the main
 * thread or the threads of one (non-nested) OpenMP team, not from other
 * threads at the same time. Returns 0, or -1 if such a buffer could not be
 * allocated (C is then unchanged). */
int bf_gemm_bf16(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                 int ldb, float beta, float *C, int ldc);

/* The same plus a bias (N floats, or NULL) added to every row of the result
 * in fp32 after the products: C = beta C + op(A) op(B) + bias. */
int bf_gemm_bf16_bias(int ta, int tb, int M, int N, int K, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc, const float *bias);

/* op(B) converted once into the kernel's tile layout, for a B used by many
 * calls (a weight matrix across a batch's row chunks): dst holds
 * bf_gemm_bf16_packed_size(N, K) uint16 (64-byte aligned); then
 * bf_gemm_bf16_ex with bpacked = dst skips the conversion (B and tb are then
 * ignored). Must only be called when bf_gemm_bf16_available(). */
size_t bf_gemm_bf16_packed_size(int N, int K);
void bf_gemm_bf16_pack_b(uint16_t *dst, int tb, const float *B, int ldb, int N, int K);
int bf_gemm_bf16_ex(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                    int ldb, const uint16_t *bpacked, float beta, float *C, int ldc,
                    const float *bias);

/* The rounding the GEMM applies to its inputs (for tests): fp32 -> bf16 ->
 * fp32, round to nearest even, subnormals to signed zero, NaN stays NaN. */
float bf_bf16_round(float x);

#endif
