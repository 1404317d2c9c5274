/*
 * Built-in certificate profiles: the templates users pick (the "Profiles" list and "Extra
 * Constraints" of a create wizard).  Each fixes Basic Constraints, Key Usage and Extended Key
 * Usage; callers may override validity, digest, path length, KU and EKU per certificate.
 */
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "certhub/x509.h"

static const ch_profile root_ca = {
    .name = "root-ca",
    .description = "Root certificate authority (self-signed)",
    .is_ca = true,
    .path_len = -1,
    .key_usage = CH_KU_KEY_CERT_SIGN | CH_KU_CRL_SIGN,
    .default_days = 3650,
};

static const ch_profile intermediate_ca = {
    .name = "intermediate-ca",
    .description = "Intermediate (issuing) certificate authority",
    .is_ca = true,
    .path_len = 0,
    .key_usage = CH_KU_KEY_CERT_SIGN | CH_KU_CRL_SIGN,
    .default_days = 1825,
};

/* keyEncipherment is added for RSA subject keys only (RSA key transport); for EC and
 * Ed25519 keys it is meaningless (RFC 8813 3). */
static const ch_profile tls_server = {
    .name = "tls-server",
    .description = "TLS server (HTTPS, MQTT broker...)",
    .path_len = -1,
    .key_usage = CH_KU_DIGITAL_SIGNATURE | CH_KU_KEY_ENCIPHERMENT,
    .ext_key_usage = CH_EKU_SERVER_AUTH,
    .default_days = 365,
    .allow_sans = true,
};

static const ch_profile tls_client = {
    .name = "tls-client",
    .description = "TLS client authentication",
    .path_len = -1,
    .key_usage = CH_KU_DIGITAL_SIGNATURE | CH_KU_KEY_ENCIPHERMENT,
    .ext_key_usage = CH_EKU_CLIENT_AUTH,
    .default_days = 365,
    .allow_sans = true,
};

static const ch_profile tls_server_client = {
    .name = "tls-server-client",
    .description = "TLS server and client authentication",
    .path_len = -1,
    .key_usage = CH_KU_DIGITAL_SIGNATURE | CH_KU_KEY_ENCIPHERMENT,
    .ext_key_usage = CH_EKU_SERVER_AUTH | CH_EKU_CLIENT_AUTH,
    .default_days = 365,
    .allow_sans = true,
};

static const ch_profile device = {
    .name = "device",
    .description = "IoT device (MQTT client certificate)",
    .path_len = -1,
    .key_usage = CH_KU_DIGITAL_SIGNATURE,
    .ext_key_usage = CH_EKU_CLIENT_AUTH,
    .default_days = 365,
    .allow_sans = true,
};

static const ch_profile code_signing = {
    .name = "code-signing",
    .description = "Code signing",
    .path_len = -1,
    .key_usage = CH_KU_DIGITAL_SIGNATURE,
    .ext_key_usage = CH_EKU_CODE_SIGNING,
    .default_days = 365,
    .allow_sans = false,
};

static const ch_profile *const profiles[] = {
    &root_ca, &intermediate_ca, &tls_server, &tls_client, &tls_server_client, &device, &code_signing, NULL,
};

const ch_profile *ch_profile_get(const char *name)
{
    if (name != NULL)
        for (size_t i = 0; profiles[i] != NULL; i++)
            if (strcmp(profiles[i]->name, name) == 0)
                return profiles[i];
    ch_error_set_field(CH_ENOTFOUND, "profile",
                       "unknown profile \"%.64s\"; accepted: root-ca, intermediate-ca, tls-server, tls-client, "
                       "tls-server-client, device, code-signing",
                       name ? name : "");
    return NULL;
}

int64_t ch_profile_default_life(const ch_profile *p)
{
    return p->default_ttl != 0 ? p->default_ttl : (int64_t)p->default_days * 86400;
}

int64_t ch_profile_max_life(const ch_profile *p)
{
    return p->max_ttl != 0 ? p->max_ttl : (int64_t)p->max_days * 86400;
}

const ch_profile *const *ch_profile_list(void)
{
    return profiles;
}

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha256, *md_sha384, *md_sha512;

static void md_fetch(void)
{
    md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    md_sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
    md_sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
}

int ch_digest_parse(const EVP_MD **out, const char *name)
{
    const char *n = name;

    *out = NULL;
    pthread_once(&md_once, md_fetch);
    if (n == NULL || *n == '\0')
        n = "sha256";
    if (strcasecmp(n, "sha256") == 0 || strcasecmp(n, "sha-256") == 0)
        *out = md_sha256;
    else if (strcasecmp(n, "sha384") == 0 || strcasecmp(n, "sha-384") == 0)
        *out = md_sha384;
    else if (strcasecmp(n, "sha512") == 0 || strcasecmp(n, "sha-512") == 0)
        *out = md_sha512;
    else
        return ch_error_set_field(CH_EINVAL, "digest", "unknown digest \"%.32s\"; accepted: sha256, sha384, sha512",
                                  n);
    if (*out == NULL)
        return ch_error_ossl(CH_ECRYPTO, "EVP_MD_fetch", "fetching the digest");
    return 0;
}
