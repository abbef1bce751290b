/* dataset.c - see dataset.h. meta.json is the source of truth for shapes;
 * the HDF5 files are checked against it, never the other way round. */
#include "core/feat/dataset.h"

#include "core/base/fsutil.h"
#include "core/base/h5.h"
#include "core/base/json.h"
#include "core/feat/dataset_build.h"
#include "core/feat/dataset_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const g_splits[3] = {"train", "val", "test"};

int bf_dataset_split_index(const char *split)
{
    for (int k = 0; k < 3; k++)
        if (split && strcmp(split, g_splits[k]) == 0)
            return k;
    return -1;
}

bf_status bf_dataset_resolve(const char *path, char *dir, size_t n)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/meta.json", path);
    if (bf_path_exists(p)) {
        snprintf(dir, n, "%s", path);
        return BF_OK;
    }
    snprintf(p, sizeof p, "%s/master/meta.json", path);
    if (bf_path_exists(p)) {
        snprintf(dir, n, "%s/master", path);
        return BF_OK;
    }
    return BF_FAIL(BF_ENOTFOUND, "no dataset at '%s': neither %s/meta.json nor %s/master/meta.json "
                   "exists (build one with `barforge build --mode master`)", path, path, path);
}

void bf_dataset_meta_free(bf_dataset_meta *m)
{
    free(m->feature_names);
    free(m->symbols);
    memset(m, 0, sizeof *m);
}

static bf_status str_array(const cJSON *root, const char *key, const char *what, int64_t *n,
                           char **out, size_t width)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsArray(a))
        return BF_FAIL(BF_ECORRUPT, "%s: '%s' is missing or not an array", what, key);
    int64_t cnt = cJSON_GetArraySize(a);
    char *buf = calloc((size_t)(cnt ? cnt : 1), width);
    BF_CHECK_ALLOC(buf, (size_t)cnt * width);
    int64_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        if (!cJSON_IsString(e) || strlen(e->valuestring) >= width) {
            free(buf);
            return BF_FAIL(BF_ECORRUPT, "%s: '%s'[%lld] is not a string of < %zu characters", what,
                           key, (long long)i, width);
        }
        memcpy(buf + (size_t)i * width, e->valuestring, strlen(e->valuestring) + 1);
        i++;
    }
    *n = cnt;
    *out = buf;
    return BF_OK;
}

