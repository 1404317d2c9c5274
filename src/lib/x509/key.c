/*
 * Keys: generate, read, write and describe private and public keys.  A ch_key keeps its
 * SubjectPublicKeyInfo DER and its SHA-256 from the moment it is made, so that issuing and
 * matching never re-encode the key (OpenSSL 3.0 encoders and decoders take global locks).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "certhub/x509.h"
#include "x509/x509_internal.h"

/* A key generated here on an EC curve is kept as its scalar and point (`raw`) and becomes an
 * EVP_PKEY only when something asks for one (ch_key_pkey): issuing needs the point for the
 * certificate and both for the PKCS#8 that is sealed, and OpenSSL 3.0's EVP_PKEY_generate
 * cost twice the scalar multiplication itself (a key object made and looked up by name under
 * a global lock). */
struct ch_key {
    atomic_int refs;
    _Atomic(EVP_PKEY *) pkey;
    uint8_t *raw_priv;        /* OPENSSL_secure_malloc'd, raw_priv_len bytes (EC keys made here) */
    size_t raw_priv_len;
    uint8_t raw_pub[133];     /* the uncompressed point */
    size_t raw_pub_len;
    ch_key_type type;
    bool has_private;
    uint8_t *spki;
    size_t spki_len;
    X509_PUBKEY *xpub;
    uint8_t spki_sha256[32];
};

static const struct {
    const char *name;
    ch_key_type type;
} key_names[] = {
    {"rsa2048", CH_KEY_RSA2048}, {"rsa3072", CH_KEY_RSA3072}, {"rsa4096", CH_KEY_RSA4096},
    {"p256", CH_KEY_P256},       {"p384", CH_KEY_P384},       {"p521", CH_KEY_P521},
    {"ed25519", CH_KEY_ED25519},
};

#define ACCEPTED_KEYS "rsa2048, rsa3072, rsa4096, p256, p384, p521, ed25519"

int ch_key_type_parse(ch_key_type *out, const char *name)
{
    char norm[32];
    size_t n = 0;

    *out = CH_KEY_NONE;
    if (name == NULL)
        return ch_error_set_field(CH_EINVAL, "key_type", "key type is missing; accepted: " ACCEPTED_KEYS);
    /* Fold case and drop separators and an "ec" prefix: "EC-P256", "rsa-2048", "P-256". */
    for (const char *p = name; *p != '\0'; p++) {
        char c = *p;
        if (c == '-' || c == '_' || c == ' ')
            continue;
        if (n + 1 >= sizeof norm)
            break;
        norm[n++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    norm[n] = '\0';
    if (strncmp(norm, "ec", 2) == 0 && norm[2] == 'p')
        memmove(norm, norm + 2, strlen(norm + 2) + 1);
    if (strcmp(norm, "secp256r1") == 0 || strcmp(norm, "prime256v1") == 0)
        strcpy(norm, "p256");
    else if (strcmp(norm, "secp384r1") == 0)
        strcpy(norm, "p384");
    else if (strcmp(norm, "secp521r1") == 0)
        strcpy(norm, "p521");
    for (size_t i = 0; i < sizeof key_names / sizeof key_names[0]; i++) {
        if (strcmp(norm, key_names[i].name) == 0) {
            *out = key_names[i].type;
            return 0;
        }
    }
    return ch_error_set_field(CH_EINVAL, "key_type", "unknown key type \"%.64s\"; accepted: " ACCEPTED_KEYS,
                              name);
}

const char *ch_key_type_name(ch_key_type type)
{
    for (size_t i = 0; i < sizeof key_names / sizeof key_names[0]; i++)
        if (key_names[i].type == type)
            return key_names[i].name;
    return "";
}

void ch_key_types_describe(char *out, size_t size, unsigned mask)
{
    size_t used = 0;

    if (size == 0)
        return;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof key_names / sizeof key_names[0] && used < size; i++)
        if (mask & CH_KEY_TYPE_BIT(key_names[i].type))
            used += (size_t)snprintf(out + used, size - used, "%s%s", used ? ", " : "", key_names[i].name);
}

/* Decides the type of a key, refusing anything weaker than what certhub issues with. */
static int classify(ch_key_type *out, EVP_PKEY *pkey);

int x509_key_classify(ch_key_type *out, EVP_PKEY *pkey)
{
    return classify(out, pkey);
}

static int classify(ch_key_type *out, EVP_PKEY *pkey)
{
    char group[64];
    size_t glen = 0;
    int bits;

    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
        bits = EVP_PKEY_get_bits(pkey);
        if (bits < 2048)
            return ch_error_set(CH_EPOLICY,
                                "RSA key of %d bits is too weak: RSA keys must have at least 2048 bits",
                                bits);
        if (bits > 16384)
            return ch_error_set(CH_EPOLICY, "RSA key of %d bits is larger than the limit of 16384", bits);
        *out = bits >= 4096 ? CH_KEY_RSA4096 : bits >= 3072 ? CH_KEY_RSA3072 : CH_KEY_RSA2048;
        return 0;
    case EVP_PKEY_EC:
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           &glen) != 1) {
            ERR_clear_error();
            return ch_error_set(CH_EPOLICY, "EC key with explicit curve parameters is not accepted; "
                                            "accepted curves: P-256, P-384, P-521");
        }
        if (strcmp(group, "prime256v1") == 0)
            *out = CH_KEY_P256;
        else if (strcmp(group, "secp384r1") == 0)
            *out = CH_KEY_P384;
        else if (strcmp(group, "secp521r1") == 0)
            *out = CH_KEY_P521;
        else
            return ch_error_set(CH_EPOLICY, "EC curve %s is not accepted; accepted curves: P-256, P-384, P-521",
                                group);
        return 0;
    case EVP_PKEY_ED25519:
        *out = CH_KEY_ED25519;
        return 0;
    default:
        return ch_error_set(CH_EPOLICY, "%s keys are not accepted; accepted: RSA (2048 bits or more), "
                                        "EC P-256/P-384/P-521, Ed25519",
                            EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey) : "this kind of");
    }
}

