/* Unit tests of keystores and formats: round trips through every writer, detection, and the
 * limits that protect the service (iteration bombs, entry-count bombs, truncation, duplicate
 * aliases, trailing garbage). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>

#include "certhub/formats.h"
#include "testutil.h"
#include "x509/x509_internal.h"

static ch_key *root_key, *leaf_key;
static ch_cert *root, *leaf;

static int setup(void **state)
{
    X509_NAME *rn = NULL, *ln = NULL;
    ch_issue_opts o = {.path_len = -2, .days = 30};

    (void)state;
    if (ch_key_generate(&root_key, CH_KEY_P256) || ch_key_generate(&leaf_key, CH_KEY_RSA2048) ||
        ch_name_parse(&rn, "CN=Formats Root") || ch_name_parse(&ln, "CN=formats leaf"))
        return -1;
    o.profile = ch_profile_get("root-ca");
    o.ca_key = o.subject_key = root_key;
    o.subject = rn;
    if (ch_cert_issue(&root, &o))
        return -1;
    o.profile = ch_profile_get("tls-client");
    /* Shorter than the root's: issued a second later, 30 days would end after the root does,
     * which issuing refuses (the setup failed when the clock ticked between the two). */
    o.days = 20;
    o.ca_cert = root;
    o.subject_key = leaf_key;
    o.subject = ln;
    if (ch_cert_issue(&leaf, &o))
        return -1;
    X509_NAME_free(rn);
    X509_NAME_free(ln);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ch_cert_free(root);
    ch_cert_free(leaf);
    ch_key_free(root_key);
    ch_key_free(leaf_key);
    return 0;
}

static ch_keystore *sample(void)
{
    ch_keystore *ks;
    ch_cert *chain[2] = {leaf, root};

    assert_int_equal(ch_keystore_new(&ks), 0);
    assert_int_equal(ch_keystore_add(ks, "Client", chain, 2, leaf_key), 0);
    assert_int_equal(ch_keystore_add(ks, "root", &root, 1, NULL), 0);
    return ks;
}

static void check_sample(const ch_keystore *ks, bool with_key, const char *alias)
{
    const ch_ks_entry *key_entry = NULL, *trusted = NULL;

    for (size_t i = 0; i < ks->count; i++) {
        if (ks->entries[i].key)
            key_entry = &ks->entries[i];
        else if (ks->entries[i].chain_len == 1 &&
                 memcmp(ch_cert_sha256(ks->entries[i].chain[0]), ch_cert_sha256(root), 32) == 0)
            trusted = &ks->entries[i];
    }
    if (with_key) {
        assert_non_null(key_entry);
        assert_string_equal(key_entry->alias, alias);
        assert_int_equal(key_entry->chain_len, 2);
        assert_memory_equal(ch_cert_sha256(key_entry->chain[0]), ch_cert_sha256(leaf), 32);
        assert_memory_equal(ch_cert_sha256(key_entry->chain[1]), ch_cert_sha256(root), 32);
        assert_true(ch_key_public_equal(key_entry->key, leaf_key));
        assert_true(ch_key_has_private(key_entry->key));
    }
    (void)trusted;
}

static void round_trip(ch_format fmt, const char *password, bool legacy)
{
    ch_keystore *ks = sample(), *back = NULL;
    ch_buf out = CH_BUF_INIT;
    ch_export_opts eo = {.password = password, .legacy = legacy, .include_key = true};
    ch_import_opts io = {.password = password};
    ch_format detected;

    assert_int_equal(ch_keystore_export(&out, ks, fmt, &eo), 0);
    assert_int_equal(ch_format_detect(&detected, out.data, out.len), 0);
    assert_int_equal(detected, fmt);
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    /* PKCS#12 keeps aliases as friendly names, JKS in lower case, PEM has none (the CN). */
    check_sample(back, fmt != CH_FMT_PKCS7,
                 fmt == CH_FMT_JKS ? "client" : fmt == CH_FMT_PKCS12 ? "Client" : "formats leaf");
    /* Every truncation is refused, and nothing crashes.  (A PEM cut exactly between two
     * blocks is a shorter valid PEM file, so PEM cuts are checked inside blocks only.) */
    for (size_t n = 0; n < out.len; n += (out.len / 97) + 1) {
        ch_keystore *cut = NULL;
        if (fmt == CH_FMT_PEM && (n == 0 || out.data[n - 1] == '\n' || out.data[n - 1] == '-'))
            continue; /* at a block boundary, or only the end of an END line is cut away */
        assert_int_not_equal(ch_keystore_import(&cut, out.data, n, &io), 0);
        assert_null(cut);
    }
    if (password != NULL) {
        ch_keystore *w = NULL;
        io.password = "not the password";
        assert_int_equal(ch_keystore_import(&w, out.data, out.len, &io), CH_EPASSWORD);
        assert_string_equal(ch_error_last(), "wrong password for keystore (or the keystore was altered)");
        assert_null(w);
    }
    ch_keystore_free(back);
    ch_buf_dispose_secure(&out);
    ch_keystore_free(ks);
}

