/* First start: everything certhubd needs to serve, created once and reused after. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
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

/* The step of the set-up that made the quickstart CAs, recorded with their ids: they are made
 * at the first start alone (deleted, they stay deleted, as a step-ca or Vault set-up's
 * bootstrap CA does once replaced), and are found by id (renamed, they are still the
 * quickstart's). */
#define QUICKSTART_STEP "quickstart_cas"

/* The quickstart CAs' ids as their step recorded them ("" for one not recorded);
 * CH_ENOTFOUND when they were never made. */
static int quickstart_ids(ch_svc *svc, char root[CH_ID_MAX], char issuer[CH_ID_MAX])
{
    char *value = NULL;
    json_t *j = NULL;
    int error = ch_store_setup_get(svc->store, QUICKSTART_STEP, &value);

    root[0] = issuer[0] = '\0';
    if (error == 0 && (j = json_loads(value, 0, NULL)) != NULL) {
        if (json_is_string(json_object_get(j, "root")))
            snprintf(root, CH_ID_MAX, "%s", json_string_value(json_object_get(j, "root")));
        if (json_is_string(json_object_get(j, "issuer")))
            snprintf(issuer, CH_ID_MAX, "%s", json_string_value(json_object_get(j, "issuer")));
    }
    json_decref(j);
    free(value);
    return error;
}

/* The quickstart CAs, made and recorded unless they were once. */
static int quickstart_make(ch_svc *svc, const ch_actor *a)
{
    char root_id[CH_ID_MAX], issuer_id[CH_ID_MAX], *text = NULL;
    ch_store_ca root = {0}, issuer = {0};
    json_t *j = NULL;
    int error = quickstart_ids(svc, root_id, issuer_id);

    if (error != CH_ENOTFOUND)
        return error;
    ch_error_clear();
    /* (by name: a start stopped between the two finds the first made) */
    if ((error = ensure_ca(svc, a, CH_QUICKSTART_ROOT, NULL, &root)) < 0 ||
        (error = ensure_ca(svc, a, CH_QUICKSTART_ISSUER, root.id, &issuer)) < 0)
        goto done;
    if ((j = json_pack("{ss ss}", "root", root.id, "issuer", issuer.id)) == NULL ||
        (text = json_dumps(j, JSON_COMPACT)) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    error = ch_store_setup_put(svc->store, QUICKSTART_STEP, text, ch_now());
done:
    free(text);
    json_decref(j);
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&issuer);
    return error;
}

int svc_server_issuer(ch_svc *svc, const char *tenant_id, ch_store_ca *out)
{
    char root[CH_ID_MAX], issuer[CH_ID_MAX], id[CH_ID_MAX];
    int error = quickstart_ids(svc, root, issuer);

    memset(out, 0, sizeof *out);
    if (error < 0 && error != CH_ENOTFOUND)
        return error;
    if (issuer[0] != '\0' && ch_store_ca_get(svc->store, out, tenant_id, issuer) == 0) {
        if (svc_ca_signs(out))
            return 0;
        ch_store_ca_dispose(out);
    }
    ch_error_clear();
    if ((error = svc_default_issuer(svc, tenant_id, id, NULL)) < 0)
        return error;
    return ch_store_ca_get(svc->store, out, tenant_id, id);
}

/* DATA_DIR/ca.pem: the roots clients trust to reach certhubd (curl --cacert, the CLI): every
 * unexpired self-signed certificate of the tenant whose subject is that of the root of the
 * chain of the CA that issues certhubd's own certificate, the newest first (the quickstart
 * root, or your own once the quickstart CAs are deleted).  Once the root is rotated,
 * certhubd's chain moves to the new root with the issuing CA's next certificate; clients that
 * read the file again then trust both.  A chain that stops short of a root (an outside root
 * not imported) gives its last certificate.  Written only when it differs. */
