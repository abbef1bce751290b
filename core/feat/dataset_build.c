#define _GNU_SOURCE
/* dataset_build.c - the master build (see dataset_build.h).
 *
 * One pass where it can (per-symbol scalers, uncompressed direct files):
 * each symbol's rows are split, scaled and written into the split files as
 * the symbols complete, under split boundaries guessed from the first
 * symbols' row times and checked at the end (build_stream.c). One rank
 * writes in symbol order; under MPI the ranks claim symbols as they go and
 * pipeline the writes (the stream's "pipelined" mode). When the guess does
 * not hold, or a pipelined pass stops, the build is done in two passes:
 *
 * Two passes over this rank's contiguous range of symbols (sym_id order):
 *   pass 1  features per symbol; keep only the row times (spilled to a
 *           per-rank file), per-symbol counts, the local set of distinct row
 *           times and, for a global scaler, a bounded sample of rows. A
 *           pipeline: this thread reads the cache (all HDF5 calls), a worker
 *           computes and records the symbols in order (see pass1).
 *   split   distinct times gathered on rank 0 -> boundaries -> broadcast;
 *           per-symbol split counts from the spilled times; exclusive scans
 *           give every rank its first row in each split file.
 *   pass 2  rows kept from pass 1 (or recomputed beyond the memory
 *           budget) scaled and written with pwrite straight into the split
 *           files' preallocated chunks at the rank's offsets, symbols on
 *           threads (build_pass2.c); with --compress or --mpio collective
 *           under MPI, copied into bounded write buffers and written through
 *           HDF5 in rounds that every rank joins instead.
 * Recomputing features is cheaper than spilling them: features cost far less
 * than the bytes they produce would cost to write and read back.
 * Scalers and per-symbol facts go to scalers.h5 / symbols.h5, then meta.json
 * (with each file's CRC-32) is written and the directory published (rank 0).
 */
#include "core/feat/dataset_build.h"

#include "core/base/fsutil.h"
#include "core/base/log.h"
#include "core/feat/build_internal.h"
#include "core/feat/dataset_io.h"
#include "dist/mpi_env.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const char *const bf_stage_names[BF_STAGE_COUNT] = {"read",  "clean", "features", "split",
                                                     "scale", "write", "commit"};

void bf_build_opts_defaults(bf_build_opts *o)
{
    memset(o, 0, sizeof *o);
    o->cache_dir = "data/cache";
    o->datasets_root = "artifacts/datasets";
    o->spec.n_intervals = 3;
    o->spec.interval_s[0] = 900;
    o->spec.interval_s[1] = 3600;
    o->spec.interval_s[2] = 86400;
    o->spec.n_horizons = 3;
    o->spec.horizons[0] = 1;
    o->spec.horizons[1] = 4;
    o->spec.horizons[2] = 8;
    o->target_horizon = 4;
    o->seq_len = 64;
    o->max_horizon = 8;
    o->split.train_frac = 0.7;
    o->split.val_frac = 0.15;
    o->scaler = BF_SCALER_ROBUST_PER_SYMBOL;
    o->seed = 42;
    o->signal_strength = 0.1;
}

static int cmp_sym(const void *a, const void *b) { return strcmp(a, b); }

bf_status bf_build_validate(const bf_build_opts *o, bf_build_plan *p)
{
    memset(p, 0, sizeof *p);
    if (o->n_symbols < 1 || !o->symbols)
        return BF_FAIL(BF_EINVAL, "no symbols given: pass --symbols, --symbols-file or --universe");
    if (o->n_providers < 1 || o->n_providers > BF_BUILD_MAX_PROVIDERS)
        return BF_FAIL(BF_EINVAL, "%d providers given: pass 1 to %d names in --providers",
                       o->n_providers, BF_BUILD_MAX_PROVIDERS);
    if (!o->cache_dir || !o->datasets_root)
        return BF_FAIL(BF_EINVAL, "--cache-dir and --datasets-root must be set");
    BF_TRY(bf_feat_spec_validate(&o->spec));
    p->target_index = -1;
    int hmax = 0;
    for (int i = 0; i < o->spec.n_horizons; i++) {
        if (o->spec.horizons[i] == o->target_horizon)
            p->target_index = i;
        hmax = o->spec.horizons[i] > hmax ? o->spec.horizons[i] : hmax;
    }
    if (p->target_index < 0)
        return BF_FAIL(BF_EINVAL, "--target-horizon %d is not one of --horizons", o->target_horizon);
    if (o->seq_len < 1)
        return BF_FAIL(BF_EINVAL, "--seq-len %d: use a positive number of bars", o->seq_len);
    int mh = o->max_horizon > 0 ? o->max_horizon : hmax;
    if (mh < hmax)
        return BF_FAIL(BF_EINVAL, "--max-horizon %d is smaller than the largest horizon %d: labels "
                       "would leak across the purge", mh, hmax);
    p->max_horizon = mh;
    int need = o->seq_len - 1 + mh;
    p->purge = o->purge_bars > 0 ? o->purge_bars : need;
    if (p->purge < need)
        return BF_FAIL(BF_EINVAL, "--purge %d is below seq_len - 1 + max_horizon = %d", p->purge,
                       need);
    if (o->compress < 0 || o->compress > 9)
        return BF_FAIL(BF_EINVAL, "--compress %d: use 0 (none) to 9", o->compress);
    if (o->compress > 0 && bf_mpi_size() > 1)
        return BF_FAIL(BF_EINVAL, "--compress %d needs a single rank: HDF5 1.10 cannot compress "
                       "parallel writes (run with one rank or --compress 0)", o->compress);
    if (o->start && o->end && o->end <= o->start)
        return BF_FAIL(BF_EINVAL, "--end must be after --start");
    p->F = bf_feat_count(&o->spec);
    p->H = o->spec.n_horizons;
    /* the universe, sorted: sym_id = position */
    p->syms = calloc((size_t)o->n_symbols, sizeof *p->syms);
    BF_CHECK_ALLOC(p->syms, (size_t)o->n_symbols * sizeof *p->syms);
    for (int i = 0; i < o->n_symbols; i++) {
        bf_status st = bf_symbol_validate(o->symbols[i]);
        if (st != BF_OK) {
            bf_build_plan_free(p);
            return st;
        }
        snprintf(p->syms[i], BF_SYMBOL_MAX, "%s", o->symbols[i]);
    }
    qsort(p->syms, (size_t)o->n_symbols, sizeof *p->syms, cmp_sym);
    int64_t S = 0;
    for (int i = 0; i < o->n_symbols; i++)
        if (S == 0 || strcmp(p->syms[S - 1], p->syms[i]) != 0)
            memmove(p->syms[S++], p->syms[i], BF_SYMBOL_MAX);
    p->S = S;
    bf_shard_range(S, bf_mpi_rank(), bf_mpi_size(), &p->lo, &p->hi);
    p->nloc = p->cap = p->hi - p->lo;
    return BF_OK;
}

