#!/usr/bin/env python3
"""pandas_build.py - the dataset build the way a seed user writes it in pandas.

The reference for `barforge build` (docs/features.md): the same features,
alignment, labels, split with purge and robust scaling, written with the usual
pandas tools (groupby per symbol, rolling, ewm, resample, merge_asof, dropna,
per-symbol median/IQR like sklearn's RobustScaler). It reads the bar cache that
barforge writes and saves X/y per split to an .npz, so that
tests/feat/test_feat_pandas.py can compare values and bench/build/run.sh can
compare time.

Input: <cache>/<provider>/<interval>[-ext]/<SYMBOL>.h5 (core/data/cache.c) with /ts (int64 UTC
seconds, bar start) and /open /high /low /close /volume (float64).
Output (--out, .npz): for s in train, val, test: X_s (n x F float32, scaled),
y_s (n x H float32, every horizon), sym_s (int32, index into `symbols`),
ts_s (int64 row time = base bar end); plus feature_names, horizons,
target_index, symbols, val_start, test_start, scaler_median / scaler_iqr
(per symbol: n_symbols x F; global: 1 x F), timings (JSON string).
Also prints the timings as one JSON line on stdout (wall seconds per phase,
and total_cpu_s, the process CPU time, for busy machines); imports and
interpreter start are not included.

Limits: higher intervals must divide one hour, or be 1d (1h and 1d are the
defaults); resample() is anchored at :30 so 1h buckets start at the 09:30 open.
"""
import argparse
import datetime as dt
import json
import math
import os
import sys
import time

import h5py
import numpy as np
import pandas as pd

FEATS = ["open", "high", "low", "close", "volume", "ret_1", "logret_1", "rv_15", "rv_60",
         "rsi_14", "vol_z"]
NY = "America/New_York"
EPOCH = pd.Timestamp(0, tz="UTC")


