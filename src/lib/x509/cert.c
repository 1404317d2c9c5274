/*
 * Certificates: parse once, keep the DER and its SHA-256, hand out references.  The SHA-256
 * of the DER is how the store and the device cache recognise a certificate without parsing
 * it again.
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certhub/x509.h"
#include "x509/x509_internal.h"

/* A certificate this process just signed is kept as its DER and what issuing already knew
 * of it (`issued`: validity, serial, names as text), which is all that storing it needs:
 * decoding it again would cost more than building it, under a global lock in OpenSSL 3.0.
 * The first caller that needs more decodes the DER, once: x509_cert_obj() the object to read
 * (`view`, below), ch_cert_x509() the full one. */
struct ch_cert {
    atomic_int refs;
    _Atomic(X509 *) x509;  /* full object (NULL until needed) */
    _Atomic(X509 *) view;  /* decoded for reading (NULL until needed, or when x509 was given) */
    struct x509_issued *issued;
    pthread_mutex_t lock;
    uint8_t *der;
    size_t der_len;
    uint8_t sha256[32];
};

#define NOT_A_CERT "not an X.509 certificate in PEM or DER format"

/* Takes ownership of x509, view and der (malloc'd), also on failure. */
static int cert_wrap(ch_cert **out, X509 *x509, X509 *view, uint8_t *der, size_t der_len)
{
    ch_cert *c;

    *out = NULL;
    if ((c = calloc(1, sizeof *c)) == NULL) {
        X509_free(x509);
        X509_free(view);
        free(der);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    atomic_init(&c->refs, 1);
    atomic_init(&c->x509, x509);
    atomic_init(&c->view, view);
    pthread_mutex_init(&c->lock, NULL);
    c->der = der;
    c->der_len = der_len;
    if (EVP_Digest(der, der_len, c->sha256, NULL, x509_sha256(), NULL) != 1) {
        ch_cert_free(c);
        return ch_error_ossl(CH_ECRYPTO, "EVP_Digest", "hashing the certificate");
    }
    *out = c;
    return 0;
}

const struct x509_issued *x509_cert_issued(const ch_cert *cert)
{
    return cert->issued;
}

X509 *x509_cert_obj(const ch_cert *cert)
{
    ch_cert *c = (ch_cert *)cert;
    X509 *x = atomic_load(&c->x509);
    const uint8_t *end;

    if (x != NULL || (x = atomic_load(&c->view)) != NULL)
        return x;
    pthread_mutex_lock(&c->lock);
    if ((x = atomic_load(&c->view)) == NULL) {
        x = x509_view_decode(c->der, c->der_len, &end);
        atomic_store(&c->view, x);
    }
    pthread_mutex_unlock(&c->lock);
    return x != NULL ? x : ch_cert_x509(cert);
}

void x509_issued_free(struct x509_issued *m)
{
    if (m == NULL)
        return;
    free(m->subject);
    free(m->issuer);
    free(m->common_name);
    free(m->sans);
    free(m);
}

int x509_cert_from_issued(ch_cert **out, uint8_t *der, size_t len, struct x509_issued *issued)
{
    int error;

    if ((error = cert_wrap(out, NULL, NULL, der, len)) < 0) {
        x509_issued_free(issued);
        return error;
    }
    (*out)->issued = issued;
    return 0;
}

/* One DER certificate that must fill the input exactly. */
static int cert_from_der(ch_cert **out, const uint8_t *der, size_t len)
{
    const uint8_t *p;
    X509 *x;
    uint8_t *copy;

    *out = NULL;
    if (len > CH_MAX_UPLOAD_BYTES)
        return ch_error_set(CH_ETOOBIG, "certificate is larger than the limit of %u bytes",
                            CH_MAX_UPLOAD_BYTES);
    /* Decoded for reading: the template is X509's own, so what it refuses is what d2i_X509
     * refuses (the public key is not decoded by either: d2i_X509 only tries). */
    if ((x = x509_view_decode(der, len, &p)) == NULL)
        return ch_error_set(CH_EPARSE, NOT_A_CERT);
    if (p != der + len) {
        X509_free(x);
        return ch_error_set(CH_EPARSE, "%zu unexpected bytes after the end of the DER certificate",
                            (size_t)(der + len - p));
    }
    if ((copy = malloc(len ? len : 1)) == NULL) {
        X509_free(x);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    memcpy(copy, der, len);
    return cert_wrap(out, NULL, x, copy, len);
}

static bool is_cert_pem_name(const char *name)
{
    return strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "X509 CERTIFICATE") == 0 ||
           strcmp(name, "TRUSTED CERTIFICATE") == 0;
}

/* A "TRUSTED CERTIFICATE" block is the certificate followed by OpenSSL's trust settings;
 * keep only the certificate's own DER. */
static size_t cert_der_prefix(const uint8_t *der, size_t len)
{
    const uint8_t *p;
    X509 *x = x509_view_decode(der, len, &p);
    size_t n = x ? (size_t)(p - der) : len;

    X509_free(x);
    return n;
}

/* Calls fn for every certificate block of a PEM input, in order; stops at fn's error. */
static int pem_each_cert(const uint8_t *data, size_t len, int (*fn)(void *, const uint8_t *, size_t),
                         void *arg, size_t *blocks, bool whole)
{
    BIO *bio;
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long dlen = 0;
    size_t seen = 0;
    int error = 0;

    *blocks = 0;
    if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    while (PEM_read_bio(bio, &name, &header, &der, &dlen) == 1) {
        if (++seen > CH_MAX_PEM_OBJECTS) {
            error = ch_error_set(CH_ETOOBIG, "more than %u PEM blocks in one input", CH_MAX_PEM_OBJECTS);
        } else if (is_cert_pem_name(name)) {
            size_t n = (size_t)dlen;
            if (strcmp(name, "TRUSTED CERTIFICATE") == 0)
                n = cert_der_prefix(der, n);
            (*blocks)++;
            error = fn(arg, der, n);
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(der);
        name = header = NULL;
        der = NULL;
        if (error < 0)
            break;
    }
    /* The loop ends at "no more PEM"; anything else is a block cut off or damaged.  Where every
     * certificate is read (a bundle, a chain), those after it would be dropped without a word. */
    if (error == 0 && whole) {
        unsigned long e = ERR_peek_last_error();
        if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE))
            error = ch_error_set(CH_EPARSE, "the PEM data is truncated or damaged after block %zu (its base64, or its "
                                            "BEGIN and END lines): nothing was taken", seen);
    }
    ERR_clear_error();
    BIO_free(bio);
    return error;
}

