/* Certificates: issue from a profile, import, list, rename, delete, export the key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "svc_internal.h"

struct cert_tx {
    ch_svc *svc;
    const ch_actor *actor;
    svc_sealed *sealed;       /* a key to store with the certificate, or NULL */
    ch_store_cert *row;
    const char *action;
    const char *detail;       /* audit detail, prepared before the transaction */
    char *existing;           /* receives the id of a duplicate */
    const char *csr_id;       /* a stored CSR this certificate is for, marked signed with it */
    ch_store_cert *chain;     /* an import's chain (its CA certificates), kept beside it; those held already stay */
    size_t nchain;
    bool token_owns;          /* issued by a token limited to issuing: recorded as its, for it to read */
};

int svc_chain_rows(ch_store_cert **out, size_t *n, ch_cert *const *rest, size_t nrest, const char *tenant_id)
{
    int error;

    *out = NULL;
    *n = 0;
    if (nrest > 0 && (*out = calloc(nrest, sizeof **out)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    for (; *n < nrest; (*n)++)
        if ((error = svc_cert_row(&(*out)[*n], rest[*n], tenant_id, NULL, "imported", -1)) < 0) {
            (*n)++; /* (the row begun is disposed of with the others) */
            return error;
        }
    return 0;
}

void svc_chain_rows_free(ch_store_cert *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ch_store_cert_dispose(&rows[i]);
    free(rows);
}

int svc_chain_put(ch_svc *svc, const ch_actor *actor, const char *action, ch_store_cert *chain, size_t n,
                  const char *chain_of)
{
    int error;

    for (size_t i = 0; i < n; i++) {
        char held[CH_ID_MAX], *detail;
        json_t *d;
        if ((error = ch_store_cert_put(svc->store, &chain[i], held)) == CH_EEXISTS)
            continue;
        if (error < 0)
            return error;
        /* Each certificate that enters the inventory is in the audit log, this one with the
         * certificate it came with. */
        d = json_pack("{ss ss ss}", "subject", chain[i].subject ? chain[i].subject : "", "sha256", chain[i].sha256,
                      "chain_of", chain_of);
        detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
        json_decref(d);
        error = svc_audit(svc, actor, action, "certificate", chain[i].id, detail);
        free(detail);
        if (error < 0)
            return error;
    }
    return 0;
}

static int cert_tx_run(void *arg)
{
    struct cert_tx *t = arg;
    int error;

    if (t->sealed != NULL && (error = ch_store_key_put(t->svc->store, &t->sealed->row)) < 0)
        return error;
    if ((error = ch_store_cert_put(t->svc->store, t->row, t->existing)) < 0)
        return error;
    if ((error = svc_chain_put(t->svc, t->actor, t->action, t->chain, t->nchain, t->row->id)) < 0)
        return error;
    /* Once (the store refuses a second): two requests signing one CSR give it one certificate,
     * the other's rolled back with it. */
    if (t->csr_id != NULL && (error = ch_store_csr_attach(t->svc->store, t->actor->tenant_id, t->csr_id, t->row->id)) < 0)
        return error;
    /* A renewal is linked in the same transaction: it happens once or not at all. */
    if (t->row->renews != NULL &&
        (error = ch_store_cert_link_renewal(t->svc->store, t->actor->tenant_id, t->row->renews, t->row->id)) < 0)
        /* (a request renewing it at the same moment was first: said as the check before the
         * signing says it, not with the store's words) */
        return error != CH_ECONFLICT ? error
                                     : ch_error_set(CH_ECONFLICT, "certificate %s was renewed already, by another "
                                                    "request at the same moment: renew the newest of its line (GET "
                                                    "it: newest_renewal)", t->row->renews);
    /* And the keystore entries that held the certificate renewed hold the renewal with it: a
     * keystore exported after it has the certificate that goes on, never the one that ends. */
    if (t->row->renews != NULL && (error = svc_keystore_follow_renewal(t->svc, t->actor, t->row)) < 0)
        return error;
    if (t->token_owns && (error = ch_store_token_cert_add(t->svc->store, t->actor->name + 6, t->row->id)) < 0)
        return error;
    /* A renewal, by whoever, is the certificate of the tokens that issued the one it renews. */
    if (t->row->renews != NULL && (error = ch_store_token_cert_inherit(t->svc->store, t->row->renews, t->row->id)) < 0)
        return error;
    return svc_audit(t->svc, t->actor, t->action, "certificate", t->row->id, t->detail);
}

/* A key for a certificate held without one (the one given, sealed, or a CSR's): stored,
 * linked, the CSR found taking the certificate, audited together. */
struct key_attach {
    ch_svc *svc;
    const ch_actor *actor;
    svc_sealed *sealed;       /* the key given, or NULL: key_id is a CSR's */
    const char *key_id;
    const char *cert_id;
    const char *csr_id;       /* a CSR made here that takes the certificate, or NULL */
    const char *detail;
    char ca_id[CH_ID_MAX];    /* out: the CA of the certificate, held without its key, that took it */
};

/* The tenant's CA of this certificate held without its key, if there is one, signs with the key
 * the certificate is given, as an import of the CA with its key would have made it: the key
 * reached the certificate and its exports, and the CA still could not sign. */
static int key_attach_ca(struct key_attach *a)
{
    ch_store_ca *all = NULL;
    size_t n = 0;
    char *detail = NULL;
    int error;

    if ((error = ch_store_ca_list(a->svc->store, a->actor->tenant_id, NULL, &all, &n)) < 0)
        return error;
    for (size_t i = 0; i < n && error == 0; i++) {
        json_t *d;
        if (all[i].key_id != NULL || all[i].cert_id == NULL || strcmp(all[i].cert_id, a->cert_id) != 0)
            continue;
        if ((error = ch_store_ca_set_cert(a->svc->store, a->actor->tenant_id, all[i].id, all[i].cert_id, a->key_id)) < 0)
            break;
        d = json_pack("{ss ss ss}", "name", all[i].name, "certificate_id", a->cert_id, "by", "certificate.key_add");
        detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
        json_decref(d);
        error = detail ? svc_audit(a->svc, a->actor, "ca.key_add", "ca", all[i].id, detail)
                       : ch_error_set(CH_ENOMEM, "out of memory");
        free(detail);
        if (error == 0)
            snprintf(a->ca_id, sizeof a->ca_id, "%s", all[i].id);
    }
    ch_store_ca_list_free(all, n);
    return error;
}

static int key_attach_run(void *arg)
{
    struct key_attach *a = arg;
    int error;

    a->ca_id[0] = '\0';
    if (a->sealed != NULL && (error = ch_store_key_put(a->svc->store, &a->sealed->row)) < 0)
        return error;
    if ((error = ch_store_cert_set_key(a->svc->store, a->actor->tenant_id, a->cert_id, a->key_id)) < 0)
        return error;
    /* Once, as an import that stores the certificate: a CSR signed meanwhile refuses it. */
    if (a->csr_id != NULL &&
        (error = ch_store_csr_attach(a->svc->store, a->actor->tenant_id, a->csr_id, a->cert_id)) < 0)
        return error;
    if ((error = svc_audit(a->svc, a->actor, "certificate.key_add", "certificate", a->cert_id, a->detail)) < 0)
        return error;
    return key_attach_ca(a);
}

/* Seals the key (if any) and writes the audit detail (naming the CSR of this tenant that was
 * signed, when there is one; key_from_csr: the one an import without a key found by its key):
 * all the work that needs no lock. */
static int cert_prepare(ch_svc *svc, const ch_actor *actor, const ch_key *key, const char *csr_id, ch_store_cert *row,
                        svc_sealed *sealed, char **detail, const char *key_from_csr)
{
    json_t *d;
    int error;

    *detail = NULL;
    if (key != NULL) {
        if ((error = svc_key_seal(svc, actor->tenant_id, key, sealed)) < 0)
            return error;
        if ((row->key_id = strdup(sealed->id)) == NULL)
            return ch_error_set(CH_ENOMEM, "out of memory");
    }
    d = json_pack("{ss ss ss ss}", "name", row->name, "subject", row->subject, "serial", row->serial, "sha256",
                  row->sha256);
    if (d != NULL && row->profile)
        json_object_set_new(d, "profile", json_string(row->profile));
    if (d != NULL && csr_id)
        json_object_set_new(d, "csr_id", json_string(csr_id));
    if (d != NULL && key_from_csr)
        json_object_set_new(d, "key_from_csr", json_string(key_from_csr));
    /* A renewal's entry says which certificate it renews: the log alone tells its history. */
    if (d != NULL && row->renews)
        json_object_set_new(d, "renews", json_string(row->renews));
    /* And one cut at its CA's end says so, with the lifetime it was asked for. */
    if (d != NULL && row->lifetime - ch_issue_ttl_of(row->not_before, row->not_after) >= 60) {
        json_object_set_new(d, "capped_at_ca_end", json_true());
        json_object_set_new(d, "lifetime_asked", json_integer(row->lifetime));
    }
    *detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    return *detail ? 0 : ch_error_set(CH_ENOMEM, "out of memory");
}

static int parse_sans(ch_san *sans, size_t *n, const ch_svc_issue_req *req)
{
    size_t count = req->san_count;
    int error;

    if (count == 0 && req->sans != NULL)
        while (req->sans[count] != NULL)
            count++;
    if (count > CH_MAX_SANS)
        return ch_error_set_field(CH_EINVAL, "sans", "more than %u subject alternative names", CH_MAX_SANS);
    for (size_t i = 0; i < count; i++)
        if ((error = ch_san_parse(&sans[i], req->sans[i])) < 0)
            return error;
    *n = count;
    return 0;
}

/* The tenant's setting default_ca_id, read alone (the settings whole would open the webhooks'
 * sealed secrets on every issuance); empty when it names none. */
static int default_ca_setting(ch_svc *svc, const char *tenant_id, char id[CH_ID_MAX])
{
    char *text = NULL;
    json_t *j = NULL;
    int error = ch_store_tenant_settings_get(svc->store, tenant_id, &text);

    id[0] = '\0';
    if (error == 0 && text != NULL && (j = json_loads(text, 0, NULL)) != NULL &&
        json_is_string(json_object_get(j, "default_ca_id")))
        snprintf(id, CH_ID_MAX, "%s", json_string_value(json_object_get(j, "default_ca_id")));
    json_decref(j);
    if (text != NULL)
        ch_wipe(text, strlen(text)); /* it may hold a webhook's secret in clear, from before */
    free(text);
    return error;
}

/* The CA that signs when a request names none: the one the tenant's setting default_ca_id
 * names (its own issuer brought in beside the quickstart CAs), else the tenant's one active CA
 * that holds its key and signs no other CA of the tenant (the issuing end of its CA tree: the
 * quickstart issuing CA, not the root above it), as step-ca signs with its one intermediate.
 * With none or several, the request must name one, and the message says which there are. */
int svc_default_issuer(ch_svc *svc, const char *tenant_id, char id[CH_ID_MAX], const char *renewal_of)
{
    ch_store_ca *cas = NULL;
    size_t n = 0, found = 0;
    ch_buf names = CH_BUF_INIT;
    char chosen[CH_ID_MAX];
    int error;

    if ((error = default_ca_setting(svc, tenant_id, chosen)) < 0 ||
        (error = ch_store_ca_list(svc->store, tenant_id, NULL, &cas, &n)) < 0)
        return error;
    if (chosen[0] != '\0') {
        /* Named, it signs or the request is refused: another CA signing in its place would
         * issue under a chain the tenant's clients were not told to expect. */
        error = ch_error_set_field(CH_EPOLICY, "ca_id",
                                   "the tenant's default CA %s (setting default_ca_id) cannot sign any more "
                                   "(deleted, retired or without its key): name a CA with ca_id (--ca-id), or set "
                                   "default_ca_id to another (certhub settings set --default-ca)",
                                   chosen);
        for (size_t i = 0; i < n; i++)
            if (strcmp(cas[i].id, chosen) == 0 && svc_ca_signs(&cas[i])) {
                snprintf(id, CH_ID_MAX, "%s", chosen);
                error = 0;
            }
        ch_store_ca_list_free(cas, n);
        return error;
    }
    for (size_t i = 0; i < n && error == 0; i++) {
        bool signs_a_ca = false;

        if (!svc_ca_signs(&cas[i]))
            continue;
        for (size_t k = 0; k < n && !signs_a_ca; k++)
            signs_a_ca = cas[k].parent_id != NULL && strcmp(cas[k].parent_id, cas[i].id) == 0;
        if (signs_a_ca)
            continue;
        if (found++ == 0)
            snprintf(id, CH_ID_MAX, "%s", cas[i].id);
        if (found <= 5 && ch_buf_printf(&names, "%s%s (%s)", found > 1 ? ", " : "", cas[i].id, cas[i].name) < 0)
            error = ch_error_set(CH_ENOMEM, "out of memory");
    }
    if (error == 0 && found == 0)
        error = ch_error_set_field(CH_EINVAL, "ca_id",
                                   "no CA of this tenant can sign: create one first (certhub ca create, POST "
                                   "/api/v1/cas) or import one with its key");
    else if (error == 0 && found > 1 && renewal_of != NULL)
        /* (certhubd's own renewal: no request to give ca_id to, what a person does said) */
        error = ch_error_set_field(CH_EINVAL, "ca_id",
                                   "the CA that issued it is gone, and several CAs of the tenant sign (%s%s): name the "
                                   "one that signs by default (certhub settings set --default-ca ID), or renew it "
                                   "from one (certhub cert renew %.40s --ca-id ID)",
                                   names.data ? (const char *)names.data : "", found > 5 ? ", ..." : "", renewal_of);
    else if (error == 0 && found > 1)
        error = ch_error_set_field(CH_EINVAL, "ca_id",
                                   "ca_id (--ca-id) is required: %zu CAs of this tenant can sign: %s%s (or name the "
                                   "one that signs by default: setting default_ca_id, certhub settings set "
                                   "--default-ca)",
                                   found, names.data ? (const char *)names.data : "", found > 5 ? ", ..." : "");
    ch_buf_dispose(&names);
    ch_store_ca_list_free(cas, n);
    return error;
}

/* What an issuance holds until its commit is decided: on the caller's stack when it waits,
 * on the heap when it does not (the actor copied, the caller's being gone by then). */
struct ch_svc_pending {
    ch_store_cert row;
    svc_sealed sealed;
    char *detail;
    char *csr_id;
    struct cert_tx t;
    ch_actor actor;
    char *actor_strs[4];
    struct svc_gc_item *queued;
};

static void pending_dispose(struct ch_svc_pending *p)
{
    svc_sealed_dispose(&p->sealed);
    free(p->detail);
    free(p->csr_id);
    ch_store_cert_dispose(&p->row);
    for (size_t i = 0; i < 4; i++)
        free(p->actor_strs[i]);
}

/* The actor's strings copied into p, for a commit that outlives the caller's. */
static int pending_actor(struct ch_svc_pending *p, const ch_actor *actor)
{
    const char *strs[4] = {actor->tenant_id, actor->name, actor->user_id, actor->scope};

    p->actor = *actor;
    for (size_t i = 0; i < 4; i++)
        if (strs[i] != NULL && (p->actor_strs[i] = strdup(strs[i])) == NULL)
            return ch_error_set(CH_ENOMEM, "out of memory");
    p->actor.tenant_id = p->actor_strs[0];
    p->actor.name = p->actor_strs[1];
    p->actor.user_id = p->actor_strs[2];
    p->actor.scope = p->actor_strs[3];
    return 0;
}

int ch_svc_pending_end(ch_svc_pending *p, ch_store_cert *out)
{
    int error = svc_commit_end(p->queued);

    if (out) {
        memset(out, 0, sizeof *out);
        if (error == 0) {
            *out = p->row;
            memset(&p->row, 0, sizeof p->row);
        }
    }
    pending_dispose(p);
    free(p);
    return error;
}

/* Whether a signature with this CA key takes a millisecond or more (`openssl speed` on a
 * 2-core machine: RSA-3072 signs in 1.5-3 ms and RSA-4096 in 7, P-384 in 1.5, P-521 in 0.5;
 * P-256 in 0.04, Ed25519 in 0.1, RSA-2048 in 0.5). */
static bool slow_signer(const EVP_PKEY *k)
{
    int id = EVP_PKEY_get_base_id(k);

    if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS)
        return EVP_PKEY_get_bits(k) > 2048;
    if (id == EVP_PKEY_EC)
        return EVP_PKEY_get_bits(k) > 256;
    return id != EVP_PKEY_ED25519;
}

/* Whether checking the CSR's signature takes a millisecond or more (P-384 and P-521 in 1.2 ms;
 * P-256 in 0.12, Ed25519 in 0.3, any RSA key in 0.1 at most).  Read from the CSR's key
 * algorithm, not its decoded key: decoding it through OpenSSL 3.0's decoders cost a third of
 * the CPU of an issuance from a CSR (845 against 552 us). */
static bool slow_csr(const ch_csr *csr)
{
    int curve, id = ch_csr_key_id(csr, &curve);

    if (id == NID_undef || id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS || id == EVP_PKEY_ED25519)
        return false; /* an unknown one fails in the work itself */
    return id != EVP_PKEY_EC || curve != NID_X9_62_prime256v1;
}

/* What a token limited by its scope may not ask of an issuance (a renewal carries what the
 * certificate it renews has, which was held to the same). */
static int scope_request_check(const ch_actor *actor, const ch_svc_issue_req *req)
{
    /* A stored CSR is the tenant's, which such a token does not read. */
    if (req->csr_id != NULL)
        return ch_error_set_field(CH_EPERM, "csr_id", "this token is limited by its scope: it gives its CSR in the "
                                  "request (csr), not one stored here (csr_id)");
    if (req->renews != NULL)
        return 0;
    /* It issues what its profiles say: the usages, extensions and policies a request may
     * otherwise choose are the profile's (an OCSP or code signing usage asked of a TLS profile
     * makes another kind of certificate). */
    const char *f = req->key_usage || (req->leave_out & CH_EXT_KEY_USAGE)            ? "key_usage"
                    : req->ext_key_usage || (req->leave_out & CH_EXT_EXT_KEY_USAGE)  ? "ext_key_usage"
                    : req->leave_out & CH_EXT_BASIC_CONSTRAINTS                       ? "basic_constraints"
                    : req->leave_out & CH_EXT_AUTHORITY_KEY_ID                        ? "authority_key_id"
                    : req->critical_set || req->critical                             ? "critical"
                    : req->csr_usages                                                 ? "csr_usages"
                    : req->eku_oids                                                   ? "ext_key_usage_oids"
                    : req->policies                                                   ? "policy_identifiers"
                                                                                      : NULL;
    if (f != NULL)
        return ch_error_set_field(CH_EPERM, f, "this token is limited by its scope to its profiles as they are: "
                                  "%s is the profile's, not the request's", f);
    /* A key made here for a token that may not fetch keys would be a certificate nobody can use. */
    if (req->key_type != NULL && !(actor->perms & CH_PERM_KEYS_EXPORT))
        return ch_error_set_field(CH_EPERM, "key_type", "this token cannot fetch keys (its scope's keys_export is "
                                  "false), so a key made here would be of no use to it: give a CSR (csr) or a "
                                  "public key (public_key), or use a token with keys_export");
    return 0;
}

int ch_svc_cert_issue(ch_svc *svc, const ch_actor *actor, const ch_svc_issue_req *req, ch_store_cert *out)
{
    return ch_svc_cert_issue_start(svc, actor, req, out, NULL, NULL, NULL);
}

int ch_svc_cert_issue_start(ch_svc *svc, const ch_actor *actor, const ch_svc_issue_req *req, ch_store_cert *out,
                            void (*ready)(void *), void *arg, ch_svc_pending **pending)
{
    ch_san sans[CH_MAX_SANS];
    size_t nsans = 0;
    int sources = (req->key_type != NULL) + (req->csr != NULL) + (req->public_key != NULL) + (req->csr_id != NULL);
    ch_issue_opts o = {0};
    ch_svc_profile prof = {0};
    svc_ca *ca = NULL;
    ch_key *key = NULL;
    ch_csr *csr = NULL;
    ch_store_csr stored_csr = {0};
    ch_cert *cert = NULL;
    X509_NAME *subject = NULL;
    struct ch_svc_pending local = {0}, *p = &local;
    ch_store_cert *row = &p->row;
    ch_key_type kt;
    const char *method;
    char default_ca[CH_ID_MAX];
    const char *ca_id;
    int error;

    if (out)
        memset(out, 0, sizeof *out);
    if (pending)
        *pending = NULL;
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "issuing a certificate")) < 0)
        return error;
    if (sources != 1)
        return ch_error_set(CH_EINVAL, "give exactly one of key_type (a key made by the server), csr, csr_id (a CSR "
                                       "made here) or public_key");
    /* An empty string is not "not given": said so, rather than read as absent (a name made
     * up unasked) or as an id (a 404 naming nothing). */
    if (req->name != NULL && *req->name == '\0')
        return ch_error_set_field(CH_EINVAL, "name", "name is empty: give one, or leave it out for one taken from "
                                  "the subject");
    if ((error = svc_check_name(req->name, 128)) < 0)
        return error;
    if (actor->scope != NULL && actor->scope[0] != '\0' && (error = scope_request_check(actor, req)) < 0)
        return error;
    if (req->ca_id != NULL && *req->ca_id == '\0')
        return ch_error_set_field(CH_EINVAL, "ca_id", "ca_id is empty: give a CA's id, or leave it out for the "
                                  "tenant's one issuing CA");
    if ((error = parse_sans(sans, &nsans, req)) < 0)
        return error;
    if (req->digest && (error = ch_digest_parse(&o.digest, req->digest)) < 0)
        return error;
    if (req->subject.dn != NULL || req->subject.fields.common_name != NULL || req->subject.fields.organization ||
        req->subject.fields.country || req->subject.fields.org_unit || req->subject.fields.email) {
        if ((error = svc_subject(&subject, &req->subject)) < 0)
            return error;
    } else if (req->csr == NULL && req->csr_id == NULL) {
        /* No subject: the common name is the first DNS name, as an ACME certificate's is, or
         * else the certificate's name, as a "Generate" given a name alone makes it. */
        ch_svc_subject cn = {0};

        for (size_t i = 0; i < nsans && cn.fields.common_name == NULL; i++)
            if (sans[i].type == CH_SAN_DNS)
                cn.fields.common_name = sans[i].value;
        if (cn.fields.common_name == NULL && req->name != NULL && req->name[0] != '\0')
            cn.fields.common_name = req->name;
        if (cn.fields.common_name == NULL)
            return ch_error_set_field(CH_EINVAL, "subject",
                                      "the subject is required (at least a common name), unless a dns: SAN or the "
                                      "name can be its common name");
        if ((error = svc_subject(&subject, &cn)) < 0)
            return ch_error_set_field(error, "subject", "the subject is required: %s cannot be its common name (%s)",
                                      cn.fields.common_name == req->name ? "the name" : "the first dns: SAN",
                                      ch_error_last());
    }
    if ((error = ch_svc_profile_get(svc, actor, req->profile, &prof)) < 0) {
        if (error == CH_ENOTFOUND) /* a bad request, not a missing resource */
            error = ch_error_set_field(CH_EINVAL, "profile", "%s", ch_error_last());
        goto done;
    }
    o.profile = &prof.p;
    o.key_usage = req->key_usage;
    o.ext_key_usage = req->ext_key_usage;
    o.eku_oids = req->eku_oids;
    o.policies = req->policies;
    o.csr_usages = req->csr_usages;
    o.leave_out = req->leave_out;
    o.critical_set = req->critical_set;
    o.critical = req->critical;
    /* Before the refusal of CA profiles (a 422): Basic Constraints asked away from a CA's
     * certificate is the 400 that says why (RFC 5280 4.2.1.9), the mistake to fix first. */
    if ((req->leave_out | req->critical_set | req->critical) && (error = ch_issue_check_extensions(&o)) < 0)
        goto done;
    if (prof.p.is_ca) {
        error = ch_error_set_field(CH_EPOLICY, "profile",
                                   "profile %s makes a CA: create CAs through the CA calls (POST /api/v1/cas, "
                                   "certhub ca create) so they can sign",
                                   prof.p.name);
        goto done;
    }
    /* Looked for once the request itself holds up. */
    if ((ca_id = req->ca_id) == NULL) {
        /* A token limited to CAs signs with its one CA, or names one of its CAs: never told the
         * tenant's others. */
        if ((error = svc_scope_ca(actor, default_ca)) < 0 ||
            (error == 0 && (error = svc_default_issuer(svc, actor->tenant_id, default_ca, req->renewal_of)) < 0))
            goto done;
        ca_id = default_ca;
    }
    if ((error = svc_ca_load(svc, actor->tenant_id, ca_id, &ca)) < 0)
        goto done;
    /* A token limited to issuing: the profile and CA, the default one included, its scope's. */
    if ((error = svc_scope_issue_check(actor, prof.p.name, ca->id)) < 0)
        goto done;
    if (ca->key == NULL) {
        error = ch_error_set_field(CH_EPOLICY, "ca_id", "CA %s was imported without its private key and cannot sign",
                                   ca_id);
        goto done;
    }
    if (req->quick_only && slow_signer(ch_key_pkey(ca->key))) {
        error = CH_SVC_SLOW;
        goto done;
    }
    if (req->key_type != NULL) {
        if ((error = ch_key_type_parse(&kt, req->key_type)) < 0)
            goto done;
        /* Refused before the key is made (an RSA one takes up to seconds), as ch_cert_issue
         * would refuse it after. */
        if (prof.p.key_types != 0 && !(prof.p.key_types & CH_KEY_TYPE_BIT(kt))) {
            char allowed[100];
            ch_key_types_describe(allowed, sizeof allowed, prof.p.key_types);
            error = ch_error_set_field(CH_EPOLICY, "key_type", "key type %s is not one profile %s allows: its "
                                       "key_types are %s", ch_key_type_name(kt), prof.p.name, allowed);
            goto done;
        }
        if (req->quick_only && kt != CH_KEY_P256 && kt != CH_KEY_ED25519) { /* RSA: 50 ms to seconds; P-384: 1.5 ms */
            error = CH_SVC_SLOW;
            goto done;
        }
        if ((error = ch_key_generate(&key, kt)) < 0)
            goto done;
        o.subject_key = key;
        method = "generated";
    } else if (req->csr != NULL || req->csr_id != NULL) {
        if (req->csr_id != NULL) {
            if ((error = ch_store_csr_get(svc->store, &stored_csr, actor->tenant_id, req->csr_id)) < 0) {
                ch_error_set_field(error, "csr_id", "%s", ch_error_last());
                goto done;
            }
            if (stored_csr.cert_id != NULL) {
                error = ch_error_set_field(CH_ECONFLICT, "csr_id", "CSR %s is signed already (%s)", req->csr_id,
                                           stored_csr.cert_id);
                goto done;
            }
        }
        error = req->csr_id ? ch_csr_parse(&csr, stored_csr.der, stored_csr.der_len)
                            : ch_csr_parse(&csr, req->csr, req->csr_len);
        if (error == 0 && req->quick_only && slow_csr(csr)) {
            error = CH_SVC_SLOW;
            goto done;
        }
        if (error < 0 || (error = ch_csr_verify(csr)) < 0) {
            ch_error_set_field(error, req->csr_id ? "csr_id" : "csr", "%s", ch_error_last());
            goto done;
        }
        o.csr = csr;
        method = "csr_signed";
    } else {
        if ((error = ch_key_parse_public(&key, req->public_key, req->public_key_len)) < 0) {
            ch_error_set_field(error, "public_key", "%s", ch_error_last());
            goto done;
        }
        o.subject_key = key;
        method = "issued";
    }
    o.subject = subject;
    if (nsans > 0 || req->sans != NULL) {
        o.sans = sans;
        o.san_count = nsans;
    }
    o.ca_cert = ca->cert;
    o.issuer_text = ca->subject; /* printing the CA's name cost 1 % of an issuance from a CSR */
    o.ca_key = ca->key;
    o.days = req->days;
    o.ttl = req->ttl;
    o.not_after = req->not_after;
    o.path_len = -2;
    o.cap_validity = req->cap_validity;
    o.crl_urls = (const char *const *)ca->crl_urls;
    o.ocsp_urls = (const char *const *)ca->ocsp_urls;
    o.ca_issuers_urls = (const char *const *)ca->ca_issuers_urls;
    if ((error = ch_cert_issue(&cert, &o)) < 0)
        goto done;
    if ((error = svc_cert_row(row, cert, actor->tenant_id, req->name, method, o.profile->is_ca)) < 0)
        goto done;
    row->profile = strdup(o.profile->name);
    row->ca_id = strdup(ca->id);
    /* The lifetime asked, which a cut at the CA's end (cap_validity) may have shortened: the
     * renewals keep this one once the CA has room again, not the cut one. */
    row->lifetime = o.not_after != 0 ? ch_issue_ttl_of(row->not_before, o.not_after)
                    : o.ttl != 0     ? o.ttl
                    : o.days != 0    ? (int64_t)o.days * 86400
                                     : ch_profile_default_life(o.profile);
    row->auto_renew = req->auto_renew;
    /* A lead time asked for is checked against the lifetime issued (known only now: the
     * profile's, or cut at the CA's end); one carried over by a renewal is not refused. */
    if (req->renew_before > 0 && !req->renew_before_kept &&
        (error = ch_renew_before_check(row->not_before, row->not_after, req->renew_before)) < 0)
        goto done;
    row->renew_before = req->renew_before > 0 ? req->renew_before : 0;
    row->renew_at = ch_renew_at_before(row->not_before, row->not_after, row->renew_before, 2.0 / 3.0);
    if (req->auto_renew) {
        ch_svc_settings st;
        if (svc_settings_of(svc, actor->tenant_id, &st) == 0)
            row->renew_at = ch_renew_at_before(row->not_before, row->not_after, row->renew_before, st.renewal_point);
        /* (told before the commit: the moment is minutes away at the least, the commit's
         * milliseconds; a commit that fails leaves a round that finds nothing) */
        svc_scheduler_due(svc, row->renew_at);
    }
    row->renews = req->renews ? strdup(req->renews) : NULL;
    /* A CSR made here holds its key sealed: the certificate has it as its own; so does a
     * renewal that reuses the key certhub holds for the certificate it renews. */
    if ((stored_csr.key_id != NULL || req->key_id != NULL) &&
        (row->key_id = strdup(stored_csr.key_id != NULL ? stored_csr.key_id : req->key_id)) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    /* Not waiting: what the commit reads moves to the heap, the actor copied. */
    if (ready != NULL) {
        if ((p = calloc(1, sizeof *p)) == NULL) {
            p = &local;
            error = ch_error_set(CH_ENOMEM, "out of memory");
            goto done;
        }
        p->row = local.row;
        memset(&local.row, 0, sizeof local.row);
        row = &p->row;
        if ((error = pending_actor(p, actor)) < 0)
            goto done;
        actor = &p->actor;
    }
    if (req->csr_id != NULL && (p->csr_id = strdup(req->csr_id)) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    /* A public key alone has no private half to keep. */
    if ((error = cert_prepare(svc, actor, req->key_type ? key : NULL, p->csr_id, row, &p->sealed, &p->detail,
                              NULL)) < 0)
        goto done;

    p->t = (struct cert_tx){svc, actor, req->key_type ? &p->sealed : NULL, row, "certificate.issue", p->detail, NULL,
                            p->csr_id, NULL, 0, ch_svc_scope_issues(actor->scope)};
    if (ready == NULL)
        error = svc_commit(svc, cert_tx_run, &p->t);
    else if ((error = svc_commit_async(svc, cert_tx_run, &p->t, ready, arg, &p->queued)) == 1)
        *pending = p; /* p is the caller's until ch_svc_pending_end */
    if (error == 0 && out) {
        *out = *row;
        memset(row, 0, sizeof *row);
    }
done:
    if (error != 1) {
        pending_dispose(p);
        if (p != &local)
            free(p);
    }
    ch_cert_free(cert);
    ch_csr_free(csr);
    ch_store_csr_dispose(&stored_csr);
    ch_key_free(key);
    svc_ca_release(ca);
    X509_NAME_free(subject);
    ch_svc_profile_dispose(&prof);
    return error;
}

/* An import of a certificate held already, named as the inventory shows it, with its id for
 * scripts. */
static int already_stored(const ch_store_cert *held)
{
    return ch_error_set(CH_EEXISTS, "this certificate is already stored in this tenant as \"%s\" (%s)", held->name,
                        held->id);
}

/* What an import and its preview read alike: the caller may import, the name, the file (the
 * certificate, its key, the CA certificates beside it) and the row it would be stored as.
 * The CSR made here whose key the certificate's is, if one waits for it, in *csr (csr->id
 * NULL when none): the row is then as attaching it to the CSR makes it (its method, the CSR's
 * name unless one is given, and the CSR's key unless one came with it).  On error, what was
 * read is the caller's to free all the same (NULL and zeroed when not read). */
static int import_read(ch_svc *svc, const ch_actor *actor, const char *name, const char *fallback,
                       const uint8_t *cert_data, size_t cert_len, const uint8_t *key_data, size_t key_len,
                       const char *password, const char *key_password, ch_cert **cert, ch_key **key,
                       ch_cert ***rest, size_t *nrest, ch_store_cert *row, ch_store_csr *csr)
{
    bool named = name != NULL && *name != '\0';
    int error;

    memset(csr, 0, sizeof *csr);
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "importing a certificate")) < 0 ||
        (error = svc_check_name(name, 128)) < 0 || (fallback && *fallback && (error = svc_check_name(fallback, 128)) < 0) ||
        (error = svc_cert_key_chain(cert, key, rest, nrest, cert_data, cert_len, key_data, key_len, password,
                                    key_password)) < 0)
        return error;
    /* With its key too: the certificate is the one signed for that CSR all the same, and a CSR
     * left waiting for a certificate held here would wait for ever. */
    if ((error = svc_csr_waiting_for(svc, actor->tenant_id, *cert, csr)) < 0) {
        if (error != CH_ENOTFOUND)
            return error;
        ch_error_clear();
    }
    /* The name given; else the CSR's (the file's name, "partner.pem", said nothing of what the
     * CSR was made for); else the file's. */
    if ((error = svc_cert_row(row, *cert, actor->tenant_id,
                              named ? name : csr->id ? csr->name : fallback && *fallback ? fallback : name,
                              csr->id ? "csr_signed" : "imported", -1)) < 0)
        return error;
    if (*key == NULL && csr->id != NULL && (row->key_id = strdup(csr->key_id)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    return svc_cert_link_issuer(svc, actor->tenant_id, *cert, row);
}

/* The audit detail of a key added to a certificate held without one: the CSR that took the
 * certificate, and whether the key was that CSR's (NULL, no detail, without a CSR). */
static int key_add_detail(char **out, const ch_store_csr *csr, bool key_taken)
{
    json_t *d;

    *out = NULL;
    if (csr->id == NULL)
        return 0;
    d = json_pack("{ss}", key_taken ? "key_from_csr" : "csr_id", csr->id);
    *out = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    return *out ? 0 : ch_error_set(CH_ENOMEM, "out of memory");
}

int ch_svc_cert_import(ch_svc *svc, const ch_actor *actor, const char *name, const uint8_t *cert_data,
                       size_t cert_len, const uint8_t *key_data, size_t key_len, const char *password,
                       const char *key_password, ch_store_cert *out, char existing_id[CH_ID_MAX],
                       ch_svc_csr_found *found)
{
    return ch_svc_cert_import_ex(svc, actor, name, NULL, cert_data, cert_len, key_data, key_len, password,
                                 key_password, out, existing_id, found);
}

int ch_svc_cert_import_ex(ch_svc *svc, const ch_actor *actor, const char *name, const char *fallback_name,
                          const uint8_t *cert_data, size_t cert_len, const uint8_t *key_data, size_t key_len,
                          const char *password, const char *key_password, ch_store_cert *out,
                          char existing_id[CH_ID_MAX], ch_svc_csr_found *found)
{
    ch_cert *cert = NULL, **rest = NULL;
    ch_key *key = NULL;
    ch_store_csr csr = {0};
    ch_store_cert row = {0}, *chain = NULL;
    size_t nrest = 0, nchain = 0;
    char existing[CH_ID_MAX] = "";
    struct cert_tx t;
    svc_sealed sealed = {0};
    char *detail = NULL, *add_detail = NULL;
    int error;

    if (out)
        memset(out, 0, sizeof *out);
    if (found != NULL)
        memset(found, 0, sizeof *found);
    if ((error = import_read(svc, actor, name, fallback_name, cert_data, cert_len, key_data, key_len, password,
                             key_password, &cert, &key, &rest, &nrest, &row, &csr)) < 0)
        goto done;
    /* The chain sent with it (intermediates, a root) is kept in the inventory beside it, and its
     * exports carry it: it was dropped, and the certificate went out alone. */
    if ((error = svc_chain_rows(&chain, &nchain, rest, nrest, actor->tenant_id)) < 0)
        goto done;
    /* The CSR found named in the audit entry: as the one whose key it took, or (its key given)
     * as the one it was signed for. */
    if ((error = cert_prepare(svc, actor, key, key ? csr.id : NULL, &row, &sealed, &detail, key ? NULL : csr.id)) < 0)
        goto done;
    /* The CSR found takes the certificate in the same transaction (once: a CSR signed
     * meanwhile refuses it, and the import with it). */
    t = (struct cert_tx){svc, actor, key ? &sealed : NULL, &row, "certificate.import", detail, existing, csr.id, chain,
                         nchain, false};
    error = svc_commit(svc, cert_tx_run, &t);
    /* Held without its key (imported alone before, the key file coming later; or kept without
     * one while its CSR was not waiting for it): the key given, or the CSR's found, is added to
     * it, as importing it now would have stored them, and the CSR takes it. */
    if (error == CH_EEXISTS && existing[0] && (key != NULL || csr.id != NULL)) {
        struct key_attach a = {svc, actor, key ? &sealed : NULL, key ? sealed.id : csr.key_id, existing, csr.id, NULL,
                               ""};
        if ((error = key_add_detail(&add_detail, &csr, key == NULL)) < 0)
            goto done;
        a.detail = add_detail;
        /* Not found: it has a key already, and stays a plain duplicate (its CSR, if one waits,
         * waiting still); a store error is reported as itself. */
        if ((error = svc_commit(svc, key_attach_run, &a)) == CH_ENOTFOUND)
            error = CH_EEXISTS;
        else if (error == 0 && a.ca_id[0]) /* (read with its key at its next use) */
            svc_ca_forget(svc, actor->tenant_id, a.ca_id);
        if (error == 0 && (error = out ? ch_store_cert_get(svc->store, out, actor->tenant_id, existing) : 0) == 0)
            error = 1;
        if (error == 1)
            svc_csr_found_set(found, &csr, key == NULL);
        goto done;
    }
    if (error < 0)
        goto done;
    if (out) {
        *out = row;
        memset(&row, 0, sizeof row);
    }
    svc_csr_found_set(found, &csr, key == NULL);
done:
    if (error == CH_EEXISTS && existing_id != NULL)
        snprintf(existing_id, CH_ID_MAX, "%s", existing);
    if (error == CH_EEXISTS) {
        ch_store_cert held = {0};
        if (existing[0] && ch_store_cert_get(svc->store, &held, actor->tenant_id, existing) == 0)
            already_stored(&held);
        else
            ch_error_set(CH_EEXISTS, "this certificate is already stored in this tenant as %s", existing);
        ch_store_cert_dispose(&held);
    }
    svc_sealed_dispose(&sealed);
    free(detail);
    free(add_detail);
    ch_store_cert_dispose(&row);
    svc_chain_rows_free(chain, nchain);
    ch_cert_list_free(rest, nrest);
    ch_cert_free(cert);
    ch_key_free(key);
    ch_store_csr_dispose(&csr);
    return error;
}

int ch_svc_cert_import_preview(ch_svc *svc, const ch_actor *actor, const char *name, const uint8_t *cert_data,
                               size_t cert_len, const uint8_t *key_data, size_t key_len, const char *password,
                               const char *key_password, ch_svc_import_preview *out)
{
    return ch_svc_cert_import_preview_ex(svc, actor, name, NULL, cert_data, cert_len, key_data, key_len, password,
                                         key_password, out);
}

int ch_svc_cert_import_preview_ex(ch_svc *svc, const ch_actor *actor, const char *name, const char *fallback_name,
                                  const uint8_t *cert_data, size_t cert_len, const uint8_t *key_data, size_t key_len,
                                  const char *password, const char *key_password, ch_svc_import_preview *out)
{
    ch_cert *cert = NULL, **rest = NULL;
    ch_key *key = NULL;
    ch_store_csr csr = {0};
    ch_store_cert held = {0};
    char existing[CH_ID_MAX] = "";
    size_t nrest = 0;
    int error;

    memset(out, 0, sizeof *out);
    if ((error = import_read(svc, actor, name, fallback_name, cert_data, cert_len, key_data, key_len, password,
                             key_password, &cert, &key, &rest, &nrest, &out->row, &csr)) < 0)
        goto done;
    out->has_key = key != NULL || csr.id != NULL;
    svc_csr_found_set(&out->csr, &csr, key == NULL);
    /* (no key_id in a preview: nothing is stored) */
    free(out->row.key_id);
    out->row.key_id = NULL;
    out->chain_len = nrest;
    /* Held already: refused as the import would refuse it, unless the import would add the key
     * given now, or the CSR's found, to it. */
    if ((error = ch_store_cert_get_by_sha256(svc->store, &held, actor->tenant_id, out->row.sha256)) == 0) {
        if ((key != NULL || csr.id != NULL) && held.key_id == NULL)
            snprintf(out->key_for, sizeof out->key_for, "%s", held.id);
        else {
            error = already_stored(&held);
            snprintf(existing, sizeof existing, "%s", held.id);
        }
        ch_store_cert_dispose(&held);
        if (error < 0)
            goto done;
    } else if (error != CH_ENOTFOUND) {
        goto done;
    }
    error = svc_chain_gap(svc, actor->tenant_id, &out->row, rest, nrest, &out->missing);
done:
    if (error < 0) {
        ch_svc_import_preview_dispose(out);
        /* (what a client names the duplicate by, as the import's refusal does) */
        snprintf(out->existing, sizeof out->existing, "%s", existing);
    }
    ch_store_csr_dispose(&csr);
    ch_cert_list_free(rest, nrest);
    ch_cert_free(cert);
    ch_key_free(key);
    return error;
}

void ch_svc_import_preview_dispose(ch_svc_import_preview *p)
{
    if (p == NULL)
        return;
    ch_store_cert_dispose(&p->row);
    free(p->missing);
    memset(p, 0, sizeof *p);
}

int ch_svc_cert_get(ch_svc *svc, const ch_actor *actor, const char *id, ch_store_cert *out)
{
    int error;

    if ((error = svc_need(actor, CH_ROLE_VIEWER, "reading certificates")) < 0)
        return error;
    return ch_store_cert_get(svc->store, out, actor->tenant_id, id);
}

int ch_svc_cert_newest_renewal(ch_svc *svc, const ch_actor *actor, const char *id, char out[CH_ID_MAX])
{
    int error;

    out[0] = '\0';
    if ((error = svc_need(actor, CH_ROLE_VIEWER, "reading certificates")) < 0)
        return error;
    return ch_store_cert_newest_renewal(svc->store, actor->tenant_id, id, out);
}

int ch_svc_cert_list(ch_svc *svc, const ch_actor *actor, const ch_store_cert_filter *filter, size_t limit,
                     const char *cursor, ch_store_cert **out, size_t *count, char **next_cursor)
{
    int error;

    if ((error = svc_need(actor, CH_ROLE_VIEWER, "listing certificates")) < 0)
        return error;
    return ch_store_cert_list(svc->store, actor->tenant_id, filter, limit, cursor, out, count, next_cursor);
}

int ch_svc_cert_expiry(ch_svc *svc, const ch_actor *actor, int64_t bucket, size_t nbuckets, int64_t *valid,
                       int64_t *expired, int64_t *buckets)
{
    int error;

    if ((error = svc_need(actor, CH_ROLE_VIEWER, "reading certificates")) < 0)
        return error;
    return ch_store_cert_expiry(svc->store, actor->tenant_id, ch_now(), bucket, nbuckets, valid, expired, buckets);
}

int svc_cert_rename_tx(ch_svc *svc, const ch_actor *actor, const char *id, const char *name)
{
    json_t *d = json_pack("{ss}", "name", name);
    char *detail = json_dumps(d, JSON_COMPACT);
    int error = ch_store_cert_rename(svc->store, actor->tenant_id, id, name);

    json_decref(d);
    if (error == 0)
        error = svc_audit(svc, actor, "certificate.rename", "certificate", id, detail);
    free(detail);
    return error;
}

/* Deletes certificate id as ch_svc_cert_delete does; tidy_days (0: a person's delete) says in
 * its audit entry that tidying removed it, and after how many days past its end.  Refused
 * (CH_ECONFLICT) before anything is written when a CA or a keystore holds it. */
static int delete_tx(ch_svc *svc, const ch_actor *actor, const char *id, char *renewal_off, int tidy_days)
{
    ch_store_cert c;
    ch_store_ca *cas = NULL;
    char *auto_renew_off = NULL;
    size_t n = 0;
    int error;

    if ((error = ch_store_cert_get(svc->store, &c, actor->tenant_id, id)) < 0)
        return error;
    if ((error = ch_store_ca_list(svc->store, actor->tenant_id, NULL, &cas, &n)) == 0) {
        for (size_t i = 0; i < n && error == 0; i++)
            if (strcmp(cas[i].cert_id, id) == 0)
                error = ch_error_set(CH_ECONFLICT, "the certificate belongs to CA \"%s\": delete the CA instead",
                                     cas[i].name);
        ch_store_ca_list_free(cas, n);
    }
    /* A keystore's entry or chain would lose it (and its export fail): that entry (or its
     * keystore) goes first. */
    if (error == 0) {
        char where[400];
        int e = ch_store_keystore_holding(svc->store, actor->tenant_id, id, where, sizeof where);
        if (e == 0)
            error = ch_error_set(CH_ECONFLICT, "the certificate is in %s: delete that entry (or the keystore) first",
                                 where);
        else if (e != CH_ENOTFOUND)
            error = e;
    }
    /* A CSR made here that it was signed for can be signed again. */
    if (error == 0)
        error = ch_store_csr_detach(svc->store, actor->tenant_id, id);
    /* Its line of renewals closes over the gap (links to it would lead nowhere, and the one
     * it renewed could never be renewed again: "renewed already, by" a certificate gone).
     * The newest of a line deleted, the one before it does not renew itself in its place. */
    if (error == 0 && (c.renews != NULL || c.renewed_by != NULL))
        error = ch_store_cert_unlink_renewal(svc->store, actor->tenant_id, id, c.renews, c.renewed_by);
    if (error == 0 && c.renews != NULL && c.renewed_by == NULL) {
        ch_store_cert prev;
        if ((error = ch_store_cert_get(svc->store, &prev, actor->tenant_id, c.renews)) == 0) {
            if (prev.auto_renew && (error = ch_store_cert_set_auto_renew(svc->store, actor->tenant_id, prev.id,
                                                                         false, 0)) == 0) {
                snprintf(renewal_off, CH_ID_MAX, "%s", prev.id);
                auto_renew_off = strdup(prev.id);
            }
            ch_store_cert_dispose(&prev);
        } else if (error == CH_ENOTFOUND) {
            error = 0;
        }
    }
    if (error == 0)
        error = ch_store_cert_delete(svc->store, actor->tenant_id, id);
    /* Its key goes with it unless something else still uses it (a CSR). */
    if (error == 0)
        error = svc_key_drop(svc, actor->tenant_id, c.key_id);
    if (error == 0) {
        json_t *d = auto_renew_off || tidy_days ? json_object() : NULL;
        char *detail;
        if (auto_renew_off)
            json_object_set_new(d, "auto_renew_off", json_string(auto_renew_off));
        if (tidy_days) {
            char na[32];
            ch_time_format(na, sizeof na, c.not_after);
            json_object_set_new(d, "tidy", json_true());
            json_object_set_new(d, "expired_days", json_integer(tidy_days));
            json_object_set_new(d, "not_after", json_string(na));
        }
        detail = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        error = svc_audit(svc, actor, "certificate.delete", "certificate", id, detail);
        free(detail);
        json_decref(d);
    }
    free(auto_renew_off);
    ch_store_cert_dispose(&c);
    return error;
}

int ch_svc_cert_delete(ch_svc *svc, const ch_actor *actor, const char *id, char *renewal_off)
{
    char off[CH_ID_MAX] = "";
    int error;

    if (renewal_off != NULL)
        *renewal_off = '\0';
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "deleting a certificate")) < 0)
        return error;
    SVC_TX(svc, delete_tx(svc, actor, id, off, 0));
    if (renewal_off != NULL)
        memcpy(renewal_off, off, CH_ID_MAX);
