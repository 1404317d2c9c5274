/*
 * Device authentication decisions per second (ch_svc_device_decide) for a P-256 chain
 * leaf -> intermediate -> trusted root, 1 and 2 threads, beside OpenSSL alone in the same
 * run: X509_verify_cert on certificates already parsed, and the same starting from PEM.
 *
 *   bench_device [--seconds S] [--devices N]
 *
 * Cases: a device seen before (recognised by the SHA-256 of its certificate's DER); a new
 * device under a trusted certificate without auto registration (verified, then refused: the
 * whole decision without a write); a new device registered (verified and stored; each
 * decision uses a device never seen, from a pool issued beforehand).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "bench_common.h"
#include "bench_svc.h"

#include "certhub/service.h"

static double seconds = 2.0;
static int ndevices = 6000;

struct device {
    char *pem; /* leaf + intermediate */
    size_t len;
};

static ch_svc *svc;
static struct device *devs, *fresh;
static atomic_int next_fresh;
static int nfresh;
static const char *root_pem_text, *inter_pem_text;

struct arg {
    int i;
    int stride;
    const char *username;
    bool expect_allow;
    X509_STORE *store;
    X509 *leaf;
    STACK_OF(X509) *chain;
    X509_STORE_CTX *ctx;
};

static int op_known(void *p)
{
    struct arg *a = p;
    ch_svc_decision d;
    struct device *dv = &devs[a->i];

    a->i = (a->i + a->stride) % ndevices;
    ch_svc_device_decide(svc, (const uint8_t *)dv->pem, dv->len, a->username, NULL, false, &d);
    return d.allow == a->expect_allow ? 0 : -1;
}

static int op_new_registered(void *p)
{
    struct arg *a = p;
    ch_svc_decision d;
    int k = atomic_fetch_add(&next_fresh, 1);

    if (k >= nfresh)
        return 1; /* the pool ran out: the rate is over the devices it had */
    ch_svc_device_decide(svc, (const uint8_t *)fresh[k].pem, fresh[k].len, a->username, NULL, false, &d);
    return d.allow && d.reason == CH_DECIDE_AUTO_REGISTERED ? 0 : -1;
}

/* OpenSSL alone: X509_verify_cert on certificates parsed once. */
static int op_verify_parsed(void *p)
{
    struct arg *a = p;
    int ok;

    X509_STORE_CTX_init(a->ctx, a->store, a->leaf, a->chain);
    X509_STORE_CTX_set_purpose(a->ctx, X509_PURPOSE_SSL_CLIENT);
    ok = X509_verify_cert(a->ctx) == 1;
    X509_STORE_CTX_cleanup(a->ctx);
    return ok ? 0 : -1;
}

/* OpenSSL alone from PEM: parse leaf and intermediate, then verify. */
static int op_verify_pem(void *p)
{
    struct arg *a = p;
    struct device *dv = &devs[a->i];
    BIO *b = BIO_new_mem_buf(dv->pem, (int)dv->len);
    X509 *leaf = PEM_read_bio_X509(b, NULL, NULL, NULL), *inter = PEM_read_bio_X509(b, NULL, NULL, NULL);
    STACK_OF(X509) *chain = sk_X509_new_null();
    int ok;

    a->i = (a->i + a->stride) % ndevices;
    sk_X509_push(chain, inter);
    X509_STORE_CTX_init(a->ctx, a->store, leaf, chain);
    X509_STORE_CTX_set_purpose(a->ctx, X509_PURPOSE_SSL_CLIENT);
    ok = X509_verify_cert(a->ctx) == 1;
    X509_STORE_CTX_cleanup(a->ctx);
    sk_X509_pop_free(chain, X509_free);
    X509_free(leaf);
    BIO_free(b);
    return ok ? 0 : -1;
}

static X509 *pem_x509(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

    BIO_free(b);
    return x;
}

