/* build_publish.c - the master build's last steps: scalers.h5 and
 * symbols.h5 (written by all ranks, each its sym_id rows), then on rank 0 the
 * checksums, meta.json and the no-replace rename of the temp directory, and
 * only then the `master` symlink. A crash before the rename leaves only a
 * *.tmp-<pid> directory that no reader looks at. Schema: docs/formats.md.
 */
#include "core/feat/build_internal.h"

#include "bf_build_info.h"
#include "core/base/fsutil.h"
#include "core/base/h5.h"
#include "core/base/json.h"
#include "core/base/log.h"
#include "core/base/timeutil.h"
#include "dist/mpi_env.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* scalers.h5 and symbols.h5 are small (a few hundred bytes per symbol): they
 * are gathered on rank 0 and written serially, which costs less than creating
 * two more files collectively. Gathered in rank order = sym_id order. */

typedef struct gathered {
    char *p[8];
    int n;
} gathered;

static bf_status gather(gathered *g, const void *v, int64_t bytes)
{
    int64_t n = 0;
    g->p[g->n] = NULL;
    return bf_ds_gather_bytes(v, bytes, 0, &g->p[g->n++], &n);
}

static void gathered_free(gathered *g)
{
    for (int i = 0; i < g->n; i++)
        free(g->p[i]);
}

/* Rank 0: the last gathered array (S elements of esz bytes, in rank order)
 * into sym_id order, where the ranks did not own contiguous ranges
 * (pipelined builds): its j-th element is sym_id perm[j] (perm NULL: in
 * order already) */
static bf_status to_sym_order(const bf_build_plan *p, const int64_t *perm, gathered *g,
                              size_t esz)
{
    if (!perm || bf_mpi_rank() != 0 || p->S == 0)
        return BF_OK;
    char *src = g->p[g->n - 1], *dst = malloc((size_t)p->S * esz);
    BF_CHECK_ALLOC(dst, (size_t)p->S * esz);
    for (int64_t j = 0; j < p->S; j++)
        memcpy(dst + perm[j] * esz, src + j * esz, esz);
    free(src);
    g->p[g->n - 1] = dst;
    return BF_OK;
}

static bf_status write_scalers(const bf_build_opts *o, const bf_build_plan *p,
                               bf_master_state *m, const int64_t *perm)
{
    int global = o->scaler == BF_SCALER_ROBUST_GLOBAL;
    int64_t rows = global ? 1 : p->S;
    int64_t n = global ? (bf_mpi_rank() == 0) : p->nloc, F = p->F;
    gathered g = {{NULL}, 0};
    bf_status st = gather(&g, m->median, n * F * 8);
    if (st == BF_OK && !global)
        st = to_sym_order(p, perm, &g, (size_t)F * 8);
    if (st == BF_OK)
        st = gather(&g, m->iqr, n * F * 8);
    if (st == BF_OK && !global)
        st = to_sym_order(p, perm, &g, (size_t)F * 8);
    if (st == BF_OK)
        st = gather(&g, m->n_fit, n * 8);
    if (st == BF_OK && !global)
        st = to_sym_order(p, perm, &g, 8);
    if (st == BF_OK && bf_mpi_rank() == 0) {
        char path[4400];
        snprintf(path, sizeof path, "%s/scalers.h5", m->tmpdir);
        hid_t f = -1;
        st = bf_h5_create(path, &f);
        if (st == BF_OK)
            st = bf_h5_write(f, "median", BF_H5_F64, g.p[0], rows, F, 0);
        if (st == BF_OK)
            st = bf_h5_write(f, "iqr", BF_H5_F64, g.p[1], rows, F, 0);
        if (st == BF_OK)
            st = bf_h5_write(f, "n_fit", BF_H5_I64, g.p[2], rows, 1, 0);
        if (st == BF_OK)
            st = bf_h5_attr_set_str(f, "/", "kind",
                                    global ? "robust_global" : "robust_per_symbol");
        if (st == BF_OK)
            st = bf_h5_attr_set_str(f, "/", "formula", "x_scaled = (x - median) / iqr; rows = "
                                    "sym_id (per-symbol) or 1 row (global); fit on train rows");
        if (st == BF_OK)
            st = bf_h5_attr_set_i64(f, "/", "schema_version", BF_DATASET_SCHEMA_VERSION);
        if (f >= 0) {
            bf_status cs = bf_h5_close(f);
            st = st != BF_OK ? st : cs;
        }
    }
    gathered_free(&g);
    return st;
}

