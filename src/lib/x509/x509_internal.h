/*
 * Helpers shared inside the X.509 engine (and by formats/, which reads the same encrypted
 * PKCS#8 structures inside PKCS#12).  Not part of the public API.
 */
#ifndef CERTHUB_X509_INTERNAL_H
#define CERTHUB_X509_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* SHA-256 and SHA-1, fetched once (EVP_MD_fetch) and shared by every thread. */
const EVP_MD *x509_sha256(void);
const EVP_MD *x509_sha1(void);

/* One DER certificate decoded for reading only: names, validity, extensions, what inspect
 * shows; not its key, so it cannot verify, chain, serve TLS or go into a key store (the full
 * object does: ch_cert_x509).  Decoded in a library context whose one provider offers SHA-1
 * alone, so OpenSSL 3.0 does not decode its key through its decoders (slow, under global
 * locks).  *end is where the certificate stopped; NULL if the input is not one. */
X509 *x509_view_decode(const uint8_t *der, size_t len, const uint8_t **end);

/* Seconds since the epoch of an ASN1_TIME, independent of the local time zone. */
int x509_time_to_epoch(int64_t *out, const ASN1_TIME *t);

/* Refuses a password-based encryption whose work factor is above the caps (PBKDF2 and
 * PKCS#5 v1 iterations above CH_MAX_KDF_ITER, scrypt N above 2^20) before any work is done:
 * an upload must not make the service spin.  alg is the encryption AlgorithmIdentifier of an
 * EncryptedPrivateKeyInfo or of a PKCS#12 bag.  what names the object in the message. */
int x509_pbe_check(const X509_ALGOR *alg, const char *what);
/* The key-derivation budget of one file (CH_MAX_KDF_BUDGET iterations in all): begin and end
 * around reading it (nested calls share the outer budget); spend each derivation it asks. */
void x509_kdf_begin(void);
void x509_kdf_end(void);
int x509_kdf_spend(uint64_t iterations, const char *what);
void x509_kdf_budget_set(uint64_t iterations); /* tests: another budget (0: the default) */

/* The key's SubjectPublicKeyInfo as an X509_PUBKEY, decoded once when the key was made, so
 * issuing can copy it field by field.  Borrowed. */
struct ch_key;
const X509_PUBKEY *x509_key_xpub(const struct ch_key *key);

/* A certificate's object (decoded once, when first asked for).  Borrowed. */
struct ch_cert;
X509 *x509_cert_obj(const struct ch_cert *cert);

/* What issuing knew of a certificate it encoded (issue.c), so that storing it decodes
 * nothing.  Strings are malloc'd; common_name and sans may be NULL (none). */
struct x509_issued {
    int64_t not_before, not_after;
    uint8_t serial[20];
    size_t serial_len;
    bool is_ca;
    char *subject, *issuer, *common_name, *sans;
};
void x509_issued_free(struct x509_issued *issued);
/* Wraps the DER of a certificate issued here (takes ownership of der and issued, also on
 * failure). */
int x509_cert_from_issued(struct ch_cert **out, uint8_t *der, size_t len, struct x509_issued *issued);
const struct x509_issued *x509_cert_issued(const struct ch_cert *cert);

#include "certhub/common.h"

/* Appends DER bytes as one PEM block named name ("CERTIFICATE"...): no re-encoding. */
/* What issuing reads of a CSR, without decoding its key (csr.c). */
const X509_NAME *x509_csr_subject(const ch_csr *csr);
const X509_PUBKEY *x509_csr_pubkey(const ch_csr *csr);
/* The key's type, or CH_EPOLICY for a key certhub does not accept (RSA under 2048 bits, a curve
 * other than P-256/384/521, DSA, Ed448...): the rule for every key, given or made. */
int x509_key_classify(ch_key_type *out, EVP_PKEY *pkey);
/* Whether the CSR's key is one certhub accepts (as x509_key_classify; RSA-PSS keys as RSA):
 * CH_EPOLICY on field "csr" saying what is accepted, if not. */
int x509_csr_key_allowed(const ch_csr *csr);
/* The type of a CSR's key, once x509_csr_key_allowed took it: CH_KEY_NONE for none of the
 * types (an RSA key's size rounded down to 2048, 3072 or 4096, as ch_key_get_type does).
 * CH_EPARSE when the key cannot be read. */
int x509_csr_key_type(ch_key_type *out, const ch_csr *csr);
STACK_OF(X509_EXTENSION) *x509_csr_extensions(const ch_csr *csr); /* requested; free with pop_free */

int x509_pem_block(ch_buf *out, const char *name, const uint8_t *der, size_t len, const char *what);

/* DER written into a ch_buf (certificates, PKCS#8): x509_der_tlv appends one value with its
 * tag and length; x509_der_wrap makes the bytes from start to the end of b the contents of
 * one value with tag (for constructed values whose contents were written first). */
int x509_der_wrap(ch_buf *b, size_t start, uint8_t tag);
int x509_der_tlv(ch_buf *b, uint8_t tag, const void *v, size_t n);

/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t x509_days_from_civil(int64_t y, unsigned m, unsigned d);

/* One whole Extension, DER, appended to b: Basic Constraints (RFC 5280 4.2.1.9; path_len < 0:
 * none), Key Usage (4.2.1.3: CH_KU_* bit i is KeyUsage bit i), Extended Key Usage (4.2.1.12,
 * CH_EKU_*).  What issuing writes into a certificate and a CSR asks for, encoded once. */
int x509_ext_basic_constraints(ch_buf *b, bool ca, int path_len, bool critical);
int x509_ext_key_usage(ch_buf *b, unsigned ku, bool critical);
/* The Extended Key Usage extension: the usages of eku (CH_EKU_*), then the dotted OIDs of oids
 * (NULL-terminated, may be NULL; checked by ch_oid_check). */
int x509_ext_ext_key_usage(ch_buf *b, unsigned eku, const char *const *oids, bool critical);
/* An OBJECT IDENTIFIER's TLV from its dotted text, checked as ch_oid_check checks it. */
int x509_der_oid(ch_buf *b, const char *dotted, const char *field);
/* A GeneralName's user principal name (an otherName of type 1.3.6.1.4.1.311.20.2.3 holding a
 * UTF8String without NUL), OPENSSL_malloc'd; NULL for any other name. */
char *x509_upn_text(const GENERAL_NAME *gn);
/* The CH_EKU_* bit of an extended key usage's NID, 0 for one certhub does not name. */
unsigned x509_eku_bit(int nid);
/* Key Usage bits that do not apply to the key of spki (key transport with an EC key, RFC
 * 5480): a profile's (profile: its name) are left out of *ku unless that leaves none; asked
 * for (profile NULL), a 400 naming the bit and what the key takes. */
int x509_ku_check(unsigned *ku, const X509_PUBKEY *spki, const char *profile);
/* True when the bytes look like PEM (a "-----BEGIN " line somewhere near the start). */
int x509_looks_pem(const uint8_t *data, size_t len);
/* For PEM that holds no certificate: what it holds instead, as words to follow "it holds"
 * with what to do ("a CSR ..."), or NULL when it is none of the blocks named. */
const char *x509_pem_instead(const uint8_t *data, size_t len);

#endif
