#define _GNU_SOURCE
/* h5.c - see h5.h. HDF5's automatic error printing is turned off; failures
 * become one bf_status message naming the file and object. */
#include "core/base/h5.h"

#include <mpi.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static hid_t mem_type(bf_h5_type t)
{
    switch (t) {
    case BF_H5_F32: return H5T_NATIVE_FLOAT;
    case BF_H5_F64: return H5T_NATIVE_DOUBLE;
    case BF_H5_I32: return H5T_NATIVE_INT32;
    case BF_H5_I64: return H5T_NATIVE_INT64;
    case BF_H5_U8: return H5T_NATIVE_UINT8;
    }
    return H5T_NATIVE_FLOAT;
}

/* file types are little-endian standard types so files read the same everywhere */
static hid_t file_type(bf_h5_type t)
{
    switch (t) {
    case BF_H5_F32: return H5T_IEEE_F32LE;
    case BF_H5_F64: return H5T_IEEE_F64LE;
    case BF_H5_I32: return H5T_STD_I32LE;
    case BF_H5_I64: return H5T_STD_I64LE;
    case BF_H5_U8: return H5T_STD_U8LE;
    }
    return H5T_IEEE_F32LE;
}

static size_t type_size(bf_h5_type t)
{
    switch (t) {
    case BF_H5_F32: case BF_H5_I32: return 4;
    case BF_H5_F64: case BF_H5_I64: return 8;
    case BF_H5_U8: return 1;
    }
    return 4;
}

/* whole-dataset reads without the chunk cache: a fully selected chunk then
 * goes straight into the caller's buffer instead of through the cache and
 * a copy (a cache file's column is one chunk) */
static hid_t g_dapl_direct = H5P_DEFAULT;

static void h5_setup(void)
{
    /* HDF5 keeps freed blocks for reuse without limit: a build opens a
     * cache file per symbol, and each open's metadata cache (~0.5 MB) was
     * otherwise returned to the system and faulted in again */
    H5set_free_list_limits(-1, -1, -1, -1, -1, -1);
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl >= 0 && H5Pset_chunk_cache(dapl, 0, 0, 1.0) >= 0)
        g_dapl_direct = dapl;
}

void bf_h5_quiet(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, h5_setup);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static const char *fname(hid_t file, char *buf, size_t n)
{
    if (H5Fget_name(file, buf, n) < 0)
        snprintf(buf, n, "(unknown file)");
    return buf;
}

#define FNAME(f) fname((f), fnbuf, sizeof fnbuf)

bf_status bf_h5_create(const char *path, hid_t *file)
{
    bf_h5_quiet();
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    *file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (*file < 0)
        return BF_FAIL(BF_EIO, "cannot create HDF5 file '%s'", path);
    return BF_OK;
}

bf_status bf_h5_open(const char *path, int rw, hid_t *file)
{
    bf_h5_quiet();
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        FILE *f = fopen(path, "rb");
        if (!f)
            return BF_FAIL(BF_ENOTFOUND, "no such file '%s'", path);
        fclose(f);
        return BF_FAIL(BF_ECORRUPT, "'%s' is not a readable HDF5 file (truncated or corrupt?)", path);
    }
    *file = H5Fopen(path, rw ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*file < 0)
        return BF_FAIL(BF_ECORRUPT, "cannot open HDF5 file '%s' (truncated or corrupt?)", path);
    return BF_OK;
}

bf_status bf_h5_close(hid_t file)
{
    if (file < 0)
        return BF_OK;
    if (H5Fclose(file) < 0)
        return BF_FAIL(BF_EIO, "closing an HDF5 file failed (disk full?)");
    return BF_OK;
}

bf_status bf_h5_flush(hid_t file)
{
    char fnbuf[512];
    if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0)
        return BF_FAIL(BF_EIO, "flushing '%s' failed (disk full?)", FNAME(file));
    return BF_OK;
}

