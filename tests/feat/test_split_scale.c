/* test_split_scale - split boundaries (fractions, dates, errors), purge
 * assignment (exactly purge_bars rows before each boundary, per symbol), and
 * the robust scaler (numpy-percentile quartiles, zero IQR and constant
 * features reported, finite output, masks). */
#include "feat_testutil.h"

#include "core/base/rng.h"
#include "core/feat/split_scale.h"

#include <float.h>

static void test_boundaries(void)
{
    int64_t t[100];
    for (int i = 0; i < 100; i++)
        t[i] = 1000 + 10 * i;
    bf_split_spec s = {.train_frac = 0.7, .val_frac = 0.15, .purge_bars = 5};
    int64_t vs = 0, ts = 0;
    TU_CHECK(bf_split_boundaries(&s, t, 100, &vs, &ts) == BF_OK, "%s", bf_last_error());
    TU_CHECK(vs == t[70] && ts == t[85], "fractions 0.7/0.15 of 100 times: val %lld test %lld, "
             "want %lld %lld", (long long)vs, (long long)ts, (long long)t[70], (long long)t[85]);
    s.train_frac = 0.29, s.val_frac = 0.0;  /* 0.29 * 100 = 28.999999999999996 */
    TU_CHECK(bf_split_boundaries(&s, t, 100, &vs, &ts) == BF_OK && vs == t[29] && ts == t[29],
             "0.29 of 100 gives index %lld, want 29", (long long)((vs - 1000) / 10));
    bf_split_spec d = {.val_start = 5000, .test_start = 6000, .purge_bars = 3};
    TU_CHECK(bf_split_boundaries(&d, t, 100, &vs, &ts) == BF_OK && vs == 5000 && ts == 6000,
             "explicit dates");
    bf_split_spec bad[] = {{.val_start = 5000},
                           {.val_start = 6000, .test_start = 5000},
                           {.train_frac = 0.8, .val_frac = 0.2},
                           {.train_frac = 0.0, .val_frac = 0.2},
                           {.train_frac = 0.7, .val_frac = 0.1, .purge_bars = -1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        TU_CHECK(bf_split_boundaries(&bad[i], t, 100, &vs, &ts) == BF_EINVAL,
                 "bad split spec %zu accepted", i);
    bf_split_spec ok = {.train_frac = 0.7, .val_frac = 0.15};
    TU_CHECK(bf_split_boundaries(&ok, t, 0, &vs, &ts) == BF_EINVAL, "no rows accepted");
}

/* one symbol's rows: counts per split and exactly P dropped before each boundary */
static void check_assign(const int64_t *ts, int64_t n, int64_t vs, int64_t tst, int P,
                         const char *what)
{
    int8_t *sp = malloc((size_t)n);
    bf_split_assign(ts, n, vs, tst, P, sp);
    /* bf_split_runs: the same rows as runs */
    int64_t at[3], cnt[3];
    bf_split_runs(ts, n, vs, tst, P, at, cnt);
    for (int k = 0; k < 3; k++)
        for (int64_t i = 0; i < n; i++) {
            int in = cnt[k] > 0 && i >= at[k] && i < at[k] + cnt[k];
            TU_CHECK(in == (sp[i] == k), "%s: row %lld split %d, runs say split %d %s", what,
                     (long long)i, sp[i], k, in ? "has it" : "does not");
        }
    int64_t iv = 0, it = 0;
    while (iv < n && ts[iv] < vs)
        iv++;
    it = iv;
    while (it < n && ts[it] < tst)
        it++;
    for (int64_t i = 0; i < n; i++) {
        int want = i < iv ? BF_SPLIT_TRAIN : (i < it ? BF_SPLIT_VAL : BF_SPLIT_TEST);
        if ((i < iv && i >= iv - P) || (i < it && i >= it - P))
            want = BF_SPLIT_NONE;
        TU_CHECK(sp[i] == want, "%s: row %lld split %d, want %d", what, (long long)i, sp[i],
                 want);
    }
    /* the purge in numbers: rows NONE right before each boundary */
    int64_t none_before_val = 0, none_before_test = 0;
    for (int64_t i = iv - 1; i >= 0 && sp[i] == BF_SPLIT_NONE; i--)
        none_before_val++;
    for (int64_t i = it - 1; i >= iv && sp[i] == BF_SPLIT_NONE; i--)
        none_before_test++;
    int64_t want_v = iv < P ? iv : P, want_t = (it - iv) < P ? (it - iv) : P;
    TU_CHECK(none_before_val == want_v && none_before_test == want_t,
             "%s: %lld purged before val (want %lld), %lld before test (want %lld)", what,
             (long long)none_before_val, (long long)want_v, (long long)none_before_test,
             (long long)want_t);
    free(sp);
}

static void test_assign(void)
{
    int64_t a[200], b[40];
    for (int i = 0; i < 200; i++)
        a[i] = 100 * i;
    for (int i = 0; i < 40; i++)
        b[i] = 13000 + 150 * i;  /* a symbol that starts late and ends after test_start */
    check_assign(a, 200, 14000, 17000, 71, "P=71 (8 + 64 - 1)");
    check_assign(a, 200, 14000, 17000, 0, "P=0");
    check_assign(b, 40, 14000, 17000, 71, "short symbol, P larger than its train rows");
    check_assign(b, 40, 14000, 17000, 3, "short symbol, P=3");
    check_assign(a, 200, 14000, 14000, 5, "empty val");
    check_assign(a, 200, 30000, 40000, 5, "all train");
}

static void test_scaler(void)
{
    enum { N = 101, F = 4 };
    float *X = malloc(sizeof(float) * N * F);
    for (int i = 0; i < N; i++) {
        X[i * F + 0] = (float)(100 - i);     /* 0..100: q25 25, median 50, q75 75 */
        X[i * F + 1] = 7.0f;                 /* constant */
        X[i * F + 2] = i < 80 ? 1.0f : (float)i; /* IQR 0, not constant */
        X[i * F + 3] = i == 50 ? NAN : (float)(i % 10); /* a NaN is skipped */
    }
    bf_scaler sc;
    TU_CHECK(bf_scaler_fit(&sc, X, N, F) == BF_OK, "%s", bf_last_error());
    TU_CHECK(sc.median[0] == 50.0 && sc.iqr[0] == 50.0, "col 0: median %g iqr %g", sc.median[0],
             sc.iqr[0]);
    TU_CHECK(sc.n_zero_iqr == 2 && sc.zero_iqr[1] && sc.zero_iqr[2] && !sc.zero_iqr[0] &&
                 sc.iqr[1] == 1.0 && sc.iqr[2] == 1.0,
             "zero IQR columns: n=%d flags %d %d %d", sc.n_zero_iqr, sc.zero_iqr[0],
             sc.zero_iqr[1], sc.zero_iqr[2]);
    TU_CHECK(sc.n_constant == 1, "constant features %d, want 1", sc.n_constant);
    /* col 3 without row 50 (value 0): 100 values, 10 each of 0..9 -> numpy
     * percentile 25 at position 24.75 = 2, median 4.5, 75 at 74.25 = 7 */
    TU_CHECK(sc.median[3] == 4.5 && sc.iqr[3] == 5.0, "col 3 (NaN skipped): median %g iqr %g",
             sc.median[3], sc.iqr[3]);
    bf_scaler_apply(&sc, X, N);
    int finite = 1;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < 3; j++)
            finite &= isfinite(X[i * F + j]);
    TU_CHECK(finite, "scaled values not finite");
    TU_CHECK(X[0] == 1.0f && X[1] == 0.0f, "scaled (100-50)/50 = %g, constant 7 -> %g", X[0],
             X[1]);
    TU_CHECK(isnan(X[50 * F + 3]), "NaN must stay NaN");
    bf_scaler_free(&sc);

    /* masked fit: even rows only; quartiles of 0,2,..,100 (51 values) */
    uint8_t use[N];
    for (int i = 0; i < N; i++) {
        X[i * F + 0] = (float)i;
        use[i] = i % 2 == 0;
    }
    TU_CHECK(bf_scaler_fit_masked(&sc, X, N, F, use) == BF_OK, "%s", bf_last_error());
    TU_CHECK(sc.median[0] == 50.0 && sc.iqr[0] == 50.0, "masked: median %g iqr %g",
             sc.median[0], sc.iqr[0]);
    bf_scaler_free(&sc);
    /* interpolated quartiles: 1..8 -> numpy gives 2.75, 4.5, 6.25 */
    float Y[8];
    for (int i = 0; i < 8; i++)
        Y[i] = (float)(8 - i);
    TU_CHECK(bf_scaler_fit(&sc, Y, 8, 1) == BF_OK && sc.median[0] == 4.5 && sc.iqr[0] == 3.5,
             "1..8: median %g iqr %g, want 4.5 3.5", sc.median[0], sc.iqr[0]);
    bf_scaler_free(&sc);
    memset(use, 0, sizeof use);
    TU_CHECK(bf_scaler_fit_masked(&sc, X, N, F, use) == BF_EINVAL, "no selected rows accepted");
    /* clamping: tiny IQR and a huge outlier stay finite */
    float Z[8] = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f + 1e-6f, 3e38f};
    TU_CHECK(bf_scaler_fit(&sc, Z, 8, 1) == BF_OK, "%s", bf_last_error());
    TU_CHECK(sc.iqr[0] > 0 && sc.iqr[0] < 1e-6 && !sc.zero_iqr[0], "tiny IQR %g", sc.iqr[0]);
    bf_scaler_apply(&sc, Z, 8);
    TU_CHECK(Z[7] == FLT_MAX, "outlier scaled to %g, want FLT_MAX", Z[7]);
    bf_scaler_free(&sc);
    free(X);
}

