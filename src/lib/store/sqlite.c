/*
 * The SQLite back end of the store (include/certhub/store.h).
 *
 * WAL mode with one connection per thread, so readers never wait for the writer and two
 * issuing threads only meet at commit.  Statements are prepared once per connection and
 * reused.  synchronous=NORMAL makes a commit survive a crash of the process (the WAL is
 * written before the commit returns); synchronous=FULL adds an fsync per commit for power
 * loss.  The schema is versioned with PRAGMA user_version and migrated on open.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "certhub/store.h"

/* ------------------------------------------------------------- schema */

static const char *const migrations[] = {
    /* 1: the foundation. */
    "CREATE TABLE tenants ("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);"
    "CREATE TABLE users ("
    "  id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL,"
    "  role TEXT NOT NULL, password_hash TEXT, created_at INTEGER NOT NULL, UNIQUE(tenant_id, name));"
    "CREATE TABLE api_tokens ("
    "  id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), role TEXT NOT NULL,"
    "  token_hash TEXT NOT NULL UNIQUE, name TEXT, created_at INTEGER NOT NULL, revoked_at INTEGER);"
    /* Keys are small rows looked up by id only: one B-tree instead of a table and its index. */
    "CREATE TABLE keys ("
    "  id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), algorithm TEXT NOT NULL,"
    "  sealed BLOB NOT NULL, spki_sha256 TEXT NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE certificates ("
    "  id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL,"
    "  der BLOB NOT NULL, subject TEXT NOT NULL, issuer TEXT NOT NULL, serial TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL, not_before INTEGER NOT NULL, not_after INTEGER NOT NULL,"
    "  is_ca INTEGER NOT NULL, sans TEXT, key_id TEXT REFERENCES keys(id), ca_id TEXT,"
    "  method TEXT NOT NULL, profile TEXT, status TEXT NOT NULL, created_at INTEGER NOT NULL,"
    "  UNIQUE(tenant_id, sha256));"
    "CREATE INDEX certificates_expiry ON certificates(tenant_id, not_after, id);"
    "CREATE INDEX certificates_newest ON certificates(tenant_id, created_at, id);"
    "CREATE INDEX certificates_ca ON certificates(tenant_id, ca_id, not_after);"
    "CREATE TABLE cas ("
    "  id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL,"
    "  cert_id TEXT NOT NULL REFERENCES certificates(id), key_id TEXT REFERENCES keys(id),"
    "  parent_id TEXT REFERENCES cas(id), status TEXT NOT NULL, settings TEXT,"
    "  created_at INTEGER NOT NULL, UNIQUE(tenant_id, name));"
    "CREATE TABLE csrs ("
    "  id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL,"
    "  der BLOB NOT NULL, subject TEXT NOT NULL, key_id TEXT REFERENCES keys(id),"
    "  cert_id TEXT REFERENCES certificates(id), created_at INTEGER NOT NULL);"
    "CREATE INDEX csrs_tenant ON csrs(tenant_id, created_at);"
    "CREATE TABLE keystores ("
    "  id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL,"
    "  format TEXT NOT NULL, created_at INTEGER NOT NULL);"
    "CREATE TABLE keystore_entries ("
    "  id TEXT PRIMARY KEY, keystore_id TEXT NOT NULL REFERENCES keystores(id) ON DELETE CASCADE,"
    "  tenant_id TEXT NOT NULL REFERENCES tenants(id), alias TEXT NOT NULL, position INTEGER NOT NULL,"
    "  cert_id TEXT NOT NULL REFERENCES certificates(id), chain TEXT, key_id TEXT REFERENCES keys(id),"
    "  origin TEXT NOT NULL, UNIQUE(keystore_id, alias));"
    "CREATE TABLE audit_log ("
    "  seq INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, at INTEGER NOT NULL,"
    "  actor TEXT NOT NULL, action TEXT NOT NULL, object_type TEXT, object_id TEXT, detail TEXT,"
    "  prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE INDEX audit_tenant ON audit_log(tenant_id, seq);",
    /* 2: custom certificate profiles, a JSON definition per tenant and name. */
    "CREATE TABLE profiles ("
    "  tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL, definition TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY(tenant_id, name)) WITHOUT ROWID;",
    /* 3: a trigram index of subject, name and SANs, so a substring search that matches few
     * certificates reads only those instead of scanning the inventory. */
    "CREATE VIRTUAL TABLE certificates_search USING fts5(subject, name, sans, content='certificates',"
    "  content_rowid='rowid', tokenize='trigram');"
    "INSERT INTO certificates_search(certificates_search) VALUES('rebuild');"
    "CREATE TRIGGER certificates_search_ai AFTER INSERT ON certificates BEGIN"
    "  INSERT INTO certificates_search(rowid, subject, name, sans) VALUES(new.rowid, new.subject, new.name, new.sans);"
    " END;"
    "CREATE TRIGGER certificates_search_ad AFTER DELETE ON certificates BEGIN"
    "  INSERT INTO certificates_search(certificates_search, rowid, subject, name, sans)"
    "  VALUES('delete', old.rowid, old.subject, old.name, old.sans);"
    " END;"
    "CREATE TRIGGER certificates_search_au AFTER UPDATE OF subject, name, sans ON certificates BEGIN"
    "  INSERT INTO certificates_search(certificates_search, rowid, subject, name, sans)"
    "  VALUES('delete', old.rowid, old.subject, old.name, old.sans);"
    "  INSERT INTO certificates_search(rowid, subject, name, sans) VALUES(new.rowid, new.subject, new.name, new.sans);"
    " END;",
    /* 4: the search index is kept up by the store's background thread in batches, not by a
     * trigger on every insert (which cost a third of the issuing rate); rows above
     * indexed_upto are searched with LIKE until it catches up.  Triggers remain for rows
     * already indexed (and for an insert that reuses a rowid at or below the mark). */
    "DROP TRIGGER certificates_search_ai;"
    "DROP TRIGGER certificates_search_ad;"
    "DROP TRIGGER certificates_search_au;"
    "CREATE TABLE search_state (id INTEGER PRIMARY KEY CHECK (id = 1), indexed_upto INTEGER NOT NULL);"
    "INSERT INTO search_state VALUES (1, (SELECT coalesce(max(rowid), 0) FROM certificates));"
    "CREATE TRIGGER certificates_search_ai AFTER INSERT ON certificates"
    "  WHEN new.rowid <= (SELECT indexed_upto FROM search_state) BEGIN"
    "  INSERT INTO certificates_search(rowid, subject, name, sans) VALUES(new.rowid, new.subject, new.name, new.sans);"
    " END;"
    "CREATE TRIGGER certificates_search_ad AFTER DELETE ON certificates"
    "  WHEN old.rowid <= (SELECT indexed_upto FROM search_state) BEGIN"
    "  INSERT INTO certificates_search(certificates_search, rowid, subject, name, sans)"
    "  VALUES('delete', old.rowid, old.subject, old.name, old.sans);"
    " END;"
    "CREATE TRIGGER certificates_search_au AFTER UPDATE OF subject, name, sans ON certificates"
    "  WHEN old.rowid <= (SELECT indexed_upto FROM search_state) BEGIN"
    "  INSERT INTO certificates_search(certificates_search, rowid, subject, name, sans)"
    "  VALUES('delete', old.rowid, old.subject, old.name, old.sans);"
    "  INSERT INTO certificates_search(rowid, subject, name, sans) VALUES(new.rowid, new.subject, new.name, new.sans);"
    " END;",
    /* 5: trusted certificates (the CAs a tenant lets devices authenticate with) and the
     * devices registered through them. */
    "CREATE TABLE trusted_certs ("
    "  id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL,"
    "  der BLOB NOT NULL, sha256 TEXT NOT NULL, subject TEXT NOT NULL, issuer TEXT NOT NULL,"
    "  serial TEXT NOT NULL, not_before INTEGER NOT NULL, not_after INTEGER NOT NULL,"
    "  auto_registration INTEGER NOT NULL, status TEXT NOT NULL, verified INTEGER NOT NULL,"
    "  verification_code TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    "  UNIQUE(tenant_id, sha256));"
    "CREATE TABLE devices ("
    "  id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), device_id TEXT NOT NULL,"
    "  cert_sha256 TEXT NOT NULL, cert_not_after INTEGER NOT NULL, trusted_id TEXT,"
    "  registered_at INTEGER NOT NULL, last_seen INTEGER NOT NULL, status TEXT NOT NULL,"
    "  UNIQUE(tenant_id, device_id));"
    /* Without a tenant in the MQTT user name, a device is found by its certificate alone. */
    "CREATE INDEX devices_cert ON devices(cert_sha256);",
    /* 6: settings of a tenant, a JSON object (absent keys take their defaults). */
    "ALTER TABLE tenants ADD COLUMN settings TEXT;",
    /* 7: console sessions, stored as the SHA-256 of their cookie. */
    "CREATE TABLE sessions ("
    "  token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  tenant_id TEXT NOT NULL, role TEXT NOT NULL, user_name TEXT NOT NULL, csrf TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, acting_tenant_id TEXT) WITHOUT ROWID;",
    /* 8: automatic renewal: whether, when, and the lineage (renews / renewed_by). */
    "ALTER TABLE certificates ADD COLUMN auto_renew INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE certificates ADD COLUMN renew_at INTEGER;"
    "ALTER TABLE certificates ADD COLUMN renews TEXT;"
    "ALTER TABLE certificates ADD COLUMN renewed_by TEXT;"
    "ALTER TABLE certificates ADD COLUMN renew_attempts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE certificates ADD COLUMN renew_error TEXT;"
    "CREATE INDEX certificates_renew ON certificates(renew_at) WHERE auto_renew = 1 AND renewed_by IS NULL;",
    /* 9: expiry alerts sent, one row per certificate and threshold crossed. */
    "CREATE TABLE alerts_sent (tenant_id TEXT NOT NULL, cert_id TEXT NOT NULL, threshold_days INTEGER NOT NULL,"
    "  sent_at INTEGER NOT NULL, PRIMARY KEY(tenant_id, cert_id, threshold_days)) WITHOUT ROWID;",
    /* 10: tokens limited to named objects (the sync agent's), a JSON object. */
    "ALTER TABLE api_tokens ADD COLUMN scope TEXT;",
    /* 11: a tenant revoked: its data kept, no one let in any more. */
    "ALTER TABLE tenants ADD COLUMN disabled_at INTEGER;",
    /* 12: a fleet's devices listed a page at a time, all of them or those of one trusted
     * certificate, in the order they registered, without sorting the fleet for each page. */
    "CREATE INDEX devices_registered ON devices(tenant_id, registered_at, id);"
    "CREATE INDEX devices_trusted ON devices(tenant_id, trusted_id, registered_at, id);",
    /* 13: a CA's certificates in expiry order (a page of them, or the first to expire) read
     * from the CA's index alone: without id in it, SQLite walked the tenant's expiry index
     * testing each row's CA, all of them for a CA with few certificates (0.6 s at 1,000,000). */
    "DROP INDEX certificates_ca;"
    "CREATE INDEX certificates_ca ON certificates(tenant_id, ca_id, not_after, id);",
    /* 14: the CA certificates of a tenant (its trust bundle, kind=ca), a few among perhaps
     * millions: found in an index of their own instead of reading every certificate for is_ca
     * (0.77 s at 1,000,000).  Partial, so issuing a leaf writes nothing to it. */
    "CREATE INDEX certificates_cas ON certificates(tenant_id, not_after, id) WHERE is_ca=1;",
    /* 15: the imported certificates of a tenant (method=imported), perhaps a few among millions
     * issued here: read from an index of their own instead of every certificate's method (1 s
     * at 1,000,000 for none).  Partial, so issuing writes nothing to it; the methods of issuing
     * have no such index, as one would cost every issuance a B-tree more. */
    "CREATE INDEX certificates_imported ON certificates(tenant_id, created_at, id) WHERE method='imported';",
    /* 16: a certificate's method in the tenant's newest-first and expiry indexes, after the
     * columns they are ordered by: a filter on a method of issuing that few certificates have
     * is tested on the index entries, and only the rows that match are read (SQLite's deferred
     * seek), not every row of the tenant (1.0-1.4 s at 1,000,000, now 0.17 s).  The entries
     * grow by a few bytes; no B-tree is added to an issuance. */
    "DROP INDEX certificates_newest;"
    "CREATE INDEX certificates_newest ON certificates(tenant_id, created_at, id, method);"
    "DROP INDEX certificates_expiry;"
    "CREATE INDEX certificates_expiry ON certificates(tenant_id, not_after, id, method);",
    /* 17: each webhook that took an expiry alert: one that fails has the alert again at the
     * next round, and the others do not. */
    "CREATE TABLE alert_deliveries (tenant_id TEXT NOT NULL, cert_id TEXT NOT NULL, threshold_days INTEGER NOT NULL,"
    "  webhook TEXT NOT NULL, sent_at INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant_id, cert_id, threshold_days, webhook)) WITHOUT ROWID;",
    /* 18: audit entries numbered within their tenant: the row id numbers every tenant's
     * entries together, and a tenant paging its log saw how much the others did.  The rows
     * there are numbered in their order; the row id stays the order of appends. */
    "ALTER TABLE audit_log ADD COLUMN n INTEGER NOT NULL DEFAULT 0;"
    "UPDATE audit_log SET n = t.rn FROM (SELECT seq AS s, row_number() OVER (PARTITION BY tenant_id ORDER BY seq)"
    "  AS rn FROM audit_log) AS t WHERE audit_log.seq = t.s;"
    "DROP INDEX audit_tenant;"
    "CREATE UNIQUE INDEX audit_tenant ON audit_log(tenant_id, n);",
    /* 19: the list a trusted certificate is in: the trust list (it authenticates what chains to
     * it) or the issuer list (a CA certificate that only helps build chains up to one of the
     * trust list: OPC UA's two lists, Azure IoT Operations' "Trust list" and "Issuer list"). */
    "ALTER TABLE trusted_certs ADD COLUMN list_kind TEXT NOT NULL DEFAULT 'trust';",
    /* 20: certificates stored before their SANs were recorded (the column was left empty then)
     * have them read from their DER once, by ch_store_sans_backfill at the next open: their
     * renewals lost the SANs, and a search by SAN did not find them.  Rows without SANs are
     * among these and are read once for nothing. */
    "CREATE TABLE sans_backfill (id TEXT PRIMARY KEY) WITHOUT ROWID;"
    "INSERT INTO sans_backfill SELECT id FROM certificates WHERE sans IS NULL;",
    /* 21: a keystore's next entry position, which only goes up: an entry added took one past
     * the entries there, so once the entry at a client's cursor and every one after it were
     * deleted, the next took a position the client's walk had passed and was never seen.
     * What was handed out before is not recorded; the entries there are what is known. */
    "ALTER TABLE keystores ADD COLUMN next_position INTEGER NOT NULL DEFAULT 0;"
    "UPDATE keystores SET next_position = (SELECT coalesce(max(position) + 1, 0) FROM keystore_entries e"
    "  WHERE e.keystore_id = keystores.id);",
    /* 22: when a token stops working, or NULL: never (every token made before, the first
     * start's admin token among them). */
    "ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;",
    /* 23: the lifetime a certificate was issued for, in seconds, before it was cut at its CA's
     * end: its renewals keep that, not the shortened one (NULL for those stored before, and
     * for uploaded ones: their not_after less not_before). */
    "ALTER TABLE certificates ADD COLUMN lifetime INTEGER;",
    /* 24: a token near its end alerted once (alerted_at, set once every webhook took it) and
     * each webhook that took it, as alert_deliveries is for certificates. */
    "ALTER TABLE api_tokens ADD COLUMN alerted_at INTEGER;"
    "CREATE TABLE token_alert_deliveries (tenant_id TEXT NOT NULL, token_id TEXT NOT NULL, webhook TEXT NOT NULL,"
    "  sent_at INTEGER NOT NULL, PRIMARY KEY(tenant_id, token_id, webhook)) WITHOUT ROWID;",
    /* 25: a CSR made here found by its key's public key (the SHA-256 of its SubjectPublicKeyInfo,
     * as its keys row has it), so that the certificate an outside CA signed for it, imported
     * without naming the CSR, takes the key certhub holds.  The hash is copied into the CSR's
     * row and indexed there, among the CSRs still waiting for their certificate only: an index
     * on keys would cost every issuance (which stores a key) a B-tree more.  created_at and id
     * in it give the newest of several in its order: without them SQLite chose the tenant's
     * index of every CSR by date, and tested each. */
    "ALTER TABLE csrs ADD COLUMN spki_sha256 TEXT;"
    "UPDATE csrs SET spki_sha256 = (SELECT k.spki_sha256 FROM keys k WHERE k.id = csrs.key_id"
    "  AND k.tenant_id = csrs.tenant_id) WHERE key_id IS NOT NULL;"
    "CREATE INDEX csrs_waiting_key ON csrs(tenant_id, spki_sha256, created_at, id)"
    "  WHERE cert_id IS NULL AND spki_sha256 IS NOT NULL;",
    /* 26: who made a token (created_by: a console user's id, or the token's that made it) and
     * the console user it goes back to (owner_user_id: that user, or the owner of the token
     * that made it), whose deletion or demotion ends it.  NULL for the tokens made before,
     * which nobody is known to have made, and for the first start's. */
    "ALTER TABLE api_tokens ADD COLUMN created_by TEXT;"
    "ALTER TABLE api_tokens ADD COLUMN owner_user_id TEXT;"
    "CREATE INDEX api_tokens_owner ON api_tokens(owner_user_id) WHERE owner_user_id IS NOT NULL;",
    /* 27: the tokens a token made, found by tenant and created_by as a cascade's revocation
     * follows them, or a revocation without one counts them (ch_store_tokens_made_from: its
     * first step and each step down the chain).  Without it, the first step read every token of
     * the installation and each step after built an automatic index of them, per revocation.
     * Partial (created_by IS NOT NULL, which the query's created_by = ... implies), so that no
     * query without created_by can take it: with a whole index, the cascade's final SELECT read
     * every token of the tenant through it instead of looking up each token found by its id,
     * and the other queries on a tenant's tokens changed plans too. */
    "CREATE INDEX api_tokens_created_by ON api_tokens(tenant_id, created_by) WHERE created_by IS NOT NULL;",
    /* 28: a keystore's entries follow their certificate's renewals: a renewal moves those that
     * hold the certificate it renews, found by tenant and certificate here (without the index,
     * every renewal read every entry of the installation).  The entries that held a certificate
     * renewed before went on with it: each is moved to the newest renewal of its certificate
     * once, by ch_svc_open at the next open (the service makes the chain it goes out with). */
    "CREATE INDEX keystore_entries_cert ON keystore_entries(tenant_id, cert_id);"
    "CREATE TABLE keystore_renewal_backfill (id TEXT PRIMARY KEY) WITHOUT ROWID;"
    "INSERT INTO keystore_renewal_backfill SELECT e.id FROM keystore_entries e JOIN certificates c"
    "  ON c.id = e.cert_id AND c.tenant_id = e.tenant_id WHERE c.renewed_by IS NOT NULL;",
    /* 29: whether a CA rotates by itself is its setting auto_rotate (PATCH /cas/{id}, or given
     * at its creation); the quickstart CAs, which rotated by their names before, have it. */
    "UPDATE cas SET settings = json_set(coalesce(settings, '{}'), '$.auto_rotate', json('true'))"
    "  WHERE name IN ('certhub Quickstart Root CA - Not for Production',"
    "  'certhub Quickstart Issuing CA - Not for Production');",
    /* 30: steps of the set-up done once for the life of the store, with what each made:
     * "quickstart_cas", the quickstart CAs ({"root": id, "issuer": id}), so that once an admin
     * deletes them the next start does not make them again.  A store set up before made them
     * at its first start, before its first admin token: marked done, with the ids of those
     * still there (null for one deleted since). */
    "CREATE TABLE setup_steps (step TEXT PRIMARY KEY, value TEXT, done_at INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO setup_steps SELECT 'quickstart_cas', json_object("
    "  'root', (SELECT c.id FROM cas c WHERE c.tenant_id = t.id"
    "    AND c.name = 'certhub Quickstart Root CA - Not for Production'),"
    "  'issuer', (SELECT c.id FROM cas c WHERE c.tenant_id = t.id"
    "    AND c.name = 'certhub Quickstart Issuing CA - Not for Production')),"
    "  CAST(strftime('%s', 'now') AS INTEGER) FROM tenants t"
    "  WHERE t.name = 'default' AND EXISTS (SELECT 1 FROM api_tokens a WHERE a.tenant_id = t.id);",
    /* 31: whether a tenant has a disabled trusted certificate, asked at each decision about a
     * known device: one probe of this index, where the tenant's rows were each read (a tenant
     * trusting 300 CAs made a known device's decision four times slower). */
    "CREATE INDEX trusted_certs_disabled ON trusted_certs(tenant_id) WHERE status = 'disabled';",
    /* 32: the MQTT client id a device last connected with: the broker keeps a session (its
     * subscriptions, the messages queued for it) by client id after the device leaves, and
     * another device giving that id took it, another tenant's too.  One device a client id. */
    "ALTER TABLE devices ADD COLUMN client_id TEXT;"
    "CREATE UNIQUE INDEX devices_client ON devices(client_id) WHERE client_id IS NOT NULL;",
    /* 33: a certificate's own lead time for its automatic renewal, in seconds before its end
     * (cert-manager's renewBefore), carried over to its renewals; NULL: the tenant's
     * renewal_point. */
    "ALTER TABLE certificates ADD COLUMN renew_before INTEGER;",
    /* 34: the certificates a token limited to issuing made (its scope's "issue"), and their
     * renewals: it reads those and no other of its tenant's.  Its rows go with the token, a
     * certificate's with the certificate. */
    "CREATE TABLE token_certificates (token_id TEXT NOT NULL, cert_id TEXT NOT NULL,"
    "  PRIMARY KEY(token_id, cert_id)) WITHOUT ROWID;"
    "CREATE INDEX token_certificates_cert ON token_certificates(cert_id);",
};

#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* ------------------------------------------------------------- connections */

enum stmt_id {
    S_TENANT_PUT, S_TENANT_GET, S_TENANT_GET_NAME, S_TENANT_LIST, S_TENANT_DISABLE, S_TENANT_RESTORE, S_TOKEN_REVOKE_TENANT,
    S_SESS_DELETE_TENANT, S_TENANT_SETTINGS_GET, S_TENANT_SETTINGS_PUT,
    S_KEY_PUT, S_KEY_GET, S_KEY_DELETE, S_TOKEN_PUT, S_TOKEN_GET, S_TOKEN_COUNT, S_TOKEN_LIST, S_TOKEN_REVOKE, S_TOKEN_TENANT,
    S_DEV_PUT, S_DEV_BY_CERT, S_DEV_BY_NAME, S_DEV_GET, S_DEV_BY_CLIENT, S_DEV_LIST, S_DEV_UPDATE, S_DEV_DELETE,
    S_USER_PUT, S_USER_GET_NAME, S_USER_COUNT, S_USER_PASSWORD, S_USER_LIST, S_USER_ROLE, S_USER_DELETE,
    S_SESS_DELETE_USER, S_SESS_PUT, S_SESS_GET, S_SESS_DELETE, S_SESS_ACT,
    S_TRUSTED_PUT, S_TRUSTED_GET, S_TRUSTED_LIST, S_TRUSTED_UPDATE, S_TRUSTED_DELETE, S_TRUSTED_ANY_DISABLED, S_TRUSTED_TENANTS, S_TRUSTED_TENANTS_DISABLED,
    S_PROFILE_PUT, S_PROFILE_UPDATE, S_PROFILE_GET, S_PROFILE_LIST, S_PROFILE_DELETE, S_PROFILE_USERS, S_PROFILE_USERS_SINCE,
    S_CERT_EXPIRY_SUMMARY, S_CERT_EXPIRY_BUCKETS, S_CERT_FIRST_EXPIRY, S_CERT_PUT, S_CERT_GET, S_CERT_GET_SHA, S_CERT_ID_BY_SHA, S_CERT_DELETE, S_CERT_RENAME, S_CERT_SET_KEY, S_CERT_STATUS,
    S_CERT_LINEAGE_NAMED, S_TOKEN_PROFILE_USERS, S_TOKEN_CERT_HAS, S_TOKEN_CERT_ADD, S_TOKEN_CERT_INHERIT, S_TOKEN_CERT_FORGET,
    S_CERT_NEWEST,
    S_CA_PUT, S_CA_GET, S_CA_LIST, S_CA_STATUS, S_CA_DELETE, S_CA_UPDATE, S_SETUP_GET, S_SETUP_PUT,
    S_CSR_PUT, S_CSR_GET, S_CSR_BY_KEY, S_CSR_LIST, S_CSR_ATTACH, S_CSR_DETACH, S_CSR_DELETE,
    S_KS_PUT, S_KS_GET, S_KS_LIST, S_KS_DELETE, S_KS_RENAME, S_KS_POSITION, S_KSE_PUT, S_KSE_LIST, S_KSE_OF_CERT, S_KSE_DELETE, S_KSE_RENAME,
    S_KSE_HOLDING, S_KSE_SET_CERT,
    S_AUDIT_PUT, S_AUDIT_LAST, S_AUDIT_LIST, S_ALERT_DELIVERED,
    S_BEGIN, S_COMMIT, S_ROLLBACK, S_SAVEPOINT, S_RELEASE, S_ROLLBACK_TO,
    S_COUNT
};

