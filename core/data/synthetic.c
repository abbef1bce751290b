/* synthetic.c - the synthetic provider and its oracle (model in synthetic.h).
 *
 * Every random number is a Philox block keyed by (seed, symbol hash) with
 * the counter (bar time, interval, purpose) or (day, purpose), so any bar can
 * be produced without producing the ones before it, except for two pieces of
 * state: the daily level (a cheap recursion over days from the origin) and
 * the 16-bar signal window (filled by generating a few days before the range).
 * Both are computed the same way for every range, so results do not depend
 * on where a fetch starts. Memory: one day of bars plus the daily arrays.
 */
#include "core/data/synthetic.h"

#include "core/base/rng.h"
#include "core/data/calendar.h"
#include "core/data/provider.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NLAG BF_SYNTH_LAGS
#define MAX_DAY_BARS 1024 /* 1m extended = 960 */

static const double VOL_PHI = 0.97, VOL_SX = 0.3; /* daily volatility regime */
static const double H_TAU_S = 2400.0, H_SD = 0.4; /* intraday log-volatility AR(1) */
static const double SEG_POST = 0.2, SEG_CLOSED = 0.4, SEG_PRE = 0.4;
static const double REG_SECONDS = 23400.0;

/* --- keyed random numbers -------------------------------------------------- */

typedef struct sym_model {
    uint64_t key;
    uint32_t h0, h1;           /* symbol hash words: counter words 2 and 3 */
    double logp_ref, vd, vbar, f_on, tsize;
} sym_model;

static void draw(const sym_model *m, uint32_t c0, uint32_t c1, uint32_t o[4])
{
    bf_philox4x32(m->key, c0, c1, m->h0, m->h1, o);
}

static double u01(uint32_t a) { return ((double)a + 0.5) * (1.0 / 4294967296.0); }

static void box_muller(uint32_t a, uint32_t b, double *z0, double *z1)
{
    double r = sqrt(-2.0 * log(u01(a))), t = 6.283185307179586 * u01(b);
    *z0 = r * cos(t);
    *z1 = r * sin(t);
}

enum { BLK_BAR_A = 0, BLK_BAR_B = 1 };
#define CTR_DAY(blk) (0x80000000u | (uint32_t)(blk))
#define CTR_SYM(blk) (0xC0000000u | (uint32_t)(blk))

static void sym_init(sym_model *m, uint64_t seed, const char *symbol)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *c = symbol; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ull;
    m->key = seed ^ ((uint64_t)BF_RNG_STREAM_SYNTH * 0x9E3779B97F4A7C15ull);
    m->h0 = (uint32_t)h;
    m->h1 = (uint32_t)(h >> 32);
    uint32_t o[4];
    draw(m, 0, CTR_SYM(0), o);
    m->logp_ref = log(15.0) + u01(o[0]) * (log(400.0) - log(15.0));
    m->vd = 0.010 + 0.015 * u01(o[1]);
    m->vbar = exp(log(3e5) + u01(o[2]) * (log(3e7) - log(3e5)));
    m->f_on = 0.12 + 0.16 * u01(o[3]);
    draw(m, 0, CTR_SYM(1), o);
    m->tsize = 40.0 + 160.0 * u01(o[0]);
}

/* --- daily level ----------------------------------------------------------- */

typedef struct daily {
    int64_t n;
    int64_t *day;
    double *x, *L, *R, *G, *vreg, *von;
} daily;

static void daily_free(daily *d)
{
    free(d->day);
    free(d->x);
    free(d->L);
    free(d->R);
    free(d->G);
    free(d->vreg);
    free(d->von);
    memset(d, 0, sizeof *d);
}

static int64_t origin_day(void) { return bf_days_from_civil(2000, 1, 3); }

/* The trading days from the origin to the end of the calendar, computed once
 * per process: every symbol's daily recursion walks them. */
#define MAX_TDAYS 8200 /* 2000-2030 hold about 7,800 */
static struct {
    int n;
    int64_t day[MAX_TDAYS];
    double frac[MAX_TDAYS]; /* regular-session length / 6.5 h */
} g_td;
static pthread_once_t g_td_once = PTHREAD_ONCE_INIT;

