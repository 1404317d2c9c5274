/* Commands that talk to certhubd: ca, cert, csr, keystore, token, tenant, audit.  Output is a table for
 * people, or the server's JSON with --output json. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "certhub/formats.h"
#include "certhub/x509.h"

#include "cli.h"

/* --format as the server names it: pfx and pkcs12 are p12, cer and crt der, p7c p7b, in any
 * case, as convert and the API take them.  A name of no format is left for the command to
 * refuse with the names it takes. */
static const char *format_opt(const cli_args *a)
{
    const char *f = cli_opt(a, "format");
    ch_format fmt;

    if (f == NULL)
        return "pem";
    return ch_format_parse(&fmt, f) == 0 && fmt != CH_FMT_JCEKS ? ch_format_name(fmt) : f;
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

    if (s)
        printf("%s\n", s);
    free(s);
}

/* A server's text as the terminal is to show it (cli_shown, as put_text writes it): an escape
 * sequence in a name, a note or a message would rewrite the terminal, a newline forge a line,
 * a bidirectional override show one name as another.  Text without any is given back as it is; other text is copied into
 * one of a few buffers used in turn, enough for the fields of one line.  NULL is "". */
static const char *plain(const char *s)
{
    static char *copies[8];
    static size_t next;
    char *copy;

    if (s == NULL)
        return "";
    if ((copy = cli_shown(s)) == NULL)
        return s; /* (none to replace, or no memory for the copy: shown as it is) */
    free(copies[next]);
    copies[next] = copy;
    next = (next + 1) % (sizeof copies / sizeof copies[0]);
    return copy;
}

/* A text member of an answer, to be shown (plain), or "". */
static const char *str(json_t *o, const char *k)
{
    return plain(json_string_value(json_object_get(o, k)));
}

/* The server's answer: all of it with --output json, else the one field scripts want.  An
 * answer without it as text (an error's JSON under a 2xx status, a shape of another version)
 * is said, and 1 returned: an empty line read as the new id would go on into a script's next
 * command. */
static int print_answer(const cli_args *a, json_t *ans, const char *field)
{
    if (!json_is_string(json_object_get(ans, field)) || json_string_length(json_object_get(ans, field)) == 0)
        return remote_unexpected(a, "it holds no %s", field);
    if (g_remote.json)
        print_json(ans);
    else
        printf("%s\n", str(ans, field));
    return 0;
}

/* DELETE collection/ID[query]: the server's answer with --output json, else what the
 * command always printed (prefix and the id). */
static int delete_and_say_as(cli_args *a, const char *collection, const char *query, const char *prefix)
{
    char path[240];
    json_t *ans = NULL;

    remote_obj_path(path, sizeof path, collection, a->pos[0], query);
    if (remote_call(a, "DELETE", path, NULL, &ans, NULL) != 0)
        return 1;
    if (g_remote.json)
        print_json(ans);
    else
        printf("%s%s\n", prefix, a->pos[0]);
    json_decref(ans);
    return 0;
}

static int delete_and_say(cli_args *a, const char *collection)
{
    return delete_and_say_as(a, collection, "", "");
}

/* Writes a server's text to the terminal with each control character as '?' (one column, as
 * it was counted): a name stored before certhubd refused them could hold an escape sequence
 * that rewrites the terminal, or a newline that forges a row. */
static void put_text(const char *s)
{
    cli_put_shown(stdout, s);
}

/* A table cell's text: a string, yes/no, or a whole number (in buf). */
static const char *cell(json_t *v, char *buf, size_t n)
{
    if (json_is_integer(v)) {
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return json_is_string(v) ? json_string_value(v) : json_is_boolean(v) ? (json_is_true(v) ? "yes" : "no") : "";
}

/* Prints the items of a list answer as a table of the given columns.  A column is as wide as
 * widths[] says, or as its longest value when that is longer: nothing is cut short.  With
 * w[0] set (a later page of --all), the widths of the first page are kept and the heading is
 * not printed again; else they are worked out into w (16 columns at most). */
static void print_table(json_t *answer, const char *const *cols, const int *widths, size_t ncols, int *w)
{
    json_t *items = json_object_get(answer, "items"), *it;
    char buf[64];
    size_t i;

    if (ncols > 16) /* the tables have at most six */
        ncols = 16;
    if (w[0] == 0) {
        for (size_t c = 0; c < ncols; c++) {
            w[c] = widths[c];
            json_array_foreach(items, i, it) {
                int tw = (int)ch_utf8_chars(cell(json_object_get(it, cols[c]), buf, sizeof buf));
                if (tw > w[c])
                    w[c] = tw;
            }
        }
        for (size_t c = 0; c < ncols; c++)
            printf("%-*s%s", w[c], cols[c], c + 1 < ncols ? "  " : "\n");
    }
    json_array_foreach(items, i, it) {
        for (size_t c = 0; c < ncols; c++) {
            const char *s = cell(json_object_get(it, cols[c]), buf, sizeof buf);
            /* printf pads by bytes: a value with multi-byte letters gets the difference. */
            int pad = c + 1 < ncols ? w[c] - (int)ch_utf8_chars(s) : 0;
            put_text(s);
            printf("%*s%s", pad > 0 ? pad : 0, "", c + 1 < ncols ? "  " : "\n");
        }
    }
}

/* Prints a list: a page, or with --all every page from there on, following next_cursor (the
 * JSON as one object whose items come page by page, so that no more than a page is held).
 * cells, when given, adds to each item the columns the table shows that the API has not (the
 * JSON is printed as it came). */
static int list_and_print_ex(cli_args *a, const char *path, const char *const *cols, const int *widths, size_t n,
                             void (*cells)(json_t *item))
{
    char url[2400], *esc;
    bool all = cli_flag(a, "all");
    int w[16] = {0};
    size_t printed = 0;
    remote_pages pages = REMOTE_PAGES_INIT;
    int rc = 0;

    /* --tenant: another tenant's list, for the installation's admins (?tenant= on a GET). */
    snprintf(url, sizeof url, "%s", path);
    if (cli_opt(a, "tenant") != NULL && (esc = remote_escape(cli_opt(a, "tenant"))) != NULL) {
        snprintf(url + strlen(url), sizeof url - strlen(url), "%ctenant=%s", strchr(url, '?') ? '&' : '?', esc);
        free(esc);
    }
    do {
        json_t *ans, *it;
        size_t i;
        const char *more;
        /* The first page where the command says (its --cursor, if any, is in url), the later
         * ones after the page before. */
        if (remote_get_page(a, url, pages.next, &ans) != 0) {
            rc = 1;
            break;
        }
        more = json_string_value(json_object_get(ans, "next_cursor"));
        if (g_remote.json && !all) {
            print_json(ans);
        } else if (g_remote.json) {
            json_array_foreach(json_object_get(ans, "items"), i, it) {
                char *one = json_dumps(it, JSON_COMPACT | JSON_PRESERVE_ORDER);
                printf("%s%s", printed++ ? ",\n" : "{\"items\": [\n", one ? one : "null");
                free(one);
            }
        } else {
            if (cells != NULL)
                json_array_foreach(json_object_get(ans, "items"), i, it)
                    cells(it);
            print_table(ans, cols, widths, n, w);
            if (!all && more != NULL && strstr(a->cmd->opts, "cursor=") != NULL)
                fprintf(stderr, "certhub: more: the same command with --cursor %s (or --all)\n", plain(more));
        }
        /* After the page is printed: with --all, what came before a page said twice stays. */
        if (all)
            rc = remote_pages_next(a, &pages, ans);
        json_decref(ans);
    } while (rc == 0 && all && pages.next != NULL);
    if (rc != 0 && all && g_remote.json && printed > 0)
        printf("\n]}\n"); /* what came so far stays a JSON document */
    else if (rc == 0 && all && g_remote.json)
        printf("%s\n], \"next_cursor\": null}\n", printed ? "" : "{\"items\": [");
    remote_pages_dispose(&pages);
    return rc;
}

static int list_and_print(cli_args *a, const char *path, const char *const *cols, const int *widths, size_t n)
{
    return list_and_print_ex(a, path, cols, widths, n, NULL);
}

/* One field of an object answer, when it is text, a number, true/false or a list of texts. */
static void print_field(const char *k, json_t *v)
{
    if (json_is_string(v) && strcmp(k, "pem") != 0) {
        printf("%-27s ", plain(k));
        put_text(json_string_value(v));
        putchar('\n');
    } else if (json_is_integer(v))
        printf("%-27s %lld\n", plain(k), (long long)json_integer_value(v));
    else if (json_is_boolean(v))
        printf("%-27s %s\n", plain(k), json_is_true(v) ? "yes" : "no");
    else if (json_is_array(v) && json_array_size(v) > 0 && json_is_string(json_array_get(v, 0))) {
        size_t i;
        json_t *e;
        printf("%-27s", plain(k));
        json_array_foreach(v, i, e) {
            printf("%s", i ? ", " : " ");
            put_text(json_string_value(e) ? json_string_value(e) : "");
        }
        printf("\n");
    }
}

/* Prints the fields of an object answer one a line, in the server's order, an object's
 * members as "field.member" (a token's scope.objects, a certificate's details.key_curve) unless
 * the same is a field already: for the "get" commands of objects whose shape grows. */
static void print_fields(json_t *ans)
{
    const char *k, *m;
    json_t *v, *mv;
    char name[128];

    if (g_remote.json) {
        print_json(ans);
        return;
    }
    json_object_foreach(ans, k, v) {
        if (!json_is_object(v)) {
            print_field(k, v);
            continue;
        }
        json_object_foreach(v, m, mv) {
            if (json_object_get(ans, m) != NULL)
                continue; /* a certificate's details repeat its serial, subject, dates, usages */
            snprintf(name, sizeof name, "%s.%s", k, m);
            print_field(name, mv);
        }
    }
}

static int get_and_print(cli_args *a, const char *collection)
{
    char path[300];
    json_t *ans = NULL;

    if (remote_call(a, "GET", remote_obj_path(path, sizeof path, collection, a->pos[0], ""), NULL, &ans, NULL) != 0)
        return 1;
    print_fields(ans);
    json_decref(ans);
    return 0;
}

/* "resource?limit=N" with the command's --limit (100) and --cursor, for the lists that page. */
static const char *paged(cli_args *a, const char *resource, char *buf, size_t cap)
{
    char *esc = cli_opt(a, "cursor") ? remote_escape(cli_opt(a, "cursor")) : NULL;

    snprintf(buf, cap, "%s?limit=%ld%s%s", resource, cli_int(a, "limit", 100, 1, 1000), esc ? "&cursor=" : "",
             esc ? esc : "");
    free(esc);
    return buf;
}

/* A time filter may be given from now, in days or hours ("30d", "12h"): ahead for
 * expiring_before, back for since and until.  Anything else goes to the server as written. */
static const char *relative_time(const char *field, const char *v, char *buf, size_t cap)
{
    bool ahead = strcmp(field, "expiring_before") == 0;
    char *end;
    long n;

    if (!ahead && strcmp(field, "since") != 0 && strcmp(field, "until") != 0)
        return v;
    errno = 0;
    n = strtol(v, &end, 10);
    if (end == v || *v == '-' || *v == '+' || errno != 0 || n > 36500L * 24 || (*end != 'd' && *end != 'h') ||
        end[1] != '\0')
        return v;
    ch_time_format(buf, cap, (int64_t)time(NULL) + (ahead ? 1 : -1) * (int64_t)n * (*end == 'd' ? 86400 : 3600));
    return buf;
}

/* Appends "&param=value" (%-escaped) to path for each {option, param} pair of map whose
 * option was given.  Returns 1 (after saying so) when path cannot hold them. */
static int add_filters(cli_args *a, char *path, size_t cap, const char *const (*map)[2], size_t n)
{
    size_t used = strlen(path);

    for (size_t i = 0; i < n; i++) {
        char *esc, when[32];
        if (cli_opt(a, map[i][0]) == NULL)
            continue;
        esc = remote_escape(relative_time(map[i][1], cli_opt(a, map[i][0]), when, sizeof when));
        used += (size_t)snprintf(path + used, used < cap ? cap - used : 0, "&%s=%s", map[i][1], esc ? esc : "");
        free(esc);
    }
    return used < cap ? 0 : cli_fail(a, "the filters are too long");
}

/* A list command: the resource a page at a time, with the filters given (map: an option to the
 * API's parameter), printed as the five columns cols. */
static int list_filtered(cli_args *a, const char *resource, const char *const (*filters)[2], size_t nfilters,
                         const char *const *cols, const int *widths)
{
    char path[2048];

    paged(a, resource, path, sizeof path);
    if (add_filters(a, path, sizeof path, filters, nfilters) != 0)
        return 1;
    return list_and_print(a, path, cols, widths, 5);
}

/* A text option as a member of body, when given. */
/* An option's value that is not UTF-8 is refused (exit 1): json_string would give nothing for
 * its bytes, and the member be left out of the request without a word. */
static void need_utf8(cli_args *a, const char *opt)
{
    if (cli_opt(a, opt) != NULL && !ch_utf8_valid(cli_opt(a, opt)))
        exit(cli_fail(a, "--%s must be UTF-8 text", opt));
}

static void str_member(cli_args *a, const char *opt, json_t *body, const char *field)
{
    need_utf8(a, opt);
    if (cli_opt(a, opt) != NULL)
        json_object_set_new(body, field, json_string(cli_opt(a, opt)));
}

/* A comma-separated list option (SANs, usages) as a JSON array member of body. */
static void list_member(cli_args *a, const char *opt, json_t *body, const char *field)
{
    const char *parts[CH_MAX_SANS];
    char *store = NULL;
    size_t n;
    json_t *arr;

    if (cli_opt(a, opt) == NULL)
        return;
    need_utf8(a, opt);
    n = cli_split(&store, cli_opt(a, opt), parts, CH_MAX_SANS);
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(parts[i]));
    json_object_set_new(body, field, arr);
    free(store);
}

/* A list option where "none" is the empty list: cert issue's usages and critical extensions,
 * where [] asks for none, and a profile's allowed domains, where [] allows no DNS name.  An
 * empty value is a usage error rather than a quiet "none" (an unset shell variable would have
 * left an extension out): cli_none_alone. */
static void list_or_none_member(cli_args *a, const char *opt, json_t *body, const char *field)
{
    const char *v = cli_opt(a, opt);

    if (v == NULL)
        return;
    if (strcmp(v, "none") == 0) {
        json_object_set_new(body, field, json_array());
        return;
    }
    cli_none_alone(a, opt, v);
    list_member(a, opt, body, field);
}

/* "on"/"off" (also true/false, yes/no) of an option as a boolean member of body, when given;
 * 1 on a bad value. */
static int on_off(cli_args *a, const char *opt, json_t *body, const char *field)
{
    int v = -1;

    if (cli_on_off(a, opt, &v) != 0)
        return 1;
    if (v >= 0)
        json_object_set_new(body, field, json_boolean(v));
    return 0;
}

/* A whole-number option as a member of body, when given (out of [min, max]: a usage error). */
static void int_member(cli_args *a, const char *opt, json_t *body, const char *field, long min, long max)
{
    if (cli_opt(a, opt) != NULL)
        json_object_set_new(body, field, json_integer(cli_int(a, opt, 0, min, max)));
}

/* --days or --ttl as the days or ttl member of body.  Both is a usage error (exit 2), said
 * before anything is sent, as the offline cert create says it; a ttl itself is read by the
 * server, which says what is wrong with it. */
static void lifetime_members(cli_args *a, json_t *body)
{
    cli_not_both(a, "days", "ttl");
    int_member(a, "days", body, "days", 1, 36600);
    str_member(a, "ttl", body, "ttl");
}

/* What an answer written to a file is to be: certificates (or a keystore) in a format, a
 * private key, a CSR. */
typedef enum { FILE_CERTS, FILE_KEY, FILE_CSR } file_kind;

