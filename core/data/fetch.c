/* fetch.c - the fetch engine (see fetch.h): options, providers, sharding by
 * weighted work, stale-file cleanup, and the summary gathered on every rank.
 * The per-symbol chain is fetch_symbol.c.
 *
 * Invariants: a rank only ever writes the cache files of symbols it owns
 * (so no two ranks touch one file); memory is one batch of symbols
 * (max_batch of the providers, 1 for synthetic) plus O(n_symbols) numbers.
 */
#define _GNU_SOURCE
#include "core/data/fetch_impl.h"

#include "core/base/log.h"
#include "core/data/cache.h"
#include "core/data/calendar.h"
#include "dist/mpi_env.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef bf_fetch_run_state run;

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
        bf_fx_prov *ps = &r->prov[i];
        ps->name = o->providers[i];
        ps->live = is_live(ps->name);
        int64_t lim = r->now - BF_FX_LIVE_DELAY_S - o->interval_s;
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
    bf_fx_sym *ss = calloc(BF_FX_MAX_BATCH, sizeof *ss);
    if (!r.res || !r.err || !w || !owner || !r.owned_sorted || !ss) {
        st = BF_FAIL(BF_ENOMEM, "out of memory for the state of %d symbols", n);
        goto out;
    }

    /* weights: bars the first provider still lacks (+1 for reading the cache) */
    int64_t lo, hi;
    bf_shard_range(n, me, size, &lo, &hi);
    for (int64_t i = lo; i < hi; i++) {
        bf_fx_sym s;
        memset(&s, 0, sizeof s);
        s.idx = (int)i;
        bf_bars_init(&s.bars, o->symbols[i], o->interval_s);
        if (!o->refresh)
            bf_fx_load_cache(&r, 0, &s, 0);
        double need = (double)r.prov[0].expected;
        if (bf_fx_plan(&r, &r.prov[0], &s) == BF_OK) {
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
        bf_cache_loc loc = {o->cache_dir, o->providers[pi], o->interval_s, o->extended_hours, 0};
        int removed = 0;
        bf_cache_clean_stale(&loc, owned_by_me, &r, &removed);
        if (removed)
            BF_INFO("removed %d stale temporary file(s) from the %s cache", removed, o->providers[pi]);
    }

    int chunk = 1;
    for (int pi = 0; pi < o->n_providers; pi++)
        if (r.prov[pi].p && r.prov[pi].p->ops->max_batch > chunk)
            chunk = r.prov[pi].p->ops->max_batch;
    if (chunk > BF_FX_MAX_BATCH)
        chunk = BF_FX_MAX_BATCH;
    for (int k = 0; k < BF_FX_MAX_BATCH; k++) {
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
            bf_fx_process_chunk(&r, ss, m);
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
    for (int k = 0; ss && k < BF_FX_MAX_BATCH; k++) {
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
