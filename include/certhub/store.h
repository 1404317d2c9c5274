/*
 * The store: one interface over the database back ends (SQLite by default; PostgreSQL later).
 * It knows rows, not rules: the service layer decides what may be stored and seals private
 * keys before they arrive here, so the store never sees a key in clear.
 *
 * Every row carries its tenant, and every call that reads a row takes the tenant: a row of
 * another tenant is CH_ENOTFOUND, and lists never show it.
 *
 * Threads: a ch_store may be used from many threads at once; each thread gets its own
 * connection.  ch_store_begin/commit/rollback group calls of the calling thread into one
 * transaction; outside one, each write is committed before it returns.
 *
 * Rows handed back are owned by the caller: release with the matching _dispose (or
 * ch_store_*_list_free for arrays).  Strings are UTF-8, NUL-terminated.
 */
#ifndef CERTHUB_STORE_H
#define CERTHUB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certhub/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ch_store ch_store;

/* How much a commit survives. */
typedef enum {
    CH_DURABLE_PROCESS = 0, /* a crash or SIGKILL of the process (default) */
    CH_DURABLE_POWER = 1,   /* power loss: every commit is fsynced */
} ch_durability;

typedef struct ch_store_opts {
    const char *url;          /* "sqlite:PATH" or a plain PATH (later "postgres://...") */
    ch_durability durability;
    int busy_ms;              /* how long a write waits for another process's (0: 10 s) */
} ch_store_opts;

/* Opens (creating if needed) and migrates the store. */
int ch_store_open(ch_store **out, const ch_store_opts *opts);
void ch_store_close(ch_store *store);
/* Whether the store's file is no longer the one opened (moved away, or another put in its
 * place: a restore done under a running certhubd, whose connections write on to the old one
 * while new ones read the new). */
bool ch_store_replaced(ch_store *store);
/* Closes the calling thread's connection, if it has one and no transaction is open on it; the
 * next use opens another.  For threads that use the store rarely (start-up, the scheduler):
 * an idle connection holds its schema and cache in memory. */
void ch_store_thread_release(ch_store *store);
/* The store has been idle a while: closes the writer's connection (if no transaction holds
 * it; the next one opens another), giving back its schema, statements and cache. */
void ch_store_idle(ch_store *store);

/* The schema version the store is at (migrations applied). */
int ch_store_schema_version(ch_store *store);
/* Writes a consistent copy of the whole store to path (a new file), while others go on
 * reading and writing: one read snapshot, compacted.  CH_EEXISTS when path exists. */
int ch_store_backup(ch_store *store, const char *path);

int ch_store_begin(ch_store *store) CH_WARN_UNUSED;
int ch_store_commit(ch_store *store) CH_WARN_UNUSED;
void ch_store_rollback(ch_store *store);

/* Savepoints inside a transaction: a part that fails can be undone alone (group commit runs
 * the writes of several requests in one transaction, each in its own savepoint). */
int ch_store_savepoint(ch_store *store) CH_WARN_UNUSED;
int ch_store_savepoint_release(ch_store *store) CH_WARN_UNUSED;
void ch_store_savepoint_rollback(ch_store *store);

#define CH_ID_MAX 48
/* A new opaque id: prefix + 24 random hex digits ("crt_3f9c..."). */
void ch_store_new_id(char out[CH_ID_MAX], const char *prefix);

/* ------------------------------------------------------------- tenants */

/* One page of a list, in the list's order: at most limit rows (1 to 1000) after cursor (NULL
 * or "": from the start).  next_cursor is set (malloc'd; the caller frees it) when more rows
 * follow, else NULL.  A list function given no page returns every row. */
typedef struct ch_store_page {
    size_t limit;
    const char *cursor;
    char *next_cursor;
} ch_store_page;

typedef struct ch_store_tenant {
    char *id;
    char *name;
    int64_t created_at;
    int64_t disabled_at;   /* 0: active */
} ch_store_tenant;

int ch_store_tenant_put(ch_store *s, const ch_store_tenant *t);  /* CH_EEXISTS on a taken name */
int ch_store_tenant_get(ch_store *s, ch_store_tenant *out, const char *id);
int ch_store_tenant_get_by_name(ch_store *s, ch_store_tenant *out, const char *name);
/* Revokes the tenant at time at: marks it, revokes its tokens and ends its console sessions
 * (in the caller's transaction).  CH_ENOTFOUND when it is unknown or already revoked. */
int ch_store_tenant_disable(ch_store *s, const char *id, int64_t at);
/* Lets a revoked tenant in again (its revoked tokens stay revoked).  CH_ENOTFOUND when it is
 * unknown or not revoked. */
int ch_store_tenant_restore(ch_store *s, const char *id);
int ch_store_tenant_list(ch_store *s, ch_store_tenant **out, size_t *count);
void ch_store_tenant_dispose(ch_store_tenant *t);
void ch_store_tenant_list_free(ch_store_tenant *list, size_t count);
/* A tenant's settings as a JSON object ("{}" when none were set); free() the text. */
int ch_store_tenant_settings_get(ch_store *s, const char *tenant_id, char **json);
int ch_store_tenant_settings_put(ch_store *s, const char *tenant_id, const char *json);

