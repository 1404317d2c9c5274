/* Unit tests of the X.509 engine: keys, names, SANs, issuing rules, inspecting, chains,
 * times, and malformed input of every kind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "certhub/x509.h"
#include "testutil.h"

static ch_key *gen(ch_key_type t)
{
    ch_key *k = NULL;

    assert_int_equal(ch_key_generate(&k, t), 0);
    return k;
}

static X509_NAME *name(const char *dn)
{
    X509_NAME *n = NULL;

    assert_int_equal(ch_name_parse(&n, dn), 0);
    return n;
}

/* Issues with defaults; returns the error code and the certificate in *out. */
static int issue(ch_cert **out, const char *profile, const ch_cert *ca, const ch_key *ca_key, const ch_key *key,
                 const char *dn, int days, int path_len)
{
    X509_NAME *n = name(dn);
    ch_issue_opts o = {.profile = ch_profile_get(profile), .ca_cert = ca, .ca_key = ca_key, .subject_key = key,
                       .subject = n, .days = days, .path_len = path_len};
    int r = ch_cert_issue(out, &o);

    X509_NAME_free(n);
    return r;
}

static void test_keys(void **state)
{
    static const ch_key_type types[] = {CH_KEY_RSA2048, CH_KEY_P256, CH_KEY_P384, CH_KEY_P521, CH_KEY_ED25519};
    ch_key_type t;

    (void)state;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        ch_key *k = gen(types[i]), *back = NULL, *enc = NULL;
        ch_buf pem = CH_BUF_INIT, der = CH_BUF_INIT, epem = CH_BUF_INIT;

        assert_true(ch_key_has_private(k));
        assert_int_equal(ch_key_get_type(k), types[i]);
        assert_int_equal(ch_key_write_pem(&pem, k, NULL), 0);
        assert_int_equal(ch_key_write_der(&der, k), 0);
        assert_int_equal(ch_key_write_pem(&epem, k, "secret"), 0);
        assert_non_null(strstr((char *)epem.data, "ENCRYPTED PRIVATE KEY"));
        assert_int_equal(ch_key_parse(&back, der.data, der.len, NULL), 0);
        assert_true(ch_key_public_equal(k, back));
        ch_key_free(back);
        {
            /* The PKCS#8 certhub writes itself is the one OpenSSL writes for the same key. */
            PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(ch_key_pkey(k));
            unsigned char *ref = NULL;
            int n = i2d_PKCS8_PRIV_KEY_INFO(p8, &ref);
            assert_int_equal((size_t)n, der.len);
            assert_memory_equal(ref, der.data, der.len);
            OPENSSL_clear_free(ref, (size_t)n);
            PKCS8_PRIV_KEY_INFO_free(p8);
            assert_int_equal(ch_key_bits(k), EVP_PKEY_get_bits(ch_key_pkey(k)));
        }
        assert_int_equal(ch_key_parse(&back, pem.data, pem.len, NULL), 0);
        ch_key_free(back);
        assert_int_equal(ch_key_parse(&enc, epem.data, epem.len, "wrong"), CH_EPASSWORD);
        assert_int_equal(ch_key_parse(&enc, epem.data, epem.len, NULL), CH_EPASSWORD);
        assert_int_equal(ch_key_parse(&enc, epem.data, epem.len, "secret"), 0);
        assert_true(ch_key_public_equal(k, enc));
        /* Every truncation is refused cleanly. */
        for (size_t n = 0; n < der.len; n += 7)
            assert_int_not_equal(ch_key_parse(&back, der.data, n, NULL), 0);
        ch_key_free(enc);
        ch_buf_dispose_secure(&pem);
        ch_buf_dispose_secure(&der);
        ch_buf_dispose(&epem);
        ch_key_free(k);
    }
    assert_int_equal(ch_key_type_parse(&t, "EC-P256"), 0);
    assert_int_equal(t, CH_KEY_P256);
    assert_int_equal(ch_key_type_parse(&t, "rsa-4096"), 0);
    assert_int_equal(t, CH_KEY_RSA4096);
    assert_int_equal(ch_key_type_parse(&t, "rsa1024"), CH_EINVAL);
    assert_non_null(strstr(ch_error_last(), "accepted:"));
}

/* Public keys: EC keys with an uncompressed point are read as bytes (their point checked to
 * be on the curve), others by OpenSSL; either way the key verifies what its private half
 * signed, and a point off the curve is refused. */
static void test_public_keys(void **state)
{
    static const ch_key_type types[] = {CH_KEY_P256, CH_KEY_P384, CH_KEY_P521, CH_KEY_ED25519, CH_KEY_RSA2048};

    (void)state;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        ch_key *k = gen(types[i]), *pub = NULL, *bad = NULL;
        ch_buf pem = CH_BUF_INIT;
        size_t spki_len;
        const uint8_t *spki = ch_key_spki_der(k, &spki_len);
        uint8_t sig[1024], msg[] = "to be signed", *der = malloc(spki_len);
        size_t sig_len = sizeof sig;
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        const EVP_MD *md = types[i] == CH_KEY_ED25519 ? NULL : EVP_sha256();

        assert_int_equal(ch_key_write_public_pem(&pem, k), 0);
        assert_int_equal(ch_key_parse_public(&pub, pem.data, pem.len), 0);
        assert_false(ch_key_has_private(pub));
        assert_int_equal(ch_key_get_type(pub), types[i]);
        assert_true(ch_key_public_equal(k, pub));
        assert_int_equal(ch_key_bits(pub), ch_key_bits(k));
        assert_int_equal(EVP_DigestSignInit(m, NULL, md, NULL, ch_key_pkey(k)), 1);
        assert_int_equal(EVP_DigestSign(m, sig, &sig_len, msg, sizeof msg), 1);
        EVP_MD_CTX_free(m);
        m = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestVerifyInit(m, NULL, md, NULL, ch_key_pkey(pub)), 1);
        assert_int_equal(EVP_DigestVerify(m, sig, sig_len, msg, sizeof msg), 1);
        EVP_MD_CTX_free(m);
        ch_key_free(pub);
        /* the same as DER */
        assert_int_equal(ch_key_parse_public(&pub, spki, spki_len), 0);
        assert_true(ch_key_public_equal(k, pub));
        ch_key_free(pub);
        if (types[i] <= CH_KEY_P521 && types[i] >= CH_KEY_P256) {
            memcpy(der, spki, spki_len);
            der[spki_len - 1] ^= 0x01; /* y no longer fits x */
            assert_int_equal(ch_key_parse_public(&bad, der, spki_len), CH_EPARSE);
        }
        free(der);
        ch_buf_dispose(&pem);
        ch_key_free(k);
    }
    {
        /* a compressed point takes OpenSSL's path and gives the same key */
        EVP_PKEY *p = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        unsigned char *d = NULL;
        int n;
        ch_key *pub = NULL, *full = NULL;
        assert_int_equal(EVP_PKEY_set_utf8_string_param(p, "point-format", "compressed"), 1);
        n = i2d_PUBKEY(p, &d);
        assert_true(n > 0 && n < 70);
        assert_int_equal(ch_key_parse_public(&pub, d, (size_t)n), 0);
        assert_int_equal(ch_key_from_pkey(&full, p), 0);
        assert_int_equal(ch_key_get_type(pub), CH_KEY_P256);
        OPENSSL_free(d);
        ch_key_free(pub);
        ch_key_free(full);
        EVP_PKEY_free(p);
    }
}

/* A key file made in dir by an openssl command (its arguments before -out), then parsed:
 * ch_key_parse's answer, *k the key when it took it. */
static int parse_made_key(const char *dir, const char *name, const char *make, ch_key **k)
{
    char path[1200];
    uint8_t *data;
    size_t len;
    int error;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(tu_sh("openssl %s -out '%s' 2>/dev/null", make, path), 0);
    data = tu_read(path, &len);
    error = ch_key_parse(k, data, len, NULL);
    free(data);
    return error;
}

static void test_weak_keys_refused(void **state)
{
    const char *dir = tu_tmpdir("x509weak");
    ch_key *k;

    (void)state;
    assert_int_equal(parse_made_key(dir, "rsa1024.pem", "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024", &k),
                     CH_EPOLICY);
    assert_non_null(strstr(ch_error_last(), "at least 2048"));
    assert_int_equal(parse_made_key(dir, "k1.pem", "ecparam -name secp256k1 -genkey -noout", &k), CH_EPOLICY);
    assert_non_null(strstr(ch_error_last(), "secp256k1"));
    /* Kinds certhub does not take are named as such, private ones too (an RSA-PSS private key
     * was called a public key). */
    assert_int_equal(parse_made_key(dir, "pss.pem", "genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048", &k),
                     CH_EPOLICY);
    assert_non_null(strstr(ch_error_last(), "RSA-PSS keys are not accepted"));
    assert_int_equal(parse_made_key(dir, "ed448.pem", "genpkey -algorithm ED448", &k), CH_EPOLICY);
    assert_non_null(strstr(ch_error_last(), "ED448 keys are not accepted"));
    /* `openssl ecparam -genkey` writes the curve's parameters before the key. */
    assert_int_equal(parse_made_key(dir, "ecparam.pem", "ecparam -name prime256v1 -genkey", &k), 0);
    assert_int_equal(ch_key_get_type(k), CH_KEY_P256);
    ch_key_free(k);
    tu_rmtree(dir);
}

