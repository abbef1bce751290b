#define _GNU_SOURCE
/* test_h5_mapped.c - bf_h5_read_into_mapped gives the same values as
 * H5Dread for every layout, and takes the mapping exactly where it may:
 *  - chunked 1-D with one chunk (a cache file's columns), chunked 2-D with a
 *    partial last chunk, contiguous: copied from the mapping;
 *  - gzip-compressed chunks: through H5Dread;
 *  - no mapping (a missing file): through H5Dread.
 */
#include "core/base/h5.h"
#include "base/test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void check_same(hid_t f, bf_h5_map *m, const char *name, bf_h5_type t, int64_t rows,
                       int64_t cols, int want_mapped)
{
    size_t es = t == BF_H5_F32 || t == BF_H5_I32 ? 4 : 8;
    void *a = calloc((size_t)(rows * cols), es), *b = calloc((size_t)(rows * cols), es);
    T_CHECK(a && b, "calloc");
    int64_t before = m->copied;
    T_CHECK(bf_h5_read_into(f, name, t, a, rows, cols) == BF_OK, "%s", bf_last_error());
    T_CHECK(bf_h5_read_into_mapped(f, m, name, t, b, rows, cols) == BF_OK, "%s",
            bf_last_error());
    T_CHECK(memcmp(a, b, (size_t)(rows * cols) * es) == 0, "%s: mapped read differs", name);
    T_EQ_I(m->copied - before, want_mapped);
    free(a);
    free(b);
}

int main(void)
{
    char path[] = "/tmp/bf_test_h5_mapped_XXXXXX";
    int fd = mkstemp(path);
    T_CHECK(fd >= 0, "mkstemp");
    close(fd);
    hid_t f;
    T_CHECK(bf_h5_create(path, &f) == BF_OK, "%s", bf_last_error());
    enum { N = 5003, C = 7 };
    double *v = malloc(N * sizeof *v);
    float *x = malloc((size_t)N * C * sizeof *x);
    for (int i = 0; i < N; i++)
        v[i] = 1000.0 + 0.25 * i - (i % 7) * 1e-3;
    for (int i = 0; i < N * C; i++)
        x[i] = (float)(i % 977) - 488.5f;
    /* one chunk of N rows (as cache files are written) */
    T_CHECK(bf_h5_create_dataset(f, "one", BF_H5_F64, N, 1, N, 0) == BF_OK, "%s", bf_last_error());
    T_CHECK(bf_h5_write_rows(f, "one", BF_H5_F64, 0, N, 1, v, 0) == BF_OK, "%s", bf_last_error());
    /* 2-D, chunks of 1000 rows: the last one partial */
    T_CHECK(bf_h5_create_dataset(f, "rows", BF_H5_F32, N, C, 1000, 0) == BF_OK, "%s",
            bf_last_error());
    T_CHECK(bf_h5_write_rows(f, "rows", BF_H5_F32, 0, N, C, x, 0) == BF_OK, "%s", bf_last_error());
    /* compressed */
    T_CHECK(bf_h5_write(f, "gz", BF_H5_F32, x, N, C, 4) == BF_OK, "%s", bf_last_error());
    /* contiguous (HDF5's default layout) */
    hsize_t dims[1] = {N};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t ds = H5Dcreate2(f, "contig", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    T_CHECK(ds >= 0 && H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0,
            "contiguous dataset");
    H5Dclose(ds);
    H5Sclose(sp);
    T_CHECK(bf_h5_close(f) == BF_OK, "%s", bf_last_error());

    T_CHECK(bf_h5_open(path, 0, &f) == BF_OK, "%s", bf_last_error());
    bf_h5_map m;
    bf_h5_map_open(path, f, &m);
    T_CHECK(m.base != NULL, "the file was not mapped");
    check_same(f, &m, "one", BF_H5_F64, N, 1, 1);
    check_same(f, &m, "rows", BF_H5_F32, N, C, 1);
    check_same(f, &m, "contig", BF_H5_F64, N, 1, 1);
    check_same(f, &m, "gz", BF_H5_F32, N, C, 0);
    bf_h5_map_close(&m);
    bf_h5_map none;
    bf_h5_map_open("/tmp/bf_no_such_file_h5_mapped.h5", f, &none);
    T_CHECK(none.base == NULL, "a missing file was mapped");
    check_same(f, &none, "rows", BF_H5_F32, N, C, 0);
    bf_h5_close(f);
    unlink(path);
    free(v);
    free(x);
    return bf_test_done("test_h5_mapped");
}
