/* build_stream.c - one-pass master builds: pass-1 rows written straight into
 * the split files (see build_internal.h, "Streaming").
 *
 * With one rank and the per-symbol scaler, a symbol's place in each split
 * file is the sum of the rows of the symbols before it, and its rows, split
 * and scaler follow from the split boundaries. The boundaries need every
 * symbol's row times; the stream guesses them from the times of the first
 * symbols recorded (two per worker; symbols share a calendar, and
 * a few of them cover the bars any one misses) and writes every symbol under
 * that guess, in symbol order, as symbols complete: each worker hands over
 * its finished symbol in one of its slots, and whoever completes the
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
 *
 * Pipelined over several ranks (MPI, per-symbol scalers, direct files). A
 * symbol's place in the files is the sum of the rows of every symbol before
 * it, whichever rank computed those:
 *  - the ranks claim symbols one at a time from a shared counter (an MPI
 *    window on rank 0, fetch-and-add; rank 0 need not take part), so a
 *    faster rank takes more, and the ranks advance through the universe
 *    side by side;
 *  - once each rank has its first symbols, the ranks gather those symbols'
 *    row times (one collective) and all guess the split boundaries from the
 *    same union;
 *  - each rank sends every rank the counts of its symbols as it splits
 *    them; every rank extends the known prefix of the universe and so knows
 *    where each symbol's rows go;
 *  - each split file's HDF5 side belongs to one rank (train to the last,
 *    val and test to the others), which creates it, grows it to the
 *    prefix's rows and sends every rank the new chunks' addresses;
 *  - each rank writes its symbols' rows, in order, once they are placed,
 *    with pwrite into those chunks (bf_splitfile_open_shadow), logging the
 *    extents' CRCs for the owner's checksum.
 * So every rank's rows reach the page cache and the disk while the build
 * still computes, as with one rank. All MPI calls are made by the main
 * thread (MPI_THREAD_FUNNELED) in bf_stream_pump, which the main worker runs
 * between the steps of its symbols and while it waits; only the guess's
 * gather blocks (every rank reaches it on its own). A rank that is done (or
 * fails) says so to every rank and takes in messages until each has said so
 * too, so nothing is left in flight. Whatever stops a pipelined stream (an
 * error on any rank, no guess) has the build redone in two passes
 * (dataset_build.c), which reports errors as it always does.
 */
#include "core/feat/build_internal.h"

#include "core/base/h5.h"
#include "core/base/log.h"
#include "dist/mpi_env.h"

#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* slots per worker: three, so that a worker runs ahead of the symbols
 * written in order for a few symbols instead of waiting (with one rank and
 * two workers: while one thread scales and writes the first symbols once
 * the guess is fixed; with two slots the other waited ~5 ms there); when
 * pipelined, ahead of the other ranks' counts */
#define SLOTS_PER_WORKER 3
#define SLOTS_PIPELINED 3

enum { TAG_COUNTS = 1, TAG_CHUNKS = 2, TAG_DONE = 3 };

typedef struct pending_send {
    MPI_Request req;
    int64_t *buf;
} pending_send;

/* the pipelined stream's state (several ranks) */
typedef struct pipe_state {
    MPI_Comm comm;
    int rank, size;
    int64_t S;
    int64_t *gcnt;        /* S x 3: every symbol's counts, as they become known */
    unsigned char *gknown;
    int64_t prefix;       /* sym_ids [0, prefix) are placed */
    int64_t run[3];       /* rows before sym_id prefix */
    int64_t *goff;        /* S x 3: each placed symbol's first row per split */
    int64_t sent;         /* local symbols whose counts went out */
    MPI_Win win;          /* the next unclaimed sym_id (on rank 0) */
    int64_t *win_base;
    int win_ok, exhausted; /* exhausted: every sym_id is claimed */
    /* the shared boundary guess (pipe_guess): 0 not started, 1 gathering
     * the counts, 2 gathering the times, 3 made (or the stream stopped) */
    int gstage;
    MPI_Request greq;
    int64_t ghdr[2], *gall, *mine, nmine, mcap, *mscratch, mscap, *gtimes;
    int *gcnts, *gdsp;
    int owner[3];         /* the rank that owns split file k's HDF5 side */
    int64_t told[3];      /* owner: rows of file k whose chunks every rank knows (-1: not yet) */
    int64_t told_chunks[3][4];
    int done_sent, ndone; /* DONE sent; DONE received from this many ranks */
    int stopped;          /* ended early (any rank's failure, no guess) */
    int dead;             /* the stream could not be set up (on every rank) */
    pending_send *ps;
    int nps, cps;
    double t_wait;        /* the main thread's time waiting on the other ranks */
    double t_guess;       /* from starting the guess's gather to the guess */
    int64_t n_msgs;       /* messages taken in */
} pipe_state;

