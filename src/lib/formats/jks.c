/*
 * Java keystores: JKS (magic FEEDFEED) and JCEKS (magic CECECECE), which OpenSSL does not
 * read.  Layout (big-endian): magic, version 2, entry count, then per entry a tag (1 private
 * key, 2 trusted certificate, 3 secret key in JCEKS), the alias (u16 length + modified
 * UTF-8), a timestamp (u64 ms) and the entry; last a SHA-1 over the password (UTF-16BE),
 * "Mighty Aphrodite" and everything before it, which is checked before anything is trusted.
 *
 * Key entries are an EncryptedPrivateKeyInfo: in JKS with Sun's key protector
 * (1.3.6.1.4.1.42.2.17.1.1: salt(20) | key XOR SHA-1 keystream | SHA-1 check(20)), in JCEKS
 * with PBEWithMD5AndTripleDES (1.3.6.1.4.1.42.2.19.1).  Everything is read through one
 * bounds-checked cursor with a cap on every count and length.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certhub/formats.h"
#include "formats/cursor.h"
#include "formats/formats_internal.h"
#include "x509/x509_internal.h"

#define JKS_MAGIC 0xfeedfeedu
#define JCEKS_MAGIC 0xcecececeu
#define MAX_KEY_BYTES 65536u
#define MAX_CERT_BYTES 65536u

static const char whitener[] = "Mighty Aphrodite";

/* The password as UTF-16BE, the way Java hands a char[] to its digests.  Accepts UTF-8. */
static int utf16be(ch_buf *out, const char *pw)
{
    const unsigned char *p = (const unsigned char *)(pw ? pw : "");
    int error = 0;

    while (*p && error == 0) {
        uint32_t cp;
        int n;
        if (*p < 0x80) {
            cp = *p;
            n = 1;
        } else if ((*p & 0xe0) == 0xc0 && (p[1] & 0xc0) == 0x80) {
            cp = ((uint32_t)(*p & 0x1f) << 6) | (p[1] & 0x3f);
            n = 2;
        } else if ((*p & 0xf0) == 0xe0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
            cp = ((uint32_t)(*p & 0x0f) << 12) | ((uint32_t)(p[1] & 0x3f) << 6) | (p[2] & 0x3f);
            n = 3;
        } else if ((*p & 0xf8) == 0xf0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80) {
            cp = ((uint32_t)(*p & 0x07) << 18) | ((uint32_t)(p[1] & 0x3f) << 12) | ((uint32_t)(p[2] & 0x3f) << 6) |
                 (p[3] & 0x3f);
            n = 4;
        } else {
            return ch_error_set(CH_EINVAL, "the password is not valid UTF-8");
        }
        if (cp >= 0x10000) {
            uint32_t v = cp - 0x10000;
            uint8_t s[4] = {(uint8_t)(0xd8 | (v >> 18)), (uint8_t)(v >> 10), (uint8_t)(0xdc | ((v >> 8) & 3)),
                            (uint8_t)v};
            error = ch_buf_put(out, s, 4);
        } else {
            uint8_t s[2] = {(uint8_t)(cp >> 8), (uint8_t)cp};
            error = ch_buf_put(out, s, 2);
        }
        p += n;
    }
    return error;
}

/* SHA-1(password UTF-16BE | "Mighty Aphrodite" | data): the keystore's integrity check. */
static int store_digest(uint8_t md[20], const char *password, const uint8_t *data, size_t len)
{
    ch_buf pw = CH_BUF_INIT;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int error = utf16be(&pw, password);

    if (error == 0 && (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
                       EVP_DigestUpdate(ctx, pw.data ? pw.data : (uint8_t *)"", pw.len) != 1 ||
                       EVP_DigestUpdate(ctx, whitener, strlen(whitener)) != 1 ||
                       EVP_DigestUpdate(ctx, data, len) != 1 || EVP_DigestFinal_ex(ctx, md, NULL) != 1))
        error = ch_error_ossl(CH_ECRYPTO, "EVP_Digest", "checking the keystore");
    EVP_MD_CTX_free(ctx);
    ch_buf_dispose_secure(&pw);
    return error;
}

/* Sun's key protector (JKS): keystream = SHA-1(pw | salt), SHA-1(pw | previous)... */
static int sun_keystream(uint8_t *out, size_t len, const ch_buf *pw, const uint8_t salt[20])
{
    uint8_t d[20];
    size_t done = 0;

    memcpy(d, salt, 20);
    while (done < len) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
            EVP_DigestUpdate(ctx, pw->data ? pw->data : (uint8_t *)"", pw->len) != 1 ||
            EVP_DigestUpdate(ctx, d, 20) != 1 || EVP_DigestFinal_ex(ctx, d, NULL) != 1) {
            EVP_MD_CTX_free(ctx);
            return ch_error_ossl(CH_ECRYPTO, "EVP_Digest", "opening a key");
        }
        EVP_MD_CTX_free(ctx);
        size_t n = len - done < 20 ? len - done : 20;
        memcpy(out + done, d, n);
        done += n;
    }
    ch_wipe(d, sizeof d);
    return 0;
}

static int sha1_pw_data(uint8_t md[20], const ch_buf *pw, const uint8_t *data, size_t len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, pw->data ? pw->data : (uint8_t *)"", pw->len) == 1 &&
             EVP_DigestUpdate(ctx, data, len) == 1 && EVP_DigestFinal_ex(ctx, md, NULL) == 1;

    EVP_MD_CTX_free(ctx);
    return ok ? 0 : ch_error_ossl(CH_ECRYPTO, "EVP_Digest", "opening a key");
}

