/* test_feat_values - feature values against hand-checked numbers and against
 * a naive re-implementation (explicit resampling, two-pass std, RSI loop,
 * linear search for the latest completed bar) on a series with gaps.
 * Also: the session clock (DST), feature names, spec validation. */
#include "feat_testutil.h"

#include "core/data/calendar.h"
#include "core/feat/feat_stream.h"
#include "core/feat/features.h"

static bf_feat_spec spec3(void)
{
    bf_feat_spec s = {.n_intervals = 3, .interval_s = {900, 3600, 86400}, .n_horizons = 3,
                      .horizons = {1, 4, 8}, .labels_cross_overnight = 0};
    return s;
}

static int close_enough(double got, double want, double rel)
{
    if (isnan(want) || isnan(got))
        return isnan(want) && isnan(got);
    return fabs(got - want) <= rel * fabs(want) + 1e-9;
}

static void test_session_clock(void)
{
    /* open in UTC (hour, minute); session length in minutes, regular and extended */
    struct { int y, m, d; int64_t open_h, open_m, len, ext_len; } cases[] = {
        {2024, 3, 8, 14, 30, 390, 630}, {2024, 3, 11, 13, 30, 390, 630},
        {2024, 11, 1, 13, 30, 390, 630}, {2024, 11, 4, 14, 30, 390, 630},
        {2006, 3, 31, 14, 30, 390, 630}, {2006, 4, 3, 13, 30, 390, 630},
        {2006, 10, 27, 13, 30, 390, 630}, {2006, 10, 30, 14, 30, 390, 630},
        {2023, 7, 3, 13, 30, 210, 450},     /* early close 13:00 (17:00 extended) */
        {2023, 11, 24, 14, 30, 210, 450},   /* the day after Thanksgiving */
        {2023, 12, 25, 14, 30, 390, 630},   /* a holiday: usual hours if it has bars */
        {2024, 3, 9, 14, 30, 390, 630}};    /* a Saturday, likewise */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t day = tu_day(cases[i].y, cases[i].m, cases[i].d);
        int64_t want = day * 86400 + cases[i].open_h * 3600 + cases[i].open_m * 60;
        TU_CHECK(bf_sess_open(day) == want, "open of %d-%02d-%02d: got %lld, want %lld",
                 cases[i].y, cases[i].m, cases[i].d, (long long)bf_sess_open(day),
                 (long long)want);
        TU_CHECK(bf_sess_close(day, 0) == want + cases[i].len * 60, "close of %d-%02d-%02d: "
                 "%lld min after the open", cases[i].y, cases[i].m, cases[i].d,
                 (long long)(bf_sess_close(day, 0) - want) / 60);
        TU_CHECK(bf_sess_close(day, 1) == want + cases[i].ext_len * 60, "extended close of "
                 "%d-%02d-%02d", cases[i].y, cases[i].m, cases[i].d);
    }
    /* 2024-03-10 06:59:59Z is 01:59:59 EST, 07:00Z is 03:00 EDT */
    int64_t sw = tu_day(2024, 3, 10) * 86400 + 7 * 3600;
    TU_CHECK(bf_sess_utc_offset(sw - 1) == -18000 && bf_sess_utc_offset(sw) == -14400,
             "spring forward 2024 at 07:00Z");
    int64_t fb = tu_day(2024, 11, 3) * 86400 + 6 * 3600;
    TU_CHECK(bf_sess_utc_offset(fb - 1) == -14400 && bf_sess_utc_offset(fb) == -18000,
             "fall back 2024 at 06:00Z");
    int64_t jan2 = tu_day(2024, 1, 2);
    TU_CHECK(bf_sess_day(jan2 * 86400 + 5 * 3600 - 1) == jan2 - 1 &&
                 bf_sess_day(jan2 * 86400 + 5 * 3600) == jan2,
             "NY date changes at 05:00Z in winter");
    bf_sess_cache c = {0};
    for (int64_t t = tu_day(2005, 12, 30) * 86400; t < tu_day(2025, 1, 3) * 86400; t += 1800)
        if (bf_sess_day_cached(&c, t) != bf_sess_day(t) || bf_sess_day(t) != bf_cal_ny_day(t)) {
            TU_CHECK(0, "NY day at t=%lld: cached %lld, plain %lld, calendar.h %lld",
                     (long long)t, (long long)bf_sess_day_cached(&c, t),
                     (long long)bf_sess_day(t), (long long)bf_cal_ny_day(t));
            break;
        }
}

