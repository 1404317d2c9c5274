/* The service: opening, roles, subjects, sealed keys, the audit chain and the CA cache. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "certhub/formats.h"

#include "svc_internal.h"


static int webhooks_seal_legacy(ch_svc *svc);

/* The SANs of a stored certificate's DER as the store records them (for ch_store_sans_backfill). */
static int sans_of_der(const uint8_t *der, size_t len, char **sans)
{
    ch_cert *c = NULL;
    int error;

    *sans = NULL;
    if ((error = ch_cert_parse(&c, der, len)) < 0)
        return error;
    error = ch_cert_sans_text(sans, c);
    ch_cert_free(c);
    return error;
}

void svc_log(ch_svc *svc, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    if (svc->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    svc->log(line);
}

int ch_svc_open(ch_svc **out, const ch_svc_opts *opts)
{
    ch_svc *svc;
    char url[4200];
    ch_store_opts so = {0};
    ch_buf one = CH_BUF_INIT; /* a sealed key of the store's */
    int error;

    *out = NULL;
    if (opts == NULL || opts->data_dir == NULL || *opts->data_dir == '\0')
        return ch_error_set(CH_EINVAL, "no data directory given");
    if ((error = ch_init()) < 0)
        return error;
    if (mkdir(opts->data_dir, 0700) != 0 && errno != EEXIST)
        return ch_error_set(CH_EIO, "cannot create the data directory %s: %s", opts->data_dir, strerror(errno));
    if ((svc = calloc(1, sizeof *svc)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    pthread_mutex_init(&svc->ca_lock, NULL);
    pthread_mutex_init(&svc->gc_lock, NULL);
    pthread_mutex_init(&svc->tok_lock, NULL);
    pthread_mutex_init(&svc->dlog_lock, NULL);
    pthread_mutex_init(&svc->anchor_lock, NULL);
    pthread_mutex_init(&svc->rot_lock, NULL);
    pthread_cond_init(&svc->gc_cond, NULL);
    if (opts->store_url != NULL)
        so.url = opts->store_url;
    else {
        snprintf(url, sizeof url, "sqlite:%s/certhub.db", opts->data_dir);
        so.url = url;
    }
    so.durability = opts->durability;
    so.busy_ms = opts->busy_ms;
    svc->log = opts->log;
    if ((error = ch_store_open(&svc->store, &so)) < 0 && opts->store_url == NULL && access(opts->data_dir, W_OK) != 0) {
        /* SQLite says only that it cannot open the file: the cause said, and what to do. */
        int why = errno;
        ch_error_set(error, "%s (the data directory %s is not writable: %s; certhubd keeps its store there and "
                            "needs to write it)", ch_error_last(), opts->data_dir, strerror(why));
    }
    if (error < 0 || (error = ch_svc_tenants_reload(svc)) < 0)
        goto fail;
    /* Not fatal: one that cannot write now (a broker's plugin without write access) leaves it
     * to the next open. */
    if (ch_store_sans_backfill(svc->store, sans_of_der) < 0)
        ch_error_clear();
    /* A master key is made for a store that holds no key sealed under one; a store restored
     * without its master key is refused before a new key could be made that opens nothing. */
    if ((error = ch_store_key_any(svc->store, &one)) < 0 ||
        (error = ch_seal_open_ex(&svc->seal, opts->data_dir, error == 0)) < 0) {
        if (error == CH_ENOTFOUND)
            error = ch_error_set(CH_ENOTFOUND, "%s/master.key is missing, and the store holds private keys sealed "
                                 "under it: put the master key kept with the store's backup back there",
                                 opts->data_dir);
        ch_buf_dispose(&one);
        goto fail;
    }
    /* Another installation's master key (or one made where this store's was missing) opens
     * none of its keys: said here, not at the first use of one ("sealed under a master key
     * that is not loaded", after certhubd had written ca.pem). */
    if (one.len > 0 && !ch_seal_knows(svc->seal, one.data, one.len)) {
        error = ch_error_set(CH_EVERIFY, "%s/master.key is not the master key this store's private keys were sealed "
                             "under (another installation's?): put back the master.key kept with this store",
                             opts->data_dir);
        ch_buf_dispose(&one);
        goto fail;
    }
    ch_buf_dispose(&one);
    if ((svc->data_dir = strdup(opts->data_dir)) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto fail;
    }
    if ((error = webhooks_seal_legacy(svc)) < 0)
        goto fail;
    /* Not fatal either, as the SANs' backfill: what is left is moved at the next open. */
    if (svc_keystore_backfill(svc) < 0)
        ch_error_clear();
    *out = svc;
    return 0;
fail:
    ch_svc_close(svc);
    return error;
}

void ch_svc_close(ch_svc *svc)
{
    svc_ca *c, *next;

    if (svc == NULL)
        return;
    ch_svc_scheduler_stop(svc);
    svc_commit_stop(svc);
    svc_hook_later_free(svc);
    for (c = svc->cas; c != NULL; c = next) {
        next = c->next;
        svc_ca_release(c);
    }
    ch_store_close(svc->store);
    ch_seal_free(svc->seal);
    pthread_mutex_destroy(&svc->ca_lock);
    pthread_mutex_destroy(&svc->gc_lock);
    pthread_mutex_destroy(&svc->tok_lock);
    for (size_t i = 0; i < SVC_TOK_CACHE; i++)
        free(svc->tok[i]);
    svc_dlog_free(svc);
    pthread_mutex_destroy(&svc->dlog_lock);
    pthread_mutex_destroy(&svc->anchor_lock);
    pthread_mutex_destroy(&svc->rot_lock);
    while (svc->anchors) {
        struct svc_anchor *a = svc->anchors;
        svc->anchors = a->next;
        ch_cert_free(a->cert);
        free(a);
    }
    pthread_cond_destroy(&svc->gc_cond);
    free(svc->revoked);
    free(svc->data_dir);
    free(svc);
}

int64_t svc_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ch_store *ch_svc_store(ch_svc *svc)
{
    return svc->store;
}

void ch_svc_thread_idle(ch_svc *svc)
{
    ch_store_thread_release(svc->store);
}

void ch_svc_idle(ch_svc *svc)
{
    ch_store_idle(svc->store);
}

bool svc_is_system_tenant(ch_svc *svc, const char *tenant_id)
{
    char id[CH_ID_MAX];
    ch_store_tenant t;

    pthread_mutex_lock(&svc->ca_lock);
    snprintf(id, sizeof id, "%s", svc->system_tenant);
    pthread_mutex_unlock(&svc->ca_lock);
    if (id[0] == '\0') {
        if (ch_store_tenant_get_by_name(svc->store, &t, "default") < 0)
            return false; /* not created yet: asked again next time */
        snprintf(id, sizeof id, "%s", t.id);
        ch_store_tenant_dispose(&t);
        pthread_mutex_lock(&svc->ca_lock);
        snprintf(svc->system_tenant, sizeof svc->system_tenant, "%s", id);
        pthread_mutex_unlock(&svc->ca_lock);
    }
    return tenant_id != NULL && strcmp(id, tenant_id) == 0;
}

bool ch_svc_tenant_is_installation(ch_svc *svc, const char *tenant_id)
{
    return svc_is_system_tenant(svc, tenant_id);
}

int svc_need(const ch_actor *actor, ch_role role, const char *what)
{
    static const char *const names[] = {"", "viewer", "operator", "admin"};

    if (actor == NULL || actor->tenant_id == NULL)
        return ch_error_set(CH_EAUTH, "not authenticated");
    if ((int)actor->role < (int)role)
        return ch_error_set(CH_EPERM, "%s needs the %s role; this credential has the %s role", what, names[role],
                            actor->role >= 1 && actor->role <= 3 ? names[actor->role] : "no");
    return 0;
}

int svc_check_text(const char *field, const char *text, size_t max)
{
    if (text == NULL)
        return 0;
    if (!ch_utf8_valid(text))
        return ch_error_set_field(CH_EINVAL, field, "the %s is not UTF-8 text", field);
    /* Characters, not bytes: 128 of them in any script. */
    if (ch_utf8_chars(text) > max)
        return ch_error_set_field(CH_EINVAL, field, "the %s is longer than %zu characters", field, max);
    /* C0 controls, DEL, the C1 controls, whose CSI terminals read as an escape's, and the
     * bidirectional overrides, which show the name as another */
    for (const char *p = text; *p; p += ch_utf8_char_len(p))
        if (ch_utf8_control(p) > 0)
            return ch_error_set_field(CH_EINVAL, field, "the %s contains a control character (a newline, a tab, "
                                      "an escape, a right-to-left override...)", field);
    /* A blank one shows as nothing in a list, and one with a space at an end as another that
     * looks the same: refused, not trimmed, so that what is stored is what was sent. */
    {
        size_t n;
        const char *start = ch_utf8_trim(text, &n);
        if (n == 0)
            return ch_error_set_field(CH_EINVAL, field, "the %s is %s: give 1 to %zu characters, not all of them "
                                      "spaces", field, *text ? "only white space" : "empty", max);
        if (start != text || start[n] != '\0')
            return ch_error_set_field(CH_EINVAL, field, "the %s %s with white space: give it without spaces at "
                                      "either end", field, start != text ? "begins" : "ends");
    }
    return 0;
}

int svc_check_name(const char *name, size_t max)
{
    return svc_check_text("name", name, max);
}

int svc_need_name(const char *name)
{
    if (name == NULL || *name == '\0')
        return ch_error_set_field(CH_EINVAL, "name", "a name of 1 to 128 characters is required");
    return svc_check_name(name, 128);
}

char *svc_name_carried(const char *name)
{
    const char *start;
    size_t n;

    if (name == NULL)
        return NULL;
    start = ch_utf8_trim(name, &n);
    return n > 0 ? strndup(start, n) : NULL;
}

void svc_csr_found_set(ch_svc_csr_found *found, const ch_store_csr *csr, bool key_taken)
{
    if (found != NULL && csr->id != NULL) {
        snprintf(found->id, sizeof found->id, "%s", csr->id);
        found->key_taken = key_taken;
    }
}

int svc_cert_key_if_none(ch_svc *svc, const char *tenant_id, const char *cert_id, const char *key_id, bool *given)
{
    int error = ch_store_cert_set_key(svc->store, tenant_id, cert_id, key_id);

    if (given != NULL)
        *given = error == 0;
    if (error == CH_ENOTFOUND) { /* (it has a key) */
        ch_error_clear();
        return 0;
    }
    return error;
}

int svc_subject(X509_NAME **out, const ch_svc_subject *s)
{
    *out = NULL;
    if (s->dn != NULL && *s->dn != '\0')
        return ch_name_parse(out, s->dn);
    return ch_name_build(out, &s->fields);
}

/* Whether an upload is more than one certificate: a keystore format, or PEM with a key. */
static int holds_more(const uint8_t *data, size_t len)
{
    static const char key_block[] = "PRIVATE KEY-----";
    ch_format f;
    int error;

    /* A file cut short (a download stopped part way) is said as such: read as a certificate it
     * was "not an X.509 certificate", which sends one looking for the wrong fault. */
    if ((error = ch_format_detect(&f, data, len)) == CH_EPARSE)
        return error;
    if (error < 0)
        return 0; /* ch_cert_parse says what is wrong */
    if (f == CH_FMT_PEM) {
        /* (PKCS#7 in PEM too: its certificates are read as a keystore's) */
        return ch_mem_find(data, data + len, key_block, sizeof key_block - 1) != NULL ||
               ch_mem_find(data, data + len, "-----BEGIN PKCS7-----", 21) != NULL;
    }
    return f == CH_FMT_PKCS7 || f == CH_FMT_PKCS12 || f == CH_FMT_JKS || f == CH_FMT_JCEKS;
}

/* The CA certificates of list[0..n) but list[skip] (the certificate they are the chain of) into
 * *rest (copies). */
static int keep_rest(ch_cert ***rest, size_t *n_rest, ch_cert *const *list, size_t n, size_t skip)
{
    *rest = NULL;
    *n_rest = 0;
    if (n <= 1)
        return 0;
    if ((*rest = calloc(n - 1, sizeof **rest)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (i != skip && ch_cert_is_ca(list[i]) && ((*rest)[*n_rest] = ch_cert_dup(list[i])) != NULL)
            (*n_rest)++;
    return 0;
}

/* An end-entity certificate: no CA, nor a version 1 self-signed root (roots older than Basic
 * Constraints, which end some chains still). */
static bool end_entity(const ch_cert *c)
{
    return !ch_cert_is_ca(c) && !(X509_get_version(ch_cert_x509(c)) == X509_VERSION_1 && ch_cert_is_self_signed(c));
}

/* A certificate import stores one certificate and the CAs of its chain: another that is no
 * CA in the same file (it was dropped without a word) is refused, naming both. */
static int another_leaf(const ch_cert *chosen, const ch_cert *other)
{
    char *a = NULL, *b = NULL;
    int error;

    (void)ch_cert_subject_string(&a, chosen);
    (void)ch_cert_subject_string(&b, other);
    error = ch_error_set_field(CH_EINVAL, "certificate",
                               "the file holds \"%s\", a certificate that is not a CA, besides \"%s\": import each "
                               "on its own (with its key), or upload the file as a keystore (POST /api/v1/keystores, "
                               "certhub keystore upload) to keep them all",
                               b ? b : "?", a ? a : "?");
    free(a);
    free(b);
    return error;
}

/* The certificate of an upload read as a keystore: its one key entry's, or without keys the
 * first certificate; its entry's chain in *rest.  Another entry that is not a CA is refused. */
static int cert_from_keystore(ch_cert **cert, ch_key **key, ch_cert ***rest, size_t *n_rest, const uint8_t *data,
                              size_t len, const char *password, const char *key_password)
{
    ch_import_opts io = {.password = password, .key_password = key_password};
    ch_keystore *ks = NULL;
    const ch_ks_entry *pick = NULL;
    size_t keyed = 0;
    int error;

    if ((error = ch_keystore_import(&ks, data, len, &io)) < 0 && error == CH_EPASSWORD && password == NULL)
        return ch_error_set_field(error, "password", "the file is protected by a password: give its password");
    /* A key of a Java keystore with a password of its own: said of key_password, which opens it. */
    if (error == CH_EPASSWORD && ch_error_field() != NULL && strcmp(ch_error_field(), "key_password") == 0)
        return ch_error_set_field(error, "key_password", "%s", ch_error_last());
    if (error < 0)
        return ch_error_set_field(error, error == CH_EPASSWORD ? "password" : "certificate", "%s", ch_error_last());
    for (size_t e = 0; e < ks->count; e++)
        if (ks->entries[e].key != NULL && keyed++ == 0)
            pick = &ks->entries[e];
    if (pick == NULL && ks->count > 0)
        pick = &ks->entries[0];
    /* A key pasted with the wrong certificate: refused, as a key given beside it is (it was
     * dropped without a word, and the certificate stored without a key). */
    if (ks->keys_unmatched > 0)
        error = ch_error_set_field(CH_EINVAL, "private_key",
                                   "the file holds a private key that belongs to none of its certificates: give the "
                                   "certificate's own key (or the certificate alone)");
    else if (keyed > 1)
        error = ch_error_set_field(CH_EINVAL, "certificate",
                                   "the file holds %zu private keys: upload it as a keystore (POST /api/v1/keystores, "
                                   "certhub keystore upload) "
                                   "to keep every entry, or import one certificate with its key",
                                   keyed);
    else if (pick == NULL || pick->chain_len == 0)
        error = ch_error_set_field(CH_EINVAL, "certificate", "the file holds no certificate");
    for (size_t e = 0; e < ks->count && error == 0; e++)
        if (&ks->entries[e] != pick && ks->entries[e].chain_len > 0 && end_entity(ks->entries[e].chain[0]))
            error = another_leaf(pick->chain[0], ks->entries[e].chain[0]);
    if (error == 0 &&
        ((*cert = ch_cert_dup(pick->chain[0])) == NULL || (pick->key && (*key = ch_key_dup(pick->key)) == NULL)))
        error = ch_error_set(CH_ENOMEM, "out of memory");
    else if (error == 0 && rest != NULL)
        error = keep_rest(rest, n_rest, pick->chain, pick->chain_len, 0);
    if (error < 0) {
        ch_cert_free(*cert);
        *cert = NULL;
    }
    ch_keystore_free(ks);
    return error;
}

int svc_key_password_unread(void)
{
    return ch_error_set_field(CH_EINVAL, "key_password",
                              "key_password opens the keys of a JKS or JCEKS file whose keys have a password of their "
                              "own (keytool -keypass); a PKCS#12 or PEM key is opened by \"password\" alone");
}

int svc_cert_and_key(ch_cert **cert, ch_key **key, const uint8_t *cert_data, size_t cert_len,
                     const uint8_t *key_data, size_t key_len, const char *password)
{
    return svc_cert_key_chain(cert, key, NULL, NULL, cert_data, cert_len, key_data, key_len, password, NULL);
}

int svc_cert_key_chain(ch_cert **cert, ch_key **key, ch_cert ***rest, size_t *n_rest, const uint8_t *cert_data,
                       size_t cert_len, const uint8_t *key_data, size_t key_len, const char *password,
                       const char *key_password)
{
    ch_cert **list = NULL;
    size_t n = 0;
    ch_format f;
    bool have_key;
    int error;

    *cert = NULL;
    *key = NULL;
    if (rest != NULL) {
        *rest = NULL;
        *n_rest = 0;
    }
    /* A key password of its own is a Java keystore's (keytool -keypass): anywhere else one
     * password opens the key, and a second would be dropped unread. */
    if (key_password != NULL && ((key_data != NULL && key_len > 0) || ch_format_detect(&f, cert_data, cert_len) < 0 ||
                                 (f != CH_FMT_JKS && f != CH_FMT_JCEKS)))
        return svc_key_password_unread();
    if ((key_data == NULL || key_len == 0) && (error = holds_more(cert_data, cert_len)) != 0)
        return error < 0 ? ch_error_set_field(error, "certificate", "%s", ch_error_last())
                         : cert_from_keystore(cert, key, rest, n_rest, cert_data, cert_len, password, key_password);
    have_key = key_data != NULL && key_len > 0;
    if (have_key && (error = ch_key_parse(key, key_data, key_len, password)) < 0) {
        ch_error_set_field(error, "private_key", "%s", ch_error_last());
        goto fail;
    }
    /* A PEM chain (the certificate, then its intermediates and root; or root first): the
     * certificate is the key's, else the one that is not a CA, else the first; the CAs
     * besides it are its chain.  Another that is not a CA is refused. */
    if (rest != NULL && cert_len > 0 && cert_data[0] != 0x30 && ch_cert_parse_all(&list, &n, cert_data, cert_len) == 0 &&
        n > 1) {
        size_t at = n;
        for (size_t i = 0; i < n && have_key && at == n; i++)
            if (ch_cert_matches_key(list[i], *key))
                at = i;
        for (size_t i = 0; i < n && at == n; i++)
            if (end_entity(list[i]))
                at = i;
        at = at == n ? 0 : at;
        error = 0;
        for (size_t i = 0; i < n && error == 0; i++)
            if (i != at && end_entity(list[i]))
                error = another_leaf(list[at], list[i]);
        if (error == 0 && (*cert = ch_cert_dup(list[at])) == NULL)
            error = ch_error_set(CH_ENOMEM, "out of memory");
        if (error == 0)
            error = keep_rest(rest, n_rest, list, n, at);
        ch_cert_list_free(list, n);
        if (error < 0)
            goto fail;
    } else {
        ch_cert_list_free(list, n);
        ch_error_clear();
        if ((error = ch_cert_parse(cert, cert_data, cert_len)) < 0) {
            if (have_key)
                ch_error_set_field(error, "certificate", "%s", ch_error_last());
            else
                ch_error_set_field(error, "certificate", "%s (accepted: %s)", ch_error_last(), CH_FORMATS_ACCEPTED);
            goto fail;
        }
    }
    if (have_key && !ch_cert_matches_key(*cert, *key)) {
        error = ch_error_set_field(CH_EINVAL, "private_key", "the private key does not belong to the certificate");
        goto fail;
    }
    return 0;

fail:
    ch_cert_free(*cert);
    ch_key_free(*key);
    *cert = NULL;
    *key = NULL;
    if (rest != NULL) {
        ch_cert_list_free(*rest, *n_rest);
        *rest = NULL;
        *n_rest = 0;
    }
    return error;
}

/* ------------------------------------------------------------- tenants */

static int tenant_put(ch_svc *svc, const char *name, ch_store_tenant *out)
{
    char id[CH_ID_MAX];
    ch_store_tenant t;
    int error;

    if (name == NULL || *name == '\0' || strlen(name) > 64)
        return ch_error_set_field(CH_EINVAL, "name", "a tenant name of 1 to 64 characters is required");
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_' || *p == '.'))
            return ch_error_set_field(CH_EINVAL, "name",
                                      "tenant names may hold letters, digits, '-', '_' and '.' only");
    /* A tenant is named by its name or its id wherever one is asked for: a name shaped as an
     * id would stand for another tenant (its bundle, its tokens) where the name is tried
     * first. */
    if (strncmp(name, "ten_", 4) == 0)
        return ch_error_set_field(CH_EINVAL, "name", "tenant names may not begin with \"ten_\", which tenant ids do");
    /* "." and ".." are a path's steps, not a name /tenants/NAME can carry (clients fold them). */
    if (strspn(name, ".") == strlen(name))
        return ch_error_set_field(CH_EINVAL, "name", "a tenant name needs a letter, digit, '-' or '_'");
    /* One name in two cases is two tenants nobody tells apart (a device's MQTT user name
     * "DEFAULT/sensor-1" named the other one). */
    {
        ch_store_tenant *all = NULL;
        size_t n = 0;
        if ((error = ch_store_tenant_list(svc->store, &all, &n)) < 0)
            return error;
        for (size_t i = 0; i < n && error == 0; i++)
            if (strcasecmp(all[i].name, name) == 0 && strcmp(all[i].name, name) != 0)
                error = ch_error_set_field(CH_EEXISTS, "name", "tenant \"%s\" is there already: tenant names are "
                                           "unique without regard to case", all[i].name);
        ch_store_tenant_list_free(all, n);
        if (error < 0)
            return error;
    }
    ch_store_new_id(id, "ten_");
    t.id = id;
    t.name = (char *)name;
    t.created_at = ch_now();
    if ((error = ch_store_tenant_put(svc->store, &t)) < 0)
        return error;
    return out ? ch_store_tenant_get(svc->store, out, id) : 0;
}

int ch_svc_tenant_list(ch_svc *svc, const ch_actor *actor, ch_store_tenant **out, size_t *count)
{
    int error;

    *out = NULL;
    *count = 0;
    if ((error = svc_need(actor, CH_ROLE_VIEWER, "listing tenants")) < 0)
        return error;
    if (actor->perms & CH_PERM_TENANTS)
        return ch_store_tenant_list(svc->store, out, count);
    if ((*out = calloc(1, sizeof **out)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    if ((error = ch_store_tenant_get(svc->store, *out, actor->tenant_id)) < 0) {
        free(*out);
        *out = NULL;
        return error;
    }
    *count = 1;
    return 0;
}

bool svc_tenant_revoked(ch_svc *svc, const char *tenant_id)
{
    bool hit = false;

    if (svc->nrevoked == 0 || tenant_id == NULL) /* a revocation is rare; most installations have none */
        return false;
    pthread_mutex_lock(&svc->tok_lock);
    for (size_t i = 0; i < svc->nrevoked && !hit; i++)
        hit = strcmp(svc->revoked[i], tenant_id) == 0;
    pthread_mutex_unlock(&svc->tok_lock);
    return hit;
}

static int revoked_add(ch_svc *svc, const char *tenant_id)
{
    char(*g)[CH_ID_MAX];

    pthread_mutex_lock(&svc->tok_lock);
    if ((g = realloc(svc->revoked, (svc->nrevoked + 1) * sizeof *g)) != NULL) {
        svc->revoked = g;
        snprintf(svc->revoked[svc->nrevoked], CH_ID_MAX, "%s", tenant_id);
        svc->nrevoked++;
    }
    pthread_mutex_unlock(&svc->tok_lock);
    return g != NULL ? 0 : ch_error_set(CH_ENOMEM, "out of memory");
}

int ch_svc_tenants_reload(ch_svc *svc)
{
    ch_store_tenant *rows = NULL;
    size_t n = 0, k = 0;
    char(*fresh)[CH_ID_MAX] = NULL, (*old)[CH_ID_MAX];
    int error = ch_store_tenant_list(svc->store, &rows, &n);

    for (size_t i = 0; error == 0 && i < n; i++)
        k += rows[i].disabled_at != 0;
    if (error == 0 && k > 0 && (fresh = calloc(k, sizeof *fresh)) == NULL)
        error = ch_error_set(CH_ENOMEM, "out of memory");
    k = 0;
    for (size_t i = 0; error == 0 && i < n; i++)
        if (rows[i].disabled_at != 0)
            snprintf(fresh[k++], CH_ID_MAX, "%s", rows[i].id);
    ch_store_tenant_list_free(rows, n);
    if (error < 0) {
        free(fresh);
        return error;
    }
    pthread_mutex_lock(&svc->tok_lock);
    old = svc->revoked;
    svc->revoked = fresh;
    svc->nrevoked = k;
    pthread_mutex_unlock(&svc->tok_lock);
    free(old);
    return 0;
}

static void revoked_remove(ch_svc *svc, const char *tenant_id)
{
    pthread_mutex_lock(&svc->tok_lock);
    for (size_t i = 0; i < svc->nrevoked; i++)
        if (strcmp(svc->revoked[i], tenant_id) == 0) {
            memmove(svc->revoked[i], svc->revoked[svc->nrevoked - 1], CH_ID_MAX);
            svc->nrevoked--;
            break;
        }
    pthread_mutex_unlock(&svc->tok_lock);
}

struct tenant_state_tx {
    ch_svc *svc;
    const ch_actor *actor;
    const char *id, *name;
    bool restore;
};

static int tenant_state_run(void *arg)
{
    struct tenant_state_tx *t = arg;
    json_t *d = json_pack("{ss}", "name", t->name);
    char *detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
    int error = t->restore ? ch_store_tenant_restore(t->svc->store, t->id)
                           : ch_store_tenant_disable(t->svc->store, t->id, ch_now());

    json_decref(d);
    if (error == 0)
        error = svc_audit(t->svc, t->actor, t->restore ? "tenant.restore" : "tenant.revoke", "tenant", t->id, detail);
    /* And in the tenant's own log: its tokens were revoked with it (restored, they stay so). */
    if (error == 0)
        error = svc_audit_in(t->svc, t->actor, t->id, t->restore ? "tenant.restore" : "tenant.revoke", "tenant", t->id,
                             detail);
    free(detail);
    return error;
}

/* Revokes or restores a tenant named by id or name: admins of the default tenant only, never
 * the default tenant itself. */
static int tenant_set_state(ch_svc *svc, const ch_actor *actor, const char *tenant, bool restore)
{
    ch_store_tenant t = {0};
    struct tenant_state_tx tx;
    int error;

    if ((error = svc_need(actor, CH_ROLE_ADMIN, restore ? "restoring a tenant" : "revoking a tenant")) < 0)
        return error;
    if (!(actor->perms & CH_PERM_TENANTS))
        return ch_error_set(CH_EPERM, "only admins of the default tenant %s tenants", restore ? "restore" : "revoke");
    error = tenant != NULL ? ch_store_tenant_get(svc->store, &t, tenant) : CH_ENOTFOUND;
    if (error == CH_ENOTFOUND && tenant != NULL)
        error = ch_store_tenant_get_by_name(svc->store, &t, tenant);
    if (error == CH_ENOTFOUND)
        return ch_error_set(CH_ENOTFOUND, "no such tenant");
    if (error < 0)
        return error;
    if (svc_is_system_tenant(svc, t.id))
        error = ch_error_set(CH_ECONFLICT, "the default tenant holds the installation's admins and is never revoked");
    else if (!restore && t.disabled_at != 0)
        error = ch_error_set(CH_ECONFLICT, "tenant \"%s\" is already revoked", t.name);
    else if (restore && t.disabled_at == 0)
        error = ch_error_set(CH_ECONFLICT, "tenant \"%s\" is not revoked", t.name);
    else {
        tx = (struct tenant_state_tx){svc, actor, t.id, t.name, restore};
        error = svc_commit(svc, tenant_state_run, &tx);
    }
    if (error == 0 && restore) {
        revoked_remove(svc, t.id);
    } else if (error == 0) {
        /* Tokens remembered as authenticated are not used again. */
        pthread_mutex_lock(&svc->tok_lock);
        svc->tok_gen++;
        pthread_mutex_unlock(&svc->tok_lock);
        error = revoked_add(svc, t.id);
    }
    ch_store_tenant_dispose(&t);
    return error;
}

int ch_svc_tenant_disable(ch_svc *svc, const ch_actor *actor, const char *tenant)
{
    return tenant_set_state(svc, actor, tenant, false);
}

int ch_svc_tenant_restore(ch_svc *svc, const ch_actor *actor, const char *tenant)
{
    return tenant_set_state(svc, actor, tenant, true);
}

int ch_svc_tenant_create(ch_svc *svc, const ch_actor *actor, const char *name, ch_store_tenant *out)
{
    ch_store_tenant t = {0};
    json_t *d;
    char *detail;
    int error;

    if ((error = svc_need(actor, CH_ROLE_ADMIN, "creating a tenant")) < 0)
        return error;
    if (!(actor->perms & CH_PERM_TENANTS))
        return ch_error_set(CH_EPERM, "only admins of the default tenant create tenants");
    if ((error = ch_store_begin(svc->store)) < 0)
        return error;
    if ((error = tenant_put(svc, name, &t)) < 0) {
        ch_store_rollback(svc->store);
        return error;
    }
    d = json_pack("{ss}", "name", name);
    detail = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    error = svc_audit(svc, actor, "tenant.create", "tenant", t.id, detail);
    free(detail);
    if (error == 0)
        error = ch_store_commit(svc->store);
    if (error < 0) {
        ch_store_rollback(svc->store);
        ch_store_tenant_dispose(&t);
        return error;
    }
    if (out)
        *out = t;
    else
        ch_store_tenant_dispose(&t);
    return 0;
}

int ch_svc_tenant_ensure(ch_svc *svc, const char *name, ch_store_tenant *out)
{
    int error = ch_store_tenant_get_by_name(svc->store, out, name);

    if (error != CH_ENOTFOUND)
        return error;
    error = tenant_put(svc, name, out);
    if (error == CH_EEXISTS) /* created by another node or thread meanwhile */
        error = ch_store_tenant_get_by_name(svc->store, out, name);
    return error;
}

/* ------------------------------------------------------------- sealed keys */

int svc_key_seal(ch_svc *svc, const char *tenant_id, const ch_key *key, svc_sealed *out)
{
    ch_buf der = CH_BUF_INIT;
    int error;

    memset(out, 0, sizeof *out);
    ch_store_new_id(out->id, "key_");
    if ((error = ch_key_write_der(&der, key)) < 0)
        goto done;
    /* The key's id and tenant are the associated data: a sealed key moved to another row or
     * tenant does not open. */
    if ((error = ch_seal_encrypt(&out->blob, svc->seal, der.data, der.len, tenant_id, out->id)) < 0)
        goto done;
    out->row.id = out->id;
    out->row.tenant_id = (char *)tenant_id;
    out->row.algorithm = (char *)ch_key_type_name(ch_key_get_type(key));
    out->row.sealed = out->blob.data;
    out->row.sealed_len = out->blob.len;
    ch_hex(out->row.spki_sha256, ch_key_spki_sha256(key), 32);
    out->row.created_at = ch_now();
done:
    ch_buf_dispose_secure(&der);
    return error;
}

void svc_sealed_dispose(svc_sealed *s)
{
    ch_buf_dispose(&s->blob);
    memset(&s->row, 0, sizeof s->row);
}

int svc_key_put(ch_svc *svc, const char *tenant_id, const ch_key *key, char id[CH_ID_MAX])
{
    svc_sealed sealed;
    int error = svc_key_seal(svc, tenant_id, key, &sealed);

    if (error == 0)
        error = ch_store_key_put(svc->store, &sealed.row);
    snprintf(id, CH_ID_MAX, "%s", sealed.id);
    svc_sealed_dispose(&sealed);
    return error;
}

int svc_key_drop(ch_svc *svc, const char *tenant_id, const char *key_id)
{
    int error = key_id != NULL ? ch_store_key_delete(svc->store, tenant_id, key_id) : 0;

    return error == CH_ENOTFOUND || error == CH_ECONFLICT ? 0 : error;
}

int svc_key_load(ch_svc *svc, const char *tenant_id, const char *key_id, ch_key **out)
{
    ch_store_key row;
    ch_buf der = CH_BUF_INIT;
    int error;

    *out = NULL;
    if ((error = ch_store_key_get(svc->store, &row, tenant_id, key_id)) < 0)
        return error;
    if ((error = ch_seal_decrypt(&der, svc->seal, row.sealed, row.sealed_len, tenant_id, key_id)) == 0)
        error = ch_key_parse(out, der.data, der.len, NULL);
    ch_buf_dispose_secure(&der);
    ch_store_key_dispose(&row);
    return error;
}

/* ------------------------------------------------------------- audit chain */

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha256;

static void md_fetch(void)
{
    md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL); /* once: implicit fetches take a lock */
}

/* hash = SHA-256 over the previous hash and the row's fields, each length-prefixed so no two
 * rows can be made to hash alike by moving bytes between fields. */
static void audit_hash(char out[65], const ch_store_audit *r)
{
    const char *fields[] = {r->prev_hash, r->tenant_id, r->actor, r->action, r->object_type, r->object_id, r->detail};
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[32];
    char at[32];
    unsigned int mdlen = 0;

    snprintf(at, sizeof at, "%lld", (long long)r->at);
    pthread_once(&md_once, md_fetch);
    EVP_DigestInit_ex(ctx, md_sha256 ? md_sha256 : EVP_sha256(), NULL);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const char *f = fields[i] ? fields[i] : "";
        uint32_t n = (uint32_t)strlen(f);
        unsigned char len[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                                (unsigned char)n};
        EVP_DigestUpdate(ctx, len, 4);
        EVP_DigestUpdate(ctx, f, n);
        if (i == 1)
            EVP_DigestUpdate(ctx, at, strlen(at));
    }
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    ch_hex(out, md, 32);
}

int svc_audit_in(ch_svc *svc, const ch_actor *actor, const char *tenant_id, const char *action,
                 const char *object_type, const char *object_id, const char *detail)
{
    ch_actor there = *actor;
    ch_store_tenant home;
    char name[200];
    int error;

    if (strcmp(tenant_id, actor->tenant_id) == 0)
        return svc_audit(svc, actor, action, object_type, object_id, detail);
    if ((error = ch_store_tenant_get(svc->store, &home, actor->tenant_id)) < 0)
        return error;
    snprintf(name, sizeof name, "%s/%s", home.name, actor->name);
    ch_store_tenant_dispose(&home);
    there.tenant_id = tenant_id;
    there.name = name;
    return svc_audit(svc, &there, action, object_type, object_id, detail);
}

int svc_audit(ch_svc *svc, const ch_actor *actor, const char *action, const char *object_type,
              const char *object_id, const char *detail_json)
{
    ch_store_audit row = {0};
    int error;

    row.tenant_id = (char *)actor->tenant_id;
    row.at = ch_now();
    row.actor = (char *)(actor->name ? actor->name : "unknown");
    row.action = (char *)action;
    row.object_type = (char *)object_type;
    row.object_id = (char *)object_id;
    row.detail = (char *)detail_json;
    /* Inside the change's write transaction, so no other writer can slip between the read
     * of the last row and the append. */
    if ((error = ch_store_audit_last(svc->store, actor->tenant_id, row.prev_hash, &row.seq)) < 0)
        return error;
    row.seq++;
    audit_hash(row.hash, &row);
    return ch_store_audit_append(svc->store, &row);
}

int ch_svc_audit_list(ch_svc *svc, const ch_actor *actor, const ch_store_audit_filter *f, size_t limit,
                      ch_store_audit **out, size_t *count, int64_t *next_seq)
{
    int error;

    *out = NULL;
    *count = 0;
    *next_seq = 0;
    if ((error = svc_need(actor, CH_ROLE_VIEWER, "reading the audit log")) < 0)
        return error;
    if (limit == 0 || limit > 1000)
        return ch_error_set_field(CH_EINVAL, "limit", "limit must be between 1 and 1000");
    if (f != NULL && f->since != 0 && f->until != 0 && f->until <= f->since)
        return ch_error_set_field(CH_EINVAL, "until", "until must be later than since");
    return ch_store_audit_query(svc->store, actor->tenant_id, f, limit, out, count, next_seq);
}

int ch_svc_audit_verify(ch_svc *svc, const ch_actor *actor, int64_t *bad_seq)
{
    ch_store_audit *rows;
    size_t n;
    int64_t after = 0;
    char prev[65] = "", want[65];
    int error;

    *bad_seq = 0;
    if ((error = svc_need(actor, CH_ROLE_VIEWER, "verifying the audit log")) < 0)
        return error;
    do {
        if ((error = ch_store_audit_list(svc->store, actor->tenant_id, after, 500, &rows, &n)) < 0)
            return error;
        for (size_t i = 0; i < n; i++) {
            audit_hash(want, &rows[i]);
            if (strcmp(rows[i].prev_hash, prev) != 0 || strcmp(rows[i].hash, want) != 0) {
                *bad_seq = rows[i].seq;
                ch_store_audit_list_free(rows, n);
                return ch_error_set(CH_EVERIFY, "the audit log was altered at entry %lld", (long long)*bad_seq);
            }
            memcpy(prev, rows[i].hash, 65);
            after = rows[i].seq;
        }
        ch_store_audit_list_free(rows, n);
    } while (n == 500);
    return 0;
}

/* ------------------------------------------------------------- CA cache */

void svc_ca_release(svc_ca *ca)
{
    if (ca == NULL || atomic_fetch_sub(&ca->refs, 1) != 1)
        return;
    ch_cert_free(ca->cert);
    ch_key_free(ca->key);
    free(ca->subject);
    for (int i = 0; i < 4; i++) {
        free(ca->crl_urls[i]);
        free(ca->ocsp_urls[i]);
        free(ca->ca_issuers_urls[i]);
    }
    free(ca);
}

static void urls_from(char **dst, json_t *arr)
{
    size_t i, n = 0;
    json_t *v;

    json_array_foreach(arr, i, v) {
        if (n < CH_CA_MAX_URLS && json_is_string(v))
            dst[n++] = strdup(json_string_value(v));
    }
}

static int ca_decode(ch_svc *svc, const ch_store_ca *row, svc_ca **out)
{
    ch_store_cert cert_row;
    svc_ca *ca;
    int error;

    *out = NULL;
    if ((ca = calloc(1, sizeof *ca)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    atomic_init(&ca->refs, 1);
    snprintf(ca->id, sizeof ca->id, "%s", row->id);
    snprintf(ca->tenant_id, sizeof ca->tenant_id, "%s", row->tenant_id);
    if ((error = ch_store_cert_get(svc->store, &cert_row, row->tenant_id, row->cert_id)) < 0)
        goto fail;
    error = ch_cert_parse(&ca->cert, cert_row.der, cert_row.der_len);
    ch_store_cert_dispose(&cert_row);
    if (error < 0)
        goto fail;
    if ((error = ch_cert_subject_string(&ca->subject, ca->cert)) < 0)
        goto fail;
    if (row->key_id != NULL && (error = svc_key_load(svc, row->tenant_id, row->key_id, &ca->key)) < 0)
        goto fail;
    if (row->settings != NULL) {
        json_t *s = json_loads(row->settings, 0, NULL);
        urls_from(ca->crl_urls, json_object_get(s, "crl_urls"));
        urls_from(ca->ocsp_urls, json_object_get(s, "ocsp_urls"));
        urls_from(ca->ca_issuers_urls, json_object_get(s, "ca_issuers_urls"));
        json_decref(s);
    }
    *out = ca;
    return 0;
fail:
    svc_ca_release(ca);
    return error;
}

int svc_ca_load(ch_svc *svc, const char *tenant_id, const char *ca_id, svc_ca **out)
{
    ch_store_ca row;
    svc_ca *c, *fresh;
    uint64_t gen;
    int error;

    *out = NULL;
    pthread_mutex_lock(&svc->ca_lock);
    for (c = svc->cas; c != NULL; c = c->next)
        if (strcmp(c->id, ca_id) == 0 && strcmp(c->tenant_id, tenant_id) == 0) {
            atomic_fetch_add(&c->refs, 1);
            pthread_mutex_unlock(&svc->ca_lock);
            *out = c;
            return 0;
        }
    gen = svc->ca_gen;
    pthread_mutex_unlock(&svc->ca_lock);
    /* Decode outside the lock; if two threads race, the first to insert wins.  A CA forgotten
     * meanwhile (rotated, deleted) may have been read as it was: used for this request, not
     * kept, or it would be served until the next restart. */
    if ((error = ch_store_ca_get(svc->store, &row, tenant_id, ca_id)) < 0) {
        if (error == CH_ENOTFOUND)
            ch_error_set_field(CH_ENOTFOUND, "ca_id", "no CA with id %.48s", ca_id);
        return error;
    }
    error = ca_decode(svc, &row, &fresh);
    ch_store_ca_dispose(&row);
    if (error < 0)
        return error;
    pthread_mutex_lock(&svc->ca_lock);
    if (svc->ca_gen != gen) {
        pthread_mutex_unlock(&svc->ca_lock);
        *out = fresh;
        return 0;
    }
    for (c = svc->cas; c != NULL; c = c->next)
        if (strcmp(c->id, ca_id) == 0 && strcmp(c->tenant_id, tenant_id) == 0)
            break;
    if (c == NULL) {
        fresh->next = svc->cas;
        svc->cas = fresh;
        atomic_fetch_add(&fresh->refs, 1);
        c = fresh;
        fresh = NULL;
    } else {
        atomic_fetch_add(&c->refs, 1);
    }
    pthread_mutex_unlock(&svc->ca_lock);
    svc_ca_release(fresh);
    *out = c;
    return 0;
}

void svc_ca_forget(ch_svc *svc, const char *tenant_id, const char *ca_id)
{
    svc_ca **pp, *c = NULL;

    pthread_mutex_lock(&svc->ca_lock);
    svc->ca_gen++;
    for (pp = &svc->cas; *pp != NULL; pp = &(*pp)->next)
        if (strcmp((*pp)->id, ca_id) == 0 && strcmp((*pp)->tenant_id, tenant_id) == 0) {
            c = *pp;
            *pp = c->next;
            break;
        }
    pthread_mutex_unlock(&svc->ca_lock);
    svc_ca_release(c);
}

/* ------------------------------------------------------------- certificate rows */

void svc_lifetime_of(const ch_store_cert *c, int *days, int64_t *ttl)
{
    /* (the lifetime asked at issuance, where it was recorded: the certificate may have been cut
     * at its CA's end) */
    int64_t life = c->lifetime > 0 ? c->lifetime : ch_issue_ttl_of(c->not_before, c->not_after);

    *days = 0;
    *ttl = 0;
    if (life > 0 && life % 86400 == 0 && life / 86400 <= 36600)
        *days = (int)(life / 86400);
    else
        *ttl = life; /* (one under CH_TTL_MIN, cut short at its CA's end, is refused as such) */
}

char *svc_name_of_cert(const ch_cert *cert, const char *subject)
{
    char out[520] = "", *cn = NULL;

    /* The CN, or the whole subject, as a name is taken: cut to 128 characters, without white
     * space at the ends, none with a control character (a CN is the certificate maker's text:
     * an escape sequence in it went on into lists, the console and JSON). */
    if (ch_cert_subject_get(&cn, cert, NID_commonName) == 0)
        ch_name_from_file(out, sizeof out, cn, 128);
    free(cn);
    if (out[0] == '\0' && subject != NULL)
        ch_name_from_file(out, sizeof out, subject, 128);
    if (out[0] == '\0')
        ch_hex(out, ch_cert_sha256(cert), 8); /* (the fingerprint's start: nothing else to go by) */
    ch_error_clear();
    return strdup(out);
}

int svc_cert_row(ch_store_cert *row, const ch_cert *cert, const char *tenant_id, const char *name,
                 const char *method, int is_ca)
{
    char id[CH_ID_MAX], serial[41];
    size_t len;
    const uint8_t *der = ch_cert_der(cert, &len);
    int error;

    memset(row, 0, sizeof *row);
    ch_store_new_id(id, "crt_");
    ch_cert_serial_hex(serial, cert);
    row->id = strdup(id);
    row->tenant_id = strdup(tenant_id);
    row->der = malloc(len);
    row->serial = strdup(serial);
    row->method = strdup(method);
    row->status = strdup("active");
    if (row->der)
        memcpy(row->der, der, len);
    row->der_len = len;
    ch_hex(row->sha256, ch_cert_sha256(cert), 32);
    row->not_before = ch_cert_not_before(cert);
    row->not_after = ch_cert_not_after(cert);
    row->is_ca = is_ca >= 0 ? is_ca != 0 : ch_cert_is_ca(cert);
    row->created_at = ch_now();
    if ((error = ch_cert_subject_string(&row->subject, cert)) < 0 ||
        (error = ch_cert_issuer_string(&row->issuer, cert)) < 0 || (error = ch_cert_sans_text(&row->sans, cert)) < 0)
        goto fail;
    row->name = name != NULL && *name != '\0' ? strdup(name) : svc_name_of_cert(cert, row->subject);
    if (!row->id || !row->tenant_id || !row->der || !row->serial || !row->method || !row->status || !row->name) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto fail;
    }
    return 0;
fail:
    ch_store_cert_dispose(row);
    return error;
}

int ch_svc_cert_pem(ch_buf *out, const ch_store_cert *cert)
{
    if (cert->der == NULL)
        return ch_error_set(CH_EINVAL, "the certificate row has no DER");
    /* The row was checked when it was stored. */
    return ch_pem_encode(out, "CERTIFICATE", cert->der, cert->der_len);
}

/* ---- tenant settings */

static const int default_thresholds[] = {30, 14, 7, 1};

/* Webhook secrets are kept sealed under the master key, as private keys are (the store and its
 * backups do not give them away), as hex in the settings' JSON: {"url", "sealed_secret"}.  A
 * store from before keeps {"url", "secret"} until certhubd seals them at its start. */
#define WEBHOOK_KEY_ID "webhook"

/* The secret of one stored webhook, opened, into out; false when it does not open. */
static bool webhook_secret(ch_svc *svc, const char *tenant_id, json_t *w, char *out, size_t cap)
{
    const char *clear = json_string_value(json_object_get(w, "secret"));
    uint8_t blob[CH_SEAL_OVERHEAD + 256];
    size_t blob_len;
    ch_buf plain = {0};
    bool ok = false;

    out[0] = '\0';
    if (clear != NULL) {
        snprintf(out, cap, "%s", clear);
        return true;
    }
    if (svc != NULL && ch_unhex(blob, sizeof blob, json_string_value(json_object_get(w, "sealed_secret")), &blob_len) == 0 &&
        ch_seal_decrypt(&plain, svc->seal, blob, blob_len, tenant_id, WEBHOOK_KEY_ID) == 0 && plain.len < cap) {
        memcpy(out, plain.data, plain.len);
        out[plain.len] = '\0';
        ok = true;
    }
    ch_buf_dispose_secure(&plain);
    return ok;
}

/* Replaces a webhook's clear "secret" by its "sealed_secret". */
static int webhook_seal(ch_svc *svc, const char *tenant_id, json_t *w)
{
    const char *clear = json_string_value(json_object_get(w, "secret"));
    ch_buf blob = {0};
    char *hex;
    int error;

    if (clear == NULL)
        return 0;
    if ((error = ch_seal_encrypt(&blob, svc->seal, (const uint8_t *)clear, strlen(clear), tenant_id, WEBHOOK_KEY_ID)) < 0)
        return error;
    if ((hex = malloc(blob.len * 2 + 1)) == NULL) {
        ch_buf_dispose(&blob);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    ch_hex(hex, blob.data, blob.len);
    json_object_set_new(w, "sealed_secret", json_string(hex));
    json_object_del(w, "secret");
    free(hex);
    ch_buf_dispose(&blob);
    return 0;
}

/* secrets: the webhooks' secrets opened (one that does not open left out), for a sender;
 * otherwise left sealed and empty, every webhook listed by its URL. */
static int settings_parse(ch_svc *svc, const char *tenant_id, ch_svc_settings *out, const char *text, bool secrets)
{
    json_t *j = json_loads(text ? text : "{}", 0, NULL), *v, *e;
    size_t i;

    memset(out, 0, sizeof *out);
    out->unverified_trusted_certificates_authenticate = true;
    out->renewal_point = 2.0 / 3.0;
    for (i = 0; i < sizeof default_thresholds / sizeof default_thresholds[0]; i++)
        out->thresholds[out->nthresholds++] = default_thresholds[i];
    if (j == NULL)
        return ch_error_set(CH_ESTORE, "a tenant's settings are damaged");
    if ((v = json_object_get(j, "unverified_trusted_certificates_authenticate")) != NULL)
        out->unverified_trusted_certificates_authenticate = json_is_true(v);
    if ((v = json_object_get(j, "renewal_point")) != NULL && json_is_number(v))
        out->renewal_point = json_number_value(v);
    out->public_bundle = json_is_true(json_object_get(j, "public_bundle"));
    if (json_is_integer(v = json_object_get(j, "max_token_days")))
        out->max_token_days = (int)json_integer_value(v);
    /* Absent: the default; null: switched off by an admin. */
    out->token_alert_days = CH_TOKEN_WARN_DAYS;
    if ((v = json_object_get(j, "token_alert_days")) != NULL)
        out->token_alert_days = json_is_integer(v) ? (int)json_integer_value(v) : 0;
    if (json_is_integer(v = json_object_get(j, "tidy_expired_days")))
        out->tidy_expired_days = (int)json_integer_value(v);
    if (json_is_string(json_object_get(j, "default_ca_id")))
        snprintf(out->default_ca_id, sizeof out->default_ca_id, "%s",
                 json_string_value(json_object_get(j, "default_ca_id")));
    if ((v = json_object_get(j, "alert_thresholds_days")) != NULL) {
        out->nthresholds = 0;
        json_array_foreach(v, i, e) if (out->nthresholds < CH_MAX_THRESHOLDS && json_is_integer(e))
            out->thresholds[out->nthresholds++] = (int)json_integer_value(e);
    }
    json_array_foreach(json_object_get(j, "webhooks"), i, e) {
        if (out->nwebhooks >= CH_MAX_WEBHOOKS)
            break;
        /* One whose secret does not open (its master key gone) is left out: an alert it would
         * sign could not be told from a forged one. */
        if (secrets &&
            !webhook_secret(svc, tenant_id, e, out->webhooks[out->nwebhooks].secret, sizeof out->webhooks[0].secret))
            continue;
        snprintf(out->webhooks[out->nwebhooks].url, sizeof out->webhooks[0].url, "%s",
                 json_string_value(json_object_get(e, "url")) ? json_string_value(json_object_get(e, "url")) : "");
        out->nwebhooks++;
    }
    json_decref(j);
    return 0;
}

/* Checks the value of one setting; the message says what is accepted. */
/* A webhook's URL (its scheme checked already) as one a request can go to (ch_url_flaw). */
static int webhook_url_check(const char *url, size_t n)
{
    size_t at;
    const char *flaw = ch_url_flaw(url, &at);

    if (flaw != NULL && at != 0)
        return ch_error_set_field(CH_EINVAL, "webhooks",
                                  "webhook %zu's URL holds %s at byte %zu: a URL is visible ASCII, others "
                                  "percent-encoded (RFC 3986)",
                                  n, flaw, at);
    if (flaw != NULL)
        return ch_error_set_field(CH_EINVAL, "webhooks", "webhook %zu's URL names no host: give it as "
                                  "https://host[:port]/path", n);
    return 0;
}

/* A webhook whose host is written as an address (or localhost) where certhubd sends none:
 * refused when set, as it is at each sending (certhubd checks every address a name resolves
 * to then), rather than taken and then refused at every scheduler round in the log alone.
 * installation: the default tenant's, which may send to the host itself. */
static int webhook_host_check(const char *url, size_t n, bool installation)
{
    const char *p = url + strcspn(url, ":") + 3, *at = NULL, *why = NULL;
    char host[256];
    size_t len;
    unsigned char a[16];

    for (const char *q = p; *q && !strchr("/?#", *q); q++)
        if (*q == '@')
            at = q;
    if (at != NULL)
        p = at + 1;
    len = *p == '[' ? strcspn(p + 1, "]") : strcspn(p, ":/?#");
    if (len >= sizeof host)
        return 0;
    memcpy(host, *p == '[' ? p + 1 : p, len);
    host[len] = '\0';
    /* "localhost." is localhost (the root's dot); an address in any form a resolver takes as
     * one (127.1, 0x7f000001, 2130706433, 0177.0.0.1, 0: inet_aton's, as getaddrinfo reads
     * them) is that address: each was taken here and refused only at sending. */
    if (len > 1 && host[len - 1] == '.')
        host[--len] = '\0';
    if (inet_aton(host, (struct in_addr *)a) != 0)
        why = ch_hook_address_refused(AF_INET, a, installation);
    else if (inet_pton(AF_INET6, host, a) == 1)
        why = ch_hook_address_refused(AF_INET6, a, installation);
    else if (!installation && (strcasecmp(host, "localhost") == 0 ||
                               (len > 10 && strcasecmp(host + len - 10, ".localhost") == 0)))
        why = CH_HOOK_LOOPBACK;
    if (why == NULL)
        return 0;
    return ch_error_set_field(CH_EINVAL, "webhooks", "webhook %zu leads to %s, where webhooks %s", n, why,
                              installation || strcmp(why, CH_HOOK_LOOPBACK) != 0
                                  ? "may not go"
                                  : "of tenants other than the default one may not go");
}

static int settings_check(const char *key, json_t *v)
{
    size_t i;
    json_t *e;
    int error;

    if (strcmp(key, "unverified_trusted_certificates_authenticate") == 0 || strcmp(key, "public_bundle") == 0) {
        if (!json_is_boolean(v))
            return ch_error_set_field(CH_EINVAL, key, "%s must be true or false", key);
        return 0;
    }
    if (strcmp(key, "renewal_point") == 0) {
        if (!json_is_number(v) || json_number_value(v) < 0.5 || json_number_value(v) > 0.9)
            return ch_error_set_field(CH_EINVAL, key, "renewal_point is a fraction of the lifetime from 0.5 to 0.9");
        return 0;
    }
    if (strcmp(key, "alert_thresholds_days") == 0) {
        if (!json_is_array(v) || json_array_size(v) > CH_MAX_THRESHOLDS)
            return ch_error_set_field(CH_EINVAL, key, "%s is an array of at most %d whole numbers of days", key,
                                      CH_MAX_THRESHOLDS);
        json_array_foreach(v, i, e) {
            if (!json_is_integer(e) || json_integer_value(e) < 1 || json_integer_value(e) > 3650)
                return ch_error_set_field(CH_EINVAL, key, "each threshold is a number of days from 1 to 3650");
            for (size_t k = 0; k < i; k++)
                if (json_integer_value(json_array_get(v, k)) == json_integer_value(e))
                    return ch_error_set_field(CH_EINVAL, key, "the threshold of %lld days is given twice",
                                              (long long)json_integer_value(e));
        }
        return 0;
    }
    if (strcmp(key, "webhooks") == 0) {
        if (!json_is_array(v) || json_array_size(v) > CH_MAX_WEBHOOKS)
            return ch_error_set_field(CH_EINVAL, key, "webhooks is an array of at most %d {\"url\",\"secret\"}",
                                      CH_MAX_WEBHOOKS);
        json_array_foreach(v, i, e) {
            const char *url = json_string_value(json_object_get(e, "url"));
            const char *secret = json_string_value(json_object_get(e, "secret"));
            /* The secret's length said apart: the shape's message would hide it. */
            if (secret != NULL && (strlen(secret) < 16 || strlen(secret) > 128))
                return ch_error_set_field(CH_EINVAL, key, "webhook %zu's secret has %zu characters: a secret has 16 to "
                                          "128", i + 1, strlen(secret));
            /* Without its secret: one kept (webhook_secrets_kept has looked it up). */
            if (!json_is_object(e) || json_object_size(e) != (secret != NULL ? 2u : 1u) || url == NULL ||
                (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) || strlen(url) >= 512 ||
                (secret != NULL && (strlen(secret) < 16 || strlen(secret) > 128)))
                return ch_error_set_field(CH_EINVAL, key,
                                          "each webhook is {\"url\": \"https://...\", \"secret\": 16 to 128 "
                                          "characters}");
            /* What no request can be sent to (a space, a line break, a host left out) was
             * stored, and failed at every alert in certhubd's log alone. */
            if ((error = webhook_url_check(url, i + 1)) < 0)
                return error;
            for (size_t k = 0; k < i; k++)
                if (strcmp(json_string_value(json_object_get(json_array_get(v, k), "url")), url) == 0)
                    return ch_error_set_field(CH_EINVAL, key, "webhook %zu's URL is webhook %zu's: each URL once", i + 1,
                                              k + 1);
        }
        return 0;
    }
    if (strcmp(key, "default_ca_id") == 0) {
        if (!json_is_null(v) && (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= CH_ID_MAX))
            return ch_error_set_field(CH_EINVAL, key, "default_ca_id is a CA's id (ca_...), or null for none");
        return 0;
    }
    /* (the tokens' two: days a token may live, and before its end it is alerted) */
    if (strcmp(key, "max_token_days") == 0 || strcmp(key, "token_alert_days") == 0) {
        bool alert = key[0] == 't';
        if (!json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) < 1 ||
                                 json_integer_value(v) > CH_TOKEN_MAX_DAYS))
            return ch_error_set_field(CH_EINVAL, key, "%s is a number of days from 1 to %d%s, or null for %s", key,
                                      CH_TOKEN_MAX_DAYS, alert ? " before a token's end" : "",
                                      alert ? "no token alerts" : "none");
        return 0;
    }
    if (strcmp(key, "tidy_expired_days") == 0) {
        if (!json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) < CH_TIDY_MIN_DAYS ||
                                 json_integer_value(v) > CH_TIDY_MAX_DAYS))
            return ch_error_set_field(CH_EINVAL, key, "tidy_expired_days is a number of days from %d to %d after a "
                                      "certificate's end, or null for no automatic tidying", CH_TIDY_MIN_DAYS,
                                      CH_TIDY_MAX_DAYS);
        return 0;
    }
    return ch_error_set_field(CH_EINVAL, key,
                              "unknown setting \"%.64s\"; accepted: unverified_trusted_certificates_authenticate, "
                              "alert_thresholds_days, webhooks, renewal_point, public_bundle, default_ca_id, "
                              "max_token_days, token_alert_days, tidy_expired_days",
                              key);
}

static int settings_read(ch_svc *svc, const char *tenant_id, ch_svc_settings *out, bool secrets)
{
    char *text = NULL;
    int error = ch_store_tenant_settings_get(svc->store, tenant_id, &text);

    if (error == 0)
        error = settings_parse(svc, tenant_id, out, text, secrets);
    free(text);
    return error;
}

int svc_settings_of(ch_svc *svc, const char *tenant_id, ch_svc_settings *out)
{
    return settings_read(svc, tenant_id, out, false);
}

int svc_settings_secrets_of(ch_svc *svc, const char *tenant_id, ch_svc_settings *out)
{
    int error = settings_read(svc, tenant_id, out, true);

    if (error < 0)
        svc_settings_wipe(out);
    return error;
}

void svc_settings_wipe(ch_svc_settings *st)
{
    ch_wipe(st->webhooks, sizeof st->webhooks);
}

int ch_svc_settings_get(ch_svc *svc, const ch_actor *actor, ch_svc_settings *out)
{
    int error;

    if ((error = svc_need(actor, CH_ROLE_VIEWER, "reading settings")) < 0)
        return error;
    return svc_settings_of(svc, actor->tenant_id, out);
}

struct settings_tx {
    ch_svc *svc;
    const ch_actor *actor;
    json_t *patch;
    const char *detail;   /* what changed, for the audit log: no webhook secret */
    char *merged;         /* out: the settings as stored */
};

static int webhooks_for_store(ch_svc *svc, const char *tenant_id, json_t *patch, json_t *cur);

/* Read, merged and written in one transaction: two changes at once both count. */
static int settings_tx_run(void *arg)
{
    struct settings_tx *t = arg;
    const char *tenant_id = t->actor->tenant_id;
    char *old = NULL;
    json_t *cur = NULL;
    int error;

    if ((error = ch_store_tenant_settings_get(t->svc->store, tenant_id, &old)) < 0)
        return error;
    if ((cur = json_loads(old, 0, NULL)) == NULL)
        error = ch_error_set(CH_ESTORE, "the tenant's settings in the store are not JSON");
    else if ((error = webhooks_for_store(t->svc, tenant_id, t->patch, cur)) == 0) {
        if (json_object_update(cur, t->patch) != 0 || (t->merged = json_dumps(cur, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
            error = ch_error_set(CH_ENOMEM, "out of memory");
        else if ((error = ch_store_tenant_settings_put(t->svc->store, tenant_id, t->merged)) == 0)
            error = svc_audit(t->svc, t->actor, "settings.update", "tenant", tenant_id, t->detail);
    }
    if (old != NULL)
        ch_wipe(old, strlen(old));
    free(old);
    json_decref(cur);
    return error;
}

/* The patch's webhooks as the store keeps them: a new secret sealed.  One given by its URL
 * alone keeps the secret it has (sealed now if it was kept in clear): the secret is never read
 * back, so a client that changes one webhook of several sends the others without theirs. */
static int webhooks_for_store(ch_svc *svc, const char *tenant_id, json_t *patch, json_t *cur)
{
    json_t *w, *old;
    size_t i, j;
    int error;

    json_array_foreach(json_object_get(patch, "webhooks"), i, w) {
        if (json_object_get(w, "secret") == NULL) {
            bool known = false;
            json_array_foreach(json_object_get(cur, "webhooks"), j, old) {
                if (json_equal(json_object_get(old, "url"), json_object_get(w, "url"))) {
                    json_object_update(w, old);
                    known = true;
                    break;
                }
            }
            if (!known)
                return ch_error_set_field(CH_EINVAL, "webhooks",
                                          "the new webhook %.200s needs its secret (16 to 128 characters)",
                                          json_string_value(json_object_get(w, "url")));
        }
        if ((error = webhook_seal(svc, tenant_id, w)) < 0)
            return error;
    }
    return 0;
}

struct legacy_tx {
    ch_svc *svc;
    const char *tenant_id, *json;
};

static int legacy_tx_run(void *arg)
{
    struct legacy_tx *t = arg;

    return ch_store_tenant_settings_put(t->svc->store, t->tenant_id, t->json);
}

/* A store written before webhook secrets were sealed has them in clear: sealed at the start. */
static int webhooks_seal_legacy(ch_svc *svc)
{
    ch_store_tenant *tenants = NULL;
    size_t n = 0;
    int error;

    if ((error = ch_store_tenant_list(svc->store, &tenants, &n)) < 0)
        return error;
    for (size_t i = 0; i < n && error == 0; i++) {
        char *text = NULL, *sealed = NULL;
        json_t *j = NULL, *w;
        size_t k;
        bool clear = false;
        if ((error = ch_store_tenant_settings_get(svc->store, tenants[i].id, &text)) < 0)
            break;
        if ((j = json_loads(text ? text : "{}", 0, NULL)) != NULL) {
            json_array_foreach(json_object_get(j, "webhooks"), k, w) {
                clear |= json_object_get(w, "secret") != NULL;
                if (error == 0)
                    error = webhook_seal(svc, tenants[i].id, w);
            }
        }
        if (error == 0 && clear && (sealed = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS)) != NULL) {
            struct legacy_tx t = {svc, tenants[i].id, sealed};
            error = svc_commit(svc, legacy_tx_run, &t);
        }
        if (text != NULL)
            ch_wipe(text, strlen(text));
        free(text);
        free(sealed);
        json_decref(j);
    }
    ch_store_tenant_list_free(tenants, n);
    return error;
}

/* The patch as the audit log keeps it: webhook secrets are credentials, and the log is read by
 * viewers and kept for good. */
static char *settings_detail(json_t *patch)
{
    json_t *copy = json_deep_copy(patch), *w;
    size_t i;
    char *text;

    /* The log is read by viewers: a webhook's path and query are often its credential. */
    json_array_foreach(json_object_get(copy, "webhooks"), i, w) {
        const char *url = json_string_value(json_object_get(w, "url"));
        char shown[600];
        if (url != NULL) {
            ch_url_redacted(shown, sizeof shown, url);
            json_object_set_new(w, "url", json_string(shown));
        }
        json_object_set_new(w, "secret", json_string("(set)"));
    }
    text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(copy);
    return text;
}

/* A default CA must be able to sign now: one of the tenant's, active, holding its key. */
static int default_ca_check(ch_svc *svc, const char *tenant_id, const char *id)
{
    ch_store_ca ca = {0};
    int error = ch_store_ca_get(svc->store, &ca, tenant_id, id);

    if (error == CH_ENOTFOUND)
        error = ch_error_set_field(CH_EINVAL, "default_ca_id", "no CA %.64s in this tenant", id);
    else if (error == 0 && !svc_ca_signs(&ca))
        error = ch_error_set_field(CH_EPOLICY, "default_ca_id",
                                   "CA %.64s cannot sign (%s): the default CA is one that holds its key", id,
                                   ca.key_id == NULL ? "imported without its private key" : ca.status);
    ch_store_ca_dispose(&ca);
    return error;
}

int ch_svc_settings_update(ch_svc *svc, const ch_actor *actor, const char *json, ch_svc_settings *out)
{
    char *detail = NULL;
    json_t *patch = NULL, *v;
    const char *key;
    size_t i;
    struct settings_tx t = {0};
    int error;

    if ((error = svc_need(actor, CH_ROLE_ADMIN, "changing settings")) < 0)
        return error;
    if ((patch = json_loads(json ? json : "", 0, NULL)) == NULL || !json_is_object(patch)) {
        json_decref(patch);
        return ch_error_set(CH_EPARSE, "settings are a JSON object");
    }
    /* "(set)" is what GET answers for a secret: settings read and sent back as they are keep
     * their webhooks' secrets. */
    json_array_foreach(json_object_get(patch, "webhooks"), i, v) {
        const char *secret = json_string_value(json_object_get(v, "secret"));
        if (secret != NULL && strcmp(secret, "(set)") == 0)
            json_object_del(v, "secret");
    }
    json_object_foreach(patch, key, v) {
        if ((error = settings_check(key, v)) < 0)
            goto done;
    }
    json_array_foreach(json_object_get(patch, "webhooks"), i, v) {
        if ((error = webhook_host_check(json_string_value(json_object_get(v, "url")), i + 1,
                                        svc_is_system_tenant(svc, actor->tenant_id))) < 0)
            goto done;
    }
    if (json_is_string(v = json_object_get(patch, "default_ca_id")) &&
        (error = default_ca_check(svc, actor->tenant_id, json_string_value(v))) < 0)
        goto done;
    if ((detail = settings_detail(patch)) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    t = (struct settings_tx){svc, actor, patch, detail, NULL};
    error = svc_commit(svc, settings_tx_run, &t);
    if (error == 0 && out)
        error = settings_parse(svc, actor->tenant_id, out, t.merged, false);
done:
    free(detail);
    if (t.merged != NULL)
        ch_wipe(t.merged, strlen(t.merged)); /* it may hold a webhook's secret in clear, from before */
    free(t.merged);
    json_decref(patch);
    return error;
}
