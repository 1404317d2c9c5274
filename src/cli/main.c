/*
 * certhub: the command-line tool.  For now it works on files, as a careful front end to
 * the X.509 engine (the service commands come with certhubd).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certhub/formats.h"
#include "certhub/x509.h"
#include "cli.h"


static const cli_cmd commands[] = {
    {"key create", cmd_key_create, "--type TYPE --out FILE [--password-file F] [--force]",
     "create a private key (rsa2048 rsa3072 rsa4096 p256 p384 p521 ed25519)", "type= out= password-file= force", 0, 0},
    {"csr create", cmd_csr_create,
     "--key FILE --subject DN [--san dns:NAME,ip:ADDR,...] [--digest sha256] --out FILE [--key-password-file F] "
     "[--force]",
     "create a certificate signing request", "key= subject= san= digest= out= key-password-file= force", 0, 0},
    {"cert create", cmd_cert_create,
     "--profile NAME [--subject DN] [--san LIST] [--key FILE | --key-type TYPE --key-out FILE | --csr FILE] "
     "[--ca FILE --ca-key FILE] [--days N | --ttl T] [--path-len N] [--digest D] [--key-usage LIST|none] "
     "[--ext-key-usage LIST|none] [--basic-constraints on|off] [--authority-key-id on|off] [--critical LIST|none] "
     "[--crl-url URL] [--ocsp-url URL] [--ca-issuers-url URL] [--ext-key-usage-oids LIST] [--policies LIST] "
     "[--key-password-file F] "
     "[--ca-key-password-file F] [--key-out-password-file F] --out FILE [--force]",
     "issue a certificate from a profile (a root-ca one is self-signed; the others need --ca and --ca-key)",
     "profile= subject= san= key= key-type= key-out= csr= ca= ca-key= days= ttl= path-len= digest= key-usage= "
     "ext-key-usage= basic-constraints= authority-key-id= critical= crl-url= ocsp-url= ca-issuers-url= "
     "ext-key-usage-oids= policies= key-password-file= ca-key-password-file= key-out-password-file= out= force",
     0, 0},
    {"convert", cmd_convert,
     "FILE --to pem|der|p7b|p12|jks --out FILE [--in-password-file F] [--key-password-file F] "
     "[--password-file F | --no-password] [--legacy] [--no-key] "
     "[--force]",
     "convert certificates and keystores between PEM, DER, PKCS#7, PKCS#12, JKS (and from JCEKS)",
     "to= out= in-password-file= key-password-file= password-file= no-password legacy no-key force", 1, 1},
    {"ca list", cmd_remote_ca_list, "[--limit N] [--cursor C] [--all] [--tenant NAME]", "list the CAs on the server",
     "limit= cursor= all tenant=", 0, 0},
    {"ca create", cmd_remote_ca_create,
     "--name NAME --subject DN [--parent CA_ID [--cap-validity] [--csr FILE]] [--key-type T] [--days N | --ttl T] "
     "[--digest D] [--path-len N] [--auto-rotate] [--crl-urls LIST] [--ocsp-urls LIST] [--ca-issuers-urls LIST]",
     "create a root CA on the server (an intermediate with --parent; one whose key is elsewhere, a partner's or an "
     "HSM's, from its CSR with --csr: held without its key)",
     "name= subject= parent= key-type= days= ttl= digest= path-len= auto-rotate cap-validity csr= crl-urls= "
     "ocsp-urls= ca-issuers-urls=",
     0, 0},
    {"ca get", cmd_remote_ca_get, "CA_ID", "show a CA on the server", "", 1, 1},
    {"ca update", cmd_remote_ca_update,
     "CA_ID [--name N] [--auto-rotate on|off] [--crl-urls LIST|none] [--ocsp-urls LIST|none] "
     "[--ca-issuers-urls LIST|none]",
     "rename a CA, switch its automatic rotation on or off, or set the URLs it writes into what it issues",
     "name= auto-rotate= crl-urls= ocsp-urls= ca-issuers-urls=", 1, 1},
    {"ca chain", cmd_remote_ca_chain, "CA_ID --out FILE", "download a CA's chain (PEM, the CA first, up to its root)",
     "out= force", 1, 1},
    {"ca import", cmd_remote_ca_import,
     "CERT_FILE --name N [--key FILE [--key-password-file F]] [--password-file F] [--csr-id ID]",
     "bring your own CA (PEM, or DER as a .cer comes): with its key to issue from (--key, or both in a PKCS#12 or "
     "JKS file), without (to chain to), or signed by an outside CA on a CSR made here (--csr-id)",
     "name= key= password-file= key-password-file= csr-id=", 1, 1},
    {"ca delete", cmd_remote_ca_delete, "CA_ID [--force]",
     "delete a CA (refused while it has unexpired certificates, unless --force)", "force", 1, 1},
    {"ca rotate", cmd_remote_ca_rotate, "CA_ID [--cert FILE [--csr-id ID]]",
     "rotate a CA: a new key and certificate, the old one kept for what it issued; a CA an outside issuer signed takes "
     "the renewal signed there (--cert) for a CSR made here (csr new --ca)",
     "cert= csr-id=", 1, 1},
    {"ca bundle", cmd_remote_ca_bundle,
     "--out FILE [--format pem|jks|p12] [--password-file F] [--tenant NAME] [--fingerprint SHA256] [--force]",
     "download the tenant's trust bundle: its valid CA certificates (without a token: a public bundle)",
     "out= format= password-file= tenant= fingerprint= force", 0, 0},
    {"cert list", cmd_remote_cert_list,
     "[--search TEXT] [--expiring-before TIME] [--ca-id ID] [--kind leaf|ca] [--method M] [--status S] [--limit N] "
     "[--cursor C] [--all] [--tenant NAME]",
     "list certificates on the server (method: generated, csr_signed, issued or imported; status: active, renewed, rotated or expired)",
     "search= expiring-before= ca-id= kind= method= status= limit= cursor= all tenant=", 0, 0},
    {"cert get", cmd_remote_cert_get, "ID", "show a certificate on the server (ID: its id, or its serial or SHA-256 in hex, "
     "colons allowed; so wherever a certificate's ID goes)", "", 1, 1},
    {"cert issue", cmd_remote_cert_issue,
     "[--ca-id ID] [--profile P] [--subject DN] [--san LIST] [--key-type T | --csr FILE | --csr-id ID] "
     "[--days N | --ttl T | --not-after TIME] "
     "[--name N] [--digest D] [--key-usage LIST|none] [--ext-key-usage LIST|none] [--basic-constraints on|off] "
     "[--authority-key-id on|off] [--critical LIST|none] [--ext-key-usage-oids LIST|none] [--policies LIST|none] "
     "[--auto-renew [--renew-before DUR]] [--csr-usages] "
     "[--cap-validity] [--out FILE [--chain]] [--key-out FILE [--key-password-file F]]",
     "issue a certificate on the server (without --ca-id: the tenant's one issuing CA; --csr-id: a CSR made there "
     "by csr new, whose key the certificate takes; --csr-usages: the key usages the CSR asks for, not the profile's; "
     "--cap-validity: end with the CA rather than be refused; "
     "--key-out: download the key the server holds, encrypted under the password when given)",
     "ca-id= profile= subject= san= key-type= csr= csr-id= days= ttl= not-after= name= digest= key-usage= "
     "ext-key-usage= basic-constraints= authority-key-id= critical= auto-renew renew-before= csr-usages cap-validity out= "
     "chain key-out= ext-key-usage-oids= policies= "
     "key-password-file= force",
     0, 0},
    {"cert export", cmd_remote_cert_export,
     "ID --out FILE [--format pem|der|p7b|p12|jks] [--password-file F | --no-password] [--key-password-file F] "
     "[--alias NAME] [--with-key | --truststore] [--legacy]",
     "download a certificate (with its key: p12, jks, or pem --with-key; or as a truststore)",
     "out= format= password-file= no-password key-password-file= alias= with-key truststore legacy force", 1, 1},
    {"cert update", cmd_remote_cert_update, "ID [--name N] [--auto-renew on|off] [--renew-before DUR|none]",
     "rename a certificate, switch its automatic renewal on or off, or set how long before its end it is renewed",
     "name= auto-renew= renew-before=", 1, 1},
    {"cert renew", cmd_remote_cert_renew,
     "ID [--reuse-key | --key-type T | --csr FILE] [--days N | --ttl T [--cap-validity]] [--ca-id ID] [--subject DN] "
     "[--san LIST] [--renew-before DUR] [--out FILE [--chain]] [--key-out FILE [--key-password-file F]]",
     "renew a certificate now: the same subject, SANs, profile and lifetime (unless --subject, --san, --days or "
     "--ttl; the same lifetime ends with the CA where it would go past it), a new key of the same kind unless "
     "--reuse-key, --key-type or --csr (the holder's new key), from the same CA unless --ca-id (once that CA is "
     "deleted, the tenant's default CA); agents and keystore entries follow it",
     "reuse-key key-type= csr= subject= san= days= ttl= cap-validity ca-id= renew-before= out= chain key-out= "
     "key-password-file= force",
     1, 1},
    {"cert key", cmd_remote_cert_key, "ID --out FILE [--password-file F]",
     "download a certificate's private key as PEM, encrypted under the password when given (admins; audited)",
     "out= password-file= force", 1, 1},
    {"cert delete", cmd_remote_cert_delete, "ID", "delete a certificate on the server", "", 1, 1},
    {"cert import", cmd_remote_cert_import, "FILE|FOLDER [--password-file F] [--key FILE] [--key-password-file F] [--name N]",
     "import a certificate (PEM, DER, P7B; P12, JKS or PEM with its key; or with --key, its PEM key), or every "
     "file of a folder (a file holding only a key goes with the certificate it belongs to); --key-password-file "
     "is the password of --key, or beside --password-file that of a JKS key with its own (keytool -keypass)",
     "password-file= key= key-password-file= name=", 1, 1},
    {"csr new", cmd_remote_csr_create,
     "--subject DN [--san LIST] [--key-type T] [--digest D] [--name N] [--key-usage LIST] [--ext-key-usage LIST] "
     "[--ca [--path-len N]] [--out FILE]",
     "make a CSR on the server (its key stays there, sealed); --key-usage, --ext-key-usage and --ca ask the CA that "
     "signs it for those extensions",
     "subject= san= key-type= digest= name= key-usage= ext-key-usage= ca path-len= out= force", 0, 0},
    {"csr list", cmd_remote_csr_list, "[--limit N] [--cursor C] [--all] [--tenant NAME]", "list the CSRs on the server",
     "limit= cursor= all tenant=", 0, 0},
    {"csr get", cmd_remote_csr_get, "ID", "show a CSR on the server", "", 1, 1},
    {"csr export", cmd_remote_csr_export, "ID --out FILE [--format pem|der]", "download a CSR", "out= format= force", 1,
     1},
    {"csr attach", cmd_remote_csr_attach, "ID CERT_FILE", "attach the certificate an outside CA signed for a CSR", "",
     2, 2},
    {"csr delete", cmd_remote_csr_delete, "ID",
     "delete a CSR on the server, and its key unless the certificate it was signed for holds it", "", 1, 1},
    {"keystore upload", cmd_remote_keystore_upload, "FILE [--password-file F] [--key-password-file F] [--name N]",
     "upload a keystore (JKS, JCEKS, PKCS#12, PEM, DER, P7B; --key-password-file when its keys have another password)",
     "password-file= key-password-file= name=", 1, 1},
    {"keystore create", cmd_remote_keystore_create,
     "--certificate CERT_ID --format p12|jks [--name N] [--alias A]",
     "make a keystore on the server of a certificate it holds: one entry with its chain and, when the server holds "
     "it, its key (name: the certificate's)",
     "certificate= format= name= alias=", 0, 0},
    {"keystore list", cmd_remote_keystore_list, "[--limit N] [--cursor C] [--all] [--tenant NAME]", "list keystores on the server",
     "limit= cursor= all tenant=", 0, 0},
    {"keystore get", cmd_remote_keystore_get, "ID", "show a keystore and its entries", "", 1, 1},
    {"keystore entries", cmd_remote_keystore_entries, "ID [--limit N] [--cursor C] [--all]", "list the entries of a keystore",
     "limit= cursor= all", 1, 1},
    {"keystore entry", cmd_remote_keystore_entry, "ID ALIAS",
     "show one entry of a keystore: its certificate in full and the chain after it", "", 2, 2},
    {"keystore entry-add", cmd_remote_keystore_entry_add, "ID --certificate CERT_ID [--alias A]",
     "add a certificate of the inventory as an entry, with its chain and its key when the server holds it (alias: "
     "the certificate's name)",
     "certificate= alias=", 1, 1},
    {"keystore entry-rename", cmd_remote_keystore_entry_rename, "ID ALIAS NEW_ALIAS",
     "rename an entry of a keystore (aliases are unique without regard to case)", "", 3, 3},
    {"keystore entry-delete", cmd_remote_keystore_entry_delete, "ID ALIAS",
     "delete an entry of a keystore (its certificate stays in the inventory)", "", 2, 2},
    {"keystore export", cmd_remote_keystore_export,
     "ID --out FILE [--format pem|der|p7b|p12|jks] [--password-file F | --no-password] [--key-password-file F] "
     "[--with-key | --truststore] [--legacy]",
     "download a keystore in any format (its entries under their aliases)",
     "out= format= password-file= no-password key-password-file= with-key truststore legacy force", 1, 1},
    {"keystore rename", cmd_remote_keystore_rename, "ID NEW_NAME",
     "rename a keystore on the server (its exports are offered under its name)", "", 2, 2},
    {"keystore delete", cmd_remote_keystore_delete, "ID", "delete a keystore on the server", "", 1, 1},
    {"trusted add", cmd_remote_trusted_add,
     "FILE [--name N] [--auto-registration] [--disabled] [--list trust|issuer] [--preview]",
     "trust a CA certificate (PEM) for device authentication", "name= auto-registration disabled list= preview", 1, 1},
    {"trusted bulk", cmd_remote_trusted_bulk, "FILE [--auto-registration] [--disabled] [--list trust|issuer]",
     "trust every CA certificate of a PEM file, reporting on each", "auto-registration disabled list=", 1, 1},
    {"trusted list", cmd_remote_trusted_list, "[--list trust|issuer] [--limit N] [--cursor C] [--all] [--tenant NAME]",
     "list trusted certificates", "list= limit= cursor= all tenant=", 0, 0},
    {"trusted get", cmd_remote_trusted_get, "ID", "show a trusted certificate", "", 1, 1},
    {"trusted update", cmd_remote_trusted_update,
     "ID [--name N] [--auto-registration on|off] [--enabled on|off] [--list trust|issuer]",
     "rename, switch auto registration or the certificate on or off, move it to the other list",
     "name= auto-registration= enabled= list=", 1, 1},
    {"trusted delete", cmd_remote_trusted_delete, "ID", "delete a trusted certificate", "", 1, 1},
    {"trusted verification-code", cmd_remote_trusted_code, "ID",
     "ask for the code of a proof of possession: a certificate with the code as its CN, signed by the trusted "
     "certificate's key (docs/mosquitto.md)",
     "", 1, 1},
    {"trusted verify", cmd_remote_trusted_verify, "ID PROOF_FILE",
     "upload the proof of possession (PEM or DER) made for the code; the trusted certificate is verified and the "
     "code used up",
     "", 2, 2},
    {"device list", cmd_remote_device_list, "[--trusted-id ID] [--status active|blocked] [--limit N] [--cursor C] [--all] [--tenant NAME]",
     "list the devices registered through trusted certificates", "trusted-id= status= limit= cursor= all tenant=", 0, 0},
    {"device get", cmd_remote_device_get, "ID (or DEVICE_ID)", "show a device", "", 1, 1},
    {"device add", cmd_remote_device_add, "DEVICE_ID",
     "register a device before it connects (its certificate's CN), for a trusted certificate without auto registration",
     "", 1, 1},
    {"device block", cmd_remote_device_block, "ID (or DEVICE_ID)", "refuse a device whatever its certificate", "", 1, 1},
    {"device unblock", cmd_remote_device_unblock, "ID (or DEVICE_ID)", "let a blocked device in again", "", 1, 1},
    {"device delete", cmd_remote_device_delete, "ID (or DEVICE_ID)", "forget a device", "", 1, 1},
    {"device decisions", cmd_remote_device_decisions,
     "[--device DEVICE_ID] [--result allow|deny] [--limit N] [--cursor C] [--all] [--tenant NAME | --unattributed]",
     "the latest decisions certhubd made about devices (POST /device-auth; the mosquitto plugin's are in the "
     "broker's log), newest first: which were let in or refused, and why",
     "device= result= limit= cursor= all tenant= unattributed", 0, 0},
    {"token create", cmd_remote_token_create,
     "[--role admin|operator|viewer] [--tenant NAME] [--name N] [--expires 30d|12h|90m|TIME] [--objects LIST] "
     "[--issue] [--profiles LIST] [--cas LIST] [--keys-export]",
     "create an API token (printed once)", "role= tenant= name= expires= objects= issue profiles= cas= keys-export", 0,
     0},
    {"token list", cmd_remote_token_list, "[--limit N] [--cursor C] [--all] [--tenant NAME]",
     "list API tokens (never the tokens themselves)", "limit= cursor= all tenant=", 0, 0},
    {"token get", cmd_remote_token_get, "ID", "show an API token (never the token itself)", "", 1, 1},
    {"token revoke", cmd_remote_token_revoke, "ID [--cascade]",
     "revoke an API token (with --cascade, the tokens made from it too)", "cascade", 1, 1},
    {"user list", cmd_remote_user_list, "[--limit N] [--cursor C] [--all]", "list the console users of the tenant (admins)",
     "limit= cursor= all", 0, 0},
    {"user create", cmd_remote_user_create, "(NAME | --name NAME) --password-file F [--role admin|operator|viewer]",
     "create a console user (viewer unless --role)", "name= password-file= role=", 0, 1},
    {"user update", cmd_remote_user_update, "NAME [--role admin|operator|viewer] [--password-file F]",
     "change a user's role or reset its password; its sessions end", "role= password-file=", 1, 1},
    {"user delete", cmd_remote_user_delete, "NAME", "remove a console user; its sessions end", "", 1, 1},
    {"tenant create", cmd_remote_tenant_create, "NAME | --name NAME", "create a tenant", "name=", 0, 1},
    {"tenant list", cmd_remote_tenant_list, "[--limit N] [--cursor C] [--all]", "list tenants", "limit= cursor= all", 0, 0},
    {"tenant get", cmd_remote_tenant_get, "NAME|ID", "show a tenant", "", 1, 1},
    {"tenant revoke", cmd_remote_tenant_revoke, "NAME|ID",
     "revoke a tenant: its tokens and sessions end, nothing of it is let in; its data stays", "", 1, 1},
    {"tenant restore", cmd_remote_tenant_restore, "NAME|ID",
     "let a revoked tenant in again (its old tokens stay revoked: make new ones)", "", 1, 1},
    {"profile list", cmd_remote_profile_list, "[--limit N] [--cursor C] [--all] [--tenant NAME]",
     "list certificate profiles, built-in and custom", "limit= cursor= all tenant=", 0, 0},
    {"profile get", cmd_remote_profile_get, "NAME", "show a profile", "", 1, 1},
    {"profile create", cmd_remote_profile_create,
     "(NAME | --name NAME) --key-usage LIST [--ext-key-usage LIST] [--default-days N | --default-ttl T] "
     "[--max-days N | --max-ttl T] "
     "[--sans on|off] "
     "[--description D] [--allowed-domains LIST|none|any] [--subdomains on|off] [--wildcards on|off] "
     "[--ip-sans on|off] [--uri-sans on|off] [--key-types LIST|any] [--ext-key-usage-oids LIST] [--policies LIST]",
     "create a custom profile (usages such as digital_signature,key_encipherment and server_auth,client_auth)",
     "name= key-usage= ext-key-usage= default-days= default-ttl= max-days= max-ttl= sans= description= "
     "allowed-domains= subdomains= wildcards= ip-sans= uri-sans= key-types= ext-key-usage-oids= policies=", 0, 1},
    {"profile update", cmd_remote_profile_update,
     "NAME [--key-usage LIST] [--ext-key-usage LIST] [--default-days N | --default-ttl T] [--max-days N | --max-ttl T] "
     "[--sans on|off] "
     "[--description D] [--allowed-domains LIST|none|any] [--subdomains on|off] [--wildcards on|off] "
     "[--ip-sans on|off] [--uri-sans on|off] [--key-types LIST|any] [--ext-key-usage-oids LIST|none] "
     "[--policies LIST|none]",
     "change a custom profile: what the options say, the rest kept",
     "key-usage= ext-key-usage= default-days= default-ttl= max-days= max-ttl= sans= description= allowed-domains= "
     "subdomains= wildcards= ip-sans= uri-sans= key-types= ext-key-usage-oids= policies=", 1, 1},
    {"profile delete", cmd_remote_profile_delete, "NAME", "delete a custom profile", "", 1, 1},
    {"audit list", cmd_remote_audit_list,
     "[--action A|PREFIX*] [--actor WHO] [--object ID] [--since TIME] [--until TIME] [--limit N] [--oldest-first] "
     "[--cursor C] [--all] [--tenant NAME]",
     "show the audit log, newest first", "action= actor= object= since= until= limit= oldest-first cursor= all tenant=", 0, 0},
    {"tidy", cmd_remote_tidy, "[--expired-days N] [--dry-run]",
     "remove the tenant's certificates that ended more than N days ago (without it, the tenant's "
     "tidy_expired_days), keeping CA certificates and those keystores, trusted certificates, devices or tokens "
     "refer to (admins; each audited); --dry-run: only say which", "expired-days= dry-run", 0, 0},
    {"settings get", cmd_remote_settings_get, "", "show the tenant's settings", "", 0, 0},
    {"settings set", cmd_remote_settings_set,
     "[--public-bundle on|off] [--unverified-trusted on|off] [--renewal-point F] [--alert-days LIST] "
     "[--default-ca ID|none] [--max-token-days N|none] [--token-alert-days N|none] [--tidy-expired-days N|none] "
     "[--webhook URL --webhook-secret-file F ... | --no-webhooks]",
     "change the tenant's settings (admins): what the options say, the rest kept",
     "public-bundle= unverified-trusted= renewal-point= alert-days= default-ca= max-token-days= token-alert-days= "
     "tidy-expired-days= webhook= "
     "webhook-secret-file= no-webhooks", 0, 0},
    {"agent", cmd_agent, "--config FILE [--once]",
     "keep certificates, keys and trust bundles of this machine equal to certhubd's (docs/agent.md)",
     "config= once", 0, 0},
    {"inspect", cmd_inspect, "FILE|https://HOST[:PORT]|tls://HOST:PORT [--json] [--password-file F] [--key-password-file F]",
     "show every certificate, CSR, key and keystore entry in a file (keys are described, never shown), or the chain a "
     "TLS server serves (unverified)",
     "json password-file= key-password-file=", 1, 1},
    {"verify", cmd_verify,
     "LEAF --ca ROOTS [--untrusted CHAIN] [--hostname NAME] [--purpose server|client] [--at 2030-01-01T00:00:00Z]",
     "verify a certificate against trusted roots, or an intermediate trusted as the end of the path (exit 0 valid, 1 invalid)",
     "ca= untrusted= hostname= purpose= at=", 1, 1},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* The width of the column of command names in the lists: the longest name's, so that each
 * summary starts in one column and two spaces always part a name from it. */
