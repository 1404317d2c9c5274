/*
 * libcerthub X.509 engine: keys, names, certificates, CSRs, profiles, issuing, inspecting
 * and chains.  Pure functions over bytes and OpenSSL objects: no storage, no transport.
 *
 * Ownership: a result handed back through `**out` belongs to the caller and is released with
 * the matching _free (every _free accepts NULL).  A returned pointer is borrowed from its
 * owner and lives as long as it.  Errors: 0 or a negative CH_E* code with ch_error_last().
 *
 * Performance (DESIGN.md): OpenSSL 3.0 decoders take global locks, so every object here is
 * decoded once and keeps what later calls need (a certificate its DER and SHA-256, a key its
 * SubjectPublicKeyInfo DER); issuing copies SubjectPublicKeyInfo bytes instead of
 * re-encoding an EVP_PKEY.
 */
#ifndef CERTHUB_X509_H
#define CERTHUB_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certhub/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- keys */

typedef enum {
    CH_KEY_NONE = 0,
    CH_KEY_RSA2048,
    CH_KEY_RSA3072,
    CH_KEY_RSA4096,
    CH_KEY_P256,
    CH_KEY_P384,
    CH_KEY_P521,
    CH_KEY_ED25519,
} ch_key_type;

typedef struct ch_key ch_key; /* a private key, or a public key alone */

/* "rsa2048", "p256", "ed25519"... (also accepts "ec-p256", "rsa-2048", "RSA2048").  Unknown
 * names get CH_EINVAL with the list of accepted names. */
int ch_key_type_parse(ch_key_type *out, const char *name);
const char *ch_key_type_name(ch_key_type type); /* "p256"; "" for CH_KEY_NONE */
/* A set of key types, as a profile's key_types holds it: bit (1u << type) for each. */
#define CH_KEY_TYPE_BIT(type) (1u << (unsigned)(type))
/* Writes the names of the types in mask ("p256, ed25519") into out, always NUL-terminated. */
void ch_key_types_describe(char *out, size_t size, unsigned mask);

int ch_key_generate(ch_key **out, ch_key_type type);

/* Reads a private key from PEM (PKCS#8, encrypted PKCS#8, legacy "RSA/EC PRIVATE KEY", also
 * legacy-encrypted) or DER (PKCS#8, encrypted PKCS#8).  password may be NULL; a missing or
 * wrong password is CH_EPASSWORD.  Keys weaker than the accepted types (RSA < 2048, curves
 * other than P-256/384/521, DSA...) are CH_EPOLICY. */
int ch_key_parse(ch_key **out, const uint8_t *data, size_t len, const char *password);

/* Reads a public key (PEM "PUBLIC KEY" or DER SubjectPublicKeyInfo). */
int ch_key_parse_public(ch_key **out, const uint8_t *data, size_t len);

/* Wraps an EVP_PKEY (the reference is taken: EVP_PKEY_up_ref).  Refuses weak keys. */
int ch_key_from_pkey(ch_key **out, EVP_PKEY *pkey);

/* Writes the private key as PEM PKCS#8; with a password as encrypted PKCS#8
 * (AES-256-CBC, PBKDF2-HMAC-SHA256).  Secrets in the output: dispose with
 * ch_buf_dispose_secure. */
int ch_key_write_pem(ch_buf *out, const ch_key *key, const char *password);
/* Writes the private key as DER PKCS#8 (unencrypted).  Dispose with ch_buf_dispose_secure. */
int ch_key_write_der(ch_buf *out, const ch_key *key);
/* Writes the public key as PEM "PUBLIC KEY". */
int ch_key_write_public_pem(ch_buf *out, const ch_key *key);

bool ch_key_has_private(const ch_key *key);
ch_key_type ch_key_get_type(const ch_key *key);
EVP_PKEY *ch_key_pkey(const ch_key *key);                       /* borrowed */
const uint8_t *ch_key_spki_der(const ch_key *key, size_t *len); /* borrowed, cached */
/* "RSA", "EC", "Ed25519"; bits (2048, 256...); curve "P-256" or "" */
const char *ch_key_algorithm(const ch_key *key);
int ch_key_bits(const ch_key *key);
const char *ch_key_curve(const ch_key *key);
/* SHA-256 of the SubjectPublicKeyInfo DER (32 bytes): identifies a public key. */
const uint8_t *ch_key_spki_sha256(const ch_key *key);
/* true when a and b hold the same public key. */
bool ch_key_public_equal(const ch_key *a, const ch_key *b);
ch_key *ch_key_dup(const ch_key *key); /* a new reference; NULL on ENOMEM */
void ch_key_free(ch_key *key);

