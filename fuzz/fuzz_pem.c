/* Fuzz target: a PEM bundle of certificates, then ordering it into a chain. */
#include "certhub/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ch_cert **list = NULL, **chain = NULL;
    size_t n = 0, m = 0;

    if (ch_cert_parse_all(&list, &n, data, size) != 0)
        return 0;
    if (n <= CH_MAX_CHAIN_LEN && ch_chain_order(&chain, &m, list, n) == 0)
        ch_cert_list_free(chain, m);
    ch_cert_list_free(list, n);
    return 0;
}
