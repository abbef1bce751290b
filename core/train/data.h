/* data.h - one split of a built dataset as training and evaluation see it:
 * the columns in memory plus the provenance a checkpoint records. A thin
 * view over the dataset reader (core/feat/dataset.h), so that the training
 * code depends on these few fields only.
 *
 * Rows are sorted by (sym_id, ts); X is already scaled; y holds every
 * horizon and `target` is the column the model learns (the dataset's target
 * horizon).
 */
#ifndef BF_TRAIN_DATA_H
#define BF_TRAIN_DATA_H

#include "core/base/status.h"
#include "core/train/window.h"

#include <stdint.h>

typedef struct bf_split_data {
    char split[8];
    char dir[4096];       /* the dataset version folder */
    char version[128];
    char checksum[128];
    int64_t n_rows;
    int F, H, target;
    const float *X;       /* n_rows x F */
    const float *y;       /* n_rows x H */
    const int32_t *sym_id;
    const int64_t *ts;    /* the row's time (bar end, UTC seconds) */
    int n_symbols;
    const char *const *symbols; /* by sym_id */
    void *impl;           /* the reader's handle */
} bf_split_data;

/* root: a version folder or a datasets root (then its `master`). split:
 * "train", "val" or "test". BF_ENOTFOUND naming the path when missing. */
bf_status bf_split_data_open(const char *root, const char *split, bf_split_data *d);
void bf_split_data_free(bf_split_data *d);

/* The gather view of d. */
bf_window_source bf_split_data_source(const bf_split_data *d);

#endif
