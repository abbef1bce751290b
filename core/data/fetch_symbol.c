/* fetch_symbol.c - one batch of symbols through the fallback chain (see
 * fetch.h): a covering cache serves a symbol; otherwise each provider in
 * order is asked for what its cache lacks, and the first that delivers has
 * its bars merged and stored with the ranges now covered.
 *
 * Invariants: a symbol's cache file is written at most once per provider
 * attempt and only with complete ranges (the bars of a range are stored
 * together with that range as covered, or not at all).
 */
#define _GNU_SOURCE
#include "core/data/fetch_impl.h"

#include "core/base/log.h"
#include "core/data/cache.h"
#include "core/data/calendar.h"
#include "dist/mpi_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef bf_fetch_run_state run;

/* --- per-symbol state ---------------------------------------------------------- */

static bf_status reserve_pairs(int64_t **a, int *cap, int need)
{
    if (need <= *cap)
        return BF_OK;
    int c = *cap ? *cap : 8;
    while (c < need)
        c *= 2;
    int64_t *p = realloc(*a, (size_t)c * 2 * sizeof *p);
    BF_CHECK_ALLOC(p, (size_t)c * 2 * sizeof *p);
    *a = p;
    *cap = c;
    return BF_OK;
}

static void note(bf_fx_sym *s, bf_status st, const char *prov, const char *msg)
{
    size_t n = strlen(s->err);
    snprintf(s->err + n, sizeof s->err - n, "%s%s: %s", n ? "; " : "", prov, msg);
    s->last = st;
}

static int64_t count_in(const bf_bars *b, int64_t a, int64_t e)
{
    int64_t k = 0;
    for (int64_t i = 0; i < b->n; i++)
        k += b->ts[i] >= a && b->ts[i] < e;
    return k;
}

/* Missing ranges of [start, lim_end) given s->cov, and the trimmed requests. */
bf_status bf_fx_plan(const run *r, const bf_fx_prov *ps, bf_fx_sym *s)
{
    const bf_fetch_opts *o = r->o;
    int n = bf_ranges_missing(s->cov, s->ncov, o->start, ps->lim_end, NULL, 0);
    BF_TRY(reserve_pairs(&s->miss, &s->mcap, n));
    BF_TRY(reserve_pairs(&s->req, &s->rcap, n));
    s->nmiss = bf_ranges_missing(s->cov, s->ncov, o->start, ps->lim_end, s->miss, n);
    s->nreq = 0;
    for (int i = 0; i < s->nmiss; i++) {
        int64_t a = s->miss[2 * i], b = s->miss[2 * i + 1];
        if (bf_cal_trim_range(&a, &b, o->interval_s, o->extended_hours)) {
            /* ask for whole bars: up to the end of the last one */
            int64_t last_start = b - 1;
            s->req[2 * s->nreq] = a;
            s->req[2 * s->nreq + 1] = bf_bar_end(last_start, o->interval_s, o->extended_hours);
            s->nreq++;
        }
    }
    return BF_OK;
}

/* Load provider pi's cache for s (empty when absent or unreadable). */
void bf_fx_load_cache(const run *r, int pi, bf_fx_sym *s, int with_bars)
{
    const bf_fetch_opts *o = r->o;
    const char *sym = o->symbols[s->idx];
    bf_cache_loc loc = {o->cache_dir, r->prov[pi].name, o->interval_s, o->extended_hours, 0};
    free(s->cov);
    s->cov = NULL;
    s->ncov = s->covcap = 0;
    bf_bars_clear(&s->bars);
    bf_status st = bf_cache_load(&loc, sym, with_bars ? &s->bars : NULL, &s->cov, &s->ncov);
    if (st != BF_OK) {
        if (st != BF_ENOTFOUND)
            BF_WARN("%s: ignoring the %s cache, it will be rewritten: %s", sym, r->prov[pi].name,
                    bf_last_error());
        free(s->cov);
        s->cov = NULL;
        s->ncov = 0;
        bf_bars_clear(&s->bars);
    }
    s->covcap = s->ncov;
}

