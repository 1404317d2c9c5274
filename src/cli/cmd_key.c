/* certhub key create */
#include <stdlib.h>
#include <string.h>

#include "certhub/x509.h"
#include "cli.h"

int cmd_key_create(cli_args *a)
{
    const char *type_name = cli_need(a, "type"), *out = cli_need(a, "out");
    ch_key_type type;
    ch_key *key = NULL;
    ch_buf pem = CH_BUF_INIT;
    char *password = NULL;
    int rc = 1;

    if (ch_key_type_parse(&type, type_name) < 0)
        return cli_fail_last(a);
    if (cli_password_new(a, "password-file", NULL, &password) != 0)
        return 1;
    if (ch_key_generate(&key, type) < 0 || ch_key_write_pem(&pem, key, password) < 0) {
        rc = cli_fail_last(a);
        goto done;
    }
    /* Private keys are for their owner only. */
    rc = cli_write(a, out, pem.data, pem.len, 0600);
done:
    ch_buf_dispose_secure(&pem);
    ch_secure_free_str(password);
    ch_key_free(key);
    return rc;
}