/* ------------------------------------------------------------- API tokens */

typedef struct ch_store_token {
    char *id;
    char *tenant_id;
    char *role;             /* admin | operator | viewer */
    char *name;
    char token_hash[65];    /* SHA-256 hex of the token: the token itself is never stored */
    int64_t created_at;
    int64_t revoked_at;     /* 0 while valid */
    char *scope;            /* {"objects":[...],"keys_export":bool} or NULL: the whole tenant */
    int64_t expires_at;     /* 0: never; else refused from that time on */
    char *created_by;       /* who made it: a console user's id (usr_...) or a token's (tok_...);
                             * NULL: made at first start, or before makers were recorded */
    char *owner_user_id;    /* the console user it goes back to (its maker, or the owner of the
                             * token that made it), or NULL: ended when that user is deleted or
                             * demoted below its role.  Stored from the token made by a token
                             * when left NULL on put */
    char *created_by_name;  /* read only: the maker's user name while that user exists
                             * ("TENANT/NAME" for a user of another tenant), else NULL */
} ch_store_token;

int ch_store_token_put(ch_store *s, const ch_store_token *t);
/* The token whose hash this is, to authenticate with: its maker (created_by, owner_user_id,
 * created_by_name) is left NULL, as lists read it. */
int ch_store_token_get_by_hash(ch_store *s, ch_store_token *out, const char *token_hash);
/* The tenant's tokens that let one in at now: neither revoked nor expired. */
int ch_store_token_count(ch_store *s, const char *tenant_id, int64_t now, int64_t *count);
void ch_store_token_dispose(ch_store_token *t);
/* A tenant's tokens, oldest first (token_hash left empty): a page of them, or all when page is
 * NULL. */
int ch_store_token_list(ch_store *s, const char *tenant_id, ch_store_page *page, ch_store_token **out, size_t *count);
void ch_store_token_list_free(ch_store_token *list, size_t count);
/* The tenant a token belongs to (for the installation's admins, who act across tenants). */
int ch_store_token_tenant(ch_store *s, const char *id, char tenant_id[CH_ID_MAX]);
/* Marks a token revoked; CH_ENOTFOUND when the tenant has no such token still active. */
int ch_store_token_revoke(ch_store *s, const char *tenant_id, const char *id, int64_t at);
/* The tenant's tokens, neither revoked nor alerted yet, that end within days of now but were
 * made to live longer than that (one made for less knows its end: alerting it at its start is
 * noise), soonest first, at most max; freed with ch_store_token_list_free. */
int ch_store_token_alerts_due(ch_store *s, const char *tenant_id, int64_t now, int days, size_t max,
                              ch_store_token **out, size_t *count);
/* Records that every webhook took the alert of a token near its end: it is not sent again. */
int ch_store_token_alerted(ch_store *s, const char *tenant_id, const char *id, int64_t at);
/* Whether webhook took the alert of the token, and that it did. */
int ch_store_token_alert_delivered(ch_store *s, const char *tenant_id, const char *id, const char *webhook,
                                   bool *done);
int ch_store_token_alert_delivery(ch_store *s, const char *tenant_id, const char *id, const char *webhook, int64_t at);
/* Every tenant's tokens revoked or expired before `before`, oldest first, at most max. */
int ch_store_tokens_ended(ch_store *s, int64_t before, size_t max, ch_store_token **out, size_t *count);
/* The tokens going back to a console user (owner_user_id), every tenant's, that let one in at
 * now (neither revoked nor expired), oldest first; freed with ch_store_token_list_free. */
int ch_store_tokens_of_owner(ch_store *s, const char *user_id, int64_t now, ch_store_token **out, size_t *count);
/* The tenant's tokens that let one in at now made by the token id, by a token it made, and so on
 * (through tokens that have ended since), id itself left out, oldest first; tokens of other
 * tenants are not followed.  Freed with ch_store_token_list_free. */
int ch_store_tokens_made_from(ch_store *s, const char *tenant_id, const char *id, int64_t now, ch_store_token **out,
                              size_t *count);
/* Deletes a token's row and its alert deliveries (the audit log keeps what was done with it);
 * CH_ECONFLICT when there is no such row. */
int ch_store_token_delete(ch_store *s, const char *tenant_id, const char *id);

/* ------------------------------------------------------------- trusted certificates */

/* A CA certificate a tenant trusts for device authentication (the IoT seed). */
typedef struct ch_store_trusted {
    char *id;
    char *tenant_id;
    char *name;
    uint8_t *der;
    size_t der_len;
    char sha256[65];        /* unique per tenant */
    char *subject, *issuer, *serial;
    int64_t not_before, not_after;
    bool auto_registration;
    char *status;           /* enabled | disabled */
    bool verified;          /* proof of possession given */
    char *verification_code; /* handed out for the proof, or NULL */
    bool issuer_list;       /* in the issuer list: helps build chains, authenticates nothing */
    int64_t created_at, updated_at;
} ch_store_trusted;