static void td_build(void)
{
    bf_session s;
    /* a month past the calendar's last year, so its last day has a next one */
    int64_t end = bf_days_from_civil(BF_CAL_YEAR_MAX + 1, 2, 1);
    for (int64_t day = origin_day(); day < end && g_td.n < MAX_TDAYS; day++)
        if (bf_cal_session(day, &s)) {
            g_td.day[g_td.n] = day;
            g_td.frac[g_td.n] = (double)(s.close - s.open) / REG_SECONDS;
            g_td.n++;
        }
}

/* Trading days from the origin through last_day (and one beyond it, for the
 * gap after last_day); the level is anchored at the first session of 2025. */
static bf_status daily_build(const sym_model *m, int64_t last_day, daily *d)
{
    memset(d, 0, sizeof *d);
    int64_t ref = bf_cal_next_trading_day(bf_days_from_civil(2025, 1, 2));
    int64_t hi = last_day > ref ? last_day : ref;
    int64_t cap = hi - origin_day() + 40;
    d->day = malloc((size_t)cap * sizeof *d->day);
    double **arr[] = {&d->x, &d->L, &d->R, &d->G, &d->vreg, &d->von};
    for (size_t k = 0; k < sizeof arr / sizeof arr[0]; k++)
        *arr[k] = malloc((size_t)cap * sizeof(double));
    if (!d->day || !d->x || !d->L || !d->R || !d->G || !d->vreg || !d->von) {
        daily_free(d);
        return BF_FAIL(BF_ENOMEM, "out of memory for %lld days of synthetic levels", (long long)cap);
    }
    pthread_once(&g_td_once, td_build);
    double *n3 = d->G; /* holds the gap's normal until the next trading day is known */
    int64_t jref = 0;
    for (int t = 0; t < g_td.n && d->n < cap; t++) {
        int64_t day = g_td.day[t];
        int64_t j = d->n++;
        d->day[j] = day;
        if (day == ref)
            jref = j;
        uint32_t o[4];
        draw(m, (uint32_t)day, CTR_DAY(0), o);
        double z1, z2, z3, z4;
        box_muller(o[0], o[1], &z1, &z2);
        box_muller(o[2], o[3], &z3, &z4);
        d->x[j] = j == 0 ? VOL_SX * z1
                         : VOL_PHI * d->x[j - 1] + sqrt(1.0 - VOL_PHI * VOL_PHI) * VOL_SX * z1;
        double v = m->vd * m->vd * exp(2.0 * d->x[j] - 2.0 * VOL_SX * VOL_SX);
        d->vreg[j] = (1.0 - m->f_on) * v * g_td.frac[t];
        d->R[j] = sqrt(d->vreg[j]) * z2;
        n3[j] = z3;
        d->von[j] = m->f_on * v; /* scaled by the calendar gap below */
        if (j > 0) {
            int64_t gap_days = day - d->day[j - 1];
            d->von[j - 1] *= 1.0 + 0.15 * (double)(gap_days - 1);
            d->G[j - 1] = sqrt(d->von[j - 1]) * n3[j - 1];
        }
        if (day > hi)
            break; /* one trading day beyond hi: G[hi] is known */
    }
    /* the last day's gap is never used (nothing follows it in the arrays) */
    d->G[d->n - 1] = 0.0;
    double c = 0.0;
    for (int64_t j = 0; j < d->n; j++) {
        d->L[j] = c;
        c += d->R[j] + d->G[j];
    }
    double shift = m->logp_ref - d->L[jref];
    for (int64_t j = 0; j < d->n; j++)
        d->L[j] += shift;
    return BF_OK;
}

/* the gap after day j split into post-market, closed and pre-market pieces */
static void gap_split(const sym_model *m, const daily *d, int64_t j, double *post, double *pre)
{
    uint32_t o[4];
    draw(m, (uint32_t)d->day[j], CTR_DAY(1), o);
    double a0, a1, a2, a3;
    box_muller(o[0], o[1], &a0, &a1);
    box_muller(o[2], o[3], &a2, &a3);
    double sd = sqrt(d->von[j]);
    a0 *= sd * sqrt(SEG_POST);
    a1 *= sd * sqrt(SEG_CLOSED);
    a2 *= sd * sqrt(SEG_PRE);
    double excess = d->G[j] - (a0 + a1 + a2);
    *post = a0 + SEG_POST * excess;
    *pre = a2 + SEG_PRE * excess;
}

/* --- the signal ------------------------------------------------------------ */

