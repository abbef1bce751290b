/* rundir.c - see rundir.h. */
#define _GNU_SOURCE
#include "core/train/rundir.h"

#include "core/base/fsutil.h"
#include "core/base/json.h"
#include "core/base/log.h"
#include "dist/mpi_env.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void fill_paths(bf_run_paths *rp)
{
    snprintf(rp->ckpt_dir, sizeof rp->ckpt_dir, "%s/checkpoints", rp->run_dir);
    snprintf(rp->cfg_dir, sizeof rp->cfg_dir, "%s/configs", rp->run_dir);
    snprintf(rp->best, sizeof rp->best, "%s/best.h5", rp->ckpt_dir);
    snprintf(rp->last, sizeof rp->last, "%s/last.h5", rp->ckpt_dir);
}

static bf_status new_run_dir(const char *runs_dir, char *out, size_t n)
{
    BF_TRY(bf_mkdir_p(runs_dir));
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tmv);
    for (int k = 1; k < 1000; k++) {
        if (k == 1)
            snprintf(out, n, "%s/%s", runs_dir, stamp);
        else
            snprintf(out, n, "%s/%s-%d", runs_dir, stamp, k);
        if (mkdir(out, 0755) == 0)
            return BF_OK;
        if (errno != EEXIST)
            return bf_fail_errno(__FILE__, __LINE__, "mkdir", "cannot create run folder '%s'", out);
    }
    return BF_FAIL(BF_EIO, "cannot find a free run folder name under '%s'", runs_dir);
}

static int cmp_name_desc(const void *a, const void *b)
{
    return -strcmp(*(char *const *)a, *(char *const *)b);
}

/* Newest run folder of runs_dir holding a valid checkpoint. */
static bf_status find_run(const char *runs_dir, bf_run_paths *rp)
{
    DIR *d = opendir(runs_dir);
    if (!d)
        return BF_FAIL(BF_ENOTFOUND, "no runs folder '%s'", runs_dir);
    char **names = NULL;
    int nn = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (nn == cap) {
            cap = cap ? 2 * cap : 32;
            char **nw = realloc(names, (size_t)cap * sizeof *names);
            if (!nw)
                break;
            names = nw;
        }
        names[nn] = strdup(e->d_name);
        if (names[nn])
            nn++;
    }
    closedir(d);
    if (nn > 1)
        qsort(names, (size_t)nn, sizeof *names, cmp_name_desc);
    bf_status st = BF_FAIL(BF_ENOTFOUND, "no run folder in '%s' holds a valid checkpoint", runs_dir);
    for (int i = 0; i < nn; i++) {
        char ck[4300];
        snprintf(ck, sizeof ck, "%s/%s/checkpoints", runs_dir, names[i]);
        if (!bf_is_dir(ck))
            continue;
        if (bf_ckpt_find_latest(ck, rp->resume_from, sizeof rp->resume_from, NULL) == BF_OK) {
            snprintf(rp->run_dir, sizeof rp->run_dir, "%s/%s", runs_dir, names[i]);
            st = BF_OK;
            break;
        }
    }
    for (int i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    if (st == BF_OK)
        bf_clear_error();
    return st;
}

static bf_status resolve0(const bf_train_opts *o, bf_run_paths *rp)
{
    memset(rp, 0, sizeof *rp);
    const char *runs = o->runs_dir ? o->runs_dir : "artifacts/runs";
    if (o->resume && strcmp(o->resume, "auto") == 0) {
        if (o->run_dir) {
            snprintf(rp->run_dir, sizeof rp->run_dir, "%s", o->run_dir);
            fill_paths(rp);
            if (bf_is_dir(rp->ckpt_dir) &&
                bf_ckpt_find_latest(rp->ckpt_dir, rp->resume_from, sizeof rp->resume_from, NULL) != BF_OK)
                rp->resume_from[0] = 0;
        } else if (find_run(runs, rp) != BF_OK) {
            rp->resume_from[0] = 0;
            rp->run_dir[0] = 0;
        }
        bf_clear_error();
        if (!rp->resume_from[0])
            BF_INFO("--resume auto: no checkpoint found in %s; starting a new run",
                    o->run_dir ? o->run_dir : runs);
    } else if (o->resume) {
        if (!bf_path_exists(o->resume))
            return BF_FAIL(BF_ENOTFOUND, "--resume '%s': no such checkpoint file", o->resume);
        snprintf(rp->resume_from, sizeof rp->resume_from, "%s", o->resume);
    }
    if (!rp->run_dir[0]) {
        if (o->run_dir)
            snprintf(rp->run_dir, sizeof rp->run_dir, "%s", o->run_dir);
        else
            BF_TRY(new_run_dir(runs, rp->run_dir, sizeof rp->run_dir));
    }
    fill_paths(rp);
    BF_TRY(bf_mkdir_p(rp->ckpt_dir));
    BF_TRY(bf_mkdir_p(rp->cfg_dir));
    bf_ckpt_remove_stale_tmp(rp->ckpt_dir);
    return BF_OK;
}

