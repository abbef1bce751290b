/* nn_grads.h - compares two gradient buffers of a model tensor by tensor,
 * for the tests that run one computation two ways (batch vs single windows,
 * chunked vs op by op). Both sides are float32 with different summation
 * orders; an entry passes within 1e-4 max|tensor| + 1e-3 |ref| (a wrong term
 * errs by O(|ref|)); bf_test_grad_mismatch_tol takes other bounds. */
#ifndef BF_TEST_NN_GRADS_H
#define BF_TEST_NN_GRADS_H

#include <math.h>
#include <stdio.h>

#include "core/nn/model.h"

/* Tensors of m whose entries in got differ from ref / div; prints the first
 * offending entry of each under label; *worst = max |diff| / max|tensor|. */
static inline int bf_test_grad_mismatch_tol(const bf_model *m, const float *got, const float *ref,
                                     double div, const char *label, double *worst,
                                     double tol_scale, double tol_rel)
{
    int bad_tensors = 0;
    *worst = 0.0;
    for (int t = 0; t < bf_model_n_tensors(m); t++) {
        const bf_tensor_info *ti = bf_model_tensor(m, t);
        const float *g = got + ti->offset, *r = ref + ti->offset;
        double scale = 0.0;
        for (int64_t i = 0; i < ti->numel; i++)
            scale = fmax(scale, fabs(r[i] / div));
        int64_t nbad = 0, first = -1;
        for (int64_t i = 0; i < ti->numel; i++) {
            double want = r[i] / div, d = fabs(g[i] - want);
            if (scale > 0)
                *worst = fmax(*worst, d / scale);
            if (d > tol_scale * scale + tol_rel * fabs(want)) {
                nbad++;
                if (first < 0)
                    first = i;
            }
        }
        if (nbad) {
            bad_tensors++;
            fprintf(stderr,
                    "  %s %s: %lld of %lld entries differ, first #%lld %.9g vs %.9g "
                    "(max %.3g)\n",
                    label, ti->name, (long long)nbad, (long long)ti->numel, (long long)first,
                    g[first], r[first] / div, scale);
        }
    }
    return bad_tensors;
}

static inline int bf_test_grad_mismatch(const bf_model *m, const float *got, const float *ref, double div,
                                 const char *label, double *worst)
{
    return bf_test_grad_mismatch_tol(m, got, ref, div, label, worst, 1e-4, 1e-3);
}

#endif
