/* checkpoint.c - see checkpoint.h. Only rank 0 calls save; every rank may
 * load (the file is read-only then). */
#define _GNU_SOURCE
#include "core/train/checkpoint.h"

#include "core/base/fsutil.h"
#include "core/base/h5.h"
#include "core/base/log.h"
#include "core/train/fault.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void bf_ckpt_state_init(bf_ckpt_state *s, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->best_step = -1;
    s->rng_seed = seed;
    s->val_loss = NAN;
    s->best_val_loss = INFINITY;
}

void bf_ckpt_info_free(bf_ckpt_info *info)
{
    free(info->config_json);
    free(info->args_json);
    free(info->dataset_version);
    free(info->dataset_checksum);
    memset(info, 0, sizeof *info);
}

/* ---- checksum ------------------------------------------------------------ */

static void put_u64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static uint32_t state_crc(uint32_t crc, const bf_ckpt_state *s)
{
    unsigned char b[13 * 8];
    const uint64_t v[13] = {(uint64_t)s->epoch, (uint64_t)s->cursor, (uint64_t)s->step,
                            (uint64_t)s->samples_seen, (uint64_t)s->patience_counter,
                            (uint64_t)s->best_step, (uint64_t)s->finished,
                            (uint64_t)s->n_train_windows, s->rng_seed, f64_bits(s->val_loss),
                            f64_bits(s->best_val_loss), f64_bits(s->lr), f64_bits(s->elapsed_s)};
    for (int i = 0; i < 13; i++)
        put_u64(b + 8 * i, v[i]);
    return bf_crc32(crc, b, sizeof b);
}

static uint32_t content_crc(const float *p, const float *m, const float *v, int64_t n,
                            const bf_ckpt_state *s, const char *cfg, const char *args,
                            const char *dsv, const char *dsc)
{
    size_t bytes = (size_t)n * sizeof(float);
    uint32_t c = bf_crc32(0, p, bytes);
    c = bf_crc32(c, m, bytes);
    c = bf_crc32(c, v, bytes);
    c = state_crc(c, s);
    const char *strs[4] = {cfg, args, dsv, dsc};
    for (int i = 0; i < 4; i++)
        c = bf_crc32(c, strs[i] ? strs[i] : "", strs[i] ? strlen(strs[i]) : 0);
    return c;
}

/* ---- the tensor table ---------------------------------------------------- */

typedef struct tensor_rec {
    char name[BF_NN_NAME_LEN];
    int64_t offset, numel;
    int32_t ndim;
    int32_t shape[4];
    uint8_t decay;
} tensor_rec;

static hid_t tensor_rec_type(void)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(tensor_rec));
    hid_t s = H5Tcopy(H5T_C_S1);
    H5Tset_size(s, BF_NN_NAME_LEN);
    H5Tset_strpad(s, H5T_STR_NULLTERM);
    hsize_t four = 4;
    hid_t a = H5Tarray_create2(H5T_NATIVE_INT32, 1, &four);
    H5Tinsert(t, "name", HOFFSET(tensor_rec, name), s);
    H5Tinsert(t, "offset", HOFFSET(tensor_rec, offset), H5T_NATIVE_INT64);
    H5Tinsert(t, "numel", HOFFSET(tensor_rec, numel), H5T_NATIVE_INT64);
    H5Tinsert(t, "ndim", HOFFSET(tensor_rec, ndim), H5T_NATIVE_INT32);
    H5Tinsert(t, "shape", HOFFSET(tensor_rec, shape), a);
    H5Tinsert(t, "decay", HOFFSET(tensor_rec, decay), H5T_NATIVE_UINT8);
    H5Tclose(s);
    H5Tclose(a);
    return t;
}

