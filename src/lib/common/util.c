/* Secrets, hex, files, randomness, initialisation and the clock (include/certhub/common.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <locale.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wctype.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "certhub/common.h"

void ch_wipe(void *p, size_t len)
{
    if (p != NULL && len > 0)
        OPENSSL_cleanse(p, len);
}

__attribute__((noinline)) void ch_wipe_stack(void)
{
    unsigned char below[64 * 1024];

    OPENSSL_cleanse(below, sizeof below); /* (a call the compiler keeps: the array is not read) */
}

void ch_strv_free(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

void ch_secure_free_str(char *s)
{
    if (s == NULL)
        return;
    ch_wipe(s, strlen(s));
    free(s);
}

void ch_secure_free(void *p, size_t len)
{
    if (p == NULL)
        return;
    ch_wipe(p, len);
    free(p);
}

void ch_secure_free_block(void *p)
{
    if (p == NULL)
        return;
    ch_wipe(p, malloc_usable_size(p));
    free(p);
}

void *ch_secure_realloc(void *p, size_t n)
{
    size_t have;
    void *q;

    if (p == NULL)
        return malloc(n);
    if (n == 0) {
        ch_secure_free_block(p);
        return NULL;
    }
    if (n <= (have = malloc_usable_size(p)))
        return p;
    if ((q = malloc(n)) == NULL)
        return NULL; /* p is left as it was, as realloc leaves it */
    memcpy(q, p, have);
    ch_secure_free_block(p);
    return q;
}

int ch_memeq_ct(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len);
}

size_t ch_utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

void ch_name_from_file(char *out, size_t out_size, const char *file, size_t max)
{
    size_t used = 0, n = 0, c, kept = 0, text_len;

    if (out_size == 0)
        return;
    out[0] = '\0';
    if (!ch_utf8_valid(file))
        return;
    /* (a name is refused with white space at either end: one taken from a file goes without,
     * and without what a cut at max characters leaves at its end: kept) */
    file = ch_utf8_trim(file, &text_len);
    for (const char *p = file; p < file + text_len && n < max; p += c, n++) {
        if (ch_utf8_control(p) > 0) {
            out[0] = '\0';
            return;
        }
        c = ch_utf8_char_len(p);
        if (used + c >= out_size)
            break;
        memcpy(out + used, p, c);
        used += c;
        if (ch_utf8_space(p) == 0)
            kept = used;
    }
    out[kept] = '\0';
}

static uint32_t utf8_get(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t c = n == 1 ? p[0] : n == 2 ? p[0] & 0x1fu : n == 3 ? p[0] & 0x0fu : p[0] & 0x07u;

    for (size_t i = 1; i < n; i++)
        c = c << 6 | (p[i] & 0x3fu);
    return c;
}

/* Unicode's case tables as glibc's C.UTF-8 holds them (a locale of the C library itself,
 * installed with it), whatever the process's own locale. */
static locale_t g_utf8_locale;
static pthread_once_t g_utf8_once = PTHREAD_ONCE_INIT;