static void test_names_and_sans(void **state)
{
    X509_NAME *n = NULL;
    char *s = NULL;
    ch_san san;
    ch_name_fields f = {.country = "DE", .organization = "Acme", .common_name = "dev1"};

    (void)state;
    /* A user principal name: user@domain, its prefix in any case. */
    assert_int_equal(ch_san_parse(&san, "UPN:jane@corp.example"), 0);
    assert_int_equal(san.type, CH_SAN_UPN);
    assert_string_equal(san.value, "jane@corp.example");
    assert_int_equal(ch_san_parse(&san, "upn:jane"), CH_EINVAL);
    assert_int_equal(ch_san_parse(&san, "upn:@corp.example"), CH_EINVAL);
    assert_int_equal(ch_san_parse(&san, "upn:a@b@c"), CH_EINVAL);
    assert_int_equal(ch_name_build(&n, &f), 0);
    assert_int_equal(ch_name_to_string(&s, n), 0);
    assert_string_equal(s, "CN=dev1,O=Acme,C=DE");
    free(s);
    X509_NAME_free(n);
    /* A code in small letters is written in capitals, as ISO 3166 has it. */
    f.country = "de";
    assert_int_equal(ch_name_build(&n, &f), 0);
    assert_int_equal(ch_name_to_string(&s, n), 0);
    assert_string_equal(s, "CN=dev1,O=Acme,C=DE");
    free(s);
    X509_NAME_free(n);
    f.country = "Germany";
    assert_int_equal(ch_name_build(&n, &f), CH_EINVAL);
    assert_string_equal(ch_error_field(), "country");
    memset(&f, 0, sizeof f);
    assert_int_equal(ch_name_build(&n, &f), CH_EINVAL);
    /* X.520's bounds count characters: 64 two-byte ones fit a common name, 65 ASCII do not. */
    {
        char wide[64 * 2 + 1] = "", long_cn[66];
        for (int i = 0; i < 64; i++)
            strcat(wide, "\xc3\x84");
        memset(long_cn, 'a', 65);
        long_cn[65] = '\0';
        f.common_name = wide;
        assert_int_equal(ch_name_build(&n, &f), 0);
        X509_NAME_free(n);
        n = NULL;
        f.common_name = long_cn;
        assert_int_equal(ch_name_build(&n, &f), CH_EINVAL);
        assert_string_equal(ch_error_field(), "common_name");
        assert_non_null(strstr(ch_error_last(), "65 characters long; X.509 allows at most 64"));
        memset(&f, 0, sizeof f);
    }
    n = name("/C=DE/O=Acme Inc/CN=a\\,b");
    assert_int_equal(ch_name_to_string(&s, n), 0);
    assert_string_equal(s, "CN=a\\,b,O=Acme Inc,C=DE");
    free(s);
    X509_NAME_free(n);
    assert_int_equal(ch_name_parse(&n, "CN=a\\00b"), CH_EINVAL);
    assert_int_equal(ch_name_parse(&n, "FOO=bar"), CH_EINVAL);
    assert_int_equal(ch_name_parse(&n, ""), CH_EINVAL);
    assert_int_equal(ch_san_parse(&san, "dns:*.example.com"), 0);
    assert_int_equal(san.type, CH_SAN_DNS);
    assert_int_equal(ch_san_parse(&san, "2001:db8::1"), 0);
    assert_int_equal(san.type, CH_SAN_IP);
    assert_int_equal(ch_san_parse(&san, "uri:spiffe://example/x"), 0);
    assert_int_equal(ch_san_parse(&san, "email:nobody"), CH_EINVAL);
    assert_int_equal(ch_san_parse(&san, "dns:a..b"), CH_EINVAL);
    assert_int_equal(ch_san_parse(&san, "ip:300.1.1.1"), CH_EINVAL);
    assert_int_equal(ch_san_parse(&san, "dns:a\tb"), CH_EINVAL);
    /* one DNS rule for SANs and name policies, each failure saying which part is wrong */
    assert_int_equal(ch_san_parse(&san, "dns:a.example."), CH_EINVAL);
    assert_non_null(strstr(ch_error_last(), "ends with a dot"));
    assert_int_equal(ch_san_parse(&san, "dns:a.*.example"), CH_EINVAL);
    assert_non_null(strstr(ch_error_last(), "whole leftmost label"));
    assert_int_equal(ch_san_parse(&san, "dns:-a.example"), CH_EINVAL);
    assert_non_null(strstr(ch_error_last(), "starts with '-'"));
    assert_null(ch_dns_name_problem("_acme.Example.COM"));
    assert_non_null(ch_dns_name_problem("*"));
    assert_non_null(ch_dns_name_problem("*."));
    assert_non_null(ch_dns_name_problem("b\xc3\xbc" "cher.example"));
}

static void test_issue_rules(void **state)
{
    ch_key *rk = gen(CH_KEY_P256), *ik = gen(CH_KEY_P256), *lk = gen(CH_KEY_ED25519);
    ch_cert *root, *inter, *leaf, *x = NULL;
    ch_cert_info info;

    (void)state;
    assert_int_equal(issue(&root, "root-ca", NULL, rk, rk, "CN=Root", 3650, 1), 0);
    assert_int_equal(issue(&inter, "intermediate-ca", root, rk, ik, "CN=Inter", 1000, -2), 0);
    assert_int_equal(ch_cert_inspect(&info, inter), 0);
    assert_true(info.is_ca);
    assert_int_equal(info.path_len, 0);
    {
        ch_cert_info ri;
        assert_int_equal(ch_cert_inspect(&ri, root), 0);
        assert_true(ri.self_signed);
        assert_int_equal(ri.path_len, 1);
        assert_string_equal(info.aki, ri.ski); /* RFC 5280 4.2.1.1 */
        ch_cert_info_dispose(&ri);
    }
    ch_cert_info_dispose(&info);
    /* Under pathlen 0 no CA can be issued. */
    assert_int_equal(issue(&x, "intermediate-ca", inter, ik, lk, "CN=Deeper", 10, -2), CH_EPOLICY);
    assert_non_null(strstr(ch_error_last(), "path length"));
    /* Validity within the issuer's. */
    assert_int_equal(issue(&x, "tls-server", inter, ik, lk, "CN=long", 2000, -2), CH_EPOLICY);
    /* A leaf cannot be self-signed; a wrong issuer key is refused; a leaf cannot issue. */
    assert_int_equal(issue(&x, "tls-server", NULL, lk, lk, "CN=self", 10, -2), CH_EPOLICY);
    assert_int_equal(issue(&x, "tls-server", inter, rk, lk, "CN=wrongkey", 10, -2), CH_EINVAL);
    assert_int_equal(issue(&leaf, "device", inter, ik, lk, "CN=sensor-1", 30, -2), 0);
    assert_int_equal(issue(&x, "device", leaf, lk, lk, "CN=child", 1, -2), CH_EPOLICY);
    assert_non_null(strstr(ch_error_last(), "not a CA"));
    /* What a device certificate holds. */
    assert_int_equal(ch_cert_inspect(&info, leaf), 0);
    assert_int_equal(info.version, 3);
    assert_false(info.is_ca);
    assert_int_equal(info.key_usage, CH_KU_DIGITAL_SIGNATURE);
    assert_int_equal(info.ext_key_usage, CH_EKU_CLIENT_AUTH);
    assert_int_equal(strlen(info.serial), 32);
    assert_true(info.serial[0] >= '4' && info.serial[0] <= '7'); /* positive, 16 bytes */
    assert_string_equal(info.key_algorithm, "Ed25519");
    assert_string_equal(info.issuer, "CN=Inter");
    assert_false(info.self_signed);
    assert_non_null(info.ski);
    assert_non_null(info.aki);
    ch_cert_info_dispose(&info);
    ch_cert_free(leaf);
    /* A TLS server certificate given no names takes its common name as one when it is a host
     * name or an address; a device's does not, nor a name that is neither. */
    {
        static const struct {
            const char *profile, *dn, *sans; /* NULL: no SAN extension */
        } cases[] = {
            {"tls-server", "CN=web.example,O=Acme", "dns:web.example"},
            {"tls-server", "CN=192.0.2.7", "ip:192.0.2.7"},
            {"tls-server", "CN=My Web Server", NULL},
            {"device", "CN=sensor-2", NULL},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char *t = NULL;
            assert_int_equal(issue(&x, cases[i].profile, inter, ik, lk, cases[i].dn, 10, -2), 0);
            assert_int_equal(ch_cert_sans_text(&t, x), 0);
            if (cases[i].sans == NULL)
                assert_null(t);
            else
                assert_string_equal(t, cases[i].sans);
            free(t);
            ch_cert_free(x);
            x = NULL;
        }
    }
    ch_cert_free(inter);
    ch_cert_free(root);
    ch_key_free(rk);
    ch_key_free(ik);
    ch_key_free(lk);
}

/* Certificates are written as DER by certhub itself: OpenSSL's re-encoding of what it decodes
 * must give the same bytes (DER has one encoding per value), and what issuing kept for storing
 * (validity, serial, names, SANs) must be what the decoded certificate says. */
