/* Keystores: uploaded in any format, stored entry by entry (certificates shared with the
 * inventory, keys sealed), listed, exported in any format, deleted; changed entry by entry
 * (an entry added from the inventory, renamed, deleted), as keytool changes one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "certhub/formats.h"
#include <openssl/x509v3.h>

#include "svc_internal.h"

struct ks_tx {
    ch_svc *svc;
    const ch_actor *actor;
    const ch_keystore *ks;
    ch_store_keystore *row;
    svc_sealed *sealed;       /* one per entry (id empty when the entry has no key) */
    ch_store_cert *certs;     /* every certificate of every entry, in entry order */
    size_t ncerts;
    /* An entry without a key whose certificate's key is a waiting CSR's: csrs[e] that CSR
     * (id NULL when none), lead[e] the first entry with that certificate, which takes the CSR
     * (itself, or another: the same certificate twice in the file), took[e] whether it got
     * the CSR's key (set by the transaction). */
    ch_store_csr *csrs;
    size_t *lead;
    bool *took;
    json_t *detail;           /* the audit entry's, completed by the transaction */
};

/* Stores one certificate or finds the row the tenant already has for it (*shared then). */
static int cert_put_or_share(ch_svc *svc, ch_store_cert *row, bool *shared)
{
    char existing[CH_ID_MAX];
    int error = ch_store_cert_put(svc->store, row, existing);

    *shared = error == CH_EEXISTS;
    if (error == CH_EEXISTS) {
        free(row->id);
        row->id = strdup(existing);
        ch_error_clear();
        return row->id ? 0 : ch_error_set(CH_ENOMEM, "out of memory");
    }
    return error;
}

/* Gives key_id (the entry's own, or csr's when csr is not NULL) to cert, held without a key,
 * audited as certificate.key_add; one that has a key is left as it is (*given false). */
static int ks_held_key(struct ks_tx *t, const ch_store_cert *cert, const char *key_id, const ch_store_csr *csr,
                       bool *given)
{
    json_t *d;
    char *detail;
    int error;

    if ((error = svc_cert_key_if_none(t->svc, t->actor->tenant_id, cert->id, key_id, given)) < 0 || !*given)
        return error;
    d = csr != NULL ? json_pack("{ss ss}", "key_from_csr", csr->id, "keystore_id", t->row->id)
                    : json_pack("{ss ss}", "keystore_id", t->row->id, "from", "keystore.import");
    detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    error = detail ? svc_audit(t->svc, t->actor, "certificate.key_add", "certificate", cert->id, detail)
                   : ch_error_set(CH_ENOMEM, "out of memory");
    free(detail);
    return error;
}

/* Entry e's certificate (cert, stored or shared) with the key of the CSR it was found for, as
 * a certificate import takes one: the CSR takes the certificate.  A certificate held already
 * gets the key if it had none (audited as that import would be); one with a key keeps it,
 * and the CSR goes on waiting. */
static int ks_csr_key(struct ks_tx *t, size_t e, const ch_store_cert *cert, bool shared, json_t *taken)
{
    const ch_store_csr *csr = &t->csrs[t->lead[e]];
    bool given;
    int error;

    if (t->lead[e] != e) { /* the same certificate again: as its first entry went */
        t->took[e] = t->took[t->lead[e]];
    } else {
        if (shared && ((error = ks_held_key(t, cert, csr->key_id, csr, &given)) < 0 || !given))
            return error;
        /* Once: a CSR signed meanwhile refuses it, and the upload with it, as an import. */
        if ((error = ch_store_csr_attach(t->svc->store, t->actor->tenant_id, csr->id, cert->id)) < 0)
            return error;
        t->took[e] = true;
    }
    if (t->took[e] && json_array_append_new(taken, json_pack("{ss ss ss}", "alias", t->ks->entries[e].alias,
                                                               "certificate_id", cert->id, "key_from_csr",
                                                               csr->id)) < 0)
        return ch_error_set(CH_ENOMEM, "out of memory");
    return 0;
}

