/* yahoo.c - Yahoo Finance chart API v8 (docs/formats.md, "Provider wire
 * formats").
 *
 * One symbol per request: GET /v8/finance/chart/{symbol}?period1&period2&
 * interval. timestamp[] holds bar starts in epoch seconds; the quote arrays
 * may hold nulls (no trade), and those rows are skipped. Yahoo keeps intraday
 * history for a limited time (1m: 30 days, fetched 7 days per request;
 * 5m/15m/30m: 60 days; 60m: 730 days; 1d: unlimited); a range reaching
 * further back is refused with a message naming the limit and the range, and
 * never truncated to what Yahoo would return. chart.error bodies (404 no such
 * symbol/delisted, 422 range, 400 interval) become clear errors.
 * Symbols with a class suffix are sent Yahoo's way (BRK.B -> BRK-B).
 */
#define _GNU_SOURCE
#include "core/base/log.h"
#include "core/data/netprov.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define YAHOO_URL   "https://query1.finance.yahoo.com"
#define YAHOO_PER_S 2.0 /* undocumented limits; stay polite */
#define YAHOO_UA    "Mozilla/5.0 (compatible; barforge)"

typedef struct yahoo {
    char base[512];
    bf_ratelimit rl;
    bf_http_client *http;
} yahoo;

typedef struct yinterval {
    int seconds;
    const char *name;
    int history_days; /* 0: unlimited */
    int chunk_days;   /* 0: one request for the range */
} yinterval;

static const yinterval g_intervals[] = {
    {60, "1m", 30, 7},    {300, "5m", 60, 0},    {900, "15m", 60, 0},
    {1800, "30m", 60, 0}, {3600, "60m", 730, 0}, {86400, "1d", 0, 0},
};

static void close_yahoo(bf_provider *p)
{
    yahoo *y = p->impl;
    if (!y)
        return;
    bf_http_client_free(y->http);
    bf_ratelimit_destroy(&y->rl);
    free(y);
    p->impl = NULL;
}

static bf_status open_yahoo(bf_provider *p)
{
    yahoo *y = calloc(1, sizeof *y);
    BF_CHECK_ALLOC(y, sizeof *y);
    p->impl = y;
    double rate = p->cfg.max_requests_per_s > 0 ? p->cfg.max_requests_per_s : YAHOO_PER_S;
    bf_ratelimit_init(&y->rl, rate, p->cfg.n_ranks, 1);
    bf_status st =
        bf_np_base_url(p->cfg.base_url, "BARFORGE_YAHOO_URL", YAHOO_URL, y->base, sizeof y->base);
    if (st == BF_OK)
        st = bf_np_http_client(&p->cfg, "Yahoo", &y->rl, 1, &y->http);
    if (st != BF_OK)
        close_yahoo(p);
    return st;
}

/* --- parsing ---------------------------------------------------------------- */

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static bf_status chart_error(const cJSON *e, char *err, size_t errcap)
{
    const cJSON *code = get(e, "code"), *desc = get(e, "description");
    const char *c = cJSON_IsString(code) ? code->valuestring : "?";
    const char *d = cJSON_IsString(desc) ? desc->valuestring : "(no description)";
    snprintf(err, errcap, "%s: %s", c, d);
    if (strcmp(c, "Not Found") == 0)
        return BF_ENODATA;
    if (strcmp(c, "Unprocessable Entity") == 0 || strcmp(c, "Bad Request") == 0)
        return BF_EINVAL;
    if (strcmp(c, "Unauthorized") == 0 || strcmp(c, "Forbidden") == 0)
        return BF_EAUTH;
    return BF_EHTTP;
}

