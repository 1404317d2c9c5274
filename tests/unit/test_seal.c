/* Unit tests of sealing: round trips, binding to tenant and key id, tampering, truncation,
 * the master key file's creation and its checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "certhub/seal.h"
#include "testutil.h"

static const uint8_t secret[] = "-----BEGIN PRIVATE KEY-----\nnot really a key\n";

static void seal_blob(ch_buf *blob, ch_seal *s)
{
    ch_buf_init(blob, 0);
    assert_int_equal(ch_seal_encrypt(blob, s, secret, sizeof secret, "tenant-a", "key-1"), 0);
    assert_int_equal(blob->len, sizeof secret + CH_SEAL_OVERHEAD);
    assert_false(tu_contains(blob->data, blob->len, "BEGIN PRIVATE", 13));
}

static void test_round_trip_and_binding(void **state)
{
    uint8_t key[32] = {1, 2, 3};
    ch_seal *s;
    ch_buf blob, plain = CH_BUF_INIT;

    (void)state;
    assert_int_equal(ch_seal_open_key(&s, key), 0);
    seal_blob(&blob, s);
    assert_int_equal(ch_seal_decrypt(&plain, s, blob.data, blob.len, "tenant-a", "key-1"), 0);
    assert_int_equal(plain.len, sizeof secret);
    assert_memory_equal(plain.data, secret, sizeof secret);
    ch_buf_dispose_secure(&plain);
    /* Another tenant or key id does not open it. */
    assert_int_equal(ch_seal_decrypt(&plain, s, blob.data, blob.len, "tenant-b", "key-1"), CH_EVERIFY);
    assert_int_equal(ch_seal_decrypt(&plain, s, blob.data, blob.len, "tenant-a", "key-2"), CH_EVERIFY);
    /* "tenant-a"+"key-1" must not equal "tenant-ak"+"ey-1". */
    assert_int_equal(ch_seal_decrypt(&plain, s, blob.data, blob.len, "tenant-ak", "ey-1"), CH_EVERIFY);
    assert_int_equal(plain.len, 0);
    ch_buf_dispose(&plain);
    ch_buf_dispose(&blob);
    ch_seal_free(s);
}

static void test_tamper_and_truncate(void **state)
{
    uint8_t key[32] = {9};
    ch_seal *s;
    ch_buf blob, plain = CH_BUF_INIT;

    (void)state;
    assert_int_equal(ch_seal_open_key(&s, key), 0);
    seal_blob(&blob, s);
    for (size_t i = 0; i < blob.len; i++) {
        blob.data[i] ^= 0x01;
        assert_int_equal(ch_seal_decrypt(&plain, s, blob.data, blob.len, "tenant-a", "key-1"), CH_EVERIFY);
        blob.data[i] ^= 0x01;
    }
    for (size_t n = 0; n < blob.len; n++)
        assert_int_equal(ch_seal_decrypt(&plain, s, blob.data, n, "tenant-a", "key-1"), CH_EVERIFY);
    assert_int_equal(plain.len, 0);
    ch_buf_dispose(&plain);
    ch_buf_dispose(&blob);
    ch_seal_free(s);
}

static void test_rotation(void **state)
{
    uint8_t old_key[32] = {7}, new_key[32] = {8};
    ch_seal *old_s, *new_s, *other;
    ch_buf blob, plain = CH_BUF_INIT;

    (void)state;
    assert_int_equal(ch_seal_open_key(&old_s, old_key), 0);
    seal_blob(&blob, old_s);
    assert_int_equal(ch_seal_open_key(&new_s, new_key), 0);
    assert_int_equal(ch_seal_decrypt(&plain, new_s, blob.data, blob.len, "tenant-a", "key-1"), CH_EVERIFY);
    assert_non_null(strstr(ch_error_last(), "not loaded"));
    assert_int_equal(ch_seal_add_key(new_s, old_key), 0);
    assert_int_equal(ch_seal_decrypt(&plain, new_s, blob.data, blob.len, "tenant-a", "key-1"), 0);
    ch_buf_dispose_secure(&plain);
    /* A key with the same id prefix cannot exist by accident; a different key must fail. */
    assert_int_equal(ch_seal_open_key(&other, new_key), 0);
    assert_int_equal(ch_seal_decrypt(&plain, other, blob.data, blob.len, "tenant-a", "key-1"), CH_EVERIFY);
    ch_seal_free(other);
    ch_buf_dispose(&blob);
    ch_seal_free(old_s);
    ch_seal_free(new_s);
}

static void test_master_key_file(void **state)
{
    const char *dir = tu_tmpdir("seal");
    char path[1200];
    struct stat st;
    ch_seal *s1, *s2, *bad;
    ch_buf blob, plain = CH_BUF_INIT;

    (void)state;
    assert_int_equal(ch_seal_open(&s1, dir), 0);
    snprintf(path, sizeof path, "%s/master.key", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
    seal_blob(&blob, s1);
    /* Reopening reuses the same key. */
    assert_int_equal(ch_seal_open(&s2, dir), 0);
    assert_int_equal(ch_seal_decrypt(&plain, s2, blob.data, blob.len, "tenant-a", "key-1"), 0);
    ch_buf_dispose_secure(&plain);
    /* Loose permissions are refused. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(ch_seal_open(&bad, dir), CH_EPERM);
    assert_non_null(strstr(ch_error_last(), "chmod 600"));
    assert_null(bad);
    /* A file of the wrong size is refused. */
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(truncate(path, 31), 0);
    assert_int_equal(ch_seal_open(&bad, dir), CH_EINVAL);
    assert_non_null(strstr(ch_error_last(), "exactly 32 bytes"));
    /* Asked not to make one, a missing key is said missing and not made. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(ch_seal_open_ex(&bad, dir, false), CH_ENOTFOUND);
    assert_null(bad);
    assert_int_not_equal(stat(path, &st), 0);
    ch_buf_dispose(&blob);
    ch_seal_free(s1);
    ch_seal_free(s2);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_binding),
        cmocka_unit_test(test_tamper_and_truncate),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_master_key_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
