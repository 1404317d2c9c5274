/* REST API routes: /api/v1/<resource>[/<id>]. */
#include <ctype.h>
#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "certhub/formats.h"
#include "daemon.h"

/* The fields each request body may hold: anything else is a 400 naming the field, so a typo
 * is never silently ignored. */
static const char *const F_SUBJECT[] = {"common_name", "organization", "organizational_unit", "country", "state",
                                        "locality", "email", NULL};
static const char *const F_ISSUE[] = {"name", "profile", "ca_id", "key_type", "csr", "csr_id", "public_key", "digest", "days",
                                      "ttl", "not_after", "subject", "sans", "key_usage", "ext_key_usage", "basic_constraints",
                                      "authority_key_id", "critical", "cap_validity", "auto_renew", "csr_usages",
                                      "ext_key_usage_oids", "policy_identifiers", "renew_before",
                                      NULL};
static const char *const F_TENANT[] = {"name", NULL};
static const char *const F_TOKEN[] = {"tenant", "role", "name", "scope", "expires_in", "expires_at", NULL};
static const char *const F_CA[] = {"name",     "type",        "key_type",    "parent_id", "digest",      "days",
                                   "ttl",      "path_len",    "subject",     "certificate", "data",      "private_key",
                                   "password", "csr_id",      "auto_rotate", "cap_validity", "csr", "crl_urls",
                                   "ocsp_urls", "ca_issuers_urls", NULL};
/* What each type of CA reads of F_CA. */
static const char *const F_CA_ROOT[] = {"name", "type", "key_type", "digest", "days", "ttl", "path_len", "subject",
                                        "auto_rotate", "crl_urls", "ocsp_urls", "ca_issuers_urls", NULL};
static const char *const F_CA_INTERMEDIATE[] = {"name",    "type",        "key_type",     "parent_id", "digest", "days",
                                                "ttl",     "path_len",    "subject",      "auto_rotate",
                                                "cap_validity", "csr", "crl_urls", "ocsp_urls", "ca_issuers_urls",
                                                NULL};
static const char *const F_CA_UPDATE[] = {"name", "auto_rotate", "crl_urls", "ocsp_urls", "ca_issuers_urls", NULL};
static const char *const F_CA_IMPORT[] = {"name",        "type",     "certificate", "data",
                                          "private_key", "password", "csr_id",      NULL};
static const char *const F_RENAME[] = {"name", "auto_renew", "renew_before", NULL};
static const char *const F_PASSWORD[] = {"password", NULL};
static const char *const F_EXPORT[] = {"format",     "password",     "include_key", "legacy",
                                       "truststore", "key_password", "alias",       NULL};
static const char *const F_CSR[] = {"name", "key_type", "digest", "subject", "sans", "key_usage", "ext_key_usage",
                                    "ca", "path_len", NULL};
static const char *const F_ATTACH[] = {"certificate", "data", NULL};
static const char *const F_IMPORT[] = {"name",     "certificate",  "data",    "private_key",
                                       "password", "key_password", "preview", "file_name", NULL};
static const char *const F_KEYSTORE[] = {"name",           "data",   "certificate", "password", "key_password",
                                         "certificate_id", "format", "alias",       NULL};
static const char *const F_ENTRY_ADD[] = {"certificate_id", "alias", NULL};
static const char *const F_ENTRY_RENAME[] = {"alias", NULL};

/* The page a list request asks for: ?limit (1 to 1000, 100 when absent) and ?cursor.  A bad
 * limit is answered with a 400 here (-1). */
static int page_of_ex(req *r, ch_store_page *page, long dflt)
{
    const char *limit = query(r, "limit");
    char *end = NULL;
    long n = limit ? strtol(limit, &end, 10) : dflt;

    *page = (ch_store_page){.cursor = query(r, "cursor")};
    if (page->cursor != NULL && page->cursor[0] == '\0')
        page->cursor = NULL; /* (the first page, as everywhere) */
    if ((limit != NULL && (end == limit || *end != '\0')) || n < 1 || n > 1000) {
        reply_error_msg(r, CH_EINVAL, "limit", "limit must be between 1 and 1000");
        return -1;
    }
    page->limit = (size_t)n;
    return 0;
}

static int page_of(req *r, ch_store_page *page)
{
    return page_of_ex(r, page, 100);
}

/* A page of a list: {"items": [...], "next_cursor": "..." or null}; frees the page's cursor. */
static void reply_page(req *r, json_t *items, ch_store_page *page)
{
    reply_json(r, 200, json_pack("{so so}", "items", items, "next_cursor",
                                 page->next_cursor ? json_string(page->next_cursor) : json_null()));
    free(page->next_cursor);
    page->next_cursor = NULL;
}

/* A page of a short list read whole (tenants, console users and profiles by name), with ?limit and ?cursor as the others take them; the
 * cursor is the hex of the member key (unique in the list) of the page's last item.  Items
 * from index sorted on are in key order (a tenant's profiles: the built-in ones come first, in
 * their own order): when the cursor's item went meanwhile, the page starts at the first key
 * after it there.  fill, when given, completes each item of the page alone before it is sent
 * (what costs a read per item is not done for the items the page leaves out).  Takes items. */
static const char *item_key(json_t *items, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_array_get(items, i), key));
}

static void reply_keyed_page(req *r, json_t *items, const char *key, size_t sorted, void (*fill)(req *, json_t *))
{
    ch_store_page page;
    size_t n = json_array_size(items), start = 0, len = 0;
    uint8_t *after = NULL;
    json_t *out;

    if (page_of(r, &page) < 0)
        goto done;
    if (page.cursor != NULL && *page.cursor != '\0') {
        size_t max = strlen(page.cursor) / 2 + 1;
        if ((after = malloc(max)) == NULL || ch_unhex(after, max - 1, page.cursor, &len) < 0 || len == 0) {
            reply_error_msg(r, CH_EINVAL, "cursor", "invalid cursor: pass the next_cursor of the previous page");
            goto done;
        }
        after[len] = '\0';
        while (start < n && strcmp(item_key(items, start, key), (const char *)after) != 0)
            start++;
        if (start < n) {
            start++;
        } else {
            for (start = sorted; start < n && strcmp(item_key(items, start, key), (const char *)after) <= 0; start++)
                ;
        }
    }
    out = json_array();
    for (size_t i = start; i < n && i < start + page.limit; i++) {
        if (fill != NULL)
            fill(r, json_array_get(items, i));
        json_array_append(out, json_array_get(items, i));
    }
    if (start + page.limit < n) {
        const char *last = item_key(items, start + page.limit - 1, key);
        if ((page.next_cursor = malloc(2 * strlen(last) + 1)) != NULL)
            ch_hex(page.next_cursor, (const uint8_t *)last, strlen(last));
    }
    reply_page(r, out, &page);
done:
    free(after);
    json_decref(items);
}

/* "sans" as an array, from the text the store keeps for search ("dns:a,ip:10.0.0.1,uri:..."):
 * split where a comma begins the next name's type, since a URI may hold commas of its own. */
static void jw_sans(ch_jw *w, const char *stored)
{
    static const char *const types[] = {"dns:", "ip:", "email:", "uri:"};
    char *copy = stored != NULL && *stored != '\0' ? strdup(stored) : NULL, **items = NULL;
    size_t n = 0, cap = 1;

    for (const char *p = copy; p != NULL && (p = strchr(p, ',')) != NULL; p++)
        cap++;
    if (copy != NULL && (items = malloc(cap * sizeof *items)) != NULL) {
        items[n++] = copy;
        for (char *p = strchr(copy, ','); p != NULL; p = strchr(p + 1, ','))
            for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
                if (strncmp(p + 1, types[t], strlen(types[t])) == 0) {
                    *p = '\0';
                    items[n++] = p + 1;
                    break;
                }
    }
    if (copy != NULL && items == NULL)
        w->oom = true;
    ch_jw_strs(w, "sans", items, n);
    free(items);
    free(copy);
}

/* A certificate as the API shows it: the one definition of its shape (cert_json parses it
 * for answers that add to it).  Written as text: issuing answers with it.  details (JSON text
 * or NULL) adds created_at and the decoded certificate, as GET shows one; newest (not NULL)
 * adds newest_renewal, that id or null for "", as GET shows one. */
static bool cert_json_text_ex(ch_buf *out, const ch_store_cert *c, bool with_pem, const char *details,
                              const char *newest)
{
    char nb[32], na[32], ra[32];
    size_t start = out->len;
    ch_jw w;

    ch_time_format(nb, sizeof nb, c->not_before);
    ch_time_format(na, sizeof na, c->not_after);
    /* Room for the whole answer at once (the PEM, escaped, is under twice the DER): grown
     * from nothing it was six reallocations, under the allocator's lock. */
    if (ch_buf_grow(out, 1024 + (with_pem ? 2 * c->der_len : 0)) < 0)
        return false;
    ch_jw_begin(&w, out);
    ch_jw_str(&w, "id", c->id);
    ch_jw_str(&w, "name", c->name ? c->name : "");
    ch_jw_str(&w, "subject", c->subject ? c->subject : "");
    ch_jw_str(&w, "issuer", c->issuer ? c->issuer : "");
    ch_jw_str(&w, "serial", c->serial ? c->serial : "");
    ch_jw_str(&w, "not_before", nb);
    ch_jw_str(&w, "not_after", na);
    jw_sans(&w, c->sans);
    ch_jw_str(&w, "sha256", c->sha256);
    /* Stored as issued; an answer says what it is now: a certificate renewed is replaced, as a
     * CA's rotated one is (it was "active", and counted among those expiring). */
    ch_jw_str(&w, "status", c->not_after <= ch_now()                                      ? "expired"
                            : c->renewed_by != NULL && c->status && !strcmp(c->status, "active") ? "renewed"
                            : c->status                                                    ? c->status
                                                                                           : "");
    ch_jw_str(&w, "method", c->method ? c->method : "");
    ch_jw_bool(&w, "is_ca", c->is_ca);
    if (c->profile)
        ch_jw_str(&w, "profile", c->profile);
    if (c->ca_id)
        ch_jw_str(&w, "ca_id", c->ca_id);
    ch_jw_bool(&w, "has_private_key", c->key_id != NULL);
    /* A certificate renewed is renewed no more (its renewal is, and refuses the switch): it
     * reads off.  The store keeps it for the day its renewal is deleted and it is the newest
     * again. */
    ch_jw_bool(&w, "auto_renew", c->auto_renew && c->renewed_by == NULL);
    if (c->renew_at && c->renewed_by == NULL) {
        ch_time_format(ra, sizeof ra, c->renew_at);
        ch_jw_str(&w, "renew_at", ra);
    }
    if (c->renew_before > 0) {
        char rb[24];
        ch_ttl_format(rb, sizeof rb, c->renew_before);
        ch_jw_str(&w, "renew_before", rb);
    } else {
        ch_jw_str(&w, "renew_before", NULL);
    }
    ch_jw_str(&w, "renews", c->renews);
    ch_jw_str(&w, "renewed_by", c->renewed_by);
    if (newest != NULL)
        ch_jw_str(&w, "newest_renewal", newest[0] ? newest : NULL);
    if (c->renew_error)
        ch_jw_str(&w, "renew_error", c->renew_error);
    if (with_pem && c->der) {
        ch_buf pem = CH_BUF_INIT;
        if (ch_svc_cert_pem(&pem, c) == 0)
            ch_jw_str(&w, "pem", (const char *)pem.data);
        ch_buf_dispose(&pem);
    }
    if (details != NULL) {
        char at[32];
        ch_time_format(at, sizeof at, c->created_at);
        ch_jw_str(&w, "created_at", at);
        ch_jw_raw(&w, "details", details);
    }
    ch_jw_end(&w);
    if (w.oom)
        out->len = start;
    return !w.oom;
}

static bool cert_json_text(ch_buf *out, const ch_store_cert *c, bool with_pem)
{
    return cert_json_text_ex(out, c, with_pem, NULL, NULL);
}

/* The JSON text a writer put in text, read back as a value for an answer built with jansson
 * (an empty object when it was not written); text is disposed of. */
static json_t *json_of_text(ch_buf *text, bool written)
{
    json_t *o = written ? json_loadb((const char *)text->data, text->len, 0, NULL) : NULL;

    ch_buf_dispose(text);
    return o != NULL ? o : json_object();
}

static json_t *cert_json(const ch_store_cert *c, bool with_pem)
{
    ch_buf text = CH_BUF_INIT;
    bool written = cert_json_text(&text, c, with_pem);

    return json_of_text(&text, written);
}

/* Answers with one certificate (a 201 for one just made). */
static void reply_cert(req *r, int status, const ch_store_cert *c)
{
    ch_buf text = CH_BUF_INIT;

    if (!cert_json_text(&text, c, true))
        reply_error_msg(r, CH_ENOMEM, NULL, "out of memory");
    else
        reply_json_text(r, status, &text);
    ch_buf_dispose(&text);
}

/* A CA with what its certificate says of it (subject, serial, validity, fingerprint), so a
 * list of CAs shows which expire when without a request per CA. */
static json_t *ca_json(req *r, const ch_store_ca *ca)
{
    json_t *o = json_pack("{ss ss ss ss sb}", "id", ca->id, "name", ca->name, "certificate_id", ca->cert_id,
                          "status", ca->status, "can_sign", ca->key_id != NULL);
    ch_store_cert c;

    json_object_set_new(o, "parent_id", ca->parent_id ? json_string(ca->parent_id) : json_null());
    json_object_set_new(o, "auto_rotate", json_boolean(ch_svc_ca_auto_rotate(ca)));
    /* The URLs it writes into what it issues ([] for a list never set). */
    {
        static const char *const lists[] = {"crl_urls", "ocsp_urls", "ca_issuers_urls"};
        json_t *s = ca->settings ? json_loads(ca->settings, 0, NULL) : NULL;
        for (size_t i = 0; i < 3; i++) {
            json_t *l = json_object_get(s, lists[i]);
            json_object_set_new(o, lists[i], json_is_array(l) ? json_deep_copy(l) : json_array());
        }
        json_decref(s);
    }
    if (ch_svc_cert_get(r->svc, &r->who.actor, ca->cert_id, &c) == 0) {
        char nb[32], na[32];
        ch_time_format(nb, sizeof nb, c.not_before);
        ch_time_format(na, sizeof na, c.not_after);
        json_object_set_new(o, "subject", json_string(c.subject ? c.subject : ""));
        /* (a CA whose issuer is neither itself nor a CA here was signed outside: renewed there) */
        json_object_set_new(o, "issuer", json_string(c.issuer ? c.issuer : ""));
        json_object_set_new(o, "serial", json_string(c.serial ? c.serial : ""));
        json_object_set_new(o, "not_before", json_string(nb));
        json_object_set_new(o, "not_after", json_string(na));
        json_object_set_new(o, "sha256", json_string(c.sha256));
        /* Past its certificate's end a CA signs nothing: said so in its status, where "active"
         * showed it ready until an issuance failed. */
        if (strcmp(ca->status, "active") == 0 && c.not_after <= ch_now())
            json_object_set_new(o, "status", json_string("expired"));
        /* What the certificate allows: its key, and whether it may sign CAs under it. */
        {
            ch_cert *x = NULL;
            ch_cert_info info;
            if (ch_cert_parse(&x, c.der, c.der_len) == 0 && ch_cert_inspect(&info, x) == 0) {
                char key[64];
                if (info.key_curve)
                    snprintf(key, sizeof key, "%s %s", info.key_algorithm, info.key_curve);
                else
                    snprintf(key, sizeof key, "%s %d", info.key_algorithm, info.key_bits);
                json_object_set_new(o, "key", json_string(info.key_algorithm ? key : ""));
                json_object_set_new(o, "path_len", info.path_len >= 0 ? json_integer(info.path_len) : json_null());
                ch_cert_info_dispose(&info);
            }
            ch_cert_free(x);
        }
        ch_store_cert_dispose(&c);
    }
    return o;
}

/* A 400 naming field, whose value v is not of the type msg says.  null is such a value too:
 * read as the member left out, it made a rename to null a 200 that changed nothing.  (The
 * settings that take null for "none" say so, and are read by the service.) */
static void reply_wrong_type(req *r, json_t *v, const char *field, const char *msg)
{
    char text[400];

    snprintf(text, sizeof text, "%s%s", msg, json_is_null(v) ? " (null is not taken: leave the field out)" : "");
    reply_error_msg(r, CH_EINVAL, field, text);
}

/* Reads an optional string member; a wrong type (null too) is a 400 naming the field. */
static int get_str(req *r, json_t *body, const char *field, const char **out)
{
    json_t *v = json_object_get(body, field);

    *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_string(v)) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s must be a string", field);
        reply_wrong_type(r, v, field, msg);
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
    const char *exp = query(r, "expiring_before");
    ch_store_page page;
    int error;

    if (page_of_ex(r, &page, 50) < 0)
        return;

    f.search = query(r, "search");
    f.ca_id = query(r, "ca_id");
    /* A token limited to issuing lists what it issued (and their renewals), nothing else:
     * scoped_route_allowed let in no other scoped token. */
    if (r->who.scope[0] && strncmp(r->who.name, "token:", 6) == 0)
        f.token_id = r->who.name + 6;
    if (query(r, "kind") != NULL) {
        if (strcmp(query(r, "kind"), "ca") != 0 && strcmp(query(r, "kind"), "leaf") != 0)
            return reply_error_msg(r, CH_EINVAL, "kind", "kind must be ca or leaf");
        f.is_ca = strcmp(query(r, "kind"), "ca") == 0;
    }
    f.method = query(r, "method");
    if (f.method && strcmp(f.method, "generated") != 0 && strcmp(f.method, "csr_signed") != 0 &&
        strcmp(f.method, "issued") != 0 && strcmp(f.method, "imported") != 0)
        return reply_error_msg(r, CH_EINVAL, "method", "method must be generated, csr_signed, issued or imported");
    if (exp && ch_time_parse(&f.expiring_before, exp) < 0)
        return reply_error_msg(r, CH_EINVAL, "expiring_before", ch_error_last());
    /* The state a certificate is in now, as each answer's status says it: not past its end
     * (valid now, or not yet) and in use, or replaced by its renewal or a CA's rotation, or
     * past its end. */
    if (query(r, "status") != NULL) {
        int64_t now = ch_now();
        if (strcmp(query(r, "status"), "active") == 0 || strcmp(query(r, "status"), "rotated") == 0) {
            f.unexpired_at = now;
            f.status = query(r, "status");
            f.current = f.status[0] == 'a';
        } else if (strcmp(query(r, "status"), "renewed") == 0) {
            f.unexpired_at = now;
            f.status = "active";
            f.renewed = true;
        } else if (strcmp(query(r, "status"), "expired") == 0) {
            f.expiring_before = f.expiring_before && f.expiring_before < now ? f.expiring_before : now;
        } else {
            return reply_error_msg(r, CH_EINVAL, "status", "status must be active, renewed, rotated or expired");
        }
    }
    /* A list by expiry or state comes soonest to end first: read along the expiry index, the
     * page is at hand; newest first, SQLite took every valid certificate and sorted them by
     * age (2.6 s for status=active at 1,000,000). */
    if (query(r, "expiring_before") || query(r, "status"))
        f.order = CH_ORDER_EXPIRY;
    if ((error = ch_svc_cert_list(r->svc, &r->who.actor, &f, page.limit, page.cursor, &rows, &n, &next)) < 0)
        return reply_error(r, error);
    /* {"items":[...],"next_cursor":...} written as text, like each certificate in it */
    {
        ch_buf items = CH_BUF_INIT, text = CH_BUF_INIT;
        ch_jw w;
        bool ok = ch_buf_puts(&items, "[") == 0;
        for (size_t i = 0; i < n && ok; i++)
            ok = (i == 0 || ch_buf_puts(&items, ",") == 0) && cert_json_text(&items, &rows[i], false);
        ok = ok && ch_buf_puts(&items, "]") == 0;
        ch_jw_begin(&w, &text);
        ch_jw_raw(&w, "items", ok ? (const char *)items.data : "[]");
        ch_jw_str(&w, "next_cursor", next);
        ch_jw_end(&w);
        free(next);
        ch_store_cert_list_free(rows, n);
        if (!ok || w.oom)
            reply_error_msg(r, CH_ENOMEM, NULL, "out of memory");
        else
            reply_json_text(r, 200, &text);
        ch_buf_dispose(&items);
        ch_buf_dispose(&text);
    }
}

static int get_subject(req *r, json_t *body, ch_svc_subject *out);
static int get_int(req *r, json_t *body, const char *field, long min, long max, int *out);
static int get_flag(req *r, json_t *body, const char *field, int *out);
static int upload_flag(req *r, const upload *u, const char *field, int *out);

/* An optional JSON true or false into *out (left as it is when absent); anything else, null
 * too, is a 400 naming the field. */
