/* gemm_bf16.c - the AMX bf16 GEMM of gemm_bf16.h.
 *
 * Packing: op(A) is cut into blocks of 32 rows, each converted to bf16 as
 * AMX "A" tiles (16 rows x 32 k, 64 bytes a row; k past K zero). op(B) is
 * converted once per call into "B" tiles in the VNNI layout the TDPBF16PS
 * instruction reads: row p of a tile holds, for its 16 columns n, the pair
 * (B(2p, n), B(2p + 1, n)); columns past N and k past K are zero. The
 * transposed operands go through a 16 x 16 transpose of 32-bit pairs in
 * registers.
 *
 * Kernel: a 32 x 32 block of C in four accumulator tiles (tmm0-3), two A
 * tiles (tmm4-5) and two B tiles (tmm6-7) per 32-wide step of k, so each
 * tile load feeds two multiplies. Whole 32-row strips without a bias go
 * straight from the tiles into C; others are finished in a per-thread
 * buffer and written out row by row (plus the bias). Every element of C is one fp32
 * accumulation over k in the hardware's fixed order: the result depends on
 * the shapes only, not on threads or timing.
 *
 * The conversion (VCVTNE2PS2BF16) rounds to nearest even and treats
 * subnormal inputs as zero whatever MXCSR says; bf_bf16_round does the same
 * in scalar code for the tests.
 */
#define _GNU_SOURCE
#include "core/nn/gemm_bf16.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/nn/model.h"

static int g_amp = 0;

float bf_bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) {
        if (u & 0x007fffffu)
            u |= 0x00400000u; /* NaN: quieted (bit 22 survives the cut) */
        u &= 0xffff0000u;     /* infinities stay infinite */
    } else if ((u & 0x7f800000u) == 0) {
        u &= 0x80000000u; /* subnormal or zero -> signed zero */
    } else {
        u += 0x7fffu + ((u >> 16) & 1u);
        u &= 0xffff0000u;
    }
    float r;
    memcpy(&r, &u, 4);
    return r;
}

size_t bf_gemm_bf16_packed_size(int N, int K)
{
    return (size_t)(N + 31) / 32 * 2 * (size_t)((K + 31) / 32) * 512;
}

int bf_nn_amp(void)
{
    return g_amp;
}

int bf_nn_set_amp(int on)
{
    const char *why = NULL;
    if (on && !bf_gemm_bf16_available(&why)) {
        BF_WARN("mixed precision: %s; the GEMMs stay fp32", why);
        on = 0;
    }
    g_amp = on ? 1 : 0;
    return g_amp;
}

int bf_gemm_bf16(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                 int ldb, float beta, float *C, int ldc)
{
    return bf_gemm_bf16_bias(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, NULL);
}

int bf_gemm_bf16_bias(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                      int ldb, float beta, float *C, int ldc, const float *bias)
{
    return bf_gemm_bf16_ex(ta, tb, M, N, K, A, lda, B, ldb, NULL, beta, C, ldc, bias);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(BF_NO_AMX)

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA  18

int bf_gemm_bf16_available(const char **why)
{
    static int state = -1;
    static const char *reason = "";
    if (state < 0) {
        unsigned a, b, c, d;
        const char *env = getenv("BARFORGE_NO_AMX");
        state = 0;
        if (env && *env && strcmp(env, "0")) {
            reason = "BARFORGE_NO_AMX is set";
        } else if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) ||
                   !(d & (1u << 22))) {
            reason = "this CPU has no AMX-TILE/AMX-BF16 (Intel Sapphire Rapids or later needed)";
        } else if (!(b & (1u << 16)) || !(b & (1u << 30)) || !(b & (1u << 31)) ||
                   !__get_cpuid_count(7, 1, &a, &b, &c, &d) || !(a & (1u << 5))) {
            reason = "this CPU lacks AVX-512 F/BW/VL or AVX512-BF16";
        } else if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) {
            reason = "the kernel refused the AMX tile state (Linux 5.16 or later needed)";
        } else {
            state = 1;
        }
    }
    if (why)
        *why = reason;
    return state;
}

/* Per-thread packing buffers, grown once to the largest call and kept: a
 * global table (not thread-local storage) so leak checkers see them. */
enum { MAX_SLOTS = 1024 };
static struct {
    void *p;
    size_t n;
} g_buf[MAX_SLOTS];

