/* universe.h - the list of symbols a job works on.
 *
 * Sources (exactly one per job; none means the default50 universe):
 *   --symbols AAPL,MSFT        a comma-separated list
 *   --symbols-file F           one symbol per line (commas also separate);
 *                              '#' starts a comment; blank lines are skipped
 *   --universe default50       the 50 liquid US tickers shipped in
 *                              data/universe/default50.txt
 *   --universe synthetic:N     S00001 .. SN (5 digits, more when N > 99999),
 *                              for the synthetic provider, N <= 1000000
 * Every symbol is validated (bars.h: [A-Z0-9.-]{1,15}) as it is added, before
 * any request or path is formed; duplicates are dropped, order is kept.
 */
#ifndef BF_UNIVERSE_H
#define BF_UNIVERSE_H

#include "core/base/status.h"

#include <stddef.h>

typedef struct bf_universe {
    int n, cap;
    char **sym;         /* n validated symbols; pass as (const char *const *)u.sym */
    int *hash;          /* open-addressing index into sym (size hcap) */
    int hcap;
    char source[64];    /* "symbols", "symbols-file", "default50", "synthetic:N" */
} bf_universe;

void bf_universe_init(bf_universe *u);
void bf_universe_free(bf_universe *u);

/* Add one symbol (validated; a duplicate is ignored). */
bf_status bf_universe_add(bf_universe *u, const char *sym);
/* "AAPL,MSFT" (spaces around names allowed; empty items are an error). */
bf_status bf_universe_add_list(bf_universe *u, const char *list);
bf_status bf_universe_add_file(bf_universe *u, const char *path);
/* "default50" or "synthetic:N" */
bf_status bf_universe_add_named(bf_universe *u, const char *name);

/* Resolve the job's flags (each may be NULL or ""): at most one source; none
 * means default50. BF_EINVAL naming the flags when several are given or the
 * result is empty. */
bf_status bf_universe_resolve(bf_universe *u, const char *symbols, const char *symbols_file,
                              const char *universe);

/* Where default50.txt is read from: $BARFORGE_UNIVERSE_DIR,
 * ./data/universe, $BARFORGE_SOURCE_DIR/data/universe, then
 * data/universe next to the binary's parent directories. */
bf_status bf_universe_default50_path(char *buf, size_t n);

#endif
