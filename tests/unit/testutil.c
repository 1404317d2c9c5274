/* Helpers shared by the cmocka unit tests. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

int tu_sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    int st;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

void tu_rmtree(const char *path)
{
    (void)tu_sh("rm -rf '%s'", path);
}

const char *tu_tmpdir(const char *name)
{
    static char path[1024];
    const char *base = getenv("CERTHUB_TEST_TMP");

    if (base == NULL || *base == '\0')
        base = "/tmp";
    mkdir(base, 0700);
    snprintf(path, sizeof path, "%s/%s.%ld", base, name, (long)getpid());
    tu_rmtree(path);
    if (mkdir(path, 0700) != 0) {
        perror(path);
        abort();
    }
    return path;
}

uint8_t *tu_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    if (f == NULL) {
        perror(path);
        abort();
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
        abort();
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

int tu_contains(const void *hay, size_t len, const void *needle, size_t nlen)
{
    const uint8_t *h = hay;

    if (nlen == 0)
        return 1;
    for (size_t i = 0; i + nlen <= len; i++)
        if (h[i] == *(const uint8_t *)needle && memcmp(h + i, needle, nlen) == 0)
            return 1;
    return 0;
}
