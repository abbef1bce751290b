/* dataset.h - read a built dataset split (what training and eval use).
 *
 *   bf_dataset d;
 *   BF_TRY(bf_dataset_open("artifacts/datasets", "train", &d));  // root: <root>/master
 *   ... d.X (n x F), d.y (n x H), d.sym_id, d.ts; d.meta.target_index ...
 *   bf_dataset_free(&d);
 *
 * `path` is a version directory (holding meta.json) or a datasets root
 * (then <root>/master is used). Opening checks, in this order: meta.json
 * parses and has schema_version == BF_DATASET_SCHEMA_VERSION (BF_ECORRUPT
 * naming both versions otherwise); the split file's CRC-32 over its bytes
 * equals meta.json "files" (BF_ECORRUPT naming the file otherwise); the
 * arrays have the shapes and types meta.json announces. Rows are ordered by
 * (sym_id, ts); sym_id indexes meta.symbols. Format: docs/formats.md.
 */
#ifndef BF_DATASET_H
#define BF_DATASET_H

#include "core/base/status.h"
#include "core/data/bars.h"
#include "core/feat/features.h"

#include <stddef.h>
#include <stdint.h>

typedef struct bf_dataset_meta {
    int schema_version;
    char version[64];       /* "v2024-06-01" */
    char dir[4096];         /* resolved version directory */
    char checksum[16];      /* dataset checksum (hex CRC-32 over the files' CRCs) */
    int F, H;
    char (*feature_names)[BF_FEAT_NAME_MAX]; /* F */
    int horizons[BF_MAX_HORIZONS];
    int target_horizon, target_index;
    int n_intervals;
    int interval_s[BF_MAX_INTERVALS]; /* [0] = base */
    int seq_len, max_horizon, purge_bars;
    int labels_cross_overnight;
    int64_t n_symbols;
    char (*symbols)[BF_SYMBOL_MAX];   /* n_symbols, index = sym_id */
    int64_t val_start, test_start;    /* UTC seconds */
    int64_t rows[3];                  /* train, val, test */
    char scaler_kind[32];             /* robust_per_symbol | robust_global */
} bf_dataset_meta;

typedef struct bf_dataset {
    bf_dataset_meta meta;
    char split[8];
    int64_t n;
    int F, H;
    float *X;        /* n x F, scaled */
    float *y;        /* n x H, log returns */
    int32_t *sym_id; /* n */
    int64_t *ts;     /* n, UTC seconds, end of the base bar */
} bf_dataset;

/* "train", "val" or "test"; "all" is not a split. */
int bf_dataset_split_index(const char *split);

/* Resolve a version directory or a datasets root to the version directory. */
bf_status bf_dataset_resolve(const char *path, char *dir, size_t n);
/* Load and check meta.json only (no array is read). */
bf_status bf_dataset_meta_load(const char *path, bf_dataset_meta *m);
void bf_dataset_meta_free(bf_dataset_meta *m);

/* Open a split fully into memory after the checks above. */
bf_status bf_dataset_open(const char *path, const char *split, bf_dataset *out);
/* Same with the checksum step optional (verify = 0 skips reading the file
 * twice, e.g. for a file already verified by this process). */
bf_status bf_dataset_open_ex(const char *path, const char *split, int verify, bf_dataset *out);
void bf_dataset_free(bf_dataset *d);

/* Per-symbol robust scalers of a version (rows x F; rows = n_symbols, or 1
 * for a global scaler): malloc'd median and iqr. */
bf_status bf_dataset_scalers_load(const bf_dataset_meta *m, double **median, double **iqr,
                                  int64_t *rows);

#endif
