/* fetch_impl.h - internals shared by fetch.c (options, sharding, gathering)
 * and fetch_symbol.c (one batch of symbols through the fallback chain).
 * Not a public interface. */
#ifndef BF_FETCH_IMPL_H
#define BF_FETCH_IMPL_H

#include "core/data/fetch.h"

#include <stdint.h>

#define BF_FX_MAX_BATCH 64
#define BF_FX_LIVE_DELAY_S 900 /* network bars are requested once 15 minutes old */

typedef struct bf_fx_prov {
    bf_provider *p;
    const char *name;
    int usable;                 /* opened and not disabled */
    int live;                   /* network provider: clamp to now */
    int64_t lim_end;            /* min(end, now - delay - interval) for live providers */
    int64_t expected;           /* calendar bars in [start, lim_end) */
    char why[BF_ERRMSG_MAX];    /* why it is not usable */
} bf_fx_prov;

typedef struct bf_fx_sym {
    int idx;
    int pending, failed_here;
    bf_bars bars;               /* the current provider's cache, then merged */
    bf_bars got;                /* received in this attempt */
    int64_t *cov;               /* covered ranges (pairs) */
    int ncov, covcap;
    int64_t *miss, *req;        /* missing ranges (to record) and trimmed requests */
    int nmiss, nreq, mcap, rcap;
    bf_status last;
    char err[1024];
} bf_fx_sym;

typedef struct bf_fetch_run_state {
    const bf_fetch_opts *o;
    bf_fx_prov prov[BF_FETCH_MAX_PROVIDERS];
    int64_t now;
    int64_t *res;               /* n x NF numbers, summed over ranks at the end */
    char **err;                 /* local failure messages */
    const char **owned_sorted;  /* names owned by this rank, sorted */
    int n_owned;
} bf_fetch_run_state;

/* numeric result fields, packed so one all-reduce gathers them */
enum { F_PROV, F_CACHE, F_STATUS, F_RANK, F_BARS, F_EXPECTED, F_GAPS, F_FETCHED, F_REQ, NF };

/* Load provider pi's cache for s (cov, and bars when with_bars). */
void bf_fx_load_cache(const bf_fetch_run_state *r, int pi, bf_fx_sym *s, int with_bars);
/* Missing ranges of [start, lim_end) given s->cov, and the trimmed requests. */
bf_status bf_fx_plan(const bf_fetch_run_state *r, const bf_fx_prov *ps, bf_fx_sym *s);
/* One batch of owned symbols through cache and providers; results in r->res/r->err. */
void bf_fx_process_chunk(bf_fetch_run_state *r, bf_fx_sym *ss, int m);

#endif
