/* session.h - the New York session clock that features and labels need.
 *
 * A "session" is a NY (America/New_York) calendar date: a bar belongs to the
 * session of the NY date of its START. Its open and close come from the
 * NYSE calendar (core/data/calendar.h): close 16:00 NY, 13:00 on early-close
 * days; 20:00 (17:00) when bars include extended hours. A date the calendar
 * calls closed but that has bars anyway gets 09:30-16:00 (20:00).
 *
 * US DST rules: from 2007 DST runs from the second Sunday of March 02:00 EST
 * to the first Sunday of November 02:00 EDT; before 2007 from the first Sunday
 * of April to the last Sunday of October (the 1987-2006 rule, also applied to
 * earlier years), as in calendar.h; bf_sess_day_cached makes the per-bar
 * date cheap. Times are int64 UTC seconds, days are days since 1970-01-01.
 */
#ifndef BF_FEAT_SESSION_H
#define BF_FEAT_SESSION_H

#include <stdint.h>

/* NY offset from UTC at UTC time t: -18000 (EST) or -14400 (EDT). */
int bf_sess_utc_offset(int64_t t);
/* NY calendar date (days since 1970-01-01) of UTC time t. */
int64_t bf_sess_day(int64_t t);
/* UTC time of the regular open (09:30 NY) of NY date `day`: the anchor of
 * the intraday bucket grid. */
int64_t bf_sess_open(int64_t day);
/* UTC time of the session close of NY date `day` (16:00 NY or the early
 * close; the extended close when extended_hours). */
int64_t bf_sess_close(int64_t day, int extended_hours);

/* A cache for streams of increasing (or nearby) times: one UTC year's DST
 * window, so bf_sess_day_cached costs two compares per call. Zero-init it. */
typedef struct bf_sess_cache {
    int64_t year_lo, year_hi;   /* [lo, hi): the cached UTC year; hi = 0 when empty */
    int64_t dst_lo, dst_hi;     /* DST in force for dst_lo <= t < dst_hi (UTC) */
} bf_sess_cache;

int64_t bf_sess_day_cached(bf_sess_cache *c, int64_t t);

#endif
