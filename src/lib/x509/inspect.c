/*
 * Inspecting: everything a person (or the API) wants to know of a certificate or CSR, in
 * one struct and as JSON.  Values that came from outside bytes are copied as UTF-8 text and
 * never interpreted; a name with an embedded NUL is refused by ch_name_get.
 */
#include <ctype.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "certhub/x509.h"
#include "x509/x509_internal.h"

static char *hex_of(const unsigned char *p, size_t len)
{
    char *s = malloc(2 * len + 1);

    if (s != NULL)
        ch_hex(s, p, len);
    return s;
}

/* Appends s to a NULL-terminated string list (takes s). */
static int list_add(char ***list, size_t *n, char *s)
{
    char **g;

    if (s == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    if ((g = realloc(*list, (*n + 2) * sizeof *g)) == NULL) {
        free(s);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    g[(*n)++] = s;
    g[*n] = NULL;
    *list = g;
    return 0;
}

static char *prefixed(const char *prefix, const unsigned char *p, int len)
{
    size_t pl = strlen(prefix);
    char *s;

    if (len < 0 || memchr(p, '\0', (size_t)len) != NULL)
        return NULL;
    if ((s = malloc(pl + (size_t)len + 1)) == NULL)
        return NULL;
    memcpy(s, prefix, pl);
    memcpy(s + pl, p, (size_t)len);
    s[pl + (size_t)len] = '\0';
    return s;
}

static int general_names(char ***out, size_t *n, const GENERAL_NAMES *names, bool uri_only)
{
    int error = 0;

    for (int i = 0; i < sk_GENERAL_NAME_num(names) && error == 0; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        int type;
        const ASN1_STRING *v = GENERAL_NAME_get0_value(gn, &type);
        char *s = NULL;

        if (uri_only && type != GEN_URI)
            continue;
        switch (type) {
        case GEN_DNS:
            s = prefixed("dns:", ASN1_STRING_get0_data(v), ASN1_STRING_length(v));
            break;
        case GEN_EMAIL:
            s = prefixed("email:", ASN1_STRING_get0_data(v), ASN1_STRING_length(v));
            break;
        case GEN_URI:
            s = prefixed(uri_only ? "" : "uri:", ASN1_STRING_get0_data(v), ASN1_STRING_length(v));
            break;
        case GEN_IPADD: {
            char buf[INET6_ADDRSTRLEN + 4] = "ip:";
            int len = ASN1_STRING_length(v);
            int af = len == 4 ? AF_INET : len == 16 ? AF_INET6 : -1;
            if (af > 0 && inet_ntop(af, ASN1_STRING_get0_data(v), buf + 3, sizeof buf - 3) != NULL)
                s = strdup(buf);
            break;
        }
        case GEN_OTHERNAME: {
            char *upn = uri_only ? NULL : x509_upn_text(gn);
            if (upn == NULL)
                continue; /* other otherNames are not shown */
            s = prefixed("upn:", (const unsigned char *)upn, (int)strlen(upn));
            OPENSSL_free(upn);
            break;
        }
        default:
            continue; /* other forms (dirName) are not shown */
        }
        if (s == NULL)
            continue; /* a name with a NUL inside is not shown as text */
        error = list_add(out, n, s);
    }
    return error;
}

static unsigned ku_bits(uint32_t x509_ku)
{
    static const struct {
        uint32_t ossl;
        unsigned ch;
    } map[] = {
        {KU_DIGITAL_SIGNATURE, CH_KU_DIGITAL_SIGNATURE}, {KU_NON_REPUDIATION, CH_KU_NON_REPUDIATION},
        {KU_KEY_ENCIPHERMENT, CH_KU_KEY_ENCIPHERMENT},   {KU_DATA_ENCIPHERMENT, CH_KU_DATA_ENCIPHERMENT},
        {KU_KEY_AGREEMENT, CH_KU_KEY_AGREEMENT},         {KU_KEY_CERT_SIGN, CH_KU_KEY_CERT_SIGN},
        {KU_CRL_SIGN, CH_KU_CRL_SIGN},                   {KU_ENCIPHER_ONLY, CH_KU_ENCIPHER_ONLY},
        {KU_DECIPHER_ONLY, CH_KU_DECIPHER_ONLY},
    };
    unsigned out = 0;

    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (x509_ku & map[i].ossl)
            out |= map[i].ch;
    return out;
}

unsigned x509_eku_bit(int nid)
{
    switch (nid) {
    case NID_server_auth: return CH_EKU_SERVER_AUTH;
    case NID_client_auth: return CH_EKU_CLIENT_AUTH;
    case NID_code_sign: return CH_EKU_CODE_SIGNING;
    case NID_email_protect: return CH_EKU_EMAIL_PROTECTION;
    case NID_time_stamp: return CH_EKU_TIME_STAMPING;
    case NID_OCSP_sign: return CH_EKU_OCSP_SIGNING;
    default: return 0;
    }
}

static int ext_key_usage(ch_cert_info *info, X509 *x)
{
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
    size_t n = 0;
    int error = 0;

    if (eku == NULL)
        return 0;
    info->has_ext_key_usage = true;
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku) && error == 0; i++) {
        ASN1_OBJECT *o = sk_ASN1_OBJECT_value(eku, i);
        char oid[128];
        unsigned bit = x509_eku_bit(OBJ_obj2nid(o));
        if (bit != 0)
            info->ext_key_usage |= bit;
        else if (OBJ_obj2txt(oid, sizeof oid, o, 1) > 0)
            error = list_add(&info->eku_other, &n, strdup(oid));
    }
    EXTENDED_KEY_USAGE_free(eku);
    return error;
}

