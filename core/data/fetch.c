/* fetch.c - the fetch engine (see fetch.h): sharding, cache-first fallback
 * chain, incremental ranges, per-symbol status, summary on every rank.
 *
 * Invariants: a rank only ever writes the cache files of symbols it owns
 * (so no two ranks touch one file); a symbol's cache file is written at most
 * once per provider attempt and only with complete ranges (bars of a range
 * are stored together with that range as covered, or not at all); memory is
 * one batch of symbols (max_batch of the provider, 1 for synthetic).
 */
#define _GNU_SOURCE
#include "core/data/fetch.h"

#include "core/base/json.h"
#include "core/base/log.h"
#include "core/data/cache.h"
#include "core/data/calendar.h"
#include "dist/mpi_env.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define MAX_BATCH 64
#define LIVE_DELAY_S 900 /* network bars are requested once 15 minutes old */

typedef struct prov_slot {
    bf_provider *p;
    const char *name;
    int usable;                 /* opened and not disabled */
    int live;                   /* network provider: clamp to now */
    int64_t lim_end;            /* min(end, now - delay - interval) for live providers */
    int64_t expected;           /* calendar bars in [start, lim_end) */
    char why[BF_ERRMSG_MAX];    /* why it is not usable */
} prov_slot;

typedef struct sym_state {
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
} sym_state;

typedef struct run {
    const bf_fetch_opts *o;
    prov_slot prov[BF_FETCH_MAX_PROVIDERS];
    int64_t now;
    int64_t *res;               /* n x NF numbers, summed over ranks at the end */
    char **err;                 /* local failure messages */
    const char **owned_sorted;  /* names owned by this rank, sorted */
    int n_owned;
} run;

/* numeric result fields, packed so one all-reduce gathers them */
enum { F_PROV, F_CACHE, F_STATUS, F_RANK, F_BARS, F_EXPECTED, F_GAPS, F_FETCHED, F_REQ, NF };

static int is_live(const char *name) { return strcmp(name, "synthetic") != 0 && strcmp(name, "csv") != 0; }

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bf_status bf_fetch_check(const bf_fetch_opts *o)
{
    if (o->n_symbols < 1 || !o->symbols)
        return BF_FAIL(BF_EINVAL, "no symbols to fetch");
    for (int i = 0; i < o->n_symbols; i++)
        BF_TRY(bf_symbol_validate(o->symbols[i]));
    const char **s = malloc((size_t)o->n_symbols * sizeof *s);
    BF_CHECK_ALLOC(s, (size_t)o->n_symbols * sizeof *s);
    memcpy(s, o->symbols, (size_t)o->n_symbols * sizeof *s);
    qsort(s, (size_t)o->n_symbols, sizeof *s, cmp_str);
    for (int i = 1; i < o->n_symbols; i++)
        if (strcmp(s[i], s[i - 1]) == 0) {
            bf_status st = BF_FAIL(BF_EINVAL, "symbol '%s' is listed twice", s[i]);
            free(s);
            return st;
        }
    free(s);
    if (o->n_providers < 1 || o->n_providers > BF_FETCH_MAX_PROVIDERS)
        return BF_FAIL(BF_EINVAL, "expected 1 to %d providers, got %d", BF_FETCH_MAX_PROVIDERS,
                       o->n_providers);
    for (int i = 0; i < o->n_providers; i++) {
        if (!bf_provider_known(o->providers[i]))
            return BF_FAIL(BF_EINVAL,
                           "unknown provider '%s': expected synthetic, alpaca, yahoo, "
                           "alphavantage or csv",
                           o->providers[i] ? o->providers[i] : "(null)");
        for (int j = 0; j < i; j++)
            if (strcmp(o->providers[i], o->providers[j]) == 0)
                return BF_FAIL(BF_EINVAL, "provider '%s' is listed twice", o->providers[i]);
    }
    if (strcmp(bf_interval_name(o->interval_s), "?") == 0)
        return BF_FAIL(BF_EINVAL, "unsupported interval of %d seconds", o->interval_s);
    BF_TRY(bf_cal_check_range(o->start, o->end));
    if (!o->cache_dir || !*o->cache_dir)
        return BF_FAIL(BF_EINVAL, "empty --cache-dir");
    return BF_OK;
}

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