static void test_names_and_validation(void)
{
    bf_feat_spec s = spec3();
    char name[BF_FEAT_NAME_MAX];
    TU_CHECK(bf_feat_count(&s) == 33, "count %d", bf_feat_count(&s));
    struct { int i; const char *want; } nm[] = {{0, "open@base"}, {3, "close@base"},
                                               {20, "rsi_14@1h"}, {32, "vol_z@1d"},
                                               {18, "rv_15@1h"}};
    for (size_t i = 0; i < sizeof nm / sizeof nm[0]; i++) {
        bf_feat_name(&s, nm[i].i, name);
        TU_CHECK(strcmp(name, nm[i].want) == 0, "name %d: %s, want %s", nm[i].i, name,
                 nm[i].want);
    }
    TU_CHECK(bf_feat_spec_validate(&s) == BF_OK, "default spec rejected: %s", bf_last_error());
    bf_feat_spec bad = s;
    bad.interval_s[1] = 1000;  /* not a multiple of 900 */
    TU_CHECK(bf_feat_spec_validate(&bad) == BF_EINVAL, "1000 s interval accepted");
    bad = s;
    bad.horizons[1] = 1;       /* not ascending */
    TU_CHECK(bf_feat_spec_validate(&bad) == BF_EINVAL, "descending horizons accepted");
    bad = s;
    bad.interval_s[2] = 3600;  /* repeated */
    TU_CHECK(bf_feat_spec_validate(&bad) == BF_EINVAL, "repeated interval accepted");
    bad = s;
    bad.n_intervals = 0;
    TU_CHECK(bf_feat_spec_validate(&bad) == BF_EINVAL, "zero intervals accepted");
}

/* Series with exact numbers: closes 2^i (log returns exactly log 2), then
 * alternating 100/101, constant and 0,1,2 volumes. */
static void test_hand_checked(void)
{
    bf_feat_spec s = {.n_intervals = 1, .interval_s = {900}, .n_horizons = 1, .horizons = {1}};
    bf_bars b;
    tu_bars_alloc(&b, "HAND", 900, 64);
    int64_t t0 = bf_sess_open(tu_day(2024, 1, 2));
    for (int i = 0; i < 40; i++) {
        double c = ldexp(1.0, i);
        tu_push(&b, t0 + i * 900, c, c, c, c, 500.0);
    }
    bf_feat_rows r = {0};
    TU_CHECK(bf_feat_build_symbol(&s, &b, &r) == BF_OK, "build: %s", bf_last_error());
    const float *X = r.X;
    TU_CHECK(isnan(X[0 * 11 + BF_F_RET_1]), "ret_1 at the first bar must be NaN");
    TU_CHECK(X[1 * 11 + BF_F_RET_1] == 1.0f, "ret_1 of 1 -> 2: %g", X[11 + BF_F_RET_1]);
    TU_CHECK(X[5 * 11 + BF_F_LOGRET_1] == (float)log(2.0), "logret_1: %.9g",
             X[5 * 11 + BF_F_LOGRET_1]);
    TU_CHECK(isnan(X[14 * 11 + BF_F_RV_15]) && X[15 * 11 + BF_F_RV_15] == 0.0f,
             "rv_15 NaN until 15 returns, then exactly 0 for equal returns (%g, %g)",
             X[14 * 11 + BF_F_RV_15], X[15 * 11 + BF_F_RV_15]);
    TU_CHECK(isnan(X[13 * 11 + BF_F_RSI_14]) && X[14 * 11 + BF_F_RSI_14] == 100.0f,
             "rsi_14 NaN before 14 changes, 100 for only gains (%g, %g)",
             X[13 * 11 + BF_F_RSI_14], X[14 * 11 + BF_F_RSI_14]);
    TU_CHECK(isnan(X[18 * 11 + BF_F_VOL_Z]) && X[19 * 11 + BF_F_VOL_Z] == 0.0f,
             "vol_z NaN until 20 volumes, 0 for constant volume (%g, %g)",
             X[18 * 11 + BF_F_VOL_Z], X[19 * 11 + BF_F_VOL_Z]);
    TU_CHECK(X[39 * 11 + BF_F_CLOSE] == (float)ldexp(1.0, 39), "close raw");
    TU_CHECK(!r.feat_ok[59 < r.n ? 59 : r.n - 1], "40 bars cannot be warm (needs %d)",
             BF_FEAT_WARMUP_BARS);

    /* alternating closes: numbers checked with a plain Python loop */
    b.n = 0;
    for (int i = 0; i < 40; i++) {
        double c = i % 2 ? 101.0 : 100.0;
        tu_push(&b, t0 + i * 900, c, c, c, c, (double)(i % 3));
    }
    TU_CHECK(bf_feat_build_symbol(&s, &b, &r) == BF_OK, "build: %s", bf_last_error());
    X = r.X;
    struct { int row, f; double want; } w[] = {
        {14, BF_F_RSI_14, 66.52109015954824}, {15, BF_F_RSI_14, 68.91244086243765},
        {15, BF_F_RV_15, 0.010276657515619694}, {16, BF_F_RV_15, 0.010276657515619694},
        {19, BF_F_VOL_Z, 0.06056363321295771}, {20, BF_F_VOL_Z, 1.1507090310461954},
        {1, BF_F_RET_1, 0.01}, {2, BF_F_LOGRET_1, -0.009950330853168083}};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        double got = X[w[i].row * 11 + w[i].f];
        TU_CHECK(close_enough(got, w[i].want, 1e-6), "row %d feature %d: %.9g, want %.9g",
                 w[i].row, w[i].f, got, w[i].want);
    }
    bf_feat_rows_free(&r);
    tu_bars_free(&b);
}

