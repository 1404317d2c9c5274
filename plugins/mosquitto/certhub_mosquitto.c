/*
 * certhub_mosquitto.so: device authentication for mosquitto 2 (plugin API v5).
 *
 *   plugin /usr/lib/certhub/certhub_mosquitto.so
 *   plugin_opt_data_dir /var/lib/certhub
 *
 * On connect it takes the client's TLS certificate and asks certhub's decision function (on
 * the same store as certhubd) whether the device may connect; on allow the client's user name
 * becomes the device id.  Once a second it asks again for every connected device, so a
 * trusted certificate disabled or deleted, or a device blocked, disconnects its clients
 * within seconds.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <openssl/x509.h>

#include "certhub/service.h"

struct client {
    char *client_id;
    char *username;     /* as the client gave it ("tenant/device" or NULL) */
    char *identity;     /* as the broker knows it once let in: "tenant/device" */
    const struct mosquitto *conn; /* the connection, which a later one of the same client id replaces */
    unsigned char *der; /* its certificate */
    size_t der_len;
    struct client *next;
};

static struct {
    mosquitto_plugin_id_t *id;
    ch_svc *svc;
    struct client *clients;
    time_t last_check;
} P;

int mosquitto_plugin_version(int count, const int *versions)
{
    for (int i = 0; i < count; i++)
        if (versions[i] == 5)
            return 5;
    return -1;
}

static void client_free(struct client *c)
{
    free(c->client_id);
    free(c->username);
    free(c->identity);
    free(c->der);
    free(c);
}

static struct client *client_of(const char *client_id)
{
    for (struct client *c = P.clients; c; c = c->next)
        if (strcmp(c->client_id, client_id) == 0)
            return c;
    return NULL;
}

/* Forgets the client of that id, or only its connection conn when not NULL: a device that
 * connects again with its client id before the broker noticed its last connection end has the
 * old one closed after the new one was let in, and forgetting by id then forgot the new one
 * (no longer asked about each second: blocking the device left it connected). */
static void forget(const char *client_id, const struct mosquitto *conn)
{
    for (struct client **pp = &P.clients; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->client_id, client_id) == 0 && (conn == NULL || (*pp)->conn == conn)) {
            struct client *c = *pp;
            *pp = c->next;
            client_free(c);
            return;
        }
}

/* The user name a device has in the broker once let in, what ACLs read as %u: "tenant/device",
 * in every tenant.  Device ids are unique within a tenant only: the id alone gave a device of
 * one tenant the topics of another's device of the same CN, and the default tenant's ids
 * alone overlapped the others' prefixes (a device named "acme" had devices/acme/# of tenant
 * acme). */
