/*
 * Automatic renewal: certificates certhub issued renew themselves at a point of their life,
 * keeping subject, SANs, profile and CA, with a new key unless told otherwise, and linked to
 * the certificate they replace.  The due ones are found in the store (so a restart loses none)
 * and each renewal is linked in the transaction that stores it (so none happens twice).
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "svc_internal.h"

int64_t ch_renew_at(int64_t nb, int64_t na)
{
    return ch_renew_at_fraction(nb, na, 2.0 / 3.0);
}

int64_t ch_renew_at_fraction(int64_t nb, int64_t na, double fraction)
{
    int64_t life = na - nb, thr = life / 2, at = nb + (int64_t)((double)life * fraction);

    /* Half the life is left to notice a renewal that fails and act, 30 days at most.  (A floor
     * of 12 hours, which no lifetime of whole days reached, put a certificate shorter than a
     * day due before it began: renewed at once, and its renewal at the next round, for ever.) */
    if (thr > 30 * 86400)
        thr = 30 * 86400;
    return at < na - thr ? at : na - thr;
}

/* A certificate lives a tenth of its life, and a round of the scheduler (a minute) at least,
 * before it is due: a lead time about its whole life renewed it at once, and each renewal a
 * minute after it was made, for ever (some 1,440 certificates a day of one line). */
#define RENEW_BEFORE_ROOM 60

static int64_t renew_before_max(int64_t life)
{
    return life - (life / 10 > RENEW_BEFORE_ROOM ? life / 10 : RENEW_BEFORE_ROOM);
}

int64_t ch_renew_at_before(int64_t nb, int64_t na, int64_t renew_before, double fraction)
{
    /* One that does not fit this certificate (carried over to a renewal that was made shorter:
     * cut at its CA's end, or given a shorter ttl) gives way to the fraction, as cert-manager
     * falls back when renewBefore is not shorter than the duration. */
    if (renew_before > 0 && renew_before <= renew_before_max(ch_issue_ttl_of(nb, na)))
        return na - renew_before;
    return ch_renew_at_fraction(nb, na, fraction);
}

int ch_renew_before_check(int64_t nb, int64_t na, int64_t renew_before)
{
    int64_t life = ch_issue_ttl_of(nb, na), most = renew_before_max(life);
    char l[24], r[24], m[24];

    if (renew_before > 0 && renew_before <= most)
        return 0;
    ch_ttl_format(l, sizeof l, life > 0 ? life : 0);
    ch_ttl_format(r, sizeof r, renew_before);
    ch_ttl_format(m, sizeof m, most > 0 ? most : 0);
    return ch_error_set_field(CH_EINVAL, "renew_before",
                              "renew_before (%s) must leave the certificate (%s) a tenth of its lifetime, and a minute "
                              "at least, before it is renewed: at most %s here (such as 720h or 30d for 90 days), or "
                              "leave it out for the tenant's renewal_point", r, l, m);
}

int64_t ch_renew_retry_at(int64_t now, int64_t not_after, int attempts)
{
    int64_t wait = 60LL << (attempts < 6 ? attempts : 6), left = not_after - now;

    /* 1, 2, 4... minutes, at most an hour, and at most a quarter of the time left: tries come
     * closer as the end nears, so that a failure that clears (a CA back, a store that had no
     * room) is caught before it (an hour-long certificate, due with half an hour left, is tried
     * 14 times rather than 5; a day-long one once an hour until its last four hours).  Not
     * under a minute, the scheduler's default round: a 5-minute one gets 3 tries, not 2. */
    if (wait > 3600)
        wait = 3600;
    if (wait > left / 4)
        wait = left / 4;
    if (wait < 60)
        wait = 60;
    return now + wait;
}

/* "dns:a,ip:b" into a NULL-terminated array of strings in *store, each name once: one written
 * twice (issuing took that once) would have the renewal refused. */
static size_t split_sans(const char *sans, char **store, const char **out, size_t max)
{
    size_t n = 0, k;
    char *p, *save = NULL;

    *store = sans ? strdup(sans) : NULL;
    for (p = *store ? strtok_r(*store, ",", &save) : NULL; p && n < max; p = strtok_r(NULL, ",", &save)) {
        for (k = 0; k < n && strcasecmp(out[k], p) != 0; k++)
            ;
        if (k == n)
            out[n++] = p;
    }
    out[n] = NULL;
    return n;
}

/* Whether certhub may renew c, now (automatic false) or by itself later (the auto_renew
 * switch, whose field the refusal names).  A CA's certificate made here is replaced by
 * rotating the CA, which moves its issuing with it (a root has no issuing CA of its own, so
 * it is named before that test); one uploaded has its issuer elsewhere. */
static int check_renewable(const ch_store_cert *c, bool automatic)
{
    const char *field = automatic ? "auto_renew" : NULL;

    if (c->renewed_by != NULL)
        return ch_error_set_field(CH_ECONFLICT, field, "certificate %s was renewed already, by %s%s", c->id,
                                  c->renewed_by, automatic ? ": switch automatic renewal on for that one" : "");
    if (c->is_ca && strcmp(c->method, "imported") != 0)
        return ch_error_set_field(CH_EPOLICY, field,
                                  "a CA's certificate is renewed by rotating its CA (POST /cas/{id}/rotate, certhub "
                                  "ca rotate)%s", automatic ? ", not automatically as a certificate it issued" : "");
    /* (A renewal now also needs the profile to issue from; the switch never asked for it.) */
    if (c->ca_id == NULL || strcmp(c->method, "imported") == 0 || (!automatic && c->profile == NULL))
        return ch_error_set_field(CH_EPOLICY, field, "uploaded certificates cannot be renewed %s: their issuer is "
                                  "elsewhere", automatic ? "automatically" : "by certhub");
    return 0;
}