/* Opens a JKS key (plaintext PKCS#8 into out, dispose secure). */
static int jks_open_key(ch_buf *out, const uint8_t *enc, size_t len, const char *password)
{
    ch_buf pw = CH_BUF_INIT;
    uint8_t check[20], *stream = NULL;
    size_t n;
    int error;

    if (len < 40)
        return ch_error_set(CH_EPARSE, "a protected key of the keystore is too short");
    n = len - 40;
    if ((error = utf16be(&pw, password)) < 0)
        return error;
    if ((stream = malloc(n ? n : 1)) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    if ((error = sun_keystream(stream, n, &pw, enc)) < 0 || (error = ch_buf_grow(out, n)) < 0)
        goto done;
    for (size_t i = 0; i < n; i++)
        out->data[out->len + i] = enc[20 + i] ^ stream[i];
    out->len += n;
    if ((error = sha1_pw_data(check, &pw, out->data, out->len)) < 0)
        goto done;
    if (CRYPTO_memcmp(check, enc + 20 + n, 20) != 0)
        error = ch_error_set(CH_EPASSWORD, "wrong password for a key of the keystore (when its keys have a password of their own, give it as the key password)");
done:
    if (stream)
        ch_secure_free(stream, n);
    ch_buf_dispose_secure(&pw);
    return error;
}

/* Whether d is one whole DER SEQUENCE (what a PKCS#8 key decrypts to). */
static bool der_whole_sequence(const uint8_t *d, size_t n)
{
    size_t len = 0, hdr = 2;

    if (n < 2 || d[0] != 0x30)
        return false;
    if (d[1] < 0x80) {
        len = d[1];
    } else {
        size_t k = d[1] & 0x7fu;
        if (k == 0 || k > 4 || n < 2 + k)
            return false;
        for (size_t i = 0; i < k; i++)
            len = len << 8 | d[2 + i];
        hdr += k;
    }
    return hdr + len == n;
}

/* Sun's PBEWithMD5AndTripleDES (JCEKS): two MD5 chains over the salt halves make key and IV. */
static int jceks_open_key(ch_buf *out, const uint8_t *salt8, uint64_t iter, const uint8_t *enc, size_t len,
                          const char *password)
{
    uint8_t salt[8], derived[32];
    size_t pwlen = password ? strlen(password) : 0;
    EVP_CIPHER_CTX *cctx = NULL;
    int outl = 0, fin = 0, error = 0;

    /* (the limit of each derivation is x509_kdf_spend's to say) */
    if (iter < 1)
        return ch_error_set(CH_ETOOBIG, "a key's iteration count is above the limit of %u", CH_MAX_KDF_ITER);
    if ((error = x509_kdf_spend(iter, "a key")) < 0)
        return error;
    memcpy(salt, salt8, 8);
    if (memcmp(salt, salt + 4, 4) == 0) {
        /* Sun inverts the first half when both halves are equal. */
        for (int i = 0; i < 2; i++) {
            uint8_t t = salt[i];
            salt[i] = salt[3 - i];
            salt[3 - i] = t;
        }
    }
    for (int h = 0; h < 2; h++) {
        uint8_t d[16];
        unsigned dl = 16;
        const uint8_t *in = salt + 4 * h;
        size_t inlen = 4;
        for (uint64_t i = 0; i < iter; i++) {
            EVP_MD_CTX *m = EVP_MD_CTX_new();
            if (m == NULL || EVP_DigestInit_ex(m, EVP_md5(), NULL) != 1 || EVP_DigestUpdate(m, in, inlen) != 1 ||
                EVP_DigestUpdate(m, password ? password : "", pwlen) != 1 || EVP_DigestFinal_ex(m, d, &dl) != 1) {
                EVP_MD_CTX_free(m);
                ch_wipe(d, sizeof d);
                error = ch_error_ossl(CH_ECRYPTO, "EVP_Digest", "opening a key");
                goto done; /* (derived may hold the first half) */
            }
            EVP_MD_CTX_free(m);
            in = d;
            inlen = 16;
        }
        memcpy(derived + 16 * h, d, 16);
        ch_wipe(d, sizeof d); /* (half the key and IV, as derived is) */
    }
    if ((error = ch_buf_grow(out, len + 16)) < 0)
        goto done;
    if ((cctx = EVP_CIPHER_CTX_new()) == NULL ||
        EVP_DecryptInit_ex(cctx, EVP_des_ede3_cbc(), NULL, derived, derived + 24) != 1 ||
        EVP_DecryptUpdate(cctx, out->data + out->len, &outl, enc, (int)len) != 1 ||
        EVP_DecryptFinal_ex(cctx, out->data + out->len + outl, &fin) != 1 ||
        /* The cipher carries no check of its own: a wrong password also decrypts to padding
         * that looks right, about one time in 256, and the garbage was then read as a key
         * that is not one.  A key is one whole DER SEQUENCE; anything else is the wrong key. */
        !der_whole_sequence(out->data + out->len, (size_t)(outl + fin))) {
        ERR_clear_error();
        error = ch_error_set(CH_EPASSWORD, "wrong password for a key of the keystore (when its keys have a password of their own, give it as the key password)");
        goto done;
    }
    out->len += (size_t)(outl + fin);
done:
    EVP_CIPHER_CTX_free(cctx);
    ch_wipe(derived, sizeof derived);
    return error;
}

/* Whether b (n bytes left) begins a character beyond U+FFFF as modified UTF-8 writes it: a
 * surrogate pair, each half three bytes (ED A0-AF xx, ED B0-BF xx). */
static bool mutf8_pair(const uint8_t *b, size_t n)
{
    return n >= 6 && b[0] == 0xed && (b[1] & 0xf0) == 0xa0 && (b[2] & 0xc0) == 0x80 && b[3] == 0xed &&
           (b[4] & 0xf0) == 0xb0 && (b[5] & 0xc0) == 0x80;
}

/* An alias in modified UTF-8 (u16 length), as UTF-8: NUL (C0 80) and C0 control characters
 * refused; a character beyond U+FFFF (an emoji), which Java writes as a surrogate pair of
 * three bytes each, made the four bytes UTF-8 has for it (out holds no more than was read);
 * what is left that is not UTF-8 or is a control character of another kind made '_'
 * (fmt_alias_clean). */
static int read_alias(ch_cursor *c, char *out, size_t size)
{
    uint16_t n = cur_u16(c);
    const uint8_t *b;
    size_t o = 0;

    if (!cur_take(c, &b, n))
        return ch_error_set(CH_EPARSE, "the keystore ends inside an alias");
    if (n == 0 || n >= size || n > CH_MAX_NAME_LEN)
        return ch_error_set(CH_EPARSE, "an alias of the keystore is empty or longer than %u bytes", CH_MAX_NAME_LEN);
    for (size_t i = 0; i < n; i++) {
        if (b[i] < 0x20 || b[i] == 0x7f || (b[i] == 0xc0 && i + 1 < n && b[i + 1] == 0x80))
            return ch_error_set(CH_EPARSE, "an alias of the keystore contains a control character");
        if (mutf8_pair(b + i, n - i)) {
            uint32_t hi = (uint32_t)(b[i + 1] & 0x0f) << 6 | (b[i + 2] & 0x3f),
                     lo = (uint32_t)(b[i + 4] & 0x0f) << 6 | (b[i + 5] & 0x3f), u = 0x10000 + (hi << 10) + lo;
            o += ch_utf8_put(out + o, u);
            i += 5;
            continue;
        }
        out[o++] = (char)b[i];
    }
    out[o] = '\0';
    fmt_alias_clean(out); /* (what Java would not write: a lone surrogate, a C1 control...) */
    return 0;
}

static int read_cert(ch_cursor *c, ch_cert **out)
{
    char type[64];
    uint32_t n;
    const uint8_t *b;
    int error;

    *out = NULL;
    if ((error = read_alias(c, type, sizeof type)) < 0) /* the type is a UTF string too */
        return error;
    if (strcmp(type, "X.509") != 0)
        return ch_error_set(CH_EUNSUPPORTED, "a certificate of type %.32s is not supported", type);
    n = cur_u32(c);
    if (n == 0 || n > MAX_CERT_BYTES || !cur_take(c, &b, n))
        return ch_error_set(CH_EPARSE, "a certificate length in the keystore is out of range");
    return ch_cert_parse(out, b, n);
}

/* The EncryptedPrivateKeyInfo of a key entry: algorithm OID, parameters and the data. */
static int open_protected_key(ch_buf *plain, const uint8_t *der, size_t len, bool jceks, const char *password)
{
    const unsigned char *p = der;
    X509_SIG *sig = d2i_X509_SIG(NULL, &p, (long)len);
    const X509_ALGOR *alg;
    const ASN1_OCTET_STRING *data;
    const ASN1_OBJECT *oid;
    const void *pval;
    int ptype, error = 0;
    char txt[64] = "";

    if (sig == NULL || p != der + len) {
        X509_SIG_free(sig);
        ERR_clear_error();
        return ch_error_set(CH_EPARSE, "a protected key of the keystore is malformed");
    }
    X509_SIG_get0(sig, &alg, &data);
    X509_ALGOR_get0(&oid, &ptype, &pval, alg);
    OBJ_obj2txt(txt, sizeof txt, oid, 1);
    if (!jceks && strcmp(txt, "1.3.6.1.4.1.42.2.17.1.1") == 0) {
        error = jks_open_key(plain, ASN1_STRING_get0_data(data), (size_t)ASN1_STRING_length(data), password);
    } else if (strcmp(txt, "1.3.6.1.4.1.42.2.19.1") == 0 && ptype == V_ASN1_SEQUENCE) {
        /* PBEParameter ::= SEQUENCE { salt OCTET STRING (8), iterationCount INTEGER } */
        PBEPARAM *pbe = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBEPARAM), alg->parameter);
        int64_t iter = 0;
        if (pbe == NULL || ASN1_STRING_length(pbe->salt) != 8 || ASN1_INTEGER_get_int64(&iter, pbe->iter) != 1 ||
            iter < 1) {
            error = ch_error_set(CH_EPARSE, "a protected key of the keystore has malformed parameters");
        } else {
            error = jceks_open_key(plain, ASN1_STRING_get0_data(pbe->salt), (uint64_t)iter,
                                   ASN1_STRING_get0_data(data), (size_t)ASN1_STRING_length(data), password);
        }
        PBEPARAM_free(pbe);
    } else {
        error = ch_error_set(CH_EUNSUPPORTED, "a key protected with %s is not supported", txt);
    }
    X509_SIG_free(sig);
    ERR_clear_error();
    return error;
}