static int broker_identity(const ch_svc_decision *d, char *out, size_t size)
{
    ch_store_tenant t;
    int n;

    if (ch_store_tenant_get(ch_svc_store(P.svc), &t, d->tenant_id) < 0)
        return -1;
    n = snprintf(out, size, "%s/%s", t.name, d->device_id);
    ch_store_tenant_dispose(&t);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_basic_auth *ed = event_data;
    X509 *x = mosquitto_client_certificate(ed->client);
    const char *client_id = mosquitto_client_id(ed->client);
    unsigned char *der = NULL;
    int len;
    ch_svc_decision d;
    struct client *c;
    char identity[CH_ID_MAX + 256];
    /* Copied first: mosquitto_set_username frees the string ed->username points to. */
    char *given = ed->username ? strdup(ed->username) : NULL;

    (void)event;
    (void)userdata;
    if (x == NULL) {
        free(given);
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "certhub: deny %s: no client certificate", client_id ? client_id : "?");
        return MOSQ_ERR_AUTH;
    }
    len = i2d_X509(x, &der);
    X509_free(x);
    if (len <= 0) {
        free(given);
        return MOSQ_ERR_AUTH;
    }
    /* With its client id, the broker's key to a session: one whose session the broker keeps
     * after the device has gone is the device's (another device giving it, another tenant's
     * too, took the session and the messages queued for it: MQTT 3.1.4-3). */
    ch_svc_device_decide(P.svc, der, (size_t)len, given, client_id, !mosquitto_client_clean_session(ed->client), &d);
    /* Let in, it is known to the broker by its identity, which names its tenant. */
    if (d.allow && broker_identity(&d, identity, sizeof identity) < 0) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "certhub: deny %s (%s): error: its tenant cannot be read: %s",
                             d.device_id, client_id ? client_id : "?", ch_error_last());
        OPENSSL_free(der);
        free(given);
        return MOSQ_ERR_AUTH;
    }
    /* A client id is the broker's key to a session: a device connecting with the id of another
     * device connected now would take its session and drop it (MQTT 3.1.4-3), another
     * tenant's too.  The same device again (a reconnect the broker has not noticed the end of)
     * takes over its own.  (Said as the one decision, not after an "allow".) */
    if (d.allow && client_id != NULL && (c = client_of(client_id)) != NULL && c->identity != NULL &&
        strcmp(c->identity, identity) != 0) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "certhub: deny %s (%s): client_id_in_use: device %s is connected with "
                             "this client id; give each device its own (its device id, say)",
                             d.device_id, client_id, c->identity);
        OPENSSL_free(der);
        free(given);
        return MOSQ_ERR_AUTH;
    }
    mosquitto_log_printf(d.allow ? MOSQ_LOG_INFO : MOSQ_LOG_NOTICE, "certhub: %s %s (%s): %s%s%s",
                         d.allow ? "allow" : "deny", d.device_id[0] ? d.device_id : "?",
                         client_id ? client_id : "?", ch_decision_reason_name(d.reason), d.message[0] ? ": " : "",
                         d.message);
    if (!d.allow) {
        OPENSSL_free(der);
        free(given);
        return MOSQ_ERR_AUTH;
    }
    if (mosquitto_set_username(ed->client, identity) != MOSQ_ERR_SUCCESS) {
        OPENSSL_free(der);
        free(given);
        return MOSQ_ERR_AUTH;
    }
    if (client_id != NULL && (c = calloc(1, sizeof *c)) != NULL) {
        forget(client_id, NULL);
        c->client_id = strdup(client_id);
        c->conn = ed->client;
        c->username = given;
        given = NULL;
        c->identity = strdup(identity);
        c->der = malloc((size_t)len);
        if (c->client_id == NULL || c->identity == NULL || c->der == NULL) {
            client_free(c);
        } else {
            memcpy(c->der, der, (size_t)len);
            c->der_len = (size_t)len;
            c->next = P.clients;
            P.clients = c;
        }
    }
    OPENSSL_free(der);
    free(given);
    return MOSQ_ERR_SUCCESS;
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_disconnect *ed = event_data;
    const char *client_id = mosquitto_client_id(ed->client);

    (void)event;
    (void)userdata;
    if (client_id != NULL)
        forget(client_id, ed->client);
    return MOSQ_ERR_SUCCESS;
}

