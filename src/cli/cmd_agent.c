/*
 * certhub agent --config FILE [--once]: keeps files on a machine equal to what certhubd holds.
 *
 *   server = https://certhub.example:8443
 *   token_file = /etc/certhub/agent.token
 *   ca_file = /etc/certhub/ca.pem
 *   interval = 300
 *   state = /var/lib/certhub-agent/state      # the files the agent wrote, per target
 *
 *   [target web]
 *   certificate = crt_...        # follows renewals to the newest (newest_renewal, renewed_by)
 *   cert_path = /etc/nginx/web.pem   # the certificate and its chain
 *   key_path = /etc/nginx/web.key    # optional: the private key too
 *   combined_path = /etc/haproxy/web.pem   # or (and) all in one file, the key last
 *   keystore_path = /opt/tomcat/conf/web.p12   # or (and) a PKCS#12 or JKS keystore of it
 *   password_file = /etc/certhub/web.pw        # the keystore's password
 *   key_encoding = pkcs1         # the key as "RSA/EC PRIVATE KEY" for software that reads no PKCS#8
 *   mode = 0640
 *   reload = systemctl reload nginx
 *
 *   [target trust]
 *   bundle = default
 *   path = /etc/ssl/certhub-bundle.pem
 *   reload = ...
 *
 * A file is written only when its content changed (temporary file, fsync, rename), and the
 * target's reload command runs only then, once.  When certhubd cannot be reached the files
 * stay as they are.  A target removed from the file has its files removed (the ones the state
 * says the agent wrote); nothing is ever deleted on the server.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "certhub/formats.h"
#include "certhub/x509.h"
#include "cli.h"

#define MAX_TARGETS 32

struct target {
    char name[64];
    int line; /* of its [target NAME] in the configuration */
    char certificate[64], bundle[64], trusted[16], tenant[64];
    char cert_path[1024], key_path[1024], combined_path[1024], path[1024], dir[1024], reload[1024], owner[64];
    char keystore_path[1024], keystore_format[8], password_file[1024], alias[128], key_encoding[8];
    unsigned mode;
};

struct agent {
    char state[1024];
    char server[1024], token_file[1024], ca_file[1024]; /* the settings g_remote points to */
    int interval;
    struct target t[MAX_TARGETS];
    int n;
};

static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    for (e = s + strlen(s); e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'); e--)
        ;
    *e = '\0';
    return s;
}

/* A client setting kept in the agent's buffer, which the client's settings point to. */
static int conf_remote(const char **setting, char *buf, size_t cap, const ch_conf_item *it)
{
    int error;

    if ((error = ch_conf_copy(buf, cap, it)) == 0)
        *setting = buf;
    return error;
}

/* A target's settings that are text, copied as they are into their field (each refused when
 * longer than it, by ch_conf_copy). */
#define TARGET_TEXT(name) {#name, offsetof(struct target, name), sizeof((struct target *)0)->name}
static const struct {
    const char *key;
    size_t offset, size;
} target_texts[] = {TARGET_TEXT(certificate), TARGET_TEXT(bundle),   TARGET_TEXT(trusted),   TARGET_TEXT(tenant),
                    TARGET_TEXT(dir),         TARGET_TEXT(owner),    TARGET_TEXT(cert_path), TARGET_TEXT(key_path),
                    TARGET_TEXT(path),        TARGET_TEXT(reload),   TARGET_TEXT(combined_path),
                    TARGET_TEXT(keystore_path), TARGET_TEXT(keystore_format), TARGET_TEXT(password_file),
                    TARGET_TEXT(alias),       TARGET_TEXT(key_encoding)};
#undef TARGET_TEXT

/* One line of the configuration into ag: a setting before the first target is the agent's,
 * after it the target's. */
static int config_item(void *arg, const ch_conf_item *it)
{
    struct agent *ag = arg;
    struct target *cur = ag->n > 0 ? &ag->t[ag->n - 1] : NULL;
    const char *k = it->name, *v = it->value;

    if (it->section) {
        if (strcmp(k, "target") != 0)
            return ch_error_set(CH_EPARSE, "unknown section [%.32s]; a target is [target NAME]", k);
        if (*v == '\0')
            return ch_error_set(CH_EPARSE, "a target needs a name: [target NAME]");
        if (ag->n == MAX_TARGETS)
            return ch_error_set(CH_ETOOBIG, "more than %d targets", MAX_TARGETS);
        cur = &ag->t[ag->n++];
        memset(cur, 0, sizeof *cur); /* mode 0: each file's own (0644; a key 0600) */
        cur->line = it->line;
        return ch_conf_copy(cur->name, sizeof cur->name, &(ch_conf_item){.name = "a target's name", .value = v});
    }
    if (cur == NULL) {
        /* Given, even empty, they are the client's settings (an empty one is said as such). */
        if (strcmp(k, "server") == 0)
            return conf_remote(&g_remote.url, ag->server, sizeof ag->server, it);
        if (strcmp(k, "token_file") == 0)
            return conf_remote(&g_remote.token_file, ag->token_file, sizeof ag->token_file, it);
        if (strcmp(k, "ca_file") == 0)
            return conf_remote(&g_remote.ca_file, ag->ca_file, sizeof ag->ca_file, it);
        if (strcmp(k, "state") == 0)
            return ch_conf_copy(ag->state, sizeof ag->state, it);
        if (strcmp(k, "interval") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            if (end == v || *end != '\0' || n < 1 || n > 86400)
                return ch_error_set(CH_EINVAL, "interval is seconds between passes, 1 to 86400, not \"%.32s\"", v);
            ag->interval = (int)n;
            return 0;
        }
        return ch_error_set(CH_EINVAL, "unknown setting %.64s (server, token_file, ca_file, interval, state)", k);
    }
    for (size_t i = 0; i < sizeof target_texts / sizeof target_texts[0]; i++)
        if (strcmp(k, target_texts[i].key) == 0)
            return ch_conf_copy((char *)cur + target_texts[i].offset, target_texts[i].size, it);
    if (strcmp(k, "mode") == 0) {
        char *end;
        unsigned long m = strtoul(v, &end, 8);
        if (*v < '0' || *v > '7' || *end != '\0' || m == 0 || m > 0777)
            return ch_error_set(CH_EINVAL, "mode is an octal file mode such as 0640, not \"%.32s\"", v);
        cur->mode = (unsigned)m;
        return 0;
    }
    return ch_error_set(CH_EINVAL, "unknown target setting %.64s (certificate, bundle, tenant, trusted, cert_path, "
                                   "key_path, combined_path, keystore_path, keystore_format, password_file, alias, "
                                   "key_encoding, path, dir, mode, owner, reload)", k);
}