/* One session of bars with known values: which 1h and 1d bar each row sees. */
static void test_higher_intervals(void)
{
    bf_feat_spec s = spec3();
    bf_bars b;
    tu_bars_alloc(&b, "HI", 900, 64);
    int64_t day = tu_day(2024, 3, 5);
    for (int d = 0; d < 2; d++) {
        int64_t t0 = bf_sess_open(day + d);
        for (int k = 0; k < 26; k++)
            tu_push(&b, t0 + k * 900, 99.5 + k + d, 101.0 + k + d, 98.5 + k + d, 100.0 + k + d,
                    10.0 * (k + 1));
    }
    bf_feat_rows r = {0};
    TU_CHECK(bf_feat_build_symbol(&s, &b, &r) == BF_OK, "build: %s", bf_last_error());
    const int H1 = 11, D1 = 22;
    const float *X = r.X;
    TU_CHECK(isnan(X[2 * 33 + H1 + BF_F_CLOSE]), "row 10:15 sees no 1h bar yet");
    /* row 3 ends 10:30: bucket 09:30-10:30 = bars 0..3 */
    const float *x3 = X + 3 * 33 + H1;
    TU_CHECK(x3[BF_F_OPEN] == 99.5f && x3[BF_F_HIGH] == 104.0f && x3[BF_F_LOW] == 98.5f &&
                 x3[BF_F_CLOSE] == 103.0f && x3[BF_F_VOLUME] == 100.0f,
             "1h bar at 10:30: o=%g h=%g l=%g c=%g v=%g", x3[0], x3[1], x3[2], x3[3], x3[4]);
    /* row 24 ends 15:45: bucket 14:30-15:30 = bars 20..23 */
    const float *x24 = X + 24 * 33 + H1;
    TU_CHECK(x24[BF_F_CLOSE] == 123.0f && x24[BF_F_VOLUME] == 900.0f, "1h bar at 15:45: c=%g "
             "v=%g", x24[BF_F_CLOSE], x24[BF_F_VOLUME]);
    TU_CHECK(isnan(X[24 * 33 + D1 + BF_F_CLOSE]), "15:45 row sees a daily bar of its own day");
    /* row 25 ends 16:00: partial bucket 15:30-16:00 and the whole day */
    const float *x25 = X + 25 * 33;
    TU_CHECK(x25[H1 + BF_F_OPEN] == 123.5f && x25[H1 + BF_F_CLOSE] == 125.0f &&
                 x25[H1 + BF_F_VOLUME] == 510.0f && x25[H1 + BF_F_HIGH] == 126.0f,
             "1h bar at 16:00: o=%g c=%g v=%g", x25[H1], x25[H1 + 3], x25[H1 + 4]);
    TU_CHECK(x25[D1 + BF_F_OPEN] == 99.5f && x25[D1 + BF_F_HIGH] == 126.0f &&
                 x25[D1 + BF_F_LOW] == 98.5f && x25[D1 + BF_F_CLOSE] == 125.0f &&
                 x25[D1 + BF_F_VOLUME] == 3510.0f,
             "daily bar at 16:00: o=%g h=%g l=%g c=%g v=%g", x25[D1], x25[D1 + 1],
             x25[D1 + 2], x25[D1 + 3], x25[D1 + 4]);
    /* next morning: the first row (ends 09:45) still sees yesterday's last 1h
     * bar and yesterday's daily bar, whose ret_1 is not defined yet */
    const float *x26 = X + 26 * 33;
    TU_CHECK(x26[H1 + BF_F_CLOSE] == 125.0f && x26[D1 + BF_F_CLOSE] == 125.0f &&
                 isnan(x26[D1 + BF_F_RET_1]),
             "next morning: 1h close %g, 1d close %g", x26[H1 + 3], x26[D1 + 3]);
    const float *x51 = X + 51 * 33;
    TU_CHECK(x51[D1 + BF_F_CLOSE] == 126.0f &&
                 close_enough(x51[D1 + BF_F_RET_1], 126.0 / 125.0 - 1.0, 1e-6),
             "second daily bar: close %g ret %g", x51[D1 + 3], x51[D1 + 5]);
    bf_feat_rows_free(&r);
    tu_bars_free(&b);
}

