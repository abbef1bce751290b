/* test_provider_wire.c - the three wire-format parsers fed bodies directly,
 * and the shared finishing steps (session filter, grid, 30m -> 1h).
 * Expected UTC values were computed independently (Python zoneinfo). */
#include "core/data/netprov.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/test_util.h"

#define T0930_0312 1710250200LL /* 2024-03-12 09:30 EDT */

static void test_alpaca(void)
{
    const char *syms[3] = {"AAPL", "MSFT", "ZZZ"};
    bf_bars out[3];
    bf_status st[3] = {BF_OK, BF_OK, BF_OK};
    char msg[3][BF_ERRMSG_MAX] = {{0}};
    for (int i = 0; i < 3; i++)
        bf_bars_init(&out[i], syms[i], 900);
    char tok[64], err[256];
    const char *page =
        "{\"bars\":{\"AAPL\":[{\"t\":\"2024-03-12T13:30:00Z\",\"o\":1.5,\"h\":2,\"l\":1,\"c\":1.75,"
        "\"v\":100,\"n\":7,\"vw\":1.6},{\"t\":\"2024-03-12T13:45:00Z\",\"o\":1,\"h\":1,\"l\":1,"
        "\"c\":1,\"v\":5}],\"MSFT\":[{\"t\":\"2024-03-12T13:30:00Z\",\"o\":\"abc\",\"h\":1,"
        "\"l\":1,\"c\":1,\"v\":1}],\"OTHER\":[]},\"next_page_token\":\"QUFQTHwyMDI0\"}";
    bf_status s = bf_alpaca_parse_page(page, strlen(page), syms, 3, out, st, msg, tok, sizeof tok,
                                       err, sizeof err);
    T_CHECK(s == BF_OK, "page: %d %s", s, err);
    T_CHECK(!strcmp(tok, "QUFQTHwyMDI0"), "token \"%s\"", tok);
    T_CHECK(out[0].n == 2 && out[0].ts[0] == T0930_0312 && out[0].open[0] == 1.5 &&
               out[0].vwap[0] == 1.6 && out[0].trades[0] == 7,
           "AAPL row 0: n=%lld ts=%lld", (long long)out[0].n, (long long)out[0].ts[0]);
    T_CHECK(isnan(out[0].vwap[1]) && out[0].trades[1] == -1, "absent vw/n must be NaN/-1");
    T_CHECK(st[1] == BF_ECORRUPT && strstr(msg[1], "'o' is \"abc\"") && out[1].n == 0,
           "MSFT: st %d msg \"%s\"", st[1], msg[1]);
    T_CHECK(st[2] == BF_OK && out[2].n == 0, "ZZZ untouched");

    const char *last = "{\"bars\":{},\"next_page_token\":null}";
    s = bf_alpaca_parse_page(last, strlen(last), syms, 3, out, st, msg, tok, sizeof tok, err,
                             sizeof err);
    T_CHECK(s == BF_OK && tok[0] == '\0', "null token must read as none");
    const char *empty_tok = "{\"bars\":{},\"next_page_token\":\"\"}";
    s = bf_alpaca_parse_page(empty_tok, strlen(empty_tok), syms, 3, out, st, msg, tok, sizeof tok,
                             err, sizeof err);
    T_CHECK(s == BF_OK && tok[0] == '\0', "empty token must read as none");
    const char *bad[] = {"{\"bars\":{\"AAPL\":[{\"t\":", "{\"bars\":[]}", "[1,2]",
                         "{\"bars\":{},\"next_page_token\":5}"};
    for (int k = 0; k < 4; k++) {
        s = bf_alpaca_parse_page(bad[k], strlen(bad[k]), syms, 3, out, st, msg, tok, sizeof tok,
                                 err, sizeof err);
        T_CHECK(s == BF_ECORRUPT, "bad page %d accepted: %s", k, bad[k]);
    }
    for (int i = 0; i < 3; i++)
        bf_bars_free(&out[i]);
}

