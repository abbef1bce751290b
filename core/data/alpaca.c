/* alpaca.c - Alpaca Market Data v2 historical bars (docs/formats.md,
 * "Provider wire formats").
 *
 * One request covers up to max_batch symbols: GET /v2/stocks/bars with
 * symbols=A,B,... and follows next_page_token until it is null, absent or
 * empty; a page may hold several symbols and one symbol may span pages, so
 * bars are appended per symbol and sorted at the end. An empty or null token
 * is never sent back. t is the bar start in UTC (RFC 3339).
 * Whole-batch failures (401/403 credentials or subscription, 400/422
 * parameters) are returned as the fetch status, since every batch would fail
 * the same way; transport failures after retries, malformed pages and absent
 * symbols are per-symbol statuses.
 * Keys travel only in the APCA-API-KEY-ID / APCA-API-SECRET-KEY headers and
 * are registered with the HTTP client for redaction.
 */
#define _GNU_SOURCE
#include "core/base/log.h"
#include "core/data/calendar.h"
#include "core/data/netprov.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ALPACA_URL        "https://data.alpaca.markets"
#define ALPACA_BATCH      100
#define ALPACA_FREE_PER_S (200.0 / 60.0) /* free plan: 200 requests a minute */
#define MAX_PAGES         100000

typedef struct alpaca {
    char base[512];
    char hdr_key[320], hdr_secret[320];
    char feed[32], adjustment[32];
    bf_ratelimit rl;
    bf_http_client *http;
} alpaca;

static int header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 127)
            return 0;
    return 1;
}

static int word_ok(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
            return 0;
    return 1;
}

static const char *pick(const char *cfg, const char *env1, const char *env2)
{
    if (cfg && *cfg)
        return cfg;
    const char *e = getenv(env1);
    if (e && *e)
        return e;
    e = getenv(env2);
    return e && *e ? e : NULL;
}

static void close_alpaca(bf_provider *p)
{
    alpaca *a = p->impl;
    if (!a)
        return;
    bf_http_client_free(a->http);
    bf_ratelimit_destroy(&a->rl);
    memset(a->hdr_key, 0, sizeof a->hdr_key);
    memset(a->hdr_secret, 0, sizeof a->hdr_secret);
    free(a);
    p->impl = NULL;
}

static bf_status open_alpaca(bf_provider *p)
{
    const bf_provider_config *cfg = &p->cfg;
    const char *key = pick(cfg->key_id, "ALPACA_KEY_ID", "APCA_API_KEY_ID");
    const char *secret = pick(cfg->secret_key, "ALPACA_SECRET_KEY", "APCA_API_SECRET_KEY");
    if (!key || !secret)
        return BF_FAIL(BF_EINVAL,
                       "the alpaca provider needs an API key: set ALPACA_KEY_ID and "
                       "ALPACA_SECRET_KEY (missing: %s%s%s)",
                       key ? "" : "ALPACA_KEY_ID", !key && !secret ? ", " : "",
                       secret ? "" : "ALPACA_SECRET_KEY");
    if (!header_safe(key) || !header_safe(secret) || strlen(key) > 256 || strlen(secret) > 256)
        return BF_FAIL(BF_EINVAL, "ALPACA_KEY_ID or ALPACA_SECRET_KEY holds spaces, control "
                                  "characters or more than 256 characters");
    const char *feed = cfg->feed && *cfg->feed ? cfg->feed : "iex";
    const char *adj = cfg->adjustment && *cfg->adjustment ? cfg->adjustment : "raw";
    if (!word_ok(feed) || strlen(feed) >= 32)
        return BF_FAIL(BF_EINVAL, "Alpaca feed '%s' is not a feed name (iex, sip, ...)", feed);
    if (strcmp(adj, "raw") && strcmp(adj, "split") && strcmp(adj, "dividend") && strcmp(adj, "all"))
        return BF_FAIL(BF_EINVAL, "Alpaca adjustment '%s' is not raw, split, dividend or all", adj);

    alpaca *a = calloc(1, sizeof *a);
    BF_CHECK_ALLOC(a, sizeof *a);
    p->impl = a;
    bf_status st =
        bf_np_base_url(cfg->base_url, "BARFORGE_ALPACA_URL", ALPACA_URL, a->base, sizeof a->base);
    snprintf(a->hdr_key, sizeof a->hdr_key, "APCA-API-KEY-ID: %s", key);
    snprintf(a->hdr_secret, sizeof a->hdr_secret, "APCA-API-SECRET-KEY: %s", secret);
    snprintf(a->feed, sizeof a->feed, "%s", feed);
    snprintf(a->adjustment, sizeof a->adjustment, "%s", adj);
    double rate = cfg->max_requests_per_s > 0 ? cfg->max_requests_per_s : ALPACA_FREE_PER_S;
    bf_ratelimit_init(&a->rl, rate, cfg->n_ranks, 1);
    if (st == BF_OK)
        st = bf_np_http_client(cfg, "Alpaca", &a->rl, 0, &a->http);
    if (st == BF_OK)
        st = bf_http_add_secret(a->http, key);
    if (st == BF_OK)
        st = bf_http_add_secret(a->http, secret);
    if (st != BF_OK) {
        close_alpaca(p);
        return st;
    }
    return BF_OK;
}