static void utf8_locale_open(void)
{
    g_utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* Whether the character at s (UTF-8, n bytes) is a letter. */
static bool utf8_letter(const char *s, size_t n)
{
    uint32_t c = utf8_get(s, n);

    return g_utf8_locale ? iswalpha_l((wint_t)c, g_utf8_locale) != 0
                         : (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

char *ch_alias_lower(const char *alias)
{
    size_t len = strlen(alias), used = 0, prev = 0;
    char *out = malloc(len * 2 + 1); /* (a lower case is at most 3 bytes where its capital is 2) */
    const char *p = alias;

    if (out == NULL)
        return NULL;
    pthread_once(&g_utf8_once, utf8_locale_open);
    while (*p) {
        size_t n = ch_utf8_char_len(p), next;
        uint32_t c;
        if (n == 0) { /* (not UTF-8: kept as it is) */
            out[used++] = *p++;
            prev = 0;
            continue;
        }
        c = utf8_get(p, n);
        if (c == 0x130) { /* U+0130: Java's is "i" with U+0307, a combining dot above */
            memcpy(out + used, "i\xcc\x87", 3);
            used += 3;
        } else if (c == 0x3a3) {
            /* Sigma: final (U+03C2) after a letter and before none, as Java writes it. */
            next = ch_utf8_char_len(p + n);
            c = prev > 0 && utf8_letter(p - prev, prev) && !(next > 0 && utf8_letter(p + n, next)) ? 0x3c2 : 0x3c3;
            used += ch_utf8_put(out + used, c);
        } else {
            if (g_utf8_locale)
                c = (uint32_t)towlower_l((wint_t)c, g_utf8_locale);
            else if (c >= 'A' && c <= 'Z')
                c += 32;
            used += ch_utf8_put(out + used, c);
        }
        p += n;
        prev = n;
    }
    out[used] = '\0';
    return out;
}

bool ch_alias_same(const char *a, const char *b)
{
    char *la, *lb;
    bool same;

    if (strcasecmp(a, b) == 0) /* (most aliases are ASCII) */
        return true;
    la = ch_alias_lower(a);
    lb = ch_alias_lower(b);
    same = la != NULL && lb != NULL && strcmp(la, lb) == 0;
    free(la);
    free(lb);
    return same;
}

size_t ch_utf8_char_len(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = *p == 0 ? 0 : *p < 0x80 ? 1 : *p >= 0xc2 && *p <= 0xdf ? 2 : *p >= 0xe0 && *p <= 0xef ? 3
             : *p >= 0xf0 && *p <= 0xf4 ? 4 : 0;

    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0; /* (a NUL ends the loop here too) */
    if ((n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) ||
        (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))))
        return 0;
    return n;
}

size_t ch_utf8_put(char *out, uint32_t c)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xc0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xe0 | c >> 12);
        out[1] = (char)(0x80 | (c >> 6 & 0x3f));
        out[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | c >> 18);
    out[1] = (char)(0x80 | (c >> 12 & 0x3f));
    out[2] = (char)(0x80 | (c >> 6 & 0x3f));
    out[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

bool ch_utf8_valid(const char *s)
{
    size_t n;

    while (*s) {
        if ((n = ch_utf8_char_len(s)) == 0)
            return false;
        s += n;
    }
    return true;
}

size_t ch_utf8_control(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    if ((*p != 0 && *p < 0x20) || *p == 0x7f)
        return 1;
    if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
        return 2;
    /* U+202A-U+202E: E2 80 AA-AE; U+2066-U+2069: E2 81 A6-A9 */
    if (p[0] == 0xe2 && ((p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) || (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)))
        return 3;
    return 0;
}

const char *ch_utf8_trim(const char *s, size_t *len)
{
    const char *end;
    size_t c;

    while ((c = ch_utf8_space(s)) > 0)
        s += c;
    end = s;
    for (const char *p = s; *p; p += ch_utf8_char_len(p))
        if (ch_utf8_space(p) == 0)
            end = p + ch_utf8_char_len(p);
    *len = (size_t)(end - s);
    return s;
}

size_t ch_utf8_space(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    if (p[0] == ' ')
        return 1;
    if (p[0] == 0xc2 && p[1] == 0xa0)
        return 2;
    if ((p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80) ||                          /* U+1680 */
        (p[0] == 0xe2 && p[1] == 0x80 && ((p[2] >= 0x80 && p[2] <= 0x8b) ||       /* U+2000-U+200B */
                                          p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf)) || /* U+2028, 2029, 202F */
        (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f) ||                          /* U+205F */
        (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80) ||                          /* U+3000 */
        (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf))                            /* U+FEFF */
        return 3;
    return 0;
}

const void *ch_mem_find(const void *p, const void *end, const char *needle, size_t n)
{
    const uint8_t *q = p, *stop = end;

    while ((size_t)(stop - q) >= n) {
        const uint8_t *hit = memchr(q, needle[0], (size_t)(stop - q) - n + 1);
        if (hit == NULL)
            return NULL;
        if (memcmp(hit, needle, n) == 0)
            return hit;
        q = hit + 1;
    }
    return NULL;
}

const char *ch_text_line(const char **cur, size_t *len)
{
    const char *p = *cur, *nl;

    if (p == NULL)
        return NULL;
    while (*p == '\n')
        p++;
    if (*p == '\0') {
        *cur = p;
        return NULL;
    }
    if ((nl = strchr(p, '\n')) == NULL)
        nl = p + strlen(p);
    *len = (size_t)(nl - p);
    *cur = nl;
    return p;
}

/* The scheme and host of url into out; whether anything follows them. */
static bool url_origin(char *out, size_t cap, const char *url)
{
    const char *sep = strstr(url, "://"), *host = sep ? sep + 3 : url, *at;
    int scheme = (int)(host - url);
    size_t n = strcspn(host, "/?#");

    if ((at = memchr(host, '@', n)) != NULL) {
        n -= (size_t)(at + 1 - host);
        host = at + 1;
    }
    snprintf(out, cap, "%.*s%.*s", scheme, url, (int)n, host);
    return host[n] != '\0';
}

const char *ch_url_flaw(const char *url, size_t *at)
{
    const char *sep = strstr(url, "://");

    *at = 0;
    for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
        if (*p > 0x20 && *p < 0x7f)
            continue;
        *at = (size_t)((const char *)p - url) + 1;
        return *p == ' ' ? "a space" : *p < 0x20 || *p == 0x7f ? "a control character" : "a character beyond ASCII";
    }
    if (sep == NULL || sep[3] == '\0' || strchr("/?#@:", sep[3]) != NULL)
        return "no host";
    return NULL;
}

