/* cache.h - the local bar cache: one HDF5 file per (provider, interval, symbol).
 *
 * Layout: <cache_dir>/<provider>/<interval name>/<SYMBOL>.h5 (e.g.
 * data/cache/synthetic/15m/AAPL.h5). One file per symbol lets ranks write
 * their own shards with no locking; a file is only ever replaced whole
 * (write <file>.tmp.<pid>, fsync, rename, fsync dir), so a killed process
 * leaves either the old file or the new one, never a partial one.
 * The file layout is documented in docs/formats.md and cache.c.
 */
#ifndef BF_CACHE_H
#define BF_CACHE_H

#include "core/data/bars.h"

#include <stdint.h>

/* Read the cached series. BF_ENOTFOUND if there is no file; BF_ECORRUPT if unreadable. */
bf_status bf_cache_read(const char *cache_dir, const char *provider, int interval_s,
                        const char *symbol, bf_bars *out);
/* Atomically replace the cached series with b (sorted, unique ts). */
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

#endif
