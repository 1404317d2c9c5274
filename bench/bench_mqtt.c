/*
 * MQTT connects per second through mosquitto 2 with certhub_mosquitto.so, beside the same
 * mosquitto without the plugin (anonymous, certificate still required), in the same run.
 * Each connect is a TCP connection, a full TLS 1.3 handshake with a P-256 client certificate,
 * an MQTT 3.1.1 CONNECT and its CONNACK; the device is known after its first connect.
 *
 *   bench_mqtt [--seconds S] [--clients N (1-64)] [--plugin PATH]
 */
#include <signal.h>
#include <sys/stat.h>

#include "bench_common.h"
#include "bench_http.h"
#include "bench_svc.h"

#include "certhub/service.h"

static double seconds = 3.0;
static int clients = 4;

struct client_arg {
    int port;
    SSL_CTX *tls;
    const char *client_id, *username;
};

/* One connect: TLS, CONNECT, CONNACK accepted, close. */
static int op_connect(void *p)
{
    struct client_arg *a = p;
    struct conn c;
    unsigned char pkt[512], ack[4];
    size_t cid = strlen(a->client_id), un = a->username ? strlen(a->username) : 0, n = 0, rem;
    int ok = -1;

    if (conn_open(&c, a->port, a->tls) != 0) {
        conn_close(&c);
        return -1;
    }
    rem = 10 + 2 + cid + (a->username ? 2 + un : 0);
    pkt[n++] = 0x10;
    pkt[n++] = (unsigned char)rem; /* under 128 */
    memcpy(pkt + n, "\0\4MQTT\4", 7);
    n += 7;
    pkt[n++] = a->username ? 0x82 : 0x02; /* user name, clean session */
    pkt[n++] = 0;
    pkt[n++] = 60;
    pkt[n++] = (unsigned char)(cid >> 8);
    pkt[n++] = (unsigned char)cid;
    memcpy(pkt + n, a->client_id, cid);
    n += cid;
    if (a->username) {
        pkt[n++] = (unsigned char)(un >> 8);
        pkt[n++] = (unsigned char)un;
        memcpy(pkt + n, a->username, un);
        n += un;
    }
    if (conn_write(&c, (const char *)pkt, n) == 0 && SSL_read(c.ssl, ack, 4) == 4 && ack[0] == 0x20 && ack[3] == 0)
        ok = 0;
    conn_close(&c);
    return ok;
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "w");
    int ok = f != NULL && fwrite(data, 1, len, f) == len;

    if (f)
        fclose(f);
    return ok ? 0 : -1;
}

static pid_t start_mosquitto(const char *dir, const char *name, const char *plugin, int *port)
{
    char conf[600], log[600], path[600];
    FILE *f;
    pid_t pid;

    *port = free_port();
    snprintf(path, sizeof path, "%s/%s.conf", dir, name);
    snprintf(log, sizeof log, "%s/%s.log", dir, name);
    if ((f = fopen(path, "w")) == NULL)
        return -1;
    fprintf(f,
            "per_listener_settings false\nuser %s\nlistener %d 127.0.0.1\ncapath %s/data/trust/mqtt\n"
            "certfile %s/broker.pem\nkeyfile %s/broker.key\nrequire_certificate true\nlog_type error\n"
            "set_tcp_nodelay true\n",
            getenv("USER") ? getenv("USER") : "root", *port, dir, dir, dir);
    if (plugin)
        fprintf(f, "plugin %s\nplugin_opt_data_dir %s/data\n", plugin, dir);
    else
        fprintf(f, "allow_anonymous true\n");
    fclose(f);
    snprintf(conf, sizeof conf, "%s", path);
    {
        char *args[] = {"/usr/sbin/mosquitto", "-c", conf, NULL};
        pid = spawn(args, log);
    }
    if (wait_port(*port, pid) != 0) {
        fprintf(stderr, "mosquitto did not start; see %s\n", log);
        return -1;
    }
    return pid;
}

static double run(int port, SSL_CTX *tls, const char *username)
{
    struct client_arg a[BENCH_MAX_THREADS];
    void *args[BENCH_MAX_THREADS];
    char ids[BENCH_MAX_THREADS][32];

    for (int i = 0; i < clients; i++) {
        snprintf(ids[i], sizeof ids[i], "bench-%d", i);
        a[i] = (struct client_arg){port, tls, ids[i], username};
        args[i] = &a[i];
    }
    return bench_run(op_connect, args, clients, seconds);
}

