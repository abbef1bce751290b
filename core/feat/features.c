/* features.c - feature names, spec validation and the per-symbol row build
 * (features from the stream, then labels). See features.h and
 * docs/features.md. */
#include "core/feat/features.h"

#include "core/feat/feat_stream.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const feat_base_names[BF_FEAT_PER_INTERVAL] = {
    "open", "high", "low", "close", "volume", "ret_1", "logret_1", "rv_15", "rv_60", "rsi_14",
    "vol_z"};

int bf_feat_count(const bf_feat_spec *s) { return BF_FEAT_PER_INTERVAL * s->n_intervals; }

/* "1d", "1h", "15m", "90s": the names bf_interval_name gives for the usual ones */
static void interval_label(int sec, char *buf, size_t n)
{
    if (sec == 86400)
        snprintf(buf, n, "1d");
    else if (sec % 3600 == 0)
        snprintf(buf, n, "%dh", sec / 3600);
    else if (sec % 60 == 0)
        snprintf(buf, n, "%dm", sec / 60);
    else
        snprintf(buf, n, "%ds", sec);
}

void bf_feat_name(const bf_feat_spec *s, int i, char out[BF_FEAT_NAME_MAX])
{
    if (i < 0 || i >= bf_feat_count(s)) {
        snprintf(out, BF_FEAT_NAME_MAX, "?");
        return;
    }
    int k = i / BF_FEAT_PER_INTERVAL, j = i % BF_FEAT_PER_INTERVAL;
    char iv[12];
    if (k == 0)
        snprintf(iv, sizeof iv, "base");
    else
        interval_label(s->interval_s[k], iv, sizeof iv);
    snprintf(out, BF_FEAT_NAME_MAX, "%s@%s", feat_base_names[j], iv);
}

bf_status bf_feat_spec_validate(const bf_feat_spec *s)
{
    if (s->n_intervals < 1 || s->n_intervals > BF_MAX_INTERVALS)
        return BF_FAIL(BF_EINVAL, "%d intervals given (base included): use 1 to %d",
                       s->n_intervals, BF_MAX_INTERVALS);
    int base = s->interval_s[0];
    if (base <= 0 || base >= 86400 || 86400 % base != 0)
        return BF_FAIL(BF_EINVAL, "base interval of %d s: use an intraday interval that divides "
                       "a day (e.g. 900 for 15m)", base);
    for (int k = 1; k < s->n_intervals; k++) {
        int I = s->interval_s[k], prev = s->interval_s[k - 1];
        if (I <= prev)
            return BF_FAIL(BF_EINVAL, "interval %d (%d s) is not longer than the one before it "
                           "(%d s): list --intervals in increasing order, all above the base",
                           k, I, prev);
        if (I != 86400 && (I > 86400 || I % base != 0 || 86400 % I != 0))
            return BF_FAIL(BF_EINVAL, "interval of %d s: a higher interval must be a multiple "
                           "of the base (%d s) that divides a day, or 1d", I, base);
    }
    if (s->n_horizons < 1 || s->n_horizons > BF_MAX_HORIZONS)
        return BF_FAIL(BF_EINVAL, "%d label horizons given: use 1 to %d", s->n_horizons,
                       BF_MAX_HORIZONS);
    for (int h = 0; h < s->n_horizons; h++) {
        if (s->horizons[h] < 1)
            return BF_FAIL(BF_EINVAL, "horizon %d: horizons are counted in base bars and must "
                           "be >= 1", s->horizons[h]);
        if (h > 0 && s->horizons[h] <= s->horizons[h - 1])
            return BF_FAIL(BF_EINVAL, "horizons must be strictly ascending (%d after %d)",
                           s->horizons[h], s->horizons[h - 1]);
    }
    if (s->labels_cross_overnight != 0 && s->labels_cross_overnight != 1)
        return BF_FAIL(BF_EINVAL, "labels_cross_overnight=%d: use 0 or 1",
                       s->labels_cross_overnight);
    return BF_OK;
}

void bf_feat_rows_free(bf_feat_rows *r)
{
    free(r->X);
    free(r->y);
    free(r->ts_end);
    free(r->valid);
    free(r->feat_ok);
    free(r->session);
    memset(r, 0, sizeof *r);
}

/* Size the arrays for n rows of F features and H labels; keeps memory that is
 * big enough, so a caller looping over symbols reallocates rarely. */
