/* Shared inside the service layer. */
#ifndef CERTHUB_SVC_INTERNAL_H
#define CERTHUB_SVC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "certhub/seal.h"
#include "certhub/service.h"

/* A CA as the issuing path needs it: decoded once and kept (DESIGN.md performance notes). */
typedef struct svc_ca {
    char id[CH_ID_MAX];
    char tenant_id[CH_ID_MAX];
    ch_cert *cert;
    ch_key *key;                  /* NULL: imported without key */
    char *subject;                /* RFC 4514, the issuer string of what it signs */
    char *crl_urls[4];            /* NULL-terminated */
    char *ocsp_urls[4];
    char *ca_issuers_urls[4];
    atomic_int refs;              /* the cache holds one; each user one */
    struct svc_ca *next;
} svc_ca;

struct svc_gc_item;
/* One tenant's latest device decisions (svc_device.c): a ring grown as it fills, up to
 * SVC_DECISION_LOG, so a tenant whose devices connect often pushes out only its own, and the
 * places (seq) count the tenant's own decisions only. */
struct svc_dlog {
    char tenant_id[CH_ID_MAX];
    ch_svc_decision_entry *e;
    size_t cap;    /* 0 or a power of two up to SVC_DECISION_LOG */
    uint64_t next; /* decisions logged: the newest is number next, at e[(next - 1) % cap] */
    struct svc_dlog *link;
};
struct svc_anchor {
    char sha256[65];
    ch_cert *cert;
    struct svc_anchor *next;
};

#define SVC_DECISION_LOG 1024 /* the latest decisions kept for each tenant */
#define SVC_TOK_CACHE 64

struct ch_svc {
    ch_store *store;
    char *data_dir;
    struct scheduler *scheduler; /* svc_renew.c, when started */
    atomic_ulong sched_rounds;    /* the scheduler's rounds finished (svc_renew.c) */
    char system_tenant[CH_ID_MAX]; /* the "default" tenant's id once known (under ca_lock) */
    ch_alert_sender alert_sender;  /* certhubd's webhook sender, or NULL */
    void *alert_arg;
    /* Events sent once (certificate.renewal_failed) that a webhook down in their round did not
     * take: tried again at the next rounds (svc_renew.c; the scheduler's thread alone). */
    struct svc_hook_later *hook_later;
    size_t hook_later_count;
    ch_seal *seal;
    pthread_mutex_t ca_lock;
    svc_ca *cas;
    uint64_t ca_gen; /* counts forgets (under ca_lock): a CA read before one is not cached */
    void (*log)(const char *line);
    atomic_bool trust_owed; /* the broker's CA directory could not be written: the scheduler tries again */
    /* API tokens recently authenticated (svc_token.c), by the SHA-256 of the token */
    pthread_mutex_t tok_lock;
    struct svc_tok_entry *tok[SVC_TOK_CACHE];
    unsigned tok_gen;          /* bumped by every revocation: older entries are not used */
    /* group commit (svc_commit.c) */
    pthread_mutex_t gc_lock;
    pthread_cond_t gc_cond;        /* the writer thread waits here for changes */
    struct svc_gc_item *gc_head, *gc_tail;
    bool gc_busy;              /* a batch is being written */
    bool gc_stop;
    bool gc_writer_started;
    pthread_t gc_writer;       /* started at the first change that had to queue */
    /* revoked tenants (svc.c), under tok_lock: loaded at open, added to by a revocation */
    char (*revoked)[CH_ID_MAX];
    atomic_size_t nrevoked;     /* read without the lock by svc_tenant_revoked's quick "none" */
    /* device authentication (svc_device.c): trusted certificates decoded once (by the SHA-256
     * of their DER, which never changes for a given certificate), counts by reason, the last
     * decisions */
    pthread_mutex_t anchor_lock;
    struct svc_anchor *anchors;
    size_t nanchors;
    atomic_ulong decisions[CH_DECISION_NREASONS];
    pthread_mutex_t dlog_lock;
    struct svc_dlog *dlogs; /* one per tenant that has had a decision */
    /* automatic CA rotations that failed, said once a day each (svc_renew.c; the scheduler tries
     * again every round), under rot_lock */
    pthread_mutex_t rot_lock;
    struct {
        char ca_id[CH_ID_MAX];
        int64_t said_at;
    } rot_failed[16];
};

