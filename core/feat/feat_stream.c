/* feat_stream.c - see feat_stream.h. The formulas are spelled out in
 * docs/features.md; bench/build/pandas_build.py computes the same ones with
 * pandas, and tests/feat/test_feat_pandas.py holds the two to float tolerance.
 * Each step below mirrors one pandas call (rolling std, ewm(adjust=False)) so
 * that the two agree beyond the last float32 digit. */
#include "core/feat/feat_stream.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Exact re-summation period of the rolling sums (values pushed). */
#define ROLL_RESUM_EVERY 512

static void roll_init(bf_roll *r, int W)
{
    memset(r, 0, sizeof *r);
    r->W = W;
    r->inv_w = 1.0 / W;
    r->inv_wm1 = 1.0 / (W - 1);
}

static void roll_resum(bf_roll *r)
{
    double s = 0.0;
    for (int i = 0; i < r->W; i++)
        s += r->buf[i];
    double mean = s / r->W, m2 = 0.0;
    for (int i = 0; i < r->W; i++) {
        double d = r->buf[i] - mean;
        m2 += d * d;
    }
    r->mean = mean;
    r->m2 = m2;
    r->since = 0;
}

static void roll_push(bf_roll *r, double x)
{
    r->run = (r->n > 0 && x == r->last) ? r->run + 1 : 1;
    r->last = x;
    if (r->n < r->W) {
        r->n++;
        double d = x - r->mean;
        r->mean += d / r->n;
        r->m2 += d * (x - r->mean);
    } else {
        double y = r->buf[r->pos];
        double mean_new = r->mean + (x - y) * r->inv_w;
        r->m2 += (x - y) * ((x - mean_new) + (y - r->mean));
        r->mean = mean_new;
    }
    r->buf[r->pos] = x;
    r->pos = r->pos + 1 == r->W ? 0 : r->pos + 1;
    if (r->n == r->W && ++r->since >= ROLL_RESUM_EVERY)
        roll_resum(r);
}

/* sample variance (ddof 1) of a full window; exactly 0 for a constant one */
static double roll_var(const bf_roll *r)
{
    if (r->run >= r->W || r->m2 <= 0.0)
        return 0.0;
    return r->m2 * r->inv_wm1;
}

static void iv_init(bf_feat_iv *iv)
{
    memset(iv, 0, sizeof *iv);
    roll_init(&iv->rv_s, BF_FEAT_RV_SHORT);
    roll_init(&iv->rv_l, BF_FEAT_RV_LONG);
    roll_init(&iv->vol, BF_FEAT_VOLZ_N);
    for (int j = 0; j < BF_FEAT_PER_INTERVAL; j++) {
        iv->f[j] = NAN;
        iv->fx[j] = NAN;
    }
}

/* pandas ewm(alpha, adjust=False): w <- ((1-a) w + a x) / ((1-a) + a),
 * skipped when w == x (pandas' guard for constant series). */
static double ewm_step(double w, double x)
{
    static const double a = 1.0 / BF_FEAT_RSI_N;
    if (w != x)
        w = ((1.0 - a) * w + a * x) / ((1.0 - a) + a);
    return w;
}

/* One completed bar of this interval: update every feature. */
static void iv_bar(bf_feat_iv *iv, double o, double h, double l, double c, double v)
{
    double *f = iv->f;
    int64_t i = iv->nbars;
    f[BF_F_OPEN] = o;
    f[BF_F_HIGH] = h;
    f[BF_F_LOW] = l;
    f[BF_F_CLOSE] = c;
    f[BF_F_VOLUME] = v;
    if (i >= 1) {
        double prev = iv->prev_close;
        double ratio = c / prev;
        double lr = log(ratio);
        double delta = c - prev;
        double gain = delta > 0.0 ? delta : 0.0;
        double loss = delta < 0.0 ? -delta : 0.0;
        if (i == 1) {
            iv->avg_gain = gain;
            iv->avg_loss = loss;
        } else {
            iv->avg_gain = ewm_step(iv->avg_gain, gain);
            iv->avg_loss = ewm_step(iv->avg_loss, loss);
        }
        roll_push(&iv->rv_s, lr);
        roll_push(&iv->rv_l, lr);
        f[BF_F_RET_1] = ratio - 1.0;
        f[BF_F_LOGRET_1] = lr;
        f[BF_F_RV_15] = iv->rv_s.n == iv->rv_s.W ? sqrt(roll_var(&iv->rv_s)) : NAN;
        f[BF_F_RV_60] = iv->rv_l.n == iv->rv_l.W ? sqrt(roll_var(&iv->rv_l)) : NAN;
        if (i >= BF_FEAT_RSI_N) {
            double s = iv->avg_gain + iv->avg_loss;
            f[BF_F_RSI_14] = s > 0.0 ? 100.0 * iv->avg_gain / s : 50.0;
        }
    }
    roll_push(&iv->vol, v);
    if (iv->vol.n == iv->vol.W) {
        double var = roll_var(&iv->vol);
        f[BF_F_VOL_Z] = var > 0.0 ? (v - iv->vol.mean) / sqrt(var) : 0.0;
    }
    iv->prev_close = c;
    iv->nbars = i + 1;
    int ok = iv->nbars >= BF_FEAT_WARMUP_BARS;
    for (int j = 0; j < BF_FEAT_PER_INTERVAL; j++) {
        float x = (float)f[j];
        iv->fx[j] = x;
        ok &= x - x == 0.0f;  /* NaN (not warm) or overflow to float Inf fail */
    }
    iv->fx_ok = ok;
}