int ch_store_trusted_put(ch_store *s, const ch_store_trusted *t); /* CH_EEXISTS: same sha256 */
int ch_store_trusted_get(ch_store *s, ch_store_trusted *out, const char *tenant_id, const char *id);
/* A tenant's trusted certificates, oldest first: a page (of one list, "trust" or "issuer", when
 * list_kind is not NULL), or all when page is NULL. */
int ch_store_trusted_list(ch_store *s, const char *tenant_id, const char *list_kind, ch_store_page *page,
                          ch_store_trusted **out, size_t *count);
/* Writes name, auto_registration, status, verified, verification_code, updated_at and the list. */
int ch_store_trusted_update(ch_store *s, const ch_store_trusted *t);
int ch_store_trusted_delete(ch_store *s, const char *tenant_id, const char *id);
/* Whether the tenant has a disabled trusted certificate (false too when the store cannot say). */
bool ch_store_trusted_any_disabled(ch_store *s, const char *tenant_id);
/* Records the SANs of the certificates stored before they were recorded (schema 20), each read
 * by sans_of from its DER (*sans NULL for none): at open, before anything reads them. */
int ch_store_sans_backfill(ch_store *s, int (*sans_of)(const uint8_t *der, size_t len, char **sans));
/* The tenants (not disabled) with an enabled trusted certificate of the trust list, or
 * (disabled) with a disabled one of either list: at most max, by id. */
int ch_store_trusted_tenants(ch_store *s, bool disabled, char (*ids)[CH_ID_MAX], size_t max, size_t *count);
void ch_store_trusted_dispose(ch_store_trusted *t);
void ch_store_trusted_list_free(ch_store_trusted *list, size_t count);

/* ------------------------------------------------------------- users and sessions */

typedef struct ch_store_user {
    char *id, *tenant_id, *name, *role;
    char *password_hash;    /* "scrypt$N$r$p$salt$hash", hex */
    int64_t created_at;
} ch_store_user;

int ch_store_user_put(ch_store *s, const ch_store_user *u); /* CH_EEXISTS: the name is taken */
int ch_store_user_get_by_name(ch_store *s, ch_store_user *out, const char *tenant_id, const char *name);
int ch_store_user_count(ch_store *s, const char *tenant_id, int64_t *count);
int ch_store_user_set_password(ch_store *s, const char *tenant_id, const char *id, const char *hash);
/* A tenant's users by name, without their password hashes. */
int ch_store_user_list(ch_store *s, const char *tenant_id, ch_store_user **out, size_t *count);
void ch_store_user_list_free(ch_store_user *list, size_t count);
int ch_store_user_set_role(ch_store *s, const char *tenant_id, const char *id, const char *role);
/* Removes a user and its sessions. */
int ch_store_user_delete(ch_store *s, const char *tenant_id, const char *id);
/* Ends a user's sessions but the one whose hash is keep_hash (NULL: all). */
int ch_store_session_delete_user(ch_store *s, const char *user_id, const char *keep_hash);
void ch_store_user_dispose(ch_store_user *u);

/* A console session: the cookie itself is never stored, only its SHA-256. */
typedef struct ch_store_session {
    char token_hash[65];
    char *user_id, *tenant_id, *role, *user_name;
    char *csrf;             /* the token every change must carry (X-CSRF-Token) */
    int64_t created_at, expires_at;
    char *acting_tenant_id; /* the tenant an installation admin switched to, or NULL */
} ch_store_session;
int ch_store_session_act_as(ch_store *s, const char *token_hash, const char *tenant_id);

int ch_store_session_put(ch_store *s, const ch_store_session *x);
int ch_store_session_get(ch_store *s, ch_store_session *out, const char *token_hash);
int ch_store_session_delete(ch_store *s, const char *token_hash);
void ch_store_session_dispose(ch_store_session *x);

/* ------------------------------------------------------------- devices */

/* A device registered through a trusted certificate (found by its certificate's SHA-256). */
typedef struct ch_store_device {
    char *id;
    char *tenant_id;
    char *device_id;        /* the certificate's CN */
    char cert_sha256[65];
    int64_t cert_not_after;
    char *trusted_id;       /* the trusted certificate it chained to */
    int64_t registered_at, last_seen;
    char *status;           /* active | blocked */
    char *client_id;        /* the MQTT client id it last connected with (NULL: none yet); one device's */
} ch_store_device;

