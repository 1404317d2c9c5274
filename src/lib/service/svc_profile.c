/* Certificate profiles: the built-in ones, and custom ones a tenant defines (the templates of
 * a create wizard).  A custom profile is stored as a JSON definition, validated here on every
 * write and read back into a ch_profile for issuing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "svc_internal.h"

static const char *const fields[] = {"description",      "key_usage",       "ext_key_usage",  "default_days",
                                     "default_ttl",      "max_days",        "max_ttl",        "allow_sans",
                                     "allowed_domains",  "allow_subdomains", "allow_wildcards", "allow_ip_sans",
                                     "allow_uri_sans",   "key_types",       "ext_key_usage_oids",
                                     "policy_identifiers", NULL};

/* Names of custom profiles: 1 to 64 of [a-z0-9._-], starting with a letter or digit. */
static int check_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") != n || name[0] == '.' ||
        name[0] == '-' || name[0] == '_')
        return ch_error_set_field(CH_EINVAL, "name",
                                  "a profile name is 1 to 64 lower-case letters, digits, '.', '_' or '-', "
                                  "starting with a letter or digit");
    if (ch_profile_get(name) != NULL)
        return ch_error_set_field(CH_ECONFLICT, "name", "\"%s\" is a built-in profile; choose another name", name);
    return 0;
}

static int usage_list(unsigned *out, json_t *v, bool extended, const char *field)
{
    size_t i;
    json_t *e;
    unsigned bit;

    *out = 0;
    if (!json_is_array(v))
        return ch_error_set_field(CH_EINVAL, field, "%s must be an array of names", field);
    json_array_foreach(v, i, e) {
        if (!json_is_string(e) || ch_usage_parse(&bit, extended, json_string_value(e)) < 0)
            return ch_error_set_field(CH_EINVAL, field, "%s", json_is_string(e) ? ch_error_last()
                                                                                 : "usage names are strings");
        *out |= bit;
    }
    return 0;
}

static int days_field(int *out, json_t *def, const char *field, int min)
{
    json_t *v = json_object_get(def, field);

    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > 36600)
        return ch_error_set_field(CH_EINVAL, field, "%s must be a whole number from %d to 36600", field, min);
    *out = (int)json_integer_value(v);
    return 0;
}

/* A lifetime as Vault's roles write ttl and max_ttl ("24h", "7d"), in seconds; the days field
 * beside it (days_field) is the other way to give it, and both are refused. */
static int ttl_field(int64_t *out, json_t *def, const char *field, const char *days)
{
    json_t *v = json_object_get(def, field);

    if (v == NULL)
        return 0;
    if (json_object_get(def, days) != NULL)
        return ch_error_set_field(CH_EINVAL, field, "give %s or %s, not both", days, field);
    if (!json_is_string(v))
        return ch_error_set_field(CH_EINVAL, field, "%s is a string, a whole number and a unit: \"24h\", \"7d\"",
                                  field);
    return ch_ttl_parse(out, json_string_value(v), field);
}

/* A lifetime of a definition as given, for a message: "default_days (120)", "max_ttl (36h)". */
static void given(char *out, size_t cap, json_t *def, const char *days, const char *ttl)
{
    json_t *v = json_object_get(def, ttl);

    if (v != NULL)
        snprintf(out, cap, "%s (%s)", ttl, json_string_value(v));
    else
        snprintf(out, cap, "%s (%lld)", days, (long long)json_integer_value(json_object_get(def, days)));
}

static int bool_field(bool *out, json_t *def, const char *field)
{
    json_t *v = json_object_get(def, field);

    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return ch_error_set_field(CH_EINVAL, field, "%s must be true or false", field);
    *out = json_is_true(v);
    return 0;
}

/* The name policy, when the definition has one: NULL in *out otherwise, so that issuing from a
 * profile without one does no more than test a pointer.  allowed_domains present (an empty
 * list too: no DNS names at all) limits the DNS names; addresses and URIs are then refused
 * unless allowed, as a list of names would not be worth much with any address beside it. */
