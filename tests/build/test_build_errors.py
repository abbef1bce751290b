"""test_build_errors.py - `barforge build` refuses bad input with exit code 2
and a message that names the problem: symbols missing from the cache (named,
with the missing range), too short a history, compression under MPI, a
target horizon that is not a horizon, an unknown interval, a delta without a
master; the same errors under `mpirun -n 2`, where a per-symbol build is
pipelined over the ranks. A failed build leaves nothing under
--datasets-root; a build killed before publishing (one process, or one of
two ranks in the middle of the pipelined pass) leaves the previous version
and `master` as they were."""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import buildtest  # noqa: E402
from buildtest import barforge, check, done, mkcache, workdir  # noqa: E402


def expect(r, words, label):
    check(r.returncode == 2, f"{label}: exit code {r.returncode}, expected 2; stderr: {r.stderr}")
    for wd in words:
        check(wd in r.stderr, f"{label}: stderr lacks '{wd}': {r.stderr}")


def main():
    w = workdir("errors")
    cache, root = os.path.join(w, "cache"), os.path.join(w, "ds")
    mkcache(cache, "2023-01-03", 130, ["AAPL", "KO"])
    mkcache(cache, "2023-01-03", 40, ["SHORT"])
    base = ["build", "--providers", "synthetic", "--cache-dir", cache, "--datasets-root", root]

    r = barforge(base + ["--symbols", "AAPL,NOPE,KO,ZZTOP"])
    expect(r, ["2 symbol(s)", "NOPE", "ZZTOP", "barforge fetch"], "missing symbols")
    r2 = barforge(base + ["--symbols", "AAPL,NOPE,KO,ZZTOP"], ranks=2)
    expect(r2, ["2 symbol(s)", "NOPE", "ZZTOP", "barforge fetch"], "missing symbols, 2 ranks")
    first_line = [ln for ln in r.stderr.splitlines() if "symbol(s)" in ln]
    check(first_line and first_line[0] in r2.stderr,
          f"2 ranks word the error otherwise: {first_line} vs {r2.stderr}")
    r = barforge(base + ["--symbols", "AAPL,KO", "--start", "2022-06-01", "--end", "2023-05-01"])
    expect(r, ["AAPL", "KO", "2022-06-01T00:00:00Z..", "not cached"], "missing range")
    r = barforge(base + ["--symbols", "SHORT"])
    check(r.returncode == 2 and ("too few rows" in r.stderr or "no rows" in r.stderr),
          f"short history: rc {r.returncode}: {r.stderr}")
    r = barforge(base + ["--symbols", "AAPL,KO", "--compress", "3"], ranks=2)
    expect(r, ["--compress 3", "single rank"], "compression under MPI")
    r = barforge(base + ["--symbols", "AAPL,KO", "--target-horizon", "3"])
    expect(r, ["--target-horizon 3"], "target horizon")
    r = barforge(base + ["--symbols", "AAPL,KO", "--base-interval", "7m"])
    expect(r, ["7m"], "interval")
    r = barforge(base + ["--symbols", "AAPL,KO", "--mode", "delta", "--no-fetch"])
    expect(r, ["no master dataset"], "delta without master")
    left = os.listdir(root) if os.path.isdir(root) else []
    check(not left, f"failed builds left {left} in the datasets root")

    # a build killed just before publishing: the previous version and `master`
    # are untouched, nothing new is published; the next build publishes -2
    ok = base + ["--symbols", "AAPL,KO"]
    r = barforge(ok)
    check(r.returncode == 0, f"good build failed: {r.stderr}")
    first = os.readlink(os.path.join(root, "master")) if r.returncode == 0 else ""
    before = buildtest.tree(os.path.join(root, first)) if first else {}
    r = barforge(ok, env={"BARFORGE_FAULT": "master_before_publish"})
    check(r.returncode != 0, f"the faulted build did not die (rc {r.returncode})")
    check(os.readlink(os.path.join(root, "master")) == first, "master moved after a crash")
    check(buildtest.tree(os.path.join(root, first)) == before, "the first version changed")
    versions = sorted(n for n in os.listdir(root) if n.startswith("v") and ".tmp-" not in n)
    check(versions == [first], f"published after a crash: {versions}")
    r = barforge(ok)
    check(r.returncode == 0, f"build after the crash failed: {r.stderr}")
    check(os.readlink(os.path.join(root, "master")) == first + "-2",
          f"master -> {os.readlink(os.path.join(root, 'master'))}, expected {first}-2")

    # under MPI: a rank dies right after writing its first symbol's rows in
    # the pipelined pass (mpirun then ends the other): nothing is published,
    # master and the versions stay as they were; the next build publishes -3
    before = {v: buildtest.tree(os.path.join(root, v)) for v in (first, first + "-2")}
    r = barforge(ok, ranks=2, env={"BARFORGE_FAULT": "master_pipelined_write"})
    check(r.returncode != 0, f"the faulted 2-rank build did not die (rc {r.returncode})")
    check("master_pipelined_write" in r.stderr, f"the fault point was not reached: {r.stderr}")
    check(os.readlink(os.path.join(root, "master")) == first + "-2", "master moved after a crash")
    for v, t in before.items():
        check(buildtest.tree(os.path.join(root, v)) == t, f"{v} changed after a crash")
    versions = sorted(n for n in os.listdir(root) if n.startswith("v") and ".tmp-" not in n)
    check(versions == [first, first + "-2"], f"published after a crash: {versions}")
    r = barforge(ok, ranks=2)
    check(r.returncode == 0, f"2-rank build after the crash failed: {r.stderr}")
    check("one pass" in r.stdout, f"2-rank build not pipelined: {r.stdout}")
    check(os.readlink(os.path.join(root, "master")) == first + "-3",
          f"master -> {os.readlink(os.path.join(root, 'master'))}, expected {first}-3")
    if not buildtest.failures:
        shutil.rmtree(w, ignore_errors=True)
    done("test_build_errors")


if __name__ == "__main__":
    main()