void bf_build_plan_free(bf_build_plan *p)
{
    free(p->syms);
    free(p->own);
    p->syms = NULL;
    p->own = NULL;
}

/* Missing caches: every rank lists its symbols; rank 0 composes one error. */
static bf_status report_missing(const char *text, int64_t len, int64_t nmiss)
{
    int64_t total = nmiss;
    BF_TRY(bf_allreduce_sum_i64(&total, 1));
    if (total == 0)
        return BF_OK;
    char *all = NULL;
    int64_t n = 0;
    bf_status st = bf_ds_gather_bytes(text, len, 0, &all, &n);
    if (st == BF_OK && bf_mpi_rank() == 0) {
        /* entries are NUL-separated: show the first few, one per line */
        int shown = 0;
        int64_t i = 0, cut = n;
        for (; i < n && shown < 10; i++)
            if (all[i] == 0) {
                shown++;
                cut = i;
                all[i] = '\n';
            }
        if (n > 0)
            all[cut < n ? cut : n - 1] = 0;
        char more[64] = "";
        if (total > shown)
            snprintf(more, sizeof more, "\n... and %lld more", (long long)(total - shown));
        st = BF_FAIL(BF_EINVAL, "bars missing from the cache for %lld symbol(s):\n%s%s\nFetch "
                     "them first (barforge fetch --symbols ... --start ... --end ...) or adjust "
                     "--providers/--start/--end", (long long)total, n > 0 ? all : "", more);
    }
    free(all);
    return bf_ds_agree(st);
}

/* ---- pass 1 -------------------------------------------------------------------- */

struct bf_kept_chunk {
    struct bf_kept_chunk *next;
    size_t cap, used; /* bytes of the mapping, bytes handed out (header included) */
};

#define KEPT_CHUNK ((size_t)64 << 20)

void *bf_kept_alloc(bf_master_state *m, size_t bytes)
{
    bytes = (bytes + 63) & ~(size_t)63;
    struct bf_kept_chunk *c = m->kept_arena;
    if (!c || c->cap - c->used < bytes) {
        size_t cap = bytes + 64 > KEPT_CHUNK ? ((bytes + 64 + ((size_t)2 << 20) - 1) &
                                                ~(((size_t)2 << 20) - 1))
                                             : KEPT_CHUNK;
        void *map = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map == MAP_FAILED)
            return NULL;
#ifdef MADV_HUGEPAGE
        madvise(map, cap, MADV_HUGEPAGE); /* advice only: fine if refused */
#endif
        c = map;
        c->next = m->kept_arena;
        c->cap = cap;
        c->used = 64;
        m->kept_arena = c;
    }
    void *p = (char *)c + c->used;
    c->used += bytes;
    return p;
}

void bf_kept_release(bf_master_state *m)
{
    while (m->kept_arena) {
        struct bf_kept_chunk *c = m->kept_arena;
        m->kept_arena = c->next;
        munmap(c, c->cap);
    }
}

bf_status bf_times_union(int64_t **a, int64_t *na, int64_t *cap, int64_t **scratch,
                         int64_t *scap, const int64_t *b, int64_t nb)
{
    if (nb == 0)
        return BF_OK;
    int64_t need = *na + nb;
    if (*scap < need) {
        int64_t c = need * 2;
        int64_t *s = realloc(*scratch, (size_t)c * sizeof *s);
        BF_CHECK_ALLOC(s, (size_t)c * sizeof *s);
        *scratch = s;
        *scap = c;
    }
    int64_t i = 0, j = 0, k = 0, *o = *scratch;
    const int64_t *x = *a;
    while (i < *na || j < nb) {
        int64_t v;
        if (j >= nb || (i < *na && x[i] < b[j]))
            v = x[i++];
        else if (i >= *na || b[j] < x[i])
            v = b[j++];
        else {
            v = x[i++];
            j++;
        }
        o[k++] = v;
    }
    int64_t *t = *a;
    int64_t tc = *cap;
    *a = *scratch;
    *cap = *scap;
    *scratch = t;
    *scap = tc;
    *na = k;
    return BF_OK;
}

