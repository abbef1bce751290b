/* universe.c - symbol lists (see universe.h). Invariant: sym[0..n) are valid,
 * distinct symbols in first-seen order; hash indexes them for O(1) dedup. */
#define _GNU_SOURCE
#include "core/data/universe.h"

#include "core/base/fsutil.h"
#include "core/data/bars.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void bf_universe_init(bf_universe *u) { memset(u, 0, sizeof *u); }

void bf_universe_free(bf_universe *u)
{
    for (int i = 0; i < u->n; i++)
        free(u->sym[i]);
    free(u->sym);
    free(u->hash);
    memset(u, 0, sizeof *u);
}

static unsigned hash_str(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int find(const bf_universe *u, const char *s)
{
    if (!u->hcap)
        return -1;
    for (unsigned i = hash_str(s) & (unsigned)(u->hcap - 1);; i = (i + 1) & (unsigned)(u->hcap - 1)) {
        if (u->hash[i] < 0)
            return -1;
        if (strcmp(u->sym[u->hash[i]], s) == 0)
            return u->hash[i];
    }
}

static void index_put(bf_universe *u, int k)
{
    unsigned i = hash_str(u->sym[k]) & (unsigned)(u->hcap - 1);
    while (u->hash[i] >= 0)
        i = (i + 1) & (unsigned)(u->hcap - 1);
    u->hash[i] = k;
}

static bf_status grow(bf_universe *u)
{
    int cap = u->cap ? u->cap * 2 : 64;
    char **s = realloc(u->sym, (size_t)cap * sizeof *s);
    BF_CHECK_ALLOC(s, (size_t)cap * sizeof *s);
    u->sym = s;
    u->cap = cap;
    int hcap = 2 * cap; /* power of two, load <= 1/2 */
    int *h = malloc((size_t)hcap * sizeof *h);
    BF_CHECK_ALLOC(h, (size_t)hcap * sizeof *h);
    free(u->hash);
    u->hash = h;
    u->hcap = hcap;
    for (int i = 0; i < hcap; i++)
        h[i] = -1;
    for (int k = 0; k < u->n; k++)
        index_put(u, k);
    return BF_OK;
}

bf_status bf_universe_add(bf_universe *u, const char *sym)
{
    BF_TRY(bf_symbol_validate(sym));
    if (find(u, sym) >= 0)
        return BF_OK;
    if (u->n == u->cap)
        BF_TRY(grow(u));
    u->sym[u->n] = strdup(sym);
    BF_CHECK_ALLOC(u->sym[u->n], strlen(sym) + 1);
    index_put(u, u->n);
    u->n++;
    return BF_OK;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    return s;
}

/* comma-separated items of one line; empty items are errors when strict */
static bf_status add_items(bf_universe *u, char *line, int strict, const char *what)
{
    for (char *f = line;;) {
        char *comma = strchr(f, ',');
        if (comma)
            *comma = 0;
        char *s = trim(f);
        if (*s)
            BF_TRY(bf_universe_add(u, s));
        else if (strict)
            return BF_FAIL(BF_EINVAL, "empty symbol in %s", what);
        if (!comma)
            return BF_OK;
        f = comma + 1;
    }
}

bf_status bf_universe_add_list(bf_universe *u, const char *list)
{
    char *copy = strdup(list ? list : "");
    BF_CHECK_ALLOC(copy, strlen(list ? list : "") + 1);
    char what[300];
    snprintf(what, sizeof what, "--symbols '%.200s'", list ? list : "");
    bf_status st = add_items(u, copy, 1, what);
    free(copy);
    return st;
}

bf_status bf_universe_add_file(bf_universe *u, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    bf_status st = bf_read_file(path, &text, &len);
    if (st != BF_OK)
        return bf_fail_context(st == BF_ENOTFOUND ? BF_EINVAL : st, "symbols file '%s'", path);
    char *save = NULL;
    int lineno = 0;
    for (char *line = strtok_r(text, "\n", &save); line && st == BF_OK;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        st = add_items(u, line, 0, path);
        if (st != BF_OK)
            st = bf_fail_context(st, "%s line %d", path, lineno);
    }
    free(text);
    return st;
}

static int try_path(char *buf, size_t n, const char *dir, const char *suffix)
{
    if (!dir || !*dir)
        return 0;
    snprintf(buf, n, "%s%s", dir, suffix);
    return access(buf, R_OK) == 0;
}

bf_status bf_universe_default50_path(char *buf, size_t n)
{
    if (try_path(buf, n, getenv("BARFORGE_UNIVERSE_DIR"), "/default50.txt") ||
        try_path(buf, n, ".", "/data/universe/default50.txt") ||
        try_path(buf, n, getenv("BARFORGE_SOURCE_DIR"), "/data/universe/default50.txt"))
        return BF_OK;
    /* an installed or build-tree binary: look up from its directory */
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = 0;
        for (int up = 0; up < 4; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash)
                break;
            *slash = 0;
            if (try_path(buf, n, exe, "/data/universe/default50.txt") ||
                try_path(buf, n, exe, "/share/barforge/universe/default50.txt"))
                return BF_OK;
        }
    }
    return BF_FAIL(BF_ENOTFOUND,
                   "cannot find data/universe/default50.txt (looked in $BARFORGE_UNIVERSE_DIR, "
                   "./data/universe, $BARFORGE_SOURCE_DIR/data/universe and above the binary); "
                   "run from the repository root, set BARFORGE_UNIVERSE_DIR, or pass --symbols");
}