static int ks_tx_run(void *arg)
{
    struct ks_tx *t = arg;
    size_t c = 0;
    json_t *taken = json_array();
    char *detail;
    int error;

    if (taken == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    if ((error = ch_store_keystore_put(t->svc->store, t->row)) < 0)
        goto done;
    for (size_t e = 0; e < t->ks->count; e++) {
        const ch_ks_entry *en = &t->ks->entries[e];
        ch_store_keystore_entry row = {0};
        ch_buf chain = CH_BUF_INIT;
        char id[CH_ID_MAX];
        bool shared = false;

        /* 0, 1, ... here: taken from the keystore's count all the same, which the entries
         * added later go on from. */
        if ((error = ch_store_keystore_take_position(t->svc->store, t->actor->tenant_id, t->row->id,
                                                     &row.position)) < 0)
            goto done;
        if (en->key && (error = ch_store_key_put(t->svc->store, &t->sealed[e].row)) < 0)
            goto done;
        for (size_t i = 0; i < en->chain_len; i++, c++) {
            bool was_held, given;
            if (en->key && i == 0)
                t->certs[c].key_id = strdup(t->sealed[e].id);
            if ((error = cert_put_or_share(t->svc, &t->certs[c], &was_held)) < 0)
                goto done;
            if (i == 0)
                shared = was_held;
            /* Its certificate held without a key (imported alone before) gets the entry's, as a
             * certificate import of the two would give it; one with a key keeps its own. */
            if (i == 0 && was_held && en->key &&
                (error = ks_held_key(t, &t->certs[c], t->sealed[e].id, NULL, &given)) < 0)
                goto done;
            if (i > 0 && (error = ch_buf_printf(&chain, "%s%s", i > 1 ? "," : "", t->certs[c].id)) < 0) {
                ch_buf_dispose(&chain);
                goto done;
            }
        }
        if (en->chain_len > 0 && t->csrs[t->lead[e]].id != NULL &&
            (error = ks_csr_key(t, e, &t->certs[c - en->chain_len], shared, taken)) < 0) {
            ch_buf_dispose(&chain);
            goto done;
        }
        ch_store_new_id(id, "kse_");
        row.id = id;
        row.keystore_id = t->row->id;
        row.tenant_id = (char *)t->actor->tenant_id;
        row.alias = en->alias;
        row.cert_id = t->certs[c - en->chain_len].id;
        row.chain = chain.len ? (char *)chain.data : NULL;
        row.key_id = en->key ? t->sealed[e].id : t->took[e] ? t->csrs[t->lead[e]].key_id : NULL;
        row.origin = "uploaded";
        error = ch_store_keystore_entry_put(t->svc->store, &row);
        ch_buf_dispose(&chain);
        if (error < 0)
            goto done;
    }
    /* Which entries took a CSR's key, in the upload's own entry. */
    if (json_array_size(taken) > 0 && json_object_set(t->detail, "keys_from_csr", taken) < 0) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    detail = json_dumps(t->detail, JSON_COMPACT);
    error = detail ? svc_audit(t->svc, t->actor, "keystore.import", "keystore", t->row->id, detail)
                   : ch_error_set(CH_ENOMEM, "out of memory");
    free(detail);
done:
    json_decref(taken);
    return error;
}

/* The CSRs that entries without a key may take the key of (ks_tx's csrs, lead, took): each
 * found by its certificate's public key, before any lock.  A certificate met again is its
 * first entry's; another certificate for the same CSR gets none (the first takes the CSR, and
 * a CSR signed already gives no key). */
static int ks_find_csrs(ch_svc *svc, const char *tenant_id, const ch_keystore *ks, const ch_store_cert *certs,
                        struct ks_tx *t)
{
    size_t *first;
    int error = 0;

    if ((first = calloc(ks->count ? ks->count : 1, sizeof *first)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    for (size_t e = 0, c = 0; e < ks->count; c += ks->entries[e].chain_len, e++) {
        const ch_ks_entry *en = &ks->entries[e];
        size_t j;

        first[e] = c;
        t->lead[e] = e;
        if (en->key != NULL || en->key_locked || en->chain_len == 0)
            continue;
        for (j = 0; j < e; j++)
            if (t->csrs[j].id != NULL && t->lead[j] == j && strcmp(certs[first[j]].sha256, certs[c].sha256) == 0)
                break;
        if (j < e) {
            t->lead[e] = j;
            continue;
        }
        if ((error = svc_csr_waiting_for(svc, tenant_id, en->chain[0], &t->csrs[e])) == CH_ENOTFOUND) {
            ch_error_clear();
            error = 0;
            continue;
        }
        if (error < 0)
            break;
        for (j = 0; j < e; j++)
            if (t->csrs[j].id != NULL && t->lead[j] == j && strcmp(t->csrs[j].id, t->csrs[e].id) == 0)
                break;
        if (j < e)
            ch_store_csr_dispose(&t->csrs[e]);
    }
    free(first);
    return error;
}

/* The entries that may take a CSR's key, made before the upload is committed (nothing is
 * allocated after: a keystore stored is answered as stored). */
static int ks_csr_list(const struct ks_tx *t, ch_svc_ks_csr_key **out, size_t *n)
{
    size_t count = 0, k = 0;

    *out = NULL;
    *n = 0;
    for (size_t e = 0; e < t->ks->count; e++)
        count += t->csrs[t->lead[e]].id != NULL;
    if (count == 0)
        return 0;
    if ((*out = calloc(count, sizeof **out)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    for (size_t e = 0; e < t->ks->count; e++) {
        if (t->csrs[t->lead[e]].id == NULL)
            continue;
        if (((*out)[k].alias = strdup(t->ks->entries[e].alias)) == NULL) {
            ch_svc_ks_csr_keys_free(*out, count);
            *out = NULL;
            return ch_error_set(CH_ENOMEM, "out of memory");
        }
        snprintf((*out)[k].csr_id, sizeof (*out)[k].csr_id, "%s", t->csrs[t->lead[e]].id);
        k++;
    }
    *n = count;
    return 0;
}

/* Keeps those of ks_csr_list's that took the key, first, with their certificate's id (the
 * others freed). */
static void ks_csr_list_keep(const struct ks_tx *t, ch_svc_ks_csr_key *list, size_t *n)
{
    size_t k = 0, kept = 0;

    for (size_t e = 0, c = 0; e < t->ks->count && k < *n; c += t->ks->entries[e].chain_len, e++) {
        if (t->csrs[t->lead[e]].id == NULL)
            continue;
        if (t->took[e]) {
            if (k != kept) {
                list[kept] = list[k];
                list[k].alias = NULL;
            }
            snprintf(list[kept].cert_id, sizeof list[kept].cert_id, "%s", t->certs[c].id);
            kept++;
        } else {
            free(list[k].alias);
            list[k].alias = NULL;
        }
        k++;
    }
    *n = kept;
}

/* What the walk up from a leaf depends on: its issuer's name and the key identifier it names
 * (X509_check_issued matches a candidate on these alone), as "NAME/AKI" into *out. */
static int issuer_key(char **out, const ch_cert *leaf)
{
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(ch_cert_x509(leaf));
    char *name = NULL, hex[2 * 64 + 1] = "";
    ch_buf key = CH_BUF_INIT;
    int error;

    *out = NULL;
    if ((error = ch_cert_issuer_string(&name, leaf)) < 0)
        return error;
    if (aki != NULL && ASN1_STRING_length(aki) <= 64)
        ch_hex(hex, ASN1_STRING_get0_data(aki), (size_t)ASN1_STRING_length(aki));
    else if (aki != NULL)
        snprintf(hex, sizeof hex, "long");
    if ((error = ch_buf_printf(&key, "%s/%s", name, hex)) == 0 &&
        (*out = strndup((const char *)key.data, key.len)) == NULL)
        error = ch_error_set(CH_ENOMEM, "out of memory");
    free(name);
    ch_buf_dispose(&key);
    return error;
}

void ch_svc_ks_gaps_free(ch_svc_ks_gap *list, size_t count)
{
    for (size_t i = 0; list != NULL && i < count; i++) {
        free(list[i].alias);
        free(list[i].missing);
    }
    free(list);
}

/* The entries of the upload whose chain stops short of a root, the file and the tenant holding
 * no certificate of the issuer where it stops (svc_chain_gap, as a certificate import is told):
 * the key entries alone, and those taking a CSR's key, whose chain is sent with them; a
 * trusted-certificate entry is an anchor of itself.  rows: each certificate's row (the leaf
 * of entry e first in its entry's).  Leaves of one issuer share the walk up from it, which goes
 * the same way for them all: a keystore of thousands of entries of one CA is walked once. */
static int ks_gaps(ch_svc *svc, const char *tenant_id, const struct ks_tx *t, const ch_store_cert *rows,
                   ch_svc_ks_gap **out, size_t *nout)
{
    const ch_keystore *ks = t->ks;
    ch_cert **file = NULL;
    char **keys = NULL, **found = NULL;
    size_t nfile = 0, nkeys = 0, n = 0;
    ch_svc_ks_gap *list = NULL;
    int error = 0;

    *out = NULL;
    *nout = 0;
    for (size_t e = 0; e < ks->count; e++)
        nfile += ks->entries[e].chain_len;
    if ((file = calloc(nfile ? nfile : 1, sizeof *file)) == NULL ||
        (keys = calloc(ks->count ? ks->count : 1, sizeof *keys)) == NULL ||
        (found = calloc(ks->count ? ks->count : 1, sizeof *found)) == NULL ||
        (list = calloc(ks->count ? ks->count : 1, sizeof *list)) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t e = 0, c = 0; e < ks->count; e++)
        for (size_t i = 0; i < ks->entries[e].chain_len; i++)
            file[c++] = ks->entries[e].chain[i];
    for (size_t e = 0, c = 0; e < ks->count && error == 0; c += ks->entries[e].chain_len, e++) {
        const ch_ks_entry *en = &ks->entries[e];
        char *key = NULL;
        size_t k;
        if (en->chain_len == 0 || (en->key == NULL && t->csrs[t->lead[e]].id == NULL) ||
            ch_cert_is_self_signed(en->chain[0]))
            continue;
        if ((error = issuer_key(&key, en->chain[0])) < 0)
            break;
        for (k = 0; k < nkeys && strcmp(keys[k], key) != 0; k++)
            ;
        if (k < nkeys) {
            free(key);
        } else {
            keys[nkeys++] = key;
            if ((error = svc_chain_gap(svc, tenant_id, &rows[c], file, nfile, &found[k])) < 0)
                break;
        }
        if (found[k] == NULL)
            continue;
        if ((list[n].alias = strdup(en->alias)) == NULL || (list[n].missing = strdup(found[k])) == NULL) {
            free(list[n].alias);
            error = ch_error_set(CH_ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    if (error == 0 && n > 0) {
        *out = list;
        *nout = n;
        list = NULL;
    }
done:
    ch_svc_ks_gaps_free(list, n);
    for (size_t k = 0; k < nkeys; k++) {
        free(keys[k]);
        free(found[k]);
    }
    free(keys);
    free(found);
    free(file);
    return error;
}

int ch_svc_keystore_import(ch_svc *svc, const ch_actor *actor, const char *name, const uint8_t *data, size_t len,
                           const char *password, const char *key_password, ch_store_keystore *out,
                           ch_svc_ks_csr_key **from_csr, size_t *nfrom_csr, ch_svc_ks_gap **gaps, size_t *ngaps)
{
    ch_svc_ks_csr_key *list = NULL;
    ch_svc_ks_gap *gap_list = NULL;
    size_t nlist = 0, ngap_list = 0;
    ch_import_opts io = {.password = password, .key_password = key_password};
    ch_keystore *ks = NULL;
    ch_store_keystore row = {0};
    svc_sealed *sealed = NULL;
    ch_store_cert *certs = NULL;
    size_t ncerts = 0;
    char id[CH_ID_MAX];
    struct ks_tx t = {0};
    int error;

    if (out)
        memset(out, 0, sizeof *out);
    if (from_csr != NULL)
        *from_csr = NULL;
    if (nfrom_csr != NULL)
        *nfrom_csr = 0;
    if (gaps != NULL)
        *gaps = NULL;
    if (ngaps != NULL)
        *ngaps = 0;
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "uploading a keystore")) < 0)
        return error;
    if ((error = svc_need_name(name)) < 0)
        return error;
    /* A key password of its own is a Java keystore's (keytool -keypass): with any other file
     * it went unread, where a certificate import refuses it. */
    {
        ch_format kf;
        if (key_password != NULL && ch_format_detect(&kf, data, len) == 0 && kf != CH_FMT_JKS && kf != CH_FMT_JCEKS)
            return svc_key_password_unread();
        ch_error_clear();
    }
    if ((error = ch_keystore_import(&ks, data, len, &io)) < 0) {
        ch_format f;
        /* Bytes of no format certhub knows are a file that cannot be read (400, as a
         * certificate import says it), not a content type refused (415). */
        if (error == CH_EUNSUPPORTED && ch_format_detect(&f, data, len) == CH_EUNSUPPORTED)
            return ch_error_set_field(CH_EPARSE, "file", "not a keystore or certificate file certhub reads (accepted: %s)",
                                      CH_FORMATS_ACCEPTED);
        /* (a key's password named as such, where the format said so) */
        const char *field = ch_error_field() != NULL && strcmp(ch_error_field(), "key_password") == 0 ? "key_password"
                            : error == CH_EPASSWORD                                                  ? "password"
                                                                                                     : "file";
        ch_error_set_field(error, field, "%s", ch_error_last());
        return error;
    }
    /* A key with the wrong certificate beside it (a PEM bundle put together by hand): a
     * mistake to say, not a key to drop and certificates to keep as trusted entries. */
    if (ks->keys_unmatched > 0) {
        error = ch_error_set_field(CH_EINVAL, "file",
                                   "the file holds %zu private key%s that belong%s to none of its certificates: put "
                                   "each key with its own certificate",
                                   ks->keys_unmatched, ks->keys_unmatched == 1 ? "" : "s",
                                   ks->keys_unmatched == 1 ? "s" : "");
        ch_keystore_free(ks);
        return error;
    }
    /* Everything that needs no lock first: sealing keys, reading certificates, finding CSRs. */
    for (size_t e = 0; e < ks->count; e++)
        ncerts += ks->entries[e].chain_len;
    if ((sealed = calloc(ks->count, sizeof *sealed)) == NULL || (certs = calloc(ncerts, sizeof *certs)) == NULL ||
        (t.csrs = calloc(ks->count ? ks->count : 1, sizeof *t.csrs)) == NULL ||
        (t.lead = calloc(ks->count ? ks->count : 1, sizeof *t.lead)) == NULL ||
        (t.took = calloc(ks->count ? ks->count : 1, sizeof *t.took)) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t e = 0, c = 0; e < ks->count; e++) {
        if (ks->entries[e].key && (error = svc_key_seal(svc, actor->tenant_id, ks->entries[e].key, &sealed[e])) < 0)
            goto done;
        for (size_t i = 0; i < ks->entries[e].chain_len; i++, c++)
            if ((error = svc_cert_row(&certs[c], ks->entries[e].chain[i], actor->tenant_id,
                                      i == 0 ? ks->entries[e].alias : NULL, "imported", -1)) < 0)
                goto done;
    }
    if ((error = ks_find_csrs(svc, actor->tenant_id, ks, certs, &t)) < 0)
        goto done;
    /* A certificate new here that takes a CSR's key is stored as attaching it to the CSR
     * stores it. */
    for (size_t e = 0, c = 0; e < ks->count; c += ks->entries[e].chain_len, e++)
        if (t.csrs[e].id != NULL) {
            free(certs[c].method);
            certs[c].method = strdup("csr_signed");
            certs[c].key_id = strdup(t.csrs[e].key_id);
            if (certs[c].method == NULL || certs[c].key_id == NULL) {
                error = ch_error_set(CH_ENOMEM, "out of memory");
                goto done;
            }
        }
    ch_store_new_id(id, "kst_");
    row.id = strdup(id);
    row.tenant_id = strdup(actor->tenant_id);
    row.name = strdup(name);
    row.format = strdup(ch_format_name(ks->source));
    row.created_at = ch_now();
    if (!row.id || !row.tenant_id || !row.name || !row.format) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    t.detail = json_pack("{ss ss si}", "name", name, "format", row.format, "entries", (int)ks->count);
    if (t.detail != NULL && ks->notes != NULL)
        json_object_set_new(t.detail, "notes", json_string(ks->notes));
    if (t.detail == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    t.svc = svc;
    t.actor = actor;
    t.ks = ks;
    t.row = &row;
    t.sealed = sealed;
    t.certs = certs;
    t.ncerts = ncerts;
    /* (read before the commit: the file's CA certificates are not the tenant's yet, and are
     * looked at as the file's) */
    if ((error = ks_csr_list(&t, &list, &nlist)) < 0 ||
        (gaps != NULL && (error = ks_gaps(svc, actor->tenant_id, &t, certs, &gap_list, &ngap_list)) < 0) ||
        (error = svc_commit(svc, ks_tx_run, &t)) < 0)
        goto done;
    ks_csr_list_keep(&t, list, &nlist);
    if (from_csr != NULL && nfrom_csr != NULL && nlist > 0) {
        *from_csr = list;
        *nfrom_csr = nlist;
        list = NULL;
    }
    if (gaps != NULL && ngaps != NULL) {
        *gaps = gap_list;
        *ngaps = ngap_list;
        gap_list = NULL;
    }
    if (out) {
        *out = row;
        memset(&row, 0, sizeof row);
        out->notes = ks->notes != NULL ? strdup(ks->notes) : NULL;
    }
done:
    ch_svc_ks_csr_keys_free(list, nlist);
    ch_svc_ks_gaps_free(gap_list, ngap_list);
    json_decref(t.detail);
    for (size_t e = 0; t.csrs && ks && e < ks->count; e++)
        ch_store_csr_dispose(&t.csrs[e]);
    free(t.csrs);
    free(t.lead);
    free(t.took);
    for (size_t i = 0; certs && i < ncerts; i++)
        ch_store_cert_dispose(&certs[i]);
    free(certs);
    for (size_t e = 0; sealed && ks && e < ks->count; e++)
        svc_sealed_dispose(&sealed[e]);
    free(sealed);
    ch_store_keystore_dispose(&row);
    ch_keystore_free(ks);
    return error;
}

void ch_svc_ks_csr_keys_free(ch_svc_ks_csr_key *list, size_t count)
{
    for (size_t i = 0; list != NULL && i < count; i++)
        free(list[i].alias);
    free(list);
}

int ch_svc_keystore_list(ch_svc *svc, const ch_actor *actor, ch_store_page *page, ch_store_keystore **out, size_t *count)
{
    int error;

    if ((error = svc_need(actor, CH_ROLE_VIEWER, "listing keystores")) < 0)
        return error;
    return ch_store_keystore_list(svc->store, actor->tenant_id, page, out, count);
}

int ch_svc_keystore_get(ch_svc *svc, const ch_actor *actor, const char *id, ch_store_keystore *out)
{
    int error;

    memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_VIEWER, "reading keystores")) < 0)
        return error;
    return ch_store_keystore_get(svc->store, out, actor->tenant_id, id);
}

/* The keystore id (into *ks, disposed by the caller on success) and its entries: the row is read
 * first so that a keystore of another tenant, or none, is not found rather than empty. */
static int ks_read(ch_svc *svc, const ch_actor *actor, const char *id, ch_store_keystore *ks,
                   ch_store_keystore_entry **out, size_t *count)
{
    int error;

    memset(ks, 0, sizeof *ks);
    if ((error = svc_need(actor, CH_ROLE_VIEWER, "reading keystores")) < 0)
        return error;
    if ((error = ch_store_keystore_get(svc->store, ks, actor->tenant_id, id)) < 0)
        return error;
    if ((error = ch_store_keystore_entries(svc->store, actor->tenant_id, id, out, count)) < 0)
        ch_store_keystore_dispose(ks);
    return error;
}

int ch_svc_keystore_entries(ch_svc *svc, const ch_actor *actor, const char *id, ch_store_keystore_entry **out,
                            size_t *count)
{
    ch_store_keystore ks;
    int error = ks_read(svc, actor, id, &ks, out, count);

    if (error == 0)
        ch_store_keystore_dispose(&ks);
    return error;
}

int svc_cert_load(ch_svc *svc, const char *tenant, const char *id, ch_cert **out)
{
    ch_store_cert row;
    int error = ch_store_cert_get(svc->store, &row, tenant, id);

    if (error == 0) {
        error = ch_cert_parse(out, row.der, row.der_len);
        ch_store_cert_dispose(&row);
    }
    return error;
}

/* The options of an export against the format they go with (the API's export_fields checks
 * the others: include_key, legacy, truststore), before anything is read: what a caller asks
 * is written or refused, never dropped.  one_cert: the export of one certificate, whose
 * entry's alias may be chosen. */
static int export_check(const ch_svc_export_opts *o, bool one_cert)
{
    bool store = o->fmt == CH_FMT_PKCS12 || o->fmt == CH_FMT_JKS;
    int error;

    if (o->alias != NULL) {
        if (!one_cert)
            return ch_error_set_field(CH_EINVAL, "alias", "a keystore's entries keep the aliases they are stored "
                                      "under: alias names the entry of one certificate's export");
        if (!store)
            return ch_error_set_field(CH_EINVAL, "alias", "alias names the entry of a p12 or jks: pem, der and p7b "
                                      "have no aliases");
        if (*o->alias == '\0')
            return ch_error_set_field(CH_EINVAL, "alias", "an alias of 1 to 128 characters, or none (the "
                                      "certificate's name)");
        if ((error = svc_check_text("alias", o->alias, 128)) < 0)
            return error;
    }
    if (store && o->password == NULL)
        return ch_error_set_field(CH_EINVAL, "password", o->fmt == CH_FMT_PKCS12
                                      ? "a p12 needs a password: give \"password\" (\"\" for a PKCS#12 without "
                                        "one)"
                                      : "a jks needs a password (not empty: keytool refuses an empty one)");
    if (o->fmt == CH_FMT_JKS && *o->password == '\0')
        return ch_error_set_field(CH_EINVAL, "password", "a jks needs a password that is not empty (keytool "
                                  "refuses an empty one); a p12 may have none (\"password\": \"\")");
    if (o->key_password != NULL) {
        if (!store)
            return ch_error_set_field(CH_EINVAL, "key_password", "key_password goes with jks (its key entries' "
                                      "own password, keytool's -keypass); a pem key is encrypted under "
                                      "\"password\"");
        if (o->truststore)
            return ch_error_set_field(CH_EINVAL, "key_password", "a truststore holds no key: key_password goes "
                                      "with a jks of the key");
        /* PKCS#12 as written: one password for the MAC and every bag, which is the one keytool
         * opens its keys with; a key bag under another is read by neither. */
        if (o->fmt == CH_FMT_PKCS12 && strcmp(o->key_password, o->password) != 0)
            return ch_error_set_field(CH_EINVAL, "key_password", "a p12 has one password, for the store and its "
                                      "keys (keytool opens its keys with the store's): a key password of its own "
                                      "goes with jks");
        if (o->fmt == CH_FMT_JKS && *o->key_password == '\0')
            return ch_error_set_field(CH_EINVAL, "key_password", "a jks key password cannot be empty (keytool "
                                      "refuses an empty one); without key_password the key has the store's");
    }
    return 0;
}

/* The formats library's options of an export. */
static ch_export_opts export_opts(const ch_svc_export_opts *o)
{
    return (ch_export_opts){.password = o->password, .key_password = o->key_password, .legacy = o->legacy,
                            .include_key = o->include_key, .certs_only = o->truststore};
}

/* Whether an export carries private keys: a p12 or jks other than a truststore, a pem asked
 * for with its key. */
static bool export_keys(const ch_svc_export_opts *o)
{
    return ((o->fmt == CH_FMT_PKCS12 || o->fmt == CH_FMT_JKS) && !o->truststore) ||
           (o->fmt == CH_FMT_PEM && o->include_key);
}

/* The audit detail of a key export: its format, whether the key went out under a password,
 * the alias chosen.  NULL when out of memory (the row is written without it). */
static char *export_detail(const ch_svc_export_opts *o)
{
    bool encrypted = o->password != NULL && *o->password != '\0';
    json_t *d = json_pack("{ss sb}", "format", ch_format_name((ch_format)o->fmt), "encrypted", encrypted);
    char *text;

    if (d != NULL && o->alias != NULL)
        json_object_set_new(d, "alias", json_string(o->alias));
    if (d != NULL && o->key_password != NULL && o->fmt == CH_FMT_JKS)
        json_object_set_new(d, "key_password", json_true());
    text = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    return text;
}

int ch_svc_keystore_export(ch_svc *svc, const ch_actor *actor, const char *id, const ch_svc_export_opts *o,
                           ch_buf *out, char **name)
{
    ch_store_keystore row;
    ch_store_keystore_entry *entries = NULL;
    size_t n = 0;
    ch_keystore *ks = NULL;
    ch_export_opts eo = export_opts(o);
    bool keys = export_keys(o), held = false;
    char *detail = NULL;
    int error;

    if (name != NULL)
        *name = NULL;
    if ((error = ks_read(svc, actor, id, &row, &entries, &n)) < 0)
        return error;
    /* A keystore holding no key (a truststore uploaded) exports none: it needs no permission
     * for keys, and no key export is audited (an operator was refused it as a P12 or JKS). */
    for (size_t e = 0; e < n && !held; e++)
        held = entries[e].key_id != NULL;
    keys = keys && held;
    if ((error = export_check(o, false)) < 0)
        goto done;
    /* DER is one certificate: the first entry's alone would be a keystore cut short without a
     * word (the offline convert says so on stderr; an answer has no place to). */
    if (o->fmt == CH_FMT_DER && n > 1) {
        error = ch_error_set_field(CH_EINVAL, "format", "der holds one certificate and this keystore has %zu "
                                   "entries: pem or p7b hold every certificate, p12 or jks every entry under its "
                                   "alias", n);
        goto done;
    }
    if (keys && !(actor->perms & CH_PERM_KEYS_EXPORT)) {
        error = ch_error_set(CH_EPERM, "exporting a keystore with its private keys needs the keys:export permission");
        goto done;
    }
    if ((error = ch_keystore_new(&ks)) < 0)
        goto done;
    for (size_t e = 0; e < n && error == 0; e++) {
        ch_cert *chain[CH_MAX_CHAIN_LEN] = {0};
        size_t len = 0;
        ch_key *key = NULL;
        if ((error = svc_cert_load(svc, actor->tenant_id, entries[e].cert_id, &chain[len])) == 0)
            len++;
        if (error == 0 && entries[e].chain) {
            char *copy = strdup(entries[e].chain), *save = NULL;
            for (char *p = strtok_r(copy, ",", &save); p && error == 0 && len < CH_MAX_CHAIN_LEN;
                 p = strtok_r(NULL, ",", &save))
                if ((error = svc_cert_load(svc, actor->tenant_id, p, &chain[len])) == 0)
                    len++;
            free(copy);
        }
        if (error == 0 && keys && entries[e].key_id)
            error = svc_key_load(svc, actor->tenant_id, entries[e].key_id, &key);
        if (error == 0)
            error = ch_keystore_add(ks, entries[e].alias, chain, len, key);
        for (size_t i = 0; i < len; i++)
            ch_cert_free(chain[i]);
        ch_key_free(key);
    }
    if (error == 0)
        error = ch_keystore_export(out, ks, (ch_format)o->fmt, &eo);
    if (error == 0 && keys) {
        detail = export_detail(o);
        SVC_TX(svc, svc_audit(svc, actor, "keystore.export_keys", "keystore", id, detail));
    }
done:
    if (error < 0)
        ch_buf_dispose_secure(out);
    if (error == 0 && name != NULL) {
        *name = row.name; /* now the caller's */
        row.name = NULL;
    }
    free(detail);
    ch_keystore_free(ks);
    ch_store_keystore_entry_list_free(entries, n);
    ch_store_keystore_dispose(&row);
    return error;
}

static int ks_delete_tx(ch_svc *svc, const ch_actor *actor, const char *id)
{
    int error = ch_store_keystore_delete(svc->store, actor->tenant_id, id);

    return error ? error : svc_audit(svc, actor, "keystore.delete", "keystore", id, NULL);
}

int ch_svc_keystore_delete(ch_svc *svc, const ch_actor *actor, const char *id)
{
    int error;

    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "deleting a keystore")) < 0)
        return error;
    SVC_TX(svc, ks_delete_tx(svc, actor, id));
done:
    return error;
}