/* numpy's linear percentile of the sorted values v[0..m), as the scaler
 * defines it (np.median's mean of the two middle values for q = 0.5) */
static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static double ref_quantile(const float *v, int64_t m, double p, int median)
{
    double pos = p * (double)(m - 1);
    int64_t k = (int64_t)floor(pos);
    double t = pos - (double)k, lo = v[k], hi = v[k + 1 < m ? k + 1 : k];
    if (t == 0.0)
        return lo;
    if (median)
        return (lo + hi) / 2.0;
    double d = hi - lo;
    return t >= 0.5 ? hi - d * (1.0 - t) : lo + d * t;
}

/* The fit against a full sort, exactly, on the column shapes that take its
 * different paths: 19 columns (two full blocks of 8, whose rows are keyed
 * eight at a time where the CPU can, and a partial block), distinct values,
 * runs of repeats (a higher interval's feature: selected on its runs),
 * repeats that come back later, few distinct values, negatives and signed
 * zeros, runs that stop after the first rows; NaN and +-Inf in scattered rows (those rows go one at a time); with
 * and without a row mask, on lengths that leave partial groups of 8. */
static void test_scaler_against_sort(void)
{
    enum { F = 19 };
    const int64_t sizes[4] = {7, 64, 1003, 20011};
    float *col = malloc(sizeof(float) * 20011);
    for (int si = 0; si < 4; si++) {
        const int64_t N = sizes[si];
        float *X = malloc(sizeof(float) * (size_t)N * F);
        uint8_t *use = malloc((size_t)N);
        for (int j = 0; j < F; j++) {
            float runv = 0.0f;
            int64_t left = 0;
            for (int64_t i = 0; i < N; i++) {
                double g = bf_rng_normal(11, (uint64_t)j, (uint64_t)si, (uint64_t)i);
                float v;
                switch (j % 6) {
                case 0: v = (float)(g * 0.01); break;               /* distinct */
                case 1:                                              /* runs */
                    if (left == 0) {
                        runv = (float)(100.0 + g);
                        left = 1 + (int64_t)((g * g) * 7.0) % 30;
                    }
                    left--;
                    v = runv;
                    break;
                case 2: v = (float)((int64_t)(g * 3.0)) * 0.5f; break; /* few values, +-0 */
                case 3:                                              /* runs of few values */
                    if (left == 0) {
                        runv = (float)((int64_t)(g * 4.0));
                        left = 1 + (i % 26);
                    }
                    left--;
                    v = runv;
                    break;
                case 4: v = (float)(g * 1e6); break;
                default: /* runs for the first 600 rows, then distinct */
                    if (left == 0) {
                        runv = (float)g;
                        left = i < 600 ? 8 : 1;
                    }
                    left--;
                    v = i < 600 ? runv : (float)g;
                    break;
                }
                X[i * F + j] = v;
            }
        }
        for (int64_t i = 0; i < N; i++) {
            use[i] = (uint8_t)(bf_rng_normal(12, 0, (uint64_t)si, (uint64_t)i) > -0.8);
            if (i % 97 == 13)
                X[i * F + (i % F)] = NAN;
            if (i % 211 == 5)
                X[i * F + ((i + 3) % F)] = i % 2 ? INFINITY : -INFINITY;
        }
        for (int masked = 0; masked < 2; masked++) {
            bf_scaler sc;
            TU_CHECK(bf_scaler_fit_masked(&sc, X, N, F, masked ? use : NULL) == BF_OK, "%s",
                     bf_last_error());
            int bad = 0;
            for (int j = 0; j < F && !bad; j++) {
                int64_t m = 0;
                for (int64_t i = 0; i < N; i++)
                    if ((!masked || use[i]) && isfinite(X[i * F + j]))
                        col[m++] = X[i * F + j];
                qsort(col, (size_t)m, sizeof *col, cmp_float);
                double q25 = ref_quantile(col, m, 0.25, 0), q50 = ref_quantile(col, m, 0.5, 1),
                       q75 = ref_quantile(col, m, 0.75, 0), iqr = q75 - q25;
                if (!(iqr >= 10.0 * DBL_EPSILON))
                    iqr = 1.0;
                if (sc.median[j] != q50 || sc.iqr[j] != iqr) {
                    TU_CHECK(0, "N=%lld masked=%d column %d: median %.9g iqr %.9g, a full sort "
                             "gives %.9g %.9g", (long long)N, masked, j, sc.median[j],
                             sc.iqr[j], q50, iqr);
                    bad = 1;
                }
            }
            bf_scaler_free(&sc);
        }
        free(X);
        free(use);
    }
    free(col);
}

