/* config.c - model configuration: defaults, validation, key=value setting and
 * a flat JSON form (written and parsed here: barforge_nn links no JSON library).
 *
 * Keys are the seed's flag names with '_' for '-'. The JSON is one flat object
 * of strings, numbers and arrays of integers; unknown keys are rejected so a
 * typo in a saved config cannot silently build a different model.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/model.h"

static const char *ARCH_NAMES[] = {"patchtst", "baseline"};
static const char *MIXER_NAMES[] = {"mlp", "ivar", "none"};
static const char *LOSS_NAMES[] = {"huber", "mse"};

const char *bf_arch_name(bf_arch a) { return (unsigned)a < 2 ? ARCH_NAMES[a] : NULL; }
const char *bf_mixer_name(bf_mixer m) { return (unsigned)m < 3 ? MIXER_NAMES[m] : NULL; }
const char *bf_loss_name(bf_loss l) { return (unsigned)l < 2 ? LOSS_NAMES[l] : NULL; }

void bf_model_config_defaults(bf_model_config *c)
{
    memset(c, 0, sizeof *c);
    c->arch = BF_ARCH_PATCHTST;
    c->n_features = 33;
    c->seq_len = 64;
    c->n_symbols = 50;
    c->emb_dim = 12;
    c->cnn_hidden = 128;
    c->cnn_blocks = 3;
    const int k[3] = {5, 5, 3}, d[3] = {1, 2, 4};
    memcpy(c->cnn_kernels, k, sizeof k);
    memcpy(c->cnn_dilations, d, sizeof d);
    c->n_cnn_kernels = 3;
    c->n_cnn_dilations = 3;
    c->cnn_dropout = 0.1f;
    c->patch_size = 8;
    c->patch_stride = 4;
    c->d_model = 128;
    c->n_heads = 4;
    c->num_layers = 3;
    c->dropout = 0.1f;
    c->channel_mixer = BF_MIXER_MLP;
    c->loss = BF_LOSS_HUBER;
    c->huber_delta = 0.01f;
}

#define BAD(...) BF_FAIL(BF_EINVAL, __VA_ARGS__)

bf_status bf_model_config_validate(const bf_model_config *c)
{
    if (!bf_arch_name(c->arch))
        return BAD("--arch %d is not one of patchtst, baseline", (int)c->arch);
    if (!bf_mixer_name(c->channel_mixer))
        return BAD("--channel-mixer %d is not one of mlp, ivar, none", (int)c->channel_mixer);
    if (!bf_loss_name(c->loss))
        return BAD("--loss %d is not one of huber, mse", (int)c->loss);
    if (c->n_features < 1)
        return BAD("n_features %d: the dataset must have at least one feature", c->n_features);
    if (c->seq_len < 1)
        return BAD("--seq-len %d must be at least 1", c->seq_len);
    if (c->emb_dim < 0)
        return BAD("--emb-dim %d must be >= 0", c->emb_dim);
    if (c->emb_dim > 0 && c->n_symbols < 1)
        return BAD("--emb-dim %d needs n_symbols >= 1 (got %d)", c->emb_dim, c->n_symbols);
    if (c->cnn_hidden < 1)
        return BAD("--cnn-hidden %d must be at least 1", c->cnn_hidden);
    if (c->cnn_blocks < 0 || c->cnn_blocks > BF_NN_MAX_BLOCKS)
        return BAD("--cnn-blocks %d must be in 0..%d", c->cnn_blocks, BF_NN_MAX_BLOCKS);
    if (c->n_cnn_kernels != c->cnn_blocks)
        return BAD("--cnn-kernels has %d entries but --cnn-blocks is %d: give one kernel per block",
                   c->n_cnn_kernels, c->cnn_blocks);
    if (c->n_cnn_dilations != c->cnn_blocks)
        return BAD("--cnn-dilations has %d entries but --cnn-blocks is %d: give one dilation per "
                   "block", c->n_cnn_dilations, c->cnn_blocks);
    for (int i = 0; i < c->cnn_blocks; i++) {
        if (c->cnn_kernels[i] < 1 || c->cnn_kernels[i] > 32)
            return BAD("--cnn-kernels entry %d is %d: kernels must be in 1..32", i + 1,
                       c->cnn_kernels[i]);
        if (c->cnn_dilations[i] < 1)
            return BAD("--cnn-dilations entry %d is %d: dilations must be >= 1", i + 1,
                       c->cnn_dilations[i]);
    }
    if (!(c->cnn_dropout >= 0.0f && c->cnn_dropout < 1.0f))
        return BAD("--cnn-dropout %g must be in [0, 1)", c->cnn_dropout);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return BAD("--dropout %g must be in [0, 1)", c->dropout);
    if (c->arch == BF_ARCH_PATCHTST) {
        if (c->patch_size < 1 || c->patch_stride < 1)
            return BAD("--patch-size %d and --patch-stride %d must both be >= 1", c->patch_size,
                       c->patch_stride);
        if (c->patch_size > c->seq_len)
            return BAD("--patch-size %d is larger than --seq-len %d: a window holds no patch",
                       c->patch_size, c->seq_len);
    }
    if (c->d_model < 1 || c->n_heads < 1)
        return BAD("--d-model %d and --n-heads %d must both be >= 1", c->d_model, c->n_heads);
    if (c->d_model % c->n_heads != 0)
        return BAD("--d-model %d is not divisible by --n-heads %d", c->d_model, c->n_heads);
    if (c->num_layers < 0 || c->num_layers > 32)
        return BAD("--num-layers %d must be in 0..32", c->num_layers);
    if (c->loss == BF_LOSS_HUBER && !(c->huber_delta > 0.0f))
        return BAD("--huber-delta %g must be > 0 with --loss huber", c->huber_delta);
    return BF_OK;
}

static void norm_key(const char *key, char *out, size_t n)
{
    while (*key == '-')
        key++;
    size_t i = 0;
    for (; key[i] && i + 1 < n; i++)
        out[i] = key[i] == '-' ? '_' : (char)tolower((unsigned char)key[i]);
    out[i] = 0;
}

static bf_status parse_int(const char *key, const char *v, int *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    while (*end && isspace((unsigned char)*end))
        end++;
    if (errno || end == v || *end || x < -1000000000L || x > 1000000000L)
        return BAD("--%s '%s' is not an integer", key, v);
    *out = (int)x;
    return BF_OK;
}

static bf_status parse_float(const char *key, const char *v, float *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    while (*end && isspace((unsigned char)*end))
        end++;
    if (errno || end == v || *end)
        return BAD("--%s '%s' is not a number", key, v);
    *out = (float)x;
    return BF_OK;
}

static bf_status parse_list(const char *key, const char *v, int *out, int *count)
{
    int n = 0;
    const char *p = v;
    while (*p) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (errno || end == p || x < -1000000L || x > 1000000L)
            return BAD("--%s '%s' is not a comma-separated list of integers", key, v);
        if (n == BF_NN_MAX_BLOCKS)
            return BAD("--%s '%s' has more than %d entries", key, v, BF_NN_MAX_BLOCKS);
        out[n++] = (int)x;
        p = end;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == ',')
            p++;
        else if (*p)
            return BAD("--%s '%s' is not a comma-separated list of integers", key, v);
    }
    *count = n;
    return BF_OK;
}

static bf_status parse_name(const char *key, const char *v, const char **names, int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return BF_OK;
        }
    return BAD("--%s '%s' is not one of %s%s%s%s%s", key, v, names[0], n > 1 ? ", " : "",
               n > 1 ? names[1] : "", n > 2 ? ", " : "", n > 2 ? names[2] : "");
}

bf_status bf_model_config_set(bf_model_config *c, const char *key, const char *value)
{
    char k[64];
    norm_key(key, k, sizeof k);
    int e = 0;
    if (!strcmp(k, "arch")) {
        BF_TRY(parse_name("arch", value, ARCH_NAMES, 2, &e));
        c->arch = (bf_arch)e;
    } else if (!strcmp(k, "channel_mixer")) {
        BF_TRY(parse_name("channel-mixer", value, MIXER_NAMES, 3, &e));
        c->channel_mixer = (bf_mixer)e;
    } else if (!strcmp(k, "loss")) {
        BF_TRY(parse_name("loss", value, LOSS_NAMES, 2, &e));
        c->loss = (bf_loss)e;
    } else if (!strcmp(k, "n_features")) {
        return parse_int("n-features", value, &c->n_features);
    } else if (!strcmp(k, "seq_len")) {
        return parse_int("seq-len", value, &c->seq_len);
    } else if (!strcmp(k, "n_symbols")) {
        return parse_int("n-symbols", value, &c->n_symbols);
    } else if (!strcmp(k, "emb_dim")) {
        return parse_int("emb-dim", value, &c->emb_dim);
    } else if (!strcmp(k, "cnn_hidden")) {
        return parse_int("cnn-hidden", value, &c->cnn_hidden);
    } else if (!strcmp(k, "cnn_blocks")) {
        return parse_int("cnn-blocks", value, &c->cnn_blocks);
    } else if (!strcmp(k, "cnn_kernels")) {
        return parse_list("cnn-kernels", value, c->cnn_kernels, &c->n_cnn_kernels);
    } else if (!strcmp(k, "cnn_dilations")) {
        return parse_list("cnn-dilations", value, c->cnn_dilations, &c->n_cnn_dilations);
    } else if (!strcmp(k, "cnn_dropout")) {
        return parse_float("cnn-dropout", value, &c->cnn_dropout);
    } else if (!strcmp(k, "patch_size")) {
        return parse_int("patch-size", value, &c->patch_size);
    } else if (!strcmp(k, "patch_stride")) {
        return parse_int("patch-stride", value, &c->patch_stride);
    } else if (!strcmp(k, "d_model")) {
        return parse_int("d-model", value, &c->d_model);
    } else if (!strcmp(k, "n_heads")) {
        return parse_int("n-heads", value, &c->n_heads);
    } else if (!strcmp(k, "num_layers")) {
        return parse_int("num-layers", value, &c->num_layers);
    } else if (!strcmp(k, "dropout")) {
        return parse_float("dropout", value, &c->dropout);
    } else if (!strcmp(k, "huber_delta")) {
        return parse_float("huber-delta", value, &c->huber_delta);
    } else {
        return BAD("unknown model setting '%s' (expected a seed model flag such as d_model)", key);
    }
    return BF_OK;
}

static int put_list(char *p, size_t n, const int *v, int cnt)
{
    size_t w = 0;
    w += (size_t)snprintf(p, n, "[");
    for (int i = 0; i < cnt; i++)
        w += (size_t)snprintf(p + (w < n ? w : n), w < n ? n - w : 0, "%s%d", i ? "," : "", v[i]);
    w += (size_t)snprintf(p + (w < n ? w : n), w < n ? n - w : 0, "]");
    return (int)w;
}

bf_status bf_model_config_to_json(const bf_model_config *c, char *buf, size_t n)
{
    char ks[128], ds[128];
    put_list(ks, sizeof ks, c->cnn_kernels, c->n_cnn_kernels);
    put_list(ds, sizeof ds, c->cnn_dilations, c->n_cnn_dilations);
    const char *arch = bf_arch_name(c->arch), *mix = bf_mixer_name(c->channel_mixer),
               *loss = bf_loss_name(c->loss);
    int w = snprintf(buf, n,
                     "{\"arch\":\"%s\",\"n_features\":%d,\"seq_len\":%d,\"n_symbols\":%d,"
                     "\"emb_dim\":%d,\"cnn_hidden\":%d,\"cnn_blocks\":%d,\"cnn_kernels\":%s,"
                     "\"cnn_dilations\":%s,\"cnn_dropout\":%.9g,\"patch_size\":%d,"
                     "\"patch_stride\":%d,\"d_model\":%d,\"n_heads\":%d,\"num_layers\":%d,"
                     "\"dropout\":%.9g,\"channel_mixer\":\"%s\",\"loss\":\"%s\","
                     "\"huber_delta\":%.9g}",
                     arch ? arch : "?", c->n_features, c->seq_len, c->n_symbols, c->emb_dim,
                     c->cnn_hidden, c->cnn_blocks, ks, ds, (double)c->cnn_dropout, c->patch_size,
                     c->patch_stride, c->d_model, c->n_heads, c->num_layers, (double)c->dropout,
                     mix ? mix : "?", loss ? loss : "?", (double)c->huber_delta);
    if (w < 0 || (size_t)w >= n)
        return BAD("model config JSON needs %d bytes but the buffer holds %zu", w + 1, n);
    return BF_OK;
}

/* ---- the flat-object parser ---------------------------------------------- */