done:
    return error;
}

/* ------------------------------------------------------------- tidying (Vault's tidy) */

/* Certificates removed in one transaction: the store's one writer is held for a batch, not
 * for a tenant's million, and a crash loses a batch's work alone (what is left is found again
 * by the next run). */
#define TIDY_BATCH 200

struct tidy_tx {
    ch_svc *svc;
    const ch_actor *actor;
    const ch_store_cert_ref *refs;
    size_t n;
    int days;
    ch_svc_tidy_result *out;
};

static void tidy_note(ch_svc_tidy_result *r, const char *id)
{
    if (r->nids < CH_TIDY_MAX_IDS && r->ids != NULL)
        snprintf(r->ids[r->nids++], CH_ID_MAX, "%s", id);
    r->count++;
}

/* One batch: each certificate in a savepoint of its own, so that one taken since it was found
 * (put in a keystore, deleted by a person: refused, or not found) is left and the others go.
 * Each is audited certificate.delete as one a person deletes, with {"tidy": true,
 * "expired_days", "not_after"}: a reader looking for what became of a certificate finds it by
 * its id as any deletion, and a run of a million ids would not fit one entry. */
static int tidy_tx_run(struct tidy_tx *t)
{
    char off[CH_ID_MAX];
    int error;

    for (size_t i = 0; i < t->n; i++) {
        if ((error = ch_store_savepoint(t->svc->store)) < 0)
            return error;
        error = delete_tx(t->svc, t->actor, t->refs[i].id, off, t->days);
        if (error == CH_ECONFLICT || error == CH_ENOTFOUND) {
            ch_store_savepoint_rollback(t->svc->store);
            ch_error_clear();
            continue;
        }
        if (error < 0 || (error = ch_store_savepoint_release(t->svc->store)) < 0)
            return error;
        tidy_note(t->out, t->refs[i].id);
    }
    return 0;
}

