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

#endif
