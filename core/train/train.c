/* train.c - the training loop (see train.h). Order of work at a step
 * boundary, which exact resume relies on:
 *   1. optimizer step (step += 1, cursor += batch); an epoch ends when the
 *      cursor reaches the permutation's end (epoch += 1, cursor = 0)
 *   2. log row; validation (epoch end or every eval_every_steps), best.h5
 *   3. last.h5 at an epoch end or the end of training; step-N.h5 by
 *      steps/seconds; then preemption
 * Everything that steers the trajectory (params, moments, step, cursor,
 * best loss, patience) is in the checkpoint; what is not (wall time, log
 * accumulators) only changes what is printed.
 */
#define _GNU_SOURCE
#include "core/train/train.h"

#include "core/base/fsutil.h"
#include "core/base/log.h"
#include "core/train/checkpoint.h"
#include "core/train/data.h"
#include "core/train/eval.h"
#include "core/train/fault.h"
#include "core/train/runlog.h"
#include "core/train/rundir.h"
#include "core/train/window.h"
#include "dist/mpi_env.h"
#include "dist/signals.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void bf_train_opts_defaults(bf_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->datasets_root = "artifacts/datasets";
    o->stride = 1;
    o->batch_size = 128;
    o->max_epochs = 10;
    o->patience = 5;
    o->lr = 3e-4;
    o->weight_decay = 0.01;
    o->grad_clip = 1.0;
    o->lr_schedule = BF_LR_NONE;
    o->seed = 42;
    o->final_test = 1;
    o->runs_dir = "artifacts/runs";
    o->log_every_steps = 50;
    o->ckpt_every_seconds = 600;
    o->keep_ckpts = 3;
}

bf_status bf_train_opts_model_set(bf_train_opts *o, const char *key, const char *value)
{
    if (o->n_model_sets >= BF_TRAIN_MAX_MODEL_SETS)
        return BF_FAIL(BF_EINVAL, "too many model flags (at most %d)", BF_TRAIN_MAX_MODEL_SETS);
    bf_model_config probe;
    bf_model_config_defaults(&probe);
    BF_TRY(bf_model_config_set(&probe, key, value));
    o->model_keys[o->n_model_sets] = key;
    o->model_vals[o->n_model_sets] = value;
    o->n_model_sets++;
    return BF_OK;
}

double bf_train_lr_at(const bf_train_opts *o, int64_t step, int64_t total)
{
    if (o->warmup_steps > 0 && step < o->warmup_steps)
        return o->lr * (double)(step + 1) / (double)o->warmup_steps;
    if (o->lr_schedule == BF_LR_NONE)
        return o->lr;
    int64_t span = total - o->warmup_steps;
    double p = span > 0 ? (double)(step - o->warmup_steps) / (double)span : 1.0;
    if (p > 1)
        p = 1;
    return o->lr * 0.5 * (1.0 + cos(M_PI * p));
}

typedef struct acc {
    double loss_sum, gn_sum, t0;
    int64_t n, steps;
} acc;

static void acc_reset(acc *a)
{
    memset(a, 0, sizeof *a);
    a->t0 = bf_now();
}

typedef struct trainer {
    const bf_train_opts *o;
    bf_train_result *res;
    int rank, size;
    bf_split_data tr, va;
    bf_window_index wtr, wva;
    bf_window_source str, sva;
    bf_model m;
    bf_ckpt_state s;
    int64_t *perm;
    float *xb, *yb;
    int32_t *symb;
    int max_local, eval_bs;
    bf_run_paths rp;
    bf_runlog log;
    int64_t total_steps, steps_per_epoch;
    double t_start, t_last_ckpt;
    int64_t samples_session;
    acc iv, ep;
    int64_t last_saved_step; /* step and state of the last last.h5 this session */
    int64_t last_saved_finished;
    int64_t last_eval_step;
    char good_ckpt[4300];    /* newest resume point committed, for error messages */
    int64_t good_step;
    char kept[4500];
} trainer;

static const char *kept_msg(trainer *t)
{
    if (t->good_ckpt[0])
        snprintf(t->kept, sizeof t->kept, "the last good checkpoint %s (step %lld) is kept",
                 t->good_ckpt, (long long)t->good_step);
    else
        snprintf(t->kept, sizeof t->kept, "no checkpoint had been written");
    return t->kept;
}

