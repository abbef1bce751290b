/* features.h - per-symbol feature rows, labels, cleaning (the seed's
 * engineer_basic_features + make_dataset, without look-ahead).
 *
 * For one symbol's base bars (e.g. 15m, regular session), a row per base bar:
 *   X[row, k*11 + j]  feature j of interval k (k = 0 is the base interval,
 *                     then --intervals in order, e.g. 1h, 1d), j in
 *                     open, high, low, close, volume, ret_1, logret_1, rv_15,
 *                     rv_60, rsi_14, vol_z (names "close@base", "rsi_14@1h").
 *   Higher intervals are resampled from the base bars; a base row uses only
 *   higher-interval bars that had COMPLETED at the row's bar close.
 *   y[row, h]         log(close[t+horizons[h]] / close[t]) (base bars)
 *   ts_end[row]       the base bar's end (UTC seconds): the row's time.
 *   valid[row]        1 when the row has full feature warm-up and a full
 *                     future for every horizon (so rows can be dropped).
 *   feat_ok[row]      1 when the features alone are complete (valid without
 *                     the label condition): such rows may serve as window
 *                     context even when their own label is missing.
 *   session[row]      NY calendar date of the bar (days since 1970-01-01).
 * Values that are not defined (warm-up, missing future) are NaN in X and y;
 * every row with valid = 1 is finite in X and y.
 * Every window length, estimator and warm-up is in docs/features.md.
 */
#ifndef BF_FEATURES_H
#define BF_FEATURES_H

#include "core/data/bars.h"

#include <stdint.h>

#define BF_FEAT_PER_INTERVAL 11
#define BF_MAX_INTERVALS 4
#define BF_MAX_HORIZONS 8
#define BF_FEAT_NAME_MAX 32

typedef struct bf_feat_spec {
    int n_intervals;                   /* including the base */
    int interval_s[BF_MAX_INTERVALS];  /* [0] = base interval */
    int n_horizons;
    int horizons[BF_MAX_HORIZONS];     /* in base bars, ascending */
    int labels_cross_overnight;        /* 0: a label whose future crosses a session boundary is invalid */
    int extended_hours;                /* bars include extended hours */
} bf_feat_spec;

int bf_feat_count(const bf_feat_spec *s);  /* 11 * n_intervals */
/* names[i] for i < bf_feat_count */
void bf_feat_name(const bf_feat_spec *s, int i, char out[BF_FEAT_NAME_MAX]);
bf_status bf_feat_spec_validate(const bf_feat_spec *s);

typedef struct bf_feat_rows {
    int64_t n, cap;
    int F, H;
    float *X;        /* n x F row-major */
    float *y;        /* n x H */
    int64_t *ts_end; /* n */
    uint8_t *valid;  /* n */
    /* added with the implementation (fields above are the original contract) */
    uint8_t *feat_ok;    /* n: features complete and finite */
    int32_t *session;    /* n: NY date of the bar start, days since 1970-01-01 */
    int64_t n_nonfinite; /* rows dropped because a value overflowed float (absurd prices) */
} bf_feat_rows;

void bf_feat_rows_free(bf_feat_rows *r);

/* Counts of what cleaning did (reported in build summaries). */
typedef struct bf_clean_report {
    int64_t nonfinite, nonpositive_price, negative_volume, duplicate_ts, unsorted, hl_inconsistent;
} bf_clean_report;

/* Drop bars with NaN/Inf or non-positive prices, negative volume; sort and
 * de-duplicate timestamps; counts in rep (accumulated). */
bf_status bf_bars_clean(bf_bars *b, bf_clean_report *rep);

/* Compute rows for one symbol. b must be clean (sorted, unique, positive):
 * BF_EINVAL naming the bar otherwise. out is zero-initialized by the caller
 * the first time; its memory is reused across calls (free with
 * bf_feat_rows_free). One row per base bar, in bar order. */
bf_status bf_feat_build_symbol(const bf_feat_spec *s, const bf_bars *base, bf_feat_rows *out);

/* The rows of one symbol that a dataset keeps, in bar order: valid (above)
 * and finite in X and y (checked, not assumed), written straight into the
 * caller's X (n x F), y (n x H) and ts_end, which hold at least base->n rows.
 * One pass over the bars with no per-bar row buffer: a row is kept or
 * dropped once its longest-horizon label is known, max(horizons) bars later.
 * The same values as bf_feat_build_symbol's kept rows, bit for bit. */
typedef struct bf_feat_sel {
    int64_t n;          /* rows written */
    int64_t warmup;     /* dropped: not valid, before the first valid row */
    int64_t no_label;   /* dropped: not valid, after the first valid row */
    int64_t nonfinite;  /* dropped: valid but a value not finite */
    int64_t n_overflow; /* as bf_feat_rows.n_nonfinite */
} bf_feat_sel;
bf_status bf_feat_build_symbol_sel(const bf_feat_spec *s, const bf_bars *base, float *X, float *y,
                                   int64_t *ts_end, bf_feat_sel *out);

/* whether x[0..n) are all finite: a value's magnitude bits plus the lowest
 * exponent bit carry into the sign bit exactly for Inf and NaN, so one OR
 * over the row tells (integer operations, no branch per value) */
static inline int bf_row_finite(const float *x, int n)
{
    uint32_t acc = 0;
    for (int j = 0; j < n; j++) {
        uint32_t u;
        __builtin_memcpy(&u, &x[j], sizeof u);
        acc |= (u & 0x7fffffffu) + 0x00800000u;
    }
    return !(acc & 0x80000000u);
}

#endif