/* "p12" or "jks": keystore_format, or keystore_path's extension; NULL when neither says. */
static const char *keystore_format_of(const struct target *t)
{
    const char *dot = strrchr(t->keystore_path, '.');

    if (t->keystore_format[0])
        return strcmp(t->keystore_format, "p12") == 0 || strcmp(t->keystore_format, "jks") == 0 ? t->keystore_format
                                                                                               : NULL;
    if (dot != NULL && (strcmp(dot, ".p12") == 0 || strcmp(dot, ".pfx") == 0))
        return "p12";
    return dot != NULL && strcmp(dot, ".jks") == 0 ? "jks" : NULL;
}

static int read_config(cli_args *a, const char *path, struct agent *ag)
{
    int line;

    memset(ag, 0, sizeof *ag);
    ag->interval = 300;
    if (ch_conf_file(path, config_item, ag, &line) < 0)
        return line == 0 ? cli_fail_last(a) : cli_fail(a, "%s:%d: %s", path, line, ch_error_last());
    for (int i = 0; i < ag->n; i++) {
        struct target *t = &ag->t[i];
        /* Two targets writing one file (or one name for two): removing one removed the file the
         * other still names. */
        const char *mine[] = {t->cert_path, t->key_path, t->combined_path, t->keystore_path, t->path, t->dir};
        for (int j = 0; j < i; j++) {
            const struct target *o = &ag->t[j];
            const char *theirs[] = {o->cert_path, o->key_path, o->combined_path, o->keystore_path, o->path, o->dir};
            if (strcmp(o->name, t->name) == 0)
                return cli_fail(a, "%s:%d: target %s appears twice: give each target a name of its own", path,
                                t->line, t->name);
            for (size_t x = 0; x < 6; x++)
                for (size_t y = 0; y < 6; y++)
                    if (cli_same_file(mine[x], theirs[y]))
                        return cli_fail(a, "%s:%d: targets %s and %s both write %s: give each its own file", path,
                                        t->line, o->name, t->name, mine[x]);
        }
        /* An owner that is not there failed each pass, without a word of where it was named. */
        if (t->owner[0]) {
            char user[64], *colon;
            snprintf(user, sizeof user, "%s", t->owner);
            if ((colon = strchr(user, ':')) != NULL)
                *colon++ = '\0';
            if (getpwnam(user) == NULL || (colon != NULL && getgrnam(colon) == NULL))
                return cli_fail(a, "%s:%d: target %s: owner %s: no such %s", path, t->line, t->name, t->owner,
                                getpwnam(user) == NULL ? "user" : "group");
        }
        if (cli_same_file(t->cert_path, t->key_path))
            return cli_fail(a, "%s:%d: target %s: cert_path and key_path are the same file (both in one file: "
                               "combined_path)", path, t->line, t->name);
        if (cli_same_file(t->combined_path, t->cert_path) || cli_same_file(t->combined_path, t->key_path))
            return cli_fail(a, "%s:%d: target %s: combined_path is a file of its own, beside cert_path and key_path",
                            path, t->line, t->name);
        if (t->key_path[0] && t->cert_path[0] == '\0')
            return cli_fail(a, "%s:%d: target %s: key_path goes with cert_path (the key alone, without its "
                               "certificate, or both in one file: combined_path)", path, t->line, t->name);
        if ((t->combined_path[0] || t->keystore_path[0]) && t->certificate[0] == '\0')
            return cli_fail(a, "%s:%d: target %s: %s is a certificate's (certificate = ID)", path, t->line, t->name,
                            t->combined_path[0] ? "combined_path" : "keystore_path");
        for (size_t x = 0; x < 3 && t->keystore_path[0]; x++)
            if (cli_same_file(t->keystore_path, mine[x]))
                return cli_fail(a, "%s:%d: target %s: keystore_path is a file of its own", path, t->line, t->name);
        if (t->keystore_path[0] && keystore_format_of(t) == NULL)
            return cli_fail(a, "%s:%d: target %s: keystore_format is p12 or jks (from keystore_path's .p12, .pfx or "
                               ".jks when not given)", path, t->line, t->name);
        if (t->key_encoding[0] && strcmp(t->key_encoding, "pkcs1") != 0 && strcmp(t->key_encoding, "pkcs8") != 0)
            return cli_fail(a, "%s:%d: target %s: key_encoding is pkcs8 (BEGIN PRIVATE KEY, the default) or pkcs1 "
                               "(BEGIN RSA PRIVATE KEY, BEGIN EC PRIVATE KEY), not \"%.16s\"", path, t->line, t->name,
                            t->key_encoding);
        if (t->key_encoding[0] && t->key_path[0] == '\0' && t->combined_path[0] == '\0')
            return cli_fail(a, "%s:%d: target %s: key_encoding goes with key_path or combined_path", path, t->line,
                            t->name);
        if (t->keystore_path[0] && t->password_file[0] == '\0')
            return cli_fail(a, "%s:%d: target %s: keystore_path needs password_file (the keystore's password)", path,
                            t->line, t->name);
        if ((t->password_file[0] || t->alias[0] || t->keystore_format[0]) && t->keystore_path[0] == '\0')
            return cli_fail(a, "%s:%d: target %s: password_file, alias and keystore_format go with keystore_path",
                            path, t->line, t->name);
        if ((t->certificate[0] != '\0') + (t->bundle[0] != '\0') + (t->trusted[0] != '\0') != 1)
            return cli_fail(a, "%s:%d: target %s needs exactly one of certificate, bundle or trusted", path,
                            t->line, t->name);
        if (t->trusted[0] && strcmp(t->trusted, "mqtt") != 0 && strcmp(t->trusted, "trust") != 0 &&
            strcmp(t->trusted, "issuer") != 0)
            return cli_fail(a, "%s:%d: target %s: trusted takes mqtt (a broker's CA directory), trust or issuer (that "
                               "list as a PEM file), not \"%.32s\"", path, t->line, t->name, t->trusted);
        if (strcmp(t->trusted, "mqtt") == 0 && (t->dir[0] == '\0' || t->path[0]))
            return cli_fail(a, "%s:%d: target %s: trusted = mqtt needs dir (a CA directory for the broker's capath), "
                               "not path", path, t->line, t->name);
        if (t->trusted[0] && strcmp(t->trusted, "mqtt") != 0 && (t->path[0] == '\0' || t->dir[0]))
            return cli_fail(a, "%s:%d: target %s: trusted = %s needs path (the PEM file of that list), not dir", path,
                            t->line, t->name, t->trusted);
        if (t->certificate[0] && t->cert_path[0] == '\0' && t->combined_path[0] == '\0' && t->keystore_path[0] == '\0')
            return cli_fail(a, "%s:%d: target %s needs cert_path (or combined_path: the certificate, its chain and its "
                               "key in one file; or keystore_path)", path, t->line, t->name);
        if (t->bundle[0] && t->path[0] == '\0')
            return cli_fail(a, "%s:%d: target %s needs path", path, t->line, t->name);
        if (t->tenant[0] && t->bundle[0] == '\0')
            return cli_fail(a, "%s:%d: target %s: tenant goes with bundle (whose bundle)", path, t->line, t->name);
        if (strspn(t->tenant, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(t->tenant))
            return cli_fail(a, "%s:%d: target %s: a tenant is named with letters, digits, '.', '_' and '-'", path,
                            t->line, t->name);
    }
    if (ag->state[0] == '\0')
        snprintf(ag->state, sizeof ag->state, "%s.state", path);
    return 0;
}

/* In the state beside a target's files: its reload failed and is run again at the next pass
 * (no path begins with '!'). */
#define RELOAD_OWED "!reload"

/* The files the agent wrote, by target: what the state file holds, and what a pass finds. */
struct owned_file {
    char target[64];
    char file[1400]; /* a directory the agent made ends in '/' */
};
struct owned {
    struct owned_file *f;
    size_t n, cap;
};

static bool owned_has(const struct owned *o, const char *target, const char *file)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->f[i].target, target) == 0 && strcmp(o->f[i].file, file) == 0)
            return true;
    return false;
}

