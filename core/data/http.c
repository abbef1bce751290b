/* http.c - see http.h for the retry policy. Only this file talks to libcurl
 * for market data; everything it logs or records goes through redaction. */
#define _GNU_SOURCE
#include "core/data/http.h"

#include "bf_build_info.h"
#include "core/base/log.h"
#include "core/base/rng.h"

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define BODY_MAX ((size_t)512 << 20) /* a larger answer is a server bug, not data */

struct bf_http_client {
    CURL *curl;
    bf_http_opts o;
    char ua[64];
    char **secrets;
    int nsecrets;
    bf_rng rng;
    double not_before; /* epoch seconds: X-RateLimit-Remaining was 0 */
    long requests, retries;
    char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc = CURLE_OK;
static void curl_init_once(void)
{
    g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

double bf_http_epoch_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* --- pure helpers -------------------------------------------------------- */

void bf_http_redact(char *s, const char *const *secrets, int n)
{
    if (!s)
        return;
    for (int i = 0; i < n; i++) {
        const char *sec = secrets[i];
        size_t k = sec ? strlen(sec) : 0;
        if (k < 4)
            continue;
        char *p;
        while ((p = strstr(s, sec)) != NULL) {
            memcpy(p, "***", 3);
            memmove(p + 3, p + k, strlen(p + k) + 1);
        }
    }
}

static int is_secret_param(const char *name, size_t n)
{
    static const char *const names[] = {"apikey", "api_key", "token", "key", "secret"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && strncasecmp(name, names[i], n) == 0)
            return 1;
    return 0;
}

void bf_http_redact_url(const char *url, char *out, size_t cap)
{
    if (cap == 0)
        return;
    size_t o = 0;
    const char *q = strchr(url, '?');
    size_t head = q ? (size_t)(q - url) + 1 : strlen(url);
    for (size_t i = 0; i < head && o + 1 < cap; i++)
        out[o++] = url[i];
    const char *p = q ? q + 1 : url + head;
    while (*p && o + 1 < cap) {
        const char *amp = strchr(p, '&');
        const char *end = amp ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq && is_secret_param(p, (size_t)(eq - p))) {
            for (const char *t = p; t <= eq && o + 1 < cap; t++)
                out[o++] = *t;
            for (const char *t = "***"; *t && o + 1 < cap; t++)
                out[o++] = *t;
        } else {
            for (const char *t = p; t < end && o + 1 < cap; t++)
                out[o++] = *t;
        }
        if (amp && o + 1 < cap)
            out[o++] = '&';
        p = amp ? amp + 1 : end;
    }
    out[o] = '\0';
}

bf_status bf_http_urlencode(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            if (o + 1 >= cap)
                goto small;
            out[o++] = (char)*p;
        } else {
            if (o + 3 >= cap)
                goto small;
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    if (o >= cap)
        goto small;
    out[o] = '\0';
    return BF_OK;
small:
    if (cap)
        out[0] = '\0';
    return BF_FAIL(BF_EINVAL, "value too long to URL-encode in %zu bytes (%zu characters)", cap,
                   strlen(s));
}

double bf_http_parse_retry_after(const char *v, double now_epoch)
{
    while (*v == ' ' || *v == '\t')
        v++;
    if (!*v)
        return -1;
    char *end;
    double d = strtod(v, &end);
    if (end != v) {
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        return *end == '\0' && d >= 0 ? d : -1;
    }
    time_t t = curl_getdate(v, NULL);
    if (t == (time_t)-1)
        return -1;
    double w = (double)t - now_epoch;
    return w > 0 ? w : 0;
}

double bf_http_backoff(double base_s, double max_s, int k, double u)
{
    double cap = base_s;
    for (int i = 0; i < k && cap < max_s; i++)
        cap *= 2;
    if (cap > max_s)
        cap = max_s;
    return u * cap;
}

/* --- client -------------------------------------------------------------- */

bf_status bf_http_client_new(const bf_http_opts *opts, bf_http_client **out)
{
    *out = NULL;
    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init_rc != CURLE_OK)
        return BF_FAIL(BF_ENET, "libcurl initialization failed: %s",
                       curl_easy_strerror(g_curl_init_rc));
    bf_http_client *c = calloc(1, sizeof *c);
    BF_CHECK_ALLOC(c, sizeof *c);
    c->o = *opts;
    if (!c->o.what)
        c->o.what = "HTTP";
    if (c->o.max_retries < 0)
        c->o.max_retries = 5;
    if (c->o.backoff_base_s <= 0)
        c->o.backoff_base_s = 0.5;
    if (c->o.backoff_max_s <= 0)
        c->o.backoff_max_s = 30;
    if (c->o.max_wait_s <= 0)
        c->o.max_wait_s = 120;
    if (c->o.timeout_s <= 0)
        c->o.timeout_s = 120;
    if (c->o.connect_timeout_s <= 0)
        c->o.connect_timeout_s = 15;
    snprintf(c->ua, sizeof c->ua, "barforge/%s", BF_VERSION);
    uint64_t seed = c->o.jitter_seed;
    if (!seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec;
    }
    bf_rng_init(&c->rng, seed, BF_RNG_STREAM_JITTER, (uint64_t)bf_proc_rank());
    c->curl = curl_easy_init();
    if (!c->curl) {
        free(c);
        return BF_FAIL(BF_ENET, "curl_easy_init failed");
    }
    *out = c;
    return BF_OK;
}