/* ------------------------------------------------------------- JCEKS secret keys
 *
 * A secret-key entry is a Java serialization stream (a SealedObjectForKeyProtector: the key
 * encrypted under the store's password) whose length is written nowhere: the only way past
 * it to the next entry is to read the stream's grammar.  What is read here is the part of it
 * such a stream uses (objects, class descriptions, arrays, strings, references, block data),
 * each with a bounded count, depth and size; nothing in it is kept.  The grammar is that of
 * the Java Object Serialization Stream Protocol, read from its specification. */

enum {
    TC_NULL = 0x70, TC_REFERENCE = 0x71, TC_CLASSDESC = 0x72, TC_OBJECT = 0x73, TC_STRING = 0x74,
    TC_ARRAY = 0x75, TC_BLOCKDATA = 0x77, TC_ENDBLOCKDATA = 0x78, TC_BLOCKDATALONG = 0x7a,
    TC_LONGSTRING = 0x7c, TC_ENUM = 0x7e,
    SC_WRITE_METHOD = 0x01, SC_SERIALIZABLE = 0x02, SC_EXTERNALIZABLE = 0x04,
    JS_MAX_HANDLES = 256, JS_MAX_CLASSES = 32, JS_MAX_FIELDS = 32, JS_MAX_DEPTH = 12,
};