static void test_round_trips(void **state)
{
    (void)state;
    round_trip(CH_FMT_PKCS12, "s3cret", false);
    round_trip(CH_FMT_PKCS12, "s3cret", true);
    round_trip(CH_FMT_JKS, "s3cret", false);
    round_trip(CH_FMT_PEM, NULL, false);
    round_trip(CH_FMT_PKCS7, NULL, false);
}

static void test_detect(void **state)
{
    ch_format f;
    size_t len;
    const uint8_t *der = ch_cert_der(root, &len);

    (void)state;
    assert_int_equal(ch_format_detect(&f, der, len), 0);
    assert_int_equal(f, CH_FMT_DER);
    assert_int_equal(ch_format_detect(&f, (const uint8_t *)"\xfe\xed\xfe\xed", 4), 0);
    assert_int_equal(f, CH_FMT_JKS);
    assert_int_equal(ch_format_detect(&f, (const uint8_t *)"\xce\xce\xce\xce", 4), 0);
    assert_int_equal(f, CH_FMT_JCEKS);
    assert_int_equal(ch_format_detect(&f, (const uint8_t *)"hello", 5), CH_EUNSUPPORTED);
    assert_non_null(strstr(ch_error_last(), "PKCS#12"));
    assert_int_equal(ch_format_parse(&f, "pfx"), 0);
    assert_int_equal(f, CH_FMT_PKCS12);
    assert_int_equal(ch_format_parse(&f, "zip"), CH_EINVAL);
}

static void test_duplicate_alias(void **state)
{
    ch_keystore *ks = sample();

    (void)state;
    assert_int_equal(ch_keystore_add(ks, "root", &root, 1, NULL), CH_EEXISTS);
    assert_int_equal(ch_keystore_add(ks, "ROOT", &root, 1, NULL), CH_EEXISTS); /* one alias to Java */
    assert_int_equal(ch_keystore_add(ks, "bad\nalias", &root, 1, NULL), CH_EINVAL);
    ch_keystore_free(ks);
}

/* A PKCS#12 whose MAC claims 20,000,000 iterations is refused before any of them is run. */
static void test_pkcs12_iteration_bomb(void **state)
{
    ch_keystore *ks = sample(), *back = NULL;
    ch_buf out = CH_BUF_INIT;
    ch_export_opts eo = {.password = "pw", .include_key = true};
    ch_import_opts io = {.password = "pw"};
    const unsigned char *p;
    unsigned char *der = NULL;
    const ASN1_INTEGER *iter;
    PKCS12 *p12;
    int len;

    (void)state;
    assert_int_equal(ch_keystore_export(&out, ks, CH_FMT_PKCS12, &eo), 0);
    p = out.data;
    p12 = d2i_PKCS12(NULL, &p, (long)out.len);
    assert_non_null(p12);
    PKCS12_get0_mac(NULL, NULL, NULL, &iter, p12);
    assert_non_null(iter);
    assert_int_equal(ASN1_INTEGER_set((ASN1_INTEGER *)iter, 20000000), 1);
    len = i2d_PKCS12(p12, &der);
    assert_true(len > 0);
    assert_int_equal(ch_keystore_import(&back, der, (size_t)len, &io), CH_ETOOBIG);
    assert_non_null(strstr(ch_error_last(), "iteration"));
    OPENSSL_free(der);
    PKCS12_free(p12);
    ch_buf_dispose(&out);
    ch_keystore_free(ks);
}

/* A PKCS#12 of many copies of one encrypted key: each derivation within the limit, all of
 * them together over the file's budget (a tenth of a second to make, hours asked of the
 * service at the limit).  Here with a budget of 5,000 iterations and bags of 2,048. */
