/* Unit tests of the common module: errors, buffers, hex, files. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "certhub/common.h"
#include "testutil.h"

static void test_error_set_and_codes(void **state)
{
    (void)state;
    assert_int_equal(ch_error_set(CH_EINVAL, "bad %s", "thing"), CH_EINVAL);
    assert_string_equal(ch_error_last(), "bad thing");
    assert_int_equal(ch_error_last_code(), CH_EINVAL);
    assert_null(ch_error_field());
    ch_error_set_field(CH_EPARSE, "subject", "NUL in name");
    assert_string_equal(ch_error_field(), "subject");
    ch_error_prefix("while reading %s", "x.pem");
    assert_string_equal(ch_error_last(), "while reading x.pem: NUL in name");
    /* A message built from the previous message must not be corrupted. */
    ch_error_set(CH_EINVAL, "again: %s", ch_error_last());
    assert_string_equal(ch_error_last(), "again: while reading x.pem: NUL in name");
    assert_string_equal(ch_error_code_string(CH_ENOTFOUND), "not_found");
    assert_int_equal(ch_error_http_status(CH_ENOTFOUND), 404);
    assert_int_equal(ch_error_http_status(CH_ETOOBIG), 413);
    assert_int_equal(ch_error_http_status(-9999), 500);
    ch_error_clear();
    assert_string_equal(ch_error_last(), "");
}

static void test_error_ossl_drains_queue(void **state)
{
    EVP_PKEY_CTX *ctx;

    (void)state;
    /* An unknown algorithm leaves reasons on OpenSSL's error queue. */
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "NO-SUCH-ALGORITHM", NULL);
    assert_null(ctx);
    ch_error_ossl(CH_ECRYPTO, "EVP_PKEY_CTX_new_from_name", "key generation");
    assert_non_null(strstr(ch_error_last(), "EVP_PKEY_CTX_new_from_name failed"));
    assert_int_equal(ERR_peek_error(), 0);
}

static void test_buf_cap(void **state)
{
    ch_buf b;

    (void)state;
    ch_buf_init(&b, 8);
    assert_int_equal(ch_buf_puts(&b, "abcd"), 0);
    assert_int_equal(ch_buf_printf(&b, "%d", 123), 0);
    assert_string_equal((char *)b.data, "abcd123");
    assert_int_equal(ch_buf_puts(&b, "xy"), CH_ETOOBIG);
    assert_int_equal(b.len, 7); /* unchanged by the refused write */
    ch_buf_dispose_secure(&b);
    assert_null(b.data);

    ch_buf_init(&b, 0);
    assert_int_equal(ch_buf_grow(&b, SIZE_MAX), CH_ETOOBIG);
    ch_buf_dispose(&b);
}

/* Whether the block the next malloc(size) hands out is p (its address: it was freed) and still
 * holds some of the 'S' bytes it was filled with, past its first 32 bytes (where a free block
 * keeps the allocator's links); -1 when another block comes (nothing to see). */
static int reused_holds(uintptr_t p, size_t size)
{
    unsigned char *q = malloc(size);
    int held = -1;

    assert_non_null(q);
    if ((uintptr_t)q == p)
        held = memchr(q + 32, 'S', size - 32) != NULL;
    free(q);
    return held;
}