/* Whether data is a file of kind in format (a name ch_format_parse takes). */
static bool file_is(const uint8_t *data, size_t len, file_kind kind, const char *format)
{
    ch_format want = CH_FMT_PEM, got;
    ch_cert **certs = NULL;
    ch_key *key = NULL;
    ch_csr *csr = NULL;
    ch_keystore *ks = NULL;
    size_t n = 0;
    int detected = ch_format_detect(&got, data, len), error;
    bool pem = detected == 0 && got == CH_FMT_PEM, ok;

    ch_format_parse(&want, format);
    if (kind == FILE_KEY) /* encrypted under the password given, or in clear */
        ok = pem && ((error = ch_key_parse(&key, data, len, NULL)) == 0 || error == CH_EPASSWORD);
    else if (kind == FILE_CSR)
        ok = pem == (want == CH_FMT_PEM) && ch_csr_parse(&csr, data, len) == 0;
    else
        ok = detected == 0 && got == want && (!pem || ch_cert_parse_all(&certs, &n, data, len) == 0);
    /* A JKS is known by its first four bytes alone: its entries are walked as keytool -list
     * walks them, without a password, so that one cut short is not taken for one. */
    if (ok && want == CH_FMT_JKS)
        ok = ch_keystore_import(&ks, data, len, &(ch_import_opts){.keys_optional = true}) == 0;
    ch_keystore_free(ks);
    ch_cert_list_free(certs, n);
    ch_key_free(key);
    ch_csr_free(csr);
    return ok;
}

/* The same of an answer before it is written: a 2xx answer can hold a proxy's page, an error's
 * JSON or nothing at all, which was written as the file asked for, with status 0.  Said when
 * not (1). */
static int check_file(const cli_args *a, const ch_buf *data, file_kind kind, const char *format)
{
    if (file_is(data->data, data->len, kind, format))
        return 0;
    return remote_unexpected(a, "it is not the %s %s asked for", format,
                             kind == FILE_KEY ? "private key" : kind == FILE_CSR ? "CSR" : "file");
}

/* Asks for path and writes what comes back, as it is, to the file out with mode, once it is
 * found to be a file of kind in format; the answer's bytes are wiped after (they may hold a
 * key). */
static int fetch_to_file(cli_args *a, const char *method, const char *path, json_t *body, const char *out,
                         unsigned mode, file_kind kind, const char *format)
{
    ch_buf raw = CH_BUF_INIT;
    int rc;

    /* Before asking: an export of keys is audited by the server once it is answered, and one
     * that then could not be written was a key export that left nothing. */
    if (cli_may_write(a, out) != 0)
        return 1;
    rc = remote_call(a, method, path, body, NULL, &raw);
    if (rc == 0 && (rc = check_file(a, &raw, kind, format)) == 0)
        rc = cli_write(a, out, raw.data, raw.len, mode);
    ch_buf_dispose_secure(&raw);
    return rc;
}

/* A certificate (or a CSR of csr new) made and then not written (its chain not fetched, --out
 * not writable): what was not written, and the commands that write it.  Its key is not fetched
 * either, or a key would be left on disk beside no certificate. */
static void say_unwritten(const cli_args *a, const char *path, const char *id, const char *key_out)
{
    const char *out = cli_opt(a, "out") ? cli_opt(a, "out") : "FILE", *kpw = cli_opt(a, "key-password-file");
    bool csr = strcmp(path, "csrs") == 0;

    if (key_out == NULL)
        fprintf(stderr, "certhub: %s: the %s %s was made, and not written: %s export %s --out %s writes it\n",
                a->cmd->name, csr ? "CSR" : "certificate", id, csr ? "csr" : "cert", id, out);
    else
        fprintf(stderr, "certhub: %s: the certificate %s was made, and neither it nor its key written: cert export %s "
                "--out %s writes it, cert key %s --out %s%s%s its key\n", a->cmd->name, id, id, out, id, key_out,
                kpw ? " --password-file " : "", kpw ? kpw : "");
}

/* POSTs body to path, writes the answer's PEM to --out when given, and prints its id: the
 * end of every command that makes a certificate or a CSR.  With --key-out, the key the server
 * made for it is fetched too (as `cert key` does: admins, audited), encrypted under
 * --key-password-file when given. */
static int post_and_save(cli_args *a, const char *path, json_t *body)
{
    json_t *ans = NULL, *kbody = NULL;
    const char *pem, *key_out = cli_opt(a, "key-out");
    char kpath[300], *key_password = NULL;
    ch_buf chain = CH_BUF_INIT;
    bool csr = strcmp(path, "csrs") == 0;
    int rc = 1;

    if (cli_opt(a, "key-password-file") != NULL && key_out == NULL)
        cli_usage(a, "--key-password-file goes with --key-out");
    if (cli_flag(a, "chain") && cli_opt(a, "out") == NULL)
        cli_usage(a, "--chain says what --out gets: give --out FILE");
    /* Outputs checked before the server is asked: a certificate made and then not saved
     * would be made for nothing (and counted, and audited). */
    cli_outputs_apart(a, "out", "key-out");
    if (cli_may_write(a, cli_opt(a, "out")) != 0 || cli_may_write(a, key_out) != 0 ||
        cli_password_new(a, "key-password-file", NULL, &key_password) != 0)
        return 1;
    /* So is the permission the key's download needs: without it the certificate would be
     * made, the command fail, and its next try make another. */
    if (key_out != NULL) {
        json_t *who = NULL;
        int asked = remote_call(a, "GET", "session", NULL, &who, NULL);
        bool may = asked == 0 && json_is_true(json_object_get(who, "keys_export"));
        json_decref(who);
        if (!may) {
            ch_secure_free_str(key_password);
            return asked != 0 ? 1
                              : cli_fail(a, "--key-out downloads the key the server makes, which needs the keys:export "
                                            "permission, and this token does not have it (an admin's does)");
        }
    }
    if (remote_call(a, "POST", path, body, &ans, NULL) != 0)
        goto done;
    /* The answer's id and PEM are checked before anything is written or asked after it: an
     * answer of another shape was written as the certificate, and its "id" sent on. */
    pem = json_string_value(json_object_get(ans, "pem"));
    if (!json_is_string(json_object_get(ans, "id")) || json_string_length(json_object_get(ans, "id")) == 0) {
        remote_unexpected(a, "it holds no id");
        goto done;
    }
    if (pem == NULL || !file_is((const uint8_t *)pem, strlen(pem), csr ? FILE_CSR : FILE_CERTS, "pem")) {
        remote_unexpected(a, "its pem is not a %s in PEM", csr ? "CSR" : "certificate");
        goto done;
    }
    /* With its chain: the export's PEM, the CA first up to its root, as cert export and the
     * agent write it. */
    if (cli_flag(a, "chain") &&
        remote_call(a, "GET", remote_obj_path(kpath, sizeof kpath, "certificates", str(ans, "id"), "/export?format=pem"), NULL,
                    NULL, &chain) == 0 &&
        check_file(a, &chain, FILE_CERTS, "pem") == 0 && ch_buf_put(&chain, "", 1) == 0)
        pem = (const char *)chain.data;
    else if (cli_flag(a, "chain"))
        pem = NULL; /* said; the certificate stays made, its id printed for cert export */
    if (pem == NULL || (cli_opt(a, "out") != NULL && cli_write(a, cli_opt(a, "out"), pem, strlen(pem), 0644) != 0)) {
        say_unwritten(a, path, str(ans, "id"), key_out);
        goto done;
    }
    /* The PEM on standard output is all it holds (--output json gives the id with it). */
    if (!cli_is_stdout(cli_opt(a, "out")) || g_remote.json)
        print_answer(a, ans, "id");
    rc = 0;
    if (key_out != NULL) {
        if (key_password != NULL)
            kbody = json_pack("{ss}", "password", key_password);
        rc = fetch_to_file(a, "POST", remote_obj_path(kpath, sizeof kpath, "certificates", str(ans, "id"), "/private-key"),
                           kbody, key_out, 0600, FILE_KEY, "pem");
    }
done:
    json_decref(kbody);
    json_decref(ans);
    ch_buf_dispose(&chain);
    ch_secure_free_str(key_password);
    return rc;
}

int cmd_remote_ca_list(cli_args *a)
{
    static const char *const cols[] = {"id", "name", "status", "can_sign", "not_after"};
    static const int w[] = {28, 52, 8, 8, 20};
    char path[512];

    return list_and_print(a, paged(a, "cas", path, sizeof path), cols, w, 5);
}

/* The CSR file at path as the member "csr" of body, in PEM.  Read here and sent as PEM whatever
 * it came as: a DER CSR is no JSON string, and a member that could not be made would have been
 * left out, asking the server for a key of its own instead of signing the CSR. */
static int csr_member(cli_args *a, const char *path, json_t *body)
{
    uint8_t *csr = NULL;
    size_t len = 0;
    ch_buf pem = CH_BUF_INIT;
    ch_csr *req = NULL;
    int rc = 0;

    if (cli_read(a, path, &csr, &len) != 0)
        return 1;
    if (ch_csr_parse(&req, csr, len) < 0 || ch_csr_write_pem(&pem, req) < 0)
        rc = cli_fail(a, "%s: %s", path, ch_error_last());
    else
        json_object_set_new(body, "csr", json_stringn((const char *)pem.data, pem.len));
    ch_csr_free(req);
    ch_buf_dispose(&pem);
    free(csr);
    return rc;
}

/* Whether text begins with a URL's scheme and "://". */
static bool scheme_at(const char *text)
{
    size_t n = strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");

    return n > 0 && isalpha((unsigned char)text[0]) && strncmp(text + n, "://", 3) == 0;
}

/* A list of URLs, comma-separated ("none": the empty list): a comma splits only where a URL
 * begins after it, as an LDAP URL holds commas of its own (ldap://host/CN=ca,DC=example). */
static void url_list_member(cli_args *a, const char *opt, json_t *body, const char *field)
{
    const char *v = cli_opt(a, opt), *start;
    json_t *arr;

    if (v == NULL)
        return;
    arr = json_array();
    if (strcmp(v, "none") != 0) {
        cli_none_alone(a, opt, v);
        need_utf8(a, opt);
        for (start = v + strspn(v, " "); *start != '\0';) {
            const char *end = start, *next;
            while (*end != '\0' && !(*end == ',' && scheme_at(end + 1 + strspn(end + 1, " "))))
                end++;
            next = *end ? end + 1 + strspn(end + 1, " ") : end;
            while (end > start && end[-1] == ' ')
                end--;
            if (end > start)
                json_array_append_new(arr, json_stringn(start, (size_t)(end - start)));
            start = next;
        }
    }
    json_object_set_new(body, field, arr);
}

/* The URLs a CA writes into what it issues, each list comma-separated ("none" clears one). */
static void ca_url_members(cli_args *a, json_t *body)
{
    url_list_member(a, "crl-urls", body, "crl_urls");
    url_list_member(a, "ocsp-urls", body, "ocsp_urls");
    url_list_member(a, "ca-issuers-urls", body, "ca_issuers_urls");
}

int cmd_remote_ca_create(cli_args *a)
{
    json_t *body = json_object(), *ans;
    const char *parent = cli_opt(a, "parent");
    int rc;

    json_object_set_new(body, "name", json_string(cli_need(a, "name")));
    json_object_set_new(body, "type", json_string(parent ? "intermediate" : "root"));
    /* An intermediate whose key is elsewhere: its CSR, whose subject it takes unless given. */
    if (cli_opt(a, "csr") != NULL && parent == NULL)
        cli_usage(a, "--csr goes with --parent (an intermediate of a key elsewhere, signed by that CA)");
    cli_not_both(a, "csr", "key-type");
    cli_not_both(a, "csr", "auto-rotate");
    if (cli_opt(a, "csr") == NULL || cli_opt(a, "subject") != NULL)
        json_object_set_new(body, "subject", json_string(cli_need(a, "subject")));
    if (parent)
        json_object_set_new(body, "parent_id", json_string(parent));
    if (cli_opt(a, "csr") != NULL && csr_member(a, cli_opt(a, "csr"), body) != 0) {
        json_decref(body);
        return 1;
    }
    str_member(a, "key-type", body, "key_type");
    lifetime_members(a, body);
    str_member(a, "digest", body, "digest");
    int_member(a, "path-len", body, "path_len", 0, 64); /* (the API's range, and cert create's) */
    if (cli_flag(a, "auto-rotate"))
        json_object_set_new(body, "auto_rotate", json_true());
    if (cli_flag(a, "cap-validity") && parent == NULL)
        cli_usage(a, "--cap-validity goes with --parent (an intermediate ends with its parent)");
    if (cli_flag(a, "cap-validity"))
        json_object_set_new(body, "cap_validity", json_true());
    ca_url_members(a, body);
    rc = remote_call(a, "POST", "cas", body, &ans, NULL);
    json_decref(body);
    if (rc != 0)
        return rc;
    rc = print_answer(a, ans, "id");
    json_decref(ans);
    return rc;
}

int cmd_remote_cert_list(cli_args *a)
{
    static const char *const cols[] = {"id", "name", "not_after", "status", "subject"};
    static const int w[] = {28, 24, 20, 7, 40};
    static const char *const filters[][2] = {{"search", "search"}, {"expiring-before", "expiring_before"},
                                             {"ca-id", "ca_id"},   {"kind", "kind"},
                                             {"method", "method"}, {"status", "status"}};
    return list_filtered(a, "certificates", filters, sizeof filters / sizeof filters[0], cols, w);
}

/* Everything the server says of the certificate, then from its decoded form what a reader
 * looks for next: the key, the SANs and the usages. */
int cmd_remote_cert_get(cli_args *a)
{
    char path[300];
    json_t *ans, *d;

    if (remote_call(a, "GET", remote_obj_path(path, sizeof path, "certificates", a->pos[0], ""), NULL, &ans, NULL) != 0)
        return 1;
    print_fields(ans);
    d = json_object_get(ans, "details");
    if (!g_remote.json && d != NULL) {
        json_t *sub = json_object();
        char key[64];
        if (*str(d, "key_curve"))
            snprintf(key, sizeof key, "%s %s", str(d, "key_algorithm"), str(d, "key_curve"));
        else
            snprintf(key, sizeof key, "%s %lld", str(d, "key_algorithm"),
                     (long long)json_integer_value(json_object_get(d, "key_bits")));
        /* The details are printed above as details.*; the key in one word as well. */
        json_object_set_new(sub, "key", json_string(key));
        print_fields(sub);
        json_decref(sub);
    }
    json_decref(ans);
    return 0;
}

int cmd_remote_cert_issue(cli_args *a)
{
    json_t *body;
    const char *csr_path = cli_opt(a, "csr");
    int rc = 1;

    if (cli_opt(a, "key-out") != NULL && csr_path != NULL)
        cli_usage(a, "--key-out fetches a key the server made; with --csr the key is already yours");
    /* One source of the key, said as a usage error before anything is sent (the server's
     * refusal would name its JSON fields, not these options). */
    cli_not_both(a, "key-type", "csr");
    cli_not_both(a, "key-type", "csr-id");
    cli_not_both(a, "csr", "csr-id");
    body = json_object();
    str_member(a, "ca-id", body, "ca_id"); /* none: the server takes the tenant's one issuing CA */
    json_object_set_new(body, "profile", json_string(cli_opt(a, "profile") ? cli_opt(a, "profile") : "tls-server"));
    str_member(a, "subject", body, "subject");
    str_member(a, "name", body, "name");
    lifetime_members(a, body);
    cli_not_both(a, "not-after", "days");
    cli_not_both(a, "not-after", "ttl");
    str_member(a, "not-after", body, "not_after");
    str_member(a, "key-type", body, "key_type");
    str_member(a, "csr-id", body, "csr_id");
    list_member(a, "san", body, "sans");
    /* Overrides of the profile, as the API takes them, and the extension switches ("none"
     * leaves a usage extension out, as [] does there). */
    str_member(a, "digest", body, "digest");
    list_or_none_member(a, "key-usage", body, "key_usage");
    list_or_none_member(a, "ext-key-usage", body, "ext_key_usage");
    list_or_none_member(a, "ext-key-usage-oids", body, "ext_key_usage_oids");
    list_or_none_member(a, "policies", body, "policy_identifiers");
    list_or_none_member(a, "critical", body, "critical");
    if (on_off(a, "basic-constraints", body, "basic_constraints") != 0 ||
        on_off(a, "authority-key-id", body, "authority_key_id") != 0)
        goto done;
    if (cli_flag(a, "auto-renew"))
        json_object_set_new(body, "auto_renew", json_true());
    str_member(a, "renew-before", body, "renew_before"); /* (read by the server, which says what is wrong) */
    if (cli_flag(a, "cap-validity"))
        json_object_set_new(body, "cap_validity", json_true());
    if (cli_flag(a, "csr-usages") && csr_path == NULL && cli_opt(a, "csr-id") == NULL)
        cli_usage(a, "--csr-usages goes with --csr or --csr-id (the usages a CSR asks for)");
    if (cli_flag(a, "csr-usages"))
        json_object_set_new(body, "csr_usages", json_true());
    if (csr_path && csr_member(a, csr_path, body) != 0)
        goto done;
    rc = post_and_save(a, "certificates", body);
done:
    json_decref(body);
    return rc;
}

