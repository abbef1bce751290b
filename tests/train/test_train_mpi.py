"""test_train_mpi.py [MPIEXEC] - data-parallel training over MPI ranks on CPU:
2 ranks x B/2 follow 1 rank x B (same losses and final parameters up to float
rounding; dropout off since masks are per rank), also with an odd global batch
(uneven shards are weighted), and a 2-rank run preempted with SIGTERM exits
199 and resumes to parameters bit-identical to an uninterrupted 2-rank run."""
import json
import os
import sys

import h5py
import numpy as np

from trainutil import (BIN, TINY, Failure, assert_bit_identical, check, cleanup, env_with, show,
                       tinyds, workdir)
import subprocess

MPIEXEC = sys.argv[1] if len(sys.argv) > 1 else "mpirun"
ARGS = TINY + ["--datasets-root", "ds", "--max-epochs", "2", "--dropout", "0", "--cnn-dropout",
               "0", "--log-every-steps", "3", "--no-test"]


def train(wd, ranks, extra, fault=None, expect=0):
    cmd = ([MPIEXEC, "-n", str(ranks), "--oversubscribe"] if ranks > 1 else []) + [BIN, "train"]
    p = subprocess.run(cmd + ARGS + extra, cwd=wd, env=env_with(BARFORGE_FAULT=fault),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    check(p.returncode == expect, "%d rank(s) %s: expected exit %d\n%s" % (ranks, extra, expect,
                                                                          show(p)))
    return p


def rows(run_dir):
    return [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]


def params(run_dir):
    with h5py.File(os.path.join(run_dir, "checkpoints", "last.h5")) as f:
        return f["/model/params"][...]


def close_trajectories(a, b, what):
    ra, rb = rows(a), rows(b)
    check([(r["kind"], r["step"]) for r in ra] == [(r["kind"], r["step"]) for r in rb],
          "%s: different log rows" % what)
    worst = 0.0
    for x, y in zip(ra, rb):
        for k in ("train_loss", "val_loss"):
            if x[k] is None:
                continue
            rel = abs(x[k] - y[k]) / abs(x[k])
            worst = max(worst, rel)
            check(rel < 1e-4, "%s: %s at step %d: %r (1 rank) vs %r (2 ranks), rel %.2g"
                  % (what, k, x["step"], x[k], y[k], rel))
    pa, pb = params(a), params(b)
    d = float(np.max(np.abs(pa - pb)))
    check(d < 1e-4, "%s: final params differ by up to %g" % (what, d))
    print("%s: losses agree to %.2g relative, params to %.2g absolute" % (what, worst, d))


def main():
    wd = workdir("mpi")
    try:
        tinyds.write_dataset(os.path.join(wd, "ds"))
        for batch in ("32", "33"):
            one, two = os.path.join(wd, "r1_" + batch), os.path.join(wd, "r2_" + batch)
            train(wd, 1, ["--batch-size", batch, "--run-dir", one])
            p = train(wd, 2, ["--batch-size", batch, "--run-dir", two])
            check("batch %s x 2 rank(s)" % batch in p.stderr, "not a 2-rank run:\n" + show(p))
            close_trajectories(one, two, "batch " + batch)
        ref = os.path.join(wd, "r2_32")
        pre = os.path.join(wd, "r2_pre")
        p = train(wd, 2, ["--batch-size", "32", "--run-dir", pre], fault="sigterm_at_step:5",
                  expect=199)
        check("stopped by SIGTERM after step" in p.stderr, "preemption message:\n" + show(p))
        train(wd, 2, ["--batch-size", "32", "--run-dir", pre, "--resume", "auto"])
        assert_bit_identical(os.path.join(ref, "checkpoints/last.h5"),
                             os.path.join(pre, "checkpoints/last.h5"), "2-rank preempt+resume")
        print("test_train_mpi: ok")
        return 0
    except Failure as e:
        print("FAIL test_train_mpi: %s" % e)
        return 1
    finally:
        cleanup(wd)


if __name__ == "__main__":
    sys.exit(main())
