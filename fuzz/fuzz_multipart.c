/* Fuzz target: a multipart/form-data body.  The first line of the input is the Content-Type,
 * the rest the body, so the boundary parameter is fuzzed too. */
#include <string.h>

#include "certhub/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ch_multipart_part parts[8];
    char ct[256], boundary[CH_MULTIPART_BOUNDARY_MAX];
    const uint8_t *nl = memchr(data, '\n', size < sizeof ct ? size : sizeof ct);
    size_t n;

    if (nl == NULL)
        return 0;
    memcpy(ct, data, (size_t)(nl - data));
    ct[nl - data] = '\0';
    if (ch_multipart_boundary(boundary, ct) < 0)
        return 0;
    if (ch_multipart_parse(nl + 1, size - (size_t)(nl + 1 - data), boundary, parts, 8, &n) == 0)
        for (size_t i = 0; i < n; i++) /* every part must lie inside the body */
            if (parts[i].data < nl + 1 || parts[i].data + parts[i].len > data + size)
                __builtin_trap();
    return 0;
}
