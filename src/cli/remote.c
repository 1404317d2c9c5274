/* The CLI as a client of certhubd: one HTTPS call helper over libcurl. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <openssl/ssl.h>

#include "certhub/x509.h"
#include "cli.h"

cli_remote g_remote;

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    ch_buf *b = arg;

    if (n != 0 && size > SIZE_MAX / n)
        return 0;
    return ch_buf_put(b, p, size * n) == 0 ? size * n : 0;
}

/* The headers of an answer the CLI reads: Certhub-Token-Expires, which certhubd adds once the
 * token sent is within CH_TOKEN_WARN_DAYS of its end.  Read from the answers a command gets
 * anyway: asking GET /session as well would add a round trip to every command (and to every
 * round of the agent) for what nearly always says nothing. */
struct answer_headers {
    int64_t token_expires; /* 0: not said */
};

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    static const char name[] = "Certhub-Token-Expires:";
    struct answer_headers *h = arg;
    size_t len = size * n, vl;
    char value[64];
    const char *v;

    if (n != 0 && size > SIZE_MAX / n)
        return 0;
    if (len <= sizeof name - 1 || strncasecmp(p, name, sizeof name - 1) != 0)
        return len;
    v = p + sizeof name - 1;
    vl = len - (sizeof name - 1);
    while (vl > 0 && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    /* Taken only as a time: the warning writes it out again, never the server's bytes. */
    if (vl < sizeof value) {
        memcpy(value, v, vl);
        value[vl] = '\0';
        if (ch_time_parse(&h->token_expires, value) < 0)
            h->token_expires = 0;
    }
    return len;
}

/* Said once a run, on stderr: a script's stdout (--output json among them) stays its own. */
static void token_expiry_warn(int64_t at)
{
    static bool said;
    char text[32];

    if (said || at == 0)
        return;
    said = true;
    ch_time_format(text, sizeof text, at);
    fprintf(stderr, "certhub: warning: the API token in use expires at %s; make a new one before then "
                    "(an admin's certhub token create --role ROLE --expires 30d) and use it instead\n", text);
}

/* True when host (the URL after its scheme) names this machine: a token may go there over
 * plain HTTP (a local proxy in front of certhubd), nowhere else. */
static bool loopback_host(const char *host)
{
    size_t n = strcspn(host, ":/");

    if (n == 9 && strncmp(host, "localhost", 9) == 0)
        return true;
    if (strncmp(host, "[::1]", 5) == 0)
        return host[5] == '\0' || host[5] == ':' || host[5] == '/';
    /* 127.0.0.0/8 written as an address, not a name that begins so (127.0.0.1.example.com). */
    return n > 4 && strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") == n;
}

/* The server URL as given, with https:// when it names no scheme ("host:8443") and without
 * a trailing slash; http:// only to this machine, as the token travels in every request. */
static char checked_url[1024];

static int url_check(cli_args *a)
{
    char *url = checked_url;
    const size_t cap = sizeof checked_url;
    const char *u = g_remote.url;
    size_t n;

    if (strstr(u, "://") == NULL)
        n = (size_t)snprintf(url, cap, "https://%s", u);
    else
        n = (size_t)snprintf(url, cap, "%s", u);
    if (n >= cap)
        return cli_fail(a, "the server URL is too long");
    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
    /* The API's base as the API reference writes it (https://HOST:8443/api/v1) names the same
     * server: every request adds /api/v1 itself, so it would be asked twice (404). */
    if (n > 7 && strcmp(url + n - 7, "/api/v1") == 0) {
        n -= 7;
        url[n] = '\0';
        while (n > 0 && url[n - 1] == '/')
            url[--n] = '\0';
    }
    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
        return cli_fail(a, "the server URL %s is not https://HOST[:PORT]", url);
    /* A user name before the host ("http://127.0.0.1:1@HOST") read as the host: the check for
     * this machine below passed, and the token went in clear to HOST. */
    {
        const char *auth = strstr(url, "://") + 3;
        if (memchr(auth, '@', strcspn(auth, "/?#")) != NULL)
            return cli_fail(a, "the server URL %s names a user before its host (\"@\"): give https://HOST[:PORT] "
                               "alone; the token is what certhub signs in with", url);
    }
    if (strncmp(url, "http://", 7) == 0 && !loopback_host(url + 7))
        return cli_fail(a, "the API token would cross the network in clear over %s: use https:// (http:// is "
                           "accepted for localhost only)", url);
    g_remote.url = url;
    return 0;
}

