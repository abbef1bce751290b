/* dataset_io.h - pieces shared by the master and the delta build (internal to
 * core/feat/dataset_build.c and delta.c; not a public API).
 *
 *  - bf_ds_agree: every rank returns the same status and message, so a
 *    failure on one rank never leaves the others in a collective.
 *  - per-symbol loading: cache lookup, read, slice, clean, features, then
 *    compaction to the rows that will be written (valid and finite).
 *  - split files: (X, y, sym_id, ts) written by disjoint row ranges: with
 *    pwrite into contiguous datasets (direct; the default), in parallel
 *    through MPI-IO (--mpio collective under MPI) or through HDF5 on one
 *    rank when compressing.
 *  - versioned directories: publish a finished temp directory under a name
 *    that does not exist yet (rename without replace; -2, -3 suffixes).
 */
#ifndef BF_DATASET_IO_H
#define BF_DATASET_IO_H

#include "core/feat/dataset_build.h"
#include "core/feat/dataset_crc.h"

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* ---- collectives (MPI_COMM_WORLD) ---------------------------------------- */

/* Worst status over ranks; ranks that succeeded re-record the message of the
 * lowest failing rank, so every rank reports the same error. */
bf_status bf_ds_agree(bf_status local);
/* Gather n[r] elements from every rank to root, in rank order (root: *out
 * malloc'd, *nout total; other ranks: *out NULL). */
bf_status bf_ds_gather_i64(const int64_t *v, int64_t n, int root, int64_t **out, int64_t *nout);
bf_status bf_ds_gather_bytes(const void *v, int64_t n, int root, char **out, int64_t *nout);
bf_status bf_ds_bcast_i64(int64_t *v, int64_t n, int root);

/* ---- one symbol's rows ----------------------------------------------------- */

typedef struct bf_sym_rows {
    bf_feat_rows rows;       /* compacted: only rows that may be written */
    int provider;            /* index into opts->providers */
    int64_t n_bars;          /* after cleaning */
    int64_t first_bar_ts, last_bar_ts;
    bf_clean_report clean;
    int64_t warmup, no_label, nonfinite;
    /* bf_ds_compute_symbol_sel only: rows stay uncompacted (rows.n = bars)
     * and the rows that may be written are listed instead */
    int64_t *sel;            /* n_sel row indices, ascending */
    int64_t *sel_ts;         /* their ts_end */
    int64_t n_sel, sel_cap;
} bf_sym_rows;

/* Load `sym` from the cache (first provider in the lookup order that has it),
 * keep bars with start <= ts < end (0 = unbounded), clean, compute features
 * and compact. BF_ENOTFOUND when no provider has the symbol; *missing then
 * names what is missing. When the range is bounded and the cache does not
 * cover [start, end), BF_ENOTFOUND too, and missing names the ranges.
 * stage_s accumulates read/clean/feature seconds. w must be zeroed before
 * the first call; its row buffers are reused by later calls. */
bf_status bf_ds_load_symbol(const bf_build_opts *o, const char *sym, int64_t start, int64_t end,
                            bf_sym_rows *w, char *missing, size_t missing_n, double *stage_s);
/* The two halves of bf_ds_load_symbol, so that reading (HDF5, one thread)
 * and computing (any thread) can overlap: read fills b (its memory reused
 * across calls; b initialized by the caller) and *provider; compute cleans
 * b in place and fills w. */
bf_status bf_ds_read_symbol(const bf_build_opts *o, const char *sym, int64_t start, int64_t end,
                            bf_bars *b, int *provider, char *missing, size_t missing_n,
                            double *stage_s);
bf_status bf_ds_compute_symbol(const bf_build_opts *o, bf_bars *b, int provider, bf_sym_rows *w,
                               double *stage_s);
void bf_sym_rows_free(bf_sym_rows *w);
/* bf_ds_compute_symbol without the compaction: w->rows keeps every bar's
 * row, w->sel/sel_ts/n_sel list the rows that may be written (the ones
 * bf_ds_compute_symbol would keep, in order), so that a caller copying them
 * elsewhere anyway does not move them twice. */
