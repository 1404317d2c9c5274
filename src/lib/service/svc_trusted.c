/*
 * Trusted certificates: the CA certificates a tenant lets devices authenticate with (the IoT
 * seed's "Trusted certificates").  Each upload is checked as the seed lists, each failure
 * with a stable reason: not an X.509 certificate in PEM format, not version 3, no
 * BasicConstraints CA:true, already uploaded, expired or not yet valid.  A tenant may prove
 * it holds the CA's key by uploading a certificate whose CN is a code handed out here,
 * signed by that CA.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "svc_internal.h"

/* What a file that is no certificate is refused as (the seed's words, and what else is read). */
#define NOT_A_CERT "not an X.509 certificate in PEM format (DER is read as well)"

/* Writes the broker's CA directory, or says once that it could not and owes it: the scheduler
 * tries again each round until it can (the store holds the truth; the directory follows). */
void svc_trust_dir_refresh(ch_svc *svc)
{
    if (svc_trust_dir_sync(svc) < 0) {
        if (!atomic_exchange(&svc->trust_owed, true))
            svc_log(svc, "the broker's CA directory %s/trust/mqtt could not be brought up to date (%s): tried again "
                    "at each scheduler round (--job-interval)", svc->data_dir, ch_error_last());
    } else if (atomic_exchange(&svc->trust_owed, false)) {
        svc_log(svc, "the broker's CA directory %s/trust/mqtt is up to date again", svc->data_dir);
    }
}

