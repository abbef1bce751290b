"""test_train_eval.py - `barforge eval` with the seed's command line prints
and writes the seed's JSON (mse, mae, dir_acc, hit_rate_top_decile,
pearson_r, n) for EVERY window of the split (no drop_last), writes per-row
predictions (ts, symbol, y, y_hat), and its metrics equal numpy's on those
predictions. Also --split val and an HDF5 predictions file."""
import csv
import json
import os
import sys

import h5py
import numpy as np

from trainutil import TINY, Failure, check, cleanup, only_run_dir, run, show, tinyds, workdir


def numpy_metrics(y, p):
    hit_q = np.quantile(np.abs(p), 0.9)
    top = np.abs(p) >= hit_q
    return {
        "mse": float(np.mean((p - y) ** 2)),
        "mae": float(np.mean(np.abs(p - y))),
        "dir_acc": float(np.mean(np.sign(p) == np.sign(y))),
        "hit_rate_top_decile": float(np.mean(np.sign(p[top]) == np.sign(y[top]))),
        "pearson_r": float(np.corrcoef(p, y)[0, 1]),
        "n": int(len(y)),
    }


def main():
    wd = workdir("eval")
    try:
        vdir = os.path.join(wd, "ds", "v2024-01-02")
        tinyds.write_dataset(vdir)
        os.symlink("v2024-01-02", os.path.join(wd, "ds", "master"))
        p = run(TINY + ["--datasets-root", "ds", "--runs-dir", "runs", "--max-epochs", "2",
                        "--batch-size", "32", "--no-test"], wd)
        check(p.returncode == 0, "train failed:\n" + show(p))
        run_dir = only_run_dir(os.path.join(wd, "runs"))
        ck = os.path.join(run_dir, "checkpoints", "best.h5")
        # the seed's eval command line
        p = run(["--checkpoint", ck, "--datasets-root", "ds", "--batch-size", "512",
                 "--num-workers", "4"], wd, cmd="eval")
        check(p.returncode == 0, "eval failed:\n" + show(p))
        printed = json.loads(p.stdout.strip().splitlines()[-1])
        out = os.path.join(run_dir, "eval_best_test.json")
        written = json.load(open(out))
        for k in ("mse", "mae", "dir_acc", "hit_rate_top_decile", "pearson_r", "n"):
            check(k in printed and k in written, "key %s missing (printed %s)" % (k, printed))
            check(printed[k] == written[k], "%s printed %r, written %r" % (k, printed[k], written[k]))
        with h5py.File(os.path.join(vdir, "test.h5")) as f:
            sym, ts = f["sym_id"][...], f["ts"][...]
        want_n = tinyds.count_windows(sym, 16)
        check(written["n"] == want_n, "n %d, every window would be %d" % (written["n"], want_n))
        pred = os.path.join(run_dir, "predictions_best_test.csv")
        rows = list(csv.DictReader(open(pred)))
        check(len(rows) == want_n, "%d prediction rows, expected %d" % (len(rows), want_n))
        check(list(rows[0].keys()) == ["ts", "symbol", "y", "y_hat"], "columns %s" % list(rows[0]))
        check(rows[0]["symbol"] == "S00" and rows[-1]["symbol"] == "S02", "symbols %s..%s"
              % (rows[0]["symbol"], rows[-1]["symbol"]))
        y = np.array([float(r["y"]) for r in rows], np.float32).astype(np.float64)
        yh = np.array([float(r["y_hat"]) for r in rows], np.float32).astype(np.float64)
        ref = numpy_metrics(y, yh)
        for k, v in ref.items():
            check(abs(written[k] - v) <= 1e-9 * max(1.0, abs(v)),
                  "%s: barforge %r, numpy %r" % (k, written[k], v))
        # the first prediction belongs to the first window: last row index 15 of symbol 0
        with h5py.File(os.path.join(vdir, "test.h5")) as f:
            y0 = float(f["y"][15, 0])
        check(abs(float(rows[0]["y"]) - y0) < 1e-9, "first row y %s, expected %r (row 15)"
              % (rows[0]["y"], y0))

        # --split val and HDF5 predictions
        p = run(["--checkpoint", ck, "--datasets-root", "ds", "--split", "val",
                 "--out", "val.json", "--predictions", "val_pred.h5"], wd, cmd="eval")
        check(p.returncode == 0, "eval --split val failed:\n" + show(p))
        vj = json.load(open(os.path.join(wd, "val.json")))
        with h5py.File(os.path.join(vdir, "val.h5")) as f:
            vn = tinyds.count_windows(f["sym_id"][...], 16)
        check(vj["n"] == vn and vj["split"] == "val", "val json %s (expected n %d)" % (vj, vn))
        with h5py.File(os.path.join(wd, "val_pred.h5")) as f:
            check(f["y_hat"].shape == (vn,) and f["ts"].dtype == np.int64 and
                  f.attrs["symbols"].split("\n") == ["S00", "S01", "S02"],
                  "val_pred.h5 layout %s" % list(f.keys()))
        # the training loss over val (best checkpoint) is the best val loss of the run
        with h5py.File(ck) as f:
            best = float(f["/state"].attrs["best_val_loss"])
        check(abs(vj["loss"] - best) <= 1e-6 * abs(best), "eval val loss %r vs best_val_loss %r"
              % (vj["loss"], best))
        print("test_train_eval: ok (n %d, mse %.4g)" % (written["n"], written["mse"]))
        return 0
    except Failure as e:
        print("FAIL test_train_eval: %s" % e)
        return 1
    finally:
        cleanup(wd)


if __name__ == "__main__":
    sys.exit(main())