static void owned_add(struct owned *o, const char *target, const char *file)
{
    if (owned_has(o, target, file))
        return;
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 16;
        struct owned_file *f = realloc(o->f, cap * sizeof *f);
        if (f == NULL)
            return;
        o->f = f;
        o->cap = cap;
    }
    snprintf(o->f[o->n].target, sizeof o->f[0].target, "%s", target);
    snprintf(o->f[o->n].file, sizeof o->f[0].file, "%s", file);
    o->n++;
}

static const char *g_owner;      /* the current target's owner ("user" or "user:group"), or NULL */
static struct owned *g_written;  /* the files this pass found the agent's */
static struct owned *g_before;   /* those the state said were, before the pass */
static const char *g_target;     /* the target being synced */
static int64_t g_look;           /* when a certificate of this pass is renewed (0: none is due) */
static char g_look_target[256];  /* the target it is of */

/* Gives path to the target's owner. */
/* The uid and gid of owner ("user" or "user:group"). */
static int owner_ids(cli_args *a, uid_t *uid, gid_t *gid)
{
    char user[64], *colon;
    struct passwd *pw;
    struct group *gr = NULL;

    snprintf(user, sizeof user, "%s", g_owner);
    if ((colon = strchr(user, ':')) != NULL)
        *colon++ = '\0';
    if ((pw = getpwnam(user)) == NULL || (colon && (gr = getgrnam(colon)) == NULL))
        return cli_fail(a, "%s: owner %s: no such user or group", g_target ? g_target : "?", g_owner);
    *uid = pw->pw_uid;
    *gid = gr ? gr->gr_gid : pw->pw_gid;
    return 0;
}

static int chown_to(cli_args *a, const char *path)
{
    uid_t uid;
    gid_t gid;

    if (g_owner == NULL || *g_owner == '\0')
        return 0;
    if (owner_ids(a, &uid, &gid) != 0)
        return 1;
    if (chown(path, uid, gid) != 0)
        return cli_fail(a, "cannot give %s to %s: %s", path, g_owner, strerror(errno));
    return 0;
}

/* A file whose content is already right gets the mode and owner it should have (a mode or
 * owner changed in the configuration, or an owner that failed before): 1 when that changed
 * something, 0 not, -1 on failure. */
static int settle(cli_args *a, const char *path, unsigned mode)
{
    struct stat sb;
    uid_t uid;
    gid_t gid;
    int changed = 0;

    if (stat(path, &sb) != 0)
        return 0;
    if ((sb.st_mode & 0777) != mode) {
        if (chmod(path, mode) != 0)
            return cli_fail(a, "cannot set the mode of %s: %s", path, strerror(errno)) ? -1 : -1;
        changed = 1;
    }
    if (g_owner != NULL && *g_owner != '\0') {
        if (owner_ids(a, &uid, &gid) != 0)
            return -1;
        if (sb.st_uid != uid || sb.st_gid != gid) {
            if (chown_to(a, path) != 0)
                return -1;
            changed = 1;
        }
    }
    return changed;
}

/* The largest file the agent reads back of those it writes (a trust list of thousands of CAs). */
#define WRITTEN_MAX (16u * 1024 * 1024)

/* What a file the agent wrote holds, asked of it: its bytes read (a key among them: wiped
 * after), test's answer; false when it cannot be read. */
static bool file_holds(const char *path, bool (*test)(const uint8_t *, size_t, const void *), const void *arg)
{
    uint8_t *old = NULL;
    size_t len = 0;
    bool yes = false;

    if (ch_file_read(&old, &len, path, WRITTEN_MAX) == 0) {
        yes = test(old, len, arg);
        ch_secure_free(old, len);
    }
    return yes;
}

static bool is_data(const uint8_t *old, size_t len, const void *arg)
{
    const ch_buf *data = arg;

    return len == data->len && memcmp(old, data->data, len) == 0;
}

/* Whether path holds data. */
static bool same_file(const char *path, const ch_buf *data)
{
    return file_holds(path, is_data, data);
}

static bool encoded_as(const uint8_t *old, size_t len, const void *arg)
{
    return strcmp(arg, "pkcs1") == 0 ? ch_mem_find(old, old + len, "-----BEGIN RSA PRIVATE KEY-----", 31) ||
                                           ch_mem_find(old, old + len, "-----BEGIN EC PRIVATE KEY-----", 30)
                                     : ch_mem_find(old, old + len, "-----BEGIN PRIVATE KEY-----", 27) != NULL;
}

/* Whether the file holds a key in the encoding asked (key_encoding; "": PKCS#8): a change of
 * the setting takes effect at the next pass, not at the certificate's next renewal. */
static bool key_encoded_as(const char *path, const char *encoding)
{
    return file_holds(path, encoded_as, encoding);
}

struct combined_want {
    const ch_buf *cert;
    const char *encoding;
};

static bool cert_then_key(const uint8_t *old, size_t len, const void *arg)
{
    const struct combined_want *w = arg;

    return len > w->cert->len && memcmp(old, w->cert->data, w->cert->len) == 0 &&
           encoded_as(old + w->cert->len, len - w->cert->len, w->encoding);
}

/* Whether a combined file holds the certificate (and its chain) as it is now, followed by a
 * key in the encoding asked: its key is not asked for again while it does (each download is
 * audited). */
static bool combined_holds(const char *path, const ch_buf *cert, const char *encoding)
{
    return file_holds(path, cert_then_key, &(struct combined_want){cert, encoding});
}

/* Whether the target's keystore opens with password and is what the target says: of its format,
 * holding leaf with its key, under its alias when one is named (a change of either setting was
 * never written). */
