"""test_build_h5py.py - a master build read by h5py: names, shapes, dtypes,
chunking, attributes of every file; meta.json validated field by field
(types, consistency with the files, CRC-32 of every file, the dataset
checksum); no NaN/Inf; rows ordered by (sym_id, ts) and inside their split's
time range; --compress gives gzip datasets with identical arrays."""
import json
import os
import re
import shutil
import sys
import zlib

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import buildtest  # noqa: E402
from buildtest import barforge, check, crc32_file, done, mkcache, workdir  # noqa: E402

SYMS = ["KO", "AAPL", "MSFT"]
SPLITS = ["train", "val", "test"]


def validate_meta(m, vdir):
    """meta.json schema v1 (docs/formats.md): every key, its type, consistency."""
    types = {
        "schema_version": int, "format": str, "mode": str, "version": str, "created_utc": str,
        "barforge": str, "ranks": int, "base_interval": str, "intervals": list, "horizons": list,
        "target_horizon": int, "target_index": int, "label_names": list, "n_features": int,
        "feature_names": list, "seq_len": int, "max_horizon": int, "purge_bars": int,
        "labels_cross_overnight": bool, "extended_hours": bool, "symbols": list, "sym2id": dict,
        "split": dict, "scaler": dict, "providers": list, "symbols_per_provider": dict,
        "cache_dir": str, "data": dict, "build_args": dict, "rows": dict, "dropped": dict,
        "files": dict, "checksum": str, "timings_s": dict,
    }
    for k, t in types.items():
        if check(k in m, f"meta.json lacks '{k}'"):
            check(isinstance(m[k], t), f"meta.json '{k}' is {type(m[k]).__name__}, not {t.__name__}")
    check(m["schema_version"] == 1, f"schema_version {m['schema_version']}")
    check(m["format"] == "barforge-dataset" and m["mode"] == "master", "format/mode")
    check(m["version"] == os.path.basename(os.path.realpath(vdir)),
          f"version {m['version']} is not the directory name {os.path.realpath(vdir)}")
    check(re.fullmatch(r"v\d{4}-\d\d-\d\d(-\d+)?", m["version"]) is not None,
          f"version name {m['version']}")
    check(m["intervals"] == ["15m", "1h", "1d"] and m["base_interval"] == "15m", "intervals")
    check(m["horizons"] == [1, 4, 8] and m["target_horizon"] == 4 and m["target_index"] == 1,
          "horizons/target")
    check(m["label_names"] == ["y_1", "y_4", "y_8"], f"label_names {m['label_names']}")
    check(m["n_features"] == 33 == len(m["feature_names"]), "n_features")
    check(len(set(m["feature_names"])) == 33, "feature names not unique")
    check(m["feature_names"][3] == "close@base" and m["feature_names"][-2] == "rsi_14@1d",
          f"feature names {m['feature_names'][:4]} ... {m['feature_names'][-2:]}")
    check(m["purge_bars"] == m["seq_len"] - 1 + m["max_horizon"] == 71, "purge")
    check(m["symbols"] == sorted(SYMS), f"symbols {m['symbols']}")
    check(m["sym2id"] == {s: i for i, s in enumerate(sorted(SYMS))}, f"sym2id {m['sym2id']}")
    sp = m["split"]
    check(sp["method"] == "fractions" and sp["train_frac"] == 0.7 and sp["val_frac"] == 0.15,
          f"split {sp}")
    check(isinstance(sp["val_start_utc"], int) and sp["val_start_utc"] < sp["test_start_utc"],
          "split boundaries")
    check(m["scaler"]["kind"] == "robust_per_symbol" and m["scaler"]["file"] == "scalers.h5",
          f"scaler {m['scaler']}")
    check(m["providers"] == ["alpaca", "synthetic"], f"providers {m['providers']}")
    check(m["symbols_per_provider"] == {"alpaca": 0, "synthetic": 3},
          f"symbols_per_provider {m['symbols_per_provider']}")
    for k in ["first_bar_utc", "last_bar_utc", "first_row_utc", "last_row_utc"]:
        check(isinstance(m["data"].get(k), int), f"data.{k}")
    check(m["build_args"].get("seq-len") == 64, f"build_args {m['build_args']}")
    check(set(m["rows"]) == set(SPLITS) and all(m["rows"][s] > 0 for s in SPLITS),
          f"rows {m['rows']}")
    for k in ["rows_warmup", "rows_no_label", "rows_purged", "rows_nonfinite"]:
        check(isinstance(m["dropped"].get(k), int), f"dropped.{k}")
    check(m["dropped"]["rows_purged"] > 0, "nothing purged")
    names = ["train.h5", "val.h5", "test.h5", "scalers.h5", "symbols.h5"]
    check(sorted(m["files"]) == sorted(names), f"files {sorted(m['files'])}")
    agg = 0
    for n in names:
        p = os.path.join(vdir, n)
        e = m["files"][n]
        check(e["crc32"] == "%08x" % crc32_file(p), f"{n}: crc32 {e['crc32']} != file's")
        check(e["bytes"] == os.path.getsize(p), f"{n}: bytes")
        agg = zlib.crc32(f"{n}:{e['crc32']}\n".encode(), agg)
    check(m["checksum"] == "%08x" % agg, f"dataset checksum {m['checksum']} != {agg:08x}")
    check(sorted(os.listdir(vdir)) == sorted(names + ["meta.json"]),
          f"unexpected files {sorted(os.listdir(vdir))}")