static void *filled(size_t size)
{
    void *p = malloc(size);

    assert_non_null(p);
    memset(p, 'S', size);
    /* The bytes are seen to be used: a block filled and freed unread would otherwise be
     * filled by no one (the compiler drops the memset). */
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

/* A freed block is handed out again as it was: glibc gives the block just freed to the next
 * malloc of its size on the same thread (from its tcache, or its bins for a larger one).  What
 * ch_secure_free_block and ch_secure_realloc leave must hold nothing of what was in it; the
 * same with free() shows the check sees it.  An allocator that hands out another block (a
 * sanitizer's, which keeps freed ones in quarantine) leaves nothing to check. */
static void test_secure_free_block(void **state)
{
    static const size_t sizes[] = {200, 20000};
    unsigned char *p, *q;
    uintptr_t was;
    ch_buf b = CH_BUF_INIT;

    (void)state;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        was = (uintptr_t)(p = filled(sizes[i]));
        free(p);
        assert_true(reused_holds(was, sizes[i]) != 0); /* free() leaves the bytes: the check can fail */
        was = (uintptr_t)(p = filled(sizes[i]));
        ch_secure_free_block(p);
        assert_true(reused_holds(was, sizes[i]) <= 0);
    }
    ch_secure_free_block(NULL);

    /* realloc: the contents move, and the block left is wiped; one that fits stays. */
    was = (uintptr_t)(p = filled(200));
    assert_ptr_equal(ch_secure_realloc(p, 100), p);
    q = ch_secure_realloc(p, 5000);
    assert_non_null(q);
    assert_true(q[0] == 'S' && q[199] == 'S');
    assert_true(reused_holds(was, 200) <= 0);
    assert_null(ch_secure_realloc(q, 0));
    assert_non_null(q = ch_secure_realloc(NULL, 10));
    free(q);

    /* A buffer growing leaves nothing of its secret behind: its first block (128 bytes) is
     * wiped as it moves to a larger one. */
    p = filled(100);
    assert_int_equal(ch_buf_put(&b, p, 100), 0);
    free(p);
    was = (uintptr_t)b.data;
    assert_int_equal(ch_buf_puts(&b, "more than the 128 bytes the buffer holds now, grown"), 0);
    assert_true((uintptr_t)b.data != was);
    assert_true(reused_holds(was, 128) <= 0);
    assert_true(b.data[0] == 'S' && b.data[99] == 'S' && b.data[100] == 'm');
    ch_buf_dispose_secure(&b);
    assert_null(b.data);
}

/* The JSON writer: members in order, escapes, U+FFFD for bytes that are not UTF-8 (a quoted
 * overlong form and a lone continuation byte), nested objects, and a buffer at its cap. */
static void test_json_writer(void **state)
{
    ch_buf b = CH_BUF_INIT;
    ch_jw w, e;
    char *list[] = {"a\"b", "\xc3\xa9t\xc3\xa9"};

    (void)state;
    ch_jw_begin(&w, &b);
    ch_jw_str(&w, "s", "tab\there\nquote\" back\\ \x01");
    ch_jw_str(&w, "null", NULL);
    ch_jw_int(&w, "n", -42);
    ch_jw_bool(&w, "t", true);
    ch_jw_strs(&w, "list", list, 2);
    ch_jw_str(&w, "bad", "x\xc0\xafy\x80z");
    ch_jw_key(&w, "o");
    ch_jw_begin(&e, &b);
    ch_jw_raw(&e, "raw", "[1,2]");
    ch_jw_end(&e);
    ch_jw_end(&w);
    assert_false(w.oom);
    assert_string_equal((char *)b.data, "{\"s\":\"tab\\there\\nquote\\\" back\\\\ \\u0001\",\"null\":null,\"n\":-42,"
                                        "\"t\":true,\"list\":[\"a\\\"b\",\"\xc3\xa9t\xc3\xa9\"],"
                                        "\"bad\":\"x\xef\xbf\xbd\xef\xbf\xbdy\xef\xbf\xbdz\",\"o\":{\"raw\":[1,2]}}");
    ch_buf_dispose(&b);
    ch_buf_init(&b, 4);
    ch_jw_begin(&w, &b);
    ch_jw_str(&w, "long", "more than four bytes");
    assert_true(w.oom);
    ch_buf_dispose(&b);
}

