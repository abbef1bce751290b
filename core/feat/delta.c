#define _GNU_SOURCE
/* delta.c - `barforge build --mode delta` (see dataset_build.h).
 *
 * Rows after the master's end, for the master's symbols, with the master's
 * feature spec and scalers:
 *   1. (unless --no-fetch) fetch new bars into the cache;
 *   2. per symbol (ranks own contiguous sym_id ranges), recompute features
 *      over the bars from the master's first bar, so every row's history
 *      (warm-up) is exactly what the master saw; keep rows after the
 *      symbol's last master row, minus the first purge_bars of them (their
 *      windows or labels overlap the master's last rows);
 *   3. scale with the master's scalers; gather the rows on rank 0;
 *   4. rank 0 drops rows whose (sym_id, ts) is already in
 *      extended_master/cum.h5; if none remain nothing is written (so a
 *      repeated delta changes nothing); otherwise it publishes
 *      updates/update_YYYY-MM-DD[-k]/ and then replaces cum.h5 copy-on-write
 *      (old rows + new rows into cum.h5.tmp.<pid>, fsync, rename), so a crash
 *      at any point leaves cum.h5 as it was.
 * cum.h5 belongs to one master version (attribute master_version); when the
 * master changes, the old file is kept as cum-<old version>.h5 and a new
 * one is started.
 */
#include "core/feat/dataset_build.h"

#include "core/base/fsutil.h"
#include "core/base/h5.h"
#include "core/base/json.h"
#include "core/base/log.h"
#include "core/base/timeutil.h"
#include "core/feat/dataset.h"
#include "core/feat/dataset_io.h"
#include "core/feat/delta_internal.h"
#include "dist/mpi_env.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void master_info_free(master_info *mi)
{
    bf_dataset_meta_free(&mi->meta);
    free(mi->first_bar);
    free(mi->last_row);
    free(mi->last_bar);
    free(mi->provider);
    free(mi->median);
    free(mi->iqr);
    free(mi->n_fit);
}

static bf_status read_i64(hid_t f, const char *name, int64_t n, int64_t **out)
{
    *out = malloc((size_t)(n ? n : 1) * sizeof **out);
    BF_CHECK_ALLOC(*out, (size_t)n * sizeof **out);
    return bf_h5_read_into(f, name, BF_H5_I64, *out, n, 1);
}

static bf_status load_master(const char *root, master_info *mi)
{
    memset(mi, 0, sizeof *mi);
    bf_status st = bf_dataset_meta_load(root, &mi->meta);
    if (st == BF_ENOTFOUND)
        return BF_FAIL(BF_EINVAL, "no master dataset under '%s': build one first with "
                       "`barforge build --mode master`", root);
    BF_TRY(st);
    char p[4400];
    snprintf(p, sizeof p, "%s/meta.json", mi->meta.dir);
    cJSON *r = NULL;
    BF_TRY(bf_json_load(p, &r));
    const cJSON *pv = cJSON_GetObjectItemCaseSensitive(r, "providers"), *e;
    cJSON_ArrayForEach(e, pv)
    {
        if (cJSON_IsString(e) && mi->n_providers < BF_BUILD_MAX_PROVIDERS) {
            snprintf(mi->providers[mi->n_providers], 32, "%s", e->valuestring);
            mi->prov_ptr[mi->n_providers] = mi->providers[mi->n_providers];
            mi->n_providers++;
        }
    }
    mi->extended_hours = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "extended_hours"));
    st = bf_json_get_int(cJSON_GetObjectItemCaseSensitive(r, "data"), "last_row_utc", p,
                         &mi->last_row_all);
    cJSON_Delete(r);
    BF_TRY(st);
    if (mi->n_providers == 0)
        return BF_FAIL(BF_ECORRUPT, "%s: no providers recorded", p);
    int64_t S = mi->meta.n_symbols;
    snprintf(p, sizeof p, "%s/symbols.h5", mi->meta.dir);
    hid_t f;
    BF_TRY(bf_h5_open(p, 0, &f));
    st = read_i64(f, "first_bar_ts", S, &mi->first_bar);
    if (st == BF_OK)
        st = read_i64(f, "last_row_ts", S, &mi->last_row);
    if (st == BF_OK)
        st = read_i64(f, "last_bar_ts", S, &mi->last_bar);
    if (st == BF_OK) {
        mi->provider = malloc((size_t)(S ? S : 1) * sizeof *mi->provider);
        st = mi->provider ? bf_h5_read_into(f, "provider", BF_H5_I32, mi->provider, S, 1)
                          : BF_FAIL(BF_ENOMEM, "out of memory");
    }
    bf_h5_close(f);
    BF_TRY(st);
    BF_TRY(bf_dataset_scalers_load(&mi->meta, &mi->median, &mi->iqr, &mi->scaler_rows));
    snprintf(p, sizeof p, "%s/scalers.h5", mi->meta.dir);
    BF_TRY(bf_h5_open(p, 0, &f));
    st = read_i64(f, "n_fit", mi->scaler_rows, &mi->n_fit);
    bf_h5_close(f);
    return st;
}

