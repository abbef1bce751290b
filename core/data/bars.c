/* bars.c - bar series storage, intervals and symbol validation (see bars.h).
 *
 * Invariant kept by every function that returns a series to callers:
 * ts strictly increasing. Growth doubles capacity, so pushes are amortized O(1).
 */
#include "core/data/bars.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void bf_bars_init(bf_bars *b, const char *symbol, int interval_s)
{
    memset(b, 0, sizeof *b);
    if (symbol) {
        size_t n = 0;
        while (n < BF_SYMBOL_MAX - 1 && symbol[n])
            n++;
        memcpy(b->symbol, symbol, n);
        b->symbol[n] = 0;
    }
    b->interval_s = interval_s;
}

static bf_status grow(void **p, int64_t cap, size_t elem)
{
    void *q = realloc(*p, (size_t)cap * elem);
    BF_CHECK_ALLOC(q, (size_t)cap * elem);
    *p = q;
    return BF_OK;
}

bf_status bf_bars_reserve(bf_bars *b, int64_t cap)
{
    if (cap <= b->cap)
        return BF_OK;
    if (cap < 0 || cap > ((int64_t)1 << 40))
        return BF_FAIL(BF_EINVAL, "bar capacity %lld out of range for %s", (long long)cap,
                       b->symbol);
    BF_TRY(grow((void **)&b->ts, cap, sizeof *b->ts));
    BF_TRY(grow((void **)&b->open, cap, sizeof *b->open));
    BF_TRY(grow((void **)&b->high, cap, sizeof *b->high));
    BF_TRY(grow((void **)&b->low, cap, sizeof *b->low));
    BF_TRY(grow((void **)&b->close, cap, sizeof *b->close));
    BF_TRY(grow((void **)&b->volume, cap, sizeof *b->volume));
    BF_TRY(grow((void **)&b->vwap, cap, sizeof *b->vwap));
    BF_TRY(grow((void **)&b->trades, cap, sizeof *b->trades));
    b->cap = cap;
    return BF_OK;
}

bf_status bf_bars_push(bf_bars *b, int64_t ts, double o, double h, double l, double c, double v,
                       double vwap, int64_t trades)
{
    if (b->n == b->cap)
        BF_TRY(bf_bars_reserve(b, b->cap < 64 ? 64 : b->cap * 2));
    int64_t i = b->n++;
    b->ts[i] = ts;
    b->open[i] = o;
    b->high[i] = h;
    b->low[i] = l;
    b->close[i] = c;
    b->volume[i] = v;
    b->vwap[i] = vwap;
    b->trades[i] = trades;
    return BF_OK;
}

void bf_bars_clear(bf_bars *b) { b->n = 0; }

void bf_bars_move_row(bf_bars *b, int64_t dst, int64_t src)
{
    b->ts[dst] = b->ts[src];
    b->open[dst] = b->open[src];
    b->high[dst] = b->high[src];
    b->low[dst] = b->low[src];
    b->close[dst] = b->close[src];
    b->volume[dst] = b->volume[src];
    b->vwap[dst] = b->vwap[src];
    b->trades[dst] = b->trades[src];
}

void bf_bars_free(bf_bars *b)
{
    free(b->ts);
    free(b->open);
    free(b->high);
    free(b->low);
    free(b->close);
    free(b->volume);
    free(b->vwap);
    free(b->trades);
    b->ts = NULL;
    b->open = b->high = b->low = b->close = b->volume = b->vwap = NULL;
    b->trades = NULL;
    b->n = b->cap = 0;
}

static void copy_row(bf_bars *d, int64_t j, const bf_bars *s, int64_t i)
{
    d->ts[j] = s->ts[i];
    d->open[j] = s->open[i];
    d->high[j] = s->high[i];
    d->low[j] = s->low[i];
    d->close[j] = s->close[i];
    d->volume[j] = s->volume[i];
    d->vwap[j] = s->vwap[i];
    d->trades[j] = s->trades[i];
}

static int is_sorted_unique(const bf_bars *b)
{
    for (int64_t i = 1; i < b->n; i++)
        if (b->ts[i] <= b->ts[i - 1])
            return 0;
    return 1;
}

/* Stable bottom-up merge sort of row indices by ts (no globals, so callers may
 * sort different series from different threads). */
static void sort_idx(const int64_t *ts, int64_t *idx, int64_t *tmp, int64_t n)
{
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = ts[idx[j]] < ts[idx[i]] ? idx[j++] : idx[i++];
            while (i < mid)
                tmp[k++] = idx[i++];
            while (j < hi)
                tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
}

int64_t bf_bars_sort_dedup(bf_bars *b)
{
    if (b->n < 2 || is_sorted_unique(b))
        return 0;
    int64_t n = b->n;
    int64_t *idx = malloc((size_t)n * 2 * sizeof *idx);
    bf_bars tmp;
    bf_bars_init(&tmp, b->symbol, b->interval_s);
    if (!idx || bf_bars_reserve(&tmp, n) != BF_OK) {
        free(idx);
        bf_bars_free(&tmp);
        return -1; /* out of memory: the series is left unchanged */
    }
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    sort_idx(b->ts, idx, idx + n, n);
    int64_t k = 0;
    for (int64_t r = 0; r < n; r++) {
        int64_t i = idx[r];
        if (k > 0 && tmp.ts[k - 1] == b->ts[i])
            k--; /* a duplicate: the later row (stable order) replaces the earlier */
        copy_row(&tmp, k++, b, i);
    }
    free(idx);
    for (int64_t i = 0; i < k; i++)
        copy_row(b, i, &tmp, i);
    b->n = k;
    bf_bars_free(&tmp);
    return n - k;
}