int svc_write_roots(ch_svc *svc, const ch_actor *a, const char *data_dir)
{
    ch_store_cert_filter f = {.is_ca = 1, .unexpired_at = ch_now()};
    ch_store_cert *rows = NULL;
    ch_store_ca issuer, *cas = NULL;
    ch_cert *chain[CH_MAX_CHAIN_LEN] = {0};
    size_t n = 0, len = 0, *picked = NULL, npicked = 0, ncas = 0;
    char *next = NULL, *top_subject = NULL, *top_issuer = NULL, path[4200];
    ch_buf pem = CH_BUF_INIT;
    uint8_t *old = NULL;
    size_t old_len = 0;
    int error;

    /* None (the quickstart CAs deleted, and no CA of the tenant's own issues it): the file is
     * left as it is. */
    if (svc_server_issuer(svc, a->tenant_id, &issuer) < 0) {
        ch_error_clear();
        return 0;
    }
    error = svc_ca_chain(svc, a->tenant_id, issuer.id, chain, &len, CH_MAX_CHAIN_LEN);
    ch_store_ca_dispose(&issuer);
    if (error == CH_ENOTFOUND && len > 0)
        error = 0; /* a parent gone: the chain as far as it goes */
    if (error < 0 || len == 0 || (error = ch_cert_subject_string(&top_subject, chain[len - 1])) < 0 ||
        (error = ch_cert_issuer_string(&top_issuer, chain[len - 1])) < 0)
        goto done;
    if (strcmp(top_subject, top_issuer) != 0) {
        error = ch_cert_write_pem(&pem, chain[len - 1]);
    } else if ((error = ch_store_ca_list(svc->store, a->tenant_id, NULL, &cas, &ncas)) == 0 &&
               (error = ch_store_cert_list(svc->store, a->tenant_id, &f, 1000, NULL, &rows, &n, &next)) == 0) {
        if (n > 0 && (picked = calloc(n, sizeof *picked)) == NULL)
            error = ch_error_set(CH_ENOMEM, "out of memory");
        /* Those of a CA of the tenant, now or before its rotation: a self-signed certificate
         * of the same subject imported, or left by a CA deleted (compromised, say), is not
         * one clients are to trust certhubd by. */
        for (size_t i = 0; error == 0 && i < n; i++)
            if (strcmp(rows[i].subject, top_subject) == 0 && strcmp(rows[i].issuer, top_subject) == 0 &&
                svc_ca_in_bundle(&rows[i], rows, n, cas, ncas))
                picked[npicked++] = i;
        /* the newest first: by the end of their lives */
        for (size_t i = 1; i < npicked; i++)
            for (size_t k = i; k > 0 && rows[picked[k]].not_after > rows[picked[k - 1]].not_after; k--) {
                size_t t = picked[k];
                picked[k] = picked[k - 1];
                picked[k - 1] = t;
            }
        for (size_t i = 0; error == 0 && i < npicked; i++) {
            ch_store_cert full;
            if ((error = ch_store_cert_get(svc->store, &full, a->tenant_id, rows[picked[i]].id)) == 0) {
                error = ch_svc_cert_pem(&pem, &full);
                ch_store_cert_dispose(&full);
            }
        }
    }
    snprintf(path, sizeof path, "%s/ca.pem", data_dir);
    /* None valid (the root let expire, never rotated): the file is left as it is. */
    if (error == 0 && pem.len > 0 &&
        (ch_file_read(&old, &old_len, path, 1 << 20) < 0 || old_len != pem.len || memcmp(old, pem.data, pem.len) != 0))
        error = ch_file_write_atomic(path, pem.data, pem.len, 0644);
done:
    free(old);
    free(picked);
    free(next);
    free(top_subject);
    free(top_issuer);
    ch_buf_dispose(&pem);
    ch_store_cert_list_free(rows, n);
    ch_store_ca_list_free(cas, ncas);
    for (size_t i = 0; i < len; i++)
        ch_cert_free(chain[i]);
    return error;
}

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

/* The CA that issues certhubd's own certificate, its current certificate in out->issuer_cert
 * and the CAs above it (not a self-signed root) in out->intermediates.  Without one, what to do
 * is said. */
