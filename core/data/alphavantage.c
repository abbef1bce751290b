/* alphavantage.c - Alpha Vantage TIME_SERIES_INTRADAY (docs/formats.md,
 * "Provider wire formats").
 *
 * One symbol per call, fetched one calendar month (New York) at a time with
 * month=YYYY-MM&outputsize=full. Labels are naive US/Eastern wall times of
 * the bar START ("2024-01-02 09:30:00" is the 09:30-09:45 bar at 15min; the
 * extended session's last 5min bar is labelled 19:55:00) and are converted
 * to UTC with the US DST rules.
 * Alpha Vantage answers HTTP 200 to everything: bodies with "Note",
 * "Information" or "Error Message" are pacing, quota or errors, never data.
 * Pacing bodies are retried after a minute (capped by BARFORGE_HTTP_MAX_WAIT_S);
 * the daily quota (25 requests for free keys; BARFORGE_ALPHAVANTAGE_DAILY_QUOTA
 * overrides, 0 = none) is counted in <state_dir>/.quota/alphavantage-<New York
 * date> before each request and shared by every rank; when it is used up, or
 * the server says so, fetch returns BF_EQUOTA and the file is marked full.
 * The key travels in the apikey query parameter, so every URL or message
 * goes through redaction.
 */
#define _GNU_SOURCE
#include "core/base/log.h"
#include "core/data/calendar.h"
#include "core/data/netprov.h"

#include <cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AV_URL             "https://www.alphavantage.co"
#define AV_PER_S           (5.0 / 60.0) /* free keys: 5 requests a minute */
#define AV_DAILY           25
#define AV_THROTTLE_WAIT_S 60.0

typedef struct av {
    char base[512];
    char key[160]; /* URL-encoded */
    int adjusted;
    double throttle_wait_s;
    int throttle_retries;
    bf_ratelimit rl;
    bf_quota quota;
    bf_http_client *http;
} av;

static void close_av(bf_provider *p)
{
    av *a = p->impl;
    if (!a)
        return;
    bf_http_client_free(a->http);
    bf_ratelimit_destroy(&a->rl);
    memset(a->key, 0, sizeof a->key);
    free(a);
    p->impl = NULL;
}

static bf_status open_av(bf_provider *p)
{
    const bf_provider_config *cfg = &p->cfg;
    const char *key = cfg->key_id && *cfg->key_id ? cfg->key_id : getenv("ALPHAVANTAGE_API_KEY");
    if (!key || !*key)
        return BF_FAIL(BF_EINVAL, "the alphavantage provider needs an API key: set "
                                  "ALPHAVANTAGE_API_KEY");
    int daily = AV_DAILY;
    const char *dq = getenv("BARFORGE_ALPHAVANTAGE_DAILY_QUOTA");
    if (dq && *dq) {
        char *e;
        long v = strtol(dq, &e, 10);
        if (*e || v < 0 || v > 10000000)
            return BF_FAIL(BF_EINVAL, "BARFORGE_ALPHAVANTAGE_DAILY_QUOTA='%s' is not a count >= 0",
                           dq);
        daily = (int)v;
    }
    const char *adj = cfg->adjustment && *cfg->adjustment ? cfg->adjustment : "raw";
    if (strcmp(adj, "raw") && strcmp(adj, "all") && strcmp(adj, "split"))
        return BF_FAIL(BF_EINVAL,
                       "Alpha Vantage adjustment '%s': only raw (adjusted=false) or all/split "
                       "(adjusted=true) exist",
                       adj);
    av *a = calloc(1, sizeof *a);
    BF_CHECK_ALLOC(a, sizeof *a);
    p->impl = a;
    a->adjusted = strcmp(adj, "raw") != 0;
    double rate = cfg->max_requests_per_s > 0 ? cfg->max_requests_per_s : AV_PER_S;
    bf_ratelimit_init(&a->rl, rate, cfg->n_ranks, 1);
    bf_status st = bf_http_urlencode(key, a->key, sizeof a->key);
    if (st == BF_OK)
        st = bf_np_base_url(cfg->base_url, "BARFORGE_ALPHAVANTAGE_URL", AV_URL, a->base,
                            sizeof a->base);
    if (st == BF_OK)
        st = bf_quota_init(&a->quota, cfg->state_dir, "alphavantage", daily);
    if (st == BF_OK)
        st = bf_np_http_client(cfg, "Alpha Vantage", &a->rl, 0, &a->http);
    if (st == BF_OK)
        st = bf_http_add_secret(a->http, key);
    if (st == BF_OK && strcmp(key, a->key) != 0)
        st = bf_http_add_secret(a->http, a->key);
    if (st != BF_OK) {
        close_av(p);
        return st;
    }
    a->throttle_wait_s = AV_THROTTLE_WAIT_S;
    a->throttle_retries = cfg->max_retries == 0 ? 5 : cfg->max_retries < 0 ? 0 : cfg->max_retries;
    const char *mw = getenv("BARFORGE_HTTP_MAX_WAIT_S");
    double v;
    if (mw && bf_np_str_number(mw, &v) && v > 0 && v < a->throttle_wait_s)
        a->throttle_wait_s = v;
    if (!cfg->state_dir || !*cfg->state_dir)
        BF_WARN("Alpha Vantage: no state directory, so the daily quota of %d is counted per "
                "process only",
                daily);
    return BF_OK;
}

