/* split_scale.c - see split_scale.h and docs/features.md ("Splits",
 * "Scaling"). Quantiles follow numpy's default (linear) percentile and
 * np.median, as sklearn's RobustScaler does, so the pandas reference in
 * bench/build/pandas_build.py agrees to rounding. */
#include "core/feat/split_scale.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* a fraction of n as a row index; the 1e-9 keeps 0.7 * 100 from becoming 69 */
static int64_t frac_index(double f, int64_t n)
{
    int64_t i = (int64_t)floor(f * (double)n + 1e-9);
    return i < 0 ? 0 : (i > n ? n : i);
}

bf_status bf_split_boundaries(const bf_split_spec *s, const int64_t *sorted_times, int64_t n,
                              int64_t *val_start, int64_t *test_start)
{
    if (s->purge_bars < 0)
        return BF_FAIL(BF_EINVAL, "purge of %d bars: use >= 0 (at least max horizon + seq_len "
                       "- 1)", s->purge_bars);
    if (s->val_start != 0 || s->test_start != 0) {
        if (s->val_start <= 0 || s->test_start <= 0 || s->test_start < s->val_start)
            return BF_FAIL(BF_EINVAL, "explicit split dates need both a validation start and a "
                           "test start, validation first (got %lld and %lld)",
                           (long long)s->val_start, (long long)s->test_start);
        *val_start = s->val_start;
        *test_start = s->test_start;
        return BF_OK;
    }
    if (!(s->train_frac > 0 && s->train_frac < 1 && s->val_frac >= 0 &&
          s->train_frac + s->val_frac < 1))
        return BF_FAIL(BF_EINVAL, "split fractions train=%g val=%g: need 0 < train, 0 <= val, "
                       "train + val < 1 (test gets the rest)", s->train_frac, s->val_frac);
    if (n <= 0)
        return BF_FAIL(BF_EINVAL, "no rows to split: every symbol lacked warm-up or labels "
                       "(fetch a longer history)");
    const int64_t after_last = sorted_times[n - 1] + 1;
    int64_t iv = frac_index(s->train_frac, n), it = frac_index(s->train_frac + s->val_frac, n);
    *val_start = iv < n ? sorted_times[iv] : after_last;
    *test_start = it < n ? sorted_times[it] : after_last;
    return BF_OK;
}

