/* eval.c - see eval.h. */
#define _GNU_SOURCE
#include "core/train/eval.h"

#include "core/base/fsutil.h"
#include "core/base/h5.h"
#include "core/base/json.h"
#include "core/base/log.h"
#include "core/base/timeutil.h"
#include "core/nn/model.h"
#include "core/train/checkpoint.h"
#include "core/train/data.h"
#include "core/train/window.h"
#include "dist/mpi_env.h"

#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void bf_eval_opts_defaults(bf_eval_opts *o)
{
    memset(o, 0, sizeof *o);
    o->datasets_root = "artifacts/datasets";
    o->split = "test";
    o->batch_size = 512;
}

bf_status bf_eval_predict(bf_model *m, const bf_window_index *wi, const bf_window_source *src,
                          int64_t lo, int64_t hi, int bs, float *xbuf, float *ybuf,
                          int32_t *symbuf, float *pred, float *y, int64_t *rows, double *loss_sum)
{
    if (bs > m->max_batch)
        bs = m->max_batch;
    for (int64_t i = lo; i < hi; i += bs) {
        int b = (int)(hi - i < bs ? hi - i : bs);
        bf_window_gather_range(wi, src, i, b, xbuf, ybuf, symbuf, rows ? rows + (i - lo) : NULL);
        float loss = 0;
        BF_TRY(bf_model_forward(m, xbuf, symbuf, ybuf, b, 0, 0, &loss));
        *loss_sum += (double)loss * b;
        if (pred)
            memcpy(pred + (i - lo), m->pred, (size_t)b * sizeof(float));
        if (y)
            memcpy(y + (i - lo), ybuf, (size_t)b * sizeof(float));
    }
    return BF_OK;
}

/* <run>/<stem>: the checkpoint's run folder when it sits in <run>/checkpoints/ */
static void default_out(const char *ckpt, const char *prefix, const char *split, const char *ext,
                        char *out, size_t n)
{
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s", ckpt);
    snprintf(b, sizeof b, "%s", ckpt);
    char *dir = dirname(a);
    char *base = basename(b);
    char stem[512];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot)
        *dot = 0;
    size_t dl = strlen(dir);
    if (dl >= 12 && strcmp(dir + dl - 12, "/checkpoints") == 0)
        dir[dl - 12] = 0;
    else if (strcmp(dir, "checkpoints") == 0)
        snprintf(dir, 2, ".");
    snprintf(out, n, "%s/%s_%s_%s.%s", dir, prefix, stem, split, ext);
}

static bf_status write_csv(const char *path, const bf_split_data *d, const int64_t *rows,
                           const float *y, const float *p, int64_t n)
{
    char tmp[4300];
    bf_tmp_path(path, tmp, sizeof tmp);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return bf_fail_errno(__FILE__, __LINE__, "fopen", "cannot create '%s'", tmp);
    fputs("ts,symbol,y,y_hat\n", f);
    for (int64_t i = 0; i < n; i++) {
        char ts[32];
        bf_time_format(d->ts[rows[i]], ts, sizeof ts);
        int s = d->sym_id[rows[i]];
        fprintf(f, "%s,%s,%.9g,%.9g\n", ts, d->symbols[s], (double)y[i], (double)p[i]);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        unlink(tmp);
        return BF_FAIL(BF_EIO, "cannot write predictions '%s' (disk full?)", path);
    }
    bf_status st = bf_commit_file(tmp, path);
    if (st != BF_OK)
        unlink(tmp);
    return st;
}

static bf_status write_h5(const char *path, const bf_split_data *d, const int64_t *rows,
                          const float *y, const float *p, int64_t n)
{
    char tmp[4300];
    bf_tmp_path(path, tmp, sizeof tmp);
    int64_t *ts = malloc((size_t)(n ? n : 1) * sizeof *ts);
    int32_t *sym = malloc((size_t)(n ? n : 1) * sizeof *sym);
    if (!ts || !sym) {
        free(ts);
        free(sym);
        return BF_FAIL(BF_ENOMEM, "out of memory writing '%s'", path);
    }
    for (int64_t i = 0; i < n; i++) {
        ts[i] = d->ts[rows[i]];
        sym[i] = d->sym_id[rows[i]];
    }
    /* symbols as one newline-joined attribute: h5py reads it as str */
    size_t len = 1;
    for (int i = 0; i < d->n_symbols; i++)
        len += strlen(d->symbols[i]) + 1;
    char *names = calloc(len, 1);
    hid_t f = -1;
    bf_status st = names ? bf_h5_create(tmp, &f) : BF_FAIL(BF_ENOMEM, "out of memory");
    if (st == BF_OK) {
        for (int i = 0; i < d->n_symbols; i++) {
            strcat(names, d->symbols[i]);
            if (i + 1 < d->n_symbols)
                strcat(names, "\n");
        }
        st = bf_h5_write(f, "/ts", BF_H5_I64, ts, n, 1, 0);
        if (st == BF_OK)
            st = bf_h5_write(f, "/sym_id", BF_H5_I32, sym, n, 1, 0);
        if (st == BF_OK)
            st = bf_h5_write(f, "/y", BF_H5_F32, y, n, 1, 0);
        if (st == BF_OK)
            st = bf_h5_write(f, "/y_hat", BF_H5_F32, p, n, 1, 0);
        if (st == BF_OK)
            st = bf_h5_attr_set_str(f, "/", "symbols", names);
        bf_status sc = bf_h5_close(f);
        if (st == BF_OK)
            st = sc;
    }
    if (st == BF_OK)
        st = bf_commit_file(tmp, path);
    if (st != BF_OK)
        unlink(tmp);
    free(names);
    free(ts);
    free(sym);
    return st;
}