static bf_status write_symbols(const bf_build_plan *p, bf_master_state *m, const int64_t *perm)
{
    int64_t nloc = p->nloc, c = nloc ? nloc : 1;
    int64_t *rows = malloc((size_t)c * 3 * sizeof *rows), *a = malloc((size_t)c * 4 * sizeof *a);
    int32_t *prov = malloc((size_t)c * sizeof *prov);
    if (!rows || !a || !prov) {
        free(rows);
        free(a);
        free(prov);
        return BF_FAIL(BF_ENOMEM, "out of memory for symbols.h5 rows");
    }
    for (int64_t i = 0; i < nloc; i++) {
        const bf_sym_rec *r = &m->rec[i];
        memcpy(rows + 3 * i, r->cnt, 3 * sizeof *rows);
        a[i] = r->first_ts;
        a[c + i] = r->last_ts;
        a[2 * c + i] = r->first_bar_ts;
        a[3 * c + i] = r->last_bar_ts;
        prov[i] = r->provider;
    }
    gathered g = {{NULL}, 0};
    bf_status st = gather(&g, rows, nloc * 3 * 8);
    if (st == BF_OK)
        st = to_sym_order(p, perm, &g, 3 * 8);
    for (int k = 0; k < 4 && st == BF_OK; k++) {
        st = gather(&g, a + k * c, nloc * 8);
        if (st == BF_OK)
            st = to_sym_order(p, perm, &g, 8);
    }
    if (st == BF_OK)
        st = gather(&g, prov, nloc * 4);
    if (st == BF_OK)
        st = to_sym_order(p, perm, &g, 4);
    free(rows);
    free(a);
    free(prov);
    static const char *const names[4] = {"first_row_ts", "last_row_ts", "first_bar_ts",
                                         "last_bar_ts"};
    if (st == BF_OK && bf_mpi_rank() == 0) {
        char path[4400];
        snprintf(path, sizeof path, "%s/symbols.h5", m->tmpdir);
        hid_t f = -1;
        st = bf_h5_create(path, &f);
        if (st == BF_OK)
            st = bf_h5_write(f, "rows", BF_H5_I64, g.p[0], p->S, 3, 0);
        for (int k = 0; k < 4 && st == BF_OK; k++)
            st = bf_h5_write(f, names[k], BF_H5_I64, g.p[1 + k], p->S, 1, 0);
        if (st == BF_OK)
            st = bf_h5_write(f, "provider", BF_H5_I32, g.p[5], p->S, 1, 0);
        if (st == BF_OK)
            st = bf_h5_attr_set_str(f, "/", "about", "per sym_id: rows (train, val, test) "
                                    "written; row times (bar end) and bar starts in UTC "
                                    "seconds, 0 = none; provider = index into meta.json "
                                    "providers, -1 = none");
        if (f >= 0) {
            bf_status cs = bf_h5_close(f);
            st = st != BF_OK ? st : cs;
        }
    }
    gathered_free(&g);
    return st;
}

bf_status bf_build_write_side_files(const bf_build_opts *o, const bf_build_plan *p,
                                    bf_master_state *m)
{
    double t0 = bf_now();
    /* pipelined builds: which sym_ids each rank claimed, in rank order */
    int64_t *perm = NULL, np = 0;
    bf_status st = p->own ? bf_ds_gather_i64(p->own, p->nloc, 0, &perm, &np) : BF_OK;
    if (st == BF_OK && perm && bf_mpi_rank() == 0 && np != p->S)
        st = BF_FAIL(BF_ERR, "the ranks claimed %lld symbols of %lld", (long long)np,
                     (long long)p->S);
    st = bf_ds_agree(st);
    if (st == BF_OK)
        st = bf_ds_agree(write_scalers(o, p, m, perm));
    if (st == BF_OK)
        st = bf_ds_agree(write_symbols(p, m, perm));
    free(perm);
    m->stage[BF_STAGE_WRITE] += bf_now() - t0;
    return st;
}

