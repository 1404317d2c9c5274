/*
 * Issuing certificates.  This is the hot path of the service: the certificate is built from
 * OpenSSL's ASN.1 types directly (no config-string parsing), the subject's public key is
 * copied field by field from an already decoded SubjectPublicKeyInfo (OpenSSL 3.0 decodes
 * and encodes keys under global locks, which would keep the second core idle), and digests
 * are fetched once.  Rules from RFC 5280: 4.1.2.2 (serial), 4.1.2.5 (validity within the
 * issuer's), 4.2.1.1/4.2.1.2 (AKI/SKI), 4.2.1.9 (basic constraints, path length).
 */
#include <arpa/inet.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "certhub/x509.h"
#include "x509/x509_internal.h"

/* Copies a SubjectPublicKeyInfo into the certificate without decoding the key. */
static int copy_spki(X509 *x, const X509_PUBKEY *src)
{
    ASN1_OBJECT *obj;
    const unsigned char *pk;
    const void *pval;
    X509_ALGOR *alg;
    void *param = NULL;
    unsigned char *bits;
    int pklen, ptype;

    if (X509_PUBKEY_get0_param(&obj, &pk, &pklen, &alg, src) != 1 || pklen <= 0)
        return ch_error_ossl(CH_EINVAL, "X509_PUBKEY_get0_param", "reading the subject public key");
    X509_ALGOR_get0(NULL, &ptype, &pval, alg);
    if (ptype == V_ASN1_OBJECT)
        param = OBJ_dup(pval);
    else if (ptype == V_ASN1_SEQUENCE)
        param = ASN1_STRING_dup(pval);
    else if (ptype != V_ASN1_NULL)
        ptype = V_ASN1_UNDEF;
    if ((ptype == V_ASN1_OBJECT || ptype == V_ASN1_SEQUENCE) && param == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    if ((bits = OPENSSL_memdup(pk, (size_t)pklen)) == NULL) {
        if (ptype == V_ASN1_OBJECT)
            ASN1_OBJECT_free(param);
        else if (ptype == V_ASN1_SEQUENCE)
            ASN1_STRING_free(param);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), OBJ_dup(obj), ptype, param, bits, pklen) != 1) {
        OPENSSL_free(bits);
        return ch_error_ossl(CH_ECRYPTO, "X509_PUBKEY_set0_param", "setting the subject public key");
    }
    return 0;
}

/* RFC 5280 4.2.1.2 (1): the SHA-1 of the subjectPublicKey BIT STRING's value. */
static int key_id(ASN1_OCTET_STRING **out, const X509_PUBKEY *pub)
{
    const unsigned char *pk;
    unsigned char md[20];
    int pklen;

    *out = NULL;
    if (X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, pub) != 1 ||
        EVP_Digest(pk, (size_t)pklen, md, NULL, x509_sha1(), NULL) != 1)
        return ch_error_ossl(CH_ECRYPTO, "EVP_Digest", "computing the key identifier");
    if ((*out = ASN1_OCTET_STRING_new()) == NULL || ASN1_OCTET_STRING_set(*out, md, sizeof md) != 1)
        return ch_error_set(CH_ENOMEM, "out of memory");
    return 0;
}

static int add_ext(X509 *x, int nid, void *value, int critical)
{
    if (X509_add1_ext_i2d(x, nid, value, critical, X509V3_ADD_APPEND) != 1)
        return ch_error_ossl(CH_ECRYPTO, "X509_add1_ext_i2d", OBJ_nid2sn(nid));
    return 0;
}

