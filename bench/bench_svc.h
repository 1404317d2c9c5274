/* The in-process issuing rate (the service layer into the store), shared by the benchmarks
 * that print it beside their own figures. */
#ifndef CERTHUB_BENCH_SVC_H
#define CERTHUB_BENCH_SVC_H

#include <stdio.h>
#include <string.h>

#include "bench_common.h"

#include "certhub/service.h"

struct svc_arg {
    ch_svc *svc;
    ch_actor actor;
    ch_svc_issue_req req;
    unsigned long n;
};

static inline int svc_op(void *p)
{
    struct svc_arg *a = p;
    ch_store_cert row;
    char cn[64];

    snprintf(cn, sizeof cn, "device-%p-%lu", (void *)a, a->n++);
    a->req.subject.fields.common_name = cn;
    if (ch_svc_cert_issue(a->svc, &a->actor, &a->req, &row) != 0) {
        fprintf(stderr, "issue failed: %s\n", ch_error_last());
        return -1;
    }
    ch_store_cert_dispose(&row);
    return 0;
}

/* Certificates/s through ch_svc_cert_issue: input 0 a public key (PEM), 1 a P-256 key made
 * by the service, 2 a CSR (PEM). */
static inline double svc_rate(ch_svc *svc, const ch_actor *actor, const char *ca_id, int input, int threads,
                              const char *pub, const char *csr, double seconds)
{
    struct svc_arg a[2];
    void *args[2];

    for (int i = 0; i < threads; i++) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].svc = svc;
        a[i].actor = *actor;
        a[i].req.profile = "tls-server";
        a[i].req.ca_id = ca_id;
        a[i].req.days = 365;
        if (input == 0) {
            a[i].req.public_key = (const uint8_t *)pub;
            a[i].req.public_key_len = strlen(pub);
        } else if (input == 1) {
            a[i].req.key_type = "p256";
        } else {
            a[i].req.csr = (const uint8_t *)csr;
            a[i].req.csr_len = strlen(csr);
        }
        args[i] = &a[i];
    }
    return bench_run(svc_op, args, threads, seconds);
}

/* A device PKI as the device benchmarks use it: a P-256 root trusted by the tenant (auto
 * registration on) and an issuing CA under it; the root's PEM and the issuing CA's own PEM. */
static inline int bench_device_pki(ch_svc *svc, const ch_actor *actor, const char *prefix, ch_store_ca *root,
                                   ch_store_ca *inter, ch_buf *root_pem, ch_buf *inter_pem, ch_store_trusted *trusted)
{
    char rname[64], iname[64];
    ch_svc_ca_req rr = {.name = rname, .key_type = "p256", .path_len = -2};
    ch_svc_ca_req ir = {.name = iname, .key_type = "p256", .path_len = -2, .intermediate = true, .days = 3000};
    ch_svc_trusted_req tq = {.auto_registration = true};
    ch_store_cert c;

    snprintf(rname, sizeof rname, "%s root", prefix);
    snprintf(iname, sizeof iname, "%s issuing", prefix);
    rr.subject.fields.common_name = rname;
    ir.subject.fields.common_name = iname;
    if (ch_svc_ca_create(svc, actor, &rr, root) != 0)
        return -1;
    ir.parent_id = root->id;
    if (ch_svc_ca_create(svc, actor, &ir, inter) != 0 || ch_svc_ca_chain_pem(svc, actor, root->id, root_pem) != 0 ||
        ch_store_cert_get(ch_svc_store(svc), &c, actor->tenant_id, inter->cert_id) != 0)
        return -1;
    if (ch_svc_cert_pem(inter_pem, &c) != 0) {
        ch_store_cert_dispose(&c);
        return -1;
    }
    ch_store_cert_dispose(&c);
    tq.cert = root_pem->data;
    tq.cert_len = root_pem->len;
    if (ch_svc_trusted_add(svc, actor, &tq, trusted) != 0) {
        fprintf(stderr, "trusting failed: %s\n", ch_error_last());
        return -1;
    }
    return 0;
}

#endif
