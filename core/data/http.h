/* http.h - HTTP GET for the network providers: libcurl with retries,
 * exponential backoff with full jitter, 429 waits, pacing and redaction.
 *
 * One client per provider instance keeps one curl handle (connection reuse).
 * bf_http_get() sends a GET and decides what to do with the answer:
 *   - 2xx and every 4xx except 408/429: final; BF_OK with the response, so
 *     the provider can turn 401/403/404/422 bodies into its own clear errors.
 *     These are never retried.
 *   - 429: wait until Retry-After (seconds or HTTP date), else until
 *     X-RateLimit-Reset (Unix seconds), else the backoff; capped at
 *     max_wait_s; then retry.
 *   - 5xx, 408 and transport failures (refused, reset, timeout, truncated
 *     body, broken gzip): retry after U(0, min(backoff_max_s,
 *     backoff_base_s * 2^k)) seconds ("full jitter"), k = 0, 1, ...
 *   - after max_retries retries: BF_EHTTP (HTTP status) or BF_ENET.
 * A 2xx answer with X-RateLimit-Remaining: 0 holds the next request until the
 * reset time, so a client never spends a request just to receive a 429.
 * TLS verification stays on (libcurl's default; this module never turns it off).
 * Only http and https URLs are accepted. Redirects are not followed unless
 * asked, so credential headers never travel to another host.
 *
 * Secrets registered with bf_http_add_secret() are replaced by "***" in every
 * message this module logs or records, and bf_http_fail() does the same for
 * the provider's own messages. Query parameters named apikey, api_key, token,
 * key or secret are also masked in any URL put in a message.
 */
#ifndef BF_HTTP_H
#define BF_HTTP_H

#include "core/base/status.h"
#include "core/data/ratelimit.h"

#include <stddef.h>
#include <stdint.h>

typedef struct bf_http_opts {
    const char *what;         /* provider name for messages, e.g. "Alpaca" */
    int max_retries;          /* retries after the first attempt; < 0: 5 */
    double backoff_base_s;    /* <= 0: 0.5 */
    double backoff_max_s;     /* <= 0: 30 */
    double max_wait_s;        /* cap on one 429 wait; <= 0: 120 */
    double timeout_s;         /* whole transfer; <= 0: 120 */
    double connect_timeout_s; /* <= 0: 15 */
    uint64_t jitter_seed;     /* 0: derived from pid and clock */
    const char *user_agent;   /* NULL: "barforge/<version>" */
    int follow_redirects;     /* 0: never follow (default) */
    bf_ratelimit *limiter;    /* acquired before every attempt; may be NULL */
} bf_http_opts;

typedef struct bf_http_response {
    long status; /* HTTP status of the final attempt */
    char *body;  /* NUL-terminated, decoded (gzip undone) */
    size_t len;
    double retry_after_s; /* Retry-After in seconds; < 0 when absent */
    double reset_epoch;   /* X-RateLimit-Reset (Unix seconds); < 0 when absent */
    long remaining;       /* X-RateLimit-Remaining; < 0 when absent */
    char content_type[96];
    int attempts; /* requests sent for this call */
} bf_http_response;

typedef struct bf_http_client bf_http_client;

bf_status bf_http_client_new(const bf_http_opts *opts, bf_http_client **out);
void bf_http_client_free(bf_http_client *c);
/* Register a secret to redact (copied; strings shorter than 4 are ignored). */
bf_status bf_http_add_secret(bf_http_client *c, const char *secret);
/* headers: "Name: value" strings, n of them. resp is filled on BF_OK and
 * must be released with bf_http_response_free() in every case. */
bf_status bf_http_get(bf_http_client *c, const char *url, const char *const *headers, int n,
                      bf_http_response *resp);
void bf_http_response_free(bf_http_response *r);
/* Totals since the client was made (requests sent, of which retries). */
void bf_http_stats(const bf_http_client *c, long *requests, long *retries);

/* Record an error like BF_FAIL, with the client's secrets redacted. */
bf_status bf_http_fail_at(const bf_http_client *c, bf_status st, const char *file, int line,
                          const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#define bf_http_fail(c, st, ...) bf_http_fail_at((c), (st), __FILE__, __LINE__, __VA_ARGS__)
/* Redact the client's secrets from s in place. */
void bf_http_redact_with(const bf_http_client *c, char *s);

/* --- helpers, pure ------------------------------------------------------- */

/* Replace every occurrence of each secret (length >= 4) in s by "***". */
void bf_http_redact(char *s, const char *const *secrets, int n);
/* Copy url into out with the values of credential-like query parameters
 * (apikey, api_key, token, key, secret; any case) replaced by "***". */
void bf_http_redact_url(const char *url, char *out, size_t cap);
/* Percent-encode s (RFC 3986 unreserved characters kept) into out;
 * BF_EINVAL when out is too small. */
bf_status bf_http_urlencode(const char *s, char *out, size_t cap);
/* Retry-After value: delta seconds or an HTTP date (relative to now_epoch);
 * returns < 0 when unparseable. */
double bf_http_parse_retry_after(const char *v, double now_epoch);
/* Full-jitter backoff for retry k (0-based) given a uniform u in [0,1). */
double bf_http_backoff(double base_s, double max_s, int k, double u);
/* Wall-clock seconds since the Unix epoch (sub-second). */
double bf_http_epoch_now(void);

#endif
