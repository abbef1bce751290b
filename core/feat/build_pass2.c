/* build_pass2.c - the master build's scaling and split-file writes, and the
 * global scaler's deterministic sample (see build_internal.h).
 *
 * Direct writes (the default; pass2_direct): rank 0 creates each split file
 * with all its chunks allocated, every rank pwrites its symbols' scaled rows
 * at offsets from the exclusive scans, kept symbols on threads. No rounds,
 * no write buffers, no collective transfer; the arrays are the same bytes.
 * The HDF5 path below remains for --compress (one rank) and for
 * --mpio collective under MPI.
 *
 * Collective rounds: each rank groups its symbols into batches whose rows fit
 * the write buffers; the number of rounds is the maximum over ranks, and in
 * every round every rank writes its batch (possibly 0 rows) to each split
 * file at offsets that continue its exclusive-scan start. Row order is thus
 * (sym_id, ts) in every split, whatever the number of ranks.
 */
#include "core/feat/build_internal.h"

#include "core/base/fsutil.h"
#include "core/base/log.h"
#include "core/base/rng.h"
#include "dist/mpi_env.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const bf_ds_files[BF_DS_NFILES] = {"train.h5", "val.h5", "test.h5", "scalers.h5",
                                               "symbols.h5"};
static const char *const g_split_names[3] = {"train", "val", "test"};

void bf_master_state_free(bf_master_state *m)
{
    /* rec has hi - lo entries; entries past a failed pass 1 are zero */
    bf_kept_release(m); /* the rows rec[i].X/y/ts point to */
    free(m->rec);
    free(m->times);
    if (m->spill)
        fclose(m->spill);
    bf_stream_discard(m); /* a failed one-pass build's files */
    free(m->median);
    free(m->iqr);
    free(m->spec_median);
    free(m->spec_iqr);
    free(m->n_fit);
    bf_sampler_free(&m->smp);
    memset(m, 0, sizeof *m);
}

void bf_build_set_counts(const bf_build_opts *o, bf_sym_rec *r, const int64_t raw[3],
                         bf_build_drops *d)
{
    int64_t c[3] = {raw[0], raw[1], raw[2]};
    d->rows_purged += r->n_rows - (c[0] + c[1] + c[2]);
    if (o->scaler == BF_SCALER_ROBUST_PER_SYMBOL && c[0] < 2 && c[0] + c[1] + c[2] > 0) {
        d->rows_no_train += c[0] + c[1] + c[2];
        c[0] = c[1] = c[2] = 0;
    }
    if (c[0] + c[1] + c[2] == 0)
        d->symbols_no_rows++;
    memcpy(r->cnt, c, sizeof c);
}

bf_status bf_build_make_tmpdir(const bf_build_opts *o, bf_master_state *m)
{
    bf_status st = BF_OK;
    if (bf_mpi_rank() == 0) {
        bf_ds_date(o->today, m->date);
        snprintf(m->tmpdir, sizeof m->tmpdir, "%s/v%s.tmp-%ld", o->datasets_root, m->date,
                 (long)getpid());
        st = bf_mkdir_p(o->datasets_root);
        if (st == BF_OK && mkdir(m->tmpdir, 0755) != 0)
            st = bf_fail_errno(__FILE__, __LINE__, "mkdir", "cannot create '%s'", m->tmpdir);
    }
    st = bf_ds_agree(st);
    if (st == BF_OK && bf_mpi_size() > 1)
        st = bf_bcast_bytes(m->tmpdir, (int64_t)sizeof m->tmpdir, 0);
    if (st != BF_OK)
        m->tmpdir[0] = 0;
    return st;
}

/* ---- bottom-K sampler ------------------------------------------------------------ */

static uint64_t row_hash(int32_t sym, int64_t ts)
{
    uint32_t out[4];
    bf_philox4x32(0x62617266ULL, (uint32_t)sym, (uint32_t)(uint64_t)ts,
                  (uint32_t)((uint64_t)ts >> 32), 0x5ca1e, out);
    return ((uint64_t)out[0] << 32) | out[1];
}

bf_status bf_sampler_init(bf_sampler *s, int64_t K, int F)
{
    memset(s, 0, sizeof *s);
    s->K = K;
    s->F = F;
    s->h = malloc((size_t)K * sizeof *s->h);
    s->sym = malloc((size_t)K * sizeof *s->sym);
    s->idx = malloc((size_t)K * sizeof *s->idx);
    s->heap = malloc((size_t)K * sizeof *s->heap);
    s->X = malloc((size_t)K * (size_t)F * sizeof *s->X);
    if (!s->h || !s->sym || !s->idx || !s->heap || !s->X) {
        bf_sampler_free(s);
        return BF_FAIL(BF_ENOMEM, "out of memory for a %lld-row scaler sample", (long long)K);
    }
    return BF_OK;
}

