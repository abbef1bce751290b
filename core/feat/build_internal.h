/* build_internal.h - state shared by the master build's files
 * (dataset_build.c: passes 1 and counting; build_pass2.c: scaling and the
 * collective writes; build_publish.c: scalers/symbols files, meta.json and
 * publishing). Not a public API.
 */
#ifndef BF_BUILD_INTERNAL_H
#define BF_BUILD_INTERNAL_H

#include "core/feat/dataset_build.h"
#include "core/feat/dataset_io.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

/* The universe and this rank's share of it: local symbol i (0 <= i < nloc)
 * is sym_id bf_plan_sym(p, i). Two-pass builds own a contiguous range
 * [lo, hi); in pipelined one-pass builds under MPI the ranks claim symbols
 * one by one as they go (own lists them, in the order claimed, which is
 * sym_id order; nloc grows up to cap during pass 1; see build_stream.c). */
typedef struct bf_build_plan {
    char (*syms)[BF_SYMBOL_MAX]; /* sorted, unique; sym_id = index */
    int64_t S, lo, hi;           /* two passes: this rank owns sym_ids [lo, hi) */
    int64_t nloc, cap;           /* local symbols (pipelined: claimed so far) and at most */
    int64_t *own;                /* pipelined: the sym_ids claimed (cap of them) */
    int pipelined;
    int F, H, target_index, purge, max_horizon;
} bf_build_plan;

static inline int64_t bf_plan_sym(const bf_build_plan *p, int64_t i)
{
    return p->own ? p->own[i] : p->lo + i;
}

/* What pass 1 keeps per symbol (a few dozen bytes, whatever its length). */
typedef struct bf_sym_rec {
    int64_t n_rows;      /* rows that may be written (valid, finite) */
    int64_t spill_off;   /* first row in this rank's time spill (-1: kept, not spilled) */
    int64_t cnt[3];      /* rows per split after purge (0 when dropped) */
    int64_t first_ts, last_ts; /* first/last written-candidate row time */
    int64_t first_bar_ts, last_bar_ts; /* starts of the first/last bar used */
    int32_t provider;    /* index into opts->providers, -1 = none */
    int32_t scaled;      /* the kept rows X are scaled already (pass 1: with the
                            speculative fit; valid while spec_cnt0 == cnt[0]) */
    int64_t scaled_nan;  /* NaN values among them */
    int64_t spec_cnt0;   /* leading train rows of the speculative fit (-1: none) */
    int64_t stream_cnt[3]; /* rows streamed per split (one-pass builds) */
    int64_t stream_raw[3]; /* the same before the per-symbol scaler's rule */
    int32_t stream_split;  /* stream_raw is set */
    int32_t spec_nz;     /* its zero-IQR features */
    /* pass-1 rows kept in memory (NULL: recompute in pass 2) */
    float *X, *y;
    int64_t *ts;
} bf_sym_rec;

/* Bottom-K sample by a hash of (sym_id, ts): the same rows are chosen
 * whatever the number of ranks. Slots hold rows; the heap orders slots. */
typedef struct bf_sampler {
    int64_t K, n;
    int F;
    uint64_t *h;
    int32_t *sym;
    int64_t *idx;   /* row index within the symbol's written-candidate rows */
    float *X;       /* K x F */
    int64_t *heap;  /* slot ids, max-heap on (h, sym, idx) */
} bf_sampler;