/* ---------------------------------------------------------------- names */

/* The fields of a distinguished name users fill in.  NULL or "" means absent. */
typedef struct ch_name_fields {
    const char *country;      /* C, two letters */
    const char *state;        /* ST */
    const char *locality;     /* L */
    const char *organization; /* O */
    const char *org_unit;     /* OU */
    const char *common_name;  /* CN */
    const char *email;        /* emailAddress */
} ch_name_fields;

/* Builds an X509_NAME from fields (UTF-8).  A NUL inside a field cannot be passed here; a
 * field over CH_MAX_NAME_LEN or a country that is not two letters is CH_EINVAL naming the
 * field.  An empty name is CH_EINVAL.  Free with X509_NAME_free. */
int ch_name_build(X509_NAME **out, const ch_name_fields *fields);

/* Parses "CN=dev1,O=Acme,C=DE" (RFC 4514 order or reversed; '\,' escapes; also "/C=DE/O=Acme"
 * as openssl -subj writes) into an X509_NAME.  Attributes: C ST L O OU CN emailAddress
 * (also E), serialNumber, DC, UID.  Free with X509_NAME_free. */
int ch_name_parse(X509_NAME **out, const char *text);

/* Prints a name as an RFC 4514 string ("CN=dev1,O=Acme,C=DE"), UTF-8.  free() the result. */
int ch_name_to_string(char **out, const X509_NAME *name);

/* Reads one attribute (e.g. NID_commonName) as UTF-8; the first if several.  CH_ENOTFOUND if
 * absent.  Refuses a value with an embedded NUL (CH_EPARSE).  free() the result. */
int ch_name_get(char **out, const X509_NAME *name, int nid);

/* ---------------------------------------------------------------- SANs */

/* CH_SAN_UPN: a Microsoft user principal name ("upn:jane@corp.example"), an otherName of
 * type 1.3.6.1.4.1.311.20.2.3 holding a UTF8String: what Windows maps a smart card logon's
 * certificate to its account by. */
typedef enum { CH_SAN_DNS = 1, CH_SAN_IP, CH_SAN_EMAIL, CH_SAN_URI, CH_SAN_UPN } ch_san_type;

typedef struct ch_san {
    ch_san_type type;
    const char *value; /* text: host name, IPv4/IPv6 literal, address, URI, user principal name */
} ch_san;

/* Parses "dns:a.example", "ip:127.0.0.1", "email:a@b", "uri:https://x", "upn:user@domain";
 * also a bare host name or IP.  value points into text (borrowed). */
int ch_san_parse(ch_san *out, const char *text);
/* Why name is not a DNS name as a certificate holds one (RFC 1034 3.5 labels of letters,
 * digits and '-', and '_' as service names use it; one leading "*" label, as TLS wildcards
 * are written; no trailing dot), or NULL when it is one.  The one rule of the SAN parser and
 * of profiles' name policies. */
const char *ch_dns_name_problem(const char *name);
/* Appends a SAN to b as certhub writes and keeps it ("dns:a.example", "ip:10.0.0.5"), an
 * address in its canonical form (as inet_ntop writes it, as a certificate reads back). */
int ch_san_append(ch_buf *b, const ch_san *san);

/* ---------------------------------------------------------------- certificates */

typedef struct ch_cert ch_cert;

/* Parses exactly one certificate from PEM or DER (the first certificate of a PEM with
 * several).  Garbage, a truncated DER or trailing bytes after a DER certificate are
 * CH_EPARSE with a sentence saying what was expected. */
int ch_cert_parse(ch_cert **out, const uint8_t *data, size_t len);
/* Parses every certificate of a PEM bundle (other PEM blocks are skipped), or one DER
 * certificate.  *out is a malloc'd array of *count certificates; free with
 * ch_cert_list_free.  No certificate at all is CH_EPARSE. */
int ch_cert_parse_all(ch_cert ***out, size_t *count, const uint8_t *data, size_t len);
void ch_cert_list_free(ch_cert **list, size_t count);

