/*
 * Issuing over HTTPS: certificates per second from a running certhubd (keep-alive
 * connections, P-256 quickstart issuing CA, every certificate stored before its response),
 * printed beside the in-process rate of the service layer measured in the same run, and
 * beside `cfssl serve` (Debian golang-cfssl) signing with the same CA key and the same CSR
 * over plain HTTP, storing nothing.  Also the resident memory of both servers, idle and
 * after the run.
 *
 *   bench_https [--seconds S] [--conns N (1-64)] [--server-threads N] [--certhubd PATH] [--cfssl PATH]
 *               [--durability process|power] [--only-certhubd] [--data-dir DIR]
 *
 * The client runs on the same 2 cores as the server, so every figure includes its cost.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "bench_http.h"
#include "bench_svc.h"
#include "ossl_ref.h"

static double seconds = 3.0;
static int conns = 8;
static char server_threads[8] = "8";
static int certhubd_only;     /* --only-certhubd: skip the in-process and cfssl cases (for profiling) */
static const char *data_dir;  /* --data-dir: certhubd's store, instead of a fresh one */

/* ------------------------------------------------------------ the load */

struct load {
    int port;
    SSL_CTX *tls;             /* NULL: plain HTTP */
    const char *req;          /* the whole request, sent as is */
    size_t req_len;
    int want_status;
    const char *want_body;    /* a substring every response body holds */
    struct conn c;
};

static int load_op(void *p)
{
    struct load *l = p;
    size_t at, len;
    int status;

    if (l->c.fd <= 0 && conn_open(&l->c, l->port, l->tls) != 0)
        return -1;
    status = conn_request(&l->c, l->req, l->req_len, &at, &len);
    if (status != l->want_status || strstr(l->c.buf + at, l->want_body) == NULL) {
        fprintf(stderr, "unexpected response %d: %.300s\n", status, status > 0 ? l->c.buf + at : "");
        return -1;
    }
    return 0;
}

/* The server's and this client's CPU time per request in the last load_rate, in
 * microseconds: the two share the cores, so what the client spends the server cannot. */
static double server_us, client_us;

static double load_rate(pid_t server, int port, SSL_CTX *tls, const char *req, int want_status, const char *want_body)
{
    double cpu0 = cpu_seconds(server), own0 = cpu_seconds(getpid());
    struct load *l = calloc((size_t)conns, sizeof *l);
    void *args[BENCH_MAX_THREADS];
    double r;

    for (int i = 0; i < conns; i++) {
        l[i] = (struct load){.port = port, .tls = tls, .req = req, .req_len = strlen(req), .want_status = want_status,
                             .want_body = want_body};
        args[i] = &l[i];
    }
    r = bench_run(load_op, args, conns, seconds);
    server_us = r > 0 ? 1e6 * (cpu_seconds(server) - cpu0) / (r * seconds) : -1;
    client_us = r > 0 ? 1e6 * (cpu_seconds(getpid()) - own0) / (r * seconds) : -1;
    for (int i = 0; i < conns; i++)
        conn_close(&l[i].c);
    free(l);
    return r;
}

static char *json_escape(const char *s)
{
    json_t *j = json_string(s);
    char *out = json_dumps(j, JSON_ENCODE_ANY);

    json_decref(j);
    return out;
}

static char *certhubd_default(const char *argv0)
{
    static char path[4096];
    const char *slash = strrchr(argv0, '/');

    /* build/bench/bench_https -> build/certhubd */
    snprintf(path, sizeof path, "%.*s/../certhubd", slash ? (int)(slash - argv0) : 1, slash ? argv0 : ".");
    return path;
}

static char *find_in_path(const char *name)
{
    static char path[4096];
    const char *p = getenv("PATH");

    while (p && *p) {
        size_t n = strcspn(p, ":");
        snprintf(path, sizeof path, "%.*s/%s", (int)n, p, name);
        if (access(path, X_OK) == 0)
            return path;
        p += n + (p[n] == ':');
    }
    return NULL;
}

/* One cfssl serve on the CA in dir (ca.pem, ca-key.pem, cfssl.json), over TLS when tls is
 * given (its certificate and key in dir: tls.pem, tls-key.pem): the CSR case and the
 * server-key case, the server's and client's CPU per certificate, its memory idle and after. */
