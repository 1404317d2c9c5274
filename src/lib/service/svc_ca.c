/* Certificate authorities: create roots and intermediates, import outside issuers, chains,
 * delete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "certhub/formats.h"

#include "svc_internal.h"

static json_t *url_array(const char *const *urls)
{
    json_t *a = json_array();

    for (size_t i = 0; urls && urls[i] && i < CH_CA_MAX_URLS; i++)
        json_array_append_new(a, json_string(urls[i]));
    return a;
}

static int check_name(const char *name)
{
    if (name == NULL || *name == '\0')
        return ch_error_set_field(CH_EINVAL, "name", "a name is required");
    return svc_check_name(name, 128);
}

struct ca_tx {
    ch_svc *svc;
    const ch_actor *actor;
    const ch_key *key;        /* to store sealed, or NULL */
    ch_store_cert *cert;
    ch_store_ca *ca;
    bool cert_exists;         /* the certificate is already in the inventory */
    const char *action;
    const ch_store_csr *csr;  /* the CSR an outside CA signed this for, or NULL: its key is the
                               * CA's unless key is given */
    const ch_store_ca *rotate; /* rotation: this CA gets the new certificate and key, no new CA row */
    const struct ca_links *links; /* an import: the CAs it issued that had no parent, or NULL */
    bool csr_found;           /* csr was found by its key, the import did not name it */
};

/* An imported CA joins the tenant's tree of CAs: its parent is the tenant's CA that issued it,
 * and the CAs it issued that had none (imported before it, their issuer not yet known) become
 * its children.  Without, the chain of an intermediate imported with its root ended at the
 * intermediate. */
struct ca_links {
    char parent[CH_ID_MAX];      /* "": none known */
    char (*children)[CH_ID_MAX];
    size_t nchildren;
    char keyless[CH_ID_MAX];     /* the tenant's CA of this very certificate, held without its key,
                                  * which the key that comes now goes to ("": none; parent and
                                  * children are then not looked for) */
};

/* Whether id is start or one of its ancestors among the tenant's CAs. */
static bool ca_is_ancestor(const ch_store_ca *all, size_t n, const char *start, const char *id)
{
    const char *at = start;

    for (size_t steps = 0; at != NULL && *at != '\0' && steps <= n; steps++) {
        const char *up = NULL;
        if (strcmp(at, id) == 0)
            return true;
        for (size_t i = 0; i < n; i++)
            if (strcmp(all[i].id, at) == 0)
                up = all[i].parent_id;
        at = up;
    }
    return false;
}

static void ca_links_dispose(struct ca_links *l)
{
    free(l->children);
    memset(l, 0, sizeof *l);
}

/* key_comes: the import brings the CA's key (given, or a CSR's).  held (or NULL): a
 * certificate of a chain sent with a CA, which is no error when the tenant has its CA
 * already: that CA's id in held, and nothing else found. */
static int ca_links_find(ch_svc *svc, const char *tenant_id, const ch_cert *cert, bool key_comes, struct ca_links *out,
                         char held[CH_ID_MAX])
{
    ch_store_ca *all = NULL;
    ch_cert **certs = NULL;
    size_t n = 0;
    bool parent_active = false;
    int error;

    memset(out, 0, sizeof *out);
    if ((error = ch_store_ca_list(svc->store, tenant_id, NULL, &all, &n)) < 0)
        return error;
    certs = calloc(n + 1, sizeof *certs);
    out->children = calloc(n + 1, sizeof *out->children);
    if (certs == NULL || out->children == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (all[i].cert_id == NULL || svc_cert_load(svc, tenant_id, all[i].cert_id, &certs[i]) < 0)
            continue;
        /* The same certificate as a CA the tenant has: a second CA of it (two that sign with
         * one key, two trees of the same issuer) is refused, as a certificate imported twice;
         * one held without its key takes the key that comes now, as a certificate held
         * without one does. */
        if (certs[i] != NULL && memcmp(ch_cert_sha256(certs[i]), ch_cert_sha256(cert), 32) == 0) {
            if (held != NULL) {
                snprintf(held, CH_ID_MAX, "%s", all[i].id);
                error = 0;
            } else if (all[i].key_id == NULL && key_comes) {
                snprintf(out->keyless, sizeof out->keyless, "%s", all[i].id);
                error = 0;
            } else {
                error = ch_error_set_field(CH_EEXISTS, "certificate", "this certificate is CA \"%s\" (%s) already%s",
                                           all[i].name, all[i].id,
                                           all[i].key_id == NULL
                                               ? ", held without its private key: import it again with its key (the "
                                                 "key beside the certificate, or a PKCS#12 or JKS file holding both) "
                                                 "to add the key to it"
                                               : "");
            }
            goto done;
        }
    }
    /* Its issuer: an active CA before a retired one with the same key.  (Whether it is
     * self-signed verifies its signature: asked once.) */
    for (size_t i = 0, root = ch_cert_is_self_signed(cert); i < n && !root; i++)
        if (certs[i] != NULL && !parent_active && ch_cert_issued_by(cert, certs[i])) {
            snprintf(out->parent, sizeof out->parent, "%s", all[i].id);
            parent_active = strcmp(all[i].status, "active") == 0;
        }
    for (size_t i = 0; i < n; i++)
        if (certs[i] != NULL && all[i].parent_id == NULL && !ch_cert_is_self_signed(certs[i]) &&
            ch_cert_issued_by(certs[i], cert) && !ca_is_ancestor(all, n, out->parent, all[i].id))
            snprintf(out->children[out->nchildren++], CH_ID_MAX, "%s", all[i].id);
    ch_error_clear();
done:
    for (size_t i = 0; certs != NULL && i < n; i++)
        ch_cert_free(certs[i]);
    free(certs);
    ch_store_ca_list_free(all, n);
    if (error < 0)
        ca_links_dispose(out);
    return error;
}

int svc_cert_link_issuer(ch_svc *svc, const char *tenant_id, const ch_cert *cert, ch_store_cert *row)
{
    ch_store_ca *all = NULL;
    size_t n = 0;
    int error;

    if (row->ca_id != NULL || ch_cert_is_self_signed(cert))
        return 0;
    if ((error = ch_store_ca_list(svc->store, tenant_id, NULL, &all, &n)) < 0)
        return error;
    for (size_t i = 0; i < n && row->ca_id == NULL; i++) {
        ch_cert *ca = NULL;
        if (strcmp(all[i].status, "active") != 0 || all[i].cert_id == NULL ||
            svc_cert_load(svc, tenant_id, all[i].cert_id, &ca) < 0)
            continue;
        if (ch_cert_issued_by(cert, ca) && (row->ca_id = strdup(all[i].id)) == NULL)
            error = ch_error_set(CH_ENOMEM, "out of memory");
        ch_cert_free(ca);
    }
    ch_error_clear();
    ch_store_ca_list_free(all, n);
    return error;
}