/* Why curl could not use the --ca-file (CERTHUB_CA) file, which it says only as "error
 * setting certificate file": not there, not readable, or not the PEM certificate it takes; or,
 * none given, the system's CA bundle it falls back on.  Nothing was sent: the server was not
 * reached, and is not what to look at.  The agent's CA file is its config's ca_file setting. */
static int ca_file_fail(cli_args *a)
{
    const char *f = g_remote.ca_file, *conf = g_remote.ca_file_conf;
    const char *opt = conf ? "ca_file" : "--ca-file";
    char from[1100];
    uint8_t *data = NULL;
    size_t len = 0;
    ch_cert *cert = NULL;
    int rc;

    if (conf)
        snprintf(from, sizeof from, "ca_file in %s", conf);
    else
        snprintf(from, sizeof from, "--ca-file or CERTHUB_CA");
    if (f == NULL)
        return cli_fail(a, "no CA file given (%s), and the system's CA bundle could not be read: give %s%s"
                           "DATA-DIR/ca.pem, the root certhubd wrote", from, opt, conf ? " = " : " ");
    if (*f == '\0')
        return cli_fail(a, "the CA file given (%s) is an empty name: give %s%sDATA-DIR/ca.pem, the root certhubd "
                           "wrote", from, opt, conf ? " = " : " ");
    if (ch_file_read(&data, &len, f, CH_MAX_UPLOAD_BYTES) < 0)
        rc = cli_fail(a, "the CA file (%s): %s", from, ch_error_last());
    else if (len > 0 && data[0] == 0x30 && ch_cert_parse(&cert, data, len) == 0)
        rc = cli_fail(a, "the CA file %s is a DER certificate: %s takes PEM (certhub convert %s --to pem --out "
                         "ca.pem)", f, opt, f);
    else
        rc = cli_fail(a, "the CA file %s holds no PEM certificate: %s takes the CA that issued certhubd's "
                         "certificate, as DATA-DIR/ca.pem", f, opt);
    ch_cert_free(cert);
    free(data);
    return rc;
}

/* A reason curl gives, with what to do about the common ones. */
static const char *reach_hint(CURLcode rc)
{
    if (rc == CURLE_PEER_FAILED_VERIFICATION && g_remote.verify_hint != NULL)
        return g_remote.verify_hint;
    if (rc == CURLE_PEER_FAILED_VERIFICATION)
        return "; give the CA that issued the server's certificate with --ca-file or CERTHUB_CA (certhubd writes its "
               "root to DATA-DIR/ca.pem)";
    if (rc == CURLE_GOT_NOTHING && strncmp(g_remote.url, "http://", 7) == 0)
        return "; certhubd answers HTTPS only: use https://";
    if (rc == CURLE_COULDNT_CONNECT)
        return "; is certhubd running and listening there?";
    return "";
}

/* Whether text looks like an API token: one line beginning cht_, nothing else.  Another file
 * given by mistake (the console password beside it, a certificate) is said here, not sent in
 * a header the server then finds malformed, or cannot read as HTTP at all. */
static const char token_form[] = "a token is one line beginning cht_, as certhubd's first start "
                                 "(DATA-DIR/admin-token) and certhub token create print it";

static bool token_shaped(const char *text, size_t len)
{
    if (len < 5 || strncmp(text, "cht_", 4) != 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] <= ' ' || (unsigned char)text[i] >= 0x7f)
            return false;
    return true;
}

