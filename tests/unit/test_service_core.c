/* Unit tests of the service layer: CAs, issuing, CSRs, import, tenants, permissions, the
 * audit chain, and that no private key reaches the database in clear. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "certhub/service.h"
#include "testutil.h"

static char dir[1024];
static ch_svc *svc;
static ch_store_tenant ta, tb;
static ch_actor admin_a, admin_b, viewer_a, operator_a;

static int setup(void **state)
{
    ch_svc_opts o = {0};

    (void)state;
    snprintf(dir, sizeof dir, "%s", tu_tmpdir("service"));
    o.data_dir = dir;
    if (ch_svc_open(&svc, &o) != 0 || ch_svc_tenant_ensure(svc, "alpha", &ta) != 0 ||
        ch_svc_tenant_ensure(svc, "beta", &tb) != 0)
        return -1;
    admin_a = (ch_actor){ta.id, "test:admin-a", CH_ROLE_ADMIN, CH_PERM_KEYS_EXPORT, NULL, NULL};
    admin_b = (ch_actor){tb.id, "test:admin-b", CH_ROLE_ADMIN, CH_PERM_KEYS_EXPORT, NULL, NULL};
    viewer_a = (ch_actor){ta.id, "test:viewer", CH_ROLE_VIEWER, 0, NULL, NULL};
    operator_a = (ch_actor){ta.id, "test:operator", CH_ROLE_OPERATOR, 0, NULL, NULL};
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ch_svc_close(svc);
    ch_store_tenant_dispose(&ta);
    ch_store_tenant_dispose(&tb);
    tu_rmtree(dir);
    return 0;
}

static void make_cas(ch_store_ca *root, ch_store_ca *inter, const char *prefix)
{
    char rn[64], in[64];
    ch_svc_ca_req r = {.name = rn, .path_len = -2};
    ch_svc_ca_req i = {.name = in, .intermediate = true, .path_len = -2, .days = 1000};

    snprintf(rn, sizeof rn, "%s root", prefix);
    snprintf(in, sizeof in, "%s issuing", prefix);
    r.subject.dn = "CN=Test Root,O=certhub tests";
    assert_int_equal(ch_svc_ca_create(svc, &admin_a, &r, root), 0);
    i.parent_id = root->id;
    i.subject.fields.common_name = "Test Issuing CA";
    i.subject.fields.organization = "certhub tests";
    i.key_type = "p384";
    assert_int_equal(ch_svc_ca_create(svc, &admin_a, &i, inter), 0);
}

static int64_t count_certs(const ch_actor *a)
{
    ch_store_cert_filter f = {.is_ca = -1};
    int64_t n = -1;

    assert_int_equal(ch_store_cert_count(ch_svc_store(svc), a->tenant_id, &f, &n), 0);
    return n;
}

static ch_cert *parse_row(const ch_store_cert *row)
{
    ch_cert *c;

    assert_int_equal(ch_cert_parse(&c, row->der, row->der_len), 0);
    return c;
}

static void test_issue_and_verify(void **state)
{
    ch_store_ca root, inter;
    ch_store_cert leaf, rootc, interc;
    const char *sans[] = {"dns:device-1.example", "ip:10.0.0.1", NULL};
    ch_svc_issue_req req = {.profile = "tls-server", .sans = sans, .key_type = "p256"};
    ch_cert *l, *r, *i;
    ch_verify_opts vo = {0};

    (void)state;
    make_cas(&root, &inter, "verify");
    req.ca_id = inter.id;
    req.subject.fields.common_name = "device-1.example";
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &leaf), 0);
    assert_string_equal(leaf.method, "generated");
    assert_string_equal(leaf.name, "device-1.example");
    assert_non_null(leaf.key_id);
    assert_string_equal(leaf.ca_id, inter.id);
    assert_int_equal(strlen(leaf.serial), 32);
    /* The stored certificate chains to the stored root. */
    assert_int_equal(ch_store_cert_get(ch_svc_store(svc), &rootc, ta.id, root.cert_id), 0);
    assert_int_equal(ch_store_cert_get(ch_svc_store(svc), &interc, ta.id, inter.cert_id), 0);
    l = parse_row(&leaf);
    r = parse_row(&rootc);
    i = parse_row(&interc);
    vo.anchors = &r;
    vo.anchor_count = 1;
    vo.untrusted = &i;
    vo.untrusted_count = 1;
    vo.purpose = CH_PURPOSE_SERVER;
    vo.hostname = "device-1.example";
    assert_int_equal(ch_chain_verify(l, &vo), 0);
    /* The chain download holds the intermediate and then the root. */
    ch_buf chain = CH_BUF_INIT;
    assert_int_equal(ch_svc_ca_chain_pem(svc, &viewer_a, inter.id, &chain), 0);
    ch_cert **list;
    size_t n;
    assert_int_equal(ch_cert_parse_all(&list, &n, chain.data, chain.len), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(ch_cert_sha256(list[1]), ch_cert_sha256(r), 32);
    ch_cert_list_free(list, n);
    ch_buf_dispose(&chain);
    ch_cert_free(l);
    ch_cert_free(r);
    ch_cert_free(i);
    ch_store_cert_dispose(&leaf);
    ch_store_cert_dispose(&rootc);
    ch_store_cert_dispose(&interc);
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&inter);
}

/* A CSR made by openssl req with args (key, subject, extensions, form), read back. */
static uint8_t *openssl_csr(const char *file, const char *args, size_t *len)
{
    char path[1200];

    snprintf(path, sizeof path, "%s/%s", dir, file);
    assert_int_equal(tu_sh("openssl req -new -nodes -keyout /dev/null %s -out '%s' 2>/dev/null", args, path), 0);
    return tu_read(path, len);
}

static void test_bad_requests_change_nothing(void **state)
{
    ch_store_ca root, inter;
    ch_store_cert out;
    int64_t before;
    const char *bad_sans[] = {"dns:bad..name", NULL};
    ch_svc_issue_req req = {.profile = "tls-server", .key_type = "p256"};
    uint8_t *csr;
    size_t csr_len;

    (void)state;
    make_cas(&root, &inter, "bad");
    req.ca_id = inter.id;
    req.subject.fields.common_name = "x.example";
    before = count_certs(&admin_a);
    req.profile = "no-such-profile";
    assert_int_equal(ch_svc_cert_issue(svc, &admin_a, &req, &out), CH_EINVAL);
    assert_string_equal(ch_error_field(), "profile");
    req.profile = "tls-server";
    req.sans = bad_sans;
    assert_int_equal(ch_svc_cert_issue(svc, &admin_a, &req, &out), CH_EINVAL);
    req.sans = NULL;
    req.days = 5000; /* beyond the intermediate's 1000 days */
    assert_int_equal(ch_svc_cert_issue(svc, &admin_a, &req, &out), CH_EPOLICY);
    assert_non_null(strstr(ch_error_last(), "validity ends after"));
    req.days = 0;
    req.key_type = "rsa1024";
    assert_int_equal(ch_svc_cert_issue(svc, &admin_a, &req, &out), CH_EINVAL);
    /* A CSR asking for CA:TRUE under a leaf profile, and one with a broken signature. */
    csr = openssl_csr("ca.csr", "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj /CN=sneaky "
                                "-addext basicConstraints=critical,CA:TRUE", &csr_len);
    req.key_type = NULL;
    req.csr = csr;
    req.csr_len = csr_len;
    memset(&req.subject, 0, sizeof req.subject);
    assert_int_equal(ch_svc_cert_issue(svc, &admin_a, &req, &out), CH_EPOLICY);
    assert_non_null(strstr(ch_error_last(), "CA:TRUE"));
    free(csr);
    csr = openssl_csr("bad.der", "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj /CN=tampered -outform DER",
                      &csr_len);
    csr[csr_len - 5] ^= 0x55; /* inside the signature */
    req.csr = csr;
    req.csr_len = csr_len;
    assert_int_equal(ch_svc_cert_issue(svc, &admin_a, &req, &out), CH_EVERIFY);
    assert_non_null(strstr(ch_error_last(), "does not verify"));
    free(csr);
    /* A viewer cannot issue. */
    req.csr = NULL;
    req.key_type = "p256";
    req.subject.fields.common_name = "x.example";
    assert_int_equal(ch_svc_cert_issue(svc, &viewer_a, &req, &out), CH_EPERM);
    assert_int_equal(count_certs(&admin_a), before);
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&inter);
}

/* The extension switches through the service: the certificate holds what was asked, its
 * renewal the same, and Basic Constraints left out of a CA is refused (400, saying why) before
 * CA profiles are, nothing stored. */
static void test_extension_switches_and_renewal(void **state)
{
    ch_store_ca root, inter;
    ch_store_cert first, renewed, out;
    ch_svc_issue_req req = {.profile = "tls-server", .key_type = "p256"};
    ch_cert *c;
    ch_cert_info info;
    int64_t before;

    (void)state;
    make_cas(&root, &inter, "switches");
    req.ca_id = inter.id;
    req.subject.fields.common_name = "switches.example";
    req.leave_out = CH_EXT_AUTHORITY_KEY_ID | CH_EXT_BASIC_CONSTRAINTS | CH_EXT_EXT_KEY_USAGE;
    req.critical_set = CH_EXT_ALL;
    req.critical = 0; /* Key Usage not critical */
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &first), 0);
    assert_int_equal(ch_svc_cert_renew(svc, &operator_a, first.id, false, &renewed), 0);
    for (int i = 0; i < 2; i++) {
        c = parse_row(i == 0 ? &first : &renewed);
        assert_int_equal(ch_cert_inspect(&info, c), 0);
        assert_false(info.has_basic_constraints);
        assert_null(info.aki);
        assert_false(info.has_ext_key_usage);
        assert_true(info.has_key_usage);
        assert_int_equal(info.key_usage, CH_KU_DIGITAL_SIGNATURE); /* the profile's, for a P-256 key */
        assert_int_equal(info.critical, 0);
        ch_cert_info_dispose(&info);
        ch_cert_free(c);
    }
    assert_string_equal(renewed.renews, first.id);
    ch_store_cert_dispose(&renewed);
    ch_store_cert_dispose(&first);

    /* The other way round: Key Usage left out, EKU critical; kept by the renewal too. */
    req.leave_out = CH_EXT_KEY_USAGE;
    req.critical = CH_EXT_EXT_KEY_USAGE | CH_EXT_BASIC_CONSTRAINTS;
    req.name = "switches-2";
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &first), 0);
    assert_int_equal(ch_svc_cert_renew(svc, &operator_a, first.id, true, &renewed), 0);
    c = parse_row(&renewed);
    assert_int_equal(ch_cert_inspect(&info, c), 0);
    assert_false(info.has_key_usage);
    assert_true(info.has_basic_constraints);
    assert_non_null(info.aki);
    assert_int_equal(info.ext_key_usage, CH_EKU_SERVER_AUTH);
    assert_int_equal(info.critical, CH_EXT_EXT_KEY_USAGE | CH_EXT_BASIC_CONSTRAINTS);
    ch_cert_info_dispose(&info);
    ch_cert_free(c);
    ch_store_cert_dispose(&renewed);
    ch_store_cert_dispose(&first);

    before = count_certs(&admin_a);
    req = (ch_svc_issue_req){.profile = "intermediate-ca", .key_type = "p256", .ca_id = inter.id,
                             .leave_out = CH_EXT_BASIC_CONSTRAINTS};
    req.subject.fields.common_name = "not a CA";
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &out), CH_EINVAL);
    assert_string_equal(ch_error_field(), "basic_constraints");
    assert_non_null(strstr(ch_error_last(), "RFC 5280 4.2.1.9"));
    req = (ch_svc_issue_req){.profile = "tls-server", .key_type = "p256", .ca_id = inter.id,
                             .critical_set = CH_EXT_ALL, .critical = CH_EXT_AUTHORITY_KEY_ID};
    req.subject.fields.common_name = "aki.example";
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &out), CH_EINVAL);
    assert_string_equal(ch_error_field(), "critical");
    assert_int_equal(count_certs(&admin_a), before);
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&inter);
}

/* A certificate named before names with white space at their ends were refused: its renewal
 * (the scheduler's too) carries the name trimmed, instead of failing on it and leaving the
 * certificate to run out; one named only with spaces is renewed under its default name. */
static void test_renewal_carries_old_names(void **state)
{
    ch_store_ca root, inter;
    ch_store_cert first, renewed;
    ch_svc_issue_req req = {.profile = "tls-server", .key_type = "p256", .name = "legacy-web"};

    (void)state;
    make_cas(&root, &inter, "legacy names");
    req.ca_id = inter.id;
    req.subject.fields.common_name = "legacy.example";
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &first), 0);
    /* (as the store may hold it from before: the service refuses such a name now) */
    assert_int_equal(ch_store_cert_rename(ch_svc_store(svc), operator_a.tenant_id, first.id, " legacy web\xc2\xa0"), 0);
    assert_int_equal(ch_svc_cert_renew(svc, &operator_a, first.id, false, &renewed), 0);
    assert_string_equal(renewed.name, "legacy web");
    assert_int_equal(ch_store_cert_rename(ch_svc_store(svc), operator_a.tenant_id, renewed.id, "   "), 0);
    ch_store_cert_dispose(&first);
    first = renewed;
    assert_int_equal(ch_svc_cert_renew(svc, &operator_a, first.id, false, &renewed), 0);
    assert_true(strlen(renewed.name) > 0 && renewed.name[0] != ' ');
    ch_store_cert_dispose(&renewed);
    ch_store_cert_dispose(&first);
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&inter);
}

/* A lifetime in seconds: issued as asked, and kept to the minute by a renewal (a 90-minute
 * certificate's is 90 minutes, not a day) and by a CA's rotation; one of whole days is asked
 * again in days.  Days and ttl both change nothing. */
static void test_short_lifetimes_kept(void **state)
{
    ch_store_ca root, inter, ca, rotated;
    ch_store_cert first, renewed, out, cert;
    ch_svc_issue_req req = {.profile = "tls-server", .key_type = "p256", .ttl = 90 * 60};
    ch_svc_ca_req cr = {.name = "36-hour root", .path_len = -2, .ttl = 36 * 3600};
    int64_t before;

    (void)state;
    make_cas(&root, &inter, "short");
    req.ca_id = inter.id;
    req.subject.fields.common_name = "short.example";
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &first), 0);
    assert_int_equal(first.not_after - first.not_before, 90 * 60 + CH_ISSUE_BACKDATE);
    assert_int_equal(ch_svc_cert_renew(svc, &operator_a, first.id, false, &renewed), 0);
    assert_int_equal(renewed.not_after - renewed.not_before, 90 * 60 + CH_ISSUE_BACKDATE);
    ch_store_cert_dispose(&renewed);
    ch_store_cert_dispose(&first);
    req.ttl = 2 * 86400;
    req.name = "two days";
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &first), 0);
    assert_int_equal(ch_svc_cert_renew(svc, &operator_a, first.id, true, &renewed), 0);
    assert_int_equal(renewed.not_after - renewed.not_before, 2 * 86400 + CH_ISSUE_BACKDATE);
    ch_store_cert_dispose(&first);

    /* Renewed for another lifetime, checked as at issuance; a refusal renews nothing. */
    before = count_certs(&admin_a);
    ch_svc_renew_opts ro = {.days = 1, .ttl = 3600};
    assert_int_equal(ch_svc_cert_renew_opts(svc, &operator_a, renewed.id, &ro, &out), CH_EINVAL);
    assert_string_equal(ch_error_field(), "ttl");
    ro = (ch_svc_renew_opts){.ttl = 5000 * 86400LL};
    assert_int_equal(ch_svc_cert_renew_opts(svc, &operator_a, renewed.id, &ro, &out), CH_EPOLICY);
    assert_string_equal(ch_error_field(), "ttl");
    ro = (ch_svc_renew_opts){.days = 5000};
    assert_int_equal(ch_svc_cert_renew_opts(svc, &operator_a, renewed.id, &ro, &out), CH_EPOLICY);
    assert_string_equal(ch_error_field(), "days");
    assert_int_equal(count_certs(&admin_a), before);
    ro = (ch_svc_renew_opts){.ttl = 45 * 60};
    assert_int_equal(ch_svc_cert_renew_opts(svc, &operator_a, renewed.id, &ro, &first), 0);
    assert_int_equal(first.not_after - first.not_before, 45 * 60 + CH_ISSUE_BACKDATE);
    assert_string_equal(first.renews, renewed.id);
    ch_store_cert_dispose(&renewed);
    assert_int_equal(ch_svc_cert_renew(svc, &operator_a, first.id, false, &renewed), 0);
    assert_int_equal(renewed.not_after - renewed.not_before, 45 * 60 + CH_ISSUE_BACKDATE); /* kept from then on */
    ch_store_cert_dispose(&renewed);
    ch_store_cert_dispose(&first);

    before = count_certs(&admin_a);
    req.days = 1;
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &out), CH_EINVAL);
    assert_string_equal(ch_error_field(), "ttl");
    req.days = 0;
    req.ttl = 5000 * 86400LL; /* beyond the intermediate's 1000 days */
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &out), CH_EPOLICY);
    assert_string_equal(ch_error_field(), "ttl");
    assert_non_null(strstr(ch_error_last(), "give a ttl of at most "));
    assert_int_equal(count_certs(&admin_a), before);

    cr.subject.fields.common_name = "Short Root";
    assert_int_equal(ch_svc_ca_create(svc, &admin_a, &cr, &ca), 0);
    assert_int_equal(ch_svc_ca_rotate(svc, &admin_a, ca.id, &rotated), 0);
    assert_int_equal(ch_store_cert_get(ch_svc_store(svc), &cert, admin_a.tenant_id, rotated.cert_id), 0);
    assert_int_equal(cert.not_after - cert.not_before, 36 * 3600 + CH_ISSUE_BACKDATE);
    ch_store_cert_dispose(&cert);
    ch_store_ca_dispose(&rotated);
    ch_store_ca_dispose(&ca);
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&inter);
}

/* When automatic renewal comes: at the renewal point (2/3 by default), never later than half
 * the life or 30 days before the end; a certificate shorter than a day is due within its life,
 * not before it began. */
static void test_renew_at(void **state)
{
    const int64_t nb = 1800000000, b = CH_ISSUE_BACKDATE;
    ch_store_ca root, inter;
    ch_store_cert c;
    ch_svc_issue_req req = {.profile = "tls-server", .key_type = "p256", .ttl = 3600, .auto_renew = true};

    (void)state;
    assert_int_equal(ch_renew_at(nb, nb + 300 + b), nb + (300 + b) / 2);
    assert_int_equal(ch_renew_at(nb, nb + 3600 + b), nb + (3600 + b) / 2);
    assert_int_equal(ch_renew_at(nb, nb + 86400 + b), nb + (86400 + b) / 2);
    assert_int_equal(ch_renew_at(nb, nb + 30 * 86400 + b), nb + (30 * 86400 + b) / 2);
    assert_int_equal(ch_renew_at(nb, nb + 90 * 86400), nb + 60 * 86400);
    assert_int_equal(ch_renew_at(nb, nb + 365 * 86400), nb + 365 * 86400 / 3 * 2);
    assert_int_equal(ch_renew_at_fraction(nb, nb + 200 * 86400, 0.9), nb + 170 * 86400);
    assert_int_equal(ch_renew_at_fraction(nb, nb + 3600, 0.9), nb + 1800);
    make_cas(&root, &inter, "renew-at");
    req.ca_id = inter.id;
    req.subject.fields.common_name = "hourly.example";
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &c), 0);
    assert_int_equal(c.renew_at, c.not_before + (c.not_after - c.not_before) / 2);
    assert_true(c.renew_at > ch_now());
    ch_store_cert_dispose(&c);
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&inter);
}