static int server_chain(ch_svc *svc, const char *tenant_id, ch_store_ca *issuer, ch_svc_bootstrap *out)
{
    ch_cert *chain[CH_MAX_CHAIN_LEN] = {0};
    size_t len = 0;
    char why[1024];
    int error = svc_server_issuer(svc, tenant_id, issuer);

    if (error < 0) {
        snprintf(why, sizeof why, "%s", ch_error_last());
        return ch_error_set(CH_EPOLICY,
                            "certhubd has no CA to issue its own TLS certificate from: the quickstart issuing CA "
                            "was deleted, and no CA signs what names none (%s).  Give certhubd a certificate of "
                            "yours (--tls-cert and --tls-key), or name the tenant's default CA, which then issues "
                            "it (certhub settings set --default-ca CA_ID)",
                            why);
    }
    error = svc_ca_chain(svc, tenant_id, issuer->id, chain, &len, CH_MAX_CHAIN_LEN);
    if (error == CH_ENOTFOUND && len > 0)
        error = 0; /* a parent gone: the chain as far as it goes */
    if (error == 0 && len == 0)
        error = ch_error_set(CH_EINTERNAL, "CA %s has no certificate", issuer->id);
    if (error == 0) {
        out->issuer_cert = chain[0];
        chain[0] = NULL;
        /* (a root is not sent: the client has it, or the chain does not help it) */
        for (size_t i = 1; i < len && !ch_cert_is_self_signed(chain[i]); i++) {
            out->intermediates[out->n_intermediates++] = chain[i];
            chain[i] = NULL;
        }
    }
    for (size_t i = 0; i < len; i++)
        ch_cert_free(chain[i]);
    return error;
}

/* The issuer of c among the tenant's unexpired CA certificates (a new reference), NULL when none
 * is held. */
static ch_cert *held_issuer(ch_svc *svc, const char *tenant_id, const ch_cert *c)
{
    ch_store_cert_filter f = {.is_ca = 1, .unexpired_at = ch_now()};
    ch_store_cert *rows = NULL;
    char *next = NULL;
    size_t n = 0;
    ch_cert *found = NULL;

    if (ch_store_cert_list(svc->store, tenant_id, &f, 1000, NULL, &rows, &n, &next) == 0)
        for (size_t i = 0; i < n && found == NULL; i++) {
            ch_store_cert full;
            ch_cert *x = NULL;
            if (ch_store_cert_get(svc->store, &full, tenant_id, rows[i].id) < 0)
                continue;
            if (ch_cert_parse(&x, full.der, full.der_len) == 0 && ch_cert_issued_by(c, x))
                found = x;
            else
                ch_cert_free(x);
            ch_store_cert_dispose(&full);
        }
    ch_store_cert_list_free(rows, n);
    free(next);
    ch_error_clear();
    return found;
}

/* No CA can issue certhubd's next certificate (its CA deleted, a second CA that signs made and
 * no default named): the one it serves, while it is valid and its issuer is held, with what
 * to do said in the log.  Refusing to start left no certhubd to name a default CA with. */
static int serve_as_is(ch_svc *svc, const ch_actor *a, ch_svc_bootstrap *out, const char *why)
{
    ch_store_cert server = {0};
    ch_cert *up;
    char until[32];
    bool fresh;
    int error;

    if ((error = find_server_cert(svc, a, &server, &fresh)) < 0)
        return error;
    if (server.not_after <= ch_now() + 60 || (error = ch_cert_parse(&out->server_cert, server.der, server.der_len)) < 0 ||
        (out->issuer_cert = held_issuer(svc, a->tenant_id, out->server_cert)) == NULL ||
        (error = svc_key_load(svc, a->tenant_id, server.key_id, &out->server_key)) < 0) {
        ch_store_cert_dispose(&server);
        ch_cert_free(out->server_cert);
        ch_cert_free(out->issuer_cert);
        out->server_cert = out->issuer_cert = NULL;
        return error < 0 ? error : CH_ENOTFOUND;
    }
    /* (the intermediates above its issuer, as far as they are held; a root is not sent) */
    for (up = out->issuer_cert; !ch_cert_is_self_signed(up) && out->n_intermediates < CH_MAX_CHAIN_LEN - 2;) {
        ch_cert *next = held_issuer(svc, a->tenant_id, up);
        if (next == NULL)
            break;
        if (ch_cert_is_self_signed(next)) {
            ch_cert_free(next);
            break;
        }
        out->intermediates[out->n_intermediates++] = up = next;
    }
    ch_time_format(until, sizeof until, server.not_after);
    svc_log(svc, "certhubd serves its certificate as it is, valid until %s, and cannot renew it: %s", until, why);
    ch_store_cert_dispose(&server);
    return 0;
}