int ch_store_device_put(ch_store *s, const ch_store_device *d); /* CH_EEXISTS: device_id taken */
/* By certificate; tenant_id NULL: in any tenant (CH_ECONFLICT when in several). */
int ch_store_device_by_cert(ch_store *s, ch_store_device *out, const char *tenant_id, const char *sha256_hex);
int ch_store_device_by_name(ch_store *s, ch_store_device *out, const char *tenant_id, const char *device_id);
int ch_store_device_get(ch_store *s, ch_store_device *out, const char *tenant_id, const char *id);
/* The device (of any tenant) whose last connection gave this MQTT client id. */
int ch_store_device_by_client(ch_store *s, ch_store_device *out, const char *client_id);
/* What a device list keeps: NULL members keep every device. */
typedef struct ch_store_device_filter {
    const char *trusted_id; /* registered through this trusted certificate */
    const char *status;     /* active | blocked */
} ch_store_device_filter;
int ch_store_device_list(ch_store *s, const char *tenant_id, const ch_store_device_filter *filter,
                         ch_store_page *page, ch_store_device **out, size_t *count);
/* Writes cert_sha256, cert_not_after, trusted_id, last_seen, status and client_id. */
int ch_store_device_update(ch_store *s, const ch_store_device *d);
int ch_store_device_delete(ch_store *s, const char *tenant_id, const char *id);
void ch_store_device_dispose(ch_store_device *d);
void ch_store_device_list_free(ch_store_device *list, size_t count);

/* ------------------------------------------------------------- custom profiles */

typedef struct ch_store_profile {
    char *tenant_id;
    char *name;
    char *definition;       /* JSON, validated by the service layer */
    int64_t created_at;
    int64_t updated_at;
} ch_store_profile;

int ch_store_profile_put(ch_store *s, const ch_store_profile *p);    /* CH_EEXISTS on a taken name */
int ch_store_profile_update(ch_store *s, const ch_store_profile *p); /* CH_ENOTFOUND when absent */
int ch_store_profile_get(ch_store *s, ch_store_profile *out, const char *tenant_id, const char *name);
int ch_store_profile_list(ch_store *s, const char *tenant_id, ch_store_profile **out, size_t *count);
int ch_store_profile_delete(ch_store *s, const char *tenant_id, const char *name);
/* How many unexpired certificates not renewed yet were issued from the profile (their
 * renewals issue from it); since > 0: of those made since then only. */
int ch_store_profile_users(ch_store *s, const char *tenant_id, const char *name, int64_t now, int64_t since,
                           int64_t *count);
/* The tenant's tokens in force whose scope issues under the profile (its "issue.profiles" names
 * it): how many, and the first's id ("" when none). */
int ch_store_profile_tokens(ch_store *s, const char *tenant_id, const char *name, int64_t now, int64_t *count,
                            char first[CH_ID_MAX]);
void ch_store_profile_dispose(ch_store_profile *p);
void ch_store_profile_list_free(ch_store_profile *list, size_t count);

/* ------------------------------------------------------------- sealed keys */

typedef struct ch_store_key {
    char *id;
    char *tenant_id;
    char *algorithm;        /* "p256", "rsa2048"... */
    uint8_t *sealed;        /* ch_seal blob */
    size_t sealed_len;
    char spki_sha256[65];   /* hex: identifies the public key */
    int64_t created_at;
} ch_store_key;

int ch_store_key_put(ch_store *s, const ch_store_key *k);
int ch_store_key_get(ch_store *s, ch_store_key *out, const char *tenant_id, const char *id);
int ch_store_key_delete(ch_store *s, const char *tenant_id, const char *id);
void ch_store_key_dispose(ch_store_key *k);
/* 1 when the store holds any sealed key (of any tenant), 0 when none; with one_sealed, that
 * key's sealed blob appended to it (to tell which master key sealed it). */
int ch_store_key_any(ch_store *s, ch_buf *one_sealed);

/* ------------------------------------------------------------- certificates */

typedef struct ch_store_cert {
    char *id;
    char *tenant_id;
    char *name;
    uint8_t *der;
    size_t der_len;
    char *subject;          /* RFC 4514 */
    char *issuer;
    char *serial;           /* hex */
    char sha256[65];        /* hex of the DER: unique per tenant */
    int64_t not_before;
    int64_t not_after;
    bool is_ca;
    char *sans;             /* "dns:a,ip:1.2.3.4" for search, may be NULL */
    char *key_id;           /* sealed key held for it, or NULL */
    char *ca_id;            /* the certhub CA that issued it, or NULL */
    char *method;           /* generated | imported | csr_signed | acme | ca */
    char *profile;          /* or NULL */
    char *status;           /* active | revoked | ... */
    int64_t created_at;
    /* automatic renewal */
    bool auto_renew;
    int64_t renew_at;       /* when it is due (0: not set) */
    char *renews;           /* the certificate this one replaced, or NULL */
    char *renewed_by;       /* the certificate that replaced this one, or NULL */
    int renew_attempts;     /* failed attempts so far */
    char *renew_error;      /* the last failure, or NULL */
    int64_t lifetime;       /* seconds asked at issuance, before a cut at the CA's end (0: not known) */
    int64_t renew_before;   /* its own lead time, seconds before not_after (0: the tenant's renewal_point) */
} ch_store_cert;