static void assert_canonical(const ch_cert *c)
{
    size_t len, tbs_len;
    const uint8_t *der = ch_cert_der(c, &len), *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    unsigned char *re = NULL;
    ch_cert *parsed = NULL;
    char *a = NULL, *b = NULL, sa[41], sb[41];

    assert_non_null(x);
    assert_ptr_equal(p, der + len);
    /* the TBSCertificate starts after the outer header (4 bytes: 30 82 LL LL) */
    assert_int_equal(der[0], 0x30);
    tbs_len = (size_t)i2d_re_X509_tbs(x, &re);
    assert_true(tbs_len > 0 && tbs_len < len);
    assert_memory_equal(re, der + 4, tbs_len);
    OPENSSL_free(re);
    X509_free(x);
    assert_int_equal(ch_cert_parse(&parsed, der, len), 0);
    assert_int_equal(ch_cert_not_before(c), ch_cert_not_before(parsed));
    assert_int_equal(ch_cert_not_after(c), ch_cert_not_after(parsed));
    ch_cert_serial_hex(sa, c);
    ch_cert_serial_hex(sb, parsed);
    assert_string_equal(sa, sb);
    assert_int_equal(ch_cert_is_ca(c), ch_cert_is_ca(parsed));
    assert_int_equal(ch_cert_subject_string(&a, c), 0);
    assert_int_equal(ch_cert_subject_string(&b, parsed), 0);
    assert_string_equal(a, b);
    free(a), free(b);
    assert_int_equal(ch_cert_issuer_string(&a, c), 0);
    assert_int_equal(ch_cert_issuer_string(&b, parsed), 0);
    assert_string_equal(a, b);
    free(a), free(b);
    a = b = NULL;
    assert_int_equal(ch_cert_sans_text(&a, c), 0);
    assert_int_equal(ch_cert_sans_text(&b, parsed), 0);
    assert_true((a == NULL) == (b == NULL));
    if (a != NULL)
        assert_string_equal(a, b);
    free(a), free(b);
    ch_cert_free(parsed);
}

static void test_issued_der(void **state)
{
    ch_key *rk = gen(CH_KEY_P256), *ik = gen(CH_KEY_RSA2048), *lk = gen(CH_KEY_P256), *ek = gen(CH_KEY_ED25519);
    ch_cert *root, *inter, *leaf, *ed, *edleaf;
    X509_NAME *n = name("CN=www.example.com,O=Acme \\, Inc.,C=DE");
    static const char *const crl[] = {"http://crl.example/a.crl", "http://crl2.example/b.crl", NULL};
    static const char *const ocsp[] = {"http://ocsp.example", NULL};
    ch_san sans[5];
    ch_issue_opts o;

    (void)state;
    assert_int_equal(ch_san_parse(&sans[0], "dns:www.example.com"), 0);
    assert_int_equal(ch_san_parse(&sans[1], "ip:10.1.2.3"), 0);
    assert_int_equal(ch_san_parse(&sans[2], "ip:2001:db8:0:0::1"), 0);
    assert_int_equal(ch_san_parse(&sans[3], "email:ops@example.com"), 0);
    assert_int_equal(ch_san_parse(&sans[4], "uri:spiffe://example/x"), 0);
    assert_int_equal(issue(&root, "root-ca", NULL, rk, rk, "CN=Root,O=Acme", 36500, 300), 0);
    assert_int_equal(issue(&inter, "intermediate-ca", root, rk, ik, "CN=Inter", 30000, 0), 0);
    o = (ch_issue_opts){.profile = ch_profile_get("tls-server"), .ca_cert = inter, .ca_key = ik, .subject_key = lk,
                        .subject = n, .sans = sans, .san_count = 5, .days = 9000, .path_len = -2, .crl_urls = crl,
                        .ocsp_urls = ocsp, .ext_key_usage = CH_EKU_SERVER_AUTH | CH_EKU_CLIENT_AUTH | CH_EKU_OCSP_SIGNING,
                        .key_usage = CH_KU_DIGITAL_SIGNATURE | CH_KU_KEY_AGREEMENT | CH_KU_DECIPHER_ONLY};
    assert_int_equal(ch_cert_issue(&leaf, &o), 0);
    assert_int_equal(issue(&ed, "root-ca", NULL, ek, ek, "CN=Ed", 10, -2), 0);
    assert_int_equal(issue(&edleaf, "device", ed, ek, lk, "CN=dev", 5, -2), 0);
    assert_canonical(root);  /* validity past 2049: GeneralizedTime; path length 300 */
    assert_canonical(inter); /* signed with ECDSA, CA with path length 0 */
    assert_canonical(leaf);  /* signed with RSA, every extension */
    assert_canonical(ed);
    assert_canonical(edleaf);
    {
        char *t = NULL;
        assert_int_equal(ch_cert_sans_text(&t, leaf), 0);
        assert_string_equal(t, "dns:www.example.com,ip:10.1.2.3,ip:2001:db8::1,email:ops@example.com,"
                               "uri:spiffe://example/x");
        free(t);
    }
    X509_NAME_free(n);
    ch_cert_free(edleaf);
    ch_cert_free(ed);
    ch_cert_free(leaf);
    ch_cert_free(inter);
    ch_cert_free(root);
    ch_key_free(rk);
    ch_key_free(ik);
    ch_key_free(lk);
    ch_key_free(ek);
}

/* The extensions of the wizard's switches, in CH_EXT_* order: their extnID's last byte (id-ce
 * 2.5.29.n) and NID. */
static const struct {
    uint8_t id_ce;
    int nid;
} switched[] = {{0x13, NID_basic_constraints}, {0x0f, NID_key_usage}, {0x25, NID_ext_key_usage},
                {0x23, NID_authority_key_identifier}};

/* Which of them c's DER holds (CH_EXT_* bits), read twice: the extnID bytes in the DER itself,
 * and what OpenSSL decodes, which must agree; *critical gets those OpenSSL finds critical. */
static unsigned exts_of(const ch_cert *c, unsigned *critical)
{
    size_t len;
    const uint8_t *der = ch_cert_der(c, &len), *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    unsigned in_der = 0, decoded = 0;

    assert_non_null(x);
    *critical = 0;
    for (size_t k = 0; k < sizeof switched / sizeof switched[0]; k++) {
        const uint8_t oid[] = {0x06, 0x03, 0x55, 0x1d, switched[k].id_ce};
        int at = X509_get_ext_by_NID(x, switched[k].nid, -1);
        for (size_t i = 0; i + sizeof oid <= len; i++)
            if (memcmp(der + i, oid, sizeof oid) == 0)
                in_der |= 1u << k;
        if (at >= 0) {
            decoded |= 1u << k;
            if (X509_EXTENSION_get_critical(X509_get_ext(x, at)))
                *critical |= 1u << k;
        }
    }
    X509_free(x);
    assert_int_equal(in_der, decoded);
    return decoded;
}

/* The extension switches of a create wizard (the storage seed's "Extra Constraints"): each of
 * Basic Constraints, AKI, Key Usage and EKU left out or kept, critical or not, as asked; what
 * RFC 5280 requires of a CA's certificate refused. */