struct js_class {
    uint8_t flags;
    char elem;                       /* an array class's element type code ('B' of "[B"), else 0 */
    uint8_t nfields;
    char types[JS_MAX_FIELDS];       /* each field's type code: B C D F I J S Z, L or [ */
    int super;                       /* the superclass's index in classes, -1 for none */
};

struct js_reader {
    ch_cursor c;
    struct js_class classes[JS_MAX_CLASSES];
    int nclasses;
    int handles[JS_MAX_HANDLES];     /* a class's index, or -1 for any other object */
    int nhandles;
};

static bool js_handle(struct js_reader *r, int cls)
{
    if (r->nhandles >= JS_MAX_HANDLES)
        return false;
    r->handles[r->nhandles++] = cls;
    return true;
}

static bool js_object(struct js_reader *r, int depth);

/* An annotation (a class's, or what an object's own writeObject wrote after its fields):
 * contents up to TC_ENDBLOCKDATA. */
static bool js_annotation(struct js_reader *r, int depth)
{
    const uint8_t *b;

    for (;;) {
        if (r->c.left == 0)
            return false;
        if (r->c.p[0] == TC_ENDBLOCKDATA)
            return cur_take(&r->c, &b, 1);
        if (!js_object(r, depth + 1))
            return false;
    }
}

/* A class description (or null, or a reference to one read before): its index in *cls, -1 for
 * null. */
static bool js_classdesc(struct js_reader *r, int depth, int *cls)
{
    const uint8_t *b;
    uint8_t tc;
    struct js_class *k;
    int idx;

    *cls = -1;
    if (depth > JS_MAX_DEPTH || !cur_take(&r->c, &b, 1))
        return false;
    tc = b[0];
    if (tc == TC_NULL)
        return true;
    if (tc == TC_REFERENCE) {
        uint32_t h = cur_u32(&r->c) - 0x7e0000u;
        if (r->c.failed || h >= (uint32_t)r->nhandles || r->handles[h] < 0)
            return false;
        *cls = r->handles[h];
        return true;
    }
    if (tc != TC_CLASSDESC || r->nclasses >= JS_MAX_CLASSES)
        return false;
    idx = r->nclasses++;
    k = &r->classes[idx];
    memset(k, 0, sizeof *k);
    {
        uint16_t n = cur_u16(&r->c);
        if (!cur_take(&r->c, &b, n)) /* the class name */
            return false;
        k->elem = n >= 2 && b[0] == '[' ? (char)b[1] : 0;
    }
    (void)cur_u64(&r->c); /* serialVersionUID */
    if (!js_handle(r, idx) || !cur_take(&r->c, &b, 1))
        return false;
    k->flags = b[0];
    {
        uint16_t nf = cur_u16(&r->c);
        if (r->c.failed || nf > JS_MAX_FIELDS)
            return false;
        k->nfields = (uint8_t)nf;
    }
    for (int i = 0; i < k->nfields; i++) {
        if (!cur_take(&r->c, &b, 1) || b[0] == '\0' || strchr("BCDFIJSZL[", b[0]) == NULL)
            return false;
        k->types[i] = (char)b[0];
        if (!cur_take(&r->c, &b, cur_u16(&r->c))) /* the field's name */
            return false;
        if ((k->types[i] == 'L' || k->types[i] == '[') && !js_object(r, depth + 1)) /* its class name */
            return false;
    }
    if (!js_annotation(r, depth))
        return false;
    {
        int super;
        if (!js_classdesc(r, depth + 1, &super))
            return false;
        r->classes[idx].super = super;
    }
    *cls = idx;
    return true;
}

static bool js_value(struct js_reader *r, char type, int depth)
{
    const uint8_t *b;
    static const char sizes[][2] = {{'B', 1}, {'C', 2}, {'D', 8}, {'F', 4}, {'I', 4}, {'J', 8}, {'S', 2}, {'Z', 1}};

    if (type == 'L' || type == '[')
        return js_object(r, depth + 1);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i][0] == type)
            return cur_take(&r->c, &b, (size_t)sizes[i][1]);
    return false;
}

/* The values of an object of class cls: each class's fields from the topmost superclass down,
 * and after a class's fields, when it wrote them itself, its annotation. */
