/*
 * certhubd --data-dir DIR [--listen ADDR:PORT] [--threads N] [--durability process|power]
 *          [--renew-check SECONDS] [--config FILE]
 *
 * First start needs no set-up: the store, the master key, a quickstart root and issuing CA,
 * a server certificate for the listener and an admin token (printed once) are created in
 * DIR.  Later starts reuse them and print nothing secret.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <malloc.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "daemon.h"

#define USAGE                                                                                                       \
    "usage: certhubd --data-dir DIR [--listen ADDR:PORT] [--threads N] [--workers N] [--durability process|power]\n" \
    "                [--server-names LIST] [--tls-cert FILE --tls-key FILE] [--renew-check SECONDS]\n"       \
    "                [--job-interval SECONDS] [--max-connections N] [--request-timeout SECONDS]\n"                  \
    "                [--config FILE] [--routes]\n"                                                                    \
    "       certhubd --data-dir DIR --backup FILE\n"

static void usage(void)
{
    fprintf(stderr, USAGE "'certhubd --help' says what each option does.\n");
    exit(2);
}

static void help(void)
{
    printf("certhubd %s: the certhub service (HTTPS REST API, web console, renewals and alerts)\n\n" USAGE "\n"
           "  --data-dir DIR        the store, master key, CA certificate (ca.pem) and admin secrets;\n"
           "                        made and set up on the first start\n"
           "  --listen ADDR:PORT    where to serve HTTPS (default 127.0.0.1:8443; [::1]:8443 for IPv6)\n"
           "  --threads N           event loops serving requests, 1..16 (default: one per core)\n"
           "  --workers N           threads answering requests that may take long (an RSA key, a keystore,\n"
           "                        a search), so that the loops go on with the others; 0..16 (default:\n"
           "                        4 per core, at most 16; 0: the loops answer everything themselves)\n"
           "  --durability process  a certificate survives a crash of certhubd once its response is sent\n"
           "                        (the default); power: a power loss too (an fsync per group of commits)\n"
           "  --server-names LIST   more names for certhubd's own certificate, comma-separated host names\n"
           "                        and addresses (it always has localhost, 127.0.0.1, ::1, the host name\n"
           "                        and the --listen address); a new certificate is issued when one is added\n"
           "  --tls-cert FILE       serve this certificate (PEM, the server's first, then its chain)\n"
           "  --tls-key FILE        and its private key (PEM, unencrypted; keep it 0600) instead of the\n"
           "                        one certhubd issues itself; both files are read again when they change\n"
           "  --renew-check SECONDS how often the server certificate is checked for renewal, or the\n"
           "                        --tls-cert files for a change (3600); SIGHUP checks at once\n"
           "  --job-interval SECONDS how often due renewals, CA rotations and expiry alerts run (60);\n"
           "                        a renewal due sooner begins a round at its moment\n"
           "  --max-connections N   connections held open at once (4096, 16..1048576; about 20 kB each); past\n"
           "                        it new ones wait in the listen queue until some close\n"
           "  --request-timeout SECONDS\n"
           "                        a connection that has not sent a whole request (line, headers and\n"
           "                        body) this long after it opened or after its last request is closed\n"
           "                        (60; 5 or more)\n"
           "  --config FILE         the same settings as 'name = value' lines; the command line wins\n"
           "  --routes              print the API's routes, each with the query parameters it takes, and exit\n"
           "  --backup FILE         write a copy of the store to FILE (a new file, 0600) and exit; safe\n"
           "                        while certhubd runs: the copy is of one moment and writes go on\n"
           "  --version             print the version and exit\n",
           CERTHUB_VERSION);
}

struct settings {
    char data_dir[4096], listen[160], tls_cert[4096], tls_key[4096], backup[4096], server_names[4096];
    int threads, workers, renew_check, job_interval, max_connections, request_timeout;
    ch_durability durability;
};

/* Whether value is a whole number from lo to hi, all of it ("3abc" and "5s" are not). */
static bool whole(const char *value, long lo, long hi, int *out)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(value, &end, 10);
    if (end == value || *end != '\0' || errno != 0 || n < lo || n > hi)
        return false;
    *out = (int)n;
    return true;
}

/* The settings, as the config file names them (an option writes '-' for '_'); backup is an
 * option only. */
static const char *const setting_names[] = {"data_dir", "listen", "threads", "workers", "durability", "server_names",
                                            "tls_cert", "tls_key", "renew_check", "job_interval", "max_connections",
                                            "request_timeout"};
#define SETTING_COUNT (sizeof setting_names / sizeof setting_names[0])

/* Whether name is a setting, as an option (with -) on the command line or a line (with _) of
 * the config file; backup only on the command line. */
static bool known_setting(const char *name, const char *where)
{
    char norm[64];
    size_t i;

    for (i = 0; name[i] != '\0' && i + 1 < sizeof norm; i++)
        norm[i] = name[i] == '-' ? '_' : name[i];
    norm[i] = '\0';
    if (strcmp(norm, "backup") == 0)
        return strcmp(where, "command line") == 0;
    for (i = 0; i < SETTING_COUNT; i++)
        if (strcmp(norm, setting_names[i]) == 0)
            return true;
    return false;
}

/* A text setting into out; one too long for it is refused rather than cut (a path cut short
 * names another file). */
