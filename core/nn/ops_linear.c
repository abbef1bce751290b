/* ops_linear.c - linear layers (and pointwise Conv1d, which is the same GEMM
 * over channel-last rows) through OpenBLAS sgemm, plus the deterministic
 * column sum used for every bias gradient.
 *
 * OpenBLAS runs single-threaded (threads.c); each GEMM is cut here into
 * fixed tiles shared among the OpenMP threads. One thread pool instead of
 * two avoids the pools spinning against each other on few cores.
 *
 * Column sums run in parallel over blocks of columns, each block summing its
 * rows in order in double: the result does not depend on the thread count.
 */
#include "core/nn/ops.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

/* C (M,N) = op(A) . op(B) + beta C as fixed bm x bn tiles, one
 * single-threaded sgemm per tile, tiles shared among the OpenMP threads.
 * The tiles depend only on the shapes, never on the thread count, so each
 * element is computed by the same call at any thread count (OpenBLAS picks
 * kernels by shape, so a thread-dependent split would change the rounding). */
static void gemm_tiled(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, const float *A,
                       int lda, const float *B, int ldb, float beta, float *C, int ldc, int bm,
                       int bn)
{
    if ((double)M * N * K < 2e5 || (M <= bm && N <= bn)) {
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    int tm = (M + bm - 1) / bm, tn = (N + bn - 1) / bn;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < tm * tn; t++) {
        int m0 = (t / tn) * bm, n0 = (t % tn) * bn;
        int mm = M - m0 < bm ? M - m0 : bm, nn = N - n0 < bn ? N - n0 : bn;
        const float *a = ta == CblasNoTrans ? A + (size_t)m0 * lda : A + m0;
        const float *b = tb == CblasNoTrans ? B + n0 : B + (size_t)n0 * ldb;
        cblas_sgemm(CblasRowMajor, ta, tb, mm, nn, K, 1.0f, a, lda, b, ldb, beta,
                    C + (size_t)m0 * ldc + n0, ldc);
    }
}

void bf_linear_forward(float *out, const float *in, const float *w, const float *b, int N, int In,
                       int O)
{
    float beta = 0.0f;
    if (b) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++)
            memcpy(out + (size_t)n * O, b, (size_t)O * sizeof(float));
        beta = 1.0f;
    }
    gemm_tiled(CblasNoTrans, CblasTrans, N, O, In, in, In, w, In, beta, out, O, 256, O);
}

void bf_colsum_add(float *dst, const float *src, int N, int W)
{
    /* per column block: float sums over runs of RB rows (vectorized across
     * columns), each run added in order into a double accumulator */
    enum { CB = 64, RB = 32 };
    int nblk = (W + CB - 1) / CB;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CB, nc = c0 + CB < W ? CB : W - c0;
        double acc[CB] = {0};
        for (int n0 = 0; n0 < N; n0 += RB) {
            int n1 = n0 + RB < N ? n0 + RB : N;
            float part[CB] = {0};
            for (int n = n0; n < n1; n++) {
                const float *row = src + (size_t)n * W + c0;
#pragma omp simd
                for (int c = 0; c < nc; c++)
                    part[c] += row[c];
            }
            for (int c = 0; c < nc; c++)
                acc[c] += part[c];
        }
        for (int c = 0; c < nc; c++)
            dst[c0 + c] += (float)acc[c];
    }
}

void bf_linear_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, int N, int In, int O, int accum)
{
    if (din)
        gemm_tiled(CblasNoTrans, CblasNoTrans, N, In, O, dout, O, w, In, accum ? 1.0f : 0.0f, din,
                   In, 256, In);
    if (dw)
        gemm_tiled(CblasTrans, CblasNoTrans, O, In, N, dout, O, in, In, 1.0f, dw, In, 64, 64);
    if (db)
        bf_colsum_add(db, dout, N, O);
}