/* A certificate's own lead time (renew_before): due that long before its end when it leaves
 * the certificate a tenth of its life first, and a minute at least; otherwise refused when asked, and the fraction when
 * carried over to a renewal too short for it.  Issued with one, renew_at follows it; one not
 * shorter than the lifetime is refused naming renew_before, nothing stored. */
static void test_renew_before(void **state)
{
    const int64_t nb = 1800000000, b = CH_ISSUE_BACKDATE, day = 86400;
    ch_store_ca root, inter;
    ch_store_cert c, again;
    ch_svc_issue_req req = {.profile = "tls-server", .key_type = "p256", .ttl = 3600, .auto_renew = true};

    (void)state;
    /* 90 days, 30 before the end: at day 60; the fraction (0.9) does not count then. */
    assert_int_equal(ch_renew_at_before(nb, nb + 90 * day + b, 30 * day, 0.9), nb + 60 * day + b);
    assert_int_equal(ch_renew_at_before(nb, nb + 600 + b, 540, 2.0 / 3.0), nb + b + 60);
    /* None: the fraction, as before. */
    assert_int_equal(ch_renew_at_before(nb, nb + 200 * day, 0, 0.9), ch_renew_at_fraction(nb, nb + 200 * day, 0.9));
    /* Not shorter than the life by a minute: the fraction. */
    assert_int_equal(ch_renew_at_before(nb, nb + 600 + b, 600, 0.5), ch_renew_at_fraction(nb, nb + 600 + b, 0.5));
    assert_int_equal(ch_renew_at_before(nb, nb + 600 + b, 541, 0.5), ch_renew_at_fraction(nb, nb + 600 + b, 0.5));
    assert_int_equal(ch_renew_at_before(nb, nb + 600 + b, 90 * day, 0.5), ch_renew_at_fraction(nb, nb + 600 + b, 0.5));

    assert_int_equal(ch_renew_before_check(nb, nb + 90 * day + b, 30 * day), 0);
    assert_int_equal(ch_renew_before_check(nb, nb + 600 + b, 540), 0);
    assert_int_equal(ch_renew_before_check(nb, nb + 600 + b, 541), CH_EINVAL);
    assert_string_equal(ch_error_field(), "renew_before");
    assert_non_null(strstr(ch_error_last(), "certificate (10m)"));
    /* A tenth, where that is more than a minute: 81 of 90 days at most. */
    assert_int_equal(ch_renew_before_check(nb, nb + 90 * day + b, 81 * day), 0);
    assert_int_equal(ch_renew_before_check(nb, nb + 90 * day + b, 81 * day + 1), CH_EINVAL);
    assert_non_null(strstr(ch_error_last(), "at most 81d"));
    assert_int_equal(ch_renew_at_before(nb, nb + 90 * day + b, 82 * day, 0.5), ch_renew_at_fraction(nb, nb + 90 * day + b, 0.5));
    assert_int_equal(ch_renew_before_check(nb, nb + 600 + b, 600), CH_EINVAL);
    assert_int_equal(ch_renew_before_check(nb, nb + 600 + b, 90 * day), CH_EINVAL);
    assert_int_equal(ch_renew_before_check(nb, nb + 600 + b, 0), CH_EINVAL);

    make_cas(&root, &inter, "renew-before");
    req.ca_id = inter.id;
    req.subject.fields.common_name = "lead.example";
    req.renew_before = 1200;
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &c), 0);
    assert_int_equal(c.renew_before, 1200);
    assert_int_equal(c.renew_at, c.not_after - 1200);
    assert_int_equal(ch_store_cert_get(ch_svc_store(svc), &again, ta.id, c.id), 0);
    assert_int_equal(again.renew_before, 1200);
    assert_int_equal(again.renew_at, c.not_after - 1200);
    ch_store_cert_dispose(&again);
    /* Changed, and back to the tenant's point (2/3 of an hour and a minute). */
    assert_int_equal(ch_svc_cert_update_renewal(svc, &operator_a, c.id, NULL, -1, 600), 0);
    assert_int_equal(ch_store_cert_get(ch_svc_store(svc), &again, ta.id, c.id), 0);
    assert_int_equal(again.renew_at, c.not_after - 600);
    ch_store_cert_dispose(&again);
    assert_int_equal(ch_svc_cert_update_renewal(svc, &operator_a, c.id, NULL, -1, 3600), CH_EINVAL);
    assert_string_equal(ch_error_field(), "renew_before");
    assert_int_equal(ch_svc_cert_update_renewal(svc, &operator_a, c.id, NULL, -1, 0), 0);
    assert_int_equal(ch_store_cert_get(ch_svc_store(svc), &again, ta.id, c.id), 0);
    assert_int_equal(again.renew_before, 0);
    assert_int_equal(again.renew_at, ch_renew_at(c.not_before, c.not_after));
    ch_store_cert_dispose(&again);
    ch_store_cert_dispose(&c);
    /* Not shorter than the lifetime: refused, nothing issued. */
    req.renew_before = 3600;
    req.subject.fields.common_name = "too-long-lead.example";
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &c), CH_EINVAL);
    assert_string_equal(ch_error_field(), "renew_before");
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&inter);
}

/* A failed automatic renewal is tried again after 1, 2, 4... minutes, at most an hour, and at
 * most a quarter of the time left (a minute at least): a short-lived certificate gets several
 * tries before it ends, a long one waits as it did. */
static void test_renew_retry_at(void **state)
{
    const int64_t now = 1800000000;
    int64_t t, end;
    int tries, attempts;

    (void)state;
    /* Far from the end: the backoff as it was. */
    assert_int_equal(ch_renew_retry_at(now, now + 30 * 86400, 0), now + 60);
    assert_int_equal(ch_renew_retry_at(now, now + 30 * 86400, 1), now + 120);
    assert_int_equal(ch_renew_retry_at(now, now + 30 * 86400, 5), now + 1920);
    assert_int_equal(ch_renew_retry_at(now, now + 30 * 86400, 6), now + 3600);
    assert_int_equal(ch_renew_retry_at(now, now + 30 * 86400, 40), now + 3600);
    assert_int_equal(ch_renew_retry_at(now, now + 12 * 3600, 9), now + 3600);
    /* Near it: a quarter of what is left, never under a minute (also at or past the end). */
    assert_int_equal(ch_renew_retry_at(now, now + 1200, 4), now + 300);
    assert_int_equal(ch_renew_retry_at(now, now + 1200, 2), now + 240);
    assert_int_equal(ch_renew_retry_at(now, now + 120, 3), now + 60);
    assert_int_equal(ch_renew_retry_at(now, now, 3), now + 60);
    assert_int_equal(ch_renew_retry_at(now, now - 600, 0), now + 60);

    /* Every try of an hour-long certificate due at half its life, failing each time: all of
     * them before its end, more than the 5 the backoff alone left, each wait at least a minute. */
    end = now + (3600 + CH_ISSUE_BACKDATE) / 2;
    for (t = now, tries = 0, attempts = 0; t < end; attempts++, tries++) {
        int64_t next = ch_renew_retry_at(t, end, attempts);
        assert_true(next - t >= 60);
        assert_true(next - t <= 60LL << (attempts < 6 ? attempts : 6));
        t = next;
    }
    assert_true(tries >= 10);
    /* A 5-minute one (due 3 minutes before its end): 3 tries at a minute each. */
    end = now + (300 + CH_ISSUE_BACKDATE) / 2;
    for (t = now, tries = 0, attempts = 0; t < end; attempts++, tries++)
        t = ch_renew_retry_at(t, end, attempts);
    assert_int_equal(tries, 3);
}

/* quick_only (an event loop's issuance): what takes a millisecond or more is not begun and
 * comes back CH_SVC_SLOW with nothing stored; the same request without it is issued. */
static void test_quick_only(void **state)
{
    ch_store_ca root, inter;
    ch_store_cert out;
    ch_svc_issue_req req = {.profile = "tls-server", .key_type = "p256", .quick_only = true};
    int64_t before;
    uint8_t *csr;
    size_t csr_len;

    (void)state;
    make_cas(&root, &inter, "quick");
    req.subject.fields.common_name = "quick.example";
    before = count_certs(&admin_a);
    req.ca_id = inter.id; /* a P-384 key signs in 1.5 ms */
    assert_int_equal(ch_svc_cert_issue(svc, &admin_a, &req, &out), CH_SVC_SLOW);
    req.ca_id = root.id; /* P-256: 0.04 ms */
    req.key_type = "rsa2048";
    assert_int_equal(ch_svc_cert_issue(svc, &admin_a, &req, &out), CH_SVC_SLOW);
    req.key_type = "p384";
    assert_int_equal(ch_svc_cert_issue(svc, &admin_a, &req, &out), CH_SVC_SLOW);
    csr = openssl_csr("p384.csr", "-newkey ec -pkeyopt ec_paramgen_curve:P-384 -subj /CN=quick.example", &csr_len);
    req.key_type = NULL;
    req.csr = csr;
    req.csr_len = csr_len;
    assert_int_equal(ch_svc_cert_issue(svc, &admin_a, &req, &out), CH_SVC_SLOW);
    assert_int_equal(count_certs(&admin_a), before);
    /* The same, taken where it may take long. */
    req.quick_only = false;
    assert_int_equal(ch_svc_cert_issue(svc, &admin_a, &req, &out), 0);
    assert_string_equal(out.method, "csr_signed");
    ch_store_cert_dispose(&out);
    req.csr = NULL;
    req.key_type = "p256";
    req.ca_id = inter.id;
    assert_int_equal(ch_svc_cert_issue(svc, &admin_a, &req, &out), 0);
    ch_store_cert_dispose(&out);
    /* Quick ones are issued as they are. */
    req.quick_only = true;
    req.ca_id = root.id;
    assert_int_equal(ch_svc_cert_issue(svc, &admin_a, &req, &out), 0);
    ch_store_cert_dispose(&out);
    assert_int_equal(count_certs(&admin_a), before + 3);
    free(csr);
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&inter);
}

/* The review before an import: what the import would store (subject, key, chain and where it
 * stops short of a root), its refusals the same, and nothing stored; another tenant's import of
 * the same file is no duplicate of its own. */
static void test_import_preview(void **state)
{
    char root[1200], inter[1200], leaf[1200], p12[1200], key[1200];
    uint8_t *data, *leaf_pem;
    size_t len, leaf_len;
    int64_t before = count_certs(&admin_a);
    int refused;
    ch_svc_import_preview p;
    ch_store_cert stored, dup = {0};
    char existing[CH_ID_MAX] = "";

    (void)state;
    snprintf(root, sizeof root, "%s/pv-root", dir);
    snprintf(inter, sizeof inter, "%s/pv-inter", dir);
    snprintf(leaf, sizeof leaf, "%s/pv-leaf", dir);
    snprintf(key, sizeof key, "%s/pv-leaf.key", dir);
    snprintf(p12, sizeof p12, "%s/pv.p12", dir);
    assert_int_equal(tu_sh("printf 'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign\n' > '%s.ext' && "
                           "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '%s.key' "
                           "-subj /CN=pv-root -days 30 -out '%s.pem' 2>/dev/null && "
                           "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '%s.key' "
                           "-subj /CN=pv-inter 2>/dev/null | openssl x509 -req -CA '%s.pem' -CAkey '%s.key' "
                           "-CAcreateserial -days 20 -extfile '%s.ext' -out '%s.pem' 2>/dev/null && "
                           "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '%s' "
                           "-subj /CN=pv.example 2>/dev/null | openssl x509 -req -CA '%s.pem' -CAkey '%s.key' "
                           "-CAcreateserial -days 10 -out '%s.pem' 2>/dev/null && "
                           "openssl pkcs12 -export -in '%s.pem' -inkey '%s' -certfile '%s.pem' -passout pass:right "
                           "-out '%s'",
                           root, root, root, inter, root, root, root, inter, key, inter, inter, leaf, leaf, key, inter,
                           p12),
                     0);
    data = tu_read(p12, &len);
    /* The PKCS#12: its leaf, its key, its intermediate, and the root it stops short of. */
    assert_int_equal(ch_svc_cert_import_preview(svc, &admin_a, "preview", data, len, NULL, 0, "right", NULL, &p), 0);
    assert_string_equal(p.row.subject, "CN=pv.example");
    assert_string_equal(p.row.name, "preview");
    assert_true(p.has_key);
    assert_int_equal(p.chain_len, 1);
    assert_non_null(p.missing);
    assert_non_null(strstr(p.missing, "pv-root"));
    assert_string_equal(p.key_for, "");
    ch_svc_import_preview_dispose(&p);
    assert_int_equal(count_certs(&admin_a), before);
    /* Refused as the import refuses: a wrong password, a viewer. */
    refused = ch_svc_cert_import(svc, &admin_a, NULL, data, len, NULL, 0, "wrong", NULL, &stored, NULL, NULL);
    assert_true(refused < 0);
    assert_int_equal(ch_svc_cert_import_preview(svc, &admin_a, NULL, data, len, NULL, 0, "wrong", NULL, &p), refused);
    assert_int_equal(ch_svc_cert_import_preview(svc, &viewer_a, NULL, data, len, NULL, 0, "right", NULL, &p), CH_EPERM);
    assert_int_equal(count_certs(&admin_a), before);
    /* The leaf alone, held without its key, then previewed with it: the key would be added. */
    snprintf(leaf + strlen(leaf), 8, ".pem");
    leaf_pem = tu_read(leaf, &leaf_len);
    assert_int_equal(ch_svc_cert_import(svc, &admin_a, "bare", leaf_pem, leaf_len, NULL, 0, NULL, NULL,
                                        &stored, NULL, NULL),
                     0);
    assert_int_equal(ch_svc_cert_import_preview(svc, &admin_a, NULL, data, len, NULL, 0, "right", NULL, &p), 0);
    assert_string_equal(p.key_for, stored.id);
    ch_svc_import_preview_dispose(&p);
    /* Held with nothing to add: the import's duplicate, CH_EEXISTS; another tenant's is its own. */
    assert_int_equal(ch_svc_cert_import_preview(svc, &admin_a, NULL, leaf_pem, leaf_len, NULL, 0, NULL, NULL, &p),
                     CH_EEXISTS);
    assert_non_null(strstr(ch_error_last(), stored.id));
    assert_int_equal(ch_svc_cert_import(svc, &admin_a, NULL, leaf_pem, leaf_len, NULL, 0, NULL, NULL,
                                        &dup, existing, NULL),
                     CH_EEXISTS);
    assert_string_equal(existing, stored.id);
    assert_int_equal(ch_svc_cert_import_preview(svc, &admin_b, NULL, leaf_pem, leaf_len, NULL, 0, NULL, NULL, &p), 0);
    assert_false(p.has_key);
    ch_svc_import_preview_dispose(&p);
    assert_int_equal(count_certs(&admin_a), before + 1);
    ch_store_cert_dispose(&dup);
    ch_store_cert_dispose(&stored);
    free(leaf_pem);
    free(data);
}

static void test_import_duplicates_and_isolation(void **state)
{
    char cert_path[1200], key_path[1200], path_leaf[1200], existing[CH_ID_MAX];
    uint8_t *cert, *key;
    size_t cert_len, key_len;
    ch_store_cert first, second, got, *rows;
    size_t n;
    char *next;
    ch_svc_ca_req req = {0};
    ch_store_ca ca;

    (void)state;
    snprintf(cert_path, sizeof cert_path, "%s/ext.pem", dir);
    snprintf(key_path, sizeof key_path, "%s/ext.key", dir);
    assert_int_equal(tu_sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '%s' "
                           "-subj '/CN=outside.example' -days 30 -out '%s' 2>/dev/null",
                           key_path, cert_path),
                     0);
    cert = tu_read(cert_path, &cert_len);
    key = tu_read(key_path, &key_len);
    assert_int_equal(ch_svc_cert_import(svc, &admin_a, "outside", cert, cert_len, key, key_len, NULL, NULL,
                                        &first, NULL, NULL), 0);
    assert_string_equal(first.method, "imported");
    assert_non_null(first.key_id);
    /* The same certificate again: reported with the id it already has, nothing stored. */
    assert_int_equal(ch_svc_cert_import(svc, &admin_a, "again", cert, cert_len, NULL, 0, NULL, NULL,
                                        &second, existing, NULL),
                     CH_EEXISTS);
    assert_string_equal(existing, first.id);
    /* Another tenant may import it, and sees only its own. */
    assert_int_equal(ch_svc_cert_import(svc, &admin_b, "theirs", cert, cert_len, NULL, 0, NULL, NULL,
                                        &second, NULL, NULL), 0);
    assert_int_equal(ch_svc_cert_get(svc, &admin_b, first.id, &got), CH_ENOTFOUND);
    assert_int_equal(ch_svc_cert_delete(svc, &admin_b, first.id, NULL), CH_ENOTFOUND);
    assert_int_equal(ch_svc_cert_list(svc, &admin_b, NULL, 100, NULL, &rows, &n, &next), 0);
    for (size_t i = 0; i < n; i++)
        assert_string_not_equal(rows[i].id, first.id);
    ch_store_cert_list_free(rows, n);
    /* Held without its key, imported again with it: the key is added to the one held (1), once. */
    {
        ch_store_cert third;
        char held[CH_ID_MAX] = "";
        assert_null(second.key_id);
        assert_int_equal(ch_svc_cert_import(svc, &admin_b, "with key", cert, cert_len, key, key_len, NULL, NULL,
                                            &third, held, NULL), 1);
        assert_string_equal(third.id, second.id);
        assert_non_null(third.key_id);
        ch_store_cert_dispose(&third);
        assert_int_equal(ch_svc_cert_import(svc, &admin_b, "again", cert, cert_len, key, key_len, NULL, NULL,
                                            &third, held, NULL),
                         CH_EEXISTS);
        assert_string_equal(held, second.id);
    }
    /* A key that is not the certificate's is refused. */
    assert_int_equal(tu_sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '%s.other' "
                           "2>/dev/null", key_path),
                     0);
    free(key);
    snprintf(key_path + strlen(key_path), 16, ".other");
    key = tu_read(key_path, &key_len);
    assert_int_equal(ch_svc_cert_import(svc, &admin_a, "x", cert, cert_len, key, key_len, NULL, NULL,
                                        &got, NULL, NULL), CH_EINVAL);
    /* A certificate without BasicConstraints CA:TRUE is refused as an issuer. */
    free(cert);
    snprintf(key_path, sizeof key_path, "%s/ext.key", dir);
    snprintf(path_leaf, sizeof path_leaf, "%s/leaf.pem", dir);
    assert_int_equal(tu_sh("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null "
                           "-subj /CN=leaf 2>/dev/null | openssl x509 -req -CA '%s' -CAkey '%s' -CAcreateserial "
                           "-days 2 -out '%s' 2>/dev/null",
                           cert_path, key_path, path_leaf),
                     0);
    cert = tu_read(path_leaf, &cert_len);
    assert_int_equal(ch_svc_ca_import(svc, &admin_a, "leafy", cert, cert_len, NULL, 0, NULL, &ca, NULL, NULL), CH_EPOLICY);
    assert_non_null(strstr(ch_error_last(), "not a CA"));
    (void)req;
    ch_store_cert_dispose(&first);
    ch_store_cert_dispose(&second);
    free(cert);
    free(key);
}