/* Whether the EVP_PKEY holds its private half. */
static bool pkey_has_private(EVP_PKEY *pkey)
{
    BIGNUM *bn = NULL;
    size_t len = 0;
    bool has = false;

    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
        has = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_D, &bn) == 1;
        break;
    case EVP_PKEY_EC:
        has = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &bn) == 1;
        break;
    case EVP_PKEY_ED25519:
        has = EVP_PKEY_get_raw_private_key(pkey, NULL, &len) == 1 && len > 0;
        break;
    default:
        /* A kind certhub does not take (RSA-PSS, Ed448, DSA...): classify names it and what
         * is accepted; "this is a public key" said of an RSA-PSS private key misled. */
        has = true;
        break;
    }
    BN_clear_free(bn);
    ERR_clear_error();
    return has;
}

/* The EC curves certhub makes and reads keys on, and their groups (made once, read-only). */
static const struct {
    ch_key_type type;
    int nid;
    size_t len;               /* of the scalar */
} raw_curves[] = {
    {CH_KEY_P256, NID_X9_62_prime256v1, 32},
    {CH_KEY_P384, NID_secp384r1, 48},
    {CH_KEY_P521, NID_secp521r1, 66},
};
#define RAW_CURVES (sizeof raw_curves / sizeof raw_curves[0])
static EC_GROUP *raw_groups[RAW_CURVES];
static pthread_once_t raw_once = PTHREAD_ONCE_INIT;

static void raw_groups_make(void)
{
    for (size_t i = 0; i < RAW_CURVES; i++)
        raw_groups[i] = EC_GROUP_new_by_curve_name(raw_curves[i].nid);
    ERR_clear_error();
}

/* The index of type in raw_curves, or -1 (not an EC key type). */
static int raw_curve(ch_key_type type)
{
    for (size_t i = 0; i < RAW_CURVES; i++)
        if (raw_curves[i].type == type)
            return (int)i;
    return -1;
}

/* The group of raw_curves[i], or NULL when OpenSSL could not make it. */
static const EC_GROUP *raw_group(int i)
{
    pthread_once(&raw_once, raw_groups_make);
    return raw_groups[i];
}

/* Builds the X509_PUBKEY of an EC or Ed25519 key from its raw public key: no provider
 * encoder or decoder runs (they take global locks in OpenSSL 3.0), which keeps generating
 * keys in parallel fast.  Returns NULL when the key is of another kind. */
static X509_PUBKEY *xpub_from_point(const unsigned char *point, size_t plen, ch_key_type type)
{
    X509_PUBKEY *pub;
    unsigned char *bits;
    int c = raw_curve(type), curve = c >= 0 ? raw_curves[c].nid : NID_undef;

    if (c < 0 && type != CH_KEY_ED25519)
        return NULL;
    if ((pub = X509_PUBKEY_new()) == NULL || (bits = OPENSSL_memdup(point, plen)) == NULL) {
        X509_PUBKEY_free(pub);
        return NULL;
    }
    /* RFC 5480 2.1.1 (namedCurve parameters) and RFC 8410 3 (no parameters). */
    if (X509_PUBKEY_set0_param(pub, OBJ_nid2obj(curve != NID_undef ? NID_X9_62_id_ecPublicKey : NID_ED25519),
                               curve != NID_undef ? V_ASN1_OBJECT : V_ASN1_UNDEF,
                               curve != NID_undef ? OBJ_nid2obj(curve) : NULL, bits, (int)plen) != 1) {
        OPENSSL_free(bits);
        X509_PUBKEY_free(pub);
        return NULL;
    }
    return pub;
}

static X509_PUBKEY *xpub_from_raw(EVP_PKEY *pkey, ch_key_type type)
{
    unsigned char point[160];
    size_t plen = sizeof point;

    if (type == CH_KEY_ED25519) {
        if (EVP_PKEY_get_raw_public_key(pkey, point, &plen) != 1)
            return NULL;
    } else if (raw_curve(type) >= 0) {
        if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof point,
                                            &plen) != 1)
            return NULL;
    } else {
        return NULL;
    }
    return xpub_from_point(point, plen, type);
}

/* Gives k its SubjectPublicKeyInfo (der, OPENSSL_malloc'd, owned from now on, also on
 * failure) and the SHA-256 of it. */
