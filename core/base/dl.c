/* dl.c - see dl.h. */
#define _GNU_SOURCE
#include "core/base/dl.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

void *bf_dl_open_first(const char *env_var, const char *const *names, size_t n, const char *what,
                       const char *package, char *err, size_t err_n)
{
    const char *env = getenv(env_var);
    const char *const *list = names;
    if (env && *env) { /* this library only */
        list = &env;
        n = 1;
    }
    void *h = NULL;
    for (size_t i = 0; i < n && !h; i++)
        if (list[i] && list[i][0])
            h = dlopen(list[i], RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(err, err_n, "%s could not be loaded (%s); on Debian: apt-get install %s", what,
                 e ? e : "not found", package);
    }
    return h;
}