/* What certhubd answered stays, decrypted, in OpenSSL's record buffer until the next record
 * or the connection's end: wiped as soon as curl has read it out. */
static CURLcode tls_cleanse(CURL *c, void *ssl_ctx, void *arg)
{
    (void)c;
    (void)arg;
    SSL_CTX_set_options(ssl_ctx, SSL_OP_CLEANSE_PLAINTEXT);
    return CURLE_OK;
}

/* libcurl's memory is wiped as it is freed: its receive buffer holds each answer (a key
 * exported among them) and its header list the token.  Set before its first handle. */
static int curl_setup(void)
{
    static bool ready;

    if (!ready && curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, ch_secure_free_block, ch_secure_realloc,
                                       strdup, calloc) == CURLE_OK)
        ready = true;
    return ready ? 0 : -1;
}

/* A TLS server's chain as it serves it (the handshake alone is what is read: the request after
 * it may fail, a broker speaks no HTTP), verified against nothing: inspecting it is the point. */
int remote_peer_chain(cli_args *a, const char *where, uint8_t **out, size_t *len)
{
    char url[1100];
    CURL *c;
    CURLcode rc;
    struct curl_certinfo *ci = NULL;
    ch_buf pem = CH_BUF_INIT;
    bool tls = strncasecmp(where, "tls://", 6) == 0;
    const char *host = tls ? where + 6 : where + 8, *colon = strrchr(host, ':');

    *out = NULL;
    *len = 0;
    /* (a tls:// server has no default port: 443 was taken for one left out) */
    if (*host == '\0' || strlen(host) > 1000 || strpbrk(host, " \t\r\n") != NULL ||
        (tls && (colon == NULL || colon[1] == '\0' || strchr(colon, ']') != NULL)))
        return cli_fail(a, "%s: give the server as https://HOST[:PORT] or tls://HOST:PORT", where);
    snprintf(url, sizeof url, "https://%s", host);
    if (curl_setup() < 0 || (c = curl_easy_init()) == NULL)
        return cli_fail(a, "cannot set up libcurl");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    /* The handshake alone: a server that speaks no HTTP after it held a request for the whole
     * timeout. */
    curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    rc = curl_easy_perform(c);
    if (curl_easy_getinfo(c, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci != NULL)
        for (int i = 0; i < ci->num_of_certs; i++)
            for (struct curl_slist *l = ci->certinfo[i]; l != NULL; l = l->next)
                if (strncmp(l->data, "Cert:", 5) == 0 && (ch_buf_puts(&pem, l->data + 5) < 0 ||
                                                         ch_buf_puts(&pem, "\n") < 0)) {
                    curl_easy_cleanup(c);
                    ch_buf_dispose(&pem);
                    return cli_fail(a, "out of memory");
                }
    curl_easy_cleanup(c);
    if (pem.len == 0) {
        ch_buf_dispose(&pem);
        return cli_fail(a, "%s: no certificate was served (%s)", where,
                        rc != CURLE_OK ? curl_easy_strerror(rc) : "no TLS handshake");
    }
    *out = ch_buf_detach(&pem, len);
    return 0;
}

int remote_setup(cli_args *a)
{
    return remote_setup_ex(a, false);
}

int remote_setup_ex(cli_args *a, bool token_optional)
{
    const char *env;

    if (g_remote.url == NULL)
        g_remote.url = getenv("CERTHUB_URL");
    if (g_remote.url == NULL)
        g_remote.url = "https://127.0.0.1:8443";
    if (g_remote.url != checked_url && url_check(a) != 0)
        return 1;
    if (g_remote.ca_file == NULL && (env = getenv("CERTHUB_CA")) != NULL)
        g_remote.ca_file = env;
    if (g_remote.token == NULL) {
        if (g_remote.token_file != NULL) {
            uint8_t *data;
            size_t len;
            if (ch_file_read(&data, &len, g_remote.token_file, 4096) < 0)
                return cli_fail(a, "cannot read the token: %s", ch_error_last());
            while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
                data[--len] = '\0';
            if (!token_shaped((const char *)data, len)) {
                ch_secure_free(data, len);
                return cli_fail(a, "%s does not hold an API token: %s", g_remote.token_file, token_form);
            }
            g_remote.token = (char *)data;
            /* A token file others may read (one written with "> agent.token" under the usual
             * umask) gives them the token: said, as ssh says of a key file, and used. */
            {
                struct stat sb;
                if (stat(g_remote.token_file, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 0077) != 0)
                    fprintf(stderr, "certhub: warning: %s can be read by other users (mode %03o): chmod 600 it\n",
                            g_remote.token_file, (unsigned)(sb.st_mode & 0777));
            }
        } else if ((env = getenv("CERTHUB_TOKEN")) != NULL) {
            size_t len = strlen(env);
            while (len > 0 && (env[len - 1] == '\n' || env[len - 1] == '\r' || env[len - 1] == ' '))
                len--;
            if (!token_shaped(env, len))
                return cli_fail(a, "CERTHUB_TOKEN does not hold an API token: %s", token_form);
            g_remote.token = strndup(env, len);
        }
    }
    if (g_remote.token == NULL && !token_optional)
        return cli_fail(a, "no API token: give --token-file FILE or set CERTHUB_TOKEN");
    return 0;
}

/* Whether the command takes option name (a flag, or one with a value). */
static bool cli_takes(const cli_args *a, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = a->cmd->opts; (p = strstr(p, name)) != NULL; p += n)
        if ((p == a->cmd->opts || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || p[n] == '='))
            return true;
    return false;
}

