/* Shared inside the formats module. */
#ifndef CERTHUB_FORMATS_INTERNAL_H
#define CERTHUB_FORMATS_INTERNAL_H

#include <stdbool.h>

#include "certhub/formats.h"

/* Certificates and keys read from a file, before they are grouped into entries. */
typedef struct fmt_cert {
    ch_cert *cert;
    char *name;            /* friendly name, if the format has one */
    unsigned char id[64];  /* PKCS#12 local key id */
    size_t idlen;
    bool used;
    bool trusted;          /* a PKCS#12 bag marked trusted for Java (its own entry, as keytool reads it) */
} fmt_cert;

typedef struct fmt_key {
    ch_key *key;           /* NULL: a key read and not taken (its entry kept without it, key_locked) */
    char *name;
    unsigned char id[64];
    size_t idlen;
} fmt_key;

typedef struct fmt_items {
    fmt_cert *certs;
    size_t ncerts;
    fmt_key *keys;
    size_t nkeys;
} fmt_items;

int fmt_add_cert(fmt_items *it, X509 *x, const char *name, const unsigned char *id, size_t idlen);
/* key NULL: a key not taken (one certhub refuses, where keys are optional), whose certificate,
 * found by its local key id, is its entry's all the same. */
int fmt_add_key(fmt_items *it, ch_key *key, const char *name, const unsigned char *id, size_t idlen);
void fmt_items_free(fmt_items *it);
/* Groups keys with their certificates and chains into entries of ks. */
int fmt_assemble(ch_keystore *ks, fmt_items *it);
/* Appends a line to the keystore's notes. */
int fmt_note(ch_keystore *ks, const char *fmt, ...) CH_PRINTF(2, 3);

/* The alias under which certificate c of keyless entry e is written to a keystore format that
 * holds one certificate per trusted entry (JKS, PKCS#12 as keytool reads it): the entry's own
 * for the first, "<alias>-<c+1>" for the others, made unique among the keystore's aliases
 * (case-insensitively, as JKS compares them). */
void fmt_trusted_alias(const ch_keystore *ks, size_t e, size_t c, char *out, size_t cap);

/* An alias as read from a keystore, made fit to be shown (certhub inspect, the API, the
 * console, the names of the certificates it brings, error sentences): what is not UTF-8 and
 * each control character (ch_utf8_control: a terminal's escape, a right-to-left override)
 * becomes '_', in place (never longer). */
void fmt_alias_clean(char *s);

/* JKS / JCEKS (jks.c).  key_password NULL: the keys have the store's password. */
int fmt_import_jks(ch_keystore *ks, fmt_items *it, const uint8_t *data, size_t len, const char *store_password,
                   const char *key_password, bool keys_optional);
int fmt_export_jks(ch_buf *out, const ch_keystore *ks, const char *password, const char *key_password);

#endif