static bf_status write_tensors(hid_t f, const bf_model *m, const char *path)
{
    int n = m->n_tensors;
    tensor_rec *r = calloc((size_t)(n > 0 ? n : 1), sizeof *r);
    BF_CHECK_ALLOC(r, (size_t)n * sizeof *r);
    for (int i = 0; i < n; i++) {
        const bf_tensor_info *t = &m->tensors[i];
        snprintf(r[i].name, sizeof r[i].name, "%s", t->name);
        r[i].offset = t->offset;
        r[i].numel = t->numel;
        r[i].ndim = t->ndim;
        for (int k = 0; k < 4; k++)
            r[i].shape[k] = k < t->ndim ? t->shape[k] : 0;
        r[i].decay = (uint8_t)t->decay;
    }
    hid_t type = tensor_rec_type();
    hsize_t dims = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &dims, NULL);
    hid_t ds = H5Dcreate2(f, "/model/tensors", type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = ds >= 0 ? H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, r) : -1;
    if (ds >= 0)
        H5Dclose(ds);
    H5Sclose(sp);
    H5Tclose(type);
    free(r);
    if (rc < 0)
        return BF_FAIL(BF_EIO, "cannot write /model/tensors to '%s' (disk full?)", path);
    return BF_OK;
}

/* /model/views/<name>: an HDF5 virtual dataset per tensor, shaped as the
 * tensor and mapped onto its slice of /model/params in the same file, so
 * h5py reads f["/model/views/head.weight"] without knowing offsets. */
static bf_status write_views(hid_t f, const bf_model *m, const char *path)
{
    BF_TRY(bf_h5_group(f, "/model/views"));
    hsize_t n = (hsize_t)m->n_params;
    hid_t src = H5Screate_simple(1, &n, NULL);
    bf_status st = BF_OK;
    for (int i = 0; i < m->n_tensors && st == BF_OK; i++) {
        const bf_tensor_info *t = &m->tensors[i];
        hsize_t dims[4], start = (hsize_t)t->offset, count = (hsize_t)t->numel;
        int nd = t->ndim > 0 ? t->ndim : 1;
        for (int k = 0; k < nd; k++)
            dims[k] = t->ndim > 0 ? (hsize_t)t->shape[k] : (hsize_t)t->numel;
        hid_t vsp = H5Screate_simple(nd, dims, NULL);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        H5Sselect_hyperslab(src, H5S_SELECT_SET, &start, NULL, &count, NULL);
        char name[BF_NN_NAME_LEN + 16];
        snprintf(name, sizeof name, "/model/views/%s", t->name);
        hid_t ds = -1;
        if (H5Pset_virtual(dcpl, vsp, ".", "/model/params", src) >= 0)
            ds = H5Dcreate2(f, name, H5T_IEEE_F32LE, vsp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (ds < 0)
            st = BF_FAIL(BF_EIO, "cannot create the view %s in '%s'", name, path);
        else
            H5Dclose(ds);
        H5Pclose(dcpl);
        H5Sclose(vsp);
    }
    H5Sclose(src);
    return st;
}

/* Compare the file's tensor table with the model's layout. */
static bf_status check_tensors(hid_t f, const bf_model *m, const char *path)
{
    if (!bf_h5_exists(f, "/model/tensors"))
        return BF_FAIL(BF_ECORRUPT, "'%s' has no /model/tensors table", path);
    hid_t ds = H5Dopen2(f, "/model/tensors", H5P_DEFAULT);
    if (ds < 0)
        return BF_FAIL(BF_ECORRUPT, "cannot open /model/tensors in '%s'", path);
    hid_t sp = H5Dget_space(ds);
    hsize_t n = 0;
    H5Sget_simple_extent_dims(sp, &n, NULL);
    H5Sclose(sp);
    if ((int64_t)n != m->n_tensors) {
        H5Dclose(ds);
        return BF_FAIL(BF_EINVAL, "checkpoint '%s' has %lld tensors, the model %d: another architecture",
                       path, (long long)n, m->n_tensors);
    }
    tensor_rec *r = calloc(n ? n : 1, sizeof *r);
    if (!r) {
        H5Dclose(ds);
        return BF_FAIL(BF_ENOMEM, "out of memory reading /model/tensors");
    }
    hid_t type = tensor_rec_type();
    herr_t rc = n ? H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, r) : 0;
    H5Tclose(type);
    H5Dclose(ds);
    bf_status st = BF_OK;
    if (rc < 0)
        st = BF_FAIL(BF_ECORRUPT, "cannot read /model/tensors in '%s' (truncated?)", path);
    for (hsize_t i = 0; st == BF_OK && i < n; i++) {
        const bf_tensor_info *t = &m->tensors[i];
        r[i].name[BF_NN_NAME_LEN - 1] = 0;
        if (strcmp(r[i].name, t->name) != 0 || r[i].offset != t->offset || r[i].numel != t->numel)
            st = BF_FAIL(BF_EINVAL,
                         "checkpoint '%s' tensor %llu is '%s' (%lld floats at %lld), the model's "
                         "is '%s' (%lld at %lld): another architecture or shape",
                         path, (unsigned long long)i, r[i].name, (long long)r[i].numel,
                         (long long)r[i].offset, t->name, (long long)t->numel,
                         (long long)t->offset);
    }
    free(r);
    return st;
}