struct bf_stream {
    bf_build_plan *p;      /* pipelined: the claims extend its own/nloc */
    bf_master_state *m;
    pthread_mutex_t *h5mu; /* the build's HDF5 lock */
    pthread_mutex_t mu;    /* everything below */
    pthread_cond_t cv;     /* a slot was freed */
    int nworkers;
    bf_stream_slot *slots; /* nworkers x spw */
    bf_stream_slot **ready; /* per local symbol: its slot once finished */
    int64_t next;          /* the next symbol to write */
    int64_t claimed;       /* pipelined: local symbols handed to workers */
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
    bf_split_spec split;   /* pipelined: the split, for the shared guess */
    int64_t hint[3];       /* rows per split file, for its chunk size */
    const bf_feat_spec *spec;
    int spw;               /* slots per worker */
    pipe_state *pipe;      /* several ranks (NULL: one) */
};

/* a finished symbol with nothing to write */
static bf_stream_slot g_empty;
/* a pipelined stream that could not be set up */
static pipe_state g_dead_pipe = {.dead = 1, .stopped = 1};

static const char *const g_names[3] = {"train", "val", "test"};

/* pipelined: the rank that owns split file k's HDF5 side. train (the
 * largest) on the last rank, val and test on the others from rank 0 on
 * (with two ranks: both on rank 0), so that HDF5's share of the work is
 * spread over the ranks. */
static int file_owner(int k, int size)
{
    return k == 0 ? size - 1 : (k - 1) % (size > 1 ? size - 1 : 1);
}

bf_status bf_stream_open(const bf_build_opts *o, bf_build_plan *p, bf_master_state *m,
                         pthread_mutex_t *h5mu, int nworkers, bf_stream_guess_fn guess_fn,
                         void *guess_ctx, bf_stream **out)
{
    *out = NULL;
    int64_t nloc = p->cap;
    bf_stream *s = calloc(1, sizeof *s);
    BF_CHECK_ALLOC(s, sizeof *s);
    s->p = p;
    s->m = m;
    s->h5mu = h5mu;
    s->nworkers = nworkers;
    s->guess_fn = guess_fn;
    s->guess_ctx = guess_ctx;
    s->split = o->split;
    s->split.purge_bars = p->purge;
    s->spw = p->pipelined ? SLOTS_PIPELINED : SLOTS_PER_WORKER;
    /* the guess waits for a few symbols (two per worker; pipelined, one per
     * worker of every rank, all gathered): a symbol that misses a bar the
     * others have cannot move it */
    int64_t want = (int64_t)nworkers * (p->pipelined ? 1 : 2);
    s->fix_after = want < nloc ? want : nloc;
    s->slots = calloc((size_t)nworkers * s->spw, sizeof *s->slots);
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
    if (!p->pipelined)
        return BF_OK;
    /* pipelined: every rank gets here (pass 1 opens the stream on all of
     * them alike); each collective below is reached by every rank, after an
     * agreement on what came before, so no rank waits on one without */
    pipe_state *q = calloc(1, sizeof *q);
    bf_status st = q ? BF_OK : BF_FAIL(BF_ENOMEM, "out of memory for the pipelined stream");
    if (q) {
        q->comm = MPI_COMM_NULL;
        q->rank = bf_mpi_rank();
        q->size = bf_mpi_size();
        q->S = p->S;
        q->goff = calloc((size_t)(p->S ? p->S : 1) * 3, sizeof *q->goff);
        q->gcnt = calloc((size_t)(p->S ? p->S : 1) * 3, sizeof *q->gcnt);
        q->gknown = calloc((size_t)(p->S ? p->S : 1), 1);
        if (!q->goff || !q->gcnt || !q->gknown)
            st = BF_FAIL(BF_ENOMEM, "out of memory for the pipelined stream of %lld symbols",
                         (long long)p->S);
        for (int k = 0; k < 3; k++) {
            q->owner[k] = file_owner(k, q->size);
            q->told[k] = -1;
        }
    }
    st = bf_ds_agree(st);
    if (st == BF_OK && MPI_Comm_dup(MPI_COMM_WORLD, &q->comm) != MPI_SUCCESS)
        st = BF_FAIL(BF_EMPI, "MPI_Comm_dup failed");
    /* the claim counter: one int64 on rank 0, fetched-and-added by every
     * rank (passive target: rank 0 need not take part) */
    if (st == BF_OK) {
        if (MPI_Win_allocate(q->rank == 0 ? (MPI_Aint)sizeof(int64_t) : 0, (int)sizeof(int64_t),
                             MPI_INFO_NULL, q->comm, &q->win_base, &q->win) == MPI_SUCCESS) {
            q->win_ok = 1;
            if (q->rank == 0)
                *q->win_base = 0; /* before the agreement below: no claim comes earlier */
        } else {
            st = BF_FAIL(BF_EMPI, "MPI_Win_allocate failed");
        }
    }
    st = bf_ds_agree(st);
    if (st == BF_OK) {
        if (MPI_Win_lock_all(MPI_MODE_NOCHECK, q->win) == MPI_SUCCESS)
            q->win_ok = 2;
        else
            st = BF_FAIL(BF_EMPI, "MPI_Win_lock_all failed");
    }
    st = bf_ds_agree(st);
    s->pipe = q ? q : &g_dead_pipe;
    if (st == BF_OK) {
        for (int k = 0; k < 3; k++) { /* nothing open yet (stream_open covers all three) */
            memset(&m->stream_sf[k], 0, sizeof m->stream_sf[k]);
            m->stream_sf[k].f = -1;
            m->stream_sf[k].fd = -1;
        }
        m->stream_open = 3;
    } else {
        s->pipe->dead = s->pipe->stopped = 1;
        s->failed = 1;
        s->st = st;
        snprintf(s->msg, sizeof s->msg, "%s", bf_last_error());
    }
    return BF_OK; /* a failure here ends the stream (bf_stream_close reports it) */
}

