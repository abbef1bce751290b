/* metrics.c - see metrics.h. */
#include "core/train/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int sgn(double v) { return (v > 0) - (v < 0); }

static int cmp_f(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

double bf_quantile_sorted_inplace(float *a, int64_t n, double q)
{
    qsort(a, (size_t)n, sizeof *a, cmp_f);
    double pos = q * (double)(n - 1);
    int64_t lo = (int64_t)floor(pos);
    if (lo >= n - 1)
        return a[n - 1];
    double frac = pos - (double)lo;
    return (double)a[lo] + ((double)a[lo + 1] - (double)a[lo]) * frac;
}

bf_status bf_metrics_compute(const float *y, const float *y_hat, int64_t n, bf_metrics *out)
{
    memset(out, 0, sizeof *out);
    if (n < 1)
        return BF_FAIL(BF_EINVAL, "no rows to evaluate (n = %lld)", (long long)n);
    double se = 0, ae = 0, sy = 0, sp = 0;
    int64_t hits = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(y[i]) || !isfinite(y_hat[i]))
            return BF_FAIL(BF_ENAN, "row %lld: target %g, prediction %g (not finite)", (long long)i,
                           (double)y[i], (double)y_hat[i]);
        double d = (double)y_hat[i] - (double)y[i];
        se += d * d;
        ae += fabs(d);
        sy += y[i];
        sp += y_hat[i];
        hits += sgn(y_hat[i]) == sgn(y[i]);
    }
    out->n = n;
    out->mse = se / (double)n;
    out->mae = ae / (double)n;
    out->dir_acc = (double)hits / (double)n;

    /* Pearson in two passes over centred values (stable for tiny returns) */
    double my = sy / (double)n, mp = sp / (double)n, cov = 0, vy = 0, vp = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = (double)y[i] - my, b = (double)y_hat[i] - mp;
        cov += a * b;
        vy += a * a;
        vp += b * b;
    }
    out->pearson_r = (vy > 0 && vp > 0) ? cov / sqrt(vy * vp) : NAN;

    float *absp = malloc((size_t)n * sizeof *absp);
    BF_CHECK_ALLOC(absp, (size_t)n * sizeof *absp);
    for (int64_t i = 0; i < n; i++)
        absp[i] = fabsf(y_hat[i]);
    double q = bf_quantile_sorted_inplace(absp, n, 0.9);
    free(absp);
    int64_t top = 0, top_hits = 0;
    for (int64_t i = 0; i < n; i++) {
        if ((double)fabsf(y_hat[i]) >= q) {
            top++;
            top_hits += sgn(y_hat[i]) == sgn(y[i]);
        }
    }
    out->top_decile_threshold = q;
    out->n_top_decile = top;
    out->hit_rate_top_decile = top > 0 ? (double)top_hits / (double)top : NAN;
    return BF_OK;
}

static void add_num(cJSON *obj, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(obj, k, v);
    else
        cJSON_AddNullToObject(obj, k);
}

void bf_metrics_add_json(const bf_metrics *m, cJSON *obj)
{
    add_num(obj, "mse", m->mse);
    add_num(obj, "mae", m->mae);
    add_num(obj, "dir_acc", m->dir_acc);
    add_num(obj, "hit_rate_top_decile", m->hit_rate_top_decile);
    add_num(obj, "pearson_r", m->pearson_r);
    cJSON_AddNumberToObject(obj, "n", (double)m->n);
    cJSON_AddNumberToObject(obj, "n_top_decile", (double)m->n_top_decile);
}
