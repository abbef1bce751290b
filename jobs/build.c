#define _GNU_SOURCE
/* build.c - `barforge build --mode master|delta`: flags -> bf_build_opts,
 * run the build (core/feat/dataset_build.h), print the summary on rank 0. */
#include "jobs/job.h"

#include "core/base/log.h"
#include "core/base/timeutil.h"
#include "core/data/universe.h"
#include "core/feat/dataset_build.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bf_status parse_intervals(const char *base, const char *list, bf_feat_spec *spec)
{
    spec->n_intervals = 1;
    BF_TRY(bf_interval_parse(base, &spec->interval_s[0]));
    if (!list || !*list)
        return BF_OK;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (spec->n_intervals >= BF_MAX_INTERVALS)
            return BF_FAIL(BF_EINVAL, "--intervals '%s': at most %d intervals besides the base",
                           list, BF_MAX_INTERVALS - 1);
        BF_TRY(bf_interval_parse(t, &spec->interval_s[spec->n_intervals++]));
    }
    return BF_OK;
}

/* --num-workers, else BARFORGE_THREADS, capped at the cores online; 0 lets
 * the build divide the cores among the ranks */
static int build_threads(int workers)
{
    int n = workers;
    if (n <= 0) {
        const char *e = getenv("BARFORGE_THREADS");
        n = e ? atoi(e) : 0;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (n > 0 && cores > 0 && n > cores)
        n = (int)cores;
    return n > 0 ? n : 0;
}

static int split_list(char *text, const char **out, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(text, ", ", &save); t && n < max; t = strtok_r(NULL, ", ", &save))
        out[n++] = t;
    return n;
}

static void print_summary(const bf_build_opts *o, const bf_build_result *r, int delta)
{
    if (bf_mpi_rank() != 0)
        return;
    const bf_build_drops *d = &r->drops;
    if (delta) {
        if (!r->version[0])
            printf("barforge build: delta: no new rows (everything is already in cum.h5); "
                   "nothing written\n");
        else
            printf("barforge build: delta %s -> %s\n", r->version, r->dir);
        printf("  new rows %lld, cum.h5 rows %lld, symbols %lld\n", (long long)r->rows[0],
               (long long)r->cum_rows, (long long)r->n_symbols);
        printf("  dropped rows: purged after the master's end %lld, already in cum.h5 %lld\n",
               (long long)d->rows_purged, (long long)d->rows_duplicate);
    } else {
        char vs[32], ts[32];
        bf_time_format(r->val_start, vs, sizeof vs);
        bf_time_format(r->test_start, ts, sizeof ts);
        printf("barforge build: master %s -> %s (master -> %s)\n", r->version, r->dir, r->version);
        printf("  symbols %lld, features %d, purge %lld rows per symbol at each boundary; %s\n",
               (long long)r->n_symbols, bf_feat_count(&o->spec), (long long)r->purge_bars,
               r->one_pass ? "one pass (rows written as they were computed)" : "two passes");
        printf("  rows: train %lld, val %lld, test %lld (val from %s, test from %s)\n",
               (long long)r->rows[0], (long long)r->rows[1], (long long)r->rows[2], vs, ts);
        printf("  dropped rows: warm-up %lld, no label (future missing or crossing a session) "
               "%lld, non-finite %lld, purged %lld, symbols without train rows %lld; symbols "
               "with no row %lld\n",
               (long long)d->rows_warmup, (long long)d->rows_no_label,
               (long long)d->rows_nonfinite, (long long)d->rows_purged,
               (long long)d->rows_no_train, (long long)d->symbols_no_rows);
        printf("  dropped bars (cleaning): non-finite %lld, non-positive price %lld, negative "
               "volume %lld, duplicate ts %lld, high/low inconsistent %lld; zero-IQR features "
               "%d\n",
               (long long)d->bars_nonfinite, (long long)d->bars_nonpositive,
               (long long)d->bars_negative_volume, (long long)d->bars_duplicate_ts,
               (long long)d->bars_hl_inconsistent, r->n_zero_iqr);
    }
    /* stages overlap on the build's threads: each is that stage's seconds
     * summed over the threads that ran it; the total is wall time */
    printf("  timings (s, max over %d rank%s; stages in thread-seconds):", bf_mpi_size(),
           bf_mpi_size() > 1 ? "s" : "");
    for (int k = 0; k < BF_STAGE_COUNT; k++)
        printf(" %s %.2f", bf_stage_names[k], r->stage_s[k]);
    printf(", total (wall) %.3f\n", r->total_s);
    fflush(stdout);
}