/* Pass 1 on W workers (the calling thread and W - 1 threads; W = the
 * build's threads). Each worker claims the next symbol, reads it from the
 * cache under the HDF5 lock (HDF5 is not thread-safe: one call at a time,
 * from any thread), computes its features, records it under the state lock,
 * copies its rows into the kept arena and fits its scaler speculatively, so
 * reading, computing and fitting overlap across symbols.
 *
 * Symbols complete in any order; nothing that is written depends on it:
 *   - per-symbol records are indexed by symbol; the distinct-times set is a
 *     union; the global scaler's bottom-K sample is ordered by (hash, sym,
 *     row); drop counts are sums;
 *   - row times of symbols not kept in memory go to the spill at an offset
 *     recorded per symbol;
 *   - failures and missing symbols are reported for the lowest symbol index.
 * Which symbols stay in memory under a tight budget may vary between runs;
 * the others are recomputed in pass 2 into the same rows.
 *
 * Speculative scaler fit (per-symbol robust scaler): the split boundaries
 * need every symbol's row times, but in practice the times seen so far
 * already give the final boundaries (symbols share a calendar). Each worker
 * fits its symbol on the leading train rows under the boundaries from the
 * times recorded so far, while the rows are still in cache, and records how
 * many rows that was. Pass 2 reuses the fit only when the final count of
 * leading train rows is the same; a fit is a function of exactly those rows,
 * so the result never depends on whether the guess held. */
typedef struct p1_shared {
    const bf_build_opts *o;
    bf_build_plan *p;
    bf_master_state *m;
    pthread_mutex_t h5mu;      /* HDF5: reads and the claim of the next symbol */
    pthread_mutex_t mu;        /* everything below and the state in m */
    int64_t next, ndone;
    int stop;
    FILE *spill;
    int64_t spill_rows, tcap, scap, *scratch;
    int64_t spec_ntimes;       /* distinct times the boundary guess was made from */
    int64_t spec_val, spec_test;
    int spec_ok;
    int64_t bad_index;         /* lowest failing symbol (INT64_MAX: none) */
    bf_status st;
    char msg[1800];
    char **miss;               /* per symbol: what is missing (NULL: nothing) */
    int64_t nmiss;
    double stage[BF_STAGE_COUNT];
    bf_progress prog;
    bf_stream *stream;         /* one-pass build (NULL: rows kept for pass 2) */
} p1_shared;

typedef struct p1_worker {
    p1_shared *sh;
    int main;                  /* the calling thread (draws the progress line) */
    int id;
    bf_bars bars;
    bf_sym_rows w;
    uint8_t *use;              /* the speculative fit's row mask */
    int64_t use_cap;
    double stage[BF_STAGE_COUNT];
    char mtext[1200];
} p1_worker;

static void p1_fail(p1_shared *sh, int64_t i, bf_status st, const char *msg)
{
    pthread_mutex_lock(&sh->mu);
    if (i < sh->bad_index) {
        sh->bad_index = i;
        sh->st = st;
        snprintf(sh->msg, sizeof sh->msg, "%s", msg);
    }
    sh->stop = 1;
    pthread_mutex_unlock(&sh->mu);
    if (sh->stream)
        bf_stream_abort(sh->stream);
}

/* Record symbol s (under sh->mu): counts, times, the spill, the kept-row
 * memory (allocated here, filled by the caller), the global sample, and the
 * boundary guess for the speculative fit (*guess). The symbol's rows that
 * may be written are w->sel[0..n_sel) of w->rows, at times ts (w->sel_ts;
 * one-pass builds: the slot's, which holds the rows themselves). */
static bf_status record(p1_shared *sh, int64_t i, const bf_sym_rows *w, const int64_t *ts,
                        int *keep, int64_t *gval, int64_t *gtest, int *guess)
{
    const bf_build_opts *o = sh->o;
    const bf_build_plan *p = sh->p;
    bf_master_state *m = sh->m;
    const int64_t s = bf_plan_sym(p, i);
    bf_sym_rec *r = &m->rec[i];
    const int64_t n = w->n_sel;
    r->provider = w->provider;
    r->n_rows = n;
    r->spill_off = -1;
    r->spec_cnt0 = -1;
    r->first_bar_ts = w->first_bar_ts;
    r->last_bar_ts = w->last_bar_ts;
    if (n) {
        r->first_ts = ts[0];
        r->last_ts = ts[n - 1];
    }
    bf_build_count_drops(&m->drops, w);
    *keep = 0;
    int64_t budget = o->memory_budget_bytes ? o->memory_budget_bytes : ((int64_t)512 << 20);
    int64_t bytes = n * ((int64_t)(p->F + p->H) * 4 + 8);
    if (n > 0 && budget >= 0 && m->kept_bytes + bytes <= budget && !sh->stream) {
        r->X = bf_kept_alloc(m, (size_t)n * (size_t)p->F * sizeof(float));
        r->y = bf_kept_alloc(m, (size_t)n * (size_t)p->H * sizeof(float));
        r->ts = bf_kept_alloc(m, (size_t)n * sizeof(int64_t));
        if (r->X && r->y && r->ts) {
            m->kept_bytes += bytes;
            m->kept_symbols++;
            *keep = 1;
        } else { /* not an error: pass 2 recomputes */
            r->X = r->y = NULL;
            r->ts = NULL;
        }
    }
    /* the row times, for the counts after the split (pipelined builds need
     * none: they are built again in two passes unless the guess held) */
    if (!*keep && n && sh->spill) {
        if (fwrite(ts, sizeof(int64_t), (size_t)n, sh->spill) != (size_t)n)
            return BF_FAIL(BF_EIO, "cannot write '%s' (disk full?)", m->spill_path);
        r->spill_off = sh->spill_rows;
        sh->spill_rows += n;
    }
    BF_TRY(bf_times_union(&m->times, &m->ntimes, &sh->tcap, &sh->scratch, &sh->scap, ts, n));
    if (o->scaler == BF_SCALER_ROBUST_GLOBAL)
        bf_sampler_offer_symbol(&m->smp, (int32_t)s, w->rows.X, w->sel, ts, n);
    *guess = 0;
    if (m->spec_median && n >= 2 && m->ntimes > 0 && !sh->stream) {
        if (m->ntimes != sh->spec_ntimes) {
            bf_split_spec sp = o->split;
            sp.purge_bars = p->purge;
            sh->spec_ok = bf_split_boundaries(&sp, m->times, m->ntimes, &sh->spec_val,
                                              &sh->spec_test) == BF_OK;
            sh->spec_ntimes = m->ntimes;
        }
        *guess = sh->spec_ok;
        *gval = sh->spec_val;
        *gtest = sh->spec_test;
    }
    return BF_OK;
}