/* coefficients of y_h on the efficient increments: past (known at t) and future */
static void corr_parts(double gamma, int h, double *past, double *future)
{
    double pw[NLAG + 64];
    pw[0] = 1.0;
    for (int k = 1; k < NLAG + 64; k++)
        pw[k] = pw[k - 1] * BF_SYNTH_PSI;
    *past = *future = 0.0;
    for (int m = 1; m <= h; m++) {
        double a = 1.0 + (h - m <= NLAG - 1 ? gamma * pw[h - m] : 0.0);
        *future += a * a;
    }
    for (int k = 0; k < NLAG; k++) {
        double a = gamma * ((h + k <= NLAG - 1 ? pw[h + k] : 0.0) - pw[k]);
        *past += a * a;
    }
}

double bf_synth_corr(double gamma, int horizon)
{
    double p, f;
    corr_parts(gamma, horizon, &p, &f);
    return p + f > 0 ? sqrt(p / (p + f)) : 0.0;
}

double bf_synth_strength_max(int horizon)
{
    double p, f;
    corr_parts(1.0, horizon, &p, &f); /* the past part scales as gamma^2 */
    double fut = 0.0;
    for (int m = 1; m <= horizon; m++) {
        double a = horizon - m <= NLAG - 1 ? pow(BF_SYNTH_PSI, horizon - m) : 0.0;
        fut += a * a;
    }
    return sqrt(p / (p + fut));
}

bf_status bf_synth_gamma(double strength, double *gamma)
{
    double mx = bf_synth_strength_max(BF_SYNTH_SIGNAL_HORIZON);
    if (!(strength >= 0.0) || strength >= mx - 1e-6)
        return BF_FAIL(BF_EINVAL,
                       "signal strength %g out of range: expected a correlation in [0, %.3f) "
                       "(0 = pure noise)",
                       strength, mx);
    double lo = 0.0, hi = 1.0;
    while (bf_synth_corr(hi, BF_SYNTH_SIGNAL_HORIZON) < strength)
        hi *= 2.0;
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi);
        if (bf_synth_corr(mid, BF_SYNTH_SIGNAL_HORIZON) < strength)
            lo = mid;
        else
            hi = mid;
    }
    *gamma = strength == 0.0 ? 0.0 : 0.5 * (lo + hi);
    return BF_OK;
}

/* --- bar generation -------------------------------------------------------- */

typedef struct latent {
    int64_t n, cap;
    int64_t *ts;
    double *dB, *S;
} latent;

typedef struct gen {
    const sym_model *m;
    const daily *d;
    int iv, ext;
    double gamma, pw[NLAG];
    double ring[NLAG];
    int rpos;
    double B_prev, c_prev;
    int have_prev;
} gen;

static double tick(double p)
{
    double r = floor(p * 100.0 + 0.5) / 100.0;
    return r < 0.01 ? 0.01 : r;
}

static double clampd(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }

static bf_status latent_push(latent *l, int64_t ts, double dB, double S)
{
    if (l->n == l->cap) {
        int64_t c = l->cap ? l->cap * 2 : 4096;
        int64_t *t = realloc(l->ts, (size_t)c * sizeof *t);
        if (t)
            l->ts = t;
        double *a = realloc(l->dB, (size_t)c * sizeof *a);
        if (a)
            l->dB = a;
        double *b = realloc(l->S, (size_t)c * sizeof *b);
        if (b)
            l->S = b;
        if (!t || !a || !b)
            return BF_FAIL(BF_ENOMEM, "out of memory for %lld latent synthetic bars", (long long)c);
        l->cap = c;
    }
    l->ts[l->n] = ts;
    l->dB[l->n] = dB;
    l->S[l->n] = S;
    l->n++;
    return BF_OK;
}

/* One trading day (index j): bars with start in [start, end) go to out,
 * every grid bar of the day to lat (when given). */