static int ca_tx_run(struct ca_tx *t)
{
    char key_id[CH_ID_MAX], existing[CH_ID_MAX];
    json_t *d;
    char *detail;
    bool key_held = false; /* the CA took the key its certificate was held with */
    int error;

    if (t->key != NULL) {
        if ((error = svc_key_put(t->svc, t->actor->tenant_id, t->key, key_id)) < 0)
            return error;
        free(t->ca->key_id);
        free(t->cert->key_id);
        t->ca->key_id = strdup(key_id);
        t->cert->key_id = strdup(key_id);
    } else if (t->csr != NULL) {
        free(t->ca->key_id);
        free(t->cert->key_id);
        t->ca->key_id = strdup(t->csr->key_id);
        t->cert->key_id = strdup(t->csr->key_id);
    }
    error = ch_store_cert_put(t->svc->store, t->cert, existing);
    if (error == CH_EEXISTS) {
        free(t->cert->id);
        t->cert->id = strdup(existing);
        error = 0;
        /* Held without a key (imported as a certificate before): it gets the CA's, which its
         * exports then carry.  Not found: it has one already, and keeps it. */
        if (t->cert->key_id != NULL)
            error = svc_cert_key_if_none(t->svc, t->actor->tenant_id, existing, t->cert->key_id, NULL);
        /* Held with its key (imported as a certificate with it) and the CA brings none: the CA
         * signs with the key held, which it otherwise could not, though certhub has it. */
        if (error == 0 && t->ca->key_id == NULL && t->rotate == NULL) {
            ch_store_cert held;
            if ((error = ch_store_cert_get(t->svc->store, &held, t->actor->tenant_id, existing)) == 0) {
                if (held.key_id != NULL && (t->ca->key_id = strdup(held.key_id)) == NULL)
                    error = ch_error_set(CH_ENOMEM, "out of memory");
                key_held = held.key_id != NULL;
                ch_store_cert_dispose(&held);
            }
        }
    }
    if (error < 0)
        return error;
    free(t->ca->cert_id);
    t->ca->cert_id = strdup(t->cert->id);
    if (t->rotate != NULL) {
        ch_store_ca now;
        /* Two rotations at once both read the CA before either wrote: the second would mark
         * the same old certificate rotated and strand the first's new one (neither current
         * nor rotated, out of the trust bundle). */
        if ((error = ch_store_ca_get(t->svc->store, &now, t->actor->tenant_id, t->rotate->id)) < 0)
            return error;
        error = strcmp(now.cert_id, t->rotate->cert_id) != 0
                    ? ch_error_set(CH_ECONFLICT, "CA \"%s\" was rotated meanwhile (its certificate is now %s)",
                                   now.name, now.cert_id)
                    : 0;
        ch_store_ca_dispose(&now);
        if (error < 0)
            return error;
        /* The old certificate stays in the inventory (it validates what it issued until it
         * expires); issuance moves to the new one. */
        if ((error = ch_store_ca_set_cert(t->svc->store, t->actor->tenant_id, t->rotate->id, t->cert->id,
                                          t->ca->key_id)) < 0 ||
            (error = ch_store_cert_set_status(t->svc->store, t->actor->tenant_id, t->rotate->cert_id, "rotated")) < 0)
            return error;
        /* Which certificate went and which came, for whoever reads the log later. */
        d = json_pack("{ss ss}", "old_certificate_id", t->rotate->cert_id, "certificate_id", t->cert->id);
        detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
        json_decref(d);
        error = svc_audit(t->svc, t->actor, "ca.rotate", "ca", t->rotate->id, detail);
        free(detail);
        /* (a renewal an outside CA signed for a CSR made here: the CSR has its certificate) */
        if (error == 0 && t->csr != NULL)
            error = ch_store_csr_attach(t->svc->store, t->actor->tenant_id, t->csr->id, t->cert->id);
        return error;
    }
    if ((error = ch_store_ca_put(t->svc->store, t->ca)) < 0)
        return error;
    for (size_t i = 0; t->links != NULL && i < t->links->nchildren; i++)
        if ((error = ch_store_ca_set_parent(t->svc->store, t->actor->tenant_id, t->links->children[i], t->ca->id)) < 0)
            return error;
    if (t->csr != NULL && (error = ch_store_csr_attach(t->svc->store, t->actor->tenant_id, t->csr->id, t->cert->id)) < 0)
        return error;
    d = json_pack("{ss ss ss sb}", "name", t->ca->name, "subject", t->cert->subject, "certificate_id", t->cert->id,
                  "has_key", t->ca->key_id != NULL);
    /* Whose key it took: the CSR named, or the one found by its key (said apart, as nobody
     * chose it); or, its key given, the CSR it was signed for. */
    if (d != NULL && t->csr != NULL)
        json_object_set_new(d, t->csr_found && t->key == NULL ? "key_from_csr" : "csr_id",
                            json_string(t->csr->id));
    if (d != NULL && key_held)
        json_object_set_new(d, "key_from_certificate", json_true());
    detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    error = svc_audit(t->svc, t->actor, t->action, "ca", t->ca->id, detail);
    free(detail);
    return error;
}

/* A key for a CA held without one (the key given, stored sealed, or a CSR's): the CA and its
 * certificate get it, a CSR it was signed for takes the certificate, audited together. */
struct ca_key_tx {
    ch_svc *svc;
    const ch_actor *actor;
    const char *ca_id;
    const ch_key *key;        /* the key given, or NULL: csr's */
    const ch_store_csr *csr;  /* the CSR it was signed for, or NULL */
    bool csr_found;           /* csr was found by its key, the import did not name it */
};

static int ca_key_tx_run(struct ca_key_tx *t)
{
    ch_store_ca ca = {0};
    char key_id[CH_ID_MAX];
    json_t *d = NULL;
    char *detail = NULL;
    int error;

    /* Read again in the transaction: two imports of its key at once add one, the other
     * answers as a CA that has its key (as the store refuses a key to a certificate that has
     * one). */
    if ((error = ch_store_ca_get(t->svc->store, &ca, t->actor->tenant_id, t->ca_id)) < 0)
        return error;
    if (ca.key_id != NULL) {
        error = ch_error_set_field(CH_EEXISTS, "certificate", "this certificate is CA \"%s\" (%s) already", ca.name,
                                   ca.id);
        goto done;
    }
    if (t->key != NULL) {
        if ((error = svc_key_put(t->svc, t->actor->tenant_id, t->key, key_id)) < 0)
            goto done;
    } else {
        snprintf(key_id, sizeof key_id, "%s", t->csr->key_id);
    }
    if ((error = ch_store_ca_set_cert(t->svc->store, t->actor->tenant_id, ca.id, ca.cert_id, key_id)) < 0)
        goto done;
    /* Its certificate, held without a key as well, has it now, which its exports carry; one
     * that has a key (given it by a certificate import) keeps it. */
    if ((error = svc_cert_key_if_none(t->svc, t->actor->tenant_id, ca.cert_id, key_id, NULL)) < 0)
        goto done;
    if (t->csr != NULL && (error = ch_store_csr_attach(t->svc->store, t->actor->tenant_id, t->csr->id, ca.cert_id)) < 0)
        goto done;
    d = json_pack("{ss ss}", "name", ca.name, "certificate_id", ca.cert_id);
    if (d != NULL && t->csr != NULL)
        json_object_set_new(d, t->csr_found && t->key == NULL ? "key_from_csr" : "csr_id", json_string(t->csr->id));
    detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
    error = detail ? svc_audit(t->svc, t->actor, "ca.key_add", "ca", ca.id, detail)
                   : ch_error_set(CH_ENOMEM, "out of memory");
done:
    json_decref(d);
    free(detail);
    ch_store_ca_dispose(&ca);
    return error;
}

/* A CA's list of URLs: at most CH_CA_MAX_URLS, each one a client can fetch. */
static int urls_check(const char *const *urls, const char *field)
{
    size_t n = 0;

    while (urls != NULL && urls[n] != NULL)
        n++;
    if (n > CH_CA_MAX_URLS)
        return ch_error_set_field(CH_EINVAL, field, "%s holds at most %d URLs", field, CH_CA_MAX_URLS);
    for (size_t i = 1; i < n; i++)
        for (size_t k = 0; k < i; k++)
            if (strcmp(urls[i], urls[k]) == 0)
                return ch_error_set_field(CH_EINVAL, field, "%.200s is given twice in %s", urls[i], field);
    return ch_issue_urls_check(urls, field);
}

static int ca_urls_check(const ch_svc_ca_urls *u)
{
    int error;

    if ((error = urls_check(u->crl, "crl_urls")) < 0 || (error = urls_check(u->ocsp, "ocsp_urls")) < 0)
        return error;
    return urls_check(u->ca_issuers, "ca_issuers_urls");
}