bf_status bf_run_resolve(const bf_train_opts *o, bf_run_paths *rp)
{
    bf_status st = BF_OK;
    if (bf_mpi_rank() == 0)
        st = resolve0(o, rp);
    if (bf_mpi_size() > 1) {
        bf_status agreed = bf_status_agree(st);
        if (agreed != BF_OK)
            return st != BF_OK ? st : BF_FAIL(agreed, "rank 0 could not set up the run folder");
        BF_TRY(bf_bcast_bytes(rp, (int64_t)sizeof *rp, 0));
    }
    return st;
}

/* ---- model config ------------------------------------------------------- */

static void norm_key(const char *k, char *out, size_t n)
{
    while (*k == '-')
        k++;
    size_t i = 0;
    for (; *k && i + 1 < n; k++)
        out[i++] = *k == '-' ? '_' : *k;
    out[i] = 0;
}

static int non_structural(const char *key)
{
    static const char *const ok[] = {"dropout", "cnn_dropout", "loss", "huber_delta"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (strcmp(key, ok[i]) == 0)
            return 1;
    return 0;
}

static int same_config(const bf_model_config *a, const bf_model_config *b)
{
    char ja[4096], jb[4096];
    if (bf_model_config_to_json(a, ja, sizeof ja) != BF_OK ||
        bf_model_config_to_json(b, jb, sizeof jb) != BF_OK)
        return 0;
    return strcmp(ja, jb) == 0;
}

bf_status bf_run_model_config(const bf_train_opts *o, const bf_split_data *tr,
                              const bf_ckpt_info *ck, const char *ck_path, bf_model_config *cfg)
{
    if (!ck) {
        bf_model_config_defaults(cfg);
        for (int i = 0; i < o->n_model_sets; i++)
            BF_TRY(bf_model_config_set(cfg, o->model_keys[i], o->model_vals[i]));
        cfg->n_features = tr->F;
        cfg->n_symbols = tr->n_symbols;
        return bf_model_config_validate(cfg);
    }
    *cfg = ck->cfg;
    if (ck->cfg.n_features != tr->F)
        return BF_FAIL(BF_EINVAL, "checkpoint '%s' was trained on %d features; the dataset '%s' "
                       "has %d: the input layer cannot change. Use the dataset it was trained on "
                       "or start a new run without --resume", ck_path, ck->cfg.n_features, tr->dir,
                       tr->F);
    if (ck->cfg.n_symbols != tr->n_symbols)
        return BF_FAIL(BF_EINVAL, "checkpoint '%s' embeds %d symbols; the dataset '%s' has %d: the "
                       "symbol embedding cannot change. Use the dataset it was trained on or start "
                       "a new run", ck_path, ck->cfg.n_symbols, tr->dir, tr->n_symbols);
    if (strcmp(ck->dataset_checksum, tr->checksum) != 0) {
        if (!o->allow_mismatch)
            return BF_FAIL(BF_EINVAL, "checkpoint '%s' was trained on dataset %s (checksum %s); "
                           "'%s' is %s (checksum %s). Pass --allow-mismatch to continue on this "
                           "dataset", ck_path, ck->dataset_version, ck->dataset_checksum, tr->dir,
                           tr->version, tr->checksum);
        BF_WARN("--allow-mismatch: continuing checkpoint %s (dataset %s, checksum %s) on %s "
                "(checksum %s)", ck_path, ck->dataset_version, ck->dataset_checksum, tr->version,
                tr->checksum);
    }
    for (int i = 0; i < o->n_model_sets; i++) {
        bf_model_config tmp = *cfg;
        BF_TRY(bf_model_config_set(&tmp, o->model_keys[i], o->model_vals[i]));
        if (same_config(&tmp, cfg))
            continue;
        char key[64];
        norm_key(o->model_keys[i], key, sizeof key);
        if (!non_structural(key))
            return BF_FAIL(BF_EINVAL, "--%s %s differs from checkpoint '%s' (config %s): it "
                           "changes the parameter shapes, so the checkpoint cannot continue. Drop "
                           "the flag or start a new run", o->model_keys[i], o->model_vals[i],
                           ck_path, ck->config_json);
        if (!o->allow_mismatch)
            return BF_FAIL(BF_EINVAL, "--%s %s differs from checkpoint '%s' (config %s); pass "
                           "--allow-mismatch to change it on resume", o->model_keys[i],
                           o->model_vals[i], ck_path, ck->config_json);
        BF_WARN("--allow-mismatch: --%s %s overrides the checkpoint's value", o->model_keys[i],
                o->model_vals[i]);
        *cfg = tmp;
    }
    return bf_model_config_validate(cfg);
}

/* ---- configs --------------------------------------------------------------- */

static cJSON *train_config_json(const bf_train_opts *o, const bf_model *m,
                                const bf_split_data *tr)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "datasets_root", o->datasets_root ? o->datasets_root : "");
    cJSON_AddStringToObject(j, "dataset_dir", tr->dir);
    cJSON_AddStringToObject(j, "dataset_version", tr->version);
    cJSON_AddStringToObject(j, "dataset_checksum", tr->checksum);
    cJSON_AddNumberToObject(j, "seq_len", m->cfg.seq_len);
    cJSON_AddNumberToObject(j, "stride", o->stride);
    cJSON_AddNumberToObject(j, "batch_size", o->batch_size);
    cJSON_AddNumberToObject(j, "max_epochs", o->max_epochs);
    cJSON_AddNumberToObject(j, "patience", o->patience);
    cJSON_AddNumberToObject(j, "lr", o->lr);
    cJSON_AddNumberToObject(j, "weight_decay", o->weight_decay);
    cJSON_AddNumberToObject(j, "grad_clip", o->grad_clip);
    cJSON_AddStringToObject(j, "lr_schedule", o->lr_schedule == BF_LR_COSINE ? "cosine" : "none");
    cJSON_AddNumberToObject(j, "warmup_steps", (double)o->warmup_steps);
    cJSON_AddNumberToObject(j, "max_steps", (double)o->max_steps);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON_AddBoolToObject(j, "use_amp", o->use_amp);
    cJSON_AddStringToObject(j, "gemm_precision", bf_nn_amp() ? "bf16-amx" : "fp32");
    cJSON_AddNumberToObject(j, "num_workers", o->num_workers);
    cJSON_AddNumberToObject(j, "eval_every_steps", (double)o->eval_every_steps);
    cJSON_AddNumberToObject(j, "log_every_steps", (double)o->log_every_steps);
    cJSON_AddNumberToObject(j, "ckpt_every_steps", (double)o->ckpt_every_steps);
    cJSON_AddNumberToObject(j, "ckpt_every_seconds", o->ckpt_every_seconds);
    cJSON_AddNumberToObject(j, "keep_ckpts", o->keep_ckpts);
    cJSON_AddNumberToObject(j, "world_size", bf_mpi_size());
    cJSON_AddNumberToObject(j, "n_params", (double)m->n_params);
    cJSON *flags = NULL;
    if (o->args_json && *o->args_json)
        flags = cJSON_Parse(o->args_json);
    cJSON_AddItemToObject(j, "flags", flags ? flags : cJSON_CreateNull());
    return j;
}

