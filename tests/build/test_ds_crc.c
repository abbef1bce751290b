/* test_ds_crc.c - the dataset CRC-32 (carry-less multiplication where the CPU
 * has it, tables otherwise) equals the byte-at-a-time CRC-32 of
 * core/base/fsutil.h for every length 0..700 and a sample up to 1 MiB, at
 * every alignment 0..7 and with non-zero starting values, for each
 * implementation the CPU has (tables, PCLMULQDQ, VPCLMULQDQ); and a file's
 * CRC through bf_ds_file_crc32_all_mt (mmap), on 1-4 threads,
 * equals bf_ds_file_crc32 (read).
 */
#define _GNU_SOURCE
#include "core/base/fsutil.h"
#include "core/feat/dataset_crc.h"
#include "dist/mpi_env.h"
#include "base/test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    bf_mpi m;
    if (bf_mpi_init(&argc, &argv, &m) != BF_OK)
        return 1;
    size_t N = (size_t)1 << 20;
    unsigned char *b = malloc(N + 8);
    T_CHECK(b != NULL, "malloc");
    for (size_t i = 0; i < N + 8; i++)
        b[i] = (unsigned char)((i * 2654435761u) >> 13);
    static const char *impl_name[3] = {"tables", "PCLMULQDQ", "VPCLMULQDQ"};
    for (int impl = 0; impl < 3; impl++) {
        if (!bf_ds_crc32_impl(impl)) {
            printf("test_ds_crc: %s: not on this CPU, skipped\n", impl_name[impl]);
            continue;
        }
        int bad = 0;
        for (size_t n = 0; n <= N; n = n < 2100 ? n + 1 : n * 3 / 2 + 13) {
            for (size_t off = 0; off < 8; off++) {
                uint32_t init = (uint32_t)(n * 7919u + off * 104729u);
                uint32_t got = bf_ds_crc32(init, b + off, n), want = bf_crc32(init, b + off, n);
                if (got != want && bad++ < 5)
                    fprintf(stderr, "%s: length %zu offset %zu init %08x: %08x, expected %08x\n",
                            impl_name[impl], n, off, init, got, want);
            }
        }
        T_CHECK(bad == 0, "%s: %d CRC mismatches", impl_name[impl], bad);
        T_EQ_I(bf_ds_crc32(0, "123456789", 9), 0xCBF43926u);
    }
    char path[] = "/tmp/bf_test_ds_crc_XXXXXX";
    int fd = mkstemp(path);
    T_CHECK(fd >= 0, "mkstemp");
    size_t len = N - 12345;
    T_CHECK(write(fd, b + 3, len) == (ssize_t)len, "write");
    close(fd);
    uint32_t c_read = 0, c_all = 0;
    int64_t bytes = 0;
    T_CHECK(bf_ds_file_crc32(path, &c_read) == BF_OK, "bf_ds_file_crc32: %s", bf_last_error());
    T_CHECK(bf_ds_file_crc32_all_mt(path, 1, &c_all, &bytes) == BF_OK, "crc32_all: %s",
            bf_last_error());
    unlink(path);
    T_EQ_I(c_read, bf_crc32(0, b + 3, len));
    T_EQ_I(c_all, c_read);
    T_EQ_I(bytes, (int64_t)len);
    /* the threaded file CRC: 4 MiB parts at least, so a 13 MiB file takes 3 */
    size_t big = ((size_t)13 << 20) + 77;
    unsigned char *bb = malloc(big);
    T_CHECK(bb != NULL, "malloc");
    for (size_t i = 0; i < big; i++)
        bb[i] = (unsigned char)((i * 40503u) >> 7);
    char path2[] = "/tmp/bf_test_ds_crc_XXXXXX";
    fd = mkstemp(path2);
    T_CHECK(fd >= 0 && write(fd, bb, big) == (ssize_t)big, "write");
    close(fd);
    for (int nt = 1; nt <= 4; nt++) {
        uint32_t c = 0;
        T_CHECK(bf_ds_file_crc32_all_mt(path2, nt, &c, &bytes) == BF_OK, "crc32_all_mt: %s",
                bf_last_error());
        T_EQ_I(c, bf_crc32(0, bb, big));
        T_EQ_I(bytes, (int64_t)big);
    }
    unlink(path2);
    free(bb);
    free(b);
    bf_mpi_finalize(&m);
    return bf_test_done("test_ds_crc");
}
