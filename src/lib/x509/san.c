/*
 * Subject alternative names as people type them: "dns:a.example", "ip:127.0.0.1",
 * "email:ops@example.com", "uri:spiffe://example/device/1", or a bare host name or address.
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "certhub/x509.h"

#define SAN_FORMS "accepted: dns:NAME, ip:ADDRESS, email:ADDRESS, uri:URI, upn:USER@DOMAIN"

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

#define DNS_MAX 253

/* RFC 1034 3.5 host names (as RFC 5280 4.2.1.6 requires for dNSName), with one leading
 * "*." wildcard label allowed, as TLS certificates use. */
const char *ch_dns_name_problem(const char *name)
{
    size_t len = strlen(name), label = 0;
    const char *p = name;

    if (len == 0)
        return "it is empty";
    if (len > DNS_MAX)
        return "it is longer than 253 characters";
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] >= 0x80)
            return "it is not in ASCII: write an internationalized name in its xn-- form (IDNA A-labels; "
                   "bücher.example is xn--bcher-kva.example)";
    if (p[0] == '*' && (p[1] == '.' || p[1] == '\0')) {
        if (p[1] == '\0')
            return "a wildcard needs a domain after it (*.example.com)";
        p += 2;
    }
    for (;; p++) {
        if (*p == '.' || *p == '\0') {
            if (label == 0)
                return *p == '\0' && p > name && p[-1] == '.' ? "it ends with a dot"
                                                              : "it has an empty label (two dots, or a leading dot)";
            if (label > 63)
                return "a label is longer than 63 characters";
            if (p[-1] == '-')
                return "a label ends with '-'";
            if (*p == '\0')
                return NULL;
            label = 0;
            continue;
        }
        if (*p == '*')
            return "'*' stands only as the whole leftmost label (*.example.com)";
        if (!(is_alnum(*p) || *p == '-' || *p == '_'))
            return "a label holds only letters, digits, '-' and '_'";
        if (label == 0 && *p == '-')
            return "a label starts with '-'";
        label++;
    }
}

