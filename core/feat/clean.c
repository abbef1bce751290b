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

/* stable merge sort of idx[0..n) by ts[idx] */
static void msort(int64_t *idx, int64_t *tmp, int64_t n, const int64_t *ts)
{
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi)
                tmp[k++] = ts[idx[b]] < ts[idx[a]] ? idx[b++] : idx[a++];
            while (a < mid)
                tmp[k++] = idx[a++];
            while (b < hi)
                tmp[k++] = idx[b++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
}

static void permute_f64(double *a, const int64_t *idx, int64_t n, double *tmp)
{
    for (int64_t i = 0; i < n; i++)
        tmp[i] = a[idx[i]];
    memcpy(a, tmp, (size_t)n * sizeof *a);
}

static void permute_i64(int64_t *a, const int64_t *idx, int64_t n, int64_t *tmp)
{
    for (int64_t i = 0; i < n; i++)
        tmp[i] = a[idx[i]];
    memcpy(a, tmp, (size_t)n * sizeof *a);
}

static bf_status sort_bars(bf_bars *b)
{
    int64_t n = b->n;
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    int64_t *tmp = malloc((size_t)n * sizeof *tmp);
    double *dtmp = malloc((size_t)n * sizeof *dtmp);
    if (!idx || !tmp || !dtmp) {
        free(idx);
        free(tmp);
        free(dtmp);
        return BF_FAIL(BF_ENOMEM, "%s: out of memory sorting %lld bars", b->symbol,
                       (long long)n);
    }
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    msort(idx, tmp, n, b->ts);
    permute_i64(b->ts, idx, n, tmp);
    if (b->trades)
        permute_i64(b->trades, idx, n, tmp);
    double *cols[] = {b->open, b->high, b->low, b->close, b->volume, b->vwap};
    for (int c = 0; c < 6; c++)
        if (cols[c])
            permute_f64(cols[c], idx, n, dtmp);
    free(idx);
    free(tmp);
    free(dtmp);
    return BF_OK;
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
    if (inversions) {
        rep->unsorted += inversions;
        BF_TRY(sort_bars(b));
    }
    /* after a stable sort, the last bar of a run of equal ts came last in the input */
    int64_t k = 0;
    for (int64_t i = 0; i < m; i++) {
        if (i + 1 < m && b->ts[i + 1] == b->ts[i]) {
            rep->duplicate_ts++;
            continue;
        }
        if (k != i)
            copy_bar(b, k, i);
        k++;
    }
    b->n = k;
    return BF_OK;
}