static void test_pkcs12_derivation_budget(void **state)
{
    STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
    STACK_OF(PKCS7) *safes = NULL;
    PKCS12_SAFEBAG *bag;
    PKCS12 *p12;
    unsigned char *der = NULL;
    ch_keystore *back = NULL;
    ch_import_opts io = {.password = "pw"};
    int len;

    (void)state;
    bag = PKCS12_add_key_ex(&bags, ch_key_pkey(leaf_key), 0, 2048, NID_aes_256_cbc, "pw", NULL, NULL);
    assert_non_null(bag);
    for (int i = 0; i < 4; i++)
        assert_true(sk_PKCS12_SAFEBAG_push(bags, ASN1_item_dup(ASN1_ITEM_rptr(PKCS12_SAFEBAG), bag)) > 0);
    assert_int_equal(PKCS12_add_safe_ex(&safes, bags, -1, 0, NULL, NULL, NULL), 1);
    p12 = PKCS12_add_safes_ex(safes, 0, NULL, NULL);
    assert_non_null(p12);
    len = i2d_PKCS12(p12, &der);
    assert_true(len > 0);
    x509_kdf_budget_set(5000);
    assert_int_equal(ch_keystore_import(&back, der, (size_t)len, &io), CH_ETOOBIG);
    assert_non_null(strstr(ch_error_last(), "key-derivation iterations in all"));
    x509_kdf_budget_set(0);
    /* The same file within the budget is read (its keys, without a certificate, skipped). */
    assert_int_not_equal(ch_keystore_import(&back, der, (size_t)len, &io), CH_ETOOBIG);
    ch_keystore_free(back);
    OPENSSL_free(der);
    PKCS12_free(p12);
    sk_PKCS7_pop_free(safes, PKCS7_free);
    sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
}

/* Appends the JKS digest for password "pw" over buf. */
static void jks_seal(ch_buf *buf)
{
    static const uint8_t pw[] = {0, 'p', 0, 'w'};
    uint8_t md[20];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
    EVP_DigestUpdate(ctx, pw, sizeof pw);
    EVP_DigestUpdate(ctx, "Mighty Aphrodite", 16);
    EVP_DigestUpdate(ctx, buf->data, buf->len);
    EVP_DigestFinal_ex(ctx, md, NULL);
    EVP_MD_CTX_free(ctx);
    assert_int_equal(ch_buf_put(buf, md, 20), 0);
}

static void test_jks_limits(void **state)
{
    ch_import_opts io = {.password = "pw"};
    ch_keystore *ks = NULL, *two = sample();
    ch_buf b = CH_BUF_INIT, out = CH_BUF_INIT;
    ch_export_opts eo = {.password = "pw"};

    (void)state;
    /* An entry count of 2^31 with a valid digest: refused before any allocation. */
    assert_int_equal(ch_buf_put(&b, "\xfe\xed\xfe\xed\x00\x00\x00\x02\x7f\xff\xff\xff", 12), 0);
    jks_seal(&b);
    assert_int_equal(ch_keystore_import(&ks, b.data, b.len, &io), CH_ETOOBIG);
    b.len = 0;
    /* One trusted entry whose certificate length runs past the end. */
    assert_int_equal(ch_buf_put(&b, "\xfe\xed\xfe\xed\x00\x00\x00\x02\x00\x00\x00\x01", 12), 0);
    assert_int_equal(ch_buf_put(&b, "\x00\x00\x00\x02\x00\x01" "a" "\x00\x00\x00\x00\x00\x00\x00\x00", 15), 0);
    assert_int_equal(ch_buf_put(&b, "\x00\x05X.509\xff\xff\xff\xff", 11), 0);
    jks_seal(&b);
    assert_int_equal(ch_keystore_import(&ks, b.data, b.len, &io), CH_EPARSE);
    b.len = 0;
    /* Two entries with the same alias ("client" and "CLIENT" are one in JKS, which certhub
     * writes in lower case: this one is another writer's). */
    assert_int_equal(ch_keystore_add(two, "Clienx", &root, 1, NULL), 0);
    assert_int_equal(ch_keystore_export(&out, two, CH_FMT_JKS, &eo), 0);
    {
        uint8_t *at = (uint8_t *)ch_mem_find(out.data, out.data + out.len, "\x00\x06" "clienx", 8);
        assert_non_null(at);
        memcpy(at + 2, "CLIENT", 6);
        out.len -= 20;
        jks_seal(&out);
    }
    assert_int_equal(ch_keystore_import(&ks, out.data, out.len, &io), CH_EEXISTS);
    /* Garbage after a valid keystore breaks its digest. */
    ch_keystore_free(two);
    two = sample();
    out.len = 0;
    assert_int_equal(ch_keystore_export(&out, two, CH_FMT_JKS, &eo), 0);
    assert_int_equal(ch_buf_put(&out, "xyz", 3), 0);
    assert_int_equal(ch_keystore_import(&ks, out.data, out.len, &io), CH_EPASSWORD);
    /* No password at all. */
    io.password = NULL;
    assert_int_equal(ch_keystore_import(&ks, out.data, out.len - 3, &io), CH_EPASSWORD);
    ch_keystore_free(two);
    ch_buf_dispose(&b);
    ch_buf_dispose(&out);
}