static int get_bool(req *r, json_t *body, const char *field, int *out)
{
    json_t *v = json_object_get(body, field);
    char msg[96];

    if (v == NULL)
        return 0;
    if (!json_is_boolean(v)) {
        snprintf(msg, sizeof msg, "%s must be true or false", field);
        reply_wrong_type(r, v, field, msg);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

/* The lifetime of a certificate or CA: "days" (a whole number) or "ttl" (a string as Vault
 * writes it: "30m", "72h", "90d"), one of them or neither (the profile's); in *days or *ttl
 * (seconds), the other left 0.  400 naming the field otherwise, and ttl for both. */
static int get_lifetime(req *r, json_t *body, int *days, int64_t *ttl)
{
    json_t *v = json_object_get(body, "ttl");

    *ttl = 0;
    if (get_int(r, body, "days", 1, 36600, days))
        return -1;
    if (v == NULL)
        return 0;
    if (!json_is_string(v)) {
        reply_wrong_type(r, v, "ttl", "ttl is a string, a whole number and a unit: \"30m\", \"72h\", \"90d\" "
                                      "(days takes a number of days)");
        return -1;
    }
    if (ch_ttl_parse(ttl, json_string_value(v), "ttl") < 0) {
        reply_error(r, CH_EINVAL);
        return -1;
    }
    if (*days != 0) {
        reply_error_msg(r, CH_EINVAL, "ttl", "give days or ttl, not both");
        return -1;
    }
    return 0;
}

/* A certificate's own lead time for its renewal, "renew_before" (cert-manager's renewBefore),
 * written as ttl is ("720h", "30d", "1d12h"): in *out (seconds); absent: 0, and null (where
 * nullable: back to the tenant's renewal_point) 0 too, *given telling them apart.  400 naming
 * the field otherwise. */
static int get_renew_before(req *r, json_t *body, bool nullable, int64_t *out, bool *given)
{
    json_t *v = json_object_get(body, "renew_before");

    *out = 0;
    *given = v != NULL;
    if (v == NULL || (nullable && json_is_null(v)))
        return 0;
    if (!json_is_string(v)) {
        reply_wrong_type(r, v, "renew_before",
                         nullable ? "renew_before is a string, a whole number and a unit before the end: \"720h\", "
                                    "\"30d\", \"1d12h\" (or null for the tenant's renewal_point)"
                                  : "renew_before is a string, a whole number and a unit before the end: \"720h\", "
                                    "\"30d\", \"1d12h\"");
        return -1;
    }
    if (ch_ttl_parse(out, json_string_value(v), "renew_before") < 0) {
        reply_error(r, CH_EINVAL);
        return -1;
    }
    return 0;
}

/* An optional array of strings into list (at most max); 400 naming the field otherwise. */
static int get_strings(req *r, json_t *body, const char *field, const char **list, size_t max, size_t *n,
                       const char *example)
{
    json_t *a = json_object_get(body, field), *v;
    char msg[160];
    size_t i;

    *n = 0;
    if (a == NULL)
        return 0;
    snprintf(msg, sizeof msg, "%s must be an array of at most %zu strings like %s", field, max, example);
    if (!json_is_array(a) || json_array_size(a) > max) {
        reply_wrong_type(r, a, field, msg);
        return -1;
    }
    json_array_foreach(a, i, v) {
        if (!json_is_string(v)) {
            reply_error_msg(r, CH_EINVAL, field, msg);
            return -1;
        }
        list[(*n)++] = json_string_value(v);
    }
    return 0;
}

/* An optional list of OIDs into list (CH_MAX_OIDS + 1 long): *out NULL when absent, else list
 * (an empty one: none); what the OIDs are is the library's to check. */
static int get_oids(req *r, json_t *body, const char *field, const char **list, const char *const **out)
{
    size_t n;

    *out = NULL;
    if (get_strings(r, body, field, list, CH_MAX_OIDS, &n, "\"1.3.6.1.4.1.311.20.2.2\"") < 0)
        return -1;
    list[n] = NULL;
    if (json_object_get(body, field) != NULL)
        *out = list;
    return 0;
}

/* A CA's lists of URLs (crl_urls, ocsp_urls, ca_issuers_urls), each NULL-terminated in its
 * store; a list left out stays NULL in u. */
struct ca_url_lists {
    const char *crl[CH_CA_MAX_URLS + 1], *ocsp[CH_CA_MAX_URLS + 1], *issuers[CH_CA_MAX_URLS + 1];
};

static int get_ca_urls(req *r, json_t *body, struct ca_url_lists *l, ch_svc_ca_urls *u)
{
    static const char *const fields[] = {"crl_urls", "ocsp_urls", "ca_issuers_urls"};
    const char **lists[] = {l->crl, l->ocsp, l->issuers};
    const char *const **set[] = {&u->crl, &u->ocsp, &u->ca_issuers};
    size_t n;

    memset(l, 0, sizeof *l);
    memset(u, 0, sizeof *u);
    for (size_t i = 0; i < 3; i++) {
        if (get_strings(r, body, fields[i], lists[i], CH_CA_MAX_URLS, &n, "\"http://pki.example.com/ca.crt\"") < 0)
            return -1;
        if (json_object_get(body, fields[i]) != NULL)
            *set[i] = lists[i];
    }
    return 0;
}

/* An upload's one source, the uploaded file or field (a JSON or form member holding it
 * as text): 0 when exactly one came, else -1 after saying which of the two mistakes it is. */
static int upload_once(req *r, const upload *u, bool field_given, const char *field, const char *what,
                       const char *as_field)
{
    char msg[300];

    if (field_given != (u->file != NULL))
        return 0;
    if (field_given)
        snprintf(msg, sizeof msg, "give the %s once: %s or the uploaded file, not both", what, as_field);
    else
        snprintf(msg, sizeof msg, "no %s came (an empty body?): send the file as the request body, as a "
                 "multipart form's file, or as %s in JSON", what, as_field);
    reply_error_msg(r, CH_EINVAL, field, msg);
    return -1;
}

/* A file given as "certificate" (PEM text) and as "data" (base64) at once: -1 once the 400
 * on data is sent, saying to give what (a name) once. */
static int pem_or_data(req *r, const char *pem, const char *data, const char *what)
{
    char msg[200];

    if (pem == NULL || data == NULL)
        return 0;
    snprintf(msg, sizeof msg, "give %s once: \"certificate\" (PEM text) or \"data\" (the file in base64), not both",
             what);
    reply_error_msg(r, CH_EINVAL, "data", msg);
    return -1;
}

/* A file sent in JSON as field ("data"): standard base64, as base64(1) or jq's @base64 write
 * it, decoded into out (ch_buf_dispose_secure: the file may hold a key).  -1 once a 400
 * naming the field is sent. */
static int get_base64_file(req *r, const char *field, const char *text, ch_buf *out)
{
    char msg[512];
    int error;

    ch_buf_init(out, CH_MAX_UPLOAD_BYTES);
    if ((error = ch_base64_decode(out, text, strlen(text))) < 0) {
        snprintf(msg, sizeof msg,
                 "%s must be the file in standard base64 (RFC 4648: A-Z a-z 0-9 + /, '=' padding; line breaks are "
                 "ignored), as base64 or jq's @base64 write it: %s",
                 field, ch_error_last());
        ch_buf_dispose_secure(out);
        reply_error_msg(r, error == CH_ETOOBIG ? CH_ETOOBIG : CH_EINVAL, field, msg);
        return -1;
    }
    return 0;
}

/* The name a person knows a file format by, in an error. */
static const char *format_said(ch_format f)
{
    switch (f) {
    case CH_FMT_DER:
        return "a DER certificate (.cer/.crt/.der)";
    case CH_FMT_PKCS7:
        return "a PKCS#7 (.p7b)";
    case CH_FMT_PKCS12:
        return "a PKCS#12 (.pfx/.p12)";
    case CH_FMT_JKS:
        return "a JKS keystore";
    case CH_FMT_JCEKS:
        return "a JCEKS keystore";
    default:
        return "a PEM";
    }
}

/* The error of a file that did not read: when it came in the "certificate" field (text) and
 * holds no PEM, it was most likely a binary file, or its base64, put where PEM goes; the error
 * says where such a file goes instead (elsewhere: besides "data", the request body or a form's
 * file), and what its base64 is when it reads as one.  When it came as "data", the error names
 * that field. */
static void file_field_error(int error, const char *cert, bool as_data, const char *elsewhere)
{
    ch_buf bin = CH_BUF_INIT;
    ch_format f;
    char seen[96] = "", said[1024];

    if (ch_error_field() == NULL || strcmp(ch_error_field(), "certificate") != 0)
        return;
    if (as_data) {
        ch_error_set_field(error, "data", "%s", ch_error_last());
        return;
    }
    if (cert == NULL || strstr(cert, "-----BEGIN ") != NULL)
        return;
    /* (kept: reading the base64 below sets errors of its own) */
    snprintf(said, sizeof said, "%s", ch_error_last());
    ch_buf_init(&bin, CH_MAX_UPLOAD_BYTES);
    if (ch_base64_decode(&bin, cert, strlen(cert)) == 0 && ch_format_detect(&f, bin.data, bin.len) == 0 &&
        f != CH_FMT_PEM)
        snprintf(seen, sizeof seen, " (this one reads as base64 of %s file)", format_said(f));
    ch_buf_dispose_secure(&bin);
    ch_error_set_field(error, "certificate",
                       "%s; the \"certificate\" field takes PEM text: a binary file (DER, PKCS#12, JKS) goes in "
                       "\"data\" as base64%s%s",
                       said, seen, elsewhere);
}

/* An optional array of key usage names (extended false) or extended key usage names; an
 * empty one ([]) asks for no such extension: ext (CH_EXT_*) goes into *leave_out. */
static int get_usages(req *r, json_t *body, const char *field, bool extended, unsigned *out, unsigned ext,
                      unsigned *leave_out)
{
    const char *names[16];
    size_t n;
    unsigned bit;

    *out = 0;
    if (get_strings(r, body, field, names, 16, &n, extended ? "\"server_auth\"" : "\"digital_signature\""))
        return -1;
    if (n == 0 && json_is_array(json_object_get(body, field)))
        *leave_out |= ext;
    for (size_t i = 0; i < n; i++) {
        if (ch_usage_parse(&bit, extended, names[i]) < 0) {
            reply_error_msg(r, CH_EINVAL, field, ch_error_last());
            return -1;
        }
        *out |= bit;
    }
    return 0;
}

/* The extension switches of an issuance: "basic_constraints" and "authority_key_id" (true
 * when absent; false leaves the extension out) and "critical", the extensions marked critical
 * (absent: RFC 5280's advice, Basic Constraints and Key Usage). */
static int get_extensions(req *r, json_t *body, ch_svc_issue_req *q)
{
    const char *names[8];
    size_t n;
    int bc = 1, aki = 1;
    unsigned bit;

    if (get_bool(r, body, "basic_constraints", &bc) || get_bool(r, body, "authority_key_id", &aki) ||
        get_strings(r, body, "critical", names, 8, &n, "\"key_usage\""))
        return -1;
    if (!bc)
        q->leave_out |= CH_EXT_BASIC_CONSTRAINTS;
    if (!aki)
        q->leave_out |= CH_EXT_AUTHORITY_KEY_ID;
    if (json_is_array(json_object_get(body, "critical")))
        q->critical_set = CH_EXT_ALL;
    for (size_t i = 0; i < n; i++) {
        if (ch_ext_parse(&bit, names[i]) < 0) {
            reply_error_msg(r, CH_EINVAL, "critical", ch_error_last());
            return -1;
        }
        q->critical |= bit;
    }
    return 0;
}

static void count_request(size_t route, const struct timespec *t0, int status);

/* An issuance whose commit is queued: answered once it is decided. */
struct issue_later {
    later *l;
    ch_svc_pending *pending;
    struct evhttp_request *ev;
    ch_svc *svc;
    struct timespec t0;
    size_t route;
};

/* Answers an issuance with its certificate, or with its error; returns the status, read
 * before answering (evhttp frees a request whose connection has gone once it is answered). */
static int reply_issued(req *r, int error, ch_store_cert *out)
{
    if (error < 0) {
        reply_error(r, error);
        return ch_error_http_status(error);
    }
    reply_cert(r, 201, out);
    ch_store_cert_dispose(out);
    return 201;
}

static void issue_answer(void *arg)
{
    struct issue_later *d = arg;
    req r = {.ev = d->ev, .svc = d->svc};
    ch_store_cert out;
    int error = ch_svc_pending_end(d->pending, &out);

    count_request(d->route, &d->t0, reply_issued(&r, error, &out));
    free(d);
}

static void certificates_issue(req *r)
{
    json_t *body = read_json(r, F_ISSUE);
    struct issue_later *d;
    ch_svc_issue_req q = {0};
    const char *csr = NULL, *pub = NULL, *san_list[CH_MAX_SANS + 1] = {0}, *not_after = NULL;
    const char *eku_oids[CH_MAX_OIDS + 1] = {0}, *policies[CH_MAX_OIDS + 1] = {0};
    ch_store_cert out;
    int auto_renew = 0, cap_validity = 0, csr_usages = 0, error;
    bool given;

    if (body == NULL)
        return;
    if (get_oids(r, body, "ext_key_usage_oids", eku_oids, &q.eku_oids) ||
        get_oids(r, body, "policy_identifiers", policies, &q.policies))
        goto done;
    /* The end itself, as Vault's not_after and step-ca's notAfter take it. */
    if (get_str(r, body, "not_after", &not_after))
        goto done;
    if (not_after != NULL && (ch_time_parse(&q.not_after, not_after) < 0 || q.not_after <= 0)) {
        reply_error_msg(r, CH_EINVAL, "not_after", "not_after is a time in RFC 3339: 2027-06-30T00:00:00Z");
        goto done;
    }
    if (get_str(r, body, "name", &q.name) || get_str(r, body, "profile", &q.profile) ||
        get_str(r, body, "ca_id", &q.ca_id) || get_str(r, body, "key_type", &q.key_type) ||
        get_str(r, body, "csr", &csr) || get_str(r, body, "csr_id", &q.csr_id) || get_str(r, body, "public_key", &pub) ||
        get_str(r, body, "digest", &q.digest) || get_lifetime(r, body, &q.days, &q.ttl) ||
        get_subject(r, body, &q.subject) || get_strings(r, body, "sans", san_list, CH_MAX_SANS, &q.san_count, "\"dns:a.example\"") ||
        get_usages(r, body, "key_usage", false, &q.key_usage, CH_EXT_KEY_USAGE, &q.leave_out) ||
        get_usages(r, body, "ext_key_usage", true, &q.ext_key_usage, CH_EXT_EXT_KEY_USAGE, &q.leave_out) ||
        get_extensions(r, body, &q))
        goto done;
    if (get_bool(r, body, "auto_renew", &auto_renew) || get_bool(r, body, "cap_validity", &cap_validity) ||
        get_bool(r, body, "csr_usages", &csr_usages) || get_renew_before(r, body, false, &q.renew_before, &given))
        goto done;
    /* (what asks nothing of anything is refused, not taken: the rule for every field) */
    if (csr_usages && csr == NULL && q.csr_id == NULL) {
        reply_error_msg(r, CH_EINVAL, "csr_usages", "csr_usages takes the usages a CSR asks for: give csr or csr_id");
        goto done;
    }
    q.auto_renew = auto_renew;
    q.cap_validity = cap_validity;
    q.csr_usages = csr_usages;
    if (q.profile == NULL)
        q.profile = "tls-server";
    if (json_object_get(body, "sans") != NULL)
        q.sans = san_list;
    if (csr != NULL) {
        q.csr = (const uint8_t *)csr;
        q.csr_len = strlen(csr);
    }
    if (pub != NULL) {
        q.public_key = (const uint8_t *)pub;
        q.public_key_len = strlen(pub);
    }
    if (csr == NULL && pub == NULL && q.csr_id == NULL && q.key_type == NULL)
        q.key_type = "p256";
    /* On a loop, what takes a millisecond or more (an RSA key to make, an RSA-4096 or P-384 CA
     * to sign with) comes back CH_SVC_SLOW and is handed to a worker. */
    q.quick_only = !on_worker();
    /* A loop serving this connection alone waits for the commit (written at once when nothing
     * else is): handing it to the writer thread and back cost a client issuing one at a time
     * 25-40 % of its certificates a second. */
    d = loop_shared() ? calloc(1, sizeof *d) : NULL;
    if (d != NULL) {
        *d = (struct issue_later){.ev = r->ev, .svc = r->svc, .t0 = r->t0, .route = r->route};
        if ((d->l = later_new(r->ev, issue_answer, d)) == NULL) {
            free(d);
            d = NULL;
        }
    }
    if (d == NULL) /* outside the server's loops, or alone on this one: waited for here */
        error = ch_svc_cert_issue(r->svc, &r->who.actor, &q, &out);
    else if ((error = ch_svc_cert_issue_start(r->svc, &r->who.actor, &q, &out, later_fire, d->l, &d->pending)) == 1) {
        r->deferred = true; /* signed, its commit queued: the loop goes on with other connections */
        goto done;
    } else {
        later_cancel(d->l);
        free(d);
    }
    if (error == CH_SVC_SLOW) {
        if (hand_off(r))
            goto done;
        q.quick_only = false; /* no worker: made here */
        error = ch_svc_cert_issue(r->svc, &r->who.actor, &q, &out);
    }
    reply_issued(r, error, &out);
done:
    json_decref(body);
}

/* A certificate as JSON text with everything `certhub inspect` shows of it, decoded here, on
 * the one certificate asked for (newest: as cert_json_text_ex takes it). */
static bool cert_details_text(ch_buf *out, const ch_store_cert *c, const char *newest)
{
    ch_cert *x = NULL;
    ch_cert_info info;
    char *details = NULL;
    bool done;

    if (ch_cert_parse(&x, c->der, c->der_len) == 0 && ch_cert_inspect(&info, x) == 0) {
        (void)ch_cert_info_to_json(&details, &info);
        ch_cert_info_dispose(&info);
    }
    done = cert_json_text_ex(out, c, true, details ? details : "null", newest);
    free(details);
    ch_cert_free(x);
    return done;
}

static void certificate_get(req *r, const char *id)
{
    ch_store_cert c;
    ch_buf out = CH_BUF_INIT;
    char newest[CH_ID_MAX] = "";
    int error = ch_svc_cert_get(r->svc, &r->who.actor, id, &c);

    if (error < 0)
        return reply_error(r, error);
    /* What replaced it now, however many renewals on: one request for the sync agent and for a
     * script holding the first id, not one per renewal.  Asked here alone, not per row of a
     * list.  Links that lead nowhere (never made by certhub) leave it null. */
    if (c.renewed_by != NULL && ch_svc_cert_newest_renewal(r->svc, &r->who.actor, c.id, newest) < 0)
        newest[0] = '\0';
    if (cert_details_text(&out, &c, newest))
        reply_json_text(r, 200, &out);
    else
        reply_error_msg(r, CH_ENOMEM, NULL, "out of memory");
    ch_buf_dispose(&out);
    ch_store_cert_dispose(&c);
}

static void cas_list(req *r)
{
    ch_store_ca *rows = NULL;
    size_t n = 0;
    json_t *items;
    ch_store_page page;
    int error;

    if (page_of(r, &page) < 0)
        return;
    if ((error = ch_svc_ca_list(r->svc, &r->who.actor, &page, &rows, &n)) < 0)
        return reply_error(r, error);
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, ca_json(r, &rows[i]));
    ch_store_ca_list_free(rows, n);
    reply_page(r, items, &page);
}

/* Reads a subject member: an object of fields or a DN string. */
static int get_subject(req *r, json_t *body, ch_svc_subject *out)
{
    json_t *subject = json_object_get(body, "subject");

    memset(out, 0, sizeof *out);
    if (subject == NULL)
        return 0;
    if (json_is_string(subject)) {
        out->dn = json_string_value(subject);
        return 0;
    }
    if (!json_is_object(subject)) {
        reply_wrong_type(r, subject, "subject", "subject must be an object or a DN string");
        return -1;
    }
    if (only_fields_in(r, subject, F_SUBJECT, "subject") < 0)
        return -1;
    return get_str(r, subject, "common_name", &out->fields.common_name) ||
                   get_str(r, subject, "organization", &out->fields.organization) ||
                   get_str(r, subject, "organizational_unit", &out->fields.org_unit) ||
                   get_str(r, subject, "country", &out->fields.country) ||
                   get_str(r, subject, "state", &out->fields.state) ||
                   get_str(r, subject, "locality", &out->fields.locality) ||
                   get_str(r, subject, "email", &out->fields.email)
               ? -1
               : 0;
}

static int get_int(req *r, json_t *body, const char *field, long min, long max, int *out)
{
    json_t *v = json_object_get(body, field);
    char msg[128];

    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        snprintf(msg, sizeof msg, "%s must be a whole number from %ld to %ld", field, min, max);
        reply_wrong_type(r, v, field, msg);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

static void tenants_create(req *r)
{
    json_t *body = read_json(r, F_TENANT);
    const char *name;
    ch_store_tenant t;
    int error;

    if (body == NULL || get_str(r, body, "name", &name))
        goto done;
    if ((error = ch_svc_tenant_create(r->svc, &r->who.actor, name, &t)) < 0) {
        reply_error(r, error);
        goto done;
    }
    reply_json(r, 201, json_pack("{ss ss}", "id", t.id, "name", t.name));
    ch_store_tenant_dispose(&t);
done:
    json_decref(body);
}

static void tokens_create(req *r)
{
    json_t *body = read_json(r, F_TOKEN), *answer;
    const char *tenant = NULL, *role_name = NULL, *name = NULL, *expires_in = NULL, *expires_at = NULL;
    ch_role role = CH_ROLE_VIEWER;
    ch_store_tenant t = {0};
    char *token = NULL, id[CH_ID_MAX], at[32];
    int64_t expiry = 0;
    int error;

    if (body == NULL)
        goto done;
    /* A number is what a client that took it for seconds or days sends: say the unit is written. */
    if (json_is_number(json_object_get(body, "expires_in"))) {
        reply_error_msg(r, CH_EINVAL, "expires_in", "expires_in is a string, a whole number and a unit, such as "
                        "\"30d\", \"12h\" or \"90m\"");
        goto done;
    }
    if (get_str(r, body, "tenant", &tenant) || get_str(r, body, "role", &role_name) ||
        get_str(r, body, "name", &name) || get_str(r, body, "expires_in", &expires_in) ||
        get_str(r, body, "expires_at", &expires_at))
        goto done;
    if (role_name && (error = ch_role_parse(&role, role_name)) < 0) {
        reply_error(r, error);
        goto done;
    }
    if ((error = ch_svc_token_expiry(&expiry, expires_in, expires_at)) < 0) {
        reply_error(r, error);
        goto done;
    }
    /* "tenant" is a tenant's name (or id); absent means the caller's own.  Another tenant
     * than one's own is not there for those who may not make its tokens (a 403 for one that
     * exists and a 404 for one that does not told which tenants exist). */
    if (tenant && ((ch_store_tenant_get_by_name(ch_svc_store(r->svc), &t, tenant) < 0 &&
                    ch_store_tenant_get(ch_svc_store(r->svc), &t, tenant) < 0) ||
                   (strcmp(t.id, r->who.actor.tenant_id) != 0 && !(r->who.actor.perms & CH_PERM_TENANTS)))) {
        reply_error_msg(r, CH_ENOTFOUND, "tenant", "no such tenant");
        goto done;
    }
    {
        json_t *sc = json_object_get(body, "scope");
        /* JSON_ENCODE_ANY: without it a scope that is not an object ("scope": "x") dumped
         * to NULL and made a token of the whole tenant, wider than the one asked for.  A null
         * one is refused by the service as any other that is not an object. */
        char *scope = sc ? json_dumps(sc, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        error = ch_svc_token_create_scoped(r->svc, &r->who.actor, tenant ? t.id : NULL, role, name, scope, expiry,
                                           &token, id);
        free(scope);
    }
    /* The service has the expiry as a time: one past the tenant's max_token_days that came as
     * expires_in is refused naming that field. */
    if (error == CH_EINVAL && expires_in != NULL && ch_error_field() != NULL &&
        strcmp(ch_error_field(), "expires_at") == 0)
        ch_error_set_field(CH_EINVAL, "expires_in", "%s", ch_error_last());
    if (error < 0) {
        reply_error(r, error);
        goto done;
    }
    answer = json_pack("{ss ss ss}", "id", id, "token", token, "role", ch_role_name(role));
    ch_time_format(at, sizeof at, expiry);
    json_object_set_new(answer, "expires_at", expiry ? json_string(at) : json_null());
    reply_json(r, 201, answer);
done:
    ch_secure_free_str(token);
    ch_store_tenant_dispose(&t);
    json_decref(body);
}

/* The note of a CA import whose file held the chain above it: the CAs it made of it.  NULL
 * only when out of memory (json_array_append_new takes none). */
static json_t *ca_chain_note(const ch_svc_ca_chain *c)
{
    ch_buf b = CH_BUF_INIT;
    size_t all = c->added + c->held;
    int bad;
    json_t *note;

    bad = ch_buf_printf(&b, "the file held %zu more CA certificate%s (its chain)", all, all == 1 ? "" : "s");
    for (size_t i = 0; i < c->added && bad == 0; i++)
        bad = ch_buf_printf(&b, "%s\"%s\" (%s)",
                            i > 0           ? ", "
                            : c->added == 1 ? ", imported as a CA without its key: "
                                            : ", imported as CAs without their keys: ",
                            c->names[i], c->ids[i]);
    if (c->held > 0 && bad == 0)
        bad = ch_buf_printf(&b, "%s%zu %s held here already (as a CA, or with %s key)", c->added ? "; " : ": ",
                            c->held, c->held == 1 ? "was" : "were", c->held == 1 ? "its" : "their");
    note = bad == 0 ? json_stringn((const char *)b.data, b.len) : NULL;
    ch_buf_dispose(&b);
    return note;
}

static void cas_create(req *r)
{
    json_t *body = read_json(r, F_CA);
    ch_svc_ca_req q = {.path_len = -2};
    const char *type = NULL, *cert = NULL, *data = NULL, *key = NULL, *password = NULL, *csr_id = NULL, *csr = NULL;
    const uint8_t *cert_bytes;
    size_t cert_len;
    ch_buf bytes = CH_BUF_INIT;
    ch_svc_csr_found found = {0};
    ch_svc_ca_chain chain = {0};
    ch_store_ca out;
    json_t *o, *notes;
    char note[1400];
    struct ca_url_lists lists;
    ch_svc_ca_urls urls;
    int auto_rotate = 0, cap = 0, error;

    if (body == NULL)
        return;
    if (get_bool(r, body, "auto_rotate", &auto_rotate) || get_bool(r, body, "cap_validity", &cap) ||
        get_ca_urls(r, body, &lists, &urls) ||
        get_str(r, body, "name", &q.name) ||
        get_str(r, body, "type", &type) ||
        get_str(r, body, "key_type", &q.key_type) || get_str(r, body, "parent_id", &q.parent_id) ||
        get_str(r, body, "digest", &q.digest) || get_lifetime(r, body, &q.days, &q.ttl) ||
        get_int(r, body, "path_len", 0, 64, &q.path_len) || get_subject(r, body, &q.subject) ||
        get_str(r, body, "certificate", &cert) || get_str(r, body, "data", &data) ||
        get_str(r, body, "private_key", &key) || get_str(r, body, "password", &password) ||
        get_str(r, body, "csr_id", &csr_id) || get_str(r, body, "csr", &csr))
        goto done;
    /* An intermediate whose key is elsewhere: its CSR signed (Vault's sign-intermediate). */
    if (csr != NULL) {
        q.csr = (const uint8_t *)csr;
        q.csr_len = strlen(csr);
    }
    if (type == NULL || strcmp(type, "root") == 0 || strcmp(type, "intermediate") == 0) {
        q.intermediate = type && strcmp(type, "intermediate") == 0;
        if (only_fields_for(r, body, q.intermediate ? F_CA_INTERMEDIATE : F_CA_ROOT,
                            q.intermediate ? "an intermediate CA (type \"intermediate\")"
                                           : "a root CA (type \"root\", the default)") < 0)
            goto done;
        q.auto_rotate = auto_rotate == 1;
        q.cap_validity = cap == 1;
        q.crl_urls = urls.crl;
        q.ocsp_urls = urls.ocsp;
        q.ca_issuers_urls = urls.ca_issuers;
        error = ch_svc_ca_create(r->svc, &r->who.actor, &q, &out);
    } else if (strcmp(type, "import") == 0) {
        if (only_fields_for(r, body, F_CA_IMPORT, "an imported CA (type \"import\": its subject, key "
                                                  "and lifetime are its certificate's)") < 0)
            goto done;
        if (cert == NULL && data == NULL) {
            reply_error_msg(r, CH_EINVAL, "certificate", "an imported CA needs its certificate: \"certificate\" "
                            "(PEM), or \"data\" (the file in base64: DER, PEM, or a PKCS#12 or JKS holding its key)");
            goto done;
        }
        if (pem_or_data(r, cert, data, "the CA's certificate") < 0)
            goto done;
        if (csr_id != NULL && key != NULL) {
            reply_error_msg(r, CH_EINVAL, "private_key", "give csr_id or private_key, not both");
            goto done;
        }
        if (data != NULL && get_base64_file(r, "data", data, &bytes) < 0)
            goto done;
        cert_bytes = data ? bytes.data : (const uint8_t *)cert;
        cert_len = data ? bytes.len : strlen(cert);
        if (csr_id != NULL)
            error = ch_svc_ca_import_csr(r->svc, &r->who.actor, q.name, csr_id, cert_bytes, cert_len, &out, &chain);
        else
            error = ch_svc_ca_import(r->svc, &r->who.actor, q.name, cert_bytes, cert_len, (const uint8_t *)key,
                                     key ? strlen(key) : 0, password, &out, &found, &chain);
        if (error < 0)
            file_field_error(error, cert, data != NULL, "");
    } else {
        reply_error_msg(r, CH_EINVAL, "type", "type must be root, intermediate or import");
        goto done;
    }
    if (error < 0) {
        reply_error(r, error);
        goto done;
    }
    /* The key was a CSR's that the request did not name: said, with which; so is the CSR that
     * took the certificate with the key given. */
    o = ca_json(r, &out);
    notes = json_array();
    if (found.id[0])
        json_object_set_new(o, found.key_taken ? "key_from_csr" : "csr_id", json_string(found.id));
    /* 1: a CA held without its key has it now; the CA is the one held, under its own name. */
    if (error == 1) {
        /* (names are at most 128 characters, 512 bytes: the note holds both whole) */
        int n = snprintf(note, sizeof note, "CA \"%s\" (%s) was held without its private key: the key is added to "
                         "it, and it signs now", out.name, out.id);
        if (q.name != NULL && strcmp(q.name, out.name) != 0 && n > 0 && (size_t)n < sizeof note)
            snprintf(note + n, sizeof note - (size_t)n, "; it keeps its name (the name given, \"%s\", is not used: "
                     "an import does not rename a CA)", q.name);
        json_array_append_new(notes, json_string(note));
    }
    if (chain.added + chain.held > 0)
        json_array_append_new(notes, ca_chain_note(&chain));
    if (json_array_size(notes) > 0)
        json_object_set_new(o, "notes", notes);
    else
        json_decref(notes);
    reply_json(r, error == 1 ? 200 : 201, o);
    ch_store_ca_dispose(&out);
done:
    ch_buf_dispose_secure(&bytes);
    json_decref(body);
}

static void ca_get(req *r, const char *id)
{
    ch_store_ca ca;
    int error = ch_svc_ca_get(r->svc, &r->who.actor, id, &ca);

    if (error < 0)
        return reply_error(r, error);
    reply_json(r, 200, ca_json(r, &ca));
    ch_store_ca_dispose(&ca);
}

/* A file sent as the answer; disposition, when not NULL, its Content-Disposition. */
static void reply_file(req *r, const char *type, const void *data, size_t len, const char *disposition)
{
    struct evbuffer *buf = evbuffer_new();

    evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Content-Type", type);
    if (disposition)
        evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Content-Disposition", disposition);
    evbuffer_add(buf, data, len);
    send_reply(r, 200, "OK", buf);
    evbuffer_free(buf);
}

static void reply_text(req *r, const char *type, const void *data, size_t len, const char *filename)
{
    char disp[160];

    if (filename)
        snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", filename);
    reply_file(r, type, data, len, filename ? disp : NULL);
}

/* (not isalnum: the same in every locale, and never true of a UTF-8 byte) */
static bool ascii_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The Content-Disposition of an exported certificate, keystore or bundle named name (RFC 6266):
 * the name as a file's, with ext.  In filename, what every file system and header takes (ASCII
 * letters, digits, '.', '_', '-'; a run of others one '_', no leading '.'; fallback when no
 * letter or digit is left); when that is not the name, filename* (RFC 8187) gives it in UTF-8, which
 * browsers prefer.  A name that ends as a certificate file does (web.pem, imported from one)
 * loses that ending: the export's own is added. */
static void export_disposition(char *out, size_t cap, const char *name, const char *ext, const char *fallback)
{
    /* (the keystores' longer endings too: a "web.jceks" went out as web.jceks.p12) */
    static const char *const endings[] = {".pem",   ".crt",    ".cer",      ".der",       ".p7b",
                                          ".p7c",   ".p12",    ".pfx",      ".jks",       ".jceks",
                                          ".pkcs12", ".keystore", ".truststore", ".pkcs7"};
    char safe[160];
    size_t len = name ? strlen(name) : 0, n = 0, used;
    bool alnum = false, same = true, replaced = false;

    for (size_t i = 0; i < sizeof endings / sizeof endings[0]; i++) {
        size_t e = strlen(endings[i]);
        if (len > e && strcasecmp(name + len - e, endings[i]) == 0) {
            len -= e;
            break;
        }
    }
    for (size_t i = 0; i < len && n < sizeof safe - 1; i++) {
        unsigned char c = (unsigned char)name[i];
        if (ascii_alnum(c) || c == '_' || c == '-' || (c == '.' && n > 0)) {
            safe[n++] = (char)c;
            alnum = alnum || ascii_alnum(c);
            replaced = false;
            continue;
        }
        same = false;
        if ((c & 0xc0) != 0x80 && !replaced) /* one '_' for a character, or a run of them */
            safe[n++] = '_';
        replaced = true;
    }
    n -= replaced && n > 0; /* ("web (prod)": "web_prod", not "web_prod_") */
    safe[n] = '\0';
    used = (size_t)snprintf(out, cap, "attachment; filename=\"%s.%s\"", alnum ? safe : fallback, ext);
    if ((same && alnum) || len == 0 || used >= cap)
        return;
    used += (size_t)snprintf(out + used, cap - used, "; filename*=UTF-8''");
    for (size_t i = 0; i < len && used + 4 < cap; i++) {
        unsigned char c = (unsigned char)name[i];
        /* RFC 8187 attr-char as is; a path's separators go as '_' (the file is saved, not placed) */
        if (c == '/' || c == '\\')
            out[used++] = '_';
        else if (ascii_alnum(c) || (c != '\0' && strchr("!#$&+-.^_`|~", c) != NULL))
            out[used++] = (char)c;
        else
            used += (size_t)snprintf(out + used, cap - used, "%%%02X", c);
    }
    snprintf(out + used, cap - used, ".%s", ext);
}

static void ca_chain(req *r, const char *id)
{
    ch_buf pem = CH_BUF_INIT;
    int error = ch_svc_ca_chain_pem(r->svc, &r->who.actor, id, &pem);

    if (error < 0)
        return reply_error(r, error);
    reply_text(r, "application/pem-certificate-chain", pem.data, pem.len, "chain.pem");
    ch_buf_dispose(&pem);
}

/* An optional query parameter that is true or false (*out false when absent); anything else is
 * a 400 naming it, with msg (or "NAME must be true or false").  -1 once that is sent. */
static int query_bool(req *r, const char *name, const char *msg, bool *out)
{
    const char *v = query(r, name);
    char text[160];

    *out = v != NULL && strcmp(v, "true") == 0;
    if (v == NULL || *out || strcmp(v, "false") == 0)
        return 0;
    if (msg == NULL)
        snprintf(text, sizeof text, "%s must be true or false", name);
    reply_error_msg(r, CH_EINVAL, name, msg ? msg : text);
    return -1;
}

static void ca_delete(req *r, const char *id)
{
    bool force;
    int error;

    if (query_bool(r, "force", NULL, &force) < 0)
        return;
    if ((error = ch_svc_ca_delete(r->svc, &r->who.actor, id, force)) < 0)
        return reply_error(r, error);
    /* It may have issued certhubd's own certificate, whose root leaves the trust bundle with
     * it: a certificate of the CA that issues from now on is served at once (an agent whose
     * bundle target had already dropped the old root could not reach certhubd until the next
     * --renew-check, an hour by default). */
    http_server_cert_check_soon();
    reply_json(r, 200, json_pack("{ss sb}", "id", id, "deleted", 1));
}

static void certificate_delete(req *r, const char *id)
{
    char off[CH_ID_MAX];
    int error = ch_svc_cert_delete(r->svc, &r->who.actor, id, off);
    json_t *o;

    if (error < 0)
        return reply_error(r, error);
    o = json_pack("{ss sb}", "id", id, "deleted", 1);
    /* The one it renewed, in force again, whose automatic renewal is now off (said in the
     * audit entry alone: its renewals stopped without a word, and an agent deployed it back). */
    if (off[0] != '\0')
        json_object_set_new(o, "renewal_stopped", json_string(off));
    reply_json(r, 200, o);
}

static void certificate_rename(req *r, const char *id)
{
    json_t *body = read_json(r, F_RENAME);
    const char *name = NULL;
    int auto_renew = -1, error; /* -1: kept */
    int64_t renew_before;
    bool given;

    if (body == NULL || get_str(r, body, "name", &name) || get_bool(r, body, "auto_renew", &auto_renew) ||
        get_renew_before(r, body, true, &renew_before, &given))
        goto done;
    if ((error = ch_svc_cert_update_renewal(r->svc, &r->who.actor, id, name, auto_renew,
                                            given ? renew_before : -1)) < 0) {
        reply_error(r, error);
        goto done;
    }
    certificate_get(r, id);
done:
    json_decref(body);
}

static void certificate_private_key(req *r, const char *id)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
    json_t *body = NULL;
    const char *password = NULL;
    ch_buf pem = CH_BUF_INIT;
    int error;

    /* An empty body means an unencrypted PEM; a JSON body may give {"password": "..."}. */
    if (evbuffer_get_length(in) > 0 && ((body = read_json(r, F_PASSWORD)) == NULL || get_str(r, body, "password", &password)))
        goto done;
    if ((error = ch_svc_key_export(r->svc, &r->who.actor, id, password, &pem)) < 0) {
        reply_error(r, error);
        goto done;
    }
    reply_text(r, "application/x-pem-file", pem.data, pem.len, "key.pem");
done:
    ch_buf_dispose_secure(&pem);
    json_decref(body);
}

/* A file sent as the raw body has no field to put its password in: its error says where it goes. */
static void raw_password_hint(const upload *u, int error, const char *password, const char *key_password)
{
    if (u->raw && ch_error_field() != NULL && strcmp(ch_error_field(), "password") == 0 && password == NULL)
        ch_error_set_field(error, "password", "%s (a raw body takes it in the Certhub-Password header)",
                           ch_error_last());
    else if (u->raw && ch_error_field() != NULL && strcmp(ch_error_field(), "key_password") == 0 &&
             key_password == NULL)
        ch_error_set_field(error, "key_password", "%s (a raw body takes it in the Certhub-Key-Password header)",
                           ch_error_last());
}

/* The note of a chain that stops at missing, whose certificate is held nowhere. */
static void chain_note(char *note, size_t size, const char *missing)
{
    snprintf(note, size,
             "the chain ends at \"%s\", whose certificate is neither in the file nor held here: a client sent "
             "this certificate cannot verify it; import the whole chain (or that CA's certificate)",
             missing);
}

/* The notes of the key entries of a keystore upload whose chain stops short (gaps, in entry
 * order): one for each issuer missing, naming its entries (the first few, and how many more: a
 * keystore of thousands of entries of a CA whose certificate is missing has one note), with
 * chain_note's words. */
static void ks_gap_notes(json_t *notes, const ch_svc_ks_gap *gaps, size_t n)
{
    enum { NAMED = 5 };

    for (size_t i = 0; i < n; i++) {
        ch_buf text = CH_BUF_INIT;
        char note[1024];
        size_t count = 0, j;
        int error = 0;
        for (j = 0; j < i && strcmp(gaps[j].missing, gaps[i].missing) != 0; j++)
            ;
        if (j < i)
            continue; /* said with the first entry of its issuer */
        for (j = i; j < n; j++) {
            if (strcmp(gaps[j].missing, gaps[i].missing) != 0)
                continue;
            if (count < NAMED)
                error |= ch_buf_printf(&text, "%s\"%s\"", count ? ", " : "", gaps[j].alias);
            count++;
        }
        if (count > NAMED)
            error |= ch_buf_printf(&text, " and %zu more", count - NAMED);
        chain_note(note, sizeof note, gaps[i].missing);
        if (error == 0 && ch_buf_printf(&text, ": %s", note) == 0)
            json_array_append_new(notes, json_sprintf("%s %.*s", count > 1 ? "entries" : "entry", (int)text.len,
                                                      (const char *)text.data));
        ch_buf_dispose(&text);
    }
}

/* The note of a certificate imported that CSR found (made here, waiting for its certificate)
 * takes: without its key, it took the CSR's. */
static void csr_key_note(char *note, size_t size, const ch_svc_csr_found *found, bool done)
{
    if (found->key_taken)
        snprintf(note, size,
                 "its public key is that of CSR %s, made here and waiting for its certificate: the CSR's private key "
                 "%s its key, and the CSR %s it as its certificate",
                 found->id, done ? "is" : "would be", done ? "has" : "would have");
    else
        snprintf(note, size,
                 "its public key is that of CSR %s, made here and waiting for its certificate: the CSR %s it as its "
                 "certificate (its private key is the one given with it)",
                 found->id, done ? "has" : "would have");
}

/* The fields and note of an import's CSR found into its answer o (notes: its notes). */
static void csr_found_json(json_t *o, json_t *notes, const ch_svc_csr_found *found, bool done)
{
    char note[512];

    json_object_set_new(o, found->key_taken ? "key_from_csr" : "csr_id", json_string(found->id));
    csr_key_note(note, sizeof note, found, done);
    json_array_append_new(notes, json_string(note));
}

/* Where a certificate import takes a binary file besides "data". */
#define IMPORT_ELSEWHERE ", or as the request body (Content-Type: application/octet-stream) or a multipart form's file"

/* "preview": what the import would store, with its decoded details, and nothing stored. */
static void certificate_import_preview(req *r, const upload *u, const char *name, const char *file_name,
                                       const uint8_t *cert, size_t cert_len, const char *key, const char *password,
                                       const char *key_password, const char *cert_field, bool as_data)
{
    ch_svc_import_preview p;
    ch_buf text = CH_BUF_INIT;
    json_t *o, *notes;
    char note[1024];
    int error;

    error = ch_svc_cert_import_preview_ex(r->svc, &r->who.actor, name, file_name, cert, cert_len, (const uint8_t *)key,
                                          key ? strlen(key) : 0, password, key_password, &p);
    /* Held already: refused as the import refuses it, with the id of the one held. */
    if (error == CH_EEXISTS && p.existing[0])
        return reply_json(r, 409, json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "already_exists", "message",
                                            ch_error_last(), "existing_id", p.existing));
    if (error < 0) {
        raw_password_hint(u, error, password, key_password);
        file_field_error(error, cert_field, as_data, IMPORT_ELSEWHERE);
        return reply_error(r, error);
    }
    o = json_of_text(&text, cert_details_text(&text, &p.row, NULL));
    json_object_set_new(o, "id", json_null());
    json_object_set_new(o, "preview", json_true());
    json_object_set_new(o, "has_private_key", json_boolean(p.has_key));
    json_object_set_new(o, "chain_length", json_integer((json_int_t)p.chain_len));
    notes = json_array();
    if (p.key_for[0]) {
        snprintf(note, sizeof note, "this certificate is held already (%s) without its private key: the key "
                 "would be added to it", p.key_for);
        json_array_append_new(notes, json_string(note));
    }
    if (p.csr.id[0])
        csr_found_json(o, notes, &p.csr, false);
    if (p.missing != NULL) {
        chain_note(note, sizeof note, p.missing);
        json_array_append_new(notes, json_string(note));
    }
    if (json_array_size(notes) > 0)
        json_object_set_new(o, "notes", notes);
    else
        json_decref(notes);
    reply_json(r, 200, o);
    ch_svc_import_preview_dispose(&p);
}