static void test_hex(void **state)
{
    const uint8_t in[3] = {0x00, 0xab, 0xff};
    char h[7], c[9];

    (void)state;
    ch_hex(h, in, 3);
    assert_string_equal(h, "00abff");
    ch_hex_colon(c, in, 3);
    assert_string_equal(c, "00:AB:FF");
    assert_int_equal(ch_memeq_ct("abc", "abc", 3), 0);
    assert_int_equal(ch_utf8_chars("\xc3\x84rger \xe2\x82\xac"), 7); /* "Ärger €" */
    assert_int_equal(ch_utf8_chars(""), 0);
    assert_true(ch_utf8_valid("\xc3\x84rger \xe2\x82\xac \xf0\x9f\x94\x91")); /* "Ärger € 🔑" */
    assert_true(ch_utf8_valid(""));
    assert_false(ch_utf8_valid("bad\xff"));         /* no lead byte */
    assert_false(ch_utf8_valid("\xc0\xaf"));        /* overlong '/' */
    assert_false(ch_utf8_valid("\xe0\x80\xaf"));    /* overlong, three bytes */
    assert_false(ch_utf8_valid("\xed\xa0\x80"));    /* a surrogate */
    assert_false(ch_utf8_valid("\xf4\x90\x80\x80")); /* above U+10FFFF */
    assert_false(ch_utf8_valid("\xe2\x82"));        /* cut short */
    assert_false(ch_utf8_valid("\xc3("));           /* a lead byte without its continuation */
    assert_int_not_equal(ch_memeq_ct("abc", "abd", 3), 0);
    assert_int_equal(ch_utf8_char_len("a"), 1);
    assert_int_equal(ch_utf8_char_len("\xf0\x9f\x94\x91x"), 4);
    assert_int_equal(ch_utf8_char_len(""), 0);
    assert_int_equal(ch_utf8_char_len("\xed\xa0\x80"), 0);
    /* What no name shown to people holds: C0, DEL, C1 (CSI), the bidirectional overrides and
     * isolates; not the marks around them, nor text in a right-to-left script. */
    assert_int_equal(ch_utf8_control("\x1b[2J"), 1);
    assert_int_equal(ch_utf8_control("\x7f"), 1);
    assert_int_equal(ch_utf8_control("\xc2\x9b" "31m"), 2);
    assert_int_equal(ch_utf8_control("\xe2\x80\xae" "gpj.exe"), 3); /* U+202E */
    assert_int_equal(ch_utf8_control("\xe2\x80\xaa"), 3);           /* U+202A */
    assert_int_equal(ch_utf8_control("\xe2\x81\xa6"), 3);           /* U+2066 */
    assert_int_equal(ch_utf8_control("\xe2\x81\xa9"), 3);           /* U+2069 */
    assert_int_equal(ch_utf8_control("\xe2\x80\xaf"), 0);           /* U+202F, a space */
    assert_int_equal(ch_utf8_control("\xe2\x80\x8f"), 0);           /* U+200F, a mark */
    assert_int_equal(ch_utf8_control("\xc2\xa0"), 0);                /* U+00A0 */
    assert_int_equal(ch_utf8_control("\xd7\xa9"), 0);                /* a Hebrew letter */
    assert_int_equal(ch_utf8_control(""), 0);
    assert_int_equal(ch_utf8_control("a"), 0);
    /* What shows blank: the spaces of Unicode and the zero-width ones; not a letter, a tab (a
     * control), nor the joiners that scripts and emoji need. */
    assert_int_equal(ch_utf8_space(" x"), 1);
    assert_int_equal(ch_utf8_space("\xc2\xa0"), 2);     /* U+00A0 */
    assert_int_equal(ch_utf8_space("\xe3\x80\x80"), 3); /* U+3000 */
    assert_int_equal(ch_utf8_space("\xe2\x80\x8b"), 3); /* U+200B */
    assert_int_equal(ch_utf8_space("\xe2\x80\xaf"), 3); /* U+202F */
    assert_int_equal(ch_utf8_space("\xef\xbb\xbf"), 3); /* U+FEFF */
    assert_int_equal(ch_utf8_space("\xe2\x80\x8d"), 0); /* U+200D, the joiner */
    assert_int_equal(ch_utf8_space("\t"), 0);
    assert_int_equal(ch_utf8_space("a"), 0);
    assert_int_equal(ch_utf8_space(""), 0);
}

/* Standard base64, with line breaks as base64(1) and PEM write them; every other text refused
 * with where it went wrong, nothing appended beyond what was whole before it. */