static bool js_classdata(struct js_reader *r, int cls, int depth)
{
    int chain[JS_MAX_CLASSES], n = 0;

    for (int k = cls; k >= 0 && n < JS_MAX_CLASSES; k = r->classes[k].super)
        chain[n++] = k;
    if (n == JS_MAX_CLASSES)
        return false; /* a loop through the superclasses */
    while (n-- > 0) {
        const struct js_class *k = &r->classes[chain[n]];
        if (k->flags & SC_EXTERNALIZABLE || !(k->flags & SC_SERIALIZABLE))
            return false;
        for (int i = 0; i < k->nfields; i++)
            if (!js_value(r, k->types[i], depth))
                return false;
        if ((k->flags & SC_WRITE_METHOD) && !js_annotation(r, depth))
            return false;
    }
    return true;
}

static bool js_object(struct js_reader *r, int depth)
{
    const uint8_t *b;
    int cls;

    if (depth > JS_MAX_DEPTH || r->c.left == 0)
        return false;
    switch (r->c.p[0]) {
    case TC_NULL:
        return cur_take(&r->c, &b, 1);
    case TC_REFERENCE:
        (void)cur_take(&r->c, &b, 1);
        {
            uint32_t h = cur_u32(&r->c) - 0x7e0000u;
            return !r->c.failed && h < (uint32_t)r->nhandles;
        }
    case TC_STRING:
        (void)cur_take(&r->c, &b, 1);
        return cur_take(&r->c, &b, cur_u16(&r->c)) && js_handle(r, -1);
    case TC_LONGSTRING: {
        uint64_t n;
        (void)cur_take(&r->c, &b, 1);
        n = cur_u64(&r->c);
        return cur_take(&r->c, &b, n > r->c.left ? SIZE_MAX : (size_t)n) && js_handle(r, -1);
    }
    case TC_BLOCKDATA:
        (void)cur_take(&r->c, &b, 1);
        return cur_take(&r->c, &b, cur_be(&r->c, 1));
    case TC_BLOCKDATALONG:
        (void)cur_take(&r->c, &b, 1);
        return cur_take(&r->c, &b, cur_u32(&r->c));
    case TC_CLASSDESC:
        return js_classdesc(r, depth + 1, &cls);
    case TC_OBJECT:
        (void)cur_take(&r->c, &b, 1);
        if (!js_classdesc(r, depth + 1, &cls) || cls < 0 || !js_handle(r, -1))
            return false;
        return js_classdata(r, cls, depth);
    case TC_ENUM:
        (void)cur_take(&r->c, &b, 1);
        return js_classdesc(r, depth + 1, &cls) && cls >= 0 && js_handle(r, -1) && js_object(r, depth + 1);
    case TC_ARRAY: {
        uint32_t count;
        char elem;
        (void)cur_take(&r->c, &b, 1);
        if (!js_classdesc(r, depth + 1, &cls) || cls < 0 || !js_handle(r, -1))
            return false;
        elem = r->classes[cls].elem;
        count = cur_u32(&r->c);
        if (count > r->c.left)
            r->c.failed = true; /* more elements than bytes left: it runs past the end */
        if (r->c.failed)
            return false;
        for (uint32_t i = 0; i < count; i++)
            if (!js_value(r, elem, depth))
                return false;
        return true;
    }
    default:
        return false;
    }
}

/* Reads past one serialization stream (its header, then one object): 1 when read, -1 when it
 * runs past the end of c, 0 when it is not a stream this reader follows.  c fails unless 1. */
static int skip_java_object(ch_cursor *c)
{
    struct js_reader *r = calloc(1, sizeof *r);
    int rc;

    if (r == NULL) {
        c->failed = true;
        return 0;
    }
    r->c = *c;
    if (cur_u16(&r->c) == 0xaced && cur_u16(&r->c) == 5 && js_object(r, 0))
        rc = 1;
    else
        rc = r->c.failed || r->c.left == 0 ? -1 : 0;
    if (rc == 1)
        *c = r->c;
    else
        c->failed = true;
    free(r);
    return rc;
}

/* Whether the keystore's entries, walked by their lengths alone (nothing in them decoded: the
 * digest has not matched), run past the end of data: a file cut short, whose digest cannot
 * match whatever the password.  A JCEKS secret key stops the walk (its length is not written),
 * and what cannot be walked is not called cut. */
static bool jks_cut_short(const uint8_t *data, size_t len)
{
    ch_cursor c;
    const uint8_t *b;
    uint32_t count;

    cur_init(&c, data, len);
    (void)cur_u32(&c);
    (void)cur_u32(&c);
    count = cur_u32(&c);
    for (uint32_t e = 0; e < count && e <= CH_MAX_KS_ENTRIES && !c.failed; e++) {
        uint32_t tag = cur_u32(&c), nchain = 1;
        (void)cur_take(&c, &b, cur_u16(&c)); /* alias */
        (void)cur_u64(&c);
        if (c.failed)
            break;
        if (tag == 1) {
            (void)cur_take(&c, &b, cur_u32(&c)); /* the protected key */
            nchain = cur_u32(&c);
        } else if (tag == 3) {
            int rc = skip_java_object(&c);
            if (rc < 1)
                return rc == -1; /* (one it cannot follow says nothing about the rest) */
            continue;
        } else if (tag != 2) {
            return false;
        }
        for (uint32_t i = 0; i < nchain && i <= CH_MAX_CHAIN_LEN && !c.failed; i++) {
            (void)cur_take(&c, &b, cur_u16(&c)); /* "X.509" */
            (void)cur_take(&c, &b, cur_u32(&c));
        }
    }
    return c.failed || c.left < 20;
}

/* A key entry kept without its key (key_locked), its chain taken (freed here), a note saying
 * why: a key the passwords do not open, or one certhub does not take, when keys are optional
 * (inspect, certificates taken out alone). */