def validate_split(m, vdir, split):
    f = h5py.File(os.path.join(vdir, split + ".h5"), "r")
    check(sorted(f.keys()) == ["X", "sym_id", "ts", "y"], f"{split}: datasets {sorted(f.keys())}")
    n, F, H = m["rows"][split], m["n_features"], len(m["horizons"])
    want = {"X": ((n, F), np.float32), "y": ((n, H), np.float32), "sym_id": ((n,), np.int32),
            "ts": ((n,), np.int64)}
    for k, (shape, dt) in want.items():
        check(f[k].shape == shape, f"{split}/{k}: shape {f[k].shape} != {shape}")
        check(f[k].dtype == dt, f"{split}/{k}: dtype {f[k].dtype} != {dt}")
        check(f[k].chunks is not None, f"{split}/{k}: not chunked")
    a = dict(f.attrs)
    check(a.get("schema_version") == 1 and a.get("split") == split, f"{split}: attrs {a}")
    check(a.get("feature_names") == ",".join(m["feature_names"]), f"{split}: feature_names attr")
    check(a.get("horizons") == "1,4,8" and a.get("target_index") == 1, f"{split}: horizons attr")
    check(a.get("rows") == n and a.get("n_symbols") == 3, f"{split}: rows/n_symbols attr")
    X, y, sid, ts = f["X"][:], f["y"][:], f["sym_id"][:], f["ts"][:]
    check(np.isfinite(X).all() and np.isfinite(y).all(), f"{split}: NaN/Inf in X or y")
    key = sid.astype(np.int64) * (1 << 40) + ts
    check((np.diff(key) > 0).all(), f"{split}: rows not strictly ordered by (sym_id, ts)")
    check(sid.min() >= 0 and sid.max() < 3, f"{split}: sym_id range")
    vs, te = m["split"]["val_start_utc"], m["split"]["test_start_utc"]
    inside = {"train": ts < vs, "val": (ts >= vs) & (ts < te), "test": ts >= te}[split]
    check(inside.all(), f"{split}: {np.count_nonzero(~inside)} rows outside the split range")
    check((ts % 900 == 0).all(), f"{split}: ts not on the 15-minute grid")
    return X, y, sid, ts


def main():
    w = workdir("h5py")
    cache, root = os.path.join(w, "cache"), os.path.join(w, "ds")
    mkcache(cache, "2023-01-03", 150, SYMS)
    r = barforge(["build", "--symbols", ",".join(SYMS), "--providers", "alpaca,synthetic",
                  "--cache-dir", cache, "--datasets-root", root])
    if not check(r.returncode == 0, f"build failed ({r.returncode}): {r.stderr}"):
        done("test_build_h5py")
    for word in ["rows: train", "dropped rows", "purged", "timings", "read", "features", "write"]:
        check(word in r.stdout, f"summary lacks '{word}':\n{r.stdout}")
    vdir = os.path.join(root, "master")
    check(os.path.islink(vdir), "master is not a symlink")
    m = json.load(open(os.path.join(vdir, "meta.json")))
    validate_meta(m, vdir)
    arrays = {s: validate_split(m, vdir, s) for s in SPLITS}
    # per-symbol train medians of the scaled features are ~0 (robust scaling on train)
    X, _, sid, _ = arrays["train"]
    for s in range(3):
        med = np.median(X[sid == s], axis=0)
        check(np.abs(med).max() < 1e-3, f"sym {s}: scaled train medians up to {np.abs(med).max()}")
    sc = h5py.File(os.path.join(vdir, "scalers.h5"), "r")
    check(sc["median"].shape == (3, 33) and sc["iqr"].shape == (3, 33), "scaler shapes")
    check(sc["median"].dtype == np.float64 and sc.attrs["kind"] == "robust_per_symbol", "scaler")
    check((sc["n_fit"][:] == np.bincount(sid, minlength=3)).all(), "n_fit != train rows/symbol")
    sy = h5py.File(os.path.join(vdir, "symbols.h5"), "r")
    rows = sy["rows"][:]
    check(rows.shape == (3, 3) and (rows.sum(axis=0) == [m["rows"][s] for s in SPLITS]).all(),
          f"symbols.h5 rows {rows.tolist()}")
    check((sy["last_row_ts"][:] == [arrays["test"][3][arrays["test"][2] == s].max()
                                    for s in range(3)]).all(), "symbols.h5 last_row_ts")

    # compression: same arrays, gzip filter, one rank
    root2 = os.path.join(w, "ds_gz")
    r = barforge(["build", "--symbols", ",".join(SYMS), "--providers", "synthetic",
                  "--cache-dir", cache, "--datasets-root", root2, "--compress", "4"])
    check(r.returncode == 0, f"compressed build failed: {r.stderr}")
    if r.returncode == 0:
        for s in SPLITS:
            f = h5py.File(os.path.join(root2, "master", s + ".h5"), "r")
            check(f["X"].compression == "gzip", f"{s}: X compression {f['X'].compression}")
            for i, k in enumerate(["X", "y", "sym_id", "ts"]):
                check(np.array_equal(f[k][:], arrays[s][i]), f"{s}/{k} differs when compressed")
    if not buildtest.failures:
        shutil.rmtree(w, ignore_errors=True)
    done("test_build_h5py")


if __name__ == "__main__":
    main()
