/* feat_ref_dump - the feature half of a build, in C, for comparison with
 * bench/build/pandas_build.py (tests/feat/test_feat_pandas.py).
 *
 * Reads <cache>/<provider>/15m/<SYM>.h5 (/ts int64, /open../volume float64),
 * cleans, builds rows (15m base, 1h, 1d; horizons 1,4,8), keeps valid rows,
 * splits 0.7/0.15 by time with a purge of 71 rows (8 + 64 - 1) per symbol,
 * fits a robust scaler per symbol on its train rows (symbols with < 2 train
 * rows are left out) or one global scaler, and writes
 * <out>/{X,y,sym,ts}_{train,val,test}.npy and <out>/bounds.txt.
 * Usage: feat_ref_dump CACHE PROVIDER OUT SYM[,SYM...] [robust|global|none] [cross] [ext]
 */
#include "feat_testutil.h"

#include "core/base/h5.h"
#include "core/feat/features.h"
#include "core/feat/split_scale.h"

#include <stdint.h>

static int write_npy(const char *dir, const char *name, const char *descr, const void *data,
                     int64_t rows, int64_t cols, size_t elem)
{
    char path[4096], hdr[256];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    int n = cols > 0 ? snprintf(hdr, sizeof hdr,
                                "{'descr': '%s', 'fortran_order': False, 'shape': (%lld, %lld), }",
                                descr, (long long)rows, (long long)cols)
                     : snprintf(hdr, sizeof hdr,
                                "{'descr': '%s', 'fortran_order': False, 'shape': (%lld,), }",
                                descr, (long long)rows);
    while ((10 + n + 1) % 64)
        hdr[n++] = ' ';
    hdr[n++] = '\n';
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return 1;
    }
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(n & 0xff),
                             (unsigned char)(n >> 8)};
    size_t cnt = (size_t)rows * (size_t)(cols > 0 ? cols : 1);
    int bad = fwrite(pre, 1, 10, f) != 10 || fwrite(hdr, 1, (size_t)n, f) != (size_t)n ||
              (cnt && fwrite(data, elem, cnt, f) != cnt);
    bad |= fclose(f) != 0;
    if (bad)
        fprintf(stderr, "feat_ref_dump: writing %s failed\n", path);
    return bad;
}

