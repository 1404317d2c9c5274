/*
 * Small shared pieces of libcerthub: size caps for outside input, a growable byte buffer
 * with a cap, secret wiping, hex encoding and the library's one-time initialisation.
 */
#ifndef CERTHUB_COMMON_H
#define CERTHUB_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certhub/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Caps on every size that comes from outside.  Named here so the API, CLI and parsers agree. */
#define CH_MAX_UPLOAD_BYTES   (4u * 1024u * 1024u)  /* one uploaded file or request body     */
#define CH_MAX_JSON_BODY      (4u * 1024u * 1024u)
#define CH_MAX_PEM_OBJECTS    1024u                 /* objects in one PEM bundle             */
#define CH_MAX_CHAIN_LEN      16u                   /* certificates in one chain             */
#define CH_MAX_NAME_LEN       1024u                 /* a DN field, SAN, alias, display name  */
#define CH_MAX_SANS           256u
#define CH_MAX_KDF_ITER       10000000u             /* PKCS#12 / PKCS#8 PBKDF2 iterations    */
#define CH_MAX_KDF_BUDGET     32000000u             /* all of one file's derivations together */
#define CH_MAX_PASSWORD_LEN   1024u

/* A growable byte buffer.  data is NUL-terminated past len for convenience (the NUL is not
 * counted), so text can be printed directly.  cap bounds the length (0 = no bound beyond
 * SIZE_MAX/2).  Initialise with CH_BUF_INIT or ch_buf_init(). */
typedef struct ch_buf {
    uint8_t *data;
    size_t len;
    size_t alloc;
    size_t cap;
} ch_buf;

#define CH_BUF_INIT {NULL, 0, 0, 0}

void ch_buf_init(ch_buf *b, size_t cap);
int ch_buf_grow(ch_buf *b, size_t extra) CH_WARN_UNUSED;
int ch_buf_put(ch_buf *b, const void *data, size_t len) CH_WARN_UNUSED;
int ch_buf_puts(ch_buf *b, const char *s) CH_WARN_UNUSED;
int ch_buf_printf(ch_buf *b, const char *fmt, ...) CH_PRINTF(2, 3) CH_WARN_UNUSED;
/* Hands the bytes to the caller (free with free(), or ch_secure_free for secrets) and
 * leaves b empty. */
uint8_t *ch_buf_detach(ch_buf *b, size_t *len);
/* Frees the bytes. */
void ch_buf_dispose(ch_buf *b);
/* Wipes, then frees the bytes: for buffers that held secrets.  (A buffer leaves nothing
 * behind as it grows: the blocks it outgrew are wiped then.) */
void ch_buf_dispose_secure(ch_buf *b);

/* A JSON object written as text into a ch_buf, member by member, without a tree.  Strings are
 * escaped as jansson does (UTF-8 kept; bytes that are not UTF-8 become U+FFFD).  A failed
 * allocation sets oom and the rest is skipped. */
typedef struct ch_jw {
    ch_buf *b;
    bool first, oom;
} ch_jw;
void ch_jw_begin(ch_jw *w, ch_buf *b);
void ch_jw_key(ch_jw *w, const char *key); /* a member's key: its value follows (an object: ch_jw_begin) */
void ch_jw_str(ch_jw *w, const char *key, const char *value); /* NULL: null */
void ch_jw_bool(ch_jw *w, const char *key, bool value);
void ch_jw_int(ch_jw *w, const char *key, long long value);
void ch_jw_strs(ch_jw *w, const char *key, char *const *values, size_t n); /* an array of strings */
void ch_jw_raw(ch_jw *w, const char *key, const char *json); /* a JSON value written as it is */
void ch_jw_end(ch_jw *w);

/* Wipes len bytes at p in a way the compiler cannot drop. */
void ch_wipe(void *p, size_t len);
/* Wipes the 64 kB of stack below the caller's frame: what a finished call left there (a
 * password a library copied into a frame of its own and did not clear) is gone before the
 * thread waits for its next task.  For threads that handle secrets, between tasks. */
