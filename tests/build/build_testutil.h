/* build_testutil.h - a small deterministic bar cache for the build tests: a
 * random walk on the NYSE 15-minute grid (core/data/calendar.h: holidays and
 * early closes included), one seed per symbol, about 2 bars in 1000 missing,
 * written with bf_cache_write the way `barforge fetch` lays a cache out.
 * More sessions for the same symbol extend the same path (same seed, same
 * first bars), which is how the delta tests simulate new bars. */
#ifndef BF_BUILD_TESTUTIL_H
#define BF_BUILD_TESTUTIL_H

#include "core/base/rng.h"
#include "core/data/cache.h"
#include "core/data/calendar.h"

#include <math.h>

static inline bf_status bt_write_cache(const char *dir, const char *provider, int64_t first_day,
                                       int n_sessions, const char *sym)
{
    uint64_t seed = 1469598103934665603ULL; /* FNV-1a of the symbol */
    for (const char *c = sym; *c; c++)
        seed = (seed ^ (unsigned char)*c) * 1099511628211ULL;
    bf_rng r;
    bf_rng_init(&r, seed, BF_RNG_STREAM_SYNTH, 11);
    bf_bars b;
    bf_bars_init(&b, sym, 900);
    bf_status st = BF_OK;
    double price = 20.0 + 200.0 * bf_rng_next_uniform(&r);
    int made = 0;
    for (int64_t day = first_day; made < n_sessions && st == BF_OK; day++) {
        bf_session s;
        if (!bf_cal_session(day, &s))
            continue;
        made++;
        int64_t ts[64];
        int n = bf_cal_session_bars(&s, 900, 0, ts, 64);
        for (int k = 0; k < n && st == BF_OK; k++) {
            double u = bf_rng_next_uniform(&r), z = bf_rng_next_normal(&r);
            double z2 = bf_rng_next_normal(&r);
            if (u < 0.002)
                continue; /* a missing bar */
            double o = price, c = price * exp(0.003 * z);
            double h = fmax(o, c) * (1.0 + 0.001 * fabs(z2)), l = fmin(o, c) * (1.0 - 0.001 * fabs(z2));
            double v = floor(1000.0 + 400.0 * fabs(z2) + 30.0 * k);
            st = bf_bars_push(&b, ts[k], o, h, l, c, v, NAN, -1);
            price = c;
        }
    }
    if (st == BF_OK)
        st = bf_cache_write(dir, provider, 900, &b);
    bf_bars_free(&b);
    return st;
}

#endif