static int ca_row(ch_store_ca *ca, const char *tenant_id, const char *name, const char *parent_id,
                  const ch_svc_ca_urls *urls, bool auto_rotate)
{
    char id[CH_ID_MAX];
    json_t *s = json_object();

    memset(ca, 0, sizeof *ca);
    ch_store_new_id(id, "ca_");
    json_object_set_new(s, "crl_urls", url_array(urls->crl));
    json_object_set_new(s, "ocsp_urls", url_array(urls->ocsp));
    json_object_set_new(s, "ca_issuers_urls", url_array(urls->ca_issuers));
    if (auto_rotate)
        json_object_set_new(s, "auto_rotate", json_true());
    ca->id = strdup(id);
    ca->tenant_id = strdup(tenant_id);
    ca->name = strdup(name);
    ca->parent_id = parent_id ? strdup(parent_id) : NULL;
    ca->status = strdup("active");
    ca->settings = json_dumps(s, JSON_COMPACT);
    ca->created_at = ch_now();
    json_decref(s);
    if (!ca->id || !ca->tenant_id || !ca->name || !ca->status || !ca->settings || (parent_id && !ca->parent_id)) {
        ch_store_ca_dispose(ca);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    return 0;
}

/* Whether a request names a subject at all (a CSR's is taken otherwise). */
static bool subject_given(const ch_svc_subject *s)
{
    const ch_name_fields *f = &s->fields;

    return s->dn != NULL || f->country || f->state || f->locality || f->organization || f->org_unit ||
           f->common_name || f->email;
}

int ch_svc_ca_create(ch_svc *svc, const ch_actor *actor, const ch_svc_ca_req *req, ch_store_ca *out)
{
    ch_key_type kt = CH_KEY_P256;
    ch_key *key = NULL;
    ch_csr *csr = NULL;
    ch_cert *cert = NULL;
    svc_ca *parent = NULL;
    X509_NAME *subject = NULL;
    ch_issue_opts o = {0};
    ch_store_cert row = {0};
    ch_store_ca ca = {0};
    ch_cert *cur = NULL;
    struct ca_tx t;
    int error;

    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "creating a CA")) < 0 || (error = check_name(req->name)) < 0 ||
        (error = ca_urls_check(&(ch_svc_ca_urls){req->crl_urls, req->ocsp_urls, req->ca_issuers_urls})) < 0)
        return error;
    if (req->key_type != NULL && (error = ch_key_type_parse(&kt, req->key_type)) < 0)
        return error;
    if (req->csr != NULL && (!req->intermediate || req->rotate != NULL))
        return ch_error_set_field(CH_EINVAL, "csr", "a CSR makes an intermediate CA (type intermediate, parent_id): a "
                                  "root signs its own key");
    if (req->csr != NULL && req->key_type != NULL)
        return ch_error_set_field(CH_EINVAL, "key_type", "give key_type (a key made here) or csr (the key is the "
                                  "CSR's), not both");
    if (req->csr != NULL && req->auto_rotate)
        return ch_error_set_field(CH_EINVAL, "auto_rotate", "a CA whose key is elsewhere (csr) cannot be rotated "
                                  "here: its holder makes a new CSR");
    o.profile = ch_profile_get(req->intermediate ? "intermediate-ca" : "root-ca");
    o.days = req->days;
    o.ttl = req->ttl;
    /* A rotation keeps the CA's lifetime, cut at its parent's end: refused, an intermediate
     * under a root that does not rotate itself could not be rotated once its lifetime passed
     * the root's end, and went on to its own end, its rotation "on". */
    o.cap_validity = req->rotate != NULL || req->cap_validity;
    o.path_len = req->path_len;
    if (req->rotate != NULL) {
        /* The certificate it replaces says the subject (as it is: read again from text, an
         * attribute certhub does not name, postalCode, refused the rotation), the path length
         * and the digest (a rotation went back to no limit and SHA-256). */
        X509 *x;
        int md = NID_undef;
        if ((error = svc_cert_load(svc, actor->tenant_id, req->rotate->cert_id, &cur)) < 0)
            goto done;
        x = ch_cert_x509(cur);
        if ((subject = X509_NAME_dup(X509_get_subject_name(x))) == NULL) {
            error = ch_error_set(CH_ENOMEM, "out of memory");
            goto done;
        }
        /* (none: the profile's, cut to fit under the parent's limit, as at creation; a limit
         * past what a request may ask is none either) */
        o.path_len = X509_get_pathlen(x) >= 0 && X509_get_pathlen(x) <= 64 ? (int)X509_get_pathlen(x) : -2;
        /* Only a digest a request may ask for (a SHA-1 root rotated stayed SHA-1): else the
         * default, as a renewal does. */
        if (X509_get_signature_info(x, &md, NULL, NULL, NULL) == 1 && (md == NID_sha384 || md == NID_sha512))
            o.digest = EVP_get_digestbynid(md);
        ERR_clear_error();
    } else if ((req->csr == NULL || subject_given(&req->subject)) && (error = svc_subject(&subject, &req->subject)) < 0) {
        return error;
    }
    o.subject = subject; /* (NULL with a CSR: the CSR's) */
    if (req->digest && (error = ch_digest_parse(&o.digest, req->digest)) < 0)
        goto done;
    if (req->intermediate) {
        if (req->parent_id == NULL) {
            error = ch_error_set_field(CH_EINVAL, "parent_id", "an intermediate CA needs the id of its signing CA");
            goto done;
        }
        if ((error = svc_ca_load(svc, actor->tenant_id, req->parent_id, &parent)) < 0) {
            ch_error_set_field(error, "parent_id", "%s", ch_error_last()); /* the request's name for it */
            goto done;
        }
        if (parent->key == NULL) {
            error = ch_error_set_field(CH_EPOLICY, "parent_id",
                                       "CA %s holds no private key here (imported without it, or made from a CSR) and "
                                       "cannot sign", req->parent_id);
            goto done;
        }
        o.ca_cert = parent->cert;
        o.ca_key = parent->key;
        o.crl_urls = (const char *const *)parent->crl_urls;
        o.ocsp_urls = (const char *const *)parent->ocsp_urls;
        o.ca_issuers_urls = (const char *const *)parent->ca_issuers_urls;
    }
    if (req->csr != NULL) {
        if ((error = ch_csr_parse(&csr, req->csr, req->csr_len)) < 0 || (error = ch_csr_verify(csr)) < 0) {
            ch_error_set_field(error, "csr", "%s", ch_error_last());
            goto done;
        }
        o.csr = csr;
    } else {
        if ((error = ch_key_generate(&key, kt)) < 0)
            goto done;
        o.subject_key = key;
    }
    if (!req->intermediate)
        o.ca_key = key;
    if ((error = ch_cert_issue(&cert, &o)) < 0) {
        /* A parent of path length 0 refuses every intermediate: said of the parent named, not
         * of a path_len the request did not give. */
        if (req->path_len == -2 && req->intermediate && ch_error_field() != NULL &&
            strcmp(ch_error_field(), "path_len") == 0)
            ch_error_set_field(error, "parent_id", "%s", ch_error_last());
        goto done;
    }
    if ((error = svc_cert_row(&row, cert, actor->tenant_id, req->name, csr ? "csr_signed" : "generated", 1)) < 0)
        goto done;
    row.profile = strdup(o.profile->name);
    /* The lifetime asked, which a cut at the parent's end may have shortened: the next
     * rotation asks it again (it kept the cut one for good). */
    row.lifetime = o.ttl != 0 ? o.ttl : o.days != 0 ? (int64_t)o.days * 86400 : ch_profile_default_life(o.profile);
    if (parent)
        row.ca_id = strdup(parent->id);
    if ((error = ca_row(&ca, actor->tenant_id, req->name, parent ? parent->id : NULL,
                        &(ch_svc_ca_urls){req->crl_urls, req->ocsp_urls, req->ca_issuers_urls}, req->auto_rotate)) < 0)
        goto done;
    t = (struct ca_tx){svc, actor, key, &row, &ca, false, "ca.create", NULL, req->rotate, NULL, false};
    SVC_TX(svc, ca_tx_run(&t));
    if (req->rotate != NULL) {
        svc_ca_forget(svc, actor->tenant_id, req->rotate->id);
        svc_trust_dir_refresh(svc);
    }
    if (out) {
        *out = ca;
        memset(&ca, 0, sizeof ca);
    }
done:
    ch_store_ca_dispose(&ca);
    ch_store_cert_dispose(&row);
    svc_ca_release(parent);
    ch_cert_free(cert);
    ch_cert_free(cur);
    ch_key_free(key);
    ch_csr_free(csr);
    X509_NAME_free(subject);
    return error;
}

/* Whether a CA certificate may sign certificates (RFC 5280 4.2.1.3): no Key Usage, or one
 * with keyCertSign.  One without was listed as a CA that signs, and every issuance failed. */
static bool signs_certs(const ch_cert *cert)
{
    X509 *x = ch_cert_x509(cert);

    return (X509_get_extension_flags(x) & EXFLAG_KUSAGE) == 0 || (X509_get_key_usage(x) & KU_KEY_CERT_SIGN) != 0;
}

/* The CA certificates a CA's file holds besides it (its chain: what an outside CA sends with
 * the certificate it signed, a bundle's intermediates and root), each made a CA of the tenant
 * without a key, joined to its issuer and its issuer's CA to it, in the import's transaction.
 * Without, they were dropped: the CA's chain ended at it, and its root was in no trust bundle.
 * A certificate the tenant has a CA of already is that CA. */
struct ca_chain {
    size_t n;
    const ch_cert *certs[CH_MAX_CHAIN_LEN]; /* topmost first (an issuer before what it issued) */
    char ids[CH_MAX_CHAIN_LEN][CH_ID_MAX];  /* the CA each is, new or held */
    bool held[CH_MAX_CHAIN_LEN];
    bool below[CH_MAX_CHAIN_LEN]; /* under the CA it came with: stored after it */
    ch_store_cert rows[CH_MAX_CHAIN_LEN];
    ch_store_ca cas[CH_MAX_CHAIN_LEN];
    struct ca_links links[CH_MAX_CHAIN_LEN];
    struct ca_tx tx[CH_MAX_CHAIN_LEN];
};

static void ca_chain_dispose(struct ca_chain *c)
{
    for (size_t i = 0; i < c->n; i++) {
        ch_store_cert_dispose(&c->rows[i]);
        ch_store_ca_dispose(&c->cas[i]);
        ca_links_dispose(&c->links[i]);
    }
    c->n = 0;
}

/* The CA of the chain that issued cert ("" for none, or when it is self-signed); for the CA
 * the chain came with (main), none under it: a CA is not its own ancestor. */
static const char *ca_chain_issuer(const struct ca_chain *c, const ch_cert *cert, bool main)
{
    if (ch_cert_is_self_signed(cert))
        return "";
    for (size_t i = 0; i < c->n; i++)
        if (!(main && c->below[i]) && ch_cert_issued_by(cert, c->certs[i]))
            return c->ids[i];
    ch_error_clear();
    return "";
}

