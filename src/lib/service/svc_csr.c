/* CSRs made on the server: the key stays sealed here, the CSR goes to an outside CA, and the
 * signed certificate comes back to be attached ("CSR exists on this system"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/pem.h>

#include "svc_internal.h"

struct csr_tx {
    ch_svc *svc;
    const ch_actor *actor;
    const ch_key *key;
    ch_store_csr *row;
};

static int csr_tx_run(struct csr_tx *t)
{
    char key_id[CH_ID_MAX];
    json_t *d;
    char *detail;
    int error;

    if ((error = svc_key_put(t->svc, t->actor->tenant_id, t->key, key_id)) < 0)
        return error;
    t->row->key_id = strdup(key_id);
    if ((error = ch_store_csr_put(t->svc->store, t->row)) < 0)
        return error;
    d = json_pack("{ss ss}", "name", t->row->name, "subject", t->row->subject);
    detail = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    error = svc_audit(t->svc, t->actor, "csr.create", "csr", t->row->id, detail);
    free(detail);
    return error;
}

int ch_svc_csr_create(ch_svc *svc, const ch_actor *actor, const ch_svc_csr_req *req, ch_store_csr *out)
{
    ch_san sans[CH_MAX_SANS];
    size_t nsans = req->san_count;
    ch_key_type kt = CH_KEY_P256;
    ch_key *key = NULL;
    ch_csr *csr = NULL;
    X509_NAME *subject = NULL;
    ch_csr_opts o = {0};
    ch_store_csr row = {0};
    unsigned char *der = NULL;
    char id[CH_ID_MAX];
    struct csr_tx t;
    int len, error;

    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "creating a CSR")) < 0 ||
        (error = svc_check_name(req->name, 128)) < 0)
        return error;
    if (nsans == 0 && req->sans != NULL)
        while (req->sans[nsans] != NULL)
            nsans++;
    if (nsans > CH_MAX_SANS)
        return ch_error_set_field(CH_EINVAL, "sans", "more than %u subject alternative names", CH_MAX_SANS);
    for (size_t i = 0; i < nsans; i++)
        if ((error = ch_san_parse(&sans[i], req->sans[i])) < 0)
            return error;
    if (req->key_type != NULL && (error = ch_key_type_parse(&kt, req->key_type)) < 0)
        return error;
    if ((error = svc_subject(&subject, &req->subject)) < 0)
        return error;
    if (req->digest && (error = ch_digest_parse(&o.digest, req->digest)) < 0)
        goto done;
    if ((error = ch_key_generate(&key, kt)) < 0)
        goto done;
    o.subject = subject;
    o.sans = sans;
    o.san_count = nsans;
    o.key_usage = req->key_usage;
    o.ext_key_usage = req->ext_key_usage;
    o.ca = req->ca;
    o.path_len = req->ca ? req->path_len : -1;
    if ((error = ch_csr_create(&csr, key, &o)) < 0)
        goto done;
    if ((len = i2d_X509_REQ(ch_csr_req(csr), &der)) <= 0) {
        error = ch_error_ossl(CH_ECRYPTO, "i2d_X509_REQ", "encoding the CSR");
        goto done;
    }
    ch_store_new_id(id, "csr_");
    row.id = strdup(id);
    row.tenant_id = strdup(actor->tenant_id);
    row.der = malloc((size_t)len);
    if (row.der)
        memcpy(row.der, der, (size_t)len);
    row.der_len = (size_t)len;
    if ((error = ch_name_to_string(&row.subject, subject)) < 0)
        goto done;
    /* Unnamed, it is called by its common name, as a certificate is (else by its subject). */
    if (req->name != NULL && *req->name != '\0')
        row.name = strdup(req->name);
    else if (ch_name_get(&row.name, subject, NID_commonName) < 0)
        row.name = strdup(row.subject);
    row.created_at = ch_now();
    if (!row.id || !row.tenant_id || !row.der || !row.name) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    t = (struct csr_tx){svc, actor, key, &row};
    SVC_TX(svc, csr_tx_run(&t));
    if (out) {
        *out = row;
        memset(&row, 0, sizeof row);
    }
