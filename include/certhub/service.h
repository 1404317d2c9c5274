/*
 * The service layer: every rule of certhub, used by the daemon (REST), the CLI and the broker
 * plugin alike.  It sits on the X.509 engine, the sealer and the store.
 *
 * Every call takes the actor making it: the tenant it is scoped to (a row of another tenant
 * is CH_ENOTFOUND), its name for the audit log, and its role.  Every change writes one audit
 * row in the same transaction as the change, and is committed before the call returns
 * (nothing acknowledged is lost).  Private keys are sealed before they reach the store and
 * leave it only through ch_svc_key_export, which needs CH_PERM_KEYS_EXPORT and is audited.
 *
 * Results are store rows (include/certhub/store.h) owned by the caller.
 */
#ifndef CERTHUB_SERVICE_H
#define CERTHUB_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certhub/common.h"
#include "certhub/store.h"
#include "certhub/x509.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ch_svc ch_svc;

typedef struct ch_svc_opts {
    const char *data_dir;      /* holds master.key and, by default, certhub.db */
    const char *store_url;     /* NULL: sqlite:DATA_DIR/certhub.db */
    ch_durability durability;
    void (*log)(const char *line); /* where the service tells the operator what it could not do, or NULL */
    int busy_ms;               /* how long a write waits for another process's (0: 10 s) */
} ch_svc_opts;

/* Opens the service on a data directory (created 0700 if missing): the store, migrated, and
 * the master key.  Free with ch_svc_close. */
int ch_svc_open(ch_svc **out, const ch_svc_opts *opts);
void ch_svc_close(ch_svc *svc);
/* Reads which tenants are revoked (at open, and again for a process on the store other than
 * certhubd, the broker's plugin: the service learns of its own revocations at once, another's
 * only so). */
int ch_svc_tenants_reload(ch_svc *svc);
ch_store *ch_svc_store(ch_svc *svc); /* borrowed; for tests and tools */
/* The calling thread is done with the store for a while (ch_store_thread_release). */
void ch_svc_thread_idle(ch_svc *svc);
/* No request for a while: what the whole service keeps for speed is given back (ch_store_idle). */
void ch_svc_idle(ch_svc *svc);

typedef enum {
    CH_ROLE_VIEWER = 1,   /* read only */
    CH_ROLE_OPERATOR = 2, /* manage certificates, CAs and CSRs; no key export, no tenants */
    CH_ROLE_ADMIN = 3,    /* everything */
} ch_role;

#define CH_PERM_KEYS_EXPORT 0x1u /* may export private keys (admins by default) */
/* May create and list every tenant and make tokens for any of them: the admins of the
 * "default" tenant, the one first start creates (the operators of the installation).  Admins
 * of other tenants manage their own tenant only. */
#define CH_PERM_TENANTS 0x2u

typedef struct ch_actor {
    const char *tenant_id;
    const char *name;     /* who, for the audit log: "token:tok_...", "user:admin", "system" */
    ch_role role;
    unsigned perms;       /* CH_PERM_* */
    const char *user_id;  /* a console user's id (its own, whatever tenant it acts in), or NULL */
    const char *scope;    /* a scoped token's scope (JSON, see ch_svc_token_create_scoped), or NULL */
} ch_actor;

/* ------------------------------------------------------------- tenants */

/* Creates a tenant (admins only).  The actor's tenant is where the audit row goes. */
int ch_svc_tenant_create(ch_svc *svc, const ch_actor *actor, const char *name, ch_store_tenant *out);
/* Revokes a tenant (by id or name; admins of the default tenant only): its tokens are
 * revoked, its console sessions end, no new token or login is let in, its devices are
 * refused; its data stays.  The default tenant is never revoked. */
int ch_svc_tenant_disable(ch_svc *svc, const ch_actor *actor, const char *tenant);
/* Lets a revoked tenant in again: logins, new tokens and its devices.  The tokens it had stay
 * revoked (new ones are made) and its console sessions were ended. */
int ch_svc_tenant_restore(ch_svc *svc, const ch_actor *actor, const char *tenant);
/* Every tenant for CH_PERM_TENANTS, else the actor's own. */
int ch_svc_tenant_list(ch_svc *svc, const ch_actor *actor, ch_store_tenant **out, size_t *count);
/* Whether tenant_id is the installation's own ("default") tenant, whose members see what the
 * whole process does (/metrics' request counts), not only their tenant's data. */
bool ch_svc_tenant_is_installation(ch_svc *svc, const char *tenant_id);
/* Finds or creates a tenant by name without an actor (first start). */
int ch_svc_tenant_ensure(ch_svc *svc, const char *name, ch_store_tenant *out);

/* ------------------------------------------------------------- API tokens */

/* Creates an API token for a tenant (admins only; tenant_id NULL = the actor's).  The token
 * ("cht_" + 64 hex digits) is handed back once through *token (free with ch_secure_free_str)
 * and only its SHA-256 is stored. */
int ch_svc_token_create(ch_svc *svc, const ch_actor *actor, const char *tenant_id, ch_role role, const char *name,
                        char **token, char id[CH_ID_MAX]);
/* A tenant's tokens (admins only; tenant_id NULL = the actor's), without their hashes; page NULL:
 * every one. */
int ch_svc_token_list(ch_svc *svc, const ch_actor *actor, const char *tenant_id, ch_store_page *page,
                      ch_store_token **out, size_t *count);
/* Revokes a token of the actor's tenant (any tenant with CH_PERM_TENANTS); it stops working at
 * once.  Revoking the token in use is allowed. */
int ch_svc_token_revoke(ch_svc *svc, const ch_actor *actor, const char *id);
/* ch_svc_token_revoke, and with cascade, in the same transaction, every token of the same tenant
 * that lets one in and that the token made, or a token it made made, and so on (followed through
 * tokens that ended; never into another tenant, where an installation admin's token may have made
 * some): each audited token.revoke in its tenant with {"reason": "token_revoked", "token_id": id,
 * "created_by": its maker}, as a user's removal audits its tokens, and id's own entry (written
 * where it is without cascade: in the actor's tenant) saying {"tokens_revoked": n}.  With cascade a
 * token revoked before is taken too (only what it made is revoked then); CH_ENOTFOUND when the
 * tenant has no such token (without cascade: no such active token).  *made (may be NULL; free
 * with ch_store_token_list_free) receives the tokens revoked with it, oldest first, or without
 * cascade those a cascade would have revoked, which keep working. */
int ch_svc_token_revoke_cascade(ch_svc *svc, const ch_actor *actor, const char *id, bool cascade,
                                ch_store_token **made, size_t *count);
/* The same without an actor, for the first start. */
/* file: where the token is written (0600) before it is stored, or NULL. */
int ch_svc_token_bootstrap(ch_svc *svc, const char *tenant_id, ch_role role, const char *name, const char *file,
                           char **token);

/* The authenticated caller of a token: tenant, role, permissions ("token:<id>" as its name).
 * A missing, unknown or revoked token is CH_EAUTH, and so is an expired one (its message says
 * when; ch_error_reason() "token_expired").  Held by value: nothing to release. */
typedef struct ch_svc_principal {
    ch_actor actor;
    char tenant_id[CH_ID_MAX];
    char name[160];            /* the actor's name: "token:tok_...", "user:NAME", or "default/user:NAME"
                                * for an installation admin acting in another tenant */
    char user_id[CH_ID_MAX];   /* a console session's user, or "" */
    char user_name[132];       /* its name, or "" */
    char home_tenant_id[CH_ID_MAX]; /* the tenant it signed in to (tenant_id is where it acts), or "" */
    char scope[4096];          /* "" or the token's scope (JSON): what it may read */
    int64_t expires_at;        /* when the credential stops working (a token's expiry, a console
                                * session's end), 0: never */
} ch_svc_principal;
/* A token limited to named objects ({"objects": ["crt_...", "bundle:default"], "keys_export":
 * bool}; scope NULL: the whole tenant): what one sync agent may fetch, nothing else.  Or limited
 * to issuing ({"issue": {"profiles": [names], "ca_ids": [ids]}, ...}, either list left out for
 * any; objects then optional): it issues under those profiles and CAs alone, and lists, reads,
 * renews and exports (its key too with keys_export) the certificates it issued and their renewals,
 * nothing else of its tenant's; its role is operator or admin.  From
 * expires_at on (0: never) it is refused; CH_EINVAL (field "expires_at") when that is not ahead
 * or more than CH_TOKEN_MAX_DAYS ahead. */