static bf_status gen_day(gen *g, int64_t j, int64_t start, int64_t end, bf_bars *out, latent *lat)
{
    const daily *d = g->d;
    const sym_model *m = g->m;
    bf_session s;
    bf_cal_session(d->day[j], &s);
    int daily_bars = g->iv >= 86400;
    int ext = g->ext && !daily_bars;
    int64_t ts[MAX_DAY_BARS];
    int nb = bf_cal_session_bars(&s, g->iv, ext, ts, MAX_DAY_BARS);
    if (nb > MAX_DAY_BARS)
        return BF_FAIL(BF_ERR, "%d bars in one session exceed the synthetic day buffer", nb);
    int64_t lo, hi;
    bf_cal_window(&s, ext, &lo, &hi);
    if (daily_bars)
        hi = s.close;

    double pre = 0.0, post = 0.0, unused;
    if (ext) {
        if (j > 0)
            gap_split(m, d, j - 1, &unused, &pre);
        gap_split(m, d, j, &post, &unused);
    }
    /* per-bar draws, segment (0 pre, 1 regular, 2 post) and variance weight */
    double eps[MAX_DAY_BARS], hh[MAX_DAY_BARS], xi[MAX_DAY_BARS], xi2[MAX_DAY_BARS];
    double uh[MAX_DAY_BARS], ul[MAX_DAY_BARS], um[MAX_DAY_BARS], w[MAX_DAY_BARS];
    double xfrac[MAX_DAY_BARS], dt[MAX_DAY_BARS], B[MAX_DAY_BARS], sd[MAX_DAY_BARS];
    int seg[MAX_DAY_BARS];
    double a_h = exp(-(double)g->iv / H_TAU_S), s_h = sqrt(1.0 - a_h * a_h) * H_SD;
    uint32_t civ = 16u * (uint32_t)g->iv;
    for (int i = 0; i < nb; i++) {
        uint32_t o[4], q[4];
        draw(m, (uint32_t)ts[i], civ + BLK_BAR_A, o);
        draw(m, (uint32_t)ts[i], civ + BLK_BAR_B, q);
        double eta;
        box_muller(o[0], o[1], &eps[i], &eta);
        box_muller(o[2], o[3], &xi[i], &xi2[i]);
        uh[i] = u01(q[0]);
        ul[i] = u01(q[1]);
        um[i] = u01(q[2]);
        seg[i] = ts[i] < s.open ? 0 : (ts[i] >= s.close ? 2 : 1);
        int64_t e = ts[i] + g->iv < hi ? ts[i] + g->iv : hi;
        dt[i] = daily_bars ? (double)(s.close - s.open) : (double)(e - ts[i]);
        double mid = (double)ts[i] + 0.5 * dt[i];
        xfrac[i] = clampd((mid - (double)s.open) / (double)(s.close - s.open), 0.0, 1.0);
        if (seg[i] == 1 && !daily_bars) {
            hh[i] = (i == 0 || seg[i - 1] != 1) ? H_SD * eta : a_h * hh[i - 1] + s_h * eta;
            double x = xfrac[i];
            double prof = 0.55 + 1.6 * exp(-x / 0.07) + 0.5 * exp(-(1.0 - x) / 0.08);
            w[i] = prof * dt[i] * exp(hh[i]);
        } else {
            hh[i] = 0.0;
            w[i] = dt[i];
        }
    }
    /* bridge each segment from its start level to its end level */
    double seg_A[3] = {d->L[j] - pre, d->L[j], d->L[j] + d->R[j]};
    double seg_D[3] = {pre, d->R[j], post};
    double seg_V[3] = {d->von[j > 0 ? j - 1 : 0] * SEG_PRE, d->vreg[j], d->von[j] * SEG_POST};
    for (int k = 0; k < 3; k++) {
        double W = 0.0, X = 0.0;
        for (int i = 0; i < nb; i++)
            if (seg[i] == k)
                W += w[i];
        if (W <= 0.0)
            continue;
        for (int i = 0; i < nb; i++)
            if (seg[i] == k) {
                w[i] /= W;
                sd[i] = sqrt(seg_V[k] * w[i]);
                X += sd[i] * eps[i];
            }
        double level = seg_A[k];
        for (int i = 0; i < nb; i++)
            if (seg[i] == k) {
                level += sd[i] * eps[i] + w[i] * (seg_D[k] - X);
                B[i] = level;
            }
    }
    /* observed prices, in grid order */
    for (int i = 0; i < nb; i++) {
        double dB = g->have_prev ? B[i] - g->B_prev : 0.0;
        double S_before = 0.0;
        for (int k = 0; k < NLAG; k++)
            S_before += g->pw[k] * g->ring[(g->rpos - k + NLAG) % NLAG];
        g->rpos = (g->rpos + 1) % NLAG;
        g->ring[g->rpos] = dB;
        double S = 0.0;
        for (int k = 0; k < NLAG; k++)
            S += g->pw[k] * g->ring[(g->rpos - k + NLAG) % NLAG];
        double c = B[i] + g->gamma * S;
        double o = i == 0 || !g->have_prev ? seg_A[seg[0]] + g->gamma * S_before : g->c_prev;
        g->B_prev = B[i];
        g->c_prev = c;
        g->have_prev = 1;
        if (lat)
            BF_TRY(latent_push(lat, ts[i], dB, S));
        if (ts[i] < start || ts[i] >= end)
            continue;
        if (!daily_bars && um[i] < BF_SYNTH_MISSING_RATE)
            continue;
        double s2 = sd[i] * sd[i];
        double mx = 0.5 * (o + c + sqrt((c - o) * (c - o) - 2.0 * s2 * log(uh[i])));
        double mn = 0.5 * (o + c - sqrt((c - o) * (c - o) - 2.0 * s2 * log(ul[i])));
        double O = tick(exp(o)), C = tick(exp(c));
        double H = fmax(tick(exp(mx)), fmax(O, C)), Lo = fmin(tick(exp(mn)), fmin(O, C));
        double q;
        if (daily_bars)
            q = 1.0;
        else if (seg[i] == 1)
            q = (0.55 + 1.6 * exp(-xfrac[i] / 0.08) + 1.2 * exp(-(1.0 - xfrac[i]) / 0.05)) / 0.72 *
                dt[i] / REG_SECONDS;
        else
            q = 0.05 * dt[i] / REG_SECONDS;
        double vol = m->vbar * q *
                     exp(0.9 * d->x[j] + 0.5 * hh[i] + 0.35 * xi[i] - 0.06125) *
                     (0.6 + 0.5 * fabs(eps[i]));
        vol = floor(vol + 0.5);
        if (vol < 1.0)
            vol = 1.0;
        double tr = floor(vol / (m->tsize * exp(0.3 * xi2[i])) + 0.5);
        double vwap = floor(clampd(0.25 * (O + H + Lo + C), Lo, H) * 10000.0 + 0.5) / 10000.0;
        BF_TRY(bf_bars_push(out, ts[i], O, H, Lo, C, vol, vwap, tr < 1.0 ? 1 : (int64_t)tr));
    }
    return BF_OK;
}

