/*
 * Certificate signing requests (PKCS#10, RFC 2986): create with a key, parse once, verify the
 * self-signature.  Like certificates, a parsed CSR keeps its DER and SubjectPublicKeyInfo so
 * issuing does not re-encode anything.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certhub/x509.h"
#include "x509/x509_internal.h"

struct ch_csr {
    X509_REQ *req;
    uint8_t *der;
    size_t der_len;
    uint8_t *spki;
    size_t spki_len;
};

#define NOT_A_CSR "not a certificate signing request: expected PEM \"CERTIFICATE REQUEST\" or DER PKCS#10"

/* Takes ownership of req. */
static int csr_wrap(ch_csr **out, X509_REQ *req)
{
    ch_csr *c;
    unsigned char *der = NULL, *spki = NULL;
    int len, slen;

    *out = NULL;
    if ((c = calloc(1, sizeof *c)) == NULL) {
        X509_REQ_free(req);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    c->req = req;
    if ((len = i2d_X509_REQ(req, &der)) <= 0 ||
        (slen = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &spki)) <= 0) {
        OPENSSL_free(der);
        ch_csr_free(c);
        return ch_error_ossl(CH_EPARSE, "i2d_X509_REQ", "encoding the CSR");
    }
    c->der = der;
    c->der_len = (size_t)len;
    c->spki = spki;
    c->spki_len = (size_t)slen;
    *out = c;
    return 0;
}

static int add_sans_ext(STACK_OF(X509_EXTENSION) *exts, const ch_san *sans, size_t n)
{
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    X509_EXTENSION *ext = NULL;
    int error = 0;

    if (names == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        GENERAL_NAME *gn = GENERAL_NAME_new();
        if (gn == NULL)
            goto nomem;
        if (sans[i].type == CH_SAN_IP) {
            ASN1_OCTET_STRING *ip = a2i_IPADDRESS(sans[i].value);
            if (ip == NULL) {
                GENERAL_NAME_free(gn);
                ERR_clear_error();
                error = ch_error_set_field(CH_EINVAL, "sans", "\"%.64s\" is not an IP address", sans[i].value);
                goto done;
            }
            GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
        } else {
            ASN1_IA5STRING *s = ASN1_IA5STRING_new();
            int type = sans[i].type == CH_SAN_DNS ? GEN_DNS : sans[i].type == CH_SAN_EMAIL ? GEN_EMAIL : GEN_URI;
            if (s == NULL || ASN1_STRING_set(s, sans[i].value, (int)strlen(sans[i].value)) != 1) {
                ASN1_IA5STRING_free(s);
                GENERAL_NAME_free(gn);
                goto nomem;
            }
            GENERAL_NAME_set0_value(gn, type, s);
        }
        if (sk_GENERAL_NAME_push(names, gn) <= 0) {
            GENERAL_NAME_free(gn);
            goto nomem;
        }
    }
    if ((ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names)) == NULL || sk_X509_EXTENSION_push(exts, ext) <= 0) {
        X509_EXTENSION_free(ext);
        goto nomem;
    }
    goto done;
nomem:
    error = ch_error_set(CH_ENOMEM, "out of memory");
done:
    GENERAL_NAMES_free(names);
    return error;
}