static void test_issue_extension_switches(void **state)
{
    ch_key *rk = gen(CH_KEY_P256), *ik = gen(CH_KEY_P256), *lk = gen(CH_KEY_P256);
    ch_cert *root, *inter, *x = NULL;
    X509_NAME *n = name("CN=web.example");
    ch_issue_opts o;
    ch_cert_info info;
    unsigned crit, bit;
    const unsigned all = CH_EXT_BASIC_CONSTRAINTS | CH_EXT_KEY_USAGE | CH_EXT_EXT_KEY_USAGE | CH_EXT_AUTHORITY_KEY_ID;
    static const struct {
        unsigned leave_out, critical_set, critical;
        unsigned has, is_critical; /* what the certificate must hold */
    } cases[] = {
        /* nothing asked: all four; BC and KU critical (RFC 5280 4.2.1.9, 4.2.1.3) */
        {0, 0, 0, CH_EXT_ALL, CH_EXT_BASIC_CONSTRAINTS | CH_EXT_KEY_USAGE},
        {CH_EXT_AUTHORITY_KEY_ID, 0, 0, CH_EXT_ALL & ~CH_EXT_AUTHORITY_KEY_ID,
         CH_EXT_BASIC_CONSTRAINTS | CH_EXT_KEY_USAGE},
        {CH_EXT_BASIC_CONSTRAINTS, 0, 0, CH_EXT_ALL & ~CH_EXT_BASIC_CONSTRAINTS, CH_EXT_KEY_USAGE},
        {CH_EXT_KEY_USAGE | CH_EXT_EXT_KEY_USAGE, 0, 0, CH_EXT_BASIC_CONSTRAINTS | CH_EXT_AUTHORITY_KEY_ID,
         CH_EXT_BASIC_CONSTRAINTS},
        {CH_EXT_ALL, 0, 0, 0, 0},
        /* criticality as asked: EKU critical, BC and KU not */
        {0, CH_EXT_ALL, CH_EXT_EXT_KEY_USAGE, CH_EXT_ALL, CH_EXT_EXT_KEY_USAGE},
        /* only what critical_set names is decided by critical: KU keeps its default */
        {0, CH_EXT_BASIC_CONSTRAINTS, 0, CH_EXT_ALL, CH_EXT_KEY_USAGE},
        {CH_EXT_BASIC_CONSTRAINTS, CH_EXT_ALL, CH_EXT_KEY_USAGE | CH_EXT_EXT_KEY_USAGE,
         CH_EXT_ALL & ~CH_EXT_BASIC_CONSTRAINTS, CH_EXT_KEY_USAGE | CH_EXT_EXT_KEY_USAGE},
    };

    (void)state;
    assert_int_equal(CH_EXT_ALL, all);
    assert_int_equal(issue(&root, "root-ca", NULL, rk, rk, "CN=Root", 3650, 1), 0);
    assert_int_equal(issue(&inter, "intermediate-ca", root, rk, ik, "CN=Inter", 1000, -2), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        o = (ch_issue_opts){.profile = ch_profile_get("tls-server"), .ca_cert = inter, .ca_key = ik,
                            .subject_key = lk, .subject = n, .days = 10, .path_len = -2,
                            .leave_out = cases[i].leave_out, .critical_set = cases[i].critical_set,
                            .critical = cases[i].critical};
        assert_int_equal(ch_cert_issue(&x, &o), 0);
        assert_int_equal(exts_of(x, &crit), cases[i].has);
        assert_int_equal(crit, cases[i].is_critical);
        assert_canonical(x);
        /* inspect says the same, and a leaf without Basic Constraints is still no CA */
        assert_int_equal(ch_cert_inspect(&info, x), 0);
        assert_int_equal(info.critical, cases[i].is_critical);
        assert_int_equal(info.has_basic_constraints, (cases[i].has & CH_EXT_BASIC_CONSTRAINTS) != 0);
        assert_int_equal(info.aki != NULL, (cases[i].has & CH_EXT_AUTHORITY_KEY_ID) != 0);
        assert_int_equal(info.has_key_usage, (cases[i].has & CH_EXT_KEY_USAGE) != 0);
        assert_int_equal(info.has_ext_key_usage, (cases[i].has & CH_EXT_EXT_KEY_USAGE) != 0);
        assert_false(info.is_ca);
        assert_non_null(info.ski); /* not a switch: RFC 5280 4.2.1.2 */
        {
            /* the server certificate's common name still becomes its SAN without an EKU */
            char *t = NULL;
            assert_int_equal(ch_cert_sans_text(&t, x), 0);
            assert_string_equal(t, "dns:web.example");
            free(t);
        }
        ch_cert_info_dispose(&info);
        ch_cert_free(x);
        x = NULL;
    }
    {
        /* critical in the details' JSON by name */
        char *json = NULL;
        o = (ch_issue_opts){.profile = ch_profile_get("device"), .ca_cert = inter, .ca_key = ik, .subject_key = lk,
                            .subject = n, .days = 10, .path_len = -2, .leave_out = CH_EXT_BASIC_CONSTRAINTS,
                            .critical_set = CH_EXT_ALL, .critical = CH_EXT_EXT_KEY_USAGE | CH_EXT_KEY_USAGE};
        assert_int_equal(ch_cert_issue(&x, &o), 0);
        assert_int_equal(ch_cert_inspect(&info, x), 0);
        assert_int_equal(ch_cert_info_to_json(&json, &info), 0);
        assert_non_null(strstr(json, "\"basic_constraints\":false"));
        assert_non_null(strstr(json, "\"critical\":[\"key_usage\",\"ext_key_usage\"]"));
        free(json);
        ch_cert_info_dispose(&info);
        ch_cert_free(x);
        x = NULL;
    }
    {
        /* Key Usage fitted to the key: key transport is an RSA key's (RFC 5480); asked for an
         * EC key, refused naming the field; a profile's is left out; a renewal's carried over
         * without it. */
        ch_key *rsa = gen(CH_KEY_RSA2048);
        o = (ch_issue_opts){.profile = ch_profile_get("tls-server"), .ca_cert = inter, .ca_key = ik,
                            .subject_key = lk, .subject = n, .days = 10, .path_len = -2,
                            .key_usage = CH_KU_DIGITAL_SIGNATURE | CH_KU_KEY_ENCIPHERMENT};
        assert_int_equal(ch_cert_issue(&x, &o), CH_EINVAL);
        assert_string_equal(ch_error_field(), "key_usage");
        assert_null(x);
        o.key_usage = 0;
        assert_int_equal(ch_cert_issue(&x, &o), 0);
        assert_int_equal(ch_cert_inspect(&info, x), 0);
        assert_int_equal(info.key_usage, CH_KU_DIGITAL_SIGNATURE);
        ch_cert_info_dispose(&info);
        assert_int_equal(ch_cert_usage_fit(x, CH_KU_DIGITAL_SIGNATURE | CH_KU_KEY_ENCIPHERMENT | CH_KU_KEY_AGREEMENT),
                         CH_KU_DIGITAL_SIGNATURE | CH_KU_KEY_AGREEMENT);
        ch_cert_free(x);
        x = NULL;
        o.subject_key = rsa;
        assert_int_equal(ch_cert_issue(&x, &o), 0);
        assert_int_equal(ch_cert_inspect(&info, x), 0);
        assert_int_equal(info.key_usage, CH_KU_DIGITAL_SIGNATURE | CH_KU_KEY_ENCIPHERMENT);
        ch_cert_info_dispose(&info);
        assert_int_equal(ch_cert_usage_fit(x, CH_KU_DIGITAL_SIGNATURE | CH_KU_KEY_ENCIPHERMENT | CH_KU_KEY_AGREEMENT),
                         CH_KU_DIGITAL_SIGNATURE | CH_KU_KEY_ENCIPHERMENT);
        ch_cert_free(x);
        x = NULL;
        ch_key_free(rsa);
    }
    /* A self-signed root may go without its AKI (RFC 5280 4.2.1.1's one exception). */
    o = (ch_issue_opts){.profile = ch_profile_get("root-ca"), .ca_key = rk, .subject_key = rk, .subject = n,
                        .days = 10, .path_len = -2, .leave_out = CH_EXT_AUTHORITY_KEY_ID};
    assert_int_equal(ch_cert_issue(&x, &o), 0);
    assert_int_equal(exts_of(x, &crit), CH_EXT_BASIC_CONSTRAINTS | CH_EXT_KEY_USAGE);
    assert_true(ch_cert_is_ca(x));
    ch_cert_free(x);
    x = NULL;

    /* Refused, nothing issued: what a CA's certificate must hold, criticality RFC 5280 rules
     * out, and switches that contradict each other. */
    {
        static const struct {
            const char *profile;
            unsigned leave_out, critical_set, critical, key_usage;
            const char *field, *says;
        } bad[] = {
            {"intermediate-ca", CH_EXT_BASIC_CONSTRAINTS, 0, 0, 0, "basic_constraints", "RFC 5280 4.2.1.9"},
            {"root-ca", CH_EXT_BASIC_CONSTRAINTS, 0, 0, 0, "basic_constraints", "leaf certificates only"},
            {"intermediate-ca", CH_EXT_KEY_USAGE, 0, 0, 0, "key_usage", "RFC 5280 4.2.1.3"},
            {"intermediate-ca", 0, CH_EXT_ALL, CH_EXT_KEY_USAGE, 0, "critical", "must be critical"},
            {"tls-server", 0, CH_EXT_ALL, CH_EXT_AUTHORITY_KEY_ID, 0, "critical", "RFC 5280 4.2.1.1"},
            {"tls-server", CH_EXT_EXT_KEY_USAGE, CH_EXT_ALL, CH_EXT_EXT_KEY_USAGE, 0, "critical",
             "ext_key_usage is left out"},
            {"tls-server", CH_EXT_KEY_USAGE, 0, 0, CH_KU_DIGITAL_SIGNATURE, "key_usage", "one or the other"},
            {"tls-server", 0x10, 0, 0, 0, "critical", "unknown extension"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            const ch_profile *p = ch_profile_get(bad[i].profile);
            bool self = strcmp(p->name, "root-ca") == 0; /* signed with its own key */
            o = (ch_issue_opts){.profile = p, .ca_cert = self ? NULL : p->is_ca ? root : inter,
                                .ca_key = self ? lk : p->is_ca ? rk : ik, .subject_key = lk, .subject = n,
                                .days = 10, .path_len = -2, .leave_out = bad[i].leave_out,
                                .critical_set = bad[i].critical_set, .critical = bad[i].critical,
                                .key_usage = bad[i].key_usage};
            assert_int_equal(ch_cert_issue(&x, &o), CH_EINVAL);
            assert_null(x);
            assert_string_equal(ch_error_field(), bad[i].field);
            assert_non_null(strstr(ch_error_last(), bad[i].says));
            /* the same answer before any work */
            assert_int_equal(ch_issue_check_extensions(&o), CH_EINVAL);
            assert_string_equal(ch_error_field(), bad[i].field);
        }
    }
    /* The names the API and the CLI take. */
    assert_int_equal(ch_ext_parse(&bit, "authority_key_id"), 0);
    assert_int_equal(bit, CH_EXT_AUTHORITY_KEY_ID);
    assert_int_equal(ch_ext_parse(&bit, "basicConstraints"), 0); /* OpenSSL's spelling */
    assert_int_equal(bit, CH_EXT_BASIC_CONSTRAINTS);
    assert_int_equal(ch_ext_parse(&bit, "subject_key_id"), CH_EINVAL);
    assert_non_null(strstr(ch_error_last(), "accepted: basic_constraints, key_usage, ext_key_usage (authority_key_id is never critical)"));

    X509_NAME_free(n);
    ch_cert_free(inter);
    ch_cert_free(root);
    ch_key_free(rk);
    ch_key_free(ik);
    ch_key_free(lk);
}

/* Whether certhub accepts a CSR's signature exactly when OpenSSL's own check does. */
static void csr_agrees(X509_REQ *req, const char *what)
{
    unsigned char *der = NULL;
    int len = i2d_X509_REQ(req, &der), want;
    ch_csr *c = NULL;
    EVP_PKEY *pk;

    assert_true(len > 0);
    pk = X509_REQ_get0_pubkey(req);
    want = pk != NULL && X509_REQ_verify(req, pk) == 1;
    ERR_clear_error();
    if (ch_csr_parse(&c, der, (size_t)len) == 0) {
        if ((ch_csr_verify(c) == 0) != want)
            fail_msg("%s: certhub %s a signature OpenSSL %s", what, want ? "refuses" : "accepts",
                     want ? "accepts" : "refuses");
    } else {
        assert_false(want);
    }
    ch_csr_free(c);
    OPENSSL_free(der);
}

/* Sets the CSR's signature to the DER of (r, s), or to raw bytes when der is given. */
static void csr_set_sig(X509_REQ *req, const BIGNUM *r, const BIGNUM *s, const unsigned char *der, int der_len)
{
    const ASN1_BIT_STRING *sig;
    unsigned char *buf = NULL;
    int n = der_len;

    X509_REQ_get0_signature(req, &sig, NULL);
    if (der == NULL) {
        ECDSA_SIG *e = ECDSA_SIG_new();
        assert_int_equal(ECDSA_SIG_set0(e, BN_dup(r), BN_dup(s)), 1);
        n = i2d_ECDSA_SIG(e, &buf);
        ECDSA_SIG_free(e);
        der = buf;
    }
    if (ASN1_BIT_STRING_set((ASN1_BIT_STRING *)sig, (unsigned char *)der, n) != 1)
        fail_msg("setting a signature of %d bytes", n);
    OPENSSL_free(buf);
}

/* ECDSA CSRs on every NIST curve with every SHA-2 digest, and signatures broken in every
 * way that matters (values changed, out of range, zero, not in DER, another key's, another
 * message's): certhub's verification must agree with OpenSSL's on each. */
static void test_csr_signatures(void **state)
{
    static const char *const curves[] = {"P-256", "P-384", "P-521"};
    const EVP_MD *mds[] = {EVP_sha256(), EVP_sha384(), EVP_sha512()};

    (void)state;
    for (size_t c = 0; c < 3; c++)
        for (size_t m = 0; m < 3; m++) {
            EVP_PKEY *k = EVP_EC_gen(curves[c]), *other = EVP_EC_gen(curves[c]);
            X509_REQ *req = X509_REQ_new();
            X509_NAME *n = name("CN=csr.example");
            const ASN1_BIT_STRING *sig;
            const unsigned char *p;
            ECDSA_SIG *es;
            const BIGNUM *r, *s;
            BIGNUM *r0, *s0, *order = NULL, *t = BN_new();
            unsigned char *orig;
            int olen;
            char what[64];

            assert_non_null(k);
            X509_REQ_set_subject_name(req, n);
            X509_REQ_set_pubkey(req, k);
            assert_true(X509_REQ_sign(req, k, mds[m]) > 0);
            snprintf(what, sizeof what, "%s with %s", curves[c], EVP_MD_get0_name(mds[m]));
            csr_agrees(req, what);
            assert_int_equal(X509_REQ_verify(req, k), 1); /* the good one verifies */

            X509_REQ_get0_signature(req, &sig, NULL);
            olen = ASN1_STRING_length(sig);
            orig = OPENSSL_memdup(ASN1_STRING_get0_data(sig), (size_t)olen);
            p = orig;
            es = d2i_ECDSA_SIG(NULL, &p, olen);
            ECDSA_SIG_get0(es, &r, &s);
            r0 = BN_dup(r);
            s0 = BN_dup(s);
            EVP_PKEY_get_bn_param(k, "order", &order);
            if (order == NULL) { /* the order from the group */
                EC_GROUP *g = EC_GROUP_new_by_curve_name(OBJ_txt2nid(curves[c]) != NID_undef
                                                             ? OBJ_txt2nid(curves[c])
                                                             : EC_curve_nist2nid(curves[c]));
                order = BN_dup(EC_GROUP_get0_order(g));
                EC_GROUP_free(g);
            }

            BN_add_word(BN_copy(t, r0), 1);
            csr_set_sig(req, t, s0, NULL, 0);
            csr_agrees(req, "r + 1");
            BN_add_word(BN_copy(t, s0), 1);
            csr_set_sig(req, r0, t, NULL, 0);
            csr_agrees(req, "s + 1");
            BN_sub(t, order, s0);
            csr_set_sig(req, r0, t, NULL, 0);
            csr_agrees(req, "n - s");
            BN_zero(t);
            csr_set_sig(req, t, s0, NULL, 0);
            csr_agrees(req, "r = 0");
            csr_set_sig(req, r0, t, NULL, 0);
            csr_agrees(req, "s = 0");
            csr_set_sig(req, order, s0, NULL, 0);
            csr_agrees(req, "r = n");
            BN_add(t, r0, order);
            csr_set_sig(req, t, s0, NULL, 0);
            csr_agrees(req, "r + n");
            BN_add(t, s0, order); /* the same s modulo n: only the range check refuses it */
            csr_set_sig(req, r0, t, NULL, 0);
            csr_agrees(req, "s + n");
            csr_set_sig(req, r0, order, NULL, 0);
            csr_agrees(req, "s = n");
            {
                /* r = -1: INTEGER 0xff, which i2d_ECDSA_SIG will not write. */
                unsigned char neg[300], sb[80];
                int sl = BN_bn2bin(s0, sb + 1), lead = (sb[1] & 0x80) != 0, off = 0;
                sb[0] = 0;
                neg[off++] = 0x30;
                if (3 + 2 + sl + lead >= 0x80)
                    neg[off++] = 0x81;
                neg[off++] = (unsigned char)(3 + 2 + sl + lead);
                neg[off++] = 0x02;
                neg[off++] = 0x01;
                neg[off++] = 0xff;
                neg[off++] = 0x02;
                neg[off++] = (unsigned char)(sl + lead);
                memcpy(neg + off, sb + 1 - lead, (size_t)(sl + lead));
                off += sl + lead;
                csr_set_sig(req, NULL, NULL, neg, off);
                csr_agrees(req, "r negative");
            }
            {
                /* Not DER: the same SEQUENCE with a length in more bytes than it needs. */
                unsigned char ber[300];
                int hdr = orig[1] < 0x80 ? 2 : 3, clen = olen - hdr;
                assert_true(clen + 4 <= (int)sizeof ber && (orig[1] < 0x80 || orig[1] == 0x81));
                ber[0] = 0x30;
                ber[1] = 0x82;
                ber[2] = 0;
                ber[3] = (unsigned char)clen;
                memcpy(ber + 4, orig + hdr, (size_t)clen);
                csr_set_sig(req, NULL, NULL, ber, clen + 4);
                csr_agrees(req, "long-form length");
                memcpy(ber, orig, (size_t)olen);
                ber[olen] = 0;
                csr_set_sig(req, NULL, NULL, ber, olen + 1);
                csr_agrees(req, "a byte after the signature");
                csr_set_sig(req, NULL, NULL, orig, olen - 1);
                csr_agrees(req, "truncated");
            }
            csr_set_sig(req, NULL, NULL, orig, olen);
            csr_agrees(req, "restored");
            /* Another key's: the signature stays, the key changes. */
            X509_REQ_set_pubkey(req, other);
            csr_agrees(req, "another key");
            /* Another message: the key back, the subject changed. */
            X509_REQ_set_pubkey(req, k);
            X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"x", -1, -1, 0);
            X509_REQ_set_subject_name(req, n);
            csr_agrees(req, "another subject");

            ECDSA_SIG_free(es);
            BN_free(r0);
            BN_free(s0);
            BN_free(order);
            BN_free(t);
            OPENSSL_free(orig);
            X509_NAME_free(n);
            X509_REQ_free(req);
            EVP_PKEY_free(k);
            EVP_PKEY_free(other);
        }
}