/* --- parsing ---------------------------------------------------------------- */

static int num_field(const cJSON *bar, const char *name, double *v, char *why, size_t n)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(bar, name);
    if (bf_np_json_number(it, v))
        return 1;
    char *shown = it ? cJSON_PrintUnformatted(it) : NULL;
    snprintf(why, n, "'%s' is %s", name, shown ? shown : "missing");
    free(shown);
    return 0;
}

static int parse_bar(const cJSON *bar, int64_t *ts, double v[7], int64_t *trades, char *why,
                     size_t n)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(bar, "t");
    if (!cJSON_IsString(t)) {
        snprintf(why, n, "'t' is not a string");
        return 0;
    }
    if (bf_time_parse(t->valuestring, ts) != BF_OK) {
        bf_clear_error();
        snprintf(why, n, "'t' is not an RFC 3339 time: \"%.40s\"", t->valuestring);
        return 0;
    }
    static const char *const names[5] = {"o", "h", "l", "c", "v"};
    for (int k = 0; k < 5; k++)
        if (!num_field(bar, names[k], &v[k], why, n))
            return 0;
    const cJSON *vw = cJSON_GetObjectItemCaseSensitive(bar, "vw");
    v[5] = NAN;
    if (vw && !cJSON_IsNull(vw) && !num_field(bar, "vw", &v[5], why, n))
        return 0;
    const cJSON *nt = cJSON_GetObjectItemCaseSensitive(bar, "n");
    *trades = -1;
    if (nt && !cJSON_IsNull(nt)) {
        double d;
        if (!num_field(bar, "n", &d, why, n))
            return 0;
        if (d < 0 || d != floor(d)) {
            snprintf(why, n, "'n' is %g, not a trade count", d);
            return 0;
        }
        *trades = (int64_t)d;
    }
    return 1;
}

bf_status bf_alpaca_parse_page(const char *body, size_t len, const char *const *symbols, int nsym,
                               bf_bars *out, bf_status *st, char (*errmsg)[BF_ERRMSG_MAX],
                               char *next_token, size_t token_cap, char *err, size_t errcap)
{
    next_token[0] = '\0';
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= body && at <= body + len ? (long)(at - body) : -1;
        snprintf(err, errcap, "malformed JSON (%zu bytes, error near byte %ld)", len, off);
        return BF_ECORRUPT;
    }
    bf_status ret = BF_OK;
    const cJSON *bars = cJSON_GetObjectItemCaseSensitive(root, "bars");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(root, "next_page_token");
    if (!cJSON_IsObject(root) || !(cJSON_IsObject(bars) || cJSON_IsNull(bars) || !bars)) {
        snprintf(err, errcap, "expected an object with \"bars\": {symbol: [...]}");
        ret = BF_ECORRUPT;
        goto done;
    }
    if (tok && !cJSON_IsNull(tok)) {
        if (!cJSON_IsString(tok) || strlen(tok->valuestring) >= token_cap) {
            snprintf(err, errcap, "next_page_token is not a string of < %zu characters", token_cap);
            ret = BF_ECORRUPT;
            goto done;
        }
        snprintf(next_token, token_cap, "%s", tok->valuestring);
    }
    const cJSON *sym;
    cJSON_ArrayForEach(sym, bars)
    {
        int i = 0;
        while (i < nsym && strcmp(symbols[i], sym->string) != 0)
            i++;
        if (i == nsym || st[i] != BF_OK)
            continue;
        if (!cJSON_IsArray(sym) && !cJSON_IsNull(sym)) {
            snprintf(errmsg[i], BF_ERRMSG_MAX, "Alpaca: bars of %s are not an array", symbols[i]);
            st[i] = BF_ECORRUPT;
            continue;
        }
        const cJSON *bar;
        int k = 0;
        cJSON_ArrayForEach(bar, sym)
        {
            int64_t ts, trades;
            double v[7];
            char why[160];
            if (!cJSON_IsObject(bar) || !parse_bar(bar, &ts, v, &trades, why, sizeof why)) {
                if (!cJSON_IsObject(bar))
                    snprintf(why, sizeof why, "not an object");
                snprintf(errmsg[i], BF_ERRMSG_MAX, "Alpaca: bar %d of %s on this page: %s", k,
                         symbols[i], why);
                st[i] = BF_ECORRUPT;
                break;
            }
            bf_status ps = bf_bars_push(&out[i], ts, v[0], v[1], v[2], v[3], v[4], v[5], trades);
            if (ps != BF_OK) {
                snprintf(err, errcap, "%s", bf_last_error());
                ret = ps;
                goto done;
            }
            k++;
        }
    }
