#!/usr/bin/env python3
"""test_fetch_kill.py - a fetch killed at any moment never leaves a cache
file that cannot be read or that holds partial rows.

A reference cache is built by one complete run. Then a fetch into a second
cache is started again and again (the first time creating the files, then
with --refresh, replacing them) and SIGKILLed at a random moment (seeded, so
failures reproduce) while a temporary file is being written. After every kill each *.h5 file
is opened with h5py and checked: all datasets present, equal lengths, ts
strictly increasing, covered ranges sorted and disjoint with every bar inside
one, and its arrays equal to the reference file (a file is either absent or
complete). A last run must finish, leave no stale temporary file, read every
file without calling one corrupt, and end with a cache equal to the reference.
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

BIN = os.environ.get("BARFORGE_BIN", "build/barforge")
FIELDS = ["ts", "open", "high", "low", "close", "volume", "vwap", "trades", "covered"]
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, file=sys.stderr)


def args(cache, refresh=False):
    return [BIN, "fetch", "--universe", "synthetic:160"] + (["--refresh"] if refresh else []) + [ "--start", "2024-01-02", "--end", "2024-12-31",
            "--cache-dir", cache, "--log-level", "warn", "--table-rows", "0"]


def files(root):
    out = {}
    for d, _, fs in os.walk(root):
        for f in fs:
            out[os.path.relpath(os.path.join(d, f), root)] = os.path.join(d, f)
    return out


def verify(path, ref):
    """problems with one cache file, [] when it is complete and consistent"""
    try:
        with h5py.File(path, "r") as h:
            data = {k: h[k][()] for k in FIELDS}
            for a in ["symbol", "provider", "interval_s", "schema_version", "written_at"]:
                if a not in h.attrs:
                    return [f"attribute {a} missing"]
    except Exception as e:  # unreadable: exactly what must never happen
        return [f"unreadable: {e}"]
    probs = []
    n = len(data["ts"])
    for k in FIELDS[1:8]:
        if len(data[k]) != n:
            probs.append(f"/{k} has {len(data[k])} rows, /ts {n}")
    ts, cov = data["ts"], data["covered"].reshape(-1, 2)
    if n > 1 and not np.all(np.diff(ts) > 0):
        probs.append("ts not strictly increasing")
    if len(cov) and (np.any(cov[:, 1] <= cov[:, 0]) or np.any(cov[1:, 0] <= cov[:-1, 1])):
        probs.append("covered ranges unsorted or overlapping")
    inside = np.zeros(n, bool)
    for a, b in cov:
        inside |= (ts >= a) & (ts < b)
    if not inside.all():
        probs.append(f"{(~inside).sum()} bars outside the covered ranges")
    if ref is not None:
        for k in FIELDS:
            if not np.array_equal(data[k], ref[k], equal_nan=data[k].dtype.kind == "f"):
                probs.append(f"/{k} differs from the complete run (partial rows?)")
    return probs


def load_ref(root):
    ref = {}
    for rel, p in files(root).items():
        with h5py.File(p, "r") as h:
            ref[rel] = {k: h[k][()] for k in FIELDS}
    return ref


def main():
    rng = random.Random(int(os.environ.get("BF_KILL_SEED", "20261127")))
    tmp = tempfile.mkdtemp(prefix="bf_kill_")
    try:
        t0 = time.time()
        p = subprocess.run(args(f"{tmp}/ref"), capture_output=True, text=True, timeout=600)
        full = time.time() - t0
        check(p.returncode == 0, f"reference run failed: {p.stderr[-2000:]}")
        ref = load_ref(f"{tmp}/ref")
        check(len(ref) == 160, f"reference has {len(ref)} files")
        print(f"reference run: {full:.2f} s for {len(ref)} files")

        cache = f"{tmp}/killed"
        kills = 0
        for k in range(6):
            proc = subprocess.Popen(args(cache, refresh=k > 0), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            # a random moment, then the next instant a temporary file exists: mid-write
            time.sleep(rng.uniform(0.1, 0.8) * full)
            while proc.poll() is None:
                try:
                    busy = any(".h5.tmp." in f for f in os.listdir(f"{cache}/synthetic/15m"))
                except FileNotFoundError:
                    busy = False
                if busy:
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
                    break
                time.sleep(0.0005)
            proc.wait()
            fs = files(cache)
            h5 = {r: p for r, p in fs.items() if r.endswith(".h5")}
            tmps = [r for r in fs if ".h5.tmp." in r]
            bad = 0
            for rel, path in h5.items():
                probs = verify(path, ref.get(rel))
                if probs:
                    bad += 1
                    check(False, f"after kill {k}: {rel}: {'; '.join(probs)}")
            print(f"kill {k}: {len(h5)} complete files, {len(tmps)} temporary, {bad} bad")
            check(all(ref.get(r) is not None for r in h5), f"after kill {k}: unexpected file names")
        check(kills >= 4, f"only {kills} of 6 runs were killed while writing")

        # the next run finishes, cleans up and reads every file without calling it corrupt
        p = subprocess.run(args(cache), capture_output=True, text=True, timeout=600)
        check(p.returncode == 0, f"final run failed: {p.stderr[-2000:]}")
        check("ignoring the" not in p.stderr, f"final run found a corrupt file: {p.stderr[-2000:]}")
        fs = files(cache)
        check(not [r for r in fs if ".tmp." in r], f"stale temporary files left: {[r for r in fs if '.tmp.' in r][:5]}")
        h5 = {r: q for r, q in fs.items() if r.endswith(".h5")}
        check(sorted(h5) == sorted(ref), f"final cache has {len(h5)} files, reference {len(ref)}")
        for rel, path in h5.items():
            probs = verify(path, ref.get(rel))
            check(not probs, f"final: {rel}: {'; '.join(probs)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"test_fetch_kill: {len(failures)} check(s) FAILED", file=sys.stderr)
        return 1
    print("test_fetch_kill: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