static uint16_t *thread_buf(size_t bytes)
{
    int t = omp_get_thread_num();
    if (t < 0 || t >= MAX_SLOTS)
        return NULL;
    if (g_buf[t].n < bytes) {
        void *p = NULL;
        bytes = (bytes + 4095) & ~(size_t)4095;
        if (posix_memalign(&p, 64, bytes) != 0)
            return NULL;
        free(g_buf[t].p);
        g_buf[t].p = p;
        g_buf[t].n = bytes;
    }
    return g_buf[t].p;
}

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,amx-tile,amx-bf16")
#include <immintrin.h>

typedef struct {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg;

static void tiles_on(void)
{
    tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) {
        cfg.rows[i] = 16;
        cfg.colsb[i] = 64;
    }
    _tile_loadconfig(&cfg);
}

static inline __mmask16 mask16(int n)
{
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* 32 floats (the first n valid, the rest read as 0) -> 32 bf16 in order */
static inline __m512i cvt32(const float *p, int n)
{
    __m512 lo = _mm512_maskz_loadu_ps(mask16(n), p);
    __m512 hi = _mm512_maskz_loadu_ps(mask16(n - 16), p + 16);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* lo, hi: 16 floats each -> 16 32-bit pairs (bf16(lo[i]), bf16(hi[i])) */
static inline __m512i pairs(__m512 lo, __m512 hi)
{
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24,
                                         8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

/* r[16] rows of 16 32-bit elements -> their transpose, stored as 16 rows of
 * 64 bytes at dst */
static inline void transpose_store(uint16_t *dst, __m512i r[16])
{
    __m512i a[16], b[16];
    for (int i = 0; i < 8; i++) {
        a[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        b[4 * i] = _mm512_unpacklo_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 1] = _mm512_unpackhi_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 2] = _mm512_unpacklo_epi64(a[4 * i + 1], a[4 * i + 3]);
        b[4 * i + 3] = _mm512_unpackhi_epi64(a[4 * i + 1], a[4 * i + 3]);
    }
    for (int c = 0; c < 4; c++) {
        __m512i t0 = _mm512_shuffle_i32x4(b[c], b[4 + c], 0x44);
        __m512i t1 = _mm512_shuffle_i32x4(b[c], b[4 + c], 0xee);
        __m512i t2 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0x44);
        __m512i t3 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0xee);
        _mm512_store_si512(dst + (size_t)c * 32, _mm512_shuffle_i32x4(t0, t2, 0x88));
        _mm512_store_si512(dst + (size_t)(4 + c) * 32, _mm512_shuffle_i32x4(t0, t2, 0xdd));
        _mm512_store_si512(dst + (size_t)(8 + c) * 32, _mm512_shuffle_i32x4(t1, t3, 0x88));
        _mm512_store_si512(dst + (size_t)(12 + c) * 32, _mm512_shuffle_i32x4(t1, t3, 0xdd));
    }
}

/* A block: rows m0 .. m0+rows-1 (rows <= 32) of op(A) -> dst[kb][32][32]
 * (tile h of step kb at dst + (kb*32 + h*16)*32) */
static void pack_a(uint16_t *dst, int ta, const float *A, int lda, int m0, int rows, int K)
{
    const int KB = (K + 31) / 32;
    if (!ta) {
        for (int r = 0; r < 32; r++)
            for (int kb = 0; kb < KB; kb++) {
                uint16_t *o = dst + ((size_t)kb * 32 + r) * 32;
                if (r < rows)
                    _mm512_store_si512(o, cvt32(A + (size_t)(m0 + r) * lda + kb * 32, K - kb * 32));
                else
                    _mm512_store_si512(o, _mm512_setzero_si512());
            }
        return;
    }
    /* op(A)(m, k) = A[k*lda + m]: pairs of k rows, 16 m at a time, transposed */
    for (int kb = 0; kb < KB; kb++)
        for (int h = 0; h < 2; h++) {
            const int mh = m0 + h * 16, nm = rows - h * 16;
            const __mmask16 mm = mask16(nm);
            __m512i p[16];
            for (int q = 0; q < 16; q++) {
                const int k = kb * 32 + 2 * q;
                __m512 v0 = k < K ? _mm512_maskz_loadu_ps(mm, A + (size_t)k * lda + mh)
                                  : _mm512_setzero_ps();
                __m512 v1 = k + 1 < K ? _mm512_maskz_loadu_ps(mm, A + (size_t)(k + 1) * lda + mh)
                                      : _mm512_setzero_ps();
                p[q] = pairs(v0, v1);
            }
            transpose_store(dst + ((size_t)kb * 32 + h * 16) * 32, p);
        }
}