#define CERT_COLS "id, tenant_id, name, der, subject, issuer, serial, sha256, not_before, not_after, is_ca, sans, " \
                  "key_id, ca_id, method, profile, status, created_at, auto_renew, renew_at, renews, renewed_by, " \
                  "renew_attempts, renew_error, lifetime, renew_before"
#define CA_COLS "id, tenant_id, name, cert_id, key_id, parent_id, status, settings, created_at"
/* A token as listed: never its hash.  Its maker's name is read where it is shown: a console
 * user of another tenant (an installation admin acting there) is named with its tenant's. */
#define TOKEN_COLS "id, tenant_id, role, name, '', created_at, revoked_at, scope, expires_at, created_by, " \
                   "owner_user_id, (SELECT CASE WHEN u.tenant_id = api_tokens.tenant_id THEN u.name "    \
                   "ELSE t.name || '/' || u.name END FROM users u JOIN tenants t ON t.id = u.tenant_id "  \
                   "WHERE u.id = api_tokens.created_by)"
#define CSR_COLS "id, tenant_id, name, der, subject, key_id, cert_id, created_at"
#define TRUSTED_COLS "id, tenant_id, name, der, sha256, subject, issuer, serial, not_before, not_after, " \
                     "auto_registration, status, verified, verification_code, created_at, updated_at, list_kind"
#define DEV_COLS                                                                                             \
    "id, tenant_id, device_id, cert_sha256, cert_not_after, trusted_id, registered_at, last_seen, status, client_id"
/* The devices of a list: a tenant's (?1), of one trusted certificate (?2) and status (?3) when
 * those are not NULL; a page adds its cursor's condition after it. */
#define DEV_LIST_WHERE                                                                                      \
    " FROM devices WHERE tenant_id=?1 AND (?2 IS NULL OR trusted_id=?2) AND (?3 IS NULL OR status=?3)"
#define AUDIT_COLS "n, tenant_id, at, actor, action, object_type, object_id, detail, prev_hash, hash"

static const char *const stmt_sql[S_COUNT] = {
    [S_TENANT_PUT] = "INSERT INTO tenants(id, name, created_at) VALUES(?,?,?)",
    [S_TENANT_GET] = "SELECT id, name, created_at, coalesce(disabled_at, 0) FROM tenants WHERE id=?",
    [S_TENANT_SETTINGS_GET] = "SELECT coalesce(settings, '{}') FROM tenants WHERE id=?",
    [S_TENANT_SETTINGS_PUT] = "UPDATE tenants SET settings=? WHERE id=?",
    [S_TENANT_GET_NAME] = "SELECT id, name, created_at, coalesce(disabled_at, 0) FROM tenants WHERE name=?",
    [S_TENANT_LIST] = "SELECT id, name, created_at, coalesce(disabled_at, 0) FROM tenants ORDER BY name",
    [S_TENANT_DISABLE] = "UPDATE tenants SET disabled_at=? WHERE id=? AND disabled_at IS NULL",
    [S_TENANT_RESTORE] = "UPDATE tenants SET disabled_at=NULL WHERE id=? AND disabled_at IS NOT NULL",
    [S_TOKEN_REVOKE_TENANT] = "UPDATE api_tokens SET revoked_at=? WHERE tenant_id=? AND revoked_at IS NULL",
    [S_SESS_DELETE_TENANT] = "DELETE FROM sessions WHERE tenant_id=?1 OR acting_tenant_id=?1",
    [S_KEY_PUT] = "INSERT INTO keys(id, tenant_id, algorithm, sealed, spki_sha256, created_at) VALUES(?,?,?,?,?,?)",
    [S_KEY_GET] = "SELECT id, tenant_id, algorithm, sealed, spki_sha256, created_at FROM keys WHERE tenant_id=? AND id=?",
    [S_KEY_DELETE] = "DELETE FROM keys WHERE tenant_id=? AND id=?",
    /* A token made by a token goes back to the console user that one goes back to, if any. */
    [S_TOKEN_PUT] = "INSERT INTO api_tokens(id, tenant_id, role, token_hash, name, created_at, scope, expires_at, "
                    "created_by, owner_user_id) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,"
                    "coalesce(?10, (SELECT o.owner_user_id FROM api_tokens o WHERE o.id = ?9)))",
    /* (who made it is not read here: authenticating a request does not need it) */
    [S_TOKEN_GET] = "SELECT id, tenant_id, role, name, token_hash, created_at, revoked_at, scope, expires_at "
                    "FROM api_tokens WHERE token_hash=?",
    [S_TOKEN_COUNT] = "SELECT count(*) FROM api_tokens WHERE tenant_id=? AND revoked_at IS NULL"
                      " AND (expires_at IS NULL OR expires_at > ?)",
    [S_TOKEN_LIST] = "SELECT " TOKEN_COLS " FROM api_tokens "
                     "WHERE tenant_id=? ORDER BY created_at, id",
    [S_TOKEN_TENANT] = "SELECT tenant_id FROM api_tokens WHERE id=?",
    [S_TOKEN_REVOKE] = "UPDATE api_tokens SET revoked_at=? WHERE tenant_id=? AND id=? AND revoked_at IS NULL",
    [S_DEV_PUT] = "INSERT INTO devices(" DEV_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?)",
    [S_DEV_BY_CERT] = "SELECT " DEV_COLS " FROM devices WHERE cert_sha256=?1 AND (?2 IS NULL OR tenant_id=?2) LIMIT 2",
    [S_DEV_BY_NAME] = "SELECT " DEV_COLS " FROM devices WHERE tenant_id=? AND device_id=?",
    [S_DEV_GET] = "SELECT " DEV_COLS " FROM devices WHERE tenant_id=? AND id=?",
    [S_DEV_BY_CLIENT] = "SELECT " DEV_COLS " FROM devices WHERE client_id=?",
    [S_DEV_LIST] = "SELECT " DEV_COLS DEV_LIST_WHERE " ORDER BY registered_at, id",
    [S_DEV_UPDATE] = "UPDATE devices SET cert_sha256=?, cert_not_after=?, trusted_id=?, last_seen=?, status=?,"
                     " client_id=? WHERE tenant_id=? AND id=?",
    [S_DEV_DELETE] = "DELETE FROM devices WHERE tenant_id=? AND id=?",
    [S_USER_PUT] = "INSERT INTO users(id, tenant_id, name, role, password_hash, created_at) VALUES(?,?,?,?,?,?)",
    [S_USER_GET_NAME] = "SELECT id, tenant_id, name, role, password_hash, created_at FROM users WHERE tenant_id=? AND name=?",
    [S_USER_COUNT] = "SELECT count(*) FROM users WHERE tenant_id=?",
    [S_USER_PASSWORD] = "UPDATE users SET password_hash=? WHERE tenant_id=? AND id=?",
    [S_USER_LIST] = "SELECT id, tenant_id, name, role, NULL, created_at FROM users WHERE tenant_id=? ORDER BY name",
    [S_USER_ROLE] = "UPDATE users SET role=? WHERE tenant_id=? AND id=?",
    /* Its sessions go with it (ON DELETE CASCADE). */
    [S_USER_DELETE] = "DELETE FROM users WHERE tenant_id=? AND id=?",
    [S_SESS_DELETE_USER] = "DELETE FROM sessions WHERE user_id=?1 AND token_hash<>coalesce(?2, '')",
    [S_SESS_PUT] = "INSERT INTO sessions(token_hash, user_id, tenant_id, role, user_name, csrf, created_at, expires_at)"
                   " VALUES(?,?,?,?,?,?,?,?)",
    [S_SESS_GET] = "SELECT token_hash, user_id, tenant_id, role, user_name, csrf, created_at, expires_at,"
                   " acting_tenant_id FROM sessions WHERE token_hash=?",
    [S_SESS_ACT] = "UPDATE sessions SET acting_tenant_id=? WHERE token_hash=?",
    [S_SESS_DELETE] = "DELETE FROM sessions WHERE token_hash=?",
    [S_TRUSTED_PUT] = "INSERT INTO trusted_certs(" TRUSTED_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [S_TRUSTED_GET] = "SELECT " TRUSTED_COLS " FROM trusted_certs WHERE tenant_id=? AND id=?",
    [S_TRUSTED_LIST] = "SELECT " TRUSTED_COLS " FROM trusted_certs WHERE tenant_id=? ORDER BY created_at, id",
    [S_TRUSTED_UPDATE] = "UPDATE trusted_certs SET name=?, auto_registration=?, status=?, verified=?,"
                         " verification_code=?, updated_at=?, list_kind=? WHERE tenant_id=? AND id=?",
    [S_TRUSTED_DELETE] = "DELETE FROM trusted_certs WHERE tenant_id=? AND id=?",
    [S_TRUSTED_ANY_DISABLED] = "SELECT 1 FROM trusted_certs WHERE tenant_id=? AND status='disabled' LIMIT 1",
    [S_TRUSTED_TENANTS] = "SELECT DISTINCT t.tenant_id FROM trusted_certs t JOIN tenants n ON n.id = t.tenant_id "
                          "WHERE t.status='enabled' AND t.list_kind='trust' AND n.disabled_at IS NULL ORDER BY t.tenant_id LIMIT ?",
    [S_TRUSTED_TENANTS_DISABLED] = "SELECT DISTINCT t.tenant_id FROM trusted_certs t JOIN tenants n ON n.id = t.tenant_id "
                                   "WHERE t.status='disabled' AND n.disabled_at IS NULL ORDER BY t.tenant_id LIMIT ?",
    [S_PROFILE_PUT] = "INSERT INTO profiles(tenant_id, name, definition, created_at, updated_at) VALUES(?,?,?,?,?)",
    [S_PROFILE_UPDATE] = "UPDATE profiles SET definition=?, updated_at=? WHERE tenant_id=? AND name=?",
    [S_PROFILE_GET] = "SELECT tenant_id, name, definition, created_at, updated_at FROM profiles "
                      "WHERE tenant_id=? AND name=?",
    [S_PROFILE_LIST] = "SELECT tenant_id, name, definition, created_at, updated_at FROM profiles "
                       "WHERE tenant_id=? ORDER BY name",
    [S_PROFILE_DELETE] = "DELETE FROM profiles WHERE tenant_id=? AND name=?",
    [S_PROFILE_USERS] = "SELECT count(*) FROM certificates WHERE tenant_id=? AND profile=? AND not_after>? AND renewed_by IS NULL",
    /* Those made since a time: a walk of the newest index from it, not of the whole tenant. */
    [S_PROFILE_USERS_SINCE] = "SELECT count(*) FROM certificates INDEXED BY certificates_newest WHERE tenant_id=? "
                              "AND profile=? AND not_after>? "
                              "AND renewed_by IS NULL AND created_at>=?",
    /* Each walks a range of the expiry index alone ((tenant_id, not_after, id) holds every
     * column read): two ranges cost less than one walk of the tenant testing each row, and
     * the buckets are counted here as the rows come in not_after order, without the temporary
     * B-tree a GROUP BY on a computed key needs. */
    [S_CERT_EXPIRY_SUMMARY] = "SELECT (SELECT count(*) FROM certificates WHERE tenant_id=?1 AND not_after > ?2"
                              " AND renewed_by IS NULL),"
                              " (SELECT count(*) FROM certificates WHERE tenant_id=?1 AND not_after <= ?2)",
    /* (a certificate renewed is replaced: its end asks nothing of anyone) */
    [S_CERT_FIRST_EXPIRY] = "SELECT min(not_after) FROM certificates WHERE tenant_id=? AND ca_id=? AND not_after>?"
                            " AND renewed_by IS NULL",
    [S_CERT_EXPIRY_BUCKETS] = "SELECT not_after FROM certificates WHERE tenant_id=?1 AND not_after > ?2 AND not_after < ?3"
                              " AND renewed_by IS NULL ORDER BY not_after",
    [S_CERT_PUT] = "INSERT INTO certificates(" CERT_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [S_CERT_GET] = "SELECT " CERT_COLS " FROM certificates WHERE tenant_id=? AND id=?",
    [S_CERT_GET_SHA] = "SELECT " CERT_COLS " FROM certificates WHERE tenant_id=? AND sha256=?",
    [S_CERT_ID_BY_SHA] = "SELECT id FROM certificates WHERE tenant_id=? AND sha256=?",
    [S_CERT_DELETE] = "DELETE FROM certificates WHERE tenant_id=? AND id=?",
    [S_CERT_RENAME] = "UPDATE certificates SET name=? WHERE tenant_id=? AND id=?",
    [S_CERT_SET_KEY] = "UPDATE certificates SET key_id=? WHERE tenant_id=? AND id=? AND key_id IS NULL",
    [S_CERT_STATUS] = "UPDATE certificates SET status=? WHERE tenant_id=? AND id=?",
    /* A lineage is walked here, one primary key lookup a step, not a row read and decoded a
     * step by the caller: certificates of minutes are renewed every few minutes, and a lineage
     * is thousands long within weeks.  UNION (not UNION ALL) keeps each id once, so a circle of
     * links (never made by certhub, but the file is outside bytes) ends the walk. */
    [S_CERT_LINEAGE_NAMED] = "WITH RECURSIVE lineage(id) AS (SELECT ?2 UNION"
                             " SELECT c.renews FROM certificates c JOIN lineage l ON c.id = l.id"
                             " WHERE c.tenant_id = ?1 AND c.renews IS NOT NULL)"
                             " SELECT EXISTS (SELECT 1 FROM lineage WHERE id IN"
                             " (SELECT value FROM json_each(?3) WHERE type = 'text'))",
    [S_TOKEN_PROFILE_USERS] = "SELECT count(*), min(t.id) FROM api_tokens t WHERE t.tenant_id = ?1 AND t.scope IS NOT NULL"
                              " AND json_valid(t.scope) AND t.revoked_at IS NULL"
                              " AND (t.expires_at IS NULL OR t.expires_at > ?3) AND EXISTS (SELECT 1 FROM"
                              " json_each(t.scope, '$.issue.profiles') p WHERE p.value = ?2)",
    [S_TOKEN_CERT_HAS] = "SELECT EXISTS (SELECT 1 FROM token_certificates WHERE token_id = ? AND cert_id = ?)",
    [S_TOKEN_CERT_ADD] = "INSERT OR IGNORE INTO token_certificates(token_id, cert_id) VALUES(?, ?)",
    [S_TOKEN_CERT_INHERIT] = "INSERT OR IGNORE INTO token_certificates(token_id, cert_id)"
                             " SELECT token_id, ?2 FROM token_certificates WHERE cert_id = ?1",
    [S_TOKEN_CERT_FORGET] = "DELETE FROM token_certificates WHERE cert_id = ?",
    [S_CERT_NEWEST] = "WITH RECURSIVE lineage(id, next) AS ("
                      " SELECT id, renewed_by FROM certificates WHERE tenant_id = ?1 AND id = ?2 UNION"
                      " SELECT c.id, c.renewed_by FROM certificates c JOIN lineage l ON c.id = l.next"
                      " WHERE c.tenant_id = ?1)"
                      " SELECT id FROM lineage WHERE next IS NULL LIMIT 1",
    [S_CA_PUT] = "INSERT INTO cas(" CA_COLS ") VALUES(?,?,?,?,?,?,?,?,?)",
    [S_CA_GET] = "SELECT " CA_COLS " FROM cas WHERE tenant_id=? AND id=?",
    [S_CA_LIST] = "SELECT " CA_COLS " FROM cas WHERE tenant_id=? ORDER BY created_at, id",
    [S_CA_STATUS] = "UPDATE cas SET status=? WHERE tenant_id=? AND id=?",
    [S_CA_DELETE] = "DELETE FROM cas WHERE tenant_id=? AND id=?",
    [S_CA_UPDATE] = "UPDATE cas SET name=coalesce(?, name), settings=coalesce(?, settings) WHERE tenant_id=? AND id=?",
    [S_SETUP_GET] = "SELECT coalesce(value, '') FROM setup_steps WHERE step=?",
    /* (done once: a second record of the same step keeps the first) */
    [S_SETUP_PUT] = "INSERT INTO setup_steps(step, value, done_at) VALUES(?,?,?) ON CONFLICT(step) DO NOTHING",
    /* The key's public key hash from its row, written in the same transaction just before. */
    [S_CSR_PUT] = "INSERT INTO csrs(" CSR_COLS ", spki_sha256) VALUES(?,?,?,?,?,?,?,?,"
                  " (SELECT spki_sha256 FROM keys WHERE tenant_id=?2 AND id=?6))",
    [S_CSR_GET] = "SELECT " CSR_COLS " FROM csrs WHERE tenant_id=? AND id=?",
    [S_CSR_BY_KEY] = "SELECT " CSR_COLS " FROM csrs WHERE tenant_id=? AND spki_sha256=? AND cert_id IS NULL"
                     " ORDER BY created_at DESC, id DESC LIMIT 1",
    [S_CSR_LIST] = "SELECT " CSR_COLS " FROM csrs WHERE tenant_id=? ORDER BY created_at, id",
    [S_CSR_ATTACH] = "UPDATE csrs SET cert_id=? WHERE tenant_id=? AND id=? AND cert_id IS NULL",
    [S_CSR_DETACH] = "UPDATE csrs SET cert_id=NULL WHERE tenant_id=? AND cert_id=?",
    [S_CSR_DELETE] = "DELETE FROM csrs WHERE tenant_id=? AND id=?",
    [S_KS_PUT] = "INSERT INTO keystores(id, tenant_id, name, format, created_at) VALUES(?,?,?,?,?)",
    [S_KS_GET] = "SELECT id, tenant_id, name, format, created_at FROM keystores WHERE tenant_id=? AND id=?",
    [S_KS_LIST] = "SELECT id, tenant_id, name, format, created_at FROM keystores WHERE tenant_id=? ORDER BY created_at, id",
    [S_KS_DELETE] = "DELETE FROM keystores WHERE tenant_id=? AND id=?",
    [S_KS_RENAME] = "UPDATE keystores SET name=? WHERE tenant_id=? AND id=?",
    [S_KS_POSITION] = "UPDATE keystores SET next_position = next_position + 1 WHERE tenant_id=? AND id=?"
                      " RETURNING next_position - 1",
    [S_KSE_PUT] = "INSERT INTO keystore_entries(id, keystore_id, tenant_id, alias, position, cert_id, chain, key_id, origin)"
                  " VALUES(?,?,?,?,?,?,?,?,?)",
    [S_KSE_LIST] = "SELECT id, keystore_id, tenant_id, alias, position, cert_id, chain, key_id, origin FROM keystore_entries"
                   " WHERE tenant_id=? AND keystore_id=? ORDER BY position",
    [S_KSE_DELETE] = "DELETE FROM keystore_entries WHERE tenant_id=? AND id=?",
    [S_KSE_RENAME] = "UPDATE keystore_entries SET alias=? WHERE tenant_id=? AND id=?",
    [S_KSE_HOLDING] = "SELECT id, keystore_id, tenant_id, alias, position, cert_id, chain, key_id, origin"
                      " FROM keystore_entries WHERE tenant_id=? AND cert_id=? ORDER BY keystore_id, position",
    [S_KSE_SET_CERT] = "UPDATE keystore_entries SET cert_id=?, chain=?, key_id=? WHERE tenant_id=? AND id=?",
    /* The chain is a list of certificate ids joined by commas. */
    [S_KSE_OF_CERT] = "SELECT e.alias, k.name, k.id, e.cert_id = ?2 FROM keystore_entries e JOIN keystores k ON k.id = e.keystore_id"
                      " WHERE e.tenant_id=?1 AND (e.cert_id=?2 OR instr(',' || ifnull(e.chain, '') || ',',"
                      " ',' || ?2 || ',') > 0) LIMIT 1",
    [S_AUDIT_PUT] = "INSERT INTO audit_log(tenant_id, at, actor, action, object_type, object_id, detail, prev_hash, hash,"
                    " n) VALUES(?,?,?,?,?,?,?,?,?,?)",
    [S_AUDIT_LAST] = "SELECT hash, n FROM audit_log WHERE tenant_id=? ORDER BY n DESC LIMIT 1",
    [S_AUDIT_LIST] = "SELECT " AUDIT_COLS " FROM audit_log WHERE tenant_id=? AND n>? ORDER BY n LIMIT ?",
    [S_ALERT_DELIVERED] = "SELECT 1 FROM alert_deliveries WHERE tenant_id=? AND cert_id=? AND threshold_days=? AND webhook=?",
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT part",
    [S_RELEASE] = "RELEASE part",
    [S_ROLLBACK_TO] = "ROLLBACK TO part",
};

struct conn {
    sqlite3 *db;
    bool in_tx;               /* this thread holds the store's write lock (and the writer) */
    sqlite3_stmt *stmt[S_COUNT];
    struct conn *next;
    struct ch_store *owner;
};

struct ch_store {
    char *path;
    ch_durability durability;
    int busy_ms;
    dev_t dev; /* the file opened (ch_store_replaced): 0 when not known */
    ino_t ino;
    pthread_key_t tls;
    pthread_mutex_t lock;
    /* Writers of this process queue here rather than in SQLite's busy handler, which sleeps
     * for milliseconds when the database is locked: with two issuing threads that sleep, not
     * the work, would set the pace.  Other processes still meet the busy timeout. */
    pthread_mutex_t write_lock;
    /* The one connection every write transaction runs on, whichever thread holds the write
     * lock.  A connection drops its page cache whenever another one has written, so with a
     * connection per thread each transaction started cold and read its B-tree pages again;
     * the writer's cache stays warm across transactions. */
    struct conn *writer;
    /* WAL checkpoints run on their own thread and connection, so a commit never pays for
     * copying the log back into the database (SQLite would do it in the committing thread). */
    pthread_t checkpointer;
    pthread_mutex_t ck_lock;
    pthread_cond_t ck_cond;
    bool ck_running;
    _Atomic bool ck_stop;     /* read by the indexer between batches without the lock */
    unsigned ck_pending;      /* WAL size in pages at the last commit (0: checkpointed since) */
    unsigned ck_signaled;     /* WAL size when the checkpointer was last woken */
    unsigned long ck_commits; /* commits so far: the checkpointer has work when it moves */
    bool ck_behind;           /* the search index was behind at open */
    struct conn *conns; /* every open connection, to close them all at the end */
    int version;
};

static const char *store_vfs; /* "certhub" (WAL writes gathered, below), or NULL: SQLite's default */

