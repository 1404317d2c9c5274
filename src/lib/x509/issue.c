/*
 * Issuing certificates.  This is the hot path of the service: the certificate is built from
 * OpenSSL's ASN.1 types directly (no config-string parsing), the subject's public key is
 * copied field by field from an already decoded SubjectPublicKeyInfo (OpenSSL 3.0 decodes
 * and encodes keys under global locks, which would keep the second core idle), and digests
 * are fetched once.  Rules from RFC 5280: 4.1.2.2 (serial), 4.1.2.5 (validity within the
 * issuer's), 4.2.1.1/4.2.1.2 (AKI/SKI), 4.2.1.9 (basic constraints, path length).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "certhub/x509.h"
#include "x509/x509_internal.h"

/* ---------------------------------------------------------------- DER */

/* The certificate is written as DER directly (x509_der_tlv, x509_der_wrap): each value's
 * contents go into a ch_buf and a constructed value is wrapped in its tag and length once its
 * contents are in place.  Going through OpenSSL's X509 object (setters, extension objects,
 * ASN1_item_sign, i2d) cost more than the signature itself. */

static int der_put(ch_buf *b, const void *v, size_t n)
{
    return ch_buf_put(b, v, n) < 0 ? ch_error_set(CH_ENOMEM, "out of memory") : 0;
}

#define DER_SEQUENCE 0x30
#define DER_OCTETS 0x04
#define DER_BITS 0x03

