/* Fuzz target: private and public keys from outside bytes, with and without a password.
 * Encrypted inputs with huge KDF work factors must be refused before any work. */
#include "certhub/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ch_key *k = NULL;

    if (ch_key_parse(&k, data, size, NULL) == 0)
        ch_key_free(k);
    if (ch_key_parse(&k, data, size, "pw") == 0) {
        ch_buf b = CH_BUF_INIT;
        if (ch_key_write_public_pem(&b, k) == 0)
            ch_buf_dispose(&b);
        ch_key_free(k);
    }
    if (ch_key_parse_public(&k, data, size) == 0)
        ch_key_free(k);
    return 0;
}