struct cfssl_run {
    double csr, key, csr_us, key_us, csr_client_us, key_client_us;
    long rss_idle, rss_after;
};

static void cfssl_serve(struct cfssl_run *out, const char *cfssl, const char *dir, SSL_CTX *tls, const char *csr_json)
{
    char ca_path[400], key_path[400], cfg_path[400], tls_path[400], tls_key[400], clog[400], port_s[16];
    char *body, *req;
    int cport = free_port();
    pid_t cpid;

    *out = (struct cfssl_run){-1, -1, -1, -1, -1, -1, -1, -1};
    snprintf(ca_path, sizeof ca_path, "%s/ca.pem", dir);
    snprintf(key_path, sizeof key_path, "%s/ca-key.pem", dir);
    snprintf(cfg_path, sizeof cfg_path, "%s/cfssl.json", dir);
    snprintf(tls_path, sizeof tls_path, "%s/tls.pem", dir);
    snprintf(tls_key, sizeof tls_key, "%s/tls-key.pem", dir);
    snprintf(clog, sizeof clog, "%s/cfssl%s.log", dir, tls ? "-tls" : "");
    snprintf(port_s, sizeof port_s, "%d", cport);
    {
        char *args[] = {(char *)cfssl, "serve", "-address", "127.0.0.1", "-port", port_s, "-ca", ca_path,
                        "-ca-key", key_path, "-config", cfg_path,
                        tls ? "-tls-cert" : NULL, tls_path, "-tls-key", tls_key, NULL};
        cpid = spawn(args, clog);
    }
    if (wait_port(cport, cpid) != 0) {
        fprintf(stderr, "cfssl serve did not start; see %s\n", clog);
        kill(cpid, SIGTERM);
        waitpid(cpid, NULL, 0);
        return;
    }
    sleep(3);
    out->rss_idle = rss_kb(cpid);
    asprintf(&body, "{\"certificate_request\":%s}", csr_json);
    req = http_request("POST", "/api/v1/cfssl/sign", NULL, body);
    out->csr = load_rate(cpid, cport, tls, req, 200, "\"success\":true");
    out->csr_us = server_us;
    out->csr_client_us = client_us;
    free(body);
    free(req);
    req = http_request("POST", "/api/v1/cfssl/newcert", NULL,
                       "{\"request\":{\"CN\":\"bench.example\",\"hosts\":[\"bench.example\"],"
                       "\"key\":{\"algo\":\"ecdsa\",\"size\":256}}}");
    out->key = load_rate(cpid, cport, tls, req, 200, "\"success\":true");
    out->key_us = server_us;
    out->key_client_us = client_us;
    free(req);
    out->rss_after = rss_kb(cpid);
    kill(cpid, SIGTERM);
    waitpid(cpid, NULL, 0);
}

/* Writes len bytes of text (all of it when len is 0) to dir/name. */
static void put_file(const char *dir, const char *name, const char *text, size_t len)
{
    char path[400];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (text != NULL && (f = fopen(path, "w")) != NULL) {
        fwrite(text, 1, len ? len : strlen(text), f);
        fclose(f);
    }
}

/* A figure not measured in this run (a case skipped) is shown as "-". */
static const char *fig(char *buf, size_t n, double v, const char *suffix)
{
    if (v < 0)
        return "-";
    snprintf(buf, n, "%.0f%s", v, suffix);
    return buf;
}

/* One case: rates, then CPU per certificate of certhubd / cfssl over HTTP / cfssl over TLS,
 * for the servers and for the benchmark's clients. */
static void print_row(const char *name, double in_process, double certhubd, double cfssl, double cfssl_tls,
                      const double server[3], const double client[3])
{
    char b[10][24], ratio[24];

    printf("%-22s %12s %11s %6s %14s %10s %7s/%s/%s %9s/%s/%s\n", name, fig(b[0], sizeof b[0], in_process, ""),
           fig(b[1], sizeof b[1], certhubd, ""),
           fig(ratio, sizeof ratio, in_process > 0 && certhubd >= 0 ? 100 * certhubd / in_process : -1, "%"),
           fig(b[2], sizeof b[2], cfssl, ""), fig(b[3], sizeof b[3], cfssl_tls, ""),
           fig(b[4], sizeof b[4], server[0], ""), fig(b[5], sizeof b[5], server[1], ""),
           fig(b[6], sizeof b[6], server[2], ""), fig(b[7], sizeof b[7], client[0], ""),
           fig(b[8], sizeof b[8], client[1], ""), fig(b[9], sizeof b[9], client[2], ""));
}