/* The one-pass build's guess (bf_stream_guess_fn): the boundaries from the
 * times recorded so far, fixed for every symbol's rows */
static void fix_guess(void *ctx)
{
    p1_shared *sh = ctx;
    bf_master_state *m = sh->m;
    pthread_mutex_lock(&sh->mu);
    bf_split_spec sp = sh->o->split;
    sp.purge_bars = sh->p->purge;
    if (m->ntimes > 0 && bf_split_boundaries(&sp, m->times, m->ntimes, &m->stream_val,
                                              &m->stream_test) == BF_OK)
        __atomic_store_n(&m->stream_guess, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&sh->mu);
}

/* the number of leading train rows among n rows at times ts under the
 * boundaries (val, test) */
static int64_t leading_train(const int64_t *ts, int64_t n, int64_t val, int64_t test, int purge)
{
    int64_t at[3], cnt[3];
    bf_split_runs(ts, n, val, test, purge, at, cnt);
    return cnt[0];
}

/* The speculative fit of the symbol's first k written-candidate rows (rows
 * sel[0..k) of X, through a mask): 1 when made, with the scaler in *sc. */
static int spec_fit(p1_worker *wk, const bf_sym_rows *w, int64_t k, int F, bf_scaler *sc)
{
    const int64_t n = w->rows.n;
    if (wk->use_cap < n) {
        uint8_t *u = realloc(wk->use, (size_t)n);
        if (!u)
            return 0;
        wk->use = u;
        wk->use_cap = n;
    }
    memset(wk->use, 0, (size_t)n);
    for (int64_t j = 0; j < k; j++)
        wk->use[w->sel[j]] = 1;
    memset(sc, 0, sizeof *sc);
    return bf_scaler_fit_masked(sc, w->rows.X, n, F, wk->use) == BF_OK;
}

/* Pipelined builds: the main thread (the only one that calls MPI) moves the
 * stream on between the steps of its symbols, so that the other ranks wait
 * on it for less than a symbol. No lock is held here. */
static void pump_main(p1_worker *wk)
{
    if (wk->main && wk->sh->stream && wk->sh->p->pipelined)
        bf_stream_pump(wk->sh->stream);
}

/* One-pass build: symbol i's rows, computed into slot sl, handed to the
 * stream to split, fit, scale and write in order (none: the slot goes back). */
static bf_status stream_symbol(p1_worker *wk, int64_t i, bf_stream_slot *sl)
{
    p1_shared *sh = wk->sh;
    const int64_t n = wk->w.n_sel;
    if (n == 0) {
        bf_stream_release(sh->stream, sl);
        return bf_stream_submit(sh->stream, i, NULL);
    }
    sl->n = n;
    return bf_stream_submit(sh->stream, i, sl);
}

/* symbol i's features and labels: into slot sl (one pass; sized for every
 * bar first), or into the worker's rows */
static bf_status compute_symbol(p1_worker *wk, bf_status rs, int provider, bf_stream_slot *sl)
{
    const bf_build_opts *o = wk->sh->o;
    const bf_build_plan *p = wk->sh->p;
    if (rs != BF_OK)
        return rs;
    if (!sl)
        return bf_ds_compute_symbol_sel(o, &wk->bars, provider, &wk->w, wk->stage);
    BF_TRY(bf_stream_slot_reserve(sl, wk->bars.n, p->F, p->H));
    return bf_ds_compute_symbol_into(o, &wk->bars, provider, &wk->w, sl->X, sl->y, sl->ts,
                                     wk->stage);
}

/* Symbol i: compute, record, fit speculatively, then keep its rows (scaled
 * when the fit was made) for pass 2 or hand them to the stream (sl). */
