/* cache.h - the local bar cache: one HDF5 file per (provider, interval,
 * session mode, symbol).
 *
 * Layout: <cache_dir>/<provider>/<interval name>/<SYMBOL>.h5 for regular-
 * session bars (e.g. data/cache/synthetic/15m/AAPL.h5) and
 * <cache_dir>/<provider>/<interval name>-ext/<SYMBOL>.h5 for extended hours.
 * One file per symbol lets ranks write their own shards with no locking; a
 * file is only ever replaced whole (write <file>.tmp.<pid>, flush, fsync,
 * rename, fsync dir), so a killed process leaves either the old file or the
 * new one, never a partial one. Readers look only at *.h5 names, so stale
 * temporary files are ignored (and removed by the next fetch of the symbol).
 * The file layout is documented in docs/formats.md and cache.c.
 *
 * Besides the bars a file records the ranges already fetched ("covered"),
 * [start, end) pairs, so ranges without bars (holidays, halts, a provider
 * with no data) are not requested again. Every bar lies in a covered range.
 */
#ifndef BF_CACHE_H
#define BF_CACHE_H

#include "core/data/bars.h"

#include <stddef.h>
#include <stdint.h>

#define BF_CACHE_SCHEMA_VERSION 1

/* Where a series lives. */
typedef struct bf_cache_loc {
    const char *dir;      /* cache root, e.g. "data/cache" */
    const char *provider; /* "synthetic", "alpaca", ... */
    int interval_s;
    int extended_hours;   /* 0: regular session */
    int ohlcv_only;       /* loads: skip vwap and trades (left NaN / -1) */
} bf_cache_loc;

/* --- regular-session API (what the dataset builder uses) ------------------- */

/* Read the cached series into out (initialized by the caller, memory reused).
 * BF_ENOTFOUND if there is no file; BF_ECORRUPT if unreadable. */
bf_status bf_cache_read(const char *cache_dir, const char *provider, int interval_s,
                        const char *symbol, bf_bars *out);
/* Atomically replace the cached series with b (sorted, unique ts); the file's
 * covered ranges become [first ts, end of last bar) when b has bars. */
bf_status bf_cache_write(const char *cache_dir, const char *provider, int interval_s,
                         const bf_bars *b);
/* Ranges recorded as fetched (covered even when a range had no bars, e.g.
 * holidays), as [start,end) pairs: *n_ranges pairs into a malloc'd array. */
bf_status bf_cache_covered(const char *cache_dir, const char *provider, int interval_s,
                           const char *symbol, int64_t **ranges, int *n_ranges);
/* First provider in the list whose cache has the symbol; BF_ENOTFOUND otherwise. */
bf_status bf_cache_find(const char *cache_dir, const char *const *providers, int n_providers,
                        int interval_s, const char *symbol, int *which);
/* path into buf */
bf_status bf_cache_path(const char *cache_dir, const char *provider, int interval_s,
                        const char *symbol, char *buf, int n);

/* --- full API (any session mode) ------------------------------------------- */

/* Validates the provider name, the interval and the symbol before forming it. */
bf_status bf_cache_loc_path(const bf_cache_loc *loc, const char *symbol, char *buf, size_t n);
/* Bars into out (may be NULL; initialized by the caller with bf_bars_init,
 * its memory is reused) and covered ranges into *ranges and *n_ranges (may
 * be NULL; malloc'd, free it). Checks the schema, equal lengths, sorted unique
 * ts and that every bar lies in a covered range: BF_ECORRUPT naming the file
 * otherwise. BF_ENOTFOUND when there is no file. */
bf_status bf_cache_load(const bf_cache_loc *loc, const char *symbol, bf_bars *out,
                        int64_t **ranges, int *n_ranges);
/* The same checks for any file path (tools and the kill test); provider and
 * interval attributes are reported through meta when not NULL. */
typedef struct bf_cache_meta {
    char symbol[BF_SYMBOL_MAX];
    char provider[32];
    int interval_s, extended_hours, schema_version;
    char written_at[32];
} bf_cache_meta;
bf_status bf_cache_load_path(const char *path, bf_bars *out, int64_t **ranges, int *n_ranges,
                             bf_cache_meta *meta);
/* Atomically replace the file with b and the covered ranges (normalized
 * here; b's bars must lie inside them). */
bf_status bf_cache_store(const bf_cache_loc *loc, const bf_bars *b, const int64_t *ranges,
                         int n_ranges);
/* Remove stale <SYMBOL>.h5.tmp.<pid> files in loc's directory whose symbol
 * `owned` accepts (NULL: all) and whose pid is not a live process here.
 * *removed (may be NULL) gets the count. A missing directory is not an error. */
bf_status bf_cache_clean_stale(const bf_cache_loc *loc, int (*owned)(const char *sym, void *ctx),
                               void *ctx, int *removed);

/* --- [start, end) range lists (pairs in one int64 array) ------------------- */

/* Sort and merge overlapping or touching ranges in place; returns the count. */
int bf_ranges_normalize(int64_t *r, int n);
/* The parts of [start, end) not covered by cov (normalized): written to out
 * (capacity cap pairs); returns the count (may exceed cap: then truncated). */
int bf_ranges_missing(const int64_t *cov, int ncov, int64_t start, int64_t end, int64_t *out,
                      int cap);

#endif