static int tidy_run(ch_svc *svc, const ch_actor *actor, int days, bool dry_run, ch_svc_tidy_result *out)
{
    int64_t now = ch_now(), after_na = 0;
    char after_id[CH_ID_MAX] = "";
    bool more = true;
    int error = 0;

    out->expired_days = days;
    out->cutoff = now - (int64_t)days * 86400;
    if ((out->ids = calloc(CH_TIDY_MAX_IDS, sizeof *out->ids)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    /* Found outside the transactions (readers never wait for the writer), newest end first: a
     * line of renewals all past the cutoff loses its newest first, and the first of it, left
     * with no renewal then, is no longer kept as the name of a line in force. */
    while (more && error == 0) {
        ch_store_cert_ref *refs = NULL;
        size_t n = 0;
        if ((error = ch_store_cert_tidy_candidates(svc->store, actor->tenant_id, out->cutoff, now, &after_na, after_id,
                                                   TIDY_BATCH, &refs, &n, &more)) < 0)
            break;
        if (dry_run) {
            for (size_t i = 0; i < n; i++)
                tidy_note(out, refs[i].id);
        } else if (n > 0) {
            struct tidy_tx t = {svc, actor, refs, n, days, out};
            size_t before = out->count, nids = out->nids;
            SVC_TX(svc, tidy_tx_run(&t));
done:
            if (error < 0) { /* (rolled back: none of this batch went) */
                out->count = before;
                out->nids = nids;
            }
        }
        free(refs);
    }
    return error;
}

int ch_svc_tidy(ch_svc *svc, const ch_actor *actor, int expired_days, bool dry_run, ch_svc_tidy_result *out)
{
    ch_svc_settings st;
    int error;

    memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_ADMIN, "tidying certificates")) < 0)
        return error;
    if (expired_days == 0) {
        if ((error = svc_settings_of(svc, actor->tenant_id, &st)) < 0)
            return error;
        if ((expired_days = st.tidy_expired_days) == 0)
            return ch_error_set_field(CH_EINVAL, "expired_days",
                                      "give expired_days (certhub tidy --expired-days N: %d to %d days after a "
                                      "certificate's end), or set the tenant's tidy_expired_days (certhub settings set "
                                      "--tidy-expired-days N)", CH_TIDY_MIN_DAYS, CH_TIDY_MAX_DAYS);
    }
    if (expired_days < CH_TIDY_MIN_DAYS || expired_days > CH_TIDY_MAX_DAYS)
        return ch_error_set_field(CH_EINVAL, "expired_days", "expired_days is a number of days from %d to %d after a "
                                  "certificate's end", CH_TIDY_MIN_DAYS, CH_TIDY_MAX_DAYS);
    if ((error = tidy_run(svc, actor, expired_days, dry_run, out)) < 0)
        ch_svc_tidy_result_dispose(out);
    return error;
}