struct first_ctx {
    ch_cert *cert;
};

static int take_first(void *arg, const uint8_t *der, size_t len)
{
    struct first_ctx *f = arg;
    int error;

    if (f->cert != NULL)
        return 0;
    if ((error = cert_from_der(&f->cert, der, len)) < 0)
        ch_error_set(error, "the CERTIFICATE block does not hold a valid X.509 certificate");
    return error;
}

const char *x509_pem_instead(const uint8_t *data, size_t len)
{
    /* (the blocks people take for a certificate, by their labels) */
    static const char *const said[][2] = {
        {"-----BEGIN CERTIFICATE REQUEST-----",
         "a certificate signing request (CSR), not a certificate: a CA signs it into one (certhub cert issue --csr)"},
        {"-----BEGIN NEW CERTIFICATE REQUEST-----",
         "a certificate signing request (CSR), not a certificate: a CA signs it into one (certhub cert issue --csr)"},
        {"PRIVATE KEY-----", "a private key alone: give the certificate, the key beside it"},
        {"-----BEGIN PUBLIC KEY-----", "a public key alone, not a certificate"},
        {"-----BEGIN X509 CRL-----", "a certificate revocation list (CRL), not a certificate"},
    };

    for (size_t i = 0; i < sizeof said / sizeof said[0]; i++)
        if (ch_mem_find(data, data + len, said[i][0], strlen(said[i][0])) != NULL)
            return said[i][1];
    return NULL;
}

/* PEM without a certificate: said with what it holds instead where that is known. */
static int not_a_cert_pem(const uint8_t *data, size_t len)
{
    const char *instead = x509_pem_instead(data, len);

    if (instead != NULL)
        return ch_error_set(CH_EPARSE, NOT_A_CERT ": it holds %s", instead);
    return ch_error_set(CH_EPARSE, NOT_A_CERT ": no \"BEGIN CERTIFICATE\" block found");
}

int ch_cert_parse(ch_cert **out, const uint8_t *data, size_t len)
{
    struct first_ctx f = {NULL};
    size_t blocks;
    int error;

    *out = NULL;
    if (data == NULL || len == 0)
        return ch_error_set(CH_EPARSE, NOT_A_CERT ": the input is empty");
    if (len > CH_MAX_UPLOAD_BYTES)
        return ch_error_set(CH_ETOOBIG, "certificate is larger than the limit of %u bytes",
                            CH_MAX_UPLOAD_BYTES);
    if (data[0] == 0x30)
        return cert_from_der(out, data, len);
    if (!x509_looks_pem(data, len))
        return ch_error_set(CH_EPARSE, NOT_A_CERT);
    if ((error = pem_each_cert(data, len, take_first, &f, &blocks, false)) < 0) {
        ch_cert_free(f.cert);
        return error;
    }
    if (f.cert == NULL)
        return not_a_cert_pem(data, len);
    *out = f.cert;
    return 0;
}