/* ---- evaluation -------------------------------------------------------- */

static bf_status eval_val(trainer *t, double *loss)
{
    int64_t lo, hi;
    bf_shard_range(t->wva.n, t->rank, t->size, &lo, &hi);
    double sums[2] = {0, (double)(hi - lo)};
    BF_TRY(bf_eval_predict(&t->m, &t->wva, &t->sva, lo, hi, t->eval_bs, t->xb, t->yb, t->symb,
                           NULL, NULL, NULL, &sums[0]));
    if (t->size > 1)
        BF_TRY(bf_allreduce_sum_f64(sums, 2));
    *loss = sums[0] / sums[1];
    if (!isfinite(*loss))
        return BF_FAIL(BF_ENAN, "validation loss is %g at step %lld (epoch %lld): the model "
                       "diverged; %s", *loss, (long long)t->s.step, (long long)t->s.epoch + 1,
                       kept_msg(t));
    return BF_OK;
}

static bf_status save(trainer *t, const char *path)
{
    bf_status st = BF_OK;
    if (t->rank == 0) {
        t->s.elapsed_s += bf_now() - t->t_start;
        t->t_start = bf_now();
        double t0 = bf_now();
        st = bf_ckpt_save(path, &t->m, &t->s, t->o->args_json, t->tr.version, t->tr.checksum);
        if (st == BF_OK)
            BF_DEBUG("checkpoint %s (step %lld) committed in %.3f s", path, (long long)t->s.step,
                     bf_now() - t0);
    }
    if (t->size > 1) {
        bf_status agreed = bf_status_agree(st);
        if (agreed != BF_OK && st == BF_OK)
            return BF_FAIL(agreed, "rank 0 failed to write checkpoint '%s'", path);
    }
    if (st == BF_OK && strcmp(path, t->rp.best) != 0) {
        snprintf(t->good_ckpt, sizeof t->good_ckpt, "%s", path);
        t->good_step = t->s.step;
    }
    return st;
}

static bf_status evaluate(trainer *t, int epoch_end)
{
    double vl;
    BF_TRY(eval_val(t, &vl));
    t->last_eval_step = t->s.step;
    t->s.val_loss = vl;
    int improved = vl < t->s.best_val_loss;
    if (improved) {
        t->s.best_val_loss = vl;
        t->s.best_step = t->s.step;
        t->s.patience_counter = 0;
        BF_TRY(save(t, t->rp.best));
    } else {
        t->s.patience_counter++;
        if (t->o->patience > 0 && t->s.patience_counter >= t->o->patience) {
            t->s.finished = 1;
            t->res->early_stopped = 1;
            bf_log0(BF_LOG_INFO, "early stopping at step %lld: validation loss has not improved "
                    "for %lld evaluations (best %.6g at step %lld)", (long long)t->s.step,
                    (long long)t->s.patience_counter, t->s.best_val_loss,
                    (long long)t->s.best_step);
        }
    }
    if (!epoch_end) {
        bf_logrow r;
        bf_logrow_init(&r, "eval");
        r.epoch = t->s.epoch;
        r.step = t->s.step;
        r.samples = t->s.samples_seen;
        r.val_loss = vl;
        r.best_val_loss = t->s.best_val_loss;
        r.lr = t->s.lr;
        BF_TRY(bf_runlog_write(&t->log, &r));
        bf_log0(BF_LOG_INFO, "step %lld: val_loss %.6g%s", (long long)t->s.step, vl,
                improved ? " (best)" : "");
    }
    return BF_OK;
}

/* ---- one optimizer step --------------------------------------------------- */

