/* test_fetch_mpi.c - the fetch engine on 2 ranks: symbols are split across
 * both ranks, every rank gets the same summary, the cache holds exactly the
 * bars a single process produces (the generator, which test_fetch checks
 * against a one-rank fetch), and an incremental fetch under 2 ranks requests
 * only the new range once per symbol. */
#define _POSIX_C_SOURCE 200809L
#include "core/base/timeutil.h"
#include "core/data/cache.h"
#include "core/data/fetch.h"
#include "core/data/synthetic.h"
#include "dist/mpi_env.h"
#include "base/test_util.h"

#include <stdlib.h>
#include <unistd.h>

static int g_requests;
static void on_req(void *ctx, const char *p, const char *s, int64_t a, int64_t b)
{
    (void)ctx, (void)p, (void)s, (void)a, (void)b;
    g_requests++;
}

static int64_t D(const char *s)
{
    int64_t t = 0;
    bf_time_parse(s, &t);
    return t;
}

int main(int argc, char **argv)
{
    bf_mpi m;
    if (bf_mpi_init(&argc, &argv, &m) != BF_OK) {
        fprintf(stderr, "mpi init: %s\n", bf_last_error());
        return 1;
    }
    T_CHECK(m.size == 2, "run me with 2 ranks (got %d)", m.size);
    int64_t pid = getpid();
    bf_bcast_bytes(&pid, sizeof pid, 0);
    char cache[256];
    snprintf(cache, sizeof cache, "/tmp/bf_test_fetch_mpi_%lld", (long long)pid);
    const char *syms[] = {"S1", "S2", "S3", "S4", "S5", "S6", "S7", "BRK.B", "Q"};
    const int n = 9;
    const char *prov[] = {"synthetic"};
    bf_fetch_opts o;
    memset(&o, 0, sizeof o);
    o.symbols = syms;
    o.n_symbols = n;
    o.interval_s = 900;
    o.start = D("2024-01-02");
    o.end = D("2024-04-01");
    o.providers = prov;
    o.n_providers = 1;
    o.cache_dir = cache;
    o.seed = 5;
    o.signal_strength = 0.2;
    o.now = D("2026-01-01");
    o.on_request = on_req;

    bf_fetch_summary s;
    bf_status st = bf_fetch_run(&o, &s);
    T_CHECK(st == BF_OK, "fetch: %s", bf_last_error());
    int64_t mine = g_requests, total = mine;
    bf_allreduce_sum_i64(&total, 1);
    T_EQ_I(total, n);
    T_CHECK(mine >= 4 && mine <= 5, "rank %d made %lld of %d requests (unbalanced)", m.rank,
            (long long)mine, n);
    if (st == BF_OK) {
        T_EQ_I(s.n_failed, 0);
        T_EQ_I(s.n_ranks, 2);
        int by_rank[2] = {0, 0};
        for (int i = 0; i < n; i++)
            if (s.sym[i].rank >= 0 && s.sym[i].rank < 2)
                by_rank[s.sym[i].rank]++;
        T_CHECK(by_rank[0] + by_rank[1] == n && by_rank[0] >= 4 && by_rank[1] >= 4,
                "summary says ranks handled %d and %d symbols", by_rank[0], by_rank[1]);
        /* the same summary on both ranks */
        int64_t v[2] = {s.bars, -s.bars};
        bf_allreduce_max_i64(v, 2);
        T_CHECK(v[0] == -v[1], "ranks disagree on the bar total (%lld vs %lld)", (long long)v[0],
                (long long)-v[1]);
        bf_fetch_summary_free(&s);
    }
    bf_barrier();

    /* every file equals what one process generates; both ranks check a half */
    bf_synth_params p = {.seed = 5, .strength = 0.2};
    for (int i = m.rank; i < n; i += 2) {
        bf_bars c, g;
        bf_bars_init(&c, syms[i], 900);
        bf_bars_init(&g, syms[i], 900);
        T_CHECK(bf_cache_read(cache, "synthetic", 900, syms[i], &c) == BF_OK, "%s: %s", syms[i],
                bf_last_error());
        bf_synth_generate(&p, syms[i], 900, o.start, o.end, &g);
        int64_t diff = c.n == g.n ? 0 : -1;
        for (int64_t k = 0; diff >= 0 && k < c.n; k++)
            diff += c.ts[k] != g.ts[k] || c.open[k] != g.open[k] || c.high[k] != g.high[k] ||
                    c.low[k] != g.low[k] || c.close[k] != g.close[k] ||
                    c.volume[k] != g.volume[k] || c.trades[k] != g.trades[k];
        T_CHECK(diff == 0, "%s: %lld cached vs %lld generated bars, %lld rows differ", syms[i],
                (long long)c.n, (long long)g.n, (long long)diff);
        bf_bars_free(&c);
        bf_bars_free(&g);
    }

    /* incremental on 2 ranks: one request per symbol for the new month */
    g_requests = 0;
    o.end = D("2024-05-01");
    st = bf_fetch_run(&o, &s);
    T_CHECK(st == BF_OK, "extend: %s", bf_last_error());
    total = g_requests;
    bf_allreduce_sum_i64(&total, 1);
    T_EQ_I(total, n);
    if (st == BF_OK) {
        T_EQ_I(s.n_failed, 0);
        for (int i = 0; i < n; i++)
            T_CHECK(s.sym[i].fetched > 0 && s.sym[i].fetched < s.sym[i].bars / 2,
                    "%s fetched %lld of %lld bars", syms[i], (long long)s.sym[i].fetched,
                    (long long)s.sym[i].bars);
        bf_fetch_summary_free(&s);
    }
    bf_barrier();
    if (m.rank == 0) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache);
        T_CHECK(system(cmd) == 0, "cleanup");
    }
    int64_t fails = bf_test_failures;
    bf_allreduce_sum_i64(&fails, 1);
    int rc = bf_test_done("test_fetch_mpi");
    bf_mpi_finalize(&m);
    return fails ? 1 : rc;
}
