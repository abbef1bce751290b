#!/usr/bin/env python3
"""CLI contract of the barforge binary: dispatch, --help for every command,
usage errors (exit 2, one line naming the flag), version --json listing every
dependency, and the misconfigured-launcher check."""
import json
import os
import subprocess
import sys
import tempfile

BIN = os.environ.get("BARFORGE_BIN", "build/barforge")
failures = []


def run(args, env=None, cwd=None):
    e = dict(os.environ)
    e.pop("SLURM_NTASKS", None)
    if env:
        e.update(env)
    p = subprocess.run([BIN] + args, capture_output=True, text=True, env=e, cwd=cwd, timeout=60)
    return p.returncode, p.stdout, p.stderr


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, file=sys.stderr)


rc, out, err = run([])
check(rc == 2 and "usage: barforge COMMAND" in err, f"no command: rc={rc} err={err!r}")
rc, out, err = run(["--help"])
check(rc == 0 and "commands:" in out, f"--help: rc={rc}")
for cmd in ["fetch", "build", "train", "eval", "demo"]:
    check(f"  {cmd} " in out, f"--help does not list {cmd}")
rc, out, err = run(["frobnicate"])
check(rc == 2 and "unknown command 'frobnicate'" in err, f"unknown command: rc={rc} err={err!r}")

for cmd in ["fetch", "build", "train", "eval", "demo", "version"]:
    rc, out, err = run([cmd, "--help"])
    check(rc == 0 and out.startswith(f"usage: barforge {cmd}"), f"{cmd} --help: rc={rc} out={out[:80]!r}")
    check("--log-level" in out, f"{cmd} --help lacks --log-level")
    rc, out, err = run([cmd, "--no-such-flag"])
    check(rc == 2, f"{cmd} --no-such-flag: rc={rc}")
    check(err.strip() == f"barforge {cmd}: unknown flag '--no-such-flag' (see barforge {cmd} --help)",
          f"{cmd} unknown flag message: {err!r}")
    check(len(err.strip().splitlines()) == 1, f"{cmd}: usage error is not one line: {err!r}")

rc, out, err = run(["train", "--seq-len", "abc"])
check(rc == 2 and err.strip() == "barforge train: --seq-len: expected a positive integer, got 'abc'",
      f"train --seq-len abc: rc={rc} err={err!r}")
rc, out, err = run(["train", "--batch-size"])
check(rc == 2 and "--batch-size: missing value" in err, f"missing value: rc={rc} err={err!r}")
rc, out, err = run(["train", "--seq-len", "16"], env={"BARFORGE_BATCH_SIZE": "lots"})
check(rc == 2 and "BARFORGE_BATCH_SIZE (from the environment, for --batch-size): expected a positive integer, got 'lots'" in err,
      f"bad env value: rc={rc} err={err!r}")
with tempfile.TemporaryDirectory() as d:
    with open(os.path.join(d, ".env"), "w") as f:
        f.write("BARFORGE_LOG_LEVEL=debug\nthis line is wrong\n")
    rc, out, err = run(["version"], cwd=d)
    check(rc == 2 and ".env:2: expected KEY=VALUE" in err, f"bad .env: rc={rc} err={err!r}")

# invalid model combinations: exit 2 naming both flags, before any data is read
for args, want in [(["--d-model", "130", "--n-heads", "4"], "--d-model 130 is not divisible by --n-heads 4"),
                   (["--cnn-blocks", "2"], "--cnn-kernels has 3 entries but --cnn-blocks is 2"),
                   (["--patch-size", "80", "--seq-len", "64"], "--patch-size 80 is larger than --seq-len 64")]:
    with tempfile.TemporaryDirectory() as d:
        rc, out, err = run(["train"] + args, cwd=d)
        check(rc == 2 and want in err, f"train {args}: rc={rc} err={err!r}")

# demo flags outside what the demo supports: exit 2 naming the flag, before any work
for args, want in [(["--cnn-blocks", "4"], "barforge demo: --cnn-blocks: the demo uses kernels 5,5,3 and dilations 1,2,4, so at most 3, got '4'"),
                   (["--signal-strength", "0.9"], "barforge demo: --signal-strength: expected a number in [0, 0.")]:
    with tempfile.TemporaryDirectory() as d:
        rc, out, err = run(["demo"] + args, cwd=d)
        check(rc == 2 and err.startswith(want), f"demo {args}: rc={rc} err={err!r}")
        check(not os.path.exists(os.path.join(d, "data")), f"demo {args} wrote a cache before refusing")

