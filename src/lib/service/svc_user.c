/*
 * Users of the web console and their sessions.  Passwords are kept as scrypt hashes
 * (N=2^15, r=8, p=1, 16-byte salt); a session is a random cookie whose SHA-256 is stored,
 * with a CSRF token every change must carry.  Users belong to a tenant and have the roles
 * tokens have.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>

#include "svc_internal.h"

#define SCRYPT_N 32768u
#define SCRYPT_R 8u
#define SCRYPT_P 1u
#define SESSION_SECONDS (12 * 3600)

/* A hash takes 32 MiB (128 * r * N bytes): at most two at once, so that sign-ins arriving
 * together (anyone may ask) cannot make certhubd take 32 MiB for each of them. */
#define SCRYPT_AT_ONCE 2
static pthread_mutex_t scrypt_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t scrypt_free = PTHREAD_COND_INITIALIZER;
static int scrypt_running;

static int scrypt(unsigned char out[32], const char *password, const unsigned char *salt, size_t salt_len,
                  uint64_t n, uint64_t r, uint64_t p)
{
    int ok;

    pthread_mutex_lock(&scrypt_lock);
    while (scrypt_running >= SCRYPT_AT_ONCE)
        pthread_cond_wait(&scrypt_free, &scrypt_lock);
    scrypt_running++;
    pthread_mutex_unlock(&scrypt_lock);
    ok = EVP_PBE_scrypt(password, strlen(password), salt, salt_len, n, r, p, 64u * 1024 * 1024, out, 32) == 1;
    pthread_mutex_lock(&scrypt_lock);
    scrypt_running--;
    pthread_cond_signal(&scrypt_free);
    pthread_mutex_unlock(&scrypt_lock);
    return ok ? 0 : ch_error_ossl(CH_ECRYPTO, "EVP_PBE_scrypt", "hashing a password");
}

/* Failed sign-ins, by tenant and user name (whether or not the user exists): after
 * THROTTLE_FREE failures in a row, each attempt must wait a window, counted from the end of
 * the last failure, that doubles with every further failure (2 s, 4 s, 8 s ... up to 15
 * minutes); one inside the window is refused at once, without hashing.  A success clears the
 * count.  Kept in memory (times in milliseconds of the monotonic clock), in a table of a few
 * thousand names where an entry not holding anyone back gives way first, then the oldest: a
 * restart forgets it.  Names are placed by a hash keyed with a secret of this process: with
 * a known hash, failures for names made to fall on a user's slots evicted that user's count
 * and let guessing go on. */
#define THROTTLE_FREE 5
#define THROTTLE_SLOTS 4096
#define THROTTLE_FIRST_MS 2000
#define THROTTLE_MAX_MS (15 * 60 * 1000)

static struct throttle {
    uint64_t key; /* a hash of tenant and name; 0: free */
    unsigned failures;
    int64_t until, last;
} throttles[THROTTLE_SLOTS];
static pthread_mutex_t throttle_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned char throttle_secret[32];
static pthread_once_t throttle_once = PTHREAD_ONCE_INIT;

static void throttle_secret_make(void)
{
    if (ch_random(throttle_secret, sizeof throttle_secret) < 0) /* (no randomness: the process does not get far) */
        ch_error_clear();
}

static uint64_t throttle_key(const char *tenant, const char *user)
{
    unsigned char h[32];
    unsigned int hl = sizeof h;
    char both[600];
    uint64_t k = 0;

    pthread_once(&throttle_once, throttle_secret_make);
    snprintf(both, sizeof both, "%s\n%s", tenant, user);
    (void)HMAC(EVP_sha256(), throttle_secret, sizeof throttle_secret, (const unsigned char *)both, strlen(both), h, &hl);
    memcpy(&k, h, sizeof k);
    return k ? k : 1;
}

/* The slot of key, or the one it may take: a free one, else the least recently used of those
 * holding nobody back (their window over), else the least recently used. */