/* ---- meta.json ---------------------------------------------------------------------- */

static cJSON *int_array(const int *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static void add_time(cJSON *obj, const char *key, int64_t t)
{
    char buf[32], k2[64];
    bf_time_format(t, buf, sizeof buf);
    cJSON_AddStringToObject(obj, key, buf);
    snprintf(k2, sizeof k2, "%s_utc", key);
    cJSON_AddNumberToObject(obj, k2, (double)t);
}

typedef struct meta_ctx {
    cJSON *root;
    const bf_build_opts *o;
} meta_ctx;

static bf_status prepare_meta(void *vctx, const char *tmp, const char *name)
{
    meta_ctx *c = vctx;
    cJSON_DeleteItemFromObject(c->root, "version");
    cJSON_AddStringToObject(c->root, "version", name);
    char path[4400];
    snprintf(path, sizeof path, "%s/meta.json", tmp);
    BF_TRY(bf_json_save(path, c->root));
    bf_ds_fault("master_before_publish"); /* crash tests: every file written, not published */
    return BF_OK;
}

static cJSON *drops_json(const bf_build_drops *d)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "bars_nonfinite", (double)d->bars_nonfinite);
    cJSON_AddNumberToObject(j, "bars_nonpositive_price", (double)d->bars_nonpositive);
    cJSON_AddNumberToObject(j, "bars_negative_volume", (double)d->bars_negative_volume);
    cJSON_AddNumberToObject(j, "bars_duplicate_ts", (double)d->bars_duplicate_ts);
    cJSON_AddNumberToObject(j, "bars_hl_inconsistent", (double)d->bars_hl_inconsistent);
    cJSON_AddNumberToObject(j, "rows_warmup", (double)d->rows_warmup);
    cJSON_AddNumberToObject(j, "rows_no_label", (double)d->rows_no_label);
    cJSON_AddNumberToObject(j, "rows_nonfinite", (double)d->rows_nonfinite);
    cJSON_AddNumberToObject(j, "rows_purged", (double)d->rows_purged);
    cJSON_AddNumberToObject(j, "rows_no_train", (double)d->rows_no_train);
    cJSON_AddNumberToObject(j, "symbols_no_rows", (double)d->symbols_no_rows);
    return j;
}

