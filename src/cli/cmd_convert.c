/* certhub convert: any keystore or certificate format into another. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certhub/formats.h"
#include "cli.h"

int cmd_convert(cli_args *a)
{
    const char *in = a->pos[0], *out = cli_need(a, "out"), *to = cli_need(a, "to");
    ch_import_opts io = {0};
    ch_export_opts eo = {0};
    ch_keystore *ks = NULL;
    ch_format fmt;
    uint8_t *data = NULL;
    size_t len = 0;
    char *in_pw = NULL, *out_pw = NULL, *key_pw = NULL;
    ch_buf buf = CH_BUF_INIT;
    bool has_key = false;
    int rc = 1;

    /* Every name the parser takes, aliases too: one who wrote "pfx" or "cer" is told they are. */
    if (ch_format_parse(&fmt, to) < 0)
        cli_bad_value(a, "--to must be one of " CH_FORMAT_NAMES_WRITTEN ", not \"%.32s\"", to);
    if (fmt == CH_FMT_JCEKS)
        cli_bad_value(a, "--to jceks: jceks is read, not written; --to takes " CH_FORMAT_NAMES_WRITTEN);
    if (cli_read(a, in, &data, &len) != 0)
        return 1;
    if (cli_password(a, "in-password-file", "CERTHUB_IN_PASSWORD", &in_pw) != 0 ||
        cli_password(a, "password-file", "CERTHUB_PASSWORD", &out_pw) != 0 ||
        cli_password(a, "key-password-file", NULL, &key_pw) != 0)
        goto done;
    io.password = in_pw;
    io.key_password = key_pw;
    /* No key written: a keystore's certificates are taken with its password alone, the keys
     * the passwords given do not open left closed (as for a truststore pulled out of it). */
    io.keys_optional = cli_flag(a, "no-key") || fmt == CH_FMT_DER || fmt == CH_FMT_PKCS7;
    if ((rc = ch_keystore_import(&ks, data, len, &io)) < 0) {
        /* Two passwords are in play: the one of the file read is the one asked for here. */
        /* (a key certhub does not take, of an entry: its certificates still come out alone) */
        bool entry_key = rc == CH_EPOLICY && strncmp(ch_error_last(), "the key of entry", 16) == 0;
        rc = cli_fail(a, "%s: %s%s", in, ch_error_last(),
                      entry_key ? "; --no-key writes its certificates alone"
                      : rc != CH_EPASSWORD || in_pw != NULL ? ""
                      : out_pw != NULL ? ": give it with --in-password-file F (--password-file is that of the file written)"
                                       : ": give it with --in-password-file F");
        goto done;
    }
    rc = 1;
    for (size_t i = 0; i < ks->count; i++)
        has_key |= ks->entries[i].key != NULL;
    /* A PKCS#12 without a password is asked for by name: an empty password file (or an unset
     * variable echoed into one) does not write the key unprotected; so is a PEM key in clear
     * out of a file that held it under a password. */
    if (cli_flag(a, "no-password") &&
        ((fmt != CH_FMT_PKCS12 && fmt != CH_FMT_PEM) || cli_opt(a, "password-file") != NULL))
        cli_usage(a, "--no-password goes with --to p12 or pem, without --password-file");
    /* A key the file holds that none of its certificates goes with would be left out, and the
     * keystore written without it (a key pasted beside the wrong certificate): the server
     * refuses that file; so does this. */
    if (ks->keys_unmatched > 0 && !cli_flag(a, "no-key") && fmt != CH_FMT_DER && fmt != CH_FMT_PKCS7) {
        rc = cli_fail(a, "%s holds %zu private key%s that belong%s to none of its certificates, and would be left "
                         "out: give the certificate's own key beside it, or --no-key to write the certificates alone",
                      in, ks->keys_unmatched, ks->keys_unmatched == 1 ? "" : "s", ks->keys_unmatched == 1 ? "s" : "");
        goto done;
    }
    /* DER holds one certificate: of several entries, which is meant is not for convert to pick
     * (it wrote the first, often the root), as the server's export refuses. */
    if (fmt == CH_FMT_DER && ks->count > 1) {
        rc = cli_fail(a, "DER holds one certificate and %s has %zu entries: --to pem or p7b holds them all", in,
                      ks->count);
        goto done;
    }
    if (fmt == CH_FMT_PEM && has_key && !cli_flag(a, "no-key") && out_pw == NULL && (in_pw != NULL || key_pw != NULL) &&
        !cli_flag(a, "no-password")) {
        rc = cli_fail(a, "%s held its key under a password: give --password-file to encrypt the PEM key, or "
                         "--no-password to write it in clear (or --no-key to leave it out)", in);
        goto done;
    }
    if ((fmt == CH_FMT_PKCS12 || fmt == CH_FMT_JKS) && !cli_flag(a, "no-password") &&
        (out_pw == NULL || *out_pw == '\0')) {
        rc = cli_fail(a, "writing %s needs a password: give --password-file%s", to,
                      out_pw == NULL ? "" : " whose first line is not empty");
        goto done;
    }
    /* A PEM key under an empty password was written in clear, without the note below. */
    if (fmt == CH_FMT_PEM && out_pw != NULL && *out_pw == '\0') {
        rc = cli_fail(a, "--password-file gives an empty password: the key would be written in clear; give a "
                         "password, or --no-password for a key in clear");
        goto done;
    }
    if (cli_flag(a, "legacy") && fmt != CH_FMT_PKCS12)
        cli_usage(a, "--legacy goes with --to p12 (the older ciphers some systems read)");
    /* What the input held and was not read (a secret key, a key left closed) is said too (once
     * nothing above refused the file, which says why). */
    {
        const char *cur = ks->notes, *line;
        size_t n;
        while ((line = ch_text_line(&cur, &n)) != NULL)
            fprintf(stderr, "certhub: convert: note: %.*s\n", (int)n, line);
    }
    eo.password = cli_flag(a, "no-password") ? (fmt == CH_FMT_PEM ? NULL : "") : out_pw;
    eo.legacy = cli_flag(a, "legacy");
    eo.include_key = !cli_flag(a, "no-key");
    eo.certs_only = cli_flag(a, "no-key"); /* p12 and jks too: a truststore */
    if (fmt == CH_FMT_PEM && has_key && eo.include_key && out_pw == NULL)
        fprintf(stderr, "certhub: convert: note: the private key is written unencrypted (give --password-file to "
                        "encrypt it)\n");
    /* What the format cannot hold is said, not dropped without a word. */
    if (fmt == CH_FMT_DER || fmt == CH_FMT_PKCS7) {
        size_t certs = 0;
        for (size_t i = 0; i < ks->count; i++)
            certs += ks->entries[i].chain_len;
        if (fmt == CH_FMT_DER && certs > 1)
            fprintf(stderr, "certhub: convert: note: DER holds one certificate: its chain is left out (pem or p7b "
                            "hold it)\n");
        if (has_key)
            fprintf(stderr, "certhub: convert: note: %s holds certificates only: the private key is left out (pem, p12 "
                            "or jks hold it)\n", fmt == CH_FMT_DER ? "DER" : "P7B");
    }
    if (ch_keystore_export(&buf, ks, fmt, &eo) < 0) {
        rc = cli_fail_last(a);
        goto done;
    }
    rc = cli_write(a, out, buf.data, buf.len, has_key && eo.include_key && fmt != CH_FMT_DER && fmt != CH_FMT_PKCS7 ? 0600 : 0644);
done:
    ch_buf_dispose_secure(&buf);
    ch_keystore_free(ks);
    ch_secure_free(data, len);
    ch_secure_free_str(in_pw);
    ch_secure_free_str(out_pw);
    ch_secure_free_str(key_pw);
    return rc;
}