void bf_http_client_free(bf_http_client *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nsecrets; i++) {
        /* do not leave the key lying in freed memory */
        volatile char *p = c->secrets[i];
        while (*p)
            *p++ = 0;
        free(c->secrets[i]);
    }
    free(c->secrets);
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c);
}

bf_status bf_http_add_secret(bf_http_client *c, const char *secret)
{
    if (!secret || strlen(secret) < 4)
        return BF_OK;
    char **s = realloc(c->secrets, (size_t)(c->nsecrets + 1) * sizeof *s);
    BF_CHECK_ALLOC(s, (size_t)(c->nsecrets + 1) * sizeof *s);
    c->secrets = s;
    s[c->nsecrets] = strdup(secret);
    BF_CHECK_ALLOC(s[c->nsecrets], strlen(secret) + 1);
    c->nsecrets++;
    return BF_OK;
}

void bf_http_redact_with(const bf_http_client *c, char *s)
{
    bf_http_redact(s, (const char *const *)c->secrets, c->nsecrets);
}

bf_status bf_http_fail_at(const bf_http_client *c, bf_status st, const char *file, int line,
                          const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (c)
        bf_http_redact_with(c, buf);
    return bf_fail(st, file, line, "%s", buf);
}

void bf_http_response_free(bf_http_response *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

void bf_http_stats(const bf_http_client *c, long *requests, long *retries)
{
    if (requests)
        *requests = c->requests;
    if (retries)
        *retries = c->retries;
}

typedef struct sink {
    bf_http_response *r;
    size_t cap;
    int overflow;
} sink;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    sink *s = ud;
    size_t n = size * nmemb;
    bf_http_response *r = s->r;
    if (r->len + n + 1 > BODY_MAX) {
        s->overflow = 1;
        return 0;
    }
    if (r->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 16384;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b)
            return 0;
        r->body = b;
        s->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static void header_value(const char *line, size_t n, size_t name_len, char *out, size_t cap)
{
    size_t i = name_len + 1;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    size_t j = n;
    while (j > i && (line[j - 1] == '\r' || line[j - 1] == '\n' || line[j - 1] == ' '))
        j--;
    size_t k = j - i < cap - 1 ? j - i : cap - 1;
    memcpy(out, line + i, k);
    out[k] = '\0';
}

static int header_is(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    return n > k && line[k] == ':' && strncasecmp(line, name, k) == 0;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
    bf_http_response *r = ud;
    size_t n = size * nmemb;
    char v[128];
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* a new response (redirect, 100-continue): forget earlier headers */
        r->retry_after_s = -1;
        r->reset_epoch = -1;
        r->remaining = -1;
        r->content_type[0] = '\0';
    } else if (header_is(line, n, "Retry-After")) {
        header_value(line, n, strlen("Retry-After"), v, sizeof v);
        r->retry_after_s = bf_http_parse_retry_after(v, bf_http_epoch_now());
    } else if (header_is(line, n, "X-RateLimit-Reset")) {
        header_value(line, n, strlen("X-RateLimit-Reset"), v, sizeof v);
        char *end;
        double t = strtod(v, &end);
        r->reset_epoch = end != v && t > 0 ? t : -1;
    } else if (header_is(line, n, "X-RateLimit-Remaining")) {
        header_value(line, n, strlen("X-RateLimit-Remaining"), v, sizeof v);
        char *end;
        long k = strtol(v, &end, 10);
        r->remaining = end != v && k >= 0 ? k : -1;
    } else if (header_is(line, n, "Content-Type")) {
        header_value(line, n, strlen("Content-Type"), r->content_type, sizeof r->content_type);
    }
    return n;
}

static int curl_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
        return 1;
    default:
        return 0;
    }
}

static bf_status setup(bf_http_client *c, const char *url, struct curl_slist *hl,
                       bf_http_response *resp, sink *s)
{
    CURL *h = c->curl;
    curl_easy_reset(h);
    c->errbuf[0] = '\0';
    int bad = 0;
    bad |= curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_HTTPGET, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_USERAGENT, c->o.user_agent ? c->o.user_agent : c->ua) !=
           CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(c->o.timeout_s * 1000)) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->o.connect_timeout_s * 1000)) !=
           CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, c->o.follow_redirects ? 1L : 0L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_WRITEDATA, s) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_HEADERDATA, resp) != CURLE_OK;
    if (bad)
        return BF_FAIL(BF_ENET, "%s: setting libcurl options failed", c->o.what);
    return BF_OK;
}

/* one attempt; *rc and resp describe what happened */
static void attempt(bf_http_client *c, bf_http_response *resp, sink *s, CURLcode *rc)
{
    resp->len = 0;
    if (resp->body)
        resp->body[0] = '\0';
    resp->status = 0;
    resp->retry_after_s = -1;
    resp->reset_epoch = -1;
    resp->remaining = -1;
    resp->content_type[0] = '\0';
    s->overflow = 0;
    *rc = curl_easy_perform(c->curl);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->attempts++;
    c->requests++;
}

