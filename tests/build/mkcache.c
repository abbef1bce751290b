/* mkcache.c - test helper for the Python build tests:
 *   bf_test_mkcache CACHE_DIR PROVIDER FIRST_DAY N_SESSIONS SYM [SYM ...]
 * writes build_testutil.h's deterministic random-walk cache. */
#include "build/build_testutil.h"
#include "core/base/timeutil.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    int64_t t0;
    if (argc < 6 || bf_date_parse(argv[3], &t0) != BF_OK) {
        fprintf(stderr, "usage: %s CACHE_DIR PROVIDER YYYY-MM-DD N_SESSIONS SYM...\n", argv[0]);
        return 2;
    }
    for (int i = 5; i < argc; i++) {
        if (bt_write_cache(argv[1], argv[2], t0 / 86400, atoi(argv[4]), argv[i]) != BF_OK) {
            fprintf(stderr, "mkcache: %s\n", bf_last_error());
            return 1;
        }
    }
    return 0;
}
