#define _GNU_SOURCE
/* dataset_io.c - see dataset_io.h. */
#include "core/feat/dataset_io.h"

#include "core/feat/dataset_crc.h"

#include "core/base/fsutil.h"
#include "core/base/h5.h"
#include "core/base/log.h"
#include "core/base/timeutil.h"
#include "core/data/cache.h"
#include "dist/mpi_env.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- collectives ------------------------------------------------------------ */

bf_status bf_ds_agree(bf_status local)
{
    if (bf_mpi_size() == 1)
        return local;
    int mine = local != BF_OK ? bf_mpi_rank() : INT_MAX, first = INT_MAX;
    if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS)
        return BF_FAIL(BF_EMPI, "MPI_Allreduce failed while agreeing on a status");
    if (first == INT_MAX)
        return BF_OK;
    struct {
        int st;
        char msg[1800];
    } m;
    memset(&m, 0, sizeof m);
    if (bf_mpi_rank() == first) {
        m.st = (int)local;
        snprintf(m.msg, sizeof m.msg, "%s", bf_last_error());
    }
    if (MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, first, MPI_COMM_WORLD) != MPI_SUCCESS)
        return BF_FAIL(BF_EMPI, "MPI_Bcast failed while agreeing on a status");
    if (bf_mpi_rank() == first)
        return local;
    return BF_FAIL((bf_status)m.st, "rank %d failed: %s", first, m.msg);
}

static bf_status gather(const void *v, int64_t n, MPI_Datatype t, size_t esz, int root,
                        void **out, int64_t *nout)
{
    *out = NULL;
    *nout = 0;
    int size = bf_mpi_size(), rank = bf_mpi_rank();
    if (n > INT_MAX)
        return BF_FAIL(BF_EINVAL, "gather of %lld elements exceeds MPI's int counts", (long long)n);
    if (size == 1) {
        void *buf = malloc(n ? (size_t)n * esz : 1);
        BF_CHECK_ALLOC(buf, n * esz);
        if (n)
            memcpy(buf, v, (size_t)n * esz);
        *out = buf;
        *nout = n;
        return BF_OK;
    }
    int cnt = (int)n;
    int *counts = rank == root ? calloc((size_t)size, sizeof *counts) : NULL;
    int *displs = rank == root ? calloc((size_t)size, sizeof *displs) : NULL;
    if (rank == root && (!counts || !displs)) {
        free(counts);
        free(displs);
        return BF_FAIL(BF_ENOMEM, "out of memory for gather counts");
    }
    if (MPI_Gather(&cnt, 1, MPI_INT, counts, 1, MPI_INT, root, MPI_COMM_WORLD) != MPI_SUCCESS) {
        free(counts);
        free(displs);
        return BF_FAIL(BF_EMPI, "MPI_Gather of counts failed");
    }
    void *buf = NULL;
    int64_t total = 0;
    if (rank == root) {
        for (int r = 0; r < size; r++) {
            if (total > INT_MAX) {
                free(counts);
                free(displs);
                return BF_FAIL(BF_EINVAL, "gather of %lld elements exceeds MPI's int counts",
                               (long long)total);
            }
            displs[r] = (int)total;
            total += counts[r];
        }
        buf = malloc(total ? (size_t)total * esz : 1);
        if (!buf) {
            free(counts);
            free(displs);
            return BF_FAIL(BF_ENOMEM, "out of memory gathering %lld elements", (long long)total);
        }
    }
    int rc = MPI_Gatherv(v, cnt, t, buf, counts, displs, t, root, MPI_COMM_WORLD);
    free(counts);
    free(displs);
    if (rc != MPI_SUCCESS) {
        free(buf);
        return BF_FAIL(BF_EMPI, "MPI_Gatherv failed");
    }
    *out = buf;
    *nout = total;
    return BF_OK;
}

bf_status bf_ds_gather_i64(const int64_t *v, int64_t n, int root, int64_t **out, int64_t *nout)
{
    void *p;
    bf_status st = gather(v, n, MPI_INT64_T, sizeof(int64_t), root, &p, nout);
    *out = p;
    return st;
}

bf_status bf_ds_gather_bytes(const void *v, int64_t n, int root, char **out, int64_t *nout)
{
    void *p;
    bf_status st = gather(v, n, MPI_BYTE, 1, root, &p, nout);
    *out = p;
    return st;
}

bf_status bf_ds_bcast_i64(int64_t *v, int64_t n, int root)
{
    if (bf_mpi_size() == 1)
        return BF_OK;
    return bf_bcast_bytes(v, n * (int64_t)sizeof *v, root);
}

/* ---- one symbol -------------------------------------------------------------- */

void bf_sym_rows_free(bf_sym_rows *w)
{
    bf_feat_rows_free(&w->rows);
    free(w->sel);
    free(w->sel_ts);
    memset(w, 0, sizeof *w);
}

void bf_build_count_drops(bf_build_drops *d, const bf_sym_rows *w)
{
    d->bars_nonfinite += w->clean.nonfinite;
    d->bars_nonpositive += w->clean.nonpositive_price;
    d->bars_negative_volume += w->clean.negative_volume;
    d->bars_duplicate_ts += w->clean.duplicate_ts;
    d->bars_hl_inconsistent += w->clean.hl_inconsistent;
    d->rows_warmup += w->warmup;
    d->rows_no_label += w->no_label;
    d->rows_nonfinite += w->nonfinite + w->rows.n_nonfinite;
}

