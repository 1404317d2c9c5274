/*
 * Certificate signing requests (PKCS#10, RFC 2986): create with a key, parse once, verify the
 * self-signature.  Like certificates, a parsed CSR keeps its DER and SubjectPublicKeyInfo so
 * issuing does not re-encode anything.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certhub/x509.h"
#include "x509/x509_internal.h"

/*
 * A CSR is read with templates of its own rather than d2i_X509_REQ: OpenSSL 3.0 decodes the
 * public key of an X509_REQ through its decoder framework, which is slow and takes global
 * locks (DESIGN.md performance notes).  Issuing needs only the subject, the requested
 * extensions and the SubjectPublicKeyInfo as bytes; verifying needs the key, which is built
 * from its parameters for EC and Ed25519 keys.  An X509_REQ is made only when asked for.
 */
typedef struct {
    X509_ALGOR *algor;
    ASN1_BIT_STRING *key;
} CSR_SPKI;

ASN1_SEQUENCE(CSR_SPKI) = {
    ASN1_SIMPLE(CSR_SPKI, algor, X509_ALGOR),
    ASN1_SIMPLE(CSR_SPKI, key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CSR_SPKI)

typedef struct {
    ASN1_INTEGER *version;
    X509_NAME *subject;
    CSR_SPKI *spki;
    STACK_OF(X509_ATTRIBUTE) *attributes;
} CSR_INFO;

ASN1_SEQUENCE(CSR_INFO) = {
    ASN1_SIMPLE(CSR_INFO, version, ASN1_INTEGER),
    ASN1_SIMPLE(CSR_INFO, subject, X509_NAME),
    ASN1_SIMPLE(CSR_INFO, spki, CSR_SPKI),
    ASN1_IMP_SET_OF_OPT(CSR_INFO, attributes, X509_ATTRIBUTE, 0),
} static_ASN1_SEQUENCE_END(CSR_INFO)

typedef struct {
    CSR_INFO *info;
    X509_ALGOR *sig_alg;
    ASN1_BIT_STRING *signature;
} CSR_LITE;

ASN1_SEQUENCE(CSR_LITE) = {
    ASN1_SIMPLE(CSR_LITE, info, CSR_INFO),
    ASN1_SIMPLE(CSR_LITE, sig_alg, X509_ALGOR),
    ASN1_SIMPLE(CSR_LITE, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CSR_LITE)

struct ch_csr {
    X509_REQ *req;          /* made on first use (ch_csr_req) */
    CSR_LITE *lite;
    X509_PUBKEY *xpub;      /* the SPKI's algorithm and bits, key not decoded */
    uint8_t *der;
    size_t der_len;
    size_t cri_off, cri_len; /* the signed CertificationRequestInfo, as received */
    uint8_t *spki;
    size_t spki_len;
};

#define NOT_A_CSR "not a certificate signing request: expected PEM \"CERTIFICATE REQUEST\" or DER PKCS#10"

static void lite_free(CSR_LITE *l)
{
    ASN1_item_free((ASN1_VALUE *)l, ASN1_ITEM_rptr(CSR_LITE));
}

/* Reads DER (copied) into a new ch_csr. */
static int csr_from_der(ch_csr **out, const uint8_t *der, size_t len)
{
    const unsigned char *p = der, *q;
    ch_csr *c;
    long inner_len;
    int tag, cls;
    void *param = NULL;
    const void *pval;
    int ptype;
    unsigned char *spki = NULL;
    int slen;

    *out = NULL;
    if (len > LONG_MAX)
        return ch_error_set(CH_ETOOBIG, "CSR is too large");
    if ((c = calloc(1, sizeof *c)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    c->lite = (CSR_LITE *)ASN1_item_d2i(NULL, &p, (long)len, ASN1_ITEM_rptr(CSR_LITE));
    if (c->lite == NULL) {
        ERR_clear_error();
        ch_csr_free(c);
        return ch_error_set(CH_EPARSE, NOT_A_CSR);
    }
    if (p != der + len) {
        ch_csr_free(c);
        return ch_error_set(CH_EPARSE, "%zu unexpected bytes after the end of the DER CSR", (size_t)(der + len - p));
    }
    /* The signed part is the first element of the outer SEQUENCE, byte for byte. */
    q = der;
    if (ASN1_get_object(&q, &inner_len, &tag, &cls, (long)len) & 0x80) {
        ch_csr_free(c);
        return ch_error_set(CH_EPARSE, NOT_A_CSR);
    }
    c->cri_off = (size_t)(q - der);
    p = q;
    if (ASN1_get_object(&q, &inner_len, &tag, &cls, (long)(len - c->cri_off)) & 0x80) {
        ch_csr_free(c);
        return ch_error_set(CH_EPARSE, NOT_A_CSR);
    }
    c->cri_len = (size_t)(q - p) + (size_t)inner_len;
    if ((c->der = OPENSSL_memdup(der, len)) == NULL || (c->xpub = X509_PUBKEY_new()) == NULL) {
        ch_csr_free(c);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    c->der_len = len;
    X509_ALGOR_get0(NULL, &ptype, &pval, c->lite->info->spki->algor);
    if (ptype == V_ASN1_OBJECT)
        param = OBJ_dup(pval);
    else if (ptype == V_ASN1_SEQUENCE)
        param = ASN1_STRING_dup(pval);
    else if (ptype != V_ASN1_NULL)
        ptype = V_ASN1_UNDEF;
    {
        const ASN1_BIT_STRING *k = c->lite->info->spki->key;
        unsigned char *bits = k->length > 0 ? OPENSSL_memdup(k->data, (size_t)k->length) : NULL;
        if (bits == NULL ||
            X509_PUBKEY_set0_param(c->xpub, OBJ_dup(c->lite->info->spki->algor->algorithm), ptype, param, bits,
                                   k->length) != 1) {
            OPENSSL_free(bits);
            if (ptype == V_ASN1_OBJECT)
                ASN1_OBJECT_free(param);
            else if (ptype == V_ASN1_SEQUENCE)
                ASN1_STRING_free(param);
            ERR_clear_error();
            ch_csr_free(c);
            return ch_error_set(CH_EPARSE, "the CSR's public key cannot be read");
        }
    }
    if ((slen = i2d_X509_PUBKEY(c->xpub, &spki)) <= 0) {
        ERR_clear_error();
        ch_csr_free(c);
        return ch_error_set(CH_EPARSE, "the CSR's public key cannot be read");
    }
    c->spki = spki;
    c->spki_len = (size_t)slen;
    *out = c;
    return 0;
}

/* Takes ownership of req. */
static int csr_wrap(ch_csr **out, X509_REQ *req)
{
    unsigned char *der = NULL;
    int len, error;

    *out = NULL;
    if ((len = i2d_X509_REQ(req, &der)) <= 0) {
        X509_REQ_free(req);
        return ch_error_ossl(CH_EPARSE, "i2d_X509_REQ", "encoding the CSR");
    }
    error = csr_from_der(out, der, (size_t)len);
    OPENSSL_free(der);
    if (error < 0)
        X509_REQ_free(req);
    else
        (*out)->req = req;
    return error;
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
        } else if (sans[i].type == CH_SAN_UPN) {
            ASN1_TYPE *v = ASN1_TYPE_new();
            ASN1_UTF8STRING *u = ASN1_UTF8STRING_new();
            ASN1_OBJECT *oid = OBJ_nid2obj(NID_ms_upn);
            if (v == NULL || u == NULL || oid == NULL || ASN1_STRING_set(u, sans[i].value, (int)strlen(sans[i].value)) != 1) {
                ASN1_TYPE_free(v);
                ASN1_UTF8STRING_free(u);
                GENERAL_NAME_free(gn);
                goto nomem;
            }
            ASN1_TYPE_set(v, V_ASN1_UTF8STRING, u);
            if (GENERAL_NAME_set0_othername(gn, oid, v) != 1) {
                ASN1_TYPE_free(v);
                GENERAL_NAME_free(gn);
                goto nomem;
            }
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

/* The Basic Constraints, Key Usage and Extended Key Usage a CSR asks for, into exts: written
 * as issuing writes them into a certificate, each read back as an extension. */
static int add_usage_exts(STACK_OF(X509_EXTENSION) *exts, const ch_csr_opts *opts)
{
    ch_buf der = CH_BUF_INIT;
    const uint8_t *p, *end;
    int error = 0;

    if ((opts->ca && (error = x509_ext_basic_constraints(&der, true, opts->path_len, true)) < 0) ||
        (opts->key_usage != 0 && (error = x509_ext_key_usage(&der, opts->key_usage, true)) < 0) ||
        (opts->ext_key_usage != 0 && (error = x509_ext_ext_key_usage(&der, opts->ext_key_usage, NULL, false)) < 0)) {
        ch_buf_dispose(&der);
        return error;
    }
    /* (nothing asked: der holds no block, and NULL + 0 is undefined) */
    for (p = der.data, end = der.data ? der.data + der.len : NULL; error == 0 && p < end;) {
        X509_EXTENSION *x = d2i_X509_EXTENSION(NULL, &p, (long)(end - p));
        if (x == NULL || sk_X509_EXTENSION_push(exts, x) <= 0) {
            X509_EXTENSION_free(x);
            error = ch_error_ossl(CH_ECRYPTO, "d2i_X509_EXTENSION", "building the CSR's extensions");
        }
    }
    ch_buf_dispose(&der);
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
    /* What no CA would sign as asked (RFC 5280 4.2.1.3): keyCertSign is a CA's, and a CA's Key
     * Usage holds it; encipherOnly and decipherOnly narrow keyAgreement. */
    if (opts->key_usage != 0 && opts->ca && !(opts->key_usage & CH_KU_KEY_CERT_SIGN)) {
        error = ch_error_set_field(CH_EINVAL, "key_usage", "a CA's Key Usage needs key_cert_sign (with crl_sign as a "
                                   "rule): a CA without it signs no certificate");
        goto done;
    }
    if (!opts->ca && (opts->key_usage & CH_KU_KEY_CERT_SIGN)) {
        error = ch_error_set_field(CH_EINVAL, "key_usage", "key_cert_sign is a CA's: ask for a CA (ca) as well, or "
                                   "leave it out");
        goto done;
    }
    if ((opts->key_usage & (CH_KU_ENCIPHER_ONLY | CH_KU_DECIPHER_ONLY)) && !(opts->key_usage & CH_KU_KEY_AGREEMENT)) {
        error = ch_error_set_field(CH_EINVAL, "key_usage", "encipher_only and decipher_only narrow key_agreement: "
                                   "ask for key_agreement with them");
        goto done;
    }
    if (opts->key_usage != 0) {
        unsigned ku = opts->key_usage;
        if ((error = x509_ku_check(&ku, x509_key_xpub(key), NULL)) < 0)
            goto done;
    }
    if (opts->san_count > 0 || opts->key_usage != 0 || opts->ext_key_usage != 0 || opts->ca) {
        if ((exts = sk_X509_EXTENSION_new_null()) == NULL) {
            error = ch_error_set(CH_ENOMEM, "out of memory");
            goto done;
        }
        if (opts->san_count > 0 && (error = add_sans_ext(exts, opts->sans, opts->san_count)) < 0)
            goto done;
        if ((error = add_usage_exts(exts, opts)) < 0)
            goto done;
        if (X509_REQ_add_extensions(req, exts) != 1) {
            error = ch_error_ossl(CH_ECRYPTO, "X509_REQ_add_extensions", "building the CSR");
            goto done;
        }
    }
    /* Ed25519 signs without a digest: one asked for is said to go unused (as issuing says it),
     * not dropped without a word. */
    if (ch_key_get_type(key) == CH_KEY_ED25519) {
        if (md != NULL) {
            error = ch_error_set_field(CH_EINVAL, "digest", "the key is Ed25519, which signs without a digest: leave "
                                       "digest out");
            goto done;
        }
    } else if (md == NULL && (error = ch_digest_parse(&md, "sha256")) < 0) {
        goto done;
    }
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

/* The curves whose keys are built from a template (below), and their templates. */
static const int curve_nids[] = {NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1};
static EVP_PKEY *curve_params[sizeof curve_nids / sizeof curve_nids[0]];
static pthread_once_t curve_once = PTHREAD_ONCE_INIT;

/* Each thread's keys for checking CSR signatures, one per curve above, the point set anew for
 * each CSR: a key made for every CSR cost a copy of its curve's group (36,000 instructions of
 * the 1,636,000 of a certificate from a CSR, callgrind).  With each key, a verification
 * context set up once: EVP_DigestVerifyInit made a context and looked up the signature
 * algorithm for every CSR (3 % of certhubd's CPU issuing from CSRs, perf).  The context holds
 * the key object whose point is replaced, so it checks against the CSR's point.  Freed when
 * the thread ends. */
struct verify_slot {
    EVP_PKEY *key;
    EVP_PKEY_CTX *ctx; /* EVP_PKEY_verify_init done; NULL until first used */
};
static pthread_key_t verify_keys;
static bool verify_keys_ok;

static void verify_keys_free(void *p)
{
    struct verify_slot *slots = p;

    for (size_t i = 0; i < sizeof curve_nids / sizeof curve_nids[0]; i++) {
        EVP_PKEY_CTX_free(slots[i].ctx);
        EVP_PKEY_free(slots[i].key);
    }
    free(slots);
}

static void curve_params_make(void)
{
    verify_keys_ok = pthread_key_create(&verify_keys, verify_keys_free) == 0;
    for (size_t i = 0; i < sizeof curve_nids / sizeof curve_nids[0]; i++) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        OSSL_PARAM params[] = {
            OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)OBJ_nid2sn(curve_nids[i]), 0),
            OSSL_PARAM_END,
        };
        if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
            EVP_PKEY_fromdata(ctx, &curve_params[i], EVP_PKEY_KEY_PARAMETERS, params) != 1)
            curve_params[i] = NULL; /* keys of this curve take the general path */
        EVP_PKEY_CTX_free(ctx);
    }
    ERR_clear_error();
}

/* This thread's slot of curve i (see verify_keys), its key made on first use; NULL if it
 * cannot be. */
static struct verify_slot *thread_curve_slot(size_t i)
{
    struct verify_slot *slots;

    if (!verify_keys_ok)
        return NULL;
    slots = pthread_getspecific(verify_keys);
    if (slots == NULL) {
        if ((slots = calloc(sizeof curve_nids / sizeof curve_nids[0], sizeof *slots)) == NULL)
            return NULL;
        if (pthread_setspecific(verify_keys, slots) != 0) {
            free(slots);
            return NULL;
        }
    }
    if (slots[i].key == NULL &&
        ((slots[i].key = EVP_PKEY_new()) == NULL || EVP_PKEY_copy_parameters(slots[i].key, curve_params[i]) != 1)) {
        EVP_PKEY_free(slots[i].key);
        slots[i].key = NULL;
        return NULL;
    }
    return &slots[i];
}

/* The key's algorithm (its NID, which is its EVP_PKEY id) and, for an EC key on a named curve,
 * the curve's NID (NID_undef otherwise), read from the SubjectPublicKeyInfo's fields. */
static int spki_key_id(const CSR_SPKI *k, int *curve)
{
    int nid = OBJ_obj2nid(k->algor->algorithm), ptype;
    const void *pval;

    *curve = NID_undef;
    if (nid == NID_X9_62_id_ecPublicKey) {
        X509_ALGOR_get0(NULL, &ptype, &pval, k->algor);
        if (ptype == V_ASN1_OBJECT)
            *curve = OBJ_obj2nid(pval);
    }
    return nid;
}

/* The CSR's key built from its parameters (EC named curves, Ed25519), or NULL when that
 * takes the general decoder.  An EC key is this thread's key of its curve with the point
 * set (*owned false: not to be freed; *slot its slot); building it from the group's name each
 * time (EVP_PKEY_fromdata) cost a fifth of a verification. */
static EVP_PKEY *pkey_from_params(const CSR_SPKI *k, bool *owned, struct verify_slot **slot)
{
    int curve, nid = spki_key_id(k, &curve);
    struct verify_slot *vs;

    *owned = true;
    *slot = NULL;
    if (nid == NID_ED25519)
        return EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, k->key->data, (size_t)k->key->length);
    if (nid != NID_X9_62_id_ecPublicKey || curve == NID_undef)
        return NULL;
    pthread_once(&curve_once, curve_params_make);
    for (size_t i = 0; i < sizeof curve_nids / sizeof curve_nids[0]; i++) {
        if (curve != curve_nids[i] || curve_params[i] == NULL)
            continue;
        /* EVP_PKEY_set1_encoded_public_key refuses a point that is not on the curve. */
        if ((vs = thread_curve_slot(i)) == NULL ||
            EVP_PKEY_set1_encoded_public_key(vs->key, k->key->data, (size_t)k->key->length) != 1)
            return NULL;
        *owned = false;
        *slot = vs;
        return vs->key;
    }
    return NULL;
}

int ch_csr_verify(const ch_csr *csr)
{
    const CSR_LITE *l = csr->lite;
    int md_nid, pk_nid, r = -1;
    EVP_PKEY *pkey = NULL;
    bool owned = true;
    struct verify_slot *slot = NULL;
    EVP_MD_CTX *mctx = NULL;
    const EVP_MD *md = NULL;

    /* The common signatures (ECDSA with SHA-2, Ed25519) are checked here; RSA, RSA-PSS and
     * anything else go through X509_REQ_verify. */
    if (OBJ_find_sigid_algs(OBJ_obj2nid(l->sig_alg->algorithm), &md_nid, &pk_nid) == 1 &&
        (l->signature->flags & 0x07) == 0 && (pk_nid == NID_ED25519 || pk_nid == NID_X9_62_id_ecPublicKey) &&
        (pkey = pkey_from_params(l->info->spki, &owned, &slot)) != NULL) {
        unsigned char hash[EVP_MAX_MD_SIZE];
        unsigned int hlen;
        if (md_nid == NID_sha256 || md_nid == NID_sha384 || md_nid == NID_sha512)
            ch_digest_parse(&md, OBJ_nid2sn(md_nid));
        if (slot != NULL && slot->ctx == NULL && (slot->ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) != NULL &&
            EVP_PKEY_verify_init(slot->ctx) != 1) {
            EVP_PKEY_CTX_free(slot->ctx);
            slot->ctx = NULL; /* this thread's CSRs of the curve take EVP_DigestVerify */
        }
        if (md != NULL && slot != NULL && slot->ctx != NULL) /* ECDSA over the hash of the signed part */
            r = EVP_Digest(csr->der + csr->cri_off, csr->cri_len, hash, &hlen, md, NULL) == 1
                    ? EVP_PKEY_verify(slot->ctx, l->signature->data, (size_t)l->signature->length, hash, hlen)
                    : -1;
        else if ((md != NULL || pk_nid == NID_ED25519) && (mctx = EVP_MD_CTX_new()) != NULL &&
                 EVP_DigestVerifyInit(mctx, NULL, pk_nid == NID_ED25519 ? NULL : md, NULL, pkey) == 1)
            r = EVP_DigestVerify(mctx, l->signature->data, (size_t)l->signature->length, csr->der + csr->cri_off,
                                 csr->cri_len);
        EVP_MD_CTX_free(mctx);
        if (owned)
            EVP_PKEY_free(pkey);
    } else {
        X509_REQ *req = ch_csr_req(csr);
        EVP_PKEY *k = req ? X509_REQ_get0_pubkey(req) : NULL;
        r = k != NULL ? X509_REQ_verify(req, k) : -1;
    }
    ERR_clear_error();
    if (r != 1)
        return ch_error_set_field(CH_EVERIFY, "csr", "CSR signature does not verify");
    return 0;
}

X509_REQ *ch_csr_req(const ch_csr *csr)
{
    ch_csr *c = (ch_csr *)csr; /* made once, on first use; a ch_csr is used by one thread */
    const unsigned char *p = c->der;

    if (c->req == NULL && (c->req = d2i_X509_REQ(NULL, &p, (long)c->der_len)) == NULL)
        ERR_clear_error();
    return c->req;
}

int ch_csr_key_id(const ch_csr *csr, int *curve)
{
    return spki_key_id(csr->lite->info->spki, curve);
}

const X509_NAME *x509_csr_subject(const ch_csr *csr)
{
    return csr->lite->info->subject;
}

int x509_csr_key_allowed(const ch_csr *csr)
{
    int curve, nid = ch_csr_key_id(csr, &curve), error;
    X509_REQ *req;
    EVP_PKEY *k;
    ch_key_type t;

    /* The common keys judged from the SPKI's algorithm alone (decoding an EC key through
     * OpenSSL's decoders is what issuing from a CSR avoids). */
    if (nid == NID_ED25519)
        return 0;
    if (nid == NID_X9_62_id_ecPublicKey) {
        if (curve == NID_X9_62_prime256v1 || curve == NID_secp384r1 || curve == NID_secp521r1)
            return 0;
        return ch_error_set_field(CH_EPOLICY, "csr", "the CSR's key is on EC curve %s, which is not accepted; accepted "
                                  "curves: P-256, P-384, P-521", curve != NID_undef ? OBJ_nid2sn(curve) : "(explicit parameters)");
    }
    if ((req = ch_csr_req(csr)) == NULL || (k = X509_REQ_get0_pubkey(req)) == NULL) {
        ERR_clear_error();
        return ch_error_set_field(CH_EPARSE, "csr", "the CSR's public key cannot be read");
    }
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA_PSS) {
        int bits = EVP_PKEY_get_bits(k);
        if (bits >= 2048 && bits <= 16384)
            return 0;
        return ch_error_set_field(CH_EPOLICY, "csr", "the CSR's RSA-PSS key of %d bits is not accepted: RSA keys must "
                                  "have 2048 to 16384 bits", bits);
    }
    if ((error = x509_key_classify(&t, k)) < 0)
        return ch_error_set_field(error, "csr", "the CSR's key: %s", ch_error_last());
    return 0;
}

int x509_csr_key_type(ch_key_type *out, const ch_csr *csr)
{
    int curve, nid = ch_csr_key_id(csr, &curve), bits;
    X509_REQ *req;
    EVP_PKEY *k;

    *out = CH_KEY_NONE;
    if (nid == NID_ED25519) {
        *out = CH_KEY_ED25519;
        return 0;
    }
    if (nid == NID_X9_62_id_ecPublicKey) {
        *out = curve == NID_X9_62_prime256v1 ? CH_KEY_P256
               : curve == NID_secp384r1      ? CH_KEY_P384
               : curve == NID_secp521r1      ? CH_KEY_P521
                                             : CH_KEY_NONE;
        return 0;
    }
    /* An RSA key's size needs the key decoded: paid only by a profile that lists key types. */
    if ((req = ch_csr_req(csr)) == NULL || (k = X509_REQ_get0_pubkey(req)) == NULL) {
        ERR_clear_error();
        return ch_error_set_field(CH_EPARSE, "csr", "the CSR's public key cannot be read");
    }
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA || EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA_PSS) {
        bits = EVP_PKEY_get_bits(k);
        *out = bits >= 4096 ? CH_KEY_RSA4096 : bits >= 3072 ? CH_KEY_RSA3072 : bits >= 2048 ? CH_KEY_RSA2048 : CH_KEY_NONE;
    }
    return 0;
}