static bf_status rowbuf_push(rowbuf *b, const float *x, const float *y, int32_t sym, int64_t ts)
{
    if (b->n == b->cap) {
        int64_t c = b->cap ? b->cap * 2 : 1024;
        float *nx = realloc(b->X, (size_t)c * (size_t)b->F * sizeof *nx);
        if (nx)
            b->X = nx;
        float *ny = realloc(b->y, (size_t)c * (size_t)b->H * sizeof *ny);
        if (ny)
            b->y = ny;
        int32_t *ns = realloc(b->sym, (size_t)c * sizeof *ns);
        if (ns)
            b->sym = ns;
        int64_t *nt = realloc(b->ts, (size_t)c * sizeof *nt);
        if (nt)
            b->ts = nt;
        if (!nx || !ny || !ns || !nt)
            return BF_FAIL(BF_ENOMEM, "out of memory for %lld delta rows", (long long)c);
        b->cap = c;
    }
    memcpy(b->X + b->n * b->F, x, (size_t)b->F * sizeof *x);
    memcpy(b->y + b->n * b->H, y, (size_t)b->H * sizeof *y);
    b->sym[b->n] = sym;
    b->ts[b->n] = ts;
    b->n++;
    return BF_OK;
}

void bf_rowbuf_free(rowbuf *b)
{
    free(b->X);
    free(b->y);
    free(b->sym);
    free(b->ts);
    memset(b, 0, sizeof *b);
}

/* This rank's candidate rows, scaled, in (sym_id, ts) order. */
static bf_status compute_rows(const bf_build_opts *o, const master_info *mi, int purge,
                              rowbuf *out, bf_build_drops *d, double *stage)
{
    const bf_dataset_meta *m = &mi->meta;
    int64_t lo, hi;
    bf_shard_range(m->n_symbols, bf_mpi_rank(), bf_mpi_size(), &lo, &hi);
    bf_scaler sc;
    BF_TRY(bf_scaler_init(&sc, m->F));
    bf_sym_rows w;
    memset(&w, 0, sizeof w);
    bf_status st = BF_OK;
    char missing[1200];
    for (int64_t s = lo; s < hi && st == BF_OK; s++) {
        int global = mi->scaler_rows == 1;
        int64_t srow = global ? 0 : s;
        if (mi->n_fit[srow] == 0 || mi->provider[s] < 0)
            continue; /* no scaler (or no bars) in the master: nothing can be scaled */
        st = bf_ds_load_symbol(o, m->symbols[s], mi->first_bar[s], o->end, &w, missing,
                               sizeof missing, stage);
        if (st == BF_ENOTFOUND && missing[0])
            st = BF_FAIL(BF_EINVAL, "bars missing from the cache: %s", missing);
        if (st != BF_OK)
            break;
        int64_t cut = mi->last_row[s] ? mi->last_row[s] : mi->last_row_all;
        int64_t i0 = 0;
        while (i0 < w.rows.n && w.rows.ts_end[i0] <= cut)
            i0++;
        int64_t keep0 = i0 + purge;
        d->rows_purged += (keep0 < w.rows.n ? keep0 : w.rows.n) - i0;
        if (keep0 >= w.rows.n)
            continue;
        double t0 = bf_now();
        memcpy(sc.median, mi->median + srow * m->F, (size_t)m->F * sizeof(double));
        memcpy(sc.iqr, mi->iqr + srow * m->F, (size_t)m->F * sizeof(double));
        float *X = w.rows.X + keep0 * m->F;
        int64_t n = w.rows.n - keep0;
        bf_scaler_apply(&sc, X, n);
        stage[BF_STAGE_SCALE] += bf_now() - t0;
        for (int64_t i = 0; i < n && st == BF_OK; i++)
            st = rowbuf_push(out, X + i * m->F, w.rows.y + (keep0 + i) * m->H, (int32_t)s,
                             w.rows.ts_end[keep0 + i]);
    }
    bf_sym_rows_free(&w);
    bf_scaler_free(&sc);
    return st;
}