void ch_svc_tidy_result_dispose(ch_svc_tidy_result *r)
{
    if (r == NULL)
        return;
    free(r->ids);
    memset(r, 0, sizeof *r);
}

int ch_svc_tidy_due(ch_svc *svc)
{
    ch_store_tenant *tenants = NULL;
    size_t nt = 0;
    int removed = 0;

    if (ch_store_tenant_list(svc->store, &tenants, &nt) < 0)
        return 0;
    for (size_t t = 0; t < nt; t++) {
        ch_actor system = {tenants[t].id, "system:tidy", CH_ROLE_ADMIN, 0, NULL, NULL};
        ch_svc_tidy_result r = {0};
        ch_svc_settings st;
        /* (a revoked tenant's data is kept as it was: its restoring finds it all) */
        if (tenants[t].disabled_at != 0 || svc_settings_of(svc, tenants[t].id, &st) < 0 || st.tidy_expired_days == 0)
            continue;
        if (tidy_run(svc, &system, st.tidy_expired_days, false, &r) < 0)
            svc_log(svc, "tenant %s: tidying the certificates ended more than %d days ago stopped: %s", tenants[t].name,
                    st.tidy_expired_days, ch_error_last());
        else if (r.count > 0)
            svc_log(svc, "tenant %s: %zu certificates ended more than %d days ago removed (tidy_expired_days)",
                    tenants[t].name, r.count, st.tidy_expired_days);
        removed += (int)r.count;
        ch_svc_tidy_result_dispose(&r);
        ch_error_clear();
    }
    ch_store_tenant_list_free(tenants, nt);
    return removed;
}

