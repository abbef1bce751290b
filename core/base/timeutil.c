/* timeutil.c - see timeutil.h. Civil-date algorithms after H. Hinnant. */
#include "core/base/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int64_t bf_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void bf_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

int bf_weekday(int64_t days) { return (int)(days >= -4 ? (days + 4) % 7 : (days + 5) % 7 + 6); }

int64_t bf_utc_from_civil(const bf_civil *c)
{
    return bf_days_from_civil(c->year, c->month, c->day) * 86400 + c->hour * 3600 + c->min * 60 +
           c->sec;
}

void bf_utc_to_civil(int64_t t, bf_civil *c)
{
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t rem = t - days * 86400;
    bf_civil_from_days(days, &c->year, &c->month, &c->day);
    c->hour = (int)(rem / 3600);
    c->min = (int)(rem % 3600 / 60);
    c->sec = (int)(rem % 60);
    c->wday = bf_weekday(days);
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static bf_status parse_date_part(const char *s, const char *orig, int *y, int *m, int *d)
{
    if (!digits(s, 4, y) || s[4] != '-' || !digits(s + 5, 2, m) || s[7] != '-' ||
        !digits(s + 8, 2, d))
        return BF_FAIL(BF_EINVAL, "bad date '%s': expected YYYY-MM-DD", orig);
    if (*m < 1 || *m > 12 || *d < 1 || *d > days_in_month(*y, *m))
        return BF_FAIL(BF_EINVAL, "bad date '%s': no such day", orig);
    return BF_OK;
}

bf_status bf_date_parse(const char *s, int64_t *out)
{
    int y, m, d;
    if (!s || strlen(s) != 10)
        return BF_FAIL(BF_EINVAL, "bad date '%s': expected YYYY-MM-DD", s ? s : "(null)");
    BF_TRY(parse_date_part(s, s, &y, &m, &d));
    *out = bf_days_from_civil(y, m, d) * 86400;
    return BF_OK;
}

bf_status bf_time_parse(const char *s, int64_t *out)
{
    if (!s)
        return BF_FAIL(BF_EINVAL, "bad time: (null)");
    size_t n = strlen(s);
    if (n == 10)
        return bf_date_parse(s, out);
    int y, mo, d, h, mi, se;
    if (n < 20)
        return BF_FAIL(BF_EINVAL, "bad time '%s': expected RFC 3339 (YYYY-MM-DDTHH:MM:SSZ) or YYYY-MM-DD", s);
    BF_TRY(parse_date_part(s, s, &y, &mo, &d));
    if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s + 11, 2, &h) || s[13] != ':' ||
        !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
        return BF_FAIL(BF_EINVAL, "bad time '%s': expected RFC 3339 (YYYY-MM-DDTHH:MM:SSZ)", s);
    if (h > 23 || mi > 59 || se > 60)
        return BF_FAIL(BF_EINVAL, "bad time '%s': hour, minute or second out of range", s);
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return BF_FAIL(BF_EINVAL, "bad time '%s': empty fraction", s);
        while (isdigit((unsigned char)*p))
            p++;
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return BF_FAIL(BF_EINVAL, "bad time '%s': bad UTC offset", s);
        off = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return BF_FAIL(BF_EINVAL, "bad time '%s': missing 'Z' or UTC offset", s);
    }
    if (*p)
        return BF_FAIL(BF_EINVAL, "bad time '%s': trailing characters", s);
    if (se == 60)
        se = 59; /* leap second: clamp, Unix time has none */
    *out = bf_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
    return BF_OK;
}

void bf_time_format(int64_t t, char *buf, int n)
{
    bf_civil c;
    bf_utc_to_civil(t, &c);
    snprintf(buf, (size_t)n, "%04d-%02d-%02dT%02d:%02d:%02dZ", c.year, c.month, c.day, c.hour,
             c.min, c.sec);
}

void bf_date_format(int64_t t, char *buf, int n)
{
    bf_civil c;
    bf_utc_to_civil(t, &c);
    snprintf(buf, (size_t)n, "%04d-%02d-%02d", c.year, c.month, c.day);
}
