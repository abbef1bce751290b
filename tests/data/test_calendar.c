#define _POSIX_C_SOURCE 200809L
/* test_calendar.c - New York time across DST changes (2007+ and pre-2007
 * rules), NYSE holidays, special closures and early closes, and the bar grid
 * of a session. Runs with TZ set to a far-away zone to show that nothing
 * depends on it. */
#include "core/data/calendar.h"
#include "base/test_util.h"

#include <stdlib.h>
#include <time.h>

static int64_t D(int y, int m, int d) { return bf_days_from_civil(y, m, d); }
static int64_t U(int y, int m, int d, int h, int mi) { return D(y, m, d) * 86400 + h * 3600 + mi * 60; }

static void open_close(int y, int m, int d, int oh, int om, int ch, int cm)
{
    bf_session s;
    int ok = bf_cal_session(D(y, m, d), &s);
    T_CHECK(ok, "%04d-%02d-%02d should be a trading day", y, m, d);
    if (!ok)
        return;
    T_CHECK(s.open == U(y, m, d, oh, om), "%04d-%02d-%02d open %lld, expected %02d:%02d UTC (%lld)",
            y, m, d, (long long)s.open, oh, om, (long long)U(y, m, d, oh, om));
    T_CHECK(s.close == U(y, m, d, ch, cm),
            "%04d-%02d-%02d close %lld, expected %02d:%02d UTC (%lld)", y, m, d, (long long)s.close,
            ch, cm, (long long)U(y, m, d, ch, cm));
}

static void closed(int y, int m, int d, const char *name_part)
{
    bf_session s;
    T_CHECK(!bf_cal_session(D(y, m, d), &s), "%04d-%02d-%02d should be closed (%s)", y, m, d,
            name_part);
    const char *h = bf_cal_holiday(D(y, m, d));
    if (name_part) {
        T_CHECK(h != NULL, "%04d-%02d-%02d has no holiday name", y, m, d);
        if (h)
            T_CONTAINS(h, name_part);
    }
}

static void early(int y, int m, int d, int want)
{
    bf_session s;
    int ok = bf_cal_session(D(y, m, d), &s);
    T_CHECK(ok, "%04d-%02d-%02d should be a trading day", y, m, d);
    if (ok)
        T_CHECK(s.early_close == want, "%04d-%02d-%02d early_close %d, expected %d", y, m, d,
                s.early_close, want);
}

static int trading_days(int y)
{
    bf_session s;
    int n = 0;
    for (int64_t d = D(y, 1, 1); d < D(y + 1, 1, 1); d++)
        n += bf_cal_session(d, &s);
    return n;
}

