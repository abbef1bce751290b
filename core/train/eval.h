/* eval.h - `barforge eval`: rebuild the model from a checkpoint, predict
 * every window of a split (no drop_last, stride 1) and report metrics.h.
 *
 * Outputs (rank 0):
 *   JSON  {"split", "checkpoint", "dataset_version", "loss", "mse", "mae",
 *          "dir_acc", "hit_rate_top_decile", "pearson_r", "n", ...}
 *   predictions, one row per window: ts (the last bar's end, UTC seconds),
 *          symbol, y, y_hat — CSV (header "ts,symbol,y,y_hat") or, for a
 *          path ending in .h5, HDF5 datasets /ts, /sym_id, /y, /y_hat and a
 *          /symbols attribute.
 * Under MPI each rank predicts a contiguous shard; rank 0 gathers.
 */
#ifndef BF_TRAIN_EVAL_H
#define BF_TRAIN_EVAL_H

#include "core/base/status.h"
#include "core/train/metrics.h"

#include <stdint.h>

typedef struct bf_eval_opts {
    const char *checkpoint;    /* required */
    const char *datasets_root; /* a dataset version folder, or a root with master/ */
    const char *split;         /* "test" (default), "val" or "train" */
    int batch_size;            /* default 512 */
    int num_workers;           /* accepted for the seed's command line */
    const char *out_json;      /* NULL = <run>/eval_<ckpt>_<split>.json */
    const char *predictions;   /* NULL = <run>/predictions_<ckpt>_<split>.csv; "" = none */
    int allow_mismatch;        /* evaluate on a dataset with another checksum */
} bf_eval_opts;

typedef struct bf_eval_result {
    bf_metrics m;
    double loss;               /* the model's training loss over the split */
    char json_path[4200];
    char pred_path[4200];
    char json[4096];           /* the JSON written (rank 0) */
} bf_eval_result;

void bf_eval_opts_defaults(bf_eval_opts *o);
/* Collective over MPI_COMM_WORLD. */
bf_status bf_eval_run(const bf_eval_opts *o, bf_eval_result *r);

/* Predict windows lo..hi-1 of wi in batches of at most bs (<= m->max_batch)
 * with dropout off. Scratch: xbuf (bs x C x L), ybuf (bs), symbuf (bs).
 * Optional outputs, hi-lo each: pred, y, rows (the windows' last rows).
 * Adds the sum over windows of the per-window loss to *loss_sum. */
struct bf_model;
struct bf_window_index;
struct bf_window_source;
bf_status bf_eval_predict(struct bf_model *m, const struct bf_window_index *wi,
                          const struct bf_window_source *src, int64_t lo, int64_t hi, int bs,
                          float *xbuf, float *ybuf, int32_t *symbuf, float *pred, float *y,
                          int64_t *rows, double *loss_sum);

#endif
