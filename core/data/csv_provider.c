/* csv_provider.c - import the user's own bars from CSV files (provider "csv").
 *
 * Layout (also in docs/formats.md, "## Bar cache"): one file per symbol, <csv_dir>/<SYMBOL>.csv.
 *   - The first non-comment line is a header naming the columns, in any
 *     order, case-insensitive: timestamp (or ts, time, date, datetime), open,
 *     high, low, close, volume are required; vwap and trades are optional.
 *     Unknown columns are ignored.
 *   - timestamp is the bar START: RFC 3339 ("2024-01-02T14:30:00Z",
 *     "2024-01-02T09:30:00-05:00"), integer Unix seconds, or YYYY-MM-DD
 *     (daily bars). Daily bars (interval 1d) are moved to the session open of
 *     their New York date, as bars.h requires.
 *   - Lines starting with '#' and blank lines are skipped; an empty vwap or
 *     trades field reads as missing (NaN / -1).
 * Rows outside [start, end) or outside the session (regular unless extended
 * hours are asked for) are dropped; the rest are sorted and de-duplicated
 * (the later row wins). A malformed row fails that symbol with the file and
 * line number; it never stops other symbols.
 */
#include "core/base/fsutil.h"
#include "core/data/calendar.h"
#include "core/data/provider.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct csv_impl {
    char dir[4096];
} csv_impl;

enum { C_TS, C_O, C_H, C_L, C_C, C_V, C_VWAP, C_TRADES, C_N };

static bf_status csv_open(bf_provider *p)
{
    const char *dir = p->cfg.csv_dir;
    if (!dir || !*dir)
        dir = getenv("BARFORGE_CSV_DIR");
    if (!dir || !*dir)
        return BF_FAIL(BF_EINVAL, "the csv provider needs a directory of <SYMBOL>.csv files: set "
                                  "--csv-dir (or BARFORGE_CSV_DIR)");
    if (!bf_is_dir(dir))
        return BF_FAIL(BF_EINVAL, "csv directory '%s' does not exist or is not a directory", dir);
    csv_impl *c = calloc(1, sizeof *c);
    BF_CHECK_ALLOC(c, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    p->impl = c;
    return BF_OK;
}

static void csv_close(bf_provider *p)
{
    free(p->impl);
    p->impl = NULL;
}

/* vsnprintf: messages are cut at errn, which is what we want */
static void seterr(char *err, size_t errn, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errn, fmt, ap);
    va_end(ap);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    if (e - s >= 2 && s[0] == '"' && e[-1] == '"') { /* tolerate quoted fields */
        e[-1] = 0;
        s++;
    }
    return s;
}

static int col_of(const char *name)
{
    static const struct {
        const char *n;
        int c;
    } names[] = {{"timestamp", C_TS}, {"ts", C_TS},     {"time", C_TS},       {"date", C_TS},
                 {"datetime", C_TS},  {"open", C_O},    {"high", C_H},        {"low", C_L},
                 {"close", C_C},      {"volume", C_V},  {"vwap", C_VWAP},     {"trades", C_TRADES},
                 {"trade_count", C_TRADES}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(name, names[i].n) == 0)
            return names[i].c;
    return -1;
}

static int parse_num(const char *s, double *v)
{
    if (!*s)
        return 0;
    char *e;
    errno = 0;
    *v = strtod(s, &e);
    return *e == 0 && errno == 0;
}

/* 1: RFC 3339 or Unix seconds; 2: a plain date (00:00 UTC of it); 0: bad */
static int parse_ts(const char *s, int64_t *t)
{
    size_t n = strlen(s);
    if (n == 0)
        return 0;
    int all_digits = 1;
    for (size_t i = 0; i < n; i++)
        all_digits &= isdigit((unsigned char)s[i]) || (i == 0 && s[i] == '-' && n > 1);
    if (all_digits) {
        char *e;
        errno = 0;
        long long v = strtoll(s, &e, 10);
        if (*e || errno)
            return 0;
        *t = v;
        return 1;
    }
    if (n == 10 && s[4] == '-')
        return bf_date_parse(s, t) == BF_OK ? 2 : 0;
    return bf_time_parse(s, t) == BF_OK;
}