static int urls(ch_cert_info *info, X509 *x)
{
    CRL_DIST_POINTS *dps = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
    AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
    size_t n = 0, m = 0;
    int error = 0;

    for (int i = 0; i < sk_DIST_POINT_num(dps) && error == 0; i++) {
        DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
        if (dp->distpoint != NULL && dp->distpoint->type == 0)
            error = general_names(&info->crl_urls, &n, dp->distpoint->name.fullname, true);
    }
    size_t k = 0, q = 0;
    CERTIFICATEPOLICIES *pols = X509_get_ext_d2i(x, NID_certificate_policies, NULL, NULL);

    /* (the issuer's certificate's address too, and the policies: inspect showed neither) */
    for (int i = 0; i < sk_ACCESS_DESCRIPTION_num(aia) && error == 0; i++) {
        ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
        int nid = OBJ_obj2nid(ad->method);
        if ((nid == NID_ad_OCSP || nid == NID_ad_ca_issuers) && ad->location->type == GEN_URI) {
            const ASN1_STRING *v = ad->location->d.uniformResourceIdentifier;
            char *s = prefixed("", ASN1_STRING_get0_data(v), ASN1_STRING_length(v));
            if (s != NULL)
                error = nid == NID_ad_OCSP ? list_add(&info->ocsp_urls, &m, s) : list_add(&info->ca_issuers, &k, s);
        }
    }
    for (int i = 0; i < sk_POLICYINFO_num(pols) && error == 0; i++) {
        char oid[128];
        if (OBJ_obj2txt(oid, sizeof oid, sk_POLICYINFO_value(pols, i)->policyid, 1) > 0)
            error = list_add(&info->policies, &q, strdup(oid));
    }
    CERTIFICATEPOLICIES_free(pols);
    CRL_DIST_POINTS_free(dps);
    AUTHORITY_INFO_ACCESS_free(aia);
    ERR_clear_error();
    return error;
}

static void pkey_info(char **alg, int *bits, char **curve, EVP_PKEY *pkey)
{
    char group[64];
    size_t glen = 0;

    *bits = 0;
    if (pkey == NULL) {
        *alg = strdup("unknown");
        return;
    }
    *bits = EVP_PKEY_get_bits(pkey);
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA: *alg = strdup("RSA"); break;
    case EVP_PKEY_EC:
        *alg = strdup("EC");
        if (EVP_PKEY_get_utf8_string_param(pkey, "group", group, sizeof group, &glen) == 1) {
            int nid = OBJ_sn2nid(group);
            const char *nist = nid != NID_undef ? EC_curve_nid2nist(nid) : NULL;
            *curve = strdup(nist ? nist : group);
        }
        break;
    case EVP_PKEY_ED25519: *alg = strdup("Ed25519"); break;
    case EVP_PKEY_ED448: *alg = strdup("Ed448"); break;
    default: *alg = strdup(EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey) : "unknown");
    }
    ERR_clear_error();
}

