/* bench_feat - single-thread time of the feature half of a build on
 * generated bars: clean + bf_feat_build_symbol (features of 15m, 1h, 1d and
 * labels 1,4,8), the time split with purge, and the per-symbol robust scaler
 * (fit on train, apply to all), for S symbols x D sessions of 26 bars.
 * Usage: bench_feat [symbols=50] [sessions=504] [repeats=5]
 * Prints the best of the repeats per stage, in thread CPU time. No I/O: see bench/build/ for the
 * whole build against pandas. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "core/base/rng.h"
#include "core/base/timeutil.h"
#include "core/feat/features.h"
#include "core/feat/session.h"
#include "core/feat/split_scale.h"

#include <math.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

/* thread CPU seconds: the machines this runs on are shared, and wall time
 * then counts other processes' turns */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void alloc_bars(bf_bars *b, int sym, int64_t cap)
{
    memset(b, 0, sizeof *b);
    snprintf(b->symbol, sizeof b->symbol, "S%03d", sym);
    b->interval_s = 900;
    b->cap = cap;
    b->ts = malloc(sizeof(int64_t) * (size_t)cap);
    b->trades = malloc(sizeof(int64_t) * (size_t)cap);
    double **c[] = {&b->open, &b->high, &b->low, &b->close, &b->volume, &b->vwap};
    for (int i = 0; i < 6; i++)
        *c[i] = malloc(sizeof(double) * (size_t)cap);
}

static void free_bars(bf_bars *b)
{
    free(b->ts), free(b->trades), free(b->open), free(b->high), free(b->low), free(b->close);
    free(b->volume), free(b->vwap);
}

static void gen(bf_bars *b, int sym, int sessions)
{
    bf_rng r;
    bf_rng_init(&r, 42, BF_RNG_STREAM_SYNTH, (uint64_t)sym);
    double p = 20.0 + 3.0 * sym;
    int made = 0;
    for (int64_t day = bf_days_from_civil(2023, 1, 2); made < sessions; day++) {
        int wd = bf_weekday(day);
        if (wd == 0 || wd == 6)
            continue;
        made++;
        int64_t open = bf_sess_open(day), close = bf_sess_close(day, 0);
        for (int64_t t = open; t < close; t += 900) {
            if (bf_rng_next_uniform(&r) < 0.003)
                continue;
            double o = p, c = p * exp(0.003 * bf_rng_next_normal(&r));
            int64_t i = b->n++;
            b->ts[i] = t;
            b->open[i] = o;
            b->close[i] = c;
            b->high[i] = fmax(o, c) * 1.001;
            b->low[i] = fmin(o, c) * 0.999;
            b->volume[i] = floor(1000 + 900 * bf_rng_next_uniform(&r));
            b->vwap[i] = NAN;
            b->trades[i] = -1;
            p = c;
        }
    }
}

