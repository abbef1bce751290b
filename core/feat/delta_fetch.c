/* delta_fetch.c - the delta's fetch step: bars after each symbol's last
 * master bar, up to --end, into the cache, through the fetch engine
 * (core/data/fetch.h, incremental: what the cache covers is not asked for
 * again). Symbols are fetched from the provider their master bars came from
 * (or all from --fetch-provider), one collective bf_fetch_run per provider.
 */
#include "core/feat/delta_internal.h"

#include "core/base/log.h"
#include "core/base/timeutil.h"
#include "core/data/fetch.h"
#include "dist/mpi_env.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static bf_status fetch_group(const bf_build_opts *o, const char *provider,
                             const char *const *syms, int n, int64_t start, int64_t end)
{
    bf_fetch_opts f;
    memset(&f, 0, sizeof f);
    f.symbols = syms;
    f.n_symbols = n;
    f.interval_s = o->spec.interval_s[0];
    f.start = start;
    f.end = end;
    f.providers = &provider;
    f.n_providers = 1;
    f.cache_dir = o->cache_dir;
    f.extended_hours = o->spec.extended_hours;
    f.seed = o->seed;
    f.signal_strength = o->signal_strength;
    f.net.csv_dir = o->csv_dir;
    if (strcmp(provider, "alpaca") == 0) {
        f.key_id[0] = o->alpaca_key_id;
        f.secret_key[0] = o->alpaca_secret_key;
    } else if (strcmp(provider, "alphavantage") == 0) {
        f.key_id[0] = o->alphavantage_key;
    }
    bf_fetch_summary sum;
    memset(&sum, 0, sizeof sum);
    BF_TRY(bf_fetch_run(&f, &sum));
    bf_status st = BF_OK;
    if (sum.n_failed > 0) {
        int i = 0;
        while (i < sum.n_symbols && sum.sym[i].status == BF_OK)
            i++;
        st = BF_FAIL(BF_ENODATA, "fetching new %s bars failed for %d of %d symbol(s), e.g. %s: %s; "
                     "the delta was not built (retry, or pass --no-fetch to use the cache as it is)",
                     provider, sum.n_failed, sum.n_symbols, i < sum.n_symbols ? sum.sym[i].symbol : "?",
                     i < sum.n_symbols && sum.error[i] ? sum.error[i] : "no reason given");
    } else {
        bf_log0(BF_LOG_INFO, "delta: fetched %lld new %s bars for %d symbols from %s",
                (long long)sum.fetched, bf_interval_name(f.interval_s), n, provider);
    }
    bf_fetch_summary_free(&sum);
    return st;
}

bf_status bf_delta_fetch(const bf_build_opts *o, const char (*symbols)[BF_SYMBOL_MAX], int64_t n,
                         const int64_t *last_bar, const int32_t *provider,
                         const char *const *providers)
{
    int64_t end = o->end ? o->end : ((int64_t)time(NULL) / 86400 + 1) * 86400;
    const char **syms = malloc((size_t)(n ? n : 1) * sizeof *syms);
    BF_CHECK_ALLOC(syms, (size_t)n * sizeof *syms);
    bf_status st = BF_OK;
    /* every rank walks the same groups in the same order: the runs are collective */
    for (int g = -1; g < BF_BUILD_MAX_PROVIDERS && st == BF_OK; g++) {
        const char *pname = g < 0 ? o->fetch_provider : providers[g];
        if (!pname || (g >= 0 && o->fetch_provider) || (g >= 0 && !providers[g]))
            continue;
        int k = 0;
        int64_t start = INT64_MAX;
        for (int64_t s = 0; s < n; s++) {
            if (provider[s] < 0 || (g >= 0 && provider[s] != g))
                continue;
            syms[k++] = symbols[s];
            /* from the day of the symbol's last master bar: the engine skips what is cached */
            int64_t day = last_bar[s] - last_bar[s] % 86400;
            start = day < start ? day : start;
        }
        if (k > 0 && start < end)
            st = fetch_group(o, pname, syms, k, start, end);
    }
    free(syms);
    return st;
}
