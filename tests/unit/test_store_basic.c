/* Unit tests of the SQLite store: migrations, tenant isolation, duplicates, keyset pages,
 * transactions, concurrent writers, a file that is not a database, lineages of renewals. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "certhub/store.h"
#include "testutil.h"

static char dbpath[1200];

static ch_store *g_store;

static ch_store *open_store(void)
{
    ch_store_opts o = {.url = dbpath};
    ch_store *s = NULL;

    assert_int_equal(ch_store_open(&s, &o), 0);
    return s;
}

static void put_tenant(ch_store *s, const char *id, const char *name)
{
    ch_store_tenant t = {.id = (char *)id, .name = (char *)name, .created_at = 1};

    assert_int_equal(ch_store_tenant_put(s, &t), 0);
}

static int put_cert(ch_store *s, const char *tenant, int i, char existing[CH_ID_MAX])
{
    char id[CH_ID_MAX], subject[64], sha[65];
    uint8_t der[4] = {0x30, 0x02, (uint8_t)i, (uint8_t)(i >> 8)};
    ch_store_cert c = {0};

    ch_store_new_id(id, "crt_");
    snprintf(subject, sizeof subject, "CN=device-%04d,O=Acme", i);
    snprintf(sha, sizeof sha, "%064d", i);
    c.id = id;
    c.tenant_id = (char *)tenant;
    c.name = subject + 3;
    c.der = der;
    c.der_len = sizeof der;
    c.subject = subject;
    c.issuer = "CN=CA";
    c.serial = "01";
    memcpy(c.sha256, sha, 65);
    c.not_before = 1000;
    c.not_after = 100000 + (i % 50) * 1000;
    c.is_ca = i % 10 == 0;
    c.method = i % 2 ? "generated" : "imported";
    c.status = "active";
    c.created_at = 5000 + i / 3; /* ties on created_at exercise the id tie-break */
    return ch_store_cert_put(s, &c, existing);
}

static int setup(void **state)
{
    const char *dir = tu_tmpdir("store");

    (void)state;
    snprintf(dbpath, sizeof dbpath, "%s/certhub.db", dir);
    return 0;
}

static void test_migrate_and_reopen(void **state)
{
    ch_store *s;

    (void)state;
    s = open_store();
    assert_true(ch_store_schema_version(s) >= 1);
    put_tenant(s, "t1", "one");
    ch_store_close(s);
    s = open_store(); /* migrations are idempotent */
    ch_store_tenant t;
    assert_int_equal(ch_store_tenant_get_by_name(s, &t, "one"), 0);
    assert_string_equal(t.id, "t1");
    ch_store_tenant_dispose(&t);
    /* A taken name is reported on the field. */
    ch_store_tenant dup = {.id = "t9", .name = "one", .created_at = 1};
    assert_int_equal(ch_store_tenant_put(s, &dup), CH_EEXISTS);
    assert_string_equal(ch_error_field(), "name");
    ch_store_close(s);
}

/* A step of the set-up is recorded once, with what it made; not done, it is not found. */
static void test_setup_steps(void **state)
{
    ch_store *s;
    char *value = NULL;

    (void)state;
    s = open_store();
    assert_int_equal(ch_store_setup_get(s, "made_things", &value), CH_ENOTFOUND);
    assert_null(value);
    assert_int_equal(ch_store_setup_put(s, "made_things", "{\"one\":\"x\"}", 1000), 0);
    assert_int_equal(ch_store_setup_put(s, "made_things", "{\"one\":\"y\"}", 2000), 0); /* done once */
    assert_int_equal(ch_store_setup_put(s, "nothing_made", NULL, 1000), 0);
    ch_store_close(s);
    s = open_store();
    assert_int_equal(ch_store_setup_get(s, "made_things", &value), 0);
    assert_string_equal(value, "{\"one\":\"x\"}");
    free(value);
    assert_int_equal(ch_store_setup_get(s, "nothing_made", &value), 0);
    assert_string_equal(value, "");
    free(value);
    ch_store_close(s);
}

/* A store whose tables are not its version's (a development build's migration, changed later)
 * is refused at open, saying so, rather than failing request by request. */