int main(int argc, char **argv)
{
    int S = argc > 1 ? atoi(argv[1]) : 50, D = argc > 2 ? atoi(argv[2]) : 504;
    int R = argc > 3 ? atoi(argv[3]) : 5;
    if (S < 1 || D < 1 || R < 1) {
        fprintf(stderr, "usage: bench_feat [symbols] [sessions] [repeats]\n");
        return 2;
    }
    bf_bars *bars = calloc((size_t)S, sizeof *bars);
    int64_t total = 0;
    for (int s = 0; s < S; s++) {
        alloc_bars(&bars[s], s, (int64_t)D * 26);
        gen(&bars[s], s, D);
        total += bars[s].n;
    }
    bf_feat_spec spec = {.n_intervals = 3, .interval_s = {900, 3600, 86400}, .n_horizons = 3,
                         .horizons = {1, 4, 8}};
    const int F = bf_feat_count(&spec);
    /* untimed pre-pass: the split boundaries from every symbol's valid row
     * times (a build gathers these across ranks first) */
    bf_feat_rows rows = {0};
    int64_t *times = malloc(sizeof(int64_t) * (size_t)total), nt = 0;
    for (int s = 0; s < S; s++) {
        if (bf_feat_build_symbol(&spec, &bars[s], &rows) != BF_OK) {
            fprintf(stderr, "%s\n", bf_last_error());
            return 1;
        }
        for (int64_t i = 0; i < rows.n; i++)
            if (rows.valid[i])
                times[nt++] = rows.ts_end[i];
    }
    qsort(times, (size_t)nt, sizeof *times, cmp_i64);
    int64_t m = 0;
    for (int64_t i = 0; i < nt; i++)
        if (m == 0 || times[i] != times[m - 1])
            times[m++] = times[i];
    bf_split_spec ss = {.train_frac = 0.7, .val_frac = 0.15, .purge_bars = 71};
    int64_t vs, ts;
    if (bf_split_boundaries(&ss, times, m, &vs, &ts) != BF_OK)
        return 1;
    free(times);

    /* timed: the per-symbol pipeline of a build, one symbol's rows at a time
     * in one reused buffer: clean, features + labels, keep valid rows,
     * assign splits with the purge, fit the scaler on train, apply to all */
    int8_t *sp = malloc((size_t)total);
    uint8_t *tr = malloc((size_t)total);
    double best[3] = {1e30, 1e30, 1e30};
    int64_t valid = 0;
    for (int rep = 0; rep < R; rep++) {
        double d[3] = {0, 0, 0};
        valid = 0;
        for (int s = 0; s < S; s++) {
            double t0 = cpu_now();
            bf_clean_report cr = {0};
            if (bf_bars_clean(&bars[s], &cr) != BF_OK) {
                fprintf(stderr, "%s\n", bf_last_error());
                return 1;
            }
            double t1 = cpu_now();
            if (bf_feat_build_symbol(&spec, &bars[s], &rows) != BF_OK) {
                fprintf(stderr, "%s\n", bf_last_error());
                return 1;
            }
            double t2 = cpu_now();
            int64_t k = 0;
            for (int64_t i = 0; i < rows.n; i++)
                if (rows.valid[i]) {
                    if (k != i)
                        memcpy(rows.X + k * F, rows.X + i * F, sizeof(float) * F);
                    rows.ts_end[k++] = rows.ts_end[i];
                }
            bf_split_assign(rows.ts_end, k, vs, ts, ss.purge_bars, sp);
            for (int64_t i = 0; i < k; i++)
                tr[i] = sp[i] == BF_SPLIT_TRAIN;
            bf_scaler sc;
            if (bf_scaler_fit_masked(&sc, rows.X, k, F, tr) != BF_OK)
                return 1;
            bf_scaler_apply(&sc, rows.X, k);
            bf_scaler_free(&sc);
            double t3 = cpu_now();
            d[0] += t1 - t0, d[1] += t2 - t1, d[2] += t3 - t2;
            valid += k;
        }
        for (int q = 0; q < 3; q++)
            best[q] = d[q] < best[q] ? d[q] : best[q];
    }
    printf("bench_feat: %d symbols x %d sessions = %lld base bars, %lld valid rows, %d features, "
           "best of %d (thread CPU time)\n", S, D, (long long)total, (long long)valid, F, R);
    printf("  clean            %8.2f ms\n", best[0] * 1e3);
    printf("  features+labels  %8.2f ms  (%.1f ns/bar, %.1f M bars/s)\n", best[1] * 1e3,
           best[1] * 1e9 / (double)total, (double)total / best[1] / 1e6);
    printf("  split+scale      %8.2f ms  (keep valid rows, purge, per-symbol robust scaler)\n",
           best[2] * 1e3);
    printf("  total            %8.2f ms\n", (best[0] + best[1] + best[2]) * 1e3);
    bf_feat_rows_free(&rows);
    for (int s = 0; s < S; s++)
        free_bars(&bars[s]);
    free(bars);
    free(sp);
    free(tr);
    return 0;
}
