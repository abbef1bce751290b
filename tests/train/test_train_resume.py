"""test_train_resume.py MODE - exact resume. A reference run trains without
interruption; a second run in another folder is interrupted, resumed with
`--resume auto` (the same command line), and must end with last.h5 (params,
AdamW m and v, state) BIT-IDENTICAL to the reference's, best.h5 too.

MODE kill:    SIGKILL right after random steps (BARFORGE_FAULT=kill_at_step),
              SIGKILL halfway through a checkpoint write
              (ckpt_kill_mid_write), and a SIGKILL from outside at a random
              moment; resumed after each.
MODE corrupt: after a kill, the newest checkpoint is truncated and the next
              (last.h5) has a flipped bit: both are reported and skipped in
              favour of step-00000020.h5.
MODE preempt: SIGTERM (injected after a step, then sent from outside) and
              SIGUSR1: exit 199 after committing last.h5, then resume.
Dropout is on (0.1), so the dropout RNG must resume exactly too."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import h5py

from trainutil import (BIN, TINY, Failure, assert_bit_identical, check, cleanup, env_with,
                       only_run_dir, run, show, tinyds, workdir)

ARGS = TINY + ["--datasets-root", "ds", "--batch-size", "16", "--max-epochs", "3",
               "--ckpt-every-steps", "4", "--keep-ckpts", "2", "--eval-every-steps", "7",
               "--log-every-steps", "3", "--patience", "100", "--no-test"]
TOTAL = 60  # 3 epochs x 20 steps for the dataset below


def train(wd, runs, extra=(), fault=None, expect=0):
    p = run(ARGS + ["--runs-dir", runs, "--resume", "auto"] + list(extra), wd,
            env=env_with(BARFORGE_FAULT=fault))
    if expect is not None:
        check(p.returncode == expect, "expected exit %s (fault %s):\n%s" % (expect, fault, show(p)))
    return p


def last_step(run_dir):
    """Step of last.h5, -1 when there is none yet (killed before an epoch end)."""
    path = os.path.join(run_dir, "checkpoints", "last.h5")
    if not os.path.exists(path):
        return -1
    with h5py.File(path) as f:
        return int(f["/state"].attrs["step"])


def wait_for_progress(run_dir, proc):
    """Block until the (slowed) session has written a metrics row of its own."""
    path = os.path.join(run_dir, "metrics.jsonl")
    start = os.path.getsize(path) if os.path.exists(path) else 0
    for _ in range(600):
        if proc.poll() is not None:
            return
        if os.path.exists(path) and os.path.getsize(path) > start:
            return
        time.sleep(0.01)


def compare(ref, got, what):
    assert_bit_identical(os.path.join(ref, "checkpoints/last.h5"),
                         os.path.join(got, "checkpoints/last.h5"), what + " last.h5")
    assert_bit_identical(os.path.join(ref, "checkpoints/best.h5"),
                         os.path.join(got, "checkpoints/best.h5"), what + " best.h5")
    # logs read as one run: same rows (kind, step) and identical validation losses
    a = [json.loads(l) for l in open(os.path.join(ref, "metrics.jsonl"))]
    b = [json.loads(l) for l in open(os.path.join(got, "metrics.jsonl"))]
    check([(r["kind"], r["step"]) for r in a] == [(r["kind"], r["step"]) for r in b],
          "%s: metrics rows differ:\n%s\n%s" % (what, [(r["kind"], r["step"]) for r in a],
                                               [(r["kind"], r["step"]) for r in b]))
    for ra, rb in zip(a, b):
        check(ra["val_loss"] == rb["val_loss"], "%s: val_loss at step %d: %r vs %r"
              % (what, ra["step"], ra["val_loss"], rb["val_loss"]))


def mode_kill(wd, ref, rng):
    runs = os.path.join(wd, "runs_kill")
    # killed before the first checkpoint (step 4): nothing to resume, a new run starts
    early = os.path.join(wd, "runs_early")
    train(wd, early, fault="kill_at_step:2", expect=-signal.SIGKILL)
    p = train(wd, early)
    check("no checkpoint found" in p.stderr, "kill before any checkpoint:\n" + show(p))
    compare(ref, sorted(os.path.join(early, d) for d in os.listdir(early))[-1], "early kill")

    # 1. a SIGKILL from outside at a random moment of a (slowed) fresh run;
    #    after its first checkpoint (step 4); it ends by step ~20 (40 ms a step)
    delay = rng.uniform(0.0, 0.6)
    proc = subprocess.Popen([BIN, "train"] + ARGS + ["--runs-dir", runs, "--resume", "auto"],
                            cwd=wd, env=env_with(BARFORGE_FAULT="step_sleep_ms:40"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(1000):  # wait for the run folder and its first metrics row
        d = os.listdir(runs) if os.path.isdir(runs) else []
        if d and os.path.exists(os.path.join(runs, d[0], "metrics.jsonl")) or proc.poll() is not None:
            break
        time.sleep(0.01)
    run_dir = only_run_dir(runs)
    first = os.path.join(run_dir, "checkpoints", "step-00000004.h5")
    for _ in range(1000):  # a resume point exists, so the next session continues this folder
        if os.path.exists(first) or proc.poll() is not None:
            break
        time.sleep(0.01)
    time.sleep(delay)
    proc.kill()
    rc = proc.wait()
    check(rc == -signal.SIGKILL, "the run ended (exit %d) before the external SIGKILL" % rc)
    print("external SIGKILL %.2f s into training" % delay)
    # 2. SIGKILL right after two random later steps (resumed in between)
    s1 = rng.randrange(25, 41)
    s2 = rng.randrange(s1 + 3, TOTAL - 4)
    print("kill points: after steps %d and %d, then halfway through a checkpoint write" % (s1, s2))
    p = train(wd, runs, fault="kill_at_step:%d" % s1, expect=-signal.SIGKILL)
    check("resuming from" in p.stderr, "did not resume:\n" + show(p))
    p = train(wd, runs, fault="kill_at_step:%d" % s2, expect=-signal.SIGKILL)
    check(only_run_dir(runs) == run_dir, "a second run folder appeared")
    # 3. SIGKILL halfway through the 2nd checkpoint save of the next session
    p = train(wd, runs, fault="ckpt_kill_mid_write:2", expect=-signal.SIGKILL)
    stale = [f for f in os.listdir(os.path.join(run_dir, "checkpoints")) if ".tmp." in f]
    check(stale, "no temp file left by the kill during a checkpoint write")
    p = train(wd, runs)
    left = [f for f in stale if os.path.exists(os.path.join(run_dir, "checkpoints", f))]
    check(not left, "temp files of the interrupted write not cleaned: %s" % left)
    compare(ref, run_dir, "kill")


def mode_corrupt(wd, ref, rng):
    runs = os.path.join(wd, "runs_corrupt")
    s = rng.choice([26, 27])
    train(wd, runs, fault="kill_at_step:%d" % s, expect=-signal.SIGKILL)
    run_dir = only_run_dir(runs)
    cd = os.path.join(run_dir, "checkpoints")
    steps = sorted(f for f in os.listdir(cd) if f.startswith("step-"))
    check(steps == ["step-00000020.h5", "step-00000024.h5"], "checkpoints %s" % steps)
    with open(os.path.join(cd, steps[-1]), "r+b") as f:  # newest (step 24): truncated
        f.truncate(os.path.getsize(os.path.join(cd, steps[-1])) // 2)
    last = os.path.join(cd, "last.h5")  # next (step 20, epoch end): one flipped bit
    with h5py.File(last, "r") as f:
        check(int(f["/state"].attrs["step"]) == 20, "last.h5 not at step 20")
        needle = f["/model/params"][100:108].tobytes()
    raw = bytearray(open(last, "rb").read())
    at = raw.find(needle)
    check(at > 0, "params bytes not found in last.h5")
    raw[at + 3] ^= 0x40
    open(last, "wb").write(bytes(raw))
    p = train(wd, runs)
    for name in (steps[-1], "last.h5"):
        check(("skipping checkpoint" in p.stderr) and name in p.stderr,
              "%s not reported as skipped:\n%s" % (name, show(p)))
    check("checksum" in p.stderr, "the flipped byte was not reported as a checksum failure:\n"
          + show(p))
    check("resuming from %s" % os.path.join(cd, steps[-2]) in p.stderr,
          "did not fall back to %s (step 20):\n%s" % (steps[-2], show(p)))
    compare(ref, run_dir, "corrupt")


def mode_preempt(wd, ref, rng):
    runs = os.path.join(wd, "runs_preempt")
    s = rng.randrange(3, 30)
    p = train(wd, runs, fault="sigterm_at_step:%d" % s, expect=199)
    run_dir = only_run_dir(runs)
    check("stopped by SIGTERM after step %d" % s in p.stderr, "message:\n" + show(p))
    check(last_step(run_dir) == s, "last.h5 at step %d, expected %d" % (last_step(run_dir), s))
    for sig in (signal.SIGUSR1, signal.SIGTERM):
        proc = subprocess.Popen([BIN, "train"] + ARGS + ["--runs-dir", runs, "--resume", "auto"],
                                cwd=wd, env=env_with(BARFORGE_FAULT="step_sleep_ms:40"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for_progress(run_dir, proc)
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
        check(proc.returncode == 199, "%s: exit %d, expected 199\n%s" % (sig.name, proc.returncode,
                                                                         err))
        check("stopped by %s" % sig.name in err, "%s message:\n%s" % (sig.name, err))
        print("%s: exit %d at step %d" % (sig.name, proc.returncode, last_step(run_dir)))
    p = train(wd, runs)
    compare(ref, run_dir, "preempt")


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "kill"
    seed = int(os.environ.get("BF_TEST_SEED", random.randrange(1 << 30)))
    print("mode %s, seed %d (BF_TEST_SEED=%d reproduces the kill points)" % (mode, seed, seed))
    rng = random.Random(seed)
    wd = workdir("resume")
    try:
        tinyds.write_dataset(os.path.join(wd, "ds"), rows=(120, 50, 50))
        p = train(wd, os.path.join(wd, "runs_ref"))
        ref = only_run_dir(os.path.join(wd, "runs_ref"))
        check(last_step(ref) == TOTAL, "reference ran %d steps, expected %d" % (last_step(ref), TOTAL))
        {"kill": mode_kill, "corrupt": mode_corrupt, "preempt": mode_preempt}[mode](wd, ref, rng)
        print("test_train_resume %s: ok" % mode)
        return 0
    except Failure as e:
        print("FAIL test_train_resume %s: %s" % (mode, e))
        return 1
    finally:
        cleanup(wd)


if __name__ == "__main__":
    sys.exit(main())
