#!/usr/bin/env python3
"""The demo learns the planted signal and nothing else.

Runs `barforge demo` twice on small synthetic universes (temporary dirs):
- signal strength > 0: the trained model must beat the zero predictor and the
  previous-return predictor on the test split, in MSE and in directional
  accuracy (the zero predictor's sign never matches, so it is beaten in
  dir_acc by any model that is right more often than y is exactly 0);
- signal strength 0: the model must NOT beat them beyond noise: its MSE gain
  over the zero predictor and its directional accuracy above 1/2 must both
  stay within 3 standard errors (labels overlap over 4 bars, so the
  effective sample is n/4).
Also checks the demo's artifact list and results table."""
import csv
import json
import math
import os
import subprocess
import sys
import tempfile

BIN = os.environ.get("BARFORGE_BIN", "build/barforge")
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, file=sys.stderr)


COMMON = ["--universe", "synthetic:8", "--start", "2023-06-01", "--end", "2024-12-31",
          "--seq-len", "32", "--cnn-hidden", "16", "--d-model", "16", "--num-layers", "1",
          "--emb-dim", "4", "--batch-size", "128", "--max-steps", "1500", "--max-epochs", "10",
          "--eval-every-steps", "100", "--patience", "0", "--lr", "1e-3", "--seed", "11",
          "--log-level", "warn"]


def run_demo(d, strength):
    args = [BIN, "demo"] + COMMON + ["--signal-strength", str(strength),
                                     "--cache-dir", os.path.join(d, "cache"),
                                     "--datasets-root", os.path.join(d, "datasets"),
                                     "--runs-dir", os.path.join(d, "runs")]
    p = subprocess.run(args, capture_output=True, text=True, timeout=900)
    check(p.returncode == 0, f"demo strength {strength}: rc={p.returncode}\n{p.stderr[-2000:]}")
    if p.returncode != 0:
        return None, None, p.stdout
    runs = os.listdir(os.path.join(d, "runs"))
    run = os.path.join(d, "runs", sorted(runs)[-1])
    with open(os.path.join(run, "demo_summary.json")) as f:
        summary = json.load(f)
    rows = []
    with open(os.path.join(run, "predictions_test.csv")) as f:
        for r in csv.DictReader(f):
            rows.append((float(r["y"]), float(r["y_hat"])))
    return summary, rows, p.stdout


with tempfile.TemporaryDirectory() as d:
    s, rows, out = run_demo(d, 0.4)
    if s:
        m, z, pr, o = s["model"], s["zero"], s["previous_return"], s["oracle"]
        print(f"strength 0.4: model mse {m['mse']:.4g} dir {m['dir_acc']:.4f} | zero mse {z['mse']:.4g} | "
              f"prev mse {pr['mse']:.4g} dir {pr['dir_acc']:.4f} | oracle mse {o['mse']:.4g} dir {o['dir_acc']:.4f}")
        check(m["mse"] < z["mse"], f"model mse {m['mse']} does not beat zero {z['mse']}")
        check(m["mse"] < pr["mse"], f"model mse {m['mse']} does not beat previous return {pr['mse']}")
        check(m["dir_acc"] > z["dir_acc"], f"model dir_acc {m['dir_acc']} does not beat zero {z['dir_acc']}")
        check(m["dir_acc"] > pr["dir_acc"], f"model dir_acc {m['dir_acc']} does not beat previous return {pr['dir_acc']}")
        check(m["dir_acc"] > 0.5, f"model dir_acc {m['dir_acc']} is not above 1/2")
        check(o["mse"] <= m["mse"] * 1.02, f"model mse {m['mse']} beats the oracle {o['mse']} by more than 2%: check the oracle")
        check(m["n"] == len(rows) and m["n"] > 1000, f"n {m['n']} vs {len(rows)} prediction rows")
        for word in ("bar cache", "dataset", "run folder", "best checkpoint", "test metrics", "predictions",
                     "oracle (planted)", "previous return", "zero"):
            check(word in out, f"demo output lacks '{word}'")

with tempfile.TemporaryDirectory() as d:
    s, rows, out = run_demo(d, 0.0)
    if s:
        m, z, pr = s["model"], s["zero"], s["previous_return"]
        n_eff = max(1, len(rows) // 4)
        gain = [y * y - (y - yh) ** 2 for y, yh in rows]
        mean = sum(gain) / len(gain)
        sd = math.sqrt(sum((g - mean) ** 2 for g in gain) / (len(gain) - 1))
        bound = 3 * sd / math.sqrt(n_eff)
        print(f"strength 0: model mse {m['mse']:.4g} dir {m['dir_acc']:.4f} | zero mse {z['mse']:.4g} | "
              f"mean gain {mean:.3g} (3 s.e. {bound:.3g}) | n {len(rows)}")
        check(mean <= bound, f"on pure noise the model beats zero: mean MSE gain {mean:.3g} > 3 s.e. {bound:.3g}")
        nz = [(y, yh) for y, yh in rows if y != 0]
        acc = sum((y > 0) == (yh > 0) for y, yh in nz) / len(nz)
        dbound = 3 * math.sqrt(0.25 / max(1, len(nz) // 4))
        check(acc - 0.5 <= dbound, f"on pure noise dir_acc {acc:.4f} exceeds 1/2 by more than 3 s.e. {dbound:.4f}")
        check(m["n"] > 1000, "too few test rows on noise")
        check(abs(s["oracle"]["pearson_r"] or 0.0) < 0.05, f"oracle correlates on pure noise: {s['oracle']['pearson_r']}")

if failures:
    print(f"test_demo_learning: {len(failures)} check(s) FAILED", file=sys.stderr)
    sys.exit(1)
print("test_demo_learning: all checks passed")
