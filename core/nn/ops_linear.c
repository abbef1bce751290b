/* ops_linear.c - linear layers (and pointwise Conv1d, which is the same GEMM
 * over channel-last rows) through OpenBLAS sgemm, plus the deterministic
 * column sum used for every bias gradient.
 *
 * Column sums run in parallel over blocks of columns, each block summing its
 * rows in order in double: the result does not depend on the thread count.
 */
#include "core/nn/ops.h"

#include <cblas.h>
#include <string.h>

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
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, O, In, 1.0f, in, In, w, In, beta, out, O);
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
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, In, O, 1.0f, dout, O, w, In,
                    accum ? 1.0f : 0.0f, din, In);
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, In, N, 1.0f, dout, O, in, In, 1.0f,
                    dw, In);
    if (db)
        bf_colsum_add(db, dout, N, O);
}
