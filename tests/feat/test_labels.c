/* test_labels - y_h = log(close[t+h] / close[t]) (to one float ulp); labels never cross the end
 * of a symbol's series; with labels_cross_overnight = 0 (the default) never a
 * session boundary, with 1 they do; valid = feat_ok and every label present.
 * bf_feat_build_symbol_sel (the one-pass build's rows) keeps exactly the
 * valid rows, bit for bit, and counts the dropped ones as the selection does. */
#include "feat_testutil.h"

#include "core/feat/features.h"

static void run(int cross)
{
    bf_feat_spec s = {.n_intervals = 2, .interval_s = {900, 3600}, .n_horizons = 3,
                      .horizons = {1, 4, 8}, .labels_cross_overnight = cross};
    bf_bars b;
    tu_bars_alloc(&b, "LBL", 900, 30 * 26);
    tu_gen g = {.seed = 3, .p_drop = 0.05, .vol = 0.004};
    tu_gen_sessions(&b, tu_day(2024, 6, 3), 30, &g);
    bf_feat_rows r = {0};
    TU_CHECK(bf_feat_build_symbol(&s, &b, &r) == BF_OK, "build: %s", bf_last_error());
    const int H = 3;
    int64_t crossing = 0, labelled = 0, valid = 0;
    for (int64_t i = 0; i < r.n; i++) {
        int all = 1;
        for (int k = 0; k < H; k++) {
            int64_t j = i + s.horizons[k];
            float y = r.y[i * H + k];
            if (j >= b.n) {
                TU_CHECK(isnan(y), "row %lld h=%d: a label past the last bar of the symbol "
                         "(%g)", (long long)i, s.horizons[k], y);
                all = 0;
                continue;
            }
            int cross_day = bf_sess_day(b.ts[j]) != bf_sess_day(b.ts[i]);
            TU_CHECK(r.session[i] == (int32_t)bf_sess_day(b.ts[i]), "row %lld session",
                     (long long)i);
            if (cross_day && !cross) {
                TU_CHECK(isnan(y), "row %lld h=%d crosses the overnight gap but has label %g",
                         (long long)i, s.horizons[k], y);
                all = 0;
                continue;
            }
            crossing += cross_day;
            labelled++;
            /* computed as log(c[j]) - log(c[i]): within ~1e-15 of the log of
             * the ratio before rounding to float, so at most one float ulp off */
            float want = (float)log(b.close[j] / b.close[i]);
            float ulp = nextafterf(fabsf(want), INFINITY) - fabsf(want);
            TU_CHECK(fabsf(y - want) <= ulp + 1e-14f, "row %lld h=%d: y %.9g, want %.9g",
                     (long long)i, s.horizons[k], y, want);
        }
        TU_CHECK(r.valid[i] == (r.feat_ok[i] && all), "row %lld: valid %d, feat_ok %d, "
                 "labels %d", (long long)i, r.valid[i], r.feat_ok[i], all);
        TU_CHECK(r.ts_end[i] == b.ts[i] + 900, "row %lld ts_end", (long long)i);
        valid += r.valid[i];
    }
    TU_CHECK(labelled > 0 && valid > 0, "nothing labelled (%lld) or valid (%lld)",
             (long long)labelled, (long long)valid);
    if (cross)
        TU_CHECK(crossing > 0, "labels_cross_overnight=1 produced no overnight label");
    /* the last 8 rows of the symbol can never have y_8 */
    for (int64_t i = b.n - 8; i < b.n; i++)
        TU_CHECK(!r.valid[i], "row %lld of %lld is valid without a full future", (long long)i,
                 (long long)b.n);
    bf_feat_rows_free(&r);
    tu_bars_free(&b);
}

/* bf_feat_build_symbol_sel against bf_feat_build_symbol's valid rows, on the
 * first n bars of a series with gaps (n below the longest horizon too) */
static void check_sel(int cross, int64_t n, int horizons3)
{
    bf_feat_spec s = {.n_intervals = 2, .interval_s = {900, 3600}, .n_horizons = 3,
                      .horizons = {1, 4, 8}, .labels_cross_overnight = cross};
    if (!horizons3) { /* one horizon: no ring wrap-around slack */
        s.n_horizons = 1;
        s.horizons[0] = 3;
    }
    bf_bars b;
    tu_bars_alloc(&b, "SEL", 900, 40 * 26);
    tu_gen g = {.seed = 11, .p_drop = 0.08, .vol = 0.004};
    tu_gen_sessions(&b, tu_day(2024, 2, 5), 40, &g);
    if (n < b.n)
        b.n = n;
    const int F = bf_feat_count(&s), H = s.n_horizons;
    bf_feat_rows r = {0};
    TU_CHECK(bf_feat_build_symbol(&s, &b, &r) == BF_OK, "build: %s", bf_last_error());
    int64_t cap = b.n > 0 ? b.n : 1;
    float *X = malloc((size_t)cap * F * sizeof *X), *y = malloc((size_t)cap * H * sizeof *y);
    int64_t *ts = malloc((size_t)cap * sizeof *ts);
    bf_feat_sel o;
    TU_CHECK(X && y && ts, "out of memory");
    TU_CHECK(bf_feat_build_symbol_sel(&s, &b, X, y, ts, &o) == BF_OK, "sel: %s", bf_last_error());
    int64_t k = 0, warm = 0, nolab = 0;
    int seen = 0;
    for (int64_t i = 0; i < r.n; i++) {
        if (!r.valid[i]) {
            warm += !seen;
            nolab += seen;
            continue;
        }
        seen = 1;
        if (k >= o.n) {
            k++;
            continue;
        }
        TU_CHECK(memcmp(X + k * F, r.X + i * F, (size_t)F * sizeof *X) == 0 &&
                     memcmp(y + k * H, r.y + i * H, (size_t)H * sizeof *y) == 0 &&
                     ts[k] == r.ts_end[i],
                 "cross %d n %lld: kept row %lld (bar %lld) differs", cross, (long long)n,
                 (long long)k, (long long)i);
        k++;
    }
    TU_CHECK(k == o.n, "cross %d n %lld: %lld rows kept, %lld valid", cross, (long long)n,
             (long long)o.n, (long long)k);
    TU_CHECK(o.warmup == warm && o.no_label == nolab && o.nonfinite == 0 &&
                 o.n_overflow == r.n_nonfinite,
             "cross %d n %lld: dropped warm-up %lld/%lld, no label %lld/%lld, non-finite %lld",
             cross, (long long)n, (long long)o.warmup, (long long)warm, (long long)o.no_label,
             (long long)nolab, (long long)o.nonfinite);
    TU_CHECK(o.n + o.warmup + o.no_label == b.n, "cross %d n %lld: rows do not add up", cross,
             (long long)n);
    if (n >= 40 * 26)
        TU_CHECK(o.n > 0 && o.no_label > 0 && o.warmup > 0, "nothing kept or dropped (%lld)",
                 (long long)o.n);
    free(X);
    free(y);
    free(ts);
    bf_feat_rows_free(&r);
    tu_bars_free(&b);
}

int main(void)
{
    run(0);
    run(1);
    const int64_t ns[] = {0, 1, 5, 8, 9, 300, 40 * 26};
    for (int c = 0; c < 2; c++)
        for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
            check_sel(c, ns[i], 1);
            check_sel(c, ns[i], 0);
        }
    if (tu_failures) {
        fprintf(stderr, "test_labels: %d failure(s)\n", tu_failures);
        return 1;
    }
    printf("test_labels: ok\n");
    return 0;
}