/* An i2d_* result appended (names, SubjectPublicKeyInfo). */
#define DER_I2D(b, fn, obj)                                                                              \
    do {                                                                                                 \
        int n_ = fn(obj, NULL);                                                                          \
        unsigned char *p_;                                                                               \
        if (n_ <= 0 || ch_buf_grow(b, (size_t)n_) < 0)                                                   \
            return ch_error_ossl(CH_ECRYPTO, #fn, "encoding the certificate");                           \
        p_ = (b)->data + (b)->len;                                                                       \
        if (fn(obj, &p_) != n_)                                                                          \
            return ch_error_ossl(CH_ECRYPTO, #fn, "encoding the certificate");                           \
        (b)->len += (size_t)n_;                                                                          \
    } while (0)

/* RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
static int der_time(ch_buf *b, int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    char s[24];
    int n;

    if (gmtime_r(&tt, &tm) == NULL)
        return ch_error_set(CH_EINVAL, "a validity date cannot be represented");
    if (tm.tm_year >= 50 && tm.tm_year < 150) {
        n = snprintf(s, sizeof s, "%02d%02d%02d%02d%02d%02dZ", tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
        return x509_der_tlv(b, 0x17, s, (size_t)n);
    }
    if (tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0)
        return ch_error_set(CH_EINVAL, "a validity date is beyond the year 9999");
    n = snprintf(s, sizeof s, "%04d%02d%02d%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
    return x509_der_tlv(b, 0x18, s, (size_t)n);
}

/* Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING };
 * the value's DER is what was written from value_start on. */
static int der_ext_end(ch_buf *b, size_t ext_start, size_t value_start, const uint8_t *oid, size_t oid_len,
                       bool critical)
{
    static const uint8_t crit[] = {0x01, 0x01, 0xff};
    uint8_t head[16];
    size_t h = 0;
    int error;

    if ((error = x509_der_wrap(b, value_start, DER_OCTETS)) < 0)
        return error;
    head[h++] = 0x06;
    head[h++] = (uint8_t)oid_len;
    memcpy(head + h, oid, oid_len);
    h += oid_len;
    if (critical) {
        memcpy(head + h, crit, sizeof crit);
        h += sizeof crit;
    }
    if (ch_buf_grow(b, h) < 0)
        return ch_error_set(CH_ENOMEM, "out of memory");
    memmove(b->data + value_start + h, b->data + value_start, b->len - value_start);
    memcpy(b->data + value_start, head, h);
    b->len += h;
    return x509_der_wrap(b, ext_start, DER_SEQUENCE);
}

#define OID(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

/* A non-negative INTEGER, minimal. */
static int der_uint(ch_buf *b, unsigned long v)
{
    uint8_t t[sizeof v + 1];
    size_t n = 0;

    do {
        t[sizeof t - 1 - n++] = (uint8_t)v;
        v >>= 8;
    } while (v != 0);
    if (t[sizeof t - n] & 0x80)
        t[sizeof t - 1 - n++] = 0;
    return x509_der_tlv(b, 0x02, t + sizeof t - n, n);
}

/* RFC 5280 4.2.1.9 (critical unless a leaf's is asked otherwise: RFC 5280 asks it of CAs). */
int x509_ext_basic_constraints(ch_buf *b, bool ca, int path_len, bool critical)
{
    static const uint8_t ca_true[] = {0x01, 0x01, 0xff};
    size_t at = b->len;
    int error;

    if (ca && ((error = der_put(b, ca_true, sizeof ca_true)) < 0 ||
               (path_len >= 0 && (error = der_uint(b, (unsigned long)path_len)) < 0)))
        return error;
    if ((error = x509_der_wrap(b, at, DER_SEQUENCE)) < 0)
        return error;
    return der_ext_end(b, at, at, OID(0x55, 0x1d, 0x13), critical);
}

/* RFC 5280 4.2.1.3 (critical, as it advises, unless asked otherwise): bit i of ku is
 * KeyUsage bit i. */
int x509_ext_key_usage(ch_buf *b, unsigned ku, bool critical)
{
    uint8_t bits[3] = {0, 0, 0};
    size_t at = b->len, n = 0;
    int last = -1;

    for (int i = 0; i < 9; i++)
        if (ku & (1u << i)) {
            bits[1 + i / 8] |= (uint8_t)(0x80 >> (i % 8));
            last = i;
        }
    if (last >= 0) {
        n = (size_t)last / 8 + 1;
        bits[0] = (uint8_t)(7 - last % 8); /* unused bits after the last one set */
    }
    if (x509_der_tlv(b, DER_BITS, bits, n + 1) < 0)
        return CH_ENOMEM;
    return der_ext_end(b, at, at, OID(0x55, 0x1d, 0x0f), critical);
}

/* The Key Usage bits a public key of this algorithm may carry: RSA (RFC 3279 2.3.1), RSA-PSS
 * (RFC 4055 1.2: signatures only), EC (RFC 5480 3: no key transport, no data encipherment),
 * Ed25519/Ed448 (RFC 8410 5: signatures only); keyCertSign and cRLSign with any key that signs.
 * Others are not restricted here. */
static unsigned ku_allowed(int key_nid, const char **kind)
{
    const unsigned sign = CH_KU_DIGITAL_SIGNATURE | CH_KU_NON_REPUDIATION | CH_KU_KEY_CERT_SIGN | CH_KU_CRL_SIGN;

    switch (key_nid) {
    case NID_rsaEncryption:
        *kind = "an RSA key (RFC 3279)";
        return sign | CH_KU_KEY_ENCIPHERMENT | CH_KU_DATA_ENCIPHERMENT;
    case NID_rsassaPss:
        *kind = "an RSA-PSS key (RFC 4055)";
        return sign;
    case NID_X9_62_id_ecPublicKey:
        *kind = "an EC key (RFC 5480)";
        return sign | CH_KU_KEY_AGREEMENT | CH_KU_ENCIPHER_ONLY | CH_KU_DECIPHER_ONLY;
    case NID_ED25519:
        *kind = "an Ed25519 key (RFC 8410)";
        return sign;
    case NID_ED448:
        *kind = "an Ed448 key (RFC 8410)";
        return sign;
    default:
        *kind = "this key";
        return ~0u;
    }
}

unsigned ch_cert_usage_fit(const ch_cert *cert, unsigned ku)
{
    ASN1_OBJECT *alg = NULL;
    const char *kind;

    if (X509_PUBKEY_get0_param(&alg, NULL, NULL, NULL, X509_get_X509_PUBKEY(ch_cert_x509(cert))) != 1)
        return ku;
    return ku & ku_allowed(OBJ_obj2nid(alg), &kind);
}

int x509_ku_check(unsigned *ku, const X509_PUBKEY *spki, const char *profile)
{
    const char *const *names = ch_usage_names(false);
    ASN1_OBJECT *alg = NULL;
    const char *kind;
    char accepted[160] = "";
    size_t used = 0;
    unsigned allowed, extra;
    int first = -1;

    if (X509_PUBKEY_get0_param(&alg, NULL, NULL, NULL, spki) != 1)
        return 0;
    allowed = ku_allowed(OBJ_obj2nid(alg), &kind);
    /* (of the nine bits KeyUsage has: others are no usage, and written nowhere) */
    if ((extra = *ku & ~allowed & 0x1ffu) == 0)
        return 0;
    /* A profile's usages are for every kind of key: what does not apply to this one is left
     * out (key transport for an EC key), unless nothing would be left. */
    if (profile != NULL && (*ku & allowed) != 0) {
        *ku &= allowed;
        return 0;
    }
    for (int i = 0; names[i] != NULL; i++) {
        if (extra & (1u << i) && first < 0)
            first = i;
        if ((allowed & (1u << i)) && !((1u << i) & (CH_KU_KEY_CERT_SIGN | CH_KU_CRL_SIGN)) &&
            used < sizeof accepted)
            used += (size_t)snprintf(accepted + used, sizeof accepted - used, "%s%s", used ? ", " : "", names[i]);
    }
    if (profile != NULL)
        return ch_error_set_field(CH_EPOLICY, "key_usage",
                                  "profile %s's key usage (%s) does not apply to %s, which takes %s: give "
                                  "key_usage, or a key of another type",
                                  profile, names[first], kind, accepted);
    return ch_error_set_field(CH_EINVAL, "key_usage", "%s does not apply to %s, which takes %s", names[first], kind,
                              accepted);
}

/* Whether two names are one: host names and mail addresses in any case (RFC 4343; the domain
 * of an address, and in practice its local part), addresses as the bytes they stand for
 * ("::1" is "0:0::1"), URIs as written. */
static bool same_san(const ch_san *a, const ch_san *b)
{
    if (a->type != b->type)
        return false;
    if (a->type == CH_SAN_IP) {
        unsigned char x[16], y[16];
        int af = strchr(a->value, ':') != NULL ? AF_INET6 : AF_INET;
        return (strchr(b->value, ':') != NULL ? AF_INET6 : AF_INET) == af && inet_pton(af, a->value, x) == 1 &&
               inet_pton(af, b->value, y) == 1 && memcmp(x, y, af == AF_INET ? 4 : 16) == 0;
    }
    return a->type == CH_SAN_URI ? strcmp(a->value, b->value) == 0 : strcasecmp(a->value, b->value) == 0;
}

int x509_ext_ext_key_usage(ch_buf *b, unsigned eku, const char *const *oids, bool critical)
{
    static const struct {
        unsigned bit;
        uint8_t last;
    } map[] = {
        {CH_EKU_SERVER_AUTH, 1},  {CH_EKU_CLIENT_AUTH, 2},    {CH_EKU_CODE_SIGNING, 3},
        {CH_EKU_EMAIL_PROTECTION, 4}, {CH_EKU_TIME_STAMPING, 8}, {CH_EKU_OCSP_SIGNING, 9},
    };
    size_t at = b->len;
    int error;

    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (eku & map[i].bit) {
            /* id-kp: 1.3.6.1.5.5.7.3.n */
            uint8_t oid[] = {0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, map[i].last};
            if ((error = der_put(b, oid, sizeof oid)) < 0)
                return error;
        }
    for (size_t i = 0; oids != NULL && oids[i] != NULL; i++)
        if ((error = x509_der_oid(b, oids[i], "ext_key_usage_oids")) < 0)
            return error;
    if ((error = x509_der_wrap(b, at, DER_SEQUENCE)) < 0)
        return error;
    return der_ext_end(b, at, at, OID(0x55, 0x1d, 0x25), critical);
}

/* CertificatePolicies (RFC 5280 4.2.1.4): a PolicyInformation of its policyIdentifier alone
 * for each OID, no qualifiers (which the RFC recommends against). */
static int ext_policies(ch_buf *b, const char *const *oids)
{
    size_t at = b->len;
    int error;

    for (size_t i = 0; oids[i] != NULL; i++) {
        size_t pi = b->len;
        if ((error = x509_der_oid(b, oids[i], "policy_identifiers")) < 0 ||
            (error = x509_der_wrap(b, pi, DER_SEQUENCE)) < 0)
            return error;
    }
    if ((error = x509_der_wrap(b, at, DER_SEQUENCE)) < 0)
        return error;
    return der_ext_end(b, at, at, OID(0x55, 0x1d, 0x20), false);
}

/* A GeneralName: dNSName [2], rfc822Name [1], uniformResourceIdentifier [6] (IA5String),
 * iPAddress [7] (4 or 16 octets), or a user principal name: otherName [0] { type-id
 * 1.3.6.1.4.1.311.20.2.3, [0] EXPLICIT UTF8String }. */
static int der_general_name(ch_buf *b, ch_san_type type, const char *value)
{
    if (type == CH_SAN_UPN) {
        static const uint8_t upn[] = {0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x14, 0x02, 0x03};
        size_t at = b->len, v;
        int error;
        if ((error = der_put(b, upn, sizeof upn)) < 0)
            return error;
        v = b->len;
        if ((error = x509_der_tlv(b, 0x0c, value, strlen(value))) < 0 || (error = x509_der_wrap(b, v, 0xa0)) < 0)
            return error;
        return x509_der_wrap(b, at, 0xa0);
    }
    if (type == CH_SAN_IP) {
        uint8_t ip[16];
        if (inet_pton(AF_INET, value, ip) == 1)
            return x509_der_tlv(b, 0x87, ip, 4);
        if (inet_pton(AF_INET6, value, ip) == 1)
            return x509_der_tlv(b, 0x87, ip, 16);
        return ch_error_set_field(CH_EINVAL, "sans", "subject alternative name \"%.128s\" cannot be encoded", value);
    }
    return x509_der_tlv(b, type == CH_SAN_DNS ? 0x82 : type == CH_SAN_EMAIL ? 0x81 : 0x86, value, strlen(value));
}

static int ext_sans(ch_buf *b, const ch_san *sans, size_t n)
{
    size_t at = b->len;
    int error;

    for (size_t i = 0; i < n; i++)
        if ((error = der_general_name(b, sans[i].type, sans[i].value)) < 0)
            return error;
    if ((error = x509_der_wrap(b, at, DER_SEQUENCE)) < 0)
        return error;
    return der_ext_end(b, at, at, OID(0x55, 0x1d, 0x11), false);
}

/* CRLDistributionPoints: each URL a DistributionPoint with a fullName. */
static int ext_crl_urls(ch_buf *b, const char *const *urls)
{
    size_t at = b->len;
    int error;

    for (size_t i = 0; urls[i] != NULL; i++) {
        size_t dp = b->len;
        if ((error = der_general_name(b, CH_SAN_URI, urls[i])) < 0 || (error = x509_der_wrap(b, dp, 0xa0)) < 0 ||
            (error = x509_der_wrap(b, dp, 0xa0)) < 0 || (error = x509_der_wrap(b, dp, DER_SEQUENCE)) < 0)
            return error;
    }
    if ((error = x509_der_wrap(b, at, DER_SEQUENCE)) < 0)
        return error;
    return der_ext_end(b, at, at, OID(0x55, 0x1d, 0x1f), false);
}

/* AuthorityInfoAccess: an id-ad-ocsp AccessDescription per OCSP URL, then an id-ad-caIssuers
 * one per URL of the issuer's certificate (RFC 5280 4.2.2.1). */
static int ext_aia(ch_buf *b, const char *const *ocsp_urls, const char *const *issuer_urls)
{
    static const uint8_t ocsp[] = {0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01};
    static const uint8_t ca_issuers[] = {0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02};
    const char *const *lists[] = {ocsp_urls, issuer_urls};
    const uint8_t *methods[] = {ocsp, ca_issuers};
    size_t at = b->len;
    int error;

    for (size_t l = 0; l < 2; l++)
        for (size_t i = 0; lists[l] != NULL && lists[l][i] != NULL; i++) {
            size_t ad = b->len;
            if ((error = der_put(b, methods[l], sizeof ocsp)) < 0 ||
                (error = der_general_name(b, CH_SAN_URI, lists[l][i])) < 0 ||
                (error = x509_der_wrap(b, ad, DER_SEQUENCE)) < 0)
                return error;
        }
    if ((error = x509_der_wrap(b, at, DER_SEQUENCE)) < 0)
        return error;
    return der_ext_end(b, at, at, OID(0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01), false);
}

/* RFC 5280 4.2.1.2 (1): the SHA-1 of the subjectPublicKey BIT STRING's value. */
static int key_id(uint8_t out[20], const X509_PUBKEY *pub)
{
    const unsigned char *pk;
    int pklen;

    if (X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, pub) != 1 ||
        EVP_Digest(pk, (size_t)pklen, out, NULL, x509_sha1(), NULL) != 1)
        return ch_error_ossl(CH_ECRYPTO, "EVP_Digest", "computing the key identifier");
    return 0;
}

/* SKI, and AKI unless aki is NULL (both never critical: RFC 5280 4.2.1.1, 4.2.1.2). */
static int ext_key_ids(ch_buf *b, const uint8_t ski[20], const uint8_t *aki, size_t aki_len)
{
    size_t at = b->len;
    int error;

    if ((error = x509_der_tlv(b, DER_OCTETS, ski, 20)) < 0 ||
        (error = der_ext_end(b, at, at, OID(0x55, 0x1d, 0x0e), false)) < 0)
        return error;
    if (aki == NULL)
        return 0;
    at = b->len;
    if ((error = x509_der_tlv(b, 0x80, aki, aki_len)) < 0 || (error = x509_der_wrap(b, at, DER_SEQUENCE)) < 0)
        return error;
    return der_ext_end(b, at, at, OID(0x55, 0x1d, 0x23), false);
}

/* ---------------------------------------------------------------- signing */

/* Signing reuses, per thread, a context made for the CA key and digest: making one per
 * certificate (EVP_DigestSignInit) fetched the algorithm and set up the key each time.  The
 * context holds a reference to its key, so a cached key's address cannot be reused by another
 * key while it is cached. */
#define SIGN_SLOTS 4

struct sign_slot {
    EVP_PKEY *pkey;
    const EVP_MD *md;
    EVP_PKEY_CTX *ctx;
    uint8_t alg[128]; /* the signature's AlgorithmIdentifier, DER */
    size_t alg_len;
};

struct sign_cache {
    struct sign_slot slot[SIGN_SLOTS];
    unsigned next;
};

static pthread_key_t sign_key;
static pthread_once_t sign_once = PTHREAD_ONCE_INIT;

static void sign_cache_free(void *p)
{
    struct sign_cache *c = p;

    for (int i = 0; i < SIGN_SLOTS; i++)
        EVP_PKEY_CTX_free(c->slot[i].ctx);
    free(c);
}

static void sign_init_key(void)
{
    (void)pthread_key_create(&sign_key, sign_cache_free);
}

static int alg_id(uint8_t *out, size_t *len, size_t cap, EVP_PKEY_CTX *ctx)
{
    OSSL_PARAM params[] = {OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, out, cap), OSSL_PARAM_END};

    if (EVP_PKEY_CTX_get_params(ctx, params) != 1 || params[0].return_size == 0 || params[0].return_size > cap)
        return ch_error_ossl(CH_EUNSUPPORTED, "EVP_PKEY_CTX_get_params",
                             "the CA key's signature algorithm has no identifier");
    *len = params[0].return_size;
    return 0;
}