static bf_status step(trainer *t, const int64_t *ids, int bsz, double lr, double *loss_out,
                      float *gn_out, int *preempt)
{
    int64_t lo, hi;
    bf_shard_range(bsz, t->rank, t->size, &lo, &hi);
    int nl = (int)(hi - lo);
    float loss = 0;
    bf_status fst = BF_OK;
    bf_model_zero_grad(&t->m);
    if (nl > 0) {
        bf_window_gather(&t->wtr, &t->str, ids + lo, nl, t->xb, t->yb, t->symb, NULL);
        fst = bf_model_forward(&t->m, t->xb, t->symb, t->yb, nl, 1, (uint64_t)t->s.step, &loss);
    }
    int64_t bad_step;
    if (bf_fault_get("nan_loss", 1, &bad_step) && t->s.step + 1 == bad_step) {
        loss = NAN;
        fst = BF_ENAN;
    }
    if (fst == BF_OK && !isfinite(loss))
        fst = BF_ENAN;
    double red[3] = {fst == BF_OK ? (double)loss * nl : 0.0, fst != BF_OK ? 1.0 : 0.0,
                     bf_signals_pending() ? 1.0 : 0.0};
    if (t->size > 1)
        BF_TRY(bf_allreduce_sum_f64(red, 3));
    if (red[1] > 0) {
        if (fst != BF_OK && fst != BF_ENAN)
            return fst;
        return BF_FAIL(BF_ENAN, "training loss is not finite at step %lld (epoch %lld, windows "
                       "%lld..%lld of the epoch): stopping; %s",
                       (long long)t->s.step + 1, (long long)t->s.epoch + 1,
                       (long long)t->s.cursor, (long long)t->s.cursor + bsz - 1, kept_msg(t));
    }
    *loss_out = red[0] / bsz;
    *preempt = red[2] > 0;
    if (nl > 0) {
        BF_TRY(bf_model_backward(&t->m));
        if (t->size > 1) {
            /* local grads are means over nl windows; weight them so the sum
             * over ranks is the mean over the global batch */
            float w = (float)nl / (float)bsz;
            for (int64_t i = 0; i < t->m.n_params; i++)
                t->m.grads[i] *= w;
        }
    }
    if (t->size > 1)
        BF_TRY(bf_allreduce_sum_f32(t->m.grads, t->m.n_params));
    float gn = bf_grad_clip(t->m.grads, t->m.n_params, (float)t->o->grad_clip);
    if (!isfinite(gn))
        return BF_FAIL(BF_ENAN, "gradient norm is not finite at step %lld (epoch %lld): "
                       "stopping; %s", (long long)t->s.step + 1, (long long)t->s.epoch + 1,
                       kept_msg(t));
    bf_model_adamw_step(&t->m, (float)lr, 0.9f, 0.999f, 1e-8f, (float)t->o->weight_decay,
                        t->s.step + 1);
    *gn_out = gn;
    return BF_OK;
}

/* ---- setup ---------------------------------------------------------------- */

static bf_status open_data(trainer *t)
{
    const bf_train_opts *o = t->o;
    BF_TRY(bf_split_data_open(o->datasets_root, "train", &t->tr));
    BF_TRY(bf_split_data_open(o->datasets_root, "val", &t->va));
    if (t->va.F != t->tr.F)
        return BF_FAIL(BF_ECORRUPT, "dataset '%s': val has %d features, train %d", t->tr.dir,
                       t->va.F, t->tr.F);
    t->str = bf_split_data_source(&t->tr);
    t->sva = bf_split_data_source(&t->va);
    return BF_OK;
}

static bf_status index_windows(trainer *t, int L)
{
    BF_TRY(bf_window_index_build(&t->wtr, t->tr.sym_id, t->tr.n_rows, L, t->o->stride));
    BF_TRY(bf_window_index_build(&t->wva, t->va.sym_id, t->va.n_rows, L, 1));
    if (t->wtr.n == 0)
        return BF_FAIL(BF_EINVAL, "--seq-len %d: the train split of '%s' has no window (no symbol "
                       "has %d rows); use a shorter --seq-len or a longer dataset", L, t->tr.dir, L);
    if (t->wva.n == 0)
        return BF_FAIL(BF_EINVAL, "--seq-len %d: the val split of '%s' has no window; use a "
                       "shorter --seq-len or a larger validation fraction", L, t->tr.dir);
    t->steps_per_epoch = (t->wtr.n + t->o->batch_size - 1) / t->o->batch_size;
    t->total_steps = t->steps_per_epoch * t->o->max_epochs;
    if (t->o->max_steps > 0 && t->o->max_steps < t->total_steps)
        t->total_steps = t->o->max_steps;
    return BF_OK;
}

