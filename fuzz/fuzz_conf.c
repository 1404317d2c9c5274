/* Fuzz target: settings files (certhubd's --config, the agent's file) as ch_conf_parse reads
 * them.  Whatever it hands on must hold to its rules: names and values without blanks at
 * their ends or line breaks inside, a name never empty and never '#' first, lines in order. */
#include <stdlib.h>
#include <string.h>

#include "certhub/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool bad_text(const char *s)
{
    size_t n = strlen(s);

    return strpbrk(s, "\r\n") != NULL || (n > 0 && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t'));
}

static int check(void *arg, const ch_conf_item *it)
{
    int *last = arg;
    char out[8];

    if (it->line <= *last) /* one item a line at most */
        abort();
    *last = it->line;
    if (bad_text(it->name) || bad_text(it->value) || (!it->section && (it->name[0] == '\0' || it->name[0] == '#')))
        abort();
    if (it->section && (it->name[0] == '\0' || strpbrk(it->name, " \t") != NULL))
        abort();
    if (ch_conf_copy(out, sizeof out, it) == 0 ? strcmp(out, it->value) != 0 : strlen(it->value) < sizeof out)
        abort();
    return strcmp(it->name, "stop") == 0 ? CH_EINVAL : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    int last = 0, line;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (ch_conf_parse(text, size, check, &last, &line) < 0 && line < 1)
        abort(); /* an error says its line */
    free(text);
    return 0;
}