/* Lifetimes as Vault writes them: a whole number and a unit, or several from the largest,
 * from 5 minutes to 36600 days;
 * what ch_ttl_format writes reads back the same. */
static void test_ttls(void **state)
{
    static const struct {
        const char *text;
        int64_t seconds;
    } good[] = {{"5m", 300}, {"300s", 300}, {"30m", 1800}, {"1h", 3600}, {"72h", 259200}, {"90d", 7776000},
                {"36600d", CH_TTL_MAX}, {"0090m", 5400}, {"1h30m", 5400}, {"1d12h", 129600}, {"4m60s", 300},
                {"36599d24h", CH_TTL_MAX}};
    static const char *const bad[] = {"", "0", "0h", "-5m", "+5m", "10x", "1.5h", "30m1h", "1h1h", "1h 30m", "5 m",
                                      "5M", "h", "1dh", "299s", "4m", "36601d", "878401h", "36600d1s",
                                      "99999999999999999999d", "1d99999999999999999999h", "30m ", "30"};
    char back[24];
    int64_t t;

    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(ch_ttl_parse(&t, good[i].text, "ttl"), 0);
        assert_int_equal(t, good[i].seconds);
        ch_ttl_format(back, sizeof back, t);
        assert_int_equal(ch_ttl_parse(&t, back, "ttl"), 0);
        assert_int_equal(t, good[i].seconds);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ch_ttl_parse(&t, bad[i], "max_ttl"), CH_EINVAL);
        assert_string_equal(ch_error_field(), "max_ttl");
        assert_non_null(strstr(ch_error_last(), "max_ttl must be"));
    }
    assert_int_equal(ch_ttl_parse(&t, NULL, "ttl"), CH_EINVAL);
    assert_int_equal(ch_ttl_parse(&t, "4m", "ttl"), CH_EINVAL);
    assert_string_equal(ch_error_last(), "ttl must be from 5m to 36600d, not 4m");
    /* Other bounds, the same form, the bounds said as given. */
    assert_int_equal(ch_ttl_parse_range(&t, "90m", "expires_in", 3600, 3650LL * 86400), 0);
    assert_int_equal(t, 5400);
    assert_int_equal(ch_ttl_parse_range(&t, "59m", "expires_in", 3600, 3650LL * 86400), CH_EINVAL);
    assert_string_equal(ch_error_last(), "expires_in must be from 1h to 3650d, not 59m");
    assert_int_equal(t, 0);
    assert_int_equal(ch_ttl_parse_range(&t, "36600d", "expires_in", 3600, 3650LL * 86400), CH_EINVAL);
    assert_int_equal(ch_ttl_parse_range(&t, "90x", "expires_in", 3600, 3650LL * 86400), CH_EINVAL);
    assert_non_null(strstr(ch_error_last(), "expires_in must be a whole number and a unit"));
    ch_ttl_format(back, sizeof back, 86400);
    assert_string_equal(back, "1d");
    ch_ttl_format(back, sizeof back, 129600);
    assert_string_equal(back, "36h");
    ch_ttl_format(back, sizeof back, 5400);
    assert_string_equal(back, "90m");
}