static bf_status alloc_buffers(trainer *t, const bf_model_config *cfg)
{
    int64_t lo, hi;
    bf_shard_range(t->o->batch_size, 0, t->size, &lo, &hi); /* rank 0 has the largest shard */
    t->eval_bs = t->o->eval_batch_size > 0 ? t->o->eval_batch_size : t->o->batch_size;
    t->max_local = (int)(hi - lo) > t->eval_bs ? (int)(hi - lo) : t->eval_bs;
    size_t per = (size_t)cfg->n_features * (size_t)cfg->seq_len;
    t->xb = malloc((size_t)t->max_local * per * sizeof(float));
    t->yb = malloc((size_t)t->max_local * sizeof(float));
    t->symb = malloc((size_t)t->max_local * sizeof(int32_t));
    t->perm = malloc((size_t)t->wtr.n * sizeof(int64_t));
    if (!t->xb || !t->yb || !t->symb || !t->perm)
        return BF_FAIL(BF_ENOMEM, "out of memory for batch buffers (%d windows of %zu floats)",
                       t->max_local, per);
    return BF_OK;
}

static void trainer_free(trainer *t)
{
    bf_runlog_close(&t->log);
    bf_model_free(&t->m);
    bf_window_index_free(&t->wtr);
    bf_window_index_free(&t->wva);
    bf_split_data_free(&t->tr);
    bf_split_data_free(&t->va);
    free(t->perm);
    free(t->xb);
    free(t->yb);
    free(t->symb);
}

/* ---- the loop ---------------------------------------------------------------- */

static void fmt_hms(double s, char *buf, size_t n)
{
    long v = (long)s;
    snprintf(buf, n, "%ld:%02ld:%02ld", v / 3600, (v / 60) % 60, v % 60);
}

static bf_status log_interval(trainer *t)
{
    if (t->iv.steps == 0)
        return BF_OK;
    double dt = bf_now() - t->iv.t0;
    bf_logrow r;
    bf_logrow_init(&r, "interval");
    r.epoch = t->s.epoch;
    r.step = t->s.step;
    r.samples = t->s.samples_seen;
    r.train_loss = t->iv.loss_sum / (double)t->iv.n;
    r.lr = t->s.lr;
    r.grad_norm = t->iv.gn_sum / (double)t->iv.steps;
    r.samples_per_s = dt > 0 ? (double)t->iv.n / dt : NAN;
    r.elapsed_s = t->s.elapsed_s + bf_now() - t->t_start;
    acc_reset(&t->iv);
    return bf_runlog_write(&t->log, &r);
}

static bf_status log_epoch(trainer *t, int64_t epoch_done)
{
    double dt = bf_now() - t->ep.t0;
    bf_logrow r;
    bf_logrow_init(&r, "epoch");
    r.epoch = epoch_done;
    r.step = t->s.step;
    r.samples = t->s.samples_seen;
    r.train_loss = t->ep.n ? t->ep.loss_sum / (double)t->ep.n : NAN;
    r.val_loss = t->s.val_loss;
    r.best_val_loss = t->s.best_val_loss;
    r.lr = t->s.lr;
    r.grad_norm = t->ep.steps ? t->ep.gn_sum / (double)t->ep.steps : NAN;
    r.samples_per_s = dt > 0 ? (double)t->ep.n / dt : NAN;
    r.elapsed_s = t->s.elapsed_s + bf_now() - t->t_start;
    t->res->last_train_loss = r.train_loss;
    char el[32];
    fmt_hms(r.elapsed_s, el, sizeof el);
    bf_log0(BF_LOG_INFO, "epoch %lld/%d | train_loss %.6g | val_loss %.6g%s | lr %.3g | "
            "grad_norm %.4g | %.0f samples/s | elapsed %s", (long long)epoch_done,
            t->o->max_epochs, r.train_loss, r.val_loss,
            t->s.best_step == t->s.step ? " (best)" : "", r.lr, r.grad_norm, r.samples_per_s, el);
    acc_reset(&t->ep);
    return bf_runlog_write(&t->log, &r);
}