int main(int argc, char **argv)
{
    const char *certhubd = certhubd_default(argv[0]), *cfssl = find_in_path("cfssl"), *durability = "process";
    char dir[256], data[300], logf[300], listen[64], token[128] = "", *csr, *csr_json, *body, *req;
    char *ca_pem = NULL, *ca_key = NULL, *tls_pem = NULL, *tls_key = NULL, path[512];
    int port;
    pid_t pid;
    SSL_CTX *tls;
    json_t *j, *v;
    size_t i;
    const char *issuer = NULL, *issuer_cert = NULL;
    double in_csr, in_key, h_csr, h_key;
    double h_csr_us, h_key_us, h_csr_client_us, h_key_client_us, r_health, r_health_us, r_get, r_get_us;
    long rss_idle, rss_after, rss_rested;
    struct cfssl_run plain = {-1, -1, -1, -1, -1, -1, -1, -1}, over_tls = plain;
    FILE *f;

    for (int k = 1; k < argc; k++) {
        if (strcmp(argv[k], "--seconds") == 0 && k + 1 < argc)
            seconds = atof(argv[++k]);
        else if (strcmp(argv[k], "--conns") == 0 && k + 1 < argc)
            conns = atoi(argv[++k]) < 1 ? 1 : atoi(argv[k]) > BENCH_MAX_THREADS ? BENCH_MAX_THREADS : atoi(argv[k]);
        else if (strcmp(argv[k], "--server-threads") == 0 && k + 1 < argc)
            snprintf(server_threads, sizeof server_threads, "%d", atoi(argv[++k]));
        else if (strcmp(argv[k], "--certhubd") == 0 && k + 1 < argc)
            certhubd = argv[++k];
        else if (strcmp(argv[k], "--cfssl") == 0 && k + 1 < argc)
            cfssl = argv[++k];
        else if (strcmp(argv[k], "--durability") == 0 && k + 1 < argc)
            durability = argv[++k];
        else if (strcmp(argv[k], "--only-certhubd") == 0)
            certhubd_only = 1, cfssl = NULL;
        else if (strcmp(argv[k], "--data-dir") == 0 && k + 1 < argc)
            data_dir = argv[++k];
        else {
            fprintf(stderr, "usage: bench_https [--seconds S] [--conns N] [--server-threads N] [--certhubd PATH] "
                            "[--cfssl PATH] [--durability process|power] [--only-certhubd] [--data-dir DIR]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    if (ch_init() != 0)
        return 1;
    snprintf(dir, sizeof dir, "/tmp/certhub-bench-https-%ld", (long)getpid());
    mkdir(dir, 0700);
    /* --data-dir: issue into a store that exists (a large one, say), which is kept. */
    if (data_dir != NULL)
        snprintf(data, sizeof data, "%s", data_dir);
    else
        snprintf(data, sizeof data, "%s/data", dir);
    snprintf(logf, sizeof logf, "%s/certhubd.log", dir);
    port = free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    {
        char *args[] = {(char *)certhubd, "--data-dir", data, "--listen", listen, "--threads", server_threads, "--durability",
                        (char *)durability, NULL};
        pid = spawn(args, logf);
    }
    if (wait_port(port, pid) != 0) {
        fprintf(stderr, "certhubd did not start (%s); see %s\n", certhubd, logf);
        return 1;
    }
    /* Idle: started, listening, its start-up work done (certhubd's background rounds run
     * each second), no request served yet; both servers are measured so. */
    sleep(3);
    rss_idle = rss_kb(pid);
    snprintf(path, sizeof path, "%s/admin-token", data);
    if ((f = fopen(path, "r")) == NULL || fgets(token, sizeof token, f) == NULL)
        return 1;
    fclose(f);
    token[strcspn(token, "\r\n")] = '\0';
    tls = SSL_CTX_new(TLS_client_method());
    snprintf(path, sizeof path, "%s/ca.pem", data);
    SSL_CTX_load_verify_locations(tls, path, NULL);
    SSL_CTX_set_verify(tls, SSL_VERIFY_PEER, NULL);
    /* A record in one read(2) rather than its header and then its body: the load shares the
     * cores with the server, and a lighter client measures the server more closely. */
    SSL_CTX_set_read_ahead(tls, 1);

    /* The issuing CA, its certificate and (for cfssl) its key. */
    if ((j = call(port, tls, "GET", "/api/v1/cas", token, "", NULL)) == NULL)
        return 1;
    json_array_foreach(json_object_get(j, "items"), i, v)
        if (strncmp(json_string_value(json_object_get(v, "name")), CH_QUICKSTART_ISSUER, 20) == 0 &&
            strstr(json_string_value(json_object_get(v, "name")), "Issuing")) {
            issuer = strdup(json_string_value(json_object_get(v, "id")));
            issuer_cert = strdup(json_string_value(json_object_get(v, "certificate_id")));
        }
    json_decref(j);
    if (issuer == NULL)
        return 1;
    snprintf(path, sizeof path, "/api/v1/certificates/%s/export?format=pem", issuer_cert);
    call(port, tls, "GET", path, token, "", &ca_pem);
    snprintf(path, sizeof path, "/api/v1/certificates/%s/private-key", issuer_cert);
    call(port, tls, "POST", path, token, "", &ca_key);

    csr = ossl_make_csr_pem();
    csr_json = json_escape(csr);
    printf("HTTPS issuing benchmark: %.0f s per case, %d keep-alive connections, certhubd --threads %s, "
           "P-256 issuing CA, durability %s\n", seconds, conns, server_threads, durability);

    /* In-process: the service layer on its own store, the same kind of CA, 2 threads. */
    in_csr = in_key = -1;
    if (!certhubd_only) {
        char sub[400];
        ch_svc *svc;
        ch_svc_opts so = {.data_dir = sub,
                          .durability = strcmp(durability, "power") == 0 ? CH_DURABLE_POWER : CH_DURABLE_PROCESS};
        ch_store_tenant tenant;
        ch_store_ca sca;
        ch_svc_ca_req cr = {.name = "bench CA", .key_type = "p256", .path_len = -2};
        ch_actor actor;

        snprintf(sub, sizeof sub, "%s/inproc", dir);
        if (ch_svc_open(&svc, &so) != 0 || ch_svc_tenant_ensure(svc, "bench", &tenant) != 0)
            return 1;
        actor = (ch_actor){tenant.id, "bench", CH_ROLE_ADMIN, 0};
        cr.subject.fields.common_name = "bench CA";
        if (ch_svc_ca_create(svc, &actor, &cr, &sca) != 0)
            return 1;
        in_csr = svc_rate(svc, &actor, sca.id, 2, 2, NULL, csr, seconds);
        in_key = svc_rate(svc, &actor, sca.id, 1, 2, NULL, NULL, seconds);
        ch_store_ca_dispose(&sca);
        ch_store_tenant_dispose(&tenant);
        ch_svc_close(svc);
    }

    asprintf(&body, "{\"profile\":\"tls-server\",\"ca_id\":\"%s\",\"csr\":%s,\"days\":365}", issuer, csr_json);
    req = http_request("POST", "/api/v1/certificates", token, body);
    h_csr = load_rate(pid, port, tls, req, 201, "\"id\":\"crt_");
    h_csr_us = server_us;
    h_csr_client_us = client_us;
    free(body);
    free(req);
    asprintf(&body,
             "{\"profile\":\"tls-server\",\"ca_id\":\"%s\",\"key_type\":\"p256\",\"days\":365,"
             "\"subject\":{\"common_name\":\"bench.example\"},\"sans\":[\"dns:bench.example\"]}",
             issuer);
    req = http_request("POST", "/api/v1/certificates", token, body);
    h_key = load_rate(pid, port, tls, req, 201, "\"id\":\"crt_");
    h_key_us = server_us;
    h_key_client_us = client_us;
    free(body);
    free(req);
    /* Reading: the HTTPS floor (health: no authentication, no store) and one certificate with
     * its details (token, store, the certificate decoded as inspect shows it). */
    req = http_request("GET", "/api/v1/health", NULL, "");
    r_health = load_rate(pid, port, tls, req, 200, "ok");
    r_health_us = server_us;
    free(req);
    snprintf(path, sizeof path, "/api/v1/certificates/%s", issuer_cert);
    req = http_request("GET", path, token, "");
    r_get = load_rate(pid, port, tls, req, 200, "\"details\":{");
    r_get_us = server_us;
    free(req);
    rss_after = rss_kb(pid);
    /* A server certificate for cfssl's TLS (localhost, from the same issuing CA, so the
     * client trusts both servers alike). */
    if (!certhubd_only) {
        char *id = NULL;
        asprintf(&body,
                 "{\"profile\":\"tls-server\",\"ca_id\":\"%s\",\"key_type\":\"p256\",\"days\":30,"
                 "\"subject\":{\"common_name\":\"localhost\"},\"sans\":[\"dns:localhost\",\"ip:127.0.0.1\"]}",
                 issuer);
        if ((j = call(port, tls, "POST", "/api/v1/certificates", token, body, NULL)) != NULL &&
            json_string_value(json_object_get(j, "id")) != NULL)
            id = strdup(json_string_value(json_object_get(j, "id")));
        json_decref(j);
        free(body);
        if (id != NULL) {
            snprintf(path, sizeof path, "/api/v1/certificates/%s/export?format=pem", id);
            call(port, tls, "GET", path, token, "", &tls_pem);
            snprintf(path, sizeof path, "/api/v1/certificates/%s/private-key", id);
            call(port, tls, "POST", path, token, "", &tls_key);
            free(id);
        }
    }
    /* Idle again: certhubd gives back its connections and free heap once its loops have
     * answered nothing for a period (5 s), the checkpointer's after ten idle seconds. */
    sleep(12);
    rss_rested = rss_kb(pid);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);

    /* cfssl serve on the same CA certificate and key: over plain HTTP (as the goal was set),
     * then over TLS with the client's same TLS as certhubd's. */
    if (cfssl != NULL && ca_pem != NULL && ca_key != NULL) {
        /* The export holds the chain: cfssl wants the issuing certificate alone, first. */
        char *end = strstr(ca_pem, "-----END CERTIFICATE-----");
        put_file(dir, "ca.pem", ca_pem, end ? (size_t)(end - ca_pem) + 26 : 0);
        put_file(dir, "ca-key.pem", ca_key, 0);
        put_file(dir, "cfssl.json",
                 "{\"signing\":{\"default\":{\"expiry\":\"8760h\",\"usages\":[\"digital signature\","
                 "\"server auth\"]}}}\n", 0);
        cfssl_serve(&plain, cfssl, dir, NULL, csr_json);
        if (tls_pem != NULL && tls_key != NULL) {
            put_file(dir, "tls.pem", tls_pem, 0);
            put_file(dir, "tls-key.pem", tls_key, 0);
            cfssl_serve(&over_tls, cfssl, dir, tls, csr_json);
        }
    }

    printf("%-22s %12s %11s %6s %14s %10s %17s %17s\n", "case", "in-process/s", "certhubd/s", "ratio",
           "cfssl serve/s", "(TLS)/s", "server us c/s/sT", "client us c/s/sT");
    print_row("CSR supplied", in_csr, h_csr, plain.csr, over_tls.csr,
              (const double[]){h_csr_us, plain.csr_us, over_tls.csr_us},
              (const double[]){h_csr_client_us, plain.csr_client_us, over_tls.csr_client_us});
    print_row("server-generated key", in_key, h_key, plain.key, over_tls.key,
              (const double[]){h_key_us, plain.key_us, over_tls.key_us},
              (const double[]){h_key_client_us, plain.key_client_us, over_tls.key_client_us});
    printf("reading over HTTPS: GET /api/v1/health %.0f/s (%.0f us CPU each), GET /api/v1/certificates/{id} "
           "%.0f/s (%.0f us)\n", r_health, r_health_us, r_get, r_get_us);
    printf("resident memory: certhubd idle %.1f MB, after the run %.1f MB, idle again 12 s later %.1f MB", rss_idle / 1024.0,
           rss_after / 1024.0, rss_rested / 1024.0);
    if (plain.rss_idle > 0)
        printf("; cfssl serve idle %.1f MB, after %.1f MB", plain.rss_idle / 1024.0, plain.rss_after / 1024.0);
    printf("\n");
    if (cfssl == NULL && !certhubd_only)
        printf("(cfssl not found: install Debian's golang-cfssl, or give --cfssl PATH)\n");
    free(csr_json);
    free(csr);
    free(tls_pem);
    free(tls_key);
    SSL_CTX_free(tls);
    {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return 0;
}
