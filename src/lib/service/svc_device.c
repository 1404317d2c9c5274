/*
 * Device authentication: the one decision every broker integration asks for (the mosquitto
 * plugin in process, other brokers over HTTP).  Given a client's certificate chain and,
 * optionally, the MQTT user name "tenant/device":
 *
 *   a device seen before is recognised by the SHA-256 of its certificate's DER, without
 *   parsing it (DESIGN.md: decoding per connection is the cost to avoid), and allowed while
 *   it is active, its certificate unexpired and its trusted certificate enabled;
 *   an unknown device is verified with OpenSSL against the tenant's enabled trusted
 *   certificates (client-auth purpose, time, strict X.509) and registered when the trusted
 *   certificate it chains to has auto registration, else refused; without a tenant in the
 *   user name, its tenant is the one whose trusted certificates verify it.
 *
 * The device id is the certificate's CN; one holding '+', '#', '/', NUL or a control
 * character is refused (it would be an MQTT wildcard or topic level).  Every decision has a
 * reason, counted for /metrics and kept in a bounded log.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "svc_internal.h"

static const char *const reasons[CH_DECISION_NREASONS] = {
    [CH_DECIDE_KNOWN_DEVICE] = "known_device",
    [CH_DECIDE_AUTO_REGISTERED] = "auto_registered",
    [CH_DECIDE_NEW_CERTIFICATE] = "known_device_new_certificate",
    [CH_DECIDE_UNKNOWN_DEVICE] = "unknown_device",
    [CH_DECIDE_UNTRUSTED] = "untrusted",
    [CH_DECIDE_ANCHOR_DISABLED] = "anchor_disabled",
    [CH_DECIDE_ANCHOR_DELETED] = "anchor_deleted",
    [CH_DECIDE_ANCHOR_UNVERIFIED] = "anchor_unverified",
    [CH_DECIDE_DEVICE_BLOCKED] = "device_blocked",
    [CH_DECIDE_EXPIRED] = "certificate_expired",
    [CH_DECIDE_BAD_DEVICE_ID] = "bad_device_id",
    [CH_DECIDE_USERNAME_MISMATCH] = "username_mismatch",
    [CH_DECIDE_UNKNOWN_TENANT] = "unknown_tenant",
    [CH_DECIDE_TENANT_REVOKED] = "tenant_revoked",
    [CH_DECIDE_BAD_CERTIFICATE] = "bad_certificate",
    [CH_DECIDE_CERT_ELSEWHERE] = "certificate_of_another_tenant",
    [CH_DECIDE_CERT_SUPERSEDED] = "certificate_superseded",
    [CH_DECIDE_NOT_YET_VALID] = "certificate_not_yet_valid",
    [CH_DECIDE_CLIENT_ID_IN_USE] = "client_id_in_use",
    [CH_DECIDE_ERROR] = "error",
};

const char *ch_decision_reason_name(ch_decision_reason r)
{
    return r >= 0 && r < CH_DECISION_NREASONS && reasons[r] ? reasons[r] : "error";
}

unsigned long ch_svc_decision_count(ch_svc *svc, ch_decision_reason r)
{
    return r >= 0 && r < CH_DECISION_NREASONS ? atomic_load(&svc->decisions[r]) : 0;
}

/* The tenant's log, made at its first decision (under dlog_lock). */
static struct svc_dlog *dlog_of(ch_svc *svc, const char *tenant_id, bool make)
{
    struct svc_dlog *l;

    for (l = svc->dlogs; l != NULL; l = l->link)
        if (strcmp(l->tenant_id, tenant_id) == 0)
            return l;
    if (!make || (l = calloc(1, sizeof *l)) == NULL)
        return NULL;
    snprintf(l->tenant_id, sizeof l->tenant_id, "%s", tenant_id);
    l->link = svc->dlogs;
    svc->dlogs = l;
    return l;
}

/* Logs d in its tenant's ring.  The ring grows only while it has not yet wrapped (next ==
 * cap), so decision k stays at k - 1 modulo the capacity whatever the capacity became; one
 * that cannot grow goes on wrapping at the size it has.  A decision naming no tenant (none
 * was known from the user name or the certificate: a CA no tenant trusts, a tenant that is not
 * there) goes in a ring of its own, under the empty tenant id, which the installation's admins
 * read (ch_svc_decision_log's unattributed): "my device cannot connect" is answered there. */
static void dlog_add(ch_svc *svc, const ch_svc_decision *d)
{
    struct svc_dlog *l;
    ch_svc_decision_entry *e;

    pthread_mutex_lock(&svc->dlog_lock);
    if ((l = dlog_of(svc, d->tenant_id, true)) != NULL && l->next == l->cap && l->cap < SVC_DECISION_LOG) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        if ((e = realloc(l->e, cap * sizeof *e)) != NULL) {
            l->e = e;
            l->cap = cap;
        }
    }
    if (l != NULL && l->cap > 0) {
        e = &l->e[l->next++ % l->cap];
        e->seq = l->next;
        e->at = ch_now();
        e->allow = d->allow;
        e->reason = d->reason;
        snprintf(e->tenant_id, sizeof e->tenant_id, "%s", d->tenant_id);
        snprintf(e->device_id, sizeof e->device_id, "%.127s", d->device_id);
        snprintf(e->message, sizeof e->message, "%.159s", d->message);
    }
    pthread_mutex_unlock(&svc->dlog_lock);
}

void svc_dlog_free(ch_svc *svc)
{
    while (svc->dlogs != NULL) {
        struct svc_dlog *l = svc->dlogs;
        svc->dlogs = l->link;
        free(l->e);
        free(l);
    }
}

static void decided(ch_svc *svc, ch_svc_decision *d, bool allow, ch_decision_reason r, const char *msg)
{
    /* Whatever the device, a revoked tenant lets none in (one check, here, for every path). */
    if (allow && svc_tenant_revoked(svc, d->tenant_id)) {
        allow = false;
        r = CH_DECIDE_TENANT_REVOKED;
        msg = "the device's tenant is revoked";
    }
    d->allow = allow;
    d->reason = r;
    snprintf(d->message, sizeof d->message, "%s", msg ? msg : "");
    atomic_fetch_add(&svc->decisions[r], 1);
    dlog_add(svc, d);
}

/* The DER of the first certificate of PEM (base64 only, no ASN.1 decoding) or the input
 * itself when it is DER.  *der is malloc'd when *owned. */
