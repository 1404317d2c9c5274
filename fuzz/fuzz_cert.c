/* Fuzz target: one certificate from outside bytes (PEM or DER), inspected and printed as
 * JSON when it parses. */
#include <stdlib.h>

#include "certhub/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ch_cert *c = NULL;
    ch_cert_info info;
    char *json = NULL;

    if (ch_cert_parse(&c, data, size) != 0)
        return 0;
    if (ch_cert_inspect(&info, c) == 0) {
        if (ch_cert_info_to_json(&json, &info) == 0)
            free(json);
        ch_cert_info_dispose(&info);
    }
    (void)ch_cert_is_self_signed(c);
    ch_cert_free(c);
    return 0;
}