/* Wraps an X509 (the reference is taken: X509_up_ref). */
int ch_cert_from_x509(ch_cert **out, X509 *x509);
X509 *ch_cert_x509(const ch_cert *cert);                      /* borrowed */
const uint8_t *ch_cert_der(const ch_cert *cert, size_t *len); /* borrowed, cached */
const uint8_t *ch_cert_sha256(const ch_cert *cert);           /* 32 bytes, cached */
int ch_cert_write_pem(ch_buf *out, const ch_cert *cert);
ch_cert *ch_cert_dup(const ch_cert *cert); /* a new reference; NULL on ENOMEM */
void ch_cert_free(ch_cert *cert);

/* Public key of the certificate as a ch_key (public only). */
int ch_cert_public_key(ch_key **out, const ch_cert *cert);
/* true when the private key belongs to the certificate. */
bool ch_cert_matches_key(const ch_cert *cert, const ch_key *key);
bool ch_cert_is_ca(const ch_cert *cert);
bool ch_cert_is_self_signed(const ch_cert *cert);
/* Whether issuer issued cert: names, key identifiers and key usage agree and the signature
 * verifies with issuer's key. */
bool ch_cert_issued_by(const ch_cert *cert, const ch_cert *issuer);
int64_t ch_cert_not_before(const ch_cert *cert); /* seconds since the epoch */
int64_t ch_cert_not_after(const ch_cert *cert);
/* Serial number as lower-case hex (at most 40 digits for RFC 5280 serials; longer ones are
 * cut), into out. */
void ch_cert_serial_hex(char out[41], const ch_cert *cert);
/* Subject and issuer as RFC 4514 strings; free() the result.  Neither decodes the key, so
 * they are cheap on a certificate that was just issued. */
int ch_cert_subject_string(char **out, const ch_cert *cert);
int ch_cert_issuer_string(char **out, const ch_cert *cert);
/* One attribute of the subject (ch_name_get rules), without decoding the key. */
int ch_cert_subject_get(char **out, const ch_cert *cert, int nid);

/* Appends DER as one PEM block ("CERTIFICATE", "CERTIFICATE REQUEST"...), without decoding
 * it: what a stored row needs to be shown (decoding a certificate costs far more than this). */
int ch_pem_encode(ch_buf *out, const char *label, const uint8_t *der, size_t len);

/* ---------------------------------------------------------------- inspecting */

/* Key usage bits, as RFC 5280 4.2.1.3 numbers them. */
#define CH_KU_DIGITAL_SIGNATURE 0x001
#define CH_KU_NON_REPUDIATION   0x002
#define CH_KU_KEY_ENCIPHERMENT  0x004
#define CH_KU_DATA_ENCIPHERMENT 0x008
#define CH_KU_KEY_AGREEMENT     0x010
#define CH_KU_KEY_CERT_SIGN     0x020
#define CH_KU_CRL_SIGN          0x040
#define CH_KU_ENCIPHER_ONLY     0x080
#define CH_KU_DECIPHER_ONLY     0x100

/* Extended key usage bits (the ones profiles use; others are listed by OID in eku_other). */
#define CH_EKU_SERVER_AUTH      0x01
#define CH_EKU_CLIENT_AUTH      0x02
#define CH_EKU_CODE_SIGNING     0x04
#define CH_EKU_EMAIL_PROTECTION 0x08
#define CH_EKU_TIME_STAMPING    0x10
#define CH_EKU_OCSP_SIGNING     0x20

/* The extensions issuing may leave out or mark critical (ch_issue_opts.leave_out, .critical)
 * and inspecting reports as critical (ch_cert_info.critical). */
#define CH_EXT_BASIC_CONSTRAINTS 0x01
#define CH_EXT_KEY_USAGE         0x02
#define CH_EXT_EXT_KEY_USAGE     0x04
#define CH_EXT_AUTHORITY_KEY_ID  0x08
#define CH_EXT_ALL               0x0f

/* Their names, bit i at index i, NULL-terminated: "basic_constraints", "key_usage",
 * "ext_key_usage", "authority_key_id" (the API's fields that switch them). */
const char *const *ch_ext_names(void);
/* One extension's name into its bit; CH_EINVAL naming the accepted names otherwise. */
int ch_ext_parse(unsigned *bit, const char *name);