static int leaf_der(const uint8_t *in, size_t len, const uint8_t **der, size_t *der_len, uint8_t **owned)
{
    BIO *bio;
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long dlen = 0;
    int found = 0;

    *owned = NULL;
    if (len > 0 && in[0] == 0x30) {
        *der = in;
        *der_len = len;
        return 0;
    }
    if ((bio = BIO_new_mem_buf(in, (int)len)) == NULL)
        return -1;
    while (!found && PEM_read_bio(bio, &name, &header, &data, &dlen) == 1) {
        if (strcmp(name, "CERTIFICATE") == 0 && dlen > 0) {
            if ((*owned = malloc((size_t)dlen)) != NULL) {
                memcpy(*owned, data, (size_t)dlen);
                *der = *owned;
                *der_len = (size_t)dlen;
                found = 1;
            }
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
        name = header = NULL;
        data = NULL;
    }
    BIO_free(bio);
    ERR_clear_error();
    return found ? 0 : -1;
}

/* Whether s has the form of a device's id as certhub makes them (ch_store_new_id: "dev_" and
 * 24 hex digits). */
static bool device_id_form(const char *s)
{
    return strncmp(s, "dev_", 4) == 0 && strlen(s) == 28 && strspn(s + 4, "0123456789abcdef") == 24;
}

/* A device id usable as an MQTT client id and user name part, and as a name to find it by: not
 * of the form of certhub's ids (a device registered as another's dev_... was the one blocked,
 * read and deleted by it), no white space at its ends (" sensor " was listed as "sensor" and
 * not found by that name). */
static bool good_device_id(const char *cn)
{
    size_t n;

    if (cn == NULL || (n = strlen(cn)) == 0 || n > 200 || cn[0] == ' ' || cn[n - 1] == ' ' || device_id_form(cn))
        return false;
    for (const unsigned char *p = (const unsigned char *)cn; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '+' || *p == '#' || *p == '/')
            return false;
    return true;
}

#define DEVICE_ID_RULE                                                                                        \
    "1 to 200 characters, without '+', '#', '/', control characters or spaces at its ends, and not of the " \
    "form of certhub's ids (dev_ and 24 hex digits)"

/* The tenant named in "tenant/device" (or the whole user name when it has no '/'):
 * CH_ENOTFOUND for none, CH_EPERM for a revoked one. */
static int tenant_of(ch_svc *svc, const char *username, char tenant_id[CH_ID_MAX], const char **device_part)
{
    char name[128];
    const char *slash = strchr(username, '/');
    size_t n = slash ? (size_t)(slash - username) : strlen(username);
    ch_store_tenant t;

    *device_part = slash ? slash + 1 : NULL;
    if (n == 0 || n >= sizeof name)
        return CH_ENOTFOUND;
    memcpy(name, username, n);
    name[n] = '\0';
    if (ch_store_tenant_get_by_name(svc->store, &t, name) < 0)
        return CH_ENOTFOUND;
    if (t.disabled_at != 0) {
        ch_store_tenant_dispose(&t);
        return CH_EPERM;
    }
    snprintf(tenant_id, CH_ID_MAX, "%s", t.id);
    ch_store_tenant_dispose(&t);
    return 0;
}

/* Writes a device row (register, refresh) in its own transaction. */
struct device_tx {
    ch_svc *svc;
    ch_store_device *d;
    bool insert;
    const char *bound_over; /* the device took a certificate: the one it had ("": none yet), or NULL */
};

static int device_tx_run(void *arg)
{
    struct device_tx *t = arg;
    ch_actor system = {t->d->tenant_id, "system:device-auth", CH_ROLE_ADMIN, 0, NULL, NULL};
    int error = t->insert ? ch_store_device_put(t->svc->store, t->d) : ch_store_device_update(t->svc->store, t->d);

    if (error == 0 && t->insert)
        error = svc_audit(t->svc, &system, "device.register", "device", t->d->id, NULL);
    /* Which certificate a device is known by is who may connect as it: a new one taken (its
     * renewal, or a certificate from another trusted CA) is in the log, with the one before. */
    if (error == 0 && t->bound_over != NULL) {
        json_t *dj = json_pack("{ss ss so}", "device_id", t->d->device_id, "certificate_sha256", t->d->cert_sha256,
                               "previous_sha256", *t->bound_over ? json_string(t->bound_over) : json_null());
        char *detail;
        if (dj != NULL && t->d->trusted_id != NULL)
            json_object_set_new(dj, "trusted_certificate_id", json_string(t->d->trusted_id));
        detail = dj ? json_dumps(dj, JSON_COMPACT) : NULL;
        error = detail ? svc_audit(t->svc, &system, "device.certificate", "device", t->d->id, detail)
                       : ch_error_set(CH_ENOMEM, "out of memory");
        free(detail);
        json_decref(dj);
    }
    return error;
}

/* Certificates kept decoded, by the SHA-256 of their DER (hex): trusted certificates, the
 * tenants' own CAs, and the intermediates of chains that verified.  Each verification needs
 * their full objects, which OpenSSL 3.0 decodes slowly.  Found: a new reference, or NULL. */
static ch_cert *kept_cert(ch_svc *svc, const char *sha256)
{
    struct svc_anchor *a;
    ch_cert *c = NULL;

    pthread_mutex_lock(&svc->anchor_lock);
    for (a = svc->anchors; a; a = a->next)
        if (strcmp(a->sha256, sha256) == 0) {
            c = ch_cert_dup(a->cert);
            break;
        }
    pthread_mutex_unlock(&svc->anchor_lock);
    return c;
}

static void keep_cert(ch_svc *svc, const char *sha256, ch_cert *c)
{
    struct svc_anchor *a;

    if ((a = calloc(1, sizeof *a)) == NULL)
        return;
    a->cert = ch_cert_dup(c);
    snprintf(a->sha256, sizeof a->sha256, "%s", sha256);
    pthread_mutex_lock(&svc->anchor_lock);
    if (svc->nanchors >= 1024) { /* bounded: start over rather than grow without end */
        while (svc->anchors) {
            struct svc_anchor *old = svc->anchors;
            svc->anchors = old->next;
            ch_cert_free(old->cert);
            free(old);
        }
        svc->nanchors = 0;
    }
    a->next = svc->anchors;
    svc->anchors = a;
    svc->nanchors++;
    pthread_mutex_unlock(&svc->anchor_lock);
}

/* A trusted certificate decoded, kept or decoded now and kept (a new reference). */
static ch_cert *anchor_cert(ch_svc *svc, const ch_store_trusted *t)
{
    ch_cert *c = kept_cert(svc, t->sha256);

    if (c == NULL && ch_cert_parse(&c, t->der, t->der_len) == 0)
        keep_cert(svc, t->sha256, c);
    return c;
}

/* The CA certificates of the tenant's inventory (the CAs certhub runs for it, and imported
 * ones): a broker hands over the client's certificate alone, and these are the intermediates
 * it may have been issued under. */
static void inventory_cas(ch_svc *svc, const char *tenant_id, ch_cert ***out, size_t *n)
{
    ch_store_cert_filter f = {.is_ca = 1};
    ch_store_cert *rows = NULL;
    size_t nrows = 0;
    char *next = NULL;

    *out = NULL;
    *n = 0;
    if (ch_store_cert_list(svc->store, tenant_id, &f, 100, NULL, &rows, &nrows, &next) < 0 ||
        (*out = calloc(nrows + 1, sizeof **out)) == NULL) {
        ch_store_cert_list_free(rows, nrows);
        free(next);
        return;
    }
    for (size_t i = 0; i < nrows; i++) {
        ch_store_cert full;
        /* kept from an earlier decision, whose full object is decoded already */
        if (((*out)[*n] = kept_cert(svc, rows[i].sha256)) != NULL) {
            (*n)++;
        } else if (ch_store_cert_get(svc->store, &full, tenant_id, rows[i].id) == 0) {
            if (ch_cert_parse(&(*out)[*n], full.der, full.der_len) == 0)
                keep_cert(svc, rows[i].sha256, (*out)[(*n)++]);
            ch_store_cert_dispose(&full);
        }
    }
    ch_store_cert_list_free(rows, nrows);
    free(next);
}

/* The trusted certificate that verifies the chain, among the tenant's enabled ones: the one
 * nearest the device where several do (an intermediate and its root both trusted: the
 * intermediate's auto registration decides, whichever was added first); when a disabled one
 * is on the path, *disabled_hit is set.  A disabled one that signed the chain (directly or
 * through intermediates) wins over an enabled one above or below it: a disabled authority lets
 * none of the devices it signed in, though the root above it stays trusted (Cumulocity's
 * rule). */
static int verify_chain(ch_svc *svc, const char *tenant_id, ch_cert **chain, size_t n, ch_store_trusted *anchor_out,
                        bool *disabled_hit, bool need_verified, char *why, size_t whysize)
{
    ch_store_trusted *rows = NULL;
    size_t nrows = 0, ninv = 0, nissuers = 0, found_len = 0;
    ch_cert **inv = NULL, **untrusted = NULL, **rowcert = NULL;
    bool *reachable = NULL, any_reachable = false;
    int found = -1, error;
    bool tried = false;

    *disabled_hit = false;
    snprintf(why, whysize, "no trusted certificate of the tenant");
    if ((error = ch_store_trusted_list(svc->store, tenant_id, NULL, NULL, &rows, &nrows)) < 0)
        return error;
    /* Intermediates: those the client sent, the tenant's own CAs, and its trusted certificates
     * of both lists, enabled or not.  A broker hands over the device's certificate alone: with
     * only the issuer list, a path from a device through a trusted intermediate up to a
     * disabled root was not found, and the device was let in (by the intermediate), where the
     * same device sending its chain was refused. */
    if (n == 1)
        inventory_cas(svc, tenant_id, &inv, &ninv);
    if ((untrusted = calloc(n + ninv + nrows, sizeof *untrusted)) == NULL ||
        (rowcert = calloc(nrows + 1, sizeof *rowcert)) == NULL || (reachable = calloc(nrows + 1, sizeof *reachable)) == NULL) {
        free(untrusted);
        free(rowcert);
        ch_cert_list_free(inv, ninv);
        ch_store_trusted_list_free(rows, nrows);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    /* The intermediates the client sent: the kept one where this intermediate verified a
     * chain before (its full object decoded then). */
    for (size_t i = 1; i < n; i++) {
        char hex[65];
        ch_hex(hex, ch_cert_sha256(chain[i]), 32);
        if ((untrusted[i - 1] = kept_cert(svc, hex)) == NULL)
            untrusted[i - 1] = ch_cert_dup(chain[i]);
    }
    for (size_t i = 0; i < ninv; i++)
        untrusted[n - 1 + i] = inv[i];
    nissuers = 0;
    for (size_t i = 0; i < nrows; i++)
        if ((untrusted[n - 1 + ninv + nissuers] = rowcert[i] = anchor_cert(svc, &rows[i])) != NULL)
            nissuers++;
    /* Only those whose name is on a chain of issuers' names above the device can verify it: a
     * tenant trusting hundreds of CAs verified each new device against every one of them. */
    if (ch_chain_reachable(chain[0], untrusted, n - 1 + ninv + nissuers, rowcert, nrows, reachable) < 0)
        memset(reachable, 1, nrows); /* (out of memory: each tried, as before) */
    for (size_t i = 0; i < nrows; i++)
        any_reachable |= reachable[i];
    /* Enabled ones first; then the others, an unverified one reported only when nothing else
     * verifies, a disabled one whenever it is on the path. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < nrows; i++) {
            /* An anchor without its proof of possession counts as disabled when the tenant
             * asks for proofs. */
            bool enabled = !rows[i].issuer_list && strcmp(rows[i].status, "enabled") == 0 &&
                           (rows[i].verified || !need_verified);
            /* The issuer list authenticates nothing; one of it disabled shuts out what it signed. */
            /* (none is nearer than the device's issuer: the search ends there) */
            bool wanted = pass == 0 ? enabled && (found < 0 || found_len > 2)
                                    : !enabled && !*disabled_hit &&
                                          (strcmp(rows[i].status, "disabled") == 0 || (!rows[i].issuer_list && found < 0));
            ch_cert *anchor = NULL; /* (borrowed: rowcert's, freed with untrusted) */
            size_t len = 0;
            ch_verify_opts o = {.purpose = CH_PURPOSE_CLIENT, .path_len = &len};
            /* (none on the chain: the first enabled one alone is tried, for OpenSSL's words of
             * why, "unknown issuer" naming the certificate whose issuer is missing) */
            if (!wanted || (!reachable[i] && (any_reachable || pass == 1 || tried)) || (anchor = rowcert[i]) == NULL)
                continue;
            o.anchors = &anchor;
            o.anchor_count = 1;
            o.untrusted = n - 1 + ninv + nissuers > 0 ? untrusted : NULL;
            o.untrusted_count = n - 1 + ninv + nissuers;
            if (ch_chain_verify(chain[0], &o) == 0) {
                /* Among enabled ones the nearest; any disabled one on the path decides. */
                if (pass == 1 || found < 0 || len < found_len) {
                    found = (int)i;
                    found_len = len;
                }
                *disabled_hit = !enabled;
            } else if (pass == 0 && (!tried || strstr(ch_error_last(), "unknown issuer") == NULL)) {
                /* Tell the failure against the anchor that issued the chain, not against
                 * every other anchor ("unknown issuer"). */
                snprintf(why, whysize, "%s", ch_error_last());
                tried = true;
            }
        }
    if (found >= 0) {
        *anchor_out = rows[found];
        memset(&rows[found], 0, sizeof rows[found]);
        /* Kept only from a chain that verified, and only CA certificates: so what a client
         * makes up is not kept (and the list is bounded besides). */
        for (size_t i = 1; i < n; i++)
            if (untrusted[i - 1] == chain[i] && ch_cert_is_ca(chain[i])) {
                char hex[65];
                ch_hex(hex, ch_cert_sha256(chain[i]), 32);
                keep_cert(svc, hex, chain[i]);
            }
    }
    for (size_t i = 1; i < n; i++)
        ch_cert_free(untrusted[i - 1]);
    for (size_t i = 0; i < nissuers; i++)
        ch_cert_free(untrusted[n - 1 + ninv + i]);
    free(untrusted);
    free(rowcert);
    free(reachable);
    ch_cert_list_free(inv, ninv);
    ch_store_trusted_list_free(rows, nrows);
    return found >= 0 ? 0 : CH_EVERIFY;
}

#define CHAIN_TENANTS_MAX 16

/* The client's chain, PEM as a broker hands it over: -1 with why saying what is wrong with it
 * (more certificates than a chain holds here said as such: it was "cannot be read"). */
static int chain_read(ch_cert ***chain, size_t *n, const uint8_t *data, size_t len, char *why, size_t whysize)
{
    *chain = NULL;
    *n = 0;
    if (ch_cert_parse_all(chain, n, data, len) < 0)
        snprintf(why, whysize, "the client certificate chain cannot be read: %s", ch_error_last());
    else if (*n == 0)
        snprintf(why, whysize, "the client certificate chain holds no certificate");
    else if (*n > CH_MAX_CHAIN_LEN)
        snprintf(why, whysize, "the client certificate chain holds %zu certificates, more than the %u a chain may "
                 "hold here", *n, CH_MAX_CHAIN_LEN);
    else
        return 0;
    ch_cert_list_free(*chain, *n);
    *chain = NULL;
    *n = 0;
    return -1;
}

/* The tenants not among those tried (ids, n_ids: the ones with an enabled trusted certificate)
 * with a disabled trusted certificate on the path of chain: how many (at most two are looked
 * for), the first in shut. */
static size_t shut_by_disabled_only(ch_svc *svc, ch_cert **chain, size_t n, char (*ids)[CH_ID_MAX],
                                    size_t n_ids, char shut[CH_ID_MAX])
{
    /* (room for those tried besides the ones looked for: the list is not filtered by them) */
    char others[4 * CHAIN_TENANTS_MAX + 1][CH_ID_MAX], why[256];
    size_t nothers = 0, shuts = 0;

    if (ch_store_trusted_tenants(svc->store, true, others, sizeof others / sizeof others[0], &nothers) < 0) {
        ch_error_clear();
        return 0;
    }
    for (size_t i = 0; i < nothers && shuts < 2; i++) {
        ch_store_trusted anchor = {0};
        ch_svc_settings settings;
        bool tried = false, hit = false;
        for (size_t j = 0; j < n_ids && !tried; j++)
            tried = strcmp(ids[j], others[i]) == 0;
        if (tried || svc_settings_of(svc, others[i], &settings) < 0)
            continue;
        if (verify_chain(svc, others[i], chain, n, &anchor, &hit,
                         !settings.unverified_trusted_certificates_authenticate, why, sizeof why) == 0 &&
            hit && anchor.status != NULL && strcmp(anchor.status, "disabled") == 0 && shuts++ == 0)
            memcpy(shut, others[i], CH_ID_MAX);
        ch_store_trusted_dispose(&anchor);
    }
    ch_error_clear();
    return shuts;
}

/* OpenSSL's "unknown issuer" said as what to do: the issuer of the highest certificate the
 * device sent, which the tenant neither trusts nor holds in its issuer list (a device that
 * sent its intermediate under a trusted root was told "unknown issuer" of its own CN). */
static void unknown_issuer_said(const ch_cert *const *chain, size_t n, const char *tenant, char *why, size_t whysize)
{
    char *issuer = NULL;

    if (strstr(why, "unknown issuer") == NULL || n == 0 || ch_cert_issuer_string(&issuer, chain[n - 1]) < 0) {
        ch_error_clear();
        return;
    }
    snprintf(why, whysize, "%s%.40s%s its issuer \"%.80s\"%s (certhub trusted add FILE; --list issuer for an "
             "intermediate)", tenant ? "tenant " : "no tenant", tenant ? tenant : "",
             tenant ? " does not trust" : " trusts", issuer,
             tenant ? " nor has it in its issuer list" : " or has it in an issuer list");
    free(issuer);
}

/* The leaf out of its validity: said as such before any tenant's anchors are tried (with
 * several tenants it was "no tenant's trusted certificates verify it"). */
static int leaf_out_of_time(const ch_cert *leaf, char *why, size_t whysize, ch_decision_reason *reason)
{
    char at[32];
    int64_t now = ch_now();

    if (ch_cert_not_after(leaf) <= now) {
        ch_time_format(at, sizeof at, ch_cert_not_after(leaf));
        snprintf(why, whysize, "the device's certificate has expired (at %s)", at);
        *reason = CH_DECIDE_EXPIRED;
        return CH_EPOLICY;
    }
    if (ch_cert_not_before(leaf) > now + 300) { /* (clocks apart by minutes are the usual) */
        ch_time_format(at, sizeof at, ch_cert_not_before(leaf));
        snprintf(why, whysize, "the device's certificate is not valid before %s", at);
        *reason = CH_DECIDE_NOT_YET_VALID;
        return CH_EPOLICY;
    }
    return 0;
}

/* Without a tenant in the user name, a device not seen before belongs to the one tenant whose
 * enabled trusted certificates verify its chain (on most installations one tenant trusts any
 * certificate at all, and it is tried alone).  0 with tenant_id set; CH_EVERIFY when none
 * verifies it; CH_ECONFLICT when several do, or more tenants trust certificates than are tried
 * (the user name must name the tenant then); CH_EPOLICY for a certificate out of its time
 * (*out_of_time says which way).  why says which. */
static int tenant_by_chain(ch_svc *svc, const uint8_t *chain_data, size_t len, char tenant_id[CH_ID_MAX], char *why,
                           size_t whysize, ch_decision_reason *out_of_time)
{
    char ids[CHAIN_TENANTS_MAX + 1][CH_ID_MAX], tried_why[256], proven[CH_ID_MAX] = "", shut[CH_ID_MAX] = "";
    ch_cert **chain = NULL;
    size_t ntenants = 0, n = 0, hits = 0, proofs = 0, shuts = 0;
    int error;

    if ((error = ch_store_trusted_tenants(svc->store, false, ids, CHAIN_TENANTS_MAX + 1, &ntenants)) < 0) {
        snprintf(why, whysize, "%s", ch_error_last());
        return error;
    }
    if (ntenants > CHAIN_TENANTS_MAX) {
        snprintf(why, whysize, "unknown device: give the tenant in the user name (tenant/device) so it can be verified");
        return CH_ECONFLICT;
    }
    if (chain_read(&chain, &n, chain_data, len, tried_why, sizeof tried_why) < 0) {
        snprintf(why, whysize, "%s", ntenants == 0 ? "no tenant has an enabled trusted certificate" : tried_why);
        return CH_EVERIFY;
    }
    if ((error = leaf_out_of_time(chain[0], why, whysize, out_of_time)) < 0) {
        ch_cert_list_free(chain, n);
        return error;
    }
    snprintf(why, whysize, ntenants == 0 ? "no tenant has an enabled trusted certificate"
                                         : "no tenant's trusted certificates verify it");
    for (size_t i = 0; i < ntenants; i++) {
        ch_store_trusted anchor = {0};
        ch_svc_settings settings;
        bool disabled_hit;
        if (svc_settings_of(svc, ids[i], &settings) < 0)
            continue;
        if (verify_chain(svc, ids[i], chain, n, &anchor, &disabled_hit,
                         !settings.unverified_trusted_certificates_authenticate, tried_why, sizeof tried_why) == 0 &&
            !disabled_hit) {
            if (hits++ == 0)
                memcpy(tenant_id, ids[i], CH_ID_MAX);
            /* Anyone can add a CA certificate (it is public) to their tenant's trusted
             * certificates; only its owner can prove holding its key. */
            if (anchor.verified && proofs++ == 0)
                memcpy(proven, ids[i], CH_ID_MAX);
        } else if (disabled_hit && anchor.status != NULL && strcmp(anchor.status, "disabled") == 0) {
            if (shuts++ == 0)
                memcpy(shut, ids[i], CH_ID_MAX);
        } else if (ntenants == 1) {
            snprintf(why, whysize, "%s", tried_why);
        }
        if (ntenants > 1 && hits == 0 && i + 1 == ntenants)
            snprintf(why, whysize, "%s", "unknown issuer");
        ch_store_trusted_dispose(&anchor);
    }
    /* Let in by none, and shut out by none of those: a tenant whose trusted certificates are
     * all disabled is not among them, and its devices were refused to no tenant's decisions. */
    if (hits == 0 && shuts == 0)
        shuts = shut_by_disabled_only(svc, chain, n, ids, ntenants, shut);
    if (hits == 0 && shuts == 0)
        unknown_issuer_said((const ch_cert *const *)chain, n, NULL, why, whysize);
    ch_cert_list_free(chain, n);
    if (hits > 1 && proofs == 1) {
        memcpy(tenant_id, proven, CH_ID_MAX);
        return 0;
    }
    /* None lets it in, and one tenant's disabled certificate is on its path: the device is that
     * tenant's, refused as such (said "unknown issuer" before, and to no tenant's decisions). */
    if (hits == 0 && shuts == 1) {
        memcpy(tenant_id, shut, CH_ID_MAX);
        return 0;
    }
    if (hits > 1) {
        snprintf(why, whysize, "the trusted certificates of several tenants verify it (and not one of them alone "
                 "with a proof of possession): give the tenant in the user name (tenant/device)");
        return CH_ECONFLICT;
    }
    return hits == 1 ? 0 : CH_EVERIFY;
}

/* Whether a disabled trusted certificate of the tenant signed a known device's chain: asked
 * only of tenants that have one (the chain is read then; a known device is otherwise let in
 * from its certificate's digest alone). */
static bool signed_by_disabled(ch_svc *svc, const char *tenant_id, const uint8_t *chain_data, size_t len)
{
    ch_cert **chain = NULL;
    size_t n = 0;
    ch_store_trusted anchor = {0};
    ch_svc_settings settings;
    char why[256];
    bool hit = false;

    if (svc_settings_of(svc, tenant_id, &settings) == 0 && ch_cert_parse_all(&chain, &n, chain_data, len) == 0 &&
        n > 0 && n <= CH_MAX_CHAIN_LEN &&
        verify_chain(svc, tenant_id, chain, n, &anchor, &hit, !settings.unverified_trusted_certificates_authenticate,
                     why, sizeof why) == 0)
        hit = hit && anchor.status != NULL && strcmp(anchor.status, "disabled") == 0;
    else
        hit = false;
    ch_store_trusted_dispose(&anchor);
    ch_cert_list_free(chain, n);
    ch_error_clear();
    return hit;
}

/* Whether the certificate (its SHA-256 in hex) is bound to a device of a tenant other than
 * tenant_id.  A device certificate is public: a tenant that only added the device's CA (no
 * proof of possession) and asked a decision naming itself took the device in too, and from
 * then on the device, named by its certificate alone, was refused in the tenant it belonged to
 * (bound in both). */
static bool cert_elsewhere(ch_svc *svc, const char *tenant_id, const char *sha)
{
    ch_store_device other = {0};
    int error = ch_store_device_by_cert(svc->store, &other, NULL, sha);
    bool taken = error == CH_ECONFLICT || (error == 0 && strcmp(other.tenant_id, tenant_id) != 0);

    ch_store_device_dispose(&other);
    ch_error_clear();
    return taken;
}

#define CERT_ELSEWHERE_WHY                                                                                     \
    "this certificate is registered to a device of another tenant: the trusted certificate it chains to here " \
    "needs a proof of possession to take it (certhub trusted verification-code)"

/* Refuses the decision (decided, true) when the user name names another device than the
 * certificate's CN, naming both. */
static bool username_mismatch(ch_svc *svc, ch_svc_decision *d, const char *given, const char *cn)
{
    char why[256];

    if (given == NULL || strcmp(given, cn) == 0)
        return false;
    snprintf(why, sizeof why, "the user name's device (%.80s) is not the certificate's CN (%.80s)", given, cn);
    decided(svc, d, false, CH_DECIDE_USERNAME_MISMATCH, why);
    return true;
}

/* Refuses the decision (decided, true) when the MQTT client id is another device's.  A broker
 * keeps a session (subscriptions, messages queued) by client id after its device has gone,
 * unless it asked for a clean one, and a device giving that id took it over (or, asking for a
 * clean session, dropped it): another tenant's device's too.  A device of another tenant is not
 * named (the decision is in the connecting tenant's log).  own: the client id the device is
 * known by, which no other device can hold (asked of the store no further). */
static bool client_id_refused(ch_svc *svc, ch_svc_decision *d, const char *client_id, const char *own)
{
    ch_store_device other = {0};
    char why[256];
    int error;

    if (client_id == NULL || *client_id == '\0' || (own != NULL && strcmp(own, client_id) == 0))
        return false;
    if ((error = ch_store_device_by_client(svc->store, &other, client_id)) < 0) {
        if (error == CH_ENOTFOUND) {
            ch_error_clear();
            return false;
        }
        decided(svc, d, false, CH_DECIDE_ERROR, ch_error_last());
        return true;
    }
    if (strcmp(other.tenant_id, d->tenant_id) == 0 && strcmp(other.device_id, d->device_id) == 0) {
        ch_store_device_dispose(&other);
        return false;
    }
    if (strcmp(other.tenant_id, d->tenant_id) == 0)
        snprintf(why, sizeof why, "the broker keeps a session of device %.64s by this client id: give each device "
                 "its own client id (its device id, say), or delete that device", other.device_id);
    else
        snprintf(why, sizeof why, "the broker keeps a session of another tenant's device by this client id: give "
                 "each device its own client id (its device id, say)");
    ch_store_device_dispose(&other);
    decided(svc, d, false, CH_DECIDE_CLIENT_ID_IN_USE, why);
    return true;
}

/* The client id as the device's own from now on; whether it changed. */
static bool client_id_kept(ch_store_device *dev, const char *client_id)
{
    if (client_id == NULL || *client_id == '\0' || (dev->client_id && strcmp(dev->client_id, client_id) == 0))
        return false;
    free(dev->client_id);
    dev->client_id = strdup(client_id);
    return dev->client_id != NULL;
}

int ch_svc_device_decide(ch_svc *svc, const uint8_t *chain_data, size_t len, const char *username,
                         const char *client_id, bool session_kept, ch_svc_decision *d)
{
    const uint8_t *der = NULL;
    uint8_t *owned = NULL, md[32];
    size_t der_len = 0, n = 0;
    char sha[65], why[256];
    const char *device_part = NULL;
    ch_store_device dev = {0};
    ch_store_trusted anchor = {0};
    ch_cert **chain = NULL;
    char *cn = NULL;
    bool tenant_known = false, anchor_gone = false, disabled_hit, raced = false;
    const char *kept = session_kept ? client_id : NULL; /* the client id to keep as the device's */
    ch_decision_reason timing = CH_DECIDE_EXPIRED; /* (which of the two, when out of its time) */
    ch_svc_settings settings;
    int64_t now = ch_now();
    int error;

    memset(d, 0, sizeof *d);
    if (chain_data == NULL || len == 0 || len > CH_MAX_UPLOAD_BYTES || leaf_der(chain_data, len, &der, &der_len, &owned) < 0) {
        decided(svc, d, false, CH_DECIDE_BAD_CERTIFICATE, "no client certificate (PEM or DER) was given");
        return 0;
    }
    EVP_Digest(der, der_len, md, NULL, EVP_sha256(), NULL);
    ch_hex(sha, md, sizeof md);
    if (username != NULL && *username != '\0') {
        error = tenant_of(svc, username, d->tenant_id, &device_part);
        if (error == CH_ENOTFOUND && strchr(username, '/') == NULL) {
            /* No tenant of that name: the user name is the device's id alone (a device seen
             * before is found by its certificate). */
            device_part = username;
        } else if (error < 0) {
            snprintf(d->device_id, sizeof d->device_id, "%s", device_part ? device_part : "");
            if (error == CH_EPERM)
                decided(svc, d, false, CH_DECIDE_TENANT_REVOKED, "the user name's tenant is revoked");
            else
                decided(svc, d, false, CH_DECIDE_UNKNOWN_TENANT, "the user name names no tenant (tenant/device)");
            goto done;
        } else {
            tenant_known = true;
        }
    }

    /* A device seen before: no parsing. */
    error = ch_store_device_by_cert(svc->store, &dev, tenant_known ? d->tenant_id : NULL, sha);
    if (error == 0) {
        snprintf(d->tenant_id, sizeof d->tenant_id, "%s", dev.tenant_id);
        snprintf(d->device_id, sizeof d->device_id, "%s", dev.device_id);
        snprintf(d->trusted_id, sizeof d->trusted_id, "%s", dev.trusted_id ? dev.trusted_id : "");
        if (username_mismatch(svc, d, device_part, dev.device_id)) {
            /* (refused, and said why, there) */
        } else if (strcmp(dev.status, "active") != 0)
            decided(svc, d, false, CH_DECIDE_DEVICE_BLOCKED, "the device is blocked");
        else if (dev.cert_not_after <= now)
            decided(svc, d, false, CH_DECIDE_EXPIRED, "the device's certificate has expired");
        else if (dev.trusted_id == NULL || ch_store_trusted_get(svc->store, &anchor, dev.tenant_id, dev.trusted_id) < 0 ||
                 anchor.issuer_list) {
            /* The trusted certificate it registered with is gone (deleted, or added again, or
             * moved to the issuer list): its chain is verified again against those there now,
             * and it goes on under the one that verifies it. */
            ch_store_trusted_dispose(&anchor);
            snprintf(d->tenant_id, sizeof d->tenant_id, "%s", dev.tenant_id);
            tenant_known = true;
            anchor_gone = true;
            ch_store_device_dispose(&dev);
            goto verify;
        } else if (strcmp(anchor.status, "enabled") != 0)
            decided(svc, d, false, CH_DECIDE_ANCHOR_DISABLED, "its trusted certificate is disabled");
        else if (!anchor.verified && svc_settings_of(svc, dev.tenant_id, &settings) == 0 &&
                 !settings.unverified_trusted_certificates_authenticate)
            decided(svc, d, false, CH_DECIDE_ANCHOR_UNVERIFIED,
                    "its trusted certificate has no proof of possession, which this tenant requires");
        else if (anchor.not_after <= now)
            decided(svc, d, false, CH_DECIDE_EXPIRED, "its trusted certificate has expired");
        else if (ch_store_trusted_any_disabled(svc->store, dev.tenant_id) &&
                 signed_by_disabled(svc, dev.tenant_id, chain_data, len))
            decided(svc, d, false, CH_DECIDE_ANCHOR_DISABLED,
                    "a trusted certificate its chain goes through is disabled");
        else if (!client_id_refused(svc, d, client_id, dev.client_id)) {
            bool new_client = client_id_kept(&dev, kept);
            decided(svc, d, true, CH_DECIDE_KNOWN_DEVICE, NULL);
            /* last_seen to the minute: a connect storm does not turn into a write storm. */
            if (now - dev.last_seen >= 60 || new_client) {
                struct device_tx t = {svc, &dev, false, NULL};
                dev.last_seen = now;
                (void)svc_commit(svc, device_tx_run, &t);
            }
        }
        goto done;
    }
    if (error != CH_ENOTFOUND && error != CH_ECONFLICT) {
        decided(svc, d, false, CH_DECIDE_ERROR, ch_error_last());
        goto done;
    }
    if (!tenant_known) {
        if ((error = tenant_by_chain(svc, chain_data, len, d->tenant_id, why, sizeof why, &timing)) < 0) {
            d->tenant_id[0] = '\0';
            decided(svc, d, false, error == CH_EVERIFY ? CH_DECIDE_UNTRUSTED
                                   : error == CH_ECONFLICT ? CH_DECIDE_UNKNOWN_DEVICE
                                   : error == CH_EPOLICY ? timing : CH_DECIDE_ERROR, why);
            goto done;
        }
        tenant_known = true;
    }

    /* A new device, or a known one with a new certificate: verify the chain. */
verify:
    if (svc_settings_of(svc, d->tenant_id, &settings) < 0) {
        decided(svc, d, false, CH_DECIDE_ERROR, ch_error_last());
        goto done;
    }
    if (chain_read(&chain, &n, chain_data, len, why, sizeof why) < 0) {
        decided(svc, d, false, CH_DECIDE_BAD_CERTIFICATE, why);
        goto done;
    }
    if (ch_cert_subject_get(&cn, chain[0], NID_commonName) < 0 || !good_device_id(cn)) {
        snprintf(d->device_id, sizeof d->device_id, "%s", cn && good_device_id(cn) ? cn : "");
        decided(svc, d, false, CH_DECIDE_BAD_DEVICE_ID,
                "the certificate's CN is no device id: a device id is " DEVICE_ID_RULE);
        goto done;
    }
    snprintf(d->device_id, sizeof d->device_id, "%s", cn);
    if (username_mismatch(svc, d, device_part, cn))
        goto done;
    if (leaf_out_of_time(chain[0], why, sizeof why, &timing) < 0) {
        decided(svc, d, false, timing, why);
        goto done;
    }
    if ((error = verify_chain(svc, d->tenant_id, chain, n, &anchor, &disabled_hit,
                              !settings.unverified_trusted_certificates_authenticate, why, sizeof why)) < 0) {
        if (anchor_gone && error == CH_EVERIFY) {
            decided(svc, d, false, CH_DECIDE_ANCHOR_DELETED,
                    "the trusted certificate it was registered with is gone, and none there now verifies it");
        } else {
            ch_store_tenant tn = {0};
            if (error == CH_EVERIFY && ch_store_tenant_get(svc->store, &tn, d->tenant_id) == 0)
                unknown_issuer_said((const ch_cert *const *)chain, n, tn.name, why, sizeof why);
            ch_store_tenant_dispose(&tn);
            ch_error_clear();
            decided(svc, d, false, error == CH_EVERIFY ? CH_DECIDE_UNTRUSTED : CH_DECIDE_ERROR, why);
        }
        goto done;
    }
    snprintf(d->trusted_id, sizeof d->trusted_id, "%s", anchor.id);
    if (disabled_hit) {
        if (strcmp(anchor.status, "enabled") == 0)
            decided(svc, d, false, CH_DECIDE_ANCHOR_UNVERIFIED,
                    "the trusted certificate it chains to has no proof of possession, which this tenant requires");
        else
            decided(svc, d, false, CH_DECIDE_ANCHOR_DISABLED, "the trusted certificate it chains to is disabled");
        goto done;
    }
known:
    if (ch_store_device_by_name(svc->store, &dev, d->tenant_id, cn) == 0) {
        /* The device came back with a new certificate from a trusted CA. */
        if (strcmp(dev.status, "active") != 0) {
            decided(svc, d, false, CH_DECIDE_DEVICE_BLOCKED, "the device is blocked");
        } else {
            struct device_tx t = {svc, &dev, false, NULL};
            /* The same certificate (its trusted certificate is what changed), or none yet (a
             * device registered before it first connected): the device known, as it was. */
            bool same = strcmp(dev.cert_sha256, sha) == 0 || dev.cert_sha256[0] == '\0';
            if (strcmp(dev.cert_sha256, sha) != 0 && !anchor.verified && cert_elsewhere(svc, d->tenant_id, sha)) {
                decided(svc, d, false, CH_DECIDE_CERT_ELSEWHERE, CERT_ELSEWHERE_WHY);
                goto done;
            }
            /* A certificate of the device that ends before the one it is known by is one that
             * was replaced (a renewal took its place): refused, so that a device's renewal
             * shuts out its old certificate, a leaked one too (each took the device back in
             * turn). */
            if (dev.cert_sha256[0] != '\0' && strcmp(dev.cert_sha256, sha) != 0 &&
                ch_cert_not_after(chain[0]) < dev.cert_not_after) {
                char end[32];
                ch_time_format(end, sizeof end, dev.cert_not_after);
                snprintf(why, sizeof why, "the device is known by a certificate that ends later (%s): this one, "
                         "ending sooner, was replaced", end);
                decided(svc, d, false, CH_DECIDE_CERT_SUPERSEDED, why);
                goto done;
            }
            if (client_id_refused(svc, d, client_id, dev.client_id))
                goto done;
            (void)client_id_kept(&dev, kept);
            char before[sizeof dev.cert_sha256];
            snprintf(before, sizeof before, "%s", dev.cert_sha256);
            t.bound_over = strcmp(before, sha) != 0 ? before : NULL;
            snprintf(dev.cert_sha256, sizeof dev.cert_sha256, "%s", sha);
            dev.cert_not_after = ch_cert_not_after(chain[0]);
            free(dev.trusted_id);
            dev.trusted_id = strdup(anchor.id);
            dev.last_seen = now;
            if (svc_commit(svc, device_tx_run, &t) == 0)
                decided(svc, d, true, same ? CH_DECIDE_KNOWN_DEVICE : CH_DECIDE_NEW_CERTIFICATE, NULL);
            else
                decided(svc, d, false, CH_DECIDE_ERROR, ch_error_last());
        }
        goto done;
    }
    if (!anchor.auto_registration) {
        decided(svc, d, false, CH_DECIDE_UNKNOWN_DEVICE,
                "unknown device, and its trusted certificate does not register devices automatically");
        goto done;
    }
    if (!anchor.verified && cert_elsewhere(svc, d->tenant_id, sha)) {
        decided(svc, d, false, CH_DECIDE_CERT_ELSEWHERE, CERT_ELSEWHERE_WHY);
        goto done;
    }
    if (client_id_refused(svc, d, client_id, NULL))
        goto done;
    {
        char id[CH_ID_MAX];
        struct device_tx t = {svc, &dev, true, NULL};
        ch_store_new_id(id, "dev_");
        dev = (ch_store_device){.id = strdup(id), .tenant_id = strdup(d->tenant_id), .device_id = strdup(cn),
                                .cert_not_after = ch_cert_not_after(chain[0]), .trusted_id = strdup(anchor.id),
                                .registered_at = now, .last_seen = now, .status = strdup("active")};
        (void)client_id_kept(&dev, kept);
        snprintf(dev.cert_sha256, sizeof dev.cert_sha256, "%s", sha);
        if ((error = svc_commit(svc, device_tx_run, &t)) == 0) {
            decided(svc, d, true, CH_DECIDE_AUTO_REGISTERED, NULL);
        } else if (error == CH_EEXISTS && !raced) {
            /* Registered meanwhile by another connection of the device (a reconnect storm, a
             * broker's clients at once): decided as a device known, as the next would be; it
             * was refused with the store's words about a unique constraint. */
            raced = true;
            ch_store_device_dispose(&dev);
            ch_error_clear();
            goto known;
        } else {
            decided(svc, d, false, CH_DECIDE_ERROR, ch_error_last());
        }
    }
done:
    free(cn);
    ch_cert_list_free(chain, n);
    ch_store_device_dispose(&dev);
    ch_store_trusted_dispose(&anchor);
    free(owned);
    return 0;
}

int ch_svc_decision_log(ch_svc *svc, const ch_actor *actor, const ch_svc_decision_filter *filter, uint64_t before,
                        ch_svc_decision_entry *out, size_t max, size_t *count)
{
    const char *device_id = filter ? filter->device_id : NULL, *result = filter ? filter->result : NULL;
    const struct svc_dlog *l;
    size_t n = 0;
    int error;

    *count = 0;
    if ((error = svc_need(actor, CH_ROLE_VIEWER, "reading device decisions")) < 0)
        return error;
    if (result != NULL && strcmp(result, "allow") != 0 && strcmp(result, "deny") != 0)
        return ch_error_set_field(CH_EINVAL, "result", "result must be allow or deny");
    /* (what no tenant claimed is the installation's: a device id and a reason that may belong
     * to any tenant's device presented with a wrong user name) */
    if (filter != NULL && filter->unattributed && !(actor->perms & CH_PERM_TENANTS))
        return ch_error_set_field(CH_EPERM, "unattributed", "the decisions that named no tenant are read by the "
                                  "installation's admins (the default tenant's)");
    pthread_mutex_lock(&svc->dlog_lock);
    if ((l = dlog_of(svc, filter != NULL && filter->unattributed ? "" : actor->tenant_id, false)) != NULL) {
        /* Newest first, from the place before `before`, as far back as the ring still holds. */
        uint64_t seq = before == 0 || before > l->next ? l->next : before - 1;
        for (; seq > 0 && l->next - seq < l->cap && n < max; seq--) {
            const ch_svc_decision_entry *e = &l->e[(seq - 1) % l->cap];
            if ((device_id == NULL || strcmp(e->device_id, device_id) == 0) &&
                (result == NULL || e->allow == (strcmp(result, "allow") == 0)))
                out[n++] = *e;
        }
    }
    pthread_mutex_unlock(&svc->dlog_lock);
    *count = n;
    return 0;
}

int ch_svc_device_list(ch_svc *svc, const ch_actor *actor, const ch_store_device_filter *filter, ch_store_page *page,
                       ch_store_device **out, size_t *count)
{
    int error;

    *out = NULL;
    *count = 0;
    if ((error = svc_need(actor, CH_ROLE_VIEWER, "listing devices")) < 0)
        return error;
    if (filter != NULL && filter->status != NULL && strcmp(filter->status, "active") != 0 &&
        strcmp(filter->status, "blocked") != 0)
        return ch_error_set_field(CH_EINVAL, "status", "status must be active or blocked");
    return ch_store_device_list(svc->store, actor->tenant_id, filter, page, out, count);
}

/* A device by its id (dev_...) or by its device id (the certificate's CN, as the broker's log
 * and device add name it). */
static int device_find(ch_svc *svc, const char *tenant_id, const char *id, ch_store_device *out)
{
    int error = ch_store_device_get(svc->store, out, tenant_id, id);

    /* (a device id may begin with "dev_": only the form of an id is not one) */
    if (error == CH_ENOTFOUND && !device_id_form(id) &&
        (error = ch_store_device_by_name(svc->store, out, tenant_id, id)) == CH_ENOTFOUND)
        error = ch_error_set(CH_ENOTFOUND, "no such device: %.200s is neither a device's id (dev_...) nor its "
                                           "device id", id);
    return error;
}

int ch_svc_device_get(ch_svc *svc, const ch_actor *actor, const char *id, ch_store_device *out)
{
    int error;

    memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_VIEWER, "reading devices")) < 0)
        return error;
    return device_find(svc, actor->tenant_id, id, out);
}