struct all_ctx {
    ch_cert **list;
    size_t count;
};

static int take_all(void *arg, const uint8_t *der, size_t len)
{
    struct all_ctx *a = arg;
    ch_cert *c, **grown;
    int error;

    if ((error = cert_from_der(&c, der, len)) < 0) {
        ch_error_set(error, "certificate %zu of the bundle is not a valid X.509 certificate", a->count + 1);
        return error;
    }
    if ((grown = realloc(a->list, (a->count + 1) * sizeof *grown)) == NULL) {
        ch_cert_free(c);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    a->list = grown;
    a->list[a->count++] = c;
    return 0;
}

int ch_cert_parse_all(ch_cert ***out, size_t *count, const uint8_t *data, size_t len)
{
    struct all_ctx a = {NULL, 0};
    size_t blocks;
    int error;

    *out = NULL;
    *count = 0;
    if (data == NULL || len == 0)
        return ch_error_set(CH_EPARSE, NOT_A_CERT ": the input is empty");
    if (len > CH_MAX_UPLOAD_BYTES)
        return ch_error_set(CH_ETOOBIG, "input is larger than the limit of %u bytes", CH_MAX_UPLOAD_BYTES);
    if (data[0] == 0x30) {
        ch_cert *c;
        if ((error = cert_from_der(&c, data, len)) < 0)
            return error;
        if ((a.list = malloc(sizeof *a.list)) == NULL) {
            ch_cert_free(c);
            return ch_error_set(CH_ENOMEM, "out of memory");
        }
        a.list[0] = c;
        *out = a.list;
        *count = 1;
        return 0;
    }
    if (!x509_looks_pem(data, len))
        return ch_error_set(CH_EPARSE, NOT_A_CERT);
    if ((error = pem_each_cert(data, len, take_all, &a, &blocks, true)) < 0) {
        ch_cert_list_free(a.list, a.count);
        return error;
    }
    if (a.count == 0) {
        free(a.list);
        return not_a_cert_pem(data, len);
    }
    *out = a.list;
    *count = a.count;
    return 0;
}

void ch_cert_list_free(ch_cert **list, size_t count)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        ch_cert_free(list[i]);
    free(list);
}

int ch_cert_from_x509(ch_cert **out, X509 *x509)
{
    unsigned char *der = NULL;
    uint8_t *copy;
    int len;

    *out = NULL;
    if (x509 == NULL)
        return ch_error_set(CH_EINVAL, "no certificate given");
    if ((len = i2d_X509(x509, &der)) <= 0)
        return ch_error_ossl(CH_ECRYPTO, "i2d_X509", "encoding the certificate");
    copy = malloc((size_t)len);
    if (copy == NULL) {
        OPENSSL_free(der);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    memcpy(copy, der, (size_t)len);
    OPENSSL_free(der);
    if (X509_up_ref(x509) != 1) {
        free(copy);
        return ch_error_ossl(CH_ECRYPTO, "X509_up_ref", "taking a certificate");
    }
    return cert_wrap(out, x509, NULL, copy, (size_t)len);
}

X509 *ch_cert_x509(const ch_cert *cert)
{
    ch_cert *c = (ch_cert *)cert;
    X509 *x = atomic_load(&c->x509);
    const unsigned char *p;

    if (x != NULL)
        return x;
    pthread_mutex_lock(&c->lock);
    if ((x = atomic_load(&c->x509)) == NULL) {
        p = c->der;
        x = d2i_X509(NULL, &p, (long)c->der_len); /* our own DER always decodes */
        ERR_clear_error();
        atomic_store(&c->x509, x);
    }
    pthread_mutex_unlock(&c->lock);
    return x;
}

const uint8_t *ch_cert_der(const ch_cert *cert, size_t *len)
{
    if (len)
        *len = cert->der_len;
    return cert->der;
}

const uint8_t *ch_cert_sha256(const ch_cert *cert)
{
    return cert->sha256;
}

int ch_cert_write_pem(ch_buf *out, const ch_cert *cert)
{
    /* PEM of the DER we hold: the certificate is never re-encoded. */
    return x509_pem_block(out, "CERTIFICATE", cert->der, cert->der_len, "writing the certificate");
}

ch_cert *ch_cert_dup(const ch_cert *cert)
{
    ch_cert *c = (ch_cert *)cert;

    if (c != NULL)
        atomic_fetch_add(&c->refs, 1);
    return c;
}

void ch_cert_free(ch_cert *cert)
{
    if (cert == NULL || atomic_fetch_sub(&cert->refs, 1) != 1)
        return;
    X509_free(atomic_load(&cert->x509));
    X509_free(atomic_load(&cert->view));
    x509_issued_free(cert->issued);
    pthread_mutex_destroy(&cert->lock);
    free(cert->der);
    free(cert);
}

int ch_cert_public_key(ch_key **out, const ch_cert *cert)
{
    /* Read from the SubjectPublicKeyInfo's bytes: EC keys on the NIST curves without
     * OpenSSL's decoders, others with them. */
    unsigned char *spki = NULL;
    int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x509_cert_obj(cert)), &spki);
    int error = len > 0 ? ch_key_parse_public(out, spki, (size_t)len) : -1;

    OPENSSL_free(spki);
    ERR_clear_error();
    if (error < 0) {
        *out = NULL;
        return ch_error_set(CH_EUNSUPPORTED, "the certificate's public key cannot be read");
    }
    return 0;
}