static void put_be(ch_buf *b, uint64_t v, int bytes)
{
    uint8_t t[8];

    for (int i = 0; i < bytes; i++)
        t[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    assert_int_equal(ch_buf_put(b, t, (size_t)bytes), 0);
}

/* A JCEKS keystore (store password "pw") of one key entry, the leaf's key protected with Sun's
 * PBEWithMD5AndTripleDES under key_pw, one iteration: keytool's files take a second a key
 * password to try. */
static void jceks_sample(ch_buf *out, const char *key_pw)
{
    static const uint8_t salt[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const uint8_t oid[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x2a, 0x02, 0x13, 0x01};
    uint8_t derived[32], enc[4096];
    ch_buf key = CH_BUF_INIT, blob = CH_BUF_INIT;
    const uint8_t *der;
    size_t der_len, at;
    int outl = 0, fin = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

    for (int h = 0; h < 2; h++) {
        unsigned dl = 16;
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        EVP_DigestInit_ex(m, EVP_md5(), NULL);
        EVP_DigestUpdate(m, salt + 4 * h, 4);
        EVP_DigestUpdate(m, key_pw, strlen(key_pw));
        EVP_DigestFinal_ex(m, derived + 16 * h, &dl);
        EVP_MD_CTX_free(m);
    }
    assert_int_equal(ch_key_write_der(&key, leaf_key), 0);
    assert_true(key.len + 8 <= sizeof enc);
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_des_ede3_cbc(), NULL, derived, derived + 24), 1);
    assert_int_equal(EVP_EncryptUpdate(c, enc, &outl, key.data, (int)key.len), 1);
    assert_int_equal(EVP_EncryptFinal_ex(c, enc + outl, &fin), 1);
    EVP_CIPHER_CTX_free(c);
    /* EncryptedPrivateKeyInfo { { OID, PBEParameter { salt, 1 } }, enc } */
    assert_int_equal(x509_der_tlv(&blob, 0x06, oid, sizeof oid), 0);
    at = blob.len;
    assert_int_equal(x509_der_tlv(&blob, 0x04, salt, sizeof salt), 0);
    assert_int_equal(x509_der_tlv(&blob, 0x02, "\x01", 1), 0);
    assert_int_equal(x509_der_wrap(&blob, at, 0x30), 0);
    assert_int_equal(x509_der_wrap(&blob, 0, 0x30), 0);
    assert_int_equal(x509_der_tlv(&blob, 0x04, enc, (size_t)(outl + fin)), 0);
    assert_int_equal(x509_der_wrap(&blob, 0, 0x30), 0);

    out->len = 0;
    put_be(out, 0xcecececeu, 4);
    put_be(out, 2, 4);
    put_be(out, 1, 4);
    put_be(out, 1, 4);                            /* a private key entry */
    put_be(out, 1, 2);
    assert_int_equal(ch_buf_put(out, "k", 1), 0); /* its alias */
    put_be(out, 0, 8);                            /* its date */
    put_be(out, blob.len, 4);
    assert_int_equal(ch_buf_put(out, blob.data, blob.len), 0);
    put_be(out, 1, 4);                            /* a chain of one */
    put_be(out, 5, 2);
    assert_int_equal(ch_buf_put(out, "X.509", 5), 0);
    der = ch_cert_der(leaf, &der_len);
    put_be(out, der_len, 4);
    assert_int_equal(ch_buf_put(out, der, der_len), 0);
    jks_seal(out);
    ch_buf_dispose_secure(&key);
    ch_buf_dispose(&blob);
}

/* A JCEKS key under a wrong key password: always the wrong password.  Its cipher has no check
 * of its own, and about one wrong password in 256 decrypts to padding that looks right: the
 * garbage was read as a key ("not a private key"), and a test of keytool's files failed now
 * and then.  Three thousand wrong passwords meet such padding many times over. */
static void test_jceks_wrong_key_password(void **state)
{
    ch_keystore *ks = NULL;
    ch_buf b = CH_BUF_INIT;
    ch_import_opts io = {.password = "pw", .key_password = "right-pw"};
    char pw[32];

    (void)state;
    jceks_sample(&b, "right-pw");
    assert_int_equal(ch_keystore_import(&ks, b.data, b.len, &io), 0);
    assert_int_equal(ks->count, 1);
    assert_non_null(ks->entries[0].key);
    assert_true(ch_cert_matches_key(ks->entries[0].chain[0], ks->entries[0].key));
    ch_keystore_free(ks);
    for (int i = 0; i < 3000; i++) {
        snprintf(pw, sizeof pw, "wrong-%d", i);
        jceks_sample(&b, pw);
        ks = NULL;
        assert_int_equal(ch_keystore_import(&ks, b.data, b.len, &io), CH_EPASSWORD);
        assert_string_equal(ch_error_field(), "key_password");
        assert_null(ks);
    }
    ch_buf_dispose(&b);
}