/* op(B) (K, N) -> dst tiles [nb][kb] of 16 x 32 bf16 (VNNI pairs), nb over
 * ceil(N/32)*2 column blocks of 16 */
static void pack_b(uint16_t *dst, int tb, const float *B, int ldb, int N, int K)
{
    const int KB = (K + 31) / 32, NB = (N + 31) / 32 * 2;
    for (int nb = 0; nb < NB; nb++)
        for (int kb = 0; kb < KB; kb++) {
            uint16_t *t = dst + ((size_t)nb * KB + kb) * 512;
            const int n0 = nb * 16, nn = N - n0;
            if (nn <= 0) {
                for (int q = 0; q < 16; q++)
                    _mm512_store_si512(t + q * 32, _mm512_setzero_si512());
                continue;
            }
            if (!tb) {
                const __mmask16 m = mask16(nn);
                for (int q = 0; q < 16; q++) {
                    const int k = kb * 32 + 2 * q;
                    __m512 v0 = k < K ? _mm512_maskz_loadu_ps(m, B + (size_t)k * ldb + n0)
                                      : _mm512_setzero_ps();
                    __m512 v1 = k + 1 < K ? _mm512_maskz_loadu_ps(m, B + (size_t)(k + 1) * ldb + n0)
                                          : _mm512_setzero_ps();
                    _mm512_store_si512(t + q * 32, pairs(v0, v1));
                }
            } else {
                /* op(B)(k, n) = B[n*ldb + k]: row n's 32 k are column n's 16 pairs */
                __m512i c[16];
                for (int j = 0; j < 16; j++)
                    c[j] = j < nn ? cvt32(B + (size_t)(n0 + j) * ldb + kb * 32, K - kb * 32)
                                  : _mm512_setzero_si512();
                transpose_store(t, c);
            }
        }
}

/* one 16 x 16 fp32 block of C at (i0, j0), rows/cols valid: beta ? load : 0 */
#define TILE_IN(T, i0, j0)                                                                         \
    do {                                                                                           \
        const int vr = M - (i0), vc = N - (j0);                                                    \
        if (beta == 0.0f || vr <= 0 || vc <= 0)                                                    \
            _tile_zero(T);                                                                         \
        else if (vr >= 16 && vc >= 16)                                                             \
            _tile_loadd(T, C + (size_t)(i0)*ldc + (j0), ldc * 4);                                  \
        else {                                                                                     \
            for (int r_ = 0; r_ < 16; r_++)                                                        \
                for (int c_ = 0; c_ < 16; c_++)                                                    \
                    tmp[r_ * 16 + c_] =                                                            \
                        r_ < vr && c_ < vc ? C[(size_t)((i0) + r_) * ldc + (j0) + c_] : 0.0f;      \
            _tile_loadd(T, tmp, 64);                                                               \
        }                                                                                          \
    } while (0)

/* the finished 32-row strip (rows valid, ldS floats apart) to C's rows,
 * plus bias (N) when not NULL. Whole rows at a time: contiguous stores, which
 * measured faster than 16 x 16 tile stores straight into C (strided lines),
 * and faster than non-temporal stores (the next op reads C back). */
static void strip_out(float *C, int ldc, const float *cs, int ldS, int rows, int N,
                      const float *bias)
{
    for (int r = 0; r < rows; r++) {
        float *o = C + (size_t)r * ldc;
        const float *c = cs + (size_t)r * ldS;
        for (int j = 0; j < N; j += 16) {
            __mmask16 m = mask16(N - j);
            __m512 v = _mm512_load_ps(c + j);
            if (bias)
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + j));
            _mm512_mask_storeu_ps(o + j, m, v);
        }
    }
}

void bf_gemm_bf16_pack_b(uint16_t *dst, int tb, const float *B, int ldb, int N, int K)
{
    pack_b(dst, tb, B, ldb, N, K);
}

