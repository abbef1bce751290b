/* test_fetch.c - the fetch engine on one rank: cache contents equal the
 * provider's bars; incremental fetches request exactly the missing sessions
 * (provider requests are counted); a covered range is served from the cache;
 * --refresh refetches; the csv provider and the fallback chain; per-symbol
 * failures; stale temporary and corrupt files; the summary JSON. */
#define _POSIX_C_SOURCE 200809L
#include "core/base/fsutil.h"
#include "core/base/json.h"
#include "core/data/cache.h"
#include "core/data/calendar.h"
#include "core/data/fetch.h"
#include "core/data/synthetic.h"
#include "base/test_util.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct reqlog {
    int n;
    char prov[256][16], sym[256][16];
    int64_t a[256], b[256];
} reqlog;

static void on_req(void *ctx, const char *prov, const char *sym, int64_t a, int64_t b)
{
    reqlog *l = ctx;
    if (l->n < 256) {
        snprintf(l->prov[l->n], 16, "%s", prov);
        snprintf(l->sym[l->n], 16, "%s", sym);
        l->a[l->n] = a;
        l->b[l->n] = b;
    }
    l->n++;
}

static int64_t D(const char *s)
{
    int64_t t = 0;
    bf_time_parse(s, &t);
    return t;
}

static char g_root[256];

static bf_fetch_opts base(const char *const *syms, int n, const char *const *provs, int np,
                          const char *cache, reqlog *log)
{
    bf_fetch_opts o;
    memset(&o, 0, sizeof o);
    o.symbols = syms;
    o.n_symbols = n;
    o.interval_s = 900;
    o.start = D("2024-01-02");
    o.end = D("2024-06-01");
    o.providers = provs;
    o.n_providers = np;
    o.cache_dir = cache;
    o.seed = 42;
    o.signal_strength = 0.1;
    o.now = D("2026-11-27T12:00:00Z");
    o.on_request = on_req;
    o.on_request_ctx = log;
    memset(log, 0, sizeof *log);
    return o;
}

static void run_ok(const bf_fetch_opts *o, bf_fetch_summary *s, const char *what)
{
    bf_status st = bf_fetch_run(o, s);
    T_CHECK(st == BF_OK, "%s: fetch failed: %s", what, bf_last_error());
    if (st != BF_OK)
        memset(s, 0, sizeof *s);
}

