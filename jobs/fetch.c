/* fetch.c - `barforge fetch`: bars for a universe into the local cache
 * (engine: core/data/fetch.h). Runs as one process or as N MPI ranks.
 *
 * Exit codes: 0 every symbol served; 1 some symbol failed (named on stderr,
 * and in --summary-json); 2 bad flags or symbols (nothing was requested).
 * Dates: --start/--end take YYYY-MM-DD or RFC 3339; a plain --end date is
 * inclusive (its whole day), an RFC 3339 --end is an exclusive instant.
 */
#include "jobs/job.h"

#include "core/base/log.h"
#include "core/base/timeutil.h"
#include "core/data/fetch.h"
#include "core/data/synthetic.h"
#include "core/data/universe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SUMMARY "Fetch intraday bars for a universe of symbols into the local HDF5 cache:\n" \
                "cache first, then each provider in --providers order."

static int split_providers(char *s, const char **out, int max)
{
    int n = 0;
    for (char *save = NULL, *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        char *e = t + strlen(t);
        while (e > t && e[-1] == ' ')
            *--e = 0;
        if (!*t)
            continue;
        if (n == max)
            return -1;
        out[n++] = t;
    }
    return n;
}

int bf_job_fetch(int argc, char **argv)
{
    char *symbols = NULL, *symbols_file = NULL, *universe = NULL, *interval = NULL;
    char *providers = NULL, *cache_dir = NULL, *summary_json = NULL, *csv_dir = NULL;
    char *alpaca_key = NULL, *alpaca_secret = NULL, *av_key = NULL, *feed = NULL, *adjustment = NULL;
    char *alpaca_url = NULL, *yahoo_url = NULL, *av_url = NULL, *state_dir = NULL;
    int64_t start = 0, end = 0, seed = 0;
    int refresh = 0, extended = 0, max_retries = 0, table_rows = 0;
    double strength = 0, rate = 0;
    bf_opt opts[] = {
        {.name = "symbols", .type = BF_OPT_STR, .help = "comma-separated symbols, e.g. AAPL,MSFT,BRK.B", .dst = &symbols},
        {.name = "symbols-file", .type = BF_OPT_STR, .help = "file with one symbol per line ('#' comments)", .dst = &symbols_file},
        {.name = "universe", .type = BF_OPT_STR, .help = "default50 (data/universe/default50.txt) or synthetic:N (S00001..); the default when no symbols are given is default50", .dst = &universe},
        {.name = "interval", .type = BF_OPT_STR, .def = "15m", .help = "1m 5m 15m 30m 1h 1d (or 1Min 5Min 15Min 30Min 1Hour 1Day)", .dst = &interval},
        {.name = "start", .type = BF_OPT_DATE, .help = "first day (YYYY-MM-DD or RFC 3339); default: two years before --end", .dst = &start},
        {.name = "end", .type = BF_OPT_DATE, .help = "last day, inclusive (YYYY-MM-DD), or an exclusive RFC 3339 instant; default: today (UTC)", .dst = &end},
        {.name = "providers", .type = BF_OPT_STR, .def = "synthetic", .help = "fallback order, from synthetic,alpaca,yahoo,alphavantage,csv", .dst = &providers},
        {.name = "cache-dir", .type = BF_OPT_STR, .def = "data/cache", .help = "cache root: <dir>/<provider>/<interval>/<SYMBOL>.h5", .dst = &cache_dir},
        {.name = "refresh", .type = BF_OPT_FLAG, .def = "0", .help = "refetch the range even when it is cached", .dst = &refresh},
        {.name = "extended-hours", .type = BF_OPT_FLAG, .def = "0", .help = "include pre- and post-market bars (04:00-20:00 New York); default regular session 09:30-16:00", .dst = &extended},
        {.name = "seed", .type = BF_OPT_I64, .def = "42", .help = "synthetic provider: random seed", .dst = &seed},
        {.name = "signal-strength", .type = BF_OPT_NONNEGFLOAT, .def = "0.1", .help = "synthetic provider: correlation of the planted signal's oracle with y_4 (0 = pure noise, < 0.58); see docs/features.md, Synthetic data", .dst = &strength},
        {.name = "summary-json", .type = BF_OPT_STR, .help = "also write the summary as JSON to this file", .dst = &summary_json},
        {.name = "csv-dir", .type = BF_OPT_STR, .help = "csv provider: directory of <SYMBOL>.csv files (layout in docs/formats.md, Bar cache)", .dst = &csv_dir},
        {.name = "alpaca-key-id", .type = BF_OPT_SECRET, .env = "ALPACA_KEY_ID", .help = "Alpaca API key id", .dst = &alpaca_key},
        {.name = "alpaca-secret-key", .type = BF_OPT_SECRET, .env = "ALPACA_SECRET_KEY", .help = "Alpaca API secret key", .dst = &alpaca_secret},
        {.name = "alphavantage-key", .type = BF_OPT_SECRET, .env = "ALPHAVANTAGE_API_KEY", .help = "Alpha Vantage API key", .dst = &av_key},
        {.name = "alpaca-feed", .type = BF_OPT_STR, .def = "iex", .help = "Alpaca data feed (iex on free plans, sip)", .dst = &feed},
        {.name = "adjustment", .type = BF_OPT_STR, .def = "raw", .help = "price adjustment where the provider supports it: raw, split, dividend, all", .dst = &adjustment},
        {.name = "alpaca-url", .type = BF_OPT_STR, .help = "Alpaca data base URL (tests: a local server)", .dst = &alpaca_url},
        {.name = "yahoo-url", .type = BF_OPT_STR, .help = "Yahoo chart base URL", .dst = &yahoo_url},
        {.name = "alphavantage-url", .type = BF_OPT_STR, .help = "Alpha Vantage base URL", .dst = &av_url},
        {.name = "rate-limit", .type = BF_OPT_NONNEGFLOAT, .def = "0", .help = "requests per second per network provider, shared by all ranks (0: the provider's documented limit)", .dst = &rate},
        {.name = "max-retries", .type = BF_OPT_NONNEG, .def = "5", .help = "retries of a failed request (0: none)", .dst = &max_retries},
        {.name = "state-dir", .type = BF_OPT_STR, .help = "where provider quota counters live; default <cache-dir>/.state", .dst = &state_dir},
        {.name = "table-rows", .type = BF_OPT_NONNEG, .def = "60", .help = "print one row per symbol when there are at most this many", .dst = &table_rows},
    };
    int nopts = (int)(sizeof opts / sizeof opts[0]);
    bf_job j;
    int rc = bf_job_start(&j, "fetch", SUMMARY, opts, nopts, argc, argv);
    if (rc >= 0)
        return rc;

    int iv = 0;
    if (bf_interval_parse(interval, &iv) != BF_OK)
        return bf_job_usage_error(&j, "--interval: expected 1m 5m 15m 30m 1h 1d (or 1Min ... 1Day), got '%s'",
                                  interval);
    /* --end: a plain date means through that day; default today (UTC) */
    const char *end_raw = opts[5].raw;
    if (!end_raw) {
        end = ((int64_t)time(NULL) / 86400 + 1) * 86400;
    } else if (strlen(end_raw) == 10) {
        end += 86400;
    }
    if (!opts[4].raw) {
        bf_civil c;
        bf_utc_to_civil(end, &c);
        c.year -= 2;
        if (c.month == 2 && c.day == 29)
            c.day = 28;
        start = bf_utc_from_civil(&c);
    }
    const char *plist[BF_FETCH_MAX_PROVIDERS];
    int np = split_providers(providers, plist, BF_FETCH_MAX_PROVIDERS);
    if (np <= 0)
        return bf_job_usage_error(&j, "--providers: expected a comma-separated list of synthetic, "
                                      "alpaca, yahoo, alphavantage, csv, got '%s'",
                                  providers);
    for (int i = 0; i < np; i++)
        if (!bf_provider_known(plist[i]))
            return bf_job_usage_error(&j, "--providers: expected synthetic, alpaca, yahoo, "
                                          "alphavantage or csv, got '%s'",
                                      plist[i]);
    double smax = bf_synth_strength_max(BF_SYNTH_SIGNAL_HORIZON);
    if (strength >= smax)
        return bf_job_usage_error(&j, "--signal-strength: expected a number in [0, %.3f), got '%g'",
                                  smax, strength);

    bf_universe u;
    bf_universe_init(&u);
    bf_status st = bf_universe_resolve(&u, symbols, symbols_file, universe);
    if (st != BF_OK) {
        bf_universe_free(&u);
        return bf_job_finish(&j, st);
    }
    char sdir[4200];
    if (!state_dir || !*state_dir) {
        snprintf(sdir, sizeof sdir, "%s/.state", cache_dir);
        state_dir = sdir;
    }

    bf_fetch_opts o;
    memset(&o, 0, sizeof o);
    o.symbols = (const char *const *)u.sym;
    o.n_symbols = u.n;
    o.interval_s = iv;
    o.start = start;
    o.end = end;
    o.providers = plist;
    o.n_providers = np;
    o.cache_dir = cache_dir;
    o.refresh = refresh;
    o.extended_hours = extended;
    o.seed = (uint64_t)seed;
    o.signal_strength = strength;
    o.net.csv_dir = csv_dir;
    o.net.feed = feed;
    o.net.adjustment = adjustment;
    o.net.max_requests_per_s = rate;
    o.net.max_retries = max_retries == 0 ? -1 : max_retries;
    o.net.state_dir = state_dir;
    o.progress = 1;
    for (int i = 0; i < np; i++) {
        if (strcmp(plist[i], "alpaca") == 0) {
            o.base_url[i] = alpaca_url;
            o.key_id[i] = alpaca_key;
            o.secret_key[i] = alpaca_secret;
        } else if (strcmp(plist[i], "yahoo") == 0) {
            o.base_url[i] = yahoo_url;
        } else if (strcmp(plist[i], "alphavantage") == 0) {
            o.base_url[i] = av_url;
            o.key_id[i] = av_key;
        }
    }

    char s0[32], s1[32];
    bf_date_format(start, s0, sizeof s0);
    bf_date_format(end - 1, s1, sizeof s1);
    bf_log0(BF_LOG_INFO, "fetch: %d symbols (%s), %s bars, %s .. %s, providers %s, cache %s, %d rank(s)",
            u.n, u.source, bf_interval_name(iv), s0, s1, providers, cache_dir, bf_mpi_size());

    bf_fetch_summary sum;
    st = bf_fetch_run(&o, &sum);
    int failed = 0;
    if (st == BF_OK) {
        if (bf_mpi_rank() == 0) {
            bf_fetch_print(&o, &sum, stdout, table_rows);
            fflush(stdout);
            if (summary_json && *summary_json)
                st = bf_fetch_write_json(&o, &sum, summary_json);
        }
        st = bf_status_agree(st);
        failed = sum.n_failed;
        if (failed && bf_mpi_rank() == 0) {
            fprintf(stderr, "barforge fetch: %d of %d symbol(s) failed:", failed, sum.n_symbols);
            int shown = 0;
            for (int i = 0; i < sum.n_symbols && shown < 20; i++)
                if (sum.sym[i].status != BF_OK) {
                    fprintf(stderr, "%s %s", shown ? "," : "", sum.sym[i].symbol);
                    shown++;
                }
            fprintf(stderr, "%s\n", failed > shown ? ", ..." : "");
        }
        bf_fetch_summary_free(&sum);
    }
    bf_universe_free(&u);
    rc = bf_job_finish(&j, st);
    return rc == BF_EXIT_OK && failed ? BF_EXIT_FAILURE : rc;
}