/* API fields and the options that give them, where the names differ. */
static const char *const renamed[][2] = {
    {"include_key", "with-key"},         {"ca_id", "ca-id"},
    {"key_type", "key-type"},            {"csr_id", "csr-id"},
    {"parent_id", "parent"},             {"path_len", "path-len"},
    {"auto_renew", "auto-renew"},        {"auto_registration", "auto-registration"},
    {"key_usage", "key-usage"},          {"ext_key_usage", "ext-key-usage"},
    {"basic_constraints", "basic-constraints"}, {"authority_key_id", "authority-key-id"},
    {"cap_validity", "cap-validity"},    {"sans", "san"},
    {"certificate_id", "certificate"},   {"reuse_key", "reuse-key"},
    {"default_days", "default-days"},    {"default_ttl", "default-ttl"},
    {"max_days", "max-days"},            {"max_ttl", "max-ttl"},
    {"allowed_domains", "allowed-domains"}, {"allow_subdomains", "subdomains"},
    {"allow_wildcards", "wildcards"},    {"allow_ip_sans", "ip-sans"},
    {"allow_uri_sans", "uri-sans"},      {"allow_sans", "sans"},
    {"key_types", "key-types"},
};

const char *remote_option_hint(const cli_args *a, json_t *err)
{
    const char *field = json_string_value(json_object_get(err, "field"));
    const char *code = json_string_value(json_object_get(err, "code"));
    static const char *const opts[][2] = {{"password", "password-file"}, {"key_password", "key-password-file"}};

    for (size_t i = 0; field != NULL && i < sizeof opts / sizeof opts[0]; i++) {
        char taken[64];
        snprintf(taken, sizeof taken, "%s=", opts[i][1]);
        if (strcmp(field, opts[i][0]) == 0 && strstr(a->cmd->opts, taken) != NULL && cli_opt(a, opts[i][1]) == NULL)
            return i == 0 ? "; pass --password-file F" : "; pass --key-password-file F";
    }
    /* A key given under a password and none sent: the option that sends it, as the command
     * names it (cert import and ca import: --key-password-file for --key). */
    if (field != NULL && strcmp(field, "private_key") == 0 && code != NULL && strcmp(code, "wrong_password") == 0 &&
        cli_opt(a, "password-file") == NULL && cli_opt(a, "key-password-file") == NULL) {
        if (cli_takes(a, "key-password-file"))
            return "; pass --key-password-file F";
        if (cli_takes(a, "password-file"))
            return "; pass --password-file F";
    }
    /* The time filters: the server reads RFC 3339 alone, the CLI days and hours too. */
    if (field != NULL && strcmp(field, "expiring_before") == 0)
        return "; or days or hours from now: 30d, 12h";
    if (field != NULL && (strcmp(field, "since") == 0 || strcmp(field, "until") == 0))
        return "; or days or hours ago: 7d, 12h";
    /* The API's name for a field that the command takes as an option of another name: the
     * server's message speaks of the field ("a key goes out in pem (include_key)"). */
    for (size_t i = 0; field != NULL && i < sizeof renamed / sizeof renamed[0]; i++)
        if (strcmp(field, renamed[i][0]) == 0 && cli_takes(a, renamed[i][1])) {
            static _Thread_local char hint[96];
            snprintf(hint, sizeof hint, "; %s is --%s", renamed[i][0], renamed[i][1]);
            return hint;
        }
    /* token create --expires: one option for the API's two fields. */
    if (field != NULL && strcmp(field, "expires_in") == 0 && cli_opt(a, "expires") != NULL)
        return "; --expires also takes a time: 2027-01-01 or 2027-01-01T00:00:00Z";
    if (field != NULL && strcmp(field, "expires_at") == 0 && cli_opt(a, "expires") != NULL)
        return "; --expires also takes a lifetime from now: 30d, 12h, 90m";
    /* One asked for and not given (the tenant bounds its tokens' lifetimes): the option, not
     * the API's two fields. */
    if (field != NULL && (strcmp(field, "expires_in") == 0 || strcmp(field, "expires_at") == 0) &&
        cli_opt(a, "expires") == NULL && cli_takes(a, "expires"))
        return "; give --expires: a lifetime from now (30d, 12h) or a time (2027-01-01)";
    return "";
}