/* An alias at the maximum length survives a JKS round trip; one byte more is refused. */
static void test_alias_limits(void **state)
{
    char alias[CH_MAX_NAME_LEN + 2];
    ch_keystore *ks, *back = NULL;
    ch_buf out = CH_BUF_INIT;
    ch_export_opts eo = {.password = "pw"};
    ch_import_opts io = {.password = "pw"};

    (void)state;
    memset(alias, 'a', sizeof alias);
    alias[CH_MAX_NAME_LEN] = '\0';
    assert_int_equal(ch_keystore_new(&ks), 0);
    assert_int_equal(ch_keystore_add(ks, alias, &root, 1, NULL), 0);
    assert_int_equal(ch_keystore_export(&out, ks, CH_FMT_JKS, &eo), 0);
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    assert_string_equal(back->entries[0].alias, alias);
    alias[CH_MAX_NAME_LEN] = 'a';
    alias[CH_MAX_NAME_LEN + 1] = '\0';
    assert_int_equal(ch_keystore_add(ks, alias, &root, 1, NULL), CH_EINVAL);
    ch_keystore_free(back);
    ch_keystore_free(ks);
    ch_buf_dispose(&out);
}

static bool holds(const ch_buf *b, const char *bytes, size_t n)
{
    for (size_t i = 0; i + n <= b->len; i++)
        if (memcmp(b->data + i, bytes, n) == 0)
            return true;
    return false;
}

/* An alias in any script, a character beyond U+FFFF (an emoji) too: PKCS#12 keeps it as it is
 * (a surrogate pair in its BMPString), JKS in Java's modified UTF-8 (the pair, three bytes a
 * half: what keytool reads), lower case as JKS keeps aliases. */
static void test_alias_any_script(void **state)
{
    static const char alias[] = "Zertifikat f\xc3\xbcr M\xc3\xbcller \xe2\x9c\x93 \xe8\xa8\xbc \xf0\x9f\x94\x92";
    ch_cert *chain[2] = {leaf, root};
    ch_keystore *ks, *back = NULL;
    ch_buf out = CH_BUF_INIT;
    ch_export_opts eo = {.password = "pw"};
    ch_import_opts io = {.password = "pw"};

    (void)state;
    assert_int_equal(ch_keystore_new(&ks), 0);
    assert_int_equal(ch_keystore_add(ks, alias, chain, 2, leaf_key), 0);
    assert_int_equal(ch_keystore_export(&out, ks, CH_FMT_PKCS12, &eo), 0);
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    assert_string_equal(back->entries[0].alias, alias);
    ch_keystore_free(back);
    out.len = 0;
    assert_int_equal(ch_keystore_export(&out, ks, CH_FMT_JKS, &eo), 0);
    assert_true(holds(&out, "\xed\xa0\xbd\xed\xb4\x92", 6));  /* U+1F512 as D83D DD12 */
    assert_false(holds(&out, "\xf0\x9f\x94\x92", 4)); /* not as UTF-8 */
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    assert_string_equal(back->entries[0].alias,
                        "zertifikat f\xc3\xbcr m\xc3\xbcller \xe2\x9c\x93 \xe8\xa8\xbc \xf0\x9f\x94\x92");
    ch_keystore_free(back);
    ch_keystore_free(ks);
    ch_buf_dispose_secure(&out);
}

/* A PKCS#12 under the empty password: its MAC the empty string's (two NUL bytes, as Java and
 * `openssl pkcs12 -passin pass:` take it), read back with "" or none, not with another. */
static void test_pkcs12_empty_password(void **state)
{
    ch_keystore *ks = sample(), *back = NULL;
    ch_buf out = CH_BUF_INIT;
    ch_export_opts eo = {.password = ""};
    ch_import_opts io = {.password = ""};
    const unsigned char *p;
    PKCS12 *p12;

    (void)state;
    assert_int_equal(ch_keystore_export(&out, ks, CH_FMT_PKCS12, &eo), 0);
    p = out.data;
    p12 = d2i_PKCS12(NULL, &p, (long)out.len);
    assert_non_null(p12);
    assert_int_equal(PKCS12_verify_mac(p12, "", -1), 1);
    PKCS12_free(p12);
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    check_sample(back, true, "Client");
    ch_keystore_free(back);
    io.password = NULL;
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    ch_keystore_free(back);
    io.password = "s3cret";
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), CH_EPASSWORD);
    /* legacy too (3DES, SHA-1 MAC) */
    out.len = 0;
    eo.legacy = true;
    assert_int_equal(ch_keystore_export(&out, ks, CH_FMT_PKCS12, &eo), 0);
    io.password = "";
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    ch_keystore_free(back);
    /* None at all is still refused, and JKS takes no empty one (keytool refuses it). */
    out.len = 0;
    eo.password = NULL;
    assert_int_equal(ch_keystore_export(&out, ks, CH_FMT_PKCS12, &eo), CH_EINVAL);
    assert_string_equal(ch_error_field(), "password");
    eo.password = "";
    assert_int_equal(ch_keystore_export(&out, ks, CH_FMT_JKS, &eo), CH_EINVAL);
    assert_string_equal(ch_error_field(), "password");
    assert_non_null(strstr(ch_error_last(), "keytool refuses"));
    assert_int_equal(out.len, 0);
    ch_keystore_free(ks);
    ch_buf_dispose_secure(&out);
}

