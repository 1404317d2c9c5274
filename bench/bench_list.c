/*
 * Listing and searching a large inventory: a store is filled with N certificate rows
 * (default 1,000,000) in the default tenant, certhubd is started on it, and pages are asked
 * for over one keep-alive HTTPS connection: expiring before a date (first page and 20 pages
 * deep through the cursor), a search matching one certificate, a search matching a tenth of
 * them, the overview (every certificate counted by expiry, 26 weekly buckets), /metrics and the
 * trust bundle (the tenant's CA certificates among all of them).  p50/p99 of
 * each beside the same query through the store in-process (the limit), and certhubd's
 * resident memory idle and after the queries.
 *
 *   bench_list [--rows N] [--queries Q] [--dir DIR] [--certhubd PATH]
 *
 * With --dir and an existing filled store, the fill is skipped.
 */
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "bench_common.h"
#include "bench_http.h"

#include "certhub/service.h"
#include "certhub/store.h"

static long rows = 1000000;
static int queries = 200;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct stats {
    double p50, p99;
};

static struct stats summarize(double *ms, int n)
{
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    return (struct stats){ms[n / 2], ms[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1]};
}

/* Fills the default tenant with synthetic rows: distinct subjects, serials and SHA-256s, expiries
 * spread over two years, one real certificate's DER as the body. */
static int fill(const char *dir)
{
    ch_svc *svc;
    ch_svc_opts so = {.data_dir = dir};
    ch_svc_bootstrap b;
    ch_store *st;
    ch_store_cert row = {0}, real;
    ch_store_cert_filter f = {.is_ca = 1};
    ch_store_cert *some = NULL;
    size_t n = 0;
    char *next = NULL, id[CH_ID_MAX], subject[128], name[64], serial[40], sans[96];
    int64_t now = ch_now();
    double t0 = bench_now();

    if (ch_svc_open(&svc, &so) != 0 || ch_svc_bootstrap_run(svc, dir, "localhost", 0, &b) != 0) {
        fprintf(stderr, "setup failed: %s\n", ch_error_last());
        return -1;
    }
    st = ch_svc_store(svc);
    if (ch_store_cert_list(st, b.tenant_id, &f, 1, NULL, &some, &n, &next) != 0 || n == 0 ||
        ch_store_cert_get(st, &real, b.tenant_id, some[0].id) != 0)
        return -1;
    row.tenant_id = b.tenant_id;
    row.der = real.der;
    row.der_len = real.der_len;
    row.issuer = real.issuer;
    row.method = "csr_signed";
    row.profile = "tls-server";
    row.status = "active";
    row.subject = subject;
    row.name = name;
    row.serial = serial;
    row.sans = sans;
    for (long i = 0; i < rows; i++) {
        if (i % 20000 == 0 && ch_store_begin(st) != 0)
            return -1;
        ch_store_new_id(id, "crt_");
        row.id = id;
        snprintf(subject, sizeof subject, "CN=device-%07ld.fleet.example,OU=fleet %ld,O=Example", i, i % 10);
        snprintf(name, sizeof name, "device-%07ld.fleet.example", i);
        snprintf(sans, sizeof sans, "dns:device-%07ld.fleet.example", i);
        snprintf(serial, sizeof serial, "%032lx", (unsigned long)i * 2654435761ul);
        snprintf(row.sha256, sizeof row.sha256, "%064lx", (unsigned long)i);
        row.not_before = now - 86400;
        row.not_after = now + 3600 + (i * 7919) % (730 * 86400L);
        row.created_at = now - rows + i;
        if (ch_store_cert_put(st, &row, NULL) != 0) {
            fprintf(stderr, "insert failed: %s\n", ch_error_last());
            return -1;
        }
        if (i % 20000 == 19999 || i == rows - 1) {
            if (ch_store_commit(st) != 0)
                return -1;
            if (i % 200000 == 199999)
                fprintf(stderr, "  %ld rows (%.0f rows/s)\n", i + 1, (i + 1) / (bench_now() - t0));
        }
    }
    /* The search index is kept up by the store's background thread: measure once it has
     * caught up, as a server that has been running would be. */
    for (int64_t pending = 1; pending > 0;) {
        if (ch_store_search_pending(st, &pending) != 0)
            return -1;
        if (pending > 0)
            usleep(200000);
    }
    fprintf(stderr, "  indexed for search after %.0f s\n", bench_now() - t0);
    ch_store_cert_list_free(some, n);
    ch_store_cert_dispose(&real);
    free(next);
    ch_svc_bootstrap_dispose(&b);
    ch_svc_close(svc);
    return 0;
}