int ch_svc_token_create_scoped(ch_svc *svc, const ch_actor *actor, const char *tenant_id, ch_role role,
                               const char *name, const char *scope, int64_t expires_at, char **token,
                               char id[CH_ID_MAX]);
/* The longest a token is made to live: beyond it, an expiry is as good as none. */
#define CH_TOKEN_MAX_DAYS 3650
/* How near its end a token's answers say so (header Certhub-Token-Expires), for its holder to
 * make another in time: a week, which a weekly job still sees once. */
#define CH_TOKEN_WARN_DAYS 7
/* When a token made now expires, given the API's way or neither (*out 0: never): expires_in, a
 * lifetime from now as a certificate's ttl is written ("30d", "12h", "90m"; ch_ttl_parse),
 * from 1h to CH_TOKEN_MAX_DAYS days, or
 * expires_at, an RFC 3339 time as ch_svc_token_create_scoped takes it; not both.  CH_EINVAL
 * naming the field otherwise. */
int ch_svc_token_expiry(int64_t *out, const char *expires_in, const char *expires_at);
/* Whether the principal may read object (always, unscoped; a certificate also when one it
 * renews is named, however many renewals back, or, with an issuing scope, when the token issued
 * it or one it renews). */
bool ch_svc_scope_allows(ch_svc *svc, const ch_svc_principal *who, const char *object);
/* Whether a token's scope (as stored, or NULL) is one that issues: it has "issue". */
bool ch_svc_scope_issues(const char *scope);
/* Whether the principal is a token limited to issuing that issued the certificate, or one it
 * renews (what it may change: renew, rename, turn automatic renewal on or off). */
bool ch_svc_scope_issued(ch_svc *svc, const ch_svc_principal *who, const char *object);
int ch_svc_authenticate(ch_svc *svc, const char *token, ch_svc_principal *out);

/* ------------------------------------------------------------- console users */

/* Creates a user of the actor's tenant (admins); the password (8+ characters) is kept as an
 * scrypt hash. */
int ch_svc_user_create(ch_svc *svc, const ch_actor *actor, const char *name, ch_role role, const char *password);
/* The actor's tenant's users (admins). */
int ch_svc_user_list(ch_svc *svc, const ch_actor *actor, ch_store_user **out, size_t *count);
/* Changes a user's role and/or sets a new password (admins; NULL keeps it).  The user's
 * sessions end: they carry the old role, or were opened with the old password.  Admins cannot
 * change their own role (another admin must).  Given a role, the tokens that go back to the
 * user (it made them, or a token it made did) and have a role above the new one are revoked
 * in the same transaction, each audited token.revoke (reason "user_role_lowered");
 * *tokens_revoked (may be NULL) says how many.  Tokens made before makers were recorded stay. */
int ch_svc_user_update(ch_svc *svc, const ch_actor *actor, const char *name, const ch_role *role,
                       const char *password, int *tokens_revoked);
/* Removes a user and ends its sessions (admins; not the user the actor is), and revokes every
 * token that goes back to it, in every tenant, in the same transaction (each audited
 * token.revoke, reason "user_deleted"); *tokens_revoked (may be NULL) says how many. */
int ch_svc_user_delete(ch_svc *svc, const ch_actor *actor, const char *name, int *tokens_revoked);
/* First start: the user "admin" of the tenant with a random password handed back once
 * (*password NULL when the tenant already has users). */
int ch_svc_user_bootstrap(ch_svc *svc, const char *tenant_id, const char *file, char **password);

typedef struct ch_svc_session {
    char *token;      /* the cookie (only here) */
    char *csrf;       /* sent back on every change in X-CSRF-Token */
    char tenant_id[CH_ID_MAX];
    char tenant[64];
    char user[65];
    ch_role role;
    int64_t expires_at;
    int retry_after;  /* on CH_EBUSY: seconds until the name may try again */
} ch_svc_session;
/* Signs a user in (tenant NULL: "default"); CH_EAUTH "wrong user name or password" otherwise,
 * and CH_EBUSY after too many failures in a row for the name (retry_after says when). */
int ch_svc_login(ch_svc *svc, const char *tenant, const char *user, const char *password, ch_svc_session *out);
/* The principal of a session cookie, and its CSRF token. */
int ch_svc_session_authenticate(ch_svc *svc, const char *token, ch_svc_principal *who, char csrf[65]);
int ch_svc_logout(ch_svc *svc, const char *token);
/* A signed-in user changes its own password (the current one is asked again), in the tenant it
 * signed in to whichever it acts in; the user's other sessions end, the one given (its
 * cookie) stays. */
int ch_svc_password_change(ch_svc *svc, const ch_svc_principal *who, const char *current,
                           const char *fresh, const char *session);
/* true when who is the default tenant's console user "admin" still with the password the
 * first start gave it (DATA_DIR/admin-password is there until it is changed): what a console
 * asks to invite its change.  false for anyone else, and for a token. */
bool ch_svc_first_password(ch_svc *svc, const ch_svc_principal *who);
/* Installation admins (CH_PERM_TENANTS) switch the tenant their session acts in. */
int ch_svc_session_switch(ch_svc *svc, const char *token, const ch_svc_principal *who, const char *tenant);
void ch_svc_session_dispose(ch_svc_session *s);

const char *ch_role_name(ch_role role);
int ch_role_parse(ch_role *out, const char *name);

/* ------------------------------------------------------------- first start */

#define CH_QUICKSTART_ROOT "certhub Quickstart Root CA - Not for Production"
#define CH_QUICKSTART_ISSUER "certhub Quickstart Issuing CA - Not for Production"

typedef struct ch_svc_bootstrap {
    char tenant_id[CH_ID_MAX];  /* the "default" tenant */
    char *admin_token;          /* on the first start, or made again when no token of the tenant
                                 * lets anyone in (free with ch_secure_free_str) */
    bool first_start;           /* the store was new: nothing of it made before */
    bool server_cert_renewed;   /* a new server certificate issued in place of the one it had */
    char *admin_password;       /* the console user "admin", first start only (likewise) */
    ch_cert *server_cert;       /* certhubd's own TLS certificate ... */
    ch_cert *issuer_cert;       /* ... its issuer (sent in the chain) ... */
    ch_cert *intermediates[CH_MAX_CHAIN_LEN]; /* ... and the CAs above that, up to and not with
                                               * a self-signed root (sent after it) */
    size_t n_intermediates;
    ch_key *server_key;
} ch_svc_bootstrap;

/* ch_svc_bootstrap_run: certhubd serves a certificate of the operator's (--tls-cert), and needs
 * none of its own. */
#define CH_BOOTSTRAP_NO_SERVER_CERT 1u

/* Makes a data directory ready to serve, creating only what is missing: the "default"
 * tenant, a quickstart root CA and an issuing CA under it (at the first start only: deleted,
 * they are not made again), DATA_DIR/ca.pem (the root of certhubd's chain), an admin API token
 * in DATA_DIR/admin-token (0600, first start only), and a server certificate for the listener
 * (localhost, 127.0.0.1, ::1 and each host name or address of the comma-separated names;
 * others are left out), issued anew once a third of its lifetime is left, when it lacks one of
 * those names, or when its CA is no longer the one that issues it: the quickstart issuing CA
 * while it is there, else the CA a request naming none gets (the tenant's default CA, or its
 * one issuing CA).  With none of those, CH_EPOLICY saying how to go on, unless flags has
 * CH_BOOTSTRAP_NO_SERVER_CERT (then server_cert, issuer_cert and server_key stay NULL).
 * Release with ch_svc_bootstrap_dispose. */
int ch_svc_bootstrap_run(ch_svc *svc, const char *data_dir, const char *names, unsigned flags,
                         ch_svc_bootstrap *out);
void ch_svc_bootstrap_dispose(ch_svc_bootstrap *b);

/* ------------------------------------------------------------- subjects */

/* A subject given as fields (the API's "subject" object) or as one DN string. */
typedef struct ch_svc_subject {
    ch_name_fields fields;
    const char *dn;           /* "CN=x,O=y": used when set */
} ch_svc_subject;

/* ------------------------------------------------------------- certificate authorities */

/* The CSR an import found by its certificate's public key: one of the tenant's, made here (its
 * key held) and waiting for its certificate, which takes the certificate imported as its own
 * (as POST /csrs/{id}/certificate would).  id is "" when none was found (or none is taken: the
 * certificate held already with a key).  key_taken: the import gave no key, and the CSR's is
 * the certificate's; else the key given stays the certificate's, and the CSR is linked alone. */
typedef struct ch_svc_csr_found {
    char id[CH_ID_MAX];
    bool key_taken;
} ch_svc_csr_found;

