#define _GNU_SOURCE
/* delta_publish.c - rank 0's half of the delta: de-duplicate against
 * extended_master/cum.h5, publish the update directory, replace cum.h5.
 *
 * Order matters for crashes: the update directory is published first (a
 * no-replace rename of a complete temp dir), then cum.h5 is rebuilt as
 * cum.h5.tmp.<pid> (old rows copied, new rows appended, fsync) and renamed
 * over cum.h5. A crash before that rename leaves cum.h5 untouched; the next
 * run finds the rows still missing from cum.h5 and appends them (its update
 * directory then gets a -2 suffix). Stale temp files of dead processes are
 * removed at the start.
 */
#include "core/feat/delta_internal.h"

#include "core/base/fsutil.h"
#include "core/base/h5.h"
#include "core/base/json.h"
#include "core/base/timeutil.h"
#include "core/feat/dataset_io.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define COPY_ROWS 65536

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* (sym_id, ts) as one sortable key: ts < 2^40 s (year 36812), sym_id < 2^23 */
static uint64_t row_key(int32_t sym, int64_t ts) { return ((uint64_t)sym << 40) | (uint64_t)ts; }

static int has_key(const uint64_t *k, int64_t n, uint64_t key)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (k[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && k[lo] == key;
}

/* cum.h5.tmp.<pid> files whose process is gone */
static void remove_stale_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *pre = "cum.h5.tmp.";
        if (strncmp(e->d_name, pre, strlen(pre)) != 0)
            continue;
        long pid = strtol(e->d_name + strlen(pre), NULL, 10);
        if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
            char p[4400];
            if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < (int)sizeof p)
                unlink(p);
        }
    }
    closedir(d);
}

/* Existing cum.h5 of this master: its row keys (sorted) and row count. A cum.h5
 * of another master is renamed to cum-<version>.h5 and a new one started. */
static bf_status load_cum(const char *cum, const char *em, const char *master_version,
                          uint64_t **keys, int64_t *n, char **updates)
{
    *keys = NULL;
    *n = 0;
    *updates = NULL;
    if (!bf_path_exists(cum))
        return BF_OK;
    hid_t f;
    BF_TRY(bf_h5_open(cum, 0, &f));
    char *mv = NULL;
    bf_status st = bf_h5_attr_get_str(f, "/", "master_version", &mv);
    if (st == BF_OK && strcmp(mv, master_version) != 0) {
        bf_h5_close(f);
        char old[4400];
        for (int k = 1; k < 1000; k++) {
            int len = k == 1 ? snprintf(old, sizeof old, "%s/cum-%s.h5", em, mv)
                             : snprintf(old, sizeof old, "%s/cum-%s-%d.h5", em, mv, k);
            if (len >= (int)sizeof old)
                break;
            if (!bf_path_exists(old))
                break;
        }
        free(mv);
        if (rename(cum, old) != 0)
            return bf_fail_errno(__FILE__, __LINE__, "rename", "cannot move '%s' aside", cum);
        return bf_fsync_dir_of(cum);
    }
    free(mv);
    int64_t rows = 0, cols;
    void *sym = NULL, *ts = NULL;
    if (st == BF_OK)
        st = bf_h5_read_alloc(f, "sym_id", BF_H5_I32, &sym, &rows, &cols);
    if (st == BF_OK)
        st = bf_h5_read_alloc(f, "ts", BF_H5_I64, &ts, &rows, &cols);
    if (st == BF_OK && bf_h5_attr_get_str(f, "/", "updates", updates) != BF_OK)
        *updates = NULL;
    bf_h5_close(f);
    uint64_t *k = st == BF_OK ? malloc((size_t)(rows ? rows : 1) * sizeof *k) : NULL;
    if (st == BF_OK && !k)
        st = BF_FAIL(BF_ENOMEM, "out of memory for %lld cum.h5 keys", (long long)rows);
    for (int64_t i = 0; st == BF_OK && i < rows; i++)
        k[i] = row_key(((int32_t *)sym)[i], ((int64_t *)ts)[i]);
    free(sym);
    free(ts);
    if (st != BF_OK) {
        free(k);
        return bf_fail_context(st, "reading %s", cum);
    }
    qsort(k, (size_t)rows, sizeof *k, cmp_u64);
    *keys = k;
    *n = rows;
    return BF_OK;
}

typedef struct upd_ctx {
    const bf_build_opts *o;
    const master_info *mi;
    const rowbuf *rows;
    int purge;
    int64_t cum_before;
    char crc[9];
    int64_t bytes;
} upd_ctx;