static int db_error(sqlite3 *db, int rc, const char *what)
{
    /* A row another still refers to is in use, not a duplicate: the callers that delete what
     * may still be used (a key) tell the two apart, and a client gets a 409 that says so. */
    if (((rc & 0xff) == SQLITE_CONSTRAINT) && db != NULL &&
        sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_FOREIGNKEY) {
        /* A row written that refers to one deleted meanwhile (a CSR, a CA, a key removed while
         * an import that names it ran) is the other way round: said as such. */
        if (strncmp(what, "storing ", 8) == 0 || strncmp(what, "registering ", 12) == 0 ||
            strncmp(what, "recording ", 10) == 0)
            return ch_error_set(CH_ECONFLICT, "%s: an object it refers to (a CSR, CA, key or tenant) was deleted "
                                "meanwhile: nothing was stored", what);
        return ch_error_set(CH_ECONFLICT, "%s: another stored object still refers to it", what);
    }
    if (rc == SQLITE_CONSTRAINT || (rc & 0xff) == SQLITE_CONSTRAINT)
        return ch_error_set(CH_EEXISTS, "%s: %s", what, sqlite3_errmsg(db));
    /* A failed system call's errno says more than SQLite's words ("disk I/O error", "unable to
     * open database file"): a full disk where the shared-memory index or the log could not
     * grow, no descriptor left, no permission. */
    int sys = db != NULL && ((rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_CANTOPEN) ? sqlite3_system_errno(db) : 0;
    if ((rc & 0xff) == SQLITE_FULL || sys == ENOSPC || sys == EDQUOT || sys == EFBIG)
        return ch_error_set(CH_ENOSPACE, "%s: the store cannot grow: its disk is full (or a quota or file size limit "
                            "is reached); nothing was stored: free some space and try again", what);
    if (sys == EMFILE || sys == ENFILE)
        return ch_error_set(CH_EUNAVAIL, "%s: certhubd has no file descriptor left to open its store (%s): try "
                            "again shortly; if it lasts, raise its limit (LimitNOFILE) or lower --max-connections",
                            what, strerror(sys));
    if (sys == EACCES || sys == EPERM || sys == EROFS)
        return ch_error_set(CH_ESTORE, "%s: %s (%s): certhubd must be able to read and write its store and the "
                            "-wal and -shm files beside it", what, sqlite3_errmsg(db), strerror(sys));
    if ((rc & 0xff) == SQLITE_READONLY)
        return ch_error_set(CH_ESTORE, "%s: the store is read-only for certhubd (its file's mode or owner, or a "
                            "read-only mount): nothing was stored", what);
    if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
        return ch_error_set(CH_ESTORE, "%s: the database file is not a certhub database or is damaged (%s)", what,
                            sqlite3_errmsg(db));
    return ch_error_set(CH_ESTORE, "%s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static void conn_close(struct conn *c)
{
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(c->stmt[i]);
    sqlite3_close_v2(c->db);
    free(c);
}

/* Thread exit: forget and close this thread's connection. */
static void conn_release(void *p)
{
    struct conn *c = p, **pp;
    struct ch_store *s = c->owner;

    pthread_mutex_lock(&s->lock);
    for (pp = &s->conns; *pp != NULL; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    pthread_mutex_unlock(&s->lock);
    conn_close(c);
}

/* Each time the log grows by this many pages (64 MiB of 4 KiB pages), the checkpointer copies
 * it into the database and restarts it.  A checkpoint writes each page once however often it
 * changed since the last, and syncs twice: a checkpoint every thousand pages (SQLite's
 * default) cost an in-process issuance about a fifth of its CPU, one every four thousand
 * about a twentieth.  The restart holds the write lock for its last copy and its syncs
 * (2-7 ms), and every writer waits: at 4,000 pages that was a tenth of the time of certhubd
 * issuing over HTTPS; at 16,000 a fortieth, and HTTPS issuing went 5-7 % faster. */
#define WAL_RESTART_PAGES 16000u

/* Called by SQLite after each commit with the WAL's size in pages. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct ch_store *s = arg;

    (void)db;
    (void)name;
    pthread_mutex_lock(&s->ck_lock);
    if ((unsigned)pages / WAL_RESTART_PAGES != s->ck_signaled / WAL_RESTART_PAGES && (unsigned)pages >= WAL_RESTART_PAGES)
        pthread_cond_signal(&s->ck_cond);
    s->ck_signaled = (unsigned)pages;
    s->ck_pending = (unsigned)pages;
    s->ck_commits++;
    pthread_mutex_unlock(&s->ck_lock);
    return SQLITE_OK;
}

/* Rows indexed per transaction: small enough that the write lock is held for milliseconds. */
#define INDEX_BATCH 1000

static struct conn *writer_get(struct ch_store *s);

/* How far the search index goes (mark) and the last certificate's rowid (top). */
static int index_marks(sqlite3 *db, int64_t *mark, int64_t *top)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;

    *mark = *top = 0;
    if (sqlite3_prepare_v2(db, "SELECT (SELECT indexed_upto FROM search_state), (SELECT max(rowid) FROM certificates)",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        *mark = sqlite3_column_int64(st, 0);
        *top = sqlite3_column_int64(st, 1);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Adds the certificates above the search index's mark to it, a batch per transaction, until
 * it has caught up or the store is closing. */
static void index_pending(struct ch_store *s, sqlite3 *own)
{
    sqlite3 *db = own;
    struct conn *w;

    for (;;) {
        sqlite3_stmt *st = NULL;
        int64_t mark, top, hi;
        int rc;

        if (index_marks(db, &mark, &top) < 0 || top <= mark || s->ck_stop)
            return;
        hi = top - mark > INDEX_BATCH ? mark + INDEX_BATCH : top;
        pthread_mutex_lock(&s->write_lock);
        /* Written on the writer's connection: a write on any other would drop the writer's
         * page cache (SQLite resets a connection's cache when another one has written). */
        if ((w = writer_get(s)) == NULL) {
            pthread_mutex_unlock(&s->write_lock);
            return;
        }
        db = w->db;
        rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK && sqlite3_prepare_v2(db,
                                                  "INSERT INTO certificates_search(rowid, subject, name, sans)"
                                                  " SELECT rowid, subject, name, sans FROM certificates"
                                                  " WHERE rowid > ?1 AND rowid <= ?2;"
                                                  , -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, mark);
            sqlite3_bind_int64(st, 2, hi);
            rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
            sqlite3_finalize(st);
            st = NULL;
            if (rc == SQLITE_OK && sqlite3_prepare_v2(db, "UPDATE search_state SET indexed_upto = ?1 WHERE indexed_upto = ?2",
                                                      -1, &st, NULL) == SQLITE_OK) {
                sqlite3_bind_int64(st, 1, hi);
                sqlite3_bind_int64(st, 2, mark);
                rc = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(db) == 1 ? SQLITE_OK : SQLITE_ERROR;
            }
            sqlite3_finalize(st);
        }
        rc = sqlite3_exec(db, rc == SQLITE_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
        pthread_mutex_unlock(&s->write_lock);
        db = own;
        if (rc != SQLITE_OK)
            return; /* tried again at the next wake; searches stay correct meanwhile */
    }
}

/* The checkpointer's connection, opened at its first round with work. */
static sqlite3 *checkpoint_db(struct ch_store *s)
{
    sqlite3 *db = NULL;

    if (sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, store_vfs) != SQLITE_OK) {
        sqlite3_close_v2(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 1000);
    /* A connection learns that the database is in WAL mode when it first reads it; until then
     * a checkpoint on it does nothing. */
    (void)sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    /* Checkpoints sync the log before copying it and the database after (NORMAL), whatever
     * the durability of commits: without, a power loss after the log had been restarted over
     * frames whose copies were still in the OS's cache would leave a damaged database, not
     * only lose the last commits.  The syncs happen here, off the commit path (the passive
     * checkpoint below runs without the write lock; the restart under it has little left to
     * copy); bench_https showed no difference in the issuing rate. */
    (void)sqlite3_exec(db, s->durability == CH_DURABLE_POWER ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                       NULL, NULL, NULL);
    return db;
}

/* Once a second, or sooner when the log grows: adds new certificates to the search index and
 * checkpoints the log.  Rounds run only once something was committed (or the index was
 * behind at open): an idle certhubd never opens this connection, nor runs its code. */
static void *checkpoint_main(void *arg)
{
    struct ch_store *s = arg;
    sqlite3 *db = NULL;
    struct timespec until;
    unsigned long seen = 0;
    unsigned idle_rounds = 0;

    ch_thread_name("certhub-ckpt");
    pthread_mutex_lock(&s->ck_lock);
    while (!s->ck_stop) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&s->ck_cond, &s->ck_lock, &until);
        if (s->ck_stop)
            break;
        if (s->ck_commits == seen && s->ck_pending == 0 && !s->ck_behind) {
            /* Ten rounds without work: the connection goes (its schema and cache with it)
             * until there is work again. */
            if (++idle_rounds == 10 && db != NULL) {
                pthread_mutex_unlock(&s->ck_lock);
                sqlite3_close_v2(db);
                db = NULL;
                pthread_mutex_lock(&s->ck_lock);
            }
            continue;
        }
        idle_rounds = 0;
        seen = s->ck_commits;
        s->ck_behind = false;
        pthread_mutex_unlock(&s->ck_lock);
        if (db == NULL && (db = checkpoint_db(s)) == NULL) {
            pthread_mutex_lock(&s->ck_lock);
            s->ck_behind = true; /* tried again next round */
            continue;
        }
        index_pending(s, db);
        pthread_mutex_lock(&s->ck_lock);
        if (s->ck_pending == 0)
            continue;
        unsigned pages = s->ck_pending;
        s->ck_pending = 0;
        pthread_mutex_unlock(&s->ck_lock);
        /* PASSIVE: copies what it can without waiting for or blocking writers. */
        (void)sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (pages >= WAL_RESTART_PAGES) {
            /* Under steady writing a passive checkpoint never catches up and the log only
             * grows.  Holding the write lock (writers of this process wait on it anyway),
             * copy everything and restart the log from its beginning. */
            pthread_mutex_lock(&s->write_lock);
            (void)sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
            pthread_mutex_unlock(&s->write_lock);
        }
        pthread_mutex_lock(&s->ck_lock);
    }
    pthread_mutex_unlock(&s->ck_lock);
    sqlite3_close_v2(db);
    return NULL;
}

static int exec(sqlite3 *db, const char *sql, const char *what)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : db_error(db, rc, what);
}

/* A connection, with a page cache of 512 kB instead of SQLite's 2 MB: the operating system
 * caches the file as well, and with 2 MB each (a connection per thread that reads, and the
 * writer) certhubd's memory grew with the store by up to 2 MB a connection.  Measured at
 * 1,000,000 certificates: pages read alike (bench_list; 10.6 MB resident after it instead of
 * 12.2 MB) and issuing into that store alike (bench_https --data-dir, three alternating pairs);
 * the soak test's growth after its warm-up went from about 3 MB to 1.1-1.4 MB. */
static int conn_open(struct conn **out, struct ch_store *s)
{
    struct conn *c = calloc(1, sizeof *c);
    char pragmas[256];
    int rc, error;

    *out = NULL;
    if (c == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    c->owner = s;
    rc = sqlite3_open_v2(s->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                         store_vfs);
    if (rc != SQLITE_OK) {
        char what[4200];
        snprintf(what, sizeof what, "cannot open the store %s", s->path);
        error = db_error(c->db, rc, what);
        conn_close(c);
        return error;
    }
    /* Writers wait for each other instead of failing; readers never wait (WAL). */
    sqlite3_busy_timeout(c->db, s->busy_ms);
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
             " PRAGMA cache_size=-512;",
             s->durability == CH_DURABLE_POWER ? "FULL" : "NORMAL");
    if ((error = exec(c->db, pragmas, "configuring the store")) < 0) {
        ch_error_prefix("%s", s->path);
        conn_close(c);
        return error;
    }
    if (s->ck_running) {
        sqlite3_wal_autocheckpoint(c->db, 0);
        sqlite3_wal_hook(c->db, wal_hook, s);
    }
    *out = c;
    return 0;
}

static struct conn *conn_get(struct ch_store *s)
{
    struct conn *c = pthread_getspecific(s->tls);

    if (c != NULL)
        return c->in_tx ? s->writer : c;
    if (conn_open(&c, s) < 0)
        return NULL;
    pthread_mutex_lock(&s->lock);
    c->next = s->conns;
    s->conns = c;
    pthread_mutex_unlock(&s->lock);
    pthread_setspecific(s->tls, c);
    return c;
}

/* The prepared statement id of this thread's connection, reset and unbound. */
static sqlite3_stmt *stmt(struct ch_store *s, enum stmt_id id, sqlite3 **db)
{
    struct conn *c = conn_get(s);
    int rc;

    if (c == NULL)
        return NULL;
    *db = c->db;
    if (c->stmt[id] == NULL) {
        rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[id], NULL);
        if (rc != SQLITE_OK) {
            db_error(c->db, rc, "preparing a statement");
            return NULL;
        }
    } else {
        sqlite3_reset(c->stmt[id]);
        sqlite3_clear_bindings(c->stmt[id]);
    }
    return c->stmt[id];
}

/* Whether the tables are those of the schema version the store says it has: each statement of
 * this certhub prepared once (and let go).  A store a development build made under a version
 * whose migration changed later would otherwise open and fail request by request ("no such
 * column"). */
static int schema_matches(struct ch_store *s)
{
    struct conn *c = conn_get(s);

    if (c == NULL)
        return ch_error_last_code();
    for (int i = 0; i < S_COUNT; i++) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(c->db, stmt_sql[i], -1, &st, NULL);
        sqlite3_finalize(st);
        if (rc != SQLITE_OK)
            return ch_error_set(CH_ESTORE, "the store %s has schema version %d but not its tables (%s): it was made "
                                "by a build whose migrations differ from this one's; restore a backup made by a "
                                "released certhub", s->path, s->version, sqlite3_errmsg(c->db));
    }
    return 0;
}

static int migrate(struct ch_store *s)
{
    struct conn *c = conn_get(s);
    sqlite3_stmt *st;
    int version = 0, error = 0;
    char sql[64];

    if (c == NULL)
        return ch_error_last_code();
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return db_error(c->db, SQLITE_ERROR, "reading the schema version");
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > SCHEMA_VERSION)
        return ch_error_set(CH_ESTORE, "the store %s has schema version %d, newer than this certhub (%d): "
                            "upgrade certhub", s->path, version, SCHEMA_VERSION);
    for (int v = version; v < SCHEMA_VERSION; v++) {
        /* Each migration and its version bump commit together, so a crash leaves either. */
        if ((error = exec(c->db, "BEGIN IMMEDIATE", "migrating the store")) < 0)
            return error;
        snprintf(sql, sizeof sql, "PRAGMA user_version=%d", v + 1);
        if ((error = exec(c->db, migrations[v], "migrating the store")) < 0 ||
            (error = exec(c->db, sql, "migrating the store")) < 0 ||
            (error = exec(c->db, "COMMIT", "migrating the store")) < 0) {
            (void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            return error;
        }
    }
    s->version = SCHEMA_VERSION;
    return 0;
}

/* ---------------------------------------------------- WAL write coalescing */

/*
 * SQLite writes each WAL frame as two writes (its 24-byte header, then the page), so a commit
 * of six pages is twelve pwrite calls: a tenth of an issuance.  This VFS, the default one
 * with the WAL file wrapped, gathers contiguous writes to the WAL and hands them to the OS in
 * one write as soon as the transaction's commit frame is complete, which is before SQLite
 * publishes the frames to readers (the wal-index) and before the commit returns: what a
 * commit acknowledges is in the OS exactly as before.  Any other operation on the file (read,
 * sync, truncate, size, close, lock) writes out what is gathered first, so the file is never
 * seen without it.  The frame format is SQLite's documented WAL format: a frame header's
 * bytes 4-7 are the database size after a commit, zero in the other frames.
 */
/* The unix VFS writes at most 128 kB per call (it masks the length to 17 bits). */
#define WAL_GATHER_MAX (64 * 1024)

struct wal_file {
    sqlite3_file base;
    sqlite3_file *real;       /* the default VFS's file, in the memory after this struct */
    uint8_t *buf;
    size_t len, cap;
    sqlite3_int64 at;         /* file offset of buf[0] */
    bool committing;          /* a commit frame's header was gathered: write through */
    bool passthrough;         /* an unexpected write was seen: no more gathering */
};

static sqlite3_vfs *base_vfs;
static sqlite3_vfs wal_vfs;
static sqlite3_io_methods wal_methods;

/* A write to the log.  Out of room (the disk full, a quota, a file size limit) is SQLITE_FULL,
 * said while errno still says so: SQLite's unix VFS makes a short write SQLITE_FULL, but a
 * write that fails outright SQLITE_IOERR_WRITE ("disk I/O error"), whatever the cause. */
static int wal_real_write(struct wal_file *f, const void *data, int n, sqlite3_int64 off)
{
    int rc = f->real->pMethods->xWrite(f->real, data, n, off);

    if ((rc & 0xff) == SQLITE_IOERR && (errno == ENOSPC || errno == EDQUOT || errno == EFBIG))
        rc = SQLITE_FULL;
    return rc;
}

static int wal_flush(struct wal_file *f)
{
    int rc = SQLITE_OK;

    if (f->len > 0)
        rc = wal_real_write(f, f->buf, (int)f->len, f->at);
    f->len = 0;
    return rc;
}

static int wal_write(sqlite3_file *file, const void *data, int n, sqlite3_int64 off)
{
    struct wal_file *f = (struct wal_file *)file;
    const uint8_t *d = data;
    int rc;

    /* Only the shapes SQLite writes a log in are gathered: its 32-byte header, 24-byte frame
     * headers and whole pages (a power of two).  Anything else (a frame written in one piece
     * by another SQLite, a write split at a sync point) turns gathering off for this file. */
    if (!f->passthrough && n != 24 && n != 32 && !(n >= 512 && (n & (n - 1)) == 0)) {
        if ((rc = wal_flush(f)) != SQLITE_OK)
            return rc;
        f->passthrough = true;
    }
    if (f->passthrough)
        return wal_real_write(f, data, n, off);
    if (f->len > 0 && (off != f->at + (sqlite3_int64)f->len || f->len + (size_t)n > WAL_GATHER_MAX) &&
        (rc = wal_flush(f)) != SQLITE_OK)
        return rc;
    if ((size_t)n > WAL_GATHER_MAX)
        return wal_real_write(f, data, n, off);
    if (n == 24) /* a frame header: is this the transaction's commit frame? */
        f->committing = (d[4] | d[5] | d[6] | d[7]) != 0;
    else if (n == 32 && off == 0)
        f->committing = false; /* the log's own header: a new log */
    if (f->len + (size_t)n > f->cap) {
        size_t cap = f->cap ? f->cap : 32 * 1024;
        uint8_t *nb;
        while (cap < f->len + (size_t)n)
            cap *= 2;
        if ((nb = realloc(f->buf, cap)) == NULL) {
            if ((rc = wal_flush(f)) != SQLITE_OK)
                return rc;
            return wal_real_write(f, data, n, off);
        }
        f->buf = nb;
        f->cap = cap;
    }
    if (f->len == 0)
        f->at = off;
    memcpy(f->buf + f->len, data, (size_t)n);
    f->len += (size_t)n;
    return f->committing && n != 24 ? wal_flush(f) : SQLITE_OK;
}

static int wal_close(sqlite3_file *file)
{
    struct wal_file *f = (struct wal_file *)file;
    int rc = wal_flush(f), rc2 = f->real->pMethods->xClose(f->real);

    free(f->buf);
    f->buf = NULL;
    f->cap = 0;
    return rc != SQLITE_OK ? rc : rc2;
}

/* Every other method writes out what is gathered, then does what the default VFS does. */
#define WAL_FWD(name, params, args)                                                                      \
    static int wal_##name params                                                                         \
    {                                                                                                    \
        struct wal_file *f = (struct wal_file *)file;                                                    \
        int rc = wal_flush(f);                                                                           \
        return rc != SQLITE_OK ? rc : f->real->pMethods->name args;                                      \
    }
WAL_FWD(xRead, (sqlite3_file *file, void *p, int n, sqlite3_int64 off), (f->real, p, n, off))
WAL_FWD(xTruncate, (sqlite3_file *file, sqlite3_int64 size), (f->real, size))
WAL_FWD(xSync, (sqlite3_file *file, int flags), (f->real, flags))
WAL_FWD(xFileSize, (sqlite3_file *file, sqlite3_int64 *size), (f->real, size))
WAL_FWD(xLock, (sqlite3_file *file, int lock), (f->real, lock))
WAL_FWD(xUnlock, (sqlite3_file *file, int lock), (f->real, lock))
WAL_FWD(xCheckReservedLock, (sqlite3_file *file, int *out), (f->real, out))
WAL_FWD(xFileControl, (sqlite3_file *file, int op, void *arg), (f->real, op, arg))
WAL_FWD(xShmMap, (sqlite3_file *file, int pg, int pgsz, int extend, void volatile **p), (f->real, pg, pgsz, extend, p))
WAL_FWD(xShmLock, (sqlite3_file *file, int offset, int n, int flags), (f->real, offset, n, flags))
WAL_FWD(xShmUnmap, (sqlite3_file *file, int del), (f->real, del))
WAL_FWD(xFetch, (sqlite3_file *file, sqlite3_int64 off, int n, void **p), (f->real, off, n, p))
WAL_FWD(xUnfetch, (sqlite3_file *file, sqlite3_int64 off, void *p), (f->real, off, p))

static int wal_xSectorSize(sqlite3_file *file)
{
    struct wal_file *f = (struct wal_file *)file;

    return f->real->pMethods->xSectorSize(f->real);
}

static int wal_xDeviceCharacteristics(sqlite3_file *file)
{
    struct wal_file *f = (struct wal_file *)file;

    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static void wal_xShmBarrier(sqlite3_file *file)
{
    struct wal_file *f = (struct wal_file *)file;

    (void)wal_flush(f);
    f->real->pMethods->xShmBarrier(f->real);
}

static int wal_vfs_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *out_flags)
{
    struct wal_file *f = (struct wal_file *)file;
    int rc;

    (void)vfs;
    if (!(flags & SQLITE_OPEN_WAL))
        return base_vfs->xOpen(base_vfs, name, file, flags, out_flags);
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    rc = base_vfs->xOpen(base_vfs, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK || f->real->pMethods == NULL) {
        f->base.pMethods = NULL;
        return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
    }
    f->base.pMethods = &wal_methods;
    return SQLITE_OK;
}

/* Registers the "certhub" VFS; false when it cannot be (the default VFS is used then). */
static bool wal_vfs_register(void)
{
    if ((base_vfs = sqlite3_vfs_find(NULL)) == NULL)
        return false;
    wal_vfs = *base_vfs;
    wal_vfs.zName = "certhub";
    wal_vfs.szOsFile = (int)sizeof(struct wal_file) + base_vfs->szOsFile;
    wal_vfs.xOpen = wal_vfs_open;
    wal_vfs.pNext = NULL;
    wal_methods = (sqlite3_io_methods){
        .iVersion = 3, .xClose = wal_close, .xRead = wal_xRead, .xWrite = wal_write, .xTruncate = wal_xTruncate,
        .xSync = wal_xSync, .xFileSize = wal_xFileSize, .xLock = wal_xLock, .xUnlock = wal_xUnlock,
        .xCheckReservedLock = wal_xCheckReservedLock, .xFileControl = wal_xFileControl,
        .xSectorSize = wal_xSectorSize, .xDeviceCharacteristics = wal_xDeviceCharacteristics,
        .xShmMap = wal_xShmMap, .xShmLock = wal_xShmLock, .xShmBarrier = wal_xShmBarrier,
        .xShmUnmap = wal_xShmUnmap, .xFetch = wal_xFetch, .xUnfetch = wal_xUnfetch,
    };
    return sqlite3_vfs_register(&wal_vfs, 0) == SQLITE_OK;
}

/* SQLite's per-connection memory, set before its first use.  By default each connection
 * allocates 120 kB of lookaside slots and 20 pages of cache up front; certhubd holds a
 * connection per thread, which made up most of an idle certhubd's heap.  Small lookaside,
 * and cache pages allocated as they are used. */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void sqlite_configure(void)
{
    /* SQLITE_MISUSE when the process initialised SQLite already: its settings stay. */
    (void)sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 512, 32);
    (void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
    if (sqlite3_initialize() == SQLITE_OK && wal_vfs_register())
        store_vfs = "certhub";
}

/* Whether certificates were stored that the search index has not reached (read on the
 * opening thread's connection). */
static bool index_behind(struct ch_store *s)
{
    struct conn *c = conn_get(s);
    int64_t mark, top;

    /* when in doubt, let the checkpointer look */
    return c == NULL || index_marks(c->db, &mark, &top) < 0 || top > mark;
}

int ch_store_open(ch_store **out, const ch_store_opts *opts)
{
    struct ch_store *s;
    const char *url = opts && opts->url ? opts->url : NULL;
    int error;

    *out = NULL;
    pthread_once(&sqlite_once, sqlite_configure);
    if (url == NULL || *url == '\0')
        return ch_error_set(CH_EINVAL, "no store given: expected sqlite:PATH or a file path");
    if (strncmp(url, "sqlite:", 7) == 0)
        url += 7;
    else if (strstr(url, "://") != NULL)
        return ch_error_set(CH_EUNSUPPORTED, "store URL %.64s is not supported; accepted: sqlite:PATH", url);
    if (sqlite3_threadsafe() == 0)
        return ch_error_set(CH_ESTORE, "SQLite was built without thread support");
    if ((s = calloc(1, sizeof *s)) == NULL || (s->path = strdup(url)) == NULL) {
        free(s);
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    s->durability = opts->durability;
    s->busy_ms = opts->busy_ms > 0 ? opts->busy_ms : 10000;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->write_lock, NULL);
    if (pthread_key_create(&s->tls, conn_release) != 0) {
        free(s->path);
        free(s);
        return ch_error_set(CH_ENOMEM, "out of thread-local keys");
    }
    pthread_mutex_init(&s->ck_lock, NULL);
    pthread_cond_init(&s->ck_cond, NULL);
    /* A new store is its owner's alone (SQLite would make it 0644 and its log and index
     * files after it, whatever the directory they are in): made empty here, which SQLite
     * takes as an empty database. */
    if (s->path[0] != ':') {
        int fd = open(s->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }
    if ((error = migrate(s)) < 0 || (error = schema_matches(s)) < 0) {
        ch_store_close(s);
        return error;
    }
    s->ck_behind = index_behind(s);
    {
        struct stat sb;
        if (s->path[0] != ':' && stat(s->path, &sb) == 0) {
            s->dev = sb.st_dev;
            s->ino = sb.st_ino;
        }
    }
    /* Every connection leaves checkpoints to the checkpointer: those opened from now on, and
     * the one that migrated (its thread may go on to serve requests, which would otherwise pay
     * for SQLite's automatic checkpoints). */
    if (pthread_create(&s->checkpointer, NULL, checkpoint_main, s) == 0) {
        s->ck_running = true;
        pthread_mutex_lock(&s->lock);
        for (struct conn *c = s->conns; c; c = c->next) {
            sqlite3_wal_autocheckpoint(c->db, 0);
            sqlite3_wal_hook(c->db, wal_hook, s);
        }
        pthread_mutex_unlock(&s->lock);
    }
    *out = s;
    return 0;
}

bool ch_store_replaced(ch_store *s)
{
    struct stat sb;

    if (s->dev == 0 && s->ino == 0)
        return false;
    return stat(s->path, &sb) != 0 ? errno == ENOENT : sb.st_dev != s->dev || sb.st_ino != s->ino;
}

void ch_store_close(ch_store *s)
{
    struct conn *c, *next;

    if (s == NULL)
        return;
    if (s->ck_running) {
        pthread_mutex_lock(&s->ck_lock);
        s->ck_stop = true;
        pthread_cond_signal(&s->ck_cond);
        pthread_mutex_unlock(&s->ck_lock);
        pthread_join(s->checkpointer, NULL);
    }
    pthread_key_delete(s->tls);
    pthread_mutex_lock(&s->lock);
    for (c = s->conns; c != NULL; c = next) {
        next = c->next;
        conn_close(c);
    }
    s->conns = NULL;
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->write_lock);
    pthread_mutex_destroy(&s->ck_lock);
    pthread_cond_destroy(&s->ck_cond);
    free(s->path);
    free(s);
}

void ch_store_thread_release(ch_store *s)
{
    struct conn *c = pthread_getspecific(s->tls);

    if (c == NULL || c->in_tx)
        return;
    pthread_setspecific(s->tls, NULL);
    conn_release(c);
}

void ch_store_idle(ch_store *s)
{
    struct conn *w;

    if (pthread_mutex_trylock(&s->write_lock) != 0)
        return; /* someone is writing: not idle */
    if ((w = s->writer) != NULL) {
        s->writer = NULL;
        conn_release(w);
    }
    pthread_mutex_unlock(&s->write_lock);
}

int ch_store_schema_version(ch_store *s)
{
    return s->version;
}

int ch_store_key_any(ch_store *s, ch_buf *one_sealed)
{
    struct conn *c = conn_get(s);
    sqlite3_stmt *st = NULL;
    int rc, error = 0;

    if (c == NULL)
        return ch_error_last_code();
    rc = sqlite3_prepare_v2(c->db, "SELECT sealed FROM keys LIMIT 1", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && one_sealed != NULL)
        error = ch_buf_put(one_sealed, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return error < 0 ? error : 1;
    return rc == SQLITE_DONE ? 0 : db_error(c->db, rc, "looking for sealed keys");
}

int ch_store_backup(ch_store *s, const char *path)
{
    struct conn *c = conn_get(s);
    sqlite3_stmt *st = NULL;
    struct stat sb;
    int rc;

    if (c == NULL)
        return ch_error_last_code();
    if (stat(path, &sb) == 0)
        return ch_error_set_field(CH_EEXISTS, "path", "%s exists: a backup goes to a new file", path);
    /* VACUUM INTO reads the database in one read transaction, so writers go on and the copy
     * is of one moment, and writes it compacted, with no log beside it. */
    rc = sqlite3_prepare_v2(c->db, "VACUUM INTO ?1", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, path, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        char journal[4200];
        int error = db_error(c->db, rc, "writing the backup");
        /* What was written (a full disk stops it half way) is no backup, and would refuse the
         * next try as a file already there. */
        snprintf(journal, sizeof journal, "%s-journal", path);
        unlink(path);
        unlink(journal);
        return error;
    }
    return 0;
}

static int run_simple(ch_store *s, enum stmt_id id, const char *what)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = stmt(s, id, &db);
    int rc;

    if (st == NULL)
        return ch_error_last_code() ? ch_error_last_code() : CH_ESTORE;
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_error(db, rc, what);
}

/* The writer connection, opened on first use; the caller holds the write lock. */
static struct conn *writer_get(struct ch_store *s)
{
    if (s->writer == NULL) {
        if (conn_open(&s->writer, s) < 0)
            return NULL;
        pthread_mutex_lock(&s->lock);
        s->writer->next = s->conns;
        s->conns = s->writer;
        pthread_mutex_unlock(&s->lock);
    }
    return s->writer;
}

int ch_store_begin(ch_store *s)
{
    struct conn *c = conn_get(s);
    int error;

    if (c == NULL)
        return ch_error_last_code();
    if (c->in_tx)
        return ch_error_set(CH_EINTERNAL, "a transaction is already open on this thread");
    pthread_mutex_lock(&s->write_lock);
    if (writer_get(s) == NULL) {
        pthread_mutex_unlock(&s->write_lock);
        return ch_error_last_code();
    }
    c->in_tx = true;
    if ((error = run_simple(s, S_BEGIN, "starting a transaction")) < 0) {
        c->in_tx = false;
        pthread_mutex_unlock(&s->write_lock);
        return error;
    }
    return 0;
}

static void end_tx(ch_store *s)
{
    struct conn *c = pthread_getspecific(s->tls);

    if (c != NULL && c->in_tx) {
        c->in_tx = false;
        pthread_mutex_unlock(&s->write_lock);
    }
}

int ch_store_commit(ch_store *s)
{
    int error = run_simple(s, S_COMMIT, "committing");

    if (error < 0)
        return error; /* still open: the caller rolls back */
    end_tx(s);
    return 0;
}

void ch_store_rollback(ch_store *s)
{
    struct conn *c = pthread_getspecific(s->tls);

    /* A COMMIT that failed for a full disk may have ended the transaction itself: a ROLLBACK
     * would then fail, and its message take the place of the one that says why. */
    if (c == NULL || !c->in_tx || s->writer == NULL || !sqlite3_get_autocommit(s->writer->db))
        (void)run_simple(s, S_ROLLBACK, "rolling back");
    end_tx(s);
}

int ch_store_savepoint(ch_store *s)
{
    return run_simple(s, S_SAVEPOINT, "starting a savepoint");
}

int ch_store_savepoint_release(ch_store *s)
{
    return run_simple(s, S_RELEASE, "releasing a savepoint");
}

void ch_store_savepoint_rollback(ch_store *s)
{
    (void)run_simple(s, S_ROLLBACK_TO, "rolling back to a savepoint");
    (void)run_simple(s, S_RELEASE, "releasing a savepoint");
}

void ch_store_new_id(char out[CH_ID_MAX], const char *prefix)
{
    /* 48 bits of milliseconds, then 48 random bits: ids stay opaque and unique, and new rows
     * land at the end of the primary-key index instead of on a random page of it. */
    struct timespec ts;
    uint8_t r[12];
    char hex[25];
    uint64_t ms;

    clock_gettime(CLOCK_REALTIME, &ts);
    ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    for (int i = 0; i < 6; i++)
        r[i] = (uint8_t)(ms >> (40 - 8 * i));
    if (ch_random(r + 6, 6) < 0)
        memset(r + 6, 0, 6); /* RAND_bytes does not fail once seeded; keep ids well-formed */
    ch_hex(hex, r, sizeof r);
    snprintf(out, CH_ID_MAX, "%.16s%s", prefix ? prefix : "", hex);
}

/* ------------------------------------------------------------- binding and reading helpers */

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

static void bind_blob(sqlite3_stmt *st, int i, const void *v, size_t len)
{
    if (v == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_blob64(st, i, v, len, SQLITE_STATIC);
}

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t ? strdup((const char *)t) : NULL;
}

static uint8_t *col_blob(sqlite3_stmt *st, int i, size_t *len)
{
    const void *b = sqlite3_column_blob(st, i);
    int n = sqlite3_column_bytes(st, i);
    uint8_t *p;

    *len = 0;
    if (b == NULL)
        return NULL;
    if ((p = malloc((size_t)n + 1)) == NULL)
        return NULL;
    memcpy(p, b, (size_t)n);
    p[n] = 0;
    *len = (size_t)n;
    return p;
}

static void col_hex(char out[65], sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    snprintf(out, 65, "%s", t ? (const char *)t : "");
}

/* Runs a write statement that was bound; maps constraint failures to CH_EEXISTS.  Outside a
 * transaction the statement commits by itself, so it takes the write lock for that time. */
static int step_done_locked(struct ch_store *s, sqlite3 *db, sqlite3_stmt *st, const char *what)
{
    struct conn *c = pthread_getspecific(s->tls);
    bool lock = c == NULL || !c->in_tx;
    int rc;

    if (lock)
        pthread_mutex_lock(&s->write_lock);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (lock)
        pthread_mutex_unlock(&s->write_lock);
    if (rc == SQLITE_DONE)
        return 0;
    return db_error(db, rc, what);
}

#define step_done(db, st, what) step_done_locked(s, db, st, what)

/* Runs an UPDATE/DELETE of one row of a tenant; no row is CH_ENOTFOUND. */
#define step_one_row(db, st, what, kind) step_one_row_locked(s, db, st, what, kind)
static int step_one_row_locked(struct ch_store *s, sqlite3 *db, sqlite3_stmt *st, const char *what,
                               const char *kind)
{
    int error = step_done(db, st, what);

    if (error == 0 && sqlite3_changes(db) == 0)
        return ch_error_set(CH_ENOTFOUND, "no such %s", kind);
    return error;
}

#define STMT(id, what)                                                                                       \
    sqlite3 *db = NULL;                                                                                      \
    sqlite3_stmt *st = stmt(s, id, &db);                                                                     \
    if (st == NULL)                                                                                          \
        return ch_error_last_code() ? ch_error_last_code() : CH_ESTORE;

/* One column of one row of a tenant set (a rename, a status, a password's hash): statement id
 * binds value, tenant_id and id in that order; no row is CH_ENOTFOUND naming kind. */
static int set_one(ch_store *s, enum stmt_id id, const char *what, const char *kind, const char *value,
                   const char *tenant_id, const char *row_id)
{
    STMT(id, what);
    bind_text(st, 1, value);
    bind_text(st, 2, tenant_id);
    bind_text(st, 3, row_id);
    return step_one_row(db, st, what, kind);
}

/* Steps a SELECT of one row; CH_ENOTFOUND when none. */
static int step_row(sqlite3 *db, sqlite3_stmt *st, const char *kind)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW)
        return 0;
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return ch_error_set(CH_ENOTFOUND, "no such %s", kind);
    return db_error(db, rc, kind);
}

