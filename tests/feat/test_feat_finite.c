/* test_feat_finite - X and y never hold NaN or Inf in valid rows, before or
 * after scaling, on random walks with gaps, completely flat sessions,
 * zero-volume sessions, tiny and huge price levels; and the invariant
 * valid => feat_ok. Scalers are fitted on train rows (after the purge) per
 * symbol, as the build does, and applied to every split. */
#include "feat_testutil.h"

#include "core/feat/features.h"
#include "core/feat/split_scale.h"

static int64_t check_series(const tu_gen *g, double scale, int ext)
{
    bf_feat_spec s = {.n_intervals = 3, .interval_s = {900, 3600, 86400}, .n_horizons = 3,
                      .horizons = {1, 4, 8}, .extended_hours = ext};
    bf_bars b;
    tu_bars_alloc(&b, "RW", 900, 120 * 64);
    tu_gen_sessions(&b, tu_day(2022, 9, 1), 120, g);
    for (int64_t i = 0; i < b.n; i++) {
        b.open[i] *= scale;
        b.high[i] *= scale;
        b.low[i] *= scale;
        b.close[i] *= scale;
    }
    bf_feat_rows r = {0};
    TU_CHECK(bf_feat_build_symbol(&s, &b, &r) == BF_OK, "build: %s", bf_last_error());
    const int F = r.F, H = r.H;
    int64_t nvalid = 0, bad = 0;
    for (int64_t i = 0; i < r.n; i++) {
        if (r.valid[i] && !r.feat_ok[i])
            TU_CHECK(0, "row %lld valid without feat_ok", (long long)i);
        if (!r.feat_ok[i])
            continue;
        for (int j = 0; j < F; j++)
            if (!isfinite(r.X[i * F + j]) && bad++ < 5)
                fprintf(stderr, "row %lld feature %d = %g\n", (long long)i, j, r.X[i * F + j]);
        if (!r.valid[i])
            continue;
        nvalid++;
        for (int k = 0; k < H; k++)
            if (!isfinite(r.y[i * H + k]) && bad++ < 5)
                fprintf(stderr, "row %lld label %d = %g\n", (long long)i, k, r.y[i * H + k]);
    }
    TU_CHECK(bad == 0, "seed %llu scale %g: %lld non-finite values in feat_ok/valid rows",
             (unsigned long long)g->seed, scale, (long long)bad);
    TU_CHECK(nvalid > 500, "seed %llu: only %lld valid rows", (unsigned long long)g->seed,
             (long long)nvalid);

    /* split the valid rows, purge, fit on train, scale everything */
    float *X = malloc(sizeof(float) * (size_t)(nvalid * F));
    int64_t *ts = malloc(sizeof(int64_t) * (size_t)nvalid);
    int8_t *sp = malloc((size_t)nvalid);
    uint8_t *train = malloc((size_t)nvalid);
    int64_t m = 0;
    for (int64_t i = 0; i < r.n; i++)
        if (r.valid[i]) {
            memcpy(X + m * F, r.X + i * F, sizeof(float) * F);
            ts[m++] = r.ts_end[i];
        }
    bf_split_spec ss = {.train_frac = 0.7, .val_frac = 0.15, .purge_bars = 71};
    int64_t vs, tst;
    TU_CHECK(bf_split_boundaries(&ss, ts, m, &vs, &tst) == BF_OK, "%s", bf_last_error());
    bf_split_assign(ts, m, vs, tst, ss.purge_bars, sp);
    for (int64_t i = 0; i < m; i++)
        train[i] = sp[i] == BF_SPLIT_TRAIN;
    bf_scaler sc;
    TU_CHECK(bf_scaler_fit_masked(&sc, X, m, F, train) == BF_OK, "%s", bf_last_error());
    bf_scaler_apply(&sc, X, m);
    int64_t bad_scaled = 0;
    for (int64_t i = 0; i < m * F; i++)
        bad_scaled += !isfinite(X[i]);
    TU_CHECK(bad_scaled == 0, "seed %llu: %lld non-finite scaled values (zero-IQR features: "
             "%d)", (unsigned long long)g->seed, (long long)bad_scaled, sc.n_zero_iqr);
    bf_scaler_free(&sc);
    free(X);
    free(ts);
    free(sp);
    free(train);
    bf_feat_rows_free(&r);
    tu_bars_free(&b);
    return nvalid;
}

int main(void)
{
    int64_t rows = 0;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        tu_gen g = {.seed = seed, .p_drop = 0.02 * (double)seed, .flat_every = (int)seed + 2,
                    .zerovol_every = (int)seed + 1, .vol = 0.002 * (double)seed};
        rows += check_series(&g, 1.0, 0);
        rows += check_series(&g, seed == 1 ? 1e-6 : 1e6, 0);
        g.extended = 1;
        rows += check_series(&g, 1.0, (int)(seed % 2));
    }
    if (tu_failures) {
        fprintf(stderr, "test_feat_finite: %d failure(s)\n", tu_failures);
        return 1;
    }
    printf("test_feat_finite: ok (%lld valid rows checked)\n", (long long)rows);
    return 0;
}