void bf_sampler_free(bf_sampler *s)
{
    free(s->h);
    free(s->sym);
    free(s->idx);
    free(s->heap);
    free(s->X);
    memset(s, 0, sizeof *s);
}

static int key_less(const bf_sampler *s, uint64_t h, int32_t sym, int64_t idx, int64_t slot)
{
    if (h != s->h[slot])
        return h < s->h[slot];
    if (sym != s->sym[slot])
        return sym < s->sym[slot];
    return idx < s->idx[slot];
}

static int slot_less(const bf_sampler *s, int64_t a, int64_t b)
{
    return key_less(s, s->h[a], s->sym[a], s->idx[a], b);
}

static void sift_down(bf_sampler *s, int64_t i)
{
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, big = i;
        if (l < s->n && slot_less(s, s->heap[big], s->heap[l]))
            big = l;
        if (r < s->n && slot_less(s, s->heap[big], s->heap[r]))
            big = r;
        if (big == i)
            return;
        int64_t t = s->heap[i];
        s->heap[i] = s->heap[big];
        s->heap[big] = t;
        i = big;
    }
}

void bf_sampler_offer_symbol(bf_sampler *s, int32_t sym, const float *X, const int64_t *sel,
                             const int64_t *ts, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint64_t h = row_hash(sym, ts[i]);
        int64_t slot;
        if (s->n < s->K) {
            slot = s->n;
            int64_t j = s->n++;
            s->h[slot] = h;
            s->sym[slot] = sym;
            s->idx[slot] = i;
            s->heap[j] = slot;
            while (j > 0) { /* sift up */
                int64_t parent = (j - 1) / 2;
                if (!slot_less(s, s->heap[parent], s->heap[j]))
                    break;
                int64_t t = s->heap[parent];
                s->heap[parent] = s->heap[j];
                s->heap[j] = t;
                j = parent;
            }
        } else {
            if (s->K == 0 || !key_less(s, h, sym, i, s->heap[0]))
                continue;
            slot = s->heap[0];
            s->h[slot] = h;
            s->sym[slot] = sym;
            s->idx[slot] = i;
            sift_down(s, 0);
        }
        memcpy(s->X + slot * s->F, X + (sel ? sel[i] : i) * s->F, (size_t)s->F * sizeof *X);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static const bf_sampler *g_sort_smp; /* qsort has no context argument in C11 */
static int cmp_slot_pos(const void *a, const void *b)
{
    const bf_sampler *s = g_sort_smp;
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    if (s->sym[x] != s->sym[y])
        return s->sym[x] < s->sym[y] ? -1 : 1;
    return s->idx[x] < s->idx[y] ? -1 : s->idx[x] > s->idx[y];
}

/* The K smallest hashes over all ranks' samples, restricted to train rows:
 * rank 0 fits the robust scaler on them and broadcasts it. */
bf_status bf_global_scaler_fit(const bf_build_plan *p, bf_master_state *m)
{
    bf_sampler *s = &m->smp;
    int F = p->F;
    int64_t *hall = NULL, nall = 0;
    uint64_t thr = UINT64_MAX;
    BF_TRY(bf_ds_gather_i64((const int64_t *)s->h, s->n, 0, &hall, &nall));
    if (bf_mpi_rank() == 0 && nall > s->K) {
        qsort(hall, (size_t)nall, sizeof *hall, cmp_u64);
        thr = (uint64_t)hall[s->K - 1];
    }
    free(hall);
    BF_TRY(bf_ds_bcast_i64((int64_t *)&thr, 1, 0));
    int64_t *sel = malloc((size_t)(s->n ? s->n : 1) * sizeof *sel), nsel = 0;
    BF_CHECK_ALLOC(sel, (size_t)s->n * sizeof *sel);
    for (int64_t k = 0; k < s->n; k++) {
        const bf_sym_rec *r = &m->rec[s->sym[k] - p->lo];
        if (s->h[k] <= thr && s->idx[k] < r->cnt[0])
            sel[nsel++] = k;
    }
    g_sort_smp = s;
    qsort(sel, (size_t)nsel, sizeof *sel, cmp_slot_pos);
    float *rows = malloc((size_t)(nsel ? nsel : 1) * (size_t)F * sizeof *rows);
    if (!rows) {
        free(sel);
        return BF_FAIL(BF_ENOMEM, "out of memory packing %lld sample rows", (long long)nsel);
    }
    for (int64_t k = 0; k < nsel; k++)
        memcpy(rows + k * F, s->X + sel[k] * F, (size_t)F * sizeof *rows);
    free(sel);
    char *all = NULL;
    int64_t nbytes = 0;
    bf_status st = bf_ds_gather_bytes(rows, nsel * F * (int64_t)sizeof(float), 0, &all, &nbytes);
    free(rows);
    bf_sampler_free(s);
    m->median = calloc((size_t)F, sizeof *m->median);
    m->iqr = calloc((size_t)F, sizeof *m->iqr);
    m->n_fit = calloc(1, sizeof *m->n_fit);
    if (st == BF_OK && (!m->median || !m->iqr || !m->n_fit))
        st = BF_FAIL(BF_ENOMEM, "out of memory for the global scaler");
    int64_t nz = 0;
    if (st == BF_OK && bf_mpi_rank() == 0) {
        int64_t n = nbytes / ((int64_t)sizeof(float) * F);
        bf_scaler sc;
        memset(&sc, 0, sizeof sc);
        if (n < 2)
            st = BF_FAIL(BF_EINVAL, "the global scaler's sample holds %lld train rows: too few "
                         "(more train rows or a larger sample are needed)", (long long)n);
        else
            st = bf_scaler_fit(&sc, (const float *)all, n, F);
        if (st == BF_OK) {
            memcpy(m->median, sc.median, (size_t)F * sizeof *m->median);
            memcpy(m->iqr, sc.iqr, (size_t)F * sizeof *m->iqr);
            m->n_fit[0] = n;
            nz = sc.n_zero_iqr;
        }
        bf_scaler_free(&sc);
    }
    free(all);
    st = bf_ds_agree(st);
    if (st != BF_OK)
        return st;
    if (bf_mpi_size() > 1) {
        BF_TRY(bf_bcast_bytes(m->median, F * (int64_t)sizeof(double), 0));
        BF_TRY(bf_bcast_bytes(m->iqr, F * (int64_t)sizeof(double), 0));
        BF_TRY(bf_ds_bcast_i64(m->n_fit, 1, 0));
        BF_TRY(bf_ds_bcast_i64(&nz, 1, 0));
    }
    m->n_zero_iqr = (int)nz;
    return BF_OK;
}

/* ---- pass 2 -------------------------------------------------------------------------- */

typedef struct wbuf {
    int64_t cap, n;
    float *X, *y;
    int32_t *sym;
    int64_t *ts;
} wbuf;

static bf_status wbuf_alloc(wbuf *b, int64_t cap, int F, int H)
{
    memset(b, 0, sizeof *b);
    b->cap = cap;
    size_t c = (size_t)(cap ? cap : 1);
    b->X = malloc(c * (size_t)F * sizeof *b->X);
    b->y = malloc(c * (size_t)H * sizeof *b->y);
    b->sym = malloc(c * sizeof *b->sym);
    b->ts = malloc(c * sizeof *b->ts);
    if (!b->X || !b->y || !b->sym || !b->ts)
        return BF_FAIL(BF_ENOMEM, "out of memory for a %lld-row write buffer", (long long)cap);
    return BF_OK;
}

static void wbuf_free(wbuf *b)
{
    free(b->X);
    free(b->y);
    free(b->sym);
    free(b->ts);
}

/* a symbol's rows kept from pass 1, as the feature-row view pass 2 writes */
static bf_feat_rows kept_rows(const bf_build_plan *p, const bf_sym_rec *r)
{
    bf_feat_rows k;
    memset(&k, 0, sizeof k);
    k.n = r->n_rows;
    k.F = p->F;
    k.H = p->H;
    k.X = r->X;
    k.y = r->y;
    k.ts_end = r->ts;
    return k;
}

/* Symbol li's scaler into its rows of m->median/iqr: pass 1's speculative
 * fit when it was made on the same leading train rows (then it is the same
 * fit), else a fit on X's first cnt[0] rows now. *view borrows m's rows. */
static bf_status symbol_scaler(const bf_build_plan *p, bf_master_state *m, int64_t li,
                               const float *X, int64_t *nz, bf_scaler *view)
{
    const bf_sym_rec *r = &m->rec[li];
    const int F = p->F;
    double *med = m->median + li * F, *iqr = m->iqr + li * F;
    if (m->spec_median && r->cnt[0] >= 2 && r->spec_cnt0 == r->cnt[0]) {
        memcpy(med, m->spec_median + li * F, (size_t)F * sizeof *med);
        memcpy(iqr, m->spec_iqr + li * F, (size_t)F * sizeof *iqr);
        *nz += r->spec_nz;
    } else {
        if (m->spec_median) /* a guess was possible but missed (or not made) */
            __atomic_fetch_add(&m->refits, 1, __ATOMIC_RELAXED);
        bf_scaler sc;
        memset(&sc, 0, sizeof sc);
        BF_TRY(bf_scaler_fit(&sc, X, r->cnt[0], F)); /* train rows lead */
        memcpy(med, sc.median, (size_t)F * sizeof *med);
        memcpy(iqr, sc.iqr, (size_t)F * sizeof *iqr);
        *nz += sc.n_zero_iqr;
        bf_scaler_free(&sc);
    }
    m->n_fit[li] = r->cnt[0];
    memset(view, 0, sizeof *view);
    view->F = F;
    view->median = med;
    view->iqr = iqr;
    return BF_OK;
}

/* Recompute one symbol, scale it, append its rows to the split buffers. */
static bf_status one_symbol(const bf_build_opts *o, const bf_build_plan *p, bf_master_state *m,
                            int64_t s, bf_sym_rows *w, int8_t **split, int64_t *split_cap,
                            const bf_scaler *global, wbuf *buf)
{
    bf_sym_rec *r = &m->rec[s - p->lo];
    if (r->cnt[0] + r->cnt[1] + r->cnt[2] == 0)
        return BF_OK;
    bf_feat_rows kept, *rows = &w->rows;
    if (r->X) { /* kept from pass 1 */
        kept = kept_rows(p, r);
        rows = &kept;
    } else {
        BF_TRY(bf_ds_load_symbol(o, p->syms[s], o->start, o->end, w, NULL, 0, m->stage));
    }
    int F = p->F, H = p->H;
    if (rows->n != r->n_rows)
        return BF_FAIL(BF_ERR, "%s: %lld rows in pass 2 but %lld in pass 1 (cache changed "
                       "during the build?)", p->syms[s], (long long)rows->n, (long long)r->n_rows);
    if (*split_cap < rows->n) {
        int8_t *ns = realloc(*split, (size_t)rows->n * 2);
        BF_CHECK_ALLOC(ns, (size_t)rows->n * 2);
        *split = ns;
        *split_cap = rows->n * 2;
    }
    bf_split_assign(rows->ts_end, rows->n, m->val_start, m->test_start, p->purge, *split);
    double t0 = bf_now();
    if (r->scaled) {
        /* kept rows already scaled by scale_kept() */
    } else if (global) {
        bf_scaler_apply(global, rows->X, rows->n);
    } else {
        bf_scaler sc;
        int64_t nz = 0;
        BF_TRY(symbol_scaler(p, m, s - p->lo, rows->X, &nz, &sc));
        m->n_zero_iqr += (int)nz;
        bf_scaler_apply(&sc, rows->X, rows->n);
    }
    m->stage[BF_STAGE_SCALE] += bf_now() - t0;
    int64_t got[3] = {0, 0, 0};
    for (int64_t i = 0; i < rows->n; i++) {
        int k = (*split)[i];
        if (k < 0)
            continue;
        wbuf *b = &buf[k];
        if (b->n >= b->cap)
            return BF_FAIL(BF_ERR, "%s: split %s overflows its planned buffer", p->syms[s],
                           g_split_names[k]);
        const float *x = rows->X + i * F;
        for (int j = 0; j < F; j++)
            if (!isfinite(x[j]))
                return BF_FAIL(BF_ENAN, "%s: feature %d of the row at %lld is not finite after "
                               "scaling", p->syms[s], j, (long long)rows->ts_end[i]);
        memcpy(b->X + b->n * F, x, (size_t)F * sizeof *x);
        memcpy(b->y + b->n * H, rows->y + i * H, (size_t)H * sizeof(float));
        b->sym[b->n] = (int32_t)s;
        b->ts[b->n] = rows->ts_end[i];
        b->n++;
        got[k]++;
    }
    for (int k = 0; k < 3; k++)
        if (got[k] != r->cnt[k])
            return BF_FAIL(BF_ERR, "%s: %lld %s rows in pass 2, %lld counted in pass 1",
                           p->syms[s], (long long)got[k], g_split_names[k], (long long)r->cnt[k]);
    if (r->X) { /* written (the arena is released at the end) */
        r->X = r->y = NULL;
        r->ts = NULL;
    }
    return BF_OK;
}

/* Keep the failure of the lowest symbol index seen so far (call inside an
 * OpenMP critical section: messages are per thread, so it is copied now). */
static void keep_first_failure(int64_t i, bf_status st, int64_t *first_bad, bf_status *bad_st,
                               char *msg, size_t n)
{
    if (i < *first_bad) {
        *first_bad = i;
        *bad_st = st;
        snprintf(msg, n, "%s", bf_last_error());
    }
}

/* Fit (per-symbol scaler) and apply the scaler to the kept rows of the
 * symbols [a, b) on OpenMP threads: symbols are independent and each one's
 * arithmetic is the same whatever thread does it, so the output does not
 * depend on the thread count. Threads per rank: the cores divided among the
 * ranks (assumed on one node), at least 1. A failure keeps the message of
 * the first failing symbol (messages are per thread). */
static bf_status scale_kept(const bf_build_plan *p, bf_master_state *m, int64_t a, int64_t b,
                            const bf_scaler *global)
{
    int nt = omp_get_max_threads(), per = omp_get_num_procs() / bf_mpi_size();
    nt = nt < per ? nt : per;
    nt = nt < 1 ? 1 : nt;
    int64_t first_bad = INT64_MAX, nz = 0;
    bf_status bad_st = BF_OK;
    char msg[1024] = "";
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) reduction(+ : nz)
    for (int64_t s = a; s < b; s++) {
        bf_sym_rec *r = &m->rec[s - p->lo];
        if (!r->X || r->cnt[0] + r->cnt[1] + r->cnt[2] == 0)
            continue;
        if (global) {
            bf_scaler_apply(global, r->X, r->n_rows);
        } else {
            bf_scaler sc;
            int64_t nz1 = 0;
            bf_status st = symbol_scaler(p, m, s - p->lo, r->X, &nz1, &sc);
            if (st == BF_OK && r->scaled) { /* scaled in pass 1 */
                nz += nz1;
                continue;
            }
            if (st != BF_OK) {
#pragma omp critical(bf_scale_kept_err)
                keep_first_failure(s, st, &first_bad, &bad_st, msg, sizeof msg);
                continue;
            }
            nz += nz1;
            bf_scaler_apply(&sc, r->X, r->n_rows);
        }
        r->scaled = 1;
    }
    m->n_zero_iqr += (int)nz;
    if (first_bad != INT64_MAX)
        return BF_FAIL(bad_st, "%s", msg);
    return BF_OK;
}

