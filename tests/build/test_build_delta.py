"""test_build_delta.py - delta builds on top of a master:
 - new rows only after each symbol's last master row, at least purge_bars
   rows later, scaled (finite), written to updates/update_*/delta.h5 and
   appended to extended_master/cum.h5;
 - running the same delta again changes nothing at all under the datasets
   root (every file's CRC, every link);
 - a delta killed in the middle of the cum.h5 append (BARFORGE_FAULT) leaves
   cum.h5 byte for byte as it was; the next run appends the rows once;
 - the master version is never modified."""
import json
import os
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import buildtest  # noqa: E402
from buildtest import barforge, check, crc32_file, done, mkcache, tree, workdir  # noqa: E402
from buildtest import cache_end as _cache_end  # noqa: E402


def cache_end(cache):
    return _cache_end(cache, "AAPL")

SYMS = ["AAPL", "KO", "MSFT"]


def cum_rows(root):
    f = h5py.File(os.path.join(root, "extended_master", "cum.h5"), "r")
    return f["sym_id"][:], f["ts"][:], f["X"][:], f["y"][:], dict(f.attrs)


def main():
    w = workdir("delta")
    cache, root = os.path.join(w, "cache"), os.path.join(w, "ds")
    mkcache(cache, "2023-01-03", 150, SYMS)
    base = ["build", "--symbols", ",".join(SYMS), "--providers", "synthetic", "--cache-dir", cache,
            "--datasets-root", root]
    r = barforge(base + ["--end", "2023-07-01"])
    if not check(r.returncode == 0, f"master failed: {r.stderr}"):
        done("test_build_delta")
    master_dir = os.path.realpath(os.path.join(root, "master"))
    master_tree = tree(master_dir)
    meta = json.load(open(os.path.join(master_dir, "meta.json")))
    last_row = h5py.File(os.path.join(master_dir, "symbols.h5"), "r")["last_row_ts"][:]
    purge = meta["purge_bars"]

    end1 = cache_end(cache)
    delta = base + ["--mode", "delta", "--seq-len", "64", "--max-horizon", "8", "--no-fetch",
                    "--end", end1]
    r = barforge(delta)
    if not check(r.returncode == 0, f"delta failed ({r.returncode}): {r.stderr}"):
        done("test_build_delta")
    check("delta update_" in r.stdout, f"summary: {r.stdout}")
    ups = sorted(os.listdir(os.path.join(root, "updates")))
    check(len(ups) == 1 and ups[0].startswith("update_"), f"updates: {ups}")
    sid, ts, X, y, attrs = cum_rows(root)
    check(len(ts) > 0, "cum.h5 is empty")
    check(attrs.get("master_version") == meta["version"], f"cum master_version {attrs}")
    check(attrs.get("updates") == ups[0], f"cum updates attr {attrs.get('updates')}")
    check(np.isfinite(X).all() and np.isfinite(y).all(), "NaN/Inf in cum.h5")
    check(X.shape[1] == 33 and y.shape[1] == 3, f"cum shapes {X.shape} {y.shape}")
    d = h5py.File(os.path.join(root, "updates", ups[0], "delta.h5"), "r")
    check(np.array_equal(d["ts"][:], ts) and np.array_equal(d["X"][:], X), "delta.h5 != cum.h5")
    um = json.load(open(os.path.join(root, "updates", ups[0], "meta.json")))
    check(um["rows"] == len(ts) and um["master_version"] == meta["version"], f"update meta {um}")
    check(um["files"]["delta.h5"]["crc32"] ==
          "%08x" % crc32_file(os.path.join(root, "updates", ups[0], "delta.h5")), "delta crc")
    key = sid.astype(np.int64) * (1 << 40) + ts
    check((np.diff(key) > 0).all(), "delta rows not ordered by (sym_id, ts)")
    # rows start after each symbol's last master row, past the purge: at least
    # purge_bars base bars (15 minutes each, sessions only) later
    for s in range(3):
        t = ts[sid == s]
        if check(len(t) > 0, f"symbol {s}: no delta rows"):
            check(t.min() > last_row[s], f"symbol {s}: delta row {t.min()} <= master row {last_row[s]}")
            gap_bars = (t.min() - last_row[s]) // 900
            check(gap_bars > purge, f"symbol {s}: first delta row only {gap_bars} bars after the "
                  f"master's last row (purge {purge})")

    # idempotence: the same delta again changes nothing under the root
    before = tree(root)
    r = barforge(delta)
    check(r.returncode == 0, f"second delta failed: {r.stderr}")
    check("no new rows" in r.stdout, f"second delta summary: {r.stdout}")
    after = tree(root)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    check(not changed, f"the repeated delta changed: {changed}")

    # crash in the middle of the append: cum.h5 stays as it was
    mkcache(cache, "2023-01-03", 175, SYMS)  # more bars
    crash = [a if a != end1 else cache_end(cache) for a in delta]
    cum_path = os.path.join(root, "extended_master", "cum.h5")
    crc_before = crc32_file(cum_path)
    n_before = len(ts)
    r = barforge(crash, env={"BARFORGE_FAULT": "delta_append_after_rows"})
    check(r.returncode != 0, f"the faulted delta did not die (rc {r.returncode})")
    check(crc32_file(cum_path) == crc_before, "cum.h5 changed after a crash mid-append")
    sid2, ts2, _, _, _ = cum_rows(root)
    check(len(ts2) == n_before, f"cum.h5 has {len(ts2)} rows after the crash, {n_before} before")
    r = barforge(crash)
    check(r.returncode == 0, f"delta after the crash failed: {r.stderr}")
    sid3, ts3, X3, _, attrs3 = cum_rows(root)
    check(len(ts3) > n_before, f"cum.h5 did not grow: {len(ts3)} rows")
    k3 = sid3.astype(np.int64) * (1 << 40) + ts3
    check(len(np.unique(k3)) == len(k3), f"{len(k3) - len(np.unique(k3))} duplicate (sym_id, ts)")
    check(np.array_equal(ts3[:n_before], ts), "the old cum rows changed")
    check(np.isfinite(X3).all(), "NaN/Inf in cum.h5")
    check(not [n for n in os.listdir(os.path.join(root, "extended_master")) if ".tmp." in n],
          "a temp file of the crashed run is left in extended_master")
    check(tree(master_dir) == master_tree, "the master version changed")
    fetch_path(w)
    if not buildtest.failures:
        shutil.rmtree(w, ignore_errors=True)
    done("test_build_delta")


