/* Fuzz target: JKS and JCEKS.  The integrity digest is checked before parsing, so a fuzzer
 * would never get past it: this target recomputes the digest over the mutated body for the
 * password "changeit" (the last 20 bytes are replaced), which exercises the parser itself.
 * The input as it is goes first: its digest does not match, which runs the walk over the
 * entries' lengths (JCEKS secret keys' serialized objects included) that tells a keystore
 * cut short from a wrong password.  Then it is read as inspect and convert --no-key read one
 * given no password (keys optional): every entry is parsed with no digest vouching for it, so
 * that read meets the fuzzer's bytes as they are, and must open no key. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "certhub/formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What was read is written again, as JKS and as a PKCS#12 truststore, and read back: the
 * writers take the aliases read from outside (modified UTF-8 to UTF-8 and back, surrogate
 * pairs, UTF-16 friendly names, suffixes made unique), and a keystore certhub wrote that
 * certhub cannot read, or that lost an entry, is a bug. */
static void round_trip(const ch_keystore *ks)
{
    ch_export_opts eo = {.password = "changeit"};
    ch_import_opts io = {.password = "changeit"};
    ch_buf out = CH_BUF_INIT;
    ch_keystore *back = NULL;
    size_t certs = 0;

    for (size_t e = 0; e < ks->count; e++)
        certs += ks->entries[e].key ? 1 : ks->entries[e].chain_len;
    if (ch_keystore_export(&out, ks, CH_FMT_JKS, &eo) != 0 || ch_keystore_import(&back, out.data, out.len, &io) != 0)
        abort();
    {
        size_t n = 0;
        for (size_t e = 0; e < back->count; e++)
            n += back->entries[e].key ? 1 : back->entries[e].chain_len;
        if (n != certs)
            abort();
    }
    ch_keystore_free(back);
    back = NULL;
    ch_buf_dispose_secure(&out);
    eo.certs_only = true;
    if (ch_keystore_export(&out, ks, CH_FMT_PKCS12, &eo) != 0 || ch_keystore_import(&back, out.data, out.len, &io) != 0)
        abort();
    ch_keystore_free(back);
    ch_buf_dispose(&out);
}

/* The read without the store's password: nothing checked the bytes, and no key may come out
 * of it, a key password given or not. */
static void unverified(const uint8_t *data, size_t size, const char *key_password)
{
    ch_import_opts io = {.key_password = key_password, .keys_optional = true};
    ch_keystore *ks = NULL;

    if (ch_keystore_import(&ks, data, size, &io) != 0)
        return;
    for (size_t e = 0; e < ks->count; e++)
        if (ks->entries[e].key != NULL)
            abort();
    round_trip(ks);
    ch_keystore_free(ks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t pw[] = {0, 'c', 0, 'h', 0, 'a', 0, 'n', 0, 'g', 0, 'e', 0, 'i', 0, 't'};
    ch_import_opts io = {.password = "changeit"};
    ch_keystore *ks = NULL;
    uint8_t *copy;
    EVP_MD_CTX *ctx;

    if (size > CH_MAX_UPLOAD_BYTES)
        return 0;
    if (ch_keystore_import(&ks, data, size, &io) == 0)
        ch_keystore_free(ks);
    ks = NULL;
    unverified(data, size, NULL);
    unverified(data, size, "changeit");
    if (size < 32)
        return 0;
    if ((copy = malloc(size)) == NULL)
        return 0;
    memcpy(copy, data, size);
    ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
    EVP_DigestUpdate(ctx, pw, sizeof pw);
    EVP_DigestUpdate(ctx, "Mighty Aphrodite", 16);
    EVP_DigestUpdate(ctx, copy, size - 20);
    EVP_DigestFinal_ex(ctx, copy + size - 20, NULL);
    EVP_MD_CTX_free(ctx);
    if (ch_keystore_import(&ks, copy, size, &io) == 0) {
        round_trip(ks);
        ch_keystore_free(ks);
    }
    free(copy);
    return 0;
}
