/* certhub inspect: every certificate, CSR and key in a file.  Keys are described by type and
 * public-key fingerprint, never printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "certhub/formats.h"
#include "certhub/x509.h"
#include "cli.h"

struct out {
    bool json;
    json_t *list;
    int n_cert, n_csr, n_key;
};

/* A key's type as --key-type names it, an RSA key by its size (one of 8192 bits read
 * "rsa4096", the largest certhub makes). */
static json_t *key_type_json(const ch_key *k)
{
    char name[24];

    if (strncmp(ch_key_type_name(ch_key_get_type(k)), "rsa", 3) != 0)
        return json_string(ch_key_type_name(ch_key_get_type(k)));
    snprintf(name, sizeof name, "rsa%d", ch_key_bits(k));
    return json_string(name);
}

static void line(const char *label, const char *value)
{
    if (value != NULL && *value != '\0')
        printf("  %-20s %s\n", label, value);
}

/* Text of the certificate as a terminal may show it: a control character (an escape that
 * rewrites the screen, a line break that forges a line, a bidirectional override) and a byte
 * that is not UTF-8 are written \XX, as the subject's are. */
static void put_text(const char *s)
{
    while (*s) {
        size_t n = ch_utf8_char_len(s), bad = n == 0 ? 1 : ch_utf8_control(s);
        for (size_t k = 0; k < bad; k++)
            printf("\\%02X", (unsigned char)s[k]);
        if (bad == 0)
            fwrite(s, 1, n, stdout);
        s += bad ? bad : n;
    }
}

/* A list (names, URLs) on one line, whole: a fixed buffer cut 40 names at the 28th. */
static void print_list(const char *label, char **list)
{
    if (list == NULL || list[0] == NULL)
        return;
    printf("  %-20s ", label);
    for (size_t i = 0; list[i]; i++) {
        if (i > 0)
            fputs(", ", stdout);
        put_text(list[i]);
    }
    putchar('\n');
}

