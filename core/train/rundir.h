/* rundir.h - where a training run lives and what it starts from.
 *
 * A new run gets <runs_dir>/<YYYYMMDD-HHMMSS> (UTC; "-2", "-3" appended if
 * taken) unless run_dir is given. --resume auto looks in run_dir when given,
 * else in the run folders of runs_dir, newest name first, and takes the first
 * folder holding a valid checkpoint (checkpoint.h: bf_ckpt_find_latest); with
 * none anywhere it starts a new run, so one command line serves the first
 * launch and every requeue. --resume PATH starts a new run folder (or
 * run_dir) from that file.
 * Rank 0 decides and creates the folders; every rank receives the paths.
 */
#ifndef BF_TRAIN_RUNDIR_H
#define BF_TRAIN_RUNDIR_H

#include "core/nn/model.h"
#include "core/train/checkpoint.h"
#include "core/train/data.h"
#include "core/train/train.h"

typedef struct bf_run_paths {
    char run_dir[4096];
    char ckpt_dir[4200];
    char cfg_dir[4200];
    char best[4300];
    char last[4300];
    char resume_from[4300]; /* "" when the run starts fresh */
} bf_run_paths;

/* Collective. */
bf_status bf_run_resolve(const bf_train_opts *o, bf_run_paths *rp);

/* The model config of this run: defaults + o's overrides with the dataset's
 * n_features / n_symbols, or, when resuming, the checkpoint's config checked
 * against the dataset and the overrides. Mismatches (feature or symbol count,
 * a flag that changes a parameter shape) are BF_EINVAL naming both values;
 * the dataset checksum and non-structural flags (dropout, cnn-dropout, loss,
 * huber-delta) may differ with o->allow_mismatch. */
bf_status bf_run_model_config(const bf_train_opts *o, const bf_split_data *train,
                              const bf_ckpt_info *ck, const char *ck_path, bf_model_config *cfg);

/* configs/model_config.json and configs/train_config.json (rank 0). On a
 * resume the originals stay and configs/resume-<step>.json records the new
 * invocation. */
bf_status bf_run_write_configs(const bf_run_paths *rp, const bf_train_opts *o, const bf_model *m,
                               const bf_split_data *train, int resuming, int64_t step);

#endif
