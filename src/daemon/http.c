/* The HTTPS server: libevent evhttp over bufferevent_openssl, one event loop per worker
 * thread sharing the listening socket, so signing uses every core. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h> /* the request's HTTP version: no accessor in 2.1 */
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "daemon.h"

/* The reason phrase of a status: libevent's table stops at 417 and 505, and names the others
 * by their class ("Client Error"). */
static const char *reason_phrase(int status)
{
    switch (status) {
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 507:
        return "Insufficient Storage";
    default:
        return NULL; /* libevent's own */
    }
}

/* Answers with JSON text and a newline (NULL: an empty body). */
static void send_json(req *r, int status, const void *text, size_t len)
{
    struct evbuffer *buf = evbuffer_new();

    evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Content-Type", "application/json");
    if (text) {
        evbuffer_add(buf, text, len);
        evbuffer_add(buf, "\n", 1);
    }
    send_reply(r, status, reason_phrase(status), buf);
    evbuffer_free(buf);
}

void reply_json_text(req *r, int status, const ch_buf *body)
{
    send_json(r, status, body->data ? (const void *)body->data : "", body->len);
}

void reply_json(req *r, int status, json_t *body)
{
    /* 15 significant digits, those a double holds for any decimal: 2/3 reads
     * 0.666666666666667, not 0.66666666666666663, and what was sent as 0.75 reads 0.75. */
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)) : NULL;

    send_json(r, status, text, text ? strlen(text) : 0);
    ch_secure_free_block(text); /* an answer may be a token made now */
    json_decref(body);
}

/* An error answer, written by hand: a message often quotes the request (a name, a path) and
 * jansson refuses a string that is not UTF-8, which left such an answer without a body; here
 * those bytes become U+FFFD. */
static bool error_json(ch_buf *b, const char *code, const char *field, const char *msg, const char *reason)
{
    ch_jw w, e;

    ch_jw_begin(&w, b);
    ch_jw_key(&w, "error");
    ch_jw_begin(&e, b);
    ch_jw_str(&e, "code", code);
    ch_jw_str(&e, "message", msg);
    if (field)
        ch_jw_str(&e, "field", field);
    if (reason)
        ch_jw_str(&e, "reason", reason);
    ch_jw_end(&e);
    ch_jw_end(&w);
    return !w.oom && !e.oom;
}

static void reply_error_as(req *r, int status, const char *code, const char *field, const char *msg,
                           const char *reason)
{
    ch_buf b = CH_BUF_INIT;

    if (!error_json(&b, code, field, msg, reason))
        send_json(r, status, NULL, 0);
    else
        reply_json_text(r, status, &b);
    ch_buf_dispose(&b);
}

static void reply_error_text(req *r, int code, const char *field, const char *msg, const char *reason)
{
    reply_error_as(r, ch_error_http_status(code), ch_error_code_string(code), field, msg, reason);
}

void reply_method_not_allowed(req *r, const char *allow)
{
    char msg[200];

    snprintf(msg, sizeof msg, "this resource takes %s", allow);
    evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Allow", allow);
    reply_error_as(r, 405, "method_not_allowed", NULL, msg, NULL);
}

void reply_error_msg(req *r, int code, const char *field, const char *msg)
{
    reply_error_text(r, code, field, msg, NULL);
}

void reply_error(req *r, int code)
{
    reply_error_text(r, code, ch_error_field(), ch_error_last()[0] ? ch_error_last() : ch_error_code_string(code),
                     ch_error_reason());
}

/* A request answered on a worker of the pool: its answer is kept here, and sent by the loop
 * that took it (evhttp's connections are the loop's alone).  The request's headers are the
 * worker's meanwhile: evhttp reads nothing more from the connection until it is answered. */
struct job {
    struct evhttp_request *ev;
    ch_svc *svc;
    later *l;
    int status;          /* 0 until answered */
    const char *reason;  /* static text, or NULL */
    struct evbuffer *body;
    bool with_body;
    struct job *next;
};
static _Thread_local struct job *this_job; /* the request a worker is answering */

void send_reply(req *r, int status, const char *reason, struct evbuffer *body)
{
    bool head = evhttp_request_get_command(r->ev) == EVHTTP_REQ_HEAD, with_body = !head && body != NULL;
    struct job *j = this_job;
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->ev);

    /* Every answer: its type as said (never sniffed), and kept by no cache unless it says
     * otherwise (a key, a keystore, a certificate list: none belongs in a proxy's or a
     * browser's cache). */
    if (evhttp_find_header(out, "X-Content-Type-Options") == NULL)
        evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
    if (evhttp_find_header(out, "Cache-Control") == NULL)
        evhttp_add_header(out, "Cache-Control", "no-store");

    /* HEAD: the header fields a GET would have had, its length among them (RFC 9110 9.3.2);
     * evhttp adds a Content-Length only where it sends a body. */
    if (head && body != NULL) {
        struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
        char len[24];
        snprintf(len, sizeof len, "%zu", evbuffer_get_length(body));
        if (evhttp_find_header(h, "Content-Length") == NULL)
            evhttp_add_header(h, "Content-Length", len);
    }

    if (j != NULL && j->ev == r->ev) {
        if (j->status == 0 && (!with_body || evbuffer_add_buffer(j->body, body) == 0)) {
            j->status = status;
            j->reason = reason;
            j->with_body = with_body;
        }
        return;
    }
    evhttp_send_reply(r->ev, status, reason, with_body ? body : NULL);
}

bool on_worker(void)
{
    return this_job != NULL;
}

int reply_status(req *r)
{
    if (this_job != NULL && this_job->ev == r->ev)
        return this_job->status;
    return evhttp_request_get_response_code(r->ev);
}

enum evhttp_cmd_type req_command(req *r)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(r->ev);

    return m == EVHTTP_REQ_HEAD ? EVHTTP_REQ_GET : m;
}

const char *query(req *r, const char *name)
{
    return evhttp_find_header(&r->query, name);
}

/* 400 naming the first field of obj that allowed does not list, the message made of before,
 * the field's name quoted, after, and the list of what is allowed. */
static int fields_refuse(req *r, json_t *obj, const char *const *allowed, const char *field, const char *before,
                         const char *after)
{
    const char *key;
    json_t *v;
    char msg[400];
    size_t used;

    json_object_foreach(obj, key, v) {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (allowed[i])
            continue;
        used = (size_t)snprintf(msg, sizeof msg, "%s\"%.64s\"%s", before, key, after);
        for (i = 0; allowed[i] && used < sizeof msg; i++)
            used += (size_t)snprintf(msg + used, sizeof msg - used, "%s %s", i ? "," : "", allowed[i]);
        /* (a route that takes no field: said so, not "accepted:" and nothing) */
        if (allowed[0] == NULL)
            snprintf(msg, sizeof msg, "%s\"%.64s\": this request takes no field: send no body, or {}", before, key);
        reply_error_msg(r, CH_EINVAL, field ? field : key, msg);
        return -1;
    }
    return 0;
}

/* 400 naming the first field of obj that allowed does not list; within names the object
 * (an object inside the body, such as "subject"), NULL for the body itself. */
int only_fields_in(req *r, json_t *obj, const char *const *allowed, const char *within)
{
    char after[100];

    snprintf(after, sizeof after, "%s%s; accepted:", within ? " in " : "", within ? within : "");
    return fields_refuse(r, obj, allowed, within, "unknown field ", after);
}

/* 400 naming a field of obj that the kind of request it is (what, "a root CA") does not
 * take, though the route takes it for another kind: a field that would go unread is refused,
 * not ignored. */
int only_fields_for(req *r, json_t *obj, const char *const *allowed, const char *what)
{
    char after[160];

    snprintf(after, sizeof after, " does not apply to %s, which takes:", what);
    return fields_refuse(r, obj, allowed, NULL, "", after);
}

/* Whether a Content-Type is JSON's: a media type is case-insensitive, and may carry
 * parameters (RFC 9110 8.3.1). */