/* "a..b, c..d" for the parts of [a, b) the covered ranges lack; their count */
static int uncovered(const int64_t *rg, int nr, int64_t a, int64_t b, char *out, size_t n)
{
    int64_t gaps[16];
    int ng = bf_ranges_missing(rg, nr, a, b, gaps, 8);
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < ng && i < 8 && len < n; i++) {
        char d0[24], d1[24];
        bf_time_format(gaps[2 * i], d0, sizeof d0);
        bf_time_format(gaps[2 * i + 1], d1, sizeof d1);
        len += (size_t)snprintf(out + len, n - len, "%s%s..%s", i ? ", " : "", d0, d1);
    }
    if (ng > 8 && len < n)
        snprintf(out + len, n - len, ", and %d more", ng - 8);
    return ng;
}

/* Lists in w->sel (and their times in w->sel_ts) the rows that may be
 * written: valid, and every value finite (features.c guarantees that for
 * valid rows; checked, not assumed). Counts the others: warm-up before the
 * first valid row, no label after it, non-finite. */
static bf_status select_rows(bf_sym_rows *w)
{
    bf_feat_rows *r = &w->rows;
    if (w->sel_cap < r->n) {
        int64_t c = r->n + r->n / 8 + 64; /* slack, as for the rows */
        int64_t *a = realloc(w->sel, (size_t)c * sizeof *a);
        if (a)
            w->sel = a;
        int64_t *t = a ? realloc(w->sel_ts, (size_t)c * sizeof *t) : NULL;
        if (t)
            w->sel_ts = t;
        if (!a || !t)
            return BF_FAIL(BF_ENOMEM, "out of memory listing %lld rows", (long long)c);
        w->sel_cap = c;
    }
    const int F = r->F, H = r->H;
    int64_t k = 0;
    int seen = 0;
    for (int64_t i = 0; i < r->n; i++) {
        if (!r->valid[i]) {
            if (!seen)
                w->warmup++;
            else
                w->no_label++;
            continue;
        }
        seen = 1;
        if (!bf_row_finite(r->X + i * F, F) || !bf_row_finite(r->y + i * H, H)) {
            w->nonfinite++;
            continue;
        }
        w->sel[k] = i;
        w->sel_ts[k] = r->ts_end[i];
        k++;
    }
    w->n_sel = k;
    return BF_OK;
}

/* keep only the selected rows, in place */
static bf_status compact(bf_sym_rows *w)
{
    BF_TRY(select_rows(w));
    bf_feat_rows *r = &w->rows;
    const int F = r->F, H = r->H;
    for (int64_t k = 0; k < w->n_sel; k++) {
        int64_t i = w->sel[k];
        if (k != i) {
            memmove(r->X + k * F, r->X + i * F, (size_t)F * sizeof *r->X);
            memmove(r->y + k * H, r->y + i * H, (size_t)H * sizeof *r->y);
            r->ts_end[k] = r->ts_end[i];
        }
        r->valid[k] = 1;
    }
    r->n = w->n_sel;
    w->n_sel = 0; /* the list described the rows before the move */
    return BF_OK;
}

bf_status bf_ds_read_symbol(const bf_build_opts *o, const char *sym, int64_t start, int64_t end,
                            bf_bars *b, int *provider, char *missing, size_t missing_n,
                            double *stage_s)
{
    *provider = -1;
    if (missing && missing_n)
        missing[0] = 0;
    int base = o->spec.interval_s[0];
    double t0 = bf_now();
    /* the first provider in the lookup order whose cache has the symbol */
    int which = -1;
    bf_cache_loc loc = {o->cache_dir, NULL, base, o->spec.extended_hours, 1};
    for (int i = 0; i < o->n_providers && which < 0; i++) {
        char path[4200];
        loc.provider = o->providers[i];
        BF_TRY(bf_cache_loc_path(&loc, sym, path, sizeof path));
        if (bf_path_exists(path))
            which = i;
    }
    if (which < 0) {
        if (missing) {
            size_t len = (size_t)snprintf(missing, missing_n, "%s (no %s%s cache under %s for",
                                          sym, bf_interval_name(base),
                                          o->spec.extended_hours ? " extended-hours" : "",
                                          o->cache_dir);
            for (int i = 0; i < o->n_providers && len < missing_n; i++)
                len += (size_t)snprintf(missing + len, missing_n - len, "%s%s", i ? "," : " ",
                                        o->providers[i]);
            if (len < missing_n)
                snprintf(missing + len, missing_n - len, ")");
        }
        return BF_ENOTFOUND;
    }
    *provider = which;
    loc.provider = o->providers[which];
    snprintf(b->symbol, sizeof b->symbol, "%s", sym);
    b->interval_s = base;
    int64_t *rg = NULL;
    int nr = 0;
    bf_status st = bf_cache_load(&loc, sym, b, &rg, &nr);
    if (st == BF_OK && (start || end)) {
        int64_t a = start, e = end;
        if (!a) /* one side open: the cache's extent bounds it */
            a = nr ? rg[0] : e;
        if (!e)
            e = nr ? rg[2 * nr - 1] : a;
        char gaps[1024];
        if (uncovered(rg, nr, a, e, gaps, sizeof gaps) > 0) {
            if (missing)
                snprintf(missing, missing_n, "%s (%s: %s not cached)", sym, o->providers[which],
                         gaps);
            st = BF_ENOTFOUND;
        }
    }
    free(rg);
    if (st == BF_OK && (start || end)) {
        bf_bars sl;
        bf_bars_init(&sl, sym, base);
        st = bf_bars_slice(b, start ? start : INT64_MIN, end ? end : INT64_MAX, &sl);
        bf_bars_free(b);
        *b = sl;
    }
    if (st != BF_OK)
        bf_bars_clear(b);
    if (stage_s)
        stage_s[BF_STAGE_READ] += bf_now() - t0;
    return st;
}

