/* synthetic.h - the default market-data provider: realistic intraday bars
 * with a planted, documented predictable component, from (seed, symbol)
 * alone. No keys, no network.
 *
 * Determinism: every bar is a pure function of (seed, symbol, interval,
 * session mode, strength, bar time). Fetching a sub-range returns exactly the
 * bars of the same range inside a bigger fetch, so caches built by any number
 * of ranks, in any order, incrementally or at once, are identical.
 *
 * The generating model (per symbol; j = trading day, i = bar of the day):
 *  1. Daily level, from the fixed origin 2000-01-03 (cheap: three normals a
 *     day). Volatility regime x_j = 0.97 x_{j-1} + sqrt(1-0.97^2) 0.3 n_j
 *     (log scale, so volatility clusters over weeks); daily variance
 *     v_j = vd^2 exp(2 x_j - 2 * 0.3^2). Regular-session efficient return
 *     R_j ~ N(0, (1 - f_on) v_j * session_fraction_j) (an early close has a
 *     shorter session); overnight gap G_j ~ N(0, f_on v_j (1 + 0.15 (days - 1)))
 *     to the next trading day. Efficient log price at the open:
 *     L_{j+1} = L_j + R_j + G_j, anchored so that the symbol's reference
 *     price holds at the first session of 2025.
 *  2. Intraday: a bridge from L_j to L_j + R_j. Bar variances are
 *     proportional to a U-shaped time-of-day profile (high at the open, a
 *     smaller rise into the close) times exp(h_i), where h is an AR(1) with a
 *     40-minute memory started fresh each day (intraday volatility
 *     clustering). Drawing x_i ~ N(0, s_i^2) and adding w_i (R_j - sum x),
 *     w_i = s_i^2 / sum s^2, gives increments with exactly the law of
 *     independent N(0, s_i^2) draws: the efficient price B is a martingale
 *     and needs no simulation before the requested days. Extended hours
 *     split G into post-market (20%), closed (40%) and pre-market (40%)
 *     pieces, bridged the same way over flat low-variance bars.
 *  3. Planted signal: the observed log close is c_g = B_g + gamma * S_g with
 *        S_g = sum_{k=0}^{15} psi^k dB_{g-k},  psi = 0.75,
 *     dB_g = B_g - B_{g-1} over consecutive grid bars (gaps included): the
 *     price over-reacts to recent efficient moves and gives the excess back
 *     over the next bars (short-term reversal). gamma = 0 is a pure martingale.
 *  4. Bars: close = round(exp(c_g), $0.01); open = previous grid close inside
 *     a session (the first bar opens at exp(L_j + gamma S_{g-1})); high/low
 *     from the exact maximum/minimum of a Brownian bridge between open and
 *     close; volume = a U-shaped profile (open and closing-auction peaks) x
 *     the volatility state x |shock| x log-normal noise, integer >= 1;
 *     trades = volume / (symbol's trade size x noise); vwap = (O+H+L+C)/4
 *     clamped to [low, high]. About 3 bars in 1000 are missing (no trades):
 *     they are dropped from the output while the process runs on.
 *  Per-symbol constants (reference price 15-400, daily volatility vd 1-2.5%,
 *  volume, overnight share f_on 12-28%, trade size) are drawn from (seed,
 *  symbol).
 *
 * Signal strength and the oracle. --signal-strength s is the correlation
 * between the oracle prediction of y_4 = log(close[t+4] / close[t]) and the
 * realized y_4, computed for constant volatility (the heteroskedastic data
 * measure close to it; docs/features.md "Synthetic data" records them); gamma is
 * solved from s. s = 0 means gamma = 0: nothing is predictable.
 * s must lie in [0, bf_synth_strength_max(4)] (about 0.58).
 * The ORACLE is the conditional expectation of y_h given the efficient
 * past (F_g = all dB up to bar g; the bars' times, which are independent of
 * prices, are known):
 *     E[c_{g'} - c_g | F_g] = gamma * ( sum_{k=g'-g}^{15} psi^k dB_{g'-k} - S_g )
 * where g' is the grid position of the bar h rows later (more than h grid
 * steps when bars are missing). Future dB have mean zero, so nothing else
 * enters. A model sees only tick-rounded bars, from which dB are recovered
 * almost exactly; the oracle is the bound it can approach.
 */
#ifndef BF_SYNTHETIC_H
#define BF_SYNTHETIC_H

#include "core/data/bars.h"

#include <stdint.h>

#define BF_SYNTH_DEFAULT_STRENGTH 0.1
#define BF_SYNTH_SIGNAL_HORIZON 4 /* the y_h the strength refers to */
#define BF_SYNTH_PSI 0.75
#define BF_SYNTH_LAGS 16
#define BF_SYNTH_MISSING_RATE 0.003

typedef struct bf_synth_params {
    uint64_t seed;
    double strength;    /* correlation of the oracle with y_4; 0 = pure noise */
    int extended_hours; /* 0: regular session bars only */
} bf_synth_params;

/* Largest strength reachable for horizon h (gamma -> infinity). */
double bf_synth_strength_max(int horizon);
/* gamma for a strength (BF_EINVAL naming the value when out of range). */
bf_status bf_synth_gamma(double strength, double *gamma);
/* Correlation of oracle and y_h for a gamma, constant volatility. */
double bf_synth_corr(double gamma, int horizon);

/* Bars with start in [start, end) for symbol at interval_s, appended to out
 * (out->symbol/interval_s are set). The range must lie within the calendar
 * years (calendar.h). */
bf_status bf_synth_generate(const bf_synth_params *p, const char *symbol, int interval_s,
                            int64_t start, int64_t end, bf_bars *out);

/* Oracle predictions of y_h = log(close[t+h] / close[t]) for every row t of
 * b (a series produced by bf_synth_generate with the same p, b->symbol and
 * b->interval_s; rows may be any subset of the grid). pred[t] is NaN where
 * b->ts[t] is not a bar start of the grid. When t + h >= b->n the target is
 * taken h grid steps ahead. */
bf_status bf_synth_oracle_predict(const bf_synth_params *p, const bf_bars *b, int horizon,
                                  double *pred);

#endif
