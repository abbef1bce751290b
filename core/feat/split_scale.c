/* split_scale.c - see split_scale.h and docs/features.md ("Splits",
 * "Scaling"). Quantiles follow numpy's default (linear) percentile and
 * np.median, as sklearn's RobustScaler does, so the pandas reference in
 * bench/build/pandas_build.py agrees to rounding. Quantiles come from a
 * radix sort of each column (exact, O(n), no data-dependent branches). */
#include "core/feat/split_scale.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define BF_GATHER_AVX2 1
#endif

/* a fraction of n as a row index; the 1e-9 keeps 0.7 * 100 from becoming 69 */
static int64_t frac_index(double f, int64_t n)
{
    int64_t i = (int64_t)floor(f * (double)n + 1e-9);
    return i < 0 ? 0 : (i > n ? n : i);
}

bf_status bf_split_boundaries(const bf_split_spec *s, const int64_t *sorted_times, int64_t n,
                              int64_t *val_start, int64_t *test_start)
{
    if (s->purge_bars < 0)
        return BF_FAIL(BF_EINVAL, "purge of %d bars: use >= 0 (at least max horizon + seq_len "
                       "- 1)", s->purge_bars);
    if (s->val_start != 0 || s->test_start != 0) {
        if (s->val_start <= 0 || s->test_start <= 0 || s->test_start < s->val_start)
            return BF_FAIL(BF_EINVAL, "explicit split dates need both a validation start and a "
                           "test start, validation first (got %lld and %lld)",
                           (long long)s->val_start, (long long)s->test_start);
        *val_start = s->val_start;
        *test_start = s->test_start;
        return BF_OK;
    }
    if (!(s->train_frac > 0 && s->train_frac < 1 && s->val_frac >= 0 &&
          s->train_frac + s->val_frac < 1))
        return BF_FAIL(BF_EINVAL, "split fractions train=%g val=%g: need 0 < train, 0 <= val, "
                       "train + val < 1 (test gets the rest)", s->train_frac, s->val_frac);
    if (n <= 0)
        return BF_FAIL(BF_EINVAL, "no rows to split: every symbol lacked warm-up or labels "
                       "(fetch a longer history)");
    const int64_t after_last = sorted_times[n - 1] + 1;
    int64_t iv = frac_index(s->train_frac, n), it = frac_index(s->train_frac + s->val_frac, n);
    *val_start = iv < n ? sorted_times[iv] : after_last;
    *test_start = it < n ? sorted_times[it] : after_last;
    return BF_OK;
}