static bf_status load(const char *path, const char *sym, int interval_s, int64_t start, int64_t end,
                      int extended, bf_bars *out, char *err, size_t errn)
{
    char *text = NULL;
    size_t len = 0;
    bf_status rs = bf_read_file(path, &text, &len);
    if (rs != BF_OK) {
        seterr(err, errn, "%s: no csv file '%s'", sym, path);
        return rs == BF_ENOTFOUND ? BF_ENOTFOUND : BF_EIO;
    }
    int col[C_N];
    for (int i = 0; i < C_N; i++)
        col[i] = -1;
    int have_header = 0, ncols = 0;
    bf_status st = BF_OK;
    long lineno = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *l = trim(line);
        if (!*l || *l == '#')
            continue;
        char *field[64];
        int nf = 0;
        for (char *f = l;; ) {
            char *comma = strchr(f, ',');
            if (comma)
                *comma = 0;
            if (nf < 64)
                field[nf++] = trim(f);
            if (!comma)
                break;
            f = comma + 1;
        }
        if (!have_header) {
            for (int i = 0; i < nf; i++) {
                int c = col_of(field[i]);
                if (c >= 0 && col[c] < 0)
                    col[c] = i;
            }
            static const char *const req[] = {"timestamp", "open", "high", "low", "close", "volume"};
            for (int c = C_TS; c <= C_V; c++)
                if (col[c] < 0) {
                    seterr(err, errn, "%s:%ld: header lacks the '%s' column (need timestamp,open,"
                             "high,low,close,volume[,vwap][,trades])", path, lineno, req[c]);
                    st = BF_ECORRUPT;
                    goto done;
                }
            have_header = 1;
            ncols = nf;
            continue;
        }
        if (nf < ncols) {
            seterr(err, errn, "%s:%ld: %d fields, the header has %d", path, lineno, nf, ncols);
            st = BF_ECORRUPT;
            goto done;
        }
        int64_t ts;
        int kind = parse_ts(field[col[C_TS]], &ts);
        if (!kind) {
            seterr(err, errn, "%s:%ld: bad timestamp '%s' (RFC 3339, Unix seconds or YYYY-MM-DD)",
                     path, lineno, field[col[C_TS]]);
            st = BF_ECORRUPT;
            goto done;
        }
        double v[5];
        for (int c = C_O; c <= C_V; c++)
            if (!parse_num(field[col[c]], &v[c - C_O])) {
                seterr(err, errn, "%s:%ld: bad number '%s' in column %d", path, lineno,
                         field[col[c]], col[c] + 1);
                st = BF_ECORRUPT;
                goto done;
            }
        double vwap = NAN, tr = -1;
        if (col[C_VWAP] >= 0 && *field[col[C_VWAP]] && !parse_num(field[col[C_VWAP]], &vwap)) {
            seterr(err, errn, "%s:%ld: bad vwap '%s'", path, lineno, field[col[C_VWAP]]);
            st = BF_ECORRUPT;
            goto done;
        }
        if (col[C_TRADES] >= 0 && *field[col[C_TRADES]] && !parse_num(field[col[C_TRADES]], &tr)) {
            seterr(err, errn, "%s:%ld: bad trades '%s'", path, lineno, field[col[C_TRADES]]);
            st = BF_ECORRUPT;
            goto done;
        }
        bf_session s;
        if (interval_s >= 86400) {
            /* a daily bar belongs to the NY date of its timestamp */
            int64_t day = kind == 2 ? ts / 86400 : bf_cal_ny_day(ts);
            if (!bf_cal_session(day, &s))
                continue;
            ts = s.open;
        } else {
            if (!bf_cal_session(bf_cal_ny_day(ts), &s))
                continue;
            int64_t lo, hi;
            bf_cal_window(&s, extended, &lo, &hi);
            if (ts < lo || ts >= hi)
                continue;
        }
        if (ts < start || ts >= end)
            continue;
        if (!(tr >= 0 && tr < 9e18))
            tr = -1;
        st = bf_bars_push(out, ts, v[0], v[1], v[2], v[3], v[4], vwap, (int64_t)tr);
        if (st != BF_OK) {
            seterr(err, errn, "%s", bf_last_error());
            goto done;
        }
    }
    if (!have_header) {
        seterr(err, errn, "%s: empty file (no header line)", path);
        st = BF_ECORRUPT;
    }
done:
    free(text);
    if (st == BF_OK && bf_bars_sort_dedup(out) < 0) {
        seterr(err, errn, "%s: out of memory sorting bars", path);
        st = BF_ENOMEM;
    }
    return st;
}

static bf_status csv_fetch(bf_provider *p, const char *const *symbols, int nsym, int interval_s,
                           int64_t start, int64_t end, bf_bars *out, bf_status *st,
                           char (*errmsg)[BF_ERRMSG_MAX])
{
    const csv_impl *c = p->impl;
    for (int i = 0; i < nsym; i++) {
        bf_bars_clear(&out[i]);
        errmsg[i][0] = 0;
        st[i] = bf_symbol_validate(symbols[i]);
        if (st[i] != BF_OK) {
            snprintf(errmsg[i], BF_ERRMSG_MAX, "%s", bf_last_error());
            continue;
        }
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.csv", c->dir, symbols[i]);
        st[i] = load(path, symbols[i], interval_s, start, end, p->cfg.extended_hours, &out[i],
                     errmsg[i], BF_ERRMSG_MAX);
        if (st[i] != BF_OK)
            bf_bars_clear(&out[i]);
    }
    return BF_OK;
}

const bf_provider_ops bf_csv_ops = {
    .name = "csv", .max_batch = 1, .open = csv_open, .fetch = csv_fetch, .close = csv_close};