static int keep_keyless(ch_keystore *ks, const char *alias, ch_cert **chain, size_t n, const char *what,
                        const char *why)
{
    int error = fmt_note(ks, "the key of entry \"%.64s\" %s: %s", alias, what, why);

    if (error == 0 && (error = ch_keystore_add(ks, alias, chain, n, NULL)) == 0)
        ks->entries[ks->count - 1].key_locked = true;
    for (size_t k = 0; k < n; k++)
        ch_cert_free(chain[k]);
    return error;
}

int fmt_import_jks(ch_keystore *ks, fmt_items *it, const uint8_t *data, size_t len, const char *store_password,
                   const char *key_password, bool keys_optional)
{
    ch_cursor c;
    uint32_t magic, version, count;
    uint8_t md[20];
    bool jceks;
    int error;

    (void)it;
    if (len < 12 + 20)
        return ch_error_set(CH_EPARSE, "the keystore is cut short: %zu bytes", len);
    if (store_password == NULL && !keys_optional)
        return ch_error_set(CH_EPASSWORD, "a password is needed to open the keystore");
    if (store_password == NULL) {
        /* Listed without a password, as keytool -list does (its certificates are in clear),
         * and said to be unchecked: the digest is over the password, so nothing vouches for
         * what is read; the keys stay closed.  Only where keys are optional (inspecting,
         * converting certificates): an upload needs the password. */
        if (jks_cut_short(data, len))
            return ch_error_set(CH_EPARSE, "the keystore is cut short: its entries and digest need more than its %zu bytes",
                                len);
        if ((error = fmt_note(ks, "the keystore's integrity was not checked: no password was given (give it to check "
                              "the keystore and open its keys)")) < 0)
            return error;
    } else if ((error = store_digest(md, store_password, data, len - 20)) < 0) {
        /* Integrity first: nothing in the keystore is looked at before its digest matches. */
        return error;
    } else if (CRYPTO_memcmp(md, data + len - 20, 20) != 0) {
        if (jks_cut_short(data, len))
            return ch_error_set(CH_EPARSE, "the keystore is cut short: its entries and digest need more than its %zu bytes",
                                len);
        return ch_error_set(CH_EPASSWORD, "wrong password for keystore (or the keystore was altered)");
    }
    cur_init(&c, data, len - 20);
    magic = cur_u32(&c);
    version = cur_u32(&c);
    count = cur_u32(&c);
    jceks = magic == JCEKS_MAGIC;
    if ((magic != JKS_MAGIC && magic != JCEKS_MAGIC) || (version != 1 && version != 2))
        return ch_error_set(CH_EPARSE, "not a JKS or JCEKS keystore of version 1 or 2");
    if (count > CH_MAX_KS_ENTRIES)
        return ch_error_set(CH_ETOOBIG, "the keystore claims %u entries, more than the limit of %u", count,
                            CH_MAX_KS_ENTRIES);
    for (uint32_t e = 0; e < count; e++) {
        char alias[CH_MAX_NAME_LEN + 1];
        uint32_t tag = cur_u32(&c);
        ch_cert *chain[CH_MAX_CHAIN_LEN];
        size_t n = 0;
        ch_key *key = NULL;

        if ((error = read_alias(&c, alias, sizeof alias)) < 0)
            return error;
        (void)cur_u64(&c); /* creation time */
        if (c.failed)
            return ch_error_set(CH_EPARSE, "the keystore is truncated");
        if (tag == 1) {
            uint32_t klen = cur_u32(&c), nchain;
            const uint8_t *kb;
            ch_buf plain = CH_BUF_INIT;
            if (klen == 0 || klen > MAX_KEY_BYTES || !cur_take(&c, &kb, klen))
                return ch_error_set(CH_EPARSE, "a key length in the keystore is out of range");
            nchain = cur_u32(&c);
            if (c.failed || nchain == 0 || nchain > CH_MAX_CHAIN_LEN)
                return ch_error_set(CH_EPARSE, "the chain of entry \"%.64s\" has %u certificates; accepted: 1 to %u",
                                    alias, nchain, CH_MAX_CHAIN_LEN);
            for (uint32_t i = 0; i < nchain; i++) {
                if ((error = read_cert(&c, &chain[n])) < 0) {
                    for (size_t k = 0; k < n; k++)
                        ch_cert_free(chain[k]);
                    return error;
                }
                n++;
            }
            /* Without the store's password no key is opened, a key password given or not: the
             * read is keytool -list's, and nothing vouches for what a key would be paired with
             * (the chain and alias around it; only the store's digest covers them). */
            error = store_password == NULL
                        ? CH_EPASSWORD
                        : open_protected_key(&plain, kb, klen, jceks, key_password ? key_password : store_password);
            /* Keys with passwords of their own for some entries and not others (keytool's
             * -keypass for one alias): a key the key password does not open may have the
             * store's. */
            if (error == CH_EPASSWORD && key_password != NULL && store_password != NULL &&
                strcmp(key_password, store_password) != 0) {
                ch_buf_dispose_secure(&plain);
                error = open_protected_key(&plain, kb, klen, jceks, store_password);
            }
            if (error == CH_EPASSWORD && keys_optional) {
                /* Listed as keytool -list does with the store's password alone: the entry and
                 * its chain, its key left closed. */
                const char *why = store_password == NULL && key_password == NULL ? "no password was given"
                                  : store_password == NULL ? "the keystore's password was not given (a key is opened "
                                                             "only from a keystore whose integrity was checked)"
                                  : key_password ? "neither the key password nor the keystore's opens it"
                                                 : "it has a password of its own (give it as the key password)";
                ch_buf_dispose_secure(&plain);
                if ((error = keep_keyless(ks, alias, chain, n, "was not opened", why)) < 0)
                    return error;
                continue;
            }
            if (error == CH_EPASSWORD)
                ch_error_set_field(error, "key_password",
                                   "wrong password for the key of entry \"%.64s\": %s", alias,
                                   key_password ? "neither the key password nor the keystore's opens it"
                                                : "the keystore's does not open it; give the key's own as the key password");
            if (error == 0 && (error = ch_key_parse(&key, plain.data, plain.len, NULL)) == CH_EPOLICY &&
                keys_optional) {
                /* A key certhub does not take (RSA of 1024 bits): the entry listed, as for a key
                 * left closed, by inspect and for its certificates alone. */
                ch_buf_dispose_secure(&plain);
                if ((error = keep_keyless(ks, alias, chain, n, "was left out", ch_error_last())) < 0)
                    return error;
                continue;
            }
            if (error == CH_EPOLICY)
                error = ch_error_set(error, "the key of entry \"%.64s\": %s", alias, ch_error_last()); /* which */
            ch_buf_dispose_secure(&plain);
            if (error == 0 && !ch_cert_matches_key(chain[0], key))
                error = ch_error_set(CH_EPARSE, "the key of entry \"%.64s\" does not belong to its certificate", alias);
            if (error == 0)
                error = ch_keystore_add(ks, alias, chain, n, key);
        } else if (tag == 2) {
            if ((error = read_cert(&c, &chain[0])) == 0) {
                n = 1;
                error = ch_keystore_add(ks, alias, chain, 1, NULL);
            }
        } else if (tag == 3 && jceks) {
            /* A secret key (an AES or HMAC key of a Java application) is no certificate or
             * private key: the entries around it are read, it is left out and said to be. */
            if (skip_java_object(&c) < 1)
                return ch_error_set(CH_EPARSE, "entry \"%.64s\", a secret key, is not a serialized key this reader "
                                    "follows, or runs past the end of the keystore", alias);
            error = fmt_note(ks, "entry \"%.64s\" is a secret key, which certhub does not hold: left out", alias);
        } else {
            return ch_error_set(CH_EPARSE, "entry \"%.64s\" has an unknown type %u", alias, tag);
        }
        for (size_t k = 0; k < n; k++)
            ch_cert_free(chain[k]);
        ch_key_free(key);
        if (error < 0)
            return error;
    }
    if (c.left != 0)
        return ch_error_set(CH_EPARSE, "%zu unexpected bytes after the last entry of the keystore", c.left);
    return 0;
}