/* The thread's context for pkey and md (a digest is given: RSA, ECDSA). */
static struct sign_slot *sign_slot(EVP_PKEY *pkey, const EVP_MD *md)
{
    struct sign_cache *c;
    struct sign_slot *s;
    EVP_PKEY_CTX *ctx;

    pthread_once(&sign_once, sign_init_key);
    if ((c = pthread_getspecific(sign_key)) == NULL) {
        if ((c = calloc(1, sizeof *c)) == NULL || pthread_setspecific(sign_key, c) != 0) {
            free(c);
            ch_error_set(CH_ENOMEM, "out of memory");
            return NULL;
        }
    }
    for (int i = 0; i < SIGN_SLOTS; i++)
        if (c->slot[i].ctx != NULL && c->slot[i].pkey == pkey && c->slot[i].md == md)
            return &c->slot[i];
    if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL || EVP_PKEY_sign_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_signature_md(ctx, md) != 1) {
        EVP_PKEY_CTX_free(ctx);
        ch_error_ossl(CH_ECRYPTO, "EVP_PKEY_sign_init", "preparing to sign the certificate");
        return NULL;
    }
    s = &c->slot[c->next++ % SIGN_SLOTS];
    EVP_PKEY_CTX_free(s->ctx);
    *s = (struct sign_slot){.pkey = pkey, .md = md, .ctx = ctx};
    if (alg_id(s->alg, &s->alg_len, sizeof s->alg, ctx) < 0) {
        EVP_PKEY_CTX_free(s->ctx);
        s->ctx = NULL;
        return NULL;
    }
    return s;
}

/* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }: tbs holds
 * the TBSCertificate with a placeholder for its signature AlgorithmIdentifier at alg_at,
 * which is filled in first (the identifier is part of what is signed). */
