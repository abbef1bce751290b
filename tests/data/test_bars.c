/* test_bars.c - bar series operations, intervals, symbol validation and
 * universes (lists, files, default50, synthetic:N). */
#define _POSIX_C_SOURCE 200809L
#include "core/data/bars.h"
#include "core/data/universe.h"
#include "base/test_util.h"

#include <stdlib.h>
#include <unistd.h>

static void iv_ok(const char *s, int want)
{
    int v = -1;
    bf_status st = bf_interval_parse(s, &v);
    T_CHECK(st == BF_OK && v == want, "interval '%s' -> %d (status %d), expected %d", s, v, st, want);
}

static void iv_bad(const char *s)
{
    int v = -1;
    bf_clear_error();
    T_CHECK(bf_interval_parse(s, &v) == BF_EINVAL, "interval '%s' accepted as %d", s, v);
    if (s)
        T_CONTAINS(bf_last_error(), s);
}

static void sym_ok(const char *s)
{
    T_CHECK(bf_symbol_validate(s) == BF_OK, "symbol '%s' rejected: %s", s, bf_last_error());
}

static void sym_bad(const char *s, const char *why)
{
    bf_clear_error();
    T_CHECK(bf_symbol_validate(s) == BF_EINVAL, "symbol '%s' accepted", s ? s : "(null)");
    T_CONTAINS(bf_last_error(), why);
}

static void push(bf_bars *b, int64_t ts, double c)
{
    T_CHECK(bf_bars_push(b, ts, c, c + 1, c - 1, c, 100, c, 3) == BF_OK, "push failed");
}