/* A lifetime in seconds beside days: exactly what was asked from now (the start a minute
 * earlier), one of the two, held to the profile's maximum and the CA's end as days are, and
 * what a renewal reads back of it. */
static void test_issue_ttl(void **state)
{
    ch_key *rk = gen(CH_KEY_P256), *lk = gen(CH_KEY_P256);
    ch_cert *root, *leaf = NULL;
    X509_NAME *n = name("CN=short.example");
    ch_profile shortp = *ch_profile_get("tls-server");
    ch_issue_opts o = {.profile = ch_profile_get("tls-server"), .subject_key = lk, .subject = n, .path_len = -2};
    int64_t before, after;

    (void)state;
    assert_int_equal(issue(&root, "root-ca", NULL, rk, rk, "CN=Root", 2, -2), 0);
    o.ca_cert = root;
    o.ca_key = rk;
    for (int64_t ttl = CH_TTL_MIN; ttl <= 86400; ttl *= 12) {
        before = ch_now();
        o.ttl = ttl;
        assert_int_equal(ch_cert_issue(&leaf, &o), 0);
        after = ch_now();
        assert_in_range(ch_cert_not_after(leaf), before + ttl, after + ttl);
        assert_int_equal(ch_cert_not_after(leaf) - ch_cert_not_before(leaf), ttl + CH_ISSUE_BACKDATE);
        assert_int_equal(ch_issue_ttl_of(ch_cert_not_before(leaf), ch_cert_not_after(leaf)), ttl);
        ch_cert_free(leaf);
    }
    /* Both, or out of range: a 400 naming ttl. */
    o.days = 1;
    assert_int_equal(ch_cert_issue(&leaf, &o), CH_EINVAL);
    assert_string_equal(ch_error_field(), "ttl");
    assert_string_equal(ch_error_last(), "give days or ttl, not both");
    o.days = 0;
    o.ttl = CH_TTL_MIN - 1;
    assert_int_equal(ch_cert_issue(&leaf, &o), CH_EINVAL);
    assert_string_equal(ch_error_field(), "ttl");
    o.ttl = -3600;
    assert_int_equal(ch_cert_issue(&leaf, &o), CH_EINVAL);
    /* Past the CA's two days: the longest that fits is offered, in the unit asked. */
    o.ttl = 72 * 3600;
    assert_int_equal(ch_cert_issue(&leaf, &o), CH_EPOLICY);
    assert_string_equal(ch_error_field(), "ttl");
    assert_non_null(strstr(ch_error_last(), "validity ends after the issuing CA's"));
    assert_true(strstr(ch_error_last(), "give a ttl of at most 48h") != NULL || /* a second later */
                strstr(ch_error_last(), "give a ttl of at most 47h") != NULL);
    o.ttl = 0;
    o.days = 3;
    assert_int_equal(ch_cert_issue(&leaf, &o), CH_EPOLICY);
    assert_string_equal(ch_error_field(), "days");
    assert_non_null(strstr(ch_error_last(), "choose fewer days (at most "));
    o.days = 0;
    o.ttl = 72 * 3600;
    o.cap_validity = true;
    assert_int_equal(ch_cert_issue(&leaf, &o), 0);
    assert_int_equal(ch_cert_not_after(leaf), ch_cert_not_after(root));
    ch_cert_free(leaf);
    o.cap_validity = false;
    /* A profile's maximum and default in seconds, and one in days, hold either form. */
    shortp.max_ttl = 7 * 86400;
    shortp.default_ttl = 86400 / 2;
    o.profile = &shortp;
    o.ttl = 0;
    assert_int_equal(ch_cert_issue(&leaf, &o), 0);
    assert_int_equal(ch_issue_ttl_of(ch_cert_not_before(leaf), ch_cert_not_after(leaf)), 43200);
    ch_cert_free(leaf);
    shortp.max_ttl = 36 * 3600;
    o.days = 2;
    assert_int_equal(ch_cert_issue(&leaf, &o), CH_EPOLICY);
    assert_string_equal(ch_error_field(), "days");
    assert_string_equal(ch_error_last(), "profile tls-server allows at most 36 hours");
    shortp.max_ttl = 0;
    shortp.max_days = 1;
    o.days = 0;
    o.ttl = 25 * 3600;
    assert_int_equal(ch_cert_issue(&leaf, &o), CH_EPOLICY);
    assert_string_equal(ch_error_field(), "ttl");
    assert_string_equal(ch_error_last(), "profile tls-server allows at most 1 day");
    X509_NAME_free(n);
    ch_cert_free(root);
    ch_key_free(rk);
    ch_key_free(lk);
}

static void test_csr_rules(void **state)
{
    ch_key *rk = gen(CH_KEY_P256), *lk = gen(CH_KEY_RSA2048);
    ch_cert *root, *leaf;
    ch_csr *csr, *back;
    X509_NAME *n = name("CN=web");
    ch_san sans[2];
    ch_csr_opts co = {.subject = n, .sans = sans, .san_count = 2};
    ch_buf pem = CH_BUF_INIT;
    ch_cert_info info;
    ch_issue_opts o = {.profile = ch_profile_get("tls-server"), .path_len = -2, .days = 10};

    (void)state;
    assert_int_equal(ch_san_parse(&sans[0], "dns:web.example"), 0);
    assert_int_equal(ch_san_parse(&sans[1], "ip:192.0.2.1"), 0);
    assert_int_equal(issue(&root, "root-ca", NULL, rk, rk, "CN=Root", 100, -2), 0);
    assert_int_equal(ch_csr_create(&csr, lk, &co), 0);
    assert_int_equal(ch_csr_verify(csr), 0);
    assert_int_equal(ch_csr_write_pem(&pem, csr), 0);
    assert_int_equal(ch_csr_parse(&back, pem.data, pem.len), 0);
    /* The key's algorithm, read without decoding it, for each type. */
    {
        static const ch_key_type types[] = {CH_KEY_RSA2048, CH_KEY_P256, CH_KEY_P384, CH_KEY_P521, CH_KEY_ED25519};
        static const int ids[] = {EVP_PKEY_RSA, EVP_PKEY_EC, EVP_PKEY_EC, EVP_PKEY_EC, EVP_PKEY_ED25519};
        static const int curves[] = {NID_undef, NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1, NID_undef};
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
            ch_key *k = gen(types[i]);
            ch_csr *c;
            int curve = -1;
            assert_int_equal(ch_csr_create(&c, k, &co), 0);
            assert_int_equal(ch_csr_key_id(c, &curve), ids[i]);
            assert_int_equal(curve, curves[i]);
            ch_csr_free(c);
            ch_key_free(k);
        }
    }
    o.ca_cert = root;
    o.ca_key = rk;
    o.csr = back;
    assert_int_equal(ch_cert_issue(&leaf, &o), 0);
    assert_int_equal(ch_cert_inspect(&info, leaf), 0);
    assert_string_equal(info.subject, "CN=web");
    assert_string_equal(info.sans[0], "dns:web.example");
    assert_string_equal(info.sans[1], "ip:192.0.2.1");
    assert_int_equal(info.key_usage, CH_KU_DIGITAL_SIGNATURE | CH_KU_KEY_ENCIPHERMENT);
    ch_cert_info_dispose(&info);
    ch_cert_free(leaf);
    /* Truncated and trailing-garbage CSRs. */
    /* Cuts that take away at least part of the END line's dashes and name (a cut of the final
     * newline alone leaves a valid PEM). */
    for (size_t k = 1; k + 8 < pem.len; k += 9) {
        ch_csr *t = NULL;
        assert_int_not_equal(ch_csr_parse(&t, pem.data, k), 0);
        assert_null(t);
    }
    ch_csr_free(back);
    ch_csr_free(csr);
    ch_buf_dispose(&pem);
    X509_NAME_free(n);
    ch_cert_free(root);
    ch_key_free(rk);
    ch_key_free(lk);
}

static void test_cert_parse_negative(void **state)
{
    ch_key *k = gen(CH_KEY_P256);
    ch_cert *c, *x;
    size_t len;
    const uint8_t *der;
    uint8_t *buf;

    (void)state;
    assert_int_equal(issue(&c, "root-ca", NULL, k, k, "CN=Root", 10, -2), 0);
    der = ch_cert_der(c, &len);
    for (size_t n = 0; n < len; n++)
        assert_int_not_equal(ch_cert_parse(&x, der, n), 0);
    buf = malloc(len + 3);
    memcpy(buf, der, len);
    memcpy(buf + len, "xyz", 3);
    assert_int_equal(ch_cert_parse(&x, buf, len + 3), CH_EPARSE);
    assert_non_null(strstr(ch_error_last(), "unexpected bytes"));
    assert_int_equal(ch_cert_parse(&x, buf, len), 0);
    assert_memory_equal(ch_cert_sha256(x), ch_cert_sha256(c), 32);
    ch_cert_free(x);
    free(buf);
    assert_int_equal(ch_cert_parse(&x, (const uint8_t *)"hello", 5), CH_EPARSE);
    assert_int_equal(ch_cert_parse(&x, (const uint8_t *)"", 0), CH_EPARSE);
    ch_cert_free(c);
    ch_key_free(k);
}