bf_status bf_universe_add_named(bf_universe *u, const char *name)
{
    if (name && strcmp(name, "default50") == 0) {
        char path[PATH_MAX + 64];
        BF_TRY(bf_universe_default50_path(path, sizeof path));
        int before = u->n;
        BF_TRY(bf_universe_add_file(u, path));
        if (u->n - before != 50 && before == 0)
            return BF_FAIL(BF_ECORRUPT, "'%s' holds %d symbols, expected 50", path, u->n - before);
        return BF_OK;
    }
    if (name && strncmp(name, "synthetic:", 10) == 0) {
        char *e;
        long n = strtol(name + 10, &e, 10);
        if (*e || name[10] == 0 || n < 1 || n > 1000000)
            return BF_FAIL(BF_EINVAL, "bad universe '%s': expected synthetic:N with 1 <= N <= 1000000",
                           name);
        int width = 5;
        for (long t = n; t >= 100000; t /= 10)
            width++;
        char sym[32]; /* width <= 7: "S" + 7 digits */
        for (long i = 1; i <= n; i++) {
            snprintf(sym, sizeof sym, "S%0*ld", width & 15, i);
            BF_TRY(bf_universe_add(u, sym));
        }
        return BF_OK;
    }
    return BF_FAIL(BF_EINVAL, "unknown universe '%s': expected default50 or synthetic:N",
                   name ? name : "(null)");
}

bf_status bf_universe_resolve(bf_universe *u, const char *symbols, const char *symbols_file,
                              const char *universe)
{
    int given = (symbols && *symbols) + (symbols_file && *symbols_file) + (universe && *universe);
    if (given > 1)
        return BF_FAIL(BF_EINVAL, "give only one of --symbols, --symbols-file and --universe");
    bf_status st;
    if (symbols && *symbols) {
        st = bf_universe_add_list(u, symbols);
        snprintf(u->source, sizeof u->source, "symbols");
    } else if (symbols_file && *symbols_file) {
        st = bf_universe_add_file(u, symbols_file);
        snprintf(u->source, sizeof u->source, "symbols-file");
    } else {
        const char *name = universe && *universe ? universe : "default50";
        st = bf_universe_add_named(u, name);
        snprintf(u->source, sizeof u->source, "%.63s", name);
    }
    BF_TRY(st);
    if (u->n == 0)
        return BF_FAIL(BF_EINVAL, "the symbol list is empty (%s)", u->source);
    return BF_OK;
}