static void note(sym_state *s, bf_status st, const char *prov, const char *msg)
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
static bf_status plan(const run *r, const prov_slot *ps, sym_state *s)
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
static void load_cache(const run *r, int pi, sym_state *s, int with_bars)
{
    const bf_fetch_opts *o = r->o;
    const char *sym = o->symbols[s->idx];
    bf_cache_loc loc = {o->cache_dir, r->prov[pi].name, o->interval_s, o->extended_hours};
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

static void serve(run *r, sym_state *s, int pi, int from_cache, int64_t bars)
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
static void try_caches(run *r, sym_state *s)
{
    const bf_fetch_opts *o = r->o;
    for (int pi = 0; pi < o->n_providers; pi++) {
        load_cache(r, pi, s, 0);
        if (s->ncov == 0)
            continue;
        if (plan(r, &r->prov[pi], s) != BF_OK || s->nreq > 0)
            continue;
        load_cache(r, pi, s, 1);
        if (plan(r, &r->prov[pi], s) != BF_OK || s->nreq > 0)
            continue; /* changed under us: fetch it */
        serve(r, s, pi, 1, count_in(&s->bars, o->start, o->end));
        return;
    }
}

static int same_requests(const sym_state *a, const sym_state *b)
{
    return a->nreq == b->nreq && memcmp(a->req, b->req, (size_t)a->nreq * 2 * sizeof *a->req) == 0;
}

/* Ask provider pi for the batch's requests (identical for all of them). */
static void request_batch(run *r, int pi, sym_state **batch, int nb)
{
    const bf_fetch_opts *o = r->o;
    prov_slot *ps = &r->prov[pi];
    const char *names[MAX_BATCH];
    bf_bars out[MAX_BATCH];
    bf_status st[MAX_BATCH];
    char errmsg[MAX_BATCH][BF_ERRMSG_MAX];
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
            sym_state *s = batch[k];
            if (s->failed_here)
                continue;
            if (bs != BF_OK) {
                note(s, bs, ps->name, bf_last_error());
                s->failed_here = 1;
            } else if (st[k] != BF_OK) {
                note(s, st[k], ps->name, errmsg[k][0] ? errmsg[k] : bf_status_name(st[k]));
                s->failed_here = 1;
            } else {
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
static void commit(run *r, int pi, sym_state *s)
{
    const bf_fetch_opts *o = r->o;
    const prov_slot *ps = &r->prov[pi];
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
    bf_cache_loc loc = {o->cache_dir, ps->name, o->interval_s, o->extended_hours};
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
static bf_status drop_range(const run *r, sym_state *s)
{
    const bf_fetch_opts *o = r->o;
    int64_t k = 0;
    for (int64_t i = 0; i < s->bars.n; i++)
        if (s->bars.ts[i] < o->start || s->bars.ts[i] >= o->end) {
            bf_bars *b = &s->bars;
            b->ts[k] = b->ts[i];
            b->open[k] = b->open[i];
            b->high[k] = b->high[i];
            b->low[k] = b->low[i];
            b->close[k] = b->close[i];
            b->volume[k] = b->volume[i];
            b->vwap[k] = b->vwap[i];
            b->trades[k] = b->trades[i];
            k++;
        }
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
static void process_chunk(run *r, sym_state *ss, int m)
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
        prov_slot *ps = &r->prov[pi];
        sym_state *pend[MAX_BATCH];
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
            sym_state *s = pend[k];
            s->failed_here = 0;
            bf_bars_clear(&s->got);
            load_cache(r, pi, s, 1);
            if (o->refresh && drop_range(r, s) != BF_OK) {
                note(s, BF_ENOMEM, ps->name, bf_last_error());
                s->failed_here = 1;
                continue;
            }
            if (plan(r, ps, s) != BF_OK) {
                note(s, BF_ENOMEM, ps->name, bf_last_error());
                s->failed_here = 1;
            }
        }
        /* batches of symbols with identical requests */
        int done[MAX_BATCH] = {0};
        int maxb = ps->p && ps->p->ops->max_batch > 0 ? ps->p->ops->max_batch : 1;
        if (maxb > MAX_BATCH)
            maxb = MAX_BATCH;
        for (int k = 0; k < np; k++) {
            if (done[k] || pend[k]->failed_here || pend[k]->nreq == 0)
                continue;
            sym_state *batch[MAX_BATCH];
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
        sym_state *s = &ss[k];
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

/* --- run ----------------------------------------------------------------------- */

static int owned_by_me(const char *sym, void *ctx)
{
    const run *r = ctx;
    return bsearch(&sym, r->owned_sorted, (size_t)r->n_owned, sizeof *r->owned_sorted, cmp_str) != NULL;
}

static bf_status open_providers(run *r)
{
    const bf_fetch_opts *o = r->o;
    int any = 0;
    bf_status first_err = BF_OK;
    char first_msg[BF_ERRMSG_MAX] = "";
    for (int i = 0; i < o->n_providers; i++) {
        prov_slot *ps = &r->prov[i];
        ps->name = o->providers[i];
        ps->live = is_live(ps->name);
        int64_t lim = r->now - LIVE_DELAY_S - o->interval_s;
        ps->lim_end = ps->live && lim < o->end ? (lim > o->start ? lim : o->start) : o->end;
        ps->expected = bf_cal_count_bars(o->start, ps->lim_end, o->interval_s, o->extended_hours);
        bf_provider_config cfg = o->net;
        cfg.extended_hours = o->extended_hours;
        cfg.n_ranks = bf_mpi_size();
        cfg.seed = o->seed;
        cfg.signal_strength = o->signal_strength;
        cfg.base_url = o->base_url[i];
        if (o->key_id[i])
            cfg.key_id = o->key_id[i];
        if (o->secret_key[i])
            cfg.secret_key = o->secret_key[i];
        bf_clear_error();
        bf_status st = bf_provider_open(ps->name, &cfg, &ps->p);
        if (st == BF_OK) {
            ps->usable = 1;
            any = 1;
        } else {
            snprintf(ps->why, sizeof ps->why, "could not open: %s", bf_last_error());
            BF_WARN("provider %s unavailable: %s", ps->name, bf_last_error());
            if (first_err == BF_OK) {
                first_err = st;
                snprintf(first_msg, sizeof first_msg, "%s", bf_last_error());
            }
        }
    }
    if (!any)
        return BF_FAIL(first_err == BF_OK ? BF_ERR : first_err,
                       "no provider could be opened; the first said: %s", first_msg);
    return BF_OK;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

/* Everyone gets every failure message: each rank broadcasts its packed list. */
static bf_status share_errors(run *r, int n, int *owner)
{
    int size = bf_mpi_size(), me = bf_mpi_rank();
    if (size == 1)
        return BF_OK;
    for (int root = 0; root < size; root++) {
        int64_t len = 0;
        char *buf = NULL;
        if (root == me) {
            for (int i = 0; i < n; i++)
                if (owner[i] == me && r->err[i])
                    len += 12 + (int64_t)strlen(r->err[i]) + 1;
        }
        BF_TRY(bf_bcast_bytes(&len, (int64_t)sizeof len, root));
        if (len == 0)
            continue;
        buf = malloc((size_t)len);
        BF_CHECK_ALLOC(buf, (size_t)len);
        if (root == me) {
            char *p = buf;
            for (int i = 0; i < n; i++)
                if (owner[i] == me && r->err[i]) {
                    p += sprintf(p, "%011d", i) + 1;
                    size_t l = strlen(r->err[i]) + 1;
                    memcpy(p, r->err[i], l);
                    p += l;
                }
        }
        bf_status st = bf_bcast_bytes(buf, len, root);
        if (st == BF_OK && root != me) {
            for (char *p = buf; p < buf + len;) {
                int i = atoi(p);
                p += strlen(p) + 1;
                if (i >= 0 && i < n && !r->err[i])
                    r->err[i] = strdup(p);
                p += strlen(p) + 1;
            }
        }
        free(buf);
        BF_TRY(st);
    }
    return BF_OK;
}

bf_status bf_fetch_run(const bf_fetch_opts *o, bf_fetch_summary *out)
{
    memset(out, 0, sizeof *out);
    BF_TRY(bf_fetch_check(o));
    double t0 = bf_now(), c0 = cpu_seconds();
    int n = o->n_symbols, size = bf_mpi_size(), me = bf_mpi_rank();
    run r;
    memset(&r, 0, sizeof r);
    r.o = o;
    r.now = o->now ? o->now : (int64_t)time(NULL);
    bf_status st = open_providers(&r);
    bf_status agreed = bf_status_agree(st);
    if (agreed != BF_OK) {
        for (int i = 0; i < o->n_providers; i++)
            bf_provider_close(r.prov[i].p);
        return st != BF_OK ? st : BF_FAIL(agreed, "another rank could not open any provider");
    }

    r.res = calloc((size_t)n * NF, sizeof *r.res);
    r.err = calloc((size_t)n, sizeof *r.err);
    double *w = calloc((size_t)n, sizeof *w);
    int *owner = calloc((size_t)n, sizeof *owner);
    r.owned_sorted = malloc((size_t)n * sizeof *r.owned_sorted);
    sym_state *ss = calloc(MAX_BATCH, sizeof *ss);
    if (!r.res || !r.err || !w || !owner || !r.owned_sorted || !ss) {
        st = BF_FAIL(BF_ENOMEM, "out of memory for the state of %d symbols", n);
        goto out;
    }

    /* weights: bars the first provider still lacks (+1 for reading the cache) */
    int64_t lo, hi;
    bf_shard_range(n, me, size, &lo, &hi);
    for (int64_t i = lo; i < hi; i++) {
        sym_state s;
        memset(&s, 0, sizeof s);
        s.idx = (int)i;
        bf_bars_init(&s.bars, o->symbols[i], o->interval_s);
        if (!o->refresh)
            load_cache(&r, 0, &s, 0);
        double need = (double)r.prov[0].expected;
        if (plan(&r, &r.prov[0], &s) == BF_OK) {
            need = 0;
            for (int q = 0; q < s.nreq; q++)
                need += (double)bf_cal_count_bars(s.req[2 * q], s.req[2 * q + 1], o->interval_s,
                                                  o->extended_hours);
        }
        w[i] = 1.0 + need;
        free(s.cov);
        free(s.miss);
        free(s.req);
        bf_bars_free(&s.bars);
    }
    st = bf_allreduce_sum_f64(w, n);
    if (st != BF_OK)
        goto out;
    bf_shard_weighted(w, n, size, owner);
    for (int i = 0; i < n; i++)
        if (owner[i] == me)
            r.owned_sorted[r.n_owned++] = o->symbols[i];
    qsort(r.owned_sorted, (size_t)r.n_owned, sizeof *r.owned_sorted, cmp_str);
    for (int pi = 0; pi < o->n_providers; pi++) {
        bf_cache_loc loc = {o->cache_dir, o->providers[pi], o->interval_s, o->extended_hours};
        int removed = 0;
        bf_cache_clean_stale(&loc, owned_by_me, &r, &removed);
        if (removed)
            BF_INFO("removed %d stale temporary file(s) from the %s cache", removed, o->providers[pi]);
    }

    int chunk = 1;
    for (int pi = 0; pi < o->n_providers; pi++)
        if (r.prov[pi].p && r.prov[pi].p->ops->max_batch > chunk)
            chunk = r.prov[pi].p->ops->max_batch;
    if (chunk > MAX_BATCH)
        chunk = MAX_BATCH;
    for (int k = 0; k < MAX_BATCH; k++) {
        bf_bars_init(&ss[k].bars, "", o->interval_s);
        bf_bars_init(&ss[k].got, "", o->interval_s);
    }
    bf_progress pg;
    if (o->progress)
        bf_progress_start(&pg, "fetch", r.n_owned);
    int done = 0, m = 0;
    for (int i = 0; i <= n; i++) {
        if (i < n && owner[i] == me) {
            ss[m].idx = i;
            snprintf(ss[m].bars.symbol, sizeof ss[m].bars.symbol, "%s", o->symbols[i]);
            m++;
        }
        if (m == chunk || (i == n && m > 0)) {
            process_chunk(&r, ss, m);
            done += m;
            m = 0;
            if (o->progress)
                bf_progress_update(&pg, done);
        }
    }
    if (o->progress)
        bf_progress_end(&pg);

    /* gather: numbers by one all-reduce, messages by broadcasts */
    st = bf_allreduce_sum_i64(r.res, (int64_t)n * NF);
    if (st == BF_OK)
        st = share_errors(&r, n, owner);
    double tm[2] = {bf_now() - t0, peak_rss_mb()};
    if (st == BF_OK)
        st = bf_allreduce_max_f64(tm, 2);
    double cpu = cpu_seconds() - c0;
    if (st == BF_OK)
        st = bf_allreduce_sum_f64(&cpu, 1);
    if (st != BF_OK)
        goto out;

    out->n_symbols = n;
    out->n_ranks = size;
    out->elapsed_s = tm[0];
    out->peak_rss_mb = tm[1];
    out->cpu_s = cpu;
    out->sym = calloc((size_t)n, sizeof *out->sym);
    out->error = r.err;
    r.err = NULL;
    if (!out->sym) {
        st = BF_FAIL(BF_ENOMEM, "out of memory for the summary of %d symbols", n);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const int64_t *f = &r.res[(int64_t)i * NF];
        bf_fetch_sym *y = &out->sym[i];
        snprintf(y->symbol, sizeof y->symbol, "%s", o->symbols[i]);
        y->provider = (int)f[F_PROV] - 1;
        y->from_cache = (int)f[F_CACHE];
        y->status = (int)f[F_STATUS];
        y->rank = (int)f[F_RANK];
        y->bars = f[F_BARS];
        y->expected = f[F_EXPECTED];
        y->gaps = f[F_GAPS];
        y->fetched = f[F_FETCHED];
        y->requests = f[F_REQ];
        if (y->status != BF_OK || y->provider < 0) {
            out->n_failed++;
            if (y->status == BF_OK)
                y->status = BF_ERR;
            if (!out->error[i])
                out->error[i] = strdup("failed");
        }
        out->bars += y->bars;
        out->gaps += y->gaps;
        out->fetched += y->fetched;
        out->requests += y->requests;
        out->from_cache += y->provider >= 0 && y->from_cache;
    }
out:
    for (int k = 0; ss && k < MAX_BATCH; k++) {
        bf_bars_free(&ss[k].bars);
        bf_bars_free(&ss[k].got);
        free(ss[k].cov);
        free(ss[k].miss);
        free(ss[k].req);
    }
    free(ss);
    for (int i = 0; r.err && i < n; i++)
        free(r.err[i]);
    free(r.err);
    free(r.res);
    free(w);
    free(owner);
    free(r.owned_sorted);
    for (int i = 0; i < o->n_providers; i++)
        bf_provider_close(r.prov[i].p);
    if (st != BF_OK)
        bf_fetch_summary_free(out);
    return st;
}

void bf_fetch_summary_free(bf_fetch_summary *s)
{
    for (int i = 0; s->error && i < s->n_symbols; i++)
        free(s->error[i]);
    free(s->error);
    free(s->sym);
    memset(s, 0, sizeof *s);
}
