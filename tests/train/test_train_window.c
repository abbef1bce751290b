/* test_train_window.c - the window index never crosses a symbol boundary,
 * lists every window end (stride 1 = all of them, no drop), follows the
 * seed's range(0, n-L+1, stride) over starts, and gathers channel-first. */
#include "core/train/window.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/test_util.h"

/* symbol runs of lengths 5, 1, 7, 3 (ids 0, 1, 2, 3), 16 rows */
static const int RUNS[4] = {5, 1, 7, 3};

static void make_syms(int32_t *sym, int64_t *n)
{
    int64_t k = 0;
    for (int s = 0; s < 4; s++)
        for (int i = 0; i < RUNS[s]; i++)
            sym[k++] = s;
    *n = k;
}

/* expected ends by brute force: e valid iff rows e-L+1..e exist and share a
 * symbol, and (e - start of its run - (L-1)) % stride == 0 */
static int64_t brute(const int32_t *sym, int64_t n, int L, int stride, int64_t *ends)
{
    int64_t k = 0;
    for (int64_t e = 0; e < n; e++) {
        if (e - L + 1 < 0)
            continue;
        int ok = 1;
        for (int64_t r = e - L + 1; r <= e; r++)
            ok &= sym[r] == sym[e];
        if (!ok)
            continue;
        int64_t a = e;
        while (a > 0 && sym[a - 1] == sym[e])
            a--;
        if ((e - a - (L - 1)) % stride == 0)
            ends[k++] = e;
    }
    return k;
}

