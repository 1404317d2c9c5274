/* AES-256-GCM sealing of private keys under a master key kept outside the database. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "certhub/seal.h"

#define MAGIC "CHS1"
#define KEYID_LEN 8
#define NONCE_LEN 12
#define TAG_LEN 16
#define MAX_KEYS 8

struct seal_key {
    uint8_t key[CH_SEAL_KEY_BYTES];
    uint8_t id[KEYID_LEN];
};

struct ch_seal {
    struct seal_key keys[MAX_KEYS]; /* keys[0] seals */
    size_t count;
    EVP_CIPHER *gcm;
};

static int key_ident(uint8_t id[KEYID_LEN], const uint8_t key[CH_SEAL_KEY_BYTES])
{
    uint8_t md[32];

    if (EVP_Digest(key, CH_SEAL_KEY_BYTES, md, NULL, EVP_sha256(), NULL) != 1)
        return ch_error_ossl(CH_ECRYPTO, "EVP_Digest", "identifying the master key");
    memcpy(id, md, KEYID_LEN);
    return 0;
}

int ch_seal_add_key(ch_seal *s, const uint8_t key[CH_SEAL_KEY_BYTES])
{
    struct seal_key *k;

    if (s->count >= MAX_KEYS)
        return ch_error_set(CH_ETOOBIG, "at most %d master keys can be loaded", MAX_KEYS);
    k = &s->keys[s->count];
    memcpy(k->key, key, CH_SEAL_KEY_BYTES);
    if (key_ident(k->id, key) < 0) {
        ch_wipe(k->key, sizeof k->key);
        return ch_error_last_code();
    }
    s->count++;
    return 0;
}

int ch_seal_open_key(ch_seal **out, const uint8_t key[CH_SEAL_KEY_BYTES])
{
    ch_seal *s;
    int error;

    *out = NULL;
    if ((error = ch_init()) < 0)
        return error;
    if ((s = calloc(1, sizeof *s)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    /* Fetched once: per-call implicit fetches serialise on a lock (DESIGN.md). */
    if ((s->gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL)) == NULL) {
        free(s);
        return ch_error_ossl(CH_ECRYPTO, "EVP_CIPHER_fetch", "loading AES-256-GCM");
    }
    if ((error = ch_seal_add_key(s, key)) < 0) {
        ch_seal_free(s);
        return error;
    }
    *out = s;
    return 0;
}

int ch_seal_open(ch_seal **out, const char *data_dir)
{
    return ch_seal_open_ex(out, data_dir, true);
}

int ch_seal_open_ex(ch_seal **out, const char *data_dir, bool create)
{
    uint8_t key[CH_SEAL_KEY_BYTES];
    char path[4096];
    struct stat st;
    ssize_t n;
    int fd, error;

    *out = NULL;
    if ((size_t)snprintf(path, sizeof path, "%s/master.key", data_dir) >= sizeof path)
        return ch_error_set(CH_EINVAL, "data directory path is too long");
    if (stat(path, &st) != 0) {
        if (errno != ENOENT)
            return ch_error_set(CH_EIO, "cannot read %s: %s", path, strerror(errno));
        if (!create)
            return ch_error_set(CH_ENOTFOUND, "%s is missing", path);
        if ((error = ch_random(key, sizeof key)) < 0)
            return error;
        error = ch_file_write_atomic(path, key, sizeof key, 0600);
        if (error == 0)
            error = ch_seal_open_key(out, key);
        ch_wipe(key, sizeof key);
        return error;
    }
    if (!S_ISREG(st.st_mode))
        return ch_error_set(CH_EIO, "%s is not a regular file", path);
    if (st.st_mode & 077)
        return ch_error_set(CH_EPERM, "%s can be read by other users (mode %03o): run chmod 600 on it",
                            path, (unsigned)(st.st_mode & 0777));
    if (st.st_size != CH_SEAL_KEY_BYTES)
        return ch_error_set(CH_EINVAL, "%s must hold exactly %d bytes, it holds %lld: restore it from a backup",
                            path, CH_SEAL_KEY_BYTES, (long long)st.st_size);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return ch_error_set(CH_EIO, "cannot open %s: %s", path, strerror(errno));
    n = read(fd, key, sizeof key);
    close(fd);
    if (n != (ssize_t)sizeof key) {
        ch_wipe(key, sizeof key);
        return ch_error_set(CH_EIO, "cannot read the master key from %s", path);
    }
    error = ch_seal_open_key(out, key);
    ch_wipe(key, sizeof key);
    return error;
}

void ch_seal_free(ch_seal *s)
{
    if (s == NULL)
        return;
    ch_wipe(s->keys, sizeof s->keys);
    EVP_CIPHER_free(s->gcm);
    free(s);
}

/* Associated data: "tenant\0key_id", so neither can be swapped for another. */
static int aad(EVP_CIPHER_CTX *ctx, const char *tenant_id, const char *key_id)
{
    int outl;

    if (tenant_id == NULL || key_id == NULL)
        return ch_error_set(CH_EINVAL, "sealing needs a tenant and a key id");
    if (EVP_CipherUpdate(ctx, NULL, &outl, (const uint8_t *)tenant_id, (int)strlen(tenant_id) + 1) != 1 ||
        EVP_CipherUpdate(ctx, NULL, &outl, (const uint8_t *)key_id, (int)strlen(key_id) + 1) != 1)
        return ch_error_ossl(CH_ECRYPTO, "EVP_CipherUpdate", "sealing");
    return 0;
}

int ch_seal_encrypt(ch_buf *out, ch_seal *s, const uint8_t *plain, size_t len, const char *tenant_id,
                    const char *key_id)
{
    EVP_CIPHER_CTX *ctx = NULL;
    uint8_t nonce[NONCE_LEN], *p;
    size_t start = out->len;
    int outl, error;

    if (len > CH_MAX_UPLOAD_BYTES)
        return ch_error_set(CH_ETOOBIG, "secret too large to seal");
    if ((error = ch_random(nonce, sizeof nonce)) < 0)
        return error;
    if ((error = ch_buf_grow(out, CH_SEAL_OVERHEAD + len)) < 0)
        return error;
    p = out->data + start;
    memcpy(p, MAGIC, 4);
    memcpy(p + 4, s->keys[0].id, KEYID_LEN);
    memcpy(p + 4 + KEYID_LEN, nonce, NONCE_LEN);
    if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    if (EVP_EncryptInit_ex2(ctx, s->gcm, s->keys[0].key, nonce, NULL) != 1) {
        error = ch_error_ossl(CH_ECRYPTO, "EVP_EncryptInit_ex2", "sealing");
        goto done;
    }
    if ((error = aad(ctx, tenant_id, key_id)) < 0)
        goto done;
    p += 4 + KEYID_LEN + NONCE_LEN;
    if ((len > 0 && EVP_EncryptUpdate(ctx, p, &outl, plain, (int)len) != 1) ||
        EVP_EncryptFinal_ex(ctx, p + len, &outl) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, p + len) != 1) {
        error = ch_error_ossl(CH_ECRYPTO, "EVP_EncryptUpdate", "sealing");
        goto done;
    }
    out->len = start + CH_SEAL_OVERHEAD + len;
    out->data[out->len] = '\0';
done:
    EVP_CIPHER_CTX_free(ctx);
    return error;
}

