/* train.c - `barforge train`: the seed's trainer flags -> bf_train_opts,
 * run core/train/train.h, print the summary. Accepts the seed's smoke-test
 * and full-run command lines unchanged.
 * Exit codes: 0 done, 1 failure (NaN loss, I/O), 2 bad flags or a
 * checkpoint that does not fit, 199 preempted after committing last.h5. */
#include "jobs/job.h"

#include "core/base/log.h"
#include "core/nn/model.h"
#include "core/train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_MODEL 17

int bf_job_train(int argc, char **argv)
{
    bf_train_opts o;
    bf_train_opts_defaults(&o);
    char *datasets_root = NULL, *runs_dir = NULL, *run_dir = NULL, *resume = NULL, *sched = NULL;
    int stride = 1, batch = 128, epochs = 10, patience = 5, use_amp = 0, workers = 0, eval_bs = 0;
    int keep = 3, tb = 0, allow = 0, no_test = 0;
    double lr = 3e-4, wd = 0.01, clip = 1.0, ckpt_sec = 600;
    int64_t warmup = 0, eval_every = 0, log_every = 50, ckpt_steps = 0, seed = 42, max_steps = 0;
    /* typed scratch destinations, so the parser checks each value; the model
     * config is set from the text it accepted (bf_opt.raw) */
    char *mv[N_MODEL] = {0};
    int mi[N_MODEL] = {0};
    double md[N_MODEL] = {0};
    bf_intlist ml[N_MODEL];
    memset(ml, 0, sizeof ml);
    static const char *const mk[N_MODEL] = {
        "arch", "seq-len", "cnn-hidden", "cnn-blocks", "cnn-kernels", "cnn-dilations",
        "cnn-dropout", "patch-size", "patch-stride", "d-model", "n-heads", "num-layers",
        "dropout", "channel-mixer", "emb-dim", "loss", "huber-delta"};
    bf_opt opts[] = {
        {.name = "datasets-root", .type = BF_OPT_STR, .def = "artifacts/datasets", .help = "dataset version folder, or a root whose master/ is used", .dst = &datasets_root},
        {.name = "runs-dir", .type = BF_OPT_STR, .def = "artifacts/runs", .help = "where run folders <YYYYMMDD-HHMMSS>/ are created", .dst = &runs_dir},
        {.name = "run-dir", .type = BF_OPT_STR, .help = "use this run folder instead of a new timestamped one", .dst = &run_dir},
        {.name = "resume", .type = BF_OPT_STR, .help = "a checkpoint file, or 'auto': the newest valid checkpoint of the newest run (a new run when there is none)", .dst = &resume},
        {.name = "arch", .type = BF_OPT_CHOICE, .def = "patchtst", .choices = "patchtst,baseline", .help = "model architecture", .dst = &mv[0]},
        {.name = "seq-len", .type = BF_OPT_POSINT, .def = "64", .help = "window length L", .dst = &mi[1]},
        {.name = "stride", .type = BF_OPT_POSINT, .def = "1", .help = "step between training window ends (validation and test use every window)", .dst = &stride},
        {.name = "batch-size", .type = BF_OPT_POSINT, .def = "128", .help = "global batch (split across MPI ranks)", .dst = &batch},
        {.name = "max-epochs", .type = BF_OPT_POSINT, .def = "10", .help = "epochs", .dst = &epochs},
        {.name = "patience", .type = BF_OPT_NONNEG, .def = "5", .help = "stop after this many evaluations without a better validation loss (0 = never)", .dst = &patience},
        {.name = "use-amp", .type = BF_OPT_FLAG, .def = "0", .help = "mixed precision: bf16 GEMMs with fp32 accumulation on AMX CPUs (Sapphire Rapids+), else fp32 (reported)", .dst = &use_amp},
        {.name = "num-workers", .type = BF_OPT_NONNEG, .def = "0", .help = "CPU threads per rank (at most the cores online; 0 = BARFORGE_THREADS, else all cores)", .dst = &workers},
        {.name = "cnn-hidden", .type = BF_OPT_POSINT, .def = "128", .help = "CNN stem channels", .dst = &mi[2]},
        {.name = "cnn-blocks", .type = BF_OPT_NONNEG, .def = "3", .help = "CNN stem blocks", .dst = &mi[3]},
        {.name = "cnn-kernels", .type = BF_OPT_INTLIST, .def = "5,5,3", .help = "kernel per block", .dst = &ml[4]},
        {.name = "cnn-dilations", .type = BF_OPT_INTLIST, .def = "1,2,4", .help = "dilation per block", .dst = &ml[5]},
        {.name = "cnn-dropout", .type = BF_OPT_FRAC, .def = "0.1", .help = "CNN stem dropout", .dst = &md[6]},
        {.name = "patch-size", .type = BF_OPT_POSINT, .def = "8", .help = "patch length (patchtst)", .dst = &mi[7]},
        {.name = "patch-stride", .type = BF_OPT_POSINT, .def = "4", .help = "patch stride (patchtst)", .dst = &mi[8]},
        {.name = "d-model", .type = BF_OPT_POSINT, .def = "128", .help = "Transformer width", .dst = &mi[9]},
        {.name = "n-heads", .type = BF_OPT_POSINT, .def = "4", .help = "attention heads", .dst = &mi[10]},
        {.name = "num-layers", .type = BF_OPT_POSINT, .def = "3", .help = "Transformer layers", .dst = &mi[11]},
        {.name = "dropout", .type = BF_OPT_FRAC, .def = "0.1", .help = "Transformer dropout", .dst = &md[12]},
        {.name = "channel-mixer", .type = BF_OPT_CHOICE, .def = "mlp", .choices = "mlp,ivar,none", .help = "cross-channel mixer", .dst = &mv[13]},
        {.name = "emb-dim", .type = BF_OPT_NONNEG, .def = "12", .help = "symbol embedding width (0 = none)", .dst = &mi[14]},
        {.name = "loss", .type = BF_OPT_CHOICE, .def = "huber", .choices = "huber,mse", .help = "training loss", .dst = &mv[15]},
        {.name = "huber-delta", .type = BF_OPT_POSFLOAT, .def = "0.01", .help = "Huber threshold", .dst = &md[16]},
        {.name = "lr", .type = BF_OPT_POSFLOAT, .def = "3e-4", .help = "AdamW learning rate", .dst = &lr},
        {.name = "weight-decay", .type = BF_OPT_NONNEGFLOAT, .def = "0.01", .help = "AdamW decoupled weight decay (matrices only)", .dst = &wd},
        {.name = "grad-clip", .type = BF_OPT_NONNEGFLOAT, .def = "1.0", .help = "clip the global gradient norm (0 = off)", .dst = &clip},
        {.name = "lr-schedule", .type = BF_OPT_CHOICE, .def = "none", .choices = "cosine,none", .help = "after warmup: cosine decay to 0 over the run, or constant", .dst = &sched},
        {.name = "warmup-steps", .type = BF_OPT_I64, .def = "0", .help = "linear warmup steps", .dst = &warmup},
        {.name = "eval-every-steps", .type = BF_OPT_I64, .def = "0", .help = "also validate every N steps (0 = at epoch ends only)", .dst = &eval_every},
        {.name = "eval-batch-size", .type = BF_OPT_NONNEG, .def = "0", .help = "validation/test batch (0 = --batch-size)", .dst = &eval_bs},
        {.name = "log-every-steps", .type = BF_OPT_I64, .def = "50", .help = "metrics rows every N steps (0 = per epoch only)", .dst = &log_every},
        {.name = "ckpt-every-steps", .type = BF_OPT_I64, .def = "0", .help = "write checkpoints/step-N.h5 every N steps (0 = off)", .dst = &ckpt_steps},
        {.name = "ckpt-every-seconds", .type = BF_OPT_NONNEGFLOAT, .def = "600", .help = "write checkpoints/step-N.h5 at least this often (0 = off)", .dst = &ckpt_sec},
        {.name = "keep-ckpts", .type = BF_OPT_NONNEG, .def = "3", .help = "newest step-N.h5 kept (0 = all)", .dst = &keep},
        {.name = "tensorboard", .type = BF_OPT_FLAG, .def = "0", .help = "write TensorBoard scalars to <run>/tensorboard/", .dst = &tb},
        {.name = "seed", .type = BF_OPT_I64, .def = "42", .help = "initialization, shuffling and dropout seed", .dst = &seed},
        {.name = "max-steps", .type = BF_OPT_I64, .def = "0", .help = "stop after N optimizer steps in total (0 = no cap)", .dst = &max_steps},
        {.name = "allow-mismatch", .type = BF_OPT_FLAG, .def = "0", .help = "resume or test on a dataset with another checksum, or change dropout/loss flags on resume", .dst = &allow},
        {.name = "no-test", .type = BF_OPT_FLAG, .def = "0", .help = "skip the final test evaluation of best.h5", .dst = &no_test},
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    bf_job j;
    int rc = bf_job_start(&j, "train",
                          "Train the CNN + PatchTST model on a built dataset; checkpoints and "
                          "metrics go to a run folder.",
                          opts, nopts, argc, argv);
    if (rc >= 0)
        return rc;

    o.datasets_root = datasets_root;
    o.runs_dir = runs_dir;
    o.run_dir = run_dir;
    o.resume = resume && *resume ? resume : NULL;
    o.stride = stride;
    o.batch_size = batch;
    o.max_epochs = epochs;
    o.patience = patience;
    o.use_amp = use_amp;
    o.num_workers = workers;
    o.lr = lr;
    o.weight_decay = wd;
    o.grad_clip = clip;
    o.lr_schedule = strcmp(sched, "cosine") == 0 ? BF_LR_COSINE : BF_LR_NONE;
    o.warmup_steps = warmup;
    o.eval_every_steps = eval_every;
    o.eval_batch_size = eval_bs;
    o.log_every_steps = log_every;
    o.ckpt_every_steps = ckpt_steps;
    o.ckpt_every_seconds = ckpt_sec;
    o.keep_ckpts = keep;
    o.tensorboard = tb;
    o.seed = (uint64_t)seed;
    o.max_steps = max_steps;
    o.allow_mismatch = allow;
    o.final_test = !no_test;
    /* model flags: only those the user gave (flag, env, .env) are overrides,
     * so that a resume without model flags takes the checkpoint's config */
    bf_status st = BF_OK;
    for (int i = 0; i < N_MODEL && st == BF_OK; i++) {
        for (int k = 0; k < nopts; k++) {
            if (strcmp(opts[k].name, mk[i]) != 0)
                continue;
            if (opts[k].source && strcmp(opts[k].source, "default") != 0 &&
                strcmp(opts[k].source, "unset") != 0)
                st = bf_train_opts_model_set(&o, mk[i], opts[k].raw);
        }
    }
    /* A fresh run checks the model flags before touching any data, so a bad
     * combination is a usage error (exit 2) naming both flags even when the
     * dataset is missing; n_features/n_symbols come from the dataset later.
     * A resume combines the flags with the checkpoint's config instead. */
    if (st == BF_OK && !o.resume) {
        bf_model_config c;
        bf_model_config_defaults(&c);
        for (int i = 0; i < o.n_model_sets && st == BF_OK; i++)
            st = bf_model_config_set(&c, o.model_keys[i], o.model_vals[i]);
        if (st == BF_OK)
            st = bf_model_config_validate(&c);
    }
    if (st != BF_OK)
        return bf_job_finish(&j, st);
    bf_job_set_threads(workers);
    char *args = bf_cli_config_json(opts, nopts);
    o.args_json = args;

    bf_train_result res;
    st = bf_train_run(&o, &res);
    free(args);
    if (st == BF_OK && bf_mpi_rank() == 0) {
        printf("run: %s\n", res.run_dir);
        printf("steps: %lld, epochs: %lld%s%s\n", (long long)res.steps, (long long)res.epochs_done,
               res.early_stopped ? " (early stopped)" : "",
               res.resumed_from_step >= 0 ? " (resumed)" : "");
        printf("best val loss: %.6g (%s)\n", res.best_val_loss, res.best_ckpt);
        printf("samples/s: %.1f over %.1f s\n", res.samples_per_s, res.wall_s);
        if (res.have_test)
            printf("test: mse %.6g mae %.6g dir_acc %.4f hit_rate_top_decile %.4f pearson_r %.4f "
                   "n %lld (%s/metrics_test.json)\n", res.test.mse, res.test.mae, res.test.dir_acc,
                   res.test.hit_rate_top_decile, res.test.pearson_r, (long long)res.test.n,
                   res.run_dir);
        fflush(stdout);
    }
    return bf_job_finish(&j, st);
}
