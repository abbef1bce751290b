/* test_time_rng.c - UTC time parsing/formatting (good and bad strings) and
 * the Philox known-answer vectors. */
#include "core/base/rng.h"
#include "core/base/timeutil.h"
#include "test_util.h"

static void good(const char *s, long long want)
{
    int64_t t = 0;
    bf_status st = bf_time_parse(s, &t);
    T_CHECK(st == BF_OK, "'%s' rejected: %s", s, bf_last_error());
    T_CHECK(t == want, "'%s' -> %lld, expected %lld", s, (long long)t, want);
}

static void bad(const char *s, const char *msg_part)
{
    int64_t t = 0;
    bf_clear_error();
    bf_status st = bf_time_parse(s, &t);
    T_CHECK(st == BF_EINVAL, "'%s' accepted (status %d)", s, st);
    T_CONTAINS(bf_last_error(), msg_part);
}

int main(void)
{
    good("1970-01-01", 0);
    good("2024-01-02", 1704153600);
    good("2024-01-02T14:30:00Z", 1704205800);
    good("2024-01-02T09:30:00-05:00", 1704205800);
    good("2024-07-01T09:30:00-04:00", 1719840600);
    good("2024-01-02T14:30:00.123456Z", 1704205800);
    good("2024-02-29T00:00:00+00:00", 1709164800);
    good("1999-12-31T23:59:59Z", 946684799);
    bad("2024-13-01", "no such day");
    bad("2023-02-29", "no such day");
    bad("2024-01-02T25:00:00Z", "out of range");
    bad("2024-01-02T14:30:00", "expected RFC 3339");
    bad("2024-01-02T14:30:00X", "missing 'Z'");
    bad("abc", "expected");
    bad("", "expected");
    bad("2024-01-02T14:30:00Zjunk", "trailing");
    bad("2024-1-2", "expected");

    char buf[32];
    bf_time_format(1704205800, buf, sizeof buf);
    T_EQ_S(buf, "2024-01-02T14:30:00Z");
    bf_date_format(1704205800, buf, sizeof buf);
    T_EQ_S(buf, "2024-01-02");
    /* round trip over a range of days, including before 1970 */
    for (int64_t t = -86400LL * 800; t < 86400LL * 30000; t += 86400 * 37 + 3601) {
        char s[32];
        int64_t back;
        bf_time_format(t, s, sizeof s);
        bf_time_parse(s, &back);
        T_CHECK(back == t, "round trip %lld -> %s -> %lld", (long long)t, s, (long long)back);
    }
    bf_civil c;
    bf_utc_to_civil(1704205800, &c);
    T_EQ_I(c.wday, 2); /* 2024-01-02 was a Tuesday */

    /* Philox4x32-10 known-answer tests (Random123 kat_vectors) */
    uint32_t o[4];
    bf_philox4x32(0, 0, 0, 0, 0, o);
    T_CHECK(o[0] == 0x6627e8d5u && o[1] == 0xe169c58du && o[2] == 0xbc57ac4cu && o[3] == 0x9b00dbd8u,
            "zero vector: %08x %08x %08x %08x", o[0], o[1], o[2], o[3]);
    bf_philox4x32(0xffffffffffffffffull, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, o);
    T_CHECK(o[0] == 0x408f276du && o[1] == 0x41c83b0eu && o[2] == 0xa20bc7c6u && o[3] == 0x6d5451fdu,
            "ones vector: %08x %08x %08x %08x", o[0], o[1], o[2], o[3]);
    bf_philox4x32(0x299f31d0a4093822ull, 0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, o);
    T_CHECK(o[0] == 0xd16cfe09u && o[1] == 0x94fdccebu && o[2] == 0x5001e420u && o[3] == 0x24126ea1u,
            "pi vector: %08x %08x %08x %08x", o[0], o[1], o[2], o[3]);

    /* sequential generator: mean/variance sanity and permutation validity */
    bf_rng r;
    bf_rng_init(&r, 42, BF_RNG_STREAM_SHUFFLE, 0);
    double s1 = 0, s2 = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double z = bf_rng_next_normal(&r);
        s1 += z;
        s2 += z * z;
    }
    T_NEAR(s1 / n, 0.0, 0.01);
    T_NEAR(s2 / n, 1.0, 0.02);
    int64_t perm[1000];
    int seen[1000] = {0};
    bf_rng_permutation(&r, perm, 1000);
    for (int i = 0; i < 1000; i++)
        seen[perm[i]]++;
    for (int i = 0; i < 1000; i++)
        T_CHECK(seen[i] == 1, "permutation: %d seen %d times", i, seen[i]);
    /* same seed and position -> same numbers */
    bf_rng a, b;
    bf_rng_init(&a, 7, 2, 5);
    bf_rng_init(&b, 7, 2, 5);
    for (int i = 0; i < 10; i++)
        T_EQ_I(bf_rng_u32(&a), bf_rng_u32(&b));
    return bf_test_done("test_time_rng");
}
