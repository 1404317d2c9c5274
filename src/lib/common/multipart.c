/*
 * multipart/form-data (RFC 7578) bodies, read without copying: each part is a slice of the
 * body.  Only what browsers and curl send is accepted: a boundary parameter, parts with a
 * Content-Disposition: form-data header naming the part, CRLF line ends.  Everything is
 * bounded by the body length; nothing is read past it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "certhub/common.h"

/* The value of param (boundary, name, filename) in a header value; quoted or token.  A NUL in
 * it makes it none (a C string would end there: "a\0evil.pem" was named "a").  One longer than
 * out is none, or with cut its first bytes that hold whole UTF-8 characters (a file name, which
 * is cut to a name's length later anyway). */
static int param(const char *h, size_t hlen, const char *name, char *out, size_t outsize, bool cut)
{
    size_t nlen = strlen(name), i = 0;

    while (i < hlen) {
        /* A parameter starts after ';' (and spaces). */
        while (i < hlen && h[i] != ';')
            i++;
        if (i >= hlen)
            break;
        i++;
        while (i < hlen && (h[i] == ' ' || h[i] == '\t'))
            i++;
        if (hlen - i > nlen && strncasecmp(h + i, name, nlen) == 0 && h[i + nlen] == '=') {
            size_t k = 0;
            bool full = false, quoted;
            i += nlen + 1;
            quoted = i < hlen && h[i] == '"';
            for (i += quoted; i < hlen && (quoted ? h[i] != '"' : h[i] != ';' && h[i] != ' ' && h[i] != '\t'); i++) {
                if (quoted && h[i] == '\\' && i + 1 < hlen)
                    i++;
                if (h[i] == '\0')
                    return -1;
                if (k + 1 >= outsize && !cut)
                    return -1;
                if (k + 1 >= outsize)
                    full = true;
                if (!full)
                    out[k++] = h[i];
            }
            if (quoted && i >= hlen)
                return -1; /* unterminated quote */
            if (full) { /* (back to the last whole character) */
                size_t j = k;
                while (j > 0 && ((unsigned char)out[j - 1] & 0xc0) == 0x80)
                    j--;
                if (j > 0 && (unsigned char)out[j - 1] >= 0xc0) {
                    unsigned char lead = (unsigned char)out[j - 1];
                    size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
                    if (k - (j - 1) < need)
                        k = j - 1;
                }
            }
            out[k] = '\0';
            return k > 0 ? 0 : -1;
        }
    }
    return -1;
}

int ch_multipart_boundary(char out[CH_MULTIPART_BOUNDARY_MAX], const char *content_type)
{
    if (content_type == NULL || strncasecmp(content_type, "multipart/form-data", 19) != 0 ||
        param(content_type, strlen(content_type), "boundary", out, CH_MULTIPART_BOUNDARY_MAX, false) < 0 ||
        strlen(out) > 70)
        return ch_error_set(CH_EINVAL, "multipart/form-data needs a boundary parameter of 1 to 70 characters");
    return 0;
}

/* Reads the headers of one part in [p, end): the name and filename of its Content-Disposition. */
static int part_headers(ch_multipart_part *part, const uint8_t *p, const uint8_t *end)
{
    bool disposition = false;

    while (p < end) {
        const uint8_t *eol = ch_mem_find(p, end, "\r\n", 2);
        size_t n = (size_t)((eol ? eol : end) - p);
        if (n > 20 && strncasecmp((const char *)p, "Content-Disposition:", 20) == 0) {
            const char *v = (const char *)p + 20;
            size_t vlen = n - 20;
            while (vlen && (*v == ' ' || *v == '\t'))
                v++, vlen--;
            if (vlen < 9 || strncasecmp(v, "form-data", 9) != 0 ||
                param(v, vlen, "name", part->name, sizeof part->name, false) < 0)
                return ch_error_set(CH_EINVAL, "a multipart part needs Content-Disposition: form-data; name=\"...\"");
            if (param(v, vlen, "filename", part->filename, sizeof part->filename, true) < 0)
                part->filename[0] = '\0';
            disposition = true;
        }
        if (eol == NULL)
            break;
        p = eol + 2;
    }
    return disposition ? 0
                       : ch_error_set(CH_EINVAL, "a multipart part needs Content-Disposition: form-data; name=\"...\"");
}

int ch_multipart_parse(const uint8_t *body, size_t len, const char *boundary, ch_multipart_part *parts, size_t max,
                       size_t *count)
{
    static const uint8_t none[1];
    char delim[CH_MULTIPART_BOUNDARY_MAX + 4];
    size_t dlen;
    const uint8_t *end, *p;

    *count = 0;
    /* An empty body may come as NULL: no arithmetic on a null pointer. */
    if (body == NULL)
        body = none, len = 0;
    end = body + len;
    dlen = (size_t)snprintf(delim, sizeof delim, "\r\n--%s", boundary ? boundary : "");
    if (boundary == NULL || boundary[0] == '\0' || dlen >= sizeof delim)
        return ch_error_set(CH_EINVAL, "no multipart boundary");
    /* The first delimiter may open the body without the CRLF before it. */
    if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0)
        p = body + dlen - 2;
    else if ((p = ch_mem_find(body, end, delim, dlen)) != NULL)
        p += dlen;
    else
        return ch_error_set(CH_EPARSE, "the multipart body has no boundary line");
    for (;;) {
        const uint8_t *hdr_end, *next;
        ch_multipart_part *part;
        /* After a delimiter: "--" closes the body, CRLF starts a part. */
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return *count > 0 ? 0 : ch_error_set(CH_EINVAL, "the multipart body has no parts");
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return ch_error_set(CH_EPARSE, "the multipart body is cut short or malformed after a boundary");
        p += 2;
        if ((hdr_end = ch_mem_find(p, end, "\r\n\r\n", 4)) == NULL) {
            /* A part without headers starts with the blank line itself. */
            return ch_error_set(CH_EPARSE, "a multipart part has no end to its headers");
        }
        if ((next = ch_mem_find(hdr_end + 4, end, delim, dlen)) == NULL)
            return ch_error_set(CH_EPARSE, "the multipart body has no closing boundary");
        if (*count >= max)
            return ch_error_set(CH_ETOOBIG, "more than %zu parts in the multipart body", max);
        part = &parts[(*count)++];
        memset(part, 0, sizeof *part);
        if (part_headers(part, p, hdr_end) < 0)
            return ch_error_last_code();
        part->data = hdr_end + 4;
        part->len = (size_t)(next - part->data);
        p = next + dlen;
    }
}