/* POST /certificates/import: JSON {"name","certificate","private_key","password"}, a
 * multipart form (file, name, private_key, password) or the certificate as the raw body;
 * "preview" (?preview= with a raw body) reads it and stores nothing. */
static void certificate_import(req *r)
{
    upload u;
    const char *name = NULL, *cert = NULL, *data = NULL, *key = NULL, *password = NULL, *key_password = NULL,
               *from_file = NULL;
    const uint8_t *cert_bytes;
    size_t cert_len;
    ch_buf bytes = CH_BUF_INIT;
    char existing[CH_ID_MAX] = "", *missing = NULL, file_name[520];
    ch_svc_csr_found found = {0};
    ch_store_cert out;
    int preview = 0, error;

    if (read_upload(r, &u, F_IMPORT, "file") < 0)
        return;
    if (get_str(r, u.fields, "name", &name) || get_str(r, u.fields, "certificate", &cert) ||
        get_str(r, u.fields, "data", &data) || get_str(r, u.fields, "private_key", &key) ||
        get_str(r, u.fields, "password", &password) || get_str(r, u.fields, "key_password", &key_password) ||
        upload_flag(r, &u, "preview", &preview) || get_str(r, u.fields, "file_name", &from_file))
        goto done;
    if (pem_or_data(r, cert, data, "the certificate") < 0)
        goto done;
    if (upload_once(r, &u, cert != NULL || data != NULL, data ? "data" : "certificate", "certificate",
                    data ? "\"data\" (the file in base64)"
                    : cert ? "the \"certificate\" field (PEM)"
                           : "the \"certificate\" field (PEM) or \"data\" (the file in base64)") < 0)
        goto done;
    if (data != NULL && get_base64_file(r, "data", data, &bytes) < 0)
        goto done;
    cert_bytes = u.file ? u.file : data ? bytes.data : (const uint8_t *)cert;
    cert_len = u.file ? u.file_len : data ? bytes.len : strlen(cert);
    /* Without a name, a CSR's made here that the certificate was signed for; else the file's
     * (file_name, the form's file name), cut to a name's length (or none, and the default). */
    ch_name_from_file(file_name, sizeof file_name, from_file ? from_file : u.filename, 128);
    if (preview) {
        certificate_import_preview(r, &u, name, file_name, cert_bytes, cert_len, key, password, key_password, cert,
                                   data != NULL);
        goto done;
    }
    error = ch_svc_cert_import_ex(r->svc, &r->who.actor, name, file_name, cert_bytes, cert_len, (const uint8_t *)key,
                                  key ? strlen(key) : 0, password, key_password, &out, existing, &found);
    if (error < 0) {
        if (error == CH_EEXISTS) {
            json_t *e = json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "already_exists", "message",
                                  ch_error_last(), "existing_id", existing);
            reply_json(r, 409, e);
        } else {
            raw_password_hint(&u, error, password, key_password);
            file_field_error(error, cert, data != NULL, IMPORT_ELSEWHERE);
            reply_error(r, error);
        }
        goto done;
    }
    /* 1: the key (given, or a CSR's) was added to the certificate already held.  A chain that
     * stops short of a root is said (the file is to hold the whole chain): the import stands,
     * as the missing CA's certificate may be imported after it.  So is a CSR made here that
     * took the certificate (and gave its key when the import gave none): which, as a field and
     * a note. */
    if ((ch_svc_cert_chain_gap(r->svc, &r->who.actor, out.id, &missing) == 0 && missing != NULL) || found.id[0]) {
        json_t *o = cert_json(&out, true), *notes = json_array();
        char note[1024];
        if (found.id[0])
            csr_found_json(o, notes, &found, true);
        if (missing != NULL) {
            chain_note(note, sizeof note, missing);
            json_array_append_new(notes, json_string(note));
        }
        json_object_set_new(o, "notes", notes);
        reply_json(r, error == 1 ? 200 : 201, o);
    } else
        reply_cert(r, error == 1 ? 200 : 201, &out);
    ch_error_clear();
    free(missing);
    ch_store_cert_dispose(&out);
done:
    ch_buf_dispose_secure(&bytes);
    upload_dispose(&u);
}

/* The fields of an export (body NULL: a GET, the format from its query), each checked
 * against the format it goes with, so that none is ignored: a password or include_key with
 * der or p7b (certificates only, never encrypted), a password with pem without its key,
 * legacy (PKCS#12's older ciphers) with anything but p12; alias and key_password the service
 * checks (ch_svc_export_opts).  -1 once a 400 is sent. */
static int export_fields(req *r, json_t *body, const char *format, ch_svc_export_opts *o)
{
    ch_format f;
    int key = 0, old = 0, trust = 0;

    memset(o, 0, sizeof *o);
    if (body != NULL && (get_str(r, body, "format", &format) || get_str(r, body, "password", &o->password) ||
                         get_bool(r, body, "include_key", &key) || get_bool(r, body, "legacy", &old) ||
                         get_bool(r, body, "truststore", &trust) ||
                         get_str(r, body, "key_password", &o->key_password) || get_str(r, body, "alias", &o->alias)))
        return -1;
    o->include_key = key;
    o->legacy = old;
    o->truststore = trust;
    if (ch_format_parse(&f, format ? format : "pem") < 0 || f == CH_FMT_JCEKS) {
        char msg[200];

        /* The value given and every name taken: a client's "pfx2" is seen beside "pfx". */
        if (f == CH_FMT_JCEKS)
            snprintf(msg, sizeof msg, "jceks is read, not written; format takes " CH_FORMAT_NAMES_WRITTEN);
        else
            snprintf(msg, sizeof msg, "unknown format \"%.32s\"; format takes " CH_FORMAT_NAMES_WRITTEN, format);
        reply_error_msg(r, CH_EINVAL, "format", msg);
        return -1;
    }
    o->fmt = f;
    if (key && (f == CH_FMT_DER || f == CH_FMT_PKCS7)) {
        reply_error_msg(r, CH_EINVAL, "include_key", "der and p7b hold certificates only: a key goes out in pem "
                        "(include_key), p12 or jks");
        return -1;
    }
    if (o->password != NULL && (f == CH_FMT_DER || f == CH_FMT_PKCS7 || (f == CH_FMT_PEM && !key))) {
        reply_error_msg(r, CH_EINVAL, "password", "certificates alone go out unencrypted: a password goes with "
                        "p12, jks, or pem with include_key (it encrypts the key)");
        return -1;
    }
    /* A truststore (Java's, a .NET one): the certificates alone as trusted entries, what
     * `keytool -importcert` makes; no key, and so no key permission. */
    if (trust && ((f != CH_FMT_PKCS12 && f != CH_FMT_JKS) || key)) {
        reply_error_msg(r, CH_EINVAL, "truststore", "truststore goes with p12 or jks, without include_key: the "
                        "certificates alone, as trusted entries");
        return -1;
    }
    if (old && f != CH_FMT_PKCS12) {
        reply_error_msg(r, CH_EINVAL, "legacy", "legacy (PKCS#12's older ciphers, for old Java and Windows) goes "
                        "with p12");
        return -1;
    }
    return 0;
}

/* The media type of an exported file (a certificate's, a keystore's, a bundle's). */
static const char *format_type(ch_format fmt)
{
    static const char *const types[] = {[CH_FMT_PEM] = "application/x-pem-file", [CH_FMT_DER] = "application/pkix-cert",
                                        [CH_FMT_PKCS7] = "application/pkcs7-mime", [CH_FMT_PKCS12] = "application/x-pkcs12",
                                        [CH_FMT_JKS] = "application/x-java-keystore",
                                        [CH_FMT_JCEKS] = "application/x-java-jce-keystore"};

    return (size_t)fmt < sizeof types / sizeof types[0] && types[fmt] ? types[fmt] : "application/octet-stream";
}

/* GET .../export?format=pem|der|p7b (certificates only), POST .../export {"format","password",
 * "include_key","legacy","truststore","key_password","alias"} for p12/jks or PEM with the key. */
static void certificate_export(req *r, const char *id, bool post)
{
    json_t *body = NULL;
    ch_svc_export_opts o;
    ch_buf out = CH_BUF_INIT;
    char disp[2048], *name = NULL;
    int error;

    if (post && (body = read_json(r, F_EXPORT)) == NULL)
        goto done;
    if (export_fields(r, body, query(r, "format"), &o) < 0)
        goto done;
    if (!post && (o.fmt == CH_FMT_PKCS12 || o.fmt == CH_FMT_JKS)) {
        reply_error_msg(r, CH_EINVAL, "format", "p12 and jks need a password: POST {\"format\",\"password\"}");
        goto done;
    }
    if ((error = ch_svc_cert_export(r->svc, &r->who.actor, id, &o, &out, &name)) < 0) {
        reply_error(r, error);
        goto done;
    }
    /* The file is offered under the certificate's name, as the export read it. */
    export_disposition(disp, sizeof disp, name, ch_format_name((ch_format)o.fmt), "certificate");
    reply_file(r, format_type((ch_format)o.fmt), out.data, out.len, disp);
done:
    free(name);
    ch_buf_dispose_secure(&out);
    json_decref(body);
}

/* A time of the query: RFC 3339; 400 naming the parameter otherwise. */
static int query_time(req *r, const char *name, int64_t *out)
{
    const char *v = query(r, name);

    *out = 0;
    if (v != NULL && ch_time_parse(out, v) < 0) {
        reply_error_msg(r, CH_EINVAL, name, ch_error_last());
        return -1;
    }
    return 0;
}

/* GET /audit: oldest first, or newest first with order=desc; limit (1 to 1000, 100), cursor
 * (the previous page's next_cursor), filters action (exact, or a prefix ending in '*'),
 * actor, object_type, object_id, since and until (RFC 3339).  after=SEQ is the older way to
 * page, oldest first. */
