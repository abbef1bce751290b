/* test_train_checkpoint.c - checkpoint round trip (bit-exact params, moments
 * and state), checksum detection of a flipped byte, truncation, resume-point
 * selection skipping a corrupt newest file, retention, an injected write
 * failure and a SIGKILL halfway through a write leaving the previous file
 * intact, and a checkpoint from another architecture refused. */
#define _GNU_SOURCE
#include "core/base/fsutil.h"
#include "core/base/log.h"
#include "core/train/checkpoint.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/test_util.h"

static char dir[256];

static void tiny_config(bf_model_config *c, bf_arch arch)
{
    bf_model_config_defaults(c);
    c->arch = arch;
    c->n_features = 3;
    c->seq_len = 16;
    c->n_symbols = 2;
    c->emb_dim = 2;
    c->cnn_hidden = 4;
    c->cnn_blocks = 1;
    c->cnn_kernels[0] = 3;
    c->cnn_dilations[0] = 1;
    c->n_cnn_kernels = c->n_cnn_dilations = 1;
    c->patch_size = 4;
    c->patch_stride = 4;
    c->d_model = 8;
    c->n_heads = 2;
    c->num_layers = 1;
}

static void fill(bf_model *m, float base)
{
    for (int64_t i = 0; i < m->n_params; i++) {
        m->params[i] = base + sinf((float)i); /* distinctive bytes to find in the file */
        m->m[i] = base + 0.001f * (float)i;
        m->v[i] = base * 0.5f + 1e-6f * (float)i;
    }
}

static void state(bf_ckpt_state *s, int64_t step)
{
    bf_ckpt_state_init(s, 1234);
    s->epoch = 2;
    s->cursor = 17;
    s->step = step;
    s->samples_seen = 999;
    s->patience_counter = 1;
    s->best_step = step - 1;
    s->n_train_windows = 321;
    s->val_loss = 0.125;
    s->best_val_loss = 0.0625;
    s->lr = 3e-4;
    s->elapsed_s = 12.5;
}

static void copy_file(const char *a, const char *b)
{
    char *d = NULL;
    size_t n = 0;
    if (bf_read_file(a, &d, &n) != BF_OK || bf_write_file_atomic(b, d, n) != BF_OK)
        T_CHECK(0, "copy %s -> %s failed", a, b);
    free(d);
}

/* flip one byte of the params data found by content */
static int flip_param_byte(const char *path, const bf_model *m)
{
    char *d = NULL;
    size_t n = 0;
    if (bf_read_file(path, &d, &n) != BF_OK)
        return 0;
    const char *needle = (const char *)(m->params + 40);
    int done = 0;
    for (size_t i = 0; i + 32 <= n && !done; i++)
        if (memcmp(d + i, needle, 32) == 0) {
            d[i + 5] ^= 0x10;
            done = 1;
        }
    if (done)
        bf_write_file_atomic(path, d, n);
    free(d);
    return done;
}

static void truncate_half(const char *path)
{
    char *d = NULL;
    size_t n = 0;
    bf_read_file(path, &d, &n);
    bf_write_file_atomic(path, d, n / 2);
    free(d);
}

static int same_bits(const float *a, const float *b, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
            T_CHECK(0, "%s differs at %lld: %.9g vs %.9g", what, (long long)i, (double)a[i],
                  (double)b[i]);
            return 0;
        }
    return 1;
}