/* Stores a certificate.  When the tenant already holds one with this sha256, nothing is
 * written and CH_EEXISTS is returned with the existing id in existing_id (if not NULL). */
int ch_store_cert_put(ch_store *s, const ch_store_cert *c, char existing_id[CH_ID_MAX]);
int ch_store_cert_get(ch_store *s, ch_store_cert *out, const char *tenant_id, const char *id);
int ch_store_cert_get_by_sha256(ch_store *s, ch_store_cert *out, const char *tenant_id, const char *sha256_hex);
int ch_store_cert_delete(ch_store *s, const char *tenant_id, const char *id);
int ch_store_cert_rename(ch_store *s, const char *tenant_id, const char *id, const char *name);
/* Links a stored key to a certificate that has none; CH_ENOTFOUND when it is not there or
 * already has one. */
int ch_store_cert_set_key(ch_store *s, const char *tenant_id, const char *id, const char *key_id);
int ch_store_cert_set_status(ch_store *s, const char *tenant_id, const char *id, const char *status);
void ch_store_cert_dispose(ch_store_cert *c);
void ch_store_cert_list_free(ch_store_cert *list, size_t count);

typedef enum {
    CH_ORDER_NEWEST = 0, /* created_at descending */
    CH_ORDER_EXPIRY = 1, /* not_after ascending */
} ch_store_order;

typedef struct ch_store_cert_filter {
    const char *ca_id;        /* issued by this CA */
    int64_t expiring_before;  /* not_after < this (0: any) */
    int64_t unexpired_at;     /* not_after > t: valid then, or not yet (0: any) */
    const char *search;       /* substring of subject, name or SANs */
    int is_ca;                /* -1 any, 0 leaves, 1 CAs */
    const char *method;
    const char *status;       /* the stored status: active, rotated (a CA certificate replaced) */
    bool current;             /* not renewed (renewed_by NULL): what is in use, and alerted */
    bool renewed;             /* renewed: replaced by its renewal */
    const char *token_id;     /* issued by this token, or a renewal of one it issued (token_certificates) */
    ch_store_order order;
} ch_store_cert_filter;

/* One page of certificates.  cursor is NULL for the first page, then the next_cursor of the
 * previous page (opaque; keyset, never OFFSET).  *next_cursor is NULL on the last page, else
 * malloc'd.  Rows are returned without their DER (der NULL) to keep pages small. */
int ch_store_cert_list(ch_store *s, const char *tenant_id, const ch_store_cert_filter *f, size_t limit,
                       const char *cursor, ch_store_cert **out, size_t *count, char **next_cursor);
/* The id of the tenant's certificate whose SHA-256 (64 hex digits) or serial (hex, without
 * leading zeros) is hex, lower case: CH_ENOTFOUND, or CH_ECONFLICT for a serial several have. */
int ch_store_cert_id_by_number(ch_store *s, const char *tenant_id, const char *hex, char id[CH_ID_MAX]);
/* Certificates (of every tenant) the search index has not reached yet: a background thread
 * adds them within a second or so; searches find them meanwhile by scanning just those. */
int ch_store_search_pending(ch_store *s, int64_t *rows);
/* A certificate by tenant and id. */
typedef struct ch_store_cert_ref {
    char tenant_id[CH_ID_MAX];
    char id[CH_ID_MAX];
} ch_store_cert_ref;
/* Certificates whose automatic renewal is due (every tenant but the revoked ones), earliest first;
 * free(*out). */
int ch_store_cert_due_renewals(ch_store *s, int64_t now, size_t max, ch_store_cert_ref **out, size_t *count);
/* When the earliest automatic renewal (every tenant) is due, due or not; 0 when none is. */
int ch_store_cert_next_renewal(ch_store *s, int64_t *at);
int ch_store_cert_set_auto_renew(ch_store *s, const char *tenant_id, const char *id, bool on, int64_t renew_at);
/* Sets a certificate's own lead time (renew_before seconds, 0: none) and the renew_at it gives. */
int ch_store_cert_set_renew_before(ch_store *s, const char *tenant_id, const char *id, int64_t renew_before,
                                   int64_t renew_at);
/* Up to max of the tenant's certificates that tidying may remove, ended before cutoff, in
 * descending (not_after, id) order after the cursor (*after_na and after_id, "" for the
 * first page), which moves to the last one read; *more false: the last page.  Left out:
 * CA certificates, a CA's own, those a keystore entry holds (or its chain), those a trusted
 * certificate or a device is (by SHA-256), those an unrevoked token's scope names, and the
 * first of a line of renewals of which a certificate ended at cutoff or later.  free(*out). */
int ch_store_cert_tidy_candidates(ch_store *s, const char *tenant_id, int64_t cutoff, int64_t now, int64_t *after_na,
                                  char after_id[CH_ID_MAX], size_t max, ch_store_cert_ref **out, size_t *count, bool *more);
