"""test_build_memory.py - a build's peak resident memory does not grow with
the data it writes (docs/formats.md, "Memory bound of a build").

500 synthetic symbols x 2 years (a dataset of about 580 MB) are built in one
process with --memory-budget-mb 0 (every symbol streamed, nothing kept). The
peak RSS of that process (wait4's ru_maxrss, which counts mapped file pages
too) must stay under 250 MB, less than half the bytes written: a build that
held its rows, or mapped its whole output at once (as the checksum pass once
did, 2.6 GB a rank at 5,000 symbols), fails here. The dataset must really be
larger than twice the bound, or the test proves nothing and says so."""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildtest import BIN, barforge, check, done, workdir  # noqa: E402

BOUND_MB = 250
N = 500


def du(path):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            p = os.path.join(d, f)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def run_measured(args, env):
    """exit status and peak RSS (MB) of one barforge run, from wait4"""
    pid = os.fork()
    if pid == 0:
        try:
            os.environ.update(env)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.execv(BIN, [BIN] + args)
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    return status, ru.ru_maxrss / 1024.0  # ru_maxrss is in KiB on Linux


def main():
    wd = workdir("memory")
    try:
        cache, root = os.path.join(wd, "cache"), os.path.join(wd, "ds")
        r = barforge(["fetch", "--universe", f"synthetic:{N}", "--end", "2024-12-31",
                      "--cache-dir", cache, "--table-rows", "0"])
        if not check(r.returncode == 0, f"fetch failed ({r.returncode}): {r.stderr[-2000:]}"):
            return
        status, peak_mb = run_measured(
            ["build", "--mode", "master", "--universe", f"synthetic:{N}", "--end", "2024-12-31",
             "--cache-dir", cache, "--datasets-root", root, "--no-fetch",
             "--memory-budget-mb", "0"], {"BARFORGE_THREADS": "2"})
        if not check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
                     f"build failed (wait status {status})"):
            return
        written = du(os.path.join(root, "master") + "/")
        print(f"{N} symbols: dataset {written / 2**20:.0f} MB, build peak RSS {peak_mb:.0f} MB "
              f"(bound {BOUND_MB} MB)")
        check(written > 2 * BOUND_MB * 2**20, f"the dataset is only {written / 2**20:.0f} MB: "
              f"too small to test a {BOUND_MB} MB bound")
        check(peak_mb < BOUND_MB, f"peak RSS {peak_mb:.0f} MB with --memory-budget-mb 0 exceeds "
              f"{BOUND_MB} MB (dataset {written / 2**20:.0f} MB): memory grows with the output")
    finally:
        shutil.rmtree(wd, ignore_errors=True)
        done("test_build_memory")


if __name__ == "__main__":
    main()
