/* window.c - see window.h. */
#include "core/train/window.h"

#include "core/base/rng.h"

#include <stdlib.h>
#include <string.h>

bf_status bf_window_index_build(bf_window_index *wi, const int32_t *sym_id, int64_t n_rows,
                                int seq_len, int stride)
{
    memset(wi, 0, sizeof *wi);
    if (seq_len < 1)
        return BF_FAIL(BF_EINVAL, "--seq-len %d: must be at least 1", seq_len);
    if (stride < 1)
        return BF_FAIL(BF_EINVAL, "--stride %d: must be at least 1", stride);
    if (n_rows < 0)
        return BF_FAIL(BF_EINVAL, "negative row count %lld", (long long)n_rows);
    wi->seq_len = seq_len;
    wi->stride = stride;
    wi->n_rows = n_rows;

    /* two passes over the runs of equal sym_id: count, then fill */
    for (int pass = 0; pass < 2; pass++) {
        int64_t k = 0;
        for (int64_t a = 0; a < n_rows;) {
            int64_t b = a + 1;
            while (b < n_rows && sym_id[b] == sym_id[a])
                b++;
            for (int64_t e = a + seq_len - 1; e < b; e += stride) {
                if (pass == 1)
                    wi->end[k] = e;
                k++;
            }
            a = b;
        }
        if (pass == 0) {
            wi->n = k;
            if (k > 0) {
                wi->end = malloc((size_t)k * sizeof *wi->end);
                BF_CHECK_ALLOC(wi->end, (size_t)k * sizeof *wi->end);
            }
        }
    }
    return BF_OK;
}

void bf_window_index_free(bf_window_index *wi)
{
    free(wi->end);
    memset(wi, 0, sizeof *wi);
}

static void gather_one(const bf_window_index *wi, const bf_window_source *src, int64_t pos,
                       float *x, float *y, int32_t *sym, int64_t *row)
{
    const int L = wi->seq_len, F = src->F;
    int64_t e = wi->end[pos];
    const float *base = src->X + (e - L + 1) * (int64_t)F;
    /* transpose an L x F block of rows into F x L channel-first */
    for (int c = 0; c < F; c++) {
        float *xc = x + (int64_t)c * L;
        for (int l = 0; l < L; l++)
            xc[l] = base[(int64_t)l * F + c];
    }
    if (y)
        *y = src->y[e * src->H + src->target];
    if (sym)
        *sym = src->sym_id[e];
    if (row)
        *row = e;
}

void bf_window_gather(const bf_window_index *wi, const bf_window_source *src, const int64_t *ids,
                      int B, float *x_out, float *y_out, int32_t *sym_out, int64_t *rows_out)
{
    const int64_t per = (int64_t)src->F * wi->seq_len;
#pragma omp parallel for schedule(static) if (B * per > 65536)
    for (int b = 0; b < B; b++)
        gather_one(wi, src, ids[b], x_out + b * per, y_out ? y_out + b : NULL,
                   sym_out ? sym_out + b : NULL, rows_out ? rows_out + b : NULL);
}

void bf_window_gather_range(const bf_window_index *wi, const bf_window_source *src, int64_t first,
                            int B, float *x_out, float *y_out, int32_t *sym_out,
                            int64_t *rows_out)
{
    const int64_t per = (int64_t)src->F * wi->seq_len;
#pragma omp parallel for schedule(static) if (B * per > 65536)
    for (int b = 0; b < B; b++)
        gather_one(wi, src, first + b, x_out + b * per, y_out ? y_out + b : NULL,
                   sym_out ? sym_out + b : NULL, rows_out ? rows_out + b : NULL);
}

void bf_window_epoch_permutation(uint64_t seed, int64_t epoch, int64_t *perm, int64_t n)
{
    bf_rng r;
    bf_rng_init(&r, seed, BF_RNG_STREAM_SHUFFLE, (uint64_t)epoch);
    bf_rng_permutation(&r, perm, n);
}
