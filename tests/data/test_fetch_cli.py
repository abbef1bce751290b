#!/usr/bin/env python3
"""test_fetch_cli.py - `barforge fetch` end to end.

- bad symbols (../x, lower case, 16 characters) and bad flags exit 2 before any
  request or file is made, naming the bad value;
- one rank and `mpirun -n 2` produce identical caches (every array of every
  file compared, not file bytes) and the same summary;
- the summary JSON and table; a failing symbol makes the exit code 1 and is
  named; the default universe (default50) from the repository root.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

BIN = os.environ.get("BARFORGE_BIN", "build/barforge")
SRC = os.environ.get("BARFORGE_SOURCE_DIR", os.getcwd())
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, file=sys.stderr)


def run(args, cwd=None, mpi=0):
    cmd = ([shutil.which("mpirun") or "mpiexec", "-n", str(mpi), "--oversubscribe"] if mpi else []) + [BIN, "fetch"] + args
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def read_cache(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, root)
            if not f.endswith(".h5"):
                continue
            with h5py.File(path, "r") as h:
                out[rel] = ({k: h[k][()] for k in h.keys()},
                            {k: h.attrs[k] for k in h.attrs.keys() if k != "written_at"})
    return out


def same_cache(a, b, what):
    check(sorted(a) == sorted(b), f"{what}: different files: {sorted(set(a) ^ set(b))[:5]}")
    for rel in sorted(set(a) & set(b)):
        da, aa = a[rel]
        db, ab = b[rel]
        check(sorted(da) == sorted(db), f"{what}: {rel}: datasets {sorted(da)} vs {sorted(db)}")
        for k in da:
            if k in db:
                x, y = da[k], db[k]
                eq = x.shape == y.shape and np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
                check(eq, f"{what}: {rel}:/{k} differs (shapes {x.shape} vs {y.shape})")
        check({k: str(v) for k, v in aa.items()} == {k: str(v) for k, v in ab.items()},
              f"{what}: {rel}: attributes differ: {aa} vs {ab}")


def main():
    tmp = tempfile.mkdtemp(prefix="bf_fetch_cli_")
    try:
        # --- refusals: exit 2, no request, no file -------------------------------------
        for bad, needle in [("../x", "../x"), ("AAPL,aapl", "did you mean 'AAPL'"),
                            ("ABCDEFGHIJKLMNOP", "longer than 15"), ("AAPL,,MSFT", "empty symbol")]:
            rc, out, err = run(["--symbols", bad, "--cache-dir", f"{tmp}/refused"])
            check(rc == 2, f"--symbols {bad}: exit {rc}, expected 2 ({err.strip()})")
            check(needle in err, f"--symbols {bad}: stderr does not name it: {err.strip()}")
        sf = os.path.join(tmp, "syms.txt")
        with open(sf, "w") as f:
            f.write("AAPL\n../../etc/passwd\n")
        rc, _, err = run(["--symbols-file", sf, "--cache-dir", f"{tmp}/refused"])
        check(rc == 2 and "../../etc/passwd" in err, f"symbols file traversal: exit {rc}: {err.strip()}")
        for args, needle in [(["--interval", "2m"], "--interval"), (["--providers", "bloomberg"], "bloomberg"),
                             (["--signal-strength", "0.9"], "--signal-strength"),
                             (["--start", "1999-01-04", "--end", "1999-02-01"], "2000-2030"),
                             (["--universe", "synthetic:0"], "synthetic:0"),
                             (["--symbols", "A", "--universe", "default50"], "only one of")]:
            pre = [] if ("--symbols" in args or "--universe" in args) else ["--symbols", "AAPL"]
            rc, _, err = run(pre + args + ["--cache-dir", f"{tmp}/refused"], cwd=SRC)
            check(rc == 2, f"{args}: exit {rc}, expected 2 ({err.strip()})")
            check(needle in err, f"{args}: stderr does not mention {needle}: {err.strip()}")
        check(not os.path.exists(f"{tmp}/refused"), "a refused fetch created the cache directory")

        # --- one rank vs two ranks ------------------------------------------------------
        common = ["--universe", "synthetic:13", "--start", "2024-01-02", "--end", "2024-03-28", "--seed", "9"]
        rc1, out1, err1 = run(common + ["--cache-dir", f"{tmp}/one", "--summary-json", f"{tmp}/one.json"])
        check(rc1 == 0, f"one rank: exit {rc1}: {err1[-2000:]}")
        rc2, out2, err2 = run(common + ["--cache-dir", f"{tmp}/two", "--summary-json", f"{tmp}/two.json"], mpi=2)
        check(rc2 == 0, f"two ranks: exit {rc2}: {err2[-2000:]}")
        a, b = read_cache(f"{tmp}/one"), read_cache(f"{tmp}/two")
        check(len(a) == 13, f"one rank wrote {len(a)} files, expected 13")
        same_cache(a, b, "1 rank vs 2 ranks")
        j1, j2 = json.load(open(f"{tmp}/one.json")), json.load(open(f"{tmp}/two.json"))
        check(j1["ranks"] == 1 and j2["ranks"] == 2, f"ranks {j1['ranks']} / {j2['ranks']}")
        for k in ["symbols", "failed", "bars", "gaps", "fetched_bars", "requests"]:
            check(j1[k] == j2[k], f"summary {k}: {j1[k]} (1 rank) vs {j2[k]} (2 ranks)")
        check(sorted({r["rank"] for r in j2["per_symbol"]}) == [0, 1], "2 ranks: a rank did nothing")
        check(j1["symbols"] == 13 and j1["failed"] == 0 and j1["failed_symbols"] == [], "summary counts")
        row = j1["per_symbol"][0]
        check(row["symbol"] == "S00001" and row["provider"] == "synthetic" and row["source"] == "fetched"
              and row["bars"] + row["gaps"] == row["expected"], f"per_symbol row {row}")
        check("fetch summary: 13 symbols" in out1 and "synthetic" in out1, f"table: {out1}")
        # the second run is served from the cache, under two ranks too
        rc, out, err = run(common + ["--cache-dir", f"{tmp}/two", "--summary-json", f"{tmp}/again.json"], mpi=2)
        j = json.load(open(f"{tmp}/again.json"))
        check(rc == 0 and j["requests"] == 0 and j["from_cache"] == 13, f"cached rerun: {rc} {j['requests']}")
        same_cache(a, read_cache(f"{tmp}/two"), "after cached rerun")

        # --- failures: named, exit 1, others still cached ---------------------------------
        os.makedirs(f"{tmp}/csv")
        with open(f"{tmp}/csv/GOOD.csv", "w") as f:
            f.write("timestamp,open,high,low,close,volume\n2024-07-01T13:30:00Z,1,2,0.5,1.5,10\n")
        rc, out, err = run(["--symbols", "GOOD,NOPE", "--providers", "csv", "--csv-dir", f"{tmp}/csv",
                            "--start", "2024-07-01", "--end", "2024-07-01", "--cache-dir", f"{tmp}/c3",
                            "--summary-json", f"{tmp}/c3.json"])
        check(rc == 1, f"failing symbol: exit {rc}, expected 1")
        check("NOPE" in err and "1 of 2 symbol(s) failed" in err, f"failed symbol not named: {err.strip()}")
        j = json.load(open(f"{tmp}/c3.json"))
        check(j["failed"] == 1 and j["failed_symbols"][0]["symbol"] == "NOPE"
              and "NOPE.csv" in j["failed_symbols"][0]["error"], f"failed_symbols {j['failed_symbols']}")
        check(os.path.exists(f"{tmp}/c3/csv/15m/GOOD.h5"), "GOOD not cached")

        # --- defaults: default50 from the repository root -----------------------------------
        rc, out, err = run(["--cache-dir", f"{tmp}/d50", "--start", "2024-06-03", "--end", "2024-06-07",
                            "--summary-json", f"{tmp}/d50.json"], cwd=SRC)
        check(rc == 0, f"default50: exit {rc}: {err[-1500:]}")
        j = json.load(open(f"{tmp}/d50.json"))
        check(j["symbols"] == 50 and j["interval"] == "15m" and j["providers"] == ["synthetic"],
              f"defaults: {j['symbols']} {j['interval']} {j['providers']}")
        check(len(read_cache(f"{tmp}/d50")) == 50, "default50: not 50 files")
        check(j["end"] == "2024-06-08T00:00:00Z", f"--end 2024-06-07 should include that day, end {j['end']}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"test_fetch_cli: {len(failures)} check(s) FAILED", file=sys.stderr)
        return 1
    print("test_fetch_cli: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
