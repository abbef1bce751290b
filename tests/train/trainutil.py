"""trainutil.py - shared pieces of the training tests: the binary, a tiny
dataset, tiny model flags, running `barforge train`, reading checkpoints."""
import glob
import os
import struct
import shutil
import subprocess
import sys
import tempfile
import zlib

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tinyds  # noqa: E402

BIN = os.environ.get("BARFORGE_BIN") or os.path.join(HERE, "../../build/barforge")

# a model small enough for a few seconds of CPU per run
TINY = ["--seq-len", "16", "--cnn-hidden", "8", "--cnn-blocks", "2", "--cnn-kernels", "3,3",
        "--cnn-dilations", "1,2", "--patch-size", "4", "--patch-stride", "4", "--d-model", "16",
        "--n-heads", "2", "--num-layers", "1", "--emb-dim", "4"]

# the seed's smoke-test command line, flags verbatim
SEED_SMOKE = ("--arch patchtst   --seq-len 64 --stride 1   --batch-size 128 --max-epochs 2 --use-amp "
              "--num-workers 2   --cnn-hidden 128 --cnn-blocks 3 --cnn-kernels 5,5,3 --cnn-dilations "
              "1,2,4   --patch-size 8 --patch-stride 4   --d-model 128 --n-heads 4 --num-layers 3 "
              "--dropout 0.1   --channel-mixer mlp --emb-dim 12   --loss huber --huber-delta 0.01 "
              "--lr 3e-4 --weight-decay 0.01 --grad-clip 1.0").split()
SEED_FULL = ("--arch patchtst   --seq-len 64 --stride 1   --batch-size 256 --max-epochs 20 --use-amp "
             "--num-workers 4   --cnn-hidden 128 --cnn-blocks 3 --cnn-kernels 5,5,3 --cnn-dilations "
             "1,2,4   --patch-size 8 --patch-stride 4   --d-model 128 --n-heads 4 --num-layers 3 "
             "--dropout 0.1   --channel-mixer mlp --emb-dim 12   --loss huber --huber-delta 0.01 "
             "--lr 3e-4 --weight-decay 0.01 --grad-clip 1.0").split()


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def workdir(name):
    d = tempfile.mkdtemp(prefix="bf_%s_" % name)
    return d


def cleanup(d):
    shutil.rmtree(d, ignore_errors=True)


def env_with(**kw):
    e = dict(os.environ)
    e.pop("BARFORGE_FAULT", None)
    e.setdefault("BARFORGE_THREADS", "1")
    for k, v in kw.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = str(v)
    return e


def run(args, cwd, env=None, timeout=300, cmd="train"):
    p = subprocess.run([BIN, cmd] + list(args), cwd=cwd, env=env or env_with(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    return p


def show(p):
    return "exit %d\n--- stdout ---\n%s\n--- stderr ---\n%s" % (p.returncode, p.stdout[-4000:],
                                                               p.stderr[-4000:])


def ckpt_arrays(path):
    with h5py.File(path, "r") as f:
        return (f["/model/params"][...], f["/optim/m"][...], f["/optim/v"][...],
                {k: f["/state"].attrs[k] for k in f["/state"].attrs})


def assert_bit_identical(a, b, what):
    pa, ma, va, sa = ckpt_arrays(a)
    pb, mb, vb, sb = ckpt_arrays(b)
    for name, x, y in (("params", pa, pb), ("adam m", ma, mb), ("adam v", va, vb)):
        check(x.shape == y.shape, "%s: %s shape %s vs %s" % (what, name, x.shape, y.shape))
        diff = np.flatnonzero(x.view(np.uint32) != y.view(np.uint32))
        check(diff.size == 0, "%s: %s differ at %d of %d floats (first at %d: %r vs %r, max |d| %g)"
              % (what, name, diff.size, x.size, diff[0] if diff.size else -1,
                 x[diff[0]] if diff.size else 0, y[diff[0]] if diff.size else 0,
                 float(np.max(np.abs(x - y))) if diff.size else 0))
    for k in ("step", "epoch", "cursor", "best_step", "patience_counter", "finished"):
        check(sa[k] == sb[k], "%s: state %s %r vs %r" % (what, k, sa[k], sb[k]))
    check(sa["best_val_loss"] == sb["best_val_loss"], "%s: best_val_loss %r vs %r"
          % (what, sa["best_val_loss"], sb["best_val_loss"]))


def only_run_dir(runs):
    d = sorted(glob.glob(os.path.join(runs, "*")))
    check(len(d) == 1, "expected one run folder in %s, found %s" % (runs, d))
    return d[0]


def verify_checkpoint(path):
    """Recompute the documented checksum: crc32 over params, m, v, the 13
    state values packed little-endian, config, args, dataset version, checksum."""
    with h5py.File(path, "r") as f:
        check(f.attrs["format"] == "barforge-checkpoint", "format attribute %r" % f.attrs["format"])
        check(int(f.attrs["format_version"]) == 1, "format_version")
        n = int(f["/model"].attrs["n_params"])
        p, m, v = f["/model/params"][...], f["/optim/m"][...], f["/optim/v"][...]
        check(p.dtype == np.float32 and p.shape == (n,), "params %s %s" % (p.dtype, p.shape))
        tens = f["/model/tensors"][...]
        check(set(tens.dtype.names) >= {"name", "offset", "numel", "shape"}, "tensor table fields %s"
              % (tens.dtype.names,))
        check(int(tens["offset"][-1] + tens["numel"][-1]) == n, "tensor table does not cover params")
        # a named view: the head's weight is a slice of the flat buffer
        names = [t.decode() for t in tens["name"]]
        check("head.weight" in names, "no head.weight in %s" % names[:5])
        for r, name in zip(tens, names):  # /model/views/<name> is the slice, in shape
            want = p[r["offset"]:r["offset"] + r["numel"]].reshape(tuple(r["shape"][:r["ndim"]]))
            got = f["/model/views/" + name][...]
            check(got.shape == want.shape and np.array_equal(got, want),
                  "view %s: shape %s vs %s or values differ" % (name, got.shape, want.shape))
        s = f["/state"].attrs
        ints = ["epoch", "cursor", "step", "samples_seen", "patience_counter", "best_step",
                "finished", "n_train_windows", "rng_seed"]
        reals = ["val_loss", "best_val_loss", "lr", "elapsed_s"]
        blob = struct.pack("<9q4d", *[int(s[k]) for k in ints], *[float(s[k]) for k in reals])
        c = zlib.crc32(p.tobytes())
        c = zlib.crc32(m.tobytes(), c)
        c = zlib.crc32(v.tobytes(), c)
        c = zlib.crc32(blob, c)
        for txt in (f["/model"].attrs["config_json"], f["/train"].attrs["args_json"],
                    f["/dataset"].attrs["version"], f["/dataset"].attrs["checksum"]):
            c = zlib.crc32(txt.encode() if isinstance(txt, str) else txt, c)
        check(c == int(f.attrs["checksum"]), "checksum recomputed %08x, stored %08x"
              % (c, int(f.attrs["checksum"])))
        return {k: s[k] for k in s}