static void test_byo_issuer(void **state)
{
    char cert_path[1200], key_path[1200];
    uint8_t *cert, *key;
    size_t cert_len, key_len;
    ch_store_ca with_key, without_key;
    ch_store_cert leaf;
    ch_svc_issue_req req = {.profile = "device", .key_type = "p256"};

    (void)state;
    snprintf(cert_path, sizeof cert_path, "%s/byo.pem", dir);
    snprintf(key_path, sizeof key_path, "%s/byo.key", dir);
    assert_int_equal(tu_sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' -subj '/CN=BYO Root' -days 3650 "
                           "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign "
                           "-out '%s' 2>/dev/null",
                           key_path, cert_path),
                     0);
    cert = tu_read(cert_path, &cert_len);
    key = tu_read(key_path, &key_len);
    assert_int_equal(ch_svc_ca_import(svc, &admin_a, "byo", cert, cert_len, key, key_len, NULL, &with_key, NULL, NULL), 0);
    req.ca_id = with_key.id;
    req.subject.fields.common_name = "sensor-7";
    assert_int_equal(ch_svc_cert_issue(svc, &admin_a, &req, &leaf), 0);
    ch_store_cert_dispose(&leaf);
    /* The same issuer imported without its key (in the other tenant) cannot sign. */
    assert_int_equal(ch_svc_ca_import(svc, &admin_b, "byo", cert, cert_len, NULL, 0, NULL, &without_key, NULL, NULL), 0);
    req.ca_id = without_key.id;
    assert_int_equal(ch_svc_cert_issue(svc, &admin_b, &req, &leaf), CH_EPOLICY);
    assert_non_null(strstr(ch_error_last(), "without its private key"));
    /* Deleting a CA with live certificates needs force. */
    assert_int_equal(ch_svc_ca_delete(svc, &admin_a, with_key.id, false), CH_ECONFLICT);
    assert_int_equal(ch_svc_ca_delete(svc, &admin_a, with_key.id, true), 0);
    ch_store_ca_dispose(&with_key);
    ch_store_ca_dispose(&without_key);
    free(cert);
    free(key);
}

static void test_csr_attach(void **state)
{
    ch_svc_csr_req req = {.name = "external web", .key_type = "p256"};
    const char *sans[] = {"dns:www.example.org", NULL};
    ch_store_csr csr;
    ch_store_cert cert;
    ch_buf pem = CH_BUF_INIT;
    char csr_path[1200], ca_path[1200], ca_key[1200], crt_path[1200], other[1200];
    uint8_t *data;
    size_t len;

    (void)state;
    req.subject.fields.common_name = "www.example.org";
    req.sans = sans;
    assert_int_equal(ch_svc_csr_create(svc, &operator_a, &req, &csr), 0);
    assert_non_null(csr.key_id);
    assert_int_equal(ch_svc_csr_pem(&pem, &csr), 0);
    snprintf(csr_path, sizeof csr_path, "%s/ext.csr", dir);
    snprintf(ca_path, sizeof ca_path, "%s/extca.pem", dir);
    snprintf(ca_key, sizeof ca_key, "%s/extca.key", dir);
    snprintf(crt_path, sizeof crt_path, "%s/ext.crt", dir);
    snprintf(other, sizeof other, "%s/other.crt", dir);
    assert_int_equal(ch_file_write_atomic(csr_path, pem.data, pem.len, 0600), 0);
    ch_buf_dispose(&pem);
    /* An outside CA (openssl) signs it. */
    assert_int_equal(tu_sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '%s' "
                           "-subj /CN=ExtCA -days 30 -out '%s' 2>/dev/null && "
                           "openssl x509 -req -in '%s' -CA '%s' -CAkey '%s' -CAcreateserial -days 10 -out '%s' "
                           "2>/dev/null && "
                           "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null "
                           "-subj /CN=unrelated -days 3 -out '%s' 2>/dev/null",
                           ca_key, ca_path, csr_path, ca_path, ca_key, crt_path, other),
                     0);
    /* A certificate for another key is refused. */
    data = tu_read(other, &len);
    assert_int_equal(ch_svc_csr_attach(svc, &operator_a, csr.id, data, len, &cert), CH_EINVAL);
    free(data);
    data = tu_read(crt_path, &len);
    assert_int_equal(ch_svc_csr_attach(svc, &operator_a, csr.id, data, len, &cert), 0);
    assert_string_equal(cert.key_id, csr.key_id);
    assert_string_equal(cert.method, "csr_signed");
    ch_store_cert_dispose(&cert);
    /* Only once. */
    assert_int_equal(ch_svc_csr_attach(svc, &operator_a, csr.id, data, len, &cert), CH_ECONFLICT);
    /* ...and the store holds to it under the write lock, where two requests may both have
     * seen the CSR waiting: the second attach changes nothing. */
    assert_int_equal(ch_store_csr_attach(ch_svc_store(svc), operator_a.tenant_id, csr.id, "crt_other"), CH_ECONFLICT);
    {
        ch_store_csr again;
        assert_int_equal(ch_store_csr_get(ch_svc_store(svc), &again, operator_a.tenant_id, csr.id), 0);
        assert_string_not_equal(again.cert_id, "crt_other");
        ch_store_csr_dispose(&again);
    }
    free(data);
    ch_store_csr_dispose(&csr);
}

/* The CSR made here at path (PEM), signed by the outside CA of this test (openssl) into out: as
 * an intermediate CA when ca, else as a server's certificate. */
static void sign_outside(const ch_store_csr *csr, const char *name, bool ca, char *out, size_t size)
{
    ch_buf pem = CH_BUF_INIT;
    char csr_path[1200], ext[1200];

    snprintf(csr_path, sizeof csr_path, "%s/%s.csr", dir, name);
    snprintf(ext, sizeof ext, "%s/%s.ext", dir, name);
    snprintf(out, size, "%s/%s.crt", dir, name);
    assert_int_equal(ch_svc_csr_pem(&pem, csr), 0);
    assert_int_equal(ch_file_write_atomic(csr_path, pem.data, pem.len, 0600), 0);
    ch_buf_dispose(&pem);
    assert_int_equal(tu_sh("test -f '%s/found-root.pem' || openssl req -x509 -newkey ec -pkeyopt "
                           "ec_paramgen_curve:P-256 -nodes -keyout '%s/found-root.key' -subj '/CN=Found Outside Root' "
                           "-days 60 -out '%s/found-root.pem' 2>/dev/null",
                           dir, dir, dir),
                     0);
    assert_int_equal(tu_sh("printf '%s' > '%s' && openssl x509 -req -in '%s' -CA '%s/found-root.pem' -CAkey "
                           "'%s/found-root.key' -set_serial 0x%lx -days 30 -extfile '%s' -out '%s' 2>/dev/null",
                           ca ? "basicConstraints=critical,CA:true,pathlen:0\\nkeyUsage=critical,keyCertSign,cRLSign\\n"
                              : "basicConstraints=CA:false\\nextendedKeyUsage=serverAuth\\n",
                           ext, csr_path, dir, dir, (unsigned long)random() & 0xffffffUL, ext, out),
                     0);
}

/* The detail of the latest audit entry with this action (and of this object, when not NULL) in
 * the tenant of a, the only one there is of that object (free()). */
static char *audit_detail(const ch_actor *a, const char *action, const char *object_id)
{
    ch_store_audit_filter f = {.newest_first = true, .action = action, .object_id = object_id};
    ch_store_audit *rows = NULL;
    size_t n = 0;
    int64_t next = 0;
    char *detail;

    assert_int_equal(ch_svc_audit_list(svc, a, &f, object_id ? 10 : 1, &rows, &n, &next), 0);
    assert_int_equal(n, 1);
    detail = strdup(rows[0].detail ? rows[0].detail : "");
    ch_store_audit_list_free(rows, n);
    return detail;
}

static char *last_detail(const ch_actor *a, const char *action)
{
    return audit_detail(a, action, NULL);
}

/* A certificate an outside CA signed for a CSR made here, brought back without naming the CSR:
 * it takes the CSR's key, as if the CSR had been named (an intermediate CA that signs, a
 * certificate with its key), the CSR takes it, and the answer and the audit say which CSR.
 * Never another tenant's CSR, never one signed already, and a CSR from before the store
 * recorded its key's hash is found all the same. */
