/* fault.c - see fault.h. */
#include "core/train/fault.h"

#include <stdlib.h>
#include <string.h>

int bf_fault_get(const char *name, int64_t def, int64_t *arg)
{
    const char *env = getenv("BARFORGE_FAULT");
    if (!env || !*env)
        return 0;
    size_t nl = strlen(name);
    for (const char *p = env; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len >= nl && strncmp(p, name, nl) == 0 && (len == nl || p[nl] == ':')) {
            if (arg)
                *arg = len > nl ? strtoll(p + nl + 1, NULL, 10) : def;
            return 1;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}