int svc_trust_dir_sync(ch_svc *svc)
{
    char dir[4096], path[4400];
    ch_store_tenant *tenants = NULL;
    size_t nt = 0;
    char (*keep)[32] = NULL;
    size_t nkeep = 0, cap = 0;
    DIR *d;
    struct dirent *e;
    int error, written = 0;

    snprintf(dir, sizeof dir, "%s/trust", svc->data_dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return ch_error_set(CH_EIO, "cannot create %s: %s", dir, strerror(errno));
    snprintf(dir, sizeof dir, "%s/trust/mqtt", svc->data_dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return ch_error_set(CH_EIO, "cannot create %s: %s", dir, strerror(errno));
    if ((error = ch_store_tenant_list(svc->store, &tenants, &nt)) < 0)
        return error;
    for (size_t t = 0; t < nt && error == 0; t++) {
        ch_store_trusted *rows = NULL;
        size_t n = 0;
        if ((error = ch_store_trusted_list(svc->store, tenants[t].id, NULL, NULL, &rows, &n)) < 0)
            break;
        for (size_t i = 0; i < n && error == 0; i++) {
            ch_cert *c = NULL;
            ch_buf pem = CH_BUF_INIT;
            unsigned long h;
            int k = 0;
            /* The trust list, and the issuer list's intermediates: OpenSSL takes a certificate
             * of a CA directory as an anchor only when it is self-signed, and uses the others to
             * build a chain (a device sending its certificate alone).  An issuer-list root
             * would be an anchor: it stays out. */
            if (strcmp(rows[i].status, "enabled") != 0 || ch_cert_parse(&c, rows[i].der, rows[i].der_len) < 0)
                continue;
            if (rows[i].issuer_list && ch_cert_is_self_signed(c)) {
                ch_cert_free(c);
                continue;
            }
            h = X509_subject_name_hash(ch_cert_x509(c));
            /* The same subject may be trusted twice (two tenants, or a renewed CA): .0, .1... */
            for (;; k++) {
                bool taken = false;
                char name[32];
                snprintf(name, sizeof name, "%08lx.%d", h, k);
                for (size_t j = 0; j < nkeep && !taken; j++)
                    taken = strcmp(keep[j], name) == 0;
                if (taken)
                    continue;
                if (nkeep == cap) {
                    void *g = realloc(keep, (cap = cap ? cap * 2 : 16) * sizeof *keep);
                    if (g == NULL) {
                        error = ch_error_set(CH_ENOMEM, "out of memory");
                        break;
                    }
                    keep = g;
                }
                snprintf(keep[nkeep++], sizeof keep[0], "%s", name);
                snprintf(path, sizeof path, "%s/%s", dir, name);
                /* One that cannot be written (a full disk) does not stop the others, nor the
                 * removal of those no longer enabled below; the first failure is told. */
                int w = ch_pem_encode(&pem, "CERTIFICATE", rows[i].der, rows[i].der_len);
                if (w == 0)
                    w = ch_file_write_atomic(path, pem.data, pem.len, 0644);
                if (w < 0 && written == 0)
                    written = w;
                break;
            }
            ch_buf_dispose(&pem);
            ch_cert_free(c);
        }
        ch_store_trusted_list_free(rows, n);
    }
    ch_store_tenant_list_free(tenants, nt);
    /* What is no longer enabled goes. */
    if (error == 0 && (d = opendir(dir)) != NULL) {
        while ((e = readdir(d)) != NULL) {
            bool kept = e->d_name[0] == '.';
            for (size_t j = 0; j < nkeep && !kept; j++)
                kept = strcmp(keep[j], e->d_name) == 0;
            if (!kept) {
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                unlink(path);
            }
        }
        closedir(d);
    }
    free(keep);
    return error < 0 ? error : written;
}

static int fail(int code, const char *reason, const char *msg)
{
    ch_error_set_field(code, "certificate", "%s", msg);
    return ch_error_set_reason(reason);
}

/* The checks of the seed's "To add a certificate", in its order. */
static int check_anchor(const ch_cert *cert, int64_t now)
{
    ch_cert_info info;
    int version, error;

    if ((error = ch_cert_inspect(&info, cert)) < 0)
        return fail(CH_EPARSE, "not_a_certificate", NOT_A_CERT);
    version = info.version;
    ch_cert_info_dispose(&info);
    if (version != 3)
        return fail(CH_EPOLICY, "not_version_3",
                    version == 1 ? "the certificate is not in version 3 (it is version 1)"
                                 : "the certificate is not in version 3 (it is version 2)");
    if (!ch_cert_is_ca(cert))
        return fail(CH_EPOLICY, "not_a_ca", "the certificate does not contain BasicConstraints CA:true");
    if (ch_cert_not_after(cert) <= now)
        return fail(CH_EPOLICY, "expired", "the certificate has expired");
    if (ch_cert_not_before(cert) > now)
        return fail(CH_EPOLICY, "not_yet_valid", "the certificate is not valid yet");
    return 0;
}

static int row_from_cert(ch_store_trusted *row, const ch_cert *cert, const char *tenant_id, const char *name,
                         const ch_svc_trusted_req *req)
{
    char id[CH_ID_MAX], serial[41];
    size_t len;
    const uint8_t *der = ch_cert_der(cert, &len);

    memset(row, 0, sizeof *row);
    ch_store_new_id(id, "tru_");
    ch_cert_serial_hex(serial, cert);
    ch_hex(row->sha256, ch_cert_sha256(cert), 32);
    row->id = strdup(id);
    row->tenant_id = strdup(tenant_id);
    row->serial = strdup(serial);
    row->der = malloc(len ? len : 1);
    if (row->der)
        memcpy(row->der, der, len);
    row->der_len = len;
    row->status = strdup(req->disabled ? "disabled" : "enabled");
    row->auto_registration = req->auto_registration;
    row->issuer_list = req->issuer_list;
    row->not_before = ch_cert_not_before(cert);
    row->not_after = ch_cert_not_after(cert);
    row->created_at = row->updated_at = ch_now();
    if (ch_cert_subject_string(&row->subject, cert) < 0 || ch_cert_issuer_string(&row->issuer, cert) < 0)
        return ch_error_last_code();
    row->name = name ? strdup(name) : svc_name_of_cert(cert, row->subject);
    if (!row->id || !row->tenant_id || !row->serial || !row->der || !row->status || !row->name)
        return ch_error_set(CH_ENOMEM, "out of memory");
    return 0;
}

struct trusted_tx {
    ch_svc *svc;
    const ch_actor *actor;
    ch_store_trusted *row;
    const char *action;
};

static int trusted_tx_run(void *arg)
{
    struct trusted_tx *t = arg;
    json_t *d = json_pack("{ss ss ss ss sb ss}", "name", t->row->name, "subject", t->row->subject, "sha256",
                          t->row->sha256, "status", t->row->status, "auto_registration", t->row->auto_registration,
                          "list", t->row->issuer_list ? "issuer" : "trust");
    char *detail = json_dumps(d, JSON_COMPACT);
    int error;

    json_decref(d);
    if (strcmp(t->action, "trusted.add") == 0) {
        if ((error = ch_store_trusted_put(t->svc->store, t->row)) == CH_EEXISTS) {
            ch_error_set_field(CH_EEXISTS, "certificate", "the certificate has already been uploaded to this tenant");
            ch_error_set_reason("already_exists");
        }
    } else if (strcmp(t->action, "trusted.delete") == 0) {
        error = ch_store_trusted_delete(t->svc->store, t->actor->tenant_id, t->row->id);
    } else {
        error = ch_store_trusted_update(t->svc->store, t->row);
    }
    if (error == 0)
        error = svc_audit(t->svc, t->actor, t->action, "trusted_certificate", t->row->id, detail);
    free(detail);
    return error;
}

/* Checks and stores one certificate; the broker's CA directory brought up to date after it
 * when refresh (a bulk upload does it once, after the last: each rewrite reads and hashes every
 * trusted certificate of every tenant, and 300 of them in one upload took a minute). */
static int add_one(ch_svc *svc, const ch_actor *actor, const ch_cert *cert, const char *name,
                   const ch_svc_trusted_req *req, bool refresh, ch_store_trusted *out)
{
    ch_store_trusted row;
    struct trusted_tx t;
    int error;

    if ((error = check_anchor(cert, ch_now())) < 0)
        return error;
    if ((error = row_from_cert(&row, cert, actor->tenant_id, name, req)) < 0) {
        ch_store_trusted_dispose(&row);
        return error;
    }
    /* A preview (Azure's "view the certificate details before adding", then Apply): every
     * check an add makes, the tenant's own certificates for a duplicate among them, nothing
     * stored. */
    if (req->preview) {
        ch_store_trusted *rows = NULL;
        size_t n = 0;
        if ((error = ch_store_trusted_list(svc->store, actor->tenant_id, NULL, NULL, &rows, &n)) == 0)
            for (size_t i = 0; i < n && error == 0; i++)
                if (strcmp(rows[i].sha256, row.sha256) == 0)
                    error = fail(CH_EEXISTS, "already_exists",
                                 "the certificate has already been uploaded to this tenant"); /* (as an add says it) */
        ch_store_trusted_list_free(rows, n);
        if (error == 0 && out != NULL)
            *out = row;
        else
            ch_store_trusted_dispose(&row);
        return error;
    }
    t = (struct trusted_tx){svc, actor, &row, "trusted.add"};
    if ((error = svc_commit(svc, trusted_tx_run, &t)) == 0 && refresh)
        svc_trust_dir_refresh(svc);
    if (error == 0 && out != NULL)
        *out = row;
    else
        ch_store_trusted_dispose(&row);
    return error;
}

/* The issuer list only helps build chains: it registers no device. */
static int check_issuer_list(bool issuer_list, bool auto_registration)
{
    if (issuer_list && auto_registration)
        return ch_error_set_field(CH_EINVAL, "auto_registration",
                                  "a certificate of the issuer list registers no devices: auto registration is for the "
                                  "trust list");
    return 0;
}

static int check_name(const char *name)
{
    if (name != NULL && strlen(name) == 0)
        return ch_error_set_field(CH_EINVAL, "name", "the name is 1 to 256 characters");
    return svc_check_name(name, 256);
}

int ch_svc_trusted_add(ch_svc *svc, const ch_actor *actor, const ch_svc_trusted_req *req, ch_store_trusted *out)
{
    ch_cert **list = NULL;
    size_t n = 0;
    int error;

    if (out)
        memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "adding a trusted certificate")) < 0 ||
        (error = check_name(req->name)) < 0 || (error = check_issuer_list(req->issuer_list, req->auto_registration)) < 0)
        return error;
    if (req->cert == NULL || req->cert_len == 0 || ch_cert_parse_all(&list, &n, req->cert, req->cert_len) < 0)
        return fail(CH_EPARSE, "not_a_certificate", NOT_A_CERT);
    if (n != 1) {
        ch_cert_list_free(list, n);
        ch_error_set_field(CH_EINVAL, "certificate",
                           "the file holds %zu certificates: add them with the bulk upload, which reports on each", n);
        return ch_error_set_reason("several_certificates");
    }
    error = add_one(svc, actor, list[0], req->name, req, true, out);
    ch_cert_list_free(list, n);
    return error;
}