/* The CA certificates an imported CA's file held besides it (its chain: the intermediates and
 * root an outside CA sends with what it signed, a bundle's), each made a CA of the tenant
 * without its key, joined to its issuer, in the import's transaction (added: ids and names),
 * or found to be one already, or held here with its key (held: counted; not made a CA). */
typedef struct ch_svc_ca_chain {
    size_t added, held;
    char ids[CH_MAX_CHAIN_LEN][CH_ID_MAX];
    char names[CH_MAX_CHAIN_LEN][513]; /* (a name is at most 128 characters) */
} ch_svc_ca_chain;

/* The URLs a CA writes into what it issues from then on (Vault's config/urls): CRL distribution
 * points, OCSP responders and where its own certificate is published (the AIA's caIssuers).
 * Each list NULL-terminated, at most CH_CA_MAX_URLS; http://, https:// or ldap://.  In an
 * update, a list left NULL is kept and an empty one clears it. */
#define CH_CA_MAX_URLS 3
typedef struct ch_svc_ca_urls {
    const char *const *crl;
    const char *const *ocsp;
    const char *const *ca_issuers;
} ch_svc_ca_urls;

typedef struct ch_svc_ca_req {
    const char *name;         /* unique per tenant; required */
    bool intermediate;        /* false: a self-signed root */
    const char *parent_id;    /* the signing CA, for an intermediate */
    ch_svc_subject subject;
    const char *key_type;     /* "p256" (default), "rsa2048"... */
    /* Or an intermediate whose key is elsewhere (a partner's, an HSM's): its CSR (PEM or DER),
     * signed by parent_id; the subject is the CSR's unless given.  The CA is held without its
     * key (it issues nothing here), as Vault's sign-intermediate makes one. */
    const uint8_t *csr;
    size_t csr_len;
    int days;                 /* 0: the profile's default (or ttl) */
    int64_t ttl;              /* the lifetime in seconds instead of days (ch_issue_opts); 0: days */
    int path_len;             /* -2: the profile's */
    const char *digest;       /* NULL: sha256 */
    const char *const *crl_urls;  /* put into what this CA issues (at most CH_CA_MAX_URLS each) */
    const char *const *ocsp_urls;
    const char *const *ca_issuers_urls; /* where the CA's certificate is published (the AIA's caIssuers) */
    bool auto_rotate;             /* rotated by certhubd when a third of its life is left */
    bool cap_validity;            /* an intermediate whose lifetime asked passes its parent's end ends with
                                   * the parent, instead of being refused */
    const ch_store_ca *rotate;    /* internal (ch_svc_ca_rotate): the CA that gets the new certificate */
} ch_svc_ca_req;

int ch_svc_ca_create(ch_svc *svc, const ch_actor *actor, const ch_svc_ca_req *req, ch_store_ca *out);

/* Imports an outside CA ("bring your own issuer"): its certificate (PEM or DER) and, if given,
 * its private key (which must match; password for an encrypted key).  Without a key, a CSR of
 * the tenant made here that waits for its certificate and whose key is the certificate's gives
 * its key, as ch_svc_ca_import_csr naming it would; with a key, such a CSR takes the
 * certificate all the same (it was signed for it).  Which CSR is in *found (may be NULL); with
 * neither key nor CSR the CA can anchor chains but not sign.  A certificate the tenant holds
 * already without a key gets the CA's.  A CA of the tenant whose certificate this is already
 * is CH_EEXISTS, unless it is held without its key and a key comes now (given, or a CSR's):
 * the key is added to that CA (audited ca.key_add), which keeps its name, and the answer is
 * 1 (out holds that CA), where a new CA is 0.  The CA certificates the file holds after it
 * (a PEM chain, a keystore entry's chain) become CAs too, as *chain says (may be NULL). */
int ch_svc_ca_import(ch_svc *svc, const ch_actor *actor, const char *name, const uint8_t *cert, size_t cert_len,
                     const uint8_t *key, size_t key_len, const char *password, ch_store_ca *out,
                     ch_svc_csr_found *found, ch_svc_ca_chain *chain);
/* Makes a CA of a certificate an outside CA signed for a CSR made here (POST /csrs first, then
 * the outside CA signs it): the CA's key is the CSR's, which never left certhub.  A CA of
 * that certificate held without its key gets the CSR's as ch_svc_ca_import adds one (1). */
int ch_svc_ca_import_csr(ch_svc *svc, const ch_actor *actor, const char *name, const char *csr_id, const uint8_t *cert,
                         size_t cert_len, ch_store_ca *out, ch_svc_ca_chain *chain);
int ch_svc_ca_get(ch_svc *svc, const ch_actor *actor, const char *id, ch_store_ca *out);
/* Rotates a CA: a new key and certificate (same name, subject, key type and lifetime; an
 * intermediate signed by its parent's current certificate).  Issuance moves to the new one at
 * once; the old certificate stays (status "rotated") and keeps validating what it issued.
 * CH_EPOLICY for a CA certhub cannot rotate: held without its key, signed by an outside
 * issuer (not self-signed, no parent here), or under a parent held without its key. */
int ch_svc_ca_rotate(ch_svc *svc, const ch_actor *actor, const char *id, ch_store_ca *out);
/* Rotates a CA to the renewal an outside CA signed (cert_data: PEM or DER, its chain after it
 * if sent, which is not kept): its key the CA's own, else that of CSR csr_id made here
 * (certhub csr new --ca), or of the CSR waiting for it found by its key when csr_id is NULL.
 * The certificate must be a CA's of the same subject, from the issuer of the one it replaces
 * (signed by the parent where that is a CA here).  As ch_svc_ca_rotate otherwise: the same id,
 * the old certificate "rotated". */
int ch_svc_ca_rotate_signed(ch_svc *svc, const ch_actor *actor, const char *id, const uint8_t *cert_data,
                            size_t cert_len, const char *csr_id, ch_store_ca *out);
/* Renames a CA (name NULL: kept), switches its automatic rotation (auto_rotate 1 on, 0 off,
 * -1 kept) and sets the URLs it writes (urls NULL, or a list of it NULL: kept; CH_EINVAL naming
 * crl_urls, ocsp_urls or ca_issuers_urls for a bad one), audited ca.update with what changed (nothing written when nothing does).  On is
 * CH_EPOLICY for a CA certhub cannot rotate (ch_svc_ca_rotate); a name taken is CH_EEXISTS.
 * out (may be NULL) gets the CA as it is then (ch_store_ca_dispose). */
int ch_svc_ca_update(ch_svc *svc, const ch_actor *actor, const char *id, const char *name, int auto_rotate,
                     const struct ch_svc_ca_urls *urls, ch_store_ca *out);
/* Whether the CA's settings have it rotated by certhubd (at a third of its life left). */
bool ch_svc_ca_auto_rotate(const ch_store_ca *ca);

/* A trust bundle: the tenant's CA certificates that are still valid ("default": every CA
 * certhub holds for the tenant, during a rotation the old and the new).  out gets PEM, or a
 * JKS/PKCS#12 truststore (password required for those); etag the SHA-256 of the PEM, which
 * changes the moment a CA is rotated, added or retired. */
int ch_svc_bundle(ch_svc *svc, const ch_actor *actor, const char *name, int fmt, const char *password, ch_buf *out,
                  char etag[65]);
/* The same without a credential, for the tenant named (name or id; NULL: "default"), when its
 * settings make its bundle public.  A tenant that does not exist, is revoked or keeps its
 * bundle to itself is one answer, CH_ENOTFOUND, so that nothing is learnt of which exist. */
int ch_svc_bundle_public(ch_svc *svc, const char *tenant, const char *name, int fmt, const char *password,
                         ch_buf *out, char etag[65]);
/* page NULL: every CA; else one page (ch_store_page). */
int ch_svc_ca_list(ch_svc *svc, const ch_actor *actor, ch_store_page *page, ch_store_ca **out, size_t *count);
/* The CA's chain as PEM, the CA first, up to its root. */
int ch_svc_ca_chain_pem(ch_svc *svc, const ch_actor *actor, const char *id, ch_buf *out);
/* Deletes a CA; refused (CH_ECONFLICT) while certificates it issued are unexpired, unless
 * force. */
int ch_svc_ca_delete(ch_svc *svc, const ch_actor *actor, const char *id, bool force);

/* ------------------------------------------------------------- trusted certificates */