/* Once a second: every connected device asked about again. */
static int on_tick(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_tick *ed = event_data;
    time_t now = time(NULL);
    struct client **pp = &P.clients;

    (void)event;
    (void)userdata;
    (void)ed;
    if (now == P.last_check)
        return MOSQ_ERR_SUCCESS;
    P.last_check = now;
    /* certhubd revokes tenants in its own process: the revoked ones are read again here, so
     * that their devices are disconnected and refused within a second. */
    if (ch_svc_tenants_reload(P.svc) < 0)
        mosquitto_log_printf(MOSQ_LOG_WARNING, "certhub: cannot read the revoked tenants: %s", ch_error_last());
    while (*pp) {
        struct client *c = *pp;
        ch_svc_decision d;
        ch_svc_device_decide(P.svc, c->der, c->der_len, c->username, NULL, false, &d);
        if (d.allow) {
            pp = &c->next;
            continue;
        }
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "certhub: disconnecting %s (%s): %s", d.device_id, c->client_id,
                             ch_decision_reason_name(d.reason));
        /* Unlinked before the kick: kicking runs on_disconnect at once, whose forget() would
         * free c under this loop (and this loop free it again). */
        *pp = c->next;
        mosquitto_kick_client_by_clientid(c->client_id, false);
        client_free(c);
    }
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata, struct mosquitto_opt *options,
                          int option_count)
{
    ch_svc_opts so = {0};

    *userdata = NULL;
    P.id = identifier;
    for (int i = 0; i < option_count; i++)
        if (strcmp(options[i].key, "data_dir") == 0)
            so.data_dir = options[i].value;
    if (so.data_dir == NULL) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "certhub: set plugin_opt_data_dir to certhubd's data directory");
        return MOSQ_ERR_INVAL;
    }
    /* certhubd's store, or nothing: opening a directory that holds none would make a new,
     * empty one there (a typo in the path, and every device refused with no word why). */
    {
        char db[4200];
        struct stat sb;
        snprintf(db, sizeof db, "%s/certhub.db", so.data_dir);
        if (stat(db, &sb) != 0) {
            int e = errno;
            if (e == EACCES)
                mosquitto_log_printf(MOSQ_LOG_ERR,
                                     "certhub: cannot read %s (%s): run the broker as certhubd's user (user in "
                                     "mosquitto.conf, see docs/mosquitto.md)", so.data_dir, strerror(e));
            else
                mosquitto_log_printf(MOSQ_LOG_ERR,
                                     "certhub: no certhub store in %s (%s): set plugin_opt_data_dir to certhubd's "
                                     "--data-dir", so.data_dir, strerror(e));
            return MOSQ_ERR_INVAL;
        }
    }
    /* The broker's user must be certhubd's (the store is written, the master key read): said
     * as such, naming the user it runs as, rather than as certhubd's own words for a data
     * directory it cannot write. */
    if (access(so.data_dir, W_OK) != 0) {
        struct passwd *pw = getpwuid(geteuid());
        mosquitto_log_printf(MOSQ_LOG_ERR,
                             "certhub: the broker runs as user %s, which cannot write %s: run it as certhubd's user "
                             "(user in mosquitto.conf, see docs/mosquitto.md)",
                             pw ? pw->pw_name : "?", so.data_dir);
        return MOSQ_ERR_INVAL;
    }
    /* A write (a device registered, a device's last connection) waits a second at most for
     * another process's: the broker's one thread waits in it, every client with it (ten
     * seconds, certhubd's wait, held every connection). */
    so.busy_ms = 1000;
    if (ch_svc_open(&P.svc, &so) < 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "certhub: cannot open %s: %s", so.data_dir, ch_error_last());
        return MOSQ_ERR_UNKNOWN;
    }
    if (mosquitto_callback_register(P.id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL) != MOSQ_ERR_SUCCESS ||
        mosquitto_callback_register(P.id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL, NULL) != MOSQ_ERR_SUCCESS ||
        mosquitto_callback_register(P.id, MOSQ_EVT_TICK, on_tick, NULL, NULL) != MOSQ_ERR_SUCCESS) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "certhub: cannot register the plugin's callbacks");
        return MOSQ_ERR_UNKNOWN;
    }
    mosquitto_log_printf(MOSQ_LOG_INFO, "certhub: device authentication on %s", so.data_dir);
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
    (void)userdata;
    (void)options;
    (void)option_count;
    mosquitto_callback_unregister(P.id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
    mosquitto_callback_unregister(P.id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL);
    mosquitto_callback_unregister(P.id, MOSQ_EVT_TICK, on_tick, NULL);
    while (P.clients) {
        struct client *c = P.clients;
        P.clients = c->next;
        client_free(c);
    }
    ch_svc_close(P.svc);
    P.svc = NULL;
    return MOSQ_ERR_SUCCESS;
}