static void key_info(char **alg, int *bits, char **curve, const ch_key *key)
{
    if (key != NULL && ch_key_curve(key)[0] != '\0') { /* a NIST curve: known without a key object */
        *alg = strdup("EC");
        *bits = ch_key_bits(key);
        *curve = strdup(ch_key_curve(key));
        return;
    }
    pkey_info(alg, bits, curve, key ? ch_key_pkey(key) : NULL);
}

int ch_cert_inspect(ch_cert_info *info, const ch_cert *cert)
{
    X509 *x = x509_cert_obj(cert);
    const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
    const X509_ALGOR *sig_alg;
    GENERAL_NAMES *sans;
    unsigned char sha1[20];
    uint32_t flags;
    size_t n = 0;
    int error;

    memset(info, 0, sizeof *info);
    flags = X509_get_extension_flags(x); /* also computes the extension cache */
    if (flags & EXFLAG_INVALID) {
        ERR_clear_error();
        return ch_error_set(CH_EPARSE, "the certificate has invalid or duplicate extensions");
    }
    info->version = (int)X509_get_version(x) + 1;
    info->serial = hex_of(ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn));
    if ((error = ch_name_to_string(&info->subject, X509_get_subject_name(x))) < 0 ||
        (error = ch_name_to_string(&info->issuer, X509_get_issuer_name(x))) < 0)
        goto fail;
    if (ch_name_get(&info->common_name, X509_get_subject_name(x), NID_commonName) == CH_EPARSE) {
        error = CH_EPARSE; /* a CN with a NUL inside: refuse rather than show half of it */
        goto fail;
    }
    if ((error = x509_time_to_epoch(&info->not_before, X509_get0_notBefore(x))) < 0 ||
        (error = x509_time_to_epoch(&info->not_after, X509_get0_notAfter(x))) < 0)
        goto fail;
    {
        size_t dlen;
        const uint8_t *der = ch_cert_der(cert, &dlen);
        if (EVP_Digest(der, dlen, sha1, NULL, x509_sha1(), NULL) != 1) {
            error = ch_error_ossl(CH_ECRYPTO, "EVP_Digest", "fingerprinting the certificate");
            goto fail;
        }
        ch_hex(info->sha1, sha1, sizeof sha1);
        ch_hex(info->sha256, ch_cert_sha256(cert), 32);
    }
    {
        ch_key *k = NULL;
        /* A key certhub does not take (RSA under 2048 bits, a curve it does not sign with) is
         * still named as it is: "unknown 0" was shown for an RSA-1024 certificate. */
        if (ch_cert_public_key(&k, cert) == 0) {
            key_info(&info->key_algorithm, &info->key_bits, &info->key_curve, k);
        } else {
            ch_error_clear();
            pkey_info(&info->key_algorithm, &info->key_bits, &info->key_curve, X509_get0_pubkey(ch_cert_x509(cert)));
        }
        ch_key_free(k);
    }
    X509_get0_signature(NULL, &sig_alg, x);
    info->signature_algorithm = strdup(OBJ_nid2ln(OBJ_obj2nid(sig_alg->algorithm)));
    info->has_basic_constraints = X509_get_ext_by_NID(x, NID_basic_constraints, -1) >= 0;
    info->is_ca = (flags & EXFLAG_CA) != 0;
    info->path_len = info->is_ca ? (int)X509_get_pathlen(x) : -1;
    info->has_key_usage = (flags & EXFLAG_KUSAGE) != 0;
    info->key_usage = info->has_key_usage ? ku_bits(X509_get_key_usage(x)) : 0;
    if ((error = ext_key_usage(info, x)) < 0)
        goto fail;
    if ((sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL)) != NULL) {
        error = general_names(&info->sans, &n, sans, false);
        GENERAL_NAMES_free(sans);
        if (error < 0)
            goto fail;
    }
    if (ski)
        info->ski = hex_of(ASN1_STRING_get0_data(ski), (size_t)ASN1_STRING_length(ski));
    if (aki)
        info->aki = hex_of(ASN1_STRING_get0_data(aki), (size_t)ASN1_STRING_length(aki));
    if ((error = urls(info, x)) < 0)
        goto fail;
    info->self_signed = ch_cert_is_self_signed(cert);
    {
        static const int nids[] = {NID_basic_constraints, NID_key_usage, NID_ext_key_usage,
                                   NID_authority_key_identifier}; /* in CH_EXT_* order */
        for (int k = 0; k < 4; k++) {
            int at = X509_get_ext_by_NID(x, nids[k], -1);
            if (at >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, at)))
                info->critical |= 1u << k;
        }
    }
    ERR_clear_error();
    if (info->serial == NULL || info->key_algorithm == NULL || info->signature_algorithm == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto fail;
    }
    return 0;
