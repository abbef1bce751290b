/* feat_testutil.h - bar series for the feature tests: allocation without
 * depending on bars.c, and a random walk on the NY 15-minute session grid
 * with optional gaps, flat stretches and zero-volume stretches.
 * Header-only (static) so each test is one .c file. */
#ifndef BF_FEAT_TESTUTIL_H
#define BF_FEAT_TESTUTIL_H

#include "core/base/rng.h"
#include "core/base/timeutil.h"
#include "core/data/bars.h"
#include "core/feat/session.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tu_failures __attribute__((unused)) = 0;
#define TU_CHECK(cond, ...)                                          \
    do {                                                             \
        if (!(cond)) {                                               \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);     \
            fprintf(stderr, __VA_ARGS__);                            \
            fprintf(stderr, "\n");                                   \
            tu_failures++;                                           \
        }                                                            \
    } while (0)

static inline void tu_bars_alloc(bf_bars *b, const char *sym, int interval_s, int64_t cap)
{
    memset(b, 0, sizeof *b);
    snprintf(b->symbol, sizeof b->symbol, "%s", sym);
    b->interval_s = interval_s;
    b->cap = cap;
    b->ts = calloc((size_t)cap, sizeof(int64_t));
    b->trades = calloc((size_t)cap, sizeof(int64_t));
    double **cols[] = {&b->open, &b->high, &b->low, &b->close, &b->volume, &b->vwap};
    for (int i = 0; i < 6; i++)
        *cols[i] = calloc((size_t)cap, sizeof(double));
    if (!b->ts || !b->trades || !b->open || !b->high || !b->low || !b->close || !b->volume ||
        !b->vwap) {
        fprintf(stderr, "out of memory for %lld test bars\n", (long long)cap);
        exit(1);
    }
}

static inline void tu_bars_free(bf_bars *b)
{
    free(b->ts);
    free(b->trades);
    free(b->open);
    free(b->high);
    free(b->low);
    free(b->close);
    free(b->volume);
    free(b->vwap);
    memset(b, 0, sizeof *b);
}

static inline void tu_push(bf_bars *b, int64_t ts, double o, double h, double l, double c, double v)
{
    if (b->n == b->cap) {
        fprintf(stderr, "test series over capacity %lld\n", (long long)b->cap);
        exit(1);
    }
    int64_t i = b->n++;
    b->ts[i] = ts;
    b->open[i] = o;
    b->high[i] = h;
    b->low[i] = l;
    b->close[i] = c;
    b->volume[i] = v;
    b->vwap[i] = NAN;
    b->trades[i] = -1;
}

static inline void tu_copy(bf_bars *dst, const bf_bars *src)
{
    tu_bars_alloc(dst, src->symbol, src->interval_s, src->cap > 0 ? src->cap : 1);
    for (int64_t i = 0; i < src->n; i++)
        tu_push(dst, src->ts[i], src->open[i], src->high[i], src->low[i], src->close[i],
                src->volume[i]);
}

typedef struct tu_gen {
    uint64_t seed;
    double p_drop;        /* probability a bar is missing (gap) */
    int flat_every;       /* every k-th session is completely flat (0 = never) */
    int zerovol_every;    /* every k-th session has zero volume (0 = never) */
    double vol;           /* per-bar log-return std */
    int extended;         /* 1: bars 04:00-20:00 NY instead of 09:30-16:00 */
} tu_gen;

/* Weekday sessions from NY date first_day, 26 bars of 15m each (64 with
 * extended hours), appended to b. */
static inline void tu_gen_sessions(bf_bars *b, int64_t first_day, int n_sessions, const tu_gen *g)
{
    bf_rng r;
    bf_rng_init(&r, g->seed, BF_RNG_STREAM_SYNTH, 7);
    double price = 100.0;
    int made = 0;
    for (int64_t day = first_day; made < n_sessions; day++) {
        int wd = bf_weekday(day);
        if (wd == 0 || wd == 6)
            continue;
        made++;
        int flat = g->flat_every && made % g->flat_every == 0;
        int zerov = g->zerovol_every && made % g->zerovol_every == 0;
        int64_t open = bf_sess_open(day);
        int k0 = g->extended ? -22 : 0, k1 = g->extended ? 42 : 26;
        for (int k = k0; k < k1; k++) {
            double u = bf_rng_next_uniform(&r);
            double z = bf_rng_next_normal(&r), z2 = bf_rng_next_normal(&r);
            if (u < g->p_drop)
                continue;
            double o = price;
            double c = flat ? price : price * exp(g->vol * z);
            double h = flat ? price : fmax(o, c) * (1.0 + fabs(z2) * g->vol * 0.3);
            double l = flat ? price : fmin(o, c) * (1.0 - fabs(z2) * g->vol * 0.3);
            double v = zerov ? 0.0 : floor(1000.0 + 500.0 * fabs(z2) + 40.0 * (k > 0 ? k : 0));
            tu_push(b, open + (int64_t)k * 900, o, h, l, c, v);
            price = c;
        }
    }
}

static inline int64_t tu_day(int y, int m, int d) { return bf_days_from_civil(y, m, d); }

#endif
