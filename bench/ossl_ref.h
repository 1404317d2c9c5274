/*
 * OpenSSL-alone reference for the issuing benchmarks: the same leaf certificate (subject,
 * SANs, BC, KU, EKU, SKI, AKI, 16-byte serial) built, signed and PEM-encoded with OpenSSL
 * directly, nothing stored.  Three inputs, as the service benchmark has: a public key given
 * as SubjectPublicKeyInfo DER, a key generated per certificate, a PEM CSR parsed and
 * verified per certificate.  Written the fast way (SPKI copied, algorithms fetched once), so
 * the service is compared against the best OpenSSL alone can do.
 */
#ifndef CERTHUB_BENCH_OSSL_REF_H
#define CERTHUB_BENCH_OSSL_REF_H

#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct ossl_ca {
    EVP_PKEY *key;
    X509 *cert;
    const EVP_MD *md; /* NULL for Ed25519 */
};

static inline EVP_PKEY *ossl_keygen(const char *type)
{
    if (strcmp(type, "rsa2048") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static inline int ossl_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok = e != NULL && X509_add_ext(x, e, -1) == 1;

    X509_EXTENSION_free(e);
    return ok ? 0 : -1;
}

/* A self-signed CA of the given key type ("p256" or "rsa2048"), valid 10 years. */
static inline int ossl_ca_make(struct ossl_ca *ca, const char *type)
{
    X509_NAME *n;
    X509V3_CTX v3;

    ca->md = EVP_sha256();
    if ((ca->key = ossl_keygen(type)) == NULL || (ca->cert = X509_new()) == NULL)
        return -1;
    X509_set_version(ca->cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(ca->cert), 1);
    n = X509_get_subject_name(ca->cert);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"bench CA", -1, -1, 0);
    X509_set_issuer_name(ca->cert, n);
    X509_gmtime_adj(X509_getm_notBefore(ca->cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(ca->cert), 3650L * 86400);
    X509_set_pubkey(ca->cert, ca->key);
    X509V3_set_ctx(&v3, ca->cert, ca->cert, NULL, NULL, 0);
    if (ossl_add_ext(ca->cert, &v3, NID_basic_constraints, "critical,CA:TRUE") ||
        ossl_add_ext(ca->cert, &v3, NID_key_usage, "critical,keyCertSign,cRLSign") ||
        ossl_add_ext(ca->cert, &v3, NID_subject_key_identifier, "hash"))
        return -1;
    return X509_sign(ca->cert, ca->key, ca->md) > 0 ? 0 : -1;
}

static inline void ossl_ca_free(struct ossl_ca *ca)
{
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
}

/* Per-thread state of the reference. */
struct ossl_ref {
    struct ossl_ca *ca;
    const char *pub_pem;       /* a leaf public key as PEM */
    const char *csr_pem;       /* a PEM CSR */
    EVP_MD_CTX *mctx;
    unsigned long n;
};

/* Copies a SubjectPublicKeyInfo into the certificate field by field (algorithm, parameters,
 * key bytes): OpenSSL 3.0 decodes keys under a global lock, and this never decodes one. */
static inline int ossl_copy_spki(X509 *x, const X509_PUBKEY *src)
{
    ASN1_OBJECT *obj;
    const unsigned char *pk;
    int pklen, ptype;
    const void *pval;
    X509_ALGOR *alg;
    unsigned char *key = NULL;
    void *param = NULL;

    if (X509_PUBKEY_get0_param(&obj, &pk, &pklen, &alg, src) != 1)
        return -1;
    X509_ALGOR_get0(NULL, &ptype, &pval, alg);
    if (ptype == V_ASN1_OBJECT)
        param = OBJ_dup(pval);
    else if (ptype == V_ASN1_SEQUENCE)
        param = ASN1_STRING_dup(pval);
    else
        ptype = ptype == V_ASN1_NULL ? V_ASN1_NULL : V_ASN1_UNDEF;
    if ((key = OPENSSL_memdup(pk, (size_t)pklen)) == NULL)
        return -1;
    if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), OBJ_dup(obj), ptype, param, key, pklen) != 1) {
        OPENSSL_free(key);
        return -1;
    }
    return 0;
}

static inline int ossl_build_leaf(struct ossl_ref *r, const X509_PUBKEY *spki, X509_NAME *subject)
{
    X509 *x = X509_new();
    unsigned char serial[16];
    ASN1_INTEGER *sn = NULL;
    BIGNUM *bn = NULL;
    X509V3_CTX v3;
    BIO *bio = NULL;
    int rc = -1;

    if (x == NULL || RAND_bytes(serial, sizeof serial) != 1)
        goto out;
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    sn = BN_to_ASN1_INTEGER(bn, NULL);
    X509_set_version(x, 2);
    X509_set_serialNumber(x, sn);
    X509_set_issuer_name(x, X509_get_subject_name(r->ca->cert));
    X509_set_subject_name(x, subject);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
    if (ossl_copy_spki(x, spki) != 0)
        goto out;
    X509V3_set_ctx(&v3, r->ca->cert, x, NULL, NULL, 0);
    if (ossl_add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") ||
        ossl_add_ext(x, &v3, NID_key_usage, "critical,digitalSignature") ||
        ossl_add_ext(x, &v3, NID_ext_key_usage, "serverAuth") ||
        ossl_add_ext(x, &v3, NID_subject_alt_name, "DNS:host.example") ||
        ossl_add_ext(x, &v3, NID_subject_key_identifier, "hash") ||
        ossl_add_ext(x, &v3, NID_authority_key_identifier, "keyid:always"))
        goto out;
    if (EVP_DigestSignInit(r->mctx, NULL, r->ca->md, NULL, r->ca->key) != 1 ||
        X509_sign_ctx(x, r->mctx) <= 0)
        goto out;
    if ((bio = BIO_new(BIO_s_mem())) == NULL || PEM_write_bio_X509(bio, x) != 1)
        goto out;
    r->n++;
    rc = 0;
out:
    BIO_free(bio);
    ASN1_INTEGER_free(sn);
    BN_free(bn);
    X509_free(x);
    return rc;
}

