/* test_synthetic.c - the synthetic provider: determinism, sub-range
 * consistency (every interval, both session modes), bar sanity, the
 * realistic structure it promises (U-shaped volume and volatility, clustering,
 * overnight gaps, missing bars), and the oracle: with strength s > 0 the
 * oracle's correlation with the realized y_4 is near s; with s = 0 returns are
 * unpredictable by the same reversal predictor (within sampling noise). */
#include "core/data/calendar.h"
#include "core/data/provider.h"
#include "core/data/synthetic.h"
#include "base/test_util.h"

#include <math.h>
#include <stdlib.h>

static int64_t day(const char *s)
{
    int64_t t = 0;
    bf_date_parse(s, &t);
    return t;
}

static void gen(const bf_synth_params *p, const char *sym, int iv, const char *a, const char *b,
                bf_bars *out)
{
    bf_bars_init(out, sym, iv);
    bf_status st = bf_synth_generate(p, sym, iv, day(a), day(b), out);
    T_CHECK(st == BF_OK, "generate %s %d %s..%s: %s", sym, iv, a, b, bf_last_error());
}

/* rows of small lie inside big with identical values */
static void same_rows(const bf_bars *big, const bf_bars *small, const char *what)
{
    int64_t j = 0, bad = 0;
    while (j < big->n && big->ts[j] < small->ts[0])
        j++;
    for (int64_t i = 0; i < small->n; i++, j++) {
        if (j >= big->n || big->ts[j] != small->ts[i] || big->open[j] != small->open[i] ||
            big->high[j] != small->high[i] || big->low[j] != small->low[i] ||
            big->close[j] != small->close[i] || big->volume[j] != small->volume[i] ||
            big->vwap[j] != small->vwap[i] || big->trades[j] != small->trades[i]) {
            if (bad++ == 0)
                fprintf(stderr, "%s: row %lld differs (ts %lld vs %lld, close %.4f vs %.4f)\n",
                        what, (long long)i, j < big->n ? (long long)big->ts[j] : -1LL,
                        (long long)small->ts[i], j < big->n ? big->close[j] : NAN, small->close[i]);
        }
    }
    T_CHECK(bad == 0, "%s: %lld of %lld rows differ from the bigger fetch", what, (long long)bad,
            (long long)small->n);
}

static void subrange(const bf_synth_params *p, int iv, const char *a, const char *b, const char *c,
                     const char *d, const char *what)
{
    bf_bars big, small;
    gen(p, "MSFT", iv, a, b, &big);
    gen(p, "MSFT", iv, c, d, &small);
    T_CHECK(small.n > 0, "%s: empty sub-range", what);
    if (small.n > 0)
        same_rows(&big, &small, what);
    bf_bars_free(&big);
    bf_bars_free(&small);
}

static double corr(const double *x, const double *y, int64_t n)
{
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (int64_t i = 0; i < n; i++) {
        sx += x[i];
        sy += y[i];
    }
    double mx = sx / n, my = sy / n;
    for (int64_t i = 0; i < n; i++) {
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
        sxy += (x[i] - mx) * (y[i] - my);
    }
    return sxy / sqrt(sxx * syy);
}

/* correlation of oracle and of a feasible reversal predictor (from observed
 * log returns) with y_4, pooled over symbols */
static void signal_stats(double s, int nsym, double *c_oracle, double *c_feasible, int64_t *n_out)
{
    bf_synth_params p = {.seed = 7, .strength = s};
    int64_t cap = (int64_t)nsym * 14000, n = 0;
    double *pr = malloc((size_t)cap * sizeof *pr), *fe = malloc((size_t)cap * sizeof *fe);
    double *y = malloc((size_t)cap * sizeof *y);
    for (int k = 0; k < nsym; k++) {
        char sym[16];
        snprintf(sym, sizeof sym, "T%04d", k);
        bf_bars b;
        gen(&p, sym, 900, "2024-01-02", "2026-01-01", &b);
        double *o = malloc((size_t)b.n * sizeof *o);
        T_CHECK(bf_synth_oracle_predict(&p, &b, 4, o) == BF_OK, "oracle: %s", bf_last_error());
        for (int64_t t = 16; t + 4 < b.n && n < cap; t++) {
            double f = 0, w = 1;
            for (int k2 = 0; k2 < 16; k2++, w *= BF_SYNTH_PSI) /* -sum psi^k r_{t-k} */
                f -= w * log(b.close[t - k2] / b.close[t - k2 - 1]);
            pr[n] = isnan(o[t]) ? 0 : o[t];
            fe[n] = f;
            y[n] = log(b.close[t + 4] / b.close[t]);
            n++;
        }
        free(o);
        bf_bars_free(&b);
    }
    *c_oracle = s > 0 ? corr(pr, y, n) : 0.0;
    *c_feasible = corr(fe, y, n);
    *n_out = n;
    free(pr);
    free(fe);
    free(y);
}