static bool is_json_type(const char *ct)
{
    return ct != NULL && strncasecmp(ct, "application/json", 16) == 0 &&
           (ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ' || ct[16] == '\t');
}

/* JSON is UTF-8 (RFC 8259 8.1): a body said to be in another charset was read as UTF-8 all the
 * same, and refused for a byte of it.  415 naming it (0), or 0 when there is none or it is
 * UTF-8's. */
static int json_charset_ok(req *r, const char *ct)
{
    const char *p = ct;
    char msg[160];

    while ((p = strchr(p, ';')) != NULL) {
        size_t n;
        p += 1 + strspn(p + 1, " \t");
        if (strncasecmp(p, "charset=", 8) != 0)
            continue;
        p += 8;
        n = strcspn(p, "; \t");
        if ((n == 5 && strncasecmp(p, "utf-8", 5) == 0) || (n == 7 && strncasecmp(p, "\"utf-8\"", 7) == 0))
            continue;
        snprintf(msg, sizeof msg, "JSON is read as UTF-8 (RFC 8259): charset=%.*s is not taken; send UTF-8, "
                 "with charset=utf-8 or none", (int)(n > 32 ? 32 : n), p);
        reply_error_msg(r, CH_EUNSUPPORTED, NULL, msg);
        return -1;
    }
    return 0;
}

json_t *read_json(req *r, const char *const *allowed)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Content-Type");
    size_t len = evbuffer_get_length(in);
    const char *body;
    json_error_t jerr;
    json_t *j;
    char msg[300];

    if (!is_json_type(ct)) {
        reply_error_msg(r, CH_EUNSUPPORTED, NULL, "the body must be JSON (Content-Type: application/json)");
        return NULL;
    }
    if (json_charset_ok(r, ct) < 0)
        return NULL;
    if (len > CH_MAX_JSON_BODY) {
        reply_error_msg(r, CH_ETOOBIG, NULL, "the body is larger than the limit of 4 MiB");
        return NULL;
    }
    if (len == 0) { /* (jansson says "wrong arguments") */
        reply_error_msg(r, CH_EPARSE, NULL, "the body is empty: send a JSON object, {} when no field is needed");
        return NULL;
    }
    body = (const char *)evbuffer_pullup(in, (ssize_t)len);
    /* jansson's own words for it ("'[' or '{' expected near '\xEF\xBB\xBF'") show nothing one
     * can see: a file saved by an editor that adds the mark. */
    if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0) {
        reply_error_msg(r, CH_EPARSE, NULL,
                        "the body begins with a byte order mark (EF BB BF), which JSON does not take "
                        "(RFC 8259 8.1): send the JSON object without it");
        return NULL;
    }
    j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        /* Text that does not parse is not called "not an object" (a number too big for jansson
         * read as that): jansson's reason and where.  It names its own flag for a NUL in a
         * string; say what it is instead. */
        if (strstr(jerr.text, "JSON_ALLOW_NUL"))
            snprintf(msg, sizeof msg, "the body is not valid JSON: a string holds \\u0000, which no field takes");
        else if (strstr(jerr.text, "duplicate object key"))
            snprintf(msg, sizeof msg, "the body gives a field twice (%s, line %d, column %d): give each once",
                     jerr.text, jerr.line, jerr.column);
        else
            snprintf(msg, sizeof msg, "the body is not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                     jerr.column);
        reply_error_msg(r, CH_EPARSE, NULL, msg);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        reply_error_msg(r, CH_EPARSE, NULL, "the body is not a JSON object: the request's fields go in one, {} when "
                                            "none is needed");
        return NULL;
    }
    if (allowed && only_fields_in(r, j, allowed, NULL) < 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Content types taken as the file itself (curl --data-binary @file -H 'Content-Type: ...'). */
static const char *const raw_types[] = {"application/octet-stream", "application/x-pem-file", "application/pkix-cert",
                                        "application/x-x509-ca-cert", "application/x-pkcs12", "application/pkcs12",
                                        "application/x-java-keystore", "application/pkcs7-mime",
                                        "application/x-pkcs7-certificates", "text/plain", NULL};

int read_upload(req *r, upload *u, const char *const *allowed, const char *file_field)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
    struct evkeyvalq *hdrs = evhttp_request_get_input_headers(r->ev);
    const char *ct = evhttp_find_header(hdrs, "Content-Type"), *pw;
    size_t len = evbuffer_get_length(in);
    const uint8_t *body;
    char boundary[CH_MULTIPART_BOUNDARY_MAX], msg[200];
    ch_multipart_part parts[16];
    size_t n;
    json_t *v;

    memset(u, 0, sizeof *u);
    /* The query carries the fields of a raw body only: with JSON or a form, a value there
     * would be dropped without a word (the body's own is read). */
    if (r->query.tqh_first != NULL && (is_json_type(ct) || (ct != NULL && strncasecmp(ct, "multipart/form-data", 19) == 0))) {
        snprintf(msg, sizeof msg, "the query parameter \"%.64s\" goes with a raw body (the file itself); with %s, give "
                 "it in the body", r->query.tqh_first->key, is_json_type(ct) ? "JSON" : "a form");
        reply_error_msg(r, CH_EINVAL, r->query.tqh_first->key, msg);
        return -1;
    }
    if (is_json_type(ct)) {
        u->json = true;
        return (u->fields = read_json(r, allowed)) ? 0 : -1;
    }
    if (len > CH_MAX_UPLOAD_BYTES) {
        reply_error_msg(r, CH_ETOOBIG, NULL, "the upload is larger than the limit (4 MiB)");
        return -1;
    }
    body = evbuffer_pullup(in, (ssize_t)len);
    u->fields = json_object();
    if (ct != NULL && strncasecmp(ct, "multipart/form-data", 19) == 0) {
        if (ch_multipart_boundary(boundary, ct) < 0 ||
            ch_multipart_parse(body, len, boundary, parts, sizeof parts / sizeof parts[0], &n) < 0) {
            reply_error(r, ch_error_last_code());
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            if (strcmp(parts[i].name, file_field) == 0) {
                if (u->file != NULL) {
                    snprintf(msg, sizeof msg, "the form holds two files (parts \"%s\"): send one at a time",
                             file_field);
                    reply_error_msg(r, CH_EINVAL, file_field, msg);
                    goto fail;
                }
                u->file = parts[i].data;
                u->file_len = parts[i].len;
                snprintf(u->filename, sizeof u->filename, "%s", parts[i].filename);
                continue;
            }
            if (json_object_get(u->fields, parts[i].name) != NULL) {
                snprintf(msg, sizeof msg, "the form field \"%.64s\" is given twice", parts[i].name);
                reply_error_msg(r, CH_EINVAL, parts[i].name, msg);
                goto fail;
            }
            if ((v = json_stringn((const char *)parts[i].data, parts[i].len)) == NULL) {
                snprintf(msg, sizeof msg, "the form field \"%.64s\" is not UTF-8 text", parts[i].name);
                reply_error_msg(r, CH_EINVAL, parts[i].name, msg);
                goto fail;
            }
            json_object_set_new(u->fields, parts[i].name, v);
        }
        /* The form's file part is among what a refusal lists as accepted (it listed the JSON
         * fields alone, "certificate" where the form's file goes as "file"). */
        {
            const char *with_file[40];
            size_t k = 0;
            with_file[k++] = file_field;
            for (size_t j = 0; allowed[j] != NULL && k + 1 < sizeof with_file / sizeof with_file[0]; j++)
                with_file[k++] = allowed[j];
            with_file[k] = NULL;
            if (only_fields_in(r, u->fields, with_file, NULL) < 0)
                goto fail;
        }
        return 0;
    }
    for (size_t i = 0; ct != NULL && raw_types[i]; i++)
        if (strncasecmp(ct, raw_types[i], strlen(raw_types[i])) == 0) {
            /* The body is the file; other fields come from the query (?name=...), passwords
             * from headers so they stay out of URLs and access logs. */
            static const char *const headers[][2] = {{"password", "Certhub-Password"},
                                                     {"key_password", "Certhub-Key-Password"}};
            u->file = body;
            u->file_len = len;
            u->raw = true;
            for (size_t k = 0; allowed[k]; k++) {
                const char *value = query(r, allowed[k]);
                if (strcmp(allowed[k], "password") == 0 || strcmp(allowed[k], "key_password") == 0 || value == NULL)
                    continue;
                /* (UTF-8: http_answer refused any other query value) */
                if ((v = json_string(value)) == NULL) {
                    reply_error(r, CH_ENOMEM);
                    goto fail;
                }
                json_object_set_new(u->fields, allowed[k], v);
            }
            for (size_t k = 0; k < 2; k++) {
                if ((pw = evhttp_find_header(hdrs, headers[k][1])) == NULL)
                    continue;
                if ((v = json_string(pw)) == NULL) {
                    snprintf(msg, sizeof msg, "the %s header is not UTF-8 text", headers[k][1]);
                    reply_error_msg(r, CH_EINVAL, headers[k][0], msg);
                    goto fail;
                }
                json_object_set_new(u->fields, headers[k][0], v);
            }
            return 0;
        }
    reply_error_msg(r, CH_EUNSUPPORTED, NULL,
                    "send the file as multipart/form-data (field \"file\"), as the raw body "
                    "(application/octet-stream, application/x-pem-file, application/pkix-cert, "
                    "application/x-pkcs12, application/x-java-keystore...) or as JSON");
fail:
    json_decref(u->fields);
    u->fields = NULL;
    return -1;
}

void upload_dispose(upload *u)
{
    json_decref(u->fields);
    memset(u, 0, sizeof *u);
}