static void test_csr_key_found(void **state)
{
    ch_svc_csr_req ca_req = {.name = "found issuing", .key_type = "p256"};
    ch_svc_csr_req leaf_req = {.name = "found web", .key_type = "p256"};
    const char *sans[] = {"dns:www.found.example", NULL}, *gw_sans[] = {"dns:gw.found.example", NULL};
    ch_svc_issue_req issue = {.profile = "tls-server", .key_type = "p256", .days = 10};
    ch_store_csr csr, web, again;
    ch_store_ca ca, theirs, twice;
    ch_store_cert row, leaf;
    ch_svc_import_preview p;
    ch_cert *root, *inter, *l;
    ch_verify_opts vo = {0};
    char crt[1200], crt2[1200], web_crt[1200], path[1200], *detail;
    ch_svc_csr_found from = {"x", true};
    uint8_t *data;
    size_t len;
    ch_svc_opts o = {0};
    sqlite3 *db;

    (void)state;
    ca_req.subject.fields.common_name = "Found Issuing CA";
    assert_int_equal(ch_svc_csr_create(svc, &operator_a, &ca_req, &csr), 0);
    sign_outside(&csr, "found-ca", true, crt, sizeof crt);
    data = tu_read(crt, &len);

    /* Another tenant importing the same certificate does not get tenant a's key. */
    assert_int_equal(ch_svc_ca_import(svc, &admin_b, "found theirs", data, len, NULL, 0, NULL, &theirs, &from, NULL), 0);
    assert_null(theirs.key_id);
    assert_string_equal(from.id, "");
    assert_int_equal(ch_store_csr_get(ch_svc_store(svc), &again, ta.id, csr.id), 0);
    assert_null(again.cert_id);
    ch_store_csr_dispose(&again);

    /* Tenant a, naming no key and no CSR: the CSR's key, the CSR linked, the CA signs. */
    assert_int_equal(ch_svc_ca_import(svc, &operator_a, "found issuing", data, len, NULL, 0, NULL, &ca, &from, NULL), 0);
    assert_string_equal(from.id, csr.id);
    assert_non_null(ca.key_id);
    assert_string_equal(ca.key_id, csr.key_id);
    assert_int_equal(ch_store_cert_get(ch_svc_store(svc), &row, ta.id, ca.cert_id), 0);
    assert_string_equal(row.method, "csr_signed");
    assert_string_equal(row.key_id, csr.key_id);
    ch_store_cert_dispose(&row);
    assert_int_equal(ch_store_csr_get(ch_svc_store(svc), &again, ta.id, csr.id), 0);
    assert_string_equal(again.cert_id, ca.cert_id);
    ch_store_csr_dispose(&again);
    detail = last_detail(&admin_a, "ca.import");
    assert_non_null(strstr(detail, "\"key_from_csr\":\""));
    assert_non_null(strstr(detail, csr.id));
    assert_non_null(strstr(detail, "\"has_key\":true"));
    free(detail);
    issue.ca_id = ca.id;
    issue.subject.fields.common_name = "gw.found.example";
    issue.sans = gw_sans;
    if (ch_svc_cert_issue(svc, &operator_a, &issue, &leaf) != 0)
        fail_msg("the CA found its key cannot sign: %s", ch_error_last());
    /* ...and what it signs chains to the outside root. */
    free(data);
    snprintf(path, sizeof path, "%s/found-root.pem", dir);
    data = tu_read(path, &len);
    assert_int_equal(ch_cert_parse(&root, data, len), 0);
    free(data);
    data = tu_read(crt, &len);
    assert_int_equal(ch_cert_parse(&inter, data, len), 0);
    l = parse_row(&leaf);
    vo.anchors = &root;
    vo.anchor_count = 1;
    vo.untrusted = &inter;
    vo.untrusted_count = 1;
    vo.purpose = CH_PURPOSE_SERVER;
    assert_int_equal(ch_chain_verify(l, &vo), 0);
    ch_cert_free(l);
    ch_cert_free(inter);
    ch_cert_free(root);
    ch_store_cert_dispose(&leaf);
    free(data);

    /* The same CSR signed again (another certificate, the same key): its CSR is signed
     * already, so the import is one without a key, as before. */
    sign_outside(&csr, "found-ca-2", true, crt2, sizeof crt2);
    data = tu_read(crt2, &len);
    assert_int_equal(ch_svc_ca_import(svc, &operator_a, "found twice", data, len, NULL, 0, NULL, &twice, &from, NULL), 0);
    assert_null(twice.key_id);
    assert_string_equal(from.id, "");
    detail = last_detail(&admin_a, "ca.import");
    assert_null(strstr(detail, "csr"));
    free(detail);
    free(data);

    /* A certificate, not a CA: the same, as attaching it to its CSR would do, the preview
     * saying so first; without a name it takes the CSR's. */
    leaf_req.subject.fields.common_name = "www.found.example";
    leaf_req.sans = sans;
    assert_int_equal(ch_svc_csr_create(svc, &operator_a, &leaf_req, &web), 0);
    sign_outside(&web, "found-web", false, web_crt, sizeof web_crt);
    data = tu_read(web_crt, &len);
    assert_int_equal(ch_svc_cert_import_preview(svc, &operator_a, NULL, data, len, NULL, 0, NULL, NULL, &p), 0);
    assert_string_equal(p.csr.id, web.id);
    assert_true(p.csr.key_taken);
    assert_true(p.has_key);
    assert_null(p.row.key_id);
    ch_svc_import_preview_dispose(&p);
    assert_int_equal(ch_store_csr_get(ch_svc_store(svc), &again, ta.id, web.id), 0);
    assert_null(again.cert_id);
    ch_store_csr_dispose(&again);
    /* (not in tenant b) */
    assert_int_equal(ch_svc_cert_import(svc, &admin_b, NULL, data, len, NULL, 0, NULL, NULL, &row, NULL, &from), 0);
    assert_null(row.key_id);
    assert_string_equal(row.method, "imported");
    assert_string_equal(from.id, "");
    ch_store_cert_dispose(&row);
    assert_int_equal(ch_svc_cert_import(svc, &operator_a, NULL, data, len, NULL, 0, NULL, NULL, &row, NULL, &from), 0);
    assert_string_equal(from.id, web.id);
    assert_string_equal(row.key_id, web.key_id);
    assert_string_equal(row.method, "csr_signed");
    assert_string_equal(row.name, "found web");
    assert_int_equal(ch_store_csr_get(ch_svc_store(svc), &again, ta.id, web.id), 0);
    assert_string_equal(again.cert_id, row.id);
    ch_store_csr_dispose(&again);
    detail = last_detail(&admin_a, "certificate.import");
    assert_non_null(strstr(detail, web.id));
    free(detail);
    /* Its key goes out with it, as any certificate's held here. */
    {
        ch_buf key_pem = CH_BUF_INIT;
        ch_key *k = NULL;
        ch_cert *c = parse_row(&row);
        assert_int_equal(ch_svc_key_export(svc, &admin_a, row.id, NULL, &key_pem), 0);
        assert_int_equal(ch_key_parse(&k, key_pem.data, key_pem.len, NULL), 0);
        assert_true(ch_cert_matches_key(c, k));
        ch_key_free(k);
        ch_cert_free(c);
        ch_buf_dispose_secure(&key_pem);
    }
    ch_store_cert_dispose(&row);
    free(data);
    ch_store_csr_dispose(&web);

    /* A CSR made before the store kept its key's hash beside it (schema 24): found once the
     * store is opened by this certhub. */
    leaf_req.name = "found older";
    leaf_req.subject.fields.common_name = "old.found.example";
    leaf_req.sans = NULL;
    assert_int_equal(ch_svc_csr_create(svc, &operator_a, &leaf_req, &web), 0);
    ch_svc_close(svc);
    svc = NULL;
    snprintf(path, sizeof path, "%s/certhub.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000); /* (the service may hold the write lock a moment) */
    assert_int_equal(sqlite3_exec(db, "DROP INDEX csrs_waiting_key; ALTER TABLE csrs DROP COLUMN spki_sha256;"
                                      "DROP INDEX api_tokens_created_by; DROP INDEX api_tokens_owner;"
                                      "ALTER TABLE api_tokens DROP COLUMN created_by;"
                                      "ALTER TABLE api_tokens DROP COLUMN owner_user_id;"
                                      "DROP INDEX keystore_entries_cert; DROP TABLE keystore_renewal_backfill;"
                                      "DROP TABLE setup_steps; DROP INDEX trusted_certs_disabled;"
                                      "DROP INDEX devices_client; ALTER TABLE devices DROP COLUMN client_id;"
                                      "ALTER TABLE certificates DROP COLUMN renew_before; DROP TABLE token_certificates;"
                                      "PRAGMA user_version=24",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    o.data_dir = dir;
    assert_int_equal(ch_svc_open(&svc, &o), 0);
    sign_outside(&web, "found-old", false, web_crt, sizeof web_crt);
    data = tu_read(web_crt, &len);
    assert_int_equal(ch_svc_cert_import(svc, &operator_a, "named", data, len, NULL, 0, NULL, NULL, &row, NULL, &from),
                     0);
    assert_string_equal(from.id, web.id);
    assert_string_equal(row.key_id, web.key_id);
    assert_string_equal(row.name, "named");
    ch_store_cert_dispose(&row);
    free(data);
    ch_store_csr_dispose(&web);

    ch_store_ca_dispose(&twice);
    ch_store_ca_dispose(&ca);
    ch_store_ca_dispose(&theirs);
    ch_store_csr_dispose(&csr);
}

/* Imports file (one of sign_outside's) into tenant a, without a key or with key
 * (PEM), the answer's certificate in *row (disposed first when it holds one). */
static int import_file(const char *file, const ch_buf *key, ch_store_cert *row, char existing[CH_ID_MAX],
                       ch_svc_csr_found *found)
{
    size_t len;
    uint8_t *data = tu_read(file, &len);
    int error;

    ch_store_cert_dispose(row);
    error = ch_svc_cert_import(svc, &admin_a, NULL, data, len, key ? key->data : NULL, key ? key->len : 0, NULL, NULL,
                               row, existing, found);
    free(data);
    return error;
}

static void assert_csr_cert(const char *csr_id, const char *cert_id)
{
    ch_store_csr c;

    assert_int_equal(ch_store_csr_get(ch_svc_store(svc), &c, ta.id, csr_id), 0);
    if (cert_id == NULL)
        assert_null(c.cert_id);
    else
        assert_string_equal(c.cert_id, cert_id);
    ch_store_csr_dispose(&c);
}

/* Where test_csr_key_found does not go: a certificate held already without its key while its
 * CSR waits (kept while the CSR had another certificate, since deleted) takes the CSR's key
 * when imported again (1, as a key added; audited certificate.key_add); held with a key, it
 * stays a duplicate and the CSR waits on.  Imported with its key, a certificate (or a CA)
 * links the CSR waiting for it, its own key kept. */
static void test_csr_key_held(void **state)
{
    ch_svc_csr_req req = {.name = "held web", .key_type = "p256"}, ca_req = {.name = "held ca", .key_type = "p256"};
    const char *sans[] = {"dns:held.example", NULL};
    ch_store_csr w, e;
    ch_store_cert a = {0}, b = {0}, c = {0}, d = {0}, x = {0}, row = {0};
    ch_store_ca ca;
    ch_svc_import_preview p;
    ch_svc_csr_found found;
    ch_buf key = CH_BUF_INIT, ca_key = CH_BUF_INIT;
    char fa[1200], fb[1200], fc[1200], fd[1200], fe[1200], existing[CH_ID_MAX], *detail;
    uint8_t *data;
    size_t len;

    (void)state;
    req.subject.fields.common_name = "held.example";
    req.sans = sans;
    assert_int_equal(ch_svc_csr_create(svc, &operator_a, &req, &w), 0);
    sign_outside(&w, "held-a", false, fa, sizeof fa);
    sign_outside(&w, "held-b", false, fb, sizeof fb);
    sign_outside(&w, "held-c", false, fc, sizeof fc);
    sign_outside(&w, "held-d", false, fd, sizeof fd);

    /* A takes the CSR's key; its key downloaded (as a user has it); B and C find the CSR signed
     * already: B kept without a key, C with the key given. */
    assert_int_equal(import_file(fa, NULL, &a, existing, &found), 0);
    assert_string_equal(found.id, w.id);
    assert_int_equal(ch_svc_key_export(svc, &admin_a, a.id, NULL, &key), 0);
    assert_int_equal(import_file(fb, NULL, &b, existing, &found), 0);
    assert_null(b.key_id);
    assert_string_equal(found.id, "");
    assert_int_equal(import_file(fc, &key, &c, existing, &found), 0);
    assert_non_null(c.key_id);
    assert_string_equal(found.id, "");
    assert_string_equal(c.method, "imported");
    /* No CSR waiting: B again is a duplicate. */
    assert_int_equal(import_file(fb, NULL, &row, existing, &found), CH_EEXISTS);
    assert_string_equal(existing, b.id);
    /* A deleted, the CSR waits again. */
    assert_int_equal(ch_svc_cert_delete(svc, &admin_a, a.id, NULL), 0);
    assert_csr_cert(w.id, NULL);

    /* C, held with a key: a duplicate still, and the CSR waits on. */
    assert_int_equal(import_file(fc, NULL, &row, existing, &found), CH_EEXISTS);
    assert_string_equal(existing, c.id);
    assert_string_equal(found.id, "");
    assert_csr_cert(w.id, NULL);

    /* B, held without: previewed, then imported, it takes the CSR's key. */
    data = tu_read(fb, &len);
    assert_int_equal(ch_svc_cert_import_preview(svc, &operator_a, NULL, data, len, NULL, 0, NULL, NULL, &p), 0);
    assert_string_equal(p.key_for, b.id);
    assert_string_equal(p.csr.id, w.id);
    assert_true(p.csr.key_taken);
    ch_svc_import_preview_dispose(&p);
    free(data);
    assert_csr_cert(w.id, NULL);
    assert_int_equal(import_file(fb, NULL, &row, existing, &found), 1);
    assert_string_equal(row.id, b.id);
    assert_string_equal(row.key_id, w.key_id);
    assert_string_equal(found.id, w.id);
    assert_true(found.key_taken);
    assert_csr_cert(w.id, b.id);
    detail = audit_detail(&admin_a, "certificate.key_add", b.id);
    assert_non_null(strstr(detail, "\"key_from_csr\":\""));
    assert_non_null(strstr(detail, w.id));
    free(detail);
    assert_int_equal(import_file(fb, NULL, &row, existing, &found), CH_EEXISTS);
    assert_string_equal(existing, b.id);

    /* B deleted, the CSR waits again: D comes with its key, keeps it, and the CSR takes D. */
    assert_int_equal(ch_svc_cert_delete(svc, &admin_a, b.id, NULL), 0);
    assert_csr_cert(w.id, NULL);
    assert_int_equal(import_file(fd, &key, &d, existing, &found), 0);
    assert_string_equal(found.id, w.id);
    assert_false(found.key_taken);
    assert_non_null(d.key_id);
    assert_string_not_equal(d.key_id, w.key_id);
    assert_string_equal(d.method, "csr_signed");
    assert_string_equal(d.name, "held web");
    assert_csr_cert(w.id, d.id);
    detail = audit_detail(&admin_a, "certificate.import", d.id);
    assert_non_null(strstr(detail, "\"csr_id\":\""));
    assert_null(strstr(detail, "key_from_csr"));
    free(detail);

    /* A CA imported with its key while its CSR waits: the CSR takes its certificate. */
    ca_req.subject.fields.common_name = "Held Issuing CA";
    assert_int_equal(ch_svc_csr_create(svc, &operator_a, &ca_req, &e), 0);
    sign_outside(&e, "held-ca", true, fe, sizeof fe);
    assert_int_equal(import_file(fe, NULL, &x, existing, &found), 0);
    assert_int_equal(ch_svc_key_export(svc, &admin_a, x.id, NULL, &ca_key), 0);
    assert_int_equal(ch_svc_cert_delete(svc, &admin_a, x.id, NULL), 0);
    assert_csr_cert(e.id, NULL);
    data = tu_read(fe, &len);
    assert_int_equal(
        ch_svc_ca_import(svc, &admin_a, "held ca", data, len, ca_key.data, ca_key.len, NULL, &ca, &found, NULL), 0);
    free(data);
    assert_string_equal(found.id, e.id);
    assert_false(found.key_taken);
    assert_non_null(ca.key_id);
    assert_string_not_equal(ca.key_id, e.key_id);
    assert_csr_cert(e.id, ca.cert_id);
    detail = audit_detail(&admin_a, "ca.import", ca.id);
    assert_non_null(strstr(detail, "\"csr_id\":\""));
    free(detail);

    ch_store_ca_dispose(&ca);
    ch_buf_dispose_secure(&ca_key);
    ch_buf_dispose_secure(&key);
    ch_store_cert_dispose(&row);
    ch_store_cert_dispose(&x);
    ch_store_cert_dispose(&d);
    ch_store_cert_dispose(&c);
    ch_store_cert_dispose(&b);
    ch_store_cert_dispose(&a);
    ch_store_csr_dispose(&e);
    ch_store_csr_dispose(&w);
}

/* A CA held without its key gets it later: imported again with its key (or with the key of a
 * CSR made here that waits for it) it is the same CA, its name kept, that signs now (1; audited
 * ca.key_add).  A key that is not its own changes nothing; a CA that has its key stays a
 * duplicate; another tenant's CA of the same certificate is never touched. */
static void test_ca_key_later(void **state)
{
    ch_svc_csr_req csr_req = {.name = "later csr", .key_type = "p256"};
    ch_svc_issue_req req = {.profile = "device", .key_type = "p256", .days = 5};
    char cert_path[1200], key_path[1200], other_key[1200], fe[1200], existing[CH_ID_MAX], *detail;
    uint8_t *cert, *key, *wrong, *data;
    size_t cert_len, key_len, wrong_len, len;
    ch_store_ca bare = {0}, theirs = {0}, got = {0}, again = {0};
    ch_store_cert leaf, row;
    ch_store_csr csr;
    ch_svc_csr_found found;

    (void)state;
    snprintf(cert_path, sizeof cert_path, "%s/later.pem", dir);
    snprintf(key_path, sizeof key_path, "%s/later.key", dir);
    snprintf(other_key, sizeof other_key, "%s/later-other.key", dir);
    assert_int_equal(tu_sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '%s' "
                           "-subj '/CN=Later Root' -days 30 -addext basicConstraints=critical,CA:TRUE "
                           "-addext keyUsage=critical,keyCertSign,cRLSign -out '%s' 2>/dev/null && "
                           "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '%s' 2>/dev/null",
                           key_path, cert_path, other_key),
                     0);
    cert = tu_read(cert_path, &cert_len);
    key = tu_read(key_path, &key_len);
    wrong = tu_read(other_key, &wrong_len);

    assert_int_equal(ch_svc_ca_import(svc, &admin_a, "later bare", cert, cert_len, NULL, 0, NULL, &bare, NULL, NULL), 0);
    assert_null(bare.key_id);
    assert_int_equal(ch_svc_ca_import(svc, &admin_b, "later theirs", cert, cert_len, NULL, 0, NULL, &theirs, NULL, NULL),
                     0);
    /* Again without a key: a duplicate, which says how the key is added. */
    assert_int_equal(ch_svc_ca_import(svc, &admin_a, "x", cert, cert_len, NULL, 0, NULL, &got, NULL, NULL), CH_EEXISTS);
    assert_non_null(strstr(ch_error_last(), "import it again with its key"));
    /* A key that is not its certificate's: refused, nothing changed. */
    assert_int_equal(ch_svc_ca_import(svc, &admin_a, "x", cert, cert_len, wrong, wrong_len, NULL, &got, NULL, NULL),
                     CH_EINVAL);
    assert_string_equal(ch_error_field(), "private_key");
    req.ca_id = bare.id;
    req.subject.fields.common_name = "early.later.example";
    assert_int_equal(ch_svc_cert_issue(svc, &admin_a, &req, &leaf), CH_EPOLICY); /* (and the cache holds it so) */

    assert_int_equal(ch_svc_ca_import(svc, &admin_a, "later named", cert, cert_len, key, key_len, NULL, &got, &found, NULL),
                     1);
    assert_string_equal(got.id, bare.id);
    assert_string_equal(got.name, "later bare");
    assert_string_equal(got.cert_id, bare.cert_id);
    assert_non_null(got.key_id);
    assert_int_equal(found.id[0], '\0');
    assert_int_equal(ch_svc_cert_issue(svc, &admin_a, &req, &leaf), 0);
    assert_string_equal(leaf.ca_id, bare.id);
    ch_store_cert_dispose(&leaf);
    assert_int_equal(ch_svc_cert_get(svc, &admin_a, bare.cert_id, &row), 0);
    assert_string_equal(row.key_id, got.key_id);
    ch_store_cert_dispose(&row);
    detail = audit_detail(&admin_a, "ca.key_add", bare.id);
    assert_non_null(strstr(detail, bare.cert_id));
    free(detail);
    /* With its key now: a duplicate again. */
    assert_int_equal(ch_svc_ca_import(svc, &admin_a, "x", cert, cert_len, key, key_len, NULL, &again, NULL, NULL),
                     CH_EEXISTS);
    assert_null(strstr(ch_error_last(), "without its private key"));

    /* The other tenant's CA of the same certificate has no key still. */
    ch_store_ca_dispose(&again);
    assert_int_equal(ch_svc_ca_get(svc, &admin_b, theirs.id, &again), 0);
    assert_null(again.key_id);
    ch_store_ca_dispose(&again);

    /* A CA held without its key while the CSR it was signed for waits: signed twice, the CSR
     * took its first certificate, so the second became a CA without a key; that certificate
     * deleted, the CSR waits again, and the CA takes its key. */
    csr_req.subject.fields.common_name = "Later Issuing CA";
    assert_int_equal(ch_svc_csr_create(svc, &admin_a, &csr_req, &csr), 0);
    sign_outside(&csr, "later-issuing-a", true, fe, sizeof fe);
    memset(&row, 0, sizeof row);
    assert_int_equal(import_file(fe, NULL, &row, existing, &found), 0);
    assert_string_equal(found.id, csr.id);
    sign_outside(&csr, "later-issuing-b", true, fe, sizeof fe);
    data = tu_read(fe, &len);
    assert_int_equal(ch_svc_ca_import(svc, &admin_a, "later issuing", data, len, NULL, 0, NULL, &again, &found, NULL), 0);
    assert_null(again.key_id);
    assert_int_equal(found.id[0], '\0');
    assert_int_equal(ch_svc_cert_delete(svc, &admin_a, row.id, NULL), 0);
    ch_store_cert_dispose(&row);
    assert_csr_cert(csr.id, NULL);
    ch_store_ca_dispose(&got);
    assert_int_equal(ch_svc_ca_import(svc, &admin_a, "later issuing", data, len, NULL, 0, NULL, &got, &found, NULL), 1);
    assert_string_equal(got.id, again.id);
    assert_string_equal(got.key_id, csr.key_id);
    assert_string_equal(found.id, csr.id);
    assert_true(found.key_taken);
    assert_csr_cert(csr.id, got.cert_id);
    detail = audit_detail(&admin_a, "ca.key_add", got.id);
    assert_non_null(strstr(detail, "\"key_from_csr\":\""));
    free(detail);

    free(data);
    ch_store_csr_dispose(&csr);
    ch_store_ca_dispose(&again);
    ch_store_ca_dispose(&got);
    ch_store_ca_dispose(&theirs);
    ch_store_ca_dispose(&bare);
    free(wrong);
    free(key);
    free(cert);
}

static void test_key_export_and_db_scan(void **state)
{
    ch_store_ca root, inter;
    ch_store_cert leaf;
    ch_svc_issue_req req = {.profile = "tls-client", .key_type = "p256"};
    ch_buf pem = CH_BUF_INIT;
    ch_key *key;
    ch_buf der = CH_BUF_INIT;
    ch_store_audit *rows;
    int64_t next_seq;
    size_t n;
    bool found = false;
    char path[1200];
    const char *suffix[] = {"", "-wal"};

    (void)state;
    make_cas(&root, &inter, "export");
    req.ca_id = inter.id;
    req.subject.fields.common_name = "client-1";
    assert_int_equal(ch_svc_cert_issue(svc, &admin_a, &req, &leaf), 0);
    /* An operator (no keys:export) is refused. */
    assert_int_equal(ch_svc_key_export(svc, &operator_a, leaf.id, NULL, &pem), CH_EPERM);
    /* Another tenant sees nothing. */
    assert_int_equal(ch_svc_key_export(svc, &admin_b, leaf.id, NULL, &pem), CH_ENOTFOUND);
    assert_int_equal(ch_svc_key_export(svc, &admin_a, leaf.id, NULL, &pem), 0);
    assert_int_equal(ch_key_parse(&key, pem.data, pem.len, NULL), 0);
    ch_cert *c = parse_row(&leaf);
    assert_true(ch_cert_matches_key(c, key));
    ch_cert_free(c);
    /* The export is in the audit log. */
    assert_int_equal(ch_svc_audit_list(svc, &admin_a, NULL, 1000, &rows, &n, &next_seq), 0);
    assert_int_equal(next_seq, 0);
    for (size_t i = 0; i < n; i++)
        found |= strcmp(rows[i].action, "key.export") == 0 && strcmp(rows[i].object_id, leaf.id) == 0;
    ch_store_audit_list_free(rows, n);
    assert_true(found);
    /* The key's DER appears nowhere in the database files. */
    assert_int_equal(ch_key_write_der(&der, key), 0);
    for (int i = 0; i < 2; i++) {
        uint8_t *db;
        size_t len;
        snprintf(path, sizeof path, "%s/certhub.db%s", dir, suffix[i]);
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            continue;
        fclose(f);
        db = tu_read(path, &len);
        /* the private scalar sits in the last bytes of the PKCS#8 structure */
        assert_false(tu_contains(db, len, der.data + der.len - 100, 32));
        assert_false(tu_contains(db, len, pem.data + 28, 40));
        free(db);
    }
    ch_buf_dispose_secure(&der);
    ch_buf_dispose_secure(&pem);
    ch_key_free(key);
    ch_store_cert_dispose(&leaf);
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&inter);
}

static void test_audit_chain(void **state)
{
    int64_t bad = -1;
    sqlite3 *db;
    char path[1200];

    (void)state;
    assert_int_equal(ch_svc_audit_verify(svc, &admin_a, &bad), 0);
    assert_int_equal(bad, 0);
    /* Alter one row behind the service's back. */
    snprintf(path, sizeof path, "%s/certhub.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000); /* (the service may hold the write lock a moment) */
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE audit_log SET actor='someone-else' WHERE seq=(SELECT min(seq)+1 FROM "
                                  "audit_log WHERE action='certificate.issue')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(ch_svc_audit_verify(svc, &admin_a, &bad), CH_EVERIFY);
    assert_true(bad > 0);
    /* The other tenant's chain is its own and intact. */
    assert_int_equal(ch_svc_audit_verify(svc, &admin_b, &bad), 0);
}

struct issuer {
    const char *ca_id;
    int ok, failed;
};

static void *issue_many(void *p)
{
    struct issuer *w = p;
    ch_svc_issue_req req = {.profile = "device", .key_type = "p256", .ca_id = w->ca_id};
    char cn[64];

    for (int i = 0; i < 60; i++) {
        ch_store_cert row;
        snprintf(cn, sizeof cn, "concurrent-%p-%d", (void *)w, i);
        req.subject.fields.common_name = cn;
        /* every tenth asks for a bad profile: it must fail alone, not its batch */
        req.profile = i % 10 == 9 ? "tls-server-nope" : "device";
        if (ch_svc_cert_issue(svc, &admin_a, &req, &row) == 0) {
            w->ok++;
            ch_store_cert_dispose(&row);
        } else {
            w->failed++;
        }
    }
    return NULL;
}

struct rotator {
    const char *ca_id;
    int ok, conflicts;
};

static void *rotate_many(void *p)
{
    struct rotator *w = p;

    for (int i = 0; i < 12; i++) {
        ch_store_ca out;
        int error = ch_svc_ca_rotate(svc, &admin_a, w->ca_id, &out);
        if (error == 0) {
            w->ok++;
            ch_store_ca_dispose(&out);
        } else {
            assert_int_equal(error, CH_ECONFLICT);
            w->conflicts++;
        }
    }
    return NULL;
}

/* Rotations of one CA at once, and issuing from it meanwhile: each rotation that succeeds
 * marks the certificate before it rotated (none is left neither current nor rotated), and
 * once they are done a new certificate is signed by the CA's current certificate (a CA read
 * before a rotation and cached after it was served until a restart). */
/* A CA renamed and its automatic rotation switched: only where it can be rotated, a refusal
 * changing nothing, the other settings kept. */
static void test_ca_update(void **state)
{
    ch_store_ca root, inter, got, keyless;
    ch_store_cert rc;

    (void)state;
    make_cas(&root, &inter, "update");
    assert_false(ch_svc_ca_auto_rotate(&inter));
    assert_int_equal(ch_svc_ca_update(svc, &viewer_a, inter.id, NULL, 1, NULL, NULL), CH_EPERM);
    assert_int_equal(ch_svc_ca_update(svc, &admin_b, inter.id, NULL, 1, NULL, NULL), CH_ENOTFOUND);
    assert_int_equal(ch_svc_ca_update(svc, &operator_a, inter.id, NULL, 1, NULL, &got), 0);
    assert_true(ch_svc_ca_auto_rotate(&got));
    assert_non_null(strstr(got.settings, "\"crl_urls\""));
    assert_string_equal(got.name, inter.name);
    ch_store_ca_dispose(&got);
    /* A taken name, an empty one: refused, and the switch asked with them not made. */
    assert_int_equal(ch_svc_ca_update(svc, &operator_a, inter.id, root.name, 0, NULL, NULL), CH_EEXISTS);
    assert_string_equal(ch_error_field(), "name");
    assert_int_equal(ch_svc_ca_update(svc, &operator_a, inter.id, "", 0, NULL, NULL), CH_EINVAL);
    assert_int_equal(ch_svc_ca_get(svc, &admin_a, inter.id, &got), 0);
    assert_true(ch_svc_ca_auto_rotate(&got));
    ch_store_ca_dispose(&got);
    assert_int_equal(ch_svc_ca_update(svc, &operator_a, inter.id, "update renamed", 0, NULL, &got), 0);
    assert_false(ch_svc_ca_auto_rotate(&got));
    assert_string_equal(got.name, "update renamed");
    ch_store_ca_dispose(&got);
    /* Held without its key (tenant B has the root's certificate alone): not switched on. */
    assert_int_equal(ch_store_cert_get(ch_svc_store(svc), &rc, admin_a.tenant_id, root.cert_id), 0);
    assert_int_equal(ch_svc_ca_import(svc, &admin_b, "update keyless", rc.der, rc.der_len, NULL, 0, NULL, &keyless, NULL, NULL),
                     0);
    assert_int_equal(ch_svc_ca_update(svc, &admin_b, keyless.id, NULL, 1, NULL, NULL), CH_EPOLICY);
    assert_string_equal(ch_error_field(), "auto_rotate");
    assert_int_equal(ch_svc_ca_update(svc, &admin_b, keyless.id, NULL, 0, NULL, NULL), 0); /* off stays off */
    ch_store_cert_dispose(&rc);
    ch_store_ca_dispose(&keyless);
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&inter);
}

static void test_concurrent_rotation(void **state)
{
    ch_store_ca root, inter, now;
    struct rotator r[2];
    struct issuer w[2];
    pthread_t t[4];
    ch_store_cert_filter f = {.is_ca = 1};
    ch_store_cert *rows = NULL, cur, leaf;
    size_t n = 0;
    char *next = NULL;
    int active = 0, rotated = 0;
    ch_svc_issue_req req = {.profile = "device", .key_type = "p256", .subject.fields.common_name = "after-rotations"};
    ch_cert *ca_cert, *leaf_cert;
    ch_verify_opts o = {.purpose = CH_PURPOSE_ANY};

    (void)state;
    make_cas(&root, &inter, "rotating");
    for (int i = 0; i < 2; i++) {
        r[i] = (struct rotator){inter.id, 0, 0};
        w[i] = (struct issuer){inter.id, 0, 0};
        pthread_create(&t[i], NULL, rotate_many, &r[i]);
        pthread_create(&t[2 + i], NULL, issue_many, &w[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_true(r[0].ok + r[1].ok > 0);
    assert_int_equal(ch_svc_ca_get(svc, &admin_a, inter.id, &now), 0);
    assert_int_equal(ch_store_cert_list(ch_svc_store(svc), admin_a.tenant_id, &f, 1000, NULL, &rows, &n, &next), 0);
    for (size_t i = 0; i < n; i++)
        if (rows[i].subject != NULL && strcmp(rows[i].subject, "CN=Test Issuing CA,O=certhub tests") == 0 &&
            rows[i].ca_id != NULL && strcmp(rows[i].ca_id, root.id) == 0) {
            if (strcmp(rows[i].status, "rotated") == 0)
                rotated++;
            else if (strcmp(rows[i].id, now.cert_id) == 0)
                active++;
            else
                fail_msg("certificate %s of the CA is %s, neither current nor rotated", rows[i].id, rows[i].status);
        }
    ch_store_cert_list_free(rows, n);
    free(next);
    assert_int_equal(active, 1);
    assert_int_equal(rotated, r[0].ok + r[1].ok);
    /* Issued now: by the current certificate. */
    req.ca_id = inter.id;
    assert_int_equal(ch_svc_cert_issue(svc, &admin_a, &req, &leaf), 0);
    assert_int_equal(ch_svc_cert_get(svc, &admin_a, now.cert_id, &cur), 0);
    ca_cert = parse_row(&cur);
    leaf_cert = parse_row(&leaf);
    o.anchors = &ca_cert;
    o.anchor_count = 1;
    assert_int_equal(ch_chain_verify(leaf_cert, &o), 0);
    ch_cert_free(ca_cert);
    ch_cert_free(leaf_cert);
    ch_store_cert_dispose(&cur);
    ch_store_cert_dispose(&leaf);
    ch_store_ca_dispose(&now);
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&inter);
}

static ch_actor installation_admin;
static _Atomic int tokens_made;

static void *tokens_many(void *p)
{
    for (int i = 0; i < 300; i++) {
        char *token = NULL, id[CH_ID_MAX];
        if (ch_svc_token_create(svc, &installation_admin, p, CH_ROLE_ADMIN, "racer", &token, id) == 0) {
            ch_secure_free_str(token);
            tokens_made++;
        }
    }
    return NULL;
}

/* Tokens made for a tenant while it is revoked: none outlives the revocation (one checked
 * before it and stored after it did, and let its holder in while the tenant was revoked). */
static void test_token_during_revocation(void **state)
{
    ch_store_tenant t;
    ch_store_token *rows = NULL;
    size_t n = 0;
    pthread_t th[2];
    int alive = 0;

    (void)state;
    installation_admin = (ch_actor){ta.id, "test:installation", CH_ROLE_ADMIN, CH_PERM_TENANTS | CH_PERM_KEYS_EXPORT, NULL, NULL};
    assert_int_equal(ch_svc_tenant_create(svc, &installation_admin, "racy", &t), 0);
    tokens_made = 0;
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, tokens_many, t.id);
    /* Revoked while the threads make tokens: once they have made one (a fixed 20 ms was over
     * before a loaded machine had run them, and none was made at all), with most still to come. */
    for (int i = 0; i < 6000 && tokens_made == 0; i++)
        usleep(5000);
    assert_int_equal(ch_svc_tenant_disable(svc, &installation_admin, t.id), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(ch_store_token_list(ch_svc_store(svc), t.id, NULL, &rows, &n), 0);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++)
        alive += rows[i].revoked_at == 0;
    assert_int_equal(alive, 0);
    ch_store_token_list_free(rows, n);
    ch_store_tenant_dispose(&t);
}

/* Moves a certificate's recorded validity (the row's, not its DER's) to three hours ago until
 * an hour from now, and its renewal (when set) to a minute ago: a renewal due now, which
 * ch_svc_cert_update works out again from the row. */
static void renewal_due_now(const char *id, bool renew_at)
{
    char path[1200], sql[400];
    int64_t now = (int64_t)time(NULL);
    sqlite3 *db;

    snprintf(path, sizeof path, "%s/certhub.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000); /* (the service may hold the write lock a moment) */
    sqlite3_busy_timeout(db, 10000);
    snprintf(sql, sizeof sql, "UPDATE certificates SET not_before = %lld, not_after = %lld WHERE id = '%s'",
             (long long)(now - 3 * 3600), (long long)(now + 3600), id);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    snprintf(sql, sizeof sql, "UPDATE certificates SET renew_at = %lld WHERE id = '%s' AND %d", (long long)(now - 60),
             id, renew_at);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Whether the certificate was renewed within 20 s (polled). */
static bool renewed_soon(const char *id)
{
    for (int i = 0; i < 400; i++) {
        ch_store_cert c;
        bool done;
        assert_int_equal(ch_store_cert_get(ch_svc_store(svc), &c, ta.id, id), 0);
        done = c.renewed_by != NULL;
        ch_store_cert_dispose(&c);
        if (done)
            return true;
        usleep(50000);
    }
    return false;
}

/* The scheduler's rounds come when a renewal falls due, not at the interval alone (an hour
 * here): one due when it starts is renewed in its first round, whose renewal tells the
 * scheduler (being started) of its certificate's moment; one switched to automatic renewal
 * past its moment, between rounds, brings a round at once. */
static void test_scheduler_wakes(void **state)
{
    ch_store_ca root, inter;
    ch_svc_issue_req r = {.profile = "tls-server", .key_type = "p256", .ttl = 3600};
    ch_store_cert due, later;

    (void)state;
    make_cas(&root, &inter, "wake");
    r.ca_id = inter.id;
    r.subject.fields.common_name = "due.example";
    r.auto_renew = true;
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &r, &due), 0);
    r.subject.fields.common_name = "later.example";
    r.auto_renew = false;
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &r, &later), 0);
    renewal_due_now(due.id, true);
    assert_int_equal(ch_svc_scheduler_start(svc, 3600), 0);
    assert_true(renewed_soon(due.id));
    for (int i = 0; i < 400 && ch_svc_scheduler_rounds(svc) < 1; i++)
        usleep(50000);
    assert_true(ch_svc_scheduler_rounds(svc) >= 1);
    renewal_due_now(later.id, false);
    assert_int_equal(ch_svc_cert_update(svc, &operator_a, later.id, NULL, 1), 0);
    assert_true(renewed_soon(later.id));
    ch_svc_scheduler_stop(svc);
    ch_store_cert_dispose(&due);
    ch_store_cert_dispose(&later);
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&inter);
}