static void test_schema_mismatch_refused(void **state)
{
    ch_store_opts o = {.url = dbpath};
    ch_store *s = open_store();
    sqlite3 *db;

    (void)state;
    ch_store_close(s);
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE sessions DROP COLUMN acting_tenant_id", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    s = NULL;
    assert_int_equal(ch_store_open(&s, &o), CH_ESTORE);
    assert_null(s);
    assert_non_null(strstr(ch_error_last(), "acting_tenant_id"));
    assert_non_null(strstr(ch_error_last(), "but not its tables"));
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE sessions ADD COLUMN acting_tenant_id TEXT", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    ch_store_close(open_store());
}

static char thread_msg[512];

static void *tenant_get_on_new_thread(void *p)
{
    ch_store_tenant t;
    int *error = p;

    *error = ch_store_tenant_get_by_name(g_store, &t, "one");
    snprintf(thread_msg, sizeof thread_msg, "%s", ch_error_last()); /* (the error is this thread's) */
    if (*error == 0)
        ch_store_tenant_dispose(&t);
    ch_store_thread_release(g_store);
    return NULL;
}

/* A thread that cannot open its connection for want of a file descriptor is told so (503:
 * try again), not "unable to open database file" (500). */
static void test_out_of_descriptors(void **state)
{
    struct rlimit old, low;
    pthread_t th;
    int error = 0, next;

    (void)state;
    g_store = open_store();
    put_tenant(g_store, "t-fd", "one-fd");
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    next = dup(0); /* the lowest free descriptor: the limit is set just there */
    close(next);
    low = old;
    low.rlim_cur = (rlim_t)next;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    pthread_create(&th, NULL, tenant_get_on_new_thread, &error);
    pthread_join(th, NULL);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_int_equal(error, CH_EUNAVAIL);
    assert_non_null(strstr(thread_msg, "no file descriptor left"));
    ch_store_close(g_store);
    g_store = NULL;
}

static void test_isolation_and_duplicates(void **state)
{
    ch_store *s = open_store();
    char existing[CH_ID_MAX] = "";
    ch_store_cert *rows, got;
    size_t n;
    char *next;

    (void)state;
    put_tenant(s, "ta", "alpha");
    put_tenant(s, "tb", "beta");
    assert_int_equal(put_cert(s, "ta", 1, NULL), 0);
    assert_int_equal(ch_store_cert_list(s, "ta", NULL, 10, NULL, &rows, &n, &next), 0);
    assert_int_equal(n, 1);
    assert_null(next);
    char id[CH_ID_MAX];
    snprintf(id, sizeof id, "%s", rows[0].id);
    assert_null(rows[0].der); /* pages carry no DER */
    ch_store_cert_list_free(rows, n);
    /* The same certificate again in the same tenant is reported with the first id. */
    assert_int_equal(put_cert(s, "ta", 1, existing), CH_EEXISTS);
    assert_string_equal(existing, id);
    assert_non_null(strstr(ch_error_last(), id));
    /* ...but another tenant may hold it too. */
    assert_int_equal(put_cert(s, "tb", 1, NULL), 0);
    /* Tenant B cannot see, rename or delete tenant A's row. */
    assert_int_equal(ch_store_cert_get(s, &got, "tb", id), CH_ENOTFOUND);
    assert_int_equal(ch_store_cert_rename(s, "tb", id, "x"), CH_ENOTFOUND);
    assert_int_equal(ch_store_cert_delete(s, "tb", id), CH_ENOTFOUND);
    assert_int_equal(ch_store_cert_get(s, &got, "ta", id), 0);
    assert_int_equal(got.der_len, 4);
    ch_store_cert_dispose(&got);
    assert_int_equal(ch_store_cert_delete(s, "ta", id), 0);
    assert_int_equal(ch_store_cert_get(s, &got, "ta", id), CH_ENOTFOUND);
    /* A row that refers to one not there (its key deleted while it was being made) is a
     * conflict that says so, not "another stored object still refers to it". */
    {
        char cid[CH_ID_MAX], sha[65];
        uint8_t der[4] = {0x30, 0x02, 9, 9};
        ch_store_cert c = {.id = cid, .tenant_id = "ta", .name = "orphan", .der = der, .der_len = sizeof der,
                           .subject = "CN=o", .issuer = "CN=CA", .serial = "02", .not_before = 1000,
                           .not_after = 100000, .method = "generated", .status = "active", .created_at = 5000,
                           .key_id = "key_gone"};
        ch_store_new_id(cid, "crt_");
        snprintf(sha, sizeof sha, "%064d", 9999);
        memcpy(c.sha256, sha, 65);
        assert_int_equal(ch_store_cert_put(s, &c, NULL), CH_ECONFLICT);
        assert_non_null(strstr(ch_error_last(), "deleted meanwhile"));
    }
    ch_store_close(s);
}

