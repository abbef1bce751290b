/* delta_internal.h - state shared by delta.c (rows) and delta_publish.c
 * (update directory and cum.h5), and the fetch step (delta_fetch.c).
 * Not a public API. */
#ifndef BF_DELTA_INTERNAL_H
#define BF_DELTA_INTERNAL_H

#include "core/feat/dataset.h"
#include "core/feat/dataset_build.h"

#include <stdint.h>

typedef struct master_info {
    bf_dataset_meta meta;
    char providers[BF_BUILD_MAX_PROVIDERS][32];
    const char *prov_ptr[BF_BUILD_MAX_PROVIDERS];
    int n_providers;
    int extended_hours;
    int64_t last_row_all;             /* the master's last row time over all symbols */
    int64_t *first_bar, *last_row, *last_bar; /* per sym_id */
    int32_t *provider;
    double *median, *iqr;             /* scaler rows (S or 1) x F */
    int64_t *n_fit;
    int64_t scaler_rows;
} master_info;

typedef struct rowbuf {
    int64_t n, cap;
    int F, H;
    float *X, *y;
    int32_t *sym;
    int64_t *ts;
} rowbuf;

void bf_rowbuf_free(rowbuf *b);

/* Rank 0: drop rows already in cum.h5, publish updates/update_<date>[-k]/
 * and replace cum.h5 (copy-on-write). name = "" when nothing was new;
 * counts = {new rows, rows in cum.h5 afterwards}. */
bf_status bf_delta_publish(const bf_build_opts *o, const master_info *mi, int purge, rowbuf *rows,
                           bf_build_drops *d, char *name, size_t name_n, int64_t counts[2]);

/* Fetch bars after each symbol's last master bar up to o->end into the cache
 * (collective; each rank fetches its shard). */
bf_status bf_delta_fetch(const bf_build_opts *o, const char (*symbols)[BF_SYMBOL_MAX], int64_t n,
                         const int64_t *last_bar, const int32_t *provider,
                         const char *const *providers);

#endif