int main(void)
{
    bf_log_configure(BF_LOG_ERROR, 0);
    snprintf(dir, sizeof dir, "/tmp/bf_test_ckpt_%ld", (long)getpid());
    bf_mkdir_p(dir);
    char a[512], p[1100];
    snprintf(a, sizeof a, "%s/a.h5", dir);

    bf_model_config cfg;
    tiny_config(&cfg, BF_ARCH_PATCHTST);
    bf_model A, B;
    if (bf_model_init(&A, &cfg, 4, 1) != BF_OK || bf_model_init(&B, &cfg, 4, 2) != BF_OK) {
        fprintf(stderr, "FAIL model init: %s\n", bf_last_error());
        return 1;
    }
    fill(&A, 0.25f);
    fill(&B, 0.75f);
    bf_ckpt_state sa, sb;
    state(&sa, 10);

    /* 1. SIGKILL halfway through the first save of a child: nothing at a.h5,
     *    a stale temp file; then the previous-file case with a real file */
    T_CHECK(bf_ckpt_save(a, &A, &sa, "{\"lr\":0.0003}", "v2024-01-01", "abcd1234") == BF_OK,
          "save: %s", bf_last_error());
    pid_t pid = fork();
    if (pid == 0) {
        setenv("BARFORGE_FAULT", "ckpt_kill_mid_write:2", 1);
        bf_ckpt_state s2;
        state(&s2, 11);
        bf_ckpt_save(a, &B, &s2, "{}", "v2", "ffff");
        _exit(0); /* not reached when the fault fires */
    }
    int wst = 0;
    waitpid(pid, &wst, 0);
    T_CHECK(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL, "child was not killed mid-write (status %d)", wst);
    bf_ckpt_info info;
    T_CHECK(bf_ckpt_read_info(a, &info) == BF_OK && info.state.step == 10,
          "previous checkpoint damaged by a kill mid-write: %s", bf_last_error());
    bf_ckpt_info_free(&info);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", a, (long)pid);
    T_CHECK(bf_path_exists(tmp), "expected the killed writer's temp file %s", tmp);
    bf_ckpt_remove_stale_tmp(dir);
    T_CHECK(!bf_path_exists(tmp), "stale temp file not removed");

    /* 2. round trip */
    T_CHECK(bf_ckpt_read_info(a, &info) == BF_OK, "read_info: %s", bf_last_error());
    T_CHECK(info.n_params == A.n_params, "n_params %lld vs %lld", (long long)info.n_params,
          (long long)A.n_params);
    T_CHECK(memcmp(&info.state, &sa, sizeof sa) == 0, "state differs after the round trip");
    T_CHECK(strcmp(info.args_json, "{\"lr\":0.0003}") == 0, "args_json '%s'", info.args_json);
    T_CHECK(strcmp(info.dataset_version, "v2024-01-01") == 0 &&
          strcmp(info.dataset_checksum, "abcd1234") == 0, "dataset provenance lost");
    T_CHECK(info.cfg.d_model == 8 && info.cfg.seq_len == 16 && info.cfg.arch == BF_ARCH_PATCHTST,
          "config lost");
    bf_ckpt_info_free(&info);
    T_CHECK(bf_ckpt_load(a, &B, &sb, NULL) == BF_OK, "load: %s", bf_last_error());
    same_bits(A.params, B.params, A.n_params, "params");
    same_bits(A.m, B.m, A.n_params, "adam m");
    same_bits(A.v, B.v, A.n_params, "adam v");
    T_CHECK(memcmp(&sa, &sb, sizeof sa) == 0, "loaded state differs");

    /* 3. a flipped byte in the params is caught by the checksum */
    snprintf(p, sizeof p, "%s/flip.h5", dir);
    copy_file(a, p);
    T_CHECK(flip_param_byte(p, &A), "params bytes not found in the file");
    bf_status st = bf_ckpt_read_info(p, &info);
    T_CHECK(st == BF_ECORRUPT && strstr(bf_last_error(), "checksum"),
          "flipped byte: status %s, message '%s'", bf_status_name(st), bf_last_error());
    T_CHECK(bf_ckpt_load(p, &B, NULL, NULL) == BF_ECORRUPT, "load of a flipped file succeeded");

    /* 4. truncation */
    snprintf(p, sizeof p, "%s/trunc.h5", dir);
    copy_file(a, p);
    truncate_half(p);
    st = bf_ckpt_read_info(p, &info);
    T_CHECK(st == BF_ECORRUPT, "truncated: status %s (%s)", bf_status_name(st), bf_last_error());
    snprintf(p, sizeof p, "%s/none.h5", dir);
    T_CHECK(bf_ckpt_read_info(p, &info) == BF_ENOTFOUND, "missing file not BF_ENOTFOUND");

    /* 5. resume point: newest valid by step; corrupt newer ones skipped */
    char cd[512];
    snprintf(cd, sizeof cd, "%s/checkpoints", dir);
    bf_mkdir_p(cd);
    for (int s = 2; s <= 6; s += 2) {
        bf_ckpt_state ss;
        state(&ss, s);
        bf_ckpt_step_path(cd, s, p, sizeof p);
        T_CHECK(bf_ckpt_save(p, &A, &ss, "{}", "v", "c") == BF_OK, "save step %d", s);
    }
    bf_ckpt_state s8;
    state(&s8, 8);
    snprintf(p, sizeof p, "%s/last.h5", cd);
    bf_ckpt_save(p, &A, &s8, "{}", "v", "c");
    char best[512];
    T_CHECK(bf_ckpt_find_latest(cd, best, sizeof best, &info) == BF_OK && info.state.step == 8,
          "newest should be last.h5 at step 8, got %s", best);
    bf_ckpt_info_free(&info);
    truncate_half(p); /* newest (last.h5) truncated */
    snprintf(p, sizeof p, "%s/step-00000099.h5", cd);
    bf_write_file_atomic(p, "not hdf5", 8); /* garbage with a newer name */
    bf_ckpt_step_path(cd, 6, p, sizeof p);
    flip_param_byte(p, &A); /* step 6 damaged too */
    T_CHECK(bf_ckpt_find_latest(cd, best, sizeof best, &info) == BF_OK && info.state.step == 4,
          "expected step-00000004.h5 after skipping damaged files, got '%s' step %lld", best,
          (long long)info.state.step);
    bf_ckpt_info_free(&info);

    /* 6. retention: keep the newest 2 step files (99, 6; then 4 and 2 go) */
    T_CHECK(bf_ckpt_prune(cd, 2) == BF_OK, "prune");
    bf_ckpt_step_path(cd, 2, p, sizeof p);
    T_CHECK(!bf_path_exists(p), "step 2 kept");
    bf_ckpt_step_path(cd, 4, p, sizeof p);
    T_CHECK(!bf_path_exists(p), "step 4 kept");
    bf_ckpt_step_path(cd, 6, p, sizeof p);
    T_CHECK(bf_path_exists(p), "step 6 removed");

    /* 7. an injected disk-full failure leaves the previous file and no temp */
    setenv("BARFORGE_FAULT", "ckpt_write", 1);
    bf_ckpt_state s20;
    state(&s20, 20);
    st = bf_ckpt_save(a, &B, &s20, "{}", "v", "c");
    unsetenv("BARFORGE_FAULT");
    T_CHECK(st == BF_EIO && strstr(bf_last_error(), "No space left") &&
          strstr(bf_last_error(), "intact"), "injected failure: %s '%s'", bf_status_name(st),
          bf_last_error());
    T_CHECK(bf_ckpt_read_info(a, &info) == BF_OK && info.state.step == 10,
          "previous checkpoint not intact after a failed write");
    bf_ckpt_info_free(&info);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", a, (long)getpid());
    T_CHECK(!bf_path_exists(tmp), "temp file left after a failed write");

    /* 8. another architecture */
    bf_model_config c2;
    tiny_config(&c2, BF_ARCH_BASELINE);
    bf_model C;
    T_CHECK(bf_model_init(&C, &c2, 4, 1) == BF_OK, "baseline init");
    st = bf_ckpt_load(a, &C, NULL, NULL);
    T_CHECK(st == BF_EINVAL, "baseline model loaded a patchtst checkpoint (%s)", bf_status_name(st));
    bf_model_free(&C);
    tiny_config(&c2, BF_ARCH_PATCHTST);
    c2.d_model = 16;
    T_CHECK(bf_model_init(&C, &c2, 4, 1) == BF_OK, "d16 init");
    st = bf_ckpt_load(a, &C, NULL, NULL);
    T_CHECK(st == BF_EINVAL && strstr(bf_last_error(), "parameters"), "d_model 16 loaded a d_model 8 checkpoint: %s",
          bf_last_error());
    bf_model_free(&C);

    bf_model_free(&A);
    bf_model_free(&B);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "note: could not remove %s\n", dir);
    if (bf_test_failures) {
        fprintf(stderr, "test_train_checkpoint: %d failure(s)\n", bf_test_failures);
        return 1;
    }
    printf("test_train_checkpoint: ok\n");
    return 0;
}
