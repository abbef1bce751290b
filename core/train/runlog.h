/* runlog.h - the run folder's logs: metrics.csv and metrics.jsonl (one row
 * per log interval, evaluation and epoch) and, optionally, TensorBoard
 * scalars. Rank 0 only; other ranks hold a closed log and every call is a
 * no-op for them.
 *
 * metrics.csv columns (empty when not applicable):
 *   kind,epoch,step,samples,train_loss,val_loss,best_val_loss,lr,grad_norm,
 *   samples_per_s,elapsed_s
 * kind is "interval" (every log_every_steps), "eval" (eval_every_steps) or
 * "epoch". metrics.jsonl holds the same rows as JSON objects (null for not
 * applicable). On resume both files are cut back to the rows with
 * step <= the checkpoint's step, so a resumed run's logs read as one run.
 */
#ifndef BF_TRAIN_RUNLOG_H
#define BF_TRAIN_RUNLOG_H

#include "core/base/status.h"
#include "core/train/tfevents.h"

#include <stdint.h>
#include <stdio.h>

typedef struct bf_runlog {
    FILE *csv, *jsonl;
    int tb_on;
    bf_tfevents tb;
    char dir[4096];
} bf_runlog;

typedef struct bf_logrow {
    const char *kind;
    int64_t epoch, step, samples;
    double train_loss, val_loss, best_val_loss, lr, grad_norm, samples_per_s, elapsed_s; /* NaN = n/a */
} bf_logrow;

/* Open (append) the logs in run_dir; when resume_step >= 0 first drop rows
 * with step > resume_step. */
bf_status bf_runlog_open(bf_runlog *l, const char *run_dir, int tensorboard, int64_t resume_step);
bf_status bf_runlog_write(bf_runlog *l, const bf_logrow *r);
void bf_runlog_close(bf_runlog *l);

/* A row with every number NaN (not applicable). */
void bf_logrow_init(bf_logrow *r, const char *kind);

#endif
