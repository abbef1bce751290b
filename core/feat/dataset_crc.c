#define _GNU_SOURCE
/* dataset_crc.c - see dataset_crc.h. */
#include "core/feat/dataset_crc.h"

#include "core/feat/dataset_io.h"
#include "dist/mpi_env.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
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

uint32_t bf_ds_crc32(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&g_crc8_once, crc8_init);
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

/* CRC-32 is linear over GF(2): appending n zero bits to a message maps its
 * CRC through a 32x32 bit matrix; crc(A||B) = zeros(len B) applied to crc(A),
 * xor crc(B). Matrices are columns of 32-bit words; squaring doubles the
 * number of zero bits. */
static uint32_t gf2_times(const uint32_t *mat, uint32_t v)
{
    uint32_t sum = 0;
    for (int i = 0; v; i++, v >>= 1)
        if (v & 1)
            sum ^= mat[i];
    return sum;
}

static void gf2_square(uint32_t *sq, const uint32_t *mat)
{
    for (int i = 0; i < 32; i++)
        sq[i] = gf2_times(mat, mat[i]);
}

uint32_t bf_ds_crc32_combine(uint32_t a, uint32_t b, int64_t len_b)
{
    if (len_b <= 0)
        return a;
    uint32_t op[32], sq[32];
    op[0] = 0xEDB88320u; /* one zero bit: shift, xor the polynomial when bit 0 was set */
    for (int i = 1; i < 32; i++)
        op[i] = 1u << (i - 1);
    gf2_square(sq, op); /* 2 bits */
    gf2_square(op, sq); /* 4 bits */
    uint64_t n = (uint64_t)len_b;
    for (;;) { /* op: 4 bits -> square -> 8 bits (one byte), 16, 32 ... */
        gf2_square(sq, op);
        if (n & 1)
            a = gf2_times(sq, a);
        n >>= 1;
        if (!n)
            break;
        gf2_square(op, sq);
        if (n & 1)
            a = gf2_times(op, a);
        n >>= 1;
        if (!n)
            break;
    }
    return a ^ b;
}

static bf_status crc_range(const char *path, int64_t lo, int64_t hi, uint32_t *crc)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return bf_fail_errno(__FILE__, __LINE__, "open", "cannot open '%s'", path);
    size_t cap = (size_t)1 << 20;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return BF_FAIL(BF_ENOMEM, "out of memory checksumming '%s'", path);
    }
    uint32_t c = 0;
    bf_status st = BF_OK;
    for (int64_t off = lo; off < hi;) {
        size_t want = (size_t)(hi - off) < cap ? (size_t)(hi - off) : cap;
        ssize_t r = pread(fd, buf, want, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            st = r < 0 ? bf_fail_errno(__FILE__, __LINE__, "pread", "read error on '%s'", path)
                       : BF_FAIL(BF_EIO, "'%s' shrank while being checksummed", path);
            break;
        }
        c = bf_ds_crc32(c, buf, (size_t)r);
        off += r;
    }
    free(buf);
    close(fd);
    *crc = c;
    return st;
}

bf_status bf_ds_file_crc32_all(const char *path, uint32_t *crc, int64_t *bytes)
{
    struct stat sb;
    bf_status st = BF_OK;
    if (stat(path, &sb) != 0)
        st = bf_fail_errno(__FILE__, __LINE__, "stat", "cannot stat '%s'", path);
    int64_t size = st == BF_OK ? (int64_t)sb.st_size : 0, lo = 0, hi = 0;
    bf_shard_range(size, bf_mpi_rank(), bf_mpi_size(), &lo, &hi);
    uint32_t c = 0;
    if (st == BF_OK)
        st = crc_range(path, lo, hi, &c);
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
    size_t cap = (size_t)1 << 20;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return BF_FAIL(BF_ENOMEM, "out of memory checksumming '%s'", path);
    }
    uint32_t c = 0;
    bf_status st = BF_OK;
    for (;;) {
        ssize_t r = read(fd, buf, cap);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = bf_fail_errno(__FILE__, __LINE__, "read", "read error on '%s'", path);
            break;
        }
        if (r == 0)
            break;
        c = bf_ds_crc32(c, buf, (size_t)r);
    }
    free(buf);
    close(fd);
    *crc = c;
    return st;
}