static bool valid_ip(const char *s)
{
    unsigned char buf[16];

    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* user@domain, one '@', neither side empty, visible ASCII: an rfc822Name is an IA5String (an
 * address beyond ASCII is RFC 8398's SmtpUTF8Mailbox, which certhub does not write). */
static bool valid_email(const char *s)
{
    const char *at = strchr(s, '@');

    for (const char *p = s; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return false;
    return at != NULL && at != s && strchr(at + 1, '@') == NULL && at[1] != '\0';
}

/* A user principal name: user@domain as an address is written, in UTF-8 (its UTF8String holds
 * any), with nothing that shows as blank or reorders the text on a screen. */
static bool valid_upn(const char *s)
{
    const char *at = strchr(s, '@');

    if (!ch_utf8_valid(s) || at == NULL || at == s || strchr(at + 1, '@') != NULL || at[1] == '\0')
        return false;
    for (const char *p = s; *p; p += ch_utf8_char_len(p))
        if (ch_utf8_control(p) != 0 || ch_utf8_space(p) != 0)
            return false;
    return true;
}

static bool valid_uri(const char *s)
{
    const char *colon = strchr(s, ':');

    if (colon == NULL || colon == s || colon[1] == '\0')
        return false;
    for (const char *p = s; p < colon; p++)
        if (!(is_alnum(*p) || *p == '+' || *p == '-' || *p == '.'))
            return false;
    return strchr(s, ' ') == NULL;
}

int ch_san_parse(ch_san *out, const char *text)
{
    static const struct {
        const char *prefix;
        ch_san_type type;
    } kinds[] = {
        {"dns:", CH_SAN_DNS}, {"ip:", CH_SAN_IP}, {"email:", CH_SAN_EMAIL}, {"uri:", CH_SAN_URI}, {"upn:", CH_SAN_UPN},
    };
    const char *value = NULL, *why;
    ch_san_type type = 0;

    memset(out, 0, sizeof *out);
    if (text == NULL || *text == '\0')
        return ch_error_set_field(CH_EINVAL, "sans", "empty subject alternative name; " SAN_FORMS);
    if (strlen(text) > CH_MAX_NAME_LEN)
        return ch_error_set_field(CH_EINVAL, "sans", "subject alternative name longer than %u bytes",
                                  CH_MAX_NAME_LEN);
    for (const char *p = text; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return ch_error_set_field(CH_EINVAL, "sans", "subject alternative name contains a control character");
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i].prefix);
        if (strncasecmp(text, kinds[i].prefix, n) == 0) {
            type = kinds[i].type;
            value = text + n;
            break;
        }
    }
    if (value == NULL) {
        /* A bare value: an address if it parses as one, else a host name; "word:..." (no '.'
         * before the ':') is a kind of name misspelt or not taken, not a host name. */
        const char *colon = strchr(text, ':');
        bool kind = colon != NULL && colon > text && colon[1] != '\0' && !valid_ip(text) &&
                    strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == (size_t)(colon - text) &&
                    strspn(colon + 1, "0123456789") != strlen(colon + 1); /* (not host:port) */
        if (kind)
            return ch_error_set_field(CH_EINVAL, "sans", "unknown kind of subject alternative name \"%.*s:\"; %s",
                                      (int)(colon - text > 32 ? 32 : colon - text), text, SAN_FORMS);
        value = text;
        type = valid_ip(text) ? CH_SAN_IP : CH_SAN_DNS;
    }
    switch (type) {
    case CH_SAN_DNS:
        if ((why = ch_dns_name_problem(value)) != NULL)
            return ch_error_set_field(CH_EINVAL, "sans", "\"%.128s\" is not a valid DNS name: %s; " SAN_FORMS, text,
                                      why);
        break;
    case CH_SAN_IP:
        if (!valid_ip(value))
            return ch_error_set_field(CH_EINVAL, "sans", "\"%.128s\" is not an IPv4 or IPv6 address; " SAN_FORMS,
                                      text);
        break;
    case CH_SAN_EMAIL:
        if (!valid_email(value))
            return ch_error_set_field(CH_EINVAL, "sans", "\"%.128s\" is not an email address (user@domain in visible "
                                      "ASCII: a domain beyond it in its xn-- form); " SAN_FORMS, text);
        break;
    case CH_SAN_URI:
        if (!valid_uri(value))
            return ch_error_set_field(CH_EINVAL, "sans", "\"%.128s\" is not a URI with a scheme; " SAN_FORMS, text);
        break;
    case CH_SAN_UPN:
        /* (user@domain, as an address is written; UTF-8 taken, as its UTF8String holds it) */
        if (!valid_upn(value))
            return ch_error_set_field(CH_EINVAL, "sans", "\"%.128s\" is not a user principal name (user@domain, "
                                      "UTF-8 without spaces or control characters); " SAN_FORMS, text);
        break;
    }
    out->type = type;
    out->value = value;
    return 0;
}

int ch_san_append(ch_buf *b, const ch_san *san)
{
    static const char *const prefix[] = {[CH_SAN_DNS] = "dns:", [CH_SAN_IP] = "ip:", [CH_SAN_EMAIL] = "email:",
                                         [CH_SAN_URI] = "uri:", [CH_SAN_UPN] = "upn:"};
    char ip[INET6_ADDRSTRLEN];
    uint8_t raw[16];
    const char *v = san->value;

    if (san->type == CH_SAN_IP)
        v = (inet_pton(AF_INET, v, raw) == 1 && inet_ntop(AF_INET, raw, ip, sizeof ip)) ||
                    (inet_pton(AF_INET6, v, raw) == 1 && inet_ntop(AF_INET6, raw, ip, sizeof ip))
                ? ip
                : v;
    return ch_buf_printf(b, "%s%s", prefix[san->type], v) < 0 ? ch_error_set(CH_ENOMEM, "out of memory") : 0;
}