enum { Q_EXPIRING, Q_DEEP, Q_RARE, Q_COMMON, Q_IMPORTED, Q_GENERATED, Q_OVERVIEW, Q_METRICS, Q_BUNDLE, NQ };
static const char *const qnames[NQ] = {"expiring before, page 1", "expiring before, page 21",
                                       "search, 1 match", "search, 10% match", "imported, soonest first",
                                       "generated, newest first", "overview (counts)", "GET /metrics",
                                       "GET trust bundle (PEM)"};
/* The paths of the cases asked over HTTPS alone (the others are certificate lists). */
static const char *const qpaths[NQ] = {[Q_OVERVIEW] = "/api/v1/overview", [Q_METRICS] = "/metrics",
                                       [Q_BUNDLE] = "/api/v1/bundles/default"};

/* The overview and /metrics read every valid row's expiry: fewer runs of them (and of the
 * bundle after them) keep the benchmark short. */
static int runs_of(int q)
{
    return q >= Q_OVERVIEW && queries > 20 ? 20 : queries;
}

/* The query string of case q (deep pages follow cursors, so it is built per step). */
static void query_of(int q, char *out, size_t size, int64_t before, int k)
{
    switch (q) {
    case Q_EXPIRING:
    case Q_DEEP: {
        char t[32];
        ch_time_format(t, sizeof t, before);
        snprintf(out, size, "limit=50&expiring_before=%s", t);
        break;
    }
    case Q_RARE: snprintf(out, size, "limit=50&search=device-%07d.", (k * 104729) % (int)rows); break;
    /* None of the filled rows is imported: the filter alone must not read them all. */
    case Q_IMPORTED: snprintf(out, size, "limit=50&method=imported&status=active"); break;
    /* A method of issuing few certificates have (the filled rows are csr_signed; the first
     * start's own are generated): it has no index of its own. */
    case Q_GENERATED: snprintf(out, size, "limit=50&method=generated"); break;
    default: snprintf(out, size, "limit=50&search=OU%%3Dfleet%%20%d", k % 10); break;
    }
}

static double ms_since(double t0)
{
    return (bench_now() - t0) * 1000.0;
}