/* Read in the transaction: two renames at once each audit the name they replaced. */
static int ks_rename_tx(ch_svc *svc, const ch_actor *actor, const char *id, const char *name, ch_store_keystore *out)
{
    json_t *d;
    char *detail;
    int error;

    if ((error = ch_store_keystore_get(svc->store, out, actor->tenant_id, id)) < 0)
        return error;
    if (strcmp(out->name, name) == 0)
        return 0; /* (nothing to change, nothing audited) */
    if ((error = ch_store_keystore_rename(svc->store, actor->tenant_id, id, name)) < 0)
        return error;
    d = json_pack("{ss ss}", "name", name, "old_name", out->name);
    detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    if (detail == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    error = svc_audit(svc, actor, "keystore.rename", "keystore", id, detail);
    free(detail);
    free(out->name);
    if (error == 0 && (out->name = strdup(name)) == NULL)
        error = ch_error_set(CH_ENOMEM, "out of memory");
    return error;
}

int ch_svc_keystore_rename(ch_svc *svc, const ch_actor *actor, const char *id, const char *name,
                           ch_store_keystore *out)
{
    ch_store_keystore row = {0};
    int error;

    if (out != NULL)
        memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "renaming a keystore")) < 0)
        return error;
    if ((error = svc_need_name(name)) < 0)
        return error;
    SVC_TX(svc, ks_rename_tx(svc, actor, id, name, &row));
    if (out != NULL) {
        *out = row;
        memset(&row, 0, sizeof row);
    }