static int sign_tbs(ch_buf *b, size_t alg_at, const ch_key *issuer_key, const EVP_MD *md)
{
    EVP_PKEY *pkey = ch_key_pkey(issuer_key);
    uint8_t alg[128], sig[1024], hash[EVP_MAX_MD_SIZE];
    size_t alg_len, sig_len = sizeof sig;
    unsigned hash_len;
    EVP_MD_CTX *mctx = NULL;
    struct sign_slot *slot = NULL;
    int error;

    if (md != NULL) {
        if ((slot = sign_slot(pkey, md)) == NULL)
            return ch_error_last_code();
        memcpy(alg, slot->alg, slot->alg_len);
        alg_len = slot->alg_len;
    } else {
        /* Ed25519 and Ed448 sign the message itself. */
        if ((mctx = EVP_MD_CTX_new()) == NULL || EVP_DigestSignInit(mctx, NULL, NULL, NULL, pkey) != 1 ||
            alg_id(alg, &alg_len, sizeof alg, EVP_MD_CTX_get_pkey_ctx(mctx)) < 0) {
            error = ch_error_last_code() ? ch_error_last_code()
                                         : ch_error_ossl(CH_ECRYPTO, "EVP_DigestSignInit", "signing the certificate");
            EVP_MD_CTX_free(mctx);
            return error;
        }
    }
    /* The identifier goes into the TBSCertificate, which is then wrapped and signed. */
    if (ch_buf_grow(b, alg_len) < 0) {
        EVP_MD_CTX_free(mctx);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    memmove(b->data + alg_at + alg_len, b->data + alg_at, b->len - alg_at);
    memcpy(b->data + alg_at, alg, alg_len);
    b->len += alg_len;
    if ((error = x509_der_wrap(b, 0, DER_SEQUENCE)) < 0) {
        EVP_MD_CTX_free(mctx);
        return error;
    }
    if (slot != NULL) {
        if (EVP_Digest(b->data, b->len, hash, &hash_len, md, NULL) != 1 ||
            EVP_PKEY_sign(slot->ctx, sig, &sig_len, hash, hash_len) != 1)
            return ch_error_ossl(CH_ECRYPTO, "EVP_PKEY_sign", "signing the certificate");
    } else {
        int ok = EVP_DigestSign(mctx, sig, &sig_len, b->data, b->len) == 1;
        EVP_MD_CTX_free(mctx);
        if (!ok)
            return ch_error_ossl(CH_ECRYPTO, "EVP_DigestSign", "signing the certificate");
    }
    if ((error = der_put(b, alg, alg_len)) < 0)
        return error;
    {
        size_t at = b->len;
        uint8_t zero = 0; /* no unused bits */
        if ((error = der_put(b, &zero, 1)) < 0 || (error = der_put(b, sig, sig_len)) < 0 ||
            (error = x509_der_wrap(b, at, DER_BITS)) < 0)
            return error;
    }
    return x509_der_wrap(b, 0, DER_SEQUENCE);
}

/* Whether a CSR asks for a CA certificate in its extension request. */
static bool csr_requests_ca(const ch_csr *csr)
{
    STACK_OF(X509_EXTENSION) *exts = x509_csr_extensions(csr);
    bool ca = false;

    for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
        X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_basic_constraints) {
            BASIC_CONSTRAINTS *bc = X509V3_EXT_d2i(e);
            ca = bc != NULL && bc->ca;
            BASIC_CONSTRAINTS_free(bc);
        }
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ERR_clear_error();
    return ca;
}

int ch_csr_usages(const ch_csr *csr, unsigned *ku, unsigned *eku)
{
    STACK_OF(X509_EXTENSION) *exts = x509_csr_extensions(csr);
    int error = 0;

    *ku = *eku = 0;
    for (int i = 0; i < sk_X509_EXTENSION_num(exts) && error == 0; i++) {
        X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
        int nid = OBJ_obj2nid(X509_EXTENSION_get_object(e));
        if (nid == NID_key_usage) {
            ASN1_BIT_STRING *bits = X509V3_EXT_d2i(e);
            for (int b = 0; bits != NULL && b < 9; b++)
                if (ASN1_BIT_STRING_get_bit(bits, b))
                    *ku |= 1u << b; /* (CH_KU_* bit i is KeyUsage bit i) */
            if (bits == NULL)
                error = ch_error_set_field(CH_EPARSE, "csr", "the CSR's Key Usage extension cannot be read");
            ASN1_BIT_STRING_free(bits);
        } else if (nid == NID_ext_key_usage) {
            EXTENDED_KEY_USAGE *eku_objs = X509V3_EXT_d2i(e);
            if (eku_objs == NULL)
                error = ch_error_set_field(CH_EPARSE, "csr", "the CSR's Extended Key Usage extension cannot be read");
            for (int k = 0; eku_objs != NULL && k < sk_ASN1_OBJECT_num(eku_objs) && error == 0; k++) {
                ASN1_OBJECT *o = sk_ASN1_OBJECT_value(eku_objs, k);
                unsigned bit = x509_eku_bit(OBJ_obj2nid(o));
                char oid[128] = "?";
                *eku |= bit;
                if (bit == 0) {
                    (void)OBJ_obj2txt(oid, sizeof oid, o, 1);
                    error = ch_error_set_field(CH_EPOLICY, "csr",
                                               "the CSR asks for the extended key usage %s, which certhub does not "
                                               "issue (server_auth, client_auth, code_signing, email_protection, "
                                               "time_stamping, ocsp_signing): sign it without its usages",
                                               oid);
                }
            }
            EXTENDED_KEY_USAGE_free(eku_objs);
        }
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (error == 0)
        ERR_clear_error();
    return error;
}

/* An iPAddress SAN (4 or 16 octets) as text; OPENSSL_free() the result. */
static char *ip_text(const ASN1_STRING *s)
{
    char buf[INET6_ADDRSTRLEN];
    int len = ASN1_STRING_length(s);
    int af = len == 4 ? AF_INET : len == 16 ? AF_INET6 : -1;

    if (af < 0 || inet_ntop(af, ASN1_STRING_get0_data(s), buf, sizeof buf) == NULL)
        return NULL;
    return OPENSSL_strdup(buf);
}

/* SANs requested by a CSR, as ch_san pointing into strings kept in *store. */
static int csr_sans(const ch_csr *csr, ch_san **out, size_t *count, char ***store)
{
    STACK_OF(X509_EXTENSION) *exts = x509_csr_extensions(csr);
    GENERAL_NAMES *names = NULL;
    int error = 0, n;

    *out = NULL;
    *count = 0;
    *store = NULL;
    for (int i = 0; i < sk_X509_EXTENSION_num(exts) && names == NULL; i++) {
        X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_subject_alt_name)
            names = X509V3_EXT_d2i(e);
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ERR_clear_error();
    if (names == NULL || (n = sk_GENERAL_NAME_num(names)) <= 0)
        goto done;
    if ((size_t)n > CH_MAX_SANS) {
        error = ch_error_set_field(CH_EINVAL, "csr", "the CSR requests more than %u subject alternative names",
                                   CH_MAX_SANS);
        goto done;
    }
    if ((*out = calloc((size_t)n, sizeof **out)) == NULL || (*store = calloc((size_t)n + 1, sizeof **store)) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        int type;
        ASN1_STRING *s = GENERAL_NAME_get0_value(gn, &type);
        char *text = NULL;
        ch_san_type st;

        if (type == GEN_IPADD) {
            text = ip_text(s);
            st = CH_SAN_IP;
        } else if (type == GEN_DNS || type == GEN_EMAIL || type == GEN_URI) {
            const unsigned char *d = ASN1_STRING_get0_data(s);
            int len = ASN1_STRING_length(s);
            if (memchr(d, '\0', (size_t)len) != NULL) {
                error = ch_error_set_field(CH_EINVAL, "csr", "a subject alternative name of the CSR contains a NUL byte");
                goto done;
            }
            text = OPENSSL_strndup((const char *)d, (size_t)len);
            st = type == GEN_DNS ? CH_SAN_DNS : type == GEN_EMAIL ? CH_SAN_EMAIL : CH_SAN_URI;
        } else if (type == GEN_OTHERNAME && (text = x509_upn_text(gn)) != NULL) {
            /* Held to what a upn: given is held to (a renewal parses it so), said of the CSR. */
            ch_san check;
            size_t len = strlen(text) + 5;
            char *given = malloc(len);
            if (given != NULL)
                snprintf(given, len, "upn:%s", text);
            if (given == NULL || ch_san_parse(&check, given) < 0) {
                error = ch_error_set_field(CH_EINVAL, "csr", "the CSR's user principal name: %s",
                                           given ? ch_error_last() : "out of memory");
                free(given);
                OPENSSL_free(text);
                goto done;
            }
            free(given);
            st = CH_SAN_UPN;
        } else {
            /* Not dropped unsaid: the holder asked for it, and would find it missing. */
            char what[160] = "an otherName";
            if (type == GEN_OTHERNAME) {
                char oid[64];
                const OTHERNAME *on = GENERAL_NAME_get0_value(gn, NULL);
                if (on != NULL && OBJ_obj2txt(oid, sizeof oid, on->type_id, 1) > 0)
                    snprintf(what, sizeof what, "an otherName of type %s (or a UPN not in a UTF8String)", oid);
            }
            error = ch_error_set_field(CH_EINVAL, "csr", "the CSR asks for a subject alternative name certhub does not "
                                       "write, %s: it takes DNS names, IP addresses, email addresses, URIs and user "
                                       "principal names (an otherName 1.3.6.1.4.1.311.20.2.3 holding a UTF8String); "
                                       "make the CSR without it",
                                       type == GEN_OTHERNAME ? what
                                       : type == GEN_DIRNAME ? "a directoryName"
                                       : type == GEN_RID     ? "a registeredID"
                                       : type == GEN_X400    ? "an x400Address"
                                                             : "an ediPartyName");
            goto done;
        }
        if (text == NULL) {
            error = ch_error_set_field(CH_EINVAL, "csr", "a subject alternative name of the CSR cannot be read");
            goto done;
        }
        (*store)[*count] = text;
        (*out)[*count].type = st;
        (*out)[*count].value = text;
        (*count)++;
    }
done:
    GENERAL_NAMES_free(names);
    return error;
}

static void csr_sans_free(ch_san *sans, char **store)
{
    if (store != NULL)
        for (size_t i = 0; store[i] != NULL; i++)
            OPENSSL_free(store[i]);
    free(store);
    free(sans);
}

/* RFC 5280 4.1.2.2: positive, at most 20 octets.  The sign bit is cleared and the next set,
 * so the DER INTEGER is always exactly 16 bytes with 126 random bits. */
static int new_serial(uint8_t serial[16])
{
    int error;

    if ((error = ch_random(serial, 16)) < 0)
        return error;
    serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x40);
    return 0;
}