/* The vectorized apply (where the CPU has it) against the scalar reference,
 * bit for bit, on widths that leave partial vectors, with NaN, +-Inf,
 * huge values, denormals and signed zeros; and the NaN count. */
static void test_apply_vector_matches_scalar(void)
{
    static const int widths[] = {1, 7, 8, 9, 33, 70};
    for (int w = 0; w < 6; w++) {
        const int F = widths[w], n = 301;
        bf_scaler sc;
        TU_CHECK(bf_scaler_init(&sc, F) == BF_OK, "%s", bf_last_error());
        for (int j = 0; j < F; j++) {
            sc.median[j] = 0.37 * j - 3.0;
            sc.iqr[j] = j % 5 == 0 ? 1e-30 : 0.5 + 0.01 * j;
        }
        float *a = malloc((size_t)n * F * sizeof *a), *b = malloc((size_t)n * F * sizeof *b);
        TU_CHECK(a && b, "alloc");
        bf_rng r;
        bf_rng_init(&r, 7, 0, (uint64_t)F);
        int64_t nan_in = 0;
        for (int64_t i = 0; i < (int64_t)n * F; i++) {
            double u = bf_rng_next_uniform(&r);
            float v = (float)(100.0 * bf_rng_next_normal(&r));
            if (u < 0.02) {
                v = NAN;
                nan_in++;
            } else if (u < 0.04) {
                v = u < 0.03 ? INFINITY : -INFINITY;
            } else if (u < 0.06) {
                v = u < 0.05 ? 3e38f : -3e38f;
            } else if (u < 0.07) {
                v = u < 0.065 ? 1e-41f : -0.0f;
            }
            a[i] = b[i] = v;
        }
        bf_scaler_apply_scalar(&sc, a, n);
        int64_t nan = bf_scaler_apply_count_nan(&sc, b, n);
        TU_CHECK(memcmp(a, b, (size_t)n * F * sizeof *a) == 0,
                 "F=%d: vector and scalar scaling differ", F);
        TU_CHECK(nan == nan_in, "F=%d: %lld NaN counted, %lld put in", F, (long long)nan,
                 (long long)nan_in);
        free(a);
        free(b);
        bf_scaler_free(&sc);
    }
}

int main(void)
{
    test_apply_vector_matches_scalar();
    test_boundaries();
    test_assign();
    test_scaler();
    test_scaler_against_sort();
    if (tu_failures) {
        fprintf(stderr, "test_split_scale: %d failure(s)\n", tu_failures);
        return 1;
    }
    printf("test_split_scale: ok\n");
    return 0;
}
