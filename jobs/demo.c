/* demo.c - `barforge demo`: the whole pipeline on the embedded synthetic
 * provider, with no keys and no network:
 *   1. fetch    synthetic bars with a planted signal into the cache
 *   2. build    a master dataset (features, labels, purged splits, scalers)
 *   3. train    a small CNN + PatchTST model (about 35 s on an idle 2-core machine)
 *   4. eval     the best checkpoint on the test split
 * then compares the model with three reference predictors on the same test
 * rows: zero, the previous bar's log return, and the ORACLE of the planted
 * signal (its conditional expectation, synthetic.h), and prints where every
 * artifact went. Collective: runs under mpirun too.
 */
#define _GNU_SOURCE
#include "jobs/job.h"

#include "core/base/fsutil.h"
#include "core/base/json.h"
#include "core/base/log.h"
#include "core/base/timeutil.h"
#include "core/data/cache.h"
#include "core/data/fetch.h"
#include "core/data/synthetic.h"
#include "core/data/universe.h"
#include "core/feat/dataset_build.h"
#include "core/train/eval.h"
#include "core/train/metrics.h"
#include "core/train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUMMARY "Run the whole pipeline on synthetic data (no keys, no network): fetch, master build,\n" \
                "a short training run and the test evaluation, compared with the zero, previous-return\n" \
                "and oracle predictors of the planted signal."

typedef struct demo_rows {
    int64_t n, cap;
    int64_t *ts;
    char (*sym)[BF_SYMBOL_MAX];
    float *y, *y_hat;
} demo_rows;

static void rows_free(demo_rows *r)
{
    free(r->ts);
    free(r->sym);
    free(r->y);
    free(r->y_hat);
    memset(r, 0, sizeof *r);
}

/* Eval's prediction CSV: header "ts,symbol,y,y_hat", then one row per window
 * with ts in RFC 3339 (the window's last bar end). */
static bf_status read_predictions(const char *path, demo_rows *r)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return BF_FAIL(BF_ENOTFOUND, "cannot open predictions '%s'", path);
    char line[256];
    if (!fgets(line, sizeof line, f) || strncmp(line, "ts,symbol,y,y_hat", 17) != 0) {
        fclose(f);
        return BF_FAIL(BF_ECORRUPT, "'%s': expected the header ts,symbol,y,y_hat", path);
    }
    while (fgets(line, sizeof line, f)) {
        if (r->n == r->cap) {
            int64_t cap = r->cap ? r->cap * 2 : 4096;
            int64_t *ts = realloc(r->ts, (size_t)cap * sizeof *ts);
            char(*sym)[BF_SYMBOL_MAX] = realloc(r->sym, (size_t)cap * sizeof *sym);
            float *y = realloc(r->y, (size_t)cap * sizeof *y);
            float *yh = realloc(r->y_hat, (size_t)cap * sizeof *yh);
            if (ts) r->ts = ts;
            if (sym) r->sym = sym;
            if (y) r->y = y;
            if (yh) r->y_hat = yh;
            if (!ts || !sym || !y || !yh) {
                fclose(f);
                return BF_FAIL(BF_ENOMEM, "out of memory reading '%s'", path);
            }
            r->cap = cap;
        }
        char tss[64];
        int64_t ts;
        char sym[BF_SYMBOL_MAX];
        float y, yh;
        if (sscanf(line, "%63[^,],%15[^,],%g,%g", tss, sym, &y, &yh) != 4 ||
            bf_time_parse(tss, &ts) != BF_OK) {
            fclose(f);
            return BF_FAIL(BF_ECORRUPT, "'%s': malformed row '%.60s'", path, line);
        }
        r->ts[r->n] = ts;
        memcpy(r->sym[r->n], sym, BF_SYMBOL_MAX);
        r->y[r->n] = y;
        r->y_hat[r->n] = yh;
        r->n++;
    }
    fclose(f);
    if (r->n == 0)
        return BF_FAIL(BF_ENODATA, "'%s' holds no prediction", path);
    return BF_OK;
}