/* The passwords of an export (cert export, keystore export): --password-file (or env, when
 * not NULL), --no-password (p12: the empty one), --key-password-file (jks: the key entries'
 * own), each refused by name where its format takes none, then put in body (NULL: a GET,
 * which takes none).  An empty password read is refused: an unset variable echoed into the
 * file would otherwise write the key unprotected.  0, or 1 once said. */
static int export_passwords(cli_args *a, const char *format, const char *env, json_t *body)
{
    bool p12 = strcmp(format, "p12") == 0, store = p12 || strcmp(format, "jks") == 0;
    bool none = cli_flag(a, "no-password");
    char *password = NULL, *key_password = NULL;
    int rc = 1;

    if (none && (!p12 || cli_opt(a, "password-file") != NULL))
        cli_usage(a, "--no-password goes with --format p12 (a PKCS#12 without a password), without --password-file");
    if (cli_opt(a, "key-password-file") != NULL && (strcmp(format, "jks") != 0 || cli_flag(a, "truststore")))
        cli_usage(a, "--key-password-file goes with --format jks (its key entries' own password), without "
                     "--truststore");
    if (body == NULL)
        return 0;
    if (cli_password(a, "password-file", none ? NULL : env, &password) != 0 ||
        cli_password(a, "key-password-file", NULL, &key_password) != 0)
        goto done;
    if (store && password == NULL && !none) {
        char alt[48] = "";
        if (env != NULL)
            snprintf(alt, sizeof alt, " (or %.32s)", env);
        ch_secure_free_str(key_password);
        cli_usage(a, "--format %s needs --password-file%s%s", format, alt,
                  p12 ? "; --no-password for a PKCS#12 without one" : "");
    }
    if (password != NULL && *password == '\0') {
        rc = cli_fail(a, "%s gives an empty password%s", cli_opt(a, "password-file") ? "--password-file" : env,
                      p12 ? ": --no-password writes a PKCS#12 without one" : "");
        goto done;
    }
    if (key_password != NULL && *key_password == '\0') {
        rc = cli_fail(a, "--key-password-file gives an empty password, which keytool refuses for a key");
        goto done;
    }
    if (none || password != NULL)
        json_object_set_new(body, "password", json_string(none ? "" : password));
    if (key_password != NULL)
        json_object_set_new(body, "key_password", json_string(key_password));
    rc = 0;
done:
    ch_secure_free_str(password);
    ch_secure_free_str(key_password);
    return rc;
}

/* --with-key with a format that holds certificates only (DER, PKCS#7) is a usage error, said in
 * the CLI's own terms before anything is sent (the server's would speak of include_key);
 * cert export and keystore export alike. */
static void refuse_key_in_certs_only(const cli_args *a, const char *format)
{
    if (cli_flag(a, "with-key") && (strcmp(format, "der") == 0 || strcmp(format, "p7b") == 0))
        cli_usage(a, "--format %s holds certificates only: a key goes out with --format pem --with-key, or in a "
                     "p12 or jks", format);
}

int cmd_remote_cert_export(cli_args *a)
{
    const char *format = format_opt(a), *out;
    /* A keystore holds the key and is asked for by POST, with its password in the body. */
    bool keystore = strcmp(format, "p12") == 0 || strcmp(format, "jks") == 0;
    char path[256], tail[64];
    json_t *body = NULL;
    int rc;

    /* The format first: a misspelt one is the mistake to name, before a missing --out. */
    if (!keystore && strcmp(format, "pem") != 0 && strcmp(format, "der") != 0 && strcmp(format, "p7b") != 0)
        return cli_fail(a, "--format takes " CH_FORMAT_NAMES_WRITTEN ", not \"%.32s\"", cli_opt(a, "format"));
    if (cli_flag(a, "truststore") && (!keystore || cli_flag(a, "with-key")))
        cli_usage(a, "--truststore goes with --format p12 or jks, without --with-key");
    refuse_key_in_certs_only(a, format);
    if (cli_flag(a, "legacy") && strcmp(format, "p12") != 0)
        cli_usage(a, "--legacy goes with --format p12");
    if (cli_opt(a, "alias") != NULL && !keystore)
        cli_usage(a, "--alias names the certificate's entry in a p12 or jks: --format %s has none", format);
    out = cli_need(a, "out");
    /* Certificates alone go out unencrypted: a password file given would be dropped without a
     * word (CERTHUB_PASSWORD, set for every command, is simply not used). */
    if (cli_opt(a, "password-file") != NULL && !keystore && !cli_flag(a, "with-key"))
        cli_usage(a, "a password goes with --format p12 or jks, or with --with-key (it encrypts the key); "
                     "--format %s alone is not encrypted", format);
    if (keystore || cli_flag(a, "with-key"))
        body = json_pack("{ss sb}", "format", format, "include_key", cli_flag(a, "with-key"));
    if (export_passwords(a, format, "CERTHUB_PASSWORD", body) != 0) {
        json_decref(body);
        return 1;
    }
    if (body != NULL) {
        if (cli_opt(a, "alias") != NULL)
            json_object_set_new(body, "alias", json_string(cli_opt(a, "alias")));
        if (cli_flag(a, "truststore"))
            json_object_set_new(body, "truststore", json_true());
        if (cli_flag(a, "legacy"))
            json_object_set_new(body, "legacy", json_true());
    }
    snprintf(tail, sizeof tail, "/export%s%.32s", body ? "" : "?format=", body ? "" : format);
    rc = fetch_to_file(a, body ? "POST" : "GET", remote_obj_path(path, sizeof path, "certificates", a->pos[0], tail), body,
                       out, body && !cli_flag(a, "truststore") ? 0600 : 0644, FILE_CERTS, format);
    json_decref(body);
    return rc;
}

int cmd_remote_cert_delete(cli_args *a)
{
    char path[240];
    json_t *ans = NULL;
    const char *off;

    remote_obj_path(path, sizeof path, "certificates", a->pos[0], "");
    if (remote_call(a, "DELETE", path, NULL, &ans, NULL) != 0)
        return 1;
    if (g_remote.json) {
        print_json(ans);
    } else {
        printf("deleted %s\n", a->pos[0]);
        /* The renewal deleted was the newest: the one before is in force again, not renewed. */
        if ((off = json_string_value(json_object_get(ans, "renewal_stopped"))) != NULL)
            fprintf(stderr, "certhub: note: %s, which it renewed, is in force again and its automatic renewal is off: "
                            "certhub cert update %s --auto-renew on, or renew it (certhub cert renew %s)\n",
                    off, off, off);
    }
    json_decref(ans);
    return 0;
}

/* Uploads bytes to collection (certificates/import or keystores) as the raw body, named after
 * file unless name says otherwise ("" sends no name: the server names what it stores itself).
 * Returns the HTTP status (0 when unreachable, or when a 2xx answer was not one certhub takes);
 * *ans holds the answer. */
static long upload_data(cli_args *a, const char *collection, const char *file, const uint8_t *data, size_t len,
                        const char *name, const char *password, const char *key_password, bool quiet, json_t **ans)
{
    char path[2048], from_file[520], *esc; /* a name of 128 four-byte characters, escaped */
    const char *base = strrchr(file, '/');
    long status = 0;
    remote_req q = {.method = "POST",
                    .path = path,
                    .data = data,
                    .len = len,
                    .password = password,
                    .key_password = key_password,
                    .quiet = quiet,
                    .status = &status};

    *ans = NULL;
    /* Without --name, the file's name (cut to a name's length; one that could be no name is
     * left to the server's default).  A certificate import sends it as file_name, the name to
     * fall back on: a certificate signed for a CSR made here takes the CSR's name first. */
    const char *key = "name";
    if (name == NULL) {
        ch_name_from_file(from_file, sizeof from_file, base ? base + 1 : file, 128);
        name = from_file;
        if (strncmp(collection, "certificates/import", strlen("certificates/import")) == 0)
            key = "file_name";
    }
    esc = remote_escape(name);
    if (name && *name == '\0')
        snprintf(path, sizeof path, "%s", collection);
    else
        snprintf(path, sizeof path, "%s%c%s=%s", collection, strchr(collection, '?') ? '&' : '?', key, esc ? esc : "");
    /* An answer refused below 400 (not JSON, too long) is no success whatever its status: the
     * callers take 200 and 201 as one, and went on to exit 0. */
    if (remote_request(a, &q, ans, NULL) != 0 && status < 400)
        status = 0;
    free(esc);
    return status;
}

/* Uploads one file as upload_data does. */
static long upload_file_ex(cli_args *a, const char *collection, const char *file, const char *name,
                           const char *password, const char *key_password, bool quiet, json_t **ans)
{
    uint8_t *data = NULL;
    size_t len = 0;
    long status;

    *ans = NULL;
    if (cli_read(a, file, &data, &len) != 0)
        return 0;
    status = upload_data(a, collection, file, data, len, name, password, key_password, quiet, ans);
    ch_secure_free(data, len);
    return status;
}

static long upload_file(cli_args *a, const char *collection, const char *file, const char *name,
                        const char *password, bool quiet, json_t **ans)
{
    return upload_file_ex(a, collection, file, name, password, NULL, quiet, ans);
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* A bar on stderr when it is a terminal: "[#######.............]  7/20  name". */
static void progress(size_t done, size_t total, const char *name)
{
    char bar[31];
    size_t fill = total ? done * 30 / total : 30;

    if (!isatty(2))
        return;
    memset(bar, '#', fill);
    memset(bar + fill, '.', 30 - fill);
    bar[30] = '\0';
    fprintf(stderr, "\r[%s] %zu/%zu  %-40.40s", bar, done, total, name);
    if (done == total)
        fprintf(stderr, "\n");
    fflush(stderr);
}

/* A folder often holds a certificate and its key side by side (web.pem and web.key).  A file
 * holding only a private key is opened here (with the folder's password when encrypted) and
 * goes with the certificate of the folder it belongs to; the server keeps no key alone. */
struct folder_key {
    const char *file;
    ch_key *key; /* NULL: encrypted, and the password (if any) did not open it */
    bool used;
};

/* The folder's files that hold only a private key.  A file that is a certificate, a
 * keystore or anything else is left to the server, which says what it is. */
static size_t folder_keys(struct folder_key *keys, char **files, size_t n, const char *password)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        uint8_t *data = NULL;
        size_t len = 0;
        ch_cert *cert = NULL;
        ch_key *key = NULL;
        int error;

        if (ch_file_read(&data, &len, files[i], CH_MAX_UPLOAD_BYTES) < 0)
            continue;
        if (ch_cert_parse(&cert, data, len) == 0) {
            ch_cert_free(cert);
        } else if ((error = ch_key_parse(&key, data, len, password)) == 0 || error == CH_EPASSWORD) {
            keys[k++] = (struct folder_key){files[i], key, false};
        }
        ch_secure_free(data, len);
    }
    return k;
}

/* Whether the bytes hold text (a PEM label, say). */
static bool holds(const uint8_t *data, size_t len, const char *text)
{
    size_t n = strlen(text);

    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (data[i] == (uint8_t)text[0] && memcmp(data + i, text, n) == 0)
            return true;
    return false;
}

/* Imports file (its bytes read) with the key among keys that belongs to it, if any: 0 when
 * none does (the file goes as it is), else the HTTP status, or -1 when it was not imported
 * for another reason (memory, a 2xx answer certhub does not take). */
static long import_with_key(cli_args *a, const char *file, const uint8_t *data, size_t len, struct folder_key *keys,
                            size_t nkeys, json_t **ans)
{
    size_t i;
    ch_cert *cert = NULL;
    ch_buf cert_pem = CH_BUF_INIT, key_pem = CH_BUF_INIT;
    json_t *body = NULL;
    long status = 0;
    const char *base = strrchr(file, '/');
    remote_req q = {.method = "POST", .path = "certificates/import", .quiet = true, .status = &status};

    *ans = NULL;
    if (nkeys == 0)
        return 0;
    /* A PEM that carries its own key, or no certificate at all, goes as it is. */
    if (ch_cert_parse(&cert, data, len) != 0 || holds(data, len, "PRIVATE KEY-----"))
        goto done;
    for (i = 0; i < nkeys && (keys[i].key == NULL || keys[i].used || !ch_cert_matches_key(cert, keys[i].key)); i++)
        ;
    if (i == nkeys)
        goto done;
    keys[i].used = true;
    /* PEM text as the JSON import takes it: the file when it is PEM, else its DER encoded. */
    if ((holds(data, len, "-----BEGIN") ? ch_buf_put(&cert_pem, data, len)
                                        : ch_pem_encode(&cert_pem, "CERTIFICATE", data, len)) < 0 ||
        ch_key_write_pem(&key_pem, keys[i].key, NULL) < 0) {
        status = -1;
        goto done;
    }
    body = json_pack("{ss ss ss}", "certificate", (const char *)cert_pem.data, "private_key", (const char *)key_pem.data,
                     "name", base ? base + 1 : file);
    q.json = body;
    if (body == NULL)
        status = -1;
    else if (remote_request(a, &q, ans, NULL) != 0 && status < 400)
        status = -1; /* a 2xx answer refused: not imported, as upload_data says it */
done:
    json_decref(body);
    ch_buf_dispose(&cert_pem);
    ch_buf_dispose_secure(&key_pem);
    ch_cert_free(cert);
    return status;
}

/* One file's outcome in the summary --output json prints: {"file","result"} with the id
 * stored (or held already) or the server's message.  Returns it (borrowed: files holds it),
 * for a member more, or NULL when memory ran out. */
static json_t *folder_note(json_t *files, const char *file, const char *result, const char *id, const char *message)
{
    json_t *o = json_pack("{ss ss}", "file", file, "result", result);

    if (o != NULL && id != NULL)
        json_object_set_new(o, "id", json_string(id));
    if (o != NULL && message != NULL)
        json_object_set_new(o, "message", json_string(message));
    return json_array_append_new(files, o) == 0 ? o : NULL; /* borrowed */
}

/* Every regular file of a folder (sorted), imported one by one: a file that fails is reported
 * and the others go on; certificates already held count apart; a key goes with its
 * certificate; a folder inside is said and left (its files are another import).  With
 * --output json, one object says what became of each file.  Exit 1 if any failed. */