int main(void)
{
    int32_t sym[16];
    int64_t n;
    make_syms(sym, &n);
    for (int L = 1; L <= 8; L++) {
        for (int stride = 1; stride <= 4; stride++) {
            bf_window_index wi;
            if (bf_window_index_build(&wi, sym, n, L, stride) != BF_OK) {
                T_CHECK(0, "build L=%d stride=%d failed", L, stride);
                continue;
            }
            int64_t want[16];
            int64_t nw = brute(sym, n, L, stride, want);
            T_CHECK(wi.n == nw, "L=%d stride=%d: %lld windows, expected %lld", L, stride,
                  (long long)wi.n, (long long)nw);
            for (int64_t i = 0; i < wi.n && i < nw; i++) {
                T_CHECK(wi.end[i] == want[i], "L=%d stride=%d: window %lld ends at %lld, expected %lld",
                      L, stride, (long long)i, (long long)wi.end[i], (long long)want[i]);
                T_CHECK(sym[wi.end[i] - L + 1] == sym[wi.end[i]], "window crosses a symbol");
            }
            if (stride == 1) {
                /* no drop: one window per row with L-1 predecessors of its symbol */
                int64_t expect = 0;
                for (int s = 0; s < 4; s++)
                    expect += RUNS[s] >= L ? RUNS[s] - L + 1 : 0;
                T_CHECK(wi.n == expect, "L=%d: %lld windows, expected sum(max(0, n_s-L+1)) = %lld",
                      L, (long long)wi.n, (long long)expect);
            }
            bf_window_index_free(&wi);
        }
    }
    /* the seed's example: starts range(0, n-L+1, stride) for a 7-row run, L=3, stride=2 ->
     * starts 0,2,4 -> ends 2,4,6 (+ run offset 6) */
    {
        bf_window_index wi;
        bf_window_index_build(&wi, sym, n, 3, 2);
        int64_t got = 0;
        for (int64_t i = 0; i < wi.n; i++)
            if (sym[wi.end[i]] == 2)
                got = got * 100 + wi.end[i];
        T_CHECK(got == 81012, "symbol 2 ends (encoded) %lld, expected 8,10,12", (long long)got);
        bf_window_index_free(&wi);
    }

    /* gather: X[row][c] = 100*row + c, y[row][h] = row + 0.5*h; target 1 */
    {
        const int F = 3, H = 2, L = 4;
        float X[16 * 3], Y[16 * 2];
        for (int r = 0; r < 16; r++) {
            for (int c = 0; c < F; c++)
                X[r * F + c] = (float)(100 * r + c);
            for (int h = 0; h < H; h++)
                Y[r * H + h] = (float)r + 0.5f * (float)h;
        }
        bf_window_index wi;
        bf_window_index_build(&wi, sym, n, L, 1);
        bf_window_source src = {.X = X, .y = Y, .sym_id = sym, .n_rows = n, .F = F, .H = H, .target = 1};
        int64_t ids[2] = {wi.n - 1, 0};
        float xb[2 * 3 * 4], yb[2];
        int32_t sb[2];
        int64_t rows[2];
        bf_window_gather(&wi, &src, ids, 2, xb, yb, sb, rows);
        for (int b = 0; b < 2; b++) {
            int64_t e = wi.end[ids[b]];
            T_CHECK(rows[b] == e, "rows[%d] = %lld, expected %lld", b, (long long)rows[b], (long long)e);
            T_CHECK(yb[b] == (float)e + 0.5f, "y[%d] = %g, expected the target column at the last row %g",
                  b, (double)yb[b], (double)e + 0.5);
            T_CHECK(sb[b] == sym[e], "sym[%d] = %d, expected %d", b, sb[b], sym[e]);
            for (int c = 0; c < F; c++)
                for (int l = 0; l < L; l++) {
                    float want = (float)(100 * (e - L + 1 + l) + c);
                    float got = xb[(b * F + c) * L + l];
                    T_CHECK(got == want, "x[%d][%d][%d] = %g, expected %g (channel-first)", b, c, l,
                          (double)got, (double)want);
                }
        }
        float xr[3 * 3 * 4], yr[3];
        bf_window_gather_range(&wi, &src, 1, 3, xr, yr, NULL, NULL);
        for (int b = 0; b < 3; b++)
            T_CHECK(yr[b] == (float)wi.end[1 + b] + 0.5f, "range gather y[%d] = %g", b, (double)yr[b]);
        bf_window_index_free(&wi);
    }

    /* epoch permutations: a permutation, reproducible, different per epoch */
    {
        enum { N = 1000 };
        int64_t *p = malloc(N * sizeof *p), *q = malloc(N * sizeof *q);
        char *seen = calloc(N, 1);
        bf_window_epoch_permutation(7, 3, p, N);
        bf_window_epoch_permutation(7, 3, q, N);
        T_CHECK(memcmp(p, q, N * sizeof *p) == 0, "same (seed, epoch) gave different permutations");
        for (int i = 0; i < N; i++) {
            T_CHECK(p[i] >= 0 && p[i] < N && !seen[p[i]], "not a permutation at %d (%lld)", i,
                  (long long)p[i]);
            if (p[i] >= 0 && p[i] < N)
                seen[p[i]] = 1;
        }
        bf_window_epoch_permutation(7, 4, q, N);
        int same = 0;
        for (int i = 0; i < N; i++)
            same += p[i] == q[i];
        T_CHECK(same < 20, "epochs 3 and 4 agree at %d of %d positions", same, N);
        free(p);
        free(q);
        free(seen);
    }

    /* bad arguments */
    {
        bf_window_index wi;
        T_CHECK(bf_window_index_build(&wi, sym, n, 0, 1) == BF_EINVAL, "seq_len 0 accepted");
        T_CHECK(bf_window_index_build(&wi, sym, n, 4, 0) == BF_EINVAL, "stride 0 accepted");
        T_CHECK(bf_window_index_build(&wi, sym, n, 99, 1) == BF_OK && wi.n == 0,
              "seq_len longer than every symbol: expected 0 windows, got %lld", (long long)wi.n);
        bf_window_index_free(&wi);
    }
    if (bf_test_failures) {
        fprintf(stderr, "test_train_window: %d failure(s)\n", bf_test_failures);
        return 1;
    }
    printf("test_train_window: ok\n");
    return 0;
}