bf_status bf_yahoo_parse_chart(const char *body, size_t len, int interval_s, bf_bars *out,
                               int *is_ny, char *err, size_t errcap)
{
    (void)interval_s;
    *is_ny = 0;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) {
        snprintf(err, errcap, "malformed JSON (%zu bytes)", len);
        return BF_ECORRUPT;
    }
    bf_status ret = BF_ECORRUPT;
    const cJSON *chart = get(root, "chart");
    if (!cJSON_IsObject(chart))
        chart = get(root, "finance"); /* Yahoo's generic error envelope */
    if (!cJSON_IsObject(chart)) {
        snprintf(err, errcap, "no \"chart\" object");
        goto done;
    }
    const cJSON *e = get(chart, "error");
    if (e && !cJSON_IsNull(e)) {
        ret = chart_error(e, err, errcap);
        goto done;
    }
    const cJSON *res = get(chart, "result");
    const cJSON *r0 = cJSON_IsArray(res) ? cJSON_GetArrayItem(res, 0) : NULL;
    if (!cJSON_IsObject(r0)) {
        snprintf(err, errcap, "chart.result is not a non-empty array of objects");
        goto done;
    }
    const cJSON *tz = get(get(r0, "meta"), "exchangeTimezoneName");
    *is_ny = !cJSON_IsString(tz) || strcmp(tz->valuestring, "America/New_York") == 0;
    const cJSON *ts = get(r0, "timestamp");
    if (!ts || cJSON_IsNull(ts)) { /* Yahoo omits timestamp when the range has no bars */
        ret = BF_OK;
        goto done;
    }
    const cJSON *quote = get(get(r0, "indicators"), "quote");
    const cJSON *q0 = cJSON_IsArray(quote) ? cJSON_GetArrayItem(quote, 0) : NULL;
    if (!cJSON_IsArray(ts) || !cJSON_IsObject(q0)) {
        snprintf(err, errcap, "timestamp is not an array or indicators.quote[0] is missing");
        goto done;
    }
    static const char *const names[5] = {"open", "high", "low", "close", "volume"};
    const cJSON *col[5];
    int n = cJSON_GetArraySize(ts);
    for (int k = 0; k < 5; k++) {
        col[k] = get(q0, names[k]);
        if (!cJSON_IsArray(col[k]) || cJSON_GetArraySize(col[k]) != n) {
            snprintf(err, errcap, "indicators.quote[0].%s is not an array of %d values", names[k],
                     n);
            goto done;
        }
    }
    /* walk the arrays together (cJSON arrays are lists) */
    const cJSON *it[6] = {ts->child,     col[0]->child, col[1]->child,
                          col[2]->child, col[3]->child, col[4]->child};
    for (int i = 0; i < n; i++) {
        double t, v[5];
        int kind[5];
        if (!bf_np_json_number(it[0], &t) || t != floor(t)) {
            snprintf(err, errcap, "timestamp[%d] is not an integer", i);
            goto done;
        }
        int skip = 0;
        for (int k = 0; k < 5; k++) {
            const cJSON *x = it[k + 1];
            kind[k] = !x || cJSON_IsNull(x) ? 0 : bf_np_json_number(x, &v[k]) ? 1 : -1;
            if (kind[k] < 0) {
                char *shown = cJSON_PrintUnformatted(x);
                snprintf(err, errcap, "indicators.quote[0].%s[%d] is %s, not a number", names[k], i,
                         shown ? shown : "?");
                free(shown);
                goto done;
            }
            if (kind[k] == 0 && k < 4)
                skip = 1;
        }
        if (!kind[4])
            v[4] = 0;
        if (!skip) {
            bf_status ps = bf_bars_push(out, (int64_t)t, v[0], v[1], v[2], v[3], v[4], NAN, -1);
            if (ps != BF_OK) {
                snprintf(err, errcap, "%s", bf_last_error());
                ret = ps;
                goto done;
            }
        }
        for (int k = 0; k < 6; k++)
            it[k] = it[k]->next;
    }
    ret = BF_OK;
done:
    cJSON_Delete(root);
    return ret;
}

/* --- fetch ------------------------------------------------------------------ */

static bf_status fetch_range(yahoo *y, const char *ysym, const yinterval *iv, int64_t p1,
                             int64_t p2, int extended, bf_bars *out, int *is_ny, char *err,
                             size_t errcap)
{
    char enc[64], url[1024];
    BF_TRY(bf_http_urlencode(ysym, enc, sizeof enc));
    snprintf(url, sizeof url,
             "%s/v8/finance/chart/%s?period1=%lld&period2=%lld&interval=%s&includePrePost=%s"
             "&events=div%%2Csplits",
             y->base, enc, (long long)p1, (long long)p2, iv->name, extended ? "true" : "false");
    const char *hdr[1] = {"Accept: application/json"};
    bf_http_response r;
    bf_status st = bf_http_get(y->http, url, hdr, 1, &r);
    if (st != BF_OK) {
        snprintf(err, errcap, "%s", bf_last_error());
        bf_http_response_free(&r);
        return st;
    }
    st = bf_yahoo_parse_chart(r.body, r.len, iv->seconds, out, is_ny, err, errcap);
    if (st == BF_OK && r.status != 200) {
        snprintf(err, errcap, "HTTP %ld with a chart body and no chart.error", r.status);
        st = BF_EHTTP;
    } else if (st == BF_ECORRUPT && r.status != 200) {
        size_t k = 0;
        char snip[160];
        for (size_t i = 0; i < r.len && k + 1 < sizeof snip; i++)
            snip[k++] = r.body[i] >= ' ' && r.body[i] < 127 ? r.body[i] : ' ';
        snip[k] = '\0';
        snprintf(err, errcap, "HTTP %ld: %s", r.status, snip);
        st = r.status == 401 || r.status == 403 ? BF_EAUTH : BF_EHTTP;
    }
    bf_http_response_free(&r);
    return st;
}

