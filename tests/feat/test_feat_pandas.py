#!/usr/bin/env python3
"""test_feat_pandas - the C features/labels/split/scaler against the pandas
reference (bench/build/pandas_build.py) on the same generated bar cache.

The cache holds 5 symbols of 15-minute bars on the NY session grid, about
10 months, with gaps, a flat session, a zero-volume session, early closes
(13:00, July 3 and the day after Thanksgiving), NaN / duplicate / unsorted
bars for the cleaners, and one symbol that starts late (so splits and purges
differ per symbol). Both sides run with raw features (scaler none: tight
tolerance on every value), the per-symbol robust scaler, the global scaler,
and labels crossing the overnight gap. Rows must match exactly in count,
symbol and time; values to float tolerance.

Usage: test_feat_pandas.py FEAT_REF_DUMP_BINARY
Skips (exit 0, printing why) when pandas, numpy or h5py is missing.
"""
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
    import pandas as pd
except ImportError as e:  # pragma: no cover
    print(f"SKIP test_feat_pandas: {e} (pip install pandas numpy h5py)")
    sys.exit(0)

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("BARFORGE_SOURCE_DIR", os.path.join(HERE, "..", ".."))
PANDAS_BUILD = os.path.join(SRC, "bench", "build", "pandas_build.py")
sys.path.insert(0, os.path.dirname(PANDAS_BUILD))
import pandas_build  # noqa: E402  (for early_close_days)

NY = "America/New_York"


def make_symbol(rng, days, early, start_idx=0, dirty=False):
    rows = []
    price = 50 + 100 * rng.random()
    for i, d in enumerate(days):
        if i < start_idx:
            continue
        open_utc = pd.Timestamp(f"{d} 09:30", tz=NY).tz_convert("UTC")
        nbars = 14 if d in early else 26
        flat = i % 37 == 5
        zerov = i % 41 == 7
        for k in range(nbars):
            if rng.random() < 0.03:
                continue
            o = price
            c = price if flat else price * np.exp(0.004 * rng.standard_normal())
            wig = 0 if flat else abs(rng.standard_normal()) * 0.001
            h, l = max(o, c) * (1 + wig), min(o, c) * (1 - wig)
            v = 0.0 if zerov else float(np.floor(1000 + 800 * rng.random() + 30 * k))
            ts = int((open_utc + pd.Timedelta(minutes=15 * k)).timestamp())
            rows.append((ts, o, h, l, c, v))
            price = c
    a = np.array(rows)
    if dirty:
        a[10, 4] = np.nan                       # NaN close
        a[20, 1] = -1.0                         # non-positive open
        a[30, 5] = -5.0                         # negative volume
        a = np.vstack([a, a[100:103]])          # duplicates (same values) appended: unsorted
        a[-1, 4] *= 1.01                        # a duplicate with other values: the last wins
    return a


def write_cache(root, sym, a):
    d = os.path.join(root, "synthetic", "15m")
    os.makedirs(d, exist_ok=True)
    with h5py.File(os.path.join(d, f"{sym}.h5"), "w") as f:
        f["ts"] = a[:, 0].astype(np.int64)
        for j, k in enumerate(["open", "high", "low", "close", "volume"]):
            f[k] = a[:, j + 1].astype(np.float64)


def load_c(d):
    out = {}
    for s in ["train", "val", "test"]:
        for k in ["X", "y", "sym", "ts"]:
            out[f"{k}_{s}"] = np.load(os.path.join(d, f"{k}_{s}.npy"))
    return out