/* ------------------------------------------------------------- writing JKS */

static int put_u16(ch_buf *b, unsigned v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    return ch_buf_put(b, x, 2);
}

static int put_u32(ch_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return ch_buf_put(b, x, 4);
}

static int put_u64(ch_buf *b, uint64_t v)
{
    int error = put_u32(b, (uint32_t)(v >> 32));
    return error ? error : put_u32(b, (uint32_t)v);
}

/* A string as Java's DataOutput.writeUTF writes it (u16 length + modified UTF-8): UTF-8,
 * except a character beyond U+FFFF (an emoji), which is its UTF-16 surrogate pair, each half
 * in three bytes.  Its four UTF-8 bytes made keytool stop on the keystore ("malformed input"). */
static int put_utf(ch_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    ch_buf m = CH_BUF_INIT;
    int error = 0;

    for (size_t i = 0; p[i] && error == 0; i++) {
        if (p[i] >= 0xf0 && (p[i + 1] & 0xc0) == 0x80 && (p[i + 2] & 0xc0) == 0x80 && (p[i + 3] & 0xc0) == 0x80) {
            uint32_t u = (uint32_t)(p[i] & 0x07) << 18 | (uint32_t)(p[i + 1] & 0x3f) << 12 |
                         (uint32_t)(p[i + 2] & 0x3f) << 6 | (p[i + 3] & 0x3f);
            uint32_t hi = 0xd800 + ((u - 0x10000) >> 10), lo = 0xdc00 + ((u - 0x10000) & 0x3ff);
            uint8_t pair[6] = {0xed, (uint8_t)(0x80 | (hi >> 6 & 0x3f)), (uint8_t)(0x80 | (hi & 0x3f)),
                               0xed, (uint8_t)(0x80 | (lo >> 6 & 0x3f)), (uint8_t)(0x80 | (lo & 0x3f))};
            if (u < 0x10000 || u > 0x10ffff) {
                error = ch_error_set(CH_EINVAL, "the alias is not UTF-8 text");
                break;
            }
            error = ch_buf_put(&m, pair, sizeof pair);
            i += 3;
        } else {
            error = ch_buf_put(&m, &p[i], 1);
        }
    }
    if (error == 0 && m.len > 65535)
        error = ch_error_set(CH_EINVAL, "alias too long");
    if (error == 0 && (error = put_u16(b, (unsigned)m.len)) == 0)
        error = ch_buf_put(b, m.data, m.len);
    ch_buf_dispose(&m);
    return error;
}

static int put_cert(ch_buf *b, const ch_cert *c)
{
    size_t len;
    const uint8_t *der = ch_cert_der(c, &len);
    int error;

    if ((error = put_utf(b, "X.509")) < 0 || (error = put_u32(b, (uint32_t)len)) < 0)
        return error;
    return ch_buf_put(b, der, len);
}