/* w's counts and results reset; its buffers (reused across symbols) kept */
static void reset_keep_buffers(bf_sym_rows *w)
{
    bf_sym_rows keep = *w;
    memset(w, 0, sizeof *w);
    w->rows = keep.rows;
    w->sel = keep.sel;
    w->sel_ts = keep.sel_ts;
    w->sel_cap = keep.sel_cap;
}

/* the selected rows written to the caller's arrays (bf_ds_compute_symbol_into) */
typedef struct rows_into {
    float *X, *y;
    int64_t *ts;
} rows_into;

static bf_status feat_into(const bf_build_opts *o, const bf_bars *b, bf_sym_rows *w,
                           const rows_into *into)
{
    bf_feat_sel r;
    BF_TRY(bf_feat_build_symbol_sel(&o->spec, b, into->X, into->y, into->ts, &r));
    w->rows.n = 0;
    w->rows.n_nonfinite = r.n_overflow;
    w->n_sel = r.n;
    w->warmup = r.warmup;
    w->no_label = r.no_label;
    w->nonfinite = r.nonfinite;
    return BF_OK;
}

/* clean b, then its rows: into the caller's arrays (into), listed in w->sel
 * (sel), or compacted in w->rows */
static bf_status compute(const bf_build_opts *o, bf_bars *b, int provider, bf_sym_rows *w,
                         double *stage_s, int sel, const rows_into *into)
{
    reset_keep_buffers(w);
    w->provider = provider;
    double t1 = bf_now();
    bf_status st = bf_bars_clean(b, &w->clean);
    double t2 = bf_now();
    if (st == BF_OK) {
        w->n_bars = b->n;
        w->first_bar_ts = b->n ? b->ts[0] : 0;
        w->last_bar_ts = b->n ? b->ts[b->n - 1] : 0;
        if (into) {
            st = feat_into(o, b, w, into);
        } else {
            st = bf_feat_build_symbol(&o->spec, b, &w->rows);
            if (st == BF_OK)
                st = sel ? select_rows(w) : compact(w);
        }
    }
    double t3 = bf_now();
    if (stage_s) {
        stage_s[BF_STAGE_CLEAN] += t2 - t1;
        stage_s[BF_STAGE_FEATURES] += t3 - t2;
    }
    if (st != BF_OK) {
        w->rows.n = 0;
        w->n_sel = 0;
        return bf_fail_context(st, "symbol %s", b->symbol);
    }
    return BF_OK;
}

bf_status bf_ds_compute_symbol(const bf_build_opts *o, bf_bars *b, int provider, bf_sym_rows *w,
                               double *stage_s)
{
    return compute(o, b, provider, w, stage_s, 0, NULL);
}

bf_status bf_ds_compute_symbol_sel(const bf_build_opts *o, bf_bars *b, int provider,
                                   bf_sym_rows *w, double *stage_s)
{
    return compute(o, b, provider, w, stage_s, 1, NULL);
}

bf_status bf_ds_compute_symbol_into(const bf_build_opts *o, bf_bars *b, int provider,
                                    bf_sym_rows *w, float *X, float *y, int64_t *ts,
                                    double *stage_s)
{
    const rows_into into = {X, y, ts};
    return compute(o, b, provider, w, stage_s, 1, &into);
}

bf_status bf_ds_load_symbol(const bf_build_opts *o, const char *sym, int64_t start, int64_t end,
                            bf_sym_rows *w, char *missing, size_t missing_n, double *stage_s)
{
    reset_keep_buffers(w);
    w->provider = -1;
    bf_bars b;
    bf_bars_init(&b, sym, o->spec.interval_s[0]);
    int provider = -1;
    bf_status st = bf_ds_read_symbol(o, sym, start, end, &b, &provider, missing, missing_n,
                                     stage_s);
    if (st == BF_OK)
        st = bf_ds_compute_symbol(o, &b, provider, w, stage_s);
    else
        w->provider = provider;
    bf_bars_free(&b);
    return st;
}

/* ---- split files -------------------------------------------------------------- */

bf_status bf_splitfile_create(bf_split_file *sf, const char *path, int parallel, int64_t total,
                              int F, int H, int compress)
{
    memset(sf, 0, sizeof *sf);
    sf->f = -1;
    sf->parallel = parallel;
    sf->collective = 1;
    sf->F = F;
    sf->H = H;
    sf->total = total;
    BF_TRY(parallel ? bf_h5_create_parallel(path, &sf->f) : bf_h5_create(path, &sf->f));
    int c = parallel ? 0 : compress;
    BF_TRY(bf_h5_create_dataset(sf->f, "X", BF_H5_F32, total, F, 0, c));
    BF_TRY(bf_h5_create_dataset(sf->f, "y", BF_H5_F32, total, H, 0, c));
    BF_TRY(bf_h5_create_dataset(sf->f, "sym_id", BF_H5_I32, total, 1, 0, c));
    BF_TRY(bf_h5_create_dataset(sf->f, "ts", BF_H5_I64, total, 1, 0, c));
    return BF_OK;
}