/* A name for the CA of the chain's certificate k: its certificate's (row->name, its CN), made
 * one no CA of the tenant (all), of the chain before it, or the one it came with (main_name,
 * or NULL) has, as "Corp Root (2)": CA names are unique, and two PKIs may both call their root
 * "Root CA". */
static int ca_chain_name(ch_store_cert *row, const ch_store_ca *all, size_t n, const struct ca_chain *c, size_t k,
                         const char *main_name)
{
    char base[520], name[540];

    for (int i = 1; i < 1000; i++) {
        bool taken;
        if (i == 1) {
            snprintf(name, sizeof name, "%s", row->name);
        } else {
            ch_name_from_file(base, sizeof base, row->name, 120);
            snprintf(name, sizeof name, "%s (%d)", base, i);
        }
        taken = main_name != NULL && strcmp(main_name, name) == 0;
        for (size_t j = 0; j < n && !taken; j++)
            taken = strcmp(all[j].name, name) == 0;
        for (size_t j = 0; j < k && !taken; j++)
            taken = !c->held[j] && strcmp(c->cas[j].name, name) == 0;
        if (!taken) {
            char *dup = strdup(name);
            if (dup == NULL)
                return ch_error_set(CH_ENOMEM, "out of memory");
            free(row->name);
            row->name = dup;
            return 0;
        }
    }
    return ch_error_set_field(CH_EEXISTS, "certificate", "no free name for the CA of \"%.64s\" in the file's chain",
                              row->name);
}

/* Plans c from rest (the file's CA certificates besides cert, in any order): each after its
 * issuer, repeated ones and cert itself left out.  cert's CA is main_id (new or held, named
 * main_name or NULL when held): a certificate of the chain it issued (a bundle that begins
 * with its root) is joined to it. */
static int ca_chain_plan(ch_svc *svc, const ch_actor *actor, const ch_cert *cert, const char *main_id,
                         const char *main_name, ch_cert *const *rest, size_t nrest, struct ca_chain *c)
{
    bool placed[CH_MAX_CHAIN_LEN] = {0}, linked[CH_MAX_CHAIN_LEN] = {0}, grew = true;
    ch_cert *uniq[CH_MAX_CHAIN_LEN];
    ch_store_ca *all = NULL;
    size_t nall = 0, n = 0;
    int error = 0;

    memset(c, 0, sizeof *c);
    /* Each certificate once, the CA's own left out, and none that signs nothing (no issuer
     * of a chain); more than a chain holds is refused, not cut short (its root was lost). */
    for (size_t i = 0; i < nrest; i++) {
        bool again = memcmp(ch_cert_sha256(rest[i]), ch_cert_sha256(cert), 32) == 0;
        for (size_t j = 0; j < n && !again; j++)
            again = memcmp(ch_cert_sha256(rest[i]), ch_cert_sha256(uniq[j]), 32) == 0;
        if (again || !signs_certs(rest[i]))
            continue;
        if (n == CH_MAX_CHAIN_LEN)
            return ch_error_set_field(CH_EINVAL, "certificate", "the file holds more than %u CA certificates besides "
                                      "the CA's own: a chain holds at most %u", CH_MAX_CHAIN_LEN, CH_MAX_CHAIN_LEN);
        uniq[n++] = rest[i];
    }
    /* Only the CA's own chain: those above it and those it issued, at any distance.  Another
     * CA in the bundle (an unrelated root) became a CA of the tenant, in its trust bundle. */
    while (grew) {
        grew = false;
        for (size_t i = 0; i < n; i++) {
            bool near = !linked[i] && (ch_cert_issued_by(cert, uniq[i]) || ch_cert_issued_by(uniq[i], cert));
            for (size_t j = 0; j < n && !linked[i] && !near; j++)
                near = linked[j] && (ch_cert_issued_by(uniq[j], uniq[i]) || ch_cert_issued_by(uniq[i], uniq[j]));
            if (near)
                linked[i] = grew = true;
        }
    }
    ch_error_clear();
    for (size_t i = 0; i < n; i++)
        if (!linked[i]) {
            char *who = svc_name_of_cert(uniq[i], NULL);
            error = ch_error_set_field(CH_EINVAL, "certificate", "the file holds the CA certificate \"%.128s\", which "
                                       "neither issued the CA nor was issued by it: import it apart",
                                       who ? who : "?");
            free(who);
            return error;
        }
    rest = uniq;
    nrest = n;
    if (nrest > 0 && (error = ch_store_ca_list(svc->store, actor->tenant_id, NULL, &all, &nall)) < 0)
        return error;
    for (size_t round = 0; round < nrest; round++) {
        size_t pick = nrest;
        /* The first not placed whose issuer is none of the others not placed (a loop of
         * cross-signatures: the first not placed). */
        for (size_t i = 0; i < nrest && pick == nrest; i++) {
            bool below = false;
            if (placed[i])
                continue;
            for (size_t j = 0; j < nrest && !below; j++)
                below = j != i && !placed[j] && !ch_cert_is_self_signed(rest[i]) && ch_cert_issued_by(rest[i], rest[j]);
            if (!below)
                pick = i;
        }
        for (size_t i = 0; i < nrest && pick == nrest; i++)
            if (!placed[i])
                pick = i;
        placed[pick] = true;
        ch_error_clear();
        const ch_cert *x = rest[pick];
        size_t k = c->n++;
        c->certs[k] = x;
        if ((error = ca_links_find(svc, actor->tenant_id, x, false, &c->links[k], c->ids[k])) < 0)
            break;
        if ((c->held[k] = c->ids[k][0] != '\0'))
            continue;
        /* Held already with its key (a CA's certificate before a rotation, kept as "rotated";
         * one imported with its key): not made a CA of the chain, which would sign with that
         * key again (a retired CA key back in use) while the note said it had none.  The CA
         * that holds the key, if any, is the one the chain goes through. */
        {
            ch_store_cert same = {0};
            char hex[65];
            ch_hex(hex, ch_cert_sha256(x), 32);
            if (ch_store_cert_get_by_sha256(svc->store, &same, actor->tenant_id, hex) == 0 && same.key_id != NULL) {
                c->held[k] = true;
                for (size_t j = 0; j < nall && c->ids[k][0] == '\0'; j++)
                    if (all[j].key_id != NULL && strcmp(all[j].key_id, same.key_id) == 0)
                        snprintf(c->ids[k], CH_ID_MAX, "%s", all[j].id);
            }
            ch_store_cert_dispose(&same);
            ch_error_clear();
            if (c->held[k])
                continue;
        }
        if ((error = svc_cert_row(&c->rows[k], x, actor->tenant_id, NULL, "imported", -1)) < 0 ||
            (error = ca_chain_name(&c->rows[k], all, nall, c, k, main_name)) < 0)
            break;
        const char *parent = c->links[k].parent[0] ? c->links[k].parent : ca_chain_issuer(c, x, false);
        if (*parent == '\0' && !ch_cert_is_self_signed(x) && ch_cert_issued_by(x, cert))
            parent = main_id;
        ch_error_clear();
        if ((error = ca_row(&c->cas[k], actor->tenant_id, c->rows[k].name, *parent ? parent : NULL,
                            &(ch_svc_ca_urls){0}, false)) < 0)
            break;
        c->below[k] = parent == main_id;
        for (size_t j = 0; j < k && !c->below[k]; j++)
            c->below[k] = c->below[j] && strcmp(parent, c->ids[j]) == 0;
        snprintf(c->ids[k], CH_ID_MAX, "%s", c->cas[k].id);
        c->tx[k] = (struct ca_tx){svc,         actor, NULL, &c->rows[k],  &c->cas[k], false,
                                  "ca.import", NULL,  NULL, &c->links[k], false};
    }
    ch_store_ca_list_free(all, nall);
    return error;
}

/* The CAs of the chain above the CA it came with (below false), or under it. */
static int ca_chain_run(struct ca_chain *c, bool below)
{
    int error = 0;

    for (size_t i = 0; i < c->n && error == 0; i++)
        if (!c->held[i] && c->below[i] == below)
            error = ca_tx_run(&c->tx[i]);
    return error;
}

static void ca_chain_report(const struct ca_chain *c, ch_svc_ca_chain *out)
{
    if (out == NULL)
        return;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < c->n; i++) {
        if (c->held[i]) {
            out->held++;
            continue;
        }
        snprintf(out->ids[out->added], CH_ID_MAX, "%s", c->ids[i]);
        snprintf(out->names[out->added], sizeof out->names[0], "%s", c->cas[i].name);
        out->added++;
    }
}

/* The key of a CA held without it, and the chain that came with it, in one transaction. */
static int ca_key_chain_run(struct ca_key_tx *k, struct ca_chain *c)
{
    int error;

    if ((error = ca_chain_run(c, false)) < 0 || (error = ca_chain_run(c, true)) < 0)
        return error;
    return ca_key_tx_run(k);
}