static bf_status gather_rows(const rowbuf *loc, rowbuf *all)
{
    char *p = NULL;
    int64_t n = 0;
    memset(all, 0, sizeof *all);
    all->F = loc->F;
    all->H = loc->H;
    BF_TRY(bf_ds_gather_bytes(loc->X, loc->n * loc->F * 4, 0, &p, &n));
    all->X = (float *)p;
    all->n = n / (4 * (int64_t)loc->F);
    BF_TRY(bf_ds_gather_bytes(loc->y, loc->n * loc->H * 4, 0, &p, &n));
    all->y = (float *)p;
    BF_TRY(bf_ds_gather_bytes(loc->sym, loc->n * 4, 0, &p, &n));
    all->sym = (int32_t *)p;
    BF_TRY(bf_ds_gather_bytes(loc->ts, loc->n * 8, 0, &p, &n));
    all->ts = (int64_t *)p;
    all->cap = all->n;
    return BF_OK;
}

static int cmp_sym(const void *a, const void *b) { return strcmp(a, b); }

/* Leave out (provider = -1) the master symbols not listed; a listed symbol
 * the master does not have is an error. */
static bf_status restrict_symbols(master_info *mi, const char *const *syms, int n)
{
    uint8_t *want = calloc((size_t)(mi->meta.n_symbols ? mi->meta.n_symbols : 1), 1);
    BF_CHECK_ALLOC(want, (size_t)mi->meta.n_symbols);
    for (int i = 0; i < n; i++) {
        char key[BF_SYMBOL_MAX];
        snprintf(key, sizeof key, "%s", syms[i]);
        const char(*hit)[BF_SYMBOL_MAX] = bsearch(key, mi->meta.symbols, (size_t)mi->meta.n_symbols,
                                                  BF_SYMBOL_MAX, cmp_sym);
        if (!hit) {
            free(want);
            return BF_FAIL(BF_EINVAL, "symbol %s is not in master %s: a delta extends the "
                           "master's symbols (build a new master to add symbols)", syms[i],
                           mi->meta.version);
        }
        want[hit - mi->meta.symbols] = 1;
    }
    for (int64_t s = 0; s < mi->meta.n_symbols; s++)
        if (!want[s])
            mi->provider[s] = -1;
    free(want);
    return BF_OK;
}

