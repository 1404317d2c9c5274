/*
 * Issuing over HTTPS: certificates per second from a running certhubd (keep-alive
 * connections, P-256 quickstart issuing CA, every certificate stored before its response),
 * printed beside the in-process rate of the service layer measured in the same run, and
 * beside `cfssl serve` (Debian golang-cfssl) signing with the same CA key and the same CSR
 * over plain HTTP, storing nothing.  Also the resident memory of both servers, idle and
 * after the run.
 *
 *   bench_https [--seconds S] [--rounds N (1-9)] [--conns N (1-64)] [--server-threads N] [--certhubd PATH]
 *               [--cfssl PATH] [--durability process|power] [--only-certhubd] [--data-dir DIR]
 *
 * The servers run side by side and take turns in each round (every case on every server,
 * the in-process rate among them); each figure is printed per round and as the median of the
 * rounds, and certhubd is compared with cfssl round by round.
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
static char server_threads[8] = ""; /* certhubd's default: one loop per core */
static int certhubd_only;     /* --only-certhubd: skip the in-process and cfssl cases (for profiling) */
static const char *data_dir;  /* --data-dir: certhubd's store, instead of a fresh one */

#define MAX_ROUNDS 9
/* What a round measures: the service layer in this process, and the three servers. */
enum { T_INPROC, T_CERTHUBD, T_CFSSL, T_CFSSL_TLS, T_N };

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

/* A server under load in the rounds: certhubd, cfssl serve over plain HTTP, cfssl serve over
 * TLS.  req[c] is the whole request of case c; the response must have want_status and hold
 * want_body. */
struct server {
    const char *name;
    pid_t pid;
    int port;
    SSL_CTX *tls;
    char *req[2];
    int want_status;
    const char *want_body;
    long rss_idle, rss_after;
};

/* Starts cfssl serve on the CA in dir (ca.pem, ca-key.pem, cfssl.json), over TLS when tls is
 * given (its certificate and key in dir: tls.pem, tls-key.pem); 0 when it listens. */
static int cfssl_start(struct server *s, const char *cfssl, const char *dir, SSL_CTX *tls, const char *csr_json)
{
    char ca_path[400], key_path[400], cfg_path[400], tls_path[400], tls_key[400], clog[400], port_s[16];
    char *body;

    s->port = free_port();
    s->tls = tls;
    s->want_status = 200;
    s->want_body = "\"success\":true";
    snprintf(ca_path, sizeof ca_path, "%s/ca.pem", dir);
    snprintf(key_path, sizeof key_path, "%s/ca-key.pem", dir);
    snprintf(cfg_path, sizeof cfg_path, "%s/cfssl.json", dir);
    snprintf(tls_path, sizeof tls_path, "%s/tls.pem", dir);
    snprintf(tls_key, sizeof tls_key, "%s/tls-key.pem", dir);
    snprintf(clog, sizeof clog, "%s/cfssl%s.log", dir, tls ? "-tls" : "");
    snprintf(port_s, sizeof port_s, "%d", s->port);
    {
        char *args[] = {(char *)cfssl, "serve", "-address", "127.0.0.1", "-port", port_s, "-ca", ca_path,
                        "-ca-key", key_path, "-config", cfg_path,
                        tls ? "-tls-cert" : NULL, tls_path, "-tls-key", tls_key, NULL};
        s->pid = spawn(args, clog);
    }
    if (wait_port(s->port, s->pid) != 0) {
        fprintf(stderr, "cfssl serve did not start; see %s\n", clog);
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
        return -1;
    }
    asprintf(&body, "{\"certificate_request\":%s}", csr_json);
    s->req[0] = http_request("POST", "/api/v1/cfssl/sign", NULL, body);
    free(body);
    s->req[1] = http_request("POST", "/api/v1/cfssl/newcert", NULL,
                             "{\"request\":{\"CN\":\"bench.example\",\"hosts\":[\"bench.example\"],"
                             "\"key\":{\"algo\":\"ecdsa\",\"size\":256}}}");
    return 0;
}