int bf_gemm_bf16_ex(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                    int ldb, const uint16_t *bpacked, float beta, float *C, int ldc,
                    const float *bias)
{
    if (M <= 0 || N <= 0)
        return 0;
    const int KB = (K + 31) / 32, NB2 = (N + 31) / 32, ldS = NB2 * 32;
    const size_t a_elems = (size_t)KB * 32 * 32, b_elems = bpacked ? 0 : (size_t)NB2 * 2 * KB * 512;
    const size_t s_elems = (size_t)32 * ldS * 2; /* the fp32 strip, in uint16 units */
    uint16_t *buf = thread_buf((a_elems + b_elems + s_elems) * sizeof(uint16_t));
    if (!buf)
        return -1;
    uint16_t *ap = buf;
    const uint16_t *bp = bpacked ? bpacked : buf + a_elems;
    float *cs = (float *)(buf + a_elems + b_elems);
    float tmp[256] __attribute__((aligned(64)));
    if (K <= 0) { /* C = beta C (+ bias) */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(size_t)i * ldc + j] =
                    (beta == 0.0f ? 0.0f : C[(size_t)i * ldc + j]) + (bias ? bias[j] : 0.0f);
        return 0;
    }
    if (!bpacked)
        pack_b(buf + a_elems, tb, B, ldb, N, K);
    tiles_on();
    for (int m0 = 0; m0 < M; m0 += 32) {
        const int rows = M - m0 < 32 ? M - m0 : 32;
        /* whole 32 x 32 blocks and no bias: tiles straight into C (the
         * fused paths' outputs are in L2, where that measured faster) */
        const int direct = !bias && rows == 32 && N % 32 == 0;
        pack_a(ap, ta, A, lda, m0, rows, K);
        for (int nb = 0; nb < NB2; nb++) {
            const int n0 = nb * 32;
            const uint16_t *b0 = bp + (size_t)(2 * nb) * KB * 512, *b1 = b0 + (size_t)KB * 512;
            TILE_IN(0, m0, n0);
            TILE_IN(1, m0, n0 + 16);
            TILE_IN(2, m0 + 16, n0);
            TILE_IN(3, m0 + 16, n0 + 16);
            for (int kb = 0; kb < KB; kb++) {
                const uint16_t *a = ap + (size_t)kb * 1024;
                _tile_loadd(4, a, 64);
                _tile_loadd(5, a + 512, 64);
                _tile_loadd(6, b0 + (size_t)kb * 512, 64);
                _tile_loadd(7, b1 + (size_t)kb * 512, 64);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
                _tile_dpbf16ps(2, 5, 6);
                _tile_dpbf16ps(3, 5, 7);
            }
            if (direct) {
                float *c = C + (size_t)m0 * ldc + n0;
                _tile_stored(0, c, ldc * 4);
                _tile_stored(1, c + 16, ldc * 4);
                _tile_stored(2, c + (size_t)16 * ldc, ldc * 4);
                _tile_stored(3, c + (size_t)16 * ldc + 16, ldc * 4);
                continue;
            }
            _tile_stored(0, cs + n0, ldS * 4);
            _tile_stored(1, cs + n0 + 16, ldS * 4);
            _tile_stored(2, cs + (size_t)16 * ldS + n0, ldS * 4);
            _tile_stored(3, cs + (size_t)16 * ldS + n0 + 16, ldS * 4);
        }
        if (!direct)
            strip_out(C + (size_t)m0 * ldc, ldc, cs, ldS, rows, N, bias);
    }
    _tile_release();
    return 0;
}

#pragma GCC pop_options

#else /* not x86-64 GCC: no AMX */

int bf_gemm_bf16_available(const char **why)
{
    if (why)
        *why = "AMX needs an x86-64 build with GCC or Clang";
    return 0;
}

int bf_gemm_bf16_ex(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                    int ldb, const uint16_t *bpacked, float beta, float *C, int ldc,
                    const float *bias)
{
    (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb;
    (void)bpacked, (void)beta, (void)C, (void)ldc, (void)bias;
    return -1;
}

void bf_gemm_bf16_pack_b(uint16_t *dst, int tb, const float *B, int ldb, int N, int K)
{
    (void)dst, (void)tb, (void)B, (void)ldb, (void)N, (void)K;
}

#endif
