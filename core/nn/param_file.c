/* param_file.c - the flat parameter file: a small header, the config JSON and
 * raw float32 parameters (format in model.h and docs/model.md).
 *
 * Written to <path>.tmp, fsynced, then renamed, so a crash never leaves a
 * half-written file under the real name. Little-endian hosts only (checked).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/nn/model.h"

#define PF_MAGIC "BFPARAM1"
#define PF_VERSION 1u
#define PF_MAX_JSON 65536u

static int little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

bf_status bf_model_save_params(const bf_model *m, const char *path)
{
    if (!little_endian())
        return BF_FAIL(BF_ERR, "parameter files are little-endian; this host is not");
    char json[1024];
    BF_TRY(bf_model_config_to_json(&m->cfg, json, sizeof json));
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return BF_FAIL(BF_EINVAL, "parameter file path '%s' is too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return BF_FAIL(BF_EIO, "cannot create '%s': %s", tmp, strerror(errno));
    uint32_t version = PF_VERSION, jlen = (uint32_t)strlen(json);
    int64_t n = m->n_params;
    int ok = fwrite(PF_MAGIC, 1, 8, f) == 8 && fwrite(&version, 4, 1, f) == 1 &&
             fwrite(&jlen, 4, 1, f) == 1 && fwrite(&n, 8, 1, f) == 1 &&
             fwrite(json, 1, jlen, f) == jlen &&
             fwrite(m->params, sizeof(float), (size_t)n, f) == (size_t)n;
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    if (!ok || rename(tmp, path) != 0) {
        if (ok)
            err = errno;
        remove(tmp);
        return BF_FAIL(BF_EIO, "cannot write parameter file '%s': %s", path, strerror(err));
    }
    return BF_OK;
}

/* Reads the header and the JSON; leaves f positioned at the parameters. */
static bf_status read_header(FILE *f, const char *path, bf_model_config *cfg, int64_t *n_params)
{
    char magic[8];
    uint32_t version, jlen;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, PF_MAGIC, 8) != 0)
        return BF_FAIL(BF_ECORRUPT, "'%s' is not a barforge parameter file (bad magic)", path);
    if (fread(&version, 4, 1, f) != 1 || fread(&jlen, 4, 1, f) != 1 ||
        fread(n_params, 8, 1, f) != 1)
        return BF_FAIL(BF_ECORRUPT, "'%s' is truncated in its header", path);
    if (version != PF_VERSION)
        return BF_FAIL(BF_ECORRUPT, "'%s' has format version %u; this build reads %u", path,
                       version, PF_VERSION);
    if (jlen == 0 || jlen > PF_MAX_JSON || *n_params < 1)
        return BF_FAIL(BF_ECORRUPT, "'%s' has a bad header (json %u bytes, %lld params)", path,
                       jlen, (long long)*n_params);
    char *json = malloc((size_t)jlen + 1);
    BF_CHECK_ALLOC(json, jlen + 1);
    if (fread(json, 1, jlen, f) != jlen) {
        free(json);
        return BF_FAIL(BF_ECORRUPT, "'%s' is truncated in its config", path);
    }
    json[jlen] = 0;
    bf_model_config_defaults(cfg);
    bf_status st = bf_model_config_from_json(json, cfg);
    free(json);
    if (st != BF_OK)
        return bf_fail_context(BF_ECORRUPT, "'%s'", path);
    return BF_OK;
}

bf_status bf_param_file_read_config(const char *path, bf_model_config *cfg)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return BF_FAIL(BF_ENOTFOUND, "cannot open parameter file '%s': %s", path, strerror(errno));
    int64_t n;
    bf_status st = read_header(f, path, cfg, &n);
    fclose(f);
    return st;
}

bf_status bf_model_load_params(bf_model *m, const char *path)
{
    if (!little_endian())
        return BF_FAIL(BF_ERR, "parameter files are little-endian; this host is not");
    FILE *f = fopen(path, "rb");
    if (!f)
        return BF_FAIL(BF_ENOTFOUND, "cannot open parameter file '%s': %s", path, strerror(errno));
    bf_model_config cfg;
    int64_t n;
    bf_status st = read_header(f, path, &cfg, &n);
    if (st != BF_OK) {
        fclose(f);
        return st;
    }
    /* only the fields that shape the parameters must agree */
    cfg.dropout = m->cfg.dropout;
    cfg.cnn_dropout = m->cfg.cnn_dropout;
    cfg.loss = m->cfg.loss;
    cfg.huber_delta = m->cfg.huber_delta;
    char a[1024], b[1024];
    if (bf_model_config_to_json(&cfg, a, sizeof a) != BF_OK ||
        bf_model_config_to_json(&m->cfg, b, sizeof b) != BF_OK || strcmp(a, b) != 0) {
        fclose(f);
        return BF_FAIL(BF_EINVAL, "'%s' holds a model with config %s, not the model built (%s)",
                       path, a, b);
    }
    if (n != m->n_params) {
        fclose(f);
        return BF_FAIL(BF_ECORRUPT, "'%s' holds %lld parameters; its config needs %lld", path,
                       (long long)n, (long long)m->n_params);
    }
    size_t got = fread(m->params, sizeof(float), (size_t)n, f);
    fclose(f);
    if (got != (size_t)n)
        return BF_FAIL(BF_ECORRUPT, "'%s' is truncated: %zu of %lld parameters", path, got,
                       (long long)n);
    return BF_OK;
}