int bf_job_build(int argc, char **argv)
{
    char *mode = NULL, *root = NULL, *cache = NULL, *symbols = NULL, *symfile = NULL,
         *universe = NULL, *providers = NULL, *base = NULL, *intervals = NULL, *scaler = NULL,
         *fetch_provider = NULL, *alpaca_key = NULL, *alpaca_secret = NULL, *av_key = NULL,
         *csv_dir = NULL;
    int64_t seed = 0;
    double strength = 0;
    bf_intlist horizons = {0, {0}};
    int target = 0, seq_len = 0, max_h = 0, purge = 0, compress = 0, lco = 0, ext = 0,
        buf_mb = 0, no_fetch = 0, sample_rows = 0, mem_mb = 0, workers = 0;
    char *mpio = NULL;
    double train_frac = 0, val_frac = 0;
    int64_t val_start = 0, test_start = 0, start = 0, end = 0;
    bf_opt opts[] = {
        {"mode", BF_OPT_CHOICE, "master", "master: a new versioned dataset; delta: new bars "
         "since the master, appended to extended_master/cum.h5", &mode, "master,delta", NULL, NULL, NULL},
        {"datasets-root", BF_OPT_STR, "artifacts/datasets", "where versions, master, updates "
         "and extended_master live", &root, NULL, NULL, NULL, NULL},
        {"cache-dir", BF_OPT_STR, "data/cache", "bar cache written by barforge fetch", &cache,
         NULL, NULL, NULL, NULL},
        {"symbols", BF_OPT_STR, NULL, "comma-separated symbols (none of --symbols, "
         "--symbols-file, --universe: default50; delta: the master's symbols)", &symbols, NULL,
         NULL, NULL, NULL},
        {"symbols-file", BF_OPT_STR, NULL, "file with one symbol per line ('#' comments)",
         &symfile, NULL, NULL, NULL, NULL},
        {"universe", BF_OPT_STR, NULL, "default50 or synthetic:N (see barforge fetch --help)", &universe,
         NULL, NULL, NULL, NULL},
        {"providers", BF_OPT_STR, "alpaca,yahoo,alphavantage,csv,synthetic", "cache lookup "
         "order: a symbol's bars come from the first provider whose cache has it",
         &providers, NULL, NULL, NULL, NULL},
        {"base-interval", BF_OPT_STR, "15m", "interval of the rows", &base, NULL, NULL, NULL, NULL},
        {"intervals", BF_OPT_STR, "1h,1d", "higher intervals resampled from the base for "
         "features (comma-separated, may be empty)", &intervals, NULL, NULL, NULL, NULL},
        {"horizons", BF_OPT_INTLIST, "1,4,8", "label horizons in base bars (ascending)",
         &horizons, NULL, NULL, NULL, NULL},
        {"target-horizon", BF_OPT_POSINT, "4", "the horizon training predicts", &target, NULL,
         NULL, NULL, NULL},
        {"seq-len", BF_OPT_POSINT, "64", "training window length (sets the purge)", &seq_len,
         NULL, NULL, NULL, NULL},
        {"max-horizon", BF_OPT_NONNEG, "0", "largest label horizon for the purge; 0 = the "
         "largest of --horizons", &max_h, NULL, NULL, NULL, NULL},
        {"purge", BF_OPT_NONNEG, "0", "rows dropped per symbol before each split boundary; 0 = "
         "seq_len - 1 + max_horizon (the minimum)", &purge, NULL, NULL, NULL, NULL},
        {"train-frac", BF_OPT_FRAC, "0.7", "share of distinct row times for train", &train_frac,
         NULL, NULL, NULL, NULL},
        {"val-frac", BF_OPT_FRAC, "0.15", "share for validation (test gets the rest)", &val_frac,
         NULL, NULL, NULL, NULL},
        {"val-start", BF_OPT_DATE, NULL, "explicit validation start (with --test-start; "
         "overrides the fractions)", &val_start, NULL, NULL, NULL, NULL},
        {"test-start", BF_OPT_DATE, NULL, "explicit test start", &test_start, NULL, NULL, NULL, NULL},
        {"scaler", BF_OPT_CHOICE, "per-symbol", "robust scaler fitted on train rows per symbol "
         "or globally", &scaler, "per-symbol,global", NULL, NULL, NULL},
        {"compress", BF_OPT_NONNEG, "0", "gzip level 0-9 for the split files (one rank only)",
         &compress, NULL, NULL, NULL, NULL},
        {"labels-cross-overnight", BF_OPT_FLAG, NULL, "allow labels whose future crosses a "
         "session close", &lco, NULL, NULL, NULL, NULL},
        {"extended-hours", BF_OPT_FLAG, NULL, "bars include extended hours", &ext, NULL, NULL, NULL, NULL},
        {"start", BF_OPT_DATE, NULL, "use bars from this time (default: all cached)", &start,
         NULL, NULL, NULL, NULL},
        {"end", BF_OPT_DATE, NULL, "last day, inclusive (YYYY-MM-DD), or an exclusive RFC 3339 "
         "instant: use bars before it (delta: fetch up to it; default today)", &end, NULL, NULL, NULL, NULL},
        {"write-buffer-mb", BF_OPT_POSINT, "16", "per-rank buffer for the split-file writes",
         &buf_mb, NULL, NULL, NULL, NULL},
        {"mpio", BF_OPT_CHOICE, "independent", "under MPI, how ranks write their rows into the "
         "shared split files: independent (pwrite into chunks HDF5 allocated; per-symbol "
         "scalers: in one pipelined pass) or collective (two passes, MPI-IO two-phase "
         "buffering, for parallel file systems)", &mpio, "independent,collective", NULL, NULL,
         NULL},
        {"memory-budget-mb", BF_OPT_NONNEG, "512", "two-pass builds (global scaler, "
         "compression, --mpio collective, or split boundaries the first symbols did not "
         "predict), per rank: feature rows kept in memory between the passes; symbols beyond "
         "it are recomputed (0 = keep none). Per-symbol scalers build in one pass (under MPI "
         "pipelined over the ranks) and keep no rows", &mem_mb, NULL, NULL, NULL, NULL},
        {"num-workers", BF_OPT_NONNEG, "0", "CPU threads per rank (at most the cores online; "
         "0 = BARFORGE_THREADS, else the cores divided among the ranks); no output bit depends "
         "on it", &workers, NULL, NULL, NULL, NULL},
        {"scaler-sample-rows", BF_OPT_POSINT, "500000", "global scaler: rows sampled (by a hash "
         "of sym_id and ts) to fit it", &sample_rows, NULL, NULL, NULL, NULL},
        {"no-fetch", BF_OPT_FLAG, NULL, "delta: do not fetch, use the cache as it is",
         &no_fetch, NULL, NULL, NULL, NULL},
        {"fetch-provider", BF_OPT_STR, NULL, "delta: provider to fetch new bars from (default: "
         "the one each symbol's master bars came from)", &fetch_provider, NULL, NULL, NULL, NULL},
        {"seed", BF_OPT_I64, "42", "delta fetch, synthetic provider: the seed the cache was "
         "fetched with", &seed, NULL, NULL, NULL, NULL},
        {"signal-strength", BF_OPT_NONNEGFLOAT, "0.1", "delta fetch, synthetic provider: the "
         "signal strength the cache was fetched with", &strength, NULL, NULL, NULL, NULL},
        {"csv-dir", BF_OPT_STR, NULL, "delta fetch, csv provider: directory of <SYMBOL>.csv",
         &csv_dir, NULL, NULL, NULL, NULL},
        {"alpaca-key-id", BF_OPT_SECRET, NULL, "delta fetch: Alpaca API key id", &alpaca_key,
         NULL, "ALPACA_KEY_ID", NULL, NULL},
        {"alpaca-secret-key", BF_OPT_SECRET, NULL, "delta fetch: Alpaca API secret key",
         &alpaca_secret, NULL, "ALPACA_SECRET_KEY", NULL, NULL},
        {"alphavantage-key", BF_OPT_SECRET, NULL, "delta fetch: Alpha Vantage API key", &av_key,
         NULL, "ALPHAVANTAGE_API_KEY", NULL, NULL},
    };
    int nopts = (int)(sizeof opts / sizeof opts[0]);
    bf_job j;
    int rc = bf_job_start(&j, "build", "build a versioned master dataset (train/val/test HDF5, "
                          "scalers, meta.json) or a delta update", opts, nopts, argc, argv);
    if (rc >= 0)
        return rc;

    bf_build_opts o;
    bf_build_opts_defaults(&o);
    char provbuf[512];
    const char *prov[BF_BUILD_MAX_PROVIDERS];
    int delta = strcmp(mode, "delta") == 0;
    bf_universe u;
    bf_universe_init(&u);
    bf_status st = BF_OK;
    if (!delta || symbols || symfile || universe) /* a delta defaults to the master's symbols */
        st = bf_universe_resolve(&u, symbols, symfile, universe);
    /* --end as in barforge fetch: a plain date means through that day */
    const char *end_raw = NULL;
    for (int i = 0; i < nopts; i++)
        if (strcmp(opts[i].name, "end") == 0)
            end_raw = opts[i].raw;
    if (end_raw && strlen(end_raw) == 10)
        end += 86400;
    snprintf(provbuf, sizeof provbuf, "%s", providers ? providers : "");
    o.n_providers = split_list(provbuf, prov, BF_BUILD_MAX_PROVIDERS);
    o.providers = prov;
    o.symbols = (const char *const *)u.sym;
    o.n_symbols = u.n;
    o.cache_dir = cache;
    o.datasets_root = root;
    if (st == BF_OK)
        st = parse_intervals(base, intervals, &o.spec);
    o.spec.n_horizons = horizons.n;
    if (horizons.n > BF_MAX_HORIZONS && st == BF_OK)
        st = BF_FAIL(BF_EINVAL, "--horizons: at most %d horizons", BF_MAX_HORIZONS);
    for (int i = 0; i < horizons.n && i < BF_MAX_HORIZONS; i++)
        o.spec.horizons[i] = horizons.v[i];
    o.spec.labels_cross_overnight = lco;
    o.spec.extended_hours = ext;
    o.target_horizon = target;
    o.seq_len = seq_len;
    o.max_horizon = max_h; /* 0: the largest horizon (the master's, for a delta) */
    o.purge_bars = purge;
    o.split.train_frac = train_frac;
    o.split.val_frac = val_frac;
    o.split.val_start = val_start;
    o.split.test_start = test_start;
    o.scaler = strcmp(scaler, "global") == 0 ? BF_SCALER_ROBUST_GLOBAL
                                             : BF_SCALER_ROBUST_PER_SYMBOL;
    o.compress = compress;
    o.mpio_collective = strcmp(mpio, "collective") == 0;
    o.start = start;
    o.end = end;
    o.write_buffer_bytes = (int64_t)buf_mb << 20;
    o.no_fetch = no_fetch;
    o.global_sample_rows = sample_rows;
    o.seed = (uint64_t)seed;
    o.signal_strength = strength;
    o.csv_dir = csv_dir;
    o.alpaca_key_id = alpaca_key;
    o.alpaca_secret_key = alpaca_secret;
    o.alphavantage_key = av_key;
    o.threads = build_threads(workers);
    o.memory_budget_bytes = mem_mb > 0 ? (int64_t)mem_mb << 20 : -1;
    o.fetch_provider = fetch_provider;
    char *args = bf_cli_config_json(opts, nopts);
    o.build_args_json = args;
    bf_build_result res;
    memset(&res, 0, sizeof res);
    if (st == BF_OK)
        st = delta ? bf_build_delta(&o, &res) : bf_build_master(&o, &res);
    if (st == BF_OK)
        print_summary(&o, &res, delta);
    free(args);
    bf_universe_free(&u);
    return bf_job_finish(&j, st);
}