static bf_status prepare_update(void *vctx, const char *tmp, const char *name)
{
    const upd_ctx *c = vctx;
    cJSON *r = cJSON_CreateObject();
    char buf[32];
    cJSON_AddNumberToObject(r, "schema_version", BF_DATASET_SCHEMA_VERSION);
    cJSON_AddStringToObject(r, "format", "barforge-delta");
    cJSON_AddStringToObject(r, "version", name);
    cJSON_AddStringToObject(r, "master_version", c->mi->meta.version);
    cJSON_AddStringToObject(r, "master_checksum", c->mi->meta.checksum);
    bf_time_format((int64_t)time(NULL), buf, sizeof buf);
    cJSON_AddStringToObject(r, "created_utc", buf);
    cJSON_AddNumberToObject(r, "rows", (double)c->rows->n);
    cJSON_AddNumberToObject(r, "purge_bars", c->purge);
    cJSON_AddNumberToObject(r, "seq_len", c->o->seq_len);
    cJSON_AddNumberToObject(r, "cum_rows_before", (double)c->cum_before);
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (int64_t i = 0; i < c->rows->n; i++) {
        lo = c->rows->ts[i] < lo ? c->rows->ts[i] : lo;
        hi = c->rows->ts[i] > hi ? c->rows->ts[i] : hi;
    }
    bf_time_format(lo, buf, sizeof buf);
    cJSON_AddStringToObject(r, "first_row", buf);
    bf_time_format(hi, buf, sizeof buf);
    cJSON_AddStringToObject(r, "last_row", buf);
    cJSON *args = c->o->build_args_json ? cJSON_Parse(c->o->build_args_json) : NULL;
    cJSON_AddItemToObject(r, "build_args", args ? args : cJSON_CreateObject());
    cJSON *fl = cJSON_AddObjectToObject(r, "files");
    cJSON *e = cJSON_AddObjectToObject(fl, "delta.h5");
    cJSON_AddStringToObject(e, "crc32", c->crc);
    cJSON_AddNumberToObject(e, "bytes", (double)c->bytes);
    char path[4400];
    snprintf(path, sizeof path, "%s/meta.json", tmp);
    bf_status st = bf_json_save(path, r);
    cJSON_Delete(r);
    return st;
}

static bf_status write_rows_file(const char *path, const bf_build_opts *o, const master_info *mi,
                                 const rowbuf *rows, const char *split, int64_t old_n,
                                 const char *old_path, const char *updates)
{
    bf_split_file sf;
    int64_t total = old_n + rows->n;
    BF_TRY(bf_splitfile_create(&sf, path, 0, total, rows->F, rows->H, o->compress));
    bf_status st = BF_OK;
    if (old_n > 0) { /* copy-on-write: the old rows first, in bounded chunks */
        hid_t f = -1;
        st = bf_h5_open(old_path, 0, &f);
        rowbuf c = {0, 0, rows->F, rows->H, NULL, NULL, NULL, NULL};
        c.X = malloc((size_t)COPY_ROWS * (size_t)rows->F * sizeof(float));
        c.y = malloc((size_t)COPY_ROWS * (size_t)rows->H * sizeof(float));
        c.sym = malloc((size_t)COPY_ROWS * sizeof(int32_t));
        c.ts = malloc((size_t)COPY_ROWS * sizeof(int64_t));
        if (st == BF_OK && (!c.X || !c.y || !c.sym || !c.ts))
            st = BF_FAIL(BF_ENOMEM, "out of memory copying cum.h5");
        for (int64_t r0 = 0; st == BF_OK && r0 < old_n; r0 += COPY_ROWS) {
            int64_t n = old_n - r0 < COPY_ROWS ? old_n - r0 : COPY_ROWS;
            st = bf_h5_read_rows(f, "X", BF_H5_F32, r0, n, c.X);
            if (st == BF_OK)
                st = bf_h5_read_rows(f, "y", BF_H5_F32, r0, n, c.y);
            if (st == BF_OK)
                st = bf_h5_read_rows(f, "sym_id", BF_H5_I32, r0, n, c.sym);
            if (st == BF_OK)
                st = bf_h5_read_rows(f, "ts", BF_H5_I64, r0, n, c.ts);
            if (st == BF_OK)
                st = bf_splitfile_write(&sf, r0, n, c.X, c.y, c.sym, c.ts);
        }
        bf_rowbuf_free(&c);
        if (f >= 0)
            bf_h5_close(f);
    }
    if (st == BF_OK)
        st = bf_splitfile_write(&sf, old_n, rows->n, rows->X, rows->y, rows->sym, rows->ts);
    if (st == BF_OK && old_n > 0)
        bf_ds_fault("delta_append_after_rows");
    if (st == BF_OK)
        st = bf_splitfile_attrs(&sf, split, &o->spec, mi->meta.target_index,
                                (int)mi->meta.n_symbols);
    if (st == BF_OK)
        st = bf_h5_attr_set_str(sf.f, "/", "master_version", mi->meta.version);
    if (st == BF_OK && updates)
        st = bf_h5_attr_set_str(sf.f, "/", "updates", updates);
    bf_status cs = bf_splitfile_close(&sf);
    return st != BF_OK ? st : cs;
}