static cJSON *build_meta(const bf_build_opts *o, const bf_build_plan *p, const bf_master_state *m,
                         const bf_build_drops *d, const int64_t *prov_syms, const int64_t *span,
                         int n_zero_iqr)
{
    cJSON *r = cJSON_CreateObject();
    char buf[64];
    cJSON_AddNumberToObject(r, "schema_version", BF_DATASET_SCHEMA_VERSION);
    cJSON_AddStringToObject(r, "format", "barforge-dataset");
    cJSON_AddStringToObject(r, "mode", "master");
    cJSON_AddStringToObject(r, "version", "");
    bf_time_format((int64_t)time(NULL), buf, sizeof buf);
    cJSON_AddStringToObject(r, "created_utc", buf);
    cJSON_AddStringToObject(r, "barforge", BF_VERSION " (" BF_GIT_REV ")");
    cJSON_AddNumberToObject(r, "ranks", bf_mpi_size());
    cJSON_AddStringToObject(r, "base_interval", bf_interval_name(o->spec.interval_s[0]));
    cJSON *iv = cJSON_AddArrayToObject(r, "intervals");
    for (int i = 0; i < o->spec.n_intervals; i++)
        cJSON_AddItemToArray(iv, cJSON_CreateString(bf_interval_name(o->spec.interval_s[i])));
    cJSON_AddItemToObject(r, "horizons", int_array(o->spec.horizons, o->spec.n_horizons));
    cJSON_AddNumberToObject(r, "target_horizon", o->target_horizon);
    cJSON_AddNumberToObject(r, "target_index", p->target_index);
    cJSON *ln = cJSON_AddArrayToObject(r, "label_names");
    for (int i = 0; i < o->spec.n_horizons; i++) {
        snprintf(buf, sizeof buf, "y_%d", o->spec.horizons[i]);
        cJSON_AddItemToArray(ln, cJSON_CreateString(buf));
    }
    cJSON_AddNumberToObject(r, "n_features", p->F);
    cJSON *fn = cJSON_AddArrayToObject(r, "feature_names");
    for (int i = 0; i < p->F; i++) {
        char nm[BF_FEAT_NAME_MAX];
        bf_feat_name(&o->spec, i, nm);
        cJSON_AddItemToArray(fn, cJSON_CreateString(nm));
    }
    cJSON_AddNumberToObject(r, "seq_len", o->seq_len);
    cJSON_AddNumberToObject(r, "max_horizon", p->max_horizon);
    cJSON_AddNumberToObject(r, "purge_bars", p->purge);
    cJSON_AddBoolToObject(r, "labels_cross_overnight", o->spec.labels_cross_overnight);
    cJSON_AddBoolToObject(r, "extended_hours", o->spec.extended_hours);
    cJSON *sy = cJSON_AddArrayToObject(r, "symbols");
    cJSON *s2 = cJSON_AddObjectToObject(r, "sym2id");
    for (int64_t i = 0; i < p->S; i++) {
        cJSON_AddItemToArray(sy, cJSON_CreateString(p->syms[i]));
        cJSON_AddNumberToObject(s2, p->syms[i], (double)i);
    }
    cJSON *sp = cJSON_AddObjectToObject(r, "split");
    int dates = o->split.val_start || o->split.test_start;
    cJSON_AddStringToObject(sp, "method", dates ? "dates" : "fractions");
    if (!dates) {
        cJSON_AddNumberToObject(sp, "train_frac", o->split.train_frac);
        cJSON_AddNumberToObject(sp, "val_frac", o->split.val_frac);
    }
    add_time(sp, "val_start", m->val_start);
    add_time(sp, "test_start", m->test_start);
    cJSON_AddNumberToObject(sp, "distinct_row_times", (double)m->n_times);
    cJSON_AddStringToObject(sp, "rule", "train: ts < val_start, val: val_start <= ts < test_start, "
                            "test: ts >= test_start; the last purge_bars rows of each symbol "
                            "before each boundary are dropped");
    cJSON *sc = cJSON_AddObjectToObject(r, "scaler");
    int global = o->scaler == BF_SCALER_ROBUST_GLOBAL;
    cJSON_AddStringToObject(sc, "kind", global ? "robust_global" : "robust_per_symbol");
    cJSON_AddStringToObject(sc, "file", "scalers.h5");
    cJSON_AddStringToObject(sc, "fit_on", global ? "deterministic sample of train rows"
                                                 : "each symbol's train rows");
    if (global)
        cJSON_AddNumberToObject(sc, "sample_rows", (double)m->n_fit[0]);
    cJSON_AddNumberToObject(sc, "n_zero_iqr", n_zero_iqr);
    cJSON *pv = cJSON_AddArrayToObject(r, "providers");
    cJSON *pu = cJSON_AddObjectToObject(r, "symbols_per_provider");
    for (int i = 0; i < o->n_providers; i++) {
        cJSON_AddItemToArray(pv, cJSON_CreateString(o->providers[i]));
        cJSON_AddNumberToObject(pu, o->providers[i], (double)prov_syms[i]);
    }
    cJSON_AddStringToObject(r, "cache_dir", o->cache_dir);
    cJSON *dt = cJSON_AddObjectToObject(r, "data");
    add_time(dt, "first_bar", span[0]);
    add_time(dt, "last_bar", span[1]);
    add_time(dt, "first_row", span[2]);
    add_time(dt, "last_row", span[3]);
    if (o->start)
        add_time(dt, "start", o->start);
    if (o->end)
        add_time(dt, "end", o->end);
    cJSON *args = o->build_args_json ? cJSON_Parse(o->build_args_json) : NULL;
    cJSON_AddItemToObject(r, "build_args", args ? args : cJSON_CreateObject());
    cJSON *rw = cJSON_AddObjectToObject(r, "rows");
    cJSON_AddNumberToObject(rw, "train", (double)m->total[0]);
    cJSON_AddNumberToObject(rw, "val", (double)m->total[1]);
    cJSON_AddNumberToObject(rw, "test", (double)m->total[2]);
    cJSON_AddItemToObject(r, "dropped", drops_json(d));
    cJSON *fl = cJSON_AddObjectToObject(r, "files");
    uint32_t all = 0;
    for (int k = 0; k < BF_DS_NFILES; k++) {
        cJSON *e = cJSON_AddObjectToObject(fl, bf_ds_files[k]);
        cJSON_AddStringToObject(e, "crc32", m->files_crc[k]);
        cJSON_AddNumberToObject(e, "bytes", (double)m->files_bytes[k]);
        snprintf(buf, sizeof buf, "%s:%s\n", bf_ds_files[k], m->files_crc[k]);
        all = bf_crc32(all, buf, strlen(buf));
    }
    bf_ds_hex32(all, buf);
    cJSON_AddStringToObject(r, "checksum", buf);
    cJSON *tm = cJSON_AddObjectToObject(r, "timings_s");
    for (int k = 0; k < BF_STAGE_COMMIT; k++)
        cJSON_AddNumberToObject(tm, bf_stage_names[k], m->stage[k]);
    return r;
}