done:
    cJSON_Delete(root);
    return ret;
}

/* --- fetch ------------------------------------------------------------------ */

static void error_text(const bf_http_response *r, char *out, size_t cap)
{
    cJSON *j = cJSON_ParseWithLength(r->body, r->len);
    const cJSON *m = j ? cJSON_GetObjectItemCaseSensitive(j, "message") : NULL;
    if (cJSON_IsString(m)) {
        snprintf(out, cap, "%s", m->valuestring);
    } else {
        size_t k = 0;
        for (size_t i = 0; i < r->len && k + 1 < cap && k < 200; i++)
            out[k++] = (r->body[i] >= ' ' && r->body[i] < 127) ? r->body[i] : ' ';
        out[k] = '\0';
    }
    cJSON_Delete(j);
}

static bf_status batch_error(alpaca *a, const bf_http_response *r, const char *timeframe)
{
    char msg[300];
    error_text(r, msg, sizeof msg);
    switch (r->status) {
    case 401:
        return bf_http_fail(a->http, BF_EAUTH,
                            "Alpaca rejected the API key (HTTP 401: %s): check ALPACA_KEY_ID "
                            "and ALPACA_SECRET_KEY",
                            msg);
    case 403:
        return bf_http_fail(a->http, BF_EAUTH,
                            "Alpaca refused the request (HTTP 403: %s): the key's subscription "
                            "does not permit feed '%s' for this range (free plans have 'iex', "
                            "and 'sip' only older than 15 minutes), or the key lacks market "
                            "data access",
                            msg, a->feed);
    case 400:
    case 422:
        return bf_http_fail(a->http, BF_EINVAL,
                            "Alpaca rejected a parameter (HTTP %ld: %s); the request had "
                            "timeframe=%s feed=%s adjustment=%s",
                            r->status, msg, timeframe, a->feed, a->adjustment);
    case 404:
        return bf_http_fail(a->http, BF_EHTTP,
                            "Alpaca answered HTTP 404 (%s) for /v2/stocks/bars: check the base "
                            "URL %s (BARFORGE_ALPACA_URL)",
                            msg, a->base);
    default:
        return bf_http_fail(a->http, BF_EHTTP, "Alpaca answered HTTP %ld: %s", r->status, msg);
    }
}

static bf_status build_url(alpaca *a, const char *const *symbols, int nsym, const char *tf,
                           int daily_s, int64_t start, int64_t end, const char *token, char **url)
{
    size_t cap = 1024 + (size_t)nsym * (BF_SYMBOL_MAX + 3) + strlen(token) * 3;
    char *u = malloc(cap);
    BF_CHECK_ALLOC(u, cap);
    char s0[32], s1[32], enc[64];
    if (daily_s) {
        /* daily bars are stamped at New York midnight: ask from that day's start */
        bf_civil c;
        bf_cal_ny_civil(start, &c);
        start = bf_cal_ny_to_utc(c.year, c.month, c.day, 0, 0, 0);
    }
    bf_time_format(start, s0, sizeof s0);
    bf_time_format(end - 1, s1, sizeof s1); /* Alpaca's end is inclusive; ours is not */
    int k = snprintf(u, cap, "%s/v2/stocks/bars?symbols=", a->base);
    for (int i = 0; i < nsym; i++)
        k += snprintf(u + k, cap - (size_t)k, "%s%s", i ? "%2C" : "", symbols[i]);
    k += snprintf(u + k, cap - (size_t)k, "&timeframe=%s", tf);
    bf_http_urlencode(s0, enc, sizeof enc);
    k += snprintf(u + k, cap - (size_t)k, "&start=%s", enc);
    bf_http_urlencode(s1, enc, sizeof enc);
    k += snprintf(u + k, cap - (size_t)k, "&end=%s&limit=10000&adjustment=%s&feed=%s&sort=asc", enc,
                  a->adjustment, a->feed);
    if (token[0]) {
        k += snprintf(u + k, cap - (size_t)k, "&page_token=");
        bf_status st = bf_http_urlencode(token, u + k, cap - (size_t)k);
        if (st != BF_OK) {
            free(u);
            return st;
        }
    }
    *url = u;
    return BF_OK;
}