typedef struct ch_svc_trusted_req {
    const char *name;              /* NULL: the subject's common name (or the subject) */
    const uint8_t *cert;           /* PEM (DER accepted too) */
    size_t cert_len;
    bool auto_registration;
    bool disabled;                 /* added disabled (enabled by default) */
    bool preview;                  /* checked as an add would be, and nothing stored (the row is what
                                    * would be added) */
    bool issuer_list;              /* into the issuer list (chains only), not the trust list */
} ch_svc_trusted_req;

/* Adds one CA certificate to the tenant's trusted certificates.  Refusals carry a reason
 * (ch_error_reason): not_a_certificate, several_certificates, not_version_3, not_a_ca,
 * already_exists, expired, not_yet_valid. */
int ch_svc_trusted_add(ch_svc *svc, const ch_actor *actor, const ch_svc_trusted_req *req, ch_store_trusted *out);

/* Adds every certificate of a PEM bundle, each on its own: one result per certificate. */
typedef struct ch_svc_trusted_result {
    int error;                 /* 0: added (row holds it) */
    char reason[48];
    char message[256];
    char subject[256];
    ch_store_trusted row;
} ch_svc_trusted_result;
int ch_svc_trusted_add_bulk(ch_svc *svc, const ch_actor *actor, const ch_svc_trusted_req *req,
                            ch_svc_trusted_result **out, size_t *count);
void ch_svc_trusted_results_free(ch_svc_trusted_result *r, size_t n);

int ch_svc_trusted_get(ch_svc *svc, const ch_actor *actor, const char *id, ch_store_trusted *out);
/* page NULL: every one; else one page (ch_store_page). */
/* list: "trust" or "issuer" for one list, NULL for both. */
int ch_svc_trusted_list(ch_svc *svc, const ch_actor *actor, const char *list, ch_store_page *page,
                        ch_store_trusted **out, size_t *count);

/* What may be edited (the seed: name, auto registration, enabled). */
typedef struct ch_svc_trusted_patch {
    const char *name;          /* NULL: keep */
    int auto_registration;     /* -1 keep, 0, 1 */
    int enabled;               /* -1 keep, 0, 1 */
    int issuer_list;           /* -1 keep, 0 the trust list, 1 the issuer list */
} ch_svc_trusted_patch;
int ch_svc_trusted_update(ch_svc *svc, const ch_actor *actor, const char *id, const ch_svc_trusted_patch *p,
                          ch_store_trusted *out);
int ch_svc_trusted_delete(ch_svc *svc, const ch_actor *actor, const char *id);

/* Proof of possession: a random code (32 hex digits) to put as the CN of a certificate signed
 * by the trusted CA's key; ch_svc_trusted_verify checks that certificate and marks the trusted
 * certificate verified (reasons: wrong_code, not_signed_by_ca). */
int ch_svc_trusted_verification_code(ch_svc *svc, const ch_actor *actor, const char *id, char code[65]);
int ch_svc_trusted_verify(ch_svc *svc, const ch_actor *actor, const char *id, const uint8_t *cert, size_t len,
                          ch_store_trusted *out);

/* ------------------------------------------------------------- tenant settings */

#define CH_MAX_THRESHOLDS 8
#define CH_MAX_WEBHOOKS 4
typedef struct ch_svc_settings {
    /* Whether trusted certificates without a proof of possession authenticate devices
     * (default true: a certificate the tenant added is trusted). */
    bool unverified_trusted_certificates_authenticate;
    /* Expiry alerts: days before the end (default 30, 14, 7, 1) and where they go. */
    int thresholds[CH_MAX_THRESHOLDS];
    size_t nthresholds;
    struct {
        char url[512];
        char secret[129];     /* HMAC-SHA256 key of the X-Certhub-Signature header */
    } webhooks[CH_MAX_WEBHOOKS];
    size_t nwebhooks;
    /* Automatic renewal happens at this fraction of a certificate's life (default 2/3), and
     * never later than the thresholds of ch_renew_at. */
    double renewal_point;
    /* Whether anyone may read the tenant's trust bundle without a token (GET
     * /api/v1/bundles/default?tenant=NAME): CA certificates are public, and a machine that is to
     * trust them often has no credential yet.  Default false; a first start sets it for the
     * "default" tenant. */
    bool public_bundle;
    /* The CA that signs a request naming none (setting default_ca_id): a CA of the tenant's
     * that holds its key, as a deployment names its issuer.  Empty: the tenant's one issuing
     * CA, and a request must name one when there are several. */
    char default_ca_id[CH_ID_MAX];
    /* The longest a token of the tenant may be made to live, in days (setting max_token_days,
     * 1 to CH_TOKEN_MAX_DAYS; 0: no bound but CH_TOKEN_MAX_DAYS, and tokens that never
     * expire).  Set, every token made is given an expiry within it. */
    int max_token_days;
    /* A token alerted to the webhooks (event token.expiring, once) this many days before its end
     * (setting token_alert_days, 1 to CH_TOKEN_MAX_DAYS, default CH_TOKEN_WARN_DAYS; 0: never,
     * stored as null).  Not one made to live that long or less: its maker knows its end. */
    int token_alert_days;
    /* The scheduler removes the tenant's certificates that ended more than this many days ago
     * (setting tidy_expired_days, CH_TIDY_MIN_DAYS to CH_TIDY_MAX_DAYS; 0: never, stored as
     * null, the default), as ch_svc_tidy does. */
    int tidy_expired_days;
} ch_svc_settings;

#define CH_TIDY_MIN_DAYS 1
#define CH_TIDY_MAX_DAYS 3650
/* The most certificate ids a tidy's answer lists (its count is of all of them). */
#define CH_TIDY_MAX_IDS 1000
typedef struct ch_svc_tidy_result {
    size_t count;                    /* removed, or that would be (dry_run) */
    size_t nids;                     /* the first CH_TIDY_MAX_IDS of them */
    char (*ids)[CH_ID_MAX];
    int expired_days;                /* the days it ran with */
    int64_t cutoff;                  /* removed: those that ended before this */
} ch_svc_tidy_result;
/* Removes the tenant's certificates that ended more than expired_days days ago (admins; 0:
 * the tenant's setting tidy_expired_days, CH_EINVAL naming expired_days when that is off too,
 * or when outside CH_TIDY_MIN_DAYS to CH_TIDY_MAX_DAYS), as ch_svc_cert_delete removes one
 * (its key, its line of renewals closed over it), each audited certificate.delete with
 * {"tidy": true, "expired_days": N}, a batch a transaction.  Kept, whatever their end: CA
 * certificates, those a keystore entry holds, those a trusted certificate or a device is, those
 * an unrevoked token's scope names, and the first certificate of a line of renewals still in
 * force (what an agent or script names the line by).  dry_run: nothing changed, the same answer.
 * Dispose out with ch_svc_tidy_result_dispose. */
int ch_svc_tidy(ch_svc *svc, const ch_actor *actor, int expired_days, bool dry_run, ch_svc_tidy_result *out);
void ch_svc_tidy_result_dispose(ch_svc_tidy_result *r);
/* The scheduler's round of tidying: every tenant whose tidy_expired_days is set; how many
 * certificates were removed. */
int ch_svc_tidy_due(ch_svc *svc);

int ch_svc_settings_get(ch_svc *svc, const ch_actor *actor, ch_svc_settings *out);
/* Changes the settings named in a JSON object (admins); unknown names are refused. */
int ch_svc_settings_update(ch_svc *svc, const ch_actor *actor, const char *json, ch_svc_settings *out);
/* Expiry alerts.  The scheduler finds, for every tenant, certificates whose remaining time
 * has crossed one of the tenant's thresholds and that were not alerted for it yet (and are
 * neither expired nor renewed), hands each to the sender for each webhook, and records it once
 * every webhook took it (a 2xx), so each crossing is sent once, restarts included.  The sender
 * is certhubd's (it owns the network); it returns 0 when the receiver accepted. */
/* installation: the webhook is the default tenant's (its admins run the installation), which
 * may reach services on the host itself; another tenant's may not. */
typedef int (*ch_alert_sender)(void *arg, const char *url, const char *secret, const char *json_body,
                               bool installation);
void ch_svc_set_alert_sender(ch_svc *svc, ch_alert_sender fn, void *arg);
int ch_svc_alerts_run(ch_svc *svc);
/* Deletes the rows of tokens revoked or expired more than CH_TOKEN_PURGE_DAYS ago, every
 * tenant's (a round takes at most 500), each with an audit entry token.purge; the audit entries
 * of what was done with them stay.  Run by the scheduler at each round; returns how many. */
#define CH_TOKEN_PURGE_DAYS 90
int ch_svc_token_purge_due(ch_svc *svc);