static bf_status p1_symbol(p1_worker *wk, int64_t i, bf_status rs, int provider,
                           bf_stream_slot *sl)
{
    p1_shared *sh = wk->sh;
    const bf_build_plan *p = sh->p;
    bf_master_state *m = sh->m;
    if (rs == BF_ENOTFOUND && wk->mtext[0]) {
        char *t = strdup(wk->mtext);
        if (!t && sl)
            bf_stream_release(sh->stream, sl);
        BF_CHECK_ALLOC(t, strlen(wk->mtext) + 1);
        pthread_mutex_lock(&sh->mu);
        sh->miss[i] = t;
        sh->nmiss++;
        pthread_mutex_unlock(&sh->mu);
        if (sl) { /* nothing to write; the build fails after pass 1 */
            bf_stream_release(sh->stream, sl);
            return bf_stream_submit(sh->stream, i, NULL);
        }
        return BF_OK;
    }
    bf_sym_rows *w = &wk->w;
    bf_status st = compute_symbol(wk, rs, provider, sl);
    pump_main(wk);
    int keep = 0, guess = 0;
    int64_t gval = 0, gtest = 0;
    if (st == BF_OK) {
        pthread_mutex_lock(&sh->mu);
        st = record(sh, i, w, sl ? sl->ts : w->sel_ts, &keep, &gval, &gtest, &guess);
        pthread_mutex_unlock(&sh->mu);
    }
    if (st != BF_OK) {
        if (sl)
            bf_stream_release(sh->stream, sl);
        return st;
    }
    bf_sym_rec *r = &m->rec[i];
    const int F = p->F, H = p->H;
    const int64_t n = w->n_sel;
    int scaled = 0;
    bf_scaler sc;
    memset(&sc, 0, sizeof sc);
    if (guess) {
        double t0 = bf_now();
        int64_t k = leading_train(w->sel_ts, n, gval, gtest, p->purge);
        if (k >= 2 && spec_fit(wk, w, k, F, &sc)) { /* fewer: dropped (bf_build_set_counts) */
            memcpy(m->spec_median + i * F, sc.median, (size_t)F * sizeof(double));
            memcpy(m->spec_iqr + i * F, sc.iqr, (size_t)F * sizeof(double));
            r->spec_nz = sc.n_zero_iqr;
            r->spec_cnt0 = k;
            if (keep) { /* the kept rows, compacted and scaled in one pass */
                r->scaled_nan = bf_scaler_apply_rows(&sc, w->rows.X, w->sel, n, r->X);
                r->scaled = scaled = 1;
            }
        }
        wk->stage[BF_STAGE_SCALE] += bf_now() - t0;
    }
    if (sl)
        st = stream_symbol(wk, i, sl);
    bf_scaler_free(&sc);
    if (keep) {
        const bf_feat_rows *rows = &w->rows;
        for (int64_t j = 0; j < n; j++) {
            const int64_t src = w->sel[j];
            if (!scaled)
                memcpy(r->X + j * F, rows->X + src * F, (size_t)F * sizeof(float));
            memcpy(r->y + j * H, rows->y + src * H, (size_t)H * sizeof(float));
        }
        memcpy(r->ts, w->sel_ts, (size_t)n * sizeof(int64_t));
    }
    return st;
}

static void *p1_run(void *arg)
{
    p1_worker *wk = arg;
    p1_shared *sh = wk->sh;
    const bf_build_plan *p = sh->p;
    int64_t nloc = p->nloc;
    for (;;) {
        /* a one-pass build takes a slot for the rows first: at most a few
         * symbols per worker wait to be written in order */
        bf_stream_slot *sl = sh->stream ? bf_stream_slot_get(sh->stream, wk->id) : NULL;
        if (sh->stream && !sl)
            break; /* the build failed */
        /* pipelined: claimed from the universe as the worker goes */
        int64_t i = p->pipelined && !sh->stop ? bf_stream_claim(sh->stream, wk->main) : 0;
        pthread_mutex_lock(&sh->h5mu);
        if (!p->pipelined) {
            i = sh->next;
            sh->next = i < nloc ? i + 1 : i;
        }
        if (sh->stop || i < 0 || i >= p->cap || (!p->pipelined && i >= nloc)) {
            pthread_mutex_unlock(&sh->h5mu);
            if (sl)
                bf_stream_release(sh->stream, sl);
            break;
        }
        int provider = -1;
        bf_status rs = bf_ds_read_symbol(sh->o, p->syms[bf_plan_sym(p, i)], sh->o->start,
                                         sh->o->end, &wk->bars, &provider, wk->mtext,
                                         sizeof wk->mtext, wk->stage);
        pthread_mutex_unlock(&sh->h5mu);
        pump_main(wk);
        bf_status st = p1_symbol(wk, i, rs, provider, sl);
        if (st != BF_OK) {
            p1_fail(sh, i, st, bf_last_error());
            break;
        }
        pthread_mutex_lock(&sh->mu);
        int64_t d = ++sh->ndone;
        pthread_mutex_unlock(&sh->mu);
        if (wk->main) /* the progress line is drawn by one thread */
            bf_progress_update(&sh->prog, d);
        pump_main(wk);
    }
    return NULL;
}

