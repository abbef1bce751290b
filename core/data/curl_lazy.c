/* curl_lazy.c - libcurl, loaded when first called.
 *
 * Only fetch (and `version`) talk HTTP, yet linking libcurl made every
 * barforge process load it and the ~25 libraries it pulls in (TLS, Kerberos,
 * LDAP, ...): about 3 ms of dynamic linking and library constructors at each
 * start, more than a tenth of a 50-symbol build. The functions barforge
 * calls are defined here instead; the first call opens libcurl with dlopen
 * and each forwards to the real function. Where libcurl cannot be loaded,
 * curl_easy_init returns NULL and curl_global_init an error, with the reason
 * in bf_curl_load_error(); callers already handle both. BARFORGE_LIBCURL
 * names the one library to load instead (tests use it).
 *
 * curl_easy_setopt and curl_easy_getinfo are variadic with exactly one
 * argument after the option, a long, a pointer or a curl_off_t: all of them
 * travel as one 64-bit integer-class argument on the ABIs barforge builds
 * for (x86-64 and AArch64 System V), so it is forwarded as such.
 */
#define _GNU_SOURCE
#define CURL_DISABLE_TYPECHECK 1
#include "core/data/curl_lazy.h"

#include "core/base/dl.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(long) == 8 && sizeof(void *) == 8 && sizeof(curl_off_t) == 8,
               "curl_lazy.c forwards the variadic option as one 64-bit argument");

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    void (*easy_cleanup)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_reset)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    time_t (*getdate)(const char *, const time_t *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    curl_version_info_data *(*version_info)(CURLversion);
} g_fn;
static int g_loaded;
static char g_err[512];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void load(void)
{
    static const char *const names[] = {"libcurl.so.4", "libcurl.so", "libcurl-gnutls.so.4"};
    void *h = bf_dl_open_first("BARFORGE_LIBCURL", names, sizeof names / sizeof names[0],
                               "libcurl", "libcurl4", g_err, sizeof g_err);
    if (!h)
        return;
    struct {
        const char *name;
        void **slot;
    } syms[] = {
        {"curl_global_init", (void **)&g_fn.global_init},
        {"curl_easy_init", (void **)&g_fn.easy_init},
        {"curl_easy_setopt", (void **)&g_fn.easy_setopt},
        {"curl_easy_perform", (void **)&g_fn.easy_perform},
        {"curl_easy_cleanup", (void **)&g_fn.easy_cleanup},
        {"curl_easy_getinfo", (void **)&g_fn.easy_getinfo},
        {"curl_easy_reset", (void **)&g_fn.easy_reset},
        {"curl_easy_strerror", (void **)&g_fn.easy_strerror},
        {"curl_getdate", (void **)&g_fn.getdate},
        {"curl_slist_append", (void **)&g_fn.slist_append},
        {"curl_slist_free_all", (void **)&g_fn.slist_free_all},
        {"curl_version_info", (void **)&g_fn.version_info},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        /* from this handle: the definitions in this file would shadow a
         * global lookup */
        *syms[i].slot = dlsym(h, syms[i].name);
        if (!*syms[i].slot) {
            snprintf(g_err, sizeof g_err, "libcurl was loaded but lacks %s", syms[i].name);
            return;
        }
    }
    g_loaded = 1;
}

int bf_curl_load(void)
{
    pthread_once(&g_once, load);
    return g_loaded;
}

const char *bf_curl_load_error(void)
{
    bf_curl_load();
    return g_loaded ? NULL : g_err;
}

CURLcode curl_global_init(long flags)
{
    return bf_curl_load() ? g_fn.global_init(flags) : CURLE_FAILED_INIT;
}

CURL *curl_easy_init(void) { return bf_curl_load() ? g_fn.easy_init() : NULL; }

/* the one argument after the option, as a 64-bit integer-class value */
#define FORWARD_ONE(fn, handle, what)                                                          \
    do {                                                                                       \
        va_list ap;                                                                            \
        va_start(ap, what);                                                                    \
        void *arg = va_arg(ap, void *);                                                        \
        va_end(ap);                                                                            \
        return bf_curl_load() ? fn(handle, what, arg) : CURLE_FAILED_INIT;                     \
    } while (0)

CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
    FORWARD_ONE(g_fn.easy_setopt, curl, option);
}

CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
    FORWARD_ONE(g_fn.easy_getinfo, curl, info);
}

CURLcode curl_easy_perform(CURL *curl)
{
    return bf_curl_load() ? g_fn.easy_perform(curl) : CURLE_FAILED_INIT;
}

void curl_easy_cleanup(CURL *curl)
{
    if (bf_curl_load())
        g_fn.easy_cleanup(curl);
}

void curl_easy_reset(CURL *curl)
{
    if (bf_curl_load())
        g_fn.easy_reset(curl);
}

const char *curl_easy_strerror(CURLcode code)
{
    return bf_curl_load() ? g_fn.easy_strerror(code) : g_err;
}

time_t curl_getdate(const char *p, const time_t *unused)
{
    return bf_curl_load() ? g_fn.getdate(p, unused) : (time_t)-1;
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
    return bf_curl_load() ? g_fn.slist_append(list, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *list)
{
    if (bf_curl_load())
        g_fn.slist_free_all(list);
}

curl_version_info_data *curl_version_info(CURLversion v)
{
    return bf_curl_load() ? g_fn.version_info(v) : NULL;
}
