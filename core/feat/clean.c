/* clean.c - bf_bars_clean: make a bar series fit for features, counting what
 * was done so builds can report it.
 *
 * In order, each bar counted once under the first rule it breaks:
 *   nonfinite          any of open/high/low/close/volume NaN or +-Inf: dropped
 *   nonpositive_price  any price <= 0: dropped
 *   negative_volume    volume < 0: dropped
 *   hl_inconsistent    high below max(open, close, low) or low above
 *                      min(open, close, high): kept, high/low widened to
 *                      cover open and close (providers that exclude some
 *                      prints from high/low produce these)
 *   unsorted           adjacent pairs out of order (ts[i] < ts[i-1]) before
 *                      sorting; the series is then sorted by ts (stable)
 *   duplicate_ts       bars dropped because an equal ts came later in the
 *                      input: the later one wins, as in bf_bars_sort_dedup
 */
#include "core/feat/features.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int bar_finite(const bf_bars *b, int64_t i)
{
    return isfinite(b->open[i]) && isfinite(b->high[i]) && isfinite(b->low[i]) &&
           isfinite(b->close[i]) && isfinite(b->volume[i]);
}

static void copy_bar(bf_bars *b, int64_t dst, int64_t src)
{
    b->ts[dst] = b->ts[src];
    b->open[dst] = b->open[src];
    b->high[dst] = b->high[src];
    b->low[dst] = b->low[src];
    b->close[dst] = b->close[src];
    b->volume[dst] = b->volume[src];
    if (b->vwap)
        b->vwap[dst] = b->vwap[src];
    if (b->trades)
        b->trades[dst] = b->trades[src];
}

bf_status bf_bars_clean(bf_bars *b, bf_clean_report *rep)
{
    int64_t m = 0;
    for (int64_t i = 0; i < b->n; i++) {
        if (!bar_finite(b, i)) {
            rep->nonfinite++;
            continue;
        }
        if (!(b->open[i] > 0 && b->high[i] > 0 && b->low[i] > 0 && b->close[i] > 0)) {
            rep->nonpositive_price++;
            continue;
        }
        if (b->volume[i] < 0) {
            rep->negative_volume++;
            continue;
        }
        double o = b->open[i], c = b->close[i], h = b->high[i], l = b->low[i];
        double oc_hi = o > c ? o : c, oc_lo = o < c ? o : c;  /* all finite here */
        double hi = h > oc_hi ? h : oc_hi, lo = l < oc_lo ? l : oc_lo;
        hi = l > hi ? l : hi;
        lo = h < lo ? h : lo;
        if (h != hi || l != lo) {
            rep->hl_inconsistent++;
            b->high[i] = hi;
            b->low[i] = lo;
        }
        if (m != i)
            copy_bar(b, m, i);
        m++;
    }
    b->n = m;

    int64_t inversions = 0;
    for (int64_t i = 1; i < m; i++)
        inversions += b->ts[i] < b->ts[i - 1];
    rep->unsorted += inversions;
    /* stable sort; of equal timestamps the later input bar is kept */
    int64_t dropped = bf_bars_sort_dedup(b);
    if (dropped < 0)
        return BF_FAIL(BF_ENOMEM, "%s: out of memory sorting %lld bars", b->symbol, (long long)m);
    rep->duplicate_ts += dropped;
    return BF_OK;
}