/* ---- save ---------------------------------------------------------------- */

static int g_save_count = 0;

static bf_status write_all(hid_t f, const char *tmp, const bf_model *m, const bf_ckpt_state *s,
                           const char *args, const char *dsv, const char *dsc, int save_no)
{
    char cfg[4096];
    BF_TRY(bf_model_config_to_json(&m->cfg, cfg, sizeof cfg));
    int64_t n = m->n_params;
    uint32_t crc = content_crc(m->params, m->m, m->v, n, s, cfg, args, dsv, dsc);

    BF_TRY(bf_h5_attr_set_str(f, "/", "format", "barforge-checkpoint"));
    BF_TRY(bf_h5_attr_set_i64(f, "/", "format_version", BF_CKPT_FORMAT_VERSION));
    BF_TRY(bf_h5_attr_set_i64(f, "/", "checksum", (int64_t)crc));
    BF_TRY(bf_h5_attr_set_str(f, "/", "checksum_algo", "crc32(params,m,v,state,config,args,dataset)"));
    char when[32];
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    BF_TRY(bf_h5_attr_set_str(f, "/", "created_utc", when));

    BF_TRY(bf_h5_write(f, "/model/params", BF_H5_F32, m->params, n, 1, 0));
    BF_TRY(bf_h5_attr_set_str(f, "/model", "config_json", cfg));
    BF_TRY(bf_h5_attr_set_i64(f, "/model", "n_params", n));
    BF_TRY(bf_h5_attr_set_str(f, "/model", "arch", bf_arch_name(m->cfg.arch)));
    BF_TRY(write_tensors(f, m, tmp));
    BF_TRY(write_views(f, m, tmp));
    BF_TRY(bf_h5_write(f, "/optim/m", BF_H5_F32, m->m, n, 1, 0));

    int64_t arg = 1;
    if (bf_fault_get("ckpt_kill_mid_write", 1, &arg) && save_no == arg) {
        bf_h5_flush(f);
        BF_WARN("BARFORGE_FAULT=ckpt_kill_mid_write: SIGKILL halfway through writing '%s'", tmp);
        raise(SIGKILL);
    }
    if (bf_fault_get("ckpt_write", 1, &arg) && save_no >= arg)
        return BF_FAIL(BF_EIO, "writing '%s' failed: No space left on device "
                               "(injected by BARFORGE_FAULT=ckpt_write)", tmp);

    BF_TRY(bf_h5_write(f, "/optim/v", BF_H5_F32, m->v, n, 1, 0));
    BF_TRY(bf_h5_attr_set_str(f, "/optim", "algo", "adamw"));
    BF_TRY(bf_h5_attr_set_i64(f, "/optim", "t", s->step));

    BF_TRY(bf_h5_group(f, "/state"));
    const char *ik[] = {"epoch", "cursor", "step", "samples_seen", "patience_counter",
                        "best_step", "finished", "n_train_windows", "rng_seed"};
    const int64_t iv[] = {s->epoch, s->cursor, s->step, s->samples_seen, s->patience_counter,
                          s->best_step, s->finished, s->n_train_windows, (int64_t)s->rng_seed};
    for (int i = 0; i < 9; i++)
        BF_TRY(bf_h5_attr_set_i64(f, "/state", ik[i], iv[i]));
    const char *dk[] = {"val_loss", "best_val_loss", "lr", "elapsed_s"};
    const double dv[] = {s->val_loss, s->best_val_loss, s->lr, s->elapsed_s};
    for (int i = 0; i < 4; i++)
        BF_TRY(bf_h5_attr_set_f64(f, "/state", dk[i], dv[i]));

    BF_TRY(bf_h5_group(f, "/train"));
    BF_TRY(bf_h5_attr_set_str(f, "/train", "args_json", args));
    BF_TRY(bf_h5_group(f, "/dataset"));
    BF_TRY(bf_h5_attr_set_str(f, "/dataset", "version", dsv));
    BF_TRY(bf_h5_attr_set_str(f, "/dataset", "checksum", dsc));
    return BF_OK;
}

