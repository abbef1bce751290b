/* test_nn_gemm_bf16.c - the AMX bf16 GEMM (core/nn/gemm_bf16.h).
 *
 * 1. bf_bf16_round on chosen values: ties to even, carries into the
 *    exponent, overflow to infinity, subnormals to signed zero, NaN.
 * 2. The kernel's own conversion equals bf_bf16_round: op(A) times an
 *    identity op(B) returns the rounded A exactly (one non-zero product per
 *    output), for every transpose mode, on values that exercise ties.
 * 3. op(A) op(B) + beta C for all four transpose modes, beta 0 and 1, ragged
 *    shapes (M, N, K not multiples of 16 or 32) and leading dimensions wider
 *    than the rows: against a double-precision sum of the rounded operands,
 *    within the fp32 accumulation bound 2 K 2^-24 (sum |a b| + |C|), and
 *    never touching C outside the M x N block.
 * 4. The engine with bf_nn_set_amp(1): a linear layer's forward and both
 *    gradients at the seed's stem shape (16384 x 128 -> 256) bit-identical at
 *    1 and 2 threads, and within bf16 rounding of the fp32 path.
 * Skips (exit 77, saying why) where the CPU or kernel has no AMX.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/test_util.h"
#include "core/base/rng.h"
#include "core/nn/gemm_bf16.h"
#include "core/nn/model.h"
#include "core/nn/ops.h"

static float bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t ubits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void test_round(void)
{
    const struct {
        uint32_t in, out;
    } cases[] = {
        {0x3f800000u, 0x3f800000u}, /* 1.0 exact */
        {0x3f808000u, 0x3f800000u}, /* 1 + 2^-8: tie, even stays */
        {0x3f818000u, 0x3f820000u}, /* tie, odd rounds up */
        {0x3f808001u, 0x3f810000u}, /* just above the tie */
        {0x3f807fffu, 0x3f800000u}, /* just below */
        {0x3fffffffu, 0x40000000u}, /* carry into the exponent */
        {0x7f7fffffu, 0x7f800000u}, /* FLT_MAX -> inf */
        {0xff7fffffu, 0xff800000u}, /* -FLT_MAX -> -inf */
        {0x7f800000u, 0x7f800000u}, /* inf */
        {0x00400000u, 0x00000000u}, /* subnormal -> +0 */
        {0x80000001u, 0x80000000u}, /* -subnormal -> -0 */
        {0x00800000u, 0x00800000u}, /* FLT_MIN stays */
        {0xc0490fdbu, 0xc0490000u}, /* -pi */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t got = ubits(bf_bf16_round(bits(cases[i].in)));
        T_CHECK(got == cases[i].out, "round(0x%08x) = 0x%08x, want 0x%08x", cases[i].in, got,
                cases[i].out);
    }
    float n = bf_bf16_round(bits(0x7fc00001u));
    T_CHECK(n != n, "NaN must stay NaN (got %g)", n);
    n = bf_bf16_round(bits(0x7f800001u)); /* signalling NaN with only low bits */
    T_CHECK(n != n, "a NaN whose payload is in the low 16 bits must stay NaN (got %g)", n);
}

/* element (m,k) of op(X) for a row-major X with leading dimension ld */
static float at(const float *X, int t, int ld, int r, int c)
{
    return t ? X[(size_t)c * ld + r] : X[(size_t)r * ld + c];
}

/* fill an op(X) of R x Cc values (stored transposed when t) with ld >= width */
static float *make_op(int t, int R, int Cc, int ld, uint64_t seed, int ties)
{
    int rows = t ? Cc : R, width = t ? R : Cc;
    (void)width;
    float *X = malloc((size_t)rows * ld * sizeof(float));
    for (size_t i = 0; i < (size_t)rows * ld; i++) {
        float v = (float)bf_rng_normal(seed, 1, 0, i);
        if (ties) /* bf16 value plus exactly half an ulp, or a quarter */
            v = bf_bf16_round(v) * (1.0f + ((i & 1) ? 0x1p-8f : 0x1p-9f));
        X[i] = v;
    }
    return X;
}