bf_status bf_ds_compute_symbol_sel(const bf_build_opts *o, bf_bars *b, int provider,
                                   bf_sym_rows *w, double *stage_s);
/* bf_ds_compute_symbol_sel's rows written straight into X (n x F), y and ts,
 * which hold at least b->n rows (before cleaning): w->n_sel of them, with
 * w's counts; w->rows and w->sel are not filled. For a caller that would
 * copy the rows there anyway (the one-pass build's slots). */
bf_status bf_ds_compute_symbol_into(const bf_build_opts *o, bf_bars *b, int provider,
                                    bf_sym_rows *w, float *X, float *y, int64_t *ts,
                                    double *stage_s);
/* add one symbol's cleaning and row drops to d */
void bf_build_count_drops(bf_build_drops *d, const bf_sym_rows *w);

/* ---- split files ------------------------------------------------------------ */

/* bytes [at, at + len) of a file, with their CRC-32 */
typedef struct bf_crc_extent {
    int64_t at, len;
    uint32_t crc;
    uint32_t pad;
} bf_crc_extent;

typedef struct bf_split_file {
    hid_t f;
    int parallel;
    int collective; /* parallel files: 1 = collective MPI-IO transfers, 0 = independent */
    int F, H;
    int64_t total;
    /* direct files (bf_splitfile_create_direct): the HDF5 file is complete
     * but for the rows, which go with pwrite into the chunks HDF5 allocated
     * at creation: dataset d (X, y, sym_id, ts) has chunks of chunk_rows[d]
     * rows, chunk c at byte addr[d][c] */
    int direct, fd;
    int64_t unflushed; /* bytes written since the file's last writeback start */
    int64_t chunk_rows[4], nchunks[4];
    int64_t *addr[4];
    char path[4400];
    char split[8];
    /* growable files and their other-rank views: the CRC-32 of the bytes
     * written, per extent (a write that continues dataset d's last extent
     * extends it), so that the file's CRC-32 needs no second read of the
     * rows (bf_splitfile_finish). ext_lost: the log ran out of memory. */
    bf_crc_extent *ext;
    int64_t n_ext, cap_ext, last_ext[4];
    int log_ext, ext_lost;
    int growable;            /* bf_splitfile_create_growable */
    int crc_known;           /* after finish: file_crc is the file's CRC-32 */
    uint32_t file_crc;
    int64_t file_bytes;
} bf_split_file;

/* Collective when parallel. Creates X (total x F) f32, y (total x H) f32,
 * sym_id i32, ts i64. */
bf_status bf_splitfile_create(bf_split_file *sf, const char *path, int parallel, int64_t total,
                              int F, int H, int compress);
/* Every rank calls when parallel (n may be 0); the transfer is collective or
 * independent as sf->collective says (set after create; default collective). */
bf_status bf_splitfile_write(bf_split_file *sf, int64_t row0, int64_t n, const float *X,
                             const float *y, const int32_t *sym, const int64_t *ts);
/* Standard attributes (same values on every rank). */
bf_status bf_splitfile_attrs(bf_split_file *sf, const char *split, const bf_feat_spec *spec,
                             int target_index, int n_symbols);
bf_status bf_splitfile_close(bf_split_file *sf);

/* Direct split files: collective over ranks. Rank 0 creates the file with
 * the sec2 driver: the four datasets as bf_splitfile_create makes them
 * (chunked, ~1 MiB chunks, no fill) but with every chunk allocated at
 * creation, and the attributes of bf_splitfile_attrs; it records each
 * chunk's address and closes the file; every rank learns the addresses and
 * opens the file for writing. Rows then go straight from the caller's memory into the file with
 * pwrite (no HDF5 call, no staging copy; HDF5 is not needed on the writing
 * thread, so any thread may write, disjoint rows at once). Little-endian
 * hosts only (the file types are little-endian): see bf_splitfile_direct_ok. */
int bf_splitfile_direct_ok(void);
bf_status bf_splitfile_create_direct(bf_split_file *sf, const char *path, int64_t total, int F,
                                     int H, const char *split, const bf_feat_spec *spec,
                                     int target_index, int n_symbols);