const char *ch_hook_address_refused(int af, const unsigned char *a, bool installation)
{
    static const unsigned char loop6[16] = {[15] = 1}, none6[16] = {0};
    bool mapped;

    if (af == AF_INET) {
        if (a[0] == 169 && a[1] == 254)
            return "a link-local address";
        if ((a[0] | a[1] | a[2] | a[3]) == 0 || (a[0] >> 4) == 0xe)
            return "an unspecified or multicast address";
        return a[0] == 127 && !installation ? CH_HOOK_LOOPBACK : NULL;
    }
    if (af != AF_INET6)
        return NULL;
    mapped = memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0; /* (::ffff:a.b.c.d) */
    if ((a[0] == 0xfe && (a[1] & 0xc0) == 0x80) || (mapped && a[12] == 169 && a[13] == 254))
        return "a link-local address";
    if (memcmp(a, none6, 16) == 0 || a[0] == 0xff)
        return "an unspecified or multicast address";
    return (memcmp(a, loop6, 16) == 0 || (mapped && a[12] == 127)) && !installation ? CH_HOOK_LOOPBACK : NULL;
}

void ch_url_origin(char *out, size_t cap, const char *url)
{
    (void)url_origin(out, cap, url);
}

void ch_url_redacted(char *out, size_t cap, const char *url)
{
    size_t n;

    if (url_origin(out, cap, url) && (n = strlen(out)) + sizeof "/\u2026" <= cap)
        memcpy(out + n, "/\u2026", sizeof "/\u2026");
}

void ch_hex(char *out, const uint8_t *in, size_t len)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int ch_unhex(uint8_t *out, size_t max, const char *hex, size_t *len)
{
    size_t n = hex ? strlen(hex) : 0;

    if (n % 2 != 0 || n / 2 > max)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *len = n / 2;
    return 0;
}