/* The master key blob was sealed under, of those s holds; NULL for none, or for bytes that are
 * no sealed blob. */
static const struct seal_key *key_of(const ch_seal *s, const uint8_t *blob, size_t len)
{
    if (blob == NULL || len < CH_SEAL_OVERHEAD || memcmp(blob, MAGIC, 4) != 0)
        return NULL;
    for (size_t i = 0; i < s->count; i++)
        if (memcmp(s->keys[i].id, blob + 4, KEYID_LEN) == 0)
            return &s->keys[i];
    return NULL;
}

bool ch_seal_knows(const ch_seal *s, const uint8_t *blob, size_t len)
{
    return key_of(s, blob, len) != NULL;
}

int ch_seal_decrypt(ch_buf *out, ch_seal *s, const uint8_t *blob, size_t len, const char *tenant_id,
                    const char *key_id)
{
    const struct seal_key *k = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    const uint8_t *ct, *tag;
    size_t ctlen, start = out->len;
    int outl, error;

    if (blob == NULL || len < CH_SEAL_OVERHEAD || memcmp(blob, MAGIC, 4) != 0)
        return ch_error_set(CH_EVERIFY, "sealed key is damaged: not a sealed blob");
    if ((k = key_of(s, blob, len)) == NULL)
        return ch_error_set(CH_EVERIFY, "sealed key was sealed under a master key that is not loaded");
    ct = blob + 4 + KEYID_LEN + NONCE_LEN;
    ctlen = len - CH_SEAL_OVERHEAD;
    tag = ct + ctlen;
    if ((error = ch_buf_grow(out, ctlen)) < 0)
        return error;
    if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    if (EVP_DecryptInit_ex2(ctx, s->gcm, k->key, blob + 4 + KEYID_LEN, NULL) != 1) {
        error = ch_error_ossl(CH_ECRYPTO, "EVP_DecryptInit_ex2", "opening a sealed key");
        goto done;
    }
    if ((error = aad(ctx, tenant_id, key_id)) < 0)
        goto done;
    if ((ctlen > 0 && EVP_DecryptUpdate(ctx, out->data + start, &outl, ct, (int)ctlen) != 1) ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)tag) != 1 ||
        EVP_DecryptFinal_ex(ctx, out->data + start + ctlen, &outl) != 1) {
        ch_wipe(out->data + start, ctlen);
        ERR_clear_error();
        error = ch_error_set(CH_EVERIFY, "sealed key does not open: it was altered, or belongs to another "
                                         "key or tenant");
        goto done;
    }
    out->len = start + ctlen;
    out->data[out->len] = '\0';
done:
    EVP_CIPHER_CTX_free(ctx);
    return error;
}