/* Records that new_id renewed old_id; CH_ECONFLICT when old_id was renewed already. */
int ch_store_cert_link_renewal(ch_store *s, const char *tenant_id, const char *old_id, const char *new_id);
/* Certificate id leaves its line of renewals (before it is deleted): the one it renewed
 * (renews) is now renewed by the one that renewed it (renewed_by), and that one renews the
 * first; a NULL end stays NULL. */
int ch_store_cert_unlink_renewal(ch_store *s, const char *tenant_id, const char *id, const char *renews,
                                 const char *renewed_by);
/* Whether certificate id, or one it renews going back along renews, is one of ids_json (a
 * JSON array text of ids; what is not text in it names nothing): *named true or false.  One
 * statement, however long the lineage.  CH_EINVAL when ids_json is not JSON. */
int ch_store_cert_lineage_named(ch_store *s, const char *tenant_id, const char *id, const char *ids_json,
                                bool *named);
/* Whether the token issued the certificate, or one it renews (ch_store_token_cert_add, and
 * ch_store_token_cert_inherit at each renewal). */
int ch_store_token_cert_has(ch_store *s, const char *token_id, const char *cert_id, bool *has);
/* Records that a token limited to issuing made the certificate (once; a second is no change). */
int ch_store_token_cert_add(ch_store *s, const char *token_id, const char *cert_id);
/* The renewal new_id is the certificate of the tokens that issued old_id, the one it renews. */
int ch_store_token_cert_inherit(ch_store *s, const char *old_id, const char *new_id);
/* The newest certificate of the lineage of id, following renewed_by forward to the one that
 * has none (id itself when it was not renewed), into out.  One statement, however long the
 * lineage.  CH_ENOTFOUND when id is not a certificate of the tenant, or its renewed_by links
 * lead nowhere (to one that is not there, or round in a circle). */
int ch_store_cert_newest_renewal(ch_store *s, const char *tenant_id, const char *id, char out[CH_ID_MAX]);
/* A failed renewal: tried again at next_at. */
int ch_store_cert_renew_failed(ch_store *s, const char *tenant_id, const char *id, int64_t next_at, const char *error);
/* Active certificates of a tenant (not renewed) with at most threshold_days left and no alert
 * sent for that threshold yet; free(*out).  Not one renewed automatically whose renewal has not
 * failed and is still ahead, or that had no more than threshold_days left when it came: a
 * short-lived certificate never crosses the threshold it is born within, and is renewed before
 * its end (alerted, a day-long one was alerted at each renewal, an hour-long one every half
 * hour, and a 10-day one at 7 days left each time though renewed at 5).  Nor the certificate
 * of a CA rotated automatically before a third of its life is left, while that is ahead. */
int ch_store_alerts_due(ch_store *s, const char *tenant_id, int64_t now, int threshold_days, size_t max,
                        ch_store_cert_ref **out, size_t *count);
int ch_store_alert_sent(ch_store *s, const char *tenant_id, const char *cert_id, int threshold_days, int64_t at);
/* Whether webhook took the alert of threshold_days for the certificate, and that it did. */
int ch_store_alert_delivered(ch_store *s, const char *tenant_id, const char *cert_id, int threshold_days,
                             const char *webhook, bool *done);
int ch_store_alert_delivery(ch_store *s, const char *tenant_id, const char *cert_id, int threshold_days,
                            const char *webhook, int64_t at);
/* Counts certificates of a tenant matching the filter. */
int ch_store_cert_count(ch_store *s, const char *tenant_id, const ch_store_cert_filter *f, int64_t *count);
/* The not_after of the first of a CA's certificates to end after time after; CH_ENOTFOUND
 * (without setting an error) when it has none. */
int ch_store_cert_first_expiry(ch_store *s, const char *tenant_id, const char *ca_id, int64_t after, int64_t *first);
/* A tenant's certificates by expiry at time now: *valid (not_after later), *expired (the rest),
 * and buckets[k], those ending in [now + k*bucket, now + (k+1)*bucket) for k < nbuckets. */
int ch_store_cert_expiry(ch_store *s, const char *tenant_id, int64_t now, int64_t bucket, size_t nbuckets,
                         int64_t *valid, int64_t *expired, int64_t *buckets);

/* ------------------------------------------------------------- certificate authorities */

typedef struct ch_store_ca {
    char *id;
    char *tenant_id;
    char *name;
    char *cert_id;
    char *key_id;           /* NULL: imported without its key (cannot sign) */
    char *parent_id;        /* NULL: a root, or an outside issuer */
    char *status;           /* active | retired | pending */
    char *settings;         /* JSON text (CRL/OCSP URLs...) or NULL */
    int64_t created_at;
} ch_store_ca;

