/*
 * Chains: order a bag of certificates leaf -> root, and verify a leaf against anchors with
 * OpenSSL's verifier (strict RFC 5280 checks), reporting why it fails in words a person can
 * act on.
 */
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "certhub/x509.h"
#include "x509/x509_internal.h"

bool ch_cert_issued_by(const ch_cert *a, const ch_cert *b)
{
    X509 *xa = ch_cert_x509(a), *xb = ch_cert_x509(b);
    EVP_PKEY *pk;
    bool ok;

    if (X509_check_issued(xb, xa) != X509_V_OK)
        return false;
    pk = X509_get0_pubkey(xb);
    ok = pk != NULL && X509_verify(xa, pk) == 1;
    ERR_clear_error();
    return ok;
}

static char *subject_of(const ch_cert *c)
{
    char *s = NULL;

    if (ch_name_to_string(&s, X509_get_subject_name(x509_cert_obj(c))) < 0)
        return NULL;
    return s;
}

int ch_chain_order(ch_cert ***out, size_t *count, ch_cert *const *certs, size_t n)
{
    ch_cert **uniq = NULL, **chain = NULL;
    int *parent = NULL;
    bool *is_parent = NULL, *used = NULL;
    size_t u = 0, len = 0, leaf = SIZE_MAX;
    int error = 0;

    *out = NULL;
    *count = 0;
    if (n == 0)
        return ch_error_set(CH_EINVAL, "no certificates to order");
    if (n > CH_MAX_CHAIN_LEN)
        return ch_error_set(CH_ETOOBIG, "a chain of more than %u certificates is not accepted", CH_MAX_CHAIN_LEN);
    uniq = calloc(n, sizeof *uniq);
    parent = calloc(n, sizeof *parent);
    is_parent = calloc(n, sizeof *is_parent);
    used = calloc(n, sizeof *used);
    chain = calloc(n, sizeof *chain);
    if (!uniq || !parent || !is_parent || !used || !chain) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    /* The same certificate twice counts once. */
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t j = 0; j < u && !dup; j++)
            dup = memcmp(ch_cert_sha256(uniq[j]), ch_cert_sha256(certs[i]), 32) == 0;
        if (!dup)
            uniq[u++] = certs[i];
    }
    for (size_t i = 0; i < u; i++) {
        parent[i] = -1;
        if (ch_cert_is_self_signed(uniq[i]))
            continue;
        for (size_t j = 0; j < u; j++) {
            if (j != i && ch_cert_issued_by(uniq[i], uniq[j])) {
                parent[i] = (int)j;
                is_parent[j] = true;
                break;
            }
        }
    }
    for (size_t i = 0; i < u; i++) {
        if (is_parent[i])
            continue;
        if (leaf != SIZE_MAX) {
            char *a = subject_of(uniq[leaf]), *b = subject_of(uniq[i]);
            error = ch_error_set(CH_EVERIFY,
                                 "the certificates do not form one chain: both \"%s\" and \"%s\" issued no other "
                                 "certificate of the set",
                                 a ? a : "?", b ? b : "?");
            free(a);
            free(b);
            goto done;
        }
        leaf = i;
    }
    if (leaf == SIZE_MAX) {
        error = ch_error_set(CH_EVERIFY, "the certificates issue each other in a loop: no leaf certificate");
        goto done;
    }
    for (size_t i = leaf; ; i = (size_t)parent[i]) {
        if (used[i])
            break; /* a loop: stop at the first repeat */
        used[i] = true;
        chain[len++] = ch_cert_dup(uniq[i]);
        if (parent[i] < 0)
            break;
    }
    for (size_t i = 0; i < u; i++) {
        if (!used[i]) {
            char *s = subject_of(uniq[i]);
            error = ch_error_set(CH_EVERIFY, "certificate \"%s\" does not belong to the chain of the others",
                                 s ? s : "?");
            free(s);
            goto done;
        }
    }
    *out = chain;
    *count = len;
    chain = NULL;
done:
    if (chain != NULL)
        ch_cert_list_free(chain, len);
    free(uniq);
    free(parent);
    free(is_parent);
    free(used);
    return error;
}

static const char *reason(int err, ch_purpose purpose)
{
    switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED: return "certificate has expired";
    case X509_V_ERR_CERT_NOT_YET_VALID: return "certificate is not yet valid";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: return "unknown issuer";
    case X509_V_ERR_INVALID_CA: return "issuer is not a CA";
    case X509_V_ERR_PATH_LENGTH_EXCEEDED: return "path length exceeded";
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE: return "bad signature";
    case X509_V_ERR_INVALID_PURPOSE:
    case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
        return purpose == CH_PURPOSE_SERVER   ? "wrong key usage for server authentication"
               : purpose == CH_PURPOSE_CLIENT ? "wrong key usage for client authentication"
                                              : "wrong key usage";
    case X509_V_ERR_HOSTNAME_MISMATCH: return "host name mismatch";
    case X509_V_ERR_IP_ADDRESS_MISMATCH: return "IP address mismatch";
    default: return NULL;
    }
}

/* X509_V_FLAG_X509_STRICT refuses a certificate without an Authority Key Identifier, but RFC
 * 5280 4.2.1.1 puts that duty on the CA, not on the verifier, which then finds the issuer by its
 * name (6.1).  Issuing leaves it out when asked (authority_key_id false), and devices' certificates
 * from other CAs often have none.  Likewise a CA certificate without Key Usage: 4.2.1.3 asks the
 * CA to write it, and path validation checks keyCertSign only where the extension is there
 * (6.1.4 (n)); `openssl req -x509` makes such CAs by default, and brokers' TLS (OpenSSL unstrict)
 * lets their devices in.  The rest of the strict checks stay. */
