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
#include <sqlite3.h>

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
    ch_svc_export_opts p12 = {.fmt = CH_FMT_PKCS12, .password = "exportpw"}, pem = {.fmt = CH_FMT_PEM};
    char unset[] = "unset", *name = unset;
    ch_store_cert_filter f = {.is_ca = -1};
    int64_t before, after;
    size_t n;

    (void)state;
    assert_int_equal(ch_svc_open(&svc, &so), 0);
    assert_int_equal(ch_svc_tenant_ensure(svc, "a", &ta), 0);
    assert_int_equal(ch_svc_tenant_ensure(svc, "b", &tb), 0);
    admin = (ch_actor){ta.id, "admin", CH_ROLE_ADMIN, CH_PERM_KEYS_EXPORT, NULL, NULL};
    operator= (ch_actor){ta.id, "op", CH_ROLE_OPERATOR, 0, NULL, NULL};
    other = (ch_actor){tb.id, "b-admin", CH_ROLE_ADMIN, CH_PERM_KEYS_EXPORT, NULL, NULL};
    make_jks(&jks, &root);
    /* The root is already in the inventory: the keystore shares its row. */
    assert_int_equal(ch_cert_write_pem(&root_pem, root), 0);
    assert_int_equal(ch_svc_cert_import(svc, &admin, "root", root_pem.data, root_pem.len, NULL, 0, NULL, NULL, &imported,
                                        NULL, NULL),
                     0);
    assert_int_equal(ch_store_cert_count(ch_svc_store(svc), ta.id, &f, &before), 0);
    assert_int_equal(ch_svc_keystore_import(svc, &operator, "web", jks.data, jks.len, "wrong", NULL, &ks, NULL, NULL, NULL, NULL),
                     CH_EPASSWORD);
    assert_int_equal(
        ch_svc_keystore_import(svc, &operator, "web", jks.data, jks.len, "changeit", NULL, &ks, NULL, NULL, NULL, NULL), 0);
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
    /* Keys leave only with the permission; certificates alone need none.  The export hands back
     * the keystore's name as it read it (certhubd offers the file under it), and nothing when
     * refused. */
    assert_int_equal(ch_svc_keystore_export(svc, &operator, ks.id, &p12, &out, &name), CH_EPERM);
    assert_null(name);
    assert_int_equal(ch_svc_keystore_export(svc, &operator, ks.id, &pem, &out, &name), 0);
    assert_string_equal(name, "web");
    free(name);
    assert_null(strstr((char *)out.data, "PRIVATE KEY"));
    ch_buf_dispose(&out);
    assert_int_equal(ch_svc_keystore_export(svc, &admin, ks.id, &p12, &out, NULL), 0);
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

/* The number of rows of the actor's audit log, and the detail of the last. */
static size_t audit_rows(ch_svc *svc, const ch_actor *actor, char *last, size_t cap)
{
    ch_store_audit *rows = NULL;
    size_t n = 0;
    int64_t next = 0;

    assert_int_equal(ch_svc_audit_list(svc, actor, NULL, 1000, &rows, &n, &next), 0);
    if (last != NULL)
        snprintf(last, cap, "%s", n > 0 && rows[n - 1].detail ? rows[n - 1].detail : "");
    ch_store_audit_list_free(rows, n);
    return n;
}

/* A certificate's export (cert: id is a certificate's) or a keystore's (id a keystore's). */
static int export_as(ch_svc *svc, const ch_actor *a, bool cert, const char *id, const ch_svc_export_opts *o,
                     ch_buf *out)
{
    return cert ? ch_svc_cert_export(svc, a, id, o, out, NULL) : ch_svc_keystore_export(svc, a, id, o, out, NULL);
}

/* What an export may be asked for beyond its format: the alias of one certificate's entry, a
 * PKCS#12 under the empty password, a JKS key password of its own; each refused, naming its
 * field and changing nothing (no audit row), where it has no place. */