static void serve(run *r, bf_fx_sym *s, int pi, int from_cache, int64_t bars)
{
    int64_t *f = &r->res[(int64_t)s->idx * NF];
    f[F_PROV] = pi + 1;
    f[F_CACHE] = from_cache;
    f[F_STATUS] = BF_OK;
    f[F_BARS] = bars;
    f[F_EXPECTED] = r->prov[pi].expected;
    f[F_GAPS] = r->prov[pi].expected > bars ? r->prov[pi].expected - bars : 0;
    s->pending = 0;
}

/* Step 1: a provider's cache that covers the whole range serves the symbol. */
static void try_caches(run *r, bf_fx_sym *s)
{
    const bf_fetch_opts *o = r->o;
    for (int pi = 0; pi < o->n_providers; pi++) {
        bf_fx_load_cache(r, pi, s, 0);
        if (s->ncov == 0)
            continue;
        if (bf_fx_plan(r, &r->prov[pi], s) != BF_OK || s->nreq > 0)
            continue;
        bf_fx_load_cache(r, pi, s, 1);
        if (bf_fx_plan(r, &r->prov[pi], s) != BF_OK || s->nreq > 0)
            continue; /* changed under us: fetch it */
        serve(r, s, pi, 1, count_in(&s->bars, o->start, o->end));
        return;
    }
}

static int same_requests(const bf_fx_sym *a, const bf_fx_sym *b)
{
    return a->nreq == b->nreq && memcmp(a->req, b->req, (size_t)a->nreq * 2 * sizeof *a->req) == 0;
}

/* Keep rows with a <= ts < e (a provider should return nothing else; a bar
 * outside the range would lie outside the coverage recorded for it). */
static int64_t keep_range(bf_bars *b, int64_t a, int64_t e)
{
    int64_t k = 0;
    for (int64_t i = 0; i < b->n; i++)
        if (b->ts[i] >= a && b->ts[i] < e) {
            if (k != i)
                bf_bars_move_row(b, k, i);
            k++;
        }
    int64_t dropped = b->n - k;
    b->n = k;
    return dropped;
}

/* Ask provider pi for the batch's requests (identical for all of them). */
static void request_batch(run *r, int pi, bf_fx_sym **batch, int nb)
{
    const bf_fetch_opts *o = r->o;
    bf_fx_prov *ps = &r->prov[pi];
    const char *names[BF_FX_MAX_BATCH];
    bf_bars out[BF_FX_MAX_BATCH];
    bf_status st[BF_FX_MAX_BATCH];
    char errmsg[BF_FX_MAX_BATCH][BF_ERRMSG_MAX];
    for (int k = 0; k < nb; k++) {
        names[k] = o->symbols[batch[k]->idx];
        bf_bars_init(&out[k], names[k], o->interval_s);
    }
    for (int q = 0; q < batch[0]->nreq; q++) {
        int64_t a = batch[0]->req[2 * q], e = batch[0]->req[2 * q + 1];
        int live = 0;
        for (int k = 0; k < nb; k++) {
            live += !batch[k]->failed_here;
            st[k] = BF_OK;
            errmsg[k][0] = 0;
        }
        if (!live)
            break;
        for (int k = 0; k < nb; k++) {
            if (o->on_request)
                o->on_request(o->on_request_ctx, ps->name, names[k], a, e);
            r->res[(int64_t)batch[k]->idx * NF + F_REQ]++;
        }
        char t0[32], t1[32];
        bf_time_format(a, t0, sizeof t0);
        bf_time_format(e, t1, sizeof t1);
        BF_DEBUG("%s: %d symbol(s) from %s, %s .. %s", ps->name, nb, names[0], t0, t1);
        bf_clear_error();
        bf_status bs = ps->p->ops->fetch(ps->p, names, nb, o->interval_s, a, e, out, st, errmsg);
        for (int k = 0; k < nb; k++) {
            bf_fx_sym *s = batch[k];
            if (s->failed_here)
                continue;
            if (bs != BF_OK) {
                note(s, bs, ps->name, bf_last_error());
                s->failed_here = 1;
            } else if (st[k] != BF_OK) {
                note(s, st[k], ps->name, errmsg[k][0] ? errmsg[k] : bf_status_name(st[k]));
                s->failed_here = 1;
            } else {
                int64_t off = keep_range(&out[k], a, e);
                if (off)
                    BF_WARN("%s: %s returned %lld bar(s) outside the requested range; dropped",
                            names[k], ps->name, (long long)off);
                r->res[(int64_t)s->idx * NF + F_FETCHED] += out[k].n;
                if (bf_bars_merge(&s->got, &out[k]) != BF_OK) {
                    note(s, BF_ENOMEM, ps->name, bf_last_error());
                    s->failed_here = 1;
                }
            }
        }
        if (bs == BF_EQUOTA || bs == BF_EAUTH) {
            ps->usable = 0; /* nothing more will come from it in this run */
            snprintf(ps->why, sizeof ps->why, "disabled after: %s", bf_last_error());
            BF_WARN("provider %s disabled for the rest of this run: %s", ps->name, bf_last_error());
        }
    }
    for (int k = 0; k < nb; k++)
        bf_bars_free(&out[k]);
}

