/* test_http_util.c - the pure helpers of http.h: redaction, URL encoding,
 * Retry-After parsing, full-jitter backoff, and redaction in recorded errors. */
#include "core/base/rng.h"
#include "core/data/http.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/test_util.h"

static void expect_str(const char *got, const char *want, const char *what)
{
    T_CHECK(strcmp(got, want) == 0, "%s: got \"%s\", want \"%s\"", what, got, want);
}

static void test_redact(void)
{
    const char *secrets[] = {"SeCrEt42", "abc", NULL};
    char s[128] = "key SeCrEt42 twice SeCrEt42. abc stays";
    bf_http_redact(s, secrets, 3);
    expect_str(s, "key *** twice ***. abc stays", "redact");

    char out[256];
    bf_http_redact_url("https://h/query?function=X&apikey=K123&symbol=A&ApiKey=Z&page_token=t0k"
                       "&token=abc&secret=s",
                       out, sizeof out);
    expect_str(out,
               "https://h/query?function=X&apikey=***&symbol=A&ApiKey=***&page_token=t0k"
               "&token=***&secret=***",
               "redact_url");
    bf_http_redact_url("http://h/v2/stocks/bars", out, sizeof out);
    expect_str(out, "http://h/v2/stocks/bars", "redact_url without query");
    bf_http_redact_url("http://h/q?apikey=LONGSECRETVALUE", out, 20);
    T_CHECK(strlen(out) == 19 && !strstr(out, "LONG"), "truncated redact_url leaks: \"%s\"", out);
}

static void test_urlencode(void)
{
    char out[64];
    T_CHECK(bf_http_urlencode("A B,C:+/~-._z", out, sizeof out) == BF_OK, "urlencode failed");
    expect_str(out, "A%20B%2CC%3A%2B%2F~-._z", "urlencode");
    T_CHECK(bf_http_urlencode("2024-01-02T14:30:00Z", out, sizeof out) == BF_OK, "urlencode time");
    expect_str(out, "2024-01-02T14%3A30%3A00Z", "urlencode time");
    char small[4];
    T_CHECK(bf_http_urlencode("a:b", small, sizeof small) == BF_EINVAL,
           "urlencode into 4 bytes of 'a:b' should fail (needs 6)");
    T_CHECK(bf_http_urlencode("abc", small, sizeof small) == BF_OK && !strcmp(small, "abc"),
           "urlencode exact fit");
}

static void test_retry_after(void)
{
    double now = 1445412480.0 - 10; /* 10 s before Wed, 21 Oct 2015 07:28:00 GMT */
    T_CHECK(bf_http_parse_retry_after("2", now) == 2, "Retry-After 2");
    T_CHECK(bf_http_parse_retry_after(" 1.5 ", now) == 1.5, "Retry-After 1.5");
    double d = bf_http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now);
    T_CHECK(fabs(d - 10) < 1e-9, "Retry-After HTTP date: %g, want 10", d);
    T_CHECK(bf_http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now + 100) == 0,
           "a past date waits 0");
    T_CHECK(bf_http_parse_retry_after("soon", now) < 0, "garbage Retry-After accepted");
    T_CHECK(bf_http_parse_retry_after("-1", now) < 0, "negative Retry-After accepted");
    T_CHECK(bf_http_parse_retry_after("", now) < 0, "empty Retry-After accepted");
}

static void test_backoff(void)
{
    T_CHECK(bf_http_backoff(0.5, 30, 0, 0.0) == 0, "u=0 waits 0");
    T_CHECK(fabs(bf_http_backoff(0.5, 30, 0, 0.999) - 0.4995) < 1e-12, "k=0 cap is base");
    T_CHECK(fabs(bf_http_backoff(0.5, 30, 3, 0.5) - 2.0) < 1e-12, "k=3: cap 4, u=0.5 -> 2");
    T_CHECK(fabs(bf_http_backoff(0.5, 30, 40, 0.5) - 15.0) < 1e-12, "k=40 capped at 30");
    /* full jitter: uniform on [0, cap): mean cap/2, every draw below cap */
    bf_rng r;
    bf_rng_init(&r, 7, BF_RNG_STREAM_JITTER, 0);
    double sum = 0, mx = 0;
    int n = 20000;
    for (int i = 0; i < n; i++) {
        double w = bf_http_backoff(0.5, 30, 2, bf_rng_next_uniform(&r));
        sum += w;
        mx = w > mx ? w : mx;
    }
    T_CHECK(fabs(sum / n - 1.0) < 0.02, "mean backoff at k=2 is %g, want 1.0 +- 0.02", sum / n);
    T_CHECK(mx < 2.0 && mx > 1.95, "max backoff at k=2 is %g, want just under 2", mx);
}

static void test_fail_redacts(void)
{
    bf_http_opts o = {.what = "T"};
    bf_http_client *c;
    T_CHECK(bf_http_client_new(&o, &c) == BF_OK, "client: %s", bf_last_error());
    bf_http_add_secret(c, "TOPSECRET99");
    bf_status st =
        bf_http_fail(c, BF_EHTTP, "server said: bad key TOPSECRET99 (%s)", "TOPSECRET99");
    T_CHECK(st == BF_EHTTP, "status %d", st);
    T_CHECK(!strstr(bf_last_error(), "TOPSECRET99") && strstr(bf_last_error(), "bad key ***"),
           "recorded error not redacted: %s", bf_last_error());
    /* a GET to a refused port fails with the URL's key masked */
    bf_http_opts o2 = {.what = "T", .max_retries = 0, .backoff_base_s = 0.01};
    bf_http_client *c2;
    T_CHECK(bf_http_client_new(&o2, &c2) == BF_OK, "client");
    bf_http_response r;
    st = bf_http_get(c2, "http://127.0.0.1:9/q?apikey=TOPSECRET99", NULL, 0, &r);
    T_CHECK(st == BF_ENET, "GET to a closed port: status %d (%s)", st, bf_last_error());
    T_CHECK(!strstr(bf_last_error(), "TOPSECRET99"), "URL key in error: %s", bf_last_error());
    bf_http_response_free(&r);
    st = bf_http_get(c2, "ftp://127.0.0.1/x", NULL, 0, &r);
    T_CHECK(st == BF_EINVAL, "ftp URL: status %d (%s)", st, bf_last_error());
    bf_http_response_free(&r);
    bf_http_client_free(c2);
    bf_http_client_free(c);
}

int main(void)
{
    test_redact();
    test_urlencode();
    test_retry_after();
    test_backoff();
    test_fail_redacts();
    if (bf_test_failures) {
        fprintf(stderr, "test_http_util: %d check(s) failed\n", bf_test_failures);
        return 1;
    }
    printf("test_http_util: all checks passed\n");
    return 0;
}