/* In-process: the store's list call, as the API handler makes it. */
static void run_inprocess(const char *dir, const char *tenant_id, int64_t before, struct stats out[NQ])
{
    ch_svc *svc;
    ch_svc_opts so = {.data_dir = dir};
    double *ms = calloc((size_t)queries, sizeof *ms);

    if (ch_svc_open(&svc, &so) != 0)
        return;
    for (int q = 0; q < NQ; q++) {
        if (q >= Q_METRICS) { /* several store calls, or the process's counters: HTTPS only */
            out[q] = (struct stats){-1, -1};
            continue;
        }
        for (int k = 0; k < runs_of(q); k++) {
            ch_store_cert_filter f = {.is_ca = -1};
            ch_store_cert *list = NULL;
            size_t n = 0;
            char *next = NULL, search[64];
            double t0 = bench_now();
            int pages = q == Q_DEEP ? 21 : 1;
            if (q == Q_OVERVIEW) {
                int64_t valid, expired, weeks[26];
                if (ch_store_cert_expiry(ch_svc_store(svc), tenant_id, time(NULL), 7 * 86400, 26, &valid, &expired,
                                         weeks) != 0) {
                    fprintf(stderr, "overview failed: %s\n", ch_error_last());
                    return;
                }
                ms[k] = ms_since(t0);
                continue;
            }
            if (q <= Q_DEEP) {
                f.expiring_before = before;
                f.order = CH_ORDER_EXPIRY;
            } else if (q == Q_IMPORTED) {
                f.method = "imported";
                f.unexpired_at = time(NULL);
                f.order = CH_ORDER_EXPIRY;
            } else if (q == Q_GENERATED) {
                f.method = "generated";
            } else if (q == Q_RARE) {
                snprintf(search, sizeof search, "device-%07d.", (k * 104729) % (int)rows);
                f.search = search;
            } else {
                snprintf(search, sizeof search, "OU=fleet %d", k % 10);
                f.search = search;
            }
            for (int p = 0; p < pages; p++) {
                char *cursor = next;
                next = NULL;
                t0 = p == pages - 1 ? bench_now() : t0;
                if (ch_store_cert_list(ch_svc_store(svc), tenant_id, &f, 50, cursor, &list, &n, &next) != 0) {
                    fprintf(stderr, "list failed: %s\n", ch_error_last());
                    return;
                }
                free(cursor);
                ch_store_cert_list_free(list, n);
            }
            free(next);
            ms[k] = ms_since(t0);
        }
        out[q] = summarize(ms, runs_of(q));
    }
    free(ms);
    ch_svc_close(svc);
}

static char *certhubd_default(const char *argv0)
{
    static char path[4096];
    const char *slash = strrchr(argv0, '/');

    snprintf(path, sizeof path, "%.*s/../certhubd", slash ? (int)(slash - argv0) : 1, slash ? argv0 : ".");
    return path;
}

