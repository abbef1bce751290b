/* window.h - windows over a dataset split, gathered on the fly (the seed's
 * WindowedDataset).
 *
 * A split holds rows sorted by (sym_id, ts). A window of length L ending at
 * row e covers rows e-L+1..e, all of ONE symbol: the index lists only such
 * ends, so a window never crosses a symbol boundary. Within each run of equal
 * sym_id [a, b) the ends are a+L-1, a+L-1+stride, ... < b (the seed's
 * `range(0, n-L+1, stride)` over window starts). A symbol with fewer than L
 * rows has no window.
 *
 * A batch is gathered from X into x (B x C x L, channel-first: x[b][c][l] =
 * X[e-L+1+l][c]); y is the target column `h` at the window's LAST row, and
 * sym_id that row's symbol. Windows are never materialized for the whole
 * split: only the int64 end index is kept (8 bytes per window).
 */
#ifndef BF_TRAIN_WINDOW_H
#define BF_TRAIN_WINDOW_H

#include "core/base/status.h"

#include <stdint.h>

typedef struct bf_window_index {
    int64_t n;      /* number of windows */
    int64_t *end;   /* n row indices (the window's last row), ascending */
    int seq_len;
    int stride;
    int64_t n_rows; /* rows of the split it indexes */
} bf_window_index;

/* Build the index from the split's sym_id column (n_rows). BF_EINVAL for
 * seq_len < 1 or stride < 1. An index with n = 0 is not an error here; the
 * caller decides (e.g. "no window of length 64 in the val split"). */
bf_status bf_window_index_build(bf_window_index *wi, const int32_t *sym_id, int64_t n_rows,
                                int seq_len, int stride);
void bf_window_index_free(bf_window_index *wi);

/* The columns a gather reads. X: n_rows x F row-major; y: n_rows x H
 * row-major; target: column of y used as the label. */
typedef struct bf_window_source {
    const float *X;
    const float *y;
    const int32_t *sym_id;
    int64_t n_rows;
    int F, H, target;
} bf_window_source;

/* Gather the B windows whose index positions are ids[0..B) (positions in
 * 0..wi->n-1, e.g. a slice of an epoch permutation):
 *   x_out: B x F x L, y_out: B (may be NULL), sym_out: B (may be NULL),
 *   rows_out: B last-row indices (may be NULL; e.g. for ts/symbol of a
 *   prediction). No allocation. */
void bf_window_gather(const bf_window_index *wi, const bf_window_source *src, const int64_t *ids,
                      int B, float *x_out, float *y_out, int32_t *sym_out, int64_t *rows_out);

/* Same for the contiguous positions first..first+B-1 (evaluation order). */
void bf_window_gather_range(const bf_window_index *wi, const bf_window_source *src, int64_t first,
                            int B, float *x_out, float *y_out, int32_t *sym_out,
                            int64_t *rows_out);

/* The epoch permutation of 0..n-1: a pure function of (seed, epoch) through
 * Philox (BF_RNG_STREAM_SHUFFLE), so a resumed run regenerates it exactly. */
void bf_window_epoch_permutation(uint64_t seed, int64_t epoch, int64_t *perm, int64_t n);

#endif
