/* Fuzz target: PKCS#12 import with the password the seed files use, then export back. */
#include "certhub/formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ch_import_opts io = {.password = "changeit"};
    ch_export_opts eo = {.password = "changeit", .include_key = true};
    ch_keystore *ks = NULL;
    ch_buf out = CH_BUF_INIT;

    if (ch_keystore_import(&ks, data, size, &io) != 0)
        return 0;
    if (ch_keystore_export(&out, ks, CH_FMT_PEM, &eo) == 0)
        ch_buf_dispose_secure(&out);
    ch_keystore_free(ks);
    return 0;
}