int ch_svc_cert_renew(ch_svc *svc, const ch_actor *actor, const char *id, bool reuse_key, ch_store_cert *out)
{
    ch_svc_renew_opts o = {.reuse_key = reuse_key};

    return ch_svc_cert_renew_opts(svc, actor, id, &o, out);
}

int ch_svc_cert_renew_opts(ch_svc *svc, const ch_actor *actor, const char *id, const ch_svc_renew_opts *opts,
                           ch_store_cert *out)
{
    bool reuse_key = opts->reuse_key;
    ch_store_cert old = {0};
    ch_store_key key = {0};
    ch_cert *cert = NULL;
    ch_key *pub = NULL;
    ch_buf pub_pem = CH_BUF_INIT;
    ch_svc_issue_req q = {0};
    const char *sans[CH_MAX_SANS + 1];
    static const char *const no_oids[] = {NULL};
    char *san_store = NULL, *carried = NULL, **eku_oids = NULL, **policies = NULL;
    int error;

    if (out)
        memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "renewing a certificate")) < 0)
        return error;
    if ((opts->key_type != NULL) + (opts->csr != NULL) + reuse_key > 1)
        return ch_error_set_field(CH_EINVAL, opts->csr ? "csr" : "key_type",
                                  "give one of reuse_key, key_type (a new key made here) and csr (the holder's new key)");
    if ((error = ch_store_cert_get(svc->store, &old, actor->tenant_id, id)) < 0)
        return error;
    if ((error = check_renewable(&old, false)) < 0)
        goto done;
    /* (a name kept from before names with spaces at their ends were refused: renewed trimmed) */
    q.name = carried = svc_name_carried(old.name);
    q.profile = old.profile;
    q.ca_id = opts->ca_id ? opts->ca_id : old.ca_id;
    if (opts->ca_id == NULL && old.ca_id != NULL) {
        /* Its CA deleted since: renewed as a request that names none is issued, as cert-manager
         * renews from the issuer configured now (renewals stopped at "no CA with id"). */
        ch_store_ca ca;
        if ((error = ch_store_ca_get(svc->store, &ca, actor->tenant_id, old.ca_id)) == CH_ENOTFOUND) {
            q.ca_id = NULL;
            q.renewal_of = opts->automatic ? id : NULL;
        }
        else if (error < 0)
            goto done;
        else
            ch_store_ca_dispose(&ca);
        ch_error_clear();
    }
    if (opts->subject != NULL)
        q.subject = *opts->subject;
    else
        q.subject.dn = old.subject;
    /* A lifetime asked for is held to the profile's maximum and the CA's end as at issuance
     * (ch_cert_issue), the refusal naming days or ttl as given. */
    if (opts->days != 0 || opts->ttl != 0) {
        q.days = opts->days;
        q.ttl = opts->ttl;
        q.cap_validity = opts->cap_validity;
    } else {
        /* The lifetime carried over is cut at the CA's end rather than refused, as cert-manager's
         * CA issuer does: a renewal (most of them automatic) that failed there left the old
         * certificate to run out while its CA still had time; the CA's own end is alerted and
         * its rotation is what gives the room back. */
        svc_lifetime_of(&old, &q.days, &q.ttl);
        q.cap_validity = true;
    }
    q.auto_renew = old.auto_renew;
    /* The lead time goes on with the line, as cert-manager keeps a Certificate's renewBefore;
     * one carried over that the renewal is too short for is not refused (ch_renew_at_before). */
    q.renew_before = opts->renew_before > 0 ? opts->renew_before : old.renew_before;
    q.renew_before_kept = opts->renew_before <= 0;
    q.renews = old.id;
    if (opts->sans_given) {
        q.sans = opts->sans;
        q.san_count = opts->san_count;
    } else {
        split_sans(old.sans, &san_store, sans, CH_MAX_SANS);
        q.sans = sans;
    }
    /* What was chosen at issuance beside the profile goes on too: the digest, the key usages
     * (overrides of the profile's, or the profile's own then), and which of the extensions
     * the wizard switches were left out or marked critical (the AKI is never critical). */
    if ((error = ch_cert_parse(&cert, old.der, old.der_len)) < 0)
        goto done;
    {
        ch_cert_info info;
        int md_nid = NID_undef, pk_nid;
        if (OBJ_find_sigid_algs(X509_get_signature_nid(ch_cert_x509(cert)), &md_nid, &pk_nid) == 1)
            q.digest = md_nid == NID_sha384 ? "sha384" : md_nid == NID_sha512 ? "sha512" : NULL;
        if (ch_cert_inspect(&info, cert) == 0) {
            /* Not what does not apply to the key, as other CAs write (key transport with an
             * EC key): issuing refuses it, and the renewal would fail. */
            q.key_usage = info.has_key_usage ? ch_cert_usage_fit(cert, info.key_usage) : 0;
            q.ext_key_usage = info.has_ext_key_usage ? info.ext_key_usage : 0;
            q.leave_out = (info.has_basic_constraints ? 0 : CH_EXT_BASIC_CONSTRAINTS) |
                          (info.has_key_usage ? 0 : CH_EXT_KEY_USAGE) |
                          (info.has_ext_key_usage ? 0 : CH_EXT_EXT_KEY_USAGE) |
                          (info.aki != NULL ? 0 : CH_EXT_AUTHORITY_KEY_ID);
            q.critical_set = CH_EXT_BASIC_CONSTRAINTS | CH_EXT_KEY_USAGE | CH_EXT_EXT_KEY_USAGE;
            q.critical = info.critical & q.critical_set;
            /* The usages and policies it has as OIDs, the profile's then or given (none: none,
             * not what the profile may have gained since, as with the named usages). */
            eku_oids = info.eku_other;
            policies = info.policies;
            info.eku_other = info.policies = NULL;
            q.eku_oids = eku_oids ? (const char *const *)eku_oids : no_oids;
            q.policies = policies ? (const char *const *)policies : no_oids;
            ch_cert_info_dispose(&info);
        }
        ch_error_clear();
    }
    /* A key of another kind takes the profile's key usages (those fit to the old key may not
     * apply to it: key transport asked of an EC key is refused). */
    if (opts->key_type != NULL || opts->csr != NULL)
        q.key_usage = 0;
    if (opts->key_type != NULL) {
        q.key_type = opts->key_type;
    } else if (opts->csr != NULL) {
        q.csr = opts->csr;
        q.csr_len = opts->csr_len;
    } else if (old.key_id != NULL && !reuse_key) {
        /* A new key of the same kind. */
        if ((error = ch_store_key_get(svc->store, &key, actor->tenant_id, old.key_id)) < 0)
            goto done;
        q.key_type = key.algorithm;
    } else {
        /* The same public key: reused on request, or held by the device and not by us. */
        if ((error = ch_cert_public_key(&pub, cert)) < 0 ||
            (error = ch_key_write_public_pem(&pub_pem, pub)) < 0)
            goto done;
        q.public_key = pub_pem.data;
        q.public_key_len = pub_pem.len;
        /* The key certhub holds goes on with it: the renewed certificate was issued for a
         * public key alone, and held no key (no PKCS#12 of it, nothing for the agent). */
        q.key_id = old.key_id;
    }
    error = ch_svc_cert_issue(svc, actor, &q, out);