done:
    ch_store_keystore_dispose(&row);
    return error;
}

/* The tenant's CA certificate that issued child (names and key identifiers), if any. */
static void issuer_among_cas(ch_svc *svc, const char *tenant_id, const ch_cert *child, ch_cert **out)
{
    ch_store_cert_filter f = {.is_ca = 1};
    ch_store_cert *rows = NULL;
    size_t n = 0;
    char *next = NULL;

    *out = NULL;
    if (ch_store_cert_list(svc->store, tenant_id, &f, 1000, NULL, &rows, &n, &next) < 0)
        return;
    for (size_t i = 0; i < n && *out == NULL; i++) {
        ch_cert *c = NULL;
        /* (the signature too: without key identifiers a rotated CA's old and new certificates
         * match alike by name, and an export went out with the new one, which did not sign) */
        if (svc_cert_load(svc, tenant_id, rows[i].id, &c) == 0 && ch_cert_issued_by(child, c))
            *out = c;
        else
            ch_cert_free(c);
    }
    ch_store_cert_list_free(rows, n);
    free(next);
}

int svc_ca_chain(ch_svc *svc, const char *tenant_id, const char *ca_id, ch_cert **chain, size_t *len, size_t cap)
{
    ch_store_ca ca;
    char next[CH_ID_MAX];
    int error = 0;

    snprintf(next, sizeof next, "%s", ca_id ? ca_id : "");
    while (next[0] && *len < cap && (error = ch_store_ca_get(svc->store, &ca, tenant_id, next)) == 0) {
        error = svc_cert_load(svc, tenant_id, ca.cert_id, &chain[*len]);
        /* After a rotation the CA's current certificate did not sign what came before it: the
         * certificate that did is among the tenant's CA certificates (kept as "rotated"). */
        if (error == 0 && *len > 0 && !ch_cert_issued_by(chain[*len - 1], chain[*len])) {
            ch_cert *found = NULL;
            issuer_among_cas(svc, tenant_id, chain[*len - 1], &found);
            if (found != NULL) {
                ch_cert_free(chain[*len]);
                chain[*len] = found;
            }
        }
        snprintf(next, sizeof next, "%s", ca.parent_id ? ca.parent_id : "");
        ch_store_ca_dispose(&ca);
        if (error < 0)
            return error;
        (*len)++;
    }
    return error;
}