static int name_width(void)
{
    size_t w = 0;

    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strlen(commands[i].name) > w)
            w = strlen(commands[i].name);
    return (int)w;
}

static void help(FILE *f)
{
    fprintf(f, "certhub %s: certificates, keys and CAs\n\nusage: certhub COMMAND [OPTIONS]\n\ncommands:\n",
            CERTHUB_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-*s  %s\n", name_width(), commands[i].name, commands[i].summary);
    fprintf(f, "\n'certhub COMMAND --help' shows a command's options.  Passwords are read from files\n"
               "(--password-file), never from the command line; --out - writes to standard output.  key create,\n"
               "csr create, cert create, convert, inspect and verify work on files alone; agent follows its\n"
               "--config.  "
               "The other commands talk to certhubd and take --server URL (or CERTHUB_URL, default\n"
               "  https://127.0.0.1:8443; HOST:PORT means https://), --token-file F (or CERTHUB_TOKEN),\n"
               "  --ca-file F (or CERTHUB_CA: the CA of certhubd's certificate, DATA-DIR/ca.pem) and\n"
               "  --output table|json, before or after the command.\n");
}

/* What each option means, for `certhub COMMAND --help`.  An entry naming commands (a list
 * of names, each followed by ';') is for those alone and comes before the general one. */
static bool offline(const cli_cmd *c);

static const struct opt_help {
    const char *cmds, *name, *text;
} opt_help[] = {
    {"ca delete;", "force", "delete it even while certificates it issued are unexpired"},
    {"key create;cert key;", "password-file", "encrypt the key under the password in F (its first line)"},
    {"convert;", "password-file",
     "the password of the P12 or JKS written, or of the key of a PEM written (also CERTHUB_PASSWORD)"},
    {"convert;", "no-password",
     "write without a password: a P12 that any password opens as the empty one, or a PEM key in clear where FILE "
     "had it under a password"},
    {"cert export;keystore export;", "with-key",
     "pem: with the private key (admins; audited); a p12 or jks holds it always, when the server has it"},
    {"convert;", "in-password-file", "the password of FILE when it is a P12 or JKS (also CERTHUB_IN_PASSWORD)"},
    {"convert;keystore upload;", "key-password-file", "the password of its keys when not the keystore's own"},
    {"cert export;keystore export;", "password-file",
     "the password of the P12 or JKS downloaded (needed for those, or --no-password for a P12; with pem "
     "--with-key, of the key)"},
    {"cert export;keystore export;", "key-password-file",
     "jks: the password of its key entries apart from the keystore's (keytool -keypass); without it, the "
     "keystore's"},
    {"ca rotate;", "cert",
     "the CA's renewal an outside CA signed (PEM or DER): of the same subject and issuer, its key the CSR's or the "
     "CA's own"},
    {"ca rotate;", "csr-id", "the CSR made here (csr new --ca) it was signed for; without it, found by its key"},
    {"keystore entry-add;", "certificate", "the id of the certificate of the inventory to add (certhub cert list)"},
    {"keystore entry-add;", "alias",
     "the entry's alias (1 to 128 characters, unique in the keystore without regard to case); without it, the "
     "certificate's name"},
    {"keystore create;", "certificate", "the id of the certificate of the inventory it holds (certhub cert list)"},
    {"keystore create;", "format", "p12 (pfx, pkcs12) or jks: what the keystore is (keystore export writes it in any)"},
    {"keystore create;", "alias", "its entry's alias (1 to 128 characters); without it, the certificate's name"},
    {"keystore create;", "name", "the name it is listed by; without it, the certificate's"},
    {"cert export;", "alias",
     "p12 or jks: the alias of the certificate's entry (Tomcat's \"tomcat\"; keytool lists it in lower case); "
     "without it, the certificate's name"},
    {"cert import;", "password-file", "the password of a P12 or JKS file"},
    {"cert import;", "key-password-file", "the password of the --key file"},
    {"cert import;", "key", "the certificate's private key, PEM (encrypted or not)"},
    {"ca create;ca update;", "auto-rotate",
     "certhubd rotates the CA when a third of its life is left: a new key and certificate, the old one kept in "
     "trust bundles for what it issued (ca update: on or off; a CA whose key or issuer is elsewhere cannot be)"},
    {"cert import;cert update;csr new;ca import;ca update;keystore upload;trusted add;trusted update;token create;", "name",
     "the name it is listed by"},
    {"keystore upload;", "password-file", "the keystore's password (P12, JKS, JCEKS)"},
    {"inspect;", "password-file", "the keystore's password (P12, JKS, JCEKS), or an encrypted key's (also CERTHUB_IN_PASSWORD)"},
    {"user create;", "name", "the user's name, which it signs in to the console with (as NAME)"},
    {"profile create;", "name", "the name certificates are issued from it by (--profile NAME; as NAME)"},
    {"user create;user update;", "password-file", "the user's password: the first line of F, 8 characters or more"},
    {"inspect;", "key-password-file", "the password of encrypted keys, when not the keystore's own"},
    {"ca import;", "key", "the CA's private key, PEM: certhubd then issues from it"},
    {"ca import;", "password-file", "the password of CERT_FILE when it is a PKCS#12 or JKS (or of the --key file)"},
    {"ca import;", "key-password-file", "the password of the --key file, as cert import takes it"},
    {"ca import;", "csr-id", "the CSR made here (csr new) that the outside CA signed: the CA takes its key (found "
                             "without it too, when the certificate's public key is a waiting CSR's)"},
    {"csr create;cert create;", "key-password-file", "the password of the --key file"},
    {"cert issue;cert renew;", "key-password-file", "encrypt the key downloaded with --key-out under this password"},
    {"cert issue;cert renew;", "out", "write the certificate (PEM) there, alone unless --chain; - for standard output"},
    {"cert issue;cert renew;", "chain",
     "--out gets the certificate followed by its CA chain up to the root, as cert export writes it: what a TLS "
     "server sends (nginx's ssl_certificate, a fullchain)"},
    {"cert issue;cert renew;", "key-out", "download the private key the server made (admins; audited) to FILE"},
    {"cert create;", "key-out", "write the new private key there"},
    {"cert create;", "key", "the subject's private key, PEM"},
    {"cert create;", "csr", "a CSR file: the certificate takes its key and, unless given, subject and SANs"},
    {"cert create;", "ca", "the issuing CA's certificate (PEM); without it the certificate signs itself"},
    {"cert create;", "profile", "root-ca, intermediate-ca, tls-server, tls-client, tls-server-client, device, code-signing"},
    {"cert issue;", "csr", "a CSR file to sign (its signature is checked); the key stays with you"},
    {"cert issue;", "csr-id", "a CSR made on the server by csr new: the certificate takes its key"},
    {"cert issue;", "profile", "a built-in or custom profile (certhub profile list)"},
    {"profile create;profile update;", "sans", "whether certificates of this profile take SANs"},
    {"profile create;profile update;", "allowed-domains",
     "the DNS names its certificates may carry (example.com; *.example.com for the names one label below); none "
     "for no DNS names; any to drop the name policy"},
    {"profile create;profile update;", "subdomains", "with --allowed-domains: the names below each domain too"},
    {"profile create;profile update;", "wildcards", "with --allowed-domains: wildcard names (*.example.com)"},
    {"profile create;profile update;", "ip-sans",
     "IP addresses in SANs and common names (on unless --allowed-domains is given)"},
    {"profile create;profile update;", "uri-sans", "with --allowed-domains: uri: SANs"},
    {"profile create;profile update;", "key-types",
     "the key types its certificates may have (p256,ed25519; of rsa2048, rsa3072, rsa4096, p256, p384, p521, "
     "ed25519); any to take any key"},
    {"trusted add;trusted bulk;", "auto-registration", "register a device the first time its certificate connects"},
    {"trusted update;", "auto-registration", "on or off: register a device the first time it connects"},
    {"trusted add;trusted bulk;", "disabled", "add it switched off: no device is let in through it yet"},
    {"trusted add;", "preview", "check it and show its details, adding nothing (what the console shows before Add)"},
    {"cert export;keystore export;", "truststore",
     "p12 or jks of the certificates alone, each a trusted entry (a Java or .NET truststore): no private key, no "
     "key permission needed"},
    {"trusted update;", "list",
     "trust: the trust list (authenticates the devices it signed); issuer: the issuer list (CA certificates that "
     "only help build their chains, such as intermediates a broker does not pass on; one moved there loses its "
     "auto registration, which moving it back does not restore: give --auto-registration on with it)"},
    {"trusted add;trusted bulk;trusted list;", "list",
     "trust: the trust list (authenticates the devices it signed); issuer: the issuer list (CA certificates that "
     "only help build their chains, such as intermediates a broker does not pass on)"},
    {"cert list;", "status", "active, renewed (replaced by its renewal), rotated (a CA certificate replaced by a rotation) or expired"},
    {"device list;", "status", "active or blocked"},
    {"device decisions;", "device", "that device's decisions alone (its device id)"},
    {"device decisions;", "result", "allow or deny: those let in, or those refused"},
    {"device decisions;", "unattributed", "those that named no tenant (a CA no tenant trusts, a tenant not there): "
                                          "the installation's admins"},
    {"ca bundle;", "format", "pem (the default), or a jks or p12 (pfx, pkcs12) truststore"},
    {"ca bundle;", "fingerprint", "a first contact, before this machine trusts certhubd: the root's SHA-256 as "
                                  "certhubd prints it at start (or another CA's of the bundle, which is then the one "
                                  "trusted); the bundle is kept only if it holds that CA and certhubd's certificate "
                                  "chains to it"},
    {"ca bundle;", "password-file", "the password of the jks or p12 truststore"},
    {"ca bundle;", "tenant", "whose bundle, by name: without a token, a tenant whose bundle is public (default: "
                             "\"default\"); with one, another tenant's (the installation's admins)"},
    {NULL, "public-bundle", "on or off: whether anyone may download the trust bundle without a token"},
    {NULL, "unverified-trusted", "on or off: whether trusted certificates without a proof of possession let devices in"},
    {NULL, "renewal-point", "automatic renewal at this fraction of a certificate's life (0.5 to 0.9; 2/3 by default), "
                            "and never later than half its life or 30 days before its end, whichever is less"},
    {NULL, "default-ca", "the CA that signs what names none (your own issuer, imported with its key); none: the "
                          "tenant's one issuing CA"},
    {NULL, "alert-days", "expiry alerts this many days before the end, comma-separated (30,14,7,1 by default)"},
    {NULL, "webhook", "where expiry alerts are POSTed (https://...), up to 4 times; replaces the webhooks set"},
    {NULL, "webhook-secret-file", "the key that signs each alert (X-Certhub-Signature), 16 to 128 characters: one per --webhook, in order, or one for all; left out, the webhooks named are those set already, kept with their secrets"},
    {NULL, "no-webhooks", "send no expiry alerts"},
    {NULL, "token-alert-days", "alert the webhooks (token.expiring) this many days before a token ends, 1 to 3650 "
                               "(7 by default; none: no token alerts)"},
    {NULL, "max-token-days", "the longest a token of the tenant may be made to live, 1 to 3650 days: each token "
                             "made is then given --expires within it (none: no bound of the tenant's own)"},
    {NULL, "type", "the key type: p256 p384 p521 rsa2048 rsa3072 rsa4096 ed25519"},
    {"cert issue;", "key-type", "p256 p384 p521 rsa2048 rsa3072 rsa4096 ed25519 (p256 when no CSR is given)"},
    {"ca create;csr new;", "key-type", "p256 p384 p521 rsa2048 rsa3072 rsa4096 ed25519 (p256 by default)"},
    {NULL, "key-type", "p256 p384 p521 rsa2048 rsa3072 rsa4096 ed25519"},
    {NULL, "subject", "the distinguished name, as CN=web.example,O=Example,C=DE"},
    {NULL, "san", "subject alternative names, comma-separated: dns:NAME, ip:ADDR, email:ADDR, uri:URI, upn:USER@DOMAIN "
                  "(a user principal name, as a smart card logon's certificate names its account)"},
    {NULL, "digest", "sha256 (the default), sha384 or sha512"},
    {"cert issue;", "not-after", "the certificate's end, in RFC 3339 (2027-06-30T00:00:00Z), instead of --days or --ttl"},
    {"cert renew;", "days", "how long the new certificate is valid, in days (the old one's lifetime without it or --ttl)"},
    {"cert renew;", "ttl", "the new certificate's lifetime as Vault writes it, instead of --days: 30m, 24h, 90d, 1d12h"},
    {"ca create;", "days", "how long the CA is valid, in days: without it or --ttl, 3650 for a root and 1825 for "
                           "an intermediate (refused when it would end after its parent: give fewer, or "
                           "--cap-validity)"},
    {"ca create;", "csr", "the CSR of an intermediate whose key is elsewhere (a partner's, an HSM's): signed by --parent, "
                          "its subject taken unless --subject; the CA is held without its key"},
    {"ca create;", "cap-validity", "an intermediate whose lifetime would pass its parent's end ends with its parent "
                                   "instead of being refused"},
    {NULL, "days", "how long it is valid, in days (the profile's default without it)"},
    {NULL, "ttl", "how long it is valid as Vault writes it, instead of --days: 30m, 24h, 90d, 1d12h (5m at least)"},
    {"csr new;", "ca", "ask for a CA's certificate: Basic Constraints CA:TRUE (an intermediate an outside CA is to sign); "
                      "its --key-usage then holds key_cert_sign"},
    {"csr new;", "path-len", "with --ca: how many CAs may follow below it, asked of the CA that signs it"},
    {"csr new;", "key-usage", "comma-separated, asked of the CA that signs it: digital_signature, key_encipherment, "
                             "key_agreement, non_repudiation, data_encipherment, encipher_only and decipher_only (with "
                             "key_agreement), key_cert_sign (with --ca) and crl_sign"},
    {"csr new;", "ext-key-usage", "comma-separated, asked of the CA that signs it: server_auth, client_auth, "
                                 "code_signing, email_protection, time_stamping, ocsp_signing"},
    {NULL, "path-len", "how many CAs may follow below this one"},
    {NULL, "key-usage", "comma-separated: digital_signature, key_encipherment, key_agreement, non_repudiation, "
                        "data_encipherment, encipher_only, decipher_only, and for a CA's certificate key_cert_sign "
                        "and crl_sign (cert issue and cert create: none leaves the Key Usage extension out of a "
                        "leaf certificate)"},
    {NULL, "ext-key-usage", "comma-separated: server_auth, client_auth, code_signing, email_protection, "
                            "time_stamping, ocsp_signing (cert issue and cert create: none leaves the Extended Key "
                            "Usage extension out)"},
    {NULL, "basic-constraints", "off leaves Basic Constraints out of a leaf certificate (a CA's must have it, RFC "
                                "5280 4.2.1.9)"},
    {NULL, "authority-key-id", "off leaves the Authority Key Identifier out (RFC 5280 4.2.1.1 asks for it in all "
                               "but self-signed certificates: verifiers then find the issuer by its name alone)"},
    {NULL, "critical", "the extensions marked critical, comma-separated: basic_constraints, key_usage, "
                       "ext_key_usage (none: no extension critical; without it Basic Constraints and Key Usage are)"},
    {NULL, "crl-url", "the CRL distribution point to write into the certificate"},
    {NULL, "ocsp-url", "the OCSP responder to write into the certificate"},
    {NULL, "crl-urls", "the CRL distribution points the CA writes into what it issues from then on, comma-separated "
                       "(at most 3; none: no more)"},
    {NULL, "ocsp-urls", "the OCSP responders the CA writes into what it issues, comma-separated (at most 3; none)"},
    {NULL, "ca-issuers-urls", "where the CA's certificate is published (DER over http://, for clients that fetch a "
                              "missing issuer), written into what it issues: the AIA's caIssuers (at most 3; none)"},
    {NULL, "ext-key-usage-oids", "extended key usages beyond the named ones, as dotted OIDs, comma-separated (such as "
                                 "1.3.6.1.4.1.311.20.2.2, smart card logon; at most 16); cert issue: in place of the "
                                 "profile's; none for none"},
    {NULL, "policies", "the certificate policies, as dotted OIDs, comma-separated (such as 2.23.140.1.2.1; at most "
                       "16); cert issue: in place of the profile's; none for none"},
    {NULL, "ca-issuers-url", "where the issuer's certificate is published (the AIA's caIssuers), to write into the "
                             "certificate"},
    {NULL, "ca-key", "the issuing CA's private key (PEM)"},
    {NULL, "ca-key-password-file", "the password of the --ca-key file"},
    {NULL, "key-out-password-file", "encrypt the key written to --key-out under this password"},
    {NULL, "out", "the file to write; - for standard output"},
    {NULL, "force", "replace the output file if it exists"},
    {NULL, "to", "the format to write: " CH_FORMAT_NAMES_WRITTEN},
    {NULL, "format", "pem (the default), der (cer, crt), p7b (p7c, pkcs7), p12 (pfx, pkcs12) or jks"},
    {NULL, "legacy", "PKCS#12 with 3DES and SHA-1, for old Java and Windows"},
    {NULL, "no-key", "leave the private keys out"},
    {NULL, "no-password", "a PKCS#12 without a password (the empty one, which Windows, Kubernetes secrets and "
                          "openssl -passin pass: open): the key in it is not protected"},
    {NULL, "with-key", "with the private key (admins; audited)"},
    {NULL, "ca-id", "the CA, by id (certhub ca list)"},
    {NULL, "parent", "the CA that signs the new one (an intermediate), by id"},
    {NULL, "auto-renew", "certhubd renews it at 2/3 of its life (the tenant's renewal point), and at least half its "
                         "life or 30 days before its end (cert update: on or off)"},
    {NULL, "renew-before", "renewed this long before its end instead of at the tenant's renewal point: a whole "
                           "number and a unit, as 720h, 30d or 1d12h, leaving a tenth of its lifetime before it is "
                           "due (carried over to its renewals; cert update: none for the renewal point again)"},
    {NULL, "expired-days", "certificates that ended more than this many days ago (1 to 3650)"},
    {NULL, "dry-run", "change nothing: say what would be done"},
    {NULL, "tidy-expired-days", "certhubd removes the certificates that ended more than this many days ago, hourly "
                                "(as certhub tidy; none: never)"},
    {NULL, "cap-validity", "end with the CA when the lifetime asked goes past it, instead of being refused"},
    {NULL, "csr-usages", "with --csr or --csr-id: the Key Usage and Extended Key Usage the CSR asks for in place of the "
                         "profile's (--key-usage and --ext-key-usage still decide when given)"},
    {NULL, "reuse-key", "keep the key (a new one is made without it)"},
    {NULL, "search", "text in the name, subject or SANs"},
    {NULL, "expiring-before", "a time (2027-01-01 or 2027-01-01T00:00:00Z), or days or hours from now (30d, 12h)"},
    {NULL, "kind", "leaf or ca"},
    {NULL, "method", "how it came: generated, csr_signed, issued or imported"},
    {NULL, "trusted-id", "the trusted certificate the devices came in through"},
    {NULL, "limit", "how many per page (1 to 1000)"},
    {NULL, "cursor", "the next_cursor of the previous page (--output json shows it)"},
    {NULL, "all", "every page from the first (or --cursor's) on, not one: a table with one heading, or with --output json one object"},
    {NULL, "role", "admin, operator (certificates, CAs, keystores, profiles, trust; no key export, tokens, users or "
                   "settings) or viewer (read only)"},
    {NULL, "objects", "limit the token to these, comma-separated: certificate ids (renewals followed) and bundle:NAME"},
    {NULL, "keys-export", "the limited token may export those certificates' keys (an admin's token gives it)"},
    {NULL, "issue", "limit the token to issuing certificates (role operator or admin) and to reading, renewing and "
                    "exporting those it issued"},
    {NULL, "profiles", "limit the token to issuing (as --issue) under these profiles, comma-separated (any without it)"},
    {NULL, "cas", "limit the token to issuing (as --issue) with the CAs of these ids, comma-separated (any without it)"},
    {NULL, "expires", "refused from then on: a lifetime from now (30d, 12h, 90m; 1h to 3650d) or a time (2027-01-01, "
                      "2027-01-01T00:00:00Z); without it, the token lives until revoked"},
    {"token create;token list;", "tenant", "the tenant, by name (the caller's own without it)"},
    {"token revoke;", "cascade",
     "revoke with it every active token of its tenant made from it (by it, or by a token made from it), as "
     "after a leak; taken for a token revoked before too"},
    {NULL, "tenant", "another tenant's, by name (the installation's admins, the default tenant's)"},
    {NULL, "default-days", "the validity when none is asked (365, or the maximum if less)"},
    {NULL, "default-ttl", "the same as a ttl, for short-lived certificates: 24h, 30m (instead of --default-days)"},
    {NULL, "max-days", "the longest validity it allows (0: no maximum but the CA's own end)"},
    {NULL, "max-ttl", "the same as a ttl: 7d, 36h (instead of --max-days)"},
    {NULL, "description", "a line saying what it is for"},
    {NULL, "enabled", "on or off: whether devices are let in through it"},
    {NULL, "action", "an action (certificate.issue) or all that begin so (certificate.*); docs/operations.md lists them"},
    {NULL, "actor", "who did it: a token's or a user's id"},
    {NULL, "object", "the id of what it was done to"},
    {NULL, "since", "from this time on (2026-12-01, 2026-12-01T08:00:00Z), or days or hours ago (7d, 12h)"},
    {NULL, "until", "up to this time, written as for --since"},
    {NULL, "oldest-first", "the oldest entries first"},
    {NULL, "config", "the agent's configuration file (docs/agent.md)"},
    {NULL, "once", "do one round and exit instead of following certhubd"},
    {NULL, "json", "print JSON"},
    {NULL, "password-file", "read the password from F (its first line), never from the command line"},
    {NULL, "key-password-file", "the password of the keys"},
    {NULL, "ca", "the trusted roots, PEM"},
    {NULL, "untrusted", "intermediate certificates to build the chain with, PEM"},
    {NULL, "hostname", "check the certificate is for this host name, or IP address (matched against its IP SANs)"},
    {NULL, "purpose", "server or client"},
    {NULL, "at", "verify as at this time instead of now"},
    {NULL, "key", "the private key file, PEM"},
    {NULL, "csr", "a CSR file, PEM or DER"},
    {NULL, "csr-id", "a CSR made on the server, by id"},
    {NULL, "profile", "the certificate profile"},
    {NULL, "name", "the name it is listed by"},
    {NULL, "key-out", "where to write the private key"},
};

static bool names_command(const char *cmds, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = cmds; (p = strstr(p, name)) != NULL; p += n)
        if ((p == cmds || p[-1] == ';') && p[n] == ';')
            return true;
    return false;
}