static int add_basic_constraints(X509 *x, bool ca, int path_len)
{
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    int error;

    if (bc == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    bc->ca = ca ? 0xFF : 0;
    if (ca && path_len >= 0) {
        if ((bc->pathlen = ASN1_INTEGER_new()) == NULL || ASN1_INTEGER_set(bc->pathlen, path_len) != 1) {
            BASIC_CONSTRAINTS_free(bc);
            return ch_error_set(CH_ENOMEM, "out of memory");
        }
    }
    /* RFC 5280 4.2.1.9: critical in CA certificates; we mark it critical in all. */
    error = add_ext(x, NID_basic_constraints, bc, 1);
    BASIC_CONSTRAINTS_free(bc);
    return error;
}

static int add_key_usage(X509 *x, unsigned ku)
{
    ASN1_BIT_STRING *bits = ASN1_BIT_STRING_new();
    int error;

    if (bits == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    for (int i = 0; i < 9; i++)
        if ((ku & (1u << i)) && ASN1_BIT_STRING_set_bit(bits, i, 1) != 1) {
            ASN1_BIT_STRING_free(bits);
            return ch_error_set(CH_ENOMEM, "out of memory");
        }
    error = add_ext(x, NID_key_usage, bits, 1); /* RFC 5280 4.2.1.3: SHOULD be critical */
    ASN1_BIT_STRING_free(bits);
    return error;
}

static int add_ext_key_usage(X509 *x, unsigned eku)
{
    static const struct {
        unsigned bit;
        int nid;
    } map[] = {
        {CH_EKU_SERVER_AUTH, NID_server_auth},     {CH_EKU_CLIENT_AUTH, NID_client_auth},
        {CH_EKU_CODE_SIGNING, NID_code_sign},      {CH_EKU_EMAIL_PROTECTION, NID_email_protect},
        {CH_EKU_TIME_STAMPING, NID_time_stamp},    {CH_EKU_OCSP_SIGNING, NID_OCSP_sign},
    };
    EXTENDED_KEY_USAGE *ext = sk_ASN1_OBJECT_new_null();
    int error;

    if (ext == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if ((eku & map[i].bit) && sk_ASN1_OBJECT_push(ext, OBJ_nid2obj(map[i].nid)) <= 0) {
            sk_ASN1_OBJECT_free(ext);
            return ch_error_set(CH_ENOMEM, "out of memory");
        }
    error = add_ext(x, NID_ext_key_usage, ext, 0);
    sk_ASN1_OBJECT_free(ext); /* the objects are OpenSSL's static ones */
    return error;
}

static GENERAL_NAME *general_name(int type, const char *value)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *s;

    if (gn == NULL)
        return NULL;
    if (type == GEN_IPADD) {
        ASN1_OCTET_STRING *ip = a2i_IPADDRESS(value);
        if (ip == NULL) {
            GENERAL_NAME_free(gn);
            return NULL;
        }
        GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
        return gn;
    }
    if ((s = ASN1_IA5STRING_new()) == NULL || ASN1_STRING_set(s, value, (int)strlen(value)) != 1) {
        ASN1_IA5STRING_free(s);
        GENERAL_NAME_free(gn);
        return NULL;
    }
    GENERAL_NAME_set0_value(gn, type, s);
    return gn;
}

static int add_sans(X509 *x, const ch_san *sans, size_t n)
{
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    int error;

    if (names == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int type = sans[i].type == CH_SAN_DNS ? GEN_DNS : sans[i].type == CH_SAN_IP ? GEN_IPADD
                   : sans[i].type == CH_SAN_EMAIL ? GEN_EMAIL : GEN_URI;
        GENERAL_NAME *gn = general_name(type, sans[i].value);
        if (gn == NULL || sk_GENERAL_NAME_push(names, gn) <= 0) {
            GENERAL_NAME_free(gn);
            GENERAL_NAMES_free(names);
            ERR_clear_error();
            return ch_error_set_field(CH_EINVAL, "sans", "subject alternative name \"%.128s\" cannot be encoded",
                                      sans[i].value);
        }
    }
    error = add_ext(x, NID_subject_alt_name, names, 0);
    GENERAL_NAMES_free(names);
    return error;
}

static int add_crl_urls(X509 *x, const char *const *urls)
{
    CRL_DIST_POINTS *dps = sk_DIST_POINT_new_null();
    int error = 0;

    if (dps == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    for (size_t i = 0; urls[i] != NULL; i++) {
        DIST_POINT *dp = DIST_POINT_new();
        GENERAL_NAME *gn = general_name(GEN_URI, urls[i]);
        if (dp == NULL || gn == NULL || (dp->distpoint = DIST_POINT_NAME_new()) == NULL ||
            (dp->distpoint->name.fullname = sk_GENERAL_NAME_new_null()) == NULL ||
            sk_GENERAL_NAME_push(dp->distpoint->name.fullname, gn) <= 0 || sk_DIST_POINT_push(dps, dp) <= 0) {
            GENERAL_NAME_free(gn);
            DIST_POINT_free(dp);
            error = ch_error_set(CH_ENOMEM, "out of memory");
            goto done;
        }
        dp->distpoint->type = 0; /* fullName */
    }
    error = add_ext(x, NID_crl_distribution_points, dps, 0);
done:
    CRL_DIST_POINTS_free(dps);
    return error;
}

static int add_ocsp_urls(X509 *x, const char *const *urls)
{
    AUTHORITY_INFO_ACCESS *aia = sk_ACCESS_DESCRIPTION_new_null();
    int error = 0;

    if (aia == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    for (size_t i = 0; urls[i] != NULL; i++) {
        ACCESS_DESCRIPTION *ad = ACCESS_DESCRIPTION_new();
        GENERAL_NAME *gn = general_name(GEN_URI, urls[i]);
        if (ad == NULL || gn == NULL || sk_ACCESS_DESCRIPTION_push(aia, ad) <= 0) {
            GENERAL_NAME_free(gn);
            ACCESS_DESCRIPTION_free(ad);
            error = ch_error_set(CH_ENOMEM, "out of memory");
            goto done;
        }
        ASN1_OBJECT_free(ad->method);
        ad->method = OBJ_nid2obj(NID_ad_OCSP);
        GENERAL_NAME_free(ad->location);
        ad->location = gn;
    }
    error = add_ext(x, NID_info_access, aia, 0);
done:
    AUTHORITY_INFO_ACCESS_free(aia);
    return error;
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
        } else {
            continue; /* other name forms are not copied */
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

static int set_serial(X509 *x)
{
    unsigned char serial[16];
    int error;

    if ((error = ch_random(serial, sizeof serial)) < 0)
        return error;
    /* RFC 5280 4.1.2.2: positive, at most 20 octets.  Clear the sign bit and set the next,
     * so the DER INTEGER is always exactly 16 bytes with 126 random bits. */
    serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);
    if (ASN1_STRING_set(X509_get_serialNumber(x), serial, sizeof serial) != 1)
        return ch_error_set(CH_ENOMEM, "out of memory");
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
    ch_san *req_sans = NULL;
    char **req_store = NULL;
    X509 *x = NULL;
    EVP_MD_CTX *mctx = NULL;
    const EVP_MD *md = o->digest;
    ASN1_OCTET_STRING *ski = NULL;
    AUTHORITY_KEYID *akid = NULL;
    int64_t now = ch_now(), nb, na, issuer_na = 0;
    int path_len, days, error = 0;
    unsigned ku, eku;

    *out = NULL;
    if (p == NULL)
        return ch_error_set_field(CH_EINVAL, "profile", "no profile given");
    if ((o->subject_key == NULL) == (o->csr == NULL))
        return ch_error_set(CH_EINVAL, "give exactly one of a public key or a CSR for the new certificate");
    if (issuer_key == NULL || !ch_key_has_private(issuer_key))
        return ch_error_set_field(CH_EINVAL, "ca_key", "the issuer's private key is needed to sign");

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

    /* Validity (RFC 5280 4.1.2.5): within the issuer's. */
    days = o->days > 0 ? o->days : p->default_days;
    if (o->days < 0 || days > 100 * 366) {
        error = ch_error_set_field(CH_EINVAL, "days", "validity must be between 1 and 36600 days");
        goto done;
    }
    if (p->max_days > 0 && days > p->max_days) {
        error = ch_error_set_field(CH_EPOLICY, "days", "profile %s allows at most %d days", p->name, p->max_days);
        goto done;
    }
    nb = o->not_before ? o->not_before : now - 60; /* a minute back for clock skew */
    na = (o->not_before ? o->not_before : now) + (int64_t)days * 86400;
    if (issuer != NULL && na > issuer_na) {
        if (!o->cap_validity) {
            char end[32];
            ch_time_format(end, sizeof end, issuer_na);
            error = ch_error_set_field(CH_EPOLICY, "days",
                                       "validity ends after the issuing CA's (%s): choose fewer days", end);
            goto done;
        }
        na = issuer_na;
    }
    if (na <= nb) {
        error = ch_error_set_field(CH_EPOLICY, "days", "the issuing CA has expired or expires too soon");
        goto done;
    }

    ku = o->key_usage ? o->key_usage : p->key_usage;
    eku = o->ext_key_usage ? o->ext_key_usage : p->ext_key_usage;
    if (!p->is_ca && !o->key_usage && req == NULL && ch_key_get_type(o->subject_key) > CH_KEY_RSA4096)
        ku &= ~(unsigned)CH_KU_KEY_ENCIPHERMENT; /* key transport exists for RSA keys only */
    if (!p->is_ca && !o->key_usage && req != NULL) {
        ASN1_OBJECT *alg;
        if (X509_PUBKEY_get0_param(&alg, NULL, NULL, NULL, spki) == 1 && OBJ_obj2nid(alg) != NID_rsaEncryption)
            ku &= ~(unsigned)CH_KU_KEY_ENCIPHERMENT;
    }
    if (p->is_ca && !(ku & CH_KU_KEY_CERT_SIGN)) {
        error = ch_error_set_field(CH_EPOLICY, "key_usage", "a CA certificate needs the keyCertSign key usage");
        goto done;
    }

    /* Build. */
    if ((x = X509_new()) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    if (X509_set_version(x, X509_VERSION_3) != 1 || (error = set_serial(x)) < 0 ||
        X509_set_subject_name(x, subject) != 1 ||
        X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) != 1 ||
        ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) == NULL) {
        error = error < 0 ? error : ch_error_ossl(CH_ECRYPTO, "X509_set_*", "building the certificate");
        goto done;
    }
    if ((error = copy_spki(x, spki)) < 0)
        goto done;
    if ((error = add_basic_constraints(x, p->is_ca, p->is_ca ? path_len : -1)) < 0 ||
        (error = add_key_usage(x, ku)) < 0 || (eku && (error = add_ext_key_usage(x, eku)) < 0))
        goto done;
    if ((error = key_id(&ski, X509_get_X509_PUBKEY(x))) < 0 || (error = add_ext(x, NID_subject_key_identifier, ski, 0)) < 0)
        goto done;
    if ((akid = AUTHORITY_KEYID_new()) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    if (issuer == NULL) {
        akid->keyid = ASN1_OCTET_STRING_dup(ski);
    } else if (X509_get0_subject_key_id(issuer) != NULL) {
        akid->keyid = ASN1_OCTET_STRING_dup(X509_get0_subject_key_id(issuer));
    } else if ((error = key_id(&akid->keyid, X509_get_X509_PUBKEY(issuer))) < 0) {
        goto done;
    }
    if (akid->keyid == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    if ((error = add_ext(x, NID_authority_key_identifier, akid, 0)) < 0)
        goto done;
    if (san_count > 0 && (error = add_sans(x, sans, san_count)) < 0)
        goto done;
    if (o->crl_urls && o->crl_urls[0] && (error = add_crl_urls(x, o->crl_urls)) < 0)
        goto done;
    if (o->ocsp_urls && o->ocsp_urls[0] && (error = add_ocsp_urls(x, o->ocsp_urls)) < 0)
        goto done;

    /* Sign: Ed25519 signs the message itself and takes no digest. */
    if (ch_key_get_type(issuer_key) == CH_KEY_ED25519)
        md = NULL;
    else if (md == NULL && (error = ch_digest_parse(&md, "sha256")) < 0)
        goto done;
    if ((mctx = EVP_MD_CTX_new()) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    if (EVP_DigestSignInit(mctx, NULL, md, NULL, ch_key_pkey(issuer_key)) != 1 || X509_sign_ctx(x, mctx) <= 0) {
        error = ch_error_ossl(CH_ECRYPTO, "X509_sign_ctx", "signing the certificate");
        goto done;
    }
    error = x509_cert_from_built(out, x);
    x = NULL;
done:
    EVP_MD_CTX_free(mctx);
    AUTHORITY_KEYID_free(akid);
    ASN1_OCTET_STRING_free(ski);
    X509_free(x);
    csr_sans_free(req_sans, req_store);
    return error;
}
