/* test_splitfile_crc.c - a growable split file's CRC-32, computed at
 * bf_splitfile_finish from the logged write extents and the bytes between
 * them (the holes among those are not read: SEEK_DATA / SEEK_HOLE), equals
 * the CRC-32 of the whole file read back:
 *  - rows written in two runs with unwritten rows between them and after
 *    them (the chunks' unwritten parts are holes where the file system has
 *    them);
 *  - bytes written into an unwritten part without being logged (data
 *    inside what would otherwise be a hole, which must be read);
 *  - the file's chunks are grown twice, so HDF5's metadata lies between
 *    chunks too.
 * Says whether the file system here reported holes.
 */
#define _GNU_SOURCE
#include "core/feat/dataset_crc.h"
#include "core/feat/dataset_io.h"
#include "dist/mpi_env.h"
#include "base/test_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void fill(float *X, float *y, int64_t *ts, int64_t n, int F, int H, int64_t seed)
{
    for (int64_t i = 0; i < n; i++) {
        for (int f = 0; f < F; f++)
            X[i * F + f] = (float)((seed + i) * 31 + f) * 0.25f;
        for (int h = 0; h < H; h++)
            y[i * H + h] = (float)(seed - i - h) * 0.5f;
        ts[i] = 1700000000 + (seed + i) * 900;
    }
}

int main(int argc, char **argv)
{
    bf_mpi m;
    if (bf_mpi_init(&argc, &argv, &m) != BF_OK)
        return 1;
    bf_feat_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.n_intervals = 1;
    spec.interval_s[0] = 900;
    spec.n_horizons = 2;
    spec.horizons[0] = 1;
    spec.horizons[1] = 4;
    const int F = bf_feat_count(&spec), H = spec.n_horizons;
    char dir[] = "/tmp/bf_test_sfcrc_XXXXXX";
    T_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256];
    snprintf(path, sizeof path, "%s/train.h5", dir);
    const int64_t n = 60000;
    float *X = malloc((size_t)n * F * sizeof *X), *y = malloc((size_t)n * H * sizeof *y);
    int64_t *ts = malloc((size_t)n * sizeof *ts);
    T_CHECK(X && y && ts, "malloc");
    fill(X, y, ts, n, F, H, 7);

    bf_split_file sf;
    T_CHECK(bf_splitfile_create_growable(&sf, path, 50000, F, H, "train", &spec, 1, 3) == BF_OK,
            "create: %s", bf_last_error());
    /* two growths: chunks, then metadata, then more chunks */
    T_CHECK(bf_splitfile_grow(&sf, 20000) == BF_OK, "grow: %s", bf_last_error());
    T_CHECK(bf_splitfile_pwrite(&sf, 0, 15000, X, y, 2, ts) == BF_OK, "pwrite: %s",
            bf_last_error());
    T_CHECK(bf_splitfile_grow(&sf, 90000) == BF_OK, "grow: %s", bf_last_error());
    T_CHECK(bf_splitfile_capacity(&sf) >= 90000, "capacity %lld",
            (long long)bf_splitfile_capacity(&sf));
    /* rows [15000, 30000) never written; [30000, 60000) written */
    T_CHECK(bf_splitfile_pwrite(&sf, 30000, 30000, X + 30000 * F, y + 30000 * H, 5,
                                ts + 30000) == BF_OK,
            "pwrite: %s", bf_last_error());
    /* bytes no extent logs, inside X's unwritten rows: read back, not taken
     * for a hole */
    const char junk[] = "bytes that no extent logs";
    int64_t r = 20000, cr = sf.chunk_rows[0];
    off_t at = (off_t)(sf.addr[0][r / cr] + (r % cr) * F * 4);
    T_CHECK(pwrite(sf.fd, junk, sizeof junk, at) == (ssize_t)sizeof junk, "pwrite junk");
    T_CHECK(bf_splitfile_finish(&sf, 60000) == BF_OK, "finish: %s", bf_last_error());
    T_CHECK(sf.crc_known, "the CRC is known from the extents");
    uint32_t crc = sf.file_crc;
    int64_t bytes = sf.file_bytes;
    T_CHECK(bf_splitfile_close_direct(&sf) == BF_OK, "close: %s", bf_last_error());

    uint32_t want = 0;
    T_CHECK(bf_ds_file_crc32(path, &want) == BF_OK, "read back: %s", bf_last_error());
    struct stat sb;
    T_CHECK(stat(path, &sb) == 0, "stat");
    T_EQ_I(bytes, (int64_t)sb.st_size);
    T_CHECK(crc == want, "CRC from the extents %08x, of the file %08x", crc, want);
    int fd = open(path, O_RDONLY);
    T_CHECK(fd >= 0, "open");
    off_t hole = lseek(fd, 0, SEEK_HOLE);
    close(fd);
    printf("test_splitfile_crc: %lld bytes, %s\n", (long long)sb.st_size,
           hole >= 0 && hole < sb.st_size ? "with holes (not read)"
                                          : "no holes reported here (all read)");
    unlink(path);
    rmdir(dir);
    free(X);
    free(y);
    free(ts);
    bf_mpi_finalize(&m);
    return bf_test_done("test_splitfile_crc");
}