typedef struct bf_master_state {
    char tmpdir[4096];
    char date[16];             /* YYYY-MM-DD of the version name (rank 0) */
    char spill_path[4200];
    FILE *spill;               /* pass 1 -> count_rows: row times of symbols not kept */
    bf_sym_rec *rec;           /* hi - lo */
    int64_t n_rec;
    int64_t *times, ntimes;    /* local distinct row times (sorted) */
    int64_t kept_bytes;        /* pass-1 rows held in memory */
    int64_t kept_symbols;
    int64_t n_times;           /* global distinct row times */
    int64_t val_start, test_start;
    int64_t rank_rows[3], offset[3], total[3];
    bf_sampler smp;
    double *median, *iqr;      /* per-symbol: (hi-lo) x F; global: F */
    double *spec_median, *spec_iqr; /* per-symbol speculative fits ((hi-lo) x F; see pass 1) */
    int64_t *n_fit;            /* per-symbol: hi-lo; global: 1 */
    int n_zero_iqr;
    int64_t refits;            /* per-symbol fits redone in pass 2 (this rank's) */
    bf_build_drops drops;      /* this rank's */
    double stage[BF_STAGE_COUNT];
    char files_crc[5][9];
    int64_t files_bytes[5];
    int files_crc_known[5];    /* set before the commit (one-pass split files) */
    struct bf_kept_chunk *kept_arena; /* pass-1 rows kept for pass 2 (bump allocated) */
    /* one-pass builds (build_stream.c): the split files written in pass 1 */
    bf_split_file stream_sf[3];
    int streaming;             /* a one-pass build is under way (build_stream.c) */
    int stream_open;           /* its split files created so far */
    int64_t stream_rows[3];    /* rows written per split */
    int64_t stream_val, stream_test; /* the boundaries they were written under */
    int stream_guess;          /* 1 once those are fixed */
    int stream_stopped;        /* a pipelined stream (several ranks) did not
                                  complete: the build is redone in two passes */
} bf_master_state;

/* Memory for kept rows: large anonymous mappings advised to use huge pages,
 * bump allocated and released all at once (fresh 4 KiB pages cost a fault
 * and a clear each; kept rows are written once and read once). NULL when
 * out of memory. */
void *bf_kept_alloc(bf_master_state *m, size_t bytes);
void bf_kept_release(bf_master_state *m);

bf_status bf_build_validate(const bf_build_opts *o, bf_build_plan *p);
/* *a (sorted, distinct; *na of them, room for *cap) becomes its union with
 * b (sorted, distinct); *scratch (room for *scap) is swapped in. The caller
 * frees both arrays. */
bf_status bf_times_union(int64_t **a, int64_t *na, int64_t *cap, int64_t **scratch,
                         int64_t *scap, const int64_t *b, int64_t nb);
void bf_build_plan_free(bf_build_plan *p);
void bf_master_state_free(bf_master_state *m);

/* r->cnt from the rows per split (bf_split_runs' counts) of r->n_rows rows
 * (the rest are purged); applies the per-symbol scaler rule (< 2 train
 * rows: the symbol's rows are dropped) and counts the drops */
void bf_build_set_counts(const bf_build_opts *o, bf_sym_rec *r, const int64_t raw[3],
                         bf_build_drops *d);

bf_status bf_build_make_tmpdir(const bf_build_opts *o, bf_master_state *m);

bf_status bf_sampler_init(bf_sampler *s, int64_t K, int F);
/* rows i < n of a symbol's written-candidate rows: X row sel[i] (sel NULL:
 * row i), time ts[i] */
void bf_sampler_offer_symbol(bf_sampler *s, int32_t sym, const float *X, const int64_t *sel,
                             const int64_t *ts, int64_t n);
void bf_sampler_free(bf_sampler *s);
bf_status bf_global_scaler_fit(const bf_build_plan *p, bf_master_state *m);

/* threads per rank for the build: opts->threads, or the node's cores divided
 * among the ranks; at least 1 */
int bf_build_threads(const bf_build_opts *o);

bf_status bf_build_pass2(const bf_build_opts *o, const bf_build_plan *p, bf_master_state *m);
/* This rank's share of the fsyncs of the version directory's first nfiles
 * files (bf_ds_files order; file k by rank k % ranks) on a thread: the
 * disk writes back while the build goes on (the split files from the end
 * of a one-pass pass 1; every file at the commit, while the checksums are
 * computed). start returns 0 when no thread could be started (run then
 * does it inline); after join, st and msg hold the first failure. */
