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

#include "core/nn/gemm_bf16.h"
#include "core/nn/kern.h"
#include "core/nn/model.h"

/* Rows per GEMM tile. A constant, so a tile's bounds depend on the shapes
 * only, never on the thread count: each element is computed by the same
 * single-threaded sgemm call at any thread count (OpenBLAS picks kernels by
 * shape, so a thread-dependent split would change the rounding). 1024 rows
 * amortize OpenBLAS's packing of the weight matrix, which every call repeats:
 * measured on the project VM (SkylakeX kernels, 1 thread) 256-row tiles ran
 * the forward GEMMs at 50-100 GFLOP/s, 1024-row tiles at 90-140. */
#define BF_GEMM_ROWS 1024

/* Rows per tile for M rows: as many tiles as 1024-row tiles would take, made
 * equal (a multiple of 16), so that e.g. 3840 rows are 4 x 960, not 3 x 1024
 * + 768: the threads get even shares. A function of M only. */
static int tile_rows(int M)
{
    int nt = (M + BF_GEMM_ROWS - 1) / BF_GEMM_ROWS;
    int r = (M + nt - 1) / nt;
    return (r + 15) / 16 * 16;
}

/* One serial row-major GEMM (alpha 1): the AMX bf16 kernel under
 * bf_nn_amp() for shapes worth it (a function of the shape only, so the
 * choice never depends on threads), else OpenBLAS sgemm. The head (N = 1)
 * and other tiny products stay fp32. */
static void sgemm_bias(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, const float *A,
                       int lda, const float *B, int ldb, float beta, float *C, int ldc,
                       const float *bias)
{
    if (bf_nn_amp() && N >= 16 && K >= 16 && (double)M * N * K >= 65536.0 &&
        bf_gemm_bf16_bias(ta == CblasTrans, tb == CblasTrans, M, N, K, A, lda, B, ldb, beta, C, ldc,
                          bias) == 0)
        return;
    if (bias) { /* fp32: C = bias, then C += A B (beta must be 0 here) */
        for (int i = 0; i < M; i++)
            memcpy(C + (size_t)i * ldc, bias, (size_t)N * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

static void sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    sgemm_bias(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, NULL);
}

/* C (M,N) = A (M,K) . op(B) + beta C (+ bias (N) when not NULL, beta 0) as
 * row tiles of tile_rows(M), one single-threaded GEMM per tile, tiles shared
 * among the OpenMP threads. */
static void gemm_rows_bias(CBLAS_TRANSPOSE tb, int M, int N, int K, const float *A, int lda,
                           const float *B, int ldb, float beta, float *C, int ldc,
                           const float *bias)
{
    const int R = tile_rows(M), tm = (M + R - 1) / R;
    if (tm <= 1 || (double)M * N * K < 2e5) {
        sgemm_bias(CblasNoTrans, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, bias);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int t = 0; t < tm; t++) {
        int m0 = t * R, mm = M - m0 < R ? M - m0 : R;
        sgemm_bias(CblasNoTrans, tb, mm, N, K, A + (size_t)m0 * lda, lda, B, ldb, beta,
                   C + (size_t)m0 * ldc, ldc, bias);
    }
}

static void gemm_rows(CBLAS_TRANSPOSE tb, int M, int N, int K, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc)
{
    gemm_rows_bias(tb, M, N, K, A, lda, B, ldb, beta, C, ldc, NULL);
}

void bf_linear_forward(float *out, const float *in, const float *w, const float *b, int N, int In,
                       int O)
{
    gemm_rows_bias(CblasTrans, N, O, In, in, In, w, In, 0.0f, out, O, b);
}

void bf_linear_residual_forward(float *out, const float *in, const float *w, const float *b,
                                const float *res, int N, int In, int O)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *o = out + (size_t)n * O;
        const float *r = res + (size_t)n * O;
        for (int j = 0; j < O; j++)
            o[j] = r[j] + b[j];
    }
    gemm_rows(CblasTrans, N, O, In, in, In, w, In, 1.0f, out, O);
}

void bf_linear_input_grad_cols(float *din, const float *dout, const float *w, int N, int In, int O,
                               int c0, int nc)
{
    gemm_rows(CblasNoTrans, N, nc, O, dout, O, w + c0, In, 0.0f, din, nc);
}

void bf_colsum_add(float *dst, const float *src, int N, int W)
{
    /* per column block: float sums over runs of 32 rows (vectorized across
     * columns), each run added in order into a double accumulator */
    enum { CB = 64 };
    const bf_kern *k = bf_kern_get();
    int nblk = (W + CB - 1) / CB;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CB, nc = c0 + CB < W ? CB : W - c0;
        double acc[CB] = {0};
        k->colsum(acc, src, N, W, c0, nc);
        for (int c = 0; c < nc; c++)
            dst[c0 + c] += (float)acc[c];
    }
}

/* a packed weight is used (bf16) exactly when bf_linear_pack packed it */
static int packable(int N, int K)
{
    return bf_nn_amp() && N >= 16 && K >= 16;
}