static const char *skip_ws(const char *p)
{
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

/* Copies a JSON string (escapes other than \" \\ are not needed by our keys
 * and values and are rejected) into out. Returns the position after it. */
static const char *read_string(const char *p, char *out, size_t n)
{
    if (*p != '"')
        return NULL;
    p++;
    size_t i = 0;
    while (*p && *p != '"') {
        char ch = *p++;
        if (ch == '\\') {
            if (*p != '"' && *p != '\\')
                return NULL;
            ch = *p++;
        }
        if (i + 1 >= n)
            return NULL;
        out[i++] = ch;
    }
    if (*p != '"')
        return NULL;
    out[i] = 0;
    return p + 1;
}

bf_status bf_model_config_from_json(const char *json, bf_model_config *c)
{
    const char *p = skip_ws(json);
    if (*p != '{')
        return BAD("model config JSON must start with '{' (got '%.20s')", p);
    p = skip_ws(p + 1);
    if (*p == '}')
        return BF_OK;
    for (;;) {
        char key[64], val[256];
        const char *q = read_string(p, key, sizeof key);
        if (!q)
            return BAD("model config JSON: expected a key string at '%.20s'", p);
        p = skip_ws(q);
        if (*p != ':')
            return BAD("model config JSON: expected ':' after key '%s'", key);
        p = skip_ws(p + 1);
        if (*p == '"') {
            q = read_string(p, val, sizeof val);
            if (!q)
                return BAD("model config JSON: bad string value for '%s'", key);
            p = q;
        } else if (*p == '[') {
            const char *e = strchr(p, ']');
            if (!e || (size_t)(e - p) >= sizeof val)
                return BAD("model config JSON: unterminated or too long array for '%s'", key);
            memcpy(val, p + 1, (size_t)(e - p - 1));
            val[e - p - 1] = 0;
            p = e + 1;
        } else {
            size_t i = 0;
            while (*p && (isalnum((unsigned char)*p) || *p == '-' || *p == '+' || *p == '.')) {
                if (i + 1 >= sizeof val)
                    return BAD("model config JSON: value of '%s' is too long", key);
                val[i++] = *p++;
            }
            val[i] = 0;
            if (i == 0)
                return BAD("model config JSON: missing value for '%s'", key);
        }
        bf_status st = bf_model_config_set(c, key, val);
        if (st != BF_OK)
            return bf_fail_context(st, "model config JSON");
        p = skip_ws(p);
        if (*p == ',') {
            p = skip_ws(p + 1);
            continue;
        }
        if (*p == '}')
            break;
        return BAD("model config JSON: expected ',' or '}' after '%s'", key);
    }
    p = skip_ws(p + 1);
    if (*p)
        return BAD("model config JSON: trailing text '%.20s'", p);
    return BF_OK;
}