bf_status bf_ckpt_save(const char *path, const bf_model *m, const bf_ckpt_state *st,
                       const char *args_json, const char *dataset_version,
                       const char *dataset_checksum)
{
    const char *args = args_json ? args_json : "";
    const char *dsv = dataset_version ? dataset_version : "";
    const char *dsc = dataset_checksum ? dataset_checksum : "";
    int save_no = ++g_save_count;
    char tmp[4200];
    bf_tmp_path(path, tmp, sizeof tmp);
    hid_t f;
    BF_TRY(bf_h5_create(tmp, &f));
    bf_status s = write_all(f, tmp, m, st, args, dsv, dsc, save_no);
    bf_status sc = bf_h5_close(f);
    if (s == BF_OK && sc != BF_OK)
        s = sc;
    if (s == BF_OK)
        s = bf_commit_file(tmp, path);
    if (s != BF_OK) {
        unlink(tmp);
        return bf_fail_context(s, "checkpoint '%s' not written (the previous one is intact)", path);
    }
    return BF_OK;
}

/* ---- load ---------------------------------------------------------------- */

static bf_status read_header(hid_t f, const char *path, bf_ckpt_info *info)
{
    char *fmt = NULL;
    if (bf_h5_attr_get_str(f, "/", "format", &fmt) != BF_OK || strcmp(fmt, "barforge-checkpoint") != 0) {
        free(fmt);
        return BF_FAIL(BF_ECORRUPT, "'%s' is not a barforge checkpoint (no format attribute)", path);
    }
    free(fmt);
    int64_t ver = 0;
    BF_TRY(bf_h5_attr_get_i64(f, "/", "format_version", &ver));
    if (ver != BF_CKPT_FORMAT_VERSION)
        return BF_FAIL(BF_ECORRUPT, "checkpoint '%s' has format_version %lld; this build reads %d",
                       path, (long long)ver, BF_CKPT_FORMAT_VERSION);
    BF_TRY(bf_h5_attr_get_str(f, "/model", "config_json", &info->config_json));
    BF_TRY(bf_h5_attr_get_i64(f, "/model", "n_params", &info->n_params));
    BF_TRY(bf_h5_attr_get_str(f, "/train", "args_json", &info->args_json));
    BF_TRY(bf_h5_attr_get_str(f, "/dataset", "version", &info->dataset_version));
    BF_TRY(bf_h5_attr_get_str(f, "/dataset", "checksum", &info->dataset_checksum));
    bf_ckpt_state *s = &info->state;
    const char *ik[] = {"epoch", "cursor", "step", "samples_seen", "patience_counter",
                        "best_step", "finished", "n_train_windows", "rng_seed"};
    int64_t *iv[] = {&s->epoch, &s->cursor, &s->step, &s->samples_seen, &s->patience_counter,
                     &s->best_step, &s->finished, &s->n_train_windows, (int64_t *)&s->rng_seed};
    for (int i = 0; i < 9; i++)
        BF_TRY(bf_h5_attr_get_i64(f, "/state", ik[i], iv[i]));
    const char *dk[] = {"val_loss", "best_val_loss", "lr", "elapsed_s"};
    double *dv[] = {&s->val_loss, &s->best_val_loss, &s->lr, &s->elapsed_s};
    for (int i = 0; i < 4; i++)
        BF_TRY(bf_h5_attr_get_f64(f, "/state", dk[i], dv[i]));
    bf_model_config_defaults(&info->cfg);
    bf_status st = bf_model_config_from_json(info->config_json, &info->cfg);
    if (st != BF_OK)
        return bf_fail_context(BF_ECORRUPT, "checkpoint '%s': bad model config", path);
    if (bf_model_config_n_params(&info->cfg) != info->n_params)
        return BF_FAIL(BF_ECORRUPT, "checkpoint '%s': n_params %lld does not match its config (%lld)",
                       path, (long long)info->n_params,
                       (long long)bf_model_config_n_params(&info->cfg));
    return BF_OK;
}

