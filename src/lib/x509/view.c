/*
 * Certificates decoded for reading only (x509_view_decode, x509_internal.h): a library
 * context with a provider of its own that offers SHA-1 and nothing else.
 */
#include <limits.h>
#include <pthread.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "certhub/x509.h"
#include "x509/x509_internal.h"

/*
 * Certificates that are only read (names, validity, extensions, what inspect shows) are
 * decoded in a library context of their own.  OpenSSL 3.0's d2i_X509 decodes the public key
 * through its decoder framework, which goes through every decoder of every provider under
 * global locks: 140 us for a P-256 certificate on one thread, and no faster on two than on
 * one.  The reading context's one provider offers SHA-1 alone (OpenSSL fingerprints a
 * certificate when it caches its extensions), so no decoder is found, the key stays
 * undecoded, and a certificate decodes in under 20 us on every thread at once.  Anything
 * that verifies, chains, serves TLS or writes a key store takes the full object
 * (ch_cert_x509), which fails closed if given a reading one: nothing can be fetched in its
 * context but SHA-1.
 */
static const EVP_MD *view_md;

static void *view_sha1_new(void *provctx)
{
    (void)provctx;
    return EVP_MD_CTX_new();
}

static void view_sha1_free(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void *view_sha1_dup(void *ctx)
{
    EVP_MD_CTX *d = EVP_MD_CTX_new();

    if (d != NULL && EVP_MD_CTX_copy_ex(d, ctx) != 1) {
        EVP_MD_CTX_free(d);
        d = NULL;
    }
    return d;
}

static int view_sha1_init(void *ctx, const OSSL_PARAM params[])
{
    (void)params;
    return EVP_DigestInit_ex(ctx, view_md, NULL);
}

static int view_sha1_update(void *ctx, const unsigned char *in, size_t len)
{
    return EVP_DigestUpdate(ctx, in, len);
}

static int view_sha1_final(void *ctx, unsigned char *out, size_t *outl, size_t outsz)
{
    unsigned int n = 0;

    if (outsz < SHA_DIGEST_LENGTH || EVP_DigestFinal_ex(ctx, out, &n) != 1)
        return 0;
    *outl = n;
    return 1;
}

static int view_sha1_params(OSSL_PARAM params[])
{
    OSSL_PARAM *p;

    if ((p = OSSL_PARAM_locate(params, OSSL_DIGEST_PARAM_BLOCK_SIZE)) != NULL && !OSSL_PARAM_set_size_t(p, 64))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_DIGEST_PARAM_SIZE)) != NULL &&
        !OSSL_PARAM_set_size_t(p, SHA_DIGEST_LENGTH))
        return 0;
    return 1;
}

static const OSSL_DISPATCH view_sha1_fns[] = {
    {OSSL_FUNC_DIGEST_NEWCTX, (void (*)(void))view_sha1_new},
    {OSSL_FUNC_DIGEST_FREECTX, (void (*)(void))view_sha1_free},
    {OSSL_FUNC_DIGEST_DUPCTX, (void (*)(void))view_sha1_dup},
    {OSSL_FUNC_DIGEST_INIT, (void (*)(void))view_sha1_init},
    {OSSL_FUNC_DIGEST_UPDATE, (void (*)(void))view_sha1_update},
    {OSSL_FUNC_DIGEST_FINAL, (void (*)(void))view_sha1_final},
    {OSSL_FUNC_DIGEST_GET_PARAMS, (void (*)(void))view_sha1_params},
    {0, NULL},
};

static const OSSL_ALGORITHM view_digests[] = {
    {"SHA1:SHA-1:SSL3-SHA1:1.3.14.3.2.26", "provider=certhub-reading", view_sha1_fns, NULL},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM *view_query(void *provctx, int operation, int *no_cache)
{
    (void)provctx;
    *no_cache = 0;
    return operation == OSSL_OP_DIGEST ? view_digests : NULL;
}

static const OSSL_DISPATCH view_provider_fns[] = {
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))view_query},
    {0, NULL},
};

static int view_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in, const OSSL_DISPATCH **out,
                              void **provctx)
{
    (void)in;
    *out = view_provider_fns;
    *provctx = (void *)handle;
    return 1;
}

static OSSL_LIB_CTX *view_ctx;
static pthread_once_t view_once = PTHREAD_ONCE_INIT;

static void view_ctx_make(void)
{
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();

    /* Loading a provider explicitly keeps OpenSSL from loading its default one there. */
    if (ctx == NULL || (view_md = EVP_MD_fetch(NULL, "SHA1", NULL)) == NULL ||
        OSSL_PROVIDER_add_builtin(ctx, "certhub-reading", view_provider_init) != 1 ||
        OSSL_PROVIDER_load(ctx, "certhub-reading") == NULL) {
        OSSL_LIB_CTX_free(ctx); /* certificates are then read with full objects */
        ctx = NULL;
    }
    ERR_clear_error();
    view_ctx = ctx;
}

X509 *x509_view_decode(const uint8_t *der, size_t len, const uint8_t **end)
{
    const unsigned char *p = der;
    X509 *x = NULL;

    pthread_once(&view_once, view_ctx_make);
    if (len > LONG_MAX || (view_ctx != NULL && (x = X509_new_ex(view_ctx, NULL)) == NULL))
        return NULL;
    if (d2i_X509(&x, &p, (long)len) == NULL) {
        X509_free(x);
        x = NULL;
    } else {
        /* Cache the extensions now: OpenSSL also looks for the signature's algorithms then,
         * which this context has not, and the errors it queues are cleared here rather than
         * met by whoever reads the queue next. */
        (void)X509_get_extension_flags(x);
    }
    ERR_clear_error();
    *end = p;
    return x;
}
