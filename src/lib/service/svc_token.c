/* API tokens: random, shown once, stored as SHA-256, scoped to one tenant and one role. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <time.h>

#include "svc_internal.h"

static const char *const role_names[] = {"", "viewer", "operator", "admin"};

const char *ch_role_name(ch_role role)
{
    return role >= CH_ROLE_VIEWER && role <= CH_ROLE_ADMIN ? role_names[role] : "";
}

int ch_role_parse(ch_role *out, const char *name)
{
    for (int r = CH_ROLE_VIEWER; r <= CH_ROLE_ADMIN; r++)
        if (name != NULL && strcmp(name, role_names[r]) == 0) {
            *out = (ch_role)r;
            return 0;
        }
    return ch_error_set_field(CH_EINVAL, "role", "unknown role \"%.32s\"; accepted: admin, operator, viewer",
                              name ? name : "");
}

static void token_hash(char out[65], const char *token)
{
    unsigned char md[32];

    EVP_Digest(token, strlen(token), md, NULL, EVP_sha256(), NULL);
    ch_hex(out, md, sizeof md);
}

/* The token stored in one transaction with the check that its tenant is not revoked (a
 * revocation revokes the tokens there at its commit: one checked before it and stored after
 * would outlive it) and, when made by someone, its audit entry. */
static int token_put_tx(ch_svc *svc, const ch_actor *actor, const ch_store_token *row)
{
    ch_store_tenant t;
    char at[32], *detail = NULL;
    json_t *d;
    int error;

    if ((error = ch_store_tenant_get(svc->store, &t, row->tenant_id)) < 0)
        return error;
    error = t.disabled_at != 0 ? ch_error_set_field(CH_ECONFLICT, "tenant", "the tenant is revoked") : 0;
    if (error == 0)
        error = ch_store_token_put(svc->store, row);
    if (error < 0 || actor == NULL) {
        ch_store_tenant_dispose(&t);
        return error;
    }
    /* What was made: its role, its tenant, how long it was made to live. */
    d = json_pack("{ss ss}", "role", row->role, "tenant", t.name);
    if (d != NULL && row->expires_at != 0) {
        ch_time_format(at, sizeof at, row->expires_at);
        json_object_set_new(d, "expires_at", json_string(at));
    }
    if ((detail = d ? json_dumps(d, JSON_COMPACT) : NULL) == NULL)
        error = ch_error_set(CH_ENOMEM, "out of memory");
    json_decref(d);
    ch_store_tenant_dispose(&t);
    if (error == 0)
        error = svc_audit(svc, actor, "token.create", "token", row->id, detail);
    /* Made in another tenant (by an installation admin): that tenant's log says so too (its
     * admins read theirs alone, and an admin token had come to be there unsaid). */
    if (error == 0 && strcmp(row->tenant_id, actor->tenant_id) != 0)
        error = svc_audit_in(svc, actor, row->tenant_id, "token.create", "token", row->id, detail);
    free(detail);
    return error;
}

/* Who makes a token, as the audit log's actor names it: a console user by its id (a name may
 * be given to someone else later), a token by its own; the console user it goes back to is
 * that user, or (the store reads it) the one the making token goes back to.  Nobody for the
 * first start and the service's own jobs. */
static void token_maker(const ch_actor *actor, ch_store_token *row)
{
    if (actor == NULL)
        return;
    if (actor->user_id != NULL && actor->user_id[0] != '\0')
        row->created_by = row->owner_user_id = (char *)actor->user_id;
    else if (actor->name != NULL && strncmp(actor->name, "token:", 6) == 0)
        row->created_by = (char *)actor->name + 6;
}