static bf_status gen_range(const bf_synth_params *p, const char *symbol, int interval_s,
                           int64_t start, int64_t end, bf_bars *out, latent *lat)
{
    BF_TRY(bf_symbol_validate(symbol));
    if (strcmp(bf_interval_name(interval_s), "?") == 0)
        return BF_FAIL(BF_EINVAL, "synthetic: unsupported interval of %d seconds", interval_s);
    BF_TRY(bf_cal_check_range(start, end));
    double gamma;
    BF_TRY(bf_synth_gamma(p->strength, &gamma));
    sym_model m;
    sym_init(&m, p->seed, symbol);
    int64_t last = bf_cal_ny_day(end) + 1;
    daily d;
    BF_TRY(daily_build(&m, last, &d));
    gen g;
    memset(&g, 0, sizeof g);
    g.m = &m;
    g.d = &d;
    g.iv = interval_s;
    g.ext = p->extended_hours;
    g.gamma = gamma;
    g.pw[0] = 1.0;
    for (int k = 1; k < NLAG; k++)
        g.pw[k] = g.pw[k - 1] * BF_SYNTH_PSI;
    /* the first day with a bar in range, minus enough days to fill the window */
    int64_t first = bf_cal_ny_day(start) - 1;
    int64_t j0 = 0;
    while (j0 < d.n && d.day[j0] < first)
        j0++;
    bf_session s;
    bf_cal_session(d.day[j0 < d.n ? j0 : d.n - 1], &s);
    int per_day = bf_cal_session_bars(&s, interval_s, p->extended_hours && interval_s < 86400,
                                      NULL, 0);
    int64_t warm = NLAG / (per_day > 0 ? per_day : 1) + 2;
    int64_t js = j0 > warm ? j0 - warm : 0;
    bf_status st = BF_OK;
    for (int64_t j = js; j < d.n - 1 && st == BF_OK; j++) {
        bf_cal_session(d.day[j], &s);
        if (s.ext_open >= end)
            break;
        st = gen_day(&g, j, start, end, out, lat);
    }
    daily_free(&d);
    return st;
}

