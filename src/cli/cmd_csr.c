/* certhub csr create */
#include <stdlib.h>
#include <string.h>

#include "certhub/x509.h"
#include "cli.h"

int cli_load_key(cli_args *a, const char *path, const char *pw_opt, ch_key **out)
{
    uint8_t *data = NULL;
    size_t len = 0;
    char *password = NULL;
    int rc = 0;

    *out = NULL;
    if (cli_read(a, path, &data, &len) != 0)
        return 1;
    if (cli_password(a, pw_opt, NULL, &password) != 0) {
        ch_secure_free(data, len);
        return 1;
    }
    if (ch_key_parse(out, data, len, password) < 0)
        rc = cli_fail(a, "%s: %s", path, ch_error_last());
    ch_secure_free(data, len);
    ch_secure_free_str(password);
    return rc;
}

int cli_parse_sans(cli_args *a, const char *text, ch_san *sans, size_t max, size_t *count, char **store)
{
    const char *parts[CH_MAX_SANS];

    *count = 0;
    *store = NULL;
    if (text == NULL)
        return 0;
    size_t n = cli_split(store, text, parts, max < CH_MAX_SANS ? max : CH_MAX_SANS);
    for (size_t i = 0; i < n; i++)
        if (ch_san_parse(&sans[i], parts[i]) < 0)
            return cli_fail_last(a);
    *count = n;
    return 0;
}

int cmd_csr_create(cli_args *a)
{
    const char *key_path = cli_need(a, "key"), *subject_text = cli_need(a, "subject"), *out = cli_need(a, "out");
    ch_key *key = NULL;
    X509_NAME *subject = NULL;
    ch_san sans[CH_MAX_SANS];
    size_t nsans = 0;
    char *san_store = NULL;
    ch_csr *csr = NULL;
    ch_buf pem = CH_BUF_INIT;
    ch_csr_opts opts = {0};
    int rc = 1;

    if (ch_name_parse(&subject, subject_text) < 0) {
        rc = cli_fail_last(a);
        goto done;
    }
    if (cli_parse_sans(a, cli_opt(a, "san"), sans, CH_MAX_SANS, &nsans, &san_store) != 0)
        goto done;
    if (cli_opt(a, "digest") && ch_digest_parse(&opts.digest, cli_opt(a, "digest")) < 0) {
        rc = cli_fail_last(a);
        goto done;
    }
    if (cli_load_key(a, key_path, "key-password-file", &key) != 0)
        goto done;
    opts.subject = subject;
    opts.sans = sans;
    opts.san_count = nsans;
    if (ch_csr_create(&csr, key, &opts) < 0 || ch_csr_write_pem(&pem, csr) < 0) {
        rc = cli_fail_last(a);
        goto done;
    }
    rc = cli_write(a, out, pem.data, pem.len, 0644);
done:
    ch_buf_dispose(&pem);
    ch_csr_free(csr);
    free(san_store);
    X509_NAME_free(subject);
    ch_key_free(key);
    return rc;
}