size_t bf_linear_pack_size(int In, int O)
{
    size_t a = bf_gemm_bf16_packed_size(O, In), b = bf_gemm_bf16_packed_size(In, O);
    return a > b ? a : b;
}

const uint16_t *bf_linear_pack(uint16_t *dst, const float *w, int In, int O, int for_input_grad)
{
    if (for_input_grad) {
        if (!packable(In, O))
            return NULL;
        bf_gemm_bf16_pack_b(dst, 0, w, In, In, O);
    } else {
        if (!packable(O, In))
            return NULL;
        bf_gemm_bf16_pack_b(dst, 1, w, In, O, In);
    }
    return dst;
}

void bf_linear_forward_serial(float *out, const float *in, const float *w, const float *b, int N,
                              int In, int O, const uint16_t *wp)
{
    if (wp && bf_gemm_bf16_ex(0, 1, N, O, In, in, In, w, In, wp, 0.0f, out, O, b) == 0)
        return;
    sgemm_bias(CblasNoTrans, CblasTrans, N, O, In, in, In, w, In, 0.0f, out, O, b);
}

void bf_linear_forward_acc_serial(float *out, const float *in, const float *w, int N, int In, int O,
                                  const uint16_t *wp)
{
    if (wp && bf_gemm_bf16_ex(0, 1, N, O, In, in, In, w, In, wp, 1.0f, out, O, NULL) == 0)
        return;
    sgemm(CblasNoTrans, CblasTrans, N, O, In, in, In, w, In, 1.0f, out, O);
}

void bf_linear_input_grad_serial(float *din, const float *dout, const float *w, int N, int In,
                                 int O, const uint16_t *wp, int accum)
{
    const float beta = accum ? 1.0f : 0.0f;
    if (wp && bf_gemm_bf16_ex(0, 0, N, In, O, dout, O, w, In, wp, beta, din, In, NULL) == 0)
        return;
    sgemm(CblasNoTrans, CblasNoTrans, N, In, O, dout, O, w, In, beta, din, In);
}

void bf_linear_weight_grad_serial(float *dw, const float *dout, const float *in, int N, int In,
                                  int O, int accum)
{
    sgemm(CblasTrans, CblasNoTrans, O, In, N, dout, O, in, In, accum ? 1.0f : 0.0f, dw, In);
}

void bf_colsum_acc(double *acc, const float *src, int R, int W)
{
    const bf_kern *k = bf_kern_get();
    for (int c0 = 0; c0 < W; c0 += 64)
        k->colsum(acc + c0, src, R, W, c0, W - c0 < 64 ? W - c0 : 64);
}

size_t bf_linear_scratch_floats(int N, int In, int O)
{
    int R = tile_rows(N), tc = (N + R - 1) / R;
    return tc > 1 ? (size_t)tc * O * In : 0;
}

void bf_linear_backward_ws(float *din, float *dw, float *db, const float *dout, const float *in,
                           const float *w, int N, int In, int O, int accum, float *scratch)
{
    /* One task list: the input gradient's row tiles, then the weight
     * gradient's row chunks (dout_c^T . in_c into partial c), so both GEMMs
     * share the threads. Partials are added in chunk order afterwards. */
    const int R = tile_rows(N), tc = (N + R - 1) / R;
    const int split = dw && scratch && tc > 1 && (double)N * In * O >= 2e5;
    const int tin = din ? (split ? tc : 1) : 0, tw = dw ? (split ? tc : 1) : 0;
    const float bin = accum ? 1.0f : 0.0f;
    if (din && !split)
        gemm_rows(CblasNoTrans, N, In, O, dout, O, w, In, bin, din, In);
    if (dw && !split)
        sgemm(CblasTrans, CblasNoTrans, O, In, N, dout, O, in, In, 1.0f, dw, In);
    if (split) {
#pragma omp parallel for schedule(dynamic, 1)
        for (int t = 0; t < tin + tw; t++) {
            int c = t < tin ? t : t - tin;
            int m0 = c * R, mm = N - m0 < R ? N - m0 : R;
            if (t < tin)
                sgemm(CblasNoTrans, CblasNoTrans, mm, In, O, dout + (size_t)m0 * O, O, w, In, bin,
                      din + (size_t)m0 * In, In);
            else
                sgemm(CblasTrans, CblasNoTrans, O, In, mm, dout + (size_t)m0 * O, O,
                      in + (size_t)m0 * In, In, 0.0f, scratch + (size_t)c * O * In, In);
        }
        const size_t nw = (size_t)O * In;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < nw; i++) {
            float s = scratch[i];
            for (int c = 1; c < tc; c++)
                s += scratch[(size_t)c * nw + i];
            dw[i] += s;
        }
    }
    if (db)
        bf_colsum_add(db, dout, N, O);
}

void bf_linear_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, int N, int In, int O, int accum)
{
    bf_linear_backward_ws(din, dw, db, dout, in, w, N, In, O, accum, NULL);
}
