/*
 * Settings files of "name = value" lines: certhubd's --config and the agent's file.  Both
 * read the whole file and hand it here, so a line of any length is one line (fgets into a
 * fixed buffer had split a long one into two, the second read as a setting of its own), and
 * both follow the same rules for comments and blanks.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "certhub/common.h"
#include "certhub/error.h"

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The text from *s to *e without its blanks at either end. */
static void strip(char **s, char **e)
{
    while (*s < *e && blank(**s))
        (*s)++;
    while (*e > *s && blank((*e)[-1]))
        (*e)--;
}

/* One line (s to e, its end of line gone), ended with '\0' in place, to fn. */
static int line_item(char *s, char *e, int line, ch_conf_fn fn, void *arg)
{
    ch_conf_item it = {.line = line};
    char *eq, *c;

    strip(&s, &e);
    if (s == e || *s == '#')
        return 0;
    /* '#' after a blank begins a comment; one inside a word ("a#b", a path or a URL's
     * fragment) is part of it. */
    for (c = s + 1; c < e; c++)
        if (*c == '#' && blank(c[-1])) {
            e = c;
            strip(&s, &e);
            break;
        }
    if (*s == '[') {
        char *kind = s + 1, *name;
        if (e[-1] != ']' || e - s < 3)
            return ch_error_set(CH_EPARSE, "a section is written [KIND NAME], between brackets on a line of its own");
        e--;
        strip(&kind, &e);
        for (name = kind; name < e && !blank(*name); name++)
            ;
        if (name == kind)
            return ch_error_set(CH_EPARSE, "a section is written [KIND NAME]: its kind is missing");
        *name = '\0';
        if (name < e)
            name++;
        strip(&name, &e);
        *e = '\0';
        it.section = true;
        it.name = kind;
        it.value = name;
        return fn(arg, &it);
    }
    if ((eq = memchr(s, '=', (size_t)(e - s))) == NULL)
        return ch_error_set(CH_EPARSE, "expected name = value");
    {
        char *ne = eq, *v = eq + 1;
        strip(&s, &ne);
        strip(&v, &e);
        if (s == ne)
            return ch_error_set(CH_EPARSE, "a setting needs its name before the '='");
        *ne = '\0';
        *e = '\0';
        it.name = s;
        it.value = v;
    }
    return fn(arg, &it);
}

int ch_conf_parse(char *text, size_t len, ch_conf_fn fn, void *arg, int *line)
{
    char *p = text, *end = text + len, *nl, *e;
    int error;

    if (text[len] != '\0')
        return ch_error_set(CH_EINTERNAL, "a settings text is given with its ending NUL");

    *line = 0;
    /* A byte order mark, as some editors on Windows begin a UTF-8 file with. */
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (p < end) {
        (*line)++;
        if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
            nl = end;
        e = nl;
        if (e > p && e[-1] == '\r')
            e--;
        for (const char *c = p; c < e; c++)
            if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
                return ch_error_set(CH_EPARSE, "a control character (0x%02x): a settings file is text, its lines "
                                               "ended by LF or CRLF", (unsigned)(unsigned char)*c);
        /* The line is ended in place, on its '\r' or '\n' or on the '\0' past the text. */
        error = line_item(p, e, *line, fn, arg);
        if (error < 0)
            return error;
        p = nl + 1;
    }
    *line = 0;
    return 0;
}

int ch_conf_file(const char *path, ch_conf_fn fn, void *arg, int *line)
{
    uint8_t *text;
    size_t len;
    int error;

    *line = 0;
    if ((error = ch_file_read(&text, &len, path, CH_CONF_MAX_BYTES)) < 0)
        return error;
    error = ch_conf_parse((char *)text, len, fn, arg, line);
    free(text);
    return error;
}

int ch_conf_copy(char *out, size_t cap, const ch_conf_item *it)
{
    size_t n = strlen(it->value);

    if (n >= cap)
        return ch_error_set(CH_ETOOBIG, "%s is %zu bytes long; it takes at most %zu", it->name, n, cap - 1);
    memcpy(out, it->value, n + 1);
    return 0;
}