/* Names of the key usage (extended false) or extended key usage bits, bit i at index i,
 * NULL-terminated: "digital_signature"..., "server_auth"... */
const char *const *ch_usage_names(bool extended);
/* ku (CH_KU_*) without the bits that do not apply to cert's key (key transport with an EC key,
 * RFC 5480), which issuing refuses when asked for: what a renewal carries over. */
unsigned ch_cert_usage_fit(const ch_cert *cert, unsigned ku);
/* One usage name into its bit; the OpenSSL spelling ("digitalSignature") is accepted too.
 * CH_EINVAL naming the accepted names otherwise. */
int ch_usage_parse(unsigned *bit, bool extended, const char *name);

/* Everything `certhub inspect` shows of a certificate.  Strings are malloc'd UTF-8 owned by
 * the struct; release with ch_cert_info_dispose. */
typedef struct ch_cert_info {
    int version;            /* 1, 2 or 3 */
    char *serial;           /* hex, lower case, no separators */
    char *subject;          /* RFC 4514 */
    char *issuer;           /* RFC 4514 */
    char *common_name;      /* CN of the subject or NULL */
    int64_t not_before;     /* seconds since the epoch */
    int64_t not_after;
    char sha1[41];          /* hex, lower case */
    char sha256[65];
    char *key_algorithm;    /* "RSA", "EC", "Ed25519" */
    int key_bits;
    char *key_curve;        /* "P-256" or NULL */
    char *signature_algorithm; /* "ecdsa-with-SHA256", "sha256WithRSAEncryption" */
    bool has_basic_constraints;
    bool is_ca;
    int path_len;           /* -1 when absent (unlimited) */
    bool has_key_usage;
    unsigned key_usage;     /* CH_KU_* */
    bool has_ext_key_usage;
    unsigned ext_key_usage; /* CH_EKU_* */
    char **eku_other;       /* dotted OIDs of other EKUs; NULL-terminated, may be NULL */
    char **sans;            /* "dns:a.example", "ip:127.0.0.1", "email:..", "uri:.."; NULL-terminated */
    char *ski;              /* hex or NULL */
    char *aki;              /* hex or NULL */
    char **crl_urls;        /* NULL-terminated, may be NULL */
    char **ocsp_urls;       /* NULL-terminated, may be NULL */
    char **ca_issuers;      /* the AIA's caIssuers URLs: NULL-terminated, may be NULL */
    char **policies;        /* Certificate Policies, as dotted OIDs: NULL-terminated, may be NULL */
    bool self_signed;
    unsigned critical;      /* CH_EXT_* present and marked critical */
} ch_cert_info;

int ch_cert_inspect(ch_cert_info *out, const ch_cert *cert);
void ch_cert_info_dispose(ch_cert_info *info);
/* The info as a JSON object string (keys snake_case, times as RFC 3339 UTC "2030-01-01T00:00:00Z",
 * key_usage and ext_key_usage as arrays of names like "digital_signature", "server_auth").
 * free() the result. */
int ch_cert_info_to_json(char **out, const ch_cert_info *info);
/* The certificate's SANs as "dns:a,ip:1.2.3.4" (NULL when it has none), without decoding the
 * key: what the inventory keeps for search and renewal. */
int ch_cert_sans_text(char **out, const ch_cert *cert);
/* Formats a time as RFC 3339 UTC into out (at least 21 bytes). */
void ch_time_format(char *out, size_t outlen, int64_t t);
/* Parses "2030-01-01T00:00:00Z" (also "2030-01-01"). */
int ch_time_parse(int64_t *out, const char *text);

/* A certificate's lifetime in seconds: at least 5 minutes, step-ca's shortest by default (a
 * shorter one leaves no room to renew it: it starts a minute back for clock skew, and certhubd's
 * scheduler looks once a minute), and at most 36600 days, as "days" allows. */
#define CH_TTL_MIN 300
#define CH_TTL_MAX (36600LL * 86400)
/* Parses a lifetime as Vault and step-ca write one: a whole number and a unit, s, m, h or d
 * ("30m", "72h", "90d"), or several from the largest ("1d12h"), from CH_TTL_MIN to CH_TTL_MAX.  CH_EINVAL with field set to field
 * (the name the caller's user wrote it under: "ttl", "max_ttl", "--ttl"), saying what is
 * accepted. */