/* Gather each rank's n_local values to rank 0 in rank order. */
static bf_status gather(const void *src, int64_t n_local, MPI_Datatype t, void *dst)
{
    int size = bf_mpi_size();
    int cnt = (int)n_local;
    int *counts = calloc((size_t)size, sizeof(int)), *displs = calloc((size_t)size, sizeof(int));
    if (!counts || !displs) {
        free(counts);
        free(displs);
        return BF_FAIL(BF_ENOMEM, "out of memory gathering predictions");
    }
    MPI_Gather(&cnt, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD);
    for (int r = 1; r < size; r++)
        displs[r] = displs[r - 1] + counts[r - 1];
    int rc = MPI_Gatherv(src, cnt, t, dst, counts, displs, t, 0, MPI_COMM_WORLD);
    free(counts);
    free(displs);
    if (rc != MPI_SUCCESS)
        return BF_FAIL(BF_EMPI, "gathering predictions failed (MPI error %d)", rc);
    return BF_OK;
}

typedef struct ev {
    bf_ckpt_info info;
    bf_split_data d;
    bf_window_index wi;
    bf_model m;
    float *xb, *yb, *pred, *y;
    int32_t *symb;
    int64_t *rows;
    float *all_pred, *all_y;
    int64_t *all_rows;
} ev;

static void ev_free(ev *e)
{
    bf_ckpt_info_free(&e->info);
    bf_split_data_free(&e->d);
    bf_window_index_free(&e->wi);
    bf_model_free(&e->m);
    free(e->xb), free(e->yb), free(e->pred), free(e->y), free(e->symb), free(e->rows);
    free(e->all_pred), free(e->all_y), free(e->all_rows);
}