def compare(c, p, what, rtol, atol):
    fails = 0
    names = list(p["feature_names"])
    for s in ["train", "val", "test"]:
        nc, npd = len(c[f"ts_{s}"]), len(p[f"ts_{s}"])
        if nc != npd:
            print(f"FAIL {what} {s}: C has {nc} rows, pandas {npd}")
            fails += 1
            continue
        if nc == 0 and s == "train":
            print(f"FAIL {what}: empty train split")
            fails += 1
        for k in ["sym", "ts"]:
            if not np.array_equal(c[f"{k}_{s}"], p[f"{k}_{s}"]):
                i = int(np.argmax(c[f"{k}_{s}"] != p[f"{k}_{s}"]))
                print(f"FAIL {what} {s}: {k} differs first at row {i}: "
                      f"{c[f'{k}_{s}'][i]} vs {p[f'{k}_{s}'][i]}")
                fails += 1
        for k in ["X", "y"]:
            a, b = c[f"{k}_{s}"].astype(np.float64), p[f"{k}_{s}"].astype(np.float64)
            if not np.isfinite(a).all():
                print(f"FAIL {what} {s}: C {k} has NaN/Inf")
                fails += 1
            bad = ~np.isclose(a, b, rtol=rtol, atol=atol)
            if bad.any():
                cols = np.unique(np.nonzero(bad)[1])
                for j in cols[:6]:
                    rows = np.nonzero(bad[:, j])[0]
                    i = rows[0]
                    nm = names[j] if k == "X" else f"y[{j}]"
                    print(f"FAIL {what} {s} {nm}: {len(rows)} rows differ, first row {i}: "
                          f"C {a[i, j]!r} pandas {b[i, j]!r} (max |diff| "
                          f"{np.abs(a[:, j] - b[:, j]).max():.3g})")
                fails += 1
    rows = sum(len(c[f"ts_{s}"]) for s in ["train", "val", "test"])
    print(f"{what}: {rows} rows compared, {'ok' if not fails else f'{fails} failure(s)'}")
    return fails


def main():
    if len(sys.argv) < 2:
        print("usage: test_feat_pandas.py FEAT_REF_DUMP_BINARY")
        return 2
    dump = sys.argv[1]
    rng = np.random.default_rng(20240607)
    days = [d.date() for d in pd.bdate_range("2023-03-01", "2023-12-29")]
    early = pandas_build.early_close_days([2023])
    syms = ["AAA", "BBB", "CCC", "DDD", "LATE"]
    fails = 0
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "cache")
        for i, s in enumerate(syms):
            a = make_symbol(rng, days, early, start_idx=100 if s == "LATE" else 0,
                            dirty=(s == "BBB"))
            write_cache(cache, s, a)
        cases = [("none", 0, 2e-6, 1e-9), ("robust", 0, 1e-4, 1e-4), ("global", 0, 1e-4, 1e-4),
                 ("none", 1, 2e-6, 1e-9)]
        for scaler, cross, rtol, atol in cases:
            what = f"scaler={scaler} cross_overnight={cross}"
            cdir = os.path.join(tmp, f"c_{scaler}_{cross}")
            os.makedirs(cdir)
            r = subprocess.run([dump, cache, "synthetic", cdir, ",".join(syms), scaler, str(cross),
                                "0"], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"FAIL {what}: feat_ref_dump exited {r.returncode}: {r.stderr.strip()}")
                fails += 1
                continue
            npz = os.path.join(tmp, f"p_{scaler}_{cross}.npz")
            r = subprocess.run([sys.executable, PANDAS_BUILD, "--cache", cache, "--symbols",
                                ",".join(syms), "--scaler", scaler, "--labels-cross-overnight",
                                str(cross), "--out", npz], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"FAIL {what}: pandas_build.py exited {r.returncode}: {r.stderr.strip()}")
                fails += 1
                continue
            p = dict(np.load(npz))
            with open(os.path.join(cdir, "bounds.txt")) as f:
                vs, ts_ = (int(x) for x in f.read().split())
            if (vs, ts_) != (int(p["val_start"]), int(p["test_start"])):
                print(f"FAIL {what}: split boundaries C {vs},{ts_} pandas "
                      f"{int(p['val_start'])},{int(p['test_start'])}")
                fails += 1
            fails += compare(load_c(cdir), p, what, rtol, atol)
    if fails:
        print(f"test_feat_pandas: {fails} failure(s)")
        return 1
    print("test_feat_pandas: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