/* The certificate of row and the chain it goes out with (an export, a keystore entry made of
 * it) into chain[*len...]: the chain of the certhub CA that issued it, up to its root, or for
 * one brought in from elsewhere its issuers among rest (n_rest, borrowed: the CA certificates
 * of a file not stored yet, which an import keeps beside it) and then the tenant's CA
 * certificates (the chain sent with it, kept in the inventory), up to a root.  What was found
 * stays in chain. */
static int cert_chain_from(ch_svc *svc, const char *tenant_id, const ch_store_cert *row, ch_cert *const *rest,
                           size_t n_rest, ch_cert **chain, size_t *len)
{
    int error;

    if ((error = ch_cert_parse(&chain[*len], row->der, row->der_len)) < 0)
        return error;
    (*len)++;
    if (row->ca_id &&
        (error = svc_ca_chain(svc, tenant_id, row->ca_id, chain, len, CH_MAX_CHAIN_LEN)) < 0 && error != CH_ENOTFOUND)
        return error;
    /* Issued by a CA deleted since (the quickstart CAs retired, --force): its certificate and
     * its parent's stay in the inventory, and the chain goes on there, as for a certificate
     * brought in (it went out alone, and an agent deployed the leaf without its chain). */
    while (*len < CH_MAX_CHAIN_LEN && !ch_cert_is_self_signed(chain[*len - 1])) {
        ch_cert *up = NULL;
        for (size_t i = 0; i < n_rest && up == NULL; i++)
            if (ch_cert_issued_by(chain[*len - 1], rest[i]) && (up = ch_cert_dup(rest[i])) == NULL)
                return ch_error_set(CH_ENOMEM, "out of memory");
        if (up == NULL)
            issuer_among_cas(svc, tenant_id, chain[*len - 1], &up);
        if (up == NULL)
            break;
        chain[(*len)++] = up;
    }
    ch_error_clear();
    return 0;
}

static int cert_chain(ch_svc *svc, const char *tenant_id, const ch_store_cert *row, ch_cert **chain, size_t *len)
{
    return cert_chain_from(svc, tenant_id, row, NULL, 0, chain, len);
}

int ch_svc_cert_export(ch_svc *svc, const ch_actor *actor, const char *id, const ch_svc_export_opts *o, ch_buf *out,
                       char **name)
{
    ch_store_cert row = {0};
    ch_cert *chain[CH_MAX_CHAIN_LEN] = {0};
    size_t len = 0;
    ch_key *key = NULL;
    ch_keystore *ks = NULL;
    ch_export_opts eo = export_opts(o);
    bool keys = export_keys(o);
    char *detail = NULL;
    int error;

    if (name != NULL)
        *name = NULL;
    if ((error = svc_need(actor, CH_ROLE_VIEWER, "exporting a certificate")) < 0)
        return error;
    if ((error = ch_store_cert_get(svc->store, &row, actor->tenant_id, id)) < 0)
        return error;
    if ((error = export_check(o, true)) < 0)
        goto done;
    if (keys && row.key_id == NULL) {
        error = ch_error_set_field(CH_EINVAL, "format",
                                   "certhub holds no private key for this certificate: choose pem, der or p7b");
        goto done;
    }
    if (keys && !(actor->perms & CH_PERM_KEYS_EXPORT)) {
        error = ch_error_set(CH_EPERM, "exporting a private key needs the keys:export permission");
        goto done;
    }
    if ((error = cert_chain(svc, actor->tenant_id, &row, chain, &len)) < 0)
        goto done;
    if (keys && (error = svc_key_load(svc, actor->tenant_id, row.key_id, &key)) < 0)
        goto done;
    if ((error = ch_keystore_new(&ks)) < 0 || (error = ch_keystore_add(ks, o->alias ? o->alias : row.name, chain, len,
                                                                        key)) < 0 ||
        (error = ch_keystore_export(out, ks, (ch_format)o->fmt, &eo)) < 0)
        goto done;
    if (keys) {
        detail = export_detail(o);
        SVC_TX(svc, svc_audit(svc, actor, "key.export", "certificate", id, detail));
    }
done:
    if (error < 0)
        ch_buf_dispose_secure(out);
    if (error == 0 && name != NULL) {
        *name = row.name; /* now the caller's */
        row.name = NULL;
    }
    free(detail);
    ch_keystore_free(ks);
    ch_key_free(key);
    for (size_t i = 0; i < len; i++)
        ch_cert_free(chain[i]);
    ch_store_cert_dispose(&row);
    return error;
}