/* The text forms of what was issued, for storing it without decoding it again. */
static int issued_texts(struct x509_issued *m, const X509_NAME *subject, const X509_NAME *issuer,
                        const char *issuer_text, const ch_san *sans, size_t nsans)
{
    ch_buf b = CH_BUF_INIT;
    int error;

    if ((error = ch_name_to_string(&m->subject, subject)) < 0)
        return error;
    if (issuer_text != NULL) {
        if ((m->issuer = strdup(issuer_text)) == NULL)
            return ch_error_set(CH_ENOMEM, "out of memory");
    } else if ((error = ch_name_to_string(&m->issuer, issuer)) < 0) {
        return error;
    }
    if (ch_name_get(&m->common_name, subject, NID_commonName) < 0)
        m->common_name = NULL; /* none (or not text): the caller names the certificate otherwise */
    ch_error_clear();
    for (size_t i = 0; i < nsans; i++)
        if ((i > 0 && ch_buf_puts(&b, ",") < 0) || ch_san_append(&b, &sans[i]) < 0) {
            ch_buf_dispose(&b);
            return ch_error_set(CH_ENOMEM, "out of memory");
        }
    if (nsans > 0)
        m->sans = (char *)ch_buf_detach(&b, NULL);
    return 0;
}

/* Whether an extension is marked critical: as asked, or else as RFC 5280 advises (Basic
 * Constraints 4.2.1.9 and Key Usage 4.2.1.3 critical; EKU 4.2.1.12 may be either, and the
 * AKI 4.2.1.1 never is). */
static bool is_critical(const ch_issue_opts *o, unsigned ext)
{
    if (o->critical_set & ext)
        return (o->critical & ext) != 0;
    return ext == CH_EXT_BASIC_CONSTRAINTS || ext == CH_EXT_KEY_USAGE;
}

int ch_issue_check_extensions(const ch_issue_opts *o)
{
    const ch_profile *p = o->profile;
    unsigned crit = o->critical & o->critical_set;

    if (p == NULL)
        return ch_error_set_field(CH_EINVAL, "profile", "no profile given");
    if ((o->leave_out | o->critical_set | o->critical) & ~(unsigned)CH_EXT_ALL)
        return ch_error_set_field(CH_EINVAL, "critical", "unknown extension bits: the switches are Basic "
                                  "Constraints, Key Usage, Extended Key Usage and the Authority Key Identifier");
    if (p->is_ca && (o->leave_out & CH_EXT_BASIC_CONSTRAINTS))
        return ch_error_set_field(CH_EINVAL, "basic_constraints",
                                  "a CA certificate must carry Basic Constraints with CA:TRUE (RFC 5280 4.2.1.9: "
                                  "without it verifiers take the certificate for no CA); it can be left out of leaf "
                                  "certificates only");
    if (p->is_ca && (o->leave_out & CH_EXT_KEY_USAGE))
        return ch_error_set_field(CH_EINVAL, "key_usage",
                                  "a CA certificate must carry Key Usage with keyCertSign (RFC 5280 4.2.1.3); it "
                                  "can be left out of leaf certificates only");
    if ((o->leave_out & CH_EXT_KEY_USAGE) && o->key_usage)
        return ch_error_set_field(CH_EINVAL, "key_usage", "key usages given for a Key Usage extension left out: "
                                  "give one or the other");
    if ((o->leave_out & CH_EXT_EXT_KEY_USAGE) && o->ext_key_usage)
        return ch_error_set_field(CH_EINVAL, "ext_key_usage", "extended key usages given for an Extended Key Usage "
                                  "extension left out: give one or the other");
    if ((o->leave_out & CH_EXT_EXT_KEY_USAGE) && o->eku_oids && o->eku_oids[0])
        return ch_error_set_field(CH_EINVAL, "ext_key_usage_oids", "extended key usage OIDs given for an Extended "
                                  "Key Usage extension left out: give one or the other");
    if (crit & CH_EXT_AUTHORITY_KEY_ID)
        return ch_error_set_field(CH_EINVAL, "critical", "the Authority Key Identifier cannot be critical (RFC 5280 "
                                  "4.2.1.1: conforming CAs mark it non-critical); basic_constraints, key_usage and "
                                  "ext_key_usage can be");
    if (p->is_ca && (o->critical_set & CH_EXT_BASIC_CONSTRAINTS) && !(crit & CH_EXT_BASIC_CONSTRAINTS))
        return ch_error_set_field(CH_EINVAL, "critical", "a CA certificate's Basic Constraints must be critical "
                                  "(RFC 5280 4.2.1.9): keep basic_constraints in the list");
    for (int k = 0; ch_ext_names()[k] != NULL; k++)
        if (crit & o->leave_out & (1u << k))
            return ch_error_set_field(CH_EINVAL, "critical", "%s is left out, so it cannot be marked critical",
                                      ch_ext_names()[k]);
    return 0;
}

/* TBSCertificate (RFC 5280 4.1) into *b, leaving out the signature AlgorithmIdentifier, whose
 * place is *alg_at (sign_tbs puts it there). */
/* The extended key usages and policies given as OIDs that a certificate carries. */
struct oid_lists {
    const char *const *eku;
    const char *const *policies;
};

