/* timeutil.h - UTC time as int64 seconds since the Unix epoch.
 *
 * Parsing accepts RFC 3339 ("2024-01-02T14:30:00Z", "...T09:30:00-05:00",
 * fractional seconds) and plain dates ("2024-01-02", read as 00:00 UTC).
 * Calendar arithmetic is proleptic Gregorian, independent of the TZ variable.
 */
#ifndef BF_TIMEUTIL_H
#define BF_TIMEUTIL_H

#include "core/base/status.h"

#include <stdint.h>

typedef struct bf_civil {
    int year, month, day;   /* month 1..12 */
    int hour, min, sec;
    int wday;               /* 0 = Sunday */
} bf_civil;

/* days since 1970-01-01 for a civil date, and back */
int64_t bf_days_from_civil(int y, int m, int d);
void bf_civil_from_days(int64_t days, int *y, int *m, int *d);
int bf_weekday(int64_t days);  /* 0 = Sunday */

int64_t bf_utc_from_civil(const bf_civil *c);
void bf_utc_to_civil(int64_t t, bf_civil *c);

/* RFC 3339 or YYYY-MM-DD; BF_EINVAL naming the string on error. */
bf_status bf_time_parse(const char *s, int64_t *out);
/* strict YYYY-MM-DD */
bf_status bf_date_parse(const char *s, int64_t *out);

/* "2024-01-02T14:30:00Z" into buf (>= 21 bytes) */
void bf_time_format(int64_t t, char *buf, int n);
/* "2024-01-02" into buf (>= 11 bytes) */
void bf_date_format(int64_t t, char *buf, int n);

#endif