static const char *option_text(const cli_cmd *c, const char *name)
{
    const size_t count = sizeof opt_help / sizeof opt_help[0];

    for (size_t i = 0; i < count; i++)
        if (opt_help[i].cmds != NULL && strcmp(opt_help[i].name, name) == 0 && names_command(opt_help[i].cmds, c->name))
            return opt_help[i].text;
    for (size_t i = 0; i < count; i++)
        if (opt_help[i].cmds == NULL && strcmp(opt_help[i].name, name) == 0)
            return opt_help[i].text;
    return NULL;
}

/* The usage line, the summary, then each option the command takes with what it means. */
static void command_help(const cli_cmd *c)
{
    const char *p = c->opts;

    printf("usage: certhub %s %s\n\n%s\n", c->name, c->usage, c->summary);
    if (*p != '\0')
        printf("\noptions:\n");
    while (*p != '\0') {
        char name[40];
        size_t n = strcspn(p, " ");
        bool value = n > 0 && p[n - 1] == '=';
        const char *text;

        snprintf(name, sizeof name, "%.*s", (int)(value ? n - 1 : n), p);
        text = option_text(c, name);
        printf("  --%-22s %s\n", name, text ? text : "");
        p += n;
        p += strspn(p, " ");
    }
    if (!offline(c))
        printf("\nand --server URL, --token-file F, --ca-file F, --output table|json (see certhub --help)\n");
}