bool ch_cert_matches_key(const ch_cert *cert, const ch_key *key)
{
    /* Compare the SubjectPublicKeyInfo fields as bytes: no key is decoded. */
    ASN1_OBJECT *a_obj, *b_obj;
    const unsigned char *a_pk, *b_pk;
    int a_len, b_len;
    X509_ALGOR *a_alg, *b_alg;

    if (key == NULL ||
        X509_PUBKEY_get0_param(&a_obj, &a_pk, &a_len, &a_alg, X509_get_X509_PUBKEY(x509_cert_obj(cert))) != 1 ||
        X509_PUBKEY_get0_param(&b_obj, &b_pk, &b_len, &b_alg, x509_key_xpub(key)) != 1) {
        ERR_clear_error();
        return false;
    }
    return OBJ_cmp(a_obj, b_obj) == 0 && a_len == b_len && memcmp(a_pk, b_pk, (size_t)a_len) == 0 &&
           X509_ALGOR_cmp(a_alg, b_alg) == 0;
}

bool ch_cert_is_ca(const ch_cert *cert)
{
    if (cert->issued != NULL)
        return cert->issued->is_ca;
    /* RFC 5280 4.2.1.9: only BasicConstraints cA=TRUE makes a CA (no v1 exceptions). */
    return (X509_get_extension_flags(x509_cert_obj(cert)) & EXFLAG_CA) != 0;
}

bool ch_cert_is_self_signed(const ch_cert *cert)
{
    /* The full object (whose key is decoded) only for a certificate whose subject and issuer
     * names are the same: the rest are not self-signed. */
    int r = (X509_get_extension_flags(x509_cert_obj(cert)) & EXFLAG_SI) ? X509_self_signed(ch_cert_x509(cert), 1) : 0;

    ERR_clear_error();
    return r == 1;
}

int64_t ch_cert_not_before(const ch_cert *cert)
{
    int64_t t = 0;

    if (cert->issued != NULL)
        return cert->issued->not_before;
    (void)x509_time_to_epoch(&t, X509_get0_notBefore(x509_cert_obj(cert)));
    return t;
}

int64_t ch_cert_not_after(const ch_cert *cert)
{
    int64_t t = 0;

    if (cert->issued != NULL)
        return cert->issued->not_after;
    (void)x509_time_to_epoch(&t, X509_get0_notAfter(x509_cert_obj(cert)));
    return t;
}

void ch_cert_serial_hex(char out[41], const ch_cert *cert)
{
    const ASN1_INTEGER *sn;
    int len;

    if (cert->issued != NULL) {
        ch_hex(out, cert->issued->serial, cert->issued->serial_len);
        return;
    }
    sn = X509_get0_serialNumber(x509_cert_obj(cert));
    len = ASN1_STRING_length(sn);

    if (len > 20)
        len = 20;
    ch_hex(out, ASN1_STRING_get0_data(sn), len > 0 ? (size_t)len : 0);
}

static int issued_text(char **out, const char *text)
{
    if ((*out = strdup(text)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    return 0;
}

int ch_cert_subject_string(char **out, const ch_cert *cert)
{
    if (cert->issued != NULL)
        return issued_text(out, cert->issued->subject);
    return ch_name_to_string(out, X509_get_subject_name(x509_cert_obj(cert)));
}

int ch_cert_issuer_string(char **out, const ch_cert *cert)
{
    if (cert->issued != NULL)
        return issued_text(out, cert->issued->issuer);
    return ch_name_to_string(out, X509_get_issuer_name(x509_cert_obj(cert)));
}

int ch_cert_subject_get(char **out, const ch_cert *cert, int nid)
{
    if (cert->issued != NULL && nid == NID_commonName) {
        if (cert->issued->common_name == NULL) {
            *out = NULL;
            return ch_error_set(CH_ENOTFOUND, "the name has no CN");
        }
        return issued_text(out, cert->issued->common_name);
    }
    return ch_name_get(out, X509_get_subject_name(x509_cert_obj(cert)), nid);
}