bf_status bf_splitfile_write(bf_split_file *sf, int64_t row0, int64_t n, const float *X,
                             const float *y, const int32_t *sym, const int64_t *ts)
{
    int coll = sf->parallel && sf->collective;
    BF_TRY(bf_h5_write_rows(sf->f, "X", BF_H5_F32, row0, n, sf->F, X, coll));
    BF_TRY(bf_h5_write_rows(sf->f, "y", BF_H5_F32, row0, n, sf->H, y, coll));
    BF_TRY(bf_h5_write_rows(sf->f, "sym_id", BF_H5_I32, row0, n, 1, sym, coll));
    BF_TRY(bf_h5_write_rows(sf->f, "ts", BF_H5_I64, row0, n, 1, ts, coll));
    return BF_OK;
}

bf_status bf_splitfile_attrs(bf_split_file *sf, const char *split, const bf_feat_spec *spec,
                             int target_index, int n_symbols)
{
    int F = bf_feat_count(spec);
    size_t cap = (size_t)F * (BF_FEAT_NAME_MAX + 1) + 1;
    char *names = malloc(cap);
    BF_CHECK_ALLOC(names, cap);
    size_t len = 0;
    for (int i = 0; i < F; i++) {
        char nm[BF_FEAT_NAME_MAX];
        bf_feat_name(spec, i, nm);
        len += (size_t)snprintf(names + len, cap - len, "%s%s", i ? "," : "", nm);
    }
    char hz[128] = "", iv[128] = "";
    size_t hl = 0, il = 0;
    for (int i = 0; i < spec->n_horizons; i++)
        hl += (size_t)snprintf(hz + hl, sizeof hz - hl, "%s%d", i ? "," : "", spec->horizons[i]);
    for (int i = 0; i < spec->n_intervals; i++)
        il += (size_t)snprintf(iv + il, sizeof iv - il, "%s%s", i ? "," : "",
                               bf_interval_name(spec->interval_s[i]));
    bf_status st = bf_h5_attr_set_i64(sf->f, "/", "schema_version", BF_DATASET_SCHEMA_VERSION);
    if (st == BF_OK)
        st = bf_h5_attr_set_str(sf->f, "/", "split", split);
    if (st == BF_OK)
        st = bf_h5_attr_set_str(sf->f, "/", "feature_names", names);
    if (st == BF_OK)
        st = bf_h5_attr_set_str(sf->f, "/", "horizons", hz);
    if (st == BF_OK)
        st = bf_h5_attr_set_str(sf->f, "/", "intervals", iv);
    if (st == BF_OK)
        st = bf_h5_attr_set_i64(sf->f, "/", "target_index", target_index);
    if (st == BF_OK)
        st = bf_h5_attr_set_i64(sf->f, "/", "n_symbols", n_symbols);
    if (st == BF_OK)
        st = bf_h5_attr_set_i64(sf->f, "/", "rows", sf->total);
    if (st == BF_OK)
        st = bf_h5_attr_set_str(sf->f, "/X", "scaled", "robust: (x - median) / iqr, train rows only");
    if (st == BF_OK)
        st = bf_h5_attr_set_str(sf->f, "/y", "units", "log return over the horizon, base bars");
    if (st == BF_OK)
        st = bf_h5_attr_set_str(sf->f, "/ts", "units", "UTC seconds, end of the base bar");
    free(names);
    return st;
}

bf_status bf_splitfile_close(bf_split_file *sf)
{
    bf_status st = bf_h5_close(sf->f);
    sf->f = -1;
    return st;
}

/* ---- direct split files ---------------------------------------------------------- */

int bf_splitfile_direct_ok(void)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return 1;
#else
    return 0;
#endif
}

/* The file addresses of dataset d's chunks from sf->nchunks[d] up to nc
 * (allocated by HDF5: H5D_ALLOC_TIME_EARLY), appended to sf->addr[d];
 * row_bytes per row. */
static bf_status chunk_addrs(bf_split_file *sf, int d, hid_t ds, const char *name, int64_t nc,
                             int64_t row_bytes)
{
    const int64_t cr = sf->chunk_rows[d], old = sf->nchunks[d];
    if (nc <= old && sf->addr[d])
        return BF_OK;
    size_t c1 = (size_t)(nc > 0 ? nc : 1);
    int64_t *a = realloc(sf->addr[d], c1 * sizeof *a);
    if (a)
        sf->addr[d] = a;
    if (!a)
        return BF_FAIL(BF_ENOMEM, "out of memory for %lld chunk addresses", (long long)nc);
    for (int64_t c = old; c < nc; c++) {
        hsize_t at[2] = {(hsize_t)(c * cr), 0};
        unsigned mask = 0;
        haddr_t addr = HADDR_UNDEF;
        hsize_t size = 0;
        if (H5Dget_chunk_info_by_coord(ds, at, &mask, &addr, &size) < 0 || addr == HADDR_UNDEF ||
            size != (hsize_t)(cr * row_bytes))
            return BF_FAIL(BF_EIO, "chunk %lld of '%s' in '%s' was not allocated", (long long)c,
                           name, sf->path);
        sf->addr[d][c] = (int64_t)addr;
        sf->nchunks[d] = c + 1;
    }
    return BF_OK;
}

/* A chunked dataset shaped as bf_h5_create_dataset shapes it (rows x cols,
 * unlimited rows, ~1 MiB chunks, no fill) whose chunks are all allocated
 * now; their addresses go to sf->addr[d] for pwrite. */