/* Whether name is among the command's accepted options; sets *takes_value. */
static bool accepts(const cli_cmd *c, const char *name, size_t len, bool *takes_value)
{
    const char *p = c->opts;

    while (*p) {
        const char *end = p;
        while (*end && *end != ' ')
            end++;
        size_t n = (size_t)(end - p);
        bool v = n > 0 && p[n - 1] == '=';
        if ((v ? n - 1 : n) == len && strncmp(p, name, len) == 0) {
            *takes_value = v;
            return true;
        }
        p = *end ? end + 1 : end;
    }
    return false;
}

/* The commands that work on files alone; every other one talks to certhubd. */
static bool offline(const cli_cmd *c)
{
    static const char *const names[] = {"key create", "csr create", "cert create", "convert", "agent", "inspect",
                                        "verify"};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(c->name, names[i]) == 0)
            return true;
    return false;
}

/* --server, --token-file, --ca-file and --output, which go before the command, are also
 * taken after it (as "certhub cert list --output json" is often written).  Returns whether
 * argv[0] was one (it and its value then used). */
static bool connection_option(int argc, char **argv)
{
    if (argc < 2)
        return false;
    if (strcmp(argv[0], "--server") == 0)
        g_remote.url = argv[1];
    else if (strcmp(argv[0], "--token-file") == 0)
        g_remote.token_file = argv[1];
    else if (strcmp(argv[0], "--ca-file") == 0)
        g_remote.ca_file = argv[1];
    else if (strcmp(argv[0], "--output") == 0 && (strcmp(argv[1], "json") == 0 || strcmp(argv[1], "table") == 0))
        g_remote.json = strcmp(argv[1], "json") == 0;
    else if (strcmp(argv[0], "--output") == 0) {
        fprintf(stderr, "certhub: --output takes table or json, not \"%.32s\"\n", argv[1]);
        exit(1); /* a bad value, not a usage error (see cli_bad_value) */
    } else
        return false;
    return true;
}

