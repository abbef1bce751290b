#!/usr/bin/env python3
"""barforge under a real single-node Slurm cluster (tests/cluster/slurm_up.sh):
- `srun -n 2 --mpi=pmix barforge fetch` fills the same cache as one process;
- `sbatch` running `mpirun -n 2 barforge fetch` inside the allocation works;
- `srun -n 2 --mpi=none` (two singletons in a 2-task allocation) is refused
  with exit 2 and the launcher message instead of doing the work twice.
Skips (exit 77) with the reason when no Slurm cluster answers."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

BIN = os.path.abspath(os.environ.get("BARFORGE_BIN", "build/barforge"))
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, file=sys.stderr)


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


if not shutil.which("sinfo") or sh(["sinfo", "-h", "-o", "%T"]).returncode != 0 or \
        not any(s in sh(["sinfo", "-h", "-o", "%T"]).stdout for s in ("idle", "mix", "alloc")):
    print("SKIPPED: no Slurm cluster answers (start one with tests/cluster/slurm_up.sh as root)")
    sys.exit(77)

try:
    import h5py
    import numpy as np
except ImportError as e:
    print(f"SKIPPED: {e}")
    sys.exit(77)

FETCH = ["fetch", "--symbols", "AAPL,MSFT,BRK.B,SPY,QQQ", "--interval", "15m",
         "--start", "2024-03-01", "--end", "2024-04-15", "--providers", "synthetic"]


def cache_arrays(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f.endswith(".h5"):
                p = os.path.join(dirpath, f)
                with h5py.File(p, "r") as h:
                    out[os.path.relpath(p, root)] = {k: np.array(h[k]) for k in h.keys()
                                                      if isinstance(h[k], h5py.Dataset)}
    return out


with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as d:
    one, two, three = (os.path.join(d, x) for x in ("one", "srun", "sbatch"))
    p = sh([BIN] + FETCH + ["--cache-dir", one])
    check(p.returncode == 0, f"single-process fetch rc={p.returncode}: {p.stderr[-400:]}")
    p = sh(["srun", "-n", "2", "--mpi=pmix", BIN] + FETCH + ["--cache-dir", two])
    check(p.returncode == 0, f"srun --mpi=pmix fetch rc={p.returncode}: {p.stderr[-600:]}")
    check("rank 1/2" in p.stderr or "rank 0/2" in p.stderr, f"srun run did not see 2 ranks: {p.stderr[-400:]}")

    script = os.path.join(d, "job.sh")
    with open(script, "w") as f:
        f.write("#!/bin/bash\n#SBATCH -n 2\n#SBATCH -o %s/slurm-%%j.out\n" % d)
        f.write("export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1\n")
        f.write("mpirun -n 2 --oversubscribe %s %s --cache-dir %s\n" % (BIN, " ".join(FETCH), three))
    p = sh(["sbatch", "--wait", "--parsable", script])
    check(p.returncode == 0, f"sbatch with mpirun inside: rc={p.returncode} {p.stderr[-400:]}")

    a, b, c = cache_arrays(one), cache_arrays(two), cache_arrays(three)
    check(len(a) == 5, f"single-process cache has {len(a)} files, expected 5")
    for name, arrs in (("srun", b), ("sbatch", c)):
        check(sorted(a) == sorted(arrs), f"{name} cache files differ: {sorted(arrs)} vs {sorted(a)}")
        for k in a:
            for ds in a[k]:
                if k in arrs and ds in arrs[k]:
                    same = np.array_equal(a[k][ds], arrs[k][ds], equal_nan=a[k][ds].dtype.kind == "f")
                    check(same, f"{name}: {k}:{ds} differs from the single-process cache")

    p = sh(["srun", "-n", "2", "--mpi=none", BIN] + FETCH + ["--cache-dir", os.path.join(d, "bad")])
    check(p.returncode != 0, "two singletons in a 2-task allocation were not refused")
    check("SLURM_NTASKS=2 but the MPI world has 1 rank" in p.stderr, f"launcher message missing: {p.stderr[-400:]}")

if failures:
    print(f"test_slurm: {len(failures)} check(s) FAILED", file=sys.stderr)
    sys.exit(1)
print("test_slurm: all checks passed")