static void server_stop(struct server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
    s->pid = 0;
    free(s->req[0]);
    free(s->req[1]);
    s->req[0] = s->req[1] = NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of n figures; -1 (not measured) when any is. */
static double median(const double *v, int n)
{
    double s[MAX_ROUNDS];

    for (int i = 0; i < n; i++)
        if ((s[i] = v[i]) < 0)
            return -1;
    qsort(s, (size_t)n, sizeof s[0], cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
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

    printf("%-28s %12s %11s %6s %14s %10s %7s/%s/%s %9s/%s/%s\n", name, fig(b[0], sizeof b[0], in_process, ""),
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
    static const char *case_name[2] = {"CSR supplied", "server-generated key"};
    char dir[256], data[300], logf[300], listen[64], token[128] = "", *csr, *csr_json, *body, *req;
    char *ca_pem = NULL, *ca_key = NULL, *tls_pem = NULL, *tls_key = NULL, path[512];
    int rounds = 3;
    SSL_CTX *tls;
    json_t *j, *v;
    size_t i;
    const char *issuer = NULL, *issuer_cert = NULL;
    /* Per round, case and target: the rate, the server's CPU and the client's CPU per request. */
    static double rate[MAX_ROUNDS][2][T_N], srv_us[MAX_ROUNDS][2][T_N], cli_us[MAX_ROUNDS][2][T_N];
    double r_health, r_health_us, r_get, r_get_us;
    long rss_rested;
    struct server srv[T_N] = {{0}};
    ch_svc *svc = NULL;
    ch_actor actor = {0};
    ch_store_tenant tenant = {0};
    ch_store_ca sca = {0};
    FILE *f;

    for (int k = 1; k < argc; k++) {
        if (strcmp(argv[k], "--seconds") == 0 && k + 1 < argc)
            seconds = atof(argv[++k]);
        else if (strcmp(argv[k], "--rounds") == 0 && k + 1 < argc)
            rounds = atoi(argv[++k]) < 1 ? 1 : atoi(argv[k]) > MAX_ROUNDS ? MAX_ROUNDS : atoi(argv[k]);
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
            fprintf(stderr, "usage: bench_https [--seconds S] [--rounds N] [--conns N] [--server-threads N] "
                            "[--certhubd PATH] [--cfssl PATH] [--durability process|power] [--only-certhubd] "
                            "[--data-dir DIR]\n");
            return 2;
        }
    }
    if (server_threads[0] == '\0')
        snprintf(server_threads, sizeof server_threads, "%ld", sysconf(_SC_NPROCESSORS_ONLN));
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
    srv[T_CERTHUBD] = (struct server){.name = "certhubd", .port = free_port(), .want_status = 201,
                                      .want_body = "\"id\":\"crt_"};
    srv[T_CFSSL].name = "cfssl serve";
    srv[T_CFSSL_TLS].name = "cfssl serve (TLS)";
    snprintf(listen, sizeof listen, "127.0.0.1:%d", srv[T_CERTHUBD].port);
    {
        char *args[] = {(char *)certhubd, "--data-dir", data, "--listen", listen, "--threads", server_threads, "--durability",
                        (char *)durability, NULL};
        srv[T_CERTHUBD].pid = spawn(args, logf);
    }
    if (wait_port(srv[T_CERTHUBD].port, srv[T_CERTHUBD].pid) != 0) {
        fprintf(stderr, "certhubd did not start (%s); see %s\n", certhubd, logf);
        return 1;
    }
    /* Idle: started, listening, its start-up work done (certhubd's background rounds run
     * each second), no request served yet; both servers are measured so. */
    sleep(3);
    srv[T_CERTHUBD].rss_idle = rss_kb(srv[T_CERTHUBD].pid);
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
    srv[T_CERTHUBD].tls = tls;

    /* The issuing CA, its certificate and (for cfssl) its key. */
    if ((j = call(srv[T_CERTHUBD].port, tls, "GET", "/api/v1/cas", token, "", NULL)) == NULL)
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
    call(srv[T_CERTHUBD].port, tls, "GET", path, token, "", &ca_pem);
    snprintf(path, sizeof path, "/api/v1/certificates/%s/private-key", issuer_cert);
    call(srv[T_CERTHUBD].port, tls, "POST", path, token, "", &ca_key);

    csr = ossl_make_csr_pem();
    csr_json = json_escape(csr);
    asprintf(&body, "{\"profile\":\"tls-server\",\"ca_id\":\"%s\",\"csr\":%s,\"days\":365}", issuer, csr_json);
    srv[T_CERTHUBD].req[0] = http_request("POST", "/api/v1/certificates", token, body);
    free(body);
    asprintf(&body,
             "{\"profile\":\"tls-server\",\"ca_id\":\"%s\",\"key_type\":\"p256\",\"days\":365,"
             "\"subject\":{\"common_name\":\"bench.example\"},\"sans\":[\"dns:bench.example\"]}",
             issuer);
    srv[T_CERTHUBD].req[1] = http_request("POST", "/api/v1/certificates", token, body);
    free(body);

    /* cfssl serve on the same CA certificate and key, over plain HTTP (as the goal was set)
     * and over TLS with the client's same TLS as certhubd's (a localhost certificate from the
     * same issuing CA, so the client trusts both servers alike).  Both run beside certhubd for
     * the whole benchmark: the rounds take turns at the cores, so a slow or fast phase of the
     * machine falls on every server alike. */
    if (cfssl != NULL && ca_pem != NULL && ca_key != NULL) {
        /* The export holds the chain: cfssl wants the issuing certificate alone, first. */
        char *end = strstr(ca_pem, "-----END CERTIFICATE-----");
        char *id = NULL;

        put_file(dir, "ca.pem", ca_pem, end ? (size_t)(end - ca_pem) + 26 : 0);
        put_file(dir, "ca-key.pem", ca_key, 0);
        put_file(dir, "cfssl.json",
                 "{\"signing\":{\"default\":{\"expiry\":\"8760h\",\"usages\":[\"digital signature\","
                 "\"server auth\"]}}}\n", 0);
        asprintf(&body,
                 "{\"profile\":\"tls-server\",\"ca_id\":\"%s\",\"key_type\":\"p256\",\"days\":30,"
                 "\"subject\":{\"common_name\":\"localhost\"},\"sans\":[\"dns:localhost\",\"ip:127.0.0.1\"]}",
                 issuer);
        if ((j = call(srv[T_CERTHUBD].port, tls, "POST", "/api/v1/certificates", token, body, NULL)) != NULL &&
            json_string_value(json_object_get(j, "id")) != NULL)
            id = strdup(json_string_value(json_object_get(j, "id")));
        json_decref(j);
        free(body);
        if (id != NULL) {
            snprintf(path, sizeof path, "/api/v1/certificates/%s/export?format=pem", id);
            call(srv[T_CERTHUBD].port, tls, "GET", path, token, "", &tls_pem);
            snprintf(path, sizeof path, "/api/v1/certificates/%s/private-key", id);
            call(srv[T_CERTHUBD].port, tls, "POST", path, token, "", &tls_key);
            free(id);
        }
        if (cfssl_start(&srv[T_CFSSL], cfssl, dir, NULL, csr_json) == 0 && tls_pem != NULL && tls_key != NULL) {
            put_file(dir, "tls.pem", tls_pem, 0);
            put_file(dir, "tls-key.pem", tls_key, 0);
            cfssl_start(&srv[T_CFSSL_TLS], cfssl, dir, tls, csr_json);
        }
        sleep(3);
        for (int t = T_CFSSL; t <= T_CFSSL_TLS; t++)
            if (srv[t].pid > 0)
                srv[t].rss_idle = rss_kb(srv[t].pid);
    }

    /* In-process: the service layer on its own store, the same kind of CA, 2 threads. */
    if (!certhubd_only) {
        char sub[400];
        ch_svc_opts so = {.data_dir = sub,
                          .durability = strcmp(durability, "power") == 0 ? CH_DURABLE_POWER : CH_DURABLE_PROCESS};
        ch_svc_ca_req cr = {.name = "bench CA", .key_type = "p256", .path_len = -2};

        snprintf(sub, sizeof sub, "%s/inproc", dir);
        if (ch_svc_open(&svc, &so) != 0 || ch_svc_tenant_ensure(svc, "bench", &tenant) != 0)
            return 1;
        actor = (ch_actor){tenant.id, "bench", CH_ROLE_ADMIN, 0, NULL, NULL};
        cr.subject.fields.common_name = "bench CA";
        if (ch_svc_ca_create(svc, &actor, &cr, &sca) != 0)
            return 1;
    }

    printf("HTTPS issuing benchmark: %d rounds of %.0f s per case and server, %d keep-alive connections, "
           "certhubd --threads %s, P-256 issuing CA, durability %s\n", rounds, seconds, conns, server_threads,
           durability);
    /* Each round runs every case on every target in turn, starting one further along each
     * round, so that no target always follows the same one. */
    for (int r = 0; r < rounds; r++)
        for (int c = 0; c < 2; c++)
            for (int k = 0; k < T_N; k++) {
                int t = (k + r) % T_N;

                rate[r][c][t] = srv_us[r][c][t] = cli_us[r][c][t] = -1;
                if (t == T_INPROC && svc != NULL)
                    rate[r][c][t] = svc_rate(svc, &actor, sca.id, c == 0 ? 2 : 1, 2, NULL, csr, seconds);
                else if (t != T_INPROC && srv[t].pid > 0) {
                    rate[r][c][t] = load_rate(srv[t].pid, srv[t].port, srv[t].tls, srv[t].req[c],
                                              srv[t].want_status, srv[t].want_body);
                    srv_us[r][c][t] = server_us;
                    cli_us[r][c][t] = client_us;
                }
            }
    if (svc != NULL) {
        ch_store_ca_dispose(&sca);
        ch_store_tenant_dispose(&tenant);
        ch_svc_close(svc);
    }

    /* Reading: the HTTPS floor (health: no authentication, no store) and one certificate with
     * its details (token, store, the certificate decoded as inspect shows it). */
    req = http_request("GET", "/api/v1/health", NULL, "");
    r_health = load_rate(srv[T_CERTHUBD].pid, srv[T_CERTHUBD].port, tls, req, 200, "ok");
    r_health_us = server_us;
    free(req);
    snprintf(path, sizeof path, "/api/v1/certificates/%s", issuer_cert);
    req = http_request("GET", path, token, "");
    r_get = load_rate(srv[T_CERTHUBD].pid, srv[T_CERTHUBD].port, tls, req, 200, "\"details\":{");
    r_get_us = server_us;
    free(req);
    for (int t = T_CERTHUBD; t < T_N; t++)
        if (srv[t].pid > 0)
            srv[t].rss_after = rss_kb(srv[t].pid);
    server_stop(&srv[T_CFSSL]);
    server_stop(&srv[T_CFSSL_TLS]);
    /* Idle again: certhubd gives back its connections and free heap once its loops have
     * answered nothing for a period (5 s), the checkpointer's after ten idle seconds. */
    sleep(12);
    rss_rested = rss_kb(srv[T_CERTHUBD].pid);
    server_stop(&srv[T_CERTHUBD]);

    printf("%-28s %12s %11s %6s %14s %10s %17s %17s\n", "case (round)", "in-process/s", "certhubd/s", "ratio",
           "cfssl serve/s", "(TLS)/s", "server us c/s/sT", "client us c/s/sT");
    for (int c = 0; c < 2; c++) {
        double m[3][T_N], col[MAX_ROUNDS];
        char name[40];

        for (int r = 0; r < rounds; r++) {
            snprintf(name, sizeof name, "%s (%d)", case_name[c], r + 1);
            print_row(name, rate[r][c][T_INPROC], rate[r][c][T_CERTHUBD], rate[r][c][T_CFSSL],
                      rate[r][c][T_CFSSL_TLS], &srv_us[r][c][T_CERTHUBD], &cli_us[r][c][T_CERTHUBD]);
        }
        for (int t = 0; t < T_N; t++) {
            for (int r = 0; r < rounds; r++)
                col[r] = rate[r][c][t];
            m[0][t] = median(col, rounds);
            for (int r = 0; r < rounds; r++)
                col[r] = srv_us[r][c][t];
            m[1][t] = median(col, rounds);
            for (int r = 0; r < rounds; r++)
                col[r] = cli_us[r][c][t];
            m[2][t] = median(col, rounds);
        }
        snprintf(name, sizeof name, "%s median", case_name[c]);
        print_row(name, m[0][T_INPROC], m[0][T_CERTHUBD], m[0][T_CFSSL], m[0][T_CFSSL_TLS], &m[1][T_CERTHUBD],
                  &m[2][T_CERTHUBD]);
    }
    /* The comparison that the machine's phases disturb least: certhubd against cfssl within
     * each round, the two measured seconds apart. */
    if (srv[T_CFSSL].rss_idle > 0) {
        printf("certhubd against cfssl, median of the rounds' ratios (plain HTTP / TLS):");
        for (int c = 0; c < 2; c++) {
            double p[MAX_ROUNDS], q[MAX_ROUNDS];

            for (int r = 0; r < rounds; r++) {
                p[r] = rate[r][c][T_CFSSL] > 0 ? 100 * rate[r][c][T_CERTHUBD] / rate[r][c][T_CFSSL] : -1;
                q[r] = rate[r][c][T_CFSSL_TLS] > 0 ? 100 * rate[r][c][T_CERTHUBD] / rate[r][c][T_CFSSL_TLS] : -1;
            }
            printf("%s %s %.0f %% / %.0f %%", c ? ";" : "", case_name[c], median(p, rounds), median(q, rounds));
        }
        printf("\n");
    }
    printf("reading over HTTPS: GET /api/v1/health %.0f/s (%.0f us CPU each), GET /api/v1/certificates/{id} "
           "%.0f/s (%.0f us)\n", r_health, r_health_us, r_get, r_get_us);
    printf("resident memory: certhubd idle %.1f MB, after the run %.1f MB, idle again 12 s later %.1f MB",
           srv[T_CERTHUBD].rss_idle / 1024.0, srv[T_CERTHUBD].rss_after / 1024.0, rss_rested / 1024.0);
    if (srv[T_CFSSL].rss_idle > 0)
        printf("; cfssl serve idle %.1f MB, after %.1f MB", srv[T_CFSSL].rss_idle / 1024.0,
               srv[T_CFSSL].rss_after / 1024.0);
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