static int import_folder(cli_args *a, const char *dir, const char *password)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **files = NULL, full[4096];
    size_t n = 0, cap = 0, imported = 0, with_key = 0, present = 0, added = 0, failed = 0, nkeys;
    struct folder_key *keys;
    struct stat st;
    size_t dlen = strlen(dir);
    json_t *report = json_array();

    if (d == NULL || report == NULL) {
        if (d != NULL)
            closedir(d);
        json_decref(report);
        return cli_fail(a, "cannot read the folder %s", dir);
    }
    while (dlen > 1 && dir[dlen - 1] == '/') /* "old/" and "old" name their files alike */
        dlen--;
    while ((e = readdir(d)) != NULL) {
        snprintf(full, sizeof full, "%.*s/%s", (int)dlen, dir, e->d_name);
        if (e->d_name[0] == '.' || stat(full, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            /* Not walked into: a folder of old copies or of another team's files is not
             * imported by surprise; but not passed over without a word either. */
            folder_note(report, full, "skipped", NULL, "a folder: its files are not imported with these");
            fprintf(stderr, "certhub: %s: a folder, left as it is (certhub cert import %s imports its files)\n",
                    full, full);
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            char **g = realloc(files, (cap = cap ? cap * 2 : 64) * sizeof *files);
            if (g == NULL)
                break;
            files = g;
        }
        files[n++] = strdup(full);
    }
    closedir(d);
    qsort(files, n, sizeof *files, cmp_str);
    if ((keys = calloc(n ? n : 1, sizeof *keys)) == NULL) {
        json_decref(report);
        return cli_fail(a, "out of memory");
    }
    nkeys = folder_keys(keys, files, n, password);
    for (size_t i = 0, k = 0; i < n; i++) {
        json_t *ans = NULL, *err, *note;
        long status = 0;
        const char *msg, *hint = "";
        char said[1024];
        uint8_t *data = NULL;
        size_t len = 0;
        bool read = false, paired = false;

        progress(i, n, strrchr(files[i], '/') + 1);
        if (k < nkeys && keys[k].file == files[i]) { /* both in the folder's order */
            k++;
            continue;
        }
        if (ch_file_read(&data, &len, files[i], CH_MAX_UPLOAD_BYTES) == 0) {
            read = true;
            status = import_with_key(a, files[i], data, len, keys, nkeys, &ans);
            if (status > 0)
                with_key += paired = status == 201;
            else if (status == 0)
                status = upload_data(a, "certificates/import", files[i], data, len, NULL, password, NULL, true, &ans);
            ch_secure_free(data, len);
        }
        err = json_object_get(ans, "error");
        if (status == 201 || status == 200) {
            const char *from_csr = json_string_value(json_object_get(ans, "key_from_csr"));
            const char *csr_id = json_string_value(json_object_get(ans, "csr_id"));
            if (status == 201) {
                imported++;
            } else { /* held without its key, which it has now */
                present++;
                added++;
            }
            /* Its key found on the server (a CSR's made there), or its CSR there that has it
             * now: said for this file. */
            if (from_csr != NULL)
                fprintf(stderr, "%scerthub: %s: its key is that of CSR %s, made on the server\n", isatty(2) ? "\n" : "",
                        files[i], plain(from_csr));
            else if (csr_id != NULL)
                fprintf(stderr, "%scerthub: %s: signed for CSR %s, made on the server, which has it now\n",
                        isatty(2) ? "\n" : "", files[i], plain(csr_id));
            note = folder_note(report, files[i],
                               status == 200 ? "key_added" : paired ? "imported_with_key" : "imported",
                               json_string_value(json_object_get(ans, "id")), NULL);
            if (note != NULL && from_csr != NULL)
                json_object_set_new(note, "key_from_csr", json_string(from_csr));
            if (note != NULL && csr_id != NULL)
                json_object_set_new(note, "csr_id", json_string(csr_id));
        } else if (status == 409) {
            present++;
            folder_note(report, files[i], "already_held", json_string_value(json_object_get(err, "existing_id")), NULL);
        } else {
            msg = !read ? ch_error_last() : json_string_value(json_object_get(err, "message"));
            /* A password asked for names the option that gives it, as for one file. */
            if (read && msg != NULL && password == NULL)
                hint = remote_option_hint(a, err);
            snprintf(said, sizeof said, "%.*s%s", msg ? remote_message_len(msg, hint) : 12, msg ? msg : "not imported",
                     hint);
            failed++;
            folder_note(report, files[i], "failed", NULL, said);
            fprintf(stderr, "%scerthub: %s: %s\n", isatty(2) ? "\n" : "", files[i], plain(said));
        }
        json_decref(ans);
    }
    progress(n, n, "");
    for (size_t k = 0; k < nkeys; k++) {
        const char *why = keys[k].key        ? "a private key that belongs to no certificate of the folder"
                          : password != NULL ? "the password does not open this private key"
                                             : "an encrypted private key: give its password with --password-file";
        if (keys[k].used)
            continue;
        failed++;
        folder_note(report, keys[k].file, "failed", NULL, why);
        fprintf(stderr, "certhub: %s: %s\n", keys[k].file, why);
    }
    if (g_remote.json) {
        json_t *sum = json_pack("{sI sI sI sI sI sO}", "imported", (json_int_t)imported, "imported_with_key",
                                (json_int_t)with_key, "already_held", (json_int_t)present, "key_added",
                                (json_int_t)added, "failed", (json_int_t)failed, "files", report);
        if (sum != NULL)
            print_json(sum);
        json_decref(sum);
    } else {
        printf("imported %zu", imported);
        if (with_key)
            printf(" (%zu with the key beside it)", with_key);
        printf(", already held %zu", present);
        if (added)
            printf(" (the key added to %zu)", added);
        printf(", failed %zu (of %zu files)\n", failed, n);
    }
    json_decref(report);
    for (size_t k = 0; k < nkeys; k++)
        ch_key_free(keys[k].key);
    free(keys);
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
    return failed ? 1 : 0;
}

/* POSTs to path the certificate file named first on the command line and, with key_file, its
 * key, as PEM text in body (which holds the other members; it is taken), with the password
 * when there is one; prints the new id.  A file that is not text is refused with not_text
 * rather than sent mangled. */
/* *data, when it is one DER certificate, replaced by its PEM; anything else is left as it is
 * (the server says what is wrong with it).  -1 only when memory runs out. */
static int der_as_pem(uint8_t **data, size_t *len)
{
    ch_cert *cert = NULL;
    ch_buf pem = CH_BUF_INIT;

    if (*len == 0 || (*data)[0] != 0x30 || ch_cert_parse(&cert, *data, *len) < 0)
        return 0;
    if (ch_cert_write_pem(&pem, cert) < 0) {
        ch_cert_free(cert);
        return -1;
    }
    ch_cert_free(cert);
    free(*data);
    *data = pem.data;
    *len = pem.len;
    return 0;
}

/* ans_out: the answer, the caller's to json_decref (NULL: not wanted). */
static int post_pem(cli_args *a, const char *path, json_t *body, const char *key_file, const char *password,
                    const char *not_text, json_t **ans_out)
{
    uint8_t *cert = NULL, *key = NULL;
    size_t clen = 0, klen = 0;
    json_t *ans = NULL;
    int rc = 1;

    if (cli_read(a, a->pos[0], &cert, &clen) != 0 || (key_file && cli_read(a, key_file, &key, &klen) != 0))
        goto done;
    /* (an empty one was sent as none: the certificate stored without its key, the CA unable to sign) */
    if (key_file != NULL && klen == 0) {
        rc = cli_fail(a, "%s is empty: no private key in it", key_file);
        goto done;
    }
    /* A certificate in DER (a .cer, a .der as Windows and most CAs hand one out) is sent as the
     * PEM the API takes: the file as it came, not one to convert first. */
    if (der_as_pem(&cert, &clen) != 0) {
        rc = cli_fail(a, "out of memory");
        goto done;
    }
    /* So is a key in DER (PKCS#8, as Java and Windows tools write one): read here, and sent
     * as PEM under the same password (the API's JSON carries text). */
    if (key != NULL && !holds(key, klen, "-----BEGIN ")) {
        ch_key *k = NULL;
        ch_buf pem = CH_BUF_INIT;
        if (ch_key_parse(&k, key, klen, password) < 0 || ch_key_write_pem(&pem, k, password) < 0) {
            rc = cli_fail(a, "%s: %s", key_file, ch_error_last());
            ch_key_free(k);
            ch_buf_dispose_secure(&pem);
            goto done;
        }
        ch_key_free(k);
        ch_secure_free(key, klen);
        key = pem.data;
        klen = pem.len;
    }
    json_object_set_new(body, "certificate", json_stringn((const char *)cert, clen));
    if (key != NULL)
        json_object_set_new(body, "private_key", json_stringn((const char *)key, klen));
    if (json_object_get(body, "certificate") == NULL || (key != NULL && json_object_get(body, "private_key") == NULL)) {
        rc = cli_fail(a, "%s", not_text);
        goto done;
    }
    if (password != NULL)
        json_object_set_new(body, "password", json_string(password));
    if (remote_call(a, "POST", path, body, &ans, NULL) != 0 || (rc = print_answer(a, ans, "id")) != 0)
        goto done;
    if (ans_out != NULL) {
        *ans_out = ans;
        ans = NULL;
    }
done:
    json_decref(body);
    json_decref(ans);
    free(cert);
    if (key)
        ch_secure_free(key, klen);
    return rc;
}

/* Whether the file holds a private key and no certificate: given where a certificate is
 * asked for (the key beside web.pem, say), it is said as such rather than sent to be refused
 * as "no certificate". */
static bool key_alone(const char *file)
{
    uint8_t *data = NULL;
    size_t len = 0;
    ch_cert *cert = NULL;
    ch_key *key = NULL;
    bool alone = false;
    int error;

    if (ch_file_read(&data, &len, file, CH_MAX_UPLOAD_BYTES) < 0)
        return false;
    if (ch_cert_parse(&cert, data, len) == 0)
        ch_cert_free(cert);
    else if ((error = ch_key_parse(&key, data, len, NULL)) == 0 || error == CH_EPASSWORD)
        alone = true;
    ch_key_free(key);
    ch_secure_free(data, len);
    return alone;
}

/* A file for the trusted certificates (or a proof) that holds a private key, alone or with a
 * certificate: refused before it goes anywhere.  A CA's key is never sent for trust (it went
 * to the server, which answered only "not an X.509 certificate"). */
static int no_key_for_trust(cli_args *a, const char *file)
{
    uint8_t *data = NULL;
    size_t len = 0;
    ch_key *key = NULL;
    bool has = false;
    int error;

    if (ch_file_read(&data, &len, file, CH_MAX_UPLOAD_BYTES) < 0)
        return 0; /* (said by the upload that follows) */
    has = holds(data, len, "PRIVATE KEY-----");
    if (!has && ((error = ch_key_parse(&key, data, len, NULL)) == 0 || error == CH_EPASSWORD))
        has = true;
    ch_key_free(key);
    ch_error_clear();
    ch_secure_free(data, len);
    return has ? cli_fail(a, "%s holds a private key: trusted certificates are CA certificates alone (PEM or DER), "
                             "and a CA's key is never sent; give its certificate", file)
               : 0;
}

/* What the server said of an import beside the certificate (a chain that stops short of a
 * root), on stderr as keystore upload says its notes: the answer on stdout stays the JSON. */
static void import_notes(const json_t *ans)
{
    json_t *note;
    size_t i;

    json_array_foreach(json_object_get(ans, "notes"), i, note)
        fprintf(stderr, "certhub: cert import: note: %s\n", plain(json_string_value(note)));
}

int cmd_remote_cert_import(cli_args *a)
{
    json_t *body, *ans = NULL;
    char *password = NULL, *key_password = NULL;
    struct stat st;
    int rc = 1;

    /* --password-file opens a PKCS#12 or JKS file; --key-password-file, the key of --key (or
     * the same, as it always was), or beside --password-file the key of a JKS or JCEKS file
     * whose key has a password of its own (keytool -keypass). */
    if (cli_opt(a, "password-file") && cli_opt(a, "key-password-file") && cli_opt(a, "key") != NULL)
        cli_usage(a, "with --key, give --password-file or --key-password-file (the key's password), not both");
    if (cli_password(a, cli_opt(a, "password-file") ? "password-file" : "key-password-file", NULL, &password) != 0)
        return 1;
    if (cli_opt(a, "password-file") && cli_opt(a, "key-password-file") &&
        cli_password(a, "key-password-file", NULL, &key_password) != 0) {
        ch_secure_free_str(password);
        return 1;
    }
    if (stat(a->pos[0], &st) == 0 && S_ISDIR(st.st_mode)) {
        if (cli_opt(a, "key") != NULL || key_password != NULL) {
            ch_secure_free_str(password);
            ch_secure_free_str(key_password);
            cli_usage(a, "--key and a key password of its own go with one certificate file, not a folder");
        }
        rc = import_folder(a, a->pos[0], password);
        ch_secure_free_str(password);
        return rc;
    }
    if (cli_opt(a, "key") == NULL && key_alone(a->pos[0])) {
        rc = cli_fail(a, "%s holds a private key and no certificate: import the certificate with --key %s (or the "
                         "folder holding both)", a->pos[0], a->pos[0]);
        goto done;
    }
    if (cli_opt(a, "key") == NULL) {
        /* The file as it is (PEM, DER, PKCS#7, PKCS#12). */
        long status = upload_file_ex(a, "certificates/import", a->pos[0], cli_opt(a, "name"), password, key_password,
                                     false, &ans);
        /* 200: held already without its key, which it has now. */
        if ((status == 201 || status == 200) && (rc = print_answer(a, ans, "id")) == 0)
            import_notes(ans);
        goto done;
    }
    body = json_object();
    str_member(a, "name", body, "name");
    rc = post_pem(a, "certificates/import", body, cli_opt(a, "key"), password,
                  "with --key, give the certificate and the key in PEM", &ans);
    import_notes(ans);
done:
    json_decref(ans);
    ch_secure_free_str(password);
    ch_secure_free_str(key_password);
    return rc;
}

int cmd_remote_keystore_upload(cli_args *a)
{
    char *password = NULL, *key_password = NULL;
    json_t *ans = NULL;
    int rc = 1;

    if (cli_password(a, "password-file", NULL, &password) != 0 ||
        cli_password(a, "key-password-file", NULL, &key_password) != 0)
        goto done;
    if (upload_file_ex(a, "keystores", a->pos[0], cli_opt(a, "name"), password, key_password, false, &ans) == 201 &&
        print_answer(a, ans, "id") == 0) {
        json_t *note;
        size_t i;
        /* What the file held and the server did not keep (a JCEKS secret key, a key without
         * its certificate), as convert says it, and the key entries whose chain stops short of a
         * root, as cert import says it: on stderr, the id alone on stdout. */
        json_array_foreach(json_object_get(ans, "notes"), i, note)
            fprintf(stderr, "certhub: keystore upload: note: %s\n", plain(json_string_value(note)));
        /* An entry that came without its key and has it all the same: the key of a CSR made on
         * the server, for which its certificate was signed. */
        json_array_foreach(json_object_get(ans, "keys_from_csr"), i, note)
            fprintf(stderr, "certhub: keystore upload: note: entry \"%s\": its key is that of CSR %s, made on the "
                            "server and waiting for this certificate (%s), which it has now\n",
                    str(note, "alias"), str(note, "key_from_csr"), str(note, "certificate_id"));
        rc = 0;
    }
done:
    json_decref(ans);
    ch_secure_free_str(password);
    ch_secure_free_str(key_password);
    return rc;
}

/* The destination seed's Generate of a keystore type: a keystore made on the server of a
 * certificate it holds, its one entry with the chain and, when the server holds it, the key.
 * Named after the certificate unless --name says otherwise (the server's default). */
int cmd_remote_keystore_create(cli_args *a)
{
    const char *cert_id = cli_need(a, "certificate"), *given = cli_need(a, "format"), *format = format_opt(a);
    json_t *body, *ans = NULL;
    int rc = 1;

    /* Only the two that hold a key with its chain are kept as keystores; the others are what
     * keystore export writes. */
    if (strcmp(format, "p12") != 0 && strcmp(format, "jks") != 0)
        cli_bad_value(a, "--format takes p12 (pfx, pkcs12) or jks, the keystore formats that hold a key with its "
                         "chain, not \"%.32s\" (keystore export writes the others)", given);
    need_utf8(a, "certificate");
    body = json_pack("{ss ss}", "certificate_id", cert_id, "format", format);
    str_member(a, "alias", body, "alias");
    str_member(a, "name", body, "name");
    if (remote_call(a, "POST", "keystores", body, &ans, NULL) == 0)
        rc = print_answer(a, ans, "id");
    json_decref(body);
    json_decref(ans);
    return rc;
}

int cmd_remote_keystore_list(cli_args *a)
{
    static const char *const cols[] = {"id", "name", "format"};
    static const int w[] = {28, 40, 8};
    char path[512];

    return list_and_print(a, paged(a, "keystores", path, sizeof path), cols, w, 3);
}

int cmd_remote_keystore_entries(cli_args *a)
{
    static const char *const cols[] = {"position", "alias", "has_private_key", "certificate_id", "origin"};
    static const int w[] = {8, 24, 15, 28, 10};
    char path[200], page[700];

    remote_obj_path(path, sizeof path, "keystores", a->pos[0], "/entries");
    return list_and_print(a, paged(a, path, page, sizeof page), cols, w, 5);
}