void *bf_build_fsync_run(void *arg)
{
    bf_fsync_job *j = arg;
    j->st = BF_OK;
    for (int k = 0; k < j->nfiles && j->st == BF_OK; k++) {
        if (k % bf_mpi_size() != bf_mpi_rank())
            continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", j->m->tmpdir, bf_ds_files[k]);
        j->st = bf_fsync_path(path);
    }
    if (j->st != BF_OK)
        snprintf(j->msg, sizeof j->msg, "%s", bf_last_error());
    return NULL;
}

int bf_build_fsync_start(bf_fsync_job *j, const bf_master_state *m, int nfiles)
{
    memset(j, 0, sizeof *j);
    j->m = m;
    j->nfiles = nfiles;
    j->threaded = pthread_create(&j->th, NULL, bf_build_fsync_run, j) == 0;
    return j->threaded;
}

void bf_build_fsync_join(bf_fsync_job *j)
{
    if (j->threaded)
        pthread_join(j->th, NULL);
    j->threaded = 0;
}

bf_status bf_build_publish(const bf_build_opts *o, const bf_build_plan *p, bf_master_state *m,
                           bf_build_result *res)
{
    double t0 = bf_now();
    /* global facts for meta.json */
    bf_build_drops d = m->drops;
    BF_TRY(bf_allreduce_sum_i64((int64_t *)&d, sizeof d / sizeof(int64_t)));
    int64_t prov[BF_BUILD_MAX_PROVIDERS] = {0}, nz = m->n_zero_iqr;
    int64_t lo[2] = {INT64_MAX, INT64_MAX}, hi[2] = {INT64_MIN, INT64_MIN};
    for (int64_t i = 0; i < p->nloc; i++) {
        const bf_sym_rec *r = &m->rec[i];
        if (r->provider >= 0)
            prov[r->provider]++;
        if (r->first_bar_ts && r->first_bar_ts < lo[0])
            lo[0] = r->first_bar_ts;
        if (r->last_bar_ts > hi[0])
            hi[0] = r->last_bar_ts;
        if (r->cnt[0] + r->cnt[1] + r->cnt[2] > 0) {
            lo[1] = r->first_ts < lo[1] ? r->first_ts : lo[1];
            hi[1] = r->last_ts > hi[1] ? r->last_ts : hi[1];
        }
    }
    BF_TRY(bf_allreduce_sum_i64(prov, BF_BUILD_MAX_PROVIDERS));
    if (o->scaler == BF_SCALER_ROBUST_PER_SYMBOL)
        BF_TRY(bf_allreduce_sum_i64(&nz, 1));
    BF_TRY(bf_allreduce_min_i64(lo, 2));
    BF_TRY(bf_allreduce_max_i64(hi, 2));
    double st_max[BF_STAGE_COUNT];
    memcpy(st_max, m->stage, sizeof st_max);
    BF_TRY(bf_allreduce_max_f64(st_max, BF_STAGE_COUNT));
    memcpy(m->stage, st_max, sizeof st_max);
    BF_TRY(bf_barrier());
    /* checksums: every rank a share of every file; fsync: file k by rank
     * k % size, on a thread meanwhile (inline when none can be started) */
    bf_status st = BF_OK;
    bf_fsync_job fj;
    if (!bf_build_fsync_start(&fj, m, BF_DS_NFILES))
        bf_build_fsync_run(&fj);
    for (int k = 0; k < BF_DS_NFILES && st == BF_OK; k++) {
        if (m->files_crc_known[k]) /* one rank: computed as the rows were written */
            continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", m->tmpdir, bf_ds_files[k]);
        uint32_t c = 0;
        int64_t bytes = 0;
        /* agreed over ranks inside */
        st = bf_ds_file_crc32_all_mt(path, bf_build_threads(o), &c, &bytes);
        bf_ds_hex32(c, m->files_crc[k]);
        m->files_bytes[k] = bytes;
    }
    bf_build_fsync_join(&fj);
    if (st == BF_OK && fj.st != BF_OK)
        st = BF_FAIL(fj.st, "%s", fj.msg);
    st = bf_ds_agree(st);
    char name[256] = "";
    if (st == BF_OK && bf_mpi_rank() == 0) {
        int64_t span[4] = {lo[0], hi[0], lo[1], hi[1]};
        meta_ctx c = {NULL, o};
        if (st == BF_OK) {
            c.root = build_meta(o, p, m, &d, prov, span, (int)nz);
            char base[32];
            snprintf(base, sizeof base, "v%s", m->date);
            st = bf_ds_publish_dir(m->tmpdir, o->datasets_root, base, prepare_meta, &c, name,
                                   sizeof name);
        }
        cJSON_Delete(c.root);
        if (st == BF_OK) {
            m->tmpdir[0] = 0; /* published: nothing to clean up any more */
            char link[4400];
            snprintf(link, sizeof link, "%s/master", o->datasets_root);
            st = bf_symlink_atomic(name, link);
        }
    }
    st = bf_ds_agree(st);
    if (st == BF_OK && bf_mpi_size() > 1)
        st = bf_bcast_bytes(name, (int64_t)sizeof name, 0);
    if (st == BF_OK) {
        m->tmpdir[0] = 0;
        snprintf(res->version, sizeof res->version, "%s", name);
        snprintf(res->dir, sizeof res->dir, "%s/%s", o->datasets_root, name);
        res->drops = d;
        res->n_zero_iqr = (int)nz;
    }
    m->stage[BF_STAGE_COMMIT] += bf_now() - t0;
    return st;
}

bf_status bf_build_finish_result(const bf_build_plan *p, bf_master_state *m,
                                 bf_build_result *res, double t0)
{
    for (int k = 0; k < 3; k++)
        res->rows[k] = m->total[k];
    res->n_symbols = p->S;
    res->val_start = m->val_start;
    res->test_start = m->test_start;
    res->purge_bars = p->purge;
    memcpy(res->stage_s, m->stage, sizeof res->stage_s);
    res->refits = m->refits;
    BF_TRY(bf_allreduce_sum_i64(&res->refits, 1));
    double c = m->stage[BF_STAGE_COMMIT];
    BF_TRY(bf_allreduce_max_f64(&c, 1));
    res->stage_s[BF_STAGE_COMMIT] = c;
    res->total_s = bf_now() - t0;
    return BF_OK;
}