static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
    int err = X509_STORE_CTX_get_error(ctx);

    if (!ok && (err == X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER || err == X509_V_ERR_CA_CERT_MISSING_KEY_USAGE))
        return 1;
    return ok;
}

int ch_chain_verify(const ch_cert *leaf, const ch_verify_opts *o)
{
    X509_STORE *store = NULL;
    X509_STORE_CTX *ctx = NULL;
    STACK_OF(X509) *untrusted = NULL;
    X509_VERIFY_PARAM *param;
    int error = 0, r, err, depth;

    if (leaf == NULL)
        return ch_error_set(CH_EINVAL, "no certificate to verify");
    if (o->anchor_count == 0)
        return ch_error_set(CH_EINVAL, "no trusted certificates (anchors) to verify against");
    if ((store = X509_STORE_new()) == NULL || (ctx = X509_STORE_CTX_new()) == NULL ||
        (untrusted = sk_X509_new_null()) == NULL) {
        error = ch_error_set(CH_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < o->anchor_count; i++)
        if (X509_STORE_add_cert(store, ch_cert_x509(o->anchors[i])) != 1) {
            error = ch_error_ossl(CH_ECRYPTO, "X509_STORE_add_cert", "loading the trusted certificates");
            goto done;
        }
    for (size_t i = 0; i < o->untrusted_count; i++)
        if (sk_X509_push(untrusted, ch_cert_x509(o->untrusted[i])) <= 0) {
            error = ch_error_set(CH_ENOMEM, "out of memory");
            goto done;
        }
    if (X509_STORE_CTX_init(ctx, store, ch_cert_x509(leaf), untrusted) != 1) {
        error = ch_error_ossl(CH_ECRYPTO, "X509_STORE_CTX_init", "verifying");
        goto done;
    }
    X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
    param = X509_STORE_CTX_get0_param(ctx);
    /* Strict RFC 5280 checks; an intermediate given as an anchor is a valid end of the path. */
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT | X509_V_FLAG_PARTIAL_CHAIN);
    X509_VERIFY_PARAM_set_time(param, (time_t)(o->at ? o->at : ch_now()));
    if (o->purpose == CH_PURPOSE_SERVER)
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    else if (o->purpose == CH_PURPOSE_CLIENT)
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    /* An address is matched against the IP SANs (a host name check would look for a DNS name
     * "10.0.0.5" and never find one), a name against the DNS SANs. */
    if (o->hostname != NULL) {
        unsigned char ip[16];
        bool is_ip = inet_pton(AF_INET, o->hostname, ip) == 1 || inet_pton(AF_INET6, o->hostname, ip) == 1;
        if ((is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, o->hostname) : X509_VERIFY_PARAM_set1_host(param, o->hostname, 0)) != 1) {
            error = ch_error_set(CH_EINVAL, "invalid host name \"%.64s\"", o->hostname);
            goto done;
        }
    }
    r = X509_verify_cert(ctx);
    if (r == 1 && o->path_len != NULL)
        *o->path_len = (size_t)sk_X509_num(X509_STORE_CTX_get0_chain(ctx));
    if (r != 1) {
        X509 *bad = X509_STORE_CTX_get_current_cert(ctx);
        char *who = NULL;
        const char *why;

        err = X509_STORE_CTX_get_error(ctx);
        depth = X509_STORE_CTX_get_error_depth(ctx);
        why = reason(err, o->purpose);
        if (bad != NULL)
            (void)ch_name_to_string(&who, X509_get_subject_name(bad));
        error = ch_error_set(CH_EVERIFY, "%s (certificate \"%s\" at depth %d%s%s)",
                             why ? why : X509_verify_cert_error_string(err), who ? who : "?", depth,
                             why ? "" : ", ", why ? "" : "verification failed");
        free(who);
    }
done:
    ERR_clear_error();
    sk_X509_free(untrusted);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return error;
}

int ch_chain_reachable(const ch_cert *leaf, ch_cert *const *pool, size_t npool, ch_cert *const *anchors, size_t n,
                       bool *reachable)
{
    /* The issuers' names met going up, each once: at most one a certificate of the pool, and
     * the leaf's own issuer. */
    const X509_NAME **names = calloc(npool + 1, sizeof *names);
    size_t count = 0;

    for (size_t i = 0; i < n; i++)
        reachable[i] = false;
    if (names == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    names[count++] = X509_get_issuer_name(ch_cert_x509(leaf));
    for (size_t k = 0; k < count; k++)
        for (size_t j = 0; j < npool; j++) {
            const X509_NAME *issuer;
            bool seen = false;
            if (pool[j] == NULL || X509_NAME_cmp(X509_get_subject_name(ch_cert_x509(pool[j])), names[k]) != 0)
                continue;
            issuer = X509_get_issuer_name(ch_cert_x509(pool[j]));
            for (size_t m = 0; m < count && !seen; m++)
                seen = X509_NAME_cmp(names[m], issuer) == 0;
            if (!seen && count < npool + 1)
                names[count++] = issuer;
        }
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; anchors[i] != NULL && k < count && !reachable[i]; k++)
            reachable[i] = X509_NAME_cmp(X509_get_subject_name(ch_cert_x509(anchors[i])), names[k]) == 0;
    free(names);
    return 0;
}