static bool keystore_holds(const struct target *t, const char *password, const ch_cert *leaf)
{
    uint8_t *old = NULL;
    size_t len = 0;
    ch_keystore *ks = NULL;
    bool holds = false;
    ch_format want = strcmp(keystore_format_of(t), "jks") == 0 ? CH_FMT_JKS : CH_FMT_PKCS12;

    if (ch_file_read(&old, &len, t->keystore_path, CH_MAX_UPLOAD_BYTES) == 0 &&
        ch_keystore_import(&ks, old, len, &(ch_import_opts){.password = password}) == 0 && ks->source == want)
        for (size_t i = 0; i < ks->count && !holds; i++)
            holds = ks->entries[i].key != NULL && ks->entries[i].chain_len > 0 &&
                    memcmp(ch_cert_sha256(ks->entries[i].chain[0]), ch_cert_sha256(leaf), 32) == 0 &&
                    (t->alias[0] == '\0' || (ks->entries[i].alias && strcasecmp(ks->entries[i].alias, t->alias) == 0));
    ch_keystore_free(ks);
    ch_secure_free(old, len);
    ch_error_clear();
    return holds;
}

/* The target's keystore of certificate id into *store when the one at keystore_path does not
 * hold leaf (0), or the file settled as it is (its mode and owner: 0 or 1); -1 said. */
static int keystore_owed(cli_args *a, const struct target *t, const char *id, const ch_cert *leaf, ch_buf *store)
{
    char *password = NULL, path[300];
    json_t *body;
    int r;

    if (cli_password_file(a, t->password_file, &password) != 0)
        return -1;
    /* (an empty file is more likely one cut short than a wish for a keystore anyone opens) */
    if (*password == '\0') {
        ch_secure_free_str(password);
        (void)cli_fail(a, "%s: the password file %s is empty: a keystore's password is given there", t->name,
                       t->password_file);
        return -1;
    }
    if (keystore_holds(t, password, leaf)) {
        ch_secure_free_str(password);
        owned_add(g_written, g_target, t->keystore_path);
        return settle(a, t->keystore_path, t->mode ? t->mode : 0600);
    }
    body = json_pack("{ss ss}", "format", keystore_format_of(t), "password", password);
    if (body != NULL && t->alias[0])
        json_object_set_new(body, "alias", json_string(t->alias));
    remote_obj_path(path, sizeof path, "certificates", id, "/export");
    r = body != NULL ? remote_call(a, "POST", path, body, NULL, store) : cli_fail(a, "out of memory");
    json_decref(body); /* (jansson's blocks are wiped as they are freed) */
    ch_secure_free_str(password);
    return r != 0 ? -1 : 0;
}

/* Creates the directories above path that are missing (0755, as `install -D` and Vault agent's
 * templates do: a first deployment names a directory nothing has made yet).  They stay when
 * the target goes: other files may have joined them. */
static int make_parents(cli_args *a, const char *path)
{
    char dir[1400];
    struct stat sb;

    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        if (stat(dir, &sb) != 0) {
            if (mkdir(dir, 0755) != 0 && errno != EEXIST)
                return cli_fail(a, "cannot create the directory %s for %s: %s", dir, path, strerror(errno)) ? -1 : -1;
            fprintf(stderr, "certhub agent: created the directory %s\n", dir);
        } else if (!S_ISDIR(sb.st_mode)) {
            return cli_fail(a, "cannot write %s: %s is not a directory", path, dir) ? -1 : -1;
        }
        *p = '/';
    }
    return 0;
}

/* A file written beside its place (ch_file_stage), which place_file then puts there: a
 * target's key and certificate are both written before either takes its place (a disk full at
 * the certificate left the new key beside the old certificate, said as "kept the files"). */
struct staged {
    const char *path;
    bool pending;    /* written beside path, in tmp */
    bool placed;     /* renamed over path: unplace puts back what was there */
    bool existed;    /* path was there before, holding old */
    unsigned mode;
    uint8_t *old;
    size_t old_len;
    char tmp[4200];
};

/* 0 or settle's answer (1: mode or owner changed) when the file holds data already, 0 with
 * the new content written beside it (s->pending), -1 said. */
static int stage_file(cli_args *a, const char *path, const ch_buf *data, unsigned mode, struct staged *s)
{
    s->path = path;
    s->pending = false;
    s->mode = mode;
    /* What is there now, read once: the same (settled as it is), or what is put back when
     * another file of the target cannot take its place (a rename refused: a directory there, a
     * file bind-mounted into a container). */
    s->existed = ch_file_read(&s->old, &s->old_len, path, WRITTEN_MAX) == 0;
    ch_error_clear();
    if (s->existed && is_data(s->old, s->old_len, data)) {
        owned_add(g_written, g_target, path);
        return settle(a, path, mode);
    }
    if (make_parents(a, path) != 0)
        return -1;
    if (ch_file_stage(path, data->data, data->len, mode, s->tmp, sizeof s->tmp) < 0) {
        cli_fail_last(a);
        return -1;
    }
    s->pending = true;
    return 0;
}

/* 1 once in place, 0 when nothing was staged, -1 said. */
static int place_file(cli_args *a, struct staged *s)
{
    if (!s->pending)
        return 0;
    s->pending = false;
    if (ch_file_place(s->tmp, s->path) < 0) {
        cli_fail_last(a);
        return -1;
    }
    s->placed = true;
    /* Written: the agent's from now on (removed with its target), even if chown fails. */
    owned_add(g_written, g_target, s->path);
    return chown_to(a, s->path) == 0 ? 1 : -1;
}

/* A file placed put back as it was (or removed, when it was not there): another of its target
 * could not take its place. */
static void unplace(cli_args *a, struct staged *s)
{
    if (!s->placed)
        return;
    s->placed = false;
    if (s->existed ? ch_file_write_atomic(s->path, s->old, s->old_len, s->mode) < 0 : unlink(s->path) != 0)
        (void)cli_fail(a, "could not put %s back as it was: %s", s->path,
                       s->existed ? ch_error_last() : strerror(errno));
}

static void unstage(struct staged *s)
{
    if (s->pending)
        unlink(s->tmp);
    s->pending = false;
    ch_secure_free(s->old, s->old_len);
    s->old = NULL;
    s->old_len = 0;
}

/* Writes data to path when it differs from what is there; 1 when written, 0 unchanged. */
static int put_file(cli_args *a, const char *path, const ch_buf *data, unsigned mode)
{
    struct staged s = {0};
    int r = stage_file(a, path, data, mode, &s);

    if (r == 0 && s.pending)
        r = place_file(a, &s);
    unstage(&s); /* (what was there before, read to be put back, let go) */
    return r;
}

/* The next pass comes when certhubd renews the newest certificate, if that is before the
 * interval: a certificate of minutes is renewed with minutes left, and an interval set for
 * longer lifetimes would leave the old one in place to its end.  certhubd renews it the second
 * it is due; the agent looks a few seconds after.  One due and not renewed yet (certhubd is
 * trying again) is looked at again within a quarter of the time it has left, as certhubd tries. */
static void look_when_renewed(json_t *cert)
{
    int64_t renew_at, not_after, now = ch_now(), at;
    const char *ra = json_string_value(json_object_get(cert, "renew_at"));
    const char *na = json_string_value(json_object_get(cert, "not_after"));

    if (!json_is_true(json_object_get(cert, "auto_renew")) || ra == NULL || na == NULL ||
        ch_time_parse(&renew_at, ra) < 0 || ch_time_parse(&not_after, na) < 0 || not_after <= now)
        return;
    at = renew_at + 5;
    if (at <= now) {
        int64_t wait = (not_after - now) / 4;
        at = now + (wait < 5 ? 5 : wait > 60 ? 60 : wait);
    }
    if (g_look == 0 || at < g_look) {
        g_look = at;
        snprintf(g_look_target, sizeof g_look_target, "%s", g_target ? g_target : "");
    }
}

