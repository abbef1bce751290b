"""buildtest.py - shared helpers for the Python build tests: run barforge,
make a cache with bf_test_mkcache, fingerprint a directory tree, fail with a
message that says what differed."""
import os
import shutil
import subprocess
import sys
import tempfile
import zlib

BIN = os.environ.get("BARFORGE_BIN", "build/barforge")
MKCACHE = sys.argv[1] if len(sys.argv) > 1 else "build/tests/build/bf_test_mkcache"
MPIRUN = shutil.which("mpirun") or "mpirun"
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, file=sys.stderr)
    return cond


def done(name):
    if failures:
        print(f"{name}: {len(failures)} check(s) FAILED", file=sys.stderr)
        sys.exit(1)
    print(f"{name}: all checks passed")


def workdir(name):
    d = tempfile.mkdtemp(prefix=f"bf_{name}_")
    return d


def mkcache(cache, first_day, sessions, symbols, provider="synthetic"):
    r = subprocess.run([MKCACHE, cache, provider, first_day, str(sessions)] + list(symbols),
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr, file=sys.stderr)
        sys.exit(f"bf_test_mkcache failed ({r.returncode})")


def barforge(args, ranks=0, env=None, cwd=None):
    cmd = [BIN] + args
    if ranks:
        cmd = [MPIRUN, "-n", str(ranks), "--oversubscribe"] + cmd
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(cmd, capture_output=True, text=True, env=e, cwd=cwd)


def crc32_file(path):
    c = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return c
            c = zlib.crc32(b, c)


def cache_end(cache, sym, provider="synthetic"):
    """RFC 3339 end of the last cached bar of sym (what a fetch up to then covers)"""
    import h5py
    import numpy as np
    f = h5py.File(os.path.join(cache, provider, "15m", sym + ".h5"), "r")
    t = int(f["ts"][:].max()) + 900
    return np.datetime_as_string(np.datetime64(t, "s"), unit="s") + "Z"


def tree(root):
    """{relative path: (kind, crc or link target)} for everything under root."""
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("dir", None)
            else:
                out[rel] = ("file", crc32_file(p))
    return out