static int key_set_spki(ch_key *k, unsigned char *der, size_t len)
{
    k->spki = der;
    k->spki_len = len;
    if (EVP_Digest(der, len, k->spki_sha256, NULL, x509_sha256(), NULL) != 1)
        return ch_error_ossl(CH_ECRYPTO, "EVP_Digest", "hashing the public key");
    return 0;
}

/* Takes ownership of pkey (also on failure). */
static int key_wrap(ch_key **out, EVP_PKEY *pkey, bool has_private)
{
    ch_key *k = NULL;
    unsigned char *der = NULL;
    const unsigned char *p;
    int len, error;

    *out = NULL;
    if ((k = calloc(1, sizeof *k)) == NULL) {
        EVP_PKEY_free(pkey);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    atomic_init(&k->refs, 1);
    atomic_init(&k->pkey, pkey);
    k->has_private = has_private;
    if ((error = classify(&k->type, pkey)) < 0)
        goto fail;
    if ((k->xpub = xpub_from_raw(pkey, k->type)) != NULL) {
        len = i2d_X509_PUBKEY(k->xpub, &der); /* plain ASN.1: no key encoder */
    } else {
        ERR_clear_error();
        len = i2d_PUBKEY(pkey, &der);
        p = der;
        if (len > 0 && (k->xpub = d2i_X509_PUBKEY(NULL, &p, len)) == NULL)
            len = -1;
    }
    if (len <= 0) {
        error = ch_error_ossl(CH_ECRYPTO, "i2d_PUBKEY", "encoding the public key");
        goto fail;
    }
    if ((error = key_set_spki(k, der, (size_t)len)) < 0)
        goto fail;
    *out = k;
    return 0;
fail:
    ch_key_free(k);
    return error;
}

const X509_PUBKEY *x509_key_xpub(const ch_key *key)
{
    return key->xpub;
}

/* EC keys are generated from a context kept per thread and per curve: a context made from
 * the curve's name per key costs an algorithm fetch and a group construction each time. */
#define KEYGEN_SLOTS 3
static pthread_key_t keygen_tls;
static pthread_once_t keygen_once = PTHREAD_ONCE_INIT;

static void keygen_free(void *p)
{
    EVP_PKEY_CTX **slots = p;

    for (int i = 0; i < KEYGEN_SLOTS; i++)
        EVP_PKEY_CTX_free(slots[i]);
    free(slots);
}

static void keygen_init(void)
{
    (void)pthread_key_create(&keygen_tls, keygen_free);
}

static EVP_PKEY *ec_generate(int slot, const char *curve)
{
    EVP_PKEY_CTX **slots;
    EVP_PKEY *pkey = NULL;

    pthread_once(&keygen_once, keygen_init);
    if ((slots = pthread_getspecific(keygen_tls)) == NULL) {
        if ((slots = calloc(KEYGEN_SLOTS, sizeof *slots)) == NULL)
            return NULL;
        if (pthread_setspecific(keygen_tls, slots) != 0) {
            free(slots);
            return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
        }
    }
    if (slots[slot] == NULL) {
        OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)curve, 0),
                                OSSL_PARAM_construct_end()};
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_CTX_set_params(ctx, params) != 1) {
            EVP_PKEY_CTX_free(ctx);
            return NULL;
        }
        slots[slot] = ctx;
    }
    if (EVP_PKEY_generate(slots[slot], &pkey) != 1) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return pkey;
}

/* An EC key: a scalar d uniformly in [1, n-1] from the private DRBG and Q = dG (EC_POINT_mul
 * on the generator is constant-time, as for OpenSSL's own key generation).  Returns 1 when
 * the curve takes the general path. */
static int ec_generate_raw(ch_key **out, ch_key_type type)
{
    const EC_GROUP *g = NULL;
    BIGNUM *d = NULL;
    EC_POINT *q = NULL;
    BN_CTX *bn = NULL;
    ch_key *k = NULL;
    int c = raw_curve(type), n, error = 0;
    size_t len = c >= 0 ? raw_curves[c].len : 0;
    unsigned char *der = NULL;

    if (c < 0 || (g = raw_group(c)) == NULL)
        return 1;
    if ((k = calloc(1, sizeof *k)) != NULL)
        atomic_init(&k->refs, 1); /* first, so that ch_key_free frees it on any failure */
    if (k == NULL || (k->raw_priv = OPENSSL_secure_malloc(len)) == NULL || (bn = BN_CTX_secure_new()) == NULL ||
        (d = BN_secure_new()) == NULL || (q = EC_POINT_new(g)) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    atomic_init(&k->pkey, NULL);
    k->type = type;
    k->has_private = true;
    k->raw_priv_len = len;
    do {
        if (BN_priv_rand_range_ex(d, EC_GROUP_get0_order(g), 0, bn) != 1) {
            error = ch_error_ossl(CH_ECRYPTO, "BN_priv_rand_range_ex", "generating a key");
            goto done;
        }
    } while (BN_is_zero(d));
    if (EC_POINT_mul(g, q, d, NULL, NULL, bn) != 1 || BN_bn2binpad(d, k->raw_priv, (int)len) != (int)len ||
        (k->raw_pub_len = EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, k->raw_pub, sizeof k->raw_pub,
                                             bn)) == 0) {
        error = ch_error_ossl(CH_ECRYPTO, "EC_POINT_mul", "generating a key");
        goto done;
    }
    if ((k->xpub = xpub_from_point(k->raw_pub, k->raw_pub_len, type)) == NULL ||
        (n = i2d_X509_PUBKEY(k->xpub, &der)) <= 0) {
        error = ch_error_ossl(CH_ECRYPTO, "i2d_X509_PUBKEY", "encoding the public key");
        goto done;
    }
    if ((error = key_set_spki(k, der, (size_t)n)) < 0)
        goto done;
    *out = k;
    k = NULL;
done:
    BN_clear_free(d);
    EC_POINT_free(q);
    BN_CTX_free(bn);
    ch_key_free(k);
    return error;
}