static int read_symbol(const char *path, const char *sym, bf_bars *b)
{
    hid_t f;
    if (bf_h5_open(path, 0, &f) != BF_OK) {
        fprintf(stderr, "feat_ref_dump: %s\n", bf_last_error());
        return 1;
    }
    int64_t rows, cols;
    if (bf_h5_shape(f, "ts", &rows, &cols) != BF_OK) {
        fprintf(stderr, "feat_ref_dump: %s\n", bf_last_error());
        bf_h5_close(f);
        return 1;
    }
    tu_bars_alloc(b, sym, 900, rows > 0 ? rows : 1);
    b->n = rows;
    const char *names[] = {"open", "high", "low", "close", "volume"};
    double *cols_[] = {b->open, b->high, b->low, b->close, b->volume};
    int bad = bf_h5_read_into(f, "ts", BF_H5_I64, b->ts, rows, 1) != BF_OK;
    for (int i = 0; i < 5 && !bad; i++)
        bad = bf_h5_read_into(f, names[i], BF_H5_F64, cols_[i], rows, 1) != BF_OK;
    if (bad)
        fprintf(stderr, "feat_ref_dump: %s\n", bf_last_error());
    bf_h5_close(f);
    return bad;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: feat_ref_dump CACHE PROVIDER OUT SYM[,SYM...] [robust|global|none] "
                        "[cross 0|1] [ext 0|1]\n");
        return 2;
    }
    const char *cache = argv[1], *prov = argv[2], *out = argv[3];
    int global = argc > 5 && strcmp(argv[5], "global") == 0;
    int none = argc > 5 && strcmp(argv[5], "none") == 0;
    bf_feat_spec spec = {.n_intervals = 3, .interval_s = {900, 3600, 86400}, .n_horizons = 3,
                         .horizons = {1, 4, 8},
                         .labels_cross_overnight = argc > 6 ? atoi(argv[6]) : 0,
                         .extended_hours = argc > 7 ? atoi(argv[7]) : 0};
    const int F = bf_feat_count(&spec), H = spec.n_horizons, P = 8 + 64 - 1;
    bf_h5_quiet();

    char syms[64][BF_SYMBOL_MAX];
    int ns = 0;
    char list[4096];
    snprintf(list, sizeof list, "%s", argv[4]);
    for (char *tok = strtok(list, ","); tok && ns < 64; tok = strtok(NULL, ","))
        snprintf(syms[ns++], BF_SYMBOL_MAX, "%s", tok);
    qsort(syms, (size_t)ns, sizeof syms[0], (int (*)(const void *, const void *))strcmp);

    /* valid rows of every symbol, in (sym, ts) order */
    int64_t cap = 1 << 16, n = 0;
    float *X = malloc(sizeof(float) * (size_t)(cap * F)), *Y = malloc(sizeof(float) * (size_t)(cap * H));
    int64_t *T = malloc(sizeof(int64_t) * (size_t)cap);
    int32_t *S = malloc(sizeof(int32_t) * (size_t)cap);
    bf_feat_rows r = {0};
    for (int s = 0; s < ns; s++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s/15m/%s.h5", cache, prov, syms[s]);
        bf_bars b;
        if (read_symbol(path, syms[s], &b))
            return 1;
        bf_clean_report rep = {0};
        if (bf_bars_clean(&b, &rep) != BF_OK || bf_feat_build_symbol(&spec, &b, &r) != BF_OK) {
            fprintf(stderr, "feat_ref_dump: %s\n", bf_last_error());
            return 1;
        }
        for (int64_t i = 0; i < r.n; i++) {
            if (!r.valid[i])
                continue;
            if (n == cap) {
                cap *= 2;
                X = realloc(X, sizeof(float) * (size_t)(cap * F));
                Y = realloc(Y, sizeof(float) * (size_t)(cap * H));
                T = realloc(T, sizeof(int64_t) * (size_t)cap);
                S = realloc(S, sizeof(int32_t) * (size_t)cap);
            }
            memcpy(X + n * F, r.X + i * F, sizeof(float) * F);
            memcpy(Y + n * H, r.y + i * H, sizeof(float) * H);
            T[n] = r.ts_end[i];
            S[n++] = s;
        }
        tu_bars_free(&b);
    }
    bf_feat_rows_free(&r);

    int64_t *times = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    memcpy(times, T, sizeof(int64_t) * (size_t)n);
    qsort(times, (size_t)n, sizeof *times, cmp_i64);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (m == 0 || times[i] != times[m - 1])
            times[m++] = times[i];
    bf_split_spec ss = {.train_frac = 0.7, .val_frac = 0.15, .purge_bars = P};
    int64_t vs, tst;
    if (bf_split_boundaries(&ss, times, m, &vs, &tst) != BF_OK) {
        fprintf(stderr, "feat_ref_dump: %s\n", bf_last_error());
        return 1;
    }
    int8_t *sp = malloc((size_t)(n > 0 ? n : 1));
    uint8_t *train = malloc((size_t)(n > 0 ? n : 1));
    for (int64_t a = 0; a < n;) {
        int64_t e = a;
        while (e < n && S[e] == S[a])
            e++;
        bf_split_assign(T + a, e - a, vs, tst, P, sp + a);
        a = e;
    }
    for (int64_t i = 0; i < n; i++)
        train[i] = sp[i] == BF_SPLIT_TRAIN;
    if (none) {
        /* raw features, every symbol kept */
    } else if (global) {
        bf_scaler sc;
        if (bf_scaler_fit_masked(&sc, X, n, F, train) != BF_OK)
            return 1;
        bf_scaler_apply(&sc, X, n);
        bf_scaler_free(&sc);
    } else {
        for (int64_t a = 0; a < n;) {
            int64_t e = a, ntr = 0;
            while (e < n && S[e] == S[a])
                ntr += train[e++];
            if (ntr < 2) {
                for (int64_t i = a; i < e; i++)
                    sp[i] = BF_SPLIT_NONE;  /* no scaler: the symbol is left out */
            } else {
                bf_scaler sc;
                if (bf_scaler_fit_masked(&sc, X + a * F, e - a, F, train + a) != BF_OK)
                    return 1;
                bf_scaler_apply(&sc, X + a * F, e - a);
                bf_scaler_free(&sc);
            }
            a = e;
        }
    }
    const char *names[] = {"train", "val", "test"};
    int bad = 0;
    float *Xo = malloc(sizeof(float) * (size_t)(n * F + 1)), *Yo = malloc(sizeof(float) * (size_t)(n * H + 1));
    int64_t *To = malloc(sizeof(int64_t) * (size_t)(n + 1));
    int32_t *So = malloc(sizeof(int32_t) * (size_t)(n + 1));
    for (int k = 0; k < 3; k++) {
        int64_t c = 0;
        for (int64_t i = 0; i < n; i++) {
            if (sp[i] != k)
                continue;
            memcpy(Xo + c * F, X + i * F, sizeof(float) * F);
            memcpy(Yo + c * H, Y + i * H, sizeof(float) * H);
            To[c] = T[i];
            So[c++] = S[i];
        }
        char nm[32];
        snprintf(nm, sizeof nm, "X_%s", names[k]);
        bad |= write_npy(out, nm, "<f4", Xo, c, F, sizeof(float));
        snprintf(nm, sizeof nm, "y_%s", names[k]);
        bad |= write_npy(out, nm, "<f4", Yo, c, H, sizeof(float));
        snprintf(nm, sizeof nm, "sym_%s", names[k]);
        bad |= write_npy(out, nm, "<i4", So, c, 0, sizeof(int32_t));
        snprintf(nm, sizeof nm, "ts_%s", names[k]);
        bad |= write_npy(out, nm, "<i8", To, c, 0, sizeof(int64_t));
    }
    free(Xo), free(Yo), free(To), free(So);
    char bp[4096];
    snprintf(bp, sizeof bp, "%s/bounds.txt", out);
    FILE *f = fopen(bp, "w");
    if (f) {
        fprintf(f, "%lld %lld\n", (long long)vs, (long long)tst);
        fclose(f);
    }
    free(X), free(Y), free(T), free(S), free(times), free(sp), free(train);
    return bad || !f;
}