static void test_base64(void **state)
{
    ch_buf b = CH_BUF_INIT;
    static const uint8_t bin[] = {0x30, 0x82, 0xfb, 0xff, 0x00, 0x3e};
    struct {
        const char *text;
        const char *says;
        size_t len; /* 0: strlen */
    } bad[] = {
        {"", "no base64", 0},
        {" \r\n", "no base64", 0},
        {"QQ", "no whole groups", 0},
        {"QUJD\nRA", "no whole groups", 0},
        {"Q===", "is not padding", 0},
        {"=QQQ", "is not padding", 0},
        {"QQ=A", "after the '='", 0},
        {"QQ==QUJD", "after the '='", 0},
        {"QQ===", "after the '='", 0},
        {"MIL-_w==", "base64url's", 0},
        {"MIL+_w==", "'_' (character 5) is base64url's; standard base64 has '/'", 0},
        {"QU*D", "'*' (character 3)", 0},
        {"QU\xc3\xa9" "D", "0xc3", 0},
        {"QUJD\0QUJD", "0x00", 9},
    };

    (void)state;
    assert_int_equal(ch_base64_decode(&b, "QUJD", 4), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "ABC", 3);
    /* Appended: a second call adds to what is there. */
    assert_int_equal(ch_base64_decode(&b, "QQ==", 4), 0);
    assert_int_equal(ch_base64_decode(&b, "QUI=", 4), 0);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "ABCAAB", 6);
    ch_buf_dispose(&b);
    /* Every character of the alphabet, as GNU base64 wraps it, and CRLF. */
    assert_int_equal(ch_base64_decode(&b, "MIL7\n/wA+\r\n", 11), 0);
    assert_int_equal(b.len, sizeof bin);
    assert_memory_equal(b.data, bin, sizeof bin);
    ch_buf_dispose(&b);
    assert_int_equal(ch_base64_decode(&b, " TWFu\tTWE= \n", 12), 0);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "ManMa", 5);
    ch_buf_dispose(&b);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = bad[i].len ? bad[i].len : strlen(bad[i].text);
        assert_int_equal(ch_base64_decode(&b, bad[i].text, n), CH_EPARSE);
        if (strstr(ch_error_last(), bad[i].says) == NULL)
            fail_msg("\"%s\": \"%s\" lacks \"%s\"", bad[i].text, ch_error_last(), bad[i].says);
        ch_buf_dispose(&b);
    }
    /* The cap of the buffer bounds what is decoded. */
    ch_buf_init(&b, 2);
    assert_int_equal(ch_base64_decode(&b, "QUJD", 4), CH_ETOOBIG);
    ch_buf_dispose(&b);
    /* Encoded as GNU base64 -w0 writes it (RFC 4648's test vectors), and read back whole. */
    {
        static const char *const vectors[][2] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                 {"foo", "Zm9v"},  {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                 {"foobar", "Zm9vYmFy"}};
        ch_buf_init(&b, 0); /* (no cap: the one of 2 above stays with the buffer disposed) */
        for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
            assert_int_equal(ch_base64_encode(&b, (const uint8_t *)vectors[i][0], strlen(vectors[i][0])), 0);
            assert_string_equal((const char *)b.data, vectors[i][1]);
            assert_int_equal(b.len, strlen(vectors[i][1]));
            ch_buf_dispose(&b);
        }
        assert_int_equal(ch_base64_encode(&b, bin, sizeof bin), 0);
        ch_buf out = CH_BUF_INIT;
        assert_int_equal(ch_base64_decode(&out, (const char *)b.data, b.len), 0);
        assert_int_equal(out.len, sizeof bin);
        assert_memory_equal(out.data, bin, sizeof bin);
        ch_buf_dispose(&out);
        ch_buf_dispose(&b);
    }
}

/* Aliases as Java lowers them (toLowerCase(Locale.ENGLISH)), which decides which two keytool
 * takes for one; the expected strings are what Java 17 writes. */