void ch_wipe_stack(void);
/* The first n bytes of needle in [p, end), or NULL (memmem is neither C11 nor POSIX). */
const void *ch_mem_find(const void *p, const void *end, const char *needle, size_t n);
/* The next non-empty line of the text at *cur (NULL or "" is none), its length without the
 * '\n' in *len; NULL after the last.  *cur moves past it. */
const char *ch_text_line(const char **cur, size_t *len);
/* Wipes a NUL-terminated string and frees it.  NULL is accepted. */
void ch_secure_free_str(char *s);
/* Frees a NULL-terminated array of malloc'd strings and the array (NULL: nothing). */
void ch_strv_free(char **v);
/* Wipes len bytes and frees them.  NULL is accepted. */
void ch_secure_free(void *p, size_t len);
/* Wipes the whole heap block p (all malloc_usable_size says it holds: its owner may have
 * written past what it asked for, as jansson's and libevent's buffers do) and frees it.  NULL
 * is accepted.  Fit for an allocator hook of a library whose memory holds secrets. */
void ch_secure_free_block(void *p);
/* realloc that wipes the block it leaves behind (realloc leaves its bytes to be handed out
 * again).  A block that holds n already is returned as it is; NULL and 0 as realloc takes
 * them. */
void *ch_secure_realloc(void *p, size_t n);
/* Constant-time comparison: 0 when equal. */
int ch_memeq_ct(const void *a, const void *b, size_t len);

/* The characters of UTF-8 text (bytes that begin one), which is what X.520's bounds and a
 * table column count. */
size_t ch_utf8_chars(const char *s);
/* Whether s is UTF-8 (RFC 3629: no overlong or surrogate forms, nothing above U+10FFFF). */
bool ch_utf8_valid(const char *s);
/* The bytes of the one UTF-8 character s begins with, as ch_utf8_valid takes it (1 to 4); 0
 * when s begins with none (a byte that begins no character, one cut short, an overlong or
 * surrogate form) or with the NUL that ends it. */
size_t ch_utf8_char_len(const char *s);
/* Writes code point c (at most U+10FFFF, no surrogate) as UTF-8 at out (room for 4 bytes):
 * the bytes written. */
size_t ch_utf8_put(char *out, uint32_t c);
/* The bytes of the character s begins with when it is one no name or alias shown to people may
 * hold, 0 otherwise: a C0 control, DEL, a C1 control (U+0080-U+009F, which terminals read as
 * escapes, CSI among them), and the bidirectional embeddings, overrides and isolates
 * (U+202A-U+202E, U+2066-U+2069), which reorder the text after them on the screen: a name
 * shown as "invoice-exe.pem" may be another one (CVE-2021-42574).  s is UTF-8 (ch_utf8_valid). */
size_t ch_utf8_control(const char *s);
/* The bytes of the character s begins with when it shows as blank space, 0 otherwise: the
 * space, the no-break and other spaces of Unicode's Zs (U+00A0, U+1680, U+2000-U+200A,
 * U+202F, U+205F, U+3000), the line and paragraph separators (U+2028, U+2029), and the
 * zero-width space and no-break space (U+200B, U+FEFF), which show as nothing at all.  The
 * tab and the newline are controls (ch_utf8_control).  s is UTF-8 (ch_utf8_valid). */
size_t ch_utf8_space(const char *s);
/* Where the text of s begins and how many bytes it holds without the white space
 * (ch_utf8_space) at either end: *len 0 when it is only white space.  s is UTF-8. */
const char *ch_utf8_trim(const char *s, size_t *len);
/* A file's name as the name of what it brought when none was given: its first max characters
 * (a longer one cut there, whole characters) without the white space (ch_utf8_space) at either
 * end, in out, of out_size bytes; "" when it is not UTF-8, holds a character ch_utf8_control
 * refuses, or is only white space.  A name taken from a file never refuses an upload that
 * named nothing. */
