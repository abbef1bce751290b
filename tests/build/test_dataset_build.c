/* test_dataset_build.c - one-rank master build on a small cache, read back
 * through the dataset reader:
 *  - shapes, row order (sym_id, then ts), split boundaries, finite X and y,
 *    meta fields the reader exposes;
 *  - a second build gets the -2 suffix, moves `master`, leaves the first;
 *  - the reader refuses a split file whose bytes changed (checksum) and a
 *    meta.json with another schema version;
 *  - bad input: a symbol missing from the cache and a range the cache does
 *    not cover are named in the error; too short a history is a clear error;
 *    nothing is published by a failed build.
 */
#define _GNU_SOURCE
#include "build/build_testutil.h"
#include "core/base/fsutil.h"
#include "core/base/timeutil.h"
#include "core/base/json.h"
#include "core/feat/dataset.h"
#include "core/feat/dataset_build.h"
#include "core/feat/dataset_io.h"
#include "dist/mpi_env.h"
#include "base/test_util.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_root[512], g_cache[600], g_ds[600];
static const char *g_syms[] = {"MSFT", "AAPL", "IBM", "KO"}; /* unsorted on purpose */
static const char *g_prov[] = {"alpaca", "synthetic"};

static void opts(bf_build_opts *o, const char *root)
{
    bf_build_opts_defaults(o);
    o->symbols = g_syms;
    o->n_symbols = 4;
    o->providers = g_prov;
    o->n_providers = 2;
    o->cache_dir = g_cache;
    o->datasets_root = root;
    o->today = 1717243200; /* 2024-06-01: version names are fixed */
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void check_split(const bf_build_result *res, int k, const char *split)
{
    bf_dataset d;
    bf_status st = bf_dataset_open(g_ds, split, &d);
    T_CHECK(st == BF_OK, "open %s: %s", split, bf_last_error());
    if (st != BF_OK)
        return;
    T_EQ_I(d.n, res->rows[k]);
    T_EQ_I(d.F, 33);
    T_EQ_I(d.H, 3);
    T_EQ_S(d.meta.version, res->version);
    T_EQ_I(d.meta.n_symbols, 4);
    T_EQ_S(d.meta.symbols[0], "AAPL");
    T_EQ_S(d.meta.symbols[3], "MSFT");
    T_EQ_I(d.meta.target_index, 1);
    T_EQ_I(d.meta.horizons[d.meta.target_index], 4);
    T_EQ_S(d.meta.feature_names[3], "close@base");
    T_EQ_I(d.meta.purge_bars, 64 - 1 + 8);
    int64_t bad_order = 0, bad_split = 0, nonfinite = 0;
    for (int64_t i = 0; i < d.n; i++) {
        if (i > 0 && (d.sym_id[i] < d.sym_id[i - 1] ||
                      (d.sym_id[i] == d.sym_id[i - 1] && d.ts[i] <= d.ts[i - 1])))
            bad_order++;
        int64_t t = d.ts[i];
        int ok = k == 0 ? t < d.meta.val_start
                        : (k == 1 ? t >= d.meta.val_start && t < d.meta.test_start
                                  : t >= d.meta.test_start);
        bad_split += !ok;
        for (int j = 0; j < d.F; j++)
            nonfinite += !isfinite(d.X[i * d.F + j]);
        for (int j = 0; j < d.H; j++)
            nonfinite += !isfinite(d.y[i * d.H + j]);
    }
    T_CHECK(bad_order == 0, "%s: %lld rows out of (sym_id, ts) order", split, (long long)bad_order);
    T_CHECK(bad_split == 0, "%s: %lld rows outside the split's time range", split,
            (long long)bad_split);
    T_CHECK(nonfinite == 0, "%s: %lld non-finite values in X/y", split, (long long)nonfinite);
    T_CHECK(d.n > 0, "%s is empty", split);
    bf_dataset_free(&d);
}

static void corrupt_byte(const char *path, long at)
{
    FILE *f = fopen(path, "r+b");
    T_CHECK(f != NULL, "open %s", path);
    if (!f)
        return;
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

/* crc(A || B) from crc(A), crc(B), len(B), for lengths around the edge cases */
static void check_crc_combine(void)
{
    static unsigned char buf[70000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 2654435761u >> 13);
    T_EQ_I(bf_ds_crc32(0, "123456789", 9), 0xCBF43926u); /* the CRC-32 check value */
    T_EQ_I(bf_ds_crc32(0, buf, sizeof buf), bf_crc32(0, buf, sizeof buf));
    const size_t cuts[][2] = {{0, 0}, {0, 5}, {5, 0}, {1, 1}, {7, 9}, {4096, 1}, {3, 65536},
                              {33333, 36667}};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        size_t a = cuts[k][0], b = cuts[k][1];
        uint32_t whole = bf_ds_crc32(0, buf, a + b);
        uint32_t comb = bf_ds_crc32_combine(bf_ds_crc32(0, buf, a), bf_ds_crc32(0, buf + a, b),
                                            (int64_t)b);
        T_CHECK(whole == comb, "combine(%zu, %zu): %08x != %08x", a, b, comb, whole);
    }
    /* zero runs without the bytes, from several registers, against the
     * bytes themselves (holes in split files are checksummed so) */
    {
        static unsigned char zero[(1 << 20) + 7];
        const int64_t zl[] = {0, 1, 7, 8, 4096, 65537, (1 << 20) + 7};
        const uint32_t seeds[] = {0, 0xCBF43926u, 0xFFFFFFFFu, 0x12345678u};
        for (size_t k = 0; k < sizeof zl / sizeof zl[0]; k++)
            for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
                uint32_t want = bf_ds_crc32(seeds[s], zero, (size_t)zl[k]);
                uint32_t got = bf_ds_crc32_zeros(seeds[s], zl[k]);
                T_CHECK(want == got, "zeros(%08x, %lld): %08x != %08x", seeds[s],
                        (long long)zl[k], got, want);
            }
    }
    /* lengths of a chunk and beyond (every bit of 8 len up to 2^26) */
    const size_t big = (size_t)5 << 20;
    unsigned char *buf2 = malloc(big);
    T_CHECK(buf2 != NULL, "out of memory");
    if (buf2) {
        for (size_t i = 0; i < big; i++)
            buf2[i] = (unsigned char)(i * 2246822519u >> 11);
        const size_t bcuts[][2] = {{12345, big - 12345}, {big - 1, 1}, {1, big - 1},
                                   {1 << 20, 1 << 22}};
        for (size_t k = 0; k < sizeof bcuts / sizeof bcuts[0]; k++) {
            size_t a = bcuts[k][0], b = bcuts[k][1];
            uint32_t whole = bf_ds_crc32(0, buf2, a + b);
            uint32_t comb = bf_ds_crc32_combine(bf_ds_crc32(0, buf2, a),
                                                bf_ds_crc32(0, buf2 + a, b), (int64_t)b);
            T_CHECK(whole == comb, "combine(%zu, %zu): %08x != %08x", a, b, comb, whole);
        }
        free(buf2);
    }
}