int remote_message_len(const char *msg, const char *hint)
{
    /* What the API says of a raw body's headers is for curl users; the option replaces it. */
    const char *api = msg && *hint ? strstr(msg, " (a raw body takes it in the Certhub-") : NULL;

    return msg == NULL ? 0 : (int)(api ? (size_t)(api - msg) : strlen(msg));
}

/* A 2xx answer of JSON, into *out when the caller reads it (NULL: only checked).  Every answer
 * of certhubd is an object, and never an error: an error behind a success status (a proxy, a
 * gateway) was shown as the fields asked for, or as "revoked", with exit status 0. */
static int answer_read(const cli_args *a, long status, const ch_buf *resp, json_t **out)
{
    json_t *doc = NULL, *err;
    int ret = 0;

    if (out == NULL && resp->len == 0)
        return 0; /* nothing to read (a 204) */
    if ((doc = json_loadb((const char *)resp->data, resp->len, 0, NULL)) == NULL) {
        ret = cli_fail(a, "the server's answer is not JSON");
    } else if (!json_is_object(doc)) {
        ret = remote_unexpected(a, "it is JSON but not an object");
    } else if (json_is_object(err = json_object_get(doc, "error"))) {
        const char *msg = json_string_value(json_object_get(err, "message"));
        ret = remote_unexpected(a, "HTTP %ld with an error: %.200s", status, msg ? msg : "(no message)");
    }
    if (ret == 0 && out != NULL)
        *out = doc;
    else
        json_decref(doc);
    return ret;
}

int remote_call(cli_args *a, const char *method, const char *path, json_t *body, json_t **out, ch_buf *raw)
{
    remote_req q = {.method = method, .path = path, .json = body};

    return remote_request(a, &q, out, raw);
}

