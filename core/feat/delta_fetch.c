/* delta_fetch.c - the delta's fetch step: new bars since each symbol's last
 * master bar, up to --end, into the cache. */
#include "core/feat/delta_internal.h"

bf_status bf_delta_fetch(const bf_build_opts *o, const char (*symbols)[BF_SYMBOL_MAX], int64_t n,
                         const int64_t *last_bar, const int32_t *provider,
                         const char *const *providers)
{
    (void)o;
    (void)symbols;
    (void)n;
    (void)last_bar;
    (void)provider;
    (void)providers;
    return BF_FAIL(BF_EINVAL, "fetching from a delta build is not available in this build yet: "
                   "run `barforge fetch` first and pass --no-fetch");
}
