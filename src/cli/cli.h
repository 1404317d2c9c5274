/*
 * certhub command-line tool: shared pieces of the command files.  Commands are rows of one
 * table (main.c); each parses its options with cli_parse and reports bad input with
 * cli_fail (exit 1), an option's bad value with cli_bad_value (exit 1) and bad usage with
 * cli_usage (exit 2).
 */
#ifndef CERTHUB_CLI_H
#define CERTHUB_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "certhub/common.h"

#define CLI_MAX_OPTS 32
#define CLI_MAX_POS 8

typedef struct cli_cmd cli_cmd;

/* Parsed command line of one command. */
typedef struct cli_args {
    const cli_cmd *cmd;
    const char *pos[CLI_MAX_POS];
    int npos;
    const char *names[CLI_MAX_OPTS];
    const char *values[CLI_MAX_OPTS];
    int nopts;
} cli_args;

struct cli_cmd {
    const char *name;      /* "key create" */
    int (*run)(cli_args *a);
    const char *usage;     /* options line */
    const char *summary;
    const char *opts;      /* accepted options: "type= out= force" ('=' takes a value) */
    int min_pos, max_pos;
};

/* Option value or NULL; a flag's value is "". */
const char *cli_opt(const cli_args *a, const char *name);
bool cli_flag(const cli_args *a, const char *name);
/* The n-th (from 0) of an option given more than once, in the order given, or NULL. */
const char *cli_opt_nth(const cli_args *a, const char *name, int n);
/* Value of a required option; prints usage and exits 2 when missing. */
const char *cli_need(const cli_args *a, const char *name);
/* Options one and other given together: a usage error (exits 2). */
void cli_not_both(const cli_args *a, const char *one, const char *other);
/* Integer option (def when absent); exits 1 on a value that is not a whole number in range. */
long cli_int(const cli_args *a, const char *name, long def, long min, long max);
/* An on/off option (also true/false, yes/no) into *out as 1 or 0, left as it is when absent;
 * another value is reported (returns 1, via cli_fail). */
int cli_on_off(const cli_args *a, const char *name, int *out);

/* "certhub: <cmd>: <message>" on stderr; returns 1 (the exit status for bad input). */
int cli_fail(const cli_args *a, const char *fmt, ...) CH_PRINTF(2, 3);
/* Text from outside (a server's answer, a file's name) as a terminal is to show it: each
 * character ch_utf8_control names (C0 and C1 controls, DEL, the bidirectional overrides and
 * isolates, which reorder what follows them on the screen) as '?'.  cli_shown gives a copy to
 * free, or NULL when s holds none (show s itself). */
void cli_put_shown(FILE *f, const char *s);
char *cli_shown(const char *s);
/* The library's last error as above. */
int cli_fail_last(const cli_args *a);
/* Usage message for the command on stderr; exits 2. */
_Noreturn void cli_usage(const cli_args *a, const char *fmt, ...) CH_PRINTF(2, 3);
/* An option's value the command cannot take, said as cli_fail says bad input; exits 1.  (A
 * usage error is an option unknown, missing or out of place: the option here was right.) */
_Noreturn void cli_bad_value(const cli_args *a, const char *fmt, ...) CH_PRINTF(2, 3);

/* Reads a file under the upload cap; on error prints and returns 1 (via cli_fail). */
int cli_read(const cli_args *a, const char *path, uint8_t **data, size_t *len);
/* Reads a password: the first line of the file named by option `opt`, else the environment
 * variable env (may be NULL).  *out is NULL when neither is given; free with
 * ch_secure_free_str. */
int cli_password(const cli_args *a, const char *opt, const char *env, char **out);
/* The same from a file's path. */
int cli_password_file(const cli_args *a, const char *path, char **out);
/* Whether an output path is "-", standard output. */
bool cli_is_stdout(const char *path);
/* 0 when path may be written: NULL, "-", not there in a directory that is and may be written
 * to, a file there and --force, or there and neither a file nor a directory (/dev/null, a FIFO:
 * written to as it is); else says so (exit 1).  Commands ask it of their outputs before any
 * work, so that a refusal changes nothing. */
int cli_may_write(const cli_args *a, const char *path);
/* Whether two paths name one file: the same file where both exist, else the same name in
 * the same folder (links followed, "..", "." and "//" read as the kernel reads them); "-" is
 * standard output. */
bool cli_same_file(const char *p1, const char *p2);
/* Two output options that name one file (the same path, or two paths of one file, standard
 * output for both): a usage error (exit 2) naming both, before any work; the key written there
 * was then overwritten by the certificate, or a certificate was made and not saved. */
void cli_outputs_apart(const cli_args *a, const char *opt1, const char *opt2);
/* cli_password for a password that encrypts what is written: an empty one (an empty file, an
 * unset variable echoed into it) is refused, saying so, rather than the key written in clear. */
int cli_password_new(const cli_args *a, const char *opt, const char *env, char **out);
/* Writes a file atomically with mode; refuses to replace an existing one without --force.
 * "-" writes to standard output, text only when that is a terminal; a device or a FIFO is
 * written to, never replaced. */
