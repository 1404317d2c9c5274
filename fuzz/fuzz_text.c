/* Fuzz target: the text parsers that take what a user or a client writes: distinguished
 * names ("CN=a,O=b", "/C=DE/CN=a"), SANs ("dns:a.example", a bare address), times (RFC 3339)
 * and lifetimes ("30m", "72h") both from the same text, and OIDs ("1.3.6.1.4.1.311.20.2.2").
 * The first byte picks the parser (0xf0 and up: an OID); the rest is the text.  A name, time,
 * lifetime or OID that parses is printed and parsed again, and must come back the same. */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "certhub/x509.h"
#include "x509/x509_internal.h"

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

/* An OID taken is written as DER that OpenSSL reads back as the same dotted text. */
static void oid_round_trip(const char *text)
{
    ch_buf der = CH_BUF_INIT;
    const unsigned char *p;
    ASN1_OBJECT *obj;
    char back[400];

    if (ch_oid_check(text, "oid") != 0)
        return;
    if (x509_der_oid(&der, text, "oid") != 0)
        abort();
    p = der.data;
    if ((obj = d2i_ASN1_OBJECT(NULL, &p, (long)der.len)) == NULL || p != der.data + der.len ||
        OBJ_obj2txt(back, sizeof back, obj, 1) <= 0 || strcmp(back, text) != 0)
        abort();
    ASN1_OBJECT_free(obj);
    ch_buf_dispose(&der);
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
    if (data[0] >= 0xf0) {
        oid_round_trip(text);
        free(text);
        return 0;
    }
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