static void test_export_options(void **state)
{
    const char *dir = tu_tmpdir("svc-export");
    ch_svc_opts so = {.data_dir = dir};
    ch_svc *svc;
    ch_store_tenant ta;
    ch_actor admin;
    ch_buf jks = CH_BUF_INIT, out = CH_BUF_INIT;
    ch_cert *root;
    ch_store_keystore ks;
    ch_store_keystore_entry *entries;
    ch_keystore *back;
    ch_import_opts io = {.password = "storepw"};
    char cert_id[CH_ID_MAX], detail[512], long_alias[4 * 129 + 1] = "", *name = NULL;
    size_t n, rows;
    static const struct {
        bool cert;
        ch_svc_export_opts o;
        const char *field, *says;
    } refused[] = {
        {false, {.fmt = CH_FMT_PKCS12, .password = "pw", .alias = "tomcat"}, "alias", "keep the aliases"},
        {true, {.fmt = CH_FMT_PEM, .include_key = true, .alias = "tomcat"}, "alias", "pem, der and p7b"},
        {true, {.fmt = CH_FMT_PKCS7, .alias = "tomcat"}, "alias", "pem, der and p7b"},
        {true, {.fmt = CH_FMT_JKS, .password = "storepw", .alias = ""}, "alias", "1 to 128 characters"},
        {true, {.fmt = CH_FMT_JKS, .password = "storepw", .alias = "tom\ncat"}, "alias", "control character"},
        {true, {.fmt = CH_FMT_JKS, .password = "storepw", .alias = "tom\xc2\x9b"}, "alias", "control character"},
        {true, {.fmt = CH_FMT_JKS, .password = "storepw", .alias = "tom\xe2\x80\xae" "gpj.exe"}, "alias",
         "right-to-left override"},
        {true, {.fmt = CH_FMT_JKS, .password = "storepw", .alias = "tom\xff"}, "alias", "not UTF-8"},
        {true, {.fmt = CH_FMT_PKCS12}, "password", "\"\" for a PKCS#12 without one"},
        {false, {.fmt = CH_FMT_PKCS12}, "password", "\"\" for a PKCS#12 without one"},
        {true, {.fmt = CH_FMT_JKS, .password = ""}, "password", "keytool refuses an empty one"},
        {false, {.fmt = CH_FMT_JKS}, "password", "needs a password"},
        {true, {.fmt = CH_FMT_PKCS12, .password = "storepw", .key_password = "keypw"}, "key_password", "one password"},
        {false, {.fmt = CH_FMT_PKCS12, .password = "", .key_password = "keypw"}, "key_password", "one password"},
        {true, {.fmt = CH_FMT_PEM, .include_key = true, .key_password = "keypw"}, "key_password", "goes with jks"},
        {true, {.fmt = CH_FMT_JKS, .password = "storepw", .key_password = "keypw", .truststore = true},
         "key_password", "truststore holds no key"},
        {true, {.fmt = CH_FMT_JKS, .password = "storepw", .key_password = ""}, "key_password", "cannot be empty"},
    };

    (void)state;
    assert_int_equal(ch_svc_open(&svc, &so), 0);
    assert_int_equal(ch_svc_tenant_ensure(svc, "a", &ta), 0);
    admin = (ch_actor){ta.id, "admin", CH_ROLE_ADMIN, CH_PERM_KEYS_EXPORT, NULL, NULL};
    make_jks(&jks, &root);
    assert_int_equal(ch_svc_keystore_import(svc, &admin, "web", jks.data, jks.len, "changeit", NULL, &ks, NULL, NULL, NULL, NULL),
                     0);
    assert_int_equal(ch_svc_keystore_entries(svc, &admin, ks.id, &entries, &n), 0);
    snprintf(cert_id, sizeof cert_id, "%s", entries[0].cert_id); /* the leaf, with its key */
    ch_store_keystore_entry_list_free(entries, n);

    rows = audit_rows(svc, &admin, NULL, 0);
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(export_as(svc, &admin, refused[i].cert, refused[i].cert ? cert_id : ks.id, &refused[i].o,
                                   &out),
                         CH_EINVAL);
        assert_string_equal(ch_error_field(), refused[i].field);
        if (strstr(ch_error_last(), refused[i].says) == NULL)
            fail_msg("refused[%zu]: \"%s\" lacks \"%s\"", i, ch_error_last(), refused[i].says);
        assert_int_equal(out.len, 0);
    }
    for (int i = 0; i < 129; i++)
        strcat(long_alias, "\xf0\x9f\x94\x92"); /* 129 characters, each beyond U+FFFF */
    ch_svc_export_opts o = {.fmt = CH_FMT_PKCS12, .password = "storepw", .alias = long_alias};
    assert_int_equal(ch_svc_cert_export(svc, &admin, cert_id, &o, &out, NULL), CH_EINVAL);
    assert_non_null(strstr(ch_error_last(), "longer than 128 characters"));
    assert_int_equal(audit_rows(svc, &admin, NULL, 0), rows); /* nothing was exported */

    /* 128 of them are taken, and come back as given. */
    long_alias[4 * 128] = '\0';
    assert_int_equal(ch_svc_cert_export(svc, &admin, cert_id, &o, &out, NULL), 0);
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    assert_string_equal(back->entries[0].alias, long_alias);
    ch_keystore_free(back);
    ch_buf_dispose_secure(&out);

    /* The alias chosen, in the file and in the audit detail; without one, the certificate's name. */
    o = (ch_svc_export_opts){.fmt = CH_FMT_JKS, .password = "storepw", .alias = "Tomcat"};
    assert_int_equal(ch_svc_cert_export(svc, &admin, cert_id, &o, &out, NULL), 0);
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    assert_string_equal(back->entries[0].alias, "tomcat");
    assert_non_null(back->entries[0].key);
    ch_keystore_free(back);
    ch_buf_dispose_secure(&out);
    assert_int_equal(audit_rows(svc, &admin, detail, sizeof detail), rows + 2);
    assert_string_equal(detail, "{\"format\":\"jks\",\"encrypted\":true,\"alias\":\"Tomcat\"}");
    o.alias = NULL;
    assert_int_equal(ch_svc_cert_export(svc, &admin, cert_id, &o, &out, &name), 0);
    assert_string_equal(name, "server"); /* the name it read, handed back to offer the file under */
    free(name);
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    assert_string_equal(back->entries[0].alias, "server");
    ch_keystore_free(back);
    ch_buf_dispose_secure(&out);

    /* A PKCS#12 under the empty password: read with it; audited as not encrypted. */
    o = (ch_svc_export_opts){.fmt = CH_FMT_PKCS12, .password = "", .alias = "tomcat"};
    assert_int_equal(ch_svc_cert_export(svc, &admin, cert_id, &o, &out, NULL), 0);
    io.password = "";
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    assert_string_equal(back->entries[0].alias, "tomcat");
    assert_non_null(back->entries[0].key);
    ch_keystore_free(back);
    ch_buf_dispose_secure(&out);
    audit_rows(svc, &admin, detail, sizeof detail);
    assert_string_equal(detail, "{\"format\":\"p12\",\"encrypted\":false,\"alias\":\"tomcat\"}");

    /* A JKS key password: the keystore's export, every key under it, not under the store's. */
    o = (ch_svc_export_opts){.fmt = CH_FMT_JKS, .password = "storepw", .key_password = "keypw"};
    assert_int_equal(ch_svc_keystore_export(svc, &admin, ks.id, &o, &out, NULL), 0);
    io.password = "storepw";
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), CH_EPASSWORD);
    assert_string_equal(ch_error_field(), "key_password");
    io.key_password = "keypw";
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    assert_string_equal(back->entries[0].alias, "server");
    assert_non_null(back->entries[0].key);
    ch_keystore_free(back);
    ch_buf_dispose_secure(&out);
    audit_rows(svc, &admin, detail, sizeof detail);
    assert_string_equal(detail, "{\"format\":\"jks\",\"encrypted\":true,\"key_password\":true}");
    /* With p12, the password itself is taken as the key's (the one password it has). */
    o = (ch_svc_export_opts){.fmt = CH_FMT_PKCS12, .password = "storepw", .key_password = "storepw"};
    assert_int_equal(ch_svc_cert_export(svc, &admin, cert_id, &o, &out, NULL), 0);
    ch_buf_dispose_secure(&out);

    ch_store_keystore_dispose(&ks);
    ch_buf_dispose(&jks);
    ch_cert_free(root);
    ch_store_tenant_dispose(&ta);
    ch_svc_close(svc);
    tu_rmtree(dir);
}

/* The newest row of the actor's audit log: its action and detail into action and detail. */
static size_t audit_last(ch_svc *svc, const ch_actor *actor, char *action, size_t acap, char *detail, size_t dcap)
{
    ch_store_audit *rows = NULL;
    size_t n = 0;
    int64_t next = 0;

    assert_int_equal(ch_svc_audit_list(svc, actor, NULL, 1000, &rows, &n, &next), 0);
    assert_true(n > 0);
    snprintf(action, acap, "%s", rows[n - 1].action);
    snprintf(detail, dcap, "%s", rows[n - 1].detail ? rows[n - 1].detail : "");
    ch_store_audit_list_free(rows, n);
    return n;
}

/* Whether the error now is code on field. */
static void assert_refused(int got, int code, const char *field)
{
    assert_int_equal(got, code);
    assert_non_null(ch_error_field());
    assert_string_equal(ch_error_field(), field);
}

/* A stored keystore changed entry by entry: a certificate of the inventory added (its chain
 * and key with it), an entry renamed and one deleted; aliases unique in any case; a viewer, or
 * another tenant, changes nothing; each change audited, each refusal leaves no row. */