static void audit_list(req *r)
{
    const char *after = query(r, "after"), *cursor, *order = query(r, "order");
    ch_store_audit_filter f = {.action = query(r, "action"), .actor = query(r, "actor"),
                               .object_type = query(r, "object_type"), .object_id = query(r, "object_id")};
    ch_store_page page; /* the limit and the cursor; the audit log's cursor is its own */
    ch_store_audit *rows = NULL;
    size_t n = 0;
    int64_t next = 0;
    char *end = NULL;
    json_t *items;
    int error;

    if (order != NULL && strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0)
        return reply_error_msg(r, CH_EINVAL, "order", "order must be asc (oldest first) or desc (newest first)");
    f.newest_first = order != NULL && strcmp(order, "desc") == 0;
    if (page_of(r, &page) < 0)
        return;
    cursor = page.cursor;
    if (after != NULL && cursor != NULL)
        return reply_error_msg(r, CH_EINVAL, "cursor", "give cursor or after, not both");
    if (cursor != NULL && (cursor[0] != 's' || (f.from_seq = strtoll(cursor + 1, &end, 10)) <= 0 || *end != '\0'))
        return reply_error_msg(r, CH_EINVAL, "cursor", "invalid cursor: pass the next_cursor of the previous page");
    if (after != NULL && ((f.from_seq = strtoll(after, &end, 10)) < 0 || *end != '\0' || end == after))
        return reply_error_msg(r, CH_EINVAL, "after", "after must be a sequence number");
    if (after != NULL && f.newest_first)
        return reply_error_msg(r, CH_EINVAL, "after", "after pages oldest first; use cursor with order=desc");
    if (query_time(r, "since", &f.since) < 0 || query_time(r, "until", &f.until) < 0)
        return;
    if ((error = ch_svc_audit_list(r->svc, &r->who.actor, &f, page.limit, &rows, &n, &next)) < 0)
        return reply_error(r, error);
    items = json_array();
    for (size_t i = 0; i < n; i++) {
        char at[32];
        ch_time_format(at, sizeof at, rows[i].at);
        json_t *o = json_pack("{sI ss ss ss}", "seq", (json_int_t)rows[i].seq, "at", at, "actor", rows[i].actor,
                              "action", rows[i].action);
        json_object_set_new(o, "object_type", rows[i].object_type ? json_string(rows[i].object_type) : json_null());
        json_object_set_new(o, "object_id", rows[i].object_id ? json_string(rows[i].object_id) : json_null());
        json_object_set_new(o, "detail", rows[i].detail ? json_loads(rows[i].detail, 0, NULL) : json_null());
        json_object_set_new(o, "hash", json_string(rows[i].hash));
        json_array_append_new(items, o);
    }
    ch_store_audit_list_free(rows, n);
    if (next > 0) {
        char c[32];
        snprintf(c, sizeof c, "s%lld", (long long)next);
        page.next_cursor = strdup(c);
    }
    reply_page(r, items, &page);
}

static void csrs_create(req *r)
{
    json_t *body = read_json(r, F_CSR);
    ch_svc_csr_req q = {.path_len = -1};
    const char *san_list[CH_MAX_SANS + 1] = {0};
    ch_store_csr out;
    ch_buf pem = CH_BUF_INIT;
    unsigned unused = 0;
    int ca = 0, error;

    if (body == NULL || get_str(r, body, "name", &q.name) || get_str(r, body, "key_type", &q.key_type) ||
        get_str(r, body, "digest", &q.digest) || get_subject(r, body, &q.subject) ||
        get_strings(r, body, "sans", san_list, CH_MAX_SANS, &q.san_count, "\"dns:a.example\"") ||
        get_usages(r, body, "key_usage", false, &q.key_usage, 0, &unused) ||
        get_usages(r, body, "ext_key_usage", true, &q.ext_key_usage, 0, &unused) || get_bool(r, body, "ca", &ca) ||
        get_int(r, body, "path_len", 0, 64, &q.path_len))
        goto done;
    if (!ca && q.path_len >= 0) {
        reply_error_msg(r, CH_EINVAL, "path_len", "path_len goes with \"ca\": true (a CSR for a CA)");
        goto done;
    }
    q.ca = ca;
    if (json_object_get(body, "sans") != NULL)
        q.sans = san_list;
    if ((error = ch_svc_csr_create(r->svc, &r->who.actor, &q, &out)) < 0) {
        reply_error(r, error);
        goto done;
    }
    if (ch_svc_csr_pem(&pem, &out) == 0)
        reply_json(r, 201, json_pack("{ss ss ss ss}", "id", out.id, "name", out.name, "subject", out.subject, "pem",
                                     (const char *)pem.data));
    else
        reply_error(r, CH_EINTERNAL);
    ch_buf_dispose(&pem);
    ch_store_csr_dispose(&out);
done:
    json_decref(body);
}

static json_t *csr_json(const ch_store_csr *c)
{
    json_t *o = json_pack("{ss ss ss}", "id", c->id, "name", c->name, "subject", c->subject);
    ch_buf pem = CH_BUF_INIT;
    char at[32];

    ch_time_format(at, sizeof at, c->created_at);
    json_object_set_new(o, "certificate_id", c->cert_id ? json_string(c->cert_id) : json_null());
    json_object_set_new(o, "has_private_key", json_boolean(c->key_id != NULL));
    json_object_set_new(o, "created_at", json_string(at));
    if (ch_svc_csr_pem(&pem, c) == 0)
        json_object_set_new(o, "pem", json_string((const char *)pem.data));
    ch_buf_dispose(&pem);
    return o;
}

static void csrs_list(req *r, const char *unused)
{
    ch_store_csr *rows = NULL;
    size_t n = 0;
    json_t *items;
    ch_store_page page;
    int error;

    (void)unused;
    if (page_of(r, &page) < 0)
        return;
    if ((error = ch_svc_csr_list(r->svc, &r->who.actor, &page, &rows, &n)) < 0)
        return reply_error(r, error);
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, csr_json(&rows[i]));
    ch_store_csr_list_free(rows, n);
    reply_page(r, items, &page);
}

static void csr_get(req *r, const char *id)
{
    ch_store_csr c;
    int error = ch_svc_csr_get(r->svc, &r->who.actor, id, &c);

    if (error < 0)
        return reply_error(r, error);
    reply_json(r, 200, csr_json(&c));
    ch_store_csr_dispose(&c);
}

/* POST /csrs/{id}/certificate {"certificate" (PEM) | "data" (the file in base64: DER, PEM, a
 * PKCS#7 as outside CAs hand them back)}. */
static void csr_attach(req *r, const char *id)
{
    json_t *body = read_json(r, F_ATTACH);
    const char *cert = NULL, *data = NULL;
    ch_buf bytes = CH_BUF_INIT;
    ch_store_cert out;
    int error;

    if (body == NULL || get_str(r, body, "certificate", &cert) || get_str(r, body, "data", &data))
        goto done;
    if (cert == NULL && data == NULL) {
        reply_error_msg(r, CH_EINVAL, "certificate", "the signed certificate is required: \"certificate\" (PEM), "
                        "or \"data\" (the file in base64: DER, PEM or PKCS#7)");
        goto done;
    }
    if (pem_or_data(r, cert, data, "the certificate") < 0)
        goto done;
    if (data != NULL && get_base64_file(r, "data", data, &bytes) < 0)
        goto done;
    if ((error = ch_svc_csr_attach(r->svc, &r->who.actor, id, data ? bytes.data : (const uint8_t *)cert,
                                   data ? bytes.len : strlen(cert), &out)) < 0) {
        file_field_error(error, cert, data != NULL, "");
        reply_error(r, error);
        goto done;
    }
    reply_cert(r, 201, &out);
    ch_store_cert_dispose(&out);
done:
    ch_buf_dispose(&bytes);
    json_decref(body);
}

/* POST /keystores {"name","format","certificate_id","alias"}: a keystore made here of a
 * certificate of the inventory (the destination seed's "Generate" of a keystore type).  What
 * belongs to an upload is refused with it: it would go unread. */
static void keystores_create(req *r, const upload *u, const char *name)
{
    const char *format = NULL, *cert_id = NULL, *alias = NULL;
    static const char *const upload_only[] = {"data", "certificate", "password", "key_password"};
    ch_store_keystore out;
    char msg[200];
    int error;

    for (size_t i = 0; i < sizeof upload_only / sizeof upload_only[0]; i++)
        if (json_object_get(u->fields, upload_only[i]) != NULL || (i == 0 && u->file != NULL)) {
            snprintf(msg, sizeof msg, "%s belongs to an upload of a keystore file; certificate_id makes one of a "
                     "certificate held here: give one or the other", i == 0 && u->file ? "a file" : upload_only[i]);
            reply_error_msg(r, CH_EINVAL, i == 0 && u->file ? "file" : upload_only[i], msg);
            return;
        }
    if (get_str(r, u->fields, "format", &format) || get_str(r, u->fields, "certificate_id", &cert_id) ||
        get_str(r, u->fields, "alias", &alias))
        return;
    if ((error = ch_svc_keystore_create(r->svc, &r->who.actor, name, format, cert_id, alias, &out)) < 0)
        return reply_error(r, error);
    reply_json(r, 201, json_pack("{ss ss ss}", "id", out.id, "name", out.name, "format", out.format));
    ch_store_keystore_dispose(&out);
}

/* POST /keystores: JSON {"name","data" (base64),"password","key_password"}, a multipart
 * form (file, name, password, key_password) or the keystore as the raw body; with
 * certificate_id instead, one made here (keystores_create). */
static void keystores_upload(req *r)
{
    upload u;
    const char *name = NULL, *data = NULL, *pem = NULL, *password = NULL, *key_password = NULL;
    ch_buf bytes = CH_BUF_INIT;
    int error;
    char file_name[520];
    ch_store_keystore out;
    ch_svc_ks_csr_key *from_csr = NULL;
    ch_svc_ks_gap *gaps = NULL;
    size_t nfrom_csr = 0, ngaps = 0;

    if (read_upload(r, &u, F_KEYSTORE, "file") < 0)
        return;
    if (get_str(r, u.fields, "name", &name))
        goto done;
    if (json_object_get(u.fields, "certificate_id") != NULL) {
        keystores_create(r, &u, name);
        goto done;
    }
    /* (an upload's format is the file's, and its entries keep the aliases they came with) */
    if (json_object_get(u.fields, "format") != NULL || json_object_get(u.fields, "alias") != NULL) {
        reply_error_msg(r, CH_EINVAL, json_object_get(u.fields, "format") ? "format" : "alias",
                        "format and alias go with certificate_id (a keystore made of a certificate held here); "
                        "an upload's format is the file's, and its entries keep their aliases");
        goto done;
    }
    if (get_str(r, u.fields, "data", &data) || get_str(r, u.fields, "certificate", &pem) ||
        get_str(r, u.fields, "password", &password) || get_str(r, u.fields, "key_password", &key_password))
        goto done;
    /* PEM text in "certificate" (a bundle pasted, certificates and keys), as a certificate
     * import and a CA take it; a binary file in "data". */
    if (pem_or_data(r, pem, data, "the keystore") < 0)
        goto done;
    if (upload_once(r, &u, data != NULL || pem != NULL, pem ? "certificate" : "data", "keystore",
                    "\"data\" (base64) or \"certificate\" (PEM)") < 0)
        goto done;
    if (data != NULL && get_base64_file(r, "data", data, &bytes) < 0)
        goto done;
    if (pem != NULL && ch_buf_put(&bytes, pem, strlen(pem)) < 0) {
        reply_error(r, CH_ENOMEM);
        goto done;
    }
    if (pem != NULL)
        data = pem; /* (read from bytes as data is; its errors named below) */
    ch_name_from_file(file_name, sizeof file_name, u.filename, 128);
    if (name == NULL && file_name[0])
        name = file_name;
    if ((error = ch_svc_keystore_import(r->svc, &r->who.actor, name, data ? bytes.data : u.file,
                                        data ? bytes.len : u.file_len, password, key_password, &out, &from_csr,
                                        &nfrom_csr, &gaps, &ngaps)) < 0) {
        /* The service speaks of the file; given as "data" or "certificate", the field is that. */
        if (data != NULL && ch_error_field() != NULL && strcmp(ch_error_field(), "file") == 0)
            ch_error_set_field(error, pem ? "certificate" : "data", "%s", ch_error_last());
        reply_error(r, error);
        goto done;
    }
    {
        json_t *ans = json_pack("{ss ss ss}", "id", out.id, "name", out.name, "format", out.format);
        json_t *notes = json_array();
        /* What the file held and was not taken (a JCEKS secret key): said, not dropped unseen. */
        if (notes != NULL && out.notes != NULL) {
            const char *cur = out.notes, *line;
            size_t n;
            while ((line = ch_text_line(&cur, &n)) != NULL)
                json_array_append_new(notes, json_stringn(line, n));
        }
        /* And the key entries whose chain stops short of a root, as a certificate import says
         * it (the file is to hold the whole chain). */
        if (notes != NULL)
            ks_gap_notes(notes, gaps, ngaps);
        if (ans != NULL && json_array_size(notes) > 0)
            json_object_set(ans, "notes", notes);
        json_decref(notes);
        /* The entries without a key that took a CSR's (made here, waiting for its certificate):
         * each said, as a certificate import says it. */
        if (ans != NULL && nfrom_csr > 0) {
            json_t *took = json_array();
            for (size_t i = 0; i < nfrom_csr; i++)
                json_array_append_new(took, json_pack("{ss ss ss}", "alias", from_csr[i].alias, "certificate_id",
                                                      from_csr[i].cert_id, "key_from_csr", from_csr[i].csr_id));
            json_object_set_new(ans, "keys_from_csr", took);
        }
        reply_json(r, 201, ans);
    }
    ch_svc_ks_csr_keys_free(from_csr, nfrom_csr);
    ch_svc_ks_gaps_free(gaps, ngaps);
    ch_store_keystore_dispose(&out);
done:
    ch_buf_dispose_secure(&bytes);
    upload_dispose(&u);
}

static json_t *keystore_json(const ch_store_keystore *k)
{
    char at[32];

    ch_time_format(at, sizeof at, k->created_at);
    return json_pack("{ss ss ss ss}", "id", k->id, "name", k->name, "format", k->format, "created_at", at);
}

static void keystores_list(req *r, const char *unused)
{
    ch_store_keystore *rows = NULL;
    size_t n = 0;
    json_t *items;
    ch_store_page page;
    int error;

    (void)unused;
    if (page_of(r, &page) < 0)
        return;
    if ((error = ch_svc_keystore_list(r->svc, &r->who.actor, &page, &rows, &n)) < 0)
        return reply_error(r, error);
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, keystore_json(&rows[i]));
    ch_store_keystore_list_free(rows, n);
    reply_page(r, items, &page);
}

/* An entry's certificate summary into its object o (read by the id the object holds). */
static void keystore_entry_fill(req *r, json_t *o)
{
    ch_store_cert c;

    if (ch_svc_cert_get(r->svc, &r->who.actor, json_string_value(json_object_get(o, "certificate_id")), &c) == 0) {
        json_object_set_new(o, "certificate", cert_json(&c, false));
        ch_store_cert_dispose(&c);
    }
}

/* An entry's own fields, as the entries list and the entry's details show them. */
static json_t *entry_json(const ch_store_keystore_entry *e)
{
    return json_pack("{ss si ss ss sb}", "alias", e->alias, "position", e->position, "certificate_id", e->cert_id,
                     "origin", e->origin, "has_private_key", e->key_id != NULL);
}

/* The entries of keystore id into *items, in their order; with_certs adds each one's
 * certificate summary (a read per entry: a page fills in its own alone). */
static int keystore_entries_json(req *r, const char *id, bool with_certs, json_t **items)
{
    ch_store_keystore_entry *rows = NULL;
    size_t n = 0;
    int error = ch_svc_keystore_entries(r->svc, &r->who.actor, id, &rows, &n);

    *items = NULL;
    if (error < 0)
        return error;
    *items = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = entry_json(&rows[i]);
        if (with_certs)
            keystore_entry_fill(r, o);
        json_array_append_new(*items, o);
    }
    ch_store_keystore_entry_list_free(rows, n);
    return 0;
}

/* A keystore's entries in their order, a page at a time.  The cursor is the stored position of
 * the page's last entry ("p" and the number), which renaming or deleting an entry leaves as it
 * was: by its alias, an entry renamed or deleted between two pages was not found and ended the
 * walk there.  The next page starts at the first position after it; an entry added goes past
 * every position the keystore handed out, so the walk reaches it even when the cursor's entry
 * and all after it were deleted. */
static void keystore_entries(req *r, const char *id)
{
    ch_store_page page;
    json_t *items, *out;
    size_t n, start = 0;
    long long after = -1;
    int error = keystore_entries_json(r, id, false, &items);

    if (error < 0)
        return reply_error(r, error);
    if (page_of(r, &page) < 0)
        goto done;
    if (page.cursor != NULL && *page.cursor != '\0') {
        const char *c = page.cursor + 1;
        size_t digits = strspn(c, "0123456789");
        /* Any position the store hands out (an int: a keystore's count runs past its entries). */
        if (page.cursor[0] != 'p' || digits == 0 || digits > 10 || c[digits] != '\0' ||
            (after = strtoll(c, NULL, 10)) > INT_MAX) {
            reply_error_msg(r, CH_EINVAL, "cursor", "invalid cursor: pass the next_cursor of the previous page");
            goto done;
        }
    }
    n = json_array_size(items);
    while (start < n && json_integer_value(json_object_get(json_array_get(items, start), "position")) <= after)
        start++;
    out = json_array();
    for (size_t i = start; i < n && i < start + page.limit; i++) {
        keystore_entry_fill(r, json_array_get(items, i));
        json_array_append(out, json_array_get(items, i));
    }
    if (start + page.limit < n && (page.next_cursor = malloc(24)) != NULL)
        snprintf(page.next_cursor, 24, "p%lld",
                 (long long)json_integer_value(json_object_get(json_array_get(items, start + page.limit - 1),
                                                               "position")));
    reply_page(r, out, &page);
done:
    json_decref(items);
}

/* A certificate with everything `certhub inspect` shows of it, as GET /certificates/{id}. */
static json_t *cert_details_json(const ch_store_cert *c)
{
    ch_buf text = CH_BUF_INIT;
    bool written = cert_details_text(&text, c, NULL);

    return json_of_text(&text, written);
}

/* GET /keystores/{id}/entries/{alias}: one entry whole (the keystore seed's entry details):
 * its certificate with everything `certhub inspect` shows, and the certificates of its chain
 * after it, in order. */
static void keystore_entry(req *r, const char *id)
{
    ch_store_keystore_entry *rows = NULL;
    size_t n = 0, i;
    char msg[200];
    json_t *o, *chain;
    ch_store_cert c;
    int error = ch_svc_keystore_entries(r->svc, &r->who.actor, id, &rows, &n);

    if (error < 0)
        return reply_error(r, error);
    /* As PATCH and DELETE find it: spelt so, else in another case (as Java does). */
    for (i = 0; i < n && strcmp(rows[i].alias, r->sub) != 0; i++)
        ;
    for (size_t k = 0; i == n && k < n; k++)
        if (ch_alias_same(rows[k].alias, r->sub))
            i = k;
    if (i == n) {
        ch_store_keystore_entry_list_free(rows, n);
        snprintf(msg, sizeof msg, "the keystore has no entry with the alias \"%.100s\"", r->sub);
        return reply_error_msg(r, CH_ENOTFOUND, "alias", msg);
    }
    o = entry_json(&rows[i]);
    if ((error = ch_svc_cert_get(r->svc, &r->who.actor, rows[i].cert_id, &c)) == 0) {
        json_object_set_new(o, "certificate", cert_details_json(&c));
        ch_store_cert_dispose(&c);
    }
    chain = json_array();
    for (char *p = rows[i].chain, *end; error == 0 && p && *p; p = *end ? end + 1 : end) {
        char cid[CH_ID_MAX];
        end = p + strcspn(p, ",");
        snprintf(cid, sizeof cid, "%.*s", (int)(end - p), p);
        if ((error = ch_svc_cert_get(r->svc, &r->who.actor, cid, &c)) == 0) {
            json_array_append_new(chain, cert_json(&c, true));
            ch_store_cert_dispose(&c);
        }
    }
    json_object_set_new(o, "chain", chain);
    ch_store_keystore_entry_list_free(rows, n);
    if (error < 0) {
        json_decref(o);
        return reply_error(r, error);
    }
    reply_json(r, 200, o);
}

/* GET /keystores/{id}: the keystore and its entries. */
static void keystore_get(req *r, const char *id)
{
    ch_store_keystore k;
    json_t *o, *items;
    int error = ch_svc_keystore_get(r->svc, &r->who.actor, id, &k);

    if (error == 0 && (error = keystore_entries_json(r, id, true, &items)) < 0)
        ch_store_keystore_dispose(&k);
    if (error < 0)
        return reply_error(r, error);
    o = keystore_json(&k);
    json_object_set_new(o, "entries", items);
    ch_store_keystore_dispose(&k);
    reply_json(r, 200, o);
}

/* PATCH /keystores/{id} {"name"}: the keystore as GET shows it, entries and all. */
static void keystore_rename(req *r, const char *id)
{
    static const char *const F[] = {"name", NULL};
    json_t *body = read_json(r, F);
    const char *name = NULL;
    ch_store_keystore k;
    int error;

    if (body == NULL || get_str(r, body, "name", &name))
        goto done;
    if (name == NULL) {
        reply_error_msg(r, CH_EINVAL, "name", "name is required: the keystore's new name");
        goto done;
    }
    if ((error = ch_svc_keystore_rename(r->svc, &r->who.actor, id, name, &k)) < 0) {
        reply_error(r, error);
        goto done;
    }
    ch_store_keystore_dispose(&k);
    keystore_get(r, id);
done:
    json_decref(body);
}

static void keystore_export(req *r, const char *id)
{
    json_t *body = read_json(r, F_EXPORT);
    ch_svc_export_opts o;
    ch_buf out = CH_BUF_INIT;
    char disp[2048], *name = NULL;
    int error;

    if (body == NULL || export_fields(r, body, NULL, &o) < 0)
        goto done;
    if ((error = ch_svc_keystore_export(r->svc, &r->who.actor, id, &o, &out, &name)) < 0) {
        reply_error(r, error);
        goto done;
    }
    /* Offered under the keystore's name, as a certificate's export is under its own. */
    export_disposition(disp, sizeof disp, name, ch_format_name((ch_format)o.fmt), "keystore");
    reply_file(r, format_type((ch_format)o.fmt), out.data, out.len, disp);
done:
    free(name);
    ch_buf_dispose_secure(&out);
    json_decref(body);
}

/* An entry a change answers with (e disposed): its fields and its certificate's summary. */
static void reply_entry(req *r, int status, ch_store_keystore_entry *e)
{
    json_t *o = entry_json(e);

    keystore_entry_fill(r, o);
    ch_store_keystore_entry_dispose(e);
    reply_json(r, status, o);
}

/* POST /keystores/{id}/entries {"certificate_id","alias"}: a certificate of the inventory as
 * a new last entry (keytool -importcert into a stored keystore). */
static void keystore_entry_add(req *r, const char *id)
{
    json_t *body = read_json(r, F_ENTRY_ADD);
    const char *cert_id = NULL, *alias = NULL;
    ch_store_keystore_entry e;
    int error;

    if (body == NULL || get_str(r, body, "certificate_id", &cert_id) || get_str(r, body, "alias", &alias))
        goto done;
    if ((error = ch_svc_keystore_entry_add(r->svc, &r->who.actor, id, cert_id, alias, &e)) < 0) {
        reply_error(r, error);
        goto done;
    }
    reply_entry(r, 201, &e);
done:
    json_decref(body);
}

/* PATCH /keystores/{id}/entries/{alias} {"alias"}: the entry renamed (keytool -changealias). */
static void keystore_entry_rename(req *r, const char *id)
{
    json_t *body = read_json(r, F_ENTRY_RENAME);
    const char *alias = NULL;
    ch_store_keystore_entry e;
    int error;

    if (body == NULL || get_str(r, body, "alias", &alias))
        goto done;
    if ((error = ch_svc_keystore_entry_rename(r->svc, &r->who.actor, id, r->sub, alias, &e)) < 0) {
        reply_error(r, error);
        goto done;
    }
    reply_entry(r, 200, &e);
done:
    json_decref(body);
}

/* DELETE /keystores/{id}/entries/{alias}: the entry alone; its certificate stays in the
 * inventory (keytool -delete). */
static void keystore_entry_delete(req *r, const char *id)
{
    ch_store_keystore_entry e;
    int error = ch_svc_keystore_entry_delete(r->svc, &r->who.actor, id, r->sub, &e);

    if (error < 0)
        return reply_error(r, error);
    /* The alias deleted, found in any case as Java finds it: not the one asked. */
    reply_json(r, 200, json_pack("{ss ss sb}", "id", id, "alias", e.alias ? e.alias : r->sub, "deleted", 1));
    ch_store_keystore_entry_dispose(&e);
}

static void csr_delete(req *r, const char *id)
{
    int error = ch_svc_csr_delete(r->svc, &r->who.actor, id);

    if (error < 0)
        return reply_error(r, error);
    reply_json(r, 200, json_pack("{ss sb}", "id", id, "deleted", 1));
}

static void keystore_delete(req *r, const char *id)
{
    int error = ch_svc_keystore_delete(r->svc, &r->who.actor, id);

    if (error < 0)
        return reply_error(r, error);
    reply_json(r, 200, json_pack("{ss sb}", "id", id, "deleted", 1));
}

/* ------------------------------------------------------------- metrics */

size_t api_route_count(void);
const char *api_route_label(size_t i);
static const char *method_name(enum evhttp_cmd_type m);
static bool tenant_readable(enum evhttp_cmd_type m, const char *pattern);

