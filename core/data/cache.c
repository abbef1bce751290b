/* cache.c - per-symbol HDF5 bar files, replaced atomically (see cache.h).
 *
 * File format, schema_version 1 (also docs/formats.md "## Bar cache"):
 *   /ts       int64   [n]     bar START, UTC seconds, strictly increasing
 *   /open /high /low /close /volume /vwap
 *             float64 [n]     vwap NaN where the provider gives none
 *   /trades   int64   [n]     -1 where the provider gives none
 *   /covered  int64   [k, 2]  [start, end) ranges fetched, sorted, disjoint,
 *                             not touching; every ts lies in one of them
 *   root attributes: symbol (string), provider (string), interval (string,
 *   "15m"), interval_s (int64), extended_hours (int64 0/1), schema_version
 *   (int64), written_at (RFC 3339 string), n_bars (int64).
 * Datasets are chunked, uncompressed, little-endian (h5.h). A file is
 * written as <file>.tmp.<pid>, closed, fsync'ed, renamed over <file>, then the
 * directory is fsync'ed: a process killed at any moment leaves the old file or
 * the new one, each complete.
 */
#define _GNU_SOURCE
#include "core/data/cache.h"

#include "core/base/fsutil.h"
#include "core/base/h5.h"
#include "core/base/timeutil.h"
#include "core/data/provider.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* --- ranges ------------------------------------------------------------------ */

static int cmp_pair(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

int bf_ranges_normalize(int64_t *r, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) /* drop empty ranges */
        if (r[2 * i + 1] > r[2 * i]) {
            r[2 * k] = r[2 * i];
            r[2 * k + 1] = r[2 * i + 1];
            k++;
        }
    if (k < 2)
        return k;
    qsort(r, (size_t)k, 2 * sizeof *r, cmp_pair);
    int m = 0;
    for (int i = 1; i < k; i++) {
        if (r[2 * i] <= r[2 * m + 1]) {
            if (r[2 * i + 1] > r[2 * m + 1])
                r[2 * m + 1] = r[2 * i + 1];
        } else {
            m++;
            r[2 * m] = r[2 * i];
            r[2 * m + 1] = r[2 * i + 1];
        }
    }
    return m + 1;
}

int bf_ranges_missing(const int64_t *cov, int ncov, int64_t start, int64_t end, int64_t *out,
                      int cap)
{
    int n = 0;
    int64_t cur = start;
    for (int i = 0; i < ncov && cur < end; i++) {
        int64_t a = cov[2 * i], b = cov[2 * i + 1];
        if (b <= cur)
            continue;
        if (a >= end)
            break;
        if (a > cur) {
            if (n < cap) {
                out[2 * n] = cur;
                out[2 * n + 1] = a;
            }
            n++;
        }
        cur = b;
    }
    if (cur < end) {
        if (n < cap) {
            out[2 * n] = cur;
            out[2 * n + 1] = end;
        }
        n++;
    }
    return n;
}

/* --- paths ------------------------------------------------------------------- */