static bf_status fetch_yahoo(bf_provider *p, const char *const *symbols, int nsym, int interval_s,
                             int64_t start, int64_t end, bf_bars *out, bf_status *st,
                             char (*errmsg)[BF_ERRMSG_MAX])
{
    yahoo *y = p->impl;
    if (nsym != 1)
        return BF_FAIL(BF_EINVAL, "yahoo fetch takes one symbol per call, got %d", nsym);
    if (end <= start)
        return BF_FAIL(BF_EINVAL, "empty range: end %lld <= start %lld", (long long)end,
                       (long long)start);
    const yinterval *iv = NULL;
    for (size_t k = 0; k < sizeof g_intervals / sizeof g_intervals[0]; k++)
        if (g_intervals[k].seconds == interval_s)
            iv = &g_intervals[k];
    if (!iv)
        return BF_FAIL(BF_EINVAL,
                       "Yahoo has no interval of %d s: use 1m, 5m, 15m, 30m, 1h (60m) or 1d",
                       interval_s);
    BF_TRY(bf_symbol_validate(symbols[0]));
    bf_bars_clear(&out[0]);
    st[0] = BF_OK;
    errmsg[0][0] = '\0';
    char s0[32], s1[32];
    bf_time_format(start, s0, sizeof s0);
    bf_time_format(end, s1, sizeof s1);
    int64_t now = (int64_t)bf_http_epoch_now();
    if (iv->history_days > 0 && start < now - (int64_t)iv->history_days * 86400) {
        char lim[32];
        bf_time_format(now - (int64_t)iv->history_days * 86400, lim, sizeof lim);
        return BF_FAIL(BF_EINVAL,
                       "Yahoo keeps %s bars for the last %d days only (since %s); the range "
                       "asked, [%s, %s), starts %lld days ago. Nothing was truncated: shorten "
                       "the range, use a coarser interval (60m: 730 days, 1d: no limit) or "
                       "another provider",
                       iv->name, iv->history_days, lim, s0, s1, (long long)((now - start) / 86400));
    }
    char ysym[BF_SYMBOL_MAX];
    snprintf(ysym, sizeof ysym, "%s", symbols[0]);
    for (char *c = ysym; *c; c++)
        if (*c == '.')
            *c = '-';
    int64_t chunk = iv->chunk_days ? (int64_t)iv->chunk_days * 86400 : end - start;
    int is_ny = 1;
    for (int64_t a = start; a < end; a += chunk) {
        int64_t b = a + chunk < end ? a + chunk : end;
        char err[600];
        bf_status fs =
            fetch_range(y, ysym, iv, a, b, p->cfg.extended_hours, &out[0], &is_ny, err, sizeof err);
        if (fs == BF_ENOMEM)
            return BF_FAIL(BF_ENOMEM, "%s", err);
        if (fs == BF_EINVAL || fs == BF_EAUTH) {
            bf_bars_clear(&out[0]);
            bf_np_symbol_error(y->http, &st[0], errmsg[0], fs, "Yahoo refused %s %s [%s, %s): %s",
                               symbols[0], iv->name, s0, s1, err);
            return bf_http_fail(y->http, fs, "%s", errmsg[0]);
        }
        if (fs != BF_OK) {
            bf_bars_clear(&out[0]);
            bf_np_symbol_error(y->http, &st[0], errmsg[0], fs, "Yahoo %s %s [%s, %s): %s",
                               symbols[0], iv->name, s0, s1, err);
            return BF_OK;
        }
    }
    /* non-New York listings: Yahoo's includePrePost=false already gives their session,
     * and the NYSE grid does not apply */
    int64_t off = 0;
    BF_TRY(bf_np_finish(&out[0], interval_s, start, end, p->cfg.extended_hours, is_ny, now, &off));
    if (off > 0)
        BF_WARN("Yahoo: dropped %lld %s bars of %s that are off the session grid (e.g. a bar "
                "still forming) or on days the NYSE calendar has closed",
                (long long)off, iv->name, symbols[0]);
    if (out[0].n == 0)
        bf_np_symbol_error(y->http, &st[0], errmsg[0], BF_ENODATA,
                           "Yahoo returned no %s bars for %s in [%s, %s)", iv->name, symbols[0], s0,
                           s1);
    return BF_OK;
}

const bf_provider_ops bf_yahoo_ops = {
    .name = "yahoo",
    .max_batch = 1,
    .open = open_yahoo,
    .fetch = fetch_yahoo,
    .close = close_yahoo,
};