/* A person's change of a device (its status, its removal, its registration), audited with it. */
enum device_op { DEVICE_STATUS, DEVICE_DELETE, DEVICE_REGISTER };

struct block_tx {
    ch_svc *svc;
    const ch_actor *actor;
    ch_store_device *d;
    enum device_op op;
};

static int block_tx_run(void *arg)
{
    static const char *const actions[] = {"device.status", "device.delete", "device.register"};
    struct block_tx *t = arg;
    char detail[300] = "";
    int error = t->op == DEVICE_DELETE   ? ch_store_device_delete(t->svc->store, t->actor->tenant_id, t->d->id)
                : t->op == DEVICE_STATUS ? ch_store_device_update(t->svc->store, t->d)
                                         : ch_store_device_put(t->svc->store, t->d);

    if (error == CH_EEXISTS && t->op == DEVICE_REGISTER)
        return ch_error_set_field(CH_EEXISTS, "device_id", "a device %s is registered already", t->d->device_id);
    if (error < 0)
        return error;
    if (t->op == DEVICE_REGISTER) /* (a device id holds no '"' or '\\') */
        snprintf(detail, sizeof detail, "{\"device_id\":\"%s\"}", t->d->device_id);
    return svc_audit(t->svc, t->actor, actions[t->op], "device", t->d->id, detail[0] ? detail : NULL);
}