rc, out, err = run(["version", "--json"])
check(rc == 0, f"version --json rc={rc} err={err}")
try:
    v = json.loads(out)
    for k in ["barforge", "git_revision", "mpi", "hdf5", "libcurl", "cjson", "openssl", "openblas", "cuda"]:
        check(k in v and v[k], f"version --json lacks {k}")
    check(v["hdf5"]["parallel"] is True, "HDF5 is not the parallel build")
    check("Open MPI" in v["mpi"], f"mpi: {v['mpi']}")
    for k in ["built", "runtime", "driver", "cudnn", "nccl", "devices"]:
        check(k in v["cuda"], f"version --json cuda lacks {k}")
except json.JSONDecodeError as e:
    check(False, f"version --json is not JSON: {e}: {out!r}")
rc, out, err = run(["version"])
check(rc == 0 and out.startswith("barforge ") and "HDF5" in out and "parallel: yes" in out, f"version text: {out!r}")

# libcurl, OpenBLAS and CUDA are loaded at first use, not at start: a plain
# command loads none of them (the dynamic loader's own list), and `version`
# then loads libcurl and OpenBLAS and reports their real versions
def loaded(args):
    rc, out, err = run(args, env={"LD_DEBUG": "files"})
    return rc, [l for l in err.splitlines() if ("file=" in l and "needed by" in l) or "calling init:" in l]
rc, libs = loaded(["--help"])
check(rc == 0 and libs, f"--help under LD_DEBUG=files: rc={rc}, no loader lines")
for name in ["libcurl", "libopenblas", "libcudart", "libgnutls"]:
    check(not any(name in l for l in libs), f"--help loaded {name}: {[l for l in libs if name in l][:2]}")
check(any("libmpi" in l for l in libs), "the loader list names no libmpi: the check above cannot fail")
rc, libs = loaded(["version"])
check(rc == 0 and any("libcurl" in l for l in libs) and any("libopenblas" in l for l in libs),
      f"version did not load libcurl and OpenBLAS: rc={rc}")
check("not loadable" not in out and "could not be loaded" not in out, f"version reports a lazy library missing: {out!r}")
# a libcurl that cannot be loaded: fetch from an HTTP provider fails (exit 1)
# naming it, before any cache is written; version says why
with tempfile.TemporaryDirectory() as d:
    nolib = {"BARFORGE_LIBCURL": os.path.join(d, "no-such-libcurl.so"), "BARFORGE_YAHOO_URL": "http://127.0.0.1:9"}
    rc, out, err = run(["fetch", "--providers", "yahoo", "--symbols", "AAA", "--start", "2024-01-02",
                        "--end", "2024-01-05", "--cache-dir", os.path.join(d, "cache")], env=nolib)
    check(rc == 1 and "libcurl could not be loaded" in err and "no-such-libcurl.so" in err,
          f"fetch without libcurl: rc={rc} err={err!r}")
    check(not os.path.exists(os.path.join(d, "cache")), "fetch without libcurl wrote a cache")
    rc, out, err = run(["version"], env=nolib)
    check(rc == 0 and "libcurl could not be loaded" in out, f"version without libcurl: rc={rc} out={out!r}")

# a Slurm allocation of 2 tasks where MPI sees 1 rank: refuse, do not run twice
rc, out, err = run(["fetch", "--symbols", "AAA", "--start", "2024-01-02", "--end", "2024-01-03",
                    "--cache-dir", "/tmp/bf_cli_slurm_cache"], env={"SLURM_NTASKS": "2"})
check(rc == 2 and "SLURM_NTASKS=2 but the MPI world has 1 rank" in err, f"launcher check: rc={rc} err={err!r}")

if failures:
    print(f"test_cli_binary: {len(failures)} check(s) FAILED", file=sys.stderr)
    sys.exit(1)
print("test_cli_binary: all checks passed")