static bf_status fetch_alpaca(bf_provider *p, const char *const *symbols, int nsym, int interval_s,
                              int64_t start, int64_t end, bf_bars *out, bf_status *st,
                              char (*errmsg)[BF_ERRMSG_MAX])
{
    alpaca *a = p->impl;
    if (nsym < 1 || nsym > ALPACA_BATCH)
        return BF_FAIL(BF_EINVAL, "alpaca fetch takes 1..%d symbols, got %d", ALPACA_BATCH, nsym);
    if (end <= start)
        return BF_FAIL(BF_EINVAL, "empty range: end %lld <= start %lld", (long long)end,
                       (long long)start);
    /* Alpaca's hourly bars sit on the clock hour; build ours from 30Min bars */
    int fetch_s = interval_s == 3600 ? 1800 : interval_s;
    const char *tf = bf_interval_alpaca(fetch_s);
    if (!tf)
        return BF_FAIL(BF_EINVAL, "Alpaca has no timeframe for an interval of %d s", interval_s);
    for (int i = 0; i < nsym; i++) {
        BF_TRY(bf_symbol_validate(symbols[i]));
        bf_bars_clear(&out[i]);
        st[i] = BF_OK;
        errmsg[i][0] = '\0';
    }
    char token[1024] = "", prev[1024] = "";
    bf_status ret = BF_OK;
    for (int page = 0;; page++) {
        char *url = NULL;
        BF_TRY(build_url(a, symbols, nsym, tf, fetch_s >= 86400, start, end, token, &url));
        const char *hdr[3] = {a->hdr_key, a->hdr_secret, "Accept: application/json"};
        bf_http_response r;
        bf_status hs = bf_http_get(a->http, url, hdr, 3, &r);
        free(url);
        if (hs == BF_OK && r.status != 200)
            hs = batch_error(a, &r, tf);
        if (hs != BF_OK) {
            /* transport or HTTP failure: the batch as a whole failed */
            for (int i = 0; i < nsym; i++)
                bf_np_symbol_error(a->http, &st[i], errmsg[i], hs, "%s", bf_last_error());
            bf_http_response_free(&r);
            if (hs == BF_EAUTH || hs == BF_EINVAL)
                ret = hs;
            break;
        }
        char err[256];
        bf_status ps = bf_alpaca_parse_page(r.body, r.len, symbols, nsym, out, st, errmsg, token,
                                            sizeof token, err, sizeof err);
        bf_http_response_free(&r);
        if (ps == BF_ENOMEM)
            return BF_FAIL(BF_ENOMEM, "%s", err);
        if (ps != BF_OK) {
            for (int i = 0; i < nsym; i++)
                bf_np_symbol_error(a->http, &st[i], errmsg[i], ps,
                                   "Alpaca page %d for %d symbols: %s", page + 1, nsym, err);
            break;
        }
        if (!token[0])
            break;
        if (strcmp(token, prev) == 0 || page + 1 >= MAX_PAGES) {
            for (int i = 0; i < nsym; i++)
                bf_np_symbol_error(a->http, &st[i], errmsg[i], BF_ECORRUPT,
                                   "Alpaca repeated next_page_token after page %d; stopping",
                                   page + 1);
            break;
        }
        snprintf(prev, sizeof prev, "%s", token);
    }
    int64_t now = (int64_t)bf_http_epoch_now();
    char s0[32], s1[32];
    bf_time_format(start, s0, sizeof s0);
    bf_time_format(end, s1, sizeof s1);
    for (int i = 0; i < nsym; i++) {
        if (st[i] != BF_OK) {
            bf_bars_clear(&out[i]); /* never hand on part of a series */
            continue;
        }
        int64_t off = 0;
        BF_TRY(bf_np_finish(&out[i], fetch_s, start, end, p->cfg.extended_hours, 1, now, &off));
        if (fetch_s != interval_s)
            BF_TRY(bf_np_regrid(&out[i], interval_s, p->cfg.extended_hours, start, end, now));
        if (off > 0)
            BF_WARN("Alpaca: dropped %lld %s bars of %s that are off the session grid or on "
                    "days the NYSE calendar has closed",
                    (long long)off, tf, symbols[i]);
        if (out[i].n == 0)
            bf_np_symbol_error(a->http, &st[i], errmsg[i], BF_ENODATA,
                               "Alpaca returned no %s bars for %s in [%s, %s) (feed %s%s)", tf,
                               symbols[i], s0, s1, a->feed,
                               p->cfg.extended_hours ? "" : ", regular session");
    }
    return ret;
}

const bf_provider_ops bf_alpaca_ops = {
    .name = "alpaca",
    .max_batch = ALPACA_BATCH,
    .open = open_alpaca,
    .fetch = fetch_alpaca,
    .close = close_alpaca,
};
