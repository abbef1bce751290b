"""tinyds.py - write a small dataset in barforge's layout (docs/formats.md
"## Datasets": meta.json + {train,val,test}.h5 with X, y, sym_id, ts) without
running fetch/build, so the training tests are fast and their data is known.

The target has a planted, learnable signal: y[:, target] = 0.01 * X[:, 0] +
noise, so a model that sees the window's last row can beat predicting zero.
"""
import json
import os
import zlib

import h5py
import numpy as np


def write_dataset(vdir, n_symbols=3, rows=(240, 80, 80), F=5, H=2, target_index=0, seed=0,
                  scale=1.0, version="v2024-01-02", noise=0.002, yscale=1.0, signal=0.01):
    rng = np.random.default_rng(seed)
    os.makedirs(vdir, exist_ok=True)
    symbols = ["S%02d" % i for i in range(n_symbols)]
    horizons = [4, 8][:H] if H <= 2 else list(range(1, H + 1))
    base = 1704186000  # 2024-01-02T09:00:00Z
    files = {}
    t0 = base
    for k, split in enumerate(("train", "val", "test")):
        n_per = rows[k]
        X, y, sym, ts = [], [], [], []
        for s in range(n_symbols):
            # symbols get slightly different lengths so windows per symbol differ
            n = n_per - 3 * s
            x = rng.standard_normal((n, F)).astype(np.float32)
            t = np.zeros((n, H), np.float32)
            for h in range(H):
                t[:, h] = signal * x[:, 0] * (1 + h) + noise * rng.standard_normal(n)
            X.append(x * scale)
            y.append(t * np.float32(yscale))
            sym.append(np.full(n, s, np.int32))
            ts.append(t0 + 900 * np.arange(1, n + 1, dtype=np.int64))
        t0 += 900 * (n_per + 10)
        X = np.concatenate(X)
        y = np.concatenate(y)
        sym = np.concatenate(sym)
        ts = np.concatenate(ts)
        path = os.path.join(vdir, split + ".h5")
        with h5py.File(path, "w") as f:
            f.create_dataset("X", data=X)
            f.create_dataset("y", data=y)
            f.create_dataset("sym_id", data=sym)
            f.create_dataset("ts", data=ts)
            f.attrs["split"] = split
        with open(path, "rb") as fh:
            files[split + ".h5"] = {"crc32": "%08x" % (zlib.crc32(fh.read()) & 0xFFFFFFFF)}
        files[split + ".h5"]["rows"] = int(len(sym))
    checksum = "%08x" % (zlib.crc32("".join(v["crc32"] for v in files.values()).encode()) & 0xFFFFFFFF)
    names = ["f%d@base" % i for i in range(F)]
    meta = {
        "schema_version": 1,
        "version": version,
        "checksum": checksum,
        "feature_names": names,
        "n_features": F,
        "horizons": horizons,
        "intervals": ["15m"],
        "target_horizon": horizons[target_index],
        "target_index": target_index,
        "seq_len": 16,
        "max_horizon": max(horizons),
        "purge_bars": 0,
        "labels_cross_overnight": False,
        "symbols": symbols,
        "split": {"val_start_utc": base, "test_start_utc": base},
        "rows": {s: files[s + ".h5"]["rows"] for s in ("train", "val", "test")},
        "scaler": {"kind": "robust_per_symbol"},
        "files": {k: {"crc32": v["crc32"]} for k, v in files.items()},
    }
    with open(os.path.join(vdir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def n_windows(meta, split, seq_len, stride=1):
    """Windows of a split as the seed's WindowedDataset counts them."""
    import h5py as _h
    with _h.File(os.path.join(os.path.dirname(meta["_path"]) if "_path" in meta else "", split + ".h5")) as f:
        sym = f["sym_id"][...]
    return count_windows(sym, seq_len, stride)


def count_windows(sym, seq_len, stride=1):
    total = 0
    _, counts = np.unique(sym, return_counts=True)
    for n in counts:
        if n >= seq_len:
            total += len(range(0, n - seq_len + 1, stride))
    return total


if __name__ == "__main__":
    import sys
    write_dataset(sys.argv[1])
