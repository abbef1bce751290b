/* bench_synth.c - synthetic generator throughput without any I/O:
 *   bench_synth [n_symbols] [interval] [start] [end]
 * prints bars, seconds and bars/s (one core). Compare with bench_fetch.sh,
 * which adds the cache writes (HDF5 + fsync + rename) and MPI. */
#include "core/base/log.h"
#include "core/base/timeutil.h"
#include "core/data/synthetic.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200;
    int iv = 900;
    int64_t a, b;
    if ((argc > 2 && bf_interval_parse(argv[2], &iv) != BF_OK) ||
        bf_date_parse(argc > 3 ? argv[3] : "2024-11-28", &a) != BF_OK ||
        bf_date_parse(argc > 4 ? argv[4] : "2026-11-28", &b) != BF_OK) {
        fprintf(stderr, "bench_synth: %s\n", bf_last_error());
        return 2;
    }
    bf_synth_params p = {.seed = 42, .strength = BF_SYNTH_DEFAULT_STRENGTH};
    bf_bars out;
    bf_bars_init(&out, "", iv);
    int64_t total = 0;
    double t0 = bf_now();
    clock_t c0 = clock();
    for (int k = 0; k < n; k++) {
        char sym[16];
        snprintf(sym, sizeof sym, "S%05d", k + 1);
        bf_bars_clear(&out);
        if (bf_synth_generate(&p, sym, iv, a, b, &out) != BF_OK) {
            fprintf(stderr, "bench_synth: %s\n", bf_last_error());
            return 1;
        }
        total += out.n;
    }
    double dt = bf_now() - t0, cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    printf("{\"symbols\": %d, \"interval\": \"%s\", \"bars\": %lld, \"seconds\": %.3f, "
           "\"bars_per_s\": %.0f, \"cpu_s\": %.3f, \"bars_per_cpu_s\": %.0f}\n",
           n, bf_interval_name(iv), (long long)total, dt, (double)total / dt, cpu, (double)total / cpu);
    bf_bars_free(&out);
    return 0;
}
