/* test_h5_mpi.c - under mpirun -n 2: both ranks write disjoint row ranges of
 * one dataset collectively (offsets from an exclusive scan, rank 1 writing
 * more rows than rank 0, and a rank with zero rows in a second dataset);
 * rank 0 reads the file back serially and compares every element. */
#include "core/base/h5.h"
#include "dist/mpi_env.h"
#include "test_util.h"

#include <stdlib.h>

int main(int argc, char **argv)
{
    bf_mpi m;
    if (bf_mpi_init(&argc, &argv, &m) != BF_OK) {
        fprintf(stderr, "%s\n", bf_last_error());
        return 1;
    }
    if (m.size < 2)
        fprintf(stderr, "note: run under mpirun -n 2 to exercise collective writes\n");
    const int cols = 5;
    int64_t mine = 100 + 37 * m.rank; /* unequal shares */
    int64_t off = 0, total = mine;
    T_CHECK(bf_exscan_i64(mine, &off) == BF_OK, "exscan");
    T_CHECK(bf_allreduce_sum_i64(&total, 1) == BF_OK, "allreduce");
    float *X = malloc(sizeof(float) * (size_t)(mine * cols));
    int64_t *ts = malloc(sizeof(int64_t) * (size_t)mine);
    for (int64_t i = 0; i < mine; i++) {
        for (int c = 0; c < cols; c++)
            X[i * cols + c] = (float)((off + i) * 10 + c);
        ts[i] = 1000 + off + i;
    }
    const char *path = "/tmp/bf_test_h5_mpi.h5";
    hid_t f;
    T_CHECK(bf_h5_create_parallel(path, &f) == BF_OK, "create parallel: %s", bf_last_error());
    T_CHECK(bf_h5_create_dataset(f, "X", BF_H5_F32, total, cols, 64, 0) == BF_OK, "create X: %s", bf_last_error());
    T_CHECK(bf_h5_create_dataset(f, "ts", BF_H5_I64, total, 1, 0, 0) == BF_OK, "create ts");
    T_CHECK(bf_h5_create_dataset(f, "only0", BF_H5_I64, 3, 1, 0, 0) == BF_OK, "create only0");
    T_CHECK(bf_h5_create_dataset(f, "Xz", BF_H5_F32, total, cols, 0, 6) == BF_EINVAL,
            "compression with parallel writes was accepted");
    T_CHECK(bf_h5_write_rows(f, "X", BF_H5_F32, off, mine, cols, X, 1) == BF_OK, "write X: %s", bf_last_error());
    T_CHECK(bf_h5_write_rows(f, "ts", BF_H5_I64, off, mine, 1, ts, 1) == BF_OK, "write ts");
    int64_t three[3] = {7, 8, 9};
    T_CHECK(bf_h5_write_rows(f, "only0", BF_H5_I64, 0, m.rank == 0 ? 3 : 0, 1, three, 1) == BF_OK,
            "zero-row rank: %s", bf_last_error());
    /* attributes on a parallel file are written collectively by every rank */
    T_CHECK(bf_h5_attr_set_i64(f, "/", "rows", total) == BF_OK, "attr: %s", bf_last_error());
    T_CHECK(bf_h5_close(f) == BF_OK, "close");
    bf_barrier();
    if (m.rank == 0) {
        hid_t g;
        T_CHECK(bf_h5_open(path, 0, &g) == BF_OK, "reopen: %s", bf_last_error());
        float *Xb = NULL;
        int64_t r, c;
        T_CHECK(bf_h5_read_alloc(g, "X", BF_H5_F32, (void **)&Xb, &r, &c) == BF_OK, "read");
        T_CHECK(r == total && c == cols, "shape %lld x %lld, expected %lld x %d", (long long)r,
                (long long)c, (long long)total, cols);
        int64_t bad = 0;
        for (int64_t i = 0; Xb && i < r; i++)
            for (int k = 0; k < cols; k++)
                if (Xb[i * cols + k] != (float)(i * 10 + k))
                    bad++;
        T_CHECK(bad == 0, "%lld elements differ", (long long)bad);
        free(Xb);
        int64_t *tb = NULL;
        T_CHECK(bf_h5_read_alloc(g, "ts", BF_H5_I64, (void **)&tb, &r, &c) == BF_OK, "read ts");
        for (int64_t i = 0; tb && i < r; i++)
            T_CHECK(tb[i] == 1000 + i, "ts[%lld] = %lld", (long long)i, (long long)tb[i]);
        free(tb);
        int64_t o3[3];
        T_CHECK(bf_h5_read_into(g, "only0", BF_H5_I64, o3, 3, 1) == BF_OK && o3[2] == 9, "only0");
        int64_t rows_attr = 0;
        T_CHECK(bf_h5_attr_get_i64(g, "/", "rows", &rows_attr) == BF_OK && rows_attr == total,
                "rows attribute %lld", (long long)rows_attr);
        bf_h5_close(g);
        remove(path);
    }
    free(X);
    free(ts);
    int fails = bf_test_failures;
    int64_t allf = fails;
    bf_allreduce_sum_i64(&allf, 1);
    bf_mpi_finalize(&m);
    bf_test_failures = (int)allf;
    return bf_test_done("test_h5_mpi");
}
