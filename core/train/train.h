/* train.h - `barforge train` as a library call (the demo job calls it too).
 *
 * The seed's training loop over windows of a built dataset: AdamW, a
 * cosine or constant learning rate with linear warmup, gradient clipping,
 * validation on every window (no drop_last) at each epoch end and every
 * eval_every_steps, early stopping on validation loss with `patience`
 * evaluations, and a final test evaluation of the best checkpoint.
 *
 * Run folder (docs/training.md): <runs_dir>/<YYYYMMDD-HHMMSS>/ (UTC) with
 *   checkpoints/{best,last,step-NNNNNNNN}.h5   (checkpoint.h)
 *   configs/{model_config,train_config}.json
 *   metrics.csv, metrics.jsonl                 one row per log interval,
 *                                              evaluation and epoch
 *   metrics_test.json, predictions_test.csv    final test of best.h5
 *   tensorboard/events.out.tfevents.*          with opts.tensorboard
 *
 * Exactness: the trajectory is a pure function of (flags, dataset, seed):
 * the epoch permutation is Philox(seed, epoch), dropout Philox(seed, step),
 * and a checkpoint holds the data cursor, so a run killed at any point and
 * resumed with resume="auto" ends with bit-identical parameters (same rank
 * and thread counts).
 *
 * MPI: data-parallel. Every rank reads the splits; each takes a contiguous
 * shard of every global batch (batch_size is the GLOBAL batch); gradients
 * are weighted by the shard size and summed with one all-reduce over the
 * flat buffer, so 2 ranks x B/2 follow 1 rank x B up to float rounding (with
 * dropout 0: masks are per rank). Rank 0 writes checkpoints and logs.
 *
 * Preemption: SIGTERM / SIGUSR1 / SIGINT (dist/signals.h) finish the current
 * step, commit last.h5 and return BF_EPREEMPTED (exit code 199).
 */
#ifndef BF_TRAIN_TRAIN_H
#define BF_TRAIN_TRAIN_H

#include "core/base/status.h"
#include "core/nn/model.h"
#include "core/train/metrics.h"

#include <stdint.h>

#define BF_TRAIN_MAX_MODEL_SETS 32

typedef enum { BF_LR_COSINE = 0, BF_LR_NONE = 1 } bf_lr_schedule;

typedef struct bf_train_opts {
    /* data */
    const char *datasets_root; /* a dataset version folder, or a root with master/ */
    int stride;
    /* model: bf_model_config_defaults, then these seed-flag overrides in
     * order ("seq-len" -> "64"); n_features/n_symbols come from the dataset */
    int n_model_sets;
    const char *model_keys[BF_TRAIN_MAX_MODEL_SETS];
    const char *model_vals[BF_TRAIN_MAX_MODEL_SETS];
    /* optimization */
    int batch_size;            /* global batch */
    int max_epochs;
    int patience;              /* evaluations without improvement; 0 = no early stop */
    double lr, weight_decay, grad_clip;
    bf_lr_schedule lr_schedule;
    int64_t warmup_steps;
    int64_t max_steps;         /* stop after this many steps in total; 0 = no cap */
    uint64_t seed;
    int use_amp;               /* bf16 GEMMs on AMX CPUs (bf_nn_set_amp), else fp32 */
    int num_workers;           /* accepted for the seed's command lines */
    /* evaluation */
    int64_t eval_every_steps;  /* 0 = at epoch ends only */
    int eval_batch_size;       /* 0 = batch_size */
    int final_test;            /* evaluate best.h5 on test at the end */
    /* run folder */
    const char *runs_dir;      /* default "artifacts/runs" */
    const char *run_dir;       /* explicit run folder; NULL = <runs_dir>/<timestamp> */
    const char *resume;        /* NULL, "auto" or a checkpoint file */
    int allow_mismatch;        /* resume onto another dataset checksum / changed
                                  non-structural model flags */
    /* logging and checkpoints */
    int64_t log_every_steps;   /* metrics rows and progress; 0 = epoch rows only */
    int64_t ckpt_every_steps;  /* 0 = off */
    double ckpt_every_seconds; /* 0 = off */
    int keep_ckpts;            /* newest step-*.h5 kept; 0 = all */
    int tensorboard;
    const char *args_json;     /* resolved flags (JSON object) recorded in the run */
} bf_train_opts;

typedef struct bf_train_result {
    char run_dir[4096];
    char best_ckpt[4300];
    char last_ckpt[4300];
    int64_t steps;             /* optimizer steps in total (including before a resume) */
    int64_t epochs_done;
    int64_t resumed_from_step; /* -1 when the run started fresh */
    int early_stopped;
    int preempted_signal;      /* the signal that stopped the run, 0 if none */
    double best_val_loss, last_val_loss, last_train_loss;
    double samples_per_s;      /* training throughput of this process's session */
    double wall_s;
    int have_test;
    bf_metrics test;           /* final test metrics of best.h5 */
} bf_train_result;

void bf_train_opts_defaults(bf_train_opts *o);
/* Append a model override (pointers must outlive bf_train_run); BF_EINVAL
 * when the key is unknown or there are too many. */
bf_status bf_train_opts_model_set(bf_train_opts *o, const char *key, const char *value);

/* Collective over MPI_COMM_WORLD. BF_EPREEMPTED after a signal (last.h5
 * committed), BF_ENAN when a loss or gradient is not finite (names the step;
 * nothing is written after it), BF_EINVAL for bad flags or a checkpoint that
 * does not fit the dataset. */
bf_status bf_train_run(const bf_train_opts *o, bf_train_result *res);

/* lr at 0-based step `step` of `total` (exposed for tests). */
double bf_train_lr_at(const bf_train_opts *o, int64_t step, int64_t total);

#endif