int ch_csr_create(ch_csr **out, const ch_key *key, const ch_csr_opts *opts)
{
    X509_REQ *req = NULL;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    const EVP_MD *md = opts->digest;
    int error = 0;

    *out = NULL;
    if (key == NULL || !ch_key_has_private(key))
        return ch_error_set_field(CH_EINVAL, "key", "a private key is needed to sign the CSR");
    if (opts->subject == NULL || X509_NAME_entry_count(opts->subject) == 0)
        return ch_error_set_field(CH_EINVAL, "subject", "the subject is empty: give at least a common name");
    if (opts->san_count > CH_MAX_SANS)
        return ch_error_set_field(CH_EINVAL, "sans", "more than %u subject alternative names", CH_MAX_SANS);
    if ((req = X509_REQ_new()) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    if (X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 || X509_REQ_set_subject_name(req, opts->subject) != 1 ||
        X509_REQ_set_pubkey(req, ch_key_pkey(key)) != 1) {
        error = ch_error_ossl(CH_ECRYPTO, "X509_REQ_set_pubkey", "building the CSR");
        goto done;
    }
    if (opts->san_count > 0) {
        if ((exts = sk_X509_EXTENSION_new_null()) == NULL) {
            error = ch_error_set(CH_ENOMEM, "out of memory");
            goto done;
        }
        if ((error = add_sans_ext(exts, opts->sans, opts->san_count)) < 0)
            goto done;
        if (X509_REQ_add_extensions(req, exts) != 1) {
            error = ch_error_ossl(CH_ECRYPTO, "X509_REQ_add_extensions", "building the CSR");
            goto done;
        }
    }
    if (ch_key_get_type(key) == CH_KEY_ED25519)
        md = NULL;
    else if (md == NULL && (error = ch_digest_parse(&md, "sha256")) < 0)
        goto done;
    if (X509_REQ_sign(req, ch_key_pkey(key), md) <= 0) {
        error = ch_error_ossl(CH_ECRYPTO, "X509_REQ_sign", "signing the CSR");
        goto done;
    }
    error = csr_wrap(out, req);
    req = NULL;
done:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    return error;
}

static int csr_from_der(ch_csr **out, const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);

    if (req == NULL) {
        ERR_clear_error();
        return ch_error_set(CH_EPARSE, NOT_A_CSR);
    }
    if (p != der + len) {
        X509_REQ_free(req);
        return ch_error_set(CH_EPARSE, "%zu unexpected bytes after the end of the DER CSR", (size_t)(der + len - p));
    }
    return csr_wrap(out, req);
}

int ch_csr_parse(ch_csr **out, const uint8_t *data, size_t len)
{
    BIO *bio;
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long dlen = 0;
    size_t blocks = 0;
    int error = 1;

    *out = NULL;
    if (data == NULL || len == 0)
        return ch_error_set(CH_EPARSE, NOT_A_CSR ": the input is empty");
    if (len > CH_MAX_UPLOAD_BYTES)
        return ch_error_set(CH_ETOOBIG, "CSR is larger than the limit of %u bytes", CH_MAX_UPLOAD_BYTES);
    if (data[0] == 0x30)
        return csr_from_der(out, data, len);
    if (!x509_looks_pem(data, len))
        return ch_error_set(CH_EPARSE, NOT_A_CSR);
    if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    while (error > 0 && PEM_read_bio(bio, &name, &header, &der, &dlen) == 1) {
        if (++blocks > CH_MAX_PEM_OBJECTS)
            error = ch_error_set(CH_ETOOBIG, "more than %u PEM blocks in one input", CH_MAX_PEM_OBJECTS);
        else if (strcmp(name, "CERTIFICATE REQUEST") == 0 || strcmp(name, "NEW CERTIFICATE REQUEST") == 0)
            error = csr_from_der(out, der, (size_t)dlen);
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(der);
        name = header = NULL;
        der = NULL;
    }
    ERR_clear_error();
    BIO_free(bio);
    if (error > 0)
        return ch_error_set(CH_EPARSE, NOT_A_CSR ": no \"BEGIN CERTIFICATE REQUEST\" block found");
    return error;
}

int ch_csr_verify(const ch_csr *csr)
{
    EVP_PKEY *pkey = X509_REQ_get0_pubkey(csr->req);
    int r = pkey != NULL ? X509_REQ_verify(csr->req, pkey) : -1;

    ERR_clear_error();
    if (r != 1)
        return ch_error_set_field(CH_EVERIFY, "csr", "CSR signature does not verify");
    return 0;
}

X509_REQ *ch_csr_req(const ch_csr *csr)
{
    return csr->req;
}

const uint8_t *ch_csr_spki_der(const ch_csr *csr, size_t *len)
{
    if (len)
        *len = csr->spki_len;
    return csr->spki;
}

int ch_csr_public_key(ch_key **out, const ch_csr *csr)
{
    EVP_PKEY *pkey = X509_REQ_get0_pubkey(csr->req);

    *out = NULL;
    if (pkey == NULL) {
        ERR_clear_error();
        return ch_error_set(CH_EUNSUPPORTED, "the CSR's public key cannot be read");
    }
    return ch_key_from_pkey(out, pkey);
}

int ch_csr_write_pem(ch_buf *out, const ch_csr *csr)
{
    return x509_pem_block(out, "CERTIFICATE REQUEST", csr->der, csr->der_len, "writing the CSR");
}

void ch_csr_free(ch_csr *csr)
{
    if (csr == NULL)
        return;
    X509_REQ_free(csr->req);
    OPENSSL_free(csr->der);
    OPENSSL_free(csr->spki);
    free(csr);
}
