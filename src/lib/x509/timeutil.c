/* RFC 3339 times in UTC, as the API, the CLI and inspect print them. */
#include <stdio.h>
#include <string.h>

#include "certhub/x509.h"
#include "x509/x509_internal.h"

/* Civil date of a day count since 1970-01-01 (inverse of days_from_civil). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    *y = (int64_t)yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y += *m <= 2;
}

void ch_time_format(char *out, size_t outlen, int64_t t)
{
    int64_t days = t / 86400, secs = t % 86400, y;
    unsigned m, d;

    if (secs < 0) {
        secs += 86400;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    snprintf(out, outlen, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d, (int)(secs / 3600),
             (int)(secs / 60 % 60), (int)(secs % 60));
}

static int digits(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int ch_time_parse(int64_t *out, const char *text)
{
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h = 0, mi = 0, s = 0, offset = 0;
    int64_t t;
    size_t len = text ? strlen(text) : 0;

    *out = 0;
    if (len < 10 || text[4] != '-' || text[7] != '-')
        goto bad;
    y = digits(text, 4);
    mo = digits(text + 5, 2);
    d = digits(text + 8, 2);
    if (len > 10) {
        /* Time part: "T12:34:56Z" (also a space for T, and an optional fraction). */
        if (len < 20 || (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || text[13] != ':' ||
            text[16] != ':')
            goto bad;
        h = digits(text + 11, 2);
        mi = digits(text + 14, 2);
        s = digits(text + 17, 2);
        const char *rest = text + 19;
        if (*rest == '.') {
            rest++;
            while (*rest >= '0' && *rest <= '9')
                rest++;
        }
        /* RFC 3339's offsets too, "+01:00" or "-05:00"; a ' ' for the '+' is a query string's
         * form decoding of one sent unescaped. */
        if ((rest[0] == '+' || rest[0] == '-' || rest[0] == ' ') && strlen(rest) == 6 && rest[3] == ':') {
            int oh = digits(rest + 1, 2), om = digits(rest + 4, 2);
            if (oh < 0 || oh > 23 || om < 0 || om > 59)
                goto bad;
            offset = (rest[0] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
        } else if (!((rest[0] == 'Z' || rest[0] == 'z') && rest[1] == '\0')) {
            goto bad;
        }
    }
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || (unsigned)d > mdays[mo - 1] || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || s < 0 || s > 60)
        goto bad;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        goto bad;
    t = x509_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s - offset;
    /* The instant in UTC, an offset or a leap second applied, is still in years 0000 to 9999:
     * "9999-12-31T23:59:59-01:00" is in the year 10000, which ch_time_format prints as
     * "10000-01-01T00:59:59Z", a text no reader of RFC 3339 (this one included) takes back. */
    if (t < x509_days_from_civil(0, 1, 1) * 86400 || t >= x509_days_from_civil(10000, 1, 1) * 86400)
        return ch_error_set(CH_EINVAL, "\"%.40s\" is outside the years 0000 to 9999 in UTC", text);
    *out = t;
    return 0;
bad:
    return ch_error_set(CH_EINVAL, "\"%.40s\" is not an RFC 3339 time; expected e.g. 2030-01-01T00:00:00Z, "
                        "2030-01-01T01:00:00+01:00 or 2030-01-01", text ? text : "");
}

int ch_ttl_parse(int64_t *out, const char *text, const char *field)
{
    return ch_ttl_parse_range(out, text, field, CH_TTL_MIN, CH_TTL_MAX);
}

int ch_ttl_parse_range(int64_t *out, const char *text, const char *field, int64_t min, int64_t max)
{
    static const char units[] = "smhd";
    static const int64_t seconds[] = {1, 60, 3600, 86400};
    const char *p = text ? text : "", *unit = NULL;
    char lo[24], hi[24];
    int64_t total = 0;
    int last = 4; /* (each part's unit smaller than the one before: "1d12h", not "12h1d" or "1h1h") */

    *out = 0;
    /* Whole numbers, each with its unit, largest first ("90d", "1d12h", "2h30m"): no sign,
     * fraction or space ("1.5h" is 90m), so that what is asked is what is issued. */
    do {
        const char *start = p;
        int64_t n = 0;
        for (; *p >= '0' && *p <= '9'; p++)
            if ((n = n * 10 + (*p - '0')) > CH_TTL_MAX)
                n = CH_TTL_MAX + 1; /* held there: too long whatever the unit, without overflow */
        if (p == start || *p == '\0' || (unit = strchr(units, *p)) == NULL || unit - units >= last)
            return ch_error_set_field(CH_EINVAL, field,
                                      "%s must be a whole number and a unit (s, m, h or d), or several from the "
                                      "largest, such as 30m, 72h, 90d or 1d12h, not \"%.32s\"",
                                      field, text ? text : "");
        last = (int)(unit - units);
        total = n > (CH_TTL_MAX + 1 - total) / seconds[last] ? CH_TTL_MAX + 1 : total + n * seconds[last];
        p++;
    } while (*p != '\0');
    if (total < min || total > max) {
        ch_ttl_format(lo, sizeof lo, min);
        ch_ttl_format(hi, sizeof hi, max);
        return ch_error_set_field(CH_EINVAL, field, "%s must be from %s to %s, not %.32s", field, lo, hi, text);
    }
    *out = total;
    return 0;
}

void ch_ttl_format(char *out, size_t outlen, int64_t s)
{
    if (s != 0 && s % 86400 == 0)
        snprintf(out, outlen, "%lldd", (long long)(s / 86400));
    else if (s != 0 && s % 3600 == 0)
        snprintf(out, outlen, "%lldh", (long long)(s / 3600));
    else if (s != 0 && s % 60 == 0)
        snprintf(out, outlen, "%lldm", (long long)(s / 60));
    else
        snprintf(out, outlen, "%llds", (long long)s);
}