int cli_write(const cli_args *a, const char *path, const void *data, size_t len, unsigned mode);

/* Splits "a,b,c" into at most max parts (in a malloc'd copy kept in *store). */
size_t cli_split(char **store, const char *text, const char **parts, size_t max);
/* The value of a list option that takes "none" to mean no item: an empty value (an unset
 * shell variable) is a usage error rather than a quiet none, and so is none among other items
 * (as "none,key_usage") rather than an unknown name "none". */
void cli_none_alone(const cli_args *a, const char *opt, const char *value);

/* Reads a private key file, with the password from the file named by option pw_opt. */
struct ch_key;
int cli_load_key(cli_args *a, const char *path, const char *pw_opt, struct ch_key **out);
/* Parses a comma-separated SAN list into sans (values point into *store; free it). */
struct ch_san;
int cli_parse_sans(cli_args *a, const char *text, struct ch_san *sans, size_t max, size_t *count, char **store);

/* Talking to certhubd (remote.c). */
#include <jansson.h>
typedef struct cli_remote {
    const char *url;        /* --server or CERTHUB_URL */
    const char *token_file; /* --token-file */
    char *token;            /* or CERTHUB_TOKEN */
    const char *ca_file;    /* --ca-file or CERTHUB_CA: the root that signed the server */
    bool json;              /* --output json */
    const char *verify_hint; /* said when the server's certificate fails the check, instead of --ca-file's */
    const char *ca_file_conf; /* the agent's config file: a CA file refused is its ca_file setting's */
} cli_remote;
extern cli_remote g_remote;
/* The chain a TLS server at https://HOST[:PORT] or tls://HOST:PORT serves, as PEM (*out
 * malloc'd), unverified: what certhub inspect shows of it. */
int remote_peer_chain(cli_args *a, const char *where, uint8_t **out, size_t *len);
int remote_setup(cli_args *a);
/* The same where a token may be missing (then g_remote.token stays NULL). */
int remote_setup_ex(cli_args *a, bool token_optional);
/* When an API error (its "error" member) names a password the command has an option for and
 * was not given, "; pass --OPTION F"; a time filter, the relative times the CLI takes too; else
 * "": the server speaks of its fields and headers. */
const char *remote_option_hint(const cli_args *a, json_t *err);
/* How much of the API's message to show beside that hint (its note on raw bodies' headers
 * left out). */
int remote_message_len(const char *msg, const char *hint);
/* A query-string value, %-escaped; free() the result. */
char *remote_escape(const char *s);
/* "collection/ID/tail" into buf, with the id %-escaped: an id is the user's text or a server's,
 * and "../tokens/x" must name no other object ("collection/-" for one too long for buf). */
const char *remote_obj_path(char *buf, size_t cap, const char *collection, const char *id, const char *tail);
/* Whether an answer is the empty PEM file certhubd sends for a bundle of no CA (a tenant
 * without one): 200, application/x-pem-file, nothing in it; not an answer of nothing (a
 * proxy's), which would empty the file it is written to. */
bool remote_empty_pem(const ch_buf *raw, long status, const char *content_type);
/* Calls method path (under /api/v1/) with an optional JSON body; *out gets the JSON answer, or
 * raw the bytes.  Errors are printed (the server's message) and return 1. */
int remote_call(cli_args *a, const char *method, const char *path, json_t *body, json_t **out, ch_buf *raw);
/* GETs one page of a list: path's first page, or with cursor the page after it (a cursor
 * parameter path holds, the command's --cursor, gives way to it).  As remote_call. */
int remote_get_page(cli_args *a, const char *path, const char *cursor, json_t **out);
/* An answer of a shape certhubd never gives (a server of another version, a proxy, another
 * program) said in one voice: "the server's answer is not what certhub expects: ..."; returns
 * 1 (the exit status). */
int remote_unexpected(const cli_args *a, const char *fmt, ...) CH_PRINTF(2, 3);
/* Following a list's pages: next is the cursor of the page after the one read (NULL: that was
 * the last).  remote_pages_next reads it from a page's next_cursor; a next_cursor that is
 * neither text nor null, or that names a page read already (a server that would keep --all,
 * or the agent's pass, going round for ever), is said (remote_unexpected) and returns 1.
 * Start from REMOTE_PAGES_INIT; remote_pages_dispose frees what it holds. */
typedef struct remote_pages {
    char *next;
    char *mark;          /* a cursor met before, that a later one is compared with */
    size_t power, steps; /* when mark moves on (Brent's cycle check: no list of them all) */
} remote_pages;
#define REMOTE_PAGES_INIT {NULL, NULL, 1, 0}
int remote_pages_next(const cli_args *a, remote_pages *p, json_t *page);
void remote_pages_dispose(remote_pages *p);
/* The general form: a JSON body or a file as the raw body (its password sent in the
 * Certhub-Password header); with quiet, a 4xx/5xx answer is not printed but returned in *out
 * (and the call returns 1) so that a loop can count it and go on. */