int svc_chain_gap(ch_svc *svc, const char *tenant_id, const ch_store_cert *row, ch_cert *const *rest,
                  size_t n_rest, char **missing)
{
    ch_cert *chain[CH_MAX_CHAIN_LEN] = {0};
    size_t len = 0;
    int error;

    *missing = NULL;
    error = cert_chain_from(svc, tenant_id, row, rest, n_rest, chain, &len);
    /* A chain as long as certhub builds one is taken as whole: what follows is not looked for. */
    if (error == 0 && len > 0 && len < CH_MAX_CHAIN_LEN && !ch_cert_is_self_signed(chain[len - 1]))
        error = ch_cert_issuer_string(missing, chain[len - 1]);
    for (size_t i = 0; i < len; i++)
        ch_cert_free(chain[i]);
    return error;
}

int ch_svc_cert_chain_gap(ch_svc *svc, const ch_actor *actor, const char *id, char **missing)
{
    ch_store_cert row = {0};
    int error;

    *missing = NULL;
    if ((error = svc_need(actor, CH_ROLE_VIEWER, "reading a certificate")) < 0)
        return error;
    if ((error = ch_store_cert_get(svc->store, &row, actor->tenant_id, id)) < 0)
        return error;
    error = svc_chain_gap(svc, actor->tenant_id, &row, NULL, 0, missing);
    ch_store_cert_dispose(&row);
    return error;
}

/* ------------------------------------------------------------- entry by entry */

/* The entry of alias among entries: the one spelt so, else the one spelt so in another case
 * (Java finds "Web" as "web", and aliases are unique in any case); n when there is none. */
static size_t entry_find(const ch_store_keystore_entry *entries, size_t n, const char *alias)
{
    size_t i;

    for (i = 0; i < n && strcmp(entries[i].alias, alias) != 0; i++)
        ;
    for (size_t k = 0; i == n && k < n; k++)
        if (ch_alias_same(entries[k].alias, alias))
            i = k;
    return i;
}

/* The entry other than skip that holds alias in any case (Java compares aliases so, and of
 * "Web" and "web" keytool keeps one entry: see ch_keystore_add); n when none does. */
static size_t alias_holder(const ch_store_keystore_entry *entries, size_t n, const char *alias, size_t skip)
{
    for (size_t i = 0; i < n; i++)
        if (i != skip && ch_alias_same(entries[i].alias, alias))
            return i;
    return n;
}

static int alias_clash(const char *alias, const char *held, bool from_name)
{
    return ch_error_set_field(CH_EEXISTS, "alias",
                              "the keystore already has an entry \"%.64s\"%s: aliases are compared without regard "
                              "to case, as Java does; %s",
                              held, strcmp(alias, held) != 0 ? " (the same in another case)" : "",
                              from_name ? "the alias was the certificate's name: give another in \"alias\""
                                        : "choose another alias");
}

static int alias_check(const char *alias)
{
    if (alias == NULL || *alias == '\0')
        return ch_error_set_field(CH_EINVAL, "alias", "an alias of 1 to 128 characters is required");
    return svc_check_text("alias", alias, 128);
}

static int no_entry(const char *alias)
{
    return ch_error_set_field(CH_ENOTFOUND, "alias", "the keystore has no entry with the alias \"%.100s\"", alias);
}

static char *entry_detail(const char *alias, const char *cert_id, const char *from)
{
    json_t *d = json_pack("{ss}", "alias", alias);
    char *text;

    if (d != NULL && cert_id != NULL)
        json_object_set_new(d, "certificate_id", json_string(cert_id));
    if (d != NULL && from != NULL)
        json_object_set_new(d, "from", json_string(from));
    text = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    return text;
}