/* The path of entry ALIAS of keystore ID (the alias %-escaped: it may hold a slash). */
static const char *entry_path(char *path, size_t n, const char *id, const char *alias)
{
    char tail[1100], *esc = remote_escape(alias);

    snprintf(tail, sizeof tail, "/entries/%.1000s", esc ? esc : "");
    free(esc);
    return remote_obj_path(path, n, "keystores", id, tail);
}

/* One entry whole: its own fields, its certificate in full (as cert get shows one), then the
 * chain after it. */
int cmd_remote_keystore_entry(cli_args *a)
{
    char path[1300];
    json_t *ans = NULL, *e;
    size_t i;

    if (remote_call(a, "GET", entry_path(path, sizeof path, a->pos[0], a->pos[1]), NULL, &ans, NULL) != 0)
        return 1;
    if (g_remote.json) {
        print_json(ans);
    } else {
        static const char *const own[] = {"alias", "position", "origin", "has_private_key"};
        for (i = 0; i < sizeof own / sizeof own[0]; i++)
            print_field(own[i], json_object_get(ans, own[i]));
        printf("\n");
        print_fields(json_object_get(ans, "certificate"));
        if (json_array_size(json_object_get(ans, "chain")) > 0)
            printf("\nthe chain after it:\n%-28s  %-20s  %s\n", "id", "not_after", "subject");
        json_array_foreach(json_object_get(ans, "chain"), i, e)
            printf("%-28s  %-20s  %s\n", str(e, "id"), str(e, "not_after"), str(e, "subject"));
    }
    json_decref(ans);
    return 0;
}

/* An entry as the server answered a change of it: "ALIAS  certificate ID  with its key". */
static void print_entry(json_t *e)
{
    if (g_remote.json) {
        print_json(e);
        return;
    }
    put_text(str(e, "alias"));
    printf("  %s  %s\n", str(e, "certificate_id"),
           json_is_true(json_object_get(e, "has_private_key")) ? "with its private key" : "the certificate only");
}

/* keytool -importcert into a stored keystore: a certificate of the inventory, its chain and
 * (when the server holds it) its key, as the last entry. */
int cmd_remote_keystore_entry_add(cli_args *a)
{
    json_t *body, *ans = NULL;
    char path[300];
    int rc = 1;

    if (cli_opt(a, "certificate") == NULL)
        cli_usage(a, "--certificate ID is required: the certificate of the inventory to add");
    body = json_pack("{ss}", "certificate_id", cli_opt(a, "certificate"));
    str_member(a, "alias", body, "alias");
    if (remote_call(a, "POST", remote_obj_path(path, sizeof path, "keystores", a->pos[0], "/entries"), body, &ans, NULL) == 0) {
        print_entry(ans);
        rc = 0;
    }
    json_decref(body);
    json_decref(ans);
    return rc;
}

int cmd_remote_keystore_entry_rename(cli_args *a)
{
    json_t *body = json_pack("{ss}", "alias", a->pos[2]), *ans = NULL;
    char path[1300];
    int rc = 1;

    if (remote_call(a, "PATCH", entry_path(path, sizeof path, a->pos[0], a->pos[1]), body, &ans, NULL) == 0) {
        print_entry(ans);
        rc = 0;
    }
    json_decref(body);
    json_decref(ans);
    return rc;
}

int cmd_remote_keystore_rename(cli_args *a)
{
    json_t *body = json_pack("{ss}", "name", a->pos[1]), *ans = NULL;
    char path[300];
    int rc = 1;

    if (remote_call(a, "PATCH", remote_obj_path(path, sizeof path, "keystores", a->pos[0], ""), body, &ans, NULL) == 0) {
        if (g_remote.json)
            print_json(ans);
        else
            printf("%s  %s\n", str(ans, "id"), str(ans, "name"));
        rc = 0;
    }
    json_decref(body);
    json_decref(ans);
    return rc;
}

int cmd_remote_keystore_entry_delete(cli_args *a)
{
    json_t *ans = NULL;
    char path[1300];

    if (remote_call(a, "DELETE", entry_path(path, sizeof path, a->pos[0], a->pos[1]), NULL, &ans, NULL) != 0)
        return 1;
    if (g_remote.json) {
        print_json(ans);
    } else {
        printf("deleted entry ");
        put_text(a->pos[1]);
        printf(" of %s (its certificate stays in the inventory)\n", a->pos[0]);
    }
    json_decref(ans);
    return 0;
}

int cmd_remote_keystore_get(cli_args *a)
{
    char path[300];
    json_t *ans = NULL, *e;
    size_t i;

    if (remote_call(a, "GET", remote_obj_path(path, sizeof path, "keystores", a->pos[0], ""), NULL, &ans, NULL) != 0)
        return 1;
    print_fields(ans);
    if (!g_remote.json) {
        printf("\n%-8s  %-24s  %-15s  %s\n", "position", "alias", "has_private_key", "subject");
        json_array_foreach(json_object_get(ans, "entries"), i, e) {
            printf("%-8lld  %-24.24s  %-15s  %s\n", (long long)json_integer_value(json_object_get(e, "position")),
                   str(e, "alias"), json_is_true(json_object_get(e, "has_private_key")) ? "yes" : "no",
                   str(json_object_get(e, "certificate"), "subject"));
        }
    }
    json_decref(ans);
    return 0;
}

int cmd_remote_keystore_export(cli_args *a)
{
    const char *format = format_opt(a);
    json_t *body;
    char path[200];
    int rc = 1;

    if (cli_opt(a, "out") == NULL)
        cli_usage(a, "--out FILE is required");
    refuse_key_in_certs_only(a, format);
    body = json_pack("{ss}", "format", format);
    if (export_passwords(a, format, NULL, body) != 0)
        goto done;
    if (cli_opt(a, "with-key"))
        json_object_set_new(body, "include_key", json_true());
    if (cli_flag(a, "truststore"))
        json_object_set_new(body, "truststore", json_true());
    if (cli_flag(a, "legacy"))
        json_object_set_new(body, "legacy", json_true());
    rc = fetch_to_file(a, "POST", remote_obj_path(path, sizeof path, "keystores", a->pos[0], "/export"), body,
                       cli_opt(a, "out"), cli_flag(a, "truststore") ? 0644 : 0600, FILE_CERTS, format);
done:
    json_decref(body);
    return rc;
}


int cmd_remote_csr_delete(cli_args *a)
{
    return delete_and_say(a, "csrs");
}

int cmd_remote_keystore_delete(cli_args *a)
{
    return delete_and_say(a, "keystores");
}

int cmd_remote_csr_create(cli_args *a)
{
    json_t *body;
    int rc;

    if (cli_opt(a, "subject") == NULL)
        cli_usage(a, "--subject DN is required");
    body = json_pack("{ss}", "subject", cli_opt(a, "subject"));
    list_member(a, "san", body, "sans");
    str_member(a, "key-type", body, "key_type");
    str_member(a, "name", body, "name");
    str_member(a, "digest", body, "digest");
    /* The extensions asked of the CA that signs it. */
    list_member(a, "key-usage", body, "key_usage");
    list_member(a, "ext-key-usage", body, "ext_key_usage");
    if (cli_flag(a, "ca"))
        json_object_set_new(body, "ca", json_true());
    else if (cli_opt(a, "path-len") != NULL)
        cli_usage(a, "--path-len goes with --ca (a CSR for a CA)");
    int_member(a, "path-len", body, "path_len", 0, 64);
    rc = post_and_save(a, "csrs", body);
    json_decref(body);
    return rc;
}

int cmd_remote_csr_list(cli_args *a)
{
    static const char *const cols[] = {"id", "name", "subject", "certificate_id"};
    static const int w[] = {28, 24, 40, 28};
    char path[512];

    return list_and_print(a, paged(a, "csrs", path, sizeof path), cols, w, 4);
}

int cmd_remote_csr_attach(cli_args *a)
{
    uint8_t *cert = NULL;
    size_t len = 0;
    json_t *body, *ans = NULL;
    char path[200];
    int rc = 1;

    if (cli_read(a, a->pos[1], &cert, &len) != 0)
        return 1;
    if (len == 0) {
        free(cert);
        return cli_fail(a, "%s is empty: give the certificate the CA signed (PEM, DER or PKCS#7)", a->pos[1]);
    }
    /* A .cer in DER goes as the PEM it is; anything else not text (a PKCS#7 in DER) as the
     * file itself in "data", which the server reads as it reads an import. */
    if (der_as_pem(&cert, &len) != 0) {
        free(cert);
        return cli_fail(a, "out of memory");
    }
    if (ch_mem_find(cert, cert + len, "-----BEGIN ", 11) != NULL) {
        body = json_pack("{s:s%}", "certificate", (const char *)cert, len);
    } else {
        ch_buf b64 = CH_BUF_INIT;
        body = ch_base64_encode(&b64, cert, len) == 0 ? json_pack("{s:s%}", "data", (const char *)b64.data, b64.len)
                                                      : NULL;
        ch_buf_dispose(&b64);
    }
    remote_obj_path(path, sizeof path, "csrs", a->pos[0], "/certificate");
    if (body != NULL && remote_call(a, "POST", path, body, &ans, NULL) == 0)
        rc = print_answer(a, ans, "id");
    else if (body == NULL)
        rc = cli_fail(a, "%s: PEM whose text is not UTF-8: give the certificate as PEM, DER or PKCS#7", a->pos[1]);
    json_decref(body);
    json_decref(ans);
    free(cert);
    return rc;
}

/* --list: trust or issuer, said here rather than by the server, as the other options are. */
static const char *trusted_list_opt(cli_args *a)
{
    const char *list = cli_opt(a, "list");

    if (list != NULL && strcmp(list, "trust") != 0 && strcmp(list, "issuer") != 0)
        cli_bad_value(a, "--list takes trust (authenticates the devices it signed) or issuer (only helps build "
                         "chains), not \"%.32s\"", list);
    return list;
}

static void trusted_query(cli_args *a, char *out, size_t size, const char *base)
{
    const char *list = trusted_list_opt(a);

    snprintf(out, size, "%s?auto_registration=%s&status=%s%s%s", base,
             cli_opt(a, "auto-registration") ? "true" : "false", cli_opt(a, "disabled") ? "disabled" : "enabled",
             list ? "&list=" : "", list ? list : "");
}

int cmd_remote_trusted_add(cli_args *a)
{
    char path[200];
    json_t *ans = NULL;
    int rc = 1;

    bool preview = cli_opt(a, "preview") != NULL;
    long status;

    if (no_key_for_trust(a, a->pos[0]) != 0)
        return 1;
    trusted_query(a, path, sizeof path, "trusted-certificates");
    /* Checked and shown, nothing stored: what is about to be trusted is seen first. */
    if (preview)
        snprintf(path + strlen(path), sizeof path - strlen(path), "&preview=true");
    /* Without --name, named after its subject's CN as the API and the console name it (the
     * file's name, "root.der", told one CA from another in no list). */
    status = upload_file(a, path, a->pos[0], cli_opt(a, "name") ? cli_opt(a, "name") : "", NULL, false, &ans);
    if (status == 201 && !preview) {
        rc = print_answer(a, ans, "id");
    } else if (status == 200 && preview) {
        print_fields(ans);
        rc = 0;
    } else if (status >= 200 && status < 300) {
        rc = remote_unexpected(a, "HTTP %ld, where a%s is %s", status, preview ? " preview" : "n addition",
                               preview ? "200" : "201");
    }
    json_decref(ans);
    return rc;
}

int cmd_remote_trusted_bulk(cli_args *a)
{
    char path[200];
    json_t *ans = NULL, *it;
    size_t i;
    int rc = 1;

    if (no_key_for_trust(a, a->pos[0]) != 0)
        return 1;
    trusted_query(a, path, sizeof path, "trusted-certificates/bulk");
    /* Each certificate is named after its subject: no --name here. */
    if (upload_file(a, path, a->pos[0], "", NULL, false, &ans) == 200) {
        if (g_remote.json) {
            print_json(ans);
        } else {
            json_array_foreach(json_object_get(ans, "items"), i, it) {
                json_t *e = json_object_get(it, "error");
                if (e)
                    printf("refused  %-40s  %s\n", str(it, "subject"), str(e, "message"));
                else
                    printf("added    %-40s  %s\n", str(it, "subject"),
                           str(json_object_get(it, "trusted_certificate"), "id"));
            }
        }
        rc = json_integer_value(json_object_get(ans, "refused")) > 0 ? 1 : 0;
    }
    json_decref(ans);
    return rc;
}

int cmd_remote_trusted_list(cli_args *a)
{
    static const char *const cols[] = {"id", "name", "list", "status", "auto_registration", "verified", "not_after"};
    static const int w[] = {28, 32, 6, 8, 17, 8, 20};
    static const char *const filters[][2] = {{"list", "list"}};
    char path[2048];

    trusted_list_opt(a);
    paged(a, "trusted-certificates", path, sizeof path);
    if (add_filters(a, path, sizeof path, filters, 1) != 0)
        return 1;
    return list_and_print(a, path, cols, w, 7);
}

int cmd_remote_trusted_get(cli_args *a)
{
    return get_and_print(a, "trusted-certificates");
}

int cmd_remote_trusted_update(cli_args *a)
{
    json_t *body = json_object(), *ans = NULL;
    char path[200];
    int rc = 1;

    if (cli_opt(a, "name") == NULL && cli_opt(a, "auto-registration") == NULL && cli_opt(a, "enabled") == NULL &&
        cli_opt(a, "list") == NULL) {
        json_decref(body);
        cli_usage(a, "nothing to change: give --name, --auto-registration, --enabled or --list");
    }
    trusted_list_opt(a);
    str_member(a, "name", body, "name");
    str_member(a, "list", body, "list");
    if (on_off(a, "auto-registration", body, "auto_registration") != 0 || on_off(a, "enabled", body, "enabled") != 0)
        goto done;
    remote_obj_path(path, sizeof path, "trusted-certificates", a->pos[0], "");
    if (remote_call(a, "PATCH", path, body, &ans, NULL) != 0)
        goto done;
    if (g_remote.json)
        print_json(ans);
    else
        printf("%s  %s  %s  %s list  auto_registration=%s\n", str(ans, "id"), str(ans, "name"), str(ans, "status"),
               str(ans, "list"), json_is_true(json_object_get(ans, "auto_registration")) ? "on" : "off");
    rc = 0;
done:
    json_decref(body);
    json_decref(ans);
    return rc;
}

int cmd_remote_trusted_delete(cli_args *a)
{
    return delete_and_say(a, "trusted-certificates");
}

/* A proof of possession, as an IoT platform asks one before it trusts a CA for a tenant: a
 * code from the server, a certificate whose CN is that code signed with the CA's key back. */
int cmd_remote_trusted_code(cli_args *a)
{
    char path[240];
    json_t *ans = NULL;
    int rc;

    if (remote_call(a, "POST", remote_obj_path(path, sizeof path, "trusted-certificates", a->pos[0], "/verification-code"),
                    NULL, &ans, NULL) != 0)
        return 1;
    rc = print_answer(a, ans, "verification_code");
    json_decref(ans);
    return rc;
}

int cmd_remote_trusted_verify(cli_args *a)
{
    char path[240];
    json_t *ans = NULL;
    int rc = 1;

    if (no_key_for_trust(a, a->pos[1]) != 0)
        return 1;
    /* The file as it is, PEM or DER; "" sends no name, which this call takes none of. */
    remote_obj_path(path, sizeof path, "trusted-certificates", a->pos[0], "/verify");
    if (upload_file(a, path, a->pos[1], "", NULL, false, &ans) == 200) {
        if (g_remote.json)
            print_json(ans);
        else
            printf("%s  %s  verified=%s\n", str(ans, "id"), str(ans, "name"),
                   json_is_true(json_object_get(ans, "verified")) ? "yes" : "no");
        rc = 0;
    }
    json_decref(ans);
    return rc;
}

int cmd_remote_tenant_revoke(cli_args *a)
{
    return delete_and_say_as(a, "tenants", "", "revoked ");
}

int cmd_remote_tenant_restore(cli_args *a)
{
    json_t *body = json_pack("{ss}", "status", "active"), *ans = NULL;
    char path[300];
    int rc = remote_call(a, "PATCH", remote_obj_path(path, sizeof path, "tenants", a->pos[0], ""), body, &ans, NULL);

    json_decref(body);
    if (rc == 0 && g_remote.json) /* (--output json: the answer, as every command gives it) */
        print_json(ans);
    else if (rc == 0)
        printf("restored %s\n", a->pos[0]);
    json_decref(ans);
    return rc;
}