/* Group commit: several threads issuing at once all get their certificates stored, each
 * exactly once, and the audit chain stays whole. */
static void test_concurrent_issuing(void **state)
{
    ch_store_ca root, inter;
    struct issuer w[4];
    pthread_t t[4];
    int64_t before, after, bad = -1;

    (void)state;
    make_cas(&root, &inter, "concurrent");
    assert_int_equal(ch_svc_audit_verify(svc, &admin_a, &bad), 0);
    before = count_certs(&admin_a);
    for (int i = 0; i < 4; i++) {
        w[i] = (struct issuer){inter.id, 0, 0};
        pthread_create(&t[i], NULL, issue_many, &w[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    after = count_certs(&admin_a);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(w[i].ok, 54);
        assert_int_equal(w[i].failed, 6);
    }
    assert_int_equal(after - before, 4 * 54);
    assert_int_equal(ch_svc_audit_verify(svc, &admin_a, &bad), 0);
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&inter);
}

static void test_tenants_need_admin(void **state)
{
    ch_actor sys = admin_a;
    ch_store_tenant t, *list;
    size_t n;
    char *token = NULL, id[CH_ID_MAX];

    (void)state;
    sys.perms |= CH_PERM_TENANTS;
    assert_int_equal(ch_svc_tenant_create(svc, &operator_a, "gamma", &t), CH_EPERM);
    /* An admin of an ordinary tenant manages that tenant only. */
    assert_int_equal(ch_svc_tenant_create(svc, &admin_a, "gamma", &t), CH_EPERM);
    assert_int_equal(ch_svc_token_create(svc, &admin_a, tb.id, CH_ROLE_ADMIN, NULL, &token, id), CH_EPERM);
    assert_null(token);
    assert_int_equal(ch_svc_tenant_list(svc, &admin_a, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "alpha");
    ch_store_tenant_list_free(list, n);

    assert_int_equal(ch_svc_tenant_create(svc, &sys, "bad name!", &t), CH_EINVAL);
    assert_int_equal(ch_svc_tenant_create(svc, &sys, "gamma", &t), 0);
    ch_store_tenant_dispose(&t);
    assert_int_equal(ch_svc_tenant_create(svc, &sys, "gamma", &t), CH_EEXISTS);
    assert_int_equal(ch_svc_tenant_list(svc, &sys, &list, &n), 0);
    assert_int_equal(n, 3);
    ch_store_tenant_list_free(list, n);
    assert_int_equal(ch_svc_token_create(svc, &sys, tb.id, CH_ROLE_VIEWER, "for beta", &token, id), 0);
    ch_secure_free_str(token);
}

static void test_tokens_list_and_revoke(void **state)
{
    ch_svc_principal who;
    ch_store_token *toks;
    size_t n, before;
    char *token = NULL, id[CH_ID_MAX];

    (void)state;
    assert_int_equal(ch_svc_token_list(svc, &admin_a, NULL, NULL, &toks, &before), 0);
    ch_store_token_list_free(toks, before);
    assert_int_equal(ch_svc_token_create(svc, &admin_a, NULL, CH_ROLE_OPERATOR, "ci", &token, id), 0);
    assert_int_equal(ch_svc_authenticate(svc, token, &who), 0);
    assert_int_equal(who.actor.role, CH_ROLE_OPERATOR);
    assert_int_equal(ch_svc_token_list(svc, &admin_a, NULL, NULL, &toks, &n), 0);
    assert_int_equal(n, before + 1);
    assert_string_equal(toks[n - 1].id, id);
    assert_string_equal(toks[n - 1].name, "ci");
    assert_string_equal(toks[n - 1].token_hash, ""); /* hashes stay in the store */
    ch_store_token_list_free(toks, n);
    /* Another tenant's admin neither sees nor revokes it; a viewer may not. */
    assert_int_equal(ch_svc_token_list(svc, &admin_b, ta.id, NULL, &toks, &n), CH_ENOTFOUND);
    assert_int_equal(ch_svc_token_revoke(svc, &admin_b, id), CH_ENOTFOUND);
    assert_int_equal(ch_svc_token_revoke(svc, &viewer_a, id), CH_EPERM);
    assert_int_equal(ch_svc_authenticate(svc, token, &who), 0);
    assert_int_equal(ch_svc_token_revoke(svc, &admin_a, id), 0);
    assert_int_equal(ch_svc_authenticate(svc, token, &who), CH_EAUTH);
    assert_int_equal(ch_svc_token_revoke(svc, &admin_a, id), CH_ENOTFOUND);
    ch_secure_free_str(token);
}

/* The detail of the audit entry token.revoke of a token, in the tenant of a (free()). */
static char *revoke_detail(const ch_actor *a, const char *token_id)
{
    return audit_detail(a, "token.revoke", token_id);
}

/* The maker of each token, in the list. */
static const ch_store_token *listed(ch_store_token *toks, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(toks[i].id, id) == 0)
            return &toks[i];
    fail_msg("token %s not listed", id);
    return NULL;
}

/* The tokens a console user made (and those its tokens made) end when it is deleted, and
 * those above its role when it is demoted; nobody else's do. */
static void test_tokens_end_with_their_user(void **state)
{
    ch_svc_session sess = {0};
    ch_svc_principal alice, t1who, who;
    ch_store_token *toks;
    const ch_store_token *t;
    ch_role operator = CH_ROLE_OPERATOR;
    char *adm = NULL, *op = NULL, *view = NULL, *child = NULL, *other = NULL, *mine = NULL, *detail;
    char adm_id[CH_ID_MAX], op_id[CH_ID_MAX], view_id[CH_ID_MAX], child_id[CH_ID_MAX], other_id[CH_ID_MAX],
        mine_id[CH_ID_MAX], csrf[65];
    size_t n;
    int revoked = -1;

    (void)state;
    assert_int_equal(ch_svc_user_create(svc, &admin_a, "alice", CH_ROLE_ADMIN, "alice-password"), 0);
    assert_int_equal(ch_svc_login(svc, ta.name, "alice", "alice-password", &sess), 0);
    assert_int_equal(ch_svc_session_authenticate(svc, sess.token, &alice, csrf), 0);
    assert_int_equal(ch_svc_token_create(svc, &alice.actor, NULL, CH_ROLE_ADMIN, "alice-admin", &adm, adm_id), 0);
    assert_int_equal(ch_svc_token_create(svc, &alice.actor, NULL, CH_ROLE_OPERATOR, "alice-op", &op, op_id), 0);
    assert_int_equal(ch_svc_token_create(svc, &alice.actor, NULL, CH_ROLE_VIEWER, "alice-view", &view, view_id), 0);
    /* Made by alice's admin token: it goes back to alice too. */
    assert_int_equal(ch_svc_authenticate(svc, adm, &t1who), 0);
    assert_int_equal(ch_svc_token_create(svc, &t1who.actor, NULL, CH_ROLE_ADMIN, "child", &child, child_id), 0);
    /* Nobody's user (made through the service without a console user), and another tenant's. */
    assert_int_equal(ch_svc_token_create(svc, &admin_a, NULL, CH_ROLE_ADMIN, "unowned", &mine, mine_id), 0);
    assert_int_equal(ch_svc_token_create(svc, &admin_b, NULL, CH_ROLE_ADMIN, "beta", &other, other_id), 0);

    assert_int_equal(ch_svc_token_list(svc, &admin_a, NULL, NULL, &toks, &n), 0);
    t = listed(toks, n, adm_id);
    assert_string_equal(t->created_by, alice.user_id);
    assert_string_equal(t->created_by_name, "alice");
    t = listed(toks, n, child_id);
    assert_string_equal(t->created_by, adm_id);
    assert_null(t->created_by_name);
    assert_string_equal(t->owner_user_id, alice.user_id);
    assert_null(listed(toks, n, mine_id)->created_by);
    ch_store_token_list_free(toks, n);

    /* Demoted to operator: the admin tokens go (alice's and the one it made), the others stay. */
    assert_int_equal(ch_svc_user_update(svc, &admin_a, "alice", &operator, NULL, &revoked), 0);
    assert_int_equal(revoked, 2);
    assert_int_equal(ch_svc_authenticate(svc, adm, &who), CH_EAUTH);
    assert_int_equal(ch_svc_authenticate(svc, child, &who), CH_EAUTH);
    assert_int_equal(ch_svc_authenticate(svc, op, &who), 0);
    assert_int_equal(ch_svc_authenticate(svc, view, &who), 0);
    detail = revoke_detail(&admin_a, adm_id);
    assert_non_null(strstr(detail, "\"reason\":\"user_role_lowered\""));
    assert_non_null(strstr(detail, "\"role\":\"operator\""));
    free(detail);
    /* Lowered again to the same role: nothing more. */
    assert_int_equal(ch_svc_user_update(svc, &admin_a, "alice", &operator, NULL, &revoked), 0);
    assert_int_equal(revoked, 0);

    /* Deleted: the rest go, in the same change; nobody else's token does. */
    assert_int_equal(ch_svc_user_delete(svc, &admin_a, "alice", &revoked), 0);
    assert_int_equal(revoked, 2);
    assert_int_equal(ch_svc_authenticate(svc, op, &who), CH_EAUTH);
    assert_int_equal(ch_svc_authenticate(svc, view, &who), CH_EAUTH);
    assert_int_equal(ch_svc_authenticate(svc, mine, &who), 0);
    assert_int_equal(ch_svc_authenticate(svc, other, &who), 0);
    detail = revoke_detail(&admin_a, view_id);
    assert_non_null(strstr(detail, "\"reason\":\"user_deleted\""));
    assert_non_null(strstr(detail, "\"user\":\"alice\""));
    free(detail);
    detail = last_detail(&admin_a, "user.delete");
    assert_string_equal(detail, "{\"tokens_revoked\":2}");
    free(detail);
    /* Listed with their maker still, its name gone with it. */
    assert_int_equal(ch_svc_token_list(svc, &admin_a, NULL, NULL, &toks, &n), 0);
    t = listed(toks, n, op_id);
    assert_string_equal(t->created_by, alice.user_id);
    assert_null(t->created_by_name);
    assert_true(t->revoked_at != 0);
    ch_store_token_list_free(toks, n);

    assert_int_equal(ch_svc_token_revoke(svc, &admin_a, mine_id), 0);
    assert_int_equal(ch_svc_token_revoke(svc, &admin_b, other_id), 0);
    ch_svc_session_dispose(&sess);
    ch_secure_free_str(adm);
    ch_secure_free_str(op);
    ch_secure_free_str(view);
    ch_secure_free_str(child);
    ch_secure_free_str(mine);
    ch_secure_free_str(other);
}

/* The token made from a token of ta's, as the service stores it: created_by names the maker. */
static void token_row_put(const char *id, const char *created_by)
{
    static int rows;
    ch_store_token row = {0};

    row.id = (char *)id;
    row.tenant_id = ta.id;
    row.role = "viewer";
    row.name = (char *)id;
    row.created_by = (char *)created_by;
    row.created_at = ch_now();
    /* (the hash of no token anyone holds: these rows are never authenticated with) */
    snprintf(row.token_hash, sizeof row.token_hash, "%064d", ++rows);
    assert_int_equal(ch_store_token_put(ch_svc_store(svc), &row), 0);
}

/* A token revoked with cascade takes the tokens it made, those they made, and so on, in its
 * tenant only; without it they keep working and are said to. */
static void test_tokens_revoked_with_their_maker(void **state)
{
    ch_svc_principal a_who, b_who, p_who, who;
    ch_actor a_all;
    ch_store_token *made = NULL;
    size_t n = 0;
    char *a = NULL, *b = NULL, *c = NULL, *e = NULL, *side = NULL, *p = NULL, *q = NULL, *detail;
    char a_id[CH_ID_MAX], b_id[CH_ID_MAX], c_id[CH_ID_MAX], e_id[CH_ID_MAX], side_id[CH_ID_MAX], p_id[CH_ID_MAX],
        q_id[CH_ID_MAX];

    (void)state;
    /* A makes B, B makes C; A, an installation admin's token here, makes E in beta. */
    assert_int_equal(ch_svc_token_create(svc, &admin_a, NULL, CH_ROLE_ADMIN, "leaked", &a, a_id), 0);
    assert_int_equal(ch_svc_authenticate(svc, a, &a_who), 0);
    assert_int_equal(ch_svc_token_create(svc, &a_who.actor, NULL, CH_ROLE_ADMIN, "minted", &b, b_id), 0);
    assert_int_equal(ch_svc_authenticate(svc, b, &b_who), 0);
    assert_int_equal(ch_svc_token_create(svc, &b_who.actor, NULL, CH_ROLE_VIEWER, "minted twice", &c, c_id), 0);
    a_all = a_who.actor;
    a_all.perms |= CH_PERM_TENANTS;
    assert_int_equal(ch_svc_token_create(svc, &a_all, tb.id, CH_ROLE_ADMIN, "in beta", &e, e_id), 0);
    assert_int_equal(ch_svc_token_create(svc, &admin_a, NULL, CH_ROLE_ADMIN, "bystander", &side, side_id), 0);

    /* Nobody else's, nor a viewer, revokes them. */
    assert_int_equal(ch_svc_token_revoke_cascade(svc, &admin_b, a_id, true, &made, &n), CH_ENOTFOUND);
    assert_int_equal(ch_svc_token_revoke_cascade(svc, &viewer_a, a_id, true, &made, &n), CH_EPERM);
    assert_int_equal(ch_svc_authenticate(svc, c, &who), 0);

    assert_int_equal(ch_svc_token_revoke_cascade(svc, &admin_a, a_id, true, &made, &n), 0);
    assert_int_equal(n, 2);
    /* (oldest first: made in the same second, B and C come in either order) */
    assert_true((strcmp(made[0].id, b_id) == 0 && strcmp(made[1].id, c_id) == 0) ||
                (strcmp(made[0].id, c_id) == 0 && strcmp(made[1].id, b_id) == 0));
    ch_store_token_list_free(made, n);
    assert_int_equal(ch_svc_authenticate(svc, a, &who), CH_EAUTH);
    assert_int_equal(ch_svc_authenticate(svc, b, &who), CH_EAUTH);
    assert_int_equal(ch_svc_authenticate(svc, c, &who), CH_EAUTH);
    assert_int_equal(ch_svc_authenticate(svc, e, &who), 0);
    assert_int_equal(ch_svc_authenticate(svc, side, &who), 0);
    detail = revoke_detail(&admin_a, a_id);
    assert_string_equal(detail, "{\"tokens_revoked\":2}");
    free(detail);
    detail = revoke_detail(&admin_a, c_id);
    assert_non_null(strstr(detail, "\"reason\":\"token_revoked\""));
    assert_non_null(strstr(detail, a_id));
    assert_non_null(strstr(detail, b_id)); /* its maker */
    free(detail);
    /* Asked again: A is revoked already, and nothing it made is left. */
    assert_int_equal(ch_svc_token_revoke_cascade(svc, &admin_a, a_id, true, &made, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(ch_svc_token_revoke(svc, &admin_a, a_id), CH_ENOTFOUND);

    /* Without cascade, P goes alone: Q, which it made, works and is said to. */
    assert_int_equal(ch_svc_token_create(svc, &admin_a, NULL, CH_ROLE_ADMIN, "rotated", &p, p_id), 0);
    assert_int_equal(ch_svc_authenticate(svc, p, &p_who), 0);
    assert_int_equal(ch_svc_token_create(svc, &p_who.actor, NULL, CH_ROLE_VIEWER, "ci job", &q, q_id), 0);
    assert_int_equal(ch_svc_token_revoke_cascade(svc, &admin_a, p_id, false, &made, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(made[0].id, q_id);
    ch_store_token_list_free(made, n);
    assert_int_equal(ch_svc_authenticate(svc, q, &who), 0);
    detail = revoke_detail(&admin_a, p_id);
    assert_string_equal(detail, "");
    free(detail);
    /* Found later, the revoked token's cascade still ends what it made. */
    assert_int_equal(ch_svc_token_revoke_cascade(svc, &admin_a, p_id, true, &made, &n), 0);
    assert_int_equal(n, 1);
    ch_store_token_list_free(made, n);
    assert_int_equal(ch_svc_authenticate(svc, q, &who), CH_EAUTH);

    /* A cycle in created_by (the API makes none) ends: each token once, the asked one not again. */
    token_row_put("tok_loop_one", "tok_loop_two");
    token_row_put("tok_loop_two", "tok_loop_one");
    token_row_put("tok_loop_three", "tok_loop_two");
    token_row_put("tok_loop_self", "tok_loop_self");
    assert_int_equal(ch_svc_token_revoke_cascade(svc, &admin_a, "tok_loop_one", true, &made, &n), 0);
    assert_int_equal(n, 2);
    ch_store_token_list_free(made, n);
    assert_int_equal(ch_svc_token_revoke_cascade(svc, &admin_a, "tok_loop_self", true, &made, &n), 0);
    assert_int_equal(n, 0);

    assert_int_equal(ch_svc_token_revoke(svc, &admin_b, e_id), 0);
    assert_int_equal(ch_svc_token_revoke(svc, &admin_a, side_id), 0);
    ch_secure_free_str(a);
    ch_secure_free_str(b);
    ch_secure_free_str(c);
    ch_secure_free_str(e);
    ch_secure_free_str(side);
    ch_secure_free_str(p);
    ch_secure_free_str(q);
}

/* A profile of short-lived certificates: default_ttl and max_ttl beside the days fields, one
 * form of each, held to each other in seconds; issuing takes the default and is held to the
 * maximum, whichever form the request gives. */
static void test_profile_ttls(void **state)
{
    static const struct {
        const char *def, *field, *message;
    } bad[] = {
        {"\"default_days\":1,\"default_ttl\":\"24h\"", "default_ttl", "give default_days or default_ttl, not both"},
        {"\"max_days\":7,\"max_ttl\":\"7d\"", "max_ttl", "give max_days or max_ttl, not both"},
        {"\"max_ttl\":168", "max_ttl", "max_ttl is a string, a whole number and a unit: \"24h\", \"7d\""},
        {"\"max_ttl\":\"1.5h\"", "max_ttl", NULL},
        {"\"default_ttl\":\"2m\"", "default_ttl", "default_ttl must be from 5m to 36600d, not 2m"},
        {"\"default_ttl\":\"48h\",\"max_ttl\":\"24h\"", "default_ttl",
         "default_ttl (48h) is more than max_ttl (24h)"},
        {"\"default_days\":2,\"max_ttl\":\"36h\"", "default_days", "default_days (2) is more than max_ttl (36h)"},
    };
    ch_store_ca root, inter;
    ch_store_cert c;
    ch_svc_profile p;
    ch_svc_issue_req req = {.profile = "short-lived", .key_type = "p256"};
    char def[256];

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(def, sizeof def, "{\"key_usage\":[\"digital_signature\"],%s}", bad[i].def);
        assert_int_equal(ch_svc_profile_put(svc, &operator_a, "short-lived", def, true, NULL), CH_EINVAL);
        assert_string_equal(ch_error_field(), bad[i].field);
        if (bad[i].message != NULL)
            assert_string_equal(ch_error_last(), bad[i].message);
    }
    /* A maximum alone is the default, in its form. */
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "short-lived",
                                        "{\"key_usage\":[\"digital_signature\"],\"max_ttl\":\"7d\"}", true, &p), 0);
    assert_int_equal(p.p.default_ttl, 7 * 86400);
    assert_int_equal(p.p.max_ttl, 7 * 86400);
    ch_svc_profile_dispose(&p);
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "short-lived",
                                        "{\"key_usage\":[\"digital_signature\"],\"default_ttl\":\"24h\","
                                        "\"max_ttl\":\"7d\"}", false, &p), 0);
    ch_svc_profile_dispose(&p);
    assert_int_equal(ch_svc_profile_get(svc, &viewer_a, "short-lived", &p), 0);
    assert_int_equal(p.p.default_ttl, 86400);
    assert_int_equal(p.p.max_ttl, 7 * 86400);
    ch_svc_profile_dispose(&p);
    make_cas(&root, &inter, "short-lived");
    req.ca_id = inter.id;
    req.subject.fields.common_name = "daily.example";
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &c), 0);
    assert_int_equal(c.not_after - c.not_before, 86400 + CH_ISSUE_BACKDATE);
    ch_store_cert_dispose(&c);
    req.ttl = 8 * 86400;
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &c), CH_EPOLICY);
    assert_string_equal(ch_error_field(), "ttl");
    assert_string_equal(ch_error_last(), "profile short-lived allows at most 7 days");
    req.ttl = 0;
    req.days = 8;
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &c), CH_EPOLICY);
    assert_string_equal(ch_error_field(), "days");
    req.days = 7;
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &c), 0);
    ch_store_cert_dispose(&c);
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&inter);
}

