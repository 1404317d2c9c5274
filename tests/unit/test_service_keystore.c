/* Keystores through the service: upload, entries, certificates shared with the inventory,
 * keys sealed, export with and without the keys:export permission, tenant isolation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "certhub/formats.h"
#include "certhub/service.h"
#include "testutil.h"

static void make_jks(ch_buf *out, ch_cert **root_out)
{
    ch_key *rk, *lk;
    ch_cert *root, *leaf;
    X509_NAME *rn, *ln;
    ch_issue_opts o = {.path_len = -2, .days = 30};
    ch_keystore *ks;
    ch_export_opts eo = {.password = "changeit"};

    assert_int_equal(ch_key_generate(&rk, CH_KEY_P256), 0);
    assert_int_equal(ch_key_generate(&lk, CH_KEY_P256), 0);
    assert_int_equal(ch_name_parse(&rn, "CN=KS Root"), 0);
    assert_int_equal(ch_name_parse(&ln, "CN=ks leaf"), 0);
    o.profile = ch_profile_get("root-ca");
    o.ca_key = o.subject_key = rk;
    o.subject = rn;
    assert_int_equal(ch_cert_issue(&root, &o), 0);
    o.profile = ch_profile_get("tls-server");
    o.days = 20; /* within the root's 30 days even when the clock ticks between the two */
    o.ca_cert = root;
    o.subject_key = lk;
    o.subject = ln;
    assert_int_equal(ch_cert_issue(&leaf, &o), 0);
    assert_int_equal(ch_keystore_new(&ks), 0);
    ch_cert *chain[2] = {leaf, root};
    assert_int_equal(ch_keystore_add(ks, "server", chain, 2, lk), 0);
    assert_int_equal(ch_keystore_add(ks, "ca", &root, 1, NULL), 0);
    assert_int_equal(ch_keystore_export(out, ks, CH_FMT_JKS, &eo), 0);
    *root_out = root;
    ch_keystore_free(ks);
    ch_cert_free(leaf);
    ch_key_free(rk);
    ch_key_free(lk);
    X509_NAME_free(rn);
    X509_NAME_free(ln);
}

static void test_keystore_lifecycle(void **state)
{
    const char *dir = tu_tmpdir("svc-keystore");
    ch_svc_opts so = {.data_dir = dir};
    ch_svc *svc;
    ch_store_tenant ta, tb;
    ch_actor admin, operator, other;
    ch_buf jks = CH_BUF_INIT, out = CH_BUF_INIT, root_pem = CH_BUF_INIT;
    ch_cert *root;
    ch_store_cert imported;
    ch_store_keystore ks;
    ch_store_keystore_entry *entries;
    ch_keystore *back;
    ch_import_opts io = {.password = "exportpw"};
    ch_store_cert_filter f = {.is_ca = -1};
    int64_t before, after;
    size_t n;

    (void)state;
    assert_int_equal(ch_svc_open(&svc, &so), 0);
    assert_int_equal(ch_svc_tenant_ensure(svc, "a", &ta), 0);
    assert_int_equal(ch_svc_tenant_ensure(svc, "b", &tb), 0);
    admin = (ch_actor){ta.id, "admin", CH_ROLE_ADMIN, CH_PERM_KEYS_EXPORT, NULL};
    operator= (ch_actor){ta.id, "op", CH_ROLE_OPERATOR, 0, NULL};
    other = (ch_actor){tb.id, "b-admin", CH_ROLE_ADMIN, CH_PERM_KEYS_EXPORT, NULL};
    make_jks(&jks, &root);
    /* The root is already in the inventory: the keystore shares its row. */
    assert_int_equal(ch_cert_write_pem(&root_pem, root), 0);
    assert_int_equal(ch_svc_cert_import(svc, &admin, "root", root_pem.data, root_pem.len, NULL, 0, NULL, &imported,
                                        NULL),
                     0);
    assert_int_equal(ch_store_cert_count(ch_svc_store(svc), ta.id, &f, &before), 0);
    assert_int_equal(ch_svc_keystore_import(svc, &operator, "web", jks.data, jks.len, "wrong", NULL, &ks),
                     CH_EPASSWORD);
    assert_int_equal(ch_svc_keystore_import(svc, &operator, "web", jks.data, jks.len, "changeit", NULL, &ks), 0);
    assert_string_equal(ks.format, "jks");
    assert_int_equal(ch_store_cert_count(ch_svc_store(svc), ta.id, &f, &after), 0);
    assert_int_equal(after - before, 1); /* only the leaf is new */
    assert_int_equal(ch_svc_keystore_entries(svc, &operator, ks.id, &entries, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(entries[0].alias, "server");
    assert_non_null(entries[0].key_id);
    assert_non_null(entries[0].chain);
    assert_string_equal(entries[0].chain, imported.id);
    assert_string_equal(entries[1].alias, "ca");
    assert_null(entries[1].key_id);
    assert_string_equal(entries[1].cert_id, imported.id);
    assert_string_equal(entries[0].origin, "uploaded");
    ch_store_keystore_entry_list_free(entries, n);
    /* Another tenant sees nothing. */
    assert_int_equal(ch_svc_keystore_entries(svc, &other, ks.id, &entries, &n), CH_ENOTFOUND);
    /* Keys leave only with the permission; certificates alone need none. */
    assert_int_equal(ch_svc_keystore_export(svc, &operator, ks.id, CH_FMT_PKCS12, "exportpw", true, false, false, &out),
                     CH_EPERM);
    assert_int_equal(ch_svc_keystore_export(svc, &operator, ks.id, CH_FMT_PEM, NULL, false, false, false, &out), 0);
    assert_null(strstr((char *)out.data, "PRIVATE KEY"));
    ch_buf_dispose(&out);
    assert_int_equal(ch_svc_keystore_export(svc, &admin, ks.id, CH_FMT_PKCS12, "exportpw", true, false, false, &out), 0);
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    assert_int_equal(back->count, 2);
    assert_non_null(back->entries[0].key);
    assert_int_equal(back->entries[0].chain_len, 2);
    assert_memory_equal(ch_cert_sha256(back->entries[0].chain[1]), ch_cert_sha256(root), 32);
    ch_keystore_free(back);
    ch_buf_dispose_secure(&out);
    assert_int_equal(ch_svc_keystore_delete(svc, &other, ks.id), CH_ENOTFOUND);
    assert_int_equal(ch_svc_keystore_delete(svc, &operator, ks.id), 0);
    assert_int_equal(ch_svc_keystore_entries(svc, &operator, ks.id, &entries, &n), CH_ENOTFOUND);
    ch_store_keystore_dispose(&ks);
    ch_store_cert_dispose(&imported);
    ch_buf_dispose(&jks);
    ch_buf_dispose(&root_pem);
    ch_cert_free(root);
    ch_store_tenant_dispose(&ta);
    ch_store_tenant_dispose(&tb);
    ch_svc_close(svc);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keystore_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
