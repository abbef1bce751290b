/* fetch.h - the fetch engine behind `barforge fetch`: bars for a universe of
 * symbols into the local cache, over any number of MPI ranks.
 *
 * For each symbol (ranks own disjoint sets, balanced by the bars each must
 * fetch, bf_shard_weighted):
 *   1. cache: the first provider (in --providers order) whose cache already
 *      covers [start, end) serves it, with no request (not with --refresh);
 *   2. otherwise each provider in order is asked for the ranges its cache
 *      lacks (incremental; trimmed to whole sessions, so weekends and
 *      holidays are never requested); the first that delivers wins: its
 *      bars are merged into its cache file (atomic replace) together with
 *      the ranges now covered;
 *   3. a symbol no provider could serve is failed, with each provider's
 *      reason; the others carry on.
 * A provider "delivers" when every requested range succeeds and the symbol
 * then has bars in [start, end) (a provider that returns nothing at all for a
 * symbol is treated as not having it). Network providers (all but synthetic
 * and csv) are only asked for bars that have finished 15 minutes ago.
 * Every network provider gets cfg.n_ranks = number of ranks, so N ranks
 * together stay within its rate limit.
 *
 * bf_fetch_run is collective: every rank calls it with the same options and
 * every rank gets the whole summary (symbols in input order).
 */
#ifndef BF_FETCH_H
#define BF_FETCH_H

#include "core/data/provider.h"

#include <stdint.h>
#include <stdio.h>

#define BF_FETCH_MAX_PROVIDERS 8

typedef struct bf_fetch_opts {
    const char *const *symbols; /* validated again here; duplicates refused */
    int n_symbols;
    int interval_s;
    int64_t start, end;         /* [start, end), UTC seconds, within the calendar years */
    const char *const *providers; /* fallback order, e.g. {"alpaca", "yahoo"} */
    int n_providers;
    const char *cache_dir;      /* e.g. "data/cache" */
    int refresh;                /* refetch [start, end) even when cached */
    int extended_hours;         /* 0: regular session */
    uint64_t seed;              /* synthetic */
    double signal_strength;     /* synthetic: see synthetic.h */
    /* provider settings passed through (keys, csv_dir, rate limits, retries);
     * extended_hours, n_ranks, seed, signal_strength and base_url are set here */
    bf_provider_config net;
    const char *base_url[BF_FETCH_MAX_PROVIDERS]; /* per providers[i]; NULL = default/env */
    const char *key_id[BF_FETCH_MAX_PROVIDERS];   /* per providers[i]; NULL = net.key_id */
    const char *secret_key[BF_FETCH_MAX_PROVIDERS]; /* per providers[i]; NULL = net.secret_key */
    int64_t now;                /* 0: the wall clock (tests pin it) */
    /* optional: called for every symbol of every provider request */
    void (*on_request)(void *ctx, const char *provider, const char *symbol, int64_t start,
                       int64_t end);
    void *on_request_ctx;
    int progress;               /* 1: bf_progress lines per rank */
} bf_fetch_opts;

typedef struct bf_fetch_sym {
    char symbol[16];
    int provider;               /* index into providers; -1 when failed */
    int from_cache;             /* 1: no request was needed */
    int status;                 /* bf_status: BF_OK or why it failed */
    int rank;                   /* the rank that handled it */
    int64_t bars;               /* bars in [start, end) now cached */
    int64_t expected;           /* calendar bars in [start, end) (up to now for network) */
    int64_t gaps;               /* max(0, expected - bars) */
    int64_t fetched;            /* bars received from providers in this run */
    int64_t requests;           /* provider requests made for it */
} bf_fetch_sym;

typedef struct bf_fetch_summary {
    int n_symbols, n_failed, n_ranks;
    bf_fetch_sym *sym;          /* n_symbols, in input order */
    char **error;               /* n_symbols; NULL or the failure message */
    int64_t bars, gaps, fetched, requests, from_cache;
    double elapsed_s;           /* wall time of the slowest rank */
    double peak_rss_mb;         /* largest peak resident set over ranks */
    double cpu_s;               /* user + system CPU seconds of the run, summed over ranks */
} bf_fetch_summary;

bf_status bf_fetch_run(const bf_fetch_opts *o, bf_fetch_summary *out);
void bf_fetch_summary_free(bf_fetch_summary *s);

/* The table printed at the end (per provider; per symbol when <= max_rows
 * symbols; failed symbols named with their reasons). */
void bf_fetch_print(const bf_fetch_opts *o, const bf_fetch_summary *s, FILE *f, int max_rows);
/* The same as JSON (atomic write). Layout in docs/formats.md ("## Bar cache"). */
bf_status bf_fetch_write_json(const bf_fetch_opts *o, const bf_fetch_summary *s, const char *path);

/* Validate the options (symbols, providers, interval, range, cache dir):
 * BF_EINVAL naming the bad value. bf_fetch_run calls it first. */
bf_status bf_fetch_check(const bf_fetch_opts *o);

#endif