static void test_yahoo(void)
{
    bf_bars b;
    bf_bars_init(&b, "AAPL", 900);
    char err[256];
    int ny;
    const char *ok =
        "{\"chart\":{\"result\":[{\"meta\":{\"exchangeTimezoneName\":\"America/New_York\","
        "\"gmtoffset\":-14400},\"timestamp\":[1710250200,1710251100,1710252000],"
        "\"indicators\":{\"quote\":[{\"open\":[1,null,3],\"high\":[1,null,3],\"low\":[1,null,3],"
        "\"close\":[1,null,3],\"volume\":[10,null,null]}]}}],\"error\":null}}";
    bf_status s = bf_yahoo_parse_chart(ok, strlen(ok), 900, &b, &ny, err, sizeof err);
    T_CHECK(s == BF_OK && ny && b.n == 2 && b.ts[1] == 1710252000 && b.volume[1] == 0 &&
               isnan(b.vwap[0]) && b.trades[0] == -1,
           "nulls: status %d n %lld", s, (long long)b.n);
    bf_bars_clear(&b);
    struct {
        const char *body;
        bf_status want;
        const char *text;
    } cases[] = {
        {"{\"chart\":{\"result\":null,\"error\":{\"code\":\"Not Found\",\"description\":\"No data "
         "found, symbol may be delisted\"}}}",
         BF_ENODATA, "delisted"},
        {"{\"chart\":{\"result\":null,\"error\":{\"code\":\"Unprocessable Entity\",\"description\":"
         "\"15m data not available for startTime=1 and endTime=2. The requested range must be "
         "within the last 60 days.\"}}}",
         BF_EINVAL, "last 60 days"},
        {"{\"chart\":{\"result\":null,\"error\":{\"code\":\"Bad Request\",\"description\":"
         "\"Invalid input - interval=7m is not supported.\"}}}",
         BF_EINVAL, "interval=7m"},
        {"{\"chart\":{\"result\":[{\"meta\":{},\"timestamp\":[1,2],\"indicators\":{\"quote\":[{"
         "\"open\":[1],\"high\":[1],\"low\":[1],\"close\":[1],\"volume\":[1]}]}}],\"error\":null}}",
         BF_ECORRUPT, "array of 2"},
        {"{\"chart\":{\"result\":[{\"meta\":{},\"timestamp\":[1],\"indicators\":{\"quote\":[{"
         "\"open\":[\"1\"],\"high\":[1],\"low\":[1],\"close\":[1],\"volume\":[1]}]}}]}}",
         BF_ECORRUPT, "open[0] is \"1\""},
        {"{\"chart\":{\"result\":[{\"meta\":{\"exchangeTimezoneName\":\"America/New_York\"},"
         "\"indicators\":{\"quote\":[{}]}}],\"error\":null}}",
         BF_OK, ""},
        {"{\"chart\":", BF_ECORRUPT, "malformed"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        err[0] = '\0';
        s = bf_yahoo_parse_chart(cases[k].body, strlen(cases[k].body), 900, &b, &ny, err,
                                 sizeof err);
        T_CHECK(s == cases[k].want && strstr(err, cases[k].text),
               "yahoo case %zu: status %d (want %d), err \"%s\"", k, s, cases[k].want, err);
        T_CHECK(b.n == 0, "yahoo case %zu left %lld bars", k, (long long)b.n);
    }
    const char *tokyo = "{\"chart\":{\"result\":[{\"meta\":{\"exchangeTimezoneName\":\"Asia/Tokyo\""
                        "}}],\"error\":null}}";
    s = bf_yahoo_parse_chart(tokyo, strlen(tokyo), 900, &b, &ny, err, sizeof err);
    T_CHECK(s == BF_OK && ny == 0, "Asia/Tokyo read as New York");
    bf_bars_free(&b);
}

static void test_alphavantage(void)
{
    bf_bars b;
    bf_bars_init(&b, "IBM", 900);
    char msg[512];
    int thr;
    /* labels are naive US/Eastern bar starts, newest first; two DST changes */
    const char *body =
        "{\"Meta Data\":{\"1. Information\":\"Intraday (15min)\",\"6. Time Zone\":\"US/Eastern\"},"
        "\"Time Series (15min)\":{"
        "\"2024-11-04 09:30:00\":{\"1. open\":\"4.0\",\"2. high\":\"4\",\"3. low\":\"4\","
        "\"4. close\":\"4\",\"5. volume\":\"40\"},"
        "\"2024-11-01 09:30:00\":{\"1. open\":\"3.0\",\"2. high\":\"3\",\"3. low\":\"3\","
        "\"4. close\":\"3\",\"5. volume\":\"30\"},"
        "\"2024-03-11 09:30:00\":{\"1. open\":\"2.0\",\"2. high\":\"2\",\"3. low\":\"2\","
        "\"4. close\":\"2\",\"5. volume\":\"20\"},"
        "\"2024-03-08 09:30:00\":{\"1. open\":\"1.2500\",\"2. high\":\"1.5\",\"3. low\":\"1\","
        "\"4. close\":\"1.25\",\"5. volume\":\"10\"}}}";
    bf_status s = bf_av_parse_body(body, strlen(body), 900, &b, &thr, msg, sizeof msg);
    T_CHECK(s == BF_OK && b.n == 4, "AV body: %d %s", s, msg);
    const long long want[4] = {1730730600, 1730467800, 1710163800, 1709908200};
    for (int i = 0; i < 4 && i < b.n; i++)
        T_CHECK(b.ts[i] == want[i], "AV row %d: ts %lld, want %lld", i, (long long)b.ts[i], want[i]);
    T_CHECK(b.n == 4 && b.open[3] == 1.25 && b.volume[0] == 40 && isnan(b.vwap[0]), "AV values");
    bf_bars_clear(&b);
    struct {
        const char *body;
        bf_status want;
        int throttled;
        const char *text;
    } cases[] = {
        {"{\"Note\":\"Thank you for using Alpha Vantage! Our standard API call frequency is 5 "
         "calls per minute and 500 calls per day.\"}",
         BF_EQUOTA, 1, "frequency"},
        {"{\"Information\":\"Thank you for using Alpha Vantage! Our standard API rate limit is 25 "
         "requests per day. Please subscribe to any of the premium plans\"}",
         BF_EQUOTA, 0, "25 requests per day"},
        {"{\"Information\":\"Please consider spreading out your free API requests more sparingly "
         "(1 request per second).\"}",
         BF_EQUOTA, 1, "spreading"},
        {"{\"Information\":\"Thank you for using Alpha Vantage! This is a premium endpoint.\"}",
         BF_EAUTH, 0, "premium endpoint"},
        {"{\"Error Message\":\"Invalid API call. Please retry or visit the documentation for "
         "TIME_SERIES_INTRADAY.\"}",
         BF_ENOTFOUND, 0, "Invalid API call"},
        {"{\"Error Message\":\"the parameter apikey is invalid or missing.\"}", BF_EAUTH, 0,
         "apikey"},
        {"{\"Meta Data\":{},\"Time Series (5min)\":{}}", BF_ECORRUPT, 0, "Time Series (15min)"},
        {"{\"Time Series (15min)\":{\"2024-03-08 09:30:00\":{\"1. open\":\"x\"}}}", BF_ECORRUPT, 0,
         "\"x\""},
        {"{\"Time Series (15min)\":{\"2024-03-08T09:30:00\":{}}}", BF_ECORRUPT, 0, "label"},
        {"{\"Meta Data\":{\"6. Time Zone\":\"Europe/London\"},\"Time Series (15min)\":{}}",
         BF_ECORRUPT, 0, "Europe/London"},
        {"{\"Time Series (15min)\":{}}", BF_OK, 0, ""},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        msg[0] = '\0';
        s = bf_av_parse_body(cases[k].body, strlen(cases[k].body), 900, &b, &thr, msg, sizeof msg);
        T_CHECK(s == cases[k].want && thr == cases[k].throttled && strstr(msg, cases[k].text),
               "AV case %zu: status %d (want %d) throttled %d msg \"%s\"", k, s, cases[k].want, thr,
               msg);
        bf_bars_clear(&b);
    }
    bf_bars_free(&b);
}

static void push(bf_bars *b, long long ts, double o, double v, double vw, long long n)
{
    bf_bars_push(b, ts, o, o + 1, o - 1, o + 0.5, v, vw, n);
}

static void test_finish_and_regrid(void)
{
    bf_bars b;
    bf_bars_init(&b, "X", 1800);
    long long t = T0930_0312;
    push(&b, t + 1800, 2, 20, 2.1, 5);      /* 10:00 */
    push(&b, t, 1, 10, 1.1, 4);             /* 09:30 (out of order on purpose) */
    push(&b, 1710230400LL, 9, 1, NAN, -1);  /* 04:00, extended */
    push(&b, t + 3600, 3, 30, 3.1, 6);      /* 10:30 */
    push(&b, t + 5400, 4, 40, 4.1, 7);      /* 11:00 */
    push(&b, t + 5400 + 77, 5, 1, NAN, -1); /* 11:01:17, off the grid */
    push(&b, 1720101600LL, 6, 1, NAN, -1);  /* 2024-07-04 10:00, a holiday */
    int64_t off = 0;
    bf_status s = bf_np_finish(&b, 1800, 0, 2000000000, 0, 1, 2000000000, &off);
    T_CHECK(s == BF_OK && b.n == 4 && b.ts[0] == t && b.ts[3] == t + 5400,
           "finish kept %lld bars (want 09:30, 10:00, 10:30, 11:00)", (long long)b.n);
    T_CHECK(off == 2, "off-grid count %lld, want 2 (11:01:17 and the holiday)", (long long)off);
    s = bf_np_regrid(&b, 3600, 0, 0, 2000000000, 2000000000);
    T_CHECK(s == BF_OK && b.n == 2 && b.interval_s == 3600, "regrid: %lld bars", (long long)b.n);
    if (b.n == 2) {
        T_CHECK(b.ts[0] == t && b.open[0] == 1 && b.high[0] == 3 && b.low[0] == 0 &&
                   b.close[0] == 2.5 && b.volume[0] == 30 && b.trades[0] == 9,
               "09:30 hour: o %g h %g l %g c %g v %g n %lld", b.open[0], b.high[0], b.low[0],
               b.close[0], b.volume[0], (long long)b.trades[0]);
        double vw = (1.1 * 10 + 2.1 * 20) / 30;
        T_CHECK(fabs(b.vwap[0] - vw) < 1e-12, "09:30 hour vwap %g, want %g", b.vwap[0], vw);
        T_CHECK(b.ts[1] == t + 3600 && b.volume[1] == 70, "10:30 hour");
    }
    /* a range that ends inside an hour drops that partial hour; now works likewise */
    bf_bars_clear(&b);
    push(&b, t, 1, 10, 1.1, 4);
    push(&b, t + 1800, 2, 20, 2.1, 5);
    push(&b, t + 3600, 3, 30, NAN, 6);
    bf_np_regrid(&b, 3600, 0, 0, t + 5400, 2000000000);
    T_CHECK(b.n == 1 && b.ts[0] == t, "partial hour at the range end kept: n %lld", (long long)b.n);
    /* the bar still forming at `now` is dropped */
    bf_bars_clear(&b);
    push(&b, t, 1, 10, 1.1, 4);
    push(&b, t + 1800, 2, 20, 2.1, 5);
    bf_np_finish(&b, 1800, 0, 2000000000, 0, 1, t + 1800 + 600, NULL);
    T_CHECK(b.n == 1, "bar forming at now kept: n %lld", (long long)b.n);
    /* off-grid bars outside the range asked are not counted */
    bf_bars_clear(&b);
    push(&b, t, 1, 10, 1.1, 4);
    push(&b, 1720101600LL, 6, 1, NAN, -1); /* the 2024-07-04 holiday, outside the range */
    off = -1;
    bf_np_finish(&b, 1800, t, t + 7200, 0, 1, 2000000000, &off);
    T_CHECK(b.n == 1 && off == 0, "out-of-range holiday bar: n %lld off %lld", (long long)b.n,
           (long long)off);
    /* daily: moved to 09:30 New York of its date */
    bf_bars_clear(&b);
    b.interval_s = 86400;
    push(&b, 1710216000LL, 1, 1, NAN, -1); /* 2024-03-12T04:00Z = midnight EDT */
    bf_np_finish(&b, 86400, 0, 2000000000, 0, 1, 2000000000, NULL);
    T_CHECK(b.n == 1 && b.ts[0] == t, "daily ts %lld, want %lld", (long long)b.ts[0], t);
    bf_bars_free(&b);

    char day[16];
    bf_np_ny_date(1710046799LL, day, sizeof day); /* 2024-03-10T04:59:59Z */
    T_CHECK(!strcmp(day, "2024-03-09"), "NY date %s", day);
    bf_np_ny_date(1710050400LL, day, sizeof day); /* 06:00Z, after the change */
    T_CHECK(!strcmp(day, "2024-03-10"), "NY date %s", day);
}

int main(void)
{
    test_alpaca();
    test_yahoo();
    test_alphavantage();
    test_finish_and_regrid();
    if (bf_test_failures) {
        fprintf(stderr, "test_provider_wire: %d check(s) failed\n", bf_test_failures);
        return 1;
    }
    printf("test_provider_wire: all checks passed\n");
    return 0;
}
