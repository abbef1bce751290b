/* eval.c - `barforge eval --checkpoint .../best.h5 [--split test]`: rebuild
 * the model from the checkpoint, predict every window of the split, print and
 * write the seed's metrics JSON and a per-row predictions file
 * (core/train/eval.h). Exit codes: 0, 1 failure, 2 bad flags or a checkpoint
 * that does not fit the dataset. */
#include "jobs/job.h"

#include "core/nn/model.h"
#include "core/train/eval.h"

#include <stdio.h>
#include <string.h>

int bf_job_eval(int argc, char **argv)
{
    char *ckpt = NULL, *root = NULL, *split = NULL, *out = NULL, *pred = NULL;
    int batch = 512, workers = 4, allow = 0;
    bf_opt opts[] = {
        {.name = "checkpoint", .type = BF_OPT_STR, .help = "checkpoint file (e.g. artifacts/runs/<ts>/checkpoints/best.h5)", .dst = &ckpt},
        {.name = "datasets-root", .type = BF_OPT_STR, .def = "artifacts/datasets", .help = "dataset version folder, or a root whose master/ is used", .dst = &root},
        {.name = "split", .type = BF_OPT_CHOICE, .def = "test", .choices = "test,val,train", .help = "split to evaluate (every window)", .dst = &split},
        {.name = "batch-size", .type = BF_OPT_POSINT, .def = "512", .help = "windows per forward pass", .dst = &batch},
        {.name = "num-workers", .type = BF_OPT_NONNEG, .def = "0", .help = "CPU threads per rank (at most the cores online; 0 = BARFORGE_THREADS, else all cores)", .dst = &workers},
        {.name = "out", .type = BF_OPT_STR, .help = "metrics JSON path (default <run>/eval_<ckpt>_<split>.json)", .dst = &out},
        {.name = "predictions", .type = BF_OPT_STR, .help = "per-row predictions, .csv or .h5 (default <run>/predictions_<ckpt>_<split>.csv; 'none' = skip)", .dst = &pred},
        {.name = "allow-mismatch", .type = BF_OPT_FLAG, .def = "0", .help = "evaluate on a dataset whose checksum differs from the checkpoint's", .dst = &allow},
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    bf_job j;
    int rc = bf_job_start(&j, "eval", "Evaluate a checkpoint on a dataset split: mse, mae, dir_acc, "
                          "hit_rate_top_decile, pearson_r, n.", opts, nopts, argc, argv);
    if (rc >= 0)
        return rc;
    if (!ckpt || !*ckpt)
        return bf_job_usage_error(&j, "--checkpoint is required (e.g. "
                                  "artifacts/runs/<ts>/checkpoints/best.h5)");
    bf_job_set_threads(workers);
    bf_eval_opts o;
    bf_eval_opts_defaults(&o);
    o.checkpoint = ckpt;
    o.datasets_root = root;
    o.split = split;
    o.batch_size = batch;
    o.num_workers = workers;
    o.out_json = out;
    o.predictions = pred && strcmp(pred, "none") == 0 ? "" : pred;
    o.allow_mismatch = allow;
    bf_eval_result r;
    bf_status st = bf_eval_run(&o, &r);
    if (st == BF_OK && bf_mpi_rank() == 0) {
        printf("%s\n", r.json);
        fflush(stdout);
        fprintf(stderr, "barforge eval: wrote %s%s%s\n", r.json_path, r.pred_path[0] ? " and " : "",
                r.pred_path);
    }
    return bf_job_finish(&j, st);
}
