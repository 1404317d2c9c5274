/* Option parsing, messages, files and passwords for the command-line tool. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

const char *cli_opt(const cli_args *a, const char *name)
{
    for (int i = a->nopts - 1; i >= 0; i--)
        if (strcmp(a->names[i], name) == 0)
            return a->values[i];
    return NULL;
}

const char *cli_opt_nth(const cli_args *a, const char *name, int n)
{
    for (int i = 0; i < a->nopts; i++)
        if (strcmp(a->names[i], name) == 0 && n-- == 0)
            return a->values[i];
    return NULL;
}

bool cli_flag(const cli_args *a, const char *name)
{
    return cli_opt(a, name) != NULL;
}

void cli_put_shown(FILE *f, const char *s)
{
    for (const char *p = s; *p;) {
        size_t n = ch_utf8_control(p);
        fputc(n > 0 ? '?' : *p, f);
        p += n > 0 ? n : 1;
    }
}

char *cli_shown(const char *s)
{
    const char *p;
    char *copy, *o;

    for (p = s; *p && ch_utf8_control(p) == 0; p++)
        ;
    if (*p == '\0' || (copy = malloc(strlen(s) + 1)) == NULL)
        return NULL;
    for (p = s, o = copy; *p;) {
        size_t n = ch_utf8_control(p);
        *o++ = n > 0 ? '?' : *p;
        p += n > 0 ? n : 1;
    }
    *o = '\0';
    return copy;
}

/* "certhub: <cmd>: <message>" on stderr, the line left open, as cli_put_shown shows text: a
 * message holds what a server answered (its error's message, a name), where an escape sequence
 * would rewrite the terminal and a newline forge a line. */
static void say(const cli_args *a, const char *fmt, va_list ap)
{
    char small[512], *text = small;
    va_list again;
    int n;

    va_copy(again, ap);
    n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= (int)sizeof small && (text = malloc((size_t)n + 1)) != NULL)
        vsnprintf(text, (size_t)n + 1, fmt, again);
    va_end(again);
    if (text == NULL)
        text = small; /* (cut short rather than unsaid) */
    fprintf(stderr, "certhub: %s: ", a->cmd->name);
    cli_put_shown(stderr, n < 0 ? "" : text);
    if (text != small)
        free(text);
}