static bf_status periodic_ckpt(trainer *t)
{
    const bf_train_opts *o = t->o;
    int due = o->ckpt_every_steps > 0 && t->s.step % o->ckpt_every_steps == 0;
    if (o->ckpt_every_seconds > 0) {
        /* rank 0's clock decides, so every rank takes the same branch */
        int late = t->rank == 0 && bf_now() - t->t_last_ckpt >= o->ckpt_every_seconds;
        if (t->size > 1) {
            int64_t v = late;
            BF_TRY(bf_allreduce_max_i64(&v, 1));
            late = (int)v;
        }
        due |= late;
    }
    if (!due)
        return BF_OK;
    char path[4200];
    bf_ckpt_step_path(t->rp.ckpt_dir, t->s.step, path, sizeof path);
    BF_TRY(save(t, path));
    t->t_last_ckpt = bf_now();
    if (t->rank == 0)
        BF_TRY(bf_ckpt_prune(t->rp.ckpt_dir, o->keep_ckpts));
    return BF_OK;
}

static bf_status save_last(trainer *t)
{
    if (t->last_saved_step == t->s.step && t->last_saved_finished == t->s.finished)
        return BF_OK;
    BF_TRY(save(t, t->rp.last));
    t->last_saved_step = t->s.step;
    t->last_saved_finished = t->s.finished;
    return BF_OK;
}

static bf_status run_epochs(trainer *t)
{
    const bf_train_opts *o = t->o;
    const int64_t nw = t->wtr.n;
    acc_reset(&t->iv);
    acc_reset(&t->ep);
    while (!t->s.finished) {
        if (t->s.epoch >= o->max_epochs || (o->max_steps > 0 && t->s.step >= o->max_steps)) {
            t->s.finished = 1;
            break;
        }
        bf_window_epoch_permutation(t->s.rng_seed, t->s.epoch, t->perm, nw);
        char what[64];
        snprintf(what, sizeof what, "epoch %lld/%d", (long long)t->s.epoch + 1, o->max_epochs);
        bf_progress prog;
        bf_progress_start(&prog, what, t->steps_per_epoch);
        int epoch_end = 0;
        while (!epoch_end && !t->s.finished) {
            int bsz = (int)(nw - t->s.cursor < o->batch_size ? nw - t->s.cursor : o->batch_size);
            double lr = bf_train_lr_at(o, t->s.step, t->total_steps), loss = 0;
            float gn = 0;
            int preempt = 0;
            BF_TRY(step(t, t->perm + t->s.cursor, bsz, lr, &loss, &gn, &preempt));
            t->s.step++;
            t->s.cursor += bsz;
            t->s.samples_seen += bsz;
            t->samples_session += bsz;
            t->s.lr = lr;
            int64_t at;
            if (bf_fault_get("step_sleep_ms", 0, &at) && at > 0)
                usleep((useconds_t)at * 1000); /* slows a run so a test can signal it mid-way */
            if (bf_fault_get("kill_at_step", 0, &at) && t->s.step == at)
                raise(SIGKILL); /* a node dying: nothing of this step is committed */
            acc *as[2] = {&t->iv, &t->ep};
            for (int i = 0; i < 2; i++) {
                as[i]->loss_sum += loss * bsz;
                as[i]->n += bsz;
                as[i]->gn_sum += gn;
                as[i]->steps++;
            }
            bf_progress_update(&prog, (t->s.cursor + o->batch_size - 1) / o->batch_size);
            int64_t epoch_done = t->s.epoch + 1;
            if (t->s.cursor >= nw) {
                epoch_end = 1;
                t->s.epoch++;
                t->s.cursor = 0;
            }
            if (o->log_every_steps > 0 && t->s.step % o->log_every_steps == 0)
                BF_TRY(log_interval(t));
            if (epoch_end || (o->eval_every_steps > 0 && t->s.step % o->eval_every_steps == 0))
                BF_TRY(evaluate(t, epoch_end));
            if (epoch_end) {
                bf_progress_end(&prog);
                BF_TRY(log_epoch(t, epoch_done));
            }
            if (t->s.epoch >= o->max_epochs || (o->max_steps > 0 && t->s.step >= o->max_steps))
                t->s.finished = 1;
            if (epoch_end || t->s.finished)
                BF_TRY(save_last(t));
            BF_TRY(periodic_ckpt(t));
            if (bf_fault_get("sigterm_at_step", 0, &at) && t->s.step == at)
                raise(SIGTERM);
            if (preempt || (t->size == 1 && bf_signals_pending())) {
                bf_progress_end(&prog);
                int sig = bf_signals_pending();
                BF_TRY(save_last(t));
                t->res->preempted_signal = sig ? sig : SIGTERM;
                return BF_FAIL(BF_EPREEMPTED, "stopped by %s after step %lld; checkpoint '%s' "
                               "committed; resume with --resume auto",
                               bf_signal_name(t->res->preempted_signal), (long long)t->s.step,
                               t->rp.last);
            }
        }
        bf_progress_end(&prog);
    }
    /* the end of training is a resume point and has a validation loss */
    if (t->last_eval_step != t->s.step && t->s.best_step < 0)
        BF_TRY(evaluate(t, 0));
    BF_TRY(save_last(t));
    return BF_OK;
}