/* The same without an actor (the device decision).  The webhooks are listed by their URLs, their
 * secrets left sealed (each .secret empty): of the settings' readers only an alert's sender
 * needs them, and it opens them with svc_settings_secrets_of (a webhook whose secret does not
 * open is left out: what it would sign could not be told from a forgery) and wipes them with
 * svc_settings_wipe once sent. */
int svc_settings_of(ch_svc *svc, const char *tenant_id, ch_svc_settings *out);
int svc_settings_secrets_of(ch_svc *svc, const char *tenant_id, ch_svc_settings *out);
void svc_settings_wipe(ch_svc_settings *st);

/* ------------------------------------------------------------- devices */

typedef enum {
    CH_DECIDE_KNOWN_DEVICE,        /* allow */
    CH_DECIDE_AUTO_REGISTERED,     /* allow */
    CH_DECIDE_NEW_CERTIFICATE,     /* allow: a known device with a new certificate from a trusted CA */
    CH_DECIDE_UNKNOWN_DEVICE,
    CH_DECIDE_UNTRUSTED,
    CH_DECIDE_ANCHOR_DISABLED,
    CH_DECIDE_ANCHOR_DELETED,
    CH_DECIDE_ANCHOR_UNVERIFIED,
    CH_DECIDE_DEVICE_BLOCKED,
    CH_DECIDE_EXPIRED,
    CH_DECIDE_BAD_DEVICE_ID,
    CH_DECIDE_USERNAME_MISMATCH,
    CH_DECIDE_UNKNOWN_TENANT,
    CH_DECIDE_TENANT_REVOKED,
    CH_DECIDE_BAD_CERTIFICATE,
    CH_DECIDE_CERT_ELSEWHERE, /* the certificate is another tenant's device's, and no proof of possession */
    CH_DECIDE_CERT_SUPERSEDED, /* the device is known by a certificate that ends later than this one */
    CH_DECIDE_NOT_YET_VALID,   /* the device's certificate begins later */
    CH_DECIDE_CLIENT_ID_IN_USE, /* the broker keeps another device's session by the MQTT client id */
    CH_DECIDE_ERROR,
    CH_DECISION_NREASONS
} ch_decision_reason;

typedef struct ch_svc_decision {
    bool allow;
    ch_decision_reason reason;
    char message[256];
    char tenant_id[CH_ID_MAX];
    char device_id[256];          /* the certificate's CN: the MQTT user name to set on allow */
    char trusted_id[CH_ID_MAX];
} ch_svc_decision;

/* The device authentication decision (see svc_device.c).  chain: the client's certificate
 * first, then the intermediates it sent; PEM, or one DER certificate.  username: the MQTT user
 * name "tenant/device" or NULL.  client_id: the MQTT client id it connects with, or NULL (a
 * connected device asked about again): one whose session the broker keeps for another device
 * is refused; session_kept: the broker keeps this connection's session once it ends (no clean
 * session), which makes the client id the device's from then on.  Always fills *d (the answer
 * is in d, not in the return). */
int ch_svc_device_decide(ch_svc *svc, const uint8_t *chain, size_t len, const char *username, const char *client_id,
                         bool session_kept, ch_svc_decision *d);
const char *ch_decision_reason_name(ch_decision_reason r);
unsigned long ch_svc_decision_count(ch_svc *svc, ch_decision_reason r);

/* The bounded log of decisions, newest first, the actor's tenant only. */
typedef struct ch_svc_decision_entry {
    uint64_t seq;             /* its place among the tenant's decisions (from 1), for paging */
    int64_t at;
    bool allow;
    ch_decision_reason reason;
    char tenant_id[CH_ID_MAX];
    char device_id[128];
    char message[160];
} ch_svc_decision_entry;
/* Which decisions of the log to read; a NULL member takes any. */
typedef struct ch_svc_decision_filter {
    const char *device_id; /* the device id the decision named (its certificate's CN), exactly */
    const char *result;    /* "allow" or "deny" */
    /* true: the decisions that named no tenant (a CA no tenant trusts, a tenant not there), the
     * installation's admins' alone (CH_PERM_TENANTS), instead of the actor's tenant's */
    bool unattributed;
} ch_svc_decision_filter;
/* The tenant's latest decisions still in memory (the last 1024 of each tenant),
 * newest first: those before place before (0: from the newest) that filter (NULL: all) takes,
 * at most max, their number in *count. */
int ch_svc_decision_log(ch_svc *svc, const ch_actor *actor, const ch_svc_decision_filter *filter, uint64_t before,
                        ch_svc_decision_entry *out, size_t max, size_t *count);

/* page NULL: every row; else one page (ch_store_page). */
int ch_svc_device_list(ch_svc *svc, const ch_actor *actor, const ch_store_device_filter *filter, ch_store_page *page,
                       ch_store_device **out, size_t *count);
int ch_svc_device_get(ch_svc *svc, const ch_actor *actor, const char *id, ch_store_device *out);
/* Blocks (or unblocks) a device: a blocked device is refused whatever its certificate. */
int ch_svc_device_set_status(ch_svc *svc, const ch_actor *actor, const char *id, bool blocked, ch_store_device *out);
int ch_svc_device_delete(ch_svc *svc, const ch_actor *actor, const char *id);
/* Registers a device by its id before it connects (for trusted certificates without auto
 * registration): its first connection with a certificate that chains to an enabled trusted
 * certificate of the tenant lets it in and binds that certificate.  CH_EEXISTS when the id is
 * taken. */
int ch_svc_device_register(ch_svc *svc, const ch_actor *actor, const char *device_id, ch_store_device *out);

/* ------------------------------------------------------------- profiles */

/* A profile as issuing uses it: a built-in one (custom false, strings static) or a tenant's
 * custom one (p.name and p.description point at name and description, p.policy at policy:
 * its name policy, NULL when it has none). */
typedef struct ch_svc_profile {
    ch_profile p;
    bool custom;
    char *name, *description;
    ch_name_policy *policy;
    char **eku_oids, **policies; /* what p's lists point to (NULL-terminated), or NULL */
    int64_t created_at, updated_at;
} ch_svc_profile;

/* A built-in profile or one of the tenant's; CH_ENOTFOUND (field "profile") naming the
 * built-in ones otherwise. */
int ch_svc_profile_get(ch_svc *svc, const ch_actor *actor, const char *name, ch_svc_profile *out);
/* Built-in profiles first, then the tenant's by name. */
int ch_svc_profile_list(ch_svc *svc, const ch_actor *actor, ch_svc_profile **out, size_t *count);
/* Creates (create true; CH_EEXISTS when taken) or replaces a custom profile from a JSON
 * definition: {"description", "key_usage":[...], "ext_key_usage":[...], "default_days",
 * "max_days", "allow_sans"} (default_days, when not given, is 365 or max_days if less; each of
 * the two may be a ttl instead, "default_ttl" and "max_ttl": "24h", "7d"), and
 * its name policy (ch_name_policy): "allowed_domains":[...],
 * "allow_subdomains", "allow_wildcards", "allow_uri_sans" (these three false unless given, and
 * only with allowed_domains), "allow_ip_sans" (true unless allowed_domains is given); and the
 * key types its certificates may have, "key_types":["p256", ...] (absent: any).  Unknown
 * fields, CA usages and built-in names are refused.  Certificates issued afterwards, renewals
 * of older ones among them, are held to the new definition. */
int ch_svc_profile_put(ch_svc *svc, const ch_actor *actor, const char *name, const char *definition, bool create,
                       ch_svc_profile *out);
int ch_svc_profile_delete(ch_svc *svc, const ch_actor *actor, const char *name);
void ch_svc_profile_dispose(ch_svc_profile *p);
void ch_svc_profile_list_free(ch_svc_profile *list, size_t count);

/* ------------------------------------------------------------- certificates */

