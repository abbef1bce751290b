/* cli.c - see cli.h. */
#define _GNU_SOURCE
#include "jobs/cli.h"

#include "core/base/log.h"
#include "core/base/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int bf_cli_log_level = BF_LOG_INFO;
int bf_cli_log_json = 0;

/* ---- .env ---------------------------------------------------------------- */

#define DOTENV_MAX 128
static struct {
    char *key, *val;
} g_env[DOTENV_MAX];
static int g_nenv;

void bf_dotenv_clear(void)
{
    for (int i = 0; i < g_nenv; i++) {
        free(g_env[i].key);
        free(g_env[i].val);
    }
    g_nenv = 0;
}

const char *bf_dotenv_get(const char *key)
{
    for (int i = g_nenv - 1; i >= 0; i--)
        if (strcmp(g_env[i].key, key) == 0)
            return g_env[i].val;
    return NULL;
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

int bf_dotenv_load(const char *path, char *err, size_t errn)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errn, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        if (strncmp(s, "export ", 7) == 0)
            s = trim(s + 7);
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errn, "%s:%d: expected KEY=VALUE", path, lineno);
            fclose(f);
            return -1;
        }
        *eq = 0;
        char *k = trim(s), *v = trim(eq + 1);
        size_t vl = strlen(v);
        if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
            v[vl - 1] = 0;
            v++;
        } else {
            char *hash = strstr(v, " #");
            if (hash)
                *trim(hash) = 0, v = trim(v);
        }
        if (g_nenv == DOTENV_MAX) {
            snprintf(err, errn, "%s: more than %d entries", path, DOTENV_MAX);
            fclose(f);
            return -1;
        }
        g_env[g_nenv].key = strdup(k);
        g_env[g_nenv].val = strdup(v);
        g_nenv++;
    }
    fclose(f);
    return 0;
}

/* ---- values ---------------------------------------------------------------- */

