/* dataset_build.h - `barforge build`: the master dataset and delta updates.
 *
 * Master (bf_build_master): for a universe of symbols read from the bar cache,
 * computes feature rows per symbol (features.h), splits them by time with a
 * purge (split_scale.h), fits robust scalers on train rows only, and writes
 *   <root>/vYYYY-MM-DD[-k]/{train,val,test}.h5, scalers.h5, symbols.h5, meta.json
 * then points <root>/master at it. Layouts: docs/formats.md "## Datasets".
 *
 * Invariants:
 *  - Row order in every split: by sym_id, then ts. sym_id = index of the
 *    symbol in the sorted, de-duplicated universe. Ranks own contiguous
 *    sym_id ranges, so the output is byte-for-byte the same array content
 *    for any number of ranks.
 *  - Bounded memory: a rank holds one symbol's bars and feature rows at a
 *    time, the rows it kept from pass 1 (at most memory_budget_bytes; the
 *    other symbols are recomputed in pass 2) and fixed-size write buffers
 *    (write_buffer_bytes); the bound is stated in docs/formats.md.
 *  - Nothing is overwritten: the version is written in
 *    <root>/vYYYY-MM-DD.tmp-<pid>/ and renamed (no-replace) to its final
 *    name; `master` is switched only after that rename succeeded.
 *  - X and y contain no NaN or Inf.
 *
 * Delta (bf_build_delta): see delta.c and docs/formats.md.
 * Every rank must call these functions (they are collective over
 * MPI_COMM_WORLD); every rank returns the same status.
 */
#ifndef BF_DATASET_BUILD_H
#define BF_DATASET_BUILD_H

#include "core/feat/features.h"
#include "core/feat/split_scale.h"

#include <stdint.h>

#define BF_DATASET_SCHEMA_VERSION 1
#define BF_BUILD_MAX_PROVIDERS 8

typedef struct bf_build_opts {
    const char *const *symbols; /* any order; duplicates are removed */
    int n_symbols;
    const char *cache_dir;
    const char *const *providers; /* cache lookup order, e.g. {"alpaca","yahoo","synthetic"} */
    int n_providers;
    bf_feat_spec spec;          /* intervals (base first), horizons, session options */
    int target_horizon;         /* one of spec.horizons */
    int seq_len, max_horizon;   /* purge = seq_len - 1 + max_horizon unless purge_bars > 0;
                                   max_horizon 0 = the largest horizon */
    int purge_bars;
    bf_split_spec split;        /* fractions or explicit dates; purge_bars filled in here */
    bf_scaler_kind scaler;
    int compress;               /* 0-9; > 0 needs one rank (HDF5 1.10: no parallel filters) */
    int mpio_collective;        /* split-file transfers under MPI: 1 collective (two-phase
                                   buffering; parallel file systems), 0 independent (default:
                                   faster on one node) */
    const char *datasets_root;  /* e.g. artifacts/datasets */
    int64_t start, end;         /* bars with start <= ts < end; 0 = unbounded */
    const char *build_args_json;/* resolved flags, recorded in meta.json (may be NULL) */
    int64_t write_buffer_bytes; /* per rank; 0 = 16 MiB */
    int64_t memory_budget_bytes;/* per rank: pass-1 rows kept in memory up to this, the rest
                                   recomputed in pass 2; 0 = 512 MiB, < 0 = keep none */
    int64_t global_sample_rows; /* rows sampled for the global scaler; 0 = 500000 */
    int64_t today;              /* UTC seconds used for version names; 0 = now */
    int threads;                /* CPU threads per rank; 0 = the node's cores divided among
                                   the ranks. No output bit depends on it */
    int no_speculative_fit;     /* 1: fit every per-symbol scaler in pass 2 (tests compare the
                                   two; no output bit depends on it) */
    int no_stream;              /* 1: never write rows in pass 1 (one-pass builds:
                                   per-symbol scaler, no compression, under MPI no
                                   --mpio collective); no output bit depends on it */
    /* delta only: fetching the new bars (core/data/fetch.h) */
    int no_fetch;               /* 1: use the cache as it is */
    const char *fetch_provider; /* fetch every symbol from this provider; NULL = from the
                                   provider its master bars came from */
    uint64_t seed;              /* synthetic provider */
    double signal_strength;     /* synthetic provider */
    const char *alpaca_key_id, *alpaca_secret_key, *alphavantage_key, *csv_dir;
} bf_build_opts;

/* Why rows were not written, summed over ranks. */
typedef struct bf_build_drops {
    int64_t bars_nonfinite, bars_nonpositive, bars_negative_volume, bars_duplicate_ts,
        bars_hl_inconsistent;
    int64_t rows_warmup;       /* leading rows without full feature history */
    int64_t rows_no_label;     /* later invalid rows: future missing or crossing a session */
    int64_t rows_nonfinite;    /* valid per features.c but with a NaN/Inf in X or y */
    int64_t rows_purged;       /* dropped around split boundaries (or after the master's end) */
    int64_t rows_no_train;     /* symbols with < 2 train rows under a per-symbol scaler */
    int64_t rows_duplicate;    /* delta: (sym_id, ts) already in cum.h5 */
    int64_t symbols_no_rows;   /* symbols that contributed no row at all */
} bf_build_drops;

enum { BF_STAGE_READ, BF_STAGE_CLEAN, BF_STAGE_FEATURES, BF_STAGE_SPLIT, BF_STAGE_SCALE,
       BF_STAGE_WRITE, BF_STAGE_COMMIT, BF_STAGE_COUNT };
extern const char *const bf_stage_names[BF_STAGE_COUNT];

typedef struct bf_build_result {
    char version[64];        /* "v2024-06-01" or "update_2024-06-02"; "" when nothing was written */
    char dir[4096];          /* final directory */
    int64_t rows[3];         /* master: train/val/test; delta: rows[0] = new rows */
    int64_t cum_rows;        /* delta: rows in cum.h5 after the append */
    int64_t n_symbols;
    int64_t val_start, test_start, purge_bars;
    int n_zero_iqr;
    int64_t refits;          /* master, per-symbol scaler: symbols whose pass-1 fit was made
                                under other split boundaries and was redone (all ranks) */
    int one_pass;            /* master: rows written in pass 1 (build_stream.c) */
    bf_build_drops drops;
    double stage_s[BF_STAGE_COUNT]; /* max over ranks */
    double total_s;
} bf_build_result;

/* Defaults for everything not symbol/cache specific. */
void bf_build_opts_defaults(bf_build_opts *o);

bf_status bf_build_master(const bf_build_opts *o, bf_build_result *res);
bf_status bf_build_delta(const bf_build_opts *o, bf_build_result *res);

#endif