done:
    free(san_store);
    free(carried);
    ch_strv_free(eku_oids);
    ch_strv_free(policies);
    ch_buf_dispose(&pub_pem);
    ch_key_free(pub);
    ch_cert_free(cert);
    ch_store_key_dispose(&key);
    ch_store_cert_dispose(&old);
    return error;
}

struct update_tx {
    ch_svc *svc;
    const ch_actor *actor;
    const char *id, *name;
    int auto_renew;
    int64_t renew_at;
    int64_t renew_before; /* -1: kept */
};

static int update_tx(struct update_tx *t)
{
    int error = 0;

    if (t->name != NULL)
        error = svc_cert_rename_tx(t->svc, t->actor, t->id, t->name);
    if (error == 0 && t->auto_renew >= 0 &&
        (error = ch_store_cert_set_auto_renew(t->svc->store, t->actor->tenant_id, t->id, t->auto_renew,
                                              t->renew_at)) == 0)
        error = svc_audit(t->svc, t->actor, "certificate.auto_renew", "certificate", t->id,
                          t->auto_renew ? "{\"auto_renew\":true}" : "{\"auto_renew\":false}");
    if (error == 0 && t->renew_before >= 0 &&
        (error = ch_store_cert_set_renew_before(t->svc->store, t->actor->tenant_id, t->id, t->renew_before,
                                                t->renew_at)) == 0) {
        char detail[64], ttl[24];
        ch_ttl_format(ttl, sizeof ttl, t->renew_before);
        if (t->renew_before > 0)
            snprintf(detail, sizeof detail, "{\"renew_before\":\"%s\"}", ttl);
        else
            snprintf(detail, sizeof detail, "{\"renew_before\":null}");
        error = svc_audit(t->svc, t->actor, "certificate.renew_before", "certificate", t->id, detail);
    }
    return error;
}

int ch_svc_cert_update(ch_svc *svc, const ch_actor *actor, const char *id, const char *name, int auto_renew)
{
    return ch_svc_cert_update_renewal(svc, actor, id, name, auto_renew, -1);
}

int ch_svc_cert_update_renewal(ch_svc *svc, const ch_actor *actor, const char *id, const char *name, int auto_renew,
                               int64_t renew_before)
{
    ch_store_cert c;
    ch_svc_settings st;
    struct update_tx t = {svc, actor, id, name, auto_renew, 0, renew_before};
    double fraction;
    bool renews;
    int error;

    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "changing a certificate")) < 0)
        return error;
    if (name != NULL && (error = svc_need_name(name)) < 0)
        return error;
    if ((error = ch_store_cert_get(svc->store, &c, actor->tenant_id, id)) < 0)
        return error;
    /* All checked before any is written: a 4xx changes nothing (a rename went through
     * before the automatic renewal it came with was refused). */
    if (auto_renew == 1 && (error = check_renewable(&c, true)) < 0)
        goto done;
    /* (a lead time where certhub renews nothing, a CA's or an upload's, would be shown as a
     * renew_at that never comes) */
    if (renew_before > 0 && (error = check_renewable(&c, true)) < 0) {
        ch_error_set_field(error, "renew_before", "%s", ch_error_last());
        goto done;
    }
    if (renew_before > 0 && (error = ch_renew_before_check(c.not_before, c.not_after, renew_before)) < 0)
        goto done;
    /* Due where its own lead time, or else the tenant's renewal point, puts it, as when it is
     * issued with auto_renew (one not renewing by itself shows when it would be, at 2/3). */
    renews = auto_renew == 1 || (auto_renew == -1 && c.auto_renew && c.renewed_by == NULL);
    fraction = renews && svc_settings_of(svc, actor->tenant_id, &st) == 0 ? st.renewal_point : 2.0 / 3.0;
    t.renew_at = ch_renew_at_before(c.not_before, c.not_after, renew_before >= 0 ? renew_before : c.renew_before,
                                    fraction);
    SVC_TX(svc, update_tx(&t));
    if (error == 0 && renews)
        svc_scheduler_due(svc, t.renew_at);
done:
    ch_store_cert_dispose(&c);
    return error;
}

/* The webhooks that failed in this round of the scheduler, by tenant and URL: one that hangs
 * holds the scheduler (renewals, rotations, other tenants' alerts) for its whole timeout, so it
 * is tried once a round, not once for each of its alerts; those it missed go at the next round,
 * as any failed delivery does. */
struct hook_round {
    char (*down)[CH_ID_MAX + 520]; /* "tenant url" */
    size_t n, cap;
};

static void hook_key(char *key, size_t cap, const char *tenant_id, const char *url)
{
    snprintf(key, cap, "%s %s", tenant_id, url);
}

