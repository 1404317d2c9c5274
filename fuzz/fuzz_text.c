/* Fuzz target: the text parsers that take what a user or a client writes: distinguished
 * names ("CN=a,O=b", "/C=DE/CN=a"), SANs ("dns:a.example", a bare address), and times (RFC
 * 3339) and lifetimes ("30m", "72h") both from the same text.  The first byte picks the parser;
 * the rest is the text.  A name, time or lifetime that parses is printed and parsed again, and
 * must come back the same. */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "certhub/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void name_round_trip(const char *text)
{
    X509_NAME *name = NULL, *again = NULL;
    char *printed = NULL, *cn = NULL;

    if (ch_name_parse(&name, text) != 0)
        return;
    if (ch_name_to_string(&printed, name) == 0) {
        /* What certhub prints it reads back as the same name. */
        if (ch_name_parse(&again, printed) == 0 && X509_NAME_cmp(name, again) != 0)
            abort();
        X509_NAME_free(again);
        free(printed);
    }
    if (ch_name_get(&cn, name, NID_commonName) == 0)
        free(cn);
    X509_NAME_free(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;
    ch_san san;
    int64_t t;

    if (size == 0 || (text = malloc(size)) == NULL)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    switch (data[0] % 3) {
    case 0:
        name_round_trip(text);
        break;
    case 1:
        if (ch_san_parse(&san, text) == 0 && san.value == NULL)
            abort();
        break;
    default:
        if (ch_time_parse(&t, text) == 0) {
            char back[32];
            int64_t again;
            /* A time that parses prints as RFC 3339 and reads back as the same second. */
            ch_time_format(back, sizeof back, t);
            if (ch_time_parse(&again, back) != 0 || again != t)
                abort();
        }
        /* (here rather than behind a byte of its own, so that the corpus picks as it did) */
        if (ch_ttl_parse(&t, text, "ttl") == 0) {
            char back[24];
            int64_t again;
            /* A lifetime that parses is within its bounds, and prints as one that reads back
             * as the same seconds. */
            if (t < CH_TTL_MIN || t > CH_TTL_MAX)
                abort();
            ch_ttl_format(back, sizeof back, t);
            if (ch_ttl_parse(&again, back, "ttl") != 0 || again != t)
                abort();
        }
        break;
    }
    free(text);
    return 0;
}