int ch_ttl_parse(int64_t *out, const char *text, const char *field);
/* The same form within other bounds, min to max seconds (CH_TTL_MIN <= min <= max <= CH_TTL_MAX):
 * what lasts other than a certificate (an API token's expires_in), its bounds said in the
 * refusal as ch_ttl_format writes them. */
int ch_ttl_parse_range(int64_t *out, const char *text, const char *field, int64_t min, int64_t max);
/* Writes a lifetime in the largest unit that holds it whole ("90d", "36h", "90m", "45s"): what
 * ch_ttl_parse reads back as the same seconds.  out holds 24 bytes or more. */
void ch_ttl_format(char *out, size_t outlen, int64_t seconds);

/* ---------------------------------------------------------------- CSRs */

typedef struct ch_csr ch_csr;

typedef struct ch_csr_opts {
    const X509_NAME *subject; /* required */
    const ch_san *sans;
    size_t san_count;
    const EVP_MD *digest;     /* NULL: SHA-256 (ignored for Ed25519) */
    /* Extensions requested of the CA that signs it (the storage seed's "Extra Constraints" of
     * a CSR): Key Usage (CH_KU_*, critical) and Extended Key Usage (CH_EKU_*), none when 0;
     * Basic Constraints CA:TRUE (critical) when ca, with path_len when >= 0. */
    unsigned key_usage;
    unsigned ext_key_usage;
    bool ca;
    int path_len;
} ch_csr_opts;

/* Creates and signs a CSR with key (which must hold a private key). */
int ch_csr_create(ch_csr **out, const ch_key *key, const ch_csr_opts *opts);
/* Parses one CSR from PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST") or DER.  Does
 * not verify the signature. */
int ch_csr_parse(ch_csr **out, const uint8_t *data, size_t len);
/* Verifies the CSR's self-signature: CH_EVERIFY "CSR signature does not verify" if not. */
int ch_csr_verify(const ch_csr *csr);
X509_REQ *ch_csr_req(const ch_csr *csr);                                  /* borrowed */
const uint8_t *ch_csr_spki_der(const ch_csr *csr, size_t *len);           /* borrowed */
/* The CSR's key algorithm, read from its SubjectPublicKeyInfo without decoding the key (cheap,
 * where ch_csr_req is not): EVP_PKEY_RSA, EVP_PKEY_EC with *curve the curve's NID (NID_undef
 * for explicit parameters), EVP_PKEY_ED25519...; NID_undef when not known. */
int ch_csr_key_id(const ch_csr *csr, int *curve);
int ch_csr_public_key(ch_key **out, const ch_csr *csr);
/* The Key Usage (CH_KU_*) and Extended Key Usage (CH_EKU_*) the CSR asks for in its extension
 * request, 0 each when it asks for none; an extended key usage certhub does not name (an OID
 * of its own) is CH_EPOLICY on "csr", naming it. */
int ch_csr_usages(const ch_csr *csr, unsigned *ku, unsigned *eku);
int ch_csr_write_pem(ch_buf *out, const ch_csr *csr);
void ch_csr_free(ch_csr *csr);

/* What inspect shows of a CSR. release with ch_csr_info_dispose. */
typedef struct ch_csr_info {
    char *subject;
    char *common_name;
    char *key_algorithm;
    int key_bits;
    char *key_curve;
    char *signature_algorithm;
    bool signature_ok;
    char **sans;            /* NULL-terminated, may be NULL */
    bool requests_ca;       /* BasicConstraints CA:TRUE requested */
    char sha256[65];        /* of the DER of the request */
} ch_csr_info;
int ch_csr_inspect(ch_csr_info *out, const ch_csr *csr);
void ch_csr_info_dispose(ch_csr_info *info);
int ch_csr_info_to_json(char **out, const ch_csr_info *info);

/* ---------------------------------------------------------------- profiles */

/* Built-in profiles: "root-ca", "intermediate-ca", "tls-server", "tls-client",
 * "tls-server-client", "device", "code-signing". */
