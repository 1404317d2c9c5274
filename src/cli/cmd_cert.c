/* certhub cert create */
#include <stdlib.h>
#include <string.h>

#include "certhub/x509.h"
#include "cli.h"

/* "a,b,c" of usage names into bits; an unknown name is reported with the accepted ones. */
static int parse_bits(cli_args *a, bool extended, const char *text, unsigned *out)
{
    const char *parts[16];
    char *store;
    size_t n = cli_split(&store, text, parts, 16);
    unsigned bit;
    int rc = 0;

    *out = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (ch_usage_parse(&bit, extended, parts[i]) < 0)
            rc = cli_fail_last(a);
        else
            *out |= bit;
    }
    free(store);
    return rc;
}

/* A usage list option that may be "none": the extension (ext, CH_EXT_*) is then left out. */
static int parse_usages(cli_args *a, const char *opt, bool extended, unsigned *out, unsigned ext,
                        unsigned *leave_out)
{
    const char *v = cli_opt(a, opt);

    if (v == NULL)
        return 0;
    if (strcmp(v, "none") == 0) {
        *leave_out |= ext;
        return 0;
    }
    cli_none_alone(a, opt, v);
    return parse_bits(a, extended, v, out);
}

/* --critical: the extensions marked critical, and only these ("none": none of them). */
static int parse_critical(cli_args *a, ch_issue_opts *o)
{
    const char *v = cli_opt(a, "critical"), *parts[8];
    char *store = NULL;
    size_t n;
    unsigned bit;
    int rc = 0;

    if (v == NULL)
        return 0;
    o->critical_set = CH_EXT_ALL;
    if (strcmp(v, "none") == 0)
        return 0;
    cli_none_alone(a, "critical", v);
    n = cli_split(&store, v, parts, 8);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (ch_ext_parse(&bit, parts[i]) < 0)
            rc = cli_fail(a, "--critical: %s", ch_error_last());
        else
            o->critical |= bit;
    }
    free(store);
    return rc;
}