static int encode_tbs(ch_buf *b, size_t *alg_at, const struct x509_issued *m, const X509_NAME *subject,
                      const X509_NAME *issuer, const X509_PUBKEY *spki, int path_len, unsigned ku, unsigned eku,
                      const ch_san *sans, size_t nsans, const ch_issue_opts *o, const uint8_t ski[20],
                      const uint8_t *aki, size_t aki_len, const struct oid_lists *oids)
{
    static const uint8_t v3[] = {0xa0, 0x03, 0x02, 0x01, 0x02};
    size_t at;
    int error;

    if ((error = der_put(b, v3, sizeof v3)) < 0 || (error = x509_der_tlv(b, 0x02, m->serial, m->serial_len)) < 0)
        return error;
    *alg_at = b->len;
    DER_I2D(b, i2d_X509_NAME, issuer);
    at = b->len;
    if ((error = der_time(b, m->not_before)) < 0 || (error = der_time(b, m->not_after)) < 0 ||
        (error = x509_der_wrap(b, at, DER_SEQUENCE)) < 0)
        return error;
    DER_I2D(b, i2d_X509_NAME, subject);
    DER_I2D(b, i2d_X509_PUBKEY, spki);
    /* extensions [3] EXPLICIT SEQUENCE OF Extension, in the order OpenSSL wrote them before;
     * each of the first four unless left out */
    at = b->len;
    if ((!(o->leave_out & CH_EXT_BASIC_CONSTRAINTS) &&
         (error = x509_ext_basic_constraints(b, m->is_ca, m->is_ca ? path_len : -1,
                                        is_critical(o, CH_EXT_BASIC_CONSTRAINTS))) < 0) ||
        (!(o->leave_out & CH_EXT_KEY_USAGE) && (error = x509_ext_key_usage(b, ku, is_critical(o, CH_EXT_KEY_USAGE))) < 0) ||
        ((eku || (oids->eku && oids->eku[0])) &&
         (error = x509_ext_ext_key_usage(b, eku, oids->eku, is_critical(o, CH_EXT_EXT_KEY_USAGE))) < 0) ||
        (error = ext_key_ids(b, ski, (o->leave_out & CH_EXT_AUTHORITY_KEY_ID) ? NULL : aki, aki_len)) < 0 ||
        (nsans > 0 && (error = ext_sans(b, sans, nsans)) < 0) ||
        (o->crl_urls && o->crl_urls[0] && (error = ext_crl_urls(b, o->crl_urls)) < 0) ||
        (((o->ocsp_urls && o->ocsp_urls[0]) || (o->ca_issuers_urls && o->ca_issuers_urls[0])) &&
         (error = ext_aia(b, o->ocsp_urls, o->ca_issuers_urls)) < 0) ||
        (oids->policies && oids->policies[0] && (error = ext_policies(b, oids->policies)) < 0))
        return error;
    if ((error = x509_der_wrap(b, at, DER_SEQUENCE)) < 0 || (error = x509_der_wrap(b, at, 0xa3)) < 0)
        return error;
    return 0;
}

/* The subject's key against the profile's key types: the CSR's or the key given (a renewal's
 * kept one among them). */
static int key_type_allowed(const ch_profile *p, const ch_csr *req, const ch_key *key)
{
    ch_key_type t = CH_KEY_NONE;
    char allowed[100];
    int error;

    if (req != NULL && (error = x509_csr_key_type(&t, req)) < 0)
        return error;
    if (req == NULL)
        t = ch_key_get_type(key);
    if (t != CH_KEY_NONE && (p->key_types & CH_KEY_TYPE_BIT(t)))
        return 0;
    ch_key_types_describe(allowed, sizeof allowed, p->key_types);
    return ch_error_set_field(CH_EPOLICY, req != NULL ? "csr" : "public_key",
                              "%s is %s, which profile %s does not allow: its key_types are %s",
                              req != NULL ? "the CSR's key" : "the public key",
                              t != CH_KEY_NONE ? ch_key_type_name(t) : "of none of the key types", p->name, allowed);
}

/* A lifetime as a person reads it, in the largest unit that holds it whole: "397 days",
 * "36 hours", "90 minutes". */
static void lifetime_words(char *out, size_t cap, int64_t s)
{
    static const struct {
        int64_t seconds;
        const char *unit;
    } units[] = {{86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}};
    size_t i = 0;

    while (s % units[i].seconds != 0)
        i++;
    snprintf(out, cap, "%lld %s%s", (long long)(s / units[i].seconds), units[i].unit,
             s == units[i].seconds ? "" : "s");
}

/* The longest lifetime within left seconds, as a ttl in a unit that loses little of it (days
 * from 10 days, hours from 10 hours, minutes below): what the refusal of a longer one offers. */
static void ttl_within(char *out, size_t cap, int64_t left)
{
    if (left >= 10 * 86400)
        snprintf(out, cap, "%lldd", (long long)(left / 86400));
    else if (left >= 10 * 3600)
        snprintf(out, cap, "%lldh", (long long)(left / 3600));
    else
        snprintf(out, cap, "%lldm", (long long)(left / 60));
}

/* The validity of a certificate issued at now: the lifetime asked (days or ttl, or the
 * profile's default) from now or not_before, held to the profile's maximum and to the issuer's
 * end (issuer_na; capped there with cap_validity).  Refusals name the field the lifetime came
 * in and offer the longest one that fits. */
static int validity(int64_t *nb, int64_t *na, const ch_issue_opts *o, int64_t now, int64_t issuer_na)
{
    const ch_profile *p = o->profile;
    /* (a profile's default in hours is refused as a ttl would be) */
    bool in_ttl = o->ttl != 0 || o->not_after != 0 || (o->days == 0 && p->default_ttl != 0);
    const char *field = o->not_after != 0 ? "not_after" : in_ttl ? "ttl" : "days";
    int64_t start = o->not_before ? o->not_before : now, life, max;
    char words[48], end[32], within[32];

    if (o->days != 0 && o->ttl != 0)
        return ch_error_set_field(CH_EINVAL, "ttl", "give days or ttl, not both");
    if (o->not_after != 0 && (o->days != 0 || o->ttl != 0))
        return ch_error_set_field(CH_EINVAL, "not_after", "give not_after, days or ttl, one of them");
    if (o->not_after != 0 && (o->not_after - start < CH_TTL_MIN || o->not_after - start > CH_TTL_MAX)) {
        ch_time_format(end, sizeof end, o->not_after);
        return ch_error_set_field(CH_EINVAL, "not_after", "not_after must be from 5 minutes to 36600 days from now, "
                                  "not %s", end);
    }
    if (o->days < 0 || o->days > 36600)
        return ch_error_set_field(CH_EINVAL, "days", "validity must be between 1 and 36600 days");
    if (o->ttl != 0 && (o->ttl < CH_TTL_MIN || o->ttl > CH_TTL_MAX))
        return ch_error_set_field(CH_EINVAL, "ttl", "ttl must be from 5m to 36600d");
    if (o->not_after != 0)
        life = o->not_after - start;
    else if (o->ttl != 0)
        life = o->ttl;
    else if (o->days != 0)
        life = (int64_t)o->days * 86400;
    else
        life = ch_profile_default_life(p);
    max = ch_profile_max_life(p);
    if (max > 0 && life > max) {
        lifetime_words(words, sizeof words, max);
        return ch_error_set_field(CH_EPOLICY, field, "profile %s allows at most %s", p->name, words);
    }
    *nb = o->not_before ? o->not_before : now - CH_ISSUE_BACKDATE;
    *na = start + life;
    if (*na <= issuer_na)
        return 0;
    ch_time_format(end, sizeof end, issuer_na);
    ttl_within(within, sizeof within, issuer_na - start);
    if (issuer_na - start < CH_TTL_MIN) /* capped, it would live a moment */
        return ch_error_set_field(CH_EPOLICY, field, "the issuing CA has expired or ends within 5 minutes (%s): "
                                  "rotate it, or issue from another", end);
    if (o->cap_validity)
        *na = issuer_na;
    else if (o->not_after != 0)
        return ch_error_set_field(CH_EPOLICY, field, "not_after is after the issuing CA's end (%s): give one no later, "
                                  "or cap_validity to end with the CA", end);
    else if (in_ttl)
        return ch_error_set_field(CH_EPOLICY, field, "validity ends after the issuing CA's (%s): give a ttl of at "
                                  "most %s", end, within);
    else if (issuer_na - start >= 86400)
        return ch_error_set_field(CH_EPOLICY, field, "validity ends after the issuing CA's (%s): choose fewer days "
                                  "(at most %lld)", end, (long long)((issuer_na - start) / 86400));
    else
        return ch_error_set_field(CH_EPOLICY, field, "validity ends after the issuing CA's (%s), less than a day "
                                  "away: give a ttl of at most %s instead of days", end, within);
    return 0;
}