static int text_setting(char *out, size_t cap, const char *name, const char *value, const char *where)
{
    size_t n = strlen(value);

    if (n >= cap) {
        fprintf(stderr, "certhubd: %s: %s is %zu bytes long; it takes at most %zu\n", where, name, n, cap - 1);
        return -1;
    }
    memcpy(out, value, n + 1);
    return 0;
}

/* ADDR:PORT as --listen takes it: an address (or [IPv6]), a colon, a port of digits alone
 * ("8443#c" and "8443 extra" listened on 8443). */
static bool listen_ok(const char *value)
{
    const char *colon = strrchr(value, ':');
    size_t digits = colon ? strspn(colon + 1, "0123456789") : 0;

    return colon != NULL && colon != value && digits > 0 && digits <= 5 && colon[1 + digits] == '\0' &&
           atoi(colon + 1) > 0 && atoi(colon + 1) <= 65535;
}

/* Each of a comma-separated list a host name or an address, said with where it was given. */
static int server_names_ok(const char *value, const char *where)
{
    char copy[4096], *save = NULL;

    snprintf(copy, sizeof copy, "%s", value);
    for (char *one = strtok_r(copy, ",", &save); one != NULL; one = strtok_r(NULL, ",", &save)) {
        ch_san san;
        while (*one == ' ')
            one++;
        /* (an address written wrong, 300.1.1.1, is no host name either; nor is a wildcard
         * a name certhubd is reached by) */
        if (ch_san_parse(&san, one) != 0 || (san.type != CH_SAN_DNS && san.type != CH_SAN_IP) ||
            strchr(one, '*') != NULL || (san.type == CH_SAN_DNS && strspn(one, "0123456789.") == strlen(one))) {
            fprintf(stderr, "certhubd: %s: server_names: \"%s\" is not a host name or an address (such as "
                    "certhub.example or 10.0.0.5)\n", where, one);
            return -1;
        }
    }
    return 0;
}

/* One setting by name, from the command line (--name value) or the config file (name = value). */
static int set(struct settings *st, const char *name, const char *value, const char *where)
{
    if (strcmp(name, "data-dir") == 0 || strcmp(name, "data_dir") == 0)
        return text_setting(st->data_dir, sizeof st->data_dir, name, value, where);
    else if (strcmp(name, "listen") == 0 && !listen_ok(value)) {
        fprintf(stderr, "certhubd: %s: listen must be ADDR:PORT, such as 127.0.0.1:8443 or [::1]:8443 (a port of "
                "1 to 65535), not \"%s\"\n", where, value);
        return -1;
    } else if (strcmp(name, "listen") == 0)
        return text_setting(st->listen, sizeof st->listen, name, value, where);
    else if ((strcmp(name, "server-names") == 0 || strcmp(name, "server_names") == 0) &&
             server_names_ok(value, where) < 0)
        return -1;
    else if (strcmp(name, "tls-cert") == 0 || strcmp(name, "tls_cert") == 0)
        return text_setting(st->tls_cert, sizeof st->tls_cert, name, value, where);
    else if (strcmp(name, "tls-key") == 0 || strcmp(name, "tls_key") == 0)
        return text_setting(st->tls_key, sizeof st->tls_key, name, value, where);
    else if (strcmp(name, "server-names") == 0 || strcmp(name, "server_names") == 0)
        return text_setting(st->server_names, sizeof st->server_names, name, value, where);
    else if (strcmp(name, "backup") == 0 && strcmp(where, "command line") == 0)
        return text_setting(st->backup, sizeof st->backup, name, value, where);
    else if (strcmp(name, "threads") == 0 && whole(value, 1, 16, &st->threads))
        ;
    else if (strcmp(name, "workers") == 0 && whole(value, 0, 16, &st->workers))
        ;
    else if ((strcmp(name, "renew-check") == 0 || strcmp(name, "renew_check") == 0) &&
             whole(value, 1, INT_MAX, &st->renew_check))
        ;
    else if ((strcmp(name, "job-interval") == 0 || strcmp(name, "job_interval") == 0) &&
             whole(value, 1, INT_MAX, &st->job_interval))
        ;
    else if ((strcmp(name, "max-connections") == 0 || strcmp(name, "max_connections") == 0) &&
             whole(value, 16, 1048576, &st->max_connections))
        ;
    else if ((strcmp(name, "request-timeout") == 0 || strcmp(name, "request_timeout") == 0) &&
             whole(value, 5, INT_MAX, &st->request_timeout))
        ;
    else if (strcmp(name, "durability") == 0 && strcmp(value, "process") == 0)
        st->durability = CH_DURABLE_PROCESS;
    else if (strcmp(name, "durability") == 0 && strcmp(value, "power") == 0)
        st->durability = CH_DURABLE_POWER;
    else if (!known_setting(name, where)) {
        /* A misspelt name is said as such, in the form it was written in (an option on the
         * command line), rather than as a bad value of a setting that does not exist. */
        if (strcmp(where, "command line") == 0)
            fprintf(stderr, "certhubd: unknown option --%s ('certhubd --help' lists them)\n", name);
        else {
            fprintf(stderr, "certhubd: %s: unknown setting %s; the settings are", where, name);
            for (size_t i = 0; i < SETTING_COUNT; i++)
                fprintf(stderr, "%s%s", i == 0 ? " " : i + 1 < SETTING_COUNT ? ", " : " and ", setting_names[i]);
            fputc('\n', stderr);
        }
        return -1;
    } else {
        fprintf(stderr,
                "certhubd: %s: bad setting %s = \"%s\"; accepted: data_dir = DIR, listen = ADDR:PORT, "
                "threads = 1..16, workers = 0..16, durability = process|power, server_names = LIST, tls_cert = FILE, tls_key = FILE, "
                "renew_check = SECONDS, job_interval = SECONDS, max_connections = 16..1048576, request_timeout = 5 or more (seconds)\n",
                where, name, value);
        return -1;
    }
    return 0;
}