#define NROUTES_MAX 96 /* the route table and "other" (held to it below the table) */
#define NCLASSES 5     /* 1xx..5xx */
/* The upper bounds of the latency histogram's buckets, in microseconds: from a point read
 * (tens of microseconds) to an RSA key or a search of a million rows (seconds). */
static const unsigned long bucket_us[] = {500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
                                          1000000, 2500000, 5000000, 10000000};
#define NBUCKETS (sizeof bucket_us / sizeof bucket_us[0])
static _Atomic unsigned long m_requests[NROUTES_MAX][NCLASSES];
static _Atomic unsigned long m_micros[NROUTES_MAX][NCLASSES];            /* total handling time */
static _Atomic unsigned long m_buckets[NROUTES_MAX][NCLASSES][NBUCKETS]; /* not cumulative; past the last: the rest */

/* The series of the whole process: requests by route, connections, workers, jobs, device
 * decisions of every tenant.  Nonzero when an append failed. */
static int process_metrics(ch_buf *b, ch_svc *svc)
{
    int e = 0;

    e |= ch_buf_puts(b, "# HELP certhub_http_requests_total Requests answered, by route and status class.\n"
                        "# TYPE certhub_http_requests_total counter\n");
    for (size_t i = 0; i < api_route_count(); i++)
        for (int c = 0; c < NCLASSES; c++)
            if (m_requests[i][c])
                e |= ch_buf_printf(b, "certhub_http_requests_total{route=\"%s\",status=\"%dxx\"} %lu\n",
                                    api_route_label(i), c + 1, (unsigned long)m_requests[i][c]);
    e |= ch_buf_puts(b, "# HELP certhub_http_request_seconds_total Time spent answering, by route.\n"
                        "# TYPE certhub_http_request_seconds_total counter\n");
    for (size_t i = 0; i < api_route_count(); i++) {
        unsigned long us = 0;
        for (int c = 0; c < NCLASSES; c++)
            us += m_micros[i][c];
        if (us)
            e |= ch_buf_printf(b, "certhub_http_request_seconds_total{route=\"%s\"} %.6f\n", api_route_label(i),
                                (double)us / 1e6);
    }
    /* The same requests as a histogram, for quantiles (histogram_quantile) by route and status. */
    e |= ch_buf_puts(b, "# HELP certhub_http_request_duration_seconds Time to answer a request, by route and status "
                        "class.\n# TYPE certhub_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < api_route_count(); i++)
        for (int c = 0; c < NCLASSES; c++) {
            unsigned long n = m_requests[i][c], upto = 0;
            if (n == 0)
                continue;
            for (size_t k = 0; k < NBUCKETS; k++) {
                /* Counted into its bucket before the total: one being counted now must not
                 * make a bucket hold more than +Inf does. */
                upto += m_buckets[i][c][k];
                if (upto > n)
                    upto = n;
                e |= ch_buf_printf(b, "certhub_http_request_duration_seconds_bucket{route=\"%s\",status=\"%dxx\","
                                      "le=\"%g\"} %lu\n", api_route_label(i), c + 1, (double)bucket_us[k] / 1e6, upto);
            }
            e |= ch_buf_printf(b, "certhub_http_request_duration_seconds_bucket{route=\"%s\",status=\"%dxx\","
                                  "le=\"+Inf\"} %lu\ncerthub_http_request_duration_seconds_sum{route=\"%s\","
                                  "status=\"%dxx\"} %.6f\ncerthub_http_request_duration_seconds_count{route=\"%s\","
                                  "status=\"%dxx\"} %lu\n", api_route_label(i), c + 1, n, api_route_label(i), c + 1,
                                (double)m_micros[i][c] / 1e6, api_route_label(i), c + 1, n);
        }
    /* The server's connections by event loop: new ones go to the loops serving the fewest. */
    {
        int conns[16], nloops = http_loop_connections(conns, 16);
        if (nloops > 0)
            e |= ch_buf_puts(b, "# HELP certhub_http_connections Open connections, by event loop.\n"
                                "# TYPE certhub_http_connections gauge\n");
        for (int k = 0; k < nloops; k++)
            e |= ch_buf_printf(b, "certhub_http_connections{loop=\"%d\"} %d\n", k, conns[k]);
    }
    /* Requests with the workers (queued, being answered, or their answers not yet sent), this
     * one left out: near --workers for long, and slow requests wait for one another. */
    if (http_worker_requests() >= 0)
        e |= ch_buf_printf(b, "# HELP certhub_http_worker_requests Requests handed to the workers and not yet "
                              "answered.\n# TYPE certhub_http_worker_requests gauge\ncerthub_http_worker_requests %d\n",
                           http_worker_requests() - (on_worker() ? 1 : 0));
    /* Every request handed to them, this one too: between two readings, how many went to the
     * workers (an RSA key, a P-384 CA's signature, a search) rather than the loops. */
    if (http_worker_requests_total() >= 0)
        e |= ch_buf_printf(b, "# HELP certhub_http_worker_requests_total Requests handed to the workers, these "
                              "metrics among them.\n# TYPE certhub_http_worker_requests_total counter\n"
                              "certhub_http_worker_requests_total %lld\n",
                           http_worker_requests_total());
    /* The server certificate's checks for renewal: one every --renew-check seconds; a check
     * that renews it says so in the log, one that finds it young leaves this alone as its trace. */
    if (http_server_cert_checks() >= 0)
        e |= ch_buf_printf(b, "# HELP certhub_server_certificate_checks_total Checks of certhubd's own server "
                              "certificate for renewal done.\n# TYPE certhub_server_certificate_checks_total counter\n"
                              "certhub_server_certificate_checks_total %lld\n",
                           http_server_cert_checks());
    /* The scheduler's rounds (renewals, rotations, expiry alerts): one every --job-interval
     * seconds, or later when a round takes longer; one that stops growing has stopped. */
    e |= ch_buf_printf(b, "# HELP certhub_scheduler_rounds_total Rounds of the job scheduler (renewals, rotations, "
                          "expiry alerts) finished.\n# TYPE certhub_scheduler_rounds_total counter\n"
                          "certhub_scheduler_rounds_total %lu\n",
                       ch_svc_scheduler_rounds(svc));
    /* Device authentication decisions of this process, by reason, every tenant's. */
    e |= ch_buf_puts(b, "# HELP certhub_device_decisions_total Device authentication decisions by reason.\n"
                        "# TYPE certhub_device_decisions_total counter\n");
    for (int k = 0; k < CH_DECISION_NREASONS; k++)
        e |= ch_buf_printf(b, "certhub_device_decisions_total{reason=\"%s\",result=\"%s\"} %lu\n",
                           ch_decision_reason_name((ch_decision_reason)k),
                           k <= CH_DECIDE_NEW_CERTIFICATE ? "allow" : "deny",
                           ch_svc_decision_count(svc, (ch_decision_reason)k));
    return e;
}

static void metrics(req *r)
{
    ch_buf b = CH_BUF_INIT;
    ch_store_cert_filter f = {.is_ca = -1};
    int64_t active = 0, expired = 0, soon = 0, now = ch_now();
    ch_store_ca *cas = NULL;
    size_t ncas = 0;
    int error = 0, e = 0; /* e: any append failed (out of memory or over the cap) */

    /* Valid: in use (one renewed is replaced), as the overview counts them. */
    f.unexpired_at = now;
    f.current = true;
    error |= ch_store_cert_count(ch_svc_store(r->svc), r->who.tenant_id, &f, &active);
    f.unexpired_at = 0;
    f.current = false;
    f.expiring_before = now;
    error |= ch_store_cert_count(ch_svc_store(r->svc), r->who.tenant_id, &f, &expired);
    /* Expiring: those in use (one renewed is replaced, and asks nothing of anyone). */
    f.expiring_before = now + 30 * 86400;
    f.unexpired_at = now;
    f.current = true;
    error |= ch_store_cert_count(ch_svc_store(r->svc), r->who.tenant_id, &f, &soon);
    if (error)
        return reply_error(r, CH_ESTORE);
    e |= ch_buf_printf(&b,
                        "# HELP certhub_certificates Certificates of this tenant by state.\n"
                        "# TYPE certhub_certificates gauge\n"
                        "certhub_certificates{state=\"valid\"} %lld\n"
                        "certhub_certificates{state=\"expired\"} %lld\n"
                        "certhub_certificates{state=\"expiring_30d\"} %lld\n",
                        (long long)active, (long long)expired, (long long)soon);
    /* Counts within each of the tenant's alert thresholds, for dashboards and alert rules. */
    {
        ch_svc_settings st;
        if (ch_svc_settings_get(r->svc, &r->who.actor, &st) == 0) {
            e |= ch_buf_puts(&b, "# HELP certhub_certificates_expiring_within Unexpired certificates ending within "
                                  "the threshold.\n# TYPE certhub_certificates_expiring_within gauge\n");
            for (size_t k = 0; k < st.nthresholds; k++) {
                ch_store_cert_filter tf = {.is_ca = -1, .unexpired_at = now, .current = true,
                                           .expiring_before = now + (int64_t)st.thresholds[k] * 86400};
                int64_t cnt = 0;
                error |= ch_store_cert_count(ch_svc_store(r->svc), r->who.tenant_id, &tf, &cnt);
                e |= ch_buf_printf(&b, "certhub_certificates_expiring_within{days=\"%d\"} %lld\n", st.thresholds[k],
                                   (long long)cnt);
            }
        }
    }
    e |= ch_buf_puts(&b, "# HELP certhub_ca_seconds_to_earliest_expiry Seconds until the first certificate a CA "
                          "issued (or the CA itself) expires.\n# TYPE certhub_ca_seconds_to_earliest_expiry gauge\n");
    if (ch_svc_ca_list(r->svc, &r->who.actor, NULL, &cas, &ncas) == 0) {
        for (size_t i = 0; i < ncas; i++) {
            ch_store_cert own;
            int64_t first = INT64_MAX, issued;
            if (ch_store_cert_get(ch_svc_store(r->svc), &own, r->who.tenant_id, cas[i].cert_id) == 0) {
                first = own.not_after;
                ch_store_cert_dispose(&own);
            }
            if (ch_store_cert_first_expiry(ch_svc_store(r->svc), r->who.tenant_id, cas[i].id, now, &issued) == 0 &&
                issued < first)
                first = issued;
            if (first != INT64_MAX)
                e |= ch_buf_printf(&b, "certhub_ca_seconds_to_earliest_expiry{ca=\"%s\"} %lld\n", cas[i].id,
                                    (long long)(first - now));
        }
        ch_store_ca_list_free(cas, ncas);
    }
    /* What the whole process does, for the installation's own tenant: another tenant's
     * members see their tenant's figures, not the traffic or devices of the others. */
    if (ch_svc_tenant_is_installation(r->svc, r->who.tenant_id))
        e |= process_metrics(&b, r->svc);
    if (e)
        reply_error(r, CH_ENOMEM);
    else
        reply_text(r, "text/plain; version=0.0.4", b.data ? b.data : (uint8_t *)"", b.len, NULL);
    ch_buf_dispose(&b);
}

static json_t *tenant_json(const ch_store_tenant *t)
{
    char at[32];

    ch_time_format(at, sizeof at, t->created_at);
    return json_pack("{ss ss ss ss}", "id", t->id, "name", t->name, "created_at", at, "status",
                     t->disabled_at ? "revoked" : "active");
}

static void tenants_list(req *r, const char *unused)
{
    ch_store_tenant *rows = NULL;
    size_t n = 0;
    json_t *items;
    int error = ch_svc_tenant_list(r->svc, &r->who.actor, &rows, &n);

    (void)unused;
    if (error < 0)
        return reply_error(r, error);
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, tenant_json(&rows[i]));
    ch_store_tenant_list_free(rows, n);
    reply_keyed_page(r, items, "name", 0, NULL);
}

/* GET /tenants/{id or name}: among the tenants the caller may see (all of them for the
 * installation's admins, else its own). */
static void tenant_get(req *r, const char *id)
{
    ch_store_tenant *rows = NULL;
    size_t n = 0, i;
    int error = ch_svc_tenant_list(r->svc, &r->who.actor, &rows, &n);

    if (error < 0)
        return reply_error(r, error);
    for (i = 0; i < n && strcmp(rows[i].id, id) != 0 && strcmp(rows[i].name, id) != 0; i++)
        ;
    if (i < n)
        reply_json(r, 200, tenant_json(&rows[i]));
    else
        reply_error_msg(r, CH_ENOTFOUND, NULL, "no such tenant");
    ch_store_tenant_list_free(rows, n);
}

static json_t *token_json(const ch_store_token *t)
{
    char at[32];
    json_t *o, *sc;

    ch_time_format(at, sizeof at, t->created_at);
    o = json_pack("{ss ss ss ss ss}", "id", t->id, "tenant_id", t->tenant_id, "name", t->name ? t->name : "", "role",
                  t->role, "created_at", at);
    if (t->revoked_at) {
        ch_time_format(at, sizeof at, t->revoked_at);
        json_object_set_new(o, "revoked_at", json_string(at));
    } else {
        json_object_set_new(o, "revoked_at", json_null());
    }
    ch_time_format(at, sizeof at, t->expires_at);
    json_object_set_new(o, "expires_at", t->expires_at ? json_string(at) : json_null());
    /* Whether it lets anyone in, without comparing times: a revocation first, as the refusal
     * of a token both revoked and expired says. */
    json_object_set_new(o, "status", json_string(t->revoked_at ? "revoked"
                                                 : t->expires_at && ch_now() >= t->expires_at ? "expired"
                                                 : "active"));
    /* What a scoped token may read (null: the whole tenant, as its role allows). */
    sc = t->scope ? json_loads(t->scope, 0, NULL) : NULL;
    json_object_set_new(o, "scope", sc ? sc : json_null());
    /* Who made it (a console user's id, or a token's), and that user's name while it exists;
     * null for the first start's token and those made before makers were recorded. */
    json_object_set_new(o, "created_by", t->created_by ? json_string(t->created_by) : json_null());
    json_object_set_new(o, "created_by_name", t->created_by_name ? json_string(t->created_by_name) : json_null());
    return o;
}

static void tokens_list(req *r, const char *unused)
{
    ch_store_token *rows = NULL;
    ch_store_tenant t = {0};
    const char *tenant = query(r, "tenant");
    size_t n = 0;
    json_t *items;
    ch_store_page page;
    int error;

    (void)unused;
    if (page_of(r, &page) < 0)
        return;
    if (tenant && ch_store_tenant_get_by_name(ch_svc_store(r->svc), &t, tenant) < 0 &&
        ch_store_tenant_get(ch_svc_store(r->svc), &t, tenant) < 0)
        return reply_error_msg(r, CH_ENOTFOUND, "tenant", "no such tenant");
    error = ch_svc_token_list(r->svc, &r->who.actor, tenant ? t.id : NULL, &page, &rows, &n);
    ch_store_tenant_dispose(&t);
    if (error < 0)
        return reply_error(r, error);
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, token_json(&rows[i]));
    ch_store_token_list_free(rows, n);
    reply_page(r, items, &page);
}

/* GET /tokens/{id}: a token of the caller's tenant (of any tenant for the installation's
 * admins); never the token itself, which is not kept. */
static void token_get(req *r, const char *id)
{
    ch_store_token *rows = NULL;
    char owner[CH_ID_MAX];
    const char *tenant = NULL;
    size_t n = 0, i;
    int error;

    if ((r->who.actor.perms & CH_PERM_TENANTS) && ch_store_token_tenant(ch_svc_store(r->svc), id, owner) == 0)
        tenant = owner;
    if ((error = ch_svc_token_list(r->svc, &r->who.actor, tenant, NULL, &rows, &n)) < 0)
        return reply_error(r, error);
    for (i = 0; i < n && strcmp(rows[i].id, id) != 0; i++)
        ;
    if (i < n)
        reply_json(r, 200, token_json(&rows[i]));
    else
        reply_error_msg(r, CH_ENOTFOUND, NULL, "no such token");
    ch_store_token_list_free(rows, n);
}

/* DELETE /tokens/{id}[?cascade=true]: revoked; with cascade, the tokens it made (and those they
 * made) with it, named (tokens_revoked_ids) and counted as a user's removal counts them; without,
 * how many of those keep working, for the caller to know the choice is there. */
static void token_revoke(req *r, const char *id)
{
    ch_store_token *made = NULL;
    size_t n = 0;
    json_t *answer, *ids;
    bool all;
    int error;

    if (query_bool(r, "cascade", "cascade must be true (the tokens it made are revoked with it) or false", &all) < 0)
        return;
    if ((error = ch_svc_token_revoke_cascade(r->svc, &r->who.actor, id, all, &made, &n)) < 0)
        return reply_error(r, error);
    answer = json_pack("{ss sb}", "id", id, "revoked", 1);
    if (all) {
        ids = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(ids, json_string(made[i].id));
        json_object_set_new(answer, "tokens_revoked", json_integer((json_int_t)n));
        json_object_set_new(answer, "tokens_revoked_ids", ids);
    } else {
        json_object_set_new(answer, "tokens_made_active", json_integer((json_int_t)n));
    }
    ch_store_token_list_free(made, n);
    reply_json(r, 200, answer);
}

static json_t *profile_json(const ch_svc_profile *p)
{
    json_t *o = json_pack("{ss ss sb sb}", "name", p->p.name, "description", p->p.description ? p->p.description : "",
                          "custom", p->custom, "is_ca", p->p.is_ca);
    json_t *ku = json_array(), *eku = json_array();
    const char *const *names = ch_usage_names(false);
    char ttl[24];

    /* The lifetimes as the definition gives them, in days or as a ttl (what PUT takes back). */
    if (p->p.default_ttl != 0) {
        ch_ttl_format(ttl, sizeof ttl, p->p.default_ttl);
        json_object_set_new(o, "default_ttl", json_string(ttl));
    } else {
        json_object_set_new(o, "default_days", json_integer(p->p.default_days));
    }
    if (p->p.max_ttl != 0) {
        ch_ttl_format(ttl, sizeof ttl, p->p.max_ttl);
        json_object_set_new(o, "max_ttl", json_string(ttl));
    } else {
        json_object_set_new(o, "max_days", json_integer(p->p.max_days));
    }
    json_object_set_new(o, "allow_sans", json_boolean(p->p.allow_sans));

    for (int i = 0; names[i]; i++)
        if (p->p.key_usage & (1u << i))
            json_array_append_new(ku, json_string(names[i]));
    names = ch_usage_names(true);
    for (int i = 0; names[i]; i++)
        if (p->p.ext_key_usage & (1u << i))
            json_array_append_new(eku, json_string(names[i]));
    json_object_set_new(o, "key_usage", ku);
    json_object_set_new(o, "ext_key_usage", eku);
    /* Absent when the profile has none (as a definition leaves them out). */
    {
        const char *const *lists[] = {p->p.eku_oids, p->p.policies};
        const char *fields[] = {"ext_key_usage_oids", "policy_identifiers"};
        for (size_t k = 0; k < 2; k++) {
            json_t *a;
            if (lists[k] == NULL)
                continue;
            a = json_array();
            for (size_t i = 0; lists[k][i] != NULL; i++)
                json_array_append_new(a, json_string(lists[k][i]));
            json_object_set_new(o, fields[k], a);
        }
    }
    /* The name policy as a definition writes it (what GET shows, PUT takes back); absent: any
     * names. */
    if (p->p.policy != NULL) {
        const ch_name_policy *np = p->p.policy;
        if (np->dns_restricted) {
            json_t *d = json_array();
            for (size_t i = 0; i < np->ndomains; i++)
                json_array_append_new(d, json_string(np->domains[i]));
            json_object_set_new(o, "allowed_domains", d);
            json_object_set_new(o, "allow_subdomains", json_boolean(np->allow_subdomains));
            json_object_set_new(o, "allow_wildcards", json_boolean(np->allow_wildcards));
            json_object_set_new(o, "allow_uri_sans", json_boolean(np->allow_uri));
        }
        json_object_set_new(o, "allow_ip_sans", json_boolean(np->allow_ip));
    }
    /* Absent: any key type. */
    if (p->p.key_types != 0) {
        json_t *kt = json_array();
        for (ch_key_type t = CH_KEY_RSA2048; t <= CH_KEY_ED25519; t++)
            if (p->p.key_types & CH_KEY_TYPE_BIT(t))
                json_array_append_new(kt, json_string(ch_key_type_name(t)));
        json_object_set_new(o, "key_types", kt);
    }
    return o;
}

static void profiles_list(req *r, const char *unused)
{
    ch_svc_profile *rows = NULL;
    size_t n = 0, builtin;
    json_t *items;
    int error = ch_svc_profile_list(r->svc, &r->who.actor, &rows, &n);

    (void)unused;
    if (error < 0)
        return reply_error(r, error);
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, profile_json(&rows[i]));
    for (builtin = 0; builtin < n && !rows[builtin].custom; builtin++)
        ;
    ch_svc_profile_list_free(rows, n);
    reply_keyed_page(r, items, "name", builtin, NULL);
}

static void profile_get(req *r, const char *name)
{
    ch_svc_profile p;
    int error = ch_svc_profile_get(r->svc, &r->who.actor, name, &p);

    if (error < 0)
        return reply_error(r, error);
    reply_json(r, 200, profile_json(&p));
    ch_svc_profile_dispose(&p);
}

/* POST /profiles {"name", definition...} creates; PUT /profiles/{name} {definition...} replaces. */
static void profile_put(req *r, const char *name, bool create)
{
    static const char *const F_PROFILE[] = {"name",           "description",      "key_usage",       "ext_key_usage",
                                            "default_days",   "default_ttl",      "max_days",        "max_ttl",
                                            "allow_sans",     "allowed_domains",  "allow_subdomains", "allow_wildcards",
                                            "allow_ip_sans",  "allow_uri_sans",   "key_types",       "ext_key_usage_oids",
                                            "policy_identifiers", NULL};
    json_t *body = read_json(r, F_PROFILE), *v;
    ch_svc_profile p;
    char *def = NULL, given[80];
    int error;

    if (body == NULL)
        return;
    if ((v = json_object_get(body, "name")) != NULL) {
        if (!json_is_string(v) || (!create && strcmp(json_string_value(v), name) != 0)) {
            reply_error_msg(r, CH_EINVAL, "name", create ? "name must be a string"
                                                         : "the name is the path's; a profile cannot be renamed");
            goto done;
        }
        /* Copied: deleting the member frees its string. */
        snprintf(given, sizeof given, "%s", json_string_value(v));
        name = given;
        json_object_del(body, "name");
    }
    if (name == NULL) {
        reply_error_msg(r, CH_EINVAL, "name", "name is required");
        goto done;
    }
    def = json_dumps(body, JSON_COMPACT);
    if ((error = ch_svc_profile_put(r->svc, &r->who.actor, name, def, create, &p)) < 0) {
        reply_error(r, error);
        goto done;
    }
    reply_json(r, create ? 201 : 200, profile_json(&p));
    ch_svc_profile_dispose(&p);
done:
    free(def);
    json_decref(body);
}

static void profiles_create(req *r, const char *unused)
{
    (void)unused;
    profile_put(r, NULL, true);
}

static void profile_update(req *r, const char *name)
{
    profile_put(r, name, false);
}

static void profile_delete(req *r, const char *name)
{
    int error = ch_svc_profile_delete(r->svc, &r->who.actor, name);

    if (error < 0)
        return reply_error(r, error);
    reply_json(r, 200, json_pack("{ss sb}", "name", name, "deleted", 1));
}

/* GET /csrs/{id}/export?format=pem|der */
static void csr_export(req *r, const char *id)
{
    const char *format = query(r, "format");
    ch_store_csr c;
    ch_buf pem = CH_BUF_INIT;
    int error;

    if (format && strcmp(format, "pem") != 0 && strcmp(format, "der") != 0)
        return reply_error_msg(r, CH_EINVAL, "format", "format must be pem or der");
    if ((error = ch_svc_csr_get(r->svc, &r->who.actor, id, &c)) < 0)
        return reply_error(r, error);
    if (format && strcmp(format, "der") == 0)
        reply_text(r, "application/pkcs10", c.der, c.der_len, "request.der");
    else if (ch_svc_csr_pem(&pem, &c) == 0)
        reply_text(r, "application/pkcs10", pem.data, pem.len, "request.csr");
    else
        reply_error(r, CH_EINTERNAL);
    ch_buf_dispose(&pem);
    ch_store_csr_dispose(&c);
}

/* ---- trusted certificates */

static json_t *trusted_json(const ch_store_trusted *t, bool full)
{
    char nb[32], na[32], ca[32], ua[32];
    json_t *o;

    ch_time_format(nb, sizeof nb, t->not_before);
    ch_time_format(na, sizeof na, t->not_after);
    ch_time_format(ca, sizeof ca, t->created_at);
    ch_time_format(ua, sizeof ua, t->updated_at);
    o = json_pack("{ss ss ss ss sb sb ss ss ss ss ss ss ss ss}", "id", t->id, "name", t->name, "list",
                  t->issuer_list ? "issuer" : "trust", "status", t->status, "auto_registration", t->auto_registration,
                  "verified", t->verified, "subject", t->subject, "issuer", t->issuer, "serial", t->serial,
                  "not_before", nb, "not_after", na, "sha256", t->sha256, "created_at", ca, "updated_at", ua);
    /* In lists too: a broker's agent writes every enabled one, and asked for each by id (a
     * request a certificate) where a page of 1,000 gave them all. */
    ch_buf pem = CH_BUF_INIT;
    if (ch_pem_encode(&pem, "CERTIFICATE", t->der, t->der_len) == 0)
        json_object_set_new(o, "pem", json_string((const char *)pem.data));
    ch_buf_dispose(&pem);
    if (full) {
        ch_cert *x = NULL;
        ch_cert_info info;
        char *text = NULL;
        json_t *details = NULL;
        if (ch_cert_parse(&x, t->der, t->der_len) == 0 && ch_cert_inspect(&info, x) == 0) {
            if (ch_cert_info_to_json(&text, &info) == 0)
                details = json_loads(text, 0, NULL);
            ch_cert_info_dispose(&info);
        }
        json_object_set_new(o, "details", details ? details : json_null());
        free(text);
        ch_cert_free(x);
    }
    return o;
}

