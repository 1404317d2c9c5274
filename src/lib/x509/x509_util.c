/* Helpers shared inside the X.509 engine (x509_internal.h). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "certhub/common.h"
#include "certhub/x509.h"
#include "x509/x509_internal.h"

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha256, *md_sha1;

static void md_fetch(void)
{
    /* Fetched once: an implicit fetch per digest costs a lookup under a lock (DESIGN.md). */
    md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
}

const EVP_MD *x509_sha256(void)
{
    pthread_once(&md_once, md_fetch);
    return md_sha256 ? md_sha256 : EVP_sha256();
}

const EVP_MD *x509_sha1(void)
{
    pthread_once(&md_once, md_fetch);
    return md_sha1 ? md_sha1 : EVP_sha1();
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's civil algorithm). */
int64_t x509_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int x509_time_to_epoch(int64_t *out, const ASN1_TIME *t)
{
    struct tm tm;

    memset(&tm, 0, sizeof tm);
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        ERR_clear_error();
        return ch_error_set(CH_EPARSE, "invalid time in certificate");
    }
    *out = x509_days_from_civil((int64_t)tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday) * 86400 +
           tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    return 0;
}

/* The key derivations one file asks for, in iterations, within x509_kdf_begin/end (on this
 * thread): one bag at the limit is a key, ten thousand copies of it in a 4 MiB file are hours
 * of CPU asked of the service by one request. */
static _Thread_local uint64_t kdf_spent;
static _Thread_local int kdf_depth;
static uint64_t kdf_budget = CH_MAX_KDF_BUDGET;

void x509_kdf_budget_set(uint64_t iterations)
{
    kdf_budget = iterations ? iterations : CH_MAX_KDF_BUDGET;
}

void x509_kdf_begin(void)
{
    if (kdf_depth++ == 0)
        kdf_spent = 0;
}

void x509_kdf_end(void)
{
    if (kdf_depth > 0)
        kdf_depth--;
}

int x509_kdf_spend(uint64_t iterations, const char *what)
{
    if (iterations > CH_MAX_KDF_ITER)
        return ch_error_set(CH_ETOOBIG, "%s: iteration count %llu is above the limit of %u", what,
                            (unsigned long long)iterations, CH_MAX_KDF_ITER);
    kdf_spent += iterations;
    if (kdf_depth > 0 && kdf_spent > kdf_budget)
        return ch_error_set(CH_ETOOBIG, "%s: the file asks for more than %llu key-derivation iterations in all (its "
                            "encrypted parts together); a keystore asks for a few hundred thousand", what,
                            (unsigned long long)kdf_budget);
    return 0;
}

static int check_iter(const ASN1_INTEGER *iter, const char *what)
{
    int64_t n = 0;

    if (iter == NULL || ASN1_INTEGER_get_int64(&n, iter) != 1 || n < 1) {
        ERR_clear_error();
        return ch_error_set(CH_EPARSE, "%s: invalid iteration count in its encryption parameters", what);
    }
    return x509_kdf_spend((uint64_t)n, what);
}

int x509_pbe_check(const X509_ALGOR *alg, const char *what)
{
    const ASN1_OBJECT *obj;
    const void *pval;
    int ptype, nid, error = 0;

    X509_ALGOR_get0(&obj, &ptype, &pval, alg);
    nid = OBJ_obj2nid(obj);
    if (ptype != V_ASN1_SEQUENCE)
        return ch_error_set(CH_EPARSE, "%s: encryption parameters are missing", what);
    if (nid == NID_pbes2) {
        PBE2PARAM *pbe2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), (const ASN1_TYPE *)alg->parameter);
        if (pbe2 == NULL) {
            ERR_clear_error();
            return ch_error_set(CH_EPARSE, "%s: invalid PBES2 parameters", what);
        }
        nid = OBJ_obj2nid(pbe2->keyfunc->algorithm);
        if (nid == NID_id_pbkdf2) {
            PBKDF2PARAM *kdf = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), pbe2->keyfunc->parameter);
            if (kdf == NULL) {
                ERR_clear_error();
                error = ch_error_set(CH_EPARSE, "%s: invalid PBKDF2 parameters", what);
            } else {
                error = check_iter(kdf->iter, what);
            }
            PBKDF2PARAM_free(kdf);
        } else if (nid == NID_id_scrypt) {
            SCRYPT_PARAMS *sp = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(SCRYPT_PARAMS), pbe2->keyfunc->parameter);
            uint64_t n = 0, r = 0, p = 0;
            if (sp == NULL || ASN1_INTEGER_get_uint64(&n, sp->costParameter) != 1 ||
                ASN1_INTEGER_get_uint64(&r, sp->blockSize) != 1 ||
                ASN1_INTEGER_get_uint64(&p, sp->parallelizationParameter) != 1) {
                ERR_clear_error();
                error = ch_error_set(CH_EPARSE, "%s: invalid scrypt parameters", what);
            } else if (n > (1u << 20) || r > 32 || p > 16) {
                /* N=2^20, r=8 needs 1 GiB: more is an attack on the service, not a key. */
                error = ch_error_set(CH_ETOOBIG, "%s: scrypt cost N=%llu r=%llu p=%llu is above the limit "
                                     "(N <= 1048576, r <= 32, p <= 16)", what,
                                     (unsigned long long)n, (unsigned long long)r, (unsigned long long)p);
            } else {
                /* counted as N*r*p/8: N=2^20, r=8 is about as costly as the PBKDF2 limit */
                uint64_t cost = n * r * p / 8;
                error = x509_kdf_spend(cost < CH_MAX_KDF_ITER ? cost : CH_MAX_KDF_ITER, what);
            }
            SCRYPT_PARAMS_free(sp);
        } else {
            error = ch_error_set(CH_EUNSUPPORTED, "%s: key derivation %s is not supported; accepted: "
                                 "PBKDF2, scrypt", what, OBJ_nid2sn(nid));
        }
        PBE2PARAM_free(pbe2);
        return error;
    }
    /* PKCS#5 v1 and PKCS#12 PBE algorithms share PBEPARAM (salt, iteration count). */
    {
        PBEPARAM *pbe = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBEPARAM), (const ASN1_TYPE *)alg->parameter);
        if (pbe == NULL) {
            ERR_clear_error();
            return ch_error_set(CH_EPARSE, "%s: invalid password-based encryption parameters", what);
        }
        error = check_iter(pbe->iter, what);
        PBEPARAM_free(pbe);
    }
    return error;
}