done:
    OPENSSL_free(der);
    ch_store_csr_dispose(&row);
    ch_csr_free(csr);
    ch_key_free(key);
    X509_NAME_free(subject);
    return error;
}

int ch_svc_csr_get(ch_svc *svc, const ch_actor *actor, const char *id, ch_store_csr *out)
{
    int error;

    if ((error = svc_need(actor, CH_ROLE_VIEWER, "reading CSRs")) < 0)
        return error;
    return ch_store_csr_get(svc->store, out, actor->tenant_id, id);
}

static int csr_delete_tx(ch_svc *svc, const ch_actor *actor, const char *id)
{
    ch_store_csr c;
    int error;

    if ((error = ch_store_csr_get(svc->store, &c, actor->tenant_id, id)) < 0)
        return error;
    /* Its key goes with it, unless the certificate (or CA) it was signed for holds it now. */
    if ((error = ch_store_csr_delete(svc->store, actor->tenant_id, id)) == 0)
        error = svc_key_drop(svc, actor->tenant_id, c.key_id);
    if (error == 0)
        error = svc_audit(svc, actor, "csr.delete", "csr", id, NULL);
    ch_store_csr_dispose(&c);
    return error;
}

int ch_svc_csr_delete(ch_svc *svc, const ch_actor *actor, const char *id)
{
    int error;

    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "deleting a CSR")) < 0)
        return error;
    SVC_TX(svc, csr_delete_tx(svc, actor, id));
done:
    return error;
}

int ch_svc_csr_list(ch_svc *svc, const ch_actor *actor, ch_store_page *page, ch_store_csr **out, size_t *count)
{
    int error;

    if ((error = svc_need(actor, CH_ROLE_VIEWER, "listing CSRs")) < 0)
        return error;
    return ch_store_csr_list(svc->store, actor->tenant_id, page, out, count);
}

int ch_svc_csr_pem(ch_buf *out, const ch_store_csr *row)
{
    return ch_pem_encode(out, "CERTIFICATE REQUEST", row->der, row->der_len);
}

struct attach_tx {
    ch_svc *svc;
    const ch_actor *actor;
    ch_store_csr *csr;
    ch_store_cert *row;
    ch_store_cert *chain; /* the CA certificates sent with it, kept beside it (those held stay) */
    size_t nchain;
};

static int attach_tx_run(struct attach_tx *t)
{
    json_t *d;
    char *detail;
    int error;

    t->row->key_id = strdup(t->csr->key_id);
    if ((error = ch_store_cert_put(t->svc->store, t->row, NULL)) < 0)
        return error;
    /* As an import keeps the chain a file holds: its exports carry it. */
    if ((error = svc_chain_put(t->svc, t->actor, "certificate.import", t->chain, t->nchain, t->row->id)) < 0)
        return error;
    if ((error = ch_store_csr_attach(t->svc->store, t->actor->tenant_id, t->csr->id, t->row->id)) < 0)
        return error;
    d = json_pack("{ss ss ss}", "csr_id", t->csr->id, "subject", t->row->subject, "issuer", t->row->issuer);
    detail = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    error = svc_audit(t->svc, t->actor, "csr.attach", "certificate", t->row->id, detail);
    free(detail);
    return error;
}

int svc_cert_for_csr(const ch_store_csr *csr_row, const ch_cert *cert)
{
    ch_csr *csr = NULL;
    ch_key *pub = NULL;
    int error;

    if ((error = ch_csr_parse(&csr, csr_row->der, csr_row->der_len)) == 0 &&
        (error = ch_csr_public_key(&pub, csr)) == 0 && !ch_cert_matches_key(cert, pub))
        error = ch_error_set_field(CH_EINVAL, "certificate",
                                   "the certificate is not for this CSR: its public key is not the CSR's");
    ch_key_free(pub);
    ch_csr_free(csr);
    return error;
}

