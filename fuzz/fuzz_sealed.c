/* Fuzz target: opening a sealed blob read back from the store (bytes an attacker with write
 * access to the database could control) must fail cleanly, never crash. */
#include <stddef.h>
#include <stdint.h>

#include "certhub/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ch_seal *s;
    static const uint8_t key[CH_SEAL_KEY_BYTES] = {42};
    ch_buf out = CH_BUF_INIT;

    if (s == NULL && ch_seal_open_key(&s, key) != 0)
        return 0;
    if (ch_seal_decrypt(&out, s, data, size, "tenant", "key") == 0 && out.len + CH_SEAL_OVERHEAD != size)
        __builtin_trap(); /* an opened blob is exactly its plain text plus the overhead */
    ch_buf_dispose_secure(&out);
    return 0;
}
