/* Fuzz target: a CSR from outside bytes, verified and inspected. */
#include <stdlib.h>

#include "certhub/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ch_csr *c = NULL;
    ch_csr_info info;
    char *json = NULL;

    if (ch_csr_parse(&c, data, size) != 0)
        return 0;
    (void)ch_csr_verify(c);
    if (ch_csr_inspect(&info, c) == 0) {
        if (ch_csr_info_to_json(&json, &info) == 0)
            free(json);
        ch_csr_info_dispose(&info);
    }
    ch_csr_free(c);
    return 0;
}