/* Issues n leaf certificates for devices prefix-0..n-1 under the intermediate. */
static int issue_devices(const ch_actor *actor, const char *ca_id, const char *prefix, int n, struct device **out)
{
    ch_svc_issue_req q = {.profile = "tls-client", .ca_id = ca_id, .key_type = "p256", .days = 30};
    char cn[64];

    *out = calloc((size_t)n, sizeof **out);
    for (int i = 0; i < n; i++) {
        ch_store_cert row;
        ch_buf pem = CH_BUF_INIT;
        snprintf(cn, sizeof cn, "%s-%d", prefix, i);
        q.subject.fields.common_name = cn;
        if (ch_svc_cert_issue(svc, actor, &q, &row) < 0 || ch_svc_cert_pem(&pem, &row) < 0 ||
            ch_buf_puts(&pem, inter_pem_text) < 0) {
            fprintf(stderr, "issuing failed: %s\n", ch_error_last());
            return -1;
        }
        (*out)[i].pem = (char *)pem.data;
        (*out)[i].len = pem.len;
        ch_store_cert_dispose(&row);
    }
    return 0;
}

static double rate(bench_op op, struct arg *args, int threads)
{
    void *p[2] = {&args[0], &args[1]};

    for (int t = 0; t < threads; t++) {
        args[t].i = t;
        args[t].stride = threads;
    }
    return bench_run(op, p, threads, seconds);
}

static int nothers;

/* n roots of their own, made in a tenant of their own, trusted by the actor's tenant in one
 * bulk upload. */
static int trust_others(const ch_actor *actor, int n)
{
    ch_store_tenant t;
    ch_actor maker;
    ch_buf all = CH_BUF_INIT;
    ch_svc_trusted_req q = {.auto_registration = true};
    ch_svc_trusted_result *res = NULL;
    size_t nres = 0;
    int rc = 0;

    if (ch_svc_tenant_ensure(svc, "bench-others", &t) != 0)
        return -1;
    maker = (ch_actor){t.id, "bench", CH_ROLE_ADMIN, 0, NULL, NULL};
    for (int i = 0; i < n && rc == 0; i++) {
        char name[64];
        ch_svc_ca_req r = {.name = name, .key_type = "p256", .path_len = -2};
        ch_store_ca ca = {0};
        snprintf(name, sizeof name, "vendor root %d", i);
        r.subject.fields.common_name = name;
        if (ch_svc_ca_create(svc, &maker, &r, &ca) != 0 || ch_svc_ca_chain_pem(svc, &maker, ca.id, &all) != 0)
            rc = -1;
        ch_store_ca_dispose(&ca);
    }
    q.cert = all.data;
    q.cert_len = all.len;
    if (rc == 0 && ch_svc_trusted_add_bulk(svc, actor, &q, &res, &nres) != 0)
        rc = -1;
    ch_svc_trusted_results_free(res, nres);
    ch_buf_dispose(&all);
    if (rc != 0)
        fprintf(stderr, "trusting other roots failed: %s\n", ch_error_last());
    return rc;
}