static int entry_copy(ch_store_keystore_entry *out, const ch_store_keystore_entry *e)
{
    memset(out, 0, sizeof *out);
    out->position = e->position;
    if ((out->id = strdup(e->id)) == NULL || (out->keystore_id = strdup(e->keystore_id)) == NULL ||
        (out->tenant_id = strdup(e->tenant_id)) == NULL || (out->alias = strdup(e->alias)) == NULL ||
        (out->cert_id = strdup(e->cert_id)) == NULL || (e->chain && (out->chain = strdup(e->chain)) == NULL) ||
        (e->key_id && (out->key_id = strdup(e->key_id)) == NULL) ||
        (out->origin = strdup(e->origin ? e->origin : "uploaded")) == NULL) {
        ch_store_keystore_entry_dispose(out);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    return 0;
}

/* The ids of a certificate's chain after it (a keystore entry's "chain"), comma-separated;
 * *out NULL when it has none.  Each certificate of the chain is a row of the inventory
 * already (cert_chain found it there), so it is looked up by its digest. */
static int chain_ids(ch_svc *svc, const char *tenant_id, ch_cert *const *chain, size_t len, char **out)
{
    ch_buf ids = CH_BUF_INIT;
    int error = 0;

    *out = NULL;
    for (size_t i = 1; i < len && error == 0; i++) {
        ch_store_cert row;
        char hex[65];
        ch_hex(hex, ch_cert_sha256(chain[i]), 32);
        if ((error = ch_store_cert_get_by_sha256(svc->store, &row, tenant_id, hex)) < 0)
            break;
        error = ch_buf_printf(&ids, "%s%s", i > 1 ? "," : "", row.id);
        ch_store_cert_dispose(&row);
    }
    if (error == 0 && ids.len > 0 && (*out = strndup((const char *)ids.data, ids.len)) == NULL)
        error = ch_error_set(CH_ENOMEM, "out of memory");
    ch_buf_dispose(&ids);
    return error;
}

/* Refused when certificate id, not renewed when it was read (renewed_read false), has been
 * since: the renewal moved the entries that held it, not this one, stored after it, which
 * would go on with the certificate that ends.  (One renewed already when read is what the
 * caller chose, and is kept.) */
static int renewed_meanwhile(ch_svc *svc, const char *tenant_id, const char *id, bool renewed_read)
{
    ch_store_cert now;
    int error;

    if (renewed_read || (error = ch_store_cert_get(svc->store, &now, tenant_id, id)) < 0)
        return renewed_read ? 0 : error;
    if (now.renewed_by != NULL)
        error = ch_error_set_field(CH_ECONFLICT, "certificate_id", "certificate %s was renewed meanwhile, by %s: "
                                   "give that one", id, now.renewed_by);
    ch_store_cert_dispose(&now);
    return error;
}

/* In the transaction: the keystore's entries read again, so that the alias checked free is
 * the one written (another change cannot come between); the certificate too, so that a
 * renewal cannot come between (renewed_read: it had been renewed when it was read). */
static int entry_add_tx(ch_svc *svc, const ch_actor *actor, ch_store_keystore_entry *e, bool from_name,
                        bool renewed_read)
{
    ch_store_keystore_entry *entries = NULL;
    size_t n = 0, held;
    char *detail = NULL;
    int error;

    if ((error = renewed_meanwhile(svc, actor->tenant_id, e->cert_id, renewed_read)) < 0)
        return error;
    if ((error = ch_store_keystore_entries(svc->store, actor->tenant_id, e->keystore_id, &entries, &n)) < 0)
        return error;
    if ((held = alias_holder(entries, n, e->alias, n)) < n) {
        error = alias_clash(e->alias, entries[held].alias, from_name);
        goto done;
    }
    if (n >= CH_MAX_KS_ENTRIES) {
        error = ch_error_set(CH_ETOOBIG, "the keystore has %zu entries, the most one keystore holds: delete one first", n);
        goto done;
    }
    /* After the last: the order of the others stays as it was (a deletion leaves a gap).  Past
     * every position handed out, not just those there now: a client's cursor is one, and once
     * its entry and every one after it were deleted, one past the rest was behind the walk. */
    if ((error = ch_store_keystore_take_position(svc->store, actor->tenant_id, e->keystore_id, &e->position)) < 0 ||
        (error = ch_store_keystore_entry_put(svc->store, e)) < 0)
        goto done;
    detail = entry_detail(e->alias, e->cert_id, NULL);
    error = svc_audit(svc, actor, "keystore.entry_add", "keystore", e->keystore_id, detail);
done:
    free(detail);
    ch_store_keystore_entry_list_free(entries, n);
    return error;
}

/* What an entry made from a certificate of the inventory is asked with, checked before
 * anything is read. */
static int entry_args(const char *cert_id, const char *alias)
{
    if (cert_id == NULL || *cert_id == '\0')
        return ch_error_set_field(CH_EINVAL, "certificate_id", "certificate_id is required: the id of a "
                                  "certificate of the inventory");
    return alias != NULL ? alias_check(alias) : 0;
}

/* The entry of certificate cert_id of the inventory, as entry_add and a keystore made here
 * store it: *row the certificate (ch_store_cert_dispose), *ids its chain after it, *alias the
 * one given or else the certificate's name (borrowed from *row).  Read outside the
 * transaction: the certificates of a chain are never changed once stored. */
static int entry_from_cert(ch_svc *svc, const ch_actor *actor, const char *cert_id, const char **alias,
                           ch_store_cert *row, char **ids)
{
    ch_cert *chain[CH_MAX_CHAIN_LEN] = {0};
    size_t len = 0;
    int error;

    memset(row, 0, sizeof *row);
    *ids = NULL;
    if ((error = ch_store_cert_get(svc->store, row, actor->tenant_id, cert_id)) < 0) {
        if (error == CH_ENOTFOUND)
            ch_error_set_field(error, "certificate_id", "no certificate \"%.64s\" in the inventory", cert_id);
        return error;
    }
    /* A name stored before names with spaces at their ends were refused: used trimmed, as a
     * renewal carries it (the alias, and the name of a keystore made here). */
    if (row->name != NULL) {
        char *carried = svc_name_carried(row->name);
        if (carried != NULL) {
            free(row->name);
            row->name = carried;
        }
    }
    /* No alias: the certificate's name, as its own export names its entry. */
    if (*alias == NULL && (error = alias_check(*alias = row->name)) < 0) {
        char why[256];
        snprintf(why, sizeof why, "%s", ch_error_last());
        ch_error_set_field(error, "alias", "the certificate's name cannot be an alias (%s): give \"alias\"", why);
        goto done;
    }
    if ((error = cert_chain(svc, actor->tenant_id, row, chain, &len)) < 0)
        goto done;
    error = chain_ids(svc, actor->tenant_id, chain, len, ids);
done:
    for (size_t i = 0; i < len; i++)
        ch_cert_free(chain[i]);
    if (error < 0)
        ch_store_cert_dispose(row);
    return error;
}

/* ------------------------------------------------------------- following renewals */

/* The chain ids of row (an entry's "chain"), as an entry made of it now carries them. */
static int cert_chain_ids(ch_svc *svc, const char *tenant_id, const ch_store_cert *row, char **ids)
{
    ch_cert *chain[CH_MAX_CHAIN_LEN] = {0};
    size_t len = 0;
    int error = cert_chain(svc, tenant_id, row, chain, &len);

    if (error == 0)
        error = chain_ids(svc, tenant_id, chain, len, ids);
    for (size_t i = 0; i < len; i++)
        ch_cert_free(chain[i]);
    return error;
}

/* In a transaction: entry e holds renewal now, with renewal's chain (ids) and key, audited as
 * keystore.entry_renew.  Its alias, position and origin stay.  The key: none for a
 * trusted-certificate entry, which stays one; the renewal's where certhub holds one (a new key,
 * or the same one kept), whatever key the entry had (its own copy, from an upload: it does not
 * open a new key's certificate); else the entry's own (the renewal certified the same public
 * key, whose private key certhub holds as this entry's alone). */
static int entry_follow(ch_svc *svc, const ch_actor *actor, const ch_store_keystore_entry *e,
                        const ch_store_cert *renewal, const char *ids)
{
    const char *key_id = e->key_id == NULL ? NULL : renewal->key_id != NULL ? renewal->key_id : e->key_id;
    json_t *d;
    char *detail;
    int error;

    if ((error = ch_store_keystore_entry_set_cert(svc->store, actor->tenant_id, e->id, renewal->id, ids, key_id)) < 0)
        return error;
    d = json_pack("{ss ss ss}", "alias", e->alias, "certificate_id", renewal->id, "replaces", e->cert_id);
    detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    error = detail ? svc_audit(svc, actor, "keystore.entry_renew", "keystore", e->keystore_id, detail)
                   : ch_error_set(CH_ENOMEM, "out of memory");
    free(detail);
    return error;
}

int svc_keystore_follow_renewal(ch_svc *svc, const ch_actor *actor, const ch_store_cert *renewal)
{
    ch_store_keystore_entry *entries = NULL;
    size_t n = 0;
    char *ids = NULL;
    int error;

    if ((error = ch_store_keystore_entries_of_cert(svc->store, actor->tenant_id, renewal->renews, &entries, &n)) < 0 ||
        n == 0)
        return error;
    /* Made once for them all: the renewal's chain is that of the CA that issued it now (after a
     * rotation, not the one the certificate renewed went out with). */
    if ((error = cert_chain_ids(svc, actor->tenant_id, renewal, &ids)) < 0)
        goto done;
    for (size_t i = 0; i < n && error == 0; i++)
        error = entry_follow(svc, actor, &entries[i], renewal, ids);
done:
    free(ids);
    ch_store_keystore_entry_list_free(entries, n);
    return error;
}

/* Entry e (of the upgrade's list) moved to the newest renewal of its certificate, in its own
 * transaction with its row of the list: done once, whatever becomes of it.  One whose lineage
 * leads nowhere, or whose newest renewal's chain cannot be read, stays as it was. */
static int backfill_one(ch_svc *svc, const ch_store_keystore_entry *e)
{
    ch_actor system = {e->tenant_id, "system:upgrade", CH_ROLE_ADMIN, 0, NULL, NULL};
    char newest[CH_ID_MAX];
    ch_store_cert renewal = {0};
    char *ids = NULL;
    bool move = false;
    int error;

    /* A lineage that leads nowhere (a renewal or a CA of its chain deleted since, a chain that
     * cannot be made) is final: the entry stays.  A failure of the moment (the store, the disk,
     * memory) leaves it for the next open, where marking it done kept it on the ending
     * certificate for good, unsaid. */
    if ((error = ch_store_cert_newest_renewal(svc->store, e->tenant_id, e->cert_id, newest)) == 0 &&
        strcmp(newest, e->cert_id) != 0 && (error = ch_store_cert_get(svc->store, &renewal, e->tenant_id, newest)) == 0 &&
        (error = cert_chain_ids(svc, e->tenant_id, &renewal, &ids)) == 0)
        move = true;
    if (error == CH_ESTORE || error == CH_ENOMEM || error == CH_EIO || error == CH_ENOSPACE || error == CH_EUNAVAIL)
        goto done;
    ch_error_clear();
    if ((error = ch_store_begin(svc->store)) < 0)
        goto done;
    /* Recorded done first: done by another process since it was listed, it is not moved twice
     * (two audit rows). */
    if ((error = ch_store_keystore_backfill_done(svc->store, e->id)) == CH_ECONFLICT) {
        ch_store_rollback(svc->store);
        ch_error_clear();
        error = 0;
        goto done;
    }
    if (error < 0 || (move && (error = entry_follow(svc, &system, e, &renewal, ids)) < 0 && error != CH_ENOTFOUND) ||
        (error = ch_store_commit(svc->store)) < 0)
        ch_store_rollback(svc->store);
done:
    free(ids);
    ch_store_cert_dispose(&renewal);
    return error;
}

int svc_keystore_backfill(ch_svc *svc)
{
    for (;;) {
        ch_store_keystore_entry *entries = NULL;
        size_t n = 0;
        int error = ch_store_keystore_backfill_list(svc->store, 100, &entries, &n);

        for (size_t i = 0; i < n && error == 0; i++)
            error = backfill_one(svc, &entries[i]);
        ch_store_keystore_entry_list_free(entries, n);
        if (error < 0 || n == 0)
            return error;
    }
}

int ch_svc_keystore_entry_add(ch_svc *svc, const ch_actor *actor, const char *id, const char *cert_id,
                              const char *alias, ch_store_keystore_entry *out)
{
    ch_store_keystore ks = {0};
    ch_store_cert row = {0};
    ch_store_keystore_entry e = {0};
    char eid[CH_ID_MAX], *ids = NULL;
    int error;

    if (out)
        memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "changing a keystore")) < 0)
        return error;
    if ((error = entry_args(cert_id, alias)) < 0)
        return error;
    if ((error = ch_store_keystore_get(svc->store, &ks, actor->tenant_id, id)) < 0)
        return error;
    if ((error = entry_from_cert(svc, actor, cert_id, &alias, &row, &ids)) < 0)
        goto done;
    ch_store_new_id(eid, "kse_");
    e.id = eid;
    e.keystore_id = ks.id;
    e.tenant_id = (char *)actor->tenant_id;
    e.alias = (char *)alias;
    e.cert_id = row.id;
    e.chain = ids;
    e.key_id = row.key_id; /* the key certhub holds for it, if any: a key entry, else a trusted one */
    e.origin = "added";
    SVC_TX(svc, entry_add_tx(svc, actor, &e, alias == row.name, row.renewed_by != NULL));
    if (out)
        error = entry_copy(out, &e);
