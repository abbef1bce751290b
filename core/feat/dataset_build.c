#define _GNU_SOURCE
/* dataset_build.c - the master build (see dataset_build.h).
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
    return BF_OK;
}

void bf_build_plan_free(bf_build_plan *p)
{
    free(p->syms);
    p->syms = NULL;
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

/* Keep a symbol's rows for pass 2 while the budget allows: small universes
 * are then built in one pass; large ones recompute what was not kept. */
static void keep_rows(const bf_build_opts *o, const bf_build_plan *p, bf_master_state *m,
                      bf_sym_rec *r, const bf_feat_rows *rows)
{
    int64_t budget = o->memory_budget_bytes ? o->memory_budget_bytes : ((int64_t)512 << 20);
    int64_t bytes = rows->n * ((int64_t)(p->F + p->H) * 4 + 8);
    if (rows->n == 0 || budget < 0 || m->kept_bytes + bytes > budget)
        return;
    r->X = bf_kept_alloc(m, (size_t)rows->n * (size_t)p->F * sizeof(float));
    r->y = bf_kept_alloc(m, (size_t)rows->n * (size_t)p->H * sizeof(float));
    r->ts = bf_kept_alloc(m, (size_t)rows->n * sizeof(int64_t));
    if (!r->X || !r->y || !r->ts) { /* not an error: pass 2 recomputes */
        r->X = r->y = NULL;
        r->ts = NULL;
        return;
    }
    memcpy(r->X, rows->X, (size_t)rows->n * (size_t)p->F * sizeof(float));
    memcpy(r->y, rows->y, (size_t)rows->n * (size_t)p->H * sizeof(float));
    memcpy(r->ts, rows->ts_end, (size_t)rows->n * sizeof(int64_t));
    m->kept_bytes += bytes;
    m->kept_symbols++;
}

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