void ch_name_from_file(char *out, size_t out_size, const char *file, size_t max);
/* A keystore alias as Java holds it: String.toLowerCase(Locale.ENGLISH), which JKS and
 * PKCS12KeyStore apply to every alias (keytool finds "Web" as "web", and of "Ä" and "ä" keeps
 * one entry).  Unicode's lower case of each character ("İ" becomes "i" and a combining dot, a
 * capital sigma ending a word "ς"); bytes that are not UTF-8 are kept.  Allocated (free),
 * NULL when out of memory. */
char *ch_alias_lower(const char *alias);
/* Whether a and b are one alias to Java (ch_alias_lower of each the same). */
bool ch_alias_same(const char *a, const char *b);
/* A URL as those who may not use it see it: its scheme and host, and "/…" for the rest (a
 * webhook's path or query is often its credential, as Slack's and Teams' are; userinfo is). */
void ch_url_redacted(char *out, size_t cap, const char *url);
/* Its scheme and host alone (userinfo left out): what a log line names. */
void ch_url_origin(char *out, size_t cap, const char *url);
/* What keeps url, its scheme checked already, from being one a client can fetch: a space, a
 * control character or one beyond ASCII (RFC 3986: others go percent-encoded; *at is then
 * its byte, from 1), or no host after "://" ("no host", *at 0).  NULL when there is none. */
const char *ch_url_flaw(const char *url, size_t *at);
/* Where a webhook may not lead, for an address (AF_INET: 4 bytes, AF_INET6: 16, in network
 * order): a link-local one (the cloud's metadata service hands out credentials), an
 * unspecified or multicast one, and the host itself (CH_HOOK_LOOPBACK) unless installation
 * (the default tenant's webhook).  The words saying which, or NULL when it may.  certhubd asks
 * it of each address a webhook's host resolves to; settings, of a host written as an address. */
#define CH_HOOK_LOOPBACK "the host itself (loopback)"
const char *ch_hook_address_refused(int af, const unsigned char *addr, bool installation);

/* Lower-case hex of len bytes into out (2*len+1 bytes incl. NUL). */
void ch_hex(char *out, const uint8_t *in, size_t len);
/* The bytes of hex text (either case, an even number of digits, nothing else) into out, at
 * most max; -1 when it is not that or does not fit. */
int ch_unhex(uint8_t *out, size_t max, const char *hex, size_t *len);
/* Hex with ':' between bytes, upper case (fingerprint style); out holds 3*len bytes. */
void ch_hex_colon(char *out, const uint8_t *in, size_t len);
/* The bytes of standard base64 text (RFC 4648 section 4: A-Z a-z 0-9 + /, '=' padding to a
 * whole group of four) appended to out, whose cap bounds them (CH_ETOOBIG); spaces, tabs and
 * line breaks between characters are ignored (base64 -w 76, PEM bodies).  CH_EPARSE, with a
 * sentence saying where and what is wrong, for anything else: a character of another alphabet
 * (base64url's '-' and '_' said as such), '=' that is not the end's padding, text after it, a
 * count of characters that is no whole group, nothing at all.  What is decoded may be a key
 * file: the caller disposes of out with ch_buf_dispose_secure. */
int ch_base64_decode(ch_buf *out, const char *text, size_t len) CH_WARN_UNUSED;
/* len bytes as standard base64 (RFC 4648 section 4, '=' padding, no line breaks) appended to
 * out, with a NUL after them (not counted in out->len). */
int ch_base64_encode(ch_buf *out, const uint8_t *in, size_t len) CH_WARN_UNUSED;

/* Reads a whole file, refusing files larger than cap.  *out is NUL-terminated past *len;
 * free with free(). */
int ch_file_read(uint8_t **out, size_t *len, const char *path, size_t cap) CH_WARN_UNUSED;
/* Writes a file atomically (temporary file in the same directory, fchmod mode, write,
 * fsync, rename, fsync of the directory). */