/* The EVP_PKEY of a key generated here, made on first use. */
static pthread_mutex_t pkey_lock = PTHREAD_MUTEX_INITIALIZER;

static EVP_PKEY *key_pkey(const ch_key *key)
{
    ch_key *k = (ch_key *)key;
    EVP_PKEY *pkey = atomic_load(&k->pkey);
    int c;
    const char *group;

    if (pkey != NULL || k->raw_pub_len == 0)
        return pkey;
    c = raw_curve(k->type);
    group = c >= 0 ? OBJ_nid2sn(raw_curves[c].nid) : NULL;
    pthread_mutex_lock(&pkey_lock);
    if ((pkey = atomic_load(&k->pkey)) == NULL && group != NULL) {
        BIGNUM *d = BN_secure_new();
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        OSSL_PARAM *params = NULL;
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        /* a public key read here has only its point */
        bool priv = k->raw_priv != NULL;
        if (d != NULL && bld != NULL && ctx != NULL &&
            (!priv || BN_bin2bn(k->raw_priv, (int)k->raw_priv_len, d) != NULL) &&
            OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) == 1 &&
            (!priv || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) == 1) &&
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, k->raw_pub, k->raw_pub_len) == 1 &&
            (params = OSSL_PARAM_BLD_to_param(bld)) != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
            EVP_PKEY_fromdata(ctx, &pkey, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) == 1)
            atomic_store(&k->pkey, pkey);
        else
            pkey = NULL;
        OSSL_PARAM_free(params); /* OSSL_PARAM_BLD_to_param's copy of the scalar is cleared */
        OSSL_PARAM_BLD_free(bld);
        BN_clear_free(d);
        EVP_PKEY_CTX_free(ctx);
        ERR_clear_error();
    }
    pthread_mutex_unlock(&pkey_lock);
    return pkey;
}

int ch_key_generate(ch_key **out, ch_key_type type)
{
    EVP_PKEY *pkey = NULL;

    *out = NULL;
    if (ch_init() < 0)
        return ch_error_last_code();
    if (ec_generate_raw(out, type) <= 0)
        return *out != NULL ? 0 : ch_error_last_code();
    switch (type) {
    case CH_KEY_RSA2048: pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048); break;
    case CH_KEY_RSA3072: pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072); break;
    case CH_KEY_RSA4096: pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096); break;
    case CH_KEY_P256: pkey = ec_generate(0, "P-256"); break;
    case CH_KEY_P384: pkey = ec_generate(1, "P-384"); break;
    case CH_KEY_P521: pkey = ec_generate(2, "P-521"); break;
    case CH_KEY_ED25519: pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"); break;
    default:
        return ch_error_set_field(CH_EINVAL, "key_type", "unknown key type; accepted: " ACCEPTED_KEYS);
    }
    if (pkey == NULL)
        return ch_error_ossl(CH_ECRYPTO, "EVP_PKEY_generate", "generating a key");
    return key_wrap(out, pkey, true);
}

int ch_key_from_pkey(ch_key **out, EVP_PKEY *pkey)
{
    *out = NULL;
    if (pkey == NULL)
        return ch_error_set(CH_EINVAL, "no key given");
    if (EVP_PKEY_up_ref(pkey) != 1)
        return ch_error_ossl(CH_ECRYPTO, "EVP_PKEY_up_ref", "taking a key");
    return key_wrap(out, pkey, pkey_has_private(pkey));
}

int x509_looks_pem(const uint8_t *data, size_t len)
{
    static const char tag[] = "-----BEGIN ";
    size_t n = len < 65536 ? len : 65536; /* a header comment before the block is fine */

    if (n < sizeof tag - 1)
        return 0;
    for (size_t i = 0; i + sizeof tag - 1 <= n; i++)
        if (data[i] == '-' && memcmp(data + i, tag, sizeof tag - 1) == 0)
            return 1;
    return 0;
}

/* An encrypted key must name its work factor before we spend it: check the PBE parameters
 * of every "ENCRYPTED PRIVATE KEY" block (PEM) or of the EncryptedPrivateKeyInfo (DER).
 * Sets *encrypted when the input is encrypted PKCS#8 or legacy-encrypted PEM. */