const char *session_cookie(req *r, char *buf, size_t size)
{
    const char *c = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Cookie"), *p;
    size_t n;

    for (p = c; p && (p = strstr(p, "certhub_session=")) != NULL; p += 16) {
        if (p != c && p[-1] != ' ' && p[-1] != ';')
            continue;
        p += 16;
        n = strcspn(p, "; ");
        if (n == 0 || n >= size)
            return NULL;
        memcpy(buf, p, n);
        buf[n] = '\0';
        return buf;
    }
    return NULL;
}

int need_auth(req *r)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Authorization");
    char cookie[128], csrf[65];
    int error;

    /* The console: a session cookie, and on every change the CSRF token of the session (a
     * page of another site can send the cookie along, but cannot read the token). */
    if (h == NULL && session_cookie(r, cookie, sizeof cookie) != NULL) {
        enum evhttp_cmd_type m = evhttp_request_get_command(r->ev);
        const char *sent = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "X-CSRF-Token");
        error = ch_svc_session_authenticate(r->svc, cookie, &r->who, csrf);
        ch_wipe(cookie, sizeof cookie); /* the session token's copy, not left on the stack */
        if (error < 0) {
            reply_error(r, error);
            return -1;
        }
        if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD &&
            (sent == NULL || strlen(sent) != strlen(csrf) || CRYPTO_memcmp(sent, csrf, strlen(csrf)) != 0)) {
            reply_error_msg(r, CH_EPERM, NULL, "missing or wrong X-CSRF-Token for this session");
            return -1;
        }
        return 0;
    }
    /* The scheme's name is case-insensitive (RFC 9110, 11.1). */
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
        evhttp_add_header(evhttp_request_get_output_headers(r->ev), "WWW-Authenticate", "Bearer");
        reply_error_msg(r, CH_EAUTH, NULL, "an API token is required: Authorization: Bearer <token>");
        return -1;
    }
    if ((error = ch_svc_authenticate(r->svc, h + 7, &r->who)) < 0) {
        /* A token sent and refused (unknown, revoked, expired) is RFC 6750's invalid_token, so a
         * client knows to get another rather than to send one (3.1). */
        evhttp_add_header(evhttp_request_get_output_headers(r->ev), "WWW-Authenticate",
                          error == CH_EAUTH ? "Bearer error=\"invalid_token\"" : "Bearer");
        reply_error(r, error);
        return -1;
    }
    /* Near its end, every answer says when, so that a client warns its user in time without a
     * request of its own to ask (the CLI does; RFC 6750 has no way to say it).  Only then: the
     * answers of the many tokens far from their end carry nothing more. */
    if (r->who.expires_at != 0 && r->who.expires_at - ch_now() <= (int64_t)CH_TOKEN_WARN_DAYS * 86400) {
        char at[32];
        ch_time_format(at, sizeof at, r->who.expires_at);
        evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Certhub-Token-Expires", at);
    }
    return 0;
}

struct server {
    ch_svc *svc;
    /* The TLS context new connections get.  Replaced when the server certificate is renewed;
     * connections already open keep theirs (SSL_new takes a reference to the context). */
    pthread_mutex_t tls_lock;
    SSL_CTX *tls;
    tls_refresh_fn refresh;
    void *refresh_arg;
    struct event *renew_timer;
    evutil_socket_t fd;
    int nthreads;
    struct worker {
        pthread_t tid;
        struct event_base *base;
        struct evhttp *http;
        struct event *idle_timer;
        struct evconnlistener *listener;
        struct event *resume;   /* accepting again after running out of descriptors */
        struct event *toggle;   /* made active by any thread: this loop follows `full`, `wanted` */
        const struct timeval *request_tv; /* request_seconds, a common timeout of the loop */
        struct server *server;
        int conns;      /* open connections this loop serves, under balance_lock */
        bool wanted;    /* whether this loop should accept, under balance_lock */
        _Atomic bool busy; /* answering a request: it accepts nothing until done */
        pthread_mutex_t later_lock;
        struct later *fired;      /* under later_lock: run by on_later */
        struct event *later_ev;   /* made active by later_fire */
        _Atomic int laters;       /* taken and not yet run */
    } workers[16];
    _Atomic unsigned long served; /* requests, by every loop */
    _Atomic int conns;            /* TLS connections open */
    _Atomic size_t inflight;      /* bytes of requests read and not yet answered, every loop's */
    size_t inflight_max;
    int max_conns;
    int request_seconds;
    pthread_mutex_t full_lock;    /* full is decided under it */
    _Atomic bool full;            /* not accepting: max_conns are open */
    pthread_mutex_t balance_lock; /* the loops' conns and wanted, and acceptors */
    _Atomic int acceptors;        /* loops wanted */
    /* the pool of workers answering what may take long (hand_off), started as needed */
    int nworkers;                  /* at most */
    int started, idle;             /* under pool_lock */
    pthread_t workers_tid[16];
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    struct job *jobs, *jobs_tail;  /* under pool_lock */
    _Atomic int jobs_open;         /* handed off and not yet answered */
    _Atomic long long jobs_total;  /* handed off since the start */
    _Atomic long long cert_checks; /* checks of the server certificate done (on_renew_timer) */
    bool pool_stop;
};

/* Requests this thread's loop has answered, and what its idle timer saw of them. */
static _Thread_local unsigned long served, served_seen, served_released;
static _Thread_local unsigned long all_seen, all_released;

bool http_answer(struct evhttp_request *ev, ch_svc *svc)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    req r = {.ev = ev, .svc = svc};
    char *decoded = NULL;
    size_t decoded_len = 0;

    r.query.tqh_first = NULL; /* TAILQ_INIT without sys/queue.h */
    r.query.tqh_last = &r.query.tqh_first;
    if (uri == NULL || evhttp_uri_get_path(uri) == NULL ||
        (decoded = evhttp_uridecode(evhttp_uri_get_path(uri), 0, &decoded_len)) == NULL) {
        reply_error_msg(&r, CH_EINVAL, NULL, "bad request URI");
        return false;
    }
    /* An encoded NUL ends the decoded path as a C string: "/keystores/ID%00/entries/web" was
     * DELETE /keystores/ID, the whole keystore gone for one entry asked.  No id, name or alias
     * holds one; a value of the query would be cut short the same way. */
    if (strlen(decoded) != decoded_len ||
        (evhttp_uri_get_query(uri) != NULL && strstr(evhttp_uri_get_query(uri), "%00") != NULL)) {
        reply_error_msg(&r, CH_EINVAL, NULL, "the request URI holds an encoded NUL (%00): no path or value has one");
        free(decoded);
        return false;
    }
    /* A "%" that begins no escape was kept as it was ("search=%zz" searched for it), where the
     * path's is refused: so are the query's (RFC 3986 2.1). */
    for (const char *q = evhttp_uri_get_query(uri); q != NULL && (q = strchr(q, '%')) != NULL; q++)
        if (!isxdigit((unsigned char)q[1]) || !isxdigit((unsigned char)q[2])) {
            reply_error_msg(&r, CH_EINVAL, NULL, "the query string holds a \"%\" that begins no %XX escape: "
                            "write a % as %25");
            free(decoded);
            return false;
        }
    if (evhttp_uri_get_query(uri) != NULL && evhttp_parse_query_str(evhttp_uri_get_query(uri), &r.query) != 0) {
        reply_error_msg(&r, CH_EINVAL, NULL,
                        "the query string is not name=value pairs joined by &: a parameter needs its \"=\" and a name");
        free(decoded);
        return false;
    }
    /* evhttp decodes each value and leaves the names as sent: "?li%6Dit=5" is "limit" to any
     * other server, so decode the names too (a name only shrinks, so in place). */
    for (struct evkeyval *kv = r.query.tqh_first; kv; kv = kv->next.tqe_next) {
        char *name = evhttp_uridecode(kv->key, 1, NULL);
        if (name != NULL)
            memcpy(kv->key, name, strlen(name) + 1);
        free(name);
    }
    /* Every value is text (a name's, an id's, a search's): one that is not UTF-8 was refused
     * by some routes and searched for by others. */
    for (struct evkeyval *kv = r.query.tqh_first; kv; kv = kv->next.tqe_next)
        if (!ch_utf8_valid(kv->key) || !ch_utf8_valid(kv->value)) {
            char msg[160];
            snprintf(msg, sizeof msg, "the query parameter \"%.64s\" is not UTF-8 text",
                     ch_utf8_valid(kv->key) ? kv->key : "?");
            reply_error_msg(&r, CH_EINVAL, ch_utf8_valid(kv->key) ? kv->key : NULL, msg);
            evhttp_clear_headers(&r.query);
            free(decoded);
            return false;
        }
    r.raw_path = evhttp_uri_get_path(uri);
    r.path = decoded;
    api_dispatch(&r);
    evhttp_clear_headers(&r.query);
    free(decoded);
    return r.deferred;
}

