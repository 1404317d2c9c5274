/*
 * JSON written as text directly (ch_jw, certhub/common.h): the answers on certhubd's hot path
 * and `inspect`'s details, where building a jansson tree and dumping it cost a tenth of an
 * issuance and a quarter of a certificate's GET.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "certhub/common.h"

static void jw_put(ch_jw *w, const void *p, size_t n)
{
    if (!w->oom && ch_buf_put(w->b, p, n) < 0)
        w->oom = true;
}

/* A JSON string: escapes, and U+FFFD for bytes that do not form UTF-8 (RFC 3629). */
static void jw_text(ch_jw *w, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    jw_put(w, "\"", 1);
    while (*p) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        jw_put(w, run, (size_t)(p - run));
        if (*p == '\0')
            break;
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p++};
            jw_put(w, e, 2);
        } else if (*p < 0x20) {
            char e[8];
            int n = *p == '\n' ? snprintf(e, sizeof e, "\\n") : *p == '\t' ? snprintf(e, sizeof e, "\\t")
                    : *p == '\r' ? snprintf(e, sizeof e, "\\r") : snprintf(e, sizeof e, "\\u%04x", *p);
            jw_put(w, e, (size_t)n);
            p++;
        } else {
            /* a UTF-8 sequence: lead byte, its length, continuation bytes, no overlong or
             * surrogate forms, nothing above U+10FFFF */
            size_t n = *p >= 0xf0 && *p <= 0xf4 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc2 && *p <= 0xdf ? 2 : 0;
            bool ok = n > 0 && !(*p >= 0xf5);
            for (size_t i = 1; ok && i < n; i++)
                ok = (p[i] & 0xc0) == 0x80;
            if (ok && n == 3)
                ok = !(p[0] == 0xe0 && p[1] < 0xa0) && !(p[0] == 0xed && p[1] >= 0xa0);
            if (ok && n == 4)
                ok = !(p[0] == 0xf0 && p[1] < 0x90) && !(p[0] == 0xf4 && p[1] >= 0x90);
            if (ok) {
                jw_put(w, p, n);
                p += n;
            } else {
                jw_put(w, "\xef\xbf\xbd", 3);
                p++;
            }
        }
    }
    jw_put(w, "\"", 1);
}

void ch_jw_key(ch_jw *w, const char *key)
{
    if (!w->first)
        jw_put(w, ",", 1);
    w->first = false;
    jw_text(w, key);
    jw_put(w, ":", 1);
}

void ch_jw_begin(ch_jw *w, ch_buf *b)
{
    *w = (ch_jw){.b = b, .first = true};
    jw_put(w, "{", 1);
}

void ch_jw_str(ch_jw *w, const char *key, const char *value)
{
    ch_jw_key(w, key);
    if (value == NULL)
        jw_put(w, "null", 4);
    else
        jw_text(w, value);
}

void ch_jw_bool(ch_jw *w, const char *key, bool value)
{
    ch_jw_key(w, key);
    jw_put(w, value ? "true" : "false", value ? 4 : 5);
}

void ch_jw_strs(ch_jw *w, const char *key, char *const *values, size_t n)
{
    ch_jw_key(w, key);
    jw_put(w, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            jw_put(w, ",", 1);
        jw_text(w, values[i]);
    }
    jw_put(w, "]", 1);
}

void ch_jw_raw(ch_jw *w, const char *key, const char *json)
{
    ch_jw_key(w, key);
    jw_put(w, json, strlen(json));
}

void ch_jw_int(ch_jw *w, const char *key, long long value)
{
    char n[24];

    ch_jw_key(w, key);
    jw_put(w, n, (size_t)snprintf(n, sizeof n, "%lld", value));
}

void ch_jw_end(ch_jw *w)
{
    jw_put(w, "}", 1);
}