int ch_svc_bootstrap_run(ch_svc *svc, const char *data_dir, const char *names, unsigned flags,
                         ch_svc_bootstrap *out)
{
    char sans_text[SERVER_NAMES_MAX][300];
    size_t nsans = server_sans(sans_text, names);
    ch_store_tenant tenant = {0};
    ch_store_ca issuer = {0};
    ch_store_cert server = {0};
    ch_actor a;
    char path[4200], replaced[CH_ID_MAX] = "";
    int64_t tokens = 0;
    bool fresh;
    int error;

    memset(out, 0, sizeof *out);
    if ((error = ch_svc_tenant_ensure(svc, "default", &tenant)) < 0)
        return error;
    snprintf(out->tenant_id, sizeof out->tenant_id, "%s", tenant.id);
    a = (ch_actor){out->tenant_id, "system:bootstrap", CH_ROLE_ADMIN, CH_PERM_KEYS_EXPORT, NULL, NULL};
    if ((error = quickstart_make(svc, &a)) < 0)
        goto done;
    /* CAs due for rotation are rotated before certhubd's own certificate is issued from them: a
     * start after a long stop found the issuing CA too close to its end to issue from (or past
     * it), refused to start, and so never reached the rotation it runs while up. */
    (void)ch_svc_rotate_due(svc);
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
        out->first_start = n == 0;
        snprintf(path, sizeof path, "%s/admin-token", data_dir);
        if ((error = ch_svc_token_bootstrap(svc, out->tenant_id, CH_ROLE_ADMIN, "bootstrap admin", path,
                                            &out->admin_token)) < 0)
            goto done;
    }
    /* The console's first user, "admin", with a password shown once and kept 0600. */
    snprintf(path, sizeof path, "%s/admin-password", data_dir);
    if ((error = ch_svc_user_bootstrap(svc, out->tenant_id, path, &out->admin_password)) < 0)
        goto done;
    if (flags & CH_BOOTSTRAP_NO_SERVER_CERT)
        goto trust;
    /* certhubd's own certificate, renewed when a third of its life is left, and when the CA
     * that issues it was rotated or is another (the chain it is served with is that CA's
     * current certificate). */
    if ((error = server_chain(svc, out->tenant_id, &issuer, out)) < 0) {
        char why[1200];
        snprintf(why, sizeof why, "%s", ch_error_last());
        if (serve_as_is(svc, &a, out, why) == 0)
            goto trust;
        ch_error_set(error, "%s", why);
        goto done;
    }
    error = find_server_cert(svc, &a, &server, &fresh);
    if (error == 0) {
        ch_cert *c = NULL;
        /* Current: issued by the issuing CA's current certificate, for every name asked. */
        bool current = fresh && ch_cert_parse(&c, server.der, server.der_len) == 0 &&
                       ch_cert_issued_by(c, out->issuer_cert) &&
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
        /* Cut at the CA's end rather than refused: a CA that does not rotate by itself (a
         * default CA of the operator's, a quickstart CA with auto_rotate switched off) within
         * 90 days of its end kept certhubd from starting, with a message of days to choose. */
        ch_svc_issue_req req = {.name = "certhubd server", .profile = "tls-server", .ca_id = issuer.id,
                                .key_type = "p256", .days = 90, .sans = sans, .san_count = nsans,
                                .renews = replaced[0] ? replaced : NULL, .cap_validity = true};
        for (size_t i = 0; i < nsans; i++)
            sans[i] = sans_text[i];
        req.subject.fields.common_name = "localhost";
        req.subject.fields.organization = "certhub";
        error = ch_svc_cert_issue(svc, &a, &req, &server);
        out->server_cert_renewed = error == 0 && replaced[0] != '\0';
    }
    if (error < 0)
        goto done;
    if ((error = ch_cert_parse(&out->server_cert, server.der, server.der_len)) < 0 ||
        (error = svc_key_load(svc, out->tenant_id, server.key_id, &out->server_key)) < 0)
        goto done;
trust:
    /* The broker's CA directory follows the trusted certificates from the start. */
    error = svc_trust_dir_sync(svc);
done:
    if (error < 0)
        ch_svc_bootstrap_dispose(out);
    ch_store_cert_dispose(&server);
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
    for (size_t i = 0; i < b->n_intermediates; i++)
        ch_cert_free(b->intermediates[i]);
    ch_key_free(b->server_key);
    memset(b, 0, sizeof *b);
}