static int token_new(ch_svc *svc, const ch_actor *actor, const char *tenant_id, ch_role role, const char *name,
                     const char *scope, int64_t expires_at, const char *file, char **token, char id[CH_ID_MAX])
{
    unsigned char raw[32];
    char hex[65], *t;
    ch_store_token row = {0};
    int error;

    *token = NULL;
    if ((error = ch_random(raw, sizeof raw)) < 0)
        return error;
    ch_hex(hex, raw, sizeof raw);
    ch_wipe(raw, sizeof raw);
    if ((t = malloc(4 + 64 + 1)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    memcpy(t, "cht_", 4);
    memcpy(t + 4, hex, 65);
    ch_wipe(hex, sizeof hex);
    ch_store_new_id(id, "tok_");
    row.id = id;
    row.tenant_id = (char *)tenant_id;
    row.role = (char *)ch_role_name(role);
    row.name = (char *)(name ? name : "");
    row.scope = (char *)scope;
    row.expires_at = expires_at;
    token_maker(actor, &row);
    token_hash(row.token_hash, t);
    row.created_at = ch_now();
    /* Kept in its file before it is stored: stopped between the two, the token in the file
     * opens nothing, and the next start (which finds no token) makes another and writes it
     * there; the other way round, a token would be stored that nobody was ever given. */
    if (file != NULL && (error = ch_file_write_atomic(file, t, strlen(t), 0600)) < 0)
        goto done;
    SVC_TX(svc, token_put_tx(svc, actor, &row));
done:
    if (error < 0) {
        ch_secure_free_str(t);
        return error;
    }
    *token = t;
    return 0;
}

int ch_svc_token_bootstrap(ch_svc *svc, const char *tenant_id, ch_role role, const char *name, const char *file,
                           char **token)
{
    char id[CH_ID_MAX];

    /* Never expires: the installation's first way in is not lost to a date nobody chose. */
    return token_new(svc, NULL, tenant_id, role, name, NULL, 0, file, token, id);
}

int ch_svc_token_create(ch_svc *svc, const ch_actor *actor, const char *tenant_id, ch_role role, const char *name,
                        char **token, char id[CH_ID_MAX])
{
    return ch_svc_token_create_scoped(svc, actor, tenant_id, role, name, NULL, 0, token, id);
}

/* An expiry a token may be given: ahead (a token that could not be used is a mistake), and
 * not past what anything it is made for lasts; never expiring is asked by giving none. */
static int expiry_check(int64_t at, int64_t now)
{
    char text[32];

    ch_time_format(text, sizeof text, at);
    if (at <= now)
        return ch_error_set_field(CH_EINVAL, "expires_at", "expires_at %s is not in the future", text);
    if (at - now > (int64_t)CH_TOKEN_MAX_DAYS * 86400)
        return ch_error_set_field(CH_EINVAL, "expires_at",
                                  "expires_at %s is more than %d days ahead; leave it out for a token that never "
                                  "expires", text, CH_TOKEN_MAX_DAYS);
    return 0;
}

/* The tenant's own bound on a token's life (setting max_token_days), beside CH_TOKEN_MAX_DAYS:
 * a token of a tenant that sets one expires within it. */
static int tenant_expiry_check(ch_svc *svc, const char *tenant_id, int64_t at)
{
    ch_svc_settings st;
    int error;

    if ((error = svc_settings_of(svc, tenant_id, &st)) < 0 || st.max_token_days == 0)
        return error;
    if (at == 0)
        return ch_error_set_field(CH_EINVAL, "expires_in", "the tenant's max_token_days is %d: a token is given "
                                  "expires_in or expires_at within %d days", st.max_token_days, st.max_token_days);
    if (at - ch_now() > (int64_t)st.max_token_days * 86400)
        return ch_error_set_field(CH_EINVAL, "expires_at", "the tenant's max_token_days is %d: a token expires within "
                                  "%d days, not later", st.max_token_days, st.max_token_days);
    return 0;
}

int ch_svc_token_expiry(int64_t *out, const char *expires_in, const char *expires_at)
{
    int64_t now = ch_now(), n, at;

    *out = 0;
    if (expires_in != NULL && expires_at != NULL)
        return ch_error_set_field(CH_EINVAL, "expires_at", "give expires_in or expires_at, not both");
    if (expires_at != NULL) {
        if (ch_time_parse(&at, expires_at) < 0)
            return ch_error_set_field(CH_EINVAL, "expires_at", "expires_at: %s", ch_error_last());
        if (expiry_check(at, now) < 0)
            return CH_EINVAL;
        *out = at;
        return 0;
    }
    if (expires_in == NULL)
        return 0;
    /* A certificate's ttl's form ("90m", "12h", "30d"), within a token's own bounds. */
    if (ch_ttl_parse_range(&n, expires_in, "expires_in", 3600, (int64_t)CH_TOKEN_MAX_DAYS * 86400) < 0)
        return CH_EINVAL;
    *out = now + n;
    return 0;
}

/* Each object of a scope is there to be read: a certificate of the tenant, or its bundle.  A
 * mistyped id would make a token that can read nothing, found out only when the agent fails. */
static int scope_objects_exist(ch_svc *svc, const char *tenant_id, json_t *objs)
{
    json_t *v;
    ch_store_cert c;
    size_t i;
    int error = 0;

    json_array_foreach(objs, i, v) {
        const char *obj = json_string_value(v);
        if (strncmp(obj, "bundle:", 7) == 0) {
            if (strcmp(obj + 7, "default") != 0) {
                error = ch_error_set_field(CH_EINVAL, "scope", "no trust bundle %.64s: the tenant's is bundle:default",
                                           obj);
                break;
            }
        } else if (ch_store_cert_get(svc->store, &c, tenant_id, obj) == 0) {
            ch_store_cert_dispose(&c);
        } else {
            error = ch_error_set_field(CH_EINVAL, "scope",
                                       "no certificate %.64s in the tenant: a scope names certificate ids (crt_...) "
                                       "and bundle:default", obj);
            break;
        }
    }
    return error;
}

/* A list of a scope's "issue": 1 to 32 names or ids, each the tenant's (a profile that issues,
 * a CA that holds its key): a mistyped one would refuse every request the token makes. */
static int scope_issue_list(ch_svc *svc, const char *tenant_id, json_t *list, bool profiles)
{
    const char *field = profiles ? "scope.issue.profiles" : "scope.issue.ca_ids";
    ch_actor in_tenant = {tenant_id, "system:scope", CH_ROLE_VIEWER, 0, NULL, NULL};
    json_t *v;
    size_t i;
    int error = 0;

    if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > 32)
        return ch_error_set_field(CH_EINVAL, field, "%s is an array of 1 to 32 %s", field,
                                  profiles ? "profile names" : "CA ids");
    json_array_foreach(list, i, v) {
        const char *s = json_string_value(v);
        if (s == NULL || strlen(s) > 64)
            return ch_error_set_field(CH_EINVAL, field, "%s holds %s", field, profiles ? "profile names" : "CA ids");
        if (profiles) {
            ch_svc_profile prof;
            if ((error = ch_svc_profile_get(svc, &in_tenant, s, &prof)) < 0)
                return ch_error_set_field(error == CH_ENOTFOUND ? CH_EINVAL : error, field, "%s", ch_error_last());
            if (prof.p.is_ca)
                error = ch_error_set_field(CH_EINVAL, field, "profile %s makes CAs, which a token does not issue",
                                           s);
            ch_svc_profile_dispose(&prof);
        } else {
            ch_store_ca ca;
            if ((error = ch_store_ca_get(svc->store, &ca, tenant_id, s)) < 0)
                return ch_error_set_field(error == CH_ENOTFOUND ? CH_EINVAL : error, field,
                                          "no CA %.64s in the tenant (certhub ca list)", s);
            if (ca.key_id == NULL)
                error = ch_error_set_field(CH_EINVAL, field, "CA %s was imported without its key and cannot sign", s);
            ch_store_ca_dispose(&ca);
        }
        if (error < 0)
            return error;
    }
    return 0;
}

/* Checks a scope: {"objects": ["crt_...", "bundle:default", ...], "issue": {"profiles": [...],
 * "ca_ids": [...]}, "keys_export": bool}, objects or issue or both, what they name the
 * tenant's. */
static int scope_check(ch_svc *svc, const char *tenant_id, const char *scope, char **canon)
{
    json_t *j = json_loads(scope, 0, NULL), *objs, *issue, *v;
    const char *key;
    size_t i;
    int error;

    *canon = NULL;
    if (j == NULL || !json_is_object(j))
        goto bad;
    json_object_foreach(j, key, v) if (strcmp(key, "objects") != 0 && strcmp(key, "keys_export") != 0 &&
                                       strcmp(key, "issue") != 0) goto bad;
    objs = json_object_get(j, "objects");
    issue = json_object_get(j, "issue");
    if ((objs == NULL && issue == NULL) ||
        (objs != NULL && (!json_is_array(objs) || json_array_size(objs) == 0 || json_array_size(objs) > 64)))
        goto bad;
    json_array_foreach(objs, i, v) if (!json_is_string(v) || strlen(json_string_value(v)) >= CH_ID_MAX + 8) goto bad;
    if ((v = json_object_get(j, "keys_export")) != NULL && !json_is_boolean(v))
        goto bad;
    if (issue != NULL) {
        if (!json_is_object(issue))
            goto bad;
        json_object_foreach(issue, key, v) if (strcmp(key, "profiles") != 0 && strcmp(key, "ca_ids") != 0) {
            error = ch_error_set_field(CH_EINVAL, "scope.issue",
                                       "unknown field \"%.64s\" of the scope's issue: it takes profiles (names) and "
                                       "ca_ids, each left out for any",
                                       key);
            json_decref(j);
            return error;
        }
        if (((v = json_object_get(issue, "profiles")) != NULL && (error = scope_issue_list(svc, tenant_id, v, true)) < 0) ||
            ((v = json_object_get(issue, "ca_ids")) != NULL && (error = scope_issue_list(svc, tenant_id, v, false)) < 0)) {
            json_decref(j);
            return error;
        }
    }
    if (objs != NULL && (error = scope_objects_exist(svc, tenant_id, objs)) < 0) {
        json_decref(j);
        return error;
    }
    *canon = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    if (*canon == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    /* (held whole by each request's principal) */
    if (strlen(*canon) >= sizeof ((ch_svc_principal *)0)->scope) {
        free(*canon);
        *canon = NULL;
        return ch_error_set_field(CH_EINVAL, "scope", "the scope is too long: at most 4,095 bytes as JSON");
    }
    return 0;
bad:
    json_decref(j);
    return ch_error_set_field(CH_EINVAL, "scope",
                              "scope is {\"objects\": [certificate ids, \"bundle:default\"] (1 to 64), "
                              "\"issue\": {\"profiles\": [...], \"ca_ids\": [...]}, \"keys_export\": true|false}, "
                              "with objects or issue or both");
}

/* Whether a scope lets its token issue: it has an "issue" (parsed with what it names). */
static json_t *scope_issue(const char *scope)
{
    json_t *j = scope ? json_loads(scope, 0, NULL) : NULL, *issue = json_incref(json_object_get(j, "issue"));

    json_decref(j);
    return issue;
}

static bool listed(json_t *list, const char *s)
{
    json_t *v;
    size_t i;

    if (list == NULL)
        return true; /* left out: any */
    json_array_foreach(list, i, v) if (json_is_string(v) && strcmp(json_string_value(v), s) == 0) return true;
    return false;
}

int svc_scope_issue_check(const ch_actor *actor, const char *profile, const char *ca_id)
{
    json_t *issue, *profiles, *cas;
    int error = 0;

    if (actor->scope == NULL || actor->scope[0] == '\0')
        return 0;
    if ((issue = scope_issue(actor->scope)) == NULL)
        return ch_error_set(CH_EPERM, "this token is limited to the objects named in its scope: it issues nothing");
    profiles = json_object_get(issue, "profiles");
    cas = json_object_get(issue, "ca_ids");
    if (!listed(profiles, profile)) {
        char *names = json_dumps(profiles, JSON_COMPACT);
        error = ch_error_set_field(CH_EPERM, "profile", "this token issues under the profiles %s of its scope, not %s",
                                   names ? names : "", profile);
        free(names);
    } else if (!listed(cas, ca_id)) {
        char *ids = json_dumps(cas, JSON_COMPACT);
        error = ch_error_set_field(CH_EPERM, "ca_id", "this token issues with the CAs %s of its scope, not %s%s",
                                   ids ? ids : "", ca_id, " (name one in ca_id)");
        free(ids);
    }
    json_decref(issue);
    return error;
}

int svc_scope_ca(const ch_actor *actor, char id[CH_ID_MAX])
{
    json_t *issue = actor->scope && actor->scope[0] ? scope_issue(actor->scope) : NULL;
    json_t *cas = json_object_get(issue, "ca_ids");
    int found = 0;

    if (json_array_size(cas) == 1) {
        snprintf(id, CH_ID_MAX, "%s", json_string_value(json_array_get(cas, 0)));
        found = 1;
    } else if (json_array_size(cas) > 1) {
        char *ids = json_dumps(cas, JSON_COMPACT);
        found = ch_error_set_field(CH_EINVAL, "ca_id", "ca_id is required: this token issues with the CAs %s",
                                   ids ? ids : "of its scope");
        free(ids);
    }
    json_decref(issue);
    return found;
}

bool ch_svc_scope_issues(const char *scope)
{
    /* Read in the text as stored: a scope is kept canonical (compact, keys sorted), and nothing
     * else in it (certificate ids, bundle:default, profile names, CA ids) holds a quote. */
    return scope != NULL && strstr(scope, "\"issue\":") != NULL;
}

int ch_svc_token_create_scoped(ch_svc *svc, const ch_actor *actor, const char *tenant_id, ch_role role,
                               const char *name, const char *scope, int64_t expires_at, char **token,
                               char id[CH_ID_MAX])
{
    char *canon = NULL;
    ch_store_tenant t;
    int error;

    *token = NULL;
    if ((error = svc_need(actor, CH_ROLE_ADMIN, "creating a token")) < 0 || (error = svc_check_name(name, 128)) < 0)
        return error;
    if (expires_at != 0 && (error = expiry_check(expires_at, ch_now())) < 0)
        return error;
    if (tenant_id == NULL)
        tenant_id = actor->tenant_id;
    if (strcmp(tenant_id, actor->tenant_id) != 0 && !(actor->perms & CH_PERM_TENANTS))
        return ch_error_set_field(CH_EPERM, "tenant",
                                  "only admins of the default tenant make tokens for other tenants");
    if ((error = ch_store_tenant_get(svc->store, &t, tenant_id)) < 0)
        return error;
    error = t.disabled_at != 0 ? ch_error_set_field(CH_ECONFLICT, "tenant", "the tenant is revoked") : 0;
    ch_store_tenant_dispose(&t);
    if (error < 0 || (error = tenant_expiry_check(svc, tenant_id, expires_at)) < 0)
        return error;
    if (role < CH_ROLE_VIEWER || role > CH_ROLE_ADMIN)
        return ch_error_set_field(CH_EINVAL, "role", "unknown role; accepted: admin, operator, viewer");
    if (scope != NULL && (error = scope_check(svc, tenant_id, scope, &canon)) < 0)
        return error;
    if (ch_svc_scope_issues(canon) && role < CH_ROLE_OPERATOR) {
        free(canon);
        return ch_error_set_field(CH_EINVAL, "role", "a token that issues (a scope with issue) has role operator or "
                                  "admin; a viewer issues nothing");
    }
    if (canon && strstr(canon, "\"keys_export\":true") && !(actor->perms & CH_PERM_KEYS_EXPORT)) {
        free(canon);
        return ch_error_set_field(CH_EPERM, "scope", "only a credential that may export keys makes one that may");
    }
    error = token_new(svc, actor, tenant_id, role, name, canon, expires_at, NULL, token, id);
    free(canon);
    return error;
}

/* Every request carries its token, and looking it up in the store was a twentieth of an
 * issuance.  A principal is kept for TOK_CACHE_MS after its lookup: a revocation through this
 * process ends it at once (tok_gen), one made elsewhere (another process on the same store)
 * within that time. */
#define TOK_CACHE_MS 1000

struct svc_tok_entry {
    char hash[65];
    unsigned gen;
    int64_t until_ms;
    int64_t expires_at; /* the token's, 0: never; compared on each use, as the row's is */
    ch_svc_principal who;
};


static size_t tok_slot(const char hash[65])
{
    return (size_t)strtoul((char[3]){hash[0], hash[1], '\0'}, NULL, 16) % SVC_TOK_CACHE;
}

/* The principal's pointers lead into itself: a copy must point into the copy. */
static void principal_copy(ch_svc_principal *to, const ch_svc_principal *from)
{
    *to = *from;
    to->actor.tenant_id = to->tenant_id;
    to->actor.name = to->name;
    to->actor.scope = to->scope[0] ? to->scope : NULL;
}

static bool tok_cached(ch_svc *svc, const char hash[65], ch_svc_principal *out)
{
    struct svc_tok_entry *e;
    bool hit = false;

    pthread_mutex_lock(&svc->tok_lock);
    e = svc->tok[tok_slot(hash)];
    /* An entry of a token that has expired since is not used: the lookup says why it fails. */
    if (e != NULL && CRYPTO_memcmp(e->hash, hash, 64) == 0 && e->gen == svc->tok_gen && svc_mono_ms() < e->until_ms &&
        (e->expires_at == 0 || ch_now() < e->expires_at)) {
        principal_copy(out, &e->who);
        hit = true;
    }
    pthread_mutex_unlock(&svc->tok_lock);
    return hit;
}

static void tok_remember(ch_svc *svc, const char hash[65], unsigned gen, int64_t expires_at,
                         const ch_svc_principal *who)
{
    size_t slot = tok_slot(hash);
    struct svc_tok_entry *e;

    pthread_mutex_lock(&svc->tok_lock);
    if ((e = svc->tok[slot]) == NULL)
        e = svc->tok[slot] = malloc(sizeof *e);
    /* A revocation since the lookup began: the row read may predate it. */
    if (e != NULL && gen == svc->tok_gen) {
        memcpy(e->hash, hash, sizeof e->hash);
        e->gen = gen;
        e->until_ms = svc_mono_ms() + TOK_CACHE_MS;
        e->expires_at = expires_at;
        principal_copy(&e->who, who);
    }
    pthread_mutex_unlock(&svc->tok_lock);
}

int ch_svc_authenticate(ch_svc *svc, const char *token, ch_svc_principal *out)
{
    ch_store_token row;
    char hash[65], at[32];
    ch_role role;
    unsigned gen;
    int64_t expires_at;
    int error;

    memset(out, 0, sizeof *out);
    if (token == NULL || strlen(token) != 68 || strncmp(token, "cht_", 4) != 0)
        return ch_error_set(CH_EAUTH, "missing or malformed API token");
    token_hash(hash, token);
    if (tok_cached(svc, hash, out))
        return 0;
    pthread_mutex_lock(&svc->tok_lock);
    gen = svc->tok_gen;
    pthread_mutex_unlock(&svc->tok_lock);
    if ((error = ch_store_token_get_by_hash(svc->store, &row, hash)) < 0)
        return error == CH_ENOTFOUND ? ch_error_set(CH_EAUTH, "unknown API token") : error;
    /* The lookup was by hash; compare again in constant time before trusting the row. */
    if (CRYPTO_memcmp(row.token_hash, hash, 64) != 0 || row.revoked_at != 0 ||
        ch_role_parse(&role, row.role) < 0) {
        ch_store_tenant t = {0};
        /* A token its holder never revoked went with its tenant: said so ("the API token was
         * revoked" sent its holder asking who revoked it). */
        if (row.revoked_at != 0 && svc_tenant_revoked(svc, row.tenant_id) &&
            ch_store_tenant_get(svc->store, &t, row.tenant_id) == 0)
            ch_error_set(CH_EAUTH, "the API token's tenant %s was revoked", t.name);
        else
            ch_error_set(CH_EAUTH, "the API token was revoked");
        ch_store_tenant_dispose(&t);
        ch_store_token_dispose(&row);
        return CH_EAUTH;
    }
    /* After the revocation: of a token both revoked and expired, the revocation is what
     * someone did, and what its holder is told. */
    if (row.expires_at != 0 && ch_now() >= row.expires_at) {
        ch_time_format(at, sizeof at, row.expires_at);
        ch_error_set(CH_EAUTH, "the API token %s expired at %s; an admin makes a new one (certhub token create)",
                     row.id, at);
        ch_store_token_dispose(&row);
        return ch_error_set_reason("token_expired");
    }
    expires_at = row.expires_at;
    snprintf(out->tenant_id, sizeof out->tenant_id, "%s", row.tenant_id);
    snprintf(out->name, sizeof out->name, "token:%s", row.id);
    out->actor.tenant_id = out->tenant_id;
    out->actor.name = out->name;
    out->actor.role = role;
    out->actor.perms = role == CH_ROLE_ADMIN ? CH_PERM_KEYS_EXPORT : 0;
    out->expires_at = expires_at;
    if (row.scope != NULL) {
        /* A scoped token: its objects only, keys only when it says so, never across tenants. */
        snprintf(out->scope, sizeof out->scope, "%s", row.scope);
        out->actor.scope = out->scope;
        out->actor.perms = strstr(row.scope, "\"keys_export\":true") ? CH_PERM_KEYS_EXPORT : 0;
    } else if (role == CH_ROLE_ADMIN && svc_is_system_tenant(svc, row.tenant_id)) {
        out->actor.perms |= CH_PERM_TENANTS;
    }
    ch_store_token_dispose(&row);
    tok_remember(svc, hash, gen, expires_at, out);
    return 0;
}

int ch_svc_token_list(ch_svc *svc, const ch_actor *actor, const char *tenant_id, ch_store_page *page,
                      ch_store_token **out, size_t *count)
{
    int error;

    *out = NULL;
    *count = 0;
    if ((error = svc_need(actor, CH_ROLE_ADMIN, "listing tokens")) < 0)
        return error;
    if (tenant_id == NULL)
        tenant_id = actor->tenant_id;
    if (strcmp(tenant_id, actor->tenant_id) != 0 && !(actor->perms & CH_PERM_TENANTS))
        return ch_error_set(CH_ENOTFOUND, "no such tenant");
    return ch_store_token_list(svc->store, tenant_id, page, out, count);
}

void svc_tokens_forget(ch_svc *svc)
{
    pthread_mutex_lock(&svc->tok_lock);
    svc->tok_gen++;
    pthread_mutex_unlock(&svc->tok_lock);
}

/* The audit of a token revoked for a reason other than being named (its user went, or a token
 * that made it was revoked) goes to the token's tenant, where its creation was written; of
 * another tenant than the actor's (an installation admin's token made where it acted), the
 * actor is named with its tenant, as its session's actor is there. */
static int revoked_for_audit(ch_svc *svc, const ch_actor *actor, const ch_store_token *tok, const char *detail)
{
    return svc_audit_in(svc, actor, tok->tenant_id, "token.revoke", "token", tok->id, detail);
}

/* Revokes an active token for the reason d says (a JSON object, taken), and audits it so. */
static int revoke_for(ch_svc *svc, const ch_actor *actor, const ch_store_token *tok, int64_t now, json_t *d)
{
    char *detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
    int error;

    json_decref(d);
    if (detail == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    if ((error = ch_store_token_revoke(svc->store, tok->tenant_id, tok->id, now)) == 0)
        error = revoked_for_audit(svc, actor, tok, detail);
    free(detail);
    return error;
}

int svc_tokens_end_for_user(ch_svc *svc, const ch_actor *actor, const ch_store_user *u, ch_role keep,
                            const char *reason, int *count)
{
    ch_store_token *list = NULL;
    size_t n = 0;
    int64_t now = ch_now();
    int error;

    *count = 0;
    if ((error = ch_store_tokens_of_owner(svc->store, u->id, now, &list, &n)) < 0)
        return error;
    for (size_t i = 0; i < n && error == 0; i++) {
        ch_role role;

        /* A role this build does not know is above any: it goes. */
        if (keep != 0 && ch_role_parse(&role, list[i].role) == 0 && role <= keep)
            continue;
        if ((error = revoke_for(svc, actor, &list[i], now,
                                keep != 0 ? json_pack("{ss ss ss ss}", "reason", reason, "user", u->name, "user_id",
                                                      u->id, "role", ch_role_name(keep))
                                          : json_pack("{ss ss ss}", "reason", reason, "user", u->name, "user_id",
                                                      u->id))) == 0)
            (*count)++;
    }
    ch_store_token_list_free(list, n);
    return error;
}

/* CH_ENOTFOUND for a token that could not be revoked: one revoked already is said as such,
 * with when (reason "token_revoked"), rather than as one that is not there, which GET
 * /tokens/{id} shows it is.  Still a 404: the active token asked for is not there, and a
 * client that took a 404 for "nothing left to revoke" keeps doing so. */
static int not_active(ch_svc *svc, const char *tenant_id, const char *id)
{
    ch_store_token *list = NULL;
    size_t n = 0;
    int64_t at = 0;
    char when[32];

    if (id != NULL && ch_store_token_list(svc->store, tenant_id, NULL, &list, &n) == 0)
        for (size_t i = 0; i < n; i++)
            if (strcmp(list[i].id, id) == 0)
                at = list[i].revoked_at;
    ch_store_token_list_free(list, n);
    if (at == 0)
        return ch_error_set(CH_ENOTFOUND, "no such active token");
    ch_time_format(when, sizeof when, at);
    ch_error_set(CH_ENOTFOUND, "the token %s was revoked already, at %s", id, when);
    return ch_error_set_reason("token_revoked");
}

struct revoke_tx {
    ch_svc *svc;
    const ch_actor *actor;
    const char *tenant_id, *id;
    bool cascade;
    ch_store_token *made; /* with cascade: those revoked with it */
    size_t n;
};

static int revoke_tx_run(void *arg)
{
    struct revoke_tx *t = arg;
    ch_store_token asked = {0};
    char owner[CH_ID_MAX], detail[48];
    bool was_active = true;
    int64_t now = ch_now();
    int error = ch_store_token_revoke(t->svc->store, t->tenant_id, t->id, now);

    /* Asked with cascade, a token revoked before is taken too: what a leaked token made while
     * it worked is what an incident needs ended, and it is often found after the token itself. */
    if (error == CH_ENOTFOUND && t->cascade && ch_store_token_tenant(t->svc->store, t->id, owner) == 0 &&
        strcmp(owner, t->tenant_id) == 0) {
        was_active = false;
        error = 0;
    }
    /* Written in the token's tenant (by TENANT/NAME when an installation admin revokes another
     * tenant's): its log shows what ended its token, as for the tokens taken with it. */
    asked.id = (char *)t->id;
    asked.tenant_id = (char *)t->tenant_id;
    if (error < 0 || !t->cascade)
        return error < 0 ? error : revoked_for_audit(t->svc, t->actor, &asked, NULL);
    if ((error = ch_store_tokens_made_from(t->svc->store, t->tenant_id, t->id, now, &t->made, &t->n)) < 0)
        return error;
    /* Said as a user's removal says it, in the entry of what was asked. */
    snprintf(detail, sizeof detail, "{\"tokens_revoked\":%zu}", t->n);
    if (was_active && (error = revoked_for_audit(t->svc, t->actor, &asked, detail)) < 0)
        return error;
    for (size_t i = 0; i < t->n && error == 0; i++)
        error = revoke_for(t->svc, t->actor, &t->made[i], now,
                           json_pack("{ss ss ss}", "reason", "token_revoked", "token_id", t->id, "created_by",
                                     t->made[i].created_by ? t->made[i].created_by : ""));
    return error;
}

int ch_svc_token_revoke_cascade(ch_svc *svc, const ch_actor *actor, const char *id, bool cascade,
                                ch_store_token **made, size_t *count)
{
    char owner[CH_ID_MAX];
    struct revoke_tx t = {svc, actor, actor ? actor->tenant_id : NULL, id, cascade, NULL, 0};
    int error;

    if (made != NULL) {
        *made = NULL;
        *count = 0;
    }
    if ((error = svc_need(actor, CH_ROLE_ADMIN, "revoking a token")) < 0)
        return error;
    /* The installation's admins may revoke any tenant's token. */
    if ((actor->perms & CH_PERM_TENANTS) && id != NULL && ch_store_token_tenant(svc->store, id, owner) == 0)
        t.tenant_id = owner;
    if ((error = svc_commit(svc, revoke_tx_run, &t)) < 0) {
        ch_store_token_list_free(t.made, t.n);
        if (error != CH_ENOTFOUND)
            return error;
        return cascade ? ch_error_set(CH_ENOTFOUND, "no such token") : not_active(svc, t.tenant_id, id);
    }
    svc_tokens_forget(svc);
    /* Without cascade, what a cascade would have revoked, for the caller to say it stays: read
     * after the commit, and none said when it cannot be read (the revocation stands). */
    if (!cascade && made != NULL)
        (void)ch_store_tokens_made_from(svc->store, t.tenant_id, id, ch_now(), &t.made, &t.n);
    if (made != NULL) {
        *made = t.made;
        *count = t.n;
    } else {
        ch_store_token_list_free(t.made, t.n);
    }
    return 0;
}

int ch_svc_token_revoke(ch_svc *svc, const ch_actor *actor, const char *id)
{
    return ch_svc_token_revoke_cascade(svc, actor, id, false, NULL, NULL);
}

/* Whether a scope is one that issues and its token issued the certificate, or one it renews. */
static bool scope_issued(ch_svc *svc, const ch_svc_principal *who, json_t *scope, const char *object)
{
    bool ok = false;

    if (strncmp(object, "crt_", 4) != 0 || json_object_get(scope, "issue") == NULL ||
        strncmp(who->name, "token:", 6) != 0 ||
        ch_store_token_cert_has(svc->store, who->name + 6, object, &ok) < 0)
        return false;
    return ok;
}

bool ch_svc_scope_issued(ch_svc *svc, const ch_svc_principal *who, const char *object)
{
    json_t *j;
    bool ok;

    if (who->scope[0] == '\0' || object == NULL || (j = json_loads(who->scope, 0, NULL)) == NULL)
        return false;
    ok = scope_issued(svc, who, j, object);
    json_decref(j);
    return ok;
}

bool ch_svc_scope_allows(ch_svc *svc, const ch_svc_principal *who, const char *object)
{
    json_t *j, *objs, *v;
    char *ids = NULL;
    size_t i;
    bool ok = false;

    if (who->scope[0] == '\0')
        return true;
    if (object == NULL || (j = json_loads(who->scope, 0, NULL)) == NULL)
        return false;
    objs = json_object_get(j, "objects");
    json_array_foreach(objs, i, v) if (json_is_string(v) && strcmp(json_string_value(v), object) == 0) ok = true;
    /* A certificate is allowed also when one it renews (the lineage) is named, however many
     * renewals back: the store walks it in one statement.  A token given for a certificate of
     * minutes (the sync agent's) reads its renewals for as long as the lineage lasts. */
    if (!ok && strncmp(object, "crt_", 4) == 0 && json_array_size(objs) > 0 &&
        (ids = json_dumps(objs, JSON_COMPACT)) != NULL &&
        ch_store_cert_lineage_named(svc->store, who->tenant_id, object, ids, &ok) < 0)
        ok = false;
    /* A token that issues reads what it issued, and the renewals of that (made by it or by the
     * scheduler). */
    if (!ok)
        ok = scope_issued(svc, who, j, object);
    free(ids);
    json_decref(j);
    return ok;
}

struct purge_tx {
    ch_svc *svc;
    const ch_store_token *t;
};

static int purge_tx_run(void *arg)
{
    struct purge_tx *p = arg;
    ch_actor system = {p->t->tenant_id, "system:purge", CH_ROLE_ADMIN, 0, NULL, NULL};
    bool revoked = p->t->revoked_at != 0 && (p->t->expires_at == 0 || p->t->revoked_at < p->t->expires_at);
    char at[32], detail[96];
    int error;

    ch_time_format(at, sizeof at, revoked ? p->t->revoked_at : p->t->expires_at);
    snprintf(detail, sizeof detail, "{\"ended\":\"%s\",\"ended_at\":\"%s\"}", revoked ? "revoked" : "expired", at);
    if ((error = ch_store_token_delete(p->svc->store, p->t->tenant_id, p->t->id)) < 0)
        return error;
    return svc_audit(p->svc, &system, "token.purge", "token", p->t->id, detail);
}

int ch_svc_token_purge_due(ch_svc *svc)
{
    ch_store_token *ended = NULL;
    size_t n = 0;
    int purged = 0;

    /* A token that ended is kept a while to be listed as revoked or expired (and its holder
     * told so); past that, its row is only more to read on every list. */
    if (ch_store_tokens_ended(svc->store, ch_now() - (int64_t)CH_TOKEN_PURGE_DAYS * 86400, 500, &ended, &n) < 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        struct purge_tx p = {svc, &ended[i]};
        if (svc_commit(svc, purge_tx_run, &p) == 0)
            purged++;
    }
    ch_store_token_list_free(ended, n);
    if (purged > 0)
        svc_log(svc, "%d API token%s ended more than %d days ago removed (the audit log keeps them)", purged,
                purged == 1 ? "" : "s", CH_TOKEN_PURGE_DAYS);
    return purged;
}
