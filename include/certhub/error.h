/*
 * certhub error codes and the thread-local last-error message.
 *
 * Every fallible function returns int: 0 on success or a negative CH_E* code.  The
 * function that fails records one human sentence with ch_error_set(); callers read it
 * with ch_error_last().  Each code maps to one stable string (used by the REST API and
 * the CLI) and one HTTP status.
 *
 * The enum is append-only: never renumber or reuse a code.
 */
#ifndef CERTHUB_ERROR_H
#define CERTHUB_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CH_WARN_UNUSED __attribute__((warn_unused_result))
#define CH_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CH_WARN_UNUSED
#define CH_PRINTF(a, b)
#endif

typedef enum {
    CH_OK = 0,
    CH_EINVAL = -1,       /* invalid argument or input value          400 invalid_input      */
    CH_ENOMEM = -2,       /* out of memory                            500 out_of_memory      */
    CH_EPARSE = -3,       /* malformed bytes (PEM, DER, JSON...)      400 malformed          */
    CH_ETOOBIG = -4,      /* over a size, count or iteration cap      413 too_large          */
    CH_ENOTFOUND = -5,    /* no such object (or another tenant's)     404 not_found          */
    CH_EEXISTS = -6,      /* already present (duplicate)              409 already_exists     */
    CH_EPASSWORD = -7,    /* wrong or missing password                400 wrong_password     */
    CH_EPOLICY = -8,      /* refused by a profile or rule             422 policy_violation   */
    CH_EVERIFY = -9,      /* chain or signature does not verify       422 verify_failed      */
    CH_EUNSUPPORTED = -10,/* valid but not supported (format, algo)   415 unsupported        */
    CH_ECRYPTO = -11,     /* OpenSSL failed where it should not       500 crypto_error       */
    CH_EIO = -12,         /* file or socket I/O failed                500 io_error           */
    CH_ESTORE = -13,      /* the database failed                      500 store_error        */
    CH_EPERM = -14,       /* authenticated but not allowed            403 forbidden          */
    CH_ECONFLICT = -15,   /* state does not allow it (in use...)      409 conflict           */
    CH_EAUTH = -16,       /* not authenticated                        401 unauthorized       */
    CH_EINTERNAL = -17,   /* a bug: an invariant does not hold        500 internal_error     */
    CH_EBUSY = -18,       /* too many attempts: try again later       429 too_many_requests  */
    CH_ENOSPACE = -19,    /* the store's disk is full: nothing stored 507 insufficient_storage */
    CH_EUNAVAIL = -20,    /* out of a resource for now (descriptors)  503 unavailable        */
} ch_error_code;

/* The last error message of this thread ("" when none was set).  Borrowed; valid until the
 * next ch_error_set* on this thread. */
const char *ch_error_last(void);

/* The field (request member) the last error is about, or NULL. */
const char *ch_error_field(void);

/* The code of the last error of this thread (CH_OK when none). */
int ch_error_last_code(void);

/* Records a formatted message for this thread and returns code, so that callers can write
 * `return ch_error_set(CH_EINVAL, "...")`. */
int ch_error_set(int code, const char *fmt, ...) CH_PRINTF(2, 3);

/* Like ch_error_set, and names the input field the message is about. */
int ch_error_set_field(int code, const char *field, const char *fmt, ...) CH_PRINTF(3, 4);

/* A finer, stable reason for the last error, where callers tell cases of one code apart
 * ("not_version_3", "not_a_ca"...): set after ch_error_set*, which clears it; returns the last
 * code.  NULL when none. */
int ch_error_set_reason(const char *reason);
const char *ch_error_reason(void);

/* Records a failure of the OpenSSL function `func`: the message is "<what>: <func> failed:
 * <reasons drained from OpenSSL's error queue>".  The queue is left empty. */
int ch_error_ossl(int code, const char *func, const char *what);

/* Prefixes the current message with "<prefix>: " (context added by a caller). */
void ch_error_prefix(const char *fmt, ...) CH_PRINTF(1, 2);

/* Clears this thread's last error. */
void ch_error_clear(void);

/* Stable snake_case string of a code ("invalid_input"), and its HTTP status. */
const char *ch_error_code_string(int code);
int ch_error_http_status(int code);

#ifdef __cplusplus
}
#endif
#endif