/* The newest certificate of the target in trouble, said on stderr at each pass: ended (the
 * pass then fails: a monitor of the agent's status finds it), or its automatic renewal stopped
 * (it will end so).  The agent kept deploying an expired certificate without a word. */
static bool g_ended;

static void say_trouble(json_t *cert)
{
    const char *na = json_string_value(json_object_get(cert, "not_after"));
    const char *id = json_string_value(json_object_get(cert, "id"));
    const char *why = json_string_value(json_object_get(cert, "renew_error"));
    int64_t not_after;

    if (na == NULL || ch_time_parse(&not_after, na) < 0)
        return;
    if (not_after <= ch_now()) {
        g_ended = true;
        fprintf(stderr, "certhub agent: %s: certificate %s ended at %s%s%s; renew it (certhub cert renew %s) or "
                        "name another\n",
                g_target, id ? id : "?", na, why ? "; its last renewal failed: " : "", why ? why : "", id ? id : "ID");
    } else if (why != NULL && !json_is_true(json_object_get(cert, "auto_renew"))) {
        fprintf(stderr, "certhub agent: %s: certificate %s ends at %s, and its automatic renewal stopped: %s\n",
                g_target, id ? id : "?", na, why);
    }
}

/* Whether v, a value of an answer, is an id: text of 1 to 63 bytes (certhubd's are 28).  One
 * longer was cut to its place, naming another object, and one that was no text went into the
 * next request as "(null)". */
static bool answer_id(json_t *v)
{
    return json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < 64;
}

#define RENEWALS_FOLLOWED 64 /* renewed_by links followed one request each (an older certhubd) */

/* The newest certificate of a lineage.  certhubd names it in the first certificate's answer
 * (newest_renewal), whatever the lineage's length: a certificate of minutes is renewed every few
 * minutes, and following renewed_by a request at a time made a pass of hundreds of requests,
 * then stopped at the 64th and deployed that one, long expired.  The answer of the one it names
 * is asked for (when it is renewed next), and its renewed_by followed still: one renewed since
 * certhubd answered, or a certhubd without newest_renewal, leaves a few links to follow, up to
 * RENEWALS_FOLLOWED; more is a failure, the files kept as they are, not an old certificate
 * deployed.  The newest is named only when the first certificate was renewed (renewed_by): an
 * answer that names one otherwise is not certhubd's, and is not followed. */
/* certhubd's answer for certificate id (GET certificates/ID) into *ans. */
static int cert_answer(cli_args *a, const char *id, json_t **ans)
{
    char path[300];

    return remote_call(a, "GET", remote_obj_path(path, sizeof path, "certificates", id, ""), NULL, ans, NULL);
}

static int newest(cli_args *a, const char *id, char out[64])
{
    json_t *ans = NULL, *next, *jump;

    snprintf(out, 64, "%s", id);
    if (cert_answer(a, out, &ans) != 0)
        return -1;
    next = json_object_get(ans, "renewed_by");
    jump = json_object_get(ans, "newest_renewal");
    if (next != NULL && !json_is_null(next) && jump != NULL && !json_is_null(jump)) {
        if (!answer_id(jump)) {
            json_decref(ans);
            return remote_unexpected(a, "the newest_renewal of %s is not a certificate's id", out) ? -1 : -1;
        }
        snprintf(out, 64, "%s", json_string_value(jump));
        json_decref(ans);
        if (cert_answer(a, out, &ans) != 0)
            return -1;
    }
    for (int followed = 0;; followed++) {
        next = json_object_get(ans, "renewed_by");
        if (next == NULL || json_is_null(next)) {
            look_when_renewed(ans);
            say_trouble(ans);
            json_decref(ans);
            return 0;
        }
        if (!answer_id(next)) {
            json_decref(ans);
            return remote_unexpected(a, "the renewed_by of %s is not a certificate's id", out) ? -1 : -1;
        }
        if (followed == RENEWALS_FOLLOWED) {
            json_decref(ans);
            return cli_fail(a, "certificate %s: more than %d renewals to follow one request each (a certhubd "
                               "that does not name the newest, newest_renewal, or one renewing faster than it "
                               "answers): its files are left as they are", id, RENEWALS_FOLLOWED) ? -1 : -1;
        }
        snprintf(out, 64, "%s", json_string_value(next));
        json_decref(ans);
        if (cert_answer(a, out, &ans) != 0)
            return -1;
    }
}

/* Every item of a list the API gives a page at a time, into *items (a new array).  A page
 * without its items list fails the whole: read as an empty list (a 2xx error, a page of
 * another shape), it removed the file of every certificate the list held. */
static int list_all(cli_args *a, const char *resource, json_t **items)
{
    char path[600];
    remote_pages pages = REMOTE_PAGES_INIT;
    int rc = 0;

    snprintf(path, sizeof path, "%s%climit=1000", resource, strchr(resource, '?') ? '&' : '?');
    *items = json_array();
    do {
        json_t *page = NULL;
        if (remote_get_page(a, path, pages.next, &page) != 0) {
            rc = -1;
            break;
        }
        if (!json_is_array(json_object_get(page, "items")))
            rc = remote_unexpected(a, "a page of %s holds no items list", resource) ? -1 : -1;
        else if (json_array_extend(*items, json_object_get(page, "items")) != 0)
            rc = cli_fail(a, "out of memory") ? -1 : -1;
        else if (remote_pages_next(a, &pages, page) != 0)
            rc = -1;
        json_decref(page);
    } while (rc == 0 && pages.next != NULL);
    remote_pages_dispose(&pages);
    if (rc != 0) {
        json_decref(*items);
        *items = NULL;
    }
    return rc;
}

/* The certificate of a trusted certificate of a list (parsed into *c, the caller's to free):
 * carried by the item, or asked for by its id from a certhubd whose lists do not carry it
 * (*full then holds the answer the PEM is in).  Said when there is none: passed over, its file
 * would go as if the certificate were no longer trusted. */
static const char *trusted_pem(cli_args *a, json_t *it, json_t **full, ch_cert **c)
{
    char one[300];
    const char *pem, *tid;

    *full = NULL;
    *c = NULL;
    if (!answer_id(json_object_get(it, "id"))) {
        remote_unexpected(a, "a trusted certificate of the list has no id");
        return NULL;
    }
    tid = json_string_value(json_object_get(it, "id"));
    if ((pem = json_string_value(json_object_get(it, "pem"))) == NULL) {
        remote_obj_path(one, sizeof one, "trusted-certificates", tid, "");
        if (remote_call(a, "GET", one, NULL, full, NULL) != 0)
            return NULL;
        pem = json_string_value(json_object_get(*full, "pem"));
    }
    if (pem == NULL || ch_cert_parse(c, (const uint8_t *)pem, strlen(pem)) < 0) {
        remote_unexpected(a, "trusted certificate %s has no PEM certificate", tid);
        json_decref(*full);
        *full = NULL;
        return NULL;
    }
    return pem;
}