static size_t der_len_size(size_t n)
{
    return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 4;
}

int x509_der_wrap(ch_buf *b, size_t start, uint8_t tag)
{
    size_t n = b->len - start, h = 1 + der_len_size(n);
    uint8_t *p;

    if (n >= 0x1000000 || ch_buf_grow(b, h) < 0)
        return ch_error_set(CH_ENOMEM, "out of memory");
    memmove(b->data + start + h, b->data + start, n);
    p = b->data + start;
    *p++ = tag;
    if (n >= 0x80) {
        *p++ = (uint8_t)(0x80 | (h - 2));
        for (size_t i = h - 2; i > 0; i--)
            *p++ = (uint8_t)(n >> (8 * (i - 1)));
    } else {
        *p = (uint8_t)n;
    }
    b->len += h;
    b->data[b->len] = '\0';
    return 0;
}

int x509_der_tlv(ch_buf *b, uint8_t tag, const void *v, size_t n)
{
    size_t at = b->len;

    if (ch_buf_put(b, v, n) < 0)
        return ch_error_set(CH_ENOMEM, "out of memory");
    return x509_der_wrap(b, at, tag);
}

/* The contents octets of an OBJECT IDENTIFIER (X.690 8.19) from its dotted text: the first two
 * arcs as one (40 * first + second), each base 128, the high bit set on all but its last byte.
 * Each of those at most 2^31 - 1: Go's x509 (Kubernetes, cfssl, much of the tooling around
 * certificates) fails to read a whole certificate with a larger arc in its extended key usages
 * or policies, as a UUID's under 2.25 is. */
#define OID_ARC_MAX 2147483647u

static int oid_contents(uint8_t out[128], size_t *len, const char *dotted, const char *field)
{
    const char *p = dotted;
    uint64_t first = 0;
    size_t n = 0, narcs = 0;

    *len = 0;
    if (dotted == NULL || *dotted == '\0')
        goto bad;
    while (*p) {
        const char *start = p;
        uint64_t v = 0;
        uint8_t rev[5];
        size_t k = 0, digits;
        if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
            goto bad; /* (a leading zero would write a second text for one OID) */
        for (; *p >= '0' && *p <= '9'; p++)
            if (p - start < 12)
                v = v * 10 + (uint64_t)(*p - '0');
        digits = (size_t)(p - start);
        if (*p == '.' && p[1] == '\0')
            goto bad;
        if (*p == '.')
            p++;
        else if (*p != '\0')
            goto bad;
        if (narcs++ == 0) {
            if (v > 2 || digits > 1)
                return ch_error_set_field(CH_EINVAL, field, "OID %.64s%s: the first arc must be 0, 1 or 2", dotted,
                                          strlen(dotted) > 64 ? "..." : "");
            first = v;
            continue;
        }
        if (narcs == 2 && first < 2 && v > 39)
            return ch_error_set_field(CH_EINVAL, field, "OID %.64s%s: the second arc must be below 40 when the first "
                                      "is 0 or 1", dotted, strlen(dotted) > 64 ? "..." : "");
        if (narcs == 2)
            v += 40 * first;
        if (digits > 10 || v > OID_ARC_MAX)
            return ch_error_set_field(CH_EINVAL, field, "OID %.64s%s has an arc above %u, which Go's x509 and other "
                                      "readers of certificates refuse (a UUID's under 2.25 is)", dotted,
                                      strlen(dotted) > 64 ? "..." : "", OID_ARC_MAX);
        do
            rev[k++] = (uint8_t)(v & 0x7f);
        while ((v >>= 7) != 0);
        if (n + k > 127)
            return ch_error_set_field(CH_EINVAL, field, "OID %.64s... is too long: at most 127 bytes encoded", dotted);
        while (k > 0) {
            k--;
            out[n++] = (uint8_t)(rev[k] | (k > 0 ? 0x80 : 0));
        }
    }
    if (narcs < 2)
        goto bad;
    *len = n;
    return 0;
bad:
    return ch_error_set_field(CH_EINVAL, field,
                              "\"%.64s%s\" is not an OID: give it dotted, as 1.3.6.1.4.1.311.20.2.2 (numbers without "
                              "leading zeros, at least two)",
                              dotted ? dotted : "", dotted && strlen(dotted) > 64 ? "..." : "");
}