void http_limits(struct evhttp *http)
{
    evhttp_set_max_body_size(http, CH_MAX_UPLOAD_BYTES + 65536);
    /* The request line and headers together (a token, a session cookie and the rest fit many
     * times over).  evhttp has no limit of its own: a client that never ended its request line
     * made certhubd buffer all it sent, hundreds of megabytes in seconds. */
    evhttp_set_max_headers_size(http, CH_MAX_HEADER_BYTES);
    evhttp_set_timeout(http, 30);
    /* HEAD too: monitors ask a health check so. */
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                         EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE);
}

/* bufferevent_openssl makes one TLS record, and one write(2), of each piece of its output
 * buffer, and evhttp leaves a response in at least two: the headers and the body moved in
 * after them.  The client then wakes twice and the kernel carries two segments.  A response
 * that fits in one record is made one piece as it is added, before the write event comes. */
#define ONE_RECORD 16384

/* evhttp answers some requests itself, before any of certhubd's code sees them: a body over
 * evhttp_set_max_body_size (413), a request line or headers it cannot read or over
 * evhttp_set_max_headers_size (400), a method evhttp_set_allowed_methods leaves out (501), an
 * Expect other than 100-continue (417).  It writes an HTML page for them, which a script
 * reading the API's JSON errors cannot use, and libevent 2.1 has no hook for it (the error
 * callback came in 2.2).  Its page is recognised whole in the output buffer, where the
 * response is made one piece (below) before the write event comes, and replaced by the API's
 * error: the same status line and headers, the JSON body. */
static const char page_tail[] = "</BODY></HTML>\n";

/* The limits are named in the errors below and in read_json and read_upload as text: the
 * build stops here if one changes without them. */
_Static_assert(CH_MAX_UPLOAD_BYTES == 4u << 20 && CH_MAX_JSON_BODY == 4u << 20, "error messages say 4 MiB");
_Static_assert(CH_MAX_HEADER_BYTES == 64u << 10, "an error message says 64 kB");

static const char *page_message(int status, const char **code)
{
    switch (status) {
    case 413:
        *code = "too_large";
        return "the request body is too large: certhubd takes at most 4 MiB in an upload or a JSON body";
    case 400:
        *code = "malformed";
        return "the request is not HTTP/1.1 as certhubd reads it: a malformed request line or header, or "
               "a request line and headers over 64 kB together";
    case 501:
        *code = "method_not_allowed";
        return "certhubd takes the methods GET, HEAD, POST, PUT, PATCH and DELETE";
    case 417:
        *code = "expectation_failed";
        return "the only Expect header certhubd takes is 100-continue";
    default:
        *code = status < 500 ? "bad_request" : "internal_error";
        return "the request could not be answered";
    }
}

static void replace_page(struct evbuffer *out, const char *p, size_t len)
{
    static const char head[] = "\r\n\r\n<HTML><HEAD>\n<TITLE>";
    const char *stop = p + len, *end = ch_mem_find(p, stop, "\r\n\r\n", 4), *code, *msg;
    ch_buf b = CH_BUF_INIT, body = CH_BUF_INIT;
    int rc = 0;

    /* The page alone in the buffer (a response before it still unsent: left as it is). */
    if (len < 13 || memcmp(p, "HTTP/1.", 7) != 0 || end == NULL || (size_t)(stop - end) < sizeof head - 1 ||
        memcmp(end, head, sizeof head - 1) != 0 || ch_mem_find(end, stop, "HTTP/1.", 7) != NULL)
        return;
    msg = page_message(atoi(p + 9), &code);
    if (!error_json(&body, code, NULL, msg, NULL) || ch_buf_puts(&body, "\n") < 0)
        rc = -1;
    /* The status line and the headers but the two that describe the body. */
    for (const char *line = p; line < end && rc == 0;) {
        const char *eol = ch_mem_find(line, end, "\r\n", 2);
        size_t n = (size_t)((eol != NULL ? eol : end) - line);
        if (strncasecmp(line, "Content-Type:", 13) != 0 && strncasecmp(line, "Content-Length:", 15) != 0)
            rc |= ch_buf_put(&b, line, n) | ch_buf_puts(&b, "\r\n");
        line += n + 2;
    }
    rc |= ch_buf_printf(&b, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", body.len);
    rc |= ch_buf_put(&b, body.data, body.len);
    if (rc == 0) {
        evbuffer_drain(out, len); /* the callbacks run again, on the JSON answer: left alone */
        evbuffer_add(out, b.data, b.len);
    }
    ch_buf_dispose(&b);
    ch_buf_dispose(&body);
}

static void one_record(struct evbuffer *out, const struct evbuffer_cb_info *info, void *arg)
{
    size_t len = evbuffer_get_length(out);
    const char *p;

    (void)arg;
    if (info->n_added == 0 || len > ONE_RECORD)
        return;
    p = (const char *)evbuffer_pullup(out, -1);
    if (p != NULL && len >= sizeof page_tail - 1 &&
        memcmp(p + len - (sizeof page_tail - 1), page_tail, sizeof page_tail - 1) == 0)
        replace_page(out, p, len);
}

/* Connections are counted by their SSL objects: SSL_free, wherever libevent calls it, runs
 * conn_gone through this ex_data index, which holds the connection's state. */
static int conn_index = -1;

/* A request must arrive whole, line, headers and body, within --request-timeout of the
 * connection opening or of the request before it (checked each period, so it may have up to
 * twice that).  evhttp's timeout is for each read: a client sending a byte every few seconds
 * held its connection, and enough of them every connection certhubd takes (--max-connections). */
struct conn {
    struct server *server;
    struct worker *worker; /* the loop serving it */
    struct bufferevent *bev;
    struct event *deadline; /* every request_seconds */
    struct evbuffer_cb_entry *counting;
    unsigned long requests, seen;
    size_t pending; /* of server->inflight: read since its last request was answered */
    bool cut;
};

/* Requests are held in memory while they arrive, up to 4 MB each, so connections all sending
 * large bodies at once (no token is needed to send one) could take several gigabytes.  What
 * requests in flight hold together is capped at 64 kB a connection on average (256 MB at the
 * default --max-connections), and at least four of the largest: a connection whose bytes go
 * over is closed. */
#define INFLIGHT_PER_CONN (64u * 1024u)
#define INFLIGHT_FLOOR (4u * (CH_MAX_UPLOAD_BYTES + 65536u))

/* Whether a minute has passed since *last said something (the first time, yes); if so it is
 * now.  Each condition a flood makes is said once a minute, not once for each connection. */
static bool minute_passed(_Atomic long *last)
{
    long now = (long)time(NULL), told = atomic_load(last);

    return now - told >= 60 && atomic_compare_exchange_strong(last, &told, now);
}

static void inflight_release(struct conn *c)
{
    atomic_fetch_sub(&c->server->inflight, c->pending);
    c->pending = 0;
}

static void count_in(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    static _Atomic long last_told;
    struct conn *c = arg;
    size_t total;

    (void)buf;
    if (info->n_added == 0 || c->cut)
        return;
    c->pending += info->n_added;
    total = atomic_fetch_add(&c->server->inflight, info->n_added) + info->n_added;
    if (total > c->server->inflight_max) {
        /* Its bytes stop counting now, not when libevent frees the connection a loop round
         * later: until then, every other connection reading would go over too and be cut. */
        inflight_release(c);
        c->cut = true;
        shutdown(bufferevent_getfd(c->bev), SHUT_RDWR);
        if (minute_passed(&last_told))
            event_log(stderr, "requests in flight hold %.1f MB, over the %.1f MB certhubd holds at once (64 kB for each "
                              "of --max-connections, and room for four of 4 MB): a connection sending more was closed",
                      total / 1048576.0, c->server->inflight_max / 1048576.0);
    }
}

/* The state of the connection a request came on. */
static struct conn *conn_of(struct evhttp_request *ev)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(ev);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;

    return ssl ? SSL_get_ex_data(ssl, conn_index) : NULL;
}

static _Thread_local struct worker *this_worker; /* the loop running on this thread */
static void balance_busy(struct server *s, struct worker *w);

static atomic_int stopping; /* SIGTERM or SIGINT came: finishing what was begun (set on loop 0, read by every loop) */

/* A request read while certhubd stops is not begun: its client is told so (and may send it
 * again to another node, or once certhubd is back), and the connection closes.  Otherwise a
 * request begun in the last moments could be done (a certificate committed) with its answer
 * never written. */