static int base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int ch_base64_encode(ch_buf *out, const uint8_t *in, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char quad[4];
    int error;

    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        size_t left = len - i;
        if (left > 1)
            v |= (uint32_t)in[i + 1] << 8;
        if (left > 2)
            v |= in[i + 2];
        quad[0] = abc[(v >> 18) & 63];
        quad[1] = abc[(v >> 12) & 63];
        quad[2] = left > 1 ? abc[(v >> 6) & 63] : '=';
        quad[3] = left > 2 ? abc[v & 63] : '=';
        if ((error = ch_buf_put(out, quad, 4)) < 0)
            return error;
    }
    if ((error = ch_buf_put(out, "", 1)) < 0)
        return error;
    out->len--; /* (the NUL is there, not counted) */
    return 0;
}

int ch_base64_decode(ch_buf *out, const char *text, size_t len)
{
    uint32_t group = 0;
    size_t digits = 0, pad = 0;
    bool ended = false;
    uint8_t bytes[3];
    int error, v;

    for (size_t at = 0; at < len; at++) {
        unsigned char c = (unsigned char)text[at];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (ended || (pad > 0 && c != '='))
            return ch_error_set(CH_EPARSE, "there is text after the '=' padding that ends base64 (character %zu)",
                                at + 1);
        if (c == '=') {
            /* (padding stands for the last one or two characters of the last group) */
            if (digits % 4 < 2)
                return ch_error_set(CH_EPARSE, "'=' (character %zu) is not padding: it comes only at the end, in "
                                    "place of the last one or two characters of a group of four", at + 1);
            pad++;
            v = 0;
        } else if ((v = base64_value(c)) < 0) {
            if (c == '-' || c == '_')
                return ch_error_set(CH_EPARSE, "'%c' (character %zu) is base64url's; standard base64 has '%c' in "
                                    "its place", c, at + 1, c == '-' ? '+' : '/');
            if (c >= 0x20 && c < 0x7f)
                return ch_error_set(CH_EPARSE, "'%c' (character %zu) is not a base64 character", c, at + 1);
            return ch_error_set(CH_EPARSE, "the byte 0x%02x (character %zu) is not a base64 character", c, at + 1);
        }
        group = group << 6 | (uint32_t)v;
        if (++digits % 4 == 0) {
            bytes[0] = (uint8_t)(group >> 16);
            bytes[1] = (uint8_t)(group >> 8);
            bytes[2] = (uint8_t)group;
            if ((error = ch_buf_put(out, bytes, 3 - pad)) < 0)
                return error;
            group = 0;
            ended = pad > 0;
        }
    }
    if (digits == 0)
        return ch_error_set(CH_EPARSE, "there is no base64 text");
    if (digits % 4 != 0)
        return ch_error_set(CH_EPARSE, "%zu base64 characters are no whole groups of four: the text is cut short, or "
                            "its '=' padding is missing", digits);
    return 0;
}

void ch_hex_colon(char *out, const uint8_t *in, size_t len)
{
    static const char digits[] = "0123456789ABCDEF";

    if (len == 0) {
        out[0] = '\0';
        return;
    }
    for (size_t i = 0; i < len; i++) {
        out[3 * i] = digits[in[i] >> 4];
        out[3 * i + 1] = digits[in[i] & 15];
        out[3 * i + 2] = ':';
    }
    out[3 * len - 1] = '\0';
}

int ch_file_read(uint8_t **out, size_t *len, const char *path, size_t cap)
{
    ch_buf b;
    uint8_t chunk[16384];
    size_t n;
    FILE *f;
    int error = 0;

    *out = NULL;
    *len = 0;
    if ((f = fopen(path, "rb")) == NULL)
        return ch_error_set(CH_EIO, "cannot open %s: %s", path, strerror(errno));
    /* The file may be a key or a password: read unbuffered, so that stdio's buffer (freed by
     * fclose, not wiped) never holds it, and chunk is wiped below. */
    setvbuf(f, NULL, _IONBF, 0);
    ch_buf_init(&b, cap);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if ((error = ch_buf_put(&b, chunk, n)) < 0) {
            if (error == CH_ETOOBIG)
                ch_error_set(CH_ETOOBIG, "%s is larger than the limit of %zu bytes", path, cap);
            break;
        }
    }
    if (error == 0 && ferror(f))
        error = ch_error_set(CH_EIO, "cannot read %s: %s", path, strerror(errno));
    fclose(f);
    ch_wipe(chunk, sizeof chunk);
    if (error < 0) {
        ch_buf_dispose_secure(&b);
        return error;
    }
    *out = ch_buf_detach(&b, len);
    if (*out == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    return 0;
}