/* ---- pass 2, direct files ----------------------------------------------------------- */

int bf_build_threads(const bf_build_opts *o)
{
    int n = o->threads;
    if (n <= 0) /* the cores divided among the ranks (assumed on one node) */
        n = omp_get_num_procs() / bf_mpi_size();
    return n < 1 ? 1 : n;
}

/* Scale one symbol's rows in place unless pass 1 did (per-symbol: fit on
 * its leading train rows first), check them, and find where each split's
 * rows lie (at[k]; one run each, bf_split_runs). Touches only this symbol's
 * rows and scaler slots: symbols may run on threads at once, and each
 * symbol's arithmetic is the same on any thread. */
static bf_status prep_symbol(const bf_build_plan *p, bf_master_state *m, int64_t s,
                             bf_feat_rows *rows, const bf_scaler *global, int64_t *nz,
                             int64_t at[3], double *t_scale)
{
    const bf_sym_rec *r = &m->rec[s - p->lo];
    int F = p->F;
    int64_t n = rows->n;
    if (n != r->n_rows)
        return BF_FAIL(BF_ERR, "%s: %lld rows in pass 2 but %lld in pass 1 (cache changed "
                       "during the build?)", p->syms[s], (long long)n, (long long)r->n_rows);
    int64_t cnt[3];
    bf_split_runs(rows->ts_end, n, m->val_start, m->test_start, p->purge, at, cnt);
    for (int k = 0; k < 3; k++)
        if (cnt[k] != r->cnt[k])
            return BF_FAIL(BF_ERR, "%s: %lld %s rows in pass 2, %lld counted in pass 1",
                           p->syms[s], (long long)cnt[k], g_split_names[k],
                           (long long)r->cnt[k]);
    double t0 = bf_now();
    int64_t nan = 0; /* scaling clamps, so NaN is the only non-finite result */
    if (global) {
        nan = bf_scaler_apply_count_nan(global, rows->X, n);
    } else {
        bf_scaler sc;
        BF_TRY(symbol_scaler(p, m, s - p->lo, rows->X, nz, &sc));
        /* kept rows may be scaled already (pass 1) */
        nan = r->scaled && rows->X == r->X ? r->scaled_nan
                                            : bf_scaler_apply_count_nan(&sc, rows->X, n);
    }
    *t_scale += bf_now() - t0;
    for (int k = 0; k < 3 && nan > 0; k++) /* which written value is not finite */
        for (int64_t i = at[k]; i < at[k] + cnt[k]; i++)
            for (int j = 0; j < F; j++)
                if (!isfinite(rows->X[i * F + j]))
                    return BF_FAIL(BF_ENAN, "%s: feature %d of the row at %lld is not finite "
                                   "after scaling", p->syms[s], j, (long long)rows->ts_end[i]);
    return BF_OK;
}