static bf_status pass1(const bf_build_opts *o, bf_build_plan *p, bf_master_state *m)
{
    int64_t nloc = p->cap; /* pipelined: at most; the claims set p->nloc */
    size_t n1 = (size_t)(nloc ? nloc : 1);
    m->rec = calloc(n1, sizeof *m->rec);
    BF_CHECK_ALLOC(m->rec, n1 * sizeof *m->rec);
    m->n_rec = nloc;
    if (o->scaler == BF_SCALER_ROBUST_PER_SYMBOL && !o->no_speculative_fit) {
        m->spec_median = malloc(n1 * (size_t)p->F * sizeof *m->spec_median);
        m->spec_iqr = malloc(n1 * (size_t)p->F * sizeof *m->spec_iqr);
        BF_CHECK_ALLOC(m->spec_median && m->spec_iqr ? m->spec_iqr : NULL,
                       2 * n1 * (size_t)p->F * sizeof(double));
    }
    snprintf(m->spill_path, sizeof m->spill_path, "%s/.rank%d.ts", m->tmpdir, bf_mpi_rank());
    p1_shared *sh = calloc(1, sizeof *sh);
    BF_CHECK_ALLOC(sh, sizeof *sh);
    int nw = bf_build_threads(o);
    nw = nw > nloc ? (int)(nloc > 0 ? nloc : 1) : nw;
    p1_worker *wk = calloc((size_t)nw, sizeof *wk);
    sh->miss = calloc(n1, sizeof *sh->miss);
    sh->spill = p->pipelined ? NULL : fopen(m->spill_path, "w+b");
    if (!wk || !sh->miss || (!sh->spill && !p->pipelined)) {
        bf_status e = sh->spill || p->pipelined
                          ? BF_FAIL(BF_ENOMEM, "out of memory for pass 1")
                          : bf_fail_errno(__FILE__, __LINE__, "fopen", "cannot create '%s'",
                                          m->spill_path);
        if (sh->spill)
            fclose(sh->spill);
        free(sh->miss);
        free(sh);
        free(wk);
        return e;
    }
    sh->o = o;
    sh->p = p;
    sh->m = m;
    sh->bad_index = INT64_MAX;
    sh->st = BF_OK;
    sh->spec_ntimes = -1;
    pthread_mutex_init(&sh->h5mu, NULL);
    pthread_mutex_init(&sh->mu, NULL);
    for (int k = 0; k < nw; k++) {
        wk[k].sh = sh;
        wk[k].main = k == 0;
        wk[k].id = k;
        bf_bars_init(&wk[k].bars, "", o->spec.interval_s[0]);
    }
    /* one pass when one rank builds with per-symbol scalers into direct
     * files, or several ranks pipeline it (symbols claimed as they go) */
    bf_status ost = BF_OK;
    if ((bf_mpi_size() == 1 || p->pipelined) && m->spec_median && o->compress == 0 &&
        bf_splitfile_direct_ok() && !o->no_stream)
        ost = bf_stream_open(o, p, m, &sh->h5mu, nw, fix_guess, sh, &sh->stream);
    if (ost != BF_OK) {
        sh->st = ost;
        snprintf(sh->msg, sizeof sh->msg, "%s", bf_last_error());
        sh->stop = 1;
    }
    bf_progress_start(&sh->prog, "features (pass 1)", nloc);
    pthread_t *th = calloc((size_t)nw, sizeof *th);
    int started = 1;
    for (int k = 1; th && k < nw; k++, started++)
        if (pthread_create(&th[k], NULL, p1_run, &wk[k]) != 0)
            break; /* fewer workers: still correct */
    p1_run(&wk[0]);
    if (sh->stream && p->pipelined)
        bf_stream_pump_to_end(sh->stream); /* before the join: workers may wait on it */
    for (int k = 1; k < started; k++)
        pthread_join(th[k], NULL);
    free(th);
    bf_progress_end(&sh->prog);
    bf_status st = sh->st != BF_OK ? BF_FAIL(sh->st, "%s", sh->msg) : BF_OK;
    if (sh->stream) {
        bf_status cs = bf_stream_close(sh->stream);
        st = st != BF_OK ? st : cs;
    }
    nloc = p->nloc; /* pipelined: the symbols this rank claimed */
    m->n_rec = nloc;
    for (int k = 0; k < nw; k++) {
        for (int j = 0; j < BF_STAGE_COUNT; j++)
            m->stage[j] += wk[k].stage[j];
        bf_bars_free(&wk[k].bars);
        bf_sym_rows_free(&wk[k].w);
        free(wk[k].use);
    }
    free(wk);
    free(sh->scratch);
    if (sh->spill && fflush(sh->spill) != 0 && st == BF_OK)
        st = BF_FAIL(BF_EIO, "cannot write '%s' (disk full?)", m->spill_path);
    m->spill = sh->spill; /* read back by count_rows, then closed */
    pthread_mutex_destroy(&sh->h5mu);
    pthread_mutex_destroy(&sh->mu);
    st = bf_ds_agree(st);
    /* missing symbols in symbol order, NUL-separated (the first 64 KiB) */
    char *text = NULL;
    int64_t len = 0, cap = 0;
    for (int64_t i = 0; i < nloc && st == BF_OK; i++) {
        if (!sh->miss[i] || len > (1 << 16))
            continue;
        int64_t l = (int64_t)strlen(sh->miss[i]) + 1;
        if (len + l > cap) {
            cap = (len + l) * 2;
            char *nt = realloc(text, (size_t)cap);
            if (!nt) {
                st = BF_FAIL(BF_ENOMEM, "out of memory listing missing symbols");
                break;
            }
            text = nt;
        }
        memcpy(text + len, sh->miss[i], (size_t)l);
        len += l;
    }
    if (st == BF_OK)
        st = report_missing(text, len, sh->nmiss);
    free(text);
    for (int64_t i = 0; i < nloc; i++)
        free(sh->miss[i]);
    free(sh->miss);
    free(sh);
    return st;
}
/* ---- boundaries and counts -------------------------------------------------- */

