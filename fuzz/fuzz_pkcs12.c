/* Fuzz target: PKCS#12 import with the password the seed files use, then export back.  The
 * MAC over the safes is checked before they are read, so a mutated file would stop there: the
 * input as it is goes first (the MAC's own checks), then, where it parses as PKCS#12, again
 * with its MAC made anew for that password (iteration count 1), which takes the fuzzer's bytes
 * into the bags themselves. */
#include <openssl/pkcs12.h>

#include "certhub/formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void import_export(const uint8_t *data, size_t size)
{
    ch_import_opts io = {.password = "changeit"};
    ch_export_opts eo = {.password = "changeit", .include_key = true};
    ch_keystore *ks = NULL;
    ch_buf out = CH_BUF_INIT;

    if (ch_keystore_import(&ks, data, size, &io) != 0)
        return;
    if (ch_keystore_export(&out, ks, CH_FMT_PEM, &eo) == 0)
        ch_buf_dispose_secure(&out);
    ch_keystore_free(ks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const unsigned char *p = data;
    PKCS12 *p12;
    unsigned char *again = NULL;
    int len;

    import_export(data, size);
    if (size > (1u << 20) || (p12 = d2i_PKCS12(NULL, &p, (long)size)) == NULL)
        return 0;
    if (PKCS12_mac_present(p12) && PKCS12_set_mac(p12, "changeit", -1, NULL, 0, 1, NULL) == 1 &&
        (len = i2d_PKCS12(p12, &again)) > 0)
        import_export(again, (size_t)len);
    OPENSSL_free(again);
    PKCS12_free(p12);
    return 0;
}