static bool trusted_enabled(json_t *it)
{
    json_t *st = json_object_get(it, "status");
    return json_is_string(st) && strcmp(json_string_value(st), "enabled") == 0;
}

/* One list of the tenant's trusted certificates (trust or issuer), its enabled ones, as one PEM
 * file: the trust list and the issuer list as a connector's two stores (an empty list an empty
 * file, as a tenant without a CA has an empty bundle). */
static int sync_trusted_file(cli_args *a, const struct target *t)
{
    json_t *list = NULL, *it;
    ch_buf all = CH_BUF_INIT;
    char resource[64];
    size_t i;
    int r = 0;

    snprintf(resource, sizeof resource, "trusted-certificates?list=%s", t->trusted);
    if (list_all(a, resource, &list) != 0)
        return -1;
    json_array_foreach(list, i, it) {
        json_t *full = NULL;
        ch_cert *c = NULL;
        const char *pem;
        const char *kind = json_string_value(json_object_get(it, "list"));
        /* (a server that took no list filter: the other list's are not this file's) */
        if (!trusted_enabled(it) || (kind != NULL && strcmp(kind, t->trusted) != 0))
            continue;
        if ((pem = trusted_pem(a, it, &full, &c)) == NULL) {
            r = -1;
            break;
        }
        if (ch_buf_puts(&all, pem) != 0 || (pem[0] && pem[strlen(pem) - 1] != '\n' && ch_buf_puts(&all, "\n") != 0))
            r = cli_fail(a, "out of memory") ? -1 : -1;
        ch_cert_free(c);
        json_decref(full);
        if (r != 0)
            break;
    }
    json_decref(list);
    if (r == 0)
        r = put_file(a, t->path, &all, t->mode ? t->mode : 0644);
    ch_buf_dispose(&all);
    return r;
}

/* The tenant's enabled trusted certificates (the trust list, the issuer list's intermediates)
 * as a hashed CA directory (<hash>.<n>), the layout a broker's capath reads; files of
 * certificates no longer enabled go. */
static int sync_trusted_dir(cli_args *a, const struct target *t)
{
    json_t *list = NULL, *it;
    char (*keep)[32] = NULL, path[1400], mine[1400];
    size_t nkeep = 0, i;
    int changed = 0, r;
    DIR *d;
    struct dirent *e;

    if (list_all(a, "trusted-certificates", &list) != 0)
        return -1;
    /* A file name for each of them, however many the tenant trusts (a fixed 256 passed over
     * the rest and removed their files, unsaid). */
    if (json_array_size(list) > 0 && (keep = calloc(json_array_size(list), sizeof *keep)) == NULL) {
        json_decref(list);
        return cli_fail(a, "out of memory") ? -1 : -1;
    }
    snprintf(mine, sizeof mine, "%s/", t->dir);
    if (make_parents(a, t->dir) != 0) {
        changed = -1;
        goto out;
    }
    if (mkdir(t->dir, 0755) == 0) {
        fprintf(stderr, "certhub agent: created the directory %s\n", t->dir);
        owned_add(g_written, g_target, mine); /* made by the agent: removed with the target, once empty */
    } else if (errno == EEXIST && owned_has(g_before, g_target, mine)) {
        owned_add(g_written, g_target, mine);
    } else if (errno != EEXIST) {
        cli_fail(a, "cannot create %s: %s", t->dir, strerror(errno));
        changed = -1;
        goto out;
    }
    json_array_foreach(list, i, it) {
        json_t *full = NULL;
        ch_cert *c = NULL;
        const char *pem;
        const char *list_kind = json_string_value(json_object_get(it, "list"));
        const char *subject = json_string_value(json_object_get(it, "subject"));
        const char *issuer = json_string_value(json_object_get(it, "issuer"));
        /* The trust list, and the issuer list's intermediates (OpenSSL anchors a CA directory's
         * self-signed certificates alone, and builds chains with the others): an issuer-list
         * root stays out, it would be an anchor. */
        if (!trusted_enabled(it) ||
            (list_kind && strcmp(list_kind, "issuer") == 0 && subject && issuer && strcmp(subject, issuer) == 0))
            continue;
        if ((pem = trusted_pem(a, it, &full, &c)) == NULL) {
            changed = -1;
            goto out;
        }
        unsigned long h = X509_subject_name_hash(ch_cert_x509(c));
        for (int k = 0;; k++) {
            bool taken = false;
            snprintf(keep[nkeep], sizeof keep[0], "%08lx.%d", h, k);
            for (size_t j = 0; j < nkeep && !taken; j++)
                taken = strcmp(keep[j], keep[nkeep]) == 0;
            if (!taken)
                break;
        }
        snprintf(path, sizeof path, "%s/%s", t->dir, keep[nkeep++]);
        ch_buf b = {.data = (uint8_t *)pem, .len = strlen(pem)};
        if ((r = put_file(a, path, &b, t->mode ? t->mode : 0644)) < 0)
            changed = -1;
        else if (r > 0 && changed >= 0)
            changed = 1;
        ch_cert_free(c);
        json_decref(full);
    }
    /* The files of certificates no longer enabled go (and the broker reloads); only those the
     * agent wrote: the directory may hold the machine's own files (its certificate and key,
     * a README), which are never the agent's to remove. */
    if ((d = opendir(t->dir)) != NULL) {
        while ((e = readdir(d)) != NULL) {
            bool kept = e->d_name[0] == '.';
            for (size_t j = 0; j < nkeep && !kept; j++)
                kept = strcmp(keep[j], e->d_name) == 0;
            snprintf(path, sizeof path, "%s/%s", t->dir, e->d_name);
            if (!kept && owned_has(g_before, g_target, path) && unlink(path) == 0 && changed >= 0)
                changed = 1;
        }
        closedir(d);
    }
out:
    free(keep);
    json_decref(list);
    return changed;
}

/* Whether what the server sent is PEM certificates (the first one into *leaf when leaf is not
 * NULL, the caller's to free): a 2xx answer can hold anything (a proxy's page, an error, nothing
 * at all), and what is written here replaces the file a program serves, then reloads.  Said
 * when not, naming what was asked (what). */
static int pem_certs(cli_args *a, const ch_buf *data, const char *what, ch_cert **leaf)
{
    ch_format fmt;
    ch_cert **certs = NULL;
    size_t n = 0;

    if (ch_format_detect(&fmt, data->data, data->len) < 0 || fmt != CH_FMT_PEM ||
        ch_cert_parse_all(&certs, &n, data->data, data->len) < 0)
        return remote_unexpected(a, "%s is not PEM certificates", what);
    if (leaf != NULL)
        *leaf = ch_cert_dup(certs[0]);
    ch_cert_list_free(certs, n);
    return leaf != NULL && *leaf == NULL ? cli_fail(a, "out of memory") : 0;
}