int main(int argc, char **argv)
{
    const char *plugin = NULL;
    char dir[256], data[300], path[400];
    ch_svc *svc;
    ch_svc_opts so = {.data_dir = data};
    ch_store_tenant tenant;
    ch_actor actor;
    ch_store_ca root, inter;
    ch_buf root_pem = CH_BUF_INIT, inter_pem = CH_BUF_INIT;
    ch_store_trusted trusted;
    SSL_CTX *tls;
    pid_t p1, p2;
    int port1, port2;
    double with, without;

    for (int k = 1; k < argc; k++) {
        if (strcmp(argv[k], "--seconds") == 0 && k + 1 < argc)
            seconds = atof(argv[++k]);
        else if (strcmp(argv[k], "--clients") == 0 && k + 1 < argc)
            clients = atoi(argv[++k]) < 1 ? 1 : atoi(argv[k]) > BENCH_MAX_THREADS ? BENCH_MAX_THREADS : atoi(argv[k]);
        else if (strcmp(argv[k], "--plugin") == 0 && k + 1 < argc)
            plugin = argv[++k];
        else {
            fprintf(stderr, "usage: bench_mqtt [--seconds S] [--clients N] [--plugin PATH]\n");
            return 2;
        }
    }
    if (plugin == NULL) {
        static char def[4096];
        const char *slash = strrchr(argv[0], '/');
        snprintf(def, sizeof def, "%.*s/../certhub_mosquitto.so", slash ? (int)(slash - argv[0]) : 1,
                 slash ? argv[0] : ".");
        plugin = def;
    }
    signal(SIGPIPE, SIG_IGN);
    if (ch_init() != 0)
        return 1;
    snprintf(dir, sizeof dir, "/tmp/certhub-bench-mqtt-%ld", (long)getpid());
    mkdir(dir, 0700);
    snprintf(data, sizeof data, "%s/data", dir);
    if (ch_svc_open(&svc, &so) != 0 || ch_svc_tenant_ensure(svc, "bench", &tenant) != 0)
        return 1;
    actor = (ch_actor){tenant.id, "bench", CH_ROLE_ADMIN, CH_PERM_KEYS_EXPORT, NULL, NULL};
    /* The device chain sent on connect: its issuing CA, then the root. */
    if (bench_device_pki(svc, &actor, "mqtt bench", &root, &inter, &root_pem, &inter_pem, &trusted) != 0 ||
        ch_buf_put(&inter_pem, root_pem.data, root_pem.len) != 0)
        return 1;
    /* The broker's certificate and a device's, with their keys and chains. */
    {
        const char *names[] = {"broker", "device"}, *profiles[] = {"tls-server", "tls-client"},
                   *cns[] = {"localhost", "sensor-1"};
        const char *sans[] = {"dns:localhost", NULL};
        for (int i = 0; i < 2; i++) {
            ch_svc_issue_req q = {.profile = profiles[i], .ca_id = inter.id, .key_type = "p256", .days = 30};
            ch_store_cert row;
            ch_buf pem = CH_BUF_INIT, key = CH_BUF_INIT;
            q.subject.fields.common_name = cns[i];
            if (i == 0)
                q.sans = sans;
            if (ch_svc_cert_issue(svc, &actor, &q, &row) != 0 || ch_svc_cert_pem(&pem, &row) != 0 ||
                ch_buf_put(&pem, inter_pem.data, inter_pem.len) != 0 ||
                ch_svc_key_export(svc, &actor, row.id, NULL, &key) != 0) {
                fprintf(stderr, "setup failed: %s\n", ch_error_last());
                return 1;
            }
            snprintf(path, sizeof path, "%s/%s.pem", dir, names[i]);
            write_file(path, pem.data, pem.len);
            snprintf(path, sizeof path, "%s/%s.key", dir, names[i]);
            write_file(path, key.data, key.len);
            ch_buf_dispose(&pem);
            ch_buf_dispose_secure(&key);
            ch_store_cert_dispose(&row);
        }
    }
    ch_svc_close(svc);
    tls = SSL_CTX_new(TLS_client_method());
    snprintf(path, sizeof path, "%s/device.pem", dir);
    SSL_CTX_use_certificate_chain_file(tls, path);
    snprintf(path, sizeof path, "%s/device.key", dir);
    SSL_CTX_use_PrivateKey_file(tls, path, SSL_FILETYPE_PEM);
    snprintf(path, sizeof path, "%s/trusted-root.pem", dir);
    write_file(path, root_pem.data, root_pem.len);
    SSL_CTX_load_verify_locations(tls, path, NULL);
    SSL_CTX_set_verify(tls, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(tls, SSL_SESS_CACHE_OFF); /* every connect a full handshake */

    if ((p1 = start_mosquitto(dir, "without", NULL, &port1)) < 0 ||
        (p2 = start_mosquitto(dir, "with", plugin, &port2)) < 0)
        return 1;
    /* The first connect registers the device. */
    {
        struct client_arg a = {port2, tls, "first", "bench/sensor-1"};
        if (op_connect(&a) != 0) {
            fprintf(stderr, "the device could not connect through the plugin; see %s/with.log\n", dir);
            return 1;
        }
    }
    without = run(port1, tls, NULL);
    with = run(port2, tls, "bench/sensor-1");
    printf("MQTT connects: TLS 1.3 + P-256 client certificate + CONNECT/CONNACK, %d clients, %.0f s per case\n",
           clients, seconds);
    printf("%-36s %12s\n", "mosquitto", "connects/s");
    printf("%-36s %12.0f\n", "without the plugin (anonymous)", without);
    printf("%-36s %12.0f\n", "with certhub_mosquitto.so", with);
    printf("the plugin's cost: %.0f%% of connect throughput\n", 100.0 * (without - with) / without);
    kill(p1, SIGTERM);
    kill(p2, SIGTERM);
    waitpid(p1, NULL, 0);
    waitpid(p2, NULL, 0);
    SSL_CTX_free(tls);
    snprintf(path, sizeof path, "rm -rf %s", dir);
    return system(path) == 0 ? 0 : 1;
}