typedef struct bf_fsync_job {
    const bf_master_state *m;
    int nfiles, threaded;
    pthread_t th;
    bf_status st;
    char msg[1024];
} bf_fsync_job;
int bf_build_fsync_start(bf_fsync_job *j, const bf_master_state *m, int nfiles);
void *bf_build_fsync_run(void *job);
void bf_build_fsync_join(bf_fsync_job *j);
bf_status bf_build_write_side_files(const bf_build_opts *o, const bf_build_plan *p,
                                    bf_master_state *m);
bf_status bf_build_publish(const bf_build_opts *o, const bf_build_plan *p, bf_master_state *m,
                           bf_build_result *res);
bf_status bf_build_finish_result(const bf_build_plan *p, bf_master_state *m,
                                 bf_build_result *res, double t0);

/* ---- Streaming (build_stream.c) ----------------------------------------------
 * Per-symbol scaler, direct files: pass 1 writes each symbol's scaled rows
 * into the split files as symbols complete, under boundaries guessed from
 * the first symbols recorded; the master build then checks the guess
 * (bf_stream_finish when it held, else bf_stream_discard and the two-pass
 * path). A worker takes a slot before it claims a symbol, fills it (rows
 * scaled, their splits counted) and submits it. One rank: whoever completes
 * the next symbol in order writes the ready ones. Several ranks (pipelined):
 * the main thread writes this rank's symbols once the counts before them
 * are known (bf_stream_pump). */
typedef struct bf_stream bf_stream;
typedef struct bf_stream_slot {
    int busy, processed;
    int64_t sym;            /* index from lo */
    int64_t n, cap;         /* rows held, capacity */
    float *X, *y;           /* the symbol's rows that may be written (scaled once processed) */
    int64_t *ts;
    int64_t cnt[3], at[3];  /* rows per split and where they start */
} bf_stream_slot;
/* fixes m->stream_val/test/guess from the times recorded so far */
typedef void (*bf_stream_guess_fn)(void *ctx);
bf_status bf_stream_open(const bf_build_opts *o, bf_build_plan *p, bf_master_state *m,
                         pthread_mutex_t *h5mu, int nworkers, bf_stream_guess_fn guess_fn,
                         void *guess_ctx, bf_stream **out);
/* Several ranks (plan->pipelined): the stream is pipelined over the ranks
 * (build_stream.c). Every MPI call is made on the main thread: it pumps
 * (sends its symbols' counts, takes in the others' and the files' chunks,
 * writes what can be placed) between the steps of its symbols and while it
 * waits, and bf_stream_pump_to_end runs it until every rank is done.
 * Returns 1 when something moved. */
int bf_stream_pump(bf_stream *s);
void bf_stream_pump_to_end(bf_stream *s);
/* pipelined: the next local symbol for a worker (main: the calling thread),
 * claimed from the universe's shared counter; -1 when none is left (or the
 * stream stopped). The plan's own/nloc grow with the claims. */
int64_t bf_stream_claim(bf_stream *s, int main);

bf_stream_slot *bf_stream_slot_get(bf_stream *s, int worker); /* NULL once aborted */
bf_status bf_stream_slot_reserve(bf_stream_slot *sl, int64_t n, int F, int H);
/* symbol i recorded: sl holds its rows, unscaled (NULL: none to write).
 * The slot is processed (split, fitted, scaled) and written in symbol order
 * once the guess is fixed, after the first slots' worth of symbols. */
bf_status bf_stream_submit(bf_stream *s, int64_t i, bf_stream_slot *sl);
void bf_stream_release(bf_stream *s, bf_stream_slot *sl);
void bf_stream_abort(bf_stream *s);
/* after the workers: every symbol written? frees s; m->stream_rows set */
bf_status bf_stream_close(bf_stream *s);
/* the guess held: exact row counts, files closed, scalers from pass 1 */
bf_status bf_stream_finish(const bf_build_plan *p, bf_master_state *m);
/* it did not (or the build failed): the files are removed */
void bf_stream_discard(bf_master_state *m);

/* names of the files in a version directory, in checksum order */
#define BF_DS_NFILES 5
extern const char *const bf_ds_files[BF_DS_NFILES];

#endif