bf_status bf_delta_publish(const bf_build_opts *o, const master_info *mi, int purge, rowbuf *rows,
                           bf_build_drops *d, char *name, size_t name_n, int64_t counts[2])
{
    name[0] = 0;
    char em[4096], cum[4200], upd[4096];
    if (snprintf(em, sizeof em, "%s/extended_master", o->datasets_root) >= (int)sizeof em ||
        snprintf(upd, sizeof upd, "%s/updates", o->datasets_root) >= (int)sizeof upd)
        return BF_FAIL(BF_EINVAL, "--datasets-root '%s' is too long", o->datasets_root);
    snprintf(cum, sizeof cum, "%s/cum.h5", em);
    BF_TRY(bf_mkdir_p(em));
    remove_stale_tmp(em);
    uint64_t *keys = NULL;
    int64_t old_n = 0;
    char *updates = NULL;
    BF_TRY(load_cum(cum, em, mi->meta.version, &keys, &old_n, &updates));
    /* keep rows whose (sym_id, ts) is not in cum.h5 yet */
    int64_t k = 0;
    for (int64_t i = 0; i < rows->n; i++) {
        if (has_key(keys, old_n, row_key(rows->sym[i], rows->ts[i])))
            continue;
        if (k != i) {
            memmove(rows->X + k * rows->F, rows->X + i * rows->F, (size_t)rows->F * sizeof(float));
            memmove(rows->y + k * rows->H, rows->y + i * rows->H, (size_t)rows->H * sizeof(float));
            rows->sym[k] = rows->sym[i];
            rows->ts[k] = rows->ts[i];
        }
        k++;
    }
    d->rows_duplicate += rows->n - k;
    rows->n = k;
    free(keys);
    counts[0] = k;
    counts[1] = old_n;
    if (k == 0) {
        free(updates);
        return BF_OK;
    }
    /* 1. the update directory */
    char date[16], tmp[4600], base[64];
    bf_ds_date(o->today, date);
    snprintf(base, sizeof base, "update_%s", date);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp-%ld", upd, base, (long)getpid());
    bf_status st = bf_mkdir_p(tmp);
    upd_ctx c = {o, mi, rows, purge, old_n, "", 0};
    if (st == BF_OK) {
        char p[4700];
        snprintf(p, sizeof p, "%s/delta.h5", tmp);
        st = write_rows_file(p, o, mi, rows, "delta", 0, NULL, NULL);
        uint32_t crc = 0;
        struct stat sb;
        if (st == BF_OK)
            st = bf_ds_file_crc32(p, &crc);
        if (st == BF_OK)
            st = bf_fsync_path(p);
        if (st == BF_OK && stat(p, &sb) == 0)
            c.bytes = (int64_t)sb.st_size;
        bf_ds_hex32(crc, c.crc);
    }
    if (st == BF_OK)
        st = bf_ds_publish_dir(tmp, upd, base, prepare_update, &c, name, name_n);
    if (st != BF_OK) {
        bf_ds_rmtree(tmp);
        free(updates);
        return st;
    }
    /* 2. cum.h5, copy-on-write */
    size_t ul = (updates ? strlen(updates) : 0) + strlen(name) + 2;
    char *nu = malloc(ul);
    if (!nu) {
        free(updates);
        return BF_FAIL(BF_ENOMEM, "out of memory");
    }
    snprintf(nu, ul, "%s%s%s", updates ? updates : "", updates ? "," : "", name);
    free(updates);
    char ctmp[4600];
    bf_tmp_path(cum, ctmp, sizeof ctmp);
    st = write_rows_file(ctmp, o, mi, rows, "cum", old_n, cum, nu);
    free(nu);
    if (st == BF_OK)
        st = bf_commit_file(ctmp, cum);
    if (st != BF_OK) {
        unlink(ctmp);
        return bf_fail_context(st, "cum.h5 unchanged (update %s was published)", name);
    }
    counts[1] = old_n + k;
    return BF_OK;
}