static bf_status check_provider_name(const char *p)
{
    size_t n = p ? strlen(p) : 0;
    int ok = n > 0 && n < 32;
    for (size_t i = 0; ok && i < n; i++)
        ok = (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_';
    if (!ok)
        return BF_FAIL(BF_EINVAL, "bad provider name '%s' for a cache path: expected [a-z0-9_]{1,31}",
                       p ? p : "(null)");
    return BF_OK;
}

static bf_status loc_dir(const bf_cache_loc *loc, char *buf, size_t n)
{
    if (!loc->dir || !*loc->dir)
        return BF_FAIL(BF_EINVAL, "empty cache directory");
    BF_TRY(check_provider_name(loc->provider));
    const char *iv = bf_interval_name(loc->interval_s);
    if (strcmp(iv, "?") == 0)
        return BF_FAIL(BF_EINVAL, "bad interval of %d seconds for a cache path", loc->interval_s);
    int k = snprintf(buf, n, "%s/%s/%s%s", loc->dir, loc->provider, iv,
                     loc->extended_hours ? "-ext" : "");
    if (k < 0 || (size_t)k >= n)
        return BF_FAIL(BF_EINVAL, "cache path under '%s' too long", loc->dir);
    return BF_OK;
}

bf_status bf_cache_loc_path(const bf_cache_loc *loc, const char *symbol, char *buf, size_t n)
{
    BF_TRY(bf_symbol_validate(symbol));
    char dir[4096];
    BF_TRY(loc_dir(loc, dir, sizeof dir));
    int k = snprintf(buf, n, "%s/%s.h5", dir, symbol);
    if (k < 0 || (size_t)k >= n)
        return BF_FAIL(BF_EINVAL, "cache path '%s/%s.h5' too long", dir, symbol);
    return BF_OK;
}

bf_status bf_cache_path(const char *cache_dir, const char *provider, int interval_s,
                        const char *symbol, char *buf, int n)
{
    bf_cache_loc loc = {cache_dir, provider, interval_s, 0, 0};
    return bf_cache_loc_path(&loc, symbol, buf, n > 0 ? (size_t)n : 0);
}

/* --- reading ----------------------------------------------------------------- */

static bf_status corrupt(const char *path, const char *what)
{
    return BF_FAIL(BF_ECORRUPT, "cache file '%s' is inconsistent: %s; delete it (or fetch with "
                                "--refresh) to fetch it again",
                   path, what);
}

static bf_status read_all(hid_t f, int ohlcv_only, const char *path,
                          bf_bars *out, int64_t **ranges, int *n_ranges, bf_cache_meta *meta)
{
    int64_t ver = 0, iv = 0, ext = 0;
    BF_TRY(bf_h5_attr_get_i64(f, "/", "schema_version", &ver));
    if (ver != BF_CACHE_SCHEMA_VERSION)
        return BF_FAIL(BF_ECORRUPT, "cache file '%s' has schema_version %lld; this barforge reads %d",
                       path, (long long)ver, BF_CACHE_SCHEMA_VERSION);
    BF_TRY(bf_h5_attr_get_i64(f, "/", "interval_s", &iv));
    BF_TRY(bf_h5_attr_get_i64(f, "/", "extended_hours", &ext));
    char *sym = NULL, *prov = NULL, *when = NULL;
    BF_TRY(bf_h5_attr_get_str(f, "/", "symbol", &sym));
    bf_status st = bf_h5_attr_get_str(f, "/", "provider", &prov);
    if (st == BF_OK)
        st = bf_h5_attr_get_str(f, "/", "written_at", &when);
    if (st == BF_OK && meta) {
        memset(meta, 0, sizeof *meta);
        snprintf(meta->symbol, sizeof meta->symbol, "%s", sym);
        snprintf(meta->provider, sizeof meta->provider, "%s", prov);
        snprintf(meta->written_at, sizeof meta->written_at, "%s", when);
        meta->interval_s = (int)iv;
        meta->extended_hours = (int)ext;
        meta->schema_version = (int)ver;
    }
    if (st == BF_OK && out) { /* out is initialized by the caller; its memory is reused */
        snprintf(out->symbol, sizeof out->symbol, "%s", sym);
        out->interval_s = (int)iv;
        out->n = 0;
    }
    free(sym);
    free(prov);
    free(when);
    BF_TRY(st);

    int64_t n = 0, c = 0, k = 0, kc = 0;
    BF_TRY(bf_h5_shape(f, "ts", &n, &c));
    if (c != 1)
        return corrupt(path, "/ts is not one-dimensional");
    BF_TRY(bf_h5_shape(f, "covered", &k, &kc));
    if (kc != 2 && k > 0)
        return corrupt(path, "/covered is not k x 2");
    int64_t *cov = malloc((size_t)(k > 0 ? k : 1) * 2 * sizeof *cov);
    BF_CHECK_ALLOC(cov, (size_t)(k > 0 ? k : 1) * 2 * sizeof *cov);
    st = k > 0 ? bf_h5_read_into(f, "covered", BF_H5_I64, cov, k, 2) : BF_OK;
    for (int64_t i = 0; st == BF_OK && i < k; i++)
        if (cov[2 * i + 1] <= cov[2 * i] || (i > 0 && cov[2 * i] <= cov[2 * i - 1]))
            st = corrupt(path, "/covered ranges are empty, unsorted or overlapping");

    if (out && st == BF_OK && out->cap < (n > 0 ? n : 1)) /* slack: reused for the next symbol */
        st = bf_bars_reserve(out, n + n / 8 + 64);
    if (out && st == BF_OK && n > 0) {
        static const char *const fn[] = {"open", "high", "low", "close", "volume", "vwap"};
        double *fd[] = {out->open, out->high, out->low, out->close, out->volume, out->vwap};
        st = bf_h5_read_into(f, "ts", BF_H5_I64, out->ts, n, 1);
        for (int j = 0; j < (ohlcv_only ? 5 : 6) && st == BF_OK; j++)
            st = bf_h5_read_into(f, fn[j], BF_H5_F64, fd[j], n, 1);
        if (st == BF_OK && !ohlcv_only)
            st = bf_h5_read_into(f, "trades", BF_H5_I64, out->trades, n, 1);
        for (int64_t i = 0; ohlcv_only && i < n; i++) { /* what bars.h says "unknown" is */
            out->vwap[i] = NAN;
            out->trades[i] = -1;
        }
    }
    if (out && st == BF_OK) {
        out->n = n;
        int64_t r = 0;
        for (int64_t i = 0; i < n && st == BF_OK; i++) {
            if (i > 0 && out->ts[i] <= out->ts[i - 1])
                st = corrupt(path, "/ts is not strictly increasing");
            while (r < k && cov[2 * r + 1] <= out->ts[i])
                r++;
            if (st == BF_OK && (r >= k || out->ts[i] < cov[2 * r]))
                st = corrupt(path, "a bar lies outside every covered range");
        }
    }
    if (st != BF_OK) {
        free(cov);
        if (out)
            bf_bars_clear(out);
        return st;
    }
    if (ranges) {
        *ranges = cov;
        *n_ranges = (int)k;
    } else {
        free(cov);
    }
    return BF_OK;
}

static bf_status load_path(const char *path, int ohlcv_only, bf_bars *out, int64_t **ranges,
                           int *n_ranges, bf_cache_meta *meta)
{
    if (ranges) {
        *ranges = NULL;
        *n_ranges = 0;
    }
    if (!bf_path_exists(path))
        return BF_FAIL(BF_ENOTFOUND, "no cache file '%s'", path);
    hid_t f;
    BF_TRY(bf_h5_open(path, 0, &f));
    bf_status st = read_all(f, ohlcv_only, path, out, ranges, n_ranges, meta);
    bf_h5_close(f);
    if (st != BF_OK && st != BF_ENOMEM && st != BF_ECORRUPT)
        st = bf_fail_context(BF_ECORRUPT, "cache file '%s' is unreadable", path);
    return st;
}

bf_status bf_cache_load_path(const char *path, bf_bars *out, int64_t **ranges, int *n_ranges,
                             bf_cache_meta *meta)
{
    return load_path(path, 0, out, ranges, n_ranges, meta);
}

bf_status bf_cache_load(const bf_cache_loc *loc, const char *symbol, bf_bars *out,
                        int64_t **ranges, int *n_ranges)
{
    char path[4200];
    BF_TRY(bf_cache_loc_path(loc, symbol, path, sizeof path));
    bf_cache_meta meta;
    BF_TRY(load_path(path, loc->ohlcv_only, out, ranges, n_ranges, &meta));
    if (meta.interval_s != loc->interval_s || strcmp(meta.symbol, symbol) != 0 ||
        strcmp(meta.provider, loc->provider) != 0 || meta.extended_hours != loc->extended_hours) {
        if (ranges) {
            free(*ranges);
            *ranges = NULL;
            *n_ranges = 0;
        }
        if (out)
            bf_bars_clear(out);
        return BF_FAIL(BF_ECORRUPT,
                       "cache file '%s' holds %s/%s/%ds%s, not what its path says; delete it",
                       path, meta.provider, meta.symbol, meta.interval_s,
                       meta.extended_hours ? " extended" : "");
    }
    return BF_OK;
}

bf_status bf_cache_read(const char *cache_dir, const char *provider, int interval_s,
                        const char *symbol, bf_bars *out)
{
    bf_cache_loc loc = {cache_dir, provider, interval_s, 0, 0};
    return bf_cache_load(&loc, symbol, out, NULL, NULL);
}

bf_status bf_cache_covered(const char *cache_dir, const char *provider, int interval_s,
                           const char *symbol, int64_t **ranges, int *n_ranges)
{
    bf_cache_loc loc = {cache_dir, provider, interval_s, 0, 0};
    return bf_cache_load(&loc, symbol, NULL, ranges, n_ranges);
}

bf_status bf_cache_find(const char *cache_dir, const char *const *providers, int n_providers,
                        int interval_s, const char *symbol, int *which)
{
    for (int i = 0; i < n_providers; i++) {
        char path[4200];
        BF_TRY(bf_cache_path(cache_dir, providers[i], interval_s, symbol, path, sizeof path));
        if (bf_path_exists(path)) {
            *which = i;
            return BF_OK;
        }
    }
    *which = -1;
    return BF_FAIL(BF_ENOTFOUND, "no cached %s bars of %s under '%s' (providers searched: %d)",
                   bf_interval_name(interval_s), symbol, cache_dir, n_providers);
}

/* --- writing ----------------------------------------------------------------- */

static bf_status write_file(const char *tmp, const bf_cache_loc *loc, const bf_bars *b,
                            const int64_t *cov, int k)
{
    hid_t f;
    BF_TRY(bf_h5_create(tmp, &f));
    static const char *const fn[] = {"open", "high", "low", "close", "volume", "vwap"};
    const double *fd[] = {b->open, b->high, b->low, b->close, b->volume, b->vwap};
    bf_status st = bf_h5_write(f, "ts", BF_H5_I64, b->ts, b->n, 1, 0);
    for (int j = 0; j < 6 && st == BF_OK; j++)
        st = bf_h5_write(f, fn[j], BF_H5_F64, fd[j], b->n, 1, 0);
    if (st == BF_OK)
        st = bf_h5_write(f, "trades", BF_H5_I64, b->trades, b->n, 1, 0);
    if (st == BF_OK)
        st = bf_h5_write(f, "covered", BF_H5_I64, cov, k, 2, 0);
    char when[32];
    bf_time_format((int64_t)time(NULL), when, sizeof when);
    if (st == BF_OK)
        st = bf_h5_attr_set_str(f, "/", "symbol", b->symbol);
    if (st == BF_OK)
        st = bf_h5_attr_set_str(f, "/", "provider", loc->provider);
    if (st == BF_OK)
        st = bf_h5_attr_set_str(f, "/", "interval", bf_interval_name(loc->interval_s));
    if (st == BF_OK)
        st = bf_h5_attr_set_i64(f, "/", "interval_s", loc->interval_s);
    if (st == BF_OK)
        st = bf_h5_attr_set_i64(f, "/", "extended_hours", loc->extended_hours ? 1 : 0);
    if (st == BF_OK)
        st = bf_h5_attr_set_i64(f, "/", "schema_version", BF_CACHE_SCHEMA_VERSION);
    if (st == BF_OK)
        st = bf_h5_attr_set_str(f, "/", "written_at", when);
    if (st == BF_OK)
        st = bf_h5_attr_set_i64(f, "/", "n_bars", b->n);
    if (st == BF_OK)
        st = bf_h5_flush(f);
    bf_status cs = bf_h5_close(f);
    return st != BF_OK ? st : cs;
}

bf_status bf_cache_store(const bf_cache_loc *loc, const bf_bars *b, const int64_t *ranges,
                         int n_ranges)
{
    char path[4200], dir[4096], tmp[4300];
    BF_TRY(bf_cache_loc_path(loc, b->symbol, path, sizeof path));
    BF_TRY(loc_dir(loc, dir, sizeof dir));
    if (b->interval_s != loc->interval_s)
        return BF_FAIL(BF_EINVAL, "storing %ds bars of %s in the %s cache", b->interval_s,
                       b->symbol, bf_interval_name(loc->interval_s));
    int64_t *cov = malloc((size_t)(n_ranges > 0 ? n_ranges : 1) * 2 * sizeof *cov);
    BF_CHECK_ALLOC(cov, (size_t)(n_ranges > 0 ? n_ranges : 1) * 2 * sizeof *cov);
    if (n_ranges > 0)
        memcpy(cov, ranges, (size_t)n_ranges * 2 * sizeof *cov);
    int k = bf_ranges_normalize(cov, n_ranges);
    bf_status st = BF_OK;
    int64_t r = 0;
    for (int64_t i = 0; i < b->n && st == BF_OK; i++) {
        if (i > 0 && b->ts[i] <= b->ts[i - 1])
            st = BF_FAIL(BF_EINVAL, "bars of %s to cache are not sorted and unique at row %lld",
                         b->symbol, (long long)i);
        while (r < k && cov[2 * r + 1] <= b->ts[i])
            r++;
        if (st == BF_OK && (r >= k || b->ts[i] < cov[2 * r]))
            st = BF_FAIL(BF_EINVAL, "bar %lld of %s lies outside the covered ranges to cache",
                         (long long)b->ts[i], b->symbol);
    }
    if (st == BF_OK)
        st = bf_mkdir_p(dir);
    if (st == BF_OK) {
        bf_tmp_path(path, tmp, sizeof tmp);
        st = write_file(tmp, loc, b, cov, k);
        if (st == BF_OK)
            st = bf_commit_file(tmp, path);
        if (st != BF_OK)
            unlink(tmp);
    }
    free(cov);
    return st;
}

bf_status bf_cache_write(const char *cache_dir, const char *provider, int interval_s,
                         const bf_bars *b)
{
    bf_cache_loc loc = {cache_dir, provider, interval_s, 0, 0};
    int64_t r[2] = {0, 0};
    if (b->n > 0) {
        r[0] = b->ts[0];
        r[1] = b->ts[b->n - 1] + interval_s;
    }
    return bf_cache_store(&loc, b, r, b->n > 0 ? 1 : 0);
}

bf_status bf_cache_clean_stale(const bf_cache_loc *loc, int (*owned)(const char *sym, void *ctx),
                               void *ctx, int *removed)
{
    if (removed)
        *removed = 0;
    char dir[4096];
    BF_TRY(loc_dir(loc, dir, sizeof dir));
    DIR *d = opendir(dir);
    if (!d)
        return BF_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *t = strstr(e->d_name, ".h5.tmp.");
        if (!t)
            continue;
        char sym[BF_SYMBOL_MAX];
        size_t sl = (size_t)(t - e->d_name);
        if (sl == 0 || sl >= sizeof sym)
            continue;
        memcpy(sym, e->d_name, sl);
        sym[sl] = 0;
        long pid = strtol(t + 8, NULL, 10);
        if (pid > 0 && (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno == EPERM))
            continue; /* a live writer (this process or another one here) */
        if (owned && !owned(sym, ctx))
            continue;
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) == 0 && removed)
            (*removed)++;
    }
    closedir(d);
    return BF_OK;
}