def fetch_path(w):
    """The default path: `barforge fetch` (synthetic) for the master, then a
    delta that fetches the new bars itself; symbols default to the master's."""
    cache, root = os.path.join(w, "fcache"), os.path.join(w, "fds")
    r = barforge(["fetch", "--symbols", "AAPL,KO", "--start", "2023-01-01", "--end", "2023-07-31",
                  "--cache-dir", cache])
    if not check(r.returncode == 0, f"fetch failed: {r.stderr}"):
        return
    r = barforge(["build", "--symbols", "AAPL,KO", "--cache-dir", cache, "--datasets-root", root])
    if not check(r.returncode == 0, f"master on the fetched cache failed: {r.stderr}"):
        return
    r = barforge(["build", "--mode", "delta", "--cache-dir", cache, "--datasets-root", root,
                  "--end", "2023-08-31"])
    check(r.returncode == 0, f"delta with fetch failed: {r.stderr}")
    check("fetched" in r.stderr and "new 15m bars" in r.stderr, f"no fetch reported: {r.stderr}")
    f = h5py.File(os.path.join(cache, "synthetic", "15m", "AAPL.h5"), "r")
    check(int(f["ts"][:].max()) >= 1693400000, "the delta did not fetch August bars")
    sid, ts, X, _, _ = cum_rows(root)
    check(len(ts) > 0 and set(np.unique(sid)) == {0, 1}, f"cum rows {len(ts)}, symbols {set(sid)}")
    check(np.isfinite(X).all(), "NaN/Inf in cum.h5 (fetch path)")
    r = barforge(["build", "--mode", "delta", "--no-fetch", "--cache-dir", cache,
                  "--datasets-root", root, "--symbols", "KO,ZZZ"])
    check(r.returncode == 2 and "ZZZ is not in master" in r.stderr,
          f"delta with a symbol the master lacks: rc {r.returncode}: {r.stderr}")


if __name__ == "__main__":
    main()