static int check_encryption(const uint8_t *data, size_t len, bool *encrypted)
{
    X509_SIG *sig = NULL;
    const X509_ALGOR *alg = NULL;
    const unsigned char *p;
    unsigned char *der = NULL;
    char *name = NULL, *header = NULL;
    long dlen = 0;
    BIO *bio = NULL;
    int error = 0;

    *encrypted = false;
    if (x509_looks_pem(data, len)) {
        if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL)
            return ch_error_set(CH_ENOMEM, "out of memory");
        while (PEM_read_bio(bio, &name, &header, &der, &dlen) == 1) {
            if (strcmp(name, "ENCRYPTED PRIVATE KEY") == 0) {
                *encrypted = true;
                p = der;
                if ((sig = d2i_X509_SIG(NULL, &p, dlen)) == NULL) {
                    error = ch_error_set(CH_EPARSE, "the ENCRYPTED PRIVATE KEY block is not valid PKCS#8");
                    goto done;
                }
                X509_SIG_get0(sig, &alg, NULL);
                if ((error = x509_pbe_check(alg, "private key")) < 0)
                    goto done;
                X509_SIG_free(sig);
                sig = NULL;
            } else if (strstr(header, "ENCRYPTED") != NULL) {
                *encrypted = true; /* legacy PEM encryption: one MD5 round, nothing to cap */
            }
            OPENSSL_free(name);
            OPENSSL_free(header);
            OPENSSL_clear_free(der, (size_t)dlen);
            name = header = NULL;
            der = NULL;
        }
        ERR_clear_error();
    } else {
        p = data;
        if ((sig = d2i_X509_SIG(NULL, &p, (long)len)) != NULL && p == data + len) {
            *encrypted = true;
            X509_SIG_get0(sig, &alg, NULL);
            error = x509_pbe_check(alg, "private key");
        }
        ERR_clear_error();
    }
done:
    X509_SIG_free(sig);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_clear_free(der, dlen > 0 ? (size_t)dlen : 0);
    BIO_free(bio);
    return error;
}

static int decode_key(EVP_PKEY **out, const uint8_t *data, size_t len, const char *password,
                      int selection)
{
    OSSL_DECODER_CTX *dctx = NULL;
    const unsigned char *p = data;
    size_t left = len;
    int ok = 0;

    *out = NULL;
    dctx = OSSL_DECODER_CTX_new_for_pkey(out, NULL, NULL, NULL, selection, NULL, NULL);
    if (dctx == NULL)
        return ch_error_ossl(CH_ECRYPTO, "OSSL_DECODER_CTX_new_for_pkey", "reading a key");
    /* An empty passphrase, not none: without one OpenSSL would try to prompt on a terminal. */
    if (OSSL_DECODER_CTX_set_passphrase(dctx, (const unsigned char *)(password ? password : ""),
                                        password ? strlen(password) : 0) != 1) {
        OSSL_DECODER_CTX_free(dctx);
        return ch_error_ossl(CH_ECRYPTO, "OSSL_DECODER_CTX_set_passphrase", "reading a key");
    }
    ok = OSSL_DECODER_from_data(dctx, &p, &left) == 1 && *out != NULL;
    OSSL_DECODER_CTX_free(dctx);
    ERR_clear_error();
    return ok ? 0 : -1;
}

/* Past an "EC PARAMETERS" block that leads a PEM key, as `openssl ecparam -genkey` writes
 * one before its "EC PRIVATE KEY": the decoder read that block alone and found no key. */
