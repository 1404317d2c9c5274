/* Fuzz target: HTTP requests from outside bytes, answered by certhubd's own request handling
 * (routing, authentication, query strings, JSON and multipart bodies, every handler) over
 * plain HTTP on a loopback port, against a real store made ready as a first start makes it.
 * Every answer must be a complete HTTP response; one certhub writes as JSON must be JSON, an
 * error one with an error code; and no request may be answered with a 5xx.
 *
 * Input: up to four requests separated by a line "%%".  A request is a line
 * "METHOD PATH[?QUERY]", a line with the Content-Type (empty: none), a line of flags ('n': no
 * token, 'v': a viewer's token, 'o': an operator's; an admin's otherwise), header lines
 * ("Name: value"; an Authorization among them replaces the token) up to an empty line, and the
 * body.  In the path, the headers and the body, {ca} is the quickstart issuing CA's id, {root}
 * the root's, {tenant} the default tenant's, {cert} a certificate issued at set-up, {password}
 * the console password of "admin"; {last} is the "id" of the previous answer of the same input,
 * {session} the console session cookie, {csrf} the CSRF token and {token} the API token an
 * earlier answer of it gave (of a list, its first item's "id"; of a device decision, its
 * "device_id").  The whole input is also read as plain HTTP sent to the TLS port is
 * (http_line_rest). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "certhub/common.h"
#include "certhub/service.h"
#include "daemon.h"
#include "fuzz_dir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_REQUESTS = 4 };

static char dir[64];
static ch_svc *svc;
static struct event_base *base;
static struct evhttp *http;
static int port;
static char *tokens[3]; /* admin, operator, viewer */
static char ca_id[CH_ID_MAX], root_id[CH_ID_MAX], tenant_id[CH_ID_MAX], cert_id[CH_ID_MAX];
static char *admin_password;

/* What earlier answers of an input gave, for the requests after them. */
enum { VALUE_MAX = 160 };
typedef struct seen {
    char last[VALUE_MAX];    /* {last} */
    char session[VALUE_MAX]; /* {session} */
    char csrf[VALUE_MAX];    /* {csrf} */
    char token[VALUE_MAX];   /* {token}: a token an answer made */
} seen;

static void cleanup(void)
{
    evhttp_free(http);
    event_base_free(base);
    for (int i = 0; i < 3; i++)
        ch_secure_free_str(tokens[i]);
    ch_secure_free_str(admin_password);
    ch_svc_close(svc);
    fuzz_dir_remove(dir);
}

static void on_request(struct evhttp_request *ev, void *arg)
{
    http_answer(ev, arg);
}

/* One exchange's outcome, as the client saw it. */
typedef struct answer {
    bool done;
    int status;
    char type[64];
    char cookie[VALUE_MAX]; /* the certhub_session a Set-Cookie gave */
    char *body;
} answer;

static void on_answer(struct evhttp_request *ev, void *arg)
{
    answer *a = arg;

    a->done = true;
    if (ev != NULL && evhttp_request_get_response_code(ev) > 0) {
        struct evbuffer *in = evhttp_request_get_input_buffer(ev);
        const char *type = evhttp_find_header(evhttp_request_get_input_headers(ev), "Content-Type");
        const char *cookie = evhttp_find_header(evhttp_request_get_input_headers(ev), "Set-Cookie");
        size_t len = evbuffer_get_length(in);

        if (cookie != NULL && strncmp(cookie, "certhub_session=", 16) == 0)
            snprintf(a->cookie, sizeof a->cookie, "%.*s", (int)strcspn(cookie + 16, ";"), cookie + 16);

        a->status = evhttp_request_get_response_code(ev);
        snprintf(a->type, sizeof a->type, "%s", type ? type : "");
        if ((a->body = malloc(len + 1)) != NULL) {
            evbuffer_remove(in, a->body, len);
            a->body[len] = '\0';
        }
    }
    event_base_loopbreak(base);
}