/* --- parsing ---------------------------------------------------------------- */

static const char *av_interval(int s)
{
    switch (s) {
    case 60:
        return "1min";
    case 300:
        return "5min";
    case 900:
        return "15min";
    case 1800:
        return "30min";
    case 3600:
        return "60min";
    default:
        return NULL;
    }
}

static int has(const char *s, const char *needle)
{
    return strcasestr(s, needle) != NULL;
}

/* Note / Information text -> status; *throttled for pacing messages. "Note"
 * is Alpha Vantage's historical pacing field (its text names both the minute
 * and the day limits), so it always reads as pacing; our own daily count
 * stops the day's requests before the server's daily limit. */
static bf_status classify(const char *field, const char *text, int *throttled)
{
    if (strcmp(field, "Note") == 0 || has(text, "spreading out") || has(text, "per minute") ||
        has(text, "per second") || has(text, "burst")) {
        *throttled = 1;
        return BF_EQUOTA;
    }
    if (has(text, "per day") || has(text, "daily"))
        return BF_EQUOTA;
    if (has(text, "premium") || has(text, "apikey") || has(text, "api key"))
        return BF_EAUTH;
    return BF_EQUOTA;
}

static int parse_label(const char *s, int64_t *utc)
{
    int y, mo, d, h, mi, se;
    char tail;
    if (strlen(s) != 19 ||
        sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &tail) != 6)
        return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59 || y < 1990)
        return 0;
    *utc = bf_cal_ny_to_utc(y, mo, d, h, mi, se);
    return 1;
}

static int field_number(const cJSON *o, const char *name, double *v)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (cJSON_IsString(it))
        return bf_np_str_number(it->valuestring, v);
    return bf_np_json_number(it, v);
}

