/* calendar.h - the US-equity session calendar (NYSE rules) and New York time.
 *
 * New York time is computed from the US DST rules in code, never from the
 * TZ variable or a zoneinfo file:
 *   2007 onward: EDT from the second Sunday of March 02:00 EST to the first
 *                Sunday of November 02:00 EDT;
 *   1987-2006:   from the first Sunday of April to the last Sunday of October
 *                (also applied to earlier years, which barforge never trades).
 * Sessions (all times America/New_York, converted to UTC seconds):
 *   regular   09:30-16:00 (13:00 on early-close days)
 *   extended  04:00-20:00 (04:00-17:00 on early-close days)
 * Trading days are weekdays that are not NYSE holidays. The holiday rules are
 * those in force since 2000 (New Year's Day, not observed when it falls on a
 * Saturday; MLK Day; Washington's Birthday; Good Friday, from the Gregorian
 * Easter; Memorial Day; Juneteenth from 2022; Independence Day; Labor Day;
 * Thanksgiving; Christmas; Saturday holidays observed on Friday, Sunday ones on
 * Monday) plus the special closures 2001-09-11..14, 2004-06-11, 2007-01-02,
 * 2012-10-29..30, 2018-12-05 and 2025-01-09. Early closes (13:00): July 3 when
 * it is a Monday, Tuesday or Thursday, or a Wednesday from 2013; Friday July 5
 * when July 4 is a Thursday, before 2013; the day after Thanksgiving;
 * December 24 when it is a Monday to Thursday. The tables are complete for
 * BF_CAL_YEAR_MIN..BF_CAL_YEAR_MAX; bf_cal_check_range refuses other years.
 *
 * Bar grid (the convention every provider converts to, ts = bar START):
 * intraday bars start at open + k * interval for integer k (k may be negative
 * in extended hours: pre-market bars continue the same grid back to the first
 * start at or after 04:00); a bar belongs to a session when its start lies
 * within it; the last bar is cut short at the close (e.g. 1h bars 15:30-16:00).
 * A daily bar starts at the regular open (09:30) and ends at the session close.
 * Days are days since 1970-01-01 (the NY calendar date).
 */
#ifndef BF_CALENDAR_H
#define BF_CALENDAR_H

#include "core/base/status.h"
#include "core/base/timeutil.h"

#include <stdint.h>

#define BF_CAL_YEAR_MIN 2000
#define BF_CAL_YEAR_MAX 2030

/* --- New York time --------------------------------------------------------- */

/* UTC offset of New York at utc: -18000 (EST) or -14400 (EDT). */
int bf_cal_ny_offset(int64_t utc);
/* New York wall time -> UTC. A wall time in the spring-forward gap reads as
 * EST; an ambiguous fall-back time reads as EDT (the first occurrence). */
int64_t bf_cal_ny_to_utc(int y, int mo, int d, int h, int mi, int s);
/* UTC -> New York civil time (wday included). */
void bf_cal_ny_civil(int64_t utc, bf_civil *c);
/* New York calendar date of utc, as days since 1970-01-01. */
int64_t bf_cal_ny_day(int64_t utc);

/* --- trading days ---------------------------------------------------------- */

typedef struct bf_session {
    int64_t day;                 /* NY date, days since 1970-01-01 */
    int early_close;             /* 1 on 13:00 days */
    int64_t open, close;         /* regular session, UTC seconds */
    int64_t ext_open, ext_close; /* extended session, UTC seconds */
} bf_session;

/* Holiday name when `day` is a weekday on which NYSE is closed, else NULL. */
const char *bf_cal_holiday(int64_t day);
/* 1 and *s filled when `day` is a trading day; 0 otherwise (weekend/holiday). */
int bf_cal_session(int64_t day, bf_session *s);
/* The first trading day >= day (<= day for prev); searches at most 30 days. */
int64_t bf_cal_next_trading_day(int64_t day);
int64_t bf_cal_prev_trading_day(int64_t day);

/* BF_EINVAL naming the dates when [start, end) leaves the years with complete
 * tables (BF_CAL_YEAR_MIN..BF_CAL_YEAR_MAX) or end <= start. */
bf_status bf_cal_check_range(int64_t start, int64_t end);

/* --- bar grid -------------------------------------------------------------- */

/* Session window of the mode: [open, close) regular or [ext_open, ext_close). */
void bf_cal_window(const bf_session *s, int extended, int64_t *lo, int64_t *hi);
/* Bar starts of one session for interval_s (daily: one bar at the open) into
 * ts (capacity cap); returns the count (the full count even when > cap). */
int bf_cal_session_bars(const bf_session *s, int interval_s, int extended, int64_t *ts, int cap);
/* Number of grid bars with start in [start, end), over all trading days. */
int64_t bf_cal_count_bars(int64_t start, int64_t end, int interval_s, int extended);
/* End of the bar starting at ts: min(ts + interval, session close); for daily
 * bars the session close. ts + interval_s when ts is not in a session. */
int64_t bf_bar_end(int64_t ts, int interval_s, int extended);
/* 1 when ts is a bar start of the grid of its session. */
int bf_cal_on_grid(int64_t ts, int interval_s, int extended);

/* Clip [*start, *end) to whole sessions that have bars: start moves forward
 * to the first bar start >= start, end back to just after the last bar start
 * < end. Returns 0 (and leaves an empty range) when no bar start is inside. */
int bf_cal_trim_range(int64_t *start, int64_t *end, int interval_s, int extended);

#endif
