/* build_stream.c - one-pass master builds: pass-1 rows written straight into
 * the split files (see build_internal.h, "Streaming").
 *
 * With one rank and the per-symbol scaler, a symbol's place in each split
 * file is the sum of the rows of the symbols before it, and its rows, split
 * and scaler follow from the split boundaries. The boundaries need every
 * symbol's row times; the stream guesses them from the times of the first
 * symbols recorded (as many as the slots hold; symbols share a calendar, and
 * a few of them cover the bars any one misses) and writes every symbol under
 * that guess, in symbol order, as symbols complete: each worker hands over
 * its finished symbol in one of its two slots, and whoever completes the
 * next symbol in order processes and writes it and every ready one after
 * it. The split files are created by the first write (so that their
 * creation overlaps the first symbols' computation) and grow as rows arrive
 * (bf_splitfile_grow). So the rows reach the page cache, and the disk, while
 * later symbols are still being computed, and no rows are kept in memory for
 * a second pass.
 *
 * When the final boundaries differ from the guess, or a symbol's final
 * counts from its streamed ones, the files are deleted and the two-pass
 * path recomputes every symbol: the output never depends on the guess.
 */
#include "core/feat/build_internal.h"

#include "core/base/h5.h"
#include "core/base/log.h"
#include "dist/mpi_env.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOTS_PER_WORKER 2

struct bf_stream {
    const bf_build_plan *p;
    bf_master_state *m;
    pthread_mutex_t *h5mu; /* the build's HDF5 lock */
    pthread_mutex_t mu;    /* everything below */
    pthread_cond_t cv;     /* a slot was freed */
    int nworkers;
    bf_stream_slot *slots; /* nworkers x SLOTS_PER_WORKER */
    bf_stream_slot **ready; /* per symbol (index from lo): its slot once finished */
    int64_t next;          /* the next symbol to write */
    int writing;           /* one thread writes at a time, in symbol order */
    int failed;
    int abandoned;         /* no guess could be made: slots pass through unwritten */
    bf_status st;
    char msg[1024];
    int64_t rows[3];       /* rows written per split */
    double t_write;
    int64_t scale_ns;      /* processing time, summed over threads (atomically) */
    int64_t finished, fix_after; /* symbols handed over; the guess is fixed at fix_after */
    bf_stream_guess_fn guess_fn;
    void *guess_ctx;
    int64_t hint[3];       /* rows per split file, for its chunk size */
    const bf_feat_spec *spec;
};

/* a finished symbol with nothing to write */
static bf_stream_slot g_empty;

static const char *const g_names[3] = {"train", "val", "test"};

