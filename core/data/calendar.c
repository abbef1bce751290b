/* calendar.c - NY time from US DST rules, NYSE trading days, the bar grid
 * (see calendar.h for the rules and the grid convention).
 *
 * Holidays are derived per year (rules + a short table of special closures)
 * and kept in a small thread-local per-year cache, so scanning years of days
 * costs a few compares per day.
 */
#include "core/data/calendar.h"

#include <string.h>

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

/* n-th weekday `wd` (0 = Sunday) of month m (n >= 1), or the last one (n = 0). */
static int64_t nth_weekday(int y, int m, int wd, int n)
{
    if (n == 0) {
        int64_t last = bf_days_from_civil(y, m, days_in_month(y, m));
        return last - (bf_weekday(last) - wd + 7) % 7;
    }
    int64_t first = bf_days_from_civil(y, m, 1);
    return first + (wd - bf_weekday(first) + 7) % 7 + 7 * (n - 1);
}

/* --- New York time --------------------------------------------------------- */

/* DST in UTC seconds for year y: [lo, hi). Starts 02:00 EST = 07:00 UTC, ends
 * 02:00 EDT = 06:00 UTC. */
static void dst_window(int y, int64_t *lo, int64_t *hi)
{
    int64_t s, e;
    if (y >= 2007) {
        s = nth_weekday(y, 3, 0, 2);
        e = nth_weekday(y, 11, 0, 1);
    } else {
        s = nth_weekday(y, 4, 0, 1);
        e = nth_weekday(y, 10, 0, 0);
    }
    *lo = s * 86400 + 7 * 3600;
    *hi = e * 86400 + 6 * 3600;
}

int bf_cal_ny_offset(int64_t utc)
{
    int y, m, d;
    bf_civil_from_days(floor_div(utc, 86400), &y, &m, &d);
    int64_t lo, hi;
    dst_window(y, &lo, &hi);
    return (utc >= lo && utc < hi) ? -14400 : -18000;
}

int64_t bf_cal_ny_to_utc(int y, int mo, int d, int h, int mi, int s)
{
    int64_t local = bf_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    /* try EDT first: correct whenever the result really is in DST (this makes
     * ambiguous fall-back times read as EDT); otherwise EST. */
    int64_t as_edt = local + 14400;
    if (bf_cal_ny_offset(as_edt) == -14400)
        return as_edt;
    return local + 18000;
}

void bf_cal_ny_civil(int64_t utc, bf_civil *c) { bf_utc_to_civil(utc + bf_cal_ny_offset(utc), c); }

int64_t bf_cal_ny_day(int64_t utc) { return floor_div(utc + bf_cal_ny_offset(utc), 86400); }

/* --- holidays -------------------------------------------------------------- */

/* Gregorian Easter Sunday (anonymous algorithm, as in Meeus). */
static int64_t easter(int y)
{
    int a = y % 19, b = y / 100, c = y % 100, d = b / 4, e = b % 4;
    int f = (b + 8) / 25, g = (b - f + 1) / 3;
    int h = (19 * a + b - d - g + 15) % 30;
    int i = c / 4, k = c % 4;
    int l = (32 + 2 * e + 2 * i - h - k) % 7;
    int m = (a + 11 * h + 22 * l) / 451;
    int month = (h + l - 7 * m + 114) / 31, day = (h + l - 7 * m + 114) % 31 + 1;
    return bf_days_from_civil(y, month, day);
}

/* Saturday -> Friday, Sunday -> Monday */
static int64_t observed(int64_t day)
{
    int wd = bf_weekday(day);
    return wd == 6 ? day - 1 : (wd == 0 ? day + 1 : day);
}

static const struct {
    int y, m, d;
    const char *name;
} g_special[] = {
    {2001, 9, 11, "September 11 closure"}, {2001, 9, 12, "September 11 closure"},
    {2001, 9, 13, "September 11 closure"}, {2001, 9, 14, "September 11 closure"},
    {2004, 6, 11, "National Day of Mourning (Reagan)"},
    {2007, 1, 2, "National Day of Mourning (Ford)"},
    {2012, 10, 29, "Hurricane Sandy"},     {2012, 10, 30, "Hurricane Sandy"},
    {2018, 12, 5, "National Day of Mourning (G. H. W. Bush)"},
    {2025, 1, 9, "National Day of Mourning (Carter)"},
};

#define MAX_HOL 24
typedef struct year_tab {
    int year;
    int nh, ne;
    int64_t hol[MAX_HOL];
    const char *hname[MAX_HOL];
    int64_t early[4];
} year_tab;

static void add_hol(year_tab *t, int64_t day, const char *name)
{
    int wd = bf_weekday(day);
    if (wd == 0 || wd == 6 || t->nh >= MAX_HOL)
        return;
    t->hol[t->nh] = day;
    t->hname[t->nh++] = name;
}

