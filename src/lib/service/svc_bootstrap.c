/* First start: everything certhubd needs to serve, created once and reused after. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "svc_internal.h"

static int find_ca(ch_svc *svc, const ch_actor *a, const char *name, ch_store_ca *out)
{
    ch_store_ca *list = NULL;
    size_t n = 0;
    int error = ch_store_ca_list(svc->store, a->tenant_id, NULL, &list, &n);

    if (error < 0)
        return error;
    error = CH_ENOTFOUND;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0 && strcmp(list[i].status, "active") == 0) {
            *out = list[i];
            memset(&list[i], 0, sizeof list[i]);
            error = 0;
            break;
        }
    ch_store_ca_list_free(list, n);
    return error;
}

static int ensure_ca(ch_svc *svc, const ch_actor *a, const char *name, const char *parent_id, ch_store_ca *out)
{
    ch_svc_ca_req req = {.name = name, .path_len = -2, .key_type = "p256", .auto_rotate = true};
    int error = find_ca(svc, a, name, out);

    if (error != CH_ENOTFOUND)
        return error;
    req.subject.fields.common_name = name;
    req.subject.fields.organization = "certhub";
    req.intermediate = parent_id != NULL;
    req.parent_id = parent_id;
    req.days = parent_id ? 1825 : 3650;
    return ch_svc_ca_create(svc, a, &req, out);
}

/* DATA_DIR/ca.pem: the roots clients trust to reach certhubd (curl --cacert, the CLI): every
 * unexpired certificate of the quickstart root, the newest first.  Once the root is rotated,
 * certhubd's chain moves to the new root with the issuing CA's next certificate; clients that
 * read the file again then trust both.  Written only when it differs. */
int svc_write_roots(ch_svc *svc, const ch_actor *a, const char *data_dir)
{
    ch_store_cert_filter f = {.is_ca = 1, .unexpired_at = ch_now(), .search = "Quickstart Root"};
    ch_store_cert *rows = NULL;
    size_t n = 0;
    char *next = NULL, path[4200];
    ch_buf pem = CH_BUF_INIT;
    uint8_t *old = NULL;
    size_t old_len = 0;
    bool taken[50] = {false};
    int error = ch_store_cert_list(svc->store, a->tenant_id, &f, 50, NULL, &rows, &n, &next);

    free(next);
    for (size_t done = 0; error == 0 && done < n; done++) {
        /* the newest of those left, self-signed under the quickstart root's name */
        size_t best = n;
        for (size_t i = 0; i < n; i++)
            if (!taken[i] && strcmp(rows[i].subject, rows[i].issuer) == 0 &&
                strstr(rows[i].subject, CH_QUICKSTART_ROOT) != NULL &&
                (best == n || rows[i].not_after > rows[best].not_after))
                best = i;
        if (best == n)
            break;
        ch_store_cert full;
        if ((error = ch_store_cert_get(svc->store, &full, a->tenant_id, rows[best].id)) == 0) {
            error = ch_svc_cert_pem(&pem, &full);
            ch_store_cert_dispose(&full);
        }
        taken[best] = true;
    }
    snprintf(path, sizeof path, "%s/ca.pem", data_dir);
    /* None valid (the root let expire, never rotated): the file is left as it is. */
    if (error == 0 && pem.len > 0 &&
        (ch_file_read(&old, &old_len, path, 1 << 20) < 0 || old_len != pem.len || memcmp(old, pem.data, pem.len) != 0))
        error = ch_file_write_atomic(path, pem.data, pem.len, 0644);
    free(old);
    ch_buf_dispose(&pem);
    ch_store_cert_list_free(rows, n);
    return error;
}

/* The newest "certhubd server" certificate that still has a third of its life, if any. */
/* certhubd's own certificate: the newest not renewed yet, and in *fresh whether more than a
 * third of its life is left. */
static int find_server_cert(ch_svc *svc, const ch_actor *a, ch_store_cert *out, bool *fresh)
{
    ch_store_cert_filter f = {.is_ca = 0, .search = "certhubd server", .method = "generated"};
    ch_store_cert *rows = NULL;
    char *next = NULL;
    size_t n = 0;
    int64_t now = ch_now();
    int error = ch_store_cert_list(svc->store, a->tenant_id, &f, 20, NULL, &rows, &n, &next);

    *fresh = false;
    free(next);
    if (error < 0)
        return error;
    error = CH_ENOTFOUND;
    for (size_t i = 0; i < n && error == CH_ENOTFOUND; i++) {
        if (strcmp(rows[i].name, "certhubd server") != 0 || rows[i].key_id == NULL ||
            ch_store_cert_get(svc->store, out, a->tenant_id, rows[i].id) < 0)
            continue;
        if (out->renewed_by != NULL) {
            ch_store_cert_dispose(out);
            continue;
        }
        *fresh = out->not_after - now > (out->not_after - out->not_before) / 3;
        error = 0;
    }
    ch_store_cert_list_free(rows, n);
    return error;
}