/* A request refused before it is begun, its connection closed after the answer. */
static void refuse_and_close(struct evhttp_request *ev, int status, const char *reason, const char *code,
                             const char *message)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(ev);
    struct evbuffer *b = evbuffer_new();
    ch_buf body = CH_BUF_INIT;

    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Connection", "close");
    if (status == 503)
        evhttp_add_header(h, "Retry-After", "5");
    if (b != NULL && evhttp_request_get_command(ev) != EVHTTP_REQ_HEAD && error_json(&body, code, NULL, message, NULL) &&
        ch_buf_puts(&body, "\n") == 0)
        evbuffer_add(b, body.data, body.len);
    evhttp_send_reply(ev, status, reason, b);
    if (b != NULL)
        evbuffer_free(b);
    ch_buf_dispose(&body);
}

static void refuse_stopping(struct evhttp_request *ev)
{
    refuse_and_close(ev, 503, "Service Unavailable", "stopping",
                     "certhubd is stopping: the request was not begun; send it again once certhubd is back");
}

/* Where a request ends must be read the same by certhubd and by any proxy in front, or what
 * one takes for a body the other takes for a request of its own (smuggling; RFC 9112 6.1,
 * 6.3).  The message saying why the request is refused, or NULL:
 * - two Content-Length headers: evhttp reads the body by the first, a proxy may by the last;
 * - a Content-Length that is not digits alone ("+5" is 5 to evhttp, an error or 0 to others);
 * - a Transfer-Encoding other than "chunked" alone: for "identity" evhttp reads no body, and
 *   a proxy that took the body by it sent on a request evhttp answers as the next one;
 * - Transfer-Encoding and Content-Length together;
 * - a body on HEAD: evhttp reads none for HEAD, whatever the headers say.
 * And RFC 9112 3.2: an HTTP/1.1 request names the host it is for exactly once, and a server
 * answers 400 to one that does not (evhttp serves it).  A request with none is no browser's
 * or HTTP library's; two Host lines may be read as two hosts by a proxy in front, which then
 * routed or checked it by the other.  HTTP/1.0 predates the header.  One pass over the
 * headers for both: every request is read so. */
static const char *request_refused(struct evhttp_request *ev)
{
    int lengths = 0, codings = 0, hosts = 0;
    bool body = false;

    for (struct evkeyval *kv = evhttp_request_get_input_headers(ev)->tqh_first; kv; kv = kv->next.tqe_next) {
        if (strcasecmp(kv->key, "Content-Length") == 0) {
            if (++lengths > 1)
                return "the request has more than one Content-Length header: its end is not certain";
            if (kv->value[0] == '\0' || kv->value[strspn(kv->value, "0123456789")] != '\0')
                return "the request's Content-Length is not a number of bytes: its end is not certain";
            body = kv->value[strspn(kv->value, "0")] != '\0';
        } else if (strcasecmp(kv->key, "Transfer-Encoding") == 0) {
            if (++codings > 1 || strcasecmp(kv->value, "chunked") != 0)
                return "the only Transfer-Encoding certhubd takes is chunked, alone: the request's end is not "
                       "certain";
        } else if (strcasecmp(kv->key, "Host") == 0) {
            hosts++;
        }
    }
    if (lengths > 0 && codings > 0)
        return "the request has both Content-Length and Transfer-Encoding: its end is not certain";
    if ((body || codings > 0) && evhttp_request_get_command(ev) == EVHTTP_REQ_HEAD)
        return "a HEAD request has no body: its end is not certain";
    if (hosts > 1)
        return "the request has more than one Host header: it must name one host";
    if (hosts == 0 && (ev->major > 1 || (ev->major == 1 && ev->minor >= 1)))
        return "an HTTP/1.1 request needs a Host header naming the host it is for (RFC 9112 3.2)";
    return NULL;
}

static void on_request(struct evhttp_request *ev, void *arg)
{
    struct server *s = arg;
    struct conn *c = conn_of(ev);
    struct worker *w = this_worker != NULL && this_worker->server == s ? this_worker : NULL;
    const char *why;
    bool deferred;

    if (c != NULL)
        c->requests++; /* read whole: the connection has kept up */
    served++;
    atomic_fetch_add_explicit(&s->served, 1, memory_order_relaxed);
    if (stopping) {
        refuse_stopping(ev);
        if (c != NULL)
            inflight_release(c);
        return;
    }
    if ((why = request_refused(ev)) != NULL) {
        refuse_and_close(ev, 400, "Bad Request", "malformed", why);
        if (c != NULL)
            inflight_release(c);
        return;
    }
    if (w != NULL)
        balance_busy(s, w);
    deferred = http_answer(ev, s->svc);
    if (w != NULL)
        atomic_store(&w->busy, false);
    /* Answered: what it held is no longer counted.  The connection stays while the answer is
     * written, which evhttp does from the loop later.  One answered later (by a worker, after
     * its commit) stays counted until then (on_later): its body is held meanwhile. */
    if (c != NULL && !deferred)
        inflight_release(c);
}

/* No request read whole in a whole period, and no response being written: ended as if the
 * client had closed (evhttp frees the connection on its own path, with the SSL and this). */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    if (c->requests != c->seen)
        c->seen = c->requests;
    else if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        shutdown(bufferevent_getfd(c->bev), SHUT_RDWR);
}

/* Each loop turns its own listener on or off, on its own thread.  Done from the thread that
 * saw the count cross the line, disabling another loop's listener waited for that loop's
 * accept callback to finish, which could be waiting for full_lock here: both loops stopped
 * for good.  event_active only queues the toggle, and never waits; this thread's own loop
 * toggles at once (so its accept callback stops taking the connections queued). */
static void on_toggle(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    (void)fd;
    (void)what;
    if (w->listener == NULL)
        return;
    pthread_mutex_lock(&w->server->balance_lock);
    bool wanted = w->wanted;
    pthread_mutex_unlock(&w->server->balance_lock);
    if (atomic_load(&w->server->full) || !wanted)
        evconnlistener_disable(w->listener);
    else if (!evtimer_pending(w->resume, NULL)) /* paused for descriptors: on_resume enables */
        evconnlistener_enable(w->listener);
}

/* Has loop w follow `full` and `wanted`: at once when it is this thread's, else through its
 * toggle. */
static void loop_follow(struct worker *w)
{
    if (w == this_worker)
        on_toggle(-1, 0, w);
    else if (w->toggle != NULL) /* NULL once the server is being freed */
        event_active(w->toggle, EV_TIMEOUT, 0);
}

/* Least connections.  The loops share one listening socket, and whichever wakes first takes
 * every connection queued: 8 clients connecting at once landed on 3 of 8 loops, and a loop
 * serves its connections' requests one after the other, so a core stood idle while requests
 * waited (bench_https: 8 % of the CPU unused).  Only the loops serving the fewest connections
 * accept; one that goes above them stops at once, from its own accept callback (which then
 * takes no more), and the others are told to start when the fewest rises to theirs.  When a
 * close leaves a loop with fewer than the others, they are not told to stop: each takes one
 * more connection before it sees that and stops (telling them at every such close would wake
 * every loop for each connection of a client that opens one per request).  A loop
 * busy answering a request is left out of the count: it cannot accept until it is done (an
 * RSA-4096 key takes a second), and the others must not wait for it (see balance_busy).  A
 * loop turns its listener on or off on its own thread only (see on_toggle). */
static int fewest_conns(struct server *s)
{
    int m = INT_MAX; /* every loop busy: any may start */

    for (int i = 0; i < s->nthreads; i++)
        if (s->workers[i].conns < m && !atomic_load(&s->workers[i].busy))
            m = s->workers[i].conns;
    return m;
}

static void set_wanted(struct server *s, struct worker *w, bool wanted)
{
    if (w->wanted != wanted)
        atomic_fetch_add(&s->acceptors, wanted ? 1 : -1);
    w->wanted = wanted;
}

/* Loops that are not wanted, and serve no more than the fewest of those not busy, start
 * accepting; into wake[], returning how many. */
static int wake_fewest(struct server *s, const struct worker *self, struct worker *wake[16])
{
    int m = fewest_conns(s), n = 0;

    for (int i = 0; i < s->nthreads; i++)
        if (!s->workers[i].wanted && s->workers[i].conns <= m && &s->workers[i] != self) {
            set_wanted(s, &s->workers[i], true);
            wake[n++] = &s->workers[i];
        }
    return n;
}

static void balance_opened(struct server *s, struct worker *w)
{
    struct worker *wake[16];
    int nwake = 0;
    bool stop = false;

    pthread_mutex_lock(&s->balance_lock);
    w->conns++;
    if (w->conns > fewest_conns(s)) {
        stop = true;
        set_wanted(s, w, false);
    } else {
        nwake = wake_fewest(s, w, wake);
    }
    pthread_mutex_unlock(&s->balance_lock);
    if (stop)
        loop_follow(w);
    for (int i = 0; i < nwake; i++)
        loop_follow(wake[i]);
}