static void build_year(year_tab *t, int y)
{
    memset(t, 0, sizeof *t);
    t->year = y;
    int64_t nyd = bf_days_from_civil(y, 1, 1);
    if (bf_weekday(nyd) == 0)
        add_hol(t, nyd + 1, "New Year's Day");
    else if (bf_weekday(nyd) != 6) /* a Saturday New Year is not observed on Friday */
        add_hol(t, nyd, "New Year's Day");
    add_hol(t, nth_weekday(y, 1, 1, 3), "Martin Luther King Jr. Day");
    add_hol(t, nth_weekday(y, 2, 1, 3), "Washington's Birthday");
    add_hol(t, easter(y) - 2, "Good Friday");
    add_hol(t, nth_weekday(y, 5, 1, 0), "Memorial Day");
    if (y >= 2022)
        add_hol(t, observed(bf_days_from_civil(y, 6, 19)), "Juneteenth");
    int64_t j4 = bf_days_from_civil(y, 7, 4);
    add_hol(t, observed(j4), "Independence Day");
    add_hol(t, nth_weekday(y, 9, 1, 1), "Labor Day");
    int64_t thanks = nth_weekday(y, 11, 4, 4);
    add_hol(t, thanks, "Thanksgiving Day");
    add_hol(t, observed(bf_days_from_civil(y, 12, 25)), "Christmas Day");
    for (size_t i = 0; i < sizeof g_special / sizeof g_special[0]; i++)
        if (g_special[i].y == y)
            add_hol(t, bf_days_from_civil(y, g_special[i].m, g_special[i].d), g_special[i].name);

    /* early closes (13:00) */
    int64_t j3 = j4 - 1;
    int wd3 = bf_weekday(j3);
    if (wd3 == 1 || wd3 == 2 || wd3 == 4 || (wd3 == 3 && y >= 2013))
        t->early[t->ne++] = j3;
    if (bf_weekday(j4) == 4 && y < 2013)
        t->early[t->ne++] = j4 + 1;
    t->early[t->ne++] = thanks + 1;
    int64_t x24 = bf_days_from_civil(y, 12, 24);
    int wd24 = bf_weekday(x24);
    if (wd24 >= 1 && wd24 <= 4)
        t->early[t->ne++] = x24;
}

static const year_tab *year_of(int y)
{
    static _Thread_local year_tab cache[2];
    static _Thread_local int next;
    for (int i = 0; i < 2; i++)
        if (cache[i].year == y)
            return &cache[i];
    year_tab *t = &cache[next];
    next ^= 1;
    build_year(t, y);
    return t;
}

const char *bf_cal_holiday(int64_t day)
{
    int wd = bf_weekday(day);
    if (wd == 0 || wd == 6)
        return NULL;
    int y, m, d;
    bf_civil_from_days(day, &y, &m, &d);
    const year_tab *t = year_of(y);
    for (int i = 0; i < t->nh; i++)
        if (t->hol[i] == day)
            return t->hname[i];
    return NULL;
}

int bf_cal_session(int64_t day, bf_session *s)
{
    int wd = bf_weekday(day);
    if (wd == 0 || wd == 6 || bf_cal_holiday(day))
        return 0;
    int y, m, d;
    bf_civil_from_days(day, &y, &m, &d);
    const year_tab *t = year_of(y);
    int early = 0;
    for (int i = 0; i < t->ne; i++)
        early |= t->early[i] == day;
    /* NY midnight of a weekday is never inside a DST transition (those are on
     * Sundays at 02:00), so one offset serves the whole trading day */
    int64_t mid_utc = day * 86400 + 12 * 3600 + 5 * 3600;
    int64_t off = bf_cal_ny_offset(mid_utc);
    int64_t base = day * 86400 - off; /* UTC of NY 00:00 */
    s->day = day;
    s->early_close = early;
    s->open = base + 9 * 3600 + 30 * 60;
    s->close = base + (early ? 13 : 16) * 3600;
    s->ext_open = base + 4 * 3600;
    s->ext_close = base + (early ? 17 : 20) * 3600;
    return 1;
}

int64_t bf_cal_next_trading_day(int64_t day)
{
    bf_session s;
    for (int i = 0; i < 30; i++, day++)
        if (bf_cal_session(day, &s))
            return day;
    return day;
}

int64_t bf_cal_prev_trading_day(int64_t day)
{
    bf_session s;
    for (int i = 0; i < 30; i++, day--)
        if (bf_cal_session(day, &s))
            return day;
    return day;
}

bf_status bf_cal_check_range(int64_t start, int64_t end)
{
    char a[32], b[32];
    bf_time_format(start, a, sizeof a);
    bf_time_format(end, b, sizeof b);
    if (end <= start)
        return BF_FAIL(BF_EINVAL, "empty time range: start %s is not before end %s", a, b);
    int64_t lo = bf_days_from_civil(BF_CAL_YEAR_MIN, 1, 1) * 86400;
    int64_t hi = bf_days_from_civil(BF_CAL_YEAR_MAX + 1, 1, 1) * 86400;
    if (start < lo || end > hi)
        return BF_FAIL(BF_EINVAL,
                       "time range %s .. %s is outside the years %d-%d that the NYSE calendar "
                       "covers; choose dates within them",
                       a, b, BF_CAL_YEAR_MIN, BF_CAL_YEAR_MAX);
    return BF_OK;
}