static bf_status parse_meta(const cJSON *r, const char *what, bf_dataset_meta *m)
{
    int64_t v;
    BF_TRY(bf_json_get_int(r, "schema_version", what, &v));
    m->schema_version = (int)v;
    if (v != BF_DATASET_SCHEMA_VERSION)
        return BF_FAIL(BF_ECORRUPT, "%s: schema_version %lld, but this barforge reads version %d "
                       "(rebuild the dataset with this barforge)", what, (long long)v,
                       BF_DATASET_SCHEMA_VERSION);
    const char *s;
    BF_TRY(bf_json_get_str(r, "version", what, &s));
    snprintf(m->version, sizeof m->version, "%s", s);
    BF_TRY(bf_json_get_str(r, "checksum", what, &s));
    snprintf(m->checksum, sizeof m->checksum, "%s", s);
    int64_t n = 0;
    char *names = NULL;
    BF_TRY(str_array(r, "feature_names", what, &n, &names, BF_FEAT_NAME_MAX));
    m->feature_names = (char(*)[BF_FEAT_NAME_MAX])names;
    m->F = (int)n;
    BF_TRY(bf_json_get_int(r, "n_features", what, &v));
    if (v != m->F)
        return BF_FAIL(BF_ECORRUPT, "%s: n_features %lld but %d feature names", what, (long long)v,
                       m->F);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(r, "horizons");
    if (!cJSON_IsArray(h) || cJSON_GetArraySize(h) < 1 || cJSON_GetArraySize(h) > BF_MAX_HORIZONS)
        return BF_FAIL(BF_ECORRUPT, "%s: 'horizons' must be an array of 1 to %d integers", what,
                       BF_MAX_HORIZONS);
    const cJSON *e;
    m->H = 0;
    cJSON_ArrayForEach(e, h) m->horizons[m->H++] = (int)e->valuedouble;
    char *iv = NULL;
    BF_TRY(str_array(r, "intervals", what, &n, &iv, 16));
    if (n < 1 || n > BF_MAX_INTERVALS) {
        free(iv);
        return BF_FAIL(BF_ECORRUPT, "%s: %lld intervals (1 to %d expected)", what, (long long)n,
                       BF_MAX_INTERVALS);
    }
    m->n_intervals = (int)n;
    bf_status st = BF_OK;
    for (int i = 0; i < m->n_intervals && st == BF_OK; i++)
        st = bf_interval_parse(iv + 16 * i, &m->interval_s[i]);
    free(iv);
    BF_TRY(st);
    BF_TRY(bf_json_get_int(r, "target_horizon", what, &v));
    m->target_horizon = (int)v;
    BF_TRY(bf_json_get_int(r, "target_index", what, &v));
    if (v < 0 || v >= m->H || m->horizons[v] != m->target_horizon)
        return BF_FAIL(BF_ECORRUPT, "%s: target_index %lld does not point at target_horizon %d",
                       what, (long long)v, m->target_horizon);
    m->target_index = (int)v;
    BF_TRY(bf_json_get_int(r, "seq_len", what, &v));
    m->seq_len = (int)v;
    BF_TRY(bf_json_get_int(r, "max_horizon", what, &v));
    m->max_horizon = (int)v;
    BF_TRY(bf_json_get_int(r, "purge_bars", what, &v));
    m->purge_bars = (int)v;
    m->labels_cross_overnight =
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "labels_cross_overnight"));
    char *sy = NULL;
    BF_TRY(str_array(r, "symbols", what, &m->n_symbols, &sy, BF_SYMBOL_MAX));
    m->symbols = (char(*)[BF_SYMBOL_MAX])sy;
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(r, "split");
    BF_TRY(bf_json_get_int(sp, "val_start_utc", what, &m->val_start));
    BF_TRY(bf_json_get_int(sp, "test_start_utc", what, &m->test_start));
    const cJSON *rw = cJSON_GetObjectItemCaseSensitive(r, "rows");
    for (int k = 0; k < 3; k++)
        BF_TRY(bf_json_get_int(rw, g_splits[k], what, &m->rows[k]));
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(r, "scaler");
    BF_TRY(bf_json_get_str(sc, "kind", what, &s));
    snprintf(m->scaler_kind, sizeof m->scaler_kind, "%s", s);
    return BF_OK;
}

bf_status bf_dataset_meta_load(const char *path, bf_dataset_meta *m)
{
    memset(m, 0, sizeof *m);
    BF_TRY(bf_dataset_resolve(path, m->dir, sizeof m->dir));
    char mp[4400];
    snprintf(mp, sizeof mp, "%s/meta.json", m->dir);
    cJSON *r = NULL;
    BF_TRY(bf_json_load(mp, &r));
    bf_status st = parse_meta(r, mp, m);
    cJSON_Delete(r);
    if (st != BF_OK)
        bf_dataset_meta_free(m);
    return st;
}

static bf_status verify_file(const char *dir, const char *file)
{
    char mp[4400], fp[4400];
    snprintf(mp, sizeof mp, "%s/meta.json", dir);
    snprintf(fp, sizeof fp, "%s/%s", dir, file);
    cJSON *r = NULL;
    BF_TRY(bf_json_load(mp, &r));
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(r, "files");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(files, file);
    const char *want = NULL;
    bf_status st = bf_json_get_str(e, "crc32", mp, &want);
    uint32_t crc = 0;
    if (st == BF_OK)
        st = bf_ds_file_crc32(fp, &crc);
    if (st == BF_OK) {
        char got[9];
        snprintf(got, sizeof got, "%08x", crc);
        if (strcmp(got, want) != 0)
            st = BF_FAIL(BF_ECORRUPT, "checksum mismatch for '%s': the file's CRC-32 is %s but "
                         "meta.json records %s (modified or truncated after the build; rebuild "
                         "or restore it)", fp, got, want);
    }
    cJSON_Delete(r);
    return st;
}