static void test_nul_in_common_name(void **state)
{
    ch_key *k = gen(CH_KEY_P256);
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    ch_cert *c;
    ch_cert_info info;
    char *cn = NULL;

    (void)state;
    /* A name that reads "good.example" to C string code and something else in full. */
    X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_ASC, (const unsigned char *)"good.example\0.evil", 18,
                               -1, 0);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, ch_key_pkey(k));
    assert_true(X509_sign(x, ch_key_pkey(k), EVP_sha256()) > 0);
    assert_int_equal(ch_cert_from_x509(&c, x), 0);
    assert_int_equal(ch_name_get(&cn, X509_get_subject_name(x), NID_commonName), CH_EPARSE);
    assert_int_equal(ch_cert_inspect(&info, c), CH_EPARSE);
    ch_cert_free(c);
    X509_free(x);
    X509_NAME_free(n);
    ch_key_free(k);
}

/* A self-signed CA certificate as `openssl req -x509` makes one with Debian's openssl.cnf
 * (v3_ca: Basic Constraints CA:true, the key identifiers, no Key Usage); with key_usage, the
 * keyCertSign and cRLSign a careful CA writes. */
static ch_cert *openssl_style_ca(const ch_key *k, const char *dn, bool key_usage)
{
    X509 *x = X509_new();
    X509_NAME *n = name(dn);
    X509V3_CTX v3;
    X509_EXTENSION *e;
    ch_cert *c = NULL;

    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400);
    X509_set_pubkey(x, ch_key_pkey(k));
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    assert_non_null(e = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:true"));
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    assert_non_null(e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_key_identifier, "hash"));
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    if (key_usage) {
        assert_non_null(e = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, "critical,keyCertSign,cRLSign"));
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, ch_key_pkey(k), EVP_sha256()) > 0);
    assert_int_equal(ch_cert_from_x509(&c, x), 0);
    X509_free(x);
    X509_NAME_free(n);
    return c;
}

/* A device's CA made with `openssl req -x509` has no Key Usage: strict checking refused every
 * certificate it signed ("CA cert does not include key usage extension"), though RFC 5280
 * 6.1.4 (n) checks keyCertSign only where Key Usage is written, and the broker's TLS let them
 * in.  One whose Key Usage lacks keyCertSign is still refused. */
static void test_chain_ca_without_key_usage(void **state)
{
    ch_key *ck = gen(CH_KEY_P256), *dk = gen(CH_KEY_P256);
    ch_cert *ca = openssl_style_ca(ck, "CN=Plain OpenSSL CA", false), *leaf = NULL, *signer = NULL;
    X509_NAME *ln = name("CN=sensor-1");
    ch_issue_opts o = {.profile = ch_profile_get("device"), .path_len = -2, .days = 10};
    ch_verify_opts vo = {.purpose = CH_PURPOSE_CLIENT, .anchor_count = 1};
    X509 *wrong;
    X509_EXTENSION *e;
    X509V3_CTX v3;

    (void)state;
    o.ca_cert = ca;
    o.ca_key = ck;
    o.subject_key = dk;
    o.subject = ln;
    assert_int_equal(ch_cert_issue(&leaf, &o), 0);
    vo.anchors = &ca;
    assert_int_equal(ch_chain_verify(leaf, &vo), 0);
    /* Key Usage written without keyCertSign: the CA may not sign certificates. */
    wrong = X509_dup(ch_cert_x509(ca));
    assert_non_null(wrong);
    X509V3_set_ctx(&v3, wrong, wrong, NULL, NULL, 0);
    assert_non_null(e = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, "critical,digitalSignature"));
    X509_add_ext(wrong, e, -1);
    X509_EXTENSION_free(e);
    assert_true(X509_sign(wrong, ch_key_pkey(ck), EVP_sha256()) > 0);
    assert_int_equal(ch_cert_from_x509(&signer, wrong), 0);
    vo.anchors = &signer;
    assert_int_equal(ch_chain_verify(leaf, &vo), CH_EVERIFY);
    X509_free(wrong);
    X509_NAME_free(ln);
    ch_cert_free(signer);
    ch_cert_free(leaf);
    ch_cert_free(ca);
    ch_key_free(ck);
    ch_key_free(dk);
}

static void test_chains(void **state)
{
    ch_key *rk = gen(CH_KEY_P256), *ik = gen(CH_KEY_P256), *lk = gen(CH_KEY_P256), *ok = gen(CH_KEY_P256);
    ch_cert *root, *inter, *leaf, *other, **chain;
    size_t n;
    ch_verify_opts vo = {0};
    X509_NAME *ln = name("CN=host.example");
    ch_san san;
    ch_issue_opts o = {.profile = ch_profile_get("tls-server"), .path_len = -2, .days = 30};

    (void)state;
    assert_int_equal(issue(&root, "root-ca", NULL, rk, rk, "CN=Root", 3650, -2), 0);
    assert_int_equal(issue(&inter, "intermediate-ca", root, rk, ik, "CN=Inter", 365, -2), 0);
    assert_int_equal(ch_san_parse(&san, "dns:host.example"), 0);
    o.ca_cert = inter;
    o.ca_key = ik;
    o.subject_key = lk;
    o.subject = ln;
    o.sans = &san;
    o.san_count = 1;
    assert_int_equal(ch_cert_issue(&leaf, &o), 0);
    assert_int_equal(issue(&other, "root-ca", NULL, ok, ok, "CN=Other", 3650, -2), 0);
    {
        ch_cert *bag[3] = {root, leaf, inter};
        assert_int_equal(ch_chain_order(&chain, &n, bag, 3), 0);
        assert_int_equal(n, 3);
        assert_ptr_equal(chain[0], leaf);
        assert_ptr_equal(chain[1], inter);
        assert_ptr_equal(chain[2], root);
        ch_cert_list_free(chain, n);
    }
    {
        ch_cert *bag[3] = {leaf, other, inter};
        assert_int_equal(ch_chain_order(&chain, &n, bag, 3), CH_EVERIFY);
    }
    /* The anchors a path from the leaf could end at, by names: the intermediate and, through
     * it, the root; not a root of another name, nor the root without the intermediate. */
    {
        ch_cert *pool[3] = {other, root, inter}, *anchors[4] = {root, other, inter, NULL};
        bool reach[4];
        assert_int_equal(ch_chain_reachable(leaf, pool, 3, anchors, 4, reach), 0);
        assert_true(reach[0] && !reach[1] && reach[2] && !reach[3]);
        assert_int_equal(ch_chain_reachable(leaf, pool, 2, anchors, 3, reach), 0);
        assert_true(!reach[0] && !reach[1] && reach[2]);
        assert_int_equal(ch_chain_reachable(leaf, NULL, 0, anchors, 3, reach), 0);
        assert_true(!reach[0] && !reach[1] && reach[2]);
    }
    vo.anchors = &root;
    vo.anchor_count = 1;
    vo.untrusted = &inter;
    vo.untrusted_count = 1;
    vo.purpose = CH_PURPOSE_SERVER;
    vo.hostname = "host.example";
    assert_int_equal(ch_chain_verify(leaf, &vo), 0);
    /* A leaf without an Authority Key Identifier (issued with it left out) verifies: its
     * issuer is found by name. */
    {
        ch_cert *noaki;
        o.leave_out = CH_EXT_AUTHORITY_KEY_ID;
        assert_int_equal(ch_cert_issue(&noaki, &o), 0);
        o.leave_out = 0;
        assert_int_equal(ch_chain_verify(noaki, &vo), 0);
        ch_cert_free(noaki);
    }
    vo.at = ch_now() + 400LL * 86400;
    assert_int_equal(ch_chain_verify(leaf, &vo), CH_EVERIFY);
    assert_non_null(strstr(ch_error_last(), "expired"));
    vo.at = ch_now() - 86400;
    assert_int_equal(ch_chain_verify(leaf, &vo), CH_EVERIFY);
    assert_non_null(strstr(ch_error_last(), "not yet valid"));
    vo.at = 0;
    vo.hostname = "other.example";
    assert_int_equal(ch_chain_verify(leaf, &vo), CH_EVERIFY);
    assert_non_null(strstr(ch_error_last(), "host name mismatch"));
    vo.hostname = NULL;
    vo.purpose = CH_PURPOSE_CLIENT;
    assert_int_equal(ch_chain_verify(leaf, &vo), CH_EVERIFY);
    assert_non_null(strstr(ch_error_last(), "client authentication"));
    vo.purpose = CH_PURPOSE_ANY;
    vo.anchors = &other;
    assert_int_equal(ch_chain_verify(leaf, &vo), CH_EVERIFY);
    assert_non_null(strstr(ch_error_last(), "unknown issuer"));
    /* A flipped signature byte. */
    {
        size_t len;
        const uint8_t *der = ch_cert_der(leaf, &len);
        uint8_t *bad = malloc(len);
        ch_cert *b;
        memcpy(bad, der, len);
        bad[len - 3] ^= 0x01;
        assert_int_equal(ch_cert_parse(&b, bad, len), 0);
        vo.anchors = &root;
        assert_int_equal(ch_chain_verify(b, &vo), CH_EVERIFY);
        assert_non_null(strstr(ch_error_last(), "signature"));
        ch_cert_free(b);
        free(bad);
    }
    X509_NAME_free(ln);
    ch_cert_free(root);
    ch_cert_free(inter);
    ch_cert_free(leaf);
    ch_cert_free(other);
    ch_key_free(rk);
    ch_key_free(ik);
    ch_key_free(lk);
    ch_key_free(ok);
}