/* Whether the key sent is the PEM private key of leaf: a key of another certificate, written
 * beside it, would leave the program serving a pair that does not work. */
static int pem_key_of(cli_args *a, const ch_buf *data, const ch_cert *leaf, const char *id)
{
    ch_format fmt;
    ch_key *key = NULL;
    int rc = 0;

    if (ch_format_detect(&fmt, data->data, data->len) < 0 || fmt != CH_FMT_PEM ||
        ch_key_parse(&key, data->data, data->len, NULL) < 0)
        rc = remote_unexpected(a, "the private key of %s is not a PEM private key", id);
    else if (!ch_cert_matches_key(leaf, key))
        rc = remote_unexpected(a, "the private key sent is not that of certificate %s", id);
    ch_key_free(key);
    return rc;
}

/* The key (PEM, PKCS#8, as certhubd gives it) as "RSA PRIVATE KEY" or "EC PRIVATE KEY", for
 * software that reads no PKCS#8 (key_encoding = pkcs1): 0, or -1 said. */
static int key_traditional(cli_args *a, ch_buf *pem, const char *id)
{
    ch_key *k = NULL;
    BIO *b = NULL;
    char *p;
    long n;
    int rc = -1;

    if (ch_key_parse(&k, pem->data, pem->len, NULL) == 0 &&
        (EVP_PKEY_get_base_id(ch_key_pkey(k)) == EVP_PKEY_RSA || EVP_PKEY_get_base_id(ch_key_pkey(k)) == EVP_PKEY_EC) &&
        (b = BIO_new(BIO_s_secmem())) != NULL &&
        PEM_write_bio_PrivateKey_traditional(b, ch_key_pkey(k), NULL, NULL, 0, NULL, NULL) == 1 &&
        (n = BIO_get_mem_data(b, &p)) > 0) {
        ch_buf_dispose_secure(pem);
        rc = ch_buf_put(pem, p, (size_t)n) < 0 ? -1 : 0;
    }
    if (rc < 0)
        (void)cli_fail(a, "the key of %s has no PKCS#1 form (key_encoding = pkcs1 holds RSA and EC keys): remove "
                          "key_encoding", id);
    BIO_free(b);
    ch_key_free(k);
    ERR_clear_error();
    return rc;
}

#define N_STAGED 4 /* the files of a certificate's target */

/* One target: 1 when something changed, 0 not, -1 when certhubd could not give it. */
static int sync_target(cli_args *a, const struct target *t)
{
    ch_buf cert = CH_BUF_INIT, key = CH_BUF_INIT;
    char path[300], id[64], what[100];
    ch_cert *leaf = NULL;
    struct staged staged[N_STAGED] = {{0}}; /* key, combined file, keystore, certificate */
    ch_buf combined = CH_BUF_INIT, store = CH_BUF_INIT;
    int changed = 0, r;

    g_owner = t->owner;
    if (t->trusted[0])
        return strcmp(t->trusted, "mqtt") == 0 ? sync_trusted_dir(a, t) : sync_trusted_file(a, t);
    if (t->bundle[0]) {
        /* Without a token, the public bundle: a machine that only trusts certhub's CAs needs
         * no credential at all. */
        char type[64] = "";
        long status = 0;
        remote_req q = {.method = "GET", .path = path, .token_optional = true, .status = &status, .content_type = type};
        snprintf(path, sizeof path, "bundles/%s%s%s", t->bundle, t->tenant[0] ? "?tenant=" : "", t->tenant);
        snprintf(what, sizeof what, "the bundle %s", t->bundle);
        if (remote_request(a, &q, NULL, &cert) != 0) {
            ch_buf_dispose(&cert);
            return -1;
        }
        if (!remote_empty_pem(&cert, status, type) && pem_certs(a, &cert, what, NULL) != 0) {
            ch_buf_dispose(&cert);
            return -1;
        }
        r = put_file(a, t->path, &cert, t->mode ? t->mode : 0644);
        ch_buf_dispose(&cert);
        return r;
    }
    if (newest(a, t->certificate, id) != 0)
        return -1;
    remote_obj_path(path, sizeof path, "certificates", id, "/export?format=pem");
    snprintf(what, sizeof what, "the export of %s", id);
    if (remote_call(a, "GET", path, NULL, NULL, &cert) != 0 || pem_certs(a, &cert, what, &leaf) != 0) {
        changed = -1;
        goto done;
    }
    /* The key is asked for only when the certificate changed or its file is missing: a
     * certificate's key never changes, and each download leaves the server (and is audited). */
    if ((t->key_path[0] && (!same_file(t->cert_path, &cert) || !key_encoded_as(t->key_path, t->key_encoding))) ||
        (t->combined_path[0] && !combined_holds(t->combined_path, &cert, t->key_encoding))) {
        remote_obj_path(path, sizeof path, "certificates", id, "/private-key");
        if (remote_call(a, "POST", path, NULL, NULL, &key) != 0 || pem_key_of(a, &key, leaf, id) != 0) {
            changed = -1;
            goto done;
        }
    } else {
        /* Kept as they are, but with the mode and owner the target says now. */
        const char *kept[] = {t->key_path, t->combined_path};
        for (size_t k = 0; k < 2; k++)
            if (kept[k][0]) {
                owned_add(g_written, g_target, kept[k]);
                if ((r = settle(a, kept[k], t->mode ? t->mode : 0600)) != 0)
                    changed = r;
            }
    }
    /* A Java server's (or IIS's) keystore of it, exported by certhubd under the target's password;
     * asked for only when the one there does not hold this certificate with its key (a keystore
     * is never the same bytes twice: each export has salts of its own). */
    if (changed >= 0 && t->keystore_path[0] && (r = keystore_owed(a, t, id, leaf, &store)) != 0)
        changed = r;
    if (changed < 0)
        goto done;
    if (key.len > 0 && strcmp(t->key_encoding, "pkcs1") == 0 && key_traditional(a, &key, id) < 0) {
        changed = -1;
        goto done;
    }
    /* HAProxy's and others' one file: the certificate, its chain, then its key. */
    if (key.len > 0 && t->combined_path[0] &&
        (ch_buf_put(&combined, cert.data, cert.len) < 0 || ch_buf_put(&combined, key.data, key.len) < 0)) {
        changed = -1;
        (void)cli_fail(a, "out of memory");
        goto done;
    }
    /* All written beside their places before any takes it, or none does; then the key first:
     * a server reloading between the renames must not pair a new certificate with the old key.
     * One that cannot take its place has those that did put back: the target keeps the files it
     * had, all of them (its key beside a certificate it was not the key of). */
    {
        unsigned key_mode = t->mode ? t->mode : 0600;
        const struct {
            const char *path;
            const ch_buf *data;
            unsigned mode;
        } files[N_STAGED] = {{t->key_path, &key, key_mode},
                             {t->combined_path, &combined, key_mode},
                             {t->keystore_path, &store, key_mode},
                             {t->cert_path, &cert, t->mode ? t->mode | 0044 : 0644}};
        for (size_t i = 0; i < N_STAGED && changed >= 0; i++)
            if (files[i].path[0] && files[i].data->len > 0 &&
                (r = stage_file(a, files[i].path, files[i].data, files[i].mode, &staged[i])) != 0)
                changed = r < 0 ? r : 1;
        for (size_t i = 0; i < N_STAGED && changed >= 0; i++)
            if ((r = place_file(a, &staged[i])) != 0)
                changed = r < 0 ? r : 1;
        for (size_t i = N_STAGED; changed < 0 && i-- > 0;)
            unplace(a, &staged[i]);
    }
done:
    for (size_t i = 0; i < N_STAGED; i++)
        unstage(&staged[i]);
    ch_cert_free(leaf);
    ch_buf_dispose(&cert);
    ch_buf_dispose_secure(&key);
    ch_buf_dispose_secure(&combined);
    ch_buf_dispose_secure(&store);
    return changed;
}