def parse_interval(s):
    units = {"m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
    s = s.strip().lower()
    for u in sorted(units, key=len, reverse=True):
        if s.endswith(u) and s[: -len(u)].isdigit():
            return int(s[: -len(u)]) * units[u]
    raise SystemExit(f"pandas_build: bad interval {s!r}")


def interval_name(sec):
    if sec == 86400:
        return "1d"
    if sec % 3600 == 0:
        return f"{sec // 3600}h"
    if sec % 60 == 0:
        return f"{sec // 60}m"
    return f"{sec}s"


def early_close_days(years):
    """NYSE 13:00 closes (the rules of core/data/calendar.h)."""
    out = set()
    for y in years:
        j3 = dt.date(y, 7, 3)
        wd3 = j3.isoweekday() % 7  # 0 = Sunday
        if wd3 in (1, 2, 4) or (wd3 == 3 and y >= 2013):
            out.add(j3)
        j4 = dt.date(y, 7, 4)
        if j4.isoweekday() % 7 == 4 and y < 2013:
            out.add(dt.date(y, 7, 5))
        nov1 = dt.date(y, 11, 1)
        first_thu = 1 + (3 - nov1.weekday()) % 7
        out.add(dt.date(y, 11, first_thu + 21 + 1))  # day after Thanksgiving
        x24 = dt.date(y, 12, 24)
        if 1 <= x24.isoweekday() % 7 <= 4:
            out.add(x24)
    return out


def load_symbol(path):
    with h5py.File(path, "r") as f:
        df = pd.DataFrame({k: f[k][:] for k in ["open", "high", "low", "close", "volume"]})
        ts = f["ts"][:]
    df.index = pd.to_datetime(ts, unit="s", utc=True)
    return df


def clean(df):
    df = df.replace([np.inf, -np.inf], np.nan).dropna()
    df = df[(df[["open", "high", "low", "close"]] > 0).all(axis=1) & (df.volume >= 0)]
    df = df.sort_index(kind="stable")
    df = df[~df.index.duplicated(keep="last")]
    df = df.copy()
    df["high"] = df[["open", "high", "low", "close"]].max(axis=1)
    df["low"] = df[["open", "high", "low", "close"]].min(axis=1)
    return df


def close_seconds(dates, extended, early):
    """UTC close (int seconds) of each NY date in `dates` (python dates)."""
    hour = [(17 if extended else 13) if d in early else (20 if extended else 16) for d in dates]
    local = pd.to_datetime([str(d) for d in dates]) + pd.to_timedelta(hour, unit="h")
    utc = pd.DatetimeIndex(local).tz_localize(NY).tz_convert("UTC")
    return np.asarray((utc - EPOCH) // pd.Timedelta(seconds=1), dtype=np.int64)


def interval_features(b):
    """The 11 features over the bars of one interval (b: open..volume)."""
    out = b[["open", "high", "low", "close", "volume"]].copy()
    c, v = b["close"], b["volume"]
    ratio = c / c.shift(1)
    out["ret_1"] = ratio - 1.0
    out["logret_1"] = np.log(ratio)
    out["rv_15"] = out["logret_1"].rolling(15).std()
    out["rv_60"] = out["logret_1"].rolling(60).std()
    delta = c.diff()
    ag = delta.clip(lower=0).ewm(alpha=1 / 14, adjust=False, min_periods=14).mean()
    al = (-delta).clip(lower=0).ewm(alpha=1 / 14, adjust=False, min_periods=14).mean()
    s = ag + al
    out["rsi_14"] = (100.0 * ag / s).where(s > 0, 50.0).where(ag.notna())
    roll = v.rolling(20)
    vm, vs = roll.mean(), roll.std()
    const = roll.max() == roll.min()
    out["vol_z"] = ((v - vm) / vs).where(~const & (vs > 0), 0.0).where(vm.notna())
    return out


def symbol_rows(df, base_s, higher, horizons, cross, extended):
    """Feature rows + labels for one cleaned symbol (index = bar start, UTC).
    Times are int64 UTC seconds; a row's time is its base bar's end."""
    ts = np.asarray((df.index - EPOCH) // pd.Timedelta(seconds=1), dtype=np.int64)
    ts_end = ts + base_s
    dates = pd.Index(df.index.tz_convert(NY).date)
    uniq = pd.Index(sorted(set(dates)))
    early = early_close_days(sorted({d.year for d in uniq}))
    close_of = pd.Series(close_seconds(uniq, extended, early), index=uniq)
    bar_close = close_of.reindex(dates).to_numpy()

    rows = interval_features(df)
    rows.columns = [f"{f}@base" for f in FEATS]
    rows = rows.reset_index(drop=True)
    rows["ts_end"] = ts_end
    for sec in higher:
        aggs = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
        if sec == 86400:
            keep = ts_end <= bar_close  # bars after the close are in no daily bar
            agg = df[keep].groupby(dates[keep]).agg(aggs)
            avail = close_of.reindex(agg.index).to_numpy()
        else:
            # buckets on the session grid (09:30, 10:30, ...): resample anchored at :30
            start = (ts - 1800) // sec * sec + 1800
            keep = ts_end <= np.minimum(start + sec, bar_close)
            agg = df[keep].resample(f"{sec}s", offset="30min").agg(aggs).dropna(subset=["close"])
            bstart = np.asarray((agg.index - EPOCH) // pd.Timedelta(seconds=1), dtype=np.int64)
            bclose = close_of.reindex(pd.Index(agg.index.tz_convert(NY).date)).to_numpy()
            avail = np.minimum(bstart + sec, bclose)
        feats = interval_features(agg)
        feats.columns = [f"{f}@{interval_name(sec)}" for f in FEATS]
        feats = feats.reset_index(drop=True)
        feats["avail"] = avail.astype(np.int64)
        # each row takes the latest bar that had completed at its time
        rows = pd.merge_asof(rows, feats, left_on="ts_end", right_on="avail",
                             direction="backward").drop(columns="avail")
    close = df["close"].to_numpy()
    dv = dates.to_numpy()
    for h in horizons:
        y = np.full(len(df), np.nan)
        if len(df) > h:
            y[:-h] = np.log(close[h:] / close[:-h])
            if not cross:
                y[:-h][dv[h:] != dv[:-h]] = np.nan
        rows[f"y_{h}"] = y
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", required=True)
    ap.add_argument("--provider", default="synthetic")
    ap.add_argument("--symbols", default="", help="comma list (default: every file in the cache)")
    ap.add_argument("--base-interval", default="15m")
    ap.add_argument("--intervals", default="1h,1d")
    ap.add_argument("--horizons", default="1,4,8")
    ap.add_argument("--target-horizon", type=int, default=4)
    ap.add_argument("--train-frac", type=float, default=0.7)
    ap.add_argument("--val-frac", type=float, default=0.15)
    ap.add_argument("--val-start", default="", help="YYYY-MM-DD or RFC 3339 (with --test-start)")
    ap.add_argument("--test-start", default="")
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--purge", type=int, default=-1, help="bars (default max horizon + seq_len - 1)")
    ap.add_argument("--scaler", choices=["robust", "global", "none"], default="robust",
                    help="none: raw features (for comparisons)")
    ap.add_argument("--labels-cross-overnight", type=int, default=0)
    ap.add_argument("--extended-hours", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    t0 = time.perf_counter()
    c0 = time.process_time()
    base_s = parse_interval(a.base_interval)
    higher = [parse_interval(x) for x in a.intervals.split(",") if x.strip()]
    for sec in higher:
        if sec != 86400 and 3600 % sec != 0:
            raise SystemExit(f"pandas_build: interval {interval_name(sec)} not supported here "
                             "(use intervals dividing 1h, or 1d)")
    horizons = [int(x) for x in a.horizons.split(",")]
    if a.target_horizon not in horizons:
        raise SystemExit(f"pandas_build: --target-horizon {a.target_horizon} not in {horizons}")
    purge = a.purge if a.purge >= 0 else max(horizons) + a.seq_len - 1
    sub = interval_name(base_s) + ("-ext" if a.extended_hours else "")  # as cache.c names it
    d = os.path.join(a.cache, a.provider, sub)
    symbols = sorted(set(s.strip() for s in a.symbols.split(",") if s.strip())) if a.symbols \
        else sorted(f[:-3] for f in os.listdir(d) if f.endswith(".h5"))
    frames = {s: load_symbol(os.path.join(d, f"{s}.h5")) for s in symbols}
    t_read = time.perf_counter()

    names = [f"{f}@base" for f in FEATS] + [f"{f}@{interval_name(s)}" for s in higher for f in FEATS]
    ycols = [f"y_{h}" for h in horizons]
    per_sym = []
    for i, s in enumerate(symbols):
        r = symbol_rows(clean(frames[s]), base_s, higher, horizons, a.labels_cross_overnight,
                        a.extended_hours)
        r = r.dropna(subset=names + ycols)  # warm-up and rows without a full future
        r["sym_id"] = i
        per_sym.append(r)
    data = pd.concat(per_sym, ignore_index=True)
    t_feat = time.perf_counter()

    # split by time over all symbols' row times, purge per symbol
    times = np.unique(data["ts_end"].to_numpy())
    if a.val_start or a.test_start:
        def utc_seconds(x):
            t = pd.Timestamp(x)
            t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
            return int((t - EPOCH) // pd.Timedelta(seconds=1))
        vs, ts_ = utc_seconds(a.val_start), utc_seconds(a.test_start)
    else:
        n = len(times)
        iv = min(max(int(math.floor(a.train_frac * n + 1e-9)), 0), n)
        it = min(max(int(math.floor((a.train_frac + a.val_frac) * n + 1e-9)), 0), n)
        vs = int(times[iv]) if iv < n else int(times[-1]) + 1
        ts_ = int(times[it]) if it < n else int(times[-1]) + 1
    data["t"] = data["ts_end"].to_numpy()
    split = np.where(data["t"] < vs, 0, np.where(data["t"] < ts_, 1, 2))
    data["split"] = split
    for b, nxt in ((vs, 0), (ts_, 1)):
        before = data[data["t"] < b]
        last = before.groupby("sym_id").tail(purge).index
        data.loc[last, "split"] = -1
    data = data[data["split"] >= 0]

    X = data[names].to_numpy(np.float32)
    y = data[ycols].to_numpy(np.float32)
    sym = data["sym_id"].to_numpy(np.int32)
    spl = data["split"].to_numpy()
    F = len(names)

    def fit(Xt):
        Xd = Xt.astype(np.float64)
        med = np.median(Xd, axis=0)
        q25, q75 = np.percentile(Xd, [25, 75], axis=0)
        iqr = q75 - q25
        iqr[iqr < 10 * np.finfo(np.float64).eps] = 1.0
        return med, iqr

    keep = np.ones(len(X), bool)
    if a.scaler == "none":
        Xs = X.astype(np.float64)
        medians, iqrs = np.zeros((1, F)), np.ones((1, F))
    elif a.scaler == "global":
        med, iqr = fit(X[spl == 0])
        Xs = (X.astype(np.float64) - med) / iqr
        medians, iqrs = med[None, :], iqr[None, :]
    else:
        Xs = np.empty(X.shape, np.float64)
        medians = np.zeros((len(symbols), F))
        iqrs = np.ones((len(symbols), F))
        for i in range(len(symbols)):
            m = sym == i
            tr = m & (spl == 0)
            if tr.sum() < 2:  # no scaler can be fitted: the symbol is left out
                keep &= ~m
                continue
            medians[i], iqrs[i] = fit(X[tr])
            Xs[m] = (X[m].astype(np.float64) - medians[i]) / iqrs[i]
    fmax = np.finfo(np.float32).max
    Xs = np.clip(Xs, -fmax, fmax).astype(np.float32)
    t_scale = time.perf_counter()

    out = {}
    for k, nm in enumerate(["train", "val", "test"]):
        m = keep & (spl == k)
        out[f"X_{nm}"], out[f"y_{nm}"] = Xs[m], y[m]
        out[f"sym_{nm}"], out[f"ts_{nm}"] = sym[m], data["t"].to_numpy()[m]
    timings = {"read_s": t_read - t0, "features_s": t_feat - t_read,
               "split_scale_s": t_scale - t_feat}
    np.savez(a.out, feature_names=np.array(names), horizons=np.array(horizons),
             target_index=horizons.index(a.target_horizon), symbols=np.array(symbols),
             val_start=vs, test_start=ts_, scaler_median=medians, scaler_iqr=iqrs,
             timings=json.dumps(timings), **out)
    timings["write_s"] = time.perf_counter() - t_scale
    timings["total_s"] = time.perf_counter() - t0
    # CPU seconds of this process: comparable on a shared, busy machine
    timings["total_cpu_s"] = time.process_time() - c0
    timings["rows"] = {k: int(len(out[f"X_{k}"])) for k in ["train", "val", "test"]}
    timings["symbols"] = len(symbols)
    print(json.dumps(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