static void balance_closed(struct server *s, struct worker *w)
{
    bool start = false;

    pthread_mutex_lock(&s->balance_lock);
    w->conns--;
    if (!w->wanted && w->conns <= fewest_conns(s)) {
        set_wanted(s, w, true);
        start = true;
    }
    pthread_mutex_unlock(&s->balance_lock);
    if (start)
        loop_follow(w);
}

/* This loop is about to answer a request.  When it is the only one accepting, the others
 * start: new connections would otherwise wait for the answer in the listen queue.  (Only then:
 * every request waking every loop would cost more than it balances.) */
static void balance_busy(struct server *s, struct worker *w)
{
    struct worker *wake[16];
    int nwake = 0;

    atomic_store(&w->busy, true);
    if (atomic_load(&s->acceptors) > 1)
        return;
    pthread_mutex_lock(&s->balance_lock);
    if (w->wanted && atomic_load(&s->acceptors) == 1)
        nwake = wake_fewest(s, w, wake);
    pthread_mutex_unlock(&s->balance_lock);
    for (int i = 0; i < nwake; i++)
        loop_follow(wake[i]);
}

static void listeners_set(struct server *s, bool full)
{
    atomic_store(&s->full, full);
    for (int i = 0; i < s->nthreads; i++)
        loop_follow(&s->workers[i]);
}

static void conn_gone(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    struct conn *c = ptr;
    struct server *s;

    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    if (c == NULL)
        return;
    s = c->server;
    if (c->worker != NULL)
        balance_closed(s, c->worker);
    if (c->deadline != NULL)
        event_free(c->deadline);
    if (c->counting != NULL) /* the bufferevent is being freed: nothing is read into it again */
        evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->counting);
    inflight_release(c);
    free(c);
    /* Accepting again once a tenth have closed, not at each close and open at the line. */
    if (atomic_fetch_sub(&s->conns, 1) - 1 <= s->max_conns - s->max_conns / 10) {
        pthread_mutex_lock(&s->full_lock);
        if (atomic_load(&s->full) && atomic_load(&s->conns) <= s->max_conns - s->max_conns / 10)
            listeners_set(s, false);
        pthread_mutex_unlock(&s->full_lock);
    }
}

/* At max_conns open connections the loops stop accepting: each costs about 20 kB (TLS state,
 * buffers), and descriptors are plenty (the soft limit is lifted), so without a line a flood
 * of connections would take the box's memory.  New ones wait in the kernel's listen queue.
 * A loop may accept a few more before its toggle runs. */
static void conn_new(struct server *s, SSL *ssl, struct conn *c)
{
    static _Atomic long last_told;

    c->server = s;
    SSL_set_ex_data(ssl, conn_index, c);
    if (this_worker != NULL && this_worker->server == s && this_worker->listener != NULL) {
        c->worker = this_worker;
        balance_opened(s, this_worker);
    }
    if (atomic_fetch_add(&s->conns, 1) + 1 >= s->max_conns) {
        pthread_mutex_lock(&s->full_lock);
        if (!atomic_load(&s->full) && atomic_load(&s->conns) >= s->max_conns) {
            listeners_set(s, true);
            if (minute_passed(&last_told))
                event_log(stderr, "%d connections open, the most it holds (--max-connections): new ones wait until "
                                  "some close", s->max_conns);
        }
        pthread_mutex_unlock(&s->full_lock);
    }
}

void event_log(FILE *f, const char *fmt, ...)
{
    static int journald = -1;
    char line[1024];
    va_list ap;

    if (journald < 0)
        journald = getenv("JOURNAL_STREAM") != NULL;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (journald) {
        fprintf(f, "certhubd: %s\n", line);
    } else {
        char at[32];
        ch_time_format(at, sizeof at, ch_now());
        fprintf(f, "%s certhubd: %s\n", at, line);
    }
    fflush(f);
}

bool http_line_rest(const char *line, size_t n)
{
    for (size_t i = 0; i + 9 < n; i++) {
        if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e)
            return false;
        if (memcmp(line + i, " HTTP/1.", 8) == 0 && (line[i + 9] == '\r' || line[i + 9] == '\n'))
            return true;
    }
    return false;
}

/* Whether what a connection sent, past the five bytes OpenSSL read as a record's header, is
 * the rest of an HTTP/1.x request line (left in the socket, peeked). */
static bool rest_is_http(int fd)
{
    char line[8192]; /* a longer request line is not recognised: the empty reply as before */
    ssize_t n = recv(fd, line, sizeof line, MSG_PEEK | MSG_DONTWAIT);

    return n > 0 && http_line_rest(line, (size_t)n);
}

/* A plain HTTP request sent to the HTTPS port (curl http://...) ended in an empty reply; it
 * gets an answer saying so, as Go's servers (Vault, cfssl) give one.  OpenSSL fails such a
 * handshake on its first record without an alert, as an HTTP request (GET, POST, HEAD, PUT)
 * or as a wrong version (other methods); the rest of the request line, still unread, tells
 * it from a client that is wrong in another way (and from an error left in the queue).  The
 * answer is written to the socket in clear after what the request sent is read (a close with
 * data unread would reset the connection before the client read the answer), and libevent
 * then closes the connection. */
static void plain_http(const SSL *ssl, int where, int ret)
{
    static const char body[] = "{\"error\":{\"code\":\"https_required\",\"message\":\"certhubd speaks HTTPS on "
                               "this port: ask https:// instead of http://\"}}\n";
    char answer[300];
    unsigned long e;
    char sink[4096];
    int fd, n;

    if (where != SSL_CB_ACCEPT_EXIT || ret > 0)
        return;
    e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) != ERR_LIB_SSL ||
        (ERR_GET_REASON(e) != SSL_R_HTTP_REQUEST && ERR_GET_REASON(e) != SSL_R_WRONG_VERSION_NUMBER) ||
        (fd = SSL_get_fd(ssl)) < 0 || !rest_is_http(fd))
        return;
    for (int i = 0; i < 16 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
        ;
    n = snprintf(answer, sizeof answer,
                 "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 sizeof body - 1, body);
    (void)!send(fd, answer, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
}

static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
    struct server *s = arg;
    struct bufferevent *bev;
    struct conn *c = calloc(1, sizeof *c);
    SSL *ssl;

    pthread_mutex_lock(&s->tls_lock);
    ssl = c != NULL ? SSL_new(s->tls) : NULL;
    pthread_mutex_unlock(&s->tls_lock);
    if (ssl == NULL) {
        free(c);
        return NULL; /* out of memory: evhttp closes the connection */
    }
    conn_new(s, ssl, c);
    SSL_set_info_callback(ssl, plain_http);
    bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL)
        return NULL; /* c went with the SSL, if libevent freed it */
    if (evbuffer_add_cb(bufferevent_get_output(bev), one_record, NULL) == NULL) {
        bufferevent_free(bev); /* and with it the SSL and c */
        return NULL;
    }
    c->bev = bev;
    c->counting = evbuffer_add_cb(bufferevent_get_input(bev), count_in, c);
    if ((c->deadline = event_new(base, -1, EV_PERSIST, on_deadline, c)) != NULL)
        event_add(c->deadline, this_worker != NULL && this_worker->base == base && this_worker->request_tv != NULL
                                   ? this_worker->request_tv
                                   : &(struct timeval){s->request_seconds, 0});
    return bev;
}

/* An event loop whose epoll changes wait for its next epoll_wait: a request turns reading
 * off and writing on, and its response's end the other way round, so each request made about
 * four epoll_ctl calls where two carry the same.  (The flag's caution is for descriptors
 * duplicated with dup(); certhubd has none.) */
static struct event_base *loop_base(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base *base;

    if (cfg == NULL)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}


/* Every few seconds on each loop: once a loop has answered nothing for a whole period after
 * answering something, its thread gives back its store connection; once the whole server has,
 * the first loop gives back the writer's connection and the heap's free memory.  A busy
 * server keeps them (opening a connection reads the schema again); an idle one goes back to
 * about what it held at start. */
static bool store_replaced_said;

static void on_idle_timer(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct server *s = w->server;
    unsigned long all = atomic_load_explicit(&s->served, memory_order_relaxed);

    (void)fd;
    (void)what;
    if (served != served_seen)
        served_seen = served;
    else if (served_released != served) {
        served_released = served;
        ch_svc_thread_idle(s->svc);
    }
    if (w != &s->workers[0])
        return;
    /* The store's file replaced under it (a restore that did not stop certhubd first): what it
     * acknowledged from then on would go to a file nobody reads.  Stopped as by SIGTERM, saying
     * why; a start opens the file there now. */
    if (!store_replaced_said && ch_store_replaced(ch_svc_store(s->svc))) {
        store_replaced_said = true;
        fprintf(stderr, "certhubd: the store's file was replaced or moved while certhubd ran: stopping (start "
                        "certhubd again to serve the file there now; stop it before a restore)\n");
        raise(SIGTERM);
    }
    if (all != all_seen)
        all_seen = all;
    else if (all_released != all) {
        all_released = all;
        ch_svc_idle(s->svc);
        malloc_trim(0);
    }
}

