/* json.h - load/save JSON files with cJSON, and typed getters that fail
 * with a message naming the file and the key.
 */
#ifndef BF_JSON_H
#define BF_JSON_H

#include "core/base/status.h"

#include <cjson/cJSON.h>
#include <stdint.h>

/* Parse a file; *out must be cJSON_Delete'd. BF_ENOTFOUND / BF_ECORRUPT. */
bf_status bf_json_load(const char *path, cJSON **out);
/* Parse text; `what` names the source in error messages. */
bf_status bf_json_parse(const char *text, const char *what, cJSON **out);
/* Pretty-print and write atomically (temp + fsync + rename). */
bf_status bf_json_save(const char *path, const cJSON *root);

/* Required typed members; `what` names the document in messages. */
bf_status bf_json_get_str(const cJSON *obj, const char *key, const char *what, const char **out);
bf_status bf_json_get_int(const cJSON *obj, const char *key, const char *what, int64_t *out);
bf_status bf_json_get_num(const cJSON *obj, const char *key, const char *what, double *out);
/* Optional members: return def when absent; BF_EINVAL when present with a wrong type. */
bf_status bf_json_opt_int(const cJSON *obj, const char *key, const char *what, int64_t def, int64_t *out);
bf_status bf_json_opt_num(const cJSON *obj, const char *key, const char *what, double def, double *out);

#endif