/* Read header + buffers (into p/m/v when given, else scratch) and verify. */
static bf_status read_verify(const char *path, float *p, float *mm, float *vv, bf_ckpt_info *info)
{
    memset(info, 0, sizeof *info);
    hid_t f;
    bf_status st = bf_h5_open(path, 0, &f);
    if (st != BF_OK)
        return bf_fail_context(st == BF_ENOTFOUND ? st : BF_ECORRUPT, "checkpoint '%s' is unusable",
                               path);
    st = read_header(f, path, info);
    float *bufs[3] = {p, mm, vv}, *own[3] = {NULL, NULL, NULL};
    int64_t n = info->n_params;
    const char *names[3] = {"/model/params", "/optim/m", "/optim/v"};
    for (int i = 0; st == BF_OK && i < 3; i++) {
        if (!bufs[i]) {
            own[i] = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
            if (!own[i]) {
                st = BF_FAIL(BF_ENOMEM, "out of memory verifying '%s'", path);
                break;
            }
            bufs[i] = own[i];
        }
        st = bf_h5_read_into(f, names[i], BF_H5_F32, bufs[i], n, 1);
    }
    int64_t want = 0;
    if (st == BF_OK)
        st = bf_h5_attr_get_i64(f, "/", "checksum", &want);
    if (st == BF_OK) {
        uint32_t got = content_crc(bufs[0], bufs[1], bufs[2], n, &info->state, info->config_json,
                                   info->args_json, info->dataset_version, info->dataset_checksum);
        if ((int64_t)got != want)
            st = BF_FAIL(BF_ECORRUPT, "checkpoint '%s' fails its checksum (stored %08llx, computed "
                         "%08x): the file is damaged", path, (unsigned long long)want, got);
    }
    for (int i = 0; i < 3; i++)
        free(own[i]);
    bf_h5_close(f);
    if (st != BF_OK) {
        bf_ckpt_info_free(info);
        /* any HDF5-level failure on a file that opened means damage */
        if (st == BF_ENOTFOUND || st == BF_EIO)
            st = BF_ECORRUPT;
        return bf_fail_context(st, "checkpoint '%s' is unusable", path);
    }
    return BF_OK;
}

bf_status bf_ckpt_read_info(const char *path, bf_ckpt_info *info)
{
    if (!bf_path_exists(path))
        return BF_FAIL(BF_ENOTFOUND, "checkpoint '%s' does not exist", path);
    return read_verify(path, NULL, NULL, NULL, info);
}

bf_status bf_ckpt_load(const char *path, bf_model *m, bf_ckpt_state *st, bf_ckpt_info *info_out)
{
    if (!bf_path_exists(path))
        return BF_FAIL(BF_ENOTFOUND, "checkpoint '%s' does not exist", path);
    /* check the layout before reading into the model's buffers */
    bf_ckpt_info hdr;
    memset(&hdr, 0, sizeof hdr);
    hid_t f;
    BF_TRY(bf_h5_open(path, 0, &f));
    bf_status s = read_header(f, path, &hdr);
    if (s == BF_OK && hdr.n_params != m->n_params)
        s = BF_FAIL(BF_EINVAL, "checkpoint '%s' has %lld parameters, the model %lld: another "
                    "architecture or shape (arch %s in the checkpoint)", path,
                    (long long)hdr.n_params, (long long)m->n_params, bf_arch_name(hdr.cfg.arch));
    if (s == BF_OK)
        s = check_tensors(f, m, path);
    bf_h5_close(f);
    bf_ckpt_info_free(&hdr);
    BF_TRY(s);
    bf_ckpt_info info;
    BF_TRY(read_verify(path, m->params, m->m, m->v, &info));
    if (st)
        *st = info.state;
    if (info_out)
        *info_out = info;
    else
        bf_ckpt_info_free(&info);
    return BF_OK;
}