static struct server *the_server; /* for the listeners' error callback and /metrics */

int http_loop_connections(int *out, int max)
{
    struct server *s = the_server;
    int n;

    if (s == NULL)
        return 0; /* answering in-process (the API fuzz target): no loops */
    pthread_mutex_lock(&s->balance_lock);
    n = s->nthreads < max ? s->nthreads : max;
    for (int i = 0; i < n; i++)
        out[i] = s->workers[i].conns;
    pthread_mutex_unlock(&s->balance_lock);
    return n;
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    on_toggle(-1, 0, arg);
}

/* accept() failed for want of descriptors or memory.  The listening socket stays readable, so
 * libevent would call again at once: every loop spun on both cores and wrote a warning for
 * each call (millions a minute).  This loop stops accepting for a tenth of a second instead,
 * while connections close, and certhubd says so once a minute. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    static _Atomic long last_told;
    int err = EVUTIL_SOCKET_ERROR();
    struct timeval pause = {0, 100000};
    struct rlimit rl;

    (void)arg; /* evhttp's: the listener's own argument */
    if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
        return;
    for (int i = 0; i < the_server->nthreads; i++)
        if (the_server->workers[i].listener == lev) {
            evconnlistener_disable(lev);
            evtimer_add(the_server->workers[i].resume, &pause);
        }
    if (minute_passed(&last_told)) {
        getrlimit(RLIMIT_NOFILE, &rl);
        event_log(stderr, "cannot accept connections: %s (the limit is %llu descriptors); waiting for some to close "
                          "(raise LimitNOFILE= or ulimit -n)", strerror(err), (unsigned long long)rl.rlim_cur);
    }
}

/* The soft limit of open descriptors up to the hard one: each connection is one, and the soft
 * limit is often 1,024 where the hard one is far above (as Go's runtime does for cfssl). */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

struct later {
    void (*fn)(void *);
    void *arg;
    struct evhttp_request *ev;
    struct worker *w;
    struct later *next;
};

bool loop_shared(void)
{
    struct worker *w = this_worker;
    int conns;

    if (w == NULL)
        return false;
    pthread_mutex_lock(&w->server->balance_lock);
    conns = w->conns;
    pthread_mutex_unlock(&w->server->balance_lock);
    return conns > 1;
}

later *later_new(struct evhttp_request *ev, void (*fn)(void *), void *arg)
{
    struct worker *w = this_worker;
    later *l;

    /* Stopping: the handler waits, so the loops' drain has an end. */
    if (w == NULL || w->later_ev == NULL || stopping || (l = malloc(sizeof *l)) == NULL)
        return NULL;
    *l = (later){fn, arg, ev, w, NULL};
    atomic_fetch_add(&w->laters, 1);
    return l;
}

void later_cancel(later *l)
{
    atomic_fetch_sub(&l->w->laters, 1);
    free(l);
}

void later_fire(void *arg)
{
    later *l = arg;
    struct worker *w = l->w;
    bool first;

    pthread_mutex_lock(&w->later_lock);
    first = w->fired == NULL;
    l->next = w->fired;
    w->fired = l;
    pthread_mutex_unlock(&w->later_lock);
    /* One activation runs every later fired until then (event_active wakes the loop when it
     * is another thread's). */
    if (first)
        event_active(w->later_ev, 0, 0);
}

/* Runs the laters fired, on their loop's thread, oldest first. */
static void on_later(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    later *list, *rev = NULL, *l;

    (void)fd;
    (void)what;
    pthread_mutex_lock(&w->later_lock);
    list = w->fired;
    w->fired = NULL;
    pthread_mutex_unlock(&w->later_lock);
    while (list != NULL) {
        l = list;
        list = l->next;
        l->next = rev;
        rev = l;
    }
    while ((l = rev) != NULL) {
        struct conn *c = conn_of(l->ev); /* NULL once the connection has gone (it released) */
        rev = l->next;
        if (c != NULL)
            inflight_release(c);
        l->fn(l->arg);
        free(l);
        atomic_fetch_sub(&w->laters, 1);
    }
}

/* After the loop was told to end: answers still waiting for their work are run as they come,
 * then the loop runs a moment more to write them. */
static void loop_drain(struct worker *w)
{
    if (atomic_load(&w->laters) == 0)
        return;
    while (atomic_load(&w->laters) > 0)
        event_base_loop(w->base, EVLOOP_ONCE);
    event_base_loopexit(w->base, &(struct timeval){0, 200000});
    event_base_dispatch(w->base);
}

/* On the loop: sends what the worker answered. */
static void job_answer(void *arg)
{
    struct job *j = arg;

    if (j->status == 0) /* a handler that answered nothing: a bug, not a hang */
        evhttp_send_reply(j->ev, 500, "Internal Server Error", NULL);
    else
        evhttp_send_reply(j->ev, j->status, j->reason, j->with_body ? j->body : NULL);
    evbuffer_free(j->body);
    free(j);
    atomic_fetch_sub(&the_server->jobs_open, 1);
}

int http_worker_requests(void)
{
    return the_server != NULL ? atomic_load(&the_server->jobs_open) : -1;
}

long long http_worker_requests_total(void)
{
    return the_server != NULL ? atomic_load(&the_server->jobs_total) : -1;
}

long long http_server_cert_checks(void)
{
    return the_server != NULL ? atomic_load(&the_server->cert_checks) : -1;
}

void http_server_cert_check_soon(void)
{
    /* (libevent is set up for threads: activating the timer from a worker is queued to the
     * loop that owns it) */
    if (the_server != NULL && the_server->renew_timer != NULL)
        event_active(the_server->renew_timer, EV_TIMEOUT, 0);
}

static void *pool_main(void *arg);

bool hand_off(req *r)
{
    struct server *s = the_server;
    struct job *j;

    if (this_job != NULL || this_worker == NULL || s == NULL || s->nworkers == 0 || (j = calloc(1, sizeof *j)) == NULL)
        return false;
    *j = (struct job){.ev = r->ev, .svc = r->svc};
    if ((j->body = evbuffer_new()) == NULL || (j->l = later_new(r->ev, job_answer, j)) == NULL) {
        if (j->body)
            evbuffer_free(j->body);
        free(j);
        return false;
    }
    pthread_mutex_lock(&s->pool_lock);
    /* A worker is started when none is waiting (an idle certhubd holds none); with none able
     * to start, the loop answers it. */
    if (s->idle == 0 && s->started < s->nworkers &&
        pthread_create(&s->workers_tid[s->started], NULL, pool_main, s) == 0)
        s->started++;
    if (s->started == 0) {
        pthread_mutex_unlock(&s->pool_lock);
        later_cancel(j->l);
        evbuffer_free(j->body);
        free(j);
        return false;
    }
    /* Counted before a worker can take it: /metrics handed off counts itself. */
    atomic_fetch_add(&s->jobs_open, 1);
    atomic_fetch_add(&s->jobs_total, 1);
    if (s->jobs_tail)
        s->jobs_tail->next = j;
    else
        s->jobs = j;
    s->jobs_tail = j;
    pthread_cond_signal(&s->pool_cond);
    pthread_mutex_unlock(&s->pool_lock);
    r->deferred = true;
    return true;
}

/* A worker of the pool: answers the requests handed off, each from the start, and gives back
 * its store connection after a few idle seconds, as the loops do. */
static void *pool_main(void *arg)
{
    struct server *s = arg;
    char name[16] = "certhubd-work";
    struct job *j;
    bool used = false;

    pthread_mutex_lock(&s->pool_lock); /* held by hand_off until workers_tid holds this one */
    for (int i = 0; i < s->started; i++)
        if (pthread_equal(pthread_self(), s->workers_tid[i]))
            snprintf(name, sizeof name, "certhubd-work%u", (unsigned)i % 16u);
    ch_thread_name(name);
    for (;;) {
        if (s->jobs == NULL && !s->pool_stop) {
            struct timespec until;
            int rc;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 5;
            s->idle++;
            rc = pthread_cond_timedwait(&s->pool_cond, &s->pool_lock, &until);
            s->idle--;
            if (rc == ETIMEDOUT && used && s->jobs == NULL) {
                used = false;
                pthread_mutex_unlock(&s->pool_lock);
                ch_svc_thread_idle(s->svc);
                pthread_mutex_lock(&s->pool_lock);
            }
            continue;
        }
        if ((j = s->jobs) == NULL)
            break; /* stopping, and nothing left */
        if ((s->jobs = j->next) == NULL)
            s->jobs_tail = NULL;
        pthread_mutex_unlock(&s->pool_lock);
        this_job = j;
        http_answer(j->ev, j->svc);
        this_job = NULL;
        /* The pool answers what carries secrets (keystores and their passwords, keys): what
         * its calls left on this stack (a PKCS#12 password was found there, in frames of the
         * import's) is wiped before the next job, which may never reach that deep. */
        ch_wipe_stack();
        used = true;
        later_fire(j->l);
        pthread_mutex_lock(&s->pool_lock);
    }
    pthread_mutex_unlock(&s->pool_lock);
    ch_svc_thread_idle(s->svc);
    return NULL;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char name[16];

    /* Loop 0 is the main thread, which keeps the process's name (pidof, killall). */
    snprintf(name, sizeof name, "certhubd-http%d", (int)(w - w->server->workers));
    ch_thread_name(name);
    this_worker = w;
    event_base_dispatch(w->base);
    loop_drain(w);
    return NULL;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct server *s = arg;

    (void)sig;
    (void)what;
    stopping = 1;
    /* Graceful: stop accepting, let in-flight requests finish, then leave the loops. */
    for (int i = 0; i < s->nthreads; i++)
        event_base_loopexit(s->workers[i].base, &(struct timeval){1, 0});
}