struct config_read {
    struct settings *st;
    const char *path;
    bool said; /* set() has said what is wrong */
    char seen[32][32]; /* the names set so far, folded ('-' as '_'): one given twice is refused */
    int nseen;
};

static int config_item(void *arg, const ch_conf_item *it)
{
    struct config_read *c = arg;
    char where[4200];

    if (it->section)
        return ch_error_set(CH_EPARSE, "certhubd's settings are name = value lines, without sections ([%.32s])",
                            it->name);
    snprintf(where, sizeof where, "%s:%d", c->path, it->line);
    /* A setting twice (a second listen line won without a word, the first looked in force). */
    {
        char folded[32];
        snprintf(folded, sizeof folded, "%s", it->name);
        for (char *p = folded; *p; p++)
            if (*p == '-')
                *p = '_';
        for (int i = 0; i < c->nseen; i++)
            if (strcmp(c->seen[i], folded) == 0) {
                fprintf(stderr, "certhubd: %s: %s is set twice in the file: keep one line\n", where, it->name);
                c->said = true;
                return CH_EINVAL;
            }
        if (c->nseen < 32)
            snprintf(c->seen[c->nseen++], sizeof c->seen[0], "%s", folded);
    }
    if (set(c->st, it->name, it->value, where) < 0) {
        c->said = true;
        return CH_EINVAL;
    }
    return 0;
}

/* A config file of "name = value" lines (ch_conf_parse's rules: '#' begins a comment). */
static int read_config(struct settings *st, const char *path)
{
    struct config_read c = {.st = st, .path = path};
    int line, error = ch_conf_file(path, config_item, &c, &line);

    if (error < 0 && line == 0)
        fprintf(stderr, "certhubd: --config: %s\n", ch_error_last());
    else if (error < 0 && !c.said)
        fprintf(stderr, "certhubd: %s:%d: %s\n", path, line, ch_error_last());
    return error < 0 ? -1 : 0;
}

/* TLS 1.2 and 1.3 only; under 1.2, forward-secret AEAD suites only (no CBC with SHA-1 MACs,
 * which OpenSSL's defaults still offer and scanners report), and no renegotiation asked by the
 * client (a handshake's CPU for the asking, on a connection already let in).  1.3's suites are
 * all AEAD already. */
#define TLS12_CIPHERS                                                                               \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"    \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

static SSL_CTX *tls_server_context(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL)
        return NULL;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 || SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* What a request sent stays decrypted in OpenSSL's record buffer until the next record
     * overwrites it, and is freed so with the connection: wiped instead as soon as libevent
     * has read it out (what is sent is encrypted in place, and leaves nothing). */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CLEANSE_PLAINTEXT);
    return ctx;
}

static SSL_CTX *tls_context(const ch_svc_bootstrap *b)
{
    SSL_CTX *ctx = tls_server_context();
    bool chained = ctx != NULL && b->server_cert != NULL &&
                   SSL_CTX_use_certificate(ctx, ch_cert_x509(b->server_cert)) == 1 &&
                   SSL_CTX_add1_chain_cert(ctx, ch_cert_x509(b->issuer_cert)) == 1;

    /* (the CAs between the issuing CA and the root, when certhubd's certificate comes from an
     * issuing CA of your own under an intermediate) */
    for (size_t i = 0; chained && i < b->n_intermediates; i++)
        chained = SSL_CTX_add1_chain_cert(ctx, ch_cert_x509(b->intermediates[i])) == 1;
    if (!chained || SSL_CTX_use_PrivateKey(ctx, ch_key_pkey(b->server_key)) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* What the renewal check needs to run the first-start set-up again, or to read the
 * operator's certificate files again. */
struct tls_source {
    ch_svc *svc;
    const char *data_dir;
    char host[4500];    /* the names of its own certificate, comma-separated */
    uint8_t served[32]; /* SHA-256 of the server certificate being served */
    const char *cert_file, *key_file; /* --tls-cert, --tls-key: served instead */
    struct timespec cert_mtime, key_mtime;
};

/* An encrypted key is refused, not asked for on a terminal nobody watches. */
static int no_password(char *buf, int size, int rwflag, void *arg)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)arg;
    return -1;
}

/* A TLS context on the operator's files: the chain in the certificate file, the key that
 * belongs to its first certificate.  NULL after saying what is wrong. */