static bf_status create_allocated(bf_split_file *sf, int d, const char *name, hid_t ftype,
                                  int64_t esize, int64_t rows, int64_t cols, int64_t rows_hint)
{
    int rank = cols == 1 ? 1 : 2;
    hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols}, maxd[2] = {H5S_UNLIMITED, (hsize_t)cols};
    int64_t cr = ((int64_t)1 << 20) / (cols * esize);
    cr = cr < 1 ? 1 : cr;
    if (rows_hint > 0 && cr > rows_hint)
        cr = rows_hint;
    hsize_t chunk[2] = {(hsize_t)cr, (hsize_t)cols};
    hid_t space = H5Screate_simple(rank, dims, maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, rank, chunk);
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    hid_t ds = H5Dcreate2(sf->f, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(space);
    if (ds < 0)
        return BF_FAIL(BF_EIO, "cannot create dataset '%s' in '%s' (disk full?)", name, sf->path);
    sf->chunk_rows[d] = cr;
    bf_status st = chunk_addrs(sf, d, ds, name, (rows + cr - 1) / cr, cols * esize);
    H5Dclose(ds);
    return st;
}

static const char *const g_sf_names[4] = {"X", "y", "sym_id", "ts"};

static void direct_init(bf_split_file *sf, const char *path, int F, int H, const char *split)
{
    memset(sf, 0, sizeof *sf);
    sf->f = -1;
    sf->fd = -1;
    sf->direct = 1;
    for (int d = 0; d < 4; d++)
        sf->last_ext[d] = -1;
    sf->F = F;
    sf->H = H;
    snprintf(sf->path, sizeof sf->path, "%s", path);
    snprintf(sf->split, sizeof sf->split, "%s", split);
}

bf_status bf_splitfile_create_direct(bf_split_file *sf, const char *path, int64_t total, int F,
                                     int H, const char *split, const bf_feat_spec *spec,
                                     int target_index, int n_symbols)
{
    direct_init(sf, path, F, H, split);
    sf->total = total;
    const hid_t types[4] = {H5T_IEEE_F32LE, H5T_IEEE_F32LE, H5T_STD_I32LE, H5T_STD_I64LE};
    const int64_t cols[4] = {F, H, 1, 1}, esize[4] = {4, 4, 4, 8};
    bf_status st = BF_OK;
    if (!bf_splitfile_direct_ok())
        st = BF_FAIL(BF_ERR, "direct split files need a little-endian host");
    if (st == BF_OK && bf_mpi_rank() == 0) {
        st = bf_h5_create(path, &sf->f);
        for (int d = 0; d < 4 && st == BF_OK; d++)
            st = create_allocated(sf, d, g_sf_names[d], types[d], esize[d], total, cols[d], total);
        if (st == BF_OK)
            st = bf_splitfile_attrs(sf, split, spec, target_index, n_symbols);
        if (sf->f >= 0) {
            bf_status cs = bf_h5_close(sf->f);
            st = st != BF_OK ? st : cs;
            sf->f = -1;
        }
    }
    st = bf_ds_agree(st);
    if (st == BF_OK && bf_mpi_size() > 1) {
        st = bf_ds_bcast_i64(sf->chunk_rows, 4, 0);
        if (st == BF_OK)
            st = bf_ds_bcast_i64(sf->nchunks, 4, 0);
        for (int d = 0; d < 4 && st == BF_OK; d++) {
            if (!sf->addr[d])
                sf->addr[d] = malloc((size_t)(sf->nchunks[d] ? sf->nchunks[d] : 1) * 8);
            st = sf->addr[d] ? BF_OK : BF_FAIL(BF_ENOMEM, "out of memory for chunk addresses");
            st = bf_ds_agree(st);
            if (st == BF_OK)
                st = bf_ds_bcast_i64(sf->addr[d], sf->nchunks[d], 0);
        }
    }
    if (st == BF_OK) {
        sf->fd = open(path, O_WRONLY | O_CLOEXEC);
        if (sf->fd < 0)
            st = bf_fail_errno(__FILE__, __LINE__, "open", "cannot open '%s' for writing", path);
    }
    st = bf_ds_agree(st);
    if (st != BF_OK)
        bf_splitfile_close_direct(sf);
    return st;
}

bf_status bf_splitfile_create_growable(bf_split_file *sf, const char *path, int64_t rows_hint,
                                       int F, int H, const char *split,
                                       const bf_feat_spec *spec, int target_index, int n_symbols)
{
    direct_init(sf, path, F, H, split);
    sf->growable = 1;
    sf->log_ext = 1;
    const hid_t types[4] = {H5T_IEEE_F32LE, H5T_IEEE_F32LE, H5T_STD_I32LE, H5T_STD_I64LE};
    const int64_t cols[4] = {F, H, 1, 1}, esize[4] = {4, 4, 4, 8};
    if (!bf_splitfile_direct_ok())
        return BF_FAIL(BF_ERR, "growable split files need a little-endian host");
    bf_status st = bf_h5_create(path, &sf->f);
    for (int d = 0; d < 4 && st == BF_OK; d++)
        st = create_allocated(sf, d, g_sf_names[d], types[d], esize[d], 0, cols[d], rows_hint);
    if (st == BF_OK)
        st = bf_splitfile_attrs(sf, split, spec, target_index, n_symbols);
    if (st == BF_OK) {
        sf->fd = open(path, O_WRONLY | O_CLOEXEC);
        if (sf->fd < 0)
            st = bf_fail_errno(__FILE__, __LINE__, "open", "cannot open '%s' for writing", path);
    }
    if (st != BF_OK) {
        if (sf->f >= 0)
            bf_h5_close(sf->f);
        sf->f = -1;
        bf_splitfile_close_direct(sf);
    }
    return st;
}

