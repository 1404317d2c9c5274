/*
 * One bounds-checked reader for every format OpenSSL does not parse (JKS, JCEKS).  Every read
 * checks the bytes left; the first failure sticks, so a parser reads straight through and
 * checks `c->failed` (or the return values) where it must stop.
 */
#ifndef CERTHUB_FORMATS_CURSOR_H
#define CERTHUB_FORMATS_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct ch_cursor {
    const uint8_t *p;
    size_t left;
    bool failed;
} ch_cursor;

static inline void cur_init(ch_cursor *c, const uint8_t *p, size_t len)
{
    c->p = p;
    c->left = len;
    c->failed = false;
}

static inline bool cur_take(ch_cursor *c, const uint8_t **out, size_t n)
{
    if (c->failed || n > c->left) {
        c->failed = true;
        *out = NULL;
        return false;
    }
    *out = c->p;
    c->p += n;
    c->left -= n;
    return true;
}

static inline uint64_t cur_be(ch_cursor *c, size_t n)
{
    const uint8_t *b;
    uint64_t v = 0;

    if (!cur_take(c, &b, n))
        return 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | b[i];
    return v;
}

static inline uint16_t cur_u16(ch_cursor *c) { return (uint16_t)cur_be(c, 2); }
static inline uint32_t cur_u32(ch_cursor *c) { return (uint32_t)cur_be(c, 4); }
static inline uint64_t cur_u64(ch_cursor *c) { return cur_be(c, 8); }

#endif
