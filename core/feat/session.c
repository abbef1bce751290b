/* session.c - see session.h. DST transitions are computed per UTC year from
 * the civil-date helpers in core/base/timeutil.h (the rules of
 * core/data/calendar.h, cached here for per-bar use); no TZ database is used,
 * so results never depend on the machine's zoneinfo. Opens and closes come
 * from the calendar. */
#include "core/feat/session.h"

#include "core/base/timeutil.h"
#include "core/data/calendar.h"

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* n-th Sunday (n >= 1) of month m, or the last one when n == 0. */
static int64_t sunday_of(int y, int m, int n)
{
    if (n == 0) {
        static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int64_t last = bf_days_from_civil(y, m, mdays[m - 1]);  /* m is never February here */
        return last - bf_weekday(last);
    }
    int64_t first = bf_days_from_civil(y, m, 1);
    return first + (7 - bf_weekday(first)) % 7 + 7 * (n - 1);
}

/* DST window [lo, hi) in UTC for UTC year y: starts 02:00 EST (07:00 UTC),
 * ends 02:00 EDT (06:00 UTC). */
static void dst_window(int y, int64_t *lo, int64_t *hi)
{
    int64_t start, end;
    if (y >= 2007) {
        start = sunday_of(y, 3, 2);
        end = sunday_of(y, 11, 1);
    } else {
        start = sunday_of(y, 4, 1);
        end = sunday_of(y, 10, 0);
    }
    *lo = start * 86400 + 7 * 3600;
    *hi = end * 86400 + 6 * 3600;
}

static void fill_cache(bf_sess_cache *c, int64_t t)
{
    int y, m, d;
    bf_civil_from_days(floor_div(t, 86400), &y, &m, &d);
    c->year_lo = bf_days_from_civil(y, 1, 1) * 86400;
    c->year_hi = bf_days_from_civil(y + 1, 1, 1) * 86400;
    dst_window(y, &c->dst_lo, &c->dst_hi);
}

int bf_sess_utc_offset(int64_t t)
{
    bf_sess_cache c;
    fill_cache(&c, t);
    return (t >= c.dst_lo && t < c.dst_hi) ? -14400 : -18000;
}

int64_t bf_sess_day(int64_t t) { return floor_div(t + bf_sess_utc_offset(t), 86400); }

int64_t bf_sess_day_cached(bf_sess_cache *c, int64_t t)
{
    if (c->year_hi == 0 || t < c->year_lo || t >= c->year_hi)
        fill_cache(c, t);
    int off = (t >= c->dst_lo && t < c->dst_hi) ? -14400 : -18000;
    return floor_div(t + off, 86400);
}

/* NY wall time `sec` seconds after midnight of `day`, in UTC; exact for
 * wall times far from the 02:00 switch (evaluated at the EST guess) */
static int64_t ny_wall(int64_t day, int sec)
{
    int64_t local = day * 86400 + sec;
    return local - bf_sess_utc_offset(local + 18000);
}

/* Trading days come from the calendar (early closes included); a day the
 * calendar calls closed (weekend, holiday) can still carry bars in odd data,
 * and gets the usual hours. */
int64_t bf_sess_open(int64_t day)
{
    bf_session s;
    return bf_cal_session(day, &s) ? s.open : ny_wall(day, 9 * 3600 + 30 * 60);
}

int64_t bf_sess_close(int64_t day, int extended_hours)
{
    bf_session s;
    if (bf_cal_session(day, &s))
        return extended_hours ? s.ext_close : s.close;
    return ny_wall(day, (extended_hours ? 20 : 16) * 3600);
}