/* first i with ts[i] >= t */
static int64_t lower_bound(const int64_t *ts, int64_t n, int64_t t)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (ts[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void bf_split_assign(const int64_t *ts_end, int64_t n, int64_t val_start, int64_t test_start,
                     int purge_bars, int8_t *split)
{
    int64_t iv = lower_bound(ts_end, n, val_start), it = lower_bound(ts_end, n, test_start);
    if (it < iv)
        it = iv;
    for (int64_t i = 0; i < n; i++)
        split[i] = i < iv ? BF_SPLIT_TRAIN : (i < it ? BF_SPLIT_VAL : BF_SPLIT_TEST);
    const int64_t bounds[2] = {iv, it};
    for (int b = 0; b < 2; b++) {
        int64_t lo = bounds[b] - purge_bars;
        for (int64_t i = lo < 0 ? 0 : lo; i < bounds[b]; i++)
            split[i] = BF_SPLIT_NONE;
    }
}

void bf_split_runs(const int64_t *ts_end, int64_t n, int64_t val_start, int64_t test_start,
                   int purge_bars, int64_t at[3], int64_t cnt[3])
{
    int64_t iv = lower_bound(ts_end, n, val_start), it = lower_bound(ts_end, n, test_start);
    if (it < iv)
        it = iv;
    /* bf_split_assign's purges: [iv - purge, iv) and [it - purge, it) */
    const int64_t lo[3] = {0, iv, it};
    int64_t hi[3] = {iv - purge_bars, it - purge_bars, n};
    for (int k = 0; k < 3; k++) {
        cnt[k] = hi[k] > lo[k] ? hi[k] - lo[k] : 0;
        at[k] = cnt[k] ? lo[k] : -1;
    }
}

/* ------------------------------------------------------------------ scaler */

/* Floats as order-preserving unsigned keys (negative ones flipped), so that
 * an LSD radix sort orders them: branch-free, unlike a quickselect whose
 * compares mispredict half the time on market data. */
static inline uint32_t key_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static inline double value_of(uint32_t k)
{
    uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* one radix pass's digit counts (of m keys) -> each digit's first position;
 * 0 when every key has the digit of the first (the pass is skipped) */
static int digit_offsets(int64_t cnt[256], int64_t m, unsigned first_digit)
{
    if (cnt[first_digit] == m)
        return 0;
    int64_t pos = 0;
    for (int d = 0; d < 256; d++) {
        int64_t c = cnt[d];
        cnt[d] = pos;
        pos += c;
    }
    return 1;
}

/* sort a[0..m) (tmp: scratch of m); 4 passes of 8 bits, a pass whose digit is
 * the same for every key is skipped */
static void radix_sort(uint32_t *a, uint32_t *tmp, int64_t m)
{
    int64_t cnt[4][256];
    memset(cnt, 0, sizeof cnt);
    for (int64_t i = 0; i < m; i++) {
        uint32_t k = a[i];
        cnt[0][k & 255]++;
        cnt[1][(k >> 8) & 255]++;
        cnt[2][(k >> 16) & 255]++;
        cnt[3][k >> 24]++;
    }
    for (int p = 0; p < 4; p++) {
        const int sh = 8 * p;
        if (!digit_offsets(cnt[p], m, (a[0] >> sh) & 255))
            continue;
        for (int64_t i = 0; i < m; i++)
            tmp[cnt[p][(a[i] >> sh) & 255]++] = a[i];
        memcpy(a, tmp, (size_t)m * sizeof *a);
    }
}

/* sort a[0..m) by their high 32 bits (tmp: scratch of m), as radix_sort */
static void radix_sort_hi(uint64_t *a, uint64_t *tmp, int64_t m)
{
    int64_t cnt[4][256];
    memset(cnt, 0, sizeof cnt);
    for (int64_t i = 0; i < m; i++) {
        uint32_t k = (uint32_t)(a[i] >> 32);
        cnt[0][k & 255]++;
        cnt[1][(k >> 8) & 255]++;
        cnt[2][(k >> 16) & 255]++;
        cnt[3][k >> 24]++;
    }
    for (int p = 0; p < 4; p++) {
        const int sh = 32 + 8 * p;
        if (!digit_offsets(cnt[p], m, (a[0] >> sh) & 255))
            continue;
        for (int64_t i = 0; i < m; i++)
            tmp[cnt[p][(a[i] >> sh) & 255]++] = a[i];
        memcpy(a, tmp, (size_t)m * sizeof *a);
    }
}

/* numpy's lerp in percentile(method="linear") */
static double lerp_np(double a, double b, double t)
{
    double d = b - a;
    return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

/* Keys of the ranks rank[0..nr) (nr <= 8, any order) of a multiset of keys
 * whose smallest and largest are lo and hi, into out, without sorting
 * everything: one histogram of (key - min) over 2048 buckets, then only the
 * buckets holding a wanted rank are gathered and sorted. Float keys are
 * roughly logarithmic in the value, so heavy-tailed features still spread
 * over many buckets. The multiset is a[0..m) (w NULL), or r runs: a[i]
 * counted w[i] times (a column that repeats values, as a higher interval's
 * feature holds each bar's value over its base rows: fewer keys to
 * histogram and gather). tmp: scratch of 2 keys per entry of a. */
#define SEL_BUCKETS 2048

typedef struct sel_plan {
    int shift, nbk;
    int bucket[8], of_rank[8];
    int8_t slot[SEL_BUCKETS];     /* wanted bucket -> its index, else -1 */
    int64_t cnt[SEL_BUCKETS + 1]; /* -> rank of each bucket's first key */
} sel_plan;

static void sel_buckets(sel_plan *pl, const int64_t *rank, int nr)
{
    int64_t pos = 0;
    for (int b = 0; b <= SEL_BUCKETS; b++) {
        int64_t c = pl->cnt[b];
        pl->cnt[b] = pos;
        pos += c;
    }
    pl->nbk = 0;
    for (int q = 0; q < nr; q++) {
        int lo_b = 0, hi_b = SEL_BUCKETS - 1; /* last bucket whose start <= rank */
        while (lo_b < hi_b) {
            int mid = (lo_b + hi_b + 1) / 2;
            if (pl->cnt[mid] <= rank[q])
                lo_b = mid;
            else
                hi_b = mid - 1;
        }
        int k = 0;
        while (k < pl->nbk && pl->bucket[k] != lo_b)
            k++;
        if (k == pl->nbk)
            pl->bucket[pl->nbk++] = lo_b;
        pl->of_rank[q] = k;
    }
    memset(pl->slot, -1, sizeof pl->slot);
    for (int k = 0; k < pl->nbk; k++)
        pl->slot[pl->bucket[k]] = (int8_t)k;
}

static void select_ranks(const uint32_t *a, const uint32_t *w, int64_t m, uint32_t lo,
                         uint32_t hi, const int64_t *rank, int nr, uint32_t *out, uint32_t *tmp)
{
    static _Thread_local sel_plan pl;
    int shift = 0;
    while (((hi - lo) >> shift) >= SEL_BUCKETS)
        shift++;
    memset(pl.cnt, 0, sizeof pl.cnt);
    if (w)
        for (int64_t i = 0; i < m; i++)
            pl.cnt[(a[i] - lo) >> shift] += w[i];
    else
        for (int64_t i = 0; i < m; i++)
            pl.cnt[(a[i] - lo) >> shift]++;
    sel_buckets(&pl, rank, nr);
    if (shift == 0 && !w) { /* one key per bucket */
        for (int q = 0; q < nr; q++)
            out[q] = lo + (uint32_t)pl.bucket[pl.of_rank[q]];
        return;
    }
    int64_t base[8], fill[8], total = 0;
    if (!w) { /* the wanted buckets' keys, each bucket at its own offset in tmp */
        for (int k = 0; k < pl.nbk; k++) {
            base[k] = fill[k] = total;
            total += pl.cnt[pl.bucket[k] + 1] - pl.cnt[pl.bucket[k]];
        }
        for (int64_t i = 0; i < m; i++) {
            int k = pl.slot[(a[i] - lo) >> shift];
            if (k >= 0)
                tmp[fill[k]++] = a[i];
        }
        for (int k = 0; k < pl.nbk; k++)
            radix_sort(tmp + base[k], tmp + m, fill[k] - base[k]);
        for (int q = 0; q < nr; q++) {
            int k = pl.of_rank[q];
            out[q] = tmp[base[k] + (rank[q] - pl.cnt[pl.bucket[k]])];
        }
        return;
    }
    /* runs: the wanted buckets' runs as key << 32 | count, sorted by key,
     * then each rank found by walking the counts */
    uint64_t *t64 = (uint64_t *)tmp;
    int64_t nrun[8] = {0};
    for (int64_t i = 0; i < m; i++) {
        int k = pl.slot[(a[i] - lo) >> shift];
        if (k >= 0)
            nrun[k]++;
    }
    for (int k = 0; k < pl.nbk; k++) {
        base[k] = fill[k] = total;
        total += nrun[k];
    }
    for (int64_t i = 0; i < m; i++) {
        int k = pl.slot[(a[i] - lo) >> shift];
        if (k >= 0)
            t64[fill[k]++] = (uint64_t)a[i] << 32 | w[i];
    }
    for (int k = 0; k < pl.nbk; k++)
        radix_sort_hi(t64 + base[k], t64 + total, fill[k] - base[k]);
    for (int q = 0; q < nr; q++) {
        int k = pl.of_rank[q];
        int64_t at = pl.cnt[pl.bucket[k]];
        const uint64_t *p = t64 + base[k];
        while (at + (int64_t)(*p & 0xffffffffu) <= rank[q])
            at += (int64_t)(*p++ & 0xffffffffu);
        out[q] = (uint32_t)(*p >> 32);
    }
}

/* quartiles of m keys: numpy's linear percentile, and np.median (mean of
 * the two middle values) for the median. The keys are a[0..m) (w NULL), or
 * r runs a[i] x w[i]. */
static void quartiles(const uint32_t *a, const uint32_t *w, int64_t r, int64_t m, uint32_t lo,
                      uint32_t hi, uint32_t *tmp, double *q25, double *q50, double *q75)
{
    const double ps[3] = {0.25, 0.5, 0.75};
    int64_t rank[6];
    double t[3];
    for (int q = 0; q < 3; q++) {
        double pos = ps[q] * (double)(m - 1);
        int64_t k = (int64_t)floor(pos);
        t[q] = pos - (double)k;
        rank[2 * q] = k;
        rank[2 * q + 1] = k + 1 < m ? k + 1 : k;
    }
    uint32_t key[6];
    select_ranks(a, w, w ? r : m, lo, hi, rank, 6, key, tmp);
    double v[3];
    for (int q = 0; q < 3; q++) {
        double lo = value_of(key[2 * q]), hi = value_of(key[2 * q + 1]);
        v[q] = t[q] == 0.0 ? lo : (q == 1 ? (lo + hi) / 2.0 : lerp_np(lo, hi, t[q]));
    }
    *q25 = v[0];
    *q50 = v[1];
    *q75 = v[2];
}

bf_status bf_scaler_init(bf_scaler *s, int F)
{
    memset(s, 0, sizeof *s);
    if (F <= 0)
        return BF_FAIL(BF_EINVAL, "scaler with %d features", F);
    s->F = F;
    s->median = calloc((size_t)F, sizeof(double));
    s->iqr = malloc((size_t)F * sizeof(double));
    s->zero_iqr = calloc((size_t)F, 1);
    if (!s->median || !s->iqr || !s->zero_iqr) {
        bf_scaler_free(s);
        return BF_FAIL(BF_ENOMEM, "out of memory for a scaler of %d features", F);
    }
    for (int j = 0; j < F; j++)
        s->iqr[j] = 1.0;
    return BF_OK;
}

/* whether keys a[0..m) look like runs of repeats: at least half the first
 * 512 keys repeat the one before */
static int has_runs(const uint32_t *a, int64_t m)
{
    int64_t n = m < 512 ? m : 512, d = 0;
    for (int64_t i = 1; i < n; i++)
        d += a[i] != a[i - 1];
    return m >= 64 && 2 * (d + 1) <= n;
}

/* runs of equal keys of a[0..m): their keys to a[0..r) (in place) and
 * counts to w[0..r); returns r. Branch-free (runs end at random). */
static int64_t to_runs(uint32_t *a, int64_t m, uint32_t *w)
{
    int64_t o = 0, start = 0;
    for (int64_t i = 1; i < m; i++) {
        int64_t nw = a[i] != a[o];
        w[o] = (uint32_t)(i - start); /* final once the run ends */
        start = nw ? i : start;
        o += nw;
        a[o] = a[i];
    }
    w[o] = (uint32_t)(m - start);
    return o + 1;
}

/* Columns are gathered BLOCK at a time (one pass over X per block, so the
 * strided reads touch X F/BLOCK times instead of F times), then sorted. */
#define SCALER_BLOCK 8

/* row x's nb values of the block into their columns' keys (finite ones
 * only), with each column's smallest and largest key */
static inline __attribute__((always_inline)) void
gather_row(const float *x, int nb, uint32_t *keys, int64_t rows, int64_t *m, uint32_t *lo,
           uint32_t *hi)
{
    for (int b = 0; b < nb; b++)
        if (x[b] - x[b] == 0.0f) {  /* finite values only */
            uint32_t k = key_of(x[b]);
            keys[(size_t)b * rows + m[b]++] = k;
            lo[b] = k < lo[b] ? k : lo[b];
            hi[b] = k > hi[b] ? k : hi[b];
        }
}

#ifdef BF_GATHER_AVX2
static int gather_avx2_ok(void)
{
    static int have = -1;
    if (have < 0)
        have = __builtin_cpu_supports("avx2");
    return have;
}

/* gather_row over all rows for a full block of 8 columns: 8 rows at a
 * time are loaded, checked finite, keyed and transposed in registers (a
 * column's 8 keys then go out in one store); 8 rows with a non-finite or
 * unused row go through gather_row. The same keys in the same order. */
__attribute__((target("avx2"))) static void
gather_block_avx2(const float *X, int64_t n, int F, int j0, const uint8_t *use, uint32_t *keys,
                  int64_t rows, int64_t *m, uint32_t *lo, uint32_t *hi)
{
    const __m256 zero = _mm256_setzero_ps();
    const __m256i sign = _mm256_set1_epi32((int)0x80000000u);
    __m256i vlo = _mm256_set1_epi32(-1), vhi = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t u8 = 0;
        if (use)
            memcpy(&u8, use + i, 8);
        if (!use || u8 == 0x0101010101010101ull) {
            __m256i r[8];
            int ok = 0xff;
            for (int k = 0; k < 8; k++) {
                __m256 x = _mm256_loadu_ps(X + (i + k) * F + j0);
                ok &= _mm256_movemask_ps(_mm256_cmp_ps(_mm256_sub_ps(x, x), zero, _CMP_EQ_OQ));
                __m256i u = _mm256_castps_si256(x);
                r[k] = _mm256_xor_si256(u, _mm256_or_si256(_mm256_srai_epi32(u, 31), sign));
            }
            if (ok == 0xff) {
                for (int k = 0; k < 8; k++) {
                    vlo = _mm256_min_epu32(vlo, r[k]);
                    vhi = _mm256_max_epu32(vhi, r[k]);
                }
                /* 8x8 transpose: t[b] = column b's keys of the 8 rows */
                __m256i a0 = _mm256_unpacklo_epi32(r[0], r[1]), a1 = _mm256_unpackhi_epi32(r[0], r[1]);
                __m256i a2 = _mm256_unpacklo_epi32(r[2], r[3]), a3 = _mm256_unpackhi_epi32(r[2], r[3]);
                __m256i a4 = _mm256_unpacklo_epi32(r[4], r[5]), a5 = _mm256_unpackhi_epi32(r[4], r[5]);
                __m256i a6 = _mm256_unpacklo_epi32(r[6], r[7]), a7 = _mm256_unpackhi_epi32(r[6], r[7]);
                __m256i b0 = _mm256_unpacklo_epi64(a0, a2), b1 = _mm256_unpackhi_epi64(a0, a2);
                __m256i b2 = _mm256_unpacklo_epi64(a1, a3), b3 = _mm256_unpackhi_epi64(a1, a3);
                __m256i b4 = _mm256_unpacklo_epi64(a4, a6), b5 = _mm256_unpackhi_epi64(a4, a6);
                __m256i b6 = _mm256_unpacklo_epi64(a5, a7), b7 = _mm256_unpackhi_epi64(a5, a7);
                __m256i t[8];
                t[0] = _mm256_permute2x128_si256(b0, b4, 0x20);
                t[1] = _mm256_permute2x128_si256(b1, b5, 0x20);
                t[2] = _mm256_permute2x128_si256(b2, b6, 0x20);
                t[3] = _mm256_permute2x128_si256(b3, b7, 0x20);
                t[4] = _mm256_permute2x128_si256(b0, b4, 0x31);
                t[5] = _mm256_permute2x128_si256(b1, b5, 0x31);
                t[6] = _mm256_permute2x128_si256(b2, b6, 0x31);
                t[7] = _mm256_permute2x128_si256(b3, b7, 0x31);
                for (int b = 0; b < 8; b++) {
                    _mm256_storeu_si256((__m256i *)(keys + (size_t)b * rows + m[b]), t[b]);
                    m[b] += 8;
                }
                continue;
            }
        }
        for (int64_t k = i; k < i + 8; k++)
            if (!use || use[k])
                gather_row(X + k * F + j0, 8, keys, rows, m, lo, hi);
    }
    for (; i < n; i++)
        if (!use || use[i])
            gather_row(X + i * F + j0, 8, keys, rows, m, lo, hi);
    uint32_t l[8], h[8];
    _mm256_storeu_si256((__m256i *)l, vlo);
    _mm256_storeu_si256((__m256i *)h, vhi);
    for (int b = 0; b < 8; b++) {
        lo[b] = l[b] < lo[b] ? l[b] : lo[b];
        hi[b] = h[b] > hi[b] ? h[b] : hi[b];
    }
}
#else
static int gather_avx2_ok(void) { return 0; }
static void gather_block_avx2(const float *X, int64_t n, int F, int j0, const uint8_t *use,
                              uint32_t *keys, int64_t rows, int64_t *m, uint32_t *lo,
                              uint32_t *hi)
{
    (void)X, (void)n, (void)F, (void)j0, (void)use, (void)keys, (void)rows, (void)m, (void)lo,
        (void)hi;
}
#endif

bf_status bf_scaler_fit_masked(bf_scaler *s, const float *X, int64_t n, int F,
                               const uint8_t *use)
{
    BF_TRY(bf_scaler_init(s, F));
    int64_t rows = 0;
    for (int64_t i = 0; i < n; i++)
        rows += !use || use[i];
    if (rows == 0) {
        bf_scaler_free(s);
        return BF_FAIL(BF_EINVAL, "no training rows to fit the scaler on (%lld rows given, "
                       "none selected)", (long long)n);
    }
    /* per block: the columns' keys, select_ranks' scratch (up to 2 64-bit
     * entries per key of a column kept as runs) and the run counts */
    uint32_t *keys = malloc((size_t)rows * (SCALER_BLOCK + 5) * sizeof *keys);
    if (!keys) {
        bf_scaler_free(s);
        return BF_FAIL(BF_ENOMEM, "out of memory for scaler columns of %lld rows",
                       (long long)rows);
    }
    uint32_t *tmp = keys + (size_t)rows * SCALER_BLOCK;
    uint32_t *wts = tmp + (size_t)rows * 4;
    const int vec = gather_avx2_ok();
    for (int j0 = 0; j0 < F; j0 += SCALER_BLOCK) {
        const int nb = F - j0 < SCALER_BLOCK ? F - j0 : SCALER_BLOCK;
        int64_t m[SCALER_BLOCK] = {0};
        uint32_t lo[SCALER_BLOCK], hi[SCALER_BLOCK];
        for (int b = 0; b < SCALER_BLOCK; b++)
            lo[b] = UINT32_MAX, hi[b] = 0;
        if (vec && nb == SCALER_BLOCK)
            gather_block_avx2(X, n, F, j0, use, keys, rows, m, lo, hi);
        else
            for (int64_t i = 0; i < n; i++)
                if (!use || use[i])
                    gather_row(X + i * F + j0, nb, keys, rows, m, lo, hi);
        for (int b = 0; b < nb; b++) {
            const int j = j0 + b;
            uint32_t *a = keys + (size_t)b * rows;
            double q25 = 0, q50 = 0, q75 = 0;
            if (m[b] > 0) {
                /* a column that repeats values in runs (a higher interval's
                 * feature holds each bar's value over its base rows) is
                 * selected on its runs: the same multiset, fewer keys */
                int64_t r = m[b];
                const uint32_t *w = NULL;
                if (has_runs(a, m[b])) {
                    r = to_runs(a, m[b], wts);
                    w = wts;
                }
                quartiles(a, w, r, m[b], lo[b], hi[b], tmp, &q25, &q50, &q75);
                s->n_constant += value_of(lo[b]) == value_of(hi[b]);
            }
            double iqr = q75 - q25;
            s->median[j] = q50;
            /* sklearn's _handle_zeros_in_scale threshold */
            if (!(iqr >= 10.0 * DBL_EPSILON)) {
                s->iqr[j] = 1.0;
                s->zero_iqr[j] = 1;
                s->n_zero_iqr++;
            } else {
                s->iqr[j] = iqr;
            }
        }
    }
    free(keys);
    return BF_OK;
}

bf_status bf_scaler_fit(bf_scaler *s, const float *X, int64_t n, int F)
{
    return bf_scaler_fit_masked(s, X, n, F, NULL);
}

void bf_scaler_apply_scalar(const bf_scaler *s, float *X, int64_t n)
{
    /* a multiply instead of a divide per value: within 1 ulp of double, far
     * below the float32 the result is stored in. Columns in blocks of 64 so
     * the reciprocals live on the stack and the inner loop has no branch. */
    const int F = s->F;
    for (int j0 = 0; j0 < F; j0 += 64) {
        const int nb = F - j0 < 64 ? F - j0 : 64;
        double med[64], inv[64];
        for (int b = 0; b < nb; b++) {
            med[b] = s->median[j0 + b];
            inv[b] = 1.0 / s->iqr[j0 + b];
        }
        for (int64_t i = 0; i < n; i++) {
            float *x = X + i * F + j0;
            for (int b = 0; b < nb; b++) {
                double v = ((double)x[b] - med[b]) * inv[b];
                /* keep finite inputs finite; NaN fails both tests and stays NaN */
                v = v > FLT_MAX ? FLT_MAX : v;
                v = v < -FLT_MAX ? -FLT_MAX : v;
                x[b] = (float)v;
            }
        }
    }
}

/* The same arithmetic eight columns at a time (AVX-512: float -> double,
 * subtract, multiply, clamp, round to float), so the result is bit-identical
 * to bf_scaler_apply_scalar (test_split_scale). MINPD/MAXPD return their
 * second operand when either is NaN, which is the clamp's NaN rule above. */
#if defined(__x86_64__) && defined(__GNUC__)
#define BF_SCALE_AVX512 1
__attribute__((target("avx512f,avx512vl"))) static int64_t
apply_avx512(const double *med, const double *inv, int F, const float *X, const int64_t *sel,
             int64_t n, float *dst)
{
    const __m512d hi = _mm512_set1_pd(FLT_MAX), lo = _mm512_set1_pd(-FLT_MAX);
    int64_t nan = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *x = X + (sel ? sel[i] : i) * F;
        float *d = dst + i * F;
        for (int j = 0; j < F; j += 8) {
            const __mmask8 k = F - j >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (F - j)) - 1);
            __m512d v = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(k, x + j));
            v = _mm512_mul_pd(_mm512_sub_pd(v, _mm512_loadu_pd(med + j)), _mm512_loadu_pd(inv + j));
            v = _mm512_max_pd(lo, _mm512_min_pd(hi, v));
            nan += __builtin_popcount(_mm512_mask_cmp_pd_mask(k, v, v, _CMP_UNORD_Q));
            _mm256_mask_storeu_ps(d + j, k, _mm512_cvtpd_ps(v));
        }
    }
    return nan;
}
#endif