/* Sends body to a webhook unless it failed earlier in the round: 0 when it took it. */
static int hook_send(ch_svc *svc, struct hook_round *round, const char *tenant_id, const char *url,
                     const char *secret, const char *body)
{
    char key[sizeof *round->down];

    hook_key(key, sizeof key, tenant_id, url);
    for (size_t i = 0; i < round->n; i++)
        if (strcmp(round->down[i], key) == 0)
            return -1;
    if (svc->alert_sender(svc->alert_arg, url, secret, body, svc_is_system_tenant(svc, tenant_id)) == 0)
        return 0;
    if (round->n == round->cap) {
        size_t cap = round->cap ? 2 * round->cap : 8;
        void *p = realloc(round->down, cap * sizeof *round->down);
        if (p == NULL)
            return -1; /* tried again within the round: no worse than before */
        round->down = p;
        round->cap = cap;
    }
    memcpy(round->down[round->n++], key, sizeof key);
    return -1;
}

/* An event sent once that a webhook did not take, kept for the next rounds: at most
 * HOOK_LATER_MAX of them (the oldest dropped, said in the log), in memory only. */
#define HOOK_LATER_MAX 256

struct svc_hook_later {
    char tenant_id[CH_ID_MAX];
    char url[512];
    char *body;
    struct svc_hook_later *next;
};

static void hook_later_free_one(struct svc_hook_later *l)
{
    free(l->body);
    free(l);
}

static void hook_later_add(ch_svc *svc, const char *tenant_id, const char *url, const char *body)
{
    struct svc_hook_later *l, **tail;

    if (svc->hook_later_count >= HOOK_LATER_MAX && (l = svc->hook_later) != NULL) {
        char origin[256];
        ch_url_origin(origin, sizeof origin, l->url); /* (a webhook's path is often its credential) */
        svc_log(svc, "webhook %s: an event it did not take dropped (more than %d waiting)", origin, HOOK_LATER_MAX);
        svc->hook_later = l->next;
        hook_later_free_one(l);
        svc->hook_later_count--;
    }
    if ((l = calloc(1, sizeof *l)) == NULL || (l->body = strdup(body)) == NULL) {
        free(l);
        return;
    }
    snprintf(l->tenant_id, sizeof l->tenant_id, "%s", tenant_id);
    snprintf(l->url, sizeof l->url, "%s", url);
    for (tail = &svc->hook_later; *tail != NULL; tail = &(*tail)->next)
        ;
    *tail = l;
    svc->hook_later_count++;
}

/* Sends an event sent once to a webhook; one it does not take waits for the next round. */
static void hook_send_once(ch_svc *svc, struct hook_round *round, const char *tenant_id, const char *url,
                           const char *secret, const char *body)
{
    if (hook_send(svc, round, tenant_id, url, secret, body) < 0)
        hook_later_add(svc, tenant_id, url, body);
}

/* The events waiting from earlier rounds, each to its webhook if the tenant still has it (with
 * its secret as it is now); those it does not take wait again, in their order. */
static void hook_later_run(ch_svc *svc, struct hook_round *round)
{
    struct svc_hook_later *list = svc->hook_later, *l, *next;

    svc->hook_later = NULL;
    svc->hook_later_count = 0;
    for (l = list; l != NULL; l = next) {
        ch_svc_settings st;
        next = l->next;
        if (svc_settings_secrets_of(svc, l->tenant_id, &st) == 0) {
            for (size_t w = 0; w < st.nwebhooks; w++)
                if (strcmp(st.webhooks[w].url, l->url) == 0) {
                    hook_send_once(svc, round, l->tenant_id, l->url, st.webhooks[w].secret, l->body);
                    break;
                }
            svc_settings_wipe(&st);
        }
        hook_later_free_one(l);
    }
}

void svc_hook_later_free(ch_svc *svc)
{
    while (svc->hook_later != NULL) {
        struct svc_hook_later *l = svc->hook_later;
        svc->hook_later = l->next;
        hook_later_free_one(l);
    }
    svc->hook_later_count = 0;
}

/* When the event was made ("at", RFC 3339), in what is signed: a receiver refuses one older
 * than it allows, which a request captured and sent again is (the signature alone let a
 * replay through). */
static void stamp(json_t *ev)
{
    char at[32];

    ch_time_format(at, sizeof at, ch_now());
    if (ev != NULL)
        json_object_set_new(ev, "at", json_string(at));
}

/* An event (ev, taken) to each webhook of the tenant, named by its tenant as an expiry alert is
 * (one receiver may serve several); one a webhook does not take is tried at the next rounds. */
static void event_send(ch_svc *svc, struct hook_round *round, const char *tenant_id, json_t *ev)
{
    ch_svc_settings st;
    ch_store_tenant tn = {0};
    char *text;

    if (ev == NULL)
        return;
    (void)ch_store_tenant_get(svc->store, &tn, tenant_id);
    ch_error_clear();
    json_object_set_new(ev, "tenant", json_string(tn.name ? tn.name : ""));
    ch_store_tenant_dispose(&tn);
    stamp(ev);
    text = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(ev);
    if (text && svc_settings_secrets_of(svc, tenant_id, &st) == 0) {
        for (size_t w = 0; w < st.nwebhooks; w++) {
            /* Before certhubd has its sender (its start's rotations run first): kept for the
             * scheduler's first round, as one a webhook did not take (it was dropped, and the
             * failure said once a day went unsent for that day). */
            if (svc->alert_sender == NULL)
                hook_later_add(svc, tenant_id, st.webhooks[w].url, text);
            else
                hook_send_once(svc, round, tenant_id, st.webhooks[w].url, st.webhooks[w].secret, text);
        }
        svc_settings_wipe(&st);
    }
    free(text);
}