int cmd_remote_ca_get(cli_args *a)
{
    return get_and_print(a, "cas");
}

int cmd_remote_ca_chain(cli_args *a)
{
    char path[200];

    return fetch_to_file(a, "GET", remote_obj_path(path, sizeof path, "cas", a->pos[0], "/chain"), NULL, cli_need(a, "out"),
                         0644, FILE_CERTS, "pem");
}

int cmd_remote_ca_delete(cli_args *a)
{
    return delete_and_say_as(a, "cas", cli_flag(a, "force") ? "?force=true" : "", "deleted ");
}

/* A CA that comes as a PKCS#12 or a JKS (as Windows exports one, with its key): opened here
 * and sent as the certificate and key the API takes.  0 when data is no keystore (left to
 * post_pem), 1 once said, 2 when body holds them. */
static int ca_from_keystore(cli_args *a, const uint8_t *data, size_t len, const char *password, json_t *body)
{
    ch_format fmt;
    ch_keystore *ks = NULL;
    ch_import_opts io = {.password = password};
    ch_buf cert = CH_BUF_INIT, key = CH_BUF_INIT;
    const ch_ks_entry *pick = NULL;
    size_t keyed = 0;
    int error, rc = 1;

    if (ch_format_detect(&fmt, data, len) < 0 || (fmt != CH_FMT_PKCS12 && fmt != CH_FMT_JKS && fmt != CH_FMT_JCEKS))
        return 0;
    if (cli_opt(a, "key") != NULL || cli_opt(a, "csr-id") != NULL)
        cli_usage(a, "a %s holds the CA's key itself: --key and --csr-id go with a certificate file",
                  fmt == CH_FMT_PKCS12 ? "PKCS#12" : "keystore");
    if ((error = ch_keystore_import(&ks, data, len, &io)) < 0) {
        rc = cli_fail(a, "%s: %s%s", a->pos[0], ch_error_last(),
                      error == CH_EPASSWORD && password == NULL ? "; pass --password-file F" : "");
        goto done;
    }
    for (size_t i = 0; i < ks->count; i++)
        if (ks->entries[i].key != NULL && ks->entries[i].chain_len > 0 && keyed++ == 0)
            pick = &ks->entries[i];
    if (keyed > 1) {
        rc = cli_fail(a, "%s holds %zu private keys: export the CA's entry alone (certhub convert), or give its "
                         "certificate and --key as PEM", a->pos[0], keyed);
        goto done;
    }
    if (pick == NULL) {
        rc = cli_fail(a, "%s holds no private key: import the CA's certificate alone as PEM (certhub convert %s "
                         "--to pem --no-key)", a->pos[0], a->pos[0]);
        goto done;
    }
    /* The entry's chain after its certificate: the server makes CAs of the CA certificates
     * above it (its root), as from a PEM bundle. */
    for (size_t i = 0; i < pick->chain_len && (error = ch_cert_write_pem(&cert, pick->chain[i])) == 0; i++)
        ;
    if (error < 0 || ch_key_write_pem(&key, pick->key, NULL) < 0 || ch_buf_put(&cert, "", 1) < 0 ||
        ch_buf_put(&key, "", 1) < 0) {
        rc = cli_fail_last(a);
        goto done;
    }
    json_object_set_new(body, "certificate", json_string((const char *)cert.data));
    json_object_set_new(body, "private_key", json_string((const char *)key.data));
    rc = 2;
done:
    ch_buf_dispose(&cert);
    ch_buf_dispose_secure(&key);
    ch_keystore_free(ks);
    return rc;
}

/* A CA imported with the key of a CSR made on the server (neither --key nor --csr-id given),
 * said, as the CA signs where the user may have expected one that cannot; or, its key given,
 * with the CSR it was signed for, which has its certificate now.  And what the server noted (a
 * CA held without its key that has it now, under its own name rather than --name's). */
static void ca_import_notes(const json_t *ans)
{
    const char *from_csr = json_string_value(json_object_get(ans, "key_from_csr"));
    const char *csr_id = json_string_value(json_object_get(ans, "csr_id"));
    json_t *note;
    size_t i;

    json_array_foreach(json_object_get(ans, "notes"), i, note)
        fprintf(stderr, "certhub: ca import: note: %s\n", plain(json_string_value(note)));

    if (from_csr != NULL)
        fprintf(stderr, "certhub: ca import: note: its key is that of CSR %s, made on the server and waiting for "
                        "this certificate: the CA signs with it (as --csr-id %s would have done)\n",
                plain(from_csr), plain(from_csr));
    else if (csr_id != NULL)
        fprintf(stderr, "certhub: ca import: note: signed for CSR %s, made on the server and waiting for this "
                        "certificate, which it has now\n",
                plain(csr_id));
}

int cmd_remote_ca_import(cli_args *a)
{
    char *password = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    json_t *body, *ans = NULL;
    int rc;

    if (cli_opt(a, "key-password-file") != NULL && cli_opt(a, "key") == NULL)
        cli_usage(a, "--key-password-file is the password of --key");
    if (cli_opt(a, "key-password-file") != NULL && cli_opt(a, "password-file") != NULL)
        cli_usage(a, "give the key's password once, --key-password-file (--password-file is that of a PKCS#12 or JKS "
                     "CERT_FILE)");
    if (cli_password(a, cli_opt(a, "key-password-file") != NULL ? "key-password-file" : "password-file", NULL,
                     &password) != 0) /* (one of the two, at most) */
        return 1;
    body = json_pack("{ss ss}", "name", cli_need(a, "name"), "type", "import");
    if (cli_read(a, a->pos[0], &data, &len) != 0) {
        rc = 1;
        json_decref(body);
    } else if ((rc = ca_from_keystore(a, data, len, password, body)) == 2) {
        rc = remote_call(a, "POST", "cas", body, &ans, NULL);
        if (rc == 0 && (rc = print_answer(a, ans, "id")) == 0)
            ca_import_notes(ans);
        json_decref(ans);
        json_decref(body);
    } else if (rc == 1) {
        json_decref(body);
    } else if (key_alone(a->pos[0])) {
        rc = cli_fail(a, "%s holds a private key and no certificate: give the CA's certificate, and this file as "
                         "--key", a->pos[0]);
        json_decref(body);
    } else {
        str_member(a, "csr-id", body, "csr_id");
        rc = post_pem(a, "cas", body, cli_opt(a, "key"), password,
                      "give the CA's certificate and key as PEM (or DER), or both in a PKCS#12 or JKS file", &ans);
        if (rc == 0)
            ca_import_notes(ans);
        json_decref(ans);
    }
    if (data != NULL)
        ch_secure_free(data, len);
    ch_secure_free_str(password);
    return rc;
}

/* PATCH collection/ID with --name and an on/off switch (--OPTION, the member field): what
 * `ca update` and `cert update` change; the answer's id, name and switch. */
static int update_name_switch(cli_args *a, const char *collection, const char *option, const char *field,
                              void (*more)(cli_args *, json_t *), const char *more_options)
{
    json_t *body = json_object(), *ans = NULL;
    char path[300];
    int rc = 1;

    str_member(a, "name", body, "name");
    if (on_off(a, option, body, field) != 0)
        goto done;
    if (more != NULL)
        more(a, body);
    if (json_object_size(body) == 0) {
        json_decref(body);
        cli_usage(a, "give --name, --%s%s or several", option, more_options ? more_options : "");
    }
    if (remote_call(a, "PATCH", remote_obj_path(path, sizeof path, collection, a->pos[0], ""), body, &ans, NULL) != 0)
        goto done;
    if (g_remote.json)
        print_json(ans);
    else if (!json_is_string(json_object_get(ans, "renew_before"))) /* (the line as before there was one) */
        printf("%s  %s  %s=%s\n", str(ans, "id"), str(ans, "name"), field,
               json_is_true(json_object_get(ans, field)) ? "on" : "off");
    else /* a certificate with a lead time of its own: when it renews */
        printf("%s  %s  %s=%s  renew_before=%s  renew_at=%s\n", str(ans, "id"), str(ans, "name"), field,
               json_is_true(json_object_get(ans, field)) ? "on" : "off", str(ans, "renew_before"),
               json_is_string(json_object_get(ans, "renew_at")) ? str(ans, "renew_at") : "-");
    /* A CA's URLs, those it has, a line each (what ca update --crl-urls... set, seen set). */
    for (const char *const *k = (const char *const[]){"crl_urls", "ocsp_urls", "ca_issuers_urls", NULL};
         !g_remote.json && *k != NULL; k++) {
        json_t *l = json_object_get(ans, *k), *u;
        size_t i;
        if (json_array_size(l) == 0)
            continue;
        printf("  %s:", *k);
        json_array_foreach(l, i, u) printf(" %s", json_string_value(u));
        printf("\n");
    }
    rc = 0;
done:
    json_decref(body);
    json_decref(ans);
    return rc;
}

int cmd_remote_ca_update(cli_args *a)
{
    return update_name_switch(a, "cas", "auto-rotate", "auto_rotate", ca_url_members,
                              ", --crl-urls, --ocsp-urls, --ca-issuers-urls");
}

int cmd_remote_ca_rotate(cli_args *a)
{
    char path[200];
    json_t *ans = NULL;
    int rc;

    json_t *body = NULL;
    uint8_t *cert = NULL;
    size_t len = 0;

    remote_obj_path(path, sizeof path, "cas", a->pos[0], "/rotate");
    if (cli_opt(a, "csr-id") != NULL && cli_opt(a, "cert") == NULL)
        cli_usage(a, "--csr-id goes with --cert, the certificate the outside CA signed for that CSR");
    /* The renewal an outside CA signed: sent as PEM, as ca import sends a certificate. */
    if (cli_opt(a, "cert") != NULL) {
        if (cli_read(a, cli_opt(a, "cert"), &cert, &len) != 0)
            return 1;
        if (der_as_pem(&cert, &len) != 0) {
            free(cert);
            return cli_fail(a, "out of memory");
        }
        body = json_pack("{ss#}", "certificate", (const char *)cert, len);
        free(cert);
        if (body == NULL)
            return cli_fail(a, "%s is not text a certificate can be read from: give it as PEM or DER",
                            cli_opt(a, "cert"));
        str_member(a, "csr-id", body, "csr_id");
    }
    rc = remote_call(a, "POST", path, body, &ans, NULL);
    json_decref(body);
    if (rc == 0) {
        if (g_remote.json)
            print_json(ans);
        else
            printf("%s  %s  new certificate %s\n", str(ans, "id"), str(ans, "name"), str(ans, "certificate_id"));
    }
    json_decref(ans);
    return rc;
}

/* The latest decisions about the tenant's devices, newest first: why a device was let in or
 * refused, for whoever wonders why one cannot connect. */
int cmd_remote_device_decisions(cli_args *a)
{
    static const char *const cols[] = {"at", "result", "reason", "device_id", "message"};
    static const int w[] = {20, 6, 20, 24, 40};
    static const char *const filters[][2] = {{"device", "device_id"}, {"result", "result"}};
    char path[2048];

    cli_not_both(a, "tenant", "unattributed");
    paged(a, "device-decisions", path, sizeof path);
    if (add_filters(a, path, sizeof path, filters, sizeof filters / sizeof filters[0]) != 0)
        return 1;
    if (cli_flag(a, "unattributed"))
        snprintf(path + strlen(path), sizeof path - strlen(path), "&unattributed=true");
    return list_and_print(a, path, cols, w, 5);
}

int cmd_remote_device_list(cli_args *a)
{
    static const char *const cols[] = {"id", "device_id", "status", "trusted_certificate_id", "last_seen"};
    static const int w[] = {28, 32, 8, 28, 20};
    static const char *const filters[][2] = {{"trusted-id", "trusted_id"}, {"status", "status"}};
    return list_filtered(a, "devices", filters, sizeof filters / sizeof filters[0], cols, w);
}

static int device_status(cli_args *a, const char *status)
{
    json_t *body = json_pack("{ss}", "status", status), *ans = NULL;
    char path[200];
    int rc;

    remote_obj_path(path, sizeof path, "devices", a->pos[0], "");
    rc = remote_call(a, "PATCH", path, body, &ans, NULL);
    if (rc == 0 && g_remote.json)
        print_json(ans);
    else if (rc == 0)
        printf("%s  %s  %s\n", str(ans, "id"), str(ans, "device_id"), str(ans, "status"));
    json_decref(body);
    json_decref(ans);
    return rc;
}

int cmd_remote_device_add(cli_args *a)
{
    json_t *body, *ans = NULL;
    int rc = 1;

    if (!ch_utf8_valid(a->pos[0]))
        return cli_fail(a, "the device id must be UTF-8 text");
    body = json_pack("{ss}", "device_id", a->pos[0]);
    if (remote_call(a, "POST", "devices", body, &ans, NULL) == 0)
        rc = print_answer(a, ans, "id");
    json_decref(body);
    json_decref(ans);
    return rc;
}

int cmd_remote_device_block(cli_args *a)
{
    return device_status(a, "blocked");
}

int cmd_remote_device_unblock(cli_args *a)
{
    return device_status(a, "active");
}

int cmd_remote_device_delete(cli_args *a)
{
    return delete_and_say(a, "devices");
}

/* Who made a token, for a person: the user's name while it exists, else the id recorded (a
 * user's, or the token's that made it); "-" when nobody is recorded (the first start's token,
 * and those made before makers were). */
static void token_maker(json_t *item)
{
    const char *name = json_string_value(json_object_get(item, "created_by_name"));
    const char *id = json_string_value(json_object_get(item, "created_by"));

    json_object_set_new(item, "made_by", json_string(name ? name : id ? id : "-"));
}

int cmd_remote_token_list(cli_args *a)
{
    /* The status says revoked or expired, and token get when it was revoked. */
    static const char *const cols[] = {"id", "name", "role", "status", "created_at", "expires_at", "made_by"};
    static const int w[] = {28, 24, 8, 7, 20, 20, 12};
    char path[512];

    return list_and_print_ex(a, paged(a, "tokens", path, sizeof path), cols, w, 7, token_maker);
}

/* The token's id, as before; with --cascade, the tokens revoked with it after it, one a line.
 * Without, a note when tokens it made keep working: the option is there for an incident. */
int cmd_remote_token_revoke(cli_args *a)
{
    bool cascade = cli_flag(a, "cascade");
    char path[260];
    json_t *ans = NULL, *ids, *v;
    json_int_t n;
    size_t i;

    remote_obj_path(path, sizeof path, "tokens", a->pos[0], cascade ? "?cascade=true" : "");
    if (remote_call(a, "DELETE", path, NULL, &ans, NULL) != 0)
        return 1;
    ids = json_object_get(ans, "tokens_revoked_ids");
    n = json_integer_value(json_object_get(ans, cascade ? "tokens_revoked" : "tokens_made_active"));
    if (g_remote.json) {
        print_json(ans);
    } else if (cascade && n > 0) {
        printf("%s revoked, and %lld API token%s made from it:\n", a->pos[0], (long long)n, n == 1 ? "" : "s");
        json_array_foreach(ids, i, v) {
            put_text(json_string_value(v) ? json_string_value(v) : "");
            putchar('\n');
        }
    } else if (cascade) {
        printf("%s revoked; no active API token was made from it\n", a->pos[0]);
    } else {
        printf("%s\n", a->pos[0]);
    }
    if (!cascade && n > 0)
        fprintf(stderr, "certhub: token revoke: note: %lld active API token%s made from it keep%s working (--cascade "
                "revokes them too)\n", (long long)n, n == 1 ? "" : "s", n == 1 ? "s" : "");
    json_decref(ans);
    return 0;
}

int cmd_remote_tenant_list(cli_args *a)
{
    static const char *const cols[] = {"id", "name", "created_at", "status"};
    static const int w[] = {28, 32, 20, 8};
    char path[512];

    return list_and_print(a, paged(a, "tenants", path, sizeof path), cols, w, 4);
}