typedef struct ch_profile {
    const char *name;
    const char *description;
    bool is_ca;
    int path_len;           /* -1: no pathLenConstraint */
    unsigned key_usage;     /* CH_KU_* */
    unsigned ext_key_usage; /* CH_EKU_*, 0: no EKU extension */
    int default_days;
    int max_days;           /* 0: no maximum beyond the issuer's validity */
    /* The same in seconds, for a profile of certificates shorter than a day or not of whole
     * days ("24h", "7d" as a Vault role's ttl and max_ttl): 0 takes the days field's. */
    int64_t default_ttl;
    int64_t max_ttl;
    bool allow_sans;
    const struct ch_name_policy *policy; /* NULL: any names (built-in profiles); borrowed */
    /* The key types its certificates may have (CH_KEY_TYPE_BIT each), however the key comes:
     * made by the server, in a CSR, given, or kept by a renewal.  0: any accepted key (built-in
     * profiles).  A key of another type is CH_EPOLICY with field "csr" or "public_key". */
    unsigned key_types;
    /* Extended key usages beyond the named ones (a smart card logon's 1.3.6.1.4.1.311.20.2.2)
     * and the certificate policies its certificates carry, as dotted OIDs (Vault's
     * ext_key_usage_oids and policy_identifiers): NULL-terminated, NULL for none (built-in
     * profiles); at most CH_MAX_OIDS each. */
    const char *const *eku_oids;
    const char *const *policies;
} ch_profile;

#define CH_MAX_OIDS 16
/* Whether dotted is an OID certhub writes: numbers without leading zeros joined by dots, at
 * least two, the first 0, 1 or 2 (the second below 40 unless the first is 2), each at most
 * 2^31 - 1 (Go's x509 refuses a certificate with a larger one), 127 bytes encoded at most.
 * CH_EINVAL naming field, saying what is taken. */
int ch_oid_check(const char *dotted, const char *field);
/* Each OID of a NULL-terminated list (may be NULL) checked, none twice, at most CH_MAX_OIDS. */
int ch_oids_check(const char *const *oids, const char *field);
/* The same of extended key usages given as OIDs, none of them one of the named usages
 * (ext_key_usage's server_auth... : given by its name). */
int ch_eku_oids_check(const char *const *oids, const char *field);

/* A profile's default and longest lifetimes in seconds, from its ttl or else its days (0: no
 * maximum). */
int64_t ch_profile_default_life(const ch_profile *p);
int64_t ch_profile_max_life(const ch_profile *p);

/* The names a custom profile's certificates may carry (as Vault PKI roles and step-ca's x509
 * policy say it).  DNS names are compared in ASCII lower case without a trailing dot; an
 * internationalized name is given and checked in its xn-- form (IDNA A-labels).
 *
 * - dns_restricted false: DNS names (and email domains, URIs) are not limited.
 * - domains: an entry "example.com" allows that name, and with allow_subdomains every name
 *   below it (www.example.com, a.b.example.com); an entry "*.example.com" allows the names
 *   exactly one label below example.com (www.example.com, not example.com nor a.b.example.com).
 * - A wildcard name ("*.example.com") needs allow_wildcards, and is allowed when every name it
 *   stands for is: under an entry example.com with allow_subdomains, or an entry "*.example.com".
 * - An email address's domain is checked as a DNS name (without wildcards); a URI needs
 *   allow_uri; an IP address needs allow_ip.
 * - The subject's common names are checked as DNS names when a TLS client could take them for
 *   one (ASCII letters, digits, '-', '_', '.' and a leading "*."), as IP addresses when they are
 *   one; any other common name ("Build Agent 7", an address with '@') matches no host and is
 *   not checked. */
typedef struct ch_name_policy {
    char **domains; /* lower case, without a trailing dot */
    size_t ndomains;
    bool dns_restricted;
    bool allow_subdomains;
    bool allow_wildcards;
    bool allow_ip;
    bool allow_uri;
} ch_name_policy;

/* Adds an entry to policy->domains: a DNS name or "*." and one, written as above (trailing dot
 * dropped, lower-cased).  CH_EINVAL saying why when it is not one; CH_ENOMEM. */
int ch_name_policy_add(ch_name_policy *policy, const char *entry);
/* Checks the names a certificate would carry.  CH_EPOLICY with field "sans" or "subject" and a
 * message naming the name and what profile_name allows.  sans_from_csr only words the message. */