int cmd_cert_create(cli_args *a)
{
    const char *out = cli_need(a, "out");
    const char *key_path = cli_opt(a, "key"), *key_type = cli_opt(a, "key-type"), *key_out = cli_opt(a, "key-out");
    const char *csr_path = cli_opt(a, "csr"), *ca_path = cli_opt(a, "ca"), *ca_key_path = cli_opt(a, "ca-key");
    const char *subject_text = cli_opt(a, "subject");
    const char *crl[2] = {cli_opt(a, "crl-url"), NULL}, *ocsp[2] = {cli_opt(a, "ocsp-url"), NULL},
               *issuers[2] = {cli_opt(a, "ca-issuers-url"), NULL};
    const ch_profile *profile;
    ch_issue_opts o = {.path_len = -2};
    ch_key *key = NULL, *ca_key = NULL;
    ch_cert *ca = NULL, *cert = NULL;
    ch_csr *csr = NULL;
    X509_NAME *subject = NULL;
    ch_san sans[CH_MAX_SANS];
    size_t nsans = 0;
    char *san_store = NULL, *key_out_pw = NULL, *eku_store = NULL, *pol_store = NULL;
    const char *eku_oids[CH_MAX_OIDS + 2] = {0}, *policies[CH_MAX_OIDS + 2] = {0};
    uint8_t *data = NULL;
    size_t len = 0;
    ch_buf pem = CH_BUF_INIT, key_pem = CH_BUF_INIT;
    ch_key_type kt;
    int rc = 1, sources = (key_path != NULL) + (key_type != NULL) + (csr_path != NULL);

    if ((profile = ch_profile_get(cli_need(a, "profile"))) == NULL)
        return cli_fail_last(a);
    if (sources != 1)
        cli_usage(a, "give exactly one of --key, --key-type or --csr");
    if (key_type != NULL && key_out == NULL)
        cli_usage(a, "--key-type needs --key-out to save the new key");
    /* (taken and dropped, no file written: the key is --key's, or the CSR's holder's) */
    if (key_out != NULL && key_type == NULL)
        cli_usage(a, "--key-out goes with --key-type (the new key it saves)");
    if (cli_opt(a, "key-out-password-file") != NULL && key_out == NULL)
        cli_usage(a, "--key-out-password-file goes with --key-out");
    cli_outputs_apart(a, "out", "key-out");
    if ((ca_path == NULL) != (ca_key_path == NULL))
        cli_usage(a, "--ca and --ca-key go together");
    if (subject_text == NULL && csr_path == NULL)
        cli_usage(a, "--subject is required (or a --csr that carries it)");
    cli_not_both(a, "days", "ttl");
    /* Check the outputs first so a refusal changes nothing. */
    if (cli_may_write(a, out) != 0 || cli_may_write(a, key_out) != 0 ||
        cli_password_new(a, "key-out-password-file", NULL, &key_out_pw) != 0)
        return 1;

    o.profile = profile;
    o.days = (int)cli_int(a, "days", 0, 1, 36600);
    /* Refused as the server refuses them (exit 1), before a key is made or read. */
    if (cli_opt(a, "ttl") != NULL && ch_ttl_parse(&o.ttl, cli_opt(a, "ttl"), "--ttl") < 0) {
        rc = cli_fail_last(a);
        goto done;
    }
    /* (a leaf's profile has no Basic Constraints path length to set: ignored, it was taken) */
    if (cli_opt(a, "path-len") != NULL && !profile->is_ca)
        cli_usage(a, "--path-len goes with a CA profile (root-ca, intermediate-ca), not %s", profile->name);
    o.path_len = (int)cli_int(a, "path-len", -2, 0, 64);
    o.cap_validity = false;
    if (cli_opt(a, "digest") && ch_digest_parse(&o.digest, cli_opt(a, "digest")) < 0) {
        rc = cli_fail_last(a);
        goto done;
    }
    if (parse_usages(a, "key-usage", false, &o.key_usage, CH_EXT_KEY_USAGE, &o.leave_out) != 0 ||
        parse_usages(a, "ext-key-usage", true, &o.ext_key_usage, CH_EXT_EXT_KEY_USAGE, &o.leave_out) != 0 ||
        parse_critical(a, &o) != 0)
        goto done;
    {
        /* The extension switches: off leaves one out (the library says what may not be). */
        int bc = 1, aki = 1;
        if (cli_on_off(a, "basic-constraints", &bc) != 0 || cli_on_off(a, "authority-key-id", &aki) != 0)
            goto done;
        o.leave_out |= (bc ? 0 : CH_EXT_BASIC_CONSTRAINTS) | (aki ? 0 : CH_EXT_AUTHORITY_KEY_ID);
    }
    /* Refused before a key is made or read. */
    if ((o.leave_out | o.critical_set) && ch_issue_check_extensions(&o) < 0) {
        rc = cli_fail_last(a);
        goto done;
    }
    if (crl[0])
        o.crl_urls = crl;
    if (ocsp[0])
        o.ocsp_urls = ocsp;
    if (issuers[0])
        o.ca_issuers_urls = issuers;
    /* (one more than taken is read: the library refuses it, saying how many are) */
    if (cli_opt(a, "ext-key-usage-oids") != NULL) {
        cli_split(&eku_store, cli_opt(a, "ext-key-usage-oids"), eku_oids, CH_MAX_OIDS + 1);
        o.eku_oids = eku_oids;
    }
    if (cli_opt(a, "policies") != NULL) {
        cli_split(&pol_store, cli_opt(a, "policies"), policies, CH_MAX_OIDS + 1);
        o.policies = policies;
    }
    if (subject_text != NULL && ch_name_parse(&subject, subject_text) < 0) {
        rc = cli_fail_last(a);
        goto done;
    }
    o.subject = subject;
    if (cli_parse_sans(a, cli_opt(a, "san"), sans, CH_MAX_SANS, &nsans, &san_store) != 0)
        goto done;
    if (cli_opt(a, "san")) {
        o.sans = sans;
        o.san_count = nsans;
    }

    /* The subject's key. */
    if (csr_path != NULL) {
        if (cli_read(a, csr_path, &data, &len) != 0)
            goto done;
        if (ch_csr_parse(&csr, data, len) < 0 || ch_csr_verify(csr) < 0) {
            rc = cli_fail(a, "%s: %s", csr_path, ch_error_last());
            goto done;
        }
        o.csr = csr;
    } else if (key_path != NULL) {
        if (cli_load_key(a, key_path, "key-password-file", &key) != 0)
            goto done;
        o.subject_key = key;
    } else {
        if (ch_key_type_parse(&kt, key_type) < 0 || ch_key_generate(&key, kt) < 0) {
            rc = cli_fail_last(a);
            goto done;
        }
        o.subject_key = key;
    }

    /* The issuer. */
    if (ca_path != NULL) {
        free(data);
        data = NULL;
        if (cli_read(a, ca_path, &data, &len) != 0)
            goto done;
        if (ch_cert_parse(&ca, data, len) < 0) {
            rc = cli_fail(a, "%s: %s", ca_path, ch_error_last());
            goto done;
        }
        if (cli_load_key(a, ca_key_path, "ca-key-password-file", &ca_key) != 0)
            goto done;
        o.ca_cert = ca;
        o.ca_key = ca_key;
    } else {
        if (csr != NULL) {
            rc = cli_fail(a, "a certificate for a CSR needs an issuer: give --ca and --ca-key");
            goto done;
        }
        o.ca_key = key; /* self-signed */
    }

    if (ch_cert_issue(&cert, &o) < 0 || ch_cert_write_pem(&pem, cert) < 0) {
        rc = cli_fail_last(a);
        goto done;
    }
    if (key_type != NULL) {
        if (ch_key_write_pem(&key_pem, key, key_out_pw) < 0) {
            rc = cli_fail_last(a);
            goto done;
        }
        if (cli_write(a, key_out, key_pem.data, key_pem.len, 0600) != 0)
            goto done;
    }
    rc = cli_write(a, out, pem.data, pem.len, 0644);
done:
    ch_buf_dispose(&pem);
    ch_buf_dispose_secure(&key_pem);
    ch_secure_free_str(key_out_pw);
    free(data);
    free(san_store);
    free(eku_store);
    free(pol_store);
    X509_NAME_free(subject);
    ch_csr_free(csr);
    ch_cert_free(cert);
    ch_cert_free(ca);
    ch_key_free(ca_key);
    ch_key_free(key);
    return rc;
}
