/* test_nn_parity.c - the C engine against the PyTorch mirror (tools/torch_ref).
 *
 * For each fixture in tests/fixtures/nn (one per architecture x mixer, written
 * by tools/torch_ref/make_fixtures.py) the model is built from the fixture's
 * config and weights, then checked for: the train-mode forward (same Philox
 * dropout masks), the loss, every gradient, the eval-mode predictions, and the
 * losses and parameters over 10 steps of grad-clip + AdamW.
 *
 * Tolerances (both sides float32, differing only in summation order and
 * libm/BLAS rounding, observed differences ~1e-6 relative):
 *   predictions, loss, per-step losses: |c - t| <= 1e-5 + 1e-4 |t|
 *   gradients, per tensor:             |c - t| <= 1e-4 max|t_tensor| + 1e-3 |t|
 *   parameters after 10 AdamW steps:   |c - t| <= 1e-5 + 1e-4 |t| (lr 1e-3: an
 *     update that went the wrong way would differ by ~1e-3; the fixture's
 *     AdamW eps is 1e-6 so that entries with rounding-level gradients do not
 *     take +-lr steps on a coin flip, see make_fixtures.py)
 * Any entry beyond its tolerance fails, naming the tensor, index and values.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/test_util.h"
#include "core/nn/model.h"

typedef struct rec {
    char name[64];
    uint32_t dtype;
    uint64_t n;
    void *data;
} rec;

typedef struct fixture {
    int n;
    rec r[32];
} fixture;

static int load_fixture(const char *path, fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char magic[8];
    uint32_t count;
    int ok = fread(magic, 1, 8, f) == 8 && memcmp(magic, "BFFIX001", 8) == 0 &&
             fread(&count, 4, 1, f) == 1 && count <= 32;
    for (uint32_t i = 0; ok && i < count; i++) {
        rec *r = &fx->r[i];
        uint32_t nl;
        ok = fread(&nl, 4, 1, f) == 1 && nl < sizeof r->name && fread(r->name, 1, nl, f) == nl &&
             fread(&r->dtype, 4, 1, f) == 1 && fread(&r->n, 8, 1, f) == 1 && r->n < (1u << 26);
        if (!ok)
            break;
        size_t bytes = r->dtype == 2 ? r->n + 1 : r->n * 4;
        r->data = calloc(bytes + 1, 1);
        ok = fread(r->data, r->dtype == 2 ? 1 : 4, r->n, f) == r->n;
        fx->n = (int)i + 1;
    }
    fclose(f);
    return ok ? 0 : -2;
}

static const rec *get(const fixture *fx, const char *name)
{
    for (int i = 0; i < fx->n; i++)
        if (!strcmp(fx->r[i].name, name))
            return &fx->r[i];
    fprintf(stderr, "FAIL fixture has no record '%s'\n", name);
    bf_test_failures++;
    return NULL;
}

static void free_fixture(fixture *fx)
{
    for (int i = 0; i < fx->n; i++)
        free(fx->r[i].data);
}

/* returns the worst |c-t| / tol; counts a failure when > 1 */
static double cmp(const char *what, const float *c, const float *t, int64_t n, double atol,
                  double rtol)
{
    double worst = 0.0;
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double tol = atol + rtol * fabs(t[i]), err = fabs((double)c[i] - t[i]);
        if (!(err <= tol)) {
            if (bad < 3)
                fprintf(stderr, "FAIL %s[%lld]: C %.8g torch %.8g (|diff| %.3g > %.3g)\n", what,
                        (long long)i, c[i], t[i], err, tol);
            bad++;
        }
        worst = fmax(worst, err / tol);
    }
    if (bad)
        bf_test_failures++;
    return bad ? INFINITY : worst;
}