typedef struct ch_svc_issue_req {
    const char *name;         /* NULL: the subject's CN */
    const char *profile;      /* required */
    const char *ca_id;        /* the signing CA; NULL: the tenant's one issuing CA (see ch_svc_cert_issue) */
    /* internal (certhubd's own renewals): the certificate renewed, whose CA is gone; a refusal
     * for want of a CA is worded for whoever reads its renew_error, not as a request's */
    const char *renewal_of;
    ch_svc_subject subject;   /* required unless a CSR supplies it */
    const char *const *sans;  /* "dns:a.example"...; NULL-terminated or use san_count */
    size_t san_count;
    /* The subject key: exactly one of */
    const char *key_type;         /* generate a key on the server ("p256"...) */
    const uint8_t *csr;           /* a CSR, PEM or DER */
    size_t csr_len;
    const uint8_t *public_key;    /* a public key, PEM or DER */
    size_t public_key_len;
    const char *csr_id;           /* a CSR made on this server: signed, its key becomes the
                                   * certificate's, and the CSR is marked signed */
    int days;                 /* 0: the profile's (or ttl) */
    int64_t ttl;              /* the lifetime in seconds instead of days (ch_issue_opts); 0: days */
    int64_t not_after;        /* or the end (ch_issue_opts): its renewals keep the lifetime it makes */
    const char *digest;
    unsigned key_usage;       /* 0: the profile's */
    unsigned ext_key_usage;   /* 0: the profile's */
    /* Extended key usages and certificate policies as dotted OIDs in place of the profile's
     * (ch_issue_opts): NULL the profile's, an empty list none. */
    const char *const *eku_oids;
    const char *const *policies;
    unsigned leave_out;       /* CH_EXT_* not written (ch_issue_opts; 0: all the profile has) */
    unsigned critical_set;    /* CH_EXT_* whose criticality `critical` decides (0: RFC 5280's advice) */
    unsigned critical;
    bool cap_validity;        /* shorten to the CA's end instead of refusing */
    bool auto_renew;          /* renewed by certhubd before it expires */
    int64_t renew_before;     /* renewed this many seconds before its end (0: the tenant's renewal_point);
                               * CH_EINVAL naming renew_before when it does not fit (ch_renew_before_check) */
    bool renew_before_kept;   /* internal: renew_before is carried over from the certificate renewed */
    bool csr_usages;          /* with csr or csr_id: the usages the CSR asks for (ch_issue_opts) */
    const char *renews;       /* internal: the certificate this one renews (linked in the same transaction) */
    const char *key_id;       /* internal: the stored key public_key is of (a renewal reusing its key) */
    /* For a caller that must not be held a millisecond or more (an event loop): what would
     * take that long (a key other than P-256 or Ed25519 to make, a P-384, P-521 or Ed448 CSR
     * signature to check, a CA key other than P-256, Ed25519 or RSA-2048 to sign with) is not
     * begun, and the answer is CH_SVC_SLOW, nothing changed: the caller hands it elsewhere. */
    bool quick_only;
} ch_svc_issue_req;

#define CH_SVC_SLOW 2

/* Issues and stores a certificate (method "generated" with a server key, "csr_signed" from
 * a CSR, "issued" from a public key). */
int ch_svc_cert_issue(ch_svc *svc, const ch_actor *actor, const ch_svc_issue_req *req, ch_store_cert *out);
/* Issuing for a caller that must not wait for the commit (an event loop serving other
 * connections meanwhile).  As ch_svc_cert_issue, except that once the certificate is signed
 * and its commit queued for the writer thread it returns 1 with *pending set: ready(arg) is
 * called once, from another thread, when the commit is decided, and ch_svc_pending_end then
 * returns, on the caller's thread, what ch_svc_cert_issue would have (its error the thread's),
 * fills out, and frees pending.  The request and actor need not last past the call. */
typedef struct ch_svc_pending ch_svc_pending;
int ch_svc_cert_issue_start(ch_svc *svc, const ch_actor *actor, const ch_svc_issue_req *req, ch_store_cert *out,
                            void (*ready)(void *), void *arg, ch_svc_pending **pending);
int ch_svc_pending_end(ch_svc_pending *pending, ch_store_cert *out);

/* When a certificate of this validity is renewed: at 2/3 of its life, and never later than a
 * threshold before its end that grows with the lifetime (half of it: 30 minutes for an hour-long
 * certificate, 12 hours for a day-long one; 30 days for those of 60 days and more). */
int64_t ch_renew_at(int64_t not_before, int64_t not_after);
/* The same at another fraction of the life (0.5 to 0.9). */
int64_t ch_renew_at_fraction(int64_t not_before, int64_t not_after, double fraction);
/* When a certificate is due that has a lead time of its own (renew_before seconds before its
 * end, cert-manager's renewBefore; 0: none, ch_renew_at_fraction at fraction). */
int64_t ch_renew_at_before(int64_t not_before, int64_t not_after, int64_t renew_before, double fraction);
/* Whether renew_before (seconds, > 0) fits a certificate of this validity: shorter than its
 * lifetime (as issued: ch_issue_ttl_of).  CH_EINVAL naming the field "renew_before", saying
 * what is accepted, otherwise. */
int ch_renew_before_check(int64_t not_before, int64_t not_after, int64_t renew_before);
/* When an automatic renewal that failed attempts times before (0: this was the first) is tried
 * again: after 1, 2, 4... minutes, at most an hour, and at most a quarter of the time left
 * before not_after (a minute at least), so that a short-lived certificate is tried several
 * times before it ends. */
int64_t ch_renew_retry_at(int64_t now, int64_t not_after, int attempts);
/* Renews a certificate now: same subject, SANs, profile, CA and lifetime, the same usages and
 * extensions (those left out stay out, critical ones stay critical); a new key of the same
 * type (reuse_key: the same key; certificates whose key is not held here keep their public
 * key); linked to the old one (renews / renewed_by).  Uploaded certificates cannot be renewed
 * (CH_EPOLICY); one renewed already is CH_ECONFLICT.  Every entry of the tenant's keystores
 * that holds the old certificate holds the new one from the same transaction on, under its
 * alias, with the new one's chain, and its key: a trusted-certificate entry stays one, a key
 * entry takes the new one's key (its own kept where certhub holds none for the new one, which
 * then certifies the same public key); each audited as keystore.entry_renew.  So does an
 * automatic renewal. */
int ch_svc_cert_renew(ch_svc *svc, const ch_actor *actor, const char *id, bool reuse_key, ch_store_cert *out);
typedef struct ch_svc_renew_opts {
    bool reuse_key;
    int days;    /* the new certificate's lifetime in days, or */
    int64_t ttl; /* in seconds (CH_TTL_MIN to CH_TTL_MAX); both 0: the old one's lifetime */
    /* A lifetime asked (days or ttl) past the issuing CA's end is cut there instead of refused;
     * the old one's lifetime always is. */
    bool cap_validity;
    /* The CA that issues the renewal: NULL for the one that issued the old certificate, or
     * when that CA was deleted (the quickstart CAs retired), the one a request naming no CA
     * goes to (the tenant's default CA, else its one issuing CA). */
    const char *ca_id;
    bool automatic; /* internal: certhubd's own renewal (ch_svc_issue_req.renewal_of) */
    /* What the renewal changes, as cert-manager reissues an edited Certificate into the same
     * Secret: the lineage (agents, keystore entries) follows it.  NULL / false: the old one's. */
    const ch_svc_subject *subject;   /* another subject */
    const char *const *sans;         /* other SANs (san_count of them, 0: none), when sans_given */
    size_t san_count;
    bool sans_given;
    const char *key_type;            /* a new key of another type, made here (not with reuse_key) */
    const uint8_t *csr;              /* or the holder's new key, in a CSR (PEM or DER) */
    size_t csr_len;
    int64_t renew_before;            /* another lead time (seconds); 0: the old one's */
} ch_svc_renew_opts;
/* ch_svc_cert_renew with another lifetime: checked as at issuance (not both; the profile's
 * maximum; the issuing CA's end unless cap_validity), CH_EINVAL or CH_EPOLICY naming days or
 * ttl.  The old certificate's lifetime (the one asked at its issuance, where recorded) is cut at
 * the CA's end, never refused there: refused only when less than CH_TTL_MIN would be left. */
int ch_svc_cert_renew_opts(ch_svc *svc, const ch_actor *actor, const char *id, const ch_svc_renew_opts *opts,
                           ch_store_cert *out);
/* Renames a certificate (name NULL: kept) and turns its automatic renewal on or off
 * (auto_renew 1 or 0; -1: kept), both or neither: every check is made before either is
 * written, in one transaction. */
int ch_svc_cert_update(ch_svc *svc, const ch_actor *actor, const char *id, const char *name, int auto_renew);
/* ch_svc_cert_update that also sets the certificate's own lead time: renew_before seconds
 * (ch_renew_before_check; CH_EINVAL naming renew_before), 0 to go back to the tenant's
 * renewal_point, -1 kept.  renew_at is worked out again, and the scheduler told. */
int ch_svc_cert_update_renewal(ch_svc *svc, const ch_actor *actor, const char *id, const char *name, int auto_renew,
                               int64_t renew_before);
/* Runs the renewals that are due (every tenant); returns how many were attempted.  Failures
 * are retried with backoff (1, 2, 4... minutes, at most an hour) and audited. */