/* merge sorted unique b into sorted unique *a */
static bf_status merge_times(int64_t **a, int64_t *na, int64_t *cap, int64_t **scratch,
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

/* Bookkeeping of one computed symbol, in sym_id order: counts, the spilled
 * row times, kept rows, the distinct-times set, the global scaler's sample. */
typedef struct pass1_acc {
    FILE *spill;
    int64_t off, tcap, scap, *scratch;
} pass1_acc;

static bf_status consume(const bf_build_opts *o, const bf_build_plan *p, bf_master_state *m,
                         int64_t s, const bf_sym_rows *w, pass1_acc *a)
{
    bf_sym_rec *r = &m->rec[s - p->lo];
    r->provider = w->provider;
    r->n_rows = w->rows.n;
    r->spill_off = a->off;
    r->first_bar_ts = w->first_bar_ts;
    r->last_bar_ts = w->last_bar_ts;
    if (w->rows.n) {
        r->first_ts = w->rows.ts_end[0];
        r->last_ts = w->rows.ts_end[w->rows.n - 1];
    }
    bf_build_count_drops(&m->drops, w);
    if (w->rows.n && fwrite(w->rows.ts_end, sizeof(int64_t), (size_t)w->rows.n, a->spill) !=
                         (size_t)w->rows.n)
        return BF_FAIL(BF_EIO, "cannot write '%s' (disk full?)", m->spill_path);
    a->off += w->rows.n;
    keep_rows(o, p, m, r, &w->rows);
    BF_TRY(merge_times(&m->times, &m->ntimes, &a->tcap, &a->scratch, &a->scap, w->rows.ts_end,
                       w->rows.n));
    if (o->scaler == BF_SCALER_ROBUST_GLOBAL)
        bf_sampler_offer_symbol(&m->smp, (int32_t)s, w->rows.X, w->rows.ts_end, w->rows.n);
    return BF_OK;
}

/* Pass 1 as a two-stage pipeline: this thread reads symbols from the cache
 * into a ring of PIPE_SLOTS bar buffers while a worker thread computes them
 * (clean, features, compaction, bookkeeping) in sym_id order. HDF5 is not
 * thread-safe, so every HDF5 call stays on this thread. The ring lets the
 * reader run ahead, so a thread that the OS pauses for a moment (busy nodes)
 * does not stall the other; waits are on condition variables, not spins.
 * The output does not depend on the thread count: symbols are computed and
 * recorded in order either way. Failures carry their message back from the
 * thread that recorded it (messages are per thread). */
#define PIPE_SLOTS 4

typedef struct pipe_slot {
    bf_bars bars;
    int provider;
    bf_status rs;
    char mtext[1200], rmsg[1024];
} pipe_slot;

typedef struct pass1_pipe {
    const bf_build_opts *o;
    bf_build_plan *p;
    bf_master_state *m;
    pass1_acc acc;
    bf_sym_rows w;
    pipe_slot slot[PIPE_SLOTS];
    int64_t nread, ndone;      /* symbols read / computed (index from p->lo) */
    int stop;                  /* the consumer failed: stop reading */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    double stage_c[BF_STAGE_COUNT];
    bf_status st;              /* the consumer's first failure */
    char msg[1800];
    char *miss;                /* NUL-separated missing-symbol texts */
    int64_t mlen, mcap, nmiss;
    bf_progress prog;
    /* the kept-rows arena as the consumer left it after its last symbol,
     * and how far the reader has pre-faulted it (see prefault_ahead) */
    char *arena, *pf_base;
    size_t arena_used, arena_cap, pf_upto;
    int pf_off;
} pass1_pipe;

/* Fresh anonymous pages cost a fault and a clear each on first write, and
 * the kept rows are the build's largest memory: the reader, which has time
 * to spare, faults the next PREFAULT_AHEAD bytes of the arena in before the
 * consumer copies rows there. MADV_POPULATE_WRITE maps pages as a write
 * would but changes no byte, so it is safe while the consumer writes
 * nearby; kernels without it (before 5.14) just skip this. */
#define PREFAULT_AHEAD ((size_t)8 << 20)

static void prefault_ahead(pass1_pipe *q)
{
#ifdef MADV_POPULATE_WRITE
    if (q->pf_off)
        return;
    pthread_mutex_lock(&q->mu);
    char *base = q->arena;
    size_t used = q->arena_used, cap = q->arena_cap;
    pthread_mutex_unlock(&q->mu);
    if (!base)
        return;
    if (base != q->pf_base || q->pf_upto < used) {
        q->pf_base = base;
        q->pf_upto = used;
    }
    size_t want = used + PREFAULT_AHEAD < cap ? used + PREFAULT_AHEAD : cap;
    if (want <= q->pf_upto + ((size_t)1 << 20)) /* in steps of at least 1 MiB */
        return;
    size_t a = q->pf_upto & ~(size_t)4095;
    if (madvise(base + a, want - a, MADV_POPULATE_WRITE) != 0)
        q->pf_off = 1;
    q->pf_upto = want;
#else
    (void)q;
#endif
}

static void publish_arena(pass1_pipe *q)
{
    struct bf_kept_chunk *c = q->m->kept_arena;
    q->arena = (char *)c;
    q->arena_used = c ? c->used : 0;
    q->arena_cap = c ? c->cap : 0;
}

/* Compute and record symbol lo + i from its slot (consumer side). */
static void pipe_consume_one(pass1_pipe *q, int64_t i)
{
    pipe_slot *sl = &q->slot[i % PIPE_SLOTS];
    int64_t s = q->p->lo + i;
    if (sl->rs == BF_ENOTFOUND && sl->mtext[0]) {
        size_t l = strlen(sl->mtext) + 1;
        if (q->mlen + (int64_t)l + 1 > q->mcap && q->mlen < (1 << 16)) {
            int64_t c = (q->mcap + (int64_t)l) * 2;
            char *nb = realloc(q->miss, (size_t)c);
            if (!nb) {
                q->st = BF_FAIL(BF_ENOMEM, "out of memory listing missing symbols");
                snprintf(q->msg, sizeof q->msg, "%s", bf_last_error());
                return;
            }
            q->miss = nb;
            q->mcap = c;
        }
        if (q->mlen + (int64_t)l <= q->mcap) {
            memcpy(q->miss + q->mlen, sl->mtext, l);
            q->mlen += (int64_t)l;
        }
        q->nmiss++;
        return;
    }
    if (sl->rs != BF_OK) {
        q->st = sl->rs;
        snprintf(q->msg, sizeof q->msg, "%s", sl->rmsg);
        return;
    }
    bf_status cs = bf_ds_compute_symbol(q->o, &sl->bars, sl->provider, &q->w, q->stage_c);
    if (cs == BF_OK)
        cs = consume(q->o, q->p, q->m, s, &q->w, &q->acc);
    if (cs != BF_OK) {
        q->st = cs;
        snprintf(q->msg, sizeof q->msg, "%s", bf_last_error());
    }
}

static void *pipe_consumer(void *arg)
{
    pass1_pipe *q = arg;
    int64_t nloc = q->p->hi - q->p->lo;
    for (int64_t i = 0; i < nloc; i++) {
        pthread_mutex_lock(&q->mu);
        while (q->nread <= i)
            pthread_cond_wait(&q->cv, &q->mu);
        pthread_mutex_unlock(&q->mu);
        pipe_consume_one(q, i);
        pthread_mutex_lock(&q->mu);
        q->ndone = i + 1;
        publish_arena(q);
        if (q->st != BF_OK)
            q->stop = 1;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        if (q->st != BF_OK)
            break;
    }
    return NULL;
}

static bf_status pass1(const bf_build_opts *o, bf_build_plan *p, bf_master_state *m)
{
    int64_t nloc = p->hi - p->lo;
    m->rec = calloc((size_t)(nloc ? nloc : 1), sizeof *m->rec);
    BF_CHECK_ALLOC(m->rec, (size_t)nloc * sizeof *m->rec);
    m->n_rec = nloc;
    snprintf(m->spill_path, sizeof m->spill_path, "%s/.rank%d.ts", m->tmpdir, bf_mpi_rank());
    pass1_pipe *q = calloc(1, sizeof *q);
    BF_CHECK_ALLOC(q, sizeof *q);
    q->o = o;
    q->p = p;
    q->m = m;
    q->st = BF_OK;
    q->acc.spill = fopen(m->spill_path, "wb");
    if (!q->acc.spill) {
        free(q);
        return bf_fail_errno(__FILE__, __LINE__, "fopen", "cannot create '%s'", m->spill_path);
    }
    for (int k = 0; k < PIPE_SLOTS; k++)
        bf_bars_init(&q->slot[k].bars, "", o->spec.interval_s[0]);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    double stage_r[BF_STAGE_COUNT] = {0};
    int threaded = bf_build_threads(o) > 1 && nloc > 1;
    if (threaded && o->memory_budget_bytes >= 0) {
        bf_kept_alloc(m, 0); /* the arena's first chunk, to pre-fault from the start */
        publish_arena(q);
    }
    pthread_t th;
    if (threaded && pthread_create(&th, NULL, pipe_consumer, q) != 0)
        threaded = 0; /* no thread: compute here */
    bf_progress_start(&q->prog, "features (pass 1)", nloc);
    for (int64_t i = 0; i < nloc; i++) {
        pipe_slot *sl = &q->slot[i % PIPE_SLOTS];
        if (threaded) { /* wait for the slot to be free (symbol i - SLOTS computed) */
            pthread_mutex_lock(&q->mu);
            while (q->ndone < i - PIPE_SLOTS + 1 && !q->stop)
                pthread_cond_wait(&q->cv, &q->mu);
            int stop = q->stop;
            pthread_mutex_unlock(&q->mu);
            if (stop)
                break;
        }
        sl->rs = bf_ds_read_symbol(o, p->syms[p->lo + i], o->start, o->end, &sl->bars,
                                   &sl->provider, sl->mtext, sizeof sl->mtext, stage_r);
        snprintf(sl->rmsg, sizeof sl->rmsg, "%s", sl->rs != BF_OK ? bf_last_error() : "");
        if (threaded) {
            pthread_mutex_lock(&q->mu);
            q->nread = i + 1;
            pthread_cond_broadcast(&q->cv);
            pthread_mutex_unlock(&q->mu);
            prefault_ahead(q);
        } else {
            pipe_consume_one(q, i);
            if (q->st != BF_OK)
                break;
        }
        bf_progress_update(&q->prog, i + 1);
    }
    if (threaded)
        pthread_join(th, NULL);
    bf_progress_end(&q->prog);
    bf_status st = q->st != BF_OK ? BF_FAIL(q->st, "%s", q->msg) : BF_OK;
    for (int k = 0; k < BF_STAGE_COUNT; k++)
        m->stage[k] += stage_r[k] + q->stage_c[k];
    for (int k = 0; k < PIPE_SLOTS; k++)
        bf_bars_free(&q->slot[k].bars);
    bf_sym_rows_free(&q->w);
    free(q->acc.scratch);
    if (fclose(q->acc.spill) != 0 && st == BF_OK)
        st = BF_FAIL(BF_EIO, "cannot close '%s' (disk full?)", m->spill_path);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    st = bf_ds_agree(st);
    if (st == BF_OK)
        st = report_missing(q->miss, q->mlen, q->nmiss);
    free(q->miss);
    free(q);
    return st;
}

/* ---- boundaries and counts -------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static bf_status boundaries(const bf_build_opts *o, bf_build_plan *p, bf_master_state *m)
{
    int64_t *all = NULL, n = 0, b[3] = {0, 0, 0};
    bf_status st = bf_ds_gather_i64(m->times, m->ntimes, 0, &all, &n);
    if (st == BF_OK && bf_mpi_rank() == 0) {
        qsort(all, (size_t)n, sizeof *all, cmp_i64);
        int64_t k = 0;
        for (int64_t i = 0; i < n; i++)
            if (k == 0 || all[k - 1] != all[i])
                all[k++] = all[i];
        bf_split_spec sp = o->split;
        sp.purge_bars = p->purge;
        st = bf_split_boundaries(&sp, all, k, &b[0], &b[1]);
        b[2] = k;
    }
    free(all);
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
    FILE *f = fopen(m->spill_path, "rb");
    if (!f)
        return bf_fail_errno(__FILE__, __LINE__, "fopen", "cannot reopen '%s'", m->spill_path);
    int64_t cap = 0, *ts = NULL;
    int8_t *split = NULL;
    bf_status st = BF_OK;
    for (int64_t s = p->lo; s < p->hi && st == BF_OK; s++) {
        bf_sym_rec *r = &m->rec[s - p->lo];
        if (r->n_rows > cap) {
            cap = r->n_rows * 2;
            int64_t *t2 = realloc(ts, (size_t)cap * sizeof *ts);
            int8_t *s2 = realloc(split, (size_t)cap);
            if (t2)
                ts = t2;
            if (s2)
                split = s2;
            if (!t2 || !s2) {
                st = BF_FAIL(BF_ENOMEM, "out of memory for %lld row times", (long long)cap);
                break;
            }
        }
        if (r->n_rows && fread(ts, sizeof *ts, (size_t)r->n_rows, f) != (size_t)r->n_rows) {
            st = BF_FAIL(BF_EIO, "short read from '%s'", m->spill_path);
            break;
        }
        bf_split_assign(ts, r->n_rows, m->val_start, m->test_start, p->purge, split);
        st = bf_build_set_counts(o, r, split, &m->drops);
    }
    fclose(f);
    free(ts);
    free(split);
    unlink(m->spill_path);
    st = bf_ds_agree(st);
    if (st != BF_OK)
        return st;
    for (int k = 0; k < 3; k++)
        m->rank_rows[k] = 0;
    for (int64_t s = p->lo; s < p->hi; s++)
        for (int k = 0; k < 3; k++)
            m->rank_rows[k] += m->rec[s - p->lo].cnt[k];
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

bf_status bf_build_master(const bf_build_opts *o, bf_build_result *res)
{
    memset(res, 0, sizeof *res);
    double t0 = bf_now();
    bf_build_plan p;
    bf_status st = bf_ds_agree(bf_build_validate(o, &p));
    if (st != BF_OK)
        return st;
    bf_master_state m;
    memset(&m, 0, sizeof m);
    st = bf_build_make_tmpdir(o, &m);
    if (st == BF_OK && o->scaler == BF_SCALER_ROBUST_GLOBAL)
        st = bf_sampler_init(&m.smp, o->global_sample_rows ? o->global_sample_rows : 500000, p.F);
    st = bf_ds_agree(st);
    if (st == BF_OK)
        st = pass1(o, &p, &m);
    double ts0 = bf_now();
    if (st == BF_OK)
        st = boundaries(o, &p, &m);
    if (st == BF_OK)
        st = bf_ds_agree(count_rows(o, &p, &m));
    m.stage[BF_STAGE_SPLIT] += bf_now() - ts0;
    if (st == BF_OK && o->scaler == BF_SCALER_ROBUST_GLOBAL) {
        double t1 = bf_now();
        st = bf_ds_agree(bf_global_scaler_fit(&p, &m));
        m.stage[BF_STAGE_SCALE] += bf_now() - t1;
    }
    if (st == BF_OK)
        st = bf_build_pass2(o, &p, &m);
    if (st == BF_OK)
        st = bf_build_write_side_files(o, &p, &m);
    if (st == BF_OK)
        st = bf_build_publish(o, &p, &m, res);
    if (st != BF_OK && m.tmpdir[0]) {
        bf_barrier();
        if (bf_mpi_rank() == 0)
            bf_ds_rmtree(m.tmpdir);
    }
    if (st == BF_OK)
        st = bf_build_finish_result(&p, &m, res, t0);
    bf_master_state_free(&m);
    bf_build_plan_free(&p);
    return st;
}