bf_status bf_bars_merge(bf_bars *dst, const bf_bars *src)
{
    if (bf_bars_sort_dedup(dst) < 0)
        return BF_FAIL(BF_ENOMEM, "out of memory sorting %lld bars of %s", (long long)dst->n,
                       dst->symbol);
    if (src->n == 0)
        return BF_OK;
    bf_bars sorted;
    bf_bars_init(&sorted, src->symbol, src->interval_s);
    const bf_bars *s = src;
    if (!is_sorted_unique(src)) {
        BF_TRY(bf_bars_slice(src, INT64_MIN, INT64_MAX, &sorted));
        if (bf_bars_sort_dedup(&sorted) < 0) {
            bf_bars_free(&sorted);
            return BF_FAIL(BF_ENOMEM, "out of memory sorting %lld bars of %s",
                           (long long)src->n, src->symbol);
        }
        s = &sorted;
    }
    bf_bars out;
    bf_bars_init(&out, dst->symbol, dst->interval_s);
    bf_status st = bf_bars_reserve(&out, dst->n + s->n);
    if (st != BF_OK) {
        bf_bars_free(&sorted);
        return st;
    }
    int64_t i = 0, j = 0, k = 0;
    while (i < dst->n || j < s->n) {
        if (j >= s->n || (i < dst->n && dst->ts[i] < s->ts[j])) {
            copy_row(&out, k++, dst, i++);
        } else if (i >= dst->n || s->ts[j] < dst->ts[i]) {
            copy_row(&out, k++, s, j++);
        } else { /* same ts: dst keeps its row */
            copy_row(&out, k++, dst, i++);
            j++;
        }
    }
    out.n = k;
    bf_bars_free(&sorted);
    bf_bars_free(dst);
    *dst = out;
    return BF_OK;
}

bf_status bf_bars_slice(const bf_bars *b, int64_t start, int64_t end, bf_bars *out)
{
    bf_bars_clear(out);
    int64_t cnt = 0;
    for (int64_t i = 0; i < b->n; i++)
        cnt += b->ts[i] >= start && b->ts[i] < end;
    BF_TRY(bf_bars_reserve(out, cnt));
    int64_t k = 0;
    for (int64_t i = 0; i < b->n; i++)
        if (b->ts[i] >= start && b->ts[i] < end)
            copy_row(out, k++, b, i);
    out->n = k;
    return BF_OK;
}

/* --- intervals ------------------------------------------------------------ */

static const struct {
    int s;
    const char *name, *alpaca;
} g_iv[] = {
    {60, "1m", "1Min"},     {300, "5m", "5Min"},    {900, "15m", "15Min"},
    {1800, "30m", "30Min"}, {3600, "1h", "1Hour"}, {86400, "1d", "1Day"},
};
#define N_IV ((int)(sizeof g_iv / sizeof g_iv[0]))

bf_status bf_interval_parse(const char *s, int *seconds)
{
    if (s) {
        for (int i = 0; i < N_IV; i++)
            if (strcmp(s, g_iv[i].name) == 0 || strcmp(s, g_iv[i].alpaca) == 0) {
                *seconds = g_iv[i].s;
                return BF_OK;
            }
        if (strcmp(s, "60m") == 0 || strcmp(s, "60Min") == 0) {
            *seconds = 3600;
            return BF_OK;
        }
    }
    return BF_FAIL(BF_EINVAL,
                   "bad interval '%s': expected one of 1m 5m 15m 30m 1h 1d (or 1Min 5Min 15Min "
                   "30Min 1Hour 1Day)",
                   s ? s : "(null)");
}

const char *bf_interval_name(int seconds)
{
    for (int i = 0; i < N_IV; i++)
        if (g_iv[i].s == seconds)
            return g_iv[i].name;
    return "?";
}

const char *bf_interval_alpaca(int seconds)
{
    for (int i = 0; i < N_IV; i++)
        if (g_iv[i].s == seconds)
            return g_iv[i].alpaca;
    return "?";
}

/* --- symbols -------------------------------------------------------------- */

bf_status bf_symbol_validate(const char *sym)
{
    if (!sym)
        return BF_FAIL(BF_EINVAL, "missing symbol");
    size_t n = 0;
    while (n < BF_SYMBOL_MAX && sym[n])
        n++;
    if (n == 0)
        return BF_FAIL(BF_EINVAL, "empty symbol: expected 1 to 15 characters of A-Z 0-9 . -");
    if (n >= BF_SYMBOL_MAX)
        return BF_FAIL(BF_EINVAL, "bad symbol '%.40s%s': longer than 15 characters", sym,
                       strlen(sym) > 40 ? "..." : "");
    int lower = 0;
    for (size_t i = 0; i < n; i++) {
        char c = sym[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
        lower |= c >= 'a' && c <= 'z';
        if (!ok) {
            if (lower) {
                char up[BF_SYMBOL_MAX];
                for (size_t k = 0; k <= n; k++)
                    up[k] = (sym[k] >= 'a' && sym[k] <= 'z') ? (char)(sym[k] - 32) : sym[k];
                return BF_FAIL(BF_EINVAL,
                               "bad symbol '%s': symbols are upper case (A-Z 0-9 . -); did you "
                               "mean '%s'?",
                               sym, up);
            }
            return BF_FAIL(BF_EINVAL,
                           "bad symbol '%s': character '%c' not allowed (expected A-Z 0-9 . -)",
                           sym, c >= 0x20 && c < 0x7f ? c : '?');
        }
    }
    if (sym[0] == '.' || sym[0] == '-')
        return BF_FAIL(BF_EINVAL, "bad symbol '%s': must not start with '.' or '-'", sym);
    return BF_OK;
}