/* Grows a row array by one. */
static void *grow(void *list, size_t count, size_t size)
{
    return realloc(list, (count + 1) * size);
}

/* Steps a bound SELECT, reading each row with read into a growing array of size-byte rows,
 * to its end or to limit rows; with more, *more says whether a row followed the last one
 * kept (a page asks for one row more than it shows).  On failure the rows read so far are
 * released with dispose. */
typedef void (*row_reader)(void *row, sqlite3_stmt *st);
typedef void (*row_disposer)(void *row);

static int collect_upto(sqlite3 *db, sqlite3_stmt *st, size_t limit, size_t size, row_reader read,
                        row_disposer dispose, void **out, size_t *count, bool *more, const char *what)
{
    uint8_t *list = NULL, *g;
    size_t n = 0;
    bool oom = false;
    int rc;

    *out = NULL;
    *count = 0;
    if (more)
        *more = false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == limit) {
            if (more)
                *more = true;
            break;
        }
        if ((g = grow(list, n, size)) == NULL) {
            oom = true;
            break;
        }
        list = g;
        memset(list + n * size, 0, size);
        read(list + n * size, st);
        n++;
    }
    sqlite3_reset(st);
    if (oom || (rc != SQLITE_DONE && rc != SQLITE_ROW)) {
        for (size_t i = 0; i < n; i++)
            dispose(list + i * size);
        free(list);
        return oom ? ch_error_set(CH_ENOMEM, "out of memory") : db_error(db, rc, what);
    }
    *out = list;
    *count = n;
    return 0;
}

static int collect(sqlite3 *db, sqlite3_stmt *st, size_t size, row_reader read, row_disposer dispose, void **out,
                   size_t *count, const char *what)
{
    return collect_upto(db, st, SIZE_MAX, size, read, dispose, out, count, NULL, what);
}

/* A page's cursor: "<key>:<id>" of its last row, key the list's ordering column (created_at,
 * not_after, registered_at). */
static int parse_cursor(const char *cursor, int64_t *key, char id[CH_ID_MAX])
{
    char *end;
    const char *colon = strchr(cursor, ':');

    if (colon == NULL || strlen(colon + 1) >= CH_ID_MAX || strlen(colon + 1) == 0)
        goto bad;
    *key = strtoll(cursor, &end, 10);
    if (end != colon)
        goto bad;
    snprintf(id, CH_ID_MAX, "%s", colon + 1);
    return 0;
bad:
    return ch_error_set_field(CH_EINVAL, "cursor", "invalid cursor: pass the next_cursor of the previous page");
}

/* The cursor after the row at (key, id), malloc'd into *out. */
static int make_cursor(char **out, int64_t key, const char *id)
{
    char buf[CH_ID_MAX + 32];

    snprintf(buf, sizeof buf, "%lld:%s", (long long)key, id);
    return (*out = strdup(buf)) != NULL ? 0 : ch_error_set(CH_ENOMEM, "out of memory");
}

/* Where a row stands in its list's (key, id) order: what the next page's cursor is made of. */
typedef void (*row_position)(const void *row, int64_t *key, const char **id);

/* A page of a tenant's rows in (key, id) order.  head selects the columns and ends in its
 * WHERE clause ("WHERE tenant_id=?" and maybe more), whose parameters are the texts of binds
 * (NULL-terminated, the tenant first; a NULL among them is bound as NULL, for "?2 IS NULL OR"
 * filters, so nbinds counts them); key names the ordering column; position reads it back
 * from a row, for the next page's cursor. */
static int collect_page(ch_store *s, const char *head, const char *key, const char *const *binds, int nbinds,
                        ch_store_page *page, size_t size, row_reader read, row_disposer dispose, row_position position,
                        void **out, size_t *count, const char *what)
{
    struct conn *c = conn_get(s);
    ch_buf sql = CH_BUF_INIT;
    sqlite3_stmt *st = NULL;
    char cur_id[CH_ID_MAX];
    int64_t cur_key = 0;
    bool after = page->cursor != NULL && *page->cursor != '\0', more = false;
    int rc, error;

    *out = NULL;
    *count = 0;
    page->next_cursor = NULL;
    if (c == NULL)
        return ch_error_last_code();
    if (page->limit == 0 || page->limit > 1000)
        return ch_error_set_field(CH_EINVAL, "limit", "limit must be between 1 and 1000");
    if (after && (error = parse_cursor(page->cursor, &cur_key, cur_id)) < 0)
        return error;
    error = ch_buf_printf(&sql, "%s%s%s%s ORDER BY %s, id LIMIT ?", head, after ? " AND (" : "", after ? key : "",
                          after ? ", id) > (?, ?)" : "", key);
    if (error == 0 && (rc = sqlite3_prepare_v2(c->db, (const char *)sql.data, -1, &st, NULL)) != SQLITE_OK)
        error = db_error(c->db, rc, what);
    if (error < 0)
        goto done;
    for (int i = 0; i < nbinds; i++)
        bind_text(st, i + 1, binds[i]);
    if (after) {
        sqlite3_bind_int64(st, nbinds + 1, cur_key);
        sqlite3_bind_text(st, nbinds + 2, cur_id, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, nbinds + (after ? 3 : 1), (int64_t)page->limit + 1); /* one more: is there a next page? */
    error = collect_upto(c->db, st, page->limit, size, read, dispose, out, count, &more, what);
    if (error == 0 && more) {
        int64_t last_key;
        const char *last_id;
        position((const uint8_t *)*out + (*count - 1) * size, &last_key, &last_id);
        if ((error = make_cursor(&page->next_cursor, last_key, last_id)) < 0) {
            for (size_t i = 0; i < *count; i++)
                dispose((uint8_t *)*out + i * size);
            free(*out);
            *out = NULL;
            *count = 0;
        }
    }
done:
    sqlite3_finalize(st);
    ch_buf_dispose(&sql);
    return error;
}

/* ------------------------------------------------------------- tenants */

int ch_store_tenant_settings_get(ch_store *s, const char *tenant_id, char **json)
{
    STMT(S_TENANT_SETTINGS_GET, "reading a tenant's settings");
    *json = NULL;
    bind_text(st, 1, tenant_id);
    int error = step_row(db, st, "tenant");
    if (error == 0) {
        *json = col_text(st, 0);
        sqlite3_reset(st);
        if (*json == NULL)
            error = ch_error_set(CH_ENOMEM, "out of memory");
    }
    return error;
}

int ch_store_tenant_settings_put(ch_store *s, const char *tenant_id, const char *json)
{
    STMT(S_TENANT_SETTINGS_PUT, "writing a tenant's settings");
    bind_text(st, 1, json);
    bind_text(st, 2, tenant_id);
    return step_one_row(db, st, "writing a tenant's settings", "tenant");
}

static void read_tenant(ch_store_tenant *t, sqlite3_stmt *st)
{
    t->id = col_text(st, 0);
    t->name = col_text(st, 1);
    t->created_at = sqlite3_column_int64(st, 2);
    t->disabled_at = sqlite3_column_int64(st, 3);
}

int ch_store_tenant_disable(ch_store *s, const char *id, int64_t at)
{
    int error;
    {
        STMT(S_TENANT_DISABLE, "revoking a tenant");
        sqlite3_bind_int64(st, 1, at);
        bind_text(st, 2, id);
        if ((error = step_one_row(db, st, "revoking a tenant", "active tenant")) < 0)
            return error;
    }
    {
        STMT(S_TOKEN_REVOKE_TENANT, "revoking a tenant's tokens");
        sqlite3_bind_int64(st, 1, at);
        bind_text(st, 2, id);
        if ((error = step_done(db, st, "revoking a tenant's tokens")) < 0)
            return error;
    }
    STMT(S_SESS_DELETE_TENANT, "ending a tenant's sessions");
    bind_text(st, 1, id);
    return step_done(db, st, "ending a tenant's sessions");
}

int ch_store_tenant_restore(ch_store *s, const char *id)
{
    STMT(S_TENANT_RESTORE, "restoring a tenant");
    bind_text(st, 1, id);
    return step_one_row(db, st, "restoring a tenant", "revoked tenant");
}

int ch_store_tenant_put(ch_store *s, const ch_store_tenant *t)
{
    STMT(S_TENANT_PUT, "storing a tenant");
    bind_text(st, 1, t->id);
    bind_text(st, 2, t->name);
    sqlite3_bind_int64(st, 3, t->created_at);
    int error = step_done(db, st, "storing a tenant");
    if (error == CH_EEXISTS)
        ch_error_set_field(CH_EEXISTS, "name", "a tenant named \"%.64s\" already exists", t->name);
    return error;
}

static int tenant_get(ch_store *s, enum stmt_id id, ch_store_tenant *out, const char *key)
{
    STMT(id, "reading a tenant");
    memset(out, 0, sizeof *out);
    bind_text(st, 1, key);
    int error = step_row(db, st, "tenant");
    if (error == 0) {
        read_tenant(out, st);
        sqlite3_reset(st);
    }
    return error;
}

int ch_store_tenant_get(ch_store *s, ch_store_tenant *out, const char *id)
{
    return tenant_get(s, S_TENANT_GET, out, id);
}

int ch_store_tenant_get_by_name(ch_store *s, ch_store_tenant *out, const char *name)
{
    return tenant_get(s, S_TENANT_GET_NAME, out, name);
}

static void read_tenant_row(void *row, sqlite3_stmt *st)
{
    read_tenant(row, st);
}

static void dispose_tenant_row(void *row)
{
    ch_store_tenant_dispose(row);
}

int ch_store_tenant_list(ch_store *s, ch_store_tenant **out, size_t *count)
{
    STMT(S_TENANT_LIST, "listing tenants");
    return collect(db, st, sizeof **out, read_tenant_row, dispose_tenant_row, (void **)out, count, "listing tenants");
}

void ch_store_tenant_dispose(ch_store_tenant *t)
{
    if (t == NULL)
        return;
    free(t->id);
    free(t->name);
    memset(t, 0, sizeof *t);
}

void ch_store_tenant_list_free(ch_store_tenant *list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        ch_store_tenant_dispose(&list[i]);
    free(list);
}

/* ------------------------------------------------------------- API tokens */

int ch_store_token_put(ch_store *s, const ch_store_token *t)
{
    STMT(S_TOKEN_PUT, "storing a token");
    bind_text(st, 1, t->id);
    bind_text(st, 2, t->tenant_id);
    bind_text(st, 3, t->role);
    bind_text(st, 4, t->token_hash);
    bind_text(st, 5, t->name);
    sqlite3_bind_int64(st, 6, t->created_at);
    bind_text(st, 7, t->scope);
    if (t->expires_at != 0)
        sqlite3_bind_int64(st, 8, t->expires_at);
    else
        sqlite3_bind_null(st, 8);
    bind_text(st, 9, t->created_by);
    bind_text(st, 10, t->owner_user_id);
    return step_done(db, st, "storing a token");
}

int ch_store_token_get_by_hash(ch_store *s, ch_store_token *out, const char *token_hash)
{
    STMT(S_TOKEN_GET, "reading a token");
    memset(out, 0, sizeof *out);
    bind_text(st, 1, token_hash);
    int error = step_row(db, st, "token");
    if (error == 0) {
        out->id = col_text(st, 0);
        out->tenant_id = col_text(st, 1);
        out->role = col_text(st, 2);
        out->name = col_text(st, 3);
        col_hex(out->token_hash, st, 4);
        out->created_at = sqlite3_column_int64(st, 5);
        out->revoked_at = sqlite3_column_int64(st, 6);
        out->scope = col_text(st, 7);
        out->expires_at = sqlite3_column_int64(st, 8);
        sqlite3_reset(st);
    }
    return error;
}

int ch_store_token_count(ch_store *s, const char *tenant_id, int64_t now, int64_t *count)
{
    STMT(S_TOKEN_COUNT, "counting tokens");
    bind_text(st, 1, tenant_id);
    sqlite3_bind_int64(st, 2, now);
    int rc = sqlite3_step(st);
    *count = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_error(db, rc, "counting tokens");
}

void ch_store_token_dispose(ch_store_token *t)
{
    if (t == NULL)
        return;
    free(t->id);
    free(t->tenant_id);
    free(t->role);
    free(t->name);
    free(t->scope);
    free(t->created_by);
    free(t->owner_user_id);
    free(t->created_by_name);
    memset(t, 0, sizeof *t);
}

static void read_token_row(void *row, sqlite3_stmt *st)
{
    ch_store_token *t = row;

    t->id = col_text(st, 0);
    t->tenant_id = col_text(st, 1);
    t->role = col_text(st, 2);
    t->name = col_text(st, 3);
    t->created_at = sqlite3_column_int64(st, 5);
    t->revoked_at = sqlite3_column_int64(st, 6);
    t->scope = col_text(st, 7);
    t->expires_at = sqlite3_column_int64(st, 8);
    t->created_by = col_text(st, 9);
    t->owner_user_id = col_text(st, 10);
    t->created_by_name = col_text(st, 11);
}

static void dispose_token_row(void *row)
{
    ch_store_token_dispose(row);
}

static void token_position(const void *row, int64_t *key, const char **id)
{
    const ch_store_token *t = row;

    *key = t->created_at;
    *id = t->id;
}

int ch_store_token_list(ch_store *s, const char *tenant_id, ch_store_page *page, ch_store_token **out, size_t *count)
{
    if (page != NULL)
        return collect_page(s, "SELECT " TOKEN_COLS " FROM api_tokens WHERE tenant_id=?", "created_at", &tenant_id, 1,
                            page, sizeof **out, read_token_row, dispose_token_row, token_position, (void **)out, count,
                            "listing tokens");
    STMT(S_TOKEN_LIST, "listing tokens");
    bind_text(st, 1, tenant_id);
    return collect(db, st, sizeof **out, read_token_row, dispose_token_row, (void **)out, count, "listing tokens");
}

static int exec_bound(ch_store *s, const char *sql, const char *what, int nargs, const char *const *texts,
                      const int64_t *ints, bool one_row);
static sqlite3_stmt *prepare_bound(ch_store *s, const char *sql, const char *what, int nargs,
                                   const char *const *texts, const int64_t *ints, sqlite3 **db);

/* Runs a SELECT of TOKEN_COLS prepared here (bound as exec_bound binds), into a list. */
static int token_select(ch_store *s, const char *sql, const char *what, int nargs, const char *const *texts,
                        const int64_t *ints, ch_store_token **out, size_t *count)
{
    sqlite3 *db;
    sqlite3_stmt *st = prepare_bound(s, sql, what, nargs, texts, ints, &db);
    int error;

    *out = NULL;
    *count = 0;
    if (st == NULL)
        return ch_error_last_code();
    error = collect(db, st, sizeof **out, read_token_row, dispose_token_row, (void **)out, count, what);
    sqlite3_finalize(st);
    return error;
}

int ch_store_token_alerts_due(ch_store *s, const char *tenant_id, int64_t now, int days, size_t max,
                              ch_store_token **out, size_t *count)
{
    const char *texts[] = {tenant_id, NULL, NULL, NULL};
    const int64_t ints[] = {0, now, (int64_t)days * 86400, (int64_t)max};

    return token_select(s, "SELECT " TOKEN_COLS " FROM api_tokens WHERE tenant_id = ?1 AND revoked_at IS NULL"
                           " AND alerted_at IS NULL AND expires_at > ?2 AND expires_at <= ?2 + ?3"
                           " AND expires_at - created_at > ?3 ORDER BY expires_at LIMIT ?4",
                        "finding tokens near their end", 4, texts, ints, out, count);
}

int ch_store_token_alerted(ch_store *s, const char *tenant_id, const char *id, int64_t at)
{
    const char *texts[] = {NULL, tenant_id, id};
    int64_t ints[] = {at, 0, 0};

    return exec_bound(s, "UPDATE api_tokens SET alerted_at = ? WHERE tenant_id = ? AND id = ?",
                      "recording a token's alert", 3, texts, ints, false);
}

int ch_store_token_alert_delivered(ch_store *s, const char *tenant_id, const char *id, const char *webhook,
                                   bool *done)
{
    struct conn *c = conn_get(s);
    sqlite3_stmt *st = NULL;
    int rc;

    *done = false;
    if (c == NULL)
        return ch_error_last_code();
    if ((rc = sqlite3_prepare_v2(c->db, "SELECT 1 FROM token_alert_deliveries WHERE tenant_id = ? AND token_id = ?"
                                        " AND webhook = ?", -1, &st, NULL)) != SQLITE_OK)
        return db_error(c->db, rc, "reading a token alert's deliveries");
    sqlite3_bind_text(st, 1, tenant_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, webhook, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    *done = rc == SQLITE_ROW;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(c->db, rc, "reading a token alert's deliveries");
}

int ch_store_token_alert_delivery(ch_store *s, const char *tenant_id, const char *id, const char *webhook, int64_t at)
{
    const char *texts[] = {tenant_id, id, webhook, NULL};
    int64_t ints[] = {0, 0, 0, at};

    return exec_bound(s, "INSERT OR IGNORE INTO token_alert_deliveries(tenant_id, token_id, webhook, sent_at)"
                         " VALUES(?,?,?,?)", "recording a token alert's delivery", 4, texts, ints, false);
}

int ch_store_tokens_ended(ch_store *s, int64_t before, size_t max, ch_store_token **out, size_t *count)
{
    const char *texts[] = {NULL, NULL};
    const int64_t ints[] = {before, (int64_t)max};

    /* Every tenant's: a revoked tenant's tokens end with it, and go as the others do. */
    return token_select(s, "SELECT " TOKEN_COLS " FROM api_tokens WHERE revoked_at < ?1 OR expires_at < ?1"
                           " ORDER BY created_at LIMIT ?2",
                        "finding tokens ended long ago", 2, texts, ints, out, count);
}

int ch_store_tokens_of_owner(ch_store *s, const char *user_id, int64_t now, ch_store_token **out, size_t *count)
{
    const char *texts[] = {user_id, NULL};
    const int64_t ints[] = {0, now};

    /* Every tenant's: an installation admin makes tokens in the tenants it acts in. */
    return token_select(s, "SELECT " TOKEN_COLS " FROM api_tokens WHERE owner_user_id = ?1 AND revoked_at IS NULL"
                           " AND (expires_at IS NULL OR expires_at > ?2) ORDER BY created_at, id",
                        "finding a user's tokens", 2, texts, ints, out, count);
}

int ch_store_tokens_made_from(ch_store *s, const char *tenant_id, const char *id, int64_t now, ch_store_token **out,
                              size_t *count)
{
    const char *texts[] = {tenant_id, id, NULL};
    const int64_t ints[] = {0, 0, now};

    /* Followed through tokens that have ended since (one revoked in the middle of a chain does
     * not hide what it made); UNION keeps each id once, so a cycle in created_by, which the API
     * cannot make, ends the recursion instead of looping. */
    return token_select(s, "WITH RECURSIVE made(id) AS ("
                           " SELECT id FROM api_tokens WHERE tenant_id = ?1 AND created_by = ?2"
                           " UNION SELECT a.id FROM api_tokens a JOIN made m ON a.created_by = m.id"
                           " WHERE a.tenant_id = ?1)"
                           " SELECT " TOKEN_COLS " FROM api_tokens WHERE tenant_id = ?1 AND id IN made AND id <> ?2"
                           " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?3)"
                           " ORDER BY created_at, id",
                        "finding the tokens a token made", 3, texts, ints, out, count);
}

int ch_store_token_delete(ch_store *s, const char *tenant_id, const char *id)
{
    const char *texts[] = {tenant_id, id};
    int64_t ints[] = {0, 0};
    int error;

    if ((error = exec_bound(s, "DELETE FROM token_alert_deliveries WHERE tenant_id = ? AND token_id = ?",
                            "deleting a token's alert deliveries", 2, texts, ints, false)) < 0)
        return error;
    if ((error = exec_bound(s, "DELETE FROM token_certificates WHERE token_id = ?", "deleting what a token issued",
                            1, texts + 1, ints, false)) < 0)
        return error;
    return exec_bound(s, "DELETE FROM api_tokens WHERE tenant_id = ? AND id = ?", "deleting a token", 2, texts,
                      ints, true);
}

void ch_store_token_list_free(ch_store_token *list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        ch_store_token_dispose(&list[i]);
    free(list);
}

int ch_store_token_tenant(ch_store *s, const char *id, char tenant_id[CH_ID_MAX])
{
    STMT(S_TOKEN_TENANT, "reading a token");
    bind_text(st, 1, id);
    int error = step_row(db, st, "token");
    if (error == 0) {
        snprintf(tenant_id, CH_ID_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_reset(st);
    }
    return error;
}

int ch_store_token_revoke(ch_store *s, const char *tenant_id, const char *id, int64_t at)
{
    STMT(S_TOKEN_REVOKE, "revoking a token");
    sqlite3_bind_int64(st, 1, at);
    bind_text(st, 2, tenant_id);
    bind_text(st, 3, id);
    return step_one_row(db, st, "revoking a token", "active token");
}

/* ------------------------------------------------------------- users and sessions */

int ch_store_user_put(ch_store *s, const ch_store_user *u)
{
    STMT(S_USER_PUT, "storing a user");
    bind_text(st, 1, u->id);
    bind_text(st, 2, u->tenant_id);
    bind_text(st, 3, u->name);
    bind_text(st, 4, u->role);
    bind_text(st, 5, u->password_hash);
    sqlite3_bind_int64(st, 6, u->created_at);
    return step_done(db, st, "storing a user");
}

int ch_store_user_get_by_name(ch_store *s, ch_store_user *out, const char *tenant_id, const char *name)
{
    STMT(S_USER_GET_NAME, "reading a user");
    memset(out, 0, sizeof *out);
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, name);
    int error = step_row(db, st, "user");
    if (error == 0) {
        out->id = col_text(st, 0);
        out->tenant_id = col_text(st, 1);
        out->name = col_text(st, 2);
        out->role = col_text(st, 3);
        out->password_hash = col_text(st, 4);
        out->created_at = sqlite3_column_int64(st, 5);
        sqlite3_reset(st);
    }
    return error;
}

int ch_store_user_count(ch_store *s, const char *tenant_id, int64_t *count)
{
    STMT(S_USER_COUNT, "counting users");
    bind_text(st, 1, tenant_id);
    int rc = sqlite3_step(st);
    *count = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_error(db, rc, "counting users");
}

int ch_store_user_set_password(ch_store *s, const char *tenant_id, const char *id, const char *hash)
{
    return set_one(s, S_USER_PASSWORD, "changing a password", "user", hash, tenant_id, id);
}

static void read_user_row(void *row, sqlite3_stmt *st)
{
    ch_store_user *u = row;

    u->id = col_text(st, 0);
    u->tenant_id = col_text(st, 1);
    u->name = col_text(st, 2);
    u->role = col_text(st, 3);
    u->created_at = sqlite3_column_int64(st, 5);
}

static void dispose_user_row(void *row)
{
    ch_store_user_dispose(row);
}

int ch_store_user_list(ch_store *s, const char *tenant_id, ch_store_user **out, size_t *count)
{
    STMT(S_USER_LIST, "listing users");
    bind_text(st, 1, tenant_id);
    return collect(db, st, sizeof **out, read_user_row, dispose_user_row, (void **)out, count, "listing users");
}

void ch_store_user_list_free(ch_store_user *list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        ch_store_user_dispose(&list[i]);
    free(list);
}

int ch_store_user_set_role(ch_store *s, const char *tenant_id, const char *id, const char *role)
{
    return set_one(s, S_USER_ROLE, "changing a user's role", "user", role, tenant_id, id);
}

int ch_store_user_delete(ch_store *s, const char *tenant_id, const char *id)
{
    STMT(S_USER_DELETE, "removing a user");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, id);
    return step_one_row(db, st, "removing a user", "user");
}

int ch_store_session_delete_user(ch_store *s, const char *user_id, const char *keep_hash)
{
    STMT(S_SESS_DELETE_USER, "ending a user's sessions");
    bind_text(st, 1, user_id);
    if (keep_hash != NULL)
        bind_text(st, 2, keep_hash);
    return step_done(db, st, "ending a user's sessions");
}

void ch_store_user_dispose(ch_store_user *u)
{
    if (u == NULL)
        return;
    free(u->id);
    free(u->tenant_id);
    free(u->name);
    free(u->role);
    if (u->password_hash)
        ch_secure_free_str(u->password_hash);
    memset(u, 0, sizeof *u);
}

int ch_store_session_put(ch_store *s, const ch_store_session *x)
{
    STMT(S_SESS_PUT, "storing a session");
    bind_text(st, 1, x->token_hash);
    bind_text(st, 2, x->user_id);
    bind_text(st, 3, x->tenant_id);
    bind_text(st, 4, x->role);
    bind_text(st, 5, x->user_name);
    bind_text(st, 6, x->csrf);
    sqlite3_bind_int64(st, 7, x->created_at);
    sqlite3_bind_int64(st, 8, x->expires_at);
    return step_done(db, st, "storing a session");
}

int ch_store_session_get(ch_store *s, ch_store_session *out, const char *token_hash)
{
    STMT(S_SESS_GET, "reading a session");
    memset(out, 0, sizeof *out);
    bind_text(st, 1, token_hash);
    int error = step_row(db, st, "session");
    if (error == 0) {
        col_hex(out->token_hash, st, 0);
        out->user_id = col_text(st, 1);
        out->tenant_id = col_text(st, 2);
        out->role = col_text(st, 3);
        out->user_name = col_text(st, 4);
        out->csrf = col_text(st, 5);
        out->created_at = sqlite3_column_int64(st, 6);
        out->expires_at = sqlite3_column_int64(st, 7);
        out->acting_tenant_id = col_text(st, 8);
        sqlite3_reset(st);
    }
    return error;
}

int ch_store_session_act_as(ch_store *s, const char *token_hash, const char *tenant_id)
{
    STMT(S_SESS_ACT, "switching tenants");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, token_hash);
    return step_one_row(db, st, "switching tenants", "session");
}