/* After the requests: merge, record the ranges, store. */
static void commit(run *r, int pi, bf_fx_sym *s)
{
    const bf_fetch_opts *o = r->o;
    const bf_fx_prov *ps = &r->prov[pi];
    const char *sym = o->symbols[s->idx];
    if (s->failed_here)
        return;
    if (bf_bars_merge(&s->bars, &s->got) != BF_OK) {
        note(s, BF_ENOMEM, ps->name, bf_last_error());
        return;
    }
    int64_t n_in = count_in(&s->bars, o->start, o->end);
    if (n_in == 0 && ps->expected > 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "no bars for %s in the requested range", sym);
        note(s, BF_ENODATA, ps->name, msg);
        return;
    }
    if (reserve_pairs(&s->cov, &s->covcap, s->ncov + s->nmiss) != BF_OK) {
        note(s, BF_ENOMEM, ps->name, bf_last_error());
        return;
    }
    memcpy(s->cov + 2 * s->ncov, s->miss, (size_t)s->nmiss * 2 * sizeof *s->cov);
    s->ncov = bf_ranges_normalize(s->cov, s->ncov + s->nmiss);
    bf_cache_loc loc = {o->cache_dir, ps->name, o->interval_s, o->extended_hours, 0};
    snprintf(s->bars.symbol, sizeof s->bars.symbol, "%s", sym);
    s->bars.interval_s = o->interval_s;
    bf_status st = bf_cache_store(&loc, &s->bars, s->cov, s->ncov);
    if (st != BF_OK) {
        /* a local write failure: no other provider would fare better */
        note(s, st, ps->name, bf_last_error());
        s->pending = 0;
        return;
    }
    serve(r, s, pi, s->nreq == 0, n_in);
}