static void check_fixture(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.bff", dir, name);
    fixture fx;
    if (load_fixture(path, &fx) != 0) {
        T_CHECK(0, "cannot read fixture %s (regenerate: python3 tools/torch_ref/make_fixtures.py)",
                path);
        free_fixture(&fx);
        return;
    }
    const rec *rc = get(&fx, "config"), *rx = get(&fx, "x"), *rs = get(&fx, "sym"),
              *ry = get(&fx, "y"), *rp = get(&fx, "params"), *rpred = get(&fx, "pred"),
              *rl = get(&fx, "loss"), *rg = get(&fx, "grads"), *rev = get(&fx, "eval_pred"),
              *rls = get(&fx, "losses"), *rpa = get(&fx, "params_after"), *rh = get(&fx, "hyper");
    if (!rc || !rx || !rs || !ry || !rp || !rpred || !rl || !rg || !rev || !rls || !rpa || !rh) {
        free_fixture(&fx);
        return;
    }
    bf_model_config cfg;
    bf_model_config_defaults(&cfg);
    bf_model m;
    if (bf_model_config_from_json((const char *)rc->data, &cfg) != BF_OK ||
        bf_model_init(&m, &cfg, (int)ry->n, 0) != BF_OK) {
        T_CHECK(0, "%s: %s", name, bf_last_error());
        free_fixture(&fx);
        return;
    }
    const float *h = rh->data; /* lr b1 b2 eps wd clip steps seed */
    m.seed = (uint64_t)h[7];
    T_EQ_I(m.n_params, (int64_t)rp->n);
    if (m.n_params != (int64_t)rp->n) {
        bf_model_free(&m);
        free_fixture(&fx);
        return;
    }
    int B = (int)ry->n;
    const float *x = rx->data, *y = ry->data;
    const int32_t *sym = rs->data;
    memcpy(m.params, rp->data, rp->n * sizeof(float));

    float loss = 0;
    bf_model_zero_grad(&m);
    T_CHECK(bf_model_forward(&m, x, sym, y, B, 1, 0, &loss) == BF_OK, "%s", bf_last_error());
    T_CHECK(bf_model_backward(&m) == BF_OK, "%s", bf_last_error());
    char what[128];
    snprintf(what, sizeof what, "%s pred", name);
    double w_pred = cmp(what, m.pred, rpred->data, B, 1e-5, 1e-4);
    snprintf(what, sizeof what, "%s loss", name);
    double w_loss = cmp(what, &loss, rl->data, 1, 1e-5, 1e-4);
    double w_grad = 0.0;
    const float *tg = rg->data;
    for (int i = 0; i < m.n_tensors; i++) {
        const bf_tensor_info *t = bf_model_tensor(&m, i);
        double scale = 0.0;
        for (int64_t j = 0; j < t->numel; j++)
            scale = fmax(scale, fabs(tg[t->offset + j]));
        snprintf(what, sizeof what, "%s grad %s", name, t->name);
        w_grad = fmax(w_grad, cmp(what, m.grads + t->offset, tg + t->offset, t->numel,
                                  1e-4 * scale + 1e-12, 1e-3));
    }
    T_CHECK(bf_model_forward(&m, x, sym, NULL, B, 0, 0, NULL) == BF_OK, "%s", bf_last_error());
    snprintf(what, sizeof what, "%s eval pred", name);
    double w_eval = cmp(what, m.pred, rev->data, B, 1e-5, 1e-4);

    int steps = (int)h[6];
    float losses[64];
    for (int s = 0; s < steps && s < 64; s++) {
        bf_model_zero_grad(&m);
        T_CHECK(bf_model_forward(&m, x, sym, y, B, 1, (uint64_t)s, &losses[s]) == BF_OK, "%s",
                bf_last_error());
        T_CHECK(bf_model_backward(&m) == BF_OK, "%s", bf_last_error());
        bf_grad_clip(m.grads, m.n_params, h[5]);
        bf_model_adamw_step(&m, h[0], h[1], h[2], h[3], h[4], s + 1);
    }
    snprintf(what, sizeof what, "%s step losses", name);
    double w_losses = cmp(what, losses, rls->data, steps, 1e-5, 1e-4);
    snprintf(what, sizeof what, "%s params after %d steps", name, steps);
    double w_after = cmp(what, m.params, rpa->data, m.n_params, 1e-5, 1e-4);
    printf("  %-14s %6lld params  worst diff/tol: pred %.3f loss %.3f grads %.3f eval %.3f "
           "losses %.3f params@%d %.3f\n",
           name, (long long)m.n_params, w_pred, w_loss, w_grad, w_eval, w_losses, steps, w_after);
    bf_model_free(&m);
    free_fixture(&fx);
}

int main(int argc, char **argv)
{
    const char *src = getenv("BARFORGE_SOURCE_DIR");
    char dir[1024];
    if (argc > 1)
        snprintf(dir, sizeof dir, "%s", argv[1]);
    else
        snprintf(dir, sizeof dir, "%s/tests/fixtures/nn", src ? src : ".");
    bf_nn_set_threads(2);
    const char *names[] = {"patchtst_mlp", "patchtst_ivar", "patchtst_none",
                           "baseline_mlp", "baseline_ivar", "baseline_none"};
    for (int i = 0; i < 6; i++)
        check_fixture(dir, names[i]);
    return bf_test_done("test_nn_parity");
}
