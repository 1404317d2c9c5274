/*
 * Distinguished names: build from the fields people fill in, parse the text forms people
 * type ("CN=dev1,O=Acme" as RFC 4514 writes it, "/C=DE/O=Acme" as openssl -subj takes it),
 * print RFC 4514, and read one attribute refusing embedded NULs (a classic way to make a
 * name say one thing to a checker and another to a person).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "certhub/x509.h"

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static int add_entry(X509_NAME *name, int nid, const char *value, const char *field)
{
    size_t len = strlen(value);
    const ASN1_STRING_TABLE *bounds;
    char upper[3];

    if (len == 0)
        return ch_error_set_field(CH_EINVAL, field, "%s is empty", field);
    if (len > CH_MAX_NAME_LEN)
        return ch_error_set_field(CH_EINVAL, field, "%s is longer than %u bytes", field, CH_MAX_NAME_LEN);
    if (has_ctl(value))
        return ch_error_set_field(CH_EINVAL, field, "%s contains a control character", field);
    if (nid == NID_countryName &&
        (len != 2 || !((value[0] >= 'A' && value[0] <= 'Z') || (value[0] >= 'a' && value[0] <= 'z')) ||
         !((value[1] >= 'A' && value[1] <= 'Z') || (value[1] >= 'a' && value[1] <= 'z'))))
        return ch_error_set_field(CH_EINVAL, field,
                                  "country must be a two-letter ISO 3166 code such as DE or US, not \"%.32s\"",
                                  value);
    /* X.520's upper bound of the attribute (64 characters for a common name or an
     * organisation), said as such rather than as OpenSSL's "string too long". */
    if ((bounds = ASN1_STRING_TABLE_get(nid)) != NULL && bounds->maxsize > 0 &&
        ch_utf8_chars(value) > (size_t)bounds->maxsize)
        return ch_error_set_field(CH_EINVAL, field, "%s is %zu characters long; X.509 allows at most %ld", field,
                                  ch_utf8_chars(value), bounds->maxsize);
    /* ISO 3166 codes are capitals: "us" is taken as US, not written as it came. */
    if (nid == NID_countryName) {
        upper[0] = (char)(value[0] & ~0x20);
        upper[1] = (char)(value[1] & ~0x20);
        upper[2] = '\0';
        value = upper;
    }
    if (X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8, (const unsigned char *)value, (int)len, -1,
                                   0) != 1)
        return ch_error_ossl(CH_EINVAL, "X509_NAME_add_entry_by_NID", field);
    return 0;
}

int ch_name_build(X509_NAME **out, const ch_name_fields *f)
{
    /* RFC 4514 prints the most specific last-added first; add from the root down. */
    const struct {
        int nid;
        const char *value;
        const char *field;
    } order[] = {
        {NID_countryName, f->country, "country"},
        {NID_stateOrProvinceName, f->state, "state"},
        {NID_localityName, f->locality, "locality"},
        {NID_organizationName, f->organization, "organization"},
        {NID_organizationalUnitName, f->org_unit, "organizational_unit"},
        {NID_commonName, f->common_name, "common_name"},
        {NID_pkcs9_emailAddress, f->email, "email"},
    };
    X509_NAME *name;
    int error;

    *out = NULL;
    /* An address, as an email SAN is one: "not-an-email" went into the subject as it was. */
    if (f->email != NULL && f->email[0] != '\0') {
        const char *at = strchr(f->email, '@');
        if (at == NULL || at == f->email || at[1] == '\0' || strchr(at + 1, '@') != NULL ||
            strpbrk(f->email, " \t<>()[],;:\"") != NULL)
            return ch_error_set_field(CH_EINVAL, "email", "email must be an address such as ops@example.com, not \"%.64s\"",
                                      f->email);
    }
    if ((name = X509_NAME_new()) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (order[i].value == NULL || order[i].value[0] == '\0')
            continue;
        if ((error = add_entry(name, order[i].nid, order[i].value, order[i].field)) < 0) {
            X509_NAME_free(name);
            return error;
        }
    }
    if (X509_NAME_entry_count(name) == 0) {
        X509_NAME_free(name);
        return ch_error_set_field(CH_EINVAL, "subject", "the subject is empty: give at least a common name");
    }
    *out = name;
    return 0;
}