int remote_request(cli_args *a, const remote_req *q, json_t **out, ch_buf *raw)
{
    const char *method = q->method, *path = q->path;
    json_t *body = q->json;
    CURL *c;
    struct curl_slist *h = NULL;
    ch_buf resp = CH_BUF_INIT, auth = CH_BUF_INIT, pw = CH_BUF_INIT, kpw = CH_BUF_INIT;
    char url[2048], *text = NULL, errbuf[CURL_ERROR_SIZE] = "";
    struct answer_headers seen = {0};
    long status = 0;
    CURLcode rc;
    int ret = 1;

    if (out)
        *out = NULL;
    if (remote_setup_ex(a, q->token_optional) != 0)
        return 1;
    if ((size_t)snprintf(url, sizeof url, "%s/api/v1/%s", g_remote.url, path) >= sizeof url)
        return cli_fail(a, "the server URL is too long");
    if (curl_setup() < 0 || (c = curl_easy_init()) == NULL)
        return cli_fail(a, "out of memory");
    ch_buf_init(&resp, CH_MAX_UPLOAD_BYTES * 2);
    /* Never to a server whose certificate is not checked: it could be anyone. */
    if (g_remote.token != NULL && !q->insecure) {
        if (ch_buf_printf(&auth, "Authorization: Bearer %s", g_remote.token) < 0)
            goto done;
        h = curl_slist_append(h, (char *)auth.data);
    }
    /* Passwords go in headers, never in the URL: a file's, or the one to write a truststore
     * under. */
    if (q->password != NULL && !q->insecure && ch_buf_printf(&pw, "Certhub-Password: %s", q->password) == 0)
        h = curl_slist_append(h, (const char *)pw.data);
    if (q->key_password != NULL && ch_buf_printf(&kpw, "Certhub-Key-Password: %s", q->key_password) == 0)
        h = curl_slist_append(h, (const char *)kpw.data);
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
    } else if (q->data != NULL) {
        h = curl_slist_append(h, "Content-Type: application/octet-stream");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->data);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->len);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &seen);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, tls_cleanse);
    if (g_remote.ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, g_remote.ca_file);
    if (q->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if ((rc = curl_easy_perform(c)) == CURLE_SSL_CACERT_BADFILE) {
        ret = ca_file_fail(a);
        goto done;
    }
    /* on_data refused what would pass the answer's cap: the server was reached, and said more
     * than the CLI takes (curl's words would be "Failure writing output to destination"). */
    if (rc == CURLE_WRITE_ERROR && ch_error_last_code() == CH_ETOOBIG) {
        ret = remote_unexpected(a, "it is longer than the %u MB certhub takes", (unsigned)(resp.cap >> 20));
        goto done;
    }
    if (rc != CURLE_OK) {
        ret = cli_fail(a, "cannot reach %s: %s%s", g_remote.url, errbuf[0] ? errbuf : curl_easy_strerror(rc),
                       reach_hint(rc));
        goto done;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    token_expiry_warn(seen.token_expires);
    if (q->status)
        *q->status = status;
    if (q->content_type) {
        char *type = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
        snprintf(q->content_type, 64, "%s", type ? type : "");
    }
    /* certhubd answers 2xx, or 4xx and 5xx with an error.  A redirect (a proxy's login page, a
     * moved server) is not followed, as the token would go with it, and its body is not the
     * answer asked for: written as an export, or read as one, it would pass for success. */
    if (status < 200 || (status >= 300 && status < 400)) {
        ret = remote_unexpected(a, "HTTP %ld, where certhubd answers 2xx or an error", status);
        goto done;
    }
    if (status >= 400 && q->quiet && out != NULL) {
        /* The caller reads the error answer itself. */
        *out = json_loadb((const char *)resp.data, resp.len, 0, NULL);
        goto done;
    }
    if (status >= 400) {
        json_t *e = json_loadb((const char *)resp.data, resp.len, 0, NULL);
        json_t *err = json_object_get(e, "error");
        const char *msg = json_string_value(json_object_get(err, "message"));
        const char *hint = remote_option_hint(a, err);
        int mlen = remote_message_len(msg, hint);

        ret = cli_fail(a, "%.*s (HTTP %ld)%s", msg ? mlen : 41, msg ? msg : "the server refused the request", status,
                       hint);
        json_decref(e);
        goto done;
    }
    if (raw != NULL) {
        ret = ch_buf_put(raw, resp.data ? resp.data : (uint8_t *)"", resp.len) == 0 ? 0 : cli_fail(a, "out of memory");
    } else {
        ret = answer_read(a, status, &resp, out);
    }
done:
    ch_secure_free_block(text); /* passwords, a key */
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    ch_buf_dispose_secure(&auth);
    ch_buf_dispose_secure(&pw);
    ch_buf_dispose_secure(&kpw);
    ch_buf_dispose_secure(&resp); /* a key exported, a token made */
    return ret;
}

char *remote_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0), *copy = e ? strdup(e) : NULL;

    curl_free(e);
    return copy;
}