static SSL_CTX *tls_context_files(struct tls_source *src)
{
    SSL_CTX *ctx = tls_server_context();
    struct stat cs, ks;
    const char *what = NULL;
    char until[32], unreadable[300];
    EVP_PKEY *key = NULL;
    BIO *kb = NULL;

    const char *gone = stat(src->cert_file, &cs) != 0 ? "--tls-cert" : stat(src->key_file, &ks) != 0 ? "--tls-key" : NULL;

    if (gone != NULL) {
        snprintf(unreadable, sizeof unreadable, "cannot read %s: %s", gone, strerror(errno));
        what = unreadable;
    }
    else if (ctx == NULL)
        what = "out of memory";
    else if (SSL_CTX_use_certificate_chain_file(ctx, src->cert_file) != 1)
        what = "--tls-cert holds no PEM certificate";
    else if ((kb = BIO_new_file(src->key_file, "r")) == NULL ||
             (key = PEM_read_bio_PrivateKey(kb, NULL, no_password, NULL)) == NULL)
        what = "--tls-key holds no unencrypted PEM private key";
    else if (X509_check_private_key(SSL_CTX_get0_certificate(ctx), key) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1)
        what = "the --tls-key does not belong to the first certificate of --tls-cert";
    EVP_PKEY_free(key);
    BIO_free(kb);
    ERR_clear_error();
    if (what != NULL) {
        event_log(stderr, "--tls-cert %s, --tls-key %s: %s", src->cert_file, src->key_file, what);
        SSL_CTX_free(ctx);
        return NULL;
    }
    src->cert_mtime = cs.st_mtim;
    src->key_mtime = ks.st_mtim;
    {
        const ASN1_TIME *na = X509_get0_notAfter(SSL_CTX_get0_certificate(ctx));
        struct tm tm;
        if (na != NULL && ASN1_TIME_to_tm(na, &tm) == 1 && strftime(until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
            event_log(stdout, "serving %s, valid until %s", src->cert_file, until);
        if (na != NULL && X509_cmp_current_time(na) < 0)
            event_log(stderr, "warning: the certificate in %s has expired", src->cert_file);
    }
    return ctx;
}

static bool same_time(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* The set-up reuses everything that is still good and issues a new server certificate once a
 * third of the old one's life is left; a new one means a new TLS context. */
static SSL_CTX *tls_refresh(void *arg)
{
    struct tls_source *src = arg;
    ch_svc_bootstrap b;
    SSL_CTX *ctx = NULL;
    char until[32];

    /* The operator's files: read again once either has changed (a renewal by another tool);
     * a pair that does not load leaves the one being served in place. */
    if (src->cert_file != NULL) {
        struct stat cs, ks;
        if (stat(src->cert_file, &cs) != 0 || stat(src->key_file, &ks) != 0 ||
            (same_time(cs.st_mtim, src->cert_mtime) && same_time(ks.st_mtim, src->key_mtime)))
            return NULL;
        return tls_context_files(src);
    }

    if (ch_svc_bootstrap_run(src->svc, src->data_dir, src->host, 0, &b) < 0) {
        event_log(stderr, "checking the server certificate failed: %s", ch_error_last());
        return NULL;
    }
    if (memcmp(ch_cert_sha256(b.server_cert), src->served, 32) != 0) {
        if ((ctx = tls_context(&b)) != NULL) {
            memcpy(src->served, ch_cert_sha256(b.server_cert), 32);
            ch_time_format(until, sizeof until, ch_cert_not_after(b.server_cert));
            event_log(stdout, "server certificate renewed, valid until %s", until);
        } else {
            event_log(stderr, "cannot set up TLS with the renewed server certificate");
        }
    }
    ch_svc_bootstrap_dispose(&b);
    return ctx;
}

/* libcurl, loaded when the first webhook is sent: linked in, its dependencies (GnuTLS through
 * librtmp, Kerberos, LDAP, SSH, HTTP/2) added 4 MB to the resident memory of every certhubd,
 * most of which never sends one.  curl_easy_setopt is called through a pointer of its own
 * name, so curl.h's type-checking macro does not apply. */
static struct {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *c);
    CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *c);
    const char *(*easy_strerror)(CURLcode rc);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
} cu;
static pthread_once_t cu_once = PTHREAD_ONCE_INIT;
static bool cu_ready;

static void cu_load(void)
{
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    struct {
        void **fn;
        const char *name;
    } syms[] = {
        {(void **)&cu.global_init, "curl_global_init"},   {(void **)&cu.easy_init, "curl_easy_init"},
        {(void **)&cu.easy_setopt, "curl_easy_setopt"},   {(void **)&cu.easy_perform, "curl_easy_perform"},
        {(void **)&cu.easy_getinfo, "curl_easy_getinfo"}, {(void **)&cu.easy_cleanup, "curl_easy_cleanup"},
        {(void **)&cu.easy_strerror, "curl_easy_strerror"}, {(void **)&cu.slist_append, "curl_slist_append"},
        {(void **)&cu.slist_free_all, "curl_slist_free_all"},
    };

    if (h == NULL) {
        fprintf(stderr, "certhubd: webhooks need libcurl (Debian package libcurl4): %s\n", dlerror());
        return;
    }
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++)
        if ((*syms[i].fn = dlsym(h, syms[i].name)) == NULL) {
            fprintf(stderr, "certhubd: libcurl lacks %s\n", syms[i].name);
            return;
        }
    cu_ready = cu.global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* Where a webhook may connect, checked on each address its host resolves to (at connect time,
 * so a name that resolves elsewhere later is checked too): never a link-local address (the
 * cloud's metadata service, 169.254.169.254, hands out credentials) nor an unspecified or
 * multicast one; the host itself (loopback) only for the installation's own tenant. */
struct hook_policy {
    bool installation;
    char refused[64];
};

static curl_socket_t webhook_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct hook_policy *p = arg;
    const char *why = NULL;

    (void)purpose;
    if (a->family == AF_INET)
        why = ch_hook_address_refused(AF_INET, (const unsigned char *)&((const struct sockaddr_in *)&a->addr)->sin_addr,
                                      p->installation);
    else if (a->family == AF_INET6)
        why = ch_hook_address_refused(AF_INET6, ((const struct sockaddr_in6 *)&a->addr)->sin6_addr.s6_addr,
                                      p->installation);
    if (why != NULL) {
        snprintf(p->refused, sizeof p->refused, "%s", why);
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

/* Expiry alerts go out here: a JSON POST signed with HMAC-SHA256 of the body under the
 * webhook's secret (X-Certhub-Signature: sha256=<hex>), like the webhooks of GitHub. */
static int send_webhook(void *arg, const char *url, const char *secret, const char *body, bool installation)
{
    struct hook_policy policy = {.installation = installation};
    unsigned char mac[32];
    unsigned int maclen = 0;
    char hex[65], sig[100];
    struct curl_slist *h = NULL;
    CURL *c;
    long status = 0;
    CURLcode rc;

    (void)arg;
    pthread_once(&cu_once, cu_load);
    if (!cu_ready || (c = cu.easy_init()) == NULL)
        return -1;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, strlen(body), mac, &maclen);
    ch_hex(hex, mac, maclen);
    snprintf(sig, sizeof sig, "X-Certhub-Signature: sha256=%s", hex);
    h = cu.slist_append(h, "Content-Type: application/json");
    h = cu.slist_append(h, sig);
    cu.easy_setopt(c, CURLOPT_URL, url);
    cu.easy_setopt(c, CURLOPT_POSTFIELDS, body);
    cu.easy_setopt(c, CURLOPT_HTTPHEADER, h);
    cu.easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    cu.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    cu.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
    cu.easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    cu.easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, webhook_socket);
    cu.easy_setopt(c, CURLOPT_OPENSOCKETDATA, &policy);
    rc = cu.easy_perform(c);
    cu.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    cu.slist_free_all(h);
    cu.easy_cleanup(c);
    if (rc != CURLE_OK || status < 200 || status >= 300) {
        char origin[300];
        ch_url_origin(origin, sizeof origin, url); /* (its path is often its credential) */
        if (rc != CURLE_OK && policy.refused[0])
            event_log(stderr, "webhook %s: not sent: it leads to %s, where webhooks %s", origin, policy.refused,
                      strcmp(policy.refused, CH_HOOK_LOOPBACK) == 0
                          ? "of tenants other than the default one may not go"
                          : "may not go");
        else if (rc != CURLE_OK)
            event_log(stderr, "webhook %s: %s", origin, cu.easy_strerror(rc));
        else
            event_log(stderr, "webhook %s: answered HTTP %ld; tried again at the next round", origin, status);
        return -1;
    }
    return 0;
}

/* The SHA-256 fingerprint of the root in DATA_DIR/ca.pem that certhubd's own chain goes to,
 * printed at every start (it is not secret): a machine that fetches the trust bundle before it
 * trusts certhubd checks certhubd's certificate against that root alone (certhub ca bundle
 * --fingerprint).  After the root is rotated ca.pem holds the new root first, while the chain
 * goes on to the old one until the issuing CA is rotated too: the root that signed issuer (the
 * top of the chain sent, below the root) is the one to print, the newest only when none did. */
static void print_fingerprint(const char *data_dir, const ch_cert *issuer)
{
    char path[4200], hex[32 * 3];
    uint8_t *pem = NULL;
    size_t len = 0, n = 0, pick = 0;
    ch_cert **roots = NULL;

    snprintf(path, sizeof path, "%s/ca.pem", data_dir);
    if (ch_file_read(&pem, &len, path, 1 << 20) == 0 && ch_cert_parse_all(&roots, &n, pem, len) == 0 && n > 0) {
        for (size_t i = 0; issuer != NULL && i < n; i++) {
            X509 *r = ch_cert_x509(roots[i]), *x = ch_cert_x509(issuer);
            if (X509_check_issued(r, x) == X509_V_OK && X509_verify(x, X509_get0_pubkey(r)) == 1) {
                pick = i;
                break;
            }
        }
        const uint8_t *md = ch_cert_sha256(roots[pick]);
        for (int i = 0; i < 32; i++)
            snprintf(hex + 3 * i, 4, "%02X%s", md[i], i < 31 ? ":" : "");
        printf("certhubd: root fingerprint (SHA-256) %s\n", hex);
    }
    ERR_clear_error();
    ch_cert_list_free(roots, n);
    free(pem);
}

/* What only a first start has: the admin token and password, shown once. */
static void print_secrets(const ch_svc_bootstrap *b, const char *data_dir, unsigned flags)
{
    /* (a token made again, all of the default tenant's revoked or expired, is no first start) */
    if (b->admin_token != NULL && b->first_start)
        printf("certhubd: first start in %s\n", data_dir);
    else if (b->admin_token != NULL)
        printf("certhubd: no API token of the default tenant lets anyone in any more (revoked or expired): a new "
               "admin token is made\n");
    if (b->admin_token != NULL)
        printf("certhubd: admin API token (shown once; also in %s/admin-token): %s\n", data_dir, b->admin_token);
    /* Clients trust the root of the certificate served: certhubd's own, under ca.pem's root;
     * one given (--tls-cert), under its issuer's, which ca.pem need not hold. */
    if (b->first_start && !(flags & CH_BOOTSTRAP_NO_SERVER_CERT))
        printf("certhubd: trust %s/ca.pem (certhub Quickstart Root CA - Not for Production)\n", data_dir);
    else if (b->first_start)
        printf("certhubd: clients trust the issuer of the certificate given (--tls-cert); %s/ca.pem holds the "
               "quickstart root, which signs what certhub issues\n", data_dir);
    if (b->admin_password != NULL)
        printf("certhubd: console user admin, password (shown once; also in %s/admin-password): %s\n", data_dir,
               b->admin_password);
    fflush(stdout);
}

/* Opens the service and runs the set-up (everything on a first start; on later ones it
 * finds what is there and renews the server certificate if due), printing what only a first
 * start has.  On failure says why and returns -1. */
static int open_and_set_up(ch_svc **svc, ch_svc_bootstrap *b, const ch_svc_opts *so, const char *data_dir,
                           const char *host, unsigned flags)
{
    if (ch_svc_open(svc, so) < 0) {
        fprintf(stderr, "certhubd: %s\n", ch_error_last());
        return -1;
    }
    if (ch_svc_bootstrap_run(*svc, data_dir, host, flags, b) < 0) {
        fprintf(stderr, "certhubd: set-up failed: %s\n", ch_error_last());
        ch_svc_close(*svc);
        return -1;
    }
    print_secrets(b, data_dir, flags);
    /* (as a renewal while it runs is said: operations.md lists it among the log's lines) */
    if (b->server_cert_renewed) {
        char until[32];
        ch_time_format(until, sizeof until, ch_cert_not_after(b->server_cert));
        event_log(stdout, "server certificate renewed, valid until %s", until);
    }
    return 0;
}

/* --backup FILE: a copy of the store, taken while certhubd may be running.  The private keys
 * in it are sealed under the master key, which is not in it: it is kept apart. */
static int backup(const ch_svc_opts *so, const char *data_dir, const char *file)
{
    char db[4200];
    struct stat sb;
    ch_svc *svc;
    int rc = 1;

    snprintf(db, sizeof db, "%s/certhub.db", data_dir);
    if (stat(db, &sb) != 0) {
        fprintf(stderr, "certhubd: --backup: no store in %s (%s)\n", data_dir, strerror(errno));
        return 1;
    }
    /* SQLite says only that it cannot open the file: a directory that is not there is said. */
    {
        char dir[4200];
        const char *slash = strrchr(file, '/');
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - file) : 1, slash ? file : ".");
        if (slash != NULL && slash != file && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
            fprintf(stderr, "certhubd: --backup: the directory %s of %s is not there (make it first)\n", dir, file);
            return 1;
        }
    }
    umask(077);
    if (ch_svc_open(&svc, so) < 0) {
        fprintf(stderr, "certhubd: --backup: %s\n", ch_error_last());
        return 1;
    }
    if (ch_store_backup(ch_svc_store(svc), file) < 0) {
        fprintf(stderr, "certhubd: --backup: %s\n", ch_error_last());
    } else if (stat(file, &sb) == 0) {
        printf("certhubd: the store of %s written to %s (%lld bytes)\n"
               "certhubd: keep %s/master.key and admin-token apart from it: the private keys in it are sealed "
               "under that key, and a restore needs both\n",
               data_dir, file, (long long)sb.st_size, data_dir);
        rc = 0;
    }
    ch_svc_close(svc);
    return rc;
}