bf_status bf_splitfile_open_shadow(bf_split_file *sf, const char *path, int F, int H,
                                   const char *split)
{
    direct_init(sf, path, F, H, split);
    sf->log_ext = 1;
    sf->fd = open(path, O_WRONLY | O_CLOEXEC);
    if (sf->fd < 0)
        return bf_fail_errno(__FILE__, __LINE__, "open", "cannot open '%s' for writing", path);
    return BF_OK;
}

bf_status bf_splitfile_add_chunks(bf_split_file *sf, int d, int64_t chunk_rows, int64_t n,
                                  const int64_t *addrs)
{
    const int64_t old = sf->nchunks[d];
    if (chunk_rows < 1 || (old && chunk_rows != sf->chunk_rows[d]) || n < old)
        return BF_FAIL(BF_ERR, "'%s': inconsistent chunk table from the owner rank", sf->path);
    if (n == old)
        return BF_OK;
    int64_t *a = realloc(sf->addr[d], (size_t)n * sizeof *a);
    BF_CHECK_ALLOC(a, (size_t)n * sizeof *a);
    memcpy(a + old, addrs, (size_t)(n - old) * sizeof *a);
    sf->addr[d] = a;
    sf->chunk_rows[d] = chunk_rows;
    sf->nchunks[d] = n;
    return BF_OK;
}

/* dataset d of sf to extent `rows` (HDF5 allocates the chunks it newly
 * covers at once: H5D_ALLOC_TIME_EARLY); their addresses appended to
 * sf->addr[d] */
static bf_status set_extent(bf_split_file *sf, int d, int64_t rows)
{
    const int64_t cols[4] = {sf->F, sf->H, 1, 1}, esize[4] = {4, 4, 4, 8};
    hid_t ds = H5Dopen2(sf->f, g_sf_names[d], H5P_DEFAULT);
    hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols[d]};
    if (ds < 0 || H5Dset_extent(ds, dims) < 0) {
        if (ds >= 0)
            H5Dclose(ds);
        return BF_FAIL(BF_EIO, "cannot resize '%s' in '%s' to %lld rows (disk full?)",
                       g_sf_names[d], sf->path, (long long)rows);
    }
    const int64_t cr = sf->chunk_rows[d];
    bf_status st = chunk_addrs(sf, d, ds, g_sf_names[d], (rows + cr - 1) / cr,
                               cols[d] * esize[d]);
    H5Dclose(ds);
    return st;
}

int64_t bf_splitfile_capacity(const bf_split_file *sf)
{
    int64_t cap = INT64_MAX;
    for (int d = 0; d < 4; d++) {
        int64_t c = sf->nchunks[d] * sf->chunk_rows[d];
        cap = c < cap ? c : cap;
    }
    return cap;
}

bf_status bf_splitfile_grow(bf_split_file *sf, int64_t rows)
{
    /* a dataset is extended only when the rows run past its allocated
     * chunks, and only as far as the rows: shrinking one later would have
     * HDF5 rewrite its last chunk */
    for (int d = 0; d < 4; d++)
        if (rows > sf->nchunks[d] * sf->chunk_rows[d])
            BF_TRY(set_extent(sf, d, rows));
    if (rows > sf->total)
        sf->total = rows;
    return BF_OK;
}

/* CRC of bytes [a, b) of fd read back, continuing crc */
static bf_status crc_read(int fd, const char *path, int64_t a, int64_t b, unsigned char *buf,
                          size_t cap, uint32_t *crc)
{
    while (a < b) {
        size_t want = (size_t)(b - a) < cap ? (size_t)(b - a) : cap;
        ssize_t got = pread(fd, buf, want, (off_t)a);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return bf_fail_errno(__FILE__, __LINE__, "pread", "cannot read back '%s'", path);
        *crc = bf_ds_crc32(*crc, buf, (size_t)got);
        a += got;
    }
    return BF_OK;
}

/* CRC of bytes [a, b) of fd, continuing crc. The holes in it (the unwritten
 * tails of chunks, usually) are zeros by definition and are not read: the
 * file system says where data lies (SEEK_DATA / SEEK_HOLE; one without
 * holes reports the whole file as data), and only that is read back (the
 * holes' CRC is a shift of the register, bf_ds_crc32_zeros). */
static bf_status crc_gap(int fd, const char *path, int64_t a, int64_t b, unsigned char *buf,
                         size_t cap, uint32_t *crc)
{
    while (a < b) {
        off_t d = lseek(fd, (off_t)a, SEEK_DATA);
        if (d < 0 && errno != ENXIO) /* no SEEK_DATA here: all of it is read */
            return crc_read(fd, path, a, b, buf, cap, crc);
        int64_t z = d < 0 || d > b ? b : (int64_t)d; /* [a, z) is a hole */
        *crc = bf_ds_crc32_zeros(*crc, z - a);
        a = z;
        if (a >= b)
            break;
        off_t h = lseek(fd, (off_t)a, SEEK_HOLE);
        int64_t e = h < 0 || h > b ? b : (int64_t)h; /* [a, e) holds data */
        if (e <= a)
            e = b;
        BF_TRY(crc_read(fd, path, a, e, buf, cap, crc));
        a = e;
    }
    return BF_OK;
}

