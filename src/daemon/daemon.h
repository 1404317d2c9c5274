/* certhubd: maps HTTP to service calls and back; no rule lives here. */
#ifndef CERTHUBD_DAEMON_H
#define CERTHUBD_DAEMON_H

#include <stdio.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <time.h>

#include "certhub/service.h"

/* A request's line and headers together. */
#define CH_MAX_HEADER_BYTES (64u * 1024u)

/* One request being answered. */
typedef struct req {
    struct evhttp_request *ev;
    ch_svc *svc;
    const char *path;          /* decoded path without the query */
    const char *raw_path;      /* the same as sent, percent-encoded */
    const char *sub;           /* what a route's {alias} matched, within path */
    struct evkeyvalq query;
    ch_svc_principal who;      /* set once authenticated */
    struct timespec t0;        /* when it began, for /metrics */
    size_t route;              /* its route in /metrics (0: other) */
    bool deferred;             /* answered later, from a later (counted then) */
} req;

/* Answers with JSON text (body: a complete JSON value). */
void reply_json_text(req *r, int status, const ch_buf *body);

/* Answers with a JSON body (takes the reference). */
void reply_json(req *r, int status, json_t *body);
/* Answers with the error of the last failed call (code, message, field). */
void reply_error(req *r, int code);
/* Answers with an error built here. */
void reply_error_msg(req *r, int code, const char *field, const char *msg);
/* 405 method_not_allowed, with the methods the resource takes ("GET, HEAD, POST") in Allow. */
void reply_method_not_allowed(req *r, const char *allow);
/* Reads a JSON object body (Content-Type application/json, size-capped) whose members are all
 * in allowed (NULL-terminated; NULL allows any).  NULL after replying with the error. */
json_t *read_json(req *r, const char *const *allowed);
int only_fields_in(req *r, json_t *obj, const char *const *allowed, const char *within);
int only_fields_for(req *r, json_t *obj, const char *const *allowed, const char *what);

/* An uploaded file with its form fields, from any of: a JSON body (fields only: the caller
 * reads the file from a field), multipart/form-data (the part named file_field is the file,
 * other parts are text fields) or a raw body of a certificate or keystore type (fields from
 * the query string, passwords from the Certhub-Password / Certhub-Key-Password headers). */
typedef struct upload {
    json_t *fields;          /* an object of strings (or the JSON body) */
    const uint8_t *file;     /* NULL when none; points into the request body */
    size_t file_len;
    char filename[516]; /* (ch_multipart_part's) */
    bool raw;                /* the file was the body itself (its fields in the query and headers) */
    bool json;               /* the fields are a JSON body's: typed, not text */
} upload;
/* 0, or -1 after replying with the error (415 for other content types, 413 over the cap). */
int read_upload(req *r, upload *u, const char *const *allowed, const char *file_field);
void upload_dispose(upload *u);
/* Authenticates the Bearer token; 0, or -1 after replying 401. */
int need_auth(req *r);
/* The certhub_session cookie of the request, copied into buf, or NULL. */
const char *session_cookie(req *r, char *buf, size_t size);
/* The request's method, HEAD taken as GET (send_reply leaves the body out of the answer). */
enum evhttp_cmd_type req_command(req *r);
/* evhttp_send_reply, but without the body for a HEAD request: libevent 2.1 writes it anyway
 * (without a Content-Length), and a client keeping the connection would read it as the start
 * of the next answer. */
void send_reply(req *r, int status, const char *reason, struct evbuffer *body);
/* The status the request was answered with (0: not yet). */
int reply_status(req *r);
/* For a handler on an event loop about to do what may take long (an RSA key, a keystore's
 * password, a search): hands the request to the server's pool of workers, where it is
 * answered again from the start, and returns true; the handler returns at once.  False on a
 * worker already, outside the server (the fuzz target), or when it cannot be handed: the
 * handler goes on. */
