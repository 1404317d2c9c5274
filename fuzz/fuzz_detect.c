/* Fuzz target: format detection and the whole import path with no password. */
#include "certhub/formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ch_format f;
    ch_keystore *ks = NULL;

    (void)ch_format_detect(&f, data, size);
    if (ch_keystore_import(&ks, data, size, NULL) == 0)
        ch_keystore_free(ks);
    return 0;
}