/* The ways a one-rank master build can go, on the same cache, must give
 * bit-identical datasets and scalers:
 *   variant 0: the default: rows written in pass 1 (one pass) when the
 *              boundaries guessed from the first symbols hold, else two
 *              passes;
 *   variant 1: two passes, every scaler fitted in pass 2;
 *   variant 2: two passes with the fits made in pass 1 (redone where the
 *              final boundaries give other train rows);
 *   variant 3: as 2 with a memory budget that keeps no rows: pass 2 reads
 *              and computes every symbol again.
 * One worker, so symbols go in name order and the guess is made from the
 * first two. nlate symbols (the first ones) start months after the others.
 * want_one_pass: 1 or 0 as variant 0 must go, -1 either way (whether two
 * symbols' times give the final boundaries depends on their missing bars). */
static void check_variants(const char *tag, int nsym, int nlate, int want_one_pass,
                           int want_refit)
{
    static const char *all[] = {"AAA", "BBB", "CCC", "DDD", "EEE"};
    enum { NV = 4 };
    char cache[700], ds[NV][700];
    snprintf(cache, sizeof cache, "%s/cache_%s", g_root, tag);
    for (int i = 0; i < nsym; i++) {
        int64_t first = bf_days_from_civil(2023, i < nlate ? 4 : 1, 3);
        bf_status st = bt_write_cache(cache, "synthetic", first, i < nlate ? 110 : 150, all[i]);
        T_CHECK(st == BF_OK, "cache: %s", bf_last_error());
    }
    bf_build_result res[NV];
    for (int k = 0; k < NV; k++) {
        snprintf(ds[k], sizeof ds[k], "%s/ds_%s%d", g_root, tag, k);
        bf_build_opts o;
        opts(&o, ds[k]);
        o.symbols = all;
        o.n_symbols = nsym;
        o.cache_dir = cache;
        o.threads = 1;
        o.no_speculative_fit = k == 1;
        o.no_stream = k >= 2;
        if (k == 3)
            o.memory_budget_bytes = -1; /* keep nothing (--memory-budget-mb 0) */
        bf_status st = bf_build_master(&o, &res[k]);
        T_CHECK(st == BF_OK, "%s: build variant %d: %s", tag, k, bf_last_error());
    }
    T_CHECK(want_one_pass < 0 || res[0].one_pass == want_one_pass,
            "%s: one pass %d, expected %d", tag, res[0].one_pass, want_one_pass);
    T_CHECK(!res[1].one_pass && !res[2].one_pass && !res[3].one_pass,
            "%s: two-pass variants wrote in pass 1", tag);
    T_EQ_I(res[1].refits, 0);
    if (want_refit)
        T_CHECK(res[2].refits >= 1 && res[2].refits < nsym, "%s: pass-1 fits redone: %lld "
                "(expected the late symbols', and not all %d)", tag, (long long)res[2].refits,
                nsym);
    else
        T_EQ_I(res[2].refits, 0);
    static const char *splits[] = {"train", "val", "test"};
    for (int v = 1; v < NV; v++) /* the summary's dropped rows and bars too */
        T_CHECK(memcmp(&res[0].drops, &res[v].drops, sizeof res[0].drops) == 0,
                "%s: dropped rows differ between variants 0 and %d (warm-up %lld/%lld, no "
                "label %lld/%lld, purged %lld/%lld)", tag, v, (long long)res[0].drops.rows_warmup,
                (long long)res[v].drops.rows_warmup, (long long)res[0].drops.rows_no_label,
                (long long)res[v].drops.rows_no_label, (long long)res[0].drops.rows_purged,
                (long long)res[v].drops.rows_purged);
    for (int v = 1; v < NV; v++)
        for (int k = 0; k < 3; k++) {
            T_EQ_I(res[0].rows[k], res[v].rows[k]);
            bf_dataset a, b;
            T_CHECK(bf_dataset_open(ds[0], splits[k], &a) == BF_OK, "open: %s", bf_last_error());
            T_CHECK(bf_dataset_open(ds[v], splits[k], &b) == BF_OK, "open: %s", bf_last_error());
            T_CHECK(a.n == b.n && memcmp(a.X, b.X, (size_t)a.n * a.F * sizeof *a.X) == 0 &&
                        memcmp(a.y, b.y, (size_t)a.n * a.H * sizeof *a.y) == 0 &&
                        memcmp(a.sym_id, b.sym_id, (size_t)a.n * sizeof *a.sym_id) == 0 &&
                        memcmp(a.ts, b.ts, (size_t)a.n * sizeof *a.ts) == 0,
                    "%s: %s split differs between variants 0 and %d", tag, splits[k], v);
            if (k == 0) {
                double *ma, *ia, *mb, *ib;
                int64_t ra, rb;
                T_CHECK(bf_dataset_scalers_load(&a.meta, &ma, &ia, &ra) == BF_OK, "scalers a");
                T_CHECK(bf_dataset_scalers_load(&b.meta, &mb, &ib, &rb) == BF_OK, "scalers b");
                T_CHECK(ra == rb && memcmp(ma, mb, (size_t)ra * a.F * sizeof *ma) == 0 &&
                            memcmp(ia, ib, (size_t)ra * a.F * sizeof *ia) == 0,
                        "%s: scalers differ between variants 0 and %d", tag, v);
                free(ma);
                free(ia);
                free(mb);
                free(ib);
            }
            bf_dataset_free(&a);
            bf_dataset_free(&b);
        }
}

