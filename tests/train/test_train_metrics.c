/* test_train_metrics.c - metrics on crafted inputs with answers worked out
 * by hand (case 1) and with numpy (pearson, quantile), ties in the top decile,
 * degenerate inputs. */
#include "core/train/metrics.h"

#include <math.h>
#include <stdio.h>

static int fails = 0;
static void near(const char *what, double got, double want, double tol)
{
    int ok = (isnan(want) && isnan(got)) || fabs(got - want) <= tol;
    if (!ok) {
        fprintf(stderr, "FAIL %s: got %.17g, expected %.17g (diff %.3g, tol %.3g)\n", what, got,
                want, fabs(got - want), tol);
        fails++;
    }
}

int main(void)
{
    /* case 1: diffs 1,1,-4,1,-1,-2,-1,-1,-3,-1 -> mse 36/10, mae 16/10; signs agree at
     * rows 0,1,4,6,7,9 -> 0.6; |y_hat| sorted 0,1,1,1,1,2,2,2,4,5 -> q = 4 + 0.1*(5-4) = 4.1,
     * only row 7 (-5 vs -4) qualifies -> hit rate 1 over 1 row */
    const float y1[10] = {1, -2, 3, 0, -1, 2, 5, -4, 1, 2};
    const float p1[10] = {2, -1, -1, 1, -2, 0, 4, -5, -2, 1};
    bf_metrics m;
    if (bf_metrics_compute(y1, p1, 10, &m) != BF_OK) {
        fprintf(stderr, "FAIL case 1 returned an error\n");
        return 1;
    }
    near("case1 mse", m.mse, 3.6, 1e-12);
    near("case1 mae", m.mae, 1.6, 1e-12);
    near("case1 dir_acc", m.dir_acc, 0.6, 1e-12);
    near("case1 top-decile threshold", m.top_decile_threshold, 4.1, 1e-12);
    near("case1 n_top_decile", (double)m.n_top_decile, 1, 0);
    near("case1 hit_rate_top_decile", m.hit_rate_top_decile, 1.0, 0);
    near("case1 pearson_r (numpy.corrcoef)", m.pearson_r, 0.776708173280608, 1e-12);
    near("case1 n", (double)m.n, 10, 0);

    /* case 2: ties at the threshold: |y_hat| = 3 six times, q = 3 -> all six are in;
     * signs agree at 3 of them (rows 1, 2, 3) -> 0.5 */
    const float y2[20] = {-1, 2, 3, -4, 5, 6, -7, 8, 9, -10, 11, 12, -13, 14, 15, -16, 17, 18, -19, 20};
    const float p2[20] = {3, 3, 3, -3, 1, 2, -2, 0.5f, -0.5f, 1, 1, 1, 2, 2, -3, 3, 0, 0, 1, -1};
    bf_metrics_compute(y2, p2, 20, &m);
    near("case2 threshold", m.top_decile_threshold, 3.0, 0);
    near("case2 n_top_decile", (double)m.n_top_decile, 6, 0);
    near("case2 hit_rate_top_decile", m.hit_rate_top_decile, 0.5, 0);
    near("case2 dir_acc (numpy)", m.dir_acc, 0.5, 1e-12);

    /* case 3: perfect prediction -> mse 0, r 1, dir_acc 1 */
    const float y3[4] = {0.001f, -0.002f, 0.003f, -0.004f};
    bf_metrics_compute(y3, y3, 4, &m);
    near("case3 mse", m.mse, 0, 0);
    near("case3 pearson_r", m.pearson_r, 1, 1e-12);
    near("case3 dir_acc", m.dir_acc, 1, 0);
    near("case3 hit rate", m.hit_rate_top_decile, 1, 0);

    /* case 4: a constant prediction has no correlation (NaN, written as null) */
    const float p4[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    bf_metrics_compute(y3, p4, 4, &m);
    near("case4 pearson_r", m.pearson_r, NAN, 0);
    near("case4 n_top_decile (all tie)", (double)m.n_top_decile, 4, 0);
    near("case4 dir_acc", m.dir_acc, 0.5, 0);

    /* case 5: one row */
    const float y5[1] = {-1}, p5[1] = {-2};
    bf_metrics_compute(y5, p5, 1, &m);
    near("case5 mse", m.mse, 1, 0);
    near("case5 threshold", m.top_decile_threshold, 2, 0);
    near("case5 hit", m.hit_rate_top_decile, 1, 0);

    /* errors */
    if (bf_metrics_compute(y5, p5, 0, &m) != BF_EINVAL) {
        fprintf(stderr, "FAIL n = 0 not rejected\n");
        fails++;
    }
    const float good[2] = {1, 2}, bad[2] = {1, NAN};
    if (bf_metrics_compute(good, bad, 2, &m) != BF_ENAN) {
        fprintf(stderr, "FAIL a NaN prediction not rejected\n");
        fails++;
    }

    /* JSON: the seed's keys, null for NaN */
    bf_metrics_compute(y3, p4, 4, &m);
    cJSON *j = cJSON_CreateObject();
    bf_metrics_add_json(&m, j);
    const char *keys[6] = {"mse", "mae", "dir_acc", "hit_rate_top_decile", "pearson_r", "n"};
    for (int i = 0; i < 6; i++)
        if (!cJSON_GetObjectItemCaseSensitive(j, keys[i])) {
            fprintf(stderr, "FAIL JSON lacks '%s'\n", keys[i]);
            fails++;
        }
    if (!cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "pearson_r"))) {
        fprintf(stderr, "FAIL NaN pearson_r not written as null\n");
        fails++;
    }
    cJSON_Delete(j);
    if (fails) {
        fprintf(stderr, "test_train_metrics: %d failure(s)\n", fails);
        return 1;
    }
    printf("test_train_metrics: ok\n");
    return 0;
}