int main(int argc, char **argv)
{
    char dir[256];
    ch_svc_opts so = {.data_dir = dir};
    ch_store_tenant tenant;
    ch_actor actor;
    ch_store_ca root, inter;
    ch_buf root_pem = CH_BUF_INIT, inter_pem = CH_BUF_INIT;
    ch_store_trusted trusted, manual_t;
    struct arg args[2];
    X509 *root_x, *inter_x;
    X509_STORE *store;
    double r;

    for (int k = 1; k < argc; k++) {
        if (strcmp(argv[k], "--seconds") == 0 && k + 1 < argc)
            seconds = atof(argv[++k]);
        else if (strcmp(argv[k], "--devices") == 0 && k + 1 < argc)
            ndevices = atoi(argv[++k]);
        else if (strcmp(argv[k], "--trusted") == 0 && k + 1 < argc)
            nothers = atoi(argv[++k]);
        else {
            fprintf(stderr, "usage: bench_device [--seconds S] [--devices N] [--trusted N]\n");
            return 2;
        }
    }
    if (ch_init() != 0)
        return 1;
    snprintf(dir, sizeof dir, "/tmp/certhub-bench-device-%ld", (long)getpid());
    if (ch_svc_open(&svc, &so) != 0 || ch_svc_tenant_ensure(svc, "bench", &tenant) != 0)
        return 1;
    actor = (ch_actor){tenant.id, "bench", CH_ROLE_ADMIN, 0, NULL, NULL};
    /* --trusted N: the tenant trusts N other roots first (a fleet of many vendors' CAs), added
     * before the devices' own, as one bulk upload. */
    if (nothers > 0 && trust_others(&actor, nothers) != 0)
        return 1;
    if (bench_device_pki(svc, &actor, "bench device", &root, &inter, &root_pem, &inter_pem, &trusted) != 0)
        return 1;
    root_pem_text = (const char *)root_pem.data;
    inter_pem_text = (const char *)inter_pem.data;
    fprintf(stderr, "issuing %d device certificates...\n", ndevices * 2);
    if (issue_devices(&actor, inter.id, "known", ndevices, &devs) != 0 ||
        issue_devices(&actor, inter.id, "fresh", ndevices, &fresh) != 0)
        return 1;
    nfresh = ndevices;
    /* Register the known ones. */
    for (int i = 0; i < ndevices; i++) {
        ch_svc_decision d;
        ch_svc_device_decide(svc, (const uint8_t *)devs[i].pem, devs[i].len, "bench", NULL, false, &d);
        if (!d.allow) {
            fprintf(stderr, "registering failed: %s %s\n", ch_decision_reason_name(d.reason), d.message);
            return 1;
        }
    }
    /* OpenSSL alone. */
    root_x = pem_x509(root_pem_text);
    inter_x = pem_x509(inter_pem_text);
    store = X509_STORE_new();
    X509_STORE_add_cert(store, root_x);
    X509_STORE_set_flags(store, X509_V_FLAG_X509_STRICT);
    for (int t = 0; t < 2; t++) {
        args[t] = (struct arg){.username = "bench", .expect_allow = true, .store = store, .ctx = X509_STORE_CTX_new()};
        args[t].leaf = pem_x509(devs[t].pem);
        args[t].chain = sk_X509_new_null();
        X509_up_ref(inter_x);
        sk_X509_push(args[t].chain, inter_x);
    }

    printf("device decisions: P-256 leaf -> intermediate -> trusted root, %.0f s per case, %d devices, %d other "
           "trusted roots\n", seconds, ndevices, nothers);
    printf("%-44s %12s %12s\n", "case", "1 thread/s", "2 threads/s");
    for (int c = 0; c < 4; c++) {
        static const char *const names[] = {"OpenSSL X509_verify_cert, parsed", "OpenSSL parse PEM + verify",
                                            "certhub: device seen before", "certhub: new device, refused"};
        bench_op ops[] = {op_verify_parsed, op_verify_pem, op_known, op_known};
        double r1, r2;
        if (c == 3) {
            /* The same certificates, now unknown under a trusted certificate without auto
             * registration: each decision verifies the chain and refuses. */
            ch_svc_trusted_patch p = {.auto_registration = 0, .enabled = -1};
            ch_store_device *list = NULL;
            size_t n = 0;
            ch_svc_device_list(svc, &actor, NULL, NULL, &list, &n);
            for (size_t k = 0; k < n; k++)
                ch_svc_device_delete(svc, &actor, list[k].id);
            ch_store_device_list_free(list, n);
            ch_svc_trusted_update(svc, &actor, trusted.id, &p, &manual_t);
            ch_store_trusted_dispose(&manual_t);
            args[0].expect_allow = args[1].expect_allow = false;
        }
        r1 = rate(ops[c], args, 1);
        r2 = rate(ops[c], args, 2);
        printf("%-44s %12.0f %12.0f\n", names[c], r1, r2);
        fflush(stdout);
    }
    {
        ch_svc_trusted_patch p = {.auto_registration = 1, .enabled = -1};
        ch_svc_trusted_update(svc, &actor, trusted.id, &p, &manual_t);
        ch_store_trusted_dispose(&manual_t);
        args[0].expect_allow = args[1].expect_allow = true;
        seconds = seconds > 1.0 ? 1.0 : seconds; /* the pool of new devices is finite */
        r = rate(op_new_registered, args, 2);
        printf("%-44s %12s %12.0f\n", "certhub: new device, registered", "-", r);
    }
    ch_svc_close(svc);
    {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            return 1;
    }
    return 0;
}