/* Asks for a renewed server certificate now and then; swaps the context when there is one. */
static void on_renew_timer(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    SSL_CTX *fresh, *old;

    (void)fd;
    (void)what;
    if ((fresh = s->refresh(s->refresh_arg)) != NULL) {
        pthread_mutex_lock(&s->tls_lock);
        old = s->tls;
        s->tls = fresh;
        pthread_mutex_unlock(&s->tls_lock);
        SSL_CTX_free(old);
    }
    atomic_fetch_add(&s->cert_checks, 1);
}

int server_listen(const char *addr, int port)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int fd = -1, one = 1;

    memset(&ss, 0, sizeof ss);
    if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
        sl = sizeof(struct sockaddr_in6);
    } else if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
        sl = sizeof(struct sockaddr_in);
    } else {
        fprintf(stderr, "certhubd: --listen: \"%s\" is not an IP address\n", addr);
        return -1;
    }
    if ((fd = socket(ss.ss_family, SOCK_STREAM, 0)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        /* Accepted sockets inherit it: without it the last TLS record of a response waits for
         * the client's delayed ACK (40 ms) behind Nagle's algorithm. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 1024) != 0 ||
        evutil_make_socket_nonblocking(fd) != 0) {
        int e = errno;
        fprintf(stderr, "certhubd: cannot listen on %s:%d: %s%s\n", addr, port, strerror(e),
                e == EADDRINUSE ? " (another program listens there: give another with --listen ADDR:PORT, "
                                  "make run LISTEN=ADDR:PORT)"
                                : "");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

int server_run(ch_svc *svc, SSL_CTX *tls, int fd, const char *addr, int port, int nthreads, int nworkers,
               int max_connections, int request_seconds, tls_refresh_fn refresh, void *refresh_arg,
               int renew_check_seconds)
{
    struct server s = {.svc = svc, .tls = tls, .nthreads = nthreads > 16 ? 16 : nthreads,
                       .nworkers = nworkers < 0 ? 0 : nworkers > 16 ? 16 : nworkers, .refresh = refresh,
                       .refresh_arg = refresh_arg, .max_conns = max_connections > 0 ? max_connections : 4096,
                       .request_seconds = request_seconds > 0 ? request_seconds : 60};
    s.inflight_max = (size_t)s.max_conns * INFLIGHT_PER_CONN;
    if (s.inflight_max < INFLIGHT_FLOOR)
        s.inflight_max = INFLIGHT_FLOOR;
    struct event *sigint, *sigterm, *sighup = NULL;

    evthread_use_pthreads();
    raise_nofile();
    the_server = &s;
    if (conn_index < 0)
        conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_gone);
    pthread_mutex_init(&s.tls_lock, NULL);
    pthread_mutex_init(&s.full_lock, NULL);
    pthread_mutex_init(&s.balance_lock, NULL);
    pthread_mutex_init(&s.pool_lock, NULL);
    pthread_cond_init(&s.pool_cond, NULL);
    s.fd = fd;
    for (int i = 0; i < s.nthreads; i++) {
        struct worker *w = &s.workers[i];
        if ((w->base = loop_base()) == NULL || (w->http = evhttp_new(w->base)) == NULL) {
            fprintf(stderr, "certhubd: cannot make an event loop\n");
            return 1;
        }
        evhttp_set_bevcb(w->http, tls_bev, &s);
        evhttp_set_gencb(w->http, on_request, &s);
        http_limits(w->http);
        struct evhttp_bound_socket *bound = evhttp_accept_socket_with_handle(w->http, s.fd);
        if (bound == NULL || (w->resume = evtimer_new(w->base, on_resume, w)) == NULL ||
            (w->toggle = event_new(w->base, -1, 0, on_toggle, w)) == NULL) {
            fprintf(stderr, "certhubd: cannot accept on the listening socket\n");
            return 1;
        }
        w->listener = evhttp_bound_socket_get_listener(bound);
        evconnlistener_set_error_cb(w->listener, on_accept_error);
        w->server = &s;
        w->wanted = true;
        s.acceptors++;
        /* Every connection's deadline is the same period: a queue, not a heap of timers. */
        w->request_tv = event_base_init_common_timeout(w->base, &(struct timeval){s.request_seconds, 0});
        pthread_mutex_init(&w->later_lock, NULL);
        w->later_ev = event_new(w->base, -1, 0, on_later, w);
        w->idle_timer = event_new(w->base, -1, EV_PERSIST, on_idle_timer, w);
        event_add(w->idle_timer, &(struct timeval){5, 0});
    }
    sigint = evsignal_new(s.workers[0].base, SIGINT, on_signal, &s);
    sigterm = evsignal_new(s.workers[0].base, SIGTERM, on_signal, &s);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    if (refresh != NULL) {
        s.renew_timer = event_new(s.workers[0].base, -1, EV_PERSIST, on_renew_timer, &s);
        event_add(s.renew_timer, &(struct timeval){renew_check_seconds > 0 ? renew_check_seconds : 3600, 0});
        /* SIGHUP checks at once (systemd's reload; after replacing --tls-cert's files). */
        sighup = evsignal_new(s.workers[0].base, SIGHUP, on_renew_timer, &s);
        event_add(sighup, NULL);
    }
    signal(SIGPIPE, SIG_IGN);
    /* Past a file size limit (ulimit -f) a write fails (EFBIG), and the request that needed it
     * with it, rather than the signal ending certhubd with every request in flight. */
    signal(SIGXFSZ, SIG_IGN);
    for (int i = 1; i < s.nthreads; i++)
        pthread_create(&s.workers[i].tid, NULL, worker_main, &s.workers[i]);
    printf("certhubd: listening on https://%s%s%s:%d\n", strchr(addr, ':') ? "[" : "", addr, strchr(addr, ':') ? "]" : "",
           port);
    fflush(stdout);
    this_worker = &s.workers[0];
    event_base_dispatch(s.workers[0].base);
    loop_drain(&s.workers[0]);
    this_worker = NULL;
    for (int i = 1; i < s.nthreads; i++)
        pthread_join(s.workers[i].tid, NULL);
    /* The loops have drained: every job handed off is answered. */
    pthread_mutex_lock(&s.pool_lock);
    s.pool_stop = true;
    pthread_cond_broadcast(&s.pool_cond);
    pthread_mutex_unlock(&s.pool_lock);
    for (int i = 0; i < s.started; i++) /* none starts now: the loops have ended */
        pthread_join(s.workers_tid[i], NULL);
    event_free(sigint);
    event_free(sigterm);
    if (s.renew_timer)
        event_free(s.renew_timer);
    if (sighup)
        event_free(sighup);
    /* evhttp_free frees its listener before its connections, whose SSL_free may want to
     * enable the listeners again. */
    for (int i = 0; i < s.nthreads; i++)
        s.workers[i].listener = NULL;
    for (int i = 0; i < s.nthreads; i++) {
        event_free(s.workers[i].idle_timer);
        event_free(s.workers[i].resume);
        event_free(s.workers[i].toggle);
        s.workers[i].toggle = NULL;
        if (s.workers[i].later_ev)
            event_free(s.workers[i].later_ev);
        pthread_mutex_destroy(&s.workers[i].later_lock);
        evhttp_free(s.workers[i].http);
        event_base_free(s.workers[i].base);
    }
    evutil_closesocket(s.fd);
    SSL_CTX_free(s.tls);
    pthread_mutex_destroy(&s.tls_lock);
    pthread_mutex_destroy(&s.full_lock);
    the_server = NULL;
    pthread_mutex_destroy(&s.balance_lock);
    pthread_mutex_destroy(&s.pool_lock);
    pthread_cond_destroy(&s.pool_cond);
    event_log(stdout, "stopped");
    return 0;
}