int ch_svc_renew_due(ch_svc *svc, size_t max);
/* Rotates the CAs whose policy says so (the quickstart root and issuer, and CAs whose settings
 * have "auto_rotate": true) once a third of their certificate's life is left. */
int ch_svc_rotate_due(ch_svc *svc);
/* The scheduler thread of certhubd: ch_svc_renew_due every interval seconds until
 * ch_svc_scheduler_stop (also done by ch_svc_close). */
int ch_svc_scheduler_start(ch_svc *svc, int interval_seconds);
void ch_svc_scheduler_stop(ch_svc *svc);
/* How many rounds the scheduler has finished since the service opened (0 when none runs):
 * /metrics shows it, so that a monitor sees the jobs run, and a test that a round with
 * nothing to do has gone by, rather than sleeping for what it hopes is one. */
unsigned long ch_svc_scheduler_rounds(ch_svc *svc);

/* Imports a certificate (PEM or DER) with an optional private key that must match it.
 * key_password (or NULL) opens the key of a JKS or JCEKS file whose key has a password of its
 * own (CH_EINVAL with anything else).  A CSR of the tenant made here that waits for its
 * certificate and whose key is the certificate's takes it as ch_svc_csr_attach would: the
 * certificate is "csr_signed" (named as the CSR unless a name is given), the CSR takes it as
 * its certificate, and, without a key given, the CSR's key is the certificate's.  Which CSR is
 * in *found (may be NULL).  A certificate the tenant already holds is CH_EEXISTS with its id
 * in existing_id, unless it was held without its key and a key is given now or a CSR gives
 * one: the key is added to it (the CSR takes it) and the answer is 1 (out holds that
 * certificate), where a new one is 0. */
int ch_svc_cert_import(ch_svc *svc, const ch_actor *actor, const char *name, const uint8_t *cert, size_t cert_len,
                       const uint8_t *key, size_t key_len, const char *password, const char *key_password,
                       ch_store_cert *out, char existing_id[CH_ID_MAX], ch_svc_csr_found *found);
/* The same with a name to fall back on (an uploaded file's, cleaned): used when none is given
 * and no CSR made here gives its own; NULL or "" is none. */
int ch_svc_cert_import_ex(ch_svc *svc, const ch_actor *actor, const char *name, const char *fallback_name,
                          const uint8_t *cert, size_t cert_len, const uint8_t *key, size_t key_len,
                          const char *password, const char *key_password, ch_store_cert *out,
                          char existing_id[CH_ID_MAX], ch_svc_csr_found *found);
/* What ch_svc_cert_import would do with the same arguments, nothing stored, no key kept and
 * nothing audited (a review before the import): the file read and checked as the import reads
 * it, with the same errors (CH_EEXISTS where it would refuse a duplicate). */
typedef struct ch_svc_import_preview {
    ch_store_cert row;          /* the certificate as it would be stored: no id, no key_id */
    bool has_key;               /* the file or private_key gave its private key */
    size_t chain_len;           /* the CA certificates the file holds besides it */
    char key_for[CH_ID_MAX];    /* non-empty: held already without a key, which would be added to it */
    ch_svc_csr_found csr;       /* the CSR that would take it (and give its key, csr.key_taken) */
    char *missing;              /* the issuer at which the chain stops short of a root, or NULL */
    char existing[CH_ID_MAX];   /* CH_EEXISTS: the id of the certificate held already (set on that
                                 * error alone) */
} ch_svc_import_preview;
int ch_svc_cert_import_preview(ch_svc *svc, const ch_actor *actor, const char *name, const uint8_t *cert,
                               size_t cert_len, const uint8_t *key, size_t key_len, const char *password,
                               const char *key_password, ch_svc_import_preview *out);
int ch_svc_cert_import_preview_ex(ch_svc *svc, const ch_actor *actor, const char *name, const char *fallback_name,
                                  const uint8_t *cert, size_t cert_len, const uint8_t *key, size_t key_len,
                                  const char *password, const char *key_password, ch_svc_import_preview *out);
void ch_svc_import_preview_dispose(ch_svc_import_preview *p); /* NULL is fine */
int ch_svc_cert_get(ch_svc *svc, const ch_actor *actor, const char *id, ch_store_cert *out);
/* The newest certificate of the lineage of id (following renewed_by; id itself when it was
 * not renewed) into out: what replaces it now, however many renewals on.  CH_ENOTFOUND when id
 * is not the tenant's, or its renewed_by links lead nowhere. */
int ch_svc_cert_newest_renewal(ch_svc *svc, const ch_actor *actor, const char *id, char out[CH_ID_MAX]);
int ch_svc_cert_list(ch_svc *svc, const ch_actor *actor, const ch_store_cert_filter *filter, size_t limit,
                     const char *cursor, ch_store_cert **out, size_t *count, char **next_cursor);
/* The tenant's certificates by expiry now (see ch_store_cert_expiry): for an overview that
 * stays right and quick however many there are. */
int ch_svc_cert_expiry(ch_svc *svc, const ch_actor *actor, int64_t bucket, size_t nbuckets, int64_t *valid,
                       int64_t *expired, int64_t *buckets);
/* Deleting the newest renewal of a line whose one before renewed automatically: that one is
 * in force again with its automatic renewal off (it would renew itself in the place of the
 * one deleted), its id in renewal_off ("" otherwise; renewal_off may be NULL). */
int ch_svc_cert_delete(ch_svc *svc, const ch_actor *actor, const char *id, char *renewal_off);
/* The certificate as PEM. */
int ch_svc_cert_pem(ch_buf *out, const ch_store_cert *cert);

/* What an export writes (ch_svc_cert_export, ch_svc_keystore_export).  Each option goes with
 * the formats it means something in; one given where it does not is CH_EINVAL naming it
 * (never ignored), before anything is read. */
typedef struct ch_svc_export_opts {
    int fmt;                  /* ch_format: pem, der, p7b, p12 or jks */
    const char *password;     /* p12: needed, "" for a PKCS#12 without a password; jks: needed, not
                               * empty; pem with include_key: encrypts the key */
    const char *key_password; /* jks: the key entries' own (keytool's -keypass), not empty; NULL: the
                               * password.  p12: only the password itself (it is written with one) */
    const char *alias;        /* p12, jks of one certificate: its entry's alias (1 to 128 characters,
                               * no control character); NULL: the certificate's name */
    bool include_key;         /* pem: the private key too (p12 and jks hold it unless truststore) */
    bool legacy;              /* p12: 3DES and a SHA-1 MAC, for old Java and Windows */
    bool truststore;          /* p12, jks: the certificates alone, as trusted entries */
} ch_svc_export_opts;

/* Writes a certificate with the chain of the certhub CA that issued it, in o->fmt (pem, der,
 * p7b, p12, jks; see formats.h).  With include_key (always for p12/jks) the private key goes
 * too, which needs CH_PERM_KEYS_EXPORT and is audited; truststore: p12/jks of the
 * certificates alone, as trusted entries (no key, no permission beyond reading).  name, when
 * not NULL: the certificate's name as the export read it, to offer the file under (free() it;
 * NULL on an error). */
int ch_svc_cert_export(ch_svc *svc, const ch_actor *actor, const char *id, const ch_svc_export_opts *o, ch_buf *out,
                       char **name);

/* Whether the chain of a certificate reaches a root (a self-signed certificate) through the
 * certificates the tenant holds: the chain it was imported with, or that of the certhub CA that
 * issued it.  *missing: NULL when it does, else the issuer (RFC 4514) of the last certificate
 * found, whose own certificate is held nowhere; free() it.  An uploaded file is to hold its
 * whole chain: a client that is sent the certificate alone cannot verify it otherwise. */
int ch_svc_cert_chain_gap(ch_svc *svc, const ch_actor *actor, const char *id, char **missing);

/* Exports the private key of a certificate as PEM (encrypted PKCS#8 when password is given).
 * Needs CH_PERM_KEYS_EXPORT; audited.  Dispose out with ch_buf_dispose_secure. */
int ch_svc_key_export(ch_svc *svc, const ch_actor *actor, const char *cert_id, const char *password, ch_buf *out);

/* ------------------------------------------------------------- CSRs */

typedef struct ch_svc_csr_req {
    const char *name;
    ch_svc_subject subject;
    const char *const *sans;
    size_t san_count;
    const char *key_type;     /* the key is generated and kept sealed on the server */
    const char *digest;
    /* Extensions asked of the CA that signs it (ch_csr_opts): CH_KU_*, CH_EKU_*, Basic
     * Constraints CA:TRUE when ca, with path_len (-1: none; read only with ca). */
    unsigned key_usage;
    unsigned ext_key_usage;
    bool ca;
    int path_len;
} ch_svc_csr_req;

