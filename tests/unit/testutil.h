/* Helpers shared by the cmocka unit tests. */
#ifndef CERTHUB_TESTUTIL_H
#define CERTHUB_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Creates a fresh empty directory for one test and returns its path (static storage,
 * overwritten by the next call).  Lives under $CERTHUB_TEST_TMP or /tmp. */
const char *tu_tmpdir(const char *name);

/* Removes a directory tree made by tu_tmpdir. */
void tu_rmtree(const char *path);

/* Reads a file (aborts the test on failure); free() the result. */
uint8_t *tu_read(const char *path, size_t *len);

/* Runs a shell command and returns its exit status. */
int tu_sh(const char *fmt, ...);

/* 1 when needle occurs in hay (binary safe). */
int tu_contains(const void *hay, size_t len, const void *needle, size_t nlen);

#endif