static inline X509_NAME *ossl_leaf_name(unsigned long n)
{
    X509_NAME *name = X509_NAME_new();
    char cn[64];

    snprintf(cn, sizeof cn, "device-%lu", n);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"Bench", -1, -1, 0);
    return name;
}

/* Public key supplied as PEM, parsed per certificate (as a request carries it). */
static inline int ossl_op_pubkey(void *arg)
{
    struct ossl_ref *r = arg;
    BIO *bio = BIO_new_mem_buf(r->pub_pem, -1);
    X509_PUBKEY *pk = bio ? PEM_read_bio_X509_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    X509_NAME *name = ossl_leaf_name(r->n);
    int rc = pk ? ossl_build_leaf(r, pk, name) : -1;

    X509_NAME_free(name);
    X509_PUBKEY_free(pk);
    BIO_free(bio);
    return rc;
}

/* A P-256 key generated per certificate and PKCS#8-encoded (as a store needs it); its public
 * point is read as an octet string, so no encoder runs for the certificate's key. */
static inline int ossl_op_genkey(void *arg)
{
    struct ossl_ref *r = arg;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    unsigned char point[133], *p8 = NULL;
    size_t plen;
    X509_NAME *name = ossl_leaf_name(r->n);
    X509_PUBKEY *pk = X509_PUBKEY_new();
    int p8len = 0, rc = -1;

    if (k == NULL || pk == NULL ||
        EVP_PKEY_get_octet_string_param(k, "encoded-pub-key", point, sizeof point, &plen) != 1)
        goto out;
    if ((p8len = i2d_PrivateKey(k, &p8)) <= 0)
        goto out;
    if (X509_PUBKEY_set0_param(pk, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
                               OBJ_nid2obj(NID_X9_62_prime256v1), OPENSSL_memdup(point, plen),
                               (int)plen) != 1)
        goto out;
    rc = ossl_build_leaf(r, pk, name);
out:
    OPENSSL_clear_free(p8, p8len > 0 ? (size_t)p8len : 0);
    X509_PUBKEY_free(pk);
    X509_NAME_free(name);
    EVP_PKEY_free(k);
    return rc;
}

/* A PEM CSR parsed and its signature verified per certificate. */
static inline int ossl_op_csr(void *arg)
{
    struct ossl_ref *r = arg;
    BIO *bio = BIO_new_mem_buf(r->csr_pem, -1);
    X509_REQ *req = bio ? PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key;
    int rc = -1;

    if (req == NULL || (key = X509_REQ_get0_pubkey(req)) == NULL || X509_REQ_verify(req, key) != 1)
        goto out;
    rc = ossl_build_leaf(r, X509_REQ_get_X509_PUBKEY(req), X509_REQ_get_subject_name(req));
out:
    X509_REQ_free(req);
    BIO_free(bio);
    return rc;
}

/* Raw signature of a 32-byte digest with the CA key. */
static inline int ossl_op_raw_sign(void *arg)
{
    struct ossl_ref *r = arg;
    unsigned char tbs[32] = {1}, sig[512];
    size_t siglen = sizeof sig;

    if (EVP_DigestSignInit(r->mctx, NULL, r->ca->md, NULL, r->ca->key) != 1 ||
        EVP_DigestSign(r->mctx, sig, &siglen, tbs, sizeof tbs) != 1)
        return -1;
    return 0;
}

/* PEM of a fresh P-256 public key; free() the result. */
static inline char *ossl_make_pub_pem(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL, *p;
    long len;

    if (PEM_write_bio_PUBKEY(bio, k) == 1) {
        len = BIO_get_mem_data(bio, &p);
        if ((out = malloc((size_t)len + 1)) != NULL) {
            memcpy(out, p, (size_t)len);
            out[len] = '\0';
        }
    }
    BIO_free(bio);
    EVP_PKEY_free(k);
    return out;
}

/* A PEM CSR for CN=device-csr with a fresh P-256 key; free() the result. */
static inline char *ossl_make_csr_pem(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = ossl_leaf_name(0);
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL, *p;
    long len;

    X509_REQ_set_subject_name(req, name);
    X509_REQ_set_pubkey(req, k);
    if (X509_REQ_sign(req, k, EVP_sha256()) > 0 && PEM_write_bio_X509_REQ(bio, req) == 1) {
        len = BIO_get_mem_data(bio, &p);
        if ((out = malloc((size_t)len + 1)) != NULL) {
            memcpy(out, p, (size_t)len);
            out[len] = '\0';
        }
    }
    BIO_free(bio);
    X509_NAME_free(name);
    X509_REQ_free(req);
    EVP_PKEY_free(k);
    return out;
}

#endif