int main(int argc, char **argv)
{
    bf_mpi m;
    if (bf_mpi_init(&argc, &argv, &m) != BF_OK) {
        fprintf(stderr, "%s\n", bf_last_error());
        return 1;
    }
    check_crc_combine();
    snprintf(g_root, sizeof g_root, "/tmp/bf_test_dsbuild_%ld", (long)getpid());
    snprintf(g_cache, sizeof g_cache, "%s/cache", g_root);
    snprintf(g_ds, sizeof g_ds, "%s/ds", g_root);
    /* 150 sessions from 2023-01-03; IBM shorter (an IPO-like late start is not
     * modelled, but a different length per symbol is) */
    for (int i = 0; i < 4; i++) {
        bf_status st = bt_write_cache(g_cache, "synthetic", bf_days_from_civil(2023, 1, 3),
                                      strcmp(g_syms[i], "IBM") == 0 ? 140 : 150, g_syms[i]);
        T_CHECK(st == BF_OK, "cache: %s", bf_last_error());
    }

    check_variants("same", 4, 0, 1, 0);    /* one calendar: one pass */
    check_variants("late1", 3, 1, -1, 1);  /* the first symbol starts late */
    check_variants("late2", 5, 2, 0, 1);   /* the guess from the first two fails */

    /* a good build */
    bf_build_opts o;
    opts(&o, g_ds);
    bf_build_result res;
    bf_status st = bf_build_master(&o, &res);
    T_CHECK(st == BF_OK, "master build: %s", bf_last_error());
    T_EQ_S(res.version, "v2024-06-01");
    T_EQ_I(res.n_symbols, 4);
    T_CHECK(res.drops.rows_purged >= 2 * 4 * res.purge_bars - 2 * res.purge_bars,
            "purged %lld rows, expected about 2 boundaries x 4 symbols x %lld",
            (long long)res.drops.rows_purged, (long long)res.purge_bars);
    check_split(&res, 0, "train");
    check_split(&res, 1, "val");
    check_split(&res, 2, "test");
    char lnk[700], target[256];
    snprintf(lnk, sizeof lnk, "%s/master", g_ds);
    ssize_t ln = readlink(lnk, target, sizeof target - 1);
    target[ln > 0 ? ln : 0] = 0;
    T_EQ_S(target, "v2024-06-01");

    /* same day again: a new version, the first one untouched */
    bf_build_result res2;
    st = bf_build_master(&o, &res2);
    T_CHECK(st == BF_OK, "second build: %s", bf_last_error());
    T_EQ_S(res2.version, "v2024-06-01-2");
    ln = readlink(lnk, target, sizeof target - 1);
    target[ln > 0 ? ln : 0] = 0;
    T_EQ_S(target, "v2024-06-01-2");
    char v1[700];
    snprintf(v1, sizeof v1, "%s/v2024-06-01", g_ds);
    bf_dataset d1;
    st = bf_dataset_open(v1, "test", &d1);
    T_CHECK(st == BF_OK, "first version no longer opens: %s", bf_last_error());
    if (st == BF_OK)
        bf_dataset_free(&d1);
    T_EQ_I(count_entries(g_ds), 3); /* v..., v...-2, master: no temp dir left */

    /* the reader's checks */
    st = bf_dataset_open(g_ds, "bogus", &d1);
    T_EQ_I(st, BF_EINVAL);
    char p[800];
    snprintf(p, sizeof p, "%s/test.h5", v1);
    corrupt_byte(p, 3000);
    st = bf_dataset_open(v1, "test", &d1);
    T_EQ_I(st, BF_ECORRUPT);
    T_CONTAINS(bf_last_error(), "checksum mismatch");
    snprintf(p, sizeof p, "%s/meta.json", v1);
    cJSON *mj = NULL;
    T_CHECK(bf_json_load(p, &mj) == BF_OK, "load meta");
    cJSON_ReplaceItemInObject(mj, "schema_version", cJSON_CreateNumber(99));
    T_CHECK(bf_json_save(p, mj) == BF_OK, "save meta");
    cJSON_Delete(mj);
    st = bf_dataset_open(v1, "train", &d1);
    T_EQ_I(st, BF_ECORRUPT);
    T_CONTAINS(bf_last_error(), "schema_version 99");

    /* bad input: a symbol nobody cached, then a range before the cache */
    char bad_root[700];
    snprintf(bad_root, sizeof bad_root, "%s/bad", g_root);
    const char *with_missing[] = {"AAPL", "ZZZQ", "KO", "XXYY"};
    opts(&o, bad_root);
    o.symbols = with_missing;
    st = bf_build_master(&o, &res);
    T_EQ_I(st, BF_EINVAL);
    T_CONTAINS(bf_last_error(), "2 symbol(s)");
    T_CONTAINS(bf_last_error(), "ZZZQ");
    T_CONTAINS(bf_last_error(), "XXYY");
    opts(&o, bad_root);
    T_CHECK(bf_date_parse("2022-12-01", &o.start) == BF_OK, "date");
    T_CHECK(bf_date_parse("2023-03-01", &o.end) == BF_OK, "date");
    st = bf_build_master(&o, &res);
    T_EQ_I(st, BF_EINVAL);
    T_CONTAINS(bf_last_error(), "AAPL");
    T_CONTAINS(bf_last_error(), "2022-12-01T00:00:00Z..");
    T_CONTAINS(bf_last_error(), "not cached");
    /* too short a history for warm-up + purge */
    opts(&o, bad_root);
    T_CHECK(bf_time_parse("2023-01-03T14:30:00Z", &o.start) == BF_OK, "date");
    T_CHECK(bf_date_parse("2023-03-20", &o.end) == BF_OK, "date");
    st = bf_build_master(&o, &res);
    T_EQ_I(st, BF_EINVAL);
    T_CHECK(strstr(bf_last_error(), "too few rows") || strstr(bf_last_error(), "no rows"),
            "unclear error: %s", bf_last_error());
    /* target horizon not among the horizons */
    opts(&o, bad_root);
    o.target_horizon = 5;
    T_EQ_I(bf_build_master(&o, &res), BF_EINVAL);
    T_CONTAINS(bf_last_error(), "--target-horizon 5");
    T_CHECK(count_entries(bad_root) <= 0, "failed builds left %d entries in %s",
            count_entries(bad_root), bad_root);

    if (!bf_test_failures) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
        if (system(cmd) != 0)
            fprintf(stderr, "note: could not remove %s\n", g_root);
    }
    bf_mpi_finalize(&m);
    return bf_test_done("test_dataset_build");
}
