/* Removing the directory a fuzz target kept its store in.  nftw needs the includer to define
 * _GNU_SOURCE before its first header. */
#ifndef CERTHUB_FUZZ_DIR_H
#define CERTHUB_FUZZ_DIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

static int fuzz_dir_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes the directory and all it holds; nothing when dir is empty. */
static inline void fuzz_dir_remove(const char *dir)
{
    if (dir[0] != '\0')
        nftw(dir, fuzz_dir_remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

#endif