/* (each CA after its parent, which the store holds it to) */
static int ca_new_chain_run(struct ca_tx *t, struct ca_chain *c)
{
    int error;

    if ((error = ca_chain_run(c, false)) < 0 || (error = ca_tx_run(t)) < 0)
        return error;
    return ca_chain_run(c, true);
}

/* What an import does once its certificate is read: the CA of cert with key (given), or with
 * the key of csr (a CSR made here that an outside CA signed; found: the import did not name it,
 * it was found by its key), or without a key; and the CAs of its chain (rest, nrest).  A CA of
 * cert held without its key gets the key instead, and the answer is 1 (out is that CA, its
 * name kept). */
static int ca_import_cert(ch_svc *svc, const ch_actor *actor, const char *name, const ch_cert *cert,
                          ch_cert *const *rest, size_t nrest, const ch_key *key, const ch_store_csr *csr, bool found,
                          ch_store_ca *out, ch_svc_ca_chain *chain_out)
{
    ch_store_cert row = {0};
    ch_store_ca ca = {0};
    struct ca_links links = {0};
    struct ca_chain *chain = NULL;
    struct ca_tx t;
    struct ca_key_tx k;
    const char *parent;
    int error;

    if (chain_out != NULL)
        memset(chain_out, 0, sizeof *chain_out);
    if (!ch_cert_is_ca(cert))
        return ch_error_set_field(CH_EPOLICY, "certificate",
                                  "certificate is not a CA: BasicConstraints CA:true is missing");
    if (!signs_certs(cert))
        return ch_error_set_field(CH_EPOLICY, "certificate",
                                  "certificate cannot sign certificates: its Key Usage lacks keyCertSign (import it "
                                  "as a certificate, or add it to the trusted certificates)");
    /* (one found by its key was checked so when found) */
    if (csr != NULL && !found && (error = svc_cert_for_csr(csr, cert)) < 0)
        return error;
    if ((error = ca_links_find(svc, actor->tenant_id, cert, key != NULL || csr != NULL, &links, NULL)) < 0)
        goto done;
    if ((chain = calloc(1, sizeof *chain)) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    if (links.keyless[0]) {
        if ((error = ca_chain_plan(svc, actor, cert, links.keyless, NULL, rest, nrest, chain)) < 0)
            goto done;
        k = (struct ca_key_tx){svc, actor, links.keyless, key, csr, found};
        SVC_TX(svc, ca_key_chain_run(&k, chain));
        /* (read with the key it has now at its next use) */
        svc_ca_forget(svc, actor->tenant_id, links.keyless);
        ca_chain_report(chain, chain_out);
        if ((error = out ? ch_store_ca_get(svc->store, out, actor->tenant_id, links.keyless) : 0) == 0)
            error = 1;
        goto done;
    }
    if ((error = svc_cert_row(&row, cert, actor->tenant_id, name, csr ? "csr_signed" : "imported", -1)) < 0 ||
        (error = ca_row(&ca, actor->tenant_id, name, links.parent[0] ? links.parent : NULL, &(ch_svc_ca_urls){0},
                        false)) < 0 ||
        (error = ca_chain_plan(svc, actor, cert, ca.id, name, rest, nrest, chain)) < 0)
        goto done;
    /* Its issuer a CA here before, else one of the chain that came with it. */
    parent = ca_chain_issuer(chain, cert, true);
    if (ca.parent_id == NULL && *parent && (ca.parent_id = strdup(parent)) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    t = (struct ca_tx){svc, actor, key, &row, &ca, false, "ca.import", csr, NULL, &links, found};
    SVC_TX(svc, ca_new_chain_run(&t, chain));
    ca_chain_report(chain, chain_out);
    if (out) {
        *out = ca;
        memset(&ca, 0, sizeof ca);
    }
done:
    if (chain != NULL)
        ca_chain_dispose(chain);
    free(chain);
    ca_links_dispose(&links);
    ch_store_ca_dispose(&ca);
    ch_store_cert_dispose(&row);
    return error;
}

int ch_svc_ca_import(ch_svc *svc, const ch_actor *actor, const char *name, const uint8_t *cert_data, size_t cert_len,
                     const uint8_t *key_data, size_t key_len, const char *password, ch_store_ca *out,
                     ch_svc_csr_found *csr_found, ch_svc_ca_chain *chain)
{
    ch_cert *cert = NULL, **rest = NULL;
    ch_key *key = NULL;
    size_t nrest = 0;
    ch_store_csr csr = {0};
    bool found = false;
    int error;

    /* Emptied first: a caller may dispose of it whatever the answer (a refusal filled none). */
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (csr_found != NULL)
        memset(csr_found, 0, sizeof *csr_found);
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "importing a CA")) < 0 || (error = check_name(name)) < 0)
        return error;
    if ((error = svc_cert_key_chain(&cert, &key, &rest, &nrest, cert_data, cert_len, key_data, key_len, password,
                                    NULL)) < 0)
        return error;
    /* Without its key, the key may be here all the same: the certificate is the one an outside
     * CA signed for a CSR made here, brought back without naming the CSR.  Taken as if it had
     * been named, rather than making a CA that cannot sign while certhub holds its key.  With
     * its key, the CSR takes it all the same, rather than wait for ever for one held here. */
    if (ch_cert_is_ca(cert)) {
        if ((error = svc_csr_waiting_for(svc, actor->tenant_id, cert, &csr)) == 0)
            found = true;
        else if (error != CH_ENOTFOUND)
            goto done;
        ch_error_clear();
    }
    error = ca_import_cert(svc, actor, name, cert, rest, nrest, key, found ? &csr : NULL, found, out, chain);
    if (error >= 0 && found)
        svc_csr_found_set(csr_found, &csr, key == NULL);
done:
    ch_store_csr_dispose(&csr);
    ch_cert_list_free(rest, nrest);
    ch_cert_free(cert);
    ch_key_free(key);
    return error;
}

/* The tenant's CSR csr_id made here that still waits for its certificate (its key held, none
 * attached): CH_ENOTFOUND or CH_ECONFLICT on the field csr_id otherwise.  out:
 * ch_store_csr_dispose, whatever the answer. */
static int csr_waiting(ch_svc *svc, const char *tenant_id, const char *csr_id, ch_store_csr *out)
{
    int error;

    if ((error = ch_store_csr_get(svc->store, out, tenant_id, csr_id)) < 0)
        return ch_error_set_field(error, "csr_id", "%s", ch_error_last());
    if (out->cert_id != NULL || out->key_id == NULL)
        return ch_error_set_field(CH_ECONFLICT, "csr_id", out->cert_id ? "a certificate is already attached to CSR %s"
                                                                       : "CSR %s has no key on this system",
                                  csr_id);
    return 0;
}

int ch_svc_ca_import_csr(ch_svc *svc, const ch_actor *actor, const char *name, const char *csr_id,
                         const uint8_t *cert_data, size_t cert_len, ch_store_ca *out, ch_svc_ca_chain *chain)
{
    ch_store_csr csr_row = {0};
    ch_cert *cert = NULL, **rest = NULL;
    ch_key *key = NULL;
    size_t nrest = 0;
    int error;

    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "importing a CA")) < 0 || (error = check_name(name)) < 0)
        return error;
    if ((error = csr_waiting(svc, actor->tenant_id, csr_id, &csr_row)) < 0)
        goto done;
    /* What the outside CA sent: its certificate, often with the chain above it. */
    if ((error = svc_cert_key_chain(&cert, &key, &rest, &nrest, cert_data, cert_len, NULL, 0, NULL, NULL)) < 0)
        goto done;
    if (key != NULL) {
        error = ch_error_set_field(CH_EINVAL, "certificate",
                                   "the file holds a private key: the CA's key is CSR %s's, "
                                   "which never left certhub; send the certificate the outside CA signed alone "
                                   "(PEM or DER, its chain after it if you like)",
                                   csr_id);
        goto done;
    }
    error = ca_import_cert(svc, actor, name, cert, rest, nrest, NULL, &csr_row, false, out, chain);
done:
    ch_cert_list_free(rest, nrest);
    ch_key_free(key);
    ch_cert_free(cert);
    ch_store_csr_dispose(&csr_row);
    return error;
}

/* Whether certhub can rotate CA ca, whose certificate is cur: it holds the CA's key, and can
 * sign its next certificate as the current one was signed, by the CA itself (a root) or by its
 * parent here, which must hold its key.  CH_EPOLICY saying why not otherwise: a CA an outside
 * issuer signed (brought in, its issuer not a CA here) made a self-signed root of its subject
 * when rotated, which nothing that trusts the outside root accepts. */
