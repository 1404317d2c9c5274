/* certhubd: maps HTTP to service calls and back; no rule lives here. */
#ifndef CERTHUBD_DAEMON_H
#define CERTHUBD_DAEMON_H

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "certhub/service.h"

/* One request being answered. */
typedef struct req {
    struct evhttp_request *ev;
    ch_svc *svc;
    const char *path;          /* decoded path without the query */
    struct evkeyvalq query;
    ch_svc_principal who;      /* set once authenticated */
} req;

/* Answers with a JSON body (takes the reference). */
void reply_json(req *r, int status, json_t *body);
/* Answers with the error of the last failed call (code, message, field). */
void reply_error(req *r, int code);
/* Answers with an error built here. */
void reply_error_msg(req *r, int code, const char *field, const char *msg);
/* Reads a JSON object body (Content-Type application/json, size-capped).  NULL after replying
 * with the error. */
json_t *read_json(req *r);
/* Authenticates the Bearer token; 0, or -1 after replying 401. */
int need_auth(req *r);
/* A query parameter or NULL. */
const char *query(req *r, const char *name);

/* Route handlers (api.c).  rest is what follows "/api/v1/<resource>". */
void api_dispatch(req *r);
/* Prints every route, one "METHOD /path" a line. */
void api_print_routes(void);
/* Routes for metrics: index 0 is "other", then the route table. */
size_t api_route_count(void);
const char *api_route_label(size_t i);

#endif