static void env_name(const bf_opt *o, char *buf, size_t n)
{
    if (o->env) {
        snprintf(buf, n, "%s", o->env);
        return;
    }
    size_t k = (size_t)snprintf(buf, n, "BARFORGE_");
    for (const char *p = o->name; *p && k + 1 < n; p++)
        buf[k++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    buf[k] = 0;
}

static const char *expect_text(bf_opt_type t)
{
    switch (t) {
    case BF_OPT_INT: return "an integer";
    case BF_OPT_POSINT: return "a positive integer";
    case BF_OPT_NONNEG: case BF_OPT_I64: return "a non-negative integer";
    case BF_OPT_FLOAT: return "a number";
    case BF_OPT_POSFLOAT: return "a positive number";
    case BF_OPT_NONNEGFLOAT: return "a non-negative number";
    case BF_OPT_FRAC: return "a number between 0 and 1";
    case BF_OPT_FLAG: return "1, 0, true or false";
    case BF_OPT_INTLIST: return "a comma-separated list of positive integers";
    case BF_OPT_DATE: return "a date YYYY-MM-DD or an RFC 3339 time";
    default: return "a value";
    }
}

static int parse_long(const char *s, long long *out)
{
    if (!*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    if (!*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int in_choices(const char *v, const char *choices)
{
    size_t n = strlen(v);
    const char *p = choices;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return 1;
        if (!c)
            break;
        p = c + 1;
    }
    return 0;
}

/* Store text into o->dst. Returns 0, or -1 with err set. */
static int apply(const char *cmd, bf_opt *o, const char *text, const char *origin, char *err,
                 size_t errn)
{
    char where[160];
    if (strcmp(origin, "flag") == 0)
        snprintf(where, sizeof where, "--%s", o->name);
    else {
        char en[96];
        env_name(o, en, sizeof en);
        snprintf(where, sizeof where, "%s (from %s, for --%s)", en,
                 strcmp(origin, "env") == 0 ? "the environment" : ".env", o->name);
    }
#define BAD()                                                                               \
    do {                                                                                    \
        snprintf(err, errn, "barforge %s: %s: expected %s, got '%s'", cmd, where,          \
                 expect_text(o->type), text);                                               \
        return -1;                                                                          \
    } while (0)
    long long iv;
    double dv;
    switch (o->type) {
    case BF_OPT_STR:
    case BF_OPT_SECRET:
        *(char **)o->dst = (char *)text;
        break;
    case BF_OPT_CHOICE:
        if (!in_choices(text, o->choices)) {
            snprintf(err, errn, "barforge %s: %s: expected one of {%s}, got '%s'", cmd, where,
                     o->choices, text);
            return -1;
        }
        *(char **)o->dst = (char *)text;
        break;
    case BF_OPT_INT:
    case BF_OPT_POSINT:
    case BF_OPT_NONNEG:
        if (parse_long(text, &iv) || iv > INT_MAX || iv < INT_MIN ||
            (o->type == BF_OPT_POSINT && iv <= 0) || (o->type == BF_OPT_NONNEG && iv < 0))
            BAD();
        *(int *)o->dst = (int)iv;
        break;
    case BF_OPT_I64:
        if (parse_long(text, &iv) || iv < 0)
            BAD();
        *(int64_t *)o->dst = iv;
        break;
    case BF_OPT_FLOAT:
    case BF_OPT_POSFLOAT:
    case BF_OPT_NONNEGFLOAT:
    case BF_OPT_FRAC:
        if (parse_double(text, &dv) || (o->type == BF_OPT_POSFLOAT && dv <= 0) ||
            (o->type == BF_OPT_NONNEGFLOAT && dv < 0) ||
            (o->type == BF_OPT_FRAC && (dv < 0 || dv > 1)))
            BAD();
        *(double *)o->dst = dv;
        break;
    case BF_OPT_FLAG:
        if (!strcmp(text, "1") || !strcasecmp(text, "true") || !strcasecmp(text, "yes"))
            *(int *)o->dst = 1;
        else if (!strcmp(text, "0") || !strcasecmp(text, "false") || !strcasecmp(text, "no") ||
                 !*text)
            *(int *)o->dst = 0;
        else
            BAD();
        break;
    case BF_OPT_INTLIST: {
        bf_intlist *l = o->dst;
        l->n = 0;
        const char *p = text;
        if (!*p)
            BAD();
        while (*p) {
            char *end;
            errno = 0;
            long v = strtol(p, &end, 10);
            if (end == p || errno || v <= 0 || v > INT_MAX || (*end && *end != ',') ||
                l->n == BF_INTLIST_MAX)
                BAD();
            l->v[l->n++] = (int)v;
            p = *end ? end + 1 : end;
            if (*end == ',' && !*p)
                BAD();
        }
        break;
    }
    case BF_OPT_DATE: {
        int64_t t;
        if (bf_time_parse(text, &t) != BF_OK) {
            bf_clear_error();
            BAD();
        }
        *(int64_t *)o->dst = t;
        break;
    }
    }
#undef BAD
    free(o->raw);
    o->raw = strdup(text);
    if (o->type == BF_OPT_STR || o->type == BF_OPT_SECRET || o->type == BF_OPT_CHOICE)
        *(char **)o->dst = o->raw; /* own the text: argv/env may change later */
    o->source = origin;
    return 0;
}

static bf_opt *find_opt(bf_opt *opts, int nopts, const char *name, size_t len)
{
    for (int i = 0; i < nopts; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

int bf_cli_parse(const char *cmd, const char *summary, bf_opt *opts, int nopts, int argc,
                 char **argv, char *err, size_t errn)
{
    err[0] = 0;
    static int dotenv_loaded;
    if (!dotenv_loaded) {
        dotenv_loaded = 1;
        FILE *f = fopen(".env", "r");
        if (f) {
            fclose(f);
            if (bf_dotenv_load(".env", err, errn) != 0) {
                char tmp[512];
                snprintf(tmp, sizeof tmp, "barforge %s: %s", cmd, err);
                snprintf(err, errn, "%s", tmp);
                return BF_CLI_ERROR;
            }
        }
    }
    /* common options */
    char *log_level = NULL;
    int log_json = 0;
    int help = 0;
    /* defaults first, then .env, then environment, then flags */
    for (int i = 0; i < nopts; i++) {
        bf_opt *o = &opts[i];
        o->source = "unset";
        o->raw = NULL;
        if (o->def) {
            if (apply(cmd, o, o->def, "flag", err, errn) != 0) {
                snprintf(err, errn, "barforge %s: internal: bad default '%s' for --%s", cmd, o->def,
                         o->name);
                return BF_CLI_ERROR;
            }
            o->source = "default";
        }
        char en[96];
        env_name(o, en, sizeof en);
        const char *dv = bf_dotenv_get(en);
        if (dv && apply(cmd, o, dv, ".env", err, errn) != 0)
            return BF_CLI_ERROR;
        const char *ev = getenv(en);
        if (ev && apply(cmd, o, ev, "env", err, errn) != 0)
            return BF_CLI_ERROR;
    }
    const char *env_ll = getenv("BARFORGE_LOG_LEVEL");
    if (env_ll)
        log_level = (char *)env_ll;
    const char *env_lj = getenv("BARFORGE_LOG_JSON");
    if (env_lj && (!strcmp(env_lj, "1") || !strcasecmp(env_lj, "true")))
        log_json = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            help = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == 0) {
            snprintf(err, errn, "barforge %s: unexpected argument '%s' (flags are --name value; "
                     "see barforge %s --help)", cmd, a, cmd);
            return BF_CLI_ERROR;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const char *val = eq ? eq + 1 : NULL;
        if (nlen == 9 && strncmp(name, "log-level", 9) == 0) {
            if (!val) {
                if (i + 1 >= argc) {
                    snprintf(err, errn, "barforge %s: --log-level: missing value (debug, info, warn, error or quiet)", cmd);
                    return BF_CLI_ERROR;
                }
                val = argv[++i];
            }
            log_level = (char *)val;
            continue;
        }
        if (nlen == 8 && strncmp(name, "log-json", 8) == 0 && !val) {
            log_json = 1;
            continue;
        }
        bf_opt *o = find_opt(opts, nopts, name, nlen);
        if (!o) {
            snprintf(err, errn, "barforge %s: unknown flag '--%.*s' (see barforge %s --help)", cmd,
                     (int)nlen, name, cmd);
            return BF_CLI_ERROR;
        }
        if (o->type == BF_OPT_FLAG && !val) {
            val = "1";
        } else if (!val) {
            if (i + 1 >= argc || (strncmp(argv[i + 1], "--", 2) == 0 && o->type != BF_OPT_INT &&
                                  o->type != BF_OPT_FLOAT)) {
                snprintf(err, errn, "barforge %s: --%s: missing value (expected %s)", cmd, o->name,
                         o->type == BF_OPT_CHOICE ? o->choices : expect_text(o->type));
                return BF_CLI_ERROR;
            }
            val = argv[++i];
        }
        if (apply(cmd, o, val, "flag", err, errn) != 0)
            return BF_CLI_ERROR;
    }
    if (log_level) {
        int lv = bf_log_level_parse(log_level);
        if (lv < 0) {
            snprintf(err, errn, "barforge %s: --log-level: expected debug, info, warn, error or quiet, got '%s'",
                     cmd, log_level);
            return BF_CLI_ERROR;
        }
        bf_cli_log_level = lv;
    }
    bf_cli_log_json = log_json;
    if (help) {
        bf_cli_help(stdout, cmd, summary, opts, nopts);
        return BF_CLI_HELP;
    }
    return BF_CLI_OK;
}

static const char *type_hint(const bf_opt *o)
{
    switch (o->type) {
    case BF_OPT_STR: case BF_OPT_SECRET: return "TEXT";
    case BF_OPT_INT: case BF_OPT_POSINT: case BF_OPT_NONNEG: case BF_OPT_I64: return "N";
    case BF_OPT_FLOAT: case BF_OPT_POSFLOAT: case BF_OPT_NONNEGFLOAT: case BF_OPT_FRAC: return "X";
    case BF_OPT_FLAG: return "";
    case BF_OPT_CHOICE: return o->choices;
    case BF_OPT_INTLIST: return "N,N,..";
    case BF_OPT_DATE: return "DATE";
    }
    return "";
}

void bf_cli_help(FILE *f, const char *cmd, const char *summary, const bf_opt *opts, int nopts)
{
    fprintf(f, "usage: barforge %s [flags]\n\n%s\n\nflags (environment: BARFORGE_<FLAG>, also read from ./.env; flags win):\n",
            cmd, summary);
    for (int i = 0; i < nopts; i++) {
        const bf_opt *o = &opts[i];
        char left[96];
        const char *h = type_hint(o);
        if (o->type == BF_OPT_CHOICE)
            snprintf(left, sizeof left, "--%s {%s}", o->name, h);
        else
            snprintf(left, sizeof left, "--%s%s%s", o->name, *h ? " " : "", h);
        fprintf(f, "  %-32s %s", left, o->help);
        if (o->def && o->type != BF_OPT_SECRET && !(o->type == BF_OPT_FLAG && !strcmp(o->def, "0")))
            fprintf(f, " [default: %s]", *o->def ? o->def : "\"\"");
        if (o->env)
            fprintf(f, " [env: %s]", o->env);
        fputc('\n', f);
    }
    fprintf(f, "  %-32s %s\n", "--log-level {debug,info,warn,error,quiet}", "log verbosity [default: info] [env: BARFORGE_LOG_LEVEL]");
    fprintf(f, "  %-32s %s\n", "--log-json", "log as JSON lines [env: BARFORGE_LOG_JSON]");
    fprintf(f, "  %-32s %s\n", "--help", "show this help");
}

static void json_str(FILE *m, const char *s)
{
    fputc('"', m);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(m, "\\%c", c);
        else if (c < 0x20)
            fprintf(m, "\\u%04x", c);
        else
            fputc(c, m);
    }
    fputc('"', m);
}

char *bf_cli_config_json(const bf_opt *opts, int nopts)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    fputc('{', m);
    for (int i = 0; i < nopts; i++) {
        const bf_opt *o = &opts[i];
        if (i)
            fputc(',', m);
        json_str(m, o->name);
        fputc(':', m);
        if (!o->raw) {
            fputs(o->type == BF_OPT_FLAG ? "false" : "null", m);
        } else if (o->type == BF_OPT_SECRET) {
            json_str(m, *o->raw ? "****" : "");
        } else if (o->type == BF_OPT_FLAG) {
            fputs(*(int *)o->dst ? "true" : "false", m);
        } else if (o->type == BF_OPT_INT || o->type == BF_OPT_POSINT || o->type == BF_OPT_NONNEG) {
            fprintf(m, "%d", *(int *)o->dst);
        } else if (o->type == BF_OPT_I64) {
            fprintf(m, "%lld", (long long)*(int64_t *)o->dst);
        } else if (o->type == BF_OPT_FLOAT || o->type == BF_OPT_POSFLOAT ||
                   o->type == BF_OPT_NONNEGFLOAT || o->type == BF_OPT_FRAC) {
            fprintf(m, "%.17g", *(double *)o->dst);
        } else if (o->type == BF_OPT_INTLIST) {
            const bf_intlist *l = o->dst;
            fputc('[', m);
            for (int k = 0; k < l->n; k++)
                fprintf(m, "%s%d", k ? "," : "", l->v[k]);
            fputc(']', m);
        } else {
            json_str(m, o->raw);
        }
    }
    fputc('}', m);
    fclose(m);
    return buf;
}

void bf_cli_dump(FILE *f, const bf_opt *opts, int nopts)
{
    for (int i = 0; i < nopts; i++) {
        const bf_opt *o = &opts[i];
        const char *v = o->raw ? o->raw : "";
        if (o->type == BF_OPT_SECRET && o->raw && *o->raw)
            v = "****";
        fprintf(f, "  %-24s = %s (%s)\n", o->name, v, o->source ? o->source : "unset");
    }
}

void bf_cli_free(bf_opt *opts, int nopts)
{
    for (int i = 0; i < nopts; i++) {
        free(opts[i].raw);
        opts[i].raw = NULL;
        if (opts[i].type == BF_OPT_STR || opts[i].type == BF_OPT_SECRET ||
            opts[i].type == BF_OPT_CHOICE)
            *(char **)opts[i].dst = NULL;
    }
}
