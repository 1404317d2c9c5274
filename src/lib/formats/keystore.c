/*
 * The neutral keystore model, format detection, and the formats OpenSSL reads for us: PEM,
 * DER, PKCS#7 and PKCS#12 (RFC 7292).  JKS and JCEKS live in jks.c.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "certhub/formats.h"
#include "formats/formats_internal.h"
#include "x509/x509_internal.h"

/* ------------------------------------------------------------- model */

int ch_keystore_new(ch_keystore **out)
{
    if ((*out = calloc(1, sizeof **out)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    return 0;
}

void ch_keystore_free(ch_keystore *ks)
{
    if (ks == NULL)
        return;
    for (size_t i = 0; i < ks->count; i++) {
        free(ks->entries[i].alias);
        ch_cert_list_free(ks->entries[i].chain, ks->entries[i].chain_len);
        ch_key_free(ks->entries[i].key);
    }
    free(ks->entries);
    free(ks->notes);
    free(ks);
}

/* Taken in any case (ASCII, as the JKS writer lowers it): Java compares aliases so, and of
 * "Web" and "web" keytool keeps one entry. */
static bool alias_taken(const ch_keystore *ks, const char *alias)
{
    for (size_t i = 0; i < ks->count; i++)
        if (ch_alias_same(ks->entries[i].alias, alias))
            return true;
    return false;
}

int ch_keystore_add(ch_keystore *ks, const char *alias, ch_cert *const *chain, size_t chain_len, ch_key *key)
{
    ch_ks_entry *grown, *e;

    if (alias == NULL || *alias == '\0' || strlen(alias) > CH_MAX_NAME_LEN)
        return ch_error_set_field(CH_EINVAL, "alias", "an alias of 1 to %u bytes is required", CH_MAX_NAME_LEN);
    for (const char *p = alias; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return ch_error_set_field(CH_EINVAL, "alias", "the alias contains a control character");
    if (alias_taken(ks, alias))
        return ch_error_set_field(CH_EEXISTS, "alias", "two entries have the alias \"%.64s\"", alias);
    if (chain_len == 0 || chain_len > CH_MAX_CHAIN_LEN)
        return ch_error_set(CH_EINVAL, "an entry needs 1 to %u certificates", CH_MAX_CHAIN_LEN);
    if (ks->count >= CH_MAX_KS_ENTRIES)
        return ch_error_set(CH_ETOOBIG, "more than %u entries in one keystore", CH_MAX_KS_ENTRIES);
    if ((grown = realloc(ks->entries, (ks->count + 1) * sizeof *grown)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    ks->entries = grown;
    e = &ks->entries[ks->count];
    memset(e, 0, sizeof *e);
    if ((e->alias = strdup(alias)) == NULL || (e->chain = calloc(chain_len, sizeof *e->chain)) == NULL) {
        free(e->alias);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < chain_len; i++)
        e->chain[i] = ch_cert_dup(chain[i]);
    e->chain_len = chain_len;
    e->key = key ? ch_key_dup(key) : NULL;
    ks->count++;
    return 0;
}

int fmt_note(ch_keystore *ks, const char *fmt, ...)
{
    char line[256];
    size_t old = ks->notes ? strlen(ks->notes) : 0, n;
    char *grown;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    n = strlen(line);
    if (old > 16384)
        return 0; /* enough said */
    if ((grown = realloc(ks->notes, old + n + 2)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    memcpy(grown + old, line, n);
    grown[old + n] = '\n';
    grown[old + n + 1] = '\0';
    ks->notes = grown;
    return 0;
}

/* ------------------------------------------------------------- detection */

static const struct {
    const char *name;
    ch_format f;
} format_names[] = {
    {"pem", CH_FMT_PEM},       {"der", CH_FMT_DER},      {"cer", CH_FMT_DER},    {"crt", CH_FMT_DER},
    {"p7b", CH_FMT_PKCS7},     {"p7c", CH_FMT_PKCS7},    {"pkcs7", CH_FMT_PKCS7}, {"p12", CH_FMT_PKCS12},
    {"pfx", CH_FMT_PKCS12},    {"pkcs12", CH_FMT_PKCS12}, {"jks", CH_FMT_JKS},    {"jceks", CH_FMT_JCEKS},
};

const char *ch_format_name(ch_format f)
{
    switch (f) {
    case CH_FMT_PEM: return "pem";
    case CH_FMT_DER: return "der";
    case CH_FMT_PKCS7: return "p7b";
    case CH_FMT_PKCS12: return "p12";
    case CH_FMT_JKS: return "jks";
    case CH_FMT_JCEKS: return "jceks";
    default: return "unknown";
    }
}

int ch_format_parse(ch_format *out, const char *name)
{
    *out = CH_FMT_UNKNOWN;
    for (size_t i = 0; name && i < sizeof format_names / sizeof format_names[0]; i++)
        if (strcasecmp(name, format_names[i].name) == 0) {
            *out = format_names[i].f;
            return 0;
        }
    return ch_error_set_field(CH_EINVAL, "format",
                              "unknown format \"%.32s\"; accepted: " CH_FORMAT_NAMES_WRITTEN ", and jceks to read",
                              name ? name : "");
}

bool ch_der_cut_short(const uint8_t *data, size_t len, size_t *want)
{
    size_t n, hdr;

    if (len < 2 || data[0] != 0x30)
        return false;
    if (data[1] < 0x80) {
        n = data[1];
        hdr = 2;
    } else {
        size_t k = data[1] & 0x7f;
        if (k == 0 || k > 4 || len < 2 + k)
            return false;
        n = 0;
        for (size_t i = 0; i < k; i++)
            n = n << 8 | data[2 + i];
        hdr = 2 + k;
    }
    if (n > SIZE_MAX - hdr || hdr + n <= len)
        return false;
    *want = hdr + n;
    return true;
}

int ch_format_detect(ch_format *out, const uint8_t *data, size_t len)
{
    size_t want;

    const unsigned char *p;
    void *obj;

    *out = CH_FMT_UNKNOWN;
    if (len >= 4 && memcmp(data, "\xfe\xed\xfe\xed", 4) == 0)
        *out = CH_FMT_JKS;
    else if (len >= 4 && memcmp(data, "\xce\xce\xce\xce", 4) == 0)
        *out = CH_FMT_JCEKS;
    else if (x509_looks_pem(data, len))
        *out = CH_FMT_PEM;
    else if (len > 0 && data[0] == 0x30) {
        /* DER: which structure decodes and fills the input (a certificate is decoded as
         * ch_cert_parse does, without OpenSSL's slow decoding of its key). */
        ch_cert *c = NULL;
        if (ch_cert_parse(&c, data, len) == 0)
            *out = CH_FMT_DER;
        ch_cert_free(c);
        if (*out == CH_FMT_UNKNOWN) {
            p = data;
            if ((obj = d2i_PKCS12(NULL, &p, (long)len)) != NULL && p == data + len)
                *out = CH_FMT_PKCS12;
            PKCS12_free(obj);
        }
        if (*out == CH_FMT_UNKNOWN) {
            p = data;
            if ((obj = d2i_PKCS7(NULL, &p, (long)len)) != NULL && p == data + len)
                *out = CH_FMT_PKCS7;
            PKCS7_free(obj);
        }
        ERR_clear_error();
    }
    /* A download or copy that stopped part way: said as such, not as a format not taken. */
    if (*out == CH_FMT_UNKNOWN && ch_der_cut_short(data, len, &want))
        return ch_error_set(CH_EPARSE, "the input is cut short: its DER encoding says %zu bytes, and only %zu are there",
                            want, len);
    if (*out == CH_FMT_UNKNOWN)
        return ch_error_set(CH_EUNSUPPORTED, "unknown format; accepted: " CH_FORMATS_ACCEPTED);
    return 0;
}

/* ------------------------------------------------------------- assembling entries */

void fmt_items_free(fmt_items *it)
{
    for (size_t i = 0; i < it->ncerts; i++) {
        ch_cert_free(it->certs[i].cert);
        free(it->certs[i].name);
    }
    for (size_t i = 0; i < it->nkeys; i++) {
        ch_key_free(it->keys[i].key);
        free(it->keys[i].name);
    }
    free(it->certs);
    free(it->keys);
    memset(it, 0, sizeof *it);
}

int fmt_add_cert(fmt_items *it, X509 *x, const char *name, const unsigned char *id, size_t idlen)
{
    fmt_cert *g;
    ch_cert *c;
    int error;

    if (it->ncerts >= CH_MAX_KS_ENTRIES * 4)
        return ch_error_set(CH_ETOOBIG, "more than %u certificates in one keystore", CH_MAX_KS_ENTRIES * 4);
    if ((error = ch_cert_from_x509(&c, x)) < 0)
        return error;
    if ((g = realloc(it->certs, (it->ncerts + 1) * sizeof *g)) == NULL) {
        ch_cert_free(c);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    it->certs = g;
    memset(&g[it->ncerts], 0, sizeof *g);
    g[it->ncerts].cert = c;
    g[it->ncerts].name = name ? strdup(name) : NULL;
    if (id && idlen <= sizeof g->id) {
        memcpy(g[it->ncerts].id, id, idlen);
        g[it->ncerts].idlen = idlen;
    }
    it->ncerts++;
    return 0;
}

int fmt_add_key(fmt_items *it, ch_key *key, const char *name, const unsigned char *id, size_t idlen)
{
    fmt_key *g;

    if (it->nkeys >= CH_MAX_KS_ENTRIES)
        return ch_error_set(CH_ETOOBIG, "more than %u keys in one keystore", CH_MAX_KS_ENTRIES);
    if ((g = realloc(it->keys, (it->nkeys + 1) * sizeof *g)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    it->keys = g;
    memset(&g[it->nkeys], 0, sizeof *g);
    g[it->nkeys].key = key ? ch_key_dup(key) : NULL;
    g[it->nkeys].name = name ? strdup(name) : NULL;
    if (id && idlen <= sizeof g->id) {
        memcpy(g[it->nkeys].id, id, idlen);
        g[it->nkeys].idlen = idlen;
    }
    it->nkeys++;
    return 0;
}

void fmt_alias_clean(char *s)
{
    size_t len = 0;

    for (size_t i = 0, n; s[i]; i += n) {
        n = ch_utf8_char_len(s + i);
        if (n == 0 || ch_utf8_control(s + i) > 0) {
            s[len++] = '_';
            n = n ? n : 1;
        } else {
            memmove(s + len, s + i, n);
            len += n;
        }
    }
    s[len] = '\0';
}

/* An alias for an entry: the given name, else the leaf's CN, else "entry-N"; made unique.  As
 * long as an alias may be, with room for the suffix (an entry's chosen alias is kept whole in
 * a truststore: 200 bytes cut a name of 128 characters of CJK or emoji); one longer is cut
 * between two characters, not inside one. */
/* Whether alias is the name the file gives another entry than the one named own (a
 * suffix made for one entry took the name another was given further on, and that one was
 * renamed in its turn: "Srv" became srv-2, and the file's own "srv-2" srv-2-2). */
static bool alias_reserved(const fmt_items *it, const char *alias, const char *own)
{
    for (size_t c = 0; it != NULL && c < it->ncerts; c++)
        if (it->certs[c].name != NULL && it->certs[c].name != own && ch_alias_same(it->certs[c].name, alias))
            return true;
    for (size_t k = 0; it != NULL && k < it->nkeys; k++)
        if (it->keys[k].name != NULL && it->keys[k].name != own && ch_alias_same(it->keys[k].name, alias))
            return true;
    return false;
}

static int make_alias(char *out, size_t size, const ch_keystore *ks, const fmt_items *it, const char *name,
                      const ch_cert *leaf)
{
    char base[CH_MAX_NAME_LEN - 7], *cn = NULL;
    size_t len;

    if (name && *name)
        snprintf(base, sizeof base, "%s", name);
    else if (ch_cert_subject_get(&cn, leaf, NID_commonName) == 0 && *cn)
        snprintf(base, sizeof base, "%s", cn);
    else
        snprintf(base, sizeof base, "entry-%zu", ks->count + 1);
    len = strlen(base);
    if (len == sizeof base - 1) {
        const char *whole = name && *name ? name : cn ? cn : "";
        bool cut = strlen(whole) > len;
        /* cut: back to the first byte of the character the cut fell in */
        while (cut && len > 0 && ((unsigned char)whole[len] & 0xc0) == 0x80)
            len--;
        base[len] = '\0';
    }
    free(cn);
    fmt_alias_clean(base);
    /* Unique as Java compares aliases, in any case: keytool keeps one of "Web" and "web" (a
     * JKS is written in lower case), and the other entry was lost. */
    snprintf(out, size, "%s", base);
    for (int n = 2; alias_taken(ks, out) && n < 100000; n++)
        do
            snprintf(out, size, "%s-%d", base, n);
        while (alias_reserved(it, out, name) && ++n < 100000);
    return 0;
}

/* make_alias for an entry read from a file, saying so where the file's own alias for it was
 * another entry's (keytool listed "WEB-2" where the file said "WEB", and nothing said why). */
static int entry_alias(char *out, size_t size, ch_keystore *ks, const fmt_items *it, const char *name,
                       const ch_cert *leaf)
{
    make_alias(out, size, ks, it, name, leaf);
    if (name != NULL && *name != '\0' && strncmp(out, name, strlen(out)) != 0)
        return fmt_note(ks, "alias \"%.64s\" is another entry's (aliases are unique without regard to case): "
                            "this entry is \"%.80s\"", name, out);
    return 0;
}

/* The same certificate (its DER's digest), whichever object holds it. */
static bool same_cert(const ch_cert *a, const ch_cert *b)
{
    return memcmp(ch_cert_sha256(a), ch_cert_sha256(b), 32) == 0;
}

static bool issued(const ch_cert *child, const ch_cert *parent)
{
    X509 *c = ch_cert_x509(child), *p = ch_cert_x509(parent);
    bool ok = child != parent && X509_check_issued(p, c) == X509_V_OK && !ch_cert_is_self_signed(child);

    ERR_clear_error();
    return ok;
}

int fmt_assemble(ch_keystore *ks, fmt_items *it)
{
    ch_cert *chain[CH_MAX_CHAIN_LEN];
    char alias[CH_MAX_NAME_LEN + 16];
    int error;

    for (size_t k = 0; k < it->nkeys; k++) {
        fmt_cert *leaf = NULL;
        size_t n = 0;
        /* The certificate of the key: by local key id (PKCS#12), else by public key. */
        ch_key *key = it->keys[k].key;
        for (size_t c = 0; c < it->ncerts && leaf == NULL; c++)
            if (it->keys[k].idlen && it->keys[k].idlen == it->certs[c].idlen &&
                memcmp(it->keys[k].id, it->certs[c].id, it->keys[k].idlen) == 0 &&
                (key == NULL || ch_cert_matches_key(it->certs[c].cert, key)))
                leaf = &it->certs[c];
        for (size_t c = 0; c < it->ncerts && leaf == NULL && key != NULL; c++)
            if (ch_cert_matches_key(it->certs[c].cert, key))
                leaf = &it->certs[c];
        /* (a key not taken, its certificate not named by its id: the note said it was left out) */
        if (leaf == NULL && key == NULL)
            continue;
        if (leaf == NULL) {
            ks->keys_unmatched++;
            error = fmt_note(ks, "a private key that belongs to none of the file's certificates was left out");
            if (error < 0)
                return error;
            continue;
        }
        leaf->used = true;
        chain[n++] = leaf->cert;
        /* Its chain: issuers among the other certificates, nearest first. */
        while (n < CH_MAX_CHAIN_LEN) {
            fmt_cert *up = NULL;
            for (size_t c = 0; c < it->ncerts && up == NULL; c++)
                if (issued(chain[n - 1], it->certs[c].cert))
                    up = &it->certs[c];
            if (up == NULL)
                break;
            bool loop = false;
            for (size_t i = 0; i < n; i++)
                loop |= chain[i] == up->cert;
            if (loop)
                break;
            up->used = true;
            chain[n++] = up->cert;
        }
        if ((error = entry_alias(alias, sizeof alias, ks, it, it->keys[k].name ? it->keys[k].name : leaf->name,
                                 leaf->cert)) < 0 ||
            (error = ch_keystore_add(ks, alias, chain, n, key)) < 0)
            return error;
        ks->entries[ks->count - 1].key_locked = key == NULL;
    }
    /* A certificate a file holds twice (each key's chain carries its CA again) is used once
     * used anywhere: the copies are no entries of their own.  One marked trusted for Java is
     * one, though a chain uses it too: keytool lists it so. */
    for (size_t c = 0; c < it->ncerts; c++) {
        if (it->certs[c].trusted) {
            it->certs[c].used = false;
            continue;
        }
        for (size_t o = 0; o < it->ncerts && !it->certs[c].used; o++)
            if (o != c && (it->certs[o].used || it->certs[o].trusted) &&
                same_cert(it->certs[o].cert, it->certs[c].cert))
                it->certs[c].used = true;
    }
    for (size_t c = 0; c < it->ncerts; c++)
        for (size_t o = c + 1; o < it->ncerts && !it->certs[c].used; o++)
            if (!it->certs[o].used && it->certs[o].trusted == it->certs[c].trusted &&
                same_cert(it->certs[o].cert, it->certs[c].cert) &&
                (it->certs[o].name == NULL || it->certs[c].name == NULL ||
                 strcmp(it->certs[o].name, it->certs[c].name) == 0))
                it->certs[o].used = true; /* the same certificate twice, not named apart */
    /* Certificates without keys: one chain becomes one entry; anything else (or certificates
     * each named or marked trusted, as a truststore's are), one trusted entry per certificate. */
    {
        size_t left = 0, named = 0;
        bool trusted = false;
        ch_cert **rest = NULL, **ordered = NULL;
        size_t nordered = 0;

        for (size_t c = 0; c < it->ncerts; c++)
            if (!it->certs[c].used) {
                left++;
                named += it->certs[c].name != NULL;
                trusted |= it->certs[c].trusted;
            }
        if (left == 0)
            return 0;
        if (it->nkeys == 0 && left > 1 && left <= CH_MAX_CHAIN_LEN && !trusted && named <= 1) {
            if ((rest = calloc(left, sizeof *rest)) == NULL)
                return ch_error_set(CH_ENOMEM, "out of memory");
            for (size_t c = 0, i = 0; c < it->ncerts; c++)
                if (!it->certs[c].used)
                    rest[i++] = it->certs[c].cert;
            if (ch_chain_order(&ordered, &nordered, rest, left) == 0) {
                /* named after the certificate that heads it, when the file names it */
                const char *name = NULL;
                for (size_t c = 0; c < it->ncerts && name == NULL; c++)
                    if (!it->certs[c].used && it->certs[c].name &&
                        same_cert(it->certs[c].cert, ordered[0]))
                        name = it->certs[c].name;
                if ((error = entry_alias(alias, sizeof alias, ks, it, name, ordered[0])) == 0)
                    error = ch_keystore_add(ks, alias, ordered, nordered, NULL);
                ch_cert_list_free(ordered, nordered);
                free(rest);
                return error;
            }
            free(rest);
            ch_error_clear();
        }
        for (size_t c = 0; c < it->ncerts; c++) {
            if (it->certs[c].used)
                continue;
            if ((error = entry_alias(alias, sizeof alias, ks, it, it->certs[c].name, it->certs[c].cert)) < 0 ||
                (error = ch_keystore_add(ks, alias, &it->certs[c].cert, 1, NULL)) < 0)
                return error;
        }
    }
    return 0;
}

/* ------------------------------------------------------------- PEM, DER, PKCS#7 */

static int add_p7_certs(fmt_items *it, PKCS7 *p7)
{
    STACK_OF(X509) *certs = NULL;
    int nid = OBJ_obj2nid(p7->type), error = 0;

    if (nid == NID_pkcs7_signed && p7->d.sign != NULL)
        certs = p7->d.sign->cert;
    else if (nid == NID_pkcs7_signedAndEnveloped && p7->d.signed_and_enveloped != NULL)
        certs = p7->d.signed_and_enveloped->cert;
    for (int i = 0; i < sk_X509_num(certs) && error == 0; i++)
        error = fmt_add_cert(it, sk_X509_value(certs, i), NULL, NULL, 0);
    return error;
}

/* What `openssl pkcs12 -nodes` writes before each block ("Bag Attributes", then
 * "    friendlyName: NAME" and "    localKeyID: 01 AB ..."), for the next block of the text
 * at *cur: its name ("" for none) and key id.  *cur moves past the block, in step with
 * PEM_read_bio reading the same text. */
struct pem_attrs {
    char name[CH_MAX_NAME_LEN + 1];
    unsigned char id[64];
    size_t idlen;
};

static void pem_next_attrs(const char **cur, const char *end, struct pem_attrs *a)
{
    const char *begin = *cur, *stop, *line;

    memset(a, 0, sizeof *a);
    while (begin < end && (begin = memchr(begin, '-', (size_t)(end - begin))) != NULL &&
           ((size_t)(end - begin) < 11 || memcmp(begin, "-----BEGIN ", 11) != 0))
        begin++;
    if (begin == NULL || begin >= end) {
        *cur = end;
        return;
    }
    for (line = *cur; line < begin;) {
        const char *eol = memchr(line, '\n', (size_t)(begin - line));
        const char *p = line;
        size_t n;
        if (eol == NULL)
            eol = begin;
        while (p < eol && (*p == ' ' || *p == '\t'))
            p++;
        n = (size_t)(eol - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n > 14 && memcmp(p, "friendlyName: ", 14) == 0 && n - 14 <= CH_MAX_NAME_LEN) {
            memcpy(a->name, p + 14, n - 14);
            a->name[n - 14] = '\0';
            if (!ch_utf8_valid(a->name))
                a->name[0] = '\0';
        } else if (n > 12 && memcmp(p, "localKeyID: ", 12) == 0) {
            for (size_t i = 12; i + 1 < n && a->idlen < sizeof a->id; i += 3) {
                unsigned v;
                if (sscanf(p + i, "%2x", &v) != 1)
                    break;
                a->id[a->idlen++] = (unsigned char)v;
            }
        }
        line = eol + 1;
    }
    /* past this block's END line */
    stop = begin + 11;
    while (stop < end && (stop = memchr(stop, '-', (size_t)(end - stop))) != NULL &&
           ((size_t)(end - stop) < 9 || memcmp(stop, "-----END ", 9) != 0))
        stop++;
    if (stop == NULL || stop >= end) {
        *cur = end;
        return;
    }
    stop = memchr(stop, '\n', (size_t)(end - stop));
    *cur = stop ? stop + 1 : end;
}

static int import_pem(ch_keystore *ks, fmt_items *it, const uint8_t *data, size_t len, const char *password)
{
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long dlen = 0;
    size_t blocks = 0;
    int error = 0;
    const char *scan = (const char *)data, *scan_end = (const char *)data + len;
    struct pem_attrs attrs;

    if (bio == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    while (error == 0 && PEM_read_bio(bio, &name, &header, &der, &dlen) == 1) {
        const unsigned char *p = der;
        pem_next_attrs(&scan, scan_end, &attrs);
        if (++blocks > CH_MAX_PEM_OBJECTS) {
            error = ch_error_set(CH_ETOOBIG, "more than %u PEM blocks", CH_MAX_PEM_OBJECTS);
        } else if (strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "X509 CERTIFICATE") == 0 ||
                   strcmp(name, "TRUSTED CERTIFICATE") == 0) {
            X509 *x = strcmp(name, "TRUSTED CERTIFICATE") == 0 ? d2i_X509_AUX(NULL, &p, dlen) : d2i_X509(NULL, &p, dlen);
            if (x == NULL)
                error = ch_error_set(CH_EPARSE, "PEM block %zu is not a valid certificate", blocks);
            else
                error = fmt_add_cert(it, x, attrs.name[0] ? attrs.name : NULL, attrs.id, attrs.idlen);
            X509_free(x);
        } else if (strcmp(name, "PKCS7") == 0 || strcmp(name, "CERTIFICATE CHAIN") == 0) {
            PKCS7 *p7 = d2i_PKCS7(NULL, &p, dlen);
            if (p7 == NULL)
                error = ch_error_set(CH_EPARSE, "PEM block %zu is not a valid PKCS#7 structure", blocks);
            else
                error = add_p7_certs(it, p7);
            PKCS7_free(p7);
        } else if (strcmp(name, "PRIVATE KEY") == 0 || strcmp(name, "ENCRYPTED PRIVATE KEY") == 0 ||
                   strcmp(name, "RSA PRIVATE KEY") == 0 || strcmp(name, "EC PRIVATE KEY") == 0) {
            BIO *one = BIO_new(BIO_s_secmem());
            char *text;
            long n;
            ch_key *key = NULL;
            if (one == NULL || PEM_write_bio(one, name, header, der, dlen) <= 0 || (n = BIO_get_mem_data(one, &text)) <= 0)
                error = ch_error_set(CH_ENOMEM, "out of memory");
            else if ((error = ch_key_parse(&key, (const uint8_t *)text, (size_t)n, password)) == 0)
                error = fmt_add_key(it, key, attrs.name[0] ? attrs.name : NULL, attrs.id, attrs.idlen);
            ch_key_free(key);
            BIO_free(one);
        } else {
            error = fmt_note(ks, "PEM block \"%.40s\" was skipped", name);
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_clear_free(der, dlen > 0 ? (size_t)dlen : 0);
        name = header = NULL;
        der = NULL;
    }
    /* The loop ends at "no more PEM"; anything else means a block was cut off or damaged,
     * and importing the blocks before it as if they were all would hide that. */
    if (error == 0) {
        unsigned long e = ERR_peek_last_error();
        if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE))
            error = ch_error_set(CH_EPARSE, "the PEM data is truncated or damaged after block %zu", blocks);
    }
    ERR_clear_error();
    BIO_free(bio);
    if (error == 0 && it->ncerts == 0) {
        const char *instead = x509_pem_instead(data, len);
        error = instead ? ch_error_set(CH_EPARSE, "the PEM data holds no certificate: it holds %s", instead)
                        : ch_error_set(CH_EPARSE, "the PEM data holds no certificate");
    }
    return error;
}

/* ------------------------------------------------------------- PKCS#12 (RFC 7292) */

/* A bag's friendly name (a BMPString: UTF-16 big-endian) as UTF-8, or NULL.  Decoded here:
 * OpenSSL 3.0's conversion gives up on characters from U+0800 on (the euro sign, CJK), and the
 * name was lost for the certificate's CN. */
static char *p12_friendly_name(const PKCS12_SAFEBAG *bag)
{
    const ASN1_TYPE *a = PKCS12_SAFEBAG_get0_attr(bag, NID_friendlyName);
    const unsigned char *p;
    size_t n, o = 0;
    char *out;

    if (a == NULL || a->type != V_ASN1_BMPSTRING || a->value.bmpstring == NULL)
        return NULL;
    p = ASN1_STRING_get0_data(a->value.bmpstring);
    n = (size_t)ASN1_STRING_length(a->value.bmpstring) & ~(size_t)1;
    if ((out = malloc(n / 2 * 4 + 1)) == NULL)
        return NULL;
    for (size_t i = 0; i + 1 < n; i += 2) {
        uint32_t c = (uint32_t)p[i] << 8 | p[i + 1];
        if (c >= 0xd800 && c <= 0xdbff && i + 3 < n) { /* a surrogate pair */
            uint32_t lo = (uint32_t)p[i + 2] << 8 | p[i + 3];
            if (lo >= 0xdc00 && lo <= 0xdfff) {
                c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
                i += 2;
            }
        }
        if (c == 0)
            break; /* a terminating NUL some writers add */
        if (c >= 0xd800 && c <= 0xdfff)
            c = 0xfffd; /* a lone surrogate */
        o += ch_utf8_put(out + o, c);
    }
    out[o] = '\0';
    if (o == 0) {
        free(out);
        return NULL;
    }
    return out;
}

static int p12_bags(fmt_items *it, ch_keystore *ks, const STACK_OF(PKCS12_SAFEBAG) *bags, const char *pass,
                    bool keys_optional)
{
    int error = 0;

    for (int i = 0; i < sk_PKCS12_SAFEBAG_num(bags) && error == 0; i++) {
        const PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, i);
        const ASN1_TYPE *idattr = PKCS12_SAFEBAG_get0_attr(bag, NID_localKeyID);
        const unsigned char *id = NULL;
        size_t idlen = 0;
        char *name = p12_friendly_name(bag);
        PKCS8_PRIV_KEY_INFO *p8 = NULL;

        if (idattr != NULL && idattr->type == V_ASN1_OCTET_STRING) {
            id = ASN1_STRING_get0_data(idattr->value.octet_string);
            idlen = (size_t)ASN1_STRING_length(idattr->value.octet_string);
        }
        switch (PKCS12_SAFEBAG_get_nid(bag)) {
        case NID_certBag: {
            X509 *x = PKCS12_SAFEBAG_get1_cert(bag);
            if (x == NULL) {
                error = fmt_note(ks, "a certificate bag that is not X.509 was skipped");
            } else if ((error = fmt_add_cert(it, x, name, id, idlen)) == 0) {
                /* Oracle's trust attribute (keytool's, openssl pkcs12 -jdktrust): Java's
                 * trusted entry, listed on its own. */
                const STACK_OF(X509_ATTRIBUTE) *attrs = PKCS12_SAFEBAG_get0_attrs(bag);
                for (int k = 0; k < sk_X509_ATTRIBUTE_num(attrs); k++) {
                    char oid[64];
                    OBJ_obj2txt(oid, sizeof oid, X509_ATTRIBUTE_get0_object(sk_X509_ATTRIBUTE_value(attrs, k)), 1);
                    if (strcmp(oid, "2.16.840.1.113894.746875.1.1") == 0)
                        it->certs[it->ncerts - 1].trusted = true;
                }
            }
            X509_free(x);
            break;
        }
        case NID_pkcs8ShroudedKeyBag: {
            const X509_SIG *sig = PKCS12_SAFEBAG_get0_pkcs8(bag);
            const X509_ALGOR *alg;
            X509_SIG_get0(sig, &alg, NULL);
            if ((error = x509_pbe_check(alg, "keystore key")) < 0)
                break;
            if ((p8 = PKCS12_decrypt_skey(bag, pass, -1)) == NULL) {
                error = ch_error_set(CH_EPASSWORD, "wrong password for keystore");
                break;
            }
        }
            /* fall through */
        case NID_keyBag: {
            const PKCS8_PRIV_KEY_INFO *info = p8 ? p8 : PKCS12_SAFEBAG_get0_p8inf(bag);
            EVP_PKEY *pk = info ? EVP_PKCS82PKEY(info) : NULL;
            ch_key *key = NULL;
            if (pk == NULL)
                error = ch_error_set(CH_EPARSE, "a key in the keystore cannot be read");
            else if ((error = ch_key_from_pkey(&key, pk)) == 0)
                error = fmt_add_key(it, key, name, id, idlen);
            else if (error == CH_EPOLICY && keys_optional) { /* (inspect, certificates alone) */
                /* Its certificate stays a key entry's, said to be without its key (it was listed
                 * as a trusted certificate), as a JKS's is. */
                error = fmt_note(ks, "the key of entry \"%.64s\" was left out: %s", name ? name : "?", ch_error_last());
                if (error == 0)
                    error = fmt_add_key(it, NULL, name, id, idlen);
            }
            else if (error == CH_EPOLICY && name != NULL) /* which of the keys */
                error = ch_error_set(error, "the key of entry \"%.64s\": %s", name, ch_error_last());
            ch_key_free(key);
            EVP_PKEY_free(pk);
            break;
        }
        default:
            error = fmt_note(ks, "a PKCS#12 bag of type %s was skipped",
                             OBJ_nid2sn(PKCS12_SAFEBAG_get_nid(bag)));
        }
        PKCS8_PRIV_KEY_INFO_free(p8);
        free(name);
    }
    return error;
}

static int import_p12(ch_keystore *ks, fmt_items *it, const uint8_t *data, size_t len, const char *password,
                      bool keys_optional)
{
    const unsigned char *p = data;
    PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
    STACK_OF(PKCS7) *safes = NULL;
    const ASN1_INTEGER *iter = NULL;
    const char *pass = password ? password : "";
    int error = 0;

    if (p12 == NULL || p != data + len) {
        PKCS12_free(p12);
        ERR_clear_error();
        return ch_error_set(CH_EPARSE, "not a valid PKCS#12 file");
    }
    if (PKCS12_mac_present(p12)) {
        int64_t n = 1;
        PKCS12_get0_mac(NULL, NULL, NULL, &iter, p12);
        if (iter != NULL && (ASN1_INTEGER_get_int64(&n, iter) != 1 || n < 1)) {
            error = ch_error_set(CH_ETOOBIG, "the keystore's MAC iteration count is above the limit of %u",
                                 CH_MAX_KDF_ITER);
            goto done;
        }
        /* Each derivation within the limit (x509_kdf_spend says so), and within the file's
         * budget: twice when the empty password is tried as none too. */
        for (int k = 0; k < (*pass == '\0' ? 2 : 1) && error == 0; k++)
            error = x509_kdf_spend((uint64_t)n, "the keystore's MAC");
        if (error < 0)
            goto done;
        /* RFC 7292 leaves "no password" ambiguous: try the empty string and none. */
        if (PKCS12_verify_mac(p12, pass, -1) != 1) {
            if (*pass == '\0' && PKCS12_verify_mac(p12, NULL, 0) == 1) {
                pass = NULL;
            } else {
                /* None given is said so, as for JKS: "wrong" would send the user looking for a
                 * typo. */
                /* A MAC that does not match is a wrong password or an altered file alike. */
                error = ch_error_set(CH_EPASSWORD, password == NULL ? "a password is needed to open the keystore"
                                                                    : "wrong password for keystore (or the keystore "
                                                                      "was altered)");
                goto done;
            }
        }
    }
    if ((safes = PKCS12_unpack_authsafes(p12)) == NULL) {
        error = ch_error_set(CH_EPARSE, "the PKCS#12 contents cannot be read");
        goto done;
    }
    for (int i = 0; i < sk_PKCS7_num(safes) && error == 0; i++) {
        PKCS7 *p7 = sk_PKCS7_value(safes, i);
        STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
        int nid = OBJ_obj2nid(p7->type);

        if (nid == NID_pkcs7_data) {
            bags = PKCS12_unpack_p7data(p7);
        } else if (nid == NID_pkcs7_encrypted) {
            if (p7->d.encrypted == NULL || p7->d.encrypted->enc_data == NULL) {
                error = ch_error_set(CH_EPARSE, "an encrypted part of the PKCS#12 is malformed");
                break;
            }
            if ((error = x509_pbe_check(p7->d.encrypted->enc_data->algorithm, "keystore")) < 0)
                break;
            if ((bags = PKCS12_unpack_p7encdata(p7, pass, -1)) == NULL) {
                error = ch_error_set(CH_EPASSWORD, "wrong password for keystore");
                break;
            }
        } else {
            error = fmt_note(ks, "a PKCS#12 part of type %s was skipped", OBJ_nid2sn(nid));
            continue;
        }
        if (bags == NULL) {
            error = ch_error_set(CH_EPARSE, "a part of the PKCS#12 cannot be read");
            break;
        }
        error = p12_bags(it, ks, bags, pass, keys_optional);
        sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
    }
    /* Without a MAC the first word of a password is the decryption's: none given is said so
     * there too ("wrong" sent the user looking for a typo in a password never typed). */
    if (error == CH_EPASSWORD && password == NULL)
        error = ch_error_set(CH_EPASSWORD, "a password is needed to open the keystore");
done:
    ERR_clear_error();
    sk_PKCS7_pop_free(safes, PKCS7_free);
    PKCS12_free(p12);
    return error;
}

/* ------------------------------------------------------------- import */

static int keystore_import(ch_keystore **out, const uint8_t *data, size_t len, const ch_import_opts *opts);

/* One key-derivation budget for the whole file, whatever its parts ask each. */
int ch_keystore_import(ch_keystore **out, const uint8_t *data, size_t len, const ch_import_opts *opts)
{
    int error;

    x509_kdf_begin();
    error = keystore_import(out, data, len, opts);
    x509_kdf_end();
    return error;
}

static int keystore_import(ch_keystore **out, const uint8_t *data, size_t len, const ch_import_opts *opts)
{
    static const ch_import_opts none = {0};
    ch_keystore *ks = NULL;
    fmt_items it = {0};
    ch_format f;
    int error;

    *out = NULL;
    if (opts == NULL)
        opts = &none;
    if ((error = ch_init_legacy()) < 0)
        return error;
    if (data == NULL || len == 0)
        return ch_error_set(CH_EPARSE, "the file is empty; accepted: " CH_FORMATS_ACCEPTED);
    if (len > CH_MAX_UPLOAD_BYTES)
        return ch_error_set(CH_ETOOBIG, "the file is larger than the limit of %u bytes", CH_MAX_UPLOAD_BYTES);
    if (opts->password && strlen(opts->password) > CH_MAX_PASSWORD_LEN)
        return ch_error_set(CH_EINVAL, "the password is longer than %u bytes", CH_MAX_PASSWORD_LEN);
    if ((error = ch_format_detect(&f, data, len)) < 0)
        return error;
    if ((error = ch_keystore_new(&ks)) < 0)
        return error;
    ks->source = f;
    switch (f) {
    case CH_FMT_PEM:
        /* A PEM file has no store password: its keys' own is the key password, or the one given. */
        error = import_pem(ks, &it, data, len, opts->key_password ? opts->key_password : opts->password);
        break;
    case CH_FMT_DER: {
        ch_cert *c = NULL;
        if ((error = ch_cert_parse(&c, data, len)) == 0)
            error = fmt_add_cert(&it, ch_cert_x509(c), NULL, NULL, 0);
        ch_cert_free(c);
        break;
    }
    case CH_FMT_PKCS7: {
        const unsigned char *p = data;
        PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)len);
        error = p7 ? add_p7_certs(&it, p7) : ch_error_set(CH_EPARSE, "not a valid PKCS#7 file");
        PKCS7_free(p7);
        if (error == 0 && it.ncerts == 0)
            error = ch_error_set(CH_EPARSE, "the PKCS#7 file holds no certificate");
        break;
    }
    case CH_FMT_PKCS12:
        error = import_p12(ks, &it, data, len, opts->password, opts->keys_optional);
        break;
    case CH_FMT_JKS:
    case CH_FMT_JCEKS:
        error = fmt_import_jks(ks, &it, data, len, opts->password, opts->key_password, opts->keys_optional);
        break;
    default:
        error = ch_error_set(CH_EUNSUPPORTED, "unknown format; accepted: " CH_FORMATS_ACCEPTED);
    }
    if (error == 0 && f != CH_FMT_JKS && f != CH_FMT_JCEKS)
        error = fmt_assemble(ks, &it);
    fmt_items_free(&it);
    ERR_clear_error();
    if (error < 0) {
        ch_keystore_free(ks);
        return error;
    }
    if (ks->count == 0) {
        ch_keystore_free(ks);
        return ch_error_set(CH_EPARSE, "the file holds no certificate");
    }
    *out = ks;
    return 0;
}

/* ------------------------------------------------------------- export */

static int bio_out(ch_buf *out, BIO *bio)
{
    char *p;
    long n = BIO_get_mem_data(bio, &p);

    return n < 0 ? ch_error_set(CH_EINTERNAL, "nothing written") : ch_buf_put(out, p, (size_t)n);
}

static int export_p7(ch_buf *out, const ch_keystore *ks)
{
    PKCS7 *p7 = PKCS7_new();
    BIO *bio = BIO_new(BIO_s_mem());
    int error = 0;

    if (p7 == NULL || bio == NULL || PKCS7_set_type(p7, NID_pkcs7_signed) != 1 ||
        PKCS7_content_new(p7, NID_pkcs7_data) != 1) {
        error = ch_error_ossl(CH_ECRYPTO, "PKCS7_set_type", "writing PKCS#7");
        goto done;
    }
    for (size_t e = 0; e < ks->count && error == 0; e++)
        for (size_t c = 0; c < ks->entries[e].chain_len; c++) {
            /* Each certificate once: the chains of a keystore's keys share their CAs. */
            bool seen = false;
            for (size_t f = 0; f <= e && !seen; f++)
                for (size_t d = 0; d < (f == e ? c : ks->entries[f].chain_len) && !seen; d++)
                    seen = same_cert(ks->entries[f].chain[d], ks->entries[e].chain[c]);
            if (!seen && PKCS7_add_certificate(p7, ch_cert_x509(ks->entries[e].chain[c])) != 1) {
                error = ch_error_ossl(CH_ECRYPTO, "PKCS7_add_certificate", "writing PKCS#7");
                break;
            }
        }
    if (error == 0 && i2d_PKCS7_bio(bio, p7) != 1)
        error = ch_error_ossl(CH_ECRYPTO, "i2d_PKCS7_bio", "writing PKCS#7");
    if (error == 0)
        error = bio_out(out, bio);
done:
    BIO_free(bio);
    PKCS7_free(p7);
    return error;
}

/* Java reads a certificate without a key from a PKCS#12 as a trusted entry only when its bag
 * says what it is trusted for, in Oracle's attribute (the one `openssl pkcs12 -jdktrust` and
 * keytool write); without it keytool and the JDK see an empty truststore.  Any purpose, as
 * a JKS trusted entry is. */
static int p12_java_trust(PKCS12_SAFEBAG *bag)
{
    ASN1_OBJECT *any = OBJ_txt2obj("2.5.29.37.0", 1);
    int ok = any != NULL && PKCS12_add1_attr_by_txt(bag, "2.16.840.1.113894.746875.1.1", V_ASN1_OBJECT,
                                                    (const unsigned char *)any, -1) == 1;

    ASN1_OBJECT_free(any);
    return ok ? 0 : -1;
}

void fmt_trusted_alias(const ch_keystore *ks, size_t e, size_t c, char *out, size_t cap)
{
    bool taken = true;

    snprintf(out, cap, "%s", ks->entries[e].alias);
    if (c == 0)
        return;
    /* Within the bound an alias has when read back (CH_MAX_NAME_LEN), suffixes included. */
    size_t room = (cap - 1 < CH_MAX_NAME_LEN ? cap - 1 : CH_MAX_NAME_LEN) - 16;
    snprintf(out, cap, "%.*s-%zu", (int)room, ks->entries[e].alias, c + 1);
    /* Another entry named so already: suffixed again until none is (or the room is gone). */
    for (int tries = 0; taken && tries < 6; tries++) {
        taken = false;
        for (size_t i = 0; i < ks->count && !taken; i++)
            taken = ch_alias_same(ks->entries[i].alias, out);
        if (taken)
            strcat(out, "-x");
    }
}

/* A bag's friendly name: the alias as UTF-16 big-endian, a character beyond U+FFFF (an emoji)
 * as its surrogate pair, which Java and p12_friendly_name read back.  OpenSSL's own
 * conversion (PKCS12_add_friendlyname_utf8) refuses those ("illegal characters"), and the
 * export failed. */
static int p12_name(PKCS12_SAFEBAG *bag, const char *alias)
{
    unsigned char *uni = NULL;
    int len = 0, ok;

    if (OPENSSL_utf82uni(alias, -1, &uni, &len) == NULL || len < 2)
        return 0;
    ok = PKCS12_add_friendlyname_uni(bag, uni, len - 2); /* (without the NUL it ends with) */
    OPENSSL_free(uni);
    return ok;
}

static int export_p12(ch_buf *out, const ch_keystore *ks, const char *pass, bool legacy)
{
    int nid = legacy ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC : NID_aes_256_cbc;
    STACK_OF(PKCS7) *safes = NULL;
    STACK_OF(PKCS12_SAFEBAG) *certs = NULL, *keys = NULL;
    PKCS12 *p12 = NULL;
    BIO *bio = NULL;
    int error = 0;

    for (size_t e = 0; e < ks->count; e++) {
        const ch_ks_entry *en = &ks->entries[e];
        unsigned char id[32];
        PKCS12_SAFEBAG *bag;

        /* The local key id ties a key to its certificate (RFC 7292 4.2): the SHA-256 of the
         * leaf, as unique as the entry. */
        memcpy(id, ch_cert_sha256(en->chain[0]), sizeof id);
        for (size_t c = 0; c < en->chain_len; c++) {
            char alias[CH_MAX_NAME_LEN + 24];
            if ((bag = PKCS12_add_cert(&certs, ch_cert_x509(en->chain[c]))) == NULL)
                goto ossl;
            /* A key's chain: its certificates after the first are the chain, unnamed.  Without
             * a key each certificate is trusted on its own, named (keytool lists those alone). */
            if (c == 0 && en->key && (p12_name(bag, en->alias) != 1 ||
                                      PKCS12_add_localkeyid(bag, id, sizeof id) != 1))
                goto ossl;
            if (!en->key) {
                fmt_trusted_alias(ks, e, c, alias, sizeof alias);
                if (p12_name(bag, alias) != 1 || p12_java_trust(bag) < 0)
                    goto ossl;
            }
        }
        if (en->key != NULL) {
            if ((bag = PKCS12_add_key_ex(&keys, ch_key_pkey(en->key), 0, PKCS12_DEFAULT_ITER, nid, pass, NULL,
                                         NULL)) == NULL ||
                p12_name(bag, en->alias) != 1 || PKCS12_add_localkeyid(bag, id, sizeof id) != 1)
                goto ossl;
        }
    }
    if ((certs && PKCS12_add_safe_ex(&safes, certs, nid, PKCS12_DEFAULT_ITER, pass, NULL, NULL) != 1) ||
        (keys && PKCS12_add_safe_ex(&safes, keys, -1, 0, NULL, NULL, NULL) != 1))
        goto ossl;
    if ((p12 = PKCS12_add_safes_ex(safes, 0, NULL, NULL)) == NULL)
        goto ossl;
    if (PKCS12_set_mac(p12, pass, -1, NULL, 0, PKCS12_DEFAULT_ITER, legacy ? EVP_sha1() : EVP_sha256()) != 1)
        goto ossl;
    if ((bio = BIO_new(BIO_s_mem())) == NULL || i2d_PKCS12_bio(bio, p12) != 1)
        goto ossl;
    error = bio_out(out, bio);
    goto done;
ossl:
    error = ch_error_ossl(CH_ECRYPTO, "PKCS12_create", "writing PKCS#12");
done:
    BIO_free(bio);
    PKCS12_free(p12);
    sk_PKCS7_pop_free(safes, PKCS7_free);
    sk_PKCS12_SAFEBAG_pop_free(certs, PKCS12_SAFEBAG_free);
    sk_PKCS12_SAFEBAG_pop_free(keys, PKCS12_SAFEBAG_free);
    return error;
}

int ch_keystore_export(ch_buf *out, const ch_keystore *ks, ch_format fmt, const ch_export_opts *opts)
{
    static const ch_export_opts none = {0};
    int error = 0;

    if (opts == NULL)
        opts = &none;
    if (ks == NULL || ks->count == 0)
        return ch_error_set(CH_EINVAL, "the keystore is empty");
    if ((fmt == CH_FMT_PKCS12 || fmt == CH_FMT_JKS) && opts->password == NULL)
        return ch_error_set_field(CH_EINVAL, "password", "a password is needed to write %s", ch_format_name(fmt));
    /* PKCS#12 under the empty password is what Windows, Kubernetes secrets and `openssl pkcs12
     * -passout pass:` call one without a password (RFC 7292 B.1: the empty string's two NUL
     * bytes, as Java writes char[0]); keytool refuses an empty JKS password, and an empty key
     * password, outright. */
    if (fmt == CH_FMT_JKS && *opts->password == '\0')
        return ch_error_set_field(CH_EINVAL, "password", "a JKS needs a password that is not empty (keytool refuses "
                                  "an empty one); a PKCS#12 (p12) may have none");
    if (opts->password != NULL && strlen(opts->password) > CH_MAX_PASSWORD_LEN)
        return ch_error_set_field(CH_EINVAL, "password", "the password is longer than %u bytes", CH_MAX_PASSWORD_LEN);
    if (opts->key_password != NULL) {
        if (fmt != CH_FMT_JKS && fmt != CH_FMT_PKCS12)
            return ch_error_set_field(CH_EINVAL, "key_password", "a key password goes with jks (or p12, the same as "
                                      "its password)");
        if (opts->certs_only)
            return ch_error_set_field(CH_EINVAL, "key_password", "a truststore holds no key to give a password");
        /* PKCS#12 as written has one password, for its MAC and every bag: keytool reads no
         * other (it takes the store's for the keys). */
        if (fmt == CH_FMT_PKCS12 && strcmp(opts->key_password, opts->password) != 0)
            return ch_error_set_field(CH_EINVAL, "key_password", "a PKCS#12 has one password, for the store and its "
                                      "keys: a key password of its own goes with jks");
        if (fmt == CH_FMT_JKS && *opts->key_password == '\0')
            return ch_error_set_field(CH_EINVAL, "key_password", "a JKS key password cannot be empty (keytool "
                                      "refuses an empty one)");
        if (strlen(opts->key_password) > CH_MAX_PASSWORD_LEN)
            return ch_error_set_field(CH_EINVAL, "key_password", "the key password is longer than %u bytes",
                                      CH_MAX_PASSWORD_LEN);
    }
    /* A truststore: every certificate once, each a trusted entry of its own, as keytool
     * -importcert makes one: an entry's first certificate under the entry's alias, its CAs
     * under their own names (the keys' chains share them).  The same for the entries without a
     * key of any P12 or JKS, which hold one certificate each: their chains' CAs were trusted
     * entries named after the entry ("partner-2"), the root under the intermediate's alias. */
    bool split = opts->certs_only;
    for (size_t e = 0; e < ks->count && !split; e++)
        split = ks->entries[e].key == NULL && ks->entries[e].chain_len > 1;
    if (split && (fmt == CH_FMT_PKCS12 || fmt == CH_FMT_JKS)) {
        ch_keystore *view = NULL;
        ch_export_opts o = *opts;
        char alias[CH_MAX_NAME_LEN + 16];
        if ((error = ch_keystore_new(&view)) < 0)
            return error;
        /* Each entry's own certificate first, under its alias (a CA trusted in its own entry
         * keeps its alias; a key entry goes whole, its chain in it), then the CAs of the chains
         * not there yet. */
        for (int pass = 0; pass < 2; pass++) {
            for (size_t e = 0; e < ks->count && error == 0; e++) {
                if (!opts->certs_only && ks->entries[e].key != NULL) {
                    if (pass == 0)
                        error = ch_keystore_add(view, ks->entries[e].alias, ks->entries[e].chain,
                                                ks->entries[e].chain_len, ks->entries[e].key);
                    continue;
                }
                for (size_t c = pass; c < (pass == 0 ? 1 : ks->entries[e].chain_len) && error == 0; c++) {
                    const ch_cert *x = ks->entries[e].chain[c];
                    bool seen = false;
                    for (size_t v = 0; v < view->count && !seen; v++)
                        seen = same_cert(view->entries[v].chain[0], x);
                    if (seen)
                        continue;
                    make_alias(alias, sizeof alias, view, NULL, c == 0 ? ks->entries[e].alias : NULL, x);
                    error = ch_keystore_add(view, alias, &ks->entries[e].chain[c], 1, NULL);
                }
            }
        }
        o.certs_only = false;
        if (error == 0)
            error = ch_keystore_export(out, view, fmt, &o);
        ch_keystore_free(view);
        return error;
    }
    switch (fmt) {
    case CH_FMT_PEM:
        for (size_t e = 0; e < ks->count && error == 0; e++) {
            if (opts->include_key && ks->entries[e].key)
                error = ch_key_write_pem(out, ks->entries[e].key, opts->password);
            for (size_t c = 0; c < ks->entries[e].chain_len && error == 0; c++)
                error = ch_cert_write_pem(out, ks->entries[e].chain[c]);
        }
        return error;
    case CH_FMT_DER: {
        size_t len;
        const uint8_t *der = ch_cert_der(ks->entries[0].chain[0], &len);
        return ch_buf_put(out, der, len);
    }
    case CH_FMT_PKCS7:
        return export_p7(out, ks);
    case CH_FMT_PKCS12:
        return export_p12(out, ks, opts->password, opts->legacy);
    case CH_FMT_JKS:
        return fmt_export_jks(out, ks, opts->password, opts->key_password);
    default:
        return ch_error_set_field(CH_EUNSUPPORTED, "format", "cannot write %s; accepted: " CH_FORMAT_NAMES_WRITTEN,
                                  ch_format_name(fmt));
    }
}
