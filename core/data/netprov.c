/* netprov.c - shared plumbing of the network providers (see netprov.h). */
#define _GNU_SOURCE
#include "core/data/netprov.h"

#include "core/base/log.h"
#include "core/data/calendar.h"

#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bf_np_ny_date(int64_t utc, char *buf, int n)
{
    bf_civil c;
    bf_cal_ny_civil(utc, &c);
    snprintf(buf, (size_t)n, "%04d-%02d-%02d", c.year, c.month, c.day);
}

/* --- numbers ---------------------------------------------------------------- */

int bf_np_json_number(const struct cJSON *item, double *out)
{
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
        return 0;
    *out = item->valuedouble;
    return 1;
}

int bf_np_str_number(const char *s, double *out)
{
    if (!s || !*s)
        return 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

/* --- config ----------------------------------------------------------------- */

bf_status bf_np_base_url(const char *cfg_value, const char *env, const char *dflt, char *out,
                         size_t cap)
{
    const char *src = "the provider configuration";
    const char *v = cfg_value && *cfg_value ? cfg_value : NULL;
    if (!v) {
        const char *e = getenv(env);
        if (e && *e) {
            v = e;
            src = env;
        } else {
            v = dflt;
            src = "the built-in default";
        }
    }
    if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
        return BF_FAIL(BF_EINVAL, "base URL '%s' (from %s) must start with http:// or https://", v,
                       src);
    size_t n = strlen(v);
    while (n > 8 && v[n - 1] == '/')
        n--;
    if (n + 1 > cap)
        return BF_FAIL(BF_EINVAL, "base URL from %s is too long (%zu characters)", src, n);
    memcpy(out, v, n);
    out[n] = '\0';
    return BF_OK;
}

bf_status bf_np_http_client(const bf_provider_config *cfg, const char *what, bf_ratelimit *limiter,
                            int follow_redirects, bf_http_client **out)
{
    bf_http_opts o = {0};
    o.what = what;
    o.max_retries = cfg->max_retries == 0 ? 5 : cfg->max_retries < 0 ? 0 : cfg->max_retries;
    o.backoff_base_s = cfg->backoff_base_s > 0 ? cfg->backoff_base_s : 0.5;
    o.limiter = limiter;
    o.follow_redirects = follow_redirects;
    const char *mw = getenv("BARFORGE_HTTP_MAX_WAIT_S");
    double v;
    if (mw && *mw) {
        if (!bf_np_str_number(mw, &v) || v <= 0)
            return BF_FAIL(BF_EINVAL, "BARFORGE_HTTP_MAX_WAIT_S='%s' is not a positive number", mw);
        o.max_wait_s = v;
    }
    return bf_http_client_new(&o, out);
}

void bf_np_symbol_error(const bf_http_client *c, bf_status *st, char *errmsg, bf_status code,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, BF_ERRMSG_MAX, fmt, ap);
    va_end(ap);
    if (c)
        bf_http_redact_with(c, errmsg);
    *st = code;
}

/* --- finishing a series ------------------------------------------------------ */

static void move_row(bf_bars *b, int64_t k, int64_t i, int64_t ts)
{
    bf_bars_move_row(b, k, i);
    b->ts[k] = ts;
}

bf_status bf_np_finish(bf_bars *b, int interval_s, int64_t start, int64_t end, int extended, int ny,
                       int64_t now, int64_t *off_grid)
{
    int daily = interval_s >= 86400;
    int64_t k = 0, off = 0;
    for (int64_t i = 0; i < b->n; i++) {
        int64_t ts = b->ts[i];
        if (ny) {
            bf_session s;
            if (daily) {
                if (bf_cal_session(bf_cal_ny_day(ts), &s)) {
                    ts = s.open;
                } else {
                    bf_civil c;
                    bf_cal_ny_civil(ts, &c);
                    ts = bf_cal_ny_to_utc(c.year, c.month, c.day, 9, 30, 0);
                }
            } else if (ts < start || ts >= end) {
                continue; /* outside the range: neither kept nor counted */
            } else if (!bf_cal_on_grid(ts, interval_s, extended)) {
                /* extended-hours bars in regular mode are expected, not counted */
                off += !bf_cal_on_grid(ts, interval_s, 1);
                continue;
            }
        }
        if (ts < start || ts >= end)
            continue;
        int64_t bar_end = ny ? bf_bar_end(ts, interval_s, extended) : ts + interval_s;
        if (daily && !ny)
            bar_end = ts + 23400;
        if (bar_end > now)
            continue; /* still forming */
        move_row(b, k++, i, ts);
    }
    b->n = k;
    bf_bars_sort_dedup(b);
    if (off_grid)
        *off_grid = off;
    return BF_OK;
}

bf_status bf_np_regrid(bf_bars *b, int to_s, int extended, int64_t start, int64_t end, int64_t now)
{
    int64_t k = -1; /* current output row */
    double pv = 0, vsum = 0;
    for (int64_t i = 0; i < b->n; i++) {
        bf_session s;
        if (!bf_cal_session(bf_cal_ny_day(b->ts[i]), &s))
            continue;
        int64_t d = b->ts[i] - s.open;
        int64_t g = s.open + (d >= 0 ? d / to_s : -((-d + to_s - 1) / to_s)) * to_s;
        if (k < 0 || b->ts[k] != g) {
            if (k >= 0)
                b->vwap[k] = isfinite(b->vwap[k]) && vsum > 0 ? pv / vsum : NAN;
            k++;
            double vw = b->vwap[i];
            move_row(b, k, i, g);
            pv = isfinite(vw) ? vw * b->volume[i] : NAN;
            vsum = b->volume[i];
            b->vwap[k] = isfinite(vw) ? 0 : NAN; /* finite marks "all known so far" */
            continue;
        }
        if (b->high[i] > b->high[k])
            b->high[k] = b->high[i];
        if (b->low[i] < b->low[k])
            b->low[k] = b->low[i];
        b->close[k] = b->close[i];
        b->volume[k] += b->volume[i];
        b->trades[k] = b->trades[k] >= 0 && b->trades[i] >= 0 ? b->trades[k] + b->trades[i] : -1;
        if (!isfinite(b->vwap[i]))
            b->vwap[k] = NAN;
        pv += b->vwap[i] * b->volume[i];
        vsum += b->volume[i];
    }
    if (k >= 0)
        b->vwap[k] = isfinite(b->vwap[k]) && vsum > 0 ? pv / vsum : NAN;
    int64_t n = k + 1, w = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t e = bf_bar_end(b->ts[i], to_s, extended);
        if (b->ts[i] < start || e > end || e > now || !bf_cal_on_grid(b->ts[i], to_s, extended))
            continue;
        move_row(b, w++, i, b->ts[i]);
    }
    b->n = w;
    b->interval_s = to_s;
    return BF_OK;
}