/* The first start's set-up, run in a child process.  Returns the exit status. */
static int first_start(const ch_svc_opts *so, const char *data_dir, const char *host, unsigned flags)
{
    ch_svc *svc;
    ch_svc_bootstrap b;

    if (open_and_set_up(&svc, &b, so, data_dir, host, flags) < 0)
        return 1;
    ch_svc_bootstrap_dispose(&b);
    ch_svc_close(svc);
    return 0;
}

/* One certhubd per data directory: a second on the same store would cache CAs, sessions and
 * settings the first changes (it signed with a CA key the first had rotated away).  The lock
 * is held for the life of the process (its descriptor stays open); the file names its pid.
 * 0 when held, or when the directory cannot hold it yet (what opens the store says why). */
static int lock_data_dir(const char *data_dir)
{
    char path[4200], pid[32] = "";
    int fd;
    ssize_t n;

    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST)
        return 0;
    snprintf(path, sizeof path, "%.4000s/certhubd.lock", data_dir);
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
        return 0;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if ((n = read(fd, pid, sizeof pid - 1)) > 0)
            pid[n] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        fprintf(stderr, "certhubd: another certhubd%s%s%s runs on %s: one certhubd per data directory (nodes that "
                "share a store each have their own)\n", pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "", data_dir);
        close(fd);
        return -1;
    }
    n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || write(fd, pid, (size_t)n) != n) {
        /* the pid is for the message above only: the lock holds without it */
    }
    return 0;
}