int cmd_remote_token_create(cli_args *a)
{
    /* (one that issues is an operator's unless said: a viewer issues nothing) */
    bool issue = cli_flag(a, "issue") || cli_opt(a, "profiles") != NULL || cli_opt(a, "cas") != NULL;
    json_t *body = json_pack("{ss}", "role", cli_opt(a, "role") ? cli_opt(a, "role") : issue ? "operator" : "viewer"),
           *ans;
    int rc;

    str_member(a, "tenant", body, "tenant");
    str_member(a, "name", body, "name");
    /* --expires: a time is a date first (2027-01-01...), anything else a lifetime (30d, 12h, 90m),
     * each read by the server against its own clock. */
    if (cli_opt(a, "expires") != NULL) {
        const char *v = cli_opt(a, "expires");
        str_member(a, "expires", body, strlen(v) >= 10 && v[4] == '-' ? "expires_at" : "expires_in");
    }
    /* A token for one agent: the objects it may read, and their keys when it says so.  A token
     * for one pipeline: it issues (under the profiles and CAs given, any without them) and reads
     * what it issued. */
    if (cli_opt(a, "objects") != NULL || issue) {
        json_t *scope = json_object();
        list_member(a, "objects", scope, "objects");
        if (issue) {
            json_t *limits = json_object();
            list_member(a, "profiles", limits, "profiles");
            list_member(a, "cas", limits, "ca_ids");
            json_object_set_new(scope, "issue", limits);
        }
        json_object_set_new(scope, "keys_export", json_boolean(cli_flag(a, "keys-export")));
        json_object_set_new(body, "scope", scope);
    } else if (cli_flag(a, "keys-export")) {
        json_decref(body);
        cli_usage(a, "--keys-export goes with --objects or --issue: an unscoped token's role says whether it exports "
                     "keys");
    }
    rc = remote_call(a, "POST", "tokens", body, &ans, NULL);
    json_decref(body);
    if (rc != 0)
        return rc;
    rc = print_answer(a, ans, "token");
    json_decref(ans);
    return rc;
}

/* The name of what tenant create, user create and profile create make: as the other create
 * commands take it (--name) or as a word after the command.  Both at once is refused even when
 * they agree, so that neither is quietly dropped. */
static const char *create_name(cli_args *a, const char *what)
{
    if (a->npos > 0 && cli_opt(a, "name") != NULL)
        cli_usage(a, "give the %s's name once: NAME or --name NAME", what);
    if (a->npos == 0 && cli_opt(a, "name") == NULL)
        cli_usage(a, "the %s's name is required: NAME or --name NAME", what);
    return a->npos > 0 ? a->pos[0] : cli_opt(a, "name");
}

int cmd_remote_tenant_create(cli_args *a)
{
    json_t *body, *ans;
    int rc;

    body = json_pack("{ss}", "name", create_name(a, "tenant"));
    rc = remote_call(a, "POST", "tenants", body, &ans, NULL);
    json_decref(body);
    if (rc != 0)
        return rc;
    rc = print_answer(a, ans, "id");
    json_decref(ans);
    return rc;
}

/* Newest first unless --oldest-first; each filter option is the API's parameter of the same
 * name (--object is object_id). */
int cmd_remote_audit_list(cli_args *a)
{
    static const char *const cols[] = {"seq", "at", "actor", "action", "object_id"};
    static const int w[] = {6, 20, 34, 20, 28};
    static const char *const filters[][2] = {{"action", "action"}, {"actor", "actor"}, {"object", "object_id"},
                                             {"since", "since"},   {"until", "until"}, {"cursor", "cursor"}};
    char path[2048];

    snprintf(path, sizeof path, "audit?limit=%ld&order=%s", cli_int(a, "limit", 100, 1, 1000),
             cli_flag(a, "oldest-first") ? "asc" : "desc");
    if (add_filters(a, path, sizeof path, filters, sizeof filters / sizeof filters[0]) != 0)
        return 1;
    return list_and_print(a, path, cols, w, 5);
}

/* A certificate's own lead time (--renew-before DUR, or none for the tenant's renewal point
 * again). */
static void renew_before_member(cli_args *a, json_t *body)
{
    const char *before = cli_opt(a, "renew-before");

    if (before != NULL)
        json_object_set_new(body, "renew_before", strcmp(before, "none") == 0 ? json_null() : json_string(before));
}

/* A name, the automatic renewal switched, its own lead time, in one PATCH: the server checks
 * them all before it changes any. */
int cmd_remote_cert_update(cli_args *a)
{
    return update_name_switch(a, "certificates", "auto-renew", "auto_renew", renew_before_member, ", --renew-before");
}

/* Removes the tenant's certificates that ended more than --expired-days ago (the tenant's
 * tidy_expired_days without it), or with --dry-run says which would go: the count, then the ids
 * the server lists (at most 1000). */
int cmd_remote_tidy(cli_args *a)
{
    json_t *body = json_object(), *ans = NULL, *v;
    bool dry = cli_flag(a, "dry-run");
    size_t i, count;
    int rc = 1;

    int_member(a, "expired-days", body, "expired_days", 1, 3650); /* (the API's range) */
    if (dry)
        json_object_set_new(body, "dry_run", json_true());
    if (remote_call(a, "POST", "tidy", body, &ans, NULL) != 0)
        goto done;
    if (g_remote.json) {
        print_json(ans);
    } else {
        count = (size_t)json_integer_value(json_object_get(ans, "count"));
        long long days = (long long)json_integer_value(json_object_get(ans, "expired_days"));
        printf("%s %zu certificate%s that ended before %s (%lld day%s ago)\n", dry ? "would remove" : "removed", count,
               count == 1 ? "" : "s", str(ans, "expired_before"), days, days == 1 ? "" : "s");
        json_array_foreach(json_object_get(ans, "ids"), i, v)
            printf("%s\n", json_string_value(v));
        if (json_is_true(json_object_get(ans, "ids_truncated")))
            printf("(the first %zu listed)\n", json_array_size(json_object_get(ans, "ids")));
    }
    rc = 0;
done:
    json_decref(body);
    json_decref(ans);
    return rc;
}

int cmd_remote_cert_renew(cli_args *a)
{
    json_t *body = json_pack("{sb}", "reuse_key", cli_flag(a, "reuse-key"));
    char path[300];
    int rc;

    /* Another lifetime than the old one's, checked by the server as at issuance. */
    lifetime_members(a, body);
    str_member(a, "renew-before", body, "renew_before"); /* (without it, the old one's) */
    if (cli_flag(a, "cap-validity"))
        json_object_set_new(body, "cap_validity", json_true());
    str_member(a, "ca-id", body, "ca_id"); /* (another CA: the renewal moves there) */
    /* What it changes: the lineage (agents, keystore entries) follows the renewal. */
    str_member(a, "subject", body, "subject");
    list_member(a, "san", body, "sans");
    str_member(a, "key-type", body, "key_type");
    cli_not_both(a, "key-type", "csr");
    cli_not_both(a, "reuse-key", "key-type");
    cli_not_both(a, "reuse-key", "csr");
    if (cli_opt(a, "key-out") != NULL && cli_opt(a, "csr") != NULL)
        cli_usage(a, "--key-out fetches a key the server made; with --csr the key is already yours");
    if (cli_opt(a, "csr") != NULL && csr_member(a, cli_opt(a, "csr"), body) != 0) {
        json_decref(body);
        return 1;
    }
    rc = post_and_save(a, remote_obj_path(path, sizeof path, "certificates", a->pos[0], "/renew"), body);

    json_decref(body);
    return rc;
}

/* The private key, as PEM: encrypted under --password-file when given, else in clear (the
 * file is then made 0600 like every file holding a key). */
int cmd_remote_cert_key(cli_args *a)
{
    char path[300], *password = NULL;
    json_t *body = NULL;
    int rc;

    if (cli_password_new(a, "password-file", "CERTHUB_PASSWORD", &password) != 0)
        return 1;
    if (password)
        body = json_pack("{ss}", "password", password);
    rc = fetch_to_file(a, "POST", remote_obj_path(path, sizeof path, "certificates", a->pos[0], "/private-key"), body,
                       cli_need(a, "out"), 0600, FILE_KEY, "pem");
    json_decref(body);
    ch_secure_free_str(password);
    return rc;
}

int cmd_remote_csr_get(cli_args *a)
{
    return get_and_print(a, "csrs");
}

int cmd_remote_csr_export(cli_args *a)
{
    const char *format = format_opt(a);
    char path[300], tail[48];

    if (strcmp(format, "pem") != 0 && strcmp(format, "der") != 0)
        return cli_fail(a, "--format takes pem or der (cer, crt), not \"%.32s\"", cli_opt(a, "format"));
    snprintf(tail, sizeof tail, "/export?format=%s", format);
    return fetch_to_file(a, "GET", remote_obj_path(path, sizeof path, "csrs", a->pos[0], tail), NULL, cli_need(a, "out"),
                         0644, FILE_CSR, format);
}

int cmd_remote_tenant_get(cli_args *a)
{
    return get_and_print(a, "tenants");
}

int cmd_remote_token_get(cli_args *a)
{
    return get_and_print(a, "tokens");
}

int cmd_remote_device_get(cli_args *a)
{
    return get_and_print(a, "devices");
}

/* A profile's lifetimes as one column each, in days or as a ttl, the way it gives them
 * ("397d", "24h"; "-": no maximum). */
static void profile_lifetimes(json_t *item)
{
    static const char *const pairs[][3] = {{"default", "default_days", "default_ttl"}, {"max", "max_days", "max_ttl"}};
    char text[32];

    for (size_t i = 0; i < 2; i++) {
        json_t *ttl = json_object_get(item, pairs[i][2]);
        json_int_t days = json_integer_value(json_object_get(item, pairs[i][1]));
        if (json_is_string(ttl))
            snprintf(text, sizeof text, "%s", json_string_value(ttl));
        else if (days > 0)
            snprintf(text, sizeof text, "%lldd", (long long)days);
        else
            snprintf(text, sizeof text, "-");
        json_object_set_new(item, pairs[i][0], json_string(text));
    }
}

int cmd_remote_profile_list(cli_args *a)
{
    static const char *const cols[] = {"name", "custom", "is_ca", "default", "max", "description"};
    static const int w[] = {24, 6, 5, 7, 5, 40};
    char path[512];

    return list_and_print_ex(a, paged(a, "profiles", path, sizeof path), cols, w, 6, profile_lifetimes);
}

int cmd_remote_profile_get(cli_args *a)
{
    return get_and_print(a, "profiles");
}

/* profile create builds the definition from the options; profile update starts from the
 * profile as the server holds it and changes what the options say (the API replaces the
 * whole definition). */
static int profile_put(cli_args *a, bool create)
{
    json_t *body = NULL, *ans = NULL;
    char path[300];
    int rc = 1;

    if (create) {
        const char *name = create_name(a, "profile");
        cli_need(a, "key-usage");
        body = json_pack("{ss}", "name", name);
    } else {
        if (remote_call(a, "GET", remote_obj_path(path, sizeof path, "profiles", a->pos[0], ""), NULL, &body, NULL) != 0)
            return 1;
        json_object_del(body, "name");
        json_object_del(body, "custom");
        json_object_del(body, "is_ca");
        if (json_array_size(json_object_get(body, "ext_key_usage")) == 0)
            json_object_del(body, "ext_key_usage");
        if (json_integer_value(json_object_get(body, "max_days")) == 0)
            json_object_del(body, "max_days");
        /* A lifetime given in the other form replaces the one held (the two are refused together). */
        if (cli_opt(a, "default-days") != NULL || cli_opt(a, "default-ttl") != NULL) {
            json_object_del(body, "default_days");
            json_object_del(body, "default_ttl");
        }
        if (cli_opt(a, "max-days") != NULL || cli_opt(a, "max-ttl") != NULL) {
            json_object_del(body, "max_days");
            json_object_del(body, "max_ttl");
        }
    }
    str_member(a, "description", body, "description");
    list_member(a, "key-usage", body, "key_usage");
    list_member(a, "ext-key-usage", body, "ext_key_usage");
    int_member(a, "default-days", body, "default_days", 1, 36600);
    str_member(a, "default-ttl", body, "default_ttl");
    /* 0: no maximum beyond the CA's, as the API takes it (and profile get shows it); profile
     * update had no other way to take a maximum away. */
    int_member(a, "max-days", body, "max_days", 0, 36600);
    str_member(a, "max-ttl", body, "max_ttl");
    if (on_off(a, "sans", body, "allow_sans") != 0)
        goto done;
    /* The name policy: "any" takes it away (a profile without one issues for any name),
     * "none" is the empty list (no DNS names at all). */
    if (cli_opt(a, "allowed-domains") != NULL && strcmp(cli_opt(a, "allowed-domains"), "any") == 0) {
        static const char *const policy[] = {"allowed_domains", "allow_subdomains", "allow_wildcards",
                                             "allow_ip_sans", "allow_uri_sans"};
        for (size_t i = 0; i < sizeof policy / sizeof policy[0]; i++)
            json_object_del(body, policy[i]);
    } else {
        list_or_none_member(a, "allowed-domains", body, "allowed_domains");
    }
    if (on_off(a, "subdomains", body, "allow_subdomains") != 0 || on_off(a, "wildcards", body, "allow_wildcards") != 0 ||
        on_off(a, "ip-sans", body, "allow_ip_sans") != 0 || on_off(a, "uri-sans", body, "allow_uri_sans") != 0)
        goto done;
    /* The key types: "any" takes the list away. */
    if (cli_opt(a, "key-types") != NULL && strcmp(cli_opt(a, "key-types"), "any") == 0)
        json_object_del(body, "key_types");
    else
        list_member(a, "key-types", body, "key_types");
    /* The OIDs: "none" takes a list away (a definition without it has none). */
    {
        static const char *const opts[] = {"ext-key-usage-oids", "policies"}, *const fields[] = {
            "ext_key_usage_oids", "policy_identifiers"};
        for (size_t i = 0; i < 2; i++) {
            if (cli_opt(a, opts[i]) != NULL && strcmp(cli_opt(a, opts[i]), "none") == 0) {
                json_object_del(body, fields[i]);
            } else {
                cli_none_alone(a, opts[i], cli_opt(a, opts[i])); /* ("" is not "none": an unset variable) */
                list_member(a, opts[i], body, fields[i]);
            }
        }
    }
    if (remote_call(a, create ? "POST" : "PUT", create ? "profiles" : path, body, &ans, NULL) != 0)
        goto done;
    rc = print_answer(a, ans, "name");
done:
    json_decref(body);
    json_decref(ans);
    return rc;
}

int cmd_remote_profile_create(cli_args *a)
{
    return profile_put(a, true);
}

int cmd_remote_profile_update(cli_args *a)
{
    return profile_put(a, false);
}

int cmd_remote_profile_delete(cli_args *a)
{
    return delete_and_say(a, "profiles");
}

/* ---- the trust bundle and the tenant's settings */

/* --fingerprint: 32 bytes from 64 hex digits, colons allowed (as certhubd and openssl print it). */
static int parse_fingerprint(const char *text, uint8_t out[32])
{
    size_t n = 0;

    for (const char *p = text; *p; p++) {
        int hi, lo;
        if (*p == ':')
            continue;
        if (n == 32 || !isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]))
            return -1;
        hi = isdigit((unsigned char)p[0]) ? p[0] - '0' : (tolower((unsigned char)p[0]) - 'a' + 10);
        lo = isdigit((unsigned char)p[1]) ? p[1] - '0' : (tolower((unsigned char)p[1]) - 'a' + 10);
        out[n++] = (uint8_t)(hi << 4 | lo);
        p++;
    }
    return n == 32 ? 0 : -1;
}

/* A first contact, as step-ca's bootstrap does it: the bundle is fetched without checking
 * certhubd's certificate and its certificate of the fingerprint given (the root, which
 * certhubd prints at start) taken from it; the bundle is then fetched again with certhubd's
 * certificate checked against that root alone, so that a server in the middle is found out
 * on either step (one that sent the real bundle with a root of its own beside it, and served
 * a certificate of that root, passed a check against the whole bundle).  *ca_file names a
 * temporary file of the root, for the checked fetch. */