#define SERVER_NAMES_MAX 32

/* The SANs of certhubd's own certificate: localhost and its loopback addresses, then each
 * name of the comma-separated list that is a host name or an address, in the form the store
 * keeps them (ch_san_append), host names in lower case, without repeats. */
static size_t server_sans(char out[][300], const char *names)
{
    size_t n = 0;
    const char *p = names;

    snprintf(out[n++], 300, "dns:localhost");
    snprintf(out[n++], 300, "ip:127.0.0.1");
    snprintf(out[n++], 300, "ip:::1");
    while (p != NULL && *p != '\0' && n < SERVER_NAMES_MAX) {
        size_t len = strcspn(p, ",");
        char one[300];
        ch_san san;
        ch_buf text = CH_BUF_INIT;
        bool seen = false;
        snprintf(one, sizeof one, "%.*s", (int)(len < sizeof one - 1 ? len : sizeof one - 1), p);
        p += len + (p[len] == ',');
        if (ch_san_parse(&san, one) != 0 || (san.type != CH_SAN_DNS && san.type != CH_SAN_IP) ||
            ch_san_append(&text, &san) < 0 || text.len >= sizeof one) {
            ch_buf_dispose(&text);
            continue;
        }
        memcpy(one, text.data, text.len + 1);
        ch_buf_dispose(&text);
        if (san.type == CH_SAN_DNS)
            for (char *c = one; *c; c++)
                *c = (char)tolower((unsigned char)*c);
        for (size_t i = 0; i < n && !seen; i++)
            seen = strcmp(out[i], one) == 0;
        if (!seen)
            snprintf(out[n++], 300, "%s", one);
    }
    return n;
}

/* Whether the stored SAN text of a certificate ("dns:a,ip:b") holds each of want. */
static bool holds_sans(const char *stored, char want[][300], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *at = stored;
        size_t len = strlen(want[i]);
        bool found = false;
        while (!found && at != NULL && (at = strstr(at, want[i])) != NULL) {
            found = (at == stored || at[-1] == ',') && (at[len] == ',' || at[len] == '\0');
            at += len;
        }
        if (!found)
            return false;
    }
    return true;
}