const X509_PUBKEY *x509_csr_pubkey(const ch_csr *csr)
{
    return csr->xpub;
}

STACK_OF(X509_EXTENSION) *x509_csr_extensions(const ch_csr *csr)
{
    const STACK_OF(X509_ATTRIBUTE) *attrs = csr->lite->info->attributes;
    int i = attrs ? X509at_get_attr_by_NID(attrs, NID_ext_req, -1) : -1;
    X509_ATTRIBUTE *attr;
    ASN1_TYPE *t;
    const unsigned char *p;

    if (i < 0 && attrs)
        i = X509at_get_attr_by_NID(attrs, NID_ms_ext_req, -1);
    if (i < 0 || (attr = X509at_get_attr(attrs, i)) == NULL || (t = X509_ATTRIBUTE_get0_type(attr, 0)) == NULL ||
        t->type != V_ASN1_SEQUENCE)
        return NULL;
    p = t->value.sequence->data;
    return d2i_X509_EXTENSIONS(NULL, &p, t->value.sequence->length);
}

const uint8_t *ch_csr_spki_der(const ch_csr *csr, size_t *len)
{
    if (len)
        *len = csr->spki_len;
    return csr->spki;
}

int ch_csr_public_key(ch_key **out, const ch_csr *csr)
{
    X509_REQ *req = ch_csr_req(csr);
    EVP_PKEY *pkey = req ? X509_REQ_get0_pubkey(req) : NULL;

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
    lite_free(csr->lite);
    X509_PUBKEY_free(csr->xpub);
    OPENSSL_free(csr->der);
    OPENSSL_free(csr->spki);
    free(csr);
}