static int attr_nid(const char *key)
{
    static const struct {
        const char *key;
        int nid;
    } attrs[] = {
        {"C", NID_countryName},         {"ST", NID_stateOrProvinceName},
        {"S", NID_stateOrProvinceName}, {"L", NID_localityName},
        {"O", NID_organizationName},    {"OU", NID_organizationalUnitName},
        {"CN", NID_commonName},         {"EMAILADDRESS", NID_pkcs9_emailAddress},
        {"E", NID_pkcs9_emailAddress},  {"SERIALNUMBER", NID_serialNumber},
        {"DC", NID_domainComponent},    {"UID", NID_userId},
        {"STREET", NID_streetAddress},  {"TITLE", NID_title},
        {"GN", NID_givenName},          {"SN", NID_surname},
    };
    char up[32];
    size_t n = strlen(key);

    if (n == 0 || n >= sizeof up)
        return NID_undef;
    for (size_t i = 0; i <= n; i++)
        up[i] = (char)((key[i] >= 'a' && key[i] <= 'z') ? key[i] - 32 : key[i]);
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
        if (strcmp(up, attrs[i].key) == 0)
            return attrs[i].nid;
    return NID_undef;
}

/* One "key=value" with escapes already removed. */
struct rdn {
    char *key;
    char *value;
};

static void trim(char *s)
{
    size_t n = strlen(s), i = 0;

    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    while (s[i] == ' ' || s[i] == '\t')
        i++;
    memmove(s, s + i, n - i + 1);
}

/* Splits text on sep (honouring backslash escapes), storing unescaped "key=value" pairs.
 * The escaped separators and '=' stay part of values. */
static int split(struct rdn *rdns, size_t *count, size_t max, char *buf, const char *text, char sep)
{
    char *w = buf, *start = buf, *eq = NULL;
    const char *p = text;

    *count = 0;
    for (;; p++) {
        if (*p == '\\' && p[1] != '\0') {
            p++;
            /* RFC 4514 hex pair escape "\2C" */
            if (((p[0] >= '0' && p[0] <= '9') || (p[0] >= 'a' && p[0] <= 'f') || (p[0] >= 'A' && p[0] <= 'F')) &&
                ((p[1] >= '0' && p[1] <= '9') || (p[1] >= 'a' && p[1] <= 'f') || (p[1] >= 'A' && p[1] <= 'F'))) {
                char hex[3] = {p[0], p[1], 0};
                long v = strtol(hex, NULL, 16);
                if (v == 0)
                    return ch_error_set_field(CH_EINVAL, "subject", "the subject contains a NUL byte");
                *w++ = (char)v;
                p++;
            } else {
                *w++ = *p;
            }
            continue;
        }
        /* RFC 4514: an unescaped '+' joins two attributes into one multi-valued RDN, which
         * certhub does not make; read as part of the value it would name something else. */
        if (*p == '+' && sep == ',')
            return ch_error_set_field(CH_EINVAL, "subject", "a '+' joins attributes into one multi-valued RDN, which "
                                      "certhub does not make: write \\+ for a '+' in a value, or a ',' between "
                                      "attributes");
        if (*p == sep || *p == '\0') {
            *w++ = '\0';
            if (eq == NULL) {
                trim(start);
                if (*start != '\0' || *p != '\0')
                    return ch_error_set_field(CH_EINVAL, "subject",
                                              "\"%.64s\" is not KEY=value; expected a subject such as "
                                              "\"CN=dev1,O=Acme,C=DE\"",
                                              start);
            } else {
                if (*count >= max)
                    return ch_error_set_field(CH_EINVAL, "subject", "the subject has more than %zu attributes", max);
                *eq = '\0';
                rdns[*count].key = start;
                rdns[*count].value = eq + 1;
                trim(rdns[*count].key);
                trim(rdns[*count].value);
                (*count)++;
            }
            if (*p == '\0')
                break;
            start = w;
            eq = NULL;
            continue;
        }
        if (*p == '=' && eq == NULL) {
            eq = w;
            *w++ = '=';
            continue;
        }
        *w++ = *p;
    }
    return 0;
}