static struct throttle *throttle_slot(uint64_t key, int64_t now)
{
    struct throttle *idle = NULL, *oldest = NULL;

    for (size_t i = 0; i < 8; i++) {
        struct throttle *t = &throttles[(key + i) % THROTTLE_SLOTS];
        if (t->key == key)
            return t;
        if (t->key == 0)
            return t;
        if (t->until <= now && (idle == NULL || t->last < idle->last))
            idle = t;
        if (oldest == NULL || t->last < oldest->last)
            oldest = t;
    }
    return idle ? idle : oldest;
}

/* Milliseconds until key may try again (0: now). */
static int64_t throttle_wait(uint64_t key, int64_t now)
{
    struct throttle *t;
    int64_t wait = 0;

    pthread_mutex_lock(&throttle_lock);
    t = throttle_slot(key, now);
    if (t->key == key && t->until > now)
        wait = t->until - now;
    pthread_mutex_unlock(&throttle_lock);
    return wait;
}

static void throttle_note(uint64_t key, bool ok, int64_t now)
{
    struct throttle *t;

    pthread_mutex_lock(&throttle_lock);
    t = throttle_slot(key, now);
    if (t->key != key)
        *t = (struct throttle){.key = key};
    t->last = now;
    if (ok) {
        t->failures = 0;
        t->until = 0;
    } else if (++t->failures >= THROTTLE_FREE) {
        unsigned shift = t->failures - THROTTLE_FREE;
        int64_t window = shift >= 10 ? THROTTLE_MAX_MS : (int64_t)THROTTLE_FIRST_MS << shift;
        t->until = now + (window < THROTTLE_MAX_MS ? window : THROTTLE_MAX_MS);
    }
    pthread_mutex_unlock(&throttle_lock);
}