static void test_alias_lower(void **state)
{
    static const char *const cases[][2] = {
        {"Web-Server", "web-server"},
        {"\xc3\x84rger", "\xc3\xa4rger"},                   /* Ärger */
        {"\xe2\x84\xaa", "k"},                                /* U+212A KELVIN SIGN */
        {"\xc4\xb0", "i\xcc\x87"},                           /* U+0130: i and a combining dot */
        {"\xce\x9f\xce\x94\xce\x9f\xce\xa3", "\xce\xbf\xce\xb4\xce\xbf\xcf\x82"}, /* ΟΔΟΣ: οδος */
        {"\xce\xa3-1", "\xcf\x83-1"},                         /* a sigma alone stays σ */
        {"\xd0\x96\xd0\xa3\xd0\x9a", "\xd0\xb6\xd1\x83\xd0\xba"}, /* ЖУК */
        {"raw\xff", "raw\xff"},                                /* not UTF-8: kept */
        {"\xf0\x9f\x94\x91 KEY", "\xf0\x9f\x94\x91 key"},     /* an emoji, as it is */
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *l = ch_alias_lower(cases[i][0]);
        assert_non_null(l);
        assert_string_equal(l, cases[i][1]);
        free(l);
    }
    assert_true(ch_alias_same("\xc3\x84", "\xc3\xa4"));
    assert_true(ch_alias_same("\xe2\x84\xaa", "K"));
    assert_true(ch_alias_same("WEB", "web"));
    assert_false(ch_alias_same("\xc4\xb0", "i")); /* İ is "i̇" to Java, not "i" */
    assert_false(ch_alias_same("a", "b"));
}

/* Where a webhook may not lead, by address, as certhubd and the settings both ask it. */
static void test_url_flaw(void **state)
{
    size_t at;

    (void)state;
    assert_null(ch_url_flaw("https://hooks.example/x?y=1", &at));
    assert_int_equal(at, 0);
    assert_null(ch_url_flaw("http://[::1]:8080/", &at));
    assert_string_equal(ch_url_flaw("https://a.example/a b", &at), "a space");
    assert_int_equal(at, 20);
    assert_string_equal(ch_url_flaw("https://a.example/\r\n", &at), "a control character");
    assert_int_equal(at, 19);
    assert_string_equal(ch_url_flaw("https://a.example/\xc3\xa4", &at), "a character beyond ASCII");
    assert_int_equal(at, 19);
    for (const char *const *u = (const char *const[]){"https://", "https:///x", "https://:443/", "https://@h/",
                                                       "https://?q", "https:/h", "h", NULL};
         *u != NULL; u++) {
        assert_string_equal(ch_url_flaw(*u, &at), "no host");
        assert_int_equal(at, 0);
    }
}

static void test_hook_address(void **state)
{
    static const struct {
        const char *addr;
        bool installation;
        const char *why;
    } cases[] = {
        {"169.254.169.254", true, "a link-local address"},
        {"0.0.0.0", true, "an unspecified or multicast address"},
        {"224.0.0.1", true, "an unspecified or multicast address"},
        {"127.0.0.1", false, CH_HOOK_LOOPBACK},
        {"127.0.0.1", true, NULL},
        {"10.1.2.3", false, NULL},
        {"fe80::1", true, "a link-local address"},
        {"::ffff:169.254.1.1", true, "a link-local address"},
        {"::", true, "an unspecified or multicast address"},
        {"ff02::1", true, "an unspecified or multicast address"},
        {"::1", false, CH_HOOK_LOOPBACK},
        {"::ffff:127.0.0.1", false, CH_HOOK_LOOPBACK},
        {"::1", true, NULL},
        {"2001:db8::1", false, NULL},
    };
    unsigned char a[16];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int af = strchr(cases[i].addr, ':') ? AF_INET6 : AF_INET;
        const char *why;
        assert_int_equal(inet_pton(af, cases[i].addr, a), 1);
        why = ch_hook_address_refused(af, a, cases[i].installation);
        if (cases[i].why == NULL)
            assert_null(why);
        else
            assert_string_equal(why, cases[i].why);
    }
}

/* A file's name as a name: cut at whole characters, within the characters and the bytes
 * given; none when it could be no name. */
