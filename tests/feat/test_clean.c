/* test_clean - bf_bars_clean counts and repairs each kind of bad bar, and
 * bf_feat_build_symbol rejects an uncleaned series with BF_EINVAL naming the
 * symbol and the bar. */
#include "feat_testutil.h"

#include "core/feat/features.h"

int main(void)
{
    bf_bars b;
    tu_bars_alloc(&b, "DIRTY", 900, 64);
    const int64_t t0 = 1700000000 / 900 * 900;
    /* 20 good bars at t0 + i*900 with close = 100 + i */
    for (int i = 0; i < 20; i++)
        tu_push(&b, t0 + i * 900, 100 + i, 101 + i, 99 + i, 100 + i, 1000);
    /* defects, appended out of order */
    tu_push(&b, t0 + 30 * 900, NAN, 1, 1, 1, 1);          /* nonfinite */
    tu_push(&b, t0 + 31 * 900, 1, INFINITY, 1, 1, 1);     /* nonfinite */
    tu_push(&b, t0 + 32 * 900, 1, 1, 1, 1, -INFINITY);    /* nonfinite (volume) */
    tu_push(&b, t0 + 33 * 900, 1, 1, 0, 1, 1);            /* nonpositive */
    tu_push(&b, t0 + 34 * 900, -5, 1, 1, 1, 1);           /* nonpositive */
    tu_push(&b, t0 + 35 * 900, 1, 1, 1, 1, -1);           /* negative volume */
    tu_push(&b, t0 + 5 * 900, 200, 201, 199, 200, 7);     /* duplicate of bar 5 (wins) */
    tu_push(&b, t0 + 25 * 900, 50, 49, 51, 52, 3);        /* hl inconsistent, later ts */
    tu_push(&b, t0 + 21 * 900, 60, 61, 59, 60, 3);        /* unsorted (21 after 25) */
    tu_push(&b, t0 + 5 * 900, 300, 301, 299, 300, 9);     /* second duplicate of 5: wins */

    bf_feat_spec s = {.n_intervals = 1, .interval_s = {900}, .n_horizons = 1, .horizons = {1}};
    bf_feat_rows r = {0};
    TU_CHECK(bf_feat_build_symbol(&s, &b, &r) == BF_EINVAL, "dirty series accepted");
    TU_CHECK(strstr(bf_last_error(), "DIRTY") != NULL, "error does not name the symbol: %s",
             bf_last_error());

    bf_clean_report rep = {0};
    TU_CHECK(bf_bars_clean(&b, &rep) == BF_OK, "%s", bf_last_error());
    TU_CHECK(rep.nonfinite == 3 && rep.nonpositive_price == 2 && rep.negative_volume == 1 &&
                 rep.duplicate_ts == 2 && rep.hl_inconsistent == 1,
             "counts: nonfinite %lld nonpositive %lld negvol %lld dup %lld hl %lld",
             (long long)rep.nonfinite, (long long)rep.nonpositive_price,
             (long long)rep.negative_volume, (long long)rep.duplicate_ts,
             (long long)rep.hl_inconsistent);
    /* after dropping the 6 bad bars: ..., 19, 5(dup), 25, 21, 5(dup): inversions
     * at 19->5, 25->21, 21->5 */
    TU_CHECK(rep.unsorted == 3, "unsorted %lld, want 3", (long long)rep.unsorted);
    TU_CHECK(b.n == 22, "%lld bars left, want 22", (long long)b.n);
    int sorted = 1;
    for (int64_t i = 1; i < b.n; i++)
        sorted &= b.ts[i] > b.ts[i - 1];
    TU_CHECK(sorted, "not sorted and unique after cleaning");
    TU_CHECK(b.ts[5] == t0 + 5 * 900 && b.close[5] == 300 && b.volume[5] == 9,
             "duplicate: the last one in the input must win (close %g)", b.close[5]);
    int64_t k25 = b.n - 1;
    TU_CHECK(b.ts[k25] == t0 + 25 * 900 && b.high[k25] == 52 && b.low[k25] == 49,
             "hl repair: high %g low %g, want 52 49", b.high[k25], b.low[k25]);
    TU_CHECK(b.close[20] == 60 && b.ts[20] == t0 + 21 * 900, "sorted order");

    /* counts accumulate over calls; a clean series changes nothing */
    bf_clean_report rep2 = rep;
    TU_CHECK(bf_bars_clean(&b, &rep2) == BF_OK && memcmp(&rep, &rep2, sizeof rep) == 0 &&
                 b.n == 22,
             "cleaning a clean series changed it");
    TU_CHECK(bf_feat_build_symbol(&s, &b, &r) == BF_OK, "clean series rejected: %s",
             bf_last_error());

    /* empty series: fine, no rows */
    b.n = 0;
    TU_CHECK(bf_bars_clean(&b, &rep2) == BF_OK && bf_feat_build_symbol(&s, &b, &r) == BF_OK &&
                 r.n == 0,
             "empty series");
    bf_feat_rows_free(&r);
    tu_bars_free(&b);
    if (tu_failures) {
        fprintf(stderr, "test_clean: %d failure(s)\n", tu_failures);
        return 1;
    }
    printf("test_clean: ok\n");
    return 0;
}