/* the cached series equals a direct generation over [a, b) */
static void cache_equals_generate(const char *cache, const char *sym, const char *a, const char *b)
{
    bf_bars c, g;
    bf_bars_init(&c, sym, 900);
    bf_bars_init(&g, sym, 900);
    T_CHECK(bf_cache_read(cache, "synthetic", 900, sym, &c) == BF_OK, "%s: %s", sym, bf_last_error());
    bf_synth_params p = {.seed = 42, .strength = 0.1};
    T_CHECK(bf_synth_generate(&p, sym, 900, D(a), D(b), &g) == BF_OK, "generate");
    int64_t diff = c.n == g.n ? 0 : -1;
    for (int64_t i = 0; diff >= 0 && i < c.n; i++)
        diff += c.ts[i] != g.ts[i] || c.close[i] != g.close[i] || c.open[i] != g.open[i] ||
                c.volume[i] != g.volume[i] || c.trades[i] != g.trades[i] || c.vwap[i] != g.vwap[i];
    T_CHECK(diff == 0, "%s %s..%s: cache has %lld bars, generator %lld, %lld rows differ", sym, a, b,
            (long long)c.n, (long long)g.n, (long long)diff);
    bf_bars_free(&c);
    bf_bars_free(&g);
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
    unsetenv("ALPACA_KEY_ID");
    unsetenv("APCA_API_KEY_ID");
    unsetenv("ALPACA_SECRET_KEY");
    unsetenv("APCA_API_SECRET_KEY");
    snprintf(g_root, sizeof g_root, "/tmp/bf_test_fetch_%d", (int)getpid());
    char cache[300], csvdir[300], path[600];
    snprintf(cache, sizeof cache, "%s/cache", g_root);
    snprintf(csvdir, sizeof csvdir, "%s/csv", g_root);
    const char *syms[] = {"AAA", "BBB", "BRK.B"};
    const char *synth[] = {"synthetic"};
    reqlog log;
    bf_fetch_summary s;

    /* 1: a fresh cache */
    bf_fetch_opts o = base(syms, 3, synth, 1, cache, &log);
    run_ok(&o, &s, "first");
    T_EQ_I(s.n_failed, 0);
    T_EQ_I(s.requests, 3);
    T_EQ_I(log.n, 3);
    T_EQ_I(log.a[0], D("2024-01-02T14:30:00Z"));
    T_EQ_I(log.b[0], D("2024-05-31T20:00:00Z"));
    int64_t expect = bf_cal_count_bars(o.start, o.end, 900, 0);
    for (int i = 0; i < 3 && s.sym; i++) {
        T_EQ_I(s.sym[i].expected, expect);
        T_EQ_I(s.sym[i].gaps, expect - s.sym[i].bars);
        T_EQ_I(s.sym[i].fetched, s.sym[i].bars);
        T_CHECK(s.sym[i].provider == 0 && !s.sym[i].from_cache, "%s: provider %d cache %d",
                s.sym[i].symbol, s.sym[i].provider, s.sym[i].from_cache);
        T_CHECK(s.sym[i].gaps < expect / 100, "%s: %lld gaps", s.sym[i].symbol, (long long)s.sym[i].gaps);
    }
    bf_fetch_summary_free(&s);
    cache_equals_generate(cache, "AAA", "2024-01-02", "2024-06-01");
    cache_equals_generate(cache, "BRK.B", "2024-01-02", "2024-06-01");

    /* 2: extend the end: only the new sessions are requested (June 1 is a Saturday) */
    o = base(syms, 3, synth, 1, cache, &log);
    o.end = D("2024-09-01");
    char js[400];
    snprintf(js, sizeof js, "%s/summary.json", g_root);
    run_ok(&o, &s, "extend");
    T_EQ_I(log.n, 3);
    for (int i = 0; i < log.n && i < 3; i++) {
        T_EQ_I(log.a[i], D("2024-06-03T13:30:00Z"));
        T_EQ_I(log.b[i], D("2024-08-30T20:00:00Z"));
    }
    int64_t new_bars = bf_cal_count_bars(D("2024-06-01"), D("2024-09-01"), 900, 0);
    for (int i = 0; i < 3 && s.sym; i++)
        T_CHECK(s.sym[i].fetched <= new_bars && s.sym[i].fetched > new_bars * 99 / 100,
                "%s: fetched %lld bars, the new range has %lld", s.sym[i].symbol,
                (long long)s.sym[i].fetched, (long long)new_bars);
    T_CHECK(bf_fetch_write_json(&o, &s, js) == BF_OK, "json: %s", bf_last_error());
    bf_fetch_summary_free(&s);
    cache_equals_generate(cache, "AAA", "2024-01-02", "2024-09-01");
    cache_equals_generate(cache, "BBB", "2024-01-02", "2024-09-01");
    cJSON *j = NULL;
    T_CHECK(bf_json_load(js, &j) == BF_OK, "json load: %s", bf_last_error());
    if (j) {
        int64_t v = -1;
        bf_json_get_int(j, "symbols", "summary", &v);
        T_EQ_I(v, 3);
        bf_json_get_int(j, "requests", "summary", &v);
        T_EQ_I(v, 3);
        const cJSON *ps = cJSON_GetObjectItem(j, "per_symbol");
        const cJSON *p0 = ps ? cJSON_GetArrayItem(ps, 0) : NULL;
        const char *src = NULL, *prov = NULL;
        T_CHECK(p0 && bf_json_get_str(p0, "source", "row", &src) == BF_OK && strcmp(src, "fetched") == 0,
                "per_symbol[0].source = %s", src ? src : "(none)");
        T_CHECK(p0 && bf_json_get_str(p0, "provider", "row", &prov) == BF_OK && strcmp(prov, "synthetic") == 0,
                "per_symbol[0].provider");
        cJSON_Delete(j);
    }

    /* 3: the same range again: no request at all, served by the cache */
    o = base(syms, 3, synth, 1, cache, &log);
    o.end = D("2024-09-01");
    run_ok(&o, &s, "again");
    T_EQ_I(log.n, 0);
    T_EQ_I(s.from_cache, 3);
    T_EQ_I(s.requests, 0);
    bf_fetch_summary_free(&s);

    /* 4: an earlier start: only December 2023 (Jan 1 is a holiday) */
    o = base(syms, 1, synth, 1, cache, &log);
    o.start = D("2023-12-01");
    o.end = D("2024-09-01");
    run_ok(&o, &s, "earlier start");
    T_EQ_I(log.n, 1);
    T_EQ_I(log.a[0], D("2023-12-01T14:30:00Z"));
    T_EQ_I(log.b[0], D("2023-12-29T21:00:00Z"));
    bf_fetch_summary_free(&s);
    cache_equals_generate(cache, "AAA", "2023-12-01", "2024-09-01");

    /* 5: a range of a weekend and Labor Day: nothing to ask */
    o = base(syms, 3, synth, 1, cache, &log);
    o.start = D("2024-08-31");
    o.end = D("2024-09-03");
    run_ok(&o, &s, "weekend");
    T_EQ_I(log.n, 0);
    T_EQ_I(s.n_failed, 0);
    T_EQ_I(s.bars, 0);
    bf_fetch_summary_free(&s);

    /* 6: --refresh asks again; a stale temporary file and a corrupt file go away */
    snprintf(path, sizeof path, "%s/synthetic/15m/BBB.h5.tmp.999999999", cache);
    write_text(path, "left by a killed fetch");
    char junk[600];
    snprintf(junk, sizeof junk, "%s/synthetic/15m/BRK.B.h5", cache);
    write_text(junk, "garbage");
    o = base(syms, 3, synth, 1, cache, &log);
    o.refresh = 1;
    run_ok(&o, &s, "refresh");
    T_EQ_I(log.n, 3);
    T_EQ_I(s.n_failed, 0);
    bf_fetch_summary_free(&s);
    T_CHECK(!bf_path_exists(path), "stale temporary file not removed");
    cache_equals_generate(cache, "AAA", "2023-12-01", "2024-09-01"); /* refresh kept the rest */
    o = base(syms, 3, synth, 1, cache, &log);
    run_ok(&o, &s, "after corrupt");
    T_EQ_I(s.n_failed, 0);
    bf_fetch_summary_free(&s);
    cache_equals_generate(cache, "BRK.B", "2024-01-02", "2024-06-01");

    /* 7: csv first, synthetic as fallback */
    bf_mkdir_p(csvdir);
    snprintf(path, sizeof path, "%s/AAA.csv", csvdir);
    write_text(path,
               "# my data\n"
               "timestamp,open,high,low,close,volume,vwap,trades\n"
               "2024-07-01T09:30:00-04:00,10,11,9,10.5,1000,10.2,12\n"
               "2024-07-01T12:00:00Z,10,11,9,10.5,1000,,\n"      /* 08:00 NY: pre-market */
               "1719842400,10.5,11,10,10.75,2000,10.6,20\n"      /* 14:00Z as Unix seconds */
               "2024-07-01T13:45:00Z,10.5,11,10,10.6,1500,,\n"
               "2024-07-01T13:45:00Z,10.5,11,10,10.7,1600,,\n"   /* duplicate: the later wins */
               "2024-07-02T13:30:00Z,10.7,11,10,10.8,900,10.75,9\n");
    char c2[300];
    snprintf(c2, sizeof c2, "%s/cache2", g_root);
    const char *chain[] = {"csv", "synthetic"};
    const char *two[] = {"AAA", "BBB"};
    o = base(two, 2, chain, 2, c2, &log);
    o.net.csv_dir = csvdir;
    o.start = D("2024-07-01");
    o.end = D("2024-07-03");
    run_ok(&o, &s, "csv chain");
    T_EQ_I(s.n_failed, 0);
    if (s.sym) {
        T_EQ_I(s.sym[0].provider, 0);
        T_EQ_I(s.sym[0].bars, 4);
        T_EQ_I(s.sym[1].provider, 1);
    }
    bf_fetch_summary_free(&s);
    bf_bars c;
    bf_bars_init(&c, "AAA", 900);
    T_CHECK(bf_cache_read(c2, "csv", 900, "AAA", &c) == BF_OK && c.n == 4, "csv cache: %lld bars",
            (long long)c.n);
    if (c.n == 4) {
        T_EQ_I(c.ts[1], D("2024-07-01T13:45:00Z"));
        T_NEAR(c.close[1], 10.7, 0);
        T_CHECK(isnan(c.vwap[1]) && c.trades[1] == -1, "missing vwap/trades not NaN/-1");
        T_EQ_I(c.trades[0], 12);
    }
    bf_bars_free(&c);

    /* 8: csv alone: one symbol without a file fails, the other is served */
    const char *csv_only[] = {"csv"};
    const char *az[] = {"AAA", "ZZZ"};
    o = base(az, 2, csv_only, 1, c2, &log);
    o.net.csv_dir = csvdir;
    o.start = D("2024-07-01");
    o.end = D("2024-07-03");
    run_ok(&o, &s, "csv missing file");
    T_EQ_I(s.n_failed, 1);
    if (s.sym) {
        T_EQ_I(s.sym[0].status, BF_OK);
        T_CHECK(s.sym[1].status != BF_OK && s.sym[1].provider == -1, "ZZZ not failed");
        T_CHECK(s.error[1] != NULL, "no message for ZZZ");
        if (s.error[1])
            T_CONTAINS(s.error[1], "ZZZ.csv");
    }
    bf_fetch_summary_free(&s);
    /* a malformed row fails that symbol, naming file and line */
    snprintf(path, sizeof path, "%s/BAD.csv", csvdir);
    write_text(path, "timestamp,open,high,low,close,volume\n2024-07-01T13:30:00Z,1,2,0.5,1.5,10\n"
                     "2024-07-01T13:45:00Z,1,two,0.5,1.5,10\n");
    const char *bad[] = {"BAD"};
    o = base(bad, 1, csv_only, 1, c2, &log);
    o.net.csv_dir = csvdir;
    o.start = D("2024-07-01");
    o.end = D("2024-07-03");
    run_ok(&o, &s, "csv malformed");
    T_EQ_I(s.n_failed, 1);
    if (s.error && s.error[0])
        T_CONTAINS(s.error[0], "BAD.csv:3");
    bf_fetch_summary_free(&s);

    /* 9: a provider that cannot open (alpaca without keys) is skipped in the chain */
    const char *alp[] = {"alpaca", "synthetic"};
    o = base(syms, 2, alp, 2, c2, &log);
    run_ok(&o, &s, "alpaca without keys");
    T_EQ_I(s.n_failed, 0);
    if (s.sym)
        T_EQ_I(s.sym[0].provider, 1);
    bf_fetch_summary_free(&s);
    const char *alp_only[] = {"alpaca"};
    o = base(syms, 2, alp_only, 1, c2, &log);
    bf_clear_error();
    T_CHECK(bf_fetch_run(&o, &s) != BF_OK, "alpaca alone without keys ran");
    T_CONTAINS(bf_last_error(), "no provider could be opened");

    /* 10: extended hours live in their own directory */
    o = base(syms, 1, synth, 1, cache, &log);
    o.extended_hours = 1;
    o.start = D("2024-07-01");
    o.end = D("2024-07-02");
    run_ok(&o, &s, "extended");
    T_CHECK(s.sym && s.sym[0].bars > 26 && s.sym[0].expected == 64, "extended: %lld bars of %lld",
            s.sym ? (long long)s.sym[0].bars : -1LL, s.sym ? (long long)s.sym[0].expected : -1LL);
    bf_fetch_summary_free(&s);
    snprintf(path, sizeof path, "%s/synthetic/15m-ext/AAA.h5", cache);
    T_CHECK(bf_path_exists(path), "no %s", path);

    /* 11: bad options are refused before anything is requested */
    const char *trav[] = {"AAA", "../x"};
    o = base(trav, 2, synth, 1, cache, &log);
    T_CHECK(bf_fetch_run(&o, &s) == BF_EINVAL && log.n == 0, "'../x' accepted");
    const char *dup[] = {"AAA", "AAA"};
    o = base(dup, 2, synth, 1, cache, &log);
    T_CHECK(bf_fetch_check(&o) == BF_EINVAL, "duplicate symbol accepted");
    const char *unk[] = {"bloomberg"};
    o = base(syms, 1, unk, 1, cache, &log);
    T_CHECK(bf_fetch_check(&o) == BF_EINVAL, "unknown provider accepted");
    o = base(syms, 1, synth, 1, cache, &log);
    o.start = D("1999-01-04");
    T_CHECK(bf_fetch_check(&o) == BF_EINVAL, "1999 accepted");
    o = base(syms, 1, synth, 1, cache, &log);
    o.interval_s = 7;
    T_CHECK(bf_fetch_check(&o) == BF_EINVAL, "interval 7 s accepted");

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    T_CHECK(system(cmd) == 0, "cleanup");
    return bf_test_done("test_fetch");
}