fail:
    ch_cert_info_dispose(info);
    return error;
}

void ch_cert_info_dispose(ch_cert_info *info)
{
    if (info == NULL)
        return;
    free(info->serial);
    free(info->subject);
    free(info->issuer);
    free(info->common_name);
    free(info->key_algorithm);
    free(info->key_curve);
    free(info->signature_algorithm);
    ch_strv_free(info->eku_other);
    ch_strv_free(info->sans);
    free(info->ski);
    free(info->aki);
    ch_strv_free(info->crl_urls);
    ch_strv_free(info->ocsp_urls);
    ch_strv_free(info->ca_issuers);
    ch_strv_free(info->policies);
    memset(info, 0, sizeof *info);
}

static const char *const ku_names[] = {"digital_signature", "non_repudiation", "key_encipherment",
                                      "data_encipherment", "key_agreement",   "key_cert_sign",
                                      "crl_sign",          "encipher_only",   "decipher_only", NULL};
static const char *const eku_names[] = {"server_auth",   "client_auth",  "code_signing", "email_protection",
                                       "time_stamping", "ocsp_signing", NULL};

const char *const *ch_usage_names(bool extended)
{
    return extended ? eku_names : ku_names;
}

/* Compares ignoring case and underscores, so "digital_signature", "digitalSignature" (the
 * OpenSSL spelling) and "DIGITAL_SIGNATURE" are one name. */
static bool same_usage(const char *a, const char *b)
{
    for (;;) {
        while (*a == '_')
            a++;
        while (*b == '_')
            b++;
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
        if (*a == '\0')
            return true;
        a++, b++;
    }
}

int ch_usage_parse(unsigned *bit, bool extended, const char *name)
{
    const char *const *names = ch_usage_names(extended);
    char accepted[200] = "";
    size_t used = 0;

    for (int i = 0; names[i]; i++)
        if (name && same_usage(name, names[i])) {
            *bit = 1u << i;
            return 0;
        }
    for (int i = 0; names[i]; i++)
        used += (size_t)snprintf(accepted + used, sizeof accepted - used, "%s%s", i ? ", " : "", names[i]);
    return ch_error_set(CH_EINVAL, "unknown %s \"%s\"; accepted: %s", extended ? "extended key usage" : "key usage",
                        name ? name : "", accepted);
}

static const char *const ext_names[] = {"basic_constraints", "key_usage", "ext_key_usage", "authority_key_id",
                                        NULL};

const char *const *ch_ext_names(void)
{
    return ext_names;
}

int ch_ext_parse(unsigned *bit, const char *name)
{
    for (int i = 0; ext_names[i]; i++)
        if (name && same_usage(name, ext_names[i])) {
            *bit = 1u << i;
            return 0;
        }
    return ch_error_set(CH_EINVAL, "unknown extension \"%.64s\"; accepted: basic_constraints, key_usage, "
                        "ext_key_usage (authority_key_id is never critical)", name ? name : "");
}

