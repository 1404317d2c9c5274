/* REST API routes: /api/v1/<resource>[/<id>]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "daemon.h"

static json_t *cert_json(const ch_store_cert *c, bool with_pem)
{
    char nb[32], na[32];
    json_t *o;

    ch_time_format(nb, sizeof nb, c->not_before);
    ch_time_format(na, sizeof na, c->not_after);
    o = json_pack("{ss ss ss ss ss ss ss ss ss ss sb}", "id", c->id, "name", c->name ? c->name : "", "subject",
                  c->subject ? c->subject : "", "issuer", c->issuer ? c->issuer : "", "serial",
                  c->serial ? c->serial : "", "not_before", nb, "not_after", na, "sha256", c->sha256, "status",
                  c->status ? c->status : "", "method", c->method ? c->method : "", "is_ca", c->is_ca);
    if (c->profile)
        json_object_set_new(o, "profile", json_string(c->profile));
    if (c->ca_id)
        json_object_set_new(o, "ca_id", json_string(c->ca_id));
    json_object_set_new(o, "has_private_key", json_boolean(c->key_id != NULL));
    if (with_pem && c->der) {
        ch_buf pem = CH_BUF_INIT;
        if (ch_svc_cert_pem(&pem, c) == 0)
            json_object_set_new(o, "pem", json_string((const char *)pem.data));
        ch_buf_dispose(&pem);
    }
    return o;
}

static json_t *ca_json(const ch_store_ca *ca)
{
    json_t *o = json_pack("{ss ss ss ss sb}", "id", ca->id, "name", ca->name, "certificate_id", ca->cert_id,
                          "status", ca->status, "can_sign", ca->key_id != NULL);

    json_object_set_new(o, "parent_id", ca->parent_id ? json_string(ca->parent_id) : json_null());
    return o;
}

/* Reads an optional string member; a wrong type is a 400 naming the field. */
static int get_str(req *r, json_t *body, const char *field, const char **out)
{
    json_t *v = json_object_get(body, field);

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s must be a string", field);
        reply_error_msg(r, CH_EINVAL, field, msg);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static void certificates_list(req *r)
{
    ch_store_cert_filter f = {.is_ca = -1};
    ch_store_cert *rows = NULL;
    size_t n = 0;
    char *next = NULL;
    const char *limit_s = query(r, "limit"), *exp = query(r, "expiring_before");
    long limit = limit_s ? strtol(limit_s, NULL, 10) : 50;
    json_t *items, *body;
    int error;

    f.search = query(r, "search");
    f.ca_id = query(r, "ca_id");
    f.method = query(r, "method");
    f.status = query(r, "status");
    if (exp && ch_time_parse(&f.expiring_before, exp) < 0)
        return reply_error_msg(r, CH_EINVAL, "expiring_before", ch_error_last());
    if (query(r, "expiring_before"))
        f.order = CH_ORDER_EXPIRY;
    if (limit < 1 || limit > 1000)
        return reply_error_msg(r, CH_EINVAL, "limit", "limit must be between 1 and 1000");
    if ((error = ch_svc_cert_list(r->svc, &r->who.actor, &f, (size_t)limit, query(r, "cursor"), &rows, &n, &next)) < 0)
        return reply_error(r, error);
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, cert_json(&rows[i], false));
    body = json_pack("{so}", "items", items);
    json_object_set_new(body, "next_cursor", next ? json_string(next) : json_null());
    free(next);
    ch_store_cert_list_free(rows, n);
    reply_json(r, 200, body);
}