static bf_status eval_main(const bf_eval_opts *o, bf_eval_result *r, ev *e)
{
    if (!o->checkpoint || !*o->checkpoint)
        return BF_FAIL(BF_EINVAL, "--checkpoint is required (e.g. artifacts/runs/<ts>/checkpoints/best.h5)");
    const char *split = o->split ? o->split : "test";
    if (strcmp(split, "train") && strcmp(split, "val") && strcmp(split, "test"))
        return BF_FAIL(BF_EINVAL, "--split '%s': expected train, val or test", split);
    if (o->batch_size < 1)
        return BF_FAIL(BF_EINVAL, "--batch-size %d must be >= 1", o->batch_size);
    BF_TRY(bf_ckpt_read_info(o->checkpoint, &e->info));
    BF_TRY(bf_split_data_open(o->datasets_root, split, &e->d));
    const bf_model_config *cfg = &e->info.cfg;
    if (cfg->n_features != e->d.F)
        return BF_FAIL(BF_EINVAL, "checkpoint '%s' expects %d features; the %s split of '%s' has "
                       "%d: evaluate it on the dataset it was trained on", o->checkpoint,
                       cfg->n_features, split, e->d.dir, e->d.F);
    if (cfg->n_symbols != e->d.n_symbols)
        return BF_FAIL(BF_EINVAL, "checkpoint '%s' embeds %d symbols; dataset '%s' has %d",
                       o->checkpoint, cfg->n_symbols, e->d.dir, e->d.n_symbols);
    if (strcmp(e->info.dataset_checksum, e->d.checksum) != 0) {
        if (!o->allow_mismatch)
            return BF_FAIL(BF_EINVAL, "checkpoint '%s' was trained on dataset %s (checksum %s); "
                           "'%s' is %s (checksum %s). Pass --allow-mismatch to evaluate anyway",
                           o->checkpoint, e->info.dataset_version, e->info.dataset_checksum,
                           e->d.dir, e->d.version, e->d.checksum);
        BF_WARN("--allow-mismatch: evaluating a model trained on dataset %s on %s",
                e->info.dataset_version, e->d.version);
    }
    BF_TRY(bf_window_index_build(&e->wi, e->d.sym_id, e->d.n_rows, cfg->seq_len, 1));
    if (e->wi.n == 0)
        return BF_FAIL(BF_EINVAL, "the %s split of '%s' has no window of length %d", split,
                       e->d.dir, cfg->seq_len);
    BF_TRY(bf_model_init(&e->m, cfg, o->batch_size, e->info.state.rng_seed));
    BF_TRY(bf_ckpt_load(o->checkpoint, &e->m, NULL, NULL));

    int rank = bf_mpi_rank(), size = bf_mpi_size();
    int64_t lo, hi, n = e->wi.n;
    bf_shard_range(n, rank, size, &lo, &hi);
    int64_t nl = hi - lo;
    size_t per = (size_t)cfg->n_features * (size_t)cfg->seq_len;
    e->xb = malloc((size_t)o->batch_size * per * sizeof(float));
    e->yb = malloc((size_t)o->batch_size * sizeof(float));
    e->symb = malloc((size_t)o->batch_size * sizeof(int32_t));
    e->pred = malloc((size_t)(nl ? nl : 1) * sizeof(float));
    e->y = malloc((size_t)(nl ? nl : 1) * sizeof(float));
    e->rows = malloc((size_t)(nl ? nl : 1) * sizeof(int64_t));
    if (!e->xb || !e->yb || !e->symb || !e->pred || !e->y || !e->rows)
        return BF_FAIL(BF_ENOMEM, "out of memory for %lld predictions", (long long)nl);
    double loss_sum = 0;
    bf_window_source src = bf_split_data_source(&e->d);
    BF_TRY(bf_eval_predict(&e->m, &e->wi, &src, lo, hi, o->batch_size, e->xb, e->yb, e->symb,
                           e->pred, e->y, e->rows, &loss_sum));
    float *P = e->pred, *Y = e->y;
    int64_t *R = e->rows;
    if (size > 1) {
        BF_TRY(bf_allreduce_sum_f64(&loss_sum, 1));
        if (rank == 0) {
            e->all_pred = malloc((size_t)n * sizeof(float));
            e->all_y = malloc((size_t)n * sizeof(float));
            e->all_rows = malloc((size_t)n * sizeof(int64_t));
            if (!e->all_pred || !e->all_y || !e->all_rows)
                return BF_FAIL(BF_ENOMEM, "out of memory gathering %lld predictions", (long long)n);
        }
        BF_TRY(gather(e->pred, nl, MPI_FLOAT, e->all_pred));
        BF_TRY(gather(e->y, nl, MPI_FLOAT, e->all_y));
        BF_TRY(gather(e->rows, nl, MPI_INT64_T, e->all_rows));
        P = e->all_pred, Y = e->all_y, R = e->all_rows;
    }
    r->loss = loss_sum / (double)n;
    bf_status st = BF_OK;
    if (rank == 0) {
        st = bf_metrics_compute(Y, P, n, &r->m);
        if (o->out_json && *o->out_json)
            snprintf(r->json_path, sizeof r->json_path, "%s", o->out_json);
        else
            default_out(o->checkpoint, "eval", split, "json", r->json_path, sizeof r->json_path);
        if (o->predictions)
            snprintf(r->pred_path, sizeof r->pred_path, "%s", o->predictions);
        else
            default_out(o->checkpoint, "predictions", split, "csv", r->pred_path,
                        sizeof r->pred_path);
        cJSON *j = st == BF_OK ? cJSON_CreateObject() : NULL;
        if (j) {
            cJSON_AddStringToObject(j, "split", split);
            cJSON_AddStringToObject(j, "checkpoint", o->checkpoint);
            cJSON_AddNumberToObject(j, "step", (double)e->info.state.step);
            cJSON_AddStringToObject(j, "dataset_dir", e->d.dir);
            cJSON_AddStringToObject(j, "dataset_version", e->d.version);
            cJSON_AddStringToObject(j, "dataset_checksum", e->d.checksum);
            if (isfinite(r->loss))
                cJSON_AddNumberToObject(j, "loss", r->loss);
            else
                cJSON_AddNullToObject(j, "loss");
            cJSON_AddStringToObject(j, "loss_fn", bf_loss_name(cfg->loss));
            bf_metrics_add_json(&r->m, j);
            if (r->pred_path[0])
                cJSON_AddStringToObject(j, "predictions", r->pred_path);
            char *txt = cJSON_PrintUnformatted(j);
            if (txt) {
                snprintf(r->json, sizeof r->json, "%s", txt);
                free(txt);
            }
            st = bf_json_save(r->json_path, j);
            cJSON_Delete(j);
        }
        if (st == BF_OK && r->pred_path[0]) {
            size_t pl = strlen(r->pred_path);
            if (pl > 3 && strcmp(r->pred_path + pl - 3, ".h5") == 0)
                st = write_h5(r->pred_path, &e->d, R, Y, P, n);
            else
                st = write_csv(r->pred_path, &e->d, R, Y, P, n);
        }
    }
    if (size > 1) {
        bf_status agreed = bf_status_agree(st);
        if (agreed != BF_OK)
            return st != BF_OK ? st : BF_FAIL(agreed, "rank 0 failed to write the evaluation");
        BF_TRY(bf_bcast_bytes(&r->m, (int64_t)sizeof r->m, 0));
    }
    return st;
}

bf_status bf_eval_run(const bf_eval_opts *o, bf_eval_result *r)
{
    memset(r, 0, sizeof *r);
    ev e;
    memset(&e, 0, sizeof e);
    bf_status st = eval_main(o, r, &e);
    ev_free(&e);
    return st;
}