static int64_t find_bar_ending_at(const bf_bars *b, int64_t ts_end)
{
    int64_t lo = 0, hi = b->n - 1, want = ts_end - b->interval_s;
    while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        if (b->ts[mid] == want)
            return mid;
        if (b->ts[mid] < want)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Reference predictions for the test rows from the cached bars: the previous
 * bar's log return and the planted signal's oracle for the target horizon.
 * Rows come grouped by symbol (eval writes them in dataset order). */
static bf_status reference_predictions(const demo_rows *r, const char *cache_dir, int interval_s,
                                       const bf_synth_params *sp, int horizon, float *prev,
                                       float *oracle)
{
    int64_t i = 0;
    while (i < r->n) {
        int64_t j = i;
        while (j < r->n && strcmp(r->sym[j], r->sym[i]) == 0)
            j++;
        bf_bars b;
        bf_bars_init(&b, r->sym[i], interval_s);
        BF_TRY(bf_cache_read(cache_dir, "synthetic", interval_s, r->sym[i], &b));
        double *op = malloc((size_t)(b.n > 0 ? b.n : 1) * sizeof *op);
        if (!op) {
            bf_bars_free(&b);
            return BF_FAIL(BF_ENOMEM, "out of memory for oracle predictions");
        }
        bf_status st = bf_synth_oracle_predict(sp, &b, horizon, op);
        for (int64_t k = i; st == BF_OK && k < j; k++) {
            int64_t t = find_bar_ending_at(&b, r->ts[k]);
            if (t < 1) {
                st = BF_FAIL(BF_ECORRUPT, "test row %s at %lld has no bar in the cache", r->sym[k],
                             (long long)r->ts[k]);
                break;
            }
            prev[k] = (float)log(b.close[t] / b.close[t - 1]);
            oracle[k] = isfinite(op[t]) ? (float)op[t] : 0.0f;
        }
        free(op);
        bf_bars_free(&b);
        BF_TRY(st);
        i = j;
    }
    return BF_OK;
}

static void print_row(const char *name, const bf_metrics *m)
{
    printf("  %-22s %11.4g %11.4g %8.4f %10.4f %10.4f %9lld\n", name, m->mse, m->mae, m->dir_acc,
           m->hit_rate_top_decile, m->pearson_r, (long long)m->n);
}

static void add_metrics(cJSON *o, const char *name, const bf_metrics *m)
{
    cJSON *x = cJSON_AddObjectToObject(o, name);
    bf_metrics_add_json(m, x);
}

int bf_job_demo(int argc, char **argv)
{
    char *universe = NULL, *cache_dir = NULL, *datasets_root = NULL, *runs_dir = NULL;
    char *arch = NULL, *mixer = NULL;
    int64_t start = 0, end = 0, seed = 0, max_steps = 0;
    double strength = 0, lr = 0;
    int seq_len = 0, batch = 0, epochs = 0, hidden = 0, blocks = 0, d_model = 0, heads = 0;
    int layers = 0, emb = 0, workers = 0, patience = 0;
    int64_t eval_every = 0;
    bf_opt opts[] = {
        {.name = "universe", .type = BF_OPT_STR, .def = "synthetic:16", .help = "symbols: synthetic:N or default50", .dst = &universe},
        {.name = "start", .type = BF_OPT_DATE, .def = "2023-01-03", .help = "first day of bars", .dst = &start},
        {.name = "end", .type = BF_OPT_DATE, .def = "2024-12-31", .help = "last day of bars (inclusive)", .dst = &end},
        {.name = "seed", .type = BF_OPT_I64, .def = "7", .help = "seed of the synthetic market and of training", .dst = &seed},
        {.name = "signal-strength", .type = BF_OPT_NONNEGFLOAT, .def = "0.3", .help = "planted signal: correlation of its oracle with y_4 (0 = pure noise)", .dst = &strength},
        {.name = "cache-dir", .type = BF_OPT_STR, .def = "data/cache", .help = "bar cache", .dst = &cache_dir},
        {.name = "datasets-root", .type = BF_OPT_STR, .def = "artifacts/datasets", .help = "where the master dataset version is written", .dst = &datasets_root},
        {.name = "runs-dir", .type = BF_OPT_STR, .def = "artifacts/runs", .help = "where the training run folder is created", .dst = &runs_dir},
        {.name = "arch", .type = BF_OPT_CHOICE, .def = "patchtst", .choices = "patchtst,baseline", .help = "model architecture", .dst = &arch},
        {.name = "channel-mixer", .type = BF_OPT_CHOICE, .def = "mlp", .choices = "mlp,ivar,none", .help = "channel mixer", .dst = &mixer},
        {.name = "seq-len", .type = BF_OPT_POSINT, .def = "32", .help = "window length", .dst = &seq_len},
        {.name = "batch-size", .type = BF_OPT_POSINT, .def = "256", .help = "batch size", .dst = &batch},
        {.name = "max-epochs", .type = BF_OPT_POSINT, .def = "10", .help = "epochs at most", .dst = &epochs},
        {.name = "max-steps", .type = BF_OPT_I64, .def = "2000", .help = "optimizer steps at most (0: no cap); keeps the demo under a minute on 2 cores", .dst = &max_steps},
        {.name = "eval-every-steps", .type = BF_OPT_I64, .def = "200", .help = "validate every N steps (and at epoch ends); the best checkpoint is kept", .dst = &eval_every},
        {.name = "patience", .type = BF_OPT_NONNEG, .def = "5", .help = "early-stopping patience in evaluations (0: never stop early)", .dst = &patience},
        {.name = "lr", .type = BF_OPT_POSFLOAT, .def = "1e-3", .help = "learning rate", .dst = &lr},
        {.name = "cnn-hidden", .type = BF_OPT_POSINT, .def = "32", .help = "CNN width", .dst = &hidden},
        {.name = "cnn-blocks", .type = BF_OPT_POSINT, .def = "3", .help = "CNN blocks (kernels 5,5,3, dilations 1,2,4)", .dst = &blocks},
        {.name = "d-model", .type = BF_OPT_POSINT, .def = "32", .help = "Transformer width", .dst = &d_model},
        {.name = "n-heads", .type = BF_OPT_POSINT, .def = "4", .help = "attention heads", .dst = &heads},
        {.name = "num-layers", .type = BF_OPT_POSINT, .def = "2", .help = "Transformer layers", .dst = &layers},
        {.name = "emb-dim", .type = BF_OPT_NONNEG, .def = "8", .help = "symbol embedding width", .dst = &emb},
        {.name = "num-workers", .type = BF_OPT_NONNEG, .def = "0", .help = "CPU threads per rank (at most the cores online; 0 = BARFORGE_THREADS, else all cores)", .dst = &workers},
    };
    int nopts = (int)(sizeof opts / sizeof opts[0]);
    bf_job j;
    int rc = bf_job_start(&j, "demo", SUMMARY, opts, nopts, argc, argv);
    if (rc >= 0)
        return rc;
    end += 86400; /* inclusive last day */
    if (blocks > 3)
        return bf_job_usage_error(&j, "--cnn-blocks: the demo uses kernels 5,5,3 and dilations 1,2,4, so at most 3, got '%d'", blocks);
    if (strength >= bf_synth_strength_max(BF_SYNTH_SIGNAL_HORIZON))
        return bf_job_usage_error(&j, "--signal-strength: expected a number in [0, %.3f), got '%g'",
                                  bf_synth_strength_max(BF_SYNTH_SIGNAL_HORIZON), strength);
    int rank0 = bf_mpi_rank() == 0;
    bf_job_set_threads(workers);
    double t0 = bf_now(), t_fetch = 0, t_build = 0, t_train = 0, t_eval = 0;
    bf_status st = BF_OK;
    bf_universe u;
    bf_universe_init(&u);
    st = bf_universe_resolve(&u, NULL, NULL, universe);

    /* 1. fetch */
    const char *prov[1] = {"synthetic"};
    if (st == BF_OK) {
        bf_log0(BF_LOG_INFO, "demo 1/4: fetch %d synthetic symbols (signal strength %g) into %s", u.n,
                strength, cache_dir);
        bf_fetch_opts fo;
        memset(&fo, 0, sizeof fo);
        fo.symbols = (const char *const *)u.sym;
        fo.n_symbols = u.n;
        fo.interval_s = 900;
        fo.start = start;
        fo.end = end;
        fo.providers = prov;
        fo.n_providers = 1;
        fo.cache_dir = cache_dir;
        fo.seed = (uint64_t)seed;
        fo.signal_strength = strength;
        fo.progress = 1;
        bf_fetch_summary fs;
        st = bf_fetch_run(&fo, &fs);
        if (st == BF_OK) {
            if (fs.n_failed)
                st = BF_FAIL(BF_ERR, "%d symbol(s) could not be fetched", fs.n_failed);
            bf_fetch_summary_free(&fs);
        }
        t_fetch = bf_now() - t0;
    }

    /* 2. master build */
    bf_build_result br;
    memset(&br, 0, sizeof br);
    bf_build_opts bo;
    bf_build_opts_defaults(&bo);
    if (st == BF_OK) {
        double t = bf_now();
        bf_log0(BF_LOG_INFO, "demo 2/4: master build into %s", datasets_root);
        bo.symbols = (const char *const *)u.sym;
        bo.n_symbols = u.n;
        bo.cache_dir = cache_dir;
        bo.providers = prov;
        bo.n_providers = 1;
        bo.seq_len = seq_len;
        bo.datasets_root = datasets_root;
        bo.start = start;
        bo.end = end;
        bo.seed = (uint64_t)seed;
        bo.signal_strength = strength;
        st = bf_build_master(&bo, &br);
        t_build = bf_now() - t;
    }

    /* 3. train */
    bf_train_result tr;
    memset(&tr, 0, sizeof tr);
    char sv[9][32];
    if (st == BF_OK) {
        double t = bf_now();
        bf_log0(BF_LOG_INFO, "demo 3/4: train %s on %s", arch, br.dir);
        bf_train_opts to;
        bf_train_opts_defaults(&to);
        to.datasets_root = br.dir;
        to.runs_dir = runs_dir;
        to.batch_size = batch;
        to.max_epochs = epochs;
        to.max_steps = max_steps;
        to.patience = patience;
        to.eval_every_steps = eval_every;
        to.lr = lr;
        to.seed = (uint64_t)seed;
        to.num_workers = workers;
        to.final_test = 0; /* the demo evaluates below, with the references */
        snprintf(sv[0], 32, "%d", seq_len);
        snprintf(sv[1], 32, "%d", hidden);
        snprintf(sv[2], 32, "%d", blocks);
        snprintf(sv[3], 32, "%d", d_model);
        snprintf(sv[4], 32, "%d", heads);
        snprintf(sv[5], 32, "%d", layers);
        snprintf(sv[6], 32, "%d", emb);
        static const char *const kern[] = {"5", "5,5", "5,5,3"}, *const dil[] = {"1", "1,2", "1,2,4"};
        const char *keys[] = {"seq-len", "cnn-hidden", "cnn-blocks", "d-model", "n-heads",
                              "num-layers", "emb-dim", "arch", "channel-mixer", "cnn-kernels",
                              "cnn-dilations", "patch-size", "patch-stride"};
        const char *vals[] = {sv[0], sv[1], sv[2], sv[3], sv[4], sv[5], sv[6], arch, mixer,
                              kern[blocks - 1], dil[blocks - 1], "8", "4"};
        for (size_t k = 0; st == BF_OK && k < sizeof keys / sizeof keys[0]; k++)
            st = bf_train_opts_model_set(&to, keys[k], vals[k]);
        char *cfg = bf_cli_config_json(opts, nopts);
        to.args_json = cfg;
        if (st == BF_OK)
            st = bf_train_run(&to, &tr);
        free(cfg);
        t_train = bf_now() - t;
    }

    /* 4. eval + references */
    bf_eval_result er;
    memset(&er, 0, sizeof er);
    char pred_path[4400], json_path[4400];
    if (st == BF_OK) {
        double t = bf_now();
        bf_log0(BF_LOG_INFO, "demo 4/4: evaluate %s on the test split", tr.best_ckpt);
        snprintf(pred_path, sizeof pred_path, "%s/predictions_test.csv", tr.run_dir);
        snprintf(json_path, sizeof json_path, "%s/metrics_test.json", tr.run_dir);
        bf_eval_opts eo;
        bf_eval_opts_defaults(&eo);
        eo.checkpoint = tr.best_ckpt;
        eo.datasets_root = br.dir;
        eo.split = "test";
        eo.out_json = json_path;
        eo.predictions = pred_path;
        st = bf_eval_run(&eo, &er);
        t_eval = bf_now() - t;
    }
    if (st == BF_OK && rank0) {
        demo_rows r;
        memset(&r, 0, sizeof r);
        st = read_predictions(pred_path, &r);
        float *zero = calloc((size_t)(r.n ? r.n : 1), sizeof(float));
        float *prev = malloc((size_t)(r.n ? r.n : 1) * sizeof(float));
        float *orc = malloc((size_t)(r.n ? r.n : 1) * sizeof(float));
        if (st == BF_OK && (!zero || !prev || !orc))
            st = BF_FAIL(BF_ENOMEM, "out of memory for reference predictions");
        bf_synth_params sp;
        memset(&sp, 0, sizeof sp);
        sp.seed = (uint64_t)seed;
        sp.strength = strength;
        int horizon = bo.target_horizon;
        if (st == BF_OK)
            st = reference_predictions(&r, cache_dir, 900, &sp, horizon, prev, orc);
        bf_metrics mm, mz, mp, mo;
        if (st == BF_OK) st = bf_metrics_compute(r.y, r.y_hat, r.n, &mm);
        if (st == BF_OK) st = bf_metrics_compute(r.y, zero, r.n, &mz);
        if (st == BF_OK) st = bf_metrics_compute(r.y, prev, r.n, &mp);
        if (st == BF_OK) st = bf_metrics_compute(r.y, orc, r.n, &mo);
        if (st == BF_OK) {
            char summary_path[4400];
            snprintf(summary_path, sizeof summary_path, "%s/demo_summary.json", tr.run_dir);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "split", "test");
            cJSON_AddNumberToObject(o, "target_horizon", horizon);
            cJSON_AddNumberToObject(o, "signal_strength", strength);
            cJSON_AddNumberToObject(o, "seed", (double)seed);
            add_metrics(o, "model", &mm);
            add_metrics(o, "zero", &mz);
            add_metrics(o, "previous_return", &mp);
            add_metrics(o, "oracle", &mo);
            cJSON_AddStringToObject(o, "dataset", br.dir);
            cJSON_AddStringToObject(o, "run", tr.run_dir);
            cJSON_AddStringToObject(o, "checkpoint", tr.best_ckpt);
            st = bf_json_save(summary_path, o);
            cJSON_Delete(o);

            char d0[16], d1[16];
            bf_date_format(start, d0, sizeof d0);
            bf_date_format(end - 86400, d1, sizeof d1);
            printf("\nbarforge demo: %d synthetic symbols, 15m bars %s .. %s, signal strength %g, seed %lld\n",
                   u.n, d0, d1, strength, (long long)seed);
            printf("\nartifacts\n");
            printf("  bar cache        %s/synthetic/15m/\n", cache_dir);
            printf("  dataset          %s  (train %lld, val %lld, test %lld rows)\n", br.dir,
                   (long long)br.rows[0], (long long)br.rows[1], (long long)br.rows[2]);
            printf("  run folder       %s\n", tr.run_dir);
            printf("  best checkpoint  %s\n", tr.best_ckpt);
            printf("  test metrics     %s\n", json_path);
            printf("  predictions      %s\n", pred_path);
            printf("  this summary     %s\n", summary_path);
            printf("\ntraining: %lld steps, %lld epoch(s)%s, best val loss %.6g, %.0f samples/s\n",
                   (long long)tr.steps, (long long)tr.epochs_done,
                   tr.early_stopped ? " (early stop)" : "", tr.best_val_loss, tr.samples_per_s);
            printf("\ntest split, target y_%d (log return %d bars ahead)\n", horizon, horizon);
            printf("  %-22s %11s %11s %8s %10s %10s %9s\n", "predictor", "mse", "mae", "dir_acc",
                   "hit_top10", "pearson_r", "n");
            char mname[64];
            snprintf(mname, sizeof mname, "model (%s)", arch);
            print_row(mname, &mm);
            print_row("zero", &mz);
            print_row("previous return", &mp);
            print_row("oracle (planted)", &mo);
            printf("\n(dir_acc counts sign matches; the zero predictor's sign is 0 and never matches.\n"
                   " The oracle is the best achievable predictor of the planted signal: docs/features.md.)\n");
            printf("\ntime: fetch %.1fs, build %.1fs, train %.1fs, eval %.1fs, total %.1fs\n", t_fetch,
                   t_build, t_train, t_eval, bf_now() - t0);
            fflush(stdout);
        }
        free(zero);
        free(prev);
        free(orc);
        rows_free(&r);
    }
    st = bf_status_agree(st);
    bf_universe_free(&u);
    return bf_job_finish(&j, st);
}
