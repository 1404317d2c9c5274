/* Thread-local last error of libcerthub (include/certhub/error.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "certhub/error.h"

#define MSG_MAX 1024

static _Thread_local char last_msg[MSG_MAX];
static _Thread_local char last_field[64];
static _Thread_local int last_code;
static _Thread_local char last_reason[48];

const char *ch_error_last(void)
{
    return last_msg;
}

const char *ch_error_field(void)
{
    return last_field[0] ? last_field : NULL;
}

int ch_error_last_code(void)
{
    return last_code;
}

const char *ch_error_reason(void)
{
    return last_reason[0] ? last_reason : NULL;
}

int ch_error_set_reason(const char *reason)
{
    snprintf(last_reason, sizeof last_reason, "%s", reason ? reason : "");
    return last_code;
}

void ch_error_clear(void)
{
    last_reason[0] = '\0';
    last_msg[0] = '\0';
    last_field[0] = '\0';
    last_code = 0;
}

static int vset(int code, const char *field, const char *fmt, va_list ap)
{
    /* Format into a local first: the arguments may point into last_msg itself. */
    char tmp[MSG_MAX];

    vsnprintf(tmp, sizeof tmp, fmt, ap);
    memcpy(last_msg, tmp, sizeof tmp);
    if (field != NULL)
        snprintf(last_field, sizeof last_field, "%s", field);
    else
        last_field[0] = '\0';
    last_reason[0] = '\0';
    last_code = code;
    return code;
}

int ch_error_set(int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vset(code, NULL, fmt, ap);
    va_end(ap);
    return code;
}

int ch_error_set_field(int code, const char *field, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vset(code, field, fmt, ap);
    va_end(ap);
    return code;
}

void ch_error_prefix(const char *fmt, ...)
{
    char prefix[MSG_MAX], tmp[MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Truncation of an over-long message is acceptable; it is for people to read. */
    size_t n = strlen(prefix);
    if (n > sizeof tmp - 3)
        n = sizeof tmp - 3;
    memcpy(tmp, prefix, n);
    memcpy(tmp + n, ": ", 2);
    size_t m = strnlen(last_msg, sizeof last_msg);
    if (m > sizeof tmp - n - 3)
        m = sizeof tmp - n - 3;
    memcpy(tmp + n + 2, last_msg, m);
    tmp[n + 2 + m] = '\0';
    memcpy(last_msg, tmp, sizeof tmp);
}

int ch_error_ossl(int code, const char *func, const char *what)
{
    char reasons[MSG_MAX] = "";
    size_t used = 0;
    unsigned long e;

    /* Keep the reason strings only (not the file:line noise) and join them. */
    while ((e = ERR_get_error()) != 0) {
        const char *r = ERR_reason_error_string(e);
        char num[32];
        int n;

        if (r == NULL) {
            snprintf(num, sizeof num, "error %lu", e);
            r = num;
        }
        if (used > 0 && strstr(reasons, r) != NULL)
            continue; /* the queue often repeats one reason */
        n = snprintf(reasons + used, sizeof reasons - used, "%s%s", used ? "; " : "", r);
        if (n < 0 || (size_t)n >= sizeof reasons - used)
            break;
        used += (size_t)n;
    }
    ERR_clear_error();
    if (used == 0)
        return ch_error_set(code, "%s: %s failed", what ? what : "crypto", func);
    return ch_error_set(code, "%s: %s failed: %s", what ? what : "crypto", func, reasons);
}

const char *ch_error_code_string(int code)
{
    switch (code) {
    case CH_OK: return "ok";
    case CH_EINVAL: return "invalid_input";
    case CH_ENOMEM: return "out_of_memory";
    case CH_EPARSE: return "malformed";
    case CH_ETOOBIG: return "too_large";
    case CH_ENOTFOUND: return "not_found";
    case CH_EEXISTS: return "already_exists";
    case CH_EPASSWORD: return "wrong_password";
    case CH_EPOLICY: return "policy_violation";
    case CH_EVERIFY: return "verify_failed";
    case CH_EUNSUPPORTED: return "unsupported";
    case CH_ECRYPTO: return "crypto_error";
    case CH_EIO: return "io_error";
    case CH_ESTORE: return "store_error";
    case CH_EPERM: return "forbidden";
    case CH_ECONFLICT: return "conflict";
    case CH_EAUTH: return "unauthorized";
    case CH_EINTERNAL: return "internal_error";
    case CH_EBUSY: return "too_many_requests";
    case CH_ENOSPACE: return "insufficient_storage";
    case CH_EUNAVAIL: return "unavailable";
    default: return "internal_error";
    }
}

int ch_error_http_status(int code)
{
    switch (code) {
    case CH_OK: return 200;
    case CH_EINVAL: case CH_EPARSE: case CH_EPASSWORD: return 400;
    case CH_EAUTH: return 401;
    case CH_EPERM: return 403;
    case CH_ENOTFOUND: return 404;
    case CH_EEXISTS: case CH_ECONFLICT: return 409;
    case CH_ETOOBIG: return 413;
    case CH_EUNSUPPORTED: return 415;
    case CH_EPOLICY: case CH_EVERIFY: return 422;
    case CH_EBUSY: return 429;
    case CH_ENOSPACE: return 507;
    case CH_EUNAVAIL: return 503;
    default: return 500;
    }
}
