/*
 * Keystores and formats: PEM, DER, PKCS#7 (P7B), PKCS#12 (PFX/P12), JKS and JCEKS, read from
 * their bytes (never from a file name) into one neutral model and written back.
 *
 * A keystore is an ordered list of entries; an entry has an alias, a certificate chain (leaf
 * first) and optionally a private key.  A single certificate is a keystore of one entry.
 * Ownership: ch_keystore_import's result is the caller's (ch_keystore_free); entries hold
 * their own references to certificates and keys.
 */
#ifndef CERTHUB_FORMATS_H
#define CERTHUB_FORMATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certhub/x509.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CH_FMT_UNKNOWN = 0,
    CH_FMT_PEM,    /* any mix of certificates, keys, CSRs, CRLs, PKCS#7 */
    CH_FMT_DER,    /* one DER certificate (.cer/.crt are often this) */
    CH_FMT_PKCS7,  /* DER PKCS#7 certificate bag (.p7b) */
    CH_FMT_PKCS12, /* .pfx / .p12 */
    CH_FMT_JKS,    /* Java keystore, magic FEEDFEED */
    CH_FMT_JCEKS,  /* Java JCE keystore, magic CECECECE */
} ch_format;

#define CH_FORMATS_ACCEPTED "PEM, DER certificate (.cer/.crt), PKCS#7 (.p7b), PKCS#12 (.pfx/.p12), JKS, JCEKS"
/* The names ch_format_parse takes for the formats ch_keystore_export writes (all but jceks), as
 * a refusal lists them: one who asked for "pfx" or "cer" is told those are taken too. */
#define CH_FORMAT_NAMES_WRITTEN "pem, der (cer, crt), p7b (p7c, pkcs7), p12 (pfx, pkcs12) or jks"

/* Detects the format from the bytes.  Unknown bytes are CH_EUNSUPPORTED naming the accepted
 * formats; DER that says it is longer than the bytes given, CH_EPARSE saying it is cut short. */
int ch_format_detect(ch_format *out, const uint8_t *data, size_t len);
/* Whether data begins a DER SEQUENCE longer than len; *want is the length it says. */
bool ch_der_cut_short(const uint8_t *data, size_t len, size_t *want);
const char *ch_format_name(ch_format f); /* "pem", "der", "p7b", "p12", "jks", "jceks" */
/* "pem", "der", "cer", "crt", "p7b", "p7c", "p12", "pfx", "pkcs12", "jks", "jceks". */
int ch_format_parse(ch_format *out, const char *name);

typedef struct ch_ks_entry {
    char *alias;
    ch_cert **chain;       /* leaf first */
    size_t chain_len;
    ch_key *key;           /* NULL: a trusted-certificate entry (or key_locked) */
    bool key_locked;       /* a key entry whose key was not opened (ch_import_opts.keys_optional) */
} ch_ks_entry;

typedef struct ch_keystore {
    ch_ks_entry *entries;
    size_t count;
    ch_format source;      /* what it was read from */
    char *notes;           /* what was skipped, one line each, or NULL */
    size_t keys_unmatched; /* private keys whose certificate the file does not hold (skipped) */
} ch_keystore;

#define CH_MAX_KS_ENTRIES 4096u

typedef struct ch_import_opts {
    const char *password;      /* store password (PKCS#12, JKS, JCEKS), or of encrypted PEM keys */
    const char *key_password;  /* JKS/JCEKS key entries; NULL: the store password */
    bool keys_optional;        /* a JKS/JCEKS key the passwords do not open: its entry kept without
                                * it (key_locked), with a note, instead of failing the whole file;
                                * and a JKS/JCEKS without a password read as keytool -list reads
                                * one: its integrity unchecked (said in a note), every key closed */
} ch_import_opts;

/* Reads any accepted format.  A wrong password is CH_EPASSWORD ("wrong password for
 * keystore"), never a parse error; an iteration count above CH_MAX_KDF_ITER is CH_ETOOBIG
 * before any work; input over CH_MAX_UPLOAD_BYTES is CH_ETOOBIG. */
int ch_keystore_import(ch_keystore **out, const uint8_t *data, size_t len, const ch_import_opts *opts);

typedef struct ch_export_opts {
    const char *password;     /* required for p12 ("": the empty password) and jks (not empty); optional
                               * for PEM keys */
    const char *key_password; /* jks: the key entries' own (keytool's -keypass), not empty; NULL: the
                               * store's.  p12: only the password itself (one password for all) */
    bool legacy;              /* p12: 3DES + SHA-1 MAC for old consumers */
    bool include_key;         /* pem: write the private keys too */
    bool certs_only;          /* p12, jks: no private key; every certificate a trusted entry (a truststore) */
} ch_export_opts;

/* Writes the keystore: PEM (every entry's chain, and keys when include_key), DER (the first
 * entry's leaf), P7B (every certificate), PKCS#12 (AES-256-CBC + PBKDF2-SHA256, SHA-256 MAC;
 * friendly names = aliases), JKS (key entries and trusted entries, readable by keytool).
 * A password missing for p12 or jks, empty for jks, or longer than CH_MAX_PASSWORD_LEN, and a
 * key password where the format has none of its own, are CH_EINVAL naming the field. */
int ch_keystore_export(ch_buf *out, const ch_keystore *ks, ch_format fmt, const ch_export_opts *opts);

int ch_keystore_new(ch_keystore **out);
/* Appends an entry (takes new references to the chain and key).  Duplicate aliases are
 * CH_EEXISTS. */
int ch_keystore_add(ch_keystore *ks, const char *alias, ch_cert *const *chain, size_t chain_len, ch_key *key);
void ch_keystore_free(ch_keystore *ks);

#ifdef __cplusplus
}
#endif
#endif