int ch_name_policy_check(const ch_name_policy *policy, const char *profile_name, const X509_NAME *subject,
                         const ch_san *sans, size_t nsans, bool sans_from_csr);
/* Frees the domains; the struct itself is the caller's. */
void ch_name_policy_dispose(ch_name_policy *policy);

/* Borrowed pointer to a built-in profile, or NULL (and CH_ENOTFOUND set with the list of
 * names) when there is none by that name. */
const ch_profile *ch_profile_get(const char *name);
/* NULL-terminated array of the built-in profiles. */
const ch_profile *const *ch_profile_list(void);

/* "sha256", "sha384", "sha512" (also "SHA-256"...).  Fetched once; borrowed. */
int ch_digest_parse(const EVP_MD **out, const char *name);

/* ---------------------------------------------------------------- issuing */

typedef struct ch_issue_opts {
    const ch_profile *profile;   /* required */
    const ch_cert *ca_cert;      /* NULL: self-signed (only for CA profiles) */
    const ch_key *ca_key;        /* the issuer's private key (the subject's own when self-signed) */
    const char *issuer_text;     /* NULL, or ca_cert's subject as ch_cert_subject_string writes it:
                                    then it is not written again for each certificate */
    /* The subject's public key: exactly one of these. */
    const ch_key *subject_key;   /* a key (private or public) */
    const ch_csr *csr;           /* a CSR: its subject, key and SANs are used unless overridden */
    const X509_NAME *subject;    /* required unless a CSR supplies it */
    const ch_san *sans;          /* NULL: from the CSR, if any */
    size_t san_count;
    int64_t not_before;          /* 0: now - CH_ISSUE_BACKDATE (clock skew) */
    /* The lifetime, from now (or not_before): one of these, or neither for the profile's. */
    int days;                    /* 0: not given */
    int64_t ttl;                 /* in seconds, CH_TTL_MIN to CH_TTL_MAX; 0: not given */
    int64_t not_after;           /* or the end itself (a date, as Vault's not_after); 0: not given */
    const EVP_MD *digest;        /* NULL: SHA-256; ignored for Ed25519 issuers */
    /* Overrides of the profile; -2 / 0 mean "keep the profile's". */
    int path_len;                /* -2 keep, -1 none, >= 0 set */
    unsigned key_usage;          /* 0 keep */
    unsigned ext_key_usage;      /* 0 keep */
    /* The extension switches of a create wizard (the storage seed's "Extra Constraints"); 0
     * writes what the profile says, as RFC 5280 asks it. */
    unsigned leave_out;          /* CH_EXT_* not written (see ch_issue_check_extensions) */
    unsigned critical_set;       /* CH_EXT_* whose criticality `critical` decides; the others are
                                    as RFC 5280 advises: Basic Constraints and Key Usage critical,
                                    Extended Key Usage and the Authority Key Identifier not */
    unsigned critical;           /* those of critical_set marked critical */
    bool cap_validity;           /* true: shorten to the issuer's not_after instead of refusing */
    /* The Key Usage and Extended Key Usage the CSR asks for (its extension request) in place of
     * the profile's, where key_usage / ext_key_usage are 0 and the extension is not left out:
     * held to the same rules as those given (Vault's use_csr_values).  Without it, never. */
    bool csr_usages;
    /* URLs from the CA's settings (DESIGN.md: revocation comes later). NULL-terminated. */
    const char *const *crl_urls;
    const char *const *ocsp_urls;
    const char *const *ca_issuers_urls; /* the AIA's caIssuers: where the issuer's certificate is */
    /* In place of the profile's (ch_profile): NULL takes the profile's, an empty list (its
     * first NULL) none. */
    const char *const *eku_oids;
    const char *const *policies;
} ch_issue_opts;

/* Whether each URL (NULL-terminated list, may be NULL) is one a client can fetch, to be written
 * into a certificate: http://, https:// or ldap:// with a host, in visible ASCII.  CH_EINVAL
 * naming field otherwise. */
int ch_issue_urls_check(const char *const *urls, const char *field);
#define CH_URL_MAX 1024