static void test_custom_profiles(void **state)
{
    ch_store_ca root, inter;
    ch_store_cert leaf;
    ch_svc_profile p, *list;
    ch_svc_issue_req req = {.profile = "mqtt-device", .key_type = "p256"};
    char leaf_id[CH_ID_MAX];
    ch_cert *c;
    ch_cert_info info;
    size_t n;

    (void)state;
    make_cas(&root, &inter, "profiles");
    req.ca_id = inter.id;
    req.subject.fields.common_name = "sensor-7";
    /* Unknown until created. */
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &leaf), CH_EINVAL);
    assert_string_equal(ch_error_field(), "profile");
    /* Bad definitions change nothing. */
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "mqtt-device", "{\"key_usage\":[\"digital_signature\"],"
                                        "\"colour\":1}", true, NULL), CH_EINVAL);
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "mqtt-device", "{\"key_usage\":[\"signing\"]}", true,
                                        NULL), CH_EINVAL);
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "mqtt-device", "{\"key_usage\":[\"key_cert_sign\"]}",
                                        true, NULL), CH_EPOLICY);
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "tls-server", "{\"key_usage\":[\"digital_signature\"]}",
                                        true, NULL), CH_ECONFLICT);
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "mqtt-device", "{\"key_usage\":", true, NULL), CH_EPARSE);
    /* A default above the maximum, given: refused with both named. */
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "short", "{\"key_usage\":[\"digital_signature\"],"
                                        "\"default_days\":120,\"max_days\":90}", true, NULL), CH_EINVAL);
    assert_string_equal(ch_error_last(), "default_days (120) is more than max_days (90)");
    /* Not given: the maximum is the default (as a Vault role's ttl is held to its max_ttl), not
     * a refusal of the 365 days nobody asked for; and a maximum lowered later likewise. */
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "short", "{\"key_usage\":[\"digital_signature\"],"
                                        "\"max_days\":90}", true, &p), 0);
    assert_int_equal(p.p.default_days, 90);
    ch_svc_profile_dispose(&p);
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "short", "{\"key_usage\":[\"digital_signature\"],"
                                        "\"max_days\":30}", false, &p), 0);
    assert_int_equal(p.p.default_days, 30);
    ch_svc_profile_dispose(&p);
    assert_int_equal(ch_svc_profile_get(svc, &viewer_a, "short", &p), 0);
    assert_int_equal(p.p.default_days, 30);
    ch_svc_profile_dispose(&p);
    assert_int_equal(ch_svc_profile_delete(svc, &operator_a, "short"), 0);
    assert_int_equal(ch_svc_profile_put(svc, &viewer_a, "mqtt-device", "{\"key_usage\":[\"digital_signature\"]}",
                                        true, NULL), CH_EPERM);
    assert_int_equal(ch_svc_profile_get(svc, &viewer_a, "mqtt-device", &p), CH_ENOTFOUND);
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "mqtt-device",
                                        "{\"description\":\"MQTT device\",\"key_usage\":[\"digitalSignature\"],"
                                        "\"ext_key_usage\":[\"client_auth\"],\"default_days\":90,"
                                        "\"max_days\":397}",
                                        true, &p), 0);
    assert_string_equal(p.p.name, "mqtt-device");
    assert_int_equal(p.p.default_days, 90);
    ch_svc_profile_dispose(&p);
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "mqtt-device", "{\"key_usage\":[\"digital_signature\"]}",
                                        true, NULL), CH_EEXISTS);
    /* Another tenant does not see it. */
    assert_int_equal(ch_svc_profile_get(svc, &admin_b, "mqtt-device", &p), CH_ENOTFOUND);
    /* Issuing follows it: client auth only, 90 days, and no more than max_days. */
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &leaf), 0);
    assert_string_equal(leaf.profile, "mqtt-device");
    snprintf(leaf_id, sizeof leaf_id, "%s", leaf.id);
    assert_true(leaf.not_after - leaf.not_before >= 90 * 86400 - 3600 &&
                leaf.not_after - leaf.not_before <= 90 * 86400 + 3600);
    c = parse_row(&leaf);
    assert_int_equal(ch_cert_inspect(&info, c), 0);
    assert_int_equal(info.key_usage, CH_KU_DIGITAL_SIGNATURE);
    assert_int_equal(info.ext_key_usage, CH_EKU_CLIENT_AUTH);
    ch_cert_info_dispose(&info);
    ch_cert_free(c);
    ch_store_cert_dispose(&leaf);
    req.days = 400;
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &leaf), CH_EPOLICY);
    req.days = 0;
    /* Update, list, delete. */
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "mqtt-device",
                                        "{\"key_usage\":[\"digital_signature\"],\"default_days\":30}", false, NULL),
                     0);
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "nope", "{\"key_usage\":[\"digital_signature\"]}", false,
                                        NULL), CH_ENOTFOUND);
    assert_int_equal(ch_svc_profile_list(svc, &viewer_a, &list, &n), 0);
    assert_true(n >= 8);
    assert_true(list[n - 1].custom);
    assert_string_equal(list[n - 1].p.name, "mqtt-device");
    assert_int_equal(list[n - 1].p.default_days, 30);
    assert_false(list[0].custom);
    ch_svc_profile_list_free(list, n);
    assert_int_equal(ch_svc_profile_delete(svc, &operator_a, "tls-server"), CH_EPOLICY);
    /* Not while a certificate issued from it is unexpired (its renewal issues from it). */
    assert_int_equal(ch_svc_profile_delete(svc, &operator_a, "mqtt-device"), CH_ECONFLICT);
    assert_non_null(strstr(ch_error_last(), "issued 1 unexpired certificate,"));
    {
        /* In the write transaction, only those made since the count before it are counted
         * again (a certificate issued between the two). */
        int64_t users = -1;
        assert_int_equal(ch_store_profile_users(ch_svc_store(svc), admin_a.tenant_id, "mqtt-device", ch_now(),
                                                ch_now() - 60, &users), 0);
        assert_int_equal(users, 1);
        assert_int_equal(ch_store_profile_users(ch_svc_store(svc), admin_a.tenant_id, "mqtt-device", ch_now(),
                                                ch_now() + 60, &users), 0);
        assert_int_equal(users, 0);
    }
    assert_int_equal(ch_svc_cert_delete(svc, &operator_a, leaf_id, NULL), 0);
    assert_int_equal(ch_svc_profile_delete(svc, &operator_a, "mqtt-device"), 0);
    assert_int_equal(ch_svc_profile_delete(svc, &operator_a, "mqtt-device"), CH_ENOTFOUND);
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&inter);
}

/* Each tenant's audit entries are numbered 1, 2, 3 ... in its own log: a number counting
 * every tenant's entries told a tenant how much the others did. */
static void expect_numbered(const ch_actor *a, int64_t *last)
{
    ch_store_audit_filter f = {0};
    ch_store_audit *rows;
    size_t n;
    int64_t want = 1, next = 0;

    do {
        f.from_seq = next;
        assert_int_equal(ch_svc_audit_list(svc, a, &f, 7, &rows, &n, &next), 0);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(rows[i].seq, want);
            assert_string_equal(rows[i].tenant_id, a->tenant_id);
            want++;
        }
        ch_store_audit_list_free(rows, n);
    } while (next != 0);
    *last = want - 1;
}