/* ---- entry ------------------------------------------------------------------- */

static bf_status train_main(trainer *t)
{
    const bf_train_opts *o = t->o;
    bf_train_result *res = t->res;
    if (o->batch_size < 1 || o->max_epochs < 1 || o->stride < 1)
        return BF_FAIL(BF_EINVAL, "--batch-size %d, --max-epochs %d and --stride %d must be >= 1",
                       o->batch_size, o->max_epochs, o->stride);
    if (o->batch_size < t->size)
        return BF_FAIL(BF_EINVAL, "--batch-size %d is smaller than the %d ranks: every rank needs "
                       "at least one window per step", o->batch_size, t->size);
    if (o->use_amp && bf_nn_set_amp(1))
        bf_log0(BF_LOG_INFO, "--use-amp: GEMM inputs rounded to bfloat16 on AMX, fp32 "
                "accumulation, parameters, optimizer and other ops (docs/model.md)");
    else if (o->use_amp)
        bf_log0(BF_LOG_INFO, "--use-amp: no AMX bf16 here, training runs in float32");
    BF_TRY(open_data(t));

    /* where this run lives and what it resumes from (rank 0 decides) */
    bf_ckpt_info ck;
    memset(&ck, 0, sizeof ck);
    BF_TRY(bf_run_resolve(o, &t->rp));
    int resuming = t->rp.resume_from[0] != 0;
    if (resuming)
        BF_TRY(bf_ckpt_read_info(t->rp.resume_from, &ck));
    bf_model_config cfg;
    bf_status st = bf_run_model_config(o, &t->tr, resuming ? &ck : NULL, t->rp.resume_from, &cfg);
    if (st == BF_OK)
        st = index_windows(t, cfg.seq_len);
    if (st == BF_OK)
        st = alloc_buffers(t, &cfg);
    if (st == BF_OK)
        st = bf_model_init(&t->m, &cfg, t->max_local, resuming ? ck.state.rng_seed : o->seed);
    t->m.dropout_salt = (uint32_t)t->rank;
    bf_ckpt_state_init(&t->s, o->seed);
    if (st == BF_OK && resuming) {
        st = bf_ckpt_load(t->rp.resume_from, &t->m, &t->s, NULL);
        if (st == BF_OK && t->s.n_train_windows != t->wtr.n) {
            if (!o->allow_mismatch)
                st = BF_FAIL(BF_EINVAL, "checkpoint '%s' was taken over %lld training windows, this "
                             "run has %lld (another --stride, --seq-len or dataset); pass "
                             "--allow-mismatch to restart the current epoch", t->rp.resume_from,
                             (long long)t->s.n_train_windows, (long long)t->wtr.n);
            else
                t->s.cursor = 0;
        }
    }
    bf_ckpt_info_free(&ck);
    BF_TRY(st);
    if (resuming) {
        /* whether training is over follows from this invocation's limits, so a
         * finished run resumed with a larger --max-epochs continues */
        t->s.finished = t->s.epoch >= o->max_epochs ||
                        (o->max_steps > 0 && t->s.step >= o->max_steps) ||
                        (o->patience > 0 && t->s.patience_counter >= o->patience);
    }
    t->s.n_train_windows = t->wtr.n;
    res->resumed_from_step = resuming ? t->s.step : -1;
    if (resuming) {
        snprintf(t->good_ckpt, sizeof t->good_ckpt, "%s", t->rp.resume_from);
        t->good_step = t->s.step;
    }
    t->last_saved_step = -1; /* last.h5 may be older than (or not) the file resumed from */
    t->last_saved_finished = t->s.finished;
    t->last_eval_step = -1;
    if (t->rank == 0) {
        BF_TRY(bf_run_write_configs(&t->rp, o, &t->m, &t->tr, resuming, t->s.step));
        BF_TRY(bf_runlog_open(&t->log, t->rp.run_dir, o->tensorboard, resuming ? t->s.step : -1));
        if (bf_log_get_level() <= BF_LOG_DEBUG)
            bf_model_print_summary(&t->m); /* every tensor: only when asked for */
        else
            bf_log0(BF_LOG_INFO, "model %s: %lld parameters in %d tensors",
                    bf_arch_name(t->m.cfg.arch), (long long)t->m.n_params, t->m.n_tensors);
    }
    bf_log0(BF_LOG_INFO, "run %s: %lld train windows (stride %d), %lld val windows, batch %d x %d "
            "rank(s), %lld steps/epoch, %d thread(s) per rank", t->rp.run_dir, (long long)t->wtr.n,
            o->stride, (long long)t->wva.n, o->batch_size, t->size, (long long)t->steps_per_epoch,
            bf_nn_threads());
    if (resuming)
        bf_log0(BF_LOG_INFO, "resuming from %s: epoch %lld, step %lld, window %lld of the epoch",
                t->rp.resume_from, (long long)t->s.epoch + 1, (long long)t->s.step,
                (long long)t->s.cursor);
    t->t_start = t->t_last_ckpt = bf_now();
    double t_session = bf_now();
    BF_TRY(bf_signals_install());
    st = run_epochs(t);
    bf_signals_restore();
    res->steps = t->s.step;
    res->epochs_done = t->s.epoch;
    res->best_val_loss = t->s.best_val_loss;
    res->last_val_loss = t->s.val_loss;
    res->wall_s = bf_now() - t_session;
    res->samples_per_s = res->wall_s > 0 ? (double)t->samples_session / res->wall_s : 0;
    return st;
}