void cli_usage(const cli_args *a, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say(a, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: certhub %s %s\n", a->cmd->name, a->cmd->usage);
    exit(2);
}

void cli_bad_value(const cli_args *a, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say(a, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

const char *cli_need(const cli_args *a, const char *name)
{
    const char *v = cli_opt(a, name);

    if (v == NULL || *v == '\0')
        cli_usage(a, "--%s is required", name);
    return v;
}

void cli_not_both(const cli_args *a, const char *one, const char *other)
{
    if (cli_opt(a, one) != NULL && cli_opt(a, other) != NULL)
        cli_usage(a, "give --%s or --%s, not both", one, other);
}

long cli_int(const cli_args *a, const char *name, long def, long min, long max)
{
    const char *v = cli_opt(a, name);
    char *end;
    long n;

    if (v == NULL)
        return def;
    errno = 0;
    n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || errno != 0 || n < min || n > max)
        cli_bad_value(a, "--%s must be a whole number from %ld to %ld, not \"%.32s\"", name, min, max, v);
    return n;
}

int cli_on_off(const cli_args *a, const char *name, int *out)
{
    const char *v = cli_opt(a, name);

    if (v == NULL)
        return 0;
    /* (any case: "On" and "TRUE" are as clear as "on"; 1 and 0 as the server's forms take) */
    if (strcasecmp(v, "on") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 || strcmp(v, "1") == 0)
        *out = 1;
    else if (strcasecmp(v, "off") == 0 || strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0 ||
             strcmp(v, "0") == 0)
        *out = 0;
    else
        return cli_fail(a, "--%s takes on or off (or yes/no, true/false, 1/0), not \"%s\"", name, v);
    return 0;
}

int cli_fail(const cli_args *a, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say(a, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

int cli_fail_last(const cli_args *a)
{
    return cli_fail(a, "%s", ch_error_last()[0] ? ch_error_last() : "failed");
}

int cli_read(const cli_args *a, const char *path, uint8_t **data, size_t *len)
{
    if (ch_file_read(data, len, path, CH_MAX_UPLOAD_BYTES) < 0)
        return cli_fail_last(a);
    return 0;
}

int cli_password(const cli_args *a, const char *opt, const char *env, char **out)
{
    const char *path = cli_opt(a, opt);
    const char *e = env ? getenv(env) : NULL;

    *out = NULL;
    if (path == NULL) {
        if (e != NULL && (*out = strdup(e)) == NULL)
            return cli_fail(a, "out of memory");
        return 0;
    }
    return cli_password_file(a, path, out);
}

int cli_password_file(const cli_args *a, const char *path, char **out)
{
    uint8_t *data = NULL;
    size_t len = 0, n;

    *out = NULL;
    if (ch_file_read(&data, &len, path, CH_MAX_PASSWORD_LEN + 2) < 0)
        return cli_fail(a, "cannot read the password file: %s", ch_error_last());
    /* The first line, without its line end: what `echo secret > file` writes. */
    for (n = 0; n < len && data[n] != '\n' && data[n] != '\r'; n++)
        ;
    if (memchr(data, '\0', n) != NULL) {
        ch_secure_free(data, len);
        return cli_fail(a, "the password file %s contains a NUL byte", path);
    }
    /* Wipe the rest now: ch_secure_free_str only wipes up to the NUL. */
    ch_wipe(data + n, len - n);
    data[n] = '\0';
    *out = (char *)data;
    return 0;
}

bool cli_is_stdout(const char *path)
{
    return path != NULL && strcmp(path, "-") == 0;
}

/* A path that is there and is no file nor directory: /dev/null, /dev/stdout, a FIFO, a shell's
 * >(...).  It is written to as it is; the atomic write's rename would replace it (/dev/null
 * itself, as root) with a regular file holding what was meant for it. */
static bool is_special(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

int cli_password_new(const cli_args *a, const char *opt, const char *env, char **out)
{
    if (cli_password(a, opt, env, out) != 0)
        return 1;
    if (*out != NULL && **out == '\0') {
        ch_secure_free_str(*out);
        *out = NULL;
        return cli_fail(a, "%s%s gives an empty password: the key would be written in clear; give a password, or "
                           "leave it out for a key in clear",
                        cli_opt(a, opt) ? "--" : env, cli_opt(a, opt) ? opt : "");
    }
    return 0;
}

/* The directory's real path and the last name of path, as one string in out: what tells
 * whether two paths name one file before either is there. */
static bool file_of(char *out, size_t cap, const char *path)
{
    char *copy1 = strdup(path), *copy2 = strdup(path), *dir = NULL;
    bool ok = false;

    if (copy1 != NULL && copy2 != NULL && (dir = realpath(dirname(copy1), NULL)) != NULL)
        ok = (size_t)snprintf(out, cap, "%s/%s", dir, basename(copy2)) < cap;
    free(dir);
    free(copy1);
    free(copy2);
    return ok;
}

/* A path as its parts name it, for telling whether two name one file: "//", "/./" and
 * "dir/../" left out ("/sub/../x.pem" is "/x.pem"), as the kernel reads it where no part is a
 * link. */
static void path_plain(char *out, size_t cap, const char *path)
{
    size_t n = 0;

    out[0] = '\0';
    for (const char *p = path; *p;) {
        size_t w = strcspn(p, "/");
        if (w == 0 || (w == 1 && p[0] == '.')) {
            /* (nothing) */
        } else if (w == 2 && p[0] == '.' && p[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
        } else if (n + 1 + w < cap) {
            if (n > 0 || path[0] == '/')
                out[n++] = '/';
            memcpy(out + n, p, w);
            n += w;
        }
        p += w + (p[w] == '/');
    }
    if (n == 0 && path[0] == '/')
        out[n++] = '/';
    out[n] = '\0';
}

bool cli_same_file(const char *p1, const char *p2)
{
    char f1[PATH_MAX + 256], f2[PATH_MAX + 256];
    struct stat s1, s2;

    if (*p1 == '\0' || *p2 == '\0')
        return false;
    if (cli_is_stdout(p1) || cli_is_stdout(p2))
        return cli_is_stdout(p1) && cli_is_stdout(p2);
    if (stat(p1, &s1) == 0 && stat(p2, &s2) == 0)
        return s1.st_dev == s2.st_dev && s1.st_ino == s2.st_ino;
    if (file_of(f1, sizeof f1, p1) && file_of(f2, sizeof f2, p2))
        return strcmp(f1, f2) == 0;
    /* (a folder not made yet) */
    path_plain(f1, sizeof f1, p1);
    path_plain(f2, sizeof f2, p2);
    return strcmp(f1, f2) == 0;
}

void cli_outputs_apart(const cli_args *a, const char *opt1, const char *opt2)
{
    const char *p1 = cli_opt(a, opt1), *p2 = cli_opt(a, opt2);

    if (p1 != NULL && p2 != NULL && cli_same_file(p1, p2))
        cli_usage(a, "--%s and --%s name the same file: give each its own", opt1, opt2);
}

int cli_may_write(const cli_args *a, const char *path)
{
    struct stat st;
    char *copy;
    const char *dir;
    int rc = 0;

    if (path == NULL || cli_is_stdout(path))
        return 0;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return cli_fail(a, "%s is a directory: give the name of the file to write", path);
        /* A disk named by mistake is never written over, with --force or without. */
        if (S_ISBLK(st.st_mode))
            return cli_fail(a, "%s is a block device: give the name of a file to write", path);
        if (!S_ISREG(st.st_mode))
            return 0; /* nothing is replaced: is_special */
        return cli_flag(a, "force") ? 0 : cli_fail(a, "%s exists; pass --force to replace it", path);
    }
    /* The file is written beside itself and renamed into place: a directory that is not there
     * or not writable would be found only once the server had made what is to be written. */
    if ((copy = strdup(path)) == NULL)
        return cli_fail(a, "out of memory");
    dir = dirname(copy);
    if (stat(dir, &st) != 0)
        rc = cli_fail(a, "cannot write %s: the directory %s: %s", path, dir, strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        rc = cli_fail(a, "cannot write %s: %s is not a directory", path, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        rc = cli_fail(a, "cannot write %s: the directory %s: %s", path, dir, strerror(errno));
    free(copy);
    return rc;
}

/* "-" is standard output (`--out - | openssl x509 -text`); bytes that are not text are not
 * written to a terminal. */
/* Whether data holds a byte a terminal would take for a control: not text to show on one. */
static bool is_binary(const unsigned char *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (data[i] < 0x20 && data[i] != '\n' && data[i] != '\r' && data[i] != '\t')
            return true;
    return false;
}

static int write_stdout(const cli_args *a, const unsigned char *data, size_t len)
{
    if (isatty(STDOUT_FILENO) && is_binary(data, len))
        return cli_fail(a, "the output is binary: give --out FILE, or send it to a pipe");
    if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
        return cli_fail(a, "cannot write to standard output: %s", strerror(errno));
    return 0;
}

/* Writes to a path that is_special, as it is (opened without creating or truncating). */
static int write_in_place(const cli_args *a, const char *path, const unsigned char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);

    if (fd < 0)
        return cli_fail(a, "cannot write %s: %s", path, strerror(errno));
    if (isatty(fd) && is_binary(data, len)) {
        close(fd);
        return cli_fail(a, "the output is binary and %s a terminal: give --out FILE", path);
    }
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            return cli_fail(a, "cannot write %s: %s", path, strerror(e));
        }
        data += w;
        len -= (size_t)w;
    }
    if (close(fd) != 0)
        return cli_fail(a, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

int cli_write(const cli_args *a, const char *path, const void *data, size_t len, unsigned mode)
{
    if (cli_is_stdout(path))
        return write_stdout(a, data, len);
    if (cli_may_write(a, path) != 0)
        return 1;
    if (is_special(path))
        return write_in_place(a, path, data, len);
    if (ch_file_write_atomic(path, data, len, mode) < 0)
        return cli_fail_last(a);
    return 0;
}

size_t cli_split(char **store, const char *text, const char **parts, size_t max)
{
    size_t n = 0;
    char *p, *save = NULL;

    *store = strdup(text ? text : "");
    if (*store == NULL)
        return 0;
    for (p = strtok_r(*store, ",", &save); p != NULL && n < max; p = strtok_r(NULL, ",", &save)) {
        while (*p == ' ')
            p++;
        if (*p != '\0')
            parts[n++] = p;
    }
    return n;
}

void cli_none_alone(const cli_args *a, const char *opt, const char *value)
{
    const char *p = value;

    if (value != NULL && strspn(value, ", ") == strlen(value))
        cli_bad_value(a, "--%s is empty: give a comma-separated list, or none", opt);
    while (p != NULL && *p != '\0') {
        size_t len = strcspn(p, ",");
        const char *w = p;
        size_t n = len;

        while (n > 0 && *w == ' ')
            w++, n--;
        while (n > 0 && w[n - 1] == ' ')
            n--;
        if (n == 4 && strncmp(w, "none", 4) == 0 && strcmp(value, "none") != 0)
            cli_bad_value(a, "--%s: none stands alone (%s): give none or a list", opt,
                          strcmp(opt, "critical") == 0 ? "no extension critical" : "the extension left out");
        p += len;
        if (*p == ',')
            p++;
    }
}