/* A boolean from a form's or a query's text ("true", "false", "1", "0", "on", "off"), or
 * JSON's true or false; a JSON body's flags go through get_bool, which takes only those. */
static int get_flag(req *r, json_t *body, const char *field, int *out)
{
    json_t *v = json_object_get(body, field);
    const char *t;
    char msg[96];

    if (v == NULL)
        return 0;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    t = json_string_value(v);
    /* (the words the CLI's on/off options take too, in any case) */
    if (t && (strcasecmp(t, "true") == 0 || strcmp(t, "1") == 0 || strcasecmp(t, "on") == 0 || strcasecmp(t, "yes") == 0))
        *out = 1;
    else if (t && (strcasecmp(t, "false") == 0 || strcmp(t, "0") == 0 || strcasecmp(t, "off") == 0 ||
                   strcasecmp(t, "no") == 0))
        *out = 0;
    else {
        snprintf(msg, sizeof msg, "%s must be true or false (in a form or query: on/off, yes/no, 1/0 too)", field);
        reply_wrong_type(r, v, field, msg);
        return -1;
    }
    return 0;
}

/* A flag of an upload: JSON's true or false when the body was JSON (a string there is a
 * wrong type, as in every JSON body), the words of a form or query otherwise. */
static int upload_flag(req *r, const upload *u, const char *field, int *out)
{
    return u->json ? get_bool(r, u->fields, field, out) : get_flag(r, u->fields, field, out);
}

/* status: "enabled" or "disabled" (also accepted: "enabled": true|false, and in a form's
 * fields (form) the words get_flag takes). */
static int get_status(req *r, json_t *body, bool form, int *enabled)
{
    const char *status = NULL;

    if (get_str(r, body, "status", &status) ||
        (form ? get_flag(r, body, "enabled", enabled) : get_bool(r, body, "enabled", enabled)))
        return -1;
    if (status == NULL)
        return 0;
    if (strcmp(status, "enabled") != 0 && strcmp(status, "disabled") != 0) {
        reply_error_msg(r, CH_EINVAL, "status", "status must be enabled or disabled");
        return -1;
    }
    /* Both given and differing, one would be dropped without a word. */
    if (json_object_get(body, "enabled") != NULL &&
        *enabled != (strcmp(status, "enabled") == 0)) {
        reply_error_msg(r, CH_EINVAL, "enabled", "status and enabled say different things: give one of them");
        return -1;
    }
    *enabled = strcmp(status, "enabled") == 0;
    return 0;
}

/* "list": the trust list (1 -> 0) or the issuer list (1); absent, *issuer is left. */
static int get_list(req *r, json_t *body, int *issuer)
{
    const char *list = NULL;

    if (get_str(r, body, "list", &list))
        return -1;
    if (list == NULL)
        return 0;
    if (strcmp(list, "trust") != 0 && strcmp(list, "issuer") != 0) {
        reply_error_msg(r, CH_EINVAL, "list", "list must be trust (authenticates what chains to it) or issuer (only "
                        "helps build chains)");
        return -1;
    }
    *issuer = strcmp(list, "issuer") == 0;
    return 0;
}

static const char *const F_TRUSTED[] = {"name", "certificate", "auto_registration", "status", "enabled", "preview",
                                        "list", NULL};
/* A bulk upload names each certificate after its subject. */
static const char *const F_TRUSTED_BULK[] = {"certificate", "auto_registration", "status", "enabled", "list", NULL};

/* The certificate of an upload: the file, or the "certificate" field (PEM). */
static int upload_cert(req *r, upload *u, ch_svc_trusted_req *q, int *enabled)
{
    const char *cert = NULL;
    int auto_reg = 0, issuer = 0;

    if (get_str(r, u->fields, "name", &q->name) || get_str(r, u->fields, "certificate", &cert) ||
        upload_flag(r, u, "auto_registration", &auto_reg) || get_status(r, u->fields, !u->json, enabled) ||
        get_list(r, u->fields, &issuer))
        return -1;
    q->issuer_list = issuer;
    if (upload_once(r, u, cert != NULL, "certificate", "certificate", "the \"certificate\" field (PEM)") < 0)
        return -1;
    q->cert = u->file ? u->file : (const uint8_t *)cert;
    q->cert_len = u->file ? u->file_len : strlen(cert);
    q->auto_registration = auto_reg;
    q->disabled = *enabled == 0;
    return 0;
}

static void trusted_add(req *r, const char *unused)
{
    upload u;
    ch_svc_trusted_req q = {0};
    ch_store_trusted out;
    int enabled = 1, preview = 0, error;

    (void)unused;
    if (read_upload(r, &u, F_TRUSTED, "file") < 0)
        return;
    if (upload_flag(r, &u, "preview", &preview) == 0 && upload_cert(r, &u, &q, &enabled) == 0) {
        q.preview = preview;
        if ((error = ch_svc_trusted_add(r->svc, &r->who.actor, &q, &out)) < 0) {
            reply_error(r, error);
        } else if (preview) {
            /* What would be added: no id, as nothing was stored. */
            json_t *o = trusted_json(&out, true);
            json_object_set_new(o, "id", json_null());
            json_object_set_new(o, "preview", json_true());
            reply_json(r, 200, o);
            ch_store_trusted_dispose(&out);
        } else {
            reply_json(r, 201, trusted_json(&out, true));
            ch_store_trusted_dispose(&out);
        }
    }
    upload_dispose(&u);
}

static void trusted_bulk(req *r, const char *unused)
{
    upload u;
    ch_svc_trusted_req q = {0};
    ch_svc_trusted_result *res = NULL;
    size_t n = 0, added = 0;
    json_t *items;
    int enabled = 1, error;

    (void)unused;
    if (read_upload(r, &u, F_TRUSTED_BULK, "file") < 0)
        return;
    if (upload_cert(r, &u, &q, &enabled) < 0)
        goto done;
    if ((error = ch_svc_trusted_add_bulk(r->svc, &r->who.actor, &q, &res, &n)) < 0) {
        reply_error(r, error);
        goto done;
    }
    items = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{si ss}", "index", (int)i, "subject", res[i].subject);
        if (res[i].error == 0) {
            added++;
            json_object_set_new(o, "result", json_string("added"));
            json_object_set_new(o, "trusted_certificate", trusted_json(&res[i].row, false));
        } else {
            json_object_set_new(o, "result", json_string("refused"));
            json_object_set_new(o, "error", json_pack("{ss ss ss}", "code", ch_error_code_string(res[i].error),
                                                      "reason", res[i].reason, "message", res[i].message));
        }
        json_array_append_new(items, o);
    }
    reply_json(r, 200, json_pack("{so si si}", "items", items, "added", (int)added, "refused", (int)(n - added)));
    ch_svc_trusted_results_free(res, n);
done:
    upload_dispose(&u);
}

static void trusted_list(req *r, const char *unused)
{
    ch_store_trusted *rows = NULL;
    size_t n = 0;
    json_t *items;
    ch_store_page page;
    int error;

    (void)unused;
    if (page_of(r, &page) < 0)
        return;
    if ((error = ch_svc_trusted_list(r->svc, &r->who.actor, query(r, "list"), &page, &rows, &n)) < 0)
        return reply_error(r, error);
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, trusted_json(&rows[i], false));
    ch_store_trusted_list_free(rows, n);
    reply_page(r, items, &page);
}

static void trusted_get(req *r, const char *id)
{
    ch_store_trusted t;
    int error = ch_svc_trusted_get(r->svc, &r->who.actor, id, &t);

    if (error < 0)
        return reply_error(r, error);
    reply_json(r, 200, trusted_json(&t, true));
    ch_store_trusted_dispose(&t);
}

static void trusted_update(req *r, const char *id)
{
    static const char *const F[] = {"name", "auto_registration", "status", "enabled", "list", NULL};
    json_t *body = read_json(r, F);
    ch_svc_trusted_patch p = {.auto_registration = -1, .enabled = -1, .issuer_list = -1};
    ch_store_trusted out;
    int error;

    if (body == NULL || get_str(r, body, "name", &p.name) || get_bool(r, body, "auto_registration", &p.auto_registration) ||
        get_status(r, body, false, &p.enabled) || get_list(r, body, &p.issuer_list))
        goto done;
    if ((error = ch_svc_trusted_update(r->svc, &r->who.actor, id, &p, &out)) < 0) {
        reply_error(r, error);
        goto done;
    }
    reply_json(r, 200, trusted_json(&out, true));
    ch_store_trusted_dispose(&out);
done:
    json_decref(body);
}

static void trusted_delete(req *r, const char *id)
{
    int error = ch_svc_trusted_delete(r->svc, &r->who.actor, id);

    if (error < 0)
        return reply_error(r, error);
    reply_json(r, 200, json_pack("{ss sb}", "id", id, "deleted", 1));
}

/* For an action that takes nothing (a rotation, a verification code): no body, or an empty
 * JSON object.  A body asking for something, or one that is not JSON, is answered 400 (-1)
 * rather than the action done anyway. */
static int no_body(req *r)
{
    static const char *const F_NONE[] = {NULL};
    json_t *body;

    if (evbuffer_get_length(evhttp_request_get_input_buffer(r->ev)) == 0)
        return 0;
    if ((body = read_json(r, F_NONE)) == NULL)
        return -1;
    json_decref(body);
    return 0;
}

static void trusted_code(req *r, const char *id)
{
    char code[65];
    int error;

    if (no_body(r) < 0)
        return;
    if ((error = ch_svc_trusted_verification_code(r->svc, &r->who.actor, id, code)) < 0)
        return reply_error(r, error);
    reply_json(r, 200, json_pack("{ss ss}", "id", id, "verification_code", code));
}

static void trusted_verify(req *r, const char *id)
{
    upload u;
    const char *cert = NULL;
    ch_store_trusted out;
    static const char *const F[] = {"certificate", NULL};
    int error;

    if (read_upload(r, &u, F, "file") < 0)
        return;
    if (get_str(r, u.fields, "certificate", &cert))
        goto done;
    if ((cert == NULL) == (u.file == NULL)) {
        reply_error_msg(r, CH_EINVAL, "certificate", "give the proof certificate (PEM) once");
        goto done;
    }
    if ((error = ch_svc_trusted_verify(r->svc, &r->who.actor, id, u.file ? u.file : (const uint8_t *)cert,
                                       u.file ? u.file_len : strlen(cert), &out)) < 0) {
        reply_error(r, error);
        goto done;
    }
    reply_json(r, 200, trusted_json(&out, false));
    ch_store_trusted_dispose(&out);
done:
    upload_dispose(&u);
}

/* ---- devices and the device authentication decision */

static json_t *device_json(const ch_store_device *d)
{
    char reg[32], seen[32], na[32];

    bool bound = d->cert_sha256[0] != '\0'; /* a device registered by hand has no certificate before it connects */

    ch_time_format(reg, sizeof reg, d->registered_at);
    ch_time_format(seen, sizeof seen, d->last_seen);
    ch_time_format(na, sizeof na, d->cert_not_after);
    return json_pack("{ss ss ss ss? ss? ss ss ss? ss?}", "id", d->id, "device_id", d->device_id, "status",
                     d->status, "certificate_sha256", bound ? d->cert_sha256 : NULL, "certificate_not_after",
                     bound ? na : NULL, "trusted_certificate_id", d->trusted_id ? d->trusted_id : "", "registered_at",
                     reg, "last_seen", d->last_seen ? seen : NULL, "client_id", d->client_id);
}

/* POST /devices {"device_id"}: a device registered before it connects. */
static void device_register(req *r, const char *unused)
{
    static const char *const F[] = {"device_id", NULL};
    json_t *body = read_json(r, F);
    const char *device_id = NULL;
    ch_store_device d;
    int error;

    (void)unused;
    if (body == NULL || get_str(r, body, "device_id", &device_id))
        goto done;
    if ((error = ch_svc_device_register(r->svc, &r->who.actor, device_id, &d)) < 0) {
        reply_error(r, error);
        goto done;
    }
    reply_json(r, 201, device_json(&d));
    ch_store_device_dispose(&d);
done:
    json_decref(body);
}

/* POST /device-auth {"chain": PEM, "username": "tenant/device", "client_id", "clean_session"}: the answer of
 * ch_svc_device_decide, as {"result":"allow"|"deny", ...} (the shape EMQX's HTTP
 * authentication reads).  A token of an ordinary tenant decides for its own tenant only. */
static void device_auth(req *r, const char *unused)
{
    static const char *const F[] = {"chain", "certificate", "username", "client_id", "clean_session", NULL};
    json_t *body = read_json(r, F);
    const char *chain = NULL, *cert = NULL, *username = NULL, *client_id = NULL;
    int clean = 1; /* (MQTT's default, and what keeps no client id as the device's) */
    char scoped[320];
    ch_svc_decision d;

    (void)unused;
    if (body == NULL || get_str(r, body, "chain", &chain) || get_str(r, body, "certificate", &cert) ||
        get_str(r, body, "username", &username) || get_str(r, body, "client_id", &client_id) ||
        get_bool(r, body, "clean_session", &clean))
        goto done;
    /* A decision registers devices and binds certificates: not for a viewer. */
    if (r->who.actor.role < CH_ROLE_OPERATOR) {
        reply_error_msg(r, CH_EPERM, NULL, "deciding about devices registers them: a broker asks with an operator's "
                        "or an admin's token");
        goto done;
    }
    if (chain != NULL && cert != NULL) {
        reply_error_msg(r, CH_EINVAL, "certificate", "give chain or certificate (another name for it), not both");
        goto done;
    }
    if (chain == NULL)
        chain = cert;
    if (client_id != NULL && strlen(client_id) > 65535) {
        reply_error_msg(r, CH_EINVAL, "client_id", "an MQTT client id is at most 65535 bytes");
        goto done;
    }
    if (chain == NULL) {
        reply_error_msg(r, CH_EINVAL, "chain", "chain is required: the client's certificate first, in PEM");
        goto done;
    }
    if (!(r->who.actor.perms & CH_PERM_TENANTS)) {
        ch_store_tenant t;
        const char *slash = username ? strchr(username, '/') : NULL;
        if (ch_store_tenant_get(ch_svc_store(r->svc), &t, r->who.tenant_id) < 0) {
            reply_error(r, CH_ESTORE);
            goto done;
        }
        if (username && *username && (slash ? (size_t)(slash - username) : strlen(username)) == strlen(t.name) &&
            strncmp(username, t.name, strlen(t.name)) == 0) {
            snprintf(scoped, sizeof scoped, "%s", username);
        } else if (username && *username && strchr(username, '/')) {
            ch_store_tenant_dispose(&t);
            reply_error_msg(r, CH_EPERM, "username", "this token decides for its own tenant only");
            goto done;
        } else {
            snprintf(scoped, sizeof scoped, "%s%s%s", t.name, username && *username ? "/" : "",
                     username ? username : "");
        }
        ch_store_tenant_dispose(&t);
        username = scoped;
    }
    ch_svc_device_decide(r->svc, (const uint8_t *)chain, strlen(chain), username, client_id, !clean, &d);
    reply_json(r, 200, json_pack("{ss sb ss ss ss ss}", "result", d.allow ? "allow" : "deny", "allow", d.allow,
                                 "reason", ch_decision_reason_name(d.reason), "message", d.message, "device_id",
                                 d.device_id, "tenant_id", d.tenant_id));
done:
    json_decref(body);
}

/* GET /device-decisions[?device_id=&result=&unattributed=]: the tenant's latest decisions kept in memory
 * (svc_device.c), newest first, a page at a time like every list; the cursor is the place of
 * the page's last decision, so a page goes on where the one before ended however many came
 * since. */
static void device_decisions(req *r, const char *unused)
{
    ch_store_page page;
    ch_svc_decision_entry *buf;
    unsigned long long before = 0;
    char *end = NULL, at[32], next[32];
    size_t n;
    json_t *items;
    ch_svc_decision_filter filter = {query(r, "device_id"), query(r, "result"), false};
    int error;

    (void)unused;
    if (page_of(r, &page) < 0 || query_bool(r, "unattributed", NULL, &filter.unattributed) < 0)
        return;
    /* The decisions that named no tenant are no tenant's: with a tenant named too, one of the
     * two would be dropped without a word. */
    if (filter.unattributed && query(r, "tenant") != NULL)
        return reply_error_msg(r, CH_EINVAL, "unattributed",
                               "unattributed=true lists the decisions that named no tenant: give it or tenant, not both");
    if (page.cursor != NULL &&
        (page.cursor[0] != 'd' || page.cursor[1] < '0' || page.cursor[1] > '9' ||
         (before = strtoull(page.cursor + 1, &end, 10)) == 0 || *end != '\0'))
        return reply_error_msg(r, CH_EINVAL, "cursor", "invalid cursor: pass the next_cursor of the previous page");
    if ((buf = malloc((page.limit + 1) * sizeof *buf)) == NULL)
        return reply_error(r, CH_ENOMEM);
    if ((error = ch_svc_decision_log(r->svc, &r->who.actor, &filter, before, buf, page.limit + 1, &n)) < 0) {
        free(buf);
        return reply_error(r, error);
    }
    items = json_array();
    for (size_t i = 0; i < n && i < page.limit; i++) {
        ch_time_format(at, sizeof at, buf[i].at);
        json_array_append_new(items, json_pack("{ss ss ss ss ss}", "at", at, "result", buf[i].allow ? "allow" : "deny",
                                               "reason", ch_decision_reason_name(buf[i].reason), "device_id",
                                               buf[i].device_id, "message", buf[i].message));
    }
    if (n > page.limit) {
        snprintf(next, sizeof next, "d%llu", (unsigned long long)buf[page.limit - 1].seq);
        page.next_cursor = strdup(next);
    }
    free(buf);
    reply_page(r, items, &page);
}

static void devices_list(req *r, const char *unused)
{
    ch_store_device *rows = NULL;
    size_t n = 0;
    json_t *items;
    ch_store_page page;
    int error;

    ch_store_device_filter filter = {query(r, "trusted_id"), query(r, "status")};

    (void)unused;
    if (page_of(r, &page) < 0)
        return;
    if ((error = ch_svc_device_list(r->svc, &r->who.actor, &filter, &page, &rows, &n)) < 0)
        return reply_error(r, error);
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, device_json(&rows[i]));
    ch_store_device_list_free(rows, n);
    reply_page(r, items, &page);
}

static void device_get(req *r, const char *id)
{
    ch_store_device d;
    int error = ch_svc_device_get(r->svc, &r->who.actor, id, &d);

    if (error < 0)
        return reply_error(r, error);
    reply_json(r, 200, device_json(&d));
    ch_store_device_dispose(&d);
}

static void device_update(req *r, const char *id)
{
    static const char *const F[] = {"status", NULL};
    json_t *body = read_json(r, F);
    const char *status = NULL;
    ch_store_device d;
    int error;

    if (body == NULL || get_str(r, body, "status", &status))
        goto done;
    if (status == NULL || (strcmp(status, "blocked") != 0 && strcmp(status, "active") != 0)) {
        reply_error_msg(r, CH_EINVAL, "status", "status must be blocked or active");
        goto done;
    }
    if ((error = ch_svc_device_set_status(r->svc, &r->who.actor, id, strcmp(status, "blocked") == 0, &d)) < 0) {
        reply_error(r, error);
        goto done;
    }
    reply_json(r, 200, device_json(&d));
    ch_store_device_dispose(&d);
done:
    json_decref(body);
}

static void device_delete(req *r, const char *id)
{
    int error = ch_svc_device_delete(r->svc, &r->who.actor, id);

    if (error < 0)
        return reply_error(r, error);
    reply_json(r, 200, json_pack("{ss sb}", "id", id, "deleted", 1));
}

/* ---- the tenant's settings */

static void settings_reply(req *r, const ch_svc_settings *st)
{
    json_t *o = json_pack("{sb}", "unverified_trusted_certificates_authenticate",
                          st->unverified_trusted_certificates_authenticate);
    json_t *th = json_array(), *wh = json_array();

    for (size_t i = 0; i < st->nthresholds; i++)
        json_array_append_new(th, json_integer(st->thresholds[i]));
    /* Secrets are written, never read back; the URLs whole for those who may change them (who
     * send them back as read), as scheme and host to the others: a path is often a credential. */
    for (size_t i = 0; i < st->nwebhooks; i++) {
        char shown[600];
        if (r->who.actor.role >= CH_ROLE_ADMIN)
            snprintf(shown, sizeof shown, "%s", st->webhooks[i].url);
        else
            ch_url_redacted(shown, sizeof shown, st->webhooks[i].url);
        json_array_append_new(wh, json_pack("{ss ss}", "url", shown, "secret", "(set)"));
    }
    json_object_set_new(o, "alert_thresholds_days", th);
    json_object_set_new(o, "renewal_point", json_real(st->renewal_point));
    json_object_set_new(o, "webhooks", wh);
    json_object_set_new(o, "public_bundle", json_boolean(st->public_bundle));
    json_object_set_new(o, "default_ca_id", st->default_ca_id[0] ? json_string(st->default_ca_id) : json_null());
    json_object_set_new(o, "max_token_days", st->max_token_days ? json_integer(st->max_token_days) : json_null());
    json_object_set_new(o, "token_alert_days", st->token_alert_days ? json_integer(st->token_alert_days) : json_null());
    json_object_set_new(o, "tidy_expired_days",
                        st->tidy_expired_days ? json_integer(st->tidy_expired_days) : json_null());
    reply_json(r, 200, o);
}

static void settings_get(req *r, const char *unused)
{
    ch_svc_settings st;
    int error = ch_svc_settings_get(r->svc, &r->who.actor, &st);

    (void)unused;
    if (error < 0)
        return reply_error(r, error);
    settings_reply(r, &st);
}

static void settings_update(req *r, const char *unused)
{
    static const char *const F[] = {"unverified_trusted_certificates_authenticate", "alert_thresholds_days", "webhooks",
                                    "renewal_point", "public_bundle", "default_ca_id", "max_token_days",
                                    "token_alert_days", "tidy_expired_days", NULL};
    json_t *body = read_json(r, F);
    ch_svc_settings st;
    char *text;
    int error;

    (void)unused;
    if (body == NULL)
        return;
    text = json_dumps(body, JSON_COMPACT);
    if ((error = ch_svc_settings_update(r->svc, &r->who.actor, text, &st)) < 0)
        reply_error(r, error);
    else
        settings_reply(r, &st);
    ch_secure_free_block(text); /* a webhook's secret in clear */
    json_decref(body);
}

/* ---- console sessions */

static json_t *session_json(const char *user, const char *tenant, ch_role role, const char *csrf)
{
    return json_pack("{ss ss ss ss}", "user", user, "tenant", tenant, "role", ch_role_name(role), "csrf_token", csrf);
}

/* POST /api/v1/session/password {"current_password","new_password"}: a console user's own. */
static void session_password(req *r, const char *unused)
{
    static const char *const F[] = {"current_password", "new_password", NULL};
    json_t *body = read_json(r, F);
    const char *cur = NULL, *fresh = NULL;
    int error;

    (void)unused;
    if (body == NULL || get_str(r, body, "current_password", &cur) || get_str(r, body, "new_password", &fresh))
        goto done;
    if ((error = ch_svc_password_change(r->svc, &r->who, cur, fresh, session_cookie(r, (char[128]){0}, 128))) < 0) {
        reply_error(r, error == CH_EAUTH ? CH_EPERM : error);
        goto done;
    }
    reply_json(r, 200, json_pack("{sb}", "changed", 1));
done:
    json_decref(body);
}

/* PATCH /api/v1/session {"tenant"}: the tenant switcher of the console. */
static void session_switch(req *r, const char *unused)
{
    static const char *const F[] = {"tenant", NULL};
    json_t *body = read_json(r, F);
    const char *tenant = NULL;
    char cookie[128];
    int error;

    (void)unused;
    if (body == NULL || get_str(r, body, "tenant", &tenant))
        goto done;
    if (session_cookie(r, cookie, sizeof cookie) == NULL) {
        reply_error_msg(r, CH_EINVAL, NULL, "only a console session switches tenants (tokens belong to one tenant)");
        goto done;
    }
    if ((error = ch_svc_session_switch(r->svc, cookie, &r->who, tenant)) < 0) {
        reply_error(r, error);
        goto done;
    }
    reply_json(r, 200, json_pack("{ss}", "tenant", tenant));
done:
    json_decref(body);
}

/* POST /api/v1/session {"username","password","tenant"}: signs in; the session is a cookie
 * (HttpOnly, Secure, SameSite=Strict). */