/* A JKS whose keys have a password of their own (keytool -keypass): the store's does not open
 * them, the key password does; a PKCS#12 takes none but its own password. */
static void test_jks_key_password(void **state)
{
    ch_keystore *ks = sample(), *back = NULL;
    ch_buf out = CH_BUF_INIT;
    ch_export_opts eo = {.password = "storepw", .key_password = "keypw"};
    ch_import_opts io = {.password = "storepw"};

    (void)state;
    assert_int_equal(ch_keystore_export(&out, ks, CH_FMT_JKS, &eo), 0);
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), CH_EPASSWORD);
    assert_string_equal(ch_error_field(), "key_password");
    io.keys_optional = true;
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    for (size_t i = 0; i < back->count; i++)
        assert_null(back->entries[i].key);
    ch_keystore_free(back);
    /* The key password without the store's (inspect --key-password-file alone): listed
     * unchecked as without any, every key still closed. */
    io.password = NULL;
    io.key_password = "keypw";
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    {
        size_t locked = 0;
        for (size_t i = 0; i < back->count; i++) {
            assert_null(back->entries[i].key);
            locked += back->entries[i].key_locked;
        }
        assert_true(locked > 0);
    }
    assert_non_null(strstr(back->notes, "integrity was not checked"));
    assert_non_null(strstr(back->notes, "the keystore's password was not given"));
    ch_keystore_free(back);
    io.password = "storepw";
    io.keys_optional = false;
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    check_sample(back, true, "client");
    ch_keystore_free(back);
    /* The key password as the store's: what it was without one. */
    out.len = 0;
    eo.key_password = "storepw";
    io.key_password = NULL;
    assert_int_equal(ch_keystore_export(&out, ks, CH_FMT_JKS, &eo), 0);
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    check_sample(back, true, "client");
    ch_keystore_free(back);
    /* Where it has no place: refused, naming it, nothing written. */
    out.len = 0;
    eo.key_password = "keypw";
    assert_int_equal(ch_keystore_export(&out, ks, CH_FMT_PKCS12, &eo), CH_EINVAL);
    assert_string_equal(ch_error_field(), "key_password");
    eo.key_password = "storepw";
    assert_int_equal(ch_keystore_export(&out, ks, CH_FMT_PKCS12, &eo), 0); /* the same: one password */
    out.len = 0;
    eo.key_password = "keypw";
    eo.include_key = true;
    assert_int_equal(ch_keystore_export(&out, ks, CH_FMT_PEM, &eo), CH_EINVAL);
    eo.include_key = false;
    eo.certs_only = true;
    assert_int_equal(ch_keystore_export(&out, ks, CH_FMT_JKS, &eo), CH_EINVAL);
    eo.certs_only = false;
    eo.key_password = "";
    assert_int_equal(ch_keystore_export(&out, ks, CH_FMT_JKS, &eo), CH_EINVAL);
    assert_string_equal(ch_error_field(), "key_password");
    assert_int_equal(out.len, 0);
    ch_keystore_free(ks);
    ch_buf_dispose_secure(&out);
}

/* A truststore keeps an entry's alias whole however long it may be, and cuts one longer than
 * the room left for a suffix between two characters. */