static void test_times(void **state)
{
    char buf[32];
    int64_t t;

    (void)state;
    ch_time_format(buf, sizeof buf, 0);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    ch_time_format(buf, sizeof buf, 951782400); /* leap day 2000 */
    assert_string_equal(buf, "2000-02-29T00:00:00Z");
    assert_int_equal(ch_time_parse(&t, "2030-01-01T00:00:00Z"), 0);
    assert_int_equal(t, 1893456000);
    assert_int_equal(ch_time_parse(&t, "2030-01-01"), 0);
    assert_int_equal(t, 1893456000);
    assert_int_equal(ch_time_parse(&t, "2031-02-29"), CH_EINVAL);
    assert_int_equal(ch_time_parse(&t, "2030-13-01"), CH_EINVAL);
    /* RFC 3339 offsets: the same instant as UTC; ' ' is a query's form-decoded '+' */
    assert_int_equal(ch_time_parse(&t, "2030-01-01T02:00:00+02:00"), 0);
    assert_int_equal(t, 1893456000);
    assert_int_equal(ch_time_parse(&t, "2029-12-31T18:30:00-05:30"), 0);
    assert_int_equal(t, 1893456000);
    assert_int_equal(ch_time_parse(&t, "2030-01-01T01:00:00 01:00"), 0);
    assert_int_equal(t, 1893456000);
    assert_int_equal(ch_time_parse(&t, "2030-01-01T00:00:00+24:00"), CH_EINVAL);
    assert_int_equal(ch_time_parse(&t, "2030-01-01T00:00:00+0200"), CH_EINVAL);
    assert_int_equal(ch_time_parse(&t, "soon"), CH_EINVAL);
    /* Every time read prints as RFC 3339 and reads back: the instant in UTC stays within the
     * years 0000 to 9999, an offset or a leap second taking it past neither end. */
    assert_int_equal(ch_time_parse(&t, "9999-12-31T23:59:59Z"), 0);
    ch_time_format(buf, sizeof buf, t);
    assert_string_equal(buf, "9999-12-31T23:59:59Z");
    assert_int_equal(ch_time_parse(&t, "0000-01-01T00:00:00Z"), 0);
    ch_time_format(buf, sizeof buf, t);
    assert_string_equal(buf, "0000-01-01T00:00:00Z");
    assert_int_equal(ch_time_parse(&t, "0000-01-01T01:00:00+01:00"), 0);
    assert_int_equal(ch_time_parse(&t, "9999-12-31T23:59:59-00:01"), CH_EINVAL);
    assert_int_equal(ch_time_parse(&t, "9999-12-31T23:59:60Z"), CH_EINVAL);
    assert_int_equal(ch_time_parse(&t, "0000-01-01T00:00:00+00:01"), CH_EINVAL);
}

/* Extended key usages and policies given as OIDs: written as OpenSSL reads them back, the
 * profile's taken unless the request gives its own (an empty list: none), refused when not an
 * OID, with an arc above 2^31 - 1 (a UUID's), given twice, a named usage, more than CH_MAX_OIDS,
 * or with the EKU left out. */
static void test_issue_oids(void **state)
{
    ch_key *rk = gen(CH_KEY_P256), *lk = gen(CH_KEY_P256);
    ch_cert *root, *x = NULL;
    X509_NAME *n = name("CN=oids.example");
    static const char *const ekus[] = {"1.3.6.1.4.1.311.20.2.2", "1.3.6.1.4.1.311.21.8.2147483647.1", "0.0",
                                       "2.999.1", NULL};
    static const char *const pols[] = {"2.23.140.1.2.1", "2.5.29.32.0", "1.2.840.113549.1.1.11", NULL};
    static const char *const none[] = {NULL};
    static const char *const bad[] = {"1", "3.1", "1.40", "1.02", "1..2", "1.2.", ".1.2", "abc", "1.2.x", "1.2 ",
                                      "2.25.329800735698586629295641978511506172918", "1.2.2147483648",
                                      "2.2147483568", "10.1"};
    static const char *const twice[] = {"1.2.3", "1.2.3", NULL}, *const named[] = {"1.3.6.1.5.5.7.3.9", NULL};
    const char *many[CH_MAX_OIDS + 2];
    char many_text[CH_MAX_OIDS + 1][16];
    ch_profile prof = *ch_profile_get("tls-client");
    ch_issue_opts o;
    char text[128];

    (void)state;
    assert_int_equal(issue(&root, "root-ca", NULL, rk, rk, "CN=Root", 3650, 1), 0);
    o = (ch_issue_opts){.profile = &prof, .ca_cert = root, .ca_key = rk, .subject_key = lk, .subject = n,
                        .days = 10, .path_len = -2, .eku_oids = ekus, .policies = pols};
    assert_int_equal(ch_cert_issue(&x, &o), 0);
    {
        EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(ch_cert_x509(x), NID_ext_key_usage, NULL, NULL);
        CERTIFICATEPOLICIES *cp = X509_get_ext_d2i(ch_cert_x509(x), NID_certificate_policies, NULL, NULL);
        assert_non_null(eku);
        assert_non_null(cp);
        /* the profile's client_auth first, then the OIDs in their order */
        assert_int_equal(sk_ASN1_OBJECT_num(eku), 5);
        assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)), NID_client_auth);
        for (int i = 0; i < 4; i++) {
            OBJ_obj2txt(text, sizeof text, sk_ASN1_OBJECT_value(eku, i + 1), 1);
            assert_string_equal(text, ekus[i]);
        }
        assert_int_equal(sk_POLICYINFO_num(cp), 3);
        for (int i = 0; i < 3; i++) {
            OBJ_obj2txt(text, sizeof text, sk_POLICYINFO_value(cp, i)->policyid, 1);
            assert_string_equal(text, pols[i]);
            assert_null(sk_POLICYINFO_value(cp, i)->qualifiers);
        }
        EXTENDED_KEY_USAGE_free(eku);
        CERTIFICATEPOLICIES_free(cp);
    }
    ch_cert_free(x);
    /* The profile's, unless the request's: an empty list leaves them out. */
    prof.eku_oids = ekus;
    prof.policies = pols;
    o.eku_oids = o.policies = NULL;
    assert_int_equal(ch_cert_issue(&x, &o), 0);
    {
        CERTIFICATEPOLICIES *cp = X509_get_ext_d2i(ch_cert_x509(x), NID_certificate_policies, NULL, NULL);
        EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(ch_cert_x509(x), NID_ext_key_usage, NULL, NULL);
        assert_int_equal(sk_POLICYINFO_num(cp), 3);
        assert_int_equal(sk_ASN1_OBJECT_num(eku), 5);
        CERTIFICATEPOLICIES_free(cp);
        EXTENDED_KEY_USAGE_free(eku);
    }
    ch_cert_free(x);
    o.eku_oids = o.policies = none;
    assert_int_equal(ch_cert_issue(&x, &o), 0);
    assert_int_equal(X509_get_ext_by_NID(ch_cert_x509(x), NID_certificate_policies, -1), -1);
    {
        EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(ch_cert_x509(x), NID_ext_key_usage, NULL, NULL);
        assert_int_equal(sk_ASN1_OBJECT_num(eku), 1); /* the named one alone */
        EXTENDED_KEY_USAGE_free(eku);
    }
    ch_cert_free(x);
    prof.eku_oids = prof.policies = NULL;
    /* Refusals, each naming its field. */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *one[] = {bad[i], NULL};
        o.eku_oids = NULL;
        o.policies = one;
        assert_int_equal(ch_cert_issue(&x, &o), CH_EINVAL);
        assert_string_equal(ch_error_field(), "policy_identifiers");
        assert_int_equal(ch_oid_check(bad[i], "x"), CH_EINVAL);
    }
    for (size_t i = 0; i <= CH_MAX_OIDS; i++) {
        snprintf(many_text[i], sizeof many_text[i], "1.2.%zu", i);
        many[i] = many_text[i];
    }
    many[CH_MAX_OIDS + 1] = NULL;
    o.policies = NULL;
    o.eku_oids = many;
    assert_int_equal(ch_cert_issue(&x, &o), CH_EINVAL);
    assert_string_equal(ch_error_field(), "ext_key_usage_oids");
    many[CH_MAX_OIDS] = NULL; /* sixteen: taken */
    assert_int_equal(ch_cert_issue(&x, &o), 0);
    ch_cert_free(x);
    o.leave_out = CH_EXT_EXT_KEY_USAGE;
    assert_int_equal(ch_cert_issue(&x, &o), CH_EINVAL);
    assert_string_equal(ch_error_field(), "ext_key_usage_oids");
    o.leave_out = 0;
    o.eku_oids = NULL;
    o.policies = twice; /* (RFC 5280 4.2.1.4: a policy once) */
    assert_int_equal(ch_cert_issue(&x, &o), CH_EINVAL);
    assert_string_equal(ch_error_field(), "policy_identifiers");
    o.policies = NULL;
    o.eku_oids = named; /* ocsp_signing, given by its name where a profile's rules see it */
    assert_int_equal(ch_cert_issue(&x, &o), CH_EINVAL);
    assert_non_null(strstr(ch_error_last(), "is ocsp_signing"));
    ch_cert_free(root);
    X509_NAME_free(n);
    ch_key_free(rk);
    ch_key_free(lk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),          cmocka_unit_test(test_weak_keys_refused),
        cmocka_unit_test(test_public_keys),
        cmocka_unit_test(test_names_and_sans), cmocka_unit_test(test_issue_rules),
        cmocka_unit_test(test_csr_rules),     cmocka_unit_test(test_csr_signatures),
        cmocka_unit_test(test_cert_parse_negative),
        cmocka_unit_test(test_nul_in_common_name), cmocka_unit_test(test_chains),
        cmocka_unit_test(test_chain_ca_without_key_usage),
        cmocka_unit_test(test_times),         cmocka_unit_test(test_issued_der),
        cmocka_unit_test(test_ttls),          cmocka_unit_test(test_issue_ttl),
        cmocka_unit_test(test_issue_extension_switches),
        cmocka_unit_test(test_issue_oids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