/* Split file k, created when the first rows are written (the writer holds
 * the HDF5 lock), so that creating it overlaps the first symbols'
 * computation; or at the end when no rows were (an empty file). */
static bf_status create_one(bf_stream *s, int k)
{
    const bf_build_plan *p = s->p;
    bf_master_state *m = s->m;
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", m->tmpdir, bf_ds_files[k]);
    return bf_splitfile_create_growable(&m->stream_sf[k], path, s->hint[k], p->F, p->H,
                                        g_names[k], s->spec, p->target_index, (int)p->S);
}

/* one rank: the files not created yet */
static bf_status create_files(bf_stream *s)
{
    bf_status st = BF_OK;
    for (int k = s->m->stream_open; k < 3 && st == BF_OK; k++)
        if ((st = create_one(s, k)) == BF_OK)
            s->m->stream_open = k + 1;
    return st;
}

/* the main thread found nothing to do until another rank moves */
static void pause_briefly(pipe_state *q)
{
    double t0 = bf_now();
    struct timespec ts = {0, 20000};
    nanosleep(&ts, NULL);
    q->t_wait += bf_now() - t0;
}

bf_stream_slot *bf_stream_slot_get(bf_stream *s, int worker)
{
    pthread_mutex_lock(&s->mu);
    bf_stream_slot *got = NULL;
    while (!got && !s->failed) {
        for (int k = 0; k < s->spw && !got; k++) {
            bf_stream_slot *sl = &s->slots[worker * s->spw + k];
            if (!sl->busy)
                got = sl;
        }
        if (!got && s->pipe && worker == 0) { /* the main thread: the slots free up
                                                 as it pumps */
            pthread_mutex_unlock(&s->mu);
            if (!bf_stream_pump(s))
                pause_briefly(s->pipe);
            pthread_mutex_lock(&s->mu);
        } else if (!got) {
            pthread_cond_wait(&s->cv, &s->mu);
        }
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
    memcpy(r->stream_raw, cnt, sizeof cnt);
    r->stream_split = 1;
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
        const int64_t need = s->rows[k] + sl->cnt[k];
        /* the HDF5 lock (the other workers' reads hold it) only to create
         * the files or allocate chunks: rows that fit the chunks allocated
         * need no HDF5 call (only the writing thread touches the files) */
        bf_status st;
        if (m->stream_open == 3 && need <= bf_splitfile_capacity(sf)) {
            st = bf_splitfile_grow(sf, need);
        } else {
            pthread_mutex_lock(s->h5mu);
            st = m->stream_open < 3 ? create_files(s) : BF_OK;
            if (st == BF_OK)
                st = bf_splitfile_grow(sf, need);
            pthread_mutex_unlock(s->h5mu);
        }
        BF_TRY(st);
        const int64_t a = sl->at[k];
        BF_TRY(bf_splitfile_pwrite(sf, s->rows[k], sl->cnt[k], sl->X + a * p->F,
                                   sl->y + a * p->H, (int32_t)bf_plan_sym(p, sl->sym), sl->ts + a));
        s->rows[k] += sl->cnt[k];
    }
    return BF_OK;
}

/* under s->mu: once the guess is fixed, write every finished symbol from
 * s->next on, in order, unless another thread is writing (it takes these
 * too); symbols handed over before the guess are processed here first */
static void drain(bf_stream *s)
{
    int64_t nloc = s->p->nloc;
    if (s->pipe || s->writing || (!s->m->stream_guess && !s->abandoned))
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
    if (!s->pipe && !s->m->stream_guess && !s->abandoned && s->finished >= s->fix_after) {
        s->guess_fn(s->guess_ctx); /* takes the build's state lock: never the other way round */
        /* no row times yet: nothing can be placed, so nothing is written in
         * pass 1 (the two-pass path then builds, or reports what is wrong) */
        if (!s->m->stream_guess)
            s->abandoned = 1;
    } /* pipelined: bf_stream_pump makes the guess with the other ranks */
    drain(s);
    pthread_mutex_unlock(&s->mu);
    return BF_OK;
}

/* ---- pipelined over several ranks (see the top of the file) --------------- */