static int policy_parse(ch_name_policy **out, json_t *def)
{
    static const char *const needs_domains[] = {"allow_subdomains", "allow_wildcards", "allow_uri_sans"};
    json_t *domains = json_object_get(def, "allowed_domains"), *e;
    ch_name_policy *p;
    size_t i;
    int error = 0;

    *out = NULL;
    if (domains == NULL)
        for (i = 0; i < sizeof needs_domains / sizeof needs_domains[0]; i++)
            if (json_object_get(def, needs_domains[i]) != NULL)
                return ch_error_set_field(CH_EINVAL, needs_domains[i],
                                          "%s applies to allowed_domains: give allowed_domains too", needs_domains[i]);
    if (domains == NULL && json_object_get(def, "allow_ip_sans") == NULL)
        return 0;
    if (domains != NULL && (!json_is_array(domains) || json_array_size(domains) > 100))
        return ch_error_set_field(CH_EINVAL, "allowed_domains",
                                  "allowed_domains must be an array of at most 100 domains, such as "
                                  "[\"example.com\", \"*.corp.example\"]");
    if ((p = calloc(1, sizeof *p)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    p->dns_restricted = domains != NULL;
    p->allow_ip = domains == NULL;
    json_array_foreach(domains, i, e) {
        if (!json_is_string(e))
            error = ch_error_set_field(CH_EINVAL, "allowed_domains", "allowed_domains holds strings (domains)");
        else if ((error = ch_name_policy_add(p, json_string_value(e))) == CH_EINVAL)
            ch_error_set_field(error, "allowed_domains", "%s", ch_error_last());
        if (error < 0)
            break;
    }
    if (error == 0 && (error = bool_field(&p->allow_subdomains, def, "allow_subdomains")) == 0 &&
        (error = bool_field(&p->allow_wildcards, def, "allow_wildcards")) == 0 &&
        (error = bool_field(&p->allow_ip, def, "allow_ip_sans")) == 0)
        error = bool_field(&p->allow_uri, def, "allow_uri_sans");
    if (error < 0) {
        ch_name_policy_dispose(p);
        free(p);
        return error;
    }
    *out = p;
    return 0;
}

/* The key types certificates from the profile may have (as Vault roles' key_type and key_bits
 * and step-ca's policy say it): 0, any, unless the definition lists them, so that issuing
 * from a profile without a list tests one flag.  An empty list would allow no key at all. */
static int key_types_parse(unsigned *out, json_t *def)
{
    json_t *types = json_object_get(def, "key_types"), *e;
    ch_key_type t;
    size_t i;
    int error;

    *out = 0;
    if (types == NULL)
        return 0;
    if (!json_is_array(types) || json_array_size(types) == 0 || json_array_size(types) > 16)
        return ch_error_set_field(CH_EINVAL, "key_types",
                                  "key_types must be a list of one or more key types, such as [\"p256\", "
                                  "\"ed25519\"] (rsa2048, rsa3072, rsa4096, p256, p384, p521, ed25519); leave "
                                  "it out for any");
    json_array_foreach(types, i, e) {
        if (!json_is_string(e))
            return ch_error_set_field(CH_EINVAL, "key_types", "key_types holds strings (key types such as p256)");
        if ((error = ch_key_type_parse(&t, json_string_value(e))) < 0)
            return ch_error_set_field(error, "key_types", "%s", ch_error_last());
        *out |= CH_KEY_TYPE_BIT(t);
    }
    return 0;
}

/* Reads and checks a definition into out (which owns its strings afterwards). */
/* An optional list of OIDs (ext_key_usage_oids, policy_identifiers): at most CH_MAX_OIDS dotted
 * ones, into a NULL-terminated copy (NULL when absent). */
static int oid_list(char ***out, json_t *def, const char *field)
{
    json_t *v = json_object_get(def, field), *e;
    size_t i;
    int error;

    *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_array(v) || json_array_size(v) > CH_MAX_OIDS)
        return ch_error_set_field(CH_EINVAL, field, "%s must be an array of at most %d OIDs, such as "
                                  "[\"1.3.6.1.4.1.311.20.2.2\"]", field, CH_MAX_OIDS);
    json_array_foreach(v, i, e) if (!json_is_string(e))
        return ch_error_set_field(CH_EINVAL, field, "%s holds OIDs as strings, such as \"2.23.140.1.2.1\"", field);
    if ((*out = calloc(json_array_size(v) + 1, sizeof **out)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    json_array_foreach(v, i, e) if (((*out)[i] = strdup(json_string_value(e))) == NULL) {
        ch_strv_free(*out);
        *out = NULL;
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    error = strcmp(field, "ext_key_usage_oids") == 0 ? ch_eku_oids_check((const char *const *)*out, field)
                                                     : ch_oids_check((const char *const *)*out, field);
    if (error < 0) {
        ch_strv_free(*out);
        *out = NULL;
    }
    return error;
}

static int profile_parse(ch_svc_profile *out, const char *name, json_t *def)
{
    const char *key;
    json_t *v;
    int64_t max;
    int error;

    memset(out, 0, sizeof *out);
    if (!json_is_object(def))
        return ch_error_set(CH_EINVAL, "a profile definition is a JSON object");
    json_object_foreach(def, key, v) {
        size_t i = 0;
        while (fields[i] && strcmp(fields[i], key) != 0)
            i++;
        if (fields[i] == NULL)
            return ch_error_set_field(CH_EINVAL, key,
                                      "unknown field \"%.64s\"; a profile has description, key_usage, "
                                      "ext_key_usage, default_days or default_ttl, max_days or max_ttl, "
                                      "allow_sans, allowed_domains, "
                                      "allow_subdomains, allow_wildcards, allow_ip_sans, allow_uri_sans, "
                                      "key_types, ext_key_usage_oids and policy_identifiers",
                                      key);
    }
    out->p.path_len = -1;
    out->p.default_days = 365;
    out->p.allow_sans = true;
    /* Characters, as every length of text the API takes (the spec's maxLength): 200 "é" were
     * refused as more than 256 bytes. */
    if ((v = json_object_get(def, "description")) != NULL &&
        (!json_is_string(v) || ch_utf8_chars(json_string_value(v)) > 256))
        return ch_error_set_field(CH_EINVAL, "description", "description must be a string of at most 256 characters");
    if ((v = json_object_get(def, "key_usage")) == NULL)
        return ch_error_set_field(CH_EINVAL, "key_usage", "key_usage is required, such as [\"digital_signature\"]");
    if ((error = usage_list(&out->p.key_usage, v, false, "key_usage")) < 0)
        return error;
    if (out->p.key_usage == 0)
        return ch_error_set_field(CH_EINVAL, "key_usage", "key_usage needs at least one usage");
    if (out->p.key_usage & (CH_KU_KEY_CERT_SIGN | CH_KU_CRL_SIGN))
        return ch_error_set_field(CH_EPOLICY, "key_usage",
                                  "key_cert_sign and crl_sign make a CA: create CAs through the CA calls");
    if ((v = json_object_get(def, "ext_key_usage")) != NULL &&
        (error = usage_list(&out->p.ext_key_usage, v, true, "ext_key_usage")) < 0)
        return error;
    if ((error = days_field(&out->p.default_days, def, "default_days", 1)) < 0 ||
        (error = ttl_field(&out->p.default_ttl, def, "default_ttl", "default_days")) < 0 ||
        (error = days_field(&out->p.max_days, def, "max_days", 0)) < 0 ||
        (error = ttl_field(&out->p.max_ttl, def, "max_ttl", "max_days")) < 0)
        return error;
    /* Each in days or as a ttl, compared in seconds.  Without a default of its own, a profile of
     * short lives issues its longest by default (as a Vault role's ttl is held to its max_ttl)
     * rather than be refused for the 365 days it was never asked for. */
    max = ch_profile_max_life(&out->p);
    if (max != 0 && (int64_t)out->p.default_days * 86400 > max && json_object_get(def, "default_days") == NULL &&
        json_object_get(def, "default_ttl") == NULL) {
        out->p.default_days = out->p.max_days;
        out->p.default_ttl = out->p.max_ttl;
    }
    if (max != 0 && ch_profile_default_life(&out->p) > max) {
        char d[64], m[64];
        given(d, sizeof d, def, "default_days", "default_ttl");
        given(m, sizeof m, def, "max_days", "max_ttl");
        return ch_error_set_field(CH_EINVAL, out->p.default_ttl != 0 ? "default_ttl" : "default_days",
                                  "%s is more than %s", d, m);
    }
    if ((error = bool_field(&out->p.allow_sans, def, "allow_sans")) < 0 ||
        (error = key_types_parse(&out->p.key_types, def)) < 0)
        return error;
    if ((error = policy_parse(&out->policy, def)) < 0)
        return error;
    if ((error = oid_list(&out->eku_oids, def, "ext_key_usage_oids")) < 0 ||
        (error = oid_list(&out->policies, def, "policy_identifiers")) < 0) {
        ch_svc_profile_dispose(out);
        return error;
    }
    out->p.eku_oids = (const char *const *)out->eku_oids;
    out->p.policies = (const char *const *)out->policies;
    out->custom = true;
    out->name = strdup(name);
    v = json_object_get(def, "description");
    out->description = strdup(v ? json_string_value(v) : "");
    if (out->name == NULL || out->description == NULL) {
        ch_svc_profile_dispose(out);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    out->p.name = out->name;
    out->p.description = out->description;
    out->p.policy = out->policy;
    return 0;
}

static int from_row(ch_svc_profile *out, const ch_store_profile *row)
{
    json_t *def = json_loads(row->definition, 0, NULL);
    int error = def ? profile_parse(out, row->name, def) : ch_error_set(CH_ESTORE, "profile %s is damaged", row->name);

    json_decref(def);
    if (error == 0) {
        out->created_at = row->created_at;
        out->updated_at = row->updated_at;
    }
    return error;
}

static void from_builtin(ch_svc_profile *out, const ch_profile *p)
{
    memset(out, 0, sizeof *out);
    out->p = *p;
}

int ch_svc_profile_get(ch_svc *svc, const ch_actor *actor, const char *name, ch_svc_profile *out)
{
    const ch_profile *p;
    ch_store_profile row;
    int error;

    memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_VIEWER, "reading profiles")) < 0)
        return error;
    if (name != NULL && (p = ch_profile_get(name)) != NULL) {
        from_builtin(out, p);
        return 0;
    }
    if (name == NULL || (error = ch_store_profile_get(svc->store, &row, actor->tenant_id, name)) == CH_ENOTFOUND) {
        char names[400] = "";
        size_t used = 0;
        for (const ch_profile *const *b = ch_profile_list(); *b; b++)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "", (*b)->name);
        return ch_error_set_field(CH_ENOTFOUND, "profile",
                                  "unknown profile \"%.64s\"; built-in profiles: %s (and the tenant's custom ones)",
                                  name ? name : "", names);
    }
    if (error < 0)
        return error;
    error = from_row(out, &row);
    ch_store_profile_dispose(&row);
    return error;
}

int ch_svc_profile_list(ch_svc *svc, const ch_actor *actor, ch_svc_profile **out, size_t *count)
{
    const ch_profile *const *b = ch_profile_list();
    ch_store_profile *rows = NULL;
    size_t nb = 0, nrows = 0, k = 0;
    int error;

    *out = NULL;
    *count = 0;
    if ((error = svc_need(actor, CH_ROLE_VIEWER, "reading profiles")) < 0)
        return error;
    if ((error = ch_store_profile_list(svc->store, actor->tenant_id, &rows, &nrows)) < 0)
        return error;
    while (b[nb])
        nb++;
    if ((*out = calloc(nb + nrows + 1, sizeof **out)) == NULL) {
        ch_store_profile_list_free(rows, nrows);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nb; i++)
        from_builtin(&(*out)[k++], b[i]);
    for (size_t i = 0; i < nrows; i++)
        if (from_row(&(*out)[k], &rows[i]) == 0) /* a damaged row is left out, not fatal to the list */
            k++;
    ch_store_profile_list_free(rows, nrows);
    *count = k;
    return 0;
}

struct profile_tx {
    ch_svc *svc;
    const ch_actor *actor;
    ch_store_profile *row;
    int op;          /* 0 create, 1 update, 2 delete */
    int64_t counted; /* delete: when its certificates were counted, before the transaction */
};

/* A renewal issues from the certificate's profile: deleting one that unexpired certificates
 * came from made their renewals (automatic ones too) fail later.  Counted over the whole
 * tenant before the write transaction (a walk of its unexpired certificates, a fraction of a
 * second at 1,000,000, would hold every writer), and in it over those made since. */
static int profile_in_use(ch_svc *svc, const char *tenant_id, const char *name, int64_t since)
{
    int64_t users = 0;
    int error = ch_store_profile_users(svc->store, tenant_id, name, ch_now(), since, &users);

    if (error == 0 && users > 0)
        error = ch_error_set_field(CH_ECONFLICT, "name",
                                   "profile %s issued %lld unexpired certificate%s, whose renewals issue from it: "
                                   "change the profile instead, or delete it once they have expired",
                                   name, (long long)users, users == 1 ? "" : "s");
    return error;
}

static int profile_tx_run(void *arg)
{
    struct profile_tx *t = arg;
    static const char *const actions[] = {"profile.create", "profile.update", "profile.delete"};
    int error;

    if (t->op == 0)
        error = ch_store_profile_put(t->svc->store, t->row);
    else if (t->op == 1)
        error = ch_store_profile_update(t->svc->store, t->row);
    else {
        error = profile_in_use(t->svc, t->actor->tenant_id, t->row->name, t->counted);
        if (error == 0)
            error = ch_store_profile_delete(t->svc->store, t->actor->tenant_id, t->row->name);
    }
    if (error == CH_EEXISTS)
        error = ch_error_set_field(CH_EEXISTS, "name", "the tenant already has a profile named %s", t->row->name);
    /* Said as GET of the same name says it (the store's "no such profile" named nothing). */
    if (error == CH_ENOTFOUND)
        error = ch_error_set_field(CH_ENOTFOUND, "profile", "unknown profile \"%.64s\"; the tenant's custom profiles "
                                   "are those GET /api/v1/profiles lists (built-in ones are not changed or deleted)",
                                   t->row->name);
    return error < 0 ? error : svc_audit(t->svc, t->actor, actions[t->op], "profile", t->row->name, t->row->definition);
}

int ch_svc_profile_put(ch_svc *svc, const ch_actor *actor, const char *name, const char *definition, bool create,
                       ch_svc_profile *out)
{
    ch_svc_profile parsed;
    ch_store_profile row = {0};
    json_t *def;
    json_error_t jerr;
    char *canon = NULL;
    struct profile_tx t;
    int error;

    if (out)
        memset(out, 0, sizeof *out);
    if ((error = svc_need(actor, CH_ROLE_OPERATOR, create ? "creating a profile" : "changing a profile")) < 0)
        return error;
    if (!create && name != NULL && ch_profile_get(name) != NULL)
        return ch_error_set_field(CH_EPOLICY, "name", "built-in profiles cannot be changed; create a custom profile");
    if ((error = check_name(name)) < 0)
        return error;
    if ((def = json_loads(definition ? definition : "", JSON_REJECT_DUPLICATES, &jerr)) == NULL)
        return ch_error_set(CH_EPARSE, "the profile definition is not JSON: %s", jerr.text);
    if ((error = profile_parse(&parsed, name, def)) < 0) {
        json_decref(def);
        return error;
    }
    /* Stored as given (fields checked), compact. */
    canon = json_dumps(def, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(def);
    if (canon == NULL) {
        ch_svc_profile_dispose(&parsed);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    row.tenant_id = (char *)actor->tenant_id;
    row.name = (char *)name;
    row.definition = canon;
    row.created_at = row.updated_at = ch_now();
    t = (struct profile_tx){svc, actor, &row, create ? 0 : 1, 0};
    if ((error = svc_commit(svc, profile_tx_run, &t)) == 0 && out) {
        parsed.created_at = row.created_at;
        parsed.updated_at = row.updated_at;
        *out = parsed;
    } else {
        ch_svc_profile_dispose(&parsed);
    }
    free(canon);
    return error;
}

int ch_svc_profile_delete(ch_svc *svc, const ch_actor *actor, const char *name)
{
    ch_store_profile row = {.name = (char *)name};
    struct profile_tx t = {svc, actor, &row, 2, 0};
    int error;

    if ((error = svc_need(actor, CH_ROLE_OPERATOR, "deleting a profile")) < 0)
        return error;
    if (name != NULL && ch_profile_get(name) != NULL)
        return ch_error_set_field(CH_EPOLICY, "name", "built-in profiles cannot be deleted");
    /* (a second early: created_at is in seconds) */
    t.counted = ch_now() - 1;
    if (name != NULL && (error = profile_in_use(svc, actor->tenant_id, name, 0)) < 0)
        return error;
    /* A token that issues under it by name would issue under whatever is made again with that
     * name: its scope goes first. */
    if (name != NULL) {
        int64_t tokens = 0;
        char first[CH_ID_MAX];
        if ((error = ch_store_profile_tokens(svc->store, actor->tenant_id, name, ch_now(), &tokens, first)) < 0)
            return error;
        if (tokens > 0)
            return ch_error_set_field(CH_ECONFLICT, "name",
                                      "profile %s is one %lld token%s limited to issuing issue%s under (%s%s): revoke "
                                      "%s first, as a profile made again with its name would give %s what it allows",
                                      name, (long long)tokens, tokens == 1 ? "" : "s", tokens == 1 ? "s" : "", first,
                                      tokens > 1 ? ", ..." : "", tokens == 1 ? "it" : "them",
                                      tokens == 1 ? "it" : "them");
    }
    return svc_commit(svc, profile_tx_run, &t);
}

void ch_svc_profile_dispose(ch_svc_profile *p)
{
    if (p == NULL)
        return;
    free(p->name);
    free(p->description);
    ch_name_policy_dispose(p->policy);
    free(p->policy);
    ch_strv_free(p->eku_oids);
    ch_strv_free(p->policies);
    memset(p, 0, sizeof *p);
}

void ch_svc_profile_list_free(ch_svc_profile *list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        ch_svc_profile_dispose(&list[i]);
    free(list);
}