bf_status bf_build_delta(const bf_build_opts *o_in, bf_build_result *res)
{
    memset(res, 0, sizeof *res);
    double t0 = bf_now();
    master_info mi;
    bf_status st = bf_ds_agree(load_master(o_in->datasets_root, &mi));
    if (st != BF_OK) {
        master_info_free(&mi);
        return st;
    }
    bf_build_opts o = *o_in;
    const bf_dataset_meta *m = &mi.meta;
    if (o_in->n_symbols > 0) /* only these of the master's symbols */
        st = bf_ds_agree(restrict_symbols(&mi, o_in->symbols, o_in->n_symbols));
    if (st != BF_OK) {
        master_info_free(&mi);
        return st;
    }
    memset(&o.spec, 0, sizeof o.spec);
    o.spec.n_intervals = m->n_intervals;
    memcpy(o.spec.interval_s, m->interval_s, sizeof o.spec.interval_s);
    o.spec.n_horizons = m->H;
    memcpy(o.spec.horizons, m->horizons, sizeof o.spec.horizons);
    o.spec.labels_cross_overnight = m->labels_cross_overnight;
    o.spec.extended_hours = mi.extended_hours;
    o.providers = mi.prov_ptr;
    o.n_providers = mi.n_providers;
    int hmax = m->horizons[m->H - 1];
    int mh = o.max_horizon > 0 ? o.max_horizon : hmax;
    int purge = o.purge_bars > 0 ? o.purge_bars : o.seq_len - 1 + mh;
    if (mh < hmax || o.seq_len < 1 || purge < o.seq_len - 1 + mh)
        st = BF_FAIL(BF_EINVAL, "delta purge: --seq-len %d, --max-horizon %d (largest master "
                     "horizon %d), --purge %d: need max_horizon >= %d and purge >= seq_len - 1 "
                     "+ max_horizon", o.seq_len, mh, hmax, purge, hmax);
    st = bf_ds_agree(st);
    if (st == BF_OK && !o.no_fetch) {
        double tf = bf_now();
        st = bf_ds_agree(bf_delta_fetch(&o, (const char(*)[BF_SYMBOL_MAX])m->symbols, m->n_symbols,
                                        mi.last_bar, mi.provider, mi.prov_ptr));
        res->stage_s[BF_STAGE_READ] += bf_now() - tf;
    }
    rowbuf loc = {0, 0, m->F, m->H, NULL, NULL, NULL, NULL}, all;
    memset(&all, 0, sizeof all);
    bf_build_drops d;
    memset(&d, 0, sizeof d);
    double stage[BF_STAGE_COUNT] = {0};
    if (st == BF_OK)
        st = bf_ds_agree(compute_rows(&o, &mi, purge, &loc, &d, stage));
    if (st == BF_OK)
        st = bf_ds_agree(gather_rows(&loc, &all));
    bf_rowbuf_free(&loc);
    double tw = bf_now();
    char name[256] = "";
    int64_t counts[2] = {0, 0}; /* new rows, cum rows */
    if (st == BF_OK && bf_mpi_rank() == 0)
        st = bf_delta_publish(&o, &mi, purge, &all, &d, name, sizeof name, counts);
    bf_rowbuf_free(&all);
    st = bf_ds_agree(st);
    stage[BF_STAGE_WRITE] += bf_now() - tw;
    if (st == BF_OK) {
        BF_TRY(bf_allreduce_sum_i64((int64_t *)&d, sizeof d / sizeof(int64_t)));
        BF_TRY(bf_ds_bcast_i64(counts, 2, 0));
        /* rank 0 counted the duplicates; the sum above added them once */
        if (bf_mpi_size() > 1)
            BF_TRY(bf_bcast_bytes(name, (int64_t)sizeof name, 0));
        BF_TRY(bf_allreduce_max_f64(stage, BF_STAGE_COUNT));
        for (int k = 0; k < BF_STAGE_COUNT; k++)
            res->stage_s[k] += stage[k];
        snprintf(res->version, sizeof res->version, "%s", name);
        if (name[0])
            snprintf(res->dir, sizeof res->dir, "%s/updates/%s", o.datasets_root, name);
        res->rows[0] = counts[0];
        res->cum_rows = counts[1];
        res->n_symbols = m->n_symbols;
        res->purge_bars = purge;
        res->drops = d;
        res->total_s = bf_now() - t0;
    }
    master_info_free(&mi);
    return st;
}