/* Runs fn(arg) in a write transaction, possibly together with other threads' writes (group
 * commit); returns when the transaction holding them has committed, with fn's result. */
typedef int (*svc_tx_fn)(void *arg);
int svc_commit(ch_svc *svc, svc_tx_fn fn, void *arg);
/* svc_commit for a caller that must not wait for the commit (an event loop serving other
 * connections).  It queues the change for the writer thread and returns 1 with *queued set
 * (when no writer thread can take it, it waits and returns as svc_commit does); ready(ready_arg) is called, from the writer's
 * thread, once the batch holding it has committed or failed, and svc_commit_end(*queued) then
 * gives fn's result (its error made the calling thread's) and frees it.  ready may be called
 * before svc_commit_async returns (*queued is set before the writer can take the change).  fn
 * and arg must last until ready is called. */
int svc_commit_async(ch_svc *svc, svc_tx_fn fn, void *arg, void (*ready)(void *), void *ready_arg,
                     struct svc_gc_item **queued);
int svc_commit_end(struct svc_gc_item *queued);
/* Stops the writer thread of group commits after it has written what is queued (at close);
 * changes queued later are written by the thread of one of them. */
void svc_commit_stop(ch_svc *svc);

/* Whether tenant_id is the "default" tenant, whose admins run the installation
 * (CH_PERM_TENANTS).  Its id is looked up once: tenants are never renamed. */
bool svc_is_system_tenant(ch_svc *svc, const char *tenant_id);

/* Whether a tenant was revoked (kept in memory: device decisions ask on every connect). */
bool svc_tenant_revoked(ch_svc *svc, const char *tenant_id);

/* DATA_DIR/ca.pem: the roots of the chain of the CA that issues certhubd's own certificate
 * (svc_server_issuer), each unexpired certificate of that root, newest first (written when it
 * differs; left as it is when no CA issues it): at every start, and as soon as a root of the
 * installation's tenant is rotated. */
int svc_write_roots(ch_svc *svc, const ch_actor *a, const char *data_dir);
/* The CA that issues certhubd's own certificate in the tenant (the "default" one): the
 * quickstart issuing CA while it is there and signs, else the CA a certificate request naming
 * none gets (svc_default_issuer), whose error it answers when there is none.  out:
 * ch_store_ca_dispose. */
int svc_server_issuer(ch_svc *svc, const char *tenant_id, ch_store_ca *out);
/* The CA that signs a request naming none: the tenant's setting default_ca_id, else its one
 * active CA holding its key that signs no other CA of the tenant.  CH_EINVAL or CH_EPOLICY
 * (field ca_id) with a sentence naming what there is when there is none, or several;
 * renewal_of (a certificate id, or NULL) words the second for an automatic renewal of it. */
int svc_default_issuer(ch_svc *svc, const char *tenant_id, char id[CH_ID_MAX], const char *renewal_of);

/* The tenant's certificate id, read from the store and parsed. */
int svc_cert_load(ch_svc *svc, const char *tenant, const char *id, ch_cert **out);

/* Appends to chain[*len...] (at most cap in all) CA ca_id's certificate and its parents' up to
 * the root; each certificate after the first the one that signed the one before it (after a
 * rotation, the CA's certificate from before).  CH_ENOTFOUND where a CA is gone; what was
 * found stays in chain. */
int svc_ca_chain(ch_svc *svc, const char *tenant_id, const char *ca_id, ch_cert **chain, size_t *len, size_t cap);
/* Whether CA certificate c, of the tenant's unexpired CA certificates all[n], is one its
 * machines are to trust: an active CA's (cas[ncas]) current certificate, or one such a CA had
 * before a rotation.  Not a certificate only in the inventory (an import of the same name, a
 * deleted CA's). */
bool svc_ca_in_bundle(const ch_store_cert *c, const ch_store_cert *all, size_t n, const ch_store_ca *cas, size_t ncas);

/* ch_svc_cert_chain_gap for row, stored or not yet: rest (n_rest, borrowed; NULL and 0 for a
 * stored one) the CA certificates of its file, looked at before the tenant's.  *missing
 * (free()) the issuer at which its chain stops short of a root, NULL when it does not. */