static bf_status boundaries(const bf_build_opts *o, bf_build_plan *p, bf_master_state *m)
{
    int64_t *all = NULL, n = 0, b[3] = {0, 0, 0}, *len = NULL, nr = 0;
    /* each rank's distinct times are sorted already: rank 0 takes their
     * union rank by rank */
    bf_status st = bf_ds_gather_i64(m->times, m->ntimes, 0, &all, &n);
    if (st == BF_OK)
        st = bf_ds_gather_i64(&m->ntimes, 1, 0, &len, &nr);
    int64_t *u = NULL, nu = 0, ucap = 0, *scratch = NULL, scap = 0;
    for (int64_t r = 0, at = 0; st == BF_OK && r < nr; at += len[r++])
        st = bf_times_union(&u, &nu, &ucap, &scratch, &scap, all + at, len[r]);
    if (st == BF_OK && bf_mpi_rank() == 0) {
        bf_split_spec sp = o->split;
        sp.purge_bars = p->purge;
        st = bf_split_boundaries(&sp, u, nu, &b[0], &b[1]);
        b[2] = nu;
    }
    free(all);
    free(len);
    free(u);
    free(scratch);
    st = bf_ds_agree(st);
    if (st == BF_OK)
        st = bf_ds_bcast_i64(b, 3, 0);
    m->val_start = b[0];
    m->test_start = b[1];
    m->n_times = b[2];
    return st;
}

static bf_status count_rows(const bf_build_opts *o, bf_build_plan *p, bf_master_state *m)
{
    FILE *f = m->spill;
    int64_t cap = 0, *buf = NULL;
    bf_status st = BF_OK;
    for (int64_t i = 0; i < p->nloc && st == BF_OK; i++) {
        bf_sym_rec *r = &m->rec[i];
        /* one-pass builds whose guess held: split already, under these
         * boundaries, in pass 1 */
        if (r->stream_split && m->stream_guess && m->stream_val == m->val_start &&
            m->stream_test == m->test_start) {
            bf_build_set_counts(o, r, r->stream_raw, &m->drops);
            continue;
        }
        /* kept symbols have their times in memory; the others were spilled */
        const int64_t *ts = r->ts;
        if (!ts && r->n_rows) {
            if (r->n_rows > cap) {
                cap = r->n_rows * 2;
                int64_t *t2 = realloc(buf, (size_t)cap * sizeof *buf);
                if (!t2) {
                    st = BF_FAIL(BF_ENOMEM, "out of memory for %lld row times", (long long)cap);
                    break;
                }
                buf = t2;
            }
            if (!f || r->spill_off < 0 ||
                fseeko(f, (off_t)(r->spill_off * (int64_t)sizeof *buf), SEEK_SET) != 0 ||
                fread(buf, sizeof *buf, (size_t)r->n_rows, f) != (size_t)r->n_rows) {
                st = BF_FAIL(BF_EIO, "short read from '%s'", m->spill_path);
                break;
            }
            ts = buf;
        }
        int64_t at[3], cnt[3];
        bf_split_runs(ts, r->n_rows, m->val_start, m->test_start, p->purge, at, cnt);
        bf_build_set_counts(o, r, cnt, &m->drops);
    }
    if (f)
        fclose(f);
    m->spill = NULL;
    free(buf);
    unlink(m->spill_path);
    st = bf_ds_agree(st);
    if (st != BF_OK)
        return st;
    for (int k = 0; k < 3; k++)
        m->rank_rows[k] = 0;
    for (int64_t i = 0; i < p->nloc; i++)
        for (int k = 0; k < 3; k++)
            m->rank_rows[k] += m->rec[i].cnt[k];
    for (int k = 0; k < 3; k++) {
        BF_TRY(bf_exscan_i64(m->rank_rows[k], &m->offset[k]));
        m->total[k] = m->rank_rows[k];
    }
    BF_TRY(bf_allreduce_sum_i64(m->total, 3));
    int val_optional = !o->split.val_start && !o->split.test_start && o->split.val_frac == 0;
    if (m->total[0] == 0 || m->total[2] == 0 || (m->total[1] == 0 && !val_optional))
        return BF_FAIL(BF_EINVAL, "too few rows for the requested split: train %lld, val %lld, "
                       "test %lld rows after purging %d rows per symbol at each boundary (%lld "
                       "distinct row times). Use a longer --start/--end range, more symbols, a "
                       "smaller --seq-len/--max-horizon, or other split fractions/dates",
                       (long long)m->total[0], (long long)m->total[1], (long long)m->total[2],
                       p->purge, (long long)m->n_times);
    return BF_OK;
}

/* Pipelined one-pass build under MPI: the ranks claim the symbols as they
 * go (build_stream.c); up to all of them may land on one rank. */
static bf_status plan_pipelined(bf_build_plan *p)
{
    p->pipelined = 1;
    p->lo = p->hi = 0; /* no contiguous range */
    p->nloc = 0;
    p->cap = p->S;
    p->own = malloc((size_t)(p->S ? p->S : 1) * sizeof *p->own);
    BF_CHECK_ALLOC(p->own, (size_t)(p->S ? p->S : 1) * sizeof *p->own);
    return BF_OK;
}

/* One attempt at the build. pipelined: several ranks write in pass 1
 * (symbols dealt out in turn); *redo is then set (on every rank) when that
 * did not go through, and the caller builds again in two passes. */