bf_status bf_synth_generate(const bf_synth_params *p, const char *symbol, int interval_s,
                            int64_t start, int64_t end, bf_bars *out)
{
    snprintf(out->symbol, sizeof out->symbol, "%s", symbol);
    out->interval_s = interval_s;
    int64_t est = bf_cal_count_bars(start, end, interval_s, p->extended_hours);
    BF_TRY(bf_bars_reserve(out, out->n + est));
    return gen_range(p, symbol, interval_s, start, end, out, NULL);
}

/* --- oracle ------------------------------------------------------------------ */

static int64_t find_ts(const latent *l, int64_t t)
{
    int64_t lo = 0, hi = l->n;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (l->ts[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < l->n && l->ts[lo] == t ? lo : -1;
}

bf_status bf_synth_oracle_predict(const bf_synth_params *p, const bf_bars *b, int horizon,
                                  double *pred)
{
    if (horizon < 1)
        return BF_FAIL(BF_EINVAL, "oracle horizon %d: expected >= 1 bar", horizon);
    if (b->n == 0)
        return BF_OK;
    double gamma;
    BF_TRY(bf_synth_gamma(p->strength, &gamma));
    /* the latent path from the first row to a few days past the last */
    int64_t start = b->ts[0];
    int64_t lim = bf_days_from_civil(BF_CAL_YEAR_MAX + 1, 1, 1) * 86400;
    int64_t end = b->ts[b->n - 1] + 86400 * (int64_t)(5 + horizon);
    if (end > lim)
        end = lim;
    latent lat = {0};
    bf_bars sink;
    bf_bars_init(&sink, b->symbol, b->interval_s);
    bf_status st = gen_range(p, b->symbol, b->interval_s, start, end, &sink, &lat);
    bf_bars_free(&sink);
    if (st != BF_OK) {
        free(lat.ts);
        free(lat.dB);
        free(lat.S);
        return st;
    }
    double pw[NLAG];
    pw[0] = 1.0;
    for (int k = 1; k < NLAG; k++)
        pw[k] = pw[k - 1] * BF_SYNTH_PSI;
    for (int64_t t = 0; t < b->n; t++) {
        int64_t g = find_ts(&lat, b->ts[t]);
        int64_t g2 = t + horizon < b->n ? find_ts(&lat, b->ts[t + horizon]) : (g >= 0 ? g + horizon : -1);
        if (g < 0 || g2 < 0 || g2 >= lat.n || g2 <= g) {
            pred[t] = NAN;
            continue;
        }
        double known = 0.0;
        for (int64_t k = g2 - g; k < NLAG && g2 - k >= 0; k++)
            known += pw[k] * lat.dB[g2 - k]; /* before the origin dB is 0, as in the generator */
        pred[t] = gamma * (known - lat.S[g]);
    }
    free(lat.ts);
    free(lat.dB);
    free(lat.S);
    return BF_OK;
}

/* --- provider ---------------------------------------------------------------- */

static bf_status synth_open(bf_provider *p)
{
    double gamma;
    BF_TRY(bf_synth_gamma(p->cfg.signal_strength, &gamma));
    return BF_OK;
}

static bf_status synth_fetch(bf_provider *p, const char *const *symbols, int nsym, int interval_s,
                             int64_t start, int64_t end, bf_bars *out, bf_status *st,
                             char (*errmsg)[BF_ERRMSG_MAX])
{
    bf_synth_params sp = {.seed = p->cfg.seed, .strength = p->cfg.signal_strength,
                          .extended_hours = p->cfg.extended_hours};
    for (int i = 0; i < nsym; i++) {
        bf_bars_clear(&out[i]);
        st[i] = bf_synth_generate(&sp, symbols[i], interval_s, start, end, &out[i]);
        errmsg[i][0] = 0;
        if (st[i] != BF_OK) {
            snprintf(errmsg[i], BF_ERRMSG_MAX, "%s", bf_last_error());
            bf_bars_clear(&out[i]);
        }
    }
    return BF_OK;
}

const bf_provider_ops bf_synthetic_ops = {
    .name = "synthetic", .max_batch = 1, .open = synth_open, .fetch = synth_fetch, .close = NULL};
