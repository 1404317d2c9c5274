/*
 * Name policies of custom profiles: which DNS names, addresses and URIs a certificate issued
 * from one may carry (x509.h says the rules).  Checked by ch_cert_issue on the names it is
 * about to sign, whichever way they came: given, copied from a CSR, or the common name made
 * the one DNS name of a server certificate.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/objects.h>

#include "certhub/x509.h"

#define DNS_MAX 253

/* Lower-cases name into out (DNS_MAX + 1 bytes) without one trailing dot (the names compared
 * are the names as DNS resolves them), and says why it is not a DNS name as ch_san_parse
 * takes one: NULL when it is. */
static const char *dns_canon(char *out, const char *name)
{
    size_t len = strlen(name);

    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len > DNS_MAX)
        return "it is longer than 253 characters";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    out[len] = '\0';
    return ch_dns_name_problem(out);
}

int ch_name_policy_add(ch_name_policy *policy, const char *entry)
{
    char canon[DNS_MAX + 1], **grown;
    const char *why = dns_canon(canon, entry);

    if (why != NULL)
        return ch_error_set(CH_EINVAL, "\"%.128s\" is not a domain: %s; give names such as example.com, or "
                                       "*.example.com for the names one label below it", entry, why);
    if ((grown = realloc(policy->domains, (policy->ndomains + 1) * sizeof *grown)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    policy->domains = grown;
    if ((grown[policy->ndomains] = strdup(canon)) == NULL)
        return ch_error_set(CH_ENOMEM, "out of memory");
    policy->ndomains++;
    return 0;
}

void ch_name_policy_dispose(ch_name_policy *policy)
{
    if (policy == NULL)
        return;
    for (size_t i = 0; i < policy->ndomains; i++)
        free(policy->domains[i]);
    free(policy->domains);
    memset(policy, 0, sizeof *policy);
}

/* Whether name ends with "." and base. */
static bool below(const char *name, size_t len, const char *base)
{
    size_t blen = strlen(base);

    return len > blen + 1 && name[len - blen - 1] == '.' && memcmp(name + len - blen, base, blen) == 0;
}

/* A canonical name (a wildcard one included) against the entries. */
static bool dns_allowed(const ch_name_policy *policy, const char *name)
{
    size_t len = strlen(name);

    for (size_t i = 0; i < policy->ndomains; i++) {
        const char *e = policy->domains[i];
        if (e[0] == '*') {
            /* one label below: "*.x" stands for www.x and *.x alike */
            if (below(name, len, e + 2) && memchr(name, '.', len - strlen(e + 2) - 1) == NULL)
                return true;
        } else if (strcmp(name, e) == 0 || (policy->allow_subdomains && below(name, len, e))) {
            return true;
        }
    }
    return false;
}

/* What the policy allows, for a refusal's message. */
static void describe(char *out, size_t size, const ch_name_policy *policy)
{
    size_t used = 0;
    size_t i;

    if (policy->ndomains == 0) {
        snprintf(out, size, "no DNS names");
        return;
    }
    for (i = 0; i < policy->ndomains && used < size; i++) {
        if (i == 8) {
            used += (size_t)snprintf(out + used, size - used, ", and %zu more", policy->ndomains - i);
            break;
        }
        used += (size_t)snprintf(out + used, size - used, "%s%s", i ? ", " : "", policy->domains[i]);
    }
    if (policy->allow_subdomains && used < size)
        snprintf(out + used, size - used, " and the names below them");
}

static int check_dns(const ch_name_policy *policy, const char *profile, const char *field, const char *what,
                     const char *name)
{
    char canon[DNS_MAX + 1], allowed[600];
    const char *why = dns_canon(canon, name);

    if (why != NULL)
        return ch_error_set_field(CH_EPOLICY, field, "%s\"%.128s\" is not a DNS name: %s (profile %s checks names)",
                                  what, name, why, profile);
    if (canon[0] == '*' && !policy->allow_wildcards)
        return ch_error_set_field(CH_EPOLICY, field,
                                  "profile %s does not allow wildcard names (%s%s): its allow_wildcards is false",
                                  profile, what, canon);
    if (dns_allowed(policy, canon))
        return 0;
    describe(allowed, sizeof allowed, policy);
    return ch_error_set_field(CH_EPOLICY, field, "profile %s does not allow %s%s: it allows %s", profile, what,
                              canon, allowed);
}

static bool is_ip(const char *s)
{
    unsigned char buf[16];

    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int check_ip(const ch_name_policy *policy, const char *profile, const char *field, const char *what,
                    const char *ip)
{
    if (policy->allow_ip)
        return 0;
    return ch_error_set_field(CH_EPOLICY, field, "profile %s does not allow IP addresses (%s%s): its allow_ip_sans "
                              "is false", profile, what, ip);
}

/* A common name a TLS client could take for a host name (RFC 6125 6.4.4) is held to the
 * policy as one; anything else matches no host. */
static bool host_like(const char *cn)
{
    size_t n = strlen(cn);

    return n > 0 &&
           strspn(cn, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.*") == n;
}

static int check_subject(const ch_name_policy *policy, const char *profile, const X509_NAME *subject)
{
    int error = 0;

    if (subject == NULL)
        return 0;
    /* Every common name, not the first alone: a second one is as readable by a client. */
    for (int i = -1; error == 0 && (i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0;) {
        const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
        unsigned char *utf8 = NULL;
        int len = ASN1_STRING_to_UTF8(&utf8, v);

        if (len < 0)
            return ch_error_set_field(CH_EPOLICY, "subject", "the subject's common name cannot be read as UTF-8");
        if (memchr(utf8, '\0', (size_t)len) != NULL)
            error = ch_error_set_field(CH_EPOLICY, "subject", "the subject's common name holds a NUL byte");
        else if (is_ip((const char *)utf8))
            error = check_ip(policy, profile, "subject", "the common name ", (const char *)utf8);
        else if (policy->dns_restricted && host_like((const char *)utf8))
            error = check_dns(policy, profile, "subject", "the common name ", (const char *)utf8);
        OPENSSL_free(utf8);
    }
    return error;
}

int ch_name_policy_check(const ch_name_policy *policy, const char *profile, const X509_NAME *subject,
                         const ch_san *sans, size_t nsans, bool sans_from_csr)
{
    const char *what;
    int error;

    if (policy == NULL)
        return 0;
    /* The SANs first: a common name taken from the first of them is refused as the SAN given. */
    for (size_t i = 0; i < nsans; i++) {
        const char *v = sans[i].value;
        switch (sans[i].type) {
        case CH_SAN_DNS:
            what = sans_from_csr ? "the CSR's dns:" : "dns:";
            if (policy->dns_restricted && (error = check_dns(policy, profile, "sans", what, v)) < 0)
                return error;
            break;
        case CH_SAN_IP:
            if ((error = check_ip(policy, profile, "sans", sans_from_csr ? "the CSR's ip:" : "ip:", v)) < 0)
                return error;
            break;
        case CH_SAN_EMAIL:
        case CH_SAN_UPN: {
            /* A user principal name as an address: its domain one the profile allows. */
            const char *at = strrchr(v, '@');
            char canon[DNS_MAX + 1];
            if (!policy->dns_restricted)
                break;
            what = sans[i].type == CH_SAN_UPN ? (sans_from_csr ? "the CSR's upn:" : "upn:")
                   : sans_from_csr            ? "the CSR's email:"
                                              : "email:";
            /* the domain of an address, as a host name: no wildcard stands for mailboxes */
            if (at == NULL || dns_canon(canon, at + 1) != NULL || canon[0] == '*' || !dns_allowed(policy, canon)) {
                char allowed[600];
                describe(allowed, sizeof allowed, policy);
                return ch_error_set_field(CH_EPOLICY, "sans", "profile %s does not allow %s%.128s: its domain "
                                          "must be one it allows: %s", profile, what, v, allowed);
            }
            break;
        }
        case CH_SAN_URI:
            if (policy->dns_restricted && !policy->allow_uri)
                return ch_error_set_field(CH_EPOLICY, "sans", "profile %s does not allow URIs (%s%.128s): its "
                                          "allow_uri_sans is false", profile, sans_from_csr ? "the CSR's uri:"
                                          : "uri:", v);
            break;
        }
    }
    return check_subject(policy, profile, subject);
}