bool hand_off(req *r);
/* Whether the calling thread is one of the pool's workers. */
bool on_worker(void);
/* A query parameter or NULL. */
const char *query(req *r, const char *name);
/* Whether bytes a client sent to the HTTPS port, past the five OpenSSL read as a record's
 * header, are the rest of a plain HTTP/1.x request line: printable up to " HTTP/1.x" and its
 * line end (the connection is then told to ask https://). */
bool http_line_rest(const char *line, size_t n);

/* A line about something that happened while certhubd runs ("certhubd: " and the message), on
 * f, after the time (UTC, RFC 3339) unless journald takes the stream (it stamps lines itself):
 * read later, a line without its time says nothing of when. */
void event_log(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An answer finished on another thread.  A handler whose answer waits for something done
 * elsewhere (a certificate's commit) takes a later for its request ev and returns; whoever
 * finishes that work calls later_fire, from any thread, and fn(arg) then runs on the loop that
 * took the request, where the answer is sent.  The request's bytes count as in flight until
 * then (the cap on what requests hold together).  later_new returns NULL outside the server's
 * event loops (the API fuzz target answers in-process), where the handler waits instead.  A
 * later not fired is given back with later_cancel.  The server's loops do not end while one
 * is open. */
typedef struct later later;
/* Whether the calling event loop serves other connections than the one it is answering: a
 * loop serving one has nothing else to do while that request waits. */
bool loop_shared(void);
later *later_new(struct evhttp_request *ev, void (*fn)(void *), void *arg);
void later_fire(void *l); /* void *: it is a ready callback of the service */
void later_cancel(later *l);

/* The listening socket for ADDR:PORT (an IPv4 or IPv6 address), made before anything else
 * is, so that a port taken or an address not this machine's is said before a first start
 * sets up; -1 after saying what is wrong. */
int server_listen(const char *addr, int port);
/* The HTTPS server (http.c), on fd from server_listen (addr and port name it in messages).
 * Takes tls (freed on return).  Every renew_check_seconds it
 * calls refresh, which returns a new context when the server certificate was renewed, or NULL.
 * At max_connections open it stops accepting until a tenth of them have closed.  A connection
 * that has not sent a whole request in request_seconds is closed. */
typedef struct ssl_ctx_st *(*tls_refresh_fn)(void *arg);
int server_run(ch_svc *svc, struct ssl_ctx_st *tls, int fd, const char *addr, int port, int nthreads, int nworkers,
               int max_connections, int request_seconds, tls_refresh_fn refresh, void *refresh_arg,
               int renew_check_seconds);

/* Answers one request through the API: the HTTPS server's workers, and the API fuzz target,
 * which serves plain HTTP in-process, call it. */
bool http_answer(struct evhttp_request *ev, ch_svc *svc); /* true: answered later */
/* Connections each event loop serves now, into out (at most max); returns the number of loops,
 * 0 outside a running server. */
int http_loop_connections(int *out, int max);
/* Requests handed to the workers and not yet answered; -1 outside a running server. */
int http_worker_requests(void);
/* Requests handed to the workers since the server started (these /metrics among them); -1
 * outside a running server. */
long long http_worker_requests_total(void);
/* Checks of the server certificate for renewal done (--renew-check, SIGHUP), whether or not one
 * renewed it; -1 outside a running server. */
long long http_server_cert_checks(void);
/* The server certificate checked now rather than at the next --renew-check (a CA deleted: it
 * may have issued it). */
void http_server_cert_check_soon(void);
/* The body size cap, timeouts and methods of every certhubd HTTP server. */
void http_limits(struct evhttp *http);

/* Route handlers (api.c).  rest is what follows "/api/v1/<resource>". */
void api_dispatch(req *r);
/* Prints every route, one "METHOD /path" a line. */
void api_print_routes(void);
/* Routes for metrics: index 0 is "other", then the route table. */
size_t api_route_count(void);
const char *api_route_label(size_t i);

#endif