static bf_status rows_reserve(bf_feat_rows *r, int64_t n, int F, int H)
{
    if (n > r->cap || F != r->F || H != r->H || !r->X) {
        /* an eighth more than asked: symbols' bar counts differ by a few
         * bars, and growing by exactly that each time had every worker
         * reallocate (and fault in fresh pages) for most symbols */
        int64_t cap = n > 0 ? n + n / 8 + 64 : 1;
        if (F == r->F && H == r->H && cap < r->cap)
            cap = r->cap;
        bf_feat_rows nr = {0};
        nr.cap = cap;
        nr.X = malloc((size_t)cap * F * sizeof(float));
        nr.y = malloc((size_t)cap * H * sizeof(float));
        nr.ts_end = malloc((size_t)cap * sizeof(int64_t));
        nr.valid = malloc((size_t)cap);
        nr.feat_ok = malloc((size_t)cap);
        nr.session = malloc((size_t)cap * sizeof(int32_t));
        if (!nr.X || !nr.y || !nr.ts_end || !nr.valid || !nr.feat_ok || !nr.session) {
            bf_feat_rows_free(&nr);
            return BF_FAIL(BF_ENOMEM, "out of memory for %lld feature rows x %d features",
                           (long long)cap, F);
        }
        bf_feat_rows_free(r);
        *r = nr;
    }
    r->n = n;
    r->F = F;
    r->H = H;
    r->n_nonfinite = 0;
    return BF_OK;
}

static bf_status check_input(const bf_feat_spec *s, const bf_bars *base)
{
    BF_TRY(bf_feat_spec_validate(s));
    if (base->interval_s != 0 && base->interval_s != s->interval_s[0])
        return BF_FAIL(BF_EINVAL, "%s: bars are %d s but the base interval is %d s",
                       base->symbol, base->interval_s, s->interval_s[0]);
    return BF_OK;
}

/* label h of the row whose log close is lci, from the log close lc h bars
 * later: NaN when that bar is in a later session, unless allowed */
static inline float label(int cross, int32_t sess_i, int32_t sess_j, double lci, double lc)
{
    return (cross || sess_j == sess_i) ? (float)(lc - lci) : NAN;
}

/* rings indexed by bar & (R - 1): a power of two above the longest horizon,
 * so that row i's entry is still there when bar i + max(horizons) arrives */
static int64_t label_ring_len(const bf_feat_spec *s)
{
    int64_t R = 1;
    while (R < s->horizons[s->n_horizons - 1] + 1)
        R *= 2;
    return R;
}

bf_status bf_feat_build_symbol(const bf_feat_spec *s, const bf_bars *base, bf_feat_rows *out)
{
    BF_TRY(check_input(s, base));
    const int F = bf_feat_count(s), H = s->n_horizons;
    const int64_t n = base->n;
    BF_TRY(rows_reserve(out, n, F, H));

    bf_feat_stream st;
    BF_TRY(bf_feat_stream_init(&st, s));
    /* Labels: y_h[i] = log(close[i+h]) - log(close[i]) (= log of the ratio up
     * to ~1e-15; one log per bar instead of one per label), filled in when
     * bar i+h arrives; NaN when i+h is past the end, or in a later session
     * unless allowed. log() of a positive finite double is finite, so labels
     * never overflow. A ring of the last hmax+1 log closes suffices. */
    const int hmax = s->horizons[H - 1];
    const int64_t R = label_ring_len(s);
    double *ring = malloc((size_t)R * sizeof *ring);
    if (!ring)
        return BF_FAIL(BF_ENOMEM, "out of memory for %lld label values", (long long)R);
    const int cross = s->labels_cross_overnight;
    for (int64_t j = 0; j < n; j++) {
        int ok;
        bf_status rc = bf_feat_stream_push(&st, base->ts[j], base->open[j], base->high[j],
                                           base->low[j], base->close[j], base->volume[j],
                                           out->X + j * F, &out->session[j], &ok);
        if (rc != BF_OK) {
            free(ring);
            return bf_fail_context(rc, "%s, bar %lld", base->symbol, (long long)j);
        }
        out->ts_end[j] = base->ts[j] + s->interval_s[0];
        out->feat_ok[j] = (uint8_t)ok;
        if (!ok && bf_feat_stream_warm(&st))
            out->n_nonfinite++;  /* warm, yet a value overflowed float */
        const double lc = log(base->close[j]);
        ring[j & (R - 1)] = lc;
        for (int k = 0; k < H; k++) {
            int64_t i = j - s->horizons[k];
            if (i < 0)
                break;
            out->y[i * H + k] = label(cross, out->session[i], out->session[j],
                                      ring[i & (R - 1)], lc);
        }
    }
    free(ring);
    for (int64_t i = n - hmax > 0 ? n - hmax : 0; i < n; i++)
        for (int k = 0; k < H; k++)
            if (i + s->horizons[k] >= n)
                out->y[i * H + k] = NAN;
    for (int64_t i = 0; i < n; i++) {
        int ok = out->feat_ok[i];
        for (int k = 0; k < H; k++)
            ok &= !isnan(out->y[i * H + k]);
        out->valid[i] = (uint8_t)ok;
    }
    return BF_OK;
}