/* ---------------------------------------------------------- naive reference */

typedef struct hb { int64_t complete; double o, h, l, c, v; } hb;

static int resample(const bf_bars *b, int I, int ext, hb *out)
{
    int n = 0;
    int64_t key = INT64_MIN;
    for (int64_t i = 0; i < b->n; i++) {
        int64_t end = b->ts[i] + b->interval_s, day = bf_sess_day(b->ts[i]);
        int64_t open = bf_sess_open(day), close = bf_sess_close(day, ext), k, comp;
        if (I == 86400) {
            k = day;
            comp = close;
        } else {
            int64_t q = (end - 1 - open) / I - ((end - 1 - open) % I < 0);
            k = open + q * I;
            comp = k + I < close ? k + I : close;
        }
        if (end > comp)
            continue;
        if (n > 0 && k == key) {
            hb *x = &out[n - 1];
            x->h = fmax(x->h, b->high[i]);
            x->l = fmin(x->l, b->low[i]);
            x->c = b->close[i];
            x->v += b->volume[i];
        } else {
            out[n++] = (hb){comp, b->open[i], b->high[i], b->low[i], b->close[i], b->volume[i]};
            key = k;
        }
    }
    return n;
}

static double std_of(const double *x, int n, double *mean)
{
    double m = 0, s = 0;
    for (int i = 0; i < n; i++)
        m += x[i];
    m /= n;
    int same = 1;
    for (int i = 0; i < n; i++) {
        s += (x[i] - m) * (x[i] - m);
        same &= x[i] == x[0];
    }
    if (mean)
        *mean = m;
    return same ? 0.0 : sqrt(s / (n - 1));
}

