"""test_build_ranks.py - the same master build with 1 rank and with
`mpirun -n 2` (and more) gives identical X, y, sym_id and ts in every split
(and identical scalers and symbols.h5), whichever way the ranks write:
  - per-symbol scaler: one pass pipelined over the ranks (the symbols
    claimed as the ranks go, rows written while computing), with 2, 3 and 6
    ranks (6 > 5 symbols: a rank may get none), and 2 ranks of 3 worker
    threads each;
  - the same where the first symbols start late, so the split boundaries
    guessed from them are wrong: the pipelined pass is abandoned and the
    build redone in two passes;
  - global scaler with a sample smaller than the train split (so sampling
    really happens): two passes, rows written with pwrite (independent) or
    through collective MPI-IO transfers.
The summary says which (one pass / two passes). Also a delta on top: the
same cum.h5 with 1 and 2 ranks."""
import json
import os
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import buildtest  # noqa: E402
from buildtest import barforge, cache_end, check, crc32_file, done, mkcache, workdir  # noqa: E402

SYMS = ["AA", "BB", "CC", "DD", "EE"]  # 5: the ranks own 3 and 2 symbols


def check_crcs(root, label):
    """meta.json CRCs (computed in shares by all ranks, then combined) == zlib's"""
    m = json.load(open(os.path.join(root, "master", "meta.json")))
    for name, e in m["files"].items():
        got = "%08x" % crc32_file(os.path.join(root, "master", name))
        check(e["crc32"] == got, f"{label}: {name} crc32 {e['crc32']} in meta.json, file {got}")


def compare(root1, root2, label):
    for split in ["train", "val", "test"]:
        a = h5py.File(os.path.join(root1, "master", split + ".h5"), "r")
        b = h5py.File(os.path.join(root2, "master", split + ".h5"), "r")
        for k in ["X", "y", "sym_id", "ts"]:
            x, y = a[k][:], b[k][:]
            if not check(x.shape == y.shape, f"{label} {split}/{k}: shape {x.shape} vs {y.shape}"):
                continue
            diff = np.flatnonzero((x != y).reshape(len(x), -1).any(axis=1)) if x.size else []
            check(len(diff) == 0, f"{label} {split}/{k}: {len(diff)} rows differ, first at "
                  f"row {diff[0] if len(diff) else -1}")
        check(len(a["ts"]) > 0, f"{label} {split}: empty")
    for f in ["scalers.h5", "symbols.h5"]:
        a = h5py.File(os.path.join(root1, "master", f), "r")
        b = h5py.File(os.path.join(root2, "master", f), "r")
        for k in a:
            check(np.array_equal(a[k][:], b[k][:]), f"{label} {f}/{k} differs")


def build_pair(w, cache, syms, label, extra, ranks, passes):
    """1 rank vs `ranks` ranks: both succeed, the multi-rank summary says
    `passes`, the outputs are identical and meta.json's CRCs are right"""
    common = ["build", "--symbols", ",".join(syms), "--providers", "synthetic", "--cache-dir",
              cache]
    r1 = barforge(common + extra + ["--datasets-root", os.path.join(w, label + "1")])
    r2 = barforge(common + extra + ["--datasets-root", os.path.join(w, label + "n")], ranks=ranks)
    check(r1.returncode == 0, f"{label}, 1 rank: rc {r1.returncode}: {r1.stderr}")
    check(r2.returncode == 0, f"{label}, {ranks} ranks: rc {r2.returncode}: {r2.stderr}")
    if r1.returncode == 0 and r2.returncode == 0:
        check(f"max over {ranks} ranks" in r2.stdout, f"{label}: summary: {r2.stdout}")
        check(passes in r2.stdout, f"{label}, {ranks} ranks: expected '{passes}': {r2.stdout}")
        compare(os.path.join(w, label + "1"), os.path.join(w, label + "n"), label)
        check_crcs(os.path.join(w, label + "n"), f"{label}, {ranks} ranks")


def main():
    w = workdir("ranks")
    cache = os.path.join(w, "cache")
    mkcache(cache, "2023-01-03", 140, SYMS)
    # four of five symbols start four months late: the ranks guess the
    # boundaries from the first two symbols each claims, which are late (the
    # early one comes last), so the guess misses four months and is wrong
    late = os.path.join(w, "late")
    mkcache(late, "2023-05-01", 60, SYMS[:4])
    mkcache(late, "2023-01-03", 140, SYMS[4:])
    one, two = "one pass", "two passes"
    build_pair(w, cache, SYMS, "per-symbol", [], 2, one)
    build_pair(w, cache, SYMS, "per-symbol-3", [], 3, one)
    build_pair(w, cache, SYMS, "per-symbol-6", [], 6, one)
    # several worker threads per rank: the main thread claims for the others
    build_pair(w, cache, SYMS, "per-symbol-threads", ["--num-workers", "3"], 2, one)
    build_pair(w, late, SYMS, "late-guess", [], 2, two)
    build_pair(w, cache, SYMS, "global", ["--scaler", "global", "--scaler-sample-rows", "3000"], 2,
               two)
    build_pair(w, cache, SYMS, "global-mpio", ["--scaler", "global", "--scaler-sample-rows",
                                               "3000", "--mpio", "collective"], 2, two)
    common = ["build", "--symbols", ",".join(SYMS), "--providers", "synthetic", "--cache-dir", cache]
    # a delta on top of a master that ends before the cache does: same cum.h5
    end = cache_end(cache, "AA")
    for n in (1, 2):
        root = os.path.join(w, f"delta{n}")
        r = barforge(common + ["--datasets-root", root, "--end", "2023-06-30"], ranks=n)
        check(r.returncode == 0, f"master for the delta, {n} rank(s): {r.stderr}")
        r = barforge(["build", "--mode", "delta", "--no-fetch", "--cache-dir", cache,
                      "--datasets-root", root, "--end", end], ranks=n)
        check(r.returncode == 0, f"delta, {n} rank(s): {r.stderr}")
    try:
        a = h5py.File(os.path.join(w, "delta1", "extended_master", "cum.h5"), "r")
        b = h5py.File(os.path.join(w, "delta2", "extended_master", "cum.h5"), "r")
        check(len(a["ts"]) > 0, "empty delta")
        for k in ["X", "y", "sym_id", "ts"]:
            check(np.array_equal(a[k][:], b[k][:]), f"delta cum.h5/{k} differs, 1 vs 2 ranks")
    except OSError as e:
        check(False, f"cum.h5 missing: {e}")
    if not buildtest.failures:
        shutil.rmtree(w, ignore_errors=True)
    done("test_build_ranks")


if __name__ == "__main__":
    main()