/* pwrite symbol s's rows of split k (from row at) at row0 in that split's file */
static bf_status write_symbol_split(const bf_build_plan *p, const bf_master_state *m, int64_t s,
                                    const bf_feat_rows *rows, bf_split_file *sf, int k,
                                    int64_t at, int64_t row0)
{
    int64_t cnt = m->rec[s - p->lo].cnt[k];
    if (cnt == 0)
        return BF_OK;
    return bf_splitfile_pwrite(&sf[k], row0, cnt, rows->X + at * p->F, rows->y + at * p->H,
                               (int32_t)s, rows->ts_end + at);
}

static bf_status scale_write_symbol(const bf_build_plan *p, bf_master_state *m, int64_t s,
                                    bf_feat_rows *rows, const bf_scaler *global,
                                    bf_split_file *sf, const int64_t *row0, int64_t *nz,
                                    double *t_scale, double *t_write)
{
    int64_t at[3];
    BF_TRY(prep_symbol(p, m, s, rows, global, nz, at, t_scale));
    double t1 = bf_now();
    bf_status st = BF_OK;
    for (int k = 0; k < 3 && st == BF_OK; k++)
        st = write_symbol_split(p, m, s, rows, sf, k, at[k], row0[k]);
    *t_write += bf_now() - t1;
    return st;
}