bf_status bf_stream_open(const bf_build_opts *o, const bf_build_plan *p, bf_master_state *m,
                         pthread_mutex_t *h5mu, int nworkers, bf_stream_guess_fn guess_fn,
                         void *guess_ctx, bf_stream **out)
{
    *out = NULL;
    int64_t nloc = p->hi - p->lo;
    bf_stream *s = calloc(1, sizeof *s);
    BF_CHECK_ALLOC(s, sizeof *s);
    s->p = p;
    s->m = m;
    s->h5mu = h5mu;
    s->nworkers = nworkers;
    s->guess_fn = guess_fn;
    s->guess_ctx = guess_ctx;
    /* the guess waits for as many symbols as the slots hold: a symbol that
     * misses a bar the others have cannot move it */
    s->fix_after = (int64_t)nworkers * SLOTS_PER_WORKER < nloc ? nworkers * SLOTS_PER_WORKER
                                                               : nloc;
    s->slots = calloc((size_t)nworkers * SLOTS_PER_WORKER, sizeof *s->slots);
    s->ready = calloc((size_t)(nloc ? nloc : 1), sizeof *s->ready);
    if (!s->slots || !s->ready) {
        free(s->slots);
        free(s->ready);
        free(s);
        return BF_FAIL(BF_ENOMEM, "out of memory for the build's stream of %lld symbols",
                       (long long)nloc);
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->st = BF_OK;
    /* chunks no larger than a split of this universe is likely to be (about
     * 4,000 rows per symbol, shared by the split fractions; a third each
     * with dates): a small split then leaves little of its last chunk empty */
    double frac[3] = {o->split.train_frac, o->split.val_frac,
                      1.0 - o->split.train_frac - o->split.val_frac};
    for (int k = 0; k < 3; k++) {
        double f = o->split.val_start || o->split.test_start ? 1.0 / 3 : frac[k];
        s->hint[k] = (int64_t)((double)p->S * 4000.0 * (f > 0.05 ? f : 0.05));
    }
    s->spec = &o->spec;
    m->streaming = 1;
    *out = s;
    return BF_OK;
}

/* The split files, created when the first rows are written (the writer
 * holds the HDF5 lock), so that creating them overlaps the first symbols'
 * computation; or at the end when no rows were (empty files). */
static bf_status create_files(bf_stream *s)
{
    const bf_build_plan *p = s->p;
    bf_master_state *m = s->m;
    bf_status st = BF_OK;
    for (int k = m->stream_open; k < 3 && st == BF_OK; k++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", m->tmpdir, bf_ds_files[k]);
        st = bf_splitfile_create_growable(&m->stream_sf[k], path, s->hint[k], p->F, p->H,
                                          g_names[k], s->spec, p->target_index, (int)p->S);
        if (st == BF_OK)
            m->stream_open = k + 1;
    }
    return st;
}

bf_stream_slot *bf_stream_slot_get(bf_stream *s, int worker)
{
    pthread_mutex_lock(&s->mu);
    bf_stream_slot *got = NULL;
    while (!got && !s->failed) {
        for (int k = 0; k < SLOTS_PER_WORKER && !got; k++) {
            bf_stream_slot *sl = &s->slots[worker * SLOTS_PER_WORKER + k];
            if (!sl->busy)
                got = sl;
        }
        if (!got)
            pthread_cond_wait(&s->cv, &s->mu);
    }
    if (got)
        got->busy = 1;
    pthread_mutex_unlock(&s->mu);
    return got;
}

bf_status bf_stream_slot_reserve(bf_stream_slot *sl, int64_t n, int F, int H)
{
    if (n <= sl->cap)
        return BF_OK;
    int64_t c = n + n / 4;
    float *X = realloc(sl->X, (size_t)c * (size_t)F * sizeof *X);
    if (X)
        sl->X = X;
    float *y = X ? realloc(sl->y, (size_t)c * (size_t)H * sizeof *y) : NULL;
    if (y)
        sl->y = y;
    int64_t *ts = y ? realloc(sl->ts, (size_t)c * sizeof *ts) : NULL;
    if (ts)
        sl->ts = ts;
    if (!ts)
        return BF_FAIL(BF_ENOMEM, "out of memory for %lld rows of a symbol", (long long)c);
    sl->cap = c;
    return BF_OK;
}

/* Symbol sl->sym's rows under the fixed guess: their split runs, the scaler fitted on the leading train rows (kept in m as
 * the symbol's pass-1 fit) and applied in place. Fewer than 2 train rows
 * drop the symbol, as bf_build_set_counts does. Only the thread holding the
 * slot touches it and the symbol's entries in m. */
static bf_status process(bf_stream *s, bf_stream_slot *sl)
{
    const bf_build_plan *p = s->p;
    bf_master_state *m = s->m;
    const int64_t i = sl->sym, n = sl->n;
    bf_sym_rec *r = &m->rec[i];
    int64_t cnt[3], at[3];
    bf_split_runs(sl->ts, n, m->stream_val, m->stream_test, p->purge, at, cnt);
    if (cnt[0] < 2)
        cnt[0] = cnt[1] = cnt[2] = 0;
    if (cnt[0] > 0) {
        double t0 = bf_now();
        bf_scaler sc;
        memset(&sc, 0, sizeof sc);
        BF_TRY(bf_scaler_fit(&sc, sl->X, cnt[0], p->F)); /* train rows lead */
        memcpy(m->spec_median + i * p->F, sc.median, (size_t)p->F * sizeof(double));
        memcpy(m->spec_iqr + i * p->F, sc.iqr, (size_t)p->F * sizeof(double));
        r->spec_nz = sc.n_zero_iqr;
        r->spec_cnt0 = cnt[0];
        r->scaled_nan = bf_scaler_apply_count_nan(&sc, sl->X, n);
        bf_scaler_free(&sc);
        __atomic_fetch_add(&s->scale_ns, (int64_t)((bf_now() - t0) * 1e9), __ATOMIC_RELAXED);
    }
    memcpy(r->stream_cnt, cnt, sizeof cnt);
    memcpy(sl->cnt, cnt, sizeof cnt);
    memcpy(sl->at, at, sizeof at);
    sl->processed = 1;
    return BF_OK;
}

/* write symbol slot `sl` at the current ends of the split files (the
 * caller is the only writer) */
static bf_status write_slot(bf_stream *s, const bf_stream_slot *sl)
{
    const bf_build_plan *p = s->p;
    bf_master_state *m = s->m;
    for (int k = 0; k < 3; k++) {
        if (sl->cnt[k] == 0)
            continue;
        bf_split_file *sf = &m->stream_sf[k];
        pthread_mutex_lock(s->h5mu);
        bf_status st = m->stream_open < 3 ? create_files(s) : BF_OK;
        if (st == BF_OK)
            st = bf_splitfile_grow(sf, s->rows[k] + sl->cnt[k]);
        pthread_mutex_unlock(s->h5mu);
        BF_TRY(st);
        const int64_t a = sl->at[k];
        BF_TRY(bf_splitfile_pwrite(sf, s->rows[k], sl->cnt[k], sl->X + a * p->F,
                                   sl->y + a * p->H, (int32_t)(p->lo + sl->sym), sl->ts + a));
        s->rows[k] += sl->cnt[k];
    }
    return BF_OK;
}

/* under s->mu: once the guess is fixed, write every finished symbol from
 * s->next on, in order, unless another thread is writing (it takes these
 * too); symbols handed over before the guess are processed here first */
static void drain(bf_stream *s)
{
    int64_t nloc = s->p->hi - s->p->lo;
    if (s->writing || (!s->m->stream_guess && !s->abandoned))
        return;
    s->writing = 1;
    while (!s->failed && s->next < nloc && s->ready[s->next]) {
        bf_stream_slot *sl = s->ready[s->next];
        pthread_mutex_unlock(&s->mu);
        bf_status st = BF_OK;
        if (sl != &g_empty && !sl->processed && !s->abandoned)
            st = process(s, sl);
        double t1 = bf_now();
        if (st == BF_OK && sl != &g_empty && !s->abandoned)
            st = write_slot(s, sl);
        double dt = bf_now() - t1;
        pthread_mutex_lock(&s->mu);
        s->t_write += dt;
        if (st != BF_OK) {
            s->failed = 1;
            s->st = st;
            snprintf(s->msg, sizeof s->msg, "%s", bf_last_error());
        }
        if (sl != &g_empty)
            sl->busy = 0;
        s->ready[s->next] = NULL;
        s->next++;
        pthread_cond_broadcast(&s->cv);
    }
    s->writing = 0;
}

bf_status bf_stream_submit(bf_stream *s, int64_t i, bf_stream_slot *sl)
{
    if (sl) {
        sl->sym = i;
        sl->processed = 0;
    }
    /* the guess is fixed (read without the lock: it is set once, before
     * anything is written): process here, on the worker's own thread */
    bf_status st = BF_OK;
    if (sl && __atomic_load_n(&s->m->stream_guess, __ATOMIC_ACQUIRE))
        st = process(s, sl);
    pthread_mutex_lock(&s->mu);
    if (st != BF_OK) {
        sl->busy = 0;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        return st;
    }
    s->ready[i] = sl ? sl : &g_empty;
    s->finished++;
    if (!s->m->stream_guess && !s->abandoned && s->finished >= s->fix_after) {
        s->guess_fn(s->guess_ctx); /* takes the build's state lock: never the other way round */
        /* no row times yet: nothing can be placed, so nothing is written in
         * pass 1 (the two-pass path then builds, or reports what is wrong) */
        if (!s->m->stream_guess)
            s->abandoned = 1;
    }
    drain(s);
    pthread_mutex_unlock(&s->mu);
    return BF_OK;
}

void bf_stream_release(bf_stream *s, bf_stream_slot *sl)
{
    pthread_mutex_lock(&s->mu);
    sl->busy = 0;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void bf_stream_abort(bf_stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->failed = 1;
    if (s->st == BF_OK)
        s->st = BF_ERR;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

bf_status bf_stream_close(bf_stream *s)
{
    if (!s)
        return BF_OK;
    int64_t nloc = s->p->hi - s->p->lo;
    bf_status st = s->st;
    if (st == BF_OK && s->next != nloc)
        st = BF_FAIL(BF_ERR, "the build's stream wrote %lld of %lld symbols", (long long)s->next,
                     (long long)nloc);
    else if (st != BF_OK && s->msg[0])
        st = BF_FAIL(st, "%s", s->msg);
    for (int k = 0; k < 3; k++)
        s->m->stream_rows[k] = s->rows[k];
    if (s->abandoned) /* the master build then takes two passes */
        s->m->stream_guess = 0;
    else if (st == BF_OK) /* every file exists, if only empty */
        st = create_files(s);
    s->m->stage[BF_STAGE_WRITE] += s->t_write;
    s->m->stage[BF_STAGE_SCALE] += (double)s->scale_ns * 1e-9;
    for (int k = 0; k < s->nworkers * SLOTS_PER_WORKER; k++) {
        free(s->slots[k].X);
        free(s->slots[k].y);
        free(s->slots[k].ts);
    }
    free(s->slots);
    free(s->ready);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
    return st;
}

bf_status bf_stream_finish(const bf_build_plan *p, bf_master_state *m)
{
    bf_status st = BF_OK;
    for (int k = 0; k < m->stream_open; k++) {
        bf_split_file *sf = &m->stream_sf[k];
        bf_status fs = bf_splitfile_finish(sf, m->stream_rows[k]);
        if (fs == BF_OK && sf->crc_known) { /* from the rows as written */
            bf_ds_hex32(sf->file_crc, m->files_crc[k]);
            m->files_bytes[k] = sf->file_bytes;
            m->files_crc_known[k] = 1;
        }
        bf_status cs = bf_splitfile_close_direct(sf);
        st = st != BF_OK ? st : (fs != BF_OK ? fs : cs);
    }
    m->stream_open = 0;
    BF_TRY(st);
    /* the scalers: each written symbol's fit from pass 1, identity for the
     * dropped ones (as pass 2 would record them) */
    int64_t nloc = p->hi - p->lo;
    const int F = p->F;
    size_t n1 = (size_t)(nloc ? nloc : 1);
    m->median = calloc(n1 * (size_t)F, sizeof *m->median);
    m->iqr = malloc(n1 * (size_t)F * sizeof *m->iqr);
    m->n_fit = calloc(n1, sizeof *m->n_fit);
    BF_CHECK_ALLOC(m->median && m->iqr && m->n_fit ? m->n_fit : NULL,
                   n1 * ((size_t)F * 16 + 8));
    int64_t nz = 0;
    for (int64_t i = 0; i < nloc; i++) {
        const bf_sym_rec *r = &m->rec[i];
        double *med = m->median + i * F, *iqr = m->iqr + i * F;
        if (r->cnt[0] + r->cnt[1] + r->cnt[2] == 0) {
            for (int j = 0; j < F; j++)
                iqr[j] = 1.0;
            continue;
        }
        memcpy(med, m->spec_median + i * F, (size_t)F * sizeof *med);
        memcpy(iqr, m->spec_iqr + i * F, (size_t)F * sizeof *iqr);
        m->n_fit[i] = r->cnt[0];
        nz += r->spec_nz;
    }
    m->n_zero_iqr += (int)nz;
    return BF_OK;
}

void bf_stream_discard(bf_master_state *m)
{
    for (int k = 0; k < m->stream_open; k++) {
        bf_split_file *sf = &m->stream_sf[k];
        if (sf->f >= 0)
            bf_h5_close(sf->f);
        sf->f = -1;
        bf_splitfile_close_direct(sf);
        unlink(sf->path);
    }
    m->stream_open = 0;
}