bf_status bf_av_parse_body(const char *body, size_t len, int interval_s, bf_bars *out,
                           int *throttled, char *msg, size_t msgcap)
{
    *throttled = 0;
    const char *ivs = av_interval(interval_s);
    if (!ivs) {
        snprintf(msg, msgcap, "no Alpha Vantage interval for %d s", interval_s);
        return BF_EINVAL;
    }
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(root)) {
        snprintf(msg, msgcap, "malformed JSON (%zu bytes)", len);
        cJSON_Delete(root);
        return BF_ECORRUPT;
    }
    bf_status ret = BF_ECORRUPT;
    static const char *const fields[3] = {"Note", "Information", "Error Message"};
    for (int f = 0; f < 3; f++) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, fields[f]);
        if (!m)
            continue;
        const char *text = cJSON_IsString(m) ? m->valuestring : "(not a string)";
        snprintf(msg, msgcap, "\"%s\": %s", fields[f], text);
        if (f < 2)
            ret = classify(fields[f], text, throttled);
        else
            ret = has(text, "apikey") ? BF_EAUTH : BF_ENOTFOUND;
        goto done;
    }
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "Meta Data");
    const cJSON *mf;
    cJSON_ArrayForEach(mf, meta)
    {
        if (mf->string && strstr(mf->string, "Time Zone") && cJSON_IsString(mf) &&
            strcmp(mf->valuestring, "US/Eastern") != 0 &&
            strcmp(mf->valuestring, "America/New_York") != 0) {
            snprintf(msg, msgcap, "time zone \"%s\" is not US/Eastern; only US listings are read",
                     mf->valuestring);
            goto done;
        }
    }
    char key[48];
    snprintf(key, sizeof key, "Time Series (%s)", ivs);
    const cJSON *series = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsObject(series)) {
        snprintf(msg, msgcap, "no \"%s\" object in the answer", key);
        goto done;
    }
    static const char *const names[5] = {"1. open", "2. high", "3. low", "4. close", "5. volume"};
    const cJSON *row;
    cJSON_ArrayForEach(row, series)
    {
        int64_t ts;
        if (!parse_label(row->string, &ts)) {
            snprintf(msg, msgcap, "label \"%.40s\" is not YYYY-MM-DD HH:MM:SS", row->string);
            goto done;
        }
        double v[5];
        for (int k = 0; k < 5; k++) {
            if (!cJSON_IsObject(row) || !field_number(row, names[k], &v[k])) {
                const cJSON *it = cJSON_GetObjectItemCaseSensitive(row, names[k]);
                char *shown = it ? cJSON_PrintUnformatted(it) : NULL;
                snprintf(msg, msgcap, "\"%s\" of %s is %s, not a number", names[k], row->string,
                         shown ? shown : "missing");
                free(shown);
                goto done;
            }
        }
        bf_status ps = bf_bars_push(out, ts, v[0], v[1], v[2], v[3], v[4], NAN, -1);
        if (ps != BF_OK) {
            snprintf(msg, msgcap, "%s", bf_last_error());
            ret = ps;
            goto done;
        }
    }
    ret = BF_OK;
done:
    cJSON_Delete(root);
    return ret;
}

/* --- fetch ------------------------------------------------------------------ */

/* One month; BF_OK or a status with msg. Whole-batch statuses come back with
 * the error recorded (BF_FAIL). */
static bf_status fetch_month(av *a, const char *sym, int interval_s, int y, int m, int extended,
                             bf_bars *out, char *msg, size_t msgcap)
{
    char url[1200];
    snprintf(url, sizeof url,
             "%s/query?function=TIME_SERIES_INTRADAY&symbol=%s&interval=%s&month=%04d-%02d"
             "&outputsize=full&extended_hours=%s&adjusted=%s&datatype=json&apikey=%s",
             a->base, sym, av_interval(interval_s), y, m, extended ? "true" : "false",
             a->adjusted ? "true" : "false", a->key);
    const char *hdr[1] = {"Accept: application/json"};
    for (int attempt = 0;; attempt++) {
        char day[16];
        bf_np_ny_date((int64_t)bf_http_epoch_now(), day, sizeof day);
        int used;
        BF_TRY(bf_quota_take(&a->quota, day, &used));
        bf_http_response r;
        bf_status st = bf_http_get(a->http, url, hdr, 1, &r);
        if (st != BF_OK) {
            snprintf(msg, msgcap, "%s", bf_last_error());
            bf_http_response_free(&r);
            return st;
        }
        if (r.status != 200) {
            snprintf(msg, msgcap, "HTTP %ld from /query", r.status);
            st = r.status == 401 || r.status == 403 ? BF_EAUTH : BF_EHTTP;
            bf_http_response_free(&r);
            if (st == BF_EAUTH)
                return bf_http_fail(a->http, st, "Alpha Vantage refused the key: %s", msg);
            return st;
        }
        int throttled;
        st = bf_av_parse_body(r.body, r.len, interval_s, out, &throttled, msg, msgcap);
        bf_http_response_free(&r);
        bf_http_redact_with(a->http, msg);
        if (st == BF_OK)
            return BF_OK;
        if (throttled && attempt < a->throttle_retries) {
            BF_WARN("Alpha Vantage asks to slow down (%s); retrying in %.1f s", msg,
                    a->throttle_wait_s);
            bf_sleep_s(a->throttle_wait_s);
            continue;
        }
        if (throttled)
            return bf_http_fail(a->http, BF_EQUOTA,
                                "Alpha Vantage kept throttling after %d tries: %s", attempt + 1,
                                msg);
        if (st == BF_EQUOTA) {
            bf_quota_exhaust(&a->quota, day);
            return bf_http_fail(a->http, BF_EQUOTA,
                                "Alpha Vantage daily quota used up (server says %s); %d requests "
                                "counted today; it resumes tomorrow",
                                msg, used);
        }
        if (st == BF_EAUTH)
            return bf_http_fail(a->http, BF_EAUTH,
                                "Alpha Vantage refused the request (%s): check "
                                "ALPHAVANTAGE_API_KEY and whether the plan includes this call",
                                msg);
        return st;
    }
}