int ch_svc_trusted_add_bulk(ch_svc *svc, const ch_actor *actor, const ch_svc_trusted_req *req,
                            ch_svc_trusted_result **out, size_t *count)
{
    ch_cert **list = NULL;
    size_t n = 0, added = 0;
    int error;

    *out = NULL;
    *count = 0;
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "adding trusted certificates")) < 0 ||
        (error = check_issuer_list(req->issuer_list, req->auto_registration)) < 0)
        return error;
    if (req->cert == NULL || req->cert_len == 0)
        return fail(CH_EPARSE, "not_a_certificate", "no X.509 certificate in PEM format found");
    /* What is wrong with the file said as it is (a damaged block, more blocks than taken). */
    if ((error = ch_cert_parse_all(&list, &n, req->cert, req->cert_len)) < 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ch_error_last());
        return fail(error, error == CH_ETOOBIG ? "too_many" : "not_a_certificate", msg);
    }
    if ((*out = calloc(n, sizeof **out)) == NULL) {
        ch_cert_list_free(list, n);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        ch_svc_trusted_result *r = &(*out)[i];
        char *subject = NULL;
        if (ch_cert_subject_string(&subject, list[i]) == 0)
            snprintf(r->subject, sizeof r->subject, "%s", subject);
        free(subject);
        /* In a bulk upload each certificate is named after its subject. */
        if ((r->error = add_one(svc, actor, list[i], NULL, req, false, &r->row)) < 0) {
            snprintf(r->message, sizeof r->message, "%s", ch_error_last());
            snprintf(r->reason, sizeof r->reason, "%s", ch_error_reason() ? ch_error_reason() : "");
        } else {
            added++;
        }
    }
    if (added > 0)
        svc_trust_dir_refresh(svc);
    *count = n;
    ch_cert_list_free(list, n);
    return 0;
}