int ch_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode) CH_WARN_UNUSED;
/* The two halves of it, for files that are to change together: the data written and synced
 * to a new file beside path (its name in tmp), then that file renamed over path.  A failed
 * half removes the new file. */
int ch_file_stage(const char *path, const void *data, size_t len, unsigned mode, char *tmp, size_t tmpsize)
    CH_WARN_UNUSED;
int ch_file_place(const char *tmp, const char *path) CH_WARN_UNUSED;

/* ---- settings files: certhubd's --config, the agent's file */

/* One line of a settings file: a setting "name = value", or a section "[KIND NAME]" (name is
 * KIND, value NAME, "" when the brackets hold the kind alone). */
typedef struct ch_conf_item {
    int line; /* from 1 */
    bool section;
    const char *name;
    const char *value;
} ch_conf_item;
/* Returns 0 to go on, or a CH_E* code (its sentence set, saying nothing of where) to stop. */
typedef int (*ch_conf_fn)(void *arg, const ch_conf_item *item);

/* Hands each setting and section of text (len bytes, with a '\0' past them, as ch_file_read
 * gives a file) to fn, in order.  Blanks around names and values are dropped; a line empty or
 * beginning with '#', and a '#' after a blank to the end of its line, are comments; CRLF line
 * ends and a leading byte order mark are taken.  The text is cut into strings in place.  On an
 * error (CH_EPARSE: no '=', no name, a control character, a bad section; or fn's) *line is the line it
 * is on, so the caller can say "FILE:LINE: sentence"; 0 otherwise. */
int ch_conf_parse(char *text, size_t len, ch_conf_fn fn, void *arg, int *line) CH_WARN_UNUSED;
/* The settings file at path (at most CH_CONF_MAX_BYTES) read and handed to fn as
 * ch_conf_parse does; *line is 0 when the file itself could not be read (said with its path). */
#define CH_CONF_MAX_BYTES (1024 * 1024)
int ch_conf_file(const char *path, ch_conf_fn fn, void *arg, int *line) CH_WARN_UNUSED;
/* A setting's value into out (cap bytes with its '\0'); CH_ETOOBIG, said, if it does not fit,
 * rather than cut. */
int ch_conf_copy(char *out, size_t cap, const ch_conf_item *item) CH_WARN_UNUSED;

/* Cryptographically strong random bytes (OpenSSL's DRBG). */
int ch_random(void *out, size_t len) CH_WARN_UNUSED;

/* ---- multipart/form-data (RFC 7578): uploads from browsers and curl -F */

#define CH_MULTIPART_BOUNDARY_MAX 80
typedef struct ch_multipart_part {
    char name[64];          /* the form field */
    char filename[516];     /* "" when the part is not a file; room for a name's 128 characters of UTF-8 */
    const uint8_t *data;    /* a slice of the body */
    size_t len;
} ch_multipart_part;

/* The boundary parameter of a "multipart/form-data; boundary=..." Content-Type. */
int ch_multipart_boundary(char out[CH_MULTIPART_BOUNDARY_MAX], const char *content_type) CH_WARN_UNUSED;
/* Splits body into at most max parts (CH_ETOOBIG beyond), without copying. */
int ch_multipart_parse(const uint8_t *body, size_t len, const char *boundary, ch_multipart_part *parts, size_t max,
                       size_t *count) CH_WARN_UNUSED;

/* One-time initialisation (OpenSSL's default provider, fetched algorithms).  Safe to call many
 * times and from many threads.  ch_init_legacy also loads the "legacy" provider, for reading
 * old PKCS#12 files and keys (RC2, DES): readers of outside keystores and keys call it. */
int ch_init(void);
int ch_init_legacy(void);

/* Seconds since the epoch from the one clock the library uses (the tests move it with
 * libfaketime, which the real binaries run under unchanged). */
int64_t ch_now(void);

/* Names the calling thread (at most 15 characters are kept), as top -H, ps -L and perf show
 * it: certhubd's threads are told apart by what they do. */
void ch_thread_name(const char *name);

#ifdef __cplusplus
}
#endif
#endif