static void skip_ec_parameters(const uint8_t **data, size_t *len)
{
    static const char begin[] = "-----BEGIN EC PARAMETERS-----", end[] = "-----END EC PARAMETERS-----";
    const uint8_t *p = *data, *stop = *data + *len;

    while ((size_t)(stop - p) >= sizeof begin - 1 && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    if ((size_t)(stop - p) < sizeof begin - 1 || memcmp(p, begin, sizeof begin - 1) != 0)
        return;
    for (p += sizeof begin - 1; (size_t)(stop - p) >= sizeof end - 1; p++)
        if (*p == '-' && memcmp(p, end, sizeof end - 1) == 0) {
            p += sizeof end - 1;
            *len = (size_t)(stop - p);
            *data = p;
            return;
        }
}

int ch_key_parse(ch_key **out, const uint8_t *data, size_t len, const char *password)
{
    EVP_PKEY *pkey = NULL;
    bool encrypted = false;
    int error;

    *out = NULL;
    if (ch_init() < 0)
        return ch_error_last_code();
    if (data == NULL || len == 0)
        return ch_error_set(CH_EPARSE, "no private key: the input is empty");
    if (len > CH_MAX_UPLOAD_BYTES)
        return ch_error_set(CH_ETOOBIG, "private key file is larger than the limit of %u bytes",
                            CH_MAX_UPLOAD_BYTES);
    if (password != NULL && strlen(password) > CH_MAX_PASSWORD_LEN)
        return ch_error_set(CH_EINVAL, "password is longer than %u bytes", CH_MAX_PASSWORD_LEN);
    skip_ec_parameters(&data, &len);
    if ((error = check_encryption(data, len, &encrypted)) < 0)
        return error;
    /* old ciphers (DES, RC2) may have encrypted it */
    if (encrypted && (error = ch_init_legacy()) < 0)
        return error;
    if (decode_key(&pkey, data, len, password, EVP_PKEY_KEYPAIR) < 0) {
        if (encrypted && (password == NULL || *password == '\0'))
            return ch_error_set(CH_EPASSWORD, "private key is encrypted: a password is needed");
        if (encrypted)
            return ch_error_set(CH_EPASSWORD, "wrong password for private key");
        return ch_error_set(CH_EPARSE, "not a private key: expected PEM (PKCS#8, encrypted PKCS#8, "
                                       "\"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\") or DER PKCS#8");
    }
    if (!pkey_has_private(pkey)) {
        EVP_PKEY_free(pkey);
        return ch_error_set(CH_EPARSE, "this is a public key, but a private key is needed");
    }
    return key_wrap(out, pkey, true);
}

/* An EC public key on P-256, P-384 or P-521 with an uncompressed point, in the one DER
 * encoding a SubjectPublicKeyInfo has (RFC 5480), read as bytes: the point is checked to be
 * on its curve and kept raw, like a key generated here.  OpenSSL 3.0 builds an EVP_PKEY for
 * d2i_PUBKEY under a global lock, which cost more than issuing the certificate.  Returns 1
 * for any other input (d2i_PUBKEY reads it). */
static int ec_public_raw(ch_key **out, const uint8_t *der, size_t len)
{
    static const struct {
        ch_key_type type;
        uint8_t prefix[27];
        size_t prefix_len, point_len;
    } forms[] = {
        {CH_KEY_P256, {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
                       0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00}, 26, 65},
        {CH_KEY_P384, {0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05,
                       0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00}, 23, 97},
        {CH_KEY_P521, {0x30, 0x81, 0x9b, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                       0x05, 0x2b, 0x81, 0x04, 0x00, 0x23, 0x03, 0x81, 0x86, 0x00}, 25, 133},
    };
    const EC_GROUP *g = NULL;
    EC_POINT *q = NULL;
    unsigned char *copy = NULL;
    ch_key *k = NULL;
    size_t i;
    int error = 0;

    for (i = 0; i < sizeof forms / sizeof forms[0]; i++)
        if (len == forms[i].prefix_len + forms[i].point_len && memcmp(der, forms[i].prefix, forms[i].prefix_len) == 0 &&
            der[forms[i].prefix_len] == 0x04)
            break;
    if (i == sizeof forms / sizeof forms[0] || (g = raw_group(raw_curve(forms[i].type))) == NULL)
        return 1;
    if ((k = calloc(1, sizeof *k)) != NULL)
        atomic_init(&k->refs, 1); /* first, so that ch_key_free frees it on any failure */
    if (k == NULL || (q = EC_POINT_new(g)) == NULL || (copy = OPENSSL_memdup(der, len)) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    /* EC_POINT_oct2point refuses a point that is not on the curve. */
    if (EC_POINT_oct2point(g, q, der + forms[i].prefix_len, forms[i].point_len, NULL) != 1) {
        ERR_clear_error();
        error = ch_error_set(CH_EPARSE, "the public key's point is not on its curve");
        goto done;
    }
    atomic_init(&k->pkey, NULL);
    k->type = forms[i].type;
    memcpy(k->raw_pub, der + forms[i].prefix_len, forms[i].point_len);
    k->raw_pub_len = forms[i].point_len;
    error = key_set_spki(k, copy, len);
    copy = NULL; /* k's now */
    if (error < 0)
        goto done;
    if ((k->xpub = xpub_from_point(k->raw_pub, k->raw_pub_len, k->type)) == NULL) {
        error = ch_error_ossl(CH_ECRYPTO, "X509_PUBKEY_set0_param", "reading the public key");
        goto done;
    }
    *out = k;
    k = NULL;
done:
    OPENSSL_free(copy);
    EC_POINT_free(q);
    ch_key_free(k);
    return error;
}

/* One DER SubjectPublicKeyInfo that fills the input exactly.  d2i_PUBKEY takes OpenSSL's
 * per-type path; an OSSL_DECODER context would cost far more than the rest of an issuance
 * (it enumerates every decoder of every provider). */
static int pubkey_from_der(EVP_PKEY **out, const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)len);

    *out = NULL;
    ERR_clear_error();
    if (pkey == NULL)
        return -1;
    if (p != der + len) {
        EVP_PKEY_free(pkey);
        return -1;
    }
    *out = pkey;
    return 0;
}

int ch_key_parse_public(ch_key **out, const uint8_t *data, size_t len)
{
    EVP_PKEY *pkey = NULL;
    BIO *bio;
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long dlen = 0;
    int found = -1, raw = 1;

    *out = NULL;
    if (ch_init() < 0)
        return ch_error_last_code();
    if (data == NULL || len == 0)
        return ch_error_set(CH_EPARSE, "no public key: the input is empty");
    if (len > CH_MAX_UPLOAD_BYTES)
        return ch_error_set(CH_ETOOBIG, "public key file is larger than the limit of %u bytes",
                            CH_MAX_UPLOAD_BYTES);
    if (!x509_looks_pem(data, len)) {
        if ((raw = ec_public_raw(out, data, len)) > 0)
            found = pubkey_from_der(&pkey, data, len);
    } else if ((bio = BIO_new_mem_buf(data, (int)len)) != NULL) {
        /* The first "PUBLIC KEY" block; an encrypted private key is never tried, so no
         * KDF runs on a public-key path. */
        for (int blocks = 0; found < 0 && raw > 0 && blocks < (int)CH_MAX_PEM_OBJECTS &&
                             PEM_read_bio(bio, &name, &header, &der, &dlen) == 1;
             blocks++) {
            if (strcmp(name, "PUBLIC KEY") == 0 && (raw = ec_public_raw(out, der, (size_t)dlen)) > 0)
                found = pubkey_from_der(&pkey, der, (size_t)dlen);
            OPENSSL_free(name);
            OPENSSL_free(header);
            OPENSSL_free(der);
            name = header = NULL;
            der = NULL;
        }
        ERR_clear_error();
        BIO_free(bio);
    }
    if (raw <= 0) /* read as bytes by ec_public_raw (0), or refused by it */
        return raw;
    if (found < 0)
        return ch_error_set(CH_EPARSE, "not a public key: expected PEM \"PUBLIC KEY\" or DER "
                                       "SubjectPublicKeyInfo");
    return key_wrap(out, pkey, false);
}