int ch_svc_trusted_get(ch_svc *svc, const ch_actor *actor, const char *id, ch_store_trusted *out)
{
    int error;

    memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_VIEWER, "reading trusted certificates")) < 0)
        return error;
    return ch_store_trusted_get(svc->store, out, actor->tenant_id, id);
}

int ch_svc_trusted_list(ch_svc *svc, const ch_actor *actor, const char *list, ch_store_page *page,
                        ch_store_trusted **out, size_t *count)
{
    int error;

    *out = NULL;
    *count = 0;
    if ((error = svc_need(actor, CH_ROLE_VIEWER, "listing trusted certificates")) < 0)
        return error;
    if (list != NULL && strcmp(list, "trust") != 0 && strcmp(list, "issuer") != 0)
        return ch_error_set_field(CH_EINVAL, "list", "list must be trust or issuer");
    return ch_store_trusted_list(svc->store, actor->tenant_id, list, page, out, count);
}

int ch_svc_trusted_update(ch_svc *svc, const ch_actor *actor, const char *id, const ch_svc_trusted_patch *p,
                          ch_store_trusted *out)
{
    ch_store_trusted row;
    struct trusted_tx t;
    bool same;
    int error;

    if (out)
        memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "changing a trusted certificate")) < 0 ||
        (error = check_name(p->name)) < 0)
        return error;
    if ((error = ch_store_trusted_get(svc->store, &row, actor->tenant_id, id)) < 0)
        return error;
    /* A PATCH that changes nothing answers the row as it is, writing nothing (no audit entry
     * for a change not made, as a CA's). */
    same = (p->name == NULL || strcmp(p->name, row.name) == 0) &&
           (p->issuer_list < 0 || (p->issuer_list != 0) == row.issuer_list) &&
           (p->auto_registration < 0 || (p->auto_registration != 0) == row.auto_registration) &&
           (p->enabled < 0 || (p->enabled != 0) == (strcmp(row.status, "enabled") == 0));
    if (same) {
        if (out != NULL)
            *out = row;
        else
            ch_store_trusted_dispose(&row);
        return 0;
    }
    if (p->name) {
        free(row.name);
        row.name = strdup(p->name);
    }
    if (p->issuer_list >= 0) {
        row.issuer_list = p->issuer_list != 0;
        if (row.issuer_list && p->auto_registration < 0)
            row.auto_registration = false; /* moved to the issuer list, it registers nothing */
    }
    if (p->auto_registration >= 0)
        row.auto_registration = p->auto_registration != 0;
    if ((error = check_issuer_list(row.issuer_list, row.auto_registration)) < 0) {
        ch_store_trusted_dispose(&row);
        return error;
    }
    if (p->enabled >= 0) {
        free(row.status);
        row.status = strdup(p->enabled ? "enabled" : "disabled");
    }
    row.updated_at = ch_now();
    if (row.name == NULL || row.status == NULL) {
        ch_store_trusted_dispose(&row);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    t = (struct trusted_tx){svc, actor, &row, "trusted.update"};
    if ((error = svc_commit(svc, trusted_tx_run, &t)) == 0)
        svc_trust_dir_refresh(svc);
    if (error == 0 && out != NULL)
        *out = row;
    else
        ch_store_trusted_dispose(&row);
    return error;
}