static void test_entry_edits(void **state)
{
    const char *dir = tu_tmpdir("svc-entries");
    ch_svc_opts so = {.data_dir = dir};
    ch_svc *svc;
    ch_store_tenant ta, tb;
    ch_actor admin, operator, viewer, other;
    ch_buf jks = CH_BUF_INIT, out = CH_BUF_INIT, root_pem = CH_BUF_INIT;
    ch_cert *root;
    ch_store_ca ca;
    ch_svc_ca_req cr = {.name = "entries root", .path_len = -2};
    ch_svc_issue_req ir = {.profile = "tls-server", .key_type = "p256"};
    ch_store_cert app, theirs;
    ch_store_keystore ks;
    ch_store_keystore_entry *entries, e;
    ch_keystore *back;
    ch_import_opts io = {.password = "exportpw"};
    ch_svc_export_opts p12 = {.fmt = CH_FMT_PKCS12, .password = "exportpw"};
    ch_store_cert_filter f = {.is_ca = -1};
    char action[64], detail[512];
    int64_t certs_before, certs_after;
    size_t n, rows;

    (void)state;
    assert_int_equal(ch_svc_open(&svc, &so), 0);
    assert_int_equal(ch_svc_tenant_ensure(svc, "a", &ta), 0);
    assert_int_equal(ch_svc_tenant_ensure(svc, "b", &tb), 0);
    admin = (ch_actor){ta.id, "admin", CH_ROLE_ADMIN, CH_PERM_KEYS_EXPORT, NULL, NULL};
    operator= (ch_actor){ta.id, "op", CH_ROLE_OPERATOR, 0, NULL, NULL};
    viewer = (ch_actor){ta.id, "viewer", CH_ROLE_VIEWER, 0, NULL, NULL};
    other = (ch_actor){tb.id, "b-admin", CH_ROLE_ADMIN, CH_PERM_KEYS_EXPORT, NULL, NULL};
    make_jks(&jks, &root);
    assert_int_equal(
        ch_svc_keystore_import(svc, &operator, "web", jks.data, jks.len, "changeit", NULL, &ks, NULL, NULL, NULL, NULL), 0);
    /* A certificate issued here, with its key, and one of another tenant. */
    cr.subject.dn = "CN=Entries Root";
    assert_int_equal(ch_svc_ca_create(svc, &admin, &cr, &ca), 0);
    ir.ca_id = ca.id;
    ir.subject.fields.common_name = "app.example";
    assert_int_equal(ch_svc_cert_issue(svc, &operator, &ir, &app), 0);
    assert_int_equal(ch_cert_write_pem(&root_pem, root), 0);
    assert_int_equal(ch_svc_cert_import(svc, &other, "theirs", root_pem.data, root_pem.len, NULL, 0, NULL, NULL,
                                        &theirs, NULL, NULL),
                     0);
    rows = audit_rows(svc, &admin, NULL, 0);

    /* Refused, nothing written: a viewer; another tenant's keystore or certificate; an alias
     * taken in another case; an alias with a control character; no certificate. */
    assert_int_equal(ch_svc_keystore_entry_add(svc, &viewer, ks.id, app.id, "app", &e), CH_EPERM);
    assert_int_equal(ch_svc_keystore_entry_rename(svc, &viewer, ks.id, "server", "web", &e), CH_EPERM);
    assert_int_equal(ch_svc_keystore_entry_delete(svc, &viewer, ks.id, "ca", NULL), CH_EPERM);
    assert_int_equal(ch_svc_keystore_entry_add(svc, &other, ks.id, theirs.id, "theirs", &e), CH_ENOTFOUND);
    assert_int_equal(ch_svc_keystore_entry_delete(svc, &other, ks.id, "ca", NULL), CH_ENOTFOUND);
    assert_int_equal(ch_svc_keystore_entry_rename(svc, &other, ks.id, "ca", "x", &e), CH_ENOTFOUND);
    assert_refused(ch_svc_keystore_entry_add(svc, &operator, ks.id, theirs.id, "theirs", &e), CH_ENOTFOUND,
                   "certificate_id");
    assert_refused(ch_svc_keystore_entry_add(svc, &operator, ks.id, NULL, "x", &e), CH_EINVAL, "certificate_id");
    assert_refused(ch_svc_keystore_entry_add(svc, &operator, ks.id, app.id, "SERVER", &e), CH_EEXISTS, "alias");
    assert_non_null(strstr(ch_error_last(), "\"server\""));
    assert_refused(ch_svc_keystore_entry_add(svc, &operator, ks.id, app.id, "a\nb", &e), CH_EINVAL, "alias");
    assert_refused(ch_svc_keystore_entry_add(svc, &operator, ks.id, app.id, "", &e), CH_EINVAL, "alias");
    assert_refused(ch_svc_keystore_entry_rename(svc, &operator, ks.id, "server", "Ca", &e), CH_EEXISTS, "alias");
    assert_refused(ch_svc_keystore_entry_rename(svc, &operator, ks.id, "nope", "x", &e), CH_ENOTFOUND, "alias");
    assert_refused(ch_svc_keystore_entry_rename(svc, &operator, ks.id, "server", "", &e), CH_EINVAL, "alias");
    assert_refused(ch_svc_keystore_entry_delete(svc, &operator, ks.id, "nope", NULL), CH_ENOTFOUND, "alias");
    assert_int_equal(ch_svc_keystore_entry_add(svc, &operator, "kst_none", app.id, NULL, &e), CH_ENOTFOUND);
    assert_int_equal(audit_rows(svc, &admin, NULL, 0), rows);
    assert_int_equal(ch_svc_keystore_entries(svc, &viewer, ks.id, &entries, &n), 0);
    assert_int_equal(n, 2);
    ch_store_keystore_entry_list_free(entries, n);

    /* Added under the certificate's name, its key and its CA's certificate with it. */
    assert_int_equal(ch_svc_keystore_entry_add(svc, &operator, ks.id, app.id, NULL, &e), 0);
    assert_string_equal(e.alias, "app.example");
    assert_string_equal(e.cert_id, app.id);
    assert_non_null(e.key_id);
    assert_string_equal(e.key_id, app.key_id);
    assert_string_equal(e.chain, ca.cert_id);
    assert_int_equal(e.position, 2);
    ch_store_keystore_entry_dispose(&e);
    assert_int_equal(audit_last(svc, &admin, action, sizeof action, detail, sizeof detail), rows + 1);
    assert_string_equal(action, "keystore.entry_add");
    assert_non_null(strstr(detail, "\"alias\":\"app.example\""));
    /* Its name again, in another case: taken. */
    assert_refused(ch_svc_keystore_entry_add(svc, &operator, ks.id, app.id, "APP.example", &e), CH_EEXISTS, "alias");

    /* Renamed: found in any case; a change of case alone is a rename. */
    assert_int_equal(ch_svc_keystore_entry_rename(svc, &operator, ks.id, "SERVER", "web", &e), 0);
    assert_string_equal(e.alias, "web");
    ch_store_keystore_entry_dispose(&e);
    assert_int_equal(ch_svc_keystore_entry_rename(svc, &admin, ks.id, "web", "Web", &e), 0);
    assert_string_equal(e.alias, "Web");
    assert_non_null(e.key_id);
    ch_store_keystore_entry_dispose(&e);
    assert_int_equal(audit_last(svc, &admin, action, sizeof action, detail, sizeof detail), rows + 3);
    assert_string_equal(action, "keystore.entry_rename");
    assert_non_null(strstr(detail, "\"from\":\"web\""));
    assert_non_null(strstr(detail, "\"alias\":\"Web\""));

    /* Deleted: the entry alone, its certificate stays in the inventory. */
    assert_int_equal(ch_store_cert_count(ch_svc_store(svc), ta.id, &f, &certs_before), 0);
    assert_int_equal(ch_svc_keystore_entry_delete(svc, &operator, ks.id, "ca", NULL), 0);
    assert_int_equal(ch_store_cert_count(ch_svc_store(svc), ta.id, &f, &certs_after), 0);
    assert_int_equal(certs_after, certs_before);
    assert_int_equal(audit_last(svc, &admin, action, sizeof action, detail, sizeof detail), rows + 4);
    assert_string_equal(action, "keystore.entry_delete");
    assert_non_null(strstr(detail, "\"alias\":\"ca\""));
    assert_refused(ch_svc_keystore_entry_delete(svc, &operator, ks.id, "ca", NULL), CH_ENOTFOUND, "alias");
    /* The freed alias may be taken again. */
    assert_int_equal(ch_svc_keystore_entry_rename(svc, &operator, ks.id, "app.example", "CA", &e), 0);
    ch_store_keystore_entry_dispose(&e);

    /* The export is the keystore as edited. */
    assert_int_equal(ch_svc_keystore_export(svc, &admin, ks.id, &p12, &out, NULL), 0);
    assert_int_equal(ch_keystore_import(&back, out.data, out.len, &io), 0);
    assert_int_equal(back->count, 2);
    assert_string_equal(back->entries[0].alias, "Web");
    assert_non_null(back->entries[0].key);
    assert_string_equal(back->entries[1].alias, "CA");
    assert_non_null(back->entries[1].key);
    assert_int_equal(back->entries[1].chain_len, 2);
    ch_keystore_free(back);
    ch_buf_dispose_secure(&out);

    ch_store_keystore_dispose(&ks);
    ch_store_ca_dispose(&ca);
    ch_store_cert_dispose(&app);
    ch_store_cert_dispose(&theirs);
    ch_buf_dispose(&jks);
    ch_buf_dispose(&root_pem);
    ch_cert_free(root);
    ch_store_tenant_dispose(&ta);
    ch_store_tenant_dispose(&tb);
    ch_svc_close(svc);
    tu_rmtree(dir);
}