int main(void)
{
    /* intervals and aliases */
    iv_ok("1m", 60);
    iv_ok("5m", 300);
    iv_ok("15m", 900);
    iv_ok("30m", 1800);
    iv_ok("1h", 3600);
    iv_ok("60m", 3600);
    iv_ok("1d", 86400);
    iv_ok("1Min", 60);
    iv_ok("15Min", 900);
    iv_ok("1Hour", 3600);
    iv_ok("1Day", 86400);
    iv_bad("2m");
    iv_bad("15min");
    iv_bad("");
    iv_bad(NULL);
    T_EQ_S(bf_interval_name(900), "15m");
    T_EQ_S(bf_interval_name(3600), "1h");
    T_EQ_S(bf_interval_alpaca(900), "15Min");
    T_EQ_S(bf_interval_alpaca(86400), "1Day");

    /* symbols: [A-Z0-9.-]{1,15}, not starting with . or - */
    sym_ok("AAPL");
    sym_ok("BRK.B");
    sym_ok("BF-B");
    sym_ok("S00001");
    sym_ok("ABCDEFGHIJKLMNO"); /* 15 */
    sym_bad("ABCDEFGHIJKLMNOP", "longer than 15");
    sym_bad("../x", "not allowed");
    sym_bad("..", "must not start");
    sym_bad("A/B", "'/' not allowed");
    sym_bad("aapl", "did you mean 'AAPL'");
    sym_bad("", "empty symbol");
    sym_bad(NULL, "missing symbol");
    sym_bad("-A", "must not start");
    sym_bad("A B", "' ' not allowed");
    sym_bad("A\nB", "not allowed");

    /* sort/dedup: the later duplicate wins */
    bf_bars b;
    bf_bars_init(&b, "AAPL", 900);
    push(&b, 300, 3);
    push(&b, 100, 1);
    push(&b, 200, 2);
    push(&b, 100, 10);
    T_EQ_I(bf_bars_sort_dedup(&b), 1);
    T_EQ_I(b.n, 3);
    T_EQ_I(b.ts[0], 100);
    T_NEAR(b.close[0], 10, 0);
    T_EQ_I(b.ts[2], 300);
    T_EQ_I(bf_bars_sort_dedup(&b), 0);
    /* merge: dst keeps its rows on equal ts; result sorted */
    bf_bars c;
    bf_bars_init(&c, "AAPL", 900);
    push(&c, 200, 99);
    push(&c, 400, 4);
    push(&c, 50, 0.5);
    T_CHECK(bf_bars_merge(&b, &c) == BF_OK, "merge: %s", bf_last_error());
    T_EQ_I(b.n, 5);
    T_EQ_I(b.ts[0], 50);
    T_EQ_I(b.ts[4], 400);
    T_NEAR(b.close[2], 2, 0); /* ts 200 kept from dst */
    for (int64_t i = 1; i < b.n; i++)
        T_CHECK(b.ts[i] > b.ts[i - 1], "merge result unsorted at %lld", (long long)i);
    bf_bars s;
    bf_bars_init(&s, "AAPL", 900);
    T_CHECK(bf_bars_slice(&b, 100, 300, &s) == BF_OK, "slice");
    T_EQ_I(s.n, 2);
    T_EQ_I(s.ts[0], 100);
    T_EQ_I(s.trades[1], 3);
    bf_bars_clear(&s);
    T_EQ_I(s.n, 0);
    /* growth past many doublings keeps content */
    bf_bars g;
    bf_bars_init(&g, "X", 60);
    for (int i = 0; i < 100000; i++)
        bf_bars_push(&g, i, i, i, i, i, i, i, i);
    T_EQ_I(g.n, 100000);
    T_EQ_I(g.ts[99999], 99999);
    T_NEAR(g.vwap[54321], 54321, 0);
    bf_bars_free(&g);
    bf_bars_free(&s);
    bf_bars_free(&c);
    bf_bars_free(&b);

    /* universes */
    bf_universe u;
    bf_universe_init(&u);
    T_CHECK(bf_universe_add_list(&u, " AAPL, MSFT,BRK.B ,AAPL") == BF_OK, "%s", bf_last_error());
    T_EQ_I(u.n, 3);
    T_EQ_S(u.sym[2], "BRK.B");
    bf_clear_error();
    T_CHECK(bf_universe_add_list(&u, "AAPL,,MSFT") == BF_EINVAL, "empty item accepted");
    T_CHECK(bf_universe_add_list(&u, "AAPL,../x") == BF_EINVAL, "../x accepted");
    T_CONTAINS(bf_last_error(), "../x");
    bf_universe_free(&u);

    char path[] = "/tmp/bf_test_symbols_XXXXXX";
    int fd = mkstemp(path);
    T_CHECK(fd >= 0, "mkstemp");
    const char *text = "# my list\nAAPL\n\n  MSFT  # trailing comment\nGOOGL,AMZN\nAAPL\n";
    T_CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write");
    close(fd);
    bf_universe_init(&u);
    T_CHECK(bf_universe_resolve(&u, NULL, path, NULL) == BF_OK, "%s", bf_last_error());
    T_EQ_I(u.n, 4);
    T_EQ_S(u.sym[3], "AMZN");
    T_EQ_S(u.source, "symbols-file");
    bf_universe_free(&u);
    unlink(path);

    bf_universe_init(&u);
    T_CHECK(bf_universe_resolve(&u, NULL, NULL, "synthetic:12") == BF_OK, "%s", bf_last_error());
    T_EQ_I(u.n, 12);
    T_EQ_S(u.sym[0], "S00001");
    T_EQ_S(u.sym[11], "S00012");
    bf_universe_free(&u);
    bf_universe_init(&u);
    T_CHECK(bf_universe_add_named(&u, "synthetic:123456") == BF_OK, "%s", bf_last_error());
    T_EQ_S(u.sym[0], "S000001");
    T_EQ_S(u.sym[123455], "S123456");
    bf_universe_free(&u);
    const char *bad_names[] = {"synthetic:0", "synthetic:", "synthetic:5x", "synthetic:2000000", "sp500"};
    for (int i = 0; i < 5; i++) {
        bf_universe_init(&u);
        T_CHECK(bf_universe_add_named(&u, bad_names[i]) == BF_EINVAL, "universe '%s' accepted",
                bad_names[i]);
        bf_universe_free(&u);
    }
    bf_universe_init(&u);
    T_CHECK(bf_universe_resolve(&u, "AAPL", NULL, "default50") == BF_EINVAL, "two sources accepted");
    T_CONTAINS(bf_last_error(), "only one of");
    bf_universe_free(&u);

    /* default50 (the tests run with BARFORGE_SOURCE_DIR set) */
    bf_universe_init(&u);
    T_CHECK(bf_universe_resolve(&u, NULL, NULL, NULL) == BF_OK, "default50: %s", bf_last_error());
    T_EQ_I(u.n, 50);
    T_EQ_S(u.source, "default50");
    int brk = 0;
    for (int i = 0; i < u.n; i++)
        brk |= strcmp(u.sym[i], "BRK.B") == 0;
    T_CHECK(brk, "default50 lacks BRK.B");
    bf_universe_free(&u);
    return bf_test_done("test_bars");
}