/* Row i (its features in px, its labels in py, all known now) kept into the
 * output or counted as dropped. */
typedef struct sel_ctx {
    bf_feat_sel *out;
    float *X, *y;
    int64_t *ts_end;
    int F, H, seen;
} sel_ctx;

static void sel_row(sel_ctx *c, const float *px, const float *py, int feat_ok, int64_t ts_end)
{
    const int F = c->F, H = c->H;
    int ok = feat_ok;
    for (int k = 0; k < H; k++)
        ok &= !isnan(py[k]);
    bf_feat_sel *o = c->out;
    if (!ok) {
        if (c->seen)
            o->no_label++;
        else
            o->warmup++;
        return;
    }
    c->seen = 1;
    if (!bf_row_finite(px, F) || !bf_row_finite(py, H)) {
        o->nonfinite++;
        return;
    }
    memcpy(c->X + o->n * F, px, (size_t)F * sizeof *px);
    memcpy(c->y + o->n * H, py, (size_t)H * sizeof *py);
    c->ts_end[o->n] = ts_end;
    o->n++;
}

bf_status bf_feat_build_symbol_sel(const bf_feat_spec *s, const bf_bars *base, float *X, float *y,
                                   int64_t *ts_end, bf_feat_sel *out)
{
    memset(out, 0, sizeof *out);
    BF_TRY(check_input(s, base));
    const int F = bf_feat_count(s), H = s->n_horizons, I = s->interval_s[0];
    const int64_t n = base->n;
    bf_feat_stream st;
    BF_TRY(bf_feat_stream_init(&st, s));
    /* the rows whose labels are not all known yet: the last hmax + 1 bars'
     * features, labels, sessions, feature flags and log closes, in rings of
     * R >= hmax + 1 entries (labels as in bf_feat_build_symbol) */
    const int hmax = s->horizons[H - 1];
    const int64_t R = label_ring_len(s), M = R - 1;
    size_t bytes = (size_t)R * (sizeof(double) + (size_t)(F + H) * sizeof(float) +
                                sizeof(int32_t) + 1);
    char *mem = malloc(bytes);
    if (!mem)
        return BF_FAIL(BF_ENOMEM, "out of memory for %lld pending feature rows", (long long)R);
    double *lcr = (double *)mem;
    float *px = (float *)(lcr + R), *py = px + R * F;
    int32_t *sess = (int32_t *)(py + R * H);
    uint8_t *fok = (uint8_t *)(sess + R);
    const int cross = s->labels_cross_overnight;
    sel_ctx c = {out, X, y, ts_end, F, H, 0};
    for (int64_t j = 0; j < n; j++) {
        const int64_t r = j & M;
        int ok;
        bf_status rc = bf_feat_stream_push(&st, base->ts[j], base->open[j], base->high[j],
                                           base->low[j], base->close[j], base->volume[j],
                                           px + r * F, &sess[r], &ok);
        if (rc != BF_OK) {
            free(mem);
            return bf_fail_context(rc, "%s, bar %lld", base->symbol, (long long)j);
        }
        fok[r] = (uint8_t)ok;
        if (!ok && bf_feat_stream_warm(&st))
            out->n_overflow++; /* warm, yet a value overflowed float */
        const double lc = log(base->close[j]);
        lcr[r] = lc;
        for (int k = 0; k < H; k++) {
            int64_t i = j - s->horizons[k];
            if (i < 0)
                break;
            py[(i & M) * H + k] = label(cross, sess[i & M], sess[r], lcr[i & M], lc);
        }
        const int64_t i = j - hmax; /* every label of row i is known now */
        if (i >= 0)
            sel_row(&c, px + (i & M) * F, py + (i & M) * H, fok[i & M], base->ts[i] + I);
    }
    /* the last hmax rows lack the longest horizon's future: never kept */
    for (int64_t i = n - hmax > 0 ? n - hmax : 0; i < n; i++) {
        if (c.seen)
            out->no_label++;
        else
            out->warmup++;
    }
    free(mem);
    return BF_OK;
}