done:
    free(ids);
    ch_store_cert_dispose(&row);
    ch_store_keystore_dispose(&ks);
    return error;
}

/* In the transaction: the keystore and then its one entry (which entry_add_tx audits). */
static int ks_create_tx(ch_svc *svc, const ch_actor *actor, const ch_store_keystore *k, ch_store_keystore_entry *e,
                        bool from_name, bool renewed_read)
{
    json_t *d = json_pack("{ss ss ss}", "name", k->name, "format", k->format, "certificate_id", e->cert_id);
    char *detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
    int error;

    json_decref(d);
    if ((error = ch_store_keystore_put(svc->store, k)) == 0 &&
        (error = svc_audit(svc, actor, "keystore.create", "keystore", k->id, detail)) == 0)
        error = entry_add_tx(svc, actor, e, from_name, renewed_read);
    free(detail);
    return error;
}

int ch_svc_keystore_create(ch_svc *svc, const ch_actor *actor, const char *name, const char *format,
                           const char *cert_id, const char *alias, ch_store_keystore *out)
{
    ch_store_keystore k = {0};
    ch_store_cert row = {0};
    ch_store_keystore_entry e = {0};
    char kid[CH_ID_MAX], eid[CH_ID_MAX], *ids = NULL;
    int error;

    if (out)
        memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "making a keystore")) < 0)
        return error;
    /* None given: the certificate's, as the console's wizard names it (checked below, once read). */
    if (name != NULL && (error = svc_need_name(name)) < 0)
        return error;
    /* The two formats that hold a key with its chain, as the destination seed's keystores are
     * (the others are written on export all the same). */
    if (format == NULL || (strcmp(format, "p12") != 0 && strcmp(format, "jks") != 0))
        return ch_error_set_field(CH_EINVAL, "format", "format must be p12 or jks: the keystore formats that hold "
                                  "a key with its chain");
    if ((error = entry_args(cert_id, alias)) < 0 ||
        (error = entry_from_cert(svc, actor, cert_id, &alias, &row, &ids)) < 0)
        return error;
    if (name == NULL && (error = svc_check_name(name = row.name, 128)) < 0)
        goto done;
    ch_store_new_id(kid, "kst_");
    ch_store_new_id(eid, "kse_");
    k.id = kid;
    k.tenant_id = (char *)actor->tenant_id;
    k.name = (char *)name;
    k.format = (char *)format;
    k.created_at = ch_now();
    e.id = eid;
    e.keystore_id = kid;
    e.tenant_id = (char *)actor->tenant_id;
    e.alias = (char *)alias;
    e.cert_id = row.id;
    e.chain = ids;
    e.key_id = row.key_id;
    e.origin = "generated"; /* made here, not uploaded: the method the keystore's view shows */
    SVC_TX(svc, ks_create_tx(svc, actor, &k, &e, alias == row.name, row.renewed_by != NULL));
    if (out) {
        out->created_at = k.created_at;
        if ((out->id = strdup(kid)) == NULL || (out->tenant_id = strdup(k.tenant_id)) == NULL ||
            (out->name = strdup(name)) == NULL || (out->format = strdup(format)) == NULL) {
            ch_store_keystore_dispose(out);
            error = ch_error_set(CH_ENOMEM, "out of memory");
        }
    }
done:
    free(ids);
    ch_store_cert_dispose(&row);
    return error;
}

/* What an edit of an existing entry does in its transaction. */
struct entry_edit {
    const char *alias;
    const char *new_alias; /* NULL: the entry is deleted */
    ch_store_keystore_entry *out;
};

static int entry_edit_tx(ch_svc *svc, const ch_actor *actor, const char *id, struct entry_edit *ed)
{
    ch_store_keystore ks;
    ch_store_keystore_entry *entries = NULL;
    size_t n = 0, i, held;
    char *detail = NULL;
    int error;

    if ((error = ch_store_keystore_get(svc->store, &ks, actor->tenant_id, id)) < 0)
        return error;
    ch_store_keystore_dispose(&ks);
    if ((error = ch_store_keystore_entries(svc->store, actor->tenant_id, id, &entries, &n)) < 0)
        return error;
    if ((i = entry_find(entries, n, ed->alias)) == n) {
        error = no_entry(ed->alias);
        goto done;
    }
    if (ed->new_alias == NULL) {
        /* The entry alone: its certificates and key stay in the inventory, as when the whole
         * keystore is deleted. */
        if ((error = ch_store_keystore_entry_delete(svc->store, actor->tenant_id, entries[i].id)) < 0)
            goto done;
        detail = entry_detail(entries[i].alias, entries[i].cert_id, NULL);
        if ((error = svc_audit(svc, actor, "keystore.entry_delete", "keystore", id, detail)) == 0 && ed->out)
            error = entry_copy(ed->out, &entries[i]);
        goto done;
    }
    if ((held = alias_holder(entries, n, ed->new_alias, i)) < n) {
        error = alias_clash(ed->new_alias, entries[held].alias, false);
        goto done;
    }
    if (strcmp(entries[i].alias, ed->new_alias) != 0) {
        if ((error = ch_store_keystore_entry_rename(svc->store, actor->tenant_id, entries[i].id, ed->new_alias)) < 0)
            goto done;
        detail = entry_detail(ed->new_alias, entries[i].cert_id, entries[i].alias);
        if ((error = svc_audit(svc, actor, "keystore.entry_rename", "keystore", id, detail)) < 0)
            goto done;
        free(entries[i].alias);
        if ((entries[i].alias = strdup(ed->new_alias)) == NULL) {
            error = ch_error_set(CH_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (ed->out)
        error = entry_copy(ed->out, &entries[i]);
done:
    free(detail);
    ch_store_keystore_entry_list_free(entries, n);
    return error;
}

int ch_svc_keystore_entry_delete(ch_svc *svc, const ch_actor *actor, const char *id, const char *alias,
                                 ch_store_keystore_entry *out)
{
    struct entry_edit ed = {.alias = alias, .out = out};
    int error;

    if (out)
        memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "changing a keystore")) < 0)
        return error;
    if (alias == NULL || *alias == '\0')
        return ch_error_set_field(CH_EINVAL, "alias", "the alias of the entry to delete is required");
    SVC_TX(svc, entry_edit_tx(svc, actor, id, &ed));
done:
    return error;
}

int ch_svc_keystore_entry_rename(ch_svc *svc, const ch_actor *actor, const char *id, const char *alias,
                                 const char *new_alias, ch_store_keystore_entry *out)
{
    struct entry_edit ed = {.alias = alias, .new_alias = new_alias, .out = out};
    int error;

    if (out)
        memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "changing a keystore")) < 0)
        return error;
    if (alias == NULL || *alias == '\0')
        return ch_error_set_field(CH_EINVAL, "alias", "the alias of the entry to rename is required");
    if ((error = alias_check(new_alias)) < 0)
        return error;
    SVC_TX(svc, entry_edit_tx(svc, actor, id, &ed));
done:
    if (error < 0 && out)
        ch_store_keystore_entry_dispose(out);
    return error;
}