static int ca_rotatable(ch_svc *svc, const char *tenant_id, const ch_store_ca *ca, const ch_store_cert *cur)
{
    ch_store_ca parent;
    int error;

    if (ca->key_id == NULL)
        return ch_error_set(CH_EPOLICY, "CA \"%s\" (%s) was imported without its private key: rotate it where its key "
                            "is", ca->name, ca->id);
    if (ca->parent_id == NULL)
        return strcmp(cur->subject, cur->issuer) == 0
                   ? 0
                   : ch_error_set(CH_EPOLICY,
                                  "CA \"%s\" (%s) was signed by an outside issuer (%.200s), which is not a CA here: "
                                  "certhub cannot sign its next certificate; renew it at that issuer (certhub csr new "
                                  "--ca, then certhub ca rotate ID --cert FILE)",
                                  ca->name, ca->id, cur->issuer);
    if ((error = ch_store_ca_get(svc->store, &parent, tenant_id, ca->parent_id)) == CH_ENOTFOUND)
        return ch_error_set(CH_EPOLICY, "CA \"%s\" (%s) was signed by CA %s, which is gone: certhub cannot sign its "
                            "next certificate", ca->name, ca->id, ca->parent_id);
    if (error < 0)
        return error;
    if (!svc_ca_signs(&parent))
        error = ch_error_set(CH_EPOLICY, "CA \"%s\" was signed by CA \"%s\", which cannot sign here (%s): certhub "
                             "cannot sign its next certificate; renew it at that issuer (certhub csr new --ca, "
                             "then certhub ca rotate ID --cert FILE)", ca->name, parent.name,
                             parent.key_id == NULL ? "imported without its private key" : parent.status);
    ch_store_ca_dispose(&parent);
    return error;
}

bool ch_svc_ca_auto_rotate(const ch_store_ca *ca)
{
    json_t *s = ca->settings ? json_loads(ca->settings, 0, NULL) : NULL;
    bool on = json_is_true(json_object_get(s, "auto_rotate"));

    json_decref(s);
    return on;
}

int ch_svc_ca_rotate(ch_svc *svc, const ch_actor *actor, const char *id, ch_store_ca *out)
{
    ch_store_ca ca = {0};
    ch_store_cert cur = {0};
    ch_store_key key = {0};
    ch_svc_ca_req req = {.path_len = -2};
    bool done_ok = false;
    int error;

    if (out)
        memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "rotating a CA")) < 0)
        return error;
    if ((error = ch_store_ca_get(svc->store, &ca, actor->tenant_id, id)) < 0)
        return error;
    if ((error = ch_store_cert_get(svc->store, &cur, actor->tenant_id, ca.cert_id)) < 0 ||
        (error = ca_rotatable(svc, actor->tenant_id, &ca, &cur)) < 0 ||
        (error = ch_store_key_get(svc->store, &key, actor->tenant_id, ca.key_id)) < 0)
        goto done;
    /* The same name, subject, key type, lifetime, path length and digest (ch_svc_ca_create
     * reads the last three of the certificate replaced); a new key, and a new certificate. */
    req.name = ca.name;
    req.key_type = key.algorithm;
    svc_lifetime_of(&cur, &req.days, &req.ttl);
    req.intermediate = ca.parent_id != NULL;
    req.parent_id = ca.parent_id;
    req.rotate = &ca;
    done_ok = (error = ch_svc_ca_create(svc, actor, &req, NULL)) == 0;
    if (done_ok && out)
        error = ch_store_ca_get(svc->store, out, actor->tenant_id, id);
    /* A root of the installation's tenant rotated (the quickstart root, or the root above the
     * CA that issues certhubd's certificate): DATA_DIR/ca.pem holds the new root beside the old
     * at once, not at the next renewal check (an hour later by default); svc_write_roots knows
     * whether the root is that file's.  Failing to write it does not undo the rotation, which
     * is done: the next check writes the file. */
    if (done_ok && ca.parent_id == NULL && svc->data_dir != NULL && svc_is_system_tenant(svc, actor->tenant_id))
        (void)svc_write_roots(svc, actor, svc->data_dir);
done:
    ch_store_key_dispose(&key);
    ch_store_cert_dispose(&cur);
    ch_store_ca_dispose(&ca);
    return error;
}

/* The checks of a CA's renewal an outside issuer signed (cert) before it takes the CA's place
 * (ca, whose certificate is cur): a CA certificate that signs certificates, of the same
 * subject, not the one the CA has, from the issuer of the one it replaces (its signature
 * checked where that issuer is a CA here), still valid. */
static int renewal_fits(ch_svc *svc, const char *tenant_id, const ch_store_ca *ca, const ch_cert *cur,
                        const ch_cert *cert)
{
    X509 *x = ch_cert_x509(cert), *c = ch_cert_x509(cur);
    svc_ca *parent = NULL;
    int error = 0;

    if (!ch_cert_is_ca(cert) || !signs_certs(cert))
        return ch_error_set_field(CH_EPOLICY, "certificate", "the certificate is not a CA's that signs certificates "
                                  "(BasicConstraints CA:true and Key Usage keyCertSign)");
    if (X509_NAME_cmp(X509_get_subject_name(x), X509_get_subject_name(c)) != 0) {
        char *given = NULL, *want = NULL;
        (void)ch_cert_subject_string(&given, cert);
        (void)ch_cert_subject_string(&want, cur);
        error = ch_error_set_field(CH_EINVAL, "certificate", "the certificate's subject (%.200s) is not CA \"%s\"'s "
                                   "(%.200s): a renewal keeps the subject (import another CA with certhub ca import)",
                                   given ? given : "?", ca->name, want ? want : "?");
        free(given);
        free(want);
        return error;
    }
    if (memcmp(ch_cert_sha256(cert), ch_cert_sha256(cur), 32) == 0)
        return ch_error_set_field(CH_ECONFLICT, "certificate", "this certificate is CA \"%s\"'s already", ca->name);
    /* Valid now: issuance moves to it at once (one valid from 2030 signed what nothing
     * verified until then); an expired one signs nothing. */
    if (ch_cert_not_after(cert) <= ch_now() || ch_cert_not_before(cert) > ch_now() + 300) {
        char at[32];
        bool ended = ch_cert_not_after(cert) <= ch_now();
        ch_time_format(at, sizeof at, ended ? ch_cert_not_after(cert) : ch_cert_not_before(cert));
        return ch_error_set_field(CH_EPOLICY, "certificate", ended ? "the certificate has expired (at %s)"
                                                                   : "the certificate is not valid before %s: give it "
                                                                     "once it is, as issuance moves to it at once",
                                  at);
    }
    if (ca->parent_id != NULL) {
        if ((error = svc_ca_load(svc, tenant_id, ca->parent_id, &parent)) < 0)
            return error;
        if (!ch_cert_issued_by(cert, parent->cert))
            error = ch_error_set_field(CH_EINVAL, "certificate", "the certificate was not signed by CA %s (%s), "
                                       "which signed the one it replaces", parent->id, parent->subject);
        svc_ca_release(parent);
        return error;
    }
    if (X509_NAME_cmp(X509_get_issuer_name(x), X509_get_issuer_name(c)) != 0)
        return ch_error_set_field(CH_EINVAL, "certificate", "the certificate's issuer is not the one of the "
                                  "certificate it replaces");
    return 0;
}