int64_t ch_issue_ttl_of(int64_t not_before, int64_t not_after)
{
    return (not_after - not_before - CH_ISSUE_BACKDATE + 30) / 60 * 60;
}

/* URLs a relying party fetches (a CRL, an OCSP responder: RFC 5280 4.2.1.13, 4.2.2.1): http,
 * https or ldap, a host, visible ASCII.  "not a url" was written into the certificate. */
int ch_issue_urls_check(const char *const *urls, const char *field)
{
    for (size_t i = 0; urls != NULL && urls[i] != NULL; i++) {
        const char *u = urls[i];
        size_t at = 0;
        /* (each goes into every certificate issued: one of megabytes made certificates no TLS
         * stack takes) */
        if (strlen(u) > CH_URL_MAX)
            return ch_error_set_field(CH_EINVAL, field, "a URL is at most %d characters; \"%.64s...\" is longer",
                                      CH_URL_MAX, u);
        const char *flaw = *u == '\0' ? "it is empty"
                           : strncasecmp(u, "http://", 7) != 0 && strncasecmp(u, "https://", 8) != 0 &&
                                   strncasecmp(u, "ldap://", 7) != 0
                               ? "another scheme"
                               : ch_url_flaw(u, &at);
        /* (RFC 3986 2: these stand in no URI but percent-encoded) */
        if (flaw == NULL && (at = strcspn(u, "\"<>\\^`{|}")) < strlen(u)) {
            flaw = "a character a URL holds only percent-encoded";
            at++;
        } else if (flaw == NULL) {
            at = 0;
        }
        if (flaw != NULL) {
            char where[40] = "";
            if (at != 0)
                snprintf(where, sizeof where, " at character %zu", at);
            return ch_error_set_field(CH_EINVAL, field,
                                      "\"%.128s\" is not a URL a client can fetch (%s%s): http://, https:// or "
                                      "ldap:// with a host, in visible ASCII (others percent-encoded)",
                                      u, flaw, where);
        }
    }
    return 0;
}

