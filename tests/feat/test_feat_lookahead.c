/* test_feat_lookahead - no feature row depends on a bar that ends after it.
 *
 * For several cut times t (mid-bar, mid-hour, mid-day, exactly at a bar end,
 * exactly at the 16:00 close, overnight), the series is changed after t in
 * three ways: every bar ending after t gets new random prices and volume; the
 * series is cut at t; some bars after t are deleted and others' timestamps
 * shifted within their slots. Every row with ts_end <= t must keep
 * bit-identical features (all intervals, including 1h and 1d) and feat_ok.
 * To show the check has teeth, some row after t must change, and the compared
 * rows must include warm rows whose 1d block is defined.
 */
#include "feat_testutil.h"

#include "core/feat/features.h"

#define NSESS 100

static int g_extended_spec = 0;

static bf_feat_spec spec3(void)
{
    bf_feat_spec s = {.n_intervals = 3, .interval_s = {900, 3600, 86400}, .n_horizons = 3,
                      .horizons = {1, 4, 8}, .labels_cross_overnight = 0,
                      .extended_hours = g_extended_spec};
    return s;
}

enum { PERTURB_VALUES, PERTURB_TRUNCATE, PERTURB_DELETE };
static const char *const perturb_names[] = {"new values", "truncate", "delete bars"};

static void perturb(const bf_bars *src, int64_t t, int how, uint64_t seed, bf_bars *out)
{
    bf_rng r;
    bf_rng_init(&r, seed, BF_RNG_STREAM_SYNTH, 99);
    tu_bars_alloc(out, src->symbol, src->interval_s, src->n + 1);
    for (int64_t i = 0; i < src->n; i++) {
        int64_t end = src->ts[i] + src->interval_s;
        if (end <= t) {
            tu_push(out, src->ts[i], src->open[i], src->high[i], src->low[i], src->close[i],
                    src->volume[i]);
            continue;
        }
        if (how == PERTURB_TRUNCATE)
            break;
        if (how == PERTURB_DELETE && bf_rng_next_uniform(&r) < 0.3)
            continue;
        double m = exp(0.2 * bf_rng_next_normal(&r));
        double c = src->close[i] * m, o = src->open[i] * m;
        tu_push(out, src->ts[i], o, fmax(o, c) * 1.01, fmin(o, c) * 0.99, c,
                src->volume[i] * 3.0 + 17.0);
    }
}

static void check_cut(const bf_bars *b, const bf_feat_rows *ref, int64_t t, const char *what)
{
    bf_feat_spec s = spec3();
    const int F = bf_feat_count(&s);
    for (int how = 0; how < 3; how++) {
        bf_bars p;
        perturb(b, t, how, (uint64_t)t + how, &p);
        bf_feat_rows r = {0};
        TU_CHECK(bf_feat_build_symbol(&s, &p, &r) == BF_OK, "build: %s", bf_last_error());
        int64_t compared = 0, warm_1d = 0, changed_after = 0, diff = 0;
        for (int64_t i = 0; i < ref->n && i < r.n; i++) {
            if (ref->ts_end[i] > t) {
                if (how == PERTURB_VALUES &&
                    memcmp(ref->X + i * F, r.X + i * F, (size_t)F * sizeof(float)) != 0)
                    changed_after++;
                continue;
            }
            compared++;
            warm_1d += ref->feat_ok[i] && !isnan(ref->X[i * F + 22 + 3]);
            if (memcmp(ref->X + i * F, r.X + i * F, (size_t)F * sizeof(float)) != 0 ||
                ref->feat_ok[i] != r.feat_ok[i]) {
                if (diff++ < 3) {
                    for (int j = 0; j < F; j++)
                        if (memcmp(&ref->X[i * F + j], &r.X[i * F + j], sizeof(float)))
                            fprintf(stderr, "  row %lld (ts_end %lld) feature %d: %.9g -> %.9g\n",
                                    (long long)i, (long long)ref->ts_end[i], j,
                                    ref->X[i * F + j], r.X[i * F + j]);
                }
            }
        }
        TU_CHECK(diff == 0, "cut %s, %s: %lld rows at or before t changed", what,
                 perturb_names[how], (long long)diff);
        TU_CHECK(compared > 0 && warm_1d > 0, "cut %s: nothing meaningful compared (%lld rows, "
                 "%lld warm with 1d features)", what, (long long)compared, (long long)warm_1d);
        if (how == PERTURB_VALUES)
            TU_CHECK(changed_after > 0, "cut %s: perturbing after t changed no row after t",
                     what);
        bf_feat_rows_free(&r);
        tu_bars_free(&p);
    }
}

/* data_ext: bars 04:00-20:00; spec_ext: the spec's extended_hours (0 with
 * extended data = after-hours bars belong to no higher-interval bar) */
static size_t run_series(int data_ext, int spec_ext)
{
    g_extended_spec = spec_ext;
    bf_feat_spec s = spec3();
    bf_bars b;
    tu_bars_alloc(&b, "LOOK", 900, NSESS * 64);
    tu_gen g = {.seed = 5, .p_drop = 0.03, .vol = 0.003, .extended = data_ext};
    int64_t d0 = tu_day(2023, 1, 3);
    tu_gen_sessions(&b, d0, NSESS, &g);
    bf_feat_rows ref = {0};
    TU_CHECK(bf_feat_build_symbol(&s, &b, &ref) == BF_OK, "build: %s", bf_last_error());

    /* a weekday about 90 sessions in (warm for 1d): 2023-05-10 (EDT) */
    int64_t day = tu_day(2023, 5, 10), open = bf_sess_open(day);
    struct { int64_t t; const char *what; } cuts[] = {
        {open + 3600 + 600, "10:40 (mid-bar, mid-hour)"},
        {open + 3 * 3600 + 1800 + 420, "13:07 (mid-day)"},
        {open + 5400, "11:00 (a bar end, mid 1h bucket)"},
        {open + 3600, "10:30 (a 1h bucket end)"},
        {bf_sess_close(day, 0), "16:00 (the close)"},
        {bf_sess_close(day, 0) - 1, "15:59:59"},
        {bf_sess_close(day, 0) + 1800, "16:30 (after hours)"},
        {bf_sess_close(day, 1), "20:00 (the extended close)"},
        {open + 18 * 3600, "03:30 next day (overnight)"},
        {open + 18 * 3600 + 3000, "04:20 next day (pre-market)"},
    };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        check_cut(&b, &ref, cuts[i].t, cuts[i].what);

    bf_feat_rows_free(&ref);
    tu_bars_free(&b);
    return sizeof cuts / sizeof cuts[0];
}

int main(void)
{
    size_t n = run_series(0, 0);
    n += run_series(1, 0);
    n += run_series(1, 1);
    if (tu_failures) {
        fprintf(stderr, "test_feat_lookahead: %d failure(s)\n", tu_failures);
        return 1;
    }
    printf("test_feat_lookahead: ok (%zu cuts x 3 perturbations; regular, extended data with "
           "regular and extended sessions)\n", n);
    return 0;
}