bf_status bf_run_write_configs(const bf_run_paths *rp, const bf_train_opts *o, const bf_model *m,
                               const bf_split_data *tr, int resuming, int64_t step)
{
    char path[4400], js[4096];
    cJSON *tc = train_config_json(o, m, tr);
    if (!tc)
        return BF_FAIL(BF_ENOMEM, "out of memory building train_config.json");
    /* a resume into a folder that has its configs keeps them and records
     * the new invocation beside them */
    snprintf(path, sizeof path, "%s/train_config.json", rp->cfg_dir);
    if (resuming && bf_path_exists(path))
        snprintf(path, sizeof path, "%s/resume-step%08lld.json", rp->cfg_dir, (long long)step);
    bf_status st = bf_json_save(path, tc);
    cJSON_Delete(tc);
    BF_TRY(st);
    snprintf(path, sizeof path, "%s/model_config.json", rp->cfg_dir);
    if (resuming && bf_path_exists(path))
        return BF_OK;
    BF_TRY(bf_model_config_to_json(&m->cfg, js, sizeof js));
    cJSON *mc = cJSON_Parse(js);
    if (!mc)
        return BF_FAIL(BF_ERR, "model config JSON does not parse: %s", js);
    st = bf_json_save(path, mc);
    cJSON_Delete(mc);
    return st;
}