/* Issues a certificate: 16 random serial bytes (positive), SKI and AKI, Basic Constraints,
 * KU and EKU from the profile and overrides (AKI, BC, KU and EKU unless left out), SANs.
 * RFC 5280 rules: the issuer must be a CA with keyCertSign, its path length is respected
 * (an intermediate under a CA with pathlen 0 is CH_EPOLICY), validity past the issuer's
 * not_after is CH_EPOLICY (or capped with cap_validity, unless less than CH_TTL_MIN would be
 * left), as is a lifetime past the profile's maximum, with field "days" or "ttl" (days and ttl
 * both, or either out of range: CH_EINVAL), a CSR asking for CA:TRUE under a
 * leaf profile is CH_EPOLICY.  A CSR's other requested extensions are never copied, its Key
 * Usage and EKU only with csr_usages.
 * Thread-safe. */
int ch_cert_issue(ch_cert **out, const ch_issue_opts *opts);
/* How far before now a certificate issued without not_before starts: a minute, for the clocks
 * of those that check it a little behind the issuer's (step-ca backdates as much).  Its
 * lifetime is counted from now, so a certificate of 30 minutes is good for 30 minutes from the
 * moment it is issued. */
#define CH_ISSUE_BACKDATE 60
/* The lifetime a certificate ch_cert_issue made (without not_before) was asked for, from its
 * validity: not_after - not_before less the backdating, to the minute.  What its renewal, or
 * its CA's rotation, asks for again. */
int64_t ch_issue_ttl_of(int64_t not_before, int64_t not_after);
/* The checks ch_cert_issue makes of the extension switches (leave_out, critical_set, critical)
 * against opts->profile, key_usage and ext_key_usage, for a caller that wants them answered
 * before other work: CH_EINVAL naming the API's field ("basic_constraints", "key_usage",
 * "ext_key_usage", "critical") when a CA certificate would lack Basic Constraints (RFC 5280
 * 4.2.1.9) or Key Usage (4.2.1.3), a CA's Basic Constraints would not be critical (4.2.1.9),
 * the Authority Key Identifier would be critical (4.2.1.1), an extension left out is marked
 * critical, or usages are given for an extension left out.  Leaving out the Authority Key
 * Identifier is allowed, though RFC 5280 4.2.1.1 asks for it in all but self-signed
 * certificates: verifiers then find the issuer by its name alone. */
int ch_issue_check_extensions(const ch_issue_opts *opts);

/* ---------------------------------------------------------------- chains */

/* Orders certificates into leaf -> root: the leaf is the one that issued no other.  On success
 * *out is a malloc'd array of *count new references.  A bag that holds two chains or a
 * certificate that does not link is CH_EVERIFY naming the certificate. */
int ch_chain_order(ch_cert ***out, size_t *count, ch_cert *const *certs, size_t n);

typedef enum {
    CH_PURPOSE_ANY = 0,
    CH_PURPOSE_SERVER,
    CH_PURPOSE_CLIENT,
} ch_purpose;

typedef struct ch_verify_opts {
    ch_cert *const *anchors;     /* trusted roots (or intermediates, partial chain allowed) */
    size_t anchor_count;
    ch_cert *const *untrusted;   /* intermediates */
    size_t untrusted_count;
    int64_t at;                  /* 0: now */
    ch_purpose purpose;
    const char *hostname;        /* NULL: no host name check */
    size_t *path_len;            /* not NULL: set to the certificates of the path verified, leaf
                                    and anchor counted (which anchor is nearest the leaf) */
} ch_verify_opts;

/* Verifies leaf.  CH_EVERIFY with the reason in ch_error_last(): "certificate has expired",
 * "certificate is not yet valid", "unknown issuer", "issuer is not a CA", "path length
 * exceeded", "bad signature", "wrong key usage for <purpose>", "host name mismatch". */
int ch_chain_verify(const ch_cert *leaf, const ch_verify_opts *opts);
/* Which of anchors[n] could end a path from leaf: those whose subject is an issuer's name on
 * some chain of names from the leaf up through pool[npool] (each certificate's issuer, the
 * certificates of that subject, their issuers...).  Names only, nothing verified: one not
 * marked cannot verify leaf, as a path is built by names; one marked may.  reachable[i] for
 * each (false for a NULL anchor).  0, or CH_ENOMEM. */
int ch_chain_reachable(const ch_cert *leaf, ch_cert *const *pool, size_t npool, ch_cert *const *anchors, size_t n,
                       bool *reachable);

#ifdef __cplusplus
}
#endif
#endif