int ch_cert_sans_text(char **out, const ch_cert *cert)
{
    const struct x509_issued *issued = x509_cert_issued(cert);
    GENERAL_NAMES *names;
    char **list = NULL;
    size_t n = 0, len = 1;
    int error = 0;

    *out = NULL;
    if (issued != NULL) {
        if (issued->sans != NULL && (*out = strdup(issued->sans)) == NULL)
            return ch_error_set(CH_ENOMEM, "out of memory");
        return 0;
    }
    names = X509_get_ext_d2i(x509_cert_obj(cert), NID_subject_alt_name, NULL, NULL);
    ERR_clear_error();
    if (names == NULL)
        return 0;
    error = general_names(&list, &n, names, false);
    GENERAL_NAMES_free(names);
    if (error < 0)
        return error;
    for (size_t i = 0; i < n; i++)
        len += strlen(list[i]) + 1;
    if (n > 0 && (*out = malloc(len)) != NULL) {
        char *w = *out;
        for (size_t i = 0; i < n; i++)
            w += sprintf(w, "%s%s", i ? "," : "", list[i]);
    } else if (n > 0) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
    }
    ch_strv_free(list);
    return error;
}

/* A NULL-terminated list as a JSON array of strings. */
static void jw_list(ch_jw *w, const char *key, char *const *list)
{
    size_t n = 0;

    while (list && list[n])
        n++;
    ch_jw_strs(w, key, list, n);
}

static void jw_usage(ch_jw *w, const char *key, unsigned bits, bool extended, char *const *other)
{
    const char *const *names = ch_usage_names(extended);
    char *items[64];
    size_t n = 0;

    for (int k = 0; names[k]; k++) /* 9 and 6 names */
        if (bits & (1u << k))
            items[n++] = (char *)names[k];
    for (size_t k = 0; other && other[k] && n < sizeof items / sizeof items[0]; k++)
        items[n++] = other[k];
    ch_jw_strs(w, key, items, n);
}

static void jw_time(ch_jw *w, const char *key, int64_t t)
{
    char buf[32];

    ch_time_format(buf, sizeof buf, t);
    ch_jw_str(w, key, buf);
}

