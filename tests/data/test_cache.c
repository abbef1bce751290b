/* test_cache.c - the bar cache: round trip of every field, covered ranges,
 * path validation (no traversal), refusal of inconsistent or corrupt files,
 * stale temporary files, and the range helpers. */
#define _POSIX_C_SOURCE 200809L
#include "core/base/fsutil.h"
#include "core/data/cache.h"
#include "base/test_util.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

static char g_dir[256];

static void fill(bf_bars *b, int n, int64_t t0)
{
    for (int i = 0; i < n; i++)
        bf_bars_push(b, t0 + 900 * i, 100 + i, 101 + i, 99 + i, 100.5 + i, 1000 * i + 1,
                     i % 3 ? 100.25 + i : NAN, i % 5 ? i : -1);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    T_CHECK(f != NULL, "cannot write %s", path);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/bf_test_cache_%d", (int)getpid());
    bf_cache_loc loc = {g_dir, "synthetic", 900, 0, 0};

    /* ranges */
    int64_t r[] = {50, 60, 10, 20, 15, 30, 30, 40, 70, 70};
    int k = bf_ranges_normalize(r, 5);
    T_EQ_I(k, 2);
    T_CHECK(r[0] == 10 && r[1] == 40 && r[2] == 50 && r[3] == 60, "normalized to [%lld,%lld) [%lld,%lld)",
            (long long)r[0], (long long)r[1], (long long)r[2], (long long)r[3]);
    int64_t m[8];
    int nm = bf_ranges_missing(r, k, 0, 100, m, 4);
    T_EQ_I(nm, 3);
    T_CHECK(m[0] == 0 && m[1] == 10 && m[2] == 40 && m[3] == 50 && m[4] == 60 && m[5] == 100,
            "missing parts wrong");
    T_EQ_I(bf_ranges_missing(r, k, 12, 38, m, 4), 0);
    T_EQ_I(bf_ranges_missing(r, k, 45, 55, m, 4), 1);
    T_EQ_I(m[0], 45);
    T_EQ_I(m[1], 50);
    T_EQ_I(bf_ranges_missing(NULL, 0, 5, 9, m, 4), 1);

    /* paths */
    char path[512];
    T_CHECK(bf_cache_loc_path(&loc, "BRK.B", path, sizeof path) == BF_OK, "path: %s", bf_last_error());
    char want[512];
    snprintf(want, sizeof want, "%s/synthetic/15m/BRK.B.h5", g_dir);
    T_EQ_S(path, want);
    bf_cache_loc ext = loc;
    ext.extended_hours = 1;
    T_CHECK(bf_cache_loc_path(&ext, "AAPL", path, sizeof path) == BF_OK, "ext path");
    snprintf(want, sizeof want, "%s/synthetic/15m-ext/AAPL.h5", g_dir);
    T_EQ_S(path, want);
    T_CHECK(bf_cache_loc_path(&loc, "../x", path, sizeof path) == BF_EINVAL, "../x accepted");
    T_CHECK(bf_cache_path(g_dir, "../etc", 900, "AAPL", path, sizeof path) == BF_EINVAL,
            "provider ../etc accepted");
    T_CHECK(bf_cache_path(g_dir, "synthetic", 123, "AAPL", path, sizeof path) == BF_EINVAL,
            "interval 123 accepted");
    T_CHECK(bf_cache_path(g_dir, "synthetic", 900, "AAPL", path, 10) == BF_EINVAL, "short buffer accepted");

    /* round trip with covered ranges wider than the bars (a holiday inside) */
    bf_bars b, back;
    bf_bars_init(&b, "AAPL", 900);
    bf_bars_init(&back, "", 900);
    fill(&b, 500, 1704205800);
    int64_t cov[4] = {1704153600, 1704153600 + 86400 * 30, 1704153600 + 86400 * 40, 1704153600 + 86400 * 41};
    T_CHECK(bf_cache_store(&loc, &b, cov, 2) == BF_OK, "store: %s", bf_last_error());
    int64_t *rr = NULL;
    int nr = 0;
    T_CHECK(bf_cache_load(&loc, "AAPL", &back, &rr, &nr) == BF_OK, "load: %s", bf_last_error());
    T_EQ_I(back.n, 500);
    T_EQ_S(back.symbol, "AAPL");
    T_EQ_I(back.interval_s, 900);
    int diff = 0;
    for (int64_t i = 0; i < b.n; i++)
        diff += back.ts[i] != b.ts[i] || back.open[i] != b.open[i] || back.high[i] != b.high[i] ||
                back.low[i] != b.low[i] || back.close[i] != b.close[i] ||
                back.volume[i] != b.volume[i] || back.trades[i] != b.trades[i] ||
                !(back.vwap[i] == b.vwap[i] || (isnan(back.vwap[i]) && isnan(b.vwap[i])));
    T_EQ_I(diff, 0);
    T_EQ_I(nr, 2);
    T_CHECK(rr && rr[1] == cov[1] && rr[2] == cov[2], "covered ranges changed");
    free(rr);
    /* what the builder loads: OHLCV only, vwap and trades left unknown */
    bf_cache_loc lo5 = loc;
    lo5.ohlcv_only = 1;
    T_CHECK(bf_cache_load(&lo5, "AAPL", &back, &rr, &nr) == BF_OK, "load: %s", bf_last_error());
    T_EQ_I(back.n, 500);
    diff = 0;
    for (int64_t i = 0; i < b.n; i++)
        diff += back.ts[i] != b.ts[i] || back.open[i] != b.open[i] || back.high[i] != b.high[i] ||
                back.low[i] != b.low[i] || back.close[i] != b.close[i] ||
                back.volume[i] != b.volume[i] || back.trades[i] != -1 || !isnan(back.vwap[i]);
    T_EQ_I(diff, 0);
    free(rr);
    bf_cache_meta meta;
    T_CHECK(bf_cache_path(g_dir, "synthetic", 900, "AAPL", path, sizeof path) == BF_OK, "path");
    T_CHECK(bf_cache_load_path(path, NULL, NULL, NULL, &meta) == BF_OK, "meta: %s", bf_last_error());
    T_EQ_S(meta.provider, "synthetic");
    T_EQ_I(meta.schema_version, BF_CACHE_SCHEMA_VERSION);
    T_CHECK(strlen(meta.written_at) == 20, "written_at '%s'", meta.written_at);

    /* the regular-session API the dataset builder uses */
    bf_bars_clear(&back);
    T_CHECK(bf_cache_read(g_dir, "synthetic", 900, "AAPL", &back) == BF_OK && back.n == 500,
            "bf_cache_read: %s", bf_last_error());
    T_CHECK(bf_cache_covered(g_dir, "synthetic", 900, "AAPL", &rr, &nr) == BF_OK && nr == 2,
            "bf_cache_covered");
    free(rr);
    const char *provs[] = {"alpaca", "synthetic"};
    int which = -1;
    T_CHECK(bf_cache_find(g_dir, provs, 2, 900, "AAPL", &which) == BF_OK && which == 1,
            "find -> %d", which);
    T_CHECK(bf_cache_find(g_dir, provs, 2, 900, "MSFT", &which) == BF_ENOTFOUND, "MSFT found");
    T_CHECK(bf_cache_read(g_dir, "synthetic", 900, "MSFT", &back) == BF_ENOTFOUND, "missing file");
    bf_bars w;
    bf_bars_init(&w, "MSFT", 900);
    fill(&w, 10, 1704205800);
    T_CHECK(bf_cache_write(g_dir, "synthetic", 900, &w) == BF_OK, "bf_cache_write");
    T_CHECK(bf_cache_covered(g_dir, "synthetic", 900, "MSFT", &rr, &nr) == BF_OK && nr == 1 &&
                rr[0] == w.ts[0] && rr[1] == w.ts[9] + 900,
            "bf_cache_write coverage");
    free(rr);
    bf_bars_free(&w);
    /* an empty series with coverage (a range without bars) is fine */
    bf_bars e;
    bf_bars_init(&e, "EMPTY", 900);
    T_CHECK(bf_cache_store(&loc, &e, cov, 1) == BF_OK, "empty store: %s", bf_last_error());
    T_CHECK(bf_cache_load(&loc, "EMPTY", &back, &rr, &nr) == BF_OK && back.n == 0 && nr == 1,
            "empty load");
    free(rr);

    /* refusals: bars outside the coverage, unsorted bars */
    int64_t small[2] = {cov[0], b.ts[10]};
    T_CHECK(bf_cache_store(&loc, &b, small, 1) == BF_EINVAL, "bars outside coverage stored");
    int64_t t = b.ts[3];
    b.ts[3] = b.ts[4];
    T_CHECK(bf_cache_store(&loc, &b, cov, 2) == BF_EINVAL, "duplicate ts stored");
    b.ts[3] = t;
    bf_bars other;
    bf_bars_init(&other, "AAPL", 60);
    T_CHECK(bf_cache_store(&loc, &other, cov, 1) == BF_EINVAL, "1m bars stored as 15m");

    /* corrupt files read as BF_ECORRUPT, never as data */
    T_CHECK(bf_cache_path(g_dir, "synthetic", 900, "JUNK", path, sizeof path) == BF_OK, "path");
    write_text(path, "this is not HDF5");
    bf_clear_error();
    T_CHECK(bf_cache_read(g_dir, "synthetic", 900, "JUNK", &back) == BF_ECORRUPT, "junk read");
    T_CONTAINS(bf_last_error(), "JUNK.h5");
    char good[512];
    bf_cache_path(g_dir, "synthetic", 900, "AAPL", good, sizeof good);
    char *bytes = NULL;
    size_t len = 0;
    T_CHECK(bf_read_file(good, &bytes, &len) == BF_OK, "read back");
    T_CHECK(bf_cache_path(g_dir, "synthetic", 900, "TRUNC", path, sizeof path) == BF_OK, "path");
    FILE *f = fopen(path, "wb");
    fwrite(bytes, 1, len / 2, f); /* a torn copy: what an in-place writer could leave */
    fclose(f);
    free(bytes);
    T_CHECK(bf_cache_read(g_dir, "synthetic", 900, "TRUNC", &back) == BF_ECORRUPT, "truncated read");
    /* a file at the wrong path (AAPL's content named XYZ) is refused */
    T_CHECK(bf_cache_path(g_dir, "synthetic", 900, "XYZ", path, sizeof path) == BF_OK, "path");
    T_CHECK(bf_read_file(good, &bytes, &len) == BF_OK, "read");
    bf_write_file_atomic(path, bytes, len);
    free(bytes);
    T_CHECK(bf_cache_read(g_dir, "synthetic", 900, "XYZ", &back) == BF_ECORRUPT, "misplaced file read");

    /* stale temporary files: a dead writer's are removed, a live one's kept */
    char stale[600], live[600];
    snprintf(stale, sizeof stale, "%s/synthetic/15m/AAPL.h5.tmp.999999999", g_dir);
    snprintf(live, sizeof live, "%s/synthetic/15m/MSFT.h5.tmp.%d", g_dir, (int)getpid());
    write_text(stale, "partial");
    write_text(live, "partial");
    int removed = -1;
    T_CHECK(bf_cache_clean_stale(&loc, NULL, NULL, &removed) == BF_OK, "clean");
    T_EQ_I(removed, 1);
    T_CHECK(!bf_path_exists(stale), "stale tmp left");
    T_CHECK(bf_path_exists(live), "live tmp removed");
    unlink(live);
    bf_cache_loc nowhere = {"/tmp/bf_no_such_dir_xyz", "synthetic", 900, 0, 0};
    T_CHECK(bf_cache_clean_stale(&nowhere, NULL, NULL, &removed) == BF_OK && removed == 0,
            "missing dir is not an error");

    bf_bars_free(&other);
    bf_bars_free(&e);
    bf_bars_free(&b);
    bf_bars_free(&back);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    T_CHECK(system(cmd) == 0, "cleanup");
    return bf_test_done("test_cache");
}