static bf_status fetch_av(bf_provider *p, const char *const *symbols, int nsym, int interval_s,
                          int64_t start, int64_t end, bf_bars *out, bf_status *st,
                          char (*errmsg)[BF_ERRMSG_MAX])
{
    av *a = p->impl;
    if (nsym != 1)
        return BF_FAIL(BF_EINVAL, "alphavantage fetch takes one symbol per call, got %d", nsym);
    if (end <= start)
        return BF_FAIL(BF_EINVAL, "empty range: end %lld <= start %lld", (long long)end,
                       (long long)start);
    if (!av_interval(interval_s))
        return BF_FAIL(BF_EINVAL,
                       "Alpha Vantage intraday has 1min, 5min, 15min, 30min and 60min bars, not "
                       "%d s%s",
                       interval_s,
                       interval_s == 86400 ? " (for daily bars use alpaca or yahoo)" : "");
    BF_TRY(bf_symbol_validate(symbols[0]));
    bf_bars_clear(&out[0]);
    st[0] = BF_OK;
    errmsg[0][0] = '\0';
    bf_civil c0, c1;
    bf_cal_ny_civil(start, &c0);
    bf_cal_ny_civil(end - 1, &c1);
    char s0[32], s1[32];
    bf_time_format(start, s0, sizeof s0);
    bf_time_format(end, s1, sizeof s1);
    bf_status ret = BF_OK;
    /* Alpha Vantage's 60min bars sit on the clock hour; build ours from 30min bars */
    int fetch_s = interval_s == 3600 ? 1800 : interval_s;
    for (int y = c0.year, m = c0.month; y < c1.year || (y == c1.year && m <= c1.month);) {
        char msg[600];
        bf_status fs = fetch_month(a, symbols[0], fetch_s, y, m, p->cfg.extended_hours, &out[0],
                                   msg, sizeof msg);
        if (fs == BF_ENOMEM)
            return fs;
        if (fs != BF_OK) {
            bf_bars_clear(&out[0]);
            if (fs == BF_EQUOTA || fs == BF_EAUTH || fs == BF_EINVAL) {
                bf_np_symbol_error(a->http, &st[0], errmsg[0], fs, "%s", bf_last_error());
                ret = fs;
            } else {
                bf_np_symbol_error(a->http, &st[0], errmsg[0], fs,
                                   "Alpha Vantage %s %s month %04d-%02d: %s", symbols[0],
                                   av_interval(fetch_s), y, m, msg);
            }
            break;
        }
        if (++m > 12) {
            m = 1;
            y++;
        }
    }
    if (st[0] == BF_OK) {
        int64_t now = (int64_t)bf_http_epoch_now(), off = 0;
        BF_TRY(bf_np_finish(&out[0], fetch_s, start, end, p->cfg.extended_hours, 1, now, &off));
        if (fetch_s != interval_s)
            BF_TRY(bf_np_regrid(&out[0], interval_s, p->cfg.extended_hours, start, end, now));
        if (off > 0)
            BF_WARN("Alpha Vantage: dropped %lld bars of %s that are off the session grid or on "
                    "days the NYSE calendar has closed",
                    (long long)off, symbols[0]);
        if (out[0].n == 0)
            bf_np_symbol_error(a->http, &st[0], errmsg[0], BF_ENODATA,
                               "Alpha Vantage returned no %s bars for %s in [%s, %s)",
                               av_interval(interval_s), symbols[0], s0, s1);
    }
    char day[16];
    int used = 0;
    bf_np_ny_date((int64_t)bf_http_epoch_now(), day, sizeof day);
    if (bf_quota_used(&a->quota, day, &used) == BF_OK)
        BF_INFO("Alpha Vantage: %d of %d daily requests used (%s, New York date)", used,
                a->quota.daily_limit, day);
    return ret;
}

const bf_provider_ops bf_alphavantage_ops = {
    .name = "alphavantage",
    .max_batch = 1,
    .open = open_av,
    .fetch = fetch_av,
    .close = close_av,
};