typedef struct remote_req {
    const char *method, *path;
    json_t *json;
    const uint8_t *data;
    size_t len;
    const char *password;     /* of the file: the Certhub-Password header */
    const char *key_password; /* of its keys, when another: Certhub-Key-Password */
    bool quiet;
    bool token_optional; /* without a token, asked anonymously (the public trust bundle) */
    bool insecure;       /* the server's certificate not checked: only to fetch what is checked after */
    long *status;  /* the HTTP status, when not NULL */
    char *content_type; /* when not NULL, the answer's Content-Type (64 bytes, "" when none) */
} remote_req;
int remote_request(cli_args *a, const remote_req *q, json_t **out, ch_buf *raw);

/* Commands. */
int cmd_key_create(cli_args *a);
int cmd_csr_create(cli_args *a);
int cmd_cert_create(cli_args *a);
int cmd_inspect(cli_args *a);
int cmd_verify(cli_args *a);
int cmd_convert(cli_args *a);
int cmd_remote_ca_list(cli_args *a);
int cmd_remote_ca_create(cli_args *a);
int cmd_remote_cert_list(cli_args *a);
int cmd_remote_cert_get(cli_args *a);
int cmd_remote_cert_issue(cli_args *a);
int cmd_remote_cert_export(cli_args *a);
int cmd_remote_cert_delete(cli_args *a);
int cmd_remote_cert_import(cli_args *a);
int cmd_remote_token_create(cli_args *a);
int cmd_remote_token_list(cli_args *a);
int cmd_agent(cli_args *a);
int cmd_remote_ca_rotate(cli_args *a);
int cmd_remote_ca_update(cli_args *a);
int cmd_remote_ca_get(cli_args *a);
int cmd_remote_tenant_revoke(cli_args *a);
int cmd_remote_tenant_restore(cli_args *a);
int cmd_remote_tenant_get(cli_args *a);
int cmd_remote_token_get(cli_args *a);
int cmd_remote_ca_delete(cli_args *a);
int cmd_remote_ca_chain(cli_args *a);
int cmd_remote_ca_import(cli_args *a);
int cmd_remote_device_list(cli_args *a);
int cmd_remote_device_decisions(cli_args *a);
int cmd_remote_csr_delete(cli_args *a);
int cmd_remote_device_add(cli_args *a);
int cmd_remote_device_block(cli_args *a);
int cmd_remote_device_unblock(cli_args *a);
int cmd_remote_device_delete(cli_args *a);
int cmd_remote_trusted_add(cli_args *a);
int cmd_remote_trusted_bulk(cli_args *a);
int cmd_remote_trusted_list(cli_args *a);
int cmd_remote_trusted_get(cli_args *a);
int cmd_remote_trusted_update(cli_args *a);
int cmd_remote_trusted_delete(cli_args *a);
int cmd_remote_trusted_code(cli_args *a);
int cmd_remote_trusted_verify(cli_args *a);
int cmd_remote_token_revoke(cli_args *a);
int cmd_remote_tenant_list(cli_args *a);
int cmd_remote_keystore_upload(cli_args *a);
int cmd_remote_keystore_create(cli_args *a);
int cmd_remote_keystore_list(cli_args *a);
int cmd_remote_keystore_entries(cli_args *a);
int cmd_remote_keystore_entry(cli_args *a);
int cmd_remote_keystore_entry_add(cli_args *a);
int cmd_remote_keystore_entry_rename(cli_args *a);
int cmd_remote_keystore_rename(cli_args *a);
int cmd_remote_keystore_entry_delete(cli_args *a);
int cmd_remote_keystore_get(cli_args *a);
int cmd_remote_keystore_export(cli_args *a);
int cmd_remote_keystore_delete(cli_args *a);
int cmd_remote_csr_create(cli_args *a);
int cmd_remote_csr_list(cli_args *a);
int cmd_remote_csr_attach(cli_args *a);
int cmd_remote_tenant_create(cli_args *a);
int cmd_remote_audit_list(cli_args *a);
int cmd_remote_cert_update(cli_args *a);
int cmd_remote_cert_renew(cli_args *a);
int cmd_remote_tidy(cli_args *a);
int cmd_remote_cert_key(cli_args *a);
int cmd_remote_csr_get(cli_args *a);
int cmd_remote_csr_export(cli_args *a);
int cmd_remote_device_get(cli_args *a);
int cmd_remote_profile_list(cli_args *a);
int cmd_remote_profile_get(cli_args *a);
int cmd_remote_profile_create(cli_args *a);
int cmd_remote_profile_update(cli_args *a);
int cmd_remote_profile_delete(cli_args *a);
int cmd_remote_ca_bundle(cli_args *a);
int cmd_remote_settings_get(cli_args *a);
int cmd_remote_settings_set(cli_args *a);
int cmd_remote_user_list(cli_args *a);
int cmd_remote_user_create(cli_args *a);
int cmd_remote_user_update(cli_args *a);
int cmd_remote_user_delete(cli_args *a);
/* Lists a keystore (PKCS#12, JKS, JCEKS, PKCS#7) entry by entry; 0, or 1 after a message. */
int cli_inspect_keystore(cli_args *a, const uint8_t *data, size_t len, const char *password, bool json);

#endif