bf_status bf_train_run(const bf_train_opts *o, bf_train_result *res)
{
    memset(res, 0, sizeof *res);
    res->resumed_from_step = -1;
    trainer t;
    memset(&t, 0, sizeof t);
    t.o = o;
    t.res = res;
    t.rank = bf_mpi_rank();
    t.size = bf_mpi_size();
    bf_status st = train_main(&t);
    bf_nn_set_amp(0); /* process-wide: the final test and any later job run fp32 */
    snprintf(res->run_dir, sizeof res->run_dir, "%s", t.rp.run_dir);
    snprintf(res->best_ckpt, sizeof res->best_ckpt, "%s", t.rp.best);
    snprintf(res->last_ckpt, sizeof res->last_ckpt, "%s", t.rp.last);
    char root[4096];
    snprintf(root, sizeof root, "%s", t.tr.dir);
    trainer_free(&t);
    if (st != BF_OK || !o->final_test)
        return st;

    /* the seed's final step: the best checkpoint on the test split */
    if (!bf_path_exists(res->best_ckpt))
        return BF_FAIL(BF_ENOTFOUND, "no best checkpoint '%s' to test", res->best_ckpt);
    bf_eval_opts eo;
    bf_eval_opts_defaults(&eo);
    eo.checkpoint = res->best_ckpt;
    eo.datasets_root = root;
    eo.split = "test";
    eo.batch_size = o->eval_batch_size > 0 ? o->eval_batch_size : 512;
    eo.allow_mismatch = o->allow_mismatch;
    char json[4200], pred[4200];
    snprintf(json, sizeof json, "%s/metrics_test.json", res->run_dir);
    snprintf(pred, sizeof pred, "%s/predictions_test.csv", res->run_dir);
    eo.out_json = json;
    eo.predictions = pred;
    bf_eval_result er;
    BF_TRY(bf_eval_run(&eo, &er));
    res->have_test = 1;
    res->test = er.m;
    return BF_OK;
}