int ch_svc_csr_create(ch_svc *svc, const ch_actor *actor, const ch_svc_csr_req *req, ch_store_csr *out);
int ch_svc_csr_get(ch_svc *svc, const ch_actor *actor, const char *id, ch_store_csr *out);
/* Deletes a CSR, and its key unless the certificate or CA it was signed for holds it. */
int ch_svc_csr_delete(ch_svc *svc, const ch_actor *actor, const char *id);
/* page NULL: every row; else one page (ch_store_page). */
int ch_svc_csr_list(ch_svc *svc, const ch_actor *actor, ch_store_page *page, ch_store_csr **out, size_t *count);
/* Attaches the certificate an outside CA signed for the CSR ("CSR exists on this system"):
 * its key must be the CSR's.  The certificate is stored with the CSR's key. */
int ch_svc_csr_attach(ch_svc *svc, const ch_actor *actor, const char *csr_id, const uint8_t *cert, size_t len,
                      ch_store_cert *out);
int ch_svc_csr_pem(ch_buf *out, const ch_store_csr *csr);

/* ------------------------------------------------------------- keystores */

/* An entry of an uploaded keystore that came without a key and took the key of a CSR made
 * here, found by its certificate's public key as ch_svc_cert_import finds one. */
typedef struct ch_svc_ks_csr_key {
    char *alias;
    char cert_id[CH_ID_MAX];
    char csr_id[CH_ID_MAX];
} ch_svc_ks_csr_key;
void ch_svc_ks_csr_keys_free(ch_svc_ks_csr_key *list, size_t count); /* NULL is fine */

/* A key entry of an uploaded keystore whose chain stops short of a root: missing is the issuer
 * (RFC 4514) of the last certificate found, whose own certificate is neither in the file nor
 * held by the tenant (as ch_svc_cert_chain_gap says of a certificate). */
typedef struct ch_svc_ks_gap {
    char *alias;
    char *missing;
} ch_svc_ks_gap;
void ch_svc_ks_gaps_free(ch_svc_ks_gap *list, size_t count); /* NULL is fine */

/* Imports a keystore in any format (include/certhub/formats.h): its entries are stored in
 * order, each entry's certificates in the inventory (a certificate the tenant already holds
 * is shared, not copied), keys sealed.  format receives what was detected (may be NULL).
 * An entry without a key whose certificate's public key is that of a CSR of the tenant made
 * here and waiting for its certificate takes that CSR's key, and the CSR the certificate, as
 * ch_svc_cert_import would (unless the tenant holds that certificate already with a key):
 * those entries are listed in *from_csr (*nfrom_csr of them, the caller's to free with
 * ch_svc_ks_csr_keys_free; both may be NULL).  The key entries (a CSR's key taken counts) whose
 * chain stops short of a root, the file and the tenant holding no certificate of the issuer
 * there, are listed in *gaps (*ngaps, in entry order; ch_svc_ks_gaps_free; both may be NULL,
 * and are not looked for then): the upload stands, as a certificate import does (that CA's
 * certificate may come later).  A trusted-certificate entry is not looked at: it is an anchor
 * of itself. */
int ch_svc_keystore_import(ch_svc *svc, const ch_actor *actor, const char *name, const uint8_t *data, size_t len,
                           const char *password, const char *key_password, ch_store_keystore *out,
                           ch_svc_ks_csr_key **from_csr, size_t *nfrom_csr, ch_svc_ks_gap **gaps, size_t *ngaps);
/* page NULL: every row; else one page (ch_store_page). */
int ch_svc_keystore_list(ch_svc *svc, const ch_actor *actor, ch_store_page *page, ch_store_keystore **out, size_t *count);
int ch_svc_keystore_get(ch_svc *svc, const ch_actor *actor, const char *id, ch_store_keystore *out);
int ch_svc_keystore_entries(ch_svc *svc, const ch_actor *actor, const char *id, ch_store_keystore_entry **out,
                            size_t *count);
/* Writes a stored keystore in o->fmt (pem, der, p7b, p12, jks), its entries under their stored
 * aliases (o->alias is CH_EINVAL).  Writing keys (p12, jks, or pem with include_key) needs
 * CH_PERM_KEYS_EXPORT and is audited; without it the keys are left out of PEM and the call is
 * refused for p12/jks, unless truststore (p12/jks of its certificates alone, as trusted
 * entries).  name, when not NULL: the keystore's name as the export read it (free() it; NULL
 * on an error). */
int ch_svc_keystore_export(ch_svc *svc, const ch_actor *actor, const char *id, const ch_svc_export_opts *o,
                           ch_buf *out, char **name);
int ch_svc_keystore_delete(ch_svc *svc, const ch_actor *actor, const char *id);
/* Renames a keystore (operator or admin; audited keystore.rename with the old name, unless the
 * name is the same).  out: the keystore as it is now (ch_store_keystore_dispose). */
int ch_svc_keystore_rename(ch_svc *svc, const ch_actor *actor, const char *id, const char *name,
                           ch_store_keystore *out);

/* A stored keystore changed entry by entry, as keytool's -importcert, -changealias and -delete
 * change one: each needs the operator role, is audited (keystore.entry_add, entry_rename,
 * entry_delete) and changes nothing when refused.  An alias is 1 to 128 characters without a
 * control character, unique in the keystore without regard to case (Java compares aliases
 * so): a clash is CH_EEXISTS on "alias".  An entry is found by its alias as spelt, else in
 * another case; none is CH_ENOTFOUND on "alias".
 *
 * entry_add: certificate cert_id of the inventory as a new last entry, with its chain (as its
 * export carries it) and, when certhub holds it, its private key (a trusted-certificate entry
 * otherwise); its position is past every one the keystore handed out, deleted entries' too.
 * alias NULL: the certificate's name.  A certificate of no such id in the tenant
 * is CH_ENOTFOUND on "certificate_id"; one renewed between its reading and the entry's
 * storing, CH_ECONFLICT on "certificate_id" (its renewal moved the entries there were, not
 * this one).  The entry follows the certificate's renewals (ch_svc_cert_renew).  out (may be
 * NULL) receives the entry (ch_store_keystore_entry_dispose). */
int ch_svc_keystore_entry_add(ch_svc *svc, const ch_actor *actor, const char *id, const char *cert_id,
                              const char *alias, ch_store_keystore_entry *out);
/* A keystore made here (not uploaded) of certificate cert_id of the inventory, its one entry
 * as entry_add adds one (its chain; its private key when certhub holds it) with the origin
 * "generated".  format is "p12" or "jks" (what the keystore is, as an upload's is the file's;
 * an export may write any format), else CH_EINVAL on "format"; name as an upload's, NULL for the
 * certificate's; alias as entry_add's.  The operator role; audited (keystore.create, keystore.entry_add); the keystore
 * and its entry are stored in one transaction, or nothing is.  out (may be NULL) receives the
 * keystore (ch_store_keystore_dispose). */
int ch_svc_keystore_create(ch_svc *svc, const ch_actor *actor, const char *name, const char *format,
                           const char *cert_id, const char *alias, ch_store_keystore *out);
/* The entry renamed new_alias (the same alias in another case is a rename); out as above. */
int ch_svc_keystore_entry_rename(ch_svc *svc, const ch_actor *actor, const char *id, const char *alias,
                                 const char *new_alias, ch_store_keystore_entry *out);
/* The entry removed; its certificates and key stay in the inventory, as when the whole
 * keystore is deleted.  alias finds it as Java does, in any case (ch_alias_same); out (may be
 * NULL) receives the entry deleted (ch_store_keystore_entry_dispose). */
int ch_svc_keystore_entry_delete(ch_svc *svc, const ch_actor *actor, const char *id, const char *alias,
                                 ch_store_keystore_entry *out);

/* ------------------------------------------------------------- audit log */

/* A page of the tenant's audit log that matches f (NULL: all of it, oldest first); *next_seq
 * is the next page's from_seq, 0 after the last page. */
int ch_svc_audit_list(ch_svc *svc, const ch_actor *actor, const ch_store_audit_filter *f, size_t limit,
                      ch_store_audit **out, size_t *count, int64_t *next_seq);
/* Walks the tenant's hash chain: 0 when intact, else CH_EVERIFY with the first bad seq in
 * *bad_seq. */
int ch_svc_audit_verify(ch_svc *svc, const ch_actor *actor, int64_t *bad_seq);

#ifdef __cplusplus
}
#endif
#endif