static void test_conversion(int ta, int tb)
{
    const int M = 37, K = 70, N = 70, lda = (ta ? M : K) + 3, ldb = N + 5, ldc = N + 2;
    float *A = make_op(ta, M, K, lda, 11, 1);
    float *B = calloc((size_t)K * ldb, sizeof(float)); /* identity: symmetric, tb irrelevant */
    for (int k = 0; k < K; k++)
        B[(size_t)k * ldb + k] = 1.0f;
    float *C = malloc((size_t)M * ldc * sizeof(float));
    T_CHECK(bf_gemm_bf16(ta, tb, M, N, K, A, lda, B, ldb, 0.0f, C, ldc) == 0, "gemm failed");
    int bad = 0;
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++) {
            float want = bf_bf16_round(at(A, ta, lda, m, k)), got = C[(size_t)m * ldc + k];
            if (ubits(got) != ubits(want) && bad++ < 3)
                fprintf(stderr, "conversion ta=%d tb=%d (%d,%d): a %.9g -> %.9g, want %.9g\n", ta,
                        tb, m, k, at(A, ta, lda, m, k), got, want);
        }
    T_CHECK(bad == 0, "ta=%d tb=%d: %d of %d converted values differ from bf_bf16_round", ta, tb,
            bad, M * K);
    free(A);
    free(B);
    free(C);
}

static void test_product(int ta, int tb, int M, int N, int K, float beta)
{
    const int lda = (ta ? M : K) + 7, ldb = (tb ? K : N) + 1, ldc = N + 9;
    float *A = make_op(ta, M, K, lda, 21 + (uint64_t)M, 0);
    float *B = make_op(!tb ? 0 : 1, K, N, ldb, 22 + (uint64_t)N, 0);
    float *C = malloc((size_t)M * ldc * sizeof(float)), *C0 = malloc((size_t)M * ldc * sizeof(float));
    for (size_t i = 0; i < (size_t)M * ldc; i++)
        C0[i] = C[i] = (float)bf_rng_normal(23, 3, 0, i);
    T_CHECK(bf_gemm_bf16(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc) == 0, "gemm failed");
    int bad = 0;
    double worst = 0;
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < ldc; n++) {
            float got = C[(size_t)m * ldc + n];
            if (n >= N) { /* outside the block: untouched */
                if (ubits(got) != ubits(C0[(size_t)m * ldc + n]) && bad++ < 3)
                    fprintf(stderr, "C(%d,%d) outside N=%d was written\n", m, n, N);
                continue;
            }
            double s = beta * (double)C0[(size_t)m * ldc + n], mag = fabs(s);
            for (int k = 0; k < K; k++) {
                double p = (double)bf_bf16_round(at(A, ta, lda, m, k)) *
                           (double)bf_bf16_round(at(B, tb, ldb, k, n));
                s += p;
                mag += fabs(p);
            }
            double err = fabs((double)got - s), tol = 2.0 * (K + 1) * 0x1p-24 * mag + 1e-30;
            if (err / tol > worst)
                worst = err / tol;
            if (!(err <= tol) && bad++ < 3)
                fprintf(stderr, "ta=%d tb=%d %dx%dx%d C(%d,%d) = %.9g, want %.9g (err %.3g, tol %.3g)\n",
                        ta, tb, M, N, K, m, n, got, s, err, tol);
        }
    }
    T_CHECK(bad == 0, "ta=%d tb=%d M=%d N=%d K=%d beta=%g: %d bad entries", ta, tb, M, N, K, beta,
            bad);
    printf("gemm ta=%d tb=%d %4dx%4dx%4d beta=%g: worst error %.3f of the bound\n", ta, tb, M, N, K,
           beta, worst);
    free(A);
    free(B);
    free(C);
    free(C0);
}

static float *randv(size_t n, uint64_t seed, float scale)
{
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        v[i] = scale * (float)bf_rng_normal(seed, 4, 0, i);
    return v;
}