int ch_store_session_delete(ch_store *s, const char *token_hash)
{
    STMT(S_SESS_DELETE, "ending a session");
    bind_text(st, 1, token_hash);
    return step_done(db, st, "ending a session");
}

void ch_store_session_dispose(ch_store_session *x)
{
    if (x == NULL)
        return;
    free(x->user_id);
    free(x->tenant_id);
    free(x->role);
    free(x->user_name);
    free(x->acting_tenant_id);
    if (x->csrf)
        ch_secure_free_str(x->csrf);
    memset(x, 0, sizeof *x);
}

/* ------------------------------------------------------------- devices */

static void read_device(void *row, sqlite3_stmt *st)
{
    ch_store_device *d = row;

    d->id = col_text(st, 0);
    d->tenant_id = col_text(st, 1);
    d->device_id = col_text(st, 2);
    col_hex(d->cert_sha256, st, 3);
    d->cert_not_after = sqlite3_column_int64(st, 4);
    d->trusted_id = col_text(st, 5);
    d->registered_at = sqlite3_column_int64(st, 6);
    d->last_seen = sqlite3_column_int64(st, 7);
    d->status = col_text(st, 8);
    d->client_id = col_text(st, 9);
}

static void dispose_device_row(void *row)
{
    ch_store_device_dispose(row);
}

int ch_store_device_put(ch_store *s, const ch_store_device *d)
{
    STMT(S_DEV_PUT, "registering a device");
    bind_text(st, 1, d->id);
    bind_text(st, 2, d->tenant_id);
    bind_text(st, 3, d->device_id);
    bind_text(st, 4, d->cert_sha256);
    sqlite3_bind_int64(st, 5, d->cert_not_after);
    bind_text(st, 6, d->trusted_id);
    sqlite3_bind_int64(st, 7, d->registered_at);
    sqlite3_bind_int64(st, 8, d->last_seen);
    bind_text(st, 9, d->status);
    bind_text(st, 10, d->client_id);
    return step_done(db, st, "registering a device");
}

/* The device a statement of one or two parameters (b NULL: one) finds. */
static int device_one(ch_store *s, int which, ch_store_device *out, const char *a, const char *b)
{
    STMT(which, "reading a device");
    memset(out, 0, sizeof *out);
    bind_text(st, 1, a);
    if (b != NULL)
        bind_text(st, 2, b);
    int error = step_row(db, st, "device");
    if (error == 0) {
        read_device(out, st);
        sqlite3_reset(st);
    }
    return error;
}

int ch_store_device_by_cert(ch_store *s, ch_store_device *out, const char *tenant_id, const char *sha256_hex)
{
    STMT(S_DEV_BY_CERT, "reading a device");
    memset(out, 0, sizeof *out);
    bind_text(st, 1, sha256_hex);
    bind_text(st, 2, tenant_id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? ch_error_set(CH_ENOTFOUND, "no device with this certificate")
                                 : db_error(db, rc, "reading a device");
    }
    read_device(out, st);
    /* The same certificate registered in two tenants: only the MQTT user name can tell. */
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW) {
        ch_store_device_dispose(out);
        return ch_error_set(CH_ECONFLICT, "this certificate is registered in several tenants");
    }
    return 0;
}

int ch_store_device_by_name(ch_store *s, ch_store_device *out, const char *tenant_id, const char *device_id)
{
    return device_one(s, S_DEV_BY_NAME, out, tenant_id, device_id);
}

int ch_store_device_get(ch_store *s, ch_store_device *out, const char *tenant_id, const char *id)
{
    return device_one(s, S_DEV_GET, out, tenant_id, id);
}

int ch_store_device_by_client(ch_store *s, ch_store_device *out, const char *client_id)
{
    return device_one(s, S_DEV_BY_CLIENT, out, client_id, NULL);
}

static void device_position(const void *row, int64_t *key, const char **id)
{
    const ch_store_device *d = row;

    *key = d->registered_at;
    *id = d->id;
}

int ch_store_device_list(ch_store *s, const char *tenant_id, const ch_store_device_filter *filter,
                         ch_store_page *page, ch_store_device **out, size_t *count)
{
    const char *binds[] = {tenant_id, filter ? filter->trusted_id : NULL, filter ? filter->status : NULL};

    if (page != NULL)
        return collect_page(s, "SELECT " DEV_COLS DEV_LIST_WHERE, "registered_at", binds, 3, page, sizeof **out,
                            read_device, dispose_device_row, device_position, (void **)out, count, "listing devices");
    STMT(S_DEV_LIST, "listing devices");
    for (int i = 0; i < 3; i++)
        bind_text(st, i + 1, binds[i]);
    return collect(db, st, sizeof **out, read_device, dispose_device_row, (void **)out, count, "listing devices");
}

int ch_store_device_update(ch_store *s, const ch_store_device *d)
{
    STMT(S_DEV_UPDATE, "updating a device");
    bind_text(st, 1, d->cert_sha256);
    sqlite3_bind_int64(st, 2, d->cert_not_after);
    bind_text(st, 3, d->trusted_id);
    sqlite3_bind_int64(st, 4, d->last_seen);
    bind_text(st, 5, d->status);
    bind_text(st, 6, d->client_id);
    bind_text(st, 7, d->tenant_id);
    bind_text(st, 8, d->id);
    return step_one_row(db, st, "updating a device", "device");
}

int ch_store_device_delete(ch_store *s, const char *tenant_id, const char *id)
{
    STMT(S_DEV_DELETE, "deleting a device");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, id);
    return step_one_row(db, st, "deleting a device", "device");
}

void ch_store_device_dispose(ch_store_device *d)
{
    if (d == NULL)
        return;
    free(d->id);
    free(d->tenant_id);
    free(d->device_id);
    free(d->trusted_id);
    free(d->status);
    free(d->client_id);
    memset(d, 0, sizeof *d);
}

void ch_store_device_list_free(ch_store_device *list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        ch_store_device_dispose(&list[i]);
    free(list);
}

/* ------------------------------------------------------------- trusted certificates */

static void read_trusted(void *row, sqlite3_stmt *st)
{
    ch_store_trusted *t = row;

    t->id = col_text(st, 0);
    t->tenant_id = col_text(st, 1);
    t->name = col_text(st, 2);
    t->der = col_blob(st, 3, &t->der_len);
    col_hex(t->sha256, st, 4);
    t->subject = col_text(st, 5);
    t->issuer = col_text(st, 6);
    t->serial = col_text(st, 7);
    t->not_before = sqlite3_column_int64(st, 8);
    t->not_after = sqlite3_column_int64(st, 9);
    t->auto_registration = sqlite3_column_int(st, 10) != 0;
    t->status = col_text(st, 11);
    t->verified = sqlite3_column_int(st, 12) != 0;
    t->verification_code = col_text(st, 13);
    t->created_at = sqlite3_column_int64(st, 14);
    t->updated_at = sqlite3_column_int64(st, 15);
    t->issuer_list = strcmp((const char *)sqlite3_column_text(st, 16), "issuer") == 0;
}

static void dispose_trusted_row(void *row)
{
    ch_store_trusted_dispose(row);
}

int ch_store_trusted_put(ch_store *s, const ch_store_trusted *t)
{
    STMT(S_TRUSTED_PUT, "storing a trusted certificate");
    bind_text(st, 1, t->id);
    bind_text(st, 2, t->tenant_id);
    bind_text(st, 3, t->name);
    bind_blob(st, 4, t->der, t->der_len);
    bind_text(st, 5, t->sha256);
    bind_text(st, 6, t->subject);
    bind_text(st, 7, t->issuer);
    bind_text(st, 8, t->serial);
    sqlite3_bind_int64(st, 9, t->not_before);
    sqlite3_bind_int64(st, 10, t->not_after);
    sqlite3_bind_int(st, 11, t->auto_registration);
    bind_text(st, 12, t->status);
    sqlite3_bind_int(st, 13, t->verified);
    bind_text(st, 14, t->verification_code);
    sqlite3_bind_int64(st, 15, t->created_at);
    sqlite3_bind_int64(st, 16, t->updated_at);
    bind_text(st, 17, t->issuer_list ? "issuer" : "trust");
    return step_done(db, st, "storing a trusted certificate");
}

int ch_store_trusted_get(ch_store *s, ch_store_trusted *out, const char *tenant_id, const char *id)
{
    STMT(S_TRUSTED_GET, "reading a trusted certificate");
    memset(out, 0, sizeof *out);
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, id);
    int error = step_row(db, st, "trusted certificate");
    if (error == 0) {
        read_trusted(out, st);
        sqlite3_reset(st);
    }
    return error;
}

static void trusted_position(const void *row, int64_t *key, const char **id)
{
    const ch_store_trusted *t = row;

    *key = t->created_at;
    *id = t->id;
}

int ch_store_trusted_list(ch_store *s, const char *tenant_id, const char *list_kind, ch_store_page *page,
                          ch_store_trusted **out, size_t *count)
{
    const char *binds[2] = {tenant_id, list_kind};

    if (page != NULL)
        return collect_page(s, list_kind ? "SELECT " TRUSTED_COLS " FROM trusted_certs WHERE tenant_id=? AND list_kind=?"
                                         : "SELECT " TRUSTED_COLS " FROM trusted_certs WHERE tenant_id=?",
                            "created_at", binds, list_kind ? 2 : 1, page, sizeof **out, read_trusted,
                            dispose_trusted_row, trusted_position, (void **)out, count, "listing trusted certificates");
    STMT(S_TRUSTED_LIST, "listing trusted certificates");
    bind_text(st, 1, tenant_id);
    return collect(db, st, sizeof **out, read_trusted, dispose_trusted_row, (void **)out, count,
                   "listing trusted certificates");
}

int ch_store_trusted_update(ch_store *s, const ch_store_trusted *t)
{
    STMT(S_TRUSTED_UPDATE, "updating a trusted certificate");
    bind_text(st, 1, t->name);
    sqlite3_bind_int(st, 2, t->auto_registration);
    bind_text(st, 3, t->status);
    sqlite3_bind_int(st, 4, t->verified);
    bind_text(st, 5, t->verification_code);
    sqlite3_bind_int64(st, 6, t->updated_at);
    bind_text(st, 7, t->issuer_list ? "issuer" : "trust");
    bind_text(st, 8, t->tenant_id);
    bind_text(st, 9, t->id);
    return step_one_row(db, st, "updating a trusted certificate", "trusted certificate");
}

int ch_store_trusted_delete(ch_store *s, const char *tenant_id, const char *id)
{
    STMT(S_TRUSTED_DELETE, "deleting a trusted certificate");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, id);
    return step_one_row(db, st, "deleting a trusted certificate", "trusted certificate");
}

bool ch_store_trusted_any_disabled(ch_store *s, const char *tenant_id)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = stmt(s, S_TRUSTED_ANY_DISABLED, &db);
    int rc;

    if (st == NULL)
        return false;
    bind_text(st, 1, tenant_id);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_ROW;
}

int ch_store_sans_backfill(ch_store *s, int (*sans_of)(const uint8_t *der, size_t len, char **sans))
{
    struct conn *c0 = conn_get(s);
    sqlite3_stmt *any = NULL;
    bool pending;

    /* Read first: most opens find nothing to do, and write nothing (a broker's plugin opens the
     * store too). */
    if (c0 == NULL)
        return ch_error_last_code();
    if (sqlite3_prepare_v2(c0->db, "SELECT 1 FROM sans_backfill LIMIT 1", -1, &any, NULL) != SQLITE_OK)
        return db_error(c0->db, SQLITE_ERROR, "reading the SANs still to be recorded");
    pending = sqlite3_step(any) == SQLITE_ROW;
    sqlite3_finalize(any);
    if (!pending)
        return 0;
    for (;;) {
        struct conn *c;
        sqlite3_stmt *sel = NULL, *upd = NULL, *del = NULL;
        int rc, error, n = 0;
        if ((error = ch_store_begin(s)) < 0)
            return error;
        c = conn_get(s);
        if ((rc = sqlite3_prepare_v2(c->db, "SELECT b.id, c.der FROM sans_backfill b LEFT JOIN certificates c ON c.id = b.id "
                                              "LIMIT 500", -1, &sel, NULL)) != SQLITE_OK ||
            (rc = sqlite3_prepare_v2(c->db, "UPDATE certificates SET sans = ?1 WHERE id = ?2", -1, &upd, NULL)) !=
                SQLITE_OK ||
            (rc = sqlite3_prepare_v2(c->db, "DELETE FROM sans_backfill WHERE id = ?1", -1, &del, NULL)) != SQLITE_OK)
            error = db_error(c->db, rc, "reading the SANs of certificates stored before they were recorded");
        while (error == 0 && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
            const void *der = sqlite3_column_blob(sel, 1);
            char *sans = NULL;
            n++;
            /* A row gone, or a DER that does not parse, is left as it is. */
            if (der != NULL && sans_of(der, (size_t)sqlite3_column_bytes(sel, 1), &sans) == 0 && sans != NULL) {
                sqlite3_bind_text(upd, 1, sans, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(upd, 2, (const char *)sqlite3_column_text(sel, 0), -1, SQLITE_TRANSIENT);
                if ((rc = sqlite3_step(upd)) != SQLITE_DONE)
                    error = db_error(c->db, rc, "recording a certificate's SANs");
                sqlite3_reset(upd);
            }
            free(sans);
            sqlite3_bind_text(del, 1, (const char *)sqlite3_column_text(sel, 0), -1, SQLITE_TRANSIENT);
            if (error == 0 && (rc = sqlite3_step(del)) != SQLITE_DONE)
                error = db_error(c->db, rc, "recording a certificate's SANs");
            sqlite3_reset(del);
        }
        if (error == 0 && rc != SQLITE_DONE)
            error = db_error(c->db, rc, "reading the SANs of certificates stored before they were recorded");
        sqlite3_finalize(sel);
        sqlite3_finalize(upd);
        sqlite3_finalize(del);
        if (error == 0)
            error = ch_store_commit(s);
        if (error < 0) {
            ch_store_rollback(s);
            return error;
        }
        if (n == 0)
            return 0;
    }
}

int ch_store_trusted_tenants(ch_store *s, bool disabled, char (*ids)[CH_ID_MAX], size_t max, size_t *count)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = stmt(s, disabled ? S_TRUSTED_TENANTS_DISABLED : S_TRUSTED_TENANTS, &db);
    int rc;

    *count = 0;
    if (st == NULL)
        return ch_error_last_code();
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *count < max)
        snprintf(ids[(*count)++], CH_ID_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(db, rc, "listing the tenants that trust certificates");
}