static bf_status open_par(const char *path, int create, hid_t *file)
{
    bf_h5_quiet();
    int mpi_up = 0;
    MPI_Initialized(&mpi_up);
    if (!mpi_up)
        return BF_FAIL(BF_EINVAL, "'%s': parallel HDF5 needs MPI, which this process did not "
                       "start (run under mpirun/srun, or set BARFORGE_MPI_SINGLETON=1)", path);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL) < 0) {
        H5Pclose(fapl);
        return BF_FAIL(BF_EIO, "HDF5 MPI-IO driver unavailable for '%s'", path);
    }
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    *file = create ? H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)
                   : H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (*file < 0)
        return BF_FAIL(BF_EIO, "cannot %s HDF5 file '%s' in parallel", create ? "create" : "open", path);
    return BF_OK;
}

bf_status bf_h5_create_parallel(const char *path, hid_t *file) { return open_par(path, 1, file); }
bf_status bf_h5_open_parallel(const char *path, hid_t *file) { return open_par(path, 0, file); }

int bf_h5_exists(hid_t file, const char *path)
{
    if (strcmp(path, "/") == 0)
        return 1;
    /* check each component so a missing parent is not an error */
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (H5Lexists(file, buf, H5P_DEFAULT) <= 0)
                return 0;
            *p = c;
            if (c == 0)
                break;
        }
    }
    return 1;
}

bf_status bf_h5_group(hid_t file, const char *path)
{
    char fnbuf[512];
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (H5Lexists(file, buf, H5P_DEFAULT) <= 0) {
                hid_t g = H5Gcreate2(file, buf, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
                if (g < 0)
                    return BF_FAIL(BF_EIO, "cannot create group '%s' in '%s'", buf, FNAME(file));
                H5Gclose(g);
            }
            *p = c;
            if (c == 0)
                break;
        }
    }
    return BF_OK;
}

static bf_status create_ds(hid_t file, const char *name, bf_h5_type t, int64_t rows, int64_t cols,
                           int64_t chunk_rows, int compress, int one_d, hid_t *ds)
{
    char fnbuf[512];
    if (rows < 0 || cols < 1)
        return BF_FAIL(BF_EINVAL, "bad shape (%lld x %lld) for dataset '%s'", (long long)rows,
                       (long long)cols, name);
    hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols};
    hsize_t maxd[2] = {H5S_UNLIMITED, (hsize_t)cols};
    int rank = one_d ? 1 : 2;
    hid_t space = H5Screate_simple(rank, dims, maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (chunk_rows <= 0) {
        /* ~1 MiB chunks */
        int64_t bytes_per_row = cols * (int64_t)type_size(t);
        chunk_rows = (1 << 20) / bytes_per_row;
        if (chunk_rows < 1)
            chunk_rows = 1;
    }
    if (rows > 0 && chunk_rows > rows)
        chunk_rows = rows;
    hsize_t chunk[2] = {(hsize_t)chunk_rows, (hsize_t)cols};
    H5Pset_chunk(dcpl, rank, chunk);
    if (compress > 0) {
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, (unsigned)compress);
    }
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    /* parent groups */
    const char *slash = strrchr(name, '/');
    if (slash && slash != name) {
        char parent[512];
        snprintf(parent, sizeof parent, "%.*s", (int)(slash - name), name);
        BF_TRY(bf_h5_group(file, parent));
    }
    *ds = H5Dcreate2(file, name, file_type(t), space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(space);
    if (*ds < 0)
        return BF_FAIL(BF_EIO, "cannot create dataset '%s' in '%s' (exists already? disk full?)",
                       name, FNAME(file));
    return BF_OK;
}