/* The one number a SELECT count(*) gives, read straight from the store's file. */
static int64_t sql_count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t n;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void test_audit_numbered_per_tenant(void **state)
{
    ch_svc_opts o = {.data_dir = dir};
    ch_svc_ca_req r = {.name = "beta root", .path_len = -2};
    ch_store_ca ca;
    int64_t last_a, last_b, again_a, again_b, bad = -1, with_sans = 0, refilled = -1;
    sqlite3 *db;
    char path[1200];

    (void)state;
    expect_numbered(&admin_a, &last_a);
    expect_numbered(&admin_b, &last_b);
    assert_true(last_a > 10);
    assert_true(last_b >= 1);
    /* A store from before the numbering (schema 17, the global row id as the only number) is
     * numbered per tenant when it is opened, in the order the entries were written. */
    ch_svc_close(svc);
    svc = NULL;
    snprintf(path, sizeof path, "%s/certhub.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000); /* (the service may hold the write lock a moment) */
    with_sans = sql_count(db, "SELECT count(*) FROM certificates WHERE sans IS NOT NULL");
    assert_true(with_sans > 0);
    /* (and from before the SANs were recorded: the column empty, read again from the DER) */
    assert_int_equal(sqlite3_exec(db,
                                  "DROP INDEX audit_tenant; ALTER TABLE audit_log DROP COLUMN n;"
                                  "CREATE INDEX audit_tenant ON audit_log(tenant_id, seq);"
                                  "ALTER TABLE trusted_certs DROP COLUMN list_kind; DROP TABLE sans_backfill;"
                                  "UPDATE certificates SET sans = NULL; ALTER TABLE keystores DROP COLUMN next_position;"
                                  "ALTER TABLE api_tokens DROP COLUMN expires_at;"
                                  "ALTER TABLE certificates DROP COLUMN lifetime;"
                                  "ALTER TABLE api_tokens DROP COLUMN alerted_at; DROP TABLE token_alert_deliveries;"
                                  "DROP INDEX csrs_waiting_key; ALTER TABLE csrs DROP COLUMN spki_sha256;"
                                  "DROP INDEX api_tokens_created_by; DROP INDEX api_tokens_owner;"
                                  "ALTER TABLE api_tokens DROP COLUMN created_by;"
                                  "ALTER TABLE api_tokens DROP COLUMN owner_user_id;"
                                  "DROP INDEX keystore_entries_cert; DROP TABLE keystore_renewal_backfill;"
                                  "DROP TABLE setup_steps; DROP INDEX trusted_certs_disabled;"
                                  "DROP INDEX devices_client; ALTER TABLE devices DROP COLUMN client_id;"
                                  "ALTER TABLE certificates DROP COLUMN renew_before; DROP TABLE token_certificates;"
                                  "PRAGMA user_version=17",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(ch_svc_open(&svc, &o), 0);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000); /* (the service may hold the write lock a moment) */
    refilled = sql_count(db, "SELECT count(*) FROM certificates WHERE sans IS NOT NULL");
    assert_int_equal(sql_count(db, "SELECT count(*) FROM sans_backfill"), 0);
    sqlite3_close(db);
    assert_int_equal(refilled, with_sans);
    expect_numbered(&admin_a, &again_a);
    expect_numbered(&admin_b, &again_b);
    assert_int_equal(again_a, last_a);
    assert_int_equal(again_b, last_b);
    assert_int_equal(ch_svc_audit_verify(svc, &admin_b, &bad), 0);
    /* The next entry goes on from there, and the chain over the renumbered rows holds. */
    r.subject.dn = "CN=Beta Root";
    assert_int_equal(ch_svc_ca_create(svc, &admin_b, &r, &ca), 0);
    ch_store_ca_dispose(&ca);
    expect_numbered(&admin_b, &again_b);
    assert_int_equal(again_b, last_b + 1);
    expect_numbered(&admin_a, &again_a);
    assert_int_equal(again_a, last_a);
    assert_int_equal(ch_svc_audit_verify(svc, &admin_b, &bad), 0);
}

/* The ways an expiry is asked, and each refusal naming its field. */
static void expect_expiry(const char *in, const char *at, int64_t want_from_now)
{
    int64_t out = -1, now = ch_now();

    assert_int_equal(ch_svc_token_expiry(&out, in, at), 0);
    if (want_from_now == 0)
        assert_int_equal(out, 0);
    else
        assert_true(out >= now + want_from_now && out <= now + want_from_now + 2);
}

static void expect_expiry_refused(const char *in, const char *at, const char *field)
{
    int64_t out = -1;

    assert_int_equal(ch_svc_token_expiry(&out, in, at), CH_EINVAL);
    assert_string_equal(ch_error_field(), field);
    assert_int_equal(out, 0);
}

/* A tenant's max_token_days: set, each token made for it has an expiry within it (none, or one
 * past it, refused naming the field and the setting, nothing made); other tenants and a bound
 * taken away are as before; bad values of it refused. */
static void test_token_max_days(void **state)
{
    ch_svc_settings st;
    char *token = NULL, id[CH_ID_MAX];
    const char *bad[] = {"0", "3651", "\"30\"", "1.5", "true", "-1"};
    char patch[64];

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(patch, sizeof patch, "{\"max_token_days\":%s}", bad[i]);
        assert_int_equal(ch_svc_settings_update(svc, &admin_b, patch, NULL), CH_EINVAL);
        assert_string_equal(ch_error_field(), "max_token_days");
    }
    assert_int_equal(ch_svc_settings_get(svc, &admin_b, &st), 0);
    assert_int_equal(st.max_token_days, 0);
    assert_int_equal(ch_svc_settings_update(svc, &admin_b, "{\"max_token_days\":30}", &st), 0);
    assert_int_equal(st.max_token_days, 30);

    assert_int_equal(ch_svc_token_create_scoped(svc, &admin_b, NULL, CH_ROLE_VIEWER, "forever", NULL, 0, &token, id),
                     CH_EINVAL);
    assert_string_equal(ch_error_field(), "expires_in");
    assert_non_null(strstr(ch_error_last(), "max_token_days is 30"));
    assert_null(token);
    assert_int_equal(ch_svc_token_create_scoped(svc, &admin_b, NULL, CH_ROLE_VIEWER, "31 days", NULL,
                                                ch_now() + 31 * 86400, &token, id), CH_EINVAL);
    assert_string_equal(ch_error_field(), "expires_at");
    assert_non_null(strstr(ch_error_last(), "max_token_days is 30: a token expires within 30 days"));
    assert_null(token);
    assert_int_equal(ch_svc_token_create_scoped(svc, &admin_b, NULL, CH_ROLE_VIEWER, "30 days", NULL,
                                                ch_now() + 30 * 86400 - 5, &token, id), 0);
    ch_secure_free_str(token);
    token = NULL;
    /* Another tenant's bound is not this one's. */
    assert_int_equal(ch_svc_token_create_scoped(svc, &admin_a, NULL, CH_ROLE_VIEWER, "a's", NULL, 0, &token, id), 0);
    ch_secure_free_str(token);
    token = NULL;
    /* Taken away: tokens that never expire again. */
    assert_int_equal(ch_svc_settings_update(svc, &admin_b, "{\"max_token_days\":null}", &st), 0);
    assert_int_equal(st.max_token_days, 0);
    assert_int_equal(ch_svc_token_create_scoped(svc, &admin_b, NULL, CH_ROLE_VIEWER, "forever", NULL, 0, &token, id),
                     0);
    ch_secure_free_str(token);
}

/* What a token near its end has: its principal says when (GET /session and the header read it);
 * token_alert_days checked (bad values refused, nothing changed), 7 by default, null for none;
 * and a token that ended more than CH_TOKEN_PURGE_DAYS ago removed, one that ended since kept,
 * one that never ends kept, each removal audited. */
static void test_token_end(void **state)
{
    ch_svc_settings st;
    ch_svc_principal who;
    ch_store_token *toks = NULL;
    ch_store_audit *rows = NULL;
    ch_store_audit_filter af = {.action = "token.purge"};
    size_t n = 0;
    char *token = NULL, old_id[CH_ID_MAX], recent_id[CH_ID_MAX], id[CH_ID_MAX], patch[64];
    const char *bad[] = {"0", "3651", "\"7\"", "1.5", "false", "[7]"};
    int64_t at = ch_now() + 10 * 86400;
    bool old_seen = false, recent_seen = false;

    (void)state;
    assert_int_equal(ch_svc_settings_get(svc, &admin_b, &st), 0);
    assert_int_equal(st.token_alert_days, CH_TOKEN_WARN_DAYS);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(patch, sizeof patch, "{\"token_alert_days\":%s}", bad[i]);
        assert_int_equal(ch_svc_settings_update(svc, &admin_b, patch, NULL), CH_EINVAL);
        assert_string_equal(ch_error_field(), "token_alert_days");
    }
    assert_int_equal(ch_svc_settings_get(svc, &admin_b, &st), 0);
    assert_int_equal(st.token_alert_days, CH_TOKEN_WARN_DAYS);
    assert_int_equal(ch_svc_settings_update(svc, &admin_b, "{\"token_alert_days\":null}", &st), 0);
    assert_int_equal(st.token_alert_days, 0);
    assert_int_equal(ch_svc_settings_update(svc, &admin_b, "{\"token_alert_days\":3}", &st), 0);
    assert_int_equal(st.token_alert_days, 3);

    /* The principal carries the token's end, and 0 for one that never ends. */
    assert_int_equal(ch_svc_token_create_scoped(svc, &admin_b, NULL, CH_ROLE_VIEWER, "ten days", NULL, at, &token, id), 0);
    assert_int_equal(ch_svc_authenticate(svc, token, &who), 0);
    assert_int_equal(who.expires_at, at);
    assert_int_equal(ch_svc_authenticate(svc, token, &who), 0); /* (cached) */
    assert_int_equal(who.expires_at, at);
    ch_secure_free_str(token);
    assert_int_equal(ch_svc_token_create(svc, &admin_b, NULL, CH_ROLE_VIEWER, "forever", &token, id), 0);
    assert_int_equal(ch_svc_authenticate(svc, token, &who), 0);
    assert_int_equal(who.expires_at, 0);
    ch_secure_free_str(token);

    /* Revoked 91 days ago and 89 days ago (as the store records a revocation). */
    assert_int_equal(ch_svc_token_create(svc, &admin_b, NULL, CH_ROLE_VIEWER, "old", &token, old_id), 0);
    ch_secure_free_str(token);
    assert_int_equal(ch_store_token_revoke(ch_svc_store(svc), tb.id, old_id, ch_now() - 91 * 86400), 0);
    assert_int_equal(ch_svc_token_create(svc, &admin_b, NULL, CH_ROLE_VIEWER, "recent", &token, recent_id), 0);
    ch_secure_free_str(token);
    assert_int_equal(ch_store_token_revoke(ch_svc_store(svc), tb.id, recent_id, ch_now() - 89 * 86400), 0);
    assert_true(ch_svc_token_purge_due(svc) >= 1);
    assert_int_equal(ch_svc_token_list(svc, &admin_b, NULL, NULL, &toks, &n), 0);
    for (size_t i = 0; i < n; i++) {
        old_seen |= strcmp(toks[i].id, old_id) == 0;
        recent_seen |= strcmp(toks[i].id, recent_id) == 0;
        assert_true(toks[i].revoked_at == 0 || toks[i].revoked_at > ch_now() - 90 * 86400);
    }
    ch_store_token_list_free(toks, n);
    assert_false(old_seen);
    assert_true(recent_seen);
    assert_int_equal(ch_svc_token_purge_due(svc), 0); /* nothing more to remove */
    af.object_id = old_id;
    int64_t next = 0;
    assert_int_equal(ch_store_audit_query(ch_svc_store(svc), tb.id, &af, 10, &rows, &n, &next), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].actor, "system:purge");
    ch_store_audit_list_free(rows, n);
}

/* Tokens that expire: made with an expiry within the bounds, let in until it, refused from it
 * on with a message saying when (also where the principal was just cached), listed with it;
 * tokens of a store from before never expire. */
static void test_token_expiry(void **state)
{
    ch_svc_opts o = {.data_dir = dir};
    ch_svc_principal who;
    ch_store_token *toks;
    size_t n;
    char *token = NULL, *old = NULL, id[CH_ID_MAX], old_id[CH_ID_MAX], path[1100], far[32];
    int64_t at, start;
    sqlite3 *db;

    (void)state;
    expect_expiry(NULL, NULL, 0);
    expect_expiry("30d", NULL, 30 * 86400);
    expect_expiry("12h", NULL, 12 * 3600);
    expect_expiry("0001h", NULL, 3600);
    expect_expiry("3650d", NULL, 3650LL * 86400);
    expect_expiry("87600h", NULL, 87600LL * 3600);
    /* A certificate's ttl's form: minutes and seconds too, from the token's hour on. */
    expect_expiry("90m", NULL, 90 * 60);
    expect_expiry("60m", NULL, 3600);
    expect_expiry("3600s", NULL, 3600);
    ch_time_format(far, sizeof far, ch_now() + 86400);
    expect_expiry(NULL, far, 86400);
    const char *bad_form[] = {"", "-1d", "+1d", "1.5d", "30", "d", "30 d", " 30d", "30d ", "30D", "1dd", "1w"};
    for (size_t i = 0; i < sizeof bad_form / sizeof bad_form[0]; i++)
        expect_expiry_refused(bad_form[i], NULL, "expires_in");
    assert_string_equal(ch_error_last(), "expires_in must be a whole number and a unit (s, m, h or d), or several "
                                         "from the largest, such as 30m, 72h, 90d or 1d12h, not \"1w\"");
    /* Out of a token's bounds, which are not a certificate's (5m to 36600d), and said. */
    const char *bad_range[] = {"0d", "0h", "59m", "3599s", "30m", "3651d", "87601h", "5256001m", "36600d",
                               "99999999999999999999999d"};
    for (size_t i = 0; i < sizeof bad_range / sizeof bad_range[0]; i++) {
        expect_expiry_refused(bad_range[i], NULL, "expires_in");
        assert_non_null(strstr(ch_error_last(), "expires_in must be from 1h to 3650d, not "));
    }
    expect_expiry_refused(NULL, "tomorrow", "expires_at");
    assert_non_null(strstr(ch_error_last(), "not an RFC 3339 time"));
    expect_expiry_refused(NULL, "2020-01-01T00:00:00Z", "expires_at");
    assert_non_null(strstr(ch_error_last(), "not in the future"));
    /* The epoch is a time like any other, not the "never" that 0 stands for inside. */
    expect_expiry_refused(NULL, "1970-01-01T00:00:00Z", "expires_at");
    ch_time_format(far, sizeof far, ch_now() + 3651LL * 86400);
    expect_expiry_refused(NULL, far, "expires_at");
    assert_non_null(strstr(ch_error_last(), "more than 3650 days ahead"));
    expect_expiry_refused("30d", far, "expires_at");

    /* The service holds the same bounds whoever calls it; nothing is made when refused. */
    assert_int_equal(ch_svc_token_create_scoped(svc, &admin_a, NULL, CH_ROLE_VIEWER, "past", NULL, ch_now() - 1,
                                                &token, id), CH_EINVAL);
    assert_null(token);
    assert_int_equal(ch_svc_token_create_scoped(svc, &admin_a, NULL, CH_ROLE_VIEWER, "far", NULL,
                                                ch_now() + 3651LL * 86400, &token, id), CH_EINVAL);
    assert_null(token);

    /* A token that never expires, made before the column was there. */
    assert_int_equal(ch_svc_token_create(svc, &admin_a, NULL, CH_ROLE_VIEWER, "from before", &old, old_id), 0);
    ch_svc_close(svc);
    svc = NULL;
    snprintf(path, sizeof path, "%s/certhub.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000); /* (the service may hold the write lock a moment) */
    assert_int_equal(sqlite3_exec(db,
                                  "ALTER TABLE api_tokens DROP COLUMN expires_at;"
                                  "ALTER TABLE certificates DROP COLUMN lifetime;"
                                  "ALTER TABLE api_tokens DROP COLUMN alerted_at; DROP TABLE token_alert_deliveries;"
                                  "DROP INDEX csrs_waiting_key; ALTER TABLE csrs DROP COLUMN spki_sha256;"
                                  "DROP INDEX api_tokens_created_by; DROP INDEX api_tokens_owner;"
                                  "ALTER TABLE api_tokens DROP COLUMN created_by;"
                                  "ALTER TABLE api_tokens DROP COLUMN owner_user_id;"
                                  "DROP INDEX keystore_entries_cert; DROP TABLE keystore_renewal_backfill;"
                                  "DROP TABLE setup_steps; DROP INDEX trusted_certs_disabled;"
                                  "DROP INDEX devices_client; ALTER TABLE devices DROP COLUMN client_id;"
                                  "ALTER TABLE certificates DROP COLUMN renew_before; DROP TABLE token_certificates;"
                                  "PRAGMA user_version=21",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(ch_svc_open(&svc, &o), 0);
    assert_int_equal(ch_svc_authenticate(svc, old, &who), 0);

    /* One that expires a little after a second has begun: let in, cached, and refused as soon
     * as the clock reaches its expiry, less than the cache's second after it was let in.  (Made
     * again when a loaded machine took the 700 ms left to make it and let it in: it is refused
     * then, as expired, which is not what is checked here.) */
    for (int tries = 0;; tries++) {
        for (start = ch_now(); ch_now() == start;)
            usleep(1000);
        usleep(300000);
        at = ch_now() + 1;
        assert_int_equal(ch_svc_token_create_scoped(svc, &admin_a, NULL, CH_ROLE_OPERATOR, "short",
                                                    NULL, at, &token, id),
                         0);
        if (ch_svc_authenticate(svc, token, &who) == 0)
            break;
        assert_true(ch_now() >= at && tries < 5);
        assert_string_equal(ch_error_reason(), "token_expired");
        ch_secure_free_str(token);
        token = NULL;
    }
    assert_int_equal(who.actor.role, CH_ROLE_OPERATOR);
    while (ch_now() < at)
        usleep(1000);
    assert_int_equal(ch_svc_authenticate(svc, token, &who), CH_EAUTH);
    ch_time_format(far, sizeof far, at);
    assert_non_null(strstr(ch_error_last(), "expired at"));
    assert_non_null(strstr(ch_error_last(), far));
    assert_non_null(strstr(ch_error_last(), id));
    assert_string_equal(ch_error_reason(), "token_expired");
    assert_int_equal(ch_svc_authenticate(svc, token, &who), CH_EAUTH);
    assert_string_equal(ch_error_reason(), "token_expired");
    /* Unknown and revoked tokens are told apart from it. */
    assert_int_equal(ch_svc_authenticate(svc, "cht_0000000000000000000000000000000000000000000000000000000000000000",
                                         &who), CH_EAUTH);
    assert_null(ch_error_reason());

    /* Its audit entry says until when it was made. */
    {
        ch_store_audit_filter f = {.action = "token.create", .object_id = id};
        ch_store_audit *rows;
        size_t nrows;
        int64_t next;
        char want[128];
        assert_int_equal(ch_svc_audit_list(svc, &admin_a, &f, 10, &rows, &nrows, &next), 0);
        assert_int_equal(nrows, 1);
        /* (its role and tenant too) */
        snprintf(want, sizeof want, "{\"role\":\"operator\",\"tenant\":\"alpha\",\"expires_at\":\"%s\"}", far);
        assert_string_equal(rows[0].detail, want);
        ch_store_audit_list_free(rows, nrows);
    }
    /* Listed with their expiry (0: never). */
    assert_int_equal(ch_svc_token_list(svc, &admin_a, NULL, NULL, &toks, &n), 0);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(toks[i].id, id) == 0)
            assert_int_equal(toks[i].expires_at, at);
        if (strcmp(toks[i].id, old_id) == 0)
            assert_int_equal(toks[i].expires_at, 0);
    }
    ch_store_token_list_free(toks, n);

    /* Revoked as well as expired: the revocation is what is said. */
    assert_int_equal(ch_svc_token_revoke(svc, &admin_a, id), 0);
    assert_int_equal(ch_svc_authenticate(svc, token, &who), CH_EAUTH);
    assert_string_equal(ch_error_last(), "the API token was revoked");
    assert_int_equal(ch_svc_authenticate(svc, old, &who), 0);
    ch_secure_free_str(token);
    ch_secure_free_str(old);
}

/* A custom profile's name policy: what it allows, and each refusal (a SAN, the common name, a
 * CSR's own SANs, a renewal under a policy changed since) a CH_EPOLICY that stores nothing. */
static void expect_refused(const ch_svc_issue_req *req, const char *field, const char *name)
{
    ch_store_cert leaf;
    int64_t certs = count_certs(&operator_a), audit, after;

    expect_numbered(&admin_a, &audit);
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, req, &leaf), CH_EPOLICY);
    assert_string_equal(ch_error_field(), field);
    if (strstr(ch_error_last(), name) == NULL)
        fail_msg("\"%s\" does not name %s", ch_error_last(), name);
    assert_int_equal(count_certs(&operator_a), certs);
    expect_numbered(&admin_a, &after);
    assert_int_equal(after, audit);
}

