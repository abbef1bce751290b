/* json.c - see json.h. */
#include "core/base/json.h"

#include "core/base/fsutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

bf_status bf_json_parse(const char *text, const char *what, cJSON **out)
{
    const char *end = NULL;
    *out = cJSON_ParseWithOpts(text, &end, 1);
    if (!*out) {
        const char *err = end ? end : cJSON_GetErrorPtr();
        long off = err && err >= text ? (long)(err - text) : -1;
        return BF_FAIL(BF_ECORRUPT, "%s: malformed JSON near byte %ld", what, off);
    }
    return BF_OK;
}

bf_status bf_json_load(const char *path, cJSON **out)
{
    char *text = NULL;
    *out = NULL;
    BF_TRY(bf_read_file(path, &text, NULL));
    bf_status st = bf_json_parse(text, path, out);
    free(text);
    return st;
}

bf_status bf_json_save(const char *path, const cJSON *root)
{
    char *text = cJSON_Print(root);
    if (!text)
        return BF_FAIL(BF_ENOMEM, "cannot serialize JSON for '%s'", path);
    size_t n = strlen(text);
    char *buf = realloc(text, n + 2);
    if (!buf) {
        free(text);
        return BF_FAIL(BF_ENOMEM, "cannot serialize JSON for '%s'", path);
    }
    buf[n] = '\n';
    buf[n + 1] = 0;
    bf_status st = bf_write_file_atomic(path, buf, n + 1);
    free(buf);
    return st;
}

static bf_status member(const cJSON *obj, const char *key, const char *what, const cJSON **out)
{
    if (!cJSON_IsObject(obj))
        return BF_FAIL(BF_ECORRUPT, "%s: expected a JSON object", what);
    *out = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!*out)
        return BF_FAIL(BF_ECORRUPT, "%s: missing key '%s'", what, key);
    return BF_OK;
}

bf_status bf_json_get_str(const cJSON *obj, const char *key, const char *what, const char **out)
{
    const cJSON *m;
    BF_TRY(member(obj, key, what, &m));
    if (!cJSON_IsString(m))
        return BF_FAIL(BF_ECORRUPT, "%s: '%s' must be a string", what, key);
    *out = m->valuestring;
    return BF_OK;
}

bf_status bf_json_get_num(const cJSON *obj, const char *key, const char *what, double *out)
{
    const cJSON *m;
    BF_TRY(member(obj, key, what, &m));
    if (!cJSON_IsNumber(m) || !isfinite(m->valuedouble))
        return BF_FAIL(BF_ECORRUPT, "%s: '%s' must be a finite number", what, key);
    *out = m->valuedouble;
    return BF_OK;
}

bf_status bf_json_get_int(const cJSON *obj, const char *key, const char *what, int64_t *out)
{
    double d;
    BF_TRY(bf_json_get_num(obj, key, what, &d));
    if (d != floor(d) || fabs(d) > 9007199254740992.0)
        return BF_FAIL(BF_ECORRUPT, "%s: '%s' must be an integer, got %g", what, key, d);
    *out = (int64_t)d;
    return BF_OK;
}

bf_status bf_json_opt_int(const cJSON *obj, const char *key, const char *what, int64_t def,
                          int64_t *out)
{
    if (!cJSON_GetObjectItemCaseSensitive(obj, key)) {
        *out = def;
        return BF_OK;
    }
    return bf_json_get_int(obj, key, what, out);
}

bf_status bf_json_opt_num(const cJSON *obj, const char *key, const char *what, double def,
                          double *out)
{
    if (!cJSON_GetObjectItemCaseSensitive(obj, key)) {
        *out = def;
        return BF_OK;
    }
    return bf_json_get_num(obj, key, what, out);
}