/* The text written, handed to the caller, or CH_ENOMEM. */
static int jw_done(ch_jw *w, ch_buf *b, char **out)
{
    if (w->oom) {
        ch_buf_dispose(b);
        *out = NULL;
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    *out = (char *)ch_buf_detach(b, NULL);
    return 0;
}

/* Written as text (ch_jw): through a jansson tree and json_dumps it was a quarter of the CPU of
 * certhubd's GET of a certificate. */
int ch_cert_info_to_json(char **out, const ch_cert_info *i)
{
    ch_buf b = CH_BUF_INIT;
    ch_jw w;

    ch_jw_begin(&w, &b);
    ch_jw_int(&w, "version", i->version);
    ch_jw_str(&w, "serial", i->serial);
    ch_jw_str(&w, "subject", i->subject);
    ch_jw_str(&w, "issuer", i->issuer);
    ch_jw_str(&w, "common_name", i->common_name);
    jw_time(&w, "not_before", i->not_before);
    jw_time(&w, "not_after", i->not_after);
    ch_jw_str(&w, "sha1", i->sha1);
    ch_jw_str(&w, "sha256", i->sha256);
    ch_jw_str(&w, "key_algorithm", i->key_algorithm);
    ch_jw_int(&w, "key_bits", i->key_bits);
    ch_jw_str(&w, "key_curve", i->key_curve);
    ch_jw_str(&w, "signature_algorithm", i->signature_algorithm);
    ch_jw_bool(&w, "basic_constraints", i->has_basic_constraints);
    ch_jw_bool(&w, "is_ca", i->is_ca);
    if (i->is_ca && i->path_len >= 0)
        ch_jw_int(&w, "path_len", i->path_len);
    else
        ch_jw_raw(&w, "path_len", "null");
    jw_usage(&w, "key_usage", i->key_usage, false, NULL);
    jw_usage(&w, "ext_key_usage", i->ext_key_usage, true, i->eku_other);
    jw_list(&w, "sans", i->sans);
    ch_jw_str(&w, "ski", i->ski);
    ch_jw_str(&w, "aki", i->aki);
    jw_list(&w, "crl_urls", i->crl_urls);
    jw_list(&w, "ocsp_urls", i->ocsp_urls);
    jw_list(&w, "ca_issuers", i->ca_issuers);
    jw_list(&w, "policies", i->policies);
    ch_jw_bool(&w, "self_signed", i->self_signed);
    {
        char *crit[4];
        size_t n = 0;
        for (int k = 0; ext_names[k]; k++)
            if (i->critical & (1u << k))
                crit[n++] = (char *)ext_names[k];
        ch_jw_strs(&w, "critical", crit, n);
    }
    ch_jw_end(&w);
    return jw_done(&w, &b, out);
}

int ch_csr_inspect(ch_csr_info *info, const ch_csr *csr)
{
    X509_REQ *req = ch_csr_req(csr);
    STACK_OF(X509_EXTENSION) *exts;
    const X509_ALGOR *sig_alg;
    unsigned char *der = NULL;
    unsigned char md[32];
    size_t n = 0;
    int len, error;

    memset(info, 0, sizeof *info);
    if ((error = ch_name_to_string(&info->subject, X509_REQ_get_subject_name(req))) < 0)
        goto fail;
    if (ch_name_get(&info->common_name, X509_REQ_get_subject_name(req), NID_commonName) == CH_EPARSE) {
        error = CH_EPARSE;
        goto fail;
    }
    pkey_info(&info->key_algorithm, &info->key_bits, &info->key_curve, X509_REQ_get0_pubkey(req));
    X509_REQ_get0_signature(req, NULL, &sig_alg);
    info->signature_algorithm = strdup(OBJ_nid2ln(OBJ_obj2nid(sig_alg->algorithm)));
    info->signature_ok = ch_csr_verify(csr) == 0;
    exts = X509_REQ_get_extensions(req);
    for (int i = 0; i < sk_X509_EXTENSION_num(exts) && error == 0; i++) {
        X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
        int nid = OBJ_obj2nid(X509_EXTENSION_get_object(e));
        if (nid == NID_basic_constraints) {
            BASIC_CONSTRAINTS *bc = X509V3_EXT_d2i(e);
            info->requests_ca = bc != NULL && bc->ca;
            BASIC_CONSTRAINTS_free(bc);
        } else if (nid == NID_subject_alt_name) {
            GENERAL_NAMES *names = X509V3_EXT_d2i(e);
            if (names != NULL)
                error = general_names(&info->sans, &n, names, false);
            GENERAL_NAMES_free(names);
        }
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (error < 0)
        goto fail;
    if ((len = i2d_X509_REQ(req, &der)) <= 0 || EVP_Digest(der, (size_t)len, md, NULL, x509_sha256(), NULL) != 1) {
        OPENSSL_free(der);
        error = ch_error_ossl(CH_ECRYPTO, "i2d_X509_REQ", "fingerprinting the CSR");
        goto fail;
    }
    OPENSSL_free(der);
    ch_hex(info->sha256, md, sizeof md);
    ERR_clear_error();
    return 0;
fail:
    ERR_clear_error();
    ch_csr_info_dispose(info);
    return error;
}

void ch_csr_info_dispose(ch_csr_info *info)
{
    if (info == NULL)
        return;
    free(info->subject);
    free(info->common_name);
    free(info->key_algorithm);
    free(info->key_curve);
    free(info->signature_algorithm);
    ch_strv_free(info->sans);
    memset(info, 0, sizeof *info);
}

int ch_csr_info_to_json(char **out, const ch_csr_info *i)
{
    ch_buf b = CH_BUF_INIT;
    ch_jw w;

    ch_jw_begin(&w, &b);
    ch_jw_str(&w, "subject", i->subject);
    ch_jw_str(&w, "common_name", i->common_name);
    ch_jw_str(&w, "key_algorithm", i->key_algorithm);
    ch_jw_int(&w, "key_bits", i->key_bits);
    ch_jw_str(&w, "key_curve", i->key_curve);
    ch_jw_str(&w, "signature_algorithm", i->signature_algorithm);
    ch_jw_bool(&w, "signature_ok", i->signature_ok);
    jw_list(&w, "sans", i->sans);
    ch_jw_bool(&w, "requests_ca", i->requests_ca);
    ch_jw_str(&w, "sha256", i->sha256);
    ch_jw_end(&w);
    return jw_done(&w, &b, out);
}
