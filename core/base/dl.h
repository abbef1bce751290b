/* dl.h - loading a shared library at its first use (dlopen). */
#ifndef BF_DL_H
#define BF_DL_H

#include <stddef.h>

/* Opens the first of names[0..n) that loads (empty names skipped), or only
 * the library the environment variable env_var names when it is set. On
 * failure returns NULL and writes "<what> could not be loaded (<reason>); on
 * Debian: apt-get install <package>" to err. */
void *bf_dl_open_first(const char *env_var, const char *const *names, size_t n, const char *what,
                       const char *package, char *err, size_t err_n);

#endif