int64_t bf_scaler_apply_rows(const bf_scaler *s, const float *X, const int64_t *sel, int64_t n,
                             float *dst)
{
    const int F = s->F;
#ifdef BF_SCALE_AVX512
    static int g_have = -1; /* racing first calls store the same value */
    int have = __atomic_load_n(&g_have, __ATOMIC_RELAXED);
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               !getenv("BARFORGE_SCALE_SCALAR");
        __atomic_store_n(&g_have, have, __ATOMIC_RELAXED);
    }
    if (have && F > 0) {
        /* median and reciprocal padded to whole vectors */
        size_t w = (size_t)(F + 7) / 8 * 8;
        double stackbuf[2 * 128], *mi = w <= 128 ? stackbuf : malloc(2 * w * sizeof *mi);
        if (mi) {
            for (size_t j = 0; j < w; j++) {
                mi[j] = (int)j < F ? s->median[j] : 0.0;
                mi[w + j] = (int)j < F ? 1.0 / s->iqr[j] : 1.0;
            }
            int64_t nan = apply_avx512(mi, mi + w, F, X, sel, n, dst);
            if (mi != stackbuf)
                free(mi);
            return nan;
        }
    }
#endif
    for (int64_t i = 0; i < n; i++) { /* rows into place, then the reference in place */
        const float *x = X + (sel ? sel[i] : i) * F;
        if (dst + i * F != x)
            memmove(dst + i * F, x, (size_t)F * sizeof *x);
    }
    bf_scaler_apply_scalar(s, dst, n);
    int64_t nan = 0;
    for (int64_t i = 0; i < n * F; i++)
        nan += dst[i] != dst[i];
    return nan;
}

int64_t bf_scaler_apply_count_nan(const bf_scaler *s, float *X, int64_t n)
{
    return bf_scaler_apply_rows(s, X, NULL, n, X);
}

void bf_scaler_apply(const bf_scaler *s, float *X, int64_t n)
{
    (void)bf_scaler_apply_count_nan(s, X, n);
}

void bf_scaler_free(bf_scaler *s)
{
    free(s->median);
    free(s->iqr);
    free(s->zero_iqr);
    memset(s, 0, sizeof *s);
}
