/* checkpoint.h - training checkpoints: one HDF5 file holding everything an
 * exact resume needs, committed atomically, verified by a checksum on load.
 *
 * Layout (docs/formats.md "## Checkpoints" is the reference):
 *   /                 attrs format="barforge-checkpoint", format_version=1,
 *                     checksum (crc32, as int64), checksum_algo, created_utc
 *   /model/params     float32 [n_params]  the flat parameter buffer
 *   /model/tensors    compound table (name, offset, numel, ndim, shape[4],
 *                     decay): the layout of /model/params
 *   /model/views/<name> one virtual dataset per tensor, in its shape, mapped
 *                     onto its slice of /model/params (no copy)
 *   /model            attrs config_json, n_params, arch
 *   /optim/m, /optim/v float32 [n_params] AdamW moments
 *   /optim            attrs algo="adamw", t (= /state step)
 *   /state            attrs epoch, cursor, step, samples_seen,
 *                     patience_counter, best_step, finished, n_train_windows,
 *                     rng_seed, val_loss, best_val_loss, lr, elapsed_s
 *   /train            attr args_json (the resolved flags)
 *   /dataset          attrs version, checksum
 * Checksum: IEEE crc32 chained over params, m, v (float32 little-endian
 * bytes), the 13 /state values packed little-endian in the order above
 * (integers as int64, reals as float64), then the bytes of config_json,
 * args_json, dataset version and dataset checksum.
 *
 * Randomness is counter-based (Philox): the epoch permutation is a function
 * of (rng_seed, epoch) and dropout of (rng_seed, step, ...), so the data
 * cursor (epoch, cursor) and step ARE the RNG state.
 *
 * Writes go to <path>.tmp.<pid>, are fsynced, renamed over <path>, and the
 * directory is fsynced: a crash at any moment leaves the previous file.
 */
#ifndef BF_TRAIN_CHECKPOINT_H
#define BF_TRAIN_CHECKPOINT_H

#include "core/base/status.h"
#include "core/nn/model.h"

#include <stddef.h>
#include <stdint.h>

#define BF_CKPT_FORMAT_VERSION 1

typedef struct bf_ckpt_state {
    int64_t epoch;            /* epoch the data cursor is in (0-based) */
    int64_t cursor;           /* windows of that epoch's permutation consumed */
    int64_t step;             /* optimizer steps completed (AdamW t of the last one) */
    int64_t samples_seen;
    int64_t patience_counter; /* evaluations since the best one */
    int64_t best_step;        /* step of the best validation loss, -1 when none */
    int64_t finished;         /* 1 when training ended (early stop or max epochs) */
    int64_t n_train_windows;  /* length of the epoch permutation */
    uint64_t rng_seed;
    double val_loss;          /* last validation loss, NaN before the first */
    double best_val_loss;     /* +inf before the first */
    double lr;                /* learning rate of the last step */
    double elapsed_s;         /* training seconds before this checkpoint */
} bf_ckpt_state;

void bf_ckpt_state_init(bf_ckpt_state *s, uint64_t seed);

/* What a checkpoint says about itself (everything but the big buffers). */
typedef struct bf_ckpt_info {
    bf_model_config cfg;
    bf_ckpt_state state;
    int64_t n_params;
    char *config_json;
    char *args_json;
    char *dataset_version;
    char *dataset_checksum;
} bf_ckpt_info;

void bf_ckpt_info_free(bf_ckpt_info *info);

/* Write m's params and moments, the state and the provenance strings (NULL is
 * written as "") atomically to path. BARFORGE_FAULT=ckpt_write /
 * ckpt_kill_mid_write inject a failure / a SIGKILL halfway (fault.h). */
bf_status bf_ckpt_save(const char *path, const bf_model *m, const bf_ckpt_state *st,
                       const char *args_json, const char *dataset_version,
                       const char *dataset_checksum);

/* Read the header and verify the checksum (reads the buffers once).
 * BF_ENOTFOUND for a missing file, BF_ECORRUPT for a truncated, damaged or
 * foreign file or a checksum mismatch. */
bf_status bf_ckpt_read_info(const char *path, bf_ckpt_info *info);

/* Load params and moments into m, which must have been initialized with the
 * checkpoint's config (same n_params and tensor table: BF_EINVAL naming the
 * first differing tensor otherwise). Verifies the checksum; on failure m's
 * buffers are unspecified. info may be NULL. */
bf_status bf_ckpt_load(const char *path, bf_model *m, bf_ckpt_state *st, bf_ckpt_info *info);

/* The newest valid resume point in a checkpoints/ folder: last.h5 and
 * step-*.h5 ordered by their /state step, newest first; a file that does not
 * verify is reported with BF_WARN and skipped in favour of the next.
 * best.h5 is not a resume point (it lags). BF_ENOTFOUND when none is valid. */
bf_status bf_ckpt_find_latest(const char *ckpt_dir, char *path_out, size_t n,
                              bf_ckpt_info *info);

/* Remove the <path>.tmp.<pid> files a crash during a save left in dir. */
void bf_ckpt_remove_stale_tmp(const char *ckpt_dir);

/* Keep the newest `keep` step-*.h5 files (by step in the name); 0 keeps all. */
bf_status bf_ckpt_prune(const char *ckpt_dir, int keep);

/* "<dir>/step-%08lld.h5" */
void bf_ckpt_step_path(const char *ckpt_dir, int64_t step, char *out, size_t n);

#endif