/* A certificate of its own id, linked as given (the store keeps links as it is handed them). */
static void put_linked(ch_store *s, const char *tenant, int i, const char *id, const char *renews,
                       const char *renewed_by)
{
    char sha[65];
    uint8_t der[4] = {0x30, 0x02, (uint8_t)i, (uint8_t)(i >> 8)};
    ch_store_cert c = {.id = (char *)id, .tenant_id = (char *)tenant, .name = (char *)id, .der = der,
                       .der_len = sizeof der, .subject = "CN=x", .issuer = "CN=CA", .serial = "01",
                       .not_before = 1000, .not_after = 100000, .method = "generated", .status = "active",
                       .created_at = 5000 + i, .auto_renew = true, .renews = (char *)renews,
                       .renewed_by = (char *)renewed_by};

    snprintf(sha, sizeof sha, "%064d", i);
    memcpy(c.sha256, sha, 65);
    assert_int_equal(ch_store_cert_put(s, &c, NULL), 0);
}

static bool named(ch_store *s, const char *tenant, const char *id, const char *ids)
{
    bool yes = true;

    assert_int_equal(ch_store_cert_lineage_named(s, tenant, id, ids, &yes), 0);
    return yes;
}

/* A lineage longer than any cap a walk of rows had (32, 64): both ends found in one statement,
 * within its tenant, and links that go round in a circle or nowhere end the walk. */
static void test_lineage(void **state)
{
    ch_store *s = open_store();
    char id[CH_ID_MAX], prev[CH_ID_MAX], next[CH_ID_MAX], out[CH_ID_MAX];
    const int n = 300;

    (void)state;
    put_tenant(s, "tl", "lineage");
    put_tenant(s, "tm", "lineage-other");
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "crt_l%03d", i);
        snprintf(prev, sizeof prev, "crt_l%03d", i - 1);
        snprintf(next, sizeof next, "crt_l%03d", i + 1);
        put_linked(s, "tl", i, id, i > 0 ? prev : NULL, i + 1 < n ? next : NULL);
    }
    assert_int_equal(ch_store_cert_newest_renewal(s, "tl", "crt_l000", out), 0);
    assert_string_equal(out, "crt_l299");
    assert_int_equal(ch_store_cert_newest_renewal(s, "tl", "crt_l150", out), 0);
    assert_string_equal(out, "crt_l299");
    assert_int_equal(ch_store_cert_newest_renewal(s, "tl", "crt_l299", out), 0);
    assert_string_equal(out, "crt_l299");
    assert_int_equal(ch_store_cert_newest_renewal(s, "tl", "crt_none", out), CH_ENOTFOUND);
    assert_int_equal(ch_store_cert_newest_renewal(s, "tm", "crt_l000", out), CH_ENOTFOUND);

    assert_true(named(s, "tl", "crt_l299", "[\"crt_l000\"]"));
    assert_true(named(s, "tl", "crt_l299", "[\"crt_other\", \"bundle:default\", \"crt_l150\"]"));
    assert_true(named(s, "tl", "crt_l299", "[\"crt_l299\"]"));
    assert_true(named(s, "tl", "crt_none", "[\"crt_none\"]")); /* itself, stored or not */
    assert_false(named(s, "tl", "crt_l150", "[\"crt_l151\"]")); /* never forward */
    assert_false(named(s, "tl", "crt_l299", "[]"));
    assert_false(named(s, "tl", "crt_l299", "[7, null, {\"id\": \"crt_l000\"}, [\"crt_l000\"]]"));
    assert_false(named(s, "tm", "crt_l299", "[\"crt_l000\"]")); /* another tenant's lineage */
    bool yes = true;
    assert_true(ch_store_cert_lineage_named(s, "tl", "crt_l299", "[\"crt_l000\"", &yes) < 0);
    assert_false(yes);

    /* Links certhub never makes: a circle, and a renewal that is not there. */
    put_linked(s, "tl", 1000, "crt_c0", "crt_c1", "crt_c1");
    put_linked(s, "tl", 1001, "crt_c1", "crt_c0", "crt_c0");
    put_linked(s, "tl", 1002, "crt_d0", NULL, "crt_gone");
    assert_false(named(s, "tl", "crt_c0", "[\"crt_l000\"]"));
    assert_true(named(s, "tl", "crt_c0", "[\"crt_c1\"]"));
    assert_int_equal(ch_store_cert_newest_renewal(s, "tl", "crt_c0", out), CH_ENOTFOUND);
    assert_int_equal(ch_store_cert_newest_renewal(s, "tl", "crt_d0", out), CH_ENOTFOUND);
    ch_store_close(s);
}