/* first i with ts[i] >= t */
static int64_t lower_bound(const int64_t *ts, int64_t n, int64_t t)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (ts[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void bf_split_assign(const int64_t *ts_end, int64_t n, int64_t val_start, int64_t test_start,
                     int purge_bars, int8_t *split)
{
    int64_t iv = lower_bound(ts_end, n, val_start), it = lower_bound(ts_end, n, test_start);
    if (it < iv)
        it = iv;
    for (int64_t i = 0; i < n; i++)
        split[i] = i < iv ? BF_SPLIT_TRAIN : (i < it ? BF_SPLIT_VAL : BF_SPLIT_TEST);
    const int64_t bounds[2] = {iv, it};
    for (int b = 0; b < 2; b++) {
        int64_t lo = bounds[b] - purge_bars;
        for (int64_t i = lo < 0 ? 0 : lo; i < bounds[b]; i++)
            split[i] = BF_SPLIT_NONE;
    }
}

/* ------------------------------------------------------------------ scaler */

static void swapd(double *a, double *b)
{
    double t = *a;
    *a = *b;
    *b = t;
}

/* Rearrange a[lo..hi] so that a[k] holds the value of rank k, smaller ones
 * before it and larger ones after (Hoare selection, median-of-three pivot). */
static void select_k(double *a, int64_t lo, int64_t hi, int64_t k)
{
    while (hi > lo) {
        int64_t mid = lo + (hi - lo) / 2;
        if (a[mid] < a[lo])
            swapd(&a[mid], &a[lo]);
        if (a[hi] < a[lo])
            swapd(&a[hi], &a[lo]);
        if (a[hi] < a[mid])
            swapd(&a[hi], &a[mid]);
        double p = a[mid];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < p)
                i++;
            while (a[j] > p)
                j--;
            if (i <= j) {
                swapd(&a[i], &a[j]);
                i++;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return;
    }
}

/* smallest value in a[lo..hi] */
static double min_of(const double *a, int64_t lo, int64_t hi)
{
    double m = a[lo];
    for (int64_t i = lo + 1; i <= hi; i++)
        m = a[i] < m ? a[i] : m;
    return m;
}

/* numpy's lerp in percentile(method="linear") */
static double lerp_np(double a, double b, double t)
{
    double d = b - a;
    return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

/* Quantiles 25/50/75 of a[0..m) (destroys the order). After selecting rank
 * k, everything above k is >= a[k], so rank k+1 is the minimum there and the
 * next selection only searches above. */
static void quartiles(double *a, int64_t m, double *q25, double *q50, double *q75)
{
    const double ps[3] = {0.25, 0.5, 0.75};
    double out[3];
    int64_t from = 0;
    for (int q = 0; q < 3; q++) {
        double pos = ps[q] * (double)(m - 1);
        int64_t k = (int64_t)floor(pos);
        double t = pos - (double)k;
        select_k(a, from, m - 1, k);
        double lo = a[k], hi = k + 1 < m ? min_of(a, k + 1, m - 1) : lo;
        out[q] = q == 1 ? (t > 0 ? (lo + hi) / 2.0 : lo) : (t > 0 ? lerp_np(lo, hi, t) : lo);
        from = k;
    }
    *q25 = out[0];
    *q50 = out[1];
    *q75 = out[2];
}

bf_status bf_scaler_init(bf_scaler *s, int F)
{
    memset(s, 0, sizeof *s);
    if (F <= 0)
        return BF_FAIL(BF_EINVAL, "scaler with %d features", F);
    s->F = F;
    s->median = calloc((size_t)F, sizeof(double));
    s->iqr = malloc((size_t)F * sizeof(double));
    s->zero_iqr = calloc((size_t)F, 1);
    if (!s->median || !s->iqr || !s->zero_iqr) {
        bf_scaler_free(s);
        return BF_FAIL(BF_ENOMEM, "out of memory for a scaler of %d features", F);
    }
    for (int j = 0; j < F; j++)
        s->iqr[j] = 1.0;
    return BF_OK;
}

bf_status bf_scaler_fit_masked(bf_scaler *s, const float *X, int64_t n, int F,
                               const uint8_t *use)
{
    BF_TRY(bf_scaler_init(s, F));
    int64_t rows = 0;
    for (int64_t i = 0; i < n; i++)
        rows += !use || use[i];
    if (rows == 0) {
        bf_scaler_free(s);
        return BF_FAIL(BF_EINVAL, "no training rows to fit the scaler on (%lld rows given, "
                       "none selected)", (long long)n);
    }
    double *col = malloc((size_t)rows * sizeof *col);
    if (!col) {
        bf_scaler_free(s);
        return BF_FAIL(BF_ENOMEM, "out of memory for a scaler column of %lld rows",
                       (long long)rows);
    }
    for (int j = 0; j < F; j++) {
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++) {
            if (use && !use[i])
                continue;
            float v = X[i * F + j];
            if (v - v == 0.0f)  /* finite values only */
                col[m++] = v;
        }
        double q25 = 0, q50 = 0, q75 = 0;
        if (m > 0) {
            double lo = col[0], hi = col[0];
            for (int64_t i = 1; i < m; i++) {
                lo = col[i] < lo ? col[i] : lo;
                hi = col[i] > hi ? col[i] : hi;
            }
            s->n_constant += lo == hi;
            quartiles(col, m, &q25, &q50, &q75);
        }
        double iqr = q75 - q25;
        s->median[j] = q50;
        /* sklearn's _handle_zeros_in_scale threshold */
        if (!(iqr >= 10.0 * DBL_EPSILON)) {
            s->iqr[j] = 1.0;
            s->zero_iqr[j] = 1;
            s->n_zero_iqr++;
        } else {
            s->iqr[j] = iqr;
        }
    }
    free(col);
    return BF_OK;
}

bf_status bf_scaler_fit(bf_scaler *s, const float *X, int64_t n, int F)
{
    return bf_scaler_fit_masked(s, X, n, F, NULL);
}

void bf_scaler_apply(const bf_scaler *s, float *X, int64_t n)
{
    const int F = s->F;
    for (int64_t i = 0; i < n; i++) {
        float *x = X + i * F;
        for (int j = 0; j < F; j++) {
            double v = ((double)x[j] - s->median[j]) / s->iqr[j];
            /* keep finite inputs finite (NaN stays NaN) */
            if (v > FLT_MAX)
                v = FLT_MAX;
            else if (v < -FLT_MAX)
                v = -FLT_MAX;
            x[j] = (float)v;
        }
    }
}

void bf_scaler_free(bf_scaler *s)
{
    free(s->median);
    free(s->iqr);
    free(s->zero_iqr);
    memset(s, 0, sizeof *s);
}