int ch_svc_device_set_status(ch_svc *svc, const ch_actor *actor, const char *id, bool blocked, ch_store_device *out)
{
    ch_store_device d;
    struct block_tx t;
    int error;

    if (out)
        memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "blocking devices")) < 0)
        return error;
    if ((error = device_find(svc, actor->tenant_id, id, &d)) < 0)
        return error;
    free(d.status);
    d.status = strdup(blocked ? "blocked" : "active");
    t = (struct block_tx){svc, actor, &d, DEVICE_STATUS};
    if ((error = svc_commit(svc, block_tx_run, &t)) == 0 && out)
        *out = d;
    else
        ch_store_device_dispose(&d);
    return error;
}

int ch_svc_device_register(ch_svc *svc, const ch_actor *actor, const char *device_id, ch_store_device *out)
{
    char id[CH_ID_MAX];
    ch_store_device d = {0};
    struct block_tx t;
    int error;

    if (out)
        memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "registering devices")) < 0)
        return error;
    if (device_id == NULL || !good_device_id(device_id) || strchr(device_id, '"') || strchr(device_id, '\\'))
        return ch_error_set_field(CH_EINVAL, "device_id",
                                  "a device id is its certificate's CN: " DEVICE_ID_RULE ", without quotes or "
                                  "backslashes either");
    ch_store_new_id(id, "dev_");
    /* No certificate yet (its digest empty, it ended at 0): bound at the first connection. */
    d = (ch_store_device){.id = strdup(id), .tenant_id = strdup(actor->tenant_id), .device_id = strdup(device_id),
                          .registered_at = ch_now(), .last_seen = 0, .status = strdup("active")};
    if (d.id == NULL || d.tenant_id == NULL || d.device_id == NULL || d.status == NULL) {
        ch_store_device_dispose(&d);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    t = (struct block_tx){svc, actor, &d, DEVICE_REGISTER};
    if ((error = svc_commit(svc, block_tx_run, &t)) == 0 && out)
        *out = d;
    else
        ch_store_device_dispose(&d);
    return error;
}

int ch_svc_device_delete(ch_svc *svc, const ch_actor *actor, const char *id)
{
    ch_store_device d;
    struct block_tx t;
    int error;

    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "deleting devices")) < 0)
        return error;
    if ((error = device_find(svc, actor->tenant_id, id, &d)) < 0)
        return error;
    t = (struct block_tx){svc, actor, &d, DEVICE_DELETE};
    error = svc_commit(svc, block_tx_run, &t);
    ch_store_device_dispose(&d);
    return error;
}