static void walk(ch_store *s, const ch_store_cert_filter *f, size_t limit, int expect, bool expiry)
{
    char *cursor = NULL, *next = NULL;
    int seen = 0;
    int64_t last_key = expiry ? INT64_MIN : INT64_MAX;
    char seen_ids[400][CH_ID_MAX];

    do {
        ch_store_cert *rows;
        size_t n;
        assert_int_equal(ch_store_cert_list(s, "tp", f, limit, cursor, &rows, &n, &next), 0);
        for (size_t i = 0; i < n; i++) {
            int64_t key = expiry ? rows[i].not_after : rows[i].created_at;
            assert_true(expiry ? key >= last_key : key <= last_key);
            last_key = key;
            for (int j = 0; j < seen; j++)
                assert_string_not_equal(seen_ids[j], rows[i].id);
            assert_true(seen < 400);
            snprintf(seen_ids[seen++], CH_ID_MAX, "%s", rows[i].id);
        }
        ch_store_cert_list_free(rows, n);
        free(cursor);
        cursor = next;
    } while (cursor != NULL);
    assert_int_equal(seen, expect);
}

static void test_keyset_pages_and_filters(void **state)
{
    ch_store *s = open_store();
    ch_store_cert_filter f = {.is_ca = -1};
    int64_t count;
    ch_store_cert *rows;
    size_t n;
    char *next;

    (void)state;
    put_tenant(s, "tp", "pages");
    for (int i = 0; i < 300; i++)
        assert_int_equal(put_cert(s, "tp", i, NULL), 0);
    walk(s, &f, 7, 300, false);
    f.order = CH_ORDER_EXPIRY;
    walk(s, &f, 13, 300, true);
    f.expiring_before = 110000; /* i % 50 < 10: 60 rows */
    walk(s, &f, 8, 60, true);
    assert_int_equal(ch_store_cert_count(s, "tp", &f, &count), 0);
    assert_int_equal(count, 60);
    f = (ch_store_cert_filter){.is_ca = 1};
    assert_int_equal(ch_store_cert_count(s, "tp", &f, &count), 0);
    assert_int_equal(count, 30);
    /* By method: "imported" from its partial index (newest first, and sorted in expiry order),
     * another method by a walk; pages meet every row once either way. */
    f = (ch_store_cert_filter){.is_ca = -1, .method = "imported"};
    walk(s, &f, 11, 150, false);
    f.order = CH_ORDER_EXPIRY;
    walk(s, &f, 11, 150, true);
    f.expiring_before = 110000; /* i % 50 < 10 and i even: 30 rows */
    walk(s, &f, 4, 30, true);
    assert_int_equal(ch_store_cert_count(s, "tp", &f, &count), 0);
    assert_int_equal(count, 30);
    f.method = "generated";
    walk(s, &f, 4, 30, true);
    f.order = CH_ORDER_NEWEST;
    walk(s, &f, 4, 30, false);
    f = (ch_store_cert_filter){.is_ca = -1, .search = "device-012"};
    assert_int_equal(ch_store_cert_count(s, "tp", &f, &count), 0);
    assert_int_equal(count, 10);
    /* Found before the background indexer has reached the rows, and after. */
    walk(s, &f, 3, 10, false);
    for (int i = 0; i < 100; i++) {
        int64_t pending = -1;
        assert_int_equal(ch_store_search_pending(s, &pending), 0);
        if (pending == 0)
            break;
        assert_true(i < 99); /* indexed within 10 s */
        usleep(100000);
    }
    /* Through the trigram index (few matches): paged, and case-insensitive like LIKE. */
    walk(s, &f, 3, 10, false);
    f.search = "DEVICE-012";
    assert_int_equal(ch_store_cert_count(s, "tp", &f, &count), 0);
    assert_int_equal(count, 10);
    /* Short terms and terms matching many go the LIKE way, with the same answers. */
    f.search = "12";
    assert_int_equal(ch_store_cert_count(s, "tp", &f, &count), 0);
    assert_int_equal(count, 13); /* 0012, 0112, 0120..0129, 0212 */
    /* LIKE wildcards and FTS5 syntax in a search are plain characters. */
    f.search = "device-%";
    assert_int_equal(ch_store_cert_count(s, "tp", &f, &count), 0);
    assert_int_equal(count, 0);
    f.search = "\"device\" OR \"acme";
    assert_int_equal(ch_store_cert_count(s, "tp", &f, &count), 0);
    assert_int_equal(count, 0);
    /* Another tenant's rows are not found; a deleted row is no longer found. */
    put_tenant(s, "tq", "pages-q");
    assert_int_equal(put_cert(s, "tq", 7, NULL), 0);
    f.search = "device-0007";
    assert_int_equal(ch_store_cert_count(s, "tp", &f, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(ch_store_cert_list(s, "tq", &f, 10, NULL, &rows, &n, &next), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ch_store_cert_delete(s, "tq", rows[0].id), 0);
    ch_store_cert_list_free(rows, n);
    assert_int_equal(ch_store_cert_count(s, "tq", &f, &count), 0);
    assert_int_equal(count, 0);
    /* Bad limits and cursors are refused. */
    assert_int_equal(ch_store_cert_list(s, "tp", NULL, 0, NULL, &rows, &n, &next), CH_EINVAL);
    assert_int_equal(ch_store_cert_list(s, "tp", NULL, 10, "garbage", &rows, &n, &next), CH_EINVAL);
    assert_string_equal(ch_error_field(), "cursor");
    ch_store_close(s);
}

static void test_transactions(void **state)
{
    ch_store *s = open_store();
    ch_store_cert_filter f = {.is_ca = -1};
    int64_t before, after;

    (void)state;
    put_tenant(s, "tx", "tx");
    assert_int_equal(ch_store_cert_count(s, "tx", &f, &before), 0);
    assert_int_equal(ch_store_begin(s), 0);
    assert_int_equal(put_cert(s, "tx", 900, NULL), 0);
    ch_store_rollback(s);
    assert_int_equal(ch_store_cert_count(s, "tx", &f, &after), 0);
    assert_int_equal(before, after);
    assert_int_equal(ch_store_begin(s), 0);
    assert_int_equal(put_cert(s, "tx", 901, NULL), 0);
    assert_int_equal(ch_store_commit(s), 0);
    assert_int_equal(ch_store_cert_count(s, "tx", &f, &after), 0);
    assert_int_equal(after, before + 1);
    ch_store_close(s);
}

struct writer {
    ch_store *s;
    int base;
    int failures;
};

static void *write_many(void *p)
{
    struct writer *w = p;

    for (int i = 0; i < 200; i++)
        if (put_cert(w->s, "tc", w->base + i, NULL) != 0)
            w->failures++;
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    ch_store *s = open_store();
    struct writer w[2] = {{s, 10000, 0}, {s, 20000, 0}};
    pthread_t t[2];
    ch_store_cert_filter f = {.is_ca = -1};
    int64_t count;

    (void)state;
    put_tenant(s, "tc", "concurrent");
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, write_many, &w[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(w[0].failures + w[1].failures, 0);
    assert_int_equal(ch_store_cert_count(s, "tc", &f, &count), 0);
    assert_int_equal(count, 400);
    ch_store_close(s);
}

static void test_not_a_database(void **state)
{
    char path[1300];
    FILE *f;
    ch_store *s = NULL;
    ch_store_opts o = {.url = path};

    (void)state;
    snprintf(path, sizeof path, "%s.garbage", dbpath);
    f = fopen(path, "w");
    fputs("this is not a database, just text that is long enough to be read as a header......", f);
    fclose(f);
    assert_int_equal(ch_store_open(&s, &o), CH_ESTORE);
    assert_null(s);
    assert_non_null(strstr(ch_error_last(), "not a certhub database"));
    o.url = "postgres://x";
    assert_int_equal(ch_store_open(&s, &o), CH_EUNSUPPORTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_and_reopen),
        cmocka_unit_test(test_schema_mismatch_refused),
        cmocka_unit_test(test_setup_steps),
        cmocka_unit_test(test_out_of_descriptors),
        cmocka_unit_test(test_isolation_and_duplicates),
        cmocka_unit_test(test_lineage),
        cmocka_unit_test(test_keyset_pages_and_filters),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_concurrent_writers),
        cmocka_unit_test(test_not_a_database),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