/* ---- the checkpoints folder ---------------------------------------------- */

void bf_ckpt_step_path(const char *ckpt_dir, int64_t step, char *out, size_t n)
{
    snprintf(out, n, "%s/step-%08lld.h5", ckpt_dir, (long long)step);
}

static int is_step_name(const char *name, long long *step)
{
    char tail[8];
    if (strstr(name, ".tmp."))
        return 0;
    return sscanf(name, "step-%lld%7s", step, tail) == 2 && strcmp(tail, ".h5") == 0;
}

typedef struct cand {
    char path[4200];
    int64_t step;
    int is_last;
} cand;

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->step != y->step)
        return x->step < y->step ? 1 : -1;
    return y->is_last - x->is_last;
}

bf_status bf_ckpt_find_latest(const char *ckpt_dir, char *path_out, size_t n, bf_ckpt_info *info)
{
    DIR *d = opendir(ckpt_dir);
    if (!d)
        return BF_FAIL(BF_ENOTFOUND, "no checkpoint folder '%s'", ckpt_dir);
    cand *c = NULL;
    int nc = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long long step = -1;
        int last = strcmp(e->d_name, "last.h5") == 0;
        if (!last && !is_step_name(e->d_name, &step))
            continue;
        if (nc == cap) {
            cap = cap ? cap * 2 : 16;
            cand *nw = realloc(c, (size_t)cap * sizeof *c);
            if (!nw) {
                free(c);
                closedir(d);
                return BF_FAIL(BF_ENOMEM, "out of memory listing '%s'", ckpt_dir);
            }
            c = nw;
        }
        snprintf(c[nc].path, sizeof c[nc].path, "%s/%s", ckpt_dir, e->d_name);
        c[nc].is_last = last;
        /* order by the step the file says it holds; unreadable files sort first
         * so that their damage is reported before a valid one is chosen */
        c[nc].step = INT64_MAX;
        hid_t f;
        if (bf_h5_open(c[nc].path, 0, &f) == BF_OK) {
            int64_t s = 0;
            if (bf_h5_attr_get_i64(f, "/state", "step", &s) == BF_OK)
                c[nc].step = s;
            bf_h5_close(f);
        }
        nc++;
    }
    closedir(d);
    if (nc > 1)
        qsort(c, (size_t)nc, sizeof *c, cmp_cand);
    bf_status st = BF_FAIL(BF_ENOTFOUND, "no valid checkpoint (last.h5 or step-*.h5) in '%s'", ckpt_dir);
    for (int i = 0; i < nc; i++) {
        bf_ckpt_info tmp;
        bf_status s = read_verify(c[i].path, NULL, NULL, NULL, &tmp);
        if (s != BF_OK) {
            BF_WARN("skipping checkpoint: %s", bf_last_error());
            continue;
        }
        snprintf(path_out, n, "%s", c[i].path);
        if (info)
            *info = tmp;
        else
            bf_ckpt_info_free(&tmp);
        bf_clear_error();
        st = BF_OK;
        break;
    }
    free(c);
    return st;
}

void bf_ckpt_remove_stale_tmp(const char *ckpt_dir)
{
    DIR *d = opendir(ckpt_dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strstr(e->d_name, ".tmp."))
            continue;
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", ckpt_dir, e->d_name);
        BF_INFO("removing '%s' left by an interrupted checkpoint write", p);
        unlink(p);
    }
    closedir(d);
}

static int cmp_i64_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

bf_status bf_ckpt_prune(const char *ckpt_dir, int keep)
{
    if (keep <= 0)
        return BF_OK;
    DIR *d = opendir(ckpt_dir);
    if (!d)
        return BF_OK;
    int64_t steps[4096];
    int ns = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && ns < 4096) {
        long long s;
        if (is_step_name(e->d_name, &s))
            steps[ns++] = s;
    }
    closedir(d);
    qsort(steps, (size_t)ns, sizeof *steps, cmp_i64_desc);
    for (int i = keep; i < ns; i++) {
        char p[4200];
        bf_ckpt_step_path(ckpt_dir, steps[i], p, sizeof p);
        BF_TRY(bf_unlink_quiet(p));
    }
    return BF_OK;
}