int ch_svc_trusted_delete(ch_svc *svc, const ch_actor *actor, const char *id)
{
    ch_store_trusted row;
    struct trusted_tx t;
    int error;

    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "deleting a trusted certificate")) < 0)
        return error;
    if ((error = ch_store_trusted_get(svc->store, &row, actor->tenant_id, id)) < 0)
        return error;
    t = (struct trusted_tx){svc, actor, &row, "trusted.delete"};
    if ((error = svc_commit(svc, trusted_tx_run, &t)) == 0)
        svc_trust_dir_refresh(svc);
    ch_store_trusted_dispose(&row);
    return error;
}

int ch_svc_trusted_verification_code(ch_svc *svc, const ch_actor *actor, const char *id, char code[65])
{
    ch_store_trusted row;
    struct trusted_tx t;
    unsigned char raw[16];
    int error;

    code[0] = '\0';
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "asking for a verification code")) < 0)
        return error;
    if ((error = ch_store_trusted_get(svc->store, &row, actor->tenant_id, id)) < 0)
        return error;
    if ((error = ch_random(raw, sizeof raw)) == 0) {
        ch_hex(code, raw, sizeof raw);
        free(row.verification_code);
        row.verification_code = strdup(code);
        row.updated_at = ch_now();
        t = (struct trusted_tx){svc, actor, &row, "trusted.verification_code"};
        error = row.verification_code ? svc_commit(svc, trusted_tx_run, &t) : ch_error_set(CH_ENOMEM, "out of memory");
    }
    ch_store_trusted_dispose(&row);
    if (error < 0)
        code[0] = '\0';
    return error;
}

int ch_svc_trusted_verify(ch_svc *svc, const ch_actor *actor, const char *id, const uint8_t *data, size_t len,
                          ch_store_trusted *out)
{
    ch_store_trusted row;
    ch_cert *proof = NULL, *anchor = NULL;
    ch_key *anchor_key = NULL;
    char *cn = NULL;
    struct trusted_tx t;
    int error;

    if (out)
        memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "verifying a trusted certificate")) < 0)
        return error;
    if ((error = ch_store_trusted_get(svc->store, &row, actor->tenant_id, id)) < 0)
        return error;
    if (row.verification_code == NULL) {
        error = ch_error_set(CH_ECONFLICT, "ask for a verification code first (POST .../verification-code, certhub "
                                           "trusted verification-code ID)");
        goto done;
    }
    if ((error = ch_cert_parse(&proof, data, len)) < 0) {
        error = fail(CH_EPARSE, "not_a_certificate", NOT_A_CERT);
        goto done;
    }
    if ((error = ch_cert_parse(&anchor, row.der, row.der_len)) < 0 || (error = ch_cert_public_key(&anchor_key, anchor)) < 0)
        goto done;
    if (ch_cert_subject_get(&cn, proof, NID_commonName) < 0 || cn == NULL ||
        strlen(cn) != strlen(row.verification_code) ||
        ch_memeq_ct(cn, row.verification_code, strlen(cn)) != 0) {
        error = fail(CH_EVERIFY, "wrong_code", "the certificate's common name is not the verification code");
        goto done;
    }
    if (X509_verify(ch_cert_x509(proof), ch_key_pkey(anchor_key)) != 1) {
        error = fail(CH_EVERIFY, "not_signed_by_ca", "the certificate is not signed by this trusted certificate's key");
        goto done;
    }
    row.verified = true;
    free(row.verification_code);
    row.verification_code = NULL; /* used once */
    row.updated_at = ch_now();
    t = (struct trusted_tx){svc, actor, &row, "trusted.verify"};
    if ((error = svc_commit(svc, trusted_tx_run, &t)) == 0 && out != NULL) {
        *out = row;
        memset(&row, 0, sizeof row);
    }
done:
    free(cn);
    ch_key_free(anchor_key);
    ch_cert_free(anchor);
    ch_cert_free(proof);
    ch_store_trusted_dispose(&row);
    return error;
}

void ch_svc_trusted_results_free(ch_svc_trusted_result *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++)
        ch_store_trusted_dispose(&r[i].row);
    free(r);
}