/* rows [row0, row0+n): X n x F, y n x H, ts n; sym_id = sym for every row.
 * Thread-safe for disjoint rows where no extents are logged (files from
 * bf_splitfile_create_direct); one writer at a time otherwise. */
bf_status bf_splitfile_pwrite(bf_split_file *sf, int64_t row0, int64_t n, const float *X,
                              const float *y, int32_t sym, const int64_t *ts);
/* close the descriptor, free the chunk tables (every rank; durability is
 * the caller's fsync) */
bf_status bf_splitfile_close_direct(bf_split_file *sf);

/* A direct split file whose rows are not known in advance (one process
 * owns its HDF5 side; in pipelined builds other ranks write rows into its
 * chunks through bf_splitfile_open_shadow): it is
 * created with 0 rows (chunks of ~1 MiB, or of rows_hint rows when fewer)
 * and kept open; bf_splitfile_grow extends every dataset to at least `rows`
 * (HDF5 allocates the chunks at once, their addresses go to addr; HDF5
 * calls: the caller serializes them with its other HDF5 calls; none when
 * rows <= bf_splitfile_capacity, which then only raises sf->total);
 * bf_splitfile_pwrite writes rows below that; bf_splitfile_finish sets the
 * exact row count (and the "rows" attribute), closes the HDF5 side and,
 * when the extent log is complete, sets file_crc from the extents' CRCs and
 * the few metadata bytes between them
 * (bf_splitfile_close_direct closes the rest). */
bf_status bf_splitfile_create_growable(bf_split_file *sf, const char *path, int64_t rows_hint,
                                       int F, int H, const char *split,
                                       const bf_feat_spec *spec, int target_index, int n_symbols);
bf_status bf_splitfile_grow(bf_split_file *sf, int64_t rows);
/* rows that fit the chunks allocated so far (every dataset's; rows past the
 * datasets' extent but within these may be written: bf_splitfile_finish
 * sets the extent) */
int64_t bf_splitfile_capacity(const bf_split_file *sf);
/* Another rank's view of a growable file (pipelined builds): no HDF5, a
 * descriptor for pwrite and the chunk addresses the owner sends as the
 * file grows (bf_splitfile_add_chunks: dataset d has chunks of chunk_rows
 * rows; addrs are those of chunks [sf->nchunks[d], n)); rows below
 * sf->total may be written with bf_splitfile_pwrite. */
bf_status bf_splitfile_open_shadow(bf_split_file *sf, const char *path, int F, int H,
                                   const char *split);
bf_status bf_splitfile_add_chunks(bf_split_file *sf, int d, int64_t chunk_rows, int64_t n,
                                  const int64_t *addrs);
/* extents logged elsewhere (other ranks' writes) for the owner's CRC at
 * bf_splitfile_finish; n < 0: some were lost (the CRC is then not known) */
bf_status bf_splitfile_add_extents(bf_split_file *sf, const bf_crc_extent *e, int64_t n);
bf_status bf_splitfile_finish(bf_split_file *sf, int64_t rows);

/* ---- names, directories ----------------------------------------------------- */

/* "2024-06-01" for t (0 = now) */
void bf_ds_date(int64_t t, char out[16]);
/* Rename dir `tmp` to <parent>/<base> or <base>-2, <base>-3 ... whichever
 * does not exist, never replacing anything. Before each attempt, prepare(ctx,
 * tmp, name) runs (it writes the name into meta.json). *name receives the
 * final name. */
bf_status bf_ds_publish_dir(const char *tmp, const char *parent, const char *base,
                            bf_status (*prepare)(void *ctx, const char *tmp, const char *name),
                            void *ctx, char *name, size_t name_n);
/* Remove a directory tree we created (temp dirs after a failure). */
void bf_ds_rmtree(const char *path);

/* 8 lowercase hex digits */
void bf_ds_hex32(uint32_t v, char out[9]);

/* Fault injection for crash tests: when BARFORGE_FAULT equals `point`, the
 * process kills itself with SIGKILL (no cleanup, like a node dying). */
void bf_ds_fault(const char *point);

#endif