static void test_name_from_file(void **state)
{
    char out[16];

    (void)state;
    ch_name_from_file(out, sizeof out, "web.pem", 128);
    assert_string_equal(out, "web.pem");
    ch_name_from_file(out, sizeof out, "abcdefgh", 5);
    assert_string_equal(out, "abcde");
    ch_name_from_file(out, sizeof out, "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5", 2); /* three CJK: two kept whole */
    assert_string_equal(out, "\xe6\x97\xa5\xe6\x97\xa5");
    ch_name_from_file(out, 7, "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5", 128); /* 6 bytes of room: 2 whole */
    assert_string_equal(out, "\xe6\x97\xa5\xe6\x97\xa5");
    ch_name_from_file(out, sizeof out, "a\nb.pem", 128);
    assert_string_equal(out, "");
    ch_name_from_file(out, sizeof out, "\xe2\x80\xae" "gpj.exe", 128);
    assert_string_equal(out, "");
    ch_name_from_file(out, sizeof out, "raw\xff.pem", 128);
    assert_string_equal(out, "");
    ch_name_from_file(out, sizeof out, "", 128);
    assert_string_equal(out, "");
    /* white space at the ends left out (a name is refused with it), a blank one none */
    ch_name_from_file(out, sizeof out, " web .pem\xc2\xa0", 128);
    assert_string_equal(out, "web .pem");
    ch_name_from_file(out, sizeof out, "my cert", 3); /* cut after the space */
    assert_string_equal(out, "my");
    ch_name_from_file(out, sizeof out, " \xe3\x80\x80 ", 128);
    assert_string_equal(out, "");
}