/* EncryptedPrivateKeyInfo with Sun's key protector over the PKCS#8 of key. */
static int protect_key(ch_buf *out, const ch_key *key, const char *password)
{
    static const uint8_t alg[] = {0x30, 0x0e, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x2a,
                                  0x02, 0x11, 0x01, 0x01, 0x05, 0x00};
    ch_buf p8 = CH_BUF_INIT, pw = CH_BUF_INIT, body = CH_BUF_INIT, octets = CH_BUF_INIT;
    uint8_t salt[20], check[20], *stream = NULL;
    int error;

    if ((error = ch_key_write_der(&p8, key)) < 0 || (error = utf16be(&pw, password)) < 0 ||
        (error = ch_random(salt, sizeof salt)) < 0)
        goto done;
    if ((stream = malloc(p8.len)) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    if ((error = sun_keystream(stream, p8.len, &pw, salt)) < 0 || (error = sha1_pw_data(check, &pw, p8.data, p8.len)) < 0)
        goto done;
    for (size_t i = 0; i < p8.len; i++)
        stream[i] ^= p8.data[i];
    if ((error = ch_buf_put(&octets, salt, 20)) < 0 || (error = ch_buf_put(&octets, stream, p8.len)) < 0 ||
        (error = ch_buf_put(&octets, check, 20)) < 0)
        goto done;
    /* SEQUENCE { alg, OCTET STRING octets } with DER lengths */
    {
        uint8_t hdr[4];
        size_t h;
        size_t n = octets.len;
        hdr[0] = 0x04;
        if (n < 128) { hdr[1] = (uint8_t)n; h = 2; }
        else if (n < 256) { hdr[1] = 0x81; hdr[2] = (uint8_t)n; h = 3; }
        else { hdr[1] = 0x82; hdr[2] = (uint8_t)(n >> 8); hdr[3] = (uint8_t)n; h = 4; }
        if ((error = ch_buf_put(&body, alg, sizeof alg)) < 0 || (error = ch_buf_put(&body, hdr, h)) < 0 ||
            (error = ch_buf_put(&body, octets.data, octets.len)) < 0)
            goto done;
        n = body.len;
        hdr[0] = 0x30;
        if (n < 128) { hdr[1] = (uint8_t)n; h = 2; }
        else if (n < 256) { hdr[1] = 0x81; hdr[2] = (uint8_t)n; h = 3; }
        else { hdr[1] = 0x82; hdr[2] = (uint8_t)(n >> 8); hdr[3] = (uint8_t)n; h = 4; }
        if ((error = ch_buf_put(out, hdr, h)) < 0 || (error = ch_buf_put(out, body.data, body.len)) < 0)
            goto done;
    }
done:
    if (stream)
        ch_secure_free(stream, p8.len);
    ch_wipe(check, sizeof check);
    ch_buf_dispose_secure(&p8);
    ch_buf_dispose_secure(&pw);
    ch_buf_dispose_secure(&octets);
    ch_buf_dispose_secure(&body);
    return error;
}

int fmt_export_jks(ch_buf *out, const ch_keystore *ks, const char *password, const char *key_password)
{
    ch_buf b = CH_BUF_INIT;
    uint8_t md[20];
    uint64_t now = (uint64_t)ch_now() * 1000u;
    int error;

    size_t n = 0;

    /* A trusted entry holds one certificate: a keyless entry's chain is one entry each. */
    for (size_t e = 0; e < ks->count; e++)
        n += ks->entries[e].key ? 1 : ks->entries[e].chain_len;
    if ((error = put_u32(&b, JKS_MAGIC)) < 0 || (error = put_u32(&b, 2)) < 0 || (error = put_u32(&b, (uint32_t)n)) < 0)
        goto done;
    for (size_t e = 0; e < ks->count && error == 0; e++) {
        const ch_ks_entry *en = &ks->entries[e];
        for (size_t c = 0; c < (en->key ? 1 : en->chain_len) && error == 0; c++) {
            char alias[CH_MAX_NAME_LEN + 24], *lower;
            fmt_trusted_alias(ks, e, c, alias, sizeof alias);
            /* JKS aliases are case-insensitive; keytool stores them in lower case, Java's (an
             * "Ä" kept was an entry keytool could not name). */
            if ((lower = ch_alias_lower(alias)) == NULL) {
                error = ch_error_set(CH_ENOMEM, "out of memory");
                break;
            }
            if ((error = put_u32(&b, en->key ? 1 : 2)) < 0 || (error = put_utf(&b, lower)) < 0 ||
                (error = put_u64(&b, now)) < 0) {
                free(lower);
                break;
            }
            free(lower);
            if (!en->key)
                error = put_cert(&b, en->chain[c]);
        }
        if (error == 0 && en->key) {
            ch_buf prot = CH_BUF_INIT;
            if ((error = protect_key(&prot, en->key, key_password ? key_password : password)) == 0 &&
                (error = put_u32(&b, (uint32_t)prot.len)) == 0)
                error = ch_buf_put(&b, prot.data, prot.len);
            ch_buf_dispose(&prot);
            if (error == 0)
                error = put_u32(&b, (uint32_t)en->chain_len);
            for (size_t c = 0; c < en->chain_len && error == 0; c++)
                error = put_cert(&b, en->chain[c]);
        }
    }
    if (error == 0 && (error = store_digest(md, password, b.data, b.len)) == 0 &&
        (error = ch_buf_put(&b, md, sizeof md)) == 0)
        error = ch_buf_put(out, b.data, b.len);
done:
    ch_buf_dispose(&b);
    return error;
}