int main(int argc, char **argv)
{
    const char *certhubd = certhubd_default(argv[0]);
    char dir[4096] = "", path[4200], token[128] = "", listen[64], logf[4200], qs[200], req[600], tenant[CH_ID_MAX] = "";
    struct stats http[NQ], inproc[NQ];
    struct conn c;
    double *ms;
    int64_t before;
    long idle, after;
    int port;
    pid_t pid;
    SSL_CTX *tls;
    FILE *f;
    bool keep = false;
    struct stat sb;

    for (int k = 1; k < argc; k++) {
        if (strcmp(argv[k], "--rows") == 0 && k + 1 < argc)
            rows = atol(argv[++k]);
        else if (strcmp(argv[k], "--queries") == 0 && k + 1 < argc)
            queries = atoi(argv[++k]);
        else if (strcmp(argv[k], "--dir") == 0 && k + 1 < argc) {
            snprintf(dir, sizeof dir, "%s", argv[++k]);
            keep = true;
        } else if (strcmp(argv[k], "--certhubd") == 0 && k + 1 < argc)
            certhubd = argv[++k];
        else {
            fprintf(stderr, "usage: bench_list [--rows N] [--queries Q] [--dir DIR] [--certhubd PATH]\n");
            return 2;
        }
    }
    if (rows < 1000 || queries < 10)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    if (ch_init() != 0)
        return 1;
    if (dir[0] == '\0')
        snprintf(dir, sizeof dir, "/tmp/certhub-bench-list-%ld", (long)getpid());
    snprintf(path, sizeof path, "%s/admin-token", dir);
    if (stat(path, &sb) != 0) {
        double t0 = bench_now();
        fprintf(stderr, "filling %s with %ld certificates...\n", dir, rows);
        if (fill(dir) != 0)
            return 1;
        fprintf(stderr, "filled in %.0f s\n", bench_now() - t0);
    }
    if ((f = fopen(path, "r")) == NULL || fgets(token, sizeof token, f) == NULL)
        return 1;
    fclose(f);
    token[strcspn(token, "\r\n")] = '\0';
    {
        ch_svc *svc;
        ch_svc_opts so = {.data_dir = dir};
        ch_store_tenant t;
        if (ch_svc_open(&svc, &so) != 0 || ch_store_tenant_get_by_name(ch_svc_store(svc), &t, "default") != 0)
            return 1;
        snprintf(tenant, sizeof tenant, "%s", t.id);
        ch_store_tenant_dispose(&t);
        ch_svc_close(svc);
    }
    before = ch_now() + 30 * 86400;
    run_inprocess(dir, tenant, before, inproc);

    port = free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(logf, sizeof logf, "%s/certhubd.log", dir);
    {
        char *args[] = {(char *)certhubd, "--data-dir", dir, "--listen", listen, "--threads", "2", NULL};
        pid = spawn(args, logf);
    }
    if (wait_port(port, pid) != 0) {
        fprintf(stderr, "certhubd did not start; see %s\n", logf);
        return 1;
    }
    usleep(300000);
    idle = rss_kb(pid);
    tls = SSL_CTX_new(TLS_client_method());
    snprintf(path, sizeof path, "%s/ca.pem", dir);
    SSL_CTX_load_verify_locations(tls, path, NULL);
    SSL_CTX_set_verify(tls, SSL_VERIFY_PEER, NULL);
    if (conn_open(&c, port, tls) != 0)
        return 1;
    ms = calloc((size_t)queries, sizeof *ms);
    for (int q = 0; q < NQ; q++) {
        for (int k = 0; k < runs_of(q); k++) {
            char cursor[128] = "";
            int pages = q == Q_DEEP ? 21 : 1;
            double t0 = 0;
            for (int p = 0; p < pages; p++) {
                size_t at, len;
                json_t *j;
                const char *nc;
                query_of(q, qs, sizeof qs, before, k);
                if (q >= Q_OVERVIEW)
                    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n\r\n",
                             qpaths[q], token);
                else
                    snprintf(req, sizeof req,
                             "GET /api/v1/certificates?%s%s%s HTTP/1.1\r\nHost: localhost\r\n"
                             "Authorization: Bearer %s\r\n\r\n",
                             qs, cursor[0] ? "&cursor=" : "", cursor, token);
                t0 = bench_now();
                if (conn_request(&c, req, strlen(req), &at, &len) != 200) {
                    fprintf(stderr, "list request failed: %.200s\n", c.buf);
                    return 1;
                }
                j = q >= Q_METRICS ? NULL : json_loadb(c.buf + at, len, 0, NULL);
                nc = json_string_value(json_object_get(j, "next_cursor"));
                snprintf(cursor, sizeof cursor, "%s", nc ? nc : "");
                if (q == Q_RARE && json_array_size(json_object_get(j, "items")) != 1) {
                    fprintf(stderr, "the rare search matched %zu\n", json_array_size(json_object_get(j, "items")));
                    return 1;
                }
                json_decref(j);
            }
            ms[k] = ms_since(t0);
        }
        http[q] = summarize(ms, runs_of(q));
    }
    after = rss_kb(pid);
    conn_close(&c);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);

    printf("listing benchmark: %ld certificates in one tenant, %d queries per case (the last three %d), pages of 50\n",
           rows, queries, runs_of(Q_OVERVIEW));
    printf("%-26s %12s %12s %14s %14s\n", "case", "in-proc p50", "in-proc p99", "HTTPS p50 ms", "HTTPS p99 ms");
    for (int q = 0; q < NQ; q++)
        if (inproc[q].p50 < 0)
            printf("%-26s %12s %12s %14.2f %14.2f\n", qnames[q], "-", "-", http[q].p50, http[q].p99);
        else
            printf("%-26s %12.2f %12.2f %14.2f %14.2f\n", qnames[q], inproc[q].p50, inproc[q].p99, http[q].p50,
                   http[q].p99);
    printf("certhubd resident memory: %.1f MB idle on this store, %.1f MB after the queries\n", idle / 1024.0,
           after / 1024.0);
    free(ms);
    SSL_CTX_free(tls);
    if (!keep) {
        snprintf(path, sizeof path, "rm -rf %s", dir);
        if (system(path) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return 0;
}