static void test_files(void **state)
{
    const char *dir = tu_tmpdir("common");
    char path[1200];
    uint8_t *data;
    size_t len;
    struct stat st;

    (void)state;
    snprintf(path, sizeof path, "%s/f", dir);
    assert_int_equal(ch_file_write_atomic(path, "hello", 5, 0600), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(ch_file_read(&data, &len, path, 100), 0);
    assert_int_equal(len, 5);
    assert_string_equal((char *)data, "hello");
    free(data);
    assert_int_equal(ch_file_read(&data, &len, path, 4), CH_ETOOBIG);
    assert_null(data);
    snprintf(path, sizeof path, "%s/missing", dir);
    assert_int_equal(ch_file_read(&data, &len, path, 100), CH_EIO);
    assert_non_null(strstr(ch_error_last(), "cannot open"));
    snprintf(path, sizeof path, "%s/no/such/dir/f", dir);
    assert_int_equal(ch_file_write_atomic(path, "x", 1, 0600), CH_EIO);
    tu_rmtree(dir);
}

static void test_init_and_random(void **state)
{
    uint8_t a[16] = {0}, b[16] = {0};

    (void)state;
    assert_int_equal(ch_init(), 0);
    assert_int_equal(ch_init(), 0);
    assert_int_equal(ch_random(a, sizeof a), 0);
    assert_int_equal(ch_random(b, sizeof b), 0);
    assert_memory_not_equal(a, b, sizeof a);
    assert_true(ch_now() > 1700000000);
}

/* What ch_conf_parse hands on, written out as "LINE:name=value" or "LINE:[kind|name]". */
static int conf_collect(void *arg, const ch_conf_item *it)
{
    char *out = arg;
    size_t n = strlen(out);

    snprintf(out + n, 1024 - n, it->section ? "%d:[%s|%s];" : "%d:%s=%s;", it->line, it->name, it->value);
    return strcmp(it->name, "stop") == 0 ? ch_error_set(CH_EINVAL, "stopped") : 0;
}

/* Parses text (copied: the parser cuts it in place) into got; returns its result. */
static int conf_run(const char *text, char got[1024], int *line)
{
    char copy[512];
    size_t n = strlen(text);

    memcpy(copy, text, n + 1);
    got[0] = '\0';
    return ch_conf_parse(copy, n, conf_collect, got, line);
}

static void test_conf(void **state)
{
    char got[1024], big[80], copy[16];
    int line;

    (void)state;
    assert_int_equal(conf_run("\xEF\xBB\xBF# top\r\n  a = 1  \r\n\n\tb=two words\t# said\nc = x#y\n"
                              "[target  web ]\n[kind]\nd =\n  # indented comment\ne = last", got, &line), 0);
    assert_string_equal(got, "2:a=1;4:b=two words;5:c=x#y;6:[target|web];7:[kind|];8:d=;10:e=last;");
    assert_int_equal(line, 0);
    /* Errors say their line and change nothing after it. */
    assert_int_equal(conf_run("a = 1\nno equals here\nb = 2\n", got, &line), CH_EPARSE);
    assert_int_equal(line, 2);
    assert_string_equal(got, "1:a=1;");
    assert_non_null(strstr(ch_error_last(), "name = value"));
    assert_int_equal(conf_run("  = 3\n", got, &line), CH_EPARSE);
    assert_int_equal(line, 1);
    assert_int_equal(conf_run("a = 1\n[target web\n", got, &line), CH_EPARSE);
    assert_int_equal(line, 2);
    assert_int_equal(conf_run("[]\n", got, &line), CH_EPARSE);
    assert_int_equal(conf_run("[  ]\n", got, &line), CH_EPARSE);
    assert_int_equal(conf_run("x = 1\nstop = now\ny = 2", got, &line), CH_EINVAL);
    assert_int_equal(line, 2);
    assert_string_equal(ch_error_last(), "stopped");
    /* A NUL byte inside the text: not text. */
    memcpy(copy, "a = 1\nb\0= 2\n", sizeof "a = 1\nb\0= 2\n");
    assert_int_equal(ch_conf_parse(copy, sizeof "a = 1\nb\0= 2\n" - 1, conf_collect, got, &line), CH_EPARSE);
    assert_non_null(strstr(ch_error_last(), "control character (0x00)"));
    assert_int_equal(line, 2);
    assert_int_equal(conf_run("a = 1\rb = 2\n", got, &line), CH_EPARSE); /* a lone CR is no line end */
    assert_int_equal(line, 1);
    /* A long line is one line (fgets into a buffer had made two of it). */
    {
        static char longtext[10000];
        memset(longtext, 'v', sizeof longtext - 1);
        memcpy(longtext, "k = ", 4);
        longtext[sizeof longtext - 1] = '\0';
        got[0] = '\0';
        assert_int_equal(ch_conf_parse(longtext, sizeof longtext - 1, conf_collect, got, &line), 0);
        assert_int_equal(strncmp(got, "1:k=vvv", 7), 0);
    }
    /* A value longer than its place is refused, not cut. */
    assert_int_equal(ch_conf_copy(big, sizeof big, &(ch_conf_item){.name = "path", .value = "short"}), 0);
    assert_string_equal(big, "short");
    memset(copy, 'x', 15);
    copy[15] = '\0';
    assert_int_equal(ch_conf_copy(big, 15, &(ch_conf_item){.name = "path", .value = copy}), CH_ETOOBIG);
    assert_non_null(strstr(ch_error_last(), "path is 15 bytes long; it takes at most 14"));
}

static void test_text_lines(void **state)
{
    const char *cur = "one\n\ntwo\nthree", *line;
    size_t n;

    (void)state;
    assert_non_null(line = ch_text_line(&cur, &n));
    assert_int_equal(n, 3);
    assert_memory_equal(line, "one", 3);
    assert_non_null(line = ch_text_line(&cur, &n)); /* the empty line between is skipped */
    assert_int_equal(n, 3);
    assert_memory_equal(line, "two", 3);
    assert_non_null(line = ch_text_line(&cur, &n)); /* the last, without its '\n' */
    assert_int_equal(n, 5);
    assert_memory_equal(line, "three", 5);
    assert_null(ch_text_line(&cur, &n));
    assert_null(ch_text_line(&cur, &n));
    cur = NULL;
    assert_null(ch_text_line(&cur, &n));
    cur = "\n\n";
    assert_null(ch_text_line(&cur, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_set_and_codes),
        cmocka_unit_test(test_error_ossl_drains_queue),
        cmocka_unit_test(test_buf_cap),
        cmocka_unit_test(test_secure_free_block),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_text_lines),
        cmocka_unit_test(test_conf),
        cmocka_unit_test(test_json_writer),
        cmocka_unit_test(test_name_from_file),
        cmocka_unit_test(test_alias_lower),
        cmocka_unit_test(test_url_flaw),
        cmocka_unit_test(test_hook_address),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_init_and_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
