/* split_scale.h - time splits with a purge gap, and robust scaling.
 *
 * Splits are by time over the union of all symbols' row times, so every
 * symbol's train rows precede its val rows, which precede its test rows.
 * Between consecutive splits, `purge_bars` base rows of each symbol are
 * dropped (purge >= max_horizon + seq_len - 1; docs/features.md says why),
 * so that no training window or label overlaps validation or test data.
 */
#ifndef BF_SPLIT_SCALE_H
#define BF_SPLIT_SCALE_H

#include "core/base/status.h"

#include <stdint.h>

enum { BF_SPLIT_TRAIN = 0, BF_SPLIT_VAL = 1, BF_SPLIT_TEST = 2, BF_SPLIT_NONE = -1 };

typedef struct bf_split_spec {
    double train_frac, val_frac;  /* used when the dates are 0; test = rest */
    int64_t val_start, test_start; /* explicit boundaries (UTC seconds), 0 = use fractions */
    int purge_bars;
} bf_split_spec;

/* Time boundaries from the sorted distinct row times of all symbols (gathered
 * by the caller across ranks): rows with ts_end < val_start are train, ...
 * With fractions, val_start = sorted_times[floor(train_frac * n)] and
 * test_start = sorted_times[floor((train_frac + val_frac) * n)] (one past the
 * last time when the index is n). Explicit dates need both, val first. */
bf_status bf_split_boundaries(const bf_split_spec *s, const int64_t *sorted_times, int64_t n,
                              int64_t *val_start, int64_t *test_start);

/* Assign each of one symbol's rows (ts ascending) to a split, applying the
 * purge: the last purge_bars rows before each boundary become BF_SPLIT_NONE.
 * Pass the rows that training windows are formed over (the rows written to
 * the dataset, i.e. the valid rows): the purge counts those rows. */
void bf_split_assign(const int64_t *ts_end, int64_t n, int64_t val_start, int64_t test_start,
                     int purge_bars, int8_t *split);

/* The same assignment as runs: rows [at[k], at[k] + cnt[k]) are split k
 * (train, val, test; ts ascending, so each split is one run); at[k] is -1
 * when cnt[k] is 0. */
void bf_split_runs(const int64_t *ts_end, int64_t n, int64_t val_start, int64_t test_start,
                   int purge_bars, int64_t at[3], int64_t cnt[3]);

typedef enum { BF_SCALER_ROBUST_PER_SYMBOL = 0, BF_SCALER_ROBUST_GLOBAL = 1 } bf_scaler_kind;

/* Robust scaler: x' = (x - median) / iqr. An IQR of zero (constant feature)
 * uses scale 1 and is counted in n_zero_iqr so builds can report it. */
typedef struct bf_scaler {
    int F;
    double *median, *iqr;  /* F each */
    int n_zero_iqr;
    /* added with the implementation */
    uint8_t *zero_iqr;     /* F: 1 where the IQR was zero (iqr[j] then holds 1) */
    int n_constant;        /* features whose fitted values were all equal */
} bf_scaler;

/* Quantiles are numpy's linear percentiles (np.median for the median),
 * over the finite values of each column; IQR < 10 * DBL_EPSILON counts as
 * zero (sklearn's rule). BF_EINVAL when no row is selected. */

/* Fit on n rows of X (row-major n x F, float). Allocates s->median/iqr. */
bf_status bf_scaler_fit(bf_scaler *s, const float *X, int64_t n, int F);
/* Fit on the rows i < n with use[i] != 0 (use NULL = all), e.g. one
 * symbol's valid train rows, without copying them out first. */
bf_status bf_scaler_fit_masked(bf_scaler *s, const float *X, int64_t n, int F,
                               const uint8_t *use);
/* An identity scaler (median 0, iqr 1) of F features, e.g. to load saved
 * medians/iqrs into. */
bf_status bf_scaler_init(bf_scaler *s, int F);
/* x' = (x - median) / iqr per column, clamped to +-FLT_MAX so finite input
 * stays finite; NaN stays NaN. */
void bf_scaler_apply(const bf_scaler *s, float *X, int64_t n);
/* The same, and returns how many results are NaN (the only non-finite
 * result: finite and infinite inputs are clamped). Vectorized where the CPU
 * has AVX-512 (BARFORGE_SCALE_SCALAR=1 turns that off), bit-identical to: */
int64_t bf_scaler_apply_count_nan(const bf_scaler *s, float *X, int64_t n);
/* dst row i = the scaled row sel[i] of X (sel NULL: row i; dst may be X
 * when sel is NULL or sel[i] >= i, which compacting selections satisfy);
 * returns the NaN count. */
int64_t bf_scaler_apply_rows(const bf_scaler *s, const float *X, const int64_t *sel, int64_t n,
                             float *dst);
/* the scalar reference */
void bf_scaler_apply_scalar(const bf_scaler *s, float *X, int64_t n);
void bf_scaler_free(bf_scaler *s);

#endif
