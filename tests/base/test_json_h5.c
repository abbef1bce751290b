/* test_json_h5.c - JSON round trips and error messages; serial HDF5
 * datasets, row reads and attributes; crash-safe file helpers. */
#define _GNU_SOURCE
#include "core/base/fsutil.h"
#include "core/base/h5.h"
#include "core/base/json.h"
#include "test_util.h"

#include <stdlib.h>
#include <unistd.h>

static void test_json(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/a.json", dir);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", "barforge \"q\" \\ \n");
    cJSON_AddNumberToObject(o, "n", 123456789012.0);
    cJSON_AddNumberToObject(o, "x", 0.1);
    cJSON *arr = cJSON_AddArrayToObject(o, "h");
    for (int i = 1; i <= 3; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(i));
    T_CHECK(bf_json_save(path, o) == BF_OK, "save: %s", bf_last_error());
    cJSON *back = NULL;
    T_CHECK(bf_json_load(path, &back) == BF_OK, "load: %s", bf_last_error());
    T_CHECK(cJSON_Compare(o, back, 1), "round trip differs");
    const char *s;
    int64_t n;
    double x;
    T_CHECK(bf_json_get_str(back, "name", "a.json", &s) == BF_OK, "get_str");
    T_EQ_S(s, "barforge \"q\" \\ \n");
    T_CHECK(bf_json_get_int(back, "n", "a.json", &n) == BF_OK && n == 123456789012LL, "get_int");
    T_CHECK(bf_json_get_num(back, "x", "a.json", &x) == BF_OK && x == 0.1, "get_num");
    T_CHECK(bf_json_get_int(back, "x", "a.json", &n) == BF_ECORRUPT, "0.1 accepted as integer");
    T_CONTAINS(bf_last_error(), "'x' must be an integer");
    T_CHECK(bf_json_get_str(back, "missing", "a.json", &s) == BF_ECORRUPT, "missing key accepted");
    T_CONTAINS(bf_last_error(), "missing key 'missing'");
    T_CHECK(bf_json_opt_int(back, "absent", "a.json", 7, &n) == BF_OK && n == 7, "opt default");
    T_CHECK(bf_json_opt_int(back, "name", "a.json", 7, &n) == BF_ECORRUPT, "opt wrong type accepted");
    cJSON_Delete(back);
    cJSON_Delete(o);

    cJSON *bad = NULL;
    T_CHECK(bf_json_parse("{\"a\": [1, 2,, 3]}", "inline", &bad) == BF_ECORRUPT, "malformed accepted");
    T_CONTAINS(bf_last_error(), "malformed JSON near byte");
    T_CHECK(bf_json_parse("{\"a\": 1} trailing", "inline", &bad) == BF_ECORRUPT, "trailing accepted");
    snprintf(path, sizeof path, "%s/nope.json", dir);
    T_CHECK(bf_json_load(path, &bad) == BF_ENOTFOUND, "missing file status");
}

