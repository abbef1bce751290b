/* feat_stream.h - features of one symbol, one base bar at a time.
 *
 * The stream is what bf_feat_build_symbol runs, and what a live loop or a
 * delta build can keep between calls: push base bars in time order and get
 * the row for each. It holds, per interval, the bar being aggregated (higher
 * intervals) and the rolling state of the 11 features over that interval's
 * COMPLETED bars. A row only ever copies features of completed bars, so no row
 * depends on any bar that ends after it (docs/features.md, "Alignment").
 *
 * Higher-interval bars are resampled from the base bars:
 *   - sub-daily (e.g. 1h): buckets on the session grid of core/data/calendar.h,
 *     anchored at the 09:30 NY open of the bar's session (09:30-10:30, ...,
 *     15:30-16:00 cut short at the close; pre-market continues the grid
 *     backwards). A base bar belongs to the bucket in which it ENDS; a bucket
 *     completes at min(its end, the session close).
 *   - 1d (86400): one bar per NY session (date of the bar start); it
 *     completes at the session close (see session.h).
 *   A base bar that ends after its bucket's completion (only bars after the
 *   close when extended_hours = 0) belongs to no higher-interval bar.
 * No allocation: the state is fixed-size; copy it to checkpoint a stream.
 */
#ifndef BF_FEAT_STREAM_H
#define BF_FEAT_STREAM_H

#include "core/feat/features.h"
#include "core/feat/session.h"

/* Window lengths, in bars of the interval the feature is computed on. */
#define BF_FEAT_RV_SHORT 15  /* rv_15: sample std (ddof 1) of 15 log returns */
#define BF_FEAT_RV_LONG 60   /* rv_60: of 60 log returns */
#define BF_FEAT_RSI_N 14     /* rsi_14: Wilder smoothing alpha = 1/14 */
#define BF_FEAT_VOLZ_N 20    /* vol_z: mean and std (ddof 1) of 20 volumes */
/* Completed bars an interval needs before all its features exist: rv_60
 * needs 60 log returns, hence 61 closes. A row is feature-valid when every
 * interval has at least this many completed bars. */
#define BF_FEAT_WARMUP_BARS (BF_FEAT_RV_LONG + 1)

/* Index of each feature inside an interval's block of 11. */
enum {
    BF_F_OPEN = 0, BF_F_HIGH, BF_F_LOW, BF_F_CLOSE, BF_F_VOLUME, BF_F_RET_1, BF_F_LOGRET_1,
    BF_F_RV_15, BF_F_RV_60, BF_F_RSI_14, BF_F_VOL_Z
};

/* Rolling mean and sum of squared deviations over the last W values
 * (Welford add/replace, re-summed exactly every few hundred values so that
 * rounding cannot drift). `run` counts equal consecutive values: a window of
 * W equal values has variance exactly 0 (as pandas' rolling var does). */
typedef struct bf_roll {
    int W, n, pos, run, since;
    double mean, m2, last;
    double inv_w, inv_wm1;  /* 1/W, 1/(W-1): multiplies instead of divides per bar */
    double buf[BF_FEAT_RV_LONG];
} bf_roll;

typedef struct bf_feat_iv {
    int64_t nbars;           /* completed bars of this interval so far */
    double prev_close;
    double avg_gain, avg_loss;
    bf_roll rv_s, rv_l, vol;
    double f[BF_FEAT_PER_INTERVAL];  /* at the latest completed bar; NaN = not yet defined */
    float fx[BF_FEAT_PER_INTERVAL];  /* the same as stored in rows (converted once per bar) */
    int fx_ok;                       /* warm and every fx finite */
    /* the bar being aggregated (higher intervals only) */
    int open;
    int64_t bucket, complete_at;
    double o, h, l, c, v;
} bf_feat_iv;

typedef struct bf_feat_stream {
    bf_feat_spec spec;
    int F;
    int64_t last_ts;         /* start of the last pushed base bar; INT64_MIN before the first */
    int64_t day, day_open, day_close; /* the current bar's NY session, its open and close (UTC) */
    bf_feat_iv iv[BF_MAX_INTERVALS];
    bf_sess_cache ny;
} bf_feat_stream;

bf_status bf_feat_stream_init(bf_feat_stream *st, const bf_feat_spec *s);

/* Push the next base bar (ts = its start, strictly after the previous one;
 * prices finite and > 0, volume finite and >= 0, else BF_EINVAL). Writes the
 * row's F features into x (NaN where a window is not full yet), the NY
 * session day of the bar into *session (may be NULL), and *feat_ok = 1 when
 * every interval is warm and every value is finite as float. */
bf_status bf_feat_stream_push(bf_feat_stream *st, int64_t ts, double o, double h, double l,
                              double c, double v, float *x, int32_t *session, int *feat_ok);

/* 1 when every interval has BF_FEAT_WARMUP_BARS completed bars. */
int bf_feat_stream_warm(const bf_feat_stream *st);

#endif