/* Sends one request and waits for its answer; the server answers in the same loop. */
static void exchange(enum evhttp_cmd_type method, const char *uri, const char *type, const char *token,
                     char *headers, const char *body, size_t body_len, answer *a)
{
    struct evhttp_connection *conn = evhttp_connection_base_new(base, NULL, "127.0.0.1", (unsigned short)port);
    struct evhttp_request *ev;
    struct evkeyvalq *h;
    char auth[128], length[32];

    *a = (answer){0};
    if (conn == NULL || (ev = evhttp_request_new(on_answer, a)) == NULL)
        abort();
    evhttp_connection_set_timeout(conn, 60);
    h = evhttp_request_get_output_headers(ev);
    evhttp_add_header(h, "Host", "127.0.0.1");
    for (char *line = headers, *next; line != NULL && *line != '\0'; line = next) {
        char *colon;
        if ((next = strchr(line, '\n')) != NULL)
            *next++ = '\0';
        if ((colon = strchr(line, ':')) == NULL)
            continue;
        *colon = '\0';
        if (strcasecmp(line, "Authorization") == 0)
            token = NULL;
        /* libevent refuses a name or value it could not send; that header is left out. */
        evhttp_add_header(h, line, colon + 1 + strspn(colon + 1, " "));
    }
    if (token != NULL) {
        snprintf(auth, sizeof auth, "Bearer %s", token);
        evhttp_add_header(h, "Authorization", auth);
    }
    if (type[0] != '\0')
        evhttp_add_header(h, "Content-Type", type);
    /* libevent's client adds a length to POST and PUT only. */
    snprintf(length, sizeof length, "%zu", body_len);
    evhttp_add_header(h, "Content-Length", length);
    evbuffer_add(evhttp_request_get_output_buffer(ev), body, body_len);
    if (evhttp_make_request(conn, ev, method, uri) != 0) {
        evhttp_connection_free(conn);
        return;
    }
    while (!a->done)
        event_base_loop(base, EVLOOP_ONCE);
    evhttp_connection_free(conn);
}

/* Checks what every answer of certhub's must be; aborts (a finding) when it is not. */
static void check(const answer *a, const char *uri, bool head)
{
    json_t *j;

    if (!a->done || a->status == 0)
        return; /* refused by libevent before a handler: the connection closed */
    if (head && a->body != NULL && a->body[0] != '\0') {
        fprintf(stderr, "fuzz_api: HEAD %s answered with a body: %s\n", uri, a->body);
        abort();
    }
    if (a->status >= 500) {
        fprintf(stderr, "fuzz_api: %s answered %d: %s\n", uri, a->status, a->body ? a->body : "");
        abort();
    }
    if (head || a->body == NULL || strncmp(a->type, "application/json", 16) != 0)
        return;
    if ((j = json_loads(a->body, JSON_DECODE_ANY, NULL)) == NULL) {
        fprintf(stderr, "fuzz_api: %s answered JSON that does not parse: %s\n", uri, a->body);
        abort();
    }
    if (a->status >= 400 && !json_is_string(json_object_get(json_object_get(j, "error"), "code"))) {
        fprintf(stderr, "fuzz_api: %s answered %d without an error code: %s\n", uri, a->status, a->body);
        abort();
    }
    json_decref(j);
}

/* What an answer gives the requests after it: the "id" of its object, a session cookie, a
 * CSRF token. */
static void remember(const answer *a, seen *s)
{
    json_t *j = a->body ? json_loads(a->body, JSON_DECODE_ANY, NULL) : NULL;
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *csrf = json_string_value(json_object_get(j, "csrf_token"));
    const char *token = json_string_value(json_object_get(j, "token"));

    if (id == NULL) /* a list: its first item's */
        id = json_string_value(json_object_get(json_array_get(json_object_get(j, "items"), 0), "id"));
    if (id == NULL) /* a device-auth decision names its device so */
        id = json_string_value(json_object_get(j, "device_id"));
    if (token != NULL && strlen(token) < VALUE_MAX)
        snprintf(s->token, sizeof s->token, "%s", token);

    if (id != NULL && strlen(id) < VALUE_MAX)
        snprintf(s->last, sizeof s->last, "%s", id);
    if (csrf != NULL && strlen(csrf) < VALUE_MAX)
        snprintf(s->csrf, sizeof s->csrf, "%s", csrf);
    if (a->cookie[0] != '\0')
        snprintf(s->session, sizeof s->session, "%s", a->cookie);
    json_decref(j);
}