int ch_svc_ca_rotate_signed(ch_svc *svc, const ch_actor *actor, const char *id, const uint8_t *cert_data,
                            size_t cert_len, const char *csr_id, ch_store_ca *out)
{
    ch_store_ca ca = {0}, row_ca = {0};
    ch_store_cert row = {0};
    ch_store_csr csr = {0};
    ch_cert *cur = NULL, *cert = NULL, **rest = NULL;
    ch_key *key = NULL;
    size_t nrest = 0;
    bool same_key, found = false;
    struct ca_tx t;
    int error;

    if (out)
        memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "rotating a CA")) < 0)
        return error;
    if ((error = ch_store_ca_get(svc->store, &ca, actor->tenant_id, id)) < 0)
        return error;
    if (ca.key_id == NULL) {
        error = ch_error_set(CH_EPOLICY, "CA \"%s\" (%s) is held without its private key: import its renewed "
                             "certificate as a CA of its own (certhub ca import)", ca.name, ca.id);
        goto done;
    }
    if ((error = svc_cert_load(svc, actor->tenant_id, ca.cert_id, &cur)) < 0)
        goto done;
    if ((error = svc_cert_key_chain(&cert, &key, &rest, &nrest, cert_data, cert_len, NULL, 0, NULL, NULL)) < 0) {
        ch_error_set_field(error, "certificate", "%s", ch_error_last());
        goto done;
    }
    if (key != NULL) {
        error = ch_error_set_field(CH_EINVAL, "certificate", "the file holds a private key: a CA's renewal signed "
                                   "outside is for a CSR made here (certhub csr new --ca), whose key never left "
                                   "certhub; send the certificate alone");
        goto done;
    }
    /* A file of several CA certificates (the outside root before the renewal, as a PEM bundle
     * comes): the one of the CA's subject is the renewal (the first was taken, and refused as
     * of another subject). */
    for (size_t i = 0; i < nrest; i++)
        if (X509_NAME_cmp(X509_get_subject_name(ch_cert_x509(cert)), X509_get_subject_name(ch_cert_x509(cur))) != 0 &&
            X509_NAME_cmp(X509_get_subject_name(ch_cert_x509(rest[i])), X509_get_subject_name(ch_cert_x509(cur))) == 0) {
            ch_cert *swap = cert;
            cert = rest[i];
            rest[i] = swap;
        }
    if ((error = renewal_fits(svc, actor->tenant_id, &ca, cur, cert)) < 0)
        goto done;
    /* Its key: the CA's own (the outside CA signed a renewal of the same key), else a CSR's made
     * here, named or found by its key. */
    {
        ch_key *cur_key = NULL;
        same_key = ch_cert_public_key(&cur_key, cur) == 0 && ch_cert_matches_key(cert, cur_key);
        ch_key_free(cur_key);
        ch_error_clear();
    }
    if (!same_key) {
        if (csr_id != NULL) {
            if ((error = csr_waiting(svc, actor->tenant_id, csr_id, &csr)) < 0 ||
                (error = svc_cert_for_csr(&csr, cert)) < 0)
                goto done;
        } else if ((error = svc_csr_waiting_for(svc, actor->tenant_id, cert, &csr)) == 0) {
            found = true;
        } else {
            if (error == CH_ENOTFOUND)
                error = ch_error_set_field(CH_EINVAL, "certificate", "the certificate's key is neither CA \"%s\"'s "
                                           "nor a CSR's made here (certhub csr new --ca, signed outside, then given "
                                           "here with its id)", ca.name);
            goto done;
        }
    }
    if ((error = svc_cert_row(&row, cert, actor->tenant_id, ca.name, "csr_signed", -1)) < 0)
        goto done;
    /* (the CA's own key kept: the CA row and the certificate both name it; else the CSR's) */
    if ((ca.parent_id != NULL && (row.ca_id = strdup(ca.parent_id)) == NULL) ||
        (same_key && ((row_ca.key_id = strdup(ca.key_id)) == NULL || (row.key_id = strdup(ca.key_id)) == NULL))) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    t = (struct ca_tx){svc, actor, NULL, &row, &row_ca, false, "ca.rotate", same_key ? NULL : &csr, &ca, NULL, found};
    SVC_TX(svc, ca_tx_run(&t));
    svc_ca_forget(svc, actor->tenant_id, ca.id);
    svc_trust_dir_refresh(svc);
    if (out)
        error = ch_store_ca_get(svc->store, out, actor->tenant_id, id);
done:
    ch_store_ca_dispose(&row_ca);
    ch_store_cert_dispose(&row);
    ch_store_csr_dispose(&csr);
    ch_cert_list_free(rest, nrest);
    ch_cert_free(cert);
    ch_cert_free(cur);
    ch_key_free(key);
    ch_store_ca_dispose(&ca);
    return error;
}

struct ca_update_tx {
    ch_svc *svc;
    const ch_actor *actor;
    const char *id;
    const char *name;  /* NULL: kept */
    int auto_rotate;   /* -1: kept */
    const ch_svc_ca_urls *urls; /* NULL, or a list NULL: kept */
    bool changed;      /* out: something was */
};

/* A list of URLs set in a CA's settings (and said in the audit detail) when it differs. */
static void url_setting(json_t *settings, json_t *d, const char *name, const char *const *urls)
{
    json_t *now;

    if (urls == NULL)
        return;
    now = url_array(urls);
    /* (none set before and none now: no change, though the settings lacked the list) */
    if (json_equal(now, json_object_get(settings, name)) ||
        (json_object_get(settings, name) == NULL && json_array_size(now) == 0)) {
        json_decref(now);
        return;
    }
    json_object_set(d, name, now);
    json_object_set_new(settings, name, now);
}

static int ca_update_tx(struct ca_update_tx *t)
{
    ch_store_ca ca;
    json_t *settings = NULL, *d = json_object();
    char *text = NULL, *detail = NULL;
    const char *name = NULL;
    int error;

    /* Read in the transaction: two changes at once each keep what the other set. */
    if ((error = ch_store_ca_get(t->svc->store, &ca, t->actor->tenant_id, t->id)) < 0) {
        json_decref(d);
        return error;
    }
    if (t->name != NULL && strcmp(t->name, ca.name) != 0) {
        name = t->name;
        json_object_set_new(d, "name", json_string(name));
        json_object_set_new(d, "old_name", json_string(ca.name));
    }
    settings = ca.settings ? json_loads(ca.settings, 0, NULL) : NULL;
    if (!json_is_object(settings)) {
        json_decref(settings);
        settings = json_object();
    }
    if (t->auto_rotate >= 0 && (t->auto_rotate == 1) != ch_svc_ca_auto_rotate(&ca)) {
        json_object_set_new(settings, "auto_rotate", json_boolean(t->auto_rotate == 1));
        json_object_set_new(d, "auto_rotate", json_boolean(t->auto_rotate == 1));
    }
    if (t->urls != NULL) {
        url_setting(settings, d, "crl_urls", t->urls->crl);
        url_setting(settings, d, "ocsp_urls", t->urls->ocsp);
        url_setting(settings, d, "ca_issuers_urls", t->urls->ca_issuers);
    }
    /* (the settings written only when one of them changed) */
    if (json_object_size(d) > (json_object_get(d, "name") ? 2 : 0)) {
        if ((text = json_dumps(settings, JSON_COMPACT)) == NULL) {
            error = ch_error_set(CH_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (json_object_size(d) == 0)
        goto done;
    if ((detail = json_dumps(d, JSON_COMPACT)) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    if ((error = ch_store_ca_update(t->svc->store, t->actor->tenant_id, t->id, name, text)) == 0 &&
        (error = svc_audit(t->svc, t->actor, "ca.update", "ca", t->id, detail)) == 0)
        t->changed = true;
done:
    free(detail);
    free(text);
    json_decref(settings);
    json_decref(d);
    ch_store_ca_dispose(&ca);
    return error;
}

int ch_svc_ca_update(ch_svc *svc, const ch_actor *actor, const char *id, const char *name, int auto_rotate,
                     const ch_svc_ca_urls *urls, ch_store_ca *out)
{
    ch_store_ca ca = {0};
    ch_store_cert cur = {0};
    struct ca_update_tx t = {svc, actor, id, name, auto_rotate, urls, false};
    int error;

    if (out)
        memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "changing a CA")) < 0)
        return error;
    if (name != NULL && (error = check_name(name)) < 0)
        return error;
    if (urls != NULL && (error = ca_urls_check(urls)) < 0)
        return error;
    if ((error = ch_store_ca_get(svc->store, &ca, actor->tenant_id, id)) < 0)
        return error;
    /* Switched on only where a rotation can be done: one that cannot would fail at every
     * round of the scheduler, unsaid, while the CA ran out. */
    if (auto_rotate == 1 && !ch_svc_ca_auto_rotate(&ca)) {
        if ((error = ch_store_cert_get(svc->store, &cur, actor->tenant_id, ca.cert_id)) < 0 ||
            (error = ca_rotatable(svc, actor->tenant_id, &ca, &cur)) < 0) {
            if (error == CH_EPOLICY)
                ch_error_set_field(error, "auto_rotate", "%s", ch_error_last());
            goto done;
        }
    }
    SVC_TX(svc, ca_update_tx(&t));
    if (t.changed)
        svc_ca_forget(svc, actor->tenant_id, id);
    if (out)
        error = ch_store_ca_get(svc->store, out, actor->tenant_id, id);
done:
    ch_store_cert_dispose(&cur);
    ch_store_ca_dispose(&ca);
    return error;
}

int ch_svc_ca_get(ch_svc *svc, const ch_actor *actor, const char *id, ch_store_ca *out)
{
    int error;

    if ((error = svc_need(actor, CH_ROLE_VIEWER, "reading CAs")) < 0)
        return error;
    return ch_store_ca_get(svc->store, out, actor->tenant_id, id);
}

int ch_svc_ca_list(ch_svc *svc, const ch_actor *actor, ch_store_page *page, ch_store_ca **out, size_t *count)
{
    int error;

    if ((error = svc_need(actor, CH_ROLE_VIEWER, "listing CAs")) < 0)
        return error;
    return ch_store_ca_list(svc->store, actor->tenant_id, page, out, count);
}

int ch_svc_ca_chain_pem(ch_svc *svc, const ch_actor *actor, const char *id, ch_buf *out)
{
    ch_cert *chain[CH_MAX_CHAIN_LEN] = {0};
    size_t len = 0;
    int error;

    if ((error = svc_need(actor, CH_ROLE_VIEWER, "reading CAs")) < 0)
        return error;
    /* The certificates that signed each other (a parent rotated since signing its child ends
     * with the certificate it signed it with, as a leaf's export does). */
    error = svc_ca_chain(svc, actor->tenant_id, id, chain, &len, CH_MAX_CHAIN_LEN);
    if (error == CH_ENOTFOUND && len > 0)
        error = 0; /* a parent gone: the chain as far as it goes */
    for (size_t i = 0; i < len && error == 0; i++)
        error = ch_cert_write_pem(out, chain[i]);
    for (size_t i = 0; i < len; i++)
        ch_cert_free(chain[i]);
    return error;
}

static int ca_delete_tx(ch_svc *svc, const ch_actor *actor, const char *id)
{
    int error = ch_store_ca_delete(svc->store, actor->tenant_id, id);

    if (error == 0)
        error = svc_audit(svc, actor, "ca.delete", "ca", id, NULL);
    return error;
}

int ch_svc_ca_delete(ch_svc *svc, const ch_actor *actor, const char *id, bool force)
{
    ch_store_ca ca = {0}, *all = NULL;
    ch_store_cert_filter f = {.is_ca = -1};
    size_t n = 0;
    int64_t live = 0;
    int error;

    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "deleting a CA")) < 0)
        return error;
    if ((error = ch_store_ca_get(svc->store, &ca, actor->tenant_id, id)) < 0)
        return error;
    if ((error = ch_store_ca_list(svc->store, actor->tenant_id, NULL, &all, &n)) < 0)
        goto done;
    for (size_t i = 0; i < n; i++)
        if (all[i].parent_id && strcmp(all[i].parent_id, id) == 0) {
            error = ch_error_set(CH_ECONFLICT, "CA \"%s\" signed CA \"%s\": delete that CA first", ca.name, all[i].name);
            goto done;
        }
    f.ca_id = id;
    f.unexpired_at = ch_now();
    if ((error = ch_store_cert_count(svc->store, actor->tenant_id, &f, &live)) < 0)
        goto done;
    if (live > 0 && !force) {
        error = ch_error_set(CH_ECONFLICT,
                             "CA \"%s\" has %lld unexpired certificate%s; delete %s first, or force "
                             "(?force=true, certhub ca delete --force)",
                             ca.name, (long long)live, live == 1 ? "" : "s", live == 1 ? "it" : "them");
        goto done;
    }
    SVC_TX(svc, ca_delete_tx(svc, actor, id));
    svc_ca_forget(svc, actor->tenant_id, id);