int ch_store_ca_put(ch_store *s, const ch_store_ca *ca); /* CH_EEXISTS on a taken name */
int ch_store_ca_get(ch_store *s, ch_store_ca *out, const char *tenant_id, const char *id);
/* A tenant's CAs, oldest first: a page, or all when page is NULL. */
int ch_store_ca_list(ch_store *s, const char *tenant_id, ch_store_page *page, ch_store_ca **out, size_t *count);
int ch_store_ca_set_status(ch_store *s, const char *tenant_id, const char *id, const char *status);
/* Points the CA at a new certificate and key (rotation). */
int ch_store_ca_set_cert(ch_store *s, const char *tenant_id, const char *id, const char *cert_id, const char *key_id);
int ch_store_ca_delete(ch_store *s, const char *tenant_id, const char *id);
/* Renames a CA and replaces its settings (each left as it is when NULL); CH_EEXISTS on a taken
 * name. */
int ch_store_ca_update(ch_store *s, const char *tenant_id, const char *id, const char *name, const char *settings);
/* Links a CA to the CA that issued it (one imported after it). */
int ch_store_ca_set_parent(ch_store *s, const char *tenant_id, const char *id, const char *parent_id);
void ch_store_ca_dispose(ch_store_ca *ca);
void ch_store_ca_list_free(ch_store_ca *list, size_t count);

/* ------------------------------------------------------------- set-up steps */

/* A step of the first start's set-up that is done once for the life of the store (the
 * quickstart CAs made), with what it recorded: *value (free()) the text recorded ("" for
 * none); CH_ENOTFOUND when the step was not done. */
int ch_store_setup_get(ch_store *s, const char *step, char **value);
/* Records the step done at time at, with value (may be NULL); one done already keeps its
 * first record. */
int ch_store_setup_put(ch_store *s, const char *step, const char *value, int64_t at);

/* ------------------------------------------------------------- CSRs */

typedef struct ch_store_csr {
    char *id;
    char *tenant_id;
    char *name;
    uint8_t *der;
    size_t der_len;
    char *subject;
    char *key_id;           /* the server-side key, or NULL for an uploaded CSR */
    char *cert_id;          /* the signed certificate once attached, or NULL */
    int64_t created_at;
} ch_store_csr;

int ch_store_csr_put(ch_store *s, const ch_store_csr *c);
int ch_store_csr_get(ch_store *s, ch_store_csr *out, const char *tenant_id, const char *id);
int ch_store_csr_list(ch_store *s, const char *tenant_id, ch_store_page *page, ch_store_csr **out, size_t *count);
/* The tenant's CSR made here (its key held) that has no certificate yet and whose key's public
 * key has this SHA-256 of its SubjectPublicKeyInfo (hex, as ch_store_key's spki_sha256): the
 * newest when several do.  CH_ENOTFOUND when none. */
int ch_store_csr_waiting_for_key(ch_store *s, ch_store_csr *out, const char *tenant_id, const char *spki_sha256);
/* CH_ECONFLICT when the CSR has a certificate already (CSRs are never deleted): inside a write
 * transaction, the check and the attach are one. */
int ch_store_csr_attach(ch_store *s, const char *tenant_id, const char *id, const char *cert_id);
int ch_store_csr_delete(ch_store *s, const char *tenant_id, const char *id);
/* The CSR signed as cert_id, if any, goes back to unsigned (the certificate is deleted). */
int ch_store_csr_detach(ch_store *s, const char *tenant_id, const char *cert_id);
void ch_store_csr_dispose(ch_store_csr *c);
void ch_store_csr_list_free(ch_store_csr *list, size_t count);

/* ------------------------------------------------------------- keystores */

typedef struct ch_store_keystore {
    char *id;
    char *tenant_id;
    char *name;
    char *format;           /* the format it came in: jks, pkcs12, pem... */
    int64_t created_at;
    char *notes;            /* an upload's answer only: what the file held and was not read
                             * (a JCEKS secret key), a line each; NULL for none.  Not stored. */
} ch_store_keystore;

typedef struct ch_store_keystore_entry {
    char *id;
    char *keystore_id;
    char *tenant_id;
    char *alias;
    int position;
    char *cert_id;          /* the leaf */
    char *chain;            /* ids of the chain after the leaf, comma-separated, or NULL */
    char *key_id;           /* NULL for a trusted-certificate entry */
    char *origin;           /* uploaded | generated */
} ch_store_keystore_entry;

int ch_store_keystore_put(ch_store *s, const ch_store_keystore *k);
int ch_store_keystore_get(ch_store *s, ch_store_keystore *out, const char *tenant_id, const char *id);
int ch_store_keystore_list(ch_store *s, const char *tenant_id, ch_store_page *page, ch_store_keystore **out,
                           size_t *count);
int ch_store_keystore_delete(ch_store *s, const char *tenant_id, const char *id); /* and its entries */
int ch_store_keystore_rename(ch_store *s, const char *tenant_id, const char *id, const char *name);
/* Takes the keystore's next entry position into *position: past every position it has handed
 * out, none of which it hands out again, whatever was deleted (a client walking the entries by
 * position sees an entry added after its cursor even when the cursor's entry and all after it
 * are gone).  In the transaction that stores the entry (CH_EINTERNAL outside one), so both
 * commit or neither.  CH_ENOTFOUND: no such keystore in the tenant; CH_ETOOBIG: past INT_MAX. */