static void test_truststore_long_alias(void **state)
{
    char alias[CH_MAX_NAME_LEN + 1] = "";
    ch_cert *chain[2] = {leaf, root};
    ch_keystore *ks, *back = NULL;
    ch_buf out = CH_BUF_INIT;
    ch_export_opts eo = {.password = "pw", .certs_only = true};
    ch_import_opts io = {.password = "pw"};

    (void)state;
    for (int i = 0; i < 100; i++)
        strcat(alias, "\xe8\xa8\xbc"); /* 300 bytes */
    assert_int_equal(ch_keystore_new(&ks), 0);
    assert_int_equal(ch_keystore_add(ks, alias, chain, 2, leaf_key), 0);
    assert_int_equal(ch_keystore_export(&out, ks, CH_FMT_JKS, &eo), 0);
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    assert_int_equal(back->count, 2);
    assert_string_equal(back->entries[0].alias, alias);
    ch_keystore_free(back);
    ch_keystore_free(ks);
    for (int i = 100; i < 340; i++)
        strcat(alias, "\xe8\xa8\xbc"); /* 1020 bytes: cut to 338 characters */
    assert_int_equal(ch_keystore_new(&ks), 0);
    assert_int_equal(ch_keystore_add(ks, alias, chain, 2, leaf_key), 0);
    out.len = 0;
    assert_int_equal(ch_keystore_export(&out, ks, CH_FMT_PKCS12, &eo), 0);
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    assert_int_equal(strlen(back->entries[0].alias), 1014);
    assert_memory_equal(back->entries[0].alias, alias, 1014);
    ch_keystore_free(back);
    ch_keystore_free(ks);
    ch_buf_dispose(&out);
}

/* A keystore's aliases come from whoever wrote it and are shown as they are read: what is not
 * UTF-8 and each control character (a terminal's CSI, a right-to-left override) read as '_',
 * in JKS and PKCS#12 alike. */
static void test_alias_read_safe(void **state)
{
    static const struct {
        const char *given, *read;
    } cases[] = {
        {"csi\xc2\x9b" "31mred", "csi_31mred"},
        {"evil\xe2\x80\xae" "gpj.exe", "evil_gpj.exe"},
        {"iso\xe2\x81\xa6x\xe2\x81\xa9", "iso_x_"},
        {"bad\xffname", "bad_name"},
        {"cut\xe2\x82", "cut__"},
        {"lone \xed\xa0\xbd surrogate", "lone ___ surrogate"},
        {"fine \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xf0\x9f\x94\x92", "fine \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xf0\x9f\x94\x92"},
    };
    ch_export_opts eo = {.password = "pw"};
    ch_import_opts io = {.password = "pw"};
    ch_buf out = CH_BUF_INIT;
    ch_keystore *ks, *back = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ch_format fmts[] = {CH_FMT_JKS, CH_FMT_PKCS12};
        for (size_t f = 0; f < 2; f++) {
            /* (PKCS#12's BMPString holds no byte that is not UTF-8: those go by JKS alone) */
            if (fmts[f] == CH_FMT_PKCS12 && !ch_utf8_valid(cases[i].given))
                continue;
            assert_int_equal(ch_keystore_new(&ks), 0);
            assert_int_equal(ch_keystore_add(ks, cases[i].given, &root, 1, NULL), 0);
            out.len = 0;
            assert_int_equal(ch_keystore_export(&out, ks, fmts[f], &eo), 0);
            assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
            assert_int_equal(back->count, 1);
            assert_true(ch_utf8_valid(back->entries[0].alias));
            assert_int_equal(strcasecmp(back->entries[0].alias, cases[i].read), 0); /* (JKS: lower case) */
            ch_keystore_free(back);
            back = NULL;
            ch_keystore_free(ks);
        }
    }
    ch_buf_dispose(&out);
}

/* "Web" and "web" are one alias to Java (keytool keeps one entry of the two; a JKS is written
 * in lower case): the second is made another, in a keystore read and in a truststore written. */
