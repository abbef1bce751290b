"""test_build_threads.py - the thread count changes no output bit: the same
master build with BARFORGE_THREADS=1, BARFORGE_THREADS=2 and --num-workers 2
gives identical X, y, sym_id, ts in every split, identical scalers.h5 and
symbols.h5 datasets and the same meta.json (but for times and checksums of
files that hold HDF5 object times). Seven symbols, so the pass-1 workers
complete symbols out of order; per-symbol and global scalers; a memory
budget that keeps some symbols' rows and recomputes the others (with the
global scaler, so that the build takes two passes: one rank with the
per-symbol scaler writes its rows in pass 1 and keeps none). The direct
split-file writer is also checked against the HDF5 writer (--compress 1,
one thread), array by array."""
import json
import os
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import buildtest  # noqa: E402
from buildtest import barforge, check, done, mkcache, workdir  # noqa: E402

SYMS = ["AA", "BB", "CC", "DD", "EE", "FF", "GG"]
VOLATILE = {"created_utc", "timings_s", "files", "checksum", "build_args", "version"}


def arrays(root):
    """{file/dataset: ndarray} and {file[/dataset]@attr: value} of a version"""
    out = {}
    for f in ["train.h5", "val.h5", "test.h5", "scalers.h5", "symbols.h5"]:
        with h5py.File(os.path.join(root, "master", f), "r") as h:
            for k, v in h.attrs.items():
                out[f"{f}@{k}"] = v
            for k in h:
                out[f"{f}/{k}"] = h[k][:]
                for a, v in h[k].attrs.items():
                    out[f"{f}/{k}@{a}"] = v
    return out


def compare(label, ref_root, root, meta=True):
    a, b = arrays(ref_root), arrays(root)
    check(sorted(a) == sorted(b), f"{label}: objects {sorted(set(a) ^ set(b))} differ")
    for k in sorted(set(a) & set(b)):
        x, y = a[k], b[k]
        if isinstance(x, np.ndarray) and x.ndim > 0:
            same = x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
            if not same and x.shape == y.shape and x.size:
                rows = np.flatnonzero((x != y).reshape(len(x), -1).any(axis=1))
                check(False, f"{label}: {k}: {len(rows)} rows differ, first at row "
                      f"{rows[0] if len(rows) else -1}")
            else:
                check(same, f"{label}: {k}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}")
        else:
            check(str(x) == str(y), f"{label}: {k}: {x!r} vs {y!r}")
    if meta:
        ma = json.load(open(os.path.join(ref_root, "master", "meta.json")))
        mb = json.load(open(os.path.join(root, "master", "meta.json")))
        for k in sorted(set(ma) | set(mb)):
            if k not in VOLATILE:
                check(ma.get(k) == mb.get(k), f"{label}: meta.json {k}: {ma.get(k)} vs {mb.get(k)}")
    check(len(a.get("train.h5/ts", [])) > 0, f"{label}: empty train split")


def main():
    w = workdir("threads")
    cache = os.path.join(w, "cache")
    mkcache(cache, "2023-01-03", 140, SYMS)
    common = ["build", "--symbols", ",".join(SYMS), "--providers", "synthetic",
              "--cache-dir", cache]
    cases = {
        "per-symbol": [],
        "kept+recomputed": ["--scaler", "global", "--scaler-sample-rows", "3000",
                            "--memory-budget-mb", "1"],
        "global": ["--scaler", "global", "--scaler-sample-rows", "3000"],
    }
    for label, extra in cases.items():
        roots = {}
        runs = [("1 thread", [], {"BARFORGE_THREADS": "1"}),
                ("2 threads", [], {"BARFORGE_THREADS": "2"}),
                ("--num-workers 2", ["--num-workers", "2"], {"BARFORGE_THREADS": "1"})]
        for name, flags, env in runs:
            root = os.path.join(w, f"{label}-{name}".replace(" ", "_"))
            r = barforge(common + extra + flags + ["--datasets-root", root], env=env)
            if check(r.returncode == 0, f"{label}, {name}: rc {r.returncode}: {r.stderr}"):
                roots[name] = root
        if "1 thread" not in roots:
            continue
        for name in roots:
            if name != "1 thread":
                compare(f"{label}: 1 thread vs {name}", roots["1 thread"], roots[name])
    # the direct writer against the HDF5 one (compression keeps the HDF5 path)
    ref = os.path.join(w, "per-symbol-1_thread")
    root = os.path.join(w, "hdf5-writer")
    r = barforge(common + ["--compress", "1", "--datasets-root", root],
                 env={"BARFORGE_THREADS": "1"})
    if check(r.returncode == 0, f"--compress 1: rc {r.returncode}: {r.stderr}") and \
            os.path.isdir(ref):
        compare("direct vs HDF5 writer", ref, root, meta=False)
    if not buildtest.failures:
        shutil.rmtree(w, ignore_errors=True)
    done("test_build_threads")


if __name__ == "__main__":
    main()