static void parse(cli_args *a, int argc, char **argv)
{
    bool options = true; /* until "--": what follows it is arguments, a name such as "-dash" too */

    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (options && strcmp(arg, "--") == 0) {
            options = false;
            continue;
        }
        if (!options) {
            if (a->npos >= CLI_MAX_POS || a->npos >= a->cmd->max_pos)
                cli_usage(a, "unexpected argument \"%.64s\"", arg);
            a->pos[a->npos++] = arg;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            command_help(a->cmd);
            exit(0);
        }
        if (!offline(a->cmd) && connection_option(argc - i, argv + i)) {
            i++;
            continue;
        }
        if (strncmp(arg, "--", 2) == 0 && arg[2] != '\0') {
            const char *name = arg + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            bool takes;
            if (!accepts(a->cmd, name, len, &takes))
                cli_usage(a, "unknown option --%.*s", (int)len, name);
            if (a->nopts >= CLI_MAX_OPTS)
                cli_usage(a, "too many options");
            /* Given twice, one value was dropped without a word (--key-usage a --key-usage b
             * asked for b alone); only the webhooks are given once each. */
            for (int k = 0; k < a->nopts; k++)
                if (strlen(a->names[k]) == len && strncmp(a->names[k], name, len) == 0 &&
                    strncmp(name, "webhook", 7) != 0)
                    cli_usage(a, "--%.*s is given twice: give it once (a list comma-separated)", (int)len, name);
            a->names[a->nopts] = strndup(name, len);
            if (takes) {
                if (eq)
                    a->values[a->nopts] = eq + 1;
                else if (i + 1 < argc)
                    a->values[a->nopts] = argv[++i];
                else
                    cli_usage(a, "--%.*s needs a value", (int)len, name);
            } else {
                if (eq)
                    cli_usage(a, "--%.*s takes no value", (int)len, name);
                a->values[a->nopts] = "";
            }
            a->nopts++;
            continue;
        }
        if (a->npos >= CLI_MAX_POS || a->npos >= a->cmd->max_pos)
            cli_usage(a, "unexpected argument \"%.64s\"", arg);
        a->pos[a->npos++] = arg;
    }
    if (a->npos < a->cmd->min_pos)
        cli_usage(a, "missing argument");
}