static void pipe_fail(bf_stream *s, bf_status st)
{
    pthread_mutex_lock(&s->mu);
    if (!s->failed) {
        s->failed = 1;
        s->st = st;
        snprintf(s->msg, sizeof s->msg, "%s", bf_last_error());
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* an int64 message to rank `to` (buf is taken over; freed once sent) */
static bf_status pipe_send(pipe_state *q, int to, int tag, int64_t *buf, int64_t n)
{
    if (q->nps == q->cps) {
        int c = q->cps ? 2 * q->cps : 16;
        pending_send *ps = realloc(q->ps, (size_t)c * sizeof *ps);
        if (!ps) {
            free(buf);
            return BF_FAIL(BF_ENOMEM, "out of memory for the pipelined stream's messages");
        }
        q->ps = ps;
        q->cps = c;
    }
    pending_send *e = &q->ps[q->nps];
    if (MPI_Isend(buf, (int)n, MPI_INT64_T, to, tag, q->comm, &e->req) != MPI_SUCCESS) {
        free(buf);
        return BF_FAIL(BF_ERR, "MPI_Isend to rank %d failed", to);
    }
    e->buf = buf;
    q->nps++;
    return BF_OK;
}

/* completed sends' buffers freed */
static void pipe_reap(pipe_state *q)
{
    for (int i = 0; i < q->nps;) {
        int done = 0;
        MPI_Test(&q->ps[i].req, &done, MPI_STATUS_IGNORE);
        if (done) {
            free(q->ps[i].buf);
            q->ps[i] = q->ps[--q->nps];
        } else {
            i++;
        }
    }
}

/* sym_ids [from, to) placed: counts c (3 each) give each its first rows */
static void pipe_place(bf_stream *s, int64_t from, int64_t to, const int64_t *c)
{
    pipe_state *q = s->pipe;
    for (int64_t g = from; g < to; g++, c += 3)
        for (int k = 0; k < 3; k++) {
            q->goff[3 * g + k] = q->run[k];
            q->run[k] += c[k];
        }
    q->prefix = to;
}

/* main thread: one more sym_id for this rank, from the shared counter */
static bf_status claim_one(bf_stream *s)
{
    pipe_state *q = s->pipe;
    const int64_t one = 1;
    int64_t g = -1;
    if (MPI_Fetch_and_op(&one, &g, MPI_INT64_T, 0, 0, MPI_SUM, q->win) != MPI_SUCCESS ||
        MPI_Win_flush(0, q->win) != MPI_SUCCESS)
        return BF_FAIL(BF_EMPI, "MPI_Fetch_and_op on the claim counter failed");
    if (g < 0 || (s->p->nloc > 0 && g <= s->p->own[s->p->nloc - 1]))
        return BF_FAIL(BF_EMPI, "the claim counter went back (%lld)", (long long)g);
    pthread_mutex_lock(&s->mu);
    if (g >= q->S)
        q->exhausted = 1;
    else
        s->p->own[s->p->nloc++] = g;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return BF_OK;
}

int64_t bf_stream_claim(bf_stream *s, int main)
{
    pipe_state *q = s->pipe;
    pthread_mutex_lock(&s->mu);
    int64_t i = -1;
    for (;;) {
        if (s->failed || !q || q->dead)
            break;
        if (s->claimed < s->p->nloc) {
            i = s->claimed++;
            break;
        }
        if (q->exhausted)
            break;
        if (main) {
            pthread_mutex_unlock(&s->mu);
            bf_status st = claim_one(s);
            if (st != BF_OK)
                pipe_fail(s, st);
            pthread_mutex_lock(&s->mu);
        } else {
            pthread_cond_wait(&s->cv, &s->mu);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return i;
}

/* the prefix over the counts known */
static void pipe_advance(bf_stream *s, int *moved)
{
    pipe_state *q = s->pipe;
    int64_t to = q->prefix;
    while (to < q->S && q->gknown[to])
        to++;
    if (to > q->prefix) {
        pipe_place(s, q->prefix, to, q->gcnt + 3 * q->prefix);
        *moved = 1;
    }
}

/* the files this rank owns: created, grown (when the prefix's rows run
 * past the chunks allocated so far), and every other rank told the rows
 * the chunks now hold and the new chunks' addresses (file, rows, then per
 * dataset: chunk rows, chunks, addresses). The rows that fit the chunks
 * may be written before the datasets' extent covers them (the finish sets
 * it), so a rank that runs ahead of the prefix waits for the counts only,
 * not for the owner to grow the file. */
static bf_status pipe_files(bf_stream *s, int *moved)
{
    pipe_state *q = s->pipe;
    bf_master_state *m = s->m;
    for (int k = 0; k < 3; k++) {
        bf_split_file *sf = &m->stream_sf[k];
        if (q->owner[k] != q->rank || (sf->f >= 0 && q->run[k] <= sf->total))
            continue;
        pthread_mutex_lock(s->h5mu);
        bf_status st = sf->f < 0 ? create_one(s, k) : BF_OK;
        if (st == BF_OK && q->run[k] > bf_splitfile_capacity(sf))
            st = bf_splitfile_grow(sf, q->run[k]);
        pthread_mutex_unlock(s->h5mu);
        BF_TRY(st);
        int64_t cap = bf_splitfile_capacity(sf);
        sf->total = cap > sf->total ? cap : sf->total;
        if (sf->total == q->told[k])
            continue;
        *moved = 1;
        int64_t n = 2;
        for (int d = 0; d < 4; d++)
            n += 2 + sf->nchunks[d] - q->told_chunks[k][d];
        for (int r = 0; r < q->size; r++) {
            if (r == q->rank)
                continue;
            int64_t *b = malloc((size_t)n * sizeof *b), at = 0;
            BF_CHECK_ALLOC(b, (size_t)n * sizeof *b);
            b[at++] = k;
            b[at++] = sf->total;
            for (int d = 0; d < 4; d++) {
                b[at++] = sf->chunk_rows[d];
                b[at++] = sf->nchunks[d];
                for (int64_t c = q->told_chunks[k][d]; c < sf->nchunks[d]; c++)
                    b[at++] = sf->addr[d][c];
            }
            BF_TRY(pipe_send(q, r, TAG_CHUNKS, b, n));
        }
        for (int d = 0; d < 4; d++)
            q->told_chunks[k][d] = sf->nchunks[d];
        q->told[k] = sf->total;
    }
    return BF_OK;
}

/* another rank's file grew: its chunks, for this rank's view of it */
static bf_status pipe_take_chunks(bf_stream *s, int from, const int64_t *b, int64_t n)
{
    pipe_state *q = s->pipe;
    bf_master_state *m = s->m;
    int k = n >= 2 && b[0] >= 0 && b[0] < 3 ? (int)b[0] : -1;
    if (k < 0 || q->owner[k] != from || q->owner[k] == q->rank)
        return BF_FAIL(BF_ERR, "pipelined build: unexpected chunks from rank %d", from);
    bf_split_file *sf = &m->stream_sf[k];
    if (sf->fd < 0) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", m->tmpdir, bf_ds_files[k]);
        BF_TRY(bf_splitfile_open_shadow(sf, path, s->p->F, s->p->H, g_names[k]));
    }
    int64_t at = 2;
    for (int d = 0; d < 4; d++) {
        if (at + 2 > n || b[at + 1] < sf->nchunks[d] || at + 2 + b[at + 1] - sf->nchunks[d] > n)
            return BF_FAIL(BF_ERR, "pipelined build: short message from rank %d", from);
        int64_t add = b[at + 1] - sf->nchunks[d];
        BF_TRY(bf_splitfile_add_chunks(sf, d, b[at], b[at + 1], b + at + 2));
        at += 2 + add;
    }
    if (b[1] > sf->total)
        sf->total = b[1];
    return BF_OK;
}

/* take in every message that has arrived */
static bf_status pipe_receive(bf_stream *s, int *moved)
{
    pipe_state *q = s->pipe;
    for (;;) {
        int flag = 0, n = 0;
        MPI_Status ms;
        if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, q->comm, &flag, &ms) != MPI_SUCCESS)
            return BF_FAIL(BF_ERR, "MPI_Iprobe failed");
        if (!flag)
            return BF_OK;
        MPI_Get_count(&ms, MPI_INT64_T, &n);
        int64_t *b = malloc((size_t)(n > 0 ? n : 1) * sizeof *b);
        BF_CHECK_ALLOC(b, (size_t)(n > 0 ? n : 1) * sizeof *b);
        if (MPI_Recv(b, n, MPI_INT64_T, ms.MPI_SOURCE, ms.MPI_TAG, q->comm, MPI_STATUS_IGNORE) !=
            MPI_SUCCESS) {
            free(b);
            return BF_FAIL(BF_ERR, "MPI_Recv failed");
        }
        *moved = 1;
        q->n_msgs++;
        bf_status st = BF_OK;
        if (ms.MPI_TAG == TAG_DONE) {
            q->ndone++;
            if (n < 1 || b[0])
                q->stopped = 1; /* that rank did not finish */
        } else if (q->stopped) {
            /* ending: nothing more is placed or written */
        } else if (ms.MPI_TAG == TAG_COUNTS) {
            for (int64_t j = 0; j + 4 <= n; j += 4) {
                int64_t g = b[j];
                if (g < 0 || g >= q->S || q->gknown[g]) {
                    st = BF_FAIL(BF_ERR, "pipelined build: bad counts from rank %d",
                                 ms.MPI_SOURCE);
                    break;
                }
                memcpy(q->gcnt + 3 * g, b + j + 1, 3 * sizeof *b);
                q->gknown[g] = 1;
            }
        } else if (ms.MPI_TAG == TAG_CHUNKS) {
            st = pipe_take_chunks(s, ms.MPI_SOURCE, b, n);
        } else {
            st = BF_FAIL(BF_ERR, "pipelined build: unexpected message (tag %d from rank %d)",
                         ms.MPI_TAG, ms.MPI_SOURCE);
        }
        free(b);
        BF_TRY(st);
    }
}

/* The shared boundary guess. Once this rank has handed over its first
 * symbols (as many as the guess waits for with one rank, or all it got),
 * or has failed, it starts gathering every rank's row times from those
 * symbols: non-blocking collectives (every rank starts them on its own;
 * the ranks go on computing meanwhile), first each rank's count and state,
 * then the times. Each rank then guesses from the same union, so the ranks
 * split alike. A rank that failed, no row times anywhere, or no split of
 * them: every rank stops alike (the build is redone in two passes). */
static void guess_stop(bf_stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->pipe->stopped = 1;
    s->failed = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static bf_status pipe_guess(bf_stream *s, int *moved)
{
    pipe_state *q = s->pipe;
    bf_master_state *m = s->m;
    if (q->gstage == 3)
        return BF_OK;
    if (q->gstage == 0) { /* this rank's times, then the counts' gather */
        pthread_mutex_lock(&s->mu);
        int failed = s->failed;
        int ready = failed || s->finished >= s->fix_after ||
                    (q->exhausted && s->finished == s->p->nloc);
        for (int64_t i = 0; ready && !failed && i < s->finished; i++) { /* rows wait in slots */
            const bf_stream_slot *sl = s->ready[i];
            if (sl && sl != &g_empty &&
                bf_times_union(&q->mine, &q->nmine, &q->mcap, &q->mscratch, &q->mscap, sl->ts,
                               sl->n) != BF_OK)
                failed = 1; /* out of memory: stop alike */
        }
        pthread_mutex_unlock(&s->mu);
        if (!ready)
            return BF_OK;
        q->t_guess = bf_now();
        q->ghdr[0] = failed;
        q->ghdr[1] = failed ? 0 : q->nmine;
        q->gall = malloc((size_t)q->size * 2 * sizeof *q->gall);
        q->gcnts = malloc((size_t)q->size * sizeof *q->gcnts);
        q->gdsp = malloc((size_t)q->size * sizeof *q->gdsp);
        if (!q->gall || !q->gcnts || !q->gdsp) /* the others would wait in the gather */
            MPI_Abort(MPI_COMM_WORLD, 1);
        MPI_Iallgather(q->ghdr, 2, MPI_INT64_T, q->gall, 2, MPI_INT64_T, q->comm, &q->greq);
        q->gstage = 1;
        *moved = 1;
    }
    int done = 0;
    MPI_Test(&q->greq, &done, MPI_STATUS_IGNORE);
    if (!done)
        return BF_OK;
    *moved = 1;
    if (q->gstage == 1) { /* the counts: any rank failed? then the times */
        int64_t total = 0, stop = 0;
        for (int r = 0; r < q->size; r++) {
            stop |= q->gall[2 * r];
            q->gcnts[r] = (int)q->gall[2 * r + 1];
            q->gdsp[r] = (int)total;
            total += q->gall[2 * r + 1];
        }
        if (stop || total > INT32_MAX) { /* the same on every rank */
            q->gstage = 3;
            guess_stop(s);
            return BF_OK;
        }
        q->gtimes = malloc((size_t)(total ? total : 1) * sizeof *q->gtimes);
        if (!q->gtimes)
            MPI_Abort(MPI_COMM_WORLD, 1);
        MPI_Iallgatherv(q->mine, (int)q->ghdr[1], MPI_INT64_T, q->gtimes, q->gcnts, q->gdsp,
                        MPI_INT64_T, q->comm, &q->greq);
        q->gstage = 2;
        return BF_OK;
    }
    /* every rank's times: the same union and boundaries on every rank */
    q->gstage = 3;
    int64_t val = 0, test = 0, *uni = NULL, nuni = 0, ucap = 0, *scratch = NULL, scap = 0;
    int ok = 1;
    for (int r = 0; ok && r < q->size; r++)
        ok = bf_times_union(&uni, &nuni, &ucap, &scratch, &scap, q->gtimes + q->gdsp[r],
                            q->gcnts[r]) == BF_OK;
    free(scratch);
    if (!ok) /* out of memory here only: the others would split under a guess */
        MPI_Abort(MPI_COMM_WORLD, 1);
    ok = nuni > 0 && bf_split_boundaries(&s->split, uni, nuni, &val, &test) == BF_OK;
    free(uni);
    q->t_guess = bf_now() - q->t_guess;
    if (!ok) {
        guess_stop(s);
        return BF_OK;
    }
    m->stream_val = val;
    m->stream_test = test;
    __atomic_store_n(&m->stream_guess, 1, __ATOMIC_RELEASE);
    return BF_OK;
}

/* the local symbols split since the last call: their counts into the
 * table and to every other rank. Symbols handed over before the guess are
 * processed here first. */
static bf_status pipe_counts(bf_stream *s, int *moved)
{
    pipe_state *q = s->pipe;
    int64_t *b = NULL, nb = 0;
    bf_status st = BF_OK;
    pthread_mutex_lock(&s->mu);
    while (st == BF_OK && !s->failed && s->m->stream_guess && q->sent < s->p->nloc &&
           s->ready[q->sent]) {
        bf_stream_slot *sl = s->ready[q->sent];
        pthread_mutex_unlock(&s->mu);
        if (sl != &g_empty && !sl->processed)
            st = process(s, sl);
        int64_t g = bf_plan_sym(s->p, q->sent);
        const int64_t zero[3] = {0, 0, 0}, *c = sl != &g_empty ? sl->cnt : zero;
        int64_t *b2 = st == BF_OK ? realloc(b, (size_t)(nb + 4) * sizeof *b) : NULL;
        if (st == BF_OK && !b2)
            st = BF_FAIL(BF_ENOMEM, "out of memory for the pipelined stream's counts");
        if (st == BF_OK) {
            b = b2;
            b[nb] = g;
            memcpy(b + nb + 1, c, 3 * sizeof *c);
            nb += 4;
            memcpy(q->gcnt + 3 * g, c, 3 * sizeof *c);
            q->gknown[g] = 1;
        }
        pthread_mutex_lock(&s->mu);
        if (st == BF_OK) {
            q->sent++;
            *moved = 1;
        }
    }
    pthread_mutex_unlock(&s->mu);
    for (int r = 0; r < q->size && st == BF_OK && nb; r++) {
        if (r == q->rank)
            continue;
        int64_t *c = malloc((size_t)nb * sizeof *c);
        BF_CHECK_ALLOC(c, (size_t)nb * sizeof *c);
        memcpy(c, b, (size_t)nb * sizeof *c);
        st = pipe_send(q, r, TAG_COUNTS, c, nb);
    }
    free(b);
    return st;
}

/* the local symbols that are placed, in order, once their rows lie in the
 * files' known chunks */
static bf_status pipe_write(bf_stream *s, int *moved)
{
    pipe_state *q = s->pipe;
    const bf_build_plan *p = s->p;
    bf_master_state *m = s->m;
    pthread_mutex_lock(&s->mu);
    while (!s->failed && s->next < q->sent && bf_plan_sym(p, s->next) < q->prefix) {
        bf_stream_slot *sl = s->ready[s->next];
        const int64_t *off = q->goff + 3 * bf_plan_sym(p, s->next);
        int ready = 1;
        for (int k = 0; k < 3 && sl != &g_empty; k++)
            if (sl->cnt[k] && off[k] + sl->cnt[k] > m->stream_sf[k].total)
                ready = 0;
        if (!ready)
            break;
        pthread_mutex_unlock(&s->mu);
        double t1 = bf_now();
        bf_status st = BF_OK;
        for (int k = 0; k < 3 && st == BF_OK && sl != &g_empty; k++)
            if (sl->cnt[k])
                st = bf_splitfile_pwrite(&m->stream_sf[k], off[k], sl->cnt[k],
                                         sl->X + sl->at[k] * p->F, sl->y + sl->at[k] * p->H,
                                         (int32_t)bf_plan_sym(p, sl->sym),
                                         sl->ts + sl->at[k]);
        pthread_mutex_lock(&s->mu);
        s->t_write += bf_now() - t1;
        if (st != BF_OK) {
            pthread_mutex_unlock(&s->mu);
            return st;
        }
        if (sl != &g_empty)
            sl->busy = 0;
        s->ready[s->next] = NULL;
        s->next++;
        *moved = 1;
        pthread_cond_broadcast(&s->cv);
        if (s->next == 1) /* crash tests: a rank dies after its first rows (mpirun ends the rest) */
            bf_ds_fault("master_pipelined_write");
    }
    pthread_mutex_unlock(&s->mu);
    return BF_OK;
}

int bf_stream_pump(bf_stream *s)
{
    pipe_state *q = s->pipe;
    if (!q || q->dead)
        return 0;
    int moved = 0;
    pipe_reap(q);
    bf_status st = pipe_receive(s, &moved);
    if (st != BF_OK)
        pipe_fail(s, st);
    if (q->stopped && !s->failed) { /* another rank stopped */
        pthread_mutex_lock(&s->mu);
        s->failed = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    /* every rank joins the guess once, a failed one too */
    st = pipe_guess(s, &moved);
    /* workers besides this thread find a symbol claimed for them */
    while (st == BF_OK && !s->failed && !q->exhausted && s->nworkers > 1 &&
           s->p->nloc - s->claimed < s->nworkers - 1)
        st = claim_one(s);
    if (st == BF_OK && !s->failed)
        st = pipe_counts(s, &moved);
    if (st == BF_OK && !s->failed) {
        pipe_advance(s, &moved);
        st = pipe_files(s, &moved);
    }
    if (st == BF_OK && !s->failed)
        st = pipe_write(s, &moved);
    if (st != BF_OK)
        pipe_fail(s, st);
    /* done (its symbols written, its files grown to the end and the others
     * told), or stopped: tell every rank, once */
    pthread_mutex_lock(&s->mu);
    int failed = s->failed;
    int done = q->exhausted && s->next == s->p->nloc && q->prefix == q->S;
    pthread_mutex_unlock(&s->mu);
    for (int k = 0; k < 3; k++) /* the others told of every row's chunk */
        if (q->owner[k] == q->rank && (q->told[k] < q->run[k] || q->told[k] < 0))
            done = 0;
    if (!q->done_sent && (failed || done)) {
        q->done_sent = 1;
        if (failed)
            q->stopped = 1;
        for (int r = 0; r < q->size; r++) {
            if (r == q->rank)
                continue;
            int64_t *b = malloc(sizeof *b);
            if (b)
                *b = failed;
            /* a lost DONE would leave that rank waiting: give up on MPI then */
            if (!b || pipe_send(q, r, TAG_DONE, b, 1) != BF_OK)
                MPI_Abort(MPI_COMM_WORLD, 1);
        }
        moved = 1;
    }
    return moved;
}

void bf_stream_pump_to_end(bf_stream *s)
{
    pipe_state *q = s->pipe;
    if (!q || q->dead)
        return;
    while (!(q->done_sent && q->ndone == q->size - 1 && q->gstage == 3))
        if (!bf_stream_pump(s))
            pause_briefly(q);
    BF_DEBUG("pipelined pass: %lld symbols claimed here, %lld messages taken in, %.1f ms "
             "waiting on other ranks; the guess %.1f ms after this rank's times were ready",
             (long long)s->p->nloc, (long long)q->n_msgs, 1e3 * q->t_wait, 1e3 * q->t_guess);
    /* every rank has taken in everything sent to it */
    for (int i = 0; i < q->nps; i++) {
        MPI_Wait(&q->ps[i].req, MPI_STATUS_IGNORE);
        free(q->ps[i].buf);
    }
    q->nps = 0;
}

static void pipe_free(pipe_state *q)
{
    if (!q || q == &g_dead_pipe)
        return;
    for (int i = 0; i < q->nps; i++) { /* only after a failure of MPI itself */
        MPI_Cancel(&q->ps[i].req);
        MPI_Request_free(&q->ps[i].req);
        free(q->ps[i].buf);
    }
    free(q->ps);
    if (q->win_ok == 2)
        MPI_Win_unlock_all(q->win);
    if (q->win_ok)
        MPI_Win_free(&q->win);
    if (q->comm != MPI_COMM_NULL)
        MPI_Comm_free(&q->comm);
    free(q->gcnt);
    free(q->gknown);
    free(q->goff);
    free(q->gall);
    free(q->mine);
    free(q->mscratch);
    free(q->gtimes);
    free(q->gcnts);
    free(q->gdsp);
    free(q);
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
    int64_t nloc = s->p->nloc;
    bf_status st = s->st;
    pipe_state *q = s->pipe;
    if (q) { /* stopped: no error of this rank's (the build is redone) */
        s->m->stream_stopped = q->stopped || s->failed;
        if (s->m->stream_stopped && st == BF_OK)
            s->next = nloc;
        memcpy(s->rows, q->run, sizeof s->rows);
    }
    if (st == BF_OK && s->next != nloc)
        st = BF_FAIL(BF_ERR, "the build's stream wrote %lld of %lld symbols", (long long)s->next,
                     (long long)nloc);
    else if (st != BF_OK && s->msg[0])
        st = BF_FAIL(st, "%s", s->msg);
    for (int k = 0; k < 3; k++)
        s->m->stream_rows[k] = s->rows[k];
    if (s->abandoned) /* the master build then takes two passes */
        s->m->stream_guess = 0;
    else if (st == BF_OK && !q)
        st = create_files(s); /* every file exists, if only empty */
    pipe_free(q);
    s->m->stage[BF_STAGE_WRITE] += s->t_write;
    s->m->stage[BF_STAGE_SCALE] += (double)s->scale_ns * 1e-9;
    for (int k = 0; k < s->nworkers * s->spw; k++) {
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
    const int multi = p->pipelined, rank = bf_mpi_rank(), size = bf_mpi_size();
    /* pipelined: each file's owner gathers the extents the others wrote (for
     * its CRC); their views close before the owners finish the files */
    for (int k = 0; k < 3 && multi && st == BF_OK; k++) {
        const int root = file_owner(k, size);
        bf_split_file *sf = &m->stream_sf[k];
        int64_t lost = rank != root && (sf->fd < 0 || sf->ext_lost), *lv = NULL, nl = 0;
        char *ev = NULL;
        int64_t nb = 0;
        st = bf_ds_gather_bytes(sf->ext,
                                rank == root || lost ? 0
                                                     : sf->n_ext * (int64_t)sizeof *sf->ext,
                                root, &ev, &nb);
        if (st == BF_OK)
            st = bf_ds_gather_i64(&lost, 1, root, &lv, &nl);
        for (int64_t r = 0; rank == root && st == BF_OK && r < nl; r++)
            lost |= lv[r];
        if (rank == root && st == BF_OK)
            st = bf_splitfile_add_extents(sf, (const bf_crc_extent *)ev,
                                          lost ? -1 : nb / (int64_t)sizeof *sf->ext);
        if (rank != root && st == BF_OK)
            st = bf_splitfile_close_direct(sf);
        free(ev);
        free(lv);
        st = bf_ds_agree(st); /* in step, whatever failed where */
    }
    if (multi && st == BF_OK)
        st = bf_barrier();
    for (int k = 0; st == BF_OK && k < (multi ? 3 : m->stream_open); k++) {
        if (multi && file_owner(k, size) != rank)
            continue;
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
    if (multi) { /* every rank: the checksums known from the writes */
        st = bf_ds_agree(st);
        for (int k = 0; k < 3 && st == BF_OK; k++) {
            int64_t c[3] = {m->files_crc_known[k], 0, m->files_bytes[k]};
            if (m->files_crc_known[k])
                c[1] = (int64_t)strtoul(m->files_crc[k], NULL, 16);
            st = bf_ds_bcast_i64(c, 3, file_owner(k, size));
            m->files_crc_known[k] = (int)c[0];
            bf_ds_hex32((uint32_t)c[1], m->files_crc[k]);
            m->files_bytes[k] = c[2];
        }
    }
    if (st == BF_OK)
        m->stream_open = 0;
    BF_TRY(st);
    /* the scalers: each written symbol's fit from pass 1, identity for the
     * dropped ones (as pass 2 would record them) */
    int64_t nloc = p->nloc;
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
        int owned = sf->growable; /* created here (other ranks' views are not) */
        if (sf->f >= 0)
            bf_h5_close(sf->f);
        sf->f = -1;
        bf_splitfile_close_direct(sf);
        if (owned)
            unlink(sf->path);
    }
    m->stream_open = 0;
}