/* The state file: "target<TAB>file" lines of the files the agent wrote. */
static void state_load(const char *path, struct owned *o)
{
    FILE *f = fopen(path, "r");
    char line[1500];

    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (tab == NULL)
            continue;
        *tab = '\0';
        owned_add(o, line, trim(tab + 1));
    }
    fclose(f);
}

/* The state written (its directory made if missing): without it the agent forgets what it
 * wrote, and a target removed later leaves its files behind.  -1, said, when it cannot be. */
static int state_save(cli_args *a, const char *path, const struct owned *o)
{
    char tmp[1100];
    FILE *w;
    bool ok;

    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (make_parents(a, path) != 0)
        return -1;
    if ((w = fopen(tmp, "w")) == NULL)
        return cli_fail(a, "cannot write the state file %s: %s", tmp, strerror(errno)) ? -1 : -1;
    for (size_t i = 0; i < o->n; i++)
        fprintf(w, "%s\t%s\n", o->f[i].target, o->f[i].file);
    ok = fclose(w) == 0;
    if (!ok || rename(tmp, path) != 0)
        return cli_fail(a, "cannot write the state file %s: %s", path, strerror(errno)) ? -1 : -1;
    return 0;
}

static const struct target *target_named(const struct agent *ag, const char *name)
{
    for (int i = 0; i < ag->n; i++)
        if (strcmp(ag->t[i].name, name) == 0)
            return &ag->t[i];
    return NULL;
}

/* Removes what the agent wrote before and no longer writes: the files of a target gone from
 * the configuration, and a file a target no longer names (its path changed).  Only files the
 * agent itself wrote are in the state, so a file of the machine's that a target named, and that
 * the agent never came to write, is never removed. */
static void remove_stale(const struct agent *ag, const struct owned *before, const struct owned *now)
{
    /* Files first, then the directories they were in. */
    for (int dirs = 0; dirs < 2; dirs++)
        for (size_t i = 0; i < before->n; i++) {
            const struct owned_file *e = &before->f[i];
            size_t len = strlen(e->file);
            bool dir = len > 0 && e->file[len - 1] == '/';
            const struct target *t = target_named(ag, e->target);
            char plain[1400];
            if (dir != (dirs == 1) || owned_has(now, e->target, e->file) || strcmp(e->file, RELOAD_OWED) == 0)
                continue;
            snprintf(plain, sizeof plain, "%.*s", (int)(dir ? len - 1 : len), e->file);
            if ((dir ? rmdir(plain) : unlink(plain)) != 0)
                continue;
            if (t == NULL)
                fprintf(stderr, "certhub agent: target %s is gone: removed %s (the certificate stays on the server)\n",
                        e->target, plain);
            else
                fprintf(stderr, "certhub agent: %s: removed %s, which it no longer names\n", e->target, plain);
        }
}

static int pass(cli_args *a, const struct agent *ag)
{
    struct owned before = {0}, now = {0};
    int failed = 0;

    state_load(ag->state, &before);
    g_written = &now;
    g_before = &before;
    for (int i = 0; i < ag->n; i++) {
        const struct target *t = &ag->t[i];
        int r;
        g_target = t->name;
        g_ended = false;
        r = sync_target(a, t);
        if (r >= 0 && g_ended)
            failed = 1;
        if (r < 0) {
            failed = 1;
            /* Its files stay the agent's: kept, and removed with it some day. */
            for (size_t k = 0; k < before.n; k++)
                if (strcmp(before.f[k].target, t->name) == 0)
                    owned_add(&now, t->name, before.f[k].file);
            /* Why is on the line before (certhubd's answer, or that it could not be asked). */
            fprintf(stderr, "certhub agent: %s: kept the files it has\n", t->name);
        } else if (r > 0 || owned_has(&before, t->name, RELOAD_OWED)) {
            if (r > 0)
                printf("certhub agent: %s: updated\n", t->name);
            /* A reload that failed is owed until one succeeds (the program still serves what
             * it read before): run again at the next pass, and the pass counts as failed. */
            if (t->reload[0] && system(t->reload) != 0) {
                fprintf(stderr, "certhub agent: %s: the reload command failed (tried again at the next pass): %s\n",
                        t->name, t->reload);
                owned_add(&now, t->name, RELOAD_OWED);
                failed = 1;
            }
        }
        fflush(stdout);
    }
    remove_stale(ag, &before, &now);
    if (state_save(a, ag->state, &now) != 0)
        failed = 1;
    g_written = g_before = NULL;
    free(before.f);
    free(now.f);
    return failed;
}

int cmd_agent(cli_args *a)
{
    struct agent ag;
    int rc;

    if (cli_opt(a, "config") == NULL)
        cli_usage(a, "--config FILE is required");
    if (read_config(a, cli_opt(a, "config"), &ag) != 0)
        return 1;
    g_remote.ca_file_conf = cli_opt(a, "config");
    /* The agent's CA is its config's ca_file (it takes no --ca-file): said so when certhubd's
     * certificate does not verify (its root changed: the quickstart CAs retired, say). */
    g_remote.verify_hint = "; set ca_file in the agent's config to the CA that issued certhubd's certificate "
                           "(certhubd writes its root to DATA-DIR/ca.pem; it changes when certhubd's own "
                           "certificate comes from another root)";
    if (cli_opt(a, "once"))
        return pass(a, &ag);
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        int64_t wait = ag.interval;
        g_look = 0;
        rc = pass(a, &ag);
        (void)rc;
        if (g_look != 0 && g_look - ch_now() < wait) {
            wait = g_look - ch_now() > 1 ? g_look - ch_now() : 1;
            /* (said: a pass sooner than the interval is not what the configuration shows) */
            printf("certhub agent: next pass in %lld s, when the certificate of %s is renewed\n", (long long)wait,
                   g_look_target);
            fflush(stdout);
        }
        sleep((unsigned)wait);
    }
}