/* Pass 2 into direct split files: no write buffers and no rounds, every
 * rank writes its rows where the exclusive scans put them. Kept symbols are
 * scaled and written on threads; the others are recomputed first on this
 * thread (HDF5 stays on it). */
static bf_status pass2_direct(const bf_build_opts *o, const bf_build_plan *p, bf_master_state *m,
                              const bf_scaler *global)
{
    int64_t nloc = p->hi - p->lo;
    double tw = bf_now();
    bf_split_file sf[3];
    bf_status st = BF_OK;
    int nopen = 0;
    for (int k = 0; k < 3 && st == BF_OK; k++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", m->tmpdir, bf_ds_files[k]);
        st = bf_splitfile_create_direct(&sf[k], path, m->total[k], p->F, p->H, g_split_names[k],
                                        &o->spec, p->target_index, (int)p->S);
        nopen = k + 1;
    }
    m->stage[BF_STAGE_WRITE] += bf_now() - tw;
    int64_t *row0 = malloc((size_t)(nloc ? nloc : 1) * 3 * sizeof *row0);
    if (!row0 && st == BF_OK)
        st = BF_FAIL(BF_ENOMEM, "out of memory for %lld symbols' row offsets", (long long)nloc);
    for (int64_t i = 0, acc[3] = {m->offset[0], m->offset[1], m->offset[2]};
         i < nloc && st == BF_OK; i++)
        for (int k = 0; k < 3; k++) {
            row0[3 * i + k] = acc[k];
            acc[k] += m->rec[i].cnt[k];
        }
    double t_scale = 0, t_write = 0;
    int64_t nz = 0;
    /* symbols not kept: read and computed again here (HDF5 on this thread) */
    bf_sym_rows w;
    memset(&w, 0, sizeof w);
    for (int64_t i = 0; i < nloc && st == BF_OK; i++) {
        bf_sym_rec *r = &m->rec[i];
        if (r->X || r->cnt[0] + r->cnt[1] + r->cnt[2] == 0)
            continue;
        st = bf_ds_load_symbol(o, p->syms[p->lo + i], o->start, o->end, &w, NULL, 0, m->stage);
        if (st == BF_OK)
            st = scale_write_symbol(p, m, p->lo + i, &w.rows, global, sf, row0 + 3 * i, &nz,
                                    &t_scale, &t_write);
    }
    bf_sym_rows_free(&w);
    /* kept symbols on threads; a failure keeps the first failing symbol's
     * message (messages are per thread) */
    double tk = bf_now(), ks = 0, kw = 0;
    int64_t first_bad = INT64_MAX;
    bf_status bad_st = BF_OK;
    char msg[1024] = "";
    if (st == BF_OK) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(bf_build_threads(o)) \
    reduction(+ : nz, ks, kw)
        for (int64_t i = 0; i < nloc; i++) {
            bf_sym_rec *r = &m->rec[i];
            if (!r->X || r->cnt[0] + r->cnt[1] + r->cnt[2] == 0)
                continue;
            bf_feat_rows kept = kept_rows(p, r);
            bf_status ss = scale_write_symbol(p, m, p->lo + i, &kept, global, sf, row0 + 3 * i,
                                              &nz, &ks, &kw);
            if (ss != BF_OK) {
#pragma omp critical(bf_pass2_direct_err)
                keep_first_failure(i, ss, &first_bad, &bad_st, msg, sizeof msg);
            }
        }
        if (first_bad != INT64_MAX)
            st = BF_FAIL(bad_st, "%s", msg);
    }
    /* thread seconds shared out over the region's wall time */
    double kwall = bf_now() - tk;
    if (ks + kw > 0) {
        t_scale += kwall * ks / (ks + kw);
        t_write += kwall * kw / (ks + kw);
    }
    m->stage[BF_STAGE_SCALE] += t_scale;
    m->stage[BF_STAGE_WRITE] += t_write;
    m->n_zero_iqr += (int)nz;
    free(row0);
    for (int k = 0; k < nopen; k++) {
        bf_status cs = bf_splitfile_close_direct(&sf[k]);
        st = st != BF_OK ? st : cs;
    }
    return bf_ds_agree(st);
}