static bf_status build_once(const bf_build_opts *o, int pipelined, bf_build_result *res,
                            int *redo)
{
    memset(res, 0, sizeof *res);
    *redo = 0;
    double t0 = bf_now();
    bf_build_plan p;
    bf_status st = bf_ds_agree(bf_build_validate(o, &p));
    if (st != BF_OK)
        return st;
    bf_master_state m;
    memset(&m, 0, sizeof m);
    if (pipelined)
        st = plan_pipelined(&p);
    if (st == BF_OK)
        st = bf_build_make_tmpdir(o, &m);
    if (st == BF_OK && o->scaler == BF_SCALER_ROBUST_GLOBAL)
        st = bf_sampler_init(&m.smp, o->global_sample_rows ? o->global_sample_rows : 500000, p.F);
    st = bf_ds_agree(st);
    if (st == BF_OK)
        st = pass1(o, &p, &m);
    BF_DEBUG("build timeline: pass 1 done at %.1f ms (%lld symbols here; thread-ms: read %.1f "
             "clean %.1f features %.1f scale %.1f write %.1f)",
             1e3 * (bf_now() - t0), (long long)p.nloc, 1e3 * m.stage[BF_STAGE_READ],
             1e3 * m.stage[BF_STAGE_CLEAN], 1e3 * m.stage[BF_STAGE_FEATURES],
             1e3 * m.stage[BF_STAGE_SCALE], 1e3 * m.stage[BF_STAGE_WRITE]);
    if (pipelined) {
        /* anything but a complete stream: built again in two passes, which
         * reports any error the way a two-pass build does */
        int64_t stop = st != BF_OK || m.stream_stopped || !m.streaming;
        if (bf_allreduce_max_i64(&stop, 1) != BF_OK || stop)
            *redo = 1;
        st = *redo ? BF_ERR : BF_OK;
    }
    /* one pass: the split files' rows go to disk from now on, while the
     * build counts, checks and closes them; the commit's fsyncs (the
     * durability point) then find little left to do, and report any
     * failure (this one's status is not looked at). */
    bf_fsync_job es = {.st = BF_OK};
    if (st == BF_OK && m.streaming)
        bf_build_fsync_start(&es, &m, 3);
    double ts0 = bf_now();
    if (st == BF_OK)
        st = boundaries(o, &p, &m);
    if (st == BF_OK && pipelined &&
        !(m.stream_guess && m.val_start == m.stream_val && m.test_start == m.stream_test)) {
        /* the same on every rank (the boundaries are broadcast): rows went
         * out under other boundaries, and no row times were spilled */
        BF_INFO("split boundaries differ from the first symbols': building again in two passes");
        bf_stream_discard(&m);
        *redo = 1;
        st = BF_ERR;
    }
    if (st == BF_OK)
        st = bf_ds_agree(count_rows(o, &p, &m));
    m.stage[BF_STAGE_SPLIT] += bf_now() - ts0;
    BF_DEBUG("build timeline: split and counted at %.1f ms", 1e3 * (bf_now() - t0));
    int streamed = 0;
    if (st == BF_OK && m.streaming) {
        /* the rows went out under the guessed boundaries: they stand when
         * the real ones are the same and every symbol's counts agree (on
         * every rank) */
        int64_t held = p.nloc == 0 || (m.stream_guess && m.val_start == m.stream_val &&
                                       m.test_start == m.stream_test);
        for (int64_t i = 0; held && i < m.n_rec; i++)
            held = memcmp(m.rec[i].cnt, m.rec[i].stream_cnt, sizeof m.rec[i].cnt) == 0;
        if (pipelined)
            st = bf_allreduce_min_i64(&held, 1);
        double tf = bf_now();
        if (st == BF_OK && held) {
            st = bf_ds_agree(bf_stream_finish(&p, &m));
            streamed = st == BF_OK;
        } else if (st == BF_OK) {
            BF_INFO("split boundaries differ from the first symbol's: recomputing the rows "
                    "(two passes)");
            bf_stream_discard(&m);
            m.refits = 0; /* counted again in pass 2 */
            if (pipelined) {
                *redo = 1;
                st = BF_ERR;
            }
        }
        m.stage[BF_STAGE_WRITE] += bf_now() - tf;
    }
    if (st == BF_OK && o->scaler == BF_SCALER_ROBUST_GLOBAL) {
        double t1 = bf_now();
        st = bf_ds_agree(bf_global_scaler_fit(&p, &m));
        m.stage[BF_STAGE_SCALE] += bf_now() - t1;
    }
    if (st == BF_OK && !streamed)
        st = bf_build_pass2(o, &p, &m);
    BF_DEBUG("build timeline: split files done at %.1f ms", 1e3 * (bf_now() - t0));
    if (st == BF_OK)
        st = bf_build_write_side_files(o, &p, &m);
    bf_build_fsync_join(&es);
    BF_DEBUG("build timeline: side files done at %.1f ms", 1e3 * (bf_now() - t0));
    if (st == BF_OK)
        st = bf_build_publish(o, &p, &m, res);
    BF_DEBUG("build timeline: published at %.1f ms", 1e3 * (bf_now() - t0));
    if (st != BF_OK && m.tmpdir[0]) {
        bf_barrier();
        if (bf_mpi_rank() == 0)
            bf_ds_rmtree(m.tmpdir);
    }
    if (st == BF_OK)
        st = bf_build_finish_result(&p, &m, res, t0);
    res->one_pass = streamed;
    bf_master_state_free(&m);
    bf_build_plan_free(&p);
    return st;
}

bf_status bf_build_master(const bf_build_opts *o, bf_build_result *res)
{
    /* several ranks, per-symbol scalers, direct files: one pipelined pass */
    int pipelined = bf_mpi_size() > 1 && o->scaler == BF_SCALER_ROBUST_PER_SYMBOL &&
                    !o->no_speculative_fit && !o->no_stream && o->compress == 0 &&
                    !o->mpio_collective && bf_splitfile_direct_ok();
    double t0 = bf_now();
    int redo = 0;
    if (pipelined) {
        bf_status st = build_once(o, 1, res, &redo);
        if (!redo)
            return st;
        BF_INFO("the pipelined pass did not go through: building again in two passes");
    }
    bf_status st = build_once(o, 0, res, &redo);
    if (st == BF_OK)
        res->total_s = bf_now() - t0;
    return st;
}
