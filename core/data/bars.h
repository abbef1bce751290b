/* bars.h - a series of OHLCV bars for one symbol at one interval.
 *
 * Convention (every provider converts to it):
 *   ts[i] is the bar's START, int64 UTC seconds; the bar covers
 *   [ts, ts + interval_s). A daily bar's ts is that session's open (09:30
 *   America/New_York, in UTC) and it ends at that session's close; use
 *   bf_bar_end() rather than ts + interval_s.
 *   ts is strictly increasing (sorted, unique) in any series handed between
 *   modules. Prices and volume are float64. vwap is NaN and trades is -1
 *   where the provider does not give them.
 * The arrays are separate (structure of arrays) so features stream over them.
 */
#ifndef BF_BARS_H
#define BF_BARS_H

#include "core/base/status.h"

#include <stdint.h>

#define BF_SYMBOL_MAX 16 /* 15 characters + NUL */

typedef struct bf_bars {
    char symbol[BF_SYMBOL_MAX];
    int interval_s;
    int64_t n, cap;
    int64_t *ts;
    double *open, *high, *low, *close, *volume, *vwap;
    int64_t *trades;
} bf_bars;

void bf_bars_init(bf_bars *b, const char *symbol, int interval_s);
bf_status bf_bars_reserve(bf_bars *b, int64_t cap);
bf_status bf_bars_push(bf_bars *b, int64_t ts, double o, double h, double l, double c, double v,
                       double vwap, int64_t trades);
void bf_bars_clear(bf_bars *b);   /* n = 0, keeps memory */
/* row src's fields into row dst (compaction loops; dst <= src) */
void bf_bars_move_row(bf_bars *b, int64_t dst, int64_t src);
void bf_bars_free(bf_bars *b);
/* sort by ts and drop duplicate timestamps (the later one wins); returns dropped count */
int64_t bf_bars_sort_dedup(bf_bars *b);
/* append src rows with ts not already in dst, keep sorted/unique */
bf_status bf_bars_merge(bf_bars *dst, const bf_bars *src);
/* copy rows with start <= ts < end into out (out initialized by caller) */
bf_status bf_bars_slice(const bf_bars *b, int64_t start, int64_t end, bf_bars *out);

/* Intervals: "1m 5m 15m 30m 1h 1d" and Alpaca aliases "1Min 5Min 15Min 30Min
 * 1Hour 1Day" (also "60m"). Returns seconds (86400 for 1d) or BF_EINVAL. */
bf_status bf_interval_parse(const char *s, int *seconds);
/* canonical short name ("15m", "1h", "1d") */
const char *bf_interval_name(int seconds);
/* Alpaca timeframe ("15Min", "1Hour", "1Day") */
const char *bf_interval_alpaca(int seconds);

/* Symbols: [A-Z0-9.-]{1,15}, not starting with '.' or '-'. Checked before any
 * request or path is formed. BF_EINVAL naming the symbol otherwise. */
bf_status bf_symbol_validate(const char *sym);

#endif