bf_status bf_dataset_open_ex(const char *path, const char *split, int verify, bf_dataset *out)
{
    memset(out, 0, sizeof *out);
    int k = bf_dataset_split_index(split);
    if (k < 0)
        return BF_FAIL(BF_EINVAL, "unknown split '%s' (expected train, val or test)",
                       split ? split : "(null)");
    snprintf(out->split, sizeof out->split, "%s", split);
    BF_TRY(bf_dataset_meta_load(path, &out->meta));
    bf_dataset_meta *m = &out->meta;
    char file[16], fp[4400];
    snprintf(file, sizeof file, "%s.h5", split);
    snprintf(fp, sizeof fp, "%s/%s", m->dir, file);
    bf_status st = verify ? verify_file(m->dir, file) : BF_OK;
    hid_t f = -1;
    if (st == BF_OK)
        st = bf_h5_open(fp, 0, &f);
    int64_t n = m->rows[k];
    out->n = n;
    out->F = m->F;
    out->H = m->H;
    size_t cn = (size_t)(n ? n : 1);
    if (st == BF_OK) {
        out->X = malloc(cn * (size_t)m->F * sizeof *out->X);
        out->y = malloc(cn * (size_t)m->H * sizeof *out->y);
        out->sym_id = malloc(cn * sizeof *out->sym_id);
        out->ts = malloc(cn * sizeof *out->ts);
        if (!out->X || !out->y || !out->sym_id || !out->ts)
            st = BF_FAIL(BF_ENOMEM, "out of memory loading %lld rows of '%s'", (long long)n, fp);
    }
    if (st == BF_OK)
        st = bf_h5_read_into(f, "X", BF_H5_F32, out->X, n, m->F);
    if (st == BF_OK)
        st = bf_h5_read_into(f, "y", BF_H5_F32, out->y, n, m->H);
    if (st == BF_OK)
        st = bf_h5_read_into(f, "sym_id", BF_H5_I32, out->sym_id, n, 1);
    if (st == BF_OK)
        st = bf_h5_read_into(f, "ts", BF_H5_I64, out->ts, n, 1);
    if (f >= 0)
        bf_h5_close(f);
    for (int64_t i = 0; st == BF_OK && i < n; i++)
        if (out->sym_id[i] < 0 || out->sym_id[i] >= m->n_symbols)
            st = BF_FAIL(BF_ECORRUPT, "'%s': sym_id %d at row %lld is outside [0, %lld)", fp,
                         out->sym_id[i], (long long)i, (long long)m->n_symbols);
    if (st != BF_OK)
        bf_dataset_free(out);
    return st;
}

bf_status bf_dataset_open(const char *path, const char *split, bf_dataset *out)
{
    return bf_dataset_open_ex(path, split, 1, out);
}

void bf_dataset_free(bf_dataset *d)
{
    free(d->X);
    free(d->y);
    free(d->sym_id);
    free(d->ts);
    bf_dataset_meta_free(&d->meta);
    memset(d, 0, sizeof *d);
}

bf_status bf_dataset_scalers_load(const bf_dataset_meta *m, double **median, double **iqr,
                                  int64_t *rows)
{
    *median = *iqr = NULL;
    BF_TRY(verify_file(m->dir, "scalers.h5"));
    char fp[4400];
    snprintf(fp, sizeof fp, "%s/scalers.h5", m->dir);
    hid_t f;
    BF_TRY(bf_h5_open(fp, 0, &f));
    int64_t r, c, r2, c2;
    void *a = NULL, *b = NULL;
    bf_status st = bf_h5_read_alloc(f, "median", BF_H5_F64, &a, &r, &c);
    if (st == BF_OK)
        st = bf_h5_read_alloc(f, "iqr", BF_H5_F64, &b, &r2, &c2);
    bf_h5_close(f);
    if (st == BF_OK && (c != m->F || c2 != m->F || r != r2))
        st = BF_FAIL(BF_ECORRUPT, "'%s': scaler shapes %lldx%lld / %lldx%lld do not match %d "
                     "features", fp, (long long)r, (long long)c, (long long)r2, (long long)c2, m->F);
    if (st != BF_OK) {
        free(a);
        free(b);
        return st;
    }
    *median = a;
    *iqr = b;
    *rows = r;
    return BF_OK;
}
