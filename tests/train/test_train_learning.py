"""test_train_learning.py - the model learns a planted signal
(y = 0.01 * x0 + noise at the window's last row): test pearson_r, dir_acc and
mse far better than predicting zero, validation loss falling; and early
stopping ends a run on pure noise after --patience evaluations."""
import json
import os
import sys

import h5py
import numpy as np

from trainutil import TINY, Failure, check, cleanup, only_run_dir, run, show, tinyds, workdir


def main():
    wd = workdir("learn")
    try:
        vdir = os.path.join(wd, "ds")
        tinyds.write_dataset(vdir)
        p = run(TINY + ["--datasets-root", "ds", "--runs-dir", "runs", "--batch-size", "32",
                        "--max-epochs", "30", "--lr", "3e-3", "--patience", "30"], wd, timeout=600)
        check(p.returncode == 0, "train failed:\n" + show(p))
        rd = only_run_dir(os.path.join(wd, "runs"))
        m = json.load(open(os.path.join(rd, "metrics_test.json")))
        with h5py.File(os.path.join(vdir, "test.h5")) as f:
            y = f["y"][:, 0].astype(np.float64)
        zero_mse = float(np.mean(y ** 2))
        epochs = [json.loads(l) for l in open(os.path.join(rd, "metrics.jsonl"))]
        epochs = [r for r in epochs if r["kind"] == "epoch"]
        v0, vbest = epochs[0]["val_loss"], min(r["val_loss"] for r in epochs)
        print("test: pearson_r %.3f dir_acc %.3f mse %.3g (zero predictor %.3g); val loss %.3g -> %.3g"
              % (m["pearson_r"], m["dir_acc"], m["mse"], zero_mse, v0, vbest))
        check(m["pearson_r"] > 0.8, "pearson_r %.3f <= 0.8: the planted signal was not learned"
              % m["pearson_r"])
        check(m["dir_acc"] > 0.75, "dir_acc %.3f <= 0.75" % m["dir_acc"])
        check(m["mse"] < 0.25 * zero_mse, "mse %.3g not below a quarter of the zero predictor's %.3g"
              % (m["mse"], zero_mse))
        check(vbest < 0.3 * v0, "val loss fell only from %.3g to %.3g" % (v0, vbest))

        # pure noise: nothing to learn, validation stalls, early stopping ends the run
        tinyds.write_dataset(os.path.join(wd, "noise"), noise=0.01, signal=0.0)
        p = run(TINY + ["--datasets-root", "noise", "--runs-dir", "runs_noise", "--batch-size",
                        "32", "--max-epochs", "40", "--lr", "3e-3", "--patience", "2",
                        "--no-test"], wd, timeout=600)
        check(p.returncode == 0 and "early stopping" in p.stderr, "no early stop:\n" + show(p))
        rd = only_run_dir(os.path.join(wd, "runs_noise"))
        rows = [json.loads(l) for l in open(os.path.join(rd, "metrics.jsonl"))]
        ep = [r for r in rows if r["kind"] == "epoch"]
        check(len(ep) < 40, "ran all %d epochs" % len(ep))
        best_i = min(range(len(ep)), key=lambda i: ep[i]["val_loss"])
        check(len(ep) - 1 - best_i == 2, "stopped %d epochs after the best (patience 2)"
              % (len(ep) - 1 - best_i))
        with h5py.File(os.path.join(rd, "checkpoints", "best.h5")) as f:
            check(int(f["/state"].attrs["step"]) == ep[best_i]["step"], "best.h5 is not the best epoch")
        print("test_train_learning: ok (noise run stopped after %d epochs)" % len(ep))
        return 0
    except Failure as e:
        print("FAIL test_train_learning: %s" % e)
        return 1
    finally:
        cleanup(wd)


if __name__ == "__main__":
    sys.exit(main())