static double wait_for_429(bf_http_client *c, const bf_http_response *r, int k)
{
    double w = -1;
    if (r->retry_after_s >= 0)
        w = r->retry_after_s;
    else if (r->reset_epoch > 0)
        w = r->reset_epoch - bf_http_epoch_now() + 0.05;
    if (w < 0)
        w = bf_http_backoff(c->o.backoff_base_s, c->o.backoff_max_s, k,
                            bf_rng_next_uniform(&c->rng));
    /* a little jitter so ranks released by the same reset do not stampede */
    w += 0.1 * c->o.backoff_base_s * bf_rng_next_uniform(&c->rng);
    return w > c->o.max_wait_s ? c->o.max_wait_s : w;
}

static void body_snippet(const bf_http_response *r, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < r->len && k + 1 < cap && k < 200; i++)
        out[k++] = isprint((unsigned char)r->body[i]) ? r->body[i] : ' ';
    out[k] = '\0';
}

bf_status bf_http_get(bf_http_client *c, const char *url, const char *const *headers, int n,
                      bf_http_response *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->retry_after_s = -1;
    resp->reset_epoch = -1;
    resp->remaining = -1;
    char shown[1024];
    bf_http_redact_url(url, shown, sizeof shown);
    bf_http_redact_with(c, shown);

    struct curl_slist *hl = NULL;
    for (int i = 0; i < n; i++) {
        struct curl_slist *t = curl_slist_append(hl, headers[i]);
        if (!t) {
            curl_slist_free_all(hl);
            return BF_FAIL(BF_ENOMEM, "out of memory building HTTP headers");
        }
        hl = t;
    }
    sink s = {.r = resp};
    bf_status st = setup(c, url, hl, resp, &s);
    for (int k = 0; st == BF_OK; k++) {
        double hold = c->not_before - bf_http_epoch_now();
        if (hold > 0)
            bf_sleep_s(hold < c->o.max_wait_s ? hold : c->o.max_wait_s);
        if (c->o.limiter)
            bf_ratelimit_acquire(c->o.limiter);
        CURLcode rc;
        attempt(c, resp, &s, &rc);
        BF_DEBUG("%s: GET %s -> %ld (%s, %zu bytes)", c->o.what, shown, resp->status,
                 rc == CURLE_OK ? "ok" : curl_easy_strerror(rc), resp->len);
        char why[CURL_ERROR_SIZE + 64];
        double wait;
        if (rc == CURLE_OK) {
            long code = resp->status;
            if (code != 429 && code != 408 && code < 500) {
                if (code >= 200 && code < 300 && resp->remaining == 0 && resp->reset_epoch > 0)
                    c->not_before = resp->reset_epoch + 0.05;
                break; /* final: the provider reads the status */
            }
            char snip[256];
            body_snippet(resp, snip, sizeof snip);
            snprintf(why, sizeof why, "HTTP %ld%s%s", code, snip[0] ? ": " : "", snip);
            if (code == 429)
                wait = wait_for_429(c, resp, k);
            else
                wait = bf_http_backoff(c->o.backoff_base_s, c->o.backoff_max_s, k,
                                       bf_rng_next_uniform(&c->rng));
        } else if (s.overflow) {
            st = BF_FAIL(BF_EHTTP, "%s: answer from %s is larger than %zu MiB; refusing it",
                         c->o.what, shown, BODY_MAX >> 20);
            break;
        } else if (curl_retryable(rc)) {
            snprintf(why, sizeof why, "%s%s%s", curl_easy_strerror(rc), c->errbuf[0] ? ": " : "",
                     c->errbuf);
            wait = bf_http_backoff(c->o.backoff_base_s, c->o.backoff_max_s, k,
                                   bf_rng_next_uniform(&c->rng));
        } else {
            bf_status code =
                rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL ? BF_EINVAL : BF_ENET;
            st = bf_http_fail(c, code, "%s: GET %s failed: %s%s%s%s", c->o.what, shown,
                              curl_easy_strerror(rc), c->errbuf[0] ? " (" : "", c->errbuf,
                              c->errbuf[0] ? ")" : "");
            break;
        }
        bf_http_redact_with(c, why);
        if (k >= c->o.max_retries) {
            int http = rc == CURLE_OK;
            st = bf_http_fail(c, http ? BF_EHTTP : BF_ENET,
                              "%s: GET %s still failing after %d attempts: %s", c->o.what, shown,
                              resp->attempts, why);
            break;
        }
        BF_WARN("%s: %s from %s; retry %d/%d in %.2f s", c->o.what, why, shown, k + 1,
                c->o.max_retries, wait);
        c->retries++;
        bf_sleep_s(wait);
    }
    curl_slist_free_all(hl);
    if (st == BF_OK && !resp->body) {
        resp->body = calloc(1, 1);
        BF_CHECK_ALLOC(resp->body, 1);
    }
    return st;
}