static bool is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "help") == 0;
}

/* When argv[1] names a group of commands ("cert" of "cert list", "cert get"...): lists them, on
 * standard output when asked with --help (returns 0), else on standard error after saying what
 * is missing or unknown (returns 2).  -1 when argv[1] names no group. */
static int group_help(int argc, char **argv)
{
    size_t n = strlen(argv[1]);
    bool asked = argc > 2 && is_help(argv[2]), found = false;
    FILE *f = asked ? stdout : stderr;

    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strncmp(commands[i].name, argv[1], n) != 0 || commands[i].name[n] != ' ')
            continue;
        if (!found) {
            if (argc < 3)
                fprintf(f, "certhub: \"%s\" needs a command after it\n\n", argv[1]);
            else if (!asked)
                fprintf(f, "certhub: unknown command \"%s %s\"\n\n", argv[1], argv[2]);
            fprintf(f, "usage: certhub %s COMMAND [OPTIONS]\n\ncommands:\n", argv[1]);
            found = true;
        }
        fprintf(f, "  %-*s  %s\n", name_width(), commands[i].name, commands[i].summary);
    }
    if (!found)
        return -1;
    fprintf(f, "\n'certhub %s COMMAND --help' shows a command's options.\n", argv[1]);
    return asked ? 0 : 2;
}

