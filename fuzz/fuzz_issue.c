/* Fuzz target: a certificate request as a client writes it, through the service's rules into
 * a real store: the profile, key type, lifetime, digest, subject (fields or a DN), SANs,
 * usages and a CSR or public key, all from outside bytes.  The service is
 * opened once on a directory of its own, with one issuing CA and a custom profile
 * "fuzz-policy" with a name policy, and removed at exit.
 *
 * Input: lines for profile, key_type, days (and after a '/', a ttl as the API reads it: "0/30m",
 * "1/72h" asks for both), digest, CN, O, C, SANs (comma-separated), DN,
 * key_usage, ext_key_usage, an unused line (a certificate issued here is never a CA, so it
 * took no path length; kept so the corpus reads as it did) and flags ('c': the rest is a CSR, 'p': a public key,
 * 'v': cap_validity, 'r': auto_renew; 'B', 'K', 'E', 'A': Basic Constraints, Key Usage, EKU, the AKI left
 * out; 'C': their criticality decided, critical those of 'b', 'k', 'e', 'a'), then the rest of the bytes. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certhub/service.h"
#include "certhub/x509.h"
#include "fuzz_dir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { F_PROFILE, F_KEY_TYPE, F_DAYS, F_DIGEST, F_CN, F_O, F_C, F_SANS, F_DN, F_KU, F_EKU, F_UNUSED, F_FLAGS, NFIELDS };

static char dir[64];
static ch_svc *svc;
static ch_actor actor;
static char tenant_id[64];

static void cleanup(void)
{
    ch_svc_close(svc);
    fuzz_dir_remove(dir);
}

static void setup(void)
{
    ch_svc_opts so = {.data_dir = dir};
    ch_store_tenant tenant;
    ch_svc_ca_req cr = {.name = "fuzz CA", .key_type = "p256", .path_len = -2, .days = 3650};
    ch_store_ca ca;

    snprintf(dir, sizeof dir, "/tmp/certhub-fuzz-issue-XXXXXX");
    if (mkdtemp(dir) == NULL || ch_svc_open(&svc, &so) != 0 || ch_svc_tenant_ensure(svc, "fuzz", &tenant) != 0)
        abort();
    snprintf(tenant_id, sizeof tenant_id, "%s", tenant.id);
    ch_store_tenant_dispose(&tenant);
    actor = (ch_actor){tenant_id, "fuzz", CH_ROLE_ADMIN, 0, NULL, NULL};
    cr.subject.fields.common_name = "fuzz CA";
    if (ch_svc_ca_create(svc, &actor, &cr, &ca) != 0)
        abort();
    ch_store_ca_dispose(&ca);
    /* A profile with a name policy, for the inputs that name it: every name they carry, the
     * CSR's too, goes through its check. */
    if (ch_svc_profile_put(svc, &actor, "fuzz-policy",
                           "{\"key_usage\":[\"digital_signature\"],\"ext_key_usage\":[\"server_auth\"],"
                           "\"allowed_domains\":[\"example.com\",\"*.apps.example\"],\"allow_subdomains\":true,"
                           "\"allow_wildcards\":true,\"allow_ip_sans\":true}",
                           true, NULL) != 0)
        abort();
    atexit(cleanup);
}

static const char *field(char *const *f, int i)
{
    return f[i][0] != '\0' ? f[i] : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy, *f[NFIELDS], *p, *rest;
    const char *sans[CH_MAX_SANS + 1] = {0}, *flags, *ttl;
    ch_svc_issue_req q = {0};
    ch_store_cert out;
    size_t i;

    if (svc == NULL)
        setup();
    if ((copy = malloc(size + 1)) == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    p = copy;
    for (i = 0; i < NFIELDS; i++) {
        char *nl = memchr(p, '\n', size - (size_t)(p - copy));
        f[i] = p;
        if (nl == NULL) {
            p = copy + size;
            break;
        }
        *nl = '\0';
        p = nl + 1;
    }
    for (i++; i < NFIELDS; i++)
        f[i] = copy + size;
    rest = p;
    /* An RSA key is seconds of work for nothing the rules would see. */
    if (strncmp(f[F_KEY_TYPE], "rsa", 3) == 0) {
        free(copy);
        return 0;
    }
    q.profile = field(f, F_PROFILE) ? f[F_PROFILE] : "tls-server";
    q.key_type = field(f, F_KEY_TYPE);
    q.days = atoi(f[F_DAYS]);
    if ((ttl = strchr(f[F_DAYS], '/')) != NULL && ch_ttl_parse(&q.ttl, ttl + 1, "ttl") < 0) {
        free(copy); /* a 400 before the service is asked */
        return 0;
    }
    q.digest = field(f, F_DIGEST);
    q.subject.fields.common_name = field(f, F_CN);
    q.subject.fields.organization = field(f, F_O);
    q.subject.fields.country = field(f, F_C);
    q.subject.dn = field(f, F_DN);
    if (field(f, F_SANS)) {
        char *save = NULL;
        for (char *s = strtok_r(f[F_SANS], ",", &save); s != NULL && q.san_count < CH_MAX_SANS;
             s = strtok_r(NULL, ",", &save))
            sans[q.san_count++] = s;
        q.sans = sans;
    }
    q.key_usage = (unsigned)strtoul(f[F_KU], NULL, 10);
    q.ext_key_usage = (unsigned)strtoul(f[F_EKU], NULL, 10);
    flags = f[F_FLAGS];
    if (strchr(flags, 'c')) {
        q.csr = (const uint8_t *)rest;
        q.csr_len = size - (size_t)(rest - copy);
        q.key_type = NULL;
    } else if (strchr(flags, 'p')) {
        q.public_key = (const uint8_t *)rest;
        q.public_key_len = size - (size_t)(rest - copy);
        q.key_type = NULL;
    } else if (q.key_type == NULL) {
        q.key_type = "p256";
    }
    q.cap_validity = strchr(flags, 'v') != NULL;
    q.auto_renew = strchr(flags, 'r') != NULL;
    {
        static const char out_of[] = "BKEA", crit[] = "bkea"; /* in CH_EXT_* order */
        for (unsigned k = 0; k < 4; k++) {
            if (strchr(flags, out_of[k]))
                q.leave_out |= 1u << k;
            if (strchr(flags, crit[k]))
                q.critical |= 1u << k;
        }
        q.critical_set = strchr(flags, 'C') ? CH_EXT_ALL : 0;
    }
    if (ch_svc_cert_issue(svc, &actor, &q, &out) == 0) {
        ch_cert *c = NULL;
        /* What was stored is a certificate that reads back, from the CA asked for. */
        if (ch_cert_parse(&c, out.der, out.der_len) != 0 || out.ca_id == NULL)
            abort();
        ch_cert_free(c);
        ch_store_cert_dispose(&out);
    }
    free(copy);
    return 0;
}