int svc_chain_gap(ch_svc *svc, const char *tenant_id, const ch_store_cert *row, ch_cert *const *rest, size_t n_rest,
                  char **missing);

/* In the transaction that stores renewal (renewal->renews the certificate it renews): every
 * entry of the tenant's keystores that holds the certificate renewed holds the renewal now (see
 * ch_svc_cert_renew), each audited as keystore.entry_renew. */
int svc_keystore_follow_renewal(ch_svc *svc, const ch_actor *actor, const ch_store_cert *renewal);

/* At open: the entries that held a certificate renewed before entries followed renewals
 * (schema 28) moved to its newest renewal, each once (audited keystore.entry_renew, by
 * system:upgrade). */
int svc_keystore_backfill(ch_svc *svc);

/* Sets row->ca_id to the tenant's active CA that signed cert, when one did (a certificate
 * brought in that a CA here issued: its exports carry that CA's chain, and it counts as the
 * CA's).  Nothing for a self-signed one, or one whose row has a CA already. */
int svc_cert_link_issuer(ch_svc *svc, const char *tenant_id, const ch_cert *cert, ch_store_cert *row);

/* Frees the tenants' logs of device decisions (at close). */
void svc_dlog_free(ch_svc *svc);

/* Milliseconds of the monotonic clock: for caches and windows that a change of the wall
 * clock must not stretch or cut. */
int64_t svc_mono_ms(void);
/* Role checks: CH_EPERM with a sentence when the actor may not. */
int svc_need(const ch_actor *actor, ch_role role, const char *what);
/* A scoped token's issuance: under a profile and with a CA its scope's "issue" lists (0), or
 * CH_EPERM naming the field (a scope without "issue" issues nothing).  Unscoped actors: 0. */
int svc_scope_issue_check(const ch_actor *actor, const char *profile, const char *ca_id);
/* The CA of a token whose scope names one (1, its id into id), none (0), or several (CH_EINVAL
 * naming ca_id: a request names one of them). */
int svc_scope_ca(const ch_actor *actor, char id[CH_ID_MAX]);

/* The name given to a stored object (NULL: none given; whether one must be is the caller's
 * rule): UTF-8 of 1 to max characters and no control character (ch_utf8_control), since names
 * are printed in tables, logs and audit details, where a newline would forge a line, an escape
 * sequence rewrite a terminal and a right-to-left override show the name as another; not only
 * white space, and none at either end (ch_utf8_space), so that a name never shows blank nor as
 * another's.  CH_EINVAL on "name" otherwise. */
int svc_check_name(const char *name, size_t max);
/* A name that must be there: 1 to 128 characters, as svc_check_name takes them (CH_EINVAL on
 * "name" otherwise, an empty one or none said as required). */
int svc_need_name(const char *name);
/* A stored name carried over to a new row (a renewal's): a copy without the white space at its
 * ends, which names stored before such names were refused may have, or NULL when nothing else
 * is left (the new row's name is then its default). */
char *svc_name_carried(const char *name);
/* found (if not NULL) names csr, the CSR made here an import found, when there is one
 * (key_taken: the import took its key, having none of its own). */
void svc_csr_found_set(ch_svc_csr_found *found, const ch_store_csr *csr, bool key_taken);
/* Gives the tenant's certificate cert_id the key key_id when it is held without one (*given
 * true, if not NULL); one with a key of its own keeps it (*given false, and 0 all the same). */
int svc_cert_key_if_none(ch_svc *svc, const char *tenant_id, const char *cert_id, const char *key_id, bool *given);
/* Whether a CA can sign now: active, and certhub holds its key. */
static inline bool svc_ca_signs(const ch_store_ca *ca)
{
    return ca->key_id != NULL && strcmp(ca->status, "active") == 0;
}
/* The same for another field of such text (an alias): field names it, in the error and its
 * sentences ("the alias contains a control character"). */
int svc_check_text(const char *field, const char *text, size_t max);
/* In a transaction: renames certificate id of the actor's tenant, audited. */
int svc_cert_rename_tx(ch_svc *svc, const ch_actor *actor, const char *id, const char *name);