/* The files certhubd writes whole (a temporary file renamed over each) left half made by a
 * stop in between: the next start removes them (one of admin-token holds a token).  Only
 * while the data directory is locked: no other certhubd is writing them. */
static void remove_stale_temps(const char *data_dir)
{
    static const char *const bases[] = {"admin-token.", "admin-password.", "ca.pem.", "master.key.", NULL};
    DIR *d = opendir(data_dir);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL)
        for (size_t i = 0; bases[i]; i++) {
            size_t n = strlen(bases[i]);
            /* <name>.XXXXXX, mkstemp's six characters */
            if (strncmp(e->d_name, bases[i], n) == 0 && strlen(e->d_name) == n + 6 &&
                strspn(e->d_name + n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == 6)
                (void)unlinkat(dirfd(d), e->d_name, 0);
        }
    closedir(d);
}

/* What the service could not do and tells the operator, in certhubd's log. */
static void service_log(const char *line)
{
    event_log(stderr, "%s", line);
}

int main(int argc, char **argv)
{
    /* One event loop per core: a loop waits for nothing (an issuance's commit is queued, what
     * may take long goes to the workers), so more loops than cores only add wakeups of threads
     * onto a core already busy (bench_https: +11 to +24 % certificates/s over 8 loops that
     * waited for their commits).  Four workers per core, as there were loops before: a slow
     * request holds a worker, not its loop's other connections. */
    struct settings st = {.listen = "127.0.0.1:8443", .threads = (int)sysconf(_SC_NPROCESSORS_ONLN),
                          .workers = 4 * (int)sysconf(_SC_NPROCESSORS_ONLN),
                          .renew_check = 3600, .job_interval = 60, .max_connections = 4096, .request_timeout = 60};
    const char *data_dir, *listen;
    char addr[128], host[4500] = "";
    int port, threads, rc, renew_check, listen_fd;
    struct tls_source src = {0};
    unsigned flags = 0;
    ch_svc_opts so = {0};
    ch_svc *svc;
    ch_svc_bootstrap b;
    SSL_CTX *tls;
    const char *colon;
    bool config_given = false;

    /* Every request carries a secret (its token or session cookie), many a key or a password
     * in their body, and some answers a key or a token: libevent holds them in its buffers and
     * headers, jansson in its trees and the texts it writes, and both free without wiping,
     * leaving the bytes in the heap for whatever that block is handed to next.  All of their
     * memory is wiped as it is freed, not only a secret request's: the hooks are the
     * process's, so they cannot tell one request's blocks from another's, and every request
     * holds its token anyway.  It is cheap: an issuance over HTTPS wipes about 110 blocks
     * holding 20 kB (these and the buffers it grew), which adds about 1.5 us to the 250-300 us
     * of CPU it takes.  Set before either library allocates. */
    event_set_mem_functions(malloc, ch_secure_realloc, ch_secure_free_block);
    json_set_alloc_funcs(malloc, ch_secure_free_block);
    /* One malloc arena per core, not glibc's default of eight per core: each of the event loops
     * and background threads would otherwise hold an arena of its own (about 150 kB each
     * once used), while on these cores at most as many threads as cores allocate at once. */
    mallopt(M_ARENA_MAX, (int)sysconf(_SC_NPROCESSORS_ONLN));
    /* The master key and the keys it opens live in this process's memory: no core file of it
     * is written, and no process of the same user may attach to it. */
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (st.threads > 16)
        st.threads = 16;
    if (st.workers > 16)
        st.workers = 16;
    /* The config file first, so the command line overrides it. */
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--config") == 0 && read_config(&st, argv[i + 1]) < 0)
            return 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help();
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("certhubd %s\n", CERTHUB_VERSION);
            return 0;
        }
        if (strcmp(argv[i], "--routes") == 0) {
            api_print_routes();
            return 0;
        }
        if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--config") != 0 && set(&st, argv[i] + 2, argv[i + 1], "command line") < 0)
            return 2;
        config_given |= strcmp(argv[i], "--config") == 0;
        i++;
    }
    if (st.data_dir[0] == '\0' && argc == 1)
        usage();
    if (st.data_dir[0] == '\0') {
        fprintf(stderr, "certhubd: no data directory: give --data-dir DIR%s\n",
                config_given ? " (or data_dir = DIR in the config file)" : "");
        return 2;
    }
    data_dir = st.data_dir;
    listen = st.listen;
    threads = st.threads;
    renew_check = st.renew_check;
    if ((colon = strrchr(listen, ':')) == NULL || colon == listen || (size_t)(colon - listen) >= sizeof addr ||
        (port = atoi(colon + 1)) <= 0 || port > 65535) {
        fprintf(stderr, "certhubd: --listen must be ADDR:PORT, such as 127.0.0.1:8443 or [::1]:8443\n");
        return 2;
    }
    memcpy(addr, listen, (size_t)(colon - listen));
    addr[colon - listen] = '\0';
    if (addr[0] == '[' && addr[strlen(addr) - 1] == ']') {
        memmove(addr, addr + 1, strlen(addr));
        addr[strlen(addr) - 1] = '\0';
    }
    so.data_dir = data_dir;
    so.durability = st.durability;
    so.log = service_log;
    /* Usage errors before any work: a first start would otherwise have made the data directory. */
    if ((st.tls_cert[0] != '\0') != (st.tls_key[0] != '\0')) {
        fprintf(stderr, "certhubd: --tls-cert and --tls-key go together\n");
        return 2;
    }
    /* Serving the operator's certificate, certhubd needs none of its own: none is issued (nor
     * asked of CAs that may be gone, the quickstart ones deleted). */
    if (st.tls_cert[0] != '\0') {
        src.cert_file = st.tls_cert;
        src.key_file = st.tls_key;
        flags = CH_BOOTSTRAP_NO_SERVER_CERT;
    }
    if (st.backup[0] != '\0')
        return backup(&so, data_dir, st.backup);
    /* The names of certhubd's own certificate besides localhost: the host name, the address
     * it listens on when that is one address, and --server-names. */
    gethostname(host, 256);
    if (strcmp(addr, "0.0.0.0") != 0 && strcmp(addr, "::") != 0 && addr[0] != '\0')
        snprintf(host + strlen(host), sizeof host - strlen(host), ",%s", addr);
    if (st.server_names[0] != '\0') {
        char copy[4096], *save = NULL;
        snprintf(copy, sizeof copy, "%s", st.server_names);
        for (char *one = strtok_r(copy, ",", &save); one != NULL; one = strtok_r(NULL, ",", &save)) {
            while (*one == ' ')
                one++;
            snprintf(host + strlen(host), sizeof host - strlen(host), ",%s", one); /* (each checked by set) */
        }
    }
    /* The port before the store: a start that cannot listen changes nothing (a first one would
     * otherwise set up, print the admin's secrets and then stop). */
    if ((listen_fd = server_listen(addr, port)) < 0)
        return 1;
    /* A first start sets up in a child process: the admin secrets it prints never enter the
     * long-running daemon's memory, nor does what the set-up used (schema creation, the keys
     * made for the CAs); the daemon then starts as it does every later time. */
    if (lock_data_dir(data_dir) < 0)
        return 1;
    remove_stale_temps(data_dir);
    {
        char db[4096], key[4096];
        struct stat sb, kb;
        int n = snprintf(db, sizeof db, "%s/certhub.db", data_dir);
        bool named = n > 0 && (size_t)n < sizeof db, missing = named && stat(db, &sb) != 0;
        bool no_store = missing || (named && sb.st_size == 0);
        /* A directory that held a store (its master key is there) and lost it (a volume not
         * mounted, a restore half done) is not a first start: one would make a new root and
         * write new ca.pem and admin-token over those machines trust. */
        if (no_store && snprintf(key, sizeof key, "%.4000s/master.key", data_dir) > 0 && stat(key, &kb) == 0) {
            fprintf(stderr,
                    "certhubd: %s is %s, but %s is there: this directory held a certhub store.  Put the store "
                    "back (a backup made with this master key), or, to start afresh, move master.key, ca.pem and "
                    "admin-token out of %s\n",
                    db, missing ? "missing" : "empty", key, data_dir);
            return 1;
        }
        /* A store certhubd may read and not write opened, then failed each write with a 500. */
        if (!no_store && access(db, R_OK | W_OK) != 0) {
            fprintf(stderr, "certhubd: %s is not writable by this user (%s): certhubd writes its store; give the "
                    "file (and its -wal and -shm files) to certhubd's user, mode 0600\n", db, strerror(errno));
            return 1;
        }
        if (missing) {
            int status = 0;
            pid_t child;
            fflush(stdout);
            if ((child = fork()) < 0) {
                fprintf(stderr, "certhubd: cannot fork for the first-start set-up: %s\n", strerror(errno));
                return 1;
            }
            if (child == 0) {
                close(listen_fd);
                _exit(first_start(&so, data_dir, host, flags));
            }
            if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return 1; /* the child said why */
        }
    }
    if (open_and_set_up(&svc, &b, &so, data_dir, host, flags) < 0)
        return 1;
    /* The data directory is made 0700 when certhubd makes it; one made before (mkdir's 0755)
     * is said, not changed: its files are each 0600, but their names and sizes are seen. */
    {
        struct stat dsb;
        if (stat(data_dir, &dsb) == 0 && (dsb.st_mode & 0077) != 0)
            fprintf(stderr, "certhubd: warning: other users may enter %s (mode %03o): chmod 700 it\n", data_dir,
                    (unsigned)(dsb.st_mode & 0777));
    }
    /* tls_context_files says itself what is wrong with the operator's files. */
    if ((tls = src.cert_file != NULL ? tls_context_files(&src) : tls_context(&b)) == NULL) {
        if (src.cert_file == NULL)
            fprintf(stderr, "certhubd: cannot set up TLS with the server certificate\n");
        ch_svc_bootstrap_dispose(&b);
        ch_svc_close(svc);
        return 1;
    }
    /* The root to check a first contact against: the quickstart chain's; none of certhubd's
     * when the operator's own certificate is served (the log says which is, and its chain's
     * root is theirs to give). */
    if (src.cert_file == NULL) {
        print_fingerprint(data_dir, b.n_intermediates ? b.intermediates[b.n_intermediates - 1] : b.issuer_cert);
        fflush(stdout);
        memcpy(src.served, ch_cert_sha256(b.server_cert), 32);
    }
    src.svc = svc;
    src.data_dir = data_dir;
    snprintf(src.host, sizeof src.host, "%s", host);
    ch_svc_bootstrap_dispose(&b);
    /* The job runner: renewals that are due and expiry alerts, every job_interval seconds. */
    ch_svc_set_alert_sender(svc, send_webhook, NULL);
    if (ch_svc_scheduler_start(svc, st.job_interval) < 0)
        fprintf(stderr, "certhubd: %s\n", ch_error_last());
    ch_svc_thread_idle(svc); /* start-up's connection: the event loops open their own */
    /* What start-up freed (certificates parsed, the bootstrap's work) goes back to the system
     * now rather than at the first idle round: about 100 kB of an idle certhubd's 10 MB. */
    malloc_trim(0);
    rc = server_run(svc, tls, listen_fd, addr, port, threads, st.workers, st.max_connections, st.request_timeout, tls_refresh, &src, renew_check);
    ch_svc_close(svc);
    return rc;
}