bf_status bf_build_pass2(const bf_build_opts *o, const bf_build_plan *p, bf_master_state *m)
{
    int F = p->F, H = p->H;
    int64_t nloc = p->hi - p->lo;
    /* the HDF5 paths remain for compression (chunked, one rank) and for
     * collective MPI-IO (parallel file systems); everything else is direct */
    int direct = o->compress == 0 && !(bf_mpi_size() > 1 && o->mpio_collective) &&
                 bf_splitfile_direct_ok();
    int64_t row_bytes = (int64_t)(F + H) * 4 + 12;
    int64_t budget = o->write_buffer_bytes > 0 ? o->write_buffer_bytes : ((int64_t)16 << 20);
    int64_t max_rows = budget / row_bytes > 0 ? budget / row_bytes : 1;
    /* batches of consecutive symbols; a symbol larger than the budget gets its own */
    int64_t *bstart = malloc((size_t)(nloc + 1) * sizeof *bstart), nb = 0;
    BF_CHECK_ALLOC(bstart, (size_t)(nloc + 1) * sizeof *bstart);
    int64_t cap[3] = {0, 0, 0}, cur[3] = {0, 0, 0};
    for (int64_t i = 0; i < nloc; i++) {
        const int64_t *c = m->rec[i].cnt;
        if (nb == 0 || cur[0] + cur[1] + cur[2] + c[0] + c[1] + c[2] > max_rows) {
            bstart[nb++] = i;
            cur[0] = cur[1] = cur[2] = 0;
        }
        for (int k = 0; k < 3; k++) {
            cur[k] += c[k];
            cap[k] = cur[k] > cap[k] ? cur[k] : cap[k];
        }
    }
    bstart[nb] = nloc;
    int64_t rounds = nb;
    bf_status st = direct ? BF_OK : bf_allreduce_max_i64(&rounds, 1);
    wbuf buf[3];
    memset(buf, 0, sizeof buf);
    for (int k = 0; k < 3 && st == BF_OK && !direct; k++)
        st = wbuf_alloc(&buf[k], cap[k], F, H);
    if (st == BF_OK && o->scaler == BF_SCALER_ROBUST_PER_SYMBOL) {
        m->median = calloc((size_t)(nloc ? nloc : 1) * (size_t)F, sizeof *m->median);
        m->iqr = calloc((size_t)(nloc ? nloc : 1) * (size_t)F, sizeof *m->iqr);
        m->n_fit = calloc((size_t)(nloc ? nloc : 1), sizeof *m->n_fit);
        if (!m->median || !m->iqr || !m->n_fit)
            st = BF_FAIL(BF_ENOMEM, "out of memory for %lld per-symbol scalers", (long long)nloc);
        for (int64_t i = 0; st == BF_OK && i < nloc * F; i++)
            m->iqr[i] = 1.0; /* dropped symbols keep the identity */
    }
    /* rows that pass 1 scaled under boundaries that did not hold are
     * recomputed like the symbols that were not kept */
    for (int64_t i = 0; i < nloc; i++) {
        bf_sym_rec *r = &m->rec[i];
        if (r->scaled && r->spec_cnt0 != r->cnt[0]) {
            r->X = r->y = NULL;
            r->ts = NULL;
            r->scaled = 0;
        }
    }
    bf_scaler global;
    memset(&global, 0, sizeof global);
    if (st == BF_OK && o->scaler == BF_SCALER_ROBUST_GLOBAL) {
        st = bf_scaler_init(&global, F);
        if (st == BF_OK) {
            memcpy(global.median, m->median, (size_t)F * sizeof(double));
            memcpy(global.iqr, m->iqr, (size_t)F * sizeof(double));
        }
    }
    st = bf_ds_agree(st);
    if (st == BF_OK && direct) {
        st = pass2_direct(o, p, m, o->scaler == BF_SCALER_ROBUST_GLOBAL ? &global : NULL);
        free(bstart);
        bf_scaler_free(&global);
        return st;
    }
    double tw = bf_now();
    bf_split_file sf[3];
    int nopen = 0, par = bf_mpi_size() > 1;
    for (int k = 0; k < 3 && st == BF_OK; k++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", m->tmpdir, bf_ds_files[k]);
        st = bf_ds_agree(bf_splitfile_create(&sf[k], path, par, m->total[k], F, H, o->compress));
        sf[k].collective = o->mpio_collective;
        nopen = k + 1;
    }
    m->stage[BF_STAGE_WRITE] += bf_now() - tw;
    BF_DEBUG("write: %s %.3f s", "create", bf_now() - tw);
    int64_t off[3] = {m->offset[0], m->offset[1], m->offset[2]};
    bf_sym_rows w;
    memset(&w, 0, sizeof w);
    int8_t *split = NULL;
    int64_t split_cap = 0;
    bf_progress prog;
    bf_progress_start(&prog, "features + write (pass 2)", rounds);
    for (int64_t r = 0; r < rounds && st == BF_OK; r++) {
        for (int k = 0; k < 3; k++)
            buf[k].n = 0;
        if (r < nb) {
            double t0 = bf_now();
            st = scale_kept(p, m, p->lo + bstart[r], p->lo + bstart[r + 1],
                            o->scaler == BF_SCALER_ROBUST_GLOBAL ? &global : NULL);
            m->stage[BF_STAGE_SCALE] += bf_now() - t0;
        }
        if (r < nb)
            for (int64_t i = bstart[r]; i < bstart[r + 1] && st == BF_OK; i++)
                st = one_symbol(o, p, m, p->lo + i, &w, &split, &split_cap,
                                o->scaler == BF_SCALER_ROBUST_GLOBAL ? &global : NULL, buf);
        st = bf_ds_agree(st);
        tw = bf_now();
        for (int k = 0; k < 3 && st == BF_OK; k++) {
            st = bf_ds_agree(bf_splitfile_write(&sf[k], off[k], buf[k].n, buf[k].X, buf[k].y,
                                                buf[k].sym, buf[k].ts));
            off[k] += buf[k].n;
        }
        m->stage[BF_STAGE_WRITE] += bf_now() - tw;
        BF_DEBUG("write: %s %.3f s", "round", bf_now() - tw);
        bf_progress_update(&prog, r + 1);
    }
    bf_progress_end(&prog);
    tw = bf_now();
    for (int k = 0; k < nopen; k++) {
        if (st == BF_OK)
            st = bf_ds_agree(bf_splitfile_attrs(&sf[k], g_split_names[k], &o->spec,
                                                p->target_index, (int)p->S));
        bf_status cs = bf_splitfile_close(&sf[k]);
        if (st == BF_OK)
            st = cs;
    }
    m->stage[BF_STAGE_WRITE] += bf_now() - tw;
    BF_DEBUG("write: %s %.3f s", "attrs+close", bf_now() - tw);
    bf_sym_rows_free(&w);
    free(split);
    free(bstart);
    bf_scaler_free(&global);
    for (int k = 0; k < 3; k++)
        wbuf_free(&buf[k]);
    return bf_ds_agree(st);
}