static void session_create(req *r)
{
    static const char *const F[] = {"username", "password", "tenant", NULL};
    json_t *body = read_json(r, F);
    const char *user = NULL, *password = NULL, *tenant = NULL;
    ch_svc_session s;
    char cookie[200];
    int error;

    if (body == NULL || get_str(r, body, "username", &user) || get_str(r, body, "password", &password) ||
        get_str(r, body, "tenant", &tenant))
        goto done;
    /* A request missing a part is a mistake said as such (not a wrong password: nothing was
     * tried, and no attempt is counted against the user). */
    if (user == NULL || password == NULL) {
        reply_error_msg(r, CH_EINVAL, user == NULL ? "username" : "password",
                        user == NULL ? "username is required" : "password is required");
        goto done;
    }
    if ((error = ch_svc_login(r->svc, tenant, user, password, &s)) < 0) {
        if (error == CH_EBUSY && s.retry_after > 0) {
            char after[16];
            snprintf(after, sizeof after, "%d", s.retry_after);
            evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Retry-After", after);
        }
        reply_error(r, error);
        goto done;
    }
    snprintf(cookie, sizeof cookie, "certhub_session=%s; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=%lld",
             s.token, (long long)(s.expires_at - ch_now()));
    evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Set-Cookie", cookie);
    ch_wipe(cookie, sizeof cookie);
    reply_json(r, 201, session_json(s.user, s.tenant, s.role, s.csrf));
    ch_svc_session_dispose(&s);
done:
    json_decref(body);
}

static void session_get(req *r, const char *unused)
{
    char cookie[128], csrf[65] = "";
    ch_svc_principal who;
    ch_store_tenant t;
    ch_svc_settings st;
    const char *name = r->who.user_name[0] ? r->who.user_name : r->who.name;

    (void)unused;
    /* The CSRF token again (the page may have been reloaded); for a token, just who it is,
     * whatever cookie came with it (the answer named the token's identity and carried another
     * session's CSRF token). */
    if (evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Authorization") == NULL &&
        session_cookie(r, cookie, sizeof cookie) != NULL)
        ch_svc_session_authenticate(r->svc, cookie, &who, csrf);
    if (ch_store_tenant_get(ch_svc_store(r->svc), &t, r->who.tenant_id) < 0)
        return reply_error(r, CH_ESTORE);
    {
        json_t *o = session_json(name, t.name, r->who.actor.role, csrf);
        json_t *names = json_array();
        /* What a client asks before it makes something whose key it is to fetch. */
        json_object_set_new(o, "keys_export", json_boolean(r->who.actor.perms & CH_PERM_KEYS_EXPORT));
        /* Whether it runs the installation (an admin of the default tenant, wherever the session
         * has switched to): what a client asks before it offers what only those may read, as the
         * decisions that named no tenant.  "tenants" cannot say it: it lists one tenant both for
         * such an admin of an installation of one tenant and for any other tenant's admin. */
        json_object_set_new(o, "installation_admin", json_boolean(r->who.actor.perms & CH_PERM_TENANTS));
        /* Still the first start's password (the one in DATA_DIR/admin-password): the console
         * invites its change. */
        json_object_set_new(o, "first_password", json_boolean(ch_svc_first_password(r->svc, &r->who)));
        /* When this credential stops working (null: never), and the tenant's bound on the tokens
         * it makes (null: none): what a client offers before it asks for one. */
        char at[32];
        ch_time_format(at, sizeof at, r->who.expires_at);
        json_object_set_new(o, "expires_at", r->who.expires_at ? json_string(at) : json_null());
        json_object_set_new(o, "max_token_days", json_null());
        if (ch_svc_settings_get(r->svc, &r->who.actor, &st) == 0 && st.max_token_days != 0)
            json_object_set_new(o, "max_token_days", json_integer(st.max_token_days));
        ch_store_tenant *all = NULL;
        size_t n = 0;
        /* The tenants this session may act in: every one for the installation's admins. */
        if (ch_svc_tenant_list(r->svc, &r->who.actor, &all, &n) == 0)
            for (size_t i = 0; i < n; i++)
                json_array_append_new(names, json_string(all[i].name));
        ch_store_tenant_list_free(all, n);
        json_object_set_new(o, "tenants", names);
        reply_json(r, 200, o);
    }
    ch_store_tenant_dispose(&t);
}

static void session_delete(req *r, const char *unused)
{
    char cookie[128];

    (void)unused;
    /* Asked with a token alone, it said "signed_out" and the token went on working. */
    if (session_cookie(r, cookie, sizeof cookie) == NULL)
        return reply_error_msg(r, CH_EINVAL, NULL,
                               "only a console session signs out: an API token is revoked (DELETE "
                               "/api/v1/tokens/{id}, certhub token revoke)");
    ch_svc_logout(r->svc, cookie);
    evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Set-Cookie",
                      "certhub_session=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    reply_json(r, 200, json_pack("{sb}", "signed_out", 1));
}

/* POST /api/v1/users {"name","role","password"} (admins): a console user of the tenant. */
static void users_create(req *r, const char *unused)
{
    static const char *const F[] = {"name", "role", "password", NULL};
    json_t *body = read_json(r, F);
    const char *name = NULL, *role_name = NULL, *password = NULL;
    ch_role role = CH_ROLE_VIEWER;
    int error;

    (void)unused;
    if (body == NULL || get_str(r, body, "name", &name) || get_str(r, body, "role", &role_name) ||
        get_str(r, body, "password", &password))
        goto done;
    if (role_name && (error = ch_role_parse(&role, role_name)) < 0) {
        reply_error(r, error);
        goto done;
    }
    if ((error = ch_svc_user_create(r->svc, &r->who.actor, name, role, password)) < 0) {
        reply_error(r, error);
        goto done;
    }
    reply_json(r, 201, json_pack("{ss ss}", "name", name, "role", ch_role_name(role)));
done:
    json_decref(body);
}

/* GET /users: the tenant's console users (admins), never their passwords. */
static void users_list(req *r, const char *unused)
{
    ch_store_user *list = NULL;
    size_t n = 0;
    json_t *items;
    int error;

    (void)unused;
    if ((error = ch_svc_user_list(r->svc, &r->who.actor, &list, &n)) < 0)
        return reply_error(r, error);
    items = json_array();
    for (size_t i = 0; i < n; i++) {
        char at[32];
        ch_time_format(at, sizeof at, list[i].created_at);
        json_array_append_new(items, json_pack("{ss ss ss}", "name", list[i].name, "role", list[i].role, "created_at", at));
    }
    ch_store_user_list_free(list, n);
    reply_keyed_page(r, items, "name", 0, NULL);
}

/* PATCH /users/{name} {"role", "password"}: the user's sessions end. */
static void user_update(req *r, const char *name)
{
    static const char *const F[] = {"role", "password", NULL};
    json_t *body = read_json(r, F);
    const char *role_name = NULL, *password = NULL;
    ch_role role;
    int error, revoked = 0;

    if (body == NULL || get_str(r, body, "role", &role_name) || get_str(r, body, "password", &password))
        goto done;
    if (role_name && (error = ch_role_parse(&role, role_name)) < 0) {
        reply_error(r, error);
        goto done;
    }
    if ((error = ch_svc_user_update(r->svc, &r->who.actor, name, role_name ? &role : NULL, password, &revoked)) < 0) {
        reply_error(r, error);
        goto done;
    }
    reply_json(r, 200, json_pack("{ss sb sb si}", "name", name, "role_changed", role_name != NULL, "password_changed",
                                 password != NULL, "tokens_revoked", revoked));
done:
    json_decref(body);
}

/* DELETE /users/{name}: removed, its sessions ended and the tokens it made revoked. */
static void user_delete(req *r, const char *name)
{
    int revoked = 0, error = ch_svc_user_delete(r->svc, &r->who.actor, name, &revoked);

    if (error < 0)
        return reply_error(r, error);
    reply_json(r, 200, json_pack("{ss sb si}", "name", name, "deleted", 1, "tokens_revoked", revoked));
}

/* POST /certificates/{id}/renew {"reuse_key", "days" | "ttl", "cap_validity", "renew_before"}: renewed now,
 * linked to the old one, for the old one's lifetime unless another is asked. */
static void certificate_renew(req *r, const char *id)
{
    static const char *const F[] = {"reuse_key", "days", "ttl", "cap_validity", "ca_id", "subject", "sans",
                                    "key_type", "csr", "renew_before", NULL};
    struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
    json_t *body = NULL;
    ch_svc_renew_opts o = {0};
    ch_svc_subject subject = {0};
    const char *san_list[CH_MAX_SANS + 1] = {0}, *csr = NULL;
    ch_store_cert out;
    int reuse = 0, cap = 0, error;
    bool given;

    if (evbuffer_get_length(in) > 0 && ((body = read_json(r, F)) == NULL || get_bool(r, body, "reuse_key", &reuse) ||
                                        get_renew_before(r, body, false, &o.renew_before, &given) ||
                                        get_bool(r, body, "cap_validity", &cap) ||
                                        get_str(r, body, "ca_id", &o.ca_id) ||
                                        get_lifetime(r, body, &o.days, &o.ttl) ||
                                        get_str(r, body, "key_type", &o.key_type) || get_str(r, body, "csr", &csr) ||
                                        get_strings(r, body, "sans", san_list, CH_MAX_SANS, &o.san_count,
                                                    "\"dns:a.example\"") ||
                                        get_subject(r, body, &subject))) {
        json_decref(body);
        return;
    }
    /* What the renewal changes (cert-manager reissues an edited Certificate so): the rest is
     * the old one's. */
    if (body != NULL && json_object_get(body, "subject") != NULL)
        o.subject = &subject;
    if (body != NULL && json_object_get(body, "sans") != NULL) {
        o.sans = san_list;
        o.sans_given = true;
    }
    if (csr != NULL) {
        o.csr = (const uint8_t *)csr;
        o.csr_len = strlen(csr);
    }
    o.reuse_key = reuse;
    o.cap_validity = cap;
    if ((error = ch_svc_cert_renew_opts(r->svc, &r->who.actor, id, &o, &out)) < 0)
        reply_error(r, error);
    else {
        reply_cert(r, 201, &out);
        ch_store_cert_dispose(&out);
    }
    json_decref(body);
}

/* PATCH /cas/{id} {"name", "auto_rotate", "crl_urls", "ocsp_urls", "ca_issuers_urls"} */
static void ca_update(req *r, const char *id)
{
    json_t *body = read_json(r, F_CA_UPDATE);
    const char *name = NULL;
    int auto_rotate = -1, error; /* -1: kept */
    struct ca_url_lists lists;
    ch_svc_ca_urls urls;
    ch_store_ca ca;

    if (body == NULL || get_str(r, body, "name", &name) || get_bool(r, body, "auto_rotate", &auto_rotate) ||
        get_ca_urls(r, body, &lists, &urls))
        goto done;
    if ((error = ch_svc_ca_update(r->svc, &r->who.actor, id, name, auto_rotate, &urls, &ca)) < 0) {
        reply_error(r, error);
        goto done;
    }
    reply_json(r, 200, ca_json(r, &ca));
    ch_store_ca_dispose(&ca);
done:
    json_decref(body);
}

/* POST /cas/{id}/rotate: a new key and certificate made here; or, with {"certificate"|"data",
 * "csr_id"}, the renewal an outside CA signed (for a CSR made here, or of the CA's key). */
static void ca_rotate(req *r, const char *id)
{
    static const char *const F[] = {"certificate", "data", "csr_id", NULL};
    json_t *body = NULL;
    const char *cert = NULL, *data = NULL, *csr_id = NULL;
    ch_buf bytes = CH_BUF_INIT;
    ch_store_ca ca;
    int error;

    if (evbuffer_get_length(evhttp_request_get_input_buffer(r->ev)) > 0 &&
        ((body = read_json(r, F)) == NULL || get_str(r, body, "certificate", &cert) ||
         get_str(r, body, "data", &data) || get_str(r, body, "csr_id", &csr_id) ||
         pem_or_data(r, cert, data, "the renewed certificate") < 0 ||
         (data != NULL && get_base64_file(r, "data", data, &bytes) < 0)))
        goto done;
    if (cert == NULL && data == NULL && csr_id != NULL) {
        reply_error_msg(r, CH_EINVAL, "certificate", "csr_id goes with the certificate the outside CA signed for "
                        "that CSR: \"certificate\" (PEM) or \"data\" (the file in base64)");
        goto done;
    }
    if (cert != NULL || data != NULL)
        error = ch_svc_ca_rotate_signed(r->svc, &r->who.actor, id, data ? bytes.data : (const uint8_t *)cert,
                                        data ? bytes.len : strlen(cert), csr_id, &ca);
    else
        error = ch_svc_ca_rotate(r->svc, &r->who.actor, id, &ca);
    if (error < 0) {
        reply_error(r, error);
        goto done;
    }
    reply_json(r, 200, ca_json(r, &ca));
    ch_store_ca_dispose(&ca);
done:
    ch_buf_dispose(&bytes);
    json_decref(body);
}

/* Whether If-None-Match (every one sent: a list may span several) names the entity tag quoted
 * ("..."), as RFC 9110 13.1.2 compares: weakly (W/"..." is the same tag), any of a
 * comma-separated list, and "*" any tag at all. */
static bool etag_matches(req *r, const char *quoted)
{
    size_t qlen = strlen(quoted);

    for (struct evkeyval *kv = evhttp_request_get_input_headers(r->ev)->tqh_first; kv; kv = kv->next.tqe_next) {
        const char *p = kv->value;
        if (strcasecmp(kv->key, "If-None-Match") != 0)
            continue;
        while (*p != '\0') {
            size_t n;
            p += strspn(p, " \t,");
            if (*p == '*')
                return true;
            if (strncmp(p, "W/", 2) == 0)
                p += 2;
            n = *p == '"' && strchr(p + 1, '"') != NULL ? (size_t)(strchr(p + 1, '"') - p) + 1 : strcspn(p, ",");
            if (n == qlen && memcmp(p, quoted, n) == 0)
                return true;
            p += n;
        }
    }
    return false;
}

/* GET /bundles/{name}?format=pem|jks|p12 (password in the Certhub-Password header for the
 * truststores), with an ETag: If-None-Match answers 304 while the bundle is unchanged. */
static void bundle_reply(req *r, const char *name, bool public)
{
    const char *format = query(r, "format");
    const char *pw = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Certhub-Password");
    ch_format fmt = CH_FMT_PEM;
    ch_buf out = CH_BUF_INIT;
    char etag[65], quoted[70];
    int error;

    if (format && (ch_format_parse(&fmt, format) < 0 || (fmt != CH_FMT_PEM && fmt != CH_FMT_JKS && fmt != CH_FMT_PKCS12)))
        return reply_error_msg(r, CH_EINVAL, "format", "format must be pem, jks or p12 (pfx, pkcs12)");
    if (fmt != CH_FMT_PEM && (pw == NULL || *pw == '\0'))
        return reply_error_msg(r, CH_EINVAL, "password", "a jks or p12 truststore needs a password: Certhub-Password header");
    /* A PKCS#12 truststore's password costs its key derivation 3-4 ms, a JKS one about 1. */
    if (fmt != CH_FMT_PEM && hand_off(r))
        return;
    error = public ? ch_svc_bundle_public(r->svc, query(r, "tenant"), name, fmt, pw, &out, etag)
                   : ch_svc_bundle(r->svc, &r->who.actor, name, fmt, pw, &out, etag);
    if (error < 0) {
        ch_buf_dispose(&out);
        return reply_error(r, error);
    }
    snprintf(quoted, sizeof quoted, "\"%s\"", etag);
    evhttp_add_header(evhttp_request_get_output_headers(r->ev), "ETag", quoted);
    /* kept, and asked again with its ETag (a 304 while no CA changed) */
    evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Cache-Control", "no-cache");
    if (etag_matches(r, quoted))
        send_reply(r, 304, "Not Modified", NULL);
    else {
        char disp[2048], base[200];
        /* ("default-bundle.pem": the bundle named, said to be one) */
        snprintf(base, sizeof base, "%.180s-bundle", name);
        export_disposition(disp, sizeof disp, base, ch_format_name(fmt), "bundle");
        reply_file(r, format_type(fmt), out.data, out.len, disp);
    }
    ch_buf_dispose(&out);
}

static void bundle_get(req *r, const char *name)
{
    bundle_reply(r, name, false);
}

/* Adapters so every handler has one shape. */
static void h_certificates_list(req *r, const char *id) { (void)id; certificates_list(r); }
static void h_certificates_issue(req *r, const char *id) { (void)id; certificates_issue(r); }
static void h_certificate_import(req *r, const char *id) { (void)id; certificate_import(r); }
static void h_certificate_export_get(req *r, const char *id) { certificate_export(r, id, false); }
static void h_certificate_export_post(req *r, const char *id) { certificate_export(r, id, true); }
static void h_cas_list(req *r, const char *id) { (void)id; cas_list(r); }
static void h_cas_create(req *r, const char *id) { (void)id; cas_create(r); }
static void h_tenants_create(req *r, const char *id) { (void)id; tenants_create(r); }

/* DELETE /tenants/{id or name}: the tenant is revoked, not erased (its data and audit log stay). */
static void tenant_revoke(req *r, const char *id)
{
    int error = ch_svc_tenant_disable(r->svc, &r->who.actor, id);

    if (error < 0)
        return reply_error(r, error);
    tenant_get(r, id); /* the tenant as GET shows it, by its id */
}
/* PATCH /tenants/{id or name} {"status":"active"|"revoked"}: restored, or revoked as DELETE does. */
static void tenant_update(req *r, const char *id)
{
    static const char *const F[] = {"status", NULL};
    json_t *body = read_json(r, F);
    const char *status = NULL;
    int error;

    if (body == NULL || get_str(r, body, "status", &status))
        goto done;
    if (status == NULL || (strcmp(status, "active") != 0 && strcmp(status, "revoked") != 0)) {
        reply_error_msg(r, CH_EINVAL, "status", "status must be active (restore the tenant) or revoked");
        goto done;
    }
    error = strcmp(status, "active") == 0 ? ch_svc_tenant_restore(r->svc, &r->who.actor, id)
                                          : ch_svc_tenant_disable(r->svc, &r->who.actor, id);
    if (error < 0)
        reply_error(r, error);
    else
        tenant_get(r, id);
done:
    json_decref(body);
}
/* GET /overview: the tenant's certificates valid and expired now, and how many end in each of
 * the next 26 weeks, counted by the store (a list of every certificate in the browser was
 * wrong beyond its first page). */
static void overview(req *r, const char *unused)
{
    int64_t valid, expired, weeks[26];
    json_t *w = json_array();
    char at[32];
    int error = ch_svc_cert_expiry(r->svc, &r->who.actor, 7 * 86400, 26, &valid, &expired, weeks);

    (void)unused;
    if (error < 0) {
        json_decref(w);
        return reply_error(r, error);
    }
    for (size_t i = 0; i < 26; i++)
        json_array_append_new(w, json_integer(weeks[i]));
    ch_time_format(at, sizeof at, ch_now());
    reply_json(r, 200, json_pack("{ss s{sI sI so}}", "at", at, "certificates", "valid", (json_int_t)valid, "expired",
                                 (json_int_t)expired, "expiring_per_week", w));
}

static void h_tokens_create(req *r, const char *id) { (void)id; tokens_create(r); }
static void h_audit_list(req *r, const char *id) { (void)id; audit_list(r); }
static void h_csrs_create(req *r, const char *id) { (void)id; csrs_create(r); }
static void h_keystores_upload(req *r, const char *id) { (void)id; keystores_upload(r); }

/* Every route of the API.  "{id}" matches one path segment.  `certhubd --routes` prints this
 * table and a test holds it against docs/api/openapi.yaml.  LOOP: answered on the event loop
 * that read the request (a point read, an issuance that signs and queues its commit).  POOL:
 * handed to the pool of workers (hand_off): it may take long (an RSA key, a keystore's
 * password, a search of a million rows) or wait for a commit, and the loop's other
 * connections would wait with it. */
#define LOOP true
#define POOL false
/* The query parameters a route takes (space-separated; others are refused by name, so that a
 * misspelt filter is not a list unfiltered).  ?tenant comes with every GET read_as_tenant
 * honours. */
#define PAGE "limit cursor"

/* The next word of such a list: its start (NULL past the last), its length in *w; *p moves on. */
static const char *param_next(const char **p, size_t *w)
{
    const char *word = *p;

    if (word == NULL || *word == '\0')
        return NULL;
    *w = strcspn(word, " ");
    *p = word + *w + (word[*w] == ' ');
    return word;
}

/* POST /tidy {"expired_days", "dry_run"}: the tenant's certificates that ended more than
 * expired_days ago (the setting tidy_expired_days when absent) removed, or only listed; the
 * answer counts them all and names the first CH_TIDY_MAX_IDS. */
static void tidy_post(req *r, const char *unused)
{
    static const char *const F[] = {"expired_days", "dry_run", NULL};
    json_t *body = NULL, *ids, *o;
    ch_svc_tidy_result res;
    int days = 0, dry = 0, error;
    char cutoff[32];

    (void)unused;
    if (evbuffer_get_length(evhttp_request_get_input_buffer(r->ev)) > 0 &&
        ((body = read_json(r, F)) == NULL ||
         get_int(r, body, "expired_days", CH_TIDY_MIN_DAYS, CH_TIDY_MAX_DAYS, &days) ||
         get_bool(r, body, "dry_run", &dry)))
        goto done;
    if ((error = ch_svc_tidy(r->svc, &r->who.actor, days, dry, &res)) < 0) {
        reply_error(r, error);
        goto done;
    }
    ids = json_array();
    for (size_t i = 0; i < res.nids; i++)
        json_array_append_new(ids, json_string(res.ids[i]));
    ch_time_format(cutoff, sizeof cutoff, res.cutoff);
    o = json_pack("{sb si ss sI so sb}", "dry_run", dry, "expired_days", res.expired_days, "expired_before", cutoff,
                  "count", (json_int_t)res.count, "ids", ids, "ids_truncated", res.count > res.nids);
    reply_json(r, 200, o);
    ch_svc_tidy_result_dispose(&res);
done:
    json_decref(body);
}