/* Remove bars and coverage in [start, end): --refresh. */
static bf_status drop_range(const run *r, bf_fx_sym *s)
{
    const bf_fetch_opts *o = r->o;
    int64_t k = 0;
    for (int64_t i = 0; i < s->bars.n; i++)
        if (s->bars.ts[i] < o->start || s->bars.ts[i] >= o->end)
            bf_bars_move_row(&s->bars, k++, i);
    s->bars.n = k;
    /* coverage minus [start, end): the pieces before and after */
    int64_t *nc = NULL;
    int ncap = 0, m = 0;
    BF_TRY(reserve_pairs(&nc, &ncap, s->ncov * 2 + 1));
    for (int i = 0; i < s->ncov; i++) {
        int64_t a = s->cov[2 * i], b = s->cov[2 * i + 1];
        if (a < o->start) {
            nc[2 * m] = a;
            nc[2 * m + 1] = b < o->start ? b : o->start;
            m++;
        }
        if (b > o->end) {
            nc[2 * m] = a > o->end ? a : o->end;
            nc[2 * m + 1] = b;
            m++;
        }
    }
    free(s->cov);
    s->cov = nc;
    s->covcap = ncap;
    s->ncov = bf_ranges_normalize(nc, m);
    return BF_OK;
}

/* One batch of symbols through the fallback chain. */
void bf_fx_process_chunk(run *r, bf_fx_sym *ss, int m)
{
    const bf_fetch_opts *o = r->o;
    for (int k = 0; k < m; k++) {
        ss[k].pending = 1;
        ss[k].err[0] = 0;
        ss[k].last = BF_ENODATA;
        if (!o->refresh)
            try_caches(r, &ss[k]);
    }
    for (int pi = 0; pi < o->n_providers; pi++) {
        bf_fx_prov *ps = &r->prov[pi];
        bf_fx_sym *pend[BF_FX_MAX_BATCH];
        int np = 0;
        for (int k = 0; k < m; k++)
            if (ss[k].pending) {
                if (!ps->usable) {
                    note(&ss[k], BF_ERR, ps->name, ps->why);
                    continue;
                }
                pend[np++] = &ss[k];
            }
        for (int k = 0; k < np; k++) {
            bf_fx_sym *s = pend[k];
            s->failed_here = 0;
            bf_bars_clear(&s->got);
            bf_fx_load_cache(r, pi, s, 1);
            if (o->refresh && drop_range(r, s) != BF_OK) {
                note(s, BF_ENOMEM, ps->name, bf_last_error());
                s->failed_here = 1;
                continue;
            }
            if (bf_fx_plan(r, ps, s) != BF_OK) {
                note(s, BF_ENOMEM, ps->name, bf_last_error());
                s->failed_here = 1;
            }
        }
        /* batches of symbols with identical requests */
        int done[BF_FX_MAX_BATCH] = {0};
        int maxb = ps->p && ps->p->ops->max_batch > 0 ? ps->p->ops->max_batch : 1;
        if (maxb > BF_FX_MAX_BATCH)
            maxb = BF_FX_MAX_BATCH;
        for (int k = 0; k < np; k++) {
            if (done[k] || pend[k]->failed_here || pend[k]->nreq == 0)
                continue;
            bf_fx_sym *batch[BF_FX_MAX_BATCH];
            int nb = 0;
            for (int q = k; q < np && nb < maxb; q++)
                if (!done[q] && !pend[q]->failed_here && same_requests(pend[k], pend[q])) {
                    batch[nb++] = pend[q];
                    done[q] = 1;
                }
            if (ps->usable)
                request_batch(r, pi, batch, nb);
            else
                for (int q = 0; q < nb; q++) {
                    note(batch[q], BF_ERR, ps->name, ps->why);
                    batch[q]->failed_here = 1;
                }
        }
        for (int k = 0; k < np; k++)
            commit(r, pi, pend[k]);
    }
    for (int k = 0; k < m; k++) {
        bf_fx_sym *s = &ss[k];
        int64_t *f = &r->res[(int64_t)s->idx * NF];
        f[F_RANK] = bf_mpi_rank();
        if (!s->pending && f[F_PROV] > 0)
            continue;
        f[F_PROV] = 0;
        f[F_STATUS] = s->last == BF_OK ? BF_ERR : s->last;
        r->err[s->idx] = strdup(s->err[0] ? s->err : "no provider could serve it");
        BF_WARN("%s failed: %s", o->symbols[s->idx], s->err);
    }
}