static int bundle_trust_first(cli_args *a, const char *path, const char *fingerprint, char ca_file[64])
{
    uint8_t want[32];
    ch_buf raw = CH_BUF_INIT, root = CH_BUF_INIT;
    remote_req q = {.method = "GET", .path = path, .token_optional = true, .insecure = true};
    ch_cert **certs = NULL;
    size_t n = 0;
    int fd, rc = 1;

    if (parse_fingerprint(fingerprint, want) != 0)
        return cli_fail(a, "--fingerprint takes the SHA-256 certhubd prints when it starts: 64 hex digits, colons "
                           "allowed");
    if (remote_request(a, &q, NULL, &raw) != 0)
        return 1;
    if (ch_cert_parse_all(&certs, &n, raw.data, raw.len) == 0)
        for (size_t i = 0; i < n && root.len == 0; i++)
            if (memcmp(ch_cert_sha256(certs[i]), want, 32) == 0 && ch_cert_write_pem(&root, certs[i]) < 0)
                ch_buf_dispose(&root);
    ch_cert_list_free(certs, n);
    if (root.len == 0) {
        cli_fail(a, "the bundle %s sent holds no certificate of that fingerprint: not the certhubd you expect, or "
                    "not its fingerprint", g_remote.url);
        goto done;
    }
    snprintf(ca_file, 64, "/tmp/certhub-bundle-XXXXXX");
    if ((fd = mkstemp(ca_file)) < 0 || write(fd, root.data, root.len) != (ssize_t)root.len) {
        if (fd >= 0)
            close(fd);
        cli_fail(a, "cannot write a temporary file: %s", strerror(errno));
        goto done;
    }
    close(fd);
    g_remote.ca_file = ca_file;
    g_remote.verify_hint = "; the certificate certhubd serves does not chain to the root of that fingerprint: "
                           "not the certhubd you expect, or it serves another CA's certificate (--tls-cert)";
    rc = 0;
done:
    ch_buf_dispose(&raw);
    ch_buf_dispose(&root);
    return rc;
}

/* The tenant's trust bundle to a file: with a token, the caller's tenant (or, for the
 * installation's admins, --tenant); without one, the public bundle of --tenant ("default"). */
int cmd_remote_ca_bundle(cli_args *a)
{
    const char *format = format_opt(a), *out = cli_need(a, "out");
    const char *tenant = cli_opt(a, "tenant");
    char path[300], *password = NULL, *esc = NULL, ca_file[64] = "", type[64] = "";
    ch_buf raw = CH_BUF_INIT;
    long status = 0;
    remote_req q = {.method = "GET", .path = path, .token_optional = true};
    int rc = 1;

    if (strcmp(format, "pem") != 0 && strcmp(format, "jks") != 0 && strcmp(format, "p12") != 0)
        return cli_fail(a, "--format takes pem, jks or p12 (pfx, pkcs12), not \"%.32s\"", cli_opt(a, "format"));
    if (cli_may_write(a, out) != 0 || cli_password(a, "password-file", NULL, &password) != 0)
        return 1;
    if (strcmp(format, "pem") != 0 && password == NULL)
        cli_usage(a, "a %s truststore needs a password: --password-file F", format);
    /* (sent empty, the server's refusal named its header, not the option) */
    if (strcmp(format, "pem") != 0 && *password == '\0') {
        ch_secure_free_str(password);
        return cli_fail(a, "--password-file gives an empty password: a %s truststore needs one (keytool asks for it)",
                        format);
    }
    /* A PEM bundle is not encrypted: a password given would be dropped without a word. */
    if (strcmp(format, "pem") == 0 && password != NULL) {
        ch_secure_free_str(password);
        cli_usage(a, "a password goes with --format jks or p12; a PEM bundle is not encrypted");
    }
    if (tenant != NULL && (esc = remote_escape(tenant)) == NULL) {
        ch_secure_free_str(password);
        return cli_fail(a, "out of memory");
    }
    if (cli_opt(a, "fingerprint") != NULL) {
        snprintf(path, sizeof path, "bundles/default?format=pem%s%s", esc ? "&tenant=" : "", esc ? esc : "");
        if (bundle_trust_first(a, path, cli_opt(a, "fingerprint"), ca_file) != 0)
            goto done;
    }
    snprintf(path, sizeof path, "bundles/default?format=%s%s%s", format, esc ? "&tenant=" : "", esc ? esc : "");
    q.password = password;
    q.status = &status;
    q.content_type = type;
    if (remote_request(a, &q, NULL, &raw) == 0 &&
        ((remote_empty_pem(&raw, status, type) && strcmp(format, "pem") == 0) || check_file(a, &raw, FILE_CERTS, format) == 0))
        rc = cli_write(a, out, raw.data, raw.len, 0644);
done:
    if (ca_file[0] != '\0')
        unlink(ca_file);
    ch_buf_dispose(&raw);
    ch_secure_free_str(password);
    free(esc);
    return rc;
}

static void print_settings(json_t *s)
{
    json_t *v;
    size_t i;

    if (g_remote.json) {
        print_json(s);
        return;
    }
    printf("%-45s %s\n", "public_bundle", json_is_true(json_object_get(s, "public_bundle")) ? "on" : "off");
    printf("%-45s %s\n", "unverified_trusted_certificates_authenticate",
           json_is_true(json_object_get(s, "unverified_trusted_certificates_authenticate")) ? "on" : "off");
    printf("%-45s %s\n", "default_ca_id",
           json_is_string(json_object_get(s, "default_ca_id")) ? str(s, "default_ca_id") : "none");
    printf("%-45s %.2f\n", "renewal_point", json_number_value(json_object_get(s, "renewal_point")));
    if (json_is_integer(json_object_get(s, "max_token_days")))
        printf("%-45s %lld\n", "max_token_days", (long long)json_integer_value(json_object_get(s, "max_token_days")));
    else
        printf("%-45s %s\n", "max_token_days", "none");
    if (json_is_integer(json_object_get(s, "token_alert_days")))
        printf("%-45s %lld\n", "token_alert_days", (long long)json_integer_value(json_object_get(s, "token_alert_days")));
    else
        printf("%-45s %s\n", "token_alert_days", "none");
    if (json_is_integer(json_object_get(s, "tidy_expired_days")))
        printf("%-45s %lld\n", "tidy_expired_days", (long long)json_integer_value(json_object_get(s, "tidy_expired_days")));
    else
        printf("%-45s %s\n", "tidy_expired_days", "none");
    printf("%-45s", "alert_thresholds_days");
    json_array_foreach(json_object_get(s, "alert_thresholds_days"), i, v)
        printf("%s%lld", i ? "," : " ", (long long)json_integer_value(v));
    printf("\n");
    json_array_foreach(json_object_get(s, "webhooks"), i, v)
        printf("%-45s %s\n", "webhook", str(v, "url"));
}

int cmd_remote_settings_get(cli_args *a)
{
    json_t *ans = NULL;

    if (remote_call(a, "GET", "settings", NULL, &ans, NULL) != 0)
        return 1;
    print_settings(ans);
    json_decref(ans);
    return 0;
}

/* "30,14,7" as a JSON array of whole numbers (the server checks their range). */
static int day_list(cli_args *a, const char *text, json_t **out)
{
    json_t *list = json_array();
    const char *p = text;

    while (list != NULL) {
        char *end;
        long n = strtol(p, &end, 10);
        if (end == p || (*end != ',' && *end != '\0') || n < 1) {
            json_decref(list);
            return cli_fail(a, "--alert-days takes whole numbers of days, comma-separated, as 30,14,7,1");
        }
        json_array_append_new(list, json_integer(n));
        if (*end == '\0')
            break;
        p = end + 1;
    }
    *out = list;
    return list ? 0 : cli_fail(a, "out of memory");
}

/* --webhook URL given once or more, each with its --webhook-secret-file in the same order (or
 * one secret file for them all; or none, for webhooks kept as they are): the tenant's webhooks,
 * replacing those it had. */
static int set_webhooks(cli_args *a, json_t *body)
{
    json_t *list = json_array(), *cur = NULL;
    const char *url;
    int urls = 0, secrets = 0, rc = 1;

    while (cli_opt_nth(a, "webhook", urls) != NULL)
        urls++;
    while (cli_opt_nth(a, "webhook-secret-file", secrets) != NULL)
        secrets++;
    if (secrets > 1 && secrets != urls) {
        cli_fail(a, "%d --webhook and %d --webhook-secret-file: give one secret file for each webhook, in the same "
                    "order, or one for them all", urls, secrets);
        goto done;
    }
    /* URLs alone: the webhooks kept (with their secrets) are those named; a new one needs its
     * secret, told here before anything is sent. */
    if (secrets == 0 && remote_call(a, "GET", "settings", NULL, &cur, NULL) != 0)
        goto done;
    for (int i = 0; (url = cli_opt_nth(a, "webhook", i)) != NULL; i++) {
        json_t *w, *old;
        size_t j;

        if (secrets == 0) {
            bool known = false;
            json_array_foreach(json_object_get(cur, "webhooks"), j, old) known |= strcmp(str(old, "url"), url) == 0;
            if (!known) {
                cli_fail(a, "--webhook %s is new: it needs --webhook-secret-file F, the key that signs each alert "
                            "(16 to 128 characters)", url);
                goto done;
            }
            w = json_pack("{ss}", "url", url);
        } else {
            char *secret = NULL;
            if (cli_password_file(a, cli_opt_nth(a, "webhook-secret-file", secrets == 1 ? 0 : i), &secret) != 0)
                goto done;
            w = json_pack("{ss ss}", "url", url, "secret", secret);
            ch_secure_free_str(secret);
        }
        if (w == NULL) {
            cli_fail(a, "the webhook's URL and secret must be UTF-8 text");
            goto done;
        }
        json_array_append_new(list, w);
    }
    json_object_set(body, "webhooks", list);
    rc = 0;
done:
    json_decref(cur);
    json_decref(list);
    return rc;
}

int cmd_remote_settings_set(cli_args *a)
{
    json_t *body = json_object(), *ans = NULL, *days = NULL;
    const char *point = cli_opt(a, "renewal-point"), *webhook = cli_opt(a, "webhook");
    int rc = 1;

    if (on_off(a, "public-bundle", body, "public_bundle") != 0 ||
        on_off(a, "unverified-trusted", body, "unverified_trusted_certificates_authenticate") != 0)
        goto done;
    if (point != NULL) {
        char *end;
        double v = strtod(point, &end);
        if (end == point || *end != '\0') {
            cli_fail(a, "--renewal-point takes a fraction of the lifetime, as 0.66");
            goto done;
        }
        json_object_set_new(body, "renewal_point", json_real(v));
    }
    if (cli_opt(a, "default-ca") != NULL)
        json_object_set_new(body, "default_ca_id", strcmp(cli_opt(a, "default-ca"), "none") == 0
                                                       ? json_null()
                                                       : json_string(cli_opt(a, "default-ca")));
    if (cli_opt(a, "max-token-days") != NULL) {
        if (strcmp(cli_opt(a, "max-token-days"), "none") == 0)
            json_object_set_new(body, "max_token_days", json_null());
        else
            int_member(a, "max-token-days", body, "max_token_days", 1, 3650); /* (the API's range) */
    }
    if (cli_opt(a, "token-alert-days") != NULL) {
        if (strcmp(cli_opt(a, "token-alert-days"), "none") == 0)
            json_object_set_new(body, "token_alert_days", json_null());
        else
            int_member(a, "token-alert-days", body, "token_alert_days", 1, 3650); /* (the API's range) */
    }
    if (cli_opt(a, "tidy-expired-days") != NULL) {
        if (strcmp(cli_opt(a, "tidy-expired-days"), "none") == 0)
            json_object_set_new(body, "tidy_expired_days", json_null());
        else
            int_member(a, "tidy-expired-days", body, "tidy_expired_days", 1, 3650); /* (the API's range) */
    }
    if (cli_opt(a, "alert-days") != NULL) {
        if (day_list(a, cli_opt(a, "alert-days"), &days) != 0)
            goto done;
        json_object_set_new(body, "alert_thresholds_days", days);
    }
    if (webhook != NULL && cli_flag(a, "no-webhooks")) {
        json_decref(body);
        cli_usage(a, "give --webhook or --no-webhooks, not both");
    }
    if (webhook != NULL && set_webhooks(a, body) != 0)
        goto done;
    if (webhook == NULL && cli_opt(a, "webhook-secret-file") != NULL) {
        json_decref(body);
        cli_usage(a, "--webhook-secret-file goes with --webhook");
    }
    if (cli_flag(a, "no-webhooks"))
        json_object_set_new(body, "webhooks", json_array());
    if (json_object_size(body) == 0) {
        json_decref(body);
        cli_usage(a, "nothing to change: give --public-bundle, --unverified-trusted, --renewal-point, --alert-days, "
                     "--default-ca, --max-token-days, --token-alert-days, "
                     "--webhook or --no-webhooks");
    }
    if (remote_call(a, "PATCH", "settings", body, &ans, NULL) != 0)
        goto done;
    print_settings(ans);
    rc = 0;
done:
    json_decref(body);
    json_decref(ans);
    return rc;
}

/* ---- console users */

int cmd_remote_user_list(cli_args *a)
{
    static const char *const cols[] = {"name", "role", "created_at"};
    static const int w[] = {32, 10, 20};
    char path[512];

    return list_and_print(a, paged(a, "users", path, sizeof path), cols, w, 3);
}

/* The password of a user made or reset: the first line of --password-file, never an argument. */
static int user_password(cli_args *a, bool needed, char **out)
{
    if (cli_password(a, "password-file", NULL, out) != 0)
        return 1;
    if (*out == NULL && needed)
        return cli_fail(a, "a user needs a password: --password-file F (8 characters or more)");
    return 0;
}

int cmd_remote_user_create(cli_args *a)
{
    const char *name = create_name(a, "user");
    json_t *body, *ans = NULL;
    char *password = NULL;
    int rc;

    if (user_password(a, true, &password) != 0)
        return 1;
    body = json_pack("{ss ss ss}", "name", name, "role", cli_opt(a, "role") ? cli_opt(a, "role") : "viewer",
                     "password", password);
    ch_secure_free_str(password);
    if (body == NULL)
        return cli_fail(a, "the name and the password must be UTF-8 text");
    rc = remote_call(a, "POST", "users", body, &ans, NULL);
    json_decref(body);
    if (rc == 0 && g_remote.json)
        print_json(ans);
    else if (rc == 0)
        printf("%s  %s\n", str(ans, "name"), str(ans, "role"));
    json_decref(ans);
    return rc;
}

int cmd_remote_user_update(cli_args *a)
{
    json_t *body = json_object(), *ans = NULL;
    char path[300], *password = NULL;
    json_int_t n;
    int rc = 1;

    if (user_password(a, false, &password) != 0)
        goto done;
    str_member(a, "role", body, "role");
    if (password != NULL && json_object_set_new(body, "password", json_string(password)) != 0) {
        cli_fail(a, "the password must be UTF-8 text");
        goto done;
    }
    if (json_object_size(body) == 0) {
        json_decref(body);
        cli_usage(a, "nothing to change: give --role or --password-file");
    }
    if (remote_call(a, "PATCH", remote_obj_path(path, sizeof path, "users", a->pos[0], ""), body, &ans, NULL) != 0)
        goto done;
    n = json_integer_value(json_object_get(ans, "tokens_revoked"));
    if (g_remote.json)
        print_json(ans);
    else if (n > 0)
        printf("%s updated; its sessions ended; %lld API token%s above its new role revoked\n", a->pos[0],
               (long long)n, n == 1 ? "" : "s");
    else
        printf("%s updated; its sessions ended\n", a->pos[0]);
    rc = 0;
done:
    ch_secure_free_str(password);
    json_decref(body);
    json_decref(ans);
    return rc;
}

/* The tokens the user made go with it: how many is said when there were any. */
int cmd_remote_user_delete(cli_args *a)
{
    char path[240];
    json_t *ans = NULL;
    json_int_t n;

    remote_obj_path(path, sizeof path, "users", a->pos[0], "");
    if (remote_call(a, "DELETE", path, NULL, &ans, NULL) != 0)
        return 1;
    n = json_integer_value(json_object_get(ans, "tokens_revoked"));
    if (g_remote.json)
        print_json(ans);
    else if (n > 0)
        printf("%s deleted; %lld API token%s it made revoked\n", a->pos[0], (long long)n, n == 1 ? "" : "s");
    else
        printf("%s\n", a->pos[0]);
    json_decref(ans);
    return 0;
}
