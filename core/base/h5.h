/* h5.h - typed HDF5 helpers: files, datasets, attributes, and parallel
 * (MPI-IO) collective writes of disjoint row ranges.
 *
 * Every function returns a bf_status with the HDF5 error stack reduced to one
 * message naming the file and object. 2-D datasets are row-major (rows x
 * cols); 1-D datasets have cols = 1. Datasets created here are chunked by
 * rows (so they can be extended and compressed); compression level 0 = none.
 * Parallel files: bf_h5_create_parallel/bf_h5_open_parallel take the MPI
 * communicator; every rank must call the collective functions (create,
 * write_rows_collective, close) in the same order.
 */
#ifndef BF_H5_H
#define BF_H5_H

#include "core/base/status.h"

#include <hdf5.h>
#include <stdint.h>

typedef enum bf_h5_type { BF_H5_F32, BF_H5_F64, BF_H5_I32, BF_H5_I64, BF_H5_U8 } bf_h5_type;

/* Serial files. create truncates; open is read-only unless rw. */
bf_status bf_h5_create(const char *path, hid_t *file);
bf_status bf_h5_open(const char *path, int rw, hid_t *file);
bf_status bf_h5_close(hid_t file);
/* flush to disk (H5Fflush) */
bf_status bf_h5_flush(hid_t file);

/* Parallel (MPI-IO) files over MPI_COMM_WORLD. */
bf_status bf_h5_create_parallel(const char *path, hid_t *file);
bf_status bf_h5_open_parallel(const char *path, hid_t *file);

/* Create a group path like "/model" (intermediate groups too); ok if exists. */
bf_status bf_h5_group(hid_t file, const char *path);
int bf_h5_exists(hid_t file, const char *path);

/* Whole-dataset write/read (rows x cols; cols = 1 for 1-D). */
bf_status bf_h5_write(hid_t file, const char *name, bf_h5_type t, const void *data, int64_t rows,
                      int64_t cols, int compress_level);
/* Reads into a malloc'd buffer; rows and cols receive the shape (cols 1 for 1-D). */
bf_status bf_h5_read_alloc(hid_t file, const char *name, bf_h5_type t, void **data,
                           int64_t *rows, int64_t *cols);
/* Reads into caller memory of exactly rows*cols elements (checked). */
bf_status bf_h5_read_into(hid_t file, const char *name, bf_h5_type t, void *data, int64_t rows,
                          int64_t cols);
bf_status bf_h5_shape(hid_t file, const char *name, int64_t *rows, int64_t *cols);
/* Read rows [row0, row0+nrows) of a dataset. */
bf_status bf_h5_read_rows(hid_t file, const char *name, bf_h5_type t, int64_t row0, int64_t nrows,
                          void *data);

/* Collective: create a (total_rows x cols) dataset in a parallel file, then
 * each rank writes its own disjoint rows [row0, row0+nrows) (nrows may be 0).
 * chunk_rows 0 = chosen automatically. Compression is not allowed with
 * parallel writes in HDF5 1.10 and is refused. */
bf_status bf_h5_create_dataset(hid_t file, const char *name, bf_h5_type t, int64_t total_rows,
                               int64_t cols, int64_t chunk_rows, int compress_level);
bf_status bf_h5_write_rows(hid_t file, const char *name, bf_h5_type t, int64_t row0,
                           int64_t nrows, int64_t cols, const void *data, int collective);

/* Attributes on an object path ("/" for the file). */
bf_status bf_h5_attr_set_str(hid_t file, const char *obj, const char *name, const char *value);
bf_status bf_h5_attr_set_i64(hid_t file, const char *obj, const char *name, int64_t value);
bf_status bf_h5_attr_set_f64(hid_t file, const char *obj, const char *name, double value);
/* malloc'd string */
bf_status bf_h5_attr_get_str(hid_t file, const char *obj, const char *name, char **value);
bf_status bf_h5_attr_get_i64(hid_t file, const char *obj, const char *name, int64_t *value);
bf_status bf_h5_attr_get_f64(hid_t file, const char *obj, const char *name, double *value);

/* Silence HDF5's own stack printing (we report errors ourselves). */
void bf_h5_quiet(void);

#endif