int remote_get_page(cli_args *a, const char *path, const char *cursor, json_t **out)
{
    char url[3000], *c, *esc;
    int n;

    snprintf(url, sizeof url, "%s", path);
    if (cursor == NULL)
        return remote_call(a, "GET", url, NULL, out, NULL);
    for (c = strstr(url, "cursor="); c != NULL && c[-1] != '?' && c[-1] != '&'; c = strstr(c + 1, "cursor="))
        ;
    if (c != NULL) {
        char *end = c + strcspn(c, "&");
        if (*end == '&')
            memmove(c, end + 1, strlen(end + 1) + 1); /* "cursor=X&" goes, what follows stays */
        else
            c[-1] = '\0'; /* the last parameter: it goes with its separator */
    }
    if ((esc = remote_escape(cursor)) == NULL) {
        fprintf(stderr, "certhub: out of memory\n");
        return 1;
    }
    n = snprintf(url + strlen(url), sizeof url - strlen(url), "%ccursor=%s", strchr(url, '?') ? '&' : '?', esc);
    free(esc);
    if (n < 0 || strlen(url) + 1 >= sizeof url) {
        fprintf(stderr, "certhub: the next page's address is too long\n");
        return 1;
    }
    return remote_call(a, "GET", url, NULL, out, NULL);
}

int remote_unexpected(const cli_args *a, const char *fmt, ...)
{
    char what[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return cli_fail(a, "the server's answer is not what certhub expects: %s", what);
}

int remote_pages_next(const cli_args *a, remote_pages *p, json_t *page)
{
    json_t *next = json_object_get(page, "next_cursor");

    free(p->next);
    p->next = NULL;
    if (next == NULL || json_is_null(next))
        return 0;
    if (!json_is_string(next))
        return remote_unexpected(a, "its next_cursor is neither text nor null");
    /* A cursor is compared with one met before, which moves on to the newest at each power
     * of two: pages that come round again (A, B, A...) are found within two rounds, in the
     * memory of one cursor. */
    if (p->mark != NULL && strcmp(p->mark, json_string_value(next)) == 0)
        return remote_unexpected(a, "its next_cursor names a page it gave already, and the list would go round for "
                                    "ever");
    if ((p->next = strdup(json_string_value(next))) == NULL)
        return cli_fail(a, "out of memory");
    if (++p->steps == p->power) {
        free(p->mark);
        if ((p->mark = strdup(p->next)) == NULL)
            return cli_fail(a, "out of memory");
        p->power *= 2;
        p->steps = 0;
    }
    return 0;
}

void remote_pages_dispose(remote_pages *p)
{
    free(p->next);
    free(p->mark);
    p->next = p->mark = NULL;
}

const char *remote_obj_path(char *buf, size_t cap, const char *collection, const char *id, const char *tail)
{
    char *esc = remote_escape(id);
    int n = snprintf(buf, cap, "%s/%.200s%s", collection, esc ? esc : "", tail);

    free(esc);
    if (n < 0 || (size_t)n >= cap) /* an id too long for any object: the collection's own path would be wrong */
        snprintf(buf, cap, "%s/-", collection);
    return buf;
}

bool remote_empty_pem(const ch_buf *raw, long status, const char *content_type)
{
    return raw->len == 0 && status == 200 && strcmp(content_type, "application/x-pem-file") == 0;
}