static void certificates_issue(req *r)
{
    json_t *body = read_json(r), *subject, *sans;
    ch_svc_issue_req q = {.path_len = -2};
    const char *csr = NULL, *san_list[CH_MAX_SANS + 1] = {0};
    ch_store_cert out;
    size_t k = 0, i;
    json_t *v;
    int error;

    if (body == NULL)
        return;
    if (get_str(r, body, "name", &q.name) || get_str(r, body, "profile", &q.profile) ||
        get_str(r, body, "ca_id", &q.ca_id) || get_str(r, body, "key_type", &q.key_type) ||
        get_str(r, body, "csr", &csr) || get_str(r, body, "digest", &q.digest))
        goto done;
    if (q.profile == NULL)
        q.profile = "tls-server";
    if ((v = json_object_get(body, "days")) != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 36600) {
            reply_error_msg(r, CH_EINVAL, "days", "days must be a whole number from 1 to 36600");
            goto done;
        }
        q.days = (int)json_integer_value(v);
    }
    if ((subject = json_object_get(body, "subject")) != NULL) {
        if (json_is_string(subject)) {
            q.subject.dn = json_string_value(subject);
        } else if (json_is_object(subject)) {
            if (get_str(r, subject, "common_name", &q.subject.fields.common_name) ||
                get_str(r, subject, "organization", &q.subject.fields.organization) ||
                get_str(r, subject, "organizational_unit", &q.subject.fields.org_unit) ||
                get_str(r, subject, "country", &q.subject.fields.country) ||
                get_str(r, subject, "state", &q.subject.fields.state) ||
                get_str(r, subject, "locality", &q.subject.fields.locality) ||
                get_str(r, subject, "email", &q.subject.fields.email))
                goto done;
        } else {
            reply_error_msg(r, CH_EINVAL, "subject", "subject must be an object or a DN string");
            goto done;
        }
    }
    if ((sans = json_object_get(body, "sans")) != NULL) {
        if (!json_is_array(sans) || json_array_size(sans) > CH_MAX_SANS) {
            reply_error_msg(r, CH_EINVAL, "sans", "sans must be an array of strings like \"dns:a.example\"");
            goto done;
        }
        json_array_foreach(sans, i, v) {
            if (!json_is_string(v)) {
                reply_error_msg(r, CH_EINVAL, "sans", "sans must be an array of strings like \"dns:a.example\"");
                goto done;
            }
            san_list[k++] = json_string_value(v);
        }
        q.sans = san_list;
        q.san_count = k;
    }
    if (csr != NULL) {
        q.csr = (const uint8_t *)csr;
        q.csr_len = strlen(csr);
    } else if (q.key_type == NULL) {
        q.key_type = "p256";
    }
    if ((error = ch_svc_cert_issue(r->svc, &r->who.actor, &q, &out)) < 0) {
        reply_error(r, error);
        goto done;
    }
    reply_json(r, 201, cert_json(&out, true));
    ch_store_cert_dispose(&out);
done:
    json_decref(body);
}

static void certificate_get(req *r, const char *id)
{
    ch_store_cert c;
    int error = ch_svc_cert_get(r->svc, &r->who.actor, id, &c);

    if (error < 0)
        return reply_error(r, error);
    reply_json(r, 200, cert_json(&c, true));
    ch_store_cert_dispose(&c);
}

static void cas_list(req *r)
{
    ch_store_ca *rows = NULL;
    size_t n = 0;
    json_t *items;
    int error = ch_svc_ca_list(r->svc, &r->who.actor, &rows, &n);

    if (error < 0)
        return reply_error(r, error);
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, ca_json(&rows[i]));
    ch_store_ca_list_free(rows, n);
    reply_json(r, 200, json_pack("{so so}", "items", items, "next_cursor", json_null()));
}

void api_dispatch(req *r)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(r->ev);
    const char *p = r->path;

    if (strcmp(p, "/api/v1/health") == 0) {
        if (m != EVHTTP_REQ_GET)
            return reply_error_msg(r, CH_EINVAL, NULL, "use GET");
        return reply_json(r, 200, json_pack("{ss}", "status", "ok"));
    }
    if (strncmp(p, "/api/v1/", 8) != 0)
        return reply_error_msg(r, CH_ENOTFOUND, NULL, "no such resource; the API lives under /api/v1/");
    if (need_auth(r) < 0)
        return;
    p += 8;
    if (strcmp(p, "certificates") == 0) {
        if (m == EVHTTP_REQ_GET)
            return certificates_list(r);
        if (m == EVHTTP_REQ_POST)
            return certificates_issue(r);
    } else if (strncmp(p, "certificates/", 13) == 0 && strchr(p + 13, '/') == NULL && p[13] != '\0') {
        if (m == EVHTTP_REQ_GET)
            return certificate_get(r, p + 13);
    } else if (strcmp(p, "cas") == 0) {
        if (m == EVHTTP_REQ_GET)
            return cas_list(r);
    } else {
        return reply_error_msg(r, CH_ENOTFOUND, NULL, "no such resource");
    }
    reply_error_msg(r, CH_EINVAL, NULL, "this method is not allowed here");
}