/* the 11 features of bar i of series hb[0..] */
static void naive_features(const hb *a, int i, double *f)
{
    for (int j = 0; j < 11; j++)
        f[j] = NAN;
    f[0] = a[i].o, f[1] = a[i].h, f[2] = a[i].l, f[3] = a[i].c, f[4] = a[i].v;
    double lr[64], v[20];
    if (i >= 1) {
        f[5] = a[i].c / a[i - 1].c - 1.0;
        f[6] = log(a[i].c / a[i - 1].c);
    }
    if (i >= 15) {
        for (int k = 0; k < 15; k++)
            lr[k] = log(a[i - k].c / a[i - k - 1].c);
        f[7] = std_of(lr, 15, NULL);
    }
    if (i >= 60) {
        for (int k = 0; k < 60; k++)
            lr[k] = log(a[i - k].c / a[i - k - 1].c);
        f[8] = std_of(lr, 60, NULL);
    }
    if (i >= 14) {
        double ag = 0, al = 0;
        for (int k = 1; k <= i; k++) {
            double d = a[k].c - a[k - 1].c, g = d > 0 ? d : 0, l = d < 0 ? -d : 0;
            ag = k == 1 ? g : ag * (13.0 / 14.0) + g / 14.0;
            al = k == 1 ? l : al * (13.0 / 14.0) + l / 14.0;
        }
        f[9] = ag + al > 0 ? 100.0 * ag / (ag + al) : 50.0;
    }
    if (i >= 19) {
        for (int k = 0; k < 20; k++)
            v[k] = a[i - k].v;
        double m, sd = std_of(v, 20, &m);
        f[10] = sd > 0 ? (a[i].v - m) / sd : 0.0;
    }
}

static void test_against_naive(int data_ext, int spec_ext)
{
    bf_feat_spec s = spec3();
    s.extended_hours = spec_ext;
    bf_bars b;
    tu_bars_alloc(&b, "NAIVE", 900, 90 * 64);
    tu_gen g = {.seed = 11, .p_drop = 0.05, .flat_every = 17, .zerovol_every = 13, .vol = 0.004,
                .extended = data_ext};
    tu_gen_sessions(&b, tu_day(2024, 1, 29), 88, &g);  /* spans the March DST switch */
    bf_feat_rows r = {0};
    TU_CHECK(bf_feat_build_symbol(&s, &b, &r) == BF_OK, "build: %s", bf_last_error());
    hb *bars[3];
    int nb[3];
    for (int k = 0; k < 3; k++) {
        bars[k] = malloc(sizeof(hb) * (size_t)b.n);
        if (k == 0) {
            nb[0] = (int)b.n;
            for (int64_t i = 0; i < b.n; i++)
                bars[0][i] = (hb){b.ts[i] + 900, b.open[i], b.high[i], b.low[i], b.close[i],
                                  b.volume[i]};
        } else {
            nb[k] = resample(&b, s.interval_s[k], spec_ext, bars[k]);
        }
    }
    int64_t bad = 0, checked = 0, ok_rows = 0;
    for (int64_t i = 0; i < r.n; i++) {
        int64_t te = b.ts[i] + 900;
        int all = 1;
        for (int k = 0; k < 3; k++) {
            int last = -1;
            for (int q = 0; q < nb[k]; q++)
                if (bars[k][q].complete <= te)
                    last = q;
            double f[11];
            if (last < 0)
                for (int j = 0; j < 11; j++)
                    f[j] = NAN;
            else
                naive_features(bars[k], last, f);
            for (int j = 0; j < 11; j++) {
                double got = r.X[i * 33 + k * 11 + j];
                all &= !isnan(f[j]);
                checked++;
                if (!close_enough(got, f[j], 2e-6) && bad++ < 10)
                    fprintf(stderr, "row %lld feature %d: C %.9g, naive %.9g\n", (long long)i,
                            k * 11 + j, got, f[j]);
            }
        }
        TU_CHECK(r.feat_ok[i] == all, "row %lld feat_ok %d, naive %d", (long long)i,
                 r.feat_ok[i], all);
        ok_rows += all;
    }
    TU_CHECK(bad == 0, "%lld of %lld feature values differ from the naive reference (data "
             "extended %d, spec extended %d)", (long long)bad, (long long)checked, data_ext,
             spec_ext);
    TU_CHECK(ok_rows > 20 * 26, "only %lld warm rows: the series is too short to test 1d "
             "features", (long long)ok_rows);
    for (int k = 0; k < 3; k++)
        free(bars[k]);
    bf_feat_rows_free(&r);
    tu_bars_free(&b);
}

int main(void)
{
    test_session_clock();
    test_names_and_validation();
    test_hand_checked();
    test_higher_intervals();
    test_against_naive(0, 0);
    test_against_naive(1, 0);
    test_against_naive(1, 1);
    if (tu_failures) {
        fprintf(stderr, "test_feat_values: %d failure(s)\n", tu_failures);
        return 1;
    }
    printf("test_feat_values: ok\n");
    return 0;
}
