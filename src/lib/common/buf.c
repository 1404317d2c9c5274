/* Growable byte buffer with a size cap (include/certhub/common.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certhub/common.h"

void ch_buf_init(ch_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

int ch_buf_grow(ch_buf *b, size_t extra)
{
    size_t limit = b->cap ? b->cap : SIZE_MAX / 2;
    size_t need, n;
    uint8_t *p;

    if (extra > limit || b->len > limit - extra)
        return ch_error_set(CH_ETOOBIG, "data is larger than the limit of %zu bytes", limit);
    need = b->len + extra + 1; /* room for the trailing NUL */
    if (need <= b->alloc)
        return 0;
    n = b->alloc ? b->alloc : 64;
    while (n < need)
        n = n > SIZE_MAX / 2 ? need : n * 2;
    /* Whether the bytes are secret is known to the one who disposes of the buffer, and by then
     * the blocks it outgrew are out of reach: each is wiped as it is left.  (The size doubles,
     * so that wipes fewer bytes than the buffer ends up holding.) */
    if ((p = ch_secure_realloc(b->data, n)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    b->data = p;
    b->alloc = n;
    return 0;
}

int ch_buf_put(ch_buf *b, const void *data, size_t len)
{
    int error;

    if ((error = ch_buf_grow(b, len)) < 0)
        return error;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int ch_buf_puts(ch_buf *b, const char *s)
{
    return ch_buf_put(b, s, strlen(s));
}

int ch_buf_printf(ch_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, error;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return ch_error_set(CH_EINTERNAL, "bad format string");
    if ((error = ch_buf_grow(b, (size_t)n)) < 0)
        return error;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

uint8_t *ch_buf_detach(ch_buf *b, size_t *len)
{
    uint8_t *p = b->data;

    if (len)
        *len = b->len;
    if (p == NULL)
        p = calloc(1, 1); /* callers get a valid empty string, never NULL on success */
    b->data = NULL;
    b->len = b->alloc = 0;
    return p;
}

void ch_buf_dispose(ch_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
}

void ch_buf_dispose_secure(ch_buf *b)
{
    ch_secure_free_block(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
}
