/* certhub verify: exit 0 when the certificate verifies, 1 with the reason when not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certhub/x509.h"
#include "cli.h"

static int load_all(cli_args *a, const char *path, ch_cert ***out, size_t *count)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = 0;

    if (cli_read(a, path, &data, &len) != 0)
        return 1;
    if (ch_cert_parse_all(out, count, data, len) < 0)
        rc = cli_fail(a, "%s: %s", path, ch_error_last());
    free(data);
    return rc;
}

int cmd_verify(cli_args *a)
{
    const char *purpose = cli_opt(a, "purpose"), *at = cli_opt(a, "at");
    ch_cert **leaf = NULL, **roots = NULL, **chain = NULL;
    size_t nleaf = 0, nroots = 0, nchain = 0;
    ch_verify_opts o = {0};
    int rc = 1;

    (void)cli_need(a, "ca");
    if (purpose != NULL) {
        if (strcmp(purpose, "server") == 0)
            o.purpose = CH_PURPOSE_SERVER;
        else if (strcmp(purpose, "client") == 0)
            o.purpose = CH_PURPOSE_CLIENT;
        else
            cli_bad_value(a, "--purpose must be server or client, not \"%.32s\"", purpose);
    }
    if (at != NULL && ch_time_parse(&o.at, at) < 0)
        cli_bad_value(a, "--at: %s", ch_error_last());
    if (load_all(a, a->pos[0], &leaf, &nleaf) != 0 || load_all(a, cli_opt(a, "ca"), &roots, &nroots) != 0)
        goto done;
    if (cli_opt(a, "untrusted") && load_all(a, cli_opt(a, "untrusted"), &chain, &nchain) != 0)
        goto done;
    /* Certificates after the first in the leaf file are its chain, as servers send them. */
    o.anchors = roots;
    o.anchor_count = nroots;
    if (nleaf > 1) {
        ch_cert **all = realloc(chain, (nchain + nleaf - 1) * sizeof *all);
        if (all == NULL) {
            rc = cli_fail(a, "out of memory");
            goto done;
        }
        chain = all;
        for (size_t i = 1; i < nleaf; i++)
            chain[nchain++] = ch_cert_dup(leaf[i]);
    }
    o.untrusted = chain;
    o.untrusted_count = nchain;
    o.hostname = cli_opt(a, "hostname");
    if (ch_chain_verify(leaf[0], &o) < 0) {
        rc = cli_fail_last(a);
        goto done;
    }
    printf("OK\n");
    rc = 0;
done:
    ch_cert_list_free(leaf, nleaf);
    ch_cert_list_free(roots, nroots);
    ch_cert_list_free(chain, nchain);
    return rc;
}
