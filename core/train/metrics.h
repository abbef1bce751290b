/* metrics.h - evaluation metrics of predictions against targets (the seed's
 * eval.py), computed in double over every row.
 *
 *   mse, mae              mean squared / absolute error
 *   dir_acc               mean(sign(y_hat) == sign(y)), sign as numpy's
 *                         (sign(0) = 0, so a zero only matches a zero)
 *   hit_rate_top_decile   over the rows whose |y_hat| >= q, q the 0.9
 *                         quantile of |y_hat| (numpy's default linear
 *                         interpolation): the fraction where sign(y_hat) ==
 *                         sign(y). The most confident tenth of the calls.
 *   pearson_r             Pearson correlation of y_hat and y; NaN when
 *                         either is constant (written as JSON null)
 *   n                     rows
 */
#ifndef BF_TRAIN_METRICS_H
#define BF_TRAIN_METRICS_H

#include "core/base/status.h"

#include <cjson/cJSON.h>
#include <stdint.h>

typedef struct bf_metrics {
    int64_t n;
    double mse, mae, dir_acc, hit_rate_top_decile, pearson_r;
    int64_t n_top_decile;         /* rows in the top decile */
    double top_decile_threshold;  /* q */
} bf_metrics;

/* BF_EINVAL when n < 1; BF_ENAN naming the row when a value is not finite. */
bf_status bf_metrics_compute(const float *y, const float *y_hat, int64_t n, bf_metrics *out);

/* Add the seed's keys (mse, mae, dir_acc, hit_rate_top_decile, pearson_r, n)
 * plus n_top_decile to obj; non-finite values become null. */
void bf_metrics_add_json(const bf_metrics *m, cJSON *obj);

/* numpy.quantile(a, q) with linear interpolation; sorts a in place. n >= 1. */
double bf_quantile_sorted_inplace(float *a, int64_t n, double q);

#endif