int ch_store_keystore_take_position(ch_store *s, const char *tenant_id, const char *keystore_id, int *position);
int ch_store_keystore_entry_put(ch_store *s, const ch_store_keystore_entry *e); /* CH_EEXISTS: alias taken */
/* The entry entry_id of the tenant (by its id: an alias may be one of several in any case);
 * its certificates and key stay in the inventory.  CH_ENOTFOUND when there is none. */
int ch_store_keystore_entry_delete(ch_store *s, const char *tenant_id, const char *entry_id);
/* CH_EEXISTS: alias taken (in this case: the caller keeps aliases unique in any case). */
int ch_store_keystore_entry_rename(ch_store *s, const char *tenant_id, const char *entry_id, const char *alias);
/* Where a keystore holds cert_id (an entry's certificate or one of its chain), as
 * 'entry "ALIAS" of keystore "NAME" (ID)' or 'the chain of entry ...' into where; CH_ENOTFOUND
 * when none does. */
int ch_store_keystore_holding(ch_store *s, const char *tenant_id, const char *cert_id, char *where, size_t cap);
int ch_store_keystore_entries(ch_store *s, const char *tenant_id, const char *keystore_id,
                              ch_store_keystore_entry **out, size_t *count);
/* The entries of the tenant's keystores (every one of them) whose certificate is cert_id, in
 * keystore and position order: those that a renewal of cert_id moves. */
int ch_store_keystore_entries_of_cert(ch_store *s, const char *tenant_id, const char *cert_id,
                                      ch_store_keystore_entry **out, size_t *count);
/* Entry entry_id of the tenant holds cert_id now, with chain (ids, as an entry's chain; NULL for
 * none) and key_id (NULL: a trusted-certificate entry); its alias, position and origin stay.
 * CH_ENOTFOUND when there is no such entry. */
int ch_store_keystore_entry_set_cert(ch_store *s, const char *tenant_id, const char *entry_id, const char *cert_id,
                                     const char *chain, const char *key_id);
/* The entries that held a certificate renewed before entries followed renewals (schema 28),
 * not moved yet: up to max of them, every tenant's.  Each is moved once, by the service, which
 * then calls ch_store_keystore_backfill_done (in the transaction that moves it), CH_ECONFLICT
 * when another process (the mosquitto plugin opens the store too) recorded it done first. */
int ch_store_keystore_backfill_list(ch_store *s, size_t max, ch_store_keystore_entry **out, size_t *count);
int ch_store_keystore_backfill_done(ch_store *s, const char *entry_id);
void ch_store_keystore_dispose(ch_store_keystore *k);
void ch_store_keystore_list_free(ch_store_keystore *list, size_t count);
void ch_store_keystore_entry_dispose(ch_store_keystore_entry *e);
void ch_store_keystore_entry_list_free(ch_store_keystore_entry *list, size_t count);

/* ------------------------------------------------------------- audit log */

typedef struct ch_store_audit {
    int64_t seq;            /* its place in its tenant's log, from 1 (the append's caller sets it) */
    char *tenant_id;
    int64_t at;
    char *actor;
    char *action;           /* "certificate.issue" */
    char *object_type;
    char *object_id;
    char *detail;           /* JSON text, never secrets */
    char prev_hash[65];
    char hash[65];
} ch_store_audit;

/* Appends a row; the caller computed seq, prev_hash and hash from ch_store_audit_last (the
 * service owns the chain rule). */
int ch_store_audit_append(ch_store *s, ch_store_audit *row);
/* Hash and seq of the tenant's newest audit row ("" and 0 when none). */
int ch_store_audit_last(ch_store *s, const char *tenant_id, char out[65], int64_t *seq);
/* Rows of a tenant with seq > after_seq, oldest first, at most limit. */
int ch_store_audit_list(ch_store *s, const char *tenant_id, int64_t after_seq, size_t limit,
                        ch_store_audit **out, size_t *count);

/* What an audit query keeps; NULL and 0 keep everything. */
typedef struct ch_store_audit_filter {
    bool newest_first;
    int64_t from_seq;        /* rows past this one in the order (a page's cursor); 0: from the start */
    const char *action;      /* "certificate.issue", or a prefix ending in '*': "certificate.*" */
    const char *actor;       /* "token:tok_...", "user:admin", "system:renewal" */
    const char *object_type;
    const char *object_id;
    int64_t since, until;    /* since <= at < until */
} ch_store_audit_filter;

/* A page of the tenant's rows that match f, at most limit (1 to 1000); *next_seq is the
 * from_seq of the next page, 0 when this one is the last. */
int ch_store_audit_query(ch_store *s, const char *tenant_id, const ch_store_audit_filter *f, size_t limit,
                         ch_store_audit **out, size_t *count, int64_t *next_seq);
void ch_store_audit_dispose(ch_store_audit *a);
void ch_store_audit_list_free(ch_store_audit *list, size_t count);

#ifdef __cplusplus
}
#endif
#endif