int ch_svc_bootstrap_run(ch_svc *svc, const char *data_dir, const char *names, ch_svc_bootstrap *out)
{
    char sans_text[SERVER_NAMES_MAX][300];
    size_t nsans = server_sans(sans_text, names);
    ch_store_tenant tenant = {0};
    ch_store_ca root = {0}, issuer = {0};
    ch_store_cert server = {0}, issuer_row = {0};
    ch_actor a;
    char path[4200], replaced[CH_ID_MAX] = "";
    int64_t tokens = 0;
    bool fresh;
    int error;

    memset(out, 0, sizeof *out);
    if ((error = ch_svc_tenant_ensure(svc, "default", &tenant)) < 0)
        return error;
    snprintf(out->tenant_id, sizeof out->tenant_id, "%s", tenant.id);
    a = (ch_actor){out->tenant_id, "system:bootstrap", CH_ROLE_ADMIN, CH_PERM_KEYS_EXPORT, NULL};
    if ((error = ensure_ca(svc, &a, CH_QUICKSTART_ROOT, NULL, &root)) < 0 ||
        (error = ensure_ca(svc, &a, CH_QUICKSTART_ISSUER, root.id, &issuer)) < 0)
        goto done;
    /* CAs due for rotation are rotated before certhubd's own certificate is issued from them: a
     * start after a long stop found the issuing CA too close to its end to issue from (or past
     * it), refused to start, and so never reached the rotation it runs while up. */
    if (ch_svc_rotate_due(svc) > 0) {
        ch_store_ca_dispose(&root);
        ch_store_ca_dispose(&issuer);
        if ((error = ensure_ca(svc, &a, CH_QUICKSTART_ROOT, NULL, &root)) < 0 ||
            (error = ensure_ca(svc, &a, CH_QUICKSTART_ISSUER, root.id, &issuer)) < 0)
            goto done;
    }
    if ((error = svc_write_roots(svc, &a, data_dir)) < 0)
        goto done;
    /* The first admin token, shown once and kept 0600 beside the data; made again when no token
     * of the tenant lets anyone in any more (all revoked, or expired: the way back in for whoever
     * holds the data directory). */
    if ((error = ch_store_token_count(svc->store, out->tenant_id, ch_now(), &tokens)) < 0)
        goto done;
    if (tokens == 0) {
        ch_store_page page = {.limit = 1};
        ch_store_token *any = NULL;
        size_t n = 0;

        /* The default tenant's CAs, the quickstart's among them, are for anyone to trust: a
         * machine fetches them before it has a credential.  Set before the token is stored, so
         * that a set-up stopped in between does it again at the next start; at the first start
         * only (no token ever made), not when the token is made again: an admin may have made
         * the bundle private since. */
        if ((error = ch_store_token_list(svc->store, out->tenant_id, &page, &any, &n)) < 0)
            goto done;
        ch_store_token_list_free(any, n);
        free(page.next_cursor);
        if (n == 0 && (error = ch_svc_settings_update(svc, &a, "{\"public_bundle\":true}", NULL)) < 0)
            goto done;
        snprintf(path, sizeof path, "%s/admin-token", data_dir);
        if ((error = ch_svc_token_bootstrap(svc, out->tenant_id, CH_ROLE_ADMIN, "bootstrap admin", path,
                                            &out->admin_token)) < 0)
            goto done;
    }
    /* The console's first user, "admin", with a password shown once and kept 0600. */
    snprintf(path, sizeof path, "%s/admin-password", data_dir);
    if ((error = ch_svc_user_bootstrap(svc, out->tenant_id, path, &out->admin_password)) < 0)
        goto done;
    /* certhubd's own certificate, renewed when a third of its life is left, and when the issuing
     * CA was rotated (the chain it is served with is the CA's current certificate). */
    if ((error = ch_store_cert_get(svc->store, &issuer_row, out->tenant_id, issuer.cert_id)) < 0 ||
        (error = ch_cert_parse(&out->issuer_cert, issuer_row.der, issuer_row.der_len)) < 0)
        goto done;
    error = find_server_cert(svc, &a, &server, &fresh);
    if (error == 0) {
        ch_cert *c = NULL;
        /* Current: issued by the issuing CA's current certificate, for every name asked. */
        bool current = fresh && ch_cert_parse(&c, server.der, server.der_len) == 0 &&
                       X509_check_issued(ch_cert_x509(out->issuer_cert), ch_cert_x509(c)) == X509_V_OK &&
                       server.sans != NULL && holds_sans(server.sans, sans_text, nsans);
        ch_cert_free(c);
        if (!current) {
            /* The new one renews it: linked, so the old one is known replaced (no expiry
             * alerts for a certificate nothing serves any more). */
            snprintf(replaced, sizeof replaced, "%s", server.id);
            ch_store_cert_dispose(&server);
            error = CH_ENOTFOUND;
        }
    }
    if (error == CH_ENOTFOUND) {
        const char *sans[SERVER_NAMES_MAX];
        ch_svc_issue_req req = {.name = "certhubd server", .profile = "tls-server", .ca_id = issuer.id,
                                .key_type = "p256", .days = 90, .sans = sans, .san_count = nsans,
                                .renews = replaced[0] ? replaced : NULL};
        for (size_t i = 0; i < nsans; i++)
            sans[i] = sans_text[i];
        req.subject.fields.common_name = "localhost";
        req.subject.fields.organization = "certhub";
        error = ch_svc_cert_issue(svc, &a, &req, &server);
    }
    if (error < 0)
        goto done;
    if ((error = ch_cert_parse(&out->server_cert, server.der, server.der_len)) < 0 ||
        (error = svc_key_load(svc, out->tenant_id, server.key_id, &out->server_key)) < 0)
        goto done;
    /* The broker's CA directory follows the trusted certificates from the start. */
    error = svc_trust_dir_sync(svc);
done:
    if (error < 0)
        ch_svc_bootstrap_dispose(out);
    ch_store_cert_dispose(&server);
    ch_store_cert_dispose(&issuer_row);
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&issuer);
    ch_store_tenant_dispose(&tenant);
    return error;
}

void ch_svc_bootstrap_dispose(ch_svc_bootstrap *b)
{
    ch_secure_free_str(b->admin_token);
    ch_secure_free_str(b->admin_password);
    ch_cert_free(b->server_cert);
    ch_cert_free(b->issuer_cert);
    ch_key_free(b->server_key);
    memset(b, 0, sizeof *b);
}