static void test_h5(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/t.h5", dir);
    hid_t f;
    T_CHECK(bf_h5_create(path, &f) == BF_OK, "create: %s", bf_last_error());
    float X[6 * 3];
    int64_t ts[6];
    for (int i = 0; i < 18; i++)
        X[i] = (float)i * 0.5f;
    for (int i = 0; i < 6; i++)
        ts[i] = 1704205800LL + 900 * i;
    T_CHECK(bf_h5_write(f, "/data/X", BF_H5_F32, X, 6, 3, 4) == BF_OK, "write X: %s", bf_last_error());
    T_CHECK(bf_h5_write(f, "ts", BF_H5_I64, ts, 6, 1, 0) == BF_OK, "write ts");
    T_CHECK(bf_h5_write(f, "empty", BF_H5_I32, NULL, 0, 1, 0) == BF_OK, "write empty: %s", bf_last_error());
    T_CHECK(bf_h5_attr_set_str(f, "/", "version", "v2026-11-27") == BF_OK, "attr str");
    T_CHECK(bf_h5_attr_set_i64(f, "/data/X", "rows", 6) == BF_OK, "attr i64");
    T_CHECK(bf_h5_attr_set_f64(f, "/data", "scale", 2.5) == BF_OK, "attr f64");
    T_CHECK(bf_h5_attr_set_i64(f, "/data/X", "rows", 7) == BF_OK, "attr overwrite");
    T_CHECK(bf_h5_close(f) == BF_OK, "close");

    T_CHECK(bf_h5_open(path, 0, &f) == BF_OK, "open: %s", bf_last_error());
    float *Xb = NULL;
    int64_t r, c;
    T_CHECK(bf_h5_read_alloc(f, "/data/X", BF_H5_F32, (void **)&Xb, &r, &c) == BF_OK, "read X");
    T_CHECK(r == 6 && c == 3, "shape %lld x %lld", (long long)r, (long long)c);
    for (int i = 0; Xb && i < 18; i++)
        T_CHECK(Xb[i] == X[i], "X[%d] = %g, expected %g", i, Xb[i], X[i]);
    free(Xb);
    float rows[2 * 3];
    T_CHECK(bf_h5_read_rows(f, "/data/X", BF_H5_F32, 2, 2, rows) == BF_OK, "read rows");
    T_CHECK(rows[0] == X[6] && rows[5] == X[11], "rows 2..3 differ: %g %g", rows[0], rows[5]);
    T_CHECK(bf_h5_read_rows(f, "/data/X", BF_H5_F32, 5, 2, rows) == BF_EINVAL, "out of range rows accepted");
    int64_t tb[6];
    T_CHECK(bf_h5_read_into(f, "ts", BF_H5_I64, tb, 6, 1) == BF_OK, "read ts");
    T_EQ_I(tb[5], ts[5]);
    T_CHECK(bf_h5_read_into(f, "ts", BF_H5_F64, tb, 6, 1) == BF_ECORRUPT, "type mismatch accepted");
    T_CHECK(bf_h5_read_into(f, "ts", BF_H5_I64, tb, 5, 1) == BF_ECORRUPT, "shape mismatch accepted");
    T_CHECK(bf_h5_shape(f, "nope", &r, &c) == BF_ENOTFOUND, "missing dataset");
    T_CONTAINS(bf_last_error(), "'nope' missing");
    char *s = NULL;
    int64_t iv;
    double dv;
    T_CHECK(bf_h5_attr_get_str(f, "/", "version", &s) == BF_OK && s && !strcmp(s, "v2026-11-27"), "attr str back");
    free(s);
    T_CHECK(bf_h5_attr_get_i64(f, "/data/X", "rows", &iv) == BF_OK && iv == 7, "attr i64 back %lld", (long long)iv);
    T_CHECK(bf_h5_attr_get_f64(f, "/data", "scale", &dv) == BF_OK && dv == 2.5, "attr f64 back");
    T_CHECK(bf_h5_attr_get_i64(f, "/", "absent", &iv) == BF_ENOTFOUND, "absent attr");
    T_CHECK(bf_h5_exists(f, "/data/X") && !bf_h5_exists(f, "/nope/X"), "exists");
    bf_h5_close(f);

    /* truncated file: reported as corrupt, never crashes */
    char trunc[512];
    snprintf(trunc, sizeof trunc, "%s/trunc.h5", dir);
    char *bytes;
    size_t nb;
    T_CHECK(bf_read_file(path, &bytes, &nb) == BF_OK, "read bytes");
    bf_write_file_atomic(trunc, bytes, nb / 3);
    free(bytes);
    bf_status st = bf_h5_open(trunc, 0, &f);
    if (st == BF_OK) { /* superblock survived: the data read must fail instead */
        float *Xt = NULL;
        st = bf_h5_read_alloc(f, "/data/X", BF_H5_F32, (void **)&Xt, &r, &c);
        free(Xt);
        bf_h5_close(f);
    }
    T_CHECK(st == BF_ECORRUPT || st == BF_ENOTFOUND, "truncated file read as OK (status %d)", st);
    T_CHECK(bf_h5_open("/nonexistent/x.h5", 0, &f) == BF_ENOTFOUND, "missing file status");
}

static void test_fs(const char *dir)
{
    char p[512], q[600];
    snprintf(p, sizeof p, "%s/a/b/c", dir);
    T_CHECK(bf_mkdir_p(p) == BF_OK && bf_is_dir(p), "mkdir -p: %s", bf_last_error());
    snprintf(q, sizeof q, "%s/file.txt", p);
    T_CHECK(bf_write_file_atomic(q, "hello", 5) == BF_OK, "atomic write");
    char *d;
    size_t n;
    T_CHECK(bf_read_file(q, &d, &n) == BF_OK && n == 5 && !memcmp(d, "hello", 5), "read back");
    free(d);
    T_EQ_I(bf_crc32(0, "123456789", 9), 0xCBF43926u); /* the standard CRC-32 check value */
    uint32_t c;
    T_CHECK(bf_file_crc32(q, &c) == BF_OK && c == bf_crc32(0, "hello", 5), "file crc");
    char link[600];
    snprintf(link, sizeof link, "%s/cur", dir);
    T_CHECK(bf_symlink_atomic("a", link) == BF_OK, "symlink");
    T_CHECK(bf_symlink_atomic("a/b", link) == BF_OK, "symlink replace");
    char target[64] = {0};
    T_CHECK(readlink(link, target, sizeof target - 1) > 0 && !strcmp(target, "a/b"), "link -> %s", target);
    snprintf(q, sizeof q, "%s/file.txt/x", p);
    T_CHECK(bf_mkdir_p(q) != BF_OK, "mkdir under a file succeeded");
}

int main(void)
{
    char dir[] = "/tmp/bf_test_json_h5_XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    test_json(dir);
    test_h5(dir);
    /* this process never started MPI (a world of one without it): parallel
     * files are refused with a message, not a crash inside MPI-IO */
    char pp[600];
    snprintf(pp, sizeof pp, "%s/par.h5", dir);
    hid_t pf = -1;
    T_EQ_I(bf_h5_create_parallel(pp, &pf), BF_EINVAL);
    T_CONTAINS(bf_last_error(), "parallel HDF5 needs MPI");
    T_EQ_I(bf_h5_open_parallel(pp, &pf), BF_EINVAL);
    test_fs(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", dir);
    return bf_test_done("test_json_h5");
}