int ch_name_parse(X509_NAME **out, const char *text)
{
    struct rdn rdns[64];
    size_t count = 0, len;
    char *buf = NULL;
    const char *body = text;
    char sep = ',';
    bool slash = false;
    X509_NAME *name = NULL;
    int error;

    *out = NULL;
    if (text == NULL || (len = strlen(text)) == 0)
        return ch_error_set_field(CH_EINVAL, "subject", "the subject is empty; expected e.g. \"CN=dev1,O=Acme\"");
    if (len > 8 * CH_MAX_NAME_LEN)
        return ch_error_set_field(CH_EINVAL, "subject", "the subject is too long");
    if (text[0] == '/') {
        slash = true;
        sep = '/';
        body = text + 1;
    }
    if ((buf = malloc(len + 2)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    if ((error = split(rdns, &count, sizeof rdns / sizeof rdns[0], buf, body, sep)) < 0)
        goto done;
    if (count == 0) {
        error = ch_error_set_field(CH_EINVAL, "subject", "the subject is empty; expected e.g. \"CN=dev1,O=Acme\"");
        goto done;
    }
    if ((name = X509_NAME_new()) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    /* RFC 4514 strings list the most specific RDN first; the encoding starts at the root.
     * "/C=DE/O=x" (openssl -subj) is already root first. */
    for (size_t k = 0; k < count; k++) {
        struct rdn *r = &rdns[slash ? k : count - 1 - k];
        int nid = attr_nid(r->key);
        if (nid == NID_undef) {
            error = ch_error_set_field(CH_EINVAL, "subject",
                                       "unknown subject attribute \"%.32s\"; accepted: C, ST, L, O, OU, CN, "
                                       "emailAddress, serialNumber, DC, UID, street, title, GN, SN",
                                       r->key);
            goto done;
        }
        if ((error = add_entry(name, nid, r->value, OBJ_nid2sn(nid))) < 0)
            goto done;
    }
    *out = name;
    name = NULL;
done:
    X509_NAME_free(name);
    free(buf);
    return error;
}

int ch_name_to_string(char **out, const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p, *s;
    long n;

    *out = NULL;
    if (bio == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    /* RFC 2253/4514 form with UTF-8 kept as UTF-8 (not \\XX escapes) for people to read. */
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
        BIO_free(bio);
        return ch_error_ossl(CH_EPARSE, "X509_NAME_print_ex", "printing a name");
    }
    n = BIO_get_mem_data(bio, &p);
    if ((s = malloc((size_t)n + 1)) == NULL) {
        BIO_free(bio);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    BIO_free(bio);
    *out = s;
    return 0;
}

int ch_name_get(char **out, const X509_NAME *name, int nid)
{
    int idx = X509_NAME_get_index_by_NID(name, nid, -1);
    const ASN1_STRING *data;
    unsigned char *utf8 = NULL;
    char *s;
    int len;

    *out = NULL;
    if (idx < 0)
        return ch_error_set(CH_ENOTFOUND, "the name has no %s", OBJ_nid2sn(nid));
    data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    if ((len = ASN1_STRING_to_UTF8(&utf8, data)) < 0) {
        ERR_clear_error();
        return ch_error_set(CH_EPARSE, "the %s of the name is not a valid string", OBJ_nid2sn(nid));
    }
    if (memchr(utf8, '\0', (size_t)len) != NULL) {
        OPENSSL_free(utf8);
        return ch_error_set(CH_EPARSE, "the %s of the name contains a NUL byte", OBJ_nid2sn(nid));
    }
    if ((s = malloc((size_t)len + 1)) == NULL) {
        OPENSSL_free(utf8);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    memcpy(s, utf8, (size_t)len);
    s[len] = '\0';
    OPENSSL_free(utf8);
    *out = s;
    return 0;
}