void ch_store_trusted_dispose(ch_store_trusted *t)
{
    if (t == NULL)
        return;
    free(t->id);
    free(t->tenant_id);
    free(t->name);
    free(t->der);
    free(t->subject);
    free(t->issuer);
    free(t->serial);
    free(t->status);
    free(t->verification_code);
    memset(t, 0, sizeof *t);
}

void ch_store_trusted_list_free(ch_store_trusted *list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        ch_store_trusted_dispose(&list[i]);
    free(list);
}

/* ------------------------------------------------------------- profiles */

int ch_store_profile_put(ch_store *s, const ch_store_profile *p)
{
    STMT(S_PROFILE_PUT, "storing a profile");
    bind_text(st, 1, p->tenant_id);
    bind_text(st, 2, p->name);
    bind_text(st, 3, p->definition);
    sqlite3_bind_int64(st, 4, p->created_at);
    sqlite3_bind_int64(st, 5, p->updated_at);
    return step_done(db, st, "storing a profile");
}

int ch_store_profile_update(ch_store *s, const ch_store_profile *p)
{
    STMT(S_PROFILE_UPDATE, "updating a profile");
    bind_text(st, 1, p->definition);
    sqlite3_bind_int64(st, 2, p->updated_at);
    bind_text(st, 3, p->tenant_id);
    bind_text(st, 4, p->name);
    return step_one_row(db, st, "updating a profile", "profile");
}

static void read_profile_row(void *row, sqlite3_stmt *st)
{
    ch_store_profile *p = row;

    p->tenant_id = col_text(st, 0);
    p->name = col_text(st, 1);
    p->definition = col_text(st, 2);
    p->created_at = sqlite3_column_int64(st, 3);
    p->updated_at = sqlite3_column_int64(st, 4);
}

static void dispose_profile_row(void *row)
{
    ch_store_profile_dispose(row);
}

int ch_store_profile_get(ch_store *s, ch_store_profile *out, const char *tenant_id, const char *name)
{
    STMT(S_PROFILE_GET, "reading a profile");
    memset(out, 0, sizeof *out);
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, name);
    int error = step_row(db, st, "profile");
    if (error == 0) {
        read_profile_row(out, st);
        sqlite3_reset(st);
    }
    return error;
}

int ch_store_profile_list(ch_store *s, const char *tenant_id, ch_store_profile **out, size_t *count)
{
    STMT(S_PROFILE_LIST, "listing profiles");
    bind_text(st, 1, tenant_id);
    return collect(db, st, sizeof **out, read_profile_row, dispose_profile_row, (void **)out, count,
                   "listing profiles");
}

int ch_store_profile_delete(ch_store *s, const char *tenant_id, const char *name)
{
    STMT(S_PROFILE_DELETE, "deleting a profile");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, name);
    return step_one_row(db, st, "deleting a profile", "profile");
}

int ch_store_profile_users(ch_store *s, const char *tenant_id, const char *name, int64_t now, int64_t since,
                           int64_t *count)
{
    STMT(since > 0 ? S_PROFILE_USERS_SINCE : S_PROFILE_USERS, "counting a profile's certificates");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, name);
    sqlite3_bind_int64(st, 3, now);
    if (since > 0)
        sqlite3_bind_int64(st, 4, since);
    int rc = sqlite3_step(st);
    *count = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_error(db, rc, "counting a profile's certificates");
}

int ch_store_profile_tokens(ch_store *s, const char *tenant_id, const char *name, int64_t now, int64_t *count,
                            char first[CH_ID_MAX])
{
    STMT(S_TOKEN_PROFILE_USERS, "finding the tokens that issue under a profile");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, name);
    sqlite3_bind_int64(st, 3, now);
    int rc = sqlite3_step(st);
    *count = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    const unsigned char *id = rc == SQLITE_ROW ? sqlite3_column_text(st, 1) : NULL;
    snprintf(first, CH_ID_MAX, "%s", id ? (const char *)id : "");
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_error(db, rc, "finding the tokens that issue under a profile");
}

void ch_store_profile_dispose(ch_store_profile *p)
{
    if (p == NULL)
        return;
    free(p->tenant_id);
    free(p->name);
    free(p->definition);
    memset(p, 0, sizeof *p);
}

void ch_store_profile_list_free(ch_store_profile *list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        ch_store_profile_dispose(&list[i]);
    free(list);
}

/* ------------------------------------------------------------- keys */

int ch_store_key_put(ch_store *s, const ch_store_key *k)
{
    STMT(S_KEY_PUT, "storing a key");
    bind_text(st, 1, k->id);
    bind_text(st, 2, k->tenant_id);
    bind_text(st, 3, k->algorithm);
    bind_blob(st, 4, k->sealed, k->sealed_len);
    bind_text(st, 5, k->spki_sha256);
    sqlite3_bind_int64(st, 6, k->created_at);
    return step_done(db, st, "storing a key");
}

int ch_store_key_get(ch_store *s, ch_store_key *out, const char *tenant_id, const char *id)
{
    STMT(S_KEY_GET, "reading a key");
    memset(out, 0, sizeof *out);
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, id);
    int error = step_row(db, st, "key");
    if (error == 0) {
        out->id = col_text(st, 0);
        out->tenant_id = col_text(st, 1);
        out->algorithm = col_text(st, 2);
        out->sealed = col_blob(st, 3, &out->sealed_len);
        col_hex(out->spki_sha256, st, 4);
        out->created_at = sqlite3_column_int64(st, 5);
        sqlite3_reset(st);
    }
    return error;
}

int ch_store_key_delete(ch_store *s, const char *tenant_id, const char *id)
{
    STMT(S_KEY_DELETE, "deleting a key");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, id);
    return step_one_row(db, st, "deleting a key", "key");
}

void ch_store_key_dispose(ch_store_key *k)
{
    if (k == NULL)
        return;
    free(k->id);
    free(k->tenant_id);
    free(k->algorithm);
    ch_secure_free(k->sealed, k->sealed_len);
    memset(k, 0, sizeof *k);
}

/* ------------------------------------------------------------- certificates */

static void read_cert(ch_store_cert *c, sqlite3_stmt *st, bool with_der)
{
    c->id = col_text(st, 0);
    c->tenant_id = col_text(st, 1);
    c->name = col_text(st, 2);
    if (with_der)
        c->der = col_blob(st, 3, &c->der_len);
    c->subject = col_text(st, 4);
    c->issuer = col_text(st, 5);
    c->serial = col_text(st, 6);
    col_hex(c->sha256, st, 7);
    c->not_before = sqlite3_column_int64(st, 8);
    c->not_after = sqlite3_column_int64(st, 9);
    c->is_ca = sqlite3_column_int(st, 10) != 0;
    c->sans = col_text(st, 11);
    c->key_id = col_text(st, 12);
    c->ca_id = col_text(st, 13);
    c->method = col_text(st, 14);
    c->profile = col_text(st, 15);
    c->status = col_text(st, 16);
    c->created_at = sqlite3_column_int64(st, 17);
    c->auto_renew = sqlite3_column_int(st, 18) != 0;
    c->renew_at = sqlite3_column_int64(st, 19);
    c->renews = col_text(st, 20);
    c->renewed_by = col_text(st, 21);
    c->renew_attempts = sqlite3_column_int(st, 22);
    c->renew_error = col_text(st, 23);
    c->lifetime = sqlite3_column_int64(st, 24);
    c->renew_before = sqlite3_column_int64(st, 25);
}

int ch_store_cert_put(ch_store *s, const ch_store_cert *c, char existing_id[CH_ID_MAX])
{
    int error;

    {
        STMT(S_CERT_PUT, "storing a certificate");
        bind_text(st, 1, c->id);
        bind_text(st, 2, c->tenant_id);
        bind_text(st, 3, c->name);
        bind_blob(st, 4, c->der, c->der_len);
        bind_text(st, 5, c->subject);
        bind_text(st, 6, c->issuer);
        bind_text(st, 7, c->serial);
        bind_text(st, 8, c->sha256);
        sqlite3_bind_int64(st, 9, c->not_before);
        sqlite3_bind_int64(st, 10, c->not_after);
        sqlite3_bind_int(st, 11, c->is_ca);
        bind_text(st, 12, c->sans);
        bind_text(st, 13, c->key_id);
        bind_text(st, 14, c->ca_id);
        bind_text(st, 15, c->method);
        bind_text(st, 16, c->profile);
        bind_text(st, 17, c->status ? c->status : "active");
        sqlite3_bind_int64(st, 18, c->created_at);
        sqlite3_bind_int(st, 19, c->auto_renew);
        if (c->renew_at)
            sqlite3_bind_int64(st, 20, c->renew_at);
        else
            sqlite3_bind_null(st, 20);
        bind_text(st, 21, c->renews);
        bind_text(st, 22, c->renewed_by);
        sqlite3_bind_int(st, 23, c->renew_attempts);
        bind_text(st, 24, c->renew_error);
        if (c->lifetime > 0)
            sqlite3_bind_int64(st, 25, c->lifetime);
        else
            sqlite3_bind_null(st, 25);
        if (c->renew_before > 0)
            sqlite3_bind_int64(st, 26, c->renew_before);
        else
            sqlite3_bind_null(st, 26);
        error = step_done(db, st, "storing a certificate");
    }
    if (error == CH_EEXISTS) {
        /* Report which certificate the tenant already holds (DESIGN.md: duplicates are
         * reported, not copied). */
        STMT(S_CERT_ID_BY_SHA, "reading a certificate");
        bind_text(st, 1, c->tenant_id);
        bind_text(st, 2, c->sha256);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char *id = sqlite3_column_text(st, 0);
            if (existing_id != NULL)
                snprintf(existing_id, CH_ID_MAX, "%s", id ? (const char *)id : "");
            ch_error_set(CH_EEXISTS, "this certificate is already stored as %s", id ? (const char *)id : "?");
        }
        sqlite3_reset(st);
    }
    return error;
}

static int cert_get(ch_store *s, enum stmt_id id, ch_store_cert *out, const char *tenant_id, const char *key)
{
    STMT(id, "reading a certificate");
    memset(out, 0, sizeof *out);
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, key);
    int error = step_row(db, st, "certificate");
    if (error == 0) {
        read_cert(out, st, true);
        sqlite3_reset(st);
    }
    return error;
}

int ch_store_cert_get(ch_store *s, ch_store_cert *out, const char *tenant_id, const char *id)
{
    return cert_get(s, S_CERT_GET, out, tenant_id, id);
}

int ch_store_cert_get_by_sha256(ch_store *s, ch_store_cert *out, const char *tenant_id, const char *sha256_hex)
{
    return cert_get(s, S_CERT_GET_SHA, out, tenant_id, sha256_hex);
}

/* A prepared statement of one row of one boolean (SELECT EXISTS ...), its texts bound in
 * order: *out. */
static int stmt_exists(ch_store *s, enum stmt_id id, const char *const *texts, int n, const char *what, bool *out)
{
    int rc;

    *out = false;
    STMT(id, what);
    for (int i = 0; i < n; i++)
        bind_text(st, i + 1, texts[i]);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        *out = sqlite3_column_int(st, 0) != 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_error(db, rc, what);
}

/* A prepared write statement, its texts bound in order. */
static int stmt_done_texts(ch_store *s, enum stmt_id id, const char *const *texts, int n, const char *what)
{
    STMT(id, what);
    for (int i = 0; i < n; i++)
        bind_text(st, i + 1, texts[i]);
    return step_done(db, st, what);
}

int ch_store_cert_lineage_named(ch_store *s, const char *tenant_id, const char *id, const char *ids_json,
                                bool *named)
{
    return stmt_exists(s, S_CERT_LINEAGE_NAMED, (const char *const[]){tenant_id, id, ids_json}, 3,
                       "reading a certificate's lineage", named);
}

int ch_store_token_cert_has(ch_store *s, const char *token_id, const char *cert_id, bool *has)
{
    return stmt_exists(s, S_TOKEN_CERT_HAS, (const char *const[]){token_id, cert_id}, 2,
                       "reading a token's certificates", has);
}

int ch_store_token_cert_inherit(ch_store *s, const char *old_id, const char *new_id)
{
    return stmt_done_texts(s, S_TOKEN_CERT_INHERIT, (const char *const[]){old_id, new_id}, 2,
                           "giving a renewal its tokens");
}

int ch_store_token_cert_add(ch_store *s, const char *token_id, const char *cert_id)
{
    return stmt_done_texts(s, S_TOKEN_CERT_ADD, (const char *const[]){token_id, cert_id}, 2,
                           "recording a token's certificate");
}

int ch_store_cert_newest_renewal(ch_store *s, const char *tenant_id, const char *id, char out[CH_ID_MAX])
{
    int error;

    out[0] = '\0';
    STMT(S_CERT_NEWEST, "finding the newest renewal");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, id);
    if ((error = step_row(db, st, "certificate at the end of the lineage")) < 0)
        return error;
    snprintf(out, CH_ID_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return 0;
}

int ch_store_cert_delete(ch_store *s, const char *tenant_id, const char *id)
{
    /* (a token that issued it reads nothing of it any more) */
    int error = stmt_done_texts(s, S_TOKEN_CERT_FORGET, &id, 1, "deleting a certificate");

    if (error < 0)
        return error;
    STMT(S_CERT_DELETE, "deleting a certificate");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, id);
    return step_one_row(db, st, "deleting a certificate", "certificate");
}

int ch_store_cert_rename(ch_store *s, const char *tenant_id, const char *id, const char *name)
{
    return set_one(s, S_CERT_RENAME, "renaming a certificate", "certificate", name, tenant_id, id);
}

int ch_store_keystore_rename(ch_store *s, const char *tenant_id, const char *id, const char *name)
{
    return set_one(s, S_KS_RENAME, "renaming a keystore", "keystore", name, tenant_id, id);
}

int ch_store_cert_set_key(ch_store *s, const char *tenant_id, const char *id, const char *key_id)
{
    return set_one(s, S_CERT_SET_KEY, "adding a key to a certificate", "certificate without a key", key_id, tenant_id,
                   id);
}

int ch_store_cert_set_status(ch_store *s, const char *tenant_id, const char *id, const char *status)
{
    return set_one(s, S_CERT_STATUS, "updating a certificate", "certificate", status, tenant_id, id);
}

void ch_store_cert_dispose(ch_store_cert *c)
{
    if (c != NULL) {
        free(c->renews);
        free(c->renewed_by);
        free(c->renew_error);
    }
    if (c == NULL)
        return;
    free(c->id);
    free(c->tenant_id);
    free(c->name);
    free(c->der);
    free(c->subject);
    free(c->issuer);
    free(c->serial);
    free(c->sans);
    free(c->key_id);
    free(c->ca_id);
    free(c->method);
    free(c->profile);
    free(c->status);
    memset(c, 0, sizeof *c);
}

void ch_store_cert_list_free(ch_store_cert *list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        ch_store_cert_dispose(&list[i]);
    free(list);
}

/* How a substring search runs: through the trigram index when the term has 3 characters or
 * more and matches at most SEARCH_INDEXED certificates (a probe of the index tells), else as a
 * LIKE on the rows read in the page's order, which stops as soon as the page is full, so a
 * term that matches many certificates is quick that way. */
#define SEARCH_INDEXED 2000

struct search {
    char *like;   /* "%term%", % and _ escaped */
    char *phrase; /* the term as an FTS5 phrase, when the index is used */
};

static void search_dispose(struct search *q)
{
    free(q->like);
    free(q->phrase);
}

static int search_prepare(struct conn *c, const char *term, struct search *q)
{
    size_t n = strlen(term);
    sqlite3_stmt *st = NULL;
    char *w;
    bool few = false;

    memset(q, 0, sizeof *q);
    if ((q->like = malloc(2 * n + 3)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    w = q->like;
    *w++ = '%';
    for (const char *r = term; *r; r++) {
        if (*r == '%' || *r == '_' || *r == '\\')
            *w++ = '\\';
        *w++ = *r;
    }
    *w++ = '%';
    *w = '\0';
    if (n < 3)
        return 0;
    /* The term as one FTS5 phrase: with the trigram tokenizer, a substring match. */
    if ((q->phrase = malloc(2 * n + 3)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    w = q->phrase;
    *w++ = '"';
    for (const char *r = term; *r; r++) {
        if (*r == '"')
            *w++ = '"';
        *w++ = *r;
    }
    *w++ = '"';
    *w = '\0';
    if (sqlite3_prepare_v2(c->db,
                           "SELECT count(*) FROM (SELECT 1 FROM certificates_search WHERE certificates_search MATCH ?"
                           " LIMIT 2001)", /* SEARCH_INDEXED + 1 */
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, q->phrase, -1, SQLITE_STATIC);
        few = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) <= SEARCH_INDEXED;
    }
    sqlite3_finalize(st);
    if (!few) {
        free(q->phrase);
        q->phrase = NULL;
    }
    return 0;
}

static bool method_literal(const ch_store_cert_filter *f)
{
    return f->method != NULL && strcmp(f->method, "imported") == 0;
}

/* The WHERE clause of a certificate filter; binds are added in the same order by
 * bind_filter. */
static int filter_sql(ch_buf *sql, const ch_store_cert_filter *f, const struct search *q)
{
    /* With the index, the few matching rows drive the query: "+" keeps SQLite from walking a
     * tenant index instead and testing every row against the match list. */
    int error = ch_buf_puts(sql, q->phrase ? " WHERE +tenant_id=?" : " WHERE tenant_id=?");

    if (error == 0 && f->ca_id)
        error = ch_buf_puts(sql, " AND ca_id=?");
    if (error == 0 && f->expiring_before)
        error = ch_buf_puts(sql, " AND not_after<?");
    if (error == 0 && f->unexpired_at)
        error = ch_buf_puts(sql, " AND not_after>?");
    if (error == 0 && f->search && q->phrase)
        error = ch_buf_puts(sql, " AND rowid IN (SELECT rowid FROM certificates_search WHERE certificates_search MATCH ?"
                                 " UNION ALL SELECT rowid FROM certificates WHERE rowid > (SELECT indexed_upto FROM"
                                 " search_state) AND (subject LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\' OR"
                                 " sans LIKE ? ESCAPE '\\'))");
    else if (error == 0 && f->search)
        error = ch_buf_puts(sql, " AND (subject LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\' OR sans LIKE ? ESCAPE '\\')");
    /* Written, not bound: the planner uses the partial index of CAs only for a literal 1. */
    if (error == 0 && f->is_ca >= 0)
        error = ch_buf_puts(sql, f->is_ca ? " AND is_ca=1" : " AND is_ca=0");
    /* "imported" written, not bound, as is_ca: the planner uses the partial index of imported
     * certificates only for the literal. */
    if (error == 0 && f->method)
        error = ch_buf_puts(sql, method_literal(f) ? " AND method='imported'" : " AND method=?");
    if (error == 0 && f->status)
        error = ch_buf_puts(sql, " AND status=?");
    if (error == 0 && f->current)
        error = ch_buf_puts(sql, " AND renewed_by IS NULL");
    if (error == 0 && f->renewed)
        error = ch_buf_puts(sql, " AND renewed_by IS NOT NULL");
    if (error == 0 && f->token_id)
        error = ch_buf_puts(sql, " AND id IN (SELECT cert_id FROM token_certificates WHERE token_id=?)");
    return error;
}

static int bind_filter(sqlite3_stmt *st, int i, const char *tenant_id, const ch_store_cert_filter *f,
                       const struct search *q)
{
    sqlite3_bind_text(st, i++, tenant_id, -1, SQLITE_STATIC);
    if (f->ca_id)
        sqlite3_bind_text(st, i++, f->ca_id, -1, SQLITE_STATIC);
    if (f->expiring_before)
        sqlite3_bind_int64(st, i++, f->expiring_before);
    if (f->unexpired_at)
        sqlite3_bind_int64(st, i++, f->unexpired_at);
    if (f->search && q->phrase)
        sqlite3_bind_text(st, i++, q->phrase, -1, SQLITE_STATIC);
    if (f->search) /* the LIKE of a scan, or of the rows the index has not reached yet */
        for (int k = 0; k < 3; k++)
            sqlite3_bind_text(st, i++, q->like, -1, SQLITE_STATIC);
    if (f->method && !method_literal(f))
        sqlite3_bind_text(st, i++, f->method, -1, SQLITE_STATIC);
    if (f->status)
        sqlite3_bind_text(st, i++, f->status, -1, SQLITE_STATIC);
    if (f->token_id)
        sqlite3_bind_text(st, i++, f->token_id, -1, SQLITE_STATIC);
    return i;
}


/* A listed certificate: its columns without the DER. */
static void read_cert_listed(void *row, sqlite3_stmt *st)
{
    read_cert(row, st, false);
}

static void dispose_cert_row(void *row)
{
    ch_store_cert_dispose(row);
}

/* Newest first with a CA filter, SQLite walks the tenant's newest-first index and reads each
 * row for its CA: quick for a CA holding most of the certificates, a walk of the whole tenant
 * for one holding few (0.56 s at 1,000,000).  A CA with fewer than FEW_OF_CA certificates
 * (counted on its index, up to that many) is listed from its own index instead, its rows
 * sorted by age: at most that many reads, and above it the newest-first walk reads at most
 * limit * tenant / FEW_OF_CA rows. */
#define FEW_OF_CA 10000
#define FEW_OF_CA_TEXT "10000" /* the same, inside SQL */

/* Whether the count query (at most FEW_OF_CA rows, read from one index), bound to tenant_id
 * and, when not NULL, to arg, finds fewer than FEW_OF_CA. */
static bool fewer_than_few(struct conn *c, const char *count_sql, const char *tenant_id, const char *arg)
{
    sqlite3_stmt *st = NULL;
    bool few = false;

    if (sqlite3_prepare_v2(c->db, count_sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, tenant_id, -1, SQLITE_STATIC);
        if (arg != NULL)
            sqlite3_bind_text(st, 2, arg, -1, SQLITE_STATIC);
        few = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) < FEW_OF_CA;
    }
    sqlite3_finalize(st);
    return few;
}

static bool few_of_ca(struct conn *c, const char *tenant_id, const ch_store_cert_filter *f, bool expiry,
                      const struct search *q)
{
    if (f->ca_id == NULL || expiry || q->phrase != NULL)
        return false;
    return fewer_than_few(c,
                          "SELECT count(*) FROM (SELECT 1 FROM certificates INDEXED BY certificates_ca"
                          " WHERE tenant_id=? AND ca_id=? LIMIT " FEW_OF_CA_TEXT ")",
                          tenant_id, f->ca_id);
}

/* Imported certificates in expiry order: SQLite walks the tenant's expiry index and reads each
 * row for its method, all of them when few are imported (2 s at 1,000,000).  Fewer than
 * FEW_OF_CA imported (counted on their partial index) are read from it and sorted instead. */
static bool few_imported(struct conn *c, const char *tenant_id, const ch_store_cert_filter *f, bool expiry,
                         const struct search *q)
{
    if (!method_literal(f) || !expiry || q->phrase != NULL)
        return false;
    return fewer_than_few(c,
                          "SELECT count(*) FROM (SELECT 1 FROM certificates INDEXED BY certificates_imported"
                          " WHERE tenant_id=? AND method='imported' LIMIT " FEW_OF_CA_TEXT ")",
                          tenant_id, NULL);
}

int ch_store_cert_list(ch_store *s, const char *tenant_id, const ch_store_cert_filter *f, size_t limit,
                       const char *cursor, ch_store_cert **out, size_t *count, char **next_cursor)
{
    static const ch_store_cert_filter none = {.is_ca = -1};
    ch_buf sql = CH_BUF_INIT;
    sqlite3_stmt *st = NULL;
    struct conn *c = conn_get(s);
    ch_store_cert *list = NULL;
    struct search q = {0};
    char cur_id[CH_ID_MAX];
    int64_t cur_key = 0;
    size_t n = 0;
    bool expiry, more = false;
    int rc, error, i;

    *out = NULL;
    *count = 0;
    *next_cursor = NULL;
    if (c == NULL)
        return ch_error_last_code();
    if (f == NULL)
        f = &none;
    expiry = f->order == CH_ORDER_EXPIRY;
    if (limit == 0 || limit > 1000)
        return ch_error_set_field(CH_EINVAL, "limit", "limit must be between 1 and 1000");
    if (cursor && *cursor && (error = parse_cursor(cursor, &cur_key, cur_id)) < 0)
        return error;
    if (f->search && (error = search_prepare(c, f->search, &q)) < 0)
        goto done;
    if ((error = ch_buf_puts(&sql, "SELECT " CERT_COLS " FROM certificates")) < 0 ||
        (error = ch_buf_puts(&sql, f->is_ca == 1 && q.phrase == NULL             ? " INDEXED BY certificates_cas"
                                   : few_of_ca(c, tenant_id, f, expiry, &q)    ? " INDEXED BY certificates_ca"
                                   : few_imported(c, tenant_id, f, expiry, &q) ? " INDEXED BY certificates_imported"
                                                                               : "")) < 0 ||
        (error = filter_sql(&sql, f, &q)) < 0)
        goto done;
    if (cursor && *cursor)
        error = ch_buf_puts(&sql, expiry ? " AND (not_after, id) > (?, ?)" : " AND (created_at, id) < (?, ?)");
    if (error == 0)
        error = ch_buf_printf(&sql, " ORDER BY %s%s LIMIT ?", q.phrase ? "+" : "",
                              expiry ? "not_after ASC, id ASC" : "created_at DESC, id DESC");
    if (error < 0)
        goto done;
    if ((rc = sqlite3_prepare_v2(c->db, (const char *)sql.data, -1, &st, NULL)) != SQLITE_OK) {
        error = db_error(c->db, rc, "listing certificates");
        goto done;
    }
    i = bind_filter(st, 1, tenant_id, f, &q);
    if (cursor && *cursor) {
        sqlite3_bind_int64(st, i++, cur_key);
        sqlite3_bind_text(st, i++, cur_id, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, i, (int64_t)limit + 1); /* one more tells whether a next page exists */
    error = collect_upto(c->db, st, limit, sizeof *list, read_cert_listed, dispose_cert_row, (void **)&list, &n, &more,
                         "listing certificates");
    if (error == 0 && more)
        error = make_cursor(next_cursor, expiry ? list[n - 1].not_after : list[n - 1].created_at, list[n - 1].id);
done:
    sqlite3_finalize(st);
    ch_buf_dispose(&sql);
    search_dispose(&q);
    if (error < 0) {
        ch_store_cert_list_free(list, n);
        free(*next_cursor);
        *next_cursor = NULL;
        return error;
    }
    *out = list;
    *count = n;
    return 0;
}

int ch_store_cert_count(ch_store *s, const char *tenant_id, const ch_store_cert_filter *f, int64_t *count)
{
    static const ch_store_cert_filter none = {.is_ca = -1};
    ch_buf sql = CH_BUF_INIT;
    sqlite3_stmt *st = NULL;
    struct conn *c = conn_get(s);
    struct search q = {0};
    int rc, error = 0;

    *count = 0;
    if (c == NULL)
        return ch_error_last_code();
    if (f == NULL)
        f = &none;
    if (f->search && (error = search_prepare(c, f->search, &q)) < 0)
        goto done;
    if ((error = ch_buf_puts(&sql, "SELECT count(*) FROM certificates")) < 0 || (error = filter_sql(&sql, f, &q)) < 0)
        goto done;
    if ((rc = sqlite3_prepare_v2(c->db, (const char *)sql.data, -1, &st, NULL)) != SQLITE_OK) {
        error = db_error(c->db, rc, "counting certificates");
        goto done;
    }
    bind_filter(st, 1, tenant_id, f, &q);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        *count = sqlite3_column_int64(st, 0);
    else
        error = db_error(c->db, rc, "counting certificates");
done:
    sqlite3_finalize(st);
    ch_buf_dispose(&sql);
    search_dispose(&q);
    return error;
}

int ch_store_cert_expiry(ch_store *s, const char *tenant_id, int64_t now, int64_t bucket, size_t nbuckets,
                         int64_t *valid, int64_t *expired, int64_t *buckets)
{
    int rc, error;

    *valid = *expired = 0;
    memset(buckets, 0, nbuckets * sizeof *buckets);
    if (bucket <= 0)
        return ch_error_set(CH_EINVAL, "the bucket of an expiry summary must be positive");
    {
        STMT(S_CERT_EXPIRY_SUMMARY, "counting certificates by expiry");
        bind_text(st, 1, tenant_id);
        sqlite3_bind_int64(st, 2, now);
        if ((rc = sqlite3_step(st)) != SQLITE_ROW)
            return db_error(db, rc, "counting certificates by expiry");
        *valid = sqlite3_column_int64(st, 0);
        *expired = sqlite3_column_int64(st, 1);
        sqlite3_reset(st); /* its read ends here, not at the statement's next use */
    }
    STMT(S_CERT_EXPIRY_BUCKETS, "counting certificates by expiry");
    bind_text(st, 1, tenant_id);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, now + bucket * (int64_t)nbuckets);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t k = (sqlite3_column_int64(st, 0) - now) / bucket;
        if (k >= 0 && (size_t)k < nbuckets)
            buckets[k]++;
    }
    error = rc == SQLITE_DONE ? 0 : db_error(db, rc, "counting certificates by expiry");
    sqlite3_reset(st);
    return error;
}

int ch_store_cert_first_expiry(ch_store *s, const char *tenant_id, const char *ca_id, int64_t after, int64_t *first)
{
    int rc, error = 0;

    *first = 0;
    STMT(S_CERT_FIRST_EXPIRY, "finding a CA's first certificate to expire");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, ca_id);
    sqlite3_bind_int64(st, 3, after);
    if ((rc = sqlite3_step(st)) != SQLITE_ROW)
        error = db_error(db, rc, "finding a CA's first certificate to expire");
    else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
        error = CH_ENOTFOUND;
    else
        *first = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return error;
}