bf_status bf_splitfile_add_extents(bf_split_file *sf, const bf_crc_extent *e, int64_t n)
{
    if (n < 0) {
        sf->ext_lost = 1;
        return BF_OK;
    }
    if (sf->n_ext + n > sf->cap_ext) {
        int64_t c = (sf->n_ext + n) * 2;
        bf_crc_extent *x = realloc(sf->ext, (size_t)c * sizeof *x);
        BF_CHECK_ALLOC(x, (size_t)c * sizeof *x);
        sf->ext = x;
        sf->cap_ext = c;
    }
    memcpy(sf->ext + sf->n_ext, e, (size_t)n * sizeof *e);
    sf->n_ext += n;
    return BF_OK;
}

/* one write of len bytes at `at` into dataset d: continues d's last extent
 * or starts one */
static void log_extent(bf_split_file *sf, int d, int64_t at, const void *p, int64_t len)
{
    if (!sf->log_ext || sf->ext_lost)
        return;
    uint32_t c = bf_ds_crc32(0, p, (size_t)len);
    int64_t l = sf->last_ext[d];
    if (l >= 0 && sf->ext[l].at + sf->ext[l].len == at) {
        sf->ext[l].crc = bf_ds_crc32_combine(sf->ext[l].crc, c, len);
        sf->ext[l].len += len;
        return;
    }
    if (sf->n_ext == sf->cap_ext) {
        int64_t nc = sf->cap_ext ? 2 * sf->cap_ext : 64;
        bf_crc_extent *x = realloc(sf->ext, (size_t)nc * sizeof *x);
        if (!x) { /* the CRC is then read back at the commit */
            sf->ext_lost = 1;
            return;
        }
        sf->ext = x;
        sf->cap_ext = nc;
    }
    sf->ext[sf->n_ext] = (bf_crc_extent){at, len, c, 0};
    sf->last_ext[d] = sf->n_ext++;
}

static int cmp_extent(const void *a, const void *b)
{
    int64_t x = ((const bf_crc_extent *)a)->at, y = ((const bf_crc_extent *)b)->at;
    return x < y ? -1 : x > y;
}

/* The file's CRC-32 from the logged extents' CRCs and the bytes between
 * them (HDF5's metadata, unwritten chunk tails), read back. Nothing set
 * when the log is incomplete. */
static bf_status crc_from_extents(bf_split_file *sf)
{
    if (!sf->log_ext || sf->ext_lost)
        return BF_OK;
    const int64_t nr = sf->n_ext;
    bf_crc_extent *rg = sf->ext;
    const size_t cap = (size_t)1 << 20;
    unsigned char *buf = malloc(cap);
    int fd = open(sf->path, O_RDONLY | O_CLOEXEC);
    bf_status st = buf ? BF_OK : BF_FAIL(BF_ENOMEM, "out of memory checksumming '%s'", sf->path);
    if (st == BF_OK && fd < 0)
        st = bf_fail_errno(__FILE__, __LINE__, "open", "cannot read back '%s'", sf->path);
    struct stat sb;
    if (st == BF_OK && fstat(fd, &sb) != 0)
        st = bf_fail_errno(__FILE__, __LINE__, "fstat", "cannot stat '%s'", sf->path);
    if (st == BF_OK && nr > 1)
        qsort(rg, (size_t)nr, sizeof *rg, cmp_extent);
    uint32_t crc = 0;
    int64_t pos = 0, size = st == BF_OK ? (int64_t)sb.st_size : 0;
    for (int64_t i = 0; i < nr && st == BF_OK; i++) {
        if (rg[i].at < pos || rg[i].at + rg[i].len > size) {
            st = BF_FAIL(BF_ERR, "'%s': rows written at %lld overlap the bytes before them or "
                         "the end", sf->path, (long long)rg[i].at);
            break;
        }
        st = crc_gap(fd, sf->path, pos, rg[i].at, buf, cap, &crc);
        crc = bf_ds_crc32_combine(crc, rg[i].crc, rg[i].len);
        pos = rg[i].at + rg[i].len;
    }
    if (st == BF_OK)
        st = crc_gap(fd, sf->path, pos, size, buf, cap, &crc);
    if (st == BF_OK) {
        sf->file_crc = crc;
        sf->file_bytes = size;
        sf->crc_known = 1;
    }
    if (fd >= 0)
        close(fd);
    free(buf);
    return st;
}

bf_status bf_splitfile_finish(bf_split_file *sf, int64_t rows)
{
    bf_status st = rows > sf->total ? BF_FAIL(BF_ERR, "'%s': %lld rows finished, %lld grown",
                                              sf->path, (long long)rows, (long long)sf->total)
                                    : BF_OK;
    for (int d = 0; d < 4 && st == BF_OK; d++) /* never below an extent set before */
        st = set_extent(sf, d, rows);
    if (st == BF_OK)
        st = bf_h5_attr_set_i64(sf->f, "/", "rows", rows);
    sf->total = rows;
    bf_status cs = bf_h5_close(sf->f);
    sf->f = -1;
    st = st != BF_OK ? st : cs;
    if (st == BF_OK)
        st = crc_from_extents(sf);
    return st;
}

static bf_status pwrite_all(const bf_split_file *sf, const void *buf, size_t n, int64_t off)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(sf->fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return bf_fail_errno(__FILE__, __LINE__, "pwrite", "cannot write %zu bytes at %lld "
                                 "to '%s' (disk full?)", n, (long long)off, sf->path);
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return BF_OK;
}

#define WRITEBACK_EVERY ((int64_t)1 << 20)

/* rows [r, r+n) of dataset d from buf (rows of rb bytes): one pwrite per
 * stretch of chunks that lie back to back in the file */