static void print_bits(const char *label, unsigned bits, const char *const *names, int n, char **other)
{
    char buf[512];
    size_t used = 0;

    buf[0] = '\0';
    for (int i = 0; i < n; i++)
        if (bits & (1u << i))
            used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", used ? ", " : "", names[i]);
    for (size_t i = 0; other && other[i] && used < sizeof buf; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", used ? ", " : "", other[i]);
    line(label, buf);
}

static int show_cert(cli_args *a, struct out *o, const uint8_t *der, size_t len)
{
    static const char *const ku[] = {"digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment",
                                     "keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly"};
    static const char *const eku[] = {"serverAuth", "clientAuth", "codeSigning", "emailProtection",
                                      "timeStamping", "OCSPSigning"};
    ch_cert *c;
    ch_cert_info i;
    char buf[1024], t1[32], t2[32];
    char *json;

    if (ch_cert_parse(&c, der, len) < 0 || ch_cert_inspect(&i, c) < 0) {
        int rc = cli_fail(a, "certificate %d: %s", o->n_cert + 1, ch_error_last());
        ch_cert_free(c);
        return rc;
    }
    ch_cert_free(c);
    o->n_cert++;
    if (o->json) {
        if (ch_cert_info_to_json(&json, &i) == 0) {
            json_t *obj = json_loads(json, 0, NULL);
            json_object_set_new(obj, "type", json_string("certificate"));
            json_array_append_new(o->list, obj);
            free(json);
        }
        ch_cert_info_dispose(&i);
        return 0;
    }
    printf("Certificate %d\n", o->n_cert);
    line("Subject:", i.subject);
    line("Issuer:", i.issuer);
    snprintf(buf, sizeof buf, "%d", i.version);
    line("Version:", buf);
    line("Serial:", i.serial);
    ch_time_format(t1, sizeof t1, i.not_before);
    ch_time_format(t2, sizeof t2, i.not_after);
    line("Not before:", t1);
    line("Not after:", t2);
    snprintf(buf, sizeof buf, "%s %d%s%s", i.key_algorithm, i.key_bits, i.key_curve ? " " : "",
             i.key_curve ? i.key_curve : "");
    line("Public key:", buf);
    line("Signature:", i.signature_algorithm);
    line("SHA-256:", i.sha256);
    line("SHA-1:", i.sha1);
    if (i.is_ca && i.path_len >= 0)
        snprintf(buf, sizeof buf, "CA, path length %d", i.path_len);
    else
        snprintf(buf, sizeof buf, "%s", i.is_ca ? "CA" : i.has_basic_constraints ? "not a CA" : "absent");
    line("Basic constraints:", buf);
    print_bits("Key usage:", i.key_usage, ku, 9, NULL);
    print_bits("Extended key usage:", i.ext_key_usage, eku, 6, i.eku_other);
    print_list("Alternative names:", i.sans);
    line("Subject key id:", i.ski);
    line("Authority key id:", i.aki);
    print_list("CRL:", i.crl_urls);
    print_list("OCSP:", i.ocsp_urls);
    print_list("CA issuers:", i.ca_issuers);
    print_list("Policies:", i.policies);
    line("Self-signed:", i.self_signed ? "yes" : "no");
    ch_cert_info_dispose(&i);
    return 0;
}

static int show_csr(cli_args *a, struct out *o, const uint8_t *der, size_t len)
{
    ch_csr *c;
    ch_csr_info i;
    char buf[1024], *json;

    if (ch_csr_parse(&c, der, len) < 0 || ch_csr_inspect(&i, c) < 0) {
        int rc = cli_fail(a, "CSR %d: %s", o->n_csr + 1, ch_error_last());
        ch_csr_free(c);
        return rc;
    }
    ch_csr_free(c);
    o->n_csr++;
    if (o->json) {
        if (ch_csr_info_to_json(&json, &i) == 0) {
            json_t *obj = json_loads(json, 0, NULL);
            json_object_set_new(obj, "type", json_string("csr"));
            json_array_append_new(o->list, obj);
            free(json);
        }
        ch_csr_info_dispose(&i);
        return 0;
    }
    printf("Certificate signing request %d\n", o->n_csr);
    line("Subject:", i.subject);
    snprintf(buf, sizeof buf, "%s %d%s%s", i.key_algorithm, i.key_bits, i.key_curve ? " " : "",
             i.key_curve ? i.key_curve : "");
    line("Public key:", buf);
    line("Signature:", i.signature_algorithm);
    line("Signature valid:", i.signature_ok ? "yes" : "NO");
    print_list("Alternative names:", i.sans);
    line("Requests a CA:", i.requests_ca ? "yes" : "no");
    line("SHA-256:", i.sha256);
    ch_csr_info_dispose(&i);
    return 0;
}

static int show_key(cli_args *a, struct out *o, const uint8_t *data, size_t len, bool public_only,
                    const char *password)
{
    ch_key *k;
    char fp[65], buf[128];
    int r = public_only ? ch_key_parse_public(&k, data, len) : ch_key_parse(&k, data, len, password);

    if (r < 0)
        return cli_fail(a, "key %d: %s", o->n_key + 1, ch_error_last());
    o->n_key++;
    ch_hex(fp, ch_key_spki_sha256(k), 32);
    if (o->json) {
        json_t *obj = json_object();
        json_object_set_new(obj, "type", json_string(public_only ? "public_key" : "private_key"));
        json_object_set_new(obj, "key_type", key_type_json(k));
        json_object_set_new(obj, "algorithm", json_string(ch_key_algorithm(k)));
        json_object_set_new(obj, "bits", json_integer(ch_key_bits(k)));
        json_object_set_new(obj, "curve", *ch_key_curve(k) ? json_string(ch_key_curve(k)) : json_null());
        json_object_set_new(obj, "public_key_sha256", json_string(fp));
        json_array_append_new(o->list, obj);
    } else {
        printf("%s %d\n", public_only ? "Public key" : "Private key", o->n_key);
        snprintf(buf, sizeof buf, "%s %d%s%s", ch_key_algorithm(k), ch_key_bits(k), *ch_key_curve(k) ? " " : "",
                 ch_key_curve(k));
        line("Type:", buf);
        line("Public key SHA-256:", fp);
    }
    ch_key_free(k);
    return 0;
}

static bool is_key_block(const char *name)
{
    return strcmp(name, "PRIVATE KEY") == 0 || strcmp(name, "ENCRYPTED PRIVATE KEY") == 0 ||
           strcmp(name, "RSA PRIVATE KEY") == 0 || strcmp(name, "EC PRIVATE KEY") == 0;
}

static int inspect_pem(cli_args *a, struct out *o, const uint8_t *data, size_t len, const char *password)
{
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long dlen = 0;
    int rc = 0, blocks = 0;

    if (bio == NULL)
        return cli_fail(a, "out of memory");
    /* Counted before any is shown: 1,024 blocks were printed, then the error, which a script
     * reading the listing took for all there was. */
    for (const uint8_t *p = data; (p = ch_mem_find(p, data + len, "-----BEGIN ", 11)) != NULL; p += 11)
        if (++blocks > (int)CH_MAX_PEM_OBJECTS) {
            BIO_free(bio);
            return cli_fail(a, "%s holds more than %u PEM blocks, more than inspect reads: split it", a->pos[0],
                            CH_MAX_PEM_OBJECTS);
        }
    blocks = 0;
    while (rc == 0 && PEM_read_bio(bio, &name, &header, &der, &dlen) == 1) {
        ++blocks;
        if (strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "X509 CERTIFICATE") == 0 ||
                   strcmp(name, "TRUSTED CERTIFICATE") == 0) {
            /* Re-wrap so trusted-certificate trailers go through the same parser. */
            BIO *one = BIO_new(BIO_s_mem());
            char *p;
            long n;
            if (one && PEM_write_bio(one, name, "", der, dlen) > 0 && (n = BIO_get_mem_data(one, &p)) > 0)
                rc = show_cert(a, o, (const uint8_t *)p, (size_t)n);
            BIO_free(one);
        } else if (strcmp(name, "CERTIFICATE REQUEST") == 0 || strcmp(name, "NEW CERTIFICATE REQUEST") == 0) {
            rc = show_csr(a, o, der, (size_t)dlen);
        } else if (is_key_block(name)) {
            /* Keys go back to PEM text: legacy encryption lives in the headers. */
            BIO *one = BIO_new(BIO_s_secmem());
            char *p;
            long n;
            if (one && PEM_write_bio(one, name, header, der, dlen) > 0 && (n = BIO_get_mem_data(one, &p)) > 0)
                rc = show_key(a, o, (const uint8_t *)p, (size_t)n, false, password);
            BIO_free(one);
        } else if (strcmp(name, "PUBLIC KEY") == 0) {
            rc = show_key(a, o, der, (size_t)dlen, true, NULL);
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_clear_free(der, (size_t)dlen);
        name = header = NULL;
        der = NULL;
    }
    /* The loop ends at the data's end (no further BEGIN line) or at a block it could not read:
     * a cut or damaged one is said, not left out of what is shown as if it were not there. */
    if (rc == 0 && ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
        if (blocks == 0)
            rc = cli_fail(a, "%s: the PEM data is truncated or damaged: its first block cannot be read", a->pos[0]);
        else
            rc = cli_fail(a, "%s: the PEM data is truncated or damaged after block %d", a->pos[0], blocks);
    }
    ERR_clear_error();
    BIO_free(bio);
    return rc;
}

int cmd_inspect(cli_args *a)
{
    const char *path = a->pos[0];
    struct out o = {.json = cli_flag(a, "json")};
    uint8_t *data = NULL;
    size_t len = 0;
    char *password = NULL;
    int rc;

    /* A server's chain, as step certificate inspect https://... and openssl s_client show it. */
    if (strncasecmp(path, "http://", 7) == 0)
        return cli_fail(a, "%s: a server is inspected over TLS: https://HOST[:PORT] or tls://HOST:PORT", path);
    if (strncasecmp(path, "https://", 8) == 0 || strncasecmp(path, "tls://", 6) == 0) {
        if (remote_peer_chain(a, path, &data, &len) != 0)
            return 1;
    } else if (cli_read(a, path, &data, &len) != 0) {
        return 1;
    }
    /* What inspect opens is an input: CERTHUB_IN_PASSWORD, as convert reads it, before
     * CERTHUB_PASSWORD. */
    if (cli_password(a, "password-file", getenv("CERTHUB_IN_PASSWORD") ? "CERTHUB_IN_PASSWORD" : "CERTHUB_PASSWORD",
                     &password) != 0) {
        ch_secure_free(data, len);
        return 1;
    }
    {
        ch_format f;
        /* (PKCS#7 in PEM too: its certificates are shown as a keystore's, as convert reads them) */
        if ((ch_format_detect(&f, data, len) == 0 &&
             (f == CH_FMT_PKCS12 || f == CH_FMT_JKS || f == CH_FMT_JCEKS || f == CH_FMT_PKCS7)) ||
            ch_mem_find(data, data + len, "-----BEGIN PKCS7-----", 21) != NULL) {
            rc = cli_inspect_keystore(a, data, len, password, o.json);
            ch_secure_free(data, len);
            ch_secure_free_str(password);
            return rc;
        }
        ch_error_clear();
    }
    /* A key file has no store password: --key-password-file, when given, is its key's. */
    if (cli_opt(a, "key-password-file") != NULL) {
        ch_secure_free_str(password);
        password = NULL;
        if (cli_password(a, "key-password-file", NULL, &password) != 0) {
            ch_secure_free(data, len);
            return 1;
        }
    }
    if (o.json)
        o.list = json_array();
    if (len > 0 && data[0] != 0x30) {
        rc = inspect_pem(a, &o, data, len, password);
    } else {
        /* DER: a certificate, a CSR, a private key or a public key, whichever parses. */
        ch_cert *c = NULL;
        ch_csr *r = NULL;
        ch_key *k = NULL;
        if (len > 0 && ch_cert_parse(&c, data, len) == 0)
            rc = show_cert(a, &o, data, len);
        else if (len > 0 && ch_csr_parse(&r, data, len) == 0)
            rc = show_csr(a, &o, data, len);
        else if (len > 0 && ch_key_parse(&k, data, len, password) != CH_EPARSE)
            rc = show_key(a, &o, data, len, false, password);
        else if (len > 0 && ch_key_parse_public(&k, data, len) == 0)
            rc = show_key(a, &o, data, len, true, NULL);
        else
            rc = -1;
        ch_cert_free(c);
        ch_csr_free(r);
        ch_key_free(k);
    }
    if (rc == 0 && o.n_cert + o.n_csr + o.n_key == 0)
        rc = -1;
    size_t want;
    if (rc < 0 && ch_der_cut_short(data, len, &want))
        rc = cli_fail(a, "%s: the file is cut short: its DER encoding says %zu bytes and the file has %zu", path,
                      want, len);
    else if (rc < 0)
        rc = cli_fail(a, "%s: no certificate, CSR or key found; accepted: PEM or DER certificates, CSRs, "
                         "PKCS#8 and legacy private keys, public keys, PKCS#7, PKCS#12, JKS and JCEKS keystores",
                      path);
    if (rc == 0 && o.json) {
        char *s = json_dumps(o.list, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s != NULL)
            printf("%s\n", s);
        free(s);
    }
    json_decref(o.list);
    ch_secure_free(data, len);
    ch_secure_free_str(password);
    return rc;
}

int cli_inspect_keystore(cli_args *a, const uint8_t *data, size_t len, const char *password, bool json)
{
    /* Listed with the store's password alone when need be, as keytool -list does: a key the
     * passwords given do not open is said to be closed, the rest shown. */
    ch_import_opts io = {.password = password, .keys_optional = true};
    ch_keystore *ks = NULL;
    json_t *list = json_array();
    char t1[32], t2[32], hex[65], *key_pw = NULL;
    int r;

    if (cli_password(a, "key-password-file", NULL, &key_pw) != 0) {
        json_decref(list);
        return 1;
    }
    io.key_password = key_pw;
    r = ch_keystore_import(&ks, data, len, &io);
    ch_secure_free_str(key_pw);
    if (r < 0) {
        json_decref(list);
        return cli_fail(a, "%s: %s", a->pos[0], ch_error_last());
    }
    if (!json)
        printf("Keystore (%s), %zu entr%s\n", ch_format_name(ks->source), ks->count, ks->count == 1 ? "y" : "ies");
    for (size_t e = 0; e < ks->count; e++) {
        const ch_ks_entry *en = &ks->entries[e];
        json_t *je = json_object(), *chain = json_array();
        if (!json)
            printf("Entry %zu: %s\n  %-20s %s\n  %-20s %zu\n", e + 1, en->alias, "Type:",
                   en->key          ? "private key entry"
                   : en->key_locked ? "private key entry (key not opened: see the notes)"
                                    : "trusted certificate",
                   "Chain length:", en->chain_len);
        for (size_t c = 0; c < en->chain_len; c++) {
            ch_cert_info i;
            if (ch_cert_inspect(&i, en->chain[c]) < 0)
                continue;
            ch_time_format(t1, sizeof t1, i.not_before);
            ch_time_format(t2, sizeof t2, i.not_after);
            if (!json) {
                printf("  Certificate [%zu]\n", c + 1);
                line("  Subject:", i.subject);
                line("  Issuer:", i.issuer);
                line("  Serial:", i.serial);
                line("  Not before:", t1);
                line("  Not after:", t2);
                line("  SHA-256:", i.sha256);
            } else {
                char *s = NULL;
                if (ch_cert_info_to_json(&s, &i) == 0)
                    json_array_append_new(chain, json_loads(s, 0, NULL));
                free(s);
            }
            ch_cert_info_dispose(&i);
        }
        if (en->key) {
            ch_hex(hex, ch_key_spki_sha256(en->key), 32);
            /* Said as a key file's is: algorithm, bits and curve, in the text and the JSON. */
            if (!json) {
                char kd[96];
                snprintf(kd, sizeof kd, "%s %d%s%s", ch_key_algorithm(en->key), ch_key_bits(en->key),
                         *ch_key_curve(en->key) ? " " : "", ch_key_curve(en->key));
                line("  Private key:", kd);
                line("  Public key SHA-256:", hex);
            } else {
                json_object_set_new(je, "key_type", key_type_json(en->key));
                json_object_set_new(je, "algorithm", json_string(ch_key_algorithm(en->key)));
                json_object_set_new(je, "bits", json_integer(ch_key_bits(en->key)));
                json_object_set_new(je, "curve", *ch_key_curve(en->key) ? json_string(ch_key_curve(en->key)) : json_null());
            }
        }
        json_object_set_new(je, "alias", json_string(en->alias));
        json_object_set_new(je, "type", json_string(en->key || en->key_locked ? "private_key_entry" : "trusted_certificate"));
        if (en->key_locked)
            json_object_set_new(je, "key_opened", json_false());
        json_object_set_new(je, "chain", chain);
        json_object_set_new(je, "public_key_sha256", en->key ? json_string(hex) : json_null());
        json_array_append_new(list, je);
    }
    if (json) {
        json_t *root = json_object();
        char *s;
        json_object_set_new(root, "format", json_string(ch_format_name(ks->source)));
        json_object_set_new(root, "entries", list);
        list = NULL;
        /* What was read and left out (a secret key, a key not opened), as the text says it. */
        if (ks->notes != NULL) {
            json_t *notes = json_array();
            const char *cur = ks->notes, *line;
            size_t n;
            while ((line = ch_text_line(&cur, &n)) != NULL)
                json_array_append_new(notes, json_stringn(line, n));
            json_object_set_new(root, "notes", notes);
        }
        s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(root);
    } else if (ks->notes) {
        printf("Notes:\n%s", ks->notes);
    }
    json_decref(list);
    ch_keystore_free(ks);
    return 0;
}