/* The one number an aggregate query answers (0 for its NULL), for the queries run now and
 * then (not prepared once and kept). */
static int query_int64(ch_store *s, const char *sql, const char *what, int64_t *out)
{
    sqlite3 *db;
    sqlite3_stmt *st = prepare_bound(s, sql, what, 0, NULL, NULL, &db);
    int rc;

    *out = 0;
    if (st == NULL)
        return ch_error_last_code();
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : db_error(db, rc, what);
}

int ch_store_cert_next_renewal(ch_store *s, int64_t *at)
{
    /* (the first entry of certificates_renew, a partial index of just these rows) */
    return query_int64(s, "SELECT min(renew_at) FROM certificates WHERE auto_renew = 1 AND renewed_by IS NULL",
                       "finding the next renewal", at);
}

int ch_store_cert_due_renewals(ch_store *s, int64_t now, size_t max, ch_store_cert_ref **out, size_t *count)
{
    struct conn *c = conn_get(s);
    sqlite3_stmt *st = NULL;
    int rc;

    *out = NULL;
    *count = 0;
    if (c == NULL)
        return ch_error_last_code();
    if ((*out = calloc(max ? max : 1, sizeof **out)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    if ((rc = sqlite3_prepare_v2(c->db,
                                 "SELECT tenant_id, id FROM certificates WHERE auto_renew = 1 AND renewed_by IS NULL"
                                 " AND renew_at <= ? AND tenant_id NOT IN (SELECT id FROM tenants WHERE disabled_at"
                                 " IS NOT NULL) ORDER BY renew_at LIMIT ?",
                                 -1, &st, NULL)) != SQLITE_OK)
        return db_error(c->db, rc, "finding certificates to renew");
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, (int64_t)max);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *count < max) {
        snprintf((*out)[*count].tenant_id, CH_ID_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf((*out)[*count].id, CH_ID_MAX, "%s", (const char *)sqlite3_column_text(st, 1));
        (*count)++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(c->db, rc, "finding certificates to renew");
}

/* A statement prepared here, for those run now and then (not prepared once and kept), with
 * parameter i + 1 bound to texts[i], or to ints[i] where texts[i] is NULL; NULL, the error set,
 * when it cannot be.  *db is the connection it is prepared on. */
static sqlite3_stmt *prepare_bound(ch_store *s, const char *sql, const char *what, int nargs,
                                   const char *const *texts, const int64_t *ints, sqlite3 **db)
{
    struct conn *c = conn_get(s);
    sqlite3_stmt *st = NULL;
    int rc;

    if (c == NULL)
        return NULL;
    *db = c->db;
    if ((rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL)) != SQLITE_OK) {
        db_error(c->db, rc, what);
        return NULL;
    }
    for (int i = 0; i < nargs; i++) {
        if (texts[i])
            sqlite3_bind_text(st, i + 1, texts[i], -1, SQLITE_STATIC);
        else
            sqlite3_bind_int64(st, i + 1, ints[i]);
    }
    return st;
}

int ch_store_cert_id_by_number(ch_store *s, const char *tenant_id, const char *hex, char id[CH_ID_MAX])
{
    const char *texts[] = {tenant_id, hex};
    int64_t ints[] = {0, 0};
    bool sha = strlen(hex) == 64;
    sqlite3 *db;
    /* A SHA-256 by the tenant's unique index of them; a serial by a walk of the tenant's rows
     * (an index of serials would cost every issuance its upkeep for a lookup made now and
     * then), without its leading zeros as each tool writes a serial its own way. */
    sqlite3_stmt *st = prepare_bound(s,
                                     sha ? "SELECT id FROM certificates WHERE tenant_id=? AND sha256=?"
                                         : "SELECT id FROM certificates WHERE tenant_id=? AND ltrim(serial, '0')=? LIMIT 2",
                                     "finding a certificate", 2, texts, ints, &db);
    int rc, error = 0;

    if (st == NULL)
        return ch_error_last_code();
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        snprintf(id, CH_ID_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
        if ((rc = sqlite3_step(st)) == SQLITE_ROW)
            error = ch_error_set(CH_ECONFLICT, "several certificates have the serial %s (of different CAs): give one's "
                                 "id or SHA-256", hex);
        else if (rc != SQLITE_DONE)
            error = db_error(db, rc, "finding a certificate");
    } else {
        error = rc == SQLITE_DONE ? ch_error_set(CH_ENOTFOUND, "no certificate has the %s %s",
                                                 sha ? "SHA-256" : "serial", hex)
                                  : db_error(db, rc, "finding a certificate");
    }
    sqlite3_finalize(st);
    return error;
}

static int exec_bound(ch_store *s, const char *sql, const char *what, int nargs, const char *const *texts,
                      const int64_t *ints, bool one_row)
{
    sqlite3 *db;
    sqlite3_stmt *st = prepare_bound(s, sql, what, nargs, texts, ints, &db);
    int error;

    if (st == NULL)
        return ch_error_last_code();
    error = step_done_locked(s, db, st, what);
    if (error == 0 && one_row && sqlite3_changes(db) == 0)
        error = ch_error_set(CH_ECONFLICT, "%s: nothing to change (already done?)", what);
    sqlite3_finalize(st);
    return error;
}

int ch_store_cert_set_auto_renew(ch_store *s, const char *tenant_id, const char *id, bool on, int64_t renew_at)
{
    const char *texts[] = {NULL, NULL, tenant_id, id};
    int64_t ints[] = {on, renew_at, 0, 0};

    return exec_bound(s, "UPDATE certificates SET auto_renew = ?, renew_at = ?, renew_attempts = 0, renew_error = NULL"
                         " WHERE tenant_id = ? AND id = ?", "changing automatic renewal", 4, texts, ints, true);
}

int ch_store_cert_set_renew_before(ch_store *s, const char *tenant_id, const char *id, int64_t renew_before,
                                   int64_t renew_at)
{
    const char *texts[] = {NULL, NULL, tenant_id, id};
    int64_t ints[] = {renew_before, renew_at, 0, 0};

    /* (0 stored as NULL: the tenant's renewal_point, as for every certificate stored before) */
    return exec_bound(s, "UPDATE certificates SET renew_before = nullif(?, 0), renew_at = ?, renew_attempts = 0,"
                         " renew_error = NULL WHERE tenant_id = ? AND id = ?", "changing the renewal's lead time", 4,
                      texts, ints, true);
}

/* Whether the first certificate of a line of renewals (head_id) has a certificate in its line
 * that ended at cutoff or later (itself excluded, as it ended before). */
static int line_in_force(ch_store *s, const char *tenant_id, const char *head_id, int64_t cutoff, bool *in_force)
{
    const char *texts[] = {tenant_id, head_id, NULL};
    int64_t ints[] = {0, 0, cutoff};
    sqlite3 *db;
    /* Walked by renewed_by as S_CERT_NEWEST walks it; UNION ends a circle of links. */
    sqlite3_stmt *st = prepare_bound(s,
                                     "WITH RECURSIVE lineage(id, next) AS ("
                                     " SELECT id, renewed_by FROM certificates WHERE tenant_id = ?1 AND id = ?2 UNION"
                                     " SELECT c.id, c.renewed_by FROM certificates c JOIN lineage l ON c.id = l.next"
                                     " WHERE c.tenant_id = ?1)"
                                     " SELECT EXISTS (SELECT 1 FROM lineage l JOIN certificates c ON c.id = l.id"
                                     " WHERE c.tenant_id = ?1 AND c.not_after >= ?3)",
                                     "reading a line of renewals", 3, texts, ints, &db);
    int rc;

    *in_force = true; /* (kept, when it cannot be told) */
    if (st == NULL)
        return ch_error_last_code();
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        *in_force = sqlite3_column_int(st, 0) != 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : db_error(db, rc, "reading a line of renewals");
}

int ch_store_cert_tidy_candidates(ch_store *s, const char *tenant_id, int64_t cutoff, int64_t now, int64_t *after_na,
                                  char after_id[CH_ID_MAX], size_t max, ch_store_cert_ref **out, size_t *count, bool *more)
{
    /* The first page starts below the cutoff, past every id ("~" sorts after them all). */
    bool first = after_id[0] == '\0';
    const char *texts[] = {tenant_id, NULL, NULL, first ? "~" : after_id, NULL, NULL};
    int64_t ints[] = {0, cutoff, first ? cutoff - 1 : *after_na, 0, now, (int64_t)max};
    bool *head = NULL;
    sqlite3 *db;
    sqlite3_stmt *st;
    size_t n = 0;
    int rc, error = 0;

    *out = NULL;
    *count = 0;
    *more = false;
    if ((*out = calloc(max ? max : 1, sizeof **out)) == NULL || (head = calloc(max ? max : 1, sizeof *head)) == NULL) {
        free(*out);
        *out = NULL;
        return ch_error_set(CH_ENOMEM, "out of memory");
    }
    /* The tenant's expiry index read backwards from the cursor (not_after <= ?3 bounds the
     * range: a page does not walk again the rows of the pages before it).  Each NOT IN list is made once
     * per statement (SQLite keeps it as a temporary index), not once per row; a keystore
     * chain, a list of ids in text, is searched per row, as deleting one certificate does. */
    st = prepare_bound(s,
                       "SELECT id, not_after, renews IS NULL AND renewed_by IS NOT NULL FROM certificates c"
                       " WHERE tenant_id = ?1 AND not_after < ?2 AND not_after <= ?3 AND (not_after < ?3 OR id < ?4)"
                       " AND is_ca = 0"
                       " AND NOT EXISTS (SELECT 1 FROM cas a WHERE a.tenant_id = ?1 AND a.cert_id = c.id)"
                       " AND id NOT IN (SELECT cert_id FROM keystore_entries WHERE tenant_id = ?1)"
                       " AND NOT EXISTS (SELECT 1 FROM keystore_entries e WHERE e.tenant_id = ?1 AND e.chain IS NOT NULL"
                       " AND instr(',' || e.chain || ',', ',' || c.id || ',') > 0)"
                       " AND sha256 NOT IN (SELECT sha256 FROM trusted_certs WHERE tenant_id = ?1)"
                       " AND sha256 NOT IN (SELECT cert_sha256 FROM devices WHERE tenant_id = ?1)"
                       " AND id NOT IN (SELECT o.value FROM api_tokens t, json_each(CASE WHEN json_valid(t.scope)"
                       " THEN t.scope ELSE '{}' END, '$.objects') o WHERE t.tenant_id = ?1 AND t.scope IS NOT NULL"
                       " AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?5))"
                       " ORDER BY not_after DESC, id DESC LIMIT ?6",
                       "finding certificates to tidy", 6, texts, ints, &db);
    if (st == NULL) {
        error = ch_error_last_code();
        goto done;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < max) {
        snprintf((*out)[n].tenant_id, CH_ID_MAX, "%s", tenant_id);
        snprintf((*out)[n].id, CH_ID_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
        *after_na = sqlite3_column_int64(st, 1);
        head[n++] = sqlite3_column_int(st, 2) != 0;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        error = db_error(db, rc, "finding certificates to tidy");
    sqlite3_finalize(st);
    if (error < 0)
        goto done;
    if (n > 0)
        snprintf(after_id, CH_ID_MAX, "%s", (*out)[n - 1].id);
    *more = n == max;
    /* The cursor is the page's last row, whatever is left out of the page below. */
    for (size_t i = 0; i < n; i++) {
        bool in_force;
        if (head[i] && (error = line_in_force(s, tenant_id, (*out)[i].id, cutoff, &in_force)) < 0)
            goto done;
        if (head[i] && in_force)
            continue;
        (*out)[(*count)++] = (*out)[i];
    }
done:
    free(head);
    if (error < 0) {
        free(*out);
        *out = NULL;
        *count = 0;
    }
    return error;
}

int ch_store_cert_link_renewal(ch_store *s, const char *tenant_id, const char *old_id, const char *new_id)
{
    const char *texts[] = {new_id, tenant_id, old_id};
    int64_t ints[] = {0, 0, 0};

    /* "renewed_by IS NULL": a certificate is renewed once, whoever tries again. */
    return exec_bound(s, "UPDATE certificates SET renewed_by = ?, renew_error = NULL WHERE tenant_id = ? AND id = ?"
                         " AND renewed_by IS NULL", "linking a renewal", 3, texts, ints, true);
}

int ch_store_cert_unlink_renewal(ch_store *s, const char *tenant_id, const char *id, const char *renews,
                                 const char *renewed_by)
{
    const char *before[] = {renewed_by ? renewed_by : "", tenant_id, id};
    const char *after[] = {renews ? renews : "", tenant_id, id};
    int64_t ints[] = {0, 0, 0};
    int error;

    if ((error = exec_bound(s, "UPDATE certificates SET renewed_by = nullif(?, '') WHERE tenant_id = ? AND renewed_by = ?",
                            "relinking the certificate it renewed", 3, before, ints, false)) < 0)
        return error;
    return exec_bound(s, "UPDATE certificates SET renews = nullif(?, '') WHERE tenant_id = ? AND renews = ?",
                      "relinking its renewal", 3, after, ints, false);
}

int ch_store_cert_renew_failed(ch_store *s, const char *tenant_id, const char *id, int64_t next_at, const char *error)
{
    const char *texts[] = {NULL, error, tenant_id, id};
    int64_t ints[] = {next_at, 0, 0, 0};

    return exec_bound(s, "UPDATE certificates SET renew_at = ?, renew_error = ?, renew_attempts = renew_attempts + 1"
                         " WHERE tenant_id = ? AND id = ?", "recording a failed renewal", 4, texts, ints, false);
}

int ch_store_alerts_due(ch_store *s, const char *tenant_id, int64_t now, int threshold_days, size_t max,
                        ch_store_cert_ref **out, size_t *count)
{
    struct conn *c = conn_get(s);
    sqlite3_stmt *st = NULL;
    int rc;

    *out = NULL;
    *count = 0;
    if (c == NULL)
        return ch_error_last_code();
    if ((*out = calloc(max ? max : 1, sizeof **out)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    if ((rc = sqlite3_prepare_v2(c->db,
                                 "SELECT id FROM certificates c WHERE tenant_id = ?1 AND not_after > ?2"
                                 " AND not_after <= ?2 + ?3 * 86400 AND renewed_by IS NULL AND status = 'active'"
                                 " AND NOT (auto_renew = 1 AND renew_attempts = 0"
                                 " AND (renew_at > ?2 OR not_after - created_at <= ?3 * 86400))"
                                 " AND NOT EXISTS (SELECT 1 FROM cas a WHERE a.tenant_id = ?1 AND a.cert_id = c.id"
                                 " AND a.key_id IS NOT NULL AND json_extract(a.settings, '$.auto_rotate') = 1"
                                 " AND ?2 < c.not_after - (c.not_after - c.not_before) / 3)"
                                 " AND NOT EXISTS (SELECT 1 FROM alerts_sent a WHERE a.tenant_id = ?1"
                                 " AND a.cert_id = c.id AND a.threshold_days = ?3) ORDER BY not_after LIMIT ?4",
                                 -1, &st, NULL)) != SQLITE_OK)
        return db_error(c->db, rc, "finding expiry alerts");
    sqlite3_bind_text(st, 1, tenant_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int(st, 3, threshold_days);
    sqlite3_bind_int64(st, 4, (int64_t)max);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *count < max) {
        snprintf((*out)[*count].tenant_id, CH_ID_MAX, "%s", tenant_id);
        snprintf((*out)[*count].id, CH_ID_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
        (*count)++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(c->db, rc, "finding expiry alerts");
}

int ch_store_alert_sent(ch_store *s, const char *tenant_id, const char *cert_id, int threshold_days, int64_t at)
{
    const char *texts[] = {tenant_id, cert_id, NULL, NULL};
    int64_t ints[] = {0, 0, threshold_days, at};

    return exec_bound(s, "INSERT OR IGNORE INTO alerts_sent(tenant_id, cert_id, threshold_days, sent_at) VALUES(?,?,?,?)",
                      "recording an alert", 4, texts, ints, false);
}

int ch_store_alert_delivered(ch_store *s, const char *tenant_id, const char *cert_id, int threshold_days,
                             const char *webhook, bool *done)
{
    *done = false;
    STMT(S_ALERT_DELIVERED, "reading an alert's deliveries");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, cert_id);
    sqlite3_bind_int(st, 3, threshold_days);
    bind_text(st, 4, webhook);
    int rc = sqlite3_step(st);
    *done = rc == SQLITE_ROW;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(db, rc, "reading an alert's deliveries");
}

int ch_store_alert_delivery(ch_store *s, const char *tenant_id, const char *cert_id, int threshold_days,
                            const char *webhook, int64_t at)
{
    const char *texts[] = {tenant_id, cert_id, NULL, webhook, NULL};
    int64_t ints[] = {0, 0, threshold_days, 0, at};

    return exec_bound(s, "INSERT OR IGNORE INTO alert_deliveries(tenant_id, cert_id, threshold_days, webhook, sent_at)"
                         " VALUES(?,?,?,?,?)", "recording an alert's delivery", 5, texts, ints, false);
}

int ch_store_search_pending(ch_store *s, int64_t *rows)
{
    return query_int64(s, "SELECT count(*) FROM certificates WHERE rowid > (SELECT indexed_upto FROM search_state)",
                       "reading the search index's state", rows);
}

/* ------------------------------------------------------------- CAs */

static void read_ca(ch_store_ca *ca, sqlite3_stmt *st)
{
    ca->id = col_text(st, 0);
    ca->tenant_id = col_text(st, 1);
    ca->name = col_text(st, 2);
    ca->cert_id = col_text(st, 3);
    ca->key_id = col_text(st, 4);
    ca->parent_id = col_text(st, 5);
    ca->status = col_text(st, 6);
    ca->settings = col_text(st, 7);
    ca->created_at = sqlite3_column_int64(st, 8);
}

int ch_store_ca_put(ch_store *s, const ch_store_ca *ca)
{
    STMT(S_CA_PUT, "storing a CA");
    bind_text(st, 1, ca->id);
    bind_text(st, 2, ca->tenant_id);
    bind_text(st, 3, ca->name);
    bind_text(st, 4, ca->cert_id);
    bind_text(st, 5, ca->key_id);
    bind_text(st, 6, ca->parent_id);
    bind_text(st, 7, ca->status ? ca->status : "active");
    bind_text(st, 8, ca->settings);
    sqlite3_bind_int64(st, 9, ca->created_at);
    int error = step_done(db, st, "storing a CA");
    if (error == CH_EEXISTS)
        ch_error_set_field(CH_EEXISTS, "name", "a CA named \"%.64s\" already exists", ca->name);
    return error;
}

int ch_store_ca_get(ch_store *s, ch_store_ca *out, const char *tenant_id, const char *id)
{
    STMT(S_CA_GET, "reading a CA");
    memset(out, 0, sizeof *out);
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, id);
    int error = step_row(db, st, "CA");
    if (error == 0) {
        read_ca(out, st);
        sqlite3_reset(st);
    }
    return error;
}

static void read_ca_row(void *row, sqlite3_stmt *st)
{
    read_ca(row, st);
}

static void dispose_ca_row(void *row)
{
    ch_store_ca_dispose(row);
}

static void ca_position(const void *row, int64_t *key, const char **id)
{
    const ch_store_ca *c = row;

    *key = c->created_at;
    *id = c->id;
}

int ch_store_ca_list(ch_store *s, const char *tenant_id, ch_store_page *page, ch_store_ca **out, size_t *count)
{
    if (page != NULL)
        return collect_page(s, "SELECT " CA_COLS " FROM cas WHERE tenant_id=?", "created_at", &tenant_id, 1, page,
                            sizeof **out, read_ca_row, dispose_ca_row, ca_position, (void **)out, count, "listing CAs");
    STMT(S_CA_LIST, "listing CAs");
    bind_text(st, 1, tenant_id);
    return collect(db, st, sizeof **out, read_ca_row, dispose_ca_row, (void **)out, count, "listing CAs");
}

int ch_store_ca_set_cert(ch_store *s, const char *tenant_id, const char *id, const char *cert_id, const char *key_id)
{
    const char *texts[] = {cert_id, key_id, tenant_id, id};
    int64_t ints[] = {0, 0, 0, 0};

    return exec_bound(s, "UPDATE cas SET cert_id = ?, key_id = ? WHERE tenant_id = ? AND id = ?", "rotating a CA", 4, texts,
                      ints, true);
}

int ch_store_ca_set_status(ch_store *s, const char *tenant_id, const char *id, const char *status)
{
    return set_one(s, S_CA_STATUS, "updating a CA", "CA", status, tenant_id, id);
}

int ch_store_ca_update(ch_store *s, const char *tenant_id, const char *id, const char *name, const char *settings)
{
    STMT(S_CA_UPDATE, "changing a CA");
    bind_text(st, 1, name);
    bind_text(st, 2, settings);
    bind_text(st, 3, tenant_id);
    bind_text(st, 4, id);
    int error = step_one_row(db, st, "changing a CA", "CA");
    if (error == CH_EEXISTS)
        ch_error_set_field(CH_EEXISTS, "name", "a CA named \"%.64s\" already exists", name ? name : "");
    return error;
}

int ch_store_ca_set_parent(ch_store *s, const char *tenant_id, const char *id, const char *parent_id)
{
    const char *texts[] = {parent_id, tenant_id, id};
    int64_t ints[] = {0, 0, 0};

    return exec_bound(s, "UPDATE cas SET parent_id = ? WHERE tenant_id = ? AND id = ?", "linking a CA", 3, texts, ints,
                      true);
}

int ch_store_ca_delete(ch_store *s, const char *tenant_id, const char *id)
{
    STMT(S_CA_DELETE, "deleting a CA");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, id);
    return step_one_row(db, st, "deleting a CA", "CA");
}

void ch_store_ca_dispose(ch_store_ca *ca)
{
    if (ca == NULL)
        return;
    free(ca->id);
    free(ca->tenant_id);
    free(ca->name);
    free(ca->cert_id);
    free(ca->key_id);
    free(ca->parent_id);
    free(ca->status);
    free(ca->settings);
    memset(ca, 0, sizeof *ca);
}

void ch_store_ca_list_free(ch_store_ca *list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        ch_store_ca_dispose(&list[i]);
    free(list);
}

/* ------------------------------------------------------------- set-up steps */

int ch_store_setup_get(ch_store *s, const char *step, char **value)
{
    STMT(S_SETUP_GET, "reading the set-up's steps");
    *value = NULL;
    bind_text(st, 1, step);
    int error = step_row(db, st, "set-up step");
    if (error == 0) {
        *value = col_text(st, 0);
        sqlite3_reset(st);
        if (*value == NULL)
            error = ch_error_set(CH_ENOMEM, "out of memory");
    }
    return error;
}

int ch_store_setup_put(ch_store *s, const char *step, const char *value, int64_t at)
{
    STMT(S_SETUP_PUT, "recording a step of the set-up");
    bind_text(st, 1, step);
    bind_text(st, 2, value);
    sqlite3_bind_int64(st, 3, at);
    return step_done(db, st, "recording a step of the set-up");
}

/* ------------------------------------------------------------- CSRs */

static void read_csr(ch_store_csr *c, sqlite3_stmt *st)
{
    c->id = col_text(st, 0);
    c->tenant_id = col_text(st, 1);
    c->name = col_text(st, 2);
    c->der = col_blob(st, 3, &c->der_len);
    c->subject = col_text(st, 4);
    c->key_id = col_text(st, 5);
    c->cert_id = col_text(st, 6);
    c->created_at = sqlite3_column_int64(st, 7);
}

int ch_store_csr_put(ch_store *s, const ch_store_csr *c)
{
    STMT(S_CSR_PUT, "storing a CSR");
    bind_text(st, 1, c->id);
    bind_text(st, 2, c->tenant_id);
    bind_text(st, 3, c->name);
    bind_blob(st, 4, c->der, c->der_len);
    bind_text(st, 5, c->subject);
    bind_text(st, 6, c->key_id);
    bind_text(st, 7, c->cert_id);
    sqlite3_bind_int64(st, 8, c->created_at);
    return step_done(db, st, "storing a CSR");
}

int ch_store_csr_get(ch_store *s, ch_store_csr *out, const char *tenant_id, const char *id)
{
    STMT(S_CSR_GET, "reading a CSR");
    memset(out, 0, sizeof *out);
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, id);
    int error = step_row(db, st, "CSR");
    if (error == 0) {
        read_csr(out, st);
        sqlite3_reset(st);
    }
    return error;
}

int ch_store_csr_waiting_for_key(ch_store *s, ch_store_csr *out, const char *tenant_id, const char *spki_sha256)
{
    STMT(S_CSR_BY_KEY, "finding a CSR by its key");
    memset(out, 0, sizeof *out);
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, spki_sha256);
    int error = step_row(db, st, "CSR");
    if (error == 0) {
        read_csr(out, st);
        sqlite3_reset(st);
    }
    return error;
}

static void read_csr_row(void *row, sqlite3_stmt *st)
{
    read_csr(row, st);
}

static void dispose_csr_row(void *row)
{
    ch_store_csr_dispose(row);
}

static void csr_position(const void *row, int64_t *key, const char **id)
{
    const ch_store_csr *c = row;

    *key = c->created_at;
    *id = c->id;
}

int ch_store_csr_list(ch_store *s, const char *tenant_id, ch_store_page *page, ch_store_csr **out, size_t *count)
{
    if (page != NULL)
        return collect_page(s, "SELECT " CSR_COLS " FROM csrs WHERE tenant_id=?", "created_at", &tenant_id, 1, page,
                            sizeof **out, read_csr_row, dispose_csr_row, csr_position, (void **)out, count,
                            "listing CSRs");
    STMT(S_CSR_LIST, "listing CSRs");
    bind_text(st, 1, tenant_id);
    return collect(db, st, sizeof **out, read_csr_row, dispose_csr_row, (void **)out, count, "listing CSRs");
}

int ch_store_csr_attach(ch_store *s, const char *tenant_id, const char *id, const char *cert_id)
{
    int error;

    STMT(S_CSR_ATTACH, "attaching a certificate to a CSR");
    bind_text(st, 1, cert_id);
    bind_text(st, 2, tenant_id);
    bind_text(st, 3, id);
    /* Once: a CSR that has its certificate keeps it, whoever got here first. */
    if ((error = step_one_row(db, st, "attaching a certificate to a CSR", "CSR")) == CH_ENOTFOUND)
        error = ch_error_set_field(CH_ECONFLICT, "csr_id", "CSR %s has its certificate already", id);
    return error;
}

int ch_store_csr_detach(ch_store *s, const char *tenant_id, const char *cert_id)
{
    return stmt_done_texts(s, S_CSR_DETACH, (const char *const[]){tenant_id, cert_id}, 2,
                           "detaching a certificate from its CSR");
}

int ch_store_csr_delete(ch_store *s, const char *tenant_id, const char *id)
{
    STMT(S_CSR_DELETE, "deleting a CSR");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, id);
    return step_one_row(db, st, "deleting a CSR", "CSR");
}

void ch_store_csr_dispose(ch_store_csr *c)
{
    if (c == NULL)
        return;
    free(c->id);
    free(c->tenant_id);
    free(c->name);
    free(c->der);
    free(c->subject);
    free(c->key_id);
    free(c->cert_id);
    memset(c, 0, sizeof *c);
}

void ch_store_csr_list_free(ch_store_csr *list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        ch_store_csr_dispose(&list[i]);
    free(list);
}

/* ------------------------------------------------------------- keystores */

static void read_ks(ch_store_keystore *k, sqlite3_stmt *st)
{
    k->id = col_text(st, 0);
    k->tenant_id = col_text(st, 1);
    k->name = col_text(st, 2);
    k->format = col_text(st, 3);
    k->created_at = sqlite3_column_int64(st, 4);
}

int ch_store_keystore_put(ch_store *s, const ch_store_keystore *k)
{
    STMT(S_KS_PUT, "storing a keystore");
    bind_text(st, 1, k->id);
    bind_text(st, 2, k->tenant_id);
    bind_text(st, 3, k->name);
    bind_text(st, 4, k->format);
    sqlite3_bind_int64(st, 5, k->created_at);
    return step_done(db, st, "storing a keystore");
}

int ch_store_keystore_get(ch_store *s, ch_store_keystore *out, const char *tenant_id, const char *id)
{
    STMT(S_KS_GET, "reading a keystore");
    memset(out, 0, sizeof *out);
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, id);
    int error = step_row(db, st, "keystore");
    if (error == 0) {
        read_ks(out, st);
        sqlite3_reset(st);
    }
    return error;
}