int ch_cert_issue(ch_cert **out, const ch_issue_opts *o)
{
    const ch_profile *p = o->profile;
    const ch_key *issuer_key = o->ca_key;
    X509 *issuer = o->ca_cert ? x509_cert_obj(o->ca_cert) : NULL;
    const ch_csr *req = o->csr;
    const X509_PUBKEY *spki;
    const X509_NAME *subject = o->subject;
    const ch_san *sans = o->sans;
    size_t san_count = o->san_count;
    ch_san *req_sans = NULL, cn_san;
    char **req_store = NULL, *cn = NULL;
    const EVP_MD *md = o->digest;
    struct x509_issued *issued = NULL;
    ch_buf der = CH_BUF_INIT;
    size_t alg_at = 0, aki_len = 0;
    uint8_t ski[20], aki[64];
    int64_t now = ch_now(), nb = 0, na = 0, issuer_na = 0;
    int path_len, error = 0;
    unsigned ku, eku, want_ku, want_eku;
    struct oid_lists oids;

    *out = NULL;
    if (p == NULL)
        return ch_error_set_field(CH_EINVAL, "profile", "no profile given");
    if ((o->subject_key == NULL) == (o->csr == NULL))
        return ch_error_set(CH_EINVAL, "give exactly one of a public key or a CSR for the new certificate");
    if (issuer_key == NULL || !ch_key_has_private(issuer_key))
        return ch_error_set_field(CH_EINVAL, "ca_key", "the issuer's private key is needed to sign");
    if ((o->leave_out | o->critical_set | o->critical) && (error = ch_issue_check_extensions(o)) < 0)
        return error;
    if ((error = ch_issue_urls_check(o->crl_urls, "crl_url")) < 0 ||
        (error = ch_issue_urls_check(o->ocsp_urls, "ocsp_url")) < 0 ||
        (error = ch_issue_urls_check(o->ca_issuers_urls, "ca_issuers_url")) < 0 ||
        (error = ch_eku_oids_check(o->eku_oids, "ext_key_usage_oids")) < 0 ||
        (error = ch_oids_check(o->policies, "policy_identifiers")) < 0)
        return error;
    /* The OIDs given in place of the profile's, or the profile's: none when the EKU is left out. */
    oids.eku = (o->leave_out & CH_EXT_EXT_KEY_USAGE) ? NULL : o->eku_oids ? o->eku_oids : p->eku_oids;
    oids.policies = o->policies ? o->policies : p->policies;

    /* The issuer. */
    if (issuer == NULL) {
        if (!p->is_ca)
            return ch_error_set_field(CH_EPOLICY, "profile",
                                      "profile %s issues leaf certificates, which cannot be self-signed: "
                                      "give a signing CA", p->name);
        if (o->csr != NULL || !ch_key_public_equal(o->subject_key, issuer_key))
            return ch_error_set(CH_EINVAL, "a self-signed certificate must be signed with its own key");
    } else {
        uint32_t ku_flags = X509_get_key_usage(issuer);
        if (!ch_cert_is_ca(o->ca_cert))
            return ch_error_set_field(CH_EPOLICY, "ca_id", "issuer is not a CA: its certificate lacks "
                                      "BasicConstraints CA:TRUE");
        if ((X509_get_extension_flags(issuer) & EXFLAG_KUSAGE) && !(ku_flags & KU_KEY_CERT_SIGN))
            return ch_error_set_field(CH_EPOLICY, "ca_id", "issuer is not allowed to sign certificates: its "
                                      "Key Usage lacks keyCertSign");
        if (!ch_cert_matches_key(o->ca_cert, issuer_key))
            return ch_error_set_field(CH_EINVAL, "ca_key", "the issuer's private key does not belong to the "
                                      "issuer's certificate");
        issuer_na = ch_cert_not_after(o->ca_cert);
    }

    /* Path length (RFC 5280 4.2.1.9). */
    path_len = o->path_len == -2 ? p->path_len : o->path_len;
    if (o->path_len < -2)
        return ch_error_set_field(CH_EINVAL, "path_len", "path length must be 0 or more");
    if (p->is_ca && issuer != NULL) {
        long ipl = X509_get_pathlen(issuer);
        if (ipl == 0)
            return ch_error_set_field(CH_EPOLICY, "path_len",
                                      "path length exceeded: the issuing CA has path length 0 and cannot sign "
                                      "another CA");
        if (ipl > 0) {
            if (o->path_len == -2 && (path_len < 0 || path_len >= ipl))
                path_len = (int)ipl - 1;
            else if (path_len < 0 || path_len >= ipl)
                return ch_error_set_field(CH_EPOLICY, "path_len",
                                          "path length exceeded: the issuing CA allows at most %ld more CA "
                                          "level(s) below it, so the new CA's path length must be below %ld",
                                          ipl, ipl);
        }
    }

    /* The subject, its key and names. */
    if (req != NULL) {
        /* The same keys as a key given or made: a CSR was a way round the rule. */
        if ((error = x509_csr_key_allowed(req)) < 0)
            goto done;
        if (csr_requests_ca(req) && !p->is_ca)
            return ch_error_set_field(CH_EPOLICY, "csr",
                                      "the CSR asks for a CA certificate (BasicConstraints CA:TRUE) but profile %s "
                                      "issues leaf certificates", p->name);
        spki = x509_csr_pubkey(req);
        if (subject == NULL)
            subject = x509_csr_subject(req);
        if (sans == NULL && p->allow_sans) {
            if ((error = csr_sans(req, &req_sans, &san_count, &req_store)) < 0)
                goto done;
            sans = req_sans;
        }
    } else {
        spki = x509_key_xpub(o->subject_key);
    }
    /* None (built-in profiles) costs this one test. */
    if (p->key_types != 0 && (error = key_type_allowed(p, req, o->subject_key)) < 0)
        goto done;
    if (subject == NULL || X509_NAME_entry_count(subject) == 0) {
        error = ch_error_set_field(CH_EINVAL, "subject", "the subject is empty: give at least a common name");
        goto done;
    }
    if (san_count > 0 && !p->allow_sans) {
        error = ch_error_set_field(CH_EPOLICY, "sans", "profile %s does not take subject alternative names",
                                   p->name);
        goto done;
    }
    if (san_count > CH_MAX_SANS) {
        error = ch_error_set_field(CH_EINVAL, "sans", "more than %u subject alternative names", CH_MAX_SANS);
        goto done;
    }
    /* One name asked twice was written twice.  (A CSR's are signed as it has them.) */
    for (size_t i = 1; sans != req_sans && i < san_count; i++)
        for (size_t k = 0; k < i; k++)
            if (same_san(&sans[i], &sans[k])) {
                error = ch_error_set_field(CH_EINVAL, "sans", "%s:%.200s is given twice",
                                           sans[i].type == CH_SAN_DNS     ? "dns"
                                           : sans[i].type == CH_SAN_IP    ? "ip"
                                           : sans[i].type == CH_SAN_EMAIL ? "email"
                                           : sans[i].type == CH_SAN_UPN   ? "upn"
                                                                          : "uri",
                                           sans[i].value);
                goto done;
            }

    /* Validity (RFC 5280 4.1.2.5): within the issuer's. */
    if ((error = validity(&nb, &na, o, now, issuer != NULL ? issuer_na : INT64_MAX)) < 0)
        goto done;

    want_ku = o->key_usage;
    want_eku = o->ext_key_usage;
    if (req != NULL && o->csr_usages) {
        unsigned csr_ku, csr_eku;
        if ((error = ch_csr_usages(req, &csr_ku, &csr_eku)) < 0)
            goto done;
        want_ku = want_ku ? want_ku : csr_ku;
        want_eku = want_eku ? want_eku : csr_eku;
    }
    ku = (o->leave_out & CH_EXT_KEY_USAGE) ? 0 : want_ku ? want_ku : p->key_usage;
    eku = (o->leave_out & CH_EXT_EXT_KEY_USAGE) ? 0 : want_eku ? want_eku : p->ext_key_usage;
    if (ku != 0 && (error = x509_ku_check(&ku, spki, want_ku ? NULL : p->name)) < 0)
        goto done;
    if (p->is_ca && !(ku & CH_KU_KEY_CERT_SIGN)) {
        error = ch_error_set_field(CH_EPOLICY, "key_usage", "a CA certificate needs the keyCertSign key usage");
        goto done;
    }
    /* RFC 5280 4.2.1.3: keyCertSign only with CA:TRUE (a leaf that says it signs certificates
     * is refused by verifiers or, worse, taken at its word by lax ones); as profiles refuse. */
    if (!p->is_ca && (ku & (CH_KU_KEY_CERT_SIGN | CH_KU_CRL_SIGN))) {
        error = ch_error_set_field(CH_EPOLICY, "key_usage",
                                   "key_cert_sign and crl_sign make a CA, and this profile's certificates are not "
                                   "CAs: create CAs through the CA calls");
        goto done;
    }
    /* A TLS server certificate without names is refused by today's clients, which read no
     * common name: a common name that is a host name or an address becomes its one name, as
     * Vault's PKI does unless told not to.  Without an EKU the certificate serves any purpose,
     * and the profile's says what it is for. */
    if (san_count == 0 && !p->is_ca && p->allow_sans &&
        (((o->leave_out & CH_EXT_EXT_KEY_USAGE) ? p->ext_key_usage : eku) & CH_EKU_SERVER_AUTH) &&
        ch_name_get(&cn, subject, NID_commonName) == 0 && ch_san_parse(&cn_san, cn) == 0) {
        sans = &cn_san;
        san_count = 1;
    }

    /* The names as they would be signed (the CSR's too) against the profile's name policy;
     * none (built-in profiles) costs this one test.  A common name made the SAN is checked,
     * and refused, as the common name it is. */
    if (p->policy != NULL &&
        (error = ch_name_policy_check(p->policy, p->name, subject, sans == &cn_san ? NULL : sans,
                                      sans == &cn_san ? 0 : san_count, sans == req_sans)) < 0)
        goto done;

    /* Sign: Ed25519 signs the message itself and takes no digest (one asked for is said to
     * go unused, not dropped without a word). */
    if (ch_key_get_type(issuer_key) == CH_KEY_ED25519) {
        if (md != NULL) {
            error = ch_error_set_field(CH_EINVAL, "digest", "the issuing CA's key is Ed25519, which signs without a "
                                       "digest: leave digest out");
            goto done;
        }
    } else if (md == NULL && (error = ch_digest_parse(&md, "sha256")) < 0)
        goto done;
    if ((issued = calloc(1, sizeof *issued)) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    issued->not_before = nb;
    issued->not_after = na;
    issued->is_ca = p->is_ca;
    issued->serial_len = 16;
    if ((error = new_serial(issued->serial)) < 0 || (error = key_id(ski, spki)) < 0)
        goto done;
    if (issuer == NULL) {
        memcpy(aki, ski, sizeof ski);
        aki_len = sizeof ski;
    } else if (X509_get0_subject_key_id(issuer) != NULL &&
               (size_t)ASN1_STRING_length(X509_get0_subject_key_id(issuer)) <= sizeof aki) {
        /* RFC 5280 4.2.1.1: the issuer's own key identifier (an imported CA's may be of any
         * length; one longer than any seen in practice takes the computed one below) */
        const ASN1_OCTET_STRING *id = X509_get0_subject_key_id(issuer);
        aki_len = (size_t)ASN1_STRING_length(id);
        memcpy(aki, ASN1_STRING_get0_data(id), aki_len);
    } else if ((error = key_id(aki, X509_get_X509_PUBKEY(issuer))) < 0) {
        goto done;
    } else {
        aki_len = 20;
    }
    if ((error = encode_tbs(&der, &alg_at, issued, subject, issuer ? X509_get_subject_name(issuer) : subject, spki,
                            path_len, ku, eku, sans, san_count, o, ski, aki, aki_len, &oids)) < 0 ||
        (error = sign_tbs(&der, alg_at, issuer_key, md)) < 0 ||
        (error = issued_texts(issued, subject, issuer ? X509_get_subject_name(issuer) : subject,
                              issuer ? o->issuer_text : NULL, sans, san_count)) < 0)
        goto done;
    {
        size_t len;
        uint8_t *bytes = ch_buf_detach(&der, &len);
        error = x509_cert_from_issued(out, bytes, len, issued);
        issued = NULL;
    }
done:
    ch_buf_dispose(&der);
    x509_issued_free(issued);
    csr_sans_free(req_sans, req_store);
    free(cn);
    return error;
}