int x509_der_oid(ch_buf *b, const char *dotted, const char *field)
{
    uint8_t c[128];
    size_t n;
    int error;

    if ((error = oid_contents(c, &n, dotted, field)) < 0)
        return error;
    return x509_der_tlv(b, 0x06, c, n);
}

int ch_oid_check(const char *dotted, const char *field)
{
    uint8_t c[128];
    size_t n;

    return oid_contents(c, &n, dotted, field);
}

char *x509_upn_text(const GENERAL_NAME *gn)
{
    int type;
    const OTHERNAME *on = GENERAL_NAME_get0_value(gn, &type);
    const ASN1_STRING *s;

    if (type != GEN_OTHERNAME || on == NULL || OBJ_obj2nid(on->type_id) != NID_ms_upn || on->value == NULL ||
        on->value->type != V_ASN1_UTF8STRING || (s = on->value->value.utf8string) == NULL ||
        memchr(ASN1_STRING_get0_data(s), '\0', (size_t)ASN1_STRING_length(s)) != NULL)
        return NULL;
    return OPENSSL_strndup((const char *)ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
}

int ch_oids_check(const char *const *oids, const char *field)
{
    size_t n = 0;
    int error;

    for (; oids != NULL && oids[n] != NULL; n++) {
        if ((error = ch_oid_check(oids[n], field)) < 0)
            return error;
        /* (RFC 5280 4.2.1.4: a policy appears once; a usage said twice says nothing more) */
        for (size_t k = 0; k < n; k++)
            if (strcmp(oids[k], oids[n]) == 0)
                return ch_error_set_field(CH_EINVAL, field, "OID %.64s is given twice", oids[n]);
    }
    if (n > CH_MAX_OIDS)
        return ch_error_set_field(CH_EINVAL, field, "%s holds at most %d OIDs", field, CH_MAX_OIDS);
    return 0;
}

int ch_eku_oids_check(const char *const *oids, const char *field)
{
    static const struct {
        const char *oid, *name;
    } named[] = {{"1.3.6.1.5.5.7.3.1", "server_auth"},      {"1.3.6.1.5.5.7.3.2", "client_auth"},
                 {"1.3.6.1.5.5.7.3.3", "code_signing"},     {"1.3.6.1.5.5.7.3.4", "email_protection"},
                 {"1.3.6.1.5.5.7.3.8", "time_stamping"},    {"1.3.6.1.5.5.7.3.9", "ocsp_signing"}};
    int error;

    if ((error = ch_oids_check(oids, field)) < 0)
        return error;
    /* One of the named usages is given by its name, where the profile's rules see it. */
    for (size_t i = 0; oids != NULL && oids[i] != NULL; i++)
        for (size_t k = 0; k < sizeof named / sizeof named[0]; k++)
            if (strcmp(oids[i], named[k].oid) == 0)
                return ch_error_set_field(CH_EINVAL, field, "OID %s is %s: give it by its name in ext_key_usage",
                                          oids[i], named[k].name);
    return 0;
}

int ch_pem_encode(ch_buf *out, const char *label, const uint8_t *der, size_t len)
{
    return x509_pem_block(out, label, der, len, "writing PEM");
}

int x509_pem_block(ch_buf *out, const char *name, const uint8_t *der, size_t len, const char *what)
{
    /* RFC 7468: base64 in lines of 64 characters (48 bytes each), as OpenSSL writes it; done
     * here directly, without a memory BIO per block. */
    size_t lines = (len + 47) / 48, need = 2 * (strlen(name) + 20) + lines * 65 + 1;
    uint8_t *p;

    if (ch_buf_grow(out, need) < 0)
        return ch_error_set(CH_ENOMEM, "out of memory while %s", what);
    p = out->data + out->len;
    p += sprintf((char *)p, "-----BEGIN %s-----\n", name);
    for (size_t i = 0; i < len; i += 48) {
        p += EVP_EncodeBlock(p, der + i, (int)(len - i < 48 ? len - i : 48));
        *p++ = '\n';
    }
    p += sprintf((char *)p, "-----END %s-----\n", name);
    out->len = (size_t)(p - out->data);
    out->data[out->len] = '\0';
    return 0;
}