int ch_svc_key_export(ch_svc *svc, const ch_actor *actor, const char *cert_id, const char *password, ch_buf *out)
{
    ch_store_cert c = {0};
    ch_key *key = NULL;
    int error;

    if ((error = svc_need(actor, CH_ROLE_VIEWER, "exporting a private key")) < 0)
        return error;
    if (!(actor->perms & CH_PERM_KEYS_EXPORT))
        return ch_error_set(CH_EPERM, "exporting a private key needs the keys:export permission");
    if ((error = ch_store_cert_get(svc->store, &c, actor->tenant_id, cert_id)) < 0)
        return error;
    if (c.key_id == NULL) {
        error = ch_error_set(CH_ENOTFOUND, "certhub holds no private key for this certificate");
        goto done;
    }
    if ((error = svc_key_load(svc, actor->tenant_id, c.key_id, &key)) < 0 ||
        (error = ch_key_write_pem(out, key, password)) < 0)
        goto done;
    /* The export is written to the audit log before the key leaves; the empty password writes
     * the key in clear, as none does. */
    SVC_TX(svc, svc_audit(svc, actor, "key.export", "certificate", cert_id,
                          password != NULL && *password != '\0' ? "{\"format\":\"pem\",\"encrypted\":true}"
                                                                : "{\"format\":\"pem\",\"encrypted\":false}"));
done:
    if (error < 0)
        ch_buf_dispose_secure(out);
    ch_key_free(key);
    ch_store_cert_dispose(&c);
    return error;
}