int main(void)
{
    setenv("TZ", "Asia/Kathmandu", 1); /* +05:45: any use of local time would show */
    tzset();

    /* DST 2024: starts Sunday March 10 07:00 UTC, ends Sunday November 3 06:00 UTC */
    T_EQ_I(bf_cal_ny_offset(U(2024, 3, 10, 6, 59) + 59), -18000);
    T_EQ_I(bf_cal_ny_offset(U(2024, 3, 10, 7, 0)), -14400);
    T_EQ_I(bf_cal_ny_offset(U(2024, 11, 3, 5, 59) + 59), -14400);
    T_EQ_I(bf_cal_ny_offset(U(2024, 11, 3, 6, 0)), -18000);
    open_close(2024, 3, 8, 14, 30, 21, 0);  /* Friday before: EST */
    open_close(2024, 3, 11, 13, 30, 20, 0); /* Monday after: EDT */
    open_close(2024, 11, 1, 13, 30, 20, 0); /* Friday before: EDT */
    open_close(2024, 11, 4, 14, 30, 21, 0); /* Monday after: EST */
    /* wall time -> UTC around the changes */
    T_EQ_I(bf_cal_ny_to_utc(2024, 3, 10, 1, 59, 0), U(2024, 3, 10, 6, 59));
    T_EQ_I(bf_cal_ny_to_utc(2024, 3, 10, 2, 30, 0), U(2024, 3, 10, 7, 30)); /* gap: read as EST */
    T_EQ_I(bf_cal_ny_to_utc(2024, 3, 10, 3, 0, 0), U(2024, 3, 10, 7, 0));
    T_EQ_I(bf_cal_ny_to_utc(2024, 11, 3, 1, 30, 0), U(2024, 11, 3, 5, 30)); /* ambiguous: EDT */
    T_EQ_I(bf_cal_ny_to_utc(2024, 11, 3, 2, 30, 0), U(2024, 11, 3, 7, 30));
    bf_civil c;
    bf_cal_ny_civil(U(2024, 7, 1, 13, 30), &c);
    T_CHECK(c.hour == 9 && c.min == 30 && c.day == 1, "NY civil of 2024-07-01 13:30Z = %02d %02d:%02d",
            c.day, c.hour, c.min);
    T_EQ_I(bf_cal_ny_day(U(2024, 7, 2, 3, 0)), D(2024, 7, 1)); /* 23:00 NY the day before */

    /* 2006: the old rules (first Sunday of April .. last Sunday of October) */
    open_close(2006, 3, 13, 14, 30, 21, 0); /* would be EDT under the 2007 rules */
    open_close(2006, 3, 31, 14, 30, 21, 0);
    open_close(2006, 4, 3, 13, 30, 20, 0);
    open_close(2006, 10, 27, 13, 30, 20, 0);
    open_close(2006, 10, 30, 14, 30, 21, 0);
    open_close(2007, 3, 12, 13, 30, 20, 0); /* 2007: second Sunday of March */
    open_close(2007, 11, 2, 13, 30, 20, 0);
    open_close(2007, 11, 5, 14, 30, 21, 0);
    T_EQ_I(bf_cal_ny_offset(U(2006, 4, 2, 6, 59)), -18000);
    T_EQ_I(bf_cal_ny_offset(U(2006, 4, 2, 7, 0)), -14400);
    T_EQ_I(bf_cal_ny_offset(U(2006, 10, 29, 6, 0)), -18000);

    /* holidays */
    closed(2024, 1, 1, "New Year");
    closed(2024, 1, 15, "King");
    closed(2024, 2, 19, "Washington");
    closed(2024, 3, 29, "Good Friday");
    closed(2024, 5, 27, "Memorial");
    closed(2024, 6, 19, "Juneteenth");
    closed(2024, 7, 4, "Independence");
    closed(2024, 9, 2, "Labor");
    closed(2024, 11, 28, "Thanksgiving");
    closed(2024, 12, 25, "Christmas");
    closed(2025, 4, 18, "Good Friday");
    closed(2019, 4, 19, "Good Friday");
    closed(2022, 6, 20, "Juneteenth");   /* Sunday -> Monday */
    closed(2027, 6, 18, "Juneteenth");   /* Saturday -> Friday */
    closed(2021, 12, 24, "Christmas");   /* Saturday -> Friday */
    closed(2023, 1, 2, "New Year");      /* Sunday -> Monday */
    closed(2020, 7, 3, "Independence");  /* Saturday -> Friday */
    open_close(2021, 6, 18, 13, 30, 20, 0); /* no Juneteenth before 2022 */
    open_close(2021, 12, 31, 14, 30, 21, 0); /* Saturday New Year: not observed on Friday */
    open_close(2010, 12, 31, 14, 30, 21, 0);
    closed(2024, 3, 30, NULL); /* a Saturday */
    /* special closures */
    closed(2001, 9, 11, "September 11");
    closed(2001, 9, 14, "September 11");
    closed(2004, 6, 11, "Reagan");
    closed(2007, 1, 2, "Ford");
    closed(2012, 10, 29, "Sandy");
    closed(2012, 10, 30, "Sandy");
    closed(2018, 12, 5, "Bush");
    closed(2025, 1, 9, "Carter");
    /* trading days per year (NYSE counts) */
    T_EQ_I(trading_days(2001), 248);
    T_EQ_I(trading_days(2012), 250);
    T_EQ_I(trading_days(2018), 251);
    T_EQ_I(trading_days(2020), 253);
    T_EQ_I(trading_days(2021), 252);
    T_EQ_I(trading_days(2022), 251);
    T_EQ_I(trading_days(2023), 250);
    T_EQ_I(trading_days(2024), 252);

    /* early closes at 13:00 NY */
    open_close(2024, 7, 3, 13, 30, 17, 0);
    open_close(2024, 11, 29, 14, 30, 18, 0);
    open_close(2024, 12, 24, 14, 30, 18, 0);
    early(2024, 7, 3, 1);
    early(2024, 7, 5, 0);
    early(2024, 11, 29, 1);
    early(2024, 12, 24, 1);
    early(2024, 12, 23, 0);
    early(2024, 12, 31, 0);
    early(2023, 7, 3, 1);   /* Monday */
    early(2018, 7, 3, 1);   /* Tuesday */
    early(2019, 7, 3, 1);   /* Wednesday, from 2013 */
    early(2002, 7, 3, 0);   /* Wednesday before 2013: ... */
    early(2002, 7, 5, 1);   /* ... the Friday after instead */
    early(2025, 7, 3, 1);   /* Thursday */
    early(2020, 7, 2, 0);   /* July 4 on a Saturday: no early close */
    early(2020, 12, 24, 1);
    bf_session s;
    T_CHECK(bf_cal_session(D(2024, 7, 3), &s) && s.ext_close == U(2024, 7, 3, 21, 0),
            "extended close on an early-close day should be 17:00 NY");

    /* the bar grid */
    int64_t ts[1024];
    T_CHECK(bf_cal_session(D(2024, 3, 12), &s), "2024-03-12 trading");
    int n = bf_cal_session_bars(&s, 900, 0, ts, 1024);
    T_EQ_I(n, 26);
    T_EQ_I(ts[0], U(2024, 3, 12, 13, 30));
    T_EQ_I(ts[25], U(2024, 3, 12, 19, 45));
    T_EQ_I(bf_cal_session_bars(&s, 60, 0, ts, 1024), 390);
    T_EQ_I(bf_cal_session_bars(&s, 300, 0, ts, 1024), 78);
    T_EQ_I(bf_cal_session_bars(&s, 1800, 0, ts, 1024), 13);
    n = bf_cal_session_bars(&s, 3600, 0, ts, 1024);
    T_EQ_I(n, 7);
    T_EQ_I(ts[6], U(2024, 3, 12, 19, 30));
    T_EQ_I(bf_bar_end(ts[6], 3600, 0), U(2024, 3, 12, 20, 0)); /* cut at the close */
    T_EQ_I(bf_bar_end(ts[0], 3600, 0), U(2024, 3, 12, 14, 30));
    T_EQ_I(bf_cal_session_bars(&s, 86400, 0, ts, 1024), 1);
    T_EQ_I(ts[0], s.open);
    T_EQ_I(bf_bar_end(s.open, 86400, 0), s.close);
    T_EQ_I(bf_cal_session_bars(&s, 900, 1, ts, 1024), 64); /* 04:00-20:00 */
    T_EQ_I(ts[0], U(2024, 3, 12, 8, 0));
    n = bf_cal_session_bars(&s, 3600, 1, ts, 1024);
    T_EQ_I(n, 16); /* 04:30 .. 19:30 NY on the 09:30 grid */
    T_EQ_I(ts[0], U(2024, 3, 12, 8, 30));
    T_CHECK(bf_cal_session(D(2024, 11, 29), &s), "2024-11-29 trading");
    n = bf_cal_session_bars(&s, 900, 0, ts, 1024);
    T_EQ_I(n, 14);
    T_EQ_I(ts[13], U(2024, 11, 29, 17, 45));
    T_EQ_I(bf_bar_end(s.open, 86400, 0), U(2024, 11, 29, 18, 0));
    T_EQ_I(bf_cal_session_bars(&s, 900, 1, ts, 1024), 52); /* 04:00-17:00 */
    T_CHECK(bf_cal_on_grid(U(2024, 3, 12, 13, 45), 900, 0), "13:45Z is on the 15m grid");
    T_CHECK(!bf_cal_on_grid(U(2024, 3, 12, 13, 40), 900, 0), "13:40Z is not on the 15m grid");
    T_CHECK(!bf_cal_on_grid(U(2024, 3, 12, 12, 0), 900, 0), "08:00 NY is outside the regular session");
    T_CHECK(bf_cal_on_grid(U(2024, 3, 12, 12, 0), 900, 1), "08:00 NY is in the extended session");

    /* counting: 252 days x 26 bars, less 12 bars on each of three early closes */
    T_EQ_I(bf_cal_count_bars(U(2024, 1, 1, 0, 0), U(2025, 1, 1, 0, 0), 900, 0), 252 * 26 - 3 * 12);
    T_EQ_I(bf_cal_count_bars(U(2024, 3, 12, 14, 0), U(2024, 3, 12, 15, 0), 900, 0), 4);
    T_EQ_I(bf_cal_count_bars(U(2024, 3, 12, 14, 1), U(2024, 3, 12, 15, 0), 900, 0), 3);
    T_EQ_I(bf_cal_count_bars(U(2024, 1, 1, 0, 0), U(2025, 1, 1, 0, 0), 86400, 0), 252);

    /* trimming a range to the bars inside it */
    int64_t a = U(2024, 3, 9, 0, 0), b = U(2024, 3, 11, 0, 0);
    T_CHECK(!bf_cal_trim_range(&a, &b, 900, 0), "a weekend holds no bars");
    a = U(2024, 3, 8, 21, 0);
    b = U(2024, 3, 12, 0, 0);
    T_CHECK(bf_cal_trim_range(&a, &b, 900, 0), "Monday holds bars");
    T_EQ_I(a, U(2024, 3, 11, 13, 30));
    T_EQ_I(b, U(2024, 3, 11, 19, 45) + 1);

    /* range checks */
    bf_clear_error();
    T_CHECK(bf_cal_check_range(U(1999, 6, 1, 0, 0), U(2000, 6, 1, 0, 0)) == BF_EINVAL, "1999 refused");
    T_CONTAINS(bf_last_error(), "2000-2030");
    T_CHECK(bf_cal_check_range(U(2024, 6, 1, 0, 0), U(2024, 6, 1, 0, 0)) == BF_EINVAL, "empty refused");
    T_CHECK(bf_cal_check_range(U(2000, 1, 1, 0, 0), U(2031, 1, 1, 0, 0)) == BF_OK, "2000-2030 accepted");
    return bf_test_done("test_calendar");
}
