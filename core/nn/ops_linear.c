/* ops_linear.c - linear layers (and pointwise Conv1d, which is the same GEMM
 * over channel-last rows) through OpenBLAS sgemm, plus the deterministic
 * column sum used for every bias gradient.
 *
 * OpenBLAS runs single-threaded (threads.c); each GEMM is split here into
 * row blocks, one single-threaded sgemm per OpenMP thread. One thread pool
 * instead of two avoids the two pools spinning against each other on few
 * cores, and a C element's sum runs over the full K in OpenBLAS's fixed
 * order whatever the split, so results do not depend on the thread count.
 *
 * Column sums run in parallel over blocks of columns, each block summing its
 * rows in order in double: the result does not depend on the thread count.
 */
#include "core/nn/ops.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

/* C (M,N) = op(A) . op(B) + beta C, split over blocks of M (the rows of C).
 * A row block of C needs the matching rows of op(A): for a transposed A
 * those are columns of A, reached by offsetting the pointer. */
static void gemm_split(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, const float *A,
                       int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    int nth = omp_get_max_threads();
    /* small problems: one call, no fork */
    if (nth == 1 || (double)M * N * K < 2e5 || M < 32) {
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#pragma omp parallel
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        int per = ((M + n - 1) / n + 15) & ~15;
        int m0 = t * per, m1 = m0 + per < M ? m0 + per : M;
        if (m0 < m1) {
            const float *a = ta == CblasNoTrans ? A + (size_t)m0 * lda : A + m0;
            cblas_sgemm(CblasRowMajor, ta, tb, m1 - m0, N, K, 1.0f, a, lda, B, ldb, beta,
                        C + (size_t)m0 * ldc, ldc);
        }
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
    gemm_split(CblasNoTrans, CblasTrans, N, O, In, in, In, w, In, beta, out, O);
}

void bf_colsum_add(float *dst, const float *src, int N, int W)
{
    enum { CB = 32 };
    int nblk = (W + CB - 1) / CB;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CB, c1 = c0 + CB < W ? c0 + CB : W;
        double acc[CB] = {0};
        for (int n = 0; n < N; n++) {
            const float *row = src + (size_t)n * W;
            for (int c = c0; c < c1; c++)
                acc[c - c0] += row[c];
        }
        for (int c = c0; c < c1; c++)
            dst[c] += (float)acc[c - c0];
    }
}

void bf_linear_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, int N, int In, int O, int accum)
{
    if (din)
        gemm_split(CblasNoTrans, CblasNoTrans, N, In, O, dout, O, w, In, accum ? 1.0f : 0.0f, din,
                   In);
    if (dw)
        gemm_split(CblasTrans, CblasNoTrans, O, In, N, dout, O, in, In, 1.0f, dw, In);
    if (db)
        bf_colsum_add(db, dout, N, O);
}