int main(void)
{
    bf_synth_params p = {.seed = 42, .strength = 0.1};

    /* determinism and sub-range consistency */
    bf_bars a, b;
    gen(&p, "AAPL", 900, "2024-01-02", "2024-07-01", &a);
    gen(&p, "AAPL", 900, "2024-01-02", "2024-07-01", &b);
    same_rows(&a, &b, "same call twice");
    T_EQ_I(a.n, b.n);
    bf_bars_free(&b);
    subrange(&p, 900, "2024-01-02", "2025-01-01", "2024-03-15", "2024-06-11", "15m sub-range");
    subrange(&p, 900, "2024-01-02", "2025-01-01", "2024-12-31", "2025-01-01", "15m last day");
    subrange(&p, 60, "2024-03-01", "2024-04-01", "2024-03-11", "2024-03-12", "1m DST day");
    subrange(&p, 300, "2023-01-03", "2023-03-01", "2023-02-01", "2023-02-02", "5m one day");
    subrange(&p, 3600, "2020-01-02", "2021-01-01", "2020-11-02", "2020-11-30", "1h");
    subrange(&p, 86400, "2010-01-04", "2024-01-01", "2016-05-02", "2016-06-01", "1d");
    bf_synth_params pe = p;
    pe.extended_hours = 1;
    subrange(&pe, 900, "2024-06-03", "2024-08-01", "2024-07-03", "2024-07-09", "15m extended");
    subrange(&pe, 1800, "2024-06-03", "2024-08-01", "2024-07-01", "2024-07-02", "30m extended");

    /* the first and last days of the calendar */
    gen(&p, "EDGE", 900, "2030-12-30", "2031-01-01", &b);
    T_CHECK(b.n > 40 && b.ts[b.n - 1] >= day("2030-12-31"), "last calendar days: %lld bars", (long long)b.n);
    bf_bars_free(&b);
    gen(&p, "EDGE", 900, "2000-01-01", "2000-01-05", &b);
    T_CHECK(b.n > 40 && b.ts[0] < day("2000-01-04"), "first calendar days: %lld bars", (long long)b.n);
    bf_bars_free(&b);

    /* different seed, symbol or strength: different bars */
    bf_synth_params p2 = p;
    p2.seed = 43;
    gen(&p2, "AAPL", 900, "2024-01-02", "2024-07-01", &b);
    T_CHECK(b.close[100] != a.close[100] || b.close[200] != a.close[200], "seed changes nothing");
    bf_bars_free(&b);
    gen(&p, "AAPM", 900, "2024-01-02", "2024-07-01", &b);
    T_CHECK(b.close[100] != a.close[100], "symbol changes nothing");
    bf_bars_free(&b);

    /* bar sanity over 2 years x 20 symbols */
    int64_t nbars = 0, expected = 0, bad_tick = 0, bad_hl = 0, bad_vol = 0, bad_grid = 0, gaps = 0,
            first_bars = 0;
    double absr_open = 0, absr_mid = 0, vol_open = 0, vol_mid = 0, vol_close = 0;
    int64_t n_open = 0, n_mid = 0, n_close = 0;
    double acf_num = 0, acf_den = 0, acf_mean = 0;
    for (int k = 0; k < 20; k++) {
        char sym[16];
        snprintf(sym, sizeof sym, "X%03d", k);
        gen(&p, sym, 900, "2024-01-02", "2026-01-01", &b);
        nbars += b.n;
        expected += bf_cal_count_bars(day("2024-01-02"), day("2026-01-01"), 900, 0);
        double dret[600];
        int nd = 0;
        double day_open = 0;
        for (int64_t i = 0; i < b.n; i++) {
            double px[4] = {b.open[i], b.high[i], b.low[i], b.close[i]};
            for (int q = 0; q < 4; q++)
                bad_tick += !(px[q] >= 0.01) || fabs(px[q] * 100 - floor(px[q] * 100 + 0.5)) > 1e-6;
            bad_hl += b.high[i] < fmax(b.open[i], b.close[i]) || b.low[i] > fmin(b.open[i], b.close[i]) ||
                      b.vwap[i] < b.low[i] || b.vwap[i] > b.high[i];
            bad_vol += b.volume[i] < 1 || b.volume[i] != floor(b.volume[i]) || b.trades[i] < 1;
            bad_grid += !bf_cal_on_grid(b.ts[i], 900, 0);
            bf_session s;
            bf_cal_session(bf_cal_ny_day(b.ts[i]), &s);
            int pos = (int)((b.ts[i] - s.open) / 900), last = (int)((s.close - s.open) / 900) - 1;
            double ar = i > 0 ? fabs(log(b.close[i] / b.open[i])) : 0;
            if (pos == 0) {
                first_bars++;
                absr_open += ar;
                vol_open += b.volume[i];
                n_open++;
                if (i > 0 && b.open[i] != b.close[i - 1])
                    gaps++;
                if (day_open > 0 && nd < 600)
                    dret[nd++] = log(b.close[i - 1] / day_open);
                day_open = b.open[i];
            } else if (pos >= 10 && pos <= 15) {
                absr_mid += ar;
                vol_mid += b.volume[i];
                n_mid++;
            } else if (pos == last && !s.early_close) {
                vol_close += b.volume[i];
                n_close++;
            }
        }
        /* clustering: autocorrelation of |daily open-to-close return| at lag 1 */
        double m = 0;
        for (int q = 0; q < nd; q++)
            m += fabs(dret[q]) / nd;
        for (int q = 1; q < nd; q++)
            acf_num += (fabs(dret[q]) - m) * (fabs(dret[q - 1]) - m);
        for (int q = 0; q < nd; q++)
            acf_den += (fabs(dret[q]) - m) * (fabs(dret[q]) - m);
        acf_mean += 1;
        bf_bars_free(&b);
    }
    double missing = 1.0 - (double)nbars / (double)expected;
    T_EQ_I(bad_tick, 0);
    T_EQ_I(bad_hl, 0);
    T_EQ_I(bad_vol, 0);
    T_EQ_I(bad_grid, 0);
    T_CHECK(missing > 0.001 && missing < 0.006, "missing-bar rate %.4f, expected about %.3f", missing,
            BF_SYNTH_MISSING_RATE);
    T_CHECK(gaps > first_bars * 9 / 10, "only %lld of %lld sessions open with a gap", (long long)gaps,
            (long long)first_bars);
    absr_open /= n_open;
    absr_mid /= n_mid;
    T_CHECK(absr_open > 1.5 * absr_mid, "|r| of the first bar %.5f not well above midday %.5f", absr_open,
            absr_mid);
    vol_open /= n_open;
    vol_mid /= n_mid;
    vol_close /= n_close;
    T_CHECK(vol_open > 2 * vol_mid && vol_close > 2 * vol_mid,
            "volume not U-shaped: open %.0f, midday %.0f, close %.0f", vol_open, vol_mid, vol_close);
    double acf = acf_num / acf_den;
    T_CHECK(acf > 0.05, "no volatility clustering: lag-1 autocorrelation of |daily return| %.3f", acf);
    printf("sanity: %lld bars, missing %.4f, |r| open/mid %.2f, volume open/mid/close %.0f/%.0f/%.0f, acf %.3f\n",
           (long long)nbars, missing, absr_open / absr_mid, vol_open, vol_mid, vol_close, acf);

    /* extended hours: bars before the open and after the close, grid-aligned */
    gen(&pe, "AAPL", 900, "2024-07-01", "2024-07-06", &b);
    int64_t pre = 0, post = 0;
    for (int64_t i = 0; i < b.n; i++) {
        bf_session s;
        bf_cal_session(bf_cal_ny_day(b.ts[i]), &s);
        pre += b.ts[i] < s.open;
        post += b.ts[i] >= s.close;
        T_CHECK(bf_cal_on_grid(b.ts[i], 900, 1), "extended bar %lld off grid", (long long)b.ts[i]);
    }
    T_CHECK(pre > 60 && post > 40, "extended hours: %lld pre-market and %lld post-market bars", (long long)pre,
            (long long)post);
    bf_bars_free(&b);

    /* the signal: strength -> gamma -> correlation, and the range */
    double g;
    T_CHECK(bf_synth_gamma(0.2, &g) == BF_OK, "gamma(0.2)");
    T_NEAR(bf_synth_corr(g, 4), 0.2, 1e-9);
    T_CHECK(bf_synth_gamma(0.0, &g) == BF_OK && g == 0.0, "gamma(0) = %g", g);
    T_CHECK(bf_synth_gamma(0.6, &g) == BF_EINVAL, "strength 0.6 accepted");
    T_CHECK(bf_synth_gamma(-0.1, &g) == BF_EINVAL, "strength -0.1 accepted");
    T_CHECK(bf_synth_strength_max(4) > 0.55 && bf_synth_strength_max(4) < 0.6, "max strength %g",
            bf_synth_strength_max(4));

    /* oracle vs realized y_4 */
    double co, cf;
    int64_t n;
    signal_stats(0.3, 8, &co, &cf, &n);
    double se = 1.0 / sqrt((double)n);
    printf("strength 0.3: oracle corr %.4f, feasible reversal corr %.4f (n %lld, se %.4f)\n", co, cf,
           (long long)n, se);
    T_CHECK(fabs(co - 0.3) < 0.03, "strength 0.3: oracle correlation %.4f", co);
    T_CHECK(cf > 10 * se, "strength 0.3: reversal predictor correlation %.4f not significant", cf);
    signal_stats(0.1, 8, &co, &cf, &n);
    printf("strength 0.1: oracle corr %.4f, feasible reversal corr %.4f (n %lld)\n", co, cf, (long long)n);
    T_CHECK(fabs(co - 0.1) < 0.02, "strength 0.1: oracle correlation %.4f", co);
    T_CHECK(cf > 5 * se, "strength 0.1: reversal predictor correlation %.4f not significant", cf);
    signal_stats(0.0, 8, &co, &cf, &n);
    printf("strength 0: feasible reversal corr %.4f (n %lld, 4 se = %.4f)\n", cf, (long long)n, 4 * se);
    T_CHECK(fabs(cf) < 4 * se, "strength 0: returns predictable, correlation %.4f > 4 se %.4f", cf, 4 * se);
    bf_synth_params p0 = {.seed = 7, .strength = 0};
    gen(&p0, "T0000", 900, "2024-01-02", "2024-02-01", &b);
    double *o = malloc((size_t)b.n * sizeof *o);
    T_CHECK(bf_synth_oracle_predict(&p0, &b, 4, o) == BF_OK, "oracle at 0");
    int64_t nonzero = 0;
    for (int64_t i = 0; i < b.n; i++)
        nonzero += o[i] != 0.0;
    T_EQ_I(nonzero, 0);
    free(o);
    bf_bars_free(&b);

    /* through the provider interface */
    bf_provider_config cfg = {.seed = 42, .signal_strength = 0.1};
    bf_provider *prov = NULL;
    T_CHECK(bf_provider_open("synthetic", &cfg, &prov) == BF_OK, "open: %s", bf_last_error());
    const char *syms[1] = {"AAPL"};
    bf_status st1;
    char err[1][BF_ERRMSG_MAX];
    bf_bars_init(&b, "AAPL", 900);
    T_CHECK(prov->ops->fetch(prov, syms, 1, 900, day("2024-01-02"), day("2024-07-01"), &b, &st1, err) == BF_OK &&
                st1 == BF_OK,
            "fetch: %s", err[0]);
    same_rows(&a, &b, "provider vs generate");
    const char *bad[1] = {"../x"};
    prov->ops->fetch(prov, bad, 1, 900, day("2024-01-02"), day("2024-07-01"), &b, &st1, err);
    T_CHECK(st1 == BF_EINVAL && b.n == 0, "'../x' served (status %d)", st1);
    bf_provider_close(prov);
    cfg.signal_strength = 0.7;
    T_CHECK(bf_provider_open("synthetic", &cfg, &prov) == BF_EINVAL, "strength 0.7 opened");
    bf_bars_free(&b);
    bf_bars_free(&a);
    return bf_test_done("test_synthetic");
}