done:
    ch_store_ca_list_free(all, n);
    ch_store_ca_dispose(&ca);
    return error;
}

/* Whether CA certificate c of the tenant's unexpired ones (all) goes in its trust bundle: it
 * is an active CA's certificate, or one such a CA had before it was rotated (same subject;
 * it still validates what it issued).  A CA certificate that is only in the inventory (an
 * import, a keystore's entry), or whose CA was deleted, retired or is waiting for its
 * certificate, is not one the tenant's machines are to trust. */
bool svc_ca_in_bundle(const ch_store_cert *c, const ch_store_cert *all, size_t n, const ch_store_ca *cas, size_t ncas)
{
    bool rotated = c->status != NULL && strcmp(c->status, "rotated") == 0;

    for (size_t i = 0; i < ncas; i++) {
        if (cas[i].cert_id == NULL || cas[i].status == NULL || strcmp(cas[i].status, "active") != 0)
            continue;
        if (strcmp(cas[i].cert_id, c->id) == 0)
            return true;
        for (size_t j = 0; rotated && j < n; j++)
            if (strcmp(all[j].id, cas[i].cert_id) == 0 && strcmp(all[j].subject, c->subject) == 0)
                return true;
    }
    return false;
}

/* Adds a bundle's CA certificate to its JKS or PKCS#12 truststore under an alias that says
 * which CA it is in `keytool -list`: its subject's common name as keytool lists aliases (in
 * lower case), "ca" without one, and "-2", "-3"... after one taken already (a rotated CA's old
 * and new certificates have the same subject; the bundle's order, soonest to end first,
 * decides which is which). */
static int bundle_add(ch_keystore *ks, ch_cert *cert)
{
    char *cn = NULL, base[520], alias[540];
    int error;

    /* (a name's rules: whole characters, no control character, no white space at the ends) */
    base[0] = '\0';
    if (ch_cert_subject_get(&cn, cert, NID_commonName) == 0)
        ch_name_from_file(base, sizeof base, cn, 128);
    free(cn);
    ch_error_clear();
    if (base[0] == '\0')
        snprintf(base, sizeof base, "ca");
    for (char *p = base; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    snprintf(alias, sizeof alias, "%s", base);
    for (unsigned k = 2; (error = ch_keystore_add(ks, alias, &cert, 1, NULL)) == CH_EEXISTS && k < 1000; k++)
        snprintf(alias, sizeof alias, "%s-%u", base, k);
    if (error == CH_EEXISTS) /* (a bundle holds at most 1000) */
        return ch_error_set(CH_EINTERNAL, "no alias left for %.64s in the truststore", base);
    return error;
}

int ch_svc_bundle(ch_svc *svc, const ch_actor *actor, const char *name, int fmt, const char *password, ch_buf *out,
                  char etag[65])
{
    ch_store_cert_filter f = {.is_ca = 1, .order = CH_ORDER_EXPIRY};
    ch_store_cert *rows = NULL;
    ch_store_ca *cas = NULL;
    size_t n = 0, ncas = 0;
    char *next = NULL;
    ch_buf pem = CH_BUF_INIT;
    unsigned char md[32];
    int64_t now = ch_now();
    int error;

    etag[0] = '\0';
    if ((error = svc_need(actor, CH_ROLE_VIEWER, "reading trust bundles")) < 0)
        return error;
    if (name == NULL || strcmp(name, "default") != 0)
        return ch_error_set(CH_ENOTFOUND, "no trust bundle named %.64s; the tenant's bundle is \"default\"",
                            name ? name : "");
    f.unexpired_at = now;
    if ((error = ch_store_ca_list(svc->store, actor->tenant_id, NULL, &cas, &ncas)) < 0 ||
        (error = ch_store_cert_list(svc->store, actor->tenant_id, &f, 1000, NULL, &rows, &n, &next)) < 0)
        goto done;
    for (size_t i = 0; i < n && error == 0; i++) {
        ch_store_cert full;
        if (!svc_ca_in_bundle(&rows[i], rows, n, cas, ncas))
            continue;
        if ((error = ch_store_cert_get(svc->store, &full, actor->tenant_id, rows[i].id)) == 0) {
            error = ch_svc_cert_pem(&pem, &full);
            ch_store_cert_dispose(&full);
        }
    }
    if (error == 0) {
        EVP_Digest(pem.data ? pem.data : (uint8_t *)"", pem.len, md, NULL, EVP_sha256(), NULL);
        ch_hex(etag, md, sizeof md);
        if (fmt == CH_FMT_PEM) {
            error = ch_buf_put(out, pem.data ? pem.data : (uint8_t *)"", pem.len);
        } else {
            ch_keystore *ks = NULL;
            ch_cert **list = NULL;
            size_t m = 0;
            ch_export_opts eo = {.password = password};
            if ((error = ch_keystore_new(&ks)) == 0 && pem.len > 0 &&
                (error = ch_cert_parse_all(&list, &m, pem.data, pem.len)) == 0) {
                for (size_t i = 0; i < m && error == 0; i++)
                    error = bundle_add(ks, list[i]);
            }
            if (error == 0)
                error = ch_keystore_export(out, ks, (ch_format)fmt, &eo);
            ch_cert_list_free(list, m);
            ch_keystore_free(ks);
        }
    }
done:
    ch_buf_dispose(&pem);
    ch_store_cert_list_free(rows, n);
    ch_store_ca_list_free(cas, ncas);
    free(next);
    return error;
}

int ch_svc_bundle_public(ch_svc *svc, const char *tenant, const char *name, int fmt, const char *password,
                         ch_buf *out, char etag[65])
{
    ch_store_tenant t = {0};
    ch_svc_settings st;
    ch_actor a;
    int error;

    etag[0] = '\0';
    if (tenant == NULL)
        tenant = "default";
    error = ch_store_tenant_get_by_name(svc->store, &t, tenant);
    if (error == CH_ENOTFOUND)
        error = ch_store_tenant_get(svc->store, &t, tenant);
    if (error == 0 && t.disabled_at == 0 && (error = svc_settings_of(svc, t.id, &st)) == 0 && st.public_bundle) {
        a = (ch_actor){t.id, "public", CH_ROLE_VIEWER, 0, NULL, NULL};
        error = ch_svc_bundle(svc, &a, name, fmt, password, out, etag);
    } else if (error == 0 || error == CH_ENOTFOUND) {
        error = ch_error_set(CH_ENOTFOUND, "no public trust bundle here: this tenant's bundle needs a token "
                                           "(Authorization: Bearer), or its admins make it public "
                                           "(setting public_bundle)");
    }
    ch_store_tenant_dispose(&t);
    return error;
}