static void read_ks_row(void *row, sqlite3_stmt *st)
{
    read_ks(row, st);
}

static void dispose_ks_row(void *row)
{
    ch_store_keystore_dispose(row);
}

static void ks_position(const void *row, int64_t *key, const char **id)
{
    const ch_store_keystore *k = row;

    *key = k->created_at;
    *id = k->id;
}

int ch_store_keystore_list(ch_store *s, const char *tenant_id, ch_store_page *page, ch_store_keystore **out,
                           size_t *count)
{
    if (page != NULL)
        return collect_page(s, "SELECT id, tenant_id, name, format, created_at FROM keystores WHERE tenant_id=?",
                            "created_at", &tenant_id, 1, page, sizeof **out, read_ks_row, dispose_ks_row, ks_position,
                            (void **)out, count, "listing keystores");
    STMT(S_KS_LIST, "listing keystores");
    bind_text(st, 1, tenant_id);
    return collect(db, st, sizeof **out, read_ks_row, dispose_ks_row, (void **)out, count, "listing keystores");
}

int ch_store_keystore_delete(ch_store *s, const char *tenant_id, const char *id)
{
    STMT(S_KS_DELETE, "deleting a keystore");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, id);
    return step_one_row(db, st, "deleting a keystore", "keystore");
}

int ch_store_keystore_take_position(ch_store *s, const char *tenant_id, const char *keystore_id, int *position)
{
    STMT(S_KS_POSITION, "numbering a keystore entry");
    struct conn *c = pthread_getspecific(s->tls);
    sqlite3_int64 taken;
    int error;

    /* Alone, the position would be spent whether or not the entry is then stored. */
    if (c == NULL || !c->in_tx)
        return ch_error_set(CH_EINTERNAL, "a keystore entry's position is taken in the transaction that stores it");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, keystore_id);
    if ((error = step_row(db, st, "keystore")) < 0)
        return error;
    taken = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (taken > INT_MAX)
        return ch_error_set(CH_ETOOBIG, "the keystore's entry positions are spent (%lld entries added over its "
                            "life): upload its export as a new keystore", (long long)taken);
    *position = (int)taken;
    return 0;
}

/* error, said as an alias the keystore holds already when the entries' unique index refused
 * it (storing an entry, renaming one). */
static int alias_taken(int error, const char *alias)
{
    if (error == CH_EEXISTS)
        ch_error_set_field(CH_EEXISTS, "alias", "the keystore already has an entry with alias \"%.64s\"", alias);
    return error;
}

int ch_store_keystore_entry_put(ch_store *s, const ch_store_keystore_entry *e)
{
    STMT(S_KSE_PUT, "storing a keystore entry");
    bind_text(st, 1, e->id);
    bind_text(st, 2, e->keystore_id);
    bind_text(st, 3, e->tenant_id);
    bind_text(st, 4, e->alias);
    sqlite3_bind_int(st, 5, e->position);
    bind_text(st, 6, e->cert_id);
    bind_text(st, 7, e->chain);
    bind_text(st, 8, e->key_id);
    bind_text(st, 9, e->origin ? e->origin : "uploaded");
    return alias_taken(step_done(db, st, "storing a keystore entry"), e->alias);
}

int ch_store_keystore_entry_delete(ch_store *s, const char *tenant_id, const char *entry_id)
{
    STMT(S_KSE_DELETE, "deleting a keystore entry");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, entry_id);
    return step_one_row(db, st, "deleting a keystore entry", "keystore entry");
}

int ch_store_keystore_entry_rename(ch_store *s, const char *tenant_id, const char *entry_id, const char *alias)
{
    STMT(S_KSE_RENAME, "renaming a keystore entry");
    bind_text(st, 1, alias);
    bind_text(st, 2, tenant_id);
    bind_text(st, 3, entry_id);
    return alias_taken(step_one_row(db, st, "renaming a keystore entry", "keystore entry"), alias);
}

static void read_entry_row(void *row, sqlite3_stmt *st)
{
    ch_store_keystore_entry *e = row;

    e->id = col_text(st, 0);
    e->keystore_id = col_text(st, 1);
    e->tenant_id = col_text(st, 2);
    e->alias = col_text(st, 3);
    e->position = sqlite3_column_int(st, 4);
    e->cert_id = col_text(st, 5);
    e->chain = col_text(st, 6);
    e->key_id = col_text(st, 7);
    e->origin = col_text(st, 8);
}

static void dispose_entry_row(void *row)
{
    ch_store_keystore_entry_dispose(row);
}

int ch_store_keystore_holding(ch_store *s, const char *tenant_id, const char *cert_id, char *where, size_t cap)
{
    int error;

    STMT(S_KSE_OF_CERT, "looking for a certificate in keystores");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, cert_id);
    if ((error = step_row(db, st, "keystore entry")) < 0)
        return error;
    /* The entry's own certificate, or one of its chain (a CA above it): said as it is. */
    snprintf(where, cap, "%sentry \"%s\" of keystore \"%s\" (%s)",
             sqlite3_column_int(st, 3) ? "" : "the chain of ", (const char *)sqlite3_column_text(st, 0),
             (const char *)sqlite3_column_text(st, 1), (const char *)sqlite3_column_text(st, 2));
    sqlite3_reset(st);
    return 0;
}

int ch_store_keystore_entries_of_cert(ch_store *s, const char *tenant_id, const char *cert_id,
                                      ch_store_keystore_entry **out, size_t *count)
{
    STMT(S_KSE_HOLDING, "looking for a certificate's keystore entries");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, cert_id);
    return collect(db, st, sizeof **out, read_entry_row, dispose_entry_row, (void **)out, count,
                   "looking for a certificate's keystore entries");
}

int ch_store_keystore_entry_set_cert(ch_store *s, const char *tenant_id, const char *entry_id, const char *cert_id,
                                     const char *chain, const char *key_id)
{
    STMT(S_KSE_SET_CERT, "changing a keystore entry's certificate");
    bind_text(st, 1, cert_id);
    bind_text(st, 2, chain);
    bind_text(st, 3, key_id);
    bind_text(st, 4, tenant_id);
    bind_text(st, 5, entry_id);
    return step_one_row(db, st, "changing a keystore entry's certificate", "keystore entry");
}

int ch_store_keystore_backfill_list(ch_store *s, size_t max, ch_store_keystore_entry **out, size_t *count)
{
    const char *texts[] = {NULL};
    int64_t ints[] = {(int64_t)(max < INT64_MAX ? max : INT64_MAX)};
    sqlite3 *db;
    sqlite3_stmt *st;
    int error;

    *out = NULL;
    *count = 0;
    /* An entry deleted since (its keystore with it) is gone from the join, and its row below is
     * left: harmless, and read by this join alone. */
    if ((st = prepare_bound(s, "SELECT e.id, e.keystore_id, e.tenant_id, e.alias, e.position, e.cert_id, e.chain,"
                               " e.key_id, e.origin FROM keystore_renewal_backfill b JOIN keystore_entries e"
                               " ON e.id = b.id ORDER BY e.id LIMIT ?",
                            "listing the keystore entries to move to their certificates' renewals", 1, texts, ints,
                            &db)) == NULL)
        return ch_error_last_code();
    error = collect(db, st, sizeof **out, read_entry_row, dispose_entry_row, (void **)out, count,
                    "listing the keystore entries to move to their certificates' renewals");
    sqlite3_finalize(st);
    return error;
}

int ch_store_keystore_backfill_done(ch_store *s, const char *entry_id)
{
    const char *texts[] = {entry_id};
    int64_t ints[] = {0};

    return exec_bound(s, "DELETE FROM keystore_renewal_backfill WHERE id = ?",
                      "recording a keystore entry moved to its certificate's renewal", 1, texts, ints, true);
}

int ch_store_keystore_entries(ch_store *s, const char *tenant_id, const char *keystore_id,
                              ch_store_keystore_entry **out, size_t *count)
{
    STMT(S_KSE_LIST, "listing keystore entries");
    bind_text(st, 1, tenant_id);
    bind_text(st, 2, keystore_id);
    return collect(db, st, sizeof **out, read_entry_row, dispose_entry_row, (void **)out, count,
                   "listing keystore entries");
}

void ch_store_keystore_dispose(ch_store_keystore *k)
{
    if (k == NULL)
        return;
    free(k->id);
    free(k->tenant_id);
    free(k->name);
    free(k->format);
    free(k->notes);
    memset(k, 0, sizeof *k);
}

void ch_store_keystore_list_free(ch_store_keystore *list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        ch_store_keystore_dispose(&list[i]);
    free(list);
}

void ch_store_keystore_entry_dispose(ch_store_keystore_entry *e)
{
    if (e == NULL)
        return;
    free(e->id);
    free(e->keystore_id);
    free(e->tenant_id);
    free(e->alias);
    free(e->cert_id);
    free(e->chain);
    free(e->key_id);
    free(e->origin);
    memset(e, 0, sizeof *e);
}

void ch_store_keystore_entry_list_free(ch_store_keystore_entry *list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        ch_store_keystore_entry_dispose(&list[i]);
    free(list);
}

/* ------------------------------------------------------------- audit log */

int ch_store_audit_append(ch_store *s, ch_store_audit *row)
{
    STMT(S_AUDIT_PUT, "writing the audit log");
    bind_text(st, 1, row->tenant_id);
    sqlite3_bind_int64(st, 2, row->at);
    bind_text(st, 3, row->actor);
    bind_text(st, 4, row->action);
    bind_text(st, 5, row->object_type);
    bind_text(st, 6, row->object_id);
    bind_text(st, 7, row->detail);
    bind_text(st, 8, row->prev_hash);
    bind_text(st, 9, row->hash);
    sqlite3_bind_int64(st, 10, row->seq);
    return step_done(db, st, "writing the audit log");
}

int ch_store_audit_last(ch_store *s, const char *tenant_id, char out[65], int64_t *seq)
{
    STMT(S_AUDIT_LAST, "reading the audit log");
    int rc;

    out[0] = '\0';
    *seq = 0;
    bind_text(st, 1, tenant_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        col_hex(out, st, 0);
        *seq = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(db, rc, "reading the audit log");
}

static void read_audit_row(void *row, sqlite3_stmt *st)
{
    ch_store_audit *a = row;

    a->seq = sqlite3_column_int64(st, 0);
    a->tenant_id = col_text(st, 1);
    a->at = sqlite3_column_int64(st, 2);
    a->actor = col_text(st, 3);
    a->action = col_text(st, 4);
    a->object_type = col_text(st, 5);
    a->object_id = col_text(st, 6);
    a->detail = col_text(st, 7);
    col_hex(a->prev_hash, st, 8);
    col_hex(a->hash, st, 9);
}

static void dispose_audit_row(void *row)
{
    ch_store_audit_dispose(row);
}

int ch_store_audit_list(ch_store *s, const char *tenant_id, int64_t after_seq, size_t limit, ch_store_audit **out,
                        size_t *count)
{
    STMT(S_AUDIT_LIST, "reading the audit log");
    bind_text(st, 1, tenant_id);
    sqlite3_bind_int64(st, 2, after_seq);
    sqlite3_bind_int64(st, 3, (int64_t)limit);
    return collect(db, st, sizeof **out, read_audit_row, dispose_audit_row, (void **)out, count,
                   "reading the audit log");
}

int ch_store_audit_query(ch_store *s, const char *tenant_id, const ch_store_audit_filter *f, size_t limit,
                         ch_store_audit **out, size_t *count, int64_t *next_seq)
{
    static const ch_store_audit_filter none = {0};
    ch_buf sql = CH_BUF_INIT;
    sqlite3_stmt *st = NULL;
    struct conn *c = conn_get(s);
    /* action: one action, "kind.*" (a prefix), or several of those comma-separated (key exports
     * are key.export and keystore.export_keys) */
    struct {
        const char *at;
        size_t len;
        bool prefix;
    } acts[8];
    size_t nacts = 0;
    bool more = false;
    int rc, error = 0, i = 1;

    *out = NULL;
    *count = 0;
    *next_seq = 0;
    if (c == NULL)
        return ch_error_last_code();
    if (f == NULL)
        f = &none;
    if (limit == 0 || limit > 1000)
        return ch_error_set_field(CH_EINVAL, "limit", "limit must be between 1 and 1000");
    for (const char *a = f->action; a != NULL; a = strchr(a, ',') ? strchr(a, ',') + 1 : NULL) {
        size_t len = strcspn(a, ",");
        if (nacts == sizeof acts / sizeof acts[0])
            return ch_error_set_field(CH_EINVAL, "action", "at most %zu actions, comma-separated",
                                      sizeof acts / sizeof acts[0]);
        acts[nacts].at = a;
        acts[nacts].prefix = len > 0 && a[len - 1] == '*';
        acts[nacts].len = len - acts[nacts].prefix;
        nacts++;
    }
    /* The (tenant_id, n) index gives the order and the page; the other conditions are
     * checked on the rows it walks. */
    error = ch_buf_puts(&sql, "SELECT " AUDIT_COLS " FROM audit_log WHERE tenant_id=?");
    if (error == 0 && f->from_seq > 0)
        error = ch_buf_puts(&sql, f->newest_first ? " AND n<?" : " AND n>?");
    for (size_t k = 0; k < nacts && error == 0; k++)
        error = ch_buf_puts(&sql, k == 0 && acts[k].prefix  ? " AND (substr(action, 1, ?)=?"
                                  : k == 0                  ? " AND (action=?"
                                  : acts[k].prefix          ? " OR substr(action, 1, ?)=?"
                                                            : " OR action=?");
    if (error == 0 && nacts > 0)
        error = ch_buf_puts(&sql, ")");
    if (error == 0 && f->actor != NULL)
        error = ch_buf_puts(&sql, " AND actor=?");
    if (error == 0 && f->object_type != NULL)
        error = ch_buf_puts(&sql, " AND object_type=?");
    if (error == 0 && f->object_id != NULL)
        error = ch_buf_puts(&sql, " AND object_id=?");
    if (error == 0 && f->since != 0)
        error = ch_buf_puts(&sql, " AND at>=?");
    if (error == 0 && f->until != 0)
        error = ch_buf_puts(&sql, " AND at<?");
    if (error == 0)
        error = ch_buf_puts(&sql, f->newest_first ? " ORDER BY n DESC LIMIT ?" : " ORDER BY n LIMIT ?");
    if (error < 0)
        goto done;
    if ((rc = sqlite3_prepare_v2(c->db, (const char *)sql.data, -1, &st, NULL)) != SQLITE_OK) {
        error = db_error(c->db, rc, "reading the audit log");
        goto done;
    }
    sqlite3_bind_text(st, i++, tenant_id, -1, SQLITE_STATIC);
    if (f->from_seq > 0)
        sqlite3_bind_int64(st, i++, f->from_seq);
    for (size_t k = 0; k < nacts; k++) {
        if (acts[k].prefix)
            sqlite3_bind_int64(st, i++, (int64_t)acts[k].len);
        sqlite3_bind_text(st, i++, acts[k].at, (int)acts[k].len, SQLITE_STATIC);
    }
    if (f->actor != NULL)
        sqlite3_bind_text(st, i++, f->actor, -1, SQLITE_STATIC);
    if (f->object_type != NULL)
        sqlite3_bind_text(st, i++, f->object_type, -1, SQLITE_STATIC);
    if (f->object_id != NULL)
        sqlite3_bind_text(st, i++, f->object_id, -1, SQLITE_STATIC);
    if (f->since != 0)
        sqlite3_bind_int64(st, i++, f->since);
    if (f->until != 0)
        sqlite3_bind_int64(st, i++, f->until);
    sqlite3_bind_int64(st, i, (int64_t)limit + 1); /* one more tells whether a next page exists */
    error = collect_upto(c->db, st, limit, sizeof **out, read_audit_row, dispose_audit_row, (void **)out, count, &more,
                         "reading the audit log");
    if (error == 0 && more)
        *next_seq = (*out)[*count - 1].seq;
done:
    sqlite3_finalize(st);
    ch_buf_dispose(&sql);
    return error;
}

void ch_store_audit_dispose(ch_store_audit *a)
{
    if (a == NULL)
        return;
    free(a->tenant_id);
    free(a->actor);
    free(a->action);
    free(a->object_type);
    free(a->object_id);
    free(a->detail);
    memset(a, 0, sizeof *a);
}

void ch_store_audit_list_free(ch_store_audit *list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        ch_store_audit_dispose(&list[i]);
    free(list);
}