static int bio_to_buf(ch_buf *out, BIO *bio)
{
    char *p;
    long n = BIO_get_mem_data(bio, &p);

    if (n < 0)
        return ch_error_set(CH_EINTERNAL, "no data written");
    return ch_buf_put(out, p, (size_t)n);
}

int ch_key_write_pem(ch_buf *out, const ch_key *key, const char *password)
{
    BIO *bio;
    int ok, error = 0;

    if (!key->has_private)
        return ch_error_set(CH_EINVAL, "the key has no private part to write");
    /* As every password taken (a key read, a keystore written) is held. */
    if (password != NULL && strlen(password) > CH_MAX_PASSWORD_LEN)
        return ch_error_set_field(CH_EINVAL, "password", "the password is longer than %u bytes", CH_MAX_PASSWORD_LEN);
    if ((bio = BIO_new(BIO_s_secmem())) == NULL && (bio = BIO_new(BIO_s_mem())) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    if (password != NULL && *password != '\0')
        /* PBES2: AES-256-CBC with a PBKDF2-HMAC-SHA256 key, OpenSSL 3's default PRF. */
        ok = PEM_write_bio_PKCS8PrivateKey(bio, key_pkey(key), EVP_aes_256_cbc(), NULL, 0, NULL,
                                           (void *)password);
    else
        ok = PEM_write_bio_PKCS8PrivateKey(bio, key_pkey(key), NULL, NULL, 0, NULL, NULL);
    if (ok != 1)
        error = ch_error_ossl(CH_ECRYPTO, "PEM_write_bio_PKCS8PrivateKey", "writing the private key");
    else
        error = bio_to_buf(out, bio);
    BIO_free(bio);
    return error;
}

/* PKCS#8 (RFC 5208) of EC keys (RFC 5915 inside) and Ed25519 keys (RFC 8410) written
 * directly: EVP_PKEY2PKCS8 runs a provider encoder whose set-up costs more than making the
 * key, under a global lock.  The bytes are what OpenSSL writes for the same key.  Returns 1
 * when the key is of another kind (RSA), for the caller to use OpenSSL's encoder. */
static int pkcs8_direct(ch_buf *out, const ch_key *key)
{
    static const uint8_t oid_ec[] = {0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
    static const uint8_t oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    static const uint8_t oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
    static const uint8_t oid_p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
    static const uint8_t oid_ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
    static const uint8_t version0[] = {0x02, 0x01, 0x00}, version1[] = {0x02, 0x01, 0x01};
    ch_buf inner = CH_BUF_INIT, alg = CH_BUF_INIT, body = CH_BUF_INIT, tmp = CH_BUF_INIT;
    uint8_t priv[66], point[134];
    size_t plen = 0, flen = 0, ptlen = 0;
    const uint8_t *curve = NULL;
    size_t curve_len = 0;
    BIGNUM *d = NULL;
    int error = 0;

    switch (key->type) {
    case CH_KEY_P256: curve = oid_p256; curve_len = sizeof oid_p256; flen = 32; break;
    case CH_KEY_P384: curve = oid_p384; curve_len = sizeof oid_p384; flen = 48; break;
    case CH_KEY_P521: curve = oid_p521; curve_len = sizeof oid_p521; flen = 66; break;
    case CH_KEY_ED25519: break;
    default: return 1;
    }
    if (curve != NULL) {
        if (key->raw_priv != NULL && key->raw_priv_len == flen && key->raw_pub_len <= sizeof point - 1) {
            memcpy(priv, key->raw_priv, flen);
            memcpy(point + 1, key->raw_pub, key->raw_pub_len);
            ptlen = key->raw_pub_len;
        } else if (EVP_PKEY_get_bn_param(key_pkey(key), OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1 ||
                   BN_bn2binpad(d, priv, (int)flen) != (int)flen ||
                   EVP_PKEY_get_octet_string_param(key_pkey(key), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point + 1,
                                                   sizeof point - 1, &ptlen) != 1) {
            error = 1; /* let OpenSSL's encoder try */
            goto done;
        }
        plen = flen;
        point[0] = 0x00; /* BIT STRING: no unused bits */
        /* ECPrivateKey ::= SEQUENCE { 1, privateKey OCTET STRING, [1] publicKey BIT STRING } */
        if ((error = ch_buf_put(&tmp, version1, sizeof version1)) < 0 ||
            (error = x509_der_tlv(&tmp, 0x04, priv, plen)) < 0 || (error = x509_der_tlv(&alg, 0x03, point, ptlen + 1)) < 0 ||
            (error = x509_der_tlv(&tmp, 0xa1, alg.data, alg.len)) < 0 ||
            (error = x509_der_tlv(&inner, 0x30, tmp.data, tmp.len)) < 0)
            goto done;
        alg.len = 0;
        if ((error = ch_buf_put(&alg, oid_ec, sizeof oid_ec)) < 0 || (error = ch_buf_put(&alg, curve, curve_len)) < 0)
            goto done;
    } else {
        plen = sizeof priv;
        if (EVP_PKEY_get_raw_private_key(key_pkey(key), priv, &plen) != 1 || plen != 32) {
            error = 1;
            goto done;
        }
        /* CurvePrivateKey ::= OCTET STRING */
        if ((error = x509_der_tlv(&inner, 0x04, priv, plen)) < 0 ||
            (error = ch_buf_put(&alg, oid_ed25519, sizeof oid_ed25519)) < 0)
            goto done;
    }
    /* PrivateKeyInfo ::= SEQUENCE { 0, AlgorithmIdentifier, privateKey OCTET STRING } */
    tmp.len = 0;
    if ((error = ch_buf_put(&body, version0, sizeof version0)) < 0 ||
        (error = x509_der_tlv(&body, 0x30, alg.data, alg.len)) < 0 ||
        (error = x509_der_tlv(&body, 0x04, inner.data, inner.len)) < 0 ||
        (error = x509_der_tlv(out, 0x30, body.data, body.len)) < 0)
        goto done;
done:
    ERR_clear_error();
    BN_clear_free(d);
    ch_wipe(priv, sizeof priv);
    ch_buf_dispose_secure(&inner);
    ch_buf_dispose_secure(&body);
    ch_buf_dispose_secure(&tmp);
    ch_buf_dispose(&alg);
    return error;
}

int ch_key_write_der(ch_buf *out, const ch_key *key)
{
    PKCS8_PRIV_KEY_INFO *p8;
    unsigned char *der = NULL;
    size_t start = out->len;
    int len, error;

    if (!key->has_private)
        return ch_error_set(CH_EINVAL, "the key has no private part to write");
    if ((error = pkcs8_direct(out, key)) <= 0)
        return error;
    out->len = start;
    if ((p8 = EVP_PKEY2PKCS8(key_pkey(key))) == NULL)
        return ch_error_ossl(CH_ECRYPTO, "EVP_PKEY2PKCS8", "writing the private key");
    len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (len <= 0)
        return ch_error_ossl(CH_ECRYPTO, "i2d_PKCS8_PRIV_KEY_INFO", "writing the private key");
    error = ch_buf_put(out, der, (size_t)len);
    OPENSSL_clear_free(der, (size_t)len);
    return error;
}

int ch_key_write_public_pem(ch_buf *out, const ch_key *key)
{
    /* PEM of the cached SubjectPublicKeyInfo: no re-encoding of the key. */
    return x509_pem_block(out, "PUBLIC KEY", key->spki, key->spki_len, "writing the public key");
}

bool ch_key_has_private(const ch_key *key)
{
    return key->has_private;
}

ch_key_type ch_key_get_type(const ch_key *key)
{
    return key->type;
}

EVP_PKEY *ch_key_pkey(const ch_key *key)
{
    return key_pkey(key);
}

const uint8_t *ch_key_spki_der(const ch_key *key, size_t *len)
{
    if (len)
        *len = key->spki_len;
    return key->spki;
}

const char *ch_key_algorithm(const ch_key *key)
{
    switch (key->type) {
    case CH_KEY_RSA2048: case CH_KEY_RSA3072: case CH_KEY_RSA4096: return "RSA";
    case CH_KEY_P256: case CH_KEY_P384: case CH_KEY_P521: return "EC";
    case CH_KEY_ED25519: return "Ed25519";
    default: return "";
    }
}

int ch_key_bits(const ch_key *key)
{
    switch (key->type) {
    case CH_KEY_P256: return 256;
    case CH_KEY_P384: return 384;
    case CH_KEY_P521: return 521;
    default: return EVP_PKEY_get_bits(key_pkey(key));
    }
}

const char *ch_key_curve(const ch_key *key)
{
    switch (key->type) {
    case CH_KEY_P256: return "P-256";
    case CH_KEY_P384: return "P-384";
    case CH_KEY_P521: return "P-521";
    default: return "";
    }
}

const uint8_t *ch_key_spki_sha256(const ch_key *key)
{
    return key->spki_sha256;
}

bool ch_key_public_equal(const ch_key *a, const ch_key *b)
{
    return a->spki_len == b->spki_len && memcmp(a->spki, b->spki, a->spki_len) == 0;
}

ch_key *ch_key_dup(const ch_key *key)
{
    ch_key *k = (ch_key *)key;

    if (k != NULL)
        atomic_fetch_add(&k->refs, 1);
    return k;
}

void ch_key_free(ch_key *key)
{
    if (key == NULL || atomic_fetch_sub(&key->refs, 1) != 1)
        return;
    EVP_PKEY_free(atomic_load(&key->pkey)); /* OpenSSL clears private key material as it frees it */
    OPENSSL_secure_clear_free(key->raw_priv, key->raw_priv_len);
    X509_PUBKEY_free(key->xpub);
    OPENSSL_free(key->spki);
    free(key);
}