/* A CA's id by name, from the API. */
static void ca_by_name(const char *name, char out[CH_ID_MAX])
{
    answer a;
    json_t *j, *item;
    size_t i;

    exchange(EVHTTP_REQ_GET, "/api/v1/cas", "", tokens[0], NULL, "", 0, &a);
    if (a.status != 200 || (j = json_loads(a.body, 0, NULL)) == NULL)
        abort();
    json_array_foreach(json_object_get(j, "items"), i, item)
        if (strcmp(json_string_value(json_object_get(item, "name")), name) == 0)
            snprintf(out, CH_ID_MAX, "%s", json_string_value(json_object_get(item, "id")));
    json_decref(j);
    free(a.body);
    if (out[0] == '\0')
        abort();
}

static void setup(void)
{
    ch_svc_opts so = {.data_dir = dir};
    ch_svc_bootstrap b;
    struct evhttp_bound_socket *sock;
    static const char issue[] = "{\"name\":\"fuzz\",\"subject\":{\"common_name\":\"fuzz.example\"},"
                                "\"sans\":[\"dns:fuzz.example\"],\"key_type\":\"p256\",\"days\":30}";
    answer a;

    snprintf(dir, sizeof dir, "/tmp/certhub-fuzz-api-XXXXXX");
    if (mkdtemp(dir) == NULL || ch_svc_open(&svc, &so) != 0 || ch_svc_bootstrap_run(svc, dir, NULL, 0, &b) != 0)
        abort();
    snprintf(tenant_id, sizeof tenant_id, "%s", b.tenant_id);
    tokens[0] = b.admin_token;
    admin_password = b.admin_password;
    b.admin_token = NULL;
    b.admin_password = NULL;
    ch_svc_bootstrap_dispose(&b);
    if (ch_svc_token_bootstrap(svc, tenant_id, CH_ROLE_OPERATOR, "fuzz operator", NULL, &tokens[1]) != 0 ||
        ch_svc_token_bootstrap(svc, tenant_id, CH_ROLE_VIEWER, "fuzz viewer", NULL, &tokens[2]) != 0)
        abort();
    if ((base = event_base_new()) == NULL || (http = evhttp_new(base)) == NULL ||
        (sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0)) == NULL)
        abort();
    http_limits(http);
    evhttp_set_gencb(http, on_request, svc);
    {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sl) != 0)
            abort();
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    atexit(cleanup);
    ca_by_name(CH_QUICKSTART_ISSUER, ca_id);
    ca_by_name(CH_QUICKSTART_ROOT, root_id);
    exchange(EVHTTP_REQ_POST, "/api/v1/certificates", "application/json", tokens[0], NULL, issue, sizeof issue - 1, &a);
    if (a.status != 201)
        abort();
    {
        seen first;
        memset(&first, 0, sizeof first);
        remember(&a, &first);
        snprintf(cert_id, sizeof cert_id, "%.*s", (int)sizeof cert_id - 1, first.last);
    }
    free(a.body);
}

/* text with the names of the header comment replaced; malloc'd, its length in *len. */
static char *expand(const char *text, size_t n, const seen *s, size_t *len)
{
    const char *names[] = {"{ca}", "{root}", "{tenant}", "{cert}", "{password}", "{last}", "{session}", "{csrf}", "{token}"};
    const char *values[] = {ca_id, root_id, tenant_id, cert_id, admin_password ? admin_password : "", s->last,
                            s->session, s->csrf, s->token};
    enum { NAMES = sizeof names / sizeof names[0] };
    /* Each value is shorter than VALUE_MAX and each name at least four bytes. */
    char *out = malloc(n / 4 * VALUE_MAX + n + 1), *o = out;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n;) {
        size_t k;
        for (k = 0; k < NAMES; k++) {
            size_t nl = strlen(names[k]);
            if (n - i >= nl && memcmp(text + i, names[k], nl) == 0) {
                o = stpcpy(o, values[k]);
                i += nl;
                break;
            }
        }
        if (k == NAMES)
            *o++ = text[i++];
    }
    *o = '\0';
    *len = (size_t)(o - out);
    return out;
}