/* forward and backward of one linear layer; returns out | din | dw | db */
static float *linear_run(int threads, int amp, int N, int In, int O, const float *x, const float *w,
                         const float *b, const float *dy)
{
    bf_nn_set_threads(threads);
    bf_nn_set_amp(amp);
    size_t no = (size_t)N * O, ni = (size_t)N * In, nw = (size_t)O * In;
    float *r = calloc(no + ni + nw + O, sizeof(float));
    float *scratch = malloc((bf_linear_scratch_floats(N, In, O) + 1) * sizeof(float));
    bf_linear_forward(r, x, w, b, N, In, O);
    bf_linear_backward_ws(r + no, r + no + ni, r + no + ni + nw, dy, x, w, N, In, O, 0, scratch);
    free(scratch);
    bf_nn_set_amp(0);
    return r;
}

static void test_engine(void)
{
    const int N = 16384, In = 128, O = 256;
    float *x = randv((size_t)N * In, 31, 1.0f), *w = randv((size_t)O * In, 32, 0.09f);
    float *b = randv(O, 33, 0.1f), *dy = randv((size_t)N * O, 34, 1e-3f);
    size_t tot = (size_t)N * O + (size_t)N * In + (size_t)O * In + O;
    float *r1 = linear_run(1, 1, N, In, O, x, w, b, dy), *r2 = linear_run(2, 1, N, In, O, x, w, b, dy);
    float *rf = linear_run(2, 0, N, In, O, x, w, b, dy);
    size_t ndiff = 0;
    for (size_t i = 0; i < tot; i++)
        ndiff += ubits(r1[i]) != ubits(r2[i]);
    T_CHECK(ndiff == 0, "amp linear layer: %zu of %zu values differ between 1 and 2 threads", ndiff,
            tot);
    /* against fp32: relative to each tensor's largest entry, bf16 rounding
     * (2^-9 per operand) over sums of 128..16384 random-sign terms */
    const char *name[] = {"out", "din", "dw", "db"};
    size_t off[] = {0, (size_t)N * O, (size_t)N * O + (size_t)N * In, tot - O, tot};
    for (int t = 0; t < 4; t++) {
        double maxref = 0, maxerr = 0;
        for (size_t i = off[t]; i < off[t + 1]; i++) {
            maxref = fmax(maxref, fabs(rf[i]));
            maxerr = fmax(maxerr, fabs((double)r1[i] - rf[i]));
        }
        double rel = maxerr / maxref;
        printf("amp vs fp32 %s: max |diff| %.3g = %.2e of max |ref| %.3g\n", name[t], maxerr, rel,
               maxref);
        T_CHECK(rel < (t == 3 ? 1e-6 : 2e-2), "amp %s differs from fp32 by %.3g of its scale",
                name[t], rel);
        T_CHECK(rel > 0 || t == 3, "amp %s equals fp32 exactly: the bf16 path did not run", name[t]);
    }
    free(x);
    free(w);
    free(b);
    free(dy);
    free(r1);
    free(r2);
    free(rf);
}

int main(void)
{
    test_round();
    const char *why = NULL;
    if (!bf_gemm_bf16_available(&why)) {
        printf("SKIP: no AMX bf16 GEMM here: %s\n", why);
        return bf_test_failures ? 1 : 77;
    }
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            test_conversion(ta, tb);
            test_product(ta, tb, 1, 16, 16, 0.0f);
            test_product(ta, tb, 17, 33, 45, 1.0f);
            test_product(ta, tb, 32, 32, 32, 0.0f);
            test_product(ta, tb, 100, 16, 7, 1.0f);
            test_product(ta, tb, 257, 130, 300, 0.0f);
            test_product(ta, tb, 64, 256, 128, 1.0f);
        }
    test_product(1, 0, 256, 128, 1024, 0.0f); /* a weight-gradient chunk */
    test_engine();
    return bf_test_done("test_nn_gemm_bf16");
}