/* ch_svc_renew_due within a scheduler round: a webhook down in it is not tried again in it. */
static int renew_due(ch_svc *svc, size_t max, struct hook_round *round)
{
    ch_store_cert_ref *due = NULL;
    size_t n = 0;
    int64_t now = ch_now();

    if (svc->alert_sender != NULL)
        hook_later_run(svc, round);
    if (ch_store_cert_due_renewals(svc->store, now, max, &due, &n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        ch_actor system = {due[i].tenant_id, "system:renewal", CH_ROLE_ADMIN, 0, NULL, NULL};
        ch_svc_renew_opts automatic = {.automatic = true};
        ch_store_cert fresh, old;
        char detail[700], field[32];
        int code;
        json_t *d;
        char *text;
        if (ch_svc_cert_renew_opts(svc, &system, due[i].id, &automatic, &fresh) == 0) {
            ch_store_cert_dispose(&fresh); /* the issue was audited as certificate.issue, linked by renews */
            continue;
        }
        snprintf(detail, sizeof detail, "%s", ch_error_last());
        snprintf(field, sizeof field, "%s", ch_error_field() ? ch_error_field() : "");
        code = ch_error_last_code();
        if (code == CH_ECONFLICT)
            continue; /* renewed meanwhile (another node, or a person) */
        /* Retried with backoff (ch_renew_retry_at); the old one stays served.
         * Not for ever: a certificate past its end, whose CA or profile is gone, or whose names
         * or key type its profile no longer allows, is not renewed by trying again; its
         * automatic renewal stops, said once (it was tried and alerted every hour, years on). */
        if (ch_store_cert_get(svc->store, &old, due[i].tenant_id, due[i].id) == 0) {
            /* (a name or key type its profile no longer allows stays refused until a person acts:
             * widens the profile, or issues anew, and switches renewal on again) */
            bool by_profile = code == CH_EPOLICY && (strcmp(field, "sans") == 0 || strcmp(field, "subject") == 0 ||
                                                     strcmp(field, "key_type") == 0 || strcmp(field, "public_key") == 0);
            bool stop = old.not_after <= now || code == CH_ENOTFOUND || by_profile;
            if (stop) {
                struct update_tx off = {svc, &system, old.id, NULL, 0, 0, -1};
                if (ch_store_begin(svc->store) == 0 && (update_tx(&off) < 0 || ch_store_commit(svc->store) < 0))
                    ch_store_rollback(svc->store);
                snprintf(detail + strlen(detail), sizeof detail - strlen(detail), "%s",
                         old.not_after <= now ? "; it has expired: automatic renewal stopped"
                                              : "; automatic renewal stopped");
            }
            (void)ch_store_cert_renew_failed(svc->store, due[i].tenant_id, due[i].id,
                                             ch_renew_retry_at(now, old.not_after, old.renew_attempts), detail);
            d = json_pack("{ss si sb}", "error", detail, "attempt", old.renew_attempts + 1, "stopped", stop);
            text = json_dumps(d, JSON_COMPACT);
            json_decref(d);
            if (ch_store_begin(svc->store) == 0 &&
                (svc_audit(svc, &system, "certificate.renew_failed", "certificate", due[i].id, text) < 0 ||
                 ch_store_commit(svc->store) < 0))
                ch_store_rollback(svc->store);
            /* And alerted, to the tenant's webhooks. */
            event_send(svc, round, due[i].tenant_id,
                       json_pack("{ss s{ss ss ss} ss si sb}", "event", "certificate.renewal_failed", "certificate", "id",
                                 old.id, "name", old.name, "subject", old.subject, "error", detail, "attempt",
                                 old.renew_attempts + 1, "stopped", stop));
            free(text);
            ch_store_cert_dispose(&old);
        }
    }
    free(due);
    return (int)n;
}

int ch_svc_renew_due(ch_svc *svc, size_t max)
{
    struct hook_round round = {0};
    int n = renew_due(svc, max, &round);

    free(round.down);
    return n;
}

void ch_svc_set_alert_sender(ch_svc *svc, ch_alert_sender fn, void *arg)
{
    svc->alert_sender = fn;
    svc->alert_arg = arg;
}


/* Whether a threshold more urgent than thresholds[k] covers a certificate with left seconds. */
static bool superseded(const ch_svc_settings *st, size_t k, int64_t left)
{
    for (size_t j = 0; j < st->nthresholds; j++)
        if (st->thresholds[j] < st->thresholds[k] && left <= (int64_t)st->thresholds[j] * 86400)
            return true;
    return false;
}

/* The tenant's tokens near their end (setting token_alert_days), each sent once to every
 * webhook as event token.expiring and audited as alert.sent, as a certificate's expiry is: a
 * script's token that ends unnoticed stops the script.  A webhook that fails has it again at
 * the next round, those that took it do not. */
static int token_alerts_run(ch_svc *svc, struct hook_round *round, const ch_store_tenant *tenant,
                            const ch_svc_settings *st, int64_t now)
{
    ch_store_token *due = NULL;
    size_t n = 0;
    int sent = 0;

    if (st->token_alert_days == 0 ||
        ch_store_token_alerts_due(svc->store, tenant->id, now, st->token_alert_days, 100, &due, &n) < 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        ch_actor system = {tenant->id, "system:alerts", CH_ROLE_ADMIN, 0, NULL, NULL};
        char at[32], *body;
        json_t *j;
        bool all = true;

        ch_time_format(at, sizeof at, due[i].expires_at);
        j = json_pack("{ss ss s{ss ss ss ss} si sI}", "event", "token.expiring", "tenant", tenant->name, "token", "id",
                      due[i].id, "name", due[i].name ? due[i].name : "", "role", due[i].role, "expires_at", at,
                      "threshold_days", st->token_alert_days, "seconds_left", (json_int_t)(due[i].expires_at - now));
        stamp(j);
        body = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(j);
        for (size_t w = 0; w < st->nwebhooks && body; w++) {
            bool done = false;
            if (ch_store_token_alert_delivered(svc->store, tenant->id, due[i].id, st->webhooks[w].url, &done) == 0 &&
                done)
                continue;
            if (hook_send(svc, round, tenant->id, st->webhooks[w].url, st->webhooks[w].secret, body) == 0)
                (void)ch_store_token_alert_delivery(svc->store, tenant->id, due[i].id, st->webhooks[w].url, now);
            else
                all = false;
        }
        if (all && body && ch_store_token_alerted(svc->store, tenant->id, due[i].id, now) == 0) {
            sent++;
            if (ch_store_begin(svc->store) == 0 &&
                (svc_audit(svc, &system, "alert.sent", "token", due[i].id, body) < 0 ||
                 ch_store_commit(svc->store) < 0))
                ch_store_rollback(svc->store);
        }
        free(body);
    }
    ch_store_token_list_free(due, n);
    return sent;
}

/* ch_svc_alerts_run within a scheduler round (see renew_due). */
static int alerts_run(ch_svc *svc, struct hook_round *round)
{
    ch_store_tenant *tenants = NULL;
    size_t nt = 0;
    int64_t now = ch_now();
    int sent = 0;

    if (svc->alert_sender == NULL || ch_store_tenant_list(svc->store, &tenants, &nt) < 0)
        return 0;
    for (size_t t = 0; t < nt; t++) {
        ch_svc_settings st;
        /* A revoked tenant's webhooks are sent nothing (its offboarding went on alerting). */
        if (tenants[t].disabled_at != 0 || svc_settings_secrets_of(svc, tenants[t].id, &st) < 0)
            continue;
        if (st.nwebhooks == 0) {
            svc_settings_wipe(&st);
            continue;
        }
        for (size_t k = 0; k < st.nthresholds; k++) {
            ch_store_cert_ref *due = NULL;
            size_t n = 0;
            if (ch_store_alerts_due(svc->store, tenants[t].id, now, st.thresholds[k], 100, &due, &n) < 0)
                continue;
            for (size_t i = 0; i < n; i++) {
                ch_store_cert c;
                ch_actor system = {tenants[t].id, "system:alerts", CH_ROLE_ADMIN, 0, NULL, NULL};
                char na[32], *body;
                json_t *j;
                bool all = true;
                if (ch_store_cert_get(svc->store, &c, tenants[t].id, due[i].id) < 0)
                    continue;
                ch_time_format(na, sizeof na, c.not_after);
                j = json_pack("{ss ss s{ss ss ss ss ss} si sI}", "event", "certificate.expiring", "tenant",
                              tenants[t].name, "certificate", "id", c.id, "name", c.name, "subject", c.subject, "serial",
                              c.serial, "not_after", na, "threshold_days", st.thresholds[k], "seconds_left",
                              (json_int_t)(c.not_after - now));
                stamp(j);
                body = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
                json_decref(j);
                /* A more urgent threshold the certificate is within already stands for this
                 * one: one found with 5 days left has the 7-day alert, not the 30-day one too. */
                if (superseded(&st, k, c.not_after - now)) {
                    (void)ch_store_alert_sent(svc->store, tenants[t].id, c.id, st.thresholds[k], now);
                    free(body);
                    ch_store_cert_dispose(&c);
                    continue;
                }
                /* Each webhook once: one that fails has it again at the next round, those that
                 * took it do not. */
                for (size_t w = 0; w < st.nwebhooks && body; w++) {
                    bool done = false;
                    if (ch_store_alert_delivered(svc->store, tenants[t].id, c.id, st.thresholds[k], st.webhooks[w].url,
                                                 &done) == 0 && done)
                        continue;
                    if (hook_send(svc, round, tenants[t].id, st.webhooks[w].url, st.webhooks[w].secret, body) == 0)
                        (void)ch_store_alert_delivery(svc->store, tenants[t].id, c.id, st.thresholds[k],
                                                      st.webhooks[w].url, now);
                    else
                        all = false;
                }
                /* Sent once every webhook took it; otherwise tried again at the next round. */
                if (all && body && ch_store_alert_sent(svc->store, tenants[t].id, c.id, st.thresholds[k], now) == 0) {
                    sent++;
                    if (ch_store_begin(svc->store) == 0 &&
                        (svc_audit(svc, &system, "alert.sent", "certificate", c.id, body) < 0 ||
                         ch_store_commit(svc->store) < 0))
                        ch_store_rollback(svc->store);
                }
                free(body);
                ch_store_cert_dispose(&c);
            }
            free(due);
        }
        sent += token_alerts_run(svc, round, &tenants[t], &st, now);
        svc_settings_wipe(&st);
    }
    ch_store_tenant_list_free(tenants, nt);
    return sent;
}

int ch_svc_alerts_run(ch_svc *svc)
{
    struct hook_round round = {0};
    int sent = alerts_run(svc, &round);

    free(round.down);
    return sent;
}

/* How long an intermediate due for rotation waits after its parent rotated: a certificate signed
 * under the new root fails for every client that has not fetched the trust bundle holding it
 * yet (the quickstart root and the issuing CA under it come due within the same hour, six
 * and a half years on).  Not when the intermediate has less than this left itself. */
#define ROTATE_GRACE (30 * 86400LL)

/* Whether the parent of an intermediate CA was rotated less than ROTATE_GRACE ago. */
static bool parent_rotated_lately(ch_svc *svc, const char *tenant_id, const char *parent_id, int64_t now)
{
    ch_store_ca parent;
    ch_store_cert pc;
    bool lately = false;

    if (parent_id == NULL || ch_store_ca_get(svc->store, &parent, tenant_id, parent_id) < 0)
        return false;
    if (ch_store_cert_get(svc->store, &pc, tenant_id, parent.cert_id) == 0) {
        lately = pc.not_before > now - ROTATE_GRACE;
        ch_store_cert_dispose(&pc);
    }
    ch_store_ca_dispose(&parent);
    return lately;
}

/* Whether a failed automatic rotation of CA ca_id is to be said now: once a day for each (the
 * scheduler tries again every round; failing unsaid, a CA went on to its end with its
 * rotation "on"). */
static bool rotation_failure_news(ch_svc *svc, const char *ca_id, int64_t now)
{
    size_t slot = 0;
    bool say = true;

    pthread_mutex_lock(&svc->rot_lock);
    for (size_t i = 0; i < sizeof svc->rot_failed / sizeof svc->rot_failed[0]; i++) {
        if (strcmp(svc->rot_failed[i].ca_id, ca_id) == 0) {
            slot = i;
            say = now - svc->rot_failed[i].said_at >= 86400;
            break;
        }
        if (svc->rot_failed[i].said_at < svc->rot_failed[slot].said_at)
            slot = i; /* (the oldest, to be taken by a CA not met yet) */
    }
    if (say) {
        snprintf(svc->rot_failed[slot].ca_id, CH_ID_MAX, "%s", ca_id);
        svc->rot_failed[slot].said_at = now;
    }
    pthread_mutex_unlock(&svc->rot_lock);
    return say;
}

/* When the parent of an intermediate CA ends (its current certificate), or 0 when it cannot be
 * told (a root, a parent gone). */
static int64_t parent_end(ch_svc *svc, const char *tenant_id, const char *parent_id)
{
    ch_store_ca parent;
    ch_store_cert pc;
    int64_t end = 0;

    if (parent_id == NULL || ch_store_ca_get(svc->store, &parent, tenant_id, parent_id) < 0)
        return 0;
    if (ch_store_cert_get(svc->store, &pc, tenant_id, parent.cert_id) == 0) {
        end = pc.not_after;
        ch_store_cert_dispose(&pc);
    }
    ch_store_ca_dispose(&parent);
    ch_error_clear();
    return end;
}

/* A CA that could not be rotated, said once a day: in the log, the audit log and to the
 * tenant's webhooks (ca.rotation_failed), as a failed renewal is (it was a log line alone). */
static void rotation_failed(ch_svc *svc, struct hook_round *round, const ch_actor *system, const ch_store_ca *ca,
                            int64_t ends, const char *why)
{
    char until[32], *detail;
    json_t *d;

    ch_time_format(until, sizeof until, ends);
    svc_log(svc, "CA %s (%s) is due for rotation and could not be rotated: %s.  It is tried again at each scheduler "
            "round; its certificate ends %s", ca->name, ca->id, why, until);
    d = json_pack("{ss ss}", "error", why, "not_after", until);
    detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    if (detail != NULL && ch_store_begin(svc->store) == 0 &&
        (svc_audit(svc, system, "ca.rotate_failed", "ca", ca->id, detail) < 0 || ch_store_commit(svc->store) < 0))
        ch_store_rollback(svc->store);
    free(detail);
    event_send(svc, round, ca->tenant_id,
               json_pack("{ss s{ss ss} ss ss}", "event", "ca.rotation_failed", "ca", "id", ca->id, "name", ca->name,
                         "error", why, "not_after", until));
    ch_error_clear();
}

static int rotate_due(ch_svc *svc, struct hook_round *round)
{
    ch_store_tenant *tenants = NULL;
    size_t nt = 0;
    int64_t now = ch_now();
    int rotated = 0;

    if (ch_store_tenant_list(svc->store, &tenants, &nt) < 0)
        return 0;
    for (size_t t = 0; t < nt; t++) {
        ch_store_ca *cas = NULL;
        size_t n = 0;
        ch_actor system = {tenants[t].id, "system:rotation", CH_ROLE_ADMIN, 0, NULL, NULL};
        /* A revoked tenant's CAs make no new keys (its CAs went on rotating, its certificates
         * on renewing: ch_store_cert_due_renewals leaves them out). */
        if (tenants[t].disabled_at != 0 || ch_store_ca_list(svc->store, tenants[t].id, NULL, &cas, &n) < 0)
            continue;
        for (size_t i = 0; i < n; i++) {
            /* Those whose settings ask for it: the quickstart CAs are made so. */
            ch_store_cert cur;
            if (!ch_svc_ca_auto_rotate(&cas[i]) || cas[i].key_id == NULL ||
                ch_store_cert_get(svc->store, &cur, tenants[t].id, cas[i].cert_id) < 0)
                continue;
            /* Rotate when a third of the CA certificate's life is left; an intermediate not under
             * a parent rotated lately (whose new root clients may not trust yet). */
            if (cur.not_after - now < (cur.not_after - cur.not_before) / 3 &&
                (cur.not_after - now <= ROTATE_GRACE ||
                 !parent_rotated_lately(svc, tenants[t].id, cas[i].parent_id, now))) {
                char until[32], ends[32] = "", why[400];
                ch_store_ca after = {0};
                int64_t above = parent_end(svc, tenants[t].id, cas[i].parent_id);
                /* Under a parent that ends first, a rotation gains nothing: its new certificate is
                 * cut at the parent's end, as its current one is (a key made and a certificate
                 * added to the bundle at each round, the end never moving). */
                if (above != 0 && above <= cur.not_after) {
                    ch_store_ca parent = {0};
                    (void)ch_store_ca_get(svc->store, &parent, tenants[t].id, cas[i].parent_id);
                    ch_time_format(until, sizeof until, above);
                    snprintf(why, sizeof why, "its parent CA %s ends first (%s), and a new certificate would end then "
                             "too: rotate %s (or switch its automatic rotation on)", parent.name ? parent.name : "?",
                             until, parent.name ? parent.name : "it");
                    ch_store_ca_dispose(&parent);
                    if (rotation_failure_news(svc, cas[i].id, now))
                        rotation_failed(svc, round, &system, &cas[i], cur.not_after, why);
                    ch_error_clear();
                    ch_store_cert_dispose(&cur);
                    continue;
                }
                if (ch_svc_ca_rotate(svc, &system, cas[i].id, NULL) == 0) {
                    ch_store_cert next;
                    rotated++;
                    /* Said as a failure is: the operator who reads the log learns that the CA's
                     * certificate changed (clients that pinned the old one, a bundle to fetch).
                     * (Read apart: a read failing here is no failed rotation.) */
                    if (ch_store_ca_get(svc->store, &after, tenants[t].id, cas[i].id) == 0 && after.cert_id != NULL &&
                        ch_store_cert_get(svc->store, &next, tenants[t].id, after.cert_id) == 0) {
                        ch_time_format(ends, sizeof ends, next.not_after);
                        ch_store_cert_dispose(&next);
                    }
                    ch_time_format(until, sizeof until, cur.not_after);
                    svc_log(svc, "CA %s (%s) rotated: its new certificate %s ends %s; the old one stays in the trust "
                            "bundle until it ends %s", cas[i].name, cas[i].id, after.cert_id ? after.cert_id : "?",
                            ends[0] ? ends : "?", until);
                    ch_store_ca_dispose(&after);
                } else if (rotation_failure_news(svc, cas[i].id, now)) {
                    snprintf(why, sizeof why, "%s", ch_error_last());
                    rotation_failed(svc, round, &system, &cas[i], cur.not_after, why);
                }
                ch_error_clear();
            }
            ch_store_cert_dispose(&cur);
        }
        ch_store_ca_list_free(cas, n);
    }
    ch_store_tenant_list_free(tenants, nt);
    return rotated;
}

int ch_svc_rotate_due(ch_svc *svc)
{
    struct hook_round round = {0};
    int rotated = rotate_due(svc, &round);

    free(round.down);
    return rotated;
}

struct scheduler {
    pthread_t tid;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    int interval;
    int64_t wake; /* when the next round begins (under lock; INT64_MAX during a round) */
    int64_t tidied_at; /* when the tenants' tidying last ran (the scheduler's thread alone) */
    ch_svc *svc;
};

/* Tidying runs at the first round and hourly after: what it removes ended days ago, and a
 * round a minute would read each tenant's kept certificates (the first of each line of
 * renewals, those in keystores) sixty times an hour for nothing. */
#define TIDY_INTERVAL 3600

void svc_scheduler_due(ch_svc *svc, int64_t at)
{
    struct scheduler *s = svc->scheduler;

    if (s == NULL || at <= 0)
        return;
    pthread_mutex_lock(&s->lock);
    /* Sooner than the round set, or the round is late: its wait counts from the clock as it
     * was, and a clock set forward (by hand, or libfaketime) leaves it waiting; the round
     * begins now, then. */
    if (at < s->wake || ch_now() > s->wake) {
        if (at < s->wake)
            s->wake = at;
        pthread_cond_signal(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
}

static void *scheduler_main(void *arg)
{
    struct scheduler *s = arg;
    struct timespec until;
    int64_t next, now;

    ch_thread_name("certhub-sched");
    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        s->wake = INT64_MAX; /* lowered by svc_scheduler_due during the round */
        pthread_mutex_unlock(&s->lock);
        struct hook_round round = {0}; /* one for the round's rotations, renewals and alerts alike */
        (void)rotate_due(s->svc, &round);
        (void)renew_due(s->svc, 100, &round);
        (void)alerts_run(s->svc, &round);
        free(round.down);
        (void)ch_svc_token_purge_due(s->svc);
        if (s->tidied_at == 0 || ch_now() - s->tidied_at >= TIDY_INTERVAL || ch_now() < s->tidied_at) {
            s->tidied_at = ch_now();
            (void)ch_svc_tidy_due(s->svc);
        }
        if (atomic_load(&s->svc->trust_owed))
            svc_trust_dir_refresh(s->svc);
        /* The next round comes at the interval, or sooner when a renewal is due before it: a
         * certificate of minutes (or a renewal's retry) would otherwise wait for a round set
         * for longer lifetimes, and may have ended by then.  One still due after this round
         * (more than it takes at once, or one that could not be marked) waits the interval. */
        if (ch_store_cert_next_renewal(s->svc->store, &next) < 0)
            next = 0;
        ch_error_clear();
        atomic_fetch_add(&s->svc->sched_rounds, 1);
        ch_svc_thread_idle(s->svc); /* a connection kept for the next round would sit idle */
        /* And what the round freed goes back to the system: this thread's malloc arena held
         * about 150 kB of an idle certhubd's 10 MB between rounds. */
        malloc_trim(0);
        pthread_mutex_lock(&s->lock);
        now = ch_now();
        if (now + s->interval < s->wake)
            s->wake = now + s->interval;
        if (next > now && next < s->wake)
            s->wake = next;
        /* (and sooner again when a certificate issued meanwhile is due first: svc_scheduler_due) */
        while (!s->stop && ch_now() < s->wake) {
            until.tv_sec = (time_t)s->wake;
            until.tv_nsec = 0;
            pthread_cond_timedwait(&s->cond, &s->lock, &until);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int ch_svc_scheduler_start(ch_svc *svc, int interval_seconds)
{
    struct scheduler *s;

    if (svc->scheduler != NULL)
        return 0;
    if ((s = calloc(1, sizeof *s)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    s->svc = svc;
    s->interval = interval_seconds > 0 ? interval_seconds : 60;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    /* Set before the thread runs: its first round's renewals tell it their moments
     * (svc_scheduler_due), reading this. */
    svc->scheduler = s;
    if (pthread_create(&s->tid, NULL, scheduler_main, s) != 0) {
        svc->scheduler = NULL;
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        free(s);
        return ch_error_set(CH_EINTERNAL, "cannot start the scheduler thread");
    }
    return 0;
}

unsigned long ch_svc_scheduler_rounds(ch_svc *svc)
{
    return atomic_load(&svc->sched_rounds);
}

void ch_svc_scheduler_stop(ch_svc *svc)
{
    struct scheduler *s = svc->scheduler;

    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->tid, NULL);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
    svc->scheduler = NULL;
}