/* key_password given where it would go unread (it opens a JKS or JCEKS key with a password of
 * its own, keytool -keypass): CH_EINVAL naming it, saying so. */
int svc_key_password_unread(void);
/* Reads an uploaded certificate and, if given, its private key, which must belong to it.
 * Without key bytes, the certificate's own file may hold its key: a PKCS#12, JKS or JCEKS
 * file, or PEM with a private key block, gives its one key entry (several keys are refused:
 * that is a keystore); a file of certificates alone (PEM, DER, PKCS#7) gives its first.
 * password opens the file or its key.  Errors name the field ("certificate", "private_key");
 * *key stays NULL when there is no key. */
int svc_cert_and_key(ch_cert **cert, ch_key **key, const uint8_t *cert_data, size_t cert_len,
                     const uint8_t *key_data, size_t key_len, const char *password);
/* A certificate's name when none is given: its CN, else its subject (RFC 4514 text), as a
 * name is taken (ch_name_from_file: a control character makes it none), else the start of its
 * fingerprint.  NULL only when out of memory. */
char *svc_name_of_cert(const ch_cert *cert, const char *subject);
/* As svc_cert_and_key, and in *rest (n_rest) the CA certificates the file holds besides it (its
 * chain: an intermediate and root sent with it, before or after it), to free with
 * ch_cert_list_free.  The certificate is the key's, else the one that is not a CA, else the
 * first; a second that is not a CA is refused.  key_password (or NULL) opens the key of a JKS
 * or JCEKS file whose key has a password of its own; with anything else it is CH_EINVAL. */
int svc_cert_key_chain(ch_cert **cert, ch_key **key, ch_cert ***rest, size_t *n_rest, const uint8_t *cert_data,
                       size_t cert_len, const uint8_t *key_data, size_t key_len, const char *password,
                       const char *key_password);

/* 0 when cert is for the CSR of csr_row (its public key is the CSR's), else CH_EINVAL on the
 * "certificate" field. */
int svc_cert_for_csr(const ch_store_csr *csr_row, const ch_cert *cert);
/* The tenant's CSR made here that waits for its certificate and whose key is cert's public key
 * (an outside CA signed it, and it is brought in without the CSR named): 0 with *out filled
 * (ch_store_csr_dispose), checked as a named CSR is (svc_cert_for_csr); CH_ENOTFOUND when there
 * is none, and for a public key certhub cannot read.  Another tenant's CSRs are never looked at. */
int svc_csr_waiting_for(ch_svc *svc, const char *tenant_id, const ch_cert *cert, ch_store_csr *out);

/* The rows of the CA certificates a file held besides a certificate (rest, nrest), to store
 * with svc_chain_put; *out (n rows) is svc_chain_rows_free'd whatever the answer. */
int svc_chain_rows(ch_store_cert **out, size_t *n, ch_cert *const *rest, size_t nrest, const char *tenant_id);
void svc_chain_rows_free(ch_store_cert *rows, size_t n);
/* Stores the CA certificates a file held besides a certificate (its chain, rows made by
 * svc_cert_row), each audited as action with chain_of naming that certificate; those the
 * tenant holds already stay as they are.  Inside the caller's transaction. */
int svc_chain_put(ch_svc *svc, const ch_actor *actor, const char *action, ch_store_cert *chain, size_t n,
                  const char *chain_of);

/* Builds the subject name of a request. */
int svc_subject(X509_NAME **out, const ch_svc_subject *s);

/* An audit row in the log of tenant_id: the actor's own, or another's (an installation
 * admin's act there), the actor then named with its tenant ("default/token:..."), as its
 * session's actor is there. */
int svc_audit_in(ch_svc *svc, const ch_actor *actor, const char *tenant_id, const char *action,
                 const char *object_type, const char *object_id, const char *detail);
/* Appends an audit row for the actor's tenant (call inside the change's transaction). */
int svc_audit(ch_svc *svc, const ch_actor *actor, const char *action, const char *object_type,
              const char *object_id, const char *detail_json);