static const struct route {
    enum evhttp_cmd_type method;
    const char *pattern;
    void (*handler)(req *r, const char *id);
    bool on_loop;
    const char *params;
} routes[] = {
    {EVHTTP_REQ_GET, "certificates", h_certificates_list, POOL, PAGE " search expiring_before ca_id kind method status"},
    {EVHTTP_REQ_POST, "certificates", h_certificates_issue, LOOP, NULL},
    {EVHTTP_REQ_POST, "certificates/import", h_certificate_import, POOL, "name preview file_name"},
    {EVHTTP_REQ_GET, "certificates/{id}", certificate_get, LOOP, NULL},
    {EVHTTP_REQ_PATCH, "certificates/{id}", certificate_rename, POOL, NULL},
    {EVHTTP_REQ_DELETE, "certificates/{id}", certificate_delete, POOL, NULL},
    {EVHTTP_REQ_GET, "certificates/{id}/export", h_certificate_export_get, POOL, "format"},
    {EVHTTP_REQ_POST, "certificates/{id}/export", h_certificate_export_post, POOL, NULL},
    {EVHTTP_REQ_POST, "certificates/{id}/private-key", certificate_private_key, POOL, NULL},
    {EVHTTP_REQ_POST, "certificates/{id}/renew", certificate_renew, POOL, NULL},
    {EVHTTP_REQ_GET, "cas", h_cas_list, POOL, PAGE},
    {EVHTTP_REQ_POST, "cas", h_cas_create, POOL, NULL},
    {EVHTTP_REQ_GET, "cas/{id}", ca_get, LOOP, NULL},
    {EVHTTP_REQ_PATCH, "cas/{id}", ca_update, POOL, NULL},
    {EVHTTP_REQ_DELETE, "cas/{id}", ca_delete, POOL, "force"},
    {EVHTTP_REQ_GET, "cas/{id}/chain", ca_chain, LOOP, NULL},
    {EVHTTP_REQ_POST, "cas/{id}/rotate", ca_rotate, POOL, NULL},
    {EVHTTP_REQ_GET, "bundles/{id}", bundle_get, LOOP, "format"},
    {EVHTTP_REQ_GET, "csrs", csrs_list, POOL, PAGE},
    {EVHTTP_REQ_POST, "csrs", h_csrs_create, POOL, NULL},
    {EVHTTP_REQ_GET, "csrs/{id}", csr_get, LOOP, NULL},
    {EVHTTP_REQ_GET, "csrs/{id}/export", csr_export, LOOP, "format"},
    {EVHTTP_REQ_POST, "csrs/{id}/certificate", csr_attach, POOL, NULL},
    {EVHTTP_REQ_DELETE, "csrs/{id}", csr_delete, POOL, NULL},
    {EVHTTP_REQ_GET, "keystores", keystores_list, POOL, PAGE},
    {EVHTTP_REQ_POST, "keystores", h_keystores_upload, POOL, "name"},
    {EVHTTP_REQ_GET, "keystores/{id}", keystore_get, LOOP, NULL},
    {EVHTTP_REQ_GET, "keystores/{id}/entries", keystore_entries, POOL, PAGE},
    {EVHTTP_REQ_POST, "keystores/{id}/entries", keystore_entry_add, POOL, NULL},
    {EVHTTP_REQ_GET, "keystores/{id}/entries/{alias}", keystore_entry, POOL, NULL},
    {EVHTTP_REQ_PATCH, "keystores/{id}/entries/{alias}", keystore_entry_rename, POOL, NULL},
    {EVHTTP_REQ_DELETE, "keystores/{id}/entries/{alias}", keystore_entry_delete, POOL, NULL},
    {EVHTTP_REQ_POST, "keystores/{id}/export", keystore_export, POOL, NULL},
    {EVHTTP_REQ_PATCH, "keystores/{id}", keystore_rename, POOL, NULL},
    {EVHTTP_REQ_DELETE, "keystores/{id}", keystore_delete, POOL, NULL},
    {EVHTTP_REQ_GET, "trusted-certificates", trusted_list, POOL, PAGE " list"},
    {EVHTTP_REQ_POST, "trusted-certificates", trusted_add, POOL, "name auto_registration status enabled preview list"},
    {EVHTTP_REQ_POST, "trusted-certificates/bulk", trusted_bulk, POOL, "auto_registration status enabled list"},
    {EVHTTP_REQ_GET, "trusted-certificates/{id}", trusted_get, LOOP, NULL},
    {EVHTTP_REQ_PATCH, "trusted-certificates/{id}", trusted_update, POOL, NULL},
    {EVHTTP_REQ_DELETE, "trusted-certificates/{id}", trusted_delete, POOL, NULL},
    {EVHTTP_REQ_POST, "trusted-certificates/{id}/verification-code", trusted_code, POOL, NULL},
    {EVHTTP_REQ_POST, "trusted-certificates/{id}/verify", trusted_verify, POOL, NULL},
    {EVHTTP_REQ_GET, "users", users_list, POOL, PAGE},
    {EVHTTP_REQ_POST, "users", users_create, POOL, NULL},
    {EVHTTP_REQ_PATCH, "users/{id}", user_update, POOL, NULL},
    {EVHTTP_REQ_DELETE, "users/{id}", user_delete, POOL, NULL},
    {EVHTTP_REQ_GET, "session", session_get, LOOP, NULL},
    {EVHTTP_REQ_DELETE, "session", session_delete, POOL, NULL},
    {EVHTTP_REQ_PATCH, "session", session_switch, POOL, NULL},
    {EVHTTP_REQ_POST, "session/password", session_password, POOL, NULL},
    {EVHTTP_REQ_GET, "settings", settings_get, LOOP, NULL},
    {EVHTTP_REQ_PATCH, "settings", settings_update, POOL, NULL},
    {EVHTTP_REQ_POST, "tidy", tidy_post, POOL, NULL},
    {EVHTTP_REQ_POST, "device-auth", device_auth, POOL, NULL},
    {EVHTTP_REQ_GET, "device-decisions", device_decisions, POOL, PAGE " device_id result unattributed"},
    {EVHTTP_REQ_GET, "devices", devices_list, POOL, PAGE " trusted_id status"},
    {EVHTTP_REQ_POST, "devices", device_register, POOL, NULL},
    {EVHTTP_REQ_GET, "devices/{id}", device_get, LOOP, NULL},
    {EVHTTP_REQ_PATCH, "devices/{id}", device_update, POOL, NULL},
    {EVHTTP_REQ_DELETE, "devices/{id}", device_delete, POOL, NULL},
    {EVHTTP_REQ_GET, "tenants", tenants_list, POOL, PAGE},
    {EVHTTP_REQ_POST, "tenants", h_tenants_create, POOL, NULL},
    {EVHTTP_REQ_GET, "tenants/{id}", tenant_get, LOOP, NULL},
    {EVHTTP_REQ_DELETE, "tenants/{id}", tenant_revoke, POOL, NULL},
    {EVHTTP_REQ_PATCH, "tenants/{id}", tenant_update, POOL, NULL},
    {EVHTTP_REQ_GET, "tokens", tokens_list, POOL, PAGE},
    {EVHTTP_REQ_POST, "tokens", h_tokens_create, POOL, NULL},
    {EVHTTP_REQ_GET, "tokens/{id}", token_get, LOOP, NULL},
    {EVHTTP_REQ_DELETE, "tokens/{id}", token_revoke, POOL, "cascade"},
    {EVHTTP_REQ_GET, "audit", h_audit_list, POOL, PAGE " order action actor object_type object_id since until after"},
    {EVHTTP_REQ_GET, "overview", overview, POOL, NULL},
    {EVHTTP_REQ_GET, "profiles", profiles_list, LOOP, PAGE},
    {EVHTTP_REQ_POST, "profiles", profiles_create, POOL, NULL},
    {EVHTTP_REQ_GET, "profiles/{id}", profile_get, LOOP, NULL},
    {EVHTTP_REQ_PUT, "profiles/{id}", profile_update, POOL, NULL},
    {EVHTTP_REQ_DELETE, "profiles/{id}", profile_delete, POOL, NULL},
};

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_PATCH: return "PATCH";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_PUT: return "PUT";
    default: return "?";
    }
}

extern const unsigned char console_index_html[], console_app_js[], console_style_css[];
extern const size_t console_index_html_len, console_app_js_len, console_style_css_len;

/* The web console's files (embedded at build time), with headers that keep it to itself:
 * scripts and styles from this origin only, never framed, types not sniffed. */
static void console_file(req *r, const char *path)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
    const unsigned char *data;
    size_t len;
    const char *type;

    if (req_command(r) != EVHTTP_REQ_GET)
        return reply_error_msg(r, CH_ENOTFOUND, NULL, "no such resource; the API lives under /api/v1/");
    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
        data = console_index_html, len = console_index_html_len, type = "text/html; charset=utf-8";
    } else if (strcmp(path, "/app.js") == 0) {
        data = console_app_js, len = console_app_js_len, type = "text/javascript; charset=utf-8";
    } else if (strcmp(path, "/style.css") == 0) {
        data = console_style_css, len = console_style_css_len, type = "text/css; charset=utf-8";
    } else {
        return reply_error_msg(r, CH_ENOTFOUND, NULL, "no such resource; the API lives under /api/v1/");
    }
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    reply_text(r, type, data, len, NULL);
}

extern const unsigned char openapi_yaml[];
extern const size_t openapi_yaml_len;

void api_print_routes(void)
{
    printf("GET /api/v1/health\n");
    printf("GET /api/v1/openapi.yaml\n");
    printf("POST /api/v1/session\n");
    /* Then the query parameters each takes, as "?a&b". */
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const char *p = routes[i].params, *word;
        char sep = '?';
        size_t w;
        printf("%s /api/v1/%s", method_name(routes[i].method), routes[i].pattern);
        for (; (word = param_next(&p, &w)) != NULL; sep = '&')
            printf("%c%.*s", sep, (int)w, word);
        if (tenant_readable(routes[i].method, routes[i].pattern))
            printf("%ctenant", sep);
        printf("\n");
    }
}

/* Matches path against pattern; an "{id}" segment is copied to id (at most one per pattern).
 * "{alias}", last in a pattern, takes the rest of the path, slashes and all (a keystore alias
 * may hold one), into *rest. */
static bool match(const char *pattern, const char *path, char *id, size_t idsize, const char **rest)
{
    while (*pattern && *path) {
        if (strcmp(pattern, "{alias}") == 0) {
            *rest = path;
            return true;
        }
        if (strncmp(pattern, "{id}", 4) == 0) {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= idsize)
                return false;
            memcpy(id, path, n);
            id[n] = '\0';
            path += n;
            pattern += 4;
            continue;
        }
        if (*pattern++ != *path++)
            return false;
    }
    return *pattern == '\0' && *path == '\0';
}

/* Whether the path as sent (raw) has an encoded slash ("%2F") only where {alias}, which takes the
 * rest of the path slashes and all, begins: the path is matched decoded, and elsewhere
 * "certificates/crt_1%2Fexport" (an id that names no certificate) was the export of crt_1,
 * and "keystores/kst_1%2Fentries%2Fweb" on a DELETE the removal of an entry. */
static bool slashes_as_sent(const char *pattern, const char *raw)
{
    const char *alias = strstr(pattern, "{alias}");
    size_t slashes = 3; /* "/api/v1/" */
    const char *end;

    for (const char *q = pattern; *q && (alias == NULL || q < alias); q++)
        slashes += *q == '/';
    for (end = raw; *end && (alias == NULL || slashes > 0); end++)
        slashes -= *end == '/';
    for (const char *q = raw; q + 3 <= end; q++)
        if (q[0] == '%' && q[1] == '2' && (q[2] == 'F' || q[2] == 'f'))
            return false;
    return true;
}

/* Every route counted in /metrics: the counters were once sized for fewer routes than the table
 * came to hold, and its last ones (profiles, overview) went uncounted. */
_Static_assert(sizeof routes / sizeof routes[0] + 1 <= NROUTES_MAX, "NROUTES_MAX holds every route and \"other\"");

size_t api_route_count(void)
{
    return sizeof routes / sizeof routes[0] + 1;
}

const char *api_route_label(size_t i)
{
    static char labels[NROUTES_MAX][80];
    static _Atomic int ready;

    if (!ready) {
        snprintf(labels[0], sizeof labels[0], "other");
        for (size_t k = 0; k + 1 < api_route_count(); k++)
            snprintf(labels[k + 1], sizeof labels[k + 1], "%s /api/v1/%s", method_name(routes[k].method),
                     routes[k].pattern);
        ready = 1;
    }
    return labels[i];
}

static void dispatch(req *r, size_t *route_index);

/* match, and the path as sent has its slashes where the pattern has them. */
static bool route_matches(req *r, const char *pattern, const char *path, char *id, size_t idsize)
{
    return match(pattern, path, id, idsize, &r->sub) &&
           (r->raw_path == NULL || slashes_as_sent(pattern, r->raw_path));
}

/* What a scoped token may do: read its certificates (details, export, key when allowed) and
 * bundles; one limited to issuing also issues (under its scope's profiles and CAs, which the
 * service checks) and renews or changes what it issued; nothing else. */
static bool scoped_route_allowed(req *r, const char *pattern, const char *id)
{
    enum evhttp_cmd_type m = req_command(r);
    char obj[CH_ID_MAX + 8];

    if (strcmp(pattern, "certificates") == 0 && (m == EVHTTP_REQ_POST || m == EVHTTP_REQ_GET))
        return ch_svc_scope_issues(r->who.scope);
    if ((strcmp(pattern, "certificates/{id}/renew") == 0 && m == EVHTTP_REQ_POST) ||
        (strcmp(pattern, "certificates/{id}") == 0 && m == EVHTTP_REQ_PATCH))
        return ch_svc_scope_issued(r->svc, &r->who, id);
    if (strcmp(pattern, "certificates/{id}") == 0 || strcmp(pattern, "certificates/{id}/export") == 0 ||
        strcmp(pattern, "certificates/{id}/private-key") == 0)
        return (req_command(r) == EVHTTP_REQ_GET || strcmp(pattern, "certificates/{id}") != 0) &&
               ch_svc_scope_allows(r->svc, &r->who, id);
    if (strcmp(pattern, "bundles/{id}") == 0) {
        snprintf(obj, sizeof obj, "bundle:%s", id);
        return ch_svc_scope_allows(r->svc, &r->who, obj);
    }
    return strcmp(pattern, "session") == 0 && req_command(r) == EVHTTP_REQ_GET;
}

/* GET ...?tenant=NAME (or id): the installation's admins, who may make tokens for any tenant
 * and switch tenants in the console, read another tenant's lists and objects with their own
 * token; anyone else may name only their own tenant (another is "no such tenant", as if it
 * did not exist).  Writes, exports and keys stay with the caller's own tenant. */
static bool tenant_readable(enum evhttp_cmd_type m, const char *pattern)
{
    return m == EVHTTP_REQ_GET && strncmp(pattern, "tenants", 7) != 0 && strcmp(pattern, "session") != 0 &&
           strcmp(pattern, "users") != 0 && strcmp(pattern, "settings") != 0 && strstr(pattern, "/export") == NULL &&
           strstr(pattern, "private-key") == NULL;
}

static int read_as_tenant(req *r, const char *pattern)
{
    const char *name = query(r, "tenant");
    ch_store_tenant t = {0};

    if (name == NULL || !tenant_readable(req_command(r), pattern))
        return 0;
    if ((ch_store_tenant_get_by_name(ch_svc_store(r->svc), &t, name) < 0 &&
         ch_store_tenant_get(ch_svc_store(r->svc), &t, name) < 0) ||
        (strcmp(t.id, r->who.actor.tenant_id) != 0 && !(r->who.actor.perms & CH_PERM_TENANTS))) {
        ch_store_tenant_dispose(&t);
        reply_error_msg(r, CH_ENOTFOUND, "tenant", "no such tenant");
        return -1;
    }
    snprintf(r->who.tenant_id, sizeof r->who.tenant_id, "%s", t.id);
    r->who.actor.tenant_id = r->who.tenant_id;
    ch_store_tenant_dispose(&t);
    return 0;
}

/* Whether name is a word of the space-separated list; its index into *at. */
static bool param_in(const char *list, const char *name, unsigned *at)
{
    size_t len = strlen(name), w;
    unsigned i = 0;

    for (const char *p = list, *word; (word = param_next(&p, &w)) != NULL; i++)
        if (w == len && strncmp(word, name, len) == 0) {
            *at = i;
            return true;
        }
    return false;
}

/* Refuses (400, -1) a query parameter the route does not take, or one given twice: what the
 * route takes is said, so that a misspelt filter is found at once rather than read as none. */
static int query_params_known(req *r, const char *method, const char *pattern, const char *params, bool tenant)
{
    static const char *const enums[] = {"format", "kind", "method", "order", "result", "status"};
    unsigned seen = 0, at;
    char msg[400];

    for (struct evkeyval *kv = r->query.tqh_first; kv; kv = kv->next.tqe_next) {
        bool known = param_in(params, kv->key, &at);
        if (!known && tenant && strcmp(kv->key, "tenant") == 0) {
            known = true;
            at = 31; /* past any route's own */
        }
        if (known) {
            /* Empty is none: a filter "ca_id=" listed nothing (no CA has that id), another
             * refused it, a cursor took it as the first page.  A cursor still does (a client
             * that sends next_cursor back as it came); the rest say so. */
            if (kv->value[0] == '\0' && strcmp(kv->key, "cursor") != 0) {
                snprintf(msg, sizeof msg, "the query parameter \"%.64s\" is empty: give it a value, or leave it out",
                         kv->key);
                reply_error_msg(r, CH_EINVAL, kv->key, msg);
                return -1;
            }
            /* The words a value is one of are taken in any case, as certificates' export took
             * format=PEM and a CSR's refused it. */
            for (size_t k = 0; k < sizeof enums / sizeof enums[0]; k++)
                if (strcmp(kv->key, enums[k]) == 0)
                    for (char *c = kv->value; *c; c++)
                        *c = (char)tolower((unsigned char)*c);
            if (seen & (1u << at)) {
                snprintf(msg, sizeof msg, "the query parameter \"%.64s\" is given twice", kv->key);
                reply_error_msg(r, CH_EINVAL, kv->key, msg);
                return -1;
            }
            seen |= 1u << at;
            continue;
        }
        if (strcmp(kv->key, "tenant") == 0) {
            snprintf(msg, sizeof msg, "%s /api/v1/%s does not take \"tenant\": it reads another tenant's lists and "
                     "objects; writes, exports, keys, settings and users stay with the token's own tenant", method,
                     pattern);
        } else if ((params == NULL || *params == '\0') && !tenant) {
            snprintf(msg, sizeof msg, "unknown query parameter \"%.64s\": %s /api/v1/%s takes no query parameters",
                     kv->key, method, pattern);
        } else {
            const char *p = params, *word, *sep = "";
            size_t w;
            int n = snprintf(msg, sizeof msg, "unknown query parameter \"%.64s\": %s /api/v1/%s takes ", kv->key,
                             method, pattern);
            for (; (word = param_next(&p, &w)) != NULL && n > 0 && (size_t)n < sizeof msg; sep = ", ")
                n += snprintf(msg + n, sizeof msg - (size_t)n, "%s%.*s", sep, (int)w, word);
            if (tenant && n > 0 && (size_t)n < sizeof msg)
                snprintf(msg + n, sizeof msg - (size_t)n, "%stenant", sep);
        }
        reply_error_msg(r, CH_EINVAL, kv->key, msg);
        return -1;
    }
    return 0;
}

/* One request in /metrics, once answered with status. */
static void count_request(size_t route, const struct timespec *t0, int status)
{
    struct timespec t1;
    int cls = status >= 100 && status < 600 ? status / 100 - 1 : 4;
    unsigned long us;
    size_t k = 0;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    us = (unsigned long)((t1.tv_sec - t0->tv_sec) * 1000000L + (t1.tv_nsec - t0->tv_nsec) / 1000);
    while (k < NBUCKETS && us > bucket_us[k])
        k++;
    if (route < NROUTES_MAX) {
        /* A request past the last bound is counted in m_requests alone (the +Inf bucket). */
        if (k < NBUCKETS)
            atomic_fetch_add(&m_buckets[route][cls][k], 1);
        atomic_fetch_add(&m_micros[route][cls], us);
        atomic_fetch_add(&m_requests[route][cls], 1);
    }
}

void api_dispatch(req *r)
{
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    r->route = 0;
    dispatch(r, &r->route);
    if (!r->deferred)
        count_request(r->route, &r->t0, reply_status(r));
}

/* A header that says one thing, sent twice: the first was read and the second dropped, so two
 * credentials gave the rights of whichever came first.  Refused, naming it. */
static int headers_once(req *r)
{
    static const char *const once[] = {"Authorization",        "Content-Type",   "Certhub-Password",
                                       "Certhub-Key-Password", "X-CSRF-Token", NULL};
    unsigned seen = 0;
    char msg[120];

    /* (one walk of the headers: this is every request's) */
    for (struct evkeyval *kv = evhttp_request_get_input_headers(r->ev)->tqh_first; kv; kv = kv->next.tqe_next)
        for (unsigned k = 0; once[k] != NULL; k++) {
            if (strcasecmp(kv->key, once[k]) != 0)
                continue;
            if (seen & (1u << k)) {
                snprintf(msg, sizeof msg, "the %s header is sent more than once: send it once", once[k]);
                reply_error_msg(r, CH_EINVAL, NULL, msg);
                return -1;
            }
            seen |= 1u << k;
        }
    return 0;
}

/* A certificate named by its serial or its SHA-256 (hex, colons and case as any tool writes
 * them: 4D:38:15..., 4d3815...) in place of its id, as Vault's pki/cert/:serial and cfssl's
 * certinfo -serial find one: replaced by the id of the tenant's certificate, or answered 404
 * (409 for a serial of several).  An id, or what is no number, goes on as it is. */
static int cert_by_number(req *r, char *id, size_t idsize)
{
    char hex[100], found[CH_ID_MAX];
    size_t n = 0;
    int error;

    if (strncmp(id, "crt_", 4) == 0)
        return 0;
    for (const char *p = id; *p != '\0'; p++) {
        if (*p == ':')
            continue;
        if (!isxdigit((unsigned char)*p) || n + 1 >= sizeof hex)
            return 0;
        hex[n++] = (char)tolower((unsigned char)*p);
    }
    hex[n] = '\0';
    if (n < 2)
        return 0;
    if (n != 64) { /* a serial, without its leading zeros */
        size_t z = strspn(hex, "0");
        memmove(hex, hex + z, n - z + 1);
        if (hex[0] == '\0')
            return 0;
    }
    if ((error = ch_store_cert_id_by_number(ch_svc_store(r->svc), r->who.actor.tenant_id, hex, found)) < 0) {
        /* A token limited by its scope is told no more of a number that names nothing than of
         * one that names another's certificate: its scope refuses the number as it stands. */
        if (r->who.scope[0] && (error == CH_ENOTFOUND || error == CH_ECONFLICT)) {
            ch_error_clear();
            return 0;
        }
        reply_error(r, error);
        return -1;
    }
    snprintf(id, idsize, "%s", found);
    return 0;
}

static void dispatch(req *r, size_t *route_index)
{
    enum evhttp_cmd_type m = req_command(r);
    const char *p = r->path;
    /* (room for a certificate's SHA-256 written with colons, which cert_by_number turns into
     * its id; any other id is shorter than CH_ID_MAX, or no id at all) */
    char id[100] = "", allow[96] = "";
    size_t i = 0, nroutes = sizeof routes / sizeof routes[0];

    if (headers_once(r) < 0)
        return;
    if (strcmp(p, "/api/v1/health") == 0 || strcmp(p, "/metrics") == 0 || strcmp(p, "/api/v1/openapi.yaml") == 0) {
        if (m != EVHTTP_REQ_GET)
            return reply_method_not_allowed(r, "GET, HEAD");
        /* None of the three takes a parameter: one given is a mistake said, as on every route. */
        if (r->query.tqh_first != NULL) {
            char msg[160];
            snprintf(msg, sizeof msg, "unknown query parameter \"%.64s\": GET %s takes no query parameters",
                     r->query.tqh_first->key, p);
            return reply_error_msg(r, CH_EINVAL, r->query.tqh_first->key, msg);
        }
        if (strcmp(p, "/metrics") == 0) {
            /* Its counts read the whole store (0.1 s at 1,000,000 certificates). */
            if (hand_off(r) || need_auth(r) < 0)
                return;
            /* A token limited to its objects reads those alone, not its tenant's figures. */
            if (r->who.scope[0])
                return reply_error_msg(r, CH_EPERM, NULL, "this token is limited by its scope (objects it reads, or "
                                       "certificates it issues): it reads no figures of its tenant");
            return metrics(r);
        }
        if (strcmp(p, "/api/v1/health") == 0)
            return reply_json(r, 200, json_pack("{ss}", "status", "ok"));
        return reply_text(r, "application/yaml", openapi_yaml, openapi_yaml_len, NULL);
    }
    if (strcmp(p, "/api/v1/session") == 0 && m == EVHTTP_REQ_POST) { /* signing in needs no credential */
        if (hand_off(r)) /* the password's hash is slow on purpose */
            return;
        return session_create(r);
    }
    if (strncmp(p, "/api/v1/", 8) != 0)
        return console_file(r, p);
    /* A trust bundle is read without a token where its tenant made it public (the tenant named
     * by ?tenant, "default" when none). */
    if (m == EVHTTP_REQ_GET && route_matches(r, "bundles/{id}", p + 8, id, sizeof id) &&
        evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Authorization") == NULL &&
        session_cookie(r, (char[128]){0}, 128) == NULL) {
        while (routes[i].handler != bundle_get)
            i++;
        *route_index = i + 1; /* counted in /metrics with the route */
        if (query_params_known(r, "GET", routes[i].pattern, routes[i].params, true) < 0)
            return;
        return bundle_reply(r, id, true);
    }
    p += 8;
    /* The route, found once: the first whose method and pattern match.  One the workers answer
     * is handed to them before the token is checked (there, with the rest of the request). */
    while (i < nroutes && !(routes[i].method == m && route_matches(r, routes[i].pattern, p, id, sizeof id)))
        i++;
    if (i < nroutes && !routes[i].on_loop && hand_off(r))
        return;
    if (need_auth(r) < 0)
        return;
    if (i < nroutes) {
        bool cert_route = strncmp(routes[i].pattern, "certificates/{id}", 17) == 0;
        *route_index = i + 1;
        /* A token limited to its objects names them by serial or SHA-256 too: resolved in its
         * own tenant before its scope is asked (it was refused them). */
        if (r->who.scope[0] && cert_route && cert_by_number(r, id, sizeof id) < 0)
            return;
        if (r->who.scope[0] && !scoped_route_allowed(r, routes[i].pattern, id))
            return reply_error_msg(r, CH_EPERM, NULL,
                                   ch_svc_scope_issues(r->who.scope)
                                       ? "this token is limited by its scope: it issues certificates (POST "
                                         "/api/v1/certificates) and lists, reads, exports, renews and changes those "
                                         "it issued, and reads the objects its scope names; nothing else"
                                       : "this token is limited to the objects named in its scope, and to reading "
                                         "and exporting them (a certificate's details, export and key; a bundle): "
                                         "it changes nothing, in its scope or out of it");
        if (query_params_known(r, method_name(m), routes[i].pattern, routes[i].params,
                               tenant_readable(m, routes[i].pattern)) < 0)
            return;
        if (read_as_tenant(r, routes[i].pattern) < 0)
            return;
        if (!r->who.scope[0] && cert_route && cert_by_number(r, id, sizeof id) < 0)
            return;
        if (strlen(id) >= CH_ID_MAX)
            return reply_error_msg(r, CH_ENOTFOUND, NULL, "no such resource");
        /* A DELETE takes no field (its options are in the query): one sent ({"cascade":true})
         * was dropped unread, and the deletion done without it. */
        if (m == EVHTTP_REQ_DELETE && no_body(r) < 0)
            return;
        return routes[i].handler(r, id);
    }
    /* A known path asked with another method: its methods, in the table's order; GET brings
     * HEAD. */
    for (i = 0; i < nroutes; i++)
        if (route_matches(r, routes[i].pattern, p, id, sizeof id))
            snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s%s", allow[0] ? ", " : "",
                     method_name(routes[i].method), routes[i].method == EVHTTP_REQ_GET ? ", HEAD" : "");
    if (allow[0])
        return reply_method_not_allowed(r, allow);
    reply_error_msg(r, CH_ENOTFOUND, NULL, "no such resource");
}