int ch_file_stage(const char *path, const void *data, size_t len, unsigned mode, char *tmp, size_t tmpsize)
{
    const uint8_t *p = data;
    int fd = -1, error = 0;

    if ((size_t)snprintf(tmp, tmpsize, "%s.XXXXXX", path) >= tmpsize)
        return ch_error_set(CH_EINVAL, "path too long: %s", path);
    if ((fd = mkstemp(tmp)) < 0)
        return ch_error_set(CH_EIO, "cannot create a file beside %s: %s", path, strerror(errno));
    if (fchmod(fd, (mode_t)mode) != 0) {
        error = ch_error_set(CH_EIO, "cannot set the mode of %s: %s", tmp, strerror(errno));
        goto out;
    }
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            error = ch_error_set(CH_EIO, "cannot write %s: %s", tmp, strerror(errno));
            goto out;
        }
        p += w;
        len -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        error = ch_error_set(CH_EIO, "cannot sync %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        error = ch_error_set(CH_EIO, "cannot close %s: %s", tmp, strerror(errno));
        goto out;
    }
    return 0;
out:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return error;
}

int ch_file_place(const char *tmp, const char *path)
{
    char dir[4096];
    int dfd;

    if (rename(tmp, path) != 0) {
        int error = ch_error_set(CH_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return error;
    }
    /* The rename is durable only once the directory entry is. */
    snprintf(dir, sizeof dir, "%s", path);
    if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY)) >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}

int ch_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    char tmp[4096];
    int error = ch_file_stage(path, data, len, mode, tmp, sizeof tmp);

    return error < 0 ? error : ch_file_place(tmp, path);
}

int ch_random(void *out, size_t len)
{
    if (len > 0 && RAND_bytes(out, (int)len) != 1)
        return ch_error_ossl(CH_ECRYPTO, "RAND_bytes", "random bytes");
    return 0;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;
/* Kept for the life of the process (and so reachable, not leaked, at exit). */
static OSSL_PROVIDER *prov_default, *prov_legacy;

static pthread_once_t legacy_once = PTHREAD_ONCE_INIT;

static void init_run(void)
{
    /* Loaded explicitly, since the legacy provider may be loaded too (ch_init_legacy). */
    if ((prov_default = OSSL_PROVIDER_load(NULL, "default")) == NULL) {
        init_result = ch_error_ossl(CH_ECRYPTO, "OSSL_PROVIDER_load", "loading the default provider");
        return;
    }
    init_result = 0;
}

int ch_init(void)
{
    pthread_once(&init_once, init_run);
    return init_result;
}

static void legacy_run(void)
{
    prov_legacy = OSSL_PROVIDER_load(NULL, "legacy"); /* optional: without it only old formats are lost */
    ERR_clear_error();
}

/* The legacy provider reads old PKCS#12 files and keys (RC2, DES) that Java and Windows still
 * write.  It is loaded by the first reader of such input, not at start: a certhubd that never
 * reads one does not keep it resident. */
int ch_init_legacy(void)
{
    int error = ch_init();

    if (error == 0)
        pthread_once(&legacy_once, legacy_run);
    return error;
}

int64_t ch_now(void)
{
    return (int64_t)time(NULL);
}

void ch_thread_name(const char *name)
{
    char shortened[16];

    snprintf(shortened, sizeof shortened, "%s", name);
    (void)prctl(PR_SET_NAME, shortened, 0, 0, 0);
}