/* Inside a change's transaction: revokes the tokens that go back to the console user u (its
 * own and those its tokens made, in every tenant), those of a role above keep or all of them
 * when keep is 0, each audited token.revoke with {"reason": reason, "user", "user_id"} (and
 * "role", the user's new one, when keep is given); *count says how many.  Tokens nobody is
 * known to have made are left.  Call svc_tokens_forget once it has committed. */
int svc_tokens_end_for_user(ch_svc *svc, const ch_actor *actor, const ch_store_user *u, ch_role keep,
                            const char *reason, int *count);
/* Tokens were revoked: what the token cache holds is looked up again. */
void svc_tokens_forget(ch_svc *svc);

/* A key sealed and ready to store: sealing happens before the write transaction, so the
 * transaction (which holds the store's write lock) only writes rows. */
typedef struct svc_sealed {
    char id[CH_ID_MAX];
    ch_buf blob;
    ch_store_key row;
} svc_sealed;
int svc_key_seal(ch_svc *svc, const char *tenant_id, const ch_key *key, svc_sealed *out);
void svc_sealed_dispose(svc_sealed *s);

/* Stores a key sealed; *id receives its id. */
int svc_key_put(ch_svc *svc, const char *tenant_id, const ch_key *key, char id[CH_ID_MAX]);
/* Loads and opens a sealed key. */
int svc_key_load(ch_svc *svc, const char *tenant_id, const char *key_id, ch_key **out);
/* Deletes a stored key unless another stored object still refers to it (a CSR, the
 * certificate or CA it was signed for): then the key is theirs and stays.  NULL: nothing. */
int svc_key_drop(ch_svc *svc, const char *tenant_id, const char *key_id);

/* Fills a certificate row from a certificate (borrowing nothing: strings are copied).
 * is_ca: 1 or 0 when the caller knows (it just issued the certificate from a profile), -1 to
 * read it from the certificate (which parses its extensions). */
int svc_cert_row(ch_store_cert *row, const ch_cert *cert, const char *tenant_id, const char *name,
                 const char *method, int is_ca);
/* The lifetime a certificate issued here was asked for (ch_issue_ttl_of), for a renewal or a
 * rotation to ask it again: in *days when it is whole days (as it was asked before ttl came,
 * and as refusals then word it), else in *ttl; the other 0. */
void svc_lifetime_of(const ch_store_cert *c, int *days, int64_t *ttl);
/* A certificate's automatic renewal falls due at `at`: the scheduler (when started) begins a
 * round then if its next one was to come later. */
void svc_scheduler_due(ch_svc *svc, int64_t at);

/* The decoded CA (a reference: release with svc_ca_release). */
int svc_ca_load(ch_svc *svc, const char *tenant_id, const char *ca_id, svc_ca **out);
void svc_ca_release(svc_ca *ca);
void svc_ca_forget(ch_svc *svc, const char *tenant_id, const char *ca_id);

/* Rewrites DATA_DIR/trust/mqtt/: the enabled trusted certificates of every tenant as a hashed
 * CA directory (<subject hash>.<n>, the layout OpenSSL's capath reads), so a broker's TLS
 * listener trusts exactly the list.  Called after every change of a trusted certificate. */
int svc_trust_dir_sync(ch_svc *svc);
void svc_trust_dir_refresh(ch_svc *svc);
/* A line for the operator (certhubd's log), when the service was opened with one. */
void svc_log(ch_svc *svc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the events waiting for a webhook (svc_renew.c), at close. */
void svc_hook_later_free(ch_svc *svc);

/* An scrypt hash of a password ("scrypt$N$r$p$salt$hash"); free with ch_secure_free_str. */
int svc_password_hash(char **out, const char *password);

/* Runs f inside a transaction: commit when it returns 0, roll back otherwise. */
#define SVC_TX(svc, expr)                                                                                    \
    do {                                                                                                     \
        if ((error = ch_store_begin((svc)->store)) < 0)                                                      \
            goto done;                                                                                       \
        if ((error = (expr)) < 0) {                                                                          \
            ch_store_rollback((svc)->store);                                                                 \
            goto done;                                                                                       \
        }                                                                                                    \
        if ((error = ch_store_commit((svc)->store)) < 0) {                                                   \
            ch_store_rollback((svc)->store);                                                                 \
            goto done;                                                                                       \
        }                                                                                                    \
    } while (0)

#endif