static void test_profile_name_policy(void **state)
{
    ch_store_ca root, inter;
    ch_store_cert leaf, renewed;
    ch_svc_profile p;
    const char *sans[4] = {NULL};
    ch_svc_issue_req req = {.profile = "web", .key_type = "p256", .sans = sans};
    ch_key *key;
    ch_csr *csr;
    X509_NAME *subject;
    ch_san csr_sans[2];
    ch_buf pem = CH_BUF_INIT;
    char id[CH_ID_MAX];

    (void)state;
    make_cas(&root, &inter, "policy");
    req.ca_id = inter.id;
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "web",
                                        "{\"key_usage\":[\"digital_signature\"],\"ext_key_usage\":[\"server_auth\"],"
                                        "\"allowed_domains\":[\"Example.com.\",\"*.corp.example\"],"
                                        "\"allow_subdomains\":true}",
                                        true, &p), 0);
    assert_non_null(p.p.policy);
    assert_int_equal(p.p.policy->ndomains, 2);
    assert_string_equal(p.p.policy->domains[0], "example.com");
    assert_false(p.p.policy->allow_ip);
    ch_svc_profile_dispose(&p);
    /* Built-in profiles and custom ones without the fields have none. */
    assert_int_equal(ch_svc_profile_get(svc, &viewer_a, "tls-server", &p), 0);
    assert_null(p.p.policy);
    ch_svc_profile_dispose(&p);
    /* Bad policies are refused, naming the field. */
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "bad", "{\"key_usage\":[\"digital_signature\"],"
                                        "\"allowed_domains\":[\"b\xc3\xbc" "cher.example\"]}", true, NULL), CH_EINVAL);
    assert_string_equal(ch_error_field(), "allowed_domains");
    assert_non_null(strstr(ch_error_last(), "xn--"));
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "bad", "{\"key_usage\":[\"digital_signature\"],"
                                        "\"allowed_domains\":[\"a.*.example\"]}", true, NULL), CH_EINVAL);
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "bad", "{\"key_usage\":[\"digital_signature\"],"
                                        "\"allowed_domains\":[1]}", true, NULL), CH_EINVAL);
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "bad", "{\"key_usage\":[\"digital_signature\"],"
                                        "\"allow_wildcards\":true}", true, NULL), CH_EINVAL);
    assert_string_equal(ch_error_field(), "allow_wildcards");
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "bad", "{\"key_usage\":[\"digital_signature\"],"
                                        "\"allowed_domains\":[],\"allow_ip_sans\":\"yes\"}", true, NULL), CH_EINVAL);
    assert_int_equal(ch_svc_profile_get(svc, &viewer_a, "bad", &p), CH_ENOTFOUND);

    /* Allowed: the domain in any case, names below it, one label below the glob. */
    sans[0] = "dns:EXAMPLE.com";
    sans[1] = "dns:a.b.example.com";
    sans[2] = "dns:db.corp.example";
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &leaf), 0);
    ch_store_cert_dispose(&leaf);
    /* Refused SANs. */
    sans[2] = "dns:example.com.evil.net";
    expect_refused(&req, "sans", "dns:example.com.evil.net");
    assert_non_null(strstr(ch_error_last(), "it allows example.com, *.corp.example and the names below them"));
    sans[2] = "dns:a.db.corp.example";
    expect_refused(&req, "sans", "dns:a.db.corp.example");
    sans[2] = "dns:*.example.com";
    expect_refused(&req, "sans", "allow_wildcards is false");
    sans[2] = "ip:192.0.2.1";
    expect_refused(&req, "sans", "ip:192.0.2.1");
    sans[2] = "email:ops@example.net";
    expect_refused(&req, "sans", "email:ops@example.net");
    sans[2] = "email:ops@mail.example.com";
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &leaf), 0);
    ch_store_cert_dispose(&leaf);
    /* The common name: checked when a client could take it for a host name. */
    sans[2] = NULL;
    req.subject.fields.common_name = "www.evil.net";
    expect_refused(&req, "subject", "the common name www.evil.net");
    req.subject.fields.common_name = "10.0.0.1";
    expect_refused(&req, "subject", "10.0.0.1");
    req.subject.fields.common_name = "Web Frontend";
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &leaf), 0);
    ch_store_cert_dispose(&leaf);
    /* A common name alone, made the certificate's DNS name, is refused as the common name. */
    sans[0] = NULL;
    req.subject.fields.common_name = "intranet";
    expect_refused(&req, "subject", "the common name intranet");
    req.subject.fields.common_name = NULL;

    /* A CSR's own SANs, and a trailing dot in one (read as the name without it). */
    assert_int_equal(ch_key_generate(&key, CH_KEY_P256), 0);
    assert_int_equal(ch_name_parse(&subject, "CN=app.example.com"), 0);
    csr_sans[0] = (ch_san){CH_SAN_DNS, "app.example.com."};
    csr_sans[1] = (ch_san){CH_SAN_DNS, "api.attacker.net"};
    assert_int_equal(ch_csr_create(&csr, key, &(ch_csr_opts){.subject = subject, .sans = csr_sans, .san_count = 2}),
                     0);
    assert_int_equal(ch_csr_write_pem(&pem, csr), 0);
    ch_csr_free(csr);
    req.key_type = NULL;
    req.sans = NULL;
    req.csr = pem.data;
    req.csr_len = pem.len;
    expect_refused(&req, "sans", "the CSR's dns:api.attacker.net");
    ch_buf_dispose(&pem);
    assert_int_equal(ch_csr_create(&csr, key, &(ch_csr_opts){.subject = subject, .sans = csr_sans, .san_count = 1}),
                     0);
    assert_int_equal(ch_csr_write_pem(&pem, csr), 0);
    ch_csr_free(csr);
    req.csr = pem.data;
    req.csr_len = pem.len;
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &leaf), 0);
    ch_store_cert_dispose(&leaf);
    ch_buf_dispose(&pem);
    X509_NAME_free(subject);
    ch_key_free(key);
    req.csr = NULL;
    req.csr_len = 0;
    req.key_type = "p256";
    req.sans = sans;

    /* Wildcards, once allowed: when every name one stands for is. */
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "web",
                                        "{\"key_usage\":[\"digital_signature\"],\"ext_key_usage\":[\"server_auth\"],"
                                        "\"allowed_domains\":[\"example.com\",\"*.corp.example\"],"
                                        "\"allow_wildcards\":true}",
                                        false, NULL), 0);
    sans[0] = "dns:*.corp.example";
    sans[1] = NULL;
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &leaf), 0);
    ch_store_cert_dispose(&leaf);
    sans[0] = "dns:*.example.com"; /* example.com without allow_subdomains: not the names below it */
    expect_refused(&req, "sans", "dns:*.example.com");

    /* A renewal is held to the profile as it is now (as Vault's): renewed while its names
     * pass, refused, and the certificate left unrenewed, once they no longer do. */
    sans[0] = "dns:example.com";
    req.auto_renew = true;
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &leaf), 0);
    assert_int_equal(ch_svc_cert_renew(svc, &operator_a, leaf.id, false, &renewed), 0);
    snprintf(id, sizeof id, "%s", renewed.id);
    ch_store_cert_dispose(&leaf);
    ch_store_cert_dispose(&renewed);
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "web",
                                        "{\"key_usage\":[\"digital_signature\"],\"ext_key_usage\":[\"server_auth\"],"
                                        "\"allowed_domains\":[\"example.org\"]}",
                                        false, NULL), 0);
    {
        int64_t certs = count_certs(&operator_a);
        assert_int_equal(ch_svc_cert_renew(svc, &operator_a, id, false, &renewed), CH_EPOLICY);
        assert_string_equal(ch_error_field(), "sans");
        assert_non_null(strstr(ch_error_last(), "dns:example.com: it allows example.org"));
        assert_int_equal(count_certs(&operator_a), certs);
    }
    assert_int_equal(ch_svc_cert_get(svc, &viewer_a, id, &leaf), 0);
    assert_null(leaf.renewed_by);
    assert_true(leaf.auto_renew);
    ch_store_cert_dispose(&leaf);
    /* Due, the automatic renewal is refused the same way, and stops there (trying again
     * cannot help until a person widens the policy): said once, not retried hourly. */
    assert_int_equal(ch_store_cert_set_auto_renew(ch_svc_store(svc), operator_a.tenant_id, id, true, 1), 0);
    assert_int_equal(ch_svc_renew_due(svc, 100), 1);
    assert_int_equal(ch_svc_cert_get(svc, &viewer_a, id, &leaf), 0);
    assert_null(leaf.renewed_by);
    assert_false(leaf.auto_renew);
    assert_non_null(leaf.renew_error);
    assert_non_null(strstr(leaf.renew_error, "automatic renewal stopped"));
    ch_store_cert_dispose(&leaf);
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&inter);
}

/* A certificate due whose CA was deleted, among several CAs of the tenant that sign and no
 * default: its automatic renewal says what a person does (the request's words named an
 * option, --ca-id, of nothing anyone ran). */
static void test_renewal_ca_gone(void **state)
{
    ch_store_ca root, inter;
    ch_store_cert leaf;
    ch_svc_issue_req req = {.profile = "tls-server", .key_type = "p256"};
    char id[CH_ID_MAX];

    (void)state;
    make_cas(&root, &inter, "gone");
    req.ca_id = inter.id;
    req.subject.fields.common_name = "orphan.example";
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &leaf), 0);
    snprintf(id, sizeof id, "%s", leaf.id);
    ch_store_cert_dispose(&leaf);
    assert_int_equal(ch_svc_ca_delete(svc, &admin_a, inter.id, true), 0);
    assert_int_equal(ch_store_cert_set_auto_renew(ch_svc_store(svc), operator_a.tenant_id, id, true, 1), 0);
    assert_true(ch_svc_renew_due(svc, 100) >= 1);
    assert_int_equal(ch_svc_cert_get(svc, &viewer_a, id, &leaf), 0);
    assert_null(leaf.renewed_by);
    assert_non_null(leaf.renew_error);
    assert_non_null(strstr(leaf.renew_error, "the CA that issued it is gone, and several CAs of the tenant sign ("));
    assert_non_null(strstr(leaf.renew_error, "certhub settings set --default-ca ID"));
    assert_null(strstr(leaf.renew_error, "(--ca-id) is required"));
    ch_store_cert_dispose(&leaf);
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&inter);
}

/* A CSR of a new key of type t, as PEM in pem. */
static void csr_of_type(ch_buf *pem, ch_key_type t)
{
    ch_key *key;
    ch_csr *csr;
    X509_NAME *subject;

    assert_int_equal(ch_key_generate(&key, t), 0);
    assert_int_equal(ch_name_parse(&subject, "CN=app.example.com"), 0);
    assert_int_equal(ch_csr_create(&csr, key, &(ch_csr_opts){.subject = subject}), 0);
    assert_int_equal(ch_csr_write_pem(pem, csr), 0);
    ch_csr_free(csr);
    X509_NAME_free(subject);
    ch_key_free(key);
}

/* A custom profile's key types: held to by a key made here, a CSR (uploaded or made here), a
 * public key given and a renewal; each refusal a CH_EPOLICY naming the key's type and the
 * allowed ones, storing and auditing nothing. */
static void test_profile_key_types(void **state)
{
    ch_store_ca root, inter;
    ch_store_cert leaf, renewed;
    ch_store_csr made;
    ch_svc_profile p;
    ch_svc_issue_req req = {.profile = "keyed", .key_type = "p256", .subject.fields.common_name = "app.example.com"};
    ch_key *key;
    ch_buf pem = CH_BUF_INIT;
    char id[CH_ID_MAX];

    (void)state;
    make_cas(&root, &inter, "keytypes");
    req.ca_id = inter.id;
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "keyed",
                                        "{\"key_usage\":[\"digital_signature\"],\"key_types\":[\"P-256\",\"ed25519\"]}",
                                        true, &p), 0);
    assert_int_equal(p.p.key_types, CH_KEY_TYPE_BIT(CH_KEY_P256) | CH_KEY_TYPE_BIT(CH_KEY_ED25519));
    ch_svc_profile_dispose(&p);
    /* Built-in profiles and custom ones without the field take any key. */
    assert_int_equal(ch_svc_profile_get(svc, &viewer_a, "tls-server", &p), 0);
    assert_int_equal(p.p.key_types, 0);
    ch_svc_profile_dispose(&p);
    /* Bad lists are refused, naming the field and what is accepted. */
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "bad", "{\"key_usage\":[\"digital_signature\"],"
                                        "\"key_types\":[]}", true, NULL), CH_EINVAL);
    assert_string_equal(ch_error_field(), "key_types");
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "bad", "{\"key_usage\":[\"digital_signature\"],"
                                        "\"key_types\":[\"dsa1024\"]}", true, NULL), CH_EINVAL);
    assert_string_equal(ch_error_field(), "key_types");
    assert_non_null(strstr(ch_error_last(), "rsa2048, rsa3072, rsa4096, p256, p384, p521, ed25519"));
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "bad", "{\"key_usage\":[\"digital_signature\"],"
                                        "\"key_types\":\"p256\"}", true, NULL), CH_EINVAL);
    assert_int_equal(ch_svc_profile_get(svc, &viewer_a, "bad", &p), CH_ENOTFOUND);

    /* A key made here: an allowed type issues, another is refused before it is made. */
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &leaf), 0);
    ch_store_cert_dispose(&leaf);
    req.key_type = "ed25519";
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &leaf), 0);
    ch_store_cert_dispose(&leaf);
    req.key_type = "rsa2048";
    expect_refused(&req, "key_type", "key type rsa2048");
    assert_non_null(strstr(ch_error_last(), "its key_types are p256, ed25519"));

    /* A CSR: its key's algorithm, curve and RSA size. */
    req.key_type = NULL;
    csr_of_type(&pem, CH_KEY_P384);
    req.csr = pem.data;
    req.csr_len = pem.len;
    expect_refused(&req, "csr", "the CSR's key is p384");
    ch_buf_dispose(&pem);
    csr_of_type(&pem, CH_KEY_RSA2048);
    req.csr = pem.data;
    req.csr_len = pem.len;
    expect_refused(&req, "csr", "the CSR's key is rsa2048");
    ch_buf_dispose(&pem);
    csr_of_type(&pem, CH_KEY_ED25519);
    req.csr = pem.data;
    req.csr_len = pem.len;
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &leaf), 0);
    ch_store_cert_dispose(&leaf);
    ch_buf_dispose(&pem);
    req.csr = NULL;
    req.csr_len = 0;

    /* A CSR made here, its key sealed here. */
    assert_int_equal(ch_svc_csr_create(svc, &operator_a, &(ch_svc_csr_req){.subject.fields.common_name = "a.example",
                                                                            .key_type = "p521"}, &made), 0);
    req.csr_id = made.id;
    expect_refused(&req, "csr", "the CSR's key is p521");
    req.csr_id = NULL;
    ch_store_csr_dispose(&made);

    /* A public key given. */
    assert_int_equal(ch_key_generate(&key, CH_KEY_P384), 0);
    assert_int_equal(ch_key_write_public_pem(&pem, key), 0);
    ch_key_free(key);
    req.public_key = pem.data;
    req.public_key_len = pem.len;
    expect_refused(&req, "public_key", "the public key is p384");
    ch_buf_dispose(&pem);
    req.public_key = NULL;
    req.public_key_len = 0;

    /* A renewal is held to the key types as they are now: a new key of the same type, or the
     * same key kept, both refused once the type is no longer allowed. */
    req.key_type = "p256";
    req.auto_renew = true;
    assert_int_equal(ch_svc_cert_issue(svc, &operator_a, &req, &leaf), 0);
    assert_int_equal(ch_svc_cert_renew(svc, &operator_a, leaf.id, false, &renewed), 0);
    snprintf(id, sizeof id, "%s", renewed.id);
    ch_store_cert_dispose(&leaf);
    ch_store_cert_dispose(&renewed);
    assert_int_equal(ch_svc_profile_put(svc, &operator_a, "keyed",
                                        "{\"key_usage\":[\"digital_signature\"],\"key_types\":[\"ed25519\"]}", false,
                                        NULL), 0);
    {
        int64_t certs = count_certs(&operator_a);
        assert_int_equal(ch_svc_cert_renew(svc, &operator_a, id, false, &renewed), CH_EPOLICY);
        assert_string_equal(ch_error_field(), "key_type");
        assert_non_null(strstr(ch_error_last(), "key type p256 is not one profile keyed allows: its key_types are "
                                                "ed25519"));
        assert_int_equal(ch_svc_cert_renew(svc, &operator_a, id, true, &renewed), CH_EPOLICY);
        assert_string_equal(ch_error_field(), "public_key");
        assert_non_null(strstr(ch_error_last(), "the public key is p256"));
        assert_int_equal(count_certs(&operator_a), certs);
    }
    /* Due, the automatic renewal stops there, said once. */
    assert_int_equal(ch_store_cert_set_auto_renew(ch_svc_store(svc), operator_a.tenant_id, id, true, 1), 0);
    assert_int_equal(ch_svc_renew_due(svc, 100), 1);
    assert_int_equal(ch_svc_cert_get(svc, &viewer_a, id, &leaf), 0);
    assert_null(leaf.renewed_by);
    assert_false(leaf.auto_renew);
    assert_non_null(strstr(leaf.renew_error, "automatic renewal stopped"));
    ch_store_cert_dispose(&leaf);
    ch_store_ca_dispose(&root);
    ch_store_ca_dispose(&inter);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issue_and_verify),
        cmocka_unit_test(test_bad_requests_change_nothing),
        cmocka_unit_test(test_extension_switches_and_renewal),
        cmocka_unit_test(test_renewal_carries_old_names),
        cmocka_unit_test(test_short_lifetimes_kept),
        cmocka_unit_test(test_renew_at),
        cmocka_unit_test(test_renew_before),
        cmocka_unit_test(test_renew_retry_at),
        cmocka_unit_test(test_quick_only),
        cmocka_unit_test(test_import_preview),
        cmocka_unit_test(test_import_duplicates_and_isolation),
        cmocka_unit_test(test_byo_issuer),
        cmocka_unit_test(test_csr_attach),
        cmocka_unit_test(test_csr_key_found),
        cmocka_unit_test(test_csr_key_held),
        cmocka_unit_test(test_ca_key_later),
        cmocka_unit_test(test_key_export_and_db_scan),
        cmocka_unit_test(test_concurrent_issuing),
        cmocka_unit_test(test_ca_update),
        cmocka_unit_test(test_concurrent_rotation),
        cmocka_unit_test(test_audit_chain),
        cmocka_unit_test(test_tokens_list_and_revoke),
        cmocka_unit_test(test_tokens_end_with_their_user),
        cmocka_unit_test(test_tokens_revoked_with_their_maker),
        cmocka_unit_test(test_custom_profiles),
        cmocka_unit_test(test_profile_ttls),
        cmocka_unit_test(test_profile_name_policy),
        cmocka_unit_test(test_profile_key_types),
        cmocka_unit_test(test_renewal_ca_gone),
        cmocka_unit_test(test_tenants_need_admin),
        cmocka_unit_test(test_audit_numbered_per_tenant),
        cmocka_unit_test(test_token_expiry),
        cmocka_unit_test(test_token_max_days),
        cmocka_unit_test(test_token_end),
        cmocka_unit_test(test_token_during_revocation),
        cmocka_unit_test(test_scheduler_wakes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
