/*
 * Sealing of private keys at rest (DESIGN.md "Rules worth stating once").
 *
 * A private key is encrypted with AES-256-GCM under a 256-bit master key that lives outside
 * the database, in DATA_DIR/master.key (mode 0600, created on first use).  The associated
 * data binds a sealed blob to its tenant and key id, so a blob copied to another row or
 * tenant does not open.  Every blob names the master key that sealed it (the first 8 bytes
 * of the SHA-256 of the master key), so master keys can be rotated: the newest seals, any
 * loaded one opens.
 *
 * Blob layout (all fixed sizes):  "CHS1" | key id (8) | nonce (12) | ciphertext | tag (16)
 */
#ifndef CERTHUB_SEAL_H
#define CERTHUB_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certhub/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ch_seal ch_seal;

#define CH_SEAL_KEY_BYTES 32
#define CH_SEAL_OVERHEAD  (4 + 8 + 12 + 16)

/* Opens the sealing keys of a data directory, creating DATA_DIR/master.key (0600) when it
 * does not exist.  A master key file that is readable by group or others, or whose size is
 * not 32 bytes, is refused with a message saying how to fix it.  Free with ch_seal_free. */
int ch_seal_open(ch_seal **out, const char *data_dir);
/* The same; without create, a missing master.key is CH_ENOTFOUND instead of made anew. */
int ch_seal_open_ex(ch_seal **out, const char *data_dir, bool create);

/* Opens a sealer with one given master key (for tests and benchmarks). */
int ch_seal_open_key(ch_seal **out, const uint8_t key[CH_SEAL_KEY_BYTES]);

/* Adds an older master key that can still open blobs (rotation). */
int ch_seal_add_key(ch_seal *s, const uint8_t key[CH_SEAL_KEY_BYTES]);

/* Wipes the master keys and frees.  NULL is accepted. */
void ch_seal_free(ch_seal *s);

/* Seals plain (len bytes) for tenant_id/key_id; appends the blob to out.  Thread-safe. */
int ch_seal_encrypt(ch_buf *out, ch_seal *s, const uint8_t *plain, size_t len, const char *tenant_id,
                    const char *key_id) CH_WARN_UNUSED;

/* Whether blob was sealed under a master key s holds (whatever it holds, whole or not). */
bool ch_seal_knows(const ch_seal *s, const uint8_t *blob, size_t len);

/* Opens a blob sealed for tenant_id/key_id; appends the plain bytes to out, which the caller
 * disposes with ch_buf_dispose_secure.  A blob that was altered, truncated, sealed for
 * another tenant or key id, or under a master key that is not loaded is CH_EVERIFY.
 * Thread-safe. */
int ch_seal_decrypt(ch_buf *out, ch_seal *s, const uint8_t *blob, size_t len, const char *tenant_id,
                    const char *key_id) CH_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
