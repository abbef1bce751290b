#define _GNU_SOURCE
/* dataset_crc.c - see dataset_crc.h. */
#include "core/feat/dataset_crc.h"

#include "core/feat/dataset_io.h"
#include "dist/mpi_env.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- CRC-32, slicing by 8 ------------------------------------------------------- */

static uint32_t g_crc8[8][256];
static pthread_once_t g_crc8_once = PTHREAD_ONCE_INIT;

static void crc8_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        g_crc8[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++)
            g_crc8[t][i] = (g_crc8[t - 1][i] >> 8) ^ g_crc8[0][g_crc8[t - 1][i] & 0xFF];
}

static uint32_t crc32_table(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    crc = ~crc;
    while (n >= 8) { /* 8 bytes per step through 8 tables (little-endian loads) */
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        lo = __builtin_bswap32(lo);
        hi = __builtin_bswap32(hi);
#endif
        lo ^= crc;
        crc = g_crc8[7][lo & 0xFF] ^ g_crc8[6][(lo >> 8) & 0xFF] ^ g_crc8[5][(lo >> 16) & 0xFF] ^
              g_crc8[4][lo >> 24] ^ g_crc8[3][hi & 0xFF] ^ g_crc8[2][(hi >> 8) & 0xFF] ^
              g_crc8[1][(hi >> 16) & 0xFF] ^ g_crc8[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = g_crc8[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* ---- CRC-32 by carry-less multiplication (x86 PCLMULQDQ) ---------------------
 * Folding: a 128-bit block B followed by D more bits of message is congruent
 * (mod P) to B * x^D, which two carry-less products bring back to 128 bits
 * and xor into the block D bits later. In the bit-reflected order of this CRC
 * a 64-bit lane v stands for sum v_i x^(63-i), and the product of two lanes
 * comes out multiplied by one extra x; so the lane of the first 8 bytes is
 * multiplied by x^(D+63) mod P and the second by x^(D-1) mod P. The folded
 * 16 bytes are congruent to everything before them, so the table finishes the
 * CRC from them (no Barrett reduction). Constants are derived at start-up
 * from the polynomial, not typed in. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define BF_CRC_CLMUL 1

static uint64_t g_k2048[2], g_k512[2], g_k128[2];
static int g_impl; /* 0 tables, 1 PCLMULQDQ, 2 VPCLMULQDQ: the best the CPU has */

/* x^n mod P (P = 0x104C11DB7, normal bit order), as a reflected lane */
static uint64_t xpow_lane(int n)
{
    uint64_t v = 1;
    for (int i = 0; i < n; i++) {
        v <<= 1;
        if (v & 0x100000000ull)
            v ^= 0x104C11DB7ull;
    }
    uint32_t r = 0;
    for (int d = 0; d < 32; d++)
        if (v >> d & 1)
            r |= 1u << (31 - d);
    return (uint64_t)r << 32; /* coefficient of x^d at bit 63 - d */
}

__attribute__((target("pclmul,sse4.1"))) static __m128i fold(__m128i a, __m128i k, __m128i next)
{
    __m128i lo = _mm_clmulepi64_si128(a, k, 0x00), hi = _mm_clmulepi64_si128(a, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

/* Four consecutive 128-bit blocks x0..x3 (x0 first), congruent to all the
 * message before p, then n more bytes at p: fold down to one block, fold in
 * the whole 16-byte blocks, and finish with the table. Returns the raw state. */
__attribute__((target("pclmul,sse4.1"))) static uint32_t clmul_finish(__m128i x0, __m128i x1,
                                                                       __m128i x2, __m128i x3,
                                                                       const unsigned char *p,
                                                                       size_t n)
{
    const __m128i k1 = _mm_set_epi64x((long long)g_k128[1], (long long)g_k128[0]);
    x0 = fold(x0, k1, x1);
    x0 = fold(x0, k1, x2);
    x0 = fold(x0, k1, x3);
    while (n >= 16) {
        x0 = fold(x0, k1, _mm_loadu_si128((const __m128i *)p));
        p += 16;
        n -= 16;
    }
    unsigned char b[16];
    _mm_storeu_si128((__m128i *)b, x0);
    uint32_t s = ~crc32_table(~0u, b, 16); /* raw CRC of the folded block from state 0 */
    return ~crc32_table(~s, p, n);
}

/* raw CRC state s (not inverted) over n >= 64 bytes; returns the raw state */
__attribute__((target("pclmul,sse4.1"))) static uint32_t crc32_clmul(uint32_t s,
                                                                      const unsigned char *p,
                                                                      size_t n)
{
    __m128i x0 = _mm_loadu_si128((const __m128i *)p), x1 = _mm_loadu_si128((const __m128i *)(p + 16)),
            x2 = _mm_loadu_si128((const __m128i *)(p + 32)), x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)s));
    p += 64;
    n -= 64;
    const __m128i k4 = _mm_set_epi64x((long long)g_k512[1], (long long)g_k512[0]);
    while (n >= 64) {
        x0 = fold(x0, k4, _mm_loadu_si128((const __m128i *)p));
        x1 = fold(x1, k4, _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = fold(x2, k4, _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = fold(x3, k4, _mm_loadu_si128((const __m128i *)(p + 48)));
        p += 64;
        n -= 64;
    }
    return clmul_finish(x0, x1, x2, x3, p, n);
}

/* The same folding 256 bytes per step in four 512-bit registers (VPCLMULQDQ
 * works on the four 128-bit lanes of each at once): a lane folds onto the
 * lane 2048 bits later. Then register onto register (512 bits apart), lane
 * onto lane (128 bits), and the SSE finish. */
__attribute__((target("avx512f,avx512vl,vpclmulqdq,pclmul,sse4.1"))) static __m512i
fold512(__m512i a, __m512i k, __m512i next)
{
    __m512i lo = _mm512_clmulepi64_epi128(a, k, 0x00), hi = _mm512_clmulepi64_epi128(a, k, 0x11);
    return _mm512_ternarylogic_epi64(lo, hi, next, 0x96); /* lo ^ hi ^ next */
}

/* raw CRC state s over n >= 256 bytes */
__attribute__((target("avx512f,avx512vl,vpclmulqdq,pclmul,sse4.1"))) static uint32_t
crc32_vclmul(uint32_t s, const unsigned char *p, size_t n)
{
    __m512i x0 = _mm512_loadu_si512(p), x1 = _mm512_loadu_si512(p + 64),
            x2 = _mm512_loadu_si512(p + 128), x3 = _mm512_loadu_si512(p + 192);
    x0 = _mm512_xor_si512(x0, _mm512_castsi128_si512(_mm_cvtsi32_si128((int)s)));
    p += 256;
    n -= 256;
    const __m512i k4 = _mm512_broadcast_i32x4(_mm_set_epi64x((long long)g_k2048[1],
                                                             (long long)g_k2048[0]));
    while (n >= 256) {
        x0 = fold512(x0, k4, _mm512_loadu_si512(p));
        x1 = fold512(x1, k4, _mm512_loadu_si512(p + 64));
        x2 = fold512(x2, k4, _mm512_loadu_si512(p + 128));
        x3 = fold512(x3, k4, _mm512_loadu_si512(p + 192));
        p += 256;
        n -= 256;
    }
    const __m512i k1 = _mm512_broadcast_i32x4(_mm_set_epi64x((long long)g_k512[1],
                                                             (long long)g_k512[0]));
    x1 = fold512(x0, k1, x1);
    x2 = fold512(x1, k1, x2);
    x3 = fold512(x2, k1, x3);
    __m128i a0 = _mm512_extracti32x4_epi32(x3, 0), a1 = _mm512_extracti32x4_epi32(x3, 1),
            a2 = _mm512_extracti32x4_epi32(x3, 2), a3 = _mm512_extracti32x4_epi32(x3, 3);
    /* clean upper state before the SSE finish (and the caller's SSE code):
     * GCC turned the call into a jump without VZEROUPPER, and the dirty
     * ZMM state then slowed every later SSE instruction (pass 1's features
     * ran 2x slower once the checksums ran on its threads) */
    _mm256_zeroupper();
    return clmul_finish(a0, a1, a2, a3, p, n);
}
#endif

static void crc_init(void)
{
    crc8_init();
#ifdef BF_CRC_CLMUL
    g_k2048[0] = xpow_lane(2048 + 63);
    g_k2048[1] = xpow_lane(2048 - 1);
    g_k512[0] = xpow_lane(512 + 63);
    g_k512[1] = xpow_lane(512 - 1);
    g_k128[0] = xpow_lane(128 + 63);
    g_k128[1] = xpow_lane(128 - 1);
    __builtin_cpu_init();
    int clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
    int vclmul = clmul && __builtin_cpu_supports("avx512f") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("vpclmulqdq");
    g_impl = getenv("BARFORGE_CRC_TABLE") ? 0 : vclmul ? 2 : clmul;
#endif
}

int bf_ds_crc32_impl(int impl)
{
    pthread_once(&g_crc8_once, crc_init);
#ifdef BF_CRC_CLMUL
    __builtin_cpu_init();
    int clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
    int vclmul = clmul && __builtin_cpu_supports("avx512f") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("vpclmulqdq");
    if (impl == 0 || (impl == 1 && clmul) || (impl == 2 && vclmul)) {
        __atomic_store_n(&g_impl, impl, __ATOMIC_RELAXED);
        return 1;
    }
    return 0;
#else
    return impl == 0;
#endif
}

uint32_t bf_ds_crc32(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&g_crc8_once, crc_init);
#ifdef BF_CRC_CLMUL
    int impl = __atomic_load_n(&g_impl, __ATOMIC_RELAXED);
    if (impl == 2 && n >= 1024)
        return ~crc32_vclmul(~crc, data, n);
    if (impl >= 1 && n >= 256)
        return ~crc32_clmul(~crc, data, n);
#endif
    return crc32_table(crc, data, n);
}

/* CRC-32 is linear over GF(2): crc(A||B) = crc(A) * x^(8 len B) mod P, xor
 * crc(B) (with the pre/post inversions cancelling). Polynomials are 32-bit
 * words in the reflected order of the CRC itself: bit 31 is x^0. */
#define CRC_POLY_REFLECTED 0xEDB88320u

/* a * b mod P */
static uint32_t gf2_mulmod(uint32_t a, uint32_t b)
{
    uint32_t p = 0;
    for (uint32_t m = 1u << 31; m; m >>= 1) {
        if (a & m) {
            p ^= b;
            if (!(a & (m - 1)))
                break;
        }
        b = (b >> 1) ^ (b & 1 ? CRC_POLY_REFLECTED : 0); /* b * x */
    }
    return p;
}

/* x^(2^k) mod P for k = 0..65 (8 len for any int64_t len) */
static uint32_t g_x2k[66];
static pthread_once_t g_x2k_once = PTHREAD_ONCE_INIT;

static void x2k_init(void)
{
    uint32_t p = 1u << 30; /* x^1 */
    for (int k = 0; k < 66; k++) {
        g_x2k[k] = p;
        p = gf2_mulmod(p, p);
    }
}

/* x^(8 len) mod P: one factor x^(2^k) per set bit of 8 len */
static uint32_t xpow8(int64_t len)
{
    pthread_once(&g_x2k_once, x2k_init);
    uint32_t z = 1u << 31;
    uint64_t n = (uint64_t)len;
    for (int k = 3; n; n >>= 1, k++)
        if (n & 1)
            z = gf2_mulmod(g_x2k[k], z);
    return z;
}

uint32_t bf_ds_crc32_combine(uint32_t a, uint32_t b, int64_t len_b)
{
    if (len_b <= 0)
        return a;
    return gf2_mulmod(xpow8(len_b), a) ^ b;
}

/* A zero byte moves the (inverted) CRC register r to r * x^8 mod P, so n of
 * them to r * x^(8n) mod P. */
uint32_t bf_ds_crc32_zeros(uint32_t crc, int64_t n)
{
    if (n <= 0)
        return crc;
    return ~gf2_mulmod(xpow8(n), ~crc);
}

/* A file this build just wrote is in the page cache: mapping it checksums
 * those pages in place instead of copying them out with pread. The file is
 * the build's own temporary (nobody truncates it), so the mapping is safe;
 * when mmap fails, pread is the fallback. The range is mapped CRC_WINDOW
 * bytes at a time: mapped file pages count as the process's resident
 * memory, and one mapping of a 5,000-symbol build's split range took a rank
 * to 2.6 GB (the build's memory bound is per rank, docs/formats.md). */
#define CRC_WINDOW ((int64_t)64 << 20)

static int crc_range_mmap(int fd, int64_t lo, int64_t hi, int64_t window, uint32_t *crc)
{
    long pg = sysconf(_SC_PAGESIZE);
    const int64_t page = pg > 0 ? pg : 4096;
    uint32_t c = 0;
    for (int64_t off = lo; off < hi;) {
        int64_t a = off - off % page, end = a + window < hi ? a + window : hi;
        size_t len = (size_t)(end - a);
        void *map = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, (off_t)a);
        if (map == MAP_FAILED)
            return 0;
        c = bf_ds_crc32(c, (const unsigned char *)map + (off - a), (size_t)(end - off));
        munmap(map, len);
        off = end;
    }
    *crc = c;
    return 1;
}

/* CRC of bytes [lo, hi) of fd by pread (hi < 0: up to the end of the file) */
static bf_status crc_pread(int fd, const char *path, int64_t lo, int64_t hi, uint32_t *crc)
{
    size_t cap = (size_t)1 << 20;
    unsigned char *buf = malloc(cap);
    if (!buf)
        return BF_FAIL(BF_ENOMEM, "out of memory checksumming '%s'", path);
    uint32_t c = 0;
    bf_status st = BF_OK;
    for (int64_t off = lo; hi < 0 || off < hi;) {
        size_t want = hi >= 0 && (size_t)(hi - off) < cap ? (size_t)(hi - off) : cap;
        ssize_t r = pread(fd, buf, want, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = bf_fail_errno(__FILE__, __LINE__, "pread", "read error on '%s'", path);
            break;
        }
        if (r == 0) {
            if (hi >= 0)
                st = BF_FAIL(BF_EIO, "'%s' shrank while being checksummed", path);
            break;
        }
        c = bf_ds_crc32(c, buf, (size_t)r);
        off += r;
    }
    free(buf);
    *crc = c;
    return st;
}

static bf_status crc_range(const char *path, int64_t lo, int64_t hi, int64_t window,
                           uint32_t *crc)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return bf_fail_errno(__FILE__, __LINE__, "open", "cannot open '%s'", path);
    bf_status st = crc_range_mmap(fd, lo, hi, window, crc) ? BF_OK
                                                           : crc_pread(fd, path, lo, hi, crc);
    close(fd);
    return st;
}

/* one thread's part of a rank's share */
typedef struct crc_part {
    const char *path;
    int64_t lo, hi, window;
    uint32_t crc;
    bf_status st;
    char msg[512];
} crc_part;

static void *crc_part_run(void *arg)
{
    crc_part *t = arg;
    t->st = crc_range(t->path, t->lo, t->hi, t->window, &t->crc);
    if (t->st != BF_OK)
        snprintf(t->msg, sizeof t->msg, "%s", bf_last_error());
    return NULL;
}

#define CRC_MAX_THREADS 16

/* CRC of [lo, hi) on up to nthreads threads (contiguous parts, combined in
 * order); parts under 4 MiB are not worth a thread */
static bf_status crc_range_threads(const char *path, int64_t lo, int64_t hi, int nthreads,
                                   uint32_t *crc)
{
    int64_t len = hi - lo;
    int nt = nthreads < 1 ? 1 : (nthreads > CRC_MAX_THREADS ? CRC_MAX_THREADS : nthreads);
    while (nt > 1 && len / nt < ((int64_t)4 << 20))
        nt--;
    if (nt == 1)
        return crc_range(path, lo, hi, CRC_WINDOW, crc);
    crc_part part[CRC_MAX_THREADS];
    pthread_t th[CRC_MAX_THREADS];
    int started[CRC_MAX_THREADS] = {0};
    for (int k = 0; k < nt; k++) {
        int64_t a = 0, b = 0;
        bf_shard_range(len, k, nt, &a, &b);
        /* the threads share CRC_WINDOW: the mapped bytes stay bounded */
        part[k] = (crc_part){path, lo + a, lo + b, CRC_WINDOW / nt, 0, BF_OK, ""};
        if (k > 0)
            started[k] = pthread_create(&th[k], NULL, crc_part_run, &part[k]) == 0;
    }
    crc_part_run(&part[0]);
    for (int k = 1; k < nt; k++) {
        if (started[k])
            pthread_join(th[k], NULL);
        else
            crc_part_run(&part[k]); /* no thread: here */
    }
    uint32_t c = 0;
    for (int k = 0; k < nt; k++) {
        if (part[k].st != BF_OK)
            return BF_FAIL(part[k].st, "%s", part[k].msg);
        c = k == 0 ? part[0].crc : bf_ds_crc32_combine(c, part[k].crc, part[k].hi - part[k].lo);
    }
    *crc = c;
    return BF_OK;
}

bf_status bf_ds_file_crc32_all_mt(const char *path, int nthreads, uint32_t *crc, int64_t *bytes)
{
    struct stat sb;
    bf_status st = BF_OK;
    if (stat(path, &sb) != 0)
        st = bf_fail_errno(__FILE__, __LINE__, "stat", "cannot stat '%s'", path);
    int64_t size = st == BF_OK ? (int64_t)sb.st_size : 0, lo = 0, hi = 0;
    bf_shard_range(size, bf_mpi_rank(), bf_mpi_size(), &lo, &hi);
    uint32_t c = 0;
    if (st == BF_OK)
        st = crc_range_threads(path, lo, hi, nthreads, &c);
    st = bf_ds_agree(st);
    if (st != BF_OK)
        return st;
    int64_t part[2] = {(int64_t)c, hi - lo}, *all = NULL, n = 0, res = 0;
    BF_TRY(bf_ds_gather_i64(part, 2, 0, &all, &n));
    if (bf_mpi_rank() == 0) {
        uint32_t acc = 0;
        for (int64_t r = 0; r < n / 2; r++)
            acc = r == 0 ? (uint32_t)all[0] : bf_ds_crc32_combine(acc, (uint32_t)all[2 * r], all[2 * r + 1]);
        res = acc;
    }
    free(all);
    BF_TRY(bf_ds_bcast_i64(&res, 1, 0));
    *crc = (uint32_t)res;
    *bytes = size;
    return BF_OK;
}

bf_status bf_ds_file_crc32(const char *path, uint32_t *crc)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return bf_fail_errno(__FILE__, __LINE__, "open", "cannot open '%s'", path);
    bf_status st = crc_pread(fd, path, 0, -1, crc);
    close(fd);
    return st;
}