/* --- bar grid -------------------------------------------------------------- */

void bf_cal_window(const bf_session *s, int extended, int64_t *lo, int64_t *hi)
{
    *lo = extended ? s->ext_open : s->open;
    *hi = extended ? s->ext_close : s->close;
}

/* first grid index k with open + k*iv >= lo */
static int64_t first_k(const bf_session *s, int iv, int64_t lo)
{
    return -floor_div(s->open - lo, iv);
}

int bf_cal_session_bars(const bf_session *s, int interval_s, int extended, int64_t *ts, int cap)
{
    if (interval_s >= 86400) {
        if (cap > 0)
            ts[0] = s->open;
        return 1;
    }
    int64_t lo, hi;
    bf_cal_window(s, extended, &lo, &hi);
    int n = 0;
    for (int64_t t = s->open + first_k(s, interval_s, lo) * interval_s; t < hi; t += interval_s) {
        if (n < cap)
            ts[n] = t;
        n++;
    }
    return n;
}

static int64_t count_session(const bf_session *s, int iv, int extended, int64_t start, int64_t end)
{
    if (iv >= 86400)
        return s->open >= start && s->open < end;
    int64_t lo, hi;
    bf_cal_window(s, extended, &lo, &hi);
    if (start > lo)
        lo = start;
    if (end < hi)
        hi = end;
    if (hi <= lo)
        return 0;
    int64_t k0 = first_k(s, iv, lo);            /* first start >= lo */
    int64_t k1 = first_k(s, iv, hi);            /* first start >= hi */
    return k1 > k0 ? k1 - k0 : 0;
}

int64_t bf_cal_count_bars(int64_t start, int64_t end, int interval_s, int extended)
{
    if (end <= start || interval_s <= 0)
        return 0;
    int64_t d0 = bf_cal_ny_day(start) - 1, d1 = bf_cal_ny_day(end) + 1;
    int64_t n = 0;
    bf_session s;
    for (int64_t d = d0; d <= d1; d++)
        if (bf_cal_session(d, &s))
            n += count_session(&s, interval_s, extended, start, end);
    return n;
}

int64_t bf_bar_end(int64_t ts, int interval_s, int extended)
{
    bf_session s;
    if (!bf_cal_session(bf_cal_ny_day(ts), &s))
        return ts + interval_s;
    if (interval_s >= 86400)
        return extended ? s.ext_close : s.close;
    int64_t lo, hi;
    bf_cal_window(&s, extended, &lo, &hi);
    if (ts < lo || ts >= hi)
        return ts + interval_s;
    return ts + interval_s < hi ? ts + interval_s : hi;
}

int bf_cal_on_grid(int64_t ts, int interval_s, int extended)
{
    bf_session s;
    if (!bf_cal_session(bf_cal_ny_day(ts), &s))
        return 0;
    if (interval_s >= 86400)
        return ts == s.open;
    int64_t lo, hi;
    bf_cal_window(&s, extended, &lo, &hi);
    return ts >= lo && ts < hi && floor_div(ts - s.open, interval_s) * interval_s == ts - s.open;
}

int bf_cal_trim_range(int64_t *start, int64_t *end, int interval_s, int extended)
{
    int64_t a = *start, b = *end;
    if (b <= a) {
        *end = *start;
        return 0;
    }
    int64_t d0 = bf_cal_ny_day(a) - 1, d1 = bf_cal_ny_day(b) + 1;
    int64_t first = INT64_MAX, last = INT64_MIN;
    bf_session s;
    int64_t buf[1024];
    /* forward to the first bar start >= a */
    for (int64_t d = d0; d <= d1 && first == INT64_MAX; d++) {
        if (!bf_cal_session(d, &s))
            continue;
        int n = bf_cal_session_bars(&s, interval_s, extended, buf, 1024);
        for (int i = 0; i < n && i < 1024; i++)
            if (buf[i] >= a && buf[i] < b) {
                first = buf[i];
                break;
            }
    }
    if (first == INT64_MAX) {
        *end = *start;
        return 0;
    }
    for (int64_t d = d1; d >= d0 && last == INT64_MIN; d--) {
        if (!bf_cal_session(d, &s))
            continue;
        int n = bf_cal_session_bars(&s, interval_s, extended, buf, 1024);
        for (int i = (n < 1024 ? n : 1024) - 1; i >= 0; i--)
            if (buf[i] >= a && buf[i] < b) {
                last = buf[i];
                break;
            }
    }
    *start = first;
    *end = last + 1;
    return 1;
}