static enum evhttp_cmd_type method_of(const char *m, size_t n)
{
    static const struct {
        const char *name;
        enum evhttp_cmd_type type;
    } methods[] = {{"GET", EVHTTP_REQ_GET},     {"HEAD", EVHTTP_REQ_HEAD},     {"POST", EVHTTP_REQ_POST},
                   {"PUT", EVHTTP_REQ_PUT},     {"PATCH", EVHTTP_REQ_PATCH}, {"DELETE", EVHTTP_REQ_DELETE}};
    /* Others are refused by libevent (501) before certhub sees them. */
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strlen(methods[i].name) == n && memcmp(methods[i].name, m, n) == 0)
            return methods[i].type;
    return EVHTTP_REQ_GET;
}

/* The next line of [*p, end) (without its newline) as a string in buf; empty past the end. */
static void line(const char **p, const char *end, char *buf, size_t size)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = (size_t)((nl ? nl : end) - *p);

    if (n >= size)
        n = size - 1;
    memcpy(buf, *p, n);
    buf[n] = '\0';
    *p = nl ? nl + 1 : end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    seen so_far;

    if (svc == NULL)
        setup();
    /* The same outside bytes as the rest of a request line sent in clear to the TLS port. */
    (void)http_line_rest(p, size);
    memset(&so_far, 0, sizeof so_far);
    for (int n = 0; n < MAX_REQUESTS && p < end; n++) {
        const char *sep = memmem(p, (size_t)(end - p), "\n%%\n", 4), *stop = sep ? sep : end;
        char first[2048], type[256], flags[256], *uri, *body, *sp, *headers;
        const char *blank;
        size_t uri_len, body_len, headers_len;
        const char *token;
        answer a;

        line(&p, stop, first, sizeof first);
        line(&p, stop, type, sizeof type);
        line(&p, stop, flags, sizeof flags);
        blank = p < stop && *p == '\n' ? p : memmem(p, (size_t)(stop - p), "\n\n", 2);
        if ((headers = expand(p, blank ? (size_t)(blank - p) : 0, &so_far, &headers_len)) == NULL)
            return 0;
        p = blank ? blank + (blank == p ? 1 : 2) : p;
        for (char *c = headers; *c; c++)
            if (*c == '\r' || *c == 0x7f)
                *c = '_';
        /* An RSA key of 3072 bits or more is seconds of work for nothing the rules would see. */
        if (memmem(p, (size_t)(stop - p), "rsa3072", 7) || memmem(p, (size_t)(stop - p), "rsa4096", 7)) {
            free(headers);
            return 0;
        }
        sp = strchr(first, ' ');
        if ((uri = expand(sp ? sp + 1 : "/", sp ? strlen(sp + 1) : 1, &so_far, &uri_len)) == NULL) {
            free(headers);
            return 0;
        }
        /* The request line cannot carry control characters or spaces: libevent's client
         * would write them as they are and the server refuse the line before any handler. */
        for (char *c = uri; *c; c++)
            if ((unsigned char)*c <= ' ' || *c == 0x7f)
                *c = '_';
        if ((body = expand(p, (size_t)(stop - p), &so_far, &body_len)) == NULL) {
            free(uri);
            free(headers);
            return 0;
        }
        for (char *c = type; *c; c++)
            if ((unsigned char)*c < ' ' || *c == 0x7f)
                *c = '_';
        token = strchr(flags, 'n') ? NULL : strchr(flags, 'v') ? tokens[2] : strchr(flags, 'o') ? tokens[1] : tokens[0];
        enum evhttp_cmd_type method = method_of(first, sp ? (size_t)(sp - first) : strlen(first));
        exchange(method, uri[0] == '/' ? uri : "/", type, token, headers, body, body_len, &a);
        check(&a, uri, method == EVHTTP_REQ_HEAD);
        /* For whoever writes seeds: what each request was answered. */
        if (getenv("FUZZ_API_TRACE"))
            fprintf(stderr, "%s %s -> %d %.160s\n", first, uri, a.status, a.body ? a.body : "");
        remember(&a, &so_far);
        free(a.body);
        free(uri);
        free(body);
        free(headers);
        p = sep ? sep + 4 : end;
    }
    return 0;
}