static bf_status write_rows(bf_split_file *sf, int d, int64_t r, int64_t n,
                            const void *buf, int64_t rb)
{
    const char *p = buf;
    int64_t cr = sf->chunk_rows[d];
    while (n > 0) {
        int64_t c0 = r / cr, c = c0, end = (c0 + 1) * cr;
        while (end < r + n && c + 1 < sf->nchunks[d] &&
               sf->addr[d][c + 1] == sf->addr[d][c0] + (c + 1 - c0) * cr * rb) {
            c++;
            end += cr;
        }
        int64_t k = (end < r + n ? end : r + n) - r;
        int64_t at = sf->addr[d][c0] + (r - c0 * cr) * rb;
        BF_TRY(pwrite_all(sf, p, (size_t)(k * rb), at));
        log_extent(sf, d, at, p, k * rb);
        sf->unflushed += k * rb;
#ifdef SYNC_FILE_RANGE_WRITE
        /* start writing the file's dirty pages back every WRITEBACK_EVERY
         * bytes: the device works while the build computes, and the fsync
         * at the commit (the durability point; unchanged) finds less left
         * to do. The whole file's, in few large requests: starting each
         * write's own range (several small ones per symbol, their edge
         * pages shared with the next symbol's rows) had two ranks wait on
         * the block layer's writeback throttling and on each other's page
         * and inode locks, 5-15 ms of a 90 ms build (docs/perf.md). */
        if (sf->unflushed >= WRITEBACK_EVERY) {
            sync_file_range(sf->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
            sf->unflushed = 0;
        }
#endif
        p += k * rb;
        r += k;
        n -= k;
    }
    return BF_OK;
}

bf_status bf_splitfile_pwrite(bf_split_file *sf, int64_t row0, int64_t n, const float *X,
                              const float *y, int32_t sym, const int64_t *ts)
{
    if (n == 0)
        return BF_OK;
    if (row0 < 0 || n < 0 || row0 + n > sf->total || sf->fd < 0)
        return BF_FAIL(BF_ERR, "rows [%lld, %lld) do not fit '%s' (%lld rows)", (long long)row0,
                       (long long)(row0 + n), sf->path, (long long)sf->total);
    int32_t ids[4096];
    for (int i = 0; i < 4096; i++)
        ids[i] = sym;
    BF_TRY(write_rows(sf, 0, row0, n, X, (int64_t)sf->F * 4));
    BF_TRY(write_rows(sf, 1, row0, n, y, (int64_t)sf->H * 4));
    for (int64_t i = 0; i < n; i += 4096)
        BF_TRY(write_rows(sf, 2, row0 + i, n - i < 4096 ? n - i : 4096, ids, 4));
    return write_rows(sf, 3, row0, n, ts, 8);
}

bf_status bf_splitfile_close_direct(bf_split_file *sf)
{
    int fd = sf->fd;
    sf->fd = -1;
#ifdef SYNC_FILE_RANGE_WRITE
    /* start writing the rows back now, so the fsync at the commit (the
     * durability point; unchanged) finds less left to do */
    if (fd >= 0)
        sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
    for (int d = 0; d < 4; d++) {
        free(sf->addr[d]);
        sf->addr[d] = NULL;
    }
    free(sf->ext);
    sf->ext = NULL;
    sf->n_ext = sf->cap_ext = 0;
    if (fd >= 0 && close(fd) != 0)
        return bf_fail_errno(__FILE__, __LINE__, "close", "closing '%s' failed (disk full?)",
                             sf->path);
    return BF_OK;
}

/* ---- names, directories --------------------------------------------------------- */

void bf_ds_date(int64_t t, char out[16])
{
    if (!t)
        t = (int64_t)time(NULL);
    bf_date_format(t, out, 16);
}

void bf_ds_hex32(uint32_t v, char out[9]) { snprintf(out, 9, "%08x", v); }

static int rename_noreplace(const char *from, const char *to)
{
#ifdef RENAME_NOREPLACE
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
#endif
    /* file systems without renameat2 flags: check, then rename (a tiny race
     * with another build publishing the same name in the same instant) */
    if (bf_path_exists(to)) {
        errno = EEXIST;
        return -1;
    }
    return rename(from, to);
}

bf_status bf_ds_publish_dir(const char *tmp, const char *parent, const char *base,
                            bf_status (*prepare)(void *ctx, const char *tmp, const char *name),
                            void *ctx, char *name, size_t name_n)
{
    for (int k = 1; k < 10000; k++) {
        if (k == 1)
            snprintf(name, name_n, "%s", base);
        else
            snprintf(name, name_n, "%s-%d", base, k);
        char final[4096];
        snprintf(final, sizeof final, "%s/%s", parent, name);
        if (bf_path_exists(final))
            continue;
        if (prepare)
            BF_TRY(prepare(ctx, tmp, name));
        if (rename_noreplace(tmp, final) == 0)
            return bf_fsync_dir_of(final);
        if (errno != EEXIST && errno != ENOTEMPTY)
            return bf_fail_errno(__FILE__, __LINE__, "rename", "cannot rename '%s' to '%s'", tmp,
                                 final);
    }
    return BF_FAIL(BF_EIO, "no free version name for '%s/%s' after 9999 tries", parent, base);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

void bf_ds_rmtree(const char *path)
{
    if (path && *path && bf_path_exists(path))
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void bf_ds_fault(const char *point)
{
    const char *f = getenv("BARFORGE_FAULT");
    if (f && strcmp(f, point) == 0) {
        fprintf(stderr, "barforge: BARFORGE_FAULT=%s: killing this process now\n", point);
        fflush(stderr);
        raise(SIGKILL);
    }
}