bf_status bf_h5_write(hid_t file, const char *name, bf_h5_type t, const void *data, int64_t rows,
                      int64_t cols, int compress_level)
{
    char fnbuf[512];
    hid_t ds;
    BF_TRY(create_ds(file, name, t, rows, cols, 0, compress_level, cols == 1, &ds));
    herr_t rc = rows > 0 ? H5Dwrite(ds, mem_type(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : 0;
    H5Dclose(ds);
    if (rc < 0)
        return BF_FAIL(BF_EIO, "writing dataset '%s' to '%s' failed (disk full?)", name, FNAME(file));
    return BF_OK;
}

bf_status bf_h5_shape(hid_t file, const char *name, int64_t *rows, int64_t *cols)
{
    char fnbuf[512];
    if (!bf_h5_exists(file, name))
        return BF_FAIL(BF_ENOTFOUND, "dataset '%s' missing in '%s'", name, FNAME(file));
    hid_t ds = H5Dopen2(file, name, H5P_DEFAULT);
    if (ds < 0)
        return BF_FAIL(BF_ECORRUPT, "cannot open dataset '%s' in '%s'", name, FNAME(file));
    hid_t sp = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(sp);
    hsize_t d[2] = {0, 1};
    if (rank < 1 || rank > 2) {
        H5Sclose(sp);
        H5Dclose(ds);
        return BF_FAIL(BF_ECORRUPT, "dataset '%s' in '%s' has rank %d (expected 1 or 2)", name,
                       FNAME(file), rank);
    }
    H5Sget_simple_extent_dims(sp, d, NULL);
    H5Sclose(sp);
    H5Dclose(ds);
    *rows = (int64_t)d[0];
    *cols = rank == 2 ? (int64_t)d[1] : 1;
    return BF_OK;
}

static bf_status check_dtype(hid_t ds, bf_h5_type t, const char *name, hid_t file)
{
    char fnbuf[512];
    hid_t ft = H5Dget_type(ds);
    H5T_class_t cls = H5Tget_class(ft);
    size_t sz = H5Tget_size(ft);
    H5Tclose(ft);
    int want_float = t == BF_H5_F32 || t == BF_H5_F64;
    if ((want_float && cls != H5T_FLOAT) || (!want_float && cls != H5T_INTEGER) ||
        sz != type_size(t))
        return BF_FAIL(BF_ECORRUPT, "dataset '%s' in '%s' has an unexpected type (%s%zu)", name,
                       FNAME(file), cls == H5T_FLOAT ? "float" : "int", sz * 8);
    return BF_OK;
}

bf_status bf_h5_read_into(hid_t file, const char *name, bf_h5_type t, void *data, int64_t rows,
                          int64_t cols)
{
    char fnbuf[512];
    /* one open for the shape, the type and the data (a cache file's columns
     * are read thousands of times in a build) */
    hid_t ds = bf_h5_exists(file, name) ? H5Dopen2(file, name, g_dapl_direct) : -1;
    if (ds < 0) {
        int64_t r, c;
        BF_TRY(bf_h5_shape(file, name, &r, &c)); /* says what is wrong */
        return BF_FAIL(BF_ECORRUPT, "cannot open dataset '%s' in '%s'", name, FNAME(file));
    }
    hid_t sp = H5Dget_space(ds);
    int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    hsize_t d[2] = {0, 1};
    if (rank >= 1 && rank <= 2)
        H5Sget_simple_extent_dims(sp, d, NULL);
    if (sp >= 0)
        H5Sclose(sp);
    int64_t r = (int64_t)d[0], c = rank == 2 ? (int64_t)d[1] : 1;
    if (rank < 1 || rank > 2 || r != rows || c != cols) {
        H5Dclose(ds);
        if (rank < 1 || rank > 2)
            return BF_FAIL(BF_ECORRUPT, "dataset '%s' in '%s' has rank %d (expected 1 or 2)",
                           name, FNAME(file), rank);
        return BF_FAIL(BF_ECORRUPT, "dataset '%s' in '%s' is %lld x %lld, expected %lld x %lld",
                       name, FNAME(file), (long long)r, (long long)c, (long long)rows,
                       (long long)cols);
    }
    bf_status st = check_dtype(ds, t, name, file);
    if (st == BF_OK && rows > 0 &&
        H5Dread(ds, mem_type(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        st = BF_FAIL(BF_ECORRUPT, "reading dataset '%s' from '%s' failed (truncated file?)", name,
                     FNAME(file));
    H5Dclose(ds);
    return st;
}

bf_status bf_h5_read_alloc(hid_t file, const char *name, bf_h5_type t, void **data, int64_t *rows,
                           int64_t *cols)
{
    *data = NULL;
    BF_TRY(bf_h5_shape(file, name, rows, cols));
    size_t bytes = (size_t)(*rows) * (size_t)(*cols) * type_size(t);
    void *buf = malloc(bytes ? bytes : 1);
    BF_CHECK_ALLOC(buf, bytes);
    bf_status st = bf_h5_read_into(file, name, t, buf, *rows, *cols);
    if (st != BF_OK) {
        free(buf);
        return st;
    }
    *data = buf;
    return BF_OK;
}

bf_status bf_h5_read_rows(hid_t file, const char *name, bf_h5_type t, int64_t row0, int64_t nrows,
                          void *data)
{
    char fnbuf[512];
    int64_t r, c;
    BF_TRY(bf_h5_shape(file, name, &r, &c));
    if (row0 < 0 || nrows < 0 || row0 + nrows > r)
        return BF_FAIL(BF_EINVAL, "rows [%lld, %lld) out of range for '%s' (%lld rows) in '%s'",
                       (long long)row0, (long long)(row0 + nrows), name, (long long)r, FNAME(file));
    if (nrows == 0)
        return BF_OK;
    hid_t ds = H5Dopen2(file, name, H5P_DEFAULT);
    bf_status st = check_dtype(ds, t, name, file);
    if (st == BF_OK) {
        hid_t fs = H5Dget_space(ds);
        int rank = H5Sget_simple_extent_ndims(fs);
        hsize_t start[2] = {(hsize_t)row0, 0}, count[2] = {(hsize_t)nrows, (hsize_t)c};
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
        hid_t ms = H5Screate_simple(rank, count, NULL);
        if (H5Dread(ds, mem_type(t), ms, fs, H5P_DEFAULT, data) < 0)
            st = BF_FAIL(BF_ECORRUPT, "reading rows of '%s' from '%s' failed", name, FNAME(file));
        H5Sclose(ms);
        H5Sclose(fs);
    }
    H5Dclose(ds);
    return st;
}

bf_status bf_h5_create_dataset(hid_t file, const char *name, bf_h5_type t, int64_t total_rows,
                               int64_t cols, int64_t chunk_rows, int compress_level)
{
    int par = 0;
    hid_t fapl = H5Fget_access_plist(file);
    par = H5Pget_driver(fapl) == H5FD_MPIO;
    H5Pclose(fapl);
    if (par && compress_level > 0)
        return BF_FAIL(BF_EINVAL, "compression of '%s' is not possible with parallel writes in "
                       "this HDF5 version: use compression 0 or one rank", name);
    hid_t ds;
    BF_TRY(create_ds(file, name, t, total_rows, cols, chunk_rows, compress_level, cols == 1, &ds));
    H5Dclose(ds);
    return BF_OK;
}

bf_status bf_h5_write_rows(hid_t file, const char *name, bf_h5_type t, int64_t row0,
                           int64_t nrows, int64_t cols, const void *data, int collective)
{
    char fnbuf[512];
    hid_t ds = H5Dopen2(file, name, H5P_DEFAULT);
    if (ds < 0)
        return BF_FAIL(BF_ENOTFOUND, "dataset '%s' missing in '%s'", name, FNAME(file));
    hid_t fs = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(fs);
    hsize_t d[2] = {0, 1};
    H5Sget_simple_extent_dims(fs, d, NULL);
    bf_status st = BF_OK;
    if (row0 < 0 || nrows < 0 || (hsize_t)(row0 + nrows) > d[0] ||
        (rank == 2 ? (int64_t)d[1] : 1) != cols) {
        st = BF_FAIL(BF_EINVAL, "rows [%lld, %lld) x %lld do not fit '%s' (%llu rows) in '%s'",
                     (long long)row0, (long long)(row0 + nrows), (long long)cols, name,
                     (unsigned long long)d[0], FNAME(file));
    }
    hsize_t start[2] = {(hsize_t)row0, 0}, count[2] = {(hsize_t)nrows, (hsize_t)cols};
    hid_t ms;
    if (st == BF_OK && nrows > 0) {
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
        ms = H5Screate_simple(rank, count, NULL);
    } else {
        /* a rank with nothing to write still joins the collective call */
        H5Sselect_none(fs);
        hsize_t one[2] = {1, (hsize_t)cols};
        ms = H5Screate_simple(rank, one, NULL);
        H5Sselect_none(ms);
    }
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (collective)
        H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    static const char dummy[16];
    herr_t rc = H5Dwrite(ds, mem_type(t), ms, fs, dxpl, (st == BF_OK && nrows > 0) ? data : dummy);
    if (rc < 0 && st == BF_OK)
        st = BF_FAIL(BF_EIO, "writing rows [%lld, %lld) of '%s' to '%s' failed (disk full?)",
                     (long long)row0, (long long)(row0 + nrows), name, FNAME(file));
    H5Pclose(dxpl);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(ds);
    return st;
}

static hid_t open_obj(hid_t file, const char *obj)
{
    return H5Oopen(file, obj, H5P_DEFAULT);
}

static bf_status attr_write(hid_t file, const char *obj, const char *name, hid_t ftype, hid_t mtype,
                            const void *val)
{
    char fnbuf[512];
    hid_t o = open_obj(file, obj);
    if (o < 0)
        return BF_FAIL(BF_ENOTFOUND, "object '%s' missing in '%s'", obj, FNAME(file));
    if (H5Aexists(o, name) > 0)
        H5Adelete(o, name);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(o, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a >= 0 ? H5Awrite(a, mtype, val) : -1;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Oclose(o);
    if (rc < 0)
        return BF_FAIL(BF_EIO, "cannot write attribute '%s' on '%s' in '%s'", name, obj, FNAME(file));
    return BF_OK;
}

bf_status bf_h5_attr_set_str(hid_t file, const char *obj, const char *name, const char *value)
{
    /* variable-length UTF-8 string: h5py reads it as str */
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    bf_status st = attr_write(file, obj, name, t, t, &value);
    H5Tclose(t);
    return st;
}

bf_status bf_h5_attr_set_i64(hid_t file, const char *obj, const char *name, int64_t value)
{
    return attr_write(file, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

bf_status bf_h5_attr_set_f64(hid_t file, const char *obj, const char *name, double value)
{
    return attr_write(file, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

static bf_status attr_open(hid_t file, const char *obj, const char *name, hid_t *o, hid_t *a)
{
    char fnbuf[512];
    *o = open_obj(file, obj);
    if (*o < 0)
        return BF_FAIL(BF_ENOTFOUND, "object '%s' missing in '%s'", obj, FNAME(file));
    if (H5Aexists(*o, name) <= 0) {
        H5Oclose(*o);
        return BF_FAIL(BF_ENOTFOUND, "attribute '%s' missing on '%s' in '%s'", name, obj, FNAME(file));
    }
    *a = H5Aopen(*o, name, H5P_DEFAULT);
    return BF_OK;
}

bf_status bf_h5_attr_get_str(hid_t file, const char *obj, const char *name, char **value)
{
    char fnbuf[512];
    hid_t o, a;
    *value = NULL;
    BF_TRY(attr_open(file, obj, name, &o, &a));
    hid_t ft = H5Aget_type(a);
    bf_status st = BF_OK;
    if (H5Tget_class(ft) != H5T_STRING) {
        st = BF_FAIL(BF_ECORRUPT, "attribute '%s' on '%s' in '%s' is not a string", name, obj,
                     FNAME(file));
    } else if (H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char *s = NULL;
        if (H5Aread(a, mt, &s) < 0 || !s) {
            st = BF_FAIL(BF_ECORRUPT, "cannot read attribute '%s'", name);
        } else {
            *value = strdup(s);
            H5free_memory(s);
        }
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(ft);
        char *s = calloc(n + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, n);
        if (!s || H5Aread(a, mt, s) < 0) {
            free(s);
            st = BF_FAIL(BF_ECORRUPT, "cannot read attribute '%s'", name);
        } else {
            *value = s;
        }
        H5Tclose(mt);
    }
    H5Tclose(ft);
    H5Aclose(a);
    H5Oclose(o);
    if (st == BF_OK && !*value)
        return BF_FAIL(BF_ENOMEM, "out of memory reading attribute '%s'", name);
    return st;
}

static bf_status attr_read_num(hid_t file, const char *obj, const char *name, hid_t mt, void *out)
{
    hid_t o, a;
    BF_TRY(attr_open(file, obj, name, &o, &a));
    herr_t rc = H5Aread(a, mt, out);
    H5Aclose(a);
    H5Oclose(o);
    if (rc < 0)
        return BF_FAIL(BF_ECORRUPT, "cannot read attribute '%s' on '%s'", name, obj);
    return BF_OK;
}

bf_status bf_h5_attr_get_i64(hid_t file, const char *obj, const char *name, int64_t *value)
{
    return attr_read_num(file, obj, name, H5T_NATIVE_INT64, value);
}

bf_status bf_h5_attr_get_f64(hid_t file, const char *obj, const char *name, double *value)
{
    return attr_read_num(file, obj, name, H5T_NATIVE_DOUBLE, value);
}