int svc_csr_waiting_for(ch_svc *svc, const char *tenant_id, const ch_cert *cert, ch_store_csr *out)
{
    ch_key *pub = NULL;
    char spki[65];
    int error;

    memset(out, 0, sizeof *out);
    /* Hashed as the key's row was: the SubjectPublicKeyInfo as ch_key writes it. */
    if (ch_cert_public_key(&pub, cert) < 0) {
        ch_error_clear();
        return CH_ENOTFOUND;
    }
    ch_hex(spki, ch_key_spki_sha256(pub), 32);
    ch_key_free(pub);
    if ((error = ch_store_csr_waiting_for_key(svc->store, out, tenant_id, spki)) < 0)
        return error;
    if (out->key_id == NULL || out->cert_id != NULL || svc_cert_for_csr(out, cert) < 0) {
        ch_store_csr_dispose(out);
        return ch_error_set(CH_ENOTFOUND, "no CSR made here is waiting for this certificate");
    }
    return 0;
}

int ch_svc_csr_attach(ch_svc *svc, const ch_actor *actor, const char *csr_id, const uint8_t *cert_data, size_t len,
                      ch_store_cert *out)
{
    ch_store_csr csr_row = {0};
    ch_cert *cert = NULL, **rest = NULL;
    ch_key *key = NULL;
    ch_store_cert row = {0}, *chain = NULL;
    size_t nrest = 0, nchain = 0;
    struct attach_tx t;
    int error;

    if (out)
        memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "attaching a certificate to a CSR")) < 0)
        return error;
    if ((error = ch_store_csr_get(svc->store, &csr_row, actor->tenant_id, csr_id)) < 0)
        return error;
    if (csr_row.cert_id != NULL) {
        error = ch_error_set(CH_ECONFLICT, "a certificate is already attached to this CSR (%s)", csr_row.cert_id);
        goto done;
    }
    /* What outside CAs hand back: PEM, DER, a PKCS#7, the chain after the certificate. */
    if ((error = svc_cert_key_chain(&cert, &key, &rest, &nrest, cert_data, len, NULL, 0, NULL, NULL)) < 0) {
        /* Said of what this takes (the signed certificate alone): there is no key nor password
         * to give here. */
        const char *f = ch_error_field();
        if (f != NULL && (strcmp(f, "private_key") == 0 || strcmp(f, "password") == 0 || strcmp(f, "key_password") == 0))
            ch_error_set_field(error, "certificate", "the file is %s: send the certificate the CA signed alone, as "
                               "PEM, DER or PKCS#7 (its chain after it if you like)",
                               strcmp(f, "private_key") == 0 ? "a certificate with a private key, which is the CSR's here"
                                                             : "protected by a password (a PKCS#12 or Java keystore)");
        goto done;
    }
    if (key != NULL) {
        error = ch_error_set_field(CH_EINVAL, "certificate", "the file holds a private key: the certificate's key is "
                                   "the CSR's, which never left certhub; send the signed certificate alone");
        goto done;
    }
    if ((error = svc_cert_for_csr(&csr_row, cert)) < 0)
        goto done;
    if ((error = svc_cert_row(&row, cert, actor->tenant_id, csr_row.name, "csr_signed", -1)) < 0 ||
        (error = svc_cert_link_issuer(svc, actor->tenant_id, cert, &row)) < 0)
        goto done;
    if ((error = svc_chain_rows(&chain, &nchain, rest, nrest, actor->tenant_id)) < 0)
        goto done;
    t = (struct attach_tx){svc, actor, &csr_row, &row, chain, nchain};
    SVC_TX(svc, attach_tx_run(&t));
    if (out) {
        *out = row;
        memset(&row, 0, sizeof row);
    }
done:
    svc_chain_rows_free(chain, nchain);
    ch_cert_list_free(rest, nrest);
    ch_key_free(key);
    ch_store_cert_dispose(&row);
    ch_cert_free(cert);
    ch_store_csr_dispose(&csr_row);
    return error;
}