static void iv_finish_bucket(bf_feat_iv *iv)
{
    iv_bar(iv, iv->o, iv->h, iv->l, iv->c, iv->v);
    iv->open = 0;
}

bf_status bf_feat_stream_init(bf_feat_stream *st, const bf_feat_spec *s)
{
    BF_TRY(bf_feat_spec_validate(s));
    memset(st, 0, sizeof *st);
    st->spec = *s;
    st->F = bf_feat_count(s);
    st->last_ts = INT64_MIN;
    st->day = INT64_MIN;
    for (int k = 0; k < s->n_intervals; k++)
        iv_init(&st->iv[k]);
    return BF_OK;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

bf_status bf_feat_stream_push(bf_feat_stream *st, int64_t ts, double o, double h, double l,
                              double c, double v, float *x, int32_t *session, int *feat_ok)
{
    if (!(ts > st->last_ts))
        return BF_FAIL(BF_EINVAL, "bar at ts=%lld is not after the previous one (ts=%lld): "
                       "bars must be sorted and unique (run bf_bars_clean)",
                       (long long)ts, (long long)st->last_ts);
    /* written so that NaN fails every test */
    if (!(o > 0 && o < INFINITY && h > 0 && h < INFINITY && l > 0 && l < INFINITY && c > 0 &&
          c < INFINITY && v >= 0 && v < INFINITY))
        return BF_FAIL(BF_EINVAL, "bar at ts=%lld has a NaN/Inf or non-positive price or a "
                       "negative volume (o=%g h=%g l=%g c=%g v=%g): run bf_bars_clean",
                       (long long)ts, o, h, l, c, v);
    st->last_ts = ts;
    const bf_feat_spec *s = &st->spec;
    const int64_t end = ts + s->interval_s[0];
    const int64_t day = bf_sess_day_cached(&st->ny, ts);
    if (day != st->day) {
        st->day = day;
        st->day_open = bf_sess_open(day);
        st->day_close = bf_sess_close(day, s->extended_hours);
    }

    iv_bar(&st->iv[0], o, h, l, c, v);
    for (int k = 1; k < s->n_intervals; k++) {
        bf_feat_iv *iv = &st->iv[k];
        const int I = s->interval_s[k];
        int64_t bucket, complete_at;
        if (I == 86400) {
            bucket = day;
            complete_at = st->day_close;
        } else {
            /* key = bucket start (UTC): unique across days */
            bucket = st->day_open + floor_div(end - 1 - st->day_open, I) * I;
            complete_at = bucket + I < st->day_close ? bucket + I : st->day_close;
        }
        /* the open bucket completed before this bar (a later bucket started) */
        if (iv->open && bucket != iv->bucket)
            iv_finish_bucket(iv);
        /* a bar ending after its bucket's completion (after the close) is in no bucket */
        if (end <= complete_at) {
            if (!iv->open) {
                iv->open = 1;
                iv->bucket = bucket;
                iv->complete_at = complete_at;
                iv->o = o;
                iv->h = h;
                iv->l = l;
                iv->c = c;
                iv->v = v;
            } else {
                iv->h = h > iv->h ? h : iv->h;
                iv->l = l < iv->l ? l : iv->l;
                iv->c = c;
                iv->v += v;
            }
        }
        if (iv->open && end >= iv->complete_at)
            iv_finish_bucket(iv);
    }

    int ok = 1;
    for (int k = 0; k < s->n_intervals; k++) {
        memcpy(x + k * BF_FEAT_PER_INTERVAL, st->iv[k].fx, sizeof st->iv[k].fx);
        ok &= st->iv[k].fx_ok;
    }
    if (session)
        *session = (int32_t)day;
    *feat_ok = ok;
    return BF_OK;
}

int bf_feat_stream_warm(const bf_feat_stream *st)
{
    for (int k = 0; k < st->spec.n_intervals; k++)
        if (st->iv[k].nbars < BF_FEAT_WARMUP_BARS)
            return 0;
    return 1;
}