/* The position of the entry alias of keystore id, as the service lists it; -1 when none. */
static int position_of(ch_svc *svc, const ch_actor *a, const char *id, const char *alias)
{
    ch_store_keystore_entry *entries;
    size_t n;
    int position = -1;

    assert_int_equal(ch_svc_keystore_entries(svc, a, id, &entries, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (strcmp(entries[i].alias, alias) == 0)
            position = entries[i].position;
    ch_store_keystore_entry_list_free(entries, n);
    return position;
}

/* Adds cert_id to keystore id under alias and returns the position it took. */
static int add_at(ch_svc *svc, const ch_actor *a, const char *id, const char *cert_id, const char *alias)
{
    ch_store_keystore_entry e;
    int position;

    assert_int_equal(ch_svc_keystore_entry_add(svc, a, id, cert_id, alias, &e), 0);
    position = e.position;
    ch_store_keystore_entry_dispose(&e);
    assert_int_equal(position_of(svc, a, id, alias), position);
    return position;
}

/* A position is handed out once: an entry added after the last ones were deleted goes past
 * every position the keystore had, so a client paging by position whose cursor was on a
 * deleted entry still finds it after its cursor.  A store from before the count (schema 20)
 * goes on after the entries it holds; the count is taken only in a transaction. */
static void test_entry_positions(void **state)
{
    const char *dir = tu_tmpdir("svc-positions");
    ch_svc_opts so = {.data_dir = dir};
    ch_svc *svc;
    ch_store_tenant ta, tb;
    ch_actor operator, other;
    ch_buf jks = CH_BUF_INIT;
    ch_cert *root;
    ch_store_keystore ks;
    char root_id[CH_ID_MAX], path[1200];
    ch_store_keystore_entry *entries;
    size_t n;
    int position, cursor;
    sqlite3 *db;

    (void)state;
    assert_int_equal(ch_svc_open(&svc, &so), 0);
    assert_int_equal(ch_svc_tenant_ensure(svc, "a", &ta), 0);
    assert_int_equal(ch_svc_tenant_ensure(svc, "b", &tb), 0);
    operator= (ch_actor){ta.id, "op", CH_ROLE_OPERATOR, 0, NULL, NULL};
    other = (ch_actor){tb.id, "b-op", CH_ROLE_OPERATOR, 0, NULL, NULL};
    make_jks(&jks, &root);
    assert_int_equal(
        ch_svc_keystore_import(svc, &operator, "web", jks.data, jks.len, "changeit", NULL, &ks, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(ch_svc_keystore_entries(svc, &operator, ks.id, &entries, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(entries[0].position, 0);
    assert_int_equal(entries[1].position, 1);
    snprintf(root_id, sizeof root_id, "%s", entries[1].cert_id);
    ch_store_keystore_entry_list_free(entries, n);

    /* A walker's cursor on "b"; "b" and all after it deleted; the next entry is past "c". */
    assert_int_equal(add_at(svc, &operator, ks.id, root_id, "a"), 2);
    cursor = add_at(svc, &operator, ks.id, root_id, "b");
    assert_int_equal(cursor, 3);
    assert_int_equal(add_at(svc, &operator, ks.id, root_id, "c"), 4);
    assert_int_equal(ch_svc_keystore_entry_delete(svc, &operator, ks.id, "c", NULL), 0);
    assert_int_equal(ch_svc_keystore_entry_delete(svc, &operator, ks.id, "b", NULL), 0);
    position = add_at(svc, &operator, ks.id, root_id, "d");
    assert_true(position > cursor);
    assert_int_equal(position, 5);
    /* Every entry deleted: the count goes on all the same. */
    assert_int_equal(ch_svc_keystore_entry_delete(svc, &operator, ks.id, "d", NULL), 0);
    assert_int_equal(ch_svc_keystore_entry_delete(svc, &operator, ks.id, "a", NULL), 0);
    assert_int_equal(ch_svc_keystore_entry_delete(svc, &operator, ks.id, "ca", NULL), 0);
    assert_int_equal(ch_svc_keystore_entry_delete(svc, &operator, ks.id, "server", NULL), 0);
    assert_int_equal(add_at(svc, &operator, ks.id, root_id, "e"), 6);
    /* A refused add spends no position. */
    assert_refused(ch_svc_keystore_entry_add(svc, &operator, ks.id, root_id, "E", NULL), CH_EEXISTS, "alias");
    assert_int_equal(add_at(svc, &operator, ks.id, root_id, "f"), 7);
    assert_int_equal(add_at(svc, &operator, ks.id, root_id, "g"), 8);
    assert_int_equal(ch_svc_keystore_entry_delete(svc, &operator, ks.id, "f", NULL), 0);

    /* The store's count: in a transaction only, of the tenant's keystores only. */
    assert_int_equal(ch_store_keystore_take_position(ch_svc_store(svc), ta.id, ks.id, &position), CH_EINTERNAL);
    assert_int_equal(ch_store_begin(ch_svc_store(svc)), 0);
    assert_int_equal(ch_store_keystore_take_position(ch_svc_store(svc), tb.id, ks.id, &position), CH_ENOTFOUND);
    ch_store_rollback(ch_svc_store(svc));
    assert_int_equal(ch_svc_keystore_entry_add(svc, &other, ks.id, root_id, "x", NULL), CH_ENOTFOUND);

    /* A store from before the count: it goes on after the last entry there ("g", 8), not after
     * as many as there are (2). */
    ch_svc_close(svc);
    snprintf(path, sizeof path, "%s/certhub.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000); /* (the service may hold the write lock a moment) */
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE keystores DROP COLUMN next_position;"
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
                                  "PRAGMA user_version=20",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(ch_svc_open(&svc, &so), 0);
    assert_int_equal(position_of(svc, &operator, ks.id, "e"), 6);
    assert_int_equal(add_at(svc, &operator, ks.id, root_id, "h"), 9);

    ch_store_keystore_dispose(&ks);
    ch_buf_dispose(&jks);
    ch_cert_free(root);
    ch_store_tenant_dispose(&ta);
    ch_store_tenant_dispose(&tb);
    ch_svc_close(svc);
    tu_rmtree(dir);
}

/* A keystore made here of a certificate of the inventory: refused without a word written (a
 * viewer, a format that is no keystore, another tenant's certificate, a bad alias), else the
 * keystore and its one entry (chain and key, origin "generated") stored and audited together. */
static void test_keystore_create(void **state)
{
    const char *dir = tu_tmpdir("svc-ks-create");
    ch_svc_opts so = {.data_dir = dir};
    ch_svc *svc;
    ch_store_tenant ta, tb;
    ch_actor admin, operator, viewer, other;
    ch_store_ca ca;
    ch_svc_ca_req cr = {.name = "create root", .path_len = -2};
    ch_svc_issue_req ir = {.profile = "tls-server", .key_type = "p256"};
    ch_store_cert app, theirs;
    ch_store_keystore ks, *list;
    ch_store_keystore_entry *entries;
    char action[64], detail[512], ca_cert[CH_ID_MAX];
    size_t n, rows;

    (void)state;
    assert_int_equal(ch_svc_open(&svc, &so), 0);
    assert_int_equal(ch_svc_tenant_ensure(svc, "a", &ta), 0);
    assert_int_equal(ch_svc_tenant_ensure(svc, "b", &tb), 0);
    admin = (ch_actor){ta.id, "admin", CH_ROLE_ADMIN, CH_PERM_KEYS_EXPORT, NULL, NULL};
    operator= (ch_actor){ta.id, "op", CH_ROLE_OPERATOR, 0, NULL, NULL};
    viewer = (ch_actor){ta.id, "viewer", CH_ROLE_VIEWER, 0, NULL, NULL};
    other = (ch_actor){tb.id, "b-admin", CH_ROLE_ADMIN, CH_PERM_KEYS_EXPORT, NULL, NULL};
    cr.subject.dn = "CN=Create Root";
    assert_int_equal(ch_svc_ca_create(svc, &admin, &cr, &ca), 0);
    ir.ca_id = ca.id;
    ir.subject.fields.common_name = "made.example";
    assert_int_equal(ch_svc_cert_issue(svc, &operator, &ir, &app), 0);
    snprintf(ca_cert, sizeof ca_cert, "%s", ca.cert_id);
    ch_store_ca_dispose(&ca);
    cr.subject.dn = "CN=Their Root";
    assert_int_equal(ch_svc_ca_create(svc, &other, &cr, &ca), 0);
    ir.ca_id = ca.id;
    ir.subject.fields.common_name = "theirs.example";
    assert_int_equal(ch_svc_cert_issue(svc, &other, &ir, &theirs), 0);
    rows = audit_rows(svc, &admin, NULL, 0);

    assert_int_equal(ch_svc_keystore_create(svc, &viewer, "made", "jks", app.id, NULL, &ks), CH_EPERM);
    assert_refused(ch_svc_keystore_create(svc, &operator, "made", "pem", app.id, NULL, &ks), CH_EINVAL, "format");
    assert_refused(ch_svc_keystore_create(svc, &operator, "made", NULL, app.id, NULL, &ks), CH_EINVAL, "format");
    assert_refused(ch_svc_keystore_create(svc, &operator, "", "jks", app.id, NULL, &ks), CH_EINVAL, "name");
    assert_refused(ch_svc_keystore_create(svc, &operator, "made", "jks", theirs.id, NULL, &ks), CH_ENOTFOUND,
                   "certificate_id");
    assert_refused(ch_svc_keystore_create(svc, &operator, "made", "jks", NULL, NULL, &ks), CH_EINVAL, "certificate_id");
    assert_refused(ch_svc_keystore_create(svc, &operator, "made", "p12", app.id, "a\tb", &ks), CH_EINVAL, "alias");
    assert_int_equal(audit_rows(svc, &admin, NULL, 0), rows);
    assert_int_equal(ch_svc_keystore_list(svc, &admin, NULL, &list, &n), 0);
    assert_int_equal(n, 0);
    ch_store_keystore_list_free(list, n);

    assert_int_equal(ch_svc_keystore_create(svc, &operator, "made", "p12", app.id, NULL, &ks), 0);
    assert_string_equal(ks.name, "made");
    assert_string_equal(ks.format, "p12");
    assert_int_equal(ch_svc_keystore_entries(svc, &viewer, ks.id, &entries, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(entries[0].alias, "made.example");
    assert_string_equal(entries[0].cert_id, app.id);
    assert_string_equal(entries[0].key_id, app.key_id);
    assert_string_equal(entries[0].chain, ca_cert);
    assert_string_equal(entries[0].origin, "generated");
    ch_store_keystore_entry_list_free(entries, n);
    assert_int_equal(audit_last(svc, &admin, action, sizeof action, detail, sizeof detail), rows + 2);
    assert_string_equal(action, "keystore.entry_add");
    assert_int_equal(ch_svc_keystore_get(svc, &other, ks.id, &(ch_store_keystore){0}), CH_ENOTFOUND);
    ch_store_keystore_dispose(&ks);

    /* No name: the certificate's. */
    assert_int_equal(ch_svc_keystore_create(svc, &operator, NULL, "jks", app.id, NULL, &ks), 0);
    assert_string_equal(ks.name, app.name);
    ch_store_keystore_dispose(&ks);

    /* A certificate named before names with spaces at their ends were refused: its name, as the
     * keystore's and the entry's alias, trimmed (as a renewal carries it), not refused. */
    assert_int_equal(ch_store_cert_rename(ch_svc_store(svc), ta.id, app.id, " legacy app "), 0);
    assert_int_equal(ch_svc_keystore_create(svc, &operator, NULL, "p12", app.id, NULL, &ks), 0);
    assert_string_equal(ks.name, "legacy app");
    assert_int_equal(ch_svc_keystore_entries(svc, &viewer, ks.id, &entries, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(entries[0].alias, "legacy app");
    ch_store_keystore_entry_list_free(entries, n);

    ch_store_keystore_dispose(&ks);
    ch_store_cert_dispose(&app);
    ch_store_cert_dispose(&theirs);
    ch_store_ca_dispose(&ca);
    ch_store_tenant_dispose(&ta);
    ch_store_tenant_dispose(&tb);
    ch_svc_close(svc);
    tu_rmtree(dir);
}

/* The key entries of an upload whose chain stops short of a root, the file and the tenant
 * holding no certificate of the issuer there, are listed (each of one CA too, the walk made
 * once); a trusted entry is not, nor a chain the file holds whole, nor one whose CA the tenant
 * holds (another tenant's holding it counts for nothing). */
static void test_keystore_chain_gaps(void **state)
{
    const char *dir = tu_tmpdir("svc-ks-gaps");
    ch_svc_opts so = {.data_dir = dir};
    ch_svc *svc;
    ch_store_tenant ta, tb, tc;
    ch_actor operator, other;
    ch_key *rk, *k1, *k2;
    ch_cert *root, *l1, *l2, *chain[2];
    X509_NAME *n;
    ch_issue_opts o = {.path_len = -2, .days = 30};
    ch_keystore *ks;
    ch_export_opts eo = {.password = "changeit"};
    ch_buf jks = CH_BUF_INIT, root_pem = CH_BUF_INIT;
    ch_store_keystore row;
    ch_store_cert held;
    ch_svc_ks_gap *gaps;
    size_t ngaps;

    (void)state;
    assert_int_equal(ch_svc_open(&svc, &so), 0);
    assert_int_equal(ch_svc_tenant_ensure(svc, "a", &ta), 0);
    assert_int_equal(ch_svc_tenant_ensure(svc, "b", &tb), 0);
    operator= (ch_actor){ta.id, "op", CH_ROLE_OPERATOR, 0, NULL, NULL};
    other = (ch_actor){tb.id, "b-op", CH_ROLE_OPERATOR, 0, NULL, NULL};
    assert_int_equal(ch_key_generate(&rk, CH_KEY_P256), 0);
    assert_int_equal(ch_key_generate(&k1, CH_KEY_P256), 0);
    assert_int_equal(ch_key_generate(&k2, CH_KEY_P256), 0);
    assert_int_equal(ch_name_parse(&n, "CN=Gap Root"), 0);
    o.profile = ch_profile_get("root-ca");
    o.ca_key = o.subject_key = rk;
    o.subject = n;
    assert_int_equal(ch_cert_issue(&root, &o), 0);
    X509_NAME_free(n);
    o.profile = ch_profile_get("tls-server");
    o.days = 20;
    o.ca_cert = root;
    assert_int_equal(ch_name_parse(&n, "CN=one"), 0);
    o.subject_key = k1;
    o.subject = n;
    assert_int_equal(ch_cert_issue(&l1, &o), 0);
    X509_NAME_free(n);
    assert_int_equal(ch_name_parse(&n, "CN=two"), 0);
    o.subject_key = k2;
    o.subject = n;
    assert_int_equal(ch_cert_issue(&l2, &o), 0);
    X509_NAME_free(n);
    /* one, two: key entries without the root; partner: a trusted entry of a leaf alone. */
    assert_int_equal(ch_keystore_new(&ks), 0);
    assert_int_equal(ch_keystore_add(ks, "one", &l1, 1, k1), 0);
    assert_int_equal(ch_keystore_add(ks, "two", &l2, 1, k2), 0);
    assert_int_equal(ch_keystore_add(ks, "partner", &l2, 1, NULL), 0);
    assert_int_equal(ch_keystore_export(&jks, ks, CH_FMT_JKS, &eo), 0);
    ch_keystore_free(ks);

    assert_int_equal(ch_svc_keystore_import(svc, &operator, "gaps", jks.data, jks.len, "changeit", NULL, &row, NULL,
                                            NULL, &gaps, &ngaps),
                     0);
    assert_int_equal(ngaps, 2);
    assert_string_equal(gaps[0].alias, "one");
    assert_string_equal(gaps[0].missing, "CN=Gap Root");
    assert_string_equal(gaps[1].alias, "two");
    assert_string_equal(gaps[1].missing, "CN=Gap Root");
    ch_svc_ks_gaps_free(gaps, ngaps);
    ch_store_keystore_dispose(&row);

    /* The root held by another tenant: the same for this one. */
    assert_int_equal(ch_cert_write_pem(&root_pem, root), 0);
    assert_int_equal(ch_svc_cert_import(svc, &other, "their root", root_pem.data, root_pem.len, NULL, 0, NULL, NULL,
                                        &held, NULL, NULL),
                     0);
    ch_store_cert_dispose(&held);
    assert_int_equal(ch_svc_keystore_import(svc, &operator, "again", jks.data, jks.len, "changeit", NULL, &row, NULL,
                                            NULL, &gaps, &ngaps),
                     0);
    assert_int_equal(ngaps, 2);
    ch_svc_ks_gaps_free(gaps, ngaps);
    ch_store_keystore_dispose(&row);
    /* Held by this one: nothing said. */
    assert_int_equal(ch_svc_cert_import(svc, &operator, "root", root_pem.data, root_pem.len, NULL, 0, NULL, NULL, &held,
                                        NULL, NULL),
                     0);
    ch_store_cert_dispose(&held);
    assert_int_equal(ch_svc_keystore_import(svc, &operator, "held", jks.data, jks.len, "changeit", NULL, &row, NULL,
                                            NULL, &gaps, &ngaps),
                     0);
    assert_int_equal(ngaps, 0);
    assert_null(gaps);
    ch_store_keystore_dispose(&row);
    ch_buf_dispose(&jks);

    /* The chain whole in the file, in another tenant where the root is not held: nothing. */
    assert_int_equal(ch_keystore_new(&ks), 0);
    chain[0] = l1;
    chain[1] = root;
    assert_int_equal(ch_keystore_add(ks, "one", chain, 2, k1), 0);
    assert_int_equal(ch_keystore_export(&jks, ks, CH_FMT_JKS, &eo), 0);
    ch_keystore_free(ks);
    assert_int_equal(ch_svc_tenant_ensure(svc, "c", &tc), 0);
    other.tenant_id = tc.id;
    assert_int_equal(ch_svc_keystore_import(svc, &other, "whole", jks.data, jks.len, "changeit", NULL, &row, NULL,
                                            NULL, &gaps, &ngaps),
                     0);
    assert_int_equal(ngaps, 0);
    ch_store_keystore_dispose(&row);

    ch_buf_dispose(&jks);
    ch_buf_dispose(&root_pem);
    ch_cert_free(root);
    ch_cert_free(l1);
    ch_cert_free(l2);
    ch_key_free(rk);
    ch_key_free(k1);
    ch_key_free(k2);
    ch_store_tenant_dispose(&ta);
    ch_store_tenant_dispose(&tb);
    ch_store_tenant_dispose(&tc);
    ch_svc_close(svc);
    tu_rmtree(dir);
}

/* The entry of keystore ks_id (its only one, or the one of alias) into e. */
static void entry_of(ch_svc *svc, const ch_actor *a, const char *ks_id, const char *alias, ch_store_keystore_entry *e)
{
    ch_store_keystore_entry *entries;
    size_t n, i;

    assert_int_equal(ch_svc_keystore_entries(svc, a, ks_id, &entries, &n), 0);
    for (i = 0; i < n && alias != NULL && strcmp(entries[i].alias, alias) != 0; i++)
        ;
    assert_true(i < n && (alias != NULL || n == 1));
    *e = entries[i];
    memset(&entries[i], 0, sizeof entries[i]);
    ch_store_keystore_entry_list_free(entries, n);
}

/* How many audit rows of action the tenant has. */
static size_t audit_count(ch_svc *svc, const ch_actor *actor, const char *action)
{
    ch_store_audit *rows = NULL;
    size_t n = 0, count = 0;
    int64_t next = 0;

    assert_int_equal(ch_svc_audit_list(svc, actor, NULL, 1000, &rows, &n, &next), 0);
    for (size_t i = 0; i < n; i++)
        count += strcmp(rows[i].action, action) == 0;
    ch_store_audit_list_free(rows, n);
    return count;
}

/* A keystore's entries follow the renewals of their certificate, in the renewal's transaction:
 * a keystore made of it, one with it added under an alias, an upload holding it without its
 * key (a trusted entry still) and with a copy of its key (the renewal's key then); each keeps
 * its alias.  An entry of an imported certificate and another tenant's keystore are left as
 * they were, as is an entry added of a certificate renewed already (what was chosen).  A
 * renewal of the renewal moves them again.  And an entry left on a renewed certificate by a
 * version before this is moved to the newest renewal at the next open. */
static void test_entries_follow_renewals(void **state)
{
    const char *dir = tu_tmpdir("svc-ks-renew");
    ch_svc_opts so = {.data_dir = dir};
    ch_svc *svc;
    ch_store_tenant ta, tb;
    ch_actor admin, operator, other;
    ch_store_ca ca;
    ch_svc_ca_req cr = {.name = "renew root", .path_len = -2};
    ch_svc_issue_req ir = {.profile = "tls-server", .key_type = "p256"};
    ch_svc_export_opts p12 = {.fmt = CH_FMT_PKCS12, .password = "pw"}, jks = {.fmt = CH_FMT_JKS, .password = "pw"};
    ch_store_cert app, r1, r2, partner, theirs;
    ch_store_keystore made, added, trusted, keyed, imported, pinned, b_ks;
    ch_store_keystore_entry e;
    ch_buf pem = CH_BUF_INIT, file = CH_BUF_INIT, partner_pem = CH_BUF_INIT;
    ch_keystore *back;
    ch_import_opts io = {.password = "pw"};
    ch_cert *leaf;
    char ca_cert[CH_ID_MAX], path[1200];
    sqlite3 *db;

    (void)state;
    assert_int_equal(ch_svc_open(&svc, &so), 0);
    assert_int_equal(ch_svc_tenant_ensure(svc, "a", &ta), 0);
    assert_int_equal(ch_svc_tenant_ensure(svc, "b", &tb), 0);
    admin = (ch_actor){ta.id, "admin", CH_ROLE_ADMIN, CH_PERM_KEYS_EXPORT, NULL, NULL};
    operator= (ch_actor){ta.id, "op", CH_ROLE_OPERATOR, 0, NULL, NULL};
    other = (ch_actor){tb.id, "b-admin", CH_ROLE_ADMIN, CH_PERM_KEYS_EXPORT, NULL, NULL};
    cr.subject.dn = "CN=Renew Root";
    assert_int_equal(ch_svc_ca_create(svc, &admin, &cr, &ca), 0);
    snprintf(ca_cert, sizeof ca_cert, "%s", ca.cert_id);
    ir.ca_id = ca.id;
    ir.name = "app";
    ir.subject.fields.common_name = "app.example";
    assert_int_equal(ch_svc_cert_issue(svc, &operator, &ir, &app), 0);
    ir.name = "partner";
    ir.subject.fields.common_name = "partner.example";
    assert_int_equal(ch_svc_cert_issue(svc, &operator, &ir, &partner), 0);

    assert_int_equal(ch_svc_keystore_create(svc, &operator, "made", "jks", app.id, NULL, &made), 0);
    assert_int_equal(ch_svc_keystore_create(svc, &operator, "added", "p12", partner.id, NULL, &added), 0);
    assert_int_equal(ch_svc_keystore_entry_add(svc, &operator, added.id, app.id, "tomcat", &e), 0);
    ch_store_keystore_entry_dispose(&e);
    /* Uploaded: the certificate alone (a trusted entry), and with its key (a copy of its own). */
    assert_int_equal(ch_svc_cert_pem(&pem, &app), 0);
    assert_int_equal(ch_svc_keystore_import(svc, &operator, "trusted", pem.data, pem.len, NULL, NULL, &trusted, NULL,
                                            NULL, NULL, NULL),
                     0);
    assert_int_equal(ch_svc_cert_export(svc, &admin, app.id, &p12, &file, NULL), 0);
    assert_int_equal(ch_svc_keystore_import(svc, &operator, "keyed", file.data, file.len, "pw", NULL, &keyed, NULL,
                                            NULL, NULL, NULL),
                     0);
    ch_buf_dispose_secure(&file);
    entry_of(svc, &admin, keyed.id, NULL, &e);
    assert_string_equal(e.cert_id, app.id);
    assert_non_null(e.key_id);
    assert_string_not_equal(e.key_id, app.key_id);
    ch_store_keystore_entry_dispose(&e);
    /* An imported certificate's, and another tenant's keystore of the same certificate. */
    assert_int_equal(ch_svc_cert_pem(&partner_pem, &partner), 0);
    assert_int_equal(ch_svc_keystore_import(svc, &other, "theirs", pem.data, pem.len, NULL, NULL, &b_ks, NULL, NULL, NULL, NULL),
                     0);
    entry_of(svc, &other, b_ks.id, NULL, &e);
    assert_int_equal(ch_svc_cert_get(svc, &other, e.cert_id, &theirs), 0);
    ch_store_keystore_entry_dispose(&e);

    /* Renewed with a new key: each entry holding app holds r1, its alias kept. */
    assert_int_equal(audit_count(svc, &admin, "keystore.entry_renew"), 0);
    assert_int_equal(ch_svc_cert_renew(svc, &operator, app.id, false, &r1), 0);
    assert_string_not_equal(r1.key_id, app.key_id);
    entry_of(svc, &admin, made.id, NULL, &e);
    assert_string_equal(e.alias, "app");
    assert_string_equal(e.cert_id, r1.id);
    assert_string_equal(e.key_id, r1.key_id);
    assert_string_equal(e.chain, ca_cert);
    assert_string_equal(e.origin, "generated");
    ch_store_keystore_entry_dispose(&e);
    entry_of(svc, &admin, added.id, "tomcat", &e);
    assert_string_equal(e.cert_id, r1.id);
    assert_string_equal(e.key_id, r1.key_id);
    assert_string_equal(e.origin, "added");
    ch_store_keystore_entry_dispose(&e);
    entry_of(svc, &admin, added.id, "partner", &e);
    assert_string_equal(e.cert_id, partner.id);
    ch_store_keystore_entry_dispose(&e);
    entry_of(svc, &admin, trusted.id, NULL, &e);
    assert_string_equal(e.cert_id, r1.id);
    assert_null(e.key_id);
    ch_store_keystore_entry_dispose(&e);
    entry_of(svc, &admin, keyed.id, NULL, &e);
    assert_string_equal(e.cert_id, r1.id);
    assert_string_equal(e.key_id, r1.key_id);
    assert_string_equal(e.chain, ca_cert);
    ch_store_keystore_entry_dispose(&e);
    entry_of(svc, &other, b_ks.id, NULL, &e);
    assert_string_equal(e.cert_id, theirs.id);
    ch_store_keystore_entry_dispose(&e);
    assert_int_equal(audit_count(svc, &admin, "keystore.entry_renew"), 4);
    assert_int_equal(audit_count(svc, &other, "keystore.entry_renew"), 0);

    /* The JKS written now holds r1 with r1's key. */
    assert_int_equal(ch_svc_keystore_export(svc, &admin, made.id, &jks, &file, NULL), 0);
    assert_int_equal(ch_keystore_import(&back, file.data, file.len, &io), 0);
    assert_int_equal(back->count, 1);
    assert_int_equal(back->entries[0].chain_len, 2);
    assert_int_equal(ch_cert_parse(&leaf, r1.der, r1.der_len), 0);
    assert_memory_equal(ch_cert_sha256(back->entries[0].chain[0]), ch_cert_sha256(leaf), 32);
    assert_true(ch_cert_matches_key(leaf, back->entries[0].key));
    ch_cert_free(leaf);
    ch_keystore_free(back);
    ch_buf_dispose_secure(&file);

    /* app, renewed already, added on purpose: kept as chosen. */
    assert_int_equal(ch_svc_keystore_create(svc, &operator, "pinned", "jks", app.id, NULL, &pinned), 0);
    /* An imported certificate is never renewed: its entry stays. */
    assert_int_equal(ch_svc_keystore_import(svc, &operator, "imported", partner_pem.data, partner_pem.len, NULL, NULL,
                                            &imported, NULL, NULL, NULL, NULL),
                     0);

    /* The renewal renewed, its key kept: the entries move on again. */
    assert_int_equal(ch_svc_cert_renew(svc, &operator, r1.id, true, &r2), 0);
    assert_string_equal(r2.key_id, r1.key_id);
    entry_of(svc, &admin, made.id, NULL, &e);
    assert_string_equal(e.cert_id, r2.id);
    assert_string_equal(e.key_id, r2.key_id);
    ch_store_keystore_entry_dispose(&e);
    entry_of(svc, &admin, trusted.id, NULL, &e);
    assert_string_equal(e.cert_id, r2.id);
    assert_null(e.key_id);
    ch_store_keystore_entry_dispose(&e);
    entry_of(svc, &admin, pinned.id, NULL, &e);
    assert_string_equal(e.cert_id, app.id);
    ch_store_keystore_entry_dispose(&e);
    assert_int_equal(audit_count(svc, &admin, "keystore.entry_renew"), 8);

    /* An entry left on app by a version before this one (a store of schema 27): moved to app's
     * newest renewal (r2) at the next open, once, audited; the newest renewal's key with it. */
    ch_svc_close(svc);
    snprintf(path, sizeof path, "%s/certhub.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000); /* (the service may hold the write lock a moment) */
    assert_int_equal(sqlite3_exec(db, "DROP INDEX keystore_entries_cert; DROP TABLE keystore_renewal_backfill;"
                                  "DROP TABLE setup_steps; DROP INDEX trusted_certs_disabled;"
                                  "DROP INDEX devices_client; ALTER TABLE devices DROP COLUMN client_id;"
                                  "ALTER TABLE certificates DROP COLUMN renew_before; DROP TABLE token_certificates; PRAGMA user_version=27",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(ch_svc_open(&svc, &so), 0);
    entry_of(svc, &admin, pinned.id, NULL, &e);
    assert_string_equal(e.cert_id, r2.id);
    assert_string_equal(e.key_id, r2.key_id);
    assert_string_equal(e.alias, "app");
    ch_store_keystore_entry_dispose(&e);
    assert_int_equal(audit_count(svc, &admin, "keystore.entry_renew"), 9);
    ch_svc_close(svc);
    assert_int_equal(ch_svc_open(&svc, &so), 0);
    assert_int_equal(audit_count(svc, &admin, "keystore.entry_renew"), 9);
    entry_of(svc, &admin, imported.id, NULL, &e);
    assert_string_not_equal(e.cert_id, r2.id);
    ch_store_keystore_entry_dispose(&e);

    ch_buf_dispose(&pem);
    ch_buf_dispose(&partner_pem);
    ch_store_keystore_dispose(&made);
    ch_store_keystore_dispose(&added);
    ch_store_keystore_dispose(&trusted);
    ch_store_keystore_dispose(&keyed);
    ch_store_keystore_dispose(&imported);
    ch_store_keystore_dispose(&pinned);
    ch_store_keystore_dispose(&b_ks);
    ch_store_cert_dispose(&app);
    ch_store_cert_dispose(&r1);
    ch_store_cert_dispose(&r2);
    ch_store_cert_dispose(&partner);
    ch_store_cert_dispose(&theirs);
    ch_store_ca_dispose(&ca);
    ch_store_tenant_dispose(&ta);
    ch_store_tenant_dispose(&tb);
    ch_svc_close(svc);
    tu_rmtree(dir);
}

/* A certificate for the key of csr (made by the service), signed by root (its key rk):
 * what an outside CA hands back. */
static ch_cert *sign_for(const ch_store_csr *csr, ch_cert *root, ch_key *rk, const char *cn)
{
    ch_issue_opts o = {.profile = ch_profile_get("tls-server"), .path_len = -2, .days = 20};
    ch_csr *req;
    ch_key *pub;
    ch_cert *cert;
    X509_NAME *name;

    assert_int_equal(ch_csr_parse(&req, csr->der, csr->der_len), 0);
    assert_int_equal(ch_csr_public_key(&pub, req), 0);
    assert_int_equal(ch_name_parse(&name, cn), 0);
    o.ca_cert = root;
    o.ca_key = rk;
    o.subject_key = pub;
    o.subject = name;
    assert_int_equal(ch_cert_issue(&cert, &o), 0);
    X509_NAME_free(name);
    ch_key_free(pub);
    ch_csr_free(req);
    return cert;
}

/* Keystore entries without a key whose certificate is for a waiting CSR made here take its key
 * (the CSR its certificate): the same certificate under two aliases both, a second certificate
 * for the same CSR none; never for another tenant, nor a CSR signed already. */
static void test_keystore_csr_keys(void **state)
{
    const char *dir = tu_tmpdir("svc-ks-csr");
    ch_svc_opts so = {.data_dir = dir};
    ch_svc *svc;
    ch_store_tenant ta, tb;
    ch_actor operator, other;
    ch_svc_csr_req req = {.name = "ks web", .key_type = "p256"};
    ch_store_csr web, again;
    ch_store_cert held;
    ch_store_keystore ks;
    ch_store_keystore_entry *entries;
    ch_svc_ks_csr_key *took;
    ch_keystore *file;
    ch_buf jks = CH_BUF_INIT;
    ch_export_opts eo = {.password = "changeit"};
    ch_issue_opts ro = {.profile = ch_profile_get("root-ca"), .path_len = -2, .days = 30};
    ch_key *rk;
    ch_cert *root, *one, *two;
    X509_NAME *rn;
    char action[64], detail[1024];
    size_t n, ntook;

    (void)state;
    assert_int_equal(ch_svc_open(&svc, &so), 0);
    assert_int_equal(ch_svc_tenant_ensure(svc, "a", &ta), 0);
    assert_int_equal(ch_svc_tenant_ensure(svc, "b", &tb), 0);
    operator= (ch_actor){ta.id, "op", CH_ROLE_OPERATOR, 0, NULL, NULL};
    other = (ch_actor){tb.id, "b-admin", CH_ROLE_ADMIN, CH_PERM_KEYS_EXPORT, NULL, NULL};
    assert_int_equal(ch_key_generate(&rk, CH_KEY_P256), 0);
    assert_int_equal(ch_name_parse(&rn, "CN=Outside Root"), 0);
    ro.ca_key = ro.subject_key = rk;
    ro.subject = rn;
    assert_int_equal(ch_cert_issue(&root, &ro), 0);
    req.subject.fields.common_name = "ks.example";
    assert_int_equal(ch_svc_csr_create(svc, &operator, &req, &web), 0);
    one = sign_for(&web, root, rk, "CN=ks.example");
    two = sign_for(&web, root, rk, "CN=ks.example");
    /* A truststore: the first certificate under two aliases, the second, and the root. */
    assert_int_equal(ch_keystore_new(&file), 0);
    assert_int_equal(ch_keystore_add(file, "web", &one, 1, NULL), 0);
    assert_int_equal(ch_keystore_add(file, "web copy", &one, 1, NULL), 0);
    assert_int_equal(ch_keystore_add(file, "web two", &two, 1, NULL), 0);
    assert_int_equal(ch_keystore_add(file, "root", &root, 1, NULL), 0);
    assert_int_equal(ch_keystore_export(&jks, file, CH_FMT_JKS, &eo), 0);

    /* Another tenant's upload takes nothing. */
    assert_int_equal(ch_svc_keystore_import(svc, &other, "theirs", jks.data, jks.len, "changeit", NULL, &ks, &took,
                                            &ntook, NULL, NULL),
                     0);
    assert_int_equal(ntook, 0);
    assert_null(took);
    ch_store_keystore_dispose(&ks);
    assert_int_equal(ch_store_csr_get(ch_svc_store(svc), &again, ta.id, web.id), 0);
    assert_null(again.cert_id);
    ch_store_csr_dispose(&again);

    assert_int_equal(ch_svc_keystore_import(svc, &operator, "mine", jks.data, jks.len, "changeit", NULL, &ks, &took,
                                            &ntook, NULL, NULL),
                     0);
    assert_int_equal(ntook, 2);
    assert_string_equal(took[0].alias, "web");
    assert_string_equal(took[1].alias, "web copy");
    assert_string_equal(took[0].csr_id, web.id);
    assert_string_equal(took[1].csr_id, web.id);
    assert_string_equal(took[0].cert_id, took[1].cert_id);
    assert_int_equal(ch_store_csr_get(ch_svc_store(svc), &again, ta.id, web.id), 0);
    assert_string_equal(again.cert_id, took[0].cert_id);
    ch_store_csr_dispose(&again);
    assert_int_equal(ch_store_cert_get(ch_svc_store(svc), &held, ta.id, took[0].cert_id), 0);
    assert_string_equal(held.key_id, web.key_id);
    assert_string_equal(held.method, "csr_signed");
    ch_store_cert_dispose(&held);
    assert_int_equal(ch_svc_keystore_entries(svc, &operator, ks.id, &entries, &n), 0);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        if (strcmp(entries[i].alias, "web") == 0 || strcmp(entries[i].alias, "web copy") == 0)
            assert_string_equal(entries[i].key_id, web.key_id);
        else
            assert_null(entries[i].key_id);
    ch_store_keystore_entry_list_free(entries, n);
    audit_last(svc, &operator, action, sizeof action, detail, sizeof detail);
    assert_string_equal(action, "keystore.import");
    assert_non_null(strstr(detail, "\"keys_from_csr\":["));
    assert_non_null(strstr(detail, web.id));
    ch_svc_ks_csr_keys_free(took, ntook);
    ch_store_keystore_dispose(&ks);

    /* Again: the CSR is signed, nothing is taken. */
    assert_int_equal(ch_svc_keystore_import(svc, &operator, "again", jks.data, jks.len, "changeit", NULL, &ks, &took,
                                            &ntook, NULL, NULL),
                     0);
    assert_int_equal(ntook, 0);
    ch_store_keystore_dispose(&ks);

    ch_buf_dispose(&jks);
    ch_keystore_free(file);
    ch_cert_free(one);
    ch_cert_free(two);
    ch_cert_free(root);
    ch_key_free(rk);
    X509_NAME_free(rn);
    ch_store_csr_dispose(&web);
    ch_store_tenant_dispose(&ta);
    ch_store_tenant_dispose(&tb);
    ch_svc_close(svc);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keystore_lifecycle),
        cmocka_unit_test(test_export_options),
        cmocka_unit_test(test_entry_edits),
        cmocka_unit_test(test_entry_positions),
        cmocka_unit_test(test_keystore_create),
        cmocka_unit_test(test_keystore_csr_keys),
        cmocka_unit_test(test_entries_follow_renewals),
        cmocka_unit_test(test_keystore_chain_gaps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