int svc_password_hash(char **out, const char *password)
{
    unsigned char salt[16], key[32];
    char salt_hex[33], key_hex[65];
    int error;

    *out = NULL;
    if (password == NULL || strlen(password) < 8 || strlen(password) > CH_MAX_PASSWORD_LEN)
        return ch_error_set_field(CH_EINVAL, "password", "a password is 8 to %u characters", CH_MAX_PASSWORD_LEN);
    if ((error = ch_random(salt, sizeof salt)) < 0 ||
        (error = scrypt(key, password, salt, sizeof salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)) < 0)
        return error;
    ch_hex(salt_hex, salt, sizeof salt);
    ch_hex(key_hex, key, sizeof key);
    ch_wipe(key, sizeof key);
    if ((*out = malloc(128)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    snprintf(*out, 128, "scrypt$%u$%u$%u$%s$%s", SCRYPT_N, SCRYPT_R, SCRYPT_P, salt_hex, key_hex);
    return 0;
}

/* true when password matches the stored hash (constant-time comparison). */
static bool password_ok(const char *stored, const char *password)
{
    unsigned long long n, r, p;
    char salt_hex[65], key_hex[129];
    unsigned char salt[32], want[64], got[32];
    size_t salt_len, want_len;
    bool ok;

    if (stored == NULL || password == NULL ||
        sscanf(stored, "scrypt$%llu$%llu$%llu$%64[0-9a-f]$%128[0-9a-f]", &n, &r, &p, salt_hex, key_hex) != 5 ||
        ch_unhex(salt, sizeof salt, salt_hex, &salt_len) < 0 || ch_unhex(want, sizeof want, key_hex, &want_len) < 0 ||
        want_len != 32 || n > (1u << 20) || r > 16 || p > 4)
        return false;
    if (scrypt(got, password, salt, salt_len, n, r, p) < 0)
        return false;
    ok = CRYPTO_memcmp(got, want, 32) == 0;
    ch_wipe(got, sizeof got);
    return ok;
}

/* A hash of a random password, made once: what a name that does not exist is checked
 * against. */
static char *dummy;
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void dummy_make(void)
{
    unsigned char r[16];
    char pw[33];

    if (ch_random(r, sizeof r) == 0) {
        ch_hex(pw, r, sizeof r);
        (void)svc_password_hash(&dummy, pw);
    }
}

static const char *dummy_hash(void)
{
    pthread_once(&dummy_once, dummy_make);
    return dummy;
}

struct user_tx {
    ch_svc *svc;
    const ch_actor *actor;
    ch_store_user *u;
};

static int user_tx_run(void *arg)
{
    struct user_tx *t = arg;
    int error = ch_store_user_put(t->svc->store, t->u);

    if (error == CH_EEXISTS)
        return ch_error_set_field(CH_EEXISTS, "name", "the tenant already has a user named %s", t->u->name);
    return error < 0 ? error : svc_audit(t->svc, t->actor, "user.create", "user", t->u->id, NULL);
}

int ch_svc_user_create(ch_svc *svc, const ch_actor *actor, const char *name, ch_role role, const char *password)
{
    ch_store_user u = {0};
    char id[CH_ID_MAX], *hash = NULL;
    struct user_tx t;
    int error;

    if ((error = svc_need(actor, CH_ROLE_ADMIN, "creating a user")) < 0)
        return error;
    if (name == NULL || *name == '\0' || strpbrk(name, "/:\\ \t\r\n") != NULL)
        return ch_error_set_field(CH_EINVAL, "name", "a user name is 1 to 64 characters without spaces, '/' or ':'");
    if ((error = svc_check_name(name, 64)) < 0)
        return error;
    if ((error = svc_password_hash(&hash, password)) < 0)
        return error;
    ch_store_new_id(id, "usr_");
    u = (ch_store_user){id, (char *)actor->tenant_id, (char *)name, (char *)ch_role_name(role), hash, ch_now()};
    t = (struct user_tx){svc, actor, &u};
    error = svc_commit(svc, user_tx_run, &t);
    ch_secure_free_str(hash);
    return error;
}

int ch_svc_user_list(ch_svc *svc, const ch_actor *actor, ch_store_user **out, size_t *count)
{
    int error;

    *out = NULL;
    *count = 0;
    if ((error = svc_need(actor, CH_ROLE_ADMIN, "listing users")) < 0)
        return error;
    return ch_store_user_list(svc->store, actor->tenant_id, out, count);
}

/* Whether the actor is this user, signed in to the console.  By id: an installation admin
 * acting in another tenant may meet a user there with its own name. */
static bool actor_is(const ch_actor *actor, const ch_store_user *u)
{
    return actor->user_id != NULL && strcmp(actor->user_id, u->id) == 0;
}

struct user_change_tx {
    ch_svc *svc;
    const ch_actor *actor;
    const ch_store_user *u;
    const char *role, *hash; /* NULL: kept */
    bool remove;
    int tokens_revoked;      /* out */
};

static int user_change_tx_run(void *arg)
{
    struct user_change_tx *t = arg;
    ch_store *st = t->svc->store;
    char detail[96], revoked[32] = "";
    ch_role role;
    int error = 0;

    /* The tokens a person made for themselves end with their place: deleted, all of them;
     * demoted, those above the new role (made while it was higher).  In the same transaction,
     * so no moment has the user gone and its tokens still working. */
    t->tokens_revoked = 0;
    if (t->remove) {
        if ((error = svc_tokens_end_for_user(t->svc, t->actor, t->u, 0, "user_deleted", &t->tokens_revoked)) < 0 ||
            (error = ch_store_user_delete(st, t->u->tenant_id, t->u->id)) < 0)
            return error;
        snprintf(detail, sizeof detail, "{\"tokens_revoked\":%d}", t->tokens_revoked);
        return svc_audit(t->svc, t->actor, "user.delete", "user", t->u->id, detail);
    }
    if (t->role != NULL && (error = ch_store_user_set_role(st, t->u->tenant_id, t->u->id, t->role)) < 0)
        return error;
    if (t->role != NULL && ch_role_parse(&role, t->role) == 0 &&
        (error = svc_tokens_end_for_user(t->svc, t->actor, t->u, role, "user_role_lowered", &t->tokens_revoked)) < 0)
        return error;
    if (t->tokens_revoked > 0)
        snprintf(revoked, sizeof revoked, ",\"tokens_revoked\":%d", t->tokens_revoked);
    if (t->hash != NULL && (error = ch_store_user_set_password(st, t->u->tenant_id, t->u->id, t->hash)) < 0)
        return error;
    if ((error = ch_store_session_delete_user(st, t->u->id, NULL)) < 0)
        return error;
    /* What changed, never the password. */
    snprintf(detail, sizeof detail, "{%s%s%s%s%s%s}", t->role ? "\"role\":\"" : "", t->role ? t->role : "",
             t->role ? "\"" : "", t->role && t->hash ? "," : "", t->hash ? "\"password\":\"(set)\"" : "", revoked);
    return svc_audit(t->svc, t->actor, "user.update", "user", t->u->id, detail);
}

/* DATA_DIR/admin-password, the first start's password of the default tenant's "admin": kept
 * only until that password is changed (by the user, or reset by another admin), so that while
 * it is there admin still signs in with the password it holds. */
static void first_password_path(ch_svc *svc, char *path, size_t size)
{
    snprintf(path, size, "%s/admin-password", svc->data_dir);
}

/* Whether user_name of the tenant named tenant_name is the one the first start made. */
static bool first_password_of(const char *tenant_name, const char *user_name)
{
    return strcmp(user_name, "admin") == 0 && strcmp(tenant_name, "default") == 0;
}

/* The same of a tenant known by its id (read only when the user is "admin"). */
static bool first_password_user(ch_svc *svc, const char *tenant_id, const char *user_name)
{
    ch_store_tenant t = {0};
    bool first = strcmp(user_name, "admin") == 0 && ch_store_tenant_get(svc->store, &t, tenant_id) == 0 &&
                 first_password_of(t.name, user_name);

    ch_store_tenant_dispose(&t);
    return first;
}

static void first_password_forget(ch_svc *svc)
{
    char path[4200];

    first_password_path(svc, path, sizeof path);
    (void)unlink(path);
}

bool ch_svc_first_password(ch_svc *svc, const ch_svc_principal *who)
{
    char path[4200];

    if (who->user_id[0] == '\0' || !first_password_user(svc, who->home_tenant_id, who->user_name))
        return false;
    first_password_path(svc, path, sizeof path);
    return access(path, F_OK) == 0;
}

static int user_change(ch_svc *svc, const ch_actor *actor, const char *name, const ch_role *role,
                       const char *password, bool remove, int *tokens_revoked)
{
    ch_store_user u = {0};
    char *hash = NULL;
    struct user_change_tx t;
    int error;

    if (tokens_revoked != NULL)
        *tokens_revoked = 0;
    if ((error = svc_need(actor, CH_ROLE_ADMIN, remove ? "removing a user" : "changing a user")) < 0)
        return error;
    if (!remove && role == NULL && password == NULL)
        return ch_error_set(CH_EINVAL, "nothing to change: give role or password");
    if ((error = ch_store_user_get_by_name(svc->store, &u, actor->tenant_id, name)) < 0)
        return error == CH_ENOTFOUND ? ch_error_set(CH_ENOTFOUND, "no such user") : error;
    if (actor_is(actor, &u) && (remove || role != NULL)) {
        error = ch_error_set(CH_ECONFLICT, "you cannot %s the user you are signed in as: another admin can",
                             remove ? "remove" : "change the role of");
        goto done;
    }
    if (password != NULL && (error = svc_password_hash(&hash, password)) < 0) {
        ch_error_set_field(error, "password", "%s", ch_error_last());
        goto done;
    }
    t = (struct user_change_tx){svc, actor, &u, role ? ch_role_name(*role) : NULL, hash, remove, 0};
    if ((error = svc_commit(svc, user_change_tx_run, &t)) < 0)
        goto done;
    if (t.tokens_revoked > 0)
        svc_tokens_forget(svc);
    if (tokens_revoked != NULL)
        *tokens_revoked = t.tokens_revoked;
    if ((hash != NULL || remove) && first_password_user(svc, actor->tenant_id, u.name))
        first_password_forget(svc);
done:
    ch_secure_free_str(hash);
    ch_store_user_dispose(&u);
    return error;
}

int ch_svc_user_update(ch_svc *svc, const ch_actor *actor, const char *name, const ch_role *role,
                       const char *password, int *tokens_revoked)
{
    return user_change(svc, actor, name, role, password, false, tokens_revoked);
}

int ch_svc_user_delete(ch_svc *svc, const ch_actor *actor, const char *name, int *tokens_revoked)
{
    return user_change(svc, actor, name, NULL, NULL, true, tokens_revoked);
}

int ch_svc_user_bootstrap(ch_svc *svc, const char *tenant_id, const char *file, char **password)
{
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    ch_actor system = {tenant_id, "system:bootstrap", CH_ROLE_ADMIN, 0, NULL, NULL};
    unsigned char raw[20];
    char *pw;
    int64_t n = 0;
    int error;

    *password = NULL;
    if ((error = ch_store_user_count(svc->store, tenant_id, &n)) < 0 || n > 0)
        return error;
    if ((error = ch_random(raw, sizeof raw)) < 0)
        return error;
    if ((pw = malloc(sizeof raw + 1)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    for (size_t i = 0; i < sizeof raw; i++)
        pw[i] = alphabet[raw[i] % (sizeof alphabet - 1)];
    pw[sizeof raw] = '\0';
    ch_wipe(raw, sizeof raw);
    /* In its file before the user is stored (as the first token): never a user whose password
     * nobody was given. */
    if ((file != NULL && (error = ch_file_write_atomic(file, pw, strlen(pw), 0600)) < 0) ||
        (error = ch_svc_user_create(svc, &system, "admin", CH_ROLE_ADMIN, pw)) < 0) {
        ch_secure_free_str(pw);
        return error;
    }
    *password = pw;
    return 0;
}

static void sha256_hex(char out[65], const char *s)
{
    unsigned char md[32];

    EVP_Digest(s, strlen(s), md, NULL, EVP_sha256(), NULL);
    ch_hex(out, md, sizeof md);
}

static int random_token(char **out, const char *prefix)
{
    unsigned char raw[32];
    char hex[65];
    int error;

    *out = NULL;
    if ((error = ch_random(raw, sizeof raw)) < 0)
        return error;
    ch_hex(hex, raw, sizeof raw);
    ch_wipe(raw, sizeof raw);
    if ((*out = malloc(strlen(prefix) + sizeof hex)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    snprintf(*out, strlen(prefix) + sizeof hex, "%s%s", prefix, hex);
    ch_wipe(hex, sizeof hex);
    return 0;
}

int ch_svc_login(ch_svc *svc, const char *tenant, const char *user, const char *password, ch_svc_session *out)
{
    ch_store_tenant t = {0};
    ch_store_user u = {0};
    ch_store_session x = {0};
    int error;
    uint64_t key = throttle_key(tenant ? tenant : "default", user ? user : "");
    int64_t wait;
    bool found;

    memset(out, 0, sizeof *out);
    if ((wait = throttle_wait(key, svc_mono_ms())) > 0) {
        out->retry_after = (int)((wait + 999) / 1000);
        return ch_error_set(CH_EBUSY, "too many failed sign-ins for this user: try again in %d s", out->retry_after);
    }
    /* One answer for every failure, and one time: a name that does not exist is checked
     * against a hash all the same, so names cannot be probed by the answer or its delay. */
    found = ch_store_tenant_get_by_name(svc->store, &t, tenant ? tenant : "default") == 0 && t.disabled_at == 0 &&
            ch_store_user_get_by_name(svc->store, &u, t.id, user ? user : "") == 0;
    if (!password_ok(found ? u.password_hash : dummy_hash(), password) || !found) {
        throttle_note(key, false, svc_mono_ms());
        error = ch_error_set(CH_EAUTH, "wrong user name or password");
        goto done;
    }
    throttle_note(key, true, svc_mono_ms());
    if ((error = random_token(&out->token, "chs_")) < 0 || (error = random_token(&out->csrf, "")) < 0)
        goto done;
    sha256_hex(x.token_hash, out->token);
    x.user_id = u.id;
    x.tenant_id = u.tenant_id;
    x.role = u.role;
    x.user_name = u.name;
    x.csrf = out->csrf;
    x.created_at = ch_now();
    x.expires_at = x.created_at + SESSION_SECONDS;
    if ((error = ch_store_session_put(svc->store, &x)) < 0)
        goto done;
    snprintf(out->tenant_id, sizeof out->tenant_id, "%s", u.tenant_id);
    snprintf(out->tenant, sizeof out->tenant, "%s", t.name);
    snprintf(out->user, sizeof out->user, "%s", u.name);
    (void)ch_role_parse(&out->role, u.role);
    out->expires_at = x.expires_at;
done:
    if (error < 0) {
        ch_secure_free_str(out->token);
        ch_secure_free_str(out->csrf);
        out->token = out->csrf = NULL;
    }
    ch_store_user_dispose(&u);
    ch_store_tenant_dispose(&t);
    return error;
}

int ch_svc_session_authenticate(ch_svc *svc, const char *token, ch_svc_principal *who, char csrf[65])
{
    ch_store_session x;
    ch_role role;
    char hash[65];

    memset(who, 0, sizeof *who);
    csrf[0] = '\0';
    if (token == NULL || strlen(token) != 68 || strncmp(token, "chs_", 4) != 0)
        return ch_error_set(CH_EAUTH, "not signed in");
    sha256_hex(hash, token);
    if (ch_store_session_get(svc->store, &x, hash) < 0)
        return ch_error_set(CH_EAUTH, "the session has ended: sign in again");
    if (CRYPTO_memcmp(x.token_hash, hash, 64) != 0 || x.expires_at <= ch_now() || ch_role_parse(&role, x.role) < 0) {
        ch_store_session_dispose(&x);
        return ch_error_set(CH_EAUTH, "the session has ended: sign in again");
    }
    snprintf(who->tenant_id, sizeof who->tenant_id, "%s", x.acting_tenant_id ? x.acting_tenant_id : x.tenant_id);
    /* Acting in another tenant, the audit there names the installation's user as such: its
     * name alone was that tenant's own user of the same name. */
    if (x.acting_tenant_id != NULL && strcmp(x.acting_tenant_id, x.tenant_id) != 0)
        snprintf(who->name, sizeof who->name, "default/user:%.128s", x.user_name);
    else
        snprintf(who->name, sizeof who->name, "user:%.128s", x.user_name);
    snprintf(who->user_id, sizeof who->user_id, "%s", x.user_id);
    snprintf(who->user_name, sizeof who->user_name, "%s", x.user_name);
    snprintf(who->home_tenant_id, sizeof who->home_tenant_id, "%s", x.tenant_id);
    who->actor.tenant_id = who->tenant_id;
    who->actor.name = who->name;
    who->actor.user_id = who->user_id;
    who->actor.role = role;
    who->actor.perms = role == CH_ROLE_ADMIN ? CH_PERM_KEYS_EXPORT : 0;
    /* Admins of the default tenant run the installation (as their tokens do). */
    if (role == CH_ROLE_ADMIN && svc_is_system_tenant(svc, x.tenant_id))
        who->actor.perms |= CH_PERM_TENANTS;
    who->expires_at = x.expires_at;
    snprintf(csrf, 65, "%s", x.csrf);
    ch_store_session_dispose(&x);
    return 0;
}

int ch_svc_session_switch(ch_svc *svc, const char *token, const ch_svc_principal *who, const char *tenant)
{
    ch_store_tenant t;
    char hash[65];
    int error;

    if (!(who->actor.perms & CH_PERM_TENANTS))
        return ch_error_set_field(CH_EPERM, "tenant", "only admins of the default tenant switch tenants");
    if (tenant == NULL || ch_store_tenant_get_by_name(svc->store, &t, tenant) < 0)
        return ch_error_set_field(CH_ENOTFOUND, "tenant", "no such tenant");
    if (t.disabled_at != 0) {
        ch_store_tenant_dispose(&t);
        return ch_error_set_field(CH_ECONFLICT, "tenant", "the tenant is revoked");
    }
    sha256_hex(hash, token);
    error = ch_store_session_act_as(svc->store, hash, t.id);
    ch_store_tenant_dispose(&t);
    return error;
}

struct password_tx {
    ch_svc *svc;
    const ch_actor *actor;
    const ch_store_user *u;
    const char *hash, *keep;
};

static int password_tx_run(void *arg)
{
    struct password_tx *t = arg;
    int error = ch_store_user_set_password(t->svc->store, t->u->tenant_id, t->u->id, t->hash);

    /* Whoever else had signed in as this user with the old password is signed out. */
    if (error == 0)
        error = ch_store_session_delete_user(t->svc->store, t->u->id, t->keep);
    return error < 0 ? error : svc_audit(t->svc, t->actor, "user.password", "user", t->u->id, NULL);
}

int ch_svc_password_change(ch_svc *svc, const ch_svc_principal *who, const char *current, const char *fresh,
                           const char *session)
{
    struct password_tx tx;
    ch_store_tenant t = {0};
    ch_store_user u = {0};
    ch_actor home = who->actor;
    char *hash = NULL, keep[65], name[160];
    int error;

    if (who->user_id[0] == '\0')
        return ch_error_set(CH_EINVAL, "only a signed-in console user has a password");
    /* The user's home tenant is the one it signed in to, whichever it acts in now (an
     * installation admin switched to another tenant changed that tenant's user of the same
     * name): the user is looked up, and the change audited, there. */
    snprintf(name, sizeof name, "user:%s", who->user_name);
    home.tenant_id = who->home_tenant_id;
    home.name = name;
    if ((error = svc_need(&home, CH_ROLE_VIEWER, "changing a password")) < 0)
        return error;
    if (ch_store_tenant_get(svc->store, &t, who->home_tenant_id) < 0 ||
        ch_store_user_get_by_name(svc->store, &u, t.id, who->user_name) < 0 || strcmp(u.id, who->user_id) != 0 ||
        !password_ok(u.password_hash, current)) {
        error = ch_error_set_field(CH_EAUTH, "current_password", "the current password is wrong");
        goto done;
    }
    if ((error = svc_password_hash(&hash, fresh)) < 0) {
        ch_error_set_field(error, "new_password", "%s", ch_error_last());
        goto done;
    }
    if (session != NULL)
        sha256_hex(keep, session);
    tx = (struct password_tx){svc, &home, &u, hash, session ? keep : NULL};
    if ((error = svc_commit(svc, password_tx_run, &tx)) < 0)
        goto done;
    if (first_password_of(t.name, u.name))
        first_password_forget(svc);
done:
    ch_secure_free_str(hash);
    ch_store_user_dispose(&u);
    ch_store_tenant_dispose(&t);
    return error;
}

int ch_svc_logout(ch_svc *svc, const char *token)
{
    char hash[65];

    if (token == NULL)
        return 0;
    sha256_hex(hash, token);
    return ch_store_session_delete(svc->store, hash);
}

void ch_svc_session_dispose(ch_svc_session *s)
{
    ch_secure_free_str(s->token);
    ch_secure_free_str(s->csrf);
    memset(s, 0, sizeof *s);
}