static void test_alias_case(void **state)
{
    ch_export_opts eo = {.password = "pw"};
    ch_import_opts io = {.password = "pw"};
    ch_cert *chain[2] = {leaf, root};
    ch_buf out = CH_BUF_INIT;
    ch_keystore *ks, *back = NULL;

    (void)state;
    /* Two entries whose aliases differ in case alone: refused as two of one alias, as keytool
     * would take them; two certificates whose names do, read from a PKCS#12 (as openssl
     * writes one), two aliases. */
    assert_int_equal(ch_keystore_new(&ks), 0);
    assert_int_equal(ch_keystore_add(ks, "Web", chain, 2, leaf_key), 0);
    assert_int_equal(ch_keystore_add(ks, "web", &root, 1, NULL), CH_EEXISTS);
    ch_keystore_free(ks);
    {
        STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
        STACK_OF(PKCS7) *safes = NULL;
        PKCS12_SAFEBAG *bag;
        PKCS12 *p12;
        unsigned char *der = NULL;
        int len;
        assert_non_null(bag = PKCS12_add_cert(&bags, ch_cert_x509(leaf)));
        assert_int_equal(PKCS12_add_friendlyname_asc(bag, "Web", -1), 1);
        assert_non_null(bag = PKCS12_add_cert(&bags, ch_cert_x509(root)));
        assert_int_equal(PKCS12_add_friendlyname_asc(bag, "web", -1), 1);
        /* and an entry the file itself names web-2: the rename above takes another name */
        assert_non_null(bag = PKCS12_add_cert(&bags, ch_cert_x509(root)));
        assert_int_equal(PKCS12_add_friendlyname_asc(bag, "web-2", -1), 1);
        assert_non_null(PKCS12_add_safe(&safes, bags, -1, 0, NULL));
        assert_non_null(p12 = PKCS12_add_safes(safes, 0));
        assert_int_equal(PKCS12_set_mac(p12, "pw", -1, NULL, 0, 2048, NULL), 1);
        assert_true((len = i2d_PKCS12(p12, &der)) > 0);
        assert_int_equal(ch_keystore_import(&back, der, (size_t)len, &io), 0);
        assert_int_equal(back->count, 3);
        assert_string_equal(back->entries[0].alias, "Web");
        assert_string_equal(back->entries[1].alias, "web-3");
        assert_string_equal(back->entries[2].alias, "web-2");
        assert_non_null(back->notes); /* said, not done without a word */
        assert_non_null(strstr(back->notes, "alias \"web\" is another entry's (aliases are unique without regard to "
                                            "case): this entry is \"web-3\""));
        assert_null(strstr(back->notes, "alias \"web-2\""));
        ch_keystore_free(back);
        back = NULL;
        OPENSSL_free(der);
        PKCS12_free(p12);
        sk_PKCS7_pop_free(safes, PKCS7_free);
        sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
    }
    /* A truststore whose entry's alias is its CA's name in another case: two trusted entries. */
    assert_int_equal(ch_keystore_new(&ks), 0);
    assert_int_equal(ch_keystore_add(ks, "FORMATS ROOT", chain, 2, leaf_key), 0);
    eo.certs_only = true;
    out.len = 0;
    assert_int_equal(ch_keystore_export(&out, ks, CH_FMT_JKS, &eo), 0);
    assert_true(holds(&out, "formats root-2", 14)); /* (certhub's reading would have made it so) */
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    assert_int_equal(back->count, 2);
    assert_string_equal(back->entries[0].alias, "formats root");
    assert_string_equal(back->entries[1].alias, "formats root-2");
    ch_keystore_free(back);
    ch_keystore_free(ks);
    ch_buf_dispose(&out);
}

static void test_pem_grouping(void **state)
{
    ch_buf pem = CH_BUF_INIT;
    ch_keystore *ks = NULL;
    ch_import_opts io = {0};

    (void)state;
    /* Root first, key in the middle, leaf last: grouped into one entry, chain leaf first. */
    assert_int_equal(ch_cert_write_pem(&pem, root), 0);
    assert_int_equal(ch_key_write_pem(&pem, leaf_key, NULL), 0);
    assert_int_equal(ch_cert_write_pem(&pem, leaf), 0);
    assert_int_equal(ch_keystore_import(&ks, pem.data, pem.len, &io), 0);
    assert_int_equal(ks->count, 1);
    assert_int_equal(ks->entries[0].chain_len, 2);
    assert_memory_equal(ch_cert_sha256(ks->entries[0].chain[0]), ch_cert_sha256(leaf), 32);
    assert_non_null(ks->entries[0].key);
    assert_string_equal(ks->entries[0].alias, "formats leaf");
    ch_keystore_free(ks);
    ch_buf_dispose_secure(&pem);
    /* Only certificates of one chain: one entry without a key. */
    assert_int_equal(ch_cert_write_pem(&pem, root), 0);
    assert_int_equal(ch_cert_write_pem(&pem, leaf), 0);
    assert_int_equal(ch_keystore_import(&ks, pem.data, pem.len, &io), 0);
    assert_int_equal(ks->count, 1);
    assert_int_equal(ks->entries[0].chain_len, 2);
    assert_null(ks->entries[0].key);
    ch_keystore_free(ks);
    ch_buf_dispose(&pem);
    assert_int_equal(ch_keystore_import(&ks, (const uint8_t *)"", 0, &io), CH_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),      cmocka_unit_test(test_detect),
        cmocka_unit_test(test_duplicate_alias),  cmocka_unit_test(test_pkcs12_iteration_bomb),
        cmocka_unit_test(test_jks_limits),       cmocka_unit_test(test_pem_grouping),
        cmocka_unit_test(test_alias_limits),     cmocka_unit_test(test_alias_any_script),
        cmocka_unit_test(test_pkcs12_empty_password), cmocka_unit_test(test_jks_key_password),
        cmocka_unit_test(test_truststore_long_alias),   cmocka_unit_test(test_jceks_wrong_key_password),
        cmocka_unit_test(test_pkcs12_derivation_budget), cmocka_unit_test(test_alias_read_safe),
        cmocka_unit_test(test_alias_case),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
