#!/usr/bin/env python3
"""The PyTorch mirror (tools/torch_ref) loads a real barforge training
checkpoint and predicts what `barforge eval` predicted for the same test
windows. Trains a tiny demo run first. Skips (77) without torch or h5py."""
import csv
import datetime
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
    import torch
except ImportError as e:
    print(f"SKIPPED: {e}")
    sys.exit(77)

SRC = os.environ.get("BARFORGE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("BARFORGE_BIN", "build/barforge")
sys.path.insert(0, os.path.join(SRC, "tools", "torch_ref"))
import barforge_ref as bf  # noqa: E402

with tempfile.TemporaryDirectory() as d:
    p = subprocess.run([BIN, "demo", "--universe", "synthetic:3", "--start", "2024-01-02", "--end", "2024-08-30",
                        "--max-steps", "30", "--eval-every-steps", "10", "--seq-len", "16",
                        "--cnn-hidden", "8", "--d-model", "8", "--n-heads", "2", "--num-layers", "1",
                        "--emb-dim", "4", "--batch-size", "64", "--log-level", "warn",
                        "--cache-dir", f"{d}/c", "--datasets-root", f"{d}/ds", "--runs-dir", f"{d}/runs"],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        print(p.stderr[-2000:], file=sys.stderr)
        sys.exit(1)
    run = os.path.join(d, "runs", sorted(os.listdir(os.path.join(d, "runs")))[-1])
    cfg, flat = bf.load_h5_checkpoint(os.path.join(run, "checkpoints", "best.h5"))
    m = bf.Mirror(cfg)
    m.load_flat(flat)
    m.eval()
    L = cfg["seq_len"]
    with h5py.File(os.path.join(d, "ds", "master", "test.h5"), "r") as f:
        X = np.asarray(f["X"]); sym = np.asarray(f["sym_id"]); ts = np.asarray(f["ts"])
    with open(os.path.join(d, "ds", "master", "meta.json")) as f:
        import json
        meta = json.load(f)
    symbols = meta.get("symbols") or sorted(meta["sym2id"], key=meta["sym2id"].get)
    rows = {}
    for r in range(len(ts)):
        rows[(symbols[sym[r]], int(ts[r]))] = r
    xs, ss, want = [], [], []
    with open(os.path.join(run, "predictions_test.csv")) as f:
        for i, row in enumerate(csv.DictReader(f)):
            if i % 7:
                continue
            t = int(datetime.datetime.strptime(row["ts"], "%Y-%m-%dT%H:%M:%SZ")
                    .replace(tzinfo=datetime.timezone.utc).timestamp())
            r = rows[(row["symbol"], t)]
            xs.append(X[r - L + 1:r + 1].T)
            ss.append(sym[r])
            want.append(float(row["y_hat"]))
    with torch.no_grad():
        got = m(torch.tensor(np.stack(xs)), torch.tensor(np.array(ss, dtype=np.int64))).numpy().ravel()
    want = np.array(want)
    err = np.max(np.abs(got - want))
    scale = np.max(np.abs(want))
    print(f"{len(want)} windows: max |torch - barforge| = {err:.3g} (max |y_hat| {scale:.3g})")
    if not err <= 1e-5 + 1e-4 * scale:
        print("FAIL: the mirror's predictions differ from barforge eval's", file=sys.stderr)
        sys.exit(1)
print("test_torch_mirror_ckpt: all checks passed")