int main(int argc, char **argv)
{
    cli_args a;
    int rc;

    /* jansson's trees and texts hold what the CLI sends (passwords, a key uploaded) and what
     * certhubd answers (a key, a token made): wiped as they are freed.  The CLI is no hot
     * path, and the agent it runs holds on to its heap between passes. */
    json_set_alloc_funcs(malloc, ch_secure_free_block);
    /* Options for talking to certhubd come before the command (or after it, see parse). */
    while (argc > 2 && connection_option(argc - 1, argv + 1)) {
        argv += 2;
        argc -= 2;
    }
    if (argc < 2) {
        help(stderr);
        return 2;
    }
    if (is_help(argv[1])) {
        if (argc > 2) {
            bool found = false;
            for (size_t i = 0; i < NCOMMANDS; i++) {
                size_t n = strlen(argv[2]);
                if (strncmp(commands[i].name, argv[2], n) == 0 &&
                    (commands[i].name[n] == '\0' || commands[i].name[n] == ' ')) {
                    command_help(&commands[i]);
                    if (commands[i].name[n] == '\0')
                        return 0;
                    found = true;
                }
            }
            /* Nothing printed and 0 would read as a command without options. */
            if (!found) {
                fprintf(stderr, "certhub: unknown command \"%.64s\"\n", argv[2]);
                help(stderr);
                return 2;
            }
            return 0;
        }
        help(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("certhub %s\n", CERTHUB_VERSION);
        return 0;
    }
    if (ch_init() < 0) {
        fprintf(stderr, "certhub: %s\n", ch_error_last());
        return 1;
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const cli_cmd *c = &commands[i];
        const char *space = strchr(c->name, ' ');
        int used;
        if (space == NULL) {
            if (strcmp(argv[1], c->name) != 0)
                continue;
            used = 2;
        } else {
            size_t n = (size_t)(space - c->name);
            if (strlen(argv[1]) != n || strncmp(argv[1], c->name, n) != 0 || argc < 3 ||
                strcmp(argv[2], space + 1) != 0)
                continue;
            used = 3;
        }
        memset(&a, 0, sizeof a);
        a.cmd = c;
        parse(&a, argc - used, argv + used);
        rc = c->run(&a);
        for (int k = 0; k < a.nopts; k++)
            free((char *)a.names[k]);
        return rc;
    }
    /* A group's word alone, or with --help (`certhub cert`, `certhub ca --help`): its commands. */
    if ((rc = group_help(argc, argv)) >= 0)
        return rc;
    /* An option before the command that is none of the connection's (`--token T` as other
     * tools take it): said as such, not as a command of that name with the whole help. */
    if (strcmp(argv[1], "--server") == 0 || strcmp(argv[1], "--token-file") == 0 ||
        strcmp(argv[1], "--ca-file") == 0 || strcmp(argv[1], "--output") == 0) {
        fprintf(stderr, "certhub: %s takes a value, and a command comes after it\nusage: certhub [OPTIONS] COMMAND "
                        "[ARGS]; certhub --help lists the commands\n", argv[1]);
        return 2;
    }
    if (argv[1][0] == '-') {
        fprintf(stderr,
                "certhub: unknown option \"%.64s\" before the command: there it takes --server URL, --token-file "
                "FILE (or CERTHUB_TOKEN for the token itself), --ca-file FILE and --output table|json, each with "
                "its value\nusage: certhub [OPTIONS] COMMAND [ARGS]; certhub --help lists the commands\n",
                argv[1]);
        return 2;
    }
    /* The word after is named with it only when it could be a command's second word: an option
     * (`certhub bundle --help`) is not part of the name that was not found. */
    if (argc > 2 && argv[2][0] != '-')
        fprintf(stderr, "certhub: unknown command \"%s %s\"\n", argv[1], argv[2]);
    else
        fprintf(stderr, "certhub: unknown command \"%s\"\n", argv[1]);
    help(stderr);
    return 2;
}
